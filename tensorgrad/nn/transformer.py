"""``MultiheadAttention``, ``TransformerEncoderLayer``, ``TransformerEncoder``,
``TransformerDecoderLayer``, ``TransformerDecoder`` and ``Transformer`` with PyTorch's
arguments, parameter names and layout, default initialisation and numerics."""

import copy
from collections import OrderedDict

import numpy as np

from .. import creation
from ..backend.device import xp_of
from ..ops import reduce as _red
from ..ops.shape import concatenate_, expand_dims, reshape, squeeze, swapaxes, transpose
from ..tensor import Tensor, _raw
from . import functional as F
from . import init
from ._functional_conv_attn import _attend
from .layers import GELU
from .modules import Dropout, Linear, Module, ModuleList, Parameter, ReLU
from .normalization import LayerNorm


class NonDynamicallyQuantizableLinear(Linear):
    """``Linear`` under the name PyTorch gives ``MultiheadAttention.out_proj`` (for its repr)."""


def _additive(mask, like, what):
    """A bool mask (True = masked out, PyTorch's convention for MultiheadAttention) as a float
    mask of -inf and 0 in ``like``'s dtype; a float mask as it is."""
    raw = _raw(mask)
    raw_like = _raw(like)
    if xp_of(raw) is not xp_of(raw_like):
        raise RuntimeError(f"MultiheadAttention: {what} is on another device than the query; "
                           "move it with .to(query.device)")
    if raw.dtype == np.bool_:
        return xp_of(raw).where(raw, -np.inf, 0).astype(raw_like.dtype)
    if raw.dtype.kind != "f":
        raise TypeError(f"MultiheadAttention: {what} must be bool or floating point, got "
                        f"{raw.dtype}")
    return mask


class MultiheadAttention(Module):
    """Multi-head attention (PyTorch's ``nn.MultiheadAttention``).

    Parameters as PyTorch names and lays them out: ``in_proj_weight`` (3E, E) holding the
    query, key and value projections (or ``q_proj_weight``, ``k_proj_weight``,
    ``v_proj_weight`` when ``kdim``/``vdim`` differ from E), ``in_proj_bias`` (3E), and
    ``out_proj`` a Linear; xavier_uniform_ projections and zero biases. ``add_bias_kv``
    appends a learned key and value (``bias_k``, ``bias_v``, (1, 1, E), xavier_normal_) to
    every sequence's projected keys and values, ``add_zero_attn`` a zero key and value after
    them; the masks get a column of "keep" for each, and the weights one more column.

    ``forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False)`` returns ``(output, weights)``, weights
    None unless ``need_weights`` (averaged over heads unless ``average_attn_weights``).
    Inputs are (L, N, E), (N, L, E) with ``batch_first``, or unbatched (L, E). Bool masks
    mark the positions to leave out (True = masked), float masks are added to the scores;
    ``attn_mask`` is (L, S) or (N * num_heads, L, S), ``key_padding_mask`` (N, S).
    ``is_causal`` is a hint that ``attn_mask`` is the causal mask, which must be given, as in
    PyTorch. Attention dropout acts in training mode only.

    >>> import tensorgrad as tg
    >>> mha = tg.nn.MultiheadAttention(8, 2, batch_first=True)
    >>> x = tg.randn(3, 5, 8)
    >>> out, w = mha(x, x, x)
    >>> out.shape, w.shape
    ((3, 5, 8), (3, 5, 5))
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False,
                 add_zero_attn=False, kdim=None, vdim=None, batch_first=False, device=None,
                 dtype=None):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"MultiheadAttention: embed_dim and num_heads must be positive, "
                             f"got {embed_dim} and {num_heads}")
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim={embed_dim} must be divisible by "
                             f"num_heads={num_heads}")
        if not 0 <= dropout <= 1:
            raise ValueError(f"MultiheadAttention: dropout must be in [0, 1], got {dropout}")
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads

        def empty(*shape):
            return Parameter(creation.empty(*shape, dtype=dtype, device=device))

        if self._qkv_same_embed_dim:
            self.in_proj_weight = empty(3 * embed_dim, embed_dim)
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.register_parameter("in_proj_weight", None)
            self.q_proj_weight = empty(embed_dim, embed_dim)
            self.k_proj_weight = empty(embed_dim, self.kdim)
            self.v_proj_weight = empty(embed_dim, self.vdim)
        if bias:
            self.in_proj_bias = empty(3 * embed_dim)
        else:
            self.register_parameter("in_proj_bias", None)
        if add_bias_kv:  # registered before out_proj's, as PyTorch's state_dict has them
            self.bias_k = empty(1, 1, embed_dim)
            self.bias_v = empty(1, 1, embed_dim)
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias,
                                                        device=device, dtype=dtype)
        self._reset_parameters()

    def _reset_parameters(self):
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    # ---- projections --------------------------------------------------------------------------
    def _split_heads(self, x):
        """(N, L, E) -> (N, H, L, head_dim)."""
        n, length = x.shape[0], x.shape[1]
        return swapaxes(reshape(x, (n, length, self.num_heads, self.head_dim)), 1, 2)

    def _project(self, query, key, value):
        E = self.embed_dim
        b = self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else (b[:E], b[E:2 * E], b[2 * E:])
        if self._qkv_same_embed_dim and query is key and key is value:
            # self-attention: one (3E, E) product, then the heads of q, k and v as views
            n, length = query.shape[0], query.shape[1]
            qkv = F.linear(query, self.in_proj_weight, b)
            qkv = transpose(reshape(qkv, (n, length, 3, self.num_heads, self.head_dim)),
                            (2, 0, 3, 1, 4))
            return qkv[0], qkv[1], qkv[2]
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            wq, wk, wv = w[:E], w[E:2 * E], w[2 * E:]
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        return (self._split_heads(F.linear(query, wq, bq)),
                self._split_heads(F.linear(key, wk, bk)),
                self._split_heads(F.linear(value, wv, bv)))

    def _extra_keys(self, k, v):
        """(keys, values, how many were appended): ``bias_k``/``bias_v`` and then a zero key
        and value (``add_zero_attn``) after each sequence's own, heads (N, H, S, head_dim)."""
        n, extra = k.shape[0], 0
        heads = (1, self.num_heads, 1, self.head_dim)
        if self.bias_k is not None:
            k = concatenate_(2, k, reshape(self.bias_k, heads).expand(n, -1, -1, -1))
            v = concatenate_(2, v, reshape(self.bias_v, heads).expand(n, -1, -1, -1))
            extra += 1
        if self.add_zero_attn:
            k = F.pad(k, (0, 0, 0, 1))
            v = F.pad(v, (0, 0, 0, 1))
            extra += 1
        return k, v, extra

    # ---- forward ------------------------------------------------------------------------------
    def _check(self, query, key, value, key_padding_mask, attn_mask):
        batched = query.ndim == 3
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(f"MultiheadAttention: query, key and value must all be 3-D "
                             f"(batched) or 2-D (unbatched), got shapes {tuple(query.shape)}, "
                             f"{tuple(key.shape)}, {tuple(value.shape)}")
        for name, t, dim in (("query", query, self.embed_dim), ("key", key, self.kdim),
                             ("value", value, self.vdim)):
            if t.shape[-1] != dim:
                raise ValueError(f"MultiheadAttention: {name} has {t.shape[-1]} features "
                                 f"(shape {tuple(t.shape)}), expected {dim}")
        if key.shape[:-1] != value.shape[:-1]:
            raise ValueError(f"MultiheadAttention: key {tuple(key.shape)} and value "
                             f"{tuple(value.shape)} must agree in all but the last dimension")
        bdim = 0 if self.batch_first else 1
        if batched and query.shape[bdim] != key.shape[bdim]:
            raise ValueError(f"MultiheadAttention: query {tuple(query.shape)} and key "
                             f"{tuple(key.shape)} have different batch sizes")
        n = query.shape[bdim] if batched else None
        s = key.shape[1 - bdim] if batched else key.shape[0]
        length = query.shape[1 - bdim] if batched else query.shape[0]
        if key_padding_mask is not None:
            want = (n, s) if batched else (s,)
            if tuple(key_padding_mask.shape) != want:
                raise ValueError(f"MultiheadAttention: key_padding_mask must have shape {want}, "
                                 f"got {tuple(key_padding_mask.shape)}")
        if attn_mask is not None:
            shape = tuple(attn_mask.shape)
            ok = shape == (length, s) or (len(shape) == 3 and shape == (
                (n if batched else 1) * self.num_heads, length, s))
            if not ok:
                raise ValueError(f"MultiheadAttention: attn_mask must have shape "
                                 f"{(length, s)} or {((n or 1) * self.num_heads, length, s)}, "
                                 f"got {shape}")
        return batched

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True,
                attn_mask=None, average_attn_weights=True, is_causal=False):
        batched = self._check(query, key, value, key_padding_mask, attn_mask)
        if is_causal and attn_mask is None:
            raise RuntimeError("MultiheadAttention: is_causal=True is a hint that attn_mask is "
                               "the causal mask; pass that mask as attn_mask too")
        same = query is key, key is value
        if not batched:
            query, key, value = (expand_dims(t, 0) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = expand_dims(key_padding_mask, 0)
        elif not self.batch_first:
            query, key, value = (swapaxes(t, 0, 1) for t in (query, key, value))
        if same[0]:  # keep the identities that let self-attention use one product
            key = query
        if same[1]:
            value = key
        n, length, s = query.shape[0], query.shape[1], key.shape[1]
        q, k, v = self._project(query, key, value)
        k, v, extra = self._extra_keys(k, v)

        mask = None
        if attn_mask is not None:
            mask = _keep_extra(_additive(attn_mask, q, "attn_mask"), extra)
            if mask.ndim == 3:
                mask = reshape(mask, (n, self.num_heads, length, s + extra))
        if key_padding_mask is not None:
            pad = _keep_extra(_additive(key_padding_mask, q, "key_padding_mask"), extra)
            pad = reshape(pad, (n, 1, 1, s + extra))
            mask = pad if mask is None else mask + pad
        dropout_p = self.dropout if self.training else 0.0
        if is_causal and not need_weights and key_padding_mask is None and not extra and \
                not dropout_p and length == s:
            # the hint that attn_mask is the causal mask, taken as PyTorch's fast path takes it:
            # causal attention itself (on the host: blocks of query rows, _host_attention)
            from ._functional_conv_attn import scaled_dot_product_attention

            out, weights = scaled_dot_product_attention(q, k, v, is_causal=True), None
        else:
            out, weights = _attend(q, k, v, mask, dropout_p, False, None, "MultiheadAttention")
        out = reshape(swapaxes(out, 1, 2), (n, length, self.embed_dim))
        out = self.out_proj(out)
        if not batched:
            out = squeeze(out, 0)
        elif not self.batch_first:
            out = swapaxes(out, 0, 1)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = _red.mean(weights, (1,), False)
        if not batched:
            weights = squeeze(weights, 0)
        return out, weights


def _keep_extra(mask, extra):
    """An additive mask (a Tensor or a raw array) with ``extra`` columns of 0 (keep) for the
    appended keys."""
    if not extra:
        return mask
    if isinstance(mask, Tensor):
        return F.pad(mask, (0, extra))
    return xp_of(mask).pad(mask, [(0, 0)] * (mask.ndim - 1) + [(0, extra)])


_ACTS = {"relu": F.relu, "gelu": F.gelu}


def _activation(activation, who):
    """(name or None, callable) of a Transformer layer's ``activation``: "relu", "gelu" or a
    callable."""
    if not isinstance(activation, str):
        return None, activation
    if activation not in _ACTS:
        raise ValueError(f"{who}: activation should be relu/gelu, not {activation!r}")
    return activation, _ACTS[activation]


def _feed_forward(layer, x):
    """linear2(dropout(activation(linear1(x)))) of a Transformer layer."""
    if layer._act_name is not None:
        # act(x W1^T + b1) as one fused node on CuPy; the same composition elsewhere
        h = F.bias_act(F.linear(x, layer.linear1.weight), layer.linear1.bias, layer._act_name)
    else:
        h = layer.activation(layer.linear1(x))
    return layer.linear2(layer.dropout(h))


class _TransformerLayer(Module):
    """What a Transformer encoder layer (``_blocks == 2``: self-attention, feed-forward) and
    decoder layer (``_blocks == 3``: self-attention, attention over ``memory``, feed-forward)
    share: the constructor (their sub-modules, in PyTorch's order), and the self-attention
    and feed-forward blocks (block i ends with ``dropout{i}`` and, in ``forward``, ``norm{i}``)."""

    _blocks = 2

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True,
                 device=None, dtype=None):
        # PyTorch's encoder and decoder layers have this same signature
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        attn = ("self_attn", "multihead_attn")[:self._blocks - 1]
        for name in attn:
            setattr(self, name, MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                   batch_first=batch_first, **kw))
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        for i in range(1, self._blocks + 1):
            setattr(self, f"norm{i}", LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        for i in range(1, self._blocks + 1):
            setattr(self, f"dropout{i}", Dropout(dropout))
        self._act_name, self.activation = _activation(activation, type(self).__name__)

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        return getattr(self, f"dropout{self._blocks}")(_feed_forward(self, x))


class TransformerEncoderLayer(_TransformerLayer):
    """Self-attention and a feed-forward block, each with a residual connection and LayerNorm
    (PyTorch's ``nn.TransformerEncoderLayer``; sub-modules ``self_attn``, ``linear1``,
    ``dropout``, ``linear2``, ``norm1``, ``norm2``, ``dropout1``, ``dropout2``).

    ``norm_first`` normalises before each block instead of after; ``activation`` is "relu",
    "gelu" or a callable. ``forward(src, src_mask=None, src_key_padding_mask=None,
    is_causal=False)``.

    >>> import tensorgrad as tg
    >>> layer = tg.nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, batch_first=True)
    >>> layer(tg.randn(2, 5, 16)).shape
    (2, 5, 16)
    """

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x


def _clone(module, memo=None):
    """A deep copy of ``module``: new Parameters and buffers holding copies of the arrays
    (on the same device), sub-modules cloned alike, shared tensors shared once in the copy;
    other attributes copied with ``copy.deepcopy`` (functions and classes stay the same)."""
    memo = {} if memo is None else memo
    if id(module) in memo:
        return memo[id(module)]
    new = object.__new__(type(module))
    memo[id(module)] = new
    tables = ("_parameters", "_buffers", "_modules")
    for name, value in module.__dict__.items():
        if name not in tables:
            object.__setattr__(new, name, copy.deepcopy(value, memo))
    for table in tables:
        object.__setattr__(new, table, OrderedDict())
    for name, p in module._parameters.items():
        if p is not None and id(p) not in memo:
            memo[id(p)] = Parameter(p.data.copy(), requires_grad=p.requires_grad)
        new._parameters[name] = None if p is None else memo[id(p)]
    for name, b in module._buffers.items():
        if b is not None and id(b) not in memo:
            memo[id(b)] = b.detach().clone()
        new._buffers[name] = None if b is None else memo[id(b)]
    for name, m in module._modules.items():
        new._modules[name] = None if m is None else _clone(m, memo)
    return new


class TransformerEncoder(Module):
    """``num_layers`` independent copies of ``encoder_layer`` applied in turn, then ``norm``
    if given (PyTorch's ``nn.TransformerEncoder``).

    ``forward(src, mask=None, src_key_padding_mask=None, is_causal=None)``.

    PyTorch's nested-tensor fast path has an effect a program sees: where it applies, the
    padded positions of the output are 0 (``norm``'s value at 0 when ``norm`` is given), not
    the layers' values there. It applies with ``enable_nested_tensor`` and a layer PyTorch
    accepts (``TransformerEncoderLayer``, ``batch_first``, post-norm, relu or gelu, biases,
    equal norm eps, an even number of heads), in eval mode, for a 3-D ``src`` with a
    ``src_key_padding_mask`` whose padding is at the ends (``mask_check``) and no ``mask``,
    outside autocast, when no gradient is recorded. tensorgrad computes the padded batch and
    zeroes those positions then (the other positions are the same computation).

    >>> import tensorgrad as tg
    >>> layer = tg.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16)
    >>> enc = tg.nn.TransformerEncoder(layer, num_layers=2)
    >>> enc(tg.randn(5, 3, 8)).shape
    (5, 3, 8)
    """

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True,
                 mask_check=True):
        super().__init__()
        self.layers = ModuleList([_clone(encoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.use_nested_tensor = enable_nested_tensor and _nested_layer(encoder_layer)
        self.mask_check = mask_check

    def _padding_to_zero(self, src, mask, src_key_padding_mask):
        """The (N, S) bool array of the positions PyTorch's fast path leaves at 0, or None."""
        from ..amp.autocast_mode import is_autocast_enabled
        from ..autograd.grad_mode import is_grad_enabled

        first = self.layers[0]
        if not self.use_nested_tensor or first.training or src.ndim != 3 or \
                src_key_padding_mask is None or mask is not None or is_autocast_enabled():
            return None
        attn = first.self_attn
        args = (src, attn.in_proj_weight, attn.in_proj_bias, attn.out_proj.weight,
                attn.out_proj.bias, first.norm1.weight, first.norm1.bias, first.norm2.weight,
                first.norm2.bias, first.linear1.weight, first.linear1.bias,
                first.linear2.weight, first.linear2.bias)
        if is_grad_enabled() and any(isinstance(a, Tensor) and a.requires_grad for a in args):
            return None
        padded = _raw(src_key_padding_mask)
        padded = padded if padded.dtype == np.bool_ else padded != 0  # a float mask: not 0
        if self.mask_check and padded.shape[1] > 1 and \
                (padded[:, :-1] & ~padded[:, 1:]).any().item():
            return None  # padding not at the ends: PyTorch takes the ordinary path
        return padded

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        padded = self._padding_to_zero(src, mask, src_key_padding_mask)
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                      is_causal=bool(is_causal))
        if padded is not None:
            x = x.masked_fill(Tensor(padded[:, :, None]), 0.0)
        if self.norm is not None:
            x = self.norm(x)
        return x


def _nested_layer(layer):
    """Does PyTorch's TransformerEncoder take its nested-tensor fast path with ``layer``?"""
    if not isinstance(layer, TransformerEncoderLayer) or layer.norm_first:
        return False
    attn = layer.self_attn
    act = layer.activation
    relu_or_gelu = layer._act_name is not None or act is F.relu or act is F.gelu or \
        isinstance(act, (ReLU, GELU))
    return (attn.batch_first and attn._qkv_same_embed_dim and attn.in_proj_bias is not None
            and relu_or_gelu and layer.norm1.eps == layer.norm2.eps and attn.num_heads % 2 == 0)


class TransformerDecoderLayer(_TransformerLayer):
    """Self-attention, attention over the encoder's output (``memory``) and a feed-forward
    block, each with a residual connection and LayerNorm (PyTorch's
    ``nn.TransformerDecoderLayer``; sub-modules ``self_attn``, ``multihead_attn``,
    ``linear1``, ``dropout``, ``linear2``, ``norm1``-``norm3``, ``dropout1``-``dropout3``).

    ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False)``; masks as
    ``MultiheadAttention``'s, the ``*_is_causal`` flags hints that the given mask is causal.

    >>> import tensorgrad as tg
    >>> layer = tg.nn.TransformerDecoderLayer(16, 4, dim_feedforward=32, batch_first=True)
    >>> layer(tg.randn(2, 5, 16), tg.randn(2, 7, 16)).shape
    (2, 5, 16)
    """

    _blocks = 3

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal):
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask,
                                key_padding_mask=key_padding_mask, need_weights=False,
                                is_causal=is_causal)[0]
        return self.dropout2(x)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask,
                                   tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask,
                                    memory_key_padding_mask, memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask,
                                              tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask,
                                               memory_key_padding_mask, memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x


class TransformerDecoder(Module):
    """``num_layers`` independent copies of ``decoder_layer`` applied in turn to ``tgt``, each
    attending to ``memory``, then ``norm`` if given (PyTorch's ``nn.TransformerDecoder``).

    ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False)``.

    >>> import tensorgrad as tg
    >>> layer = tg.nn.TransformerDecoderLayer(8, 2, dim_feedforward=16)
    >>> dec = tg.nn.TransformerDecoder(layer, num_layers=2)
    >>> dec(tg.randn(5, 3, 8), tg.randn(6, 3, 8)).shape
    (5, 3, 8)
    """

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__()
        self.layers = ModuleList([_clone(decoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False):
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                      tgt_key_padding_mask=tgt_key_padding_mask,
                      memory_key_padding_mask=memory_key_padding_mask,
                      tgt_is_causal=bool(tgt_is_causal), memory_is_causal=memory_is_causal)
        if self.norm is not None:
            x = self.norm(x)
        return x


class Transformer(Module):
    """The encoder-decoder Transformer of "Attention Is All You Need" (PyTorch's
    ``nn.Transformer``): ``encoder`` a TransformerEncoder and ``decoder`` a
    TransformerDecoder, each with a final LayerNorm (or ``custom_encoder`` /
    ``custom_decoder``); every parameter of two or more dimensions re-initialised with
    xavier_uniform_, as PyTorch does.

    ``forward(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
    src_key_padding_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None,
    src_is_causal=None, tgt_is_causal=None, memory_is_causal=False)`` returns the decoder's
    output, shaped like ``tgt``.

    >>> import tensorgrad as tg
    >>> model = tg.nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1,
    ...                           num_decoder_layers=1, dim_feedforward=16)
    >>> mask = tg.nn.Transformer.generate_square_subsequent_mask(4)
    >>> model(tg.randn(6, 2, 8), tg.randn(4, 2, 8), tgt_mask=mask).shape
    (4, 2, 8)
    """

    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6,
                 dim_feedforward=2048, dropout=0.1, activation="relu", custom_encoder=None,
                 custom_decoder=None, layer_norm_eps=1e-5, batch_first=False, norm_first=False,
                 bias=True, device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        layer_kw = dict(dim_feedforward=dim_feedforward, dropout=dropout, activation=activation,
                        layer_norm_eps=layer_norm_eps, batch_first=batch_first,
                        norm_first=norm_first, bias=bias, **kw)

        def stack(custom, layer_class, stack_class, num_layers):
            """``custom``, else ``num_layers`` layers with a final LayerNorm."""
            if custom is not None:
                return custom
            layer = layer_class(d_model, nhead, **layer_kw)
            norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
            return stack_class(layer, num_layers, norm)

        self.encoder = stack(custom_encoder, TransformerEncoderLayer, TransformerEncoder,
                             num_encoder_layers)
        self.decoder = stack(custom_decoder, TransformerDecoderLayer, TransformerDecoder,
                             num_decoder_layers)
        self._reset_parameters()
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first

    def _reset_parameters(self):
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
                src_key_padding_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal=False):
        batched = src.ndim == 3
        bdim = 0 if self.batch_first else 1
        if batched and (tgt.ndim != 3 or src.shape[bdim] != tgt.shape[bdim]):
            raise RuntimeError(f"Transformer: the batch number of src and tgt must be equal, "
                               f"got src {tuple(src.shape)} and tgt {tuple(tgt.shape)} "
                               f"(batch_first={self.batch_first})")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError(f"Transformer: the feature number of src and tgt must be equal "
                               f"to d_model={self.d_model}, got src {tuple(src.shape)} and "
                               f"tgt {tuple(tgt.shape)}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz, device=None, dtype=None):
        """The (sz, sz) causal mask: -inf above the diagonal (the future), 0 elsewhere.

        >>> import tensorgrad as tg
        >>> tg.nn.Transformer.generate_square_subsequent_mask(3).tolist()
        [[0.0, -inf, -inf], [0.0, 0.0, -inf], [0.0, 0.0, 0.0]]
        """
        full = creation.full((sz, sz), -np.inf, dtype=dtype, device=device)
        return Tensor(xp_of(full.data).triu(full.data, 1))


__all__ = ["MultiheadAttention", "TransformerEncoderLayer", "TransformerEncoder",
           "TransformerDecoderLayer", "TransformerDecoder", "Transformer"]
