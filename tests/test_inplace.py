"""In-place arithmetic while recording, in forward mode, and under no_grad."""

import numpy as np
import pytest
from devices import host, on, put

import tensorgrad as tg
import tensorgrad.numpy as tnp


def chain(x):
    y = x * 2
    y += x
    y *= x
    y /= x + 1
    y -= x ** 2
    return y


def test_recorded_in_place_ops_give_pytorchs_gradients(device):
    torch = pytest.importorskip("torch")
    x = tg.tensor([0.5, 1.5], dtype="float64", device=device, requires_grad=True)
    y = chain(x)
    assert on(y, device)
    y.sum().backward()
    xt = torch.tensor([0.5, 1.5], dtype=torch.float64, requires_grad=True)
    chain(xt).sum().backward()
    assert on(x.grad, device) and x.grad.dtype == np.float64
    np.testing.assert_allclose(host(x.grad), xt.grad.numpy(), rtol=1e-12)


def test_recorded_in_place_op_writes_the_array_so_views_see_it(device):
    x = tg.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x * 2
    v = y.detach()[0:1]  # shares y's memory
    y += 1
    assert v.item() == 3.0
    y.sum().backward()
    assert on(x.grad, device) and x.grad.dtype == np.float32
    np.testing.assert_allclose(host(x.grad), [2.0, 2.0])


def test_in_place_ops_in_forward_mode_and_through_the_function_api(device):
    assert tg.jvp(chain, (0.7,), (1.0,))[1] == pytest.approx(tg.grad(chain)(0.7), rel=1e-12)
    x = put(np.array([0.3, 0.9]), device)
    g = tg.grad(lambda a: tnp.sum(chain(a)))(x)
    assert on(g, device)
    tg.check_grads(chain, modes=("fwd", "rev"), order=2)(x)

    def accumulate(x):
        total = tg.zeros(3, dtype="float64", device=device)
        for k in range(3):
            total += x * k
        return tnp.sum(total ** 2)

    tg.check_grads(accumulate, modes=("fwd", "rev"), order=2)(put(np.array([0.2, -0.4, 1.1]),
                                                                  device))


def test_in_place_under_no_grad_keeps_the_leaf(device):
    w = tg.tensor([1.0, 2.0], device=device, requires_grad=True)
    (w * w).sum().backward()
    buffer = w.data
    with tg.no_grad():
        w -= 0.5 * w.grad
    assert w.is_leaf and w.requires_grad and w.data is buffer
    np.testing.assert_allclose(host(w), [0.0, 0.0])
