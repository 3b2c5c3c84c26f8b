"""tensorgrad.nn.attention.flex_attention against PyTorch's FlexAttention.

Values are compared with torch's own ``flex_attention`` (its CPU path, which runs without a
GPU). PyTorch refuses the backward pass of flex_attention on the CPU ("FlexAttention does not
support backward on CPU"), so gradients are compared with torch autograd through the same
program written densely (scores, score_mod with broadcast index tensors, -inf mask,
``torch._safe_softmax``), which is exactly PyTorch's eager math path; plus tensorgrad's own
second-order finite-difference checks.
"""

import warnings

import numpy as np
import pytest
from devices import host, put, torch_oracle

import tensorgrad as tg
from tensorgrad.nn.attention.flex_attention import (
    AuxOutput,
    AuxRequest,
    BlockMask,
    FlexKernelOptions,
    and_masks,
    create_block_mask,
    create_mask,
    flex_attention,
    noop_mask,
    or_masks,
)

TOL = dict(rtol=1e-10, atol=1e-10)


def _torch():
    torch = torch_oracle()
    import torch.nn.attention.flex_attention as tfa

    return torch, tfa


def _rand(rng, *shape):
    return rng.standard_normal(shape)


def _qkv(rng, B=2, Hq=2, Hkv=None, L=6, S=7, E=4, Ev=3):
    Hkv = Hq if Hkv is None else Hkv
    return _rand(rng, B, Hq, L, E), _rand(rng, B, Hkv, S, E), _rand(rng, B, Hkv, S, Ev)


# ---- the mods, written once for either library (`lib` is tg or torch) -------------------------
def causal(b, h, q, kv):
    return q >= kv


def window(n):
    def win(b, h, q, kv):
        return q - kv <= n
    return win


def prefix(n):
    def pre(b, h, q, kv):
        return kv < n
    return pre


def documents(doc):
    def doc_mask(b, h, q, kv):
        return doc[b, q] == doc[b, kv]
    return doc_mask


def alibi(slopes):
    def mod(score, b, h, q, kv):
        return score + slopes[h] * (kv - q)
    return mod


def relative(table, S):
    def mod(score, b, h, q, kv):
        return score + table[h, q - kv + S - 1]
    return mod


def softcap(lib, cap):
    def mod(score, b, h, q, kv):
        return cap * lib.tanh(score / cap)
    return mod


def _torch_flex(q, k, v, score_mod=None, mask_mod=None, B=None, H=None, block=4, **kw):
    """PyTorch's flex_attention (forward only) on float64 CPU tensors."""
    torch, tfa = _torch()
    tq, tk, tv = (torch.tensor(a) for a in (q, k, v))
    bm = None
    if mask_mod is not None:
        bm = tfa.create_block_mask(mask_mod, B, H, q.shape[2], k.shape[2], device="cpu",
                                   BLOCK_SIZE=block)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tfa.flex_attention(tq, tk, tv, score_mod=score_mod, block_mask=bm, **kw)


def _torch_dense(tq, tk, tv, score_mod=None, mask_mod=None, scale=None, gqa=False):
    """PyTorch's eager math path written densely, differentiable with torch autograd:
    (out, lse) of torch tensors."""
    torch, _ = _torch()
    if gqa:
        g = tq.shape[1] // tk.shape[1]
        tk, tv = tk.repeat_interleave(g, 1), tv.repeat_interleave(g, 1)
    B, H, L, E = tq.shape
    S = tk.shape[2]
    scale = 1 / np.sqrt(E) if scale is None else scale
    s = (tq @ tk.transpose(-1, -2)) * scale
    idx = [torch.arange(n).reshape(shape) for n, shape in
           ((B, (B, 1, 1, 1)), (H, (1, H, 1, 1)), (L, (1, 1, L, 1)), (S, (1, 1, 1, S)))]
    if score_mod is not None:
        s = score_mod(s, *idx).expand(B, H, L, S)
    if mask_mod is not None:
        keep = mask_mod(*idx).expand(B, H, L, S)
        s = torch.where(keep, s, torch.tensor(-np.inf, dtype=s.dtype))
    lse = torch.logsumexp(s, -1)
    lse = torch.where(torch.isneginf(s).all(-1), -np.inf, lse)
    return torch._safe_softmax(s, -1) @ tv, lse


def _grads_match(device, arrays, ours, theirs, extra_tg=(), extra_torch=(), lse=False):
    """Loss = sum(out * w) (+ sum(finite lse * w2)) under both libraries; compare the
    gradients of q, k, v and of the extra tensors (e.g. a learnable table)."""
    torch, _ = _torch()
    rng = np.random.default_rng(7)
    tg_in = [tg.tensor(put(a, device), requires_grad=True) for a in arrays]
    th_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    out_tg = ours(*tg_in)
    out_th = theirs(*th_in)
    o_tg, l_tg = out_tg if isinstance(out_tg, tuple) else (out_tg, None)
    o_th, l_th = out_th if isinstance(out_th, tuple) else (out_th, None)
    np.testing.assert_allclose(host(o_tg), o_th.detach().numpy(), **TOL)
    w = rng.standard_normal(o_th.shape)
    loss_tg = (o_tg * tg.tensor(put(w, device))).sum()
    loss_th = (o_th * torch.tensor(w)).sum()
    if lse:
        finite = np.isfinite(l_th.detach().numpy())
        w2 = np.where(finite, rng.standard_normal(l_th.shape), 0.0)
        l_tg_safe = tg.where(tg.tensor(put(finite, device)), l_tg, 0.0)
        loss_tg = loss_tg + (l_tg_safe * tg.tensor(put(w2, device))).sum()
        loss_th = loss_th + (torch.where(torch.tensor(finite), l_th, 0.0)
                             * torch.tensor(w2)).sum()
    loss_tg.backward()
    loss_th.backward()
    for a, b in zip(list(tg_in) + list(extra_tg), list(th_in) + list(extra_torch)):
        np.testing.assert_allclose(host(a.grad), b.grad.numpy(), **TOL)


def _run_pattern(device, rng, score=None, mask=None, B=2, H=2, L=6, S=7, block=4, **kw):
    """Forward against torch's flex_attention and gradients against the dense program for a
    pattern given as factories ``score(lib)`` / ``mask(lib)`` (lib: tg or torch)."""
    torch, _ = _torch()
    q, k, v = _qkv(rng, B=B, Hq=H, L=L, S=S)
    ref = _torch_flex(q, k, v, score and score(torch), mask and mask(torch), B=B, H=H,
                      block=block, **kw)
    bm = None if mask is None else create_block_mask(mask(tg), B, H, L, S, device=device,
                                                     BLOCK_SIZE=block)
    out = flex_attention(*(tg.tensor(put(a, device)) for a in (q, k, v)),
                         score_mod=score and score(tg), block_mask=bm, **kw)
    np.testing.assert_allclose(host(out), ref.numpy(), **TOL)
    _grads_match(device, (q, k, v),
                 lambda *t: flex_attention(*t, score_mod=score and score(tg), block_mask=bm,
                                           **kw),
                 lambda *t: _torch_dense(*t, score_mod=score and score(torch),
                                         mask_mod=mask and mask(torch), **kw))


# ---- the common patterns -------------------------------------------------------------------
def test_causal(device, rng):
    _run_pattern(device, rng, mask=lambda lib: causal)


def test_sliding_window(device, rng):
    _run_pattern(device, rng, mask=lambda lib: and_masks_for(lib)(causal, window(2)),
                 L=9, S=9)


def and_masks_for(lib):
    if lib is tg:
        return and_masks
    return _torch()[1].and_masks


def or_masks_for(lib):
    if lib is tg:
        return or_masks
    return _torch()[1].or_masks


def test_prefix_lm(device, rng):
    _run_pattern(device, rng, mask=lambda lib: or_masks_for(lib)(causal, prefix(3)),
                 L=7, S=7)


def test_document_masking_with_captured_ids(device, rng):
    torch, _ = _torch()
    ids = np.array([[0, 0, 0, 1, 1, 2, 2, 2], [0, 1, 1, 1, 1, 1, 2, 2]])

    def mask(lib):
        doc = tg.tensor(put(ids, device)) if lib is tg else torch.tensor(ids)
        return and_masks_for(lib)(causal, documents(doc))

    _run_pattern(device, rng, mask=mask, L=8, S=8, block=3)


def test_alibi(device, rng):
    torch, _ = _torch()
    slopes = 2.0 ** -np.arange(1, 3)

    def score(lib):
        return alibi(tg.tensor(put(slopes, device)) if lib is tg else torch.tensor(slopes))

    _run_pattern(device, rng, score=score, mask=lambda lib: causal)


def test_tanh_softcap(device, rng):
    _run_pattern(device, rng, score=lambda lib: softcap(lib, 2.0), scale=0.9)


def test_relative_bias_learnable_table(device, rng):
    """The gradient reaches a (H, 2S - 1) bias table indexed by q_idx - kv_idx."""
    torch, _ = _torch()
    q, k, v = _qkv(rng, L=5, S=5)
    table = rng.standard_normal((2, 9))
    t_tg = tg.tensor(put(table, device), requires_grad=True)
    t_th = torch.tensor(table, requires_grad=True)
    ref = _torch_flex(q, k, v, score_mod=relative(t_th.detach(), 5), mask_mod=causal, B=2, H=2)
    bm = create_block_mask(causal, 2, 2, 5, 5, device=device, BLOCK_SIZE=4)
    out = flex_attention(*(tg.tensor(put(a, device)) for a in (q, k, v)),
                         score_mod=relative(t_tg, 5), block_mask=bm)
    np.testing.assert_allclose(host(out), ref.numpy(), **TOL)
    _grads_match(device, (q, k, v),
                 lambda *t: flex_attention(*t, score_mod=relative(t_tg, 5), block_mask=bm),
                 lambda *t: _torch_dense(*t, score_mod=relative(t_th, 5), mask_mod=causal),
                 extra_tg=(t_tg,), extra_torch=(t_th,))
    assert np.abs(host(t_tg.grad)).sum() > 0


def test_gqa(device, rng):
    torch, _ = _torch()
    q, k, v = _qkv(rng, Hq=4, Hkv=2)
    ref = _torch_flex(q, k, v, mask_mod=causal, B=None, H=None, enable_gqa=True)
    bm = create_block_mask(causal, None, None, 6, 7, device=device, BLOCK_SIZE=4)
    out = flex_attention(*(tg.tensor(put(a, device)) for a in (q, k, v)), block_mask=bm,
                         enable_gqa=True)
    np.testing.assert_allclose(host(out), ref.numpy(), **TOL)
    _grads_match(device, (q, k, v),
                 lambda *t: flex_attention(*t, block_mask=bm, enable_gqa=True),
                 lambda *t: _torch_dense(*t, mask_mod=causal, gqa=True))


def test_return_lse_and_aux(device, rng):
    torch, _ = _torch()
    q, k, v = _qkv(rng)
    tout, tlse = _torch_flex(q, k, v, mask_mod=causal, B=2, H=2, return_lse=True)
    bm = create_block_mask(causal, 2, 2, 6, 7, device=device, BLOCK_SIZE=4)
    args = [tg.tensor(put(a, device)) for a in (q, k, v)]
    _warned().discard("return_lse")  # PyTorch warns once per process that it is deprecated
    with pytest.warns(FutureWarning, match="return_lse is deprecated"):
        out, lse = flex_attention(*args, block_mask=bm, return_lse=True)
    np.testing.assert_allclose(host(lse), tlse.numpy(), **TOL)  # natural log, as torch's
    out2, aux = flex_attention(*args, block_mask=bm, return_aux=AuxRequest(lse=True))
    assert isinstance(aux, AuxOutput) and aux.max_scores is None
    np.testing.assert_allclose(host(aux.lse), tlse.numpy(), **TOL)
    np.testing.assert_allclose(host(out2), tout.numpy(), **TOL)
    # max_scores: PyTorch's CPU path refuses it; its definition (row max of the masked scores)
    _, aux = flex_attention(*args, block_mask=bm, return_aux=AuxRequest(True, True))
    s = np.einsum("bhle,bhse->bhls", q, k) / 2.0
    s = np.where(np.arange(6)[:, None] >= np.arange(7), s, -np.inf)
    np.testing.assert_allclose(host(aux.max_scores), s.max(-1), **TOL)
    with pytest.raises(ValueError, match="return_lse and return_aux"):
        flex_attention(*args, return_lse=True, return_aux=AuxRequest(lse=True))
    _grads_match(device, (q, k, v),
                 lambda *t: _out_lse(flex_attention(*t, block_mask=bm,
                                                    return_aux=AuxRequest(True))),
                 lambda *t: _torch_dense(*t, mask_mod=causal), lse=True)


def _warned():
    from tensorgrad.nn.attention import flex_attention as mod

    return mod._WARNED


def _out_lse(result):
    out, aux = result
    return out, aux.lse


def test_fully_masked_rows_give_zero_and_minus_inf(device, rng):
    torch, _ = _torch()

    def late(b, h, q, kv):  # rows 0 and 1 keep nothing
        return (q >= 2) & (kv <= q)

    q, k, v = _qkv(rng)
    tout, tlse = _torch_flex(q, k, v, mask_mod=late, B=2, H=2, return_lse=True)
    bm = create_block_mask(late, 2, 2, 6, 7, device=device, BLOCK_SIZE=4)
    args = [tg.tensor(put(a, device)) for a in (q, k, v)]
    out, aux = flex_attention(*args, block_mask=bm, return_aux=AuxRequest(True, True))
    o, lse = host(out), host(aux.lse)
    assert not np.isnan(o).any() and (o[:, :, :2] == 0).all()
    assert np.isneginf(lse[:, :, :2]).all() and np.isneginf(host(aux.max_scores)[:, :, :2]).all()
    np.testing.assert_allclose(o, tout.numpy(), **TOL)
    np.testing.assert_allclose(lse, tlse.numpy(), **TOL)
    _grads_match(device, (q, k, v),
                 lambda *t: _out_lse(flex_attention(*t, block_mask=bm,
                                                    return_aux=AuxRequest(True))),
                 lambda *t: _torch_dense(*t, mask_mod=late), lse=True)


def test_score_mod_minus_inf_rows(device, rng):
    """A score_mod that masks (returns -inf) a whole row: zeros, as PyTorch's safe softmax."""
    torch, _ = _torch()

    def mod(lib):
        def m(score, b, h, q, kv):
            return lib.where(q >= 3, score, -float("inf"))
        return m

    q, k, v = _qkv(rng)
    ref = _torch_flex(q, k, v, score_mod=mod(torch))
    out = flex_attention(*(tg.tensor(put(a, device)) for a in (q, k, v)), score_mod=mod(tg))
    np.testing.assert_allclose(host(out), ref.numpy(), **TOL)
    _grads_match(device, (q, k, v), lambda *t: flex_attention(*t, score_mod=mod(tg)),
                 lambda *t: _torch_dense(*t, score_mod=mod(torch)))


def test_float32_stays_float32_and_float16_computes_in_float32(device, rng):
    q, k, v = _qkv(rng)
    ref = _torch_flex(q, k, v, score_mod=softcap(_torch()[0], 2.0), mask_mod=causal, B=2, H=2)
    bm = create_block_mask(causal, 2, 2, 6, 7, device=device, BLOCK_SIZE=4)
    for dt, tol in ((np.float32, 1e-5), (np.float16, 2e-2)):
        args = [tg.tensor(put(a.astype(dt), device), requires_grad=True) for a in (q, k, v)]
        out, aux = flex_attention(*args, score_mod=softcap(tg, 2.0), block_mask=bm,
                                  return_aux=AuxRequest(lse=True))
        assert out.dtype == dt and aux.lse.dtype == np.float32
        np.testing.assert_allclose(host(out).astype(float), ref.numpy(), rtol=tol, atol=tol)
        out.sum().backward()
        assert all(a.grad.dtype == dt for a in args)


# ---- block masks -------------------------------------------------------------------------------
BLOCK_CASES = [
    ("causal", causal, 2, 3, 10, 13, 4, True),
    ("causal-None", causal, None, None, 9, 9, 4, True),
    ("window", lambda b, h, q, kv: (q - kv <= 3) & (q >= kv), 1, 2, 17, 17, (4, 8), True),
    ("batch-head", lambda b, h, q, kv: (kv + b + h) % 3 != 0, 2, 2, 11, 7, 3, True),
    ("prefix-nofull", lambda b, h, q, kv: (kv < 5) | (q >= kv), None, 2, 12, 12, 4, False),
    ("nothing", lambda b, h, q, kv: q < 0, 1, 1, 5, 9, 4, True),
    ("default-block", causal, 1, 1, 300, 260, 128, True),
]


@pytest.mark.parametrize("case", BLOCK_CASES, ids=[c[0] for c in BLOCK_CASES])
def test_block_mask_tensors_equal_torchs(device, case):
    torch, tfa = _torch()
    _, mod, B, H, L, S, block, sep = case
    ours = create_block_mask(mod, B, H, L, S, device=device, BLOCK_SIZE=block,
                             separate_full_blocks=sep)
    theirs = tfa.create_block_mask(mod, B, H, L, S, device="cpu", BLOCK_SIZE=block,
                                   separate_full_blocks=sep)
    for name in BlockMask._TENSOR_ATTRS:
        a, b = getattr(ours, name), getattr(theirs, name)
        assert (a is None) == (b is None), name
        if a is not None:
            assert a.dtype == np.int32, name
            np.testing.assert_array_equal(host(a), b.numpy(), err_msg=name)
    assert ours.shape == tuple(theirs.shape)
    assert ours.BLOCK_SIZE == tuple(theirs.BLOCK_SIZE)
    assert ours.seq_lengths == tuple(theirs.seq_lengths)
    assert ours.sparsity() == pytest.approx(theirs.sparsity(), abs=1e-12)
    np.testing.assert_array_equal(host(ours.to_dense()), theirs.to_dense().numpy())
    assert ours.to_string() == theirs.to_string()
    assert str(ours) == str(theirs)
    dense = create_mask(mod, B, H, L, S, device=device)
    np.testing.assert_array_equal(host(dense), tfa.create_mask(mod, B, H, L, S, "cpu").numpy())


def test_block_mask_slicing_and_adjust_equal_torchs(device):
    torch, tfa = _torch()

    def mod(b, h, q, kv):
        return (q >= kv) | (h == 1)

    ours = create_block_mask(mod, 3, 2, 16, 16, device=device, BLOCK_SIZE=4)
    theirs = tfa.create_block_mask(mod, 3, 2, 16, 16, device="cpu", BLOCK_SIZE=4)
    for index in (0, (1, 1), (slice(0, 2), slice(1, 2)), -1, (slice(None), 0, slice(1, 3))):
        a, b = ours[index], theirs[index]
        for name in BlockMask._TENSOR_ATTRS:
            x, y = getattr(a, name), getattr(b, name)
            np.testing.assert_array_equal(host(x), y.numpy(), err_msg=f"{index} {name}")
        assert a.shape == tuple(b.shape)
    with pytest.raises(RuntimeError, match="sliced BlockMask"):
        flex_attention(*(tg.zeros(1, 2, 16, 4, device=device) for _ in range(3)),
                       block_mask=ours[0])
    a, b = ours._adjust(9, 11), theirs._adjust(9, 11)
    for name in BlockMask._TENSOR_ATTRS:
        np.testing.assert_array_equal(host(getattr(a, name)), getattr(b, name).numpy())
    assert a.shape == tuple(b.shape)


def test_block_mask_repr_to_and_from_kv_blocks(device):
    torch, tfa = _torch()
    bm = create_block_mask(causal, 1, 1, 8, 8, device="cpu", BLOCK_SIZE=4)
    text = repr(bm)
    assert "kv_num_blocks=(1, 1, 2)" in text and "mask_mod=causal" in text
    moved = bm.to(device)
    assert moved.kv_indices.device == tg.zeros(1, device=device).device
    np.testing.assert_array_equal(host(moved.q_indices), host(bm.q_indices))
    # hand-made lists: Q block 0 attends to KV block 1 only, Q block 1 to both (noop mask_mod)
    num = np.array([[[1, 2]]], dtype=np.int32)
    idx = np.array([[[[1, 0], [0, 1]]]], dtype=np.int32)
    ours = BlockMask.from_kv_blocks(tg.tensor(put(num, device)), tg.tensor(put(idx, device)),
                                    BLOCK_SIZE=4)
    theirs = tfa.BlockMask.from_kv_blocks(torch.tensor(num), torch.tensor(idx), BLOCK_SIZE=4)
    for name in ("q_num_blocks", "q_indices"):
        np.testing.assert_array_equal(host(getattr(ours, name)), getattr(theirs, name).numpy())
    assert ours.shape == (1, 1, 8, 8) and ours.mask_mod is noop_mask
    # the kept entries are the listed blocks (the kernels' rule)
    rng = np.random.default_rng(3)
    q, k, v = _qkv(rng, B=1, Hq=1, L=8, S=8)
    out = flex_attention(*(tg.tensor(put(a, device)) for a in (q, k, v)), block_mask=ours)
    keep = np.kron(np.array([[0, 1], [1, 1]]), np.ones((4, 4))).astype(bool)
    s = np.where(keep, q[0, 0] @ k[0, 0].T / 2.0, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    np.testing.assert_allclose(host(out)[0, 0], (p / p.sum(-1, keepdims=True)) @ v[0, 0], **TOL)
    if device != "cpu":  # a host mask with device tensors: a clear error, not a silent copy
        with pytest.raises(RuntimeError, match="block_mask must be on one device|one device"):
            flex_attention(*(tg.tensor(put(a, device)) for a in (q, k, v)), block_mask=bm)


def test_block_mask_batch_head_broadcast(device, rng):
    """A mask made for B = H = 1 serves every batch and head (mask_mod sees the real b, h)."""
    q, k, v = _qkv(rng)
    bm1 = create_block_mask(causal, None, None, 6, 7, device=device, BLOCK_SIZE=4)
    bm2 = create_block_mask(causal, 2, 2, 6, 7, device=device, BLOCK_SIZE=4)
    args = [tg.tensor(put(a, device)) for a in (q, k, v)]
    np.testing.assert_array_equal(host(flex_attention(*args, block_mask=bm1)),
                                  host(flex_attention(*args, block_mask=bm2)))


def test_create_mask_of_score_mod_and_noop(device):
    torch, tfa = _torch()

    def sm(score, b, h, q, kv):
        return tg.where(kv > q, -float("inf"), score) if isinstance(score, tg.Tensor) \
            else torch.where(kv > q, -float("inf"), score)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = tfa.create_mask(sm, 1, 2, 4, 5, "cpu").numpy()
    np.testing.assert_array_equal(host(create_mask(sm, 1, 2, 4, 5, device=device)), want)
    assert host(create_mask(noop_mask, 1, 1, 2, 3, device=device)).all()
    assert set(FlexKernelOptions.__annotations__) >= {"BLOCK_M", "PRESCALE_QK", "BACKEND"}


# ---- derivatives to second order --------------------------------------------------------------
def test_second_order_qkv_and_captured_bias(device, rng):
    q, k, v = _qkv(rng, B=1, Hq=2, Hkv=1, L=3, S=4, E=2, Ev=2)
    table = tg.tensor(put(rng.standard_normal((2, 7)), device))
    mask = or_masks(causal, prefix(1))
    bm = create_block_mask(mask, 1, None, 3, 4, device=device, BLOCK_SIZE=2)

    def f(q, k, v, table):
        out, aux = flex_attention(q, k, v, score_mod=relative(table, 4), block_mask=bm,
                                  enable_gqa=True, return_aux=AuxRequest(lse=True))
        return (out * out).sum() + (aux.lse * aux.lse).sum()

    args = [tg.tensor(put(a, device)) for a in (q, k, v)] + [table]
    tg.check_grads(f, modes=("fwd", "rev"), order=2)(*args)


def test_second_order_softcap_with_empty_row(device, rng):
    q, k, v = _qkv(rng, B=1, Hq=1, L=3, S=3, E=2, Ev=2)

    def late(b, h, qi, kv):
        return (qi >= 1) & (kv <= qi)

    bm = create_block_mask(late, 1, 1, 3, 3, device=device, BLOCK_SIZE=2)

    def f(q, k, v):
        return flex_attention(q, k, v, score_mod=softcap(tg, 1.5), block_mask=bm)

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(*(tg.tensor(put(a, device))
                                                       for a in (q, k, v)))


# ---- bad input -------------------------------------------------------------------------------
def test_bad_input_errors(device):
    z = lambda *s: tg.zeros(*s, device=device, dtype=tg.float64)  # noqa: E731
    q, k, v = z(1, 2, 4, 8), z(1, 2, 5, 8), z(1, 2, 5, 3)
    with pytest.raises(ValueError, match=r"flex_attention: query \(1, 2, 4, 8\) and key "
                                         r"\(1, 2, 5, 6\).*embedding"):
        flex_attention(q, z(1, 2, 5, 6), v)
    with pytest.raises(ValueError, match=r"flex_attention: query .* heads.*enable_gqa"):
        flex_attention(q, z(1, 1, 5, 8), z(1, 1, 5, 3))
    with pytest.raises(ValueError, match=r"flex_attention: with enable_gqa.*\(3, query"):
        flex_attention(z(1, 3, 4, 8), k, v, enable_gqa=True)
    with pytest.raises(ValueError, match=r"flex_attention: query must be 4-D.*\(4, 8\)"):
        flex_attention(z(4, 8), k, v)
    with pytest.raises(ValueError, match=r"key \(1, 2, 5, 8\) and value \(1, 2, 6, 3\)"):
        flex_attention(q, k, z(1, 2, 6, 3))
    with pytest.raises(ValueError, match=r"same batch size"):
        flex_attention(z(2, 2, 4, 8), k, v)
    with pytest.raises(TypeError, match=r"flex_attention: score_mod must take 5 .*of 4"):
        flex_attention(q, k, v, score_mod=causal)
    with pytest.raises(TypeError, match=r"create_block_mask: mask_mod must take 4 .*of 5"):
        create_block_mask(lambda s, b, h, q, kv: s, 1, 1, 4, 5, device=device)
    bm = create_block_mask(causal, 1, 1, 4, 6, device=device, BLOCK_SIZE=2)
    with pytest.raises(ValueError, match=r"block_mask.shape=\(1, 1, 4, 6\).*kv_len=5"):
        flex_attention(q, k, v, block_mask=bm)
    bm = create_block_mask(causal, 1, 3, 4, 5, device=device, BLOCK_SIZE=2)
    with pytest.raises(ValueError, match=r"3 heads.*query \(1, 2, 4, 8\) has 2"):
        flex_attention(q, k, v, block_mask=bm)
    with pytest.raises(ValueError, match=r"score_mod returned shape \(3,\)"):
        flex_attention(q, k, v, score_mod=lambda s, b, h, qi, kv: tg.zeros(3, device=device))
    with pytest.raises(TypeError, match="block_mask must be a BlockMask"):
        flex_attention(q, k, v, block_mask=tg.ones(4, 5, dtype=tg.bool))


# ---- a transformer block trained with flex_attention -------------------------------------------
def test_transformer_block_trains_like_torch(device, rng):
    """Three SGD steps of a pre-norm block (RMS-free LayerNorm, causal + sliding-window flex
    attention with a learnable per-head ALiBi-style bias, MLP) equal the same program under
    PyTorch (attention written densely, torch's flex_attention has no CPU backward)."""
    torch, _ = _torch()
    D, Hh, L, B = 8, 2, 6, 2
    E = D // Hh
    params = {"wqkv": rng.standard_normal((3 * D, D)) * 0.3, "wo": rng.standard_normal((D, D))
              * 0.3, "w1": rng.standard_normal((16, D)) * 0.3, "w2": rng.standard_normal(
                  (D, 16)) * 0.3, "slopes": rng.standard_normal(Hh) * 0.5}
    x = rng.standard_normal((B, L, D))
    y = rng.standard_normal((B, L, D))
    mask = and_masks(causal, window(3))

    def block(lib, p, x, attend):
        h = lib.nn.functional.layer_norm(x, (D,))
        qkv = h @ p["wqkv"].T
        q, k, v = (qkv[..., i * D:(i + 1) * D].reshape(B, L, Hh, E).permute(0, 2, 1, 3)
                   for i in range(3))
        a = attend(q, k, v, alibi(p["slopes"]))
        x = x + a.permute(0, 2, 1, 3).reshape(B, L, D) @ p["wo"].T
        return x + lib.tanh(lib.nn.functional.layer_norm(x, (D,)) @ p["w1"].T) @ p["w2"].T

    def run(lib, put_fn, attend):
        p = {n: put_fn(a) for n, a in params.items()}
        xs, ys = put_fn(x, False), put_fn(y, False)
        losses = []
        for _ in range(3):
            loss = ((block(lib, p, xs, attend) - ys) ** 2).mean()
            loss.backward()
            with lib.no_grad():
                for t in p.values():
                    t -= 0.5 * t.grad
                    t.grad = None
            losses.append(loss.item())
        return losses, {n: t for n, t in p.items()}

    bm = create_block_mask(mask, None, None, L, L, device=device, BLOCK_SIZE=4)
    ours, p_ours = run(tg, lambda a, g=True: tg.tensor(put(a, device), requires_grad=g),
                       lambda q, k, v, sm: flex_attention(q, k, v, score_mod=sm, block_mask=bm))
    theirs, p_theirs = run(
        torch, lambda a, g=True: torch.tensor(a, requires_grad=g),
        lambda q, k, v, sm: _torch_dense(q, k, v, score_mod=sm,
                                         mask_mod=lambda b, h, qi, kv: (qi >= kv)
                                         & (qi - kv <= 3))[0])
    np.testing.assert_allclose(ours, theirs, **TOL)
    assert ours[-1] < ours[0]
    for n in params:
        np.testing.assert_allclose(host(p_ours[n]), p_theirs[n].detach().numpy(), **TOL)
