"""nn.TransformerDecoderLayer, nn.TransformerDecoder and nn.Transformer on every device: values
and gradients (inputs and every parameter) against PyTorch CPU in float64 with copied weights,
for every option; second-order derivatives; parameter names, shapes and initialisation;
the causal mask; custom encoder/decoder; dropout; errors; a decoder that learns."""

import math
import re

import numpy as np
import pytest
from devices import fit, host, on, put
from nn_helpers import check_backward, compare_params, copy_weights, leaf

import tensorgrad as tg

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")  # PyTorch's own
F = tg.nn.functional
D, HEADS, FF = 8, 2, 16


def _masks(fopts, n, length, s, rng):
    """The masks a case asks for, as NumPy arrays (bool: True = masked out)."""
    out = {}
    if fopts.get("tgt_mask") == "causal":
        out["tgt_mask"] = np.triu(np.ones((length, length), bool), 1)
    elif fopts.get("tgt_mask") == "float":
        out["tgt_mask"] = rng.standard_normal((length, length))
    if fopts.get("memory_mask"):
        out["memory_mask"] = rng.standard_normal((length, s))
    if fopts.get("padding"):
        kp = np.zeros((n, length), bool)
        kp[0, -2:] = True
        mp = np.zeros((n, s), bool)
        mp[1, -1] = True
        out["tgt_key_padding_mask"] = kp
        out["memory_key_padding_mask"] = mp
    return out


CASES = {  # name: (constructor options, forward options)
    "post_norm": ({}, {}),
    "norm_first": ({"norm_first": True}, {}),
    "batch_first_masks": ({"batch_first": True}, {"tgt_mask": "causal", "padding": True,
                                                   "tgt_is_causal": True}),
    "float_masks": ({}, {"tgt_mask": "float", "memory_mask": True}),
    "gelu_norm_first": ({"activation": "gelu", "norm_first": True}, {"padding": True}),
    "callable_activation": ({"activation": "tanh"}, {}),
    "no_bias": ({"bias": False}, {"tgt_mask": "causal"}),
    "unbatched": ({}, {"unbatched": True, "tgt_mask": "causal"}),
}


def _inputs(copts, fopts, n, length, s, rng):
    if fopts.get("unbatched"):
        return rng.standard_normal((length, D)), rng.standard_normal((s, D))
    if copts.get("batch_first"):
        return rng.standard_normal((n, length, D)), rng.standard_normal((n, s, D))
    return rng.standard_normal((length, n, D)), rng.standard_normal((s, n, D))


@pytest.mark.parametrize("name", sorted(CASES))
def test_decoder_layer_matches_torch(name, device, rng):
    copts, fopts = (dict(c) for c in CASES[name])
    n, length, s = 3, 5, 6
    torch.manual_seed(1)
    act = copts.pop("activation", "relu")
    act_t, act_r = (F.tanh, torch.tanh) if act == "tanh" else (act, act)
    ref = torch.nn.TransformerDecoderLayer(D, HEADS, FF, dropout=0.2, activation=act_r,
                                           dtype=torch.float64, **copts)
    mod = tg.nn.TransformerDecoderLayer(D, HEADS, FF, dropout=0.2, activation=act_t,
                                        device=device, dtype=np.float64, **copts)
    copy_weights(mod, ref, device)
    mod.eval()  # dropout > 0 in eval mode: the identity, as in PyTorch
    ref.eval()
    tgt, mem = _inputs(copts, fopts, n, length, s, rng)
    leaves = [(leaf(a, device), torch.tensor(a, requires_grad=True)) for a in (tgt, mem)]
    masks = _masks(fopts, n, length, s, rng)
    kw = {k: v for k, v in fopts.items() if k.endswith("_is_causal")}
    out = mod(leaves[0][0], leaves[1][0], **kw,
              **{k: tg.tensor(put(v, device)) for k, v in masks.items()})
    out_r = ref(leaves[0][1], leaves[1][1], **kw,
                **{k: torch.tensor(v) for k, v in masks.items()})
    check_backward([(out, out_r)], leaves, device, rng)
    compare_params(mod, ref)


def test_decoder_matches_torch(device, rng):
    n, length, s = 2, 5, 4
    torch.manual_seed(2)
    ref_layer = torch.nn.TransformerDecoderLayer(D, HEADS, FF, dropout=0.0, batch_first=True,
                                                 dtype=torch.float64)
    ref = torch.nn.TransformerDecoder(ref_layer, 2, norm=torch.nn.LayerNorm(
        D, dtype=torch.float64))
    layer = tg.nn.TransformerDecoderLayer(D, HEADS, FF, dropout=0.0, batch_first=True,
                                          device=device, dtype=np.float64)
    dec = tg.nn.TransformerDecoder(layer, 2, norm=tg.nn.LayerNorm(D, device=device,
                                                                  dtype=np.float64))
    copy_weights(dec, ref, device)
    tgt = rng.standard_normal((n, length, D))
    mem = rng.standard_normal((n, s, D))
    leaves = [(leaf(a, device), torch.tensor(a, requires_grad=True)) for a in (tgt, mem)]
    mask = tg.nn.Transformer.generate_square_subsequent_mask(length, device=device,
                                                             dtype=np.float64)
    mask_r = torch.nn.Transformer.generate_square_subsequent_mask(length, dtype=torch.float64)
    out = dec(leaves[0][0], leaves[1][0], tgt_mask=mask, tgt_is_causal=True)
    out_r = ref(leaves[0][1], leaves[1][1], tgt_mask=mask_r, tgt_is_causal=True)
    check_backward([(out, out_r)], leaves, device, rng)
    compare_params(dec, ref)


@pytest.mark.parametrize("opts", [{}, {"batch_first": True, "norm_first": True}])
def test_transformer_matches_torch(opts, device, rng):
    n, s, length = 2, 6, 4
    kw = dict(d_model=D, nhead=HEADS, num_encoder_layers=2, num_decoder_layers=1,
              dim_feedforward=FF, dropout=0.0, **opts)
    torch.manual_seed(3)
    ref = torch.nn.Transformer(dtype=torch.float64, **kw)
    mod = tg.nn.Transformer(device=device, dtype=np.float64, **kw)
    assert sorted((k, tuple(v.shape)) for k, v in mod.state_dict().items()) == \
        sorted((k, tuple(v.shape)) for k, v in ref.state_dict().items())
    copy_weights(mod, ref, device)
    bf = opts.get("batch_first", False)
    src = rng.standard_normal((n, s, D) if bf else (s, n, D))
    tgt = rng.standard_normal((n, length, D) if bf else (length, n, D))
    leaves = [(leaf(a, device), torch.tensor(a, requires_grad=True)) for a in (src, tgt)]
    pad = np.zeros((n, s), bool)
    pad[1, -2:] = True
    out = mod(leaves[0][0], leaves[1][0],
              tgt_mask=mod.generate_square_subsequent_mask(length, device=device,
                                                           dtype=np.float64),
              src_key_padding_mask=tg.tensor(put(pad, device)),
              memory_key_padding_mask=tg.tensor(put(pad, device)))
    out_r = ref(leaves[0][1], leaves[1][1],
                tgt_mask=ref.generate_square_subsequent_mask(length, dtype=torch.float64),
                src_key_padding_mask=torch.tensor(pad),
                memory_key_padding_mask=torch.tensor(pad))
    check_backward([(out, out_r)], leaves, device, rng)
    compare_params(mod, ref)


def test_decoder_layer_second_order(device, rng):
    layer = tg.nn.TransformerDecoderLayer(4, 2, 4, dropout=0.0, device=device,
                                          dtype=np.float64)
    tgt = put(rng.standard_normal((3, 1, 4)), device)
    mem = put(rng.standard_normal((2, 1, 4)), device)
    mask = tg.nn.Transformer.generate_square_subsequent_mask(3, device=device,
                                                             dtype=np.float64)

    def f(tgt, mem):
        tgt, mem = (v if isinstance(v, tg.Tensor) else tg.tensor(v) for v in (tgt, mem))
        return layer(tgt, mem, tgt_mask=mask)

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(tgt, mem)


def test_square_subsequent_mask(device):
    m = tg.nn.Transformer.generate_square_subsequent_mask(4, device=device)
    ref = torch.nn.Transformer.generate_square_subsequent_mask(4)
    assert on(m, device) and m.dtype == np.float32 and not m.requires_grad
    np.testing.assert_array_equal(host(m), ref.numpy())
    m64 = tg.nn.Transformer.generate_square_subsequent_mask(2, device=device, dtype=np.float64)
    assert m64.dtype == np.float64 and host(m64).tolist() == [[0.0, -math.inf], [0.0, 0.0]]


def test_layout_repr_and_init():
    ours = tg.nn.Transformer(16, 4, 2, 2, 32)
    theirs = torch.nn.Transformer(16, 4, 2, 2, 32)
    assert sorted((k, tuple(v.shape)) for k, v in ours.state_dict().items()) == \
        sorted((k, tuple(v.shape)) for k, v in theirs.state_dict().items())
    assert (ours.d_model, ours.nhead, ours.batch_first) == (16, 4, False)

    def layout(m):  # Dropout's own repr is not this module's business
        return re.sub(r"Dropout\(.*\)", "Dropout", repr(m))

    layer = tg.nn.TransformerDecoderLayer(16, 4, 32)
    assert layout(layer) == layout(torch.nn.TransformerDecoderLayer(16, 4, 32))
    # every matrix xavier_uniform_: within +-sqrt(6 / (fan_in + fan_out)), spread as such
    for name, p in ours.named_parameters():
        a = host(p)
        if a.ndim > 1:
            bound = math.sqrt(6.0 / sum(a.shape))
            assert np.abs(a).max() <= bound, name
            assert abs(a.std() - bound / math.sqrt(3)) < 0.2 * bound, name
    # the decoder's layers are independent copies
    first, second = ours.decoder.layers
    assert first.linear1.weight is not second.linear1.weight
    assert not np.array_equal(host(first.linear1.weight), host(second.linear1.weight))


def test_custom_encoder_and_decoder(device, rng):
    enc = tg.nn.TransformerEncoder(tg.nn.TransformerEncoderLayer(D, HEADS, FF, device=device),
                                   1)
    dec = tg.nn.TransformerDecoder(tg.nn.TransformerDecoderLayer(D, HEADS, FF, device=device),
                                   1)
    model = tg.nn.Transformer(D, HEADS, custom_encoder=enc, custom_decoder=dec, device=device)
    assert model.encoder is enc and model.decoder is dec
    assert len(list(model.parameters())) == len(list(enc.parameters())) + \
        len(list(dec.parameters()))
    model.eval()
    src = tg.tensor(put(rng.standard_normal((5, 2, D)).astype(np.float32), device))
    tgt = tg.tensor(put(rng.standard_normal((3, 2, D)).astype(np.float32), device))
    out = model(src, tgt)
    np.testing.assert_allclose(host(out), host(dec(tgt, enc(src))), rtol=1e-6, atol=1e-6)


def test_dropout_in_training(device, rng):
    layer = tg.nn.TransformerDecoderLayer(D, HEADS, FF, dropout=0.5, device=device,
                                          dtype=np.float64)
    tgt = tg.tensor(put(rng.standard_normal((4, 2, D)), device))
    mem = tg.tensor(put(rng.standard_normal((3, 2, D)), device))
    train = host(layer(tgt, mem))
    layer.eval()
    a, b = host(layer(tgt, mem)), host(layer(tgt, mem))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(train, a)


def test_errors(device):
    model = tg.nn.Transformer(D, HEADS, 1, 1, FF, device=device)
    x = tg.tensor(put(np.zeros((5, 2, D), np.float32), device))
    with pytest.raises(RuntimeError, match=r"the batch number of src and tgt must be equal, "
                                           r"got src \(5, 2, 8\) and tgt \(5, 3, 8\)"):
        model(x, tg.tensor(put(np.zeros((5, 3, D), np.float32), device)))
    with pytest.raises(RuntimeError, match=r"feature number of src and tgt must be equal to "
                                           r"d_model=8"):
        model(x, tg.tensor(put(np.zeros((5, 2, 4), np.float32), device)))
    with pytest.raises(ValueError, match="TransformerDecoderLayer: activation should be "
                                         "relu/gelu, not 'swish'"):
        tg.nn.TransformerDecoderLayer(D, HEADS, activation="swish")


def test_decoder_learns_to_copy(device, rng):
    """A one-layer decoder attending to the memory learns to output it (float32)."""
    tg.manual_seed(0)
    layer = tg.nn.TransformerDecoderLayer(D, HEADS, FF, dropout=0.0, batch_first=True,
                                          device=device)
    dec = tg.nn.TransformerDecoder(layer, 1)
    mem = tg.tensor(put(rng.standard_normal((4, 5, D)).astype(np.float32), device))
    tgt = tg.tensor(put(rng.standard_normal((4, 5, D)).astype(np.float32), device))
    opt = tg.optim.Adam(dec.parameters(), lr=1e-2)
    losses = fit(lambda t: dec(t, mem), opt, F.mse_loss, tgt, mem, 40)
    assert losses[-1] < 0.5 * losses[0], losses[::8]
