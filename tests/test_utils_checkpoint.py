"""tg.utils.checkpoint: the same gradients as the plain call (inputs and parameters, dropout
included), PyTorch's non-reentrant checkpoint as the oracle, and less memory held."""

import gc
import tracemalloc
import weakref

import numpy as np
import pytest
from devices import close_to_torch, cyclic_garbage, host, put, torch_oracle

import tensorgrad as tg
from tensorgrad.utils.checkpoint import checkpoint, checkpoint_sequential

nn = tg.nn


def _mlp(device, depth=6, width=16, dropout=0.0, seed=0):
    tg.manual_seed(seed)
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.Tanh()]
        if dropout:
            layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers).to(device)


def _grads(model, *tensors):
    return [host(p.grad).copy() for p in model.parameters()] + [
        host(t.grad).copy() for t in tensors]


def _assert_same(a, b, **tol):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, **tol)


@pytest.mark.parametrize("input_requires_grad", [False, True])
def test_same_gradients_as_the_plain_call(device, rng, input_requires_grad):
    model = _mlp(device)
    xa = rng.standard_normal((4, 16)).astype(np.float32)
    x = tg.tensor(put(xa, device), requires_grad=input_requires_grad)
    (model(x) ** 2).sum().backward()
    plain = _grads(model, *([x] if input_requires_grad else []))
    model.zero_grad()
    x.grad = None
    out = checkpoint(model, x, use_reentrant=False)
    assert out.requires_grad and "CheckpointFunction" in repr(out.grad_fn)
    (out ** 2).sum().backward()
    _assert_same(_grads(model, *([x] if input_requires_grad else [])), plain, rtol=1e-6)


def test_matches_torch_non_reentrant_checkpoint(device, rng):
    torch = torch_oracle()
    import torch.utils.checkpoint as tcp

    model = _mlp(device, depth=3, width=8)
    tmodel = torch.nn.Sequential(*[m for _ in range(3) for m in (torch.nn.Linear(8, 8),
                                                                 torch.nn.Tanh())])
    with torch.no_grad():
        for p, q in zip(model.parameters(), tmodel.parameters()):
            q.copy_(torch.tensor(host(p)))
    xa = rng.standard_normal((5, 8)).astype(np.float32)
    x = tg.tensor(put(xa, device), requires_grad=True)
    tx = torch.tensor(xa, requires_grad=True)
    out = checkpoint(model, x, use_reentrant=False)
    tout = tcp.checkpoint(tmodel, tx, use_reentrant=False)
    (out.sin() * 3).sum().backward()
    (tout.sin() * 3).sum().backward()
    close_to_torch(out, tout, rtol=1e-5, atol=1e-6)
    close_to_torch(x.grad, tx.grad, rtol=1e-4, atol=1e-6)
    for p, q in zip(model.parameters(), tmodel.parameters()):
        close_to_torch(p.grad, q.grad, rtol=1e-4, atol=1e-6)


def test_dropout_recomputation_draws_the_same_mask(device, rng):
    model = _mlp(device, depth=3, dropout=0.5)
    x = tg.tensor(put(rng.standard_normal((8, 16)).astype(np.float32), device))
    tg.manual_seed(123)
    model(x).sum().backward()
    plain = _grads(model)
    model.zero_grad()
    tg.manual_seed(123)
    out = checkpoint_sequential(model, 3, x)
    after_forward = tg.rand(3, device=device)  # the generator goes on from the forward pass
    out.sum().backward()
    _assert_same(_grads(model), plain, rtol=1e-6)
    tg.manual_seed(123)
    model(x)
    np.testing.assert_array_equal(host(tg.rand(3, device=device)), host(after_forward))
    # without preserve_rng_state the recomputation draws other masks: other gradients
    model.zero_grad()
    tg.manual_seed(123)
    checkpoint(model, x, preserve_rng_state=False).sum().backward()
    assert not all(np.allclose(a, b) for a, b in zip(_grads(model), plain))


def test_checkpoint_sequential_and_autograd_grad(device, rng):
    model = _mlp(device, depth=5)
    x = tg.tensor(put(rng.standard_normal((3, 16)).astype(np.float32), device),
                  requires_grad=True)
    params = list(model.parameters())
    plain = tg.autograd.grad(model(x).exp().sum(), [x] + params)
    for segments in (1, 2, 4, 10):
        got = tg.autograd.grad(checkpoint_sequential(model, segments, x).exp().sum(),
                               [x] + params)
        _assert_same([host(g) for g in got], [host(g) for g in plain], rtol=1e-5, atol=1e-7)
        assert all(p.grad is None for p in params)  # autograd.grad accumulates nothing


def test_second_derivative_through_checkpoint_against_finite_differences(device, rng):
    w = tg.tensor(put(rng.standard_normal((3, 3)), device), requires_grad=True)

    def block(x):
        return (x @ w).tanh() * x

    x = tg.tensor(put(rng.standard_normal((2, 3)), device), requires_grad=True)
    g, = tg.autograd.grad(checkpoint(block, x).sum(), x, create_graph=True)
    gg = tg.autograd.grad((g ** 2).sum(), [x, w])
    ref_g, = tg.autograd.grad(block(x).sum(), x, create_graph=True)
    ref = tg.autograd.grad((ref_g ** 2).sum(), [x, w])
    for a, b in zip(gg, ref):
        np.testing.assert_allclose(host(a), host(b), rtol=1e-10)

    # the composite against central differences, to second order (reverse mode)
    def f(xa, wa):
        def blk(t):
            return tg.numpy.tanh(t @ wa) * t

        return checkpoint(blk, xa).sum()

    tg.check_grads(f, modes=("rev",), order=2)(x.detach(), w.detach())


def test_closure_over_an_outer_tensor_and_kwargs(device, rng):
    a = tg.tensor(put(rng.standard_normal(4), device), requires_grad=True)
    h = a.exp()  # an intermediate from before the checkpoint, read through a closure
    b = tg.tensor(put(rng.standard_normal(4), device), requires_grad=True)

    def fn(x, scale=1.0):
        return (x * h).sin() * scale, x.sum()

    def loss(out):
        return (out[0] * 2).sum() + out[1] ** 2

    loss(fn(b, scale=3.0)).backward()
    plain = [host(a.grad).copy(), host(b.grad).copy()]
    a.grad = b.grad = None
    h = a.exp()
    loss(checkpoint(fn, b, scale=3.0)).backward()
    _assert_same([host(a.grad), host(b.grad)], plain, rtol=1e-6)


def test_errors_and_no_grad(device):
    model = _mlp(device, depth=1, width=4)
    x = tg.tensor(put(np.ones((2, 4), np.float32), device), requires_grad=True)
    h = x * 1
    out = checkpoint(model, h)
    h.mul_(2)
    with pytest.raises(RuntimeError, match="checkpoint: an argument.*modified in place"):
        out.sum().backward()
    with tg.no_grad():
        assert not checkpoint(model, x).requires_grad
    with pytest.raises(TypeError, match="use_reentrant"):
        checkpoint(model, x, use_reentrant="yes")

    state = {"n": 4}

    def changing(t):
        state["n"] -= 1
        return t[:, :state["n"]] * 2

    out = checkpoint(changing, x)
    with pytest.raises(RuntimeError, match="recomputing.*same thing"):
        out.sum().backward()


# ---- memory -------------------------------------------------------------------------------
def _held_bytes(fn):
    """Bytes allocated by ``fn()`` and still alive when it has returned (its result kept)."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        result = fn()
        gc.collect()  # what is held, not cyclic garbage the collector had not reached yet
        held = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    return held, result


def test_checkpoint_saves_memory_on_a_deep_mlp(device, rng):
    model = _mlp(device, depth=16, width=128)
    x = tg.tensor(put(rng.standard_normal((64, 128)).astype(np.float32), device))
    activation = 64 * 128 * 4
    # warm-up, not measured: on the cuda stand-in the first launches load compiled kernels
    checkpoint_sequential(model, 4, x).sum().backward()
    model(x).sum().backward()
    model.zero_grad()

    plain, out = _held_bytes(lambda: model(x).sum())
    out.backward()
    ref = _grads(model)
    model.zero_grad()
    del out
    ckpt, out = _held_bytes(lambda: checkpoint_sequential(model, 4, x).sum())
    out.backward()
    _assert_same(_grads(model), ref, rtol=1e-5, atol=1e-7)
    # plain: about two activations per layer (the Linear's input and tanh's output);
    # checkpointed: the 3 segment inputs plus the last segment's 4 layers
    assert plain > 28 * activation, plain
    assert ckpt < 14 * activation, ckpt
    assert ckpt < plain / 2.5


def test_the_activations_inside_a_checkpoint_are_freed_after_the_forward(device, rng):
    seen = []
    model = _mlp(device, depth=4, width=8)

    def spying(t):
        for layer in model:
            t = layer(t)
            seen.append(weakref.ref(t.data))
        return t

    x = tg.tensor(put(rng.standard_normal((2, 8)).astype(np.float32), device))
    out = spying(x).sum()
    assert all(r() is not None for r in seen[:-1])  # the plain graph keeps them
    del out
    seen.clear()
    out = checkpoint(spying, x).sum()
    assert all(r() is None for r in seen[:-1])  # only the last (the output itself) lives
    with cyclic_garbage() as ours:
        out.backward()
        del out
    assert ours == []
    assert all(p.grad is not None for p in model.parameters())


# ---- selective activation checkpointing and PyTorch's helpers -------------------------------
import functools  # noqa: E402
import warnings  # noqa: E402

from tensorgrad.ops.linalg import matmul as _matmul_wrapper  # noqa: E402
from tensorgrad.utils import checkpoint as ckpt_mod  # noqa: E402

P = ckpt_mod.CheckpointPolicy


def _chain(x, *ws):
    h = x
    for w in ws:
        h = (h @ w).tanh()
    return h


def _chain_args(device, rng, n=3, width=8, batch=4, dtype=np.float64):
    x = tg.tensor(put(rng.standard_normal((batch, width)).astype(dtype), device),
                  requires_grad=True)
    ws = [tg.tensor(put(rng.standard_normal((width, width)).astype(dtype) / np.sqrt(width),
                        device), requires_grad=True) for _ in range(n)]
    return x, ws


def _save_matmul(ctx, op, *args, **kwargs):
    return P.MUST_SAVE if op.name == "matmul" else P.PREFER_RECOMPUTE


POLICIES = {
    "list-of-tg-functions": [tg.matmul],
    "list-of-primitive-names": ["matmul", "tanh"],
    "policy-fn": _save_matmul,
    "bool-policy": lambda ctx, op, *a, **k: op.name == "tanh",
    "recompute-all": lambda ctx, op, *a, **k: P.PREFER_RECOMPUTE,
    "save-all": lambda ctx, op, *a, **k: P.PREFER_SAVE,
}


@pytest.mark.parametrize("policy", list(POLICIES), ids=list(POLICIES))
def test_selective_checkpoint_gives_the_plain_values_and_gradients(device, rng, policy):
    x, ws = _chain_args(device, rng)
    plain = _chain(x, *ws)
    (plain ** 2).sum().backward()
    want = [host(t.grad).copy() for t in (x, *ws)]
    for t in (x, *ws):
        t.grad = None
    ctx_fn = functools.partial(ckpt_mod.create_selective_checkpoint_contexts, POLICIES[policy])
    out = checkpoint(_chain, x, *ws, use_reentrant=False, context_fn=ctx_fn)
    np.testing.assert_array_equal(host(out), host(plain))
    (out ** 2).sum().backward()
    _assert_same([host(t.grad) for t in (x, *ws)], want, rtol=1e-12, atol=1e-14)


def test_a_saved_matmul_is_not_run_again(device, rng, monkeypatch):
    prim = _matmul_wrapper.prim
    calls = []
    fwd = prim.fwd
    monkeypatch.setattr(prim, "fwd", lambda *a, **k: calls.append(1) or fwd(*a, **k))
    seen = []

    def policy(ctx, op, *args, **kwargs):
        seen.append((ctx.is_recompute, op.name))
        return _save_matmul(ctx, op)

    for policy_fn, after_backward in ((policy, 3), (lambda c, o, *a, **k: P.MUST_RECOMPUTE, 6)):
        calls.clear()
        x, ws = _chain_args(device, rng)
        ctx_fn = functools.partial(ckpt_mod.create_selective_checkpoint_contexts, policy_fn)
        out = checkpoint(_chain, x, *ws, context_fn=ctx_fn).sum()
        assert len(calls) == 3  # the first run
        out.backward()
        assert len(calls) == after_backward  # saved: no matmul in the recomputation
    # the policy saw every primitive in both runs, told apart by is_recompute
    assert [n for r, n in seen if not r] == [n for r, n in seen if r] == ["matmul", "tanh"] * 3


def test_selective_checkpoint_memory_lies_between_full_and_none(device, rng):
    x, ws = _chain_args(device, rng, n=8, width=128, batch=64, dtype=np.float32)
    activation = 64 * 128 * 4

    def held(**kw):
        # warm-up run first (the cuda stand-in loads kernels on first use), then measured
        for _measure in (False, True):
            for t in (x, *ws):
                t.grad = None
            fn = (lambda: checkpoint(_chain, x, *ws, **kw).sum()) if kw else \
                (lambda: _chain(x, *ws).sum())
            size, out = _held_bytes(fn)
            out.backward()
        return size, [host(t.grad).copy() for t in (x, *ws)]

    none, ref = held()
    full, g_full = held(use_reentrant=False)
    sac, g_sac = held(use_reentrant=False, context_fn=functools.partial(
        ckpt_mod.create_selective_checkpoint_contexts, [tg.matmul]))
    _assert_same(g_full, ref, rtol=1e-5, atol=1e-6)
    _assert_same(g_sac, ref, rtol=1e-5, atol=1e-6)
    # measured here (in activations of 32 KiB): none ~32, SAC on matmul ~18, full ~2.2
    assert full < 3 * activation, (full, sac, none)
    assert full + 7 * activation < sac < none - 7 * activation, (full, sac, none)


def test_selective_checkpoint_contexts_refuse_bad_policies(device):
    with pytest.raises(TypeError, match="policy_fn_or_list"):
        ckpt_mod.create_selective_checkpoint_contexts(3)
    x = tg.tensor(put(np.ones((2, 2)), device), requires_grad=True)
    ctx_fn = functools.partial(ckpt_mod.create_selective_checkpoint_contexts,
                               lambda ctx, op, *a, **k: "save")
    with pytest.raises(TypeError, match="CheckpointPolicy.*matmul|matmul.*CheckpointPolicy"):
        checkpoint(lambda a: a @ a, x, context_fn=ctx_fn)
    from tensorgrad.ops import registry

    assert registry.INTERCEPT[0] is None  # the failed region left nothing behind


def test_torch_public_names_exist():
    tcp = torch_oracle().utils.checkpoint
    # aten op sets and torch.compile's graph groups have no tensorgrad counterpart
    missing = [n for n in tcp.__all__ if not hasattr(ckpt_mod, n) and
               n not in ("SAC_IGNORED_OPS", "GraphExecGroup")]
    assert missing == []
    assert [p.name for p in P] == [p.name for p in tcp.CheckpointPolicy][:4]
    assert issubclass(ckpt_mod.CheckpointError, RuntimeError)


def test_small_helpers(device):
    a, b = ckpt_mod.noop_context_fn()
    with a, b:
        pass
    t = tg.tensor(put(np.ones(3), device), requires_grad=True) * 2
    d, k = ckpt_mod.detach_variable((t, 5))
    assert d.is_leaf and d.requires_grad and k == 5
    np.testing.assert_array_equal(host(d), host(t))
    with pytest.raises(RuntimeError, match="tuple"):
        ckpt_mod.detach_variable([t])
    with pytest.warns(UserWarning, match="None of the inputs"):
        ckpt_mod.check_backward_validity((t.detach(), 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ckpt_mod.check_backward_validity((t,))
    assert ckpt_mod.DefaultDeviceType.get_device_type() == "cuda"
    with pytest.raises(ValueError, match="cuda"):
        ckpt_mod.DefaultDeviceType.set_device_type("xpu")


def test_device_states_round_trip(device):
    x = tg.ones(2, device=device)
    devices, states = ckpt_mod.get_device_states(x, 1.0, tg.ones(1))
    if device == "cpu":
        assert (devices, states) == ([], [])
        return
    assert devices == [0] and len(states) == 1
    first = host(tg.rand(4, device=device)).copy()
    ckpt_mod.set_device_states(devices, states)
    np.testing.assert_array_equal(host(tg.rand(4, device=device)), first)
    with pytest.raises(ValueError, match="device_type"):
        ckpt_mod.set_device_states(devices, states, device_type="cpu")


def test_early_stop_flag_is_accepted_and_changes_nothing(device, rng):
    x, ws = _chain_args(device, rng)
    _chain(x, *ws).sum().backward()
    want = [host(t.grad).copy() for t in ws]
    for t in (x, *ws):
        t.grad = None
    for flag in (False, True):
        with ckpt_mod.set_checkpoint_early_stop(flag):
            out = checkpoint(_chain, x, *ws).sum()
            assert out.grad_fn is not None
        assert ckpt_mod._EARLY_STOP[0] is True
        out.backward()
        _assert_same([host(t.grad) for t in ws], [2 * w for w in want] if flag else want,
                     rtol=1e-12)


def test_debug_lists_the_primitives_of_both_runs(device):
    x = tg.tensor(put(np.ones((2, 3)), device), requires_grad=True)
    runs = []

    def changing(a):
        runs.append(1)
        return a.exp() if len(runs) == 1 else a[:1].tanh()

    with ckpt_mod.set_checkpoint_debug_enabled(True):
        out = checkpoint(changing, x)
    with pytest.raises(ckpt_mod.CheckpointError, match=r"(?s)first run: \['exp'\].*tanh"):
        out.sum().backward()
    runs.clear()
    out = checkpoint(changing, x)  # debug off: the message says how to get the list
    with pytest.raises(ckpt_mod.CheckpointError, match="debug=True"):
        out.sum().backward()
