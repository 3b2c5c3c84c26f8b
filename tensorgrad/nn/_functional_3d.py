"""3-D convolutions, pooling and channel dropout, and the 1-D transposed convolution, with
PyTorch's names, signatures, defaults and numerics (star-imported into ``nn.functional``).

All are compositions of existing differentiable primitives, so derivatives of every order in
both modes come from theirs:

- ``conv3d`` is ``conv2d`` over depth windows folded into channels: the input's depth windows
  (``unfold`` along D, one strided copy) become (N * D_out, C * kd, H, W) and the weight
  (OC, C/groups * kd, kh, kw), so the host's GEMM kernels (or CuPy's im2col) do the work;
- ``conv_transpose3d`` is its adjoint the other way round: ``conv_transpose2d`` per input depth
  slice with kd times the output channels, then ``fold`` adds the kd depth taps where they land;
- ``conv_transpose1d`` is ``conv_transpose2d`` over a height-1 image;
- pooling over a box is separable: a max (or a sum) over the box is one over D, then H, then W,
  each an ``unfold`` along one axis and a reduction; average pooling's divisor is a product of
  per-axis counts, so ``ceil_mode``, ``count_include_pad`` and ``divisor_override`` are too.
"""

import math

import numpy as np

from ..amp.autocast_mode import LOWER, cast_inputs
from ..backend.device import xp_of
from ..ops import reduce as _red
from ..ops.conv import fold, out_size, unfold
from ..ops.linalg import matmul
from ..ops.registry import AUTOCAST
from ..ops.shape import concatenate_, expand_dims, reshape, squeeze, transpose
from ..tensor import Tensor, _new_tensor, _raw
from ._functional_conv_attn import (
    _adaptive_matrix,
    _batched,
    _check_bias,
    _positive,
    _same_padding,
    _transpose_out,
    _tuple,
    conv2d,
    conv_transpose2d,
)
from ._functional_more import _adaptive_max, _channel_dropout, _windows
from ._inplace import apply_inplace
from .functional import _lowest, _pool_nonempty, pad

__all__ = ["conv3d", "conv_transpose1d", "conv_transpose3d", "max_pool3d", "avg_pool3d",
           "adaptive_avg_pool3d", "adaptive_max_pool3d", "dropout3d"]


def _shape(x):
    return tuple(x.shape)


def _check_groups(op, input, weight, c, cg, oc, groups):
    """``groups`` a positive int that splits the input's ``c`` channels into weight groups of
    ``cg`` and the ``oc`` output channels evenly."""
    if not isinstance(groups, (int, np.integer)) or groups < 1 or c != cg * groups or (
            oc % groups):
        raise ValueError(f"{op}: input of shape {_shape(input)} has {c} channels but weight "
                         f"{_shape(weight)} with groups={groups} expects {cg * groups} (and "
                         f"out_channels divisible by groups)")
    return int(groups)


# ---- conv3d ---------------------------------------------------------------------------------
def _depth_windows(x, k, s, p, d, dout):
    """(N, C, D, H, W) -> (N * D_out, C * k, H, W): output depth o's window, depth taps
    o s - p + i d (zeros outside), as channels c k + i."""
    n, c, depth, h, w = x.shape
    cols = unfold(reshape(x, (n, c, depth, h * w)), (k, 1), (s, 1), (p, 0), (d, 1), 0.0)
    # (N, C, k, 1, D_out, H W) -> (N, D_out, C, k, H, W)
    cols = transpose(reshape(cols, (n, c, k, dout, h, w)), (0, 3, 1, 2, 4, 5))
    return reshape(cols, (n * dout, c * k, h, w))


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-D cross-correlation as PyTorch's: input (N, C, D, H, W) or (C, D, H, W), weight
    (OC, C/groups, kd, kh, kw), ``padding`` ints, ``'valid'`` or ``'same'``.

    ``conv2d`` over the depth windows folded into channels: (N * D_out, C * kd, H, W) against
    the weight as (OC, C/groups * kd, kh, kw).

    >>> import tensorgrad as tg
    >>> F = tg.nn.functional
    >>> F.conv3d(tg.ones(1, 1, 3, 3, 3), tg.ones(1, 1, 2, 2, 2)).shape
    (1, 1, 2, 2, 2)
    >>> F.conv3d(tg.ones(1, 1, 3, 3, 3), tg.ones(1, 1, 2, 2, 2)).sum().item()
    64.0
    """
    op = "conv3d"
    if AUTOCAST[0]:
        input, weight, bias = cast_inputs(LOWER, input, weight, bias)
    x, unbatched = _batched(input, weight, 3, op, "(C, D, H, W) or (N, C, D, H, W)",
                            "(out_channels, in_channels/groups, kd, kh, kw)")
    c = x.shape[1]
    oc, cg, kd, kh, kw = weight.shape
    groups = _check_groups(op, input, weight, c, cg, oc, groups)
    _check_bias(bias, oc, op)
    kernel = (kd, kh, kw)
    s = _tuple(stride, 3, "stride", op)
    d = _tuple(dilation, 3, "dilation", op)
    _positive(s, "stride", op)
    _positive(d, "dilation", op)
    if isinstance(padding, str):
        pairs = _same_padding(padding, kernel, s, d, op)
        extra = [after - before for before, after in pairs]
        if any(extra):  # 'same', even receptive field: the extra zero goes after
            x = pad(x, (0, extra[2], 0, extra[1], 0, extra[0]))
        p = tuple(before for before, _ in pairs)
    else:
        p = _tuple(padding, 3, "padding", op)
        _positive(p, "padding", op, allow_zero=True)
    reach = tuple(di * (k - 1) + 1 for k, di in zip(kernel, d, strict=True))
    if any(x.shape[2 + i] + 2 * p[i] < reach[i] for i in range(3)):
        raise ValueError(f"{op}: input of shape {_shape(input)}, padded by {p}, is smaller than "
                         f"the kernel's reach {reach} (kernel {kernel}, dilation {d})")
    n = x.shape[0]
    dout = out_size(x.shape[2], kd, s[0], p[0], d[0])
    cols = _depth_windows(x, kd, s[0], p[0], d[0], dout)
    out = conv2d(cols, reshape(weight, (oc, cg * kd, kh, kw)), bias, s[1:], p[1:], d[1:],
                 groups)
    out = transpose(reshape(out, (n, dout, oc) + _shape(out)[2:]), (0, 2, 1, 3, 4))
    return squeeze(out, 0) if unbatched else out


# ---- transposed convolutions ----------------------------------------------------------------
def _transpose_args(op, input, x, weight, bias, stride, padding, output_padding, groups,
                    dilation):
    """PyTorch's checks of a transposed convolution of ``x`` (batched): (groups, stride,
    padding, output_padding, dilation, output spatial size)."""
    n_sp = x.ndim - 2
    c = x.shape[1]
    wc, ocg = weight.shape[:2]
    kernel = _shape(weight)[2:]
    if not isinstance(groups, (int, np.integer)) or groups < 1 or wc != c or c % groups:
        raise ValueError(f"{op}: input of shape {_shape(input)} has {c} channels but weight "
                         f"{_shape(weight)} (in_channels, out_channels/groups, *kernel) with "
                         f"groups={groups} expects {wc}, divisible by groups")
    _check_bias(bias, ocg * groups, op)
    s = _tuple(stride, n_sp, "stride", op)
    p = _tuple(padding, n_sp, "padding", op)
    opad = _tuple(output_padding, n_sp, "output_padding", op)
    d = _tuple(dilation, n_sp, "dilation", op)
    _positive(s, "stride", op)
    _positive(d, "dilation", op)
    _positive(p, "padding", op, allow_zero=True)
    _positive(opad, "output_padding", op, allow_zero=True)
    for i in range(n_sp):
        if not (opad[i] < s[i] or opad[i] < d[i]):
            raise ValueError(f"{op}: output_padding {opad} must be smaller than either stride "
                             f"{s} or dilation {d}")
    size = tuple(_transpose_out(x.shape[2 + i], kernel[i], s[i], p[i], opad[i], d[i])
                 for i in range(n_sp))
    if min(size) <= 0:
        raise ValueError(f"{op}: the output would be {size} for input {_shape(input)}, kernel "
                         f"{kernel}, stride {s}, padding {p}, dilation {d}")
    return int(groups), s, p, opad, d, size


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """1-D transposed convolution as PyTorch's (the adjoint of ``conv1d``): input (N, C, L) or
    (C, L), weight (C, OC/groups, k); the output is
    (L - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1 long.

    ``conv_transpose2d`` over a height-1 image.

    >>> import tensorgrad as tg
    >>> F = tg.nn.functional
    >>> F.conv_transpose1d(tg.ones(1, 1, 3), tg.ones(1, 1, 2)).tolist()
    [[[1.0, 2.0, 2.0, 1.0]]]
    """
    op = "conv_transpose1d"
    if AUTOCAST[0]:
        input, weight, bias = cast_inputs(LOWER, input, weight, bias)
    x, unbatched = _batched(input, weight, 1, op, "(N, C, L) or (C, L)",
                            "(in_channels, out_channels/groups, k)")
    groups, s, p, opad, d, _ = _transpose_args(op, input, x, weight, bias, stride, padding,
                                               output_padding, groups, dilation)
    out = conv_transpose2d(expand_dims(x, 2), expand_dims(weight, 2), bias, (1,) + s,
                           (0,) + p, (0,) + opad, groups, (1,) + d)
    out = squeeze(out, 2)
    return squeeze(out, 0) if unbatched else out


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """3-D transposed convolution as PyTorch's (the adjoint of ``conv3d``): input
    (N, C, D, H, W) or (C, D, H, W), weight (C, OC/groups, kd, kh, kw); each output dimension
    is (size - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1.

    ``conv_transpose2d`` of every input depth slice with the weight as
    (C, OC/groups * kd, kh, kw) gives each slice's kd depth taps; ``fold`` adds them up at
    depths i s - p + j d.

    >>> import tensorgrad as tg
    >>> F = tg.nn.functional
    >>> F.conv_transpose3d(tg.ones(1, 1, 2, 2, 2), tg.ones(1, 1, 2, 2, 2))[0, 0, 1].tolist()
    [[2.0, 4.0, 2.0], [4.0, 8.0, 4.0], [2.0, 4.0, 2.0]]
    """
    op = "conv_transpose3d"
    if AUTOCAST[0]:
        input, weight, bias = cast_inputs(LOWER, input, weight, bias)
    x, unbatched = _batched(input, weight, 3, op, "(N, C, D, H, W) or (C, D, H, W)",
                            "(in_channels, out_channels/groups, kd, kh, kw)")
    groups, s, p, opad, d, (od, oh, ow) = _transpose_args(
        op, input, x, weight, bias, stride, padding, output_padding, groups, dilation)
    n, c, depth, h, w = x.shape
    ocg, kd, kh, kw = _shape(weight)[1:]
    oc = ocg * groups
    # with output_padding >= stride (allowed when < dilation) the output holds more depth
    # windows than the input has slices: those windows get nothing
    nd = out_size(od, kd, s[0], p[0], d[0])
    if nd > depth:
        x = pad(x, (0, 0, 0, 0, 0, nd - depth))
    slices = reshape(transpose(x, (0, 2, 1, 3, 4)), (n * nd, c, h, w))
    # output channel o kd + j of a slice: output channel o at depth tap j
    taps = conv_transpose2d(slices, reshape(weight, (c, ocg * kd, kh, kw)), None, s[1:], p[1:],
                            opad[1:], groups, d[1:])
    taps = transpose(reshape(taps, (n, nd, oc, kd, oh * ow)), (0, 2, 3, 1, 4))
    out = fold(reshape(taps, (n, oc, kd, 1, nd, oh * ow)), (od, oh * ow), (kd, 1), (s[0], 1),
               (p[0], 0), (d[0], 1))
    out = reshape(out, (n, oc, od, oh, ow))
    if bias is not None:
        out = out + reshape(bias, (1, oc, 1, 1, 1))
    return squeeze(out, 0) if unbatched else out


# ---- pooling --------------------------------------------------------------------------------
def _pool_args(op, input, kernel_size, stride, padding, dilation, ceil_mode, n_sp=3):
    """(kernel, stride, padding, dilation, [(output size, extra padding after) per axis]) with
    PyTorch's checks and output sizes (``ceil_mode``: a last window may hang over the end, but
    must start inside the input or its left padding)."""
    if input.ndim not in (n_sp + 1, n_sp + 2):
        dims = ("L",) if n_sp == 1 else ("H", "W") if n_sp == 2 else ("D", "H", "W")
        raise ValueError(f"{op}: input must be (N, C, {', '.join(dims)}) or "
                         f"(C, {', '.join(dims)}), got shape {_shape(input)}")
    k = _tuple(kernel_size, n_sp, "kernel_size", op)
    empty = stride is None or (isinstance(stride, (tuple, list)) and not stride)
    s = k if empty else _tuple(stride, n_sp, "stride", op)
    p = _tuple(padding, n_sp, "padding", op)
    d = _tuple(dilation, n_sp, "dilation", op)
    _positive(k, "kernel_size", op)
    _positive(s, "stride", op)
    _positive(d, "dilation", op)
    _positive(p, "padding", op, allow_zero=True)
    if any(pi > ki // 2 for pi, ki in zip(p, k, strict=True)):
        raise ValueError(f"{op}: padding {p} must be at most half the kernel {k}")
    spatial = _shape(input)[-n_sp:]
    geometry = []
    for size, ki, si, pi, di in zip(spatial, k, s, p, d, strict=True):
        span = size + 2 * pi - di * (ki - 1) - 1
        out = (-(-span // si) if ceil_mode else span // si) + 1
        if ceil_mode and (out - 1) * si >= size + pi:
            out -= 1
        if span < 0 or out <= 0:
            raise ValueError(f"{op}: input of shape {_shape(input)} is too small for kernel "
                             f"{k} with padding {p} and dilation {d}")
        geometry.append((out, max(0, (out - 1) * si + di * (ki - 1) + 1 - (size + 2 * pi))))
    return k, s, p, d, geometry


def _pool_axis(x, axis, k, s, p, d, out, extra, pad_value, reduce):
    """``reduce`` (a sum or a max) over windows along ``axis``: ``unfold`` of the axis as the
    height of an (A, 1, L, B) image; ``extra`` positions after the end hold ``pad_value`` too
    (ceil_mode)."""
    shape = _shape(x)
    a, b = math.prod(shape[:axis]), math.prod(shape[axis + 1:])
    y = reshape(x, (a, 1, shape[axis], b))
    if extra:
        raw = _raw(x)
        y = concatenate_(2, y, xp_of(raw).full((a, 1, extra, b), pad_value, dtype=raw.dtype))
    cols = unfold(y, (k, 1), (s, 1), (p, 0), (d, 1), pad_value)  # (A, 1, k, 1, out, B)
    return reshape(reduce(cols, (2,), False), shape[:axis] + (out,) + shape[axis + 1:])


def _window_slices(size, k, s, p, d, out):
    """Per output position, the slice of the input positions its window covers (no padding)."""
    slices = []
    for o in range(out):
        start = o * s - p
        first = start + d * max(0, -(start // d))  # the first tap at or after 0
        last = min(start + d * (k - 1), size - 1)
        slices.append(slice(first, max(first, last + 1), d))
    return slices


def _max_indices(x, windows):
    """PyTorch's ``return_indices`` of a max over boxes: per output, the flat index (over the
    spatial dimensions) of the first maximum in (d, h, w) order. ``windows`` lists, for each of
    the last len(windows) axes, one slice of the input per output position. On raw arrays
    (indices are not differentiable); one axis at a time, the last first, as the values."""
    xp = xp_of(x)
    n_sp = len(windows)
    spatial = x.shape[x.ndim - n_sp:]
    vals, flat = x, xp.zeros(x.shape, dtype=np.int64)
    for i in reversed(range(n_sp)):
        ax = x.ndim - n_sp + i
        stride_of_axis = math.prod(spatial[i + 1:])
        new_vals, new_flat = [], []
        for sl in windows[i]:
            idx = (slice(None),) * ax + (sl,)
            v, f = vals[idx], flat[idx]
            j = xp.expand_dims(xp.argmax(v, axis=ax), ax)
            new_vals.append(xp.take_along_axis(v, j, axis=ax))
            pos = sl.start + j * sl.step
            new_flat.append(xp.take_along_axis(f, j, axis=ax) + pos * stride_of_axis)
        vals = xp.concatenate(new_vals, axis=ax)
        flat = xp.concatenate(new_flat, axis=ax)
    return flat


def _indices_like(flat, input):
    """The raw index array as a Tensor when the input is one (PyTorch returns an int64
    tensor), else as it is."""
    return _new_tensor(flat, None, False) if isinstance(input, Tensor) else flat


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over each (kd, kh, kw) window of (N, C, D, H, W) or (C, D, H, W), as PyTorch's
    (padding counts as -inf; ``stride`` defaults to the kernel). ``return_indices`` also gives
    the flat index over D * H * W of each maximum (the first in (d, h, w) order). Where a window
    has ties the gradient is split evenly between them (PyTorch sends it to one).

    >>> import tensorgrad as tg
    >>> F = tg.nn.functional
    >>> F.max_pool3d(tg.arange(8.0).reshape(1, 1, 2, 2, 2), 2).tolist()
    [[[[[7.0]]]]]
    """
    op = "max_pool3d"
    _pool_nonempty(op, input, 3)
    k, s, p, d, geometry = _pool_args(op, input, kernel_size, stride, padding, dilation,
                                      ceil_mode)
    y = input
    for i, (out, extra) in enumerate(geometry):
        y = _pool_axis(y, input.ndim - 3 + i, k[i], s[i], p[i], d[i], out, extra,
                       _lowest(_raw(input).dtype), _red.max_kernel)
    if not return_indices:
        return y
    spatial = _shape(input)[-3:]
    windows = [_window_slices(spatial[i], k[i], s[i], p[i], d[i], geometry[i][0])
               for i in range(3)]
    return y, _indices_like(_max_indices(_raw(input), windows), input)


def _avg_counts(size, k, s, p, out, count_include_pad, like):
    """PyTorch's divisor along one axis, per output position: the window clipped to the padded
    input (count_include_pad) or to the input; at least 1 (an all-padding window sums 0)."""
    xp = xp_of(like)
    start = xp.arange(out) * s - p
    end = xp.minimum(start + k, size + p)
    if not count_include_pad:
        end = xp.minimum(end, size)
        start = xp.maximum(start, 0)
    return xp.maximum(end - start, 1).astype(like.dtype)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Mean over each (kd, kh, kw) window of (N, C, D, H, W) or (C, D, H, W), as PyTorch's:
    padding counts as zeros and in the divisor (``count_include_pad``), windows that
    ``ceil_mode`` lets hang over the end count only up to the padded end, and
    ``divisor_override`` replaces the divisor.

    >>> import tensorgrad as tg
    >>> F = tg.nn.functional
    >>> F.avg_pool3d(tg.arange(8.0).reshape(1, 1, 2, 2, 2), 2).tolist()
    [[[[[3.5]]]]]
    """
    return _avg_pool("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def _avg_pool(op, n_sp, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override):
    """avg_pool3d over the last ``n_sp`` dims: also avg_pool1d's and avg_pool2d's, whose
    ``ceil_mode``, ``count_include_pad=False`` and ``divisor_override`` come here."""
    k, s, p, d, geometry = _pool_args(op, input, kernel_size, stride, padding, 1, ceil_mode,
                                      n_sp)
    # PyTorch divides by a negative override too; only 0 is refused
    if divisor_override is not None and (
            not isinstance(divisor_override, (int, np.integer)) or divisor_override == 0):
        raise ValueError(f"{op}: divisor_override must be a positive int or a negative one, "
                         f"not 0, got {divisor_override!r}")
    raw = _raw(input)
    spatial = _shape(input)[-n_sp:]
    integral = raw.dtype.kind in "iu"
    y = input
    divisor = None  # integer inputs: the whole divisor, applied once at the end
    for i, (out, extra) in enumerate(geometry):
        ax = input.ndim - n_sp + i
        y = _pool_axis(y, ax, k[i], s[i], p[i], 1, out, extra, 0, _red.sum)
        if divisor_override is None:
            counts = _avg_counts(spatial[i], k[i], s[i], p[i], out, count_include_pad, raw)
            counts = reshape(counts, (out,) + (1,) * (n_sp - 1 - i))
            if integral:
                divisor = counts if divisor is None else divisor * counts
            else:
                y = y / counts
    if integral:  # PyTorch's integer mean: the sum divided with truncation toward zero
        return _truncating_div(y, divisor_override if divisor is None else divisor)
    if divisor_override is not None:
        y = y / raw.dtype.type(divisor_override)
    return y


def _truncating_div(total, divisor):
    """C's integer division (toward zero) of an integer Tensor by a positive or negative
    divisor (an int or an integer array); integers carry no gradient, so on raw arrays."""
    t = _raw(total)
    xp = xp_of(t)
    d = xp.asarray(_raw(divisor), dtype=t.dtype)
    q = xp.abs(t) // xp.abs(d)
    q = xp.where((t < 0) != (d < 0), -q, q)
    return _new_tensor(q, None, False) if isinstance(total, Tensor) else q


def _sizes3(output_size, spatial, op):
    if output_size is None or isinstance(output_size, (int, np.integer)):
        output_size = (output_size,) * 3
    sizes = tuple(output_size)
    if len(sizes) != 3:
        raise ValueError(f"{op}: output_size must be an int or a triple (None keeps the "
                         f"input's size), got {output_size!r}")
    sizes = tuple(i if o is None else int(o) for o, i in zip(sizes, spatial, strict=True))
    if min(sizes) <= 0 or min(spatial) <= 0:
        raise ValueError(f"{op}: output_size {sizes} and the input's spatial size {spatial} "
                         f"must be positive")
    return sizes


def _check_5d(input, op):
    if input.ndim not in (4, 5):
        raise ValueError(f"{op}: input must be (N, C, D, H, W) or (C, D, H, W), got shape "
                         f"{_shape(input)}")
    return _shape(input)[-3:]


def adaptive_avg_pool3d(input, output_size):
    """Average pooling of (N, C, D, H, W) or (C, D, H, W) to (OD, OH, OW) with PyTorch's
    windows (floor(i D / OD) to ceil((i + 1) D / OD)); an int or a triple, None keeps a
    dimension. Separable: per axis a reshape and a mean where the size divides, else a matmul
    with a constant averaging matrix.

    >>> import tensorgrad as tg
    >>> F = tg.nn.functional
    >>> F.adaptive_avg_pool3d(tg.arange(8.0).reshape(1, 2, 2, 2), 1).tolist()
    [[[[3.5]]]]
    """
    op = "adaptive_avg_pool3d"
    spatial = _check_5d(input, op)
    sizes = _sizes3(output_size, spatial, op)
    y = input
    for i, (n_in, n_out) in enumerate(zip(spatial, sizes, strict=True)):
        if n_in == n_out:
            continue
        ax = input.ndim - 3 + i
        shape = _shape(y)
        if n_in % n_out == 0:
            y = _red.mean(reshape(y, shape[:ax] + (n_out, n_in // n_out) + shape[ax + 1:]),
                          (ax + 1,), False)
            continue
        flat = reshape(y, (math.prod(shape[:ax]), n_in, math.prod(shape[ax + 1:])))
        y = reshape(matmul(_adaptive_matrix(n_in, n_out, _raw(input)), flat),
                    shape[:ax] + (n_out,) + shape[ax + 1:])
    return y


def adaptive_max_pool3d(input, output_size, return_indices=False):
    """Max pooling of (N, C, D, H, W) or (C, D, H, W) to (OD, OH, OW) with PyTorch's windows;
    ``return_indices`` also gives the flat index over D * H * W of each maximum. Ties split the
    gradient evenly.

    >>> import tensorgrad as tg
    >>> F = tg.nn.functional
    >>> F.adaptive_max_pool3d(tg.arange(8.0).reshape(1, 2, 2, 2), 1).tolist()
    [[[[7.0]]]]
    """
    op = "adaptive_max_pool3d"
    spatial = _check_5d(input, op)
    sizes = _sizes3(output_size, spatial, op)
    y = _adaptive_max(input, sizes, op)
    if not return_indices:
        return y
    windows = [[slice(a, b, 1) for a, b in _windows(n_in, n_out)]
               for n_in, n_out in zip(spatial, sizes, strict=True)]
    return y, _indices_like(_max_indices(_raw(input), windows), input)


# ---- dropout --------------------------------------------------------------------------------
def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) with probability ``p`` and scale
    the rest by 1 / (1 - p) in training; the identity otherwise.

    >>> import tensorgrad as tg
    >>> tg.nn.functional.dropout3d(tg.ones(2, 3, 1, 1, 1), 0.5, training=False).sum().item()
    6.0
    """
    _check_5d(input, "dropout3d")
    if inplace and training and p:
        return apply_inplace(input, lambda x: dropout3d(x, p, training), "dropout3d")
    return _channel_dropout(input, p, training, 3, "dropout3d")
