"""One training step of a TransformerEncoderLayer: tensorgrad against PyTorch eager on the CPU.

Batch 32, sequence 128, width 128, 4 heads, feed-forward width 512 (4 x width, the usual
ratio; PyTorch's default 2048 would make it a benchmark of the feed-forward matmuls),
batch_first, dropout 0, float32. A step is the forward pass, an MSE loss against a fixed
target, the backward pass and an AdamW step, written the way a PyTorch user writes it. Both
start from the same weights and are checked for equal losses and gradients first (also under
--benchmark-only). Target: tensorgrad / torch <= 1.0.
"""

import numpy as np
import pytest

import tensorgrad as tg
import tensorgrad.nn.functional as F

BATCH, SEQ, WIDTH, HEADS, FF = 32, 128, 128, 4, 512


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, SEQ, WIDTH)).astype(np.float32)
    y = rng.standard_normal((BATCH, SEQ, WIDTH)).astype(np.float32)
    return x, y


def torch_layer(torch):
    torch.manual_seed(0)
    return torch.nn.TransformerEncoderLayer(WIDTH, HEADS, FF, dropout=0.0, batch_first=True)


def tensorgrad_layer(torch):
    """A tensorgrad layer holding a copy of ``torch_layer``'s initial weights."""
    layer = tg.nn.TransformerEncoderLayer(WIDTH, HEADS, FF, dropout=0.0, batch_first=True)
    layer.load_state_dict({k: v.detach().numpy() for k, v in
                           torch_layer(torch).state_dict().items()})
    return layer


def tensorgrad_step(layer, opt, x, y):
    opt.zero_grad()
    loss = F.mse_loss(layer(x), y)
    loss.backward()
    opt.step()
    return loss


def torch_step(torch, layer, opt, x, y):
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(layer(x), y)
    loss.backward()
    opt.step()
    return loss


def setups(torch):
    x, y = make_data()
    ours = tensorgrad_layer(torch)
    theirs = torch_layer(torch)
    return ((ours, tg.optim.AdamW(ours.parameters(), lr=1e-3), tg.tensor(x), tg.tensor(y)),
            (theirs, torch.optim.AdamW(theirs.parameters(), lr=1e-3), torch.from_numpy(x),
             torch.from_numpy(y)))


def check_against_torch(torch):
    """Two steps from the same weights: equal losses (float32 tolerance) and equal gradients
    of every parameter on the first step."""
    (ours, opt, x, y), (theirs, topt, tx, ty) = setups(torch)
    for step in range(2):
        loss = tensorgrad_step(ours, opt, x, y)
        ref = torch_step(torch, theirs, topt, tx, ty)
        np.testing.assert_allclose(loss.item(), ref.item(), rtol=1e-5, err_msg=f"step {step}")
        if step == 0:
            grads = dict(ours.named_parameters())
            for name, p in theirs.named_parameters():
                np.testing.assert_allclose(grads[name].grad.numpy(), p.grad.numpy(),
                                           rtol=1e-3, atol=1e-5, err_msg=name)


def test_transformer_matches_torch():
    check_against_torch(pytest.importorskip("torch"))


def test_transformer_tensorgrad(benchmark, record, paired):
    torch = pytest.importorskip("torch")
    check_against_torch(torch)  # a wrong fast answer is no result
    (layer, opt, x, y), (theirs, topt, tx, ty) = setups(torch)
    benchmark.group = "transformer"
    loss = benchmark(tensorgrad_step, layer, opt, x, y)
    assert np.isfinite(loss.item())
    record("transformer", "tensorgrad step", fn=tensorgrad_step, args=(layer, opt, x, y))
    paired("transformer", "tensorgrad step", lambda: tensorgrad_step(layer, opt, x, y),
           "torch step", lambda: torch_step(torch, theirs, topt, tx, ty), pairs=30)


def test_transformer_torch(benchmark, record):
    torch = pytest.importorskip("torch")
    _, (layer, opt, x, y) = setups(torch)
    benchmark.group = "transformer"
    loss = benchmark(torch_step, torch, layer, opt, x, y)
    assert np.isfinite(loss.item())
    record("transformer", "torch step", fn=torch_step, args=(torch, layer, opt, x, y))
