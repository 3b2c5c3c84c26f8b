"""The error-function family in pure NumPy: ``erf``, ``erfc``, ``erfcx``, ``erfinv``,
``erfcinv``, ``ndtr``, ``log_ndtr`` and ``ndtri`` for real arguments, with the names, dtypes,
special values and ``out=`` of their ``scipy.special`` counterparts, for hosts without SciPy.

float64 results are within 3 ulps of the exact values (tests/test_host_erf.py measures them
against mpmath and compares them with SciPy), tails included: ``erfc`` keeps its relative
accuracy down to its underflow near x = 27.2 (subnormal results included), ``erfcx`` does not
overflow for large x, ``ndtr`` and ``log_ndtr`` take exp(-x^2/2) from an exactly squared split
of x (SciPy's tails, which square a rounded x/sqrt 2, are off by tens of ulps there), and the
inverses keep their relative accuracy near 0, 1 and 2 and for subnormal arguments.

float32 ``erf`` (the inner function of the exact GELU) has a kernel in float32 arithmetic: at
most 1 ulp from the correctly rounded value (checked over every float32), and 2 to 3 times as
fast as ``scipy.special.erf`` on float32. The other functions compute float32 inputs in float64
and round once.

How: erf(x) = x + x P(x^2) for |x| < 1; erfcx from a table of 34 local polynomials of degree 11
on [-0.5, 8) and erfcx(x) = G(1/x^2)/x beyond; erfc(x) = exp(-x^2) erfcx(x) with x split as
hi + lo (hi*hi exact) so that the rounding of x^2 never enters exp. The inverses start from
Winitzki's closed form or a polynomial and take Halley steps with these functions (in log space
for erfc, so that tiny arguments neither underflow nor lose digits). The coefficients are
Chebyshev interpolants of 50-digit mpmath values, the float32 ones weighted minimax fits rounded
coefficient by coefficient; ``python -m tensorgrad.scipy._host_erf`` recomputes them all.
"""

import math

import numpy as np

from ._host_common import horner as _horner

NAMES = ("erf", "erfc", "erfcx", "erfinv", "erfcinv", "ndtr", "log_ndtr", "ndtri")

__all__ = ["NAMES", *NAMES]

_SQRT_PI = 1.7724538509055159
_TWO_OVER_SQRT_PI = 1.1283791670955126
_SQRT1_2 = 0.7071067811865476
_SQRT2 = 1.4142135623730951
_SQRT1_2_LO = -4.833646656726457e-17  # 1/sqrt(2) - _SQRT1_2
_BLOCK = 1 << 15  # elements per block: a block's temporaries stay in the cache

# erf(x) = x + x * P(x^2) for |x| < 1 (Chebyshev interpolant of erf(sqrt s)/sqrt s - 1 on
# s in [0, 1]; its error, the rounding of the coefficients included, is below 2e-17)
_ERF_P = (
    0.1283791670955126, -0.3761263890318375, 0.11283791670954879,
    -0.026866170645076792, 0.0052239776248180145, -0.000854832698083379,
    0.0001205533111164271, -1.4925595266831182e-05, 1.6461000484121368e-06,
    -1.6350312701054695e-07, 1.4659775274047436e-08, -1.1372848856791674e-09,
    5.957176147748911e-11,
)

# erfcx(x) on [-0.5, 8): per interval [a, a + 1/4), sum_j c_j t^j with t = x - (a + 1/8)
# (degree-11 Chebyshev interpolants on the interval widened by 1/256 each side)
_ERFCX_TABLE = (
    (  # [-0.5, -0.25)
        1.61612865628106, -2.3404756593063074, 2.493807028521362,
        -2.1837688633346173, 1.6563601758290516, -1.1219615716272209,
        0.6923653338787314, -0.3947424732717473, 0.21008929096879797,
        -0.10522496615769858, 0.05039924284411463, -0.022737348163737098,
    ),
    (  # [-0.25, 0)
        1.1582735720912207, -1.4179475601183178, 1.3355170171061277,
        -1.0565914581710922, 0.7337954746063087, -0.4593263569703831,
        0.26373711091783486, -0.1406552921127623, 0.07032729750555047,
        -0.03320936723218427, 0.015027205752476612, -0.006428430119455721,
    ),
    (  # [0, 0.25)
        0.8732218450821508, -0.9100737058249748, 0.7594626318540625,
        -0.5434272512288267, 0.3457671127016399, -0.2000825448464177,
        0.10691893759037525, -0.0533479103889411, 0.02506190892664187,
        -0.011158643644989627, 0.004771041210864914, -0.0019353844496759818,
    ),
    (  # [0.25, 0.5)
        0.6858572331012929, -0.6139862422695429, 0.4556123922502245,
        -0.2954210634504787, 0.1724147467209824, -0.09230621336840907,
        0.04593330740941185, -0.021451778880355585, 0.009472008980085512,
        -0.003977633767133677, 0.001607506991103388, -0.0006184659395530649,
    ),
    (  # [0.5, 0.75)
        0.5568138808733625, -0.43236181600380946, 0.2865877458709849,
        -0.16882964988963176, 0.09053460734267929, -0.04489820811882311,
        0.020824409680975493, -0.009109415183584806, 0.0037826876372439268,
        -0.001498908296414152, 0.0005728472912341565, -0.0002091001998750543,
    ),
    (  # [0.75, 1)
        0.464311583202669, -0.3158338964908418, 0.18795692377318352,
        -0.10091439212620516, 0.049828415330595816, -0.022925811484246748,
        0.009922776961242077, -0.004069537727551347, 0.0015904595756776818,
        -0.0005950736079517445, 0.0002151998476408372, -7.456112847347453e-05,
    ),
    (  # [1, 1.25)
        0.3956980795529959, -0.2380584881012718, 0.12788228043906552,
        -0.06279394840488248, 0.02861954424150765, -0.012238784453062935,
        0.0049503039821823, -0.0019056264660273535, 0.0007016102435099299,
        -0.00024806534099882684, 8.495183639226756e-05, -2.795463695898955e-05,
    ),
    (  # [1.25, 1.5)
        0.3432958898621254, -0.18431546997466777, 0.08986211864695733,
        -0.04050337122340115, 0.017084991607286062, -0.006804603105264981,
        0.0025762208059714113, -0.0009320855890124424, 0.0003236476707459045,
        -0.00010823591978498512, 3.513100929666632e-05, -1.0987160356185509e-05,
    ),
    (  # [1.5, 1.75)
        0.30226120936348594, -0.14603023666418335, 0.06496207478418804,
        -0.026977910093251928, 0.010561485441285991, -0.003926198500426832,
        0.0013938043031854282, -0.0004746475814649399, 0.0001556242784586973,
        -4.927880189641436e-05, 1.5174371225147265e-05, -4.514021993959648e-06,
    ),
    (  # [1.75, 2)
        0.2694299851646704, -0.11801672272799837, 0.04814863004967351,
        -0.018492027589907065, 0.006738039159282202, -0.0023432816664841773,
        0.0007814620158251717, -0.0002508686853929857, 7.77703104597239e-05,
        -2.334395985357941e-05, 6.82667693119068e-06, -1.9333011144288077e-06,
    ),
    (  # [2, 2.25)
        0.24267036461265454, -0.09703011749173075, 0.03648136494272671,
        -0.013004811325624343, 0.004423070437880401, -0.0014423146580435481,
        0.00045271726500000756, -0.0001372258501215724, 4.027787204016763e-05,
        -1.1474373002648151e-05, 3.190271515173886e-06, -8.609189110428975e-07,
    ),
    (  # [2.25, 2.5)
        0.22050569220490668, -0.08097712912220592, 0.028185010539667616,
        -0.009358486060330226, 0.002979303073188536, -0.0009130565045992403,
        0.00027026462572514085, -7.747943460040209e-05, 2.156264889110227e-05,
        -5.837293076164354e-06, 1.5448039159326622e-06, -3.9763234395570915e-07,
    ),
    (  # [2.5, 2.75)
        0.201887554546017, -0.06846950572892327, 0.02215510200759342,
        -0.006874908639327039, 0.00205423341467854, -0.0005930183703165109,
        0.00016585339789970484, -4.5043772027445494e-05, 1.1903331468348127e-05,
        -3.066082202955168e-06, 7.732528042954093e-07, -1.900418000610869e-07,
    ),
    (  # [2.75, 3)
        0.1860549346844711, -0.05856329265980373, 0.01768546828753539,
        -0.005145047555426323, 0.0014467282828416813, -0.00039428149690166664,
        0.00010438965992320329, -2.690320721655395e-05, 6.7607146667912245e-06,
        -1.659127610705628e-06, 3.9922127793281507e-07, -9.378150117497272e-08,
    ),
    (  # [3, 3.25)
        0.1724443521021736, -0.05060196645692752, 0.014313206924275094,
        -0.003915463212378573, 0.0010386921927956975, -0.00026782004395632485,
        6.725151856187126e-05, -1.6474013936701574e-05, 3.942546447312518e-06,
        -9.230035774960139e-07, 2.1215658581388915e-07, -4.7686873130668316e-08,
    ),
    (  # [3.25, 3.5)
        0.1606310681265444, -0.044119457241337846, 0.011727899937029176,
        -0.0030251966359095845, 0.000758930645416999, -0.00018552228305062816,
        4.426431341607638e-05, -1.0322921555761935e-05, 2.3561083739385074e-06,
        -5.268965777211489e-07, 1.1582954458198125e-07, -2.493824057062038e-08,
    ),
    (  # [3.5, 3.75)
        0.15028972247426936, -0.03877867915705971, 0.009717010529927907,
        -0.0023696773240473664, 0.0005634651151280165, -0.00013084651268318245,
        2.9715502238994973e-05, -6.607947760352884e-06, 1.4404203676085727e-06,
        -3.08091658640049e-07, 6.485319562859556e-08, -1.3388939495325719e-08,
    ),
    (  # [3.75, 4)
        0.1411674197630518, -0.034331663931861184, 0.0081322220270897,
        -0.001879535717925734, 0.00042451056006369503, -9.382291907148797e-05,
        2.0315582898771563e-05, -4.31429582607002e-06, 8.994203031763015e-07,
        -1.8423017794685052e-07, 3.717735702597311e-08, -7.367529328244348e-09,
    ),
    (  # [4, 4.25)
        0.13306497124120825, -0.03059315435554446, 0.006868209524587355,
        -0.0015078600444144153, 0.0003241434206889213, -6.830737362900134e-05,
        1.4125168162683424e-05, -2.8688728536492138e-06, 5.727661845643209e-07,
        -1.1249083215756165e-07, 2.1787126136984606e-08, -4.148831167585895e-09,
    ),
    (  # [4.25, 4.5)
        0.12582358819498807, -0.02742277038936697, 0.005848967741507582,
        -0.0012223576801808648, 0.00025057644535813565, -5.043429269558253e-05,
        9.97547160845171e-06, -1.9404584074064423e-06, 3.7149111691847994e-07,
        -7.004059765095938e-08, 1.3034210448230745e-08, -2.387474054054909e-09,
    ),
    (  # [4.5, 4.75)
        0.11931528862713332, -0.02471274729452929, 0.005018832389935356,
        -0.0010004316607188461, 0.00019591797955533874, -3.772440211014634e-05,
        7.147539933931237e-06, -1.333437121703096e-06, 2.450980839557924e-07,
        -4.441272334426379e-08, 7.95002088122086e-09, -1.4021235413297077e-09,
    ),
    (  # [4.75, 5)
        0.1134358772147405, -0.022379364251792787, 0.004336476487250648,
        -0.0008260275842972519, 0.00015479600690076838, -2.8558820262393063e-05,
        5.190586041666088e-06, -9.299180901275434e-07, 1.6430870668493973e-07,
        -2.8647201441565832e-08, 4.9377485400562445e-09, -8.393366797022152e-10,
    ),
    (  # [5, 5.25)
        0.10809973724654746, -0.020356860318401043, 0.0037708281147421233,
        -0.0006875774868984406, 0.00012349674719380513, -2.1862663012069995e-05,
        3.816866419648206e-06, -6.574921757599834e-07, 1.1180467741197591e-07,
        -1.8776167133410646e-08, 3.119499717300409e-09, -5.115580389934282e-10,
    ),
    (  # [5.25, 5.5)
        0.10323591747815693, -0.0185930542053256, 0.0032982511245318153,
        -0.0005766362739780628, 9.941557594986214e-05, -1.691102129901798e-05,
        2.8396121562791147e-06, -4.708874175366599e-07, 7.714802545105158e-08,
        -1.249255546356753e-08, 2.002584972757853e-09, -3.171063701666062e-10,
    ),
    (  # [5.5, 5.75)
        0.09878515717340754, -0.01704614889467775, 0.0029005696408452076,
        -0.00048696310994896994, 8.070107369112496e-05, -1.320782817455452e-05,
        2.135680069994932e-06, -3.4132222352209857e-07, 5.3935612466995326e-08,
        -8.429827940205797e-09, 1.3050748089262574e-09, -1.99729521701538e-10,
    ),
    (  # [5.75, 6)
        0.09469759959536303, -0.015682371849997035, 0.0025636649766304447,
        -0.00041389340819544796, 6.60206017410934e-05, -1.040894918660823e-05,
        1.6226750900737308e-06, -2.502094381099751e-07, 3.817364284064683e-08,
        -5.7642605518622754e-09, 8.626560990425721e-10, -1.2770664394676862e-10,
    ),
    (  # [6, 6.25)
        0.09093101671883685, -0.01447421228976114, 0.0022764664440498702,
        -0.00035390354663712383, 5.440361044874284e-05, -8.272573055428627e-06,
        1.2447001615086341e-06, -1.8536701908953057e-07, 2.733178143189613e-08,
        -3.991063049719367e-09, 5.778905853081344e-10, -8.2823529966741e-11,
    ),
    (  # [6.25, 6.5)
        0.0874494177846225, -0.013399090341575739, 0.0020302168570771567,
        -0.0003043052518059114, 4.513543840723544e-05, -6.626732783913549e-06,
        9.633389699890481e-07, -1.3869910018452338e-07, 1.9783044591877563e-08,
        -2.796031574684012e-09, 3.9204238805265964e-10, -5.4440765594684335e-11,
    ),
    (  # [6.5, 6.75)
        0.08422194904914018, -0.012438342194405214, 0.001817932011205636,
        -0.0002630284134452501, 3.768438606542688e-05, -5.34774230471838e-06,
        7.518644322614105e-07, -1.0475441178916548e-07, 1.4466609027765782e-08,
        -1.980687644974935e-09, 2.6915203039128113e-10, -3.6241841413640227e-11,
    ),
    (  # [6.75, 7)
        0.081222016591888, -0.011576438957052513, 0.0016339987621519715,
        -0.00022846497817180668, 3.1651018610400167e-05, -4.345690090121928e-06,
        5.914664136293977e-07, -7.981671331601865e-08, 1.0681624444338683e-08,
        -1.417894058952565e-09, 1.8687842477075175e-10, -2.4418516840159736e-11,
    ),
    (  # [7, 7.25)
        0.07842658154261602, -0.010800380113234368, 0.0014738732358211464,
        -0.00019935553867246594, 2.673251138991319e-05, -3.5545580077335954e-06,
        4.6876186162060775e-07, -6.132278394687557e-08, 7.959254546009467e-09,
        -1.02512895280442e-09, 1.3114666676192814e-10, -1.6640988900548304e-11,
    ),
    (  # [7.25, 7.5)
        0.07581558972469768, -0.01009921865622184, 0.0013338521350615962,
        -0.00017470610676171324, 2.2697298846980416e-05, -2.9254111060929354e-06,
        3.741306465262794e-07, -4.748502515701694e-08, 5.982145189887693e-09,
        -7.481542259158131e-10, 9.297154817400775e-11, -1.1464005361668704e-11,
    ),
    (  # [7.5, 7.75)
        0.07337150692917299, -0.009463686425624349, 0.0012108979337873366,
        -0.00015372645366393863, 1.936686229990217e-05, -2.421651450873741e-06,
        3.0058999567093136e-07, -3.704363826978467e-08, 4.533062580083481e-09,
        -5.508953045846271e-10, 6.654456544440735e-11, -7.979117492123868e-12,
    ),
    (  # [7.75, 8)
        0.07107893782589438, -0.008885896337676107, 0.0011025041666950371,
        -0.00013578401663512612, 1.6602517846709468e-05, -2.0156754369155552e-06,
        2.4302459367171163e-07, -2.9101931941157137e-08, 3.4617193027323874e-09,
        -4.0908607681426007e-10, 4.806570921773451e-11, -5.608081026049837e-12,
    ),
)

# the rounding errors of the c_0 above (c_0 + lo is the interpolant's value to ~1e-33)
_ERFCX_C0_LO = (
    -1.751382648814764e-17, -6.845098750103788e-17, -3.634826415655603e-17,
    -1.0426937356850734e-17, 2.7458874420018387e-17, -1.8776327596233748e-17,
    -5.869264936447168e-18, -1.1958343377253729e-17, -2.1313665078114468e-17,
    2.4829097752256844e-17, 8.857149915661154e-18, -1.3462257740751375e-17,
    3.289886033095361e-18, 7.766456361762651e-18, 9.75371528036082e-18,
    2.4080202428804405e-18, -1.3718481589920386e-19, -1.2534209468637352e-17,
    4.184678496375025e-18, 1.731144824414675e-18, 4.9083820458991e-18,
    -2.839959491994166e-18, 2.172499160634316e-18, 3.864998476603266e-19,
    3.312817517962483e-18, -5.469015568661366e-18, -2.7937538401441005e-18,
    3.3149485168104223e-18, -4.2065284309737085e-18, -5.675972668819583e-19,
    -2.2854262275413778e-18, -2.7645876494445446e-18, 6.796715153741025e-18,
    3.378506474300072e-18,
)

# erfcx(x) = G(1/x^2) / x for x >= 8: G(v) = x erfcx(x), v = 1/x^2 in [0, 1/64]
_ERFCX_G = (
    0.5641895835477563, -0.282094791773878, 0.42314218766036377,
    -1.0578554687033188, 3.702493913465609, -16.661155389299854,
    91.6239357352197, -594.0813237543852, 4343.1378964334335,
    -31586.881568790883, 157308.91475341172,
)

# float32 erf (see _erf32_kernel): P(s) for erf(t) = t + t P(t^2) on [0, T], and Q(w) for
# log2(erfc(T + w) / C) = w Q(w) on w in [0, 3.1]; weighted minimax fits whose float32
# coefficients were rounded one at a time, the later ones refitted to the rounded earlier ones
_ERF32_A = (
    0.12837916612625122, -0.3761260509490967, 0.11283092200756073,
    -0.02681782655417919, 0.005076895002275705, -0.0006468793144449592,
)
_ERF32_B = (
    -3.3888843059539795, -1.182204008102417, -0.07088173180818558,
    0.01695290394127369, -0.003060078015550971, 0.00029771620756946504,
)

_ERFCX_COEFS = np.array(_ERFCX_TABLE).T.copy()  # row j: the t**j coefficient of each interval
_ERFCX_LO = np.array(_ERFCX_C0_LO)
_ERFCX_MID = -0.375 + 0.25 * np.arange(len(_ERFCX_TABLE))
_G0_HI, _G0_LO = _ERFCX_G[0], 7.66772980658294e-18  # G(0) = 1/sqrt(pi) = hi + lo

# exp(-(hi + lo)^2) = exp(-hi^2) exp(-lo (x + hi)): hi keeps 26 significant bits, so hi^2 is exact
_HI_MASK = np.uint64(0xFFFFFFFFF8000000)
_S_HI = float((np.array([_SQRT1_2]).view(np.uint64) & _HI_MASK).view(np.float64)[0])
_S_LO = _SQRT1_2 - _S_HI  # exact: _SQRT1_2 = _S_HI + _S_LO, both halves of <= 27 bits


def _piecewise(x, pieces, *extra, fill=np.nan):
    """f(x[mask], *(e[mask] for e in extra)) for each (mask, f) of pieces (disjoint masks);
    elements that no mask claims (NaN, out of the domain) get `fill`."""
    out = None
    for mask, f in pieces:
        count = np.count_nonzero(mask)
        if count == 0:
            continue
        if count == x.size:
            return f(x, *extra)
        if out is None:
            out = np.full_like(x, fill)
        idx = np.flatnonzero(mask)
        out[idx] = f(x[idx], *(e[idx] for e in extra))
    return np.full_like(x, fill) if out is None else out


def _exp_sq_parts(a, sign):
    """(big, d) with exp(sign * a^2) = big * (1 + d), free of the rounding of a^2 (sign = +-1
    or +-0.5): big = exp(sign hi^2) with hi^2 exact, d = expm1(sign lo (a + hi)) with
    |d| <= 2^-24 a^2. Fold 1 + d into the other factor first, then multiply by big (which may be
    subnormal or overflow)."""
    hi = (a.view(np.uint64) & _HI_MASK).view(np.float64)
    return np.exp(sign * (hi * hi)), np.expm1(sign * ((a - hi) * (a + hi)))


def _erf_small(x):
    """erf(x) for |x| < 1."""
    return x + x * _horner(_ERF_P, x * x)


def _erfc_mid(x):
    """erfc(x) for -0.5 <= x < 0.5, without cancellation (x - 0.5 is exact for x >= 0.25)."""
    xp = x * _horner(_ERF_P, x * x)
    return np.where(x < 0.25, 1.0 - (x + xp), 0.5 - ((x - 0.5) + xp))


def _erfcx_table(x, d=None, xl=None):
    """erfcx(x + xl) (times 1 + d, in the same final rounding) for -0.5 <= x < 8, |xl| tiny."""
    k = ((x + 0.5) * 4.0).astype(np.intp)  # take(mode="clip") keeps k in [0, 33]
    t = x - _ERFCX_MID.take(k, mode="clip")
    if xl is not None:
        t += xl
    rows = _ERFCX_COEFS
    r = rows[-1].take(k, mode="clip")
    for j in range(len(rows) - 2, 0, -1):
        r *= t
        r += rows[j].take(k, mode="clip")
    r *= t
    r += _ERFCX_LO.take(k, mode="clip")  # c_0 = hi + lo; everything but hi is small
    hi = rows[0].take(k, mode="clip")
    if d is not None:
        r += (hi + r) * d
    r += hi
    return r


def _erfcx_asymptotic(x, d=None, xl=None):
    """erfcx(x + xl) (times 1 + d) for x >= 8 (+inf included), |xl| tiny."""
    if xl is not None:  # erfcx(x + xl) = erfcx(x) (1 - xl/x + O(xl/x^3))
        d = -xl / x if d is None else d - xl / x
    v = 1.0 / (x * x)
    r = _horner(_ERFCX_G[1:], v)
    r *= v
    r += _G0_LO
    if d is not None:
        r += (_G0_HI + r) * d
    r += _G0_HI
    return r / x


def _erfcx_right(x, d=None, xl=None):
    """erfcx(x + xl) (times 1 + d) for x >= -0.5, d and xl optional."""
    keys = [k for k, v in (("d", d), ("xl", xl)) if v is not None]
    extra = [v for v in (d, xl) if v is not None]

    def piece(f):
        return lambda xs, *ex: f(xs, **dict(zip(keys, ex)))

    return _piecewise(x, [(x < 8.0, piece(_erfcx_table)),
                          (x >= 8.0, piece(_erfcx_asymptotic))], *extra)


def _erfc_right(a):
    """erfc(a) for a >= 0.5 (+inf included): exp(-a^2) erfcx(a), relative accuracy kept down
    to the underflow (subnormal results near a = 27)."""
    a = np.minimum(a, 28.0)  # erfc(28) is 0 in float64; and inf stays out of the split
    big, d = _exp_sq_parts(a, -1.0)
    return big * _erfcx_right(a, d)


def _erf64(x):
    def tail(v):  # 1 <= |v| (or NaN): 1 - erfc, where erfc needs only an absolute 1e-17, so
        # exp(-a^2) may take the rounded a^2; erfc(6) < 2^-55 rounds 1 - erfc to 1 from there on
        a = np.minimum(np.abs(v), 6.0)
        return np.copysign(1.0 - np.exp(-a * a) * _erfcx_table(a), v)

    small = np.abs(x) < 1.0
    return _piecewise(x, [(small, _erf_small), (~small, tail)])


def _erfc64(x):
    return _piecewise(x, [(x < -0.5, lambda v: 2.0 - _erfc_right(-v)),
                          ((x >= -0.5) & (x < 0.5), _erfc_mid),
                          (x >= 0.5, _erfc_right)])


def _erfcx_left(x):
    """erfcx(x) = 2 exp(x^2) - erfcx(-x) for x < -0.5; inf from x ~ -26.63 on."""
    a = np.minimum(-x, 27.0)  # 2 exp(27^2) overflows already; and inf stays out of the split
    big, d = _exp_sq_parts(a, 1.0)
    big *= 2.0
    return (big - _erfcx_right(a)) + np.where(d == 0.0, 0.0, big * d)  # no inf * 0


def _erfcx64(x):
    return _piecewise(x, [(x < -0.5, _erfcx_left), (x >= -0.5, _erfcx_right)])


def _ndtr_lower(a):
    """ndtr(-a) = erfc(a / sqrt 2) / 2 for a >= 0 (+inf included). In the tail exp(-a^2 / 2)
    comes from a itself, and erfcx from a / sqrt 2 as an unevaluated sum zh + zl (the rounding
    of z, which erfc's steepness would multiply by 2 z^2, is carried along)."""
    def center(v):
        return 0.5 * _erfc_mid(v * _SQRT1_2)

    def tail(v):
        v = np.minimum(v, 40.0)  # ndtr(-40) is 0 in float64; and inf stays out of the split
        big, d = _exp_sq_parts(v, -0.5)
        zh = v * _SQRT1_2
        vh = (v.view(np.uint64) & _HI_MASK).view(np.float64)
        vl = v - vh  # Dekker: v * _SQRT1_2 - zh exactly, plus v * (1/sqrt 2 - _SQRT1_2)
        zl = (((vh * _S_HI - zh) + vh * _S_LO) + vl * _S_HI) + vl * _S_LO + v * _SQRT1_2_LO
        return big * (0.5 * _erfcx_right(zh, d, zl))

    z = a * _SQRT1_2
    return _piecewise(a, [(z < 0.5, center), (z >= 0.5, tail)])


def _ndtr64(x):
    def upper(v):  # v > 0 (or NaN): 1 - erfc(z)/2 needs erfc(z) only to an absolute 1e-17
        z = np.minimum(v * _SQRT1_2, 6.0)
        return np.where(z < 0.5, 0.5 + 0.5 * _erf_small(z),
                        1.0 - 0.5 * (np.exp(-z * z) * _erfcx_table(z)))

    lower = x <= 0.0
    return _piecewise(x, [(lower, lambda v: _ndtr_lower(-v)), (~lower, upper)])


def _log_ndtr64(x):
    def far_left(v):  # log(erfc(z) / 2) = log(erfcx(z) / 2) - z^2, z = -v / sqrt 2 >= 0.5
        a = -v
        return np.log(0.5 * _erfcx_right(a * _SQRT1_2)) - (0.5 * a) * a

    z = x * _SQRT1_2
    return _piecewise(x, [(z <= -0.5, far_left),
                          ((z > -0.5) & (x <= 0.0), lambda v: np.log(_ndtr_lower(-v))),
                          (x > 0.0, lambda v: np.log1p(-_ndtr_lower(v)))])


# erfinv(a) = a R(a^2) on [0, 0.5] to a relative 3e-9: R(0) = sqrt(pi)/2, the rest a Chebyshev
# interpolant of (R(s) - R(0))/s of degree 5
_ERFINV_R = (
    0.886226925452758, 0.2320136576201299, 0.1275587348515986, 0.08643456812444685,
    0.06690107094896504, 0.037662839154169576, 0.08657392341381973,
)


def _erfinv_small(a):
    """The x >= 0 with erf(x) = a, for 0 <= a <= 0.5: a R(a^2), then one Halley step (which
    cubes the relative error)."""
    x = a * _horner(_ERFINV_R, a * a)
    u = (_erf_small(x) - a) / (_TWO_OVER_SQRT_PI * np.exp(-x * x))  # f / f'
    x -= u / (1.0 + x * u)  # f'' / f' = -2x
    return x


def _erfcinv_tail(q):
    """The x > 0 with erfc(x) = q, for 0 < q < 0.5 (subnormal q included): Winitzki's
    approximation (relative error < 2e-3), then Halley steps on g(x) = log(erfc(x) / q)
    = log erfcx(x) - x^2 - log q, which is nearly quadratic in x and never underflows."""
    minus_log_q = -np.log(q)
    w = minus_log_q - np.log(2.0 - q)  # -log(1 - y^2), y = 1 - q
    b = 2.0 / (math.pi * 0.147) - 0.5 * w
    x = np.sqrt(np.sqrt(b * b + w / 0.147) - b)
    for _ in range(2):  # from 2e-3: 1e-9, then the rounding level
        e = _erfcx_right(x)
        hi = (x.view(np.uint64) & _HI_MASK).view(np.float64)
        g = np.log(e) + ((minus_log_q - hi * hi) - (x - hi) * (x + hi))
        h = (0.5 * _SQRT_PI) * e  # -1 / g'
        x += g * h / (1.0 - g * (x * h - 0.5))  # Halley: g'' / g' = 2x - 1/h
    return x


def _signed_erfinv_small(y):
    return np.copysign(_erfinv_small(np.abs(y)), y) + 0.0  # + 0.0: erfinv(-0.0) = +0.0, as SciPy


def _erfinv64(y):
    a = np.abs(y)
    return _piecewise(y, [
        (a <= 0.5, _signed_erfinv_small),
        ((a > 0.5) & (a < 1.0), lambda v: np.copysign(_erfcinv_tail(1.0 - np.abs(v)), v)),
        (a == 1.0, lambda v: np.copysign(np.inf, v))])


def _erfcinv64(z):
    # 1 - z is exact on [0.5, 2] and 2 - z on [1, 2] (Sterbenz)
    return _piecewise(z, [
        ((z > 0.0) & (z < 0.5), _erfcinv_tail),
        ((z >= 0.5) & (z <= 1.5), lambda v: -_signed_erfinv_small(v - 1.0)),  # erfcinv(1) = -0.0
        ((z > 1.5) & (z < 2.0), lambda v: -_erfcinv_tail(2.0 - v)),
        (z == 0.0, lambda v: np.full_like(v, np.inf)),
        (z == 2.0, lambda v: np.full_like(v, -np.inf))])


def _ndtri64(p):
    return -_SQRT2 * _erfcinv64(2.0 * p) + 0.0  # 2p is exact; + 0.0: ndtri(0.5) = +0.0


# ---------------------------------------------------------------------------------------------
# float32 erf in float32 arithmetic. With t = |x|, tA = min(t, T) and w = min(t - tA, W):
#     erf(t) = A + (C - C 2^q),  A = tA + tA P(tA^2),  q = w Q(w)
# For t <= T: w = 0, so 2^q = 1 exactly and erf = A (the series form: relative accuracy near 0).
# For t > T: A = A(T) = 1 - C exactly, so erf = 1 - erfc with erfc = C 2^q, q = log2(erfc(t)/C).
# T is a float32 whose erf lies within 4e-7 ulp of a float32 (1 - C), so the two branches meet
# without a step; erfc(T) < 1/4 keeps exp2's rounding below 1/4 ulp of the result. W stops the
# polynomial q at t = T + W = 3.926, past t = 3.9192 where erf(t) rounds to 1 (beyond W, q would
# turn up again). P and Q run as one stacked Horner pass, in blocks that stay in the cache.
_F32_T = np.float32(0.8256548643112183)
_F32_C = np.float32(0.2429470419883728)
_F32_W = np.float32(3.1)
_F32_COEFS = tuple(np.array([[a], [b]], dtype=np.float32) for a, b in zip(_ERF32_A, _ERF32_B))
_F32_SIGN = np.uint32(0x80000000)
_F32_BLOCK = 1 << 15


def _erf32_kernel(flat, out):
    """erf of the contiguous 1-D float32 array flat into out."""
    f32, u32 = np.float32, np.uint32
    mul, add = np.multiply, np.add
    c = _F32_COEFS
    n = flat.size
    if n == 0:
        return out
    m = min(_F32_BLOCK, n)
    buf = np.empty((3, m), f32)  # rows: tA, s = tA^2, w
    acc = np.empty((2, m), f32)  # rows: P(s) -> A, Q(w) -> 2^q -> C - C 2^q
    t = np.empty(m, f32)
    sign = np.empty(m, u32)
    for i in range(0, n, m):
        x = flat[i:i + m]
        k = x.size
        if k != m:
            buf, acc, t, sign = buf[:, :k], acc[:, :k], t[:k], sign[:k]
        np.bitwise_and(x.view(u32), _F32_SIGN, out=sign)
        np.bitwise_xor(x.view(u32), sign, out=t.view(u32))  # t = |x|
        ta, s, w = buf
        np.minimum(t, _F32_T, out=ta)
        mul(ta, ta, out=s)
        np.subtract(t, ta, out=w)
        np.minimum(w, _F32_W, out=w)
        v = buf[1:]  # (s, w)
        mul(v, c[5], out=acc)
        add(acc, c[4], out=acc)
        for j in (3, 2, 1, 0):
            mul(acc, v, out=acc)
            add(acc, c[j], out=acc)
        mul(acc, buf[::2], out=acc)  # (tA P(s), q = w Q(w))
        p, q = acc
        add(p, ta, out=p)
        np.exp2(q, out=q)
        mul(q, -_F32_C, out=q)
        add(q, _F32_C, out=q)
        o = out[i:i + k]
        add(p, q, out=o)
        np.bitwise_or(o.view(u32), sign, out=o.view(u32))
    return out


_erf32_checked = None


def _erf32_trusted():
    """Whether the float32 kernel is within 1 ulp of erf on this platform (its accuracy leans on
    np.exp2 being within about 1 ulp, and on exp2(0) == 1): checked once against the float64
    path on a sample dense around T and spread over the rest of the range."""
    global _erf32_checked
    if _erf32_checked is None:
        x = np.concatenate([
            np.linspace(0.0, 4.2, 6000, dtype=np.float32),
            (np.arange(-500, 500) + int(_F32_T.view(np.uint32))).astype(np.uint32).view(np.float32),
            np.float32(2.0) ** np.arange(-149, 0, dtype=np.float32)])
        x = np.concatenate([x, -x])
        with np.errstate(all="ignore"):
            got = _erf32_kernel(x, np.empty_like(x)).astype(np.float64)
            want = _erf64(x.astype(np.float64))
        cr = want.astype(np.float32)
        ulp = np.spacing(np.abs(cr)).astype(np.float64)
        _erf32_checked = bool(np.all(np.abs(got - cr.astype(np.float64)) <= ulp))
    return _erf32_checked


def _erf32(x):
    flat = np.ascontiguousarray(x).reshape(-1)
    if _erf32_trusted():
        out = _erf32_kernel(flat, np.empty_like(flat))
    else:
        out = _blockwise(_erf64, flat.astype(np.float64)).astype(np.float32)
    return out.reshape(x.shape)


# ---------------------------------------------------------------------------------------------
# The public functions: scipy.special's dtypes (float32 in, float32 out; the inverses also take
# float16, bool and small integers to float32, as SciPy's loop order does; the rest to float64),
# NumPy scalars for scalar arguments, and an optional out=.

def _blockwise(core, flat):
    n = flat.size
    if n <= _BLOCK:
        return core(flat)
    out = np.empty(n)
    for i in range(0, n, _BLOCK):
        out[i:i + _BLOCK] = core(flat[i:i + _BLOCK])
    return out


def _apply(name, core, x, out, single_first=False, fast32=None):
    arr = np.asarray(x)
    dt = arr.dtype
    if dt.kind == "c":
        raise TypeError(f"{name}: complex arguments need SciPy (pip install 'tensorgrad[scipy]')")
    if dt.kind not in "biuf" or (dt.kind == "f" and dt.itemsize > 8):
        raise TypeError(f"{name}: float32/float64 (or integer, bool) arguments only, not {dt} "
                        "(as scipy.special)")
    single = dt == np.float32 or (single_first and np.can_cast(dt, np.float32))
    with np.errstate(all="ignore"):
        if single and fast32 is not None:
            res = fast32(arr)
        else:
            flat = np.ascontiguousarray(arr, dtype=np.float64).reshape(-1)
            res = _blockwise(core, flat).reshape(arr.shape)
            if single:
                res = res.astype(np.float32)
    if out is not None:
        if isinstance(out, tuple):
            (out,) = out
        np.copyto(out, res, casting="same_kind")
        return out
    return res[()] if res.ndim == 0 else res


def erf(x, out=None):
    """The error function, 2/sqrt(pi) * integral from 0 to x of exp(-t^2) dt."""
    return _apply("erf", _erf64, x, out, fast32=_erf32)


def erfc(x, out=None):
    """The complementary error function, 1 - erf(x), with relative accuracy for large x."""
    return _apply("erfc", _erfc64, x, out)


def erfcx(x, out=None):
    """The scaled complementary error function, exp(x^2) * erfc(x): ~1/(x sqrt(pi)) for large
    x, no overflow; inf for x below about -26.63, where the value exceeds the float64 range."""
    return _apply("erfcx", _erfcx64, x, out)


def erfinv(y, out=None):
    """The inverse of erf: erf(erfinv(y)) = y on [-1, 1]; +-inf at +-1, nan outside."""
    return _apply("erfinv", _erfinv64, y, out, single_first=True)


def erfcinv(y, out=None):
    """The inverse of erfc on [0, 2]: inf at 0, -inf at 2, nan outside; accurate for tiny y
    (subnormals included)."""
    return _apply("erfcinv", _erfcinv64, y, out, single_first=True)


def ndtr(x, out=None):
    """The standard normal CDF, (1 + erf(x / sqrt 2)) / 2."""
    return _apply("ndtr", _ndtr64, x, out)


def log_ndtr(x, out=None):
    """log(ndtr(x)), accurate far in the left tail (about -x^2/2 there) and, for large x, equal
    to -ndtr(-x) to full relative precision."""
    return _apply("log_ndtr", _log_ndtr64, x, out)


def ndtri(y, out=None):
    """The standard normal quantile, the inverse of ndtr: -inf at 0, inf at 1, nan outside
    [0, 1]; accurate for tiny y."""
    return _apply("ndtri", _ndtri64, y, out, single_first=True)


# ---------------------------------------------------------------------------------------------
# Where the constants come from: `python -m tensorgrad.scipy._host_erf` recomputes every table
# above with mpmath (a dev dependency) and prints it next to the one in use.

def _chebyshev_monomial(f, a, b, deg, center):
    """The degree-deg Chebyshev interpolant of f on [a, b] (at the Chebyshev points of the first
    kind), as mpf coefficients of (x - center)^j."""
    import mpmath as mp

    n, mid, half = deg + 1, (a + b) / 2, (b - a) / 2
    nodes = [mp.cos(mp.pi * (k + 0.5) / n) for k in range(n)]
    vals = [f(mid + half * u) for u in nodes]
    cheb = [mp.fsum(v * mp.cos(mp.pi * j * (k + 0.5) / n) for k, v in enumerate(vals))
            * (1 if j == 0 else 2) / n for j in range(n)]
    # sum_j cheb_j T_j(u), u = (x - mid)/half = (t + center - mid)/half: expand in powers of t
    mono = [mp.mpf(0)] * n
    tj, tj1 = [mp.mpf(1)], [(center - mid) / half, 1 / half]  # T_0, T_1 as polynomials in t
    for j in range(n):
        poly = tj if j == 0 else tj1
        for i, c in enumerate(poly):
            mono[i] += cheb[j] * c
        if j >= 1:  # T_{j+1} = 2 u T_j - T_{j-1}
            u_tj = [mp.mpf(0)] + [c / half for c in tj1]
            for i, c in enumerate(tj1):
                u_tj[i] += c * (center - mid) / half
            tj, tj1 = tj1, [2 * c - (tj[i] if i < len(tj) else 0) for i, c in enumerate(u_tj)]
    return mono


def _lawson_fit(basis, f, weight, iters=200):
    """Weighted minimax fit (Lawson's iteratively reweighted least squares) of f by the
    columns of basis; the coefficients are rounded to float32 one at a time, lowest order
    first, the rest refitted to the rounded ones."""
    coefs, resid = [], f.copy()
    for k in range(basis.shape[1]):
        lam, best = np.full(len(f), 1.0 / len(f)), None
        for _ in range(iters):
            sw = np.sqrt(lam) * weight
            c = np.linalg.lstsq(basis[:, k:] * sw[:, None], resid * sw, rcond=None)[0]
            err = np.abs(weight * (basis[:, k:] @ c - resid))
            if best is None or err.max() < best[1]:
                best = (c, err.max())
            lam = lam * err / np.sum(lam * err)
        coefs.append(float(np.float32(best[0][0])))
        resid = resid - coefs[-1] * basis[:, k]
    return coefs


def _fit_tables():
    import mpmath as mp

    mp.mp.dps = 50
    erfcx = lambda x: mp.exp(x * x) * mp.erfc(x)
    tables = {}
    # erf(x) = x + x P(x^2), |x| < 1
    r = lambda s: 2 / mp.sqrt(mp.pi) - 1 if s == 0 else mp.erf(mp.sqrt(s)) / mp.sqrt(s) - 1
    tables["_ERF_P"] = [float(c) for c in _chebyshev_monomial(r, mp.mpf(0), mp.mpf(1), 12, 0)]
    # erfcx on [-0.5, 8): 34 intervals of width 1/4, each widened by 1/256 on both sides
    rows, los = [], []
    for k in range(34):
        a = mp.mpf(-0.5) + mp.mpf(k) / 4
        c = _chebyshev_monomial(erfcx, a - mp.mpf(1) / 256, a + mp.mpf(1) / 4 + mp.mpf(1) / 256,
                                11, a + mp.mpf(1) / 8)
        rows.append([float(v) for v in c])
        los.append(float(c[0] - float(c[0])))
    tables["_ERFCX_TABLE"], tables["_ERFCX_C0_LO"] = rows, los
    # erfcx(x) = G(1/x^2)/x, x >= 8
    g = lambda v: 1 / mp.sqrt(mp.pi) if v == 0 else erfcx(1 / mp.sqrt(v)) / mp.sqrt(v)
    b = mp.mpf(1) / 64 * (1 + mp.mpf(1) / 64)
    tables["_ERFCX_G"] = [float(c) for c in _chebyshev_monomial(g, mp.mpf(0), b, 10, 0)]
    tables["_G0_LO"] = float(1 / mp.sqrt(mp.pi) - tables["_ERFCX_G"][0])
    # erfinv(a) = a R(a^2), a <= 0.5: R(0) = sqrt(pi)/2, then (R(s) - R(0))/s
    r0 = mp.sqrt(mp.pi) / 2
    rr = lambda s: r0 * mp.pi / 12 if s == 0 else (mp.erfinv(mp.sqrt(s)) / mp.sqrt(s) - r0) / s
    tables["_ERFINV_R"] = [float(r0)] + [
        float(c) for c in _chebyshev_monomial(rr, mp.mpf(0), mp.mpf(1) / 4, 5, 0)]
    # float32 erf: T, the float32 near erfinv(3/4) above it whose erf is nearest a float32
    t = np.arange(np.float32(0.8135).view(np.int32), np.float32(0.84).view(np.int32),
                  dtype=np.int32).view(np.float32).astype(np.float64)
    e = np.array([math.erf(v) for v in t])
    i = np.argmin(np.abs(e - e.astype(np.float32)))
    tables["_F32_T"], tables["_F32_C"] = t[i], float(1 - np.float32(e[i]))
    mp.mp.dps = 20
    ts = np.linspace(1e-4, t[i], 20000)
    erf_ts = np.array([float(mp.erf(v)) for v in ts])
    ulp = np.spacing(erf_ts.astype(np.float32)).astype(np.float64)
    tables["_ERF32_A"] = _lawson_fit(np.stack([ts ** (2 * k) for k in range(6)], 1),
                                     erf_ts / ts - 1, ts / ulp)
    tb = np.linspace(t[i], 3.92, 20000)
    erfc_tb = np.array([float(mp.erfc(v)) for v in tb])
    w = tb - t[i]
    tables["_ERF32_B"] = _lawson_fit(np.stack([w ** (k + 1) for k in range(6)], 1),
                                     np.log2(erfc_tb / tables["_F32_C"]),
                                     erfc_tb * math.log(2) * 2.0 ** 24)
    return tables


if __name__ == "__main__":
    for name, value in _fit_tables().items():
        value = np.asarray(value, dtype=np.float64)
        same = np.array_equal(value, np.asarray(globals()[name], dtype=np.float64))
        print(f"{name} ({'as in use' if same else 'DIFFERS from the one in use'}):")
        print(value.tolist())
