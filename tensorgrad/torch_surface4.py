"""PyTorch's top level and Tensor methods, fourth pass: the names real programs still met.

Tensor methods: the bit shifts (``bitwise_left_shift(_)``, ``<<``, ``>>``), ``hardshrink``,
``prelu``, the old linear-algebra methods (``lu``, ``lu_solve``, ``triangular_solve``),
``narrow_copy``, ``new_empty_strided``, ``unsafe_chunk``/``unsafe_split``/
``unsafe_split_with_sizes``, ``conj_physical(_)``, ``as_subclass``, ``resize``/``resize_as``
(PyTorch's deprecated out-of-place forms: a reshape of the same number of elements), ``set_``,
``record_stream``, ``grad_dtype``, ``hash_tensor``, ``const_data_ptr``, ``module_load``, the
sparse queries of a dense tensor (``dense_dim``, ``sparse_dim``, ``is_sparse_csr``; ``indices``,
``values``, ``coalesce``, ``is_coalesced`` raise as PyTorch's do), the device predicates
(``is_xpu``, ``is_mps``, ... all False), and the legacy ``eig``/``lstsq``/``solve``/``symeig``
methods, which raise PyTorch's removal error.

Top level: ``rms_norm``, ``conj_physical(_)``, ``constant_pad_nd``, ``convolution``,
``feature_dropout(_)``, ``grid_sampler`` (and ``_2d``/``_3d``), the functional RNN cells
(``lstm_cell``, ``gru_cell``, ``rnn_tanh_cell``, ``rnn_relu_cell``), ``norm_except_dim``,
``embedding_renorm_``, ``hash_tensor``, ``slice_inverse``, ``get_device``, ``is_inference``,
``i0_``, ``addmv_``, ``detach_``, ``resize_as_``, more ``*_copy`` variants, and the
``uint16``/``uint32``/``uint64`` dtypes.

Differentiable functions are compositions of existing differentiable ops, so derivatives of
every order come with them.

>>> import tensorgrad as tg
>>> (tg.tensor([1, 2]) << 2).tolist()
[4, 8]
>>> tg.constant_pad_nd(tg.ones(2), [1, 1], 0.5).tolist()
[0.5, 1.0, 1.0, 0.5]
"""

import builtins
import sys
import warnings

import numpy as np

from . import creation as _cr
from . import torch_api as _ta
from . import torch_surface3 as _s3
from .ops import elementwise as _ew
from .tensor import Tensor, _new_tensor, bump_version

_t = _ta._t
_xp = _ta._xp


def _F():
    from .nn import functional

    return functional


# ---- dtypes ----------------------------------------------------------------------------------
uint16 = np.dtype(np.uint16)
uint32 = np.dtype(np.uint32)
uint64 = np.dtype(np.uint64)


# ---- shapes and copies ---------------------------------------------------------------------
def unsafe_split_with_sizes(input, split_sizes, dim=0):
    """``split_with_sizes`` (PyTorch's "unsafe" variants differ only in skipping view checks;
    tensorgrad's pieces are safe to modify)."""
    return _s3.split_with_sizes(input, split_sizes, dim)


def slice_inverse(input, src, dim=0, start=None, end=None, step=1):
    """The inverse of slicing ``src``: ``src`` with ``input`` (a slice of it) written back at
    ``[start:end:step]`` along ``dim`` (``slice_scatter(src, input, ...)``)."""
    x = _t(input, "slice_inverse")
    s = _t(src, "slice_inverse", "src")
    return _s3.slice_scatter(s, x, dim, start, end, step)


def constant_pad_nd(input, pad, value=0):
    """Pad with the constant ``value``: ``pad`` lists (before, after) pairs from the last
    dimension backwards; negative entries crop, as PyTorch's."""
    x = _t(input, "constant_pad_nd")
    pad = [int(p) for p in pad]
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise RuntimeError(f"constant_pad_nd(): pad of length {len(pad)} must have an even "
                           f"length of at most 2 * ndim for input of shape {tuple(x.shape)}")
    # crops first (negative pads), then the positive padding
    index = [slice(None)] * x.ndim
    for k in builtins.range(len(pad) // 2):
        d = x.ndim - 1 - k
        lo, hi = pad[2 * k], pad[2 * k + 1]
        n = x.shape[d]
        if n + lo + hi < 0:
            raise RuntimeError(f"constant_pad_nd(): the padded size of dim {d} of input of "
                               f"shape {tuple(x.shape)} would be {n + lo + hi} < 0")
        index[d] = slice(-lo if lo < 0 else 0, n + hi if hi < 0 else n)
    if any(p < 0 for p in pad):
        x = x[tuple(index)]
    pos = [builtins.max(p, 0) for p in pad]
    if not any(pos):
        return x.clone()
    return _F().pad(x, pos, "constant", value)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """Root-mean-square normalisation over the trailing ``normalized_shape``
    (``nn.functional.rms_norm``)."""
    return _F().rms_norm(_t(input, "rms_norm"), normalized_shape, weight, eps)


def conj_physical(input):
    """The complex conjugate as a new tensor (a copy for real tensors)."""
    x = _t(input, "conj_physical")
    return x.conj() if x.dtype.kind == "c" else x.clone()


def norm_except_dim(v, pow=2, dim=0):
    """The ``pow``-norm of ``v`` over every dimension but ``dim``, keeping ``v``'s number of
    dimensions (weight normalisation's norm); ``dim=-1``: the norm of all of ``v``."""
    x = _t(v, "norm_except_dim", "v")
    if dim == -1:
        return _ta.norm(x, pow)
    d = _ta._dim(x, dim, "norm_except_dim")
    others = tuple(i for i in builtins.range(x.ndim) if i != d)
    if not others:
        return _ew.abs(x)
    return _ta.norm(x, pow, dim=others, keepdim=True)


# ---- convolution and sampling --------------------------------------------------------------
def _tuple(v, n):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


def convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding,
                groups):
    """PyTorch's generic convolution: ``conv{1,2,3}d`` or ``conv_transpose{1,2,3}d`` by the
    number of spatial dimensions of ``weight`` and ``transposed``."""
    x = _t(input, "convolution")
    w = _t(weight, "convolution", "weight")
    n = w.ndim - 2
    if n not in (1, 2, 3):
        raise RuntimeError(f"convolution(): weight of shape {tuple(w.shape)} must have 3, 4 or "
                           "5 dimensions (1, 2 or 3 spatial ones)")
    if x.ndim not in (n + 1, n + 2):
        raise RuntimeError(f"convolution(): input of shape {tuple(x.shape)} does not match "
                           f"weight of shape {tuple(w.shape)} ({n} spatial dimensions)")
    F = _F()
    stride, padding, dilation = _tuple(stride, n), _tuple(padding, n), _tuple(dilation, n)
    if transposed:
        return getattr(F, f"conv_transpose{n}d")(x, w, bias, stride, padding,
                                                 _tuple(output_padding, n), groups, dilation)
    return getattr(F, f"conv{n}d")(x, w, bias, stride, padding, dilation, groups)


_GRID_MODES = {0: "bilinear", 1: "nearest", 2: "bicubic"}
_GRID_PADDING = {0: "zeros", 1: "border", 2: "reflection"}


def grid_sampler(input, grid, interpolation_mode, padding_mode, align_corners):
    """``nn.functional.grid_sample`` with PyTorch's integer codes: ``interpolation_mode`` 0
    bilinear, 1 nearest, 2 bicubic; ``padding_mode`` 0 zeros, 1 border, 2 reflection."""
    if interpolation_mode not in _GRID_MODES:
        raise ValueError(f"grid_sampler(): interpolation_mode must be 0, 1 or 2, got "
                         f"{interpolation_mode!r}")
    if padding_mode not in _GRID_PADDING:
        raise ValueError(f"grid_sampler(): padding_mode must be 0, 1 or 2, got "
                         f"{padding_mode!r}")
    return _F().grid_sample(_t(input, "grid_sampler"), _t(grid, "grid_sampler", "grid"),
                            _GRID_MODES[interpolation_mode], _GRID_PADDING[padding_mode],
                            bool(align_corners))


def grid_sampler_2d(input, grid, interpolation_mode, padding_mode, align_corners):
    """:func:`grid_sampler` for 4-D input."""
    if _t(input, "grid_sampler_2d").ndim != 4:
        raise RuntimeError(f"grid_sampler_2d(): input must be 4-D, got shape "
                           f"{tuple(input.shape)}")
    return grid_sampler(input, grid, interpolation_mode, padding_mode, align_corners)


def grid_sampler_3d(input, grid, interpolation_mode, padding_mode, align_corners):
    """:func:`grid_sampler` for 5-D input."""
    if _t(input, "grid_sampler_3d").ndim != 5:
        raise RuntimeError(f"grid_sampler_3d(): input must be 5-D, got shape "
                           f"{tuple(input.shape)}")
    return grid_sampler(input, grid, interpolation_mode, padding_mode, align_corners)


# ---- dropout -------------------------------------------------------------------------------
def _feature_mask(x, p, op):
    if not 0 <= p <= 1:
        raise ValueError(f"{op}(): dropout probability has to be between 0 and 1, but got {p}")
    if x.ndim < 2:
        raise RuntimeError(f"{op}(): input of shape {tuple(x.shape)} needs at least 2 "
                           "dimensions (batch, channels, ...)")
    shape = tuple(x.shape[:2]) + (1,) * (x.ndim - 2)
    keep = _cr.rand(*shape, dtype=np.float64, device=x.device) >= p
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    return keep.to(x.dtype) * scale


def feature_dropout(input, p, train):
    """Zero whole channels (dim 1) of each sample with probability ``p`` and scale the rest by
    1 / (1 - p) when ``train``; the identity otherwise."""
    x = _t(input, "feature_dropout")
    if not train or p == 0:
        return x
    return x * _feature_mask(x, p, "feature_dropout")


def feature_dropout_(input, p, train):
    """:func:`feature_dropout` in place."""
    x = _t(input, "feature_dropout_")
    if not train or p == 0:
        return x
    return x.mul_(_feature_mask(x, p, "feature_dropout_"))


# ---- recurrent cells -----------------------------------------------------------------------
def _affine(x, w, b):
    y = x @ w.mT
    return y if b is None else y + b


def _cell_check(op, input, hx, w_ih, w_hh, gates):
    x = _t(input, op)
    h = _t(hx, op, "hx")
    w_ih, w_hh = _t(w_ih, op, "w_ih"), _t(w_hh, op, "w_hh")
    hidden = h.shape[-1]
    if w_ih.ndim != 2 or w_ih.shape[0] != gates * hidden or w_ih.shape[1] != x.shape[-1]:
        raise RuntimeError(f"{op}(): w_ih of shape {tuple(w_ih.shape)} must be "
                           f"({gates} * hidden_size, input_size) = "
                           f"({gates * hidden}, {x.shape[-1]}) for input of shape "
                           f"{tuple(x.shape)} and hx of shape {tuple(h.shape)}")
    if tuple(w_hh.shape) != (gates * hidden, hidden):
        raise RuntimeError(f"{op}(): w_hh of shape {tuple(w_hh.shape)} must be "
                           f"({gates * hidden}, {hidden}) for hx of shape {tuple(h.shape)}")
    return x, h, w_ih, w_hh


def lstm_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step: ``hx = (h, c)``; returns ``(h', c')`` (gates i, f, g, o as PyTorch's)."""
    if not isinstance(hx, (tuple, list)) or len(hx) != 2:
        raise RuntimeError("lstm_cell(): hx must be a tuple (h, c) of two tensors")
    h, c = hx
    x, h, w_ih, w_hh = _cell_check("lstm_cell", input, h, w_ih, w_hh, 4)
    gates = _affine(x, w_ih, b_ih) + _affine(h, w_hh, b_hh)
    i, f, g, o = _ta.chunk(gates, 4, -1)
    c2 = _ew.sigmoid(f) * _t(c, "lstm_cell", "hx[1]") + _ew.sigmoid(i) * _ew.tanh(g)
    return _ew.sigmoid(o) * _ew.tanh(c2), c2


def gru_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One GRU step (gates r, z, n as PyTorch's): h' = (1 - z) * n + z * h."""
    x, h, w_ih, w_hh = _cell_check("gru_cell", input, hx, w_ih, w_hh, 3)
    gi = _ta.chunk(_affine(x, w_ih, b_ih), 3, -1)
    gh = _ta.chunk(_affine(h, w_hh, b_hh), 3, -1)
    r = _ew.sigmoid(gi[0] + gh[0])
    z = _ew.sigmoid(gi[1] + gh[1])
    n = _ew.tanh(gi[2] + r * gh[2])
    return (1 - z) * n + z * h


def rnn_tanh_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One Elman step: tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)."""
    x, h, w_ih, w_hh = _cell_check("rnn_tanh_cell", input, hx, w_ih, w_hh, 1)
    return _ew.tanh(_affine(x, w_ih, b_ih) + _affine(h, w_hh, b_hh))


def rnn_relu_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One Elman step with relu."""
    x, h, w_ih, w_hh = _cell_check("rnn_relu_cell", input, hx, w_ih, w_hh, 1)
    return _F().relu(_affine(x, w_ih, b_ih) + _affine(h, w_hh, b_hh))


# ---- in place, no gradient -----------------------------------------------------------------
def embedding_renorm_(input, indices, max_norm, norm_type):
    """Scale, in place and without recording, the rows of ``input`` named by ``indices`` whose
    ``norm_type``-norm exceeds ``max_norm`` to norm ``max_norm`` (1e-7 slack, as PyTorch's);
    returns ``input``."""
    w = _t(input, "embedding_renorm_")
    idx = _t(indices, "embedding_renorm_", "indices")
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding_renorm_(): indices must be an integer tensor, got "
                        f"{idx.dtype}")
    if w.ndim != 2:
        raise RuntimeError(f"embedding_renorm_(): input must be 2-D, got shape "
                           f"{tuple(w.shape)}")
    xp = _xp(w)
    rows = xp.unique(idx.data.reshape(-1))
    sel = w.data[rows]
    norms = xp.sum(xp.abs(sel) ** norm_type, axis=1) ** (1.0 / norm_type)
    scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0).astype(w.dtype)
    w.data[rows] = sel * scale[:, None]
    bump_version(w._vc)
    return w


def hash_tensor(input, dim=None, *, keepdim=False, mode=0):
    """The xor of the elements' 64-bit patterns (floats as float64, integers as int64), over
    ``dim`` (all by default): a uint64 tensor, as PyTorch's ``mode=0``."""
    x = _t(input, "hash_tensor")
    if mode != 0:
        raise RuntimeError(f"hash_tensor(): only mode=0 (xor reduction) is supported, got "
                           f"{mode}")
    xp = _xp(x)
    a = x.data
    if a.dtype.kind == "c":
        raise RuntimeError(f"hash_tensor(): complex input ({a.dtype}) is not supported")
    bits = (a.astype(np.float64) if a.dtype.kind == "f" else
            a if a.dtype == np.uint64 else a.astype(np.int64)).view(np.uint64)
    if a.ndim == 0:  # dim 0 or -1 of a 0-d tensor: its one element, 0-d (keepdim too)
        for d in () if dim is None else (dim,) if isinstance(dim, int) else dim:
            _ta._dim(x, d, "hash_tensor")
        return _new_tensor(xp.array(bits, dtype=np.uint64), None, False)
    dims = tuple(builtins.range(a.ndim)) if dim is None else \
        tuple(_ta._dim(x, d, "hash_tensor") for d in ((dim,) if isinstance(dim, int) else dim))
    rest = tuple(d for d in builtins.range(a.ndim) if d not in dims)
    moved = xp.transpose(bits, rest + dims)
    flat = moved.reshape(tuple(a.shape[d] for d in rest) + (-1,))
    # xor-fold the last axis in halves (plain elementwise ops: the same on NumPy and CuPy)
    while flat.shape[-1] > 1:
        n = flat.shape[-1]
        half = n // 2
        folded = flat[..., :half] ^ flat[..., half:2 * half]
        flat = xp.concatenate([folded, flat[..., 2 * half:]], axis=-1) if n % 2 else folded
    out = flat[..., 0] if flat.shape[-1] else xp.zeros(flat.shape[:-1], dtype=np.uint64)
    if keepdim:
        out = out.reshape(tuple(1 if d in dims else a.shape[d] for d in builtins.range(a.ndim)))
    return _new_tensor(xp.array(out, dtype=np.uint64), None, False)


# ---- queries -------------------------------------------------------------------------------
def get_device(input):
    """The CUDA device index of ``input``, -1 on the CPU."""
    x = _t(input, "get_device")
    return -1 if x.device.type == "cpu" else int(x.device.index or 0)


def is_inference(input):
    """Whether ``input`` is an inference tensor. tensorgrad does not mark tensors made in
    ``inference_mode`` (it runs as ``no_grad``), so always False."""
    _t(input, "is_inference")
    return False


def is_distributed(input):
    """PyTorch's legacy query: False for every tensor."""
    _t(input, "is_distributed")
    return False


def resize_as_(input, the_template, *, memory_format=None):
    """``input.resize_as_(the_template)``."""
    return _t(input, "resize_as_").resize_as_(_t(the_template, "resize_as_", "the_template"))


# ---- Tensor methods ------------------------------------------------------------------------
def _new_empty_strided(self, size, stride, *, dtype=None, device=None, requires_grad=False,
                       layout=None, pin_memory=False):
    return _s3.empty_strided(size, stride, dtype=self.dtype if dtype is None else dtype,
                             device=self.device if device is None else device,
                             requires_grad=requires_grad)


def _conj_physical_(self):
    if self.dtype.kind != "c":
        return self
    return _ta._inplace_method("conj_physical_", conj_physical)(self)


def _as_subclass(self, cls):
    """A new ``cls`` object (a subclass of Tensor) viewing the same data with the same
    autograd history (gradients flow through it to ``self``)."""
    if not (isinstance(cls, type) and issubclass(cls, Tensor)):
        raise TypeError(f"as_subclass(): cls must be a subclass of Tensor, got {cls!r}")
    alias = self.view_as(self) if self.requires_grad else self.detach()
    if not self.requires_grad:
        alias._vc = self._vc
    new = cls.__new__(cls)
    for klass in type(alias).__mro__:
        for slot in getattr(klass, "__slots__", ()):
            if slot == "__weakref__" or slot == "__dict__":
                continue
            try:
                object.__setattr__(new, slot, object.__getattribute__(alias, slot))
            except AttributeError:
                pass
    return new


def _resize(self, *sizes):
    """PyTorch's deprecated out-of-place ``resize``: the same elements in a new shape."""
    warnings.warn("non-inplace resize is deprecated", UserWarning, stacklevel=2)
    sizes = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) \
        else tuple(sizes)
    n = int(np.prod(sizes))
    if n != self.numel():
        raise RuntimeError(f"resize(): requested resize to {'x'.join(map(str, sizes))} ({n} "
                           f"elements in total), but the given tensor has a size of "
                           f"{'x'.join(map(str, self.shape))} ({self.numel()} elements); "
                           "autograd's resize can only change the shape of a given tensor, "
                           "while preserving the number of elements")
    return self.reshape(sizes)


def _resize_as(self, tensor):
    """PyTorch's deprecated out-of-place ``resize_as``: ``resize(tensor.shape)``."""
    return _resize(self, tuple(tensor.shape))


def _set_(self, source=None):
    """Make this tensor use ``source``'s data (shared: writes to one show in the other), or
    become empty (no ``source``). A leaf that requires grad refuses, as PyTorch's. (Storages,
    offsets, sizes and strides: ``tensorgrad/storage.py``, which wraps this.)"""
    from .autograd.grad_mode import _state

    if _state.enabled and self._rg and self._node is None:
        raise RuntimeError("set_(): a leaf Variable that requires grad is being used in an "
                           "in-place operation")
    if source is None:
        self.data = _xp(self).zeros((0,), dtype=self.dtype)
    elif isinstance(source, Tensor):
        self.data = source.data
        self._vc = source._vc
    else:
        raise TypeError(f"set_(): source must be a Tensor or a storage, got "
                        f"{type(source).__name__}")
    self._node = None
    bump_version(self._vc)
    return self


def _record_stream(self, stream):
    """Mark ``self`` as used on ``stream`` (CuPy's memory pool and tensorgrad's streams
    synchronise on their own: nothing to do)."""
    return None


def _grad_dtype(self):
    return self.dtype


def _set_grad_dtype(self, dtype):
    if dtype is not None and np.dtype(dtype) == self.dtype:
        return
    raise RuntimeError(f"grad_dtype: tensorgrad accumulates .grad in the tensor's own dtype "
                       f"({self.dtype}); setting another ({dtype}) is not supported")


def _volatile(self):
    warnings.warn("volatile was removed (Variable.volatile is always False)", UserWarning,
                  stacklevel=2)
    return False


def _module_load(self, other, assign=False):
    """What ``Module.load_state_dict`` puts in place of ``self`` for ``other``: ``other``
    itself with ``assign``, else ``self`` with ``other``'s values copied in, detached."""
    if assign:
        return other.detach() if isinstance(other, Tensor) else other
    return self.detach().copy_(other).detach()


def _sparse_only(name, what="sparse coordinate tensor"):
    def method(self, *args, **kwargs):
        raise RuntimeError(f"{name} expected {what} layout but got Strided")

    method.__name__ = method.__qualname__ = name
    return method


def _removed(name, message):
    def method(self, *args, **kwargs):
        raise RuntimeError(f"This function was deprecated since version 1.9 and is now removed. "
                           f"{message}")

    method.__name__ = method.__qualname__ = name
    return method


_REMOVED = {
    "eig": "Use torch.linalg.eig (complex results) instead.",
    "symeig": "Use torch.linalg.eigh instead.",
    "lstsq": "Use torch.linalg.lstsq (arguments reversed) instead.",
    "solve": "Use torch.linalg.solve (arguments reversed) instead.",
}

_DEVICE_PREDICATES = ("is_xpu is_mps is_ipu is_mtia is_maia is_vulkan is_xla").split()


def _shift(name):
    """``bitwise_{name}_shift`` for integer tensors, refusing others by name and dtype."""
    fn = getattr(_s3, f"bitwise_{name}_shift")
    op = f"bitwise_{name}_shift"

    def method(self, other):
        x = _t(self, op)
        for what, v in (("input", x), ("other", other)):
            dt = v.dtype if isinstance(v, Tensor) else np.asarray(v).dtype
            if dt.kind not in "iub":
                raise RuntimeError(f"{op}(): {what} must be an integer tensor or number, got "
                                   f"{dt}")
        return fn(x, other)

    method.__name__ = method.__qualname__ = op
    return method


_LSHIFT, _RSHIFT = _shift("left"), _shift("right")


def _bit_op(fn, reflected=False):
    def op(self, other):
        if not isinstance(other, (Tensor, int, np.integer)):
            return NotImplemented
        return fn(other, self) if reflected else fn(self, other)

    return op


def _format(self, format_spec):
    """PyTorch's ``Tensor.__format__``: a 0-d plain Tensor formats as its Python number
    (``'{:+.2f}'.format(w[0])``); anything else as ``object`` does (a spec is a TypeError)."""
    if self.ndim == 0 and type(self) is Tensor:
        return self.detach().item().__format__(format_spec)
    return object.__format__(self, format_spec)


def _bit_shift_reflected(fn):
    def op(self, other):
        if not isinstance(other, (int, np.integer)):
            return NotImplemented
        xp = _xp(self)
        return fn(_new_tensor(xp.asarray(other, dtype=self.dtype), None, False), self)

    return op


def _attach(T):
    methods = {
        "bitwise_left_shift": _LSHIFT, "bitwise_right_shift": _RSHIFT,
        "hardshrink": lambda self, lambd=0.5: _F().hardshrink(self, lambd),
        "prelu": lambda self, weight: _F().prelu(self, weight),
        "lu": _s3.lu, "lu_solve": _s3.lu_solve, "triangular_solve": _s3.triangular_solve,
        "narrow_copy": lambda self, dim, start, length: self.narrow(dim, start, length).clone(),
        "new_empty_strided": _new_empty_strided,
        "is_inference": is_inference, "is_distributed": is_distributed,
        "unsafe_chunk": _ta.chunk, "unsafe_split": _ta.split,
        "unsafe_split_with_sizes": unsafe_split_with_sizes,
        "conj_physical": conj_physical, "conj_physical_": _conj_physical_,
        "as_subclass": _as_subclass, "resize": _resize, "resize_as": _resize_as,
        "set_": _set_, "record_stream": _record_stream, "hash_tensor": hash_tensor,
        "const_data_ptr": lambda self: self.data_ptr(), "module_load": _module_load,
        "dense_dim": lambda self: self.ndim, "sparse_dim": lambda self: 0,
        "indices": _sparse_only("indices"), "values": _sparse_only("values", "sparse tensor"),
        "coalesce": _sparse_only("coalesce"), "is_coalesced": _sparse_only("is_coalesced"),
        "get_device": get_device, "slice_inverse": slice_inverse,
    }
    for name, message in _REMOVED.items():
        methods[name] = _removed(name, message)
    for name, fn in methods.items():
        if not hasattr(T, name):
            setattr(T, name, fn)
    for name in ("bitwise_left_shift", "bitwise_right_shift"):
        if not hasattr(T, name + "_"):
            setattr(T, name + "_", _ta._inplace_method(name + "_", getattr(T, name)))
    ops = {"__lshift__": _bit_op(_LSHIFT), "__rshift__": _bit_op(_RSHIFT),
           "__rlshift__": _bit_shift_reflected(_LSHIFT),
           "__rrshift__": _bit_shift_reflected(_RSHIFT),
           "__ilshift__": lambda self, other: self.bitwise_left_shift_(other),
           "__irshift__": lambda self, other: self.bitwise_right_shift_(other),
           "__format__": _format}
    for name, fn in ops.items():
        if name not in T.__dict__:
            setattr(T, name, fn)
    if not hasattr(T, "grad_dtype"):
        T.grad_dtype = property(_grad_dtype, _set_grad_dtype)
    props = {"is_sparse_csr": lambda self: False,
             "name": lambda self: None, "volatile": _volatile}
    for name in _DEVICE_PREDICATES:
        props[name] = lambda self: False
    for name, fn in props.items():
        if not hasattr(T, name):
            setattr(T, name, property(fn))


_attach(Tensor)


def _removed_top(name, message):
    def fn(*args, **kwargs):
        raise RuntimeError(f"This function was deprecated since version 1.9 and is now removed. "
                           f"{message}")

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Removed from PyTorch (1.9); raises PyTorch's error. {message}"
    return fn


eig = _removed_top("eig", _REMOVED["eig"])
symeig = _removed_top("symeig", _REMOVED["symeig"])
lstsq = _removed_top("lstsq", _REMOVED["lstsq"])
solve = _removed_top("solve", _REMOVED["solve"])
matrix_rank = _removed_top("matrix_rank", "Use torch.linalg.matrix_rank instead.")


# ---- top-level functions for methods -------------------------------------------------------
def _top(name):
    def fn(input, *args, **kwargs):
        return getattr(_t(input, name), name)(*args, **kwargs)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"``input.{name}(...)``."
    return fn


i0_ = _top("i0_")
addmv_ = _top("addmv_")
detach_ = _top("detach_")
conj_physical_ = _top("conj_physical_")

_COPY_OF = {
    "split_with_sizes_copy": lambda x, sizes, dim=0: _s3.split_with_sizes(x, sizes, dim),
    "values_copy": lambda x: x.values(), "indices_copy": lambda x: x.indices(),
}
for _n, _f in _COPY_OF.items():
    globals()[_n] = _s3._copy_variant(_n, _f)
    globals()[_n].__module__ = __name__


_pkg = sys.modules[__package__]
__all__ = sorted(
    n for n, v in globals().items()
    if not n.startswith("_") and not hasattr(_pkg, n)
    and (getattr(v, "__module__", None) == __name__ or isinstance(v, np.dtype)))
