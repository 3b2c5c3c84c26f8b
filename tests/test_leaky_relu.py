"""leaky_relu with a slope in (0, 1] is max(x, slope x), one primitive (nn/functional.py
``_leaky_relu``): its values must be PyTorch's ``x if x > 0 else slope x`` bit for bit (-0.0,
infinities and NaN included), its derivative PyTorch's (1 where x > 0, else the slope, at 0
too), to every order and in both modes; other slopes and dtypes keep the composed form.
"""

import numpy as np
import pytest
from devices import host, tensor_on

import tensorgrad as tg
import tensorgrad.nn.functional as F
from tensorgrad.nn import functional as functional_module

SPECIAL = [-np.inf, -3.0, -1e-30, -0.0, 0.0, 1e-30, 2.0, np.inf, np.nan, -7.5e-39, 5e-324]


def _reference(x, slope):
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        return np.where(x > 0, x, x * x.dtype.type(slope)), np.where(x > 0, 1.0, slope)


@pytest.mark.parametrize("slope", [0.01, 0.2, 1.0, 1e-7])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_values_and_slopes_bit_for_bit(device, dtype, slope, monkeypatch):
    calls = []
    real = functional_module._leaky_relu
    monkeypatch.setattr(functional_module, "_leaky_relu", lambda *a: calls.append(1) or real(*a))
    x0 = np.concatenate([np.array(SPECIAL), np.random.default_rng(0).standard_normal(5000)])
    x0 = x0.astype(dtype)
    x = tensor_on(x0, device, requires_grad=True)
    y = F.leaky_relu(x, slope)
    assert calls == [1]
    g0 = np.random.default_rng(1).standard_normal(x0.shape).astype(dtype)
    y.backward(tensor_on(g0, device))
    want, slope_of = _reference(x0, slope)
    got = host(y.detach())
    assert got.dtype == dtype
    np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))  # -0.0, NaN bits
    np.testing.assert_array_equal(host(x.grad), np.where(x0 > 0, g0, g0 * dtype(slope)))
    assert slope_of[list(SPECIAL).index(0.0)] == slope


def test_matches_torch():
    torch = pytest.importorskip("torch")
    x0 = np.array(SPECIAL + [-2.0, 4.0])
    for slope in (0.01, 0.3):
        x = tg.tensor(x0, requires_grad=True)
        F.leaky_relu(x, slope).backward(tg.ones(x0.shape, dtype=tg.float64))
        xt = torch.tensor(x0, requires_grad=True)
        yt = torch.nn.functional.leaky_relu(xt, slope)
        yt.backward(torch.ones(x0.shape, dtype=torch.float64))
        np.testing.assert_array_equal(F.leaky_relu(tg.tensor(x0), slope).numpy(),
                                      yt.detach().numpy())
        np.testing.assert_array_equal(x.grad.numpy(), xt.grad.numpy())


def test_second_order_and_forward_mode(device):
    x0 = np.random.default_rng(2).standard_normal((40, 30))
    v0 = np.random.default_rng(3).standard_normal((40, 30))
    x = tensor_on(x0, device, requires_grad=True)
    (d1,) = tg.autograd.grad(F.leaky_relu(x, 0.2).sum(), [x], create_graph=True)
    (d2,) = tg.autograd.grad((d1 * tensor_on(v0, device)).sum(), [x],
                             allow_unused=True)
    np.testing.assert_array_equal(host(d1.detach()), np.where(x0 > 0, 1.0, 0.2))
    assert d2 is None or not np.any(host(d2))  # piecewise linear: no curvature
    _, jv = tg.func.jvp(lambda z: F.leaky_relu(z, 0.2), (tensor_on(x0, device),),
                        (tensor_on(v0, device),))
    np.testing.assert_allclose(host(jv), np.where(x0 > 0, v0, 0.2 * v0), rtol=1e-15)


@pytest.mark.parametrize("slope", [0.0, -0.5, 2.0])
def test_other_slopes_keep_the_composed_form(slope, monkeypatch):
    calls = []
    real = functional_module._leaky_relu
    monkeypatch.setattr(functional_module, "_leaky_relu", lambda *a: calls.append(1) or real(*a))
    x0 = np.array([-2.0, -0.0, 0.0, 3.0, 1e300, -1e300])
    x = tg.tensor(x0, requires_grad=True)
    y = F.leaky_relu(x, slope)
    y.backward(tg.ones(x0.shape, dtype=tg.float64))
    assert calls == []
    want = np.where(x0 > 0, x0, x0 * slope)
    np.testing.assert_array_equal(y.detach().numpy(), want)
    np.testing.assert_array_equal(x.grad.numpy(), np.where(x0 > 0, 1.0, slope))
