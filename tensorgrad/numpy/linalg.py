"""``tensorgrad.numpy.linalg``: NumPy's linear algebra, differentiable.

Arrays in, arrays out (NumPy's or CuPy's own function runs); any Tensor in, Tensor out.
Functions without a derivative here pass through to NumPy/CuPy and refuse a tensor that carries
one.

>>> import numpy as np, tensorgrad as tg
>>> import tensorgrad.numpy as tnp
>>> tg.grad(lambda a: tnp.linalg.det(a))(np.eye(2))
array([[1., 0.],
       [0., 1.]])
"""


import numpy as _np

from .._passthrough import module_getattr as _module_getattr
from ..backend.device import _CUPY_ARRAY, xp_of
from ..ops import decomp as _dc
from ..ops import elementwise as _ew
from ..ops import nondiff as _nondiff
from ..ops import reduce as _red
from ..ops.linalg import matmul as _matmul
from ..ops.linalg import norm2 as _norm2
from ..ops.registry import defjvp as _defjvp
from ..ops.registry import defvjp as _defvjp
from ..ops.registry import primitive as _primitive
from ..ops.shape import swapaxes as _swapaxes
from ..tensor import Tensor, _new_tensor, _norm_axis, _raw

SlogdetResult = _dc.SlogdetResult
EighResult = _dc.EighResult
EigResult = _dc.EigResult
SVDResult = _dc.SVDResult
LinAlgError = _np.linalg.LinAlgError

inv = _dc.inv
det = _dc.det
slogdet = _dc.slogdet
solve = _dc.solve
eigh = _dc.eigh
eig = _dc.eig


def _is_tensor(*xs):
    for x in xs:
        if isinstance(x, Tensor):
            return True
    return False


def cholesky(a, /, *, upper=False):
    """NumPy's cholesky (lower factor; ``upper=True`` gives its transpose). Gradients assume a
    symmetric ``a`` and are symmetric."""
    if not _is_tensor(a):
        return xp_of(a).linalg.cholesky(a) if not upper else _np.swapaxes(
            xp_of(a).linalg.cholesky(a), -1, -2)
    low = _dc.cholesky(a)
    return _swapaxes(low, -1, -2) if upper else low


def eigvalsh(a, UPLO="L"):
    """Eigenvalues of a Hermitian matrix (ascending), read from one triangle as NumPy does.
    The derivative is finite where eigenvalues repeat.

    >>> import numpy as np, tensorgrad as tg, tensorgrad.numpy as tnp
    >>> tg.grad(lambda a: tnp.sum(tnp.linalg.eigvalsh(a) ** 2))(np.eye(2))
    array([[2., 0.],
           [0., 2.]])
    """
    return _dc.eigvalsh(a, UPLO)


def eigvals(a):
    """Eigenvalues of a general square matrix (NumPy's order and dtype rule: real when all are
    real). The derivative needs a diagonalizable matrix, not distinct eigenvalues."""
    if not _is_tensor(a):
        return _dc._la(a, "eigvals")(a)
    return _dc.eigvals(a)


def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    """NumPy's svd: ``SVDResult(U, S, Vh)``, or the singular values alone with
    ``compute_uv=False`` (whose derivative is finite where they repeat or vanish). U and Vh are
    defined up to a phase (sign) per singular pair: differentiate functions that do not depend
    on it (``U * S @ Vh``, ``|U|``, projectors). ``hermitian=True`` computes the general SVD for
    a tensor (the same values for a Hermitian input).

    >>> import numpy as np, tensorgrad as tg, tensorgrad.numpy as tnp
    >>> tg.grad(lambda a: tnp.sum(tnp.linalg.svd(a, compute_uv=False)))(np.diag([3.0, -2.0]))
    array([[ 1.,  0.],
           [ 0., -1.]])
    """
    if not _is_tensor(a):
        fn = _dc._la(a, "svd")
        if hermitian:
            return fn(a, full_matrices=full_matrices, compute_uv=compute_uv, hermitian=True)
        return fn(a, full_matrices=full_matrices, compute_uv=compute_uv)
    return _dc.svd(a, full_matrices=full_matrices, compute_uv=compute_uv)


_NO_RTOL = object()


def pinv(a, rcond=None, hermitian=False, *, rtol=_NO_RTOL):
    """NumPy's pinv (``rcond``/``rtol`` as NumPy reads them), batched. Its derivative
    (Golub and Pereyra's) holds where the rank does not change. ``hermitian=True``, as NumPy's,
    inverts the eigendecomposition of the Hermitian matrix that a's lower triangle defines
    (whatever the upper one holds); its derivative is the same formula (for a Hermitian
    ``a``), as ``tg.linalg.pinv``'s."""
    if rcond is None:
        if rtol is _NO_RTOL:
            rcond = 1e-15
        elif rtol is None:
            rcond = max(a.shape[-2:]) * _np.finfo(a.dtype).eps
        else:
            rcond = rtol
    elif rtol is not _NO_RTOL:
        raise ValueError("pinv: `rtol` and `rcond` can't be both set")
    if not _is_tensor(a) and hermitian and xp_of(a) is _np:
        return _np.linalg.pinv(a, rcond=rcond, hermitian=True)
    if hermitian:
        return _dc.pinv(a, rcond, True)  # tg.linalg.pinv's: the lower triangle, through eigh
    return _dc.pinv(a, rcond)


def matrix_power(a, n):
    """NumPy's matrix_power, by repeated squaring (negative ``n`` inverts first)."""
    if not _is_tensor(a):
        return xp_of(a).linalg.matrix_power(a, n)
    n = int(n)
    if n == 0:
        raw = a.data
        eye = xp_of(raw).eye(raw.shape[-1], dtype=raw.dtype)
        return _new_tensor(xp_of(raw).broadcast_to(eye, raw.shape).copy(), None, False)
    if n < 0:
        a, n = inv(a), -n
    result = None
    base = a
    while n:
        if n & 1:
            result = base if result is None else _matmul(result, base)
        n >>= 1
        if n:
            base = _matmul(base, base)
    return result


def multi_dot(arrays):
    """NumPy's multi_dot (left to right; 1-D ends are treated as NumPy does)."""
    arrays = list(arrays)
    if not _is_tensor(*arrays):
        return xp_of(arrays[0]).linalg.multi_dot(arrays)
    out = arrays[0]
    for b in arrays[1:]:
        out = _matmul(out, b)
    return out


def matmul(x1, x2, /):
    return _matmul(x1, x2)


def matrix_transpose(x, /):
    if not _is_tensor(x):
        return _np.swapaxes(x, -1, -2) if not isinstance(x, _CUPY_ARRAY) else x.swapaxes(-1, -2)
    return _swapaxes(x, -1, -2)


def trace(x, /, *, offset=0, dtype=None):
    """Array API trace: over the last two axes."""
    from . import trace as _trace

    out = _trace(x, offset=offset, axis1=-2, axis2=-1)
    return out if dtype is None else out.astype(dtype)


def diagonal(x, /, *, offset=0):
    from . import diagonal as _diagonal

    return _diagonal(x, offset=offset, axis1=-2, axis2=-1)


def outer(x1, x2, /):
    from . import outer as _outer

    return _outer(x1, x2)


def vecdot(x1, x2, /, *, axis=-1):
    """sum(conj(x1) * x2, axis): the array API's vecdot."""
    if not _is_tensor(x1, x2):
        return xp_of(x1).linalg.vecdot(x1, x2, axis=axis)
    prod = _ew.multiply(_ew.conjugate(x1), x2)
    return _red.sum(prod, (_norm_axis(axis, prod.ndim, "vecdot"),), False)


# ---- norms ---------------------------------------------------------------------------------
def _as_input(x):
    """A list or tuple (of tensors, numbers, arrays) as one array or tensor, as NumPy reads it:
    otherwise its tensors would be read as constants."""
    if isinstance(x, (list, tuple)):
        from . import array

        return array(x)
    return x


def _vector_norm(x, ord, axes, keepdims):
    if ord is None or ord == 2:
        return _norm2(x, axes, keepdims)
    if ord == _np.inf:
        return _red.max(_ew.abs(x), axes, keepdims)
    if ord == -_np.inf:
        return _red.min(_ew.abs(x), axes, keepdims)
    if ord == 0:
        return _count_nonzero(x, axes, keepdims)
    if ord == 1:
        return _red.sum(_ew.abs(x), axes, keepdims)
    if isinstance(ord, str):
        raise ValueError(f"norm: invalid norm order {ord!r} for vectors")
    p = float(ord)
    if p < 1:
        return _small_p_norm(x, p, axes, keepdims)
    return _safe_root(_red.sum(_ew.power(_ew.abs(x), p), axes, keepdims), p)


@_primitive(saves=False)
def _count_nonzero(x, axes, keepdims):
    """The 0-"norm": the number of nonzero entries over ``axes``, in x's real dtype. A
    primitive with zero derivatives (not a graph cut) so that the result requires grad and
    passes back zeros, as PyTorch's (also for inf or nan entries, which a product with 0
    would turn into nan)."""
    real = _np.empty(0, x.dtype).real.dtype
    return (x != 0).sum(axis=axes, keepdims=keepdims).astype(real)


_defvjp(_count_nonzero, lambda g, ans, x, axes, keepdims: _nondiff.zeros_like(x), None, None)
_defjvp(_count_nonzero, lambda t, ans, x, axes, keepdims: _nondiff.zeros_like(ans), None, None)


def _small_p_norm(x, p, axes, keepdims):
    """(sum |x|^p)^(1/p) for p < 1, p != 0, with PyTorch's subgradient 0 at the zero entries
    (where d|x|^p is infinite) instead of NaN; the masks are constants. For p < 0 a zero
    entry makes the norm 0 (|0|^p = inf) and every gradient 0, as PyTorch's (and the value
    NumPy's)."""
    a = _ew.abs(x)
    zero = _raw(a) == 0
    powered = _ew.where(zero, 0.0 if p > 0 else _np.inf, _ew.power(_ew.where(zero, 1, a), p))
    return _safe_root(_red.sum(powered, axes, keepdims), p)


def _safe_root(s, p):
    """s ** (1 / p) with the subgradient 0 at s = 0 (PyTorch's choice for norms at 0), not the
    NaN of 1/0 * 0; the mask is a constant."""
    zero = _raw(s) == 0
    return _ew.where(zero, 0, _ew.power(_ew.where(zero, 1, s), 1.0 / p))


def _matrix_norm(x, ord, axes, keepdims):
    r, c = axes
    if ord in (None, "fro", "f"):
        return _norm2(x, axes, keepdims)
    if ord in (1, -1):
        red = _red.max if ord == 1 else _red.min
        col = _red.sum(_ew.abs(x), (r,), True)
        out = red(col, (c,), True)
    elif ord in (_np.inf, -_np.inf):
        red = _red.max if ord == _np.inf else _red.min
        row = _red.sum(_ew.abs(x), (c,), True)
        out = red(row, (r,), True)
    elif ord in (2, -2, "nuc"):
        s = _dc.svdvals(_move_last_two(x, r, c))  # descending
        if ord == 2:
            out = getitem_last(s, 0)
        elif ord == -2:
            out = getitem_last(s, -1)
        else:
            out = _red.sum(s, (s.ndim - 1,), False)
        shape = list(x.shape)
        shape[r] = 1
        shape[c] = 1
        from ..ops.shape import reshape

        return reshape(out, tuple(shape)) if keepdims else out
    else:
        raise ValueError(f"norm: invalid norm order {ord!r} for matrices")
    if keepdims:
        return out
    from ..ops.shape import squeeze

    return squeeze(out, axes)


def getitem_last(s, i):
    from ..ops.index import getitem

    return getitem(s, (Ellipsis, i))


def _move_last_two(x, r, c):
    from . import moveaxis

    return moveaxis(x, (r, c), (-2, -1))


def norm(x, ord=None, axis=None, keepdims=False):
    """NumPy's norm: vector norms (2, 1, inf, -inf, 0, p) and matrix norms ('fro', 1, -1, inf,
    -inf, 2, -2, 'nuc'; the last three through the singular values), over ``axis``. ``x`` may
    be a list of tensors and numbers.

    The 2-norm's and Frobenius norm's derivative at 0 is 0 (PyTorch's subgradient).

    >>> import numpy as np, tensorgrad as tg, tensorgrad.numpy as tnp
    >>> tg.grad(tnp.linalg.norm)(np.zeros(2))
    array([0., 0.])
    """
    x = _as_input(x)
    if not _is_tensor(x):
        return xp_of(x).linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)
    nd = x.ndim
    if axis is None:
        if ord is None:
            axes = tuple(range(nd))
            return _norm2(x, axes, keepdims)
        if nd == 1:
            axes = (0,)
        elif nd == 2:
            axes = (0, 1)
        else:
            raise ValueError("norm: improper number of dimensions to norm")
    else:
        axes = axis if isinstance(axis, (tuple, list)) else (axis,)
        axes = tuple(_norm_axis(a, nd, "norm") for a in axes)
    if len(axes) == 1:
        return _vector_norm(x, ord, axes, keepdims)
    if len(axes) == 2:
        if axes[0] == axes[1]:
            raise ValueError("norm: duplicate axes given")
        return _matrix_norm(x, ord, axes, keepdims)
    raise ValueError("norm: improper number of dimensions to norm")


def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    """The array API's vector_norm (axis=None: all elements as one vector)."""
    x = _as_input(x)
    if not _is_tensor(x):
        return xp_of(x).linalg.vector_norm(x, axis=axis, keepdims=keepdims, ord=ord)
    nd = x.ndim
    axes = tuple(range(nd)) if axis is None else tuple(
        _norm_axis(a, nd, "vector_norm") for a in (axis if isinstance(axis, (tuple, list))
                                                   else (axis,)))
    return _vector_norm(x, ord, axes, keepdims)


def matrix_norm(x, /, *, keepdims=False, ord="fro"):
    """The array API's matrix_norm over the last two axes."""
    x = _as_input(x)
    if not _is_tensor(x):
        return xp_of(x).linalg.matrix_norm(x, keepdims=keepdims, ord=ord)
    return _matrix_norm(x, ord, (x.ndim - 2, x.ndim - 1), keepdims)


# anything else NumPy has: no derivative, so refuse to silently drop one
__getattr__ = _module_getattr("tensorgrad.numpy.linalg", "linalg")


