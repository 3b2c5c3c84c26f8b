"""tensorgrad/scipy/_host_erf.py: the NumPy error-function family (erf, erfc, erfcx, erfinv,
erfcinv, ndtr, log_ndtr, ndtri) against mpmath (float64 accuracy in ulps, over every sub-range
the implementation uses and across its boundaries), against scipy.special (values on random
arrays, special points, dtypes, shapes), and its float32 erf kernel against the correctly
rounded erf on two million float32 values."""

import math
import warnings

import numpy as np
import pytest

from tensorgrad.scipy import _host_erf as he

mp = pytest.importorskip("mpmath")
sp = pytest.importorskip("scipy.special")

TINY = 2.0 ** -1074  # the smallest subnormal: the ulp of every subnormal


def _ulp(v):
    v = abs(float(v))
    return TINY if v < 2.0 ** -1022 else float(np.spacing(v))


def _ulp_errors(got, exact):
    """|got - exact| in ulps of the exact value (exact: mpf values; +-inf compared exactly)."""
    err = []
    for g, e in zip(np.asarray(got, dtype=np.float64).ravel(), exact):
        if mp.isinf(e):
            err.append(0.0 if g == float(e) else np.inf)
        else:
            err.append(float(abs(mp.mpf(float(g)) - e) / _ulp(e)))
    return np.array(err)


def _inverse_errors(x, y, f, fprime):
    """Errors in ulps of x = f^-1(y): the Newton correction (f(x) - y) / f'(x) at the exact
    float64 x, in ulps of x (first order is plenty: the corrections are a few ulps)."""
    err = []
    for xi, yi in zip(x, y):
        xm = mp.mpf(float(xi))
        err.append(float(abs((f(xm) - mp.mpf(float(yi))) / fprime(xm))) / _ulp(xi))
    return np.array(err)


def _logspace(lo, hi, n, seed):
    rng = np.random.default_rng(seed)
    return np.exp(rng.uniform(math.log(lo), math.log(hi), n))


def _around(points, k=3):
    """Each point and its k float64 neighbours on either side (the sub-range boundaries)."""
    out = []
    for p in points:
        v = float(p)
        out.append(v)
        lo = hi = v
        for _ in range(k):
            lo, hi = np.nextafter(lo, -np.inf), np.nextafter(hi, np.inf)
            out += [float(lo), float(hi)]
    return np.array(out)


def _erfcx_mp(x):
    return mp.exp(x * x) * mp.erfc(x)


def _log_ndtr_mp(x):
    return mp.log(mp.ncdf(x)) if x <= 0 else mp.log1p(-mp.ncdf(-x))


_TABLE_EDGES = -0.5 + 0.25 * np.arange(35)  # the erfcx table's intervals

# arguments per function: every sub-range of the implementation, both signs, the boundaries
_FORWARD = {
    "erf": (lambda x: mp.erf(x), 1.5, lambda r: np.concatenate([
        _logspace(1e-310, 1.0, 1000, r) * r.choice([-1, 1], 1000),  # x + x P(x^2)
        r.uniform(-6.5, 6.5, 1500),  # 1 - erfc
        _around([-6.0, -1.0, 1.0, 6.0]),
    ])),
    "erfc": (lambda x: mp.erfc(x), 3.0, lambda r: np.concatenate([
        r.uniform(-7.0, -0.5, 300),  # 2 - erfc(-x)
        r.uniform(-0.5, 0.5, 300),  # 1 - erf, 0.5 - ((x - 0.5) + x P)
        r.uniform(0.5, 8.0, 1200),  # exp(-x^2) erfcx, the table
        r.uniform(8.0, 26.5, 300),  # exp(-x^2) erfcx, the asymptotic form
        r.uniform(26.5, 27.3, 300),  # subnormal results
        _around(np.concatenate([_TABLE_EDGES, [-6.0, 0.25, 27.0]])),
    ])),
    "erfcx": (_erfcx_mp, 3.0, lambda r: np.concatenate([
        r.uniform(-26.6, -0.5, 800),  # 2 exp(x^2) - erfcx(-x)
        r.uniform(-0.5, 8.0, 1200),  # the table
        _logspace(8.0, 1e8, 300, r),  # G(1/x^2)/x
        _around(_TABLE_EDGES),
    ])),
    "ndtr": (lambda x: mp.ncdf(x), 3.0, lambda r: np.concatenate([
        r.uniform(-0.71, 0.71, 600),  # erf/erfc centre
        -r.uniform(0.7, 38.5, 1200),  # lower tail
        r.uniform(0.7, 9.0, 600),  # 1 - erfc(z)/2
        _around([-math.sqrt(0.5), math.sqrt(0.5), -8 * math.sqrt(2), 8 * math.sqrt(2)]),
    ])),
    "log_ndtr": (_log_ndtr_mp, 3.0, lambda r: np.concatenate([
        -_logspace(0.7, 1e150, 500, r),  # log(erfcx(z)/2) - x^2/2
        r.uniform(-0.71, 0.0, 200),  # log(ndtr)
        r.uniform(0.0, 0.71, 200),  # log1p(-ndtr(-x)), centre
        r.uniform(0.7, 38.5, 500),  # log1p(-ndtr(-x)), tail: -ndtr(-x) to full precision
        _around([-math.sqrt(0.5), 0.0, 8 * math.sqrt(2)]),
    ])),
}


@pytest.mark.parametrize("name", list(_FORWARD))
def test_forward_accuracy_against_mpmath(name):
    ref, bound, make = _FORWARD[name]
    x = make(np.random.default_rng(sorted(_FORWARD).index(name)))
    got = getattr(he, name)(x)
    with mp.workdps(40):
        err = _ulp_errors(got, [ref(mp.mpf(float(v))) for v in x])
    worst = int(np.argmax(err))
    assert err[worst] <= bound, (name, x[worst], got[worst], err[worst])


def test_erfcx_huge_arguments():
    # erfcx(x) = 1/(x sqrt(pi)) (1 - 1/(2x^2) + ...): beyond 1e8 the series' first term is exact
    # to far below an ulp (mpmath's erfc gives up on such arguments)
    x = np.concatenate([_logspace(1e8, 1e307, 300, 5), [1.7976931348623157e308]])
    with mp.workdps(40):
        exact = [1 / (mp.mpf(float(v)) * mp.sqrt(mp.pi)) * (1 - 1 / (2 * mp.mpf(float(v)) ** 2))
                 for v in x]
    assert _ulp_errors(he.erfcx(x), exact).max() <= 1.5


def test_erfinv_accuracy_against_mpmath():
    r = np.random.default_rng(11)
    a = np.concatenate([
        _logspace(1e-300, 0.5, 400, r), r.uniform(0.0, 0.5, 300),  # a R(a^2) + Halley
        r.uniform(0.5, 1.0, 300), 1.0 - _logspace(1.2e-16, 0.5, 400, r),  # erfc tail, q = 1 - a
        _around([0.5]),
    ])
    y = a * r.choice([-1.0, 1.0], a.size)
    x = he.erfinv(y)
    with mp.workdps(40):
        err = _inverse_errors(
            x, y, mp.erf, lambda t: 2 / mp.sqrt(mp.pi) * mp.exp(-t * t))
    assert err.max() <= 3.0, (y[np.argmax(err)], err.max())


def test_erfcinv_accuracy_against_mpmath():
    r = np.random.default_rng(12)
    z = np.concatenate([
        _logspace(1e-323, 0.5, 600, r),  # log-space Halley, subnormals included
        r.uniform(0.5, 1.5, 300),  # erfinv of 1 - z
        2.0 - _logspace(4.5e-16, 0.5, 300, r),  # -erfcinv(2 - z)
        _around([0.5, 1.5]),
    ])
    x = he.erfcinv(z)
    with mp.workdps(40):
        err = _inverse_errors(
            x, z, mp.erfc, lambda t: -2 / mp.sqrt(mp.pi) * mp.exp(-t * t))
    assert err.max() <= 3.0, (z[np.argmax(err)], err.max())


def test_ndtri_accuracy_against_mpmath():
    r = np.random.default_rng(13)
    p = np.concatenate([
        _logspace(1e-323, 0.25, 600, r), r.uniform(0.25, 0.75, 300),
        1.0 - _logspace(1.2e-16, 0.25, 300, r), _around([0.25, 0.75]),
    ])
    x = he.ndtri(p)
    with mp.workdps(40):
        err = _inverse_errors(x, p, mp.ncdf, mp.npdf)
    # -sqrt(2) erfcinv(2p): the product adds up to an ulp to erfcinv's error
    assert err.max() <= 4.0, (p[np.argmax(err)], err.max())


def test_erfc_underflow_and_subnormals():
    # relative accuracy down to the underflow (SciPy gives 0 from x ~ 26.64 on)
    x = np.array([26.5, 26.6, 26.7, 27.0, 27.2, 27.22, 27.3, 30.0])
    got = he.erfc(x)
    with mp.workdps(40):
        exact = [mp.erfc(mp.mpf(v)) for v in x]
    assert _ulp_errors(got, exact).max() <= 1.0
    assert got[4] > 0.0 and got[-1] == 0.0
    assert he.erfc(27.2) == 2 * TINY  # erfc(27.2) = 9.9e-324


def test_log_ndtr_far_tails():
    x = np.array([-1e5, -1e10, -1e150, -1e200, -np.inf, 1e5, np.inf])
    got = he.log_ndtr(x)
    with mp.workdps(40):
        for v, g in zip(x[:3], got[:3]):
            v = mp.mpf(float(v))  # log Phi(x) = -x^2/2 - log(-x sqrt(2 pi)) + log1p(-1/x^2 ...)
            exact = -v * v / 2 - mp.log(-v * mp.sqrt(2 * mp.pi)) + mp.log1p(-1 / v ** 2)
            assert abs(g - exact) <= 2 * _ulp(exact)
    assert got[3] == -np.inf and got[4] == -np.inf  # -x^2/2 beyond the float64 range
    assert got[5] == 0.0 and np.signbit(got[5]) and got[6] == 0.0 and np.signbit(got[6])
    assert he.log_ndtr(-1e5) == pytest.approx(-5000000012.4318638, rel=1e-16)


def _float32_sample():
    """2.7 million float32 and their negatives: every 540th bit pattern from 0 to 4.5 (all
    magnitudes, subnormals included), a uniform sample of [0, 4.5], and every float32 within
    2^16 ulps of the kernel's branch point T."""
    top = int(np.float32(4.5).view(np.uint32))
    t = int(he._F32_T.view(np.uint32))
    parts = [np.arange(0, top, 540, dtype=np.uint32).view(np.float32),
             np.random.default_rng(7).uniform(0, 4.5, 600_000).astype(np.float32),
             np.arange(t - 2 ** 16, t + 2 ** 16, dtype=np.uint32).view(np.float32)]
    x = np.concatenate(parts)
    return np.concatenate([x, -x])


def test_float32_erf_within_one_ulp_of_the_correctly_rounded_value():
    x = _float32_sample()
    assert x.size > 2_000_000
    assert he._erf32_trusted()  # the float32 kernel is in use, not the float64 fallback
    got = he.erf(x)
    assert got.dtype == np.float32
    ours64 = he.erf(x.astype(np.float64))
    # the float64 reference itself agrees with SciPy's to 4 ulps (float64) everywhere here
    # (SciPy's erf is off by up to 2.5 ulps for tiny x; ours by 1, test_forward_accuracy...)
    ref = sp.erf(x.astype(np.float64))
    assert np.all(np.abs(ours64 - ref) <= 4 * np.spacing(np.abs(ref)))
    cr = ours64.astype(np.float32)  # float64 erf rounded once: the correctly rounded float32
    ulps = np.abs(got.astype(np.float64) - cr) / np.spacing(np.abs(cr)).astype(np.float64)
    assert ulps.max() <= 1.0, (x[np.argmax(ulps)], ulps.max())
    assert np.mean(got == cr) > 0.9  # and mostly correctly rounded itself
    # odd, exactly
    assert np.array_equal(he.erf(-x[: x.size // 2]), -got[: x.size // 2])


def test_float32_erf_kernel_pieces_meet_exactly():
    t = he._F32_T
    assert np.float32(1) - he.erf(t) == he._F32_C  # A(T) + C = 1: no step at T
    # past erf's rounding to 1 (from 3.9192) and out to the largest float32: exactly +-1
    x = np.array([3.9193, 3.93, 4.0, 10.0, 1e10, 3.4e38, np.inf], dtype=np.float32)
    assert np.all(he.erf(x) == 1) and np.all(he.erf(-x) == -1)
    sub = np.array([1e-45, 1e-40, 1e-38, -1e-45, 0.0, -0.0], dtype=np.float32)
    got = he.erf(sub)
    assert np.array_equal(got, sp.erf(sub)) and np.array_equal(np.signbit(got), np.signbit(sub))
    assert np.isnan(he.erf(np.float32(np.nan)))


def test_float32_erf_fallback_matches(monkeypatch):
    x = np.random.default_rng(3).standard_normal(50_000).astype(np.float32)
    fast = he.erf(x)
    monkeypatch.setattr(he, "_erf32_checked", False)  # as on a platform that fails the check
    slow = he.erf(x)
    assert slow.dtype == np.float32
    assert np.all(np.abs(fast - slow) <= np.spacing(np.abs(slow)))


# (lo, hi, rtol): ranges where SciPy's values are within a few ulps of the truth (measured
# against mpmath), and rtol = SciPy's error there plus ours (<= 3 ulps, 1 ulp = 2.2e-16)
_SCIPY_RANGES = {
    "erf": (-7.0, 7.0, 1e-15),
    "erfc": (-7.0, 2.0, 2e-15),  # SciPy: 6 ulps; 17 on [2, 5], 60 on [5, 10], 0 from 26.64
    "erfcx": (-3.0, 50.0, 2.5e-15),  # SciPy: 8 ulps; hundreds below -5
    "erfinv": (-1.0, 1.0, 1e-15),
    "erfcinv": (1e-300, 2.0, 2e-15),
    "ndtr": (-3.0, 9.0, 3e-15),  # SciPy: 11 ulps; 58 on [-6, -3] (it rounds x/sqrt 2, then squares)
    "log_ndtr": (-20.0, 0.0, 1.5e-15),  # SciPy: 3 ulps; 16 on [0, 3]
    "ndtri": (0.0, 1.0, 1.5e-15),
}


@pytest.mark.parametrize("name", list(_SCIPY_RANGES))
def test_agrees_with_scipy_on_random_arrays(name):
    lo, hi, rtol = _SCIPY_RANGES[name]
    r = np.random.default_rng(sorted(_SCIPY_RANGES).index(name) + 100)
    x = r.uniform(lo, hi, (300, 200))
    got = getattr(he, name)(x)
    want = getattr(sp, name)(x)
    assert got.shape == x.shape and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=rtol, atol=0)


_SPECIAL = {
    "erf": [np.nan, np.inf, -np.inf, 0.0, -0.0, 5e-324, -5e-324, 1e-310, 1.0, -1.0, 6.0, 1e300],
    "erfc": [np.nan, np.inf, -np.inf, 0.0, -0.0, 5e-324, 0.25, 0.5, -0.5, 8.0, 1e300, -1e300],
    "erfcx": [np.nan, np.inf, -np.inf, 0.0, -0.0, -0.5, 8.0, -26.0, -26.7, -27.0, -1e300, 1e300,
              1.7976931348623157e308],
    "erfinv": [np.nan, 0.0, -0.0, 1.0, -1.0, 1.5, -1.5, np.inf, -np.inf, 0.5, -0.5, 1e-310],
    "erfcinv": [np.nan, 0.0, -0.0, 1.0, 2.0, -1e-300, 2.5, np.inf, -np.inf, 0.5, 1.5, 1e-300],
    "ndtr": [np.nan, np.inf, -np.inf, 0.0, -0.0, 40.0, -40.0, 1e300, -1e300],
    "log_ndtr": [np.nan, np.inf, -np.inf, 0.0, -0.0, 40.0, 1e300, -1e300],
    "ndtri": [np.nan, 0.0, -0.0, 1.0, 0.5, 1.5, -0.5, np.inf, -np.inf, 1e-300, 1 - 2 ** -53],
}


@pytest.mark.parametrize("name", list(_SPECIAL))
def test_special_values_match_scipy(name):
    x = np.array(_SPECIAL[name])
    got = getattr(he, name)(x)
    want = getattr(sp, name)(x)
    np.testing.assert_allclose(got, want, rtol=2e-16, atol=0)  # nan and inf positions too
    zero = want == 0
    assert np.array_equal(np.signbit(got[zero]), np.signbit(want[zero])), (x[zero], got[zero])


def test_inverses_edges():
    assert he.erfinv(1.0) == np.inf and he.erfinv(-1.0) == -np.inf
    assert np.isnan(he.erfinv(1.0 + 2 ** -52)) and np.isnan(he.erfinv(-np.inf))
    assert he.erfcinv(0.0) == np.inf and he.erfcinv(2.0) == -np.inf
    assert np.isnan(he.erfcinv(-5e-324)) and np.isnan(he.erfcinv(2.0 + 2 ** -51))
    assert he.ndtri(0.0) == -np.inf and he.ndtri(1.0) == np.inf
    assert np.isnan(he.ndtri(-5e-324)) and np.isnan(he.ndtri(1.0 + 2 ** -52))
    # tiny arguments: subnormal in, finite out, and round trips
    assert 27.2 < he.erfcinv(5e-324) < 27.25 and -38.5 < he.ndtri(5e-324) < -38.4
    for q in [1e-300, 1e-200, 1e-100, 1e-20]:
        assert he.erfc(he.erfcinv(q)) == pytest.approx(q, rel=1e-13)
        assert he.ndtr(he.ndtri(q)) == pytest.approx(q, rel=1e-13)
    # near 1: 1 - y is exact, the answer keeps its digits
    y = 1.0 - 2.0 ** -52
    assert he.erf(he.erfinv(y)) == y
    assert he.erfc(he.erfinv(y)) == pytest.approx(2.0 ** -52, rel=1e-14)


def test_round_trips():
    # each way within its own few ulps times the condition number of the function applied last
    eps = np.finfo(np.float64).eps
    r = np.random.default_rng(21)
    x = r.uniform(-3.0, 3.0, 20_000)
    y = he.erfinv(he.erf(x))  # erf's condition number for erfinv: 1 + x erf(x) e^(x^2) sqrt(pi)/2
    cond = 1 + np.abs(x) * he.erf(np.abs(x)) * np.exp(x * x) * math.sqrt(math.pi) / 2
    assert np.all(np.abs(y - x) <= 4 * eps * cond * np.abs(x))
    p = r.uniform(0.0, 1.0, 20_000)
    x = he.ndtri(p)
    cond = 1 + np.abs(x) * np.exp(-x * x / 2) / math.sqrt(2 * math.pi) / p
    assert np.all(np.abs(he.ndtr(x) - p) <= 4 * eps * cond * p)
    z = r.uniform(0.0, 2.0, 20_000)
    x = he.erfcinv(z)
    cond = 1 + np.abs(x) * 2 / math.sqrt(math.pi) * np.exp(-x * x) / z
    assert np.all(np.abs(he.erfc(x) - z) <= 4 * eps * cond * z)


@pytest.mark.parametrize("name", he.NAMES)
def test_dtypes_scalars_shapes(name):
    f, g = getattr(he, name), getattr(sp, name)
    arg = 0.3
    # SciPy's result type for bool, small ints and float16 changed between versions (1.15 and
    # 1.18: float32; 1.16 and 1.17: float64 but for the inverses); here it is fixed, as
    # 1.16/1.17: float32 for the inverses, float64 for the rest
    small = np.float32 if name in ("erfinv", "erfcinv", "ndtri") else np.float64
    # Python and NumPy scalars give NumPy scalars: SciPy's type for floats and int64, the
    # small types' as above
    for v in (arg, np.float64(arg), np.float32(arg), np.array(arg), 0, True, np.int8(0),
              np.int32(0), np.float16(arg)):
        got, theirs = f(v), g(v)
        stable = np.asarray(v).dtype in (np.float64, np.float32, np.int64, np.int32)
        want = type(theirs) if stable else small
        assert type(got) is want, (v, type(got), want)
        single = np.float32 in (type(got), type(theirs))
        assert got == pytest.approx(theirs, rel=2e-7 if single else 1e-15)
    # arrays: dtype as SciPy where it is stable (float32 stays float32), as above for the
    # small types; shape kept, empty and non-contiguous fine
    for dt in (np.float64, np.float32, np.float16, np.int64, np.int16, np.uint8, np.bool_):
        a = (np.arange(24).reshape(2, 3, 4) % 2).astype(dt)
        got, want = f(a), g(a).dtype if dt in (np.float64, np.float32, np.int64) else small
        assert got.dtype == want and got.shape == (2, 3, 4), (dt, got.dtype, want)
    for shape in [(0,), (3, 0), (0, 0, 2)]:
        e = f(np.zeros(shape))
        assert e.shape == shape and e.dtype == np.float64
        assert f(np.zeros(shape, np.float32)).dtype == np.float32
    x = np.linspace(0.01, 0.99, 60).reshape(6, 10)
    np.testing.assert_array_equal(f(x.T), f(x).T)  # strided input
    np.testing.assert_array_equal(f(x[:, ::3]), f(x)[:, ::3])
    np.testing.assert_array_equal(f(list(x[0])), f(x[0]))
    out = np.empty_like(x)
    assert f(x, out=out) is out and np.array_equal(out, f(x))
    out32 = np.empty(x.shape, np.float32)
    assert f(x, out=out32) is out32 and np.allclose(out32, f(x), rtol=1e-7)
    with pytest.raises(TypeError, match=f"{name}: complex arguments need SciPy"):
        f(np.array([0.5 + 0.1j]))
    with pytest.raises(TypeError, match=name):
        f(np.array(["a"]))


@pytest.mark.parametrize("name", he.NAMES)
def test_large_arrays_match_small_ones(name):
    # the blocked path (more than one block of 32768) gives what element-sized calls give
    f = getattr(he, name)
    r = np.random.default_rng(31)
    x = {"erfinv": r.uniform(-1, 1, 70_001), "erfcinv": r.uniform(0, 2, 70_001),
         "ndtri": r.uniform(0, 1, 70_001)}.get(name, r.normal(0.0, 6.0, 70_001))
    big = f(x)
    idx = r.integers(0, x.size, 300)
    np.testing.assert_array_equal(big[idx], [f(v) for v in x[idx]])
    big32 = f(x.astype(np.float32))
    np.testing.assert_array_equal(big32[idx], f(x.astype(np.float32)[idx]))


@pytest.mark.parametrize("name", he.NAMES)
def test_no_warnings(name):
    f = getattr(he, name)
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 5e-324, -5e-324, 1e-300, 0.5, 1.0, 1.5, 2.0,
                  -1.0, 10.0, -10.0, 27.3, -27.0, 40.0, -40.0, 1e154, -1e154, 1e300, -1e300,
                  1.7976931348623157e308, -1.7976931348623157e308])
    with np.errstate(over="ignore"):
        x32 = x.astype(np.float32)  # (the cast itself overflows to +-inf)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            f(x)
            f(x32)
            for v in x:
                f(v)


def test_names():
    assert he.NAMES == ("erf", "erfc", "erfcx", "erfinv", "erfcinv", "ndtr", "log_ndtr", "ndtri")
    for name in he.NAMES:
        assert callable(getattr(he, name)) and getattr(he, name).__doc__
