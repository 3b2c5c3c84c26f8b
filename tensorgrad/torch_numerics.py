"""PyTorch's top-level numerical routines tensorgrad lacked: the randomized low-rank
factorizations ``tg.svd_lowrank`` / ``tg.pca_lowrank`` (Halko, Martinsson & Tropp's range
finder), the LOBPCG eigensolver ``tg.lobpcg``, ``tg.as_strided`` and its variants (with
``Tensor.as_strided``, ``as_strided_``, ``as_strided_scatter``), ``tg.segment_reduce`` and
``tg.nonzero_static`` (also a Tensor method).

Derivatives: the low-rank factorizations and ``segment_reduce`` are compositions of
differentiable ops (matmul, qr, svd, scatter_reduce); ``as_strided`` is a gather (its VJP a
scatter-add). ``lobpcg`` is one primitive whose rules come from implicit differentiation of
``(A - e B) x = 0, x^T B x = 1`` for each returned eigenpair (a bordered linear system, solved
with ``tg.linalg.solve`` on the outputs), so derivatives of every order follow, for A and B.

>>> import tensorgrad as tg
>>> tg.as_strided(tg.arange(6.0), (2, 2), (1, 2)).tolist()
[[0.0, 2.0], [1.0, 3.0]]
>>> tg.segment_reduce(tg.tensor([1.0, 2.0, 4.0]), "sum", lengths=tg.tensor([2, 1])).tolist()
[3.0, 4.0]
"""

import builtins
import math
import numbers

import numpy as np

from . import linalg as _la
from . import numpy as _tnp
from . import torch_api as _ta
from . import torch_surface3 as _s3
from .backend.device import xp_of
from .ops import elementwise as _ew
from .ops.index import getitem as _getitem
from .ops.registry import defjvp, defvjp, primitive
from .tensor import Tensor, _new_tensor

_t = _ta._t
_xp = _ta._xp


def _const(arr):
    return _new_tensor(arr, None, False)


def _raw(x):
    return x.data if isinstance(x, Tensor) else x


def _int(v, op, name):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{op}(): {name} must be an int, got {v!r}")
    return int(v)


def _floating(x, op, name):
    if x.dtype.kind not in "fc":
        raise TypeError(f"{op}(): {name} must be a floating-point tensor, got {x.dtype}")


# ---- svd_lowrank / pca_lowrank ----------------------------------------------------------------
def _approximate_basis(A, q, niter, M):
    """Algorithm 4.4 of Halko et al.: an orthonormal (..., m, q) basis Q of A's (or A - M's)
    dominant range from a Gaussian test matrix and ``niter`` power (subspace) iterations, each
    re-orthonormalised by QR."""
    def apply(Y):  # (A - M) @ Y
        return A @ Y if M is None else A @ Y - M @ Y

    def apply_h(Y):
        return A.mH @ Y if M is None else A.mH @ Y - M.mH @ Y

    real = np.finfo(A.dtype).dtype
    R = _ta_randn((A.shape[-1], q), real, A.device)
    if A.dtype.kind == "c":
        R = R.to(A.dtype)
    Q = _la.qr(apply(R)).Q
    for _ in builtins.range(niter):
        Q = _la.qr(apply_h(Q)).Q
        Q = _la.qr(apply(Q)).Q
    return Q


def _ta_randn(shape, dtype, device):
    from . import creation as _cr

    return _cr.randn(*shape, dtype=dtype, device=device)


def _lowrank_checks(A, q, niter, op):
    if A.ndim < 2:
        raise ValueError(f"{op}(): A must be a matrix or a batch of matrices, got shape "
                         f"{tuple(A.shape)}")
    _floating(A, op, "A")
    m, n = A.shape[-2:]
    q = _int(q, op, "q")
    niter = _int(niter, op, "niter")
    if not 0 <= q <= min(m, n):
        raise ValueError(f"{op}(): q(={q}) must be non-negative integer and not greater than "
                         f"min(m, n)={min(m, n)} for A of shape {tuple(A.shape)}")
    if niter < 0:
        raise ValueError(f"{op}(): niter(={niter}) must be non-negative integer")
    return q, niter


def svd_lowrank(A, q=6, niter=2, M=None):
    """``(U, S, V)``, an approximate rank-``q`` SVD of ``A - M`` (batched; ``V`` not ``Vh``),
    with ``A - M ~ U diag(S) V^H``: Halko et al.'s randomized range finder (a Gaussian test
    matrix from tensorgrad's generator, ``niter`` subspace iterations), then the exact SVD of
    the small projected matrix. The values are not PyTorch's (other random draws); for a
    spectrum that decays the leading singular triplets agree with the full SVD's.
    Differentiable (composed of matmul, qr and svd).

    >>> import tensorgrad as tg
    >>> A = tg.tensor([[3.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.001]])
    >>> U, S, V = tg.svd_lowrank(A, q=2)
    >>> [round(s, 4) for s in S.tolist()]
    [3.0, 2.0]
    """
    A = _t(A, "svd_lowrank", "A")
    q, niter = _lowrank_checks(A, 6 if q is None else q, niter, "svd_lowrank")
    if M is not None:
        M = _t(M, "svd_lowrank", "M")
        try:
            M = M.broadcast_to(A.shape)
        except ValueError:
            raise ValueError(f"svd_lowrank(): M of shape {tuple(M.shape)} does not broadcast "
                             f"to A's shape {tuple(A.shape)}") from None
    m, n = A.shape[-2:]
    wide = m < n
    if wide:  # work on the tall A^H: the test matrix then has the smaller side
        A = A.mH
        M = None if M is None else M.mH
    Q = _approximate_basis(A, q, niter, M)
    Bm = Q.mH @ A if M is None else Q.mH @ A - Q.mH @ M
    U, S, Vh = _la.svd(Bm, full_matrices=False)
    U = Q @ U
    V = Vh.mH
    return (V, S, U) if wide else (U, S, V)


def pca_lowrank(A, q=None, center=True, niter=2):
    """``(U, S, V)``, a rank-``q`` PCA of the rows of ``A`` (batched): ``svd_lowrank`` of ``A``
    minus its column means (``center=True``); the principal directions are V's columns and
    ``S**2 / (m - 1)`` the variances along them. ``q`` defaults to ``min(6, m, n)``.

    >>> import tensorgrad as tg
    >>> A = tg.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.5]])
    >>> U, S, V = tg.pca_lowrank(A, q=1)
    >>> S.shape
    (1,)
    """
    A = _t(A, "pca_lowrank", "A")
    if A.ndim < 2:
        raise ValueError(f"pca_lowrank(): A must be a matrix or a batch of matrices, got shape "
                         f"{tuple(A.shape)}")
    m, n = A.shape[-2:]
    q = min(6, m, n) if q is None else q
    _lowrank_checks(A, q, niter, "pca_lowrank")
    if not center:
        return svd_lowrank(A, q, niter=niter)
    return svd_lowrank(A - A.mean(axis=-2, keepdims=True), q, niter=niter)


# ---- lobpcg ------------------------------------------------------------------------------------
class LobpcgState:
    """What ``tracker`` sees after each iteration of ``tg.lobpcg``: ``ivars`` (``istep``,
    ``converged_count``), ``fvars`` (``tol``), ``tvars`` (``E``, ``X``, ``R``, ``rerr``: NumPy
    or CuPy arrays of the current batch element)."""

    def __init__(self):
        self.ivars = {"istep": 0, "converged_count": 0}
        self.fvars = {}
        self.tvars = {}


def _b_orthonormal(xp, S, B, drop):
    """Columns spanning S's range, orthonormal in the B inner product (B None: Euclidean); the
    directions whose Gram eigenvalue is below ``drop`` times the largest are dropped."""
    BS = S if B is None else B @ S
    G = S.T @ BS
    G = (G + G.T) / 2
    w, v = xp.linalg.eigh(G)
    top = w[-1:]
    keep = xp.nonzero(w > drop * xp.maximum(top, 0))[0]
    v = v[:, keep] / xp.sqrt(w[keep])
    return S @ v


def _rayleigh_ritz(xp, Q, A, count, largest):
    """The ``count`` Ritz pairs of A on the B-orthonormal basis Q (largest or smallest first):
    (values, coefficients in Q)."""
    T = Q.T @ (A @ Q)
    T = (T + T.T) / 2
    w, C = xp.linalg.eigh(T)
    if largest:
        w, C = w[::-1], C[:, ::-1]
    return w[:count], C[:, :count]


def _lobpcg_one(xp, A, B, X, iK, k, largest, tol, niter, tracker, drop):
    """LOBPCG (Knyazev 2001) on one matrix: the block [X, W, P] of the current Ritz vectors,
    the preconditioned residuals and the previous update directions, B-orthonormalised (W and
    P first made B-orthogonal to X, near-dependent directions dropped), then Rayleigh-Ritz on
    it; stops once the first k residuals are below ``tol`` relative to ||A|| + |e| ||B||."""
    n = X.shape[1]
    normA = float(xp.linalg.norm(A))
    normB = 1.0 if B is None else float(xp.linalg.norm(B))
    X = _b_orthonormal(xp, X, B, drop)
    if X.shape[1] < n:
        raise ValueError(f"lobpcg(): the initial X has rank {X.shape[1]} < n={n}")
    E, C = _rayleigh_ritz(xp, X, A, n, largest)
    X = X @ C
    P = None
    state = LobpcgState()
    state.fvars["tol"] = tol
    step = 0
    while niter < 0 or step < niter:
        BX = X if B is None else B @ X
        R = A @ X - BX * E
        rerr = xp.linalg.norm(R, axis=0) / (normA + xp.abs(E) * normB)
        done = int(xp.sum(rerr[:k] < tol))
        step += 1
        state.ivars.update(istep=step, converged_count=done)
        state.tvars.update(E=E, X=X, R=R, rerr=rerr)
        if tracker is not None:
            tracker(state)
        if done == k:
            break
        W = R if iK is None else iK @ R
        blocks = [W] if P is None else [W, P]
        S = xp.concatenate(blocks, axis=1)
        S = S - X @ (BX.T @ S)
        S = _b_orthonormal(xp, S, B, drop)
        S = S - X @ (BX.T @ S)  # a second pass keeps it B-orthogonal to X in rounding
        S = _b_orthonormal(xp, S, B, drop)
        Q = xp.concatenate([X, S], axis=1)
        E, C = _rayleigh_ritz(xp, Q, A, n, largest)
        P = S @ C[n:]
        X = Q @ C
    X = X[:, :k]
    # a sign per vector (its entry of largest modulus positive): a smooth function of A
    big = xp.argmax(xp.abs(X), axis=0)
    X = X * xp.where(X[big, xp.arange(k)] < 0, -1.0, 1.0).astype(X.dtype)
    return E[:k], X


@primitive
def _lobpcg_packed(a, b, *, x0, ik, k, largest, tol, niter, tracker, drop):
    """(..., m + 1, k): row 0 the eigenvalues, rows 1..m the eigenvectors (columns)."""
    xp = xp_of(a)
    batch = a.shape[:-2]
    m = a.shape[-1]
    out = xp.empty(batch + (m + 1, k), dtype=a.dtype)
    for idx in np.ndindex(*batch):
        bb = None if b is None else b[idx]
        xx = x0[idx] if x0.ndim > 2 else x0
        kk = None if ik is None else (ik[idx] if ik.ndim > 2 else ik)
        e, x = _lobpcg_one(xp, a[idx], bb, xx, kk, k, largest, tol, niter, tracker, drop)
        out[idx + (0,)] = e
        out[idx + (slice(1, None),)] = x
    return out


def _bordered_solve(a, b, ans, rhs_x, rhs_s):
    """Solve, for each eigenpair i, M_i [u_i; mu_i] = [rhs_x_i; rhs_s_i] with the symmetric
    M_i = [[A - e_i B, B x_i], [(B x_i)^T, 0]], nonsingular where e_i is simple. rhs_x is
    (..., k, m), rhs_s (..., k); returns u (..., k, m) and mu (..., k)."""
    e = ans[..., 0, :]
    X = ans[..., 1:, :]
    m = X.shape[-2]
    xp = xp_of(_raw(X))
    eye = xp.eye(m, dtype=_raw(X).dtype)
    bm = eye if b is None else b
    BX = X if b is None else _tnp.matmul(b, X)
    top = _tnp.expand_dims(a, -3) - _tnp.expand_dims(_tnp.expand_dims(e, -1), -1) * \
        _tnp.expand_dims(bm, -3)                                         # (..., k, m, m)
    col = _tnp.expand_dims(_tnp.swapaxes(BX, -1, -2), -1)                # (..., k, m, 1)
    corner = _tnp.expand_dims(_tnp.expand_dims(e, -1), -1) * 0           # (..., k, 1, 1)
    M = _tnp.concatenate([_tnp.concatenate([top, col], axis=-1),
                          _tnp.concatenate([_tnp.swapaxes(col, -1, -2), corner], axis=-1)],
                         axis=-2)
    rhs = _tnp.concatenate([rhs_x, _tnp.expand_dims(rhs_s, -1)], axis=-1)
    sol = _tnp.linalg.solve(M, _tnp.expand_dims(rhs, -1))[..., 0]
    return sol[..., :m], sol[..., m], e, X


def _lobpcg_vjp_a(g, ans, a, b, **kw):
    u, _, _, X = _bordered_solve(a, b, ans, _tnp.swapaxes(g[..., 1:, :], -1, -2),
                                 -g[..., 0, :])
    return -_tnp.matmul(_tnp.swapaxes(u, -1, -2), _tnp.swapaxes(X, -1, -2))


def _lobpcg_vjp_b(g, ans, a, b, **kw):
    u, mu, e, X = _bordered_solve(a, b, ans, _tnp.swapaxes(g[..., 1:, :], -1, -2),
                                  -g[..., 0, :])
    Xt = _tnp.swapaxes(X, -1, -2)
    ue = _tnp.swapaxes(u, -1, -2) * _tnp.expand_dims(e, -2)
    return _tnp.matmul(ue, Xt) - _tnp.matmul(X * _tnp.expand_dims(mu / 2, -2), Xt)


def _lobpcg_tangent(ans, a, b, ta, tb):
    X = ans[..., 1:, :]
    e = ans[..., 0, :]
    Xt = _tnp.swapaxes(X, -1, -2)
    rx = 0
    rs = 0
    if ta is not None:
        rx = rx - _tnp.swapaxes(_tnp.matmul(ta, X), -1, -2)
    if tb is not None:
        tbx = _tnp.swapaxes(_tnp.matmul(tb, X), -1, -2)                  # (..., k, m)
        rx = rx + tbx * _tnp.expand_dims(e, -1)
        rs = -_tnp.sum(tbx * Xt, axis=-1) / 2
    if isinstance(rs, int):
        rs = e * 0
    u, mu, _, _ = _bordered_solve(a, b, ans, rx, rs)
    return _tnp.concatenate([_tnp.expand_dims(-mu, -2), _tnp.swapaxes(u, -1, -2)], axis=-2)


defvjp(_lobpcg_packed, _lobpcg_vjp_a, _lobpcg_vjp_b)
defjvp(_lobpcg_packed, lambda t, ans, a, b, **kw: _lobpcg_tangent(ans, a, b, t, None),
       lambda t, ans, a, b, **kw: _lobpcg_tangent(ans, a, b, None, t))


def _square_check(x, name, m, batch):
    if x.ndim < 2 or x.shape[-1] != x.shape[-2] or x.shape[-1] != m:
        raise ValueError(f"lobpcg(): {name} must be (..., {m}, {m}) like A, got shape "
                         f"{tuple(x.shape)}")
    if x.ndim > 2 and x.shape[:-2] != batch:
        raise ValueError(f"lobpcg(): {name}'s batch shape {tuple(x.shape[:-2])} differs from "
                         f"A's {batch}")


def lobpcg(A, k=None, B=None, X=None, n=None, iK=None, niter=None, tol=None, largest=None,
           method=None, tracker=None, ortho_iparams=None, ortho_fparams=None,
           ortho_bparams=None):
    """``(E, X)``: the ``k`` largest (``largest=True``, the default) or smallest eigenvalues
    of the symmetric positive definite problem ``A x = e B x`` (B defaults to the identity) and
    their B-orthonormal eigenvectors (columns of X), by LOBPCG (Knyazev's locally optimal block
    preconditioned conjugate gradient) on a search block of ``n`` columns (``X`` if given, else
    Gaussian from tensorgrad's generator). ``iK`` is a preconditioner (a matrix applied to the
    residuals); ``niter`` caps the iterations (default 1000, -1: until converged); ``tol``
    (default sqrt(eps) of the dtype) bounds each residual ||A x - e B x|| relative to
    ||A||_F + |e| ||B||_F. ``tracker(state)`` is called after each iteration with a
    :class:`LobpcgState`. ``method`` ("ortho" or "basic") is accepted; both run the same
    orthogonalised iteration. ``ortho_fparams["ortho_tol"]`` sets the relative Gram eigenvalue
    below which near-dependent directions are dropped (default 100 eps); the other ortho
    parameters are accepted and unused. A is used as ``(A + A^T) / 2`` (and B likewise), so
    derivatives are those of the symmetric part; they exist for A and B, to every order, while
    the returned eigenvalues are simple (as PyTorch's, which has A's only). Batched (a loop).
    Eigenvector signs: each vector's entry of largest modulus is positive.

    >>> import tensorgrad as tg
    >>> A = tg.tensor([[4.0, 1, 0, 0, 0, 0], [1, 3, 0, 0, 0, 0], [0, 0, 2, 0, 0, 0],
    ...                [0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0.5, 0], [0, 0, 0, 0, 0, 0.25]],
    ...               dtype=tg.float64)
    >>> E, X = tg.lobpcg(A, k=1)
    >>> round(E.item(), 6)
    4.618034
    """
    op = "lobpcg"
    A = _t(A, op, "A")
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise ValueError(f"lobpcg(): A must be a square matrix or a batch of them, got shape "
                         f"{tuple(A.shape)}")
    if A.dtype.kind != "f":
        raise TypeError(f"lobpcg(): A must be a real floating-point tensor, got {A.dtype}")
    m = A.shape[-1]
    batch = tuple(A.shape[:-2])
    if X is not None:
        X = _t(X, op, "X")
        if X.ndim < 2 or X.shape[-2] != m or (X.ndim > 2 and tuple(X.shape[:-2]) != batch):
            raise ValueError(f"lobpcg(): X must be (..., {m}, n) for A of shape "
                             f"{tuple(A.shape)}, got {tuple(X.shape)}")
        n_x = X.shape[-1]
        if n is not None and _int(n, op, "n") != n_x:
            raise ValueError(f"lobpcg(): n(={n}) differs from X's column count {n_x}")
        n = n_x
        k = n if k is None else k
    else:
        k = 1 if k is None else k
        n = k if n is None else n
    k = _int(k, op, "k")
    n = _int(n, op, "n")
    if not 1 <= k <= n:
        raise ValueError(f"lobpcg(): k(={k}) must be between 1 and n(={n})")
    if m < 3 * n:
        raise ValueError(f"lobpcg(): LOBPCG is not applicable when the number of A rows "
                         f"(={m}) is smaller than 3 x the number of requested eigenpairs "
                         f"(={n})")
    if method not in (None, "ortho", "basic"):
        raise ValueError(f"lobpcg(): method must be 'ortho' or 'basic', got {method!r}")
    if tracker is not None and not callable(tracker):
        raise TypeError(f"lobpcg(): tracker must be callable, got {type(tracker).__name__}")
    for name, p in (("ortho_iparams", ortho_iparams), ("ortho_fparams", ortho_fparams),
                    ("ortho_bparams", ortho_bparams)):
        if p is not None and not isinstance(p, dict):
            raise TypeError(f"lobpcg(): {name} must be a dict, got {type(p).__name__}")
    eps = float(np.finfo(A.dtype).eps)
    tol = math.sqrt(eps) if tol is None else float(tol)
    niter = 1000 if niter is None else _int(niter, op, "niter")
    largest = True if largest is None else bool(largest)
    drop = float((ortho_fparams or {}).get("ortho_tol", 100 * eps))
    xp = _xp(A)
    if X is None:
        x0 = _ta_randn(batch + (m, n), A.dtype, A.device).data
    else:
        x0 = X.data.astype(A.dtype)
    ikd = None
    if iK is not None:
        iK = _t(iK, op, "iK")
        _square_check(iK, "iK", m, batch)
        ikd = iK.data.astype(A.dtype)
    if xp_of(x0) is not xp or (ikd is not None and xp_of(ikd) is not xp):
        raise RuntimeError("lobpcg(): X and iK must be on A's device")
    As = (A + A.mT) / 2
    Bs = None
    if B is not None:
        B = _t(B, op, "B")
        _square_check(B, "B", m, batch)
        Bs = (B + B.mT) / 2
    packed = _lobpcg_packed(As, Bs, x0=x0, ik=ikd, k=k, largest=largest, tol=tol,
                            niter=niter, tracker=tracker, drop=drop)
    return packed[..., 0, :], packed[..., 1:, :]


# ---- as_strided ----------------------------------------------------------------------------------
def _strided_index(x, size, stride, storage_offset, op):
    """The flat indices (an int64 array of shape ``size`` on x's device) of the elements
    ``storage_offset + sum_k i_k * stride_k`` of x's contiguous storage."""
    if not isinstance(size, (tuple, list)) or not isinstance(stride, (tuple, list)):
        raise TypeError(f"{op}(): size and stride must be tuples of ints, got {size!r} and "
                        f"{stride!r}")
    size = tuple(_int(s, op, "size") for s in size)
    stride = tuple(_int(s, op, "stride") for s in stride)
    if len(size) != len(stride):
        raise RuntimeError(f"{op}(): mismatch in length of strides and shape: size {size}, "
                           f"stride {stride}")
    if any(s < 0 for s in size):
        raise RuntimeError(f"{op}(): size must be non-negative, got {size}")
    if any(s < 0 for s in stride):
        raise RuntimeError(f"{op}(): negative strides are not supported, got {stride}")
    off = 0 if storage_offset is None else _int(storage_offset, op, "storage_offset")
    if off < 0:
        raise RuntimeError(f"{op}(): storage_offset must be non-negative, got {off}")
    if not x.data.flags.c_contiguous:
        raise RuntimeError(
            f"{op}(): input of shape {tuple(x.shape)} with strides {_s3._stride(x)} is not "
            "contiguous; tensorgrad's views are NumPy/CuPy views without a shared storage, so "
            f"{op} indexes the input's own elements in row-major order: call .contiguous() "
            "first")
    numel = x.numel()
    if all(s > 0 for s in size):
        need = off + sum((s - 1) * st for s, st in zip(size, stride)) + 1
        if need > numel:
            raise RuntimeError(
                f"{op}(): size {size}, stride {stride} and storage_offset {off} need "
                f"{need} elements, but the input of shape {tuple(x.shape)} has {numel}")
    xp = _xp(x)
    idx = xp.full(size, off, dtype=np.int64)
    for d, (s, st) in enumerate(zip(size, stride)):
        shape = [1] * len(size)
        shape[d] = s
        idx = idx + (xp.arange(s, dtype=np.int64) * st).reshape(shape)
    return idx


def as_strided(input, size, stride, storage_offset=None):
    """The tensor of shape ``size`` whose element ``i`` is the input's element number
    ``storage_offset + sum_k i_k * stride_k`` in row-major order (the input taken as its own
    storage: ``storage_offset`` counts from its first element). A copy (a gather), not a view:
    writing to it leaves the input alone. Differentiable (the VJP scatter-adds, so
    overlapping windows accumulate). A non-contiguous input raises (tensorgrad has no shared
    storage model); call ``.contiguous()`` first.

    >>> import tensorgrad as tg
    >>> tg.as_strided(tg.arange(5.0), (3, 2), (1, 1)).tolist()   # overlapping windows
    [[0.0, 1.0], [1.0, 2.0], [2.0, 3.0]]
    """
    x = _t(input, "as_strided")
    idx = _strided_index(x, size, stride, storage_offset, "as_strided")
    return _getitem(x.reshape(-1), _const(idx))


def as_strided_copy(input, size, stride, storage_offset=None):
    """``as_strided`` as a new tensor (tensorgrad's ``as_strided`` already copies)."""
    return as_strided(input, size, stride, storage_offset)


def as_strided_scatter(input, src, size, stride, storage_offset=None):
    """A copy of ``input`` with ``src`` written into the places ``as_strided(input, size,
    stride, storage_offset)`` reads; where places overlap, the last of ``src``'s elements in
    row-major order wins. Differentiable in both.

    >>> import tensorgrad as tg
    >>> tg.as_strided_scatter(tg.zeros(5), tg.tensor([1.0, 2.0]), (2,), (2,), 1).tolist()
    [0.0, 1.0, 0.0, 2.0, 0.0]
    """
    op = "as_strided_scatter"
    x = _t(input, op)
    s = _t(src, op, "src")
    idx = _strided_index(x, size, stride, storage_offset, op)
    if tuple(s.shape) != tuple(idx.shape):
        raise RuntimeError(f"{op}(): expected src to have a size equal to the slice of self. "
                           f"src size = {tuple(s.shape)}, slice size = {tuple(idx.shape)}")
    xp = _xp(x)
    n = idx.size
    flat_idx = idx.reshape(-1)
    numel = x.numel()
    # the writer of each place: the last src element (row-major) aiming at it
    order = xp.argsort(flat_idx * max(n, 1) + xp.arange(n, dtype=np.int64))
    places = flat_idx[order]
    last = xp.concatenate([places[1:] != places[:-1], xp.ones(min(n, 1), dtype=bool)])
    owner = xp.full(numel, -1, dtype=np.int64)
    owner[places[last]] = order[last]
    written = owner >= 0
    picked = _getitem(s.reshape(-1), _const(xp.maximum(owner, 0))) if n else x.reshape(-1)
    out = _ew.where(_const(written), picked.to(x.dtype) if picked.dtype != x.dtype else picked,
                    x.reshape(-1))
    return out.reshape(x.shape)


# ---- segment_reduce ------------------------------------------------------------------------------
_SEGMENT_REDUCE = {"sum": "sum", "mean": "mean", "max": "amax", "amax": "amax", "min": "amin",
                   "amin": "amin", "prod": "prod"}


def segment_reduce(data, reduce, *, lengths=None, indices=None, offsets=None, axis=0,
                   unsafe=False, initial=None):
    """Reduce consecutive segments of ``data`` along ``axis`` (``reduce``: "sum", "mean",
    "max"/"amax", "min"/"amin", "prod"), the segments given by ``lengths`` or ``offsets``
    (shape ``data.shape[:axis] + (S,)``, resp. ``(S + 1,)``: one row per leading index when
    ``axis > 0``). The result has ``data.shape[axis]`` replaced by S. An empty segment gives
    ``initial`` if given, else 0 (sum), 1 (prod), NaN (mean), -inf (max), inf (min); with
    ``initial``, max/min include it, sum/prod fold it in, and mean is (initial + sum) / length,
    as PyTorch's. Differentiable in ``data`` (ties of max/min share the gradient evenly).
    ``unsafe=True`` skips the check that the lengths add up to ``data.shape[axis]``; elements
    past the last segment are then ignored. ``indices`` is not supported (as in PyTorch).

    >>> import tensorgrad as tg
    >>> x = tg.tensor([1.0, 5.0, 2.0, 4.0, 3.0])
    >>> tg.segment_reduce(x, "max", offsets=tg.tensor([0, 2, 2, 5])).tolist()
    [5.0, -inf, 4.0]
    """
    op = "segment_reduce"
    x = _t(data, op, "data")
    if reduce not in _SEGMENT_REDUCE:
        raise ValueError(f"{op}(): reduce must be one of sum, mean, max, min, prod (or amax, "
                         f"amin), got {reduce!r}")
    _floating(x, op, "data")
    if indices is not None:
        raise NotImplementedError(f"{op}(): indices based reduction is not supported")
    if (lengths is None) == (offsets is None):
        raise ValueError(f"{op}(): give exactly one of lengths and offsets")
    axis = _ta._dim(x, axis, op)
    xp = _xp(x)
    if lengths is not None:
        lg = _t(lengths, op, "lengths")
        lname = "lengths"
    else:
        lg = _t(offsets, op, "offsets")
        lname = "offsets"
    if lg.dtype.kind not in "iu":
        raise TypeError(f"{op}(): {lname} must be an integer tensor, got {lg.dtype}")
    if xp_of(lg.data) is not xp:
        raise RuntimeError(f"{op}(): {lname} must be on data's device")
    if lg.ndim != axis + 1 or tuple(lg.shape[:-1]) != tuple(x.shape[:axis]):
        raise ValueError(f"{op}(): {lname} must have shape data.shape[:axis] + (S,) = "
                         f"{tuple(x.shape[:axis])} + (S,), got {tuple(lg.shape)} for data of "
                         f"shape {tuple(x.shape)} and axis {axis}")
    raw = lg.data.astype(np.int64)
    if lengths is None:
        if raw.shape[-1] < 1:
            raise ValueError(f"{op}(): offsets must have at least one entry")
        lens = raw[..., 1:] - raw[..., :-1]
        starts = raw[..., :1]
    else:
        lens = raw
        starts = xp.zeros(raw.shape[:-1] + (1,), dtype=np.int64)
    L = x.shape[axis]
    if bool(xp.any(lens < 0)):
        raise ValueError(f"{op}(): {lname} must give non-negative segment lengths")
    ends = starts + xp.cumsum(lens, axis=-1)                              # (..., S)
    if not unsafe and bool(xp.any(ends[..., -1:] != L)):
        raise ValueError(f"{op}(): the segments must cover data.shape[axis] = {L} exactly "
                         f"(lengths summing to it, offsets ending at it) when not unsafe")
    if bool(xp.any(ends > L)):
        raise ValueError(f"{op}(): the segments reach past data.shape[axis] = {L}")
    S = lens.shape[-1]
    pos = xp.arange(L, dtype=np.int64)
    # segment number of each position (S: in no segment, a spare row dropped at the end)
    seg = xp.sum(ends[..., None, :] <= pos[:, None], axis=-1)             # (..., L)
    seg = xp.where(pos < starts, S, seg)
    tail = (1,) * (x.ndim - axis - 1)
    index = xp.broadcast_to(seg.reshape(seg.shape + tail), x.shape)
    out_shape = tuple(x.shape[:axis]) + (S + 1,) + tuple(x.shape[axis + 1:])
    kind = _SEGMENT_REDUCE[reduce]
    counts = lens.reshape(lens.shape + tail)
    empty_fill = {"sum": 0.0, "mean": math.nan, "amax": -math.inf, "amin": math.inf,
                  "prod": 1.0}[kind]
    if kind in ("sum", "prod", "mean"):
        fill = (0.0 if kind != "prod" else 1.0) if initial is None or kind == "mean" \
            else float(initial)
        base = _const(xp.full(out_shape, fill, dtype=x.dtype))
        red = _s3.scatter_reduce(base, axis, _const(index), x,
                                 "prod" if kind == "prod" else "sum", include_self=True)
        red = _ta.narrow(red, axis, 0, S)
        if kind != "mean":
            return red
        if initial is not None:
            red = red + float(initial)
        safe = _const(xp.maximum(counts, 1).astype(x.dtype))
        empty = initial if initial is not None else empty_fill
        return _ew.where(_const(counts > 0), red / safe, float(empty))
    # the base starts beyond every value: with include_self=False scatter_reduce (as torch's)
    # still counts a base equal to the result among the ties sharing the gradient
    base = _const(xp.full(out_shape, empty_fill, dtype=x.dtype))
    red = _s3.scatter_reduce(base, axis, _const(index), x, kind, include_self=False)
    red = _ta.narrow(red, axis, 0, S)
    if initial is None:
        return _ew.where(_const(counts > 0), red, empty_fill)
    # the initial value competes, and wins only when strictly beyond: ties keep the gradient
    init = float(initial)
    beyond = (red.data < init) if kind == "amax" else (red.data > init)
    return _ew.where(_const(beyond | (counts == 0)), init, red)


# ---- nonzero_static --------------------------------------------------------------------------
def nonzero_static(input, *, size, fill_value=-1):
    """The (size, ndim) int64 indices of the first ``size`` nonzero elements of ``input`` (row
    major), padded with ``fill_value`` rows when there are fewer: ``nonzero`` with a fixed
    output shape.

    >>> import tensorgrad as tg
    >>> tg.nonzero_static(tg.tensor([0, 3, 0, 4]), size=3).tolist()
    [[1], [3], [-1]]
    """
    op = "nonzero_static"
    x = _t(input, op)
    size = _int(size, op, "size")
    if size < 0:
        raise ValueError(f"{op}(): size must be non-negative, got {size}")
    fill = _int(fill_value, op, "fill_value")
    xp = _xp(x)
    if x.ndim == 0:
        return _const(xp.zeros((size, 0), dtype=np.int64))
    found = xp.stack(xp.nonzero(x.data), axis=-1).astype(np.int64)[:size]
    pad = xp.full((size - found.shape[0], x.ndim), fill, dtype=np.int64)
    return _const(xp.concatenate([found, pad], axis=0))


def _attach(T):
    methods = {"as_strided": as_strided, "as_strided_scatter": as_strided_scatter,
               "nonzero_static": nonzero_static}
    for name, fn in methods.items():
        if not hasattr(T, name):
            setattr(T, name, fn)
    if not hasattr(T, "as_strided_"):
        T.as_strided_ = _s3._shape_inplace("as_strided_", as_strided)


_attach(Tensor)


def as_strided_(input, size, stride, storage_offset=None):
    """``input.as_strided_(size, stride, storage_offset)``: ``input`` becomes
    ``as_strided(input, ...)`` (its history too)."""
    return _t(input, "as_strided_").as_strided_(size, stride, storage_offset)


__all__ = ["svd_lowrank", "pca_lowrank", "lobpcg", "as_strided", "as_strided_",
           "as_strided_copy", "as_strided_scatter", "segment_reduce", "nonzero_static"]
