"""tensorgrad.optim.swa_utils (AveragedModel, SWALR, update_bn, the averaging functions),
Adafactor and SparseAdam against PyTorch, on every device; and the host synchronisations of
their steps on the CuPy stand-in (none after the warm-up)."""

import numpy as np
import pytest
from conftest import CUPY_STANDIN
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
import tensorgrad.nn as nn
from tensorgrad.optim import swa_utils

torch = pytest.importorskip("torch")
tswa = torch.optim.swa_utils

STEPS = 20


# ---- Adafactor --------------------------------------------------------------------------------
ADAFACTOR = [
    dict(),
    dict(lr=0.1),
    dict(lr=0.05, weight_decay=0.1),
    dict(lr=0.05, beta2_decay=-0.5, eps=(1e-20, 1e-2), d=2.0),
    dict(lr=0.05, maximize=True),
    dict(lr=0.05, foreach=True, weight_decay=0.01),
]


@pytest.mark.parametrize("kw", ADAFACTOR, ids=[str(i) for i in range(len(ADAFACTOR))])
def test_adafactor_matches_torch_through_a_state_dict_round_trip(kw, device):
    start, coefs = optim_data(11, STEPS)
    want, topt = torch_run("Adafactor", kw, start, coefs)
    params = [tg.tensor(put(a, device), requires_grad=True) for a in start]
    opt = tg.optim.Adafactor(two_groups(params, kw), **kw)
    got = list(tg_steps(opt, params, coefs[:10], device))
    sd = opt.state_dict()
    tsd = topt.state_dict()
    for idx in (0, 1):  # the vector keeps a variance, the matrix row and column factors
        assert set(sd["state"][idx]) == set(tsd["state"][idx])
        for name, v in sd["state"][idx].items():
            if name != "step":
                assert on(v, device)
                assert tuple(v.shape) == tuple(tsd["state"][idx][name].shape)
    assert set(sd["state"][1]) == {"step", "row_var", "col_var"}
    for g, tgroup in zip(sd["param_groups"], tsd["param_groups"], strict=True):
        assert set(g) == set(tgroup)
    fresh, other = reloaded("Adafactor", params, sd, device)
    got += list(tg_steps(other, fresh, coefs[10:], device))
    assert_iterates_close(got, want)


def test_adafactor_factors_the_last_two_dimensions_of_a_3d_parameter(device, rng):
    start = rng.standard_normal((2, 3, 4))
    coefs = [rng.standard_normal((2, 3, 4)) for _ in range(STEPS)]
    tp = torch.tensor(start, requires_grad=True)
    topt = torch.optim.Adafactor([tp], lr=0.05)
    p = tg.tensor(put(start, device), requires_grad=True)
    opt = tg.optim.Adafactor([p], lr=0.05)
    for c in coefs:
        topt.zero_grad()
        (tp.sin() * torch.tensor(c)).sum().backward()
        topt.step()
        opt.zero_grad()
        (p.sin() * tg.tensor(put(c, device))).sum().backward()
        opt.step()
    np.testing.assert_allclose(host(p), tp.detach().numpy(), rtol=1e-10, atol=1e-12)
    st = opt.state[id(p)]
    assert st["row_var"].shape == (2, 3, 1) and st["col_var"].shape == (2, 1, 4)
    np.testing.assert_allclose(host(st["col_var"]), topt.state[tp]["col_var"].numpy(),
                               rtol=1e-10)


def test_adafactor_float32_stays_float32(device):
    p = tg.tensor(put(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4), device),
                  requires_grad=True)
    opt = tg.optim.Adafactor([p])
    for _ in range(3):
        opt.zero_grad()
        (p ** 3).sum().backward()
        opt.step()
    assert p.dtype == np.float32
    assert all(v.dtype == np.float32 for k, v in opt.state[id(p)].items() if k != "step")


@pytest.mark.parametrize("kw, match", [
    (dict(lr=-1.0), "Learning rate"),
    (dict(beta2_decay=0.1), "beta2_decay"),
    (dict(eps=(-1.0, 1e-3)), "epsilon1"),
    (dict(eps=(None, -1e-3)), "epsilon2"),
    (dict(d=0.5), "Clipping threshold"),
    (dict(weight_decay=-0.1), "weight_decay"),
])
def test_adafactor_refuses_bad_hyperparameters_as_torch(kw, match):
    with pytest.raises(ValueError):
        torch.optim.Adafactor([torch.zeros(2, requires_grad=True)], **kw)
    with pytest.raises(ValueError, match=match):
        tg.optim.Adafactor([tg.zeros(2, requires_grad=True)], **kw)


def test_adafactor_refuses_complex_parameters_and_bad_factor_shapes():
    z = tg.zeros(2, dtype=np.complex128, requires_grad=True)
    z.grad = tg.ones(2, dtype=np.complex128)
    with pytest.raises(RuntimeError, match="complex"):
        tg.optim.Adafactor([z]).step()
    w = tg.ones(3, 4, requires_grad=True)
    opt = tg.optim.Adafactor([w])
    (w * w).sum().backward()
    opt.step()
    sd = opt.state_dict()
    sd["state"][0]["row_var"] = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"'row_var' of parameter 0 has shape \(3, 4\), expected "
                                         r"\(3, 1\)"):
        tg.optim.Adafactor([tg.ones(3, 4, requires_grad=True)]).load_state_dict(sd)
    with pytest.raises(TypeError):
        tg.optim.Adafactor([w], differentiable=True)  # PyTorch's takes no such flag either


# ---- SparseAdam -------------------------------------------------------------------------------
def _sparse_data(seed):
    rng = np.random.default_rng(seed)
    start = [rng.standard_normal(6), rng.standard_normal((3, 4))]
    masks = [(rng.random(6) < 0.5, rng.random((3, 4)) < 0.5) for _ in range(STEPS)]
    coefs = [(rng.standard_normal(6) * a, rng.standard_normal((3, 4)) * b) for a, b in masks]
    return start, coefs


def _sparse_loss(w, m, c, d):
    # the gradient is zero exactly where the coefficient is: a sparse pattern per step
    return (w.cos() * c).sum() + (m.tanh() * m * d).sum()


@pytest.mark.parametrize("kw", [dict(), dict(lr=0.05, betas=(0.8, 0.9), eps=1e-6),
                                dict(lr=0.02, maximize=True)], ids=["default", "betas", "max"])
def test_sparse_adam_matches_torch_given_sparse_gradients(kw, device):
    start, coefs = _sparse_data(3)
    tps = [torch.tensor(a, requires_grad=True) for a in start]
    topt = torch.optim.SparseAdam(tps, **kw)
    want = []
    for c, d in coefs:
        topt.zero_grad()
        _sparse_loss(*tps, torch.tensor(c), torch.tensor(d)).backward()
        for p in tps:
            p.grad = p.grad.to_sparse()
        topt.step()
        want.append([p.detach().numpy().copy() for p in tps])
    params = [tg.tensor(put(a, device), requires_grad=True) for a in start]
    opt = tg.optim.SparseAdam(params, **kw)
    got = []
    for i, (c, d) in enumerate(coefs):
        if i == 10:  # a state dict round trip into fresh objects halfway
            sd = opt.state_dict()
            params = [tg.tensor(put(host(p).copy(), device), requires_grad=True)
                      for p in params]
            opt = tg.optim.SparseAdam(params, lr=0.3)
            opt.load_state_dict(sd)
        opt.zero_grad()
        _sparse_loss(*params, tg.tensor(put(c, device)), tg.tensor(put(d, device))).backward()
        opt.step()
        got.append([host(p).copy() for p in params])
    assert_iterates_close(got, want)
    tsd = topt.state_dict()
    assert set(opt.state_dict()["state"][1]) == set(tsd["state"][1])
    assert set(opt.state_dict()["param_groups"][0]) == set(tsd["param_groups"][0])


def test_sparse_adam_on_an_embedding_matches_torchs_sparse_embedding(device, rng):
    table = rng.standard_normal((10, 3))
    ids = [rng.integers(0, 10, 4) for _ in range(8)]
    temb = torch.nn.Embedding(10, 3, sparse=True, _weight=torch.tensor(table))
    topt = torch.optim.SparseAdam(temb.parameters(), lr=0.1)
    emb = nn.Embedding(10, 3, _weight=tg.tensor(put(table, device)))
    opt = tg.optim.SparseAdam(emb.parameters(), lr=0.1)
    for i in ids:
        topt.zero_grad()
        (temb(torch.tensor(i)) ** 2).sum().backward()
        topt.step()
        opt.zero_grad()
        (emb(tg.tensor(put(i, device))) ** 2).sum().backward()
        opt.step()
    np.testing.assert_allclose(host(emb.weight), temb.weight.detach().numpy(), rtol=1e-12)
    untouched = sorted(set(range(10)) - set(np.concatenate(ids).tolist()))
    np.testing.assert_array_equal(host(emb.weight)[untouched], table[untouched])


@pytest.mark.parametrize("kw", [dict(lr=0.0), dict(eps=0.0), dict(betas=(1.0, 0.9)),
                                dict(betas=(0.9, -0.1))], ids=["lr", "eps", "beta1", "beta2"])
def test_sparse_adam_refuses_bad_hyperparameters_as_torch(kw):
    with pytest.raises(ValueError):
        torch.optim.SparseAdam([torch.zeros(2, requires_grad=True)], **kw)
    with pytest.raises(ValueError, match="SparseAdam: Invalid"):
        tg.optim.SparseAdam([tg.zeros(2, requires_grad=True)], **kw)
    with pytest.raises(ValueError, match="complex"):
        tg.optim.SparseAdam([tg.zeros(2, dtype=np.complex64, requires_grad=True)])


# ---- AveragedModel ----------------------------------------------------------------------------
def _nets(device, rng):
    """The same small BatchNorm model in PyTorch and tensorgrad (ours on ``device``)."""
    tnet = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4),
                               torch.nn.Linear(4, 2)).double()
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)).double().to(device)
    _set_both(tnet, net, rng, device)
    return tnet, net


def _set_both(tnet, net, rng, device, buffers=True):
    """New random values for every parameter (and buffer) of both models."""
    tstate = tnet.state_dict()
    with tg.no_grad():
        for name, t in net.state_dict(keep_vars=True).items():
            if not buffers and name not in dict(tnet.named_parameters()):
                continue
            if t.dtype.kind == "i":
                v = rng.integers(0, 50, t.shape)
            else:
                v = rng.standard_normal(t.shape)
                if "running_var" in name:
                    v = np.abs(v) + 0.1
            t.copy_(tg.tensor(put(v.astype(t.dtype), device)))
            tstate[name].copy_(torch.tensor(v))


def _assert_same(avg, tavg, device, rtol=1e-12):
    tsd = tavg.state_dict()
    sd = avg.state_dict()
    assert list(sd) == list(tsd)  # n_averaged first, then module.*, as PyTorch's
    for k, v in sd.items():
        assert on(v, device), k
        np.testing.assert_allclose(host(v), tsd[k].numpy(), rtol=rtol, atol=rtol, err_msg=k)


AVERAGING = {
    "swa": dict(),
    "swa-buffers": dict(use_buffers=True),
    "ema-multi": dict(multi_avg_fn="ema_multi"),
    "ema-multi-buffers": dict(multi_avg_fn="ema_multi", use_buffers=True),
    "ema-one": dict(avg_fn="ema"),
    "swa-multi": dict(multi_avg_fn="swa_multi"),  # PyTorch's fails on int64 buffers
    "swa-one": dict(avg_fn="swa"),
    "custom": dict(avg_fn="custom"),
}


def _fns(mod, kw):
    pick = {"ema_multi": lambda: mod.get_ema_multi_avg_fn(0.8),
            "swa_multi": mod.get_swa_multi_avg_fn,
            "ema": lambda: mod.get_ema_avg_fn(0.7), "swa": mod.get_swa_avg_fn,
            "custom": lambda: (lambda a, c, n: a * 0.5 + c * n * 0.25)}
    return {k: (pick[v]() if k in ("avg_fn", "multi_avg_fn") else v) for k, v in kw.items()}


@pytest.mark.parametrize("kw", list(AVERAGING.values()), ids=list(AVERAGING))
def test_averaged_model_matches_torch_through_a_state_dict_round_trip(kw, device, rng):
    tnet, net = _nets(device, rng)
    rtol = 1e-6 if kw.get("multi_avg_fn") == "swa_multi" else 1e-12
    tavg = tswa.AveragedModel(tnet, **_fns(tswa, kw))
    avg = swa_utils.AveragedModel(net, **_fns(swa_utils, kw))
    for step in range(6):
        if step == 3:  # a fresh copy loaded from the state dict goes on averaging
            sd = avg.state_dict()
            avg = swa_utils.AveragedModel(net, **_fns(swa_utils, kw))
            avg.load_state_dict(sd)
        _set_both(tnet, net, rng, device)
        tavg.update_parameters(tnet)
        avg.update_parameters(net)
        # PyTorch's get_swa_multi_avg_fn weighs by 1 / (n + 1) computed in float32 (the
        # default dtype), ours in the parameters' dtype: they agree to float32's precision
        _assert_same(avg, tavg, device, rtol)
    assert int(avg.n_averaged.item()) == 6
    assert avg.n_averaged.dtype == np.int64
    x = rng.standard_normal((5, 3))
    avg.eval()
    tavg.eval()
    np.testing.assert_allclose(host(avg(tg.tensor(put(x, device)))),
                               tavg(torch.tensor(x)).detach().numpy(), rtol=rtol)


def test_averaged_model_is_a_copy_and_can_live_on_another_device(cuda_device, rng):
    net = nn.Linear(3, 2).double()
    avg = swa_utils.AveragedModel(net, device=cuda_device)
    assert avg.module is not net and avg.module.weight is not net.weight
    assert on(avg.module.weight, cuda_device) and on(avg.n_averaged, cuda_device)
    assert on(net.weight, "cpu")
    values = []
    for _ in range(3):
        with tg.no_grad():
            net.weight.copy_(tg.tensor(rng.standard_normal((2, 3))))
        values.append(net.weight.numpy().copy())
        avg.update_parameters(net)
    np.testing.assert_allclose(host(avg.module.weight), np.mean(values, axis=0), rtol=1e-12)


def test_averaged_model_refuses_two_averaging_functions():
    with pytest.raises(AssertionError):
        tswa.AveragedModel(torch.nn.Linear(1, 1), avg_fn=tswa.get_swa_avg_fn(),
                           multi_avg_fn=tswa.get_swa_multi_avg_fn())
    with pytest.raises(ValueError, match="only one of avg_fn and multi_avg_fn"):
        swa_utils.AveragedModel(nn.Linear(1, 1), avg_fn=swa_utils.get_swa_avg_fn(),
                                multi_avg_fn=swa_utils.get_swa_multi_avg_fn())
    for make in (swa_utils.get_ema_avg_fn, swa_utils.get_ema_multi_avg_fn):
        with pytest.raises(ValueError, match="Invalid decay value 1.5"):
            make(1.5)


def test_averaging_functions_on_plain_tensors(device):
    a = tg.tensor(put(np.array([1.0, 2.0], np.float32), device))
    b = tg.tensor(put(np.array([3.0, 6.0], np.float32), device))
    n = tg.tensor(put(np.array(3, np.int64), device))
    out = swa_utils.get_swa_avg_fn()(a, b, n)
    assert out.dtype == np.float32  # a float32 average stays float32, as PyTorch's
    np.testing.assert_allclose(host(out), [1.5, 3.0])
    np.testing.assert_allclose(host(swa_utils.get_ema_avg_fn(0.75)(a, b, n)), [1.5, 3.0])
    ints = tg.tensor(put(np.array([1, 10], np.int64), device))
    swa_utils.get_swa_multi_avg_fn()([ints], [tg.tensor(put(np.array([4, 1]), device))], 2)
    assert host(ints).tolist() == [2, 7]  # 1 + 3/3, 10 - 9/3: truncated, as PyTorch's copy_
    swa_utils.get_ema_multi_avg_fn(0.5)([a], [b], None)
    np.testing.assert_allclose(host(a), [2.0, 4.0])


# ---- update_bn --------------------------------------------------------------------------------
def test_update_bn_matches_torch(device, rng):
    tnet, net = _nets(device, rng)
    xs = [rng.standard_normal((6, 3)) for _ in range(4)]
    momentum = net[1].momentum
    tnet.eval()
    net.eval()
    tswa.update_bn([[torch.tensor(x), 0] for x in xs], tnet)
    swa_utils.update_bn([[tg.tensor(x), 0] for x in xs], net, device=device)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_allclose(host(getattr(net[1], name)),
                                   getattr(tnet[1], name).numpy(), rtol=1e-12, err_msg=name)
    assert not net.training and net[1].momentum == momentum
    assert int(net[1].num_batches_tracked.item()) == 4


def test_update_bn_without_batchnorm_reads_nothing():
    def loader():
        raise AssertionError("the loader was iterated")
        yield

    net = nn.Sequential(nn.Linear(2, 2))
    swa_utils.update_bn(loader(), net)  # returns at once: no BatchNorm layer
    assert net.training


# ---- SWALR ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kw", [
    dict(swa_lr=0.05),
    dict(swa_lr=[0.05, 0.2], anneal_epochs=3, anneal_strategy="linear"),
    dict(swa_lr=0.5, anneal_epochs=0),
    dict(swa_lr=0.01, anneal_epochs=4, anneal_strategy="cos"),
], ids=["default", "linear-per-group", "no-anneal", "cos"])
def test_swalr_matches_torch(kw):
    def rates(optim, sched_mod, tensor):
        ps = [tensor([1.0], requires_grad=True), tensor([2.0], requires_grad=True)]
        opt = optim.SGD([{"params": [ps[0]]}, {"params": [ps[1]], "lr": 0.3}], lr=1.0)
        sched = sched_mod.SWALR(opt, **kw)
        out = [sched.get_last_lr()]
        for step in range(12):
            opt.step()
            if step == 5:
                state = sched.state_dict()
                sched = sched_mod.SWALR(opt, **kw)
                sched.load_state_dict(state)
            sched.step()
            out.append(sched.get_last_lr())
        return out, [g["swa_lr"] for g in opt.param_groups]

    got, got_swa = rates(tg.optim, swa_utils, tg.tensor)
    want, want_swa = rates(torch.optim, tswa, torch.tensor)
    np.testing.assert_allclose(got, want, rtol=1e-14)
    assert got_swa == want_swa


@pytest.mark.parametrize("kw, match", [
    (dict(swa_lr=0.1, anneal_strategy="exp"), "anneal_strategy must be one of"),
    (dict(swa_lr=0.1, anneal_epochs=-1), "anneal_epochs must be equal or greater than 0"),
    (dict(swa_lr=0.1, anneal_epochs=2.5), "anneal_epochs"),
    (dict(swa_lr=[0.1, 0.2]), "swa_lr must have the same length"),
])
def test_swalr_refuses_bad_arguments_as_torch(kw, match):
    with pytest.raises(ValueError):
        tswa.SWALR(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0), **kw)
    with pytest.raises(ValueError, match=match):
        swa_utils.SWALR(tg.optim.SGD([tg.zeros(1, requires_grad=True)], lr=1.0), **kw)


# ---- no host synchronisation --------------------------------------------------------------
@pytest.mark.skipif(not CUPY_STANDIN, reason="the synchronisation recorder is the stand-in's")
@pytest.mark.parametrize("make_avg, make_opt", [
    (lambda m: swa_utils.AveragedModel(m), lambda p: tg.optim.Adafactor(p)),
    (lambda m: swa_utils.AveragedModel(m, use_buffers=True),
     lambda p: tg.optim.Adafactor(p, weight_decay=0.01, maximize=True)),
    (lambda m: swa_utils.AveragedModel(m, multi_avg_fn=swa_utils.get_ema_multi_avg_fn(0.9),
                                       use_buffers=True), lambda p: tg.optim.SparseAdam(p)),
    (lambda m: swa_utils.AveragedModel(m, avg_fn=swa_utils.get_ema_avg_fn(0.9)),
     lambda p: tg.optim.SGD(p, lr=0.1)),
    (lambda m: swa_utils.AveragedModel(m, avg_fn=swa_utils.get_swa_avg_fn()),
     lambda p: tg.optim.Adafactor(p, foreach=True)),
], ids=["swa-adafactor", "swa-buffers", "ema-multi-sparseadam", "ema-one", "swa-one"])
def test_training_with_averaging_makes_no_host_sync(make_avg, make_opt):
    from cupy_standin import _sync

    cuda = "cuda"
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(),
                          nn.Linear(8, 3)).to(cuda)
    avg = make_avg(model)
    opt = make_opt(model.parameters())
    sched = swa_utils.SWALR(opt, swa_lr=0.01, anneal_epochs=3)
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((8, 6)).astype(np.float32), device=cuda)
    y = tg.tensor(rng.integers(0, 3, 8), device=cuda)

    def step():
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        avg.update_parameters(model)
        sched.step()

    for _ in range(2):
        step()
    with _sync.watch() as w:
        step()
        step()
    assert not w.events, w.report()
    assert host(avg.n_averaged).item() == 4


@pytest.mark.skipif(not CUPY_STANDIN, reason="the synchronisation recorder is the stand-in's")
def test_the_recorder_sees_an_averaging_function_that_reads_the_count():
    from cupy_standin import _sync

    def reads_count(avg, cur, n):  # PyTorch's own AveragedModel does bool(n_averaged == 0)
        return avg + (cur - avg) / (n.item() + 1)

    model = nn.Linear(3, 2).to("cuda")
    avg = swa_utils.AveragedModel(model, avg_fn=reads_count)
    avg.update_parameters(model)
    with _sync.watch() as w:
        avg.update_parameters(model)
    assert [e[0] for e in w.events] == ["ndarray.item"] * 2, w.report()  # weight and bias


@pytest.mark.parametrize("ours, theirs", [
    (tg.optim.Adafactor.__init__, torch.optim.Adafactor.__init__),
    (tg.optim.SparseAdam.__init__, torch.optim.SparseAdam.__init__),
    (swa_utils.AveragedModel.__init__, tswa.AveragedModel.__init__),
    (swa_utils.AveragedModel.update_parameters, tswa.AveragedModel.update_parameters),
    (swa_utils.SWALR.__init__, tswa.SWALR.__init__),
    (swa_utils.update_bn, tswa.update_bn),
    (swa_utils.get_ema_multi_avg_fn, tswa.get_ema_multi_avg_fn),
    (swa_utils.get_ema_avg_fn, tswa.get_ema_avg_fn),
    (swa_utils.get_swa_multi_avg_fn, tswa.get_swa_multi_avg_fn),
    (swa_utils.get_swa_avg_fn, tswa.get_swa_avg_fn),
], ids=lambda f: getattr(f, "__qualname__", ""))
def test_signatures_are_torchs(ours, theirs):
    from devices import assert_takes_torchs_parameters, torch_param_names

    assert_takes_torchs_parameters(ours.__qualname__, ours, torch_param_names(theirs))
