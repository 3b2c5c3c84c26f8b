"""NAdam, RAdam, Adamax, Adadelta, Rprop, ASGD and LBFGS, and the schedulers ReduceLROnPlateau,
CosineAnnealingWarmRestarts, CyclicLR, PolynomialLR, ConstantLR, MultiplicativeLR and
ChainedScheduler, against PyTorch's: iterates (float64), learning-rate sequences, state_dict
layouts and round trips, and signatures.

PyTorch keeps some optimizer scalars (NAdam's ``mu_product``, ASGD's ``eta`` and ``mu``) in the
default dtype, and tensorgrad rounds them the same way; the round-trip runs use float64 as the
default in both libraries so that both compute them in float64."""

import contextlib
import inspect
import math

import numpy as np
import pytest
from devices import host, on, put
from optim_helpers import (
    assert_iterates_close,
    optim_data,
    reloaded,
    tg_steps,
    torch_run,
    two_groups,
)

import tensorgrad as tg

torch = pytest.importorskip("torch")

LR = tg.optim.lr_scheduler
TLR = torch.optim.lr_scheduler


@contextlib.contextmanager
def _torch_float64():
    old = torch.get_default_dtype(), tg.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    tg.set_default_dtype("float64")
    try:
        yield
    finally:
        torch.set_default_dtype(old[0])
        tg.set_default_dtype(old[1])


# ---- element-wise optimizers ------------------------------------------------------------------

CONFIGS = [
    ("NAdam", dict()),
    ("NAdam", dict(lr=0.01, weight_decay=0.1)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("NAdam", dict(lr=0.02, betas=(0.8, 0.95), eps=1e-6, momentum_decay=0.01, maximize=True)),
    ("RAdam", dict(lr=0.01)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("RAdam", dict(lr=0.02, betas=(0.5, 0.9), eps=1e-4)),  # rectified from step 2 on
    ("Adamax", dict()),
    ("Adamax", dict(lr=0.01, betas=(0.8, 0.9), eps=1e-4, weight_decay=0.1)),
    ("Adamax", dict(lr=0.01, maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1)),
    ("Adadelta", dict(maximize=True)),
    ("Rprop", dict()),
    ("Rprop", dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.08))),
    ("Rprop", dict(lr=0.02, maximize=True)),
    ("ASGD", dict()),
    ("ASGD", dict(lr=0.05, lambd=1e-2, alpha=0.6, t0=5)),  # averaging from step 6
    ("ASGD", dict(lr=0.05, t0=3, weight_decay=0.1, maximize=True)),
]
IDS = [f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)]
STEPS = 24


def _data():
    return optim_data(11, STEPS)


_groups, _tg_steps = two_groups, tg_steps


def _torch_run(name, kw, start, coefs):
    with _torch_float64():
        return torch_run(name, kw, start, coefs)


@pytest.mark.parametrize("name,kw", CONFIGS, ids=IDS)
def test_steps_match_torch_through_a_state_dict_round_trip(name, kw, device):
    with _torch_float64():  # both sides keep the optimizer scalars in float64
        _steps_through_a_state_dict_round_trip(name, kw, device)


def _steps_through_a_state_dict_round_trip(name, kw, device):
    start, coefs = _data()
    half = STEPS // 2
    want, topt = _torch_run(name, kw, start, coefs)
    params = [tg.tensor(put(a, device), requires_grad=True) for a in start]
    opt = getattr(tg.optim, name)(_groups(params, kw), **kw)
    got = list(_tg_steps(opt, params, coefs[:half], device))
    sd = opt.state_dict()
    tsd = topt.state_dict()
    for idx in (0, 1):  # state names and shapes as PyTorch's; buffers on the device
        tst = tsd["state"][idx]
        assert list(sd["state"][idx]) == list(tst)
        for k, v in sd["state"][idx].items():
            assert np.shape(host(v)) == tuple(tst[k].shape), k
            assert not hasattr(v, "shape") or on(v, device)
    for g, tgroup in zip(sd["param_groups"], tsd["param_groups"], strict=True):
        assert set(g) == set(tgroup)
        assert {k: v for k, v in g.items() if k != "params"} == \
            {k: v for k, v in tgroup.items() if k != "params"}
    fresh, other = reloaded(name, params, sd, device)
    got += list(_tg_steps(other, fresh, coefs[half:], device))
    assert_iterates_close(got, want)
    # the loaded state is the state the first optimizer would have had: compare with torch
    for p, idx in zip(fresh, (0, 1), strict=True):
        for k, v in other.state[id(p)].items():
            np.testing.assert_allclose(np.asarray(host(v), dtype=float),
                                       np.asarray(tsd["state"][idx][k]), rtol=1e-9,
                                       atol=1e-12, err_msg=k)


def _sig(fn):
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


NEW_OPTIMIZERS = ["NAdam", "RAdam", "Adamax", "Adadelta", "Rprop", "ASGD", "LBFGS"]


@pytest.mark.parametrize("name", NEW_OPTIMIZERS)
def test_signature_and_defaults_match_torch(name):
    assert _sig(getattr(tg.optim, name).__init__) == _sig(getattr(torch.optim, name).__init__)
    w = tg.zeros(3, requires_grad=True)
    tw = torch.zeros(3, requires_grad=True)
    ours, theirs = getattr(tg.optim, name)([w]).defaults, getattr(torch.optim, name)([tw]).defaults
    assert ours == theirs


@pytest.mark.parametrize("name", ["NAdam", "RAdam", "Adamax", "Adadelta", "Rprop", "ASGD"])
def test_float32_state_stays_float32_on_the_device(name, device):
    w = tg.tensor(put(np.linspace(-1, 1, 6).astype(np.float32), device), requires_grad=True)
    opt = getattr(tg.optim, name)([w])
    version = w._version
    for _ in range(3):
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()
    assert w.dtype == np.float32 and on(w, device) and w._version > version
    for buf in opt.state[id(w)].values():
        assert not hasattr(buf, "shape") or (buf.dtype == np.float32 and on(buf, device))


def test_bad_hyper_parameters_are_refused():
    w = tg.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="betas"):
        tg.optim.NAdam([w], betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="momentum_decay"):
        tg.optim.NAdam([w], momentum_decay=-1)
    with pytest.raises(ValueError, match="rho"):
        tg.optim.Adadelta([w], rho=1.5)
    with pytest.raises(ValueError, match="etas"):
        tg.optim.Rprop([w], etas=(1.5, 1.2))
    with pytest.raises(NotImplementedError, match="differentiable"):
        tg.optim.RAdam([w], differentiable=True)
    with pytest.raises(ValueError, match="parameter groups"):
        tg.optim.LBFGS([{"params": [w]}, {"params": [tg.zeros(1, requires_grad=True)]}])
    with pytest.raises(ValueError, match="line_search_fn"):
        tg.optim.LBFGS([w], line_search_fn="backtracking")
    with pytest.raises(RuntimeError, match="closure"):
        tg.optim.LBFGS([w]).step(None)


# ---- LBFGS ------------------------------------------------------------------------------------

def _rosenbrock(x, y):
    # a 4-D Rosenbrock chain over two parameters (checks the flat layout)
    z = [x[0], x[1], y[0], y[1]]
    return sum(100 * (z[i + 1] - z[i] ** 2) ** 2 + (1 - z[i]) ** 2 for i in range(3))


_LS = np.random.default_rng(3)
_A = _LS.standard_normal((12, 4))
_B = _LS.standard_normal(12)


def _least_squares(x, c, A, b):
    r = A @ x + c - b
    return 0.5 * (r * r).sum() + 0.01 * (x * x).sum()


PROBLEMS = {
    "rosenbrock": (lambda: [np.array([-1.2, 1.0]), np.array([-0.5, 0.8])],
                   lambda ps, mod: _rosenbrock(*ps)),
    "least_squares": (lambda: [np.zeros(4), np.zeros(1)],
                      lambda ps, mod: _least_squares(ps[0], ps[1], mod(_A), mod(_B))),
}

LBFGS_CONFIGS = [
    ("rosenbrock", dict(line_search_fn="strong_wolfe"), 6),
    ("rosenbrock", dict(line_search_fn="strong_wolfe", history_size=3, max_iter=7), 6),
    ("rosenbrock", dict(lr=0.02, max_iter=10), 4),
    ("least_squares", dict(), 3),
    ("least_squares", dict(lr=0.5, history_size=2, max_iter=5), 4),
    ("least_squares", dict(line_search_fn="strong_wolfe", max_iter=4), 3),
]


def _lbfgs_run(problem, kw, calls, mod, params, opt_cls):
    opt = opt_cls(params, **kw)
    f = PROBLEMS[problem][1]

    def closure():
        opt.zero_grad()
        loss = f(params, mod)
        loss.backward()
        return loss

    out = []
    for _ in range(calls):
        loss = opt.step(closure)
        out.append((float(loss.detach()), [np.array(host(p) if isinstance(p, tg.Tensor)
                                           else p.detach().numpy()) for p in params]))
    return out, opt


@pytest.mark.parametrize("problem,kw,calls", LBFGS_CONFIGS,
                         ids=[f"{p}-{i}" for i, (p, _, _) in enumerate(LBFGS_CONFIGS)])
def test_lbfgs_iterates_match_torch(problem, kw, calls, device):
    start = PROBLEMS[problem][0]()
    with _torch_float64():
        tps = [torch.tensor(a, requires_grad=True) for a in start]
        want, topt = _lbfgs_run(problem, kw, calls, torch.tensor, tps, torch.optim.LBFGS)
    params = [tg.tensor(put(a, device), requires_grad=True) for a in start]
    got, opt = _lbfgs_run(problem, kw, calls, lambda a: tg.tensor(put(a, device)), params,
                          tg.optim.LBFGS)
    for i, ((la, xa), (lb, xb)) in enumerate(zip(got, want, strict=True)):
        assert la == pytest.approx(lb, rel=1e-9, abs=1e-12), f"call {i}"
        for a, b in zip(xa, xb, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10, err_msg=f"call {i}")
    st, tst = opt.state[id(params[0])], topt.state[tps[0]]
    assert st["func_evals"] == tst["func_evals"] and st["n_iter"] == tst["n_iter"]
    assert list(st) == list(tst)
    assert len(st["old_dirs"]) == len(tst["old_dirs"])
    if problem == "rosenbrock" and "line_search_fn" in kw:  # it gets somewhere
        assert np.abs(np.concatenate(got[-1][1]) - 1).max() < 0.5


def test_lbfgs_state_dict_round_trip_matches_torch_layout(device):
    start = PROBLEMS["rosenbrock"][0]()
    kw = dict(line_search_fn="strong_wolfe", max_iter=5, history_size=4)
    params = [tg.tensor(put(a, device), requires_grad=True) for a in start]
    _, opt = _lbfgs_run("rosenbrock", kw, 2, None, params, tg.optim.LBFGS)
    sd = opt.state_dict()
    with _torch_float64():
        tps = [torch.tensor(a, requires_grad=True) for a in start]
        _, topt = _lbfgs_run("rosenbrock", kw, 2, None, tps, torch.optim.LBFGS)
        tsd = topt.state_dict()
    assert list(sd["state"]) == list(tsd["state"]) == [0]
    assert list(sd["state"][0]) == list(tsd["state"][0])
    for k, v in tsd["state"][0].items():
        if isinstance(v, torch.Tensor) and v.ndim:
            assert on(sd["state"][0][k], device) and sd["state"][0][k].shape == tuple(v.shape)
            np.testing.assert_allclose(host(sd["state"][0][k]), v.numpy(), rtol=1e-8,
                                       atol=1e-10)
        elif isinstance(v, list):
            assert len(sd["state"][0][k]) == len(v), k
    assert sd["param_groups"][0].keys() == tsd["param_groups"][0].keys()
    # continue in the original and in a fresh copy loaded from the state dict
    fresh = [tg.tensor(put(host(p).copy(), device), requires_grad=True) for p in params]
    other = tg.optim.LBFGS(fresh, lr=0.3)
    other.load_state_dict(sd)
    assert other.param_groups[0]["line_search_fn"] == "strong_wolfe"
    a, _ = _lbfgs_run("rosenbrock", {}, 2, None, params, lambda ps: opt)
    b, _ = _lbfgs_run("rosenbrock", {}, 2, None, fresh, lambda ps: other)
    for (la, xa), (lb, xb) in zip(a, b, strict=True):
        assert la == lb
        for x, y in zip(xa, xb, strict=True):
            np.testing.assert_array_equal(x, y)
    bad = {**sd, "state": {0: {**sd["state"][0], "d": np.zeros(7)}}}
    with pytest.raises(ValueError, match="'d' holds vectors of \\[7\\] elements"):
        other.load_state_dict(bad)


def test_lbfgs_stops_at_once_on_a_zero_gradient(device):
    w = tg.tensor(put(np.ones(3), device), requires_grad=True)
    opt = tg.optim.LBFGS([w])
    calls = []

    def closure():
        calls.append(1)
        opt.zero_grad()
        loss = ((w - 1.0) ** 2).sum()
        loss.backward()
        return loss

    assert float(opt.step(closure)) == 0.0
    assert len(calls) == 1 and opt.state[id(w)] == {"func_evals": 1, "n_iter": 0}


# ---- schedulers -------------------------------------------------------------------------------

def _pair(opt_name="SGD", **kw):
    kw = kw or dict(lr=0.1, momentum=0.9)
    tws = [torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)]
    ws = [tg.zeros(2, requires_grad=True), tg.zeros(3, requires_grad=True)]
    lr2 = kw["lr"] * 0.5
    topt = getattr(torch.optim, opt_name)([{"params": [tws[0]]},
                                           {"params": [tws[1]], "lr": lr2}], **kw)
    opt = getattr(tg.optim, opt_name)([{"params": [ws[0]]}, {"params": [ws[1]], "lr": lr2}],
                                      **kw)
    return opt, topt


def _state(opt):
    """Each group's rate and momentum (SGD's ``momentum`` or Adam's first beta), flat."""
    return [v for g in opt.param_groups
            for v in (g["lr"], g["momentum"] if "momentum" in g else g["betas"][0])]


METRICS = [1.0, 0.9, 0.85, 0.85, 0.86, 0.84, 0.849, 0.85, 0.85, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8,
           0.79999, 0.8, 0.81, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.71, 0.7, 0.6, 0.6, 0.6,
           0.6, 0.6, 0.6, 0.6, 0.6]

SCHEDULERS = {
    "plateau-min-rel": (lambda L, o: L.ReduceLROnPlateau(o, patience=2), "metric"),
    "plateau-max-abs-cooldown": (lambda L, o: L.ReduceLROnPlateau(
        o, mode="max", factor=0.5, patience=1, threshold=0.01, threshold_mode="abs",
        cooldown=2, min_lr=[0.01, 0.02]), "neg_metric"),
    "plateau-min-abs-eps": (lambda L, o: L.ReduceLROnPlateau(
        o, factor=0.3, patience=0, threshold_mode="abs", min_lr=0.004, eps=1e-3), "metric"),
    "warm-restarts": (lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=5), None),
    "warm-restarts-mult": (lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2,
                                                                       eta_min=0.001), None),
    "warm-restarts-fractional": (lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=2,
                                                                             eta_min=0.01),
                                 "fractional"),
    "warm-restarts-fractional-1": (lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=3),
                                   "fractional"),
    "cyclic-triangular": (lambda L, o: L.CyclicLR(o, 0.01, 0.1, step_size_up=4), None),
    "cyclic-triangular2": (lambda L, o: L.CyclicLR(o, [0.01, 0.02], [0.1, 0.3], step_size_up=3,
                                                  step_size_down=5, mode="triangular2",
                                                  base_momentum=0.7, max_momentum=0.95), None),
    "cyclic-exp-range": (lambda L, o: L.CyclicLR(o, 0.01, 0.1, step_size_up=5,
                                                mode="exp_range", gamma=0.97), None),
    "cyclic-no-momentum": (lambda L, o: L.CyclicLR(o, 0.01, 0.1, step_size_up=2,
                                                  cycle_momentum=False), None),
    "cyclic-scale-fn": (lambda L, o: L.CyclicLR(o, 0.01, 0.1, step_size_up=3,
                                               scale_fn=lambda x: 0.9 ** x,
                                               scale_mode="iterations"), None),
    "polynomial": (lambda L, o: L.PolynomialLR(o, total_iters=12, power=2.0), None),
    "polynomial-linear": (lambda L, o: L.PolynomialLR(o), None),
    "constant": (lambda L, o: L.ConstantLR(o, factor=0.5, total_iters=4), None),
    "multiplicative": (lambda L, o: L.MultiplicativeLR(o, lambda e: 0.95), None),
    "multiplicative-per-group": (lambda L, o: L.MultiplicativeLR(
        o, [lambda e: 0.9, lambda e: 1.0 if e % 2 else 0.8]), None),
    "chained": (lambda L, o: L.ChainedScheduler([L.ConstantLR(o, factor=0.2, total_iters=3),
                                                 L.ExponentialLR(o, gamma=0.9)]), None),
    "chained-poly-cyclic": (lambda L, o: L.ChainedScheduler(
        [L.CyclicLR(o, 0.01, 0.1, step_size_up=4), L.PolynomialLR(o, total_iters=20)],
        optimizer=o), None),
}
ADAM_SCHEDULERS = {"cyclic-exp-range", "cyclic-triangular2"}
N_STEPS = 36


def _drive(sched, opt, how, steps):
    """Step ``sched`` over ``steps`` (indices into the driving sequence); the rates after
    each."""
    out = []
    for i in steps:
        opt.step()
        if how == "metric":
            sched.step(METRICS[i])
        elif how == "neg_metric":
            sched.step(-METRICS[i])
        elif how == "fractional":
            sched.step(i / 4)  # quarter epochs
        else:
            sched.step()
        out.append((list(sched.get_last_lr()), _state(opt)))
    return out


@pytest.mark.parametrize("key,with_adam", [(k, False) for k in SCHEDULERS]
                         + [(k, True) for k in sorted(ADAM_SCHEDULERS)])
def test_scheduler_matches_torch_through_a_state_dict_round_trip(key, with_adam):
    make, how = SCHEDULERS[key]
    kw = dict(lr=0.1, betas=(0.9, 0.99)) if with_adam else dict(lr=0.1, momentum=0.9)
    opt, topt = _pair("Adam" if with_adam else "SGD", **kw)
    sched, tsched = make(LR, opt), make(TLR, topt)
    assert _state(opt) == _state(topt)
    want = _drive(tsched, topt, how, range(N_STEPS))
    got = _drive(sched, opt, how, range(N_STEPS // 2))
    # fresh optimizer and scheduler, loaded from the state dicts, finish the run (the
    # optimizer's state is loaded after making the scheduler, whose first step changes rates)
    sd, osd = sched.state_dict(), opt.state_dict()
    opt2, _ = _pair("Adam" if with_adam else "SGD", **kw)
    sched2 = make(LR, opt2)
    opt2.load_state_dict(osd)
    sched2.load_state_dict(sd)
    got += _drive(sched2, opt2, how, range(N_STEPS // 2, N_STEPS))
    assert len(got) == len(want) == N_STEPS
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        assert a[0] == pytest.approx(b[0], rel=1e-13, abs=1e-15), f"step {i}"
        assert a[1] == pytest.approx(b[1], rel=1e-13, abs=1e-15), f"step {i}"
    rates = {round(r[0][0], 12) for r in want}
    assert len(rates) >= 2  # the schedule does change the rate


@pytest.mark.parametrize("name", ["ReduceLROnPlateau", "CosineAnnealingWarmRestarts",
                                  "CyclicLR", "PolynomialLR", "ConstantLR",
                                  "MultiplicativeLR", "ChainedScheduler"])
def test_scheduler_signature_matches_torch(name):
    assert _sig(getattr(LR, name).__init__) == _sig(getattr(TLR, name).__init__)


def test_cyclic_momentum_moves_opposite_to_the_rate():
    opt, _ = _pair()
    sched = LR.CyclicLR(opt, 0.01, 0.1, step_size_up=4, base_momentum=0.8, max_momentum=0.9)
    seen = []
    for _ in range(8):
        opt.step()
        sched.step()
        seen.append((opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"]))
    assert seen[3] == pytest.approx((0.1, 0.8)) and seen[7] == pytest.approx((0.01, 0.9))
    for (lr, m), (lr2, m2) in zip(seen, seen[1:]):
        assert (lr2 - lr) * (m2 - m) < 0


def test_plateau_reads_tensor_metrics_and_restores_its_comparison():
    opt, _ = _pair()
    sched = LR.ReduceLROnPlateau(opt, mode="max", patience=0, factor=0.5)
    sched.step(tg.tensor(1.0))
    sched.step(tg.tensor(0.5))
    assert sched.get_last_lr() == [0.05, 0.025]
    other = LR.ReduceLROnPlateau(opt)
    other.load_state_dict(sched.state_dict())
    assert other.mode == "max" and other.mode_worse == -math.inf and other.best == 1.0
    with pytest.raises(ValueError, match="Factor"):
        LR.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode 'median'"):
        LR.ReduceLROnPlateau(opt, mode="median")
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        LR.ChainedScheduler([sched])


def test_warm_restarts_refuse_bad_periods():
    opt, _ = _pair()
    with pytest.raises(ValueError, match="T_0"):
        LR.CosineAnnealingWarmRestarts(opt, T_0=0)
    with pytest.raises(ValueError, match="T_mult"):
        LR.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=0)
    sched = LR.CosineAnnealingWarmRestarts(opt, T_0=2)
    with pytest.raises(ValueError, match="non-negative epoch"):
        sched.step(-1)
