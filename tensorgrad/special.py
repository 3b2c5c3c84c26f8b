"""``tg.special``: PyTorch's ``torch.special``, differentiable, on cpu and cuda.

PyTorch's names and arguments over the primitives of :mod:`tensorgrad.scipy.special` (SciPy's
kernels on the cpu, ``cupyx.scipy.special`` on cuda) and of tensorgrad's top level
(``tg.sigmoid``, ``tg.logsumexp``, ...), so derivatives of any order come from their rules.
Derivatives follow PyTorch's: none with respect to the integer order of ``polygamma`` or the
first argument of ``zeta``, ``gammainc`` and ``gammaincc`` (passing a Tensor that needs one
raises NotImplementedError rather than dropping it). Where PyTorch has no derivative but one is
known (``bessel_j0``, ``bessel_j1``, ``bessel_y0``, ``bessel_y1``, the ``modified_bessel_*``),
tensorgrad gives it (also ``airy_ai`` and ``scaled_modified_bessel_k0``/``k1``); ``round``
carries no history (PyTorch's gradient is zero), nor do the orthogonal polynomials
(``chebyshev_polynomial_*``, ``hermite_polynomial_*``, ``laguerre_polynomial_l``,
``legendre_polynomial_p``), as in PyTorch.

>>> import tensorgrad as tg
>>> tg.special.ndtr(tg.tensor([0.0])).tolist()
[0.5]
"""

import math
import numbers

import numpy as np

from . import torch_api as _ta
from . import torch_surface as _ts
from .backend.device import to_host, xp_of
from .ops.registry import _default_of, primitive
from .scipy import special as _ss
from .tensor import Tensor, _new_tensor
from .torch_api import _t


def _door(fn, name, doc):
    def f(input):
        return fn(_t(input, name))

    f.__name__ = f.__qualname__ = name
    f.__doc__ = doc
    return f


erf = _door(_ss.erf, "erf", "The error function.")
erfc = _door(_ss.erfc, "erfc", "1 - erf(input).")
erfcx = _door(_ss.erfcx, "erfcx", "exp(input ** 2) * erfc(input), without overflow.")
erfinv = _door(_ss.erfinv, "erfinv", "The inverse of erf.")
expit = _door(_ta.sigmoid, "expit", "The logistic sigmoid 1 / (1 + exp(-input)).")
exp2 = _door(_ta.exp2, "exp2", "2 ** input.")
expm1 = _door(_ta.expm1, "expm1", "exp(input) - 1, accurate near 0.")
log1p = _door(_ta.log1p, "log1p", "log(1 + input), accurate near 0.")
gammaln = _door(_ss.gammaln, "gammaln", "log|Gamma(input)|.")
digamma = _door(_ss.digamma, "digamma", "The digamma function, d/dx log Gamma(x).")
psi = digamma
i0 = _door(_ss.i0, "i0", "The modified Bessel function of the first kind, order 0.")
i0e = _door(_ss.i0e, "i0e", "exp(-|input|) * i0(input).")
i1 = _door(_ss.i1, "i1", "The modified Bessel function of the first kind, order 1.")
i1e = _door(_ss.i1e, "i1e", "exp(-|input|) * i1(input).")
ndtr = _door(_ss.ndtr, "ndtr", "The standard normal CDF.")
ndtri = _door(_ss.ndtri, "ndtri", "The standard normal quantile (the inverse of ndtr).")
log_ndtr = _door(_ss.log_ndtr, "log_ndtr", "log of the standard normal CDF, accurate in the "
                                           "tails.")
sinc = _door(_ta.sinc, "sinc", "The normalized sinc, sin(pi x) / (pi x), and 1 at 0.")
entr = _door(_ss.entr, "entr", "-input * log(input) for input > 0, 0 at 0, -inf below.")
bessel_j0 = _door(_ss.j0, "bessel_j0", "The Bessel function of the first kind, order 0.")
bessel_j1 = _door(_ss.j1, "bessel_j1", "The Bessel function of the first kind, order 1.")
bessel_y0 = _door(_ss.y0, "bessel_y0", "The Bessel function of the second kind, order 0.")
bessel_y1 = _door(_ss.y1, "bessel_y1", "The Bessel function of the second kind, order 1.")
modified_bessel_i0 = _door(_ss.i0, "modified_bessel_i0", "The same as i0.")
modified_bessel_i1 = _door(_ss.i1, "modified_bessel_i1", "The same as i1.")
modified_bessel_k0 = _door(_ss.k0, "modified_bessel_k0",
                           "The modified Bessel function of the second kind, order 0.")
modified_bessel_k1 = _door(_ss.k1, "modified_bessel_k1",
                           "The modified Bessel function of the second kind, order 1.")


def spherical_bessel_j0(input):
    """sin(input) / input, and 1 at 0 (the normalized sinc of input / pi)."""
    return _ta.sinc(_t(input, "spherical_bessel_j0") / math.pi)


def logit(input, eps=None):
    """log(p / (1 - p)); with ``eps`` the input is clamped to [eps, 1 - eps] first."""
    return _ta.logit(input, eps)


def round(input, *, decimals=0):
    """Round half to even, to ``decimals`` places (no derivative: PyTorch's is zero)."""
    return _ta.round(input, decimals=decimals)


def polygamma(n, input):
    """The ``n``-th derivative of digamma (differentiable in ``input``)."""
    if not isinstance(n, numbers.Integral) or n < 0:
        raise RuntimeError(f"polygamma(): n must be a non-negative integer, got {n!r}")
    return _ss.polygamma(int(n), _t(input, "polygamma"))


def multigammaln(input, p):
    """log of the multivariate gamma function of dimension ``p`` (an int); every element of
    ``input`` must exceed ``(p - 1) / 2``."""
    x = _t(input, "multigammaln")
    if not isinstance(p, numbers.Integral) or p < 1:
        raise RuntimeError(f"multigammaln(): p must be a positive integer, got {p!r}")
    if x.numel() and bool((x.data <= (p - 1) / 2).any()):  # PyTorch checks too (a host sync)
        raise RuntimeError(f"multigammaln(): all elements must be greater than (p-1)/2 = "
                           f"{(p - 1) / 2}")
    return _ss.multigammaln(x, int(p))


def _pair(input, other, op):
    """(input, other) with a Python number turned into a 0-d tensor of the other's dtype and
    device (PyTorch takes a Number for either, not both)."""
    a, b = input, other
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = _t(a, op) if not isinstance(a, numbers.Number) else a
        b = _t(b, op, "other") if not isinstance(b, numbers.Number) else b
        if not isinstance(a, Tensor) and not isinstance(b, Tensor):
            raise TypeError(f"{op}(): input and other cannot both be numbers")
    like = a if isinstance(a, Tensor) else b
    xp = xp_of(like.data)

    def tensor(v, name):
        if isinstance(v, Tensor):
            return v
        if isinstance(v, numbers.Number):
            dt = like.dtype if like.dtype.kind in "fc" else None
            return _new_tensor(xp.asarray(v, dtype=dt), None, False)
        return _t(v, op, name)

    return tensor(a, "input"), tensor(b, "other")


def _float_pair(input, other, op):
    """``_pair`` in the float dtype PyTorch gives a float function of the two (a Python number
    counts as a wrapped number: 2.5 with an integer tensor gives the default float dtype)."""
    x, y = _pair(input, other, op)
    dt = _ta._float_dtype(*(v if isinstance(v, numbers.Number) else t
                            for v, t in ((input, x), (other, y))))
    return tuple(t if t.dtype == dt else t.to(dt) for t in (x, y))


def xlogy(input, other):
    """input * log(other), and 0 where input == 0 (PyTorch's gradients)."""
    return _ts.xlogy(input, other)


def xlog1py(input, other):
    """input * log1p(other), and 0 where input == 0."""
    x, y = _float_pair(input, other, "xlog1py")
    return _ss.xlog1py(x, y)


zeta_ = _ss._scipy_prim("zeta", "zeta(x, q): the Hurwitz zeta function sum_k (k + q) ** -x "
                                "(differentiable in q).")
zeta_.prim.fwd.__module__ = __name__  # docs/ops.md lists it under this module
_ss._elementwise(zeta_, _ss._no_derivative("zeta", "input (the exponent)"),
                 lambda s, ans, x, q: s * -x * zeta_(x + 1, q))


def zeta(input, other):
    """The Hurwitz zeta function of exponent ``input`` at ``other`` (differentiable in
    ``other``, as PyTorch)."""
    x, q = _float_pair(input, other, "zeta")
    return zeta_(x, q)


def gammainc(input, other):
    """The regularized lower incomplete gamma function P(input, other) (differentiable in
    ``other``)."""
    a, x = _float_pair(input, other, "gammainc")
    return _ss.gammainc(a, x)


def gammaincc(input, other):
    """The regularized upper incomplete gamma function Q(input, other) (differentiable in
    ``other``)."""
    a, x = _float_pair(input, other, "gammaincc")
    return _ss.gammaincc(a, x)


def logsumexp(input, dim, keepdim=False):
    """log(sum(exp(input))) over ``dim``, computed stably."""
    return _ta.logsumexp(input, dim, keepdim)


def softmax(input, dim, *, dtype=None):
    """exp(input) normalised along ``dim``."""
    return _ta.softmax(input, dim, dtype)


def log_softmax(input, dim, *, dtype=None):
    """log(softmax(input, dim)), computed stably."""
    return _ta.log_softmax(input, dim, dtype)


__all__ = [
    "erf", "erfc", "erfcx", "erfinv", "expit", "logit", "exp2", "expm1", "log1p", "gammaln",
    "digamma", "psi", "polygamma", "multigammaln", "i0", "i0e", "i1", "i1e", "ndtr", "ndtri",
    "log_ndtr", "sinc", "round", "xlogy", "xlog1py", "zeta", "entr", "logsumexp", "softmax",
    "log_softmax", "bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "modified_bessel_i0",
    "modified_bessel_i1", "modified_bessel_k0", "modified_bessel_k1", "spherical_bessel_j0",
    "gammainc", "gammaincc",
]


# ---- orthogonal polynomials: PyTorch's values, no derivative ---------------------------------
# As in PyTorch (aten/src/ATen/native/Math.h): n is truncated to an integer (a non-finite n
# counts as negative), n < 0 gives 0, the exact values at the ends of the interval come first,
# then for the Chebyshev family and large n inside the interval the trigonometric form, and
# otherwise the three-term recurrence, for |x| > 1 too (the polynomial's value there). The
# recurrence runs to the largest n it is needed for (one host read of that n).
def _poly_args(input, n, op):
    if isinstance(n, bool) or (not isinstance(n, (numbers.Number, Tensor)) and
                               not hasattr(n, "dtype") and not isinstance(n, (list, tuple))):
        raise TypeError(f"{op}(): n must be a number or a tensor, got {type(n).__name__}")
    x, k = _pair(input, n, op)
    if x.dtype.kind == "c" or k.dtype.kind == "c":
        raise TypeError(f"{op}(): complex input is not supported (got {x.dtype} and {k.dtype})")
    xr, kr = x.data, k.data
    if xp_of(xr) is not xp_of(kr):
        raise RuntimeError(f"{op}(): input and n must be on the same device, got {x.device} "
                           f"and {k.device}")
    xp = xp_of(xr)
    # PyTorch's promotion: an integer n keeps input's floating dtype; two floats promote;
    # integers and bools (as 0 and 1) alone give the default float dtype
    floats = [d for d in (xr.dtype, kr.dtype) if d.kind == "f"]
    if isinstance(n, numbers.Number) and xr.dtype.kind == "f":
        floats = [xr.dtype]
    dtype = np.result_type(*floats) if floats else _default_of(False)
    xr, kr = xp.broadcast_arrays(xr.astype(dtype), kr)
    if kr.dtype.kind == "f":
        kr = xp.where(xp.isfinite(kr), kr, -1)
    return xp, xr, xp.trunc(kr).astype(np.int64) if kr.dtype.kind == "f" else \
        kr.astype(np.int64)


def _recurrence(xp, x, n, need, first, step):
    """q_n with q_0 = 1, q_1 = first(x), q_{m+1} = step(m, x, q_{m-1}, q_m), where ``need``."""
    top = int(to_host(xp.where(need, n, 0).max())) if n.size else 0
    one = xp.ones_like(x)
    out = xp.where(n == 0, one, xp.zeros_like(x))
    if top < 1:
        return out
    p, q = one, first(x)
    out = xp.where(n == 1, q, out)
    with np.errstate(all="ignore"):
        for m in range(1, top):
            p, q = q, step(m, x, p, q)
            out = xp.where(n == m + 1, q, out)
    return out


def _polynomial(name, first, step, trig=None, ends=None, nan_above=None):
    """A torch.special polynomial: ``trig(xp, x, n) -> (mask, value)``, ``ends(xp, x, n) ->
    [(mask, value), ...]`` (first match wins), ``nan_above(dtype)``: n beyond it gives NaN."""

    def f(input, n):
        xp, x, k = _poly_args(input, n, name)
        with np.errstate(all="ignore"):
            fixed = [] if ends is None else ends(xp, x, k)
            if trig is not None:
                fixed.append(trig(xp, x, k))
            if nan_above is not None:
                fixed.insert(0, (k > nan_above(x.dtype), xp.asarray(np.nan, x.dtype)))
            fixed.insert(0, (k < 0, xp.zeros((), x.dtype)))
            need = xp.ones(k.shape, bool)
            for mask, _ in fixed:
                need = need & ~mask
            out = _recurrence(xp, x, k, need, first, step)
            for mask, value in reversed(fixed):
                out = xp.where(mask, value, out)
        return _new_tensor(out.astype(x.dtype, copy=False), None, False)

    f.__name__ = f.__qualname__ = name
    return f


def _odd(k):
    return k % 2 == 1


def _sign_of(xp, k, value):
    return xp.where(_odd(k), -value, value)


def _cheb_ends_t(xp, x, k):
    return [(xp.abs(x) == 1, xp.where((x > 0) | ~_odd(k), 1.0, -1.0))]


def _cheb_ends_u(xp, x, k):
    return [(xp.abs(x) == 1, xp.where(x > 0, k + 1.0, _sign_of(xp, k, k + 1.0)))]


def _cheb_ends_v(xp, x, k):
    return [(xp.abs(x) == 1, xp.where(x > 0, 1.0, _sign_of(xp, k, 2.0 * k + 1)))]


def _cheb_ends_w(xp, x, k):
    return [(xp.abs(x) == 1, xp.where(x > 0, 2.0 * k + 1, _sign_of(xp, k, 1.0)))]


def _trig(shift, above, value):
    """The trigonometric form of a Chebyshev family for degrees k > ``above`` inside
    (-1, 1): (inside, value(xp, y, k, t, inside)) with y the (shifted) argument and
    t = arccos(y)."""
    def trig(xp, x, k):
        y = x + x - 1 if shift else x
        inside = (k > above) & (xp.abs(y) < 1)
        return inside, value(xp, y, k, xp.arccos(xp.where(inside, y, 0)), inside)
    return trig


def _trig_t(shift, above):
    return _trig(shift, above, lambda xp, y, k, t, inside: xp.cos(k * t))


def _trig_u(shift, above):
    def value(xp, y, k, t, inside):
        s = xp.sin(t)
        alt = (k + 1) * xp.cos((k + 1) * t) / xp.where(inside, y, 1)
        return xp.where(s != 0, xp.sin((k + 1) * t) / xp.where(s != 0, s, 1), alt)
    return _trig(shift, above, value)


def _trig_v(shift, above):
    def value(xp, y, k, t, inside):
        edge = xp.sin(t / 2) == 1
        val = xp.cos((k + 0.5) * t) / xp.where(edge, 1, xp.cos(t / 2))
        return xp.where(edge, _sign_of(xp, k, 2.0 * k + 1), val)
    return _trig(shift, above, value)


def _trig_w(shift, above):
    def value(xp, y, k, t, inside):
        edge = xp.cos(t / 2) == 1
        val = xp.sin((k + 0.5) * t) / xp.where(edge, 1, xp.sin(t / 2))
        at_edge = _sign_of(xp, k, 1.0) if shift else xp.where(y > 0, 2.0 * k + 1,
                                                              _sign_of(xp, k, 1.0))
        return xp.where(edge, at_edge, val)
    return _trig(shift, above, value)


def _shifted_ends(at_one, at_zero):
    def ends(xp, x, k):
        return [(x == 1, at_one(xp, k)), (x == 0, at_zero(xp, k))]
    return ends


def _cheb_step(m, x, p, q):
    return (x + x) * q - p


def _shifted_step(m, x, p, q):
    return ((x + x - 1) + (x + x - 1)) * q - p


chebyshev_polynomial_t = _polynomial(
    "chebyshev_polynomial_t", lambda x: x, _cheb_step, _trig_t(False, 6), _cheb_ends_t)
chebyshev_polynomial_u = _polynomial(
    "chebyshev_polynomial_u", lambda x: x + x, _cheb_step, _trig_u(False, 8), _cheb_ends_u)
chebyshev_polynomial_v = _polynomial(
    "chebyshev_polynomial_v", lambda x: x + x - 1, _cheb_step, _trig_v(False, 8), _cheb_ends_v)
chebyshev_polynomial_w = _polynomial(
    "chebyshev_polynomial_w", lambda x: x + x + 1, _cheb_step, _trig_w(False, 8), _cheb_ends_w)
shifted_chebyshev_polynomial_t = _polynomial(
    "shifted_chebyshev_polynomial_t", lambda x: x + x - 1, _shifted_step, _trig_t(True, 6),
    _shifted_ends(lambda xp, k: 1.0, lambda xp, k: _sign_of(xp, k, 1.0)))
shifted_chebyshev_polynomial_u = _polynomial(
    "shifted_chebyshev_polynomial_u", lambda x: (x + x - 1) + (x + x - 1), _shifted_step,
    _trig_u(True, 6),
    _shifted_ends(lambda xp, k: k + 1.0, lambda xp, k: _sign_of(xp, k, k + 1.0)))
shifted_chebyshev_polynomial_v = _polynomial(
    "shifted_chebyshev_polynomial_v", lambda x: (x + x - 1) + (x + x - 1) - 1, _shifted_step,
    _trig_v(True, 6),
    _shifted_ends(lambda xp, k: 1.0, lambda xp, k: _sign_of(xp, k, 2.0 * k + 1)))
shifted_chebyshev_polynomial_w = _polynomial(
    "shifted_chebyshev_polynomial_w", lambda x: (x + x - 1) + (x + x - 1) + 1, _shifted_step,
    _trig_w(True, 4),
    _shifted_ends(lambda xp, k: 2.0 * k + 1, lambda xp, k: _sign_of(xp, k, 1.0)))


def _hermite_limit(dtype):
    return 128 if dtype == np.float32 else 512


hermite_polynomial_h = _polynomial(
    "hermite_polynomial_h", lambda x: x + x, lambda m, x, p, q: (x + x) * q - (2 * m) * p,
    nan_above=_hermite_limit)
hermite_polynomial_he = _polynomial(
    "hermite_polynomial_he", lambda x: x, lambda m, x, p, q: x * q - m * p,
    nan_above=_hermite_limit)
laguerre_polynomial_l = _polynomial(
    "laguerre_polynomial_l", lambda x: 1 - x,
    lambda m, x, p, q: (((m + m) + (1 - x)) * q - m * p) / (m + 1),
    ends=lambda xp, x, k: [(xp.abs(x) == 0, 1.0)])
legendre_polynomial_p = _polynomial(
    "legendre_polynomial_p", lambda x: x,
    lambda m, x, p, q: ((m + m + 1) * x * q - m * p) / (m + 1), ends=_cheb_ends_t)

_POLY_DOC = """{what} of degree ``n`` at ``input``, as ``torch.special.{name}(input, n)``: n a
number or a tensor (broadcast with input; truncated to an integer; n < 0 gives 0), PyTorch's
values also outside [-1, 1] (the polynomial's). No derivative, as in PyTorch: the result carries
no history even when ``input`` requires grad.

>>> import tensorgrad as tg
>>> tg.special.{name}(tg.tensor([0.5]), 2).tolist() == [{example}]
True
"""
for _f, _what, _ex in (
        (chebyshev_polynomial_t, "The Chebyshev polynomial of the first kind T_n", -0.5),
        (chebyshev_polynomial_u, "The Chebyshev polynomial of the second kind U_n", 0.0),
        (chebyshev_polynomial_v, "The Chebyshev polynomial of the third kind V_n", -1.0),
        (chebyshev_polynomial_w, "The Chebyshev polynomial of the fourth kind W_n", 1.0),
        (shifted_chebyshev_polynomial_t, "T_n(2x - 1), the shifted Chebyshev polynomial", -1.0),
        (shifted_chebyshev_polynomial_u, "U_n(2x - 1), the shifted Chebyshev polynomial", -1.0),
        (shifted_chebyshev_polynomial_v, "V_n(2x - 1), the shifted Chebyshev polynomial", -1.0),
        (shifted_chebyshev_polynomial_w, "W_n(2x - 1), the shifted Chebyshev polynomial", -1.0),
        (hermite_polynomial_h, "The physicists' Hermite polynomial H_n", -1.0),
        (hermite_polynomial_he, "The probabilists' Hermite polynomial He_n", -0.75),
        (laguerre_polynomial_l, "The Laguerre polynomial L_n", 0.125),
        (legendre_polynomial_p, "The Legendre polynomial P_n", -0.125)):
    _f.__doc__ = _POLY_DOC.format(what=_what, name=_f.__name__, example=_ex)


# ---- airy_ai and the scaled modified Bessel functions of the second kind ----------------------
def _airy_host(x):
    from .scipy._module import scipy_module

    ai, aip, _, _ = scipy_module("special", (x,), "airy").airy(x)  # SciPy's, or what to install
    return ai, aip


def _airy_part(x, which):
    """Ai (which=0) or Ai' (1) of the raw array x: SciPy's airy on the cpu; cupyx.scipy.special
    has no airy, so on cuda one explicit host round trip."""
    from .backend.device import device_of, to_host

    if xp_of(x) is np:
        with np.errstate(all="ignore"):
            out = _airy_host(x)[which]
        return out.astype(x.dtype, copy=False) if x.dtype.kind == "f" else out
    with np.errstate(all="ignore"):
        host = _airy_host(np.asarray(to_host(x)))[which]
    # np.array, not np.ascontiguousarray, which makes a 0-d array 1-d
    return device_of(x).put(np.array(host.astype(x.dtype, copy=False), order="C"))


@primitive
def airy_ai_(x):
    """Ai(x), the Airy function of the first kind, on raw arrays."""
    return _airy_part(x, 0)


@primitive
def airy_ai_prime(x):
    """Ai'(x), the derivative of the Airy function, on raw arrays."""
    return _airy_part(x, 1)


# Ai'' = x Ai (the Airy equation): derivatives of any order from the pair
_ss._unary(airy_ai_, lambda x, ans: airy_ai_prime(x))
_ss._unary(airy_ai_prime, lambda x, ans: x * airy_ai_(x))


def _float_input(input, op):
    x = _t(input, op)
    if x.dtype.kind in "iub":
        x = x.to(np.float32)
    elif x.dtype.kind == "c":
        raise TypeError(f"{op}(): complex input is not supported (got {x.dtype})")
    return x


def airy_ai(input):
    """The Airy function Ai(input) (SciPy's ``airy`` on the cpu; on cuda a host round trip, as
    cupyx.scipy.special has no airy). Differentiable to any order (Ai' and Ai'' = x Ai), where
    PyTorch gives no derivative.

    >>> import tensorgrad as tg
    >>> f"{tg.special.airy_ai(tg.tensor([0.0])).item():.6f}"
    '0.355028'
    """
    return airy_ai_(_float_input(input, "airy_ai"))


_k0e = _ss._scipy_prim("k0e", "exp(x) K0(x), the scaled modified Bessel function of the "
                              "second kind of order 0.")
_k1e = _ss._scipy_prim("k1e", "exp(x) K1(x), the scaled modified Bessel function of the "
                              "second kind of order 1.")
_k0e.prim.fwd.__module__ = _k1e.prim.fwd.__module__ = __name__  # docs/ops.md lists them here
# d/dx e^x K0 = e^x (K0 + K0') = k0e - k1e;  d/dx e^x K1 = e^x (K1 - K0 - K1 / x)
_ss._unary(_k0e, lambda x, ans: ans - _k1e(x))
_ss._unary(_k1e, lambda x, ans: ans - _k0e(x) - ans / x)


def scaled_modified_bessel_k0(input):
    """exp(input) * K0(input) (SciPy's / cupyx's ``k0e``), differentiable to any order
    (d/dx = k0e - k1e), where PyTorch gives no derivative.

    >>> import tensorgrad as tg
    >>> f"{tg.special.scaled_modified_bessel_k0(tg.tensor([1.0])).item():.5f}"
    '1.14446'
    """
    return _k0e(_float_input(input, "scaled_modified_bessel_k0"))


def scaled_modified_bessel_k1(input):
    """exp(input) * K1(input) (SciPy's / cupyx's ``k1e``), differentiable to any order
    (d/dx = k1e - k0e - k1e / x), where PyTorch gives no derivative."""
    return _k1e(_float_input(input, "scaled_modified_bessel_k1"))


__all__ += [
    "chebyshev_polynomial_t", "chebyshev_polynomial_u", "chebyshev_polynomial_v",
    "chebyshev_polynomial_w", "shifted_chebyshev_polynomial_t", "shifted_chebyshev_polynomial_u",
    "shifted_chebyshev_polynomial_v", "shifted_chebyshev_polynomial_w", "hermite_polynomial_h",
    "hermite_polynomial_he", "laguerre_polynomial_l", "legendre_polynomial_p", "airy_ai",
    "scaled_modified_bessel_k0", "scaled_modified_bessel_k1",
]
