"""Run PyTorch's OptimizerInfo configurations (``torch.testing._internal.common_optimizers.
optim_db``: the keyword sets torch tests each optimizer with) through tensorgrad's optimizer of
the same name: both optimize the same float64 problem (a small least-squares model with two
parameters, some steps), and the parameters after every step and the loss must agree; then
torch's error inputs (bad learning rates, betas, parameter lists) must raise in tensorgrad too.

Used by ``tests/test_optiminfo_torch.py``; ``python tests/optiminfo_check.py [Name ...]``
prints what differs.
"""

import sys
import warnings

import numpy as np
import torch
from opinfo_check import _array, differs, main, to_tg
from torch.testing._internal.common_optimizers import OptimizerErrorEnum, optim_db

import tensorgrad as tg

OPTIMIZERS = {o.optim_cls.__name__: o for o in optim_db}
STEPS = 6

_rng = np.random.default_rng(0)
X = _rng.standard_normal((8, 4))
Y = _rng.standard_normal((8, 3))
W0 = _rng.standard_normal((3, 4)) * 0.5
B0 = _rng.standard_normal(3) * 0.1


def _problem(tensor):
    """Parameters (weight, bias) and a closure computing the loss and its gradients."""
    w = tensor(W0.copy(), requires_grad=True)
    b = tensor(B0.copy(), requires_grad=True)
    x, y = tensor(X), tensor(Y)

    def loss_fn():
        r = x @ w.T + b - y
        return (r * r).mean() + 0.1 * (w * w * w * w).sum()  # not quadratic: curvature changes

    return [w, b], loss_fn


def _run(cls, kwargs, tensor):
    params, loss_fn = _problem(tensor)
    opt = cls(params, **kwargs)
    history = []

    def closure():
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss

    for _ in range(STEPS):
        loss = opt.step(closure)
        history.append((float(loss), [_array(p).copy() for p in params]))
    return history


def check_config(info, oi, i):
    name = info.optim_cls.__name__
    kwargs = dict(oi.kwargs)
    where = f"[{i}] {oi.desc}: {kwargs}"
    ours = getattr(tg.optim, name, None)
    try:
        want = _run(info.optim_cls, kwargs, lambda a, **k: torch.tensor(a, **k))
    except Exception:  # torch refuses this configuration on the cpu
        return []
    try:
        got = _run(ours, to_tg(kwargs, []), lambda a, **k: tg.tensor(a, **k))
    except Exception as e:
        return [f"{where}: raises {type(e).__name__}: {str(e)[:160]}"]
    for step, ((lw, pw), (lg, pg)) in enumerate(zip(want, got)):
        bad = differs(np.array(lw), np.array(lg), scale=1000)
        if bad:
            return [f"{where}: step {step + 1} loss: {bad}"]
        for a, b in zip(pw, pg):
            bad = differs(a, b, scale=1000, check_dtype=False)
            if bad:
                return [f"{where}: step {step + 1} parameters: {bad}"]
    return []


def check_errors(info):
    """torch's error inputs on which tensorgrad raises nothing."""
    name = info.optim_cls.__name__
    ours = getattr(tg.optim, name)
    out = []
    for ei in info.optim_error_inputs_func(device="cpu", dtype=torch.float64):
        if ei.error_type is UserWarning or not issubclass(ei.error_type, Exception):
            continue
        inp = ei.optimizer_error_input
        params = inp.params
        if params is None:
            params = [torch.nn.Parameter(torch.tensor(W0.copy()))]

        made = {}  # one tensorgrad parameter per torch parameter (duplicates stay duplicates)

        def convert(v):
            if id(v) not in made:
                made[id(v)] = tg.nn.Parameter(tg.tensor(v.detach().numpy().copy()))
            return made[id(v)]

        def walk(v):
            if isinstance(v, torch.Tensor):
                return convert(v) if isinstance(v, torch.nn.Parameter) else to_tg(v, [])
            if isinstance(v, dict):
                return {k: walk(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return type(v)(walk(x) for x in v)
            return v

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                opt = ours(walk(params), **walk(dict(inp.kwargs)))
                if ei.error_on == OptimizerErrorEnum.STEP_ERROR:
                    for group in opt.param_groups:
                        for p in group["params"]:
                            p.grad = tg.ones_like(p)
                    opt.step()
        except Exception:
            continue
        out.append(f"no error where torch raises {ei.error_type.__name__} "
                   f"({ei.error_regex!r}): params {type(params).__name__}, kwargs {inp.kwargs}")
    return out


def check(info):
    name = info.optim_cls.__name__
    if getattr(tg.optim, name, None) is None:
        return [f"no tensorgrad optimizer {name}"]
    problems = []
    for i, oi in enumerate(info.optim_inputs_func(device="cpu")):
        problems += check_config(info, oi, i)
    return problems + check_errors(info)


if __name__ == "__main__":
    main(sys.argv[1:] or list(OPTIMIZERS), lambda name: check(OPTIMIZERS[name]), "optimizers")
