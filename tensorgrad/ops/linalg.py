"""matmul (1-D, 2-D, batched, broadcasting) and dot. VJPs pass transposed views to matmul."""

import math

import numpy as np

from ..backend.device import _CUPY_ARRAY
from ..tensor import _raw
from .registry import defjvp, defvjp, primitive
from .shape import expand_dims, squeeze

_OUTER_GEMM = 4096  # entries of a column-times-row product from which a GEMM pays
_ARRAYS = (np.ndarray, _CUPY_ARRAY)


def _mm(a, b):
    """``a @ b`` of arrays, except a column times a row (a product over an axis of length 1),
    which NumPy's matmul runs as a plain loop without BLAS: 430 us for a float32
    (512, 1) @ (1, 784), the weight gradient of a Linear at batch 1 or the input gradient of
    a Linear with one output. From ``_OUTER_GEMM`` entries on, a NumPy float32/float64 pair
    of finite values goes to a GEMM of depth 2 whose second term is zero (40-70 us, the same
    numbers); other such products (small, batched, complex, CuPy) are the broadcast product
    ``a * b``, one elementwise pass."""
    if a.ndim >= 2 and a.shape[-1] == 1 and type(a) in _ARRAYS and type(b) is type(a) and \
            b.ndim >= 2 and a.dtype == b.dtype and a.dtype.kind in "fc":
        if type(a) is np.ndarray and a.ndim == 2 == b.ndim and a.dtype.char in "fd" and \
                a.shape[0] * b.shape[1] >= _OUTER_GEMM and np.isfinite(a).all() and \
                np.isfinite(b).all():  # (BLAS kernels flag an inf times their zero padding)
            a2 = np.zeros((a.shape[0], 2), a.dtype)
            a2[:, :1] = a
            b2 = np.zeros((2, b.shape[1]), b.dtype)
            b2[:1] = b
            return a2 @ b2
        return a * b
    return a @ b


def _matmul_fwd(x, y):
    if y.ndim == 2 and x.ndim > 2:
        return _rows_times(x, y)
    return _mm(x, y)


def _flat_rows(a):
    """``a`` (..., k) as (rows, k); the row count spelled out, since reshape cannot infer a
    -1 next to a zero-width k (a Linear with no inputs or outputs)."""
    return a.reshape(math.prod(a.shape[:-1]), a.shape[-1])


def _rows_times(x, y):
    """``x @ y`` for a batched ``x`` (..., n, k) and a 2-D ``y``: one GEMM over all the rows.
    BLAS runs a (B*n, k) product about twice as fast as B products of (n, k)."""
    return _mm(_flat_rows(x), y).reshape(x.shape[:-1] + (y.shape[-1],))


matmul = primitive(_matmul_fwd, name="matmul")


# The rules use methods and operators (x.swapaxes, @), which arrays and Tensors share: on raw
# arrays that is one NumPy call each, with no wrapper in between. Transposes are views, so BLAS
# reads the operands in place.
def _mm_dx(g, ans, x, y):
    if y.ndim == 1:
        if x.ndim == 1:
            return g * y
        return _mm(expand_dims(g, -1), expand_dims(y, 0))  # (..., n, 1) @ (1, k)
    if x.ndim == 1:
        if y.ndim == 2:
            return y @ g  # (k, m) @ (m,)
        # x (k,), y (..., k, m), g (..., m): sum over batches is done by the engine
        return squeeze(y @ expand_dims(g, -1), -1)
    if y.ndim == 2 and g.ndim > 2:
        return _rows_times(g, y.swapaxes(-1, -2))
    return _mm(g, y.swapaxes(-1, -2))


def _mm_dy(g, ans, x, y):
    if x.ndim == 1:
        if y.ndim == 1:
            return g * x
        return _mm(expand_dims(x, -1), expand_dims(g, -2))  # (k, 1) @ (..., 1, m)
    if y.ndim == 1:
        if x.ndim == 2:
            return x.swapaxes(-1, -2) @ g  # (k, n) @ (n,)
        return squeeze(x.swapaxes(-1, -2) @ expand_dims(g, -1), -1)
    if y.ndim == 2 and x.ndim > 2:
        # a weight shared by every batch (a Linear layer on (B, S, E)): one GEMM over all rows,
        # instead of a batched product and a sum over the batch
        return _mm(_flat_rows(x).swapaxes(-1, -2), _flat_rows(g))
    return _mm(x.swapaxes(-1, -2), g)


defvjp(matmul, _mm_dx, _mm_dy)
matmul.prim.amp = "lower"  # autocast (tensorgrad.amp): float16 inside a region
defjvp(matmul, lambda t, ans, x, y: matmul(t, y), lambda t, ans, x, y: matmul(x, t))


# ---- PyTorch's linear layer: x @ w.T + b as one node ------------------------------------------
_FEW_ROWS = (8, 32)  # row counts at which ``_times_wt`` computes (w @ x.T).T
_WIDE = 1 << 17  # weights of this many entries or more


def _times_wt(x, w):
    """``x @ w.T`` for a 2-D ``x``. OpenBLAS (SkylakeX kernels, 1 or 2 threads) multiplies a
    float32 (rows, in) by a transposed (out, in) weight of 128K+ entries 1.4-1.8x slower at
    8-32 rows than it computes the transposed product ``w @ x.T`` (at 16 rows of W3's first
    layer: 226 against 140 us, the copy back to rows included); from 64 rows on the two
    are even, beyond 128 the direct product wins. One input feature (an RNN fed one value
    per step) is a column times a row: ``_mm``."""
    if _FEW_ROWS[0] <= x.shape[0] <= _FEW_ROWS[1] and type(x) is np.ndarray and \
            x.dtype.char == "f" and w.dtype.char == "f" and w.size >= _WIDE and \
            w.flags.c_contiguous:
        return np.ascontiguousarray(_mm(w, x.T).T)
    return _mm(x, w.swapaxes(-1, -2))


def _linear_fwd(x, w, b=None):
    if x.ndim <= 2:
        out = _times_wt(x, w) if x.ndim == 2 else x @ w.swapaxes(-1, -2)
    elif x.shape[-1] == 1:  # a batch of columns times a row: ``_mm``
        out = _mm(x, w.swapaxes(-1, -2))
    else:
        out = _times_wt(_flat_rows(x), w).reshape(x.shape[:-1] + (w.shape[0],))
    if b is None:
        return out
    if b.dtype == out.dtype and out.ndim:
        out += b  # a fresh buffer: no second allocation
        return out
    return out + b


linear = primitive(_linear_fwd, name="linear")
linear.__doc__ = """``x @ w.T + b`` with PyTorch's (out_features, in_features) weight ``w``.

One node instead of a transpose, a product and a sum: the weight's gradient comes out as
``g.T @ x`` in the weight's own (row-major) layout, one GEMM over all the rows of a batched
``x``, so the optimizer's update reads it contiguously."""


def _linear_dx(g, ans, x, w, b=None):
    return _rows_times(g, w) if g.ndim > 2 else _mm(g, w)


def _linear_dw(g, ans, x, w, b=None):
    return _mm(_flat_rows(g).swapaxes(-1, -2), _flat_rows(x))


def _linear_db(g, ans, x, w, b):
    # summed over the rows here, as the engine's unbroadcast would (the same reduction), which
    # spares it the check of a (rows, out) cotangent against b's shape for every layer call
    if b.ndim == 1 and g.ndim >= 2 and g.dtype == b.dtype:
        return g.sum(axis=0) if g.ndim == 2 else g.sum(axis=tuple(range(g.ndim - 1)))
    return g  # a 0-d bias or a cast: the engine sums it


defvjp(linear, _linear_dx, _linear_dw, _linear_db)
linear.prim.amp = "lower"
defjvp(linear, lambda t, ans, x, w, b=None: linear(t, w),
       lambda t, ans, x, w, b=None: linear(x, t), lambda t, ans, x, w, b: t)


def dot(a, b):
    """NumPy's dot: a product for scalars, matmul for 1-D and 2-D, a sum over the last axis of
    ``a`` and the second-to-last of ``b`` beyond."""
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if b.ndim <= 2 and a.ndim <= 2 or b.ndim == 1:
        return matmul(a, b)
    from .. import numpy as tnp

    return tnp.tensordot(a, b, axes=([-1], [-2]))


# ---- the Euclidean / Frobenius norm ------------------------------------------------------------
@primitive
def norm2(x, axes, keepdims=False):
    """sqrt(sum(|x|^2)) over ``axes``. Its derivative at 0 is the subgradient 0 (PyTorch's
    choice), with no division by zero; the second derivative there is 0 too."""
    sq = x.real * x.real + x.imag * x.imag if x.dtype.kind == "c" else x * x
    return (sq.sum(axis=axes, keepdims=keepdims)) ** 0.5


def _safe_inv(ans):
    """1 / |x| where |x| != 0 and 0 where it is 0 (the mask is a constant)."""
    raw = _raw(ans)
    zero = (raw == 0).astype(raw.dtype)
    return (1 - zero) / (ans + zero)


def _norm2_vjp(g, ans, x, axes, keepdims=False):
    from .elementwise import conjugate
    from .shape import reshape

    scale = g * _safe_inv(ans)
    if not keepdims:
        scale = reshape(scale, tuple(1 if i in axes else n for i, n in enumerate(x.shape)))
    return (conjugate(x) if x.dtype.kind == "c" else x) * scale


def _norm2_jvp(t, ans, x, axes, keepdims=False):
    from .elementwise import conjugate, real
    from .reduce import sum as _sum

    prod = conjugate(x) * t if x.dtype.kind == "c" else x * t
    if prod.dtype.kind == "c":
        prod = real(prod)
    return _sum(prod, axes, keepdims) * _safe_inv(ans)


defvjp(norm2, _norm2_vjp)
norm2.prim.amp = "fp32"  # autocast: norms in float32, as PyTorch's
defjvp(norm2, _norm2_jvp)
