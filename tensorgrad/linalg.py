"""``tg.linalg``: PyTorch's ``torch.linalg``, differentiable, on tensorgrad's primitives.

PyTorch's names, signatures and return types (named tuples with torch's field names:
``slogdet(A).logabsdet``, ``svd(A).Vh``, ``lstsq(A, B).solution``), batched over leading
dimensions. Everything is a composition of the primitives of :mod:`tensorgrad.ops.decomp`,
:mod:`tensorgrad.torch_qr` and :mod:`tensorgrad.scipy.linalg` (solve_triangular, expm), except
the LU factorization, a primitive of this module (:func:`lu_packed`).

>>> import tensorgrad as tg
>>> a = tg.tensor([[2.0, 0.0], [0.0, 4.0]], requires_grad=True)
>>> tg.linalg.solve(a, tg.tensor([2.0, 2.0])).tolist()
[1.0, 0.5]
>>> tg.linalg.slogdet(a).logabsdet.backward()
>>> a.grad.tolist()
[[0.5, 0.0], [0.0, 0.25]]

Conventions where PyTorch's and NumPy's differ, chosen as PyTorch's: ``eigh``/``eigvalsh``
read one triangle (``UPLO``) but differentiate as functions of the Hermitian part
``(A + A^H) / 2`` (a Hermitian gradient, as PyTorch's); ``eig``/``eigvals`` are always complex;
``solve`` reads ``B`` as a batch of vectors when it is 1-D or has the shape ``A.shape[:-1]``.
A singular (non positive-definite) input raises :class:`LinAlgError`, a ``RuntimeError`` as
PyTorch's (and a ``numpy.linalg.LinAlgError``), naming the function, the batch element and the
shape; the ``*_ex`` variants return ``info`` (int32, LAPACK's code) and NaN in the failed
elements instead. ``out=`` is accepted for PyTorch's signature and refused when given.
Complex gradients follow tensorgrad's (HIPS autograd's) convention.

Householder reflectors: ``householder_product`` (and ``ormqr`` beside it) is a composition of
differentiable ops, so derivatives of any order come from theirs; ``geqrf``, ``ldl_factor``,
``ldl_factor_ex`` and ``ldl_solve`` call LAPACK (NumPy's ``qr(mode='raw')``, SciPy's
``?sytrf``/``?hetrf``/``?sytrs``/``?hetrs``) and, as PyTorch's, have no derivative:
differentiating them raises NotImplementedError. CuPy has no Bunch-Kaufman factorization, so
on cuda the LDL functions copy the matrices to the host, factor or solve there and copy the
answer back (one explicit round trip per call); ``geqrf`` runs on the GPU (CuPy's
``qr(mode='raw')``).

Not here: ``lu_factor(pivot=False)`` (PyTorch's CPU lacks it too).
"""

import math
import numbers
import warnings
from collections import namedtuple

import numpy as np

from . import numpy as _tnp
from .backend.device import to_host, xp_of
from .numpy import linalg as _nla
from .ops import decomp as _dc
from .ops import elementwise as _ew
from .ops import reduce as _red
from .ops.decomp import _flat_batch, _mH, _mT
from .ops.index import getitem as _getitem
from .ops.linalg import matmul as _matmul
from .ops.registry import defjvp, defvjp, primitive
from .ops.shape import broadcast_to as _broadcast_to
from .ops.shape import concatenate_ as _concat
from .ops.shape import expand_dims as _expand
from .ops.shape import reshape as _reshape
from .ops.shape import squeeze as _squeeze
from .tensor import Tensor, _new_tensor, _norm_axis, _raw
from .torch_api import _t

# ---- PyTorch's return types (torch.return_types.linalg_*) ----------------------------------
linalg_slogdet = namedtuple("linalg_slogdet", ["sign", "logabsdet"])
linalg_eig = namedtuple("linalg_eig", ["eigenvalues", "eigenvectors"])
linalg_eigh = namedtuple("linalg_eigh", ["eigenvalues", "eigenvectors"])
linalg_svd = namedtuple("linalg_svd", ["U", "S", "Vh"])
linalg_qr = namedtuple("linalg_qr", ["Q", "R"])
linalg_lstsq = namedtuple("linalg_lstsq", ["solution", "residuals", "rank", "singular_values"])
linalg_inv_ex = namedtuple("linalg_inv_ex", ["inverse", "info"])
linalg_solve_ex = namedtuple("linalg_solve_ex", ["result", "info"])
linalg_cholesky_ex = namedtuple("linalg_cholesky_ex", ["L", "info"])
linalg_lu_factor = namedtuple("linalg_lu_factor", ["LU", "pivots"])
linalg_lu_factor_ex = namedtuple("linalg_lu_factor_ex", ["LU", "pivots", "info"])
linalg_lu = namedtuple("linalg_lu", ["P", "L", "U"])
linalg_ldl_factor = namedtuple("linalg_ldl_factor", ["LD", "pivots"])
linalg_ldl_factor_ex = namedtuple("linalg_ldl_factor_ex", ["LD", "pivots", "info"])
geqrf_result = namedtuple("geqrf", ["a", "tau"])


class LinAlgError(np.linalg.LinAlgError, RuntimeError):
    """A singular or non positive-definite input: PyTorch's ``torch.linalg.LinAlgError`` (a
    RuntimeError), and NumPy's ``LinAlgError`` for code written against NumPy."""


# ---- small helpers ---------------------------------------------------------------------------
def _const(arr):
    return _new_tensor(arr, None, False)


def _xp(x):
    return xp_of(_raw(x))


def _no_out(out, op):
    if out is not None:
        raise TypeError(f"linalg.{op}(): out= is not supported by tensorgrad; use the returned "
                        "tensor")




def _float_matrices(x, op, name="A"):
    if x.ndim < 2:
        raise ValueError(f"linalg.{op}: {name} must have at least 2 dimensions, got shape "
                         f"{tuple(x.shape)}")
    if x.dtype.kind not in "fc":
        raise TypeError(f"linalg.{op}: {name} must be floating point or complex, got "
                        f"{x.dtype}")


def _square(x, op, name="A"):
    _float_matrices(x, op, name)
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"linalg.{op}: {name} must be batches of square matrices, but they "
                         f"are {x.shape[-2]} by {x.shape[-1]} matrices (shape "
                         f"{tuple(x.shape)})")


def _same_dtype(a, b, op):
    if a.dtype != b.dtype:
        raise TypeError(f"linalg.{op}: Expected A and B to have the same dtype, but found A of "
                        f"type {a.dtype} and B of type {b.dtype} instead")


def _broadcast_batch(a, b):
    """a (..., p, q) and b (..., r, s) broadcast to one batch shape (CuPy's solvers do not
    broadcast; the engine sums the cotangents back)."""
    batch = np.broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-2]))
    if tuple(a.shape[:-2]) != batch:
        a = _broadcast_to(a, batch + tuple(a.shape[-2:]))
    if tuple(b.shape[:-2]) != batch:
        b = _broadcast_to(b, batch + tuple(b.shape[-2:]))
    return a, b


def _eye(x, n=None):
    raw = _raw(x)
    return xp_of(raw).eye(raw.shape[-1] if n is None else n, dtype=raw.dtype)


def _int32(x, arr):
    """A constant int32 tensor (LAPACK's info / pivots) on x's device."""
    return _const(_xp(x).asarray(arr).astype(np.int32))


def _batch_prefix(i, batch):
    if not batch:
        return ""
    return f"(Batch element {int(np.ravel_multi_index(i, batch)) if i else 0}): "


def _first_failure(info, x):
    """(index tuple, code) of the first nonzero info, from the host copy; None when all are 0."""
    host = np.asarray(to_host(info)) if not isinstance(info, np.ndarray) else info
    bad = np.argwhere(host != 0)
    if not len(bad):
        return None
    idx = tuple(int(v) for v in bad[0])
    return idx, int(host[idx])


# ---- LU: the one primitive of this module ---------------------------------------------------
def _lu_raw(a):
    """(lu, pivots) of SciPy's (or cupyx's) lu_factor for every matrix of a (..., m, n);
    pivots 0-based row swaps (..., min(m, n)). A zero pivot is no error here (info says)."""
    from .scipy import _host_linalg
    from .scipy._module import scipy_module

    mod = scipy_module("linalg", (a,), "lu_factor")
    if mod is _host_linalg:  # without SciPy: NumPy's own, the whole batch at once
        return _host_linalg.lu_factor(a)
    lu_factor = mod.lu_factor
    xp = xp_of(a)
    m, n = a.shape[-2], a.shape[-1]
    k = min(m, n)
    flat = _flat_batch(a)
    lus, pivs = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SciPy warns on an exactly singular matrix
        for i in range(flat.shape[0]):
            lu, piv = lu_factor(flat[i], check_finite=False)
            lus.append(lu)
            pivs.append(piv)
    if not lus:
        return xp.empty(a.shape, a.dtype), xp.empty(a.shape[:-2] + (k,), np.int64)
    lu = xp.stack(lus).reshape(a.shape).astype(a.dtype, copy=False)
    piv = xp.stack(pivs).astype(np.int64).reshape(a.shape[:-2] + (k,))
    return lu, piv


@primitive
def lu_packed(a):
    """The LU factorization with partial pivoting, A = P L U, packed into one array
    (..., m + 1, n): rows 0..m-1 hold L's strict lower triangle and U (LAPACK's layout), row m
    LAPACK's 0-based pivots (as values of a's dtype). Differentiable for any shape where the
    leading k x k block of U is invertible (k = min(m, n)); the pivots are locally constant."""
    xp = xp_of(a)
    lu, piv = _lu_raw(a)
    row = xp.zeros(a.shape[:-2] + (1, a.shape[-1]), dtype=a.dtype)
    row[..., 0, : piv.shape[-1]] = piv.astype(a.dtype)
    return xp.concatenate([lu, row], axis=-2)


def _lu_parts(p, m):
    """(LU tensor, 0-based pivots raw int array) from a packed LU (m rows)."""
    lu = _getitem(p, (Ellipsis, slice(0, m), slice(None)))
    raw = _raw(p)
    k = min(m, raw.shape[-1])
    piv = raw[..., m, :k].real.astype(np.int64)
    return lu, piv


def _perm_from_pivots(piv, m):
    """LAPACK's row swaps (0-based, (..., k)) as the permutation perm (..., m) with
    A[perm] = L U."""
    xp = xp_of(piv)
    batch = piv.shape[:-1]
    perm = xp.broadcast_to(xp.arange(m), batch + (m,)).copy()
    for i in range(piv.shape[-1]):
        j = piv[..., i : i + 1]
        here = perm[..., i : i + 1].copy()
        there = xp.take_along_axis(perm, j, -1)
        perm[..., i : i + 1] = there
        xp.put_along_axis(perm, j, here, -1)
    return perm


def _pt_matrix(piv, m, dtype):
    """P^T as a constant (..., m, m) matrix: P^T A = A[perm]."""
    xp = xp_of(piv)
    perm = _perm_from_pivots(piv, m)
    return (perm[..., :, None] == xp.arange(m)).astype(dtype)


def _tri_masks(x, n):
    raw = _raw(x)
    xp = xp_of(raw)
    dt = np.empty(0, raw.dtype).real.dtype
    ones = xp.ones((n, n), dtype=dt)
    return xp.tril(ones, -1), xp.triu(ones)


def _block(x, rows, cols):
    return _getitem(x, (Ellipsis, rows, cols))


def _lu_factors(ans, m, n):
    """(L1, U1, L2, U2, P^T, strict, upper) of a packed LU (m x n, k = min(m, n)): P^T A =
    [L1; L2] [U1 U2] with L1 (k, k) unit lower, U1 (k, k) upper, L2 (m - k, k) the rows of L
    below (tall A), U2 (k, n - k) the columns of U to the right (wide A)."""
    lu, piv = _lu_parts(ans, m)
    k = min(m, n)
    head, tail = slice(0, k), slice(k, None)
    strict, upper = _tri_masks(lu, k)
    top = _block(lu, head, head)
    low1 = top * strict + _eye(top)
    up1 = top * upper
    pt = _pt_matrix(piv, m, _raw(lu).dtype)
    return low1, up1, _block(lu, tail, head), _block(lu, head, tail), pt, strict, upper


# A = P L U (m x n, k = min(m, n)). With P^T dA = [dA1 dA2; dA3 .] split at k, and
# X = L1^-1 dA1 U1^-1 = L1^-1 dL1 (strictly lower) + dU1 U1^-1 (upper):
#     dL1 = L1 tril(X, -1)     dU1 = triu(X) U1
#     dU2 = L1^-1 dA2 - tril(X, -1) U2          (wide A: the columns of U beyond k)
#     dL2 = dA3 U1^-1 - L2 triu(X)              (tall A: the rows of L beyond k)
# The VJP is the transpose of that map (PyTorch's linalg_lu_backward, derived here).
def _lu_jvp(t, ans, a):
    m, n = a.shape[-2], a.shape[-1]
    k = min(m, n)
    head, tail = slice(0, k), slice(k, None)
    low1, up1, low2, up2, pt, strict, upper = _lu_factors(ans, m, n)
    pdt = _matmul(pt, t)
    y = _dc.solve(low1, _block(pdt, head, head))
    x = _mT(_dc.solve(_mT(up1), _mT(y)))
    xl, xu = x * strict, x * upper
    dlu = _matmul(low1, xl) + _matmul(xu, up1)
    if n > k:
        du2 = _dc.solve(low1, _block(pdt, head, tail)) - _matmul(xl, up2)
        dlu = _concat(dlu.ndim - 1, dlu, du2)
    if m > k:
        dl2 = _mT(_dc.solve(_mT(up1), _mT(_block(pdt, tail, head)))) - _matmul(low2, xu)
        dlu = _concat(dlu.ndim - 2, dlu, dl2)
    zero = _const(_xp(dlu).zeros(tuple(dlu.shape[:-2]) + (1, n), _raw(dlu).dtype))
    return _concat(dlu.ndim - 2, dlu, zero)


def _lu_vjp(g, ans, a):
    # gA = P [L1^-T M U1^-T, L1^-T gU2; gL2 U1^-T] with
    # M = tril(L1^T gL1 - gU2 U2^T, -1) + triu(gU1 U1^T - L2^T gL2)
    m, n = a.shape[-2], a.shape[-1]
    k = min(m, n)
    head, tail = slice(0, k), slice(k, None)
    low1, up1, low2, up2, pt, strict, upper = _lu_factors(ans, m, n)
    g1 = _block(g, head, head)
    lower_part = _matmul(_mT(low1), g1 * strict)
    upper_part = _matmul(g1 * upper, _mT(up1))
    if n > k:
        gu2 = _block(g, head, tail)
        lower_part = lower_part - _matmul(gu2, _mT(up2))
    if m > k:
        gl2 = _block(g, slice(k, m), head)
        upper_part = upper_part - _matmul(_mT(low2), gl2)
    inner = lower_part * strict + upper_part * upper
    ga = _mT(_dc.solve(up1, _mT(_dc.solve(_mT(low1), inner))))
    if n > k:
        ga = _concat(ga.ndim - 1, ga, _dc.solve(_mT(low1), gu2))
    if m > k:
        ga = _concat(ga.ndim - 2, ga, _mT(_dc.solve(up1, _mT(gl2))))
    return _matmul(_mT(pt), ga)


defvjp(lu_packed, _lu_vjp)
defjvp(lu_packed, _lu_jvp)


def _lu_info(lu_raw):
    """LAPACK's getrf info: 1 + the index of the first zero on U's diagonal, 0 if none."""
    xp = xp_of(lu_raw)
    return _first_true(xp.diagonal(lu_raw, 0, -2, -1) == 0)


def _first_true(mask):
    """LAPACK's info from a boolean (..., k): 1 + the index of the first True, 0 if none (and
    for k = 0, where argmax has nothing to look at)."""
    xp = xp_of(mask)
    if mask.shape[-1] == 0:
        return xp.zeros(mask.shape[:-1], np.int32)
    first = xp.argmax(mask, axis=-1) + 1
    return xp.where(mask.any(axis=-1), first, 0).astype(np.int32)


def _singular_mask(a_raw):
    """(info, mask) of the LU of the raw matrices: mask (..., 1, 1) is True where singular."""
    info = _lu_info(_lu_raw(a_raw)[0])
    return info, (info != 0)[..., None, None]


# ---- determinants, inverses, solves ---------------------------------------------------------
def det(A, *, out=None):
    """The determinant of square matrices (batched), differentiable.

    >>> import tensorgrad as tg
    >>> tg.linalg.det(tg.tensor([[2.0, 1.0], [1.0, 3.0]])).item()
    5.0
    """
    _no_out(out, "det")
    a = _t(A, "linalg.det", "A")
    _square(a, "det")
    return _dc.det(a)


def slogdet(A, *, out=None):
    """``linalg_slogdet(sign, logabsdet)``: det = sign * exp(logabsdet); logabsdet is
    differentiable, sign is a constant (PyTorch differentiates a complex sign too)."""
    _no_out(out, "slogdet")
    a = _t(A, "linalg.slogdet", "A")
    _square(a, "slogdet")
    sign, logabs = _dc.slogdet(a)
    return linalg_slogdet(sign, logabs)


def _raise_singular(op, a, info, what):
    bad = _first_failure(info, a)
    if bad is None:
        return
    idx, code = bad
    prefix = _batch_prefix(idx, tuple(a.shape[:-2]))
    raise LinAlgError(f"linalg.{op}: {prefix}{what(code)} (A of shape {tuple(a.shape)})")


def _inv_message(code):
    return (f"The diagonal element {code} is zero, the inversion could not be completed "
            "because the input matrix is singular.")


def _solve_message(code):
    return (f"The solver failed because the input matrix is singular (U[{code},{code}] is "
            "zero).")


def _checked(op, a, fn, message):
    """fn(), with a singular input raised as PyTorch raises it. NumPy raises; CuPy returns
    non-finite values, which one host read checks."""
    try:
        out = fn()
    except np.linalg.LinAlgError:
        info, _ = _singular_mask(a.data)
        _raise_singular(op, a, info, message)
        raise
    if _xp(a) is not np and not bool(to_host(_xp(a).isfinite(_raw(out)).all())):
        info, _ = _singular_mask(a.data)
        _raise_singular(op, a, info, message)
    return out


def inv(A, *, out=None):
    """The inverse of square matrices (batched). A singular matrix raises LinAlgError.

    >>> import tensorgrad as tg
    >>> tg.linalg.inv(tg.tensor([[2.0, 0.0], [0.0, 4.0]])).tolist()
    [[0.5, 0.0], [0.0, 0.25]]
    """
    _no_out(out, "inv")
    a = _t(A, "linalg.inv", "A")
    _square(a, "inv")
    return _checked("inv", a, lambda: _dc.inv(a), _inv_message)


def _guarded(a, mask, fn):
    """fn(a) with the failed matrices (mask) replaced by the identity, their result NaN."""
    safe = _ew.where(mask, _eye(a), a)
    res = fn(safe)
    return res, _ew.where(mask if res.ndim == mask.ndim else mask[..., 0], np.nan, res)


def inv_ex(A, *, check_errors=False, out=None):
    """``linalg_inv_ex(inverse, info)``: info (int32) is 0, or i where U[i, i] of the LU is
    zero (the inverse is then NaN); ``check_errors=True`` raises as :func:`inv`."""
    _no_out(out, "inv_ex")
    a = _t(A, "linalg.inv_ex", "A")
    _square(a, "inv_ex")
    info, mask = _singular_mask(a.data)
    if check_errors:
        _raise_singular("inv_ex", a, info, _inv_message)
    inverse = _guarded(a, mask, _dc.inv)[1]
    return linalg_inv_ex(inverse, _int32(a, info))


def _is_vector_rhs(a, b):
    """PyTorch's rule: B is a (batch of) vector(s) when 1-D or of shape A.shape[:-1]."""
    return b.ndim == 1 or (b.ndim == a.ndim - 1 and tuple(b.shape) == tuple(a.shape[:-1]))


def _solve_setup(A, B, left, op):
    a = _t(A, f"linalg.{op}", "A")
    b = _t(B, f"linalg.{op}", "B")
    _square(a, op)
    _same_dtype(a, b, op)
    vector = _is_vector_rhs(a, b)
    bm = _expand(b, -1) if vector else b
    if bm.ndim < 2:
        raise ValueError(f"linalg.{op}: B must have at least 1 dimension, got shape "
                         f"{tuple(b.shape)}")
    n = a.shape[-1]
    rows = bm.shape[-2] if (left or vector) else bm.shape[-1]
    if rows != n:
        eq = "AX = B" if left else "XA = B"
        raise ValueError(f"linalg.{op}: Incompatible shapes of A and B for the equation {eq} "
                         f"({a.shape[-2]}x{n} and {b.shape[-2] if b.ndim > 1 else 1}x"
                         f"{b.shape[-1]}); A of shape {tuple(a.shape)}, B of shape "
                         f"{tuple(b.shape)}")
    if not left:  # X A = B  <=>  A^T X^T = B^T
        a = _mT(a)
        if not vector:
            bm = _mT(bm)
    a, bm = _broadcast_batch(a, bm)
    return a, bm, vector


def _solve_finish(x, vector, left):
    if vector:
        return _squeeze(x, -1)
    return x if left else _mT(x)


def solve(A, B, *, left=True, out=None):
    """X with A X = B (``left=False``: X A = B), batched and broadcast as PyTorch's: B is a
    batch of vectors when it is 1-D or of shape ``A.shape[:-1]``, else matrices (..., n, k).
    A singular A raises LinAlgError.

    >>> import tensorgrad as tg
    >>> tg.linalg.solve(tg.tensor([[2.0, 0.0], [0.0, 4.0]]), tg.tensor([2.0, 4.0])).tolist()
    [1.0, 1.0]
    """
    _no_out(out, "solve")
    a, b, vector = _solve_setup(A, B, left, "solve")
    x = _checked("solve", a, lambda: _dc.solve(a, b), _solve_message)
    return _solve_finish(x, vector, left)


def solve_ex(A, B, *, left=True, check_errors=False, out=None):
    """``linalg_solve_ex(result, info)``; info as :func:`inv_ex`'s, the result NaN where it is
    nonzero; ``check_errors=True`` raises as :func:`solve`."""
    _no_out(out, "solve_ex")
    a, b, vector = _solve_setup(A, B, left, "solve_ex")
    info, mask = _singular_mask(a.data)
    if check_errors:
        _raise_singular("solve_ex", a, info, _solve_message)
    x = _dc.solve(_ew.where(mask, _eye(a), a), b)
    x = _ew.where(mask, np.nan, x)
    return linalg_solve_ex(_solve_finish(x, vector, left), _int32(a, info))


def solve_triangular(A, B, *, upper, left=True, unitriangular=False, out=None):
    """X with A X = B (``left=False``: X A = B) for triangular A (..., n, n), reading only
    its upper (``upper=True``) or lower triangle, with ones on the diagonal when
    ``unitriangular``; B is (..., n, k) (batch dims broadcast). Differentiable in A (the
    gradient lives on the triangle read) and B."""
    from .scipy.linalg import _solve_tri

    _no_out(out, "solve_triangular")
    a = _t(A, "linalg.solve_triangular", "A")
    b = _t(B, "linalg.solve_triangular", "B")
    _square(a, "solve_triangular")
    _float_matrices(b, "solve_triangular", "B")
    _same_dtype(a, b, "solve_triangular")
    n = a.shape[-1]
    if (b.shape[-2] if left else b.shape[-1]) != n:
        raise ValueError(f"linalg.solve_triangular: Incompatible shapes of A and B: A of shape "
                         f"{tuple(a.shape)}, B of shape {tuple(b.shape)} (left={left})")
    a, b = _broadcast_batch(a, b)
    if left:
        return _solve_tri(a, b, 0, not upper, bool(unitriangular))
    return _mT(_solve_tri(a, _mT(b), 1, not upper, bool(unitriangular)))


# ---- Cholesky ---------------------------------------------------------------------------------
def _leading_minor_failure(m):
    """The order of the first leading minor of the host matrix m that is not positive-definite
    (a binary search: those of a positive-definite minor are all positive-definite)."""
    lo, hi = 1, m.shape[-1]
    while lo < hi:
        mid = (lo + hi) // 2
        try:
            np.linalg.cholesky(m[:mid, :mid])
            lo = mid + 1
        except np.linalg.LinAlgError:
            hi = mid
    return lo


def _cholesky_info(a_raw):
    """potrf's info per matrix (0, or the order of the failing leading minor), computed on
    the host copy."""
    host = np.asarray(to_host(a_raw))
    flat = _flat_batch(host)
    info = np.zeros(flat.shape[0], np.int32)
    for i in range(flat.shape[0]):
        m = flat[i]
        try:
            c = np.linalg.cholesky(m)
            if not np.isfinite(c).all():
                info[i] = _leading_minor_failure(m)
        except np.linalg.LinAlgError:
            info[i] = _leading_minor_failure(m)
    info = info.reshape(host.shape[:-2])
    return xp_of(a_raw).asarray(info)


def _chol_message(code):
    return (f"The factorization could not be completed because the input is not "
            f"positive-definite (the leading minor of order {code} is not positive-definite).")


def _cholesky_core(a, upper):
    low = _dc.cholesky(a)
    return _mH(low) if upper else low


def cholesky(A, *, upper=False, out=None):
    """The Cholesky factor L (A = L L^H; ``upper=True``: U = L^H) of Hermitian
    positive-definite matrices, batched. Differentiable for real inputs (a symmetric gradient,
    as PyTorch's). A matrix that is not positive-definite raises LinAlgError."""
    _no_out(out, "cholesky")
    a = _t(A, "linalg.cholesky", "A")
    _square(a, "cholesky")
    try:
        res = _cholesky_core(a, upper)
    except np.linalg.LinAlgError:
        _raise_singular("cholesky", a, _cholesky_info(a.data), _chol_message)
        raise
    if _xp(a) is not np and not bool(to_host(_xp(a).isfinite(_raw(res)).all())):
        _raise_singular("cholesky", a, _cholesky_info(a.data), _chol_message)
    return res


def cholesky_ex(A, *, upper=False, check_errors=False, out=None):
    """``linalg_cholesky_ex(L, info)``: info (int32) 0, or the order of the first leading
    minor that is not positive-definite (L is then NaN)."""
    _no_out(out, "cholesky_ex")
    a = _t(A, "linalg.cholesky_ex", "A")
    _square(a, "cholesky_ex")
    info = _cholesky_info(a.data)
    if check_errors:
        _raise_singular("cholesky_ex", a, info, _chol_message)
    mask = (info != 0)[..., None, None]
    low = _guarded(a, mask, lambda x: _cholesky_core(x, upper))[1]
    return linalg_cholesky_ex(low, _int32(a, info))


# ---- LU -----------------------------------------------------------------------------------------
def _lu_input(A, op, pivot):
    a = _t(A, f"linalg.{op}", "A")
    _float_matrices(a, op)
    if not pivot:
        raise NotImplementedError(f"linalg.{op}: LU without pivoting (pivot=False) is not "
                                  "implemented (nor on PyTorch's CPU)")
    return a


def _lu_factor_core(a):
    m = a.shape[-2]
    lu, piv = _lu_parts(lu_packed(a), m)
    return lu, piv


def lu_factor_ex(A, *, pivot=True, check_errors=False, out=None):
    """``linalg_lu_factor_ex(LU, pivots, info)``: LAPACK's compact LU (L's strict lower
    triangle and U), 1-based int32 pivots, and info (i when U[i, i] is zero, else 0).
    Differentiable in LU (any shape, as PyTorch's)."""
    _no_out(out, "lu_factor_ex")
    a = _lu_input(A, "lu_factor_ex", pivot)
    lu, piv = _lu_factor_core(a)
    info = _lu_info(_raw(lu))
    if check_errors:
        _raise_singular("lu_factor_ex", a, info, _inv_message)
    return linalg_lu_factor_ex(lu, _int32(a, piv + 1), _int32(a, info))


def lu_factor(A, *, pivot=True, out=None):
    """``linalg_lu_factor(LU, pivots)`` of :func:`lu_factor_ex`; a zero on U's diagonal raises
    LinAlgError, as PyTorch's.

    >>> import tensorgrad as tg
    >>> tg.linalg.lu_factor(tg.tensor([[1.0, 2.0], [3.0, 4.0]])).pivots.tolist()
    [2, 2]
    """
    _no_out(out, "lu_factor")
    a = _lu_input(A, "lu_factor", pivot)
    lu, piv = _lu_factor_core(a)
    info = _lu_info(_raw(lu))

    def message(code):
        return (f"U[{code},{code}] is zero and using it on lu_solve would result in a "
                "division by zero; linalg.lu or linalg.lu_factor_ex factor it anyway")

    _raise_singular("lu_factor", a, info, message)
    return linalg_lu_factor(lu, _int32(a, piv + 1))


def lu(A, *, pivot=True, out=None):
    """``linalg_lu(P, L, U)`` with A = P L U: P a permutation matrix, L (m, k) unit lower,
    U (k, n) upper triangular, k = min(m, n). Differentiable for any shape (as PyTorch's)."""
    _no_out(out, "lu")
    a = _lu_input(A, "lu", pivot)
    m, n = a.shape[-2], a.shape[-1]
    k = min(m, n)
    lu_t, piv = _lu_factor_core(a)
    strict, upper = _tri_masks(lu_t, max(m, n))
    low = _getitem(lu_t, (Ellipsis, slice(None), slice(0, k))) * strict[:m, :k]
    low = low + _xp(a).eye(m, k, dtype=a.dtype)
    up = _getitem(lu_t, (Ellipsis, slice(0, k), slice(None))) * upper[:k, :n]
    p = _mT(_const(_pt_matrix(piv, m, a.dtype)))
    return linalg_lu(p, low, up)


def lu_solve(LU, pivots, B, *, left=True, adjoint=False, out=None):
    """X with A X = B from ``lu_factor(A)`` (``adjoint=True``: A^H X = B; ``left=False``:
    X A = B), batched; differentiable in LU and B."""
    _no_out(out, "lu_solve")
    lu_t = _t(LU, "linalg.lu_solve", "LU")
    b = _t(B, "linalg.lu_solve", "B")
    piv_t = _t(pivots, "linalg.lu_solve", "pivots")
    _square(lu_t, "lu_solve", "LU")
    _float_matrices(b, "lu_solve", "B")
    _same_dtype(lu_t, b, "lu_solve")
    if piv_t.dtype.kind not in "iu":
        raise TypeError(f"linalg.lu_solve: pivots must be integers, got {piv_t.dtype}")
    n = lu_t.shape[-1]
    if (b.shape[-2] if left else b.shape[-1]) != n:
        raise ValueError(f"linalg.lu_solve: Incompatible shapes: LU of shape "
                         f"{tuple(lu_t.shape)}, B of shape {tuple(b.shape)} (left={left})")
    strict, upper = _tri_masks(lu_t, n)
    low = lu_t * strict + _eye(lu_t)
    up = lu_t * upper
    pt = _const(_pt_matrix(piv_t.data.astype(np.int64) - 1, n, lu_t.dtype))
    # X A = B  <=>  A^H X^H = B^H, so left=False is the adjoint problem on B^H
    conj_adjoint = adjoint != (not left)
    rhs = b if left else _mH(b)
    if not conj_adjoint:  # A = P L U: X = U^-1 L^-1 P^T B
        low, rhs = _broadcast_batch(low, _matmul(pt, rhs))
        y = _dc.solve(low, rhs)
        up, y = _broadcast_batch(up, y)
        x = _dc.solve(up, y)
    else:  # A^H = U^H L^H P^T: X = P L^-H U^-H B
        up_h, rhs = _broadcast_batch(_mH(up), rhs)
        y = _dc.solve(up_h, rhs)
        low_h, y = _broadcast_batch(_mH(low), y)
        x = _matmul(_mT(pt), _dc.solve(low_h, y))
    return x if left else _mH(x)


# ---- spectral decompositions -----------------------------------------------------------------
def _check_uplo(UPLO, op):
    if UPLO not in ("L", "U", "l", "u"):
        raise ValueError(f"linalg.{op}: UPLO must be 'L' or 'U', got {UPLO!r}")


def _hermitian_input(a, UPLO):
    """A tensor whose value is the Hermitian matrix read from a's UPLO triangle (what LAPACK
    reads) and whose derivative is that of (A + A^H) / 2: PyTorch's convention for eigh (a
    Hermitian gradient), where NumPy's function would put it on the triangle."""
    raw = a.data
    xp = xp_of(raw)
    tri = xp.tril(raw, -1) if UPLO in ("L", "l") else xp.triu(raw, 1)
    tri_h = xp.swapaxes(tri, -1, -2)
    if raw.dtype.kind == "c":
        tri_h = tri_h.conj()
    diag = xp.diagonal(raw, 0, -2, -1).real.astype(raw.dtype)
    h = tri + tri_h + diag[..., None] * xp.eye(raw.shape[-1], dtype=raw.dtype)
    sym = (a + _mH(a)) * 0.5
    return _const(h) + (sym - _const(sym.data))  # the value is h exactly


def eigh(A, UPLO="L", *, out=None):
    """``linalg_eigh(eigenvalues, eigenvectors)`` of Hermitian matrices (ascending real
    eigenvalues), batched, reading the ``UPLO`` triangle. Eigenvector derivatives assume
    distinct eigenvalues; the gradient is Hermitian, as PyTorch's."""
    _no_out(out, "eigh")
    a = _t(A, "linalg.eigh", "A")
    _square(a, "eigh")
    _check_uplo(UPLO, "eigh")
    w, v = _dc.eigh(_hermitian_input(a, UPLO), UPLO)
    return linalg_eigh(w, v)


def eigvalsh(A, UPLO="L", *, out=None):
    """The eigenvalues (ascending, real) of Hermitian matrices; differentiable also where they
    repeat.

    >>> import tensorgrad as tg
    >>> tg.linalg.eigvalsh(tg.tensor([[2.0, 1.0], [1.0, 2.0]])).tolist()
    [1.0, 3.0]
    """
    _no_out(out, "eigvalsh")
    a = _t(A, "linalg.eigvalsh", "A")
    _square(a, "eigvalsh")
    _check_uplo(UPLO, "eigvalsh")
    return _dc.eigvalsh(_hermitian_input(a, UPLO), UPLO)


def _complex(x):
    if x.dtype.kind == "c":
        return x
    return _ew.astype(x, np.result_type(x.dtype, np.complex64))


def eig(A, *, out=None):
    """``linalg_eig(eigenvalues, eigenvectors)`` of square matrices, always complex (as
    PyTorch's), eigenvectors of unit length with their largest entry real (LAPACK's). Their
    derivatives assume distinct eigenvalues; differentiate functions that do not depend on the
    eigenvectors' phase."""
    _no_out(out, "eig")
    a = _t(A, "linalg.eig", "A")
    _square(a, "eig")
    w, v = _dc.eig(a)
    return linalg_eig(_complex(w), _complex(v))


def eigvals(A, *, out=None):
    """The eigenvalues (complex) of square matrices, differentiable where A is
    diagonalizable."""
    _no_out(out, "eigvals")
    a = _t(A, "linalg.eigvals", "A")
    _square(a, "eigvals")
    return _complex(_dc.eigvals(a))


def svd(A, full_matrices=True, *, driver=None, out=None):
    """``linalg_svd(U, S, Vh)`` with A = U diag(S) Vh, S descending, batched; ``driver`` (a
    cuSOLVER choice in PyTorch) is accepted and ignored. U and Vh derivatives assume distinct
    nonzero singular values and are defined up to a sign per singular pair."""
    _no_out(out, "svd")
    a = _t(A, "linalg.svd", "A")
    _float_matrices(a, "svd")
    u, s, vh = _dc.svd(a, full_matrices=bool(full_matrices))
    return linalg_svd(u, s, vh)


def svdvals(A, *, driver=None, out=None):
    """The singular values (descending), differentiable also where they repeat."""
    _no_out(out, "svdvals")
    a = _t(A, "linalg.svdvals", "A")
    _float_matrices(a, "svdvals")
    return _dc.svdvals(a)


def qr(A, mode="reduced", *, out=None):
    """``linalg_qr(Q, R)``: ``mode`` 'reduced' (Q (m, k), R (k, n)), 'complete' (Q (m, m)) or
    'r' (R alone; Q an empty tensor). Differentiable for real inputs with m >= n of full rank
    (the reduced factors), and for wide ones (see :mod:`tensorgrad.torch_qr`)."""
    from .torch_qr import qr as _qr

    _no_out(out, "qr")
    a = _t(A, "linalg.qr", "A")
    _float_matrices(a, "qr")
    if mode not in ("reduced", "complete", "r"):
        raise ValueError(f"linalg.qr: mode must be 'reduced', 'complete' or 'r', got {mode!r}")
    if mode == "r":
        r = _qr(a, "reduced")[1]
        return linalg_qr(_const(_xp(a).empty((0,), a.dtype)), r)
    return linalg_qr(*_qr(a, mode))


# ---- pseudo-inverse, rank, least squares -----------------------------------------------------
def _tolerances(a, atol, rtol, op):
    """(atol, rtol) as host floats or arrays with PyTorch's defaults: rtol = eps * max(m, n)
    when neither is given, 0 when only atol > 0 is."""
    def host(v, name):
        if v is None:
            return None
        if isinstance(v, Tensor):
            return np.asarray(to_host(v.data), dtype=float)
        if isinstance(v, numbers.Real):
            return float(v)
        raise TypeError(f"linalg.{op}: {name} must be a float or a tensor, got "
                        f"{type(v).__name__}")

    atol, rtol = host(atol, "atol"), host(rtol, "rtol")
    if rtol is None:
        eps = np.finfo(a.dtype).eps
        rtol = eps * max(a.shape[-2], a.shape[-1])
        if atol is not None and np.all(np.asarray(atol) > 0):
            rtol = 0.0
    return (0.0 if atol is None else atol), rtol


def pinv(A, *, atol=None, rtol=None, hermitian=False, out=None):
    """The Moore-Penrose pseudo-inverse (batched): singular values at most
    max(atol, rtol * largest) are dropped, PyTorch's defaults. Differentiable where the rank
    does not change (Golub and Pereyra's formula). ``hermitian=True`` computes it from the
    eigendecomposition of the Hermitian matrix that A's lower triangle defines (whatever the
    upper one holds), as PyTorch's; its derivative is the same formula in that result and A,
    as PyTorch's. An ``atol`` reads the singular values back to the host."""
    _no_out(out, "pinv")
    a = _t(A, "linalg.pinv", "A")
    _float_matrices(a, "pinv")
    atol, rtol = _tolerances(a, atol, rtol, "pinv")
    hermitian = bool(hermitian)
    if hermitian:
        _square(a, "pinv")
    if np.all(np.asarray(atol) == 0) and np.ndim(rtol) == 0:
        return _dc.pinv(a, float(rtol), hermitian)
    # an absolute tolerance: the relative cutoff per matrix, from its largest singular value
    # (largest |eigenvalue| of the Hermitian matrix read, with hermitian=True)
    if not min(a.shape[-2:]):
        s1 = 0.0
    elif hermitian:
        s1 = np.abs(np.asarray(to_host(_dc.eigvalsh(a.data)))).max(axis=-1)
    else:
        s1 = np.asarray(to_host(_dc.svdvals(a.data)))[..., 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.maximum(np.where(s1 > 0, np.asarray(atol) / np.where(s1 > 0, s1, 1), 0),
                         rtol)
    rel = np.broadcast_to(rel, tuple(a.shape[:-2]))
    if rel.ndim == 0:
        return _dc.pinv(a, float(rel), hermitian)
    flat = _flat_batch(a)
    parts = [_dc.pinv(_getitem(flat, i), float(r), hermitian) for i, r in enumerate(rel.ravel())]
    out_t = _tnp.stack(parts, axis=0)
    return _reshape(out_t, tuple(a.shape[:-2]) + (a.shape[-1], a.shape[-2]))


def matrix_rank(A, *, atol=None, rtol=None, hermitian=False, out=None):
    """The number of singular values above max(atol, rtol * largest) (int64, no derivative),
    PyTorch's default tolerances."""
    _no_out(out, "matrix_rank")
    a = _t(A, "linalg.matrix_rank", "A")
    _float_matrices(a, "matrix_rank")
    if hermitian:  # PyTorch's: |eigenvalues| of the lower triangle's Hermitian matrix
        _square(a, "matrix_rank")
        s = xp_of(a.data).abs(_dc.eigvalsh(a.data))
        s = xp_of(s).sort(s, axis=-1)[..., ::-1]
    else:
        s = _dc.svdvals(a.data)
    xp = xp_of(s)
    atol, rtol = _tolerances(a, atol, rtol, "matrix_rank")
    atol = xp.asarray(atol, dtype=s.dtype)
    rtol = xp.asarray(rtol, dtype=s.dtype)
    largest = s[..., :1] if s.shape[-1] else xp.zeros(s.shape[:-1] + (1,), s.dtype)
    tol = xp.maximum(atol[..., None] if atol.ndim else atol,
                     (rtol[..., None] if rtol.ndim else rtol) * largest)
    return _const((s > tol).sum(axis=-1).astype(np.int64))


_DRIVERS = ("gels", "gelsy", "gelsd", "gelss")


def lstsq(A, B, rcond=None, *, driver=None):
    """``linalg_lstsq(solution, residuals, rank, singular_values)``: the minimum-norm least
    squares solution of A X = B (B (..., m, k) or (m,)), through the pseudo-inverse
    (differentiable where A's rank does not change). As PyTorch's: ``rcond`` defaults to
    eps * max(m, n); residuals (squared column norms of A X - B) come for m > n, full rank
    and a driver other than 'gelsy' (the default); the rank for drivers other than 'gels';
    the singular values for 'gelsd' and 'gelss'; the others are empty."""
    a = _t(A, "linalg.lstsq", "A")
    b = _t(B, "linalg.lstsq", "B")
    _float_matrices(a, "lstsq")
    _same_dtype(a, b, "lstsq")
    driver = "gelsy" if driver is None else driver
    if driver not in _DRIVERS:
        raise ValueError(f"linalg.lstsq: driver must be one of {_DRIVERS}, got {driver!r}")
    m, n = a.shape[-2], a.shape[-1]
    vector = b.ndim == 1
    bm = _expand(b, -1) if vector else b
    if bm.shape[-2] != m:
        raise ValueError(f"linalg.lstsq: A and B must have the same number of rows, got A of "
                         f"shape {tuple(a.shape)} and B of shape {tuple(b.shape)}")
    if rcond is None:
        rcond = np.finfo(a.dtype).eps * max(m, n)
    xp = _xp(a)
    p = _dc.pinv(a, float(rcond))
    x = _matmul(p, bm)
    s = _dc.svdvals(a.data)
    big = s[..., :1] if s.shape[-1] else xp.zeros(s.shape[:-1] + (1,), s.dtype)
    rank = (s > rcond * big).sum(axis=-1).astype(np.int64)
    real = np.empty(0, a.dtype).real.dtype
    empty = _const(xp.empty((0,), real))
    residuals = empty
    if driver != "gelsy" and m > n and bool(to_host((rank == n).all())):
        r = _matmul(a, x) - bm
        sq = _ew.real(r * _ew.conjugate(r)) if r.dtype.kind == "c" else r * r
        residuals = _red.sum(sq, (sq.ndim - 2,), False)
        if vector:
            residuals = _squeeze(residuals, -1)
    rank_t = empty if driver == "gels" else _const(rank)
    if driver == "gels":
        rank_t = _const(xp.empty((0,), np.int64))
    sv = _const(s) if driver in ("gelsd", "gelss") else empty
    return linalg_lstsq(_squeeze(x, -1) if vector else x, residuals, rank_t, sv)


# ---- products, powers, exponential --------------------------------------------------------
def matrix_power(A, n, *, out=None):
    """A to the integer power n (batched; n < 0 inverts first; n = 0 the identity)."""
    from .torch_surface import matrix_power as _mp

    _no_out(out, "matrix_power")
    return _mp(_t(A, "linalg.matrix_power", "A"), n)


def matrix_exp(A):
    """The matrix exponential (SciPy's expm on each matrix), differentiable to any order
    through its Frechet derivative.

    >>> import tensorgrad as tg
    >>> tg.linalg.matrix_exp(tg.zeros(2, 2)).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    from .scipy.linalg import _expm

    a = _t(A, "linalg.matrix_exp", "A")
    _square(a, "matrix_exp")
    if a.ndim == 2:
        return _expm(a)
    batch = tuple(a.shape[:-2])
    flat = _flat_batch(a)
    if flat.shape[0] == 0:
        return a * 0
    parts = [_expm(_getitem(flat, i)) for i in range(flat.shape[0])]
    return _reshape(_tnp.stack(parts, axis=0), batch + tuple(a.shape[-2:]))


def matmul(input, other, *, out=None):
    """``input @ other`` (torch.matmul)."""
    _no_out(out, "matmul")
    return _matmul(_t(input, "linalg.matmul"), _t(other, "linalg.matmul", "other"))


def multi_dot(tensors, *, out=None):
    """The product of a list of matrices (the first may be a 1-D row, the last a 1-D column),
    left to right."""
    _no_out(out, "multi_dot")
    ts = [_t(x, "linalg.multi_dot", "tensors") for x in tensors]
    if len(ts) < 2:
        raise ValueError(f"multi_dot(): expected at least 2 tensors but got {len(ts)}")
    for i, x in enumerate(ts):
        ends_ok = (i == 0 or i == len(ts) - 1) and x.ndim == 1
        if x.ndim != 2 and not ends_ok:
            raise ValueError(f"multi_dot(): tensor {i} must be 2-D (the first and last may be "
                             f"1-D), got shape {tuple(x.shape)}")
    out_t = ts[0]
    for x in ts[1:]:
        out_t = _matmul(out_t, x)
    return out_t


def vecdot(x, y, *, dim=-1, out=None):
    """sum(conj(x) * y) over ``dim`` (broadcast elsewhere)."""
    _no_out(out, "vecdot")
    a = _t(x, "linalg.vecdot", "x")
    b = _t(y, "linalg.vecdot", "y")
    prod = _ew.multiply(_ew.conjugate(a) if a.dtype.kind == "c" else a, b)
    return _red.sum(prod, (_norm_axis(dim, prod.ndim, "linalg.vecdot"),), False)


def cross(input, other, *, dim=-1, out=None):
    """The cross product of 3-vectors along ``dim`` (broadcast elsewhere)."""
    from .torch_api import cross as _cross

    _no_out(out, "cross")
    a, b = _t(input, "linalg.cross"), _t(other, "linalg.cross", "other")
    if a.ndim != b.ndim:
        raise ValueError(f"linalg.cross: inputs must have the same number of dimensions, got "
                         f"shapes {tuple(a.shape)} and {tuple(b.shape)}")
    return _cross(a, b, dim=dim)


def diagonal(A, *, offset=0, dim1=-2, dim2=-1):
    """The diagonals of A over dims (dim1, dim2), in a last dimension."""
    return _tnp.diagonal(_t(A, "linalg.diagonal", "A"), offset, dim1, dim2)


def vander(x, N=None):
    """The Vandermonde matrix with increasing powers x^0 .. x^(N-1) in the last dim (a 0-d x
    is one element, as PyTorch's). N (default x.shape[-1]) must be greater than 1.

    >>> import tensorgrad as tg
    >>> tg.linalg.vander(tg.tensor([2.0, 3.0])).tolist()
    [[1.0, 2.0], [1.0, 3.0]]
    """
    t = _t(x, "linalg.vander", "x")
    if t.ndim == 0:
        t = _reshape(t, (1,))
    n = t.shape[-1] if N is None else int(N)
    if n <= 1:
        raise ValueError(f"linalg.vander: N must be greater than 1, got N={n} for x of shape "
                         f"{tuple(t.shape)}")
    cols = [_ew.astype(t * 0 + 1, t.dtype) if t.dtype.kind not in "iu" else t * 0 + 1]
    for _ in range(n - 1):
        cols.append(cols[-1] * t)
    return _tnp.stack(cols, axis=-1)


def tensorinv(A, ind=2, *, out=None):
    """The inverse of A read as a square matrix of its first ``ind`` dims by the rest: the
    result has shape A.shape[ind:] + A.shape[:ind]."""
    _no_out(out, "tensorinv")
    a = _t(A, "linalg.tensorinv", "A")
    if ind <= 0:
        raise ValueError(f"linalg.tensorinv: Expected a strictly positive integer for 'ind', "
                         f"but got {ind}")
    out_shape, in_shape = tuple(a.shape[:ind]), tuple(a.shape[ind:])
    rows, cols = math.prod(out_shape), math.prod(in_shape)
    if rows != cols:
        raise ValueError(f"linalg.tensorinv: the product of the first {ind} dims "
                         f"({rows}) must equal that of the rest ({cols}); A of shape "
                         f"{tuple(a.shape)}")
    return _reshape(inv(_reshape(a, (rows, cols))), in_shape + out_shape)


def tensorsolve(A, B, dims=None, *, out=None):
    """X with tensordot(A, X, X.ndim) = B; ``dims`` (dims of A) move to the end first."""
    _no_out(out, "tensorsolve")
    a = _t(A, "linalg.tensorsolve", "A")
    b = _t(B, "linalg.tensorsolve", "B")
    if dims is not None:
        dims = [_norm_axis(d, a.ndim, "linalg.tensorsolve") for d in dims]
        a = _tnp.moveaxis(a, dims, list(range(a.ndim - len(dims), a.ndim)))
    # PyTorch's (and NumPy's) condition: X has A's trailing dims, as many elements as B, and
    # A is that square matrix in total; A's leading dims need not be B's shape
    x_shape = tuple(a.shape[b.ndim:])
    rows, cols = math.prod(tuple(b.shape)), math.prod(x_shape)
    if rows != cols or math.prod(tuple(a.shape)) != rows * cols:
        raise ValueError(f"linalg.tensorsolve: Expected prod(A.shape[B.ndim:]) == prod(B.shape) "
                         f"and A square in total, got A of shape {tuple(a.shape)} (after dims) "
                         f"and B of shape {tuple(b.shape)}")
    x = solve(_reshape(a, (rows, cols)), _reshape(b, (rows,)))
    return _reshape(x, x_shape)


# ---- norms ----------------------------------------------------------------------------------
def _norm_input(x, op, dtype):
    t = _t(x, f"linalg.{op}", "x")
    if dtype is not None:
        t = _ew.astype(t, np.dtype(dtype)) if t.dtype != np.dtype(dtype) else t
    if t.dtype.kind not in "fc":
        raise TypeError(f"linalg.{op}: Expected a floating point or complex tensor as input, "
                        f"got {t.dtype}")
    return t


def _dim_tuple(dim, ndim, op):
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    out = tuple(_norm_axis(d, ndim, f"linalg.{op}") for d in dims)
    if len(set(out)) != len(out):
        raise ValueError(f"linalg.{op}: dims must be different, got {dim}")
    return out


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None, out=None):
    """The vector ``ord``-norm (any real ord, inf, -inf, 0) over ``dim`` (all elements when
    None). The gradient at 0 is 0, as PyTorch's.

    >>> import tensorgrad as tg
    >>> tg.linalg.vector_norm(tg.tensor([3.0, 4.0])).item()
    5.0
    """
    _no_out(out, "vector_norm")
    t = _norm_input(x, "vector_norm", dtype)
    if isinstance(ord, str) or not isinstance(ord, numbers.Real):
        raise ValueError(f"linalg.vector_norm: ord must be a number, got {ord!r}")
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
        axes = tuple(range(t.ndim))
    else:
        axes = _dim_tuple(dim, t.ndim, "vector_norm")
    keepdim = bool(keepdim)
    if t.ndim == 0 and axes:  # dim=0 or -1 of a 0-d tensor: one element, a 0-d norm
        t, axes, keepdim = _reshape(t, (1,)), (0,), False
    # one implementation with tnp.linalg.norm and torch.norm (PyTorch's subgradient 0 at
    # zero entries for p < 1, a zero-derivative count of nonzeros for p = 0)
    return _nla._vector_norm(t, ord, axes, keepdim)


_MATRIX_ORDS = ("fro", "nuc", math.inf, -math.inf, 1, -1, 2, -2)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None, out=None):
    """The matrix norm ('fro', 'nuc', inf, -inf, 1, -1, 2, -2) of the matrices in ``dim``."""
    _no_out(out, "matrix_norm")
    t = _norm_input(A, "matrix_norm", dtype)
    if isinstance(ord, bool) or ord not in _MATRIX_ORDS:
        raise ValueError(f"linalg.matrix_norm: Order {ord!r} not supported (one of 'fro', "
                         "'nuc', inf, -inf, 1, -1, 2, -2)")
    if t.ndim < 2:
        raise ValueError(f"linalg.matrix_norm: The input tensor A must have at least 2 "
                         f"dimensions, got shape {tuple(t.shape)}")
    axes = _dim_tuple(dim, t.ndim, "matrix_norm")
    if len(axes) != 2:
        raise ValueError(f"linalg.matrix_norm: dim must be a 2-tuple, got {dim}")
    if ord in (math.inf, 1, 2) and 0 in (t.shape[axes[0]], t.shape[axes[1]]):
        # no entries: a maximum over nothing is PyTorch's 0 (norms are >= 0), as 'fro' gives
        return _nla._matrix_norm(t, "fro", axes, bool(keepdim))
    return _nla._matrix_norm(t, ord, axes, bool(keepdim))


def norm(input, ord=None, dim=None, keepdim=False, *, out=None, dtype=None):
    """PyTorch's linalg.norm: a vector norm over one dim (or the flattened input when ord and
    dim are None), a matrix norm over two (a 2-D input with ord given and dim None).

    >>> import tensorgrad as tg
    >>> tg.linalg.norm(tg.tensor([[1.0, 2.0], [3.0, 4.0]]), "nuc").item() > 5.4
    True
    """
    _no_out(out, "norm")
    t = _norm_input(input, "norm", dtype)
    if dim is not None:
        axes = _dim_tuple(dim, t.ndim, "norm")
        if len(axes) == 1:
            return vector_norm(t, 2 if ord is None else ord, axes, keepdim)
        if len(axes) == 2:
            return matrix_norm(t, "fro" if ord is None else ord, axes, keepdim)
        raise ValueError(f"linalg.norm: If dim is specified, it must be of length 1 or 2, got "
                         f"{dim}")
    if ord is None:
        return vector_norm(t, 2, None, keepdim)
    if t.ndim == 1:
        return vector_norm(t, ord, None, keepdim)
    if t.ndim == 2:
        return matrix_norm(t, ord, (0, 1), keepdim)
    raise ValueError(f"linalg.norm: If dim is not specified but ord is, the input must be 1D "
                     f"or 2D, got shape {tuple(t.shape)}")


def cond(A, p=None, *, out=None):
    """The condition number in the ``p`` norm (None/2: largest over smallest singular value;
    -2 the reverse; others norm(A) * norm(inv(A)))."""
    _no_out(out, "cond")
    a = _t(A, "linalg.cond", "A")
    _float_matrices(a, "cond")
    if p is None or p in (2, -2):
        s = _dc.svdvals(a)
        big, small = _getitem(s, (Ellipsis, 0)), _getitem(s, (Ellipsis, -1))
        return big / small if p != -2 else small / big
    _square(a, "cond")
    return matrix_norm(a, p) * matrix_norm(inv(a), p)


# ---- Householder reflectors, geqrf, LDL (Bunch-Kaufman) ---------------------------------------
def _reflectors(a, k):
    """V (..., m, k): the reflectors LAPACK stores below a's diagonal, with a unit diagonal."""
    m = a.shape[-2]
    strict, _ = _tri_masks(a, max(m, k))
    cols = _getitem(a, (Ellipsis, slice(None), slice(0, k)))
    return cols * strict[:m, :k] + _xp(a).eye(m, k, dtype=a.dtype)


def _apply_reflectors(v, tau, c, left, adjoint):
    """Q C, Q^H C, C Q or C Q^H for Q = H_1 ... H_k, H_i = I - tau_i v_i v_i^H, one
    reflector at a time (differentiable: matmuls and products only)."""
    k = v.shape[-1]
    forward = left == adjoint  # Q^H C and C Q apply H_1 first
    conj = adjoint and v.dtype.kind == "c"
    for i in (range(k) if forward else range(k - 1, -1, -1)):
        vi = _getitem(v, (Ellipsis, slice(None), slice(i, i + 1)))  # (..., m, 1)
        ti = _expand(_getitem(tau, (Ellipsis, slice(i, i + 1))), -1)  # (..., 1, 1)
        if conj:
            ti = _ew.conjugate(ti)
        if left:
            c = c - _matmul(vi * ti, _matmul(_mH(vi), c))
        else:
            c = c - _matmul(_matmul(c, vi) * ti, _mH(vi))
    return c


def _reflector_args(A, tau, op, arg="A"):
    a = _t(A, f"linalg.{op}" if op == "householder_product" else op, arg)
    t = _t(tau, f"linalg.{op}" if op == "householder_product" else op, "tau")
    _float_matrices(a, op, arg)
    if t.ndim < 1:
        raise ValueError(f"{op}: tau must have at least 1 dimension, got shape "
                         f"{tuple(t.shape)}")
    if tuple(t.shape[:-1]) != tuple(a.shape[:-2]):
        raise ValueError(f"{op}: Expected batch dimensions of tau to be equal to "
                         f"{arg}.shape[:-2], got {arg} of shape {tuple(a.shape)} and tau of "
                         f"shape {tuple(t.shape)}")
    if a.dtype != t.dtype:
        raise TypeError(f"{op}: Expected {arg} and tau to have the same dtype, got {a.dtype} "
                        f"and {t.dtype}")
    if t.shape[-1] > a.shape[-1]:
        raise ValueError(f"{op}: {arg}.shape[-1] must be greater than or equal to "
                         f"tau.shape[-1], got {arg} of shape {tuple(a.shape)} and tau of shape "
                         f"{tuple(t.shape)}")
    return a, t


def householder_product(A, tau, *, out=None):
    """The first n columns of H_1 ... H_k (LAPACK's orgqr), H_i = I - tau_i v_i v_i^H with
    v_i column i of A (..., m, n) below the diagonal and 1 on it; tau (..., k), k <= n <= m.
    Differentiable in A and tau to any order (a composition of matmuls).

    >>> import tensorgrad as tg
    >>> a, tau = tg.geqrf(tg.tensor([[3.0, 1.0], [4.0, 2.0]]))
    >>> q = tg.linalg.householder_product(a, tau)
    >>> bool(((q @ q.mT - tg.eye(2)).abs() < 1e-6).all())
    True
    """
    _no_out(out, "householder_product")
    a, t = _reflector_args(A, tau, "householder_product")
    m, n = a.shape[-2], a.shape[-1]
    if m < n:
        raise ValueError(f"linalg.householder_product: A.shape[-2] must be greater than or "
                         f"equal to A.shape[-1], got A of shape {tuple(a.shape)}")
    q = _apply_reflectors(_reflectors(a, t.shape[-1]), t,
                          _const(_xp(a).eye(m, n, dtype=a.dtype)), True, False)
    if tuple(q.shape) != tuple(a.shape):  # k = 0: the identity, broadcast over the batch
        q = _broadcast_to(q, tuple(a.shape))
    return q


def ormqr(input, tau, other, left=True, transpose=False, *, out=None):
    """Q @ other (``left=False``: other @ Q; ``transpose=True``: Q^H instead of Q), with Q the
    m x m product of the Householder reflectors of ``(input, tau)`` as :func:`geqrf` gives
    them (LAPACK's ormqr), without forming Q. input (..., mn, k'), tau (..., k), other
    (..., m, n) with mn = m (left) or n (right). Differentiable in all three."""
    _no_out(out, "ormqr")
    a, t = _reflector_args(input, tau, "ormqr", "input")
    c = _t(other, "ormqr", "other")
    _float_matrices(c, "ormqr", "other")
    if c.dtype != a.dtype:
        raise TypeError(f"ormqr: Expected input and other to have the same dtype, got "
                        f"{a.dtype} and {c.dtype}")
    mn = c.shape[-2] if left else c.shape[-1]
    if a.shape[-2] != mn or t.shape[-1] > mn:
        side = "other.shape[-2]" if left else "other.shape[-1]"
        raise ValueError(f"ormqr: input.shape[-2] must equal {side} and tau.shape[-1] must not "
                         f"exceed it (left={left}); got input of shape {tuple(a.shape)}, tau "
                         f"of shape {tuple(t.shape)}, other of shape {tuple(c.shape)}")
    res = _apply_reflectors(_reflectors(a, t.shape[-1]), t, c, bool(left), bool(transpose))
    batch = np.broadcast_shapes(tuple(a.shape[:-2]), tuple(c.shape[:-2]))
    if tuple(res.shape[:-2]) != batch:
        res = _broadcast_to(res, batch + tuple(c.shape[-2:]))
    return res


def _no_derivative(op):
    def rule(*_args, **_kw):
        raise NotImplementedError(f"the derivative for '{op}' is not implemented (nor in "
                                  "PyTorch); pass a detached input")

    return rule


@primitive
def geqrf_packed(a):
    """LAPACK's geqrf of every matrix of a (..., m, n), packed (..., m + 1, n): rows 0..m-1
    R and the reflectors (LAPACK's layout), row m tau (k = min(m, n) entries, then zeros)."""
    xp = xp_of(a)
    m, n = a.shape[-2], a.shape[-1]
    out = xp.zeros(a.shape[:-2] + (m + 1, n), dtype=a.dtype)
    flat_in = _flat_batch(a)
    flat_out = _flat_batch(out)
    if m and n:
        for i in range(flat_in.shape[0]):
            h, tau = xp.linalg.qr(flat_in[i], mode="raw")  # h is LAPACK's array, transposed
            flat_out[i, :m] = h.T.astype(a.dtype, copy=False)
            flat_out[i, m, : tau.shape[0]] = tau.astype(a.dtype, copy=False)
    return flat_out.reshape(out.shape)


defvjp(geqrf_packed, _no_derivative("geqrf"))
defjvp(geqrf_packed, _no_derivative("geqrf"))


def geqrf(input, *, out=None):
    """``geqrf(a, tau)``: LAPACK's QR of ``input`` (..., m, n): R on and above the diagonal
    of ``a``, the Householder reflectors below it, their scalars in ``tau`` (..., min(m, n)):
    what :func:`householder_product` and :func:`ormqr` take. NumPy's (CuPy's on cuda)
    ``qr(mode='raw')``. No derivative (PyTorch has none): differentiating raises.

    >>> import tensorgrad as tg
    >>> a, tau = tg.geqrf(tg.tensor([[3.0], [4.0]]))
    >>> round(abs(a[0, 0].item()), 4), tau.shape
    (5.0, (1,))
    """
    _no_out(out, "geqrf")
    x = _t(input, "geqrf")
    if x.ndim < 2:
        raise ValueError(f"geqrf: input must have at least 2 dimensions, got shape "
                         f"{tuple(x.shape)}")
    if x.dtype.kind not in "fc":
        raise TypeError(f"geqrf: input must be floating point or complex, got {x.dtype}")
    m, n = x.shape[-2], x.shape[-1]
    p = geqrf_packed(x)
    a = _getitem(p, (Ellipsis, slice(0, m), slice(None)))
    tau = _getitem(p, (Ellipsis, m, slice(0, min(m, n))))
    return geqrf_result(a, tau)


def orgqr(input, tau):
    """The same as :func:`householder_product` (PyTorch's older name)."""
    return householder_product(input, tau)


_LAPACK_DTYPES = (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.complex64),
                  np.dtype(np.complex128))


def _lapack(name, dtype, op):
    from .scipy._module import scipy_module

    scipy_module("linalg", (), op)  # an ImportError that names the extra, without SciPy
    from scipy.linalg import lapack

    return lapack.get_lapack_funcs((name,), dtype=dtype)[0]


def _ldl_routine(dtype, hermitian, what):
    """SciPy's LAPACK ?sytrf/?hetrf (what='trf') or ?sytrs/?hetrs ('trs') for dtype."""
    kind = "he" if hermitian and dtype.kind == "c" else "sy"
    return _lapack(kind + what, dtype, "ldl"), kind


def _on_host_like(like, fn, *arrays):
    """fn on host copies of the arrays, the answers put back on like's device: the explicit
    round trip of the functions CuPy lacks."""
    from .backend.device import device_of

    outs = fn(*[np.asarray(to_host(x)) for x in arrays])
    dev = device_of(like)
    return tuple(dev.put(np.ascontiguousarray(o)) for o in outs)


def _ldl_host(a, hermitian):
    n = a.shape[-1]
    trf, kind = _ldl_routine(a.dtype, hermitian, "trf")
    lwork_fn = _lapack(kind + "trf_lwork", a.dtype, "ldl")
    lwork = max(int(np.real(lwork_fn(n, lower=1)[0])), 1) if n else 1
    flat = _flat_batch(a)
    ld = np.zeros(flat.shape, a.dtype)
    piv = np.zeros(flat.shape[:-1], np.int32)
    for i in range(flat.shape[0]):
        if n:
            f, p, _info = trf(flat[i], lower=1, lwork=lwork)
            ld[i] = np.tril(f)
            piv[i] = p
    return ld.reshape(a.shape), piv.reshape(a.shape[:-1])


@primitive
def ldl_packed(a, hermitian=False):
    """LAPACK's Bunch-Kaufman LDL^T (``hermitian``: LDL^H) of the lower triangles of a
    (..., n, n), packed (..., n + 1, n): LD, then the 1-based pivots (negative for 2 x 2
    blocks) as values of a's dtype. On cuda: a host round trip (CuPy has no sytrf)."""
    xp = xp_of(a)
    ld, piv = _on_host_like(a, lambda h: _ldl_host(h, hermitian), a)
    return xp.concatenate([ld, piv.astype(a.dtype)[..., None, :]], axis=-2)


defvjp(ldl_packed, _no_derivative("linalg_ldl_factor_ex"))
defjvp(ldl_packed, _no_derivative("linalg_ldl_factor_ex"))


def _ldl_info(ld_raw, piv_raw):
    """sytrf's info: 1 + the first i with a 1 x 1 pivot D[i, i] exactly zero, else 0."""
    xp = xp_of(ld_raw)
    return _first_true((xp.diagonal(ld_raw, 0, -2, -1) == 0) & (piv_raw > 0))


def _ldl_input(A, op):
    a = _t(A, f"linalg.{op}", "A")
    _square(a, op)
    if a.dtype not in _LAPACK_DTYPES:
        raise TypeError(f"linalg.{op}: A must be float32, float64, complex64 or complex128, "
                        f"got {a.dtype}")
    return a


def _ldl_message(code):
    return (f"The factorization could not be completed because D[{code},{code}] (a 1 x 1 "
            "block) is exactly zero: the input is singular.")


def ldl_factor_ex(A, *, hermitian=False, check_errors=False, out=None):
    """``linalg_ldl_factor_ex(LD, pivots, info)``: the Bunch-Kaufman factorization
    P A P^T = L D L^T (``hermitian=True`` for complex input: L D L^H) of the symmetric
    matrices whose lower triangles A (..., n, n) holds, in LAPACK's compact form (LAPACK's
    ?sytrf/?hetrf through SciPy): LD holds L below the diagonal and the 1 x 1 and 2 x 2 blocks
    of D, pivots (int32, 1-based) the interchanges (negative for a 2 x 2 block), info (int32)
    is i > 0 when D[i, i] is exactly zero. On cuda, a host round trip. No derivative (PyTorch
    has none): differentiating raises.

    >>> import tensorgrad as tg
    >>> tg.linalg.ldl_factor_ex(tg.tensor([[4.0, 2.0], [2.0, 3.0]])).LD.tolist()
    [[4.0, 0.0], [0.5, 2.0]]
    """
    _no_out(out, "ldl_factor_ex")
    a = _ldl_input(A, "ldl_factor_ex")
    n = a.shape[-1]
    p = ldl_packed(a, bool(hermitian))
    ld = _getitem(p, (Ellipsis, slice(0, n), slice(None)))
    piv = _raw(p)[..., n, :].real.astype(np.int32)
    info = _ldl_info(_raw(ld), piv)
    if check_errors:
        _raise_singular("ldl_factor_ex", a, info, _ldl_message)
    return linalg_ldl_factor_ex(ld, _const(piv), _const(info))


def ldl_factor(A, *, hermitian=False, out=None):
    """``linalg_ldl_factor(LD, pivots)`` of :func:`ldl_factor_ex`; a zero 1 x 1 block of D
    raises LinAlgError (PyTorch fails too).

    >>> import tensorgrad as tg
    >>> tg.linalg.ldl_factor(tg.tensor([[4.0, 2.0], [2.0, 3.0]])).pivots.tolist()
    [1, 2]
    """
    _no_out(out, "ldl_factor")
    res = ldl_factor_ex(A, hermitian=hermitian, check_errors=True)
    return linalg_ldl_factor(res.LD, res.pivots)


def _ldl_solve_host(ld, piv, b, hermitian):
    n = ld.shape[-1]
    trs, _ = _ldl_routine(ld.dtype, hermitian, "trs")
    batch = np.broadcast_shapes(ld.shape[:-2], b.shape[:-2])
    lds = _flat_batch(np.broadcast_to(ld, batch + ld.shape[-2:]))
    pivs = _flat_batch(np.broadcast_to(piv, batch + piv.shape[-1:]), 1)
    bs = _flat_batch(np.broadcast_to(b, batch + b.shape[-2:]))
    x = np.empty(bs.shape, b.dtype)
    for i in range(bs.shape[0]):
        if n and bs.shape[-1]:
            x[i] = trs(lds[i], pivs[i], bs[i], lower=1)[0]
        else:
            x[i] = bs[i]
    return (x.reshape(batch + b.shape[-2:]),)


@primitive
def ldl_solve_raw(ld, b, pivots, hermitian=False):
    """X with A X = B from A's :func:`ldl_packed` factors (LAPACK's ?sytrs/?hetrs); on cuda a
    host round trip."""
    return _on_host_like(b, lambda h_ld, h_piv, h_b: _ldl_solve_host(h_ld, h_piv, h_b,
                                                                     hermitian),
                         ld, pivots, b)[0]


defvjp(ldl_solve_raw, _no_derivative("linalg_ldl_solve"), _no_derivative("linalg_ldl_solve"))
defjvp(ldl_solve_raw, _no_derivative("linalg_ldl_solve"), _no_derivative("linalg_ldl_solve"))


def ldl_solve(LD, pivots, B, *, hermitian=False, out=None):
    """X with A X = B from ``ldl_factor(A)`` (LD (..., n, n), pivots (..., n)), B (..., n, k),
    batch dimensions broadcast (LAPACK's ?sytrs/?hetrs; on cuda a host round trip). No
    derivative (PyTorch has none).

    >>> import tensorgrad as tg
    >>> LD, piv = tg.linalg.ldl_factor(tg.tensor([[4.0, 2.0], [2.0, 3.0]]))
    >>> tg.linalg.ldl_solve(LD, piv, tg.tensor([[6.0], [5.0]])).flatten().tolist()
    [1.0, 1.0]
    """
    _no_out(out, "ldl_solve")
    ld = _ldl_input(LD, "ldl_solve")
    b = _t(B, "linalg.ldl_solve", "B")
    piv = _t(pivots, "linalg.ldl_solve", "pivots")
    _float_matrices(b, "ldl_solve", "B")
    _same_dtype(ld, b, "ldl_solve")
    n = ld.shape[-1]
    if piv.dtype.kind not in "iu" or tuple(piv.shape) != tuple(ld.shape[:-1]):
        raise ValueError(f"linalg.ldl_solve: pivots must be integers of shape LD.shape[:-1] = "
                         f"{tuple(ld.shape[:-1])}, got {piv.dtype} of shape "
                         f"{tuple(piv.shape)}")
    if b.shape[-2] != n:
        raise ValueError(f"linalg.ldl_solve: Incompatible shapes of LD and B: LD of shape "
                         f"{tuple(ld.shape)}, B of shape {tuple(b.shape)}")
    host_piv = np.asarray(to_host(piv.data))
    if host_piv.size and (np.abs(host_piv).min() < 1 or np.abs(host_piv).max() > n):
        raise ValueError(f"linalg.ldl_solve: pivots must lie in [-{n}, -1] or [1, {n}] (the "
                         "1-based pivots of ldl_factor)")
    return ldl_solve_raw(ld, b, piv.data.astype(np.int32), bool(hermitian))


__all__ = [
    "cholesky", "cholesky_ex", "cond", "cross", "det", "diagonal", "eig", "eigh", "eigvals",
    "eigvalsh", "inv", "inv_ex", "lstsq", "lu", "lu_factor", "lu_factor_ex", "lu_solve",
    "matmul", "matrix_exp", "matrix_norm", "matrix_power", "matrix_rank", "multi_dot", "norm",
    "pinv", "qr", "slogdet", "solve", "solve_ex", "solve_triangular", "svd", "svdvals",
    "tensorinv", "tensorsolve", "vander", "vecdot", "vector_norm", "LinAlgError",
    "householder_product", "ldl_factor", "ldl_factor_ex", "ldl_solve",
]
