"""``tg.masked``: PyTorch's ``torch.masked`` reductions and normalizations on dense tensors.

Each function takes ``mask=`` (a bool tensor broadcastable to the input, of no more dimensions;
``None`` keeps every element) and computes as if the masked-out elements were absent:

- reductions (``sum prod amax amin argmax argmin mean median norm var std logsumexp``) reduce
  over ``dim`` (an int, a tuple, or ``None``/``()`` for all) with ``keepdim``; a slice whose
  elements are all masked out gives the identity of the reduction (0 for ``sum`` and ``norm``,
  1 for ``prod``, -inf for ``amax`` and ``logsumexp``, +inf for ``amin``, the integer limits for
  integer inputs) or nan where none exists (``mean``, ``median``, ``var``, ``std``);
- normalizations (``softmax log_softmax softmin normalize cumsum cumprod``) keep the shape;
  masked-out elements take no part (``softmax`` gives them 0, a fully masked-out row is nan);
- ``logaddexp(input, other, input_mask=, other_mask=)`` masks each operand to -inf.

``dtype=`` is PyTorch's per function: ``sum``/``prod`` give int64 for smaller integer inputs,
``mean`` refuses integer inputs without it, ``var``/``std`` compute integer inputs in float32,
most others cast their result to it (``argmax`` too, as PyTorch does).

The masked-out elements are replaced by the identity BEFORE the reduction (``tg.where``), so
they receive a zero gradient (``where``'s rule selects, it never multiplies) and a masked nan
or inf never reaches a rule: no nan gradient leaks through the mask. ``var``/``std`` centre the
masked input too (PyTorch centres the raw input, so a masked inf gives it nan gradients; the
values agree). Everything is a composition of differentiable tensorgrad functions, so reverse,
forward and higher-order derivatives come from their rules.

``MaskedTensor`` (``masked_tensor``, ``as_masked_tensor``, ``is_masked_tensor``), PyTorch's
prototype tensor of data and mask, lives in ``tensorgrad/_masked_tensor.py`` and computes its
reductions and normalizations with these functions.

>>> import tensorgrad as tg
>>> x = tg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
>>> m = tg.tensor([[True, False, True], [False, False, False]])
>>> tg.masked.sum(x, 1, mask=m)
tensor([4., 0.])
>>> tg.masked.mean(x, 1, mask=m)
tensor([ 2., nan])
"""

import builtins
import math

import numpy as np

from . import creation as _creation
from . import linalg as _linalg
from . import torch_api as _ta
from . import torch_surface2 as _ts2
from .nn import functional as _F
from .tensor import Tensor

__all__ = ["amax", "amin", "argmax", "argmin", "cumprod", "cumsum", "log_softmax", "logaddexp",
           "logsumexp", "mean", "median", "norm", "normalize", "prod", "softmax", "softmin",
           "std", "sum", "var",
           "MaskedTensor", "as_masked_tensor", "is_masked_tensor", "masked_tensor"]

_SMALL_INTS = frozenset(np.dtype(d) for d in (np.bool_, np.uint8, np.int8, np.int16, np.int32))


# ---- helpers ----------------------------------------------------------------------------------
def _input(x, op, name="input"):
    """A Tensor (NumPy/CuPy arrays become Tensors without history, for the function API)."""
    return _ta._t(x, "masked." + op, name)


def _kind(dtype):
    return np.dtype(dtype).kind


def _dims(dim, ndim, op):
    """``dim`` as a sorted tuple of non-negative dims (``None`` and ``()``: all of them); a 0-d
    tensor accepts 0 and -1, as PyTorch."""
    if dim is None or dim == ():
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    n = builtins.max(ndim, 1)
    out = []
    for d in dims:
        d = int(d)
        if not -n <= d < n:
            raise IndexError(f"masked.{op}(): dim {d} out of range for a {ndim}-d input "
                             f"(expected in [{-n}, {n - 1}])")
        if d % n in out:
            raise RuntimeError(f"masked.{op}(): dim={d} appears multiple times in dim={dim}")
        out.append(d % n)
    return tuple(sorted(out))


def _mask(input, mask, op, name="mask"):
    """The canonical mask: a bool Tensor of the input's shape on its device, or None."""
    if mask is None:
        return None
    if not isinstance(mask, Tensor):
        mask = _creation.tensor(mask, device=input.device)
    if mask.ndim > input.ndim:
        raise IndexError(f"masked.{op}(): {name} of shape {tuple(mask.shape)} has more "
                         f"dimensions than the input of shape {tuple(input.shape)}")
    if mask.dtype != np.bool_:
        mask = mask != 0
    if tuple(mask.shape) != tuple(input.shape):
        try:
            np.broadcast_shapes(tuple(mask.shape), tuple(input.shape))
        except ValueError:
            raise RuntimeError(f"masked.{op}(): {name} of shape {tuple(mask.shape)} does not "
                               f"broadcast to the input of shape {tuple(input.shape)}") from None
        mask = _ta.broadcast_to(mask, tuple(input.shape))
    return mask


_REDUCTIONS = frozenset(("sum", "prod", "amax", "amin", "argmax", "argmin", "mean", "median",
                         "norm", "var", "std", "logsumexp"))
_NORMALIZATIONS = frozenset(("softmax", "log_softmax", "softmin", "normalize", "cumsum",
                             "cumprod"))


def _input_mask(input, *args, mask=None, **kwargs):
    """torch.masked's canonical input mask (``mask`` broadcast to the input, as bool); its
    OpInfo gradcheck wrappers call it by this name."""
    if mask is None:
        raise ValueError("_input_mask requires explicit mask")
    return _mask(input, mask, "_input_mask")


def _output_mask(op, input, *args, **kwargs):
    """torch.masked's mask of the result of the masked operation ``op`` on these arguments:
    where any element of a reduced slice is masked in (reductions), the input mask
    (normalizations)."""
    name = getattr(op, "__name__", None)
    if name in _NORMALIZATIONS:
        return _input_mask(input, *args, **kwargs)
    if name not in _REDUCTIONS:
        raise ValueError(f"_output_mask expected a masked operation, got {op!r}")
    if name == "norm" and args:
        args = args[1:]  # the ord argument
    dim = args[0] if args else kwargs.get("dim")
    inmask = _input_mask(input, *args, **kwargs)
    dims = _dims(dim, input.ndim, name)
    return _reduce(_ta.any, inmask, dims, kwargs.get("keepdim", False))


def _identity(kind, dtype, op):
    """The value masked-out elements take in a max-like (``kind`` "max") or min-like
    reduction: -inf/+inf, the limits of an integer dtype."""
    dt = np.dtype(dtype)
    if dt.kind in "fc":
        return -math.inf if kind == "max" else math.inf
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return int(info.min if kind == "max" else info.max)
    raise TypeError(f"masked.{op}(): the identity of {op} is undefined for {dt} input")


def _fill(input, mask, value):
    """``input`` with its masked-out elements replaced by ``value`` (before any op reads them,
    so their gradient is exactly zero)."""
    return input if mask is None else _ta.where(mask, input, value)


def _reduce(fn, x, dims, keepdim, **kw):
    """``fn(x, dims, keepdim)``; a 0-d ``x`` is its own reduction (tensorgrad's reductions take
    no dim there)."""
    return fn(x, dims if x.ndim else None, bool(keepdim), **kw)


def _cast(x, dtype):
    return x if dtype is None or np.dtype(dtype) == x.dtype else x.to(dtype)


def _sum_dtype(input, dtype):
    if dtype is not None:
        return dtype
    return np.int64 if np.dtype(input.dtype) in _SMALL_INTS else input.dtype


# ---- reductions -------------------------------------------------------------------------------
def sum(input, dim=None, *, keepdim=False, dtype=None, mask=None):
    """The sum of the masked-in elements over ``dim`` (0 where all are masked out); integer
    and bool inputs sum in int64 unless ``dtype`` says otherwise.

    >>> import tensorgrad as tg
    >>> tg.masked.sum(tg.tensor([1.0, 2.0, 3.0]), mask=tg.tensor([True, False, True]))
    tensor(4.)
    """
    input = _input(input, "sum")
    dims = _dims(dim, input.ndim, "sum")
    x = _fill(input, _mask(input, mask, "sum"), 0)
    return _reduce(_ta.sum, x, dims, keepdim, dtype=_sum_dtype(input, dtype))


def prod(input, dim=None, *, keepdim=False, dtype=None, mask=None):
    """The product of the masked-in elements over ``dim`` (1 where all are masked out).

    >>> import tensorgrad as tg
    >>> tg.masked.prod(tg.tensor([2.0, 0.0, 3.0]), mask=tg.tensor([True, False, True]))
    tensor(6.)
    """
    input = _input(input, "prod")
    dims = _dims(dim, input.ndim, "prod")
    x = _cast(_fill(input, _mask(input, mask, "prod"), 1), _sum_dtype(input, dtype))
    if x.ndim == 0:
        return x
    for d in reversed(dims):  # one dim at a time, as PyTorch (prod takes one dim)
        x = _ta.prod(x, d, bool(keepdim))
    return x


def cumsum(input, dim, *, dtype=None, mask=None):
    """The running sum along ``dim``, masked-out elements counting as 0.

    >>> import tensorgrad as tg
    >>> tg.masked.cumsum(tg.tensor([1.0, 2.0, 3.0]), 0, mask=tg.tensor([True, False, True]))
    tensor([1., 1., 4.])
    """
    return _cumulative(_ta.cumsum, 0, "cumsum", input, dim, dtype, mask)


def cumprod(input, dim, *, dtype=None, mask=None):
    """The running product along ``dim``, masked-out elements counting as 1.

    >>> import tensorgrad as tg
    >>> tg.masked.cumprod(tg.tensor([2.0, 5.0, 3.0]), 0, mask=tg.tensor([True, False, True]))
    tensor([2., 2., 6.])
    """
    return _cumulative(_ta.cumprod, 1, "cumprod", input, dim, dtype, mask)


def _cumulative(fn, identity, op, input, dim, dtype, mask):
    """A running reduction ``fn`` along ``dim`` with masked-out elements as ``identity``."""
    input = _input(input, op)
    d = _dims(dim, input.ndim, op)[0]
    dtype = input.dtype if dtype is None else dtype
    x = _fill(input, _mask(input, mask, op), identity)
    return _cast(fn(x, d, dtype=dtype), dtype)


def _extreme(fn, kind, op, input, dim, keepdim, dtype, mask):
    input = _input(input, op)
    dims = _dims(dim, input.ndim, op)
    m = _mask(input, mask, op)
    x = _fill(input, m, _identity(kind, input.dtype, op)) if m is not None else input
    return _cast(_reduce(fn, x, dims, keepdim), input.dtype if dtype is None else dtype)


def amax(input, dim=None, *, keepdim=False, dtype=None, mask=None):
    """The largest masked-in element over ``dim`` (-inf, or the integer minimum, where all are
    masked out).

    >>> import tensorgrad as tg
    >>> tg.masked.amax(tg.tensor([1.0, 9.0, 3.0]), mask=tg.tensor([True, False, True]))
    tensor(3.)
    """
    return _extreme(_ta.amax, "max", "amax", input, dim, keepdim, dtype, mask)


def amin(input, dim=None, *, keepdim=False, dtype=None, mask=None):
    """The smallest masked-in element over ``dim`` (+inf, or the integer maximum, where all
    are masked out).

    >>> import tensorgrad as tg
    >>> tg.masked.amin(tg.tensor([1.0, -9.0, 3.0]), mask=tg.tensor([True, False, True]))
    tensor(1.)
    """
    return _extreme(_ta.amin, "min", "amin", input, dim, keepdim, dtype, mask)


def _arg(fn, kind, op, input, dim, keepdim, dtype, mask):
    input = _input(input, op)
    if dim is not None:
        _dims(dim, input.ndim, op)  # the range check
    m = _mask(input, mask, op)
    x = _fill(input, m, _identity(kind, input.dtype, op)) if m is not None else input
    out = fn(x, dim, bool(keepdim))
    if dim is None and keepdim and input.ndim > 1:
        out = out.reshape((1,) * input.ndim)  # PyTorch keeps every reduced dim as 1
    return _cast(out, input.dtype if dtype is None else dtype)


def argmax(input, dim=None, *, keepdim=False, dtype=None, mask=None):
    """The index of the largest masked-in element along ``dim`` (of the flattened input when
    ``dim`` is None); as PyTorch, the result has the input's dtype unless ``dtype`` is given.

    >>> import tensorgrad as tg
    >>> tg.masked.argmax(tg.tensor([1.0, 9.0, 3.0]), mask=tg.tensor([True, False, True]))
    tensor(2.)
    """
    return _arg(_ta.argmax, "max", "argmax", input, dim, keepdim, dtype, mask)


def argmin(input, dim=None, *, keepdim=False, dtype=None, mask=None):
    """The index of the smallest masked-in element along ``dim`` (as :func:`argmax`).

    >>> import tensorgrad as tg
    >>> tg.masked.argmin(tg.tensor([1.0, -9.0, 3.0]), mask=tg.tensor([True, False, True]))
    tensor(0.)
    """
    return _arg(_ta.argmin, "min", "argmin", input, dim, keepdim, dtype, mask)


def _count(input, m, dims, keepdim):
    """How many elements are masked in per slice, as an int64 tensor."""
    if m is not None:
        return _reduce(_ta.sum, m, dims, keepdim)
    shape = tuple(input.shape)
    n = math.prod(shape[d] for d in dims) if shape else 1
    kept = tuple(1 if d in dims else k for d, k in enumerate(shape)) if keepdim else \
        tuple(k for d, k in enumerate(shape) if d not in dims)
    return _creation.full(kept, n, dtype=np.int64, device=input.device)


def _divide(total, count):
    """``total / count`` with PyTorch's values (nan or inf where ``count`` is 0: an empty slice,
    or no more elements than ``correction``), whose gradient there is 0 rather than the nan of
    ``g / 0`` (the divisor is made safe before the division, the answer chosen after)."""
    some = count > 0  # no host sync to ask whether all are: both branches, one where
    safe = total / _ta.where(some, count, _creation.ones((), dtype=count.dtype,
                                                         device=count.device))
    with np.errstate(divide="ignore", invalid="ignore"):
        return _ta.where(some, safe, total.detach() / count)


def mean(input, dim=None, *, keepdim=False, dtype=None, mask=None):
    """The mean of the masked-in elements over ``dim``; nan where all are masked out. An
    integer input needs a floating ``dtype``.

    >>> import tensorgrad as tg
    >>> tg.masked.mean(tg.tensor([1.0, 9.0, 3.0]), mask=tg.tensor([True, False, True]))
    tensor(2.)
    """
    input = _input(input, "mean")
    want = input.dtype if dtype is None else dtype
    if _kind(want) not in "fc":
        source = "Input" if dtype is None else "Optional"
        raise ValueError(f"mean(): Could not infer output dtype. {source} dtype must be either "
                         f"a floating point or complex dtype. Got: {np.dtype(want)}")
    dims = _dims(dim, input.ndim, "mean")
    m = _mask(input, mask, "mean")
    total = _reduce(_ta.sum, _fill(input, m, 0), dims, keepdim, dtype=want)
    return _divide(total, _count(input, m, dims, keepdim))


def median(input, dim=-1, *, keepdim=False, dtype=None, mask=None):
    """The (lower) median of the masked-in elements along ``dim``; nan where all are masked
    out (an integer input refuses that: its median is computed in float32 and cast back).

    >>> import tensorgrad as tg
    >>> tg.masked.median(tg.tensor([1.0, 9.0, 3.0, 2.0]), 0,
    ...                  mask=tg.tensor([True, False, True, True]))
    tensor(2.)
    """
    input = _input(input, "median")
    d = _dims(dim, input.ndim, "median")[0]
    dtype = input.dtype if dtype is None else dtype
    is_float = _kind(input.dtype) == "f"
    x = input if is_float else input.to(np.float32)
    x = _fill(x, _mask(input, mask, "median"), math.nan)
    out = _ts2.nanmedian(x, d, bool(keepdim))[0]
    if is_float:
        return out
    if bool(_ta.isnan(out).any()):
        raise ValueError("masked median expects no fully masked out rows if dtype is not "
                         "floating point")
    return _cast(out, dtype)


def norm(input, ord=2.0, dim=None, *, keepdim=False, dtype=None, mask=None):
    """The ``ord``-norm of the masked-in elements over ``dim`` (``linalg.vector_norm``'s
    ``ord``); 0 where all are masked out (+inf for ``ord=-inf``).

    >>> import tensorgrad as tg
    >>> tg.masked.norm(tg.tensor([3.0, 9.0, 4.0]), mask=tg.tensor([True, False, True]))
    tensor(5.)
    """
    input = _input(input, "norm")
    dims = _dims(dim, input.ndim, "norm")
    m = _mask(input, mask, "norm")
    fill = math.inf if ord == -math.inf else 0
    x = _fill(input, m, fill)
    dtype = input.dtype if dtype is None else dtype
    return _linalg.vector_norm(x, ord, dims if x.ndim else None, bool(keepdim), dtype=dtype)


def _std_var(op, input, dim, unbiased, correction, keepdim, dtype, mask, root):
    input = _input(input, op)
    if unbiased is not None and correction is not None:
        raise ValueError(f"masked.{op}(): give only one of 'unbiased' and 'correction'")
    corr = 1.0
    if unbiased is not None:
        corr = 1.0 if unbiased else 0.0
    if correction is not None:
        corr = float(correction)
    if dtype is None:
        dtype = input.dtype if _kind(input.dtype) in "fc" else np.float32
    compute = dtype if _kind(dtype) in "fc" else np.float32
    dims = _dims(dim, input.ndim, op)
    m = _mask(input, mask, op)
    x = _fill(input, m, 0)
    count = _count(input, m, dims, True)
    # where-before-the-op again: masked-out elements are centred to 0 (not to -mean, which is
    # nan in a fully masked-out slice), so nothing non-finite reaches the square's rule
    centred = _fill(x - _divide(_reduce(_ta.sum, x, dims, True, dtype=dtype), count), m, 0)
    total = _reduce(_ta.sum, centred * centred.conj(), dims, keepdim, dtype=compute)
    if not keepdim:
        count = count.reshape(tuple(total.shape))
    if corr != 0:
        real = np.empty(0, compute).real.dtype
        count = _ta.clamp(count.to(real) - corr, min=0)
    out = _cast(_divide(total, count), dtype)
    if not root:
        return out
    # the square root's subgradient 0 at zero spread (PyTorch's std; its masked.std gives nan)
    spread = out > 0
    return _ta.where(spread, _ta.sqrt(_ta.where(spread, out, 1)), _ta.sqrt(out.detach()))


def var(input, dim=None, unbiased=None, *, correction=None, keepdim=False, dtype=None,
        mask=None):
    """The variance of the masked-in elements over ``dim``, divided by ``count - correction``
    (``correction`` 1 by default, 0 for ``unbiased=False``); nan where all are masked out.

    >>> import tensorgrad as tg
    >>> tg.masked.var(tg.tensor([1.0, 9.0, 3.0]), mask=tg.tensor([True, False, True]))
    tensor(2.)
    """
    return _std_var("var", input, dim, unbiased, correction, keepdim, dtype, mask, False)


def std(input, dim=None, unbiased=None, *, correction=None, keepdim=False, dtype=None,
        mask=None):
    """The standard deviation: the square root of :func:`var`.

    >>> import tensorgrad as tg
    >>> tg.masked.std(tg.tensor([1.0, 9.0, 5.0]), mask=tg.tensor([True, False, True]))
    tensor(2.828427)
    """
    return _std_var("std", input, dim, unbiased, correction, keepdim, dtype, mask, True)


def logsumexp(input, dim=None, *, keepdim=False, dtype=None, mask=None):
    """``log(sum(exp(x)))`` of the masked-in elements over ``dim``; -inf where all are masked
    out.

    >>> import tensorgrad as tg
    >>> tg.masked.logsumexp(tg.tensor([0.0, 9.0, 0.0]), mask=tg.tensor([True, False, True]))
    tensor(0.6931472)
    """
    input = _input(input, "logsumexp")
    dims = _dims(dim, input.ndim, "logsumexp")
    m = _mask(input, mask, "logsumexp")
    x = _fill(input, m, _identity("max", input.dtype, "logsumexp")) if m is not None else input
    if _kind(x.dtype) not in "fc":  # PyTorch's logsumexp computes integers in the default float
        x = x.to(_creation.get_default_dtype())
    if x.ndim == 0:
        dims = None
    out = _ta.logsumexp(x, dims, bool(keepdim))
    return _cast(out, input.dtype if dtype is None else dtype)


def logaddexp(input, other, *, dtype=None, input_mask=None, other_mask=None):
    """``log(exp(input) + exp(other))``, each operand's masked-out elements counting as -inf.

    >>> import tensorgrad as tg
    >>> tg.masked.logaddexp(tg.tensor([0.0, 1.0]), tg.tensor([0.0, 2.0]),
    ...                     input_mask=tg.tensor([True, False])).tolist()
    [0.6931471824645996, 2.0]
    """
    input = _input(input, "logaddexp")
    other = _input(other, "logaddexp", "other")
    a = _fill(input, _mask(input, input_mask, "logaddexp", "input_mask"), -math.inf)
    b = _fill(other, _mask(other, other_mask, "logaddexp", "other_mask"), -math.inf)
    return _cast(_ta.logaddexp(a, b), input.dtype if dtype is None else dtype)


# ---- normalizations ---------------------------------------------------------------------------
def _normalization(fn, kind, op, input, dim, dtype, mask):
    input = _input(input, op)
    d = _dims(dim, input.ndim, op)[0]
    m = _mask(input, mask, op)
    x = _fill(input, m, _identity(kind, input.dtype, op)) if m is not None else input
    return fn(x, d, dtype=input.dtype if dtype is None else dtype)


def softmax(input, dim, *, dtype=None, mask=None):
    """Softmax along ``dim`` over the masked-in elements: masked-out ones get 0, a row with
    none masked in is nan.

    >>> import tensorgrad as tg
    >>> tg.masked.softmax(tg.tensor([0.0, 5.0, 0.0]), 0, mask=tg.tensor([True, False, True]))
    tensor([0.5, 0. , 0.5])
    """
    return _normalization(_F.softmax, "max", "softmax", input, dim, dtype, mask)


def log_softmax(input, dim, *, dtype=None, mask=None):
    """Log-softmax along ``dim`` over the masked-in elements (masked-out ones get -inf).

    >>> import tensorgrad as tg
    >>> tg.masked.log_softmax(tg.tensor([0.0, 5.0, 0.0]), 0,
    ...                       mask=tg.tensor([True, False, True]))
    tensor([-0.6931472,       -inf, -0.6931472])
    """
    return _normalization(_F.log_softmax, "max", "log_softmax", input, dim, dtype, mask)


def softmin(input, dim, *, dtype=None, mask=None):
    """Softmin along ``dim`` over the masked-in elements (masked-out ones get 0).

    >>> import tensorgrad as tg
    >>> tg.masked.softmin(tg.tensor([0.0, -5.0, 0.0]), 0, mask=tg.tensor([True, False, True]))
    tensor([0.5, 0. , 0.5])
    """
    return _normalization(_F.softmin, "min", "softmin", input, dim, dtype, mask)


def normalize(input, ord, dim, *, eps=1e-12, dtype=None, mask=None):
    """``input`` divided by its masked ``ord``-norm along ``dim`` (at least ``eps``); masked-out
    elements become 0.

    >>> import tensorgrad as tg
    >>> tg.masked.normalize(tg.tensor([3.0, 9.0, 4.0]), 2.0, 0,
    ...                     mask=tg.tensor([True, False, True]))
    tensor([0.6, 0. , 0.8])
    """
    input = _input(input, "normalize")
    m = _mask(input, mask, "normalize")
    nrm = norm(input, ord, dim, keepdim=True, dtype=dtype, mask=m)
    floor = _creation.full((), eps, dtype=nrm.dtype, device=nrm.device)
    return _fill(input, m, 0) / _ta.maximum(nrm, floor)


# MaskedTensor last: it computes with the functions above
from . import _masked_tensor  # noqa: E402

MaskedTensor = _masked_tensor.MaskedTensor
as_masked_tensor = _masked_tensor.as_masked_tensor
is_masked_tensor = _masked_tensor.is_masked_tensor
masked_tensor = _masked_tensor.masked_tensor
