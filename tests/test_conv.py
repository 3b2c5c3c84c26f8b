"""Convolution and pooling: values and gradients against PyTorch, second order, a small CNN."""

import numpy as np
import pytest
from devices import host, on, put

import tensorgrad as tg
import tensorgrad.nn.functional as F

RNG = np.random.default_rng(0)
CONV_CASES = [  # stride, padding, dilation, groups
    (1, 0, 1, 1), (2, 1, 1, 1), (1, 2, 2, 1), (2, 1, 1, 2), ((2, 1), (1, 0), 1, 1),
    ((1, 2), (2, 1), (2, 1), 4), (3, 0, 1, 1),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("stride,padding,dilation,groups", CONV_CASES)
def test_conv2d_matches_torch(stride, padding, dilation, groups, dtype, device):
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((2, 4, 9, 8))
    w = RNG.standard_normal((8, 4 // groups, 3, 2))
    b = RNG.standard_normal(8)
    ts = [tg.tensor(put(a.astype(dtype), device), requires_grad=True) for a in (x, w, b)]
    out = F.conv2d(*ts, stride, padding, dilation, groups)
    assert on(out, device) and out.dtype == dtype
    rs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    ref = torch.nn.functional.conv2d(*rs, stride=stride, padding=padding, dilation=dilation,
                                     groups=groups)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(host(out), ref.detach().numpy(), **tol)
    v = RNG.standard_normal(out.shape)
    out.backward(tg.tensor(put(v.astype(dtype), device)))
    ref.backward(torch.tensor(v))
    for t, r in zip(ts, rs, strict=True):
        assert on(t.grad, device) and t.grad.dtype == dtype
        np.testing.assert_allclose(host(t.grad), r.grad.numpy(), **tol)


POOLS = {
    "max": (lambda a: F.max_pool2d(a, 3, 2, 1),
            lambda tF, a: tF.max_pool2d(a, 3, 2, 1)),
    "max_rect": (lambda a: F.max_pool2d(a, (2, 3), (1, 2)),
                 lambda tF, a: tF.max_pool2d(a, (2, 3), (1, 2))),
    "avg": (lambda a: F.avg_pool2d(a, 2), lambda tF, a: tF.avg_pool2d(a, 2)),
    "avg_pad": (lambda a: F.avg_pool2d(a, 3, 2, 1), lambda tF, a: tF.avg_pool2d(a, 3, 2, 1)),
}


@pytest.mark.parametrize("name", sorted(POOLS))
def test_pools_match_torch(name, device):
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((2, 3, 7, 7))
    ours, theirs = POOLS[name]
    xt = tg.tensor(put(x, device), requires_grad=True)
    xr = torch.tensor(x, requires_grad=True)
    out, ref = ours(xt), theirs(torch.nn.functional, xr)
    assert on(out, device)
    np.testing.assert_allclose(host(out), ref.detach().numpy(), rtol=1e-12)
    v = RNG.standard_normal(out.shape)
    out.backward(tg.tensor(put(v, device)))
    ref.backward(torch.tensor(v))
    assert on(xt.grad, device)
    np.testing.assert_allclose(host(xt.grad), xr.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_conv_and_pool_derivatives_to_second_order(device):
    w = put(RNG.standard_normal((3, 2, 2, 2)), device)

    def f(x):
        x = x if isinstance(x, tg.Tensor) else tg.tensor(x)
        y = F.conv2d(x, tg.tensor(w), stride=1, padding=1).tanh()
        return F.avg_pool2d(y, 2) + F.max_pool2d(y, 2)

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(put(RNG.standard_normal((1, 2, 4, 4)),
                                                         device))


def test_small_cnn_trains(device):
    tg.manual_seed(0)
    nn = tg.nn
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 4 * 4, 2)).to(device)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((32, 1, 8, 8)).astype(np.float32)
    y = (x[:, 0, :4].sum(axis=(1, 2)) > x[:, 0, 4:].sum(axis=(1, 2))).astype(np.int64)
    x, y = tg.tensor(put(x, device)), tg.tensor(put(y, device))
    opt = tg.optim.Adam(model.parameters(), lr=0.02)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert all(on(p, device) and p.dtype == np.float32 for p in model.parameters())


def test_conv_shape_errors_name_the_op():
    with pytest.raises(ValueError, match=r"conv2d: input has 3 channels.*\(4, 2, 3, 3\)"):
        F.conv2d(tg.zeros(1, 3, 5, 5), tg.zeros(4, 2, 3, 3))
    with pytest.raises(ValueError, match=r"conv2d: input must be \(N, C, H, W\)"):
        F.conv2d(tg.zeros(3, 5, 5), tg.zeros(4, 3, 3, 3))
