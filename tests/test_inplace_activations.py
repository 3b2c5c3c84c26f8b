"""``inplace=True`` of the activations and dropouts, as PyTorch's: the input tensor takes the
result and is returned, its views and ``detach()`` aliases see the new values, and the
gradients are PyTorch's (tensorgrad used to accept ``inplace`` and ignore it, so a view or
an alias of the input kept the old values)."""

import numpy as np
import pytest
from devices import host, put, torch_oracle

import tensorgrad as tg

X = np.array([[-1.5, -0.25, 0.0, 0.5, 2.0, 7.0], [3.0, -4.0, 0.75, -0.5, 6.5, -2.5]])
W = np.linspace(0.5, 2.0, 12).reshape(2, 6)

FUNCTIONS = {
    "relu": lambda F, y: F.relu(y, inplace=True),
    "leaky_relu": lambda F, y: F.leaky_relu(y, 0.2, inplace=True),
    "elu": lambda F, y: F.elu(y, 0.7, inplace=True),
    "silu": lambda F, y: F.silu(y, inplace=True),
    "hardtanh": lambda F, y: F.hardtanh(y, -1.0, 2.0, inplace=True),
    "relu6": lambda F, y: F.relu6(y, inplace=True),
    "hardsigmoid": lambda F, y: F.hardsigmoid(y, inplace=True),
    "hardswish": lambda F, y: F.hardswish(y, inplace=True),
    "mish": lambda F, y: F.mish(y, inplace=True),
    "selu": lambda F, y: F.selu(y, inplace=True),
    "celu": lambda F, y: F.celu(y, 0.5, inplace=True),
    "threshold": lambda F, y: F.threshold(y, 0.3, -1.0, inplace=True),
    "rrelu_eval": lambda F, y: F.rrelu(y, 0.1, 0.3, training=False, inplace=True),
}


def _program(lib, fn, x, w, with_view):
    F = lib.nn.functional
    y = x * 1.5
    v = y[:, 1:] if with_view else None
    out = fn(F, y)
    assert out is y
    loss = (y * w).sum()
    if with_view:
        loss = loss + (v * v).sum()
    return y, loss


@pytest.mark.parametrize("with_view", [False, True], ids=["alone", "with_view"])
@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_inplace_activation_matches_pytorch(name, with_view, device):
    torch = torch_oracle()
    x = tg.tensor(put(X, device), requires_grad=True)
    y, loss = _program(tg, FUNCTIONS[name], x, tg.tensor(put(W, device)), with_view)
    loss.backward()
    tx = torch.tensor(X, requires_grad=True)
    ty, tloss = _program(torch, FUNCTIONS[name], tx, torch.tensor(W), with_view)
    tloss.backward()
    # PyTorch's float64 hardsigmoid and hardswish divide by 6 in float32 (3e-8 apart)
    tol = 1e-7 if name in ("hardsigmoid", "hardswish") else 1e-12
    np.testing.assert_allclose(host(y.detach()), ty.detach().numpy(), rtol=tol, atol=1e-15)
    np.testing.assert_allclose(host(x.grad), tx.grad.numpy(), rtol=tol, atol=1e-15)


def test_inplace_modules_in_a_network_match_pytorch(device):
    torch = torch_oracle()
    nets = []
    for lib in (torch, tg):
        nn = lib.nn
        lib.manual_seed(0)
        nets.append(nn.Sequential(nn.Linear(6, 8), nn.ReLU(inplace=True), nn.Linear(8, 8),
                                  nn.LeakyReLU(0.1, inplace=True), nn.Linear(8, 8),
                                  nn.Hardtanh(-0.5, 0.5, inplace=True), nn.Dropout(0.3, True),
                                  nn.Linear(8, 1)).double())
    theirs, ours = nets
    ours.load_state_dict({k: tg.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})
    theirs.eval()
    ours.eval().to(device)
    loss = ours(tg.tensor(put(X, device))).sum()
    tloss = theirs(torch.tensor(X)).sum()
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(host(loss.detach()), tloss.item(), rtol=1e-12)
    for (name, a), (_, b) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(host(a.grad), b.grad.numpy(), rtol=1e-10, atol=1e-14,
                                   err_msg=name)


def test_forward_hook_sees_what_an_inplace_relu_does_to_its_output_as_pytorch():
    """PyTorch's well-known effect: a hook that keeps ``output.detach()`` of a layer followed
    by ReLU(inplace=True) holds the values after the ReLU."""
    torch = torch_oracle()
    kept = []
    for lib in (torch, tg):
        lib.manual_seed(0)
        net = lib.nn.Sequential(lib.nn.Linear(6, 5), lib.nn.ReLU(inplace=True))
        box = []
        net[0].register_forward_hook(lambda m, i, o, box=box: box.append(o.detach()))
        net(lib.tensor(X, dtype=lib.float32)).sum().backward()
        kept.append(box[0].numpy())
    assert (kept[0] >= 0).all() and (kept[1] >= 0).all()


def test_inplace_on_a_leaf_that_requires_grad_raises_as_pytorch():
    torch = torch_oracle()
    with pytest.raises(RuntimeError, match="leaf"):
        torch.nn.functional.relu(torch.ones(2, requires_grad=True), inplace=True)
    with pytest.raises(RuntimeError, match="leaf"):
        tg.nn.functional.relu(tg.ones(2, requires_grad=True), inplace=True)


def test_inplace_without_grad_writes_the_memory():
    a = tg.tensor(X.copy())
    alias = a.numpy()  # the same memory on the CPU, as torch's .numpy()
    with tg.no_grad():
        out = tg.nn.functional.relu(a, inplace=True)
    assert out is a and (alias >= 0).all() and alias.tolist() == np.maximum(X, 0).tolist()


@pytest.mark.parametrize("how", ["functional", "module"])
def test_inplace_dropout_in_training_writes_the_input(how):
    tg.manual_seed(3)
    x = tg.tensor(np.ones((50, 40)), requires_grad=True)
    y = x * 1
    if how == "module":
        out = tg.nn.Dropout(0.5, inplace=True).train()(y)
    else:
        out = tg.nn.functional.dropout(y, 0.5, training=True, inplace=True)
    assert out is y
    kept = y.detach().numpy() != 0
    assert 0.35 < kept.mean() < 0.65
    np.testing.assert_allclose(y.detach().numpy()[kept], 2.0)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.where(kept, 2.0, 0.0))


def test_values_saved_before_an_inplace_activation_stay_valid():
    """Without views or aliases the tensor takes the new array (no copy), so a node that
    saved the old values still differentiates them; PyTorch refuses this backward instead
    ("modified by an inplace operation"): tensorgrad is the more permissive here."""
    x = tg.tensor([-1.0, 2.0], requires_grad=True)
    y = x * 1
    z = (y * y).sum()
    tg.nn.functional.relu(y, inplace=True)
    z.backward()
    assert x.grad.tolist() == [-2.0, 4.0]


def test_views_that_died_do_not_force_a_copy():
    """A tensor whose views are gone takes the result without a copy again (the rows of an
    earlier reshape no longer see its memory)."""
    x = tg.tensor(X, requires_grad=True)
    y = x * 1
    y.reshape(-1).sum()  # a view made on the tape, dropped at once
    before = y.data
    tg.nn.functional.relu(y, inplace=True)
    assert y.data is not before and before.tolist() == (X * 1).tolist()  # a new array
    z = x * 1
    keep = z.reshape(-1)
    tg.nn.functional.relu(z, inplace=True)
    assert keep.tolist() == np.maximum(X, 0).reshape(-1).tolist()  # a live view: written
