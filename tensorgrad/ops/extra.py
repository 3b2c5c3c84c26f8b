"""More primitives for tensorgrad.numpy: cumsum, einsum, more elementwise functions, and
composites built from differentiable indexing (sort, repeat, tile, roll, pad, take_along_axis).

Rules follow HIPS autograd's convention for complex numbers: the VJP of a holomorphic function
is ``g * f'(z)`` (no conjugate) and the VJP of a linear map is its transpose.
"""

import math
import string

import numpy as np

from ..backend.device import move_host_arrays, xp_of
from ..tensor import Tensor, _norm_axis, _raw
from .elementwise import _ufunc_prim, cos, half_as_float, sigmoid, sqrt, where
from .index import getitem, untake
from .reduce import sum as _sum
from .registry import _describe, defjvp, defvjp, primitive
from .shape import _EveryArg, broadcast_to, reshape


def _xp(x):
    return xp_of(_raw(x))


def _flip(x, axis):
    return getitem(x, (slice(None),) * axis + (slice(None, None, -1),))


# ---- cumsum ------------------------------------------------------------------------------
@primitive(saves=False)
@half_as_float
def cumsum(x, axis):
    """Cumulative sum along ``axis`` (a non-negative int); the adjoint is a reversed cumsum."""
    return xp_of(x).cumsum(x, axis=axis)


defvjp(cumsum, lambda g, ans, x, axis: _flip(cumsum(_flip(g, axis), axis), axis))
defjvp(cumsum, lambda t, ans, x, axis: cumsum(t, axis))
cumsum.prim.amp = "fp32"  # autocast (tensorgrad.amp): PyTorch's float32 list


# ---- einsum ------------------------------------------------------------------------------
def _fresh_letters(used):
    for c in string.ascii_letters:
        if c not in used:
            yield c


def _normalize_subscripts(subscripts, shapes):
    """Explicit subscripts without '...' (ellipsis dimensions get letters of their own)."""
    subs = subscripts.replace(" ", "")
    if "->" in subs:
        lhs, out = subs.split("->")
    else:
        lhs, out = subs, None
    ins = lhs.split(",")
    if len(ins) != len(shapes):
        raise ValueError(f"einsum: {len(ins)} operand subscripts in {subscripts!r} but "
                         f"{len(shapes)} operands")
    fresh = _fresh_letters(set(subs))
    ell_nd = 0
    for s, shp in zip(ins, shapes):
        if "..." in s:
            ell_nd = max(ell_nd, len(shp) - (len(s) - 3))
    ell = [next(fresh) for _ in range(ell_nd)]
    lists = []
    for s, shp in zip(ins, shapes):
        if "..." in s:
            pre, post = s.split("...")
            k = len(shp) - len(pre) - len(post)
            letters = list(pre) + ell[ell_nd - k:] + list(post)
        else:
            letters = list(s)
        if len(letters) != len(shp) or not all(c.isalpha() for c in letters):
            raise ValueError(f"einsum: subscripts {s!r} do not fit an operand of shape "
                             f"{tuple(shp)}")
        lists.append("".join(letters))
    if out is None:
        named = [c for s in ins for c in s.replace("...", "")]
        once = sorted(c for c in set(named) if named.count(c) == 1)
        out = "".join(ell) + "".join(once)
    else:
        out = out.replace("...", "".join(ell))
    return ",".join(lists) + "->" + out


@primitive
def einsum_(subscripts, *operands):
    """einsum with explicit subscripts free of '...' (see :func:`einsum`)."""
    xp = xp_of(operands[0])
    if xp is np and len(operands) > 2:
        return np.einsum(subscripts, *operands, optimize=True)
    return xp.einsum(subscripts, *operands)


def _letter_sizes(ins, operands):
    sizes = {}
    for s, op in zip(ins, operands):
        for c, n in zip(s, np.shape(op)):  # a 0-d operand may arrive as a Python float
            sizes[c] = max(sizes.get(c, 1), n)
    return sizes


def _einsum_vjp(g, subscripts, operands, i):
    """The cotangent of operand ``i``: an einsum of ``g`` with the other operands, plus a ones
    vector for each index summed over in operand ``i`` alone and an identity for each index that
    operand ``i`` repeats (a diagonal)."""
    lhs, out = subscripts.split("->")
    ins = lhs.split(",")
    sizes = _letter_sizes(ins, operands)
    own = ins[i]
    others = [ins[j] for j in range(len(ins)) if j != i]
    avail = set(out).union(*others)
    fresh = _fresh_letters(set(subscripts))
    raw_g = _raw(g)
    xp = xp_of(raw_g)
    extra_subs, extra_ops = [], []
    for c in dict.fromkeys(own):
        if c not in avail:
            extra_subs.append(c)
            extra_ops.append(xp.ones(sizes[c], dtype=raw_g.dtype))
    target = []
    for c in own:
        if c in target:
            f = next(fresh)
            extra_subs.append(c + f)
            extra_ops.append(xp.eye(sizes[c], dtype=raw_g.dtype))
            c = f
        target.append(c)
    new = ",".join([out] + others + extra_subs) + "->" + "".join(target)
    rest = [operands[j] for j in range(len(operands)) if j != i]
    return einsum_(new, g, *rest, *extra_ops)


def _einsum_jvp(t, subscripts, operands, i):
    ops = list(operands)
    ops[i] = t
    return einsum_(subscripts, *ops)


einsum_.prim.vjps = _EveryArg(
    lambda i: lambda g, ans, subscripts, *ops: _einsum_vjp(g, subscripts, ops, i - 1))
einsum_.prim.jvps = _EveryArg(
    lambda i: lambda t, ans, subscripts, *ops: _einsum_jvp(t, subscripts, ops, i - 1))
einsum_.prim.amp = "lower"  # autocast (tensorgrad.amp)


def einsum(subscripts, *operands):
    """NumPy's einsum (explicit '->' or implicit output, '...' allowed), differentiable in every
    operand.

    >>> import numpy as np
    >>> einsum("ij,jk", np.eye(2), np.ones((2, 3))).shape
    (2, 3)
    """
    if not isinstance(subscripts, str):
        raise TypeError("einsum: only the subscripts-string form is supported")
    operands = [op if hasattr(op, "shape") else np.asarray(op) for op in operands]
    explicit = _normalize_subscripts(subscripts, [op.shape for op in operands])
    return einsum_(explicit, *operands)


# ---- more elementwise functions ------------------------------------------------------------
arcsin = _ufunc_prim(np.arcsin)
arccos = _ufunc_prim(np.arccos)
arctan = _ufunc_prim(np.arctan)
sinh = _ufunc_prim(np.sinh)
cosh = _ufunc_prim(np.cosh)
arcsinh = _ufunc_prim(np.arcsinh)
arccosh = _ufunc_prim(np.arccosh)
arctanh = _ufunc_prim(np.arctanh)
log2 = _ufunc_prim(np.log2)
log10 = _ufunc_prim(np.log10)
exp2 = _ufunc_prim(np.exp2)
reciprocal = _ufunc_prim(np.reciprocal)
logaddexp = _ufunc_prim(np.logaddexp)
logaddexp2 = _ufunc_prim(np.logaddexp2)
arctan2 = _ufunc_prim(np.arctan2)
hypot = _ufunc_prim(np.hypot)
cbrt = _ufunc_prim(np.cbrt)
deg2rad = _ufunc_prim(np.deg2rad, saves=False)
rad2deg = _ufunc_prim(np.rad2deg, saves=False)
for _f in (arcsin, arccos, sinh, cosh, log2, log10, reciprocal):
    _f.prim.amp = "fp32"  # autocast (tensorgrad.amp): PyTorch's float32 list


@primitive
@half_as_float
def sinc(x):
    return xp_of(x).sinc(x)


_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_D2R = math.pi / 180.0


def _sinc_d(x, ans):
    # d/dx sin(pi x) / (pi x) = (cos(pi x) - sinc(x)) / x, and 0 at x = 0
    zero = x == 0
    safe = where(zero, 1.0, x)
    return where(zero, 0.0, (cos(safe * math.pi) - ans) / safe)


def _unary(prim, d):
    """VJP and JVP of an elementwise function from its derivative ``d(x, ans)``."""
    defvjp(prim, lambda g, ans, x: g * d(x, ans))
    defjvp(prim, lambda t, ans, x: t * d(x, ans))


_unary(arcsin, lambda x, ans: 1 / sqrt(1 - x * x))
_unary(arccos, lambda x, ans: -1 / sqrt(1 - x * x))
_unary(arctan, lambda x, ans: 1 / (1 + x * x))
_unary(sinh, lambda x, ans: cosh(x))
_unary(cosh, lambda x, ans: sinh(x))
_unary(arcsinh, lambda x, ans: 1 / sqrt(x * x + 1))
# complex x: sqrt(x - 1) sqrt(x + 1), the principal branch off the real axis (sqrt(x * x - 1)
# is another one); real x: sqrt(x * x - 1), finite below -1 as PyTorch's, so that entries
# outside the domain (NaN) masked out of a loss give 0, not NaN, times their zero cotangent
_unary(arccosh, lambda x, ans: 1 / (sqrt(x - 1) * sqrt(x + 1)) if x.dtype.kind == "c"
       else 1 / sqrt(x * x - 1))
_unary(arctanh, lambda x, ans: 1 / (1 - x * x))
_unary(log2, lambda x, ans: 1 / (x * _LN2))
_unary(log10, lambda x, ans: 1 / (x * _LN10))
_unary(exp2, lambda x, ans: ans * _LN2)
_unary(reciprocal, lambda x, ans: -(ans * ans))
_unary(cbrt, lambda x, ans: 1 / (3 * ans * ans))
_unary(sinc, _sinc_d)
defvjp(deg2rad, lambda g, ans, x: g * _D2R)
defjvp(deg2rad, lambda t, ans, x: t * _D2R)
defvjp(rad2deg, lambda g, ans, x: g / _D2R)
defjvp(rad2deg, lambda t, ans, x: t / _D2R)


def _binary(prim, dx, dy):
    """VJP and JVP of an elementwise binary function from its partial derivatives."""
    defvjp(prim, lambda g, ans, x, y: g * dx(x, y, ans), lambda g, ans, x, y: g * dy(x, y, ans))
    defjvp(prim, lambda t, ans, x, y: t * dx(x, y, ans), lambda t, ans, x, y: t * dy(x, y, ans))


# sigmoid(x - y), PyTorch's 1 / (1 + exp(y - x)): 1 at x = inf, where exp(x - ans) is NaN
_binary(logaddexp, lambda x, y, ans: sigmoid(x - y), lambda x, y, ans: sigmoid(y - x))
_binary(logaddexp2, lambda x, y, ans: sigmoid((x - y) * _LN2),
        lambda x, y, ans: sigmoid((y - x) * _LN2))
# arctan2(y, x): the first argument is y
_binary(arctan2, lambda y, x, ans: x / (x * x + y * y), lambda y, x, ans: -y / (x * x + y * y))
_binary(hypot, lambda x, y, ans: x / ans, lambda x, y, ans: y / ans)


# ---- composites built from differentiable indexing ----------------------------------------
def _any_tensor(xs):
    for x in xs:
        if isinstance(x, Tensor):
            return True
    return False


def _along_axis_index(indices, shape, axis):
    """A fancy index that picks ``indices`` along ``axis`` (NumPy's take_along_axis)."""
    xp = xp_of(indices)
    nd = len(shape)
    idx = []
    for d in range(nd):
        if d == axis:
            idx.append(indices)
        else:
            s = [1] * nd
            s[d] = shape[d]
            idx.append(xp.arange(shape[d]).reshape(s))
    return tuple(idx)


def take_along_axis(arr, indices, axis):
    """NumPy's take_along_axis; the gradient scatters back (repeated indices add up)."""
    indices = _raw(indices)
    if not isinstance(arr, Tensor):
        xp = xp_of(arr)
        if xp is not xp_of(indices) and hasattr(indices, "shape") and hasattr(arr, "shape"):
            # CuPy's own error ("Unsupported type") names neither the op nor the devices
            moved = move_host_arrays((arr, indices))  # None unless a default device is set
            if moved is None:
                raise RuntimeError(
                    f"take_along_axis: indices must be on the device of arr, got arr "
                    f"{_describe(arr)} and indices {_describe(indices)}; move indices first "
                    "(cupy.asarray(indices) for a GPU array, indices.get() for a NumPy one)")
            arr, indices = moved
            xp = xp_of(arr)
        return xp.take_along_axis(arr, indices, axis)
    if axis is None:
        arr, axis = reshape(arr, (-1,)), 0
    axis = _norm_axis(axis, arr.ndim, "take_along_axis")
    return getitem(arr, _along_axis_index(indices, arr.shape, axis))


def sort(a, axis=-1):
    """NumPy's sort; the gradient follows the sorting permutation."""
    if not isinstance(a, Tensor):
        return xp_of(a).sort(a, axis=axis)
    if axis is None:
        a, axis = reshape(a, (-1,)), 0
    axis = _norm_axis(axis, a.ndim, "sort")
    order = xp_of(a.data).argsort(a.data, axis=axis, kind="stable")
    return getitem(a, _along_axis_index(order, a.shape, axis))


def repeat(a, repeats, axis=None):
    """NumPy's repeat; the gradient sums the copies."""
    repeats = _raw(repeats)
    if not isinstance(a, Tensor):
        return xp_of(a).repeat(a, repeats, axis=axis)
    if axis is None:
        a, axis = reshape(a, (-1,)), 0
    axis = _norm_axis(axis, a.ndim, "repeat")
    xp = xp_of(a.data)
    idx = xp.repeat(xp.arange(a.shape[axis]), repeats)
    return getitem(a, (slice(None),) * axis + (idx,))


def tile(A, reps):
    """NumPy's tile, as a reshape, a broadcast and a reshape."""
    if not isinstance(A, Tensor):
        return xp_of(A).tile(A, reps)
    reps = tuple(reps) if isinstance(reps, (tuple, list)) else (int(reps),)
    d = max(len(reps), A.ndim)
    shape = (1,) * (d - A.ndim) + tuple(A.shape)
    reps = (1,) * (d - len(reps)) + reps
    spread = reshape(A, tuple(v for s in shape for v in (1, s)))
    spread = broadcast_to(spread, tuple(v for r, s in zip(reps, shape) for v in (r, s)))
    return reshape(spread, tuple(r * s for r, s in zip(reps, shape)))


def roll(a, shift, axis=None):
    """NumPy's roll, as a gather (differentiable)."""
    if not isinstance(a, Tensor):
        return xp_of(a).roll(a, shift, axis=axis)
    if axis is None:
        return reshape(roll(reshape(a, (-1,)), shift, 0), a.shape)
    shifts = shift if isinstance(shift, (tuple, list)) else (shift,)
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    if len(shifts) == 1:
        shifts = shifts * len(axes)
    if len(axes) == 1 and len(shifts) > 1:
        axes = axes * len(shifts)
    if len(shifts) != len(axes):
        raise ValueError(f"roll: {len(shifts)} shifts but {len(axes)} axes")
    total = {}
    for s, ax in zip(shifts, axes):
        ax = _norm_axis(ax, a.ndim, "roll")
        total[ax] = total.get(ax, 0) + int(s)
    xp = xp_of(a.data)
    out = a
    for ax, s in total.items():
        n = a.shape[ax]
        if n == 0 or s % n == 0:
            continue
        idx = (xp.arange(n) - s) % n
        out = getitem(out, (slice(None),) * ax + (idx,))
    return out


def _pad_widths(pad_width, ndim):
    pw = np.asarray(pad_width, dtype=np.int64)
    if pw.ndim == 0:
        pw = np.full((ndim, 2), int(pw))
    elif pw.ndim == 1:
        pw = np.broadcast_to(pw.reshape(-1)[:2] if pw.size == 2 else pw.reshape(1), (ndim, 2))
    else:
        pw = np.broadcast_to(pw, (ndim, 2))
    if (pw < 0).any():
        raise ValueError("pad: pad widths must be non-negative")
    return [(int(b), int(e)) for b, e in pw]


_GATHER_MODES = ("edge", "reflect", "symmetric", "wrap")


def pad(array, pad_width, mode="constant", constant_values=0):
    """NumPy's pad for modes 'constant' (a scalar value), 'edge', 'reflect', 'symmetric' and
    'wrap', differentiable."""
    if not isinstance(array, Tensor):
        if mode == "constant":
            return xp_of(array).pad(array, pad_width, mode, constant_values=constant_values)
        return xp_of(array).pad(array, pad_width, mode)
    widths = _pad_widths(pad_width, array.ndim)
    if mode == "constant":
        c = _raw(constant_values)
        if np.ndim(c) != 0:
            raise NotImplementedError("pad: a Tensor takes one scalar constant_values only")
        shape = tuple(n + b + e for n, (b, e) in zip(array.shape, widths))
        idx = tuple(slice(b, b + n) for n, (b, _) in zip(array.shape, widths))
        out = untake(array, idx, shape)
        if c != 0:
            xp = xp_of(array.data)
            outside = xp.full(shape, c, dtype=array.dtype)
            outside[idx] = 0
            out = out + outside
        return out
    if mode not in _GATHER_MODES:
        raise NotImplementedError(f"pad: mode {mode!r} is not differentiable here; use one of "
                                  f"'constant', {', '.join(repr(m) for m in _GATHER_MODES)}")
    xp = xp_of(array.data)
    out = array
    for ax, (b, e) in enumerate(widths):
        if b == 0 and e == 0:
            continue
        idx = xp.pad(xp.arange(array.shape[ax]), (b, e), mode)
        out = getitem(out, (slice(None),) * ax + (idx,))
    return out


def diff(a, n=1, axis=-1):
    """NumPy's diff (no prepend/append), as differences of slices."""
    if not isinstance(a, Tensor):
        return xp_of(a).diff(a, n=n, axis=axis)
    axis = _norm_axis(axis, a.ndim, "diff")
    lead = (slice(None),) * axis
    for _ in range(n):
        a = getitem(a, lead + (slice(1, None),)) - getitem(a, lead + (slice(None, -1),))
    return a


def trapezoid(y, x=None, dx=1.0, axis=-1):
    """NumPy's trapezoid rule, differentiable in ``y`` (and ``x`` when given as an array)."""
    if not _any_tensor((y, x)):
        xp = xp_of(y)
        rule = getattr(xp, "trapezoid", None) or xp.trapz  # CuPy has only the old name
        return rule(y, x=x, dx=dx, axis=axis)
    axis = _norm_axis(axis, y.ndim, "trapezoid")
    lead = (slice(None),) * axis
    mid = (getitem(y, lead + (slice(1, None),)) + getitem(y, lead + (slice(None, -1),))) * 0.5
    if x is None:
        return _sum(mid * dx, (axis,), False)
    d = diff(x, axis=-1 if x.ndim == 1 else axis)
    if x.ndim == 1:
        d = reshape(d, (-1,) + (1,) * (y.ndim - 1 - axis))
    return _sum(mid * d, (axis,), False)


__all__ = [
    "cumsum", "einsum", "einsum_", "arcsin", "arccos", "arctan", "sinh", "cosh", "arcsinh",
    "arccosh", "arctanh", "log2", "log10", "exp2", "reciprocal", "logaddexp", "logaddexp2",
    "arctan2", "hypot", "cbrt", "deg2rad", "rad2deg", "sinc", "take_along_axis", "sort",
    "repeat", "tile", "roll", "pad", "diff", "trapezoid",
]
