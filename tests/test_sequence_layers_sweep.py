"""RNN/LSTM/GRU (layers, directions, batch_first, bias, proj_size, nonlinearity, unbatched,
cells), MultiheadAttention (kdim/vdim, bias, add_bias_kv, add_zero_attn, bool/float/causal
masks, key padding, weights averaged or not), Transformer encoder/decoder layers (norm_first,
activations, masks) and scaled_dot_product_attention (GQA, masks, causal, scale): random
configurations with PyTorch's parameters copied in, outputs and the gradients of inputs and
parameters against PyTorch's."""

import random

import numpy as np
import pytest

import tensorgrad as tg

torch = pytest.importorskip("torch")


class _Call:
    """A module of either library and how to call it (``call(L, module, *inputs)``)."""

    def __init__(self, L, build, call):
        self.L, self.m, self.call = L, build(L), call

    def __call__(self, *inputs):
        return self.call(self.L, self.m, *inputs)


def _flat(out):
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flat(o)]
    return [] if out is None else [out]


def _weights(L, o):
    return L.tensor(np.cos(np.arange(o.numel())).reshape(tuple(o.shape)))


def _run(L, build, call, inputs):
    mod = _Call(L, build, call)
    if L is tg:
        sd = _run.torch_state
        mod.m.load_state_dict({k: tg.tensor(v.detach().numpy()) for k, v in sd.items()})
    else:
        _run.torch_state = mod.m.state_dict()
    xs = [L.tensor(a, requires_grad=True) for a in inputs]
    outs = [o for o in _flat(mod(*xs)) if o.dtype in (np.float64, torch.float64)]
    sum((o * _weights(L, o)).sum() for o in outs).backward()
    grads = [x.grad for x in xs] + [p.grad for _, p in mod.m.named_parameters()]
    return ([o.detach().numpy() for o in outs],
            [None if g is None else g.numpy() for g in grads],
            [n for n, _ in mod.m.named_parameters()])


def _rnn_cases(rnd, rng):
    cases = []
    for _ in range(24):
        kind = rnd.choice(["RNN", "LSTM", "GRU"])
        kw = {"num_layers": rnd.choice([1, 2]), "bidirectional": rnd.choice([False, True]),
              "batch_first": rnd.choice([False, True]), "bias": rnd.choice([True, False])}
        if kind == "LSTM" and rnd.random() < 0.5:
            kw["proj_size"] = 2
        if kind == "RNN":
            kw["nonlinearity"] = rnd.choice(["tanh", "relu"])
        x = rng.standard_normal((2, 5, 3) if kw["batch_first"] else (5, 2, 3))
        cases.append((f"{kind} {kw}",
                      lambda L, kind=kind, kw=kw: getattr(L.nn, kind)(3, 4, dtype=L.float64,
                                                                     **kw),
                      lambda L, m, x: m(x), [x]))
    for kind, kw in (("LSTM", {}), ("GRU", {"bidirectional": True})):
        cases.append((f"{kind} unbatched {kw}",
                      lambda L, kind=kind, kw=kw: getattr(L.nn, kind)(3, 4, dtype=L.float64,
                                                                     **kw),
                      lambda L, m, x: m(x), [rng.standard_normal((5, 3))]))
    for cell in ("RNNCell", "LSTMCell", "GRUCell"):
        cases.append((cell, lambda L, c=cell: getattr(L.nn, c)(3, 4, dtype=L.float64),
                      lambda L, m, x: m(x), [rng.standard_normal((2, 3))]))
    return cases


def _attention_cases(rnd, rng):
    cases = []
    for _ in range(20):
        e, heads, bf = rnd.choice([4, 6]), rnd.choice([1, 2]), rnd.choice([True, False])
        kdim = rnd.choice([None, 5])
        kw = {"bias": rnd.choice([True, False]), "add_bias_kv": rnd.choice([False, True]),
              "add_zero_attn": rnd.choice([False, True]), "kdim": kdim, "vdim": kdim,
              "batch_first": bf}
        mask_kind, use_kp = rnd.choice([None, "bool", "float", "causal"]), rnd.random() < 0.5
        call_kw = {"need_weights": rnd.choice([True, False]),
                   "average_attn_weights": rnd.choice([True, False])}
        am = None
        if mask_kind == "bool":
            am = rng.random((3, 4)) < 0.3
            am[:, 0] = False
        elif mask_kind == "float":
            am = rng.standard_normal((3, 4))
        elif mask_kind == "causal":
            am = np.triu(np.ones((3, 4), bool), 1)
        kp = rng.random((2, 4)) < 0.3
        kp[:, 0] = False
        kp = kp if use_kp else None

        def call(L, m, q, k, v, am=am, kp=kp, call_kw=call_kw):
            return m(q, k, v, attn_mask=None if am is None else L.tensor(am),
                     key_padding_mask=None if kp is None else L.tensor(kp), **call_kw)

        def shape(n, d, bf=bf):
            return (2, n, d) if bf else (n, 2, d)

        cases.append((f"MultiheadAttention e{e} h{heads} {kw} mask {mask_kind} kp {use_kp} "
                      f"{call_kw}",
                      lambda L, e=e, heads=heads, kw=kw: L.nn.MultiheadAttention(
                          e, heads, dtype=L.float64, **kw), call,
                      [rng.standard_normal(shape(3, e)), rng.standard_normal(shape(4, kdim or e)),
                       rng.standard_normal(shape(4, kdim or e))]))
    for _ in range(16):
        kind, bf = rnd.choice(["Encoder", "Decoder"]), rnd.choice([True, False])
        kw = {"dropout": 0.0, "activation": rnd.choice(["relu", "gelu"]), "batch_first": bf,
              "norm_first": rnd.choice([True, False]), "bias": rnd.choice([True, False])}
        causal, use_kp = rnd.random() < 0.5, rnd.random() < 0.5
        kp = rng.random((2, 4)) < 0.3
        kp[:, 0] = False

        def call(L, m, src, tgt, kind=kind, causal=causal, kp=kp if use_kp else None):
            n = 4 if kind == "Encoder" else 3
            mask = L.nn.Transformer.generate_square_subsequent_mask(
                n, dtype=L.float64) if causal else None
            pad = None if kp is None else L.tensor(kp)
            if kind == "Encoder":
                return m(src, src_mask=mask, src_key_padding_mask=pad)
            return m(tgt, src, tgt_mask=mask, memory_key_padding_mask=pad)

        cases.append((f"Transformer{kind}Layer {kw} causal {causal} kp {use_kp}",
                      lambda L, kind=kind, kw=kw: getattr(L.nn, f"Transformer{kind}Layer")(
                          8, 2, 16, dtype=L.float64, **kw), call,
                      [rng.standard_normal((2, 4, 8) if bf else (4, 2, 8)),
                       rng.standard_normal((2, 3, 8) if bf else (3, 2, 8))]))
    for _ in range(20):
        h = rnd.choice([2, 4])
        hk = rnd.choice([4, 1, 2]) if h == 4 else h
        s, ev = rnd.choice([3, 5]), rnd.choice([4, 6])
        mask_kind = rnd.choice([None, "bool", "float"])
        causal = rnd.random() < 0.5 if mask_kind is None else False
        scale = rnd.choice([None, 0.3])
        am = None
        if mask_kind == "bool":
            am = rng.random((3, s)) < 0.3
            am[:, 0] = False
        elif mask_kind == "float":
            am = rng.standard_normal((2, 1, 3, s))

        def call(L, m, q, k, v, am=am, causal=causal, scale=scale, gqa=hk != h):
            return L.nn.functional.scaled_dot_product_attention(
                q, k, v, attn_mask=None if am is None else L.tensor(am), is_causal=causal,
                scale=scale, enable_gqa=gqa)

        cases.append((f"sdpa h{h} hk{hk} s{s} mask {mask_kind} causal {causal} scale {scale}",
                      lambda L: L.nn.Identity(), call,
                      [rng.standard_normal((2, h, 3, 4)), rng.standard_normal((2, hk, s, 4)),
                       rng.standard_normal((2, hk, s, ev))]))
    return cases


CASES = _rnn_cases(random.Random(1), np.random.default_rng(1)) + _attention_cases(
    random.Random(2), np.random.default_rng(2))


@pytest.mark.parametrize("i", range(len(CASES)), ids=[c[0] for c in CASES])
def test_layer_matches_torch(i):
    _, build, call, inputs = CASES[i]
    want_out, want_grads, want_names = _run(torch, build, call, inputs)
    out, grads, names = _run(tg, build, call, inputs)
    assert names == want_names
    assert len(out) == len(want_out) > 0
    for g, t in zip(out, want_out):
        np.testing.assert_allclose(g, t, rtol=1e-6, atol=1e-8)
    for name, g, t in zip(["input"] * len(inputs) + names, grads, want_grads):
        assert (g is None) == (t is None), name
        if t is not None:
            np.testing.assert_allclose(g, t, rtol=1e-6, atol=1e-8, err_msg=name)
