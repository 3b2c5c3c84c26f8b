"""``tensorgrad.scipy.linalg``: SciPy's linear algebra, differentiable.

``solve_triangular``, ``solve_sylvester``, ``sqrtm`` and ``expm`` are primitives (SciPy
forward, rules written with tensorgrad functions, so derivatives of any order);
``cholesky``, ``cho_factor``, ``cho_solve``, ``inv``, ``det``, ``solve``, ``eigh``,
``block_diag`` are compositions. Anything else SciPy has passes through without a derivative
and refuses a tensor that carries one.

>>> import numpy as np, tensorgrad as tg
>>> from tensorgrad.scipy.linalg import solve_triangular
>>> a = np.array([[2.0, 0.0], [1.0, 1.0]])
>>> solve_triangular(a, np.array([2.0, 2.0]), lower=True)
array([1., 1.])
"""

import numpy as np

from .. import numpy as tnp
from .._passthrough import module_getattr as _module_getattr
from ..backend.device import xp_of
from ..ops.registry import defjvp, defvjp, primitive
from ..tensor import _raw
from ..tensor import keep_array as _as_array
from ._module import scipy_module


def _scipy_linalg(args, name):
    return scipy_module("linalg", args, name)


def _mT(x):
    return tnp.swapaxes(x, -1, -2)


# ---- solve_triangular --------------------------------------------------------------------
_TRANS = {0: 0, 1: 1, 2: 2, "N": 0, "T": 1, "C": 2, "n": 0, "t": 1, "c": 2}


def _tri_mask(m, lower, unit):
    """The part of ``m`` that solve_triangular reads: one triangle, without the diagonal when
    it is taken to be ones."""
    m = tnp.tril(m) if lower else tnp.triu(m)
    if unit:
        r = _raw(m)
        m = m * (1 - xp_of(r).eye(r.shape[-1], dtype=r.dtype))  # on m's device
    return m


def _dense_triangular(a, lower, unit):
    """The matrix solve_triangular solves with, as a dense raw array."""
    xp = xp_of(a)
    m = xp.tril(a) if lower else xp.triu(a)
    if unit:
        n = a.shape[-1]
        eye = xp.eye(n, dtype=a.dtype)
        m = m * (1 - eye) + eye
    return m


@primitive
def _solve_tri(a, b, trans, lower, unit):
    """op(T)^-1 b with T the chosen triangle of a; trans 0 (T), 1 (T^T) or 2 (T^H)."""
    if np.ndim(a) == 2:
        try:
            mod = _scipy_linalg((a, b), "solve_triangular")
        except ImportError:  # pragma: no cover - SciPy is installed in the test environment
            mod = None
        if mod is not None:
            return mod.solve_triangular(a, b, trans=trans, lower=lower, unit_diagonal=unit)
    # batched (or no SciPy): a general solve with the same triangular matrix
    xp = xp_of(a)
    m = _dense_triangular(a, lower, unit)
    if trans:
        m = xp.swapaxes(m, -1, -2)
        if trans == 2:
            m = m.conj()
    if np.ndim(b) == 1:
        return xp.linalg.solve(m, b[..., None])[..., 0]
    return xp.linalg.solve(m, b)


def _complex_trans(a, trans):
    if trans == 2 and _raw(a).dtype.kind == "c":
        raise NotImplementedError("solve_triangular: derivatives with trans='C' for complex "
                                  "matrices are not implemented")


def _adjoint_solve(a, g, trans, lower, unit):
    """op(T)^-T g: the cotangent of b (autograd's convention: a transpose, no conjugate)."""
    _complex_trans(a, trans)
    return _solve_tri(a, g, 1 - min(trans, 1), lower, unit)


def _outer_last(u, v):
    """u v^T over the last axes: u, v vectors (n,) or matrices (n, k)."""
    if np.ndim(_raw(u)) == 1:
        return tnp.expand_dims(u, -1) * tnp.expand_dims(v, -2)
    return tnp.matmul(u, _mT(v))


def _solve_tri_vjp_a(g, ans, a, b, trans, lower, unit):
    gm = -_outer_last(_adjoint_solve(a, g, trans, lower, unit), ans)  # d/dM of M^-1 b
    return _tri_mask(_mT(gm) if trans else gm, lower, unit)


def _solve_tri_jvp_a(t, ans, a, b, trans, lower, unit):
    _complex_trans(a, trans)
    dm = _tri_mask(t, lower, unit)
    dm = _mT(dm) if trans else dm
    if np.ndim(_raw(ans)) == 1:
        prod = tnp.squeeze(tnp.matmul(dm, tnp.expand_dims(ans, -1)), -1)
    else:
        prod = tnp.matmul(dm, ans)
    return -_solve_tri(a, prod, trans, lower, unit)


defvjp(_solve_tri, _solve_tri_vjp_a,
       lambda g, ans, a, b, trans, lower, unit: _adjoint_solve(a, g, trans, lower, unit))
defjvp(_solve_tri, _solve_tri_jvp_a,
       lambda t, ans, a, b, trans, lower, unit: _solve_tri(a, t, trans, lower, unit))


def solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False,
                     check_finite=True):
    """SciPy's solve_triangular: x with op(a) x = b, reading only the lower (``lower=True``)
    or upper triangle of ``a``; ``trans`` 0/'N', 1/'T' or 2/'C'. Differentiable in ``a``
    (the gradient lives on that triangle) and ``b``."""
    if trans not in _TRANS:
        raise ValueError(f"solve_triangular: trans must be 0, 1, 2, 'N', 'T' or 'C', got "
                         f"{trans!r}")
    a, b = _as_array(a), _as_array(b)
    trans = _TRANS[trans]
    if trans == 2 and _raw(a).dtype.kind != "c":
        trans = 1
    return _solve_tri(a, b, trans, bool(lower), bool(unit_diagonal))


# ---- Cholesky -----------------------------------------------------------------------------
def cholesky(a, lower=False, overwrite_a=False, check_finite=True):
    """SciPy's cholesky: the upper factor U (a = U^T U) by default, the lower with
    ``lower=True``. Gradients assume a symmetric ``a``."""
    low = tnp.linalg.cholesky(_as_array(a))
    return low if lower else _mT(low)


def cho_factor(a, lower=False, overwrite_a=False, check_finite=True):
    """``(c, lower)`` for :func:`cho_solve`; the unused triangle of ``c`` holds zeros."""
    return cholesky(a, lower=lower), lower


def cho_solve(c_and_lower, b, overwrite_b=False, check_finite=True):
    """x with a x = b, given ``cho_factor(a)``."""
    c, lower = c_and_lower
    if lower:
        y = solve_triangular(c, b, lower=True)
        return solve_triangular(c, y, trans=1, lower=True)
    y = solve_triangular(c, b, trans=1, lower=False)
    return solve_triangular(c, y, lower=False)


# ---- compositions of tensorgrad.numpy.linalg ---------------------------------------------
def inv(a, overwrite_a=False, check_finite=True):
    return tnp.linalg.inv(_as_array(a))


def det(a, overwrite_a=False, check_finite=True):
    return tnp.linalg.det(_as_array(a))


def solve(a, b, lower=False, overwrite_a=False, overwrite_b=False, check_finite=True,
          assume_a=None, transposed=False):
    """SciPy's solve (``transposed=True`` solves a^T x = b); ``assume_a='pos'`` goes through
    a Cholesky factor."""
    a, b = _as_array(a), _as_array(b)
    if transposed:
        a = _mT(a)
    if assume_a in ("pos", "positive definite"):
        return cho_solve(cho_factor(a, lower=True), b)
    return tnp.linalg.solve(a, b)


def eigh(a, b=None, lower=True, eigvals_only=False, **kwargs):
    """SciPy's eigh for the standard problem (``b=None``); derivatives assume distinct
    eigenvalues."""
    if b is not None:
        raise NotImplementedError("eigh: the generalized problem (b=...) is not differentiable "
                                  "here; reduce it with cholesky first")
    w, v = tnp.linalg.eigh(_as_array(a), "L" if lower else "U")
    return w if eigvals_only else (w, v)


def block_diag(*arrs):
    """SciPy's block_diag: the matrices on the diagonal of one big matrix."""
    if not arrs:
        return np.zeros((1, 0))
    mats = [tnp.atleast_2d(_as_array(m)) for m in arrs]
    cols = [np.shape(_raw(m))[1] for m in mats]
    total = sum(cols)
    out_rows = []
    start = 0
    for m, c in zip(mats, cols):
        out_rows.append(tnp.pad(m, ((0, 0), (start, total - start - c))))
        start += c
    return tnp.concatenate(out_rows, axis=0)


# ---- Sylvester equations, matrix square root, matrix exponential -------------------------
@primitive
def solve_sylvester(a, b, q):
    """X with a X + X b = q (SciPy's solve_sylvester), differentiable in a, b and q."""
    return _scipy_linalg((a, b, q), "solve_sylvester").solve_sylvester(a, b, q)


def _sylvester_adjoint(g, a, b):
    return solve_sylvester(_mT(a), _mT(b), g)


# with a X + X b = q:  da X + a dX + dX b + X db = dq
defvjp(solve_sylvester,
       lambda g, ans, a, b, q: -tnp.matmul(_sylvester_adjoint(g, a, b), _mT(ans)),
       lambda g, ans, a, b, q: -tnp.matmul(_mT(ans), _sylvester_adjoint(g, a, b)),
       lambda g, ans, a, b, q: _sylvester_adjoint(g, a, b))
defjvp(solve_sylvester,
       lambda t, ans, a, b, q: solve_sylvester(a, b, -tnp.matmul(t, ans)),
       lambda t, ans, a, b, q: solve_sylvester(a, b, -tnp.matmul(ans, t)),
       lambda t, ans, a, b, q: solve_sylvester(a, b, t))


@primitive
def _sqrtm(a):
    return _scipy_linalg((a,), "sqrtm").sqrtm(a)


# X X = A  =>  X dX + dX X = dA
defvjp(_sqrtm, lambda g, ans, a: solve_sylvester(_mT(ans), _mT(ans), g))
defjvp(_sqrtm, lambda t, ans, a: solve_sylvester(ans, ans, t))


def sqrtm(A, disp=True, blocksize=64):
    """The principal matrix square root (SciPy's sqrtm), differentiable."""
    return _sqrtm(_as_array(A))


@primitive
def _expm(a):
    return _scipy_linalg((a,), "expm").expm(a)


def _frechet(a, e):
    """The Frechet derivative of expm at ``a`` in direction ``e``: the upper right block of
    expm([[a, e], [0, a]]), itself differentiable since expm is."""
    n = np.shape(_raw(a))[-1]
    zero = xp_of(_raw(a)).zeros((n, n), dtype=np.result_type(_raw(a).dtype, _raw(e).dtype))
    big = tnp.concatenate([tnp.concatenate([a, e], axis=1),
                           tnp.concatenate([zero, a], axis=1)], axis=0)
    return _expm(big)[:n, n:]


defvjp(_expm, lambda g, ans, a: _frechet(_mT(a), g))
defjvp(_expm, lambda t, ans, a: _frechet(a, t))


def expm(A):
    """The matrix exponential (SciPy's expm) of a square matrix, differentiable."""
    return _expm(_as_array(A))


__getattr__ = _module_getattr("tensorgrad.scipy.linalg", "scipy.linalg", base=None)

__all__ = ["solve_triangular", "cholesky", "cho_factor", "cho_solve", "inv", "det", "solve",
           "eigh", "block_diag", "solve_sylvester", "sqrtm", "expm"]
