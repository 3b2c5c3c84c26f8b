"""Still more of PyTorch's top level: running extremes (``cummax``, ``cummin``), order
statistics (``quantile``, ``nanquantile``, ``nanmedian``, ``mode``), integration
(``trapezoid``, ``trapz``, ``cumulative_trapezoid``), ``cartesian_prod``, ``combinations``,
``cosine_similarity``, ``pairwise_distance`` and ``pdist`` at top level, elementwise helpers
(``copysign``, ``heaviside``, ``gcd``, ``lcm``, ``frexp``, ``ldexp``), complex construction
(``complex``, ``polar``, ``view_as_real``, ``view_as_complex``, ``angle``), ``histogram``,
``cholesky_solve``, ``cholesky_inverse``, a few more (``diagflat``, ``vander``,
``unravel_index``, ``result_type``, ``promote_types``, ``can_cast``, ``hsplit``/``vsplit``/
``dsplit``, ``addr``, ``adjoint``, ``chain_matmul``, ``matrix_exp``, ``is_conj``,
``resolve_conj``/``resolve_neg``), and the process-level switches
(``get_num_threads``/``set_num_threads``, ``use_deterministic_algorithms``,
``set_float32_matmul_precision``, ``set_printoptions``) and ``tg.Size``. Everything
differentiable is a composition of existing primitives, so it needs no derivative rule of its
own.

>>> import tensorgrad as tg
>>> tg.cummax(tg.tensor([1.0, 3.0, 2.0]), 0).indices.tolist()
[0, 1, 1]
>>> tg.quantile(tg.tensor([1.0, 2.0, 3.0, 4.0]), 0.5).item()
2.5

``cummax``/``cummin`` and ``mode`` compare every pair of positions along ``dim`` (an
(n, n) intermediate per row, as ``tg.cumprod``); ``histogram``, ``unravel_index`` and
``quantile``'s check of a tensor ``q`` read values back to the host (a GPU waits, as
PyTorch's does). ``view_as_real``/``view_as_complex`` return copies, not views.
"""

import builtins
import itertools
import math
import numbers
import os
from collections import namedtuple

import numpy as np

from . import linalg as _la
from . import torch_api as _ta
from .backend.device import _CUPY_ARRAY, to_host
from .nn import functional as _F
from .ops import elementwise as _ew
from .ops import extra as _ex
from .ops import nondiff as _nd
from .ops import shape as _sh
from .ops.index import getitem as _getitem
from .tensor import Tensor, _new_tensor

_t = _ta._t
_xp = _ta._xp

CummaxResult = namedtuple("cummax", ["values", "indices"])
CumminResult = namedtuple("cummin", ["values", "indices"])
NanmedianResult = namedtuple("nanmedian", ["values", "indices"])
ModeResult = namedtuple("mode", ["values", "indices"])
FrexpResult = namedtuple("frexp", ["mantissa", "exponent"])
HistogramResult = namedtuple("histogram", ["hist", "bin_edges"])


def _const(arr):
    return _new_tensor(arr, None, False)


def _is_array(v):
    return type(v) is np.ndarray or type(v) is _CUPY_ARRAY


def _other(v, op):
    """A Tensor (arrays taken as Tensors without history) or a number."""
    return _t(v, op, "other") if _is_array(v) else _ta._operand(v, op)


def _floating(x, op, name="input", complex_ok=False):
    kinds = "fc" if complex_ok else "f"
    if x.dtype.kind not in kinds:
        raise TypeError(f"{op}(): {name} must be floating point{' or complex' * complex_ok}, "
                        f"got {x.dtype}")


def _pairs_along(x, d):
    """(x along ``d`` as rows i, x along ``d`` as columns j, j <= i mask) broadcastable to
    (..., n, n, ...) with i at ``d`` and j at ``d + 1``: raw arrays."""
    xp = _xp(x)
    n = x.shape[d]
    tail = (1,) * (x.ndim - d - 1)
    xi = xp.expand_dims(x.data, d + 1)
    xj = xp.expand_dims(x.data, d)
    j = xp.arange(n).reshape((1, n) + tail)
    i = xp.arange(n).reshape((n, 1) + tail)
    return xi, xj, j, i


# ---- running extremes ------------------------------------------------------------------------
def _cumext(name, largest, result):
    def f(input, dim):
        x = _t(input, name)
        if x.dtype.kind == "c":
            raise TypeError(f"{name}(): input must be real, got {x.dtype}")
        if x.ndim == 0:
            return result(x.clone(), _ta._zero_index(x))
        d = _ta._dim(x, dim, name)
        if x.shape[d] == 0:
            return result(x.clone(), _const(_xp(x).zeros(x.shape, np.int64)))
        xp = _xp(x)
        xi, xj, j, i = _pairs_along(x, d)
        prefix = j <= i
        first = x.data[(slice(None),) * d + (slice(0, 1),)]
        grid = xp.where(prefix, xj, xp.expand_dims(first, d))  # out-of-prefix: the first
        run = grid.max(axis=d + 1) if largest else grid.min(axis=d + 1)
        runs = xp.expand_dims(run, d + 1)
        hit = xj == runs
        if x.dtype.kind == "f":
            hit = hit | (xp.isnan(xj) & xp.isnan(runs))
        idx = xp.where(prefix & hit, j, -1).max(axis=d + 1)  # ties: the latest, as PyTorch
        return result(_getitem(x, _ta._along(idx, d)), _const(idx))

    f.__name__ = f.__qualname__ = name
    f.__doc__ = (f"(values, indices): the running {'maximum' if largest else 'minimum'} along "
                 f"``dim`` and where it was found (ties and NaN: the latest position, as "
                 f"PyTorch's). The values are differentiable, the gradient goes to the index.")
    return f


cummax = _cumext("cummax", True, CummaxResult)
cummin = _cumext("cummin", False, CumminResult)


# ---- order statistics ------------------------------------------------------------------------
_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(input, q, dim, keepdim, interpolation, op, ignore_nan):
    x = _t(input, op)
    _floating(x, op)
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"{op}(): interpolation must be one of {_INTERPOLATIONS}, got "
                         f"{interpolation!r}")
    xp = _xp(x)
    if _is_array(q):
        q = _t(q, op, "q")
    if isinstance(q, Tensor):
        if q.ndim > 1:
            raise ValueError(f"{op}(): q must be a scalar or 1-D tensor, got shape "
                             f"{tuple(q.shape)}")
        if q.dtype != x.dtype:
            raise TypeError(f"{op}(): q ({q.dtype}) must have input's dtype ({x.dtype})")
        qs = q.data.reshape(-1)
        scalar_q = q.ndim == 0
        bad = qs.size and int(to_host(((qs < 0) | (qs > 1)).any()).item())
    elif isinstance(q, numbers.Real):
        qs = xp.asarray([builtins.float(q)], dtype=x.dtype)
        scalar_q, bad = True, not 0 <= q <= 1
    else:
        raise TypeError(f"{op}(): q must be a number or a Tensor, not {type(q).__name__}")
    if bad:
        raise ValueError(f"{op}(): q values must be in the range [0, 1]")
    if dim is None:
        rows, d = x.reshape(-1), 0
    else:
        d = _ta._dim(x, dim, op) if x.ndim else 0
        rows = x if x.ndim == 0 else _ta.movedim(x, d, -1)
    rows = rows.reshape(1) if rows.ndim == 0 else rows
    n = rows.shape[-1]
    if n == 0:
        raise ValueError(f"{op}(): input of shape {tuple(x.shape)} is empty along dim {dim}")
    ordered = _ta.sort(rows, -1).values  # NaN sort last
    nan = xp.isnan(rows.data)
    count = (~nan).sum(axis=-1, keepdims=True) if ignore_nan else xp.full(
        rows.shape[:-1] + (1,), n)
    qq = qs.reshape((-1,) + (1,) * rows.ndim)  # (Q, ..., 1)
    pos = qq * (count - 1).astype(x.dtype)
    lo = xp.clip(xp.floor(pos), 0, n - 1).astype(np.int64)
    hi = xp.clip(xp.ceil(pos), 0, n - 1).astype(np.int64)
    base = ordered.unsqueeze(0)
    if interpolation == "nearest":
        lo = xp.clip(xp.rint(pos), 0, n - 1).astype(np.int64)
    val_lo = _ta.take_along_dim(base, _const(lo), -1)
    if interpolation in ("lower", "nearest"):
        out = val_lo
    else:
        val_hi = _ta.take_along_dim(base, _const(hi), -1)
        if interpolation == "higher":
            out = val_hi
        elif interpolation == "midpoint":
            out = (val_lo + val_hi) * 0.5
        else:
            frac = (pos - xp.floor(pos)).astype(x.dtype)
            if isinstance(q, Tensor):  # the weight q*(count-1) - floor(...) is linear in q
                frac = (q.reshape(qq.shape) * _const((count - 1).astype(x.dtype))
                        - _const(xp.floor(pos).astype(x.dtype)))
            else:
                frac = _const(frac)
            out = val_lo + (val_hi - val_lo) * frac
    empty = (count == 0) if ignore_nan else nan.any(axis=-1, keepdims=True)
    if builtins.bool(empty.shape) and empty.size:
        out = _ew.where(xp.broadcast_to(empty, out.shape), _const(xp.asarray(np.nan, x.dtype)),
                        out)
    # out: (Q, rows..., 1) -> PyTorch's layout
    if dim is None:
        out = out.reshape((out.shape[0],) + ((1,) * x.ndim if keepdim else ()))
    elif x.ndim == 0:
        out = out.reshape((out.shape[0],))
    else:
        out = _ta.movedim(out, -1, d + 1)
        if not keepdim:
            out = _sh.squeeze(out, (d + 1,))
    return out.reshape(out.shape[1:]) if scalar_q else out


def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    """The ``q``-quantiles (a number, or a 1-D tensor of input's dtype whose length becomes the
    first dim of the result) of all elements or along ``dim``; ``interpolation`` between the
    two nearest ranks: linear, lower, higher, midpoint or nearest (half to even). A row holding
    NaN gives NaN. Differentiable (through the sort).

    >>> import tensorgrad as tg
    >>> tg.quantile(tg.tensor([[0.0, 4.0], [2.0, 6.0]]), 0.25, dim=1).tolist()
    [1.0, 3.0]
    """
    return _quantile(input, q, dim, keepdim, interpolation, "quantile", False)


def nanquantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    """``quantile`` ignoring NaN (a row of NaN only gives NaN)."""
    return _quantile(input, q, dim, keepdim, interpolation, "nanquantile", True)


def nanmedian(input, dim=None, keepdim=False):
    """The lower median ignoring NaN: of all elements (a value), or (values, indices) along
    ``dim``; NaN only where a row has nothing else. Differentiable, the gradient to the index.

    >>> import tensorgrad as tg
    >>> tg.nanmedian(tg.tensor([2.0, float("nan"), 1.0, 3.0])).item()
    2.0
    """
    x = _t(input, "nanmedian")
    if dim is None:
        flat = x.reshape(-1)
        if flat.shape[0] == 0:
            return _ta._empty_median(flat, "nanmedian")
        return _ta._tied_value(flat, nanmedian(flat.detach(), 0).values)
    if x.ndim == 0:
        return NanmedianResult(x.clone(), _ta._zero_index(x))
    d = _ta._dim(x, dim, "nanmedian")
    if x.dtype.kind not in "f":
        r = _ta.median(x, d, keepdim)
        return NanmedianResult(r.values, r.indices)
    xp = _xp(x)
    order = _ta._argsort_raw(x, d, False)  # NaN last
    count = (~xp.isnan(x.data)).sum(axis=d, keepdims=True)
    k = xp.clip((count - 1) // 2, 0, None)
    idx = xp.take_along_axis(order, k, axis=d)
    return NanmedianResult(_ta._by_index(x, idx, d, keepdim),
                           _const(idx if keepdim else idx.squeeze(d)))


def mode(input, dim=-1, keepdim=False):
    """(values, indices): the most frequent value along ``dim`` (ties: the smallest value) and
    its last position, as PyTorch's. The values are differentiable, the gradient to the index.

    >>> import tensorgrad as tg
    >>> tg.mode(tg.tensor([1.0, 2.0, 2.0, 1.0, 3.0])).indices.item()
    3
    """
    x = _t(input, "mode")
    if x.ndim == 0:
        return ModeResult(x.clone(), _ta._zero_index(x))
    d = _ta._dim(x, dim, "mode")
    if x.shape[d] == 0:
        raise ValueError(f"mode(): input of shape {tuple(x.shape)} is empty along dim {dim}")
    xp = _xp(x)
    xi, xj, j, _ = _pairs_along(x, d)
    counts = (xi == xj).sum(axis=d + 1)  # (..., n at d, ...): how often x_i occurs
    best = counts == counts.max(axis=d, keepdims=True)
    v = x.data
    if v.dtype.kind == "f":
        # a NaN equals nothing (it counts once) and is the largest value, as in PyTorch's
        # sort: the answer only where every candidate is NaN
        nan = xp.isnan(v)
        pick = best & ~nan
        found = pick.any(axis=d, keepdims=True)
        value = xp.where(found, xp.where(pick, v, xp.inf).min(axis=d, keepdims=True), xp.nan)
        match = best & xp.where(found, v == value, nan)
    else:
        value = xp.where(best, v, v.max(axis=d, keepdims=True)).min(axis=d, keepdims=True)
        match = best & (v == value)
    n = x.shape[d]
    pos = xp.arange(n).reshape((n,) + (1,) * (x.ndim - d - 1))
    idx = xp.where(match, pos, -1).max(axis=d, keepdims=True)
    return ModeResult(_ta._by_index(x, idx, d, keepdim),
                      _const(idx if keepdim else idx.squeeze(d)))


# ---- integration -----------------------------------------------------------------------------
def _trapezoid_terms(y, x, dx, dim, op):
    """(the trapezoids' areas along ``dim``, dim) for trapezoid and cumulative_trapezoid."""
    yt = _t(y, op, "y")
    if yt.ndim == 0:
        raise ValueError(f"{op}(): y must have at least one dim, got a 0-d tensor")
    d = _ta._dim(yt, dim, op)
    if x is not None and dx is not None:
        raise TypeError(f"{op}(): give x or dx, not both")
    lead = (slice(None),) * d
    mid = (_getitem(yt, lead + (slice(1, None),)) + _getitem(yt, lead + (slice(None, -1),)))
    mid = mid * 0.5
    if x is None:
        return mid * (1.0 if dx is None else dx), d
    xt = _t(x, op, "x")
    if xt.ndim == 1:
        if xt.shape[0] != yt.shape[d]:
            raise ValueError(f"{op}(): x of shape {tuple(xt.shape)} does not match y of shape "
                             f"{tuple(yt.shape)} along dim {dim}")
        steps = _ex.diff(xt).reshape((-1,) + (1,) * (yt.ndim - 1 - d))
    else:
        try:
            shape = np.broadcast_shapes(tuple(xt.shape), tuple(yt.shape))
        except ValueError:
            raise ValueError(f"{op}(): x of shape {tuple(xt.shape)} and y of shape "
                             f"{tuple(yt.shape)} do not broadcast") from None
        xb = xt if tuple(xt.shape) == shape else _sh.broadcast_to(xt, shape)
        steps = _ex.diff(xb, axis=d - yt.ndim + len(shape))
    return mid * steps, d


def trapezoid(y, x=None, *, dx=None, dim=-1):
    """The trapezoidal rule along ``dim``: with sample points ``x`` (1-D of y's length along
    ``dim``, or broadcasting with y) or spacing ``dx`` (default 1). Differentiable in y and x.

    >>> import tensorgrad as tg
    >>> tg.trapezoid(tg.tensor([1.0, 2.0, 3.0])).item()
    4.0
    """
    terms, d = _trapezoid_terms(y, x, dx, dim, "trapezoid")
    return _ta.sum(terms, d)


def trapz(y, x=None, *, dx=None, dim=-1):
    """PyTorch's older name of :func:`trapezoid`."""
    terms, d = _trapezoid_terms(y, x, dx, dim, "trapz")
    return _ta.sum(terms, d)


def cumulative_trapezoid(y, x=None, *, dx=None, dim=-1):
    """The running trapezoidal rule along ``dim`` (one element shorter than y there)."""
    terms, d = _trapezoid_terms(y, x, dx, dim, "cumulative_trapezoid")
    return _ex.cumsum(terms, d) if terms.shape[d] else terms


def _nd_tensors(values, op, arg, ndim, noun):
    """``values`` (at least one) as ``ndim``-D Tensors, for the variadic ``op``."""
    ts = [_t(v, op, arg) for v in values]
    if not ts:
        raise ValueError(f"{op}(): expects at least one {noun}")
    for v in ts:
        if v.ndim != ndim:
            raise ValueError(f"{op}(): expects {ndim}-D tensors, got shape {tuple(v.shape)}")
    return ts


# ---- combinatorics ---------------------------------------------------------------------------
def cartesian_prod(*tensors):
    """The Cartesian product of 1-D tensors: (N, k) rows in itertools.product's order (one
    tensor: itself). Differentiable.

    >>> import tensorgrad as tg
    >>> tg.cartesian_prod(tg.tensor([1, 2]), tg.tensor([3, 4])).tolist()
    [[1, 3], [1, 4], [2, 3], [2, 4]]
    """
    ts = _nd_tensors(tensors, "cartesian_prod", "tensors", 1, "tensor")
    if len(ts) == 1:
        return ts[0]
    grids = _ta.meshgrid(*ts, indexing="ij")
    return _ta.stack([g.reshape(-1) for g in grids], 1)


def combinations(input, r=2, with_replacement=False):
    """The length-``r`` combinations of a 1-D tensor's elements, as rows (C, r), in
    itertools' order. Differentiable.

    >>> import tensorgrad as tg
    >>> tg.combinations(tg.tensor([1, 2, 3])).tolist()
    [[1, 2], [1, 3], [2, 3]]
    """
    x = _t(input, "combinations")
    if x.ndim != 1:
        raise ValueError(f"combinations(): input must be 1-D, got shape {tuple(x.shape)}")
    if not isinstance(r, numbers.Integral) or r < 0:
        raise ValueError(f"combinations(): r must be a non-negative int, got {r!r}")
    if r == 0:
        return _const(_xp(x).zeros((0,), x.dtype))
    pick = itertools.combinations_with_replacement if with_replacement else \
        itertools.combinations
    idx = np.array(list(pick(range(x.shape[0]), int(r))), dtype=np.int64).reshape(-1, int(r))
    return _getitem(x, _xp(x).asarray(idx))


# ---- distances -------------------------------------------------------------------------------
def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """``tg.nn.functional.cosine_similarity`` at top level."""
    return _F.cosine_similarity(_t(x1, "cosine_similarity", "x1"),
                                _t(x2, "cosine_similarity", "x2"), dim, eps)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """``tg.nn.functional.pairwise_distance`` at top level."""
    return _F.pairwise_distance(_t(x1, "pairwise_distance", "x1"),
                                _t(x2, "pairwise_distance", "x2"), p, eps, keepdim)


def pdist(input, p=2):
    """The p-norm distances between the rows of an (N, M) input, for i < j in row-major order:
    N(N-1)/2 values. Differentiable (0 gradient at zero distance, as ``cdist``).

    >>> import tensorgrad as tg
    >>> tg.pdist(tg.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]])).tolist()
    [5.0, 1.0, 4.242640495300293]
    """
    x = _t(input, "pdist")
    if x.ndim != 2:
        raise ValueError(f"pdist(): input must be 2-D (N, M), got shape {tuple(x.shape)}")
    _floating(x, "pdist")
    if not isinstance(p, numbers.Real) or p < 0:
        raise ValueError(f"pdist(): p must be a non-negative number, got {p!r}")
    n = x.shape[0]
    i, j = np.triu_indices(n, 1)
    xp = _xp(x)
    diff = _getitem(x, xp.asarray(i)) - _getitem(x, xp.asarray(j))
    return _ta._vector_norm(diff, p, (1,), False)


# ---- elementwise -----------------------------------------------------------------------------
def _float_result(x, op, other=None):
    """``x`` in the dtype PyTorch gives a float function of ``x`` and ``other`` (a Tensor or a
    number): their promoted dtype, and the default float dtype where that is integral."""
    return _ta._float_operands(x)[0] if other is None else _ta._float_operands(x, other)[0]


def copysign(input, other):
    """|input| with the sign (sign bit: -0.0 counts as negative) of ``other`` (a tensor or a
    number), as floats. Differentiable in input (0 at input == 0, as PyTorch), not in other.

    >>> import tensorgrad as tg
    >>> tg.copysign(tg.tensor([1.0, -2.0]), -1.0).tolist()
    [-1.0, -2.0]
    """
    o = _other(other, "copysign")
    x = _float_result(_t(input, "copysign"), "copysign", o)
    xp = _xp(x)
    neg = xp.signbit(o.data) if isinstance(o, Tensor) else np.signbit(o)
    mag = _ew.abs(x)
    return _ew.where(xp.asarray(neg), -mag, mag)


def heaviside(input, values):
    """0 where input < 0, ``values`` where input == 0, 1 where input > 0 (no gradient)."""
    x = _t(input, "heaviside")
    v = _t(values, "heaviside", "values")
    out = _nd.heaviside(x, v)
    dt = np.result_type(x.dtype, v.dtype)
    return out if out.dtype == dt else out.to(dt)


def _integer_pair(fn, name):
    def f(input, other):
        x, o = _t(input, name), _t(other, name, "other")
        if x.dtype.kind not in "iub" or o.dtype.kind not in "iub":
            raise TypeError(f"{name}(): input and other must be integer tensors, got "
                            f"{x.dtype} and {o.dtype}")
        return getattr(_nd, fn)(x.detach(), o.detach())

    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"The elementwise {fn} of two integer tensors (no gradient)."
    return f


gcd = _integer_pair("gcd", "gcd")
lcm = _integer_pair("lcm", "lcm")


def frexp(input):
    """(mantissa, exponent) with input = mantissa * 2**exponent, |mantissa| in [0.5, 1) (int32
    exponent). The mantissa is differentiable (input * 2**-exponent).

    >>> import tensorgrad as tg
    >>> tg.frexp(tg.tensor([8.0])).exponent.tolist()
    [4]
    """
    x = _t(input, "frexp")
    _floating(x, "frexp")
    xp = _xp(x)
    _, ex = xp.frexp(x.data)
    scale = xp.ldexp(xp.ones((), x.dtype), -ex).astype(x.dtype)
    return FrexpResult(x * _const(scale), _const(ex.astype(np.int32)))


def ldexp(input, other):
    """input * 2**other, in the float dtype of the pair (float16 stays float16). Differentiable
    in both."""
    x, o = _ta._float_operands(_t(input, "ldexp"), _other(other, "ldexp"))
    return x * (_ex.exp2(o) if isinstance(o, Tensor) else 2.0 ** o)


# ---- complex numbers -------------------------------------------------------------------------
def complex(real, imag):
    """real + i imag, from two floating tensors of the same dtype (complex64 from float32,
    complex128 from float64). Differentiable in both.

    >>> import tensorgrad as tg
    >>> tg.complex(tg.tensor([1.0]), tg.tensor([2.0])).tolist()
    [(1+2j)]
    """
    re, im = _t(real, "complex", "real"), _t(imag, "complex", "imag")
    if re.dtype.kind != "f" or im.dtype.kind != "f" or re.dtype != im.dtype:
        raise TypeError(f"complex(): real and imag must be floating tensors of one dtype, got "
                        f"{re.dtype} and {im.dtype}")
    ctype = np.result_type(re.dtype, np.complex64)
    return re.to(ctype) + im.to(ctype) * 1j


def polar(abs, angle):
    """abs * (cos(angle) + i sin(angle)). Differentiable in both."""
    r, a = _t(abs, "polar", "abs"), _t(angle, "polar", "angle")
    return complex(r * _ew.cos(a), r * _ew.sin(a))


def view_as_real(input):
    """A complex tensor as real (..., 2) pairs (real, imag): a copy here, not a view.
    Differentiable."""
    x = _t(input, "view_as_real")
    if x.dtype.kind != "c":
        raise TypeError(f"view_as_real(): input must be complex, got {x.dtype}")
    return _ta.stack([_ew.real(x), _ew.imag(x)], -1)


def view_as_complex(input):
    """Real (..., 2) pairs as a complex tensor (...): a copy here, not a view. Differentiable."""
    x = _t(input, "view_as_complex")
    if x.ndim == 0 or x.shape[-1] != 2:
        raise ValueError(f"view_as_complex(): input must have a last dim of size 2, got shape "
                         f"{tuple(x.shape)}")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"view_as_complex(): input must be float32 or float64, got {x.dtype}")
    return complex(x[..., 0], x[..., 1])


def angle(input):
    """The argument of complex values (atan2(imag, real)); for real input 0, or pi where
    negative (NaN stays NaN). Differentiable for complex input."""
    x = _t(input, "angle")
    if x.dtype.kind == "c":
        return _ex.arctan2(_ew.imag(x), _ew.real(x))
    xp = _xp(x)
    f = x.data if x.dtype.kind == "f" else x.data.astype(np.float32)
    return _const(xp.where(f < 0, xp.asarray(math.pi, f.dtype), f * 0).astype(f.dtype))


# ---- histogram -------------------------------------------------------------------------------
def histogram(input, bins, *, range=None, weight=None, density=False):
    """(hist, bin_edges) of the flattened input: ``bins`` equal-width bins over ``range`` (the
    input's min and max by default), or the edges of a 1-D tensor ``bins``; ``weight`` weighs
    each element, ``density`` normalises to a density. No gradient. Reads the counts on the
    host (the edges of a data-dependent range too).

    >>> import tensorgrad as tg
    >>> tg.histogram(tg.tensor([1.0, 2.0, 1.0]), bins=4, range=(0.0, 3.0)).hist.tolist()
    [0.0, 2.0, 1.0, 0.0]
    """
    x = _t(input, "histogram")
    _floating(x, "histogram")
    xp = _xp(x)
    w = None
    if weight is not None:
        w = _t(weight, "histogram", "weight")
        if tuple(w.shape) != tuple(x.shape):
            raise ValueError(f"histogram(): weight of shape {tuple(w.shape)} must match input "
                             f"of shape {tuple(x.shape)}")
        w = w.data.reshape(-1)
    if isinstance(bins, Tensor):
        if bins.ndim != 1 or bins.shape[0] < 2:
            raise ValueError(f"histogram(): bins must be a 1-D tensor of at least 2 edges, got "
                             f"shape {tuple(bins.shape)}")
        edges = bins.data.astype(x.dtype)
        if range is not None:
            raise TypeError("histogram(): range is only taken with an int bins")
    elif isinstance(bins, numbers.Integral) and bins > 0:
        if range is None:
            # no data: [0, 1], as PyTorch's (and NumPy's)
            lo = builtins.float(to_host(x.data.min()).item()) if x.numel() else 0.0
            hi = builtins.float(to_host(x.data.max()).item()) if x.numel() else 1.0
        else:
            lo, hi = (builtins.float(v) for v in range)
            if lo > hi:
                raise ValueError(f"histogram(): range must be (min, max) with min <= max, got "
                                 f"{tuple(range)}")
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5  # NumPy's and PyTorch's widening
        edges = xp.linspace(lo, hi, int(bins) + 1).astype(x.dtype)
    else:
        raise TypeError(f"histogram(): bins must be a positive int or a 1-D tensor, got "
                        f"{bins!r}")
    hist, _ = xp.histogram(x.data.reshape(-1), bins=edges, weights=w, density=density)
    return HistogramResult(_const(hist.astype(x.dtype)), _const(edges))


# ---- Cholesky-based solves -------------------------------------------------------------------
def cholesky_solve(B, L, upper=False):
    """X with A X = B for A = L L^H (``upper=True``: A = U^H U) from its Cholesky factor, with
    batch dims broadcast. The factor is read whole (A is formed from it), which is the
    function whose gradient PyTorch returns (dense in L); for a triangular factor the values
    are PyTorch's. Differentiable in B and L.

    >>> import tensorgrad as tg
    >>> tg.cholesky_solve(tg.tensor([[4.0]]), tg.tensor([[2.0]])).item()
    1.0
    """
    b, f = _t(B, "cholesky_solve", "B"), _t(L, "cholesky_solve", "L")
    if f.ndim < 2 or f.shape[-1] != f.shape[-2]:
        raise ValueError(f"cholesky_solve(): L must be square matrices (..., n, n), got shape "
                         f"{tuple(f.shape)}")
    if b.ndim < 2 or b.shape[-2] != f.shape[-1]:
        raise ValueError(f"cholesky_solve(): B must be (..., n, k) with n = {f.shape[-1]} (L "
                         f"{tuple(f.shape)}), got shape {tuple(b.shape)}")
    _floating(b, "cholesky_solve", "B", True)
    _floating(f, "cholesky_solve", "L", True)
    fh = _la._mH(f)
    a = _ta.matmul(fh, f) if upper else _ta.matmul(f, fh)
    return _la.solve(a, b)


def cholesky_inverse(L, upper=False):
    """The inverse of A = L L^H (``upper=True``: A = U^H U) from its Cholesky factor (batched),
    read whole as in :func:`cholesky_solve`. Differentiable."""
    f = _t(L, "cholesky_inverse", "L")
    if f.ndim < 2 or f.shape[-1] != f.shape[-2]:
        raise ValueError(f"cholesky_inverse(): L must be square matrices (..., n, n), got shape "
                         f"{tuple(f.shape)}")
    _floating(f, "cholesky_inverse", "L", True)
    eye = _const(_xp(f).broadcast_to(_xp(f).eye(f.shape[-1], dtype=f.dtype), f.shape))
    return cholesky_solve(eye, f, upper)


# ---- a few more ------------------------------------------------------------------------------
def diagflat(input, offset=0):
    """The flattened input on the ``offset`` diagonal of a square matrix. Differentiable."""
    x = _t(input, "diagflat")
    return _ta.diag(x.reshape(-1), offset)


def vander(x, N=None, increasing=False):
    """The Vandermonde matrix of a 1-D x: columns x**(N-1) .. x**0 (``increasing``: x**0
    first); N defaults to len(x). Differentiable."""
    v = _t(x, "vander", "x")
    if v.ndim != 1:
        raise ValueError(f"vander(): x must be 1-D, got shape {tuple(v.shape)}")
    n = v.shape[0] if N is None else N
    if not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(f"vander(): N must be a non-negative int, got {N!r}")
    if n == 0:
        return _const(_xp(v).zeros((v.shape[0], 0), v.dtype))
    out = _la.vander(v, N=n)  # increasing powers: torch.linalg.vander's order
    return out if increasing else _ta.flip(out, (1,))


def unravel_index(indices, shape):
    """The coordinates (a tuple of int64 tensors) of flat ``indices`` in an array of
    ``shape``. Reads the indices on the host to check their range."""
    i = _t(indices, "unravel_index", "indices")
    if i.dtype.kind not in "iu":
        raise TypeError(f"unravel_index(): indices must be an integer tensor, got {i.dtype}")
    dims = (shape,) if isinstance(shape, numbers.Integral) else tuple(shape)
    total = math.prod(dims)
    if i.numel() and (_host(i.data.min()) < -total or _host(i.data.max()) >= total):
        raise ValueError(f"unravel_index(): indices out of range for shape {dims}")
    xp = _xp(i)
    flat = xp.where(i.data < 0, i.data + total, i.data).astype(np.int64)
    out = []
    for size in builtins.reversed(dims):
        out.append(_const(flat % size if size else flat * 0))
        flat = flat // size if size else flat
    return tuple(builtins.reversed(out))


def _host(a):
    return to_host(a).item()


_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def _promote(a, b):
    """PyTorch's promotion of two tensor dtypes: a higher category (bool < integer < floating
    < complex) wins outright (float32 with int64 is float32, not NumPy's float64); within one
    category, and complex with floating for the precision, NumPy's promotion."""
    a, b = np.dtype(a), np.dtype(b)
    ca, cb = _CATEGORY[a.kind], _CATEGORY[b.kind]
    if ca == cb or {ca, cb} == {2, 3}:
        return np.promote_types(a, b)
    return a if ca > cb else b


def _number_dtype(v, like):
    """The dtype a Python number takes next to a tensor of dtype ``like`` (PyTorch: it only
    counts when of a higher category; then the default float, or complex of like's
    precision)."""
    from .creation import get_default_dtype

    if isinstance(v, (builtins.bool, np.bool_)):
        kind = "b"
    elif isinstance(v, numbers.Integral):
        kind = "i"
    elif isinstance(v, numbers.Real):
        kind = "f"
    elif isinstance(v, numbers.Complex):
        kind = "c"
    else:
        raise TypeError(f"result_type(): expects Tensors or numbers, got {type(v).__name__}")
    if _CATEGORY[kind] <= _CATEGORY[like.kind]:
        return like
    if kind == "i":
        return np.dtype(np.int64)
    real = np.dtype(get_default_dtype())
    if kind == "f":
        return real
    return np.result_type(like if like.kind == "f" else real, np.complex64)


def result_type(tensor1, tensor2):
    """The dtype an operation on ``tensor1`` and ``tensor2`` (Tensors or numbers) gives, by
    PyTorch's rules (see :func:`promote_types`; a number only matters when of a higher
    category). 0-d tensors count as tensors here (PyTorch ranks them below n-d ones)."""
    t1, t2 = isinstance(tensor1, Tensor), isinstance(tensor2, Tensor)
    if t1 and t2:
        return _promote(tensor1.dtype, tensor2.dtype)
    if t1 or t2:
        t, v = (tensor1, tensor2) if t1 else (tensor2, tensor1)
        return _number_dtype(v, t.dtype)
    raise TypeError("result_type(): expects at least one Tensor")


def promote_types(type1, type2):
    """The dtype ``type1`` and ``type2`` promote to, by PyTorch's rules: a higher category
    (bool < integer < floating < complex) wins (float32 with int64 gives float32); within a
    category the smallest dtype holding both (int8 with uint8 gives int16)."""
    return _promote(type1, type2)


def can_cast(from_, to):
    """Whether PyTorch's casting rules allow ``from_`` to ``to`` implicitly: not to a lower
    category (complex -> floating -> integer -> bool); within a category always."""
    return _CATEGORY[np.dtype(from_).kind] <= _CATEGORY[np.dtype(to).kind]


def _split_along(name, dim, least):
    def f(input, indices_or_sections):
        x = _t(input, name)
        if x.ndim < least:
            raise ValueError(f"{name}(): input must have at least {least} dims, got shape "
                             f"{tuple(x.shape)}")
        d = 0 if (name == "hsplit" and x.ndim == 1) else dim
        s = indices_or_sections
        if isinstance(s, numbers.Integral) and (s <= 0 or x.shape[d] % s):
            raise ValueError(f"{name}(): dim {d} of size {x.shape[d]} (input {tuple(x.shape)}) "
                             f"is not divisible into {s} equal sections")
        return _ta.tensor_split(x, s, d)

    f.__name__ = f.__qualname__ = name
    f.__doc__ = (f"Split along dim {dim}{' (dim 0 for 1-D input)' * (name == 'hsplit')} into "
                 f"equal sections (an int that divides the size) or at indices, as NumPy's "
                 f"{name}. Differentiable.")
    return f


hsplit = _split_along("hsplit", 1, 1)
vsplit = _split_along("vsplit", 0, 2)
dsplit = _split_along("dsplit", 2, 3)


def addr(input, vec1, vec2, *, beta=1, alpha=1):
    """beta * input + alpha * outer(vec1, vec2) (beta=0 ignores input, its NaNs too).
    Differentiable."""
    from . import torch_surface as _ts

    v1, v2 = _t(vec1, "addr", "vec1"), _t(vec2, "addr", "vec2")
    if v1.ndim != 1 or v2.ndim != 1:
        raise ValueError(f"addr(): vec1 and vec2 must be 1-D, got shapes {tuple(v1.shape)} and "
                         f"{tuple(v2.shape)}")
    return _ts._beta_alpha("addr", input, _ta.outer(v1, v2), beta, alpha)


def adjoint(input):
    """The conjugate transpose of the last two dims (a copy here). Differentiable."""
    x = _t(input, "adjoint")
    if x.ndim < 2:
        raise ValueError(f"adjoint(): input must have at least 2 dims, got shape "
                         f"{tuple(x.shape)}")
    return _la._mH(x)


def chain_matmul(*matrices):
    """The product of 2-D matrices left to right (PyTorch's deprecated name; see
    ``tg.linalg.multi_dot``). Differentiable."""
    ms = _nd_tensors(matrices, "chain_matmul", "matrices", 2, "matrix")
    out = ms[0]
    for m in ms[1:]:
        out = _ta.mm(out, m)
    return out


def matrix_exp(A):
    """``tg.linalg.matrix_exp`` at top level."""
    return _la.matrix_exp(_t(A, "matrix_exp", "A"))


def is_conj(input):
    """False: tensorgrad has no lazy conjugate bit (conjugation computes)."""
    _t(input, "is_conj")
    return False


def resolve_conj(input):
    """``input`` itself (no lazy conjugate bit to resolve)."""
    return _t(input, "resolve_conj")


def resolve_neg(input):
    """``input`` itself (no lazy negation bit to resolve)."""
    return _t(input, "resolve_neg")


_MATMUL_PRECISION = ["highest"]


def get_float32_matmul_precision():
    """The value ``set_float32_matmul_precision`` last set ("highest" by default)."""
    return _MATMUL_PRECISION[0]


def set_float32_matmul_precision(precision):
    """Accepted for PyTorch code and recorded: NumPy's and CuPy's float32 products always use
    full float32 ("highest"; no TF32 or bfloat16 passes here)."""
    if precision not in ("highest", "high", "medium"):
        raise ValueError(f"set_float32_matmul_precision(): precision must be 'highest', 'high' "
                         f"or 'medium', got {precision!r}")
    _MATMUL_PRECISION[0] = precision


# ---- process-level switches ------------------------------------------------------------------
def _blas_controller():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # optional: without it the setting is recorded only
        return None
    return ThreadpoolController()


_threads = [None]


def get_num_threads():
    """The threads NumPy's BLAS uses (read through threadpoolctl where it is installed), else
    the value last set, else the CPU count. CuPy work is not affected."""
    ctl = _blas_controller()
    if ctl is not None:
        counts = [info["num_threads"] for info in ctl.info() if info.get("user_api") == "blas"]
        if counts:
            return builtins.max(counts)
    return _threads[0] or os.cpu_count() or 1


def set_num_threads(int):
    """Limit NumPy's BLAS to ``int`` threads (through threadpoolctl where it is installed; else
    the value is only recorded, as tensorgrad has no thread pool of its own). Elementwise NumPy
    code is single-threaded anyway; CuPy work is not affected."""
    n = int
    if not isinstance(n, numbers.Integral) or isinstance(n, builtins.bool) or n < 1:
        raise ValueError(f"set_num_threads(): expects a positive int, got {n!r}")
    _threads[0] = builtins.int(n)
    ctl = _blas_controller()
    if ctl is not None:
        ctl.limit(limits=builtins.int(n), user_api="blas")


_deterministic = {"mode": False, "warn_only": False}


def use_deterministic_algorithms(mode, *, warn_only=False):
    """Accepted for PyTorch code: tensorgrad's operations are deterministic already (its
    scatters and reductions add in a fixed order on the CPU; on the GPU, CuPy's atomic adds in
    scatter-adds can reorder float sums, which this flag does not change). The flag is
    recorded for ``are_deterministic_algorithms_enabled``."""
    if not isinstance(mode, (builtins.bool, np.bool_)):
        raise TypeError(f"use_deterministic_algorithms(): mode must be a bool, got {mode!r}")
    _deterministic["mode"] = builtins.bool(mode)
    _deterministic["warn_only"] = builtins.bool(warn_only)


def are_deterministic_algorithms_enabled():
    """The flag ``use_deterministic_algorithms`` last set (False by default)."""
    return _deterministic["mode"]


def is_deterministic_algorithms_warn_only_enabled():
    """The ``warn_only`` flag ``use_deterministic_algorithms`` last set."""
    return _deterministic["warn_only"]


_PROFILES = {"default": dict(precision=4, threshold=1000, edgeitems=3, linewidth=80),
             "short": dict(precision=2, threshold=1000, edgeitems=2, linewidth=80),
             "full": dict(precision=4, threshold=math.inf, edgeitems=3, linewidth=80)}
_print = {}  # NumPy printoptions for Tensor repr; empty: NumPy's own (tensorgrad's default)


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None,
                     profile=None, sci_mode=None):
    """PyTorch's print options for Tensor repr (which prints with NumPy): ``precision`` digits
    after the point (fixed, as PyTorch), ``threshold`` elements before summarising,
    ``edgeitems`` shown at each end, ``linewidth``, ``sci_mode`` True/False to force or
    suppress scientific notation (None: automatic). ``profile`` "default", "short" or "full"
    sets PyTorch's presets first; "default" with nothing else restores tensorgrad's own
    printing (NumPy's shortest round-trip digits).

    >>> import tensorgrad as tg
    >>> tg.set_printoptions(precision=2)
    >>> tg.tensor([1.0 / 3])
    tensor([0.33])
    >>> tg.set_printoptions(profile="default")
    """
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"set_printoptions(): profile must be one of {sorted(_PROFILES)}, "
                             f"got {profile!r}")
        _print.clear()
        if profile != "default" or builtins.any(
                v is not None for v in (precision, threshold, edgeitems, linewidth, sci_mode)):
            _print.update(_PROFILES[profile])
    for key, value in (("precision", precision), ("threshold", threshold),
                       ("edgeitems", edgeitems), ("linewidth", linewidth)):
        if value is not None:
            if not isinstance(value, numbers.Real) or value < 0:
                raise ValueError(f"set_printoptions(): {key} must be a non-negative number, "
                                 f"got {value!r}")
            _print[key] = value
    if sci_mode is not None:
        _print["sci_mode"] = builtins.bool(sci_mode)


def _numpy_options():
    opts = {k: v for k, v in _print.items() if k != "sci_mode"}
    if "threshold" in opts:
        opts["threshold"] = sys_maxsize if opts["threshold"] == math.inf else builtins.int(
            opts["threshold"])
    if "precision" in opts:
        opts["precision"] = builtins.int(opts["precision"])
        opts["floatmode"] = "fixed"
    sci = _print.get("sci_mode")
    if sci is True:
        p = opts.get("precision", 4)
        opts["formatter"] = {"float_kind": lambda v: f"{v:.{p}e}"}
    elif sci is False:
        opts["suppress"] = True
    return opts


sys_maxsize = np.iinfo(np.intp).max


def _with_printoptions(plain_repr):
    def __repr__(self):
        if not _print:
            return plain_repr(self)
        with np.printoptions(**_numpy_options()):
            return plain_repr(self)

    __repr__.__wrapped__ = plain_repr
    return __repr__


class Size(tuple):
    """PyTorch's torch.Size: a tuple of ints with ``numel()``. ``Tensor.size()`` is one;
    ``Tensor.shape`` stays a plain tuple (equal to it), the engine reads it on every op."""

    def __new__(cls, sizes=()):
        vals = tuple(sizes)
        for v in vals:
            if not isinstance(v, numbers.Integral):
                raise TypeError(f"Size(): expects ints, got {v!r}")
        return super().__new__(cls, (builtins.int(v) for v in vals))

    def numel(self):
        return math.prod(self)

    def __repr__(self):
        return f"tg.Size({list(self)})"

    def __getitem__(self, i):
        out = super().__getitem__(i)
        return Size(out) if isinstance(i, slice) else out


# ---- Tensor methods --------------------------------------------------------------------------
_METHODS = ("cummax cummin quantile nanquantile nanmedian mode copysign heaviside gcd lcm "
            "frexp ldexp histogram cholesky_solve cholesky_inverse diagflat angle hsplit vsplit "
            "dsplit addr adjoint matrix_exp is_conj resolve_conj resolve_neg").split()


def _cholesky_solve_method(self, input2, upper=False):
    return cholesky_solve(self, input2, upper)


def _size_method(self, dim=None):
    """PyTorch's ``x.size()``: a ``tg.Size`` (``x.size().numel()``), or one dimension's length."""
    shape = self.data.shape
    return tuple.__new__(Size, shape) if dim is None else shape[dim]


def _attach(T):
    g = globals()
    for name in _METHODS:
        if not hasattr(T, name):
            setattr(T, name, g[name])
    T.cholesky_solve = _cholesky_solve_method  # Tensor.cholesky_solve(input2, upper)
    T.size = _size_method
    if not hasattr(T.__repr__, "__wrapped__"):
        T.__repr__ = _with_printoptions(T.__repr__)


_attach(Tensor)

NAMES = [
    "cummax", "cummin", "quantile", "nanquantile", "nanmedian", "mode", "trapezoid", "trapz",
    "cumulative_trapezoid", "cartesian_prod", "combinations", "cosine_similarity",
    "pairwise_distance", "pdist", "copysign", "heaviside", "gcd", "lcm", "frexp", "ldexp",
    "complex", "polar", "view_as_real", "view_as_complex", "angle", "histogram",
    "cholesky_solve", "cholesky_inverse", "diagflat", "vander", "unravel_index", "result_type",
    "promote_types", "can_cast", "get_num_threads", "set_num_threads",
    "hsplit", "vsplit", "dsplit", "addr", "adjoint", "chain_matmul", "matrix_exp", "is_conj",
    "resolve_conj", "resolve_neg", "get_float32_matmul_precision", "set_float32_matmul_precision",
    "use_deterministic_algorithms", "are_deterministic_algorithms_enabled",
    "is_deterministic_algorithms_warn_only_enabled", "set_printoptions", "Size",
]
__all__ = list(NAMES)
