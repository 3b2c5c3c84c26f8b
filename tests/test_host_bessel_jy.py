"""The Bessel functions of the first and second kind in NumPy alone
(``tensorgrad/scipy/_host_bessel_jy.py``): j0, j1, y0, y1. Against mpmath in every range, on
both sides of every split point and at the doubles nearest the zeros; against SciPy's values,
special values and dtypes; and against identities that need neither (the Wronskian, parity)."""

import warnings

import mpmath
import numpy as np
import pytest
import scipy.special

from tensorgrad.scipy import _host_bessel_jy as hb

EPS = 2.0 ** -52
NAMES = ("j0", "j1", "y0", "y1")
# where the method changes: pieces, the phase form's start and its two fits, the far form
SPLITS = {"j0": (1.5, 3.83, 7.0), "j1": (1.84, 5.33, 8.5), "y0": (1.5, 2.25, 3.3, 4.8, 7.0),
          "y1": (1.2, 1.8, 2.7, 4.0, 6.0, 8.5)}
COMMON_SPLITS = (hb._Y0_LOG_SWITCH, 16.0, 40.0, 2.0 ** 29)
# The largest relative error allowed against mpmath, in units of 2**-52 (measured: 2.4 on
# random points up to 2**29, 1.7 at the doubles nearest the zeros below 40)
TOL = 3.0


def _mpfun(name):
    f, nu = (mpmath.besselj if name[0] == "j" else mpmath.bessely), int(name[1])
    return lambda v: f(nu, v)


def _mp(name, x):
    return _mpfun(name)(mpmath.mpf(float(x)))


def _envelope(x):
    with np.errstate(divide="ignore"):
        return np.minimum(1.0, np.sqrt(2.0 / np.pi) / np.sqrt(np.abs(x)))


def _errors(name, x):
    """(relative error, error in units of max(|f|, E)) of name at x against mpmath at 40
    digits, in units of 2**-52, and |f| / E."""
    got = getattr(hb, name)(x)
    rel, scaled, size = [], [], []
    with mpmath.workdps(40):
        for v, g, e in zip(x, got, _envelope(x)):
            r = _mp(name, v)
            d = abs(mpmath.mpf(float(g)) - r)
            rel.append(float(d / abs(r)) / EPS)
            scaled.append(float(d / max(abs(r), e)) / EPS)
            size.append(float(abs(r)) / e)
    return np.array(rel), np.array(scaled), np.array(size)


def _points(name, rng):
    """x > 0 over every range of name, and both sides of each of its split points."""
    splits = SPLITS[name] + COMMON_SPLITS
    near = [np.nextafter(s, d) for s in splits for d in (0.0, np.inf)]
    edges = (0.0,) + SPLITS[name] + (16.0, 40.0)
    return np.unique(np.concatenate([
        near, splits, np.exp(rng.uniform(np.log(1e-300), np.log(1e-3), 40)),
        np.exp(rng.uniform(np.log(1e-3), np.log(0.5), 60)),
        *[rng.uniform(a, b, 150) for a, b in zip(edges[:-1], edges[1:])],
        np.exp(rng.uniform(np.log(40.0), np.log(2.0 ** 29), 400))]))


@pytest.mark.parametrize("name", NAMES)
def test_relative_error_within_a_few_ulp_of_mpmath(name):
    x = _points(name, np.random.default_rng(10 + NAMES.index(name)))
    rel, _, _ = _errors(name, x)
    i = np.argmax(rel)
    assert rel[i] <= TOL, f"{name}: {rel[i]:.2f} ulp at x = {x[i]!r}"


def _zeros(name, upto):
    k, out = 1, []
    while True:
        z = (mpmath.besseljzero if name[0] == "j" else mpmath.besselyzero)(int(name[1]), k)
        if z > upto:
            return out
        out.append(z)
        k += 1


@pytest.mark.parametrize("name", NAMES)
def test_relative_error_at_the_zeros_below_40(name):
    """The doubles nearest each zero below 40 and a few steps away: f is tiny there, and any
    absolute error of the phase (the form above x = 7 or 8.5) would show at once; the pieces
    below and the Taylor windows about the tabulated zeros keep the relative error small."""
    with mpmath.workdps(40):
        zs = [float(z) for z in _zeros(name, 40)]
    x = []
    for z in zs:
        x += [z, np.nextafter(z, 0), np.nextafter(z, 99), z + 1e-12, z - 1e-9, z + 1e-6,
              z - 1e-3, z + 0.049, z - 0.051, z + 0.099, z - 0.101]
    x = np.array(x)
    rel, _, _ = _errors(name, x)
    i = np.argmax(rel)
    assert rel[i] <= TOL, f"{name}: {rel[i]:.2f} ulp at x = {x[i]!r}"


@pytest.mark.parametrize("name", NAMES)
def test_beyond_40_near_the_zeros(name):
    """Above the tabulated zeros the phase's absolute error (~1e-20) bounds the relative error
    near a zero: within the target where |f| >= 1e-4 E(x), and within a few ulp of E(x)
    everywhere up to 2**29."""
    rng = np.random.default_rng(20 + NAMES.index(name))
    nu, first = int(name[1]), name[0] == "j"
    x = []
    for k in list(rng.integers(13, 400, 8)) + [4000, 10 ** 5, 10 ** 7]:
        # the zero of the asymptotic phase, then refined by mpmath
        guess = (int(k) + nu / 2 - (0.25 if first else 0.75)) * mpmath.pi
        with mpmath.workdps(40):
            z = float(mpmath.findroot(_mpfun(name), guess))
        x += [z, np.nextafter(z, 0), z + 1e-4 * (1 + rng.uniform()), z - 1e-3, z + 0.02]
    x = np.array(x)
    rel, scaled, size = _errors(name, x)
    assert scaled.max() <= TOL, (name, scaled.max())
    far = size >= 1e-4
    assert rel[far].max() <= TOL, (name, rel[far].max())


@pytest.mark.parametrize("name", NAMES)
def test_past_2_to_29_error_within_a_few_ulp_of_the_envelope(name):
    # beyond 2**29 only the absolute error (next to E(x)) is bounded: NumPy's sin and cos of
    # x are each within half an ulp of 1 (SciPy's error there is all of E(x) past 1e16)
    rng = np.random.default_rng(30 + NAMES.index(name))
    x = np.concatenate([np.exp(rng.uniform(np.log(2.0 ** 29), np.log(1e300), 60)),
                        [np.nextafter(2.0 ** 29, np.inf), 1e16, 1e300, 1.7976931348623157e308]])
    _, scaled, _ = _errors(name, x)
    i = np.argmax(scaled)
    assert scaled[i] <= TOL, f"{name}: {scaled[i]:.2f} ulp of E at x = {x[i]!r}"


@pytest.mark.parametrize("name", NAMES)
def test_float32_within_one_ulp_of_the_rounded_value(name):
    rng = np.random.default_rng(40 + NAMES.index(name))
    with mpmath.workdps(40):
        zs = [z for z in _zeros(name, 30)]
    x = np.concatenate([rng.uniform(0.0, 30.0, 150), np.exp(rng.uniform(-20, 20, 50)),
                        [np.float32(float(z)) for z in zs]]).astype(np.float32)
    got = getattr(hb, name)(x)
    assert got.dtype == np.float32
    with mpmath.workdps(40):
        want = np.array([np.float32(float(_mp(name, v))) if v > 0 or name[0] == "j"
                         else np.float32(-np.inf) for v in x])
    gi, wi = got.view(np.int32).astype(np.int64), want.view(np.int32).astype(np.int64)
    # ulps apart for values of the same sign (all of them here: none is exactly 0)
    assert np.all(np.sign(got) == np.sign(want))
    assert np.abs(gi - wi).max() <= 1, name


@pytest.mark.parametrize("name", NAMES)
def test_agrees_with_scipy(name):
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.uniform(0, 50, 4000), np.exp(rng.uniform(-30, np.log(50), 1000)),
                        [0.0, -0.0, 5e-324, 1e-300, np.inf, -np.inf, np.nan, 7.0, 8.5, 16.0]])
    if name[0] == "j":
        x = np.concatenate([x, -x])
    else:
        x = np.concatenate([x, -np.abs(rng.uniform(0, 50, 100)), [-1e-300, -np.inf]])
    got, ref = getattr(hb, name)(x), getattr(scipy.special, name)(x)
    assert np.array_equal(np.isnan(got), np.isnan(ref))
    assert np.array_equal(got[np.isinf(ref)], ref[np.isinf(ref)])
    ok = np.isfinite(ref)
    # SciPy's errors reach 12 ulp of max(|f|, E) below 50 (ours 2.4)
    scale = np.maximum(np.abs(ref[ok]), _envelope(x[ok]))
    assert np.all(np.abs(got[ok] - ref[ok]) <= 16 * EPS * scale), name
    zero = ref == 0
    assert np.array_equal(got[zero], ref[zero])
    assert np.array_equal(np.signbit(got[zero]), np.signbit(ref[zero]))


SPECIAL = [  # x, (j0, j1, y0, y1); None: not a special value
    (0.0, (1.0, 0.0, -np.inf, -np.inf)),
    (-0.0, (1.0, -0.0, -np.inf, -np.inf)),
    (np.inf, (np.nan, np.nan, np.nan, np.nan)),
    (-np.inf, (np.nan, np.nan, np.nan, np.nan)),
    (np.nan, (np.nan,) * 4),
    (-1.0, (None, None, np.nan, np.nan)),
    (-1e-300, (1.0, -5e-301, np.nan, np.nan)),
    (5e-324, (1.0, 0.0, None, -np.inf)),
    (1e-300, (1.0, 5e-301, None, None)),
    (-5e-324, (1.0, -0.0, np.nan, np.nan)),
]


@pytest.mark.parametrize("x, values", SPECIAL, ids=[repr(x) for x, _ in SPECIAL])
def test_special_values(x, values):
    for name, want in zip(NAMES, values):
        if want is None:
            continue
        got = getattr(hb, name)(x)
        assert isinstance(got, np.float64)
        if np.isnan(want):
            assert np.isnan(got), (name, x, got)
        else:
            assert got == want and np.signbit(got) == np.signbit(want), (name, x, got)
        ref = getattr(scipy.special, name)(x)
        if not np.isfinite(want) or want == 0:  # (SciPy's j1(1e-300) is an ulp above x/2)
            assert np.array_equal(got, ref, equal_nan=True), (name, x, got, ref)


def test_tiny_and_huge_arguments():
    # y0 near 0 is 2/pi (log(x/2) + gamma), with log of a subnormal x exact
    for x in (5e-324, 1e-310, 2.0 ** -1022, 1e-300, 1e-20):
        with mpmath.workdps(40):
            assert abs(hb.y0(x) / float(_mp("y0", x)) - 1) <= 2 * EPS
    assert hb.y1(1e-300) == pytest.approx(-2 / np.pi * 1e300, rel=2 * EPS, abs=0)
    assert hb.y1(3e-309) == -np.inf and np.isfinite(hb.y1(4e-308))
    big = np.array([1.7976931348623157e308, 1e300, 2.0 ** 29, np.nextafter(2.0 ** 29, np.inf)])
    for name in NAMES:
        r = getattr(hb, name)(big)
        assert np.all(np.isfinite(r)) and np.all(np.abs(r) <= _envelope(big) * (1 + 1e-12))


def test_parity_is_exact():
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.uniform(0, 60, 3000), np.exp(rng.uniform(-50, 50, 500))])
    assert np.array_equal(hb.j0(-x), hb.j0(x))
    assert np.array_equal(hb.j1(-x), -hb.j1(x))


def test_wronskian():
    """J1 Y0 - J0 Y1 = 2 / (pi x); the two products have opposite signs, so the difference
    does not cancel and is as accurate as the functions."""
    rng = np.random.default_rng(3)
    x = np.concatenate([np.exp(rng.uniform(np.log(1e-3), np.log(2.0 ** 29), 5000)),
                        rng.uniform(0, 40, 3000)])
    w = hb.j1(x) * hb.y0(x) - hb.j0(x) * hb.y1(x)
    np.testing.assert_allclose(w * (np.pi / 2) * x, 1.0, rtol=10 * EPS, atol=0)


def test_taylor_coefficients_about_the_zeros():
    """The window coefficients (from f'(z) and the Bessel equation, in float64) against the
    derivatives at the zero: d^n/dx^n C_nu = 2**-n sum_k (-1)**k binom(n, k) C_{nu-n+2k}."""
    for name in NAMES:
        table = getattr(hb, f"_{name.upper()}_ZEROS")
        nu = int(name[1])
        f = mpmath.besselj if name[0] == "j" else mpmath.bessely
        zs = hb._Zeros(table, nu, 0.25)
        for i in (0, len(table) - 1):
            with mpmath.workdps(40):
                z = mpmath.mpf(table[i][0]) + mpmath.mpf(table[i][1])
                ref = [sum((-1) ** k * mpmath.binomial(n, k) * f(nu - n + 2 * k, z)
                           for k in range(n + 1)) / 2 ** n / mpmath.factorial(n)
                       for n in range(hb._TAYLOR_TERMS + 1)]
            got = zs.coefs[:, i]
            for n in range(1, hb._TAYLOR_TERMS + 1):
                # next to c1 * 0.05**(n-1), the term's size at the window's edge
                err = abs(got[n - 1] - ref[n]) * 0.05 ** (n - 1) / abs(ref[1])
                assert err < 2 * EPS, (name, i, n, float(err))


def test_tabulated_zeros_are_double_doubles():
    for name in NAMES:
        table = getattr(hb, f"_{name.upper()}_ZEROS")
        with mpmath.workdps(40):
            zs = [z for z in _zeros(name, 40) if z > table[0][0] - 0.5]
            assert len(zs) == len(table)
            for (hi, lo, _), z in zip(table, zs):
                assert abs(mpmath.mpf(hi) + lo - z) < mpmath.mpf(2) ** -100 * z
                assert float(lo) == float(z - mpmath.mpf(hi))


@pytest.mark.parametrize("name", NAMES)
def test_no_floating_point_warnings(name):
    x = [0.0, -0.0, -1.0, -np.inf, np.inf, np.nan, 5e-324, 1e-310, 1e-40, 1.0, 7.0, 8.5, 16.0,
         40.0, 1e8, 2.0 ** 29, 1e10, 1e300, 1.7976931348623157e308]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        getattr(hb, name)(np.array(x))
        getattr(hb, name)(np.array([v for v in x if abs(v) < 3e38], dtype=np.float32))
        getattr(hb, name)(3.0)


@pytest.mark.parametrize("name", NAMES)
def test_long_arguments_go_by_blocks_with_the_same_values(name):
    rng = np.random.default_rng(6)
    f = getattr(hb, name)
    n = 2 * hb._BLOCK + 1234
    x = np.concatenate([rng.uniform(-5, 60, n - 8), np.exp(rng.uniform(-5, 30, 4)),
                        [np.nan, np.inf, 0.0, 7.0]])
    rng.shuffle(x)
    got = f(x)
    ref = np.concatenate([f(part) for part in np.array_split(x, 97)])
    np.testing.assert_array_equal(got, ref)
    # every range alone (one method per call) gives the same as the mixed call
    edges = (-np.inf, 0.0) + SPLITS[name] + (16.0, 40.0, np.inf)
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (x > lo) & (x <= hi)
        np.testing.assert_array_equal(f(x[m]), got[m])
    np.testing.assert_array_equal(f(x[::-1]), got[::-1])


@pytest.mark.parametrize("name", NAMES)
def test_a_nan_does_not_change_the_other_entries(name):
    # the phase form picks its fits and the far form by the block's (NaN-free) min and max
    # (a NaN among many large arguments goes through the phase form with them)
    f = getattr(hb, name)
    x = np.concatenate([np.linspace(8.6, 15.9, 30), [1e10, 3e9, 1e300, 20.0, np.nan, np.inf]])
    got = f(x)
    assert np.isnan(got[-1]) and np.isnan(got[-2])
    for v, g in zip(x[:-2], got):
        assert g == f(v), (name, v)


def test_names():
    assert hb.NAMES == NAMES
    for name in NAMES:
        f = getattr(hb, name)
        assert callable(f) and f.__name__ == name and f.__doc__
        assert callable(getattr(scipy.special, name))
    assert set(hb.__all__) == set(NAMES) | {"NAMES"}
