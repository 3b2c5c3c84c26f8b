"""Tensor: an array (numpy or cupy) plus its place on the tape."""

import numbers
import weakref
from collections import namedtuple

import numpy as np

from . import _memory_format as _mf
from .autograd.grad_mode import _state
from .backend.device import _CUPY_ARRAY, Device, as_device, cupy, device_of, is_pinned, xp_of

_ndarray = np.ndarray
_new = object.__new__

MinMax = namedtuple("MinMax", ["values", "indices"])


def _new_tensor(data, node, rg):
    if type(data) is not _ndarray and type(data) is not _CUPY_ARRAY:
        data = np.asarray(data)
    t = _new(Tensor)
    t.data = data
    t._node = node
    t._rg = rg
    t.grad = None
    t._vc = [0]
    return t


def _lift(raw, vertex):
    """A Tensor for a saved raw array, tied to the graph at ``vertex`` (for create_graph)."""
    if type(vertex) is not _node_type:
        return vertex  # a leaf: the leaf itself
    return _new_tensor(raw, vertex, True)


def _raw(x):
    return x.data if isinstance(x, Tensor) else x


def keep_array(x):
    """Tensors and arrays of either device as they are; anything else (numbers, lists) as a
    NumPy array."""
    if isinstance(x, (Tensor, _ndarray, _CUPY_ARRAY)):
        return x
    return np.asarray(x)


def _default_dtype(data):
    """PyTorch's defaults: Python floats (and lists of them) become float32."""
    if isinstance(data, bool):
        return np.bool_
    if isinstance(data, numbers.Integral):
        return np.int64
    if isinstance(data, numbers.Real):
        return np.float32
    if isinstance(data, numbers.Complex):
        return np.complex64
    return None


def _legacy_tensor_data(args, dtype, device):
    """The array of ``Tensor(*args)``, PyTorch's legacy constructor as well as tensorgrad's
    ``Tensor(data[, dtype])``: ``Tensor(2, 3)`` is an uninitialised (2, 3) tensor of the default
    float dtype (``nn.Parameter(torch.Tensor(out, in))`` before ``reset_parameters()``),
    ``Tensor()`` an empty one, and numbers or lists of them become that float dtype too (an
    array keeps its own)."""
    if not args or all(type(a) is int for a in args):
        from .creation import empty, get_default_dtype

        return empty(*(args or (0,)), dtype=dtype or get_default_dtype(), device=device).data
    if len(args) > 2:
        raise TypeError(f"Tensor(): expected sizes (ints) or data and a dtype, got "
                        f"{len(args)} arguments of types "
                        f"{[type(a).__name__ for a in args]}")
    data = args[0]
    if len(args) == 2:
        dtype = args[1]
    if dtype is None and not isinstance(data, (Tensor, _ndarray, _CUPY_ARRAY, np.generic)):
        from .creation import get_default_dtype

        probe = np.asarray(_unwrap_nested(data))
        if probe.dtype.kind in "biuf":
            dtype = get_default_dtype()
    return _as_array(data, dtype, device)


def _as_array(data, dtype=None, device=None):
    dev = as_device(device) if device is not None else None
    if isinstance(data, Tensor):
        arr = data.data
        if dtype is not None:
            arr = arr.astype(dtype)
        return dev.put(arr) if dev is not None else arr
    if isinstance(data, (_ndarray, _CUPY_ARRAY)):
        arr = data if dtype is None else data.astype(dtype)
        if arr.dtype.kind == "O":
            raise TypeError("tensor: cannot make a tensor of object data (ndarray); pass numbers "
                            "(floats for gradients), e.g. tg.tensor([1.0, 2.0])")
        return dev.put(arr) if dev is not None else arr
    if isinstance(data, np.generic):
        arr = np.asarray(data, dtype=dtype)
    elif dtype is None and not isinstance(data, (list, tuple)):
        arr = np.asarray(data, dtype=_default_dtype(data))
    else:
        arr = np.asarray(_unwrap_nested(data), dtype=dtype)
        if dtype is None and arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        elif dtype is None and arr.dtype == np.complex128:
            arr = arr.astype(np.complex64)
    if arr.dtype.kind in "OUSV":
        raise TypeError(f"tensor: cannot make a tensor of {arr.dtype.name} data "
                        f"({type(data).__name__}); pass numbers (floats for gradients), e.g. "
                        "tg.tensor([1.0, 2.0])")
    return dev.put(arr) if dev is not None else arr


def _seed_like(value, data):
    """``value`` (a number or nested list) as an array of ``data``'s dtype on its device."""
    if type(data) is _CUPY_ARRAY:
        with data.device:
            return cupy.asarray(value, dtype=data.dtype)
    return np.asarray(value, dtype=data.dtype)


def checked_seed(gradient, out, what):
    """``gradient`` (a Tensor, an array, a number or a list) as the raw seed of ``out``'s
    backward pass, once it is on ``out``'s device and of its shape (``what`` names it in the
    error: "backward: gradient", "grad: grad_outputs[0]")."""
    seed = _raw(gradient)
    if not hasattr(seed, "shape") or isinstance(seed, np.generic):
        return _seed_like(seed, out.data)  # a number or a list: on the tensor's device
    data = out.data
    if (type(seed) is _CUPY_ARRAY) is not (type(data) is _CUPY_ARRAY) or (
            type(seed) is _CUPY_ARRAY and seed.device.id != data.device.id):
        raise RuntimeError(f"{what} is on {device_of(seed)} but the tensor is on {out.device}; "
                           f"move it with .to({str(out.device)!r}) first")
    if seed.shape != data.shape:
        raise RuntimeError(f"{what} has shape {tuple(seed.shape)} but the tensor has shape "
                           f"{tuple(out.shape)}; they must match")
    return seed


def _unwrap_nested(data):
    if isinstance(data, Tensor):
        return data.data.get() if type(data.data) is _CUPY_ARRAY else data.data
    if isinstance(data, (list, tuple)):
        return [_unwrap_nested(d) for d in data]
    return data


def _check_grad_dtype(dtype, where):
    if np.dtype(dtype).kind not in "fc":
        raise RuntimeError(
            f"{where}: only floating-point and complex tensors can require gradients, got "
            f"{np.dtype(dtype)}; convert with .float() or .double() first"
        )


def _norm_axis(axis, ndim, op="reduce"):
    if axis is None:
        return None
    if isinstance(axis, (list, tuple)):
        out = tuple(_norm_axis(a, ndim, op) for a in axis)
        if len(set(out)) != len(out):
            raise ValueError(f"{op}: repeated axis in {axis}")
        return tuple(sorted(out))
    a = int(axis)
    if not -max(ndim, 1) <= a < max(ndim, 1):
        raise IndexError(f"{op}: axis {axis} is out of range for a tensor of {ndim} dimensions")
    return a % max(ndim, 1) if ndim else 0


def _axis_args(op, ndim, axis, dim, keepdims, keepdim, scalar_dims=False):
    """(axes: None or a sorted tuple, keepdims) of a reduction. ``scalar_dims``: PyTorch's rule
    for Tensor methods, where a 0-d tensor has one dimension (dim 0 or -1) of size 1, so that
    reducing over it reduces nothing (the axes become ``()``); NumPy's callers leave it off."""
    if dim is not None:
        if axis is not None:
            raise TypeError(f"{op}: give axis= or dim=, not both")
        axis = dim
    if keepdim is not None:
        keepdims = keepdim
    axis = _norm_axis(axis, ndim, op)
    if isinstance(axis, int):
        axis = (axis,)
    if scalar_dims and not ndim and axis is not None:
        axis = ()
    return axis, bool(keepdims)


class Tensor:
    """An n-dimensional array on a device, recorded on the tape when it requires grad.

    >>> import tensorgrad as tg
    >>> x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad.tolist()
    [2.0, 4.0, 6.0]
    """

    # _primal, _tangent and _lev are set only on forward-mode duals (autograd/forward.py)
    # _view: (view primitive, source tensor, its other arguments, keywords), set on views made
    # in grad mode (ops/registry.py), read by _view_base. _vc, the version counter that a base
    # and its views share, is [version, weak references to the views made in grad mode, in
    # the order they were made]: the views whose histories an in-place write renews.
    # __dict__: attributes a user sets on a tensor or a parameter (``p.no_decay = True``), as
    # PyTorch's tensors take them; empty (no dict made) unless one is set
    __slots__ = ("data", "_node", "_rg", "grad", "_vc", "_primal", "_tangent", "_lev",
                 "_view", "__weakref__", "__dict__")
    __array_ufunc__ = None  # ndarray <op> Tensor falls back to Tensor's reflected operator
    __array_priority__ = 1000
    _level = 0  # a dual's forward-mode level; plain tensors read this class attribute

    def __init__(self, *args, dtype=None, device=None, requires_grad=False):
        self.data = _legacy_tensor_data(args, dtype, device)
        self._node = None
        self._rg = False
        self.grad = None
        self._vc = [0]
        if requires_grad:
            self.requires_grad = True

    def __getstate__(self):
        """Pickle's (and deepcopy's) state: the slots, less what ties this tensor to others of
        this process: the link of a view to its source and the references to its views."""
        slots = {}
        for cls in type(self).__mro__:
            for name in getattr(cls, "__slots__", ()):
                if name in ("__weakref__", "__dict__", "_view") or name in slots:
                    continue
                try:
                    slots[name] = object.__getattribute__(self, name)
                except AttributeError:
                    pass
        if "_vc" in slots:
            slots["_vc"] = [slots["_vc"][0]]
        return (getattr(self, "__dict__", None) or None, slots)

    @staticmethod
    def _wrap(data, node=None):
        if data is None:
            return None
        return _new_tensor(data, node, node is not None)

    # ---- attributes -------------------------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self):
        return device_of(self.data)

    @property
    def is_cuda(self):
        """Whether the tensor lives on a GPU."""
        return type(self.data) is _CUPY_ARRAY

    def get_device(self):
        """The index of the tensor's GPU, or -1 for a CPU tensor (as PyTorch)."""
        d = self.data
        return int(d.device.id) if type(d) is _CUPY_ARRAY else -1

    def pin_memory(self):
        """A copy of this CPU tensor in page-locked (pinned) host memory, from which
        ``.to("cuda", non_blocking=True)`` copies asynchronously; the tensor itself if it is
        pinned already. Differentiable. Needs CuPy and a GPU (a ``RuntimeError`` says so).

        >>> import tensorgrad as tg
        >>> if tg.cuda.is_available():
        ...     x = tg.ones(3).pin_memory()
        ...     assert x.is_pinned() and x.to("cuda", non_blocking=True).is_cuda
        """
        if type(self.data) is _CUPY_ARRAY:
            raise RuntimeError(f"pin_memory: cannot pin a tensor on {self.device}; only CPU "
                               "tensors can be pinned")
        if is_pinned(self.data):
            return self
        from .cuda import _prims

        return _prims()["pin"](self)

    def is_pinned(self):
        """Whether the tensor's data lies in page-locked (pinned) host memory."""
        return is_pinned(self.data)

    @property
    def requires_grad(self):
        return self._rg

    @requires_grad.setter
    def requires_grad(self, flag):
        if flag:
            _check_grad_dtype(self.data.dtype, "requires_grad")
        elif self._node is not None:
            raise RuntimeError(
                "requires_grad: you can only change requires_grad of leaf tensors; "
                "use .detach() to get a tensor without history"
            )
        self._rg = bool(flag)

    @property
    def grad_fn(self):
        return self._node

    @property
    def is_leaf(self):
        return self._node is None

    @property
    def _hooks(self):
        return _LEAF_HOOKS.get(id(self))

    @property
    def _post_accumulate_hooks(self):
        return _POST_ACCUMULATE_HOOKS.get(id(self))

    @property
    def _version(self):
        return self._vc[0]

    @property
    def T(self):
        return self.transpose()

    @property
    def mT(self):
        return _ops().swapaxes(self, -1, -2)

    @property
    def real(self):
        return _ops().real(self)

    @property
    def imag(self):
        return _ops().imag(self)

    @property
    def itemsize(self):
        return self.data.itemsize

    @property
    def size_(self):
        return self.data.size

    def size(self, dim=None):
        return self.data.shape if dim is None else self.data.shape[dim]

    def numel(self):
        return int(self.data.size)

    def dim(self):
        return self.data.ndim

    def __len__(self):
        if not self.data.ndim:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    __hash__ = object.__hash__  # by identity, in C: tensors are dict keys on the tape

    # ---- the tape ----------------------------------------------------------------------
    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate d(self)/d(leaf) into the ``.grad`` of every leaf that requires grad.

        ``gradient`` is required when ``self`` is not a scalar. The graph is freed afterwards
        unless ``retain_graph`` (default: ``create_graph``).
        """
        if self._level:  # a forward-AD dual: as PyTorch, .grad gets the primal's gradient only
            while isinstance(gradient, Tensor) and gradient._level:
                gradient = gradient._primal
            bottom = self
            while isinstance(bottom, Tensor) and bottom._level:
                bottom = bottom._primal
            if not isinstance(bottom, Tensor):
                bottom = _new_tensor(bottom, None, False)
            return bottom.backward(gradient, retain_graph, create_graph, inputs)
        if not self._rg:
            raise RuntimeError(
                "backward: this tensor does not require grad and has no grad_fn; set "
                "requires_grad=True on the inputs you want gradients for (and not under no_grad)"
            )
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward: grad can be implicitly created only for scalar outputs, but this "
                    f"tensor has shape {tuple(self.shape)}; pass gradient= (a tensor of that shape)"
                )
            data = self.data
            if type(data) is _ndarray and data.ndim == 0:
                seed = data.dtype.type(1)  # a NumPy scalar: faster than a 0-d array
            else:
                seed = _ops().ones_like_raw(data)
        else:
            seed = checked_seed(gradient, self, "backward: gradient")
            if create_graph and isinstance(gradient, Tensor):
                seed = gradient
        if retain_graph is None:
            retain_graph = create_graph
        if inputs is not None:
            from .autograd.functional import _grad_into_inputs

            return _grad_into_inputs(self, seed, inputs, retain_graph, create_graph)
        _run_backward()([self._node or self], [seed], retain_graph, create_graph)

    def retain_grad(self):
        """Keep the gradient of this non-leaf tensor in ``.grad`` after backward."""
        if not self._rg:
            raise RuntimeError("retain_grad: this tensor does not require grad")
        if self._node is not None:
            self._node.retain = weakref.ref(self)

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; a non-None return
        replaces the gradient. Returns a handle whose ``remove()`` takes the hook away."""
        fn = hook
        if not self._rg:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that does not "
                               "require grad")
        if self._node is not None:
            if self._node.hooks is None:
                self._node.hooks = []
            hooks = self._node.hooks
        else:
            hooks = _LEAF_HOOKS.get(id(self))
            if hooks is None:
                hooks = _LEAF_HOOKS[id(self)] = []
                weakref.finalize(self, _LEAF_HOOKS.pop, id(self), None)
        hooks.append(fn)
        return _HookHandle(hooks, fn)

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(self)`` after backward has accumulated a gradient into ``self.grad`` (a
        leaf only), as PyTorch's method of that name; ``hook`` returns None. Returns a handle whose
        ``remove()`` takes the hook away. (DistributedDataParallel starts its gradient
        all-reduces from such hooks.)"""
        if self._node is not None:
            raise RuntimeError("register_post_accumulate_grad_hook: only leaf tensors have an "
                               "accumulated .grad; use register_hook on a non-leaf tensor")
        if not self._rg:
            raise RuntimeError("register_post_accumulate_grad_hook: cannot register a hook on a "
                               "tensor that does not require grad")
        hooks = _POST_ACCUMULATE_HOOKS.get(id(self))
        if hooks is None:
            hooks = _POST_ACCUMULATE_HOOKS[id(self)] = []
            weakref.finalize(self, _POST_ACCUMULATE_HOOKS.pop, id(self), None)
        hooks.append(hook)
        return _HookHandle(hooks, hook)

    def detach(self):
        """The same data (shared, not copied) without history."""
        t = _new_tensor(self.data, None, False)
        vc = t._vc = self._vc
        vc.append(weakref.ref(t))  # an alias: in-place ops must write (nn/_inplace.py)
        _prune_at_powers_of_two(vc)
        return t

    def detach_(self):
        if self._level:
            raise RuntimeError("detach_: not allowed on a tensor inside a function transform")
        self._node = None
        self._rg = False
        return self

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    def zero_grad_(self):
        self.grad = None
        return self

    # ---- conversion --------------------------------------------------------------------
    def numpy(self, *, force=False):
        """The values as a NumPy array (copied from the GPU for CUDA tensors). Like ``.data``,
        it carries no history: gradients do not flow through what is done with it. ``force``
        is PyTorch's switch for what this always does (detach and copy to the host)."""
        d = self.data
        return d.get() if type(d) is _CUPY_ARRAY else d

    def __array__(self, dtype=None, copy=None):
        # As PyTorch and CuPy: no implicit copy from a GPU (np.asarray(t) on a device path is a
        # bug that the CPU would hide); .numpy() and .cpu() are the explicit ways.
        a = self.data
        if type(a) is _CUPY_ARRAY:
            raise TypeError(f"can't convert a tensor on {self.device} to a NumPy array "
                            "implicitly; use .numpy() or .cpu() to copy it to the host first")
        if self._level or (self._rg and _in_transform()):
            # a value traced by grad/jvp/... written into a plain NumPy array would lose its
            # derivative silently; autograd refuses it too
            raise TypeError("can't convert a traced value (inside grad, jacobian, jvp, ...) to "
                            "a NumPy array: its derivative would be lost; build the array with "
                            "tensorgrad.numpy functions (np.stack, np.concatenate, np.where) "
                            "instead of item assignment into a NumPy array")
        return a if dtype is None else a.astype(dtype)

    # ---- zero-copy exchange (DLPack, CUDA array interface) -------------------------------
    def _export(self, what):
        if self._rg:
            raise RuntimeError(f"{what}: can't export a tensor that requires grad (the other "
                               "library would not see its history); use tensor.detach()")
        return self.data

    def __dlpack__(self, *args, **kwargs):
        """The DLPack capsule of the data, shared without a copy (CPU: NumPy's, cuda: CuPy's)."""
        return self._export("__dlpack__").__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self.data.__dlpack_device__()

    @property
    def __cuda_array_interface__(self):
        if type(self.data) is not _CUPY_ARRAY:
            raise AttributeError(f"__cuda_array_interface__: the tensor is on {self.device}, "
                                 "not on a cuda device")
        return self._export("__cuda_array_interface__").__cuda_array_interface__

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item: only a one-element tensor converts to a Python scalar, "
                             f"got shape {tuple(self.shape)}")
        return self.data.item()

    def tolist(self):
        return self.numpy().tolist()

    def __float__(self):
        if self._level or (self._rg and _in_transform()):
            raise TypeError("float() of a traced value (inside grad, jacobian, jvp, ...) would "
                            "lose its derivative (as in autograd); keep it an array, or use "
                            "tensorgrad.numpy functions")
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __complex__(self):
        return complex(self.item())

    def __index__(self):
        if self.data.dtype.kind not in "iu":
            raise TypeError("only integer tensors of a single element can be used as an index")
        return int(self.item())

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError(f"bool: the truth value of a tensor with shape "
                               f"{tuple(self.shape)} is ambiguous; use .any() or .all()")
        return bool(self.data.item())

    def to(self, *args, dtype=None, device=None, non_blocking=False, copy=False,
           memory_format=None):
        """``.to(device)``, ``.to(dtype)`` or both; differentiable. After them, positionally,
        PyTorch's ``non_blocking`` and ``copy``.

        ``non_blocking=True``: a copy to the GPU from pinned memory (``pin_memory()``) is
        asynchronous on the current stream (work queued on it later sees the values, and the
        source must not be changed until the copy is done); from unpinned memory it is an
        ordinary copy. A copy to the CPU is always complete on return.

        ``memory_format=tg.channels_last`` (or another ``tg.memory_format``): the result in that
        layout, ``self`` when nothing changes and its strides already suggest it (as PyTorch);
        without it the layout is preserved (a channels_last tensor stays one on any device)."""
        flags = 0
        for a in args:
            if isinstance(a, (str, Device)) and not _is_dtype_name(a):
                device = a
            elif a is True or a is False:  # positional non_blocking, then copy
                if flags:
                    copy = a
                else:
                    non_blocking, flags = a, 1
            else:
                dtype = a
        out = self
        if dtype is not None and np.dtype(dtype) != self.data.dtype:
            out = _ops().astype(out, np.dtype(dtype))
        if device is not None and as_device(device) != self.device:
            if non_blocking:
                out = _ops().to_device(out, as_device(device), True)
            else:
                out = _ops().to_device(out, as_device(device))
        if memory_format is None and out is not self and not self.data.flags.c_contiguous:
            # preserve_format: CuPy's device copies come back row-major, and NumPy's astype
            # of an expanded array is laid out oddly
            out = _mf.like(out, self.data, "to")
        if memory_format is not None:
            return _mf.to(self, out, memory_format, copy)
        if copy and out is self:
            out = self.clone()
        return out

    def cpu(self, *, memory_format=None):
        return self.to("cpu", memory_format=memory_format)

    def cuda(self, device=None, non_blocking=False, *, memory_format=None):
        return self.to(Device("cuda", device) if isinstance(device, int) else device or "cuda",
                       non_blocking=non_blocking, memory_format=memory_format)

    def type(self, dtype=None, non_blocking=False, **kwargs):
        """PyTorch's: without a dtype the type's name (``"torch.FloatTensor"``); with one (a
        dtype, ``tg.DoubleTensor`` or its name ``"torch.cuda.DoubleTensor"``) a cast."""
        from .torch_surface3 import _LEGACY_TYPES, typename

        if dtype is None:
            return typename(self)
        if isinstance(dtype, str) and dtype.startswith("torch."):
            typ = _LEGACY_TYPES.get(dtype.rsplit(".", 1)[-1])
            if typ is None:
                raise ValueError(f"type(): invalid type {dtype!r}")
            device = "cuda" if dtype.startswith("torch.cuda.") else "cpu"
            return self.to(device=device, dtype=typ.dtype)
        return self.to(dtype)

    def astype(self, dtype):
        return self.to(dtype)

    def float(self, *, memory_format=None):
        return self.to(np.float32, memory_format=memory_format)

    def double(self, *, memory_format=None):
        return self.to(np.float64, memory_format=memory_format)

    def half(self, *, memory_format=None):
        return self.to(np.float16, memory_format=memory_format)

    def long(self, *, memory_format=None):
        return self.to(np.int64, memory_format=memory_format)

    def int(self, *, memory_format=None):
        return self.to(np.int32, memory_format=memory_format)

    def bool(self, *, memory_format=None):
        return self.to(np.bool_, memory_format=memory_format)

    def clone(self, *, memory_format=_mf.preserve_format):
        """A differentiable copy; ``memory_format``: its layout (``tg.preserve_format``: the
        same strides as ``self``, as PyTorch)."""
        if (memory_format is _mf.preserve_format or memory_format is None) \
                and self.data.flags.c_contiguous:
            return _ops().copy(self)
        return _mf.copy_to(self, memory_format, "clone")

    def contiguous(self, *, memory_format=_mf.contiguous_format):
        """``self`` when it is contiguous in ``memory_format`` (default: row-major), else a
        differentiable copy laid out so."""
        if memory_format is _mf.contiguous_format and self.data.flags.c_contiguous:
            return self
        return _mf.contiguous(self, memory_format)

    def is_contiguous(self, *, memory_format=_mf.contiguous_format):
        """Whether the elements lie in memory in ``memory_format``'s order without gaps
        (PyTorch's rules: a dimension of size 1 may have any stride)."""
        if memory_format is _mf.contiguous_format:
            return bool(self.data.flags.c_contiguous)
        return _mf.is_contiguous(self.data, memory_format)

    def __repr__(self):
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        extra = ""
        if self.data.dtype not in (np.float32, np.int64, np.bool_):
            extra += f", dtype={self.data.dtype}"
        if self.device.type != "cpu":
            extra += f", device='{self.device}'"
        if self._node is not None:
            extra += f", grad_fn={self._node!r}"
        elif self._rg:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __iter__(self):
        if not self.data.ndim:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.data.shape[0]))

    # ---- in-place writes ---------------------------------------------------------------
    def _check_inplace(self, op, recording):
        if op != "setitem" and 0 in self.data.strides:  # setitem checks its target (ops/index)
            _check_no_overlap(self.data, op)
        if recording and self._node is None and self._rg:
            raise RuntimeError(
                f"{op}: a leaf tensor that requires grad is used in an in-place operation; "
                "do it under tg.no_grad() (as optimizers do) or work on a clone()"
            )
        if recording and self._node is not None and _made_as_view(self._node):
            viewed = self._view_base()
            if viewed is None:
                raise RuntimeError(
                    f"{op}: in-place write into a view (made by '{self._node.prim.name}') of "
                    "a tensor that requires grad, made outside grad mode, is not supported "
                    "while recording; clone() it first")
            if viewed and viewed[0]._node is None and viewed[0]._rg:
                raise RuntimeError(
                    f"{op}: a view of a leaf tensor that requires grad is used in an in-place "
                    "operation; do it under tg.no_grad() or on a clone()")

    def _view_base(self):
        """(base, [(primitive, arguments, keywords), ...] from the base to this tensor) when this
        tensor shares memory with the tensor it was viewed from (the views of views followed
        up to the first that owns its memory, PyTorch's ``._base``); False when its view
        primitive copied (NumPy's reshape of a non-contiguous array); None when it is no view
        made in grad mode."""
        link = getattr(self, "_view", None)
        if link is None:
            return None
        chain = []
        t = self
        while link is not None:
            prim, source, rest, kw = link
            if not _may_share(t.data, source.data):
                break
            chain.append((prim, rest, kw))
            t = source
            link = getattr(t, "_view", None)
        return (t, chain[::-1]) if chain else False

    def _after_recorded_write(self, region=None):
        """After an in-place write into this tensor on the tape (into its elements in the
        array ``region``, all of them by default): when it is a view, its base takes the write
        into its history (PyTorch's CopySlices); then every other view of the memory's owner
        made on the tape that overlaps the written elements reads its history from the
        owner's new one, as PyTorch regenerates a view's grad_fn once its base's version moved.
        Without that a view taken before the write would differentiate the old values (a
        silently wrong gradient). A view apart from the written elements keeps its history:
        its values did not change, nor does its derivative."""
        viewed = self._view_base()
        root = self
        if viewed:
            self._rebase_view(viewed)
            root = viewed[0]
        if len(root._vc) > 1:
            _renew_views(root, _new_tensor(root.data, root._node, root._rg), self,
                         self.data if region is None else region)

    def _rebase_view(self, viewed):
        """After an in-place write into a view on the tape: the base's history becomes 'the
        old base with the view's elements replaced by the view's new value' (PyTorch's
        CopySlices), so that gradients through the base reach both its old history and the
        view's new one."""
        base, chain = viewed
        new = _spliced(base.data, chain, _new_tensor(self.data, self._node, self._rg),
                       _new_tensor(base.data, base._node, base._rg))
        base._node = new._node
        base._rg = new._rg

    def __setitem__(self, idx, value):
        from .ops import index as _index

        _index.setitem(self, idx, value)

    def _inplace(self, prim, other, opname):
        other_rg = isinstance(other, Tensor) and other._rg
        recording = _state.enabled and (self._rg or other_rg)
        if self._level or (isinstance(other, Tensor) and other._level) or (
                recording and self._node is not None and _rebinds()):
            # Inside grad/jvp (autograd's world, where ``x -= y`` makes a new value) the
            # tensor takes the result and no array is written; torch.func writes.
            return self._inplace_rebind(prim, other, opname)
        self._check_inplace(opname, recording)
        if recording:
            self._inplace_recorded(prim, other, opname)
            self._after_recorded_write()
            return self
        o = _raw(other)
        out = self.data
        try:
            _INPLACE_UFUNC[prim.prim.name](out, o, out=out, casting="same_kind")
        except Exception as e:
            from .ops.registry import move_cpu_scalars, op_error

            moved = move_cpu_scalars((self, other))  # x.add_(cpu scalar) on a GPU, as PyTorch
            if moved is None or moved[0] is not self:
                raise op_error(prim.prim, (self, other), e) from e
            return self._inplace(prim, moved[1], opname)
        bump_version(self._vc)
        return self

    def _inplace_result(self, prim, first, other, opname):
        r = prim(first, other)
        if type(r.data) is not type(self.data):  # a CPU scalar updated with a CUDA operand
            raise RuntimeError(f"{opname}: the result is on {r.device} but the tensor written "
                               f"in place is on {self.device}; use an out-of-place op")
        if r.data.dtype != self.data.dtype:
            r = r.to(self.data.dtype)
        if r.shape != self.shape:
            raise ValueError(f"{opname}: result shape {tuple(r.shape)} does not match the "
                             f"tensor's shape {tuple(self.shape)} for an in-place op")
        return r

    def _inplace_recorded(self, prim, other, opname):
        """An in-place op on the tape, as PyTorch does it: the array is written in place (views
        see it, and anything that saved the old values is told by the version counter), while
        the op's own rules get a copy of the old values when they need them."""
        first = self
        if prim.prim.saves:
            first = _new_tensor(self.data.copy(), self._node, self._rg)
        r = self._inplace_result(prim, first, other, opname)
        self.data[...] = r.data
        self._node = r._node
        self._rg = r._rg
        bump_version(self._vc)
        node = self._node
        if node is not None:
            # r's buffer is private to the node now (nobody can write to it): rules that read
            # the answer keep it; the others need none
            node.out_vc = None
            if not prim.prim.saves:
                node.ans = None
        return self

    def _inplace_rebind(self, prim, other, opname):
        """An in-place op that the tensor takes as a new value: a forward-mode dual gets the
        new primal and tangent; nothing is written into the old arrays, which others may
        share (and which values saved for backward may be)."""
        r = self._inplace_result(prim, self, other, opname)
        if r._level and not _rebinds():
            from .autograd import forward

            if forward.writes_through(self, r):  # PyTorch's forward AD: written in place
                forward.write_dual(self, r._level, r)
                return self
        if r._level:
            if type(self) is not Tensor and not self._level:
                raise TypeError(f"{opname}: cannot make a {type(self).__name__} carry a "
                                "forward-mode tangent in place; use an out-of-place op")
            self.__class__ = type(r)
            self._lev, self._primal, self._tangent = r._lev, r._primal, r._tangent
        self.data = r.data
        self._node = r._node
        self._rg = r._rg
        self._vc = [self._vc[0] + 1]
        return self

    def __iadd__(self, o):
        return self._inplace(_ops().add, o, "add_")

    def __isub__(self, o):
        return self._inplace(_ops().subtract, o, "sub_")

    def __imul__(self, o):
        return self._inplace(_ops().multiply, o, "mul_")

    def __itruediv__(self, o):
        return self._inplace(_ops().true_divide, o, "div_")

    def __ipow__(self, o):
        return self._inplace(_ops().power, o, "pow_")

    def add_(self, o, alpha=1):
        return self.__iadd__(o if alpha == 1 else o * alpha)

    def sub_(self, o, alpha=1):
        return self.__isub__(o if alpha == 1 else o * alpha)

    def mul_(self, o):
        return self.__imul__(o)

    def div_(self, o, *, rounding_mode=None):
        """``self /= o`` in place; ``rounding_mode`` 'trunc' or 'floor' rounds the quotient
        (``tg.div``'s), written back in place (integer tensors stay integers)."""
        if rounding_mode is None:
            return self.__itruediv__(o)
        from .torch_api import div

        return self.copy_(div(self, o, rounding_mode=rounding_mode))

    def pow_(self, o):
        return self.__ipow__(o)

    def zero_(self):
        return self.fill_(0)

    def fill_(self, value):
        self[...] = value
        return self

    def copy_(self, src):
        self[...] = src
        return self


class _HookHandle:
    def __init__(self, hooks, fn):
        self.hooks, self.fn = hooks, fn

    def remove(self):
        if self.fn in self.hooks:
            self.hooks.remove(self.fn)


# Keyed by id, dropped when the tensor dies: a WeakKeyDictionary compares keys with ==, which
# for Tensors is elementwise and has no truth value.
_LEAF_HOOKS = {}
_POST_ACCUMULATE_HOOKS = {}

_INPLACE_UFUNC = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply,
                  "true_divide": np.true_divide, "divide": np.true_divide, "power": np.power}


def _is_dtype_name(a):
    if isinstance(a, Device):
        return False
    try:
        np.dtype(a)
    except TypeError:
        return False
    return a not in ("cpu", "cuda") and not str(a).startswith("cuda")


def _in_transform():
    from .autograd.functional import _rev_depth

    return _rev_depth[0] > 0


def _rebinds():
    """Whether an in-place op on a traced tensor takes its result as a new value instead of
    writing it: inside an autograd-style reverse transform (see functional._REBIND)."""
    from .autograd.functional import _REBIND

    return bool(_REBIND) and _REBIND[-1]


def _ops():
    from . import ops

    return ops


def _may_share(a, b):
    return xp_of(a).may_share_memory(a, b)


def _spliced(base_data, chain, view, base):
    """``base`` (a Tensor shaped like ``base_data``) with the elements that the view
    primitives of ``chain`` pick from ``base_data`` replaced by ``view``'s: a where() over the
    base's elements of a gather from the view, differentiable in both."""
    ops = _ops()
    xp = xp_of(base_data)
    size = base_data.size
    ids = xp.arange(size).reshape(base_data.shape)  # which base element each view one is
    for prim, rest, kw in chain:
        ids = prim.fwd(ids, *rest, **kw)
    ids = ids.reshape(-1)
    inverse = xp.zeros(size, dtype=ids.dtype)
    inverse[ids] = xp.arange(ids.size)
    inside = xp.zeros(size, dtype=bool)
    inside[ids] = True
    spread = ops.reshape(ops.getitem(ops.reshape(view, (-1,)), inverse), base_data.shape)
    return ops.where(inside.reshape(base_data.shape), spread, base)


def _link_view(t, prim, source, rest, kw):
    """Record ``t``, made by the view primitive ``prim`` from ``source`` (its other arguments
    ``rest``), as a view: the link an in-place write into ``t`` follows to its base
    (``_view_base``), and a weak reference in the version counter it shares with ``source``,
    which a write into the base follows to its views (``_family``)."""
    vc = t._vc = source._vc
    t._view = (prim, source, rest, kw)
    vc.append(weakref.ref(t))
    _prune_at_powers_of_two(vc)


def _prune_at_powers_of_two(vc):
    """Drop the dead view references of ``vc`` when its length reaches a power of two: a
    tensor viewed at every step (a weight) keeps a short list, at O(1) amortized cost."""
    n = len(vc)
    if n > 16 and not n & (n - 1):
        drop_dead_views(vc)


def drop_dead_views(vc):
    """Keep only the live view references of the version counter ``vc``; True if any."""
    vc[1:] = [r for r in vc[1:] if r() is not None]
    return len(vc) > 1


def _family(root, value, derive, region=None):
    """Walk the live views made from ``root`` and from its views (in the order they were
    made, so a view's source comes before it): ``derive(view, source's value, primitive,
    other arguments, keywords)`` gives each view's value from its source's, starting from
    ``value`` for ``root``. Aliases (``detach()``), views of other tensors sharing the
    counter, views whose memory was replaced (``set_``, ``.data =``), and, with ``region`` (an
    array), views that share no memory with it (nor do their own views), are passed over;
    dead references are dropped."""
    vc = root._vc
    values = {id(root): value}
    live = []
    for ref in vc[1:]:
        view = ref()
        if view is None:
            continue
        live.append(ref)
        link = getattr(view, "_view", None)
        if link is None:  # an alias, not a view (detach)
            continue
        prim, src, rest, kw = link
        have = values.get(id(src))
        if have is not None and (region is None or _may_share(view.data, region)) and \
                _may_share(view.data, src.data):
            values[id(view)] = derive(view, have, prim, rest, kw)
    vc[1:] = live


def _made_as_view(node):
    """Whether ``node``'s primitive gave a view of its first argument (getitem does for a
    basic index, and copies for an advanced one, as ``as_strided``'s gather)."""
    view = node.prim.view
    if not view or view is True:
        return bool(view)
    return node.args is None or view(node.args)


def _renew_views(root, history, written, region):
    """Give each live view of ``root`` made on the tape that overlaps ``region`` the history
    of its view primitives applied to ``history``, ``root``'s new one; ``written``, the tensor
    just written in place, keeps the history the write gave it."""
    from .ops.registry import apply

    def derive(view, source, prim, rest, kw):
        renewed = apply(prim, (source,) + rest, kw)
        if view is not written:
            view._node = renewed._node
            view._rg = renewed._rg
        return renewed

    _family(root, history, derive, region)


def _check_no_overlap(a, op):
    """PyTorch's refusal to write into an array whose elements share memory (an expanded
    tensor's stride-0 dims). NumPy's broadcast views are read-only, CuPy's are not: on a GPU
    the threads of one element would race."""
    if a.size == 0:
        return
    for n, st in zip(a.shape, a.strides):
        if st == 0 and n > 1:
            raise RuntimeError(
                f"{op}: unsupported operation: more than one element of the written-to tensor "
                f"refers to a single memory location (shape {tuple(a.shape)}, strides "
                f"{tuple(a.strides)}). Please clone() the tensor before performing the "
                "operation.")


_RUN_BACKWARD = []


def _run_backward():
    # autograd.graph imports this module: looked up once, on the first backward
    if not _RUN_BACKWARD:
        from .autograd.graph import run_backward

        _RUN_BACKWARD.append(run_backward)
    return _RUN_BACKWARD[0]


def is_tensor(x):
    return isinstance(x, Tensor)


from .autograd.graph import Node as _node_type  # noqa: E402  (graph.py imports Tensor lazily)
from .autograd.graph import bump_version  # noqa: E402

__all__ = ["Tensor", "MinMax", "is_tensor", "cupy"]
