"""F.scaled_dot_product_attention, nn.MultiheadAttention, nn.TransformerEncoderLayer and
nn.TransformerEncoder on every device: values and gradients (inputs and every parameter)
against PyTorch CPU in float64 with copied weights, for every option; derivatives to second
order against finite differences; default initialisation statistics; dropout; errors."""

import re

import numpy as np
import pytest
from devices import fit, host, on, put
from nn_helpers import check_backward, compare_params, copy_weights, leaf

import tensorgrad as tg

F = tg.nn.functional


def _torch():
    return pytest.importorskip("torch")


# ---- scaled_dot_product_attention -----------------------------------------------------------
SDPA_CASES = {  # name: (q shape, k shape, v shape, options)
    "plain": ((2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 3), {}),
    "causal": ((2, 2, 5, 4), (2, 2, 5, 4), (2, 2, 5, 4), {"is_causal": True}),
    "causal_rect": ((1, 2, 4, 3), (1, 2, 6, 3), (1, 2, 6, 2), {"is_causal": True}),
    "bool": ((2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 3), {"mask": ("bool", (5, 6))}),
    "bool_bcast": ((2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 3), {"mask": ("bool", (2, 1, 5, 6))}),
    "bool_empty_row": ((1, 2, 4, 3), (1, 2, 5, 3), (1, 2, 5, 3), {"mask": ("empty", (4, 5))}),
    "float": ((2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 3), {"mask": ("float", (5, 6))}),
    "float_grad": ((2, 1, 4, 4), (2, 1, 4, 4), (2, 1, 4, 4), {"mask": ("floatg", (2, 1, 4, 4))}),
    "scale": ((3, 5, 4), (3, 6, 4), (3, 6, 3), {"scale": 0.3}),
    "2d": ((5, 4), (6, 4), (6, 2), {}),
    "gqa": ((2, 4, 5, 4), (2, 2, 6, 4), (2, 2, 6, 3), {"enable_gqa": True}),
}


def _make_mask(kind, shape, rng):
    if kind in ("bool", "empty"):
        m = rng.random(shape) > 0.4
        m[..., 0] = True  # no empty row unless asked for
        if kind == "empty":
            m[1] = False
        return m
    return rng.standard_normal(shape)


@pytest.mark.parametrize("name", sorted(SDPA_CASES))
def test_sdpa_matches_torch(name, device, rng):
    torch = _torch()
    qs, ks, vs, opts = SDPA_CASES[name]
    opts = dict(opts)
    arrays = [rng.standard_normal(s) for s in (qs, ks, vs)]
    ours = [leaf(a, device) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    mask_t = mask_r = None
    if "mask" in opts:
        kind, shape = opts.pop("mask")
        m = _make_mask(kind, shape, rng)
        if kind == "floatg":
            mask_t, mask_r = leaf(m, device), torch.tensor(m, requires_grad=True)
        else:
            mask_t, mask_r = tg.tensor(put(m, device)), torch.tensor(m)
    out = F.scaled_dot_product_attention(*ours, attn_mask=mask_t, **opts)
    ref = torch.nn.functional.scaled_dot_product_attention(*theirs, attn_mask=mask_r, **opts)
    assert out.dtype == np.float64
    pairs = list(zip(ours, theirs, strict=True))
    if mask_r is not None and mask_r.requires_grad:
        pairs.append((mask_t, mask_r))
    check_backward([(out, ref)], pairs, device, rng)


@pytest.mark.parametrize("opts", [{}, {"is_causal": True}, {"mask": "bool"},
                                  {"mask": "float", "scale": 0.7}])
def test_sdpa_derivatives_second_order(opts, device, rng):
    opts = dict(opts)
    q, k, v = (put(rng.standard_normal((1, 2, 3, 2)), device) for _ in range(3))
    kind = opts.pop("mask", None)
    if kind == "bool":
        m = np.array([[True, False, True], [True, True, False], [False, False, False]])
        opts["attn_mask"] = put(m, device)
    elif kind == "float":
        opts["attn_mask"] = put(rng.standard_normal((3, 3)), device)

    def f(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, **opts)

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(q, k, v)


def test_sdpa_dropout(device, rng):
    q = tg.tensor(put(rng.standard_normal((2, 2, 64, 8)), device))
    v = tg.tensor(put(np.ones((2, 2, 64, 8)), device))
    # with all-ones values each output is the sum of the row's kept weights: 1 on average
    out = F.scaled_dot_product_attention(q, q, v, dropout_p=0.5)
    assert on(out, device)
    mean = float(host(out).mean())
    assert 0.9 < mean < 1.1 and host(out).std() > 0.1
    zero = F.scaled_dot_product_attention(q, q, v, dropout_p=1.0)
    assert np.all(host(zero) == 0)


def test_sdpa_errors(device):
    q = tg.tensor(put(np.zeros((2, 3, 4)), device))
    with pytest.raises(ValueError, match="scaled_dot_product_attention: query .* same last"):
        F.scaled_dot_product_attention(q, tg.tensor(put(np.zeros((2, 3, 5)), device)), q)
    with pytest.raises(ValueError, match="key .* and value .* same length"):
        F.scaled_dot_product_attention(q, q, tg.tensor(put(np.zeros((2, 4, 4)), device)))
    with pytest.raises(ValueError, match="either attn_mask or is_causal"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=put(np.ones((3, 3), bool), device),
                                       is_causal=True)
    with pytest.raises(ValueError, match="attn_mask of shape \\(2, 2\\) does not broadcast"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=put(np.ones((2, 2), bool), device))
    with pytest.raises(ValueError, match="dropout_p"):
        F.scaled_dot_product_attention(q, q, q, dropout_p=1.5)


# ---- MultiheadAttention ---------------------------------------------------------------------
MHA_CASES = {  # name: (constructor options, forward options, self-attention?)
    "self": ({}, {}, True),
    "self_batch_first": ({"batch_first": True}, {}, True),
    "cross": ({}, {}, False),
    "cross_batch_first_per_head": ({"batch_first": True}, {"average_attn_weights": False},
                                   False),
    "no_weights": ({}, {"need_weights": False}, True),
    "kdim_vdim": ({"kdim": 5, "vdim": 3}, {}, False),
    "no_bias": ({"bias": False}, {}, True),
    "bool_mask": ({}, {"attn_mask": "bool2"}, True),
    "float_mask3": ({"batch_first": True}, {"attn_mask": "float3"}, False),
    "kpm_bool": ({}, {"key_padding_mask": "bool"}, False),
    "kpm_float_and_mask": ({"batch_first": True},
                           {"key_padding_mask": "float", "attn_mask": "float2"}, True),
    "causal": ({"batch_first": True}, {"attn_mask": "causal", "is_causal": True,
                                       "need_weights": False}, True),
    "dropout_eval": ({"dropout": 0.3}, {"eval": True}, True),
    "unbatched": ({}, {"unbatched": True}, False),
    "unbatched_mask": ({}, {"unbatched": True, "attn_mask": "float3",
                            "key_padding_mask": "float"}, True),
    "unbatched_bool_masks": ({"batch_first": True}, {"unbatched": True, "attn_mask": "bool2",
                                                     "key_padding_mask": "bool"}, False),
}


def _mha_masks(fopts, n, heads, length, s, rng):
    out = {}
    kind = fopts.get("attn_mask")
    if kind == "bool2":
        m = rng.random((length, s)) > 0.6
        m[:, 0] = False  # True = masked out: keep key 0 for everyone
        out["attn_mask"] = m
    elif kind == "float2":
        out["attn_mask"] = rng.standard_normal((length, s))
    elif kind == "float3":
        out["attn_mask"] = rng.standard_normal(((n or 1) * heads, length, s))
    elif kind == "causal":
        out["attn_mask"] = np.triu(np.ones((length, s), bool), 1)
    kind = fopts.get("key_padding_mask")
    shape = (s,) if n is None else (n, s)
    if kind == "bool":
        m = rng.random(shape) > 0.6
        m[..., 0] = False
        out["key_padding_mask"] = m
    elif kind == "float":
        out["key_padding_mask"] = rng.standard_normal(shape)
    return out


@pytest.mark.parametrize("name", sorted(MHA_CASES))
def test_multihead_attention_matches_torch(name, device, rng):
    torch = _torch()
    copts, fopts, self_attn = MHA_CASES[name]
    fopts = dict(fopts)
    E, heads, n, length, s = 8, 2, 3, 4, 5
    if self_attn:
        s = length
    torch.manual_seed(0)
    ref_mod = torch.nn.MultiheadAttention(E, heads, dtype=torch.float64, **copts)
    mod = tg.nn.MultiheadAttention(E, heads, device=device, dtype=np.float64, **copts)
    copy_weights(mod, ref_mod, device)
    if fopts.pop("eval", False):
        mod.eval()
        ref_mod.eval()
    unbatched = fopts.pop("unbatched", False)
    batch_first = copts.get("batch_first", False)

    def shape(length_, dim):
        if unbatched:
            return (length_, dim)
        return (n, length_, dim) if batch_first else (length_, n, dim)

    kdim, vdim = copts.get("kdim", E), copts.get("vdim", E)
    if self_attn:
        arrays = [rng.standard_normal(shape(length, E))]
    else:
        arrays = [rng.standard_normal(shape(length, E)), rng.standard_normal(shape(s, kdim)),
                  rng.standard_normal(shape(s, vdim))]
    ours = [leaf(a, device) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    masks = _mha_masks(fopts, None if unbatched else n, heads, length, s, rng)
    fopts.update({k: None for k in ("attn_mask", "key_padding_mask") if k in fopts})
    kw_t = dict(fopts, **{k: tg.tensor(put(v, device)) for k, v in masks.items()})
    kw_r = dict(fopts, **{k: torch.tensor(v) for k, v in masks.items()})
    args_t = ours * 3 if self_attn else ours
    args_r = theirs * 3 if self_attn else theirs
    out, w = mod(*args_t, **kw_t)
    ref, ref_w = ref_mod(*args_r, **kw_r)
    outputs = [(out, ref)]
    if ref_w is None:
        assert w is None
    else:  # the weights' gradient flows too
        outputs.append((w, ref_w))
    check_backward(outputs, zip(ours, theirs, strict=True), device, rng)
    compare_params(mod, ref_mod)


def test_multihead_attention_layout_and_init(device):
    torch = _torch()
    E = 256
    mod = tg.nn.MultiheadAttention(E, 4, device=device)
    ref = torch.nn.MultiheadAttention(E, 4)
    assert [(k, tuple(p.shape)) for k, p in mod.named_parameters()] == \
        [(k, tuple(p.shape)) for k, p in ref.named_parameters()]
    assert mod.in_proj_weight.dtype == np.float32 and on(mod.in_proj_weight, device)
    for name in ("in_proj_weight", "out_proj.weight"):
        ours = host(dict(mod.named_parameters())[name])
        theirs = dict(ref.named_parameters())[name].detach().numpy()
        bound = np.abs(theirs).max()
        assert np.abs(ours).max() <= bound * 1.001 and np.abs(ours).max() > bound * 0.99
        np.testing.assert_allclose(ours.std(), theirs.std(), rtol=0.02)
        assert abs(ours.mean()) < 0.01
    for name in ("in_proj_bias", "out_proj.bias"):
        assert np.all(host(dict(mod.named_parameters())[name]) == 0)
    sep = tg.nn.MultiheadAttention(8, 2, kdim=3, vdim=5, bias=False)
    ref_sep = torch.nn.MultiheadAttention(8, 2, kdim=3, vdim=5, bias=False)
    assert [(k, tuple(p.shape)) for k, p in sep.named_parameters()] == \
        [(k, tuple(p.shape)) for k, p in ref_sep.named_parameters()]
    assert sep.in_proj_weight is None and sep.in_proj_bias is None
    assert repr(mod) == repr(ref)


def test_multihead_attention_dropout_in_training(device, rng):
    mod = tg.nn.MultiheadAttention(8, 2, dropout=0.5, batch_first=True, device=device)
    x = tg.tensor(put(rng.standard_normal((4, 32, 8)).astype(np.float32), device))
    _, w = mod(x, x, x, average_attn_weights=False)
    weights = host(w)
    zeros = (weights == 0).mean()
    assert 0.4 < zeros < 0.6  # dropped weights, the rest scaled by 2
    np.testing.assert_allclose(weights.sum(-1).mean(), 1.0, rtol=0.1)
    mod.eval()
    _, w = mod(x, x, x, average_attn_weights=False)
    np.testing.assert_allclose(host(w).sum(-1), 1.0, rtol=1e-5)


def test_multihead_attention_errors(device):
    mod = tg.nn.MultiheadAttention(8, 2, device=device)
    x = tg.tensor(put(np.zeros((4, 3, 8), np.float32), device))
    with pytest.raises(ValueError, match="embed_dim=9 must be divisible by num_heads=2"):
        tg.nn.MultiheadAttention(9, 2)
    with pytest.raises(ValueError, match="query has 7 features"):
        mod(x[..., :7], x, x)
    with pytest.raises(ValueError, match="key_padding_mask must have shape \\(3, 4\\)"):
        mod(x, x, x, key_padding_mask=put(np.zeros((4, 3), bool), device))
    with pytest.raises(ValueError, match="attn_mask must have shape"):
        mod(x, x, x, attn_mask=put(np.zeros((3, 3), bool), device))
    with pytest.raises(RuntimeError, match="is_causal"):
        mod(x, x, x, is_causal=True)


# ---- TransformerEncoderLayer and TransformerEncoder --------------------------------------------
LAYER_CASES = {  # name: (constructor options, forward options)
    "default": ({}, {}),
    "batch_first": ({"batch_first": True}, {}),
    "norm_first_gelu": ({"norm_first": True, "activation": "gelu"}, {}),
    "masks": ({"batch_first": True}, {"src_mask": "bool", "src_key_padding_mask": "bool"}),
    "float_mask_norm_first": ({"norm_first": True}, {"src_mask": "float"}),
    "causal": ({"batch_first": True, "activation": "gelu"}, {"src_mask": "causal",
                                                             "is_causal": True}),
    "no_bias": ({"bias": False, "layer_norm_eps": 1e-3}, {}),
    "callable_act": ({"activation": "tanh"}, {}),
}


def _layer_masks(fopts, n, length, rng):
    out = {}
    kind = fopts.get("src_mask")
    if kind == "bool":
        m = rng.random((length, length)) > 0.6
        np.fill_diagonal(m, False)
        out["src_mask"] = m
    elif kind == "float":
        out["src_mask"] = rng.standard_normal((length, length))
    elif kind == "causal":
        out["src_mask"] = np.triu(np.full((length, length), -np.inf), 1)
    if fopts.get("src_key_padding_mask") == "bool":
        m = rng.random((n, length)) > 0.7
        m[:, 0] = False
        out["src_key_padding_mask"] = m
    return out


@pytest.mark.parametrize("name", sorted(LAYER_CASES))
def test_transformer_encoder_layer_matches_torch(name, device, rng):
    torch = _torch()
    copts, fopts = LAYER_CASES[name]
    copts, fopts = dict(copts), dict(fopts)
    d, heads, ff, n, length = 8, 2, 16, 3, 5
    torch.manual_seed(1)
    tact = copts.get("activation", "relu")
    act_t, act_r = (F.tanh, torch.tanh) if tact == "tanh" else (tact, tact)
    copts.pop("activation", None)
    # dropout > 0 in eval mode: the identity, as in PyTorch
    ref_mod = torch.nn.TransformerEncoderLayer(d, heads, ff, dropout=0.2, activation=act_r,
                                               dtype=torch.float64, **copts)
    mod = tg.nn.TransformerEncoderLayer(d, heads, ff, dropout=0.2, activation=act_t,
                                        device=device, dtype=np.float64, **copts)
    copy_weights(mod, ref_mod, device)
    mod.eval()
    ref_mod.eval()
    shape = (n, length, d) if copts.get("batch_first") else (length, n, d)
    x = rng.standard_normal(shape)
    xt, xr = leaf(x, device), torch.tensor(x, requires_grad=True)
    masks = _layer_masks(fopts, n, length, rng)
    fopts.update({k: None for k in ("src_mask", "src_key_padding_mask") if k in fopts})
    out = mod(xt, **dict(fopts, **{k: tg.tensor(put(v, device)) for k, v in masks.items()}))
    ref = ref_mod(xr, **dict(fopts, **{k: torch.tensor(v) for k, v in masks.items()}))
    check_backward([(out, ref)], [(xt, xr)], device, rng)
    compare_params(mod, ref_mod)


def test_transformer_encoder_matches_torch(device, rng):
    torch = _torch()
    d, heads, n, length = 8, 2, 2, 6
    torch.manual_seed(2)
    ref_layer = torch.nn.TransformerEncoderLayer(d, heads, 16, dropout=0.0, batch_first=True,
                                                 dtype=torch.float64)
    ref = torch.nn.TransformerEncoder(ref_layer, 2, norm=torch.nn.LayerNorm(
        d, dtype=torch.float64), enable_nested_tensor=False)
    layer = tg.nn.TransformerEncoderLayer(d, heads, 16, dropout=0.0, batch_first=True,
                                          device=device, dtype=np.float64)
    enc = tg.nn.TransformerEncoder(layer, 2, norm=tg.nn.LayerNorm(d, device=device,
                                                                  dtype=np.float64))
    # the same names (Module.named_modules walks breadth first, PyTorch depth first)
    assert sorted(k for k, _ in enc.named_parameters()) == \
        sorted(k for k, _ in ref.named_parameters())
    copy_weights(enc, ref, device)
    x = rng.standard_normal((n, length, d))
    mask = np.triu(np.ones((length, length), bool), 1)
    xt, xr = leaf(x, device), torch.tensor(x, requires_grad=True)
    out = enc(xt, mask=tg.tensor(put(mask, device)), is_causal=True)
    out_r = ref(xr, mask=torch.tensor(mask), is_causal=True)
    check_backward([(out, out_r)], [(xt, xr)], device, rng)
    compare_params(enc, ref)


def test_transformer_encoder_clones_are_independent(device):
    layer = tg.nn.TransformerEncoderLayer(8, 2, 16, device=device)
    enc = tg.nn.TransformerEncoder(layer, 3)
    params = [dict(m.named_parameters()) for m in enc.layers]
    for name, p in layer.named_parameters():
        for copy in params:
            assert copy[name] is not p and on(copy[name], device)
            np.testing.assert_array_equal(host(copy[name]), host(p))
    with tg.no_grad():
        params[0]["linear1.weight"].data[...] = 0
    assert not np.all(host(params[1]["linear1.weight"]) == 0)
    assert not np.all(host(layer.linear1.weight) == 0)
    assert len(list(enc.parameters())) == 3 * len(list(layer.parameters()))
    enc.eval()
    assert all(not m.training for m in enc.modules())


def test_transformer_encoder_layer_repr_and_init():
    torch = _torch()
    ours = tg.nn.TransformerEncoderLayer(16, 4, 32)
    theirs = torch.nn.TransformerEncoderLayer(16, 4, 32)
    assert sorted((k, tuple(p.shape)) for k, p in ours.named_parameters()) == \
        sorted((k, tuple(p.shape)) for k, p in theirs.named_parameters())

    def layout(m):  # Dropout's own repr is not this module's business
        return re.sub(r"Dropout\(.*\)", "Dropout", repr(m))

    assert layout(ours) == layout(theirs)
    with pytest.raises(ValueError, match="activation should be relu/gelu, not 'swish'"):
        tg.nn.TransformerEncoderLayer(16, 4, activation="swish")


def test_transformer_encoder_layer_trains(device, rng):
    """A few AdamW steps in float32 lower an MSE loss, on every device."""
    tg.manual_seed(0)
    layer = tg.nn.TransformerEncoderLayer(16, 4, 32, dropout=0.1, batch_first=True,
                                          device=device)
    opt = tg.optim.AdamW(layer.parameters(), lr=1e-2)
    x = tg.tensor(put(rng.standard_normal((4, 6, 16)).astype(np.float32), device))
    y = tg.tensor(put(rng.standard_normal((4, 6, 16)).astype(np.float32), device))
    losses = fit(layer, opt, F.mse_loss, x, y, 15)
    assert losses[-1] < 0.8 * losses[0]
    assert all(on(p, device) and p.dtype == np.float32 for p in layer.parameters())
