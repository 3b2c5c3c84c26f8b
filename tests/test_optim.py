"""Optimizers against PyTorch's (same formulas, same defaults), and their bookkeeping."""

import numpy as np
import pytest

import tensorgrad as tg

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.5, dampening=0.3, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.3)),
]


def _loss(w, x):
    return ((w * x).sum() - 1.0) ** 2 + (w ** 4).sum()


@pytest.mark.parametrize("name,kw", CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)])
def test_optimizer_matches_torch(name, kw):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w0, x = rng.standard_normal(5), rng.standard_normal(5)
    w = tg.tensor(w0, requires_grad=True)
    opt = getattr(tg.optim, name)([w], **kw)
    wt = torch.tensor(w0, requires_grad=True)
    optt = getattr(torch.optim, name)([wt], **kw)
    for _ in range(5):
        opt.zero_grad()
        _loss(w, tg.tensor(x)).backward()
        opt.step()
        optt.zero_grad()
        _loss(wt, torch.tensor(x)).backward()
        optt.step()
    np.testing.assert_allclose(w.numpy(), wt.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_sgd_step_keeps_the_parameter_a_leaf_and_bumps_its_version():
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    opt = tg.optim.SGD([w], lr=0.5)
    (w * w).sum().backward()
    v = w._version
    opt.step()
    assert w.is_leaf and w.requires_grad
    assert w._version == v + 1
    np.testing.assert_allclose(w.numpy(), [0.0, 0.0])
    np.testing.assert_allclose(w.grad.numpy(), [2.0, 4.0])  # the gradient is left as it was


def test_zero_grad_and_params_without_grad():
    a = tg.tensor([1.0], requires_grad=True)
    b = tg.tensor([1.0], requires_grad=True)
    opt = tg.optim.SGD([a, b], lr=1.0)
    (a * 3).sum().backward()
    opt.step()  # b has no gradient: left alone
    assert a.item() == -2.0 and b.item() == 1.0
    opt.zero_grad(set_to_none=False)
    assert a.grad.item() == 0.0
    opt.zero_grad()
    assert a.grad is None


def test_state_dict_round_trip_and_bad_state_changes_nothing():
    w = tg.tensor([1.0, -1.0], requires_grad=True)
    opt = tg.optim.Adam([w], lr=0.1)
    (w ** 2).sum().backward()
    opt.step()
    sd = opt.state_dict()
    w2 = tg.tensor([1.0, -1.0], requires_grad=True)
    opt2 = tg.optim.Adam([w2], lr=0.5)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == 0.1
    assert opt2.state[id(w2)]["step"] == 1
    bad = {"state": {0: {"exp_avg": np.zeros(3)}}, "param_groups": sd["param_groups"]}
    before = dict(opt2.state)
    with pytest.raises(ValueError, match="shape"):
        opt2.load_state_dict(bad)
    assert opt2.state == before


def test_bad_arguments_are_clear_errors():
    w = tg.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="lr"):
        tg.optim.SGD([w], lr=-1)
    with pytest.raises(ValueError, match="Nesterov"):
        tg.optim.SGD([w], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="empty"):
        tg.optim.Adam([])
    with pytest.raises(ValueError, match="non-leaf"):
        tg.optim.SGD([w * 2], lr=0.1)
