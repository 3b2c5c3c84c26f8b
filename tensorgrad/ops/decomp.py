"""Linear-algebra primitives: inv, det, log|det|, solve, cholesky, eigh. Batched over leading
axes ``(..., n, n)`` as NumPy is.

Complex inputs follow HIPS autograd's convention (the VJP of a holomorphic map is its
transpose, no conjugate) for inv, det, solve and log|det|. cholesky and eigh differentiate real
symmetric inputs, as the function ``A -> f((A + A.T) / 2)``: their gradients are symmetric
(JAX's and PyTorch's choice), and directional derivatives symmetrize the direction.
"""

from collections import namedtuple

from ..backend.device import xp_of
from ..tensor import Tensor, _raw
from .elementwise import real
from .index import getitem
from .linalg import matmul
from .reduce import sum as _sum
from .registry import defjvp, defvjp, primitive
from .shape import concatenate_, expand_dims, reshape, squeeze, swapaxes

SlogdetResult = namedtuple("SlogdetResult", ["sign", "logabsdet"])
EighResult = namedtuple("EighResult", ["eigenvalues", "eigenvectors"])


def _mT(x):
    return swapaxes(x, -1, -2)


def _sym(x):
    return (x + _mT(x)) * 0.5


def _trace_of_product(x, y):
    """trace(x @ y) over the last two axes, without forming the product."""
    nd = max(x.ndim, y.ndim)
    return _sum(_mT(x) * y, (nd - 2, nd - 1), False)


def _as_matrix_scalar(s):
    return reshape(s, tuple(s.shape) + (1, 1))


def _real_only(name, x):
    if x.dtype.kind == "c":
        raise NotImplementedError(f"{name}: derivatives for complex input are not implemented; "
                                  "split it into real and imaginary parts")


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


defvjp(det, lambda g, ans, a: _as_matrix_scalar(g * ans) * _mT(inv(a)))
defjvp(det, lambda t, ans, a: ans * _trace_of_product(inv(a), t))


@primitive
def logabsdet(a):
    """log|det(a)|, the second half of NumPy's slogdet."""
    return xp_of(a).linalg.slogdet(a)[1]


def _logabsdet_jvp(t, ans, a):
    d = _trace_of_product(inv(a), t)
    return real(d) if d.dtype.kind == "c" else d


defvjp(logabsdet, lambda g, ans, a: _as_matrix_scalar(g) * _mT(inv(a)))
defjvp(logabsdet, _logabsdet_jvp)


def slogdet(a):
    """NumPy's slogdet: ``(sign, logabsdet)``; only ``logabsdet`` carries a derivative."""
    if not isinstance(a, Tensor):
        return xp_of(a).linalg.slogdet(a)
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
    # Iain Murray, "Differentiation of the Cholesky decomposition" (arXiv:1602.07527)
    _real_only("cholesky", a)
    lt = _mT(ans)
    p = _phi(matmul(lt, g))
    s = solve(lt, _mT(solve(lt, _mT(p))))  # L^-T P L^-1
    return _sym(s)


def _cholesky_jvp(t, ans, a):
    _real_only("cholesky", a)
    m = solve(ans, _mT(solve(ans, _sym(t))))  # L^-1 dA L^-T (dA symmetric)
    return matmul(ans, _phi(m))


defvjp(cholesky, _cholesky_vjp)
defjvp(cholesky, _cholesky_jvp)


# ---- eigh --------------------------------------------------------------------------------
@primitive
def eigh_packed(a, UPLO="L"):
    """Eigenvalues and eigenvectors of a symmetric matrix in one array (..., n + 1, n): row 0
    holds the eigenvalues, rows 1..n the eigenvectors (columns). One primitive, one node."""
    xp = xp_of(a)
    w, v = xp.linalg.eigh(a, UPLO=UPLO)
    return xp.concatenate([w[..., None, :].astype(v.dtype), v], axis=-2)


def _unpack(p):
    nd = p.ndim
    w = getitem(p, (Ellipsis, 0, slice(None)))
    v = getitem(p, (Ellipsis, slice(1, None), slice(None)))
    return w, v, nd


def _eig_gaps(w):
    """F with F[i, j] = 1 / (w[j] - w[i]) off the diagonal and 0 on it."""
    raw = _raw(w)
    xp = xp_of(raw)
    n = raw.shape[-1]
    eye = xp.eye(n, dtype=raw.dtype)
    return (1 - eye) / (expand_dims(w, -2) - expand_dims(w, -1) + eye)


def _eigh_vjp(g, ans, a, UPLO="L"):
    _real_only("eigh", a)
    w, v, nd = _unpack(ans)
    gw, gv, _ = _unpack(g)
    inner = _eig_gaps(w) * matmul(_mT(v), gv)
    inner = inner + expand_dims(gw, -1) * _eye_like(w)
    return _sym(matmul(matmul(v, inner), _mT(v)))


def _eye_like(w):
    raw = _raw(w)
    return xp_of(raw).eye(raw.shape[-1], dtype=raw.dtype)


def _eigh_jvp(t, ans, a, UPLO="L"):
    _real_only("eigh", a)
    w, v, nd = _unpack(ans)
    m = matmul(_mT(v), matmul(_sym(t), v))
    dw = _sum(m * _eye_like(w), (nd - 1,), False)
    dv = matmul(v, _eig_gaps(w) * m)
    return concatenate_(nd - 2, expand_dims(dw, -2), dv)


defvjp(eigh_packed, _eigh_vjp)
defjvp(eigh_packed, _eigh_jvp)


def eigh(a, UPLO="L"):
    """NumPy's eigh: ``(eigenvalues, eigenvectors)`` of a symmetric matrix (batched).
    Derivatives assume distinct eigenvalues."""
    if not isinstance(a, Tensor):
        return xp_of(a).linalg.eigh(a, UPLO=UPLO)
    w, v, _ = _unpack(eigh_packed(a, UPLO))
    return EighResult(w if a.dtype.kind != "c" else real(w), v)


__all__ = [
    "inv", "det", "logabsdet", "slogdet", "solve", "cholesky", "eigh", "eigh_packed",
    "SlogdetResult", "EighResult",
]
