"""Bessel functions of the first and second kind of orders 0 and 1 in NumPy alone: ``j0``,
``j1``, ``y0``, ``y1``, with the names, special values and dtypes of ``scipy.special``'s, for real
arguments. ``NAMES`` lists them.

J and Y oscillate, with zeros about pi apart; each is computed so that its relative error stays
small up to (and at) the zeros, not just its error next to the envelope E(x) = min(1,
sqrt(2 / (pi x))). The coefficients are fits to values that mpmath computes to 50 digits (the
script at the end of this file prints them). By range of x:

* Near 0 the power series' shapes: ``J0 = P(x*x)`` for ``x <= 1.5``, ``J1 = x P(x*x)`` for
  ``x <= 1.84``, ``Y1 = 2/pi J1(x) log(x) + R(x*x) / x`` for ``x <= 1.2``, and for ``x <= 1.5``
  ``Y0 = 2/pi J0(x) log(x / z) + (x*x - z*z) T(x*x)`` with z = 0.8936 Y0's first zero: both
  terms vanish at z, and ``log(x / z) = log1p((x - z) / z)`` with ``x - z`` exact, so Y0 keeps
  its relative accuracy there (in the usual ``log(x / 2)`` form the two terms cancel).
* Up to x = 7 (order 0) or 8.5 (order 1): pieces 0.6 to 3.5 wide, each a polynomial ``Q(x - c)``
  of degree 15 to 17 about its centre, times ``x - zero`` where the piece holds a zero (or ends
  just short of one). The zero is a double-double ``hi + lo``: ``x - hi`` is exact, and the
  factor, and with it the result, keeps its relative accuracy at the zero.
* Beyond, the modulus-phase form ``J = M cos(theta)``, ``Y = M sin(theta)``, ``theta = x -
  (2 nu + 1) pi / 4 + alpha(x)``, with ``sqrt(x) M = MOD(1/x**2)`` and ``alpha = c0 / x +
  PHASE(1/x**2) / x**3`` (c0 = -1/8, 3/8), one fit up to 16 and one above. The phase is reduced
  exactly: ``s = x - (m + c) pi + alpha`` in [-pi/2 - 0.05, pi/2 + 0.05] (c a quarter), where
  ``(m + c) (_PI1 + _PI2)``, pi's first two 23-bit parts, is exact up to x = 2**29, and the
  result is ``+-M sin(s)``, ``sin(s) = s SIN(s*s)``. Where |s| < 0.1 the sum is done again with
  its rounding errors kept (Knuth's two-sum, and c0 / x to twice the precision with Dekker's
  exact product), which leaves the phase an absolute error of about 1e-20: the relative error
  stays small down to ``|f| ~ 1e-4 E(x)``. Within 0.05 of one of the zeros below 40, it is the
  Taylor series about the zero instead (9 terms, the zero as hi + lo, the coefficients from
  f'(zero) and the Bessel equation), as accurate at the double nearest the zero as elsewhere.
* Past 2**29 the reduction would need more bits: ``M sin(x - c pi + alpha)`` with NumPy's
  ``sin`` and ``cos`` of x, whose reduction is exact (absolute accuracy only).

Measured against mpmath, as relative error in units of 2**-52: at most 2.4 in every range up to
2**29, near the zeros above 40 too as long as ``|f| >= 1e-4 E(x)`` (13 for order 1 at 1e-5 E),
and 1.6 at the doubles nearest the zeros below 40. Past 2**29 the error is at most 2 units of
E(x). SciPy's own errors reach 12 units of E(x) and 120 relative (at ``|f| >= E / 10``) below 50,
1e5 units of E at 1e3, 1e8 at 1e8, and all of E past 1e16, where ``x - pi/4`` is formed in
double precision.

Special values are SciPy's: ``j0(+-inf) = j1(+-inf) = nan`` (not 0), ``y0(+inf) = y1(+inf) =
nan``; ``y0(0) = y1(0) = -inf``, ``y0(x < 0) = y1(x < 0) = nan``; ``j1`` is odd, ``j1(-0.0) =
-0.0``; ``y1`` is -inf below x = 3.5e-309 (where ``-2 / (pi x)`` overflows); ``y0(5e-324) =
-473.999``.

Arguments are anything ``numpy.asarray`` takes: booleans, integers, float16 and float64 give
float64 (as SciPy's, whose loops are d->d and f->f, d first), float32 gives float32 (computed in
float64, then rounded); complex, object and other types raise TypeError. A 0-d argument gives a
NumPy scalar. Long arguments go a block of 32768 at a time (the temporaries stay in cache), the
entries of a block grouped by range. On a million points this takes SciPy's time where most are
above 8.5, 1.2 to 1.5 times it on wider spreads, and 3 times (j0, j1) or 1.6 times (y0, y1) where
all are below 5 (there SciPy's one rational function serves all, but is accurate only next to
E(x)).

>>> import numpy as np
>>> from tensorgrad.scipy._host_bessel_jy import j0, y1
>>> round(float(j0(1.0)), 12)
0.765197686558
>>> y1(np.array([0.0, 1.0, -1.0]))
array([       -inf, -0.78121282,         nan])
"""

import numpy as np

from ._host_common import by_range as _by_range
from ._host_common import polyval as _horner
from ._host_common import unary

__all__ = ["NAMES", "j0", "j1", "y0", "y1"]

NAMES = ("j0", "j1", "y0", "y1")

# ---- constants: printed by the script at the end of this file -----------------------------------
_PI1, _PI2, _PI3 = 3.141592502593994, 1.5099578831723193e-07, 1.0780605716316238e-14
_J0_PIECES = ((3.83, 2.665, 2.404825557695773, -1.176691651530894e-16, (-6.349604355506232e-15,
    7.961006659230866e-14, 1.988612335813654e-12, -1.9147368231416535e-11, -3.8643088538617e-10,
    3.3158152784030355e-09, 5.4685681795737914e-08, -4.136178818078963e-07, -5.325417703773825e-06,
    3.489187853366987e-05, 0.0003259765501316357, -0.0018087163089713805, -0.010747537624692249,
    0.049002552017918775, 0.13548502794564105, -0.4873953889561145)), (7.0, 5.415,
    5.520078110286311, 8.088597146146722e-17, (4.4311884126100737e-16, 4.679863663725668e-15,
    -1.2919704645252874e-13, -1.1957915988868419e-12, 2.9214526027236993e-11,
    2.2346624864999605e-10, -4.9625716324513594e-09, -3.0043838623018933e-08,
    6.024828203007015e-07, 2.7059486361433527e-06, -4.869465209507925e-05, -0.00014515137107025668,
    0.002341651278581226, 0.003663961683617244, -0.05429691779962349, -0.019541957330745,
    0.34291321847803313)))
_J1_PIECES = ((5.33, 3.585, 3.8317059702075125, -1.5269184090088067e-16, (-4.721215602577868e-16,
    -3.0551458141015382e-15, 1.393727888448377e-13, 7.884338402381118e-13, -3.126687859458114e-11,
    -1.481435836789257e-10, 5.259116489675266e-09, 2.0105171778565903e-08, -6.314018731722232e-07,
    -1.844023669271727e-06, 5.0439869091445826e-05, 0.00010287865714193156, -0.002404948414760685,
    -0.00288395119910609, 0.056404943250736354, 0.025394125178787825, -0.4124051916810244)), (8.5,
    6.915, 7.015586669815619, -9.414165653410389e-17, (4.1241970556514814e-16,
    3.747743402082044e-15, -1.3049531612227416e-13, -9.41158751784337e-13, 2.935432142020899e-11,
    1.7189098460799007e-10, -4.929986034495866e-09, -2.2416668029872928e-08, 5.890346234646043e-07,
    1.9363495370509977e-06, -4.651972104807074e-05, -9.78770132755081e-05, 0.002161799668056281,
    0.002271341279955005, -0.04778604618167178, -0.0118536237394973, 0.30178902110427724)))
_Y0_PIECES = ((2.25, 1.875, None, None, (-2.4774994302759297e-06, 3.93413737844651e-06,
    -6.402629275022086e-06, 1.3513211458298648e-05, -2.774789482204441e-05, 5.64202061701899e-05,
    -0.00011586345951280011, 0.0002396303110654704, -0.0004947583089218162, 0.0010712054843449081,
    -0.0026943057652289368, 0.004512301901119823, 0.004177015309670736, 0.030915249749428622,
    -0.29400965958646536, 0.17904801949715476, 0.4925270421077948)), (3.3, 2.775, None, None,
    (-3.7197149441699976e-09, 1.0734317905629415e-08, -2.7311855884388894e-08,
    8.155593178930407e-08, -2.4604212516083486e-07, 7.454726752719334e-07, -2.270430883285915e-06,
    6.204598477943373e-06, -1.7669021235378178e-05, 0.00011350262201951434,
    -0.00042383732618555295, -0.0016397143285815626, 0.00657962072426284, 0.05801886812514365,
    -0.17527214540646024, -0.25489097974160835, 0.44239689612521216)), (4.8, 4.05,
    3.957678419314858, -1.0764340697562706e-16, (-8.81428909653821e-12, 3.754785886071038e-11,
    -1.3526108766694624e-10, 5.684771207233835e-10, -2.9200502945446832e-09,
    1.5610954711747315e-08, -5.968851372943852e-09, -3.0483625230413203e-07, -5.11513365711601e-06,
    4.768936087350913e-05, 0.00022258814600016721, -0.0020870068014046364, -0.007641478132589583,
    0.05651582969782953, 0.06147991447322051, -0.3973543086736268)), (7.0, 5.9, 7.086051060301773,
    -8.835285723085408e-17, (-2.541361236581973e-14, -3.458484592467828e-14, 5.629633688628265e-13,
    3.288817921017829e-11, -2.4064167760221175e-10, -4.717625274918171e-09, 3.113238640943835e-08,
    5.74290238703027e-07, -3.285559425187455e-06, -4.352233915947846e-05, 0.00020776639278240265,
    0.001968289565833425, -0.007343230911878717, -0.04056892378659347, 0.09151723869474666,
    0.2566212705207737)))
_Y1_PIECES = ((1.8, 1.5, 2.197141326031017, -4.8259835876454966e-17, (-0.00024031834428799714,
    0.0003638045495861685, -0.00042991876305611824, 0.0006431051183824689, -0.0009871916223302337,
    0.0014794022516815128, -0.002213485190714092, 0.0033143212479878757, -0.004959959019058459,
    0.007416741175272831, -0.011074273884542019, 0.01644740445900012, -0.024475206967966102,
    0.03872091084531224, -0.053593781176242423, 0.014426102532821148, -0.09451990751817302,
    0.5914276081168182)), (2.7, 2.25, 2.197141326031017, -4.8259835876454966e-17,
    (-1.9093387833493762e-07, 4.278010264068244e-07, -6.260124353825913e-07,
    1.4074767249655177e-06, -3.366213964335327e-06, 7.557159854546595e-06, -1.6893698365563298e-05,
    3.787270240193924e-05, -8.487801811687231e-05, 0.00019028660720870263, -0.0004198802361596247,
    0.000895487644304199, -0.002284938156734351, 0.0067788499199212225, -0.003297921165665641,
    -0.03349749409458341, -0.12202407229831458, 0.5144294341165883)), (4.0, 3.35, None, None,
    (3.4064819034920744e-10, -7.964654067075194e-10, 2.2904631025852886e-09,
    -8.265096311619215e-09, 2.756139016231385e-08, -9.090487249017425e-08, 3.044280273616365e-07,
    -1.0725725163761637e-06, 3.297272252575065e-06, -4.738368634295331e-06, 3.777005860266206e-05,
    -0.0005080829345426006, 0.00040789192486906156, 0.012215664857821442, -0.001677520164445751,
    -0.19951677267317863, 0.13162780209813227, 0.3949328271578083)), (6.0, 5.0, 5.429681040794135,
    4.162514026670377e-16, (2.0771408445036198e-13, -8.73537616437363e-13, 3.588692430713023e-12,
    -1.7404401920329754e-11, 5.7199054933832605e-11, -5.074344942784017e-10, 7.599472590649045e-09,
    -2.6533782211408046e-09, -5.933691785771191e-07, -8.736906776135828e-07, 5.212042635415699e-05,
    1.8258121728548113e-05, -0.002345729273491074, -0.0002433299843162272, 0.05381933516789264,
    -0.014040135485272274, -0.3441230339554816)), (8.5, 7.25, 8.596005868331169,
    2.8415838340063664e-16, (-6.730847787516069e-15, -9.563576596706791e-14,
    1.4171016308358752e-12, 2.4063595155669103e-11, -2.9180518546609715e-10,
    -3.838045310462583e-09, 4.111195805314831e-08, 4.458242463940456e-07, -4.056514954389924e-06,
    -3.3531149739261295e-05, 0.00024795317054896604, 0.001480330942062356, -0.00806973699129742,
    -0.03101578458935564, 0.09408224722403376, 0.2149678548997205)))
_MOD0A = (66341636.153854005, -10636117.854586056, 822102.8613310831, -42720.62550520333,
    1834.4085393197693, -80.79299250107374, 4.638370413956078, -0.4330032677519092,
    0.08259314760176661, -0.04986778440252789, 0.7978845608023636)
_PHASE0A = (30953394036251.332, -5394591379440.259, 439531927238.1568, -22501617165.737812,
    828871079.5080273, -24292204.60340116, 631225.2870566252, -16707.513132685566,
    530.3173547037055, -23.456756937906377, 1.638022606571282, -0.2095702507461072,
    0.06510416662660762)
_MOD0B = (-50770.028095112684, 2184.5523468356123, -84.90283449759612, 4.666373683925769,
    -0.43312946152917375, 0.0825935198042428, -0.04986778505057898, 0.7978845608028654)
_PHASE0B = (1029981453.4592465, -34825563.55542255, 768571.5759217823, -17736.55430759734,
    535.5123820444779, -23.475034358770344, 1.6380658485616293, -0.2095703124950341,
    0.06510416666666655)
_MOD1A = (6897799.041521325, -809086.5480758168, 48673.88462036747, -2211.1945938100644,
    101.01106631378823, -6.1468582247827275, 0.6424171908248731, -0.1542781432424544,
    0.14960335464750454, 0.7978845608032208)
_PHASE1A = (2612085513.868534, -286689332.20099586, 15395483.289692238, -571640.830160429,
    18389.306992066915, -643.7363903260888, 30.562667195577035, -2.3692358513945053,
    0.3708981839547643, -0.16406249982275856)
_MOD1B = (51206.987674665215, -2492.4159554103, 104.76611049523898, -6.173181321791227,
    0.6425318156749582, -0.15427845810261323, 0.1496033551499726, 0.7978845608028654)
_PHASE1B = (21529434.417305205, -774558.718951302, 20660.241476369516, -658.3394612751429,
    30.623208660302215, -2.36939746444771, 0.3708984374308433, -0.16406249999999792)
_SIN = (2.7168440861163875e-15, -7.642597557992942e-13, 1.6058925502950184e-10,
    -2.5052106616491234e-08, 2.7557319208752136e-06, -0.00019841269841198948, 0.008333333333333182,
    -0.16666666666666666, 1.0)
_J1_W = (4.996140839893978e-16, -1.500364419780874e-13, 3.3638826323683006e-11,
    -5.651402391976487e-09, 6.78168401638898e-07, -5.4253472221470915e-05, 0.0026041666666664232,
    -0.06249999999999997, 0.5)
_J0_W = (9.090241020153645e-15, -2.4015331782431046e-12, 4.709473004195982e-10,
    -6.78168361981971e-08, 6.7816840244812565e-06, -0.00043402777777627716, 0.01562499999999966,
    -0.24999999999999997, 1.0)
_Y0_Z1 = (0.8935769662791675, 2.6596231539720385e-17)
_Y0_T = (3.2923171958216095e-17, -1.7343396051157904e-14, 4.300818563591637e-12,
    -7.996075854665599e-10, 1.0780429439635287e-07, -9.894726461899158e-06, 0.0005617931795897617,
    -0.016744672591055575, 0.18214429522164177)
_Y1_R = (2.4957774112224984e-13, -5.640765674912894e-11, 8.931715483610692e-09,
    -9.926738560274575e-07, 7.16426873499184e-05, -0.0029553053360175017, 0.054348688160496456,
    -0.19605709064623758, -0.6366197723675814)
_J0_ZEROS = ((8.653727912911013, -2.92812607320779e-16, -0.27145229992838193), (11.791534439014281,
    2.812956912778735e-16, 0.23245983136472478), (14.930917708487787, -7.070514505983074e-16,
    -0.20654643307799603), (18.071063967910924, -9.658048089426209e-16, 0.18772880304043943),
    (21.21163662987926, 4.947077428784068e-16, -0.17326589422922986), (24.352471530749302,
    9.169067133951066e-16, 0.16170155068925002), (27.493479132040253, 1.6191941793302084e-15,
    -0.15218121377059454), (30.634606468431976, -5.390359852115135e-16, 0.1441659776863732),
    (33.77582021357357, 1.454224241250595e-15, -0.13729694340850299), (36.917098353664045,
    -9.276489358569364e-16, 0.13132462666866793))
_J1_ZEROS = ((10.173468135062722, 4.482162274768888e-16, -0.2497048770578432), (13.323691936314223,
    2.600408064718813e-16, 0.21835940724787295), (16.470630050877634, -1.619019544798128e-15,
    -0.1964653714686572), (19.615858510468243, -1.004445634526616e-15, 0.18006337534431555),
    (22.760084380592772, -4.925749373614922e-16, -0.16718460047381806), (25.903672087618382,
    4.894530726419825e-16, 0.15672498625285222), (29.046828534916855, -2.799892014010185e-16,
    -0.14801110997277755), (32.189679910974405, -1.5481609125503839e-15, 0.14060579818398225),
    (35.33230755008387, -3.2611649318496424e-15, -0.1342112403100007), (38.474766234771614,
    7.193676286738655e-16, 0.12861662207206995))
_Y0_ZEROS = ((7.086051060301773, -8.835285723085408e-17, 0.3000976149104752), (10.222345043496418,
    -7.967395050308809e-16, -0.2497012375146848), (13.361097473872764, -6.626109493712529e-16,
    0.21835829659767134), (16.50092244152809, 1.0187464212445755e-15, -0.19646493789501676),
    (19.64130970088794, -1.3738085245174177e-15, 0.18006317633754418), (22.782028047291558,
    1.5905927758681248e-15, -0.16718449805101074), (25.922957653180923, -2.254067267232836e-16,
    0.15672492885024078), (29.064030252728397, 9.25191637912007e-16, -0.14801107561113566),
    (32.20520411649328, 3.240071558384457e-15, 0.14060577650750067), (35.34645230521432,
    -1.7946483769852148e-16, -0.13421122603883404), (38.48775665308154, -2.8605001688824427e-15,
    0.12861661233697969))
_Y1_ZEROS = ((8.596005868331169, 2.8415838340063664e-16, 0.27145987731153354), (11.749154830839881,
    2.9466381668409186e-17, -0.23246176601703875), (14.897442128336726, -6.072148995506809e-16,
    0.2065471103565926), (18.043402276727857, -1.4499889213148965e-15, -0.1877290919149097),
    (21.188068934142212, 1.0863038864317323e-15, 0.17326603526911988), (24.33194257135691,
    2.940063934282991e-16, -0.1617016266586241), (27.475294980449224, -4.0165306757179716e-16,
    0.1521812578603752), (30.618286491641115, -1.0574311760765617e-16, -0.14416600481816505),
    (33.76101779610933, -2.8223590896878435e-15, 0.13729696091187468), (36.90355531614295,
    1.014839093361194e-15, -0.13132463840786532))
# ---- end of the printed constants ----------------------------------------------------------------

_TWO_OVER_PI = 0.6366197723675814
_INV_PI = 0.3183098861837907
_SPLITTER = 134217729.0  # 2**27 + 1: Veltkamp's split of a double into two halves
_SPLIT_AB = 16.0  # the phase form's two fits meet here
_FAR = 2.0 ** 29  # beyond: k * _PI1 would need more bits than a double has
_DEKKER_ZONE = 0.1  # |s| below it: alpha's leading term to twice the working precision
_WINDOW = 0.05  # |s| below it, near a tabulated zero: the Taylor series about the zero
_TAYLOR_TERMS = 9  # f = d (c1 + c2 d + ... + c9 d**8), |d| < 0.05: within 3e-19 relative
_Y0_LOG_SWITCH = 0.45  # Y0 near 0: log(x) - log(z) below it, log1p((x - z) / z) above
_LOG_Y0_Z1 = -0.11252280788079415  # log of Y0's first zero
_BLOCK = 1 << 15  # elements per block of a long argument


class _Zeros:
    """The zeros of one function from the start of its phase form to 40, and the Taylor
    coefficients about each (an array: one row per power from the first, one column per zero)
    from the derivative there and the Bessel equation x*x f'' + x f' + (x*x - nu*nu) f = 0:
    with f(z + d) = sum c_j d**j, c_0 = 0, c_1 = f'(z) and
    z*z (j+1)(j+2) c_{j+2} = -(z (j+1)(2j+1) c_{j+1} + (j*j + z*z - nu*nu) c_j
                               + 2 z c_{j-1} + c_{j-2})."""

    def __init__(self, table, nu, c):
        z = np.array([t[0] for t in table])
        self.hi, self.lo = z, np.array([t[1] for t in table])
        cs = [np.zeros_like(z), np.array([t[2] for t in table])]
        for j in range(_TAYLOR_TERMS - 1):
            prev = cs[j - 1] if j >= 1 else 0.0
            prev2 = cs[j - 2] if j >= 2 else 0.0
            cs.append(-(z * (j + 1) * (2 * j + 1) * cs[j + 1] + (j * j + z * z - nu * nu) * cs[j]
                        + 2 * z * prev + prev2) / (z * z * (j + 1) * (j + 2)))
        self.coefs = np.array(cs[1:])
        # the m of the phase form's reduction at the first zero (where s = 0), and bounds
        # either side of the table
        self.m0 = round((z[0] + (4 * nu * nu - 1) / (8 * z[0])) * _INV_PI - c)
        self.bottom, self.top = z[0] - 1.0, z[-1] + 1.0


def _phase_form(x, nu, c, sign, zeros):
    """sign * M(x) sin(s) (-1)**m for 7 < x <= 2**29 (order 0) or 8.5 < x <= 2**29 (order 1),
    with s = x - (m + c) pi + alpha(x), |s| <= pi/2 + 0.05. In place where it can be: on
    blocks of this size each new array costs about as much as the arithmetic."""
    c0 = -0.125 if nu == 0 else 0.375
    u = np.divide(1.0, x)
    w = u * u
    amp = _horner(w, _MOD0B if nu == 0 else _MOD1B)
    rest = _horner(w, _PHASE0B if nu == 0 else _PHASE1B)
    if np.fmin.reduce(x) <= _SPLIT_AB:  # the first fits up to 16 (fmin: NaN aside)
        low = np.flatnonzero(x <= _SPLIT_AB)
        wl = w.take(low)
        amp[low] = _horner(wl, _MOD0A if nu == 0 else _MOD1A)
        rest[low] = _horner(wl, _PHASE0A if nu == 0 else _PHASE1A)
    buf = np.sqrt(u)  # 3/4 ulp, less than sqrt(x) and a division
    amp *= buf
    w *= u
    rest *= w  # alpha = q + rest
    q = c0 * u  # q's error is made up for where it matters, below
    # k = m + c: x - k (_PI1 + _PI2) is exact (k has at most 30 significant bits, _PI1 and
    # _PI2 23 each, and x - k _PI1 lies within a factor 2 of x)
    m = np.multiply(x, _INV_PI, out=buf)  # |s| <= pi/2 + |alpha| <= pi/2 + 0.05
    m -= c
    np.rint(m, out=m)
    k = np.add(m, c, out=w)
    r = np.multiply(k, _PI1, out=u)
    np.subtract(x, r, out=r)
    t = k * _PI2
    r -= t
    np.multiply(k, -_PI3, out=t)
    t += rest  # the small terms
    s = r + q
    s += t
    # small |s|: the roundings of q (up to 5e-18) and of r + q would show next to s: there
    # s = hi + (lo + small + qlo) with r + q = hi + lo exactly (Knuth's two-sum) and
    # qlo = (c0 - q x) / x, q x = p + e exactly (Dekker's product of Veltkamp halves)
    zone = np.flatnonzero(np.abs(s, out=rest) < _DEKKER_ZONE)
    if zone.size:
        xz, qz, rz, mz = x.take(zone), q.take(zone), r.take(zone), m.take(zone)
        hi = rz + qz
        bb = hi - rz
        lo = rz - (hi - bb)
        lo += qz - bb
        lo += t.take(zone)
        p = qz * xz
        qh = qz * _SPLITTER
        qh -= qh - qz
        xh = xz * _SPLITTER
        xh -= xh - xz
        ql = qz - qh
        xl = xz - xh
        e = qh * xh
        e -= p
        qh *= xl
        e += qh
        xh *= ql
        e += xh
        ql *= xl
        e += ql
        qlo = c0 - p
        qlo -= e
        qlo /= xz
        qlo += lo
        qlo += hi
        s[zone] = qlo
    f = np.multiply(s, s, out=t)
    f = _horner(f, _SIN)
    f *= s
    f *= amp
    if sign < 0:
        f *= sign
    m += 2.0 ** 52  # (-1)**m: m's parity, now the lowest bit of m's double, into f's sign bit
    mi = m.view(np.int64)
    mi <<= 63
    f.view(np.int64)[...] ^= mi
    # near a tabulated zero, where the phase's absolute error (up to 1e-18 below 16) is not
    # small next to s: the Taylor series about the zero, in d = x - zero, the zero as hi + lo
    if zone.size:
        near = np.abs(s.take(zone)) < _WINDOW
        near &= xz < zeros.top
        near &= xz > zeros.bottom
        if near.any():
            at = zone[near]
            j = mz[near].astype(np.intp) - zeros.m0
            d = x.take(at) - zeros.hi.take(j)
            d -= zeros.lo.take(j)
            cs = zeros.coefs.take(j, axis=1)
            acc = cs[-1] * d
            for row in cs[-2:0:-1]:
                acc += row
                acc *= d
            acc += cs[0]
            acc *= d
            f[at] = acc
    return f


def _far_form(x, nu, c, sign):
    """x > 2**29: sign * M(x) sin(x - c pi + alpha), with NumPy's sin and cos of x (whose
    argument reduction is exact) and of the small angle alpha - c pi."""
    mod = _MOD0B if nu == 0 else _MOD1B
    amp = _horner((1.0 / x) ** 2, mod) / np.sqrt(x)
    a = (-0.125 if nu == 0 else 0.375) / x - c * np.pi
    return sign * amp * (np.sin(x) * np.cos(a) + np.cos(x) * np.sin(a))


def _large(x, nu, c, sign, zeros):
    """The phase form, and beyond 2**29 (and at inf) _far_form."""
    f = _phase_form(x, nu, c, sign, zeros)
    if np.fmax.reduce(x) > _FAR:
        at = np.flatnonzero(x > _FAR)
        f[at] = _far_form(x.take(at), nu, c, sign)
    return f


def _piece(x, centre, zhi, zlo, coefs):
    """(x - zero) Q(x - centre) with the zero as zhi + zlo (relative accuracy near it), or
    Q(x - centre) where the piece has no zero."""
    q = _horner(x - centre, coefs)
    if zhi is not None:
        d = x - zhi
        d -= zlo
        q *= d
    return q


def _split_at(x, split, small, large):
    """small(x) for x <= split (and NaN), large(x) above. When the small ones are few, large
    runs on the whole block (its values there are thrown away) and small on those alone: that
    costs less than gathering and scattering the many large ones."""
    low = np.flatnonzero(~(x > split))
    if low.size == x.size:
        return small(x)
    if 10 * low.size <= x.size:
        out = large(x)
        if low.size:
            out[low] = small(x.take(low))
        return out
    big = np.flatnonzero(x > split)
    out = np.empty_like(x)
    out[big] = large(x.take(big))
    out[low] = small(x.take(low))
    return out


def _j0_near0(x):
    return _horner(x * x, _J0_W)


def _j1_near0(x):
    return x * _horner(x * x, _J1_W)


def _y0_near0(x):
    """Y0 = 2/pi J0(x) log(x / z) + (x - z)(x + z) T(x*x), z Y0's first zero: both terms
    vanish at z, so neither cancels the other near it."""
    w = x * x
    d = x - _Y0_Z1[0]
    d -= _Y0_Z1[1]
    lg = np.log1p(d / _Y0_Z1[0])
    low = np.flatnonzero(x < _Y0_LOG_SWITCH)
    if low.size:  # log1p near -1 would lose what x carries
        lg[low] = np.log(x.take(low)) - _LOG_Y0_Z1
    r = _horner(w, _J0_W)
    r *= lg
    r *= _TWO_OVER_PI
    t = _horner(w, _Y0_T)
    t *= d
    t *= x + _Y0_Z1[0]
    r += t
    return r


def _y1_near0(x):
    """Y1 = 2/pi J1(x) log(x) + R(x*x) / x."""
    w = x * x
    r = _horner(w, _J1_W)
    r *= x
    r *= np.log(x)
    r *= _TWO_OVER_PI
    r += _horner(w, _Y1_R) / x
    return r


def _make(nu, c, sign, table, near0, pieces):
    """The function x -> f(x) of one of the four, for x >= 0 (j0, j1) or any x (y0, y1)."""
    zeros = _Zeros(table, nu, c)
    fns = [near0[1]] + [lambda x, p=p: _piece(x, *p[1:]) for p in pieces]
    ends = [near0[0]] + [p[0] for p in pieces[:-1]]

    def small(x):
        return _by_range(x, ends, fns)

    def large(x):
        return _large(x, nu, c, sign, zeros)
    return lambda x: _split_at(x, pieces[-1][0], small, large)


_J0 = _make(0, 0.75, -1.0, _J0_ZEROS, (1.5, _j0_near0), _J0_PIECES)
_J1 = _make(1, 0.25, 1.0, _J1_ZEROS, (1.84, _j1_near0), _J1_PIECES)
_Y0 = _make(0, 0.25, 1.0, _Y0_ZEROS, (1.5, _y0_near0), _Y0_PIECES)
_Y1 = _make(1, 0.75, 1.0, _Y1_ZEROS, (1.2, _y1_near0), _Y1_PIECES)


def _unary(f):
    return unary(f, _BLOCK)


def _second_kind(x, f):
    r = f(x)
    r[x == 0] = -np.inf
    r[x < 0] = np.nan
    return r


@_unary
def j0(x):
    """J0(x), the Bessel function of the first kind of order 0 (as ``scipy.special.j0``)."""
    return _J0(np.abs(x))


@_unary
def j1(x):
    """J1(x), the Bessel function of the first kind of order 1 (as ``scipy.special.j1``)."""
    r = _J1(np.abs(x))
    r *= np.copysign(1.0, x)  # odd; J1(-0.0) = -0.0
    return r


@_unary
def y0(x):
    """Y0(x), the Bessel function of the second kind of order 0 (as ``scipy.special.y0``):
    -inf at 0, NaN for x < 0."""
    return _second_kind(x, _Y0)


@_unary
def y1(x):
    """Y1(x), the Bessel function of the second kind of order 1 (as ``scipy.special.y1``):
    -inf at 0, NaN for x < 0."""
    return _second_kind(x, _Y1)


if __name__ == "__main__":
    # Prints the constants above (the block from "_PI1" to the zero tables): python -m
    # tensorgrad.scipy._host_bessel_jy > constants.txt (needs mpmath; a minute or so).
    import sys

    import mpmath as mp

    mp.mp.dps = 50
    PI, EPS = mp.pi, mp.mpf(2) ** -52

    def split(v):
        hi = float(v)
        return hi, float(v - mp.mpf(hi))

    def lsq_fit(g, t0, t1, deg, rounded=True):
        """Coefficients (lowest first) of a polynomial of degree deg with small relative error
        to g on [t0, t1]: weighted least squares at 3 (deg + 1) Chebyshev points, rounded to
        doubles one at a time from the constant term up, the later ones fitted again each time
        so that they absorb the rounding of the earlier ones (rounded=False: not rounded)."""
        n = 3 * (deg + 1)
        t0, t1 = mp.mpf(t0), mp.mpf(t1)
        sc = max(abs(t0), abs(t1))
        ts = [(t0 + t1) / 2 + (t1 - t0) / 2 * mp.cos(PI * (2 * k + 1) / (2 * n))
              for k in range(n)]
        gs = [g(t) for t in ts]
        fixed = []
        for j in range(deg + 1):
            a = mp.matrix(n, deg + 1 - j)
            b = mp.matrix(n, 1)
            for i, (t, v) in enumerate(zip(ts, gs)):
                for k in range(j, deg + 1):
                    a[i, k - j] = (t / sc) ** k / v
                b[i] = (v - sum(c * t ** k for k, c in enumerate(fixed))) / v
            sol = mp.qr_solve(a, b)[0]
            if not rounded:
                return [sol[k] / sc ** k for k in range(deg + 1)]
            fixed.append(float(sol[0] / sc ** j))
        return fixed

    def poly(cs, t):
        r = mp.mpf(0)
        for c in reversed(cs):
            r = r * t + c
        return r

    def fit(g, t0, t1, deg, tol, label):
        """The fit of the lowest degree from deg up that is within tol ulp (relative) on a fine
        grid before its coefficients are rounded; highest coefficient first."""
        grid = [mp.mpf(t0) + (mp.mpf(t1) - t0) * k / 239 for k in range(240)]
        gv = [g(t) for t in grid]

        def err(cs):
            return max(abs(poly(cs, t) / v - 1) for t, v in zip(grid, gv)) / EPS
        while err(lsq_fit(g, t0, t1, deg, rounded=False)) > tol:
            deg += 1
        cs = lsq_fit(g, t0, t1, deg)
        print(f"# {label}: degree {deg}, {float(err([mp.mpf(c) for c in cs])):.3f} ulp "
              "with rounded coefficients", file=sys.stderr)
        return tuple(cs[::-1])

    def text(name, value, comment=None):
        body = repr(value)
        lines, line = [], f"{name} = "
        for tok in body.replace(", ", ",\0").split("\0"):
            if len(line) + len(tok) > 99:
                lines.append(line.rstrip())
                line = "    "
            line += tok + " "
        lines.append(line.rstrip())
        print((f"# {comment}\n" if comment else "") + "\n".join(lines))

    def f_j0(x):
        return mp.besselj(0, x)

    def f_j1(x):
        return mp.besselj(1, x)

    def f_y0(x):
        return mp.bessely(0, x)

    def f_y1(x):
        return mp.bessely(1, x)

    zeros = {"J0": [mp.besseljzero(0, k) for k in range(1, 16)],
             "J1": [mp.besseljzero(1, k) for k in range(1, 16)],
             "Y0": [mp.besselyzero(0, k) for k in range(1, 16)],
             "Y1": [mp.besselyzero(1, k) for k in range(1, 16)]}

    # pi = _PI1 + _PI2 + _PI3, the first two of 23 bits
    def round_bits(v, bits):
        sc = mp.mpf(2) ** (bits - 1 - mp.floor(mp.log(abs(v), 2)))
        return mp.nint(v * sc) / sc
    p1 = round_bits(PI, 23)
    p2 = round_bits(PI - p1, 23)
    print(f"_PI1, _PI2, _PI3 = {float(p1)!r}, {float(p2)!r}, {float(PI - p1 - p2)!r}")

    # the pieces below the phase form: (end, centre, zero or None, degree to start from)
    layout = {
        "J0": (f_j0, [(3.83, 2.665, 0, 13), (7.0, 5.415, 1, 15)]),
        "J1": (f_j1, [(5.33, 3.585, 0, 15), (8.5, 6.915, 1, 15)]),
        "Y0": (f_y0, [(2.25, 1.875, None, 15), (3.3, 2.775, None, 15), (4.8, 4.05, 1, 14),
                      (7.0, 5.9, 2, 14)]),
        "Y1": (f_y1, [(1.8, 1.5, 0, 15), (2.7, 2.25, 0, 15), (4.0, 3.35, None, 16),
                      (6.0, 5.0, 1, 15), (8.5, 7.25, 2, 15)]),
    }
    start = {"J0": 1.5, "J1": 1.84, "Y0": 1.5, "Y1": 1.2}
    for name, (f, pieces) in layout.items():
        out, a = [], start[name]
        for b, c, iz, deg in pieces:
            c = mp.mpf(c)
            if iz is None:
                def g(t, f=f, c=c):
                    return f(c + t)
                zhi = zlo = None
            else:
                z = zeros[name][iz]
                zhi, zlo = split(z)

                def g(t, f=f, c=c, z=z):
                    return f(c + t) / (c + t - z)
            out.append((b, float(c), zhi, zlo, fit(g, a - c, b - c, deg, 0.03,
                                                   f"{name} on [{a}, {b}]")))
            a = b
        text(f"_{name}_PIECES", tuple(out))

    # the phase form: sqrt(x) M(x) = MOD(w) and alpha(x) = C0 / x + PHASE(w) / x**3 with
    # w = 1/x**2, where J = M cos(x - (2 nu + 1) pi / 4 + alpha) and Y = M sin(...); one fit
    # up to x = 16 (A), one above (B)
    for nu, x0 in ((0, 7.0), (1, 8.5)):
        c0 = mp.mpf(4 * nu * nu - 1) / 8

        def mod_phase(w, nu=nu):
            x = 1 / mp.sqrt(w)
            j, y = mp.besselj(nu, x), mp.bessely(nu, x)
            a = mp.atan2(y, j) - (x - (2 * nu + 1) * PI / 4)
            return mp.sqrt(x * (j * j + y * y)), a - 2 * PI * mp.nint(a / (2 * PI))

        def gm(w):
            return mp.sqrt(2 / PI) if w == 0 else mod_phase(w)[0]

        def gp(w, c0=c0, nu=nu):
            if w == 0:
                return mp.mpf((4 * nu * nu - 1) * (4 * nu * nu - 25)) / 384
            return (mod_phase(w)[1] / mp.sqrt(w) - c0) / w
        for part, w0, w1 in (("A", 1 / mp.mpf(x0) ** 2, mp.mpf(1) / 256),
                             ("B", mp.mpf(1) / 256, 0)):
            text(f"_MOD{nu}{part}", fit(gm, w1, w0, 6, 0.25, f"modulus {nu}{part}"))
            text(f"_PHASE{nu}{part}", fit(gp, w1, w0, 6, 100, f"phase {nu}{part}"))

    # sin(s) = s * SIN(s*s), |s| <= pi/2 + 0.05
    def gs(v):
        return mp.mpf(1) if v == 0 else mp.sin(mp.sqrt(v)) / mp.sqrt(v)
    text("_SIN", fit(gs, 0, (PI / 2 + mp.mpf("0.05")) ** 2, 6, 0.05, "sin"))

    # near 0: J0 = P(x*x), J1 = x P(x*x); Y0 = 2/pi J0 log(x/z) + (x*x - z*z) T(x*x), z Y0's
    # first zero;
    # Y1 = 2/pi J1 log(x) + R(x*x) / x
    text("_J1_W", fit(lambda w: mp.mpf(1) / 2 if w == 0 else f_j1(mp.sqrt(w)) / mp.sqrt(w),
                      0, mp.mpf(1.84) ** 2, 6, 0.03, "J1 / x"))
    text("_J0_W", fit(lambda w: f_j0(mp.sqrt(w)), 0, mp.mpf(1.5) ** 2, 6, 0.03, "J0"))
    z = zeros["Y0"][0]
    print(f"_Y0_Z1 = {split(z)}")

    def gt(w):
        if w == 0:
            return -2 / PI * (mp.euler + mp.log(z / 2)) / z ** 2
        if abs(w - z * z) < mp.mpf(10) ** -30:
            w = z * z + mp.mpf(10) ** -25
        x = mp.sqrt(w)
        return (f_y0(x) - 2 / PI * f_j0(x) * mp.log(x / z)) / (w - z * z)
    text("_Y0_T", fit(gt, 0, mp.mpf(1.5) ** 2, 6, 0.03, "Y0 T"))

    def gr(w):
        if w == 0:
            return -2 / PI
        x = mp.sqrt(w)
        return x * f_y1(x) - 2 / PI * x * f_j1(x) * mp.log(x)
    text("_Y1_R", fit(gr, 0, mp.mpf(1.2) ** 2, 6, 0.03, "Y1 R"))

    # zeros between the start of the phase form and 40: hi, lo, derivative there
    deriv = {"J0": lambda z: -f_j1(z), "J1": lambda z: f_j0(z) - f_j1(z) / z,
             "Y0": lambda z: -f_y1(z), "Y1": lambda z: f_y0(z) - f_y1(z) / z}
    for name in zeros:
        sel = [z for z in zeros[name] if (7.0 if name[1] == "0" else 8.5) < z < 40]
        text(f"_{name}_ZEROS", tuple((*split(z), float(deriv[name](z))) for z in sel))
