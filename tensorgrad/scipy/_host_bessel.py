"""Modified Bessel functions of orders 0 and 1 in NumPy alone: ``i0``, ``i0e``, ``i1``, ``i1e``,
``k0``, ``k0e``, ``k1``, ``k1e``, with the names, special values and dtypes of
``scipy.special``'s, for real arguments. ``NAMES`` lists them.

Each range of x is one polynomial (two for K below 2), in a variable chosen so that the sum does
not cancel and its rounding is not amplified. The coefficients are minimax (Remez) fits to
values that mpmath computes to 50 digits, each with a truncation error under a tenth of an ulp;
the degrees, in brackets, are the fewest that reach it:

* I0 and I1, ``|x| <= 8``: the power series' shape, ``I0(x) = P(x*x)`` [15] and
  ``I1(x) = x * P(x*x)`` [14], all coefficients positive.
* ``8 < |x| <= 12``: ``exp(-|x|) * I(|x|) = G(|x| - 10)`` [16, 16], ``|x| - 10`` exact. The
  rounding of ``x*x`` (half an ulp) costs ``|x| * I1(x) / (2 * I0(x))`` times as much in
  ``P(x*x)``: 2 ulp at 8, 3 at 12; and P would need 18 terms to reach 12.
* ``|x| > 12``: the asymptotic expansion's shape, ``exp(-|x|) * I(|x|) = Q(1/|x|) / sqrt(|x|)``
  [16, 16]. Moving the split lower costs Q more terms than it saves G.
* K0 and K1, ``0 <= x <= 2``: the series with the logarithm, ``K0(x) = A - log(x/2) * I0(x)``
  and ``K1(x) = log(x/2) * I1(x) + B / x``, with A and B polynomials in ``x*x`` up to 1.5 [8, 8;
  I0, I1: 8, 8] and in ``x*x - 4`` from 1.5 to 2 [8, 8; I0, I1: 8, 7]. Near 2 the parts cancel
  most (``K0(2) = 0.11`` is A alone, made of terms of size 0.7 in powers of ``x*x``); centred at
  2, where the logarithm vanishes, A is small there, and ``x*x - 4``, computed from the exact
  ``x - 2``, carries an error that shrinks with it. ``x / 2`` is exact, so ``log(x/2)`` keeps
  its relative accuracy near 2.
* ``x > 2``: ``exp(x) * K(x) = R(1/x - c) / sqrt(x)`` [22, 22], centred (c = 3/8 for K0, 1/8
  for K1) so that Horner's sum does not cancel (uncentred it would, 5-fold). Past 2 the series
  would cancel ever worse (K falls as I grows); below 2, R needs more terms.

Measured against mpmath at 41,000 points, the largest relative error is 2.7 ulp for the I
functions (near 8, from the rounding of ``x*x``), 3 for ``k1`` and ``k1e``, 3.7 for ``k0`` and
4.1 for ``k0e``, the last two between 1.5 and 1.75, where the series' parts cancel by a factor
3. SciPy's own reach 9.5 ulp (``i1`` near 5) and 6.6 (``k0e`` below 2).

Special values are SciPy's: ``i0e``, ``i1e`` are 0 at +-inf; ``k0(0) = k1(0) = inf``,
``k*(x < 0) = nan``; ``k0``, ``k1`` fall to subnormal numbers past x = 708 (these to within
their spacing) and to 0 past 745; NaN gives NaN. Where SciPy's are wrong these are not: ``i0``
and ``i1`` overflow to +-inf where the true value passes the largest double, ``|x| > 713.98``,
and are +-inf at +-inf (SciPy's overflow past 709.78, where ``exp(x)`` alone does, and give NaN
at +-inf, from ``exp(x) * 0``); ``k0`` and ``k1`` are right for subnormal x (``k0(5e-324) =
744.56``, SciPy's inf; ``k1(5e-324) = inf``, SciPy's NaN).

Arguments are anything ``numpy.asarray`` takes: booleans, integers, float16 and float64 give
float64, float32 gives float32 (computed in float64, then rounded); complex, object and other
types raise TypeError, as SciPy's do. A 0-d argument gives a NumPy scalar. Long arguments go a
block of 65536 at a time, which keeps the temporaries in cache: on a million points these take
half of SciPy's time.

>>> import numpy as np
>>> from tensorgrad.scipy._host_bessel import i0e, k1
>>> round(float(i0e(1.0)), 12)  # exp(-1) * I0(1)
0.465759607594
>>> i0e(np.array([-1.0, 0.0, np.inf]))
array([0.46575961, 1.        , 0.        ])
>>> k1(np.float32([0.0, 1.0, -1.0]))
array([       inf, 0.60190725,        nan], dtype=float32)
"""

import numpy as np

from ._host_common import by_range as _pieces
from ._host_common import polyval as _horner
from ._host_common import unary

__all__ = ["NAMES", "i0", "i0e", "i1", "i1e", "k0", "k0e", "k1", "k1e"]

NAMES = ("i0", "i0e", "i1", "i1e", "k0", "k0e", "k1", "k1e")

# Split points, and the exact centre of the middle range of I
_I_BOUNDS = (8.0, 12.0)
_I_MID = 10.0
_K_BOUNDS = (1.5, 2.0)

# Coefficients, highest power first (Horner's order)
# I0(x) = P(x*x), |x| <= 8
_I0_SMALL = (
    8.56696131163805e-34, 4.199219132619993e-31, 3.9335490385829966e-28, 2.5901731205988627e-25,
    1.4967788290823682e-22, 7.242074026863235e-20, 2.8969089118185337e-17, 9.385965799754064e-15,
    2.402807567831219e-12, 4.709502795105432e-10, 6.781684027919226e-08, 6.781684027771297e-06,
    0.00043402777777779505, 0.015624999999999977, 0.25, 1.0)
# exp(-x) * I0(x) = G(x - 10), 8 < x <= 12
_I0_MID = (
    4.5525617300882646e-18, -4.582577339576589e-17, 3.7871506176766233e-16,
    -3.696954468955819e-15, 3.636572184878804e-14, -3.5282806723469864e-13,
    3.4416472766967922e-12, -3.392624477785424e-11, 3.3866635247345047e-10,
    -3.428937881071448e-09, 3.526277297894855e-08, -3.6916717126264387e-07, 3.951896059663297e-06,
    -4.364979820166387e-05, 0.0005075217097503096, -0.006570655778973081, 0.1278333371634286)
# exp(-x) * I0(x) * sqrt(x) = Q(1/x), x > 12
_I0_LARGE = (
    7916985131.270124, -5406230525.500908, 1628856070.275108, -287993033.9653415,
    33488890.779469594, -2711925.6325914203, 157789.98528693675, -6674.861653709506,
    209.3411320271748, -3.9536337810126527, 0.3025296467472359, 0.08978697703386689,
    0.04474809997459191, 0.02921937966499655, 0.028050629149322492, 0.04986778505012617,
    0.3989422804014327)
# I1(x) = x * P(x*x), |x| <= 8
_I1_SMALL = (
    2.589292347403076e-32, 1.168497895100097e-29, 1.023933140628948e-26, 6.215258736126379e-24,
    3.2929835024867607e-21, 1.4484120135658845e-18, 5.214436771945802e-16, 1.501754515960815e-13,
    3.363930596011545e-11, 5.651403354119962e-09, 6.781684027911075e-07, 5.4253472222178126e-05,
    0.0026041666666667407, 0.06249999999999995, 0.5)
# exp(-x) * I1(x) = G(x - 10), 8 < x <= 12
_I1_MID = (
    -3.0314364400013043e-18, 2.7840465576002113e-17, -1.9492093496628371e-16,
    1.5935040112531472e-15, -1.2384707434270118e-14, 8.362495138181051e-14,
    -4.3729306638706523e-13, 4.90046491693009e-13, 3.332639697158424e-11, -7.196067890702743e-10,
    1.1260211313234778e-08, -1.575905335968001e-07, 2.106060201758657e-06,
    -2.7842213962941408e-05, 0.00037657231514559076, -0.005555612359472469, 0.12126268138445552)
# exp(-x) * I1(x) * sqrt(x) = Q(1/x), x > 12
_I1_LARGE = (
    -8146030827.058187, 5582077689.577886, -1686807327.985127, 299007036.37555593,
    -34850978.65327064, 2828388.68208044, -164915.96392137447, 6989.938205733461,
    -219.90082968429212, 4.087511437925149, -0.3480550052074888, -0.10987502944626237,
    -0.05753193577968959, -0.04090714021162095, -0.04675104854690253, -0.1496033551504808,
    0.39894228040143265)

# 0 <= x <= 1.5: K0(x) = A(x*x) - log(x/2) * I0(x), K1(x) = log(x/2) * I1(x) + B(x*x) / x,
# with I0(x) = P(x*x), I1(x) = x * P(x*x) fitted again on this range (fewer terms). A and B are
# fitted on K0's and x*K1's scale (A crosses 0).
_K0_A = (
    2.080278900375182e-14, 4.839975029276448e-12, 8.81996269255398e-10, 1.1570349776581639e-07,
    1.0214014146207793e-05, 0.0005451899602516065, 0.01441850523591498, 0.10569608377461662,
    -0.5772156649015329)
_K0_I = (
    9.679525052645517e-15, 2.4015825064245044e-12, 4.709530234201853e-10, 6.78168367101245e-08,
    6.781684030491658e-06, 0.0004340277777766238, 0.015625000000000243, 0.24999999999999997, 1.0)
_K1_B = (
    -3.2416038376686627e-13, -6.534937064404967e-11, -1.011303313796293e-08,
    -1.0892180834935046e-06, -7.49304291986061e-05, -0.0028371119836993197, -0.04204902094366922,
    0.03860783245076782, 1.0)
_K1_I = (
    5.36196504178583e-16, 1.5011347565666896e-13, 3.3639445691698344e-11, 5.651403172671903e-09,
    6.781684029192091e-07, 5.425347222216125e-05, 0.00260416666666668, 0.0625, 0.5)
# 1.5 < x <= 2: the same with A(x*x - 4) and B(x*x - 4)
_K0_A4 = (
    2.201344229904659e-14, 5.523281646196053e-12, 1.0269560306450882e-09, 1.3857269885183896e-07,
    1.275097889412015e-05, 0.0007283002629669772, 0.02201887368860463, 0.2499816923378778,
    0.11389387274953344)
_K0_I4 = (
    1.0231248241923511e-14, 2.3921838169839585e-12, 4.710272782396901e-10, 6.781648425164551e-08,
    6.781685118235156e-06, 0.00043402777556424816, 0.015625000002872265, 0.24999999999783784,
    1.0000000000007194)
_K1_B4 = (
    -3.4591641536854095e-13, -7.604275528115181e-11, -1.2090263184145526e-08,
    -1.355059416417356e-06, -9.929413602428582e-05, -0.004223822591943472, -0.08402506207505318,
    -0.4546061500340989, 0.27973176363304486)
_K1_I4 = (
    1.6371195622500842e-13, 3.3490419600808364e-11, 5.652327756373869e-09, 6.78164845623516e-07,
    5.4253480920165186e-05, 0.002604166653462198, 0.06250000001138163, 0.49999999999573475)
# exp(x) * K0(x) * sqrt(x) = R(1/x - 3/8), x > 2
_K0_SHIFT = 0.375
_K0_LARGE = (
    2123.845952359453, 5065.848553950721, 5219.782140527378, 2936.271957088508, 909.9753831730645,
    107.68579165669182, -22.988583117233755, -10.01700014120445, -0.8263406588707319,
    0.13838360544462058, 0.06411637034393565, -0.01919569399336539, 0.015042088132816466,
    -0.013158178809354092, 0.011572592974710815, -0.010799602517377518, 0.010816480556636515,
    -0.011836560684698398, 0.014551554783885964, -0.02104006312091181, 0.03899280898724482,
    -0.11342093762206969, 1.2037634037320846)
# exp(x) * K1(x) * sqrt(x) = R(1/x - 1/8), x > 2
_K1_SHIFT = 0.125
_K1_LARGE = (
    -2394.9303551376893, 7431.664927785661, -10389.832595661654, 8662.372849113253,
    -4832.46720318727, 1950.8548918520755, -629.9485617258902, 192.1215403733021,
    -65.20274818469164, 24.776536533256536, -9.846252957196565, 4.041569310554909,
    -1.7440710128584471, 0.8013442243389687, -0.3958041433006401, 0.2129302330334375,
    -0.1271050221802005, 0.08647758119215165, -0.06990546643299109, 0.07216367594565877,
    -0.11090343839714041, 0.4382014778921273, 1.3099834570765034)

_BLOCK = 1 << 16  # elements per block of a long argument
_SMALLEST_NORMAL = 2.0 ** -1022
_LOG_TINY = -708.0  # log(x / 2) below it: x / 2 may be subnormal, so not exact
_LN2 = 0.6931471805599453


def _unary(f):
    return unary(f, _BLOCK)


def _times_exp(v, a):
    """v * exp(a), rounded once more where exp(a) alone would overflow (a > 709.78: i0, i1 up
    to 713.98) or be subnormal (a < -708.4: k0, k1 past 708), which v * exp(a) need not be."""
    e = np.exp(a)
    r = v * e
    odd = (e == np.inf) | (e < _SMALLEST_NORMAL)
    if odd.any():
        b = a[odd]
        h = np.exp(0.5 * b)
        r[odd] = np.where(b == np.inf, np.inf, (v[odd] * h) * h)  # not 0 * inf at inf
    return r


# ---- I0, I1 ---------------------------------------------------------------------------------
def _i0_small(ax):
    return _horner(ax * ax, _I0_SMALL)


def _i0e_mid(ax):
    return _horner(ax - _I_MID, _I0_MID)


def _i0e_large(ax):
    return _horner(1.0 / ax, _I0_LARGE) / np.sqrt(ax)


def _i1_small(ax, x):
    return x * _horner(x * x, _I1_SMALL)


def _i1e_mid(ax, x):
    return np.copysign(_horner(ax - _I_MID, _I1_MID), x)


def _i1e_large_abs(ax):
    return _horner(1.0 / ax, _I1_LARGE) / np.sqrt(ax)


@_unary
def i0e(x):
    """i0e(x) = exp(-|x|) * i0(x), the exponentially scaled modified Bessel function of the
    first kind of order 0 (as ``scipy.special.i0e``)."""
    return _pieces(np.abs(x), _I_BOUNDS,
                   (lambda a: _i0_small(a) * np.exp(-a), _i0e_mid, _i0e_large))


@_unary
def i0(x):
    """I0(x), the modified Bessel function of the first kind of order 0 (as
    ``scipy.special.i0``)."""
    return _pieces(np.abs(x), _I_BOUNDS, (_i0_small, lambda a: _i0e_mid(a) * np.exp(a),
                                          lambda a: _times_exp(_i0e_large(a), a)))


@_unary
def i1e(x):
    """i1e(x) = exp(-|x|) * i1(x), the exponentially scaled modified Bessel function of the
    first kind of order 1 (as ``scipy.special.i1e``)."""
    return _pieces(np.abs(x), _I_BOUNDS, (
        lambda a, s: _i1_small(a, s) * np.exp(-a), _i1e_mid,
        lambda a, s: np.copysign(_i1e_large_abs(a), s)), x)


@_unary
def i1(x):
    """I1(x), the modified Bessel function of the first kind of order 1 (as
    ``scipy.special.i1``)."""
    return _pieces(np.abs(x), _I_BOUNDS, (
        _i1_small, lambda a, s: _i1e_mid(a, s) * np.exp(a),
        lambda a, s: np.copysign(_times_exp(_i1e_large_abs(a), a), s)), x)


# ---- K0, K1 ---------------------------------------------------------------------------------
def _log_half(x):
    """log(x / 2): NaN for x < 0, -inf at 0, and right for subnormal x too (where x / 2 is
    not exact: log(x) - log(2) has no cancellation there)."""
    lg = np.log(0.5 * x)
    low = lg < _LOG_TINY
    if low.any():
        lg[low] = np.log(x[low]) - _LN2
    return lg


def _k0_small(x):
    y = x * x
    return _horner(y, _K0_A) - _log_half(x) * _horner(y, _K0_I)


def _near2(x):
    """x*x - 4 for 1.5 <= x <= 2, to within 0.6 ulp of itself (x - 2 is exact)."""
    d = x - 2.0
    return d * d + 4.0 * d


def _k0_near2(x):
    v = _near2(x)
    return _horner(v, _K0_A4) - _log_half(x) * _horner(x * x, _K0_I4)


def _k1_small(x):
    y = x * x
    r = _log_half(x) * (x * _horner(y, _K1_I)) + _horner(y, _K1_B) / x
    r[x == 0] = np.inf  # not log(0) * 0
    return r


def _k1_near2(x):
    v = _near2(x)
    return _log_half(x) * (x * _horner(x * x, _K1_I4)) + _horner(v, _K1_B4) / x


def _k0e_large(x):
    return _horner(1.0 / x - _K0_SHIFT, _K0_LARGE) / np.sqrt(x)


def _k1e_large(x):
    return _horner(1.0 / x - _K1_SHIFT, _K1_LARGE) / np.sqrt(x)


@_unary
def k0(x):
    """K0(x), the modified Bessel function of the second kind of order 0 (as
    ``scipy.special.k0``): inf at 0, NaN for x < 0."""
    return _pieces(x, _K_BOUNDS, (_k0_small, _k0_near2,
                                  lambda a: _times_exp(_k0e_large(a), -a)))


@_unary
def k0e(x):
    """k0e(x) = exp(x) * k0(x), the exponentially scaled modified Bessel function of the
    second kind of order 0 (as ``scipy.special.k0e``)."""
    return _pieces(x, _K_BOUNDS, (lambda a: _k0_small(a) * np.exp(a),
                                  lambda a: _k0_near2(a) * np.exp(a), _k0e_large))


@_unary
def k1(x):
    """K1(x), the modified Bessel function of the second kind of order 1 (as
    ``scipy.special.k1``): inf at 0, NaN for x < 0."""
    return _pieces(x, _K_BOUNDS, (_k1_small, _k1_near2,
                                  lambda a: _times_exp(_k1e_large(a), -a)))


@_unary
def k1e(x):
    """k1e(x) = exp(x) * k1(x), the exponentially scaled modified Bessel function of the
    second kind of order 1 (as ``scipy.special.k1e``)."""
    return _pieces(x, _K_BOUNDS, (lambda a: _k1_small(a) * np.exp(a),
                                  lambda a: _k1_near2(a) * np.exp(a), _k1e_large))
