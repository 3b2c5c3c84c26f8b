"""Complex numbers: autograd's convention in the function API, PyTorch's in .grad."""

import numpy as onp
import pytest
from devices import host, on, put

import tensorgrad as tg
import tensorgrad.numpy as np

Z = onp.array([0.3 + 0.7j, -1.1 + 0.2j])


@pytest.mark.parametrize("f", [
    lambda z: z * z, lambda z: np.exp(z), lambda z: np.sin(z) * np.cos(z), lambda z: z / (z + 2),
    lambda z: np.abs(z), lambda z: np.real(z) * np.imag(z), lambda z: np.conj(z) * z,
    lambda z: np.sum(z ** 3), lambda z: np.log(z), lambda z: np.sqrt(z), lambda z: np.tanh(z),
], ids=["mul", "exp", "sincos", "div", "abs", "realimag", "conj", "sumcube", "log", "sqrt", "tanh"])
def test_complex_ops_check_grads(f, device):
    z = put(Z, device)
    assert on(f(z), device)
    tg.check_grads(f, modes=("fwd", "rev"), order=2)(z)


def test_function_api_follows_autograd_convention(device):
    # autograd: for real-valued f of complex z, grad gives df/dx - i df/dy
    g = tg.grad(lambda z: np.abs(z) ** 2)(0.3 + 0.7j)
    assert g == pytest.approx(2 * (0.3 - 0.7j))
    g = tg.grad(lambda z: np.sum(np.abs(z) ** 2))(put(Z, device))
    assert on(g, device)
    onp.testing.assert_allclose(host(g), 2 * Z.conj())


def test_dot_grad_follows_pytorch_convention(device):
    z = tg.tensor(Z, requires_grad=True, device=device)
    (z * z.conj()).real.sum().backward()  # |z|^2: PyTorch gives 2z
    assert on(z.grad, device)
    onp.testing.assert_allclose(z.grad.numpy(), 2 * Z)


def test_complex_grad_matches_torch(device):
    torch = pytest.importorskip("torch")
    z = tg.tensor(Z, requires_grad=True, device=device)
    (z.exp() * z).abs().sum().backward()
    assert on(z.grad, device)
    zt = torch.tensor(Z, requires_grad=True)
    (zt.exp() * zt).abs().sum().backward()
    onp.testing.assert_allclose(z.grad.numpy(), zt.grad.numpy(), rtol=1e-12)
