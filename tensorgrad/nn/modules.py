"""Modules: parameters and sub-modules registered by attribute assignment, as in PyTorch."""

import sys
from collections import OrderedDict, namedtuple
from collections.abc import Iterable
from itertools import repeat

import numpy as np

from .. import _memory_format, creation
from ..autograd.grad_mode import no_grad
from ..tensor import Tensor, _new_tensor, keep_array
from . import _module_hooks as _hooks
from . import functional as F
from . import init
from ._functional_conv_attn import _same_padding, _tuple


class Parameter(Tensor):
    """A tensor that a Module registers as a parameter; it requires grad by default.

    >>> import tensorgrad as tg
    >>> p = tg.nn.Parameter(tg.zeros(2))
    >>> p.requires_grad, p.is_leaf
    (True, True)
    """

    __slots__ = ()

    def __init__(self, data=None, requires_grad=True):
        src = data if data is not None else creation.empty(0)
        arr = src.data if isinstance(src, Tensor) else keep_array(src)  # a CuPy array stays
        Tensor.__init__(self, arr, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + Tensor.__repr__(self)


class _RemovableHandle:
    """What ``register_forward_pre_hook`` returns: ``remove()`` takes the hook out."""

    _next_id = 0

    def __init__(self, hooks):
        self.hooks = hooks
        self.id = _RemovableHandle._next_id
        _RemovableHandle._next_id += 1

    def remove(self):
        self.hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What ``load_state_dict`` returns (PyTorch's named tuple)."""

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()


# the (updates, extras) lists of the load_state_dict calls running, innermost last: where a
# module's _load_from_state_dict stages its copies
_LOAD_STAGING = []


def _load_checked(updates, extras):
    """load_state_dict's copies (and set_extra_state calls) of what has been checked; the
    lists are emptied."""
    with no_grad():
        for t, arr in updates:
            t.copy_(_new_tensor(t.device.put(arr.astype(t.dtype, copy=False)), None, False))
    for m, value in extras:
        m.set_extra_state(value)
    updates.clear()
    extras.clear()


def _addindent(text, spaces):
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    return lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


_LEGACY_TYPE_NAMES = {f"torch.{k}Tensor": np.dtype(v) for k, v in (
    ("Float", np.float32), ("Double", np.float64), ("Half", np.float16), ("Byte", np.uint8),
    ("Char", np.int8), ("Short", np.int16), ("Int", np.int32), ("Long", np.int64),
    ("Bool", np.bool_))}


class Module:
    """Base class: assign Parameters and Modules as attributes; define ``forward``.

    >>> import tensorgrad as tg
    >>> net = tg.nn.Sequential(tg.nn.Linear(2, 3), tg.nn.ReLU())
    >>> net
    Sequential(
      (0): Linear(in_features=2, out_features=3, bias=True)
      (1): ReLU()
    )
    >>> [name for name, _ in net.named_parameters()]
    ['0.weight', '0.bias']
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())

    # ---- registration ----------------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before "
                                 "assigning attributes")
        if isinstance(value, Parameter):
            if isinstance(getattr(type(self), name, None), property):
                # a parametrized tensor (tg.nn.utils.parametrize): PyTorch's error
                raise KeyError(f"attribute '{name}' already exists")
            self._drop(name, keep=self._parameters)  # a name reassigned keeps its place
            self._parameters[name] = value  # (PyTorch's order: tied weights, state_dict keys)
        elif isinstance(value, Module):
            self._drop(name, keep=self._modules)
            self._modules[name] = value
        elif name in self._parameters:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(tensorgrad.nn.Parameter or None expected)")
            self._parameters[name] = None
        elif name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module "
                                f"'{name}' (tensorgrad.nn.Module or None expected)")
            self._modules[name] = None
        elif getattr(value, "_is_buffer", False):  # an nn.Buffer registers itself
            self.register_buffer(name, value, value.persistent)
        elif name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                "(tensorgrad.Tensor or None expected)")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _drop(self, name, keep=None):
        self.__dict__.pop(name, None)
        for table in (self._parameters, self._buffers, self._modules):
            if table is not keep:
                table.pop(name, None)
        self._non_persistent_buffers_set.discard(name)

    def __getattr__(self, name):
        d = self.__dict__
        for table in ("_parameters", "_buffers", "_modules"):
            if table in d and name in d[table]:
                return d[table][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def _check_name(self, name, what):
        if not isinstance(name, str):
            raise TypeError(f"{what} name should be a string, got {type(name).__name__}")
        if not name or "." in name:
            raise KeyError(f"{what} name can't be empty or contain \".\", got {name!r}")
        if hasattr(self, name) and name not in self._parameters and \
                name not in self._buffers and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")

    def register_buffer(self, name, tensor, persistent=True):
        """A tensor that belongs to the module's state but is not trained (BatchNorm's running
        statistics): moved by ``to``, listed by ``buffers``, and saved in ``state_dict``
        unless ``persistent=False``."""
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        self._check_name(name, "buffer")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer "
                            f"'{name}' (tensorgrad Tensor or None required)")
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def register_parameter(self, name, param):
        """Add ``param`` (a Parameter, or None) under ``name``."""
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        self._check_name(name, "parameter")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter "
                            f"'{name}' (tensorgrad.nn.Parameter or None required)")
        self._buffers.pop(name, None)
        self._modules.pop(name, None)
        self._parameters[name] = param

    def add_module(self, name, module):
        """Add the child ``module`` (or None) under ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._check_name(name, "module")
        self._parameters.pop(name, None)
        self._buffers.pop(name, None)
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target):
        """The module at the dotted path ``target`` ("" is this module)."""
        mod = self
        for part in target.split(".") if target else ():
            if part not in mod._modules or mod._modules[part] is None:
                raise AttributeError(f"{type(mod).__name__} has no attribute `{part}`")
            mod = mod._modules[part]
        return mod

    def set_submodule(self, target, module, strict=False):
        """Put ``module`` at the dotted path ``target``, as PyTorch's: its parent must exist;
        with ``strict`` the submodule must exist already (it is replaced).

        >>> import tensorgrad as tg
        >>> net = tg.nn.Sequential(tg.nn.Linear(2, 2), tg.nn.ReLU())
        >>> net.set_submodule("1", tg.nn.Tanh()); net[1]
        Tanh()
        """
        if target == "":
            raise ValueError("Cannot set the submodule without a target name!")
        if not isinstance(module, Module):
            raise ValueError(f"`module` is not an nn.Module, found {type(module)}")
        parent_path, _, name = target.rpartition(".")
        parent = self
        for part in parent_path.split(".") if parent_path else ():
            if not hasattr(parent, part):
                raise AttributeError(f"{parent._get_name()} has no attribute `{part}`")
            parent = getattr(parent, part)
            if not isinstance(parent, Module):
                raise AttributeError(f"`{part}` is not an nn.Module")
        if strict and not hasattr(parent, name):
            raise AttributeError(f"{parent._get_name()} has no attribute `{name}`")
        if hasattr(parent, name) and not isinstance(getattr(parent, name), Module):
            raise AttributeError(f"`{name}` is not an nn.Module")
        setattr(parent, name, module)

    def _get_entry(self, target, table, what):
        mod_path, _, name = target.rpartition(".")
        mod = self.get_submodule(mod_path)
        entries = mod.__dict__[table]
        if name not in entries:
            raise AttributeError(f"{type(mod).__name__} has no {what} `{name}`")
        return entries[name]

    def get_parameter(self, target):
        return self._get_entry(target, "_parameters", "parameter")

    def get_buffer(self, target):
        return self._get_entry(target, "_buffers", "buffer")

    # ---- traversal -------------------------------------------------------------------------
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """(name, module) for this module and every descendant, depth first in registration
        order, each module once (unless ``remove_duplicate=False``), as PyTorch's."""
        if memo is None:
            memo = set()
        stack = [(prefix, self)]
        while stack:  # iterative preorder: the same order as PyTorch's recursion
            name, m = stack.pop()
            if m in memo:
                continue
            if remove_duplicate:
                memo.add(m)
            yield name, m
            kids = [(f"{name}.{k}" if name else k, c) for k, c in m._modules.items()
                    if c is not None]
            stack.extend(reversed(kids))

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        memo = set()
        for name, m in self._modules.items():
            if m is not None and m not in memo:
                memo.add(m)
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, table, prefix, recurse, remove_duplicate):
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) \
            if recurse else [(prefix, self)]
        memo = set()
        for mod_name, m in mods:
            for name, v in getattr(m, table).items():
                if v is None or id(v) in memo:
                    continue
                if remove_duplicate:
                    memo.add(id(v))
                yield (f"{mod_name}.{name}" if mod_name else name), v

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """(name, parameter) pairs; a parameter shared between modules comes once."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn):
        """Call ``fn`` on every descendant (children first) and on this module; returns self.

        >>> import tensorgrad as tg
        >>> net = tg.nn.Sequential(tg.nn.Linear(2, 2))
        >>> _ = net.apply(lambda m: tg.nn.init.zeros_(m.weight) if hasattr(m, "weight") else None)
        >>> net[0].weight.tolist()
        [[0.0, 0.0], [0.0, 0.0]]
        """
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ---- modes, gradients, devices -----------------------------------------------------------
    def train(self, mode=True):
        """Training mode (``mode=True``) or evaluation mode for this module and every
        descendant (Dropout, BatchNorm behave differently); returns self."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        object.__setattr__(self, "training", mode)
        for m in self.children():
            m.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        from ..optim.optimizer import zero_grad_of

        for p in self.parameters():
            zero_grad_of(p, set_to_none)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def to(self, *args, **kwargs):
        """Move (or cast) every parameter and buffer in place: the Parameter objects stay the
        same, so an optimizer made before still holds them. ``memory_format=`` (keyword) lays
        out the 4-d and 5-d ones, as PyTorch (channels_last refuses 5-d ones, as PyTorch)."""
        fmt = kwargs.pop("memory_format", None)
        if fmt is not None:
            _memory_format.check(fmt, "Module.to")

        def convert(t):
            kw = kwargs if fmt is None or t.ndim not in (4, 5) else {**kwargs, "memory_format": fmt}
            moved = t.to(*args, **kw)
            if moved.dtype != t.dtype and t.dtype.kind not in "fc":
                # as PyTorch: casts are for floats and complex
                moved = t.to(moved.device, memory_format=kw.get("memory_format"))
            return moved

        return self._apply(convert)

    def _apply(self, fn, recurse=True):
        """PyTorch's ``_apply``, what ``to``/``cuda``/``double``/... call: replace the data of
        every parameter and buffer by ``fn(tensor)``'s, keeping the objects (and bumping their
        version counters where the data changed), children first, each through its own
        ``_apply``: a module that overrides it (to move a cache that is not a buffer) is
        called, as in PyTorch. Returns self."""
        if recurse:
            for m in self.children():
                m._apply(fn)
        with no_grad():
            for table in (self._parameters, self._buffers):
                for t in table.values():
                    if t is None:
                        continue
                    moved = fn(t)
                    if moved is not t:
                        t.data = moved.data
                        t._vc = [t._vc[0] + 1]
                    if t.grad is not None:  # gradients go along, as in PyTorch
                        t.grad = t.grad.to(device=t.device, dtype=t.dtype)
        return self

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else f"cuda:{device}")

    def _cast_floating(self, dtype):
        # PyTorch's double()/float()/half() cast floating tensors only (complex ones stay;
        # to(dtype) casts those too)
        return self._apply(lambda t: t.to(dtype) if t.dtype.kind == "f" else t)

    def float(self):
        """Cast the floating parameters and buffers to float32 in place (complex ones stay, as
        in PyTorch); returns self."""
        return self._cast_floating(np.float32)

    def double(self):
        """Cast the floating parameters and buffers to float64 in place (complex ones stay, as
        in PyTorch); returns self."""
        return self._cast_floating(np.float64)

    def type(self, dst_type):
        """Cast every parameter and buffer (floating or not, as PyTorch's) to ``dst_type`` (a
        dtype, or a legacy name such as ``"torch.DoubleTensor"``) in place; returns self."""
        dtype = _LEGACY_TYPE_NAMES.get(dst_type, dst_type) if isinstance(dst_type, str) \
            else dst_type
        return self._apply(lambda t: t.to(dtype))

    def compile(self, *args, **kwargs):
        """PyTorch's in-place ``Module.compile``: the module's forward through ``tg.compile``,
        which runs eagerly and returns it unchanged, so calls go on as before (nothing is kept:
        a bound method stored on the module would make a reference cycle); returns None, as
        PyTorch's."""
        from .. import compile as _compile

        _compile(self.forward, *args, **kwargs)

    def half(self):
        """Cast the floating parameters and buffers to float16 in place; returns self."""
        return self._cast_floating(np.float16)

    def bfloat16(self):
        """PyTorch's cast to bfloat16, which tensorgrad cannot make: a TypeError, as
        ``Tensor.bfloat16`` (NumPy and CuPy have no bfloat16 dtype)."""
        raise TypeError(f"{type(self).__name__}.bfloat16(): NumPy and CuPy have no bfloat16 "
                        "dtype; use .half() (float16) or .float()")

    def to_empty(self, *, device, recurse=True):
        """Give every parameter and buffer fresh, uninitialised memory of its shape and dtype on
        ``device`` (nothing is copied; the Parameter objects stay), as PyTorch's; then
        initialise them (``reset_parameters``, ``load_state_dict``). Returns self."""
        mods = self.modules() if recurse else (self,)
        with no_grad():
            for m in mods:
                for table in (m._parameters, m._buffers):
                    for t in table.values():
                        if t is not None:
                            t.data = creation.empty(*t.shape, dtype=t.dtype, device=device).data
                            t._vc = [t._vc[0] + 1]
                            t.grad = None
        return self

    # ---- state -------------------------------------------------------------------------------
    _version = 1  # PyTorch's: each module's entry in a state dict's ``_metadata``
    dump_patches = False  # PyTorch's (a no-op flag of its old serialisation)
    call_super_init = False  # PyTorch's: whether __init__ passes extra args to super()

    def _own_state(self):
        """(name, tensor) for this module's parameters and persistent buffers (not its
        children's), in PyTorch's order: parameters, then buffers."""
        for name, p in self._parameters.items():
            if p is not None:
                yield name, p
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                yield name, b

    def get_extra_state(self):
        """What a module adds to its ``state_dict`` under ``<prefix>_extra_state``: define it
        (and ``set_extra_state``) in a subclass; ``state_dict`` calls it only when the class
        overrides it, as PyTorch's.

        >>> import tensorgrad as tg
        >>> class Counter(tg.nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.count = 0
        ...     def get_extra_state(self):
        ...         return {"count": self.count}
        ...     def set_extra_state(self, state):
        ...         self.count = state["count"]
        >>> a, b = Counter(), Counter()
        >>> a.count = 3
        >>> _ = b.load_state_dict(a.state_dict()); b.count
        3
        """
        raise RuntimeError("Module.get_extra_state() was called on a module whose class does not "
                           "define it; define get_extra_state and set_extra_state together")

    def set_extra_state(self, state):
        """Take back what ``get_extra_state`` returned (``load_state_dict`` calls it with the
        ``<prefix>_extra_state`` entry when the class overrides it)."""
        raise RuntimeError("Module.set_extra_state() was called on a module whose class does not "
                           "define it; define get_extra_state and set_extra_state together")

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        """This module's own entries (not its children's): PyTorch's per-module step of
        ``state_dict``, which subclasses may override."""
        for name, t in self._own_state():
            destination[prefix + name] = t if keep_vars else t.detach()
        if type(self).get_extra_state is not Module.get_extra_state:
            destination[prefix + "_extra_state"] = self.get_extra_state()

    def _hook_values(self, where):
        hooks = self.__dict__.get(where)
        return list(hooks.values()) if hooks else ()

    def state_dict(self, destination=None, prefix="", keep_vars=False):
        """An ordered dict of name -> tensor (parameters and persistent buffers, and
        ``_extra_state`` entries), sharing their data; detached unless ``keep_vars``. Its
        ``_metadata`` maps each module's prefix to ``{"version": ...}``. Each module's state
        dict pre-hooks run before its entries are added, its post-hooks after its children's,
        as PyTorch's (iteratively here: deep models do not recurse)."""
        out = OrderedDict() if destination is None else destination
        if destination is None:
            out._metadata = OrderedDict()
        meta = getattr(out, "_metadata", None)
        result = out
        stack = [(prefix, self, None)]
        while stack:
            pre, m, local = stack.pop()
            if local is not None:  # leaving m: its subtree is in
                for hook, public in m._hook_values("_state_dict_hooks"):
                    r = hook(m, out, pre, local)
                    if public and r is not None:
                        raise RuntimeError("state_dict post-hook must return None")
                    if r is not None and m is self and pre == prefix:
                        result = r  # _register_state_dict_hook's new dict: the root's only
                continue
            local = {"version": type(m)._version}
            if meta is not None:
                meta[pre[:-1]] = local
            for hook in m._hook_values("_state_dict_pre_hooks"):
                hook(m, pre, keep_vars)
            m._save_to_state_dict(out, pre, keep_vars)
            stack.append((pre, m, local))
            stack.extend(reversed([(f"{pre}{k}.", c, None) for k, c in m._modules.items()
                                   if c is not None]))
        return result

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        """PyTorch's: this module's own part of ``load_state_dict``. Its load pre-hooks run,
        then its parameters, persistent buffers and extra state are matched against the
        entries of ``state_dict`` under ``prefix``, adding to ``missing_keys``,
        ``unexpected_keys`` and ``error_msgs``. Subclasses override it to rename or convert
        the keys of old checkpoints and then call ``super()._load_from_state_dict(...)``, as in
        PyTorch. Inside ``load_state_dict`` nothing is written here: the copies are made once
        every module is checked (a bad state dict changes nothing); called on its own, it
        copies what it matched."""
        staged = _LOAD_STAGING[-1] if _LOAD_STAGING else ([], [])
        missing, unexpected = missing_keys, unexpected_keys
        updates, extras = staged
        for hook, with_module in self._hook_values("_load_state_dict_pre_hooks"):
            args = (state_dict, prefix, local_metadata, True, missing, unexpected, error_msgs)
            hook(self, *args) if with_module else hook(*args)
        local = dict(self._own_state())
        for name, t in local.items():
            key = prefix + name
            if key not in state_dict:
                missing.append(key)
                continue
            value = state_dict[key]
            arr = value.data if isinstance(value, Tensor) else keep_array(value)
            if arr.dtype.kind not in "fciub":
                raise TypeError(f"load_state_dict: '{key}' holds {arr.dtype.name} data "
                                f"({type(value).__name__}); expected a numeric tensor")
            if tuple(arr.shape) != tuple(t.shape):
                error_msgs.append(f"load_state_dict: '{key}' has shape {tuple(arr.shape)} in "
                                  f"the state dict but {tuple(t.shape)} in the model")
                continue
            updates.append((t, arr))
        extra_key = prefix + "_extra_state"
        if type(self).set_extra_state is not Module.set_extra_state:
            if extra_key in state_dict:
                extras.append((self, state_dict[extra_key]))
            else:
                missing.append(extra_key)
        elif extra_key in state_dict:
            unexpected.append(extra_key)
        for key in state_dict:
            if key.startswith(prefix) and key != extra_key:
                head, dot, _ = key[len(prefix):].partition(".")
                if head not in (self._modules if dot else local):
                    unexpected.append(key)
        if not _LOAD_STAGING and not error_msgs:
            _load_checked(updates, extras)

    def load_state_dict(self, state_dict, strict=True, assign=False):
        """Copy values from ``state_dict`` into the parameters and persistent buffers (and
        hand ``_extra_state`` entries to ``set_extra_state``). Everything is checked first
        (names when ``strict``, shapes always), so a bad state dict changes nothing, unless a
        load post-hook is registered: as PyTorch's, a module's post-hooks run once its
        subtree is loaded (what was checked until then is copied first), and may clear
        ``missing_keys``/``unexpected_keys`` (the lists so far) before the strict check.
        Load pre-hooks run per module first (parents before children) and may edit the
        (copied) dict.
        Returns ``(missing_keys, unexpected_keys)`` as a named tuple. ``assign`` is accepted
        for PyTorch's signature; values are always copied."""
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(f"load_state_dict: expected a dict of name -> tensor (what "
                            f"state_dict() returns), got {type(state_dict).__name__}")
        metadata = getattr(state_dict, "_metadata", None)
        state_dict = OrderedDict(state_dict)  # hooks may edit it; the caller's stays
        missing, unexpected, error_msgs, updates, extras = [], [], [], [], []
        _LOAD_STAGING.append((updates, extras))
        try:
            self._load_modules(state_dict, metadata, missing, unexpected, error_msgs)
        finally:
            _LOAD_STAGING.pop()
        if error_msgs or strict and (missing or unexpected):
            msgs = [f"missing keys {missing}, unexpected keys {unexpected}"] \
                if strict and (missing or unexpected) else []
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}: "
                               + "; ".join(msgs + error_msgs))
        _load_checked(updates, extras)
        return _IncompatibleKeys(missing, unexpected)

    def _load_modules(self, state_dict, metadata, missing, unexpected, error_msgs):
        """``load_state_dict``'s walk: each module's ``_load_from_state_dict`` (parents before
        children, each seeing the entries under its prefix), and each module's load post-hooks
        once its subtree is done (what was checked until then copied first, as PyTorch)."""
        updates, extras = _LOAD_STAGING[-1]
        stack = [("", self, state_dict, False)]
        while stack:
            pre, m, local_sd, leaving = stack.pop()
            if leaving:  # m's subtree is checked: as PyTorch, load it and run m's post-hooks
                _load_checked(updates, extras)
                keys = _IncompatibleKeys(missing, unexpected)
                for hook in m._hook_values("_load_state_dict_post_hooks"):
                    if hook(m, keys) is not None:
                        raise AssertionError(
                            "Hooks registered with ``register_load_state_dict_post_hook`` are "
                            "not expected to return new values, if incompatible_keys need to "
                            "be modified, it should be done inplace.")
                continue
            local_meta = metadata.get(pre[:-1], {}) if metadata is not None else {}
            m._load_from_state_dict(local_sd, pre, local_meta, True, missing, unexpected,
                                    error_msgs)
            if m.__dict__.get("_load_state_dict_post_hooks"):
                stack.append((pre, m, None, True))
            kids = []
            for k, c in m._modules.items():
                if c is not None:
                    cp = f"{pre}{k}."
                    kids.append((cp, c, {key: v for key, v in local_sd.items()
                                         if key.startswith(cp)}, False))
            stack.extend(reversed(kids))

    def register_state_dict_pre_hook(self, hook):
        """Call ``hook(module, prefix, keep_vars)`` before ``state_dict`` adds this module's
        entries. Returns a handle whose ``remove()`` drops the hook."""
        return self._add_hook("_state_dict_pre_hooks", hook, False)

    def register_state_dict_post_hook(self, hook):
        """Call ``hook(module, state_dict, prefix, local_metadata)`` once ``state_dict`` has
        added this module's entries and its children's; it may edit ``state_dict`` in place
        and must return None. Returns a handle whose ``remove()`` drops the hook.

        >>> import tensorgrad as tg
        >>> lin = tg.nn.Linear(2, 2)
        >>> def drop_bias(module, sd, prefix, local_metadata):
        ...     del sd[prefix + "bias"]
        >>> h = lin.register_state_dict_post_hook(drop_bias)
        >>> list(lin.state_dict())
        ['weight']
        """
        return self._add_hook("_state_dict_hooks", (hook, True), False)

    def _register_state_dict_hook(self, hook):
        """The older post-hook: ``hook(module, state_dict, prefix, local_metadata)`` may also
        return a new dict, which counts only for the module ``state_dict`` was called on."""
        return self._add_hook("_state_dict_hooks", (hook, False), False)

    def register_load_state_dict_pre_hook(self, hook):
        """Call ``hook(module, state_dict, prefix, local_metadata, strict, missing_keys,
        unexpected_keys, error_msgs)`` before ``load_state_dict`` matches this module's keys
        (``strict`` is always True here, as PyTorch passes it; ``state_dict`` is a copy the
        hook may edit; what it appends to ``error_msgs`` makes the load fail). Returns a
        handle whose ``remove()`` drops the hook."""
        return self._add_hook("_load_state_dict_pre_hooks", (hook, True), False)

    def _register_load_state_dict_pre_hook(self, hook, with_module=False):
        """As ``register_load_state_dict_pre_hook``, the module left out of the arguments
        unless ``with_module``."""
        return self._add_hook("_load_state_dict_pre_hooks", (hook, with_module), False)

    def register_load_state_dict_post_hook(self, hook):
        """Call ``hook(module, incompatible_keys)`` after ``load_state_dict`` has loaded;
        ``incompatible_keys`` (missing_keys, unexpected_keys) may be edited in place, which
        the strict check then sees. The hook must return None. Returns a handle whose
        ``remove()`` drops the hook."""
        return self._add_hook("_load_state_dict_post_hooks", hook, False)

    # ---- calling -------------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__}: define forward()")

    def register_forward_pre_hook(self, hook, *, prepend=False, with_kwargs=False):
        """Call ``hook(module, args)`` before each ``forward`` (``hook(module, args, kwargs)``
        with ``with_kwargs``); a result that is not None replaces the arguments (a non-tuple
        becomes the one argument). Returns a handle whose ``remove()`` drops the hook. The
        hooks live in ``_forward_pre_hooks`` (an OrderedDict keyed by the handle's id), as
        PyTorch's, which weight_norm, spectral_norm and prune look through."""
        return self._add_hook("_forward_pre_hooks", (hook, with_kwargs) if with_kwargs else hook,
                              prepend)

    def _add_hook(self, where, entry, prepend):
        hooks = self.__dict__.get(where)
        if hooks is None:
            hooks = OrderedDict()
            object.__setattr__(self, where, hooks)
        handle = _RemovableHandle(hooks)
        hooks[handle.id] = entry
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        return handle

    def register_forward_hook(self, hook, *, prepend=False, with_kwargs=False,
                              always_call=False):
        """Call ``hook(module, args, output)`` after each ``forward`` (``hook(module, args,
        kwargs, output)`` with ``with_kwargs``); a result that is not None replaces the output.
        With ``always_call`` the hook also runs (with output None) when forward raises.
        Returns a handle whose ``remove()`` drops the hook.

        >>> import tensorgrad as tg
        >>> seen = []
        >>> lin = tg.nn.Linear(2, 3)
        >>> h = lin.register_forward_hook(lambda m, args, out: seen.append(tuple(out.shape)))
        >>> _ = lin(tg.zeros(4, 2)); h.remove(); _ = lin(tg.zeros(1, 2))
        >>> seen
        [(4, 3)]
        """
        return self._add_hook("_forward_hooks", (hook, with_kwargs, always_call), prepend)

    def register_full_backward_hook(self, hook, prepend=False):
        """Call ``hook(module, grad_input, grad_output)`` once the gradients with respect to
        the module's inputs of a backward pass are known (tuples with None for arguments that
        are not tensors or need no gradient); a result that is not None replaces grad_input.
        As PyTorch's: the module's inputs and outputs pass through identity nodes that catch
        the gradients (see ``_module_hooks``).

        >>> import tensorgrad as tg
        >>> norms = []
        >>> lin = tg.nn.Linear(2, 1)
        >>> _ = lin.register_full_backward_hook(lambda m, gi, go: norms.append(go[0].shape))
        >>> lin(tg.ones(3, 2, requires_grad=True)).sum().backward()
        >>> norms
        [(3, 1)]
        """
        self._backward_kind(True)
        return self._add_hook("_backward_hooks", hook, prepend)

    def _backward_kind(self, full):
        if self.__dict__.get("_is_full_backward_hook") is (not full):
            raise RuntimeError("Cannot use both regular backward hooks and full backward hooks on "
                               "a single Module. Please use only one of them.")
        object.__setattr__(self, "_is_full_backward_hook", full)

    def register_backward_hook(self, hook):
        """PyTorch's deprecated backward hook. PyTorch hands it the gradients of the last
        autograd node of ``forward`` (not of the module's inputs); here it runs as a full
        backward hook (``register_full_backward_hook``), and the FutureWarning PyTorch gives
        where the two differ (several nodes in forward, outputs from several nodes, non-Tensor
        inputs or outputs) is given at each call. Cannot be mixed with full hooks on one
        module, as in PyTorch."""
        self._backward_kind(False)
        return self._add_hook("_backward_hooks", hook, False)

    def register_full_backward_pre_hook(self, hook, prepend=False):
        """Call ``hook(module, grad_output)`` when the gradients of the module's outputs are
        known, before those of its inputs; a result that is not None replaces grad_output."""
        return self._add_hook("_backward_pre_hooks", hook, prepend)

    def __call__(self, *args, **kwargs):
        # the hot path: one dict look-up per kind of hook. Hooks common to all modules
        # (register_module_forward_hook, ...) are not looked at here: registering the first
        # swaps Module.__call__ for _call_with_global_hooks (see _module_hooks._swap_call)
        d = self.__dict__
        backward_hooks = d.get("_backward_hooks")
        backward_pre_hooks = d.get("_backward_pre_hooks")
        forward_hooks = d.get("_forward_hooks")
        if not (backward_hooks or backward_pre_hooks or forward_hooks):
            if d.get("_forward_pre_hooks"):
                args, kwargs = self._run_forward_pre_hooks(args, kwargs)
            return self.forward(*args, **kwargs)  # no hooks: one frame, as before hooks
        return self._call_with_hooks(args, kwargs, forward_hooks, backward_hooks,
                                     backward_pre_hooks)

    _call_plain = __call__

    def _call_with_global_hooks(self, *args, **kwargs):
        """Module.__call__ while some hook common to all modules is registered: those run
        before the module's own, as in PyTorch."""
        d = self.__dict__
        return self._call_with_hooks(args, kwargs, d.get("_forward_hooks"),
                                     d.get("_backward_hooks"), d.get("_backward_pre_hooks"),
                                     glob=True)

    def _call_with_hooks(self, args, kwargs, forward_hooks, backward_hooks, backward_pre_hooks,
                         glob=False):
        forward_hooks = list(forward_hooks.values()) if forward_hooks else []
        backward_hooks = list(backward_hooks.values()) if backward_hooks else []
        backward_pre_hooks = list(backward_pre_hooks.values()) if backward_pre_hooks else []
        pre_hooks = ()
        if glob:
            pre_hooks = list(_hooks._global_forward_pre_hooks.values())
            forward_hooks = list(_hooks._global_forward_hooks.values()) + forward_hooks
            backward_hooks = list(_hooks._global_backward_hooks.values()) + backward_hooks
            backward_pre_hooks = list(_hooks._global_backward_pre_hooks.values()) + \
                backward_pre_hooks
        non_full = backward_hooks and (self.__dict__.get("_is_full_backward_hook") is False or
                                       glob and _hooks._global_is_full_backward_hook[0] is False)
        bw = None
        if backward_hooks or backward_pre_hooks:
            bw = _hooks.BackwardHook(self, backward_hooks, backward_pre_hooks)
        args, kwargs = self._run_forward_pre_hooks(args, kwargs, pre_hooks)
        given = args
        if bw is not None:
            args = bw.setup_input_hook(args)
        try:
            result = self.forward(*args, **kwargs)
        except Exception:
            for hook, _, always in forward_hooks:
                if always:
                    hook(self, args, None)
            raise
        for hook, with_kwargs, _ in forward_hooks:
            res = hook(self, args, kwargs, result) if with_kwargs else hook(self, args, result)
            if res is not None:
                result = res
        if non_full:
            _hooks.warn_non_full(given, args, result)
        if bw is not None:
            result = bw.setup_output_hook(result)
        return result

    def _run_forward_pre_hooks(self, args, kwargs, global_hooks=()):
        hooks = self.__dict__.get("_forward_pre_hooks")
        for hook in global_hooks:  # the hooks common to all modules come first
            res = hook(self, args)
            if res is not None:
                args = res if isinstance(res, tuple) else (res,)
        if hooks:
            for hook in list(hooks.values()):
                if isinstance(hook, tuple):  # registered with_kwargs
                    res = hook[0](self, args, kwargs)
                    if res is not None:
                        args, kwargs = res
                    continue
                res = hook(self, args)
                if res is not None:
                    args = res if isinstance(res, tuple) else (res,)
        return args, kwargs

    def extra_repr(self):
        return ""

    def _get_name(self):
        return type(self).__name__

    def __repr__(self):
        # PyTorch's layout: one line for a leaf with a one-line extra_repr, else one line per
        # extra_repr line and per child, indented by two
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({key}): " + _addindent(repr(m), 2) for key, m in self._modules.items()]
        lines = extra_lines + child_lines
        main = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                main += extra_lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"

    def __dir__(self):
        keys = list(super().__dir__()) + list(self._parameters) + list(self._buffers) + \
            list(self._modules)
        return sorted(set(keys))


def _empty_parameter(shape, dtype, device):
    # made where the parameter lives: no host-to-device copy for a model built on a GPU
    return Parameter(creation.empty(*shape, dtype=dtype, device=device))  # None: the default


class _WeightBias:
    """Linear's and Conv2d's parameters: ``weight`` of a shape and an optional ``bias`` of
    ``weight_shape[0]`` entries, both initialised by ``init.default_linear_``."""

    def _weight_bias(self, weight_shape, bias, dtype, device):
        self.weight = _empty_parameter(weight_shape, dtype, device)
        if bias:
            self.bias = _empty_parameter(weight_shape[:1], dtype, device)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.default_linear_(self.weight, self.bias)


class Linear(_WeightBias, Module):
    """y = x @ W.T + b with W of shape (out_features, in_features), initialised as PyTorch
    does (``init.default_linear_``: kaiming_uniform_ with a=sqrt(5), i.e. uniform in
    +-1/sqrt(in_features), and the bias uniform in +-1/sqrt(in_features)).

    >>> import tensorgrad as tg
    >>> tg.nn.Linear(3, 2)(tg.ones(4, 3)).shape
    (4, 2)
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self._weight_bias((out_features, in_features), bias, dtype, device)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class _ChildSequence:
    """Sequential's and ModuleList's list edits over their children "0", "1", ..."""

    def append(self, m):
        self.add_module(str(len(self._modules)), m)
        return self

    def __setitem__(self, i, module):
        setattr(self, list(self._modules)[i], module)  # the name keeps its place

    def __delitem__(self, i):
        _delete_children(self, i)

    def pop(self, i):
        m = self[i]
        del self[i]
        return m


class Sequential(_ChildSequence, Module):
    """Modules applied one after the other; built from modules or from an OrderedDict of
    named modules."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), m)

    def forward(self, input):
        for m in self._modules.values():
            input = m(input)
        return input

    def __getitem__(self, i):
        if isinstance(i, slice):
            return type(self)(OrderedDict(list(self._modules.items())[i]))
        return list(self._modules.values())[i]

    def __iter__(self):
        return iter(self._modules.values())

    def __len__(self):
        return len(self._modules)

    def insert(self, index, module):
        _insert_child(self, index, module, "Sequential")
        return self

    def extend(self, sequential):
        for m in sequential:
            self.append(m)
        return self

    def _others(self, other, op):
        if not isinstance(other, Sequential):
            raise ValueError(f"Sequential {op}: supports only Sequential operands, got "
                             f"{type(other).__name__}")
        return list(other)

    def __add__(self, other):
        return Sequential(*(list(self) + self._others(other, "+")))

    def __iadd__(self, other):
        return self.extend(self._others(other, "+="))

    def _times(self, n):
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise ValueError(f"Sequential *: the factor must be a positive int, got {n!r}")
        return list(self) * n

    def __mul__(self, n):
        return Sequential(*self._times(n))  # the same modules, repeated (PyTorch's)

    __rmul__ = __mul__

    def __imul__(self, n):
        mods = self._times(n)
        return self.extend(mods[len(self):])


def _renumber(module, children):
    """``module``'s children replaced by ``children`` under the names "0", "1", ... (what a
    Sequential or ModuleList is after a deletion or an insertion, as PyTorch's)."""
    module._modules.clear()
    for i, m in enumerate(children):
        module._modules[str(i)] = m


def _delete_children(module, i):
    children = list(module._modules.values())
    if isinstance(i, slice):
        del children[i]
    else:
        children.pop(i)  # IndexError out of range, as a list's
    _renumber(module, children)


def _insert_child(module, index, child, op):
    if not isinstance(child, Module):
        raise TypeError(f"{op}.insert: expected a Module, got {type(child).__name__}")
    n = len(module._modules)
    if not -n <= index <= n:
        raise IndexError(f"{op}.insert: index {index} out of range for {n} modules")
    children = list(module._modules.values())
    children.insert(index, child)
    _renumber(module, children)


class _Table:
    """What the containers share over their one table of children: ``_table`` names it
    ("_modules" or "_parameters"); registration (``__setitem__``) is each class's own."""

    _table = "_modules"

    def _init(self, children):
        super().__init__()  # the next class in the MRO: Module, as the containers' super()
        if children is not None:
            self._fill(children)

    def __len__(self):
        return len(self.__dict__[self._table])


class _ListTable(_Table):
    """The list protocol of ModuleList and ParameterList, children named "0", "1", ..."""

    def _fill(self, values):
        self.extend(values)

    def extend(self, values):
        for v in values:
            self.append(v)
        return self

    def __getitem__(self, i):
        if isinstance(i, slice):
            return type(self)(list(self.__dict__[self._table].values())[i])
        return list(self.__dict__[self._table].values())[i]

    def __iter__(self):
        return iter(self.__dict__[self._table].values())


class _DictTable(_Table):
    """The dict protocol of ModuleDict and ParameterDict over their table of named children."""

    def _fill(self, items):
        self.update(items)

    def __getitem__(self, key):
        return self.__dict__[self._table][key]

    def __delitem__(self, key):
        del self.__dict__[self._table][key]

    def __iter__(self):
        return iter(self.__dict__[self._table])

    def __contains__(self, key):
        return key in self.__dict__[self._table]

    def keys(self):
        return self.__dict__[self._table].keys()

    def items(self):
        return self.__dict__[self._table].items()

    def values(self):
        return self.__dict__[self._table].values()

    def pop(self, key):
        v = self.__dict__[self._table][key]
        del self[key]
        return v

    def _update(self, items):
        items = items.items() if hasattr(items, "items") else items
        for key, v in items:
            self[key] = v


class ModuleList(_ChildSequence, _ListTable, Module):
    """A list of modules, registered (``parameters()`` sees them) under "0", "1", ..."""

    def __init__(self, modules=None):
        self._init(modules)

    def extend(self, modules):
        return _ListTable.extend(self, modules)

    def insert(self, index, module):
        _insert_child(self, index, module, "ModuleList")

    def __add__(self, other):
        return ModuleList(list(self) + list(other))

    def __iadd__(self, modules):
        return self.extend(modules)


class ModuleDict(_DictTable, Module):
    """An ordered dict of named modules, registered (``parameters()`` sees them).

    >>> import tensorgrad as tg
    >>> heads = tg.nn.ModuleDict({"a": tg.nn.Linear(2, 1), "b": tg.nn.Identity()})
    >>> list(heads), len(list(heads.parameters()))
    (['a', 'b'], 2)
    """

    def __init__(self, modules=None):
        self._init(modules)

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def clear(self):
        self._modules.clear()

    def update(self, modules):
        self._update(modules)


def _param_line(p):
    dev = "" if p.device.type == "cpu" else f" ({p.device})"
    size = "x".join(str(s) for s in p.shape)
    return f"Parameter containing: [{type(p).__module__.split('.')[0]}.{p.dtype} of size {size}" \
           f"{dev}]"


def _as_parameter(value):
    """A Tensor stored in ParameterList or ParameterDict becomes a Parameter."""
    if isinstance(value, Tensor) and not isinstance(value, Parameter):
        value = Parameter(value)
    return value


class _ParameterTable:
    """ParameterList's and ParameterDict's table and repr."""

    _table = "_parameters"

    def extra_repr(self):
        return "\n".join(f"({k}): {_param_line(p)}" for k, p in self._parameters.items())


class ParameterList(_ParameterTable, _ListTable, Module):
    """A list of Parameters, registered under "0", "1", ... (Tensors become Parameters)."""

    def __init__(self, values=None):
        self._init(values)

    def append(self, value):
        self[len(self)] = value
        return self

    def __setitem__(self, i, value):
        value = _as_parameter(value)
        n = len(self._parameters)
        if i < 0:
            i += n
        self.register_parameter(str(i), value)

    def __iadd__(self, values):
        return self.extend(values)


class ParameterDict(_ParameterTable, _DictTable, Module):
    """An ordered dict of named Parameters (Tensors become Parameters)."""

    def __init__(self, parameters=None):
        self._init(parameters)

    def __setitem__(self, key, value):
        self.register_parameter(key, _as_parameter(value))

    def update(self, parameters):
        self._update(parameters)


def _activation(name, fn, doc, params=()):
    """A module class applying ``fn``, whose constructor takes PyTorch's arguments ``params``
    ((name, default) pairs, positional or keyword) and passes them to ``fn`` after the input
    (``inplace`` by keyword, where set). The repr lists them as PyTorch's does (``inplace``
    only when set)."""
    names = [key for key, _ in params]

    def __init__(self, *args, **kwargs):
        Module.__init__(self)
        if len(args) > len(params):
            raise TypeError(f"{name}() takes at most {len(params)} arguments "
                            f"({len(args)} given)")
        values = dict(params)
        values.update(zip(names, args))
        for key, value in kwargs.items():
            if key not in values or key in names[:len(args)]:
                raise TypeError(f"{name}() got an unexpected or repeated keyword argument "
                                f"'{key}'")
            values[key] = value
        for key in names:
            setattr(self, key, values[key])

    def forward(self, input):
        args = (getattr(self, key) for key in names if key != "inplace")
        if getattr(self, "inplace", False):
            return fn(input, *args, inplace=True)
        return fn(input, *args)

    def extra_repr(self):
        return ", ".join(f"{key}={getattr(self, key)}" for key in names
                         if key != "inplace" or self.inplace)

    return type(name, (Module,), {"__init__": __init__, "forward": forward,
                                  "extra_repr": extra_repr, "__doc__": doc})


ReLU = _activation("ReLU", F.relu, "max(x, 0) elementwise.", (("inplace", False),))
Tanh = _activation("Tanh", F.tanh, "tanh elementwise.")
Sigmoid = _activation("Sigmoid", F.sigmoid, "1 / (1 + exp(-x)) elementwise.")
SiLU = _activation("SiLU", F.silu, "x * sigmoid(x) elementwise.", (("inplace", False),))
Softplus = _activation("Softplus", F.softplus, "log(1 + exp(beta x)) / beta elementwise.",
                       (("beta", 1.0), ("threshold", 20.0)))


class Identity(Module):
    def forward(self, input):
        return input


class Flatten(Module):
    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input):
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


# ---- PyTorch's base classes of the layer families (torch.nn.modules.conv._ConvNd, ...),
# which user code subclasses and tests with isinstance; the 1-d, 2-d and 3-d layers of
# conv.py, pooling.py, upsampling.py and layers_3d.py derive from them too
class _DropoutNd(Module):
    _fn = None

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"{type(self).__name__}: p must be in [0, 1], got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, input):
        if self.inplace:
            return type(self)._fn(input, self.p, self.training, inplace=True)
        return type(self)._fn(input, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zeroes each element with probability ``p`` in training mode and scales the rest by
    1 / (1 - p); the identity in eval mode (with ``inplace`` the input takes the result)."""

    def forward(self, input):
        if self.inplace:
            return F.dropout(input, self.p, self.training, inplace=True)
        return F.dropout(input, self.p, self.training)


_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    """Shared by the convolutions: parameters made as PyTorch makes them and initialised by
    ``reset_parameters`` (kaiming_uniform_(a=sqrt(5)) for the weight, uniform in
    +-1/sqrt(fan_in) for the bias, fan_in from weight dimension 1 times the kernel)."""

    _n = 1
    _transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 output_padding, groups, bias, padding_mode, device, dtype):
        super().__init__()
        name, n = type(self).__name__, self._n
        if groups <= 0:
            raise ValueError(f"{name}: groups must be a positive integer, got {groups}")
        if in_channels % groups:
            raise ValueError(f"{name}: in_channels={in_channels} must be divisible by "
                             f"groups={groups}")
        if out_channels % groups:
            raise ValueError(f"{name}: out_channels={out_channels} must be divisible by "
                             f"groups={groups}")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {_PADDING_MODES}, got "
                             f"{padding_mode!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _tuple(kernel_size, n, "kernel_size", name)
        self.stride = _tuple(stride, n, "stride", name)
        self.dilation = _tuple(dilation, n, "dilation", name)
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"{name}: padding must be 'valid', 'same' or ints, got "
                                 f"{padding!r}")
            _same_padding(padding, self.kernel_size, self.stride, self.dilation, name)
            self.padding = padding
        else:
            self.padding = _tuple(padding, n, "padding", name)
        self.output_padding = _tuple(output_padding, n, "output_padding", name)
        self.groups, self.padding_mode = groups, padding_mode
        if self._transposed:
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = Parameter(creation.empty(*shape, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(creation.empty(out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.default_linear_(self.weight, self.bias)

    def _pad(self, input):
        """``input`` padded by ``padding_mode`` (not zeros) as ``padding`` says, with
        ``F.pad``, before a convolution without padding (PyTorch's order)."""
        if isinstance(self.padding, str):
            pairs = _same_padding(self.padding, self.kernel_size, self.stride, self.dilation,
                                  type(self).__name__)
        else:
            pairs = [(p, p) for p in self.padding]
        widths = [w for before, after in reversed(pairs) for w in (before, after)]
        return F.pad(input, widths, self.padding_mode) if any(widths) else input

    def extra_repr(self):
        n = self._n
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv2d(_ConvNd):
    """2-D convolution layer with PyTorch's arguments, layout, attributes (pairs for
    ``kernel_size``, ``stride``, ``padding``, ``dilation``), repr and initialisation
    (``init.default_linear_``: uniform in +-1/sqrt(in_channels / groups * kh * kw) for weight
    and bias). ``padding`` may be ``'same'`` or ``'valid'``; a ``padding_mode`` other than
    ``'zeros'`` (``'reflect'``, ``'replicate'``, ``'circular'``) pads with ``F.pad`` first, as
    PyTorch does.

    >>> import tensorgrad as tg
    >>> tg.nn.Conv2d(1, 8, 3, padding=1)
    Conv2d(1, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
    >>> tg.nn.Conv2d(1, 8, 3, padding="same", padding_mode="reflect")(tg.ones(2, 1, 5, 6)).shape
    (2, 8, 5, 6)
    """

    _n = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, 0,
                         groups, bias, padding_mode, device, dtype)

    def _conv_forward(self, input, weight, bias):
        """PyTorch's ``_conv_forward``: this layer's convolution with another ``weight`` and
        ``bias`` (what weight-standardising subclasses call), its padding mode included."""
        conv = getattr(F, f"conv{self._n}d")
        if self.padding_mode == "zeros":
            return conv(input, weight, bias, self.stride, self.padding, self.dilation,
                        self.groups)
        return conv(self._pad(input), weight, bias, self.stride, 0, self.dilation, self.groups)

    def forward(self, input):
        return self._conv_forward(input, self.weight, self.bias)


class _MaxPoolNd(Module):
    """``F.max_pool{_n}d`` with PyTorch's arguments (``stride`` defaults to ``kernel_size``)
    and repr."""

    _n = 1

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, input):
        return getattr(F, f"max_pool{self._n}d")(input, self.kernel_size, self.stride,
                                                 self.padding, self.dilation, self.ceil_mode,
                                                 self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class _AvgPoolNd(Module):
    """PyTorch's base of the average poolings (it has no ``__init__`` of its own)."""

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _Pool2d(_AvgPoolNd):
    """AvgPool2d's arguments (``stride`` defaults to ``kernel_size``)."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.padding = kernel_size, padding
        self.stride = stride if stride is not None else kernel_size  # as PyTorch


class MaxPool2d(_MaxPoolNd):
    """Max over (kh, kw) windows (PyTorch's ``nn.MaxPool2d``); with ``return_indices`` forward
    returns (values, flat h W + w indices), for ``MaxUnpool2d``."""

    _n = 2

    def forward(self, input):
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode, self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(_Pool2d):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__(kernel_size, stride, padding)
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input):
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


# ---- torch.nn.modules.utils: the argument helpers layers (and user layers) are written with ---
def _ntuple(n, name="parse"):
    """A parser that repeats a scalar ``n`` times and turns any iterable into a tuple:
    ``_pair(3) == (3, 3)``, ``_pair([1, 2]) == (1, 2)`` (PyTorch's helpers)."""

    def parse(x):
        return tuple(x) if isinstance(x, Iterable) else tuple(repeat(x, n))

    parse.__name__ = parse.__qualname__ = name
    return parse


_single = _ntuple(1, "_single")
_pair = _ntuple(2, "_pair")
_triple = _ntuple(3, "_triple")
_quadruple = _ntuple(4, "_quadruple")


def _reverse_repeat_tuple(t, n):
    """Each entry of ``t``, last first, ``n`` times: F.pad's widths from a conv's padding."""
    return tuple(x for x in reversed(t) for _ in range(n))


def _list_with_default(out_size, defaults):
    """An adaptive pooling's output size with ``None`` entries taken from ``defaults`` (the
    input's trailing sizes)."""
    if isinstance(out_size, (int, np.integer)):
        return out_size
    if len(defaults) <= len(out_size):
        raise ValueError(f"Input dimension should be at least {len(out_size) + 1}")
    return [d if v is None else v for v, d in zip(out_size, defaults[-len(out_size):])]


def consume_prefix_in_state_dict_if_present(state_dict, prefix):
    """Strip ``prefix`` from the keys of ``state_dict`` that start with it, in place (a
    checkpoint saved from a DataParallel/DDP wrapper has ``module.`` before every key)."""
    for key in [k for k in state_dict if k.startswith(prefix)]:
        state_dict[key[len(prefix):]] = state_dict.pop(key)
    meta = getattr(state_dict, "_metadata", None)
    if meta is not None:
        bare = prefix.replace(".", "")
        for key in [k for k in meta if k and (k == bare or k.startswith(prefix))]:
            meta[key[len(prefix):]] = meta.pop(key)


# PyTorch's torch.nn.modules.module, where the hooks common to all modules are registered:
# tg.nn.modules.module.register_module_forward_hook(...) and its import spelling
module = _hooks
_hooks.Module = Module
sys.modules[__name__ + ".module"] = _hooks
