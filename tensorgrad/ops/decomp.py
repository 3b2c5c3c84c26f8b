"""Linear-algebra primitives: inv, det, log|det|, solve, cholesky, eigh, eigvalsh, eig,
eigvals, svd, svdvals, pinv. Batched over leading axes ``(..., m, n)`` as NumPy is.

Complex inputs follow HIPS autograd's convention (the VJP of a holomorphic map is its
transpose, no conjugate; in general the pairing is Re sum(g * dx)). cholesky differentiates
symmetric (Hermitian) inputs as the function ``A -> f((A + A^H) / 2)`` (a Hermitian
gradient). eigh and eigvalsh differentiate NumPy's function itself, which reads one triangle
(``UPLO``) and the real part of the diagonal: the gradient lives on that triangle.
Decompositions that return several arrays are one primitive whose answer packs them into one
array (one node, one factorization).
"""


import math
from collections import namedtuple

import numpy as _np

from ..backend.device import xp_of
from ..tensor import Tensor, _raw
from .elementwise import astype, conjugate, imag, real
from .index import getitem
from .linalg import matmul
from .reduce import sum as _sum
from .registry import defjvp, defvjp, primitive
from .shape import concatenate_, expand_dims, reshape, squeeze, swapaxes

SlogdetResult = namedtuple("SlogdetResult", ["sign", "logabsdet"])
EighResult = namedtuple("EighResult", ["eigenvalues", "eigenvectors"])
EigResult = namedtuple("EigResult", ["eigenvalues", "eigenvectors"])
SVDResult = namedtuple("SVDResult", ["U", "S", "Vh"])


def _mT(x):
    return swapaxes(x, -1, -2)


# Sizes spelled out: reshape cannot infer a -1 next to a zero-size dimension (an empty batch, a
# 0 x n matrix), which the packed decompositions meet.
def _ravel_tail(x, k=2):
    """x (..., *core) with its last k dims raveled into one: (..., prod(core)). Arrays or
    Tensors."""
    shape = tuple(x.shape)
    return x.reshape(shape[:-k] + (math.prod(shape[-k:]),))


def _flat_batch(x, k=2):
    """x (..., *core) as (B, *core), core its last k dims, B the batch size (0 allowed)."""
    shape = tuple(x.shape)
    return x.reshape((math.prod(shape[:-k]),) + shape[-k:])


def _herm(x):
    """The Hermitian part of x (the symmetric part of a real x)."""
    return (x + _mH(x)) * 0.5


def _trace_of_product(x, y):
    """trace(x @ y) over the last two axes, without forming the product."""
    nd = max(x.ndim, y.ndim)
    return _sum(_mT(x) * y, (nd - 2, nd - 1), False)


def _as_matrix_scalar(s):
    return reshape(s, tuple(s.shape) + (1, 1))


# ---- inv ---------------------------------------------------------------------------------
@primitive
def inv(a):
    return xp_of(a).linalg.inv(a)


defvjp(inv, lambda g, ans, a: -matmul(matmul(_mT(ans), g), _mT(ans)))
defjvp(inv, lambda t, ans, a: -matmul(matmul(ans, t), ans))


# ---- det and log|det| --------------------------------------------------------------------
@primitive
def det(a):
    return xp_of(a).linalg.det(a)


def _singular(ans):
    """Is any determinant in ``ans`` exactly 0 (an LU pivot was 0: no inverse)? A host read."""
    raw = _raw(ans)
    return bool(xp_of(raw).any(raw == 0))


def _cofactor(a):
    """The cofactor matrix of ``a`` (the transpose of its adjugate: det(a) a^-T where a is
    invertible), for singular matrices too. Raw arrays (a first derivative): from the SVD,
    a = U S Vh gives adj(a) = det(U) det(Vh) Vh^H diag(prod_{j != i} s_j) U^H. On the tape
    (derivatives of derivatives): from the determinants of the (n-1) x (n-1) minors, the
    polynomial itself, differentiable again (O(n^5): only reached for singular matrices)."""
    n = a.shape[-1]
    if n == 1:
        return _raw_or_tensor_ones(a)
    if not isinstance(a, Tensor):
        xp = xp_of(a)
        u, s, vh = _la(a, "svd")(a)
        from .reduce import _prod_others

        p = _prod_others(s, (s.ndim - 1,)).astype(a.dtype)
        phase = (xp.linalg.det(u) * xp.linalg.det(vh))[..., None, None]
        adj = phase * ((xp.conj(vh).swapaxes(-1, -2) * p[..., None, :])
                       @ xp.conj(u).swapaxes(-1, -2))
        return adj.swapaxes(-1, -2)
    keep = _np.array([[j for j in range(n) if j != i] for i in range(n)])
    rows = keep[:, None, :, None]
    cols = keep[None, :, None, :]
    minors = getitem(a, (Ellipsis, rows, cols))  # (..., n, n, n - 1, n - 1)
    sign = (-1.0) ** _np.add.outer(_np.arange(n), _np.arange(n))
    return det(minors) * xp_of(_raw(a)).asarray(sign, dtype=a.dtype)


def _raw_or_tensor_ones(a):
    raw = _raw(a)
    return xp_of(raw).ones(raw.shape, dtype=raw.dtype)


# The inverse where every matrix is invertible; at a singular one (PyTorch's too) the cofactor
# matrix, the derivative of the polynomial det, which the inverse cannot give (it raised)
defvjp(det, lambda g, ans, a: _as_matrix_scalar(g) * _cofactor(a) if _singular(ans)
       else _as_matrix_scalar(g * ans) * _mT(inv(a)))
defjvp(det, lambda t, ans, a: _sum(_cofactor(a) * t, (a.ndim - 2, a.ndim - 1), False)
       if _singular(ans) else ans * _trace_of_product(inv(a), t))


@primitive
def logabsdet(a):
    """log|det(a)|, the second half of NumPy's slogdet."""
    return xp_of(a).linalg.slogdet(a)[1]


def _logabsdet_jvp(t, ans, a):
    d = _trace_of_product(inv(a), t)
    return real(d) if d.dtype.kind == "c" else d


defvjp(logabsdet, lambda g, ans, a: _as_matrix_scalar(g) * _mT(inv(a)))
defjvp(logabsdet, _logabsdet_jvp)


@primitive
def detsign(a):
    """det(a) / |det(a)| of a complex a (0 if singular), the first half of NumPy's slogdet."""
    xp = xp_of(a)
    return xp.asarray(xp.linalg.slogdet(a)[0])


# d sign = i sign Im(tr(a^-1 da)); with Im(z) = Re(-i z) its transpose under Re sum(g * da) is
# -i Re(i g sign) a^-T
defvjp(detsign, lambda g, ans, a: _as_matrix_scalar(real(1j * g * ans)) * (-1j * _mT(inv(a))))
defjvp(detsign, lambda t, ans, a: ans * (1j * imag(_trace_of_product(inv(a), t))))


def slogdet(a):
    """NumPy's slogdet: ``(sign, logabsdet)``; ``logabsdet`` carries a derivative, and so does
    the sign of a complex ``a`` (a real one's is constant)."""
    if not isinstance(a, Tensor):
        return xp_of(a).linalg.slogdet(a)
    if a.data.dtype.kind == "c":
        return SlogdetResult(detsign(a), logabsdet(a))
    from ..tensor import _new_tensor

    sign = xp_of(a.data).linalg.slogdet(a.data)[0]
    return SlogdetResult(_new_tensor(sign, None, False), logabsdet(a))


# ---- solve -------------------------------------------------------------------------------
@primitive
def solve(a, b):
    return xp_of(a).linalg.solve(a, b)


def _solve_vec(a, v):
    """a^-1 v for a stack of vectors v (..., n), whatever NumPy's rule for b's rank says."""
    return squeeze(solve(a, expand_dims(v, -1)), -1)


def _solve_like(a, v, b):
    return _solve_vec(a, v) if b.ndim == 1 else solve(a, v)


def _solve_vjp_a(g, ans, a, b):
    gb = _solve_like(_mT(a), g, b)
    if b.ndim == 1:
        return -(expand_dims(gb, -1) * expand_dims(ans, -2))
    return -matmul(gb, _mT(ans))


def _solve_jvp_a(t, ans, a, b):
    if b.ndim == 1:
        return -_solve_vec(a, squeeze(matmul(t, expand_dims(ans, -1)), -1))
    return -solve(a, matmul(t, ans))


defvjp(solve, _solve_vjp_a, lambda g, ans, a, b: _solve_like(_mT(a), g, b))
defjvp(solve, _solve_jvp_a, lambda t, ans, a, b: _solve_like(a, t, b))


# ---- cholesky ----------------------------------------------------------------------------
@primitive
def cholesky(a):
    return xp_of(a).linalg.cholesky(a)


def _phi(x):
    """The lower triangle of x with its diagonal halved."""
    raw = _raw(x)
    xp = xp_of(raw)
    n = raw.shape[-1]
    mask = xp.tril(xp.ones((n, n), dtype=raw.dtype)) - 0.5 * xp.eye(n, dtype=raw.dtype)
    return x * mask


def _cholesky_vjp(g, ans, a):
    # Iain Murray, "Differentiation of the Cholesky decomposition" (arXiv:1602.07527), with
    # conjugate transposes for a complex input: in PyTorch's convention (G = conj(g)) the
    # gradient is herm(L^-H phi(L^H G) L^-1); conjugated back to autograd's pairing.
    lh = _mH(ans)
    p = _phi(matmul(lh, _conj(g)))
    s = solve(lh, _mH(solve(lh, _mH(p))))  # L^-H P L^-1
    return _conj(_herm(s))


def _cholesky_jvp(t, ans, a):
    m = solve(ans, _mH(solve(ans, _herm(t))))  # L^-1 dA L^-H (dA Hermitian)
    return matmul(ans, _phi(m))


defvjp(cholesky, _cholesky_vjp)
defjvp(cholesky, _cholesky_jvp)


# ---- shared helpers for the spectral decompositions ---------------------------------------
# Rules below follow autograd's pairing <g, dx> = Re sum(g * dx) (no conjugate), so a rule for a
# complex input is the transpose of its JVP; for a real input only the real part is kept.
def _xp_raw(x):
    raw = _raw(x)
    return xp_of(raw), raw


def _la(a, name):
    """``numpy.linalg.<name>`` or CuPy's, for the array ``a``; a function this CuPy lacks is a
    NotImplementedError naming it and the device."""
    xp = xp_of(a)
    if xp is _np:
        return getattr(_np.linalg, name)
    from .._passthrough import _cupy_counterpart

    return _cupy_counterpart("tensorgrad.numpy.linalg", "linalg", _np, name, a)


def _conj(x):
    return conjugate(x) if x.dtype.kind == "c" else x


def _mH(x):
    return _conj(_mT(x))


def _real_dtype(dtype):
    return _np.empty(0, dtype).real.dtype


def _eye_like(x):
    """The identity of x's last axis (a raw constant, real dtype)."""
    xp, raw = _xp_raw(x)
    return xp.eye(raw.shape[-1], dtype=_real_dtype(raw.dtype))


def _diag(x):
    return _sum(x * _eye_like(x), (x.ndim - 1,), False)


def _diag_embed(v):
    return expand_dims(v, -1) * _eye_like(v)


def _rows(x, v):
    """diag(v) @ x: row i scaled by v[i]."""
    return x * expand_dims(v, -1)


def _cols(x, v):
    """x @ diag(v): column j scaled by v[j]."""
    return x * expand_dims(v, -2)


def _safe_recip(d):
    """1 / d where d != 0 and 0 where d == 0 exactly, differentiable where d != 0 (the mask is a
    constant). Used for gaps between repeated eigen/singular values and for zero singular
    values: a derivative that needs them is undefined, but one that multiplies them by a zero
    cotangent (a function of the values alone) must stay finite."""
    xp, raw = _xp_raw(d)
    zero = raw == 0
    if xp is _np and not zero.any():  # the common case on the CPU (no host sync on a GPU)
        return 1 / d
    zero = zero.astype(_real_dtype(raw.dtype))
    return (1 - zero) / (d + zero)


def _gaps(w):
    """F with F[..., i, j] = 1 / (w[j] - w[i]) off the diagonal, 0 on it and for ties."""
    d = expand_dims(w, -2) - expand_dims(w, -1)
    return _safe_recip(d + _eye_like(w)) * (1 - _eye_like(w))


def _with_dtype(x, dtype):
    return x if x.dtype == dtype else astype(x, dtype)


# ---- eigh / eigvalsh ---------------------------------------------------------------------
# NumPy reads one triangle of the input (and the real part of its diagonal): the functions
# differentiated here are A -> eig(H(A)) with H(A) the Hermitian matrix built from that
# triangle, so a perturbation of the other triangle changes nothing (as finite differences of
# NumPy's function say; HIPS autograd's choice, where JAX and PyTorch symmetrize instead).
def _triangle(x, UPLO):
    xp, raw = _xp_raw(x)
    ones = xp.ones((raw.shape[-1],) * 2, dtype=_real_dtype(raw.dtype))
    if UPLO in ("L", "l"):
        return xp.tril(ones, -1)
    if UPLO in ("U", "u"):
        return xp.triu(ones, 1)
    raise ValueError(f"eigh: UPLO must be 'L' or 'U', got {UPLO!r}")


def _hermitian_part(t, UPLO):
    """The Hermitian matrix NumPy's eigh reads from ``t``."""
    strict = t * _triangle(t, UPLO)
    diag = (real(t) if t.dtype.kind == "c" else t) * _eye_like(t)
    return strict + _mH(strict) + diag


def _to_triangle(g, UPLO):
    """The adjoint of :func:`_hermitian_part`: a cotangent of H onto the read triangle."""
    diag = (real(g) if g.dtype.kind == "c" else g) * _eye_like(g)
    return (g + _conj(_mT(g))) * _triangle(g, UPLO) + diag


@primitive
def eigh_packed(a, UPLO="L"):
    """Eigenvalues and eigenvectors of a Hermitian matrix in one array (..., n + 1, n): row 0
    holds the eigenvalues, rows 1..n the eigenvectors (columns). One primitive, one node."""
    xp = xp_of(a)
    w, v = _la(a, "eigh")(a, UPLO=UPLO)
    return xp.concatenate([w[..., None, :].astype(v.dtype), v], axis=-2)


def _unpack(p):
    nd = p.ndim
    w = getitem(p, (Ellipsis, 0, slice(None)))
    v = getitem(p, (Ellipsis, slice(1, None), slice(None)))
    return w, v, nd


def _real_part(x):
    return real(x) if x.dtype.kind == "c" else x


def _eigh_vjp(g, ans, a, UPLO="L"):
    w, v, _ = _unpack(ans)
    gw, gv, _ = _unpack(g)
    inner = _diag_embed(_real_part(gw)) + _gaps(_real_part(w)) * matmul(_mT(v), gv)
    return _to_triangle(matmul(matmul(_conj(v), inner), _mT(v)), UPLO)


def _eigh_jvp(t, ans, a, UPLO="L"):
    w, v, nd = _unpack(ans)
    m = matmul(_mH(v), matmul(_hermitian_part(t, UPLO), v))
    dw = _with_dtype(_real_part(_diag(m)), v.dtype)
    dv = matmul(v, _gaps(_real_part(w)) * m)
    return concatenate_(nd - 2, expand_dims(dw, -2), dv)


defvjp(eigh_packed, _eigh_vjp)
defjvp(eigh_packed, _eigh_jvp)


def eigh(a, UPLO="L"):
    """NumPy's eigh: ``(eigenvalues, eigenvectors)`` of a Hermitian matrix (batched), reading
    one triangle as NumPy does. Eigenvector derivatives assume distinct eigenvalues; complex
    eigenvectors get the gauge ``Im(v_i^H dv_i) = 0``."""
    if not isinstance(a, Tensor):
        return _la(a, "eigh")(a, UPLO=UPLO)
    w, v, _ = _unpack(eigh_packed(a, UPLO))
    return EighResult(_real_part(w), v)


@primitive
def eigvalsh(a, UPLO="L"):
    """Eigenvalues of a Hermitian matrix (ascending). Their derivative is finite where they
    repeat (any orthonormal eigenbasis gives the same gradient of a symmetric function)."""
    return _la(a, "eigvalsh")(a, UPLO=UPLO)


def _eigvalsh_vjp(g, ans, a, UPLO="L"):
    v = _unpack(eigh_packed(a, UPLO))[1]
    return _to_triangle(matmul(_cols(_conj(v), g), _mT(v)), UPLO)


def _eigvalsh_jvp(t, ans, a, UPLO="L"):
    v = _unpack(eigh_packed(a, UPLO))[1]
    return _real_part(_sum(_conj(v) * matmul(_hermitian_part(t, UPLO), v), (v.ndim - 2,),
                           False))


defvjp(eigvalsh, _eigvalsh_vjp)
defjvp(eigvalsh, _eigvalsh_jvp)


# ---- eig / eigvals -----------------------------------------------------------------------
_EIG_REAL = []  # [whether this NumPy's eig gives real arrays when all eigenvalues are real]


def _numpy_eig_real():
    """NumPy before 2.5 returns real arrays from eig when every eigenvalue is real; 2.5 always
    returns complex ones. Asked of the installed NumPy once."""
    if not _EIG_REAL:
        _EIG_REAL.append(_np.linalg.eig(_np.eye(1))[0].dtype.kind != "c")
    return _EIG_REAL[0]


def _eig_raw(a):
    """The installed NumPy's eig on either device: CuPy's complex arrays made real where
    NumPy's would be (a real input, every eigenvalue real, a NumPy before 2.5)."""
    w, v = _la(a, "eig")(a)
    if a.dtype.kind != "c" and w.dtype.kind == "c" and _numpy_eig_real() and \
            not bool(xp_of(w).any(w.imag)):
        w, v = w.real.copy(), v.real.copy()
    return w, v


@primitive
def eig_packed(a):
    """Eigenvalues (row 0) and right eigenvectors (rows 1..n) of a general square matrix."""
    w, v = _eig_raw(a)
    return xp_of(a).concatenate([w[..., None, :], v], axis=-2)


def _largest(v):
    """One-hot (..., n, n) marking in each column of v its entry of largest modulus, the entry
    LAPACK makes real: with unit length, that fixes NumPy's eigenvectors (its gauge)."""
    xp, raw = _xp_raw(v)
    k = xp.argmax(xp.abs(raw), axis=-2)
    rows = xp.arange(raw.shape[-2]).reshape((-1, 1))
    return (rows == k[..., None, :]).astype(_real_dtype(raw.dtype))


def _col_sum(x):
    return _sum(x, (x.ndim - 2,), False)


def _eig_jvp(t, ans, a):
    w, v, nd = _unpack(ans)
    p = solve(v, matmul(t, v))  # V^-1 dA V
    dv = matmul(v, _gaps(w) * p)
    # NumPy's gauge: unit columns (Re v^H dv = 0), largest entry stays real
    c = -_real_part(_col_sum(_conj(v) * dv))
    if v.dtype.kind == "c":
        onehot = _largest(v)
        c = c - 1j * imag(_col_sum(onehot * dv) / _col_sum(onehot * v))
    dv = dv + _cols(v, c)
    return concatenate_(nd - 2, expand_dims(_diag(p), -2), dv)


def _eig_vjp(g, ans, a):
    w, v, _ = _unpack(ans)
    gw, gv, _ = _unpack(g)
    h = _col_sum(gv * v)  # the transpose of the gauge fixing in _eig_jvp
    gv = gv - _cols(_conj(v), _real_part(h))
    if v.dtype.kind == "c":
        onehot = _largest(v)
        gv = gv - onehot * expand_dims(1j * imag(h) / _col_sum(onehot * v), -2)
    inner = _diag_embed(gw) + _gaps(w) * matmul(_mT(v), gv)
    out = solve(_mT(v), matmul(inner, _mT(v)))  # V^-T (...) V^T
    return out if a.dtype.kind == "c" else _real_part(out)


defvjp(eig_packed, _eig_vjp)
defjvp(eig_packed, _eig_jvp)


def eig(a):
    """NumPy's eig: ``(eigenvalues, eigenvectors)`` of a square matrix (batched), with NumPy's
    dtype rule and normalisation (unit columns whose largest entry is real), which the
    derivatives keep. Eigenvector derivatives assume distinct eigenvalues."""
    if not isinstance(a, Tensor):
        return _la(a, "eig")(a)
    w, v, _ = _unpack(eig_packed(a))
    return EigResult(w, v)


@primitive
def eigvals(a):
    # eig, not eigvals: the rules recompute the eigenvectors and need the same order
    return _eig_raw(a)[0]


def _eigvals_vjp(g, ans, a):
    v = _unpack(eig_packed(a))[1]
    out = solve(_mT(v), _rows(_mT(v), g))  # V^-T diag(g) V^T
    return out if a.dtype.kind == "c" else _real_part(out)


def _eigvals_jvp(t, ans, a):
    v = _unpack(eig_packed(a))[1]
    return _diag(solve(v, matmul(t, v)))


defvjp(eigvals, _eigvals_vjp)
defjvp(eigvals, _eigvals_jvp)


# ---- svd -----------------------------------------------------------------------------------
@primitive
def svd_packed(a, full_matrices=True):
    """U, S and Vh of NumPy's svd raveled into one array (..., m*ku + k + kv*n)."""
    xp = xp_of(a)
    u, s, vh = _la(a, "svd")(a, full_matrices=full_matrices)
    return xp.concatenate([_ravel_tail(u), s.astype(u.dtype), _ravel_tail(vh)], axis=-1)


def _svd_sizes(a, full_matrices):
    m, n = a.shape[-2], a.shape[-1]
    k = min(m, n)
    return m, n, k, (m if full_matrices else k), (n if full_matrices else k)


def _unpack_svd(p, a, full_matrices):
    m, n, k, ku, kv = _svd_sizes(a, full_matrices)
    lead = tuple(a.shape[:-2])
    u = reshape(getitem(p, (Ellipsis, slice(0, m * ku))), lead + (m, ku))
    s = getitem(p, (Ellipsis, slice(m * ku, m * ku + k)))
    vh = reshape(getitem(p, (Ellipsis, slice(m * ku + k, None))), lead + (kv, n))
    return u, _real_part(s), vh


def _pack_svd(u, s, vh, like):
    return concatenate_(like.ndim - 1, _ravel_tail(u), _with_dtype(s, like.dtype),
                        _ravel_tail(vh))


def _first(x, k):
    return getitem(x, (Ellipsis, slice(0, k)))


def _rest(x, k):
    return getitem(x, (Ellipsis, slice(k, None)))


def _svd_jvp(t, ans, a, full_matrices=True):
    m, n, k, ku, kv = _svd_sizes(a, full_matrices)
    uf, s, vhf = _unpack_svd(ans, a, full_matrices)
    u, v = _first(uf, k), _mH(getitem(vhf, (Ellipsis, slice(0, k), slice(None))))
    sinv = _safe_recip(s)
    f = _gaps(s * s)  # 1 / (s_j^2 - s_i^2)
    tv = matmul(t, v)
    dp = matmul(_mH(u), tv)  # U^H dA V
    ds = _real_part(_diag(dp))
    du = f * (_cols(dp, s) + _rows(_mH(dp), s))
    if a.dtype.kind == "c":  # the phase of u_i follows that of v_i (Im v_i^H dv_i = 0)
        du = du + _diag_embed(1j * imag(_diag(dp)) * sinv)
    du = matmul(u, du)
    dv = matmul(v, f * (_rows(dp, s) + _cols(_mH(dp), s)))
    if m > k:
        du = du + _cols(tv - matmul(u, dp), sinv)
    if n > k:
        thu = matmul(_mH(t), u)
        dv = dv + _cols(thu - matmul(v, _mH(dp)), sinv)
    if ku > k:  # the complement's basis turns with the subspace and no more
        up = _rest(uf, k)
        du = concatenate_(du.ndim - 1, du, -matmul(u, matmul(_mH(du), up)))
    if kv > k:
        vp = _conj(_rest(_mT(vhf), k))
        dv = concatenate_(dv.ndim - 1, dv, -matmul(v, matmul(_mH(dv), vp)))
    return _pack_svd(du, ds, _mH(dv), ans)


def _svd_vjp(g, ans, a, full_matrices=True):
    # computed in PyTorch's convention (cotangents conjugated), conjugated back at the end
    m, n, k, ku, kv = _svd_sizes(a, full_matrices)
    uf, s, vhf = _unpack_svd(ans, a, full_matrices)
    guf, gs, gvhf = _unpack_svd(g, a, full_matrices)
    u, v = _first(uf, k), _mH(getitem(vhf, (Ellipsis, slice(0, k), slice(None))))
    gu, gv = _first(_conj(guf), k), _first(_mT(gvhf), k)
    if ku > k:
        up = _rest(uf, k)
        gu = gu - matmul(up, matmul(_mH(_rest(_conj(guf), k)), u))
    if kv > k:
        vp = _conj(_rest(_mT(vhf), k))
        gv = gv - matmul(vp, matmul(_mH(_rest(_mT(gvhf), k)), v))
    sinv = _safe_recip(s)
    f = _gaps(s * s)
    uhgu = matmul(_mH(u), gu)
    vhgv = matmul(_mH(v), gv)
    j = f * uhgu
    kk = f * vhgv
    inner = _cols(j + _mH(j), s) + _rows(kk + _mH(kk), s) + _diag_embed(gs)
    if a.dtype.kind == "c":
        inner = inner + _diag_embed(1j * imag(_diag(uhgu)) * sinv)
    out = matmul(matmul(u, inner), _mH(v))
    if m > k:
        out = out + matmul(_cols(gu - matmul(u, uhgu), sinv), _mH(v))
    if n > k:
        out = out + matmul(_cols(u, sinv), _mH(gv - matmul(v, vhgv)))
    return _conj(out) if a.dtype.kind == "c" else _real_part(out)


defvjp(svd_packed, _svd_vjp)
defjvp(svd_packed, _svd_jvp)


@primitive
def svdvals(a):
    """The singular values (descending) of NumPy's ``svd(a, compute_uv=False)``. Their
    derivative is finite where they repeat or vanish."""
    return _la(a, "svd")(a, compute_uv=False)


def _thin_uv(a):
    u, _, vh = _unpack_svd(svd_packed(a, False), a, False)
    return u, vh


def _svdvals_vjp(g, ans, a):
    u, vh = _thin_uv(a)
    out = matmul(_cols(u, g), vh)
    return _conj(out) if a.dtype.kind == "c" else out


def _svdvals_jvp(t, ans, a):
    u, vh = _thin_uv(a)
    return _real_part(_col_sum(_conj(u) * matmul(t, _mH(vh))))


defvjp(svdvals, _svdvals_vjp)
defjvp(svdvals, _svdvals_jvp)


def svd(a, full_matrices=True, compute_uv=True):
    """NumPy's svd: ``(U, S, Vh)`` (or S alone), batched, real or complex. Derivatives of U and
    Vh assume distinct nonzero singular values; those of S alone are finite everywhere. With
    ``full_matrices=True`` the extra columns of U (rows of Vh) span a complement whose basis
    NumPy picks freely: their derivative turns that basis with the subspace and no more, so
    functions of the complement (its projector) differentiate right."""
    if not compute_uv:
        return svdvals(a)
    if not isinstance(a, Tensor):
        return _la(a, "svd")(a, full_matrices=full_matrices)
    u, s, vh = _unpack_svd(svd_packed(a, full_matrices), a, full_matrices)
    return SVDResult(u, s, vh)


# ---- pinv ----------------------------------------------------------------------------------
def _pinv_hermitian(a, rcond):
    """V diag(1 / w) V^H over the eigenvalues w of the Hermitian matrix a's lower triangle
    defines, those with |w| > rcond * max |w| (NumPy's and PyTorch's hermitian pinv)."""
    xp = xp_of(a)
    w, v = _la(a, "eigh")(a)
    absw = xp.abs(w)
    if _np.ndim(rcond):  # one rcond per matrix (NumPy's), broadcast over the batch
        rcond = xp.asarray(rcond, dtype=absw.dtype)[..., None]
    cutoff = rcond * absw.max(axis=-1, keepdims=True) if w.shape[-1] else 0.0
    keep = absw > cutoff
    winv = xp.where(keep, 1 / xp.where(keep, w, 1), 0).astype(v.dtype)
    return (v * winv[..., None, :]) @ xp.conj(xp.swapaxes(v, -1, -2))


@primitive
def pinv(a, rcond=1e-15, hermitian=False):
    """The Moore-Penrose pseudo-inverse (singular values below ``rcond`` times the largest
    dropped). The derivative holds where the rank does not change. ``hermitian``: from the
    eigendecomposition of the lower triangle's Hermitian matrix; the derivative is the same
    formula in that answer and ``a`` itself (PyTorch's)."""
    if hermitian:
        return _pinv_hermitian(a, rcond)
    return _la(a, "pinv")(a, rcond)


def _pinv_vjp(g, ans, a, rcond=1e-15, hermitian=False):
    # Golub & Pereyra: d(A+) = -A+ dA A+ + A+ A+^H dA^H (I - A A+) + (I - A+ A) dA^H A+^H A+,
    # transposed in PyTorch's convention and conjugated back
    p, ph, gc = ans, _mH(ans), _conj(g)
    out = -matmul(matmul(ph, gc), ph)
    out = out + matmul(_mH(gc) - matmul(matmul(a, p), _mH(gc)), matmul(p, ph))
    out = out + matmul(matmul(ph, p), _mH(gc) - matmul(_mH(gc), matmul(p, a)))
    return _conj(out) if a.dtype.kind == "c" else out


def _pinv_jvp(t, ans, a, rcond=1e-15, hermitian=False):
    p, ph, th = ans, _mH(ans), _mH(t)
    out = -matmul(matmul(p, t), p)
    out = out + matmul(matmul(p, ph), th - matmul(th, matmul(a, p)))
    return out + matmul(th - matmul(matmul(p, a), th), matmul(ph, p))


defvjp(pinv, _pinv_vjp)
defjvp(pinv, _pinv_jvp)


__all__ = [
    "inv", "det", "logabsdet", "slogdet", "solve", "cholesky", "eigh", "eigh_packed",
    "eigvalsh", "eig", "eig_packed", "eigvals", "svd", "svd_packed", "svdvals", "pinv",
    "SlogdetResult", "EighResult", "EigResult", "SVDResult",
]
