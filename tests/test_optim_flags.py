"""PyTorch's implementation switches on the optimizers (``foreach``, ``fused``, ``capturable``,
``differentiable``, Adam's ``decoupled_weight_decay``): accepted with PyTorch's signatures and
checks, shown in ``param_groups`` as PyTorch's are, and giving the same updates on either
device whichever path they select."""

import inspect

import numpy as np
import pytest
from devices import host, put

import tensorgrad as tg

OPTIMIZERS = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]
HYPER = {"SGD": dict(lr=0.1, momentum=0.9, weight_decay=0.01),
         "Adam": dict(lr=0.01, weight_decay=0.01, amsgrad=True),
         "AdamW": dict(lr=0.01),
         "RMSprop": dict(lr=0.01, momentum=0.5, centered=True),
         "Adagrad": dict(lr=0.1, lr_decay=0.01)}


def _run(name, device, steps=3, hyper=None, **flags):
    rng = np.random.default_rng(0)
    ws = [tg.tensor(put(rng.standard_normal(s), device), requires_grad=True)
          for s in [(3, 4), (4,), (2, 2, 2)]]
    opt = getattr(tg.optim, name)(ws, **(hyper or HYPER[name]), **flags)
    for _ in range(steps):
        opt.zero_grad()
        sum(((w * w * w).sum() for w in ws), tg.tensor(put(np.zeros(()), device))).backward()
        opt.step()
    return [host(w.data) for w in ws], opt


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_signature_matches_pytorch(name):
    torch = pytest.importorskip("torch")
    ours = inspect.signature(getattr(tg.optim, name)).parameters
    theirs = inspect.signature(getattr(torch.optim, name)).parameters
    assert list(ours) == list(theirs)
    for k, p in theirs.items():
        assert ours[k].kind == p.kind, k
    opt_t = getattr(torch.optim, name)([torch.nn.Parameter(torch.ones(2))])
    opt_o = getattr(tg.optim, name)([tg.tensor([1.0, 1.0], requires_grad=True)])
    assert sorted(opt_o.defaults) == sorted(opt_t.defaults)
    for k in ("foreach", "differentiable", "fused", "capturable", "decoupled_weight_decay"):
        if k in opt_t.defaults:
            assert opt_o.defaults[k] == opt_t.defaults[k], k


# every switch each optimizer takes in PyTorch (RMSprop has no fused; SGD and Adagrad no
# capturable)
SWITCHES = [(name, flags) for name in OPTIMIZERS
            for flags in (dict(foreach=False), dict(foreach=True), dict(fused=True),
                          dict(capturable=True))
            if not ("fused" in flags and name == "RMSprop")
            and not ("capturable" in flags and name in ("SGD", "Adagrad"))]


@pytest.mark.parametrize("name, flags", SWITCHES,
                         ids=[f"{n}-{next(iter(f))}={next(iter(f.values()))}"
                              for n, f in SWITCHES])
def test_paths_give_the_same_update(name, flags, device):
    want, _ = _run(name, device)
    got, opt = _run(name, device, **flags)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    k, v = next(iter(flags.items()))
    assert opt.param_groups[0][k] == v


def test_foreach_false_takes_the_per_parameter_path_on_cuda(device, monkeypatch):
    from tensorgrad.backend import cuda as kcuda

    launches = []
    monkeypatch.setattr(kcuda, "sgd_flat", lambda *a, **k: launches.append(a))
    _run("SGD", device, steps=1, foreach=False)
    assert launches == []
    _run("SGD", device, steps=1)
    assert len(launches) == (1 if device == "cuda" else 0)


def test_adam_decoupled_weight_decay_is_adamw(device):
    a, _ = _run("Adam", device, decoupled_weight_decay=True)
    b, opt = _run("AdamW", device, hyper=HYPER["Adam"])
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-12)
    assert opt.defaults["decoupled_weight_decay"] is True
    c, _ = _run("Adam", device)  # L2 in the gradient: a different update
    assert not np.allclose(a[0], c[0])


def test_adam_decoupled_weight_decay_against_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal(5)
    w = tg.tensor(w0, requires_grad=True)
    wt = torch.tensor(w0, requires_grad=True)
    opt = tg.optim.Adam([w], lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)
    opt_t = torch.optim.Adam([wt], lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)
    for _ in range(4):
        for o, p in ((opt, w), (opt_t, wt)):
            o.zero_grad()
            (p ** 4).sum().backward()
            o.step()
    np.testing.assert_allclose(w.detach().numpy(), wt.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Adagrad"])
def test_fused_and_foreach_together_refused(name):
    with pytest.raises(RuntimeError, match="`fused` and `foreach` cannot be `True` together"):
        getattr(tg.optim, name)([tg.tensor([1.0], requires_grad=True)], foreach=True,
                                fused=True)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Adagrad"])
def test_fused_needs_floating_parameters(name, device):
    p = tg.tensor(put(np.arange(3), device))
    with pytest.raises(ValueError, match=f"{name}: `fused=True` requires all the params to be "
                                         "floating point Tensors, got one of dtype int64"):
        getattr(tg.optim, name)([p], fused=True)
    getattr(tg.optim, name)([p])  # without fused: accepted, as PyTorch does


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_differentiable_refused_clearly(name):
    with pytest.raises(NotImplementedError, match=f"{name}: differentiable=True"):
        getattr(tg.optim, name)([tg.tensor([1.0], requires_grad=True)], differentiable=True)


def test_rmsprop_takes_no_fused():
    with pytest.raises(TypeError):
        tg.optim.RMSprop([tg.tensor([1.0], requires_grad=True)], fused=True)


def test_flags_survive_state_dict_round_trip():
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    opt = tg.optim.Adam([w], foreach=False, capturable=True)
    sd = opt.state_dict()
    assert sd["param_groups"][0]["foreach"] is False
    other = tg.optim.Adam([tg.tensor([1.0, 2.0], requires_grad=True)])
    other.load_state_dict(sd)
    assert other.param_groups[0]["foreach"] is False
    assert other.param_groups[0]["capturable"] is True
