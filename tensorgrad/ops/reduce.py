"""Reductions. Arguments are normalised by the callers: ``axis`` is None or a tuple of
non-negative ints, ``keepdims`` a bool."""

import builtins
import math

import numpy as np

from ..backend.device import xp_of
from ..tensor import Tensor, _raw
from .join import joined_variant
from .registry import defjvp, defvjp, primitive
from .shape import broadcast_to, reshape


def _keep_shape(shape, axis):
    if axis is None:
        return (1,) * len(shape)
    return tuple(1 if i in axis else n for i, n in enumerate(shape))


def _expand(g, x, axis, keepdims):
    """Broadcast a reduced cotangent back to the shape of ``x`` (a read-only view)."""
    if isinstance(g, Tensor) or isinstance(x, Tensor):  # recording: differentiable ops
        if not keepdims:
            g = reshape(g, _keep_shape(x.shape, axis))
        return broadcast_to(g, x.shape)
    if axis is None and type(x) is np.ndarray and np.size(g) == 1:
        # every element from one number: the zero-stride view NumPy's broadcast_to makes,
        # without its Python-level argument handling (0.4 us instead of 2)
        g = np.asarray(g)
        out = np.ndarray(x.shape, g.dtype, g, 0, (0,) * x.ndim)
        out.flags.writeable = False
        return out
    xp = xp_of(x)
    if not keepdims:
        g = xp.reshape(g, _keep_shape(x.shape, axis))
    return xp.broadcast_to(g, x.shape)


def _count(x, axis):
    shape = x.shape
    return math.prod(shape) if axis is None else math.prod(shape[a] for a in axis)


@primitive(saves=False)
def sum(x, axis=None, keepdims=False):
    return x.sum(axis=axis, keepdims=keepdims)


sum.prim.amp = "fp32"  # autocast (tensorgrad.amp): PyTorch's float32 list


@primitive
def max(x, axis=None, keepdims=False):
    return x.max(axis=axis, keepdims=keepdims)


@primitive
def min(x, axis=None, keepdims=False):
    return x.min(axis=axis, keepdims=keepdims)


@primitive
def prod(x, axis=None, keepdims=False):
    return x.prod(axis=axis, keepdims=keepdims)


@primitive
def logsumexp(x, axis=None, keepdims=False):
    xp = xp_of(x)
    if x.size == 0:  # no maximum to shift by: log(0) = -inf over the empty axes
        with np.errstate(divide="ignore"):
            return xp.log(xp.exp(x).sum(axis=axis, keepdims=keepdims))
    # complex: shifted by the largest real part (SciPy's and PyTorch's), which keeps the
    # imaginary part where log's principal branch puts it
    m = (x.real if x.dtype.kind == "c" else x).max(axis=axis, keepdims=True)
    if not xp.isfinite(m).all():  # rows of -inf (or inf): shift by 0 there instead
        m = xp.where(xp.isfinite(m), m, 0)
    e = xp.exp(x - m)
    s = e.sum(axis=axis, keepdims=True)
    if xp is np:
        with np.errstate(divide="ignore"):  # a row of -inf gives -inf, quietly
            out = np.log(s)
    else:
        out = xp.log(s)
    out += m
    if keepdims:
        return out
    return out.reshape(() if axis is None else
                       tuple(n for i, n in enumerate(out.shape) if i not in axis))


def _minmax_vjp(g, ans, x, axis=None, keepdims=False):
    # ties share the gradient evenly (PyTorch's and autograd's convention)
    a = _expand(ans, x, axis, keepdims)
    mask = x == a
    mask = mask.astype(x.dtype) if hasattr(mask, "astype") else mask
    return _expand(g, x, axis, keepdims) * mask / sum(mask, axis, True)


def _prod_vjp(g, ans, x, axis=None, keepdims=False):
    from ..autograd.batching import physical_raw

    raw = physical_raw(x)  # every example of a batched x (vmap, jacfwd) at once
    if not xp_of(raw).any(raw == 0).item():
        return _expand(g, x, axis, keepdims) * _expand(ans, x, axis, keepdims) / x
    return _expand(g, x, axis, keepdims) * _prod_others(x, axis)


def _prod_others_graph(x, axis):
    """``_prod_others`` from differentiable ops, to differentiate it (O(n^2), only reached for
    higher derivatives of prod at zeros): row i of an (n, n) grid holds the n reduced elements
    with element i replaced by 1, and prod reduces each row."""
    from .elementwise import where
    from .shape import expand_dims, transpose

    axes = tuple(range(x.ndim)) if axis is None else tuple(axis)
    perm = axes + tuple(i for i in range(x.ndim) if i not in axes)
    n = math.prod(x.shape[a] for a in axes)
    moved = tuple(x.shape[a] for a in perm)
    flat = reshape(transpose(x, perm), (n,) + moved[len(axes):])
    eye = xp_of(_raw(x)).eye(n, dtype=bool).reshape((n, n) + (1,) * (x.ndim - len(axes)))
    others = prod(where(eye, 1, expand_dims(flat, 0)), (1,), False)
    return transpose(reshape(others, moved), tuple(perm.index(i) for i in range(x.ndim)))


@primitive
def _prod_others(x, axis):
    """The product of all other elements along ``axis`` (exact where x has zeros)."""
    xp = xp_of(x)
    axes = tuple(range(x.ndim)) if axis is None else axis
    flat = xp.moveaxis(x, axes, tuple(range(len(axes)))).reshape((-1,) + tuple(
        n for i, n in enumerate(x.shape) if i not in axes))
    ones = xp.ones((1,) + flat.shape[1:], dtype=x.dtype)
    before = xp.cumprod(xp.concatenate([ones, flat[:-1]]), axis=0)
    after = xp.cumprod(xp.concatenate([ones, flat[::-1][:-1]]), axis=0)[::-1]
    out = (before * after).reshape(tuple(x.shape[a] for a in axes) + flat.shape[1:])
    return xp.moveaxis(out, tuple(range(len(axes))), axes)


def _prod_others_vjp(g, ans, x, axis):
    from ..autograd.functional import make_vjp

    return make_vjp(lambda v: _prod_others_graph(v, axis))(x)[0](g)


def _prod_others_jvp(t, ans, x, axis):
    from ..autograd.functional import make_jvp

    return make_jvp(lambda v: _prod_others_graph(v, axis))(x)(t)[1]


# the O(n) cumprod forward for first derivatives; its own derivatives through the composite
defvjp(_prod_others, _prod_others_vjp, None)
defjvp(_prod_others, _prod_others_jvp, None)
defvjp(sum, lambda g, ans, x, axis=None, keepdims=False: _expand(g, x, axis, keepdims))
defjvp(sum, lambda t, ans, x, axis=None, keepdims=False: sum(t, axis, keepdims))
defvjp(max, _minmax_vjp)
defjvp(max, lambda t, ans, x, axis=None, keepdims=False:
       sum(t * _tie_weights(ans, x, axis, keepdims), axis, keepdims))
defvjp(min, _minmax_vjp)
defjvp(min, lambda t, ans, x, axis=None, keepdims=False:
       sum(t * _tie_weights(ans, x, axis, keepdims), axis, keepdims))
defvjp(prod, _prod_vjp)
prod.prim.amp = logsumexp.prim.amp = "fp32"
defjvp(prod, lambda t, ans, x, axis=None, keepdims=False:
       sum(t * _prod_vjp(ans * 0 + 1, ans, x, axis, keepdims), axis, keepdims))
defvjp(logsumexp, lambda g, ans, x, axis=None, keepdims=False:
       _expand(g, x, axis, keepdims) * _exp(x - _expand(ans, x, axis, keepdims)))
defjvp(logsumexp, lambda t, ans, x, axis=None, keepdims=False:
       sum(t * _exp(x - _expand(ans, x, axis, keepdims)), axis, keepdims))
# max over pooling windows: PyTorch's max pooling backward kernel is joined to its input
max_kernel = joined_variant(max, "max_kernel")


def _tie_weights(ans, x, axis, keepdims):
    mask = x == _expand(ans, x, axis, keepdims)
    mask = mask.astype(x.dtype) if hasattr(mask, "astype") else mask
    return mask / sum(mask, axis, True)


def _exp(x):
    from .elementwise import exp

    return exp(x)


@primitive(saves=False)
def mean(x, axis=None, keepdims=False):
    # a primitive rather than sum / n: one node instead of two on the hottest reduction
    return x.mean(axis=axis, keepdims=keepdims)


# divided before it is broadcast: the cotangent stays a view, not a full-size array
defvjp(mean, lambda g, ans, x, axis=None, keepdims=False:
       _expand(g / _count(x, axis), x, axis, keepdims))
defjvp(mean, lambda t, ans, x, axis=None, keepdims=False: mean(t, axis, keepdims))


def var(x, axis=None, keepdims=False, ddof=0):
    n = _count(x, axis)
    d = x - mean(x, axis, True)
    # the corrected two-pass sum: sum(d^2) - sum(d)^2 / n removes the rounding error of the
    # mean to first order. A naive float32 sum along a strided axis is off by ~1e-5 of the
    # values, which on data offset from 0 (1e4 + N(0, 1)) made var(0) 3e-4 off (PyTorch's:
    # 3e-8); corrected, 6e-6, for one more pass over d.
    s = sum(d, axis, keepdims)
    if d.dtype.kind == "c":
        from .elementwise import conjugate, real

        sq, s2 = real(d * conjugate(d)), real(s * conjugate(s))
    else:
        sq, s2 = d * d, s * s
    # NumPy's and PyTorch's divisor: never below 0 (an empty or too short axis gives nan, not
    # the -0.0 of 0 / -1)
    return (sum(sq, axis, keepdims) - s2 / builtins.max(n, 1)) / builtins.max(n - ddof, 0)


@primitive
def _sqrt_kink0(v):
    """sqrt for std: at v = 0 (zero spread: one element, or all equal) the derivative is the
    subgradient 0, as PyTorch's std, instead of sqrt's 1 / (2 * 0) = inf and then 0 * inf = nan
    with a divide-by-zero warning."""
    return xp_of(v).sqrt(v)


def _half_inverse(ans):
    from .elementwise import where

    zero = ans == 0
    return where(zero, 0.0, 0.5 / where(zero, 1.0, ans))


defvjp(_sqrt_kink0, lambda g, ans, v: g * _half_inverse(ans))
defjvp(_sqrt_kink0, lambda t, ans, v: t * _half_inverse(ans))


def std(x, axis=None, keepdims=False, ddof=0):
    return _sqrt_kink0(var(x, axis, keepdims, ddof))
