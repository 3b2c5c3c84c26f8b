"""Convolution and pooling: values and gradients against PyTorch, second order, a small CNN."""

import numpy as np
import pytest

import tensorgrad as tg
import tensorgrad.nn.functional as F

RNG = np.random.default_rng(0)
CONV_CASES = [  # stride, padding, dilation, groups
    (1, 0, 1, 1), (2, 1, 1, 1), (1, 2, 2, 1), (2, 1, 1, 2), ((2, 1), (1, 0), 1, 1),
]


@pytest.mark.parametrize("stride,padding,dilation,groups", CONV_CASES)
def test_conv2d_matches_torch(stride, padding, dilation, groups):
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((2, 4, 9, 8))
    w = RNG.standard_normal((6, 4 // groups, 3, 2))
    b = RNG.standard_normal(6)
    ts = [tg.tensor(a, requires_grad=True) for a in (x, w, b)]
    out = F.conv2d(*ts, stride, padding, dilation, groups)
    rs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    ref = torch.nn.functional.conv2d(*rs, stride=stride, padding=padding, dilation=dilation,
                                     groups=groups)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    v = RNG.standard_normal(out.shape)
    out.backward(tg.tensor(v))
    ref.backward(torch.tensor(v))
    for t, r in zip(ts, rs, strict=True):
        np.testing.assert_allclose(t.grad.numpy(), r.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["max", "avg"])
def test_pools_match_torch(name):
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((2, 3, 7, 7))
    ours = {"max": lambda a: F.max_pool2d(a, 3, 2, 1), "avg": lambda a: F.avg_pool2d(a, 2)}[name]
    theirs = {"max": lambda a: torch.nn.functional.max_pool2d(a, 3, 2, 1),
              "avg": lambda a: torch.nn.functional.avg_pool2d(a, 2)}[name]
    xt = tg.tensor(x, requires_grad=True)
    xr = torch.tensor(x, requires_grad=True)
    out, ref = ours(xt), theirs(xr)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-12)
    out.sum().backward()
    ref.sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), xr.grad.numpy(), rtol=1e-12)


def test_conv_and_pool_derivatives_to_second_order():
    w = RNG.standard_normal((3, 2, 2, 2))

    def f(x):
        x = x if isinstance(x, tg.Tensor) else tg.tensor(x)
        y = F.conv2d(x, tg.tensor(w), stride=1, padding=1).tanh()
        return F.avg_pool2d(y, 2) + F.max_pool2d(y, 2)

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(RNG.standard_normal((1, 2, 4, 4)))


def test_small_cnn_trains():
    tg.manual_seed(0)
    nn = tg.nn
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 4 * 4, 2))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((32, 1, 8, 8)).astype(np.float32)
    y = (x[:, 0, :4].sum(axis=(1, 2)) > x[:, 0, 4:].sum(axis=(1, 2))).astype(np.int64)
    opt = tg.optim.Adam(model.parameters(), lr=0.02)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = F.cross_entropy(model(tg.tensor(x)), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_conv_shape_errors_name_the_op():
    with pytest.raises(ValueError, match=r"conv2d: input has 3 channels.*\(4, 2, 3, 3\)"):
        F.conv2d(tg.zeros(1, 3, 5, 5), tg.zeros(4, 2, 3, 3))
    with pytest.raises(ValueError, match=r"conv2d: input must be \(N, C, H, W\)"):
        F.conv2d(tg.zeros(3, 5, 5), tg.zeros(4, 3, 3, 3))
