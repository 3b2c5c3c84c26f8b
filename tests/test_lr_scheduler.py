"""Learning-rate schedulers against PyTorch's: the rate of every group at every step (exactly
the same floats), the parameters over 50 steps (float64, 1e-10), and a ``state_dict`` round
trip of optimizer and scheduler into fresh objects at step 25."""

import math

import numpy as np
import pytest
from devices import host, on, put

import tensorgrad as tg

torch = pytest.importorskip("torch")
STEPS = 50


def _seq(m, o):
    return m.SequentialLR(o, [m.LinearLR(o, start_factor=0.1, total_iters=5),
                              m.CosineAnnealingLR(o, T_max=45, eta_min=1e-4)], milestones=[5])


SCHEDULES = {
    "StepLR": ("SGD", dict(lr=0.1, momentum=0.9), lambda m, o: m.StepLR(o, 7, gamma=0.5)),
    "MultiStepLR": ("SGD", dict(lr=0.1),
                    lambda m, o: m.MultiStepLR(o, milestones=[5, 20, 20, 40], gamma=0.3)),
    "ExponentialLR": ("Adam", dict(lr=0.05), lambda m, o: m.ExponentialLR(o, gamma=0.95)),
    "CosineAnnealingLR-periodic": ("SGD", dict(lr=0.1, momentum=0.5),
                                   lambda m, o: m.CosineAnnealingLR(o, T_max=10, eta_min=1e-3)),
    "CosineAnnealingLR": ("AdamW", dict(lr=0.05), lambda m, o: m.CosineAnnealingLR(o, 50)),
    "LambdaLR": ("SGD", dict(lr=0.1),
                 lambda m, o: m.LambdaLR(o, [lambda e: 0.97 ** e, lambda e: 1 / (1 + e)])),
    "LinearLR": ("RMSprop", dict(lr=0.01), lambda m, o: m.LinearLR(o)),
    "LinearLR-args": ("Adagrad", dict(lr=0.1), lambda m, o: m.LinearLR(
        o, start_factor=0.1, end_factor=0.9, total_iters=20)),
    "OneCycleLR-sgd": ("SGD", dict(lr=0.1, momentum=0.9),
                       lambda m, o: m.OneCycleLR(o, max_lr=[0.1, 0.05], total_steps=60)),
    "OneCycleLR-adam": ("Adam", dict(lr=0.01), lambda m, o: m.OneCycleLR(
        o, max_lr=0.05, epochs=6, steps_per_epoch=10, pct_start=0.25)),
    "OneCycleLR-linear-3phase": ("AdamW", dict(lr=0.01), lambda m, o: m.OneCycleLR(
        o, max_lr=0.05, total_steps=55, anneal_strategy="linear", three_phase=True,
        base_momentum=0.8, max_momentum=0.9, div_factor=10.0, final_div_factor=100.0)),
    "OneCycleLR-no-momentum": ("Adagrad", dict(lr=0.1), lambda m, o: m.OneCycleLR(
        o, max_lr=0.2, total_steps=50, cycle_momentum=False)),
    "SequentialLR": ("SGD", dict(lr=0.1, momentum=0.9), _seq),
}


def _data():
    rng = np.random.default_rng(3)
    start = [rng.standard_normal(s) for s in ((4,), (3, 2))]
    coefs = [(rng.standard_normal(4), rng.standard_normal((3, 2))) for _ in range(STEPS)]
    return start, coefs


def _loss(w, m, c, d):
    return (w.cos() * c).sum() + (m.tanh() * m * d).sum() + 0.05 * (w * w).sum()


def _make(lib, name, opt_name, kw, make, params):
    groups = [{"params": [params[0]]}, {"params": [params[1]], "lr": kw["lr"] * 0.5}]
    opt = getattr(lib.optim, opt_name)(groups, **kw)
    return opt, make(lib.optim.lr_scheduler, opt)


def _step(opt, sched, params, c, d, wrap):
    opt.zero_grad()
    _loss(*params, wrap(c), wrap(d)).backward()
    opt.step()
    sched.step()
    return list(sched.get_last_lr())


@pytest.mark.parametrize("name", list(SCHEDULES))
@pytest.mark.parametrize("through_file", [False, True], ids=["dict", "file"])
def test_schedule_matches_torch_through_a_round_trip(name, through_file, device, tmp_path):
    opt_name, kw, make = SCHEDULES[name]
    start, coefs = _data()
    tps = [torch.tensor(a, requires_grad=True) for a in start]
    topt, tsched = _make(torch, name, opt_name, kw, make, tps)
    params = [tg.tensor(put(a, device), requires_grad=True) for a in start]
    opt, sched = _make(tg, name, opt_name, kw, make, params)
    assert sched.get_last_lr() == tsched.get_last_lr()  # the step made by the constructor
    assert sched.last_epoch == tsched.last_epoch
    for g, tg_ in zip(opt.param_groups, topt.param_groups, strict=True):
        assert g["initial_lr"] == tg_["initial_lr"]
    for i, (c, d) in enumerate(coefs):
        if i == 25:  # save, and continue in fresh objects
            ck = {"opt": opt.state_dict(), "sched": sched.state_dict()}
            if through_file:
                tg.save(ck, tmp_path / "ck.tg")
                ck = tg.load(tmp_path / "ck.tg")
            params = [tg.tensor(put(host(p).copy(), device), requires_grad=True)
                      for p in params]
            opt, sched = _make(tg, name, opt_name, kw, make, params)
            opt.load_state_dict(ck["opt"])
            sched.load_state_dict(ck["sched"])
            assert sched.last_epoch == tsched.last_epoch
            assert sched.get_last_lr() == tsched.get_last_lr()
        want = _step(topt, tsched, tps, c, d, torch.tensor)
        got = _step(opt, sched, params, c, d, lambda a: tg.tensor(put(a, device)))
        assert got == want, f"step {i}: lr {got} != {want}"
        for g, tg_ in zip(opt.param_groups, topt.param_groups, strict=True):
            assert g["lr"] == tg_["lr"]
            for key in ("momentum", "betas"):
                if key in tg_:
                    assert g[key] == pytest.approx(tg_[key], rel=1e-15, abs=0), (i, key)
    for p, tp in zip(params, tps, strict=True):
        assert on(p, device)
        np.testing.assert_allclose(host(p), tp.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_step_with_an_epoch_uses_the_closed_form_and_warns():
    for make in (lambda m, o: m.StepLR(o, 3, gamma=0.5),
                 lambda m, o: m.MultiStepLR(o, [2, 4], gamma=0.5),
                 lambda m, o: m.ExponentialLR(o, 0.9),
                 lambda m, o: m.CosineAnnealingLR(o, 10),
                 lambda m, o: m.LinearLR(o, total_iters=4)):
        opts = [lib.optim.SGD([lib.zeros(2, requires_grad=True)], lr=0.1) for lib in (tg, torch)]
        scheds = [make(lib.optim.lr_scheduler, o) for lib, o in zip((tg, torch), opts)]
        for epoch in (3, 7, 5):
            with pytest.warns(UserWarning, match="epoch"):
                scheds[0].step(epoch)
            with pytest.warns(UserWarning):
                scheds[1].step(epoch)
            assert scheds[0].get_last_lr() == pytest.approx(scheds[1].get_last_lr(), rel=1e-15)


def test_constructor_records_initial_lr_and_resuming_needs_it():
    w = tg.zeros(2, requires_grad=True)
    opt = tg.optim.SGD([w], lr=0.4)
    sched = tg.optim.lr_scheduler.ExponentialLR(opt, 0.5)
    assert opt.param_groups[0]["initial_lr"] == 0.4 and sched.base_lrs == [0.4]
    assert sched.last_epoch == 0 and sched.get_last_lr() == [0.4]
    sched.step()
    assert opt.param_groups[0]["lr"] == 0.2 and sched.last_epoch == 1
    fresh = tg.optim.SGD([w], lr=0.4)
    with pytest.raises(KeyError, match="initial_lr"):
        tg.optim.lr_scheduler.StepLR(fresh, 2, last_epoch=3)
    sd = sched.state_dict()
    assert "optimizer" not in sd and sd["last_epoch"] == 1 and sd["_last_lr"] == [0.2]


def test_lambda_functions_are_not_saved_but_callable_objects_state_is():
    class Decay:
        def __init__(self, rate):
            self.rate = rate

        def __call__(self, epoch):
            return self.rate ** epoch

    w = tg.zeros(2, requires_grad=True)
    opt = tg.optim.SGD([{"params": [w]}, {"params": [tg.zeros(1, requires_grad=True)]}], lr=1.0)
    sched = tg.optim.lr_scheduler.LambdaLR(opt, [lambda e: 1.0, Decay(0.5)])
    sd = sched.state_dict()
    assert sd["lr_lambdas"] == [None, {"rate": 0.5}]
    other = Decay(0.9)
    sched2 = tg.optim.lr_scheduler.LambdaLR(opt, [lambda e: 1.0, other])
    sched2.load_state_dict(sd)
    assert other.rate == 0.5


def test_bad_arguments_are_clear_errors():
    opt = tg.optim.SGD([tg.zeros(2, requires_grad=True)], lr=0.1)
    S = tg.optim.lr_scheduler
    with pytest.raises(ValueError, match="total_steps"):
        S.OneCycleLR(opt, max_lr=0.1)
    with pytest.raises(ValueError, match="pct_start"):
        S.OneCycleLR(opt, max_lr=0.1, total_steps=10, pct_start=2.0)
    with pytest.raises(ValueError, match="anneal_strategy"):
        S.OneCycleLR(opt, max_lr=0.1, total_steps=10, anneal_strategy="exp")
    with pytest.raises(ValueError, match="momentum"):
        S.OneCycleLR(tg.optim.Adagrad([tg.zeros(1, requires_grad=True)]), 0.1, 10)
    with pytest.raises(ValueError, match="same length"):
        S.OneCycleLR(opt, max_lr=[0.1, 0.2], total_steps=10)
    with pytest.raises(ValueError, match="Starting multiplicative factor"):
        S.LinearLR(opt, start_factor=0)
    with pytest.raises(TypeError, match="not an Optimizer"):
        S.StepLR(object(), 2)
    one = S.OneCycleLR(opt, max_lr=0.1, total_steps=3)
    for _ in range(3):
        one.step()
    with pytest.raises(ValueError, match="Tried to step 4 times"):
        one.step()
    assert math.isfinite(one.get_last_lr()[0])
