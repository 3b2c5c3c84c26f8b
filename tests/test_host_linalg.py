"""The pure-NumPy ``lu_factor`` and ``expm`` of tensorgrad.scipy._host_linalg against SciPy
(per matrix) and, for expm, against mpmath at 40 digits."""

import warnings
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import scipy.linalg

from tensorgrad.scipy import _host_linalg as H

EPS = np.finfo(np.float64).eps
DTYPES = [np.float64, np.float32, np.complex128, np.complex64]


def _random(rng, shape, dtype):
    a = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        a = a + 1j * rng.standard_normal(shape)
    return a.astype(dtype)


def _scipy_lu(a):
    flat = a.reshape((-1,) + a.shape[-2:])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # SciPy warns on exactly singular matrices
        out = [scipy.linalg.lu_factor(x, check_finite=False) for x in flat]
    return [o[0] for o in out], [o[1] for o in out]


def _backward_error(lu, piv, a):
    """max |P L U - A| / max |A| of one matrix, in complex128."""
    a = a.astype(np.complex128)
    m, n = a.shape
    k = min(m, n)
    low = np.tril(lu, -1)[:, :k] + np.eye(m, k)
    up = np.triu(lu)[:k]
    pa = a.copy()
    for i, p in enumerate(piv):
        pa[[i, p]] = pa[[p, i]]
    scale = np.abs(a).max()
    return np.abs(low.astype(np.complex128) @ up - pa).max() / scale if scale else 0.0


# ---- lu_factor -----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(40, 4, 4), (10, 5, 3), (10, 3, 5), (4, 16, 16),
                                   (2, 70, 70), (1, 130, 97), (1, 97, 130), (3, 2, 1, 1)])
def test_lu_matches_scipy(shape, dtype):
    """Random matrices (the one-column-at-a-time path below 9 columns, the recursive one
    above): the same pivots as SciPy, lu within rounding of SciPy's, and a backward error
    within a factor 10 of SciPy's."""
    rng = np.random.default_rng(sum(shape))
    a = _random(rng, shape, dtype)
    lu, piv = H.lu_factor(a)
    assert lu.shape == a.shape and lu.dtype == a.dtype
    assert piv.shape == shape[:-2] + (min(shape[-2:]),) and piv.dtype == np.int64
    lus, pivs = _scipy_lu(a)
    single = np.dtype(dtype) in (np.float32, np.complex64)
    # lu agrees to 1e-12 of its largest entry in float64 (measured: 7e-15 at 130 x 97);
    # float32's unit roundoff is 5e-8 (measured: 1e-5 at 130 x 97)
    tol = 1e-4 if single else 1e-12
    floor = 1e-6 if single else 1e-15
    flat = a.reshape((-1,) + shape[-2:])
    for i, (l2, p2) in enumerate(zip(lus, pivs, strict=True)):
        l1, p1 = lu.reshape(flat.shape)[i], piv.reshape(-1, p2.size)[i]
        np.testing.assert_array_equal(p1, p2)
        assert np.abs(l1 - l2).max() <= tol * np.abs(l2).max()
        e1, e2 = _backward_error(l1, p1, flat[i]), _backward_error(l2, p2, flat[i])
        assert e1 <= 10 * max(e2, floor), (e1, e2)


def _exact_measures(a, piv, step):
    """The pivot column's |re| + |im| at ``step`` in exact rational arithmetic, eliminating
    with the pivots ``piv`` (complex numbers as pairs of Fractions)."""
    m, n = a.shape
    A = [[(Fraction(float(x.real)), Fraction(float(x.imag))) for x in row] for row in a]

    def mul(x, y):
        return (x[0] * y[0] - x[1] * y[1], x[0] * y[1] + x[1] * y[0])

    def div(x, y):
        d = y[0] * y[0] + y[1] * y[1]
        return ((x[0] * y[0] + x[1] * y[1]) / d, (x[1] * y[0] - x[0] * y[1]) / d)

    for j in range(step):
        p = piv[j]
        A[j], A[p] = A[p], A[j]
        if A[j][j] != (0, 0):
            for i in range(j + 1, m):
                f = div(A[i][j], A[j][j])
                for c in range(j + 1, n):
                    t = mul(f, A[j][c])
                    A[i][c] = (A[i][c][0] - t[0], A[i][c][1] - t[1])
    return [abs(A[i][step][0]) + abs(A[i][step][1]) for i in range(m)]


@pytest.mark.parametrize("cplx", [False, True])
@pytest.mark.parametrize("n, lo, hi, count", [(4, 0, 2, 1500), (6, -1, 2, 800),
                                              (8, -3, 4, 400), (12, 0, 2, 150), (40, -1, 2, 20)])
def test_lu_pivots_tie_heavy(n, lo, hi, count, cplx):
    """Small-integer matrices, full of equal magnitudes: the pivots are SciPy's, except where
    the two candidates tie in exact arithmetic and the two evaluation orders round them apart
    (then both choices are LAPACK's rule applied to different roundings)."""
    rng = np.random.default_rng(n + 100 * cplx)
    a = rng.integers(lo, hi, (count, n, n)).astype(float)
    if cplx:
        a = a + 1j * rng.integers(lo, hi, (count, n, n))
    _, piv = H.lu_factor(a)
    _, pivs = _scipy_lu(a)
    differ = 0
    for i, p2 in enumerate(pivs):
        if (piv[i] == p2).all():
            continue
        differ += 1
        step = int(np.nonzero(piv[i] != p2)[0][0])
        measures = _exact_measures(a[i], piv[i], step)
        assert measures[piv[i][step]] == measures[p2[step]] == max(measures[step:])
    assert differ <= 0.1 * count + 2    # measured: at most 7% (n = 12), mostly none


def test_lu_tie_rules():
    """The first of equal magnitudes; for complex numbers |re| + |im|, not the modulus."""
    a = np.array([[1.0, 2], [-3, 4], [3, 5]])
    cases = [a, a.astype(np.float32),
             np.array([[1], [2 + 1j], [3j]]),          # |re|+|im| ties 3 = 3: the first
             np.array([[1], [3j], [2 + 2j]]),          # 4 > 3, though |2+2i| < |3i|
             np.array([[2], [-2], [2.0]]).repeat(3, axis=1) * [1, 2, 3]]
    for c in cases:
        lu, piv = H.lu_factor(c)
        (lu2,), (piv2,) = _scipy_lu(c)
        np.testing.assert_array_equal(piv, piv2)
        np.testing.assert_allclose(lu, lu2, rtol=1e-6, atol=0)
    assert H.lu_factor(cases[2])[1][0] == 1 and H.lu_factor(cases[3])[1][0] == 2


@pytest.mark.parametrize("dtype", DTYPES)
def test_lu_singular(dtype):
    """Zero columns, a zero matrix, low rank, equal rows: no error, no warning, SciPy's pivots
    and factors."""
    rng = np.random.default_rng(7)
    z = np.zeros((5, 5))
    zero_col = rng.standard_normal((5, 5))
    zero_col[:, 1] = 0
    zero_col2 = np.array([[0.0, 1, 2], [0, 3, 4], [0, 5, 6]])
    low_rank = rng.standard_normal((12, 2)) @ rng.standard_normal((2, 12))
    dupes = np.ones((10, 10))
    mats = [z, zero_col, zero_col2, low_rank, dupes]
    for a in mats:
        noise = a is low_rank   # past its rank, the pivots are chosen among rounding errors
        a = a.astype(dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            lu, piv = H.lu_factor(a)
        (lu2,), (piv2,) = _scipy_lu(a)
        if not noise:
            np.testing.assert_array_equal(piv, piv2)
            tol = 1e-6 if np.dtype(dtype) in (np.float32, np.complex64) else 1e-15
            np.testing.assert_allclose(lu, lu2, rtol=tol, atol=tol * np.abs(lu2).max())
        assert _backward_error(lu, piv, a) <= 10 * max(_backward_error(lu2, piv2, a), 1e-15)


def test_lu_subnormal_pivot():
    """A pivot below the smallest normal number divides (reference LAPACK's ?getrf2; SciPy's
    OpenBLAS instead leaves such a column alone, as if the pivot were zero, so that its
    P L U misses A by 0.5 here)."""
    a = np.array([[1e-310, 1.0], [5e-311, 2.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lu, piv = H.lu_factor(a)
    assert piv.tolist() == [0, 1]
    np.testing.assert_allclose(lu, [[1e-310, 1.0], [0.5, 1.5]], rtol=1e-12)
    assert _backward_error(lu, piv, a) <= 1e-15
    b = np.array([[1e-310, 1.0, 0], [-1e-310, 2.0, 1], [0, 1, 1]])
    lu, piv = H.lu_factor(np.stack([b, np.eye(3)]))   # the batched path
    assert piv[0].tolist() == [0, 1, 2] and lu[0, 1, 0] == -1.0
    assert _backward_error(lu[0], piv[0], b) <= 1e-15


def test_lu_backward_error_hard():
    """Larger and harder matrices: the backward error stays within a factor 10 of SciPy's
    (Wilkinson's matrix has growth 2^(n-1); graded columns span 20 orders of magnitude)."""
    rng = np.random.default_rng(3)
    wilk = np.eye(40) - np.tril(np.ones((40, 40)), -1)
    wilk[:, -1] = 1
    mats = [rng.standard_normal((300, 300)), rng.standard_normal((260, 150)),
            rng.standard_normal((120, 250)) + 1j * rng.standard_normal((120, 250)), wilk,
            rng.standard_normal((150, 150)) * np.logspace(-10, 10, 150), scipy.linalg.hilbert(12)]
    for a in mats:
        lu, piv = H.lu_factor(a)
        (lu2,), (piv2,) = _scipy_lu(a)
        np.testing.assert_array_equal(piv, piv2)
        assert _backward_error(lu, piv, a) <= 10 * max(_backward_error(lu2, piv2, a), 1e-16)


def test_lu_shapes_and_dtypes():
    for shape in [(0, 3, 3), (2, 0, 3), (2, 3, 0), (0, 0), (4, 0, 0)]:
        lu, piv = H.lu_factor(np.ones(shape))
        assert lu.shape == shape and lu.dtype == np.float64
        assert piv.shape == shape[:-2] + (min(shape[-2:]),) and piv.dtype == np.int64
    ints = np.array([[1, 2], [3, 4]])
    lu, piv = H.lu_factor(ints)
    assert lu.dtype == np.float64 and piv.tolist() == [1, 1]
    np.testing.assert_allclose(lu, scipy.linalg.lu_factor(ints)[0], rtol=1e-15)
    assert H.lu_factor(ints.astype(np.float16))[0].dtype == np.float32
    assert H.lu_factor(np.ones((2, 2), bool))[0].dtype == np.float64
    # non-contiguous input, the input left alone
    a = np.random.default_rng(0).standard_normal((6, 6))
    before = a.copy()
    lu, piv = H.lu_factor(a.T)
    np.testing.assert_array_equal(a, before)
    np.testing.assert_allclose(lu, scipy.linalg.lu_factor(a.T)[0], rtol=1e-13, atol=1e-15)
    with pytest.raises(ValueError):
        H.lu_factor(np.ones(3))
    with pytest.raises(TypeError):
        H.lu_factor(np.array([["a"]]))
    # inf and nan: no error and no warning (nan in the answer), on both paths
    for n in (4, 40):
        b = np.random.default_rng(1).standard_normal((n, n))
        b[1, 2], b[3, 0] = np.nan, np.inf
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            lu, _ = H.lu_factor(b)
        assert np.isnan(lu).any()


def test_lu_batch_equals_single():
    """A stack gives what its matrices give one at a time (different pivots per matrix)."""
    rng = np.random.default_rng(11)
    a = rng.standard_normal((3, 5, 20, 20))
    lu, piv = H.lu_factor(a)
    for idx in np.ndindex(3, 5):
        l1, p1 = H.lu_factor(a[idx])
        np.testing.assert_array_equal(p1, piv[idx])
        np.testing.assert_allclose(l1, lu[idx], rtol=1e-14, atol=1e-14)


# ---- expm ----------------------------------------------------------------------------------

def _mp_expm(a):
    with mpmath.workdps(40):
        r = mpmath.expm(mpmath.matrix(a.tolist()))
        return np.array([[complex(r[i, j]) for j in range(a.shape[1])]
                         for i in range(a.shape[0])])


def _rel(x, ref):
    """Normwise (1-norm) relative error."""
    return np.abs(x - ref).sum(axis=0).max() / np.abs(ref).sum(axis=0).max()


def _expm_cases():
    rng = np.random.default_rng(2024)
    cases = []
    for norm in [1e-3, 1e-2, 0.1, 0.3, 1, 2, 4.5, 10, 30, 100, 1e3]:
        for n in (2, 3, 5):
            for cplx in (False, True):
                a = _random(rng, (n, n), np.complex128 if cplx else np.float64)
                cases.append(a * (norm / np.abs(a).sum(axis=0).max()))
    t = rng.standard_normal((5, 5))
    cases += [np.triu(t, 1) * 3, np.triu(t, 1) * 100,                 # nilpotent
              np.diag([-30.0, -1, 0, 2, 20]), np.diag([1j, -2, 3 + 1j]),
              np.array([[0, -1.0], [1, 0]]), np.array([[0, -100.0], [100, 0]]),  # rotations
              np.array([[0, -3, 2.0], [3, 0, -1], [-2, 1, 0]]),
              np.array([[1, 1e8], [0, -1.0]]), np.array([[1, 0], [1e6, 2.0]]),  # huge off-diag
              np.array([[1, 1e6], [1e-6, 1.0]]), np.array([[0.5, 1e10], [0, 0.5]]),
              np.triu(t) * 10, np.tril(t) * 20, np.triu(t + 1j * t.T) * 3]
    # far from normal: [[1, 1000], [0, -1]] rotated, where the ell term decides (without it
    # the errors here are 18x and 45x SciPy's)
    for th in (0.7, 2.5):
        q = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
        cases.append(q @ np.array([[1, 1e3], [0, -1.0]]) @ q.T)
    return cases


def test_expm_accuracy_vs_mpmath_and_scipy():
    """Normwise error against mpmath at 40 digits within a factor 10 of SciPy's own (or of the
    unit roundoff where SciPy is exact); measured: at most 5.7x, median 0.27x."""
    worst = 0.0
    for a in _expm_cases():
        ref = _mp_expm(a)
        mine = _rel(H.expm(a), ref)
        theirs = _rel(scipy.linalg.expm(a), ref)
        assert mine <= 10 * max(theirs, EPS), (a, mine, theirs)
        worst = max(worst, mine / max(theirs, EPS))
    assert worst > 0    # the comparison did run


def test_expm_tiny_norms():
    """Near the identity the answer is I plus a correction computed to full relative accuracy
    (r_m = I + 2 (V - U)^-1 U): normwise errors of 1e-19, where (V - U)^-1 (V + U) is one
    rounding of the diagonal off (4e-16)."""
    rng = np.random.default_rng(12)
    for norm in (1e-4, 1e-3):
        for n in range(2, 7):
            for dtype in (np.float64, np.complex128):
                a = _random(rng, (n, n), dtype)
                a *= norm / np.abs(a).sum(axis=0).max()
                assert _rel(H.expm(a), _mp_expm(a)) <= 1e-17


def test_expm_triangular_componentwise():
    """Triangular matrices: every nonzero entry to a few ulps (the diagonal and first
    off-diagonal of each squared iterate set from their closed forms; without that, 1e-14
    here), and exact zeros on the other side of the diagonal."""
    t3 = np.array([[-5, 3e4, 1.0], [0, -20, 1e3], [0, 0, 0.5]])
    for a in [np.array([[1, 1e8], [0, -1.0]]), t3, t3.T, t3 * (1 + 0.5j),
              np.array([[0.5, 1e10], [0, 0.5]])]:
        ref = _mp_expm(a)
        x = H.expm(a)
        nz = np.abs(ref) > 0
        assert (x[~nz] == 0).all()
        assert (np.abs(x - ref)[nz] / np.abs(ref)[nz]).max() <= 1e-15


def test_expm_selection_matches_scipy():
    """Degree m and scaling s equal SciPy's choice (the same published algorithm) on random
    matrices of norms 1e-3..1e3 and on far-from-normal ones (SciPy's private helper: skipped
    where it is missing)."""
    try:
        from scipy.linalg._matfuncs_expm import pick_pade_structure
    except ImportError:
        pytest.skip("scipy.linalg._matfuncs_expm.pick_pade_structure not available")
    rng = np.random.default_rng(8)
    mats = []
    for t in range(300):
        n = int(rng.integers(2, 9))
        a = rng.standard_normal((n, n)) * 10 ** rng.uniform(-3, 3)
        if t % 3 == 0:
            a = np.triu(a, -1) + np.triu(a, 2) * 10 ** rng.uniform(0, 4)
        mats.append(a)
    for a in mats:
        n = a.shape[0]
        work = np.empty((5, n, n))
        work[0] = a
        m, s = pick_pade_structure(work)
        degree, scale, _ = H._choose(a[None].copy(), H._norm1(a[None]))
        assert (int(degree[0]), int(scale[0])) == (m, s), a


def test_expm_batch_mixed():
    """A stack with every kind of matrix (diagonal, upper and lower triangular, small and large
    norms, far from normal, nan) gives what SciPy gives per matrix, and what each gives on its
    own."""
    rng = np.random.default_rng(5)
    mats = []
    for norm in (1e-3, 0.2, 0.9, 2, 50, 300):
        a = rng.standard_normal((4, 4))
        mats.append(a * norm / np.abs(a).sum(axis=0).max())
    mats += [np.diag([1.0, -2, 3, 0]), np.triu(rng.standard_normal((4, 4))) * 30,
             np.tril(rng.standard_normal((4, 4))) * 30, np.zeros((4, 4)),
             np.array([[1, 1e6, 0, 0], [1e-6, 1, 0, 0], [0, 0, 0, 1], [0, 0, -1, 0]]),
             np.full((4, 4), np.nan)]
    stack = np.array(mats).reshape(2, 6, 4, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = H.expm(stack)
    assert out.shape == stack.shape and out.dtype == np.float64
    for idx in np.ndindex(2, 6):
        a = stack[idx]
        if np.isnan(a).any():
            assert np.isnan(out[idx]).all()
            continue
        np.testing.assert_allclose(out[idx], H.expm(a), rtol=1e-14, atol=0)
        assert _rel(out[idx], scipy.linalg.expm(a)) <= 1e-12


@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
def test_expm_single_precision(dtype):
    """float32 / complex64: computed in double and rounded, so within a float32 rounding of
    the exact exponential of the (float32) input, normwise; SciPy's own float32 answer is
    also compared (it computes in float32: a few float32 ulps)."""
    rng = np.random.default_rng(9)
    a = _random(rng, (20, 4, 4), dtype) * np.logspace(-2, 1.5, 20).astype(np.float32)[:, None,
                                                                                         None]
    out = H.expm(a)
    assert out.dtype == dtype
    for i in range(len(a)):
        ref = _mp_expm(a[i].astype(np.complex128))
        assert _rel(out[i], ref) <= 1.0 * np.finfo(np.float32).eps
        assert _rel(out[i], ref) <= 10 * max(_rel(scipy.linalg.expm(a[i]), ref),
                                             np.finfo(np.float32).eps)


def test_expm_shapes_and_special_values():
    assert H.expm(np.zeros((0, 0), np.int64)).dtype == np.float64
    assert H.expm(np.zeros((3, 0, 0), np.float32)).shape == (3, 0, 0)
    assert H.expm(np.zeros((0, 2, 2), np.complex64)).dtype == np.complex64
    one = H.expm(np.array([[[1.0]], [[-2.0]]]))
    np.testing.assert_array_equal(one, np.exp([[[1.0]], [[-2.0]]]))
    ints = np.array([[1, 2], [3, 4]])
    assert H.expm(ints).dtype == np.float64
    # SciPy is off by 5e-14 here, this module by 2e-15 (mpmath)
    np.testing.assert_allclose(H.expm(ints), scipy.linalg.expm(ints), rtol=1e-12)
    np.testing.assert_array_equal(H.expm(np.zeros((3, 3))), np.eye(3))
    np.testing.assert_array_equal(H.expm(np.diag([0.0, 1.0])), np.diag([1, np.e]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(H.expm(np.array([[1.0, np.inf], [2, 1]]))).all()
        assert np.isnan(H.expm(np.array([[1.0, np.nan], [0, 1]]))).all()
        assert np.isinf(H.expm(np.array([[800.0, 1], [2, 1]]))).all()   # overflows
        np.testing.assert_array_equal(H.expm(np.array([[0, 1e200], [0, 0.0]])),
                                      [[1, 1e200], [0, 1]])
    for bad in (np.ones(3), np.ones((2, 3))):
        with pytest.raises(np.linalg.LinAlgError):
            H.expm(bad)
    with pytest.raises(TypeError):
        H.expm(np.array([["a", "b"], ["c", "d"]]))
    assert H.NAMES == ("lu_factor", "expm")


def test_expm_identities():
    """exp(A) exp(-A) = I; exp of a skew-symmetric matrix is orthogonal; a rotation."""
    rng = np.random.default_rng(4)
    a = rng.standard_normal((6, 6))
    np.testing.assert_allclose(H.expm(a) @ H.expm(-a), np.eye(6), atol=1e-12)
    s = a - a.T
    q = H.expm(s)
    np.testing.assert_allclose(q @ q.T, np.eye(6), atol=1e-13)
    t = 0.7
    np.testing.assert_allclose(H.expm(np.array([[0, -t], [t, 0]])),
                               [[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]], atol=1e-16)


def test_expm_constants():
    """theta_m and c_{2m+1} recomputed from the Pade approximants' backward error series."""
    for m, (theta, c) in H._series_check(nterms=120, dps=40).items():
        assert theta == pytest.approx(H._THETA[m], rel=1e-14)
        assert np.log2(abs(c)) == pytest.approx(H._LOG2_C[m], rel=1e-14)
