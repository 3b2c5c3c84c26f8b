"""PyTorch's functional names that are thin layers over others: the deprecated ``upsample_*``
aliases of ``interpolate``, ``multi_head_attention_forward`` (``MultiheadAttention``'s forward
with the parameters passed in) and ``linear_cross_entropy`` (``cross_entropy`` of a linear
map, optionally over batch chunks). Compositions only: no rules of their own. Star-imported
into ``tensorgrad.nn.functional``.
"""

import math
from dataclasses import dataclass

from ..ops import reduce as _red
from ..ops.index import getitem as _getitem
from ..ops.linalg import matmul as _matmul
from ..ops.shape import reshape as _reshape
from ..ops.shape import transpose as _transpose
from ..tensor import _raw

__all__ = ["upsample_nearest", "upsample_bilinear", "multi_head_attention_forward",
           "linear_cross_entropy"]


# ---- interpolate's deprecated aliases ---------------------------------------------------------
def upsample_nearest(input, size=None, scale_factor=None):
    """``interpolate(input, size, scale_factor, mode="nearest")`` (PyTorch's deprecated name)."""
    from ._functional_more import interpolate

    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """``interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)``
    (PyTorch's deprecated name; note the corners are aligned)."""
    from ._functional_more import interpolate

    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


# ---- multi_head_attention_forward ---------------------------------------------------------------
def _mha_methods():
    """A class that borrows ``MultiheadAttention``'s checking, projection and forward code, so
    that the functional form and the module share one implementation."""
    from .transformer import MultiheadAttention as M

    class _Parts:
        _check = M._check
        _project = M._project
        _split_heads = M._split_heads
        _extra_keys = M._extra_keys
        forward = M.forward

    return _Parts


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads,
                                 in_proj_weight, in_proj_bias, bias_k, bias_v, add_zero_attn,
                                 dropout_p, out_proj_weight, out_proj_bias, training=True,
                                 key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None,
                                 k_proj_weight=None, v_proj_weight=None, static_k=None,
                                 static_v=None, average_attn_weights=True, is_causal=False):
    """PyTorch's functional multi-head attention: query (L, N, E) or (L, E), key and value
    (S, N, kdim/vdim) or (S, kdim/vdim), with the parameters of ``nn.MultiheadAttention``
    passed in; returns (output, attention weights or None). ``static_k``/``static_v`` are not
    supported.

    >>> import tensorgrad as tg
    >>> F = tg.nn.functional
    >>> x = tg.ones(3, 2)
    >>> out, w = F.multi_head_attention_forward(x, x, x, 2, 1, tg.ones(6, 2), tg.zeros(6), None,
    ...                                         None, False, 0.0, tg.eye(2), tg.zeros(2))
    >>> out.shape, w.shape
    ((3, 2), (3, 3))
    """
    op = "multi_head_attention_forward"
    if static_k is not None or static_v is not None:
        raise NotImplementedError(f"{op}: static_k and static_v are not supported")
    e = query.shape[-1] if query.ndim else 0
    if e != embed_dim_to_check:
        raise ValueError(f"{op}: query of shape {tuple(query.shape)} has {e} features, "
                         f"expected embed_dim_to_check={embed_dim_to_check}")
    if num_heads <= 0 or e % num_heads:
        raise ValueError(f"{op}: embed_dim {e} must be divisible by num_heads={num_heads}")
    if (bias_k is None) != (bias_v is None):
        raise ValueError(f"{op}: give both bias_k and bias_v, or neither")
    m = _mha_methods()()
    m.embed_dim, m.num_heads, m.head_dim = e, int(num_heads), e // int(num_heads)
    m.batch_first, m.add_zero_attn = False, bool(add_zero_attn)
    m.dropout, m.training = float(dropout_p), bool(training)
    m.in_proj_bias = in_proj_bias
    m._qkv_same_embed_dim = not use_separate_proj_weight
    if use_separate_proj_weight:
        if q_proj_weight is None or k_proj_weight is None or v_proj_weight is None:
            raise ValueError(f"{op}: use_separate_proj_weight=True needs q_proj_weight, "
                             f"k_proj_weight and v_proj_weight")
        m.q_proj_weight, m.k_proj_weight, m.v_proj_weight = (q_proj_weight, k_proj_weight,
                                                             v_proj_weight)
        m.kdim, m.vdim = k_proj_weight.shape[-1], v_proj_weight.shape[-1]
        m.in_proj_weight = None
    else:
        if in_proj_weight is None or tuple(in_proj_weight.shape) != (3 * e, e):
            shape = None if in_proj_weight is None else tuple(in_proj_weight.shape)
            raise ValueError(f"{op}: in_proj_weight must have shape {(3 * e, e)}, got {shape}")
        m.in_proj_weight = in_proj_weight
        m.kdim = m.vdim = e
    # (E,) biases appended as one more key and value: the module keeps them as (1, 1, E)
    m.bias_k = None if bias_k is None else _reshape(bias_k, (1, 1, e))
    m.bias_v = None if bias_v is None else _reshape(bias_v, (1, 1, e))

    def out_proj(x):
        from .functional import linear

        return linear(x, out_proj_weight, out_proj_bias)

    m.out_proj = out_proj
    return m.forward(query, key, value, key_padding_mask, need_weights, attn_mask,
                     average_attn_weights, is_causal)


# ---- linear_cross_entropy -----------------------------------------------------------------------
@dataclass
class LinearCrossEntropyOptions:
    """Chunking for ``linear_cross_entropy`` (PyTorch's names): ``batch_chunk_size`` rows of
    logits at a time (None: about sqrt(N) rows). PyTorch's accumulation policies
    (``acc_policy``, ``acc_dtype``, ``chunking_method``) tune its kernels; here they are
    accepted and ignored."""

    allow_retain_graph: bool = False
    batch_chunk_size: int | None = None
    chunking_method: str | None = "auto"
    acc_policy: str = "auto"
    acc_dtype: object = None


def linear_cross_entropy(input, linear_weight, target, *, linear_bias=None, weight=None,
                         reduction="mean", ignore_index=None, label_smoothing=0.0,
                         options=None):
    """``cross_entropy(linear(input, linear_weight) + linear_bias, target, ...)`` as PyTorch's:
    input (in_features,) or (N, in_features), linear_weight (C, in_features) or
    (C, d_1, ..., d_K, in_features) for a K-dimensional loss (logits (N, C, d_1, ..., d_K)).
    With ``options`` (a ``LinearCrossEntropyOptions``), class-index targets, no
    ``label_smoothing`` and a 2-D ``linear_weight``, the batch is processed in chunks of
    ``options.batch_chunk_size`` rows: the same loss, summed chunk by chunk (the chunks' logits
    still live on the tape for the backward pass).

    >>> import tensorgrad as tg
    >>> F = tg.nn.functional
    >>> x, w, t = tg.ones(4, 3), tg.zeros(5, 3), tg.tensor([0, 1, 2, 3])
    >>> round(F.linear_cross_entropy(x, w, t).item(), 4)   # uniform logits: log 5
    1.6094
    """
    from .functional import cross_entropy

    op = "linear_cross_entropy"
    if input.ndim not in (1, 2):
        raise ValueError(f"{op}: input must be (in_features,) or (N, in_features), got shape "
                         f"{tuple(input.shape)}")
    if linear_weight.ndim < 2 or linear_weight.shape[-1] != input.shape[-1]:
        raise ValueError(f"{op}: linear_weight of shape {tuple(linear_weight.shape)} must be "
                         f"(C, ..., in_features) with in_features={input.shape[-1]} (input "
                         f"shape {tuple(input.shape)})")
    c, extra = linear_weight.shape[0], tuple(linear_weight.shape[1:-1])
    if linear_bias is not None and tuple(linear_bias.shape) != (c,) + extra:
        raise ValueError(f"{op}: linear_bias must have shape {(c,) + extra}, got "
                         f"{tuple(linear_bias.shape)}")
    if extra and input.ndim == 1:
        raise ValueError(f"{op}: a K-dimensional loss (linear_weight shape "
                         f"{tuple(linear_weight.shape)}) needs a batched input (N, "
                         f"{input.shape[-1]}), got shape {tuple(input.shape)}")
    lead = tuple(input.shape[:-1])
    probabilities = tuple(target.shape) == lead + (c,) + extra
    if probabilities and ignore_index is not None:
        raise ValueError(f"{op}: ignore_index cannot be given when target holds class "
                         f"probabilities")
    ignore = -100 if ignore_index is None else int(ignore_index)
    kwargs = dict(weight=weight, ignore_index=ignore, label_smoothing=label_smoothing)
    chunked = (options is not None and not extra and not probabilities and
               label_smoothing == 0.0 and reduction in ("mean", "sum", "none") and
               input.ndim == 2 and _raw(target).dtype.kind in "iu")
    if not chunked:
        return cross_entropy(_logits(input, linear_weight, linear_bias, extra), target,
                             reduction=reduction, **kwargs)
    n = input.shape[0]
    size = getattr(options, "batch_chunk_size", None) or max(1, math.isqrt(max(n, 1)))
    losses = []
    for start in range(0, n, int(size)):
        rows = slice(start, min(start + int(size), n))
        logits = _logits(_getitem(input, rows), linear_weight, linear_bias, extra)
        losses.append(cross_entropy(logits, _getitem(target, rows), reduction="none",
                                    **kwargs))
    from ..ops.shape import concatenate_

    loss = losses[0] if len(losses) == 1 else concatenate_(0, *losses)
    if reduction == "none":
        return loss
    total = _red.sum(loss)
    if reduction == "sum":
        return total
    # cross_entropy's mean: divided by the summed class weight of the targets not ignored
    t = _raw(target)
    kept = t != ignore
    if weight is None:
        return total / int(kept.sum())
    xp_t = t if kept.all() else t * kept
    w = _getitem(weight, xp_t) * kept.astype(_raw(weight).dtype)
    return total / _red.sum(w)


def _logits(x, w, b, extra):
    """x @ w^T (+ b), with a (C, d_1, ..., d_K, in) weight giving (N, C, d_1, ..., d_K)."""
    c = w.shape[0]
    w2 = _reshape(w, (c * math.prod(extra), w.shape[-1])) if extra else w
    y = _matmul(x, _transpose(w2, (1, 0)))
    if extra:
        y = _reshape(y, tuple(x.shape[:-1]) + (c,) + extra)
    return y if b is None else y + b
