"""Still more of PyTorch's ``torch.nn.functional``: RMS norm, shrinkage and randomized leaky
activations, channel shuffle, fold/unfold, pdist, Gumbel-softmax, feature alpha dropout, the
in-place activations (``relu_``, ...), LP pooling, max pooling with indices and max unpooling.

Everything is a composition of differentiable primitives (no new derivative rules), so it has
derivatives of every order in both modes. Where an argmax picks the element that a max pool
keeps, the choice is made on the raw arrays and the value is then gathered with
``take_along_axis``: the gradient goes to that one element, as PyTorch's does. Star-imported
into ``tensorgrad.nn.functional``.
"""

import math

import numpy as np

from ..backend.device import xp_of
from ..ops import elementwise as _ew
from ..ops import reduce as _red
from ..ops.conv import fold as _fold
from ..ops.conv import out_size as _out_size
from ..ops.conv import unfold as _unfold
from ..ops.extra import _along_axis_index
from ..ops.extra import take_along_axis as _take_along_axis
from ..ops.index import getitem as _getitem
from ..ops.index import untake as _untake
from ..ops.shape import reshape as _reshape
from ..ops.shape import transpose as _transpose
from ..tensor import Tensor as _Tensor
from ..tensor import _raw
from ._functional_conv_attn import _tuple
from ._functional_more import _alpha_dropout, _pnorm, celu, hardtanh, selu
from ._functional_more import threshold as _threshold
from ._inplace import apply_inplace as _apply_inplace
from .functional import _lowest, _norm_shape, _pool_nonempty, elu, leaky_relu, relu, softmax

__all__ = [
    "rms_norm", "hardshrink", "softshrink", "rrelu", "rrelu_", "channel_shuffle",
    "native_channel_shuffle", "unfold", "fold", "pdist", "gumbel_softmax",
    "feature_alpha_dropout", "relu_", "elu_", "celu_", "selu_", "leaky_relu_", "hardtanh_",
    "threshold_", "lp_pool1d", "lp_pool2d", "lp_pool3d", "max_pool1d_with_indices",
    "max_pool2d_with_indices", "max_pool3d_with_indices", "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d_with_indices", "max_unpool1d", "max_unpool2d", "max_unpool3d",
]


def _shape(x):
    return tuple(x.shape)


# ---- normalisation ----------------------------------------------------------------------------
def rms_norm(input, normalized_shape, weight=None, eps=None):
    """x / sqrt(mean(x^2) + eps) over the trailing ``normalized_shape`` dimensions, times
    ``weight``; ``eps=None`` is the machine epsilon of the input's dtype (PyTorch's default).

    >>> import tensorgrad as tg
    >>> w = tg.tensor([0.5, 2.0])
    >>> tg.nn.functional.rms_norm(tg.tensor([[4.0, -4.0]]), (2,), w, eps=0.0).tolist()
    [[0.5, -2.0]]
    """
    shape = _norm_shape(normalized_shape)
    k = len(shape)
    if k == 0 or input.ndim < k or _shape(input)[input.ndim - k:] != shape:
        raise ValueError(f"rms_norm: normalized_shape {shape} must be the trailing dimensions "
                         f"of input shape {_shape(input)}")
    if weight is not None and _shape(weight) != shape:
        raise ValueError(f"rms_norm: weight of shape {_shape(weight)} must have "
                         f"normalized_shape {shape}")
    if eps is None:
        dtype = _raw(input).dtype
        eps = float(np.finfo(dtype).eps) if dtype.kind in "fc" else float(np.finfo(float).eps)
    axes = tuple(range(input.ndim - k, input.ndim))
    ms = _red.mean(input * input, axes, True)
    y = input * _ew.power(ms + eps, -0.5)
    return y if weight is None else y * weight


# ---- activations ------------------------------------------------------------------------------
def hardshrink(input, lambd=0.5):
    """x where |x| > lambd, else 0; the gradient is 1 outside [-lambd, lambd], 0 inside.

    >>> import tensorgrad as tg
    >>> tg.nn.functional.hardshrink(tg.tensor([-1.0, 0.2, 0.75])).tolist()
    [-1.0, 0.0, 0.75]
    """
    x = _raw(input)
    # input * 0 inside: a NaN stays NaN, with gradient 0 (PyTorch's)
    return _ew.where_kernel((x > lambd) | (x < -lambd), input, input * 0)


def softshrink(input, lambd=0.5):
    """x - lambd above lambd, x + lambd below -lambd, 0 between (``lambd >= 0``).

    >>> import tensorgrad as tg
    >>> tg.nn.functional.softshrink(tg.tensor([-1.0, 0.2, 0.75])).tolist()
    [-0.5, 0.0, 0.25]
    """
    if lambd < 0:
        raise ValueError(f"softshrink: lambd must be at least 0, got {lambd}")
    x = _raw(input)
    # input * 0 between the bounds: 0, and NaN for a NaN (PyTorch's)
    below = _ew.where_kernel(x < -lambd, input + lambd, input * 0)
    return _ew.where_kernel(x > lambd, input - lambd, below)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """Randomized leaky ReLU: in training each element at or below 0 is multiplied by its own
    slope drawn uniformly from [lower, upper] (tensorgrad's generator of the input's device);
    in eval mode the slope is the mean (lower + upper) / 2, a leaky ReLU.

    >>> import tensorgrad as tg
    >>> tg.nn.functional.rrelu(tg.tensor([-3.0, 2.0]), 0.25, 0.75).tolist()
    [-1.5, 2.0]
    """
    if inplace:
        return rrelu_(input, lower, upper, training)
    return _rrelu(input, lower, upper, training, None)


def _rrelu(input, lower, upper, training, generator):
    """``rrelu`` with its slopes drawn from ``generator`` (None: the device's global one), for
    ``tg.rrelu``, which takes PyTorch's ``generator``."""
    if not 0 <= lower <= upper:
        raise ValueError(f"rrelu: need 0 <= lower <= upper, got lower={lower}, upper={upper}")
    if not training:
        return leaky_relu(input, (lower + upper) / 2)
    from .. import creation

    x = _raw(input)
    u = creation.rand(*x.shape, generator=generator, dtype=x.dtype, device=input.device).data
    slope = u * x.dtype.type(upper - lower) + x.dtype.type(lower)
    # where, not input * noise: PyTorch's backward kernel takes the input (ops/join.py)
    return _ew.where_kernel(x <= 0, input * slope, input)


def channel_shuffle(input, groups):
    """(N, C, *) with C = g k channels reordered from (g, k) to (k, g) order, ShuffleNet's
    shuffle.

    >>> import tensorgrad as tg
    >>> tg.nn.functional.channel_shuffle(tg.arange(4.0).reshape(1, 4, 1), 2).flatten().tolist()
    [0.0, 2.0, 1.0, 3.0]
    """
    g = int(groups)
    if input.ndim < 3:
        raise ValueError(f"channel_shuffle: input must have at least 3 dimensions (N, C, *), got "
                         f"shape {_shape(input)}")
    c = input.shape[1]
    if g <= 0 or c % g:
        raise ValueError(f"channel_shuffle: groups={groups} must be positive and divide the "
                         f"{c} channels of input shape {_shape(input)}")
    n, rest = input.shape[0], _shape(input)[2:]
    x = _reshape(input, (n, g, c // g) + rest)
    x = _transpose(x, (0, 2, 1) + tuple(range(3, x.ndim)))
    return _reshape(x, _shape(input))


def native_channel_shuffle(input, groups):
    """The same as ``channel_shuffle`` (PyTorch's name for its native kernel)."""
    return channel_shuffle(input, groups)


# ---- sliding windows --------------------------------------------------------------------------
def _window_args(kernel_size, dilation, padding, stride, op):
    kernel = _tuple(kernel_size, 2, "kernel_size", op)
    dilation = _tuple(dilation, 2, "dilation", op)
    padding = _tuple(padding, 2, "padding", op)
    stride = _tuple(stride, 2, "stride", op)
    if min(kernel + dilation + stride) <= 0 or min(padding) < 0:
        raise ValueError(f"{op}: kernel_size {kernel}, dilation {dilation} and stride {stride} "
                         f"must be positive and padding {padding} non-negative")
    return kernel, dilation, padding, stride


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Sliding blocks of (N, C, H, W) (or unbatched (C, H, W)) as columns: (N, C kh kw, L),
    L the number of block positions (im2col).

    >>> import tensorgrad as tg
    >>> tg.nn.functional.unfold(tg.ones(1, 2, 3, 3), 2).shape
    (1, 8, 4)
    """
    op = "unfold"
    if input.ndim not in (3, 4):
        raise ValueError(f"{op}: input must be (N, C, H, W) or (C, H, W), got shape "
                         f"{_shape(input)}")
    kernel, dilation, padding, stride = _window_args(kernel_size, dilation, padding, stride, op)
    x = input if input.ndim == 4 else _reshape(input, (1,) + _shape(input))
    n, c, h, w = x.shape
    oh, ow = (_out_size(s, k, st, p, d) for s, k, st, p, d in
              zip((h, w), kernel, stride, padding, dilation, strict=True))
    if oh <= 0 or ow <= 0:
        raise ValueError(f"{op}: kernel_size {kernel} with dilation {dilation} does not fit "
                         f"input shape {_shape(input)} padded by {padding}")
    cols = _unfold(x, kernel, stride, padding, dilation, 0.0)
    out = _reshape(cols, (n, c * kernel[0] * kernel[1], oh * ow))
    return out if input.ndim == 4 else _reshape(out, _shape(out)[1:])


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """The adjoint of ``unfold``: columns (N, C kh kw, L) (or unbatched) summed back into
    (N, C, *output_size), overlapping blocks adding up (col2im).

    >>> import tensorgrad as tg
    >>> tg.nn.functional.fold(tg.ones(1, 4, 4), (3, 3), 2)[0, 0].tolist()
    [[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]
    """
    op = "fold"
    if input.ndim not in (2, 3):
        raise ValueError(f"{op}: input must be (N, C * kh * kw, L) or (C * kh * kw, L), got "
                         f"shape {_shape(input)}")
    size = _tuple(output_size, 2, "output_size", op)
    kernel, dilation, padding, stride = _window_args(kernel_size, dilation, padding, stride, op)
    x = input if input.ndim == 3 else _reshape(input, (1,) + _shape(input))
    n, ck, length = x.shape
    kk = kernel[0] * kernel[1]
    oh, ow = (_out_size(s, k, st, p, d) for s, k, st, p, d in
              zip(size, kernel, stride, padding, dilation, strict=True))
    if ck % kk or oh <= 0 or ow <= 0 or oh * ow != length:
        raise ValueError(f"{op}: input of shape {_shape(input)} does not fit output_size {size} "
                         f"with kernel_size {kernel}, dilation {dilation}, padding {padding}, "
                         f"stride {stride}: dimension 1 must be a multiple of {kk} and the "
                         f"last dimension the {max(oh, 0) * max(ow, 0)} block positions")
    cols = _reshape(x, (n, ck // kk) + kernel + (oh, ow))
    out = _fold(cols, size, kernel, stride, padding, dilation)
    return out if input.ndim == 3 else _reshape(out, _shape(out)[1:])


# ---- distances --------------------------------------------------------------------------------
def pdist(input, p=2):
    """The p-norm distances between the rows of (N, M) ``input``, pairs i < j in row-major
    order: N (N - 1) / 2 values (PyTorch's ``pdist``; the gradient at a zero distance is 0).

    >>> import tensorgrad as tg
    >>> tg.nn.functional.pdist(tg.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]])).tolist()
    [5.0, 1.0, 4.242640495300293]
    """
    if input.ndim != 2:
        raise ValueError(f"pdist: input must be (N, M), got shape {_shape(input)}")
    if p < 0:
        raise ValueError(f"pdist: p must be non-negative, got {p}")
    xp = xp_of(_raw(input))
    i, j = np.triu_indices(input.shape[0], 1)
    diff = _getitem(input, xp.asarray(i)) - _getitem(input, xp.asarray(j))
    return _pnorm(diff, p, 1, False)


# ---- random -----------------------------------------------------------------------------------
def _gumbel_softmax(logits, gumbels, tau, hard, dim):
    y = softmax((logits + gumbels) / tau, dim)
    if not hard:
        return y
    raw = _raw(y)
    xp = xp_of(raw)
    ax = dim % y.ndim
    index = xp.expand_dims(xp.argmax(raw, axis=ax), ax)
    onehot = (xp.arange(y.shape[ax]).reshape((-1,) + (1,) * (y.ndim - 1 - ax)) == index)
    # straight-through: the value of the one-hot sample, the gradient of the soft one
    return y - raw + onehot.astype(raw.dtype)


def gumbel_softmax(logits, tau=1.0, hard=False, eps=1e-10, dim=-1):
    """A sample of the Gumbel-softmax (concrete) distribution: softmax((logits + g) / tau)
    along ``dim`` with g ~ Gumbel(0, 1) drawn from tensorgrad's generator. With ``hard=True``
    the value is the one-hot vector of the sample's argmax while the gradient is the soft
    sample's (straight-through). ``eps`` is unused, as in PyTorch.

    >>> import tensorgrad as tg
    >>> y = tg.nn.functional.gumbel_softmax(tg.zeros(2, 3), hard=True)
    >>> y.sum(axis=1).tolist()
    [1.0, 1.0]
    """
    if tau <= 0:
        raise ValueError(f"gumbel_softmax: tau must be positive, got {tau}")
    if logits.ndim == 0:
        raise ValueError("gumbel_softmax: logits must have at least one dimension")
    from .. import creation

    raw = _raw(logits)
    xp = xp_of(raw)
    u = creation.rand(*raw.shape, dtype=raw.dtype, device=logits.device).data
    # an Exponential(1) sample -log(1 - u), kept off 0 so that its log stays finite
    e = xp.maximum(-xp.log1p(-u), np.finfo(raw.dtype).tiny)
    return _gumbel_softmax(logits, -xp.log(e), tau, hard, dim)


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Alpha dropout of whole channels: each (sample, channel) map of (N, C, *) is dropped to
    SELU's saturation value with probability ``p``, then the affine map restores mean and
    variance (PyTorch's ``feature_alpha_dropout``). Outside training the identity, for any
    shape (PyTorch's)."""
    if not training:
        return input
    if input.ndim < 2:
        raise ValueError(f"feature_alpha_dropout: input must have at least 2 dimensions "
                         f"(N, C, *), got shape {_shape(input)}")
    mask = _shape(input)[:2] + (1,) * (input.ndim - 2)

    def drop(x):
        return _alpha_dropout(x, p, training, mask, "feature_alpha_dropout")

    return _apply_inplace(input, drop, "feature_alpha_dropout") if inplace else drop(input)


# ---- in-place activations ---------------------------------------------------------------------


def relu_(input):
    """``relu`` written into ``input``; returns ``input``."""
    return _apply_inplace(input, relu, "relu_")


def elu_(input, alpha=1.0):
    """``elu`` written into ``input``."""
    return _apply_inplace(input, lambda x: elu(x, alpha), "elu_")


def celu_(input, alpha=1.0):
    """``celu`` written into ``input``."""
    return _apply_inplace(input, lambda x: celu(x, alpha), "celu_")


def selu_(input):
    """``selu`` written into ``input``."""
    return _apply_inplace(input, selu, "selu_")


def leaky_relu_(input, negative_slope=0.01):
    """``leaky_relu`` written into ``input``."""
    return _apply_inplace(input, lambda x: leaky_relu(x, negative_slope), "leaky_relu_")


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    """``hardtanh`` written into ``input``."""
    return _apply_inplace(input, lambda x: hardtanh(x, min_val, max_val), "hardtanh_")


def threshold_(input, threshold, value):
    """``threshold`` written into ``input``."""
    return _apply_inplace(input, lambda x: _threshold(x, threshold, value), "threshold_")


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False):
    """``rrelu`` written into ``input``."""
    return _apply_inplace(input, lambda x: _rrelu(x, lower, upper, training, None), "rrelu_")


# ---- LP pooling -------------------------------------------------------------------------------
def _lp_pool(input, norm_type, kernel, stride, ceil_mode, d, op):
    """PyTorch's formula: (the mean of x^p over each window times the window's size)^(1/p),
    the means from avg_pool{d}d on a batched (N, C, *spatial) input."""
    from . import functional as F

    p = float(norm_type)
    if not 0 < p < math.inf:
        raise ValueError(f"{op}: norm_type must be positive and finite, got {norm_type}")
    if input.ndim not in (d + 1, d + 2):
        raise ValueError(f"{op}: input must have {d + 1} or {d + 2} dimensions, got shape "
                         f"{_shape(input)}")
    kernel = _tuple(kernel, d, "kernel_size", op)
    stride = kernel if stride is None else _tuple(stride, d, "stride", op)
    if ceil_mode and d < 3:
        raise NotImplementedError(f"{op}: ceil_mode=True is not supported")
    spatial = _shape(input)[input.ndim - d:]
    if min(kernel + stride) <= 0 or any(k > n for k, n in zip(kernel, spatial, strict=True)):
        raise ValueError(f"{op}: kernel_size {kernel} and stride {stride} must be positive and "
                         f"the kernel at most the input's spatial size {spatial}")
    x = _ew.power(input, p)
    batched = input.ndim == d + 2
    if not batched:
        x = _reshape(x, (1,) + _shape(x))
    if d == 3:
        avg = F.avg_pool3d(x, kernel, stride, 0, ceil_mode)
    else:
        avg = (F.avg_pool1d, F.avg_pool2d)[d - 1](x, kernel, stride, 0)
    out = _ew.power(avg * float(np.prod(kernel)), 1.0 / p)
    return out if batched else _reshape(out, _shape(out)[1:])


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """(sum of x^p over each window)^(1/p) along the last dimension of (N, C, L) or (C, L)
    (PyTorch's ``lp_pool1d``; ``ceil_mode=False`` only).

    >>> import tensorgrad as tg
    >>> tg.nn.functional.lp_pool1d(tg.tensor([[3.0, 4.0, 1.0, 1.0]]), 2, 2).tolist()
    [[5.0, 1.4142135381698608]]
    """
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 1, "lp_pool1d")


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """(sum of x^p over each window)^(1/p) over the last two dimensions of (N, C, H, W) or
    (C, H, W) (``ceil_mode=False`` only)."""
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 2, "lp_pool2d")


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """(sum of x^p over each window)^(1/p) over the last three dimensions of (N, C, D, H, W)
    or (C, D, H, W); with ``ceil_mode`` a window that hangs over the end is scaled as
    PyTorch's (its mean over the part inside, times the full window size)."""
    return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, 3, "lp_pool3d")


# ---- max pooling with indices, adaptive max pooling with indices, unpooling ----------------
def _argmax_gather(input, tables, op):
    """Max of ``input`` over windows given per spatial axis by ``tables`` (an (O, K) array of
    input positions, -1 for padding, for each of the last d axes): (values, indices), indices
    flat over the spatial plane (PyTorch's). The first maximum wins, a NaN wins over numbers,
    as in PyTorch; the values are gathered, so the gradient goes to that element only."""
    raw = _raw(input)
    xp = xp_of(raw)
    d = len(tables)
    spatial = raw.shape[raw.ndim - d:]
    lead = raw.shape[:raw.ndim - d]
    outs = tuple(t.shape[0] for t in tables)
    index, valid = [], None
    for a, t in enumerate(tables):
        shape = [1] * (2 * d)
        shape[2 * a:2 * a + 2] = t.shape
        index.append(xp.asarray(np.clip(t, 0, None).reshape(shape)))
        v = xp.asarray((t >= 0).reshape(shape))
        valid = v if valid is None else valid & v
    windows = raw[(Ellipsis,) + tuple(index)]  # lead + (O0, K0, O1, K1, ...)
    windows = xp.where(valid, windows, raw.dtype.type(_lowest(raw.dtype)))
    k = len(lead)
    order = tuple(range(k)) + tuple(k + 2 * a for a in range(d)) + \
        tuple(k + 2 * a + 1 for a in range(d))
    windows = windows.transpose(order).reshape(lead + outs + (-1,))
    best = xp.argmax(windows, axis=-1)  # lead + outs
    flat = xp.zeros(best.shape, dtype=np.int64)
    rest = best
    for a in reversed(range(d)):
        ka = tables[a].shape[1]
        pos = xp.asarray(np.maximum(tables[a], 0))[
            xp.arange(outs[a]).reshape((-1,) + (1,) * (d - 1 - a)), rest % ka]
        flat = flat + pos * int(np.prod(spatial[a + 1:], dtype=np.int64))
        rest = rest // ka
    plane = int(np.prod(spatial, dtype=np.int64))
    flat_in = _reshape(input, lead + (plane,))
    values = _take_along_axis(flat_in, flat.reshape(lead + (-1,)), -1)
    return _reshape(values, lead + outs), _tensor_of(flat, input)


def _tensor_of(arr, like):
    if isinstance(like, _Tensor):
        from ..tensor import _new_tensor

        return _new_tensor(arr, None, False)
    return arr


def _pool_out(n, k, s, p, d, ceil_mode):
    span = n + 2 * p - d * (k - 1) - 1
    o = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (o - 1) * s >= n + p:  # the last window must start inside the input
        o -= 1
    return o


def _max_pool_with_indices(input, d, kernel_size, stride, padding, dilation, ceil_mode, op):
    if input.ndim not in (d + 1, d + 2):
        raise ValueError(f"{op}: input must have {d + 1} or {d + 2} dimensions, got shape "
                         f"{_shape(input)}")
    _pool_nonempty(op, input, d)
    kernel = _tuple(kernel_size, d, "kernel_size", op)
    stride = kernel if stride is None or stride == () else _tuple(stride, d, "stride", op)
    padding = _tuple(padding, d, "padding", op)
    dilation = _tuple(dilation, d, "dilation", op)
    if min(kernel + stride + dilation) <= 0 or min(padding) < 0:
        raise ValueError(f"{op}: kernel_size {kernel}, stride {stride} and dilation "
                         f"{dilation} must be positive and padding {padding} non-negative")
    if any(2 * p > k for p, k in zip(padding, kernel, strict=True)):
        raise ValueError(f"{op}: padding {padding} must be at most half the kernel {kernel}")
    spatial = _shape(input)[input.ndim - d:]
    tables = []
    for n, k, s, p, dl in zip(spatial, kernel, stride, padding, dilation, strict=True):
        o = _pool_out(n, k, s, p, dl, ceil_mode)
        if o <= 0:
            raise ValueError(f"{op}: kernel_size {kernel} with dilation {dilation} and padding "
                             f"{padding} gives an empty output for input shape {_shape(input)}")
        pos = np.arange(o)[:, None] * s - p + np.arange(k)[None, :] * dl
        tables.append(np.where((pos >= 0) & (pos < n), pos, -1))
    return _argmax_gather(input, tables, op)


def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=False):
    """Max pooling of (N, C, L) or (C, L) and the flat input index of each maximum:
    (output, indices), as PyTorch's (``return_indices`` is ignored: both are returned).

    >>> import tensorgrad as tg
    >>> out, idx = tg.nn.functional.max_pool1d_with_indices(tg.tensor([[1.0, 3.0, 2.0, 0.0]]), 2)
    >>> out.tolist(), idx.tolist()
    ([[3.0, 2.0]], [[1, 2]])
    """
    return _max_pool_with_indices(input, 1, kernel_size, stride, padding, dilation, ceil_mode,
                                  "max_pool1d_with_indices")


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=False):
    """Max pooling of (N, C, H, W) or (C, H, W) and the flat (h W + w) index of each maximum."""
    return _max_pool_with_indices(input, 2, kernel_size, stride, padding, dilation, ceil_mode,
                                  "max_pool2d_with_indices")


def max_pool3d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=False):
    """``max_pool3d(..., return_indices=True)``: (output, flat indices over D * H * W)."""
    from . import functional as F

    return F.max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def _adaptive_with_indices(input, output_size, d, op):
    if input.ndim not in (d + 1, d + 2):
        raise ValueError(f"{op}: input must have {d + 1} or {d + 2} dimensions, got shape "
                         f"{_shape(input)}")
    spatial = _shape(input)[input.ndim - d:]
    sizes = (output_size,) * d if output_size is None or \
        isinstance(output_size, (int, np.integer)) else tuple(output_size)
    if len(sizes) != d:
        raise ValueError(f"{op}: output_size must be an int or {d} values, got {output_size!r}")
    sizes = tuple(n if o is None else int(o) for o, n in zip(sizes, spatial, strict=True))
    if min(sizes) <= 0 or min(spatial) <= 0:
        raise ValueError(f"{op}: output_size {sizes} and the input's spatial size {spatial} "
                         f"must be positive")
    tables = []
    for n, o in zip(spatial, sizes, strict=True):
        start = (np.arange(o) * n) // o
        stop = -(-((np.arange(o) + 1) * n) // o)
        width = int((stop - start).max())
        pos = start[:, None] + np.arange(width)[None, :]
        tables.append(np.where(pos < stop[:, None], pos, -1))
    return _argmax_gather(input, tables, op)


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=False):
    """Adaptive max pooling of (N, C, L) or (C, L) and the index of each maximum (PyTorch's
    windows [floor(i L / O), ceil((i + 1) L / O)))."""
    return _adaptive_with_indices(input, output_size, 1, "adaptive_max_pool1d_with_indices")


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=False):
    """Adaptive max pooling of (N, C, H, W) or (C, H, W) and the flat index of each maximum;
    None in ``output_size`` keeps that dimension."""
    return _adaptive_with_indices(input, output_size, 2, "adaptive_max_pool2d_with_indices")


def _max_unpool(input, indices, d, kernel_size, stride, padding, output_size, op):
    if input.ndim not in (d + 1, d + 2):
        raise ValueError(f"{op}: input must have {d + 1} or {d + 2} dimensions, got shape "
                         f"{_shape(input)}")
    if _shape(indices) != _shape(input):
        raise ValueError(f"{op}: indices of shape {_shape(indices)} must have the input's shape "
                         f"{_shape(input)}")
    kernel = _tuple(kernel_size, d, "kernel_size", op)
    stride = kernel if stride is None or stride == () else _tuple(stride, d, "stride", op)
    padding = _tuple(padding, d, "padding", op)
    spatial = _shape(input)[input.ndim - d:]
    default = tuple((n - 1) * s - 2 * p + k
                    for n, k, s, p in zip(spatial, kernel, stride, padding, strict=True))
    if output_size is None:
        sizes = default
    else:
        sizes = tuple(int(s) for s in output_size)
        if len(sizes) == input.ndim:
            sizes = sizes[input.ndim - d:]
        if len(sizes) != d:
            raise ValueError(f"{op}: output_size {tuple(output_size)} must have {d} (or "
                             f"{input.ndim}) entries")
        for s, dflt, st in zip(sizes, default, stride, strict=True):
            if not dflt - st < s < dflt + st:
                raise ValueError(f"{op}: output_size {sizes} must be within a stride of the "
                                 f"default size {default} (stride {stride})")
    lead = _shape(input)[:input.ndim - d]
    plane = int(np.prod(sizes, dtype=np.int64))
    idx = _raw(indices)
    xp = xp_of(idx)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{op}: indices must be integers, got dtype {idx.dtype}")
    if xp is not xp_of(_raw(input)):
        raise RuntimeError(f"{op}: indices must be on the input's device ({input.device}); "
                           f"move them with .to(input.device)")
    idx = idx.reshape(lead + (-1,))
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= plane):
        raise ValueError(f"{op}: indices must lie in [0, {plane}) for output size {sizes}, got "
                         f"[{int(idx.min())}, {int(idx.max())}]")
    idx = idx.astype(xp.int64)
    index = _along_axis_index(idx, lead + (plane,), len(lead))
    out = _untake(_reshape(input, lead + (-1,)), index, lead + (plane,))
    # overlapping pooling windows give an index more than once (the same element, so the same
    # value): the mean of what lands on a position is that value, as PyTorch's overwrite
    dtype = _raw(input).dtype
    hits = _untake(xp.ones(idx.shape, dtype=dtype), index, lead + (plane,))
    if hits.size and int(hits.max()) > 1:  # CuPy's max takes no initial=
        out = out / xp.maximum(hits, dtype.type(1))
    return _reshape(out, lead + sizes)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The inverse of max_pool1d: each value put back at its index of a zero (N, C, L_out)
    (PyTorch's ``max_unpool1d``). Values that share an index (from overlapping windows) are
    averaged, and each gets that share of the gradient; PyTorch overwrites, and its backward
    gives every one the whole gradient.

    >>> import tensorgrad as tg
    >>> F = tg.nn.functional
    >>> F.max_unpool1d(tg.tensor([[3.0, 2.0]]), tg.tensor([[1, 2]]), 2).tolist()
    [[0.0, 3.0, 2.0, 0.0]]
    """
    return _max_unpool(input, indices, 1, kernel_size, stride, padding, output_size,
                       "max_unpool1d")


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The inverse of max_pool2d on (N, C, H, W) or (C, H, W) given its flat indices."""
    return _max_unpool(input, indices, 2, kernel_size, stride, padding, output_size,
                       "max_unpool2d")


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The inverse of max_pool3d on (N, C, D, H, W) or (C, D, H, W) given its flat indices."""
    return _max_unpool(input, indices, 3, kernel_size, stride, padding, output_size,
                       "max_unpool3d")
