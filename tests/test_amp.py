"""Automatic mixed precision: ``tg.autocast`` (PyTorch's CUDA policy for the ops tensorgrad
has) and ``tg.amp.GradScaler`` (checked against ``torch.amp.GradScaler`` on the CPU)."""

import threading
import warnings

import numpy as np
import pytest
from conftest import CUPY_STANDIN
from devices import host, put, tensor_on, torch_oracle

import tensorgrad as tg
from tensorgrad.amp import autocast_mode
from tensorgrad.ops.registry import AUTOCAST

F = tg.nn.functional
F16 = np.dtype(np.float16)
F32 = np.dtype(np.float32)


def rnd(device, *shape, requires_grad=False, seed=0, scale=1.0):
    a = np.random.default_rng(seed).standard_normal(shape).astype(np.float32) * scale
    return tensor_on(a, device, requires_grad)


# ---- dtypes inside a region ------------------------------------------------------------------
def _lower_ops(device):
    x2, w2 = rnd(device, 3, 4, seed=1), rnd(device, 5, 4, seed=2)
    b3, c3 = rnd(device, 2, 3, 4, seed=3), rnd(device, 2, 4, 5, seed=4)
    img, k = rnd(device, 2, 3, 6, 6, seed=5), rnd(device, 4, 3, 3, 3, seed=6)
    seq, k1 = rnd(device, 2, 3, 7, seed=7), rnd(device, 4, 3, 3, seed=8)
    q = rnd(device, 2, 5, 8, seed=9)
    mha = tg.nn.MultiheadAttention(8, 2, batch_first=True).to(device)
    lin = tg.nn.Linear(4, 2).to(device)
    return {
        "@": lambda: x2 @ w2.T,
        "matmul": lambda: tg.matmul(b3, c3),
        "mm": lambda: tg.mm(x2, w2.T),
        "bmm": lambda: tg.bmm(b3, c3),
        "addmm": lambda: tg.addmm(rnd(device, 3, 5), x2, w2.T, beta=0.5),
        "linear": lambda: F.linear(x2, w2, rnd(device, 5)),
        "nn.Linear": lambda: lin(x2),
        "conv1d": lambda: F.conv1d(seq, k1, rnd(device, 4)),
        "conv2d": lambda: F.conv2d(img, k, rnd(device, 4), padding=1),
        "conv_transpose2d": lambda: F.conv_transpose2d(img, k.transpose(0, 1), stride=2),
        "sdpa": lambda: F.scaled_dot_product_attention(q, q, q, is_causal=True),
        "einsum": lambda: tg.einsum("bij,bjk->bik", b3, c3),
        "MultiheadAttention": lambda: mha(q, q, q, need_weights=False)[0],
    }


@pytest.mark.parametrize("name", list(_lower_ops("cpu")))
def test_lower_precision_list_runs_in_float16(device, name):
    op = _lower_ops(device)[name]
    assert op().dtype == F32  # outside: unchanged
    with tg.autocast(device):
        out = op()
    assert out.dtype == F16, name
    ref = op()
    np.testing.assert_allclose(host(out).astype(np.float32), host(ref), rtol=2e-2, atol=2e-2)


def _fp32_ops(device):
    def h(*shape, seed=0, positive=False):
        t = rnd(device, *shape, seed=seed)
        return (t.abs() + 0.1 if positive else t).to(tg.float16)

    logits = h(4, 3, seed=1)
    target = tensor_on(np.array([0, 2, 1, 0]), device)
    probs = F.softmax(h(4, 3, seed=2).float(), -1).to(tg.float16)
    img = h(2, 4, 3, 3, seed=3)
    return {
        "softmax": lambda: F.softmax(logits, -1),
        "log_softmax": lambda: F.log_softmax(logits, -1),
        "tg.softmax": lambda: tg.softmax(logits, 1),
        "cross_entropy": lambda: F.cross_entropy(logits, target),
        "nll_loss": lambda: F.nll_loss(logits, target),
        "mse_loss": lambda: F.mse_loss(logits, h(4, 3, seed=4)),
        "l1_loss": lambda: F.l1_loss(logits, h(4, 3, seed=4)),
        "huber_loss": lambda: F.huber_loss(logits, h(4, 3, seed=4)),
        "smooth_l1_loss": lambda: F.smooth_l1_loss(logits, h(4, 3, seed=4)),
        "kl_div": lambda: F.kl_div(F.log_softmax(logits.float(), -1).half(), probs,
                                   reduction="batchmean"),
        "bce": lambda: F.binary_cross_entropy(probs, probs),
        "bce_with_logits": lambda: F.binary_cross_entropy_with_logits(logits, probs),
        "softplus": lambda: F.softplus(logits),
        "layer_norm": lambda: F.layer_norm(logits, (3,)),
        "group_norm": lambda: F.group_norm(img, 2),
        "batch_norm": lambda: F.batch_norm(img, None, None, training=True),
        "exp": lambda: logits.exp(),
        "log": lambda: h(4, 3, positive=True).log(),
        "pow": lambda: logits ** 2,
        "tg.pow": lambda: tg.pow(logits, 3),
        "sum": lambda: logits.sum(),
        "prod": lambda: logits.prod(1),
        "cumsum": lambda: tg.cumsum(logits, 1),
        "logsumexp": lambda: tg.logsumexp(logits, 1),
        "norm": lambda: tg.norm(logits),
    }


@pytest.mark.parametrize("name", list(_fp32_ops("cpu")))
def test_float32_list_runs_in_float32(device, name):
    op = _fp32_ops(device)[name]
    with tg.autocast(device):
        out = op()
    assert out.dtype == F32, name
    ref = op()  # outside the region: float16 in, float16 (or promoted) out
    np.testing.assert_allclose(host(out), host(ref).astype(np.float32), rtol=1e-2, atol=1e-2)


def test_other_ops_run_in_the_widest_input_type(device):
    a16 = rnd(device, 3, 4).half()
    a32 = rnd(device, 3, 4, seed=1)
    a64 = rnd(device, 4, 2, seed=2).double()
    with tg.autocast(device):
        assert (a16 + a32).dtype == F32
        assert (a16 * a16).dtype == F16
        assert (a16 * 2.0).dtype == F16  # a Python number does not promote
        assert F.relu(a16).dtype == F16
        assert a16.tanh().dtype == F16
        assert F.gelu(a16).dtype == F16
        assert a16.mean().dtype == F16  # mean is not on PyTorch's float32 list
        assert (a32 @ rnd(device, 4, 2, seed=3)).dtype == F16
        assert (a32.double() @ a64).dtype == np.float64  # float64 is never cast
        assert (a32.exp()).dtype == F32
        i = tensor_on(np.arange(6).reshape(2, 3), device)
        assert (i @ i.T).dtype.kind == "i"  # integers are never cast


def test_tensors_of_the_other_device_type_are_not_cast(device):
    other = "cpu" if device == "cuda" else "cuda"
    if other == "cuda" and not tg.cuda.is_available():
        pytest.skip("needs the cuda device (stand-in or GPU) to run autocast('cuda')")
    a = rnd(device, 3, 3)
    with tg.autocast(other):
        assert (a @ a).dtype == F32
        assert tg.is_autocast_enabled(other) and not tg.is_autocast_enabled(device)


# ---- gradients -----------------------------------------------------------------------------
def _mlp_loss(params, x, y):
    w1, b1, w2, b2 = params
    h = F.relu(F.linear(x, w1, b1))
    return F.cross_entropy(F.linear(h, w2, b2), y)


def _params(device):
    return [rnd(device, 16, 8, seed=1, scale=0.3, requires_grad=True),
            rnd(device, 16, seed=2, scale=0.1, requires_grad=True),
            rnd(device, 3, 16, seed=3, scale=0.3, requires_grad=True),
            rnd(device, 3, seed=4, scale=0.1, requires_grad=True)]


def test_float32_parameters_get_float32_gradients_close_to_float32_run(device):
    x = rnd(device, 32, 8, seed=5)
    y = tensor_on(np.random.default_rng(6).integers(0, 3, 32), device)
    p16, p32 = _params(device), _params(device)
    with tg.autocast(device):
        loss16 = _mlp_loss(p16, x, y)
    assert loss16.dtype == F32
    loss16.backward()
    _mlp_loss(p32, x, y).backward()
    np.testing.assert_allclose(loss16.item(), _mlp_loss(p32, x, y).item(), rtol=5e-3)
    for a, b in zip(p16, p32):
        assert a.grad.dtype == F32
        np.testing.assert_allclose(host(a.grad), host(b.grad), rtol=2e-2, atol=2e-3)


def test_cast_vjp_casts_the_cotangent_back_exactly(device):
    x = rnd(device, 4, 5, requires_grad=True)
    with tg.autocast(device):
        (c,) = autocast_mode.cast_inputs(autocast_mode.LOWER, x)
    assert c.dtype == F16 and c.grad_fn is not None
    g = put(np.random.default_rng(1).standard_normal((4, 5)).astype(np.float16), device)
    c.backward(tg.tensor(g))
    assert x.grad.dtype == F32
    np.testing.assert_array_equal(host(x.grad), host(g).astype(np.float32))
    # and up: a float16 leaf gets a float16 gradient through a float32 op
    h = tg.tensor(put(np.array([0.5, -1.0], np.float16), device), requires_grad=True)
    with tg.autocast(device):
        e = h.exp()
    assert e.dtype == F32
    e.sum().backward()
    assert h.grad.dtype == F16
    np.testing.assert_array_equal(host(h.grad), np.exp(np.array([0.5, -1.0], np.float16)
                                                        .astype(np.float32)).astype(np.float16))


# ---- the cast cache --------------------------------------------------------------------------
@pytest.fixture
def count_casts(monkeypatch):
    calls = []
    real = autocast_mode.astype

    def counting(a, dtype):
        calls.append(id(a))
        return real(a, dtype)

    monkeypatch.setattr(autocast_mode, "astype", counting)
    return calls


def test_a_weight_is_cast_once_per_region(device, count_casts):
    w = rnd(device, 4, 4, requires_grad=True)
    x = rnd(device, 2, 4, seed=1)
    with tg.autocast(device):
        y = (x @ w) @ w + F.linear(x, w)
        assert count_casts.count(id(w)) == 1
        first = autocast_mode.cast_inputs(autocast_mode.LOWER, w)[0]
        assert autocast_mode.cast_inputs(autocast_mode.LOWER, w)[0] is first
    y.float().sum().backward()
    with tg.autocast(device):  # a new region: a new cast
        x @ w
        assert autocast_mode.cast_inputs(autocast_mode.LOWER, w)[0] is not first
    assert count_casts.count(id(w)) == 2
    with tg.autocast(device, cache_enabled=False):
        x @ w
        x @ w
    assert count_casts.count(id(w)) == 4
    assert not autocast_mode._tls.cache  # emptied on exit


def test_the_cast_cache_is_remade_when_the_weight_changes(device, count_casts):
    w = rnd(device, 3, 3, requires_grad=True)
    x = rnd(device, 2, 3, seed=1)
    with tg.autocast(device):
        x @ w
        with tg.no_grad():
            w.mul_(2.0)  # an optimizer step inside the region
        y = x @ w
        assert count_casts.count(id(w)) == 2
        np.testing.assert_allclose(host(y).astype(np.float32), host(x) @ host(w), rtol=1e-2,
                                   atol=1e-2)
        # backward inside the region frees the cast's node: the next use casts again
        y.float().sum().backward()
        g1 = host(w.grad).copy()
        (x @ w).float().sum().backward()
        assert count_casts.count(id(w)) == 3
        np.testing.assert_allclose(host(w.grad), 2 * g1, rtol=1e-6)


# ---- nesting, decorator, threads, arguments ------------------------------------------------
def test_nested_regions_and_enabled_false(device):
    a = rnd(device, 2, 2)
    assert not tg.is_autocast_enabled(device)
    with tg.autocast(device):
        assert tg.is_autocast_enabled(device)
        with tg.autocast(device, enabled=False):
            assert not tg.is_autocast_enabled(device)
            assert (a @ a).dtype == F32
            with tg.autocast(device):
                assert (a @ a).dtype == F16
            assert (a @ a).dtype == F32
        assert (a @ a).dtype == F16
    assert not tg.is_autocast_enabled(device) and AUTOCAST[0] == 0
    with tg.amp.autocast(device, enabled=False):  # nothing changes, and ops pay nothing
        assert AUTOCAST[0] == 0
        assert (a @ a).dtype == F32
    assert tg.get_autocast_dtype(device) == tg.float16
    assert tg.is_autocast_enabled() is False  # no argument: 'cuda', as PyTorch


def test_decorator_form(device):
    a = rnd(device, 2, 2)

    @tg.autocast(device)
    def f(x):
        return x @ x, tg.is_autocast_enabled(device)

    @tg.autocast(device, enabled=False)
    def g(x):
        return x @ x

    out, on = f(a)
    assert out.dtype == F16 and on
    assert (a @ a).dtype == F32 and not tg.is_autocast_enabled(device)
    with tg.autocast(device):
        assert g(a).dtype == F32
        assert (a @ a).dtype == F16


def test_autocast_state_is_per_thread(device):
    a = rnd(device, 2, 2)
    seen = {}
    inside = threading.Event()
    done = threading.Event()

    def other():
        inside.wait()
        seen["other"] = ((a @ a).dtype, tg.is_autocast_enabled(device))
        with tg.autocast(device):
            seen["other_in"] = (a @ a).dtype
            done.set()

    t = threading.Thread(target=other)
    t.start()
    with tg.autocast(device):
        inside.set()
        done.wait(10)
        seen["main"] = (a @ a).dtype
    t.join(10)
    assert seen["other"] == (F32, False)  # the main thread's region does not reach it
    assert seen["other_in"] == F16 and seen["main"] == F16
    assert AUTOCAST[0] == 0


def test_bad_arguments():
    for bf in (tg.bfloat16, "torch.bfloat16", "bf16"):
        with pytest.raises(ValueError, match="bfloat16.*NumPy and CuPy"):
            tg.autocast("cpu", dtype=bf)
    with pytest.raises(RuntimeError, match="device_type 'tpu'"):
        tg.autocast("tpu")
    with pytest.raises(ValueError, match="of type `str`"):
        tg.autocast(tg.device("cpu"))
    with pytest.warns(UserWarning, match="not supported. Disabling"):
        ac = tg.autocast("cpu", dtype=tg.float32)
    with ac:
        assert (tg.ones(2, 2) @ tg.ones(2, 2)).dtype == F32
    assert tg.autocast("cpu", dtype=np.float16).fast_dtype == F16
    assert tg.autocast("cpu", dtype="half").fast_dtype == F16


# ---- GradScaler ------------------------------------------------------------------------------
def _torch_scaler_run(torch, w0, xs, ys, inf_steps, steps, **kw):
    w = torch.tensor(w0, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.1)
    scaler = torch.amp.GradScaler("cpu", **kw)
    scales, values, stepped = [], [], []
    for i in range(steps):
        opt.zero_grad()
        loss = ((torch.tensor(xs[i]) @ w - torch.tensor(ys[i])) ** 2).mean()
        scaler.scale(loss).backward()
        if i in inf_steps:
            w.grad[0, 0] = float("inf") if i % 2 else float("nan")
        before = w.detach().clone()
        scaler.step(opt)
        scaler.update()
        stepped.append(not torch.equal(before, w.detach()))
        scales.append(scaler.get_scale())
        values.append(w.detach().numpy().copy())
    return scales, values, stepped, scaler.state_dict()


def _our_scaler_run(device, w0, xs, ys, inf_steps, steps, **kw):
    w = tensor_on(w0, device, requires_grad=True)
    opt = tg.optim.SGD([w], lr=0.1)
    scaler = tg.amp.GradScaler(device, **kw)
    scales, values, stepped = [], [], []
    for i in range(steps):
        opt.zero_grad()
        loss = ((tensor_on(xs[i], device) @ w - tensor_on(ys[i], device)) ** 2).mean()
        scaler.scale(loss).backward()
        if i in inf_steps:
            w.grad.data[0, 0] = float("inf") if i % 2 else float("nan")
        before = host(w).copy()
        scaler.step(opt)
        scaler.update()
        stepped.append(not np.array_equal(before, host(w)))
        scales.append(scaler.get_scale())
        values.append(host(w).copy())
    return scales, values, stepped, scaler.state_dict()


def test_grad_scaler_matches_torch(device):
    torch = torch_oracle()
    rng = np.random.default_rng(0)
    steps = 12
    w0 = rng.standard_normal((3, 2)).astype(np.float32)
    xs = rng.standard_normal((steps, 4, 3)).astype(np.float32)
    ys = rng.standard_normal((steps, 4, 2)).astype(np.float32)
    inf_steps = {2, 3, 9}
    kw = dict(init_scale=2.0 ** 10, growth_factor=4.0, backoff_factor=0.25, growth_interval=3)
    ours = _our_scaler_run(device, w0, xs, ys, inf_steps, steps, **kw)
    theirs = _torch_scaler_run(torch, w0, xs, ys, inf_steps, steps, **kw)
    assert ours[0] == theirs[0]  # the scale after every update
    assert ours[2] == theirs[2] == [i not in inf_steps for i in range(steps)]
    assert ours[3] == theirs[3]
    for a, b in zip(ours[1], theirs[1]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    # the trajectory shows backoff and growth: 1024 -> 1024 -> 1024 -> 256 -> 64 -> ...
    assert ours[0][:6] == [1024.0, 1024.0, 256.0, 64.0, 64.0, 64.0]
    assert ours[0][6] == 256.0  # growth after growth_interval clean steps


def _setup(device):
    w = tensor_on(np.ones((2, 2), np.float32), device, requires_grad=True)
    opt = tg.optim.SGD([w], lr=0.1)
    scaler = tg.amp.GradScaler(device, init_scale=8.0)
    return w, opt, scaler


def test_grad_scaler_unscale_and_errors(device):
    w, opt, scaler = _setup(device)
    with pytest.raises(AssertionError, match="did not use scaler.scale"):
        scaler.unscale_(opt)
    loss = (w * 3.0).sum()
    scaled = scaler.scale(loss)
    assert scaled.item() == loss.item() * 8.0
    scaled.backward()
    np.testing.assert_array_equal(host(w.grad), np.full((2, 2), 24.0, np.float32))
    scaler.unscale_(opt)
    np.testing.assert_array_equal(host(w.grad), np.full((2, 2), 3.0, np.float32))
    with pytest.raises(RuntimeError, match=r"unscale_\(\) has already been called on this "
                                           r"optimizer since the last update\(\)"):
        scaler.unscale_(opt)
    scaler.step(opt)  # no second unscale: the gradient is divided once
    np.testing.assert_allclose(host(w), np.full((2, 2), 0.7, np.float32), rtol=1e-6)
    with pytest.raises(RuntimeError, match=r"unscale_\(\) is being called after step\(\)"):
        scaler.unscale_(opt)
    with pytest.raises(RuntimeError, match=r"step\(\) has already been called since the last "
                                           r"update\(\)"):
        scaler.step(opt)
    with pytest.raises(RuntimeError, match="Closure use is not currently supported"):
        scaler.step(opt, closure=lambda: None)
    scaler.update()
    scaler.update(4.0)
    assert scaler.get_scale() == 4.0
    scaler.update(tg.tensor(put(np.array([2.0], np.float32), device)))
    assert scaler.get_scale() == 2.0
    with pytest.raises(AssertionError, match="new_scale should be a float"):
        scaler.update(tg.tensor([1.0, 2.0]).to(device))
    with pytest.raises(AssertionError, match="No inf checks were recorded prior to update"):
        scaler.update()
    w.grad = tg.tensor(put(np.ones((2, 2), np.float16), device))
    with pytest.raises(ValueError, match="Attempting to unscale FP16 gradients"):
        scaler.unscale_(opt)
    with pytest.raises(AssertionError, match="growth factor must be > 1.0"):
        tg.amp.GradScaler(device, growth_factor=1.0)


def test_grad_scaler_nested_outputs_and_state_dict(device):
    w, opt, scaler = _setup(device)
    a, b = w.sum(), (w * 2).sum()
    out = scaler.scale([a, (b, [a])])
    assert isinstance(out, list) and isinstance(out[1], tuple) and isinstance(out[1][1], list)
    assert out[1][0].item() == 8.0 * b.item() and out[1][1][0].item() == 8.0 * a.item()
    with pytest.raises(ValueError, match="Tensor or an iterable of Tensors"):
        scaler.scale([a, 3.0])
    scaler.set_growth_factor(3.0)
    scaler.set_backoff_factor(0.125)
    scaler.set_growth_interval(7)
    assert (scaler.get_growth_factor(), scaler.get_backoff_factor(),
            scaler.get_growth_interval()) == (3.0, 0.125, 7)
    out[0].backward()
    scaler.step(opt)
    scaler.update()
    sd = scaler.state_dict()
    assert sd == {"scale": 8.0, "growth_factor": 3.0, "backoff_factor": 0.125,
                  "growth_interval": 7, "_growth_tracker": 1}
    fresh = tg.amp.GradScaler(device)
    fresh.load_state_dict(sd)
    assert fresh.state_dict() == sd
    fresh.scale(w.sum())  # lazily made on the device from the loaded values
    assert fresh.get_scale() == 8.0 and fresh._get_growth_tracker() == 1
    fresh.load_state_dict(dict(sd, scale=32.0, _growth_tracker=5))
    assert fresh.get_scale() == 32.0 and fresh._get_growth_tracker() == 5
    with pytest.raises(RuntimeError, match="source state dict is empty"):
        fresh.load_state_dict({})
    torch = torch_oracle()
    ts = torch.amp.GradScaler("cpu")
    ts.load_state_dict(sd)
    assert ts.state_dict() == sd


def test_grad_scaler_disabled_is_a_pass_through(device):
    w, opt, _ = _setup(device)
    scaler = tg.amp.GradScaler(device, enabled=False)
    loss = w.sum()
    assert scaler.scale(loss) is loss
    loss.backward()
    scaler.unscale_(opt)
    scaler.step(opt)
    scaler.update()
    np.testing.assert_allclose(host(w), np.full((2, 2), 0.9, np.float32), rtol=1e-6)
    assert scaler.get_scale() == 1.0 and scaler.state_dict() == {} and not scaler.is_enabled()
    scaler.load_state_dict({})  # a pass-through too


@pytest.mark.skipif(not CUPY_STANDIN, reason="counts host synchronisations on the stand-in")
def test_grad_scaler_syncs_only_in_step():
    from cupy_standin import _sync

    w, opt, scaler = _setup("cuda")
    scaler.scale((w * w).sum()).backward()
    with _sync.watch() as unscale:
        scaler.unscale_(opt)
    with _sync.watch() as step:
        scaler.step(opt)
    with _sync.watch() as update:
        scaler.update()
    assert not unscale.events and not update.events, (unscale.events, update.events)
    assert [e[0] for e in step.events] == ["ndarray.item"]


# ---- training end to end ---------------------------------------------------------------------
def _train(device, mixed, steps=60):
    tg.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 10)).astype(np.float32)
    y = (x[:, :3].sum(1) > 0).astype(np.int64) + (x[:, 3] > 0.5)
    x, y = tensor_on(x, device), tensor_on(y, device)
    model = tg.nn.Sequential(tg.nn.Linear(10, 32), tg.nn.ReLU(), tg.nn.Linear(32, 3)).to(device)
    opt = tg.optim.Adam(model.parameters(), lr=1e-2)
    scaler = tg.amp.GradScaler(device, enabled=mixed)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        with tg.autocast(device, enabled=mixed):
            out = model(x)
            loss = F.cross_entropy(out, y)
        assert out.dtype == (F16 if mixed else F32) and loss.dtype == F32
        scaler.scale(loss).backward()
        assert all(p.grad.dtype == F32 for p in model.parameters())
        scaler.step(opt)
        scaler.update()
        losses.append(loss.item())
    return losses


def test_mlp_trains_under_autocast_and_grad_scaler(device):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings from float16
        mixed = _train(device, True)
    full = _train(device, False)
    assert mixed[-1] < 0.5 * mixed[0]
    assert abs(mixed[-1] - full[-1]) < 0.05 + 0.1 * full[-1]


# ---- autocast and the reverse pass ----------------------------------------------------------
def test_backward_rules_are_not_autocast(device, count_casts):
    # PyTorch never autocasts the backward; with create_graph=True the rules record ops that
    # have autocast policies (matmul, exp, sum), and none of them may be cast
    w = rnd(device, 4, 4, requires_grad=True)
    x = rnd(device, 3, 4, seed=1)
    z = (x @ w).exp().sum()  # float32, outside any region
    (want,) = tg.autograd.grad(z, [w], create_graph=True)
    with tg.autocast(device):  # the passes run inside a region: still in float32
        (g,) = tg.autograd.grad(z, [w], create_graph=True)
        assert g.dtype == F32
        (g * g).sum().backward(retain_graph=True)
    assert count_casts == []
    np.testing.assert_array_equal(host(g), host(want))
    w2 = w.grad
    w.grad = None
    (want * want).sum().backward()
    np.testing.assert_array_equal(host(w2), host(w.grad))


def test_checkpoint_recomputes_under_the_first_runs_autocast(device):
    from tensorgrad.utils.checkpoint import checkpoint

    model = tg.nn.Sequential(tg.nn.Linear(4, 8), tg.nn.ReLU(), tg.nn.Linear(8, 3)).to(device)
    x = rnd(device, 5, 4, seed=2)

    def grads(ck):
        for p in model.parameters():
            p.grad = None
        with tg.autocast(device):
            out = checkpoint(model, x, use_reentrant=False) if ck else model(x)
            assert out.dtype == F16
        out.float().sum().backward()  # backward outside the region, as PyTorch recommends
        return [host(p.grad) for p in model.parameters()]

    for a, b in zip(grads(False), grads(True)):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, b)
    with tg.autocast(device, enabled=False):  # a region without autocast recomputes without
        out = checkpoint(model, x, use_reentrant=False)
    assert out.dtype == F32
    out.sum().backward()
