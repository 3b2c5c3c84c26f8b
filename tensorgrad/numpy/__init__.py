"""``tensorgrad.numpy``: NumPy's names and signatures, differentiable.

Given only NumPy/CuPy arrays and scalars a function returns an array (its only overhead is a
type check); given any Tensor it returns a Tensor. Programs written for HIPS autograd run after
``import tensorgrad.numpy as np`` and ``from tensorgrad import grad``.

>>> import tensorgrad.numpy as tnp
>>> float(tnp.sum(tnp.array([1.0, 2.0]) ** 2))
5.0
"""

import builtins
import itertools
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
from ..backend.device import _CUPY_ARRAY, move_host_arrays, xp_of
from ..ops import elementwise as _ew
from ..ops import nondiff as _nd
from ..ops import reduce as _red
from ..ops import shape as _sh
from ..ops.index import getitem as _getitem
from ..ops.linalg import dot as _dot
from ..ops.linalg import matmul
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
def where(condition, x=None, y=None):
    """NumPy's where: ``x`` where ``condition`` holds, else ``y`` (differentiable in both); with
    the condition alone, the indices of its nonzero elements (NumPy's ``nonzero``)."""
    if x is None and y is None:
        from tensorgrad.numpy import nonzero  # a passthrough (the module's __getattr__)

        return nonzero(condition)
    if x is None or y is None:
        raise ValueError("where: give both x and y, or neither")
    return _ew.where(condition, x, y)




def clip(a, a_min=None, a_max=None):
    return _ew.clip(a, _raw(a_min), _raw(a_max))


# non-differentiable: on Tensors they give Tensors without history
sign = _nd.sign
floor = _nd.floor
ceil = _nd.ceil
rint = round_ = _nd.rint
trunc = fix = _nd.trunc  # fix rounds toward zero, as trunc
heaviside = _nd.heaviside
signbit = _nd.signbit
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


def _with_out(result, out, name):
    """NumPy's ``out=`` for a differentiable result: a Tensor ``out`` is written in place (on
    the tape, so the derivative flows through it, like PyTorch's ``out=`` outside autograd); an
    array cannot hold a derivative, so it takes only a result that carries none."""
    if out is None:
        return result
    if isinstance(out, Tensor):
        out[...] = result
        return out
    if isinstance(result, Tensor) and (result._rg or result._level):
        raise TypeError(
            f"{name}: out= is a {type(out).__name__} of shape {tuple(_np.shape(out))}, which "
            "cannot hold a derivative; pass a Tensor as out=, or use the returned value")
    out[...] = _raw(result)
    return out


def _dtype_reduction(prim, name, a, axis, dtype, out, keepdims):
    """sum, mean, prod: NumPy's ``name`` on arrays; on a Tensor ``prim`` after casting to
    ``dtype``, written to ``out`` if given."""
    a = _lift_sequence(a)
    if not isinstance(a, Tensor):
        return getattr(xp_of(a), name)(a, axis=axis, dtype=dtype, out=out, keepdims=keepdims)
    ax, kd = _reduce_args(a, axis, keepdims, name)
    return _with_out(prim(a if dtype is None else a.to(dtype), ax, kd), out, name)


def sum(a, axis=None, dtype=None, out=None, keepdims=False):
    if axis is None and dtype is None and out is None and not keepdims and \
            isinstance(a, Tensor):
        return _red.sum(a, None, False)  # the common case, without the argument handling
    return _dtype_reduction(_red.sum, "sum", a, axis, dtype, out, keepdims)


def mean(a, axis=None, dtype=None, out=None, keepdims=False):
    return _dtype_reduction(_red.mean, "mean", a, axis, dtype, out, keepdims)


def _simple_reduction(prim, name):
    def fn(a, axis=None, out=None, keepdims=False):
        a = _lift_sequence(a)
        if not isinstance(a, Tensor):
            return getattr(xp_of(a), name)(a, axis=axis, out=out, keepdims=keepdims)
        ax, kd = _reduce_args(a, axis, keepdims, name)
        return _with_out(prim(a, ax, kd), out, name)

    fn.__name__ = name
    fn.__doc__ = f"NumPy's {name}, differentiable."
    return fn


max = amax = _simple_reduction(_red.max, "max")
min = amin = _simple_reduction(_red.min, "min")


def prod(a, axis=None, dtype=None, out=None, keepdims=False):
    """NumPy's prod, differentiable."""
    return _dtype_reduction(_red.prod, "prod", a, axis, dtype, out, keepdims)


def full(shape, fill_value, dtype=None, order="C"):
    """NumPy's full; differentiable in ``fill_value`` when that is a tensor; filled with a
    device array (a 0-d CuPy array: a cotangent in a user's VJP), the result is on its device."""
    if not isinstance(fill_value, Tensor):
        if isinstance(fill_value, _CUPY_ARRAY):
            return xp_of(fill_value).full(shape, fill_value, dtype=dtype, order=order)
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


def _ddof_reduction(prim, name, a, axis, dtype, out, ddof, keepdims):
    """var, std: NumPy's ``name`` on arrays; on a Tensor ``prim`` with ``ddof``."""
    a = _lift_sequence(a)
    if not isinstance(a, Tensor):
        return getattr(xp_of(a), name)(a, axis=axis, dtype=dtype, out=out, ddof=ddof,
                                       keepdims=keepdims)
    ax, kd = _reduce_args(a, axis, keepdims, name)
    return _with_out(prim(a, ax, kd, ddof), out, name)


def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    return _ddof_reduction(_red.var, "var", a, axis, dtype, out, ddof, keepdims)


def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    return _ddof_reduction(_red.std, "std", a, axis, dtype, out, ddof, keepdims)


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
    gpu = _first_of(obj, _CUPY_ARRAY) if isinstance(obj, (list, tuple)) else None
    if gpu is not None:  # CuPy refuses lists mixing its arrays with numbers: stack them there
        xp = xp_of(gpu)
        obj = xp.stack([xp.asarray(array(o) if isinstance(o, (list, tuple)) else o)
                        for o in obj])
    return xp_of(obj).array(obj, dtype=dtype, copy=copy, ndmin=ndmin)


def _scalar_tensor(o, xp=_np):
    return o if isinstance(o, Tensor) else xp.asarray(o)


def _first_of(obj, kinds=Tensor):
    """The first instance of ``kinds`` in ``obj`` (nested lists and tuples), or None."""
    if isinstance(obj, kinds):
        return obj
    for o in obj if isinstance(obj, (list, tuple)) else ():
        t = _first_of(o, kinds)
        if t is not None:
            return t
    return None


_first_tensor = _first_of  # the first Tensor


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
    """One axis or a sequence of them as a tuple; as NumPy, an integer array of any length
    (empty too) is a sequence of axes and a 0-d one is one axis."""
    if isinstance(x, (list, tuple)):
        return tuple(x)
    return tuple(x.tolist()) if getattr(x, "ndim", 0) else (x,)


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


def _host_moved(arrays):
    """Raw ``arrays`` with their NumPy arrays on the device of the CuPy arrays among them while
    a default device is set (as the ops move them), else ``arrays`` itself: CuPy refuses NumPy
    operands, and a program written for the CPU mixes its host constants with device data."""
    return list(move_host_arrays(tuple(arrays)) or arrays)


def concatenate(arrays, axis=0):
    arrays = list(arrays)
    if not _any_tensor(arrays):
        arrays = _host_moved(arrays)
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


def _atleast(name, fn):
    def many(*arys):
        out = [fn(a if isinstance(a, (Tensor, _np.ndarray, _CUPY_ARRAY)) else asarray(a))
               for a in arys]
        return out[0] if len(out) == 1 else tuple(out)

    many.__name__ = name
    many.__doc__ = f"NumPy's {name}, differentiable."
    return many


def _shape_of(a):
    return tuple(_raw(a).shape)


atleast_1d = _atleast("atleast_1d", lambda a: reshape(a, (1,)) if a.ndim == 0 else a)
atleast_2d = _atleast("atleast_2d", lambda a: reshape(a, (1,) * (2 - a.ndim) + _shape_of(a))
                      if a.ndim < 2 else a)
# NumPy: () -> (1, 1, 1), (n,) -> (1, n, 1), (m, n) -> (m, n, 1)
atleast_3d = _atleast("atleast_3d", lambda a: reshape(a, {0: (1, 1, 1), 1: (1,) + _shape_of(a) + (
    1,), 2: _shape_of(a) + (1,)}[a.ndim]) if a.ndim < 3 else a)


def _split_at(a, bounds, axis, name):
    ax = _norm_axis(axis, a.ndim, name)
    return [a[(slice(None),) * ax + (slice(b0, b1),)] for b0, b1 in zip(bounds[:-1], bounds[1:])]


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
    return _split_at(a, bounds, axis, "split")


def array_split(ary, indices_or_sections, axis=0):
    """NumPy's array_split: like split, but N sections need not divide the axis (the first
    ``n % N`` parts get one element more)."""
    a = _tensorish(ary)
    if not isinstance(indices_or_sections, int):
        return split(a, indices_or_sections, axis)
    if indices_or_sections <= 0:
        raise ValueError("array_split: the number of sections must be larger than 0")
    each, extra = divmod(a.shape[axis], indices_or_sections)
    sizes = [each + 1] * extra + [each] * (indices_or_sections - extra)
    return _split_at(a, [0] + list(itertools.accumulate(sizes)), axis, "array_split")


def _split_nd(name, axis, min_ndim):
    def fn(ary, indices_or_sections):
        a = _tensorish(ary)
        if a.ndim < min_ndim:
            raise ValueError(f"{name}: needs an array of at least {min_ndim} dimensions, got "
                             f"shape {tuple(a.shape)}")
        return split(a, indices_or_sections, 0 if name == "hsplit" and a.ndim == 1 else axis)

    fn.__name__ = name
    fn.__doc__ = f"NumPy's {name}, differentiable."
    return fn


vsplit = _split_nd("vsplit", 0, 2)
hsplit = _split_nd("hsplit", 1, 1)
dsplit = _split_nd("dsplit", 2, 3)


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
    return where(mask, m, xp.zeros((), dtype=m.dtype))  # a bool or int32 input keeps its dtype


def tril(m, k=0):
    m = _tensorish(m)
    xp = xp_of(_raw(m))  # the mask lives on m's device
    mask = xp.tril(xp.ones(m.shape[-2:], dtype=bool), k)
    return where(mask, m, xp.zeros((), dtype=m.dtype))  # a bool or int32 input keeps its dtype


def outer(a, b):
    return multiply(reshape(a, (-1, 1)), reshape(b, (1, -1)))


def inner(a, b):
    """NumPy's inner: a product when either side is 0-d (or a Python number)."""
    if not _any_tensor((a, b)):
        return xp_of(a if hasattr(a, "ndim") else b).inner(a, b)
    if _np.ndim(_raw(a)) == 0 or _np.ndim(_raw(b)) == 0:
        return multiply(a, b)
    return sum(multiply(a, b), axis=-1) if _np.ndim(_raw(b)) <= 1 else tensordot(
        a, b, axes=([-1], [-1]))


def dot(a, b, out=None):
    """NumPy's dot, differentiable; 0-d operands and Python numbers multiply."""
    if out is None and isinstance(a, _DOT_ARRAYS) and isinstance(b, _DOT_ARRAYS) and \
            a.ndim and b.ndim and (isinstance(a, Tensor) or isinstance(b, Tensor)):
        return _dot(a, b)  # the common case: arrays and tensors of one dimension or more
    if not _any_tensor((a, b)):
        a, b = _host_moved((a, b))
        return xp_of(a if hasattr(a, "ndim") else b).dot(a, b, out=out)
    a, b = _lift_sequence(a), _lift_sequence(b)
    if _np.ndim(_raw(a)) == 0 or _np.ndim(_raw(b)) == 0:
        return _with_out(multiply(a, b), out, "dot")
    return _with_out(_dot(_tensorish(a), _tensorish(b)), out, "dot")


_DOT_ARRAYS = (Tensor, _np.ndarray, _CUPY_ARRAY)


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


def _sublist_letters(sub):
    out = []
    for k in sub:
        if k is Ellipsis:
            out.append("...")
        elif isinstance(k, (int, _np.integer)) and 0 <= k < 52:
            out.append(_EINSUM_LETTERS[int(k)])
        else:
            raise ValueError(f"einsum: a sublist holds ints in [0, 52) or Ellipsis, got {k!r}")
    return "".join(out)


_EINSUM_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _einsum_from_sublists(args):
    """NumPy's interleaved form ``einsum(a, [0, 1], b, [1, 2], [0, 2])`` as a subscripts string
    and its operands."""
    args = list(args)
    out = None
    if len(args) % 2:
        out = args.pop()
    operands, subs = args[0::2], args[1::2]
    spec = ",".join(_sublist_letters(s) for s in subs)
    if out is not None:
        spec += "->" + _sublist_letters(out)
    return spec, operands


def einsum(*operands, optimize=False, **kwargs):
    """NumPy's einsum, differentiable in every operand: subscripts with '->' or implicit
    output, '...', any number of operands, and the sublist form ``einsum(a, [0, 1], [1, 0])``.
    (``optimize`` is accepted; the contraction order is NumPy's choice.)"""
    if kwargs:
        raise TypeError(f"einsum: unsupported keyword arguments {sorted(kwargs)}")
    if isinstance(operands[0], str):
        subscripts, operands = operands[0], list(operands[1:])
    else:
        subscripts, operands = _einsum_from_sublists(operands)
    if not _any_tensor(operands):
        operands = _host_moved(operands)
        return xp_of(operands[0]).einsum(subscripts, *operands)
    from ..ops.extra import einsum as _einsum

    return _einsum(subscripts, *[_lift_sequence(o) for o in operands])


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
trapz = trapezoid  # NumPy's name before 2.0 (removed in 2.4), which autograd programs use


def sort(a, axis=-1, kind=None, order=None):
    """NumPy's sort; the gradient follows the sorting permutation."""
    if order is not None:
        raise NotImplementedError("sort: order= (structured arrays) is not supported")
    if not isinstance(a, Tensor):
        xp = xp_of(a)
        if xp is not _np and kind not in (None, "stable"):
            kind = None  # CuPy takes only 'stable' (its sort is); every kind sorts alike
        return xp.sort(a, axis=axis, kind=kind)
    return _extra.sort(a, axis)
# ==== END: ops/extra.py names =============================================================



# ==== more of NumPy, differentiable (compositions of the primitives above) ================
fmax = _ew.fmax
fmin = _ew.fmin


def angle(z, deg=False):
    """NumPy's angle: arctan2(imag, real) (0 or pi for real input, derivative 0 there)."""
    if not isinstance(z, Tensor):
        return xp_of(z).angle(z, deg=deg)
    a = arctan2(imag(z), real(z)) if z.dtype.kind == "c" else arctan2(z * 0, z)
    return a * (180.0 / _np.pi) if deg else a


def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):  # noqa: F811 (NumPy's name)
    """NumPy's nan_to_num: derivative 1 at finite values, 0 where a constant replaces NaN or
    infinity."""
    if not isinstance(x, Tensor):
        return xp_of(x).nan_to_num(x, copy=copy, nan=nan, posinf=posinf, neginf=neginf)
    if x.dtype.kind == "c":
        return _ew.add(nan_to_num(real(x), nan=nan, posinf=posinf, neginf=neginf),
                       _times_i(nan_to_num(imag(x), nan=nan, posinf=posinf, neginf=neginf)))
    xp = xp_of(x.data)
    fixed = xp.nan_to_num(x.data, copy=True, nan=nan, posinf=posinf, neginf=neginf)
    return where(xp.isfinite(x.data), x, fixed)


def _times_i(y):
    return multiply(y, 1j)


def select(condlist, choicelist, default=0):
    """NumPy's select: the first true condition picks its choice (nested ``where``s, so the
    derivative follows the chosen choice)."""
    if len(condlist) != len(choicelist):
        raise ValueError(f"select: {len(condlist)} conditions but {len(choicelist)} choices")
    if not _contains_tensor(list(choicelist) + [default]):
        conds = [_raw(c) for c in condlist]
        return xp_of(_first_array(list(choicelist) + conds)).select(conds, list(choicelist),
                                                                   default)
    out = _lift_sequence(default)
    for cond, choice in reversed(list(zip(condlist, choicelist))):
        out = where(_raw(cond), _lift_sequence(choice), out)
    shape = _np.broadcast_shapes(*[_np.shape(_raw(c)) for c in condlist],
                                 *[_np.shape(_raw(c)) for c in choicelist])
    return broadcast_to(out, shape) if tuple(_raw(out).shape) != shape else out


def _on_device_of(x, ref):
    """``x`` (a Tensor, an array, or a number or list holding no tensor) as a Tensor or as an
    array on the device of the Tensor ``ref``: CuPy refuses NumPy operands."""
    x = _lift_sequence(x)
    xp = xp_of(_raw(ref))
    if isinstance(x, (Tensor, _CUPY_ARRAY)) or (isinstance(x, _np.ndarray) and xp is _np):
        return x
    return xp.asarray(x)  # a number, a list, or a host constant (a slice's range)


def _first_device_value(obj):
    """The first Tensor or CuPy array in ``obj`` (nested lists and tuples), or None."""
    return _first_of(obj, (Tensor, _CUPY_ARRAY))


def _first_array(xs):
    for x in xs:
        if hasattr(x, "ndim"):
            return x
    return _np.asarray(xs[0])


def append(arr, values, axis=None):
    """NumPy's append, differentiable in both arguments (lists may hold tensors)."""
    ref = _first_device_value([arr, values])
    if ref is None:  # NumPy values only
        return _np.append(arr, values, axis=axis)
    # tensors, or CuPy arrays (also inside lists, which CuPy refuses to convert)
    arr, values = _on_device_of(arr, ref), _on_device_of(values, ref)
    if axis is None:
        return concatenate([ravel(arr), ravel(values)], axis=0)
    return concatenate([arr, values], axis=axis)


def rollaxis(a, axis, start=0):
    """NumPy's rollaxis, as a transpose."""
    a = _tensorish(a)
    n = a.ndim
    axis = _norm_axis(axis, n, "rollaxis")
    if start < 0:
        start += n
    if not 0 <= start <= n:
        raise ValueError(f"rollaxis: start={start} is out of range for an array of "
                         f"{n} dimensions")
    if axis < start:
        start -= 1
    if axis == start:
        return a
    axes = [i for i in range(n) if i != axis]
    axes.insert(start, axis)
    return transpose(a, axes)


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """NumPy's cross product of 3-vectors (or 2-vectors) along the given axes, differentiable."""
    if not _any_tensor((a, b)):
        return xp_of(_first_array([a, b])).cross(a, b, axisa, axisb, axisc, axis)
    a, b = _tensorish(_lift_sequence(a)), _tensorish(_lift_sequence(b))
    if axis is not None:
        axisa = axisb = axisc = axis
    a = moveaxis(a, axisa, -1)
    b = moveaxis(b, axisb, -1)
    na, nb = a.shape[-1], b.shape[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ValueError(f"cross: the vector axes have lengths {na} and {nb}; 2 or 3 is needed "
                         f"(shapes {tuple(a.shape)} and {tuple(b.shape)})")
    a0, a1, b0, b1 = a[..., 0], a[..., 1], b[..., 0], b[..., 1]
    z = a0 * b1 - a1 * b0
    if na == 2 and nb == 2:
        return z
    a2 = a[..., 2] if na == 3 else 0.0
    b2 = b[..., 2] if nb == 3 else 0.0
    parts = [a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, z]
    shape = _np.broadcast_shapes(*[tuple(p.shape) for p in parts])
    c = stack([broadcast_to(p, shape) if tuple(p.shape) != shape else p for p in parts], axis=-1)
    return moveaxis(c, -1, axisc)


def kron(a, b):
    """NumPy's Kronecker product, as one broadcast product and a reshape."""
    if not _any_tensor((a, b)):
        return xp_of(_first_array([a, b])).kron(a, b)
    a, b = _tensorish(_lift_sequence(a)), _tensorish(_lift_sequence(b))
    nd = builtins.max(a.ndim, b.ndim)
    sa = (1,) * (nd - a.ndim) + tuple(a.shape)
    sb = (1,) * (nd - b.ndim) + tuple(b.shape)
    a2 = reshape(a, tuple(v for n in sa for v in (n, 1)))
    b2 = reshape(b, tuple(v for n in sb for v in (1, n)))
    return reshape(multiply(a2, b2), tuple(p * q for p, q in zip(sa, sb)))


def partition(a, kth, axis=-1, kind="introselect", order=None):
    """NumPy's partition; the gradient follows the partitioning permutation."""
    if order is not None:
        raise NotImplementedError("partition: order= (structured arrays) is not supported")
    if not isinstance(a, Tensor):
        return xp_of(a).partition(a, kth, axis=axis)
    if axis is None:
        a, axis = ravel(a), 0
    order_ = xp_of(a.data).argpartition(a.data, kth, axis=axis)
    return take_along_axis(a, order_, axis)


def rot90(m, k=1, axes=(0, 1)):
    """NumPy's rot90, as flips and a transpose."""
    m = _tensorish(m)
    if len(axes) != 2:
        raise ValueError(f"rot90: axes must name two axes, got {axes!r}")
    a0, a1 = (_norm_axis(x, m.ndim, "rot90") for x in axes)
    if a0 == a1:
        raise ValueError(f"rot90: the axes must differ, got {axes!r}")
    k %= 4
    if k == 0:
        return m
    if k == 2:
        return flip(flip(m, a0), a1)
    perm = list(range(m.ndim))
    perm[a0], perm[a1] = perm[a1], perm[a0]
    if k == 1:
        return transpose(flip(m, a1), perm)
    return flip(transpose(m, perm), a1)


def _spacing_raw(h, name):
    if isinstance(h, Tensor):
        if h._rg or h._level:
            raise NotImplementedError(f"{name}: the spacing is taken as a constant; a spacing "
                                      "that carries a derivative is not supported (detach it)")
        return h.data
    return h


def _gradient_1d(f, h, axis, edge_order):
    """NumPy's second-order central differences along ``axis``, one-sided at the edges."""
    n = f.shape[axis]
    if n < edge_order + 1:
        raise ValueError(f"gradient: an axis of length {n} needs edge_order < {n} (got "
                         f"edge_order={edge_order}, shape {tuple(f.shape)})")

    def part(sl):
        return f[(slice(None),) * axis + (sl,)]

    def coef(c):  # a 1-d coefficient array broadcast along ``axis``
        c = xp_of(f.data).asarray(c, dtype=f.dtype)
        return reshape(c, (-1,) + (1,) * (f.ndim - axis - 1)) if _np.ndim(c) else c

    xp = xp_of(f.data)
    if _np.ndim(h) == 0:
        h = float(h)
        mid = (part(slice(2, None)) - part(slice(None, -2))) / (2.0 * h)
        if edge_order == 1:
            first = (part(slice(1, 2)) - part(slice(0, 1))) / h
            last = (part(slice(-1, None)) - part(slice(-2, -1))) / h
        else:
            first = (part(slice(0, 1)) * -1.5 + part(slice(1, 2)) * 2.0
                     - part(slice(2, 3)) * 0.5) / h
            last = (part(slice(-3, -2)) * 0.5 - part(slice(-2, -1)) * 2.0
                    + part(slice(-1, None)) * 1.5) / h
        return concatenate([first, mid, last], axis=axis)
    x = xp.asarray(h, dtype=f.dtype if f.dtype.kind == "f" else None)
    if x.shape != (n,):
        raise ValueError(f"gradient: coordinates of shape {tuple(x.shape)} for an axis of "
                         f"length {n}")
    dx = x[1:] - x[:-1]
    d1, d2 = dx[:-1], dx[1:]
    mid = (part(slice(None, -2)) * coef(-d2 / (d1 * (d1 + d2)))
           + part(slice(1, -1)) * coef((d2 - d1) / (d1 * d2))
           + part(slice(2, None)) * coef(d1 / (d2 * (d1 + d2))))
    if edge_order == 1:
        first = (part(slice(1, 2)) - part(slice(0, 1))) / coef(dx[:1])
        last = (part(slice(-1, None)) - part(slice(-2, -1))) / coef(dx[-1:])
    else:
        p, q = dx[:1], dx[1:2]
        first = (part(slice(0, 1)) * coef(-(2 * p + q) / (p * (p + q)))
                 + part(slice(1, 2)) * coef((p + q) / (p * q))
                 + part(slice(2, 3)) * coef(-p / (q * (p + q))))
        p, q = dx[-2:-1], dx[-1:]
        last = (part(slice(-3, -2)) * coef(q / (p * (p + q)))
                + part(slice(-2, -1)) * coef(-(q + p) / (p * q))
                + part(slice(-1, None)) * coef((2 * q + p) / (q * (p + q))))
    return concatenate([first, mid, last], axis=axis)


def gradient(f, *varargs, axis=None, edge_order=1):
    """NumPy's gradient (uniform spacings or coordinate arrays, edge_order 1 or 2),
    differentiable in ``f``; the spacings are constants."""
    f = _lift_sequence(f)
    if not isinstance(f, Tensor):
        return xp_of(_np.asarray(f) if not hasattr(f, "ndim") else f).gradient(
            f, *varargs, axis=axis, edge_order=edge_order)
    if edge_order not in (1, 2):
        raise ValueError(f"gradient: edge_order must be 1 or 2, got {edge_order}")
    axes = list(range(f.ndim)) if axis is None else [
        _norm_axis(x, f.ndim, "gradient") for x in _as_tuple(axis)]
    spacing = [_spacing_raw(h, "gradient") for h in varargs]
    if not spacing:
        spacing = [1.0] * len(axes)
    elif len(spacing) == 1 and _np.ndim(spacing[0]) == 0:
        spacing = spacing * len(axes)
    if len(spacing) != len(axes):
        raise TypeError(f"gradient: {len(spacing)} spacings for {len(axes)} axes")
    out = [_gradient_1d(f, h, ax, edge_order) for h, ax in zip(spacing, axes)]
    return out[0] if len(out) == 1 else tuple(out)


class _Concatenator:
    """``r_[...]`` and ``c_[...]``: NumPy's index-expression concatenation, differentiable when
    an item is a tensor (NumPy would turn the tensors into plain numbers)."""

    def __init__(self, name, axis, ndmin, trans1d):
        self.name, self.axis, self.ndmin, self.trans1d = name, axis, ndmin, trans1d

    def __getitem__(self, key):
        items = key if isinstance(key, tuple) else (key,)
        ref = _first_device_value(list(items))
        if ref is None:  # NumPy values only
            return getattr(_np, self.name)[key]
        axis, ndmin, trans1d = self.axis, self.ndmin, self.trans1d
        if isinstance(items[0], str):
            spec, items = items[0], items[1:]
            try:
                nums = [int(v) for v in spec.split(",")]
            except ValueError:
                raise NotImplementedError(f"{self.name}: the directive {spec!r} is not "
                                          "supported with tensors") from None
            axis, ndmin, trans1d = (nums + [ndmin, trans1d][len(nums) - 1:])[:3]
        parts = []
        for item in items:
            if isinstance(item, slice):
                item = _np.r_[item]
            item = _on_device_of(item, ref)
            parts.append(self._lift(item, ndmin, trans1d))
        return concatenate(parts, axis=axis)

    @staticmethod
    def _lift(item, ndmin, trans1d):
        nd = item.ndim
        if nd >= ndmin:
            return item
        item = reshape(item, (1,) * (ndmin - nd) + tuple(item.shape))
        if trans1d == -1:
            return item
        k1, k2 = trans1d, ndmin - nd
        if k1 < 0:
            k1 += k2 + 1
        axes = list(range(ndmin))
        return transpose(item, axes[:k1] + axes[k2:] + axes[k1:k2])


r_ = _Concatenator("r_", 0, 1, -1)
c_ = _Concatenator("c_", -1, 2, 0)


# NumPy 2's array-API names for functions above
acos, acosh, asin, asinh = arccos, arccosh, arcsin, arcsinh
atan, atan2, atanh = arctan, arctan2, arctanh
pow = power  # noqa: A001 (NumPy's name)
concat = concatenate
permute_dims = transpose
positive = _ew.copy


def astype(x, dtype, copy=True):
    """NumPy 2's astype function (float -> complex and back keep the derivative)."""
    if not isinstance(x, Tensor):
        return x.astype(dtype, copy=copy) if hasattr(x, "astype") else _np.asarray(x, dtype)
    return x.to(dtype)


def real_if_close(a, tol=100):
    """NumPy's real_if_close: the real part when every imaginary part is within ``tol``
    machine epsilons of zero (decided on the values; the derivative is real's)."""
    if not isinstance(a, Tensor):
        return xp_of(a).real_if_close(a, tol=tol) if hasattr(xp_of(a), "real_if_close") else (
            _np.real_if_close(a, tol=tol))
    if a.dtype.kind != "c":
        return a
    xp = xp_of(a.data)
    eps = _np.finfo(a.data.real.dtype).eps
    limit = tol * eps if tol > 1 else tol
    return real(a) if bool(xp.all(xp.abs(a.data.imag) < limit)) else a


def matrix_transpose(x):
    """NumPy 2's matrix_transpose: swap the last two axes."""
    return swapaxes(x, -1, -2)


def vecdot(x1, x2, axis=-1):
    """NumPy 2's vecdot: sum(conj(x1) * x2) along ``axis``."""
    return sum(multiply(conj(x1), x2), axis=axis)


def float_power(x1, x2):
    """NumPy's float_power: power computed in float64 (complex128 for complex input)."""
    if not _any_tensor((x1, x2)):
        return xp_of(_first_array([x1, x2])).float_power(x1, x2)
    kind = "c" if builtins.any(getattr(_raw(v), "dtype", _np.dtype(float)).kind == "c"
                               for v in (x1, x2)) else "f"
    target = _np.complex128 if kind == "c" else _np.float64
    return power(astype(_tensorish(x1), target), astype(_tensorish(x2), target)
                 if isinstance(x2, Tensor) else x2)


def dstack(tup):
    """NumPy's dstack, differentiable."""
    return concatenate(list(atleast_3d(*tup)) if len(tup) > 1 else [atleast_3d(tup[0])], axis=2)


def broadcast_arrays(*args):
    """NumPy's broadcast_arrays, differentiable."""
    shape = _np.broadcast_shapes(*[_np.shape(_raw(a)) for a in args])
    return tuple(broadcast_to(a, shape) if isinstance(a, Tensor) else xp_of(a).broadcast_to(
        a, shape) for a in args)


def unstack(x, axis=0):
    """NumPy 2's unstack: the slices along ``axis`` as a tuple."""
    x = _tensorish(x)
    ax = _norm_axis(axis, x.ndim, "unstack")
    return tuple(x[(slice(None),) * ax + (i,)] for i in range(x.shape[ax]))


def average(a, axis=None, weights=None, returned=False, keepdims=False):
    """NumPy's average, differentiable in ``a`` and ``weights``."""
    if not _any_tensor((a, weights)):
        return xp_of(a).average(a, axis=axis, weights=weights, returned=returned,
                                keepdims=keepdims)
    a = _tensorish(a)
    if weights is None:
        avg = mean(a, axis=axis, keepdims=keepdims)
        count = _np.prod([a.shape[i] for i in ([axis] if isinstance(axis, int) else
                          (axis or range(a.ndim)))]) * 1.0
        return (avg, full_like(avg, count)) if returned else avg
    w = _tensorish(weights)
    if w.shape != a.shape:
        if axis is None or w.ndim != 1:
            raise TypeError(f"average: weights of shape {tuple(w.shape)} differ from a's "
                            f"{tuple(a.shape)}; give axis= and 1-d weights")
        ax = _norm_axis(axis, a.ndim, "average")
        w = reshape(w, (-1,) + (1,) * (a.ndim - ax - 1))
        w = broadcast_to(w, tuple(a.shape))
    scl = sum(w, axis=axis, keepdims=keepdims)
    avg = sum(multiply(a, w), axis=axis, keepdims=keepdims) / scl
    return (avg, scl) if returned else avg


def ptp(a, axis=None, keepdims=False):
    """NumPy's ptp: max - min (ties share the gradient)."""
    return subtract(max(a, axis=axis, keepdims=keepdims), min(a, axis=axis, keepdims=keepdims))


def _cumulative(name, scan, initial_like, x, axis, include_initial):
    """NumPy 2's cumulative_sum/cumulative_prod: ``scan`` (cumsum or cumprod) along ``axis``
    (required beyond 1-d), led by the identity (``initial_like``: zeros_like or ones_like)
    when ``include_initial``."""
    x = _tensorish(x)
    if axis is None:
        if x.ndim > 1:
            raise ValueError(f"{name}: axis= is required for arrays of more than one "
                             "dimension")
        axis = 0
    out = scan(x, axis=axis)
    if include_initial:
        ax = _norm_axis(axis, x.ndim, name)
        first = initial_like(out[(slice(None),) * ax + (slice(0, 1),)])
        out = concatenate([first, out], axis=ax)
    return out


def cumulative_sum(x, axis=None, dtype=None, include_initial=False):
    """NumPy 2's cumulative_sum, differentiable."""
    return _cumulative("cumulative_sum", cumsum, zeros_like, x, axis, include_initial)


def ediff1d(ary, to_end=None, to_begin=None):
    """NumPy's ediff1d, differentiable."""
    a = ravel(_tensorish(ary))
    d = a[1:] - a[:-1]
    parts = ([ravel(_tensorish(to_begin))] if to_begin is not None else []) + [d] + (
        [ravel(_tensorish(to_end))] if to_end is not None else [])
    return concatenate(parts) if len(parts) > 1 else d


def _nan_reduction(name, reduce, fill):
    def fn(a, axis=None, dtype=None, out=None, keepdims=False):
        if not isinstance(a, Tensor):
            return getattr(xp_of(a), name)(a, axis=axis, dtype=dtype, out=out,
                                           keepdims=keepdims)
        # NaNs replaced by a constant: their derivative is 0
        return _with_out(reduce(where(xp_of(a.data).isnan(a.data), fill, a), axis=axis,
                                dtype=dtype, keepdims=keepdims), out, name)

    fn.__name__ = name
    fn.__doc__ = f"NumPy's {name}, differentiable (NaNs get no gradient)."
    return fn


nansum = _nan_reduction("nansum", sum, 0.0)
nanprod = _nan_reduction("nanprod", prod, 1.0)


def nanmean(a, axis=None, dtype=None, out=None, keepdims=False):
    """NumPy's nanmean, differentiable (NaNs get no gradient)."""
    if not isinstance(a, Tensor):
        return xp_of(a).nanmean(a, axis=axis, dtype=dtype, out=out, keepdims=keepdims)
    ok = ~xp_of(a.data).isnan(a.data)
    count = ok.sum(axis=axis, keepdims=keepdims)
    return _with_out(nansum(a, axis=axis, keepdims=keepdims) / count, out, "nanmean")


def fmod(x1, x2):
    """NumPy's fmod, as x1 - trunc(x1 / x2) * x2 (exact; derivative 1 and -trunc(x1 / x2))."""
    if not _any_tensor((x1, x2)):
        return xp_of(_first_array([x1, x2])).fmod(x1, x2)
    return x1 - trunc(x1 / x2) * x2


def modf(x):
    """NumPy's modf: (fractional part, integral part); the integral part has derivative 0."""
    if not isinstance(x, Tensor):
        return xp_of(x).modf(x)
    whole = trunc(x)
    return x - whole, whole


def copysign(x1, x2):
    """NumPy's copysign: |x1| with the sign bit of x2 (derivative in x1 only)."""
    if not _any_tensor((x1, x2)):
        return xp_of(_first_array([x1, x2])).copysign(x1, x2)
    xp = xp_of(_raw(_first_tensor([x1, x2])))
    negative_ = xp.signbit(xp.asarray(_raw(x2)))
    return where(negative_, -abs(x1), abs(x1))


def ldexp(x1, x2):
    """NumPy's ldexp: x1 * 2 ** x2 for integer x2 (differentiable in x1)."""
    if isinstance(x2, Tensor) and (x2._rg or x2._level):
        raise TypeError("ldexp: the exponent is an integer and carries no derivative")
    if not isinstance(x1, Tensor):
        return xp_of(x1).ldexp(x1, _raw(x2)) if hasattr(x1, "ndim") else _np.ldexp(x1, _raw(x2))
    exponent = _raw(x2)
    return multiply(x1, xp_of(x1.data).ldexp(xp_of(x1.data).ones_like(x1.data), exponent))


def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    """NumPy's meshgrid, differentiable (broadcasts of reshaped inputs)."""
    if not _any_tensor(xi):
        return xp_of(_first_array(list(xi))).meshgrid(*xi, copy=copy, sparse=sparse,
                                                      indexing=indexing)
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    xs = [ravel(_tensorish(x)) for x in xi]
    nd = len(xs)
    shapes = [[1] * nd for _ in xs]
    for i, x in enumerate(xs):
        shapes[i][i] = x.shape[0]
    if indexing == "xy" and nd > 1:
        for s in shapes:
            s[0], s[1] = s[1], s[0]
    out = [reshape(x, tuple(s)) for x, s in zip(xs, shapes)]
    if not sparse:
        full_shape = _np.broadcast_shapes(*[tuple(s) for s in shapes])
        out = [_ew.copy(broadcast_to(o, full_shape)) if copy else broadcast_to(o, full_shape)
               for o in out]
    return tuple(out)




def diagflat(v, k=0):
    """NumPy's diagflat: the flattened input on the k-th diagonal."""
    return diag(ravel(_tensorish(v)), k)


def compress(condition, a, axis=None):
    """NumPy's compress, as boolean indexing."""
    a = _tensorish(a)
    cond = _np.asarray(condition, dtype=bool) if not hasattr(condition, "dtype") else _raw(
        condition)
    if cond.dtype != bool:  # NumPy takes a condition's truth values (nonzero), not indices
        cond = cond != 0
    if axis is None:
        return ravel(a)[cond]
    ax = _norm_axis(axis, a.ndim, "compress")
    return a[(slice(None),) * ax + (cond,)]


def polyval(p, x):
    """NumPy's polyval by Horner's rule, differentiable in the coefficients and in x."""
    if not _any_tensor((p, x)) and not _contains_tensor(p):
        return xp_of(_first_array([p, x])).polyval(p, x)
    p = _tensorish(_lift_sequence(p))
    y = zeros_like(x) if isinstance(x, Tensor) else 0.0
    for i in range(p.shape[0]):
        y = y * x + p[i]
    return y


def median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """NumPy's median: the mean of the middle element(s) of the sorted values."""
    if not isinstance(a, Tensor):
        return xp_of(a).median(a, axis=axis, out=out, keepdims=keepdims)
    if axis is None:
        s, ax = sort(ravel(a)), 0
    else:
        ax = _norm_axis(axis, a.ndim, "median")
        s = sort(a, axis=ax)
    n = s.shape[ax]
    lead = (slice(None),) * ax
    mid = s[lead + (slice((n - 1) // 2, n // 2 + 1),)]
    m = mean(mid, axis=ax, keepdims=True)
    if keepdims:
        m = reshape(m, (1,) * a.ndim) if axis is None else m
    else:
        m = squeeze(m, ax) if axis is not None else reshape(m, ())
    return _with_out(m, out, "median")


def _nan_minmax(name, fill):
    def fn(a, axis=None, out=None, keepdims=False):
        if not isinstance(a, Tensor):
            return getattr(xp_of(a), name)(a, axis=axis, out=out, keepdims=keepdims)
        return _with_out(getattr(_thismodule(), name[3:])(
            where(xp_of(a.data).isnan(a.data), fill, a), axis=axis, keepdims=keepdims),
            out, name)

    fn.__name__ = name
    fn.__doc__ = f"NumPy's {name}, differentiable (NaNs get no gradient)."
    return fn


def _thismodule():
    import sys

    return sys.modules[__name__]


nanmax = _nan_minmax("nanmax", -_np.inf)
nanmin = _nan_minmax("nanmin", _np.inf)


def nancumsum(a, axis=None, dtype=None):
    """NumPy's nancumsum, differentiable (NaNs count as 0 and get no gradient)."""
    if not isinstance(a, Tensor):
        return xp_of(a).nancumsum(a, axis=axis, dtype=dtype)
    return cumsum(where(xp_of(a.data).isnan(a.data), 0.0, a), axis=axis)


def matvec(x1, x2):
    """NumPy 2's matvec: matrix (..., m, n) times vector (..., n)."""
    return squeeze(matmul(x1, expand_dims(x2, -1)), -1)


def vecmat(x1, x2):
    """NumPy 2's vecmat: conj(vector) (..., m) times matrix (..., m, n)."""
    return squeeze(matmul(expand_dims(conj(x1), -2), x2), -2)


def _sliding(a, v, mode, name):
    """Full/same/valid 1-d convolution of a and v as a gather into a window matrix and a
    matrix-vector product (exact, differentiable in both)."""
    a, v = _tensorish(_lift_sequence(a)), _tensorish(_lift_sequence(v))
    if a.ndim != 1 or v.ndim != 1 or a.shape[0] == 0 or v.shape[0] == 0:
        raise ValueError(f"{name}: needs two non-empty 1-d arrays, got shapes "
                         f"{tuple(a.shape)} and {tuple(v.shape)}")
    if v.shape[0] > a.shape[0]:
        a, v = v, a
    n, m = a.shape[0], v.shape[0]
    padded = pad(a, (m - 1, m - 1))
    full_n = n + m - 1
    idx = _np.arange(full_n)[:, None] + _np.arange(m)[None, :]
    xp = xp_of(_raw(padded))
    windows = padded[xp.asarray(idx)]
    full_out = matmul(windows, flip(v, 0))
    if mode == "full":
        return full_out
    if mode == "same":
        start = (m - 1) // 2
        return full_out[start:start + n]
    if mode == "valid":
        return full_out[m - 1:n]
    raise ValueError(f"{name}: mode must be 'full', 'same' or 'valid', got {mode!r}")


def convolve(a, v, mode="full"):
    """NumPy's convolve, differentiable in both inputs."""
    if not _any_tensor((a, v)):
        return xp_of(_first_array([a, v])).convolve(a, v, mode=mode)
    return _sliding(a, v, mode, "convolve")


def correlate(a, v, mode="valid"):
    """NumPy's correlate: convolve(a, conj(v[::-1]))."""
    if not _any_tensor((a, v)):
        return xp_of(_first_array([a, v])).correlate(a, v, mode=mode)
    v = _tensorish(_lift_sequence(v))
    a = _tensorish(_lift_sequence(a))
    if v.shape[0] > a.shape[0]:  # NumPy: correlate(a, v) = correlate(v, a)[::-1].conj() form
        return flip(conj(_sliding(v, flip(conj(a), 0), mode, "correlate")), 0)
    return _sliding(a, flip(conj(v), 0), mode, "correlate")


# ==== BEGIN: default device, differentiable linspace, autograd's names (autograd_compat) ===
from ._device import (  # noqa: E402,F401  (replace the names above: same behaviour on the cpu)
    arange,
    array,  # noqa: F811
    asarray,  # noqa: F811
    empty,
    eye,
    full,  # noqa: F811
    full_like,  # noqa: F811
    geomspace,
    identity,
    linspace,  # noqa: F811
    logspace,
    make_diagonal,
    ones,
    ones_like,  # noqa: F811
    tri,
    zeros,
    zeros_like,  # noqa: F811
)

__version__ = _np.__version__  # autograd.numpy.__version__ is NumPy's version too
# ==== END: default device ==================================================================


# ==== more of NumPy, differentiable (second batch) ===========================================
def _plus_constant(x, target):
    """``x`` plus the constant ``target - x`` (computed on the values): the value of
    ``target`` with the derivative of the identity (unwrap adds multiples of the period)."""
    return add(x, _raw(target) - _raw(x))


def unwrap(p, discont=None, axis=-1, *, period=2 * _np.pi):
    """NumPy's unwrap: adds multiples of ``period`` (constants), so the derivative is 1."""
    if not isinstance(p, Tensor):
        return xp_of(p).unwrap(p, discont=discont, axis=axis, period=period)
    return _plus_constant(p, xp_of(p.data).unwrap(p.data, discont=discont, axis=axis,
                                                  period=period))


def divmod(x1, x2):  # noqa: A001 (NumPy's name)
    """NumPy's divmod: (floor_divide, remainder); the quotient has derivative 0."""
    return floor_divide(x1, x2), remainder(x1, x2)


def extract(condition, arr):
    """NumPy's extract: ravel(arr)[ravel(condition)], differentiable in ``arr``."""
    arr = _tensorish(arr)
    cond = _raw(condition)
    if not hasattr(cond, "dtype"):
        cond = xp_of(_raw(arr)).asarray(cond)
    return ravel(arr)[ravel(cond).astype(bool)]


def delete(arr, obj, axis=None):
    """NumPy's delete, as indexing with the kept positions."""
    if not isinstance(arr, Tensor):
        return xp_of(arr).delete(arr, _raw(obj), axis=axis)
    if axis is None:
        arr, axis = ravel(arr), 0
    ax = _norm_axis(axis, arr.ndim, "delete")
    keep = _np.delete(_np.arange(arr.shape[ax]), _to_host_index(obj), 0)
    return arr[(slice(None),) * ax + (xp_of(arr.data).asarray(keep),)]


def _to_host_index(obj):
    raw = _raw(obj)
    if isinstance(raw, _CUPY_ARRAY):
        return raw.get()
    return raw


def vander(x, N=None, increasing=False):
    """NumPy's Vandermonde matrix, as powers of x (differentiable)."""
    x = _tensorish(_lift_sequence(x))
    n = x.shape[0] if N is None else N
    powers = _np.arange(n) if increasing else _np.arange(n - 1, -1, -1)
    cols = [ones_like(x) if k == 0 else x ** int(k) for k in powers]
    return stack(cols, axis=1)


def nanvar(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    """NumPy's nanvar, differentiable (NaNs get no gradient)."""
    if not isinstance(a, Tensor):
        return xp_of(a).nanvar(a, axis=axis, dtype=dtype, out=out, ddof=ddof,
                               keepdims=keepdims)
    xp = xp_of(a.data)
    missing = xp.isnan(a.data)
    count = (~missing).sum(axis=axis, keepdims=keepdims)
    d = where(missing, 0.0, a - nanmean(a, axis=axis, keepdims=True))
    sq = real(d * conj(d)) if d.dtype.kind == "c" else d * d
    return _with_out(sum(sq, axis=axis, keepdims=keepdims) / (count - ddof), out, "nanvar")


def nanstd(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    """NumPy's nanstd, differentiable (0 at zero spread, like std)."""
    if not isinstance(a, Tensor):
        return xp_of(a).nanstd(a, axis=axis, dtype=dtype, out=out, ddof=ddof,
                               keepdims=keepdims)
    return _with_out(_red._sqrt_kink0(nanvar(a, axis=axis, ddof=ddof, keepdims=keepdims)), out,
                     "nanstd")


def cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None, *,
        dtype=None):
    """NumPy's cov (without fweights/aweights), differentiable."""
    if not _any_tensor((m, y)):
        return xp_of(m).cov(m, y, rowvar=rowvar, bias=bias, ddof=ddof, fweights=fweights,
                            aweights=aweights, dtype=dtype)
    if fweights is not None or aweights is not None:
        raise NotImplementedError("cov: fweights/aweights are not supported with tensors")
    x = atleast_2d(_tensorish(m))
    if not rowvar and x.shape[0] != 1:
        x = transpose(x)
    if y is not None:
        yy = atleast_2d(_tensorish(y))
        if not rowvar and yy.shape[0] != 1:
            yy = transpose(yy)
        x = concatenate([x, yy], axis=0)
    if ddof is None:
        ddof = 0 if bias else 1
    n = x.shape[1]
    d = x - mean(x, axis=1, keepdims=True)
    c = matmul(d, transpose(conj(d))) / (n - ddof)
    return squeeze(c) if c.shape == (1, 1) else c


def corrcoef(x, y=None, rowvar=True, *, dtype=None):
    """NumPy's corrcoef, differentiable."""
    if not _any_tensor((x, y)):
        return xp_of(x).corrcoef(x, y, rowvar=rowvar, dtype=dtype)
    c = cov(x, y, rowvar=rowvar)
    if c.ndim == 0:
        return c / c
    s = sqrt(real(diagonal(c)))
    c = c / reshape(s, (-1, 1)) / reshape(s, (1, -1))
    return c if c.dtype.kind == "c" else clip(c, -1, 1)


def _poly1d(p):
    return _tensorish(_lift_sequence(p)) if _contains_tensor(p) or isinstance(p, Tensor) else (
        p if hasattr(p, "ndim") else _np.asarray(p))


def _poly_pad(p, n):
    k = n - p.shape[0]
    return pad(p, (k, 0)) if k > 0 else p


def _poly_elementwise(name, op, a1, a2):
    """polyadd/polysub: NumPy's ``name`` on plain arrays, else ``op`` of the two coefficient
    arrays padded to one length."""
    if not _any_tensor((a1, a2)) and not _contains_tensor([a1, a2]):
        return getattr(xp_of(_first_array([a1, a2])), name)(a1, a2)
    a1, a2 = _tensorish(_poly1d(a1)), _tensorish(_poly1d(a2))
    n = builtins.max(a1.shape[0], a2.shape[0])
    return op(_poly_pad(a1, n), _poly_pad(a2, n))


def polyadd(a1, a2):
    """NumPy's polyadd for coefficient arrays, differentiable."""
    return _poly_elementwise("polyadd", add, a1, a2)


def polysub(a1, a2):
    """NumPy's polysub for coefficient arrays, differentiable."""
    return _poly_elementwise("polysub", subtract, a1, a2)


def polymul(a1, a2):
    """NumPy's polymul for coefficient arrays: their convolution."""
    if not _any_tensor((a1, a2)) and not _contains_tensor([a1, a2]):
        return xp_of(_first_array([a1, a2])).polymul(a1, a2)
    return convolve(_poly1d(a1), _poly1d(a2))


def polyder(p, m=1):
    """NumPy's polyder for a coefficient array, differentiable."""
    if _first_device_value(p) is None:  # NumPy values (CuPy has no polyder)
        return _np.polyder(p, m)
    p = _tensorish(_poly1d(p))
    for _ in range(m):
        n = p.shape[0] - 1
        if n <= 0:
            return p[:1] * 0
        p = p[:-1] * xp_of(_raw(p)).arange(n, 0, -1, dtype=p.dtype)
    return p


def polyint(p, m=1, k=None):
    """NumPy's polyint for a coefficient array (integration constants k), differentiable."""
    if _first_device_value([p, k]) is None:  # NumPy values (CuPy has no polyint)
        return _np.polyint(p, m, k)
    p = _tensorish(_poly1d(p))
    ks = [0.0] * m if k is None else (list(k) if isinstance(k, (list, tuple)) else [k])
    if len(ks) == 1 and m > 1:
        ks = ks * m
    for i in range(m):
        n = p.shape[0]
        p = p / xp_of(_raw(p)).arange(n, 0, -1, dtype=p.dtype)
        c = ks[i] if isinstance(ks[i], Tensor) else xp_of(_raw(p)).asarray(_raw(ks[i]),
                                                                            dtype=p.dtype)
        p = concatenate([p, reshape(c, (1,))])
    return p


def cumprod(a, axis=None, dtype=None):
    """NumPy's cumprod as prod over a triangular grid: exact at zeros and differentiable to any
    order (through prod's zero-aware rules), at O(n^2) work along the axis."""
    if not isinstance(a, Tensor):
        return xp_of(a).cumprod(a, axis=axis, dtype=dtype)
    if axis is None:
        a, axis = ravel(a), 0
    ax = _norm_axis(axis, a.ndim, "cumprod")
    n = a.shape[ax]
    x = moveaxis(a, ax, -1)
    xp = xp_of(a.data)
    upto = xp.tril(xp.ones((n, n), dtype=bool))  # row i keeps elements k <= i
    grid = where(upto, expand_dims(x, -2), 1)
    return moveaxis(prod(grid, axis=-1), -1, ax)


def cumulative_prod(x, axis=None, dtype=None, include_initial=False):
    """NumPy 2's cumulative_prod, differentiable."""
    return _cumulative("cumulative_prod", cumprod, ones_like, x, axis, include_initial)


def nancumprod(a, axis=None, dtype=None):
    """NumPy's nancumprod, differentiable (NaNs count as 1 and get no gradient)."""
    if not isinstance(a, Tensor):
        return xp_of(a).nancumprod(a, axis=axis, dtype=dtype)
    return cumprod(where(xp_of(a.data).isnan(a.data), 1.0, a), axis=axis)


def quantile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
             keepdims=False, *, weights=None):
    """NumPy's quantile with the default 'linear' method: sort, then interpolate between the
    two neighbouring order statistics (differentiable in ``a``; ``q`` is a constant)."""
    if not isinstance(a, Tensor):
        return xp_of(a).quantile(a, q, axis=axis, out=out, method=method, keepdims=keepdims)
    if method != "linear" or weights is not None:
        raise NotImplementedError(f"quantile: only method='linear' without weights is "
                                  f"differentiable here, got method={method!r}")
    if axis is None:
        s, ax = sort(ravel(a)), 0
    else:
        ax = _norm_axis(axis, a.ndim, "quantile")
        s = moveaxis(sort(a, axis=ax), ax, 0)
    n = s.shape[0]
    qh = _np.asarray(_to_host_index(q), dtype=_np.float64)
    pos = qh * (n - 1)
    lo = _np.floor(pos).astype(_np.int64)
    hi = _np.minimum(lo + 1, n - 1)
    frac = pos - lo
    xp = xp_of(a.data)
    lo_v = s[xp.asarray(lo.reshape(-1))]
    hi_v = s[xp.asarray(hi.reshape(-1))]
    f = xp.asarray(frac.reshape((-1,) + (1,) * (s.ndim - 1)), dtype=a.dtype)
    r = reshape(lo_v + (hi_v - lo_v) * f, qh.shape + tuple(s.shape[1:]))
    if keepdims:
        k = qh.ndim
        if axis is None:
            r = reshape(r, qh.shape + (1,) * a.ndim)
        else:
            r = expand_dims(r, k + ax)
    return _with_out(r, out, "quantile")


def percentile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
               keepdims=False, *, weights=None):
    """NumPy's percentile: quantile at q / 100."""
    if not isinstance(a, Tensor):
        return xp_of(a).percentile(a, q, axis=axis, out=out, method=method, keepdims=keepdims)
    return quantile(a, _np.asarray(_to_host_index(q), dtype=_np.float64) / 100.0, axis=axis,
                    out=out, method=method, keepdims=keepdims, weights=weights)


def interp(x, xp, fp, left=None, right=None, period=None):
    """NumPy's interp, differentiable in ``fp`` and ``x`` (the breakpoints ``xp`` are
    constants)."""
    if not _any_tensor((x, xp, fp)):
        return xp_of(_first_array([x, xp, fp])).interp(x, xp, fp, left=left, right=right,
                                                       period=period)
    if isinstance(xp, Tensor) and (xp._rg or xp._level):
        raise NotImplementedError("interp: the breakpoints xp are constants; detach them")
    if period is not None:
        raise NotImplementedError("interp: period= is not supported with tensors")
    ref = _first_tensor([x, fp])
    arr = xp_of(_raw(ref))
    xs = _on_device_of(x, ref)
    fp = _on_device_of(fp, ref)
    bp = arr.asarray(_raw(xp))
    n = bp.shape[0]
    xr = _raw(xs)
    j = arr.clip(arr.searchsorted(bp, xr, side="right") - 1, 0, n - 2)
    x0, x1 = bp[j], bp[j + 1]
    t = (xs - x0) / (x1 - x0)
    f0, f1 = take(fp, j), take(fp, j + 1)
    y = f0 + (f1 - f0) * t
    lo = take(fp, 0) if left is None else left
    hi = take(fp, n - 1) if right is None else right
    y = where(xr < bp[0], lo, y)
    return where(xr > bp[-1], hi, y)


def trim_zeros(filt, trim="fb", axis=None):
    """NumPy's trim_zeros for 1-d input, as a slice (differentiable)."""
    if not isinstance(filt, Tensor):
        return xp_of(filt).trim_zeros(filt, trim) if axis is None else _np.trim_zeros(
            filt, trim, axis=axis)
    if filt.ndim != 1 or axis is not None:
        raise NotImplementedError("trim_zeros: only 1-d tensors without axis= are supported")
    nz = _np.flatnonzero(_to_host_index(filt.data) if isinstance(filt.data, _CUPY_ARRAY)
                         else filt.data)
    if nz.size == 0:
        return filt[:0]
    start = int(nz[0]) if "f" in trim.lower() else 0
    stop = int(nz[-1]) + 1 if "b" in trim.lower() else filt.shape[0]
    return filt[start:stop]


def sort_complex(a):
    """NumPy's sort_complex: lexicographic by real then imaginary part, as a complex result."""
    if not isinstance(a, Tensor):
        return xp_of(a).sort_complex(a)
    xp = xp_of(a.data)
    order = xp.lexsort((a.data.imag, a.data.real)) if a.dtype.kind == "c" else xp.argsort(
        a.data)
    out = a[order]
    return out if out.dtype.kind == "c" else astype(out, _np.result_type(out.dtype, 1j))


def resize(a, new_shape):
    """NumPy's resize: the flattened values repeated to fill ``new_shape`` (a gather)."""
    if not isinstance(a, Tensor):
        return xp_of(a).resize(a, new_shape)
    shape = (new_shape,) if isinstance(new_shape, int) else tuple(new_shape)
    size = math.prod(shape)
    flat = ravel(a)
    if flat.shape[0] == 0 or size == 0:
        return reshape(flat[:0], (0,)) if size == 0 else zeros_like(flat)
    idx = xp_of(a.data).arange(size) % flat.shape[0]
    return reshape(flat[idx], shape)


def choose(a, choices, out=None, mode="raise"):
    """NumPy's choose (mode 'raise'), as nested wheres: differentiable in the choices."""
    if not _contains_tensor(list(choices) if isinstance(choices, (list, tuple)) else [choices]):
        return xp_of(_first_array([a])).choose(a, choices, out=out, mode=mode)
    if mode != "raise":
        raise NotImplementedError("choose: only mode='raise' is supported with tensors")
    idx = _raw(a)
    choices = list(choices)
    xp = xp_of(_raw(_first_tensor(choices)))
    idx = xp.asarray(idx)
    if bool(xp.any((idx < 0) | (idx >= len(choices)))):
        raise ValueError(f"choose: an index is out of range for {len(choices)} choices")
    result = _tensorish(choices[-1])
    for i in range(len(choices) - 2, -1, -1):
        result = where(idx == i, choices[i], result)
    shape = _np.broadcast_shapes(tuple(idx.shape), *[_np.shape(_raw(c)) for c in choices])
    result = broadcast_to(result, shape) if tuple(result.shape) != shape else result
    return _with_out(result, out, "choose")


def block(arrays):
    """NumPy's block for nested lists, as nested concatenations (differentiable)."""
    if _first_device_value(arrays) is None:  # NumPy values (CuPy has no block)
        return _np.block(arrays)

    def depth(x):
        return 1 + depth(x[0]) if isinstance(x, list) and x else 0

    d = depth(arrays)
    items = []

    def leaves(x):
        if isinstance(x, list):
            for v in x:
                leaves(v)
        else:
            items.append(x)

    leaves(arrays)
    ref = _first_device_value(items)
    nd = builtins.max(d, *[_np.ndim(_raw(v)) for v in items])

    def build(x, level):
        if not isinstance(x, list):
            v = _tensorish(_on_device_of(x, ref))
            return reshape(v, (1,) * (nd - v.ndim) + tuple(v.shape)) if v.ndim < nd else v
        return concatenate([build(v, level + 1) for v in x], axis=-(d - level))

    return build(arrays, 0)
