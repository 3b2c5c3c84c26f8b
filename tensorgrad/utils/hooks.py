"""``tg.utils.hooks``: PyTorch's ``torch.utils.hooks`` (``RemovableHandle``,
``unserializable_hook``, ``warn_if_has_hooks``).

``RemovableHandle`` is the handle of ``Module.register_forward_hook`` and friends (the class
``tensorgrad.nn.modules`` made them with, which it extends with PyTorch's ``extra_dict``
and ``hooks_dict_ref``), and ``isinstance(h, RemovableHandle)`` holds for every handle a
``register_*hook`` of tensorgrad returns (tensor, module, global module, optimizer and
multi-grad hooks), as in PyTorch where they are all this class.

>>> import tensorgrad as tg
>>> h = tg.ones(2, requires_grad=True).register_hook(lambda g: g)
>>> isinstance(h, tg.utils.hooks.RemovableHandle)
True
"""

import weakref

from ..autograd.graph_hooks import _MultiHandle
from ..nn._module_hooks import _GlobalHandle
from ..nn.modules import _RemovableHandle
from ..tensor import _HookHandle

__all__ = ["RemovableHandle", "unserializable_hook", "warn_if_has_hooks"]

_HANDLES = (_RemovableHandle, _HookHandle, _GlobalHandle, _MultiHandle)


def _ref(d):
    """A weak reference to ``d`` (PyTorch's, to its OrderedDicts); a plain dict, which takes
    none, is held as it is."""
    try:
        return weakref.ref(d)
    except TypeError:
        return lambda: d


class _AnyHandle(type):
    def __instancecheck__(cls, obj):
        return isinstance(obj, _HANDLES)

    def __subclasscheck__(cls, sub):
        return isinstance(sub, type) and issubclass(sub, _HANDLES)


class RemovableHandle(_RemovableHandle, metaclass=_AnyHandle):
    """A handle whose ``remove()`` deletes ``hooks_dict[self.id]`` (and the same key of each
    ``extra_dict``): ``handle = RemovableHandle(self._hooks); self._hooks[handle.id] = fn``.
    The dicts are held by weak reference, as PyTorch's (plain dicts, which take none, by a
    strong one). Usable as a context manager."""

    def __init__(self, hooks_dict, *, extra_dict=None):
        if not isinstance(hooks_dict, dict):
            raise TypeError(f"RemovableHandle: hooks_dict must be a dict, got "
                            f"{type(hooks_dict).__name__}")
        super().__init__(hooks_dict)  # sets self.hooks: the weak reference below
        extras = extra_dict if isinstance(extra_dict, list) else \
            [extra_dict] if isinstance(extra_dict, dict) else []
        self.extra_dict_ref = tuple(_ref(d) for d in extras)

    @property
    def hooks(self):
        d = self.hooks_dict_ref()
        return {} if d is None else d

    @hooks.setter
    def hooks(self, value):
        self.hooks_dict_ref = _ref(value)

    def remove(self):
        self.hooks.pop(self.id, None)
        for ref in self.extra_dict_ref:
            d = ref()
            if d is not None:
                d.pop(self.id, None)


def unserializable_hook(f):
    """Mark ``f`` as a hook that is not saved with its tensor (PyTorch's marker)."""
    f.__torch_unserializable__ = True
    return f


def warn_if_has_hooks(tensor):
    """Warn for each backward hook of ``tensor`` that is not marked ``unserializable_hook``
    (``tg.save`` stores no hooks)."""
    import warnings

    node = getattr(tensor, "_node", None)
    hooks = tensor._hooks if node is None else node.hooks
    for hook in hooks or ():
        if not hasattr(hook, "__torch_unserializable__"):
            warnings.warn(f"backward hook {hook!r} on tensor will not be serialized.  If this "
                          "is expected, you can decorate the function with "
                          "@tg.utils.hooks.unserializable_hook to suppress this warning",
                          stacklevel=2)
