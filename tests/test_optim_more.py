"""Every optimizer and option against PyTorch over 50 steps (float64, 1e-10), through a
``state_dict`` round trip into fresh objects at step 25; parameter groups, ``add_param_group``
and refused states."""

import numpy as np
import pytest
from devices import host, on, put
from optim_helpers import (
    assert_iterates_close,
    optim_data,
    optim_loss,
    reloaded,
    tg_steps,
    torch_run,
    two_groups,
)

import tensorgrad as tg

torch = pytest.importorskip("torch")

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.5, dampening=0.3, weight_decay=0.1, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.95), eps=1e-6, maximize=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.3, amsgrad=True)),
    ("AdamW", dict(lr=0.01, weight_decay=0.05, maximize=True)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.005, alpha=0.9, eps=1e-6)),
    ("RMSprop", dict(lr=0.005, momentum=0.8)),
    ("RMSprop", dict(lr=0.005, centered=True)),
    ("RMSprop", dict(lr=0.002, centered=True, momentum=0.5, weight_decay=0.1, maximize=True)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.1, initial_accumulator_value=0.5)),
    ("Adagrad", dict(lr=0.05, eps=1e-6, maximize=True, lr_decay=0.001)),
]
IDS = [f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)]
STEPS = 50


def _data():
    return optim_data(7, STEPS)


_loss, _groups, _torch_run, _tg_steps = optim_loss, two_groups, torch_run, tg_steps


@pytest.mark.parametrize("name,kw", CONFIGS, ids=IDS)
def test_fifty_steps_match_torch_through_a_state_dict_round_trip(name, kw, device):
    start, coefs = _data()
    want, topt = _torch_run(name, kw, start, coefs)
    params = [tg.tensor(put(a, device), requires_grad=True) for a in start]
    opt = getattr(tg.optim, name)(_groups(params, kw), **kw)
    got = list(_tg_steps(opt, params, coefs[:25], device))
    sd = opt.state_dict()
    # the saved state names what PyTorch's names, and lives on the device
    tsd = topt.state_dict()
    for idx in (0, 1):
        names = {k for k, v in tsd["state"].get(idx, {}).items() if v is not None}
        assert set(sd["state"].get(idx, {})) == names
        for v in sd["state"].get(idx, {}).values():
            assert not hasattr(v, "shape") or on(v, device)
    for g, tgroup in zip(sd["param_groups"], tsd["param_groups"], strict=True):
        assert g["params"] == tgroup["params"]
        assert g["lr"] == tgroup["lr"]
        assert set(g) <= set(tgroup)
    # fresh parameters and a fresh optimizer with other hyper-parameters: the state decides
    fresh, other = reloaded(name, params, sd, device)
    assert [g["lr"] for g in other.param_groups] == [g["lr"] for g in opt.param_groups]
    got += list(_tg_steps(other, fresh, coefs[25:], device))
    assert len(got) == STEPS
    assert_iterates_close(got, want)
    for p in fresh:
        assert on(p, device) and p.is_leaf and p.dtype == np.float64
        for buf in other.state.get(id(p), {}).values():
            assert not hasattr(buf, "shape") or (on(buf, device) and buf.dtype == np.float64)


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "Adagrad"])
def test_float32_stays_float32_on_the_device(name, device):
    w = tg.tensor(put(np.linspace(-1, 1, 6).astype(np.float32), device), requires_grad=True)
    opt = getattr(tg.optim, name)([w], lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()
    assert w.dtype == np.float32 and on(w, device)
    for buf in opt.state.get(id(w), {}).values():
        assert not hasattr(buf, "shape") or (buf.dtype == np.float32 and on(buf, device))


def test_adagrad_state_exists_before_the_first_step(device):
    w = tg.tensor(put(np.ones(3), device), requires_grad=True)
    opt = tg.optim.Adagrad([w], initial_accumulator_value=0.25)
    tw = torch.ones(3, dtype=torch.float64, requires_grad=True)
    topt = torch.optim.Adagrad([tw], initial_accumulator_value=0.25)
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert set(sd["state"][0]) == set(tsd["state"][0]) == {"step", "sum"}
    np.testing.assert_array_equal(host(sd["state"][0]["sum"]), tsd["state"][0]["sum"].numpy())
    assert on(sd["state"][0]["sum"], device)


def test_add_param_group_matches_torch(device):
    start, coefs = _data()
    ps = [torch.tensor(a, requires_grad=True) for a in start]
    params = [tg.tensor(put(a, device), requires_grad=True) for a in start]
    topt = torch.optim.Adam([ps[0]], lr=0.01)
    opt = tg.optim.Adam([params[0]], lr=0.01)
    for i, (c, d) in enumerate(coefs[:20]):
        if i == 5:
            topt.add_param_group({"params": ps[1], "lr": 0.02, "betas": (0.5, 0.9)})
            opt.add_param_group({"params": params[1], "lr": 0.02, "betas": (0.5, 0.9)})
        for o in (topt, opt):
            o.zero_grad()
        _loss(*ps, torch.tensor(c), torch.tensor(d)).backward()
        _loss(*params, tg.tensor(put(c, device)), tg.tensor(put(d, device))).backward()
        topt.step()
        opt.step()
    assert opt.param_groups[1]["eps"] == 1e-8  # defaults fill what the group leaves out
    for p, tp in zip(params, ps, strict=True):
        np.testing.assert_allclose(host(p), tp.detach().numpy(), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [params[0]]})
    with pytest.raises(TypeError, match="ordered"):
        opt.add_param_group({"params": {tg.zeros(2, requires_grad=True)}})


def test_closure_is_evaluated_with_grad_and_its_loss_returned(device):
    w = tg.tensor(put(np.array([1.0, 2.0]), device), requires_grad=True)
    for cls in (tg.optim.SGD, tg.optim.Adam, tg.optim.RMSprop, tg.optim.Adagrad):
        opt = cls([w], lr=0.1)

        def closure():
            opt.zero_grad()
            loss = (w * w).sum()
            loss.backward()
            return loss

        with tg.no_grad():
            loss = opt.step(closure)
        assert isinstance(loss, tg.Tensor) and w.grad is not None


def test_mismatched_states_are_refused_naming_what(device):
    a = tg.tensor(put(np.ones(3), device), requires_grad=True)
    b = tg.tensor(put(np.ones(2), device), requires_grad=True)
    opt = tg.optim.RMSprop([a, b], momentum=0.9)
    (a.sum() + b.sum()).backward()
    opt.step()
    sd = opt.state_dict()
    two_groups = tg.optim.RMSprop([{"params": [a]}, {"params": [b]}])
    with pytest.raises(ValueError, match="number of parameter groups"):
        two_groups.load_state_dict(sd)
    one_param = tg.optim.RMSprop([a])
    with pytest.raises(ValueError, match="group \\(0\\) of 2 parameters"):
        one_param.load_state_dict(sd)
    swapped = tg.optim.RMSprop([b, a])
    before = swapped.state
    with pytest.raises(ValueError, match="'square_avg' of parameter 0 has shape \\(3,\\)"):
        swapped.load_state_dict(sd)
    assert swapped.state is before and swapped.param_groups[0]["momentum"] == 0.0


def test_bad_hyper_parameters_are_value_errors():
    w = tg.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="alpha"):
        tg.optim.RMSprop([w], alpha=-0.5)
    with pytest.raises(ValueError, match="lr_decay"):
        tg.optim.Adagrad([w], lr_decay=-1)
    with pytest.raises(TypeError, match="iterable"):
        tg.optim.SGD(w, lr=0.1)
