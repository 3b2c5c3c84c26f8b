"""``tg.masked.MaskedTensor``: PyTorch's prototype ``torch.masked.MaskedTensor`` (dense layout).

A MaskedTensor is a data tensor and a bool mask of its shape: ``True`` marks the elements that
are there, ``False`` the ones that are not (masked out: their data is left unspecified and no
result depends on it). ``masked_tensor(data, mask, requires_grad=False)`` copies both into a new
leaf; ``as_masked_tensor(data, mask)`` keeps ``data``'s history, so gradients flow back to it.

What it supports, as PyTorch's (the names of ``torch/masked/maskedtensor``):

- elementwise functions of one MaskedTensor (``exp log sin sqrt abs neg clamp pow`` ... as
  ``tg.<name>(mt)`` and ``mt.<name>()``): the mask stays;
- elementwise functions of two (``add mul div maximum atan2 logaddexp`` ..., comparisons and
  bitwise ones, and the operators ``+ - * / // % ** < == & | ^ ~``): both operands' masks must
  be equal (a ValueError otherwise, as PyTorch); a plain Tensor or a number as the other
  operand takes the MaskedTensor's mask;
- reductions ``sum mean amax amin argmax argmin prod all norm var std`` over ``dim`` (None:
  all) with ``keepdim`` and ``dtype``: an output element is masked out where its whole slice
  was; ``softmax log_softmax softmin`` along ``dim`` over the masked-in elements;
- ``tg.where(cond, a, b)`` (the masks are selected as the data is); views and indexing
  (``transpose t permute reshape view flatten unsqueeze squeeze expand split mt[...]``,
  ``tg.cat``/``tg.stack`` of MaskedTensors): applied to data and mask alike.

The reductions and normalizations are ``tg.masked``'s, which replace masked-out elements before
reading them. The elementwise functions compute the masked-out elements' data as PyTorch does
(``log`` of a masked-out -1 is nan there), but when the result is differentiated they take the
derivative through a copy whose masked-out elements are a harmless 0.5, so a masked-out 0
under ``log`` or ``sqrt`` gives no inf or nan gradient: ``mt.grad`` is a MaskedTensor of the
leaf's mask whose masked-out elements are 0.

>>> import tensorgrad as tg
>>> data = tg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
>>> mask = tg.tensor([[True, False, True], [False, False, False]])
>>> mt = tg.masked.masked_tensor(data, mask, requires_grad=True)
>>> mt.sum(1)
MaskedTensor(
  [  4.0000,       --]
)
>>> (mt * mt).sum().backward()
>>> mt.grad.to_tensor(0.0).tolist()
[[2.0, 0.0, 6.0], [0.0, 0.0, 0.0]]
"""

import functools

import numpy as np

from . import masked as _m
from . import torch_api as _ta
from .autograd.grad_mode import _state, no_grad
from .backend.device import to_host
from .tensor import Tensor

__all__ = ["MaskedTensor", "as_masked_tensor", "is_masked_tensor", "masked_tensor"]

# PyTorch's MaskedTensor takes these data dtypes (no unsigned but uint8's absence, no complex)
_DTYPES = frozenset(np.dtype(d) for d in (np.float16, np.float32, np.float64, np.bool_,
                                          np.int8, np.int16, np.int32, np.int64))

# the names torch/masked/maskedtensor/unary.py and binary.py support
UNARY_NAMES = (
    "abs", "absolute", "acos", "arccos", "acosh", "arccosh", "angle", "asin", "arcsin",
    "asinh", "arcsinh", "atan", "arctan", "atanh", "arctanh", "bitwise_not", "ceil", "clamp",
    "clip", "conj_physical", "cos", "cosh", "deg2rad", "digamma", "erf", "erfc", "erfinv",
    "exp", "exp2", "expm1", "fix", "floor", "frac", "lgamma", "log", "log10", "log1p", "log2",
    "logit", "i0", "isnan", "nan_to_num", "neg", "negative", "positive", "pow", "rad2deg",
    "reciprocal", "round", "rsqrt", "sigmoid", "sign", "sgn", "signbit", "sin", "sinc", "sinh",
    "sqrt", "square", "tan", "tanh", "trunc")
BINARY_NAMES = (
    "add", "atan2", "arctan2", "bitwise_and", "bitwise_or", "bitwise_xor",
    "bitwise_left_shift", "bitwise_right_shift", "div", "divide", "floor_divide", "fmod",
    "logaddexp", "logaddexp2", "mul", "multiply", "nextafter", "remainder", "sub", "subtract",
    "true_divide", "eq", "ne", "le", "ge", "greater", "greater_equal", "gt", "less_equal", "lt",
    "less", "maximum", "minimum", "fmax", "fmin", "not_equal")
REDUCE_NAMES = ("sum", "mean", "amin", "amax", "argmin", "argmax", "prod", "all", "norm", "var",
                "std")
# results without a derivative: computed once, with no masked-out copy
_NONDIFF = frozenset((
    "bitwise_not", "ceil", "fix", "floor", "isnan", "round", "sign", "sgn", "signbit", "trunc",
    "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_left_shift", "bitwise_right_shift",
    "floor_divide", "nextafter", "eq", "ne", "le", "ge", "greater", "greater_equal", "gt",
    "less_equal", "lt", "less", "not_equal"))
# what masked-out elements become in the differentiated copy: inside every function's domain,
# away from its kinks and poles (acosh needs more than 1)
_SAFE = {"acosh": 2.0, "arccosh": 2.0}

# the tensorgrad functions the operations call, as they were before install() made them
# dispatch on MaskedTensor (filled there; looked up on the package until then)
_TORCH_FN = {}


def _fn(name):
    fn = _TORCH_FN.get(name)
    if fn is None:
        import tensorgrad

        fn = getattr(tensorgrad, name)
    return fn


# ---- construction -----------------------------------------------------------------------------
def is_masked_tensor(obj, /):
    """Whether ``obj`` is a MaskedTensor.

    >>> import tensorgrad as tg
    >>> tg.masked.is_masked_tensor(tg.tensor([1.0]))
    False
    """
    return isinstance(obj, MaskedTensor)


def _checked(op, data, mask):
    """``data`` and ``mask`` as Tensors after PyTorch's checks, in its order (types, then the
    mask's dtype, the data's dtype, the number of dimensions and the shape), and tensorgrad's
    own: one device."""
    for name, v in (("data", data), ("mask", mask)):
        if isinstance(v, MaskedTensor):
            raise TypeError(f"{op}(): {name} must be a Tensor, got a MaskedTensor")
    # NumPy/CuPy arrays become Tensors without history, as in tg.masked's functions (so that
    # check_grads and the function API can evaluate on arrays); lists and numbers raise
    data, mask = _ta._t(data, op, "data"), _ta._t(mask, op, "mask")
    if mask.dtype != np.bool_:
        raise TypeError(f"{op}(): mask must have dtype bool, got {mask.dtype}")
    if data.dtype not in _DTYPES:
        raise TypeError(f"{op}(): data of dtype {data.dtype} is not supported in MaskedTensor "
                        "(float16/32/64, bool and int8/16/32/64 are)")
    if data.ndim != mask.ndim:
        raise ValueError(f"{op}(): data.dim() must equal mask.dim(): data of shape "
                         f"{tuple(data.shape)}, mask of shape {tuple(mask.shape)}")
    if tuple(data.shape) != tuple(mask.shape):
        raise ValueError(f"{op}(): data.size() must equal mask.size(): data of shape "
                         f"{tuple(data.shape)}, mask of shape {tuple(mask.shape)}")
    if data.device != mask.device:
        raise RuntimeError(f"{op}(): data is on {data.device} but mask on {mask.device}; move "
                           "both to one device first")
    return data, mask


def _make(data, mask):
    """A MaskedTensor of these Tensors as they are (no copy, no check)."""
    mt = object.__new__(MaskedTensor)
    mt._data = data
    mt._mask = mask
    return mt


def masked_tensor(data, mask, requires_grad=False):
    """A MaskedTensor of copies of ``data`` and ``mask``: a new leaf, with no history of
    ``data``'s (``torch.tensor``'s rule); ``requires_grad`` makes it a leaf for gradients.

    >>> import tensorgrad as tg
    >>> tg.masked.masked_tensor(tg.tensor([1, 2, 3]), tg.tensor([True, False, True]))
    MaskedTensor(
      [1,       --, 3]
    )
    """
    return MaskedTensor(data, mask, requires_grad)


def as_masked_tensor(data, mask):
    """A MaskedTensor of ``data`` (copied, history kept: gradients flow back to ``data``, 0 at
    the masked-out elements) and a copy of ``mask``.

    >>> import tensorgrad as tg
    >>> x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> tg.masked.as_masked_tensor(x, tg.tensor([True, False, True])).sum().backward()
    >>> x.grad
    tensor([1., 0., 1.])
    """
    data, mask = _checked("as_masked_tensor", data, mask)
    return _make(data.clone(), mask.clone())


# ---- the computation of elementwise results ---------------------------------------------------
def _differentiable(operands):
    for o in operands:
        if isinstance(o, Tensor) and (o._level or (o._rg and _state.enabled)):
            return True
    return False


def _elementwise(fn, operands, mask, safe, diff=True):
    """(``fn(*operands)``, the mask broadcast to its shape). When it is differentiated, the
    derivative is taken through ``fn`` of copies whose masked-out elements are ``safe``: the
    masked-out elements of the answer (PyTorch's values, computed without history) then pass
    no inf or nan into gradients. NumPy's floating-point warnings are PyTorch's silence."""
    with _quiet():
        if not diff or not _differentiable(operands):
            out = fn(*operands)
            return out, _broadcast(mask, out.shape)
        with no_grad():
            raw = fn(*[o.detach() if isinstance(o, Tensor) else o for o in operands])
        m = _broadcast(mask, raw.shape)
        clean = [_ta.where(m, _broadcast(o, raw.shape), safe)
                 if isinstance(o, Tensor) and o.dtype.kind == "f" else o for o in operands]
        return _ta.where(m, fn(*clean), raw), m


def _quiet():
    """NumPy's floating-point warnings off: PyTorch gives none (a fully masked-out softmax row
    is nan, a masked-out log(-1) too)."""
    return np.errstate(all="ignore")


def _broadcast(x, shape):
    return x if tuple(x.shape) == tuple(shape) else _ta.broadcast_to(x, tuple(shape))


def _no_tensor_arguments(op, args, kwargs):
    for a in tuple(args) + tuple(kwargs.values()):
        if isinstance(a, (Tensor, MaskedTensor)):
            raise TypeError(f"{op}(): MaskedTensor unary ops take no Tensor arguments besides "
                            f"the input, got a {type(a).__name__}")


def _unary(name, input, *args, **kwargs):
    _no_tensor_arguments(name, args, kwargs)
    fn = _fn(name)
    out, mask = _elementwise(lambda d: fn(d, *args, **kwargs), (input._data,), input._mask,
                             _SAFE.get(name, 0.5), name not in _NONDIFF)
    return _make(out, mask)


def _same_masks(op, a, b):
    """Raise unless the MaskedTensors ``a`` and ``b`` have equal masks (one host sync, skipped
    when they share one: results of one MaskedTensor do)."""
    ma, mb = a._mask, b._mask
    if ma is mb or ma.data is mb.data:
        return
    if tuple(ma.shape) != tuple(mb.shape) or bool((ma != mb).any().item()):
        raise ValueError(f"{op}(): the masks of the two MaskedTensors must match (masks of "
                         f"shapes {tuple(ma.shape)} and {tuple(mb.shape)}); MaskedTensor binary "
                         "ops need equal masks: combine different ones with tg.where, or "
                         "compare plain tensors from to_tensor()")


def _binary(name, input, other, **kwargs):
    if kwargs:
        raise ValueError(f"{name}(): MaskedTensor binary ops take no keyword arguments, got "
                         f"{sorted(kwargs)}")
    a_mt, b_mt = isinstance(input, MaskedTensor), isinstance(other, MaskedTensor)
    if a_mt and b_mt:
        _same_masks(name, input, other)
    mask = input._mask if a_mt else other._mask
    a = input._data if a_mt else input
    b = other._data if b_mt else other
    fn = _fn(name)
    if not isinstance(a, Tensor) and name in _REFLECTED:  # number <op> MaskedTensor
        reflected = getattr(Tensor, _REFLECTED[name])

        def fn(x, y):
            return reflected(y, x)
    out, mask = _elementwise(fn, (a, b), mask, 0.5, name not in _NONDIFF)
    return _make(out, mask)


# the operators of a number on the left (tensorgrad's functions, as PyTorch's, take a Tensor
# first); others of a number and a MaskedTensor raise the function's own TypeError
_REFLECTED = {"add": "__radd__", "sub": "__rsub__", "mul": "__rmul__", "div": "__rtruediv__",
              "floor_divide": "__rfloordiv__", "remainder": "__rmod__", "bitwise_and": "__rand__",
              "bitwise_or": "__ror__", "bitwise_xor": "__rxor__", "pow": "__rpow__"}


# ---- reductions -------------------------------------------------------------------------------
def _reduced_mask(mask, dim, keepdim, op):
    """Where a reduction over ``dim`` keeps an element: some element of its slice is in."""
    return _m._reduce(_ta.any, mask, _m._dims(dim, mask.ndim, op), keepdim)


def _reduction(name):
    masked_fn = getattr(_m, name)

    def method(self, dim=None, keepdim=False, dtype=None, **kwargs):
        with _quiet():
            out = masked_fn(self._data, dim, keepdim=keepdim, dtype=dtype, mask=self._mask,
                            **kwargs)
        return _make(out, _reduced_mask(self._mask, dim, keepdim, name))

    method.__name__ = method.__qualname__ = name
    method.__doc__ = (f"``tg.masked.{name}`` of the masked-in elements over ``dim`` (None: all); "
                      "an output element is masked out where its whole slice is.")
    return method


def _softmax_like(name):
    masked_fn = getattr(_m, name)

    def method(self, dim, dtype=None):
        with _quiet():
            out = masked_fn(self._data, dim, dtype=dtype, mask=self._mask)
        return _make(out, self._mask)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = (f"``tg.masked.{name}`` along ``dim`` over the masked-in elements; the "
                      "mask stays.")
    return method


# ---- printing ---------------------------------------------------------------------------------
def _format_rows(values, mask):
    """PyTorch's layout: a 1-d row of ``{:8.4f}`` floats (``str`` of other values) with ``--``
    right-aligned to the widest element for masked-out ones; higher dimensions nest rows in
    brackets, two spaces deeper each."""
    if values.ndim == 1:
        items = [format(v, "8.4f") if isinstance(v, float) else str(v) for v in values.tolist()]
        keep = mask.tolist()
        width = max([len(s) if k else 8 for s, k in zip(items, keep)], default=0)
        return "[" + ", ".join(s if k else "--".rjust(width) for s, k in zip(items, keep)) + "]"
    rows = [_format_rows(v, m) for v, m in zip(values, mask)]
    return "[\n" + ",\n".join(_indent(r) for r in rows) + "\n]"


def _indent(text):
    return "\n".join("  " + line for line in text.split("\n"))


# ---- the class --------------------------------------------------------------------------------
class MaskedTensor:
    """A data Tensor and a bool mask of its shape (see the module's docstring); built by
    :func:`masked_tensor` (``MaskedTensor(data, mask, requires_grad)`` is the same) or
    :func:`as_masked_tensor`.

    >>> import tensorgrad as tg
    >>> mt = tg.masked.masked_tensor(tg.tensor([1.0, -1.0]), tg.tensor([True, False]))
    >>> tg.sqrt(mt)
    MaskedTensor(
      [  1.0000,       --]
    )
    """

    __slots__ = ("_data", "_mask", "__weakref__")
    __array_ufunc__ = None  # ndarray <op> MaskedTensor falls back to the reflected operator
    __array_priority__ = 1001
    __hash__ = object.__hash__  # __eq__ is elementwise, as a Tensor's

    def __init__(self, data, mask, requires_grad=False):
        data, mask = _checked("masked_tensor", data, mask)
        self._data = data.detach().clone()
        self._mask = mask.detach().clone()
        if requires_grad:
            self._data.requires_grad_(True)

    # ---- contents -----------------------------------------------------------------------
    def get_data(self):
        """The data Tensor itself (masked-out elements hold whatever was computed there)."""
        return self._data

    def get_mask(self):
        """The bool mask Tensor: True where an element is there."""
        return self._mask

    def to_tensor(self, value):
        """A plain Tensor: the data, with ``value`` at the masked-out elements (differentiable
        in the data, whose masked-out elements get gradient 0).

        >>> import tensorgrad as tg
        >>> mt = tg.masked.masked_tensor(tg.tensor([1.0, 2.0]), tg.tensor([True, False]))
        >>> mt.to_tensor(0.0)
        tensor([1., 0.])
        """
        return _ta.where(self._mask, self._data, value)

    def item(self):
        if not bool(self._mask.item()):
            raise ValueError("item(): the element of this MaskedTensor is masked out; use "
                             "to_tensor(value).item()")
        return self._data.item()

    def __bool__(self):
        return bool(self.item())

    def __len__(self):
        if not self._data.ndim:
            raise TypeError("len() of a 0-d MaskedTensor")
        return self._data.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    # ---- attributes -----------------------------------------------------------------------
    shape = property(lambda self: self._data.shape)
    dtype = property(lambda self: self._data.dtype)
    device = property(lambda self: self._data.device)
    ndim = property(lambda self: self._data.ndim)
    is_sparse = property(lambda self: False)

    def size(self, dim=None):
        return self._data.size() if dim is None else self._data.size(dim)

    def dim(self):
        return self._data.ndim

    def numel(self):
        return self._data.numel()

    def __repr__(self):
        values, mask = to_host(self._data.data), to_host(self._mask.data)
        if values.ndim == 0:
            v = values.item()
            text = format(v, "8.4f") if isinstance(v, float) else str(v)
            return f"MaskedTensor({text if mask.item() else '--'}, {bool(mask.item())})"
        return "MaskedTensor(\n" + _indent(_format_rows(values, mask)) + "\n)"

    __str__ = __repr__

    # ---- autograd -------------------------------------------------------------------------
    @property
    def requires_grad(self):
        return self._data.requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        self._data.requires_grad = flag

    def requires_grad_(self, requires_grad=True):
        self._data.requires_grad_(requires_grad)
        return self

    @property
    def grad(self):
        """The gradient of a leaf as a MaskedTensor of its mask (0 at masked-out elements), or
        None."""
        g = self._data.grad
        return None if g is None else _make(g, self._mask)

    @grad.setter
    def grad(self, value):
        self._data.grad = value._data if isinstance(value, MaskedTensor) else value

    grad_fn = property(lambda self: self._data.grad_fn)
    is_leaf = property(lambda self: self._data.is_leaf)

    def retain_grad(self):
        self._data.retain_grad()

    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        """Backpropagate from this MaskedTensor's data; ``gradient`` (a MaskedTensor: its
        masked-out elements count as 0, or a Tensor) is needed unless it is one element."""
        if isinstance(gradient, MaskedTensor):
            gradient = gradient.to_tensor(0)
        self._data.backward(gradient, retain_graph=retain_graph, create_graph=create_graph)

    def detach(self):
        return _make(self._data.detach(), self._mask)

    def clone(self):
        return _make(self._data.clone(), self._mask.clone())

    def to(self, *args, **kwargs):
        """``Tensor.to`` of the data (a dtype, a device); the mask moves with it."""
        data = self._data.to(*args, **kwargs)
        _checked("to", data, self._mask.to(data.device))
        return _make(data, self._mask.to(data.device))

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else device)

    def contiguous(self):
        return self

    # ---- views and indexing: the same on data and mask ---------------------------------------
    def _both(self, fn):
        return _make(fn(self._data), fn(self._mask))

    def __getitem__(self, key):
        if isinstance(key, MaskedTensor) or (
                isinstance(key, tuple) and any(isinstance(k, MaskedTensor) for k in key)):
            raise TypeError("MaskedTensor[...]: an index cannot be a MaskedTensor; index with "
                            "a plain Tensor (to_tensor())")
        return self._both(lambda t: t[key])

    def transpose(self, dim0, dim1):
        return self._both(lambda t: t.transpose(dim0, dim1))

    def t(self):
        return self._both(lambda t: t.t())

    def permute(self, *dims):
        return self._both(lambda t: t.permute(*dims))

    def reshape(self, *shape):
        return self._both(lambda t: t.reshape(*shape))

    def view(self, *shape):
        return self._both(lambda t: t.view(*shape))

    def flatten(self, start_dim=0, end_dim=-1):
        return self._both(lambda t: t.flatten(start_dim, end_dim))

    def unsqueeze(self, dim):
        return self._both(lambda t: t.unsqueeze(dim))

    def squeeze(self, dim=None):
        return self._both(lambda t: t.squeeze() if dim is None else t.squeeze(dim))

    def expand(self, *sizes):
        return self._both(lambda t: t.expand(*sizes))

    def split(self, split_size_or_sections, dim=0):
        parts = zip(_ta.split(self._data, split_size_or_sections, dim),
                    _ta.split(self._mask, split_size_or_sections, dim))
        return tuple(_make(d, m) for d, m in parts)

    # ---- operators ----------------------------------------------------------------------------
    def __add__(self, other):
        return _binary("add", self, other)

    def __radd__(self, other):
        return _binary("add", other, self)

    def __sub__(self, other):
        return _binary("sub", self, other)

    def __rsub__(self, other):
        return _binary("sub", other, self)

    def __mul__(self, other):
        return _binary("mul", self, other)

    def __rmul__(self, other):
        return _binary("mul", other, self)

    def __truediv__(self, other):
        return _binary("div", self, other)

    def __rtruediv__(self, other):
        return _binary("div", other, self)

    def __floordiv__(self, other):
        return _binary("floor_divide", self, other)

    def __rfloordiv__(self, other):
        return _binary("floor_divide", other, self)

    def __mod__(self, other):
        return _binary("remainder", self, other)

    def __rmod__(self, other):
        return _binary("remainder", other, self)

    def __pow__(self, exponent):
        return _unary("pow", self, exponent)

    def __rpow__(self, base):
        return _binary("pow", base, self)

    def __and__(self, other):
        return _binary("bitwise_and", self, other)

    def __rand__(self, other):
        return _binary("bitwise_and", other, self)

    def __or__(self, other):
        return _binary("bitwise_or", self, other)

    def __ror__(self, other):
        return _binary("bitwise_or", other, self)

    def __xor__(self, other):
        return _binary("bitwise_xor", self, other)

    def __rxor__(self, other):
        return _binary("bitwise_xor", other, self)

    def __lshift__(self, other):
        return _binary("bitwise_left_shift", self, other)

    def __rshift__(self, other):
        return _binary("bitwise_right_shift", self, other)

    def __lt__(self, other):
        return _binary("lt", self, other)

    def __le__(self, other):
        return _binary("le", self, other)

    def __gt__(self, other):
        return _binary("gt", self, other)

    def __ge__(self, other):
        return _binary("ge", self, other)

    def __eq__(self, other):
        return _binary("eq", self, other)

    def __ne__(self, other):
        return _binary("ne", self, other)

    def __neg__(self):
        return _unary("neg", self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _unary("abs", self)

    def __invert__(self):
        return _unary("bitwise_not", self)

    def where(self, condition, other):
        return _where(condition, self, other)

    softmax = _softmax_like("softmax")
    softmin = _softmax_like("softmin")
    log_softmax = _softmax_like("log_softmax")

    def norm(self, p="fro", dim=None, keepdim=False, dtype=None):
        """The masked ``p``-norm (a vector norm; ``"fro"`` is 2) over ``dim`` (None: all)."""
        if p == "fro":
            p = 2.0
        if isinstance(p, str):
            raise ValueError(f"norm(): MaskedTensor takes vector norms only, got p={p!r}")
        with _quiet():
            out = _m.norm(self._data, p, dim, keepdim=keepdim, dtype=dtype, mask=self._mask)
        return _make(out, _reduced_mask(self._mask, dim, keepdim, "norm"))

    def all(self, dim=None, keepdim=False):
        """Whether every masked-in element is nonzero, over ``dim`` (None: all)."""
        x = self._data if self._data.dtype == np.bool_ else self._data != 0
        out = _m._reduce(_ta.all, _ta.where(self._mask, x, True),
                         _m._dims(dim, x.ndim, "all"), keepdim)
        return _make(out, _reduced_mask(self._mask, dim, keepdim, "all"))


def _unary_method(name):
    def method(self, *args, **kwargs):
        return _unary(name, self, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``tg.{name}`` of the data; the mask stays."
    return method


def _binary_method(name):
    def method(self, other, **kwargs):
        return _binary(name, self, other, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``tg.{name}`` of the data of two MaskedTensors of one mask (or one and a " \
                     "Tensor or a number)."
    return method


for _name in UNARY_NAMES:
    setattr(MaskedTensor, _name, _unary_method(_name))
for _name in BINARY_NAMES:
    setattr(MaskedTensor, _name, _binary_method(_name))
for _name in ("sum", "mean", "amin", "amax", "argmin", "argmax", "prod", "var", "std"):
    setattr(MaskedTensor, _name, _reduction(_name))


def _where(condition, input, other):
    """``tg.where`` with MaskedTensor operands: the data and the masks are selected alike (a
    Tensor or a number operand counts as all masked in)."""
    if isinstance(condition, MaskedTensor):
        raise TypeError("where(): the condition must be a bool Tensor, not a MaskedTensor; use "
                        "condition.to_tensor(False)")

    def parts(v):
        if isinstance(v, MaskedTensor):
            return v._data, v._mask
        return v, True

    (a, ma), (b, mb) = parts(input), parts(other)
    data = _fn("where")(condition, a, b)
    mask = _fn("where")(condition, ma, mb)  # one operand is a MaskedTensor: a bool Tensor
    return _make(data, _broadcast(mask, data.shape))


def _sequence(op, tensors):
    if not all(isinstance(t, MaskedTensor) for t in tensors):
        raise TypeError(f"{op}(): give only MaskedTensors (or only Tensors), got "
                        f"{[type(t).__name__ for t in tensors]}")
    return [t._data for t in tensors], [t._mask for t in tensors]


def _cat(tensors, axis=0, *, dim=None):
    data, masks = _sequence("cat", tensors)
    return _make(_fn("cat")(data, axis, dim=dim), _fn("cat")(masks, axis, dim=dim))


def _stack(tensors, axis=0, *, dim=None):
    data, masks = _sequence("stack", tensors)
    return _make(_fn("stack")(data, axis, dim=dim), _fn("stack")(masks, axis, dim=dim))


# ---- tg.<name>(masked_tensor) -----------------------------------------------------------------
def _dispatch_on(orig, impl, positions, names):
    """``orig``, unless an argument at one of ``positions`` (or keyword ``names``) is a
    MaskedTensor: then ``impl``. The plain path pays one Python frame and an isinstance per
    argument checked (about 0.2 us a call)."""
    if positions == (0,):
        name = names[0]

        def f(*args, **kwargs):
            x = args[0] if args else kwargs.get(name)
            if isinstance(x, MaskedTensor):
                return impl(*args, **kwargs)
            return orig(*args, **kwargs)
    elif positions == (0, 1):  # the binary functions: no loop
        first, second = names

        def f(*args, **kwargs):
            n = len(args)
            if isinstance(args[0] if n else kwargs.get(first), MaskedTensor) or isinstance(
                    args[1] if n > 1 else kwargs.get(second), MaskedTensor):
                return impl(*args, **kwargs)
            return orig(*args, **kwargs)
    else:
        def f(*args, **kwargs):
            for i, n in zip(positions, names):
                x = args[i] if i < len(args) else kwargs.get(n)
                if isinstance(x, MaskedTensor):
                    return impl(*args, **kwargs)
            return orig(*args, **kwargs)

    functools.update_wrapper(f, orig)
    f._masked_tensor_impl = impl
    return f


def _sequence_dispatch(orig, impl):
    def f(tensors, *args, **kwargs):
        if isinstance(tensors, (list, tuple)) and tensors and \
                isinstance(tensors[0], MaskedTensor):
            return impl(tensors, *args, **kwargs)
        return orig(tensors, *args, **kwargs)

    functools.update_wrapper(f, orig)
    f._masked_tensor_impl = impl
    return f


def _functions():
    """{tensorgrad function name: (MaskedTensor implementation, argument positions, keyword
    names)} of what ``tg.<name>`` does with a MaskedTensor."""
    table = {}
    for name in UNARY_NAMES:
        table[name] = (functools.partial(_unary, name), (0,), ("input",))
    for name in BINARY_NAMES:
        table[name] = (functools.partial(_binary, name), (0, 1), ("input", "other"))
    for name in REDUCE_NAMES + ("softmax", "log_softmax", "transpose", "t", "permute", "reshape",
                                "flatten", "unsqueeze", "squeeze", "split"):
        table[name] = (getattr(MaskedTensor, name), (0,), ("input",))
    table["split"] = (MaskedTensor.split, (0,), ("tensor",))
    table["where"] = (_where, (1, 2), ("input", "other"))
    return table


def _softmax_function(name):
    """``nn.functional.<name>(input, dim, _stacklevel, dtype)`` of a MaskedTensor; ``dim=None``
    is PyTorch's implicit choice (0 for 0-, 1- and 3-d input, else 1)."""
    def impl(input, dim=None, _stacklevel=3, dtype=None):
        if dim is None:
            dim = 0 if input.ndim in (0, 1, 3) else 1
        return getattr(input, name)(dim, dtype)

    return impl


_INSTALLED = []  # made non-empty by install()


_TABLE = {}


def call(name, *args, **kwargs):
    """``tg.<name>(*args, **kwargs)`` with a MaskedTensor among the arguments: what the
    elementwise functions of ``torch_api`` run when their own argument check refused one (in
    the error path, so that their plain calls cost nothing more)."""
    if not _TABLE:
        _TABLE.update(_functions())
    return _TABLE[name][0](*args, **kwargs)


def install():
    """Make ``tg.<name>`` (and ``tg.nn.functional``'s softmax family) accept MaskedTensors:
    each function PyTorch's MaskedTensor supports is wrapped once, the plain path unchanged
    (about 0.15 us more a call). The elementwise functions made by ``torch_api._unary`` and
    ``_binary`` dispatch by themselves, after their argument check fails, and are not
    wrapped."""
    import tensorgrad

    if _INSTALLED:
        return
    _INSTALLED.append(True)

    from .nn import functional as F

    wrapped = {}

    def wrap(module, name, impl, positions, names, sequence=False):
        orig = getattr(module, name)
        if getattr(orig, "_masked_tensor_impl", None) is not None:
            return  # installed already
        if module is tensorgrad:
            _TORCH_FN[name] = orig
        if getattr(orig, "_masked_tensor_builtin", False):
            return  # dispatches in its error path (torch_api._unary, _binary)
        key = (id(orig), id(module))
        if key not in wrapped:  # aliases (abs, absolute) stay one function
            wrapped[key] = _sequence_dispatch(orig, impl) if sequence else \
                _dispatch_on(orig, impl, positions, names)
        setattr(module, name, wrapped[key])

    for name, (impl, positions, names) in _functions().items():
        wrap(tensorgrad, name, impl, positions, names)
    wrap(tensorgrad, "cat", _cat, None, None, sequence=True)
    wrap(tensorgrad, "stack", _stack, None, None, sequence=True)
    for name in ("softmax", "log_softmax", "softmin"):
        wrap(F, name, _softmax_function(name), (0,), ("input",))
