"""``conv2d``, ``conv1d``, ``conv_transpose2d``, ``adaptive_avg_pool2d`` and
``scaled_dot_product_attention`` with PyTorch's names, signatures, defaults and numerics
(re-exported by ``nn.functional``).

All are compositions of differentiable primitives, so they have no rules of their own:
derivatives of every order, in both modes, come from the primitives'. On the host the
convolutions run ``ops.conv.conv2d`` and its two gradient primitives (GEMMs over shifted views,
no im2col matrix); on CuPy they are ``unfold``/``fold`` and ``matmul``, whose im2col/col2im CUDA
kernels suit a GPU. Attention runs ``softmax`` (a fused row kernel on CuPy).
"""

import math

import numpy as np

from .. import _memory_format as _mf
from ..amp.autocast_mode import LOWER, cast_inputs
from ..backend.device import _CUPY_ARRAY, xp_of
from ..ops import conv as _conv
from ..ops import elementwise as _ew
from ..ops import reduce as _red
from ..ops.conv import fold, out_size, unfold
from ..ops.linalg import matmul
from ..ops.registry import AUTOCAST
from ..ops.shape import broadcast_to, concatenate_, expand_dims, reshape, squeeze, swapaxes
from ..tensor import Tensor as _Tensor
from ..tensor import _raw


def _F():
    from . import functional

    return functional


def _tuple(v, n, name, op):
    if isinstance(v, (int, np.integer)):
        return (int(v),) * n
    try:
        t = tuple(int(a) for a in v)
    except TypeError:
        raise TypeError(f"{op}: {name} must be an int or a tuple of {n} ints, got {v!r}") from None
    if len(t) == 1:  # PyTorch expands a 1-element list as an int
        return t * n
    if len(t) != n:
        raise ValueError(f"{op}: {name} must be an int or a tuple of {n} ints, got {v!r}")
    return t


def _positive(values, name, op, allow_zero=False):
    for v in values:
        if v < 0 or (v == 0 and not allow_zero):
            bound = "non-negative" if allow_zero else "positive"
            raise ValueError(f"{op}: {name} must be {bound}, got {values}")


def _zeros_raw(like, shape):
    raw = _raw(like)
    return xp_of(raw).zeros(shape, dtype=raw.dtype)


def _batched(input, weight, spatial, op, input_layouts, weight_layout):
    """(``input`` with a batch dimension, whether it came without one), once the ranks are
    checked: ``spatial`` + 1 or + 2 dimensions for the input, ``spatial`` + 2 for the weight."""
    if input.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(f"{op}: input must be {input_layouts}, got shape {tuple(input.shape)}")
    if weight.ndim != spatial + 2:
        raise ValueError(f"{op}: weight must be {weight_layout}, got shape "
                         f"{tuple(weight.shape)}")
    unbatched = input.ndim == spatial + 1
    return (expand_dims(input, 0) if unbatched else input), unbatched


def _check_bias(bias, oc, op):
    if bias is not None and tuple(bias.shape) != (oc,):
        raise ValueError(f"{op}: bias must have shape ({oc},), got {tuple(bias.shape)}")


def _add_bias_unbatch(out, bias, unbatched):
    """A (N, OC, H, W) output plus the bias (OC,) if any, without the batch dimension that
    ``_batched`` added."""
    if bias is not None:
        out = out + reshape(bias, (1, out.shape[1], 1, 1))
    return squeeze(out, 0) if unbatched else out


# ---- conv2d ---------------------------------------------------------------------------------
_FAST_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _on_host(*tensors):
    """Do the convolution primitives for the host apply: NumPy float32/float64 data, one dtype?"""
    raws = [_raw(t) for t in tensors]
    dtype = raws[0].dtype
    return all(type(r) is not _CUPY_ARRAY and r.dtype == dtype for r in raws) and (
        dtype in _FAST_DTYPES)


def _conv2d_unfold(x, weight, stride, padding, dilation, groups):
    """unfold (im2col) and one matmul per group: the CuPy path (CUDA im2col/col2im kernels)."""
    n = x.shape[0]
    oc, cg, kh, kw = weight.shape
    cols = unfold(x, (kh, kw), stride, padding, dilation, 0.0)
    oh, ow = cols.shape[4], cols.shape[5]
    outs = []
    for gi in range(groups):
        cg_cols = cols if groups == 1 else cols[:, gi * cg:(gi + 1) * cg]
        wg = weight if groups == 1 else weight[gi * (oc // groups):(gi + 1) * (oc // groups)]
        outs.append(matmul(reshape(wg, (wg.shape[0], cg * kh * kw)),
                           reshape(cg_cols, (n, cg * kh * kw, oh * ow))))
    out = outs[0] if groups == 1 else concatenate_(1, *outs)
    return reshape(out, (n, oc, oh, ow))


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation as PyTorch's: input (N, C, H, W) or (C, H, W), weight
    (OC, C/groups, kh, kw), ``padding`` ints, ``'valid'`` or ``'same'``.

    On the host: ``ops.conv.conv2d`` (bias included), a few GEMMs over shifted views of the
    image instead of an im2col matrix, with gradient primitives of its own. On CuPy: unfold
    (the im2col kernel) and one matmul per group.

    >>> import tensorgrad as tg
    >>> F = tg.nn.functional
    >>> F.conv2d(tg.ones(1, 1, 3, 3), tg.ones(1, 1, 2, 2)).tolist()
    [[[[4.0, 4.0], [4.0, 4.0]]]]
    """
    op = "conv2d"
    if AUTOCAST[0]:  # autocast (tensorgrad.amp): the convolutions run in float16
        input, weight, bias = cast_inputs(LOWER, input, weight, bias)
    x, unbatched = _batched(input, weight, 2, op, "(C, H, W) or (N, C, H, W)",
                            "(out_channels, in_channels/groups, kh, kw)")
    c = x.shape[1]
    oc, cg, kh, kw = weight.shape
    if not isinstance(groups, (int, np.integer)) or groups < 1 or c != cg * groups or (
            oc % groups):
        raise ValueError(f"{op}: input has {c} channels (shape {tuple(input.shape)}) but "
                         f"weight {tuple(weight.shape)} with groups={groups} expects "
                         f"{cg * groups} (and out_channels divisible by groups)")
    groups = int(groups)
    _check_bias(bias, oc, op)
    s = _tuple(stride, 2, "stride", op)
    d = _tuple(dilation, 2, "dilation", op)
    _positive(s, "stride", op)
    _positive(d, "dilation", op)
    if isinstance(padding, str):
        (top, bottom), (left, right) = _same_padding(padding, (kh, kw), s, d, op)
        if bottom > top or right > left:  # 'same', even receptive field: the extra goes after
            x = _F().pad(x, (0, right - left, 0, bottom - top))
        p = (top, left)
    else:
        p = _tuple(padding, 2, "padding", op)
        _positive(p, "padding", op, allow_zero=True)
    reach = (d[0] * (kh - 1) + 1, d[1] * (kw - 1) + 1)
    if x.shape[2] + 2 * p[0] < reach[0] or x.shape[3] + 2 * p[1] < reach[1]:
        raise ValueError(f"{op}: input of shape {tuple(input.shape)}, padded by {p}, is smaller "
                         f"than the kernel's reach {reach} (kernel {(kh, kw)}, dilation {d})")
    if _on_host(x, weight, *([] if bias is None else [bias])):
        out = _conv.conv2d(x, weight, bias, s, p, d, groups)  # the bias included
        bias = None
    else:
        out = _conv2d_unfold(x, weight, s, p, d, groups)
    out = _add_bias_unbatch(out, bias, unbatched)
    return _mf.follow(out, _raw(input), _raw(weight))  # channels_last in, channels_last out


# ---- conv1d ---------------------------------------------------------------------------------
def _same_padding(padding, kernel, stride, dilation, op):
    """(left, right) for PyTorch's string paddings; the odd extra of 'same' goes right."""
    if padding == "valid":
        return [(0, 0) for _ in kernel]
    if padding != "same":
        raise ValueError(f"{op}: padding must be 'valid', 'same' or ints, got {padding!r}")
    if any(s != 1 for s in stride):
        raise ValueError(f"{op}: padding='same' is not supported for strided convolutions "
                         f"(stride={stride})")
    out = []
    for k, d in zip(kernel, dilation, strict=True):
        total = d * (k - 1)
        out.append((total // 2, total - total // 2))
    return out


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D cross-correlation as PyTorch's: input (N, C, L) or (C, L), weight
    (OC, C/groups, k), ``padding`` an int, a 1-tuple, ``'valid'`` or ``'same'``.

    A 2-D convolution (``conv2d``) over a height-1 image.

    >>> import tensorgrad as tg
    >>> F = tg.nn.functional
    >>> F.conv1d(tg.ones(1, 1, 4), tg.ones(1, 1, 2)).tolist()
    [[[2.0, 2.0, 2.0]]]
    """
    if AUTOCAST[0]:
        input, weight, bias = cast_inputs(LOWER, input, weight, bias)
    x, unbatched = _batched(input, weight, 1, "conv1d", "(N, C, L) or (C, L)",
                            "(out_channels, in_channels/groups, k)")
    c = x.shape[1]
    oc, cg, k = weight.shape
    if groups < 1 or c != cg * groups or oc % groups:
        raise ValueError(f"conv1d: input of shape {tuple(input.shape)} has {c} channels but "
                         f"weight {tuple(weight.shape)} with groups={groups} expects "
                         f"{cg * groups} (and out_channels divisible by groups)")
    _check_bias(bias, oc, "conv1d")
    (s,) = _tuple(stride, 1, "stride", "conv1d")
    (d,) = _tuple(dilation, 1, "dilation", "conv1d")
    _positive((s,), "stride", "conv1d")
    _positive((d,), "dilation", "conv1d")
    if isinstance(padding, str):
        ((left, right),) = _same_padding(padding, (k,), (s,), (d,), "conv1d")
    else:
        (left,) = _tuple(padding, 1, "padding", "conv1d")
        _positive((left,), "padding", "conv1d", allow_zero=True)
        right = left
    if right > left:  # 'same' with an even receptive field: one more zero on the right
        x = concatenate_(2, x, _zeros_raw(x, x.shape[:-1] + (right - left,)))
    if x.shape[-1] + 2 * left < d * (k - 1) + 1:
        raise ValueError(f"conv1d: input length {input.shape[-1]} (padded "
                         f"{x.shape[-1] + 2 * left}) is smaller than the kernel's reach "
                         f"{d * (k - 1) + 1} (kernel {k}, dilation {d})")
    out = _F().conv2d(expand_dims(x, 2), expand_dims(weight, 2), bias, (1, s), (0, left),
                      (1, d), groups)
    out = squeeze(out, 2)
    return squeeze(out, 0) if unbatched else out


# ---- conv_transpose2d -----------------------------------------------------------------------
def _transpose_out(size, k, s, p, op_, d):
    return (size - 1) * s - 2 * p + d * (k - 1) + op_ + 1


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """2-D transposed convolution as PyTorch's: the adjoint of ``conv2d``. Input (N, C, H, W)
    or (C, H, W), weight (C, OC/groups, kh, kw); the output is
    (H - 1) * stride - 2 * padding + dilation * (kh - 1) + output_padding + 1 high.

    On the host this is ``ops.conv.conv2d_input_grad`` (the input gradient of the convolution
    whose output has the input's shape). On CuPy each input pixel scatters ``weight`` times its
    value: one matmul per group gives the windows, and ``fold`` (col2im) adds them up where they
    overlap.

    >>> import tensorgrad as tg
    >>> F = tg.nn.functional
    >>> F.conv_transpose2d(tg.ones(1, 1, 2, 2), tg.ones(1, 1, 2, 2)).tolist()
    [[[[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]]]
    """
    op = "conv_transpose2d"
    if AUTOCAST[0]:
        input, weight, bias = cast_inputs(LOWER, input, weight, bias)
    x, unbatched = _batched(input, weight, 2, op, "(N, C, H, W) or (C, H, W)",
                            "(in_channels, out_channels/groups, kh, kw)")
    n, c, h, w = x.shape
    wc, ocg, kh, kw = weight.shape
    if groups < 1 or wc != c or c % groups:
        raise ValueError(f"{op}: input of shape {tuple(input.shape)} has {c} channels but "
                         f"weight {tuple(weight.shape)} (in_channels, out_channels/groups, kh, "
                         f"kw) with groups={groups} expects {wc}, divisible by groups")
    oc = ocg * groups
    _check_bias(bias, oc, op)
    s = _tuple(stride, 2, "stride", op)
    p = _tuple(padding, 2, "padding", op)
    opad = _tuple(output_padding, 2, "output_padding", op)
    d = _tuple(dilation, 2, "dilation", op)
    _positive(s, "stride", op)
    _positive(d, "dilation", op)
    _positive(p, "padding", op, allow_zero=True)
    _positive(opad, "output_padding", op, allow_zero=True)
    for i in range(2):
        if not (opad[i] < s[i] or opad[i] < d[i]):
            raise ValueError(f"{op}: output_padding {opad} must be smaller than either stride "
                             f"{s} or dilation {d}")
    oh = _transpose_out(h, kh, s[0], p[0], opad[0], d[0])
    ow = _transpose_out(w, kw, s[1], p[1], opad[1], d[1])
    if oh <= 0 or ow <= 0:
        raise ValueError(f"{op}: the output would be {oh}x{ow} for input {tuple(input.shape)}, "
                         f"kernel {(kh, kw)}, stride {s}, padding {p}, dilation {d}")
    nh = out_size(oh, kh, s[0], p[0], d[0])
    nw = out_size(ow, kw, s[1], p[1], d[1])
    if _on_host(x, weight):
        # the input gradient of a convolution whose output is x: a primitive of its own
        if nh > h or nw > w:  # windows beyond the input's pixels get nothing
            x = _F().pad(x, (0, nw - w, 0, nh - h))
        out = _conv.conv2d_input_grad(x, weight, (oh, ow), s, p, d, groups)
        return _add_bias_unbatch(out, bias, unbatched)
    cg = c // groups
    xr = reshape(x, (n, c, h * w))
    parts = []
    for gi in range(groups):
        wg = weight if groups == 1 else weight[gi * cg:(gi + 1) * cg]
        xg = xr if groups == 1 else xr[:, gi * cg:(gi + 1) * cg]
        # (ocg * kh * kw, cg) @ (n, cg, h * w): every pixel's contribution to its window
        parts.append(matmul(swapaxes(reshape(wg, (cg, ocg * kh * kw)), 0, 1), xg))
    cols = parts[0] if groups == 1 else concatenate_(1, *parts)
    cols = reshape(cols, (n, oc, kh, kw, h, w))
    # with output_padding >= stride (allowed when < dilation) the output holds more windows than
    # the input has pixels: those windows get nothing
    if nh > h:
        cols = concatenate_(4, cols, _zeros_raw(cols, (n, oc, kh, kw, nh - h, w)))
    if nw > w:
        cols = concatenate_(5, cols, _zeros_raw(cols, (n, oc, kh, kw, nh, nw - w)))
    return _add_bias_unbatch(fold(cols, (oh, ow), (kh, kw), s, p, d), bias, unbatched)


# ---- adaptive_avg_pool2d --------------------------------------------------------------------
def _adaptive_sizes(output_size, in_hw):
    if isinstance(output_size, (int, np.integer)) or output_size is None:
        output_size = (output_size, output_size)
    sizes = tuple(output_size)
    if len(sizes) != 2:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be an int or a pair (None "
                         f"keeps the input's size), got {output_size!r}")
    sizes = tuple(i if o is None else int(o) for o, i in zip(sizes, in_hw, strict=True))
    if min(sizes) <= 0:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be positive, got {sizes}")
    return sizes


def _adaptive_matrix(n_in, n_out, like):
    """(n_out, n_in): row i averages PyTorch's window floor(i n_in / n_out) to
    ceil((i + 1) n_in / n_out), built on ``like``'s device."""
    xp = xp_of(like)
    i = xp.arange(n_out)
    start = (i * n_in) // n_out
    end = ((i + 1) * n_in + n_out - 1) // n_out
    j = xp.arange(n_in)
    inside = (j[None, :] >= start[:, None]) & (j[None, :] < end[:, None])
    return (inside / (end - start)[:, None]).astype(like.dtype)


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed (OH, OW) as PyTorch's: output row i averages input rows
    floor(i H / OH) to ceil((i + 1) H / OH), so windows may overlap and differ in size when
    OH does not divide H. ``output_size`` is an int or a pair; None keeps that dimension.

    A divisible dimension is a reshape and a mean; another one a matmul with a constant
    averaging matrix (rows of 1/len over each window).

    >>> import tensorgrad as tg
    >>> F = tg.nn.functional
    >>> F.adaptive_avg_pool2d(tg.arange(9.0).reshape(1, 1, 3, 3), 2).tolist()
    [[[[2.0, 3.0], [5.0, 6.0]]]]
    """
    if input.ndim not in (3, 4):
        raise ValueError(f"adaptive_avg_pool2d: input must be (N, C, H, W) or (C, H, W), got "
                         f"shape {tuple(input.shape)}")
    h, w = input.shape[-2:]
    if h == 0 or w == 0:
        raise ValueError(f"adaptive_avg_pool2d: input of shape {tuple(input.shape)} has an empty "
                         f"spatial dimension")
    oh, ow = _adaptive_sizes(output_size, (h, w))
    lead = tuple(input.shape[:-2])
    k = len(lead)  # non-negative axes: the reductions' rules want them
    x = input
    if (oh, ow) == (1, 1):  # global pooling: one contiguous mean per plane, not two strided
        return reshape(_red.mean(reshape(x, lead + (h * w,)), (k,), False), lead + (1, 1))
    if h % oh == 0:
        x = _red.mean(reshape(x, lead + (oh, h // oh, w)), (k + 1,), False)
    else:
        x = matmul(_adaptive_matrix(h, oh, _raw(input)), x)
    if w % ow == 0:
        x = _red.mean(reshape(x, lead + (oh, ow, w // ow)), (k + 2,), False)
    else:
        x = matmul(x, swapaxes(_adaptive_matrix(w, ow, _raw(input)), 0, 1))
    return x


# ---- attention ------------------------------------------------------------------------------
def _attention_mask(attn_mask, is_causal, L, S, like):
    """(additive mask or None, rows-to-zero or None) for scores of shape (..., L, S).

    Bool masks keep where True; float masks are added. A row with every entry masked gives
    zeros (PyTorch's safe softmax) instead of NaN: its mask is replaced by 0 so that the softmax
    and its derivatives stay finite, and its weights are multiplied by 0 afterwards."""
    raw_like = _raw(like)
    xp = xp_of(raw_like)
    dtype = raw_like.dtype
    if is_causal:
        keep = xp.arange(L)[:, None] >= xp.arange(S)[None, :]
        mask = xp.where(keep, 0, -np.inf).astype(dtype)
        # row i keeps columns 0..i: never empty
        return mask, None
    if attn_mask is None:
        return None, None
    raw = _raw(attn_mask)
    if xp_of(raw) is not xp:
        raise RuntimeError("scaled_dot_product_attention: attn_mask is on another device than "
                           "the query; move it with .to(query.device)")
    if raw.dtype == np.bool_:
        empty = ~raw.any(axis=-1, keepdims=True)
        mask = xp.where(raw | empty, 0, -np.inf).astype(dtype)
    else:
        empty = (raw == -np.inf).all(axis=-1, keepdims=True)
        mask = attn_mask
        if xp is np and not empty.any():  # on the host the check is free: skip the where
            return mask, None
        mask = _ew.where(empty, xp.zeros((), dtype=raw.dtype), attn_mask)
    if xp is np and not empty.any():
        return mask, None
    return mask, (~empty).astype(dtype)


def _check_attention(query, key, value, op):
    for name, t in (("query", query), ("key", key), ("value", value)):
        if t.ndim < 2:
            raise ValueError(f"{op}: {name} must have at least 2 dimensions (..., length, "
                             f"features), got shape {tuple(t.shape)}")
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(f"{op}: query {tuple(query.shape)} and key {tuple(key.shape)} must "
                         f"have the same last dimension")
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(f"{op}: key {tuple(key.shape)} and value {tuple(value.shape)} must "
                         f"have the same length (dimension -2)")


def _repeat_heads(t, rep):
    """(..., Hk, S, E) -> (..., Hk * rep, S, E), each head repeated ``rep`` times in a row."""
    shape = tuple(t.shape)
    lead, hk = shape[:-3], shape[-3]
    t = broadcast_to(expand_dims(t, -3), lead + (hk, rep) + shape[-2:])
    return reshape(t, lead + (hk * rep,) + shape[-2:])


def _attend(query, key, value, attn_mask, dropout_p, is_causal, scale, op):
    """(output, attention weights after dropout)."""
    F = _F()
    L, S = query.shape[-2], key.shape[-2]
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1])
    # scaling the query (L x E) is cheaper than scaling the scores (L x S)
    scores = matmul(query * float(scale), swapaxes(key, -1, -2))
    mask, keep_rows = _attention_mask(attn_mask, is_causal, L, S, scores)
    if mask is not None:
        try:
            np.broadcast_shapes(tuple(mask.shape), tuple(scores.shape))
        except ValueError:
            raise ValueError(f"{op}: attn_mask of shape {tuple(mask.shape)} does not broadcast "
                             f"to the attention scores' shape {tuple(scores.shape)}") from None
        scores = scores + mask
    attn = F.softmax(scores, -1)
    if keep_rows is not None:
        attn = attn * keep_rows
    if dropout_p > 0:
        attn = F.dropout(attn, dropout_p, True)
    return matmul(attn, value), attn


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False):
    """softmax(query @ key^T * scale + mask) @ value, as PyTorch's: query (..., L, E), key
    (..., S, E), value (..., S, Ev); ``scale`` defaults to 1/sqrt(E).

    ``attn_mask`` broadcasts to (..., L, S): a bool mask keeps the positions where it is True,
    a float mask is added to the scores. ``is_causal`` masks out keys after each query (the
    lower-left triangle of an L x S matrix is kept) and excludes ``attn_mask``. ``dropout_p``
    drops attention weights whenever it is positive (pass 0 in evaluation, as in PyTorch). A
    query whose keys are all masked gets zeros. ``enable_gqa`` repeats the key/value heads
    (dimension -3) to the query's number of heads.

    The softmax is ``F.softmax``: a fused row kernel on CuPy. On the host, ``is_causal``
    attention (float32/64, no dropout) is one primitive that runs a block of query rows at a
    time against the keys it may see, so most of the masked half of the scores is never
    computed, and keeps only each row's log-sum-exp (``nn/_host_attention.py``).

    >>> import tensorgrad as tg
    >>> F = tg.nn.functional
    >>> q = tg.ones(1, 2, 4)
    >>> v = tg.tensor([[[1.0], [3.0]]])
    >>> F.scaled_dot_product_attention(q, q, v).tolist()
    [[[2.0], [2.0]]]
    >>> F.scaled_dot_product_attention(q, q, v, is_causal=True).tolist()
    [[[1.0], [2.0]]]
    """
    op = "scaled_dot_product_attention"
    if AUTOCAST[0]:  # float16 products; the softmax between them runs in float32
        query, key, value, attn_mask = cast_inputs(LOWER, query, key, value, attn_mask)
    _check_attention(query, key, value, op)
    if is_causal and attn_mask is not None:
        raise ValueError(f"{op}: pass either attn_mask or is_causal=True, not both")
    if not 0 <= dropout_p <= 1:
        raise ValueError(f"{op}: dropout_p must be in [0, 1], got {dropout_p}")
    if enable_gqa and query.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        hq, hk = query.shape[-3], key.shape[-3]
        if hk == 0 or hq % hk or value.shape[-3] != hk:
            raise ValueError(f"{op}: with enable_gqa the query's heads ({hq}) must be a "
                             f"multiple of the key's and value's ({hk}, {value.shape[-3]})")
        key, value = _repeat_heads(key, hq // hk), _repeat_heads(value, hq // hk)
    if is_causal and dropout_p == 0 and _host_blocks(query, key, value):
        from . import _host_attention

        if scale is None:
            scale = 1.0 / math.sqrt(query.shape[-1])
        return _host_attention.attention(query, key, value, scale=float(scale),
                                         causal=bool(is_causal))
    return _attend(query, key, value, attn_mask, dropout_p, is_causal, scale, op)[0]


def _host_blocks(query, key, value):
    """Does attention run as the host's block primitive (_host_attention): NumPy float32/64
    arrays, none batched by vmap."""
    from . import _host_attention

    if any(isinstance(t, _Tensor) and t._level for t in (query, key, value)):
        return False
    return _host_attention.fits(_raw(query), _raw(key), _raw(value))


__all__ = ["conv2d", "conv1d", "conv_transpose2d", "adaptive_avg_pool2d",
           "scaled_dot_product_attention"]
