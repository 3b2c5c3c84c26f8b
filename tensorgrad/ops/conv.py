"""Sliding windows for convolution and pooling: ``unfold`` (im2col) and its adjoint ``fold``.

``unfold(x, kernel, stride, padding, dilation, pad_value)`` takes (N, C, H, W) to
(N, C, kh, kw, OH, OW): window (i, j) of output position (oh, ow). Both are linear, each the
other's VJP, so convolutions and pools built from them get derivatives of every order.

On CuPy float32/float64 arrays both run a CUDA kernel (``kernels/im2col.cu``: one launch that
writes the windows, and for ``fold`` a gather in which each pixel adds up its window entries,
deterministic and without atomics) instead of a pad, a strided copy and kh * kw strided adds.
The kernels are these primitives' forward functions, so the rules, and derivatives of every
order, are the same on every device. NumPy arrays keep the code below.
"""

from ..backend import cuda as _cuda
from ..backend.device import _CUPY_ARRAY, xp_of
from .registry import defjvp, defvjp, primitive


def out_size(size, k, stride, padding, dilation):
    return (size + 2 * padding - dilation * (k - 1) - 1) // stride + 1


@primitive(saves=False)
def unfold(x, kernel, stride, padding, dilation, pad_value=0.0):
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    if type(x) is _CUPY_ARRAY and x.ndim == 4 and _cuda.fusable(x):
        oh = out_size(x.shape[2], kh, sh, ph, dh)
        ow = out_size(x.shape[3], kw, sw, pw, dw)
        if oh > 0 and ow > 0:
            return _cuda.im2col(x, kernel, stride, padding, dilation, pad_value, oh, ow)
    xp = xp_of(x)
    if ph or pw:
        x = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=pad_value)
    n, c, h, w = x.shape
    oh = (h - dh * (kh - 1) - 1) // sh + 1
    ow = (w - dw * (kw - 1) - 1) // sw + 1
    s0, s1, s2, s3 = x.strides
    # a strided view (CuPy's as_strided takes no ``writeable``), copied at once: nothing writes
    view = xp.lib.stride_tricks.as_strided(
        x, (n, c, kh, kw, oh, ow), (s0, s1, s2 * dh, s3 * dw, s2 * sh, s3 * sw))
    return view.copy()


@primitive(saves=False)
def fold(cols, size, kernel, stride, padding, dilation):
    """The adjoint of ``unfold``: window values added back to the (N, C, H, W) positions they
    came from (overlaps add up); ``size`` is (H, W) before padding."""
    if type(cols) is _CUPY_ARRAY and cols.ndim == 6 and _cuda.fusable(cols) and min(size) > 0:
        return _cuda.col2im(cols, size, kernel, stride, padding, dilation)
    xp = xp_of(cols)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    n, c, _, _, oh, ow = cols.shape
    h, w = size
    out = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                j * dw:j * dw + sw * (ow - 1) + 1:sw] += cols[:, :, i, j]
    return out[:, :, ph:ph + h, pw:pw + w]


defvjp(unfold, lambda g, ans, x, kernel, stride, padding, dilation, pad_value=0.0:
       fold(g, x.shape[2:], kernel, stride, padding, dilation))
defjvp(unfold, lambda t, ans, x, kernel, stride, padding, dilation, pad_value=0.0:
       unfold(t, kernel, stride, padding, dilation, 0.0))
defvjp(fold, lambda g, ans, cols, size, kernel, stride, padding, dilation:
       unfold(g, kernel, stride, padding, dilation, 0.0))
defjvp(fold, lambda t, ans, cols, size, kernel, stride, padding, dilation:
       fold(t, size, kernel, stride, padding, dilation))
