"""The gamma-function family in pure NumPy: ``scipy.special``'s ``gammaln``, ``gamma``,
``rgamma``, ``gammasgn``, ``digamma`` (``psi``), ``polygamma``, ``zeta``, ``multigammaln``,
``beta``, ``betaln``, ``entr``, ``gammainc`` and ``gammaincc`` for real arguments, with SciPy's
signatures and special values. Everything is computed in float64 (arrays all float32 or
float16 give float32), over blocks of the flattened arguments, branches chosen by masks.

Methods (the mathematics; the polynomial constants are Chebyshev interpolants computed with
mpmath by ``_coefficients`` at the end of this file):

* ``log Gamma`` for 0 < x < 6: with k = ceil(x) and t = x - k in (-1, 0] (exact),
  ``log Gamma(2 + t) = t (1 + t) R(t + 1/2)``, R a fit of ``log Gamma(z) / ((z - 1)(z - 2))`` on
  [1, 2], which keeps the relative accuracy at both zeros x = 1 and x = 2; the recurrence as
  the product ``F = prod_i max(x - i, 1)`` (the factors below 1 are exactly the ones not
  wanted, so no mask is needed) and ``log Gamma(x) = log Gamma(2 + t) + |log(F min(x, 1))|``
  (one of F and min(x, 1) is exactly 1, and the logarithm is positive exactly when it is F).
  From 6 on, Stirling's series: ``(x - 1/2)(log x - 1) + log(2 pi)/2 - 1/2 + S(x)``, S a fit in
  1/x^2 of the Bernoulli tail. Below 0, reflection with ``sin(pi x)`` from the argument reduced
  exactly modulo 2 (a fitted odd polynomial, exact zeros at the integers), written with
  ``-x`` (exact) rather than ``1 - x`` (whose rounding Gamma's slope would magnify).
* ``Gamma``, ``1/Gamma``: the same pieces exponentiated and multiplied out; from 6 on,
  ``x**(x - 1/2) exp(S(x) + log(2 pi)/2) / e**x`` (the power split in two past 143, so that
  nothing overflows or underflows before the answer does).
* ``digamma``: on [1, 2] ``(x - x0) D(x)``, D a fit about the positive root
  x0 = 1.4616321449683622, ``x - x0`` formed as ``(x - x0_hi) - x0_lo``, so that the answer keeps
  its relative accuracy at the root; (0, 1] and (2, 3) shift by one onto it; [3, 6) shifts up
  by three onto the asymptotic series ``log x - 1/(2x) - ...`` (a fit in 1/x^2) used from 6 on;
  reflection (``pi cot(pi x)`` from the reduced argument) below 0.
* ``zeta(x, q)``: Euler-Maclaurin: direct terms until ``q + N`` is large enough for fifteen
  Bernoulli corrections (fewer direct terms where the terms die off first, as for large x);
  q < 0 (x an integer) in terms of zetas of (0, 1) and 1 - q. ``zeta(x)``: on [-0.01, 1) the
  pole ``1/(x - 1)`` plus a fit of the entire remainder; below, the functional equation with
  ``Gamma(1 - x) (2 pi)**(x - 1)`` formed from the exact -x and without early overflow.
* ``polygamma(n, x) = (-1)**(n+1) n! zeta(n+1, x)`` (n! correctly rounded); where the zeta
  underflows, n! x^-(n+1) in halves times zeta(n+1, x) x^(n+1); past n = 170, in logarithms.
* ``betaln``, ``beta``: lgamma sums (Gamma products) for small arguments, with the rounding of
  a + b corrected to first order; for b small against a, ``lgamma(a) - lgamma(a + b)`` as
  ``-b log a + e`` with e small (``B = Gamma(b) a**-b exp(e)``; e summed without cancellation
  for ``beta``); both large, the symmetric Stirling form. Nothing cancels when one argument is
  large.
* ``gammainc``, ``gammaincc``: the power series of P (x < a + 1) or the continued fraction of Q
  (modified Lentz), vectorised with a convergence mask and a bounded iteration count; a < 1
  with x < a + 1 by a series in which ``1 - x**a / Gamma(1 + a)`` is an ``expm1``; the prefactor
  ``x**a e**-x / Gamma(a)`` as a power, an exponential and 1/Gamma where they stay in range,
  else as ``sqrt(a / 2 pi) exp(a (log(x/a) - (x - a)/a) - S(a))``, the bracket summed without
  cancellation near x = a.

Where SciPy's answer is an artefact of its formula (``gamma`` just below -171.6, ``rgamma``
just above 171.6 and of subnormals, ``gammaln`` of subnormals, ``polygamma`` where n!
overflows, ``zeta(inf, q)`` for q > 1) this module gives the true value; everything else
(poles, signs of zero, nan and inf, the domain rules of ``zeta`` and ``multigammaln``) follows
SciPy.
"""

import math
from fractions import Fraction

import numpy as np

from ._host_common import horner as _horner

NAMES = ("gammaln", "gamma", "rgamma", "gammasgn", "digamma", "psi", "polygamma", "zeta",
         "multigammaln", "betaln", "beta", "entr", "gammainc", "gammaincc")

_PI = math.pi
_LOG_PI = 1.1447298858494002
_HALF_LOG_2PI = 0.9189385332046728
_MAXGAM = 171.624376956302725        # Gamma overflows past this
_HUGE = 1e300                        # 1/(v + _HUGE) is a zero that cannot be nan
_LOG_2PI = (1.8378770664093456, -7.756588316134483e-17)      # log(2 pi) = hi + lo
_ONE_LOG_2PI = (2.8378770664093453, 1.4447872176368647e-16)  # 1 + log(2 pi) = hi + lo
_BLOCK = 16384

# ---- fitted constants (regenerate with ``python -m tensorgrad.scipy._host_gamma``) ----------
# log Gamma(z) / ((z - 1)(z - 2)) on [1, 2], in z - 3/2 (degree 20, fit error 9e-18)
_LG_R = (
    0.4831289505409809, -0.14595989591430594, 0.06291140107456485, -0.03130848750105327,
    0.01679709863121395, -0.009425622444829649, 0.005446457842219553, -0.0032120742206072908,
    0.0019229162321227923, -0.001164411377219605, 0.0007115202752051298, -0.00043803516132580534,
    0.00027130273545114005, -0.0001685717945035172, 0.00010541715222185904, -6.793733027397047e-05,
    4.281642862794779e-05, -2.148770252062576e-05, 1.3584275459130943e-05, -1.8527803997032962e-05,
    1.1820969445467145e-05,
)
# digamma(z) / (z - x0) on [1, 2], in z - 3/2 (degree 21, fit error 2e-17)
_PSI_R = (
    0.951055876031833, -0.4236274212814605, 0.2405424842407742, -0.14840492305390884,
    0.09498872445494122, -0.061922133273064534, 0.04076083381242074, -0.02697579675613825,
    0.0179072524394512, -0.011908218001568644, 0.007926944646403797, -0.005279964873257405,
    0.003519006401502276, -0.002345267632540769, 0.0015566317474486838, -0.0010376374098418604,
    0.0007233266279287554, -0.0004821990530566789, 0.0002272331660987376, -0.00015148586836773365,
    0.00025968482126430747, -0.00017312261802727394,
)
# x (log Gamma(x) - (x - 1/2) log x + x - log(2 pi)/2) for x >= 6, in w = 1/x^2
_LG_S = (
    0.0833333333333333, -0.0027777777776807643, 0.0007936507373369848, -0.0005952257418022643,
    0.0008404447851602169, -0.0018449995052567591, 0.004298394281325464,
)
# (digamma(x) - log x + 1/(2x)) x^2 for x >= 6, in w = 1/x^2
_PSI_A = (
    -0.08333333333333294, 0.00833333333196673, -0.003968253174196778, 0.00416649213380119,
    -0.007557240349829397, 0.02005781319935496, -0.0527835788020277,
)
# sin(pi sqrt(u)) / sqrt(u) on [0, 1/4]
_SINPI = (
    3.141592653589793, -5.167712780049969, 2.5501640398773007, -0.5992645293189447,
    0.0821458865731029, -0.007370430505916944, 0.0004662998161898394, -2.1903497074626018e-05,
    7.697826768224191e-07,
)
# zeta(s) - 1/(s - 1) on [0, 1], in s - 1/2 (degree 11; it is entire)
_ZETA_P = (
    0.5396454911904132, 0.07735386079084827, -0.004178506964330703, -0.000551540886511682,
    0.00011167831469002477, -5.005517222239672e-06, -7.590797972669523e-07, 1.3941004175908604e-07,
    -8.373114240648724e-09, -2.904519488789266e-10, 9.943259088824232e-11, -8.628240918076872e-12,
)
# digamma's positive root x0 = hi + lo
_X0 = (
    1.4616321449683622, 9.549995429965697e-17,
)


def _bernoulli_even(kmax):
    """B_2, B_4, ..., B_2kmax exactly, by the recurrence sum_{k <= m} C(m+1, k) B_k = 0."""
    b = [Fraction(1)]
    for m in range(1, 2 * kmax + 1):
        b.append(-sum(math.comb(m + 1, k) * b[k] for k in range(m)) / (m + 1))
    return [b[2 * k] for k in range(1, kmax + 1)]


# Euler-Maclaurin corrections for the Hurwitz zeta: B_2j / (2j)!
_EM = tuple(float(b / math.factorial(2 * j))
            for j, b in enumerate(_bernoulli_even(15), start=1))
# n! for n <= 170, correctly rounded
_FACT = np.array([float(math.factorial(n)) for n in range(171)])


# ---------------------------------------------------------------------------------------------
# plumbing: argument checks, dtypes, blocks


_F32 = (np.dtype(np.float16), np.dtype(np.float32))


def _out_dtype(name, args):
    """float32 when every array argument is float16 or float32 (Python numbers are weak, as in
    NumPy), else float64 (integers and bools included). Complex and non-numeric arguments
    raise TypeError."""
    low = None
    for a in args:
        if isinstance(a, complex) or np.iscomplexobj(a):
            raise TypeError(f"{name}: complex arguments need SciPy "
                            "(pip install 'tensorgrad[scipy]')")
        if isinstance(a, (bool, int, float)) and not isinstance(a, np.generic):
            continue
        dt = np.asarray(a).dtype
        if dt.kind not in "biuf":
            raise TypeError(f"{name}: unsupported argument dtype {dt}")
        low = (low is not False) and dt in _F32
    return np.dtype(np.float32) if low else np.dtype(np.float64)


def _run(name, kernel, *args):
    """kernel over blocks of the broadcast, flattened arguments (float64 in, float64 out; the
    kernel must not write to its arguments), returned in the result dtype and shape."""
    dt = _out_dtype(name, args)
    arrs = [np.asarray(a) for a in args]
    if len(arrs) > 1:
        arrs = np.broadcast_arrays(*arrs)
    shape = arrs[0].shape
    flats = [np.ascontiguousarray(a).reshape(-1) for a in arrs]
    n = flats[0].size
    out = np.empty(n, dtype=dt)
    with np.errstate(all="ignore"):
        for s in range(0, n, _BLOCK):
            blk = [np.asarray(f[s:s + _BLOCK], dtype=np.float64) for f in flats]
            out[s:s + _BLOCK] = kernel(*blk)
    out = out.reshape(shape)
    return out[()] if out.ndim == 0 else out


def _where(mask):
    """Indices of mask, or None when it is empty."""
    idx = np.flatnonzero(mask)
    return idx if idx.size else None


def _split(x, lo_mask, f_lo, f_hi):
    """f_lo(x) where lo_mask, f_hi(x) elsewhere. Both must run (to any finite or non-finite
    answer, without raising) on all of x: when one part is small, the other is computed on the
    whole block and the small part patched in, which costs less than gathering both."""
    n_lo = np.count_nonzero(lo_mask)
    if n_lo == 0:
        return f_hi(x)
    if n_lo == x.size:
        return f_lo(x)
    if 8 * n_lo <= x.size:
        out = f_hi(x)
        i = np.flatnonzero(lo_mask)
        out[i] = f_lo(x[i])
    elif 8 * n_lo >= 7 * x.size:
        out = f_lo(x)
        i = np.flatnonzero(~lo_mask)
        out[i] = f_hi(x[i])
    else:
        out = np.empty_like(x)
        i = np.flatnonzero(lo_mask)
        out[i] = f_lo(x[i])
        i = np.flatnonzero(~lo_mask)
        out[i] = f_hi(x[i])
    return out


def _is_int(x):
    return x == np.floor(x)


def _two_prod(a, b):
    """a * b = p + e exactly (Dekker's product), for a, b well inside the range."""
    p = a * b
    ca = 134217729.0 * a
    ah = ca - (ca - a)
    al = a - ah
    cb = 134217729.0 * b
    bh = cb - (cb - b)
    bl = b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


# ---------------------------------------------------------------------------------------------
# sin(pi x), cos(pi x) from the exactly reduced argument


def _reduce2(x):
    """x - 2 round(x/2), in [-1, 1], exact."""
    r = np.multiply(x, 0.5)
    np.rint(r, out=r)
    r *= -2.0
    r += x
    return r


def _sin_poly(b):
    """sin(pi b) for |b| <= 1/2."""
    p = _horner(_SINPI, b * b)
    p *= b
    return p


def _sinpi_r(r):
    """sin(pi r) for r in [-1, 1] (exact zeros at the integers)."""
    a = np.abs(r)
    b = np.minimum(a, 1.0 - a)
    return np.copysign(_sin_poly(b), r)


def _cospi_r(r):
    """cos(pi r) for r in [-1, 1] (exact zeros at the half-integers)."""
    return _sin_poly(0.5 - np.abs(r))


# ---------------------------------------------------------------------------------------------
# Gamma, log Gamma and 1/Gamma of positive arguments


def _lg_parts(x, nf=4):
    """For 0 < x <= nf + 2: (base, f) with log Gamma(x) = base + |log(f min(x, 1))| and
    Gamma(x) = exp(base) f / min(x, 1)."""
    t = np.ceil(x)
    np.subtract(x, t, out=t)      # (-1, 0], exact where it matters (x >= 1/2)
    u = np.add(t, 0.5)
    base = _horner(_LG_R, u)
    base *= t
    np.add(t, 1.0, out=u)
    base *= u                     # log Gamma(2 + t)
    f = np.subtract(x, 1.0)
    np.maximum(f, 1.0, out=f)
    for i in range(2, nf + 1):
        np.subtract(x, float(i), out=u)
        np.maximum(u, 1.0, out=u)
        f *= u
    return base, f


def _lg_small(x):
    base, f = _lg_parts(x)
    f *= np.minimum(x, 1.0)
    np.log(f, out=f)
    np.abs(f, out=f)
    base += f
    return base


def _stirling_s(x):
    """S(x) = log Gamma(x) - (x - 1/2) log x + x - log(2 pi)/2, for x >= 6."""
    r = np.divide(1.0, x)
    s = _horner(_LG_S, r * r)
    s *= r
    return s


def _lg_big(x):
    s = _stirling_s(x)
    s += _HALF_LOG_2PI - 0.5
    h = np.log(x)
    h -= 1.0
    h *= x - 0.5
    h += s
    return h


def _lgamma_pos(x):
    """log Gamma(x) for finite x > 0."""
    return _split(x, x < 6.0, _lg_small, _lg_big)


def _gamma_small(x):
    base, f = _lg_parts(x)
    f /= np.minimum(x, 1.0)
    np.exp(base, out=base)
    base *= f
    return base


def _stirling_c(x):
    """exp(S(x) + log(2 pi)/2) = Gamma(x) e^x x^(1/2 - x), for x >= 6."""
    c = _stirling_s(x)
    c += _HALF_LOG_2PI
    np.exp(c, out=c)
    return c


def _gamma_big(x):
    """Gamma(x) for x >= 6 (inf past the overflow)."""
    def direct(v):  # (clipped: the elements past 143 are recomputed by split)
        v = np.minimum(v, 143.0)
        g = np.power(v, v - 0.5)
        g *= _stirling_c(v)
        g /= np.exp(v)
        return g

    def split(v):
        out = np.full_like(v, np.inf)
        i = _where(v < 172.0)
        if i is not None:
            u = v[i]
            w = np.power(u, 0.5 * u - 0.25)
            out[i] = w * (w / np.exp(u)) * _stirling_c(u)
        return out

    return _split(x, x <= 143.0, direct, split)


def _gamma_pos(x):
    """Gamma(x) for finite x > 0."""
    return _split(x, x < 6.0, _gamma_small, _gamma_big)


def _rgamma_small(x):
    base, f = _lg_parts(x)
    np.negative(base, out=base)
    np.exp(base, out=base)
    base *= np.minimum(x, 1.0)
    base /= f
    return base


def _rgamma_big(x):
    """1/Gamma(x) for x >= 6 (underflowing gracefully)."""
    def direct(v):  # (clipped: the elements past 143 are recomputed by split)
        v = np.minimum(v, 143.0)
        g = np.exp(v)
        g /= np.power(v, v - 0.5)
        g /= _stirling_c(v)
        return g

    def split(v):
        out = np.zeros_like(v)
        i = _where(v < 280.0)
        if i is not None:
            u = v[i]
            w = np.power(u, 0.5 * u - 0.25)
            out[i] = ((np.exp(u) / w) / w) / _stirling_c(u)
        return out

    return _split(x, x <= 143.0, direct, split)


def _rgamma_pos(x):
    return _split(x, x < 6.0, _rgamma_small, _rgamma_big)


# ---------------------------------------------------------------------------------------------
# digamma of positive arguments


def _psi_big(x):
    """digamma(x) for x >= 6."""
    r = np.divide(1.0, x)
    w = r * r
    q = _horner(_PSI_A, w)
    q *= w
    r *= 0.5
    q -= r
    q += np.log(x)
    return q


def _psi_mid(x):
    """digamma(x) for 3 <= x < 6: three steps up onto the asymptotic series."""
    s = np.divide(1.0, x + 2.0)
    s += np.divide(1.0, x + 1.0)
    s += np.divide(1.0, x)
    out = _psi_big(x + 3.0)
    out -= s
    return out


def _psi_root(t, s):
    """digamma(z) for z in [1, 2], given t = z - x0 and s = z - 3/2."""
    p = _horner(_PSI_R, s)
    p *= t
    return p


def _psi_small(x):
    """digamma(x) for 0 < x < 3: onto [1, 2] by one step down (x > 2) or up (x <= 1)."""
    down = np.greater(x, 2.0).astype(np.float64)
    up = np.less_equal(x, 1.0).astype(np.float64)
    xa = x - down                                  # exact
    t = xa + (up - _X0[0])                         # z - x0_hi, one rounding
    t -= _X0[1]
    p = _psi_root(t, xa + (up - 1.5))
    # + 1/(x - 1) where stepped down, - 1/x where stepped up (1/(v + huge) is a clean zero)
    p += 1.0 / ((x - 1.0) + _HUGE * (1.0 - down))
    p -= 1.0 / (x + _HUGE * (1.0 - up))
    return p


def _digamma_pos(x):
    """digamma(x) for finite x > 0."""
    def upper(v):
        return _split(v, v < 6.0, _psi_mid, _psi_big)

    return _split(x, x < 3.0, _psi_small, upper)


# ---------------------------------------------------------------------------------------------
# kernels over whole blocks (all real inputs)


def _dispatch(x, pos, neg, special):
    """pos on the finite x > 0, neg on the finite x < 0, special on the rest."""
    pm = (x > 0) & (x < np.inf)
    n_pos = np.count_nonzero(pm)
    if n_pos == x.size:
        return pos(x)
    out = np.empty_like(x)
    if n_pos:
        i = np.flatnonzero(pm)
        out[i] = pos(x[i])
    nm = (x < 0) & (x > -np.inf)
    i = _where(nm)
    if i is not None:
        out[i] = neg(x[i])
    i = _where(~(pm | nm))
    if i is not None:
        out[i] = special(x[i])
    return out


def _k_gammaln(x):
    def neg(x):
        v = -x
        out = np.full_like(x, np.inf)              # the poles
        ok = v != np.floor(v)

        def near0(v):                              # log Gamma(1 - v) - log v
            return _lg_small(1.0 - v) - np.log(v)

        def far(v):                                # log(pi / |v sin(pi v)|) - log Gamma(v)
            s = np.abs(_sinpi_r(_reduce2(v)))
            s *= v
            return np.log(_PI / s) - _lgamma_pos(v)

        i = _where(ok)
        if i is not None:
            u = v[i]
            out[i] = _split(u, u < 0.5, near0, far)
        return out

    def special(x):  # 0 and +inf: inf; -inf: -inf (as SciPy); nan
        return np.where(x == -np.inf, -np.inf, np.where(np.isnan(x), x, np.inf))

    return _dispatch(x, _lgamma_pos, neg, special)


def _gamma_neg(x):
    """Gamma(x) for finite x < 0 (nan at the integers)."""
    v = -x
    out = np.full_like(x, np.nan)
    i = _where(v != np.floor(v))
    if i is None:
        return out

    def near0(u):                                  # Gamma(1 + x) / x
        return _gamma_small(1.0 - u) / -u

    def normal(u, f):                              # f / Gamma(u)
        return f * _rgamma_pos(u)

    def tiny(u, f):
        # 1/Gamma(u) is subnormal or zero but f / Gamma(u) may not be (f is large next to a
        # pole): f e^u / u^(u - 1/2) / C(u) in steps; past 280 it is 0
        uc = np.minimum(u, 280.0)
        w = np.power(uc, 0.5 * uc - 0.25)
        r = ((f * np.exp(uc)) / w) / w / _stirling_c(uc)
        return np.where(u < 280.0, r, 0.0 * f)

    def far(u):                                    # pi / (sin(pi x) (-x)) / Gamma(-x)
        s = _sinpi_r(_reduce2(-u))
        s *= u
        g = _PI / s
        j = _where(u >= 170.0)
        if j is None:
            return normal(u, g)
        r = np.empty_like(u)
        r[j] = tiny(u[j], g[j])
        j = _where(u < 170.0)
        if j is not None:
            r[j] = normal(u[j], g[j])
        return r

    vi = v[i]
    out[i] = _split(vi, vi < 0.5, near0, far)
    return out


def _k_gamma(x):
    def special(x):  # +0: inf, -0: -inf, +inf: inf, -inf and nan: nan
        z = np.copysign(np.inf, x)
        return np.where(x == 0, z, np.where(x == np.inf, np.inf, np.nan))

    return _dispatch(x, _gamma_pos, _gamma_neg, special)


def _k_rgamma(x):
    def neg(x):
        v = -x
        out = np.zeros_like(x)                     # the poles
        i = _where(v != np.floor(v))
        if i is None:
            return out

        def near0(u):                              # x / Gamma(1 + x)
            return -u * _rgamma_small(1.0 - u)

        def far(u):                                # sin(pi x) (-x) Gamma(-x) / pi
            f = _sinpi_r(_reduce2(-u))
            f *= u / _PI
            r = np.empty_like(u)
            j = _where(u < _MAXGAM)
            if j is not None:
                r[j] = f[j] * _gamma_pos(u[j])
            j = _where(u >= _MAXGAM)
            if j is not None:   # Gamma(-x) overflows, f Gamma(-x) may not: in steps
                uj, fj = u[j], f[j]
                uc = np.minimum(uj, 280.0)
                w = np.power(uc, 0.5 * uc - 0.25)
                big = (fj * w) * (w / np.exp(uc)) * _stirling_c(uc)
                r[j] = np.where(uj < 280.0, big, np.copysign(np.inf, fj))
            return r

        vi = v[i]
        out[i] = _split(vi, vi < 0.5, near0, far)
        return out

    def special(x):  # +-0 keep their sign, +-inf: 0, nan: nan
        return np.where(x == 0, x, np.where(np.isnan(x), x, 0.0))

    return _dispatch(x, _rgamma_pos, neg, special)


def _k_gammasgn(x):
    if x.size and x.min() > 0:                     # (nan makes the minimum nan)
        return np.ones_like(x)
    f = np.floor(np.minimum(x, 0.0))
    par = np.floor(0.5 * f)
    par *= -2.0
    par += f                                       # floor(x) mod 2 for x < 0, else 0
    out = 1.0 - 2.0 * par
    i = _where((x == f) & (x <= 0))                # 0, -0, the negative integers
    if i is not None:
        xi = x[i]
        out[i] = np.where(xi == 0, np.copysign(1.0, xi), np.nan)
    return out


def _k_digamma(x):
    def neg(x):
        v = -x
        out = np.full_like(x, np.nan)              # the poles
        i = _where(v != np.floor(v))
        if i is None:
            return out
        xi, vi = x[i], v[i]

        def near0(u):                              # digamma(1 + u), u < 1
            t = u + (1.0 - _X0[0])
            t -= _X0[1]
            return _psi_root(t, u - 0.5)

        def far(u):                                # digamma(u) + 1/u
            return _digamma_pos(u) + 1.0 / u

        p = _split(vi, vi < 1.0, near0, far)
        r = _reduce2(xi)
        p -= _PI * _cospi_r(r) / _sinpi_r(r)       # - pi cot(pi x)
        out[i] = p
        return out

    def special(x):  # +0: -inf, -0: +inf, +inf: inf, -inf and nan: nan
        z = np.copysign(np.inf, -x)
        return np.where(x == 0, z, np.where(x == np.inf, np.inf, np.nan))

    return _dispatch(x, _digamma_pos, neg, special)


def _k_entr(x):
    out = np.log(x)
    out *= -x
    i = _where(~(x > 0))
    if i is not None:
        xi = x[i]
        out[i] = np.where(xi == 0, 0.0, np.where(xi < 0, -np.inf, np.nan))
    return out


# ---------------------------------------------------------------------------------------------
# public: gammaln, gamma, rgamma, gammasgn, digamma, entr


def gammaln(x):
    """log|Gamma(x)|: +inf at 0, at the negative integers and at +inf; -inf at -inf (as
    SciPy); relative accuracy kept at the zeros x = 1 and x = 2."""
    return _run("gammaln", _k_gammaln, x)


def gamma(x):
    """Gamma(x): inf at +0, -inf at -0, nan at the negative integers and -inf (as SciPy)."""
    return _run("gamma", _k_gamma, x)


def rgamma(x):
    """1/Gamma(x): 0 at the poles (keeping the sign of a zero argument) and at +-inf."""
    return _run("rgamma", _k_rgamma, x)


def gammasgn(x):
    """The sign of Gamma(x): 1 for x > 0 and +0, -1 at -0, nan at the negative integers, at
    -inf and at nan (as SciPy)."""
    return _run("gammasgn", _k_gammasgn, x)


def digamma(x):
    """digamma (psi), the derivative of log Gamma: -inf at +0, +inf at -0, nan at the negative
    integers and -inf (as SciPy); relative accuracy kept at the positive root 1.46163..."""
    return _run("digamma", _k_digamma, x)


psi = digamma


def entr(x):
    """-x log(x) for x > 0, 0 at 0, -inf for x < 0 (as SciPy)."""
    return _run("entr", _k_entr, x)


# ---------------------------------------------------------------------------------------------
# Hurwitz and Riemann zeta


_LOG_INT = np.log(np.arange(1.0, 65.0))          # log(k + 1) for the direct terms of zeta(s)


def _direct_sum(s, q, n, term):
    """sum_{k < n} term(s, q, k) per element (n an array of small counts), smallest terms
    first."""
    total = np.zeros_like(s)
    if n.size == 0:
        return total
    n_all = int(n.min())
    for k in range(int(n.max()) - 1, -1, -1):
        if k < n_all:
            total += term(s, q, k)
        else:
            live = np.flatnonzero(n > k)
            total[live] += term(s[live], q[live], k)
    return total


def _hurwitz(s, q, sm1=None, scaled=False):
    """Euler-Maclaurin for zeta(s, q) = sum_k (q + k)^-s, for finite s > 1 and q > 0.
    ``sm1``: s - 1 when it is known more exactly than s - 1 rounds (and q is 1: the Riemann
    zeta). ``scaled``: zeta(s, q) q^s instead (for logarithms past the range)."""
    riemann = sm1 is not None
    if sm1 is None:
        sm1 = s - 1.0
    # E-M with fifteen corrections is good to 1e-17 once q + n >= (s + 15) / 1.8 and >= 10
    big = np.maximum(10.0, (np.abs(s) + 15.0) / 1.8)
    n_em = np.where(q >= big, 0.0, np.ceil(big - q))
    # where s is large the terms die off long before that: stop once (1 + n/q)^-s < e^-43
    # and keep only the integral and half terms of the tail
    n_dir = np.where((q > 0) & (s > 1.0), np.ceil(q * np.expm1(43.0 / s)) + 1.0, np.inf)
    direct = n_dir < n_em
    n = np.where(direct, n_dir, n_em)
    a = q + n
    if scaled:
        def term(s_, q_, k):
            return np.exp(-s_ * np.log1p(k / q_))
        pa = np.exp(-s * np.log1p(n / q))          # (a/q)^-s
    elif riemann:
        # (k + 1)^-s = exp(-s log(k + 1)): the rounding of s log(k + 1) costs these terms
        # s log(k+1) eps relatively, below 0.4 eps of zeta(s) >= 1 in all
        def term(s_, q_, k):
            r = np.multiply(s_, -_LOG_INT[k])
            return np.exp(r, out=r)
        pa = np.power(a, -s)
    else:
        def term(s_, q_, k):
            return np.power(q_ + k, -s_)
        pa = np.power(a, -s)
    # tail: a^(1-s)/(s-1) + a^-s/2 + sum_j B_2j/(2j)! (s)_(2j-1) a^(-s-2j+1), the sum nested
    # as (s/a) (B_2/2! + (s+1)(s+2)/a^2 (B_4/4! + (s+3)(s+4)/a^2 (...)))
    if scaled:
        tail = pa * (a / sm1 + 0.5)
    else:  # (a^(1-s) on its own: a^-s may underflow where it does not)
        tail = np.power(a, -sm1) / sm1 + 0.5 * pa
    inv2 = np.multiply(a, a)
    np.divide(1.0, inv2, out=inv2)
    corr = np.full_like(s, _EM[-1])
    t = np.empty_like(s)
    for j in range(len(_EM) - 1, 0, -1):
        np.add(s, 2.0 * j - 1.0, out=t)
        corr *= t
        np.add(s, 2.0 * j, out=t)
        corr *= t
        corr *= inv2
        corr += _EM[j - 1]
    corr *= s
    corr /= a
    corr *= pa
    if direct.any():
        corr[direct] = 0.0
    tail += corr
    tail += _direct_sum(s, q, n, term)
    return tail


def _k_hurwitz(s, q):
    out = np.full_like(s, np.nan)
    q_pole = (q <= 0) & _is_int(q)                 # 0, -0, the negative integers, -inf
    ok_s = (s > 1) & (s < np.inf)
    out[~(s < 1) & q_pole] = np.inf                # (s = nan too, as SciPy)
    out[ok_s & (q == np.inf)] = 0.0
    i = _where(ok_s & (q > 0) & (q < np.inf))
    if i is not None:
        out[i] = _hurwitz(s[i], q[i])
    i = _where(ok_s & (q < 0) & ~q_pole & _is_int(s))
    if i is not None:
        # q < 0 (s an integer), in terms of positive arguments only: with m = ceil(-q),
        # f = q + m and g = 1 - f (both exact, in (0, 1)),
        # sum_{k<m} (q + k)^-s = (-1)^s (zeta(s, g) - zeta(s, g + m)), so that
        # zeta(s, q) = zeta(s, f) + (-1)^s (zeta(s, g) - zeta(s, 1 - q))
        si, qi = s[i], q[i]
        m = np.ceil(-qi)
        f = qi + m
        g = -qi - (m - 1.0)
        sign = 1.0 - 2.0 * (si - 2.0 * np.floor(0.5 * si))
        out[i] = _hurwitz(si, f) + sign * (_hurwitz(si, g) - _hurwitz(si, 1.0 - qi))
    # s = inf: 1 at q = 1, inf for 0 < q < 1, 0 for q > 1 (SciPy: nan there)
    s_inf = s == np.inf
    out[s_inf & (q == 1)] = 1.0
    out[s_inf & (q > 0) & (q < 1)] = np.inf
    out[s_inf & (q > 1)] = 0.0
    out[s == 1] = np.inf
    return out


def _gamma_2pi(v, f):
    """f Gamma(1 + v) (2 pi)^-(1 + v) for v > 0 (from the exact v, not a rounded 1 + v: Gamma's
    slope would carry that rounding into the answer), also where Gamma, or the product
    without f, overflows but the answer does not."""
    out = np.copysign(np.inf, f)                   # past 266 it overflows (f is not small)
    i = _where(v < _MAXGAM)
    if i is not None:
        u = v[i]
        p, e = _two_prod(u, _LOG_2PI[0])           # v log(2 pi) to the last bit
        e += u * _LOG_2PI[1]
        out[i] = (_gamma_pos(u) * (np.exp(-p) * (1.0 - e))) * (f[i] * (u / (2.0 * _PI)))
    i = _where((v >= _MAXGAM) & (v < 266.0))
    if i is not None:   # Stirling: v^(v - 1/2) e^(-v (1 + log 2 pi)) C(v) in halves or quarters
        u = v[i]
        p, e = _two_prod(u, _ONE_LOG_2PI[0])       # v (1 + log 2 pi) to the last bit
        e += u * _ONE_LOG_2PI[1]
        h = np.exp(-0.5 * p) * (1.0 - 0.5 * e)     # e^(-v (1 + log 2 pi) / 2)
        r = _stirling_c(u) * (f[i] * (u / (2.0 * _PI)))
        half = u < 250.0                           # v^((v - 1/2) / 2) < 1e300 there
        q = np.power(u, np.where(half, 0.5, 0.25) * (u - 0.5))
        qh = q * h
        # (in these orders nothing overflows before the answer does)
        out[i] = np.where(half, (r * qh) * qh, (((r * qh) * qh) * q) * q)
    return out


def _k_riemann(x):
    out = np.full_like(x, np.nan)
    out[x == np.inf] = 1.0
    out[x == 1] = np.inf
    i = _where((x > 1) & (x < np.inf))
    if i is not None:
        v = x[i]
        out[i] = _hurwitz(v, np.ones_like(v), v - 1.0)
    # the pole plus a fitted entire part (fitted on [0, 1]; good to 1e-18 a little past 0)
    i = _where((x >= -0.01) & (x < 1))
    if i is not None:
        v = x[i]
        out[i] = 1.0 / (v - 1.0) + _horner(_ZETA_P, v - 0.5)
    neg = (x < -0.01) & (x > -np.inf)
    trivial = neg & _is_int(0.5 * x)
    out[trivial] = 0.0
    i = _where(neg & ~trivial)
    if i is not None:
        v = x[i]
        f = 2.0 * _sinpi_r(_reduce2(0.5 * v)) * _hurwitz(1.0 - v, np.ones_like(v), -v)
        out[i] = _gamma_2pi(-v, f)
    return out


def zeta(x, q=None):
    """The Riemann zeta function (``q`` None; all real x, by the functional equation below 0)
    or the Hurwitz zeta function sum_k (k + q)^-x (x > 1; q > 0, or q < 0 a non-integer with x
    an integer, as SciPy; inf at x = 1 and at q a non-positive integer, nan for x < 1)."""
    if q is None:
        return _run("zeta", _k_riemann, x)
    return _run("zeta", _k_hurwitz, x, q)


def _k_polygamma(n, x):
    out = np.full_like(x, np.nan)                  # n not a non-negative integer
    order_ok = (n >= 0) & (n < np.inf) & _is_int(n)
    i = _where(order_ok & (n == 0))
    if i is not None:
        out[i] = _k_digamma(x[i])
    i = _where(order_ok & (n > 0))
    if i is None:
        return out
    nn, xx = n[i], x[i]
    s = nn + 1.0
    sign = 1.0 - 2.0 * (nn - 2.0 * np.floor(0.5 * nn) == 0)     # (-1)^(n+1)
    z = _k_hurwitz(s, xx)
    small_n = nn <= 170
    fact = np.where(small_n, _FACT[np.minimum(nn, 170).astype(np.intp)], np.inf)
    r = sign * fact * z
    # where zeta(n+1, x) underflows but the answer may not: n! x^-(n+1) in two halves times
    # zeta(n+1, x) x^(n+1) (which is near 1)
    j = _where((xx > 0) & (xx < np.inf) & small_n & (np.abs(z) < 1e-280))
    if j is not None:
        sj, xj = s[j], xx[j]
        h = np.power(xj, -0.5 * sj)
        r[j] = sign[j] * ((fact[j] * h) * h) * _hurwitz(sj, xj, scaled=True)
    # where n! overflows (n > 170), in logarithms (to about 1e-13):
    # log|psi^(n)(x)| = log n! - (n+1) log x + log(zeta(n+1, x) x^(n+1))
    j = _where((xx > 0) & (xx < np.inf) & ~small_n)
    if j is not None:
        sj, xj = s[j], xx[j]
        zs = _hurwitz(sj, xj, scaled=True)
        r[j] = sign[j] * np.exp(_lgamma_pos(sj) - sj * np.log(xj) + np.log(zs))
    out[i] = r
    return out


def polygamma(n, x):
    """psi^(n)(x), the n-th derivative of digamma: digamma for n = 0, else
    (-1)^(n+1) n! zeta(n+1, x). ``n`` (integer-valued, >= 0; nan otherwise) broadcasts with x."""
    dt = _out_dtype("polygamma", (x,))
    out = _run("polygamma", _k_polygamma, n, x)
    return out.astype(dt) if isinstance(out, np.ndarray) else dt.type(out)


# ---------------------------------------------------------------------------------------------
# multigammaln, beta, betaln


def multigammaln(a, d):
    """log of the multivariate gamma function of dimension d (an int), for a > (d - 1)/2:
    d (d-1)/4 log(pi) + sum_{j=1..d} gammaln(a - (j-1)/2). ValueError otherwise, as SciPy."""
    _out_dtype("multigammaln", (a,))
    a = np.asarray(a)
    d = np.asarray(d)[()]
    if not np.isscalar(d) or (np.floor(d) != d):
        raise ValueError("d should be a positive integer (dimension)")
    if np.any(a <= 0.5 * (d - 1)):
        raise ValueError(f"condition a ({a}) > 0.5 * (d-1) ({0.5 * (d - 1)}) not met")
    res = (d * (d - 1) * 0.25) * _LOG_PI
    with np.errstate(over="ignore"):
        res += np.sum(gammaln(np.array([(a - (j - 1.0) / 2) for j in range(1, int(d) + 1)])),
                      axis=0)
    return res


def _psi_rough(c):
    """digamma(c) for c > 0 to about 1e-4 (for first-order corrections only)."""
    d = c + 2.0
    r = 1.0 / d
    return np.log(d) - r * (0.5 + r / 12.0) - 1.0 / c - 1.0 / (c + 1.0)


def _sum_lo(a, b):
    """The rounding error of a + b (|a| >= |b|): a + b = (a + b) + lo exactly."""
    return (a - (a + b)) + b


def _ratio_parts(a, b):
    """For a >= 6, a + b >= 6, |b| <= a: (lead, e) with log Gamma(a) - log Gamma(a + b) =
    lead + e, lead = -b log(a), e = b - (a + b - 1/2) log1p(b/a) + S(a) - S(a + b) (absolute
    error about |b| eps: cancellation between b and the log1p term)."""
    c = a + b
    e = b - (c - 0.5) * np.log1p(b / a) + (_stirling_s(a) - _stirling_s(c))
    return -b * np.log(a), e


def _ratio_e(a, b):
    """The e of _ratio_parts without its cancellation, for a >= 140 and |b/a| <= 1/6: with
    u = b/a (and its rounding error u_lo), b - a log1p(u) = -a phi(u), phi(u) = log1p(u) - u
    summed as a series, so e = -a phi(u) - (b - 1/2) log1p(u) + S(a) - S(a + b)."""
    u = b / a
    p, pe = _two_prod(a, u)
    u_lo = ((b - p) - pe) / a                      # b/a = u + u_lo
    g = np.full_like(u, 1.0 / 25.0)                # phi(u) = -u^2 sum_k (-u)^k / (k + 2)
    for k in range(22, -1, -1):
        g *= -u
        g += 1.0 / (k + 2)
    phi = -(u * u) * g - u * u_lo / (1.0 + u)
    lg1p = np.log1p(u) + u_lo / (1.0 + u)
    return -a * phi - (b - 0.5) * lg1p + (_stirling_s(a) - _stirling_s(a + b))


def _lbeta_sym(a, b):
    """log B(a, b) for a >= b >= 6 (the symmetric Stirling form)."""
    c = a + b
    return (_HALF_LOG_2PI - 0.5 * np.log(c) - (a - 0.5) * np.log1p(b / a)
            + (b - 0.5) * np.log(b / c) + (_stirling_s(a) + _stirling_s(b) - _stirling_s(c)))


def _beta_core(a, b, log):
    """B(a, b) (log|B| if log) for finite a, b, neither a non-positive integer, |a| >= |b|."""
    both_pos = (a > 0) & (b > 0)
    c = a + b
    # b small against a: Gamma(b) a^-b exp(e) (b^2 <= 4a keeps |e| below about 2)
    ratio = (a >= 6.0) & (c >= 6.0) & ((np.abs(b) < 6.0) | (b * b <= 4.0 * a))
    if log:   # lgamma sums for small arguments, the ratio form, the symmetric Stirling form
        cases = ((both_pos & (a < 6.0), "small"),
                 (ratio | ((b < 0) & (a >= 6.0) & (c >= 6.0)), "ratio_log"),
                 (both_pos, "sym"))
    else:     # Gamma products while in range, the exact ratio form, exp(log B)
        in_range = (c < _MAXGAM) & (np.abs(a) < _MAXGAM) & (np.abs(b) < _MAXGAM)
        cases = ((both_pos & in_range, "small"),
                 (ratio & ~in_range & (np.abs(b) < _MAXGAM), "ratio"),
                 (both_pos & ~in_range, "sym"))
    out = np.empty_like(a)
    done = np.zeros(a.shape, dtype=bool)
    for mask, kind in cases + ((~done, "generic"),):
        mask = mask & ~done
        done |= mask
        i = _where(mask)
        if i is None:
            continue
        x, y = a[i], b[i]
        if kind == "small":
            c = x + y
            corr = _psi_rough(c) * _sum_lo(x, y)   # log Gamma(a + b) - log Gamma(c)
            if log:
                out[i] = _lgamma_pos(x) + _lgamma_pos(y) - _lgamma_pos(c) - corr
            else:
                out[i] = (_gamma_pos(x) / _gamma_pos(c)) * _gamma_pos(y) * (1.0 - corr)
        elif kind == "ratio_log":
            lead, e = _ratio_parts(x, y)
            out[i] = _k_gammaln(y) + lead + e
        elif kind == "ratio":
            # B = Gamma(b) a^-b exp(e): the power of the exact a, e small and exact
            # (a^-b in two halves, so that it does not underflow before the answer does)
            h = np.power(x, -0.5 * y)
            r = ((_k_gamma(y) * np.exp(_ratio_e(x, y))) * h) * h
            bad = _where(~np.isfinite(r) | (r == 0))
            if bad is not None:                    # out of range on the way: in logarithms
                xb, yb = x[bad], y[bad]
                lead, e = _ratio_parts(xb, yb)
                r[bad] = _k_gammasgn(yb) * np.exp(_k_gammaln(yb) + lead + e)
            out[i] = r
        elif kind == "sym":
            lb = _lbeta_sym(x, y)
            out[i] = lb if log else np.exp(lb)
        else:
            out[i] = _beta_generic(x, y, log)
    return out


def _beta_generic(a, b, log):
    """B(a, b) or log|B| from Gamma products (in range) or log-gamma sums with signs, with
    the rounding of a + b corrected to first order (Gamma's slope near a pole is large)."""
    c = a + b
    c_pole = (c <= 0) & _is_int(c)
    corr = np.where(c_pole, 0.0, _k_digamma(c) * _sum_lo(a, b))
    lb = _k_gammaln(a) + _k_gammaln(b) - _k_gammaln(c) - corr
    lb[c_pole] = -np.inf
    if log:
        return lb
    sg = _k_gammasgn(a) * _k_gammasgn(b)
    sg[~c_pole] *= _k_gammasgn(c[~c_pole])
    r = sg * np.exp(lb)
    j = _where((np.abs(a) < _MAXGAM) & (np.abs(b) < _MAXGAM) & (np.abs(c) < _MAXGAM))
    if j is not None:
        ga, gb, rc = _k_gamma(a[j]), _k_gamma(b[j]), _k_rgamma(c[j])
        # multiply in the order that stays in range
        first_b = np.abs(np.abs(ga * rc) - 1.0) > np.abs(np.abs(gb * rc) - 1.0)
        prod = np.where(first_b, (gb * rc) * ga, (ga * rc) * gb) * (1.0 - corr[j])
        r[j] = np.where(np.isfinite(prod), prod, r[j])
    return r


def _k_beta(a, b, log):
    out = np.full_like(a, np.nan)
    a_pole = (a <= 0) & _is_int(a)
    b_pole = (b <= 0) & _is_int(b) & ~a_pole
    # a non-positive integer p against the other argument o: finite only for an integer o with
    # 1 - p - o > 0, where B = (-1)^o B(1 - p - o, o) (the limit of the gamma ratio); else +inf
    for pole, p, o in ((a_pole, a, b), (b_pole, b, a)):
        i = _where(pole)
        if i is None:
            continue
        pp, oo = p[i], o[i]
        ok = ((pp >= -2.0**31) & (np.abs(oo) < 2.0**31) & _is_int(oo) & (1.0 - pp - oo > 0))
        r = np.full_like(pp, np.inf)
        j = _where(ok & (oo > 0))
        if j is not None:
            x1, x2 = 1.0 - pp[j] - oo[j], oo[j]
            v = _beta_core(np.maximum(x1, x2), np.minimum(x1, x2), log)
            if not log:
                v = np.where(x2 - 2.0 * np.floor(0.5 * x2) == 0, v, -v)
            r[j] = v
        if not log:
            j = _where(ok & (oo <= 0))
            if j is not None:
                oj = oo[j]
                r[j] = np.where(oj - 2.0 * np.floor(0.5 * oj) == 0, np.inf, -np.inf)
        out[i] = r
    rest = ~a_pole & ~b_pole
    swap = np.abs(a) < np.abs(b)
    big = np.where(swap, b, a)
    small = np.where(swap, a, b)
    i = _where(rest & (np.abs(big) < np.inf) & (np.abs(small) < np.inf))
    if i is not None:
        out[i] = _beta_core(big[i], small[i], log)
    # +inf against a finite argument (-inf counts as a pole above)
    i = _where(rest & (big == np.inf) & (np.abs(small) < np.inf))
    if i is not None:
        o = small[i]
        if log:
            out[i] = np.where(o > 0, -np.inf, np.inf)
        else:
            out[i] = np.where(o > 0, 0.0, _k_gammasgn(o) * np.inf)
    return out  # nan for nan arguments and for (inf, inf)


def beta(a, b):
    """B(a, b) = Gamma(a) Gamma(b) / Gamma(a + b) for real a, b (signs, poles and the limits at
    the non-positive integers as SciPy); accurate also when one argument is large."""
    return _run("beta", lambda x, y: _k_beta(x, y, False), a, b)


def betaln(a, b):
    """log|B(a, b)|, accurate also when one argument is large (no cancellation of gammaln)."""
    return _run("betaln", lambda x, y: _k_beta(x, y, True), a, b)


# ---------------------------------------------------------------------------------------------
# regularized incomplete gamma

_IG_TOL = 2.0**-53
_IG_MAXITER = 20000


# log(1 + d) - d = -2 z^2 sum_{j>=1} c_j z^(j-1) with z = d / (2 + d) (from log(1 + d) =
# 2 atanh(z) and d = 2z / (1 - z)): c_j = 1 for odd j, j / (j + 1) for even j
_PHI_Z = tuple(1.0 if j % 2 else j / (j + 1.0) for j in range(1, 38))


def _log_ratio_minus(x, a):
    """log(x/a) - (x - a)/a without cancellation: the series above for d = (x - a)/a in
    [-1/2, 1] (|z| <= 1/3), else log(x/a) (not log1p(d): d's rounding would be amplified by
    1/(1 + d)) minus d."""
    d = (x - a) / a
    out = np.log(x / a) - d
    i = _where((d >= -0.5) & (d <= 1.0))
    if i is not None:
        u = d[i]
        z = u / (2.0 + u)
        out[i] = -2.0 * (z * z) * _horner(_PHI_Z, z)
    return out


def _ig_prefactor(a, x):
    """x^a e^-x / Gamma(a) for a, x > 0. As a product of a power, an exponential and 1/Gamma
    where none of them leaves the range and the answer is not near its peak; else, for a >= 6,
    as sqrt(a / 2 pi) exp(a (log(x/a) - (x - a)/a) - S(a)), which has no cancellation of
    a log x against x but an absolute error of about |exponent| eps."""
    out = np.zeros_like(a)
    e = np.full_like(a, np.inf)
    i = _where(a >= 6.0)
    if i is not None:
        ai = a[i]
        e[i] = ai * _log_ratio_minus(x[i], ai) - _stirling_s(ai)
        out[i] = np.sqrt(ai / (2.0 * _PI)) * np.exp(e[i])
    with np.errstate(all="ignore"):
        safe = (a < 170.0) & (x < 1400.0) & (a * np.log(x) < 700.0) & (np.abs(e) > 8.0)
    i = _where(safe)
    if i is not None:                              # (e^-x in halves: x < 1400)
        ai, xi = a[i], x[i]
        h = np.exp(-0.5 * xi)
        out[i] = ((np.power(xi, ai) * _rgamma_pos(ai)) * h) * h
    return out  # a < 6 with x >= 1400 (or x^a out of range): 0, as e^-x underflows it


def _ig_series(a, x):
    """sum_n x^n / ((a+1)...(a+n)) (the series of P), to convergence or the iteration cap;
    convergence is checked every 8 terms (the extra terms are harmless)."""
    total = np.empty_like(a)
    live = np.arange(a.size)
    ap, xl = a.copy(), x
    tl, sl = np.ones_like(a), np.ones_like(a)
    tmp = np.empty_like(a)
    for _ in range(0, _IG_MAXITER, 8):
        for _ in range(8):
            ap += 1.0
            np.divide(xl, ap, out=tmp)
            tl *= tmp
            sl += tl
        keep = tl > _IG_TOL * sl                   # the terms are positive and falling
        if not keep.all():
            total[live[~keep]] = sl[~keep]
            live, ap, xl, tl, sl = live[keep], ap[keep], xl[keep], tl[keep], sl[keep]
            tmp = tmp[:live.size]
            if live.size == 0:
                return total
    total[live] = sl
    return total


def _ig_cfrac(a, x):
    """The continued fraction of Q / prefactor (modified Lentz) for x >= a + 1, to
    convergence or the iteration cap; convergence is checked every 4 steps."""
    tiny = 1e-300
    b = x + 1.0 - a                                # >= 2 here
    c = np.full_like(a, 1.0 / tiny)
    d = 1.0 / b
    h = d.copy()
    out = np.empty_like(a)
    live = np.arange(a.size)
    al = a
    delta = np.empty_like(a)
    n = 0
    while n < _IG_MAXITER:
        for _ in range(4):
            n += 1
            an = -n * (n - al)
            b += 2.0
            d *= an
            d += b
            c = an / c
            c += b
            # (Lentz's guard against a zero denominator)
            np.copysign(np.maximum(np.abs(d), tiny), d, out=d)
            np.copysign(np.maximum(np.abs(c), tiny), c, out=c)
            np.divide(1.0, d, out=d)
            np.multiply(d, c, out=delta)
            h *= delta
        keep = np.abs(delta - 1.0) > _IG_TOL
        if not keep.all():
            out[live[~keep]] = h[~keep]
            live, al, b, c, d, h = live[keep], al[keep], b[keep], c[keep], d[keep], h[keep]
            delta = delta[:live.size]
            if live.size == 0:
                return out
    out[live] = h
    return out


def _ig_small_a(a, x):
    """(P, Q) for 0 < a < 1, 0 < x < a + 1: with u = x^a / Gamma(1 + a),
    P = u (1 + a s), Q = (1 - u) - u a s, s = sum_{n>=1} (-x)^n / (n! (a + n)), and 1 - u as
    -expm1(a log x - log Gamma(1 + a)) (log Gamma(1 + a) = a (a - 1) R(a - 1/2), from a itself)."""
    s = np.zeros_like(a)
    term = np.ones_like(a)
    for n in range(1, 40):                          # x < 2: 2^n / n! < 1e-17 by n = 35
        term *= -x / n
        s += term / (a + n)
    lg1p = _horner(_LG_R, a - 0.5) * a * (a - 1.0)
    arg = a * np.log(x) - lg1p
    one_minus_u = -np.expm1(arg)
    u = np.exp(arg)
    return u * (1.0 + a * s), one_minus_u - u * (a * s)


def _k_gammainc(a, x, upper):
    out = np.full_like(a, np.nan)                  # a < 0, x < 0, nan, (0, 0), (inf, inf)
    p_val, q_val = (0.0, 1.0) if upper else (1.0, 0.0)
    # P = 1 (Q = 0): a = 0 and x > 0, or x = inf with a finite
    out[((a == 0) & (x > 0)) | ((x == np.inf) & (a >= 0) & (a < np.inf))] = p_val
    # P = 0 (Q = 1): x = 0 with a > 0, or a = inf with x finite
    out[((x == 0) & (a > 0)) | ((a == np.inf) & (x >= 0) & (x < np.inf))] = q_val
    ok = (a > 0) & (a < np.inf) & (x > 0) & (x < np.inf)
    small_a = ok & (a < 1.0) & (x < a + 1.0)
    i = _where(small_a)
    if i is not None:
        p, q = _ig_small_a(a[i], x[i])
        out[i] = q if upper else p
    i = _where(ok & ~small_a & (x < a + 1.0))
    if i is not None:                               # P by its series, Q = 1 - P
        ai, xi = a[i], x[i]
        p = _ig_prefactor(ai, xi) / ai * _ig_series(ai, xi)
        out[i] = 1.0 - p if upper else p
    i = _where(ok & (x >= a + 1.0))
    if i is not None:                               # Q by its continued fraction, P = 1 - Q
        ai, xi = a[i], x[i]
        q = _ig_prefactor(ai, xi) * _ig_cfrac(ai, xi)
        out[i] = q if upper else 1.0 - q
    return out


def gammainc(a, x):
    """The regularized lower incomplete gamma function P(a, x) = gamma(a, x) / Gamma(a), for
    a >= 0, x >= 0 (nan elsewhere, as SciPy). Series for x < a + 1, continued fraction
    beyond (each capped at 20000 iterations: a up to about 1e6 near x = a)."""
    return _run("gammainc", lambda p, q: _k_gammainc(p, q, False), a, x)


def gammaincc(a, x):
    """The regularized upper incomplete gamma function Q(a, x) = 1 - P(a, x), computed
    directly where it is the smaller (see gammainc)."""
    return _run("gammaincc", lambda p, q: _k_gammainc(p, q, True), a, x)


# ---------------------------------------------------------------------------------------------
# where the fitted constants come from (needs mpmath; not used at run time)


def _chebyshev_fit(f, a, b, deg, center):
    """The Chebyshev interpolant of f on [a, b] of degree deg (in mpmath), as monomial
    coefficients in (x - center), lowest first."""
    import mpmath

    mp = mpmath.mp
    a, b, center = mp.mpf(a), mp.mpf(b), mp.mpf(center)
    half, mid = (b - a) / 2, (a + b) / 2
    nodes = [mp.cos(mp.pi * (k + mp.mpf(1) / 2) / (deg + 1)) for k in range(deg + 1)]
    vals = [f(half * u + mid) for u in nodes]
    cheb = [2 * mp.fsum(v * mp.cos(mp.pi * j * (k + mp.mpf(1) / 2) / (deg + 1))
                        for k, v in enumerate(vals)) / (deg + 1) for j in range(deg + 1)]
    cheb[0] /= 2
    # T_j(u) as polynomials in u, by their recurrence
    tj = [[mp.mpf(1)], [mp.mpf(0), mp.mpf(1)]]
    for j in range(2, deg + 1):
        p = [mp.mpf(0)] + [2 * v for v in tj[j - 1]]
        for i, v in enumerate(tj[j - 2]):
            p[i] -= v
        tj.append(p)
    pu = [mp.fsum(cheb[j] * tj[j][i] for j in range(i, deg + 1) if i < len(tj[j]))
          for i in range(deg + 1)]
    # u = (y + d) / half with y = x - center, d = center - mid
    d = center - mid
    return [mp.fsum(pu[i] / half**i * mp.binomial(i, k) * d**(i - k) for i in range(k, deg + 1))
            for k in range(deg + 1)]


def _coefficients():
    """The fitted constants of this module, recomputed with mpmath at 60 digits."""
    import mpmath

    mp = mpmath.mp
    with mp.workdps(60):
        x0 = mp.findroot(mp.digamma, mp.mpf("1.46"))
        half_log_2pi = mp.log(2 * mp.pi) / 2
        one = mp.mpf(1)

        def lg_ratio(x):  # log Gamma(x) / ((x - 1)(x - 2)) on [1, 2]
            return mp.loggamma(x) / ((x - 1) * (x - 2))

        def psi_ratio(x):  # digamma(x) / (x - x0) on [1, 2]
            return mp.digamma(x) / (x - x0)

        def stirling(w):  # x (log Gamma(x) - (x - 1/2) log x + x - log(2 pi)/2), w = 1/x^2
            if w == 0:
                return one / 12
            x = 1 / mp.sqrt(w)
            return x * (mp.loggamma(x) - (x - one / 2) * mp.log(x) + x - half_log_2pi)

        def psi_asym(w):  # (digamma(x) - log x + 1/(2x)) / w, w = 1/x^2
            if w == 0:
                return -one / 12
            x = 1 / mp.sqrt(w)
            return (mp.digamma(x) - mp.log(x) + 1 / (2 * x)) / w

        def sin_ratio(u):  # sin(pi sqrt(u)) / sqrt(u)
            if u == 0:
                return +mp.pi
            r = mp.sqrt(u)
            return mp.sin(mp.pi * r) / r

        def zeta_reg(s):  # zeta(s) - 1/(s - 1), entire
            return mp.zeta(s) - 1 / (s - 1)

        fits = {
            "_LG_R": _chebyshev_fit(lg_ratio, 1, 2, 20, one * 3 / 2),
            "_PSI_R": _chebyshev_fit(psi_ratio, 1, 2, 21, one * 3 / 2),
            "_LG_S": _chebyshev_fit(stirling, 0, one / 36, 6, 0),
            "_PSI_A": _chebyshev_fit(psi_asym, 0, one / 36, 6, 0),
            "_SINPI": _chebyshev_fit(sin_ratio, 0, one / 4, 8, 0),
            "_ZETA_P": _chebyshev_fit(zeta_reg, 0, 1, 11, one / 2),
            "_X0": (x0, x0 - float(x0)),
        }
        return {k: tuple(float(v) for v in vals) for k, vals in fits.items()}


if __name__ == "__main__":  # print the constants as they stand at the top of this file
    for _name, _vals in _coefficients().items():
        print(f"{_name} = (")
        _line = "   "
        for _v in _vals:
            _s = " " + repr(_v) + ","
            if len(_line) + len(_s) > 99:
                print(_line)
                _line = "   "
            _line += _s
        print(_line)
        print(")")
