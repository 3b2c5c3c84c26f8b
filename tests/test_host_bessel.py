"""The modified Bessel functions in NumPy alone (``tensorgrad/scipy/_host_bessel.py``): i0, i0e,
i1, i1e, k0, k0e, k1, k1e. Against mpmath to a few ulp in every range and on both sides of every
split point, against SciPy's values, special values and dtypes, and against identities that need
neither (the Wronskian, the scaling by exp, the parities)."""

import warnings

import numpy as np
import pytest

from tensorgrad.scipy import _host_bessel as hb
from tensorgrad.scipy import _host_bessel_jy as hjy

EPS = 2.0 ** -52
SPLITS = {"i": (8.0, 12.0), "k": (1.5, 2.0)}

# The largest relative error allowed against mpmath, in units of 2**-52 (measured on 41,000
# points: i* 2.7, k1 and k1e 3.0, k0 3.7, k0e 4.1, the last two between 1.5 and 1.75)
TOL_ULP = {"i0": 3, "i0e": 3, "i1": 3, "i1e": 3, "k0": 4.5, "k0e": 5, "k1": 3.5, "k1e": 3.5}


def _rng(seed):
    return np.random.default_rng(20240611 + seed)


def _points():
    """x >= 0 over every range, and on both sides of each split point."""
    rng = _rng(0)
    near = [np.nextafter(s, d) for s in SPLITS["i"] + SPLITS["k"] for d in (0.0, np.inf)]
    return np.unique(np.concatenate([
        near, list(SPLITS["i"] + SPLITS["k"]),
        np.exp(rng.uniform(np.log(1e-300), np.log(1e-2), 12)),
        rng.uniform(0.01, 1.5, 50), rng.uniform(1.5, 2.0, 50), rng.uniform(2.0, 8.0, 50),
        rng.uniform(8.0, 12.0, 40), rng.uniform(12.0, 40.0, 40),
        np.exp(rng.uniform(np.log(40.0), np.log(713.0), 30)), [1.0, 5.0, 700.0, 713.9]]))


X = _points()


def _mp_reference(name, x):
    mp = pytest.importorskip("mpmath")
    with mp.workdps(30):
        v = mp.mpf(float(x))
        f = mp.besseli if name[0] == "i" else mp.besselk
        r = f(int(name[1]), v)
        if name.endswith("e"):
            r *= mp.exp(-v) if name[0] == "i" else mp.exp(v)
        return r


@pytest.mark.parametrize("name", hb.NAMES)
def test_within_a_few_ulp_of_mpmath(name):
    mp = pytest.importorskip("mpmath")
    got = getattr(hb, name)(X)
    worst, at = 0.0, None
    for x, g in zip(X, got):
        r = _mp_reference(name, x)
        with mp.workdps(30):
            if abs(r) < 2.0 ** -1022:  # k0, k1 past 708: subnormal, to within its spacing
                assert abs(mp.mpf(float(g)) - r) <= mp.mpf(2) ** -1074, (name, x)
                continue
            err = float(abs((mp.mpf(float(g)) - r) / r)) / EPS
        if err > worst:
            worst, at = err, x
    assert worst <= TOL_ULP[name], f"{name}: {worst:.2f} ulp at x = {at!r}"


@pytest.mark.parametrize("name", hb.NAMES)
def test_agrees_with_scipy(name):
    rng = _rng(1)
    ss = pytest.importorskip("scipy.special")
    x = np.concatenate([rng.uniform(-30, 30, 4000), np.exp(rng.uniform(-20, np.log(709), 2000)),
                        -np.exp(rng.uniform(-20, np.log(709), 500)),
                        [0.0, -0.0, 1e-320, 5e-300, np.inf, -np.inf, np.nan, 1e300, -1e300,
                         800.0, -800.0, 1.5, 2.0, 8.0, 12.0]])
    got, ref = getattr(hb, name)(x), getattr(ss, name)(x)
    if name in ("i0", "i1"):  # SciPy's i0(+-inf), i1(+-inf) are NaN (its exp(x) * 0), ours +-inf
        inf = np.isinf(x)
        want = np.abs(x[inf]) if name == "i0" else x[inf]
        assert np.array_equal(got[inf], want)
        x, got, ref = x[~inf], got[~inf], ref[~inf]
    # SciPy's own errors reach 9.5 ulp (i1 near 5), ours 4
    np.testing.assert_allclose(got, ref, rtol=4e-15, atol=0, equal_nan=True, err_msg=name)
    zero = ref == 0
    assert np.array_equal(got[zero], ref[zero])
    if name not in ("i1", "i1e"):  # i1(-0.0) is -0.0 here (odd), +0.0 in SciPy
        assert np.array_equal(np.signbit(got[zero]), np.signbit(ref[zero]))


def test_i0_i1_overflow_only_past_the_largest_double():
    big = np.array([709.0, 709.9, 712.0, 713.98, 713.99, 1e4, np.inf])
    for name in ("i0", "i1"):
        got = getattr(hb, name)(big)
        assert np.all(np.isfinite(got[:4])) and np.all(got[4:] == np.inf), name
        assert np.array_equal(getattr(hb, name)(-big), got if name == "i0" else -got)
    mp = pytest.importorskip("mpmath")
    for x in (709.9, 712.0, 713.98):
        for name in ("i0", "i1"):
            r = _mp_reference(name, x)
            with mp.workdps(30):
                assert abs((mp.mpf(float(getattr(hb, name)(x))) - r) / r) < 4 * EPS


SPECIAL = [  # x, (i0, i0e, i1, i1e, k0, k0e, k1, k1e); None: not a special value
    (0.0, (1, 1, 0, 0, np.inf, np.inf, np.inf, np.inf)),
    (-0.0, (1, 1, 0, 0, np.inf, np.inf, np.inf, np.inf)),
    (np.inf, (np.inf, 0, np.inf, 0, 0, 0, 0, 0)),
    (-np.inf, (np.inf, 0, -np.inf, 0, np.nan, np.nan, np.nan, np.nan)),
    (np.nan, (np.nan,) * 8),
    (-1.0, (None, None, None, None, np.nan, np.nan, np.nan, np.nan)),
    (-1e-300, (1, 1, -5e-301, -5e-301, np.nan, np.nan, np.nan, np.nan)),
    (1e-300, (1, 1, 5e-301, 5e-301, None, None, None, None)),
    (5e-324, (1, 1, 0, 0, None, None, np.inf, np.inf)),  # i1: half the smallest subnormal
    (1000.0, (np.inf, None, np.inf, None, 0, None, 0, None)),
    (-1000.0, (np.inf, None, -np.inf, None, np.nan, np.nan, np.nan, np.nan)),
]


@pytest.mark.parametrize("x, values", SPECIAL, ids=[repr(x) for x, _ in SPECIAL])
def test_special_values(x, values):
    for name, want in zip(hb.NAMES, values):
        if want is None:
            continue
        got = getattr(hb, name)(x)
        assert isinstance(got, np.float64)
        if np.isnan(want):
            assert np.isnan(got), (name, x, got)
        else:
            assert got == want, (name, x, got)


def test_tiny_arguments_of_k():
    # log(x / 2) where x / 2 is not exact is log(x) - log(2); SciPy gives inf for k0(5e-324)
    for x in (5e-324, 1e-320, 2.0 ** -1021, 1e-300, 1e-100):
        for name in ("k0", "k0e"):
            assert getattr(hb, name)(x) == pytest.approx(float(_mp_reference(name, x)),
                                                         rel=2 * EPS, abs=0)
    for x in (1e-300, 1e-308, 2e-308):  # k1 = 1/x, to within an ulp
        for name in ("k1", "k1e"):
            assert getattr(hb, name)(x) == pytest.approx(float(_mp_reference(name, x)),
                                                         rel=EPS, abs=0)
    assert hb.k1(5e-324) == np.inf and hb.k1e(5e-324) == np.inf  # SciPy's: nan
    assert hb.k1(1e-309) == np.inf


@pytest.mark.parametrize("name", ["i0", "i0e", "i1", "i1e"])
def test_parity_is_exact(name):
    rng = _rng(2)
    x = np.concatenate([rng.uniform(0, 20, 2000), X])
    f = getattr(hb, name)
    sign = 1.0 if name.startswith("i0") else -1.0
    assert np.array_equal(f(-x), sign * f(x))


def test_wronskian():
    """I0 K1 + I1 K0 = 1/x, and so i0e k1e + i1e k0e = 1/x: the exp factors cancel."""
    rng = _rng(3)
    x = np.concatenate([np.exp(rng.uniform(np.log(1e-6), np.log(700), 3000)), X[X > 0]])
    w = hb.i0e(x) * hb.k1e(x) + hb.i1e(x) * hb.k0e(x)
    np.testing.assert_allclose(w * x, 1.0, rtol=12 * EPS, atol=0)
    y = x[x < 300]
    w = hb.i0(y) * hb.k1(y) + hb.i1(y) * hb.k0(y)
    np.testing.assert_allclose(w * y, 1.0, rtol=12 * EPS, atol=0)


def test_scaled_forms_are_the_plain_ones_times_exp():
    rng = _rng(4)
    x = np.concatenate([rng.uniform(-40, 40, 3000), np.exp(rng.uniform(-8, np.log(700), 500))])
    for name in ("i0", "i1"):
        np.testing.assert_allclose(getattr(hb, name + "e")(x) * np.exp(np.abs(x)),
                                   getattr(hb, name)(x), rtol=8 * EPS, atol=0, err_msg=name)
    y = np.abs(x)
    for name in ("k0", "k1"):
        np.testing.assert_allclose(getattr(hb, name + "e")(y) * np.exp(-y),
                                   getattr(hb, name)(y), rtol=8 * EPS, atol=0, err_msg=name)


@pytest.mark.parametrize("name", hb.NAMES)
def test_no_floating_point_warnings(name):
    x = [0.0, -0.0, -1.0, -np.inf, np.inf, np.nan, 1e-40, 1.0, 2.0, 12.0, 80.0, 100.0, 3e38,
         -3e38]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        getattr(hb, name)(np.array(x + [5e-324, 1e-310, 708.0, 712.0, 720.0, 800.0, 1e308]))
        getattr(hb, name)(np.array(x, dtype=np.float32))  # i0(100) overflows float32


# The ufunc wrapper (_host_common.unary) that both Bessel modules share, through all their
# functions.
WRAPPED = [(hb, n) for n in hb.NAMES] + [(hjy, n) for n in hjy.NAMES]


@pytest.mark.parametrize("mod, name", WRAPPED, ids=[n for _, n in WRAPPED])
def test_dtypes_as_scipy(mod, name):
    f = getattr(mod, name)
    x64 = np.array([0.5, 1.0, 3.0, 10.0, 20.0])
    r64 = f(x64)
    assert r64.dtype == np.float64
    r32 = f(x64.astype(np.float32))
    assert r32.dtype == np.float32
    # float32 is computed in float64 and rounded once
    assert np.array_equal(r32, f(x64.astype(np.float32).astype(np.float64)).astype(np.float32))
    for other in (np.float16, np.int8, np.int64, np.uint16, np.uint64):
        r = f(x64.astype(other))
        assert r.dtype == np.float64
        assert np.array_equal(r, f(x64.astype(other).astype(np.float64)))
    assert f(np.array([True, False])).dtype == np.float64
    assert np.array_equal(f([1, 2]), f(np.array([1.0, 2.0])))
    for bad in (np.array([1 + 1j]), 1j):
        with pytest.raises(TypeError, match=f"{name}: complex arguments need SciPy"):
            f(bad)
    for bad in (np.array([1.0], dtype=np.longdouble), np.array([1.0], dtype=object),
                np.array(["1"]), 2 ** 70):
        with pytest.raises(TypeError):
            f(bad)
    ss = pytest.importorskip("scipy.special")
    # (not float16: SciPy 1.15 and 1.18 give float32 there, 1.16 and 1.17 float64, as here)
    for a in (x64, x64.astype(np.float32), x64.astype(np.int32)):
        assert f(a).dtype == getattr(ss, name)(a).dtype


@pytest.mark.parametrize("mod, name", WRAPPED, ids=[n for _, n in WRAPPED])
def test_scalars_shapes_and_layouts(mod, name):
    rng = _rng(5)
    f = getattr(mod, name)
    assert type(f(1.5)) is np.float64 and type(f(3)) is np.float64
    assert type(f(np.float32(1.5))) is np.float32
    assert type(f(np.array(1.5))) is np.float64
    for shape in [(0,), (2, 0), (3, 4), (2, 3, 5)]:
        x = rng.uniform(0.1, 15, shape)
        r = f(x)
        assert r.shape == shape
        if x.size:
            assert np.array_equal(r.ravel(), f(x.ravel()))
    x = rng.uniform(0.1, 15, (6, 8))
    assert np.array_equal(f(x[::2, ::-3]), f(np.ascontiguousarray(x[::2, ::-3])))
    before = x.copy()
    f(x)
    assert np.array_equal(x, before)  # the argument is not written to


@pytest.mark.parametrize("name", hb.NAMES)
def test_long_arguments_go_by_blocks_with_the_same_values(name):
    rng = _rng(6)
    f = getattr(hb, name)
    n = 2 * hb._BLOCK + 1234
    x = np.concatenate([rng.uniform(-30, 30, n - 6), [np.nan, np.inf, -np.inf, 0.0, 2.0, 12.0]])
    rng.shuffle(x)
    got = f(x)
    ref = np.concatenate([f(part) for part in np.array_split(x, 97)])
    np.testing.assert_array_equal(got, ref)
    # every piece alone (one range per call) gives the same as the mixed call
    for lo, hi in [(-1, 1.5), (1.5, 2), (2, 8), (8, 12), (12, 30)]:
        m = (np.abs(x) > lo) & (np.abs(x) <= hi)
        np.testing.assert_array_equal(f(x[m]), got[m])


def test_names():
    assert isinstance(hb.NAMES, tuple)
    assert hb.NAMES == ("i0", "i0e", "i1", "i1e", "k0", "k0e", "k1", "k1e")
    for name in hb.NAMES:
        f = getattr(hb, name)
        assert callable(f) and f.__name__ == name and f.__doc__
    assert set(hb.__all__) == set(hb.NAMES) | {"NAMES"}
    ss = pytest.importorskip("scipy.special")
    assert all(callable(getattr(ss, name)) for name in hb.NAMES)
