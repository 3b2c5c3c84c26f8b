"""Implicit reparameterisation of the standard gamma distribution, with exact derivatives.

A draw z ~ Gamma(alpha, 1) is made without history; its pathwise derivative follows from
holding the uniform noise P(alpha, z) fixed (P the regularised lower incomplete gamma):

    dz/dalpha = -(dP/dalpha)(alpha, z) / p(z; alpha) = -z R_1(alpha, z),

    R_k(alpha, z) = int_0^z p(t; alpha) (log t - digamma(alpha))^k dt / (z p(z; alpha)),

p the Gamma(alpha, 1) density. PyTorch approximates dP/dalpha (series, asymptotic and rational
fits); here R_k is an integral computed to about 1e-12 relative accuracy in float64
(tests/test_distributions_rsample.py measures it against mpmath over alpha in [1e-3, 1e4] and
the 0.001..0.999 quantiles).

How R_k is computed: in d = log(t / alpha) the integrand of R_k is
exp(-alpha (e(d) - e(b))) (d + log(alpha) - digamma(alpha))^k with e(d) = expm1(d) - d and
b = log(z / alpha); the normalising constants cancel, so nothing overflows for large alpha and
no lgamma cancellation enters R_1. The exponent is 0 at d = b and falls monotonically away from
it, so the integral is taken from the point where it reaches -38 (found by Newton's method on
the convex e) up to b when z is below the mode alpha, and for z above it as the complete moment
minus the upper integral (R_1's complete moment is 0, so upper-tail draws lose nothing to
cancellation). Gauss-Legendre rules on the panels [b - 3, b], [b - 40, b - 3] and the rest (the
part d < b - 40 where e^d is negligible and the integrand a plain exponential times a
polynomial) resolve both the curved part near z and the long exponential tail of small alpha,
where the substitution t = z u^(1/alpha) alone leaves a peaked integrand for large alpha.

Derivatives are exact to every order: R_k's rules are written with R_(k+1), R_(k-1), digamma
and polygamma, so the rule of ``standard_gamma_rsample`` (which reads the answer z, tied to the
graph) differentiates into the implicit second derivative d2z/dalpha2, not merely the
derivative of the first-order rule at fixed z.
"""

import math

import numpy as np

from .. import numpy as tnp
from ..backend.device import xp_of
from ..scipy.special import _no_derivative, digamma, gammaln, polygamma
from .registry import defjvp, defvjp, primitive

_NODES = 32                    # Gauss-Legendre nodes per panel
_PANEL_EDGES = (0.0, 3.0, 40.0)  # panel edges below b, in units of d = log(t / alpha)
_CUT = 38.0                    # the integrand is cut where it falls below exp(-38)
_GL_HOST = np.polynomial.legendre.leggauss(_NODES)


def _e(d, xp):
    return xp.expm1(d) - d


def _cutoff(target, lower, xp):
    """The d < 0 (lower) or d > 0 with e(d) = target, by monotone Newton steps from a starting
    point on the far side of the root (e is convex, so the steps never cross it)."""
    left = xp.where(2 * math.e * target <= 1, -xp.sqrt(2 * math.e * target), -(1 + target))
    big = xp.where(target >= 1.3, xp.log1p(2 * target), xp.inf)
    d = xp.where(lower, left, xp.minimum(xp.sqrt(2 * target), big))
    for _ in range(8):
        slope = xp.expm1(d)
        d = d - (_e(d, xp) - target) / xp.where(slope == 0, 1.0, slope)
    return d


def _log_moments(k, a):
    """The k-th central moment of log X, X ~ Gamma(a, 1), from its cumulants
    kappa_j = polygamma(j - 1, a) (j >= 2)."""
    mu = [1.0, 0.0]
    kappa = {j: polygamma(j - 1, a) for j in range(2, k + 1)}
    for n in range(2, k + 1):
        mu.append(sum(math.comb(n - 1, j - 1) * kappa[j] * mu[n - j] for j in range(2, n + 1)))
    return mu[k]


def _float_dtype(*values):
    """The floating dtype of the array arguments (float32 for none or integers only)."""
    dtypes = [v.dtype for v in values if hasattr(v, "dtype")]
    dt = np.result_type(*dtypes) if dtypes else np.dtype(np.float32)
    return dt if dt.kind == "f" else np.result_type(dt, np.float32)


def _check_k(k):
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 0:
        raise ValueError(f"gamma_log_moment_ratio: the order k must be an int >= 0, got {k!r}")


@primitive
def gamma_log_moment_ratio(k, alpha, z):
    """R_k(alpha, z) = int_0^z p(t) (log t - digamma(alpha))^k dt / (z p(z)), p the
    Gamma(alpha, 1) density; differentiable in alpha and z (k is an integer order). Computed in
    float64 and returned in the dtype of the arguments; z is lifted to the smallest normal
    float64 (z = 0 has no finite R_k)."""
    _check_k(k)
    xp = xp_of(z) if hasattr(z, "dtype") else xp_of(alpha)
    out_dtype = _float_dtype(alpha, z)
    a = xp.asarray(alpha, dtype=np.float64)
    zz = xp.maximum(xp.asarray(z, dtype=np.float64), np.finfo(np.float64).tiny)
    a, zz = xp.broadcast_arrays(a, zz)
    log_a = xp.log(a)
    b = xp.log(zz) - log_a
    c = log_a - digamma(a)
    eb = _e(b, xp)
    lower = b <= 0
    cut = _cutoff(eb + _CUT / a, lower, xp)
    x = xp.asarray(_GL_HOST[0])
    w = xp.asarray(_GL_HOST[1])
    total = 0.0
    # lower side: panels [b - 3, b], [b - 40, b - 3], [cut, b - 40], clipped at cut;
    # upper side: the one panel [b, cut] (the last two degenerate to width 0)
    edges = [xp.maximum(b - o, cut) for o in _PANEL_EDGES] + [cut]
    for i in range(len(edges) - 1):
        hi = xp.where(lower, edges[i], cut if i == 0 else b)
        lo = xp.where(lower, edges[i + 1], b)
        half = (hi - lo) / 2
        d = ((hi + lo) / 2)[..., None] + half[..., None] * x
        f = xp.exp(-a[..., None] * (_e(d, xp) - eb[..., None]))
        if k:
            f = f * (d + c[..., None]) ** k
        total = total + half * (f @ w)
    if k == 1:
        out = xp.where(lower, total, -total)
    else:
        # the complete moment over z p(z): the complete integral minus the upper one
        inv_v = xp.exp(gammaln(a) - a * xp.log(zz) + zz)
        out = xp.where(lower, total, _log_moments(k, a) * inv_v - total)
    return out.astype(out_dtype, copy=False)


def _psi_gap(alpha, z):
    return tnp.log(z) - digamma(alpha)


def _r_dalpha(s, ans, k, alpha, z):
    d = gamma_log_moment_ratio(k + 1, alpha, z) - ans * _psi_gap(alpha, z)
    if k:
        d = d - k * polygamma(1, alpha) * gamma_log_moment_ratio(k - 1, alpha, z)
    return s * d


def _r_dz(s, ans, k, alpha, z):
    return s * (_psi_gap(alpha, z) ** k / z - ans * (alpha / z - 1))


defvjp(gamma_log_moment_ratio, None, _r_dalpha, _r_dz)
defjvp(gamma_log_moment_ratio, None, _r_dalpha, _r_dz)


def standard_gamma_dz_dalpha(alpha, z):
    """dz/dalpha of a Gamma(alpha, 1) draw z at fixed noise P(alpha, z): -z R_1(alpha, z).
    Differentiable in both arguments, to any order."""
    return -z * gamma_log_moment_ratio(1, alpha, z)


@primitive
def standard_gamma_rsample(alpha, z):
    """The draw ``z`` of Gamma(``alpha``, 1), as a differentiable function of ``alpha``: the
    value is ``z`` (broadcast with ``alpha``, in their common dtype) and the derivative the
    exact implicit reparameterisation dz/dalpha = -(dP/dalpha)(alpha, z) / p(z; alpha). The
    rule reads the answer, so higher derivatives are the implicit ones (d2z/dalpha2 of the
    quantile function at fixed noise). ``z`` itself is a draw made without history: a Tensor
    that requires grad there raises NotImplementedError.

    >>> import numpy as np, tensorgrad as tg
    >>> from tensorgrad.ops.gamma_rsample import standard_gamma_rsample
    >>> a = tg.tensor(np.array([2.0]), requires_grad=True)
    >>> standard_gamma_rsample(a, np.array([np.log(2.0) + 1.0])).sum().backward()
    >>> a.grad.shape
    (1,)
    """
    xp = xp_of(z) if hasattr(z, "dtype") else xp_of(alpha)
    dtype = _float_dtype(alpha, z)
    shape = np.broadcast_shapes(getattr(alpha, "shape", ()), getattr(z, "shape", ()))
    return xp.array(xp.broadcast_to(xp.asarray(z, dtype=dtype), shape))


def _rsample_dalpha(s, ans, alpha, z):
    return s * standard_gamma_dz_dalpha(alpha, ans)


_z_rule = _no_derivative("standard_gamma_rsample", "the draw z (it is sampled without "
                                                   "history)")
defvjp(standard_gamma_rsample, _rsample_dalpha, _z_rule)
defjvp(standard_gamma_rsample, _rsample_dalpha, _z_rule)
