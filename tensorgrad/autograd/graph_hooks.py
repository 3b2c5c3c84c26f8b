"""PyTorch's ``torch.autograd.graph`` hooks: saved-tensor hooks, multi-grad hooks and the
hooks of a ``grad_fn`` (``Node.register_prehook`` / ``register_hook``).

None of them costs the tape anything while unused:

- ``saved_tensors_hooks`` swaps the ``Node`` that ops/registry.py records with
  (``registry.Node``) for ``_packing_node`` while a context is open, and back when the last
  one closes. A node recorded meanwhile keeps a ``graph._Packed`` as its ``args`` and epoch -1,
  which sends it through the branch ``run_backward`` takes after in-place writes; there its
  values are unpacked, when the backward pass uses them.
- ``register_multi_grad_hook`` is tensor hooks plus the running pass (``graph._Pass``), which
  ``run_backward`` makes only while such a hook exists.
- A node's pre-hook joins the tensor hooks of its output (``Node.hooks``); a node's post-hook
  replaces its primitive by ``_PostHooked``, which runs the VJPs of all inputs at once and
  hands them to the hooks.
"""

import numpy as np

from ..backend.device import _CUPY_ARRAY
from . import graph
from .graph import Node, _Packed, _Saved, _tensor_names, unbroadcast

_HOOKS = []  # (pack, unpack) of the open saved_tensors_hooks contexts, innermost last
_DISABLED = []  # messages of the open disable_saved_tensors_hooks contexts
_PACKING = [False]  # a pack hook is running: what it records is not packed again


def _is_array(a):
    t = type(a)
    return t is np.ndarray or t is _CUPY_ARRAY


def _packing_node(prim, parents, args, kw, ans, vcs, epoch, out_vc=None):
    """``Node(...)`` while saved-tensor hooks are active: the arrays the rules read (those of a
    primitive that saves values) go through the innermost pack hook now."""
    n = Node(prim, parents, args, kw, ans, vcs, epoch, out_vc)
    if not prim.saves or _PACKING[0] or not _HOOKS or args is None:
        return n
    pack, unpack = _HOOKS[-1]
    wrap = _tensor_names()[4]  # _new_tensor: the pack hook gets a Tensor, as PyTorch's
    _PACKING[0] = True
    try:
        packed = tuple(_Saved(pack(wrap(a, None, False)), a.shape) if _is_array(a) else a
                       for a in args)
        pans = _Saved(pack(wrap(ans, None, False)), ans.shape) if _is_array(ans) else ans
    finally:
        _PACKING[0] = False
    n.args = _Packed(packed, pans, unpack)
    n.ans = None
    n.epoch = -1  # never the current epoch: run_backward unpacks in its in-place branch
    return n


def _swap():
    from ..ops import registry

    registry.Node = _packing_node if _HOOKS else Node


class saved_tensors_hooks:
    """PyTorch's ``torch.autograd.graph.saved_tensors_hooks(pack_hook, unpack_hook)``: inside
    the context every array an op saves for its backward is given (as a Tensor) to
    ``pack_hook``, whose result the graph keeps instead; the backward pass gives that to
    ``unpack_hook``, which must return the tensor (same shape). Contexts nest; the innermost
    one packs. The values a tensorgrad node saves are the arguments and the answer of an op
    whose rules read them (PyTorch saves per op what its formula needs, so the number of
    pack calls can differ); ops whose rules read nothing (add, sum) pack nothing.

    >>> import tensorgrad as tg
    >>> packed = []
    >>> x = tg.ones(3, requires_grad=True)
    >>> with tg.autograd.graph.saved_tensors_hooks(lambda t: packed.append(t) or len(packed) - 1,
    ...                                            lambda i: packed[i]):
    ...     y = (x * x).sum()
    >>> y.backward(); x.grad.tolist(), len(packed)
    ([2.0, 2.0, 2.0], 3)
    """

    def __init__(self, pack_hook, unpack_hook):
        self.pack_hook, self.unpack_hook = pack_hook, unpack_hook

    def __enter__(self):
        if _DISABLED:
            raise RuntimeError(_DISABLED[-1])
        _HOOKS.append((self.pack_hook, self.unpack_hook))
        _swap()
        return self

    def __exit__(self, *exc):
        _HOOKS.pop()
        _swap()


class save_on_cpu(saved_tensors_hooks):
    """PyTorch's ``save_on_cpu(pin_memory=False)``: what ops save for backward is kept in host
    memory and copied back to its device when the backward pass uses it. Saved CPU arrays
    stay as they are (a no-op on the CPU); ``pin_memory`` puts the host copies of GPU arrays
    in page-locked memory."""

    def __init__(self, pin_memory=False, device_type="cuda"):
        def pack(t):
            if t.device.type == "cpu":
                return (None, t)
            host = t.cpu()
            return (t.device, host.pin_memory() if pin_memory else host)

        def unpack(packed):
            device, t = packed
            return t if device is None else t.to(device)

        super().__init__(pack, unpack)


class disable_saved_tensors_hooks:
    """PyTorch's context in which opening ``saved_tensors_hooks`` raises a RuntimeError with
    ``error_message`` (for features that cannot work with them)."""

    def __init__(self, error_message):
        self.error_message = error_message

    def __enter__(self):
        _DISABLED.append(self.error_message)
        return self

    def __exit__(self, *exc):
        _DISABLED.pop()


class _MultiHandle:
    def __init__(self, handles):
        self.handles = handles

    def remove(self):
        if self.handles:
            for h in self.handles:
                h.remove()
            self.handles = ()
            graph.MULTI_GRAD_HOOKS[0] -= 1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _current_pass():
    p = graph._PASS[0]
    if p is None:
        raise AssertionError("register_multi_grad_hook: expected this hook to be called inside "
                             "a backward call")
    return p


def register_multi_grad_hook(tensors, fn, *, mode="all"):
    """PyTorch's ``torch.autograd.graph.register_multi_grad_hook``. ``mode="all"``: once per
    backward pass, after the gradients of all of ``tensors`` that the pass computes are known,
    ``fn(grads)`` gets them (a list, None for a tensor the pass does not reach). ``mode="any"``:
    ``fn(grad)`` gets the first of them computed in each pass. ``fn`` returns None. Returns a
    handle whose ``remove()`` takes the hook away.

    >>> import tensorgrad as tg
    >>> a, b = tg.ones(2, requires_grad=True), tg.ones(2, requires_grad=True)
    >>> seen = []
    >>> h = tg.autograd.graph.register_multi_grad_hook(
    ...     (a, b), lambda gs: seen.append([g is not None for g in gs]))
    >>> (a * 2).sum().backward(); seen
    [[True, False]]
    """
    if mode not in ("all", "any"):
        raise ValueError(f"Expects mode to be one of ('all', 'any') but got {mode}")
    tensors = list(tensors)
    if mode == "all":
        vertices = [t._node or t for t in tensors]
        waiting = {}  # pass -> [count so far, grads, count expected]

        def inner(idx):
            def hook(grad):
                p = _current_pass()
                entry = waiting.get(p)
                if entry is None:
                    expected = sum(1 for v in vertices if p.will_run(v))
                    entry = waiting[p] = [0, [None] * len(vertices), expected]
                entry[0] += 1
                entry[1][idx] = grad
                if entry[0] >= entry[2]:
                    del waiting[p]
                    fn(entry[1])

            return hook

        handles = [t.register_hook(inner(i)) for i, t in enumerate(tensors)]
    else:
        ran = set()

        def first(grad):
            p = _current_pass()
            if p in ran:
                return
            ran.add(p)
            if len(ran) > 64:  # passes long gone: keep only the running one
                ran.intersection_update({p})
            fn(grad)

        handles = [t.register_hook(first) for t in tensors]
    graph.MULTI_GRAD_HOOKS[0] += 1
    return _MultiHandle(handles)


def _hook_handle(hooks, fn):
    from ..tensor import _HookHandle

    return _HookHandle(hooks, fn)


def node_prehook(node, fn):
    """``Node.register_prehook``: ``fn((grad_output,))`` among the node's output hooks."""

    def pre(grad):
        r = fn((grad,))
        if r is None:
            return None
        r = tuple(r) if isinstance(r, (tuple, list)) else (r,)
        if len(r) != 1:
            raise RuntimeError(f"hook '{getattr(fn, '__name__', fn)}' has returned an incorrect "
                               f"number of values (got {len(r)}, but expected 1)")
        return r[0]

    if node.hooks is None:
        node.hooks = []
    node.hooks.append(pre)
    return _hook_handle(node.hooks, pre)


class _PostHooked:
    """A node's primitive with post-hooks: its VJPs of all inputs run together on the first
    request of a pass, go through the hooks, and are handed out one input at a time."""

    __slots__ = ("inner", "parents", "hooks", "vjps", "_last")
    none_is_no_gradient = True  # a hook may return None for an input: no gradient there

    def __init__(self, node):
        self.inner, self.parents, self.hooks, self._last = node.prim, node.parents, [], None
        self.vjps = tuple(self._rule(i) for i in range(len(node.parents)))

    @property
    def name(self):
        return self.inner.name

    def __getattr__(self, name):  # jvps, saves, view, ...: the primitive's
        return getattr(self.inner, name)

    def _rule(self, i):
        final = max(j for j, p in enumerate(self.parents) if p is not None)

        def rule(g, ans, *args, **kw):
            last = self._last
            if last is None or last[0] is not g:
                last = self._last = (g, self._all(g, ans, args, kw))
            if i == final:  # the pass asks for the inputs in order: this one is the last
                self._last = None
            return last[1][i]

        return rule

    def _all(self, g, ans, args, kw):
        Tensor = _tensor_names()[0]
        vjps = self.inner.vjps
        raw = not isinstance(g, Tensor)
        grads = []
        for j, p in enumerate(self.parents):
            gj = None
            if p is not None:
                gj = vjps[j](g, ans, *args, **kw) if kw else vjps[j](g, ans, *args)
                if raw and gj is not None and getattr(gj, "shape", None) != args[j].shape:
                    gj = unbroadcast(gj, args[j])
            grads.append(gj)
        wrap = Tensor._wrap
        gin = tuple(x if x is None or isinstance(x, Tensor) else wrap(x) for x in grads)
        gout = (g if not raw else wrap(g),)
        for h in list(self.hooks):
            r = h(gin, gout)
            if r is None:
                continue
            r = tuple(r) if isinstance(r, (tuple, list)) else (r,)
            if len(r) != len(gin):
                raise RuntimeError(f"hook '{getattr(h, '__name__', h)}' has returned an "
                                   f"incorrect number of values (got {len(r)}, but expected "
                                   f"{len(gin)})")
            gin = r
        if raw:
            return tuple(x.data if isinstance(x, Tensor) else x for x in gin)
        return gin


def node_posthook(node, fn):
    """``Node.register_hook``: ``fn(grad_inputs, grad_outputs)`` after the node's VJPs."""
    if type(node.prim) is not _PostHooked:
        node.prim = _PostHooked(node)
    node.prim.hooks.append(fn)
    return _hook_handle(node.prim.hooks, fn)
