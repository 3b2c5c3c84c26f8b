"""nn.functional: values and gradients against PyTorch, derivatives to second order."""

import numpy as np
import pytest
from devices import host, on, put

import tensorgrad as tg
import tensorgrad.nn.functional as F

rng = np.random.default_rng(0)
X = rng.standard_normal((5, 4))
T = np.array([0, 3, 1, 1, 2])
TI = np.array([0, -100, 1, -100, 2])  # ignore_index rows: the mean is over the other three
P = rng.dirichlet(np.ones(4), size=5)
Y = rng.standard_normal((5, 4))
B = rng.uniform(0.1, 0.9, (5, 4))

# Each case is ours(x, c) and PyTorch's theirs(tF, x): ``c`` holds the constants T, P, Y, B on
# the device the test runs on (raw arrays; cases wrap some in Tensors, as users do both).
CASES = {
    "log_softmax": (lambda x, c: F.log_softmax(x, dim=1),
                    lambda tF, x: tF.log_softmax(x, dim=1)),
    "log_softmax0": (lambda x, c: F.log_softmax(x, 0), lambda tF, x: tF.log_softmax(x, 0)),
    "softmax": (lambda x, c: F.softmax(x, dim=-1), lambda tF, x: tF.softmax(x, dim=-1)),
    "softmax0": (lambda x, c: F.softmax(x, dim=0), lambda tF, x: tF.softmax(x, dim=0)),
    "ce_mean": (lambda x, c: F.cross_entropy(x, tg.tensor(c["T"])),
                lambda tF, x: tF.cross_entropy(x, _torch().tensor(T))),
    "ce_mean_ignored": (lambda x, c: F.cross_entropy(x, tg.tensor(c["TI"])),
                        lambda tF, x: tF.cross_entropy(x, _torch().tensor(TI))),
    "ce_sum": (lambda x, c: F.cross_entropy(x, c["T"], reduction="sum"),
               lambda tF, x: tF.cross_entropy(x, _torch().tensor(T), reduction="sum")),
    "ce_none": (lambda x, c: F.cross_entropy(x, c["T"], reduction="none"),
                lambda tF, x: tF.cross_entropy(x, _torch().tensor(T), reduction="none")),
    "ce_probs": (lambda x, c: F.cross_entropy(x, tg.tensor(c["P"])),
                 lambda tF, x: tF.cross_entropy(x, _torch().tensor(P))),
    "ce_probs_raw": (lambda x, c: F.cross_entropy(x, c["P"], reduction="none"),
                     lambda tF, x: tF.cross_entropy(x, _torch().tensor(P), reduction="none")),
    "ce_smooth": (lambda x, c: F.cross_entropy(x, c["T"], label_smoothing=0.1),
                  lambda tF, x: tF.cross_entropy(x, _torch().tensor(T), label_smoothing=0.1)),
    "ce_smooth_tensor": (
        lambda x, c: F.cross_entropy(x, tg.tensor(c["T"]), reduction="sum", label_smoothing=0.1),
        lambda tF, x: tF.cross_entropy(x, _torch().tensor(T), reduction="sum",
                                       label_smoothing=0.1)),
    "ce_probs_smooth": (
        lambda x, c: F.cross_entropy(x, c["P"], label_smoothing=0.1),
        lambda tF, x: tF.cross_entropy(x, _torch().tensor(P), label_smoothing=0.1)),
    "nll": (lambda x, c: F.nll_loss(F.log_softmax(x, 1), c["T"]),
            lambda tF, x: tF.nll_loss(tF.log_softmax(x, 1), _torch().tensor(T))),
    "nll_sum": (lambda x, c: F.nll_loss(F.log_softmax(x, 1), tg.tensor(c["T"]), reduction="sum"),
                lambda tF, x: tF.nll_loss(tF.log_softmax(x, 1), _torch().tensor(T),
                                          reduction="sum")),
    "mse": (lambda x, c: F.mse_loss(x, tg.tensor(c["Y"])),
            lambda tF, x: tF.mse_loss(x, _torch().tensor(Y))),
    "mse_none": (lambda x, c: F.mse_loss(x, tg.tensor(c["Y"]), reduction="none"),
                 lambda tF, x: tF.mse_loss(x, _torch().tensor(Y), reduction="none")),
    "l1": (lambda x, c: F.l1_loss(x, tg.tensor(c["Y"])),
           lambda tF, x: tF.l1_loss(x, _torch().tensor(Y))),
    "l1_sum": (lambda x, c: F.l1_loss(x, tg.tensor(c["Y"]), reduction="sum"),
               lambda tF, x: tF.l1_loss(x, _torch().tensor(Y), reduction="sum")),
    "bce_logits": (lambda x, c: F.binary_cross_entropy_with_logits(x, tg.tensor(c["B"])),
                   lambda tF, x: tF.binary_cross_entropy_with_logits(x, _torch().tensor(B))),
    "bce_logits_none": (
        lambda x, c: F.binary_cross_entropy_with_logits(x, tg.tensor(c["B"]), reduction="none"),
        lambda tF, x: tF.binary_cross_entropy_with_logits(x, _torch().tensor(B),
                                                          reduction="none")),
    "bce": (lambda x, c: F.binary_cross_entropy(x.sigmoid(), tg.tensor(c["B"])),
            lambda tF, x: tF.binary_cross_entropy(x.sigmoid(), _torch().tensor(B))),
    "bce_sum": (lambda x, c: F.binary_cross_entropy(x.sigmoid(), tg.tensor(c["B"]),
                                                    reduction="sum"),
                lambda tF, x: tF.binary_cross_entropy(x.sigmoid(), _torch().tensor(B),
                                                      reduction="sum")),
    "softplus": (lambda x, c: F.softplus(x * 3), lambda tF, x: tF.softplus(x * 3)),
    "softplus_beta": (lambda x, c: F.softplus(x, beta=2.0),
                      lambda tF, x: tF.softplus(x, beta=2.0)),
    "relu": (lambda x, c: F.relu(x), lambda tF, x: tF.relu(x)),
    "sigmoid": (lambda x, c: F.sigmoid(x), lambda tF, x: _torch().sigmoid(x)),
    "tanh": (lambda x, c: F.tanh(x), lambda tF, x: _torch().tanh(x)),
    "leaky_relu": (lambda x, c: F.leaky_relu(x, 0.1), lambda tF, x: tF.leaky_relu(x, 0.1)),
    "elu": (lambda x, c: F.elu(x), lambda tF, x: tF.elu(x)),
    "silu": (lambda x, c: F.silu(x), lambda tF, x: tF.silu(x)),
    "gelu": (lambda x, c: F.gelu(x), lambda tF, x: tF.gelu(x)),
    "gelu_tanh": (lambda x, c: F.gelu(x, approximate="tanh"),
                  lambda tF, x: tF.gelu(x, approximate="tanh")),
    "bias_act_gelu": (lambda x, c: F.bias_act(x, tg.tensor(c["Y"][0]), "gelu"),
                      lambda tF, x: tF.gelu(x + _torch().tensor(Y[0]))),
    "bias_act_silu": (lambda x, c: F.bias_act(x, tg.tensor(c["Y"][0]), "silu"),
                      lambda tF, x: tF.silu(x + _torch().tensor(Y[0]))),
    "linear": (lambda x, c: F.linear(x, tg.tensor(c["Y"][:3]), tg.tensor(c["Y"][0, :3])),
               lambda tF, x: tF.linear(x, _torch().tensor(Y[:3]), _torch().tensor(Y[0, :3]))),
}
NAMES = sorted(CASES)
GRAD_NAMES = sorted(CASES)


def _consts(device):
    return put({"T": T, "TI": TI, "P": P, "Y": Y, "B": B}, device)


def _torch():
    import torch

    return torch


def _as_tensor(f, c):
    return lambda x: f(x if isinstance(x, tg.Tensor) else tg.tensor(x), c)


@pytest.mark.parametrize("name", GRAD_NAMES)
def test_check_grads_second_order(name, device):
    tg.check_grads(_as_tensor(CASES[name][0], _consts(device)), modes=("fwd", "rev"),
                   order=2)(put(X, device))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", NAMES)
def test_matches_torch(name, dtype, device):
    torch = pytest.importorskip("torch")
    ours, theirs = CASES[name]
    c = {k: (v.astype(dtype) if v.dtype.kind == "f" else v) for k, v in _consts(device).items()}
    x = tg.tensor(put(X.astype(dtype), device), requires_grad=True)
    out = ours(x, c)
    assert on(out, device) and out.dtype == dtype
    xt = torch.tensor(X, requires_grad=True)
    ref = theirs(torch.nn.functional, xt)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(host(out), ref.detach().numpy(), **tol)
    v = rng.standard_normal(out.shape)
    out.backward(tg.tensor(put(v.astype(dtype), device)))
    ref.backward(torch.tensor(v))
    assert on(x.grad, device) and x.grad.dtype == dtype
    np.testing.assert_allclose(host(x.grad), xt.grad.numpy(), **(
        dict(rtol=1e-9, atol=1e-12) if dtype == np.float64 else tol))


def test_log_softmax_is_stable_for_huge_logits(device):
    for f in (F.log_softmax, F.softmax):
        x = tg.tensor([[1000.0, 0.0, -1000.0]], dtype="float64", device=device,
                      requires_grad=True)
        y = f(x, 1)
        assert np.all(np.isfinite(host(y)))
        y[0, 2].backward()
        assert np.all(np.isfinite(host(x.grad)))
    x = tg.tensor([[1000.0, 0.0, -1000.0]], device=device, requires_grad=True)
    loss = F.cross_entropy(x, put(np.array([2]), device))
    loss.backward()
    assert loss.item() == pytest.approx(2000.0) and np.all(np.isfinite(host(x.grad)))


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_keeps_float32(smoothing, device):
    x = tg.tensor(put(X.astype(np.float32), device), requires_grad=True)
    loss = F.cross_entropy(x, put(T, device), label_smoothing=smoothing)
    loss.backward()
    assert loss.dtype == np.float32 and x.grad.dtype == np.float32
    assert on(loss, device) and on(x.grad, device)


def test_cross_entropy_bad_targets_are_clear_errors(device):
    x = tg.tensor(put(X, device))
    if device == "cpu":
        with pytest.raises(IndexError, match=r"cross_entropy.*index 4.*size 4"):
            F.cross_entropy(x, np.array([0, 1, 2, 3, 4]))
        with pytest.raises(IndexError, match=r"cross_entropy.*\[0, 4\).*-1"):
            F.cross_entropy(x, np.array([0, 1, 2, 3, -1]))
    else:  # no host sync to check on a GPU (as PyTorch): such a row's loss is NaN
        loss = F.cross_entropy(x, put(np.array([0, 1, 2, 3, 4]), device), reduction="none")
        assert np.isnan(host(loss)[4]) and np.isfinite(host(loss)[:4]).all()
    with pytest.raises(ValueError, match=r"cross_entropy.*\(5,\)"):
        F.cross_entropy(x, put(np.array([0, 1]), device))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, put(T, device), reduction="avg")


@pytest.mark.parametrize("p", [0.5, 0.0])
def test_dropout(p, device):
    tg.manual_seed(3)
    x = tg.ones(2000, device=device, requires_grad=True)
    y = F.dropout(x, p)
    assert on(y, device) and y.dtype == np.float32
    kept = host(y) != 0
    assert (0.45 < kept.mean() < 0.55) if p else kept.all()
    np.testing.assert_allclose(host(y)[kept], 1 / (1 - p))
    y.sum().backward()
    assert on(x.grad, device)
    np.testing.assert_allclose(host(x.grad), host(y))
    assert F.dropout(x, p, training=False) is x
    with pytest.raises(ValueError, match="dropout"):
        F.dropout(x, 1.5)


@pytest.mark.parametrize("shape", [(5,), (4, 5), (2, 3, 5)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_is_one_node_right_to_second_order_and_equal_to_torch(device, shape, with_bias):
    """F.linear is one primitive (x @ w.T + b): its weight gradient comes out row-major (what
    the optimizer's update reads fast); derivatives to second order in both modes; PyTorch's
    values and gradients."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    xv, wv, bv = rng.standard_normal(shape), rng.standard_normal((3, 5)), rng.standard_normal(3)
    x, w, b = (tg.tensor(v, device=device, requires_grad=True) for v in (xv, wv, bv))
    out = F.linear(x, w, b if with_bias else None)
    assert repr(out.grad_fn) == "<linearBackward>"
    gv = rng.standard_normal(out.shape)
    out.backward(tg.tensor(gv, device=device))
    assert w.grad.data.flags.c_contiguous
    tx, tw, tb = (torch.tensor(v, requires_grad=True) for v in (xv, wv, bv))
    tout = torch.nn.functional.linear(tx, tw, tb if with_bias else None)
    tout.backward(torch.tensor(gv))
    np.testing.assert_allclose(host(out.detach()), tout.detach().numpy(), rtol=1e-12)
    for mine, theirs in ((x, tx), (w, tw)) + (((b, tb),) if with_bias else ()):
        np.testing.assert_allclose(host(mine.grad), theirs.grad.numpy(), rtol=1e-12, atol=1e-14)
    xs = tuple(tg.tensor(v, device=device) for v in (xv, wv, bv))
    f = (lambda x, w, b: F.linear(x, w, b)) if with_bias else (lambda x, w, b: F.linear(x, w) * b)
    tg.check_grads(lambda x, w, b: (f(x, w, b) ** 2).sum(), modes=("fwd", "rev"), order=2)(*xs)


def test_linear_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match=r"linear: input of shape \(2, 4\) does not fit a weight "
                                         r"of shape \(3, 5\)"):
        F.linear(tg.ones(2, 4), tg.ones(3, 5))
    with pytest.raises(ValueError, match=r"linear: bias must have shape \(3,\).*got \(4,\)"):
        F.linear(tg.ones(2, 5), tg.ones(3, 5), tg.ones(4))
