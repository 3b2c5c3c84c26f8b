"""tg.optim.Muon against torch.optim.Muon: iterates over 20 steps through a state_dict round
trip, options, errors, and no host synchronisation in a step on the cuda stand-in.

torch runs the Newton-Schulz iterations in bfloat16, which NumPy and CuPy lack; tensorgrad runs
them in the parameter's dtype. The exact comparison therefore runs torch with its bfloat16 cast
turned into a plain copy (float64 throughout); a second test compares one step with torch as it
is, at bfloat16's precision."""

import contextlib
import inspect

import numpy as np
import pytest
from conftest import CUPY_STANDIN
from devices import assert_quiet, host, on, put
from optim_helpers import assert_iterates_close

import tensorgrad as tg

torch = pytest.importorskip("torch")

STEPS = 20
SHAPES = ((4, 3), (3, 5))  # a tall and a wide matrix: both orientations of the iteration


@contextlib.contextmanager
def _torch_without_bfloat16():
    old = torch.Tensor.bfloat16
    torch.Tensor.bfloat16 = lambda self, *a, **k: self.clone()
    try:
        yield
    finally:
        torch.Tensor.bfloat16 = old


def _data(seed=3):
    rng = np.random.default_rng(seed)
    start = [rng.standard_normal(s) for s in SHAPES]
    coefs = [tuple(rng.standard_normal(s) for s in SHAPES) for _ in range(STEPS)]
    return start, coefs


def _loss(a, b, c, d):
    # gradients that depend on the parameters and differ from step to step
    return (a.tanh() * c).sum() + (b * b * d).sum() + 0.1 * (a @ b).sum()


def _groups(params, kw):
    return [{"params": [params[0]]}, {"params": [params[1]], "lr": kw.get("lr", 1e-3) * 0.5}]


def _torch_run(kw, start, coefs):
    ps = [torch.tensor(a, requires_grad=True) for a in start]
    opt = torch.optim.Muon(_groups(ps, kw), **kw)
    out = []
    with _torch_without_bfloat16():
        for c, d in coefs:
            opt.zero_grad()
            _loss(*ps, torch.tensor(c), torch.tensor(d)).backward()
            opt.step()
            out.append([p.detach().numpy().copy() for p in ps])
    return out, opt


def _tg_steps(opt, params, coefs, device):
    for c, d in coefs:
        opt.zero_grad()
        _loss(*params, tg.tensor(put(c, device)), tg.tensor(put(d, device))).backward()
        opt.step()
        yield [host(p).copy() for p in params]


CONFIGS = [
    dict(),
    dict(lr=0.02, weight_decay=0.0),
    dict(lr=0.01, momentum=0.9, nesterov=False),
    dict(lr=0.01, adjust_lr_fn="match_rms_adamw", weight_decay=0.05),
    dict(lr=0.01, adjust_lr_fn="original", ns_steps=3, ns_coefficients=(2.0, -1.5, 0.5),
         eps=1e-5),
]


@pytest.mark.parametrize("kw", CONFIGS, ids=[str(i) for i in range(len(CONFIGS))])
def test_steps_match_torch_through_a_state_dict_round_trip(kw, device):
    start, coefs = _data()
    half = STEPS // 2
    want, topt = _torch_run(kw, start, coefs)
    params = [tg.tensor(put(a, device), requires_grad=True) for a in start]
    opt = tg.optim.Muon(_groups(params, kw), **kw)
    got = list(_tg_steps(opt, params, coefs[:half], device))
    sd = opt.state_dict()
    tsd = topt.state_dict()
    for idx in (0, 1):
        assert list(sd["state"][idx]) == list(tsd["state"][idx]) == ["momentum_buffer"]
        assert on(sd["state"][idx]["momentum_buffer"], device)
    for g, tgroup in zip(sd["param_groups"], tsd["param_groups"], strict=True):
        assert {k: v for k, v in g.items() if k != "params"} == \
            {k: v for k, v in tgroup.items() if k != "params"}
    # a fresh optimizer with other hyper-parameters: the loaded state decides
    fresh = [tg.tensor(put(host(p).copy(), device), requires_grad=True) for p in params]
    other = tg.optim.Muon(_groups(fresh, {"lr": 0.3}), lr=0.3, momentum=0.1)
    other.load_state_dict(sd)
    got += list(_tg_steps(other, fresh, coefs[half:], device))
    assert_iterates_close(got, want)
    moved = np.abs(got[-1][0] - start[0]).max()
    assert moved > 1e-4  # the run really moved the parameters


def test_one_step_matches_torch_in_bfloat16():
    start, coefs = _data(5)
    ps = [torch.tensor(a, requires_grad=True) for a in start]
    topt = torch.optim.Muon(ps, lr=0.1)
    _loss(*ps, *map(torch.tensor, coefs[0])).backward()
    topt.step()
    params = [tg.tensor(a, requires_grad=True) for a in start]
    opt = tg.optim.Muon(params, lr=0.1)
    _loss(*params, *map(tg.tensor, coefs[0])).backward()
    opt.step()
    for p, tp, a in zip(params, ps, start):
        step_tg, step_torch = p.numpy() - a, tp.detach().numpy() - a
        # bfloat16's rounding (8 bits of mantissa), compounded over 5 iterations: a few %
        rel = np.linalg.norm(step_tg - step_torch) / np.linalg.norm(step_torch)
        assert rel < 0.06, rel


def test_update_is_nearly_orthogonal(device):
    # one step from B = 0 without momentum or decay: the update is NS(g), whose singular
    # values the quintic pushes into roughly [0.6, 1.2]
    rng = np.random.default_rng(0)
    g = rng.standard_normal((6, 4))
    w = tg.tensor(put(np.zeros((6, 4)), device), requires_grad=True)
    opt = tg.optim.Muon([w], lr=1.0, weight_decay=0.0, momentum=0.0, nesterov=False,
                        adjust_lr_fn="match_rms_adamw")
    (w * tg.tensor(put(g, device))).sum().backward()
    opt.step()
    update = -host(w) / (0.2 * np.sqrt(6))
    s = np.linalg.svd(update, compute_uv=False)
    assert 0.5 < s.min() and s.max() < 1.3, s
    np.testing.assert_allclose(np.sign(update * g).sum() / g.size, 1.0, atol=0.3)


def test_float32_stays_float32_on_the_device(device):
    w = tg.tensor(put(np.ones((3, 2), np.float32), device), requires_grad=True)
    opt = tg.optim.Muon([w], lr=0.1)
    (w * w).sum().backward()
    opt.step()
    assert w.dtype == np.float32 and on(w.data, device)
    assert opt.state[id(w)]["momentum_buffer"].dtype == np.float32


def test_signature_and_defaults_match_torch():
    def sig(fn):
        return [(p.name, p.default) for p in inspect.signature(fn).parameters.values()]

    assert sig(tg.optim.Muon.__init__) == sig(torch.optim.Muon.__init__)


@pytest.mark.parametrize("kw, msg", [
    (dict(lr=-1.0), "Learning rate"),
    (dict(momentum=-0.1), "momentum"),
    (dict(weight_decay=-0.1), "weight decay"),
    (dict(adjust_lr_fn="bogus"), "Adjust learning rate"),
    (dict(ns_coefficients=(1.0, 2.0)), "ns_coefficients"),
    (dict(ns_steps=100), "ns_steps"),
])
def test_bad_hyper_parameters_are_refused(kw, msg):
    with pytest.raises(ValueError, match=msg):
        tg.optim.Muon([tg.ones(2, 2, requires_grad=True)], **kw)


def test_non_2d_parameters_are_refused():
    with pytest.raises(ValueError, match=r"2D parameters.*\(3,\)"):
        tg.optim.Muon([tg.ones(3, requires_grad=True)])


@pytest.mark.skipif(not CUPY_STANDIN, reason="the synchronisation recorder is the stand-in's")
def test_step_makes_no_host_sync():
    model = tg.nn.Sequential(tg.nn.Linear(8, 16, bias=False), tg.nn.Tanh(),
                             tg.nn.Linear(16, 3, bias=False)).to("cuda")
    opt = tg.optim.Muon(model.parameters(), lr=0.02)
    x = tg.tensor(np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32),
                  device="cuda")

    def step():
        opt.zero_grad()
        (model(x) ** 2).mean().backward()
        opt.step()

    assert_quiet(step)


def test_muon_refuses_complex_parameters():
    """Other optimizers step a complex parameter as real pairs (PyTorch's view_as_real); Muon
    orthogonalizes matrices and refuses it, as PyTorch's does."""
    z = tg.zeros(2, 2, dtype=np.complex128, requires_grad=True)
    z.grad = tg.ones(2, 2, dtype=np.complex128)
    with pytest.raises(RuntimeError, match="Muon does not support complex parameters"):
        tg.optim.Muon([z]).step()
