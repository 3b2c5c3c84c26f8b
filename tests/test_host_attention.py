"""Causal ``scaled_dot_product_attention`` on the host as one primitive that runs a block of
query rows at a time against the keys each block may see (tensorgrad/nn/_host_attention.py):
values and gradients against PyTorch's and against the composition it replaces, with blocks
forced small, derivatives to second order in both modes, and what it keeps."""

import numpy as np
import pytest
from devices import host, torch_oracle

import tensorgrad as tg
from tensorgrad.nn import _host_attention as ha

F = tg.nn.functional

SHAPES = [((2, 3, 7, 5), (2, 3, 7, 5)), ((2, 9, 4), (2, 6, 4)), ((2, 5, 4), (2, 8, 4)),
          ((1, 2, 300, 8), (1, 2, 300, 8))]


def _qkvg(rng, shape_q, shape_k, dtype=np.float64, ev=3):
    q = rng.standard_normal(shape_q).astype(dtype)
    k = rng.standard_normal(shape_k).astype(dtype)
    v = rng.standard_normal(shape_k[:-1] + (ev,)).astype(dtype)
    g = rng.standard_normal(shape_q[:-1] + (ev,)).astype(dtype)
    return q, k, v, g


@pytest.mark.parametrize("small_blocks", [False, True], ids=["blocks", "many-blocks"])
@pytest.mark.parametrize("shape_q, shape_k", SHAPES, ids=str)
def test_causal_attention_matches_torch(rng, shape_q, shape_k, small_blocks, monkeypatch):
    """L = S, fewer and more queries than keys (PyTorch keeps key j for query i when
    j <= i), 3-D and 4-D; with blocks of 2 rows the keys a block sees change every block."""
    torch = torch_oracle()
    if small_blocks:
        monkeypatch.setattr(ha, "_MIN_ROWS", 2)
        monkeypatch.setattr(ha, "_BLOCK_SCORES", 2)
    calls = []
    real = ha.attention
    monkeypatch.setattr(ha, "attention", lambda *a, **k: calls.append(k) or real(*a, **k))
    q, k, v, g = _qkvg(rng, shape_q, shape_k)
    ours = [tg.tensor(a, requires_grad=True) for a in (q, k, v)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    out = F.scaled_dot_product_attention(*ours, is_causal=True)
    ref = torch.nn.functional.scaled_dot_product_attention(*theirs, is_causal=True)
    assert calls == [{"scale": 1 / np.sqrt(shape_q[-1]), "causal": True}]
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-13)
    out.backward(tg.tensor(g))
    ref.backward(torch.tensor(g))
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-11, atol=1e-12)


def test_float32_and_a_scale_match_torch(rng):
    torch = torch_oracle()
    q, k, v, g = _qkvg(rng, (2, 4, 200, 16), (2, 4, 200, 16), np.float32, ev=16)
    out = F.scaled_dot_product_attention(tg.tensor(q), tg.tensor(k), tg.tensor(v),
                                         is_causal=True, scale=0.3)
    ref = torch.nn.functional.scaled_dot_product_attention(
        torch.tensor(q), torch.tensor(k), torch.tensor(v), is_causal=True, scale=0.3)
    assert out.dtype == tg.float32
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)


def test_backward_paths_agree_and_second_order(rng, monkeypatch):
    """The block rule (from the kept log-sum-exps), the composition's rule (a copied answer
    keeps nothing) and finite differences to second order in both modes."""
    monkeypatch.setattr(ha, "_MIN_ROWS", 3)
    monkeypatch.setattr(ha, "_BLOCK_SCORES", 3)
    q, k, v, g = _qkvg(rng, (2, 7, 4), (2, 7, 4))
    kw = dict(scale=0.5, causal=True)
    ans = ha.attention(q, k, v, **kw)
    fast = ha._first_order(g, ans, q, k, v, **kw)
    assert fast is not None and ha._first_order(g, ans.copy(), q, k, v, **kw) is None
    vjp, _ = tg.make_vjp(lambda *a: ha._composed(*a, **kw), (0, 1, 2))(q, k, v)
    for a, b in zip(fast, vjp(g), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)
    tg.check_grads(lambda *a: ha.attention(*a, **kw), modes=("fwd", "rev"), order=2)(q, k, v)


def test_keeps_only_the_row_log_sum_exps(rng):
    q, k, v, _ = _qkvg(rng, (2, 6, 4), (2, 6, 4))
    ans = ha.attention(q, k, v, scale=0.5, causal=True)
    assert ans.base is not None and ans.base.size == ans.size + 2 * 6  # one number a row
    with tg.no_grad():
        ans = ha.attention(q, k, v, scale=0.5, causal=True)
    assert ans.base is None  # inference keeps nothing


def test_where_the_composition_runs(device, rng, monkeypatch):
    """Other devices, a mask, dropout, no causal mask, and vmap take the composition; its
    values are the same."""
    monkeypatch.setattr(ha, "attention", None)  # would fail if called
    q, k, v, _ = _qkvg(rng, (2, 5, 4), (2, 5, 4))
    args = [tg.tensor(a, device=device) for a in (q, k, v)]
    out = F.scaled_dot_product_attention(*args, is_causal=device != "cpu")
    assert host(out).shape == (2, 5, 3)
    F.scaled_dot_product_attention(*args, attn_mask=tg.ones(5, 5, dtype=tg.bool, device=device))
    if device == "cpu":
        batched = tg.func.vmap(lambda a, b, c: F.scaled_dot_product_attention(
            a, b, c, is_causal=True))(*args)
        assert batched.shape == (2, 5, 3)


def test_transformer_layer_with_the_causal_hint(rng, monkeypatch):
    """TransformerEncoderLayer(src, src_mask=causal mask, is_causal=True): the attention
    runs as causal attention (the block primitive), with the values and gradients of the same
    call without the hint (the mask added to the scores)."""
    calls = []
    real = ha.attention
    monkeypatch.setattr(ha, "attention", lambda *a, **k: calls.append(k) or real(*a, **k))
    layer = tg.nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True,
                                          dtype=tg.float64)
    x = rng.standard_normal((2, 9, 16))
    mask = tg.nn.Transformer.generate_square_subsequent_mask(9, dtype=tg.float64)
    results = []
    for hint in (True, False):
        layer.zero_grad()
        src = tg.tensor(x, requires_grad=True)
        out = layer(src, src_mask=mask, is_causal=hint)
        (out * out).sum().backward()
        results.append([out.numpy(), src.grad.numpy()] +
                       [p.grad.numpy() for p in layer.parameters()])
    assert len(calls) == 1
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12)
