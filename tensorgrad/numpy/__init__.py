"""``tensorgrad.numpy``: NumPy's names and signatures, differentiable.

Given only NumPy/CuPy arrays and scalars a function returns an array (its only overhead is a
type check); given any Tensor it returns a Tensor. Programs written for HIPS autograd run after
``import tensorgrad.numpy as np`` and ``from tensorgrad import grad``.

>>> import tensorgrad.numpy as tnp
>>> float(tnp.sum(tnp.array([1.0, 2.0]) ** 2))
5.0
"""

import builtins
import math

import numpy as _np

# constants and dtypes pass through
from numpy import (  # noqa: F401  (re-exported)
    bool_,
    complex64,
    complex128,
    e,
    euler_gamma,
    finfo,
    float16,
    float32,
    float64,
    iinfo,
    inf,
    int8,
    int16,
    int32,
    int64,
    integer,
    nan,
    ndarray,
    newaxis,
    pi,
    uint8,
)

from .._passthrough import module_getattr as _module_getattr
from ..backend.device import _CUPY_ARRAY, xp_of
from ..ops import elementwise as _ew
from ..ops import nondiff as _nd
from ..ops import reduce as _red
from ..ops import shape as _sh
from ..ops.index import getitem as _getitem
from ..ops.linalg import dot, matmul
from ..tensor import Tensor, _axis_args, _new_tensor, _norm_axis, _raw
from . import fft, linalg, random  # noqa: F401

float_ = _np.float64
dtype = _np.dtype
complex_ = _np.complex128


def _any_tensor(args):
    for a in args:
        if isinstance(a, Tensor):
            return True
    return False


# ---- elementwise ------------------------------------------------------------------------
add = _ew.add
subtract = _ew.subtract
multiply = _ew.multiply
divide = true_divide = _ew.true_divide
negative = _ew.negative
power = _ew.power
exp = _ew.exp
log = _ew.log
log1p = _ew.log1p
expm1 = _ew.expm1
sqrt = _ew.sqrt
sin = _ew.sin
cos = _ew.cos
tan = _ew.tan
tanh = _ew.tanh
abs = absolute = fabs = _ew.abs
maximum = _ew.maximum
minimum = _ew.minimum
square = _ew.square
conjugate = conj = _ew.conjugate
remainder = mod = _ew.remainder
real = _ew.real
imag = _ew.imag
where = _ew.where


def clip(a, a_min=None, a_max=None):
    return _ew.clip(a, _raw(a_min), _raw(a_max))


# non-differentiable: on Tensors they give Tensors without history
sign = _nd.sign
floor = _nd.floor
ceil = _nd.ceil
rint = round_ = _nd.rint
trunc = _nd.trunc
isnan = _nd.isnan
isinf = _nd.isinf
isfinite = _nd.isfinite
equal = _nd.equal
not_equal = _nd.not_equal
less = _nd.less
less_equal = _nd.less_equal
greater = _nd.greater
greater_equal = _nd.greater_equal
logical_and = _nd.logical_and
logical_or = _nd.logical_or
logical_not = _nd.logical_not
logical_xor = _nd.logical_xor
floor_divide = _nd.floor_divide
argsort = _nd.argsort
zeros_like = _nd.zeros_like
ones_like = _nd.ones_like


def round(a, decimals=0):
    if decimals == 0:
        return _nd.rint(a)
    return _nd.rint(a * 10.0 ** decimals) / 10.0 ** decimals


around = round


def argmax(a, axis=None, keepdims=False):
    return _nd.argmax(a, axis, keepdims)


def argmin(a, axis=None, keepdims=False):
    return _nd.argmin(a, axis, keepdims)


def any(a, axis=None, keepdims=False):
    return _nd.any(a, axis, keepdims)


def all(a, axis=None, keepdims=False):
    return _nd.all(a, axis, keepdims)


# ---- reductions (NumPy's signatures) ------------------------------------------------------
def _reduce_args(a, axis, keepdims, name):
    ax, kd = _axis_args(name, _np.ndim(a) if not isinstance(a, Tensor) else a.ndim, axis, None,
                        keepdims, None)
    return ax, kd


def _tensorish(a):
    if isinstance(a, (Tensor, _np.ndarray, _CUPY_ARRAY)):
        return a
    return _np.asarray(a)


def _lift_sequence(a):
    """A list or tuple holding tensors becomes one stacked tensor (else NumPy would turn the
    tensors into plain numbers and drop their derivatives)."""
    if isinstance(a, (list, tuple)) and _contains_tensor(a):
        return array(a)
    return a


def sum(a, axis=None, dtype=None, out=None, keepdims=False):
    a = _lift_sequence(a)
    if not isinstance(a, Tensor):
        return xp_of(a).sum(a, axis=axis, dtype=dtype, keepdims=keepdims)
    ax, kd = _reduce_args(a, axis, keepdims, "sum")
    return _red.sum(a if dtype is None else a.to(dtype), ax, kd)


def mean(a, axis=None, dtype=None, out=None, keepdims=False):
    a = _lift_sequence(a)
    if not isinstance(a, Tensor):
        return xp_of(a).mean(a, axis=axis, dtype=dtype, keepdims=keepdims)
    ax, kd = _reduce_args(a, axis, keepdims, "mean")
    return _red.mean(a if dtype is None else a.to(dtype), ax, kd)


def _simple_reduction(prim, name):
    def fn(a, axis=None, out=None, keepdims=False):
        a = _lift_sequence(a)
        if not isinstance(a, Tensor):
            return getattr(xp_of(a), name)(a, axis=axis, keepdims=keepdims)
        ax, kd = _reduce_args(a, axis, keepdims, name)
        return prim(a, ax, kd)

    fn.__name__ = name
    fn.__doc__ = f"NumPy's {name}, differentiable."
    return fn


max = amax = _simple_reduction(_red.max, "max")
min = amin = _simple_reduction(_red.min, "min")


def prod(a, axis=None, dtype=None, out=None, keepdims=False):
    """NumPy's prod, differentiable."""
    a = _lift_sequence(a)
    if not isinstance(a, Tensor):
        return xp_of(a).prod(a, axis=axis, dtype=dtype, keepdims=keepdims)
    ax, kd = _reduce_args(a, axis, keepdims, "prod")
    return _red.prod(a if dtype is None else a.to(dtype), ax, kd)


def full(shape, fill_value, dtype=None, order="C"):
    """NumPy's full; differentiable in ``fill_value`` when that is a tensor."""
    if not isinstance(fill_value, Tensor):
        return _np.full(shape, fill_value, dtype=dtype, order=order)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    value = fill_value if dtype is None else fill_value.to(dtype)
    return _ew.copy(_sh.broadcast_to(value, shape))


def full_like(a, fill_value, dtype=None):
    """NumPy's full_like; differentiable in ``fill_value`` when that is a tensor."""
    raw = _raw(a)
    if not isinstance(fill_value, Tensor):
        out = xp_of(raw).full_like(raw, fill_value, dtype=dtype)
        return _new_tensor(out, None, False) if isinstance(a, Tensor) else out
    return full(raw.shape, fill_value, dtype=dtype or raw.dtype)


def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    a = _lift_sequence(a)
    if not isinstance(a, Tensor):
        return xp_of(a).var(a, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims)
    ax, kd = _reduce_args(a, axis, keepdims, "var")
    return _red.var(a, ax, kd, ddof)


def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    a = _lift_sequence(a)
    if not isinstance(a, Tensor):
        return xp_of(a).std(a, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims)
    ax, kd = _reduce_args(a, axis, keepdims, "std")
    return _red.std(a, ax, kd, ddof)


def logsumexp(a, axis=None, keepdims=False):
    """log(sum(exp(a))) computed stably (scipy.special.logsumexp's meaning)."""
    a = _tensorish(a)
    ax, kd = _reduce_args(a, axis, keepdims, "logsumexp")
    return _red.logsumexp(a, ax, kd)


# ---- arrays and shapes --------------------------------------------------------------------
def array(obj, dtype=None, copy=True, ndmin=0):
    """NumPy's array; a (nested) sequence holding Tensors becomes a stacked Tensor."""
    if isinstance(obj, Tensor):
        out = obj if dtype is None else obj.to(dtype)
        return _ew.copy(out) if copy and out is obj else out
    if isinstance(obj, (list, tuple)) and _contains_tensor(obj):
        xp = xp_of(_first_tensor(obj).data)  # numbers join the tensors on their device
        return stack([array(o) if _contains_tensor(o) else _scalar_tensor(o, xp)
                      for o in obj])
    return xp_of(obj).array(obj, dtype=dtype, copy=copy, ndmin=ndmin)


def _scalar_tensor(o, xp=_np):
    return o if isinstance(o, Tensor) else xp.asarray(o)


def _first_tensor(obj):
    if isinstance(obj, Tensor):
        return obj
    for o in obj if isinstance(obj, (list, tuple)) else ():
        t = _first_tensor(o)
        if t is not None:
            return t
    return None


def _contains_tensor(obj):
    if isinstance(obj, Tensor):
        return True
    if isinstance(obj, (list, tuple)):
        return builtins.any(_contains_tensor(o) for o in obj)
    return False


def asarray(a, dtype=None):
    if isinstance(a, Tensor):
        return a if dtype is None else a.to(dtype)
    if isinstance(a, (list, tuple)) and _contains_tensor(a):
        return array(a, dtype=dtype)
    return xp_of(a).asarray(a, dtype=dtype)


def asarray_keep(a):
    return a if isinstance(a, (Tensor, _np.ndarray, _CUPY_ARRAY)) else _np.asarray(a)


def reshape(a, newshape, order="C"):
    if not isinstance(a, Tensor):
        return xp_of(a).reshape(a, newshape, order=order)
    return a.reshape(newshape)


def ravel(a):
    return reshape(a, (-1,))


def transpose(a, axes=None):
    if not isinstance(a, Tensor):
        return xp_of(a).transpose(a, axes)
    return _sh.transpose(a, None if axes is None else tuple(
        _norm_axis(x, a.ndim, "transpose") for x in axes))


def swapaxes(a, axis1, axis2):
    return _sh.swapaxes(_tensorish(a), axis1, axis2)


def moveaxis(a, source, destination):
    a = _tensorish(a)
    src = _as_tuple(source)
    dst = _as_tuple(destination)
    src = tuple(_norm_axis(s, a.ndim, "moveaxis") for s in src)
    dst = tuple(_norm_axis(d, a.ndim, "moveaxis") for d in dst)
    order = [n for n in range(a.ndim) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(a, order)


def _as_tuple(x):
    return tuple(x) if isinstance(x, (list, tuple)) else (x,)


def expand_dims(a, axis):
    if not isinstance(a, Tensor):
        return xp_of(a).expand_dims(a, axis)
    return _sh.expand_dims(a, axis)


def squeeze(a, axis=None):
    if not isinstance(a, Tensor):
        return xp_of(a).squeeze(a, axis)
    return _sh.squeeze(a, axis)


def broadcast_to(a, shape):
    return _sh.broadcast_to(_tensorish(a), tuple(shape) if not isinstance(shape, int) else
                            (shape,))


def concatenate(arrays, axis=0):
    arrays = list(arrays)
    if not _any_tensor(arrays):
        return xp_of(arrays[0]).concatenate(arrays, axis=axis)
    return _sh.concatenate_(_norm_axis(axis, _np.ndim(_raw(arrays[0])), "concatenate"),
                            *arrays)


def stack(arrays, axis=0):
    arrays = list(arrays)
    if not _any_tensor(arrays):
        return xp_of(_np.asarray(arrays[0]) if not hasattr(arrays[0], "ndim")
                     else arrays[0]).stack(arrays, axis=axis)
    arrays = [a if hasattr(a, "ndim") else _np.asarray(a) for a in arrays]
    return _sh.stack_(_norm_axis(axis, arrays[0].ndim + 1, "stack"), *arrays)


def hstack(arrays):
    arrays = [atleast_1d(a) for a in arrays]
    return concatenate(arrays, axis=0 if arrays[0].ndim == 1 else 1)


def vstack(arrays):
    return concatenate([atleast_2d(a) for a in arrays], axis=0)


row_stack = vstack


def column_stack(arrays):
    cols = [reshape(a, (-1, 1)) if _np.ndim(_raw(a)) < 2 else a for a in arrays]
    return concatenate(cols, axis=1)


def atleast_1d(a):
    return reshape(a, (1,)) if _np.ndim(_raw(a)) == 0 else a


def atleast_2d(a):
    nd = _np.ndim(_raw(a))
    return reshape(a, (1,) * (2 - nd) + tuple(_raw(a).shape if hasattr(_raw(a), "shape")
                                              else ())) if nd < 2 else a


def split(ary, indices_or_sections, axis=0):
    a = _tensorish(ary)
    n = a.shape[axis]
    if isinstance(indices_or_sections, int):
        if n % indices_or_sections:
            raise ValueError(f"split: an axis of length {n} does not split into "
                             f"{indices_or_sections} equal parts")
        step = n // indices_or_sections
        bounds = list(range(0, n + 1, step))
    else:
        bounds = [0] + list(indices_or_sections) + [n]
    ax = _norm_axis(axis, a.ndim, "split")
    return [a[(slice(None),) * ax + (slice(b0, b1),)] for b0, b1 in zip(bounds[:-1], bounds[1:])]


def flip(m, axis=None):
    m = _tensorish(m)
    axes = range(m.ndim) if axis is None else [_norm_axis(x, m.ndim) for x in _as_tuple(axis)]
    idx = [slice(None)] * m.ndim
    for a in axes:
        idx[a] = slice(None, None, -1)
    return m[tuple(idx)]


def fliplr(m):
    return flip(m, 1)


def flipud(m):
    return flip(m, 0)


def take(a, indices, axis=None):
    a = _tensorish(a)
    if axis is None:
        return ravel(a)[_raw(indices)]
    ax = _norm_axis(axis, a.ndim, "take")
    return a[(slice(None),) * ax + (_raw(indices),)]


def diagonal(a, offset=0, axis1=0, axis2=1):
    a = _tensorish(a)
    a = moveaxis(a, (axis1, axis2), (-2, -1))
    n, m = a.shape[-2], a.shape[-1]
    rows = _np.arange(builtins.max(0, -offset), builtins.min(n, m - offset))
    return a[..., rows, rows + offset]


def trace(a, offset=0, axis1=0, axis2=1):
    return sum(diagonal(a, offset, axis1, axis2), axis=-1)


def diag(v, k=0):
    v = _tensorish(v)
    if v.ndim == 2:
        return diagonal(v, k)
    n = v.shape[0] + builtins.abs(k)
    rows = _np.arange(v.shape[0]) + builtins.max(0, -k)
    cols = rows + k
    from ..ops.index import untake

    return untake(v, (rows, cols), (n, n))


def triu(m, k=0):
    m = _tensorish(m)
    xp = xp_of(_raw(m))  # the mask lives on m's device
    mask = xp.triu(xp.ones(m.shape[-2:], dtype=bool), k)
    return where(mask, m, 0)


def tril(m, k=0):
    m = _tensorish(m)
    xp = xp_of(_raw(m))  # the mask lives on m's device
    mask = xp.tril(xp.ones(m.shape[-2:], dtype=bool), k)
    return where(mask, m, 0)


def outer(a, b):
    return multiply(reshape(a, (-1, 1)), reshape(b, (1, -1)))


def inner(a, b):
    return sum(multiply(a, b), axis=-1) if _np.ndim(_raw(b)) <= 1 else tensordot(
        a, b, axes=([-1], [-1]))


def vdot(a, b):
    return sum(multiply(conj(ravel(a)), ravel(b)))


def tensordot(a, b, axes=2):
    """NumPy's tensordot, as transposes, reshapes and one matmul (all differentiable)."""
    if not _any_tensor((a, b)):
        return xp_of(a).tensordot(a, b, axes)
    a, b = _tensorish(a), _tensorish(b)
    if isinstance(axes, int):
        a_axes = tuple(range(a.ndim - axes, a.ndim))
        b_axes = tuple(range(axes))
    else:
        a_axes, b_axes = (_as_tuple(x) for x in axes)
    a_axes = tuple(_norm_axis(x, a.ndim, "tensordot") for x in a_axes)
    b_axes = tuple(_norm_axis(x, b.ndim, "tensordot") for x in b_axes)
    for i, j in zip(a_axes, b_axes):
        if a.shape[i] != b.shape[j]:
            raise ValueError(f"tensordot: shape mismatch, {tuple(a.shape)} axis {i} against "
                             f"{tuple(b.shape)} axis {j}")
    a_free = [i for i in range(a.ndim) if i not in a_axes]
    b_free = [j for j in range(b.ndim) if j not in b_axes]
    k = math.prod(a.shape[i] for i in a_axes)
    a2 = reshape(transpose(a, a_free + list(a_axes)), (-1, k))
    b2 = reshape(transpose(b, list(b_axes) + b_free), (k, -1))
    return reshape(matmul(a2, b2), tuple(a.shape[i] for i in a_free) +
                   tuple(b.shape[j] for j in b_free))


def einsum(subscripts, *operands):
    """NumPy's einsum for explicit two-operand (or one-operand) subscripts, differentiable."""
    if not _any_tensor(operands):
        return xp_of(operands[0]).einsum(subscripts, *operands)
    from ..ops.extra import einsum as _einsum

    return _einsum(subscripts, *operands)


def cumsum(a, axis=None, dtype=None):
    from ..ops.extra import cumsum as _cumsum

    a = _tensorish(a)
    if axis is None:
        a, axis = ravel(a), 0
    return _cumsum(a, _norm_axis(axis, a.ndim, "cumsum"))


def linspace(*args, **kwargs):
    return _np.linspace(*args, **kwargs)


def dot_(a, b):
    return dot(a, b)


def shape(a):
    return tuple(_raw(a).shape) if hasattr(_raw(a), "shape") else _np.shape(a)


def ndim(a):
    return _np.ndim(_raw(a))


def size(a, axis=None):
    return _np.size(_raw(a), axis)


def copy(a):
    return _ew.copy(a) if isinstance(a, Tensor) else xp_of(a).array(a, copy=True)


def getitem(a, idx):
    return _getitem(a, idx)


# anything else NumPy has: no derivative, so refuse to silently drop one
__getattr__ = _module_getattr("tensorgrad.numpy", "")




# ==== BEGIN: ops/extra.py names (elementwise, sort, repeat, tile, roll, pad, ...) ========
# Appended as one block; owned by the extra/linalg/fft work. NumPy's names and signatures.
from ..ops import extra as _extra  # noqa: E402

arcsin = _extra.arcsin
arccos = _extra.arccos
arctan = _extra.arctan
sinh = _extra.sinh
cosh = _extra.cosh
arcsinh = _extra.arcsinh
arccosh = _extra.arccosh
arctanh = _extra.arctanh
log2 = _extra.log2
log10 = _extra.log10
exp2 = _extra.exp2
reciprocal = _extra.reciprocal
logaddexp = _extra.logaddexp
logaddexp2 = _extra.logaddexp2
arctan2 = _extra.arctan2
hypot = _extra.hypot
cbrt = _extra.cbrt
deg2rad = radians = _extra.deg2rad
rad2deg = degrees = _extra.rad2deg
sinc = _extra.sinc
take_along_axis = _extra.take_along_axis
repeat = _extra.repeat
tile = _extra.tile
roll = _extra.roll
pad = _extra.pad
diff = _extra.diff
trapezoid = _extra.trapezoid


def sort(a, axis=-1, kind=None, order=None):
    """NumPy's sort; the gradient follows the sorting permutation."""
    if order is not None:
        raise NotImplementedError("sort: order= (structured arrays) is not supported")
    if not isinstance(a, Tensor):
        return xp_of(a).sort(a, axis=axis, kind=kind)
    return _extra.sort(a, axis)
# ==== END: ops/extra.py names =============================================================
