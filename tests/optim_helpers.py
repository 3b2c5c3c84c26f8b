"""Shared pieces of the optimizer-against-PyTorch tests (test_optim_more, test_optim_extra):
a two-parameter problem with bounded, parameter-dependent gradients, two parameter groups,
and the runs of one optimizer on it in PyTorch and in tensorgrad."""

import numpy as np
from devices import host, put

import tensorgrad as tg


def optim_data(seed, steps):
    """Starting values of the two parameters, shapes (5,) and (2, 3), and ``steps`` pairs of
    loss coefficients."""
    rng = np.random.default_rng(seed)
    start = [rng.standard_normal(s) for s in ((5,), (2, 3))]
    coefs = [(rng.standard_normal(5), rng.standard_normal((2, 3))) for _ in range(steps)]
    return start, coefs


def optim_loss(w, m, c, d):
    # bounded gradients that depend on the parameters: a fair test for maximize too
    return (w.cos() * c).sum() + (m.tanh() * m * d).sum() + 0.05 * (w * w).sum()


def two_groups(params, kw):
    # two groups: the second with its own learning rate (per-group hyper-parameters)
    return [{"params": [params[0]]}, {"params": [params[1]], "lr": kw.get("lr", 0.01) * 0.5}]


def torch_run(name, kw, start, coefs):
    """The iterates of ``torch.optim.<name>(**kw)`` over ``coefs``, and the optimizer."""
    import torch

    ps = [torch.tensor(a, requires_grad=True) for a in start]
    opt = getattr(torch.optim, name)(two_groups(ps, kw), **kw)
    out = []
    for c, d in coefs:
        opt.zero_grad()
        optim_loss(*ps, torch.tensor(c), torch.tensor(d)).backward()
        opt.step()
        out.append([p.detach().numpy().copy() for p in ps])
    return out, opt


def tg_steps(opt, params, coefs, device):
    """Step ``opt`` over ``coefs``, yielding the parameters on the host after each step."""
    for c, d in coefs:
        opt.zero_grad()
        optim_loss(*params, tg.tensor(put(c, device)), tg.tensor(put(d, device))).backward()
        opt.step()
        yield [host(p).copy() for p in params]


def reloaded(name, params, state_dict, device):
    """Fresh copies of ``params`` and a fresh ``tg.optim.<name>`` over them with other
    hyper-parameters (lr=0.3), loaded from ``state_dict``: the state decides."""
    fresh = [tg.tensor(put(host(p).copy(), device), requires_grad=True) for p in params]
    other = getattr(tg.optim, name)(two_groups(fresh, {"lr": 0.3}), lr=0.3)
    other.load_state_dict(state_dict)
    return fresh, other


def assert_iterates_close(got, want):
    for step, (a, b) in enumerate(zip(got, want, strict=True)):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-12, err_msg=f"step {step}")
