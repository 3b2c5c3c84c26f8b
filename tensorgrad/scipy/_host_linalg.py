"""Two of ``scipy.linalg``'s functions in pure NumPy, batched over leading axes, for when SciPy
is not installed: ``lu_factor`` and ``expm``.

``lu_factor(a)``: Gaussian elimination with partial pivoting on every matrix of a (..., m, n)
stack at once, in LAPACK ``?getrf``'s packed layout (L's strict lower triangle, unit diagonal
implied, and U on and above the diagonal) with 0-based pivots ``piv`` (row ``i`` was swapped
with row ``piv[i]`` at step ``i``). The pivot of step k is LAPACK's: the first row holding the
largest ``|a_ik|`` (real) or ``|re a_ik| + |im a_ik|`` (complex, BLAS's ``i?amax`` measure),
so on the same input the pivots are SciPy's and PyTorch's, up to exact ties that the different
evaluation orders round apart. A zero pivot is no error: that column is left unscaled and
elimination goes on, as LAPACK does; the column below a pivot is multiplied by the pivot's
reciprocal, or divided by a pivot below the smallest normal number (LAPACK's rule). The
elimination is recursive over columns, as LAPACK's ``?getrf2``: factor the left half of the
columns, solve for the right half's top rows with the left half's unit lower triangle, update
the rest of the right half by one matrix product (BLAS's GEMM), factor the right half. Blocks of
at most ``_LEAF`` columns are eliminated one column at a time (pivot search, whole-row swap,
scaling and a rank-1 update of the block, for every matrix of the stack at once); the
triangular solves recurse the same way down to ``_TRSM_LEAF`` rows, where they multiply by the
inverse of the diagonal block (``np.linalg.inv`` of a unit lower triangle is forward
substitution, done by LAPACK).

``expm(a)``: scaling and squaring with diagonal Pade approximants r_m = q_m \\ p_m (N. J.
Higham, "The scaling and squaring method for the matrix exponential revisited", SIAM J. Matrix
Anal. Appl. 26(4), 2005), with the degree m and scaling s chosen as in its revision by A. H.
Al-Mohy and N. J. Higham ("A new scaling and squaring algorithm for the matrix exponential",
SIAM J. Matrix Anal. Appl. 31(3), 2009, Algorithm 5.1), which SciPy also follows: instead of
Higham 2005's ||A||_1 the choice compares eta = max(||A^k||^(1/k), ||A^(k+2)||^(1/(k+2)))
(exact 1-norms of the powers A^2 .. A^10, most of which the approximant needs anyway) with
Higham 2005's theta_m for m = 3, 5, 7, 9 (recomputed by ``_series_check``) and with
theta_13 = 4.25, and adds ell(A, m) = max(0, ceil(log2(alpha / 2^-53) / 2m)) squarings with
alpha = |c_{2m+1}| || |A|^(2m+1) ||_1 / ||A||_1 (c_{2m+1} = (m!)^2 / ((2m)! (2m+1)!) the
backward error series' first coefficient), so that a far-from-normal matrix (say
[[1, 1e6], [1e-6, 1]]) is not scaled by 2^18 where 2^1 does. Each matrix of a stack gets its
own m and s: the stack is grouped by m, and the squarings run on the matrices that still need
them. r_m = I + 2 (V - U)^-1 U with U = A times the odd part of p_m and V its even part,
evaluated with Higham's schemes (powers A^2, A^4, A^6, A^8; Horner-like in A^6 for m = 13).
A diagonal matrix gets the exponential of its diagonal; for a triangular one the diagonal and
first off-diagonal of every squared iterate are replaced by their exact values (Al-Mohy and
Higham 2009, section 2: exp(x_i) and 2^-t a_ij exp((x_i + x_j)/2) sinh(d)/d with x = 2^-t a_ii,
d = (x_i - x_j)/2, j = i + 1); a lower triangular matrix is transposed to an upper one and
back. float32 and complex64 input is computed in float64 / complex128 and rounded.
"""

import math
from fractions import Fraction

import numpy as np

NAMES = ("lu_factor", "expm")

# ---- lu_factor ---------------------------------------------------------------------------------

_LEAF = 8          # column blocks up to this width are eliminated one column at a time
_TRSM_LEAF = 32    # triangular solves up to this order multiply by the block's inverse


def _lu_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype in (np.float32, np.float64, np.complex64, np.complex128):
        return dtype
    if dtype == np.float16:
        return np.dtype(np.float32)
    if dtype.kind in "biu":
        return np.dtype(np.float64)
    raise TypeError(f"unsupported dtype {dtype}")


class _LU:
    """The state of one factorization of the stack w (B, m, n), in place."""

    def __init__(self, w, piv):
        self.w, self.piv = w, piv
        self.m = w.shape[1]
        self.cplx = w.dtype.kind == "c"
        self.sfmin = np.finfo(w.dtype).tiny
        self.bidx = np.arange(w.shape[0])
        self.inverses = {}

    def _measure(self, col):
        if self.cplx:
            return np.abs(col.real) + np.abs(col.imag)
        return np.abs(col)

    def steps(self, j0, j1):
        """Steps j0..j1-1 of the elimination: pivot search in column j, whole-row swap, the
        column below the pivot scaled, and a rank-1 update of rows j+1.. in columns up to j1."""
        if self.w.shape[0] == 1:
            return self._steps_one(j0, j1)
        w, piv, bidx, m = self.w, self.piv, self.bidx, self.m
        for j in range(j0, j1):
            p = self._measure(w[:, j:, j]).argmax(axis=1)   # the first of equal maxima
            p += j
            piv[:, j] = p
            if (p != j).any():
                rows = w[bidx, p]
                w[bidx, p] = w[:, j]
                w[:, j] = rows
            if j + 1 == m:
                break
            pivot = w[:, j, j]
            below = w[:, j + 1:, j]
            apiv = np.abs(pivot)
            if apiv.min() >= self.sfmin:
                below *= (1 / pivot)[:, None]
            else:
                big = apiv >= self.sfmin
                # a zero pivot (the column is zero) leaves the column alone; below the
                # smallest normal number, divide rather than multiply by the reciprocal
                below *= np.divide(1, pivot, out=np.ones_like(pivot), where=big)[:, None]
                small = ~big & (apiv != 0)
                if small.any():
                    w[small, j + 1:, j] = w[small, j + 1:, j] / pivot[small, None]
            if j + 1 < j1:
                w[:, j + 1:, j + 1:j1] -= below[:, :, None] * w[:, j, None, j + 1:j1]

    def _steps_one(self, j0, j1):
        w, piv, m = self.w[0], self.piv[0], self.m
        for j in range(j0, j1):
            p = int(self._measure(w[j:, j]).argmax()) + j
            piv[j] = p
            if p != j:
                row = w[j].copy()
                w[j] = w[p]
                w[p] = row
            if j + 1 == m:
                break
            pivot = w[j, j]
            below = w[j + 1:, j]
            apiv = abs(pivot)
            if apiv >= self.sfmin:
                below *= 1 / pivot
            elif apiv != 0:
                below /= pivot
            if j + 1 < j1:
                w[j + 1:, j + 1:j1] -= np.multiply.outer(below, w[j, j + 1:j1])

    def factor(self, j0, j1):
        """Factors columns j0..j1-1 (rows j0..), columns left of j0 done: recursively, the
        left half, then the right half's rows j0..h by a triangular solve, the rest of the
        right half by one matrix product, then the right half itself."""
        if j1 - j0 <= _LEAF:
            self.steps(j0, j1)
            return
        h = j0 + (j1 - j0) // 2
        self.factor(j0, h)
        self.trsm(j0, h, h, j1)
        w = self.w
        w[:, h:, h:j1] -= w[:, h:, j0:h] @ w[:, j0:h, h:j1]
        self.factor(h, j1)

    def trsm(self, r0, r1, c0, c1):
        """Rows r0..r1-1 of columns c0..c1-1 := L^-1 times themselves, L the unit lower
        triangle of w[r0:r1, r0:r1]; recursively, with explicit inverses of the small diagonal
        blocks (LAPACK's inverse of a unit lower triangle is forward substitution)."""
        w = self.w
        if r1 - r0 <= _TRSM_LEAF:
            inv = self.inverses.get((r0, r1))
            if inv is None:
                low = np.tril(w[:, r0:r1, r0:r1], -1)
                i = np.arange(r1 - r0)
                low[:, i, i] = 1
                inv = self.inverses[r0, r1] = _inv_unit_lower(low)
            w[:, r0:r1, c0:c1] = inv @ w[:, r0:r1, c0:c1]
            return
        h = r0 + (r1 - r0) // 2
        self.trsm(r0, h, c0, c1)
        w[:, h:r1, c0:c1] -= w[:, h:r1, r0:h] @ w[:, r0:h, c0:c1]
        self.trsm(h, r1, c0, c1)


def _inv_unit_lower(low):
    """The inverses of the unit lower triangular stack low (B, t, t)."""
    try:
        return np.linalg.inv(low)
    except np.linalg.LinAlgError:
        # only with inf / nan in the input: forward substitution on the identity instead
        t = low.shape[-1]
        x = np.broadcast_to(np.eye(t, dtype=low.dtype), low.shape).copy()
        for j in range(t - 1):
            x[:, j + 1:] -= low[:, j + 1:, j, None] * x[:, j, None, :]
        return x


def lu_factor(a):
    """LU factorization with partial pivoting of every matrix of ``a`` (..., m, n), as
    ``scipy.linalg.lu_factor`` on each: ``(lu, piv)`` with ``lu`` of a's shape and dtype
    (integers: float64, float16: float32) in LAPACK's packed layout and ``piv`` int64
    (..., min(m, n)), 0-based row interchanges. A singular matrix gives a zero on U's diagonal,
    no error and no warning."""
    a = np.asarray(a)
    if a.ndim < 2:
        raise ValueError("lu_factor: expected an array of at least two dimensions")
    try:
        dtype = _lu_dtype(a.dtype)
    except TypeError as e:
        raise TypeError(f"lu_factor: {e}") from None
    batch, (m, n) = a.shape[:-2], a.shape[-2:]
    k = min(m, n)
    w = np.array(a, dtype=dtype, order="C", copy=True).reshape((math.prod(batch), m, n))
    piv = np.zeros((w.shape[0], k), dtype=np.int64)
    if w.shape[0] and k:
        with np.errstate(all="ignore"):
            lu = _LU(w, piv)
            lu.factor(0, k)
            if n > k:
                lu.trsm(0, k, k, n)
    return w.reshape(a.shape), piv.reshape(batch + (k,))


# ---- expm --------------------------------------------------------------------------------------

# theta_m: the largest eta for which r_m's backward error bound is the unit roundoff 2^-53
# (Higham 2005, Table 2.3; recomputed by _series_check); for m = 13 Al-Mohy and Higham (2009)
# take theta_13 = 4.25 with their eta-based choice of s (as SciPy does).
_THETA = {3: 1.495585217958292e-2, 5: 2.539398330063230e-1, 7: 9.504178996162932e-1,
          9: 2.097847961257068e0, 13: 5.371920351148152e0}
_THETA13 = 4.25


def _pade_coefficients(m):
    """b_j of p_m(x) = sum_j b_j x^j, q_m(x) = p_m(-x): b_j = (2m-j)! m! / ((2m)! j! (m-j)!)."""
    f = math.factorial
    return [float(Fraction(f(2 * m - j) * f(m), f(2 * m) * f(j) * f(m - j)))
            for j in range(m + 1)]


_PADE = {m: _pade_coefficients(m) for m in _THETA}
# log2 |c_{2m+1}|, c_{2m+1} = +-(m!)^2 / ((2m)! (2m+1)!) the first coefficient of
# h_{2m+1}(x) = log(e^-x r_m(x)) (checked against the series by _series_check)
_LOG2_C = {m: math.log2(Fraction(math.factorial(m) ** 2,
                                 math.factorial(2 * m) * math.factorial(2 * m + 1)))
           for m in _THETA}


def _norm1(x):
    return np.abs(x).sum(axis=-2).max(axis=-1)


def _log2_abs_power_norms(a, norm, ks):
    """{k: log2 || |a|^k ||_1} for the stack a (B, n, n) with 1-norms ``norm`` and k in ks
    (increasing): a nonnegative matrix's 1-norm is the largest entry of e^T times it, so a chain
    of vector-matrix products, with |a| scaled by a power of 2 to a 1-norm below 1 so that
    nothing overflows."""
    expo = np.frexp(norm)[1]
    b = np.abs(a) * np.ldexp(1.0, -expo)[:, None, None]
    v = b.sum(axis=-2, keepdims=True)
    out = {}
    for k in range(2, ks[-1] + 1):
        v = v @ b
        if k in ks:
            out[k] = np.log2(v.max(axis=(1, 2))) + k * expo
    return out


def _ell(log2_abs, log2_norm, m, s=0):
    """Al-Mohy and Higham's (2009) extra squarings for r_m on 2^-s A: ell = max(0,
    ceil(log2(alpha / 2^-53) / (2m))), alpha = |c_{2m+1}| || |B|^(2m+1) ||_1 / ||B||_1 with
    B = 2^-s A; zero unless A is far from normal."""
    return np.maximum(np.ceil((_LOG2_C[m] + log2_abs - log2_norm + 53 - 2 * m * s) / (2 * m)), 0)


def _pade(a, even, m):
    """r_m(a) for a stack a (B, n, n), even = [a^2, a^4, ...] as far as needed; as
    I + 2 (V - U)^-1 U, which equals (V - U)^-1 (V + U) and keeps the I out of the rounding."""
    b = _PADE[m]
    eye = np.eye(a.shape[-1], dtype=a.dtype)
    if m == 13:
        a2, a4, a6 = even[:3]
        u = a @ (a6 @ (b[13] * a6 + b[11] * a4 + b[9] * a2)
                 + b[7] * a6 + b[5] * a4 + b[3] * a2 + b[1] * eye)
        v = a6 @ (b[12] * a6 + b[10] * a4 + b[8] * a2) + b[6] * a6 + b[4] * a4 + b[2] * a2 \
            + b[0] * eye
    else:
        powers = [eye] + even[:(m - 1) // 2]
        u = a @ sum(b[2 * i + 1] * p for i, p in enumerate(powers))
        v = sum(b[2 * i] * p for i, p in enumerate(powers))
    return eye + 2 * np.linalg.solve(v - u, u)


def _choose(x, norm):
    """Al-Mohy and Higham (2009), Algorithm 5.1, with exact norms of the powers (which the
    approximants need anyway), for every matrix of the stack x: (degree, s, even powers)."""
    # eta_k = max(d_k, d_(k+2)) with d_k = ||A^k||^(1/k) <= ||A|| (fmin: ||A|| where a power
    # overflowed to inf or nan, past norms of 1e51)
    a2 = x @ x
    a4 = a2 @ a2
    a6 = a4 @ a2
    d4 = np.fmin(_norm1(a4) ** 0.25, norm)
    d6 = np.fmin(_norm1(a6) ** (1 / 6), norm)
    eta1 = np.maximum(d4, d6)
    log2_norm = np.log2(norm)
    abs_norms = _log2_abs_power_norms(x, norm, (7, 11, 15, 19, 27))
    ell = {m: _ell(abs_norms[2 * m + 1], log2_norm, m) for m in (3, 5, 7, 9)}
    degree = np.full(len(x), 13)
    s = np.zeros(len(x), dtype=np.int64)
    pick5 = (eta1 <= _THETA[5]) & (ell[5] == 0)
    degree[pick5] = 5
    pick3 = (eta1 <= _THETA[3]) & (ell[3] == 0)
    degree[pick3] = 3
    a8 = np.zeros_like(a2)
    rest = np.nonzero(~(pick3 | pick5))[0]
    if rest.size:
        a8[rest] = a4[rest] @ a4[rest]
        d8 = np.fmin(_norm1(a8[rest]) ** 0.125, norm[rest])
        eta3 = np.maximum(d6[rest], d8)
        pick9 = (eta3 <= _THETA[9]) & (ell[9][rest] == 0)
        pick7 = (eta3 <= _THETA[7]) & (ell[7][rest] == 0)
        degree[rest[pick9]] = 9
        degree[rest[pick7]] = 7
        r13 = ~(pick7 | pick9)
        big = rest[r13]
        if big.size:
            d10 = np.fmin(_norm1(a4[big] @ a6[big]) ** 0.1, norm[big])
            eta5 = np.minimum(eta3[r13], np.maximum(d8[r13], d10))
            # s = max(0, ceil(log2(eta5 / theta13))) exactly: frexp's mantissa is in [1/2, 1)
            frac, expo = np.frexp(eta5 / _THETA13)
            sb = np.maximum(np.where(frac == 0.5, expo - 1, expo), 0).astype(np.int64)
            sb += _ell(abs_norms[27][big], log2_norm[big], 13, sb).astype(np.int64)
            s[big] = sb
    return degree, s, [a2, a4, a6, a8]


def _fix_triangle(x, diag, sup, t):
    """Sets the diagonal and superdiagonal of x (B, n, n), upper triangular approximations of
    exp(2^-t T), to their exact values from T's diagonal ``diag`` and superdiagonal ``sup``;
    t (B,) integers."""
    scale = np.ldexp(1.0, -t)[:, None]
    d = diag * scale
    n = x.shape[-1]
    i = np.arange(n)
    x[:, i, i] = np.exp(d)
    half = (d[:, :-1] - d[:, 1:]) / 2
    zero = half == 0
    sinhc = np.where(zero, 1, np.sinh(half) / np.where(zero, 1, half))
    x[:, i[:-1], i[1:]] = sup * scale * np.exp((d[:, :-1] + d[:, 1:]) / 2) * sinhc


def _expm_group(a, even, m, s, tri):
    """exp of the stack a (B, n, n) with Pade degree m and scalings s (B,), even = [a^2, a^4,
    ...] of the unscaled a; tri (B,) marks the upper triangular matrices."""
    if s.any():
        scale = np.ldexp(1.0, -s)[:, None, None]
        x = _pade(a * scale, [p * scale ** (2 * k + 2) for k, p in enumerate(even[:3])], m)
    else:
        x = _pade(a, even, m)
    anytri = tri.any()
    i = np.arange(a.shape[-1])
    if anytri:
        diag, sup = a[:, i, i][tri], a[:, i[:-1], i[1:]][tri]
        xt = x[tri]
        _fix_triangle(xt, diag, sup, s[tri])
        x[tri] = xt
    for r in range(int(s.max(initial=0))):
        sel = s > r
        if sel.all():
            x = x @ x
        else:
            xs = x[sel]
            x[sel] = xs @ xs
        fix = sel & tri
        if fix.any():
            xt = x[fix]
            _fix_triangle(xt, a[:, i, i][fix], a[:, i[:-1], i[1:]][fix], s[fix] - r - 1)
            x[fix] = xt
    if anytri:
        x[tri] = np.triu(x[tri])
    return x


def expm(a):
    """The matrix exponential of every matrix of ``a`` (..., n, n), as ``scipy.linalg.expm``:
    same shape; float32 / complex64 in, float32 / complex64 out; integers give float64. A matrix
    with a nan or inf entry gives all nan."""
    a = np.asarray(a)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise np.linalg.LinAlgError("expm: expected an array (..., n, n) of square matrices")
    try:
        dtype = _lu_dtype(a.dtype)
    except TypeError as e:
        raise TypeError(f"expm: {e}") from None
    work = np.complex128 if dtype.kind == "c" else np.float64
    n = a.shape[-1]
    if a.size == 0:
        return np.empty(a.shape, dtype)
    if n == 1:
        with np.errstate(all="ignore"):
            return np.exp(a.astype(dtype))
    x = np.array(a, dtype=work, copy=True).reshape((-1, n, n))
    out = np.empty_like(x)
    i = np.arange(n)
    with np.errstate(all="ignore"):
        upper = (np.tril(x, -1) == 0).all(axis=(-2, -1))
        lower = (np.triu(x, 1) == 0).all(axis=(-2, -1))
        diag = upper & lower
        flip = lower & ~upper
        if flip.any():
            x[flip] = np.swapaxes(x[flip], -1, -2)
        if diag.any():
            out[diag] = 0
            out[np.nonzero(diag)[0][:, None], i, i] = np.exp(x[diag][:, i, i])
        norm = _norm1(x)
        bad = ~np.isfinite(norm)
        out[bad] = np.nan
        todo = np.nonzero(~(diag | bad))[0]
        if todo.size:
            xs, tri = x[todo], (upper | lower)[todo]
            degree, s, even = _choose(xs, norm[todo])
            for m in (3, 5, 7, 9, 13):
                sel = degree == m
                if sel.any():
                    out[todo[sel]] = _expm_group(xs[sel], [p[sel] for p in even], m, s[sel],
                                                 tri[sel])
        if flip.any():
            out[flip] = np.swapaxes(out[flip], -1, -2)
    return out.astype(dtype, copy=False).reshape(a.shape)


def _series_check(nterms=150, dps=60):
    """Recomputes {m: (theta_m, c_{2m+1})} with mpmath (Higham 2005, section 2): r_m(A) =
    exp(A + dA) with dA = h(A), h(x) = log(e^-x r_m(x)) = sum_{k >= 2m+1} c_k x^k, so that
    ||dA|| / ||A|| <= sum_k |c_k| theta^(k-1) for ||A|| <= theta; theta_m solves
    sum_k |c_k| theta^(k-1) = 2^-53 (the series to ``nterms`` terms, 150 as in the paper)."""
    import mpmath

    with mpmath.workdps(dps):
        f = mpmath.factorial

        def mul(p, q):
            return [mpmath.fsum(p[i] * q[k - i] for i in range(k + 1)) for k in range(nterms)]

        def inv(q):
            r = [1 / q[0]]
            for k in range(1, nterms):
                r.append(-mpmath.fsum(q[i] * r[k - i] for i in range(1, k + 1)) / q[0])
            return r

        out = {}
        for m in _THETA:
            p = [f(2 * m - j) * f(m) / (f(2 * m) * f(j) * f(m - j)) for j in range(m + 1)]
            p += [mpmath.mpf(0)] * (nterms - m - 1)
            q = [(-1) ** j * c for j, c in enumerate(p)]
            g = mul(mul(p, inv(q)), [(-1) ** k / f(k) for k in range(nterms)])  # e^-x r_m(x)
            dg = [(k + 1) * g[k + 1] for k in range(nterms - 1)] + [mpmath.mpf(0)]
            ratio = mul(dg, inv(g))   # (log g)' = g' / g
            c = [mpmath.mpf(0)] + [ratio[k - 1] / k for k in range(1, nterms)]

            def excess(t, c=c, m=m):
                return mpmath.fsum(abs(c[k]) * t ** (k - 1)
                                   for k in range(2 * m + 1, nterms)) - mpmath.mpf(2) ** -53

            theta = mpmath.findroot(excess, (_THETA[m] * 0.9, _THETA[m] * 1.1),
                                    solver="anderson")
            out[m] = (float(theta), float(c[2 * m + 1]))
        return out


if __name__ == "__main__":
    for m, (theta, c) in _series_check().items():
        print(f"m = {m:2d}: theta_m = {theta!r} (table: {_THETA[m]!r}), "
              f"log2 |c_(2m+1)| = {math.log2(abs(c))!r} (formula: {_LOG2_C[m]!r})")
