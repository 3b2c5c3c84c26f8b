"""``tensorgrad.scipy.special``: SciPy's special functions, differentiable.

Each function is a primitive: its forward is ``scipy.special`` (``cupyx.scipy.special`` for CuPy
arrays) and its derivative rules are written with tensorgrad's own functions, most of them
other functions of this module, so that derivatives of any order come for free. Arrays in,
arrays out; any Tensor in, Tensor out. Functions that need SciPy raise ImportError when it is
missing (``pip install 'tensorgrad[scipy]'``); ``logsumexp``, ``softmax``, ``log_softmax``,
``expit`` and ``logit`` work without it.

Arguments without a derivative (an integer order, the ``a`` of ``gammainc``) are marked in the
docstrings; passing them a Tensor that carries a derivative raises NotImplementedError rather
than silently dropping it.

>>> import numpy as np, tensorgrad as tg
>>> from tensorgrad.scipy.special import gammaln
>>> round(float(tg.grad(gammaln)(1.0)), 6)  # digamma(1) = -euler_gamma
-0.577216
"""

import math

import numpy as np

from .. import numpy as tnp
from ..backend.device import xp_of
from ..ops.registry import defjvp, defvjp, primitive
from ..tensor import _raw
from ..tensor import keep_array as _as_array
from ._module import scipy_module

_AxisError = getattr(getattr(np, "exceptions", np), "AxisError", ValueError)  # NumPy < 1.25
_SQRT_PI = math.sqrt(math.pi)
_SQRT_2PI = math.sqrt(2 * math.pi)
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _special_module(args, name):
    return scipy_module("special", args, name)


_LOW = (np.dtype(np.float32), np.dtype(np.float16))


def _low_precision(args):
    """float32 (or float16) when the array arguments are all of that dtype, else None."""
    low = None
    for a in args:
        dt = getattr(a, "dtype", None)
        if dt is None or dt.kind in "iub":
            continue
        if dt not in _LOW or (low is not None and dt != low):
            return None
        low = dt
    return low


def _scipy_prim(name, doc, saves=True, order_arg=False):
    """A primitive whose forward is ``scipy.special.<name>`` (or CuPy's) on raw arrays.
    ``order_arg``: the first argument is an integer order, which CuPy's functions (unlike
    SciPy's) need as an array (cupyx's polygamma calls ``where(n == 0, ...)``)."""

    def fwd(*args):
        low = _low_precision(args)
        if order_arg and not hasattr(args[0], "dtype"):
            xp = xp_of(args[1])
            if xp is not np:
                args = (xp.asarray(args[0]),) + args[1:]
        if low is None:
            return getattr(_special_module(args, name), name)(*args)
        # SciPy's kernels do not all treat a Python number as weak: make it float32 here, and
        # bring a wider answer (float64 of float32 arrays, float32 of float16) back to theirs
        args = tuple(low.type(a) if type(a) is float else a for a in args)
        out = getattr(_special_module(args, name), name)(*args)
        return out.astype(low) if out.dtype.kind == "f" and out.dtype != low else out

    fwd.__name__ = fwd.__qualname__ = name
    fwd.__doc__ = doc
    prim = primitive(fwd, saves=saves)
    # Tensor operands promote as PyTorch's (integer tensors give the default float dtype,
    # float32 meets int64 as float32); an integer order is not an operand. Arrays keep NumPy's.
    prim.prim.promote = 1 if order_arg else 0
    return prim


def _elementwise(prim, *rules):
    """VJP and JVP of an elementwise function, one rule per argument: ``rule(s, ans, *args)``
    is ``s`` times that argument's partial derivative, so the same rule serves as the VJP
    (``s`` the output's cotangent g) and as the JVP (``s`` the argument's tangent t). None, or a
    ``_no_derivative`` rule, for an argument without one."""
    defvjp(prim, *rules)
    defjvp(prim, *rules)


def _unary(prim, d):
    """VJP and JVP of an elementwise function from its derivative ``d(x, ans)``."""
    _elementwise(prim, lambda s, ans, x: s * d(x, ans))


def _no_derivative(name, arg):
    def rule(*_args, **_kw):
        raise NotImplementedError(f"{name}: no derivative with respect to {arg} is implemented; "
                                  "pass it as a constant (an array, or .detach())")

    return rule


def _with_order(prim, name, order_name, d):
    """Rules for ``f(order, x)`` differentiable in ``x`` only, from ``d(order, x, ans)``."""
    _elementwise(prim, _no_derivative(name, order_name), lambda s, ans, v, x: s * d(v, x, ans))


# ---- gamma and friends -------------------------------------------------------------------
gammaln = _scipy_prim("gammaln", "log|Gamma(x)|; its derivative is digamma(x).")
digamma = _scipy_prim("digamma", "The digamma function psi(x) = d/dx log Gamma(x).")
psi = digamma
polygamma = _scipy_prim("polygamma", "polygamma(n, x): the n-th derivative of digamma "
                                     "(differentiable in x; n is an integer order).",
                        order_arg=True)
gamma = _scipy_prim("gamma", "The gamma function.")
rgamma = _scipy_prim("rgamma", "1 / Gamma(x).")
gammasgn = _scipy_prim("gammasgn", "The sign of Gamma(x) (no derivative).", saves=False)
multigammaln = _scipy_prim("multigammaln", "multigammaln(a, d): log of the multivariate gamma "
                                           "function of dimension d (an int).")
beta = _scipy_prim("beta", "beta(a, b) = Gamma(a) Gamma(b) / Gamma(a + b).")
betaln = _scipy_prim("betaln", "log|beta(a, b)|.")
gammainc = _scipy_prim("gammainc", "gammainc(a, x): the regularized lower incomplete gamma "
                                   "function (differentiable in x only).")
gammaincc = _scipy_prim("gammaincc", "gammaincc(a, x) = 1 - gammainc(a, x) (differentiable in "
                                     "x only).")
betainc = _scipy_prim("betainc", "betainc(a, b, x): the regularized incomplete beta function "
                                 "(differentiable in x only).")

_unary(gammaln, lambda x, ans: digamma(x))
_unary(digamma, lambda x, ans: polygamma(1, x))
_with_order(polygamma, "polygamma", "the order n", lambda n, x, ans: polygamma(n + 1, x))
_unary(gamma, lambda x, ans: ans * digamma(x))
_unary(rgamma, lambda x, ans: -ans * digamma(x))
_elementwise(multigammaln, lambda s, ans, a, d: s * _multidigamma(a, d), None)


def _multidigamma(a, d):
    # d/da log Gamma_d(a) = sum_j digamma(a - j / 2), j = 0 .. d-1
    half_steps = xp_of(_raw(a)).arange(d) / 2.0  # on a's device
    return tnp.sum(digamma(tnp.expand_dims(a, -1) - half_steps), axis=-1)


def _beta_da(a, b):
    return digamma(a) - digamma(a + b)


_elementwise(beta, lambda s, ans, a, b: s * ans * _beta_da(a, b),
             lambda s, ans, a, b: s * ans * _beta_da(b, a))
_elementwise(betaln, lambda s, ans, a, b: s * _beta_da(a, b),
             lambda s, ans, a, b: s * _beta_da(b, a))


def _gammainc_dx(a, x):
    # x^(a-1) e^-x / Gamma(a), in logs so that large a does not overflow
    return tnp.exp(xlogy(a - 1, x) - x - gammaln(a))


_elementwise(gammainc, _no_derivative("gammainc", "a"),
             lambda s, ans, a, x: s * _gammainc_dx(a, x))
_elementwise(gammaincc, _no_derivative("gammaincc", "a"),
             lambda s, ans, a, x: -s * _gammainc_dx(a, x))


def _betainc_dx(a, b, x):
    return tnp.exp(xlogy(a - 1, x) + xlog1py(b - 1, -x) - betaln(a, b))


_elementwise(betainc, _no_derivative("betainc", "a"), _no_derivative("betainc", "b"),
             lambda s, ans, a, b, x: s * _betainc_dx(a, b, x))


# ---- error functions and the normal distribution -----------------------------------------
erf = _scipy_prim("erf", "The error function.")
erfc = _scipy_prim("erfc", "1 - erf(x).")
erfcx = _scipy_prim("erfcx", "exp(x**2) * erfc(x), computed without overflow.")
erfinv = _scipy_prim("erfinv", "The inverse of erf.")
erfcinv = _scipy_prim("erfcinv", "The inverse of erfc.")
ndtr = _scipy_prim("ndtr", "The standard normal CDF.")
log_ndtr = _scipy_prim("log_ndtr", "log of the standard normal CDF, accurate in the tails.")
ndtri = _scipy_prim("ndtri", "The inverse of ndtr (the standard normal quantile).")
dawsn = _scipy_prim("dawsn", "Dawson's integral.")


def _gauss(x):
    return tnp.exp(-tnp.square(x))


_unary(erf, lambda x, ans: (2 / _SQRT_PI) * _gauss(x))
_unary(erfc, lambda x, ans: (-2 / _SQRT_PI) * _gauss(x))
_unary(erfcx, lambda x, ans: 2 * x * ans - 2 / _SQRT_PI)
_unary(erfinv, lambda x, ans: (_SQRT_PI / 2) * tnp.exp(tnp.square(ans)))
_unary(erfcinv, lambda x, ans: (-_SQRT_PI / 2) * tnp.exp(tnp.square(ans)))
_unary(ndtr, lambda x, ans: tnp.exp(-0.5 * tnp.square(x) - _HALF_LOG_2PI))
# phi(x) / Phi(x), formed in logs: stable far in the left tail where both underflow
_unary(log_ndtr, lambda x, ans: tnp.exp(-0.5 * tnp.square(x) - _HALF_LOG_2PI - ans))
_unary(ndtri, lambda x, ans: _SQRT_2PI * tnp.exp(0.5 * tnp.square(ans)))
_unary(dawsn, lambda x, ans: 1 - 2 * x * ans)


# ---- exponential integrals ---------------------------------------------------------------
expi = _scipy_prim("expi", "The exponential integral Ei(x).")
exp1 = _scipy_prim("exp1", "The exponential integral E1(x).")
_unary(expi, lambda x, ans: tnp.exp(x) / x)
_unary(exp1, lambda x, ans: -tnp.exp(-x) / x)


# ---- Bessel functions ---------------------------------------------------------------------
j0 = _scipy_prim("j0", "Bessel function of the first kind, order 0.")
j1 = _scipy_prim("j1", "Bessel function of the first kind, order 1.")
y0 = _scipy_prim("y0", "Bessel function of the second kind, order 0.")
y1 = _scipy_prim("y1", "Bessel function of the second kind, order 1.")
jv = _scipy_prim("jv", "jv(v, x): Bessel function of the first kind of real order v "
                       "(differentiable in x).")
yv = _scipy_prim("yv", "yv(v, x): Bessel function of the second kind of real order v "
                       "(differentiable in x).")
jn = _scipy_prim("jn", "jn(n, x): Bessel function of the first kind of integer order n.")
yn = _scipy_prim("yn", "yn(n, x): Bessel function of the second kind of integer order n.")
i0 = _scipy_prim("i0", "Modified Bessel function of the first kind, order 0.")
i1 = _scipy_prim("i1", "Modified Bessel function of the first kind, order 1.")
i0e = _scipy_prim("i0e", "exp(-|x|) * i0(x).")
i1e = _scipy_prim("i1e", "exp(-|x|) * i1(x).")
iv = _scipy_prim("iv", "iv(v, x): modified Bessel function of the first kind (differentiable "
                       "in x).")
ive = _scipy_prim("ive", "ive(v, x) = exp(-|x|) * iv(v, x) for real x.")
k0 = _scipy_prim("k0", "Modified Bessel function of the second kind, order 0.")
k1 = _scipy_prim("k1", "Modified Bessel function of the second kind, order 1.")
kv = _scipy_prim("kv", "kv(v, x): modified Bessel function of the second kind (differentiable "
                       "in x).")
kve = _scipy_prim("kve", "kve(v, x) = exp(x) * kv(v, x).")


def _sign(x):
    return tnp.sign(x)  # no derivative: piecewise constant


def _over_x(f, x, at_zero):
    """f(x) / x, and ``at_zero`` at x == 0 (the limit), with no 0/0 to leak into derivatives.
    The first-order rules below are written with the order-0 and order-1 functions only
    (j1' = j0 - j1/x rather than (j0 - jv(2, x))/2): CuPy has those, not jv, iv or kv."""
    zero = x == 0
    safe = tnp.where(zero, 1.0, x)
    return tnp.where(zero, at_zero, f(safe) / safe)


_unary(j0, lambda x, ans: -j1(x))
_unary(j1, lambda x, ans: j0(x) - _over_x(j1, x, 0.5))
_unary(y0, lambda x, ans: -y1(x))
_unary(y1, lambda x, ans: y0(x) - y1(x) / x)
_with_order(jv, "jv", "the order v", lambda v, x, ans: (jv(v - 1, x) - jv(v + 1, x)) / 2)
_with_order(yv, "yv", "the order v", lambda v, x, ans: (yv(v - 1, x) - yv(v + 1, x)) / 2)
_with_order(jn, "jn", "the order n", lambda v, x, ans: (jv(v - 1, x) - jv(v + 1, x)) / 2)
_with_order(yn, "yn", "the order n", lambda n, x, ans: (yn(n - 1, x) - yn(n + 1, x)) / 2)
_unary(i0, lambda x, ans: i1(x))
_unary(i1, lambda x, ans: i0(x) - _over_x(i1, x, 0.5))
_unary(i0e, lambda x, ans: i1e(x) - _sign(x) * ans)
_unary(i1e, lambda x, ans: i0e(x) - _over_x(i1e, x, 0.5) - _sign(x) * ans)
_with_order(iv, "iv", "the order v", lambda v, x, ans: (iv(v - 1, x) + iv(v + 1, x)) / 2)
_with_order(ive, "ive", "the order v",
            lambda v, x, ans: (ive(v - 1, x) + ive(v + 1, x)) / 2 - _sign(x) * ans)
_unary(k0, lambda x, ans: -k1(x))
_unary(k1, lambda x, ans: -k0(x) - k1(x) / x)
_with_order(kv, "kv", "the order v", lambda v, x, ans: -(kv(v - 1, x) + kv(v + 1, x)) / 2)
_with_order(kve, "kve", "the order v",
            lambda v, x, ans: ans - (kve(v - 1, x) + kve(v + 1, x)) / 2)


# ---- distribution functions with a derivative in the continuous argument ---------------
stdtr = _scipy_prim("stdtr", "stdtr(df, t): the CDF of Student's t distribution (differentiable "
                             "in t).")
pdtr = _scipy_prim("pdtr", "pdtr(k, m): the Poisson CDF, P(K <= k) for mean m (differentiable "
                           "in m).")


def _t_density(t, df):
    half = (df + 1) / 2
    return tnp.exp(gammaln(half) - gammaln(df / 2) - 0.5 * tnp.log(df * math.pi)
                   - half * tnp.log1p(tnp.square(t) / df))


def _pdtr_dm(k, m):
    # d/dm P(K <= k) = -P(K = floor(k))
    kf = tnp.floor(k)
    return -tnp.exp(xlogy(kf, m) - m - gammaln(kf + 1))


_elementwise(stdtr, _no_derivative("stdtr", "df"), lambda s, ans, df, t: s * _t_density(t, df))
_elementwise(pdtr, None, lambda s, ans, k, m: s * _pdtr_dm(k, m))


# ---- information theory -------------------------------------------------------------------
xlogy = _scipy_prim("xlogy", "x * log(y), and 0 where x == 0.")
xlog1py = _scipy_prim("xlog1py", "x * log1p(y), and 0 where x == 0.")
entr = _scipy_prim("entr", "-x * log(x) for x > 0, 0 at 0.")
rel_entr = _scipy_prim("rel_entr", "x * log(x / y) for x, y > 0, 0 at x == 0.")

# d/dx as PyTorch's: xlogy(s, y), so a zero cotangent gives 0 where log(y) is infinite or NaN
# (an entry masked out of a loss), and 0 where x == 0 and y is at or below the pole
_elementwise(xlogy, lambda s, ans, x, y: tnp.where((x == 0) & (y <= 0), 0, xlogy(s, y)),
             lambda s, ans, x, y: s * x / y)
_elementwise(xlog1py, lambda s, ans, x, y: tnp.where((x == 0) & (y <= -1), 0, xlog1py(s, y)),
             lambda s, ans, x, y: s * x / (1 + y))
_unary(entr, lambda x, ans: -1 - tnp.log(x))
_elementwise(rel_entr, lambda s, ans, x, y: s * (tnp.log(x / y) + 1),
             lambda s, ans, x, y: -s * x / y)


# ---- logistic functions (NumPy forward: no SciPy needed) -----------------------------------
@primitive
def expit(x):
    """The logistic sigmoid 1 / (1 + exp(-x))."""
    xp = xp_of(x)
    return (xp.tanh(xp.multiply(x, 0.5)) + 1) * 0.5  # no overflow warning for large |x|


@primitive
def logit(x):
    """log(x / (1 - x)), the inverse of expit."""
    xp = xp_of(x)
    return xp.log(x) - xp.log1p(xp.negative(x))


@primitive
def log_expit(x):
    """log(expit(x)), accurate for large |x|."""
    xp = xp_of(x)
    return -xp.logaddexp(0, xp.negative(x))


_unary(expit, lambda x, ans: ans * (1 - ans))
_unary(logit, lambda x, ans: 1 / (x * (1 - x)))
_unary(log_expit, lambda x, ans: expit(-x))


# ---- logsumexp, softmax -------------------------------------------------------------------
def _axes(axis, ndim):
    if axis is None:
        return None
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < ndim:
            raise _AxisError(f"logsumexp: axis {a} is out of bounds for an array "
                                          f"of dimension {ndim}")
        out.append(a % ndim)
    return tuple(sorted(set(out)))


def _kept_shape(shape, axes):
    if axes is None:
        return (1,) * len(shape)
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


@primitive
def _logsumexp_b(a, b, axes, keepdims):
    """log|sum(b * exp(a))| over ``axes`` (a sorted tuple, or None for all)."""
    xp = xp_of(a)
    a = xp.asarray(a)
    m = xp.max(a, axis=axes, keepdims=True) if a.size else xp.zeros((1,) * a.ndim, a.dtype)
    m = xp.where(xp.isfinite(m), m, 0)  # rows of -inf (or inf): shift by 0 there instead
    s = xp.sum(b * xp.exp(a - m), axis=axes, keepdims=True)
    with np.errstate(divide="ignore"):
        out = xp.log(xp.abs(s)) + m
    out = out.astype(np.result_type(a.dtype, np.float16)) if out.dtype.kind not in "fc" else out
    return out if keepdims else out.reshape(_reduced_shape(out.shape, axes))


def _reduced_shape(shape, axes):
    return tuple(n for i, n in enumerate(shape) if axes is not None and i not in axes)


def _sum_sign(a, b, ans, axes, keepdims):
    """The sign of sum(b * exp(a)): a constant (no derivative), 1 where b >= 0 throughout."""
    ra, rb = _raw(a), _raw(b)
    xp = xp_of(ra)
    if xp.all(rb >= 0):
        return 1.0
    shape = np.broadcast_shapes(np.shape(ra), np.shape(rb))
    s = xp.sum(rb * xp.exp(ra - _raw(ans).reshape(_kept_shape(shape, axes))), axis=axes,
               keepdims=True)
    return xp.sign(s)


def _lse_weights(ans, a, b, axes, keepdims):
    """d ans / d a, expanded to the shape of b * exp(a): sign * b * exp(a - ans)."""
    shape = np.broadcast_shapes(np.shape(_raw(a)), np.shape(_raw(b)))
    ans_k = tnp.reshape(ans, _kept_shape(shape, axes))
    return _sum_sign(a, b, ans, axes, keepdims) * tnp.exp(a - ans_k)


def _lse_expand(g, a, b, axes):
    shape = np.broadcast_shapes(np.shape(_raw(a)), np.shape(_raw(b)))
    return tnp.reshape(g, _kept_shape(shape, axes))


defvjp(_logsumexp_b,
       lambda g, ans, a, b, axes, keepdims:
       _lse_expand(g, a, b, axes) * b * _lse_weights(ans, a, b, axes, keepdims),
       lambda g, ans, a, b, axes, keepdims:
       _lse_expand(g, a, b, axes) * _lse_weights(ans, a, b, axes, keepdims))
defjvp(_logsumexp_b,
       lambda t, ans, a, b, axes, keepdims:
       tnp.sum(t * b * _lse_weights(ans, a, b, axes, keepdims), axis=axes, keepdims=keepdims),
       lambda t, ans, a, b, axes, keepdims:
       tnp.sum(t * _lse_weights(ans, a, b, axes, keepdims), axis=axes, keepdims=keepdims))


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    """SciPy's logsumexp: log(sum(b * exp(a))) over ``axis`` (int, tuple or None), computed
    stably; differentiable in ``a`` and ``b``. With ``return_sign=True`` it returns
    ``(log|sum|, sign)``, the sign without a derivative.

    >>> import numpy as np
    >>> float(logsumexp(np.log([1.0, 2.0, 3.0])))  # doctest: +ELLIPSIS
    1.79175946...
    """
    a = _as_array(a)
    if b is None and not return_sign:
        with np.errstate(divide="ignore"):  # all -inf gives -inf, as SciPy's does, silently
            return tnp.logsumexp(a, axis=axis, keepdims=keepdims)
    b = 1.0 if b is None else _as_array(b)
    ndim = len(np.broadcast_shapes(np.shape(_raw(a)), np.shape(_raw(b))))
    axes = _axes(axis, ndim)
    out = _logsumexp_b(a, b, axes, keepdims)
    if not return_sign:
        return out
    ra = _raw(a)
    xp = xp_of(ra)
    s = xp.sum(_raw(b) * xp.exp(ra - xp.reshape(_raw(out), _kept_shape(
        np.broadcast_shapes(np.shape(ra), np.shape(_raw(b))), axes))), axis=axes,
        keepdims=keepdims)
    return out, xp.sign(s)


def softmax(x, axis=None):
    """exp(x) / sum(exp(x)) over ``axis`` (all axes when None), as SciPy defines it."""
    x = _as_array(x)
    return tnp.exp(x - tnp.logsumexp(x, axis=axis, keepdims=True))


def log_softmax(x, axis=None):
    """log(softmax(x)), computed stably."""
    x = _as_array(x)
    return x - tnp.logsumexp(x, axis=axis, keepdims=True)


__all__ = [
    "gammaln", "digamma", "psi", "polygamma", "gamma", "rgamma", "gammasgn", "multigammaln",
    "beta", "betaln", "gammainc", "gammaincc", "betainc", "erf", "erfc", "erfcx", "erfinv",
    "erfcinv", "ndtr", "log_ndtr", "ndtri", "dawsn", "expi", "exp1", "j0", "j1", "y0", "y1",
    "jv", "yv", "jn", "yn", "i0", "i1", "i0e", "i1e", "iv", "ive", "k0", "k1", "kv", "kve",
    "stdtr", "pdtr", "xlogy", "xlog1py", "entr", "rel_entr", "expit", "logit", "log_expit",
    "logsumexp", "softmax", "log_softmax",
]
