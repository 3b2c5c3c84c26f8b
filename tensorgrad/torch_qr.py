"""The QR decomposition as a primitive (``tg.qr``, ``Tensor.qr``): NumPy's/CuPy's ``qr``
forward, and a VJP and JVP of its reduced factors for inputs of full column rank.

For A = Q R (m >= n, Q: m x n, R: n x n upper triangular and invertible), with X = dA R^-1 and
C = Q^T X: Q^T dQ is antisymmetric and dR R^-1 upper triangular, so the strictly lower triangle
of C is that of Omega = Q^T dQ, and

    dR = (C - Omega) R,      dQ = X - Q (C - Omega),      Omega = tril(C, -1) - tril(C, -1)^T.

Transposing that map gives the VJP: with N = gR R^T - Q^T gQ and M = triu(N) + triu(N, 1)^T,
gA = (gQ + Q M) R^-T. A complex input has R's diagonal real (LAPACK's), so Omega = Q^H dQ is
anti-Hermitian with an imaginary diagonal: transposes become conjugate transposes, the diagonals
of C - Omega and of M keep their real parts, and the VJP is conjugated to autograd's pairing
(the same formulas in PyTorch's). Wide inputs (m < n) are a composition: A = [X | Y] with X
square gives Q, U = qr(X) and R = [U | Q^H Y]. Complete factors of a tall input (m > n,
some=False) have no derivative (Q's extra columns are any basis of a complement), as in PyTorch:
differentiating them raises.
"""

from .backend.device import xp_of
from .ops.decomp import _conj, _mH, _ravel_tail, solve
from .ops.elementwise import real
from .ops.index import getitem
from .ops.linalg import matmul
from .ops.registry import defjvp, defvjp, primitive
from .ops.shape import concatenate_, reshape
from .tensor import _raw


@primitive
def qr_packed(a, mode="reduced"):
    """Q and R of ``qr(a, mode)`` raveled into one array (..., m*kq + kr*n)."""
    xp = xp_of(a)
    q, r = xp.linalg.qr(a, mode=mode)
    return xp.concatenate([_ravel_tail(q), _ravel_tail(r)], axis=-1)


def _sizes(a, mode):
    m, n = a.shape[-2], a.shape[-1]
    k = m if mode == "complete" else min(m, n)
    return m, n, k


def _unpack(p, a, mode):
    m, n, k = _sizes(a, mode)
    lead = tuple(a.shape[:-2])
    q = reshape(getitem(p, (Ellipsis, slice(0, m * k))), lead + (m, k))
    r = reshape(getitem(p, (Ellipsis, slice(m * k, None))), lead + (k, n))
    return q, r


def _masks(x, n):
    """The constant masks (strict lower triangle, diagonal) of n x n matrices."""
    raw = _raw(x)
    xp = xp_of(raw)
    return xp.tril(xp.ones((n, n), dtype=raw.dtype), -1), xp.eye(n, dtype=raw.dtype)


def _fold(x, lower, strict_lower, eye):
    """triu(x, 1) + Re diag(x) + t^H, t the strict lower triangle of x (``lower``) or its
    strict upper one: for a real x, triu(x) plus t^T."""
    diag = real(x) * eye if x.dtype.kind == "c" else x * eye
    t = x * (strict_lower if lower else strict_lower.T)
    return x * strict_lower.T + diag + _mH(t)


def _check(a, mode):
    m, n = a.shape[-2], a.shape[-1]
    if m < n:  # the wrapper never gives the primitive a wide matrix
        raise NotImplementedError(f"qr: the primitive differentiates m >= n, got {(m, n)}")
    if mode == "complete" and m > n:
        raise NotImplementedError(
            f"qr: the complete factors of a {m} x {n} input (m > n, some=False) are not "
            "differentiable (Q's extra columns are any basis of a complement); use some=True")


def _qr_vjp(g, ans, a, mode="reduced"):
    # in PyTorch's convention (G = conj(g)), conjugated back to autograd's pairing
    _check(a, mode)
    q, r = _unpack(ans, a, mode)
    gq, gr = (_conj(x) for x in _unpack(g, a, mode))
    strict_lower, eye = _masks(r, r.shape[-1])
    nmat = matmul(gr, _mH(r)) - matmul(_mH(q), gq)
    mmat = _fold(nmat, False, strict_lower, eye)
    return _conj(_mH(solve(r, _mH(gq + matmul(q, mmat)))))


def _qr_jvp(t, ans, a, mode="reduced"):
    _check(a, mode)
    q, r = _unpack(ans, a, mode)
    strict_lower, eye = _masks(r, r.shape[-1])
    x = _mH(solve(_mH(r), _mH(t)))  # dA R^-1
    c_minus_omega = _fold(matmul(_mH(q), x), True, strict_lower, eye)
    dr = matmul(c_minus_omega, r)
    dq = x - matmul(q, c_minus_omega)
    return concatenate_(dq.ndim - 2, _ravel_tail(dq), _ravel_tail(dr))


defvjp(qr_packed, _qr_vjp)
defjvp(qr_packed, _qr_jvp)


def qr(a, mode="reduced"):
    """(Q, R) of NumPy's ``qr(a, mode)`` for ``mode`` 'reduced' or 'complete', batched;
    differentiable as the module says."""
    m, n = a.shape[-2], a.shape[-1]
    if m >= n:
        return _unpack(qr_packed(a, mode), a, mode)
    x = getitem(a, (Ellipsis, slice(0, m)))
    y = getitem(a, (Ellipsis, slice(m, None)))
    q, u = _unpack(qr_packed(x, "reduced"), x, "reduced")
    return q, concatenate_(a.ndim - 1, u, matmul(_mH(q), y))
