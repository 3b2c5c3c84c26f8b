"""nn.functional: values and gradients against PyTorch, derivatives to second order."""

import numpy as np
import pytest

import tensorgrad as tg
import tensorgrad.nn.functional as F

rng = np.random.default_rng(0)
X = rng.standard_normal((5, 4))
T = np.array([0, 3, 1, 1, 2])
P = rng.dirichlet(np.ones(4), size=5)
Y = rng.standard_normal((5, 4))
B = rng.uniform(0.1, 0.9, (5, 4))

CASES = {
    "log_softmax": (lambda x: F.log_softmax(x, dim=1), lambda tF, x: tF.log_softmax(x, dim=1)),
    "log_softmax0": (lambda x: F.log_softmax(x, 0), lambda tF, x: tF.log_softmax(x, 0)),
    "softmax": (lambda x: F.softmax(x, dim=-1), lambda tF, x: tF.softmax(x, dim=-1)),
    "ce_mean": (lambda x: F.cross_entropy(x, tg.tensor(T)),
                lambda tF, x: tF.cross_entropy(x, _torch().tensor(T))),
    "ce_sum": (lambda x: F.cross_entropy(x, T, reduction="sum"),
               lambda tF, x: tF.cross_entropy(x, _torch().tensor(T), reduction="sum")),
    "ce_none": (lambda x: F.cross_entropy(x, T, reduction="none"),
                lambda tF, x: tF.cross_entropy(x, _torch().tensor(T), reduction="none")),
    "ce_probs": (lambda x: F.cross_entropy(x, tg.tensor(P)),
                 lambda tF, x: tF.cross_entropy(x, _torch().tensor(P))),
    "ce_smooth": (lambda x: F.cross_entropy(x, T, label_smoothing=0.1),
                  lambda tF, x: tF.cross_entropy(x, _torch().tensor(T), label_smoothing=0.1)),
    "nll": (lambda x: F.nll_loss(F.log_softmax(x, 1), T),
            lambda tF, x: tF.nll_loss(tF.log_softmax(x, 1), _torch().tensor(T))),
    "mse": (lambda x: F.mse_loss(x, tg.tensor(Y)),
            lambda tF, x: tF.mse_loss(x, _torch().tensor(Y))),
    "l1": (lambda x: F.l1_loss(x, tg.tensor(Y)), lambda tF, x: tF.l1_loss(x, _torch().tensor(Y))),
    "bce_logits": (lambda x: F.binary_cross_entropy_with_logits(x, tg.tensor(B)),
                   lambda tF, x: tF.binary_cross_entropy_with_logits(x, _torch().tensor(B))),
    "bce": (lambda x: F.binary_cross_entropy(x.sigmoid(), tg.tensor(B)),
            lambda tF, x: tF.binary_cross_entropy(x.sigmoid(), _torch().tensor(B))),
    "softplus": (lambda x: F.softplus(x * 3), lambda tF, x: tF.softplus(x * 3)),
    "softplus_beta": (lambda x: F.softplus(x, beta=2.0), lambda tF, x: tF.softplus(x, beta=2.0)),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), lambda tF, x: tF.leaky_relu(x, 0.1)),
    "elu": (lambda x: F.elu(x), lambda tF, x: tF.elu(x)),
    "silu": (lambda x: F.silu(x), lambda tF, x: tF.silu(x)),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"),
                  lambda tF, x: tF.gelu(x, approximate="tanh")),
    "linear": (lambda x: F.linear(x, tg.tensor(Y[:3]), tg.tensor(Y[0, :3])),
               lambda tF, x: tF.linear(x, _torch().tensor(Y[:3]), _torch().tensor(Y[0, :3]))),
}


def _torch():
    import torch

    return torch


def _as_tensor(f):
    return lambda x: f(x if isinstance(x, tg.Tensor) else tg.tensor(x))


@pytest.mark.parametrize("name", sorted(CASES))
def test_check_grads_second_order(name):
    tg.check_grads(_as_tensor(CASES[name][0]), modes=("fwd", "rev"), order=2)(X)


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch(name):
    torch = pytest.importorskip("torch")
    ours, theirs = CASES[name]
    x = tg.tensor(X, requires_grad=True)
    out = ours(x)
    xt = torch.tensor(X, requires_grad=True)
    ref = theirs(torch.nn.functional, xt)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-10,
                               atol=1e-12)
    v = rng.standard_normal(out.shape)
    out.backward(tg.tensor(v))
    ref.backward(torch.tensor(v))
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_log_softmax_is_stable_for_huge_logits():
    x = tg.tensor([[1000.0, 0.0, -1000.0]], dtype="float64", requires_grad=True)
    y = F.log_softmax(x, 1)
    assert np.all(np.isfinite(y.numpy()))
    y[0, 2].backward()
    assert np.all(np.isfinite(x.grad.numpy()))


def test_cross_entropy_keeps_float32():
    x = tg.tensor(X.astype(np.float32), requires_grad=True)
    loss = F.cross_entropy(x, T)
    loss.backward()
    assert loss.dtype == np.float32 and x.grad.dtype == np.float32


def test_cross_entropy_bad_targets_are_clear_errors():
    x = tg.tensor(X)
    with pytest.raises(IndexError, match=r"cross_entropy.*index 4.*size 4"):
        F.cross_entropy(x, np.array([0, 1, 2, 3, 4]))
    with pytest.raises(IndexError, match=r"cross_entropy.*\[0, 4\).*-1"):
        F.cross_entropy(x, np.array([0, 1, 2, 3, -1]))
    with pytest.raises(ValueError, match=r"cross_entropy.*\(5,\)"):
        F.cross_entropy(x, np.array([0, 1]))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, T, reduction="avg")
