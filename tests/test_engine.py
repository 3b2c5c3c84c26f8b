"""The tape's behaviour a user relies on: accumulation, retain_graph, create_graph, hooks,
grad modes, deep graphs, freeing, gradient shapes and dtypes, version counters."""

import gc
import threading
import weakref

import numpy as np
import pytest
from devices import host, on, put, tensor_on

import tensorgrad as tg


def vec(values, requires_grad=True, dtype=np.float32, device="cpu"):
    return tg.tensor(put(np.asarray(values, dtype=dtype), device), requires_grad=requires_grad)


# ---- accumulation, retain_graph, create_graph -------------------------------------------
def test_gradients_accumulate_across_two_backward_calls(device):
    x = vec([1.0, 2.0, 3.0], device=device)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0, 6.0])
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [5.0, 7.0, 9.0])
    assert on(x.grad, device) and x.grad.dtype == np.float32


def test_zeroing_grad_starts_accumulation_afresh(device):
    x = vec([1.0, 2.0], device=device)
    (x * 2.0).sum().backward()
    x.grad = None
    (x * 5.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [5.0, 5.0])


def test_retain_graph_allows_a_second_backward(device):
    x = vec([1.0, 2.0], device=device)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0])


def test_second_backward_without_retain_graph_raises_and_says_retain_graph(device):
    x = vec([1.0, 2.0], device=device)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_create_graph_records_the_backward_pass_second_derivative_of_cube(device):
    x = vec([1.0, 2.0, -3.0], device=device)
    (x ** 3).sum().backward(create_graph=True)
    first = x.grad
    np.testing.assert_allclose(first.numpy(), [3.0, 12.0, 27.0])
    assert first.requires_grad and first.grad_fn is not None and on(first, device)
    x.grad = None
    first.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 12.0, -18.0])


def test_without_create_graph_the_gradient_has_no_history(device):
    x = vec([1.0, 2.0], device=device)
    (x ** 3).sum().backward()
    assert not x.grad.requires_grad
    assert x.grad.grad_fn is None


# ---- hooks and retain_grad ---------------------------------------------------------------
def test_leaf_hook_sees_the_new_gradient_before_accumulation_and_replaces_it(device):
    x = vec([1.0, 2.0], device=device)
    (x * 2.0).sum().backward()  # x.grad = [2, 2]
    seen = []

    def hook(g):
        assert on(g, device)
        seen.append(g.tolist())
        return g * 10.0

    x.register_hook(hook)
    (x * 3.0).sum().backward()
    assert seen == [[3.0, 3.0]]  # the incoming gradient, not the accumulated one
    np.testing.assert_allclose(x.grad.numpy(), [32.0, 32.0])


def test_leaf_hook_is_called_once_with_the_sum_of_all_paths(device):
    x = vec([1.0, 2.0], device=device)
    calls = []
    x.register_hook(lambda g: calls.append(g.tolist()))
    (x * 2.0 + x * 3.0).sum().backward()
    assert calls == [[5.0, 5.0]]
    np.testing.assert_allclose(x.grad.numpy(), [5.0, 5.0])


def test_several_hooks_on_one_leaf_run_in_order(device):
    x = vec([1.0, 2.0], device=device)
    x.register_hook(lambda g: g + 1.0)
    x.register_hook(lambda g: g * 2.0)
    x.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 4.0])


def test_hook_returning_none_keeps_the_gradient(device):
    x = vec([1.0, 2.0], device=device)
    x.register_hook(lambda g: None)
    (x * 4.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 4.0])


def test_non_leaf_hook_replaces_the_gradient_flowing_to_its_inputs(device):
    x = vec([1.0, 2.0], device=device)
    y = x * 2.0
    seen = []

    def hook(g):
        seen.append(g.tolist())
        return tg.ones(2, device=device) * 7.0

    y.register_hook(hook)
    (y * y).sum().backward()
    assert seen == [[4.0, 8.0]]  # d(y*y)/dy = 2y
    np.testing.assert_allclose(x.grad.numpy(), [14.0, 14.0])


def test_hook_handle_remove_takes_the_hook_away(device):
    x = vec([1.0, 2.0], device=device)
    handle = x.register_hook(lambda g: g * 100.0)
    handle.remove()
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])

    y = x * 1.0
    handle = y.register_hook(lambda g: g * 100.0)
    handle.remove()
    x.grad = None
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0])


def test_non_leaf_grad_is_none_unless_retain_grad(device):
    x = vec([1.0, 2.0], device=device)
    y = x * 3.0
    z = x * 4.0
    y.retain_grad()
    (y * z).sum().backward()
    np.testing.assert_allclose(host(y.grad), host(z))
    assert on(y.grad, device) and z.grad is None
    np.testing.assert_allclose(x.grad.numpy(), [24.0, 48.0])


def test_retain_grad_accumulates_over_two_backward_calls(device):
    x = vec([1.0, 2.0], device=device)
    y = x * 3.0
    y.retain_grad()
    loss = (y * 2.0).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_allclose(y.grad.numpy(), [4.0, 4.0])


# ---- grad modes ---------------------------------------------------------------------------
def test_no_grad_context_stops_recording_and_restores_the_mode(device):
    x = vec([1.0, 2.0], device=device)
    with tg.no_grad():
        assert not tg.is_grad_enabled()
        y = x * 2.0
    assert tg.is_grad_enabled()
    assert not y.requires_grad
    assert y.grad_fn is None


def test_no_grad_restores_the_mode_after_an_exception():
    with pytest.raises(KeyError):
        with tg.no_grad():
            raise KeyError("boom")
    assert tg.is_grad_enabled()


def test_enable_grad_inside_no_grad_records(device):
    x = vec([1.0, 2.0], device=device)
    with tg.no_grad():
        with tg.enable_grad():
            y = x * 2.0
        z = x * 2.0
    assert y.requires_grad and y.grad_fn is not None
    assert not z.requires_grad


def test_set_grad_enabled_as_context_manager_and_as_a_plain_call():
    x = vec([1.0, 2.0])
    with tg.set_grad_enabled(False):
        assert not (x * 2.0).requires_grad
    assert tg.is_grad_enabled()
    with tg.set_grad_enabled(True):
        assert (x * 2.0).requires_grad
    try:
        tg.set_grad_enabled(False)  # PyTorch: a plain call switches the mode
        assert not tg.is_grad_enabled()
    finally:
        tg.set_grad_enabled(True)
    assert tg.is_grad_enabled()


def test_no_grad_as_decorator_with_and_without_parentheses():
    x = vec([1.0, 2.0])

    @tg.no_grad()
    def called(t):
        return t * 2.0

    @tg.no_grad
    def bare(t):
        return t * 2.0

    assert tg.is_grad_enabled()  # decorating changes nothing
    assert not called(x).requires_grad
    assert not bare(x).requires_grad
    assert tg.is_grad_enabled()
    assert called.__name__ == "called"


def test_enable_grad_as_decorator_records_inside_no_grad():
    x = vec([1.0, 2.0])

    @tg.enable_grad()
    def called(t):
        return t * 2.0

    @tg.enable_grad
    def bare(t):
        return t * 2.0

    with tg.no_grad():
        assert called(x).requires_grad
        assert bare(x).requires_grad
        assert not tg.is_grad_enabled()


def test_set_grad_enabled_as_decorator_does_not_change_the_mode_at_definition():
    x = vec([1.0, 2.0])

    @tg.set_grad_enabled(False)
    def off(t):
        return t * 2.0

    assert tg.is_grad_enabled()
    assert not off(x).requires_grad
    assert tg.is_grad_enabled()


def test_grad_mode_is_thread_local():
    x = vec([1.0, 2.0])
    entered = threading.Event()
    release = threading.Event()
    seen = {}

    def worker():
        with tg.no_grad():
            entered.set()
            release.wait(5)
            seen["worker"] = (x * 2.0).requires_grad

    th = threading.Thread(target=worker)
    th.start()
    try:
        assert entered.wait(5)
        # the worker sits inside no_grad; this thread still records
        assert tg.is_grad_enabled()
        assert (x * 2.0).requires_grad
    finally:
        release.set()
        th.join(5)
    assert seen["worker"] is False


def test_new_thread_records_even_when_the_starting_thread_is_in_no_grad():
    x = vec([1.0, 2.0])
    seen = {}

    def worker():
        seen["enabled"] = tg.is_grad_enabled()
        seen["records"] = (x * 2.0).requires_grad

    with tg.no_grad():
        th = threading.Thread(target=worker)
        th.start()
        th.join(5)
    assert seen == {"enabled": True, "records": True}


# ---- deep graphs and freeing --------------------------------------------------------------
def test_ten_thousand_op_chain_backpropagates_without_recursion_error(device):
    x = vec([1.0], dtype=np.float64, device=device)
    y = x
    for _ in range(10_000):
        y = y * 1.0001 + 0.01
    y.sum().backward()
    assert on(x.grad, device)
    np.testing.assert_allclose(x.grad.numpy(), [1.0001 ** 10_000], rtol=1e-9)


def test_a_training_step_leaves_no_garbage_cycles(device):
    rng = np.random.default_rng(0)
    w = tg.tensor(put(rng.standard_normal((4, 3)).astype(np.float32), device),
                  requires_grad=True)
    b = tg.zeros(3, requires_grad=True, device=device)
    data = tg.tensor(put(rng.standard_normal((8, 4)).astype(np.float32), device))

    def step():
        nonlocal w, b
        h = (data @ w + b).tanh()
        loss = (h * h).mean() + h[0].sum() + h.max(dim=1).values.sum()
        loss.backward()
        node = weakref.ref(loss.grad_fn)
        with tg.no_grad():
            w -= 0.1 * w.grad
            b -= 0.1 * b.grad
        w.grad = None
        b.grad = None
        return node

    step()  # warm up: first-use imports and caches are not the step's garbage
    gc.collect()
    gc.disable()
    try:
        node = step()
        assert node() is None, "the graph should be freed by reference counting alone"
        gc.set_debug(gc.DEBUG_SAVEALL)
        found = gc.collect()
        garbage = [type(o).__name__ for o in gc.garbage]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert found == 0, f"reference cycles after a step: {garbage[:20]}"


def test_graph_is_freed_by_refcount_after_backward_without_collector(device):
    x = vec([1.0, 2.0], device=device)
    gc.disable()
    try:
        y = (x.exp() * x).sum()
        ref = weakref.ref(y.grad_fn)
        y.backward()
        del y
        assert ref() is None
    finally:
        gc.enable()


# ---- gradient shapes, dtypes, buffers -------------------------------------------------------
def test_leaf_gradient_has_the_leaf_shape_when_broadcasting(device):
    x = tg.ones(3, 1, requires_grad=True, device=device)
    (x + tg.ones(3, 4, device=device)).sum().backward()
    assert x.grad.shape == (3, 1) and on(x.grad, device)
    np.testing.assert_allclose(x.grad.numpy(), np.full((3, 1), 4.0))

    s = tg.tensor(2.0, requires_grad=True, device=device)
    (s * tg.ones(2, 3, device=device)).sum().backward()
    assert s.grad.shape == () and on(s.grad, device)
    assert s.grad.item() == 6.0


def test_float32_leaf_gets_float32_gradient_even_with_float64_operands(device):
    x = vec([1.0, 2.0], device=device)
    y = x * np.float64(0.5) + x * put(np.ones(2, dtype=np.float64), device)
    y.sum().backward()
    assert x.grad.dtype == np.float32 and on(x.grad, device)
    np.testing.assert_allclose(x.grad.numpy(), [1.5, 1.5])


def test_float32_graph_stays_float32_with_python_scalars(device):
    x = vec([1.0, 2.0], device=device)
    y = (x * 0.5 + 1.0) / 3.0 - 2.0 ** x
    assert y.dtype == np.float32 and on(y, device)
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_float64_leaf_gets_float64_gradient(device):
    x = vec([1.0, 2.0], dtype=np.float64, device=device)
    (x * 2.0).sum().backward()
    assert x.grad.dtype == np.float64 and on(x.grad, device)


def test_two_leaves_with_the_same_upstream_gradient_do_not_share_a_buffer(device):
    x = vec([1.0, 2.0], device=device)
    y = vec([3.0, 4.0], device=device)
    (x + y).sum().backward()
    x.grad.data[0] = 100.0
    np.testing.assert_allclose(y.grad.numpy(), [1.0, 1.0])


def test_leaf_grad_does_not_share_the_seed_gradient_buffer(device):
    x = vec([1.0, 2.0], device=device)
    y = vec([3.0, 4.0], device=device)
    seed = tg.ones(2, device=device)
    (x + y).backward(seed)
    x.grad.data[:] = 100.0
    np.testing.assert_allclose(seed.numpy(), [1.0, 1.0])
    np.testing.assert_allclose(y.grad.numpy(), [1.0, 1.0])


def test_backward_of_a_leaf_itself_does_not_alias_the_seed(device):
    x = vec([1.0, 2.0], device=device)
    seed = tg.ones(2, device=device)
    x.backward(seed)
    x.grad.data[:] = 5.0
    np.testing.assert_allclose(seed.numpy(), [1.0, 1.0])


def test_backward_gradient_numbers_land_on_the_device_and_other_devices_are_refused(device):
    x = vec([1.0, 2.0], device=device)
    (x * 2.0).sum().backward(np.float64(3.0))  # a number: the tensor's dtype and device
    (x * 2.0).backward([1.0, 0.5])
    assert on(x.grad, device) and x.grad.dtype == np.float32
    np.testing.assert_allclose(host(x.grad), [8.0, 7.0])
    if device != "cpu":
        for wrong in (np.ones(2, dtype=np.float32), tg.ones(2)):
            with pytest.raises(RuntimeError, match=r"backward: gradient is on cpu but the tensor "
                                                   r"is on cuda:0"):
                (x * 2.0).backward(wrong)
        with pytest.raises(RuntimeError, match=r"gradient is on cuda:0 but the tensor is on cpu"):
            (x.cpu() * 2.0).backward(tg.ones(2, device=device))


# ---- version counter, detach, leaves ----------------------------------------------------------
def test_version_counter_increases_on_setitem(device):
    x = tg.zeros(3, device=device)
    v0 = x._version
    x[0] = 1.0
    assert x._version == v0 + 1
    x[1:] = tg.ones(2, device=device)
    assert x._version == v0 + 2


def test_version_counter_increases_on_in_place_operators_under_no_grad(device):
    p = tg.ones(3, requires_grad=True, device=device)
    v0 = p._version
    with tg.no_grad():
        p += 1.0
        p -= 0.5
        p *= 2.0
        p /= 4.0
    assert p._version == v0 + 4
    np.testing.assert_allclose(p.numpy(), [0.75, 0.75, 0.75])


def test_out_of_place_ops_do_not_change_the_version():
    x = vec([1.0, 2.0])
    v0 = x._version
    _ = x * 2.0 + x
    assert x._version == v0


def test_detach_shares_data_and_has_no_history(device):
    x = vec([1.0, 2.0], device=device)
    y = x * 2.0
    d = y.detach()
    assert not d.requires_grad
    assert d.grad_fn is None
    assert d.is_leaf
    assert d.data is y.data
    d.data[0] = 50.0
    assert y.numpy()[0] == 50.0


def test_detach_shares_the_version_counter(device):
    x = vec([1.0, 2.0], device=device)
    d = x.detach()
    d[0] = 3.0
    assert x._version == 1
    assert x.numpy()[0] == 3.0


def test_is_leaf_and_grad_fn():
    x = vec([1.0, 2.0])
    c = tg.ones(2)
    assert x.is_leaf and x.grad_fn is None
    assert c.is_leaf and c.grad_fn is None
    y = x * 2.0
    assert not y.is_leaf and y.grad_fn is not None
    z = c * 2.0  # nothing requires grad: no history
    assert z.is_leaf and z.grad_fn is None and not z.requires_grad


def test_requires_grad_underscore_makes_a_leaf_track_gradients(device):
    x = tg.tensor([1.0, 2.0], device=device)
    assert not x.requires_grad
    assert x.requires_grad_() is x
    assert x.requires_grad and x.is_leaf
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])
    x.requires_grad_(False)
    assert not (x * 3.0).requires_grad


def test_backward_only_reaches_leaves_that_require_grad(device):
    x = vec([1.0, 2.0], device=device)
    c = tg.tensor([3.0, 4.0], device=device)
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 4.0])


def test_post_accumulate_hook_fires_as_soon_as_the_leafs_gradient_is_complete(device):
    """A leaf with a post-accumulate-grad hook gets its .grad when its last contribution is in,
    while the rest of the pass goes on (what lets DistributedDataParallel overlap its
    all-reduce with backward); used twice, it fires once, with the whole gradient."""
    a = tg.tensor([1.0, 2.0], device=device, requires_grad=True)
    b = tg.tensor([3.0, 4.0], device=device, requires_grad=True)
    events = []
    a.register_post_accumulate_grad_hook(lambda t: events.append(("a", t.grad.tolist())))
    b.register_post_accumulate_grad_hook(lambda t: events.append(("b", t.grad.tolist())))
    h = b * 2.0  # made first, so its node runs last in backward
    h.register_hook(lambda g: events.append(("h", None)))
    y = ((h * a) + a * a).sum()
    y.backward()
    assert events == [("a", [8.0, 12.0]), ("h", None), ("b", [2.0, 4.0])]
    # a plain backward (no such hooks anywhere) still accumulates at the end, the same values
    c = tg.tensor([1.0, 2.0], device=device, requires_grad=True)
    ((b.detach() * 2.0 * c) + c * c).sum().backward()
    assert c.grad.tolist() == [8.0, 12.0]


# ---- slices: their cotangents are added into one buffer in place --------------------------
def test_many_overlapping_slices_give_the_right_gradient(device):
    """Basic-index slices of one tensor (overlapping, strided, negative steps, single rows) and
    other uses of it: the in-place accumulation of slice cotangents gives what NumPy says."""
    rng = np.random.default_rng(5)
    a = rng.standard_normal((6, 5))
    x = tensor_on(a, device, requires_grad=True)
    y = x * 2.0
    w = rng.standard_normal((6, 5))
    parts = [y[0:3], y[1:4], y[::2], y[::-1], y[2], y[:, 1:3], y[4:, ::-2]]
    loss = sum((p * put(np.ones(p.shape) * (k + 1), device)).sum() for k, p in enumerate(parts))
    loss = loss + (y * put(w, device)).sum()
    loss.backward()
    want = np.zeros((6, 5))
    for k, sl in enumerate([np.s_[0:3], np.s_[1:4], np.s_[::2], np.s_[::-1], np.s_[2],
                            np.s_[:, 1:3], np.s_[4:, ::-2]]):
        view = np.zeros((6, 5))
        view[sl] += k + 1
        want += view
    want = 2 * (want + w)
    assert np.allclose(host(x.grad), want)


def test_slice_accumulation_never_writes_into_a_buffer_it_did_not_make(device):
    """The first cotangent a tensor gets may be someone else's array (add's rule passes the
    cotangent through, a user's seed): slices then add into a copy, and the user's seed and
    another leaf's .grad stay as they were."""
    a = tg.tensor(put(np.ones(4), device), requires_grad=True)
    b = tg.tensor(put(np.ones(4), device), requires_grad=True)
    s = a + b  # add's rule hands the same cotangent to a and b
    out = s * 1.0
    total = tg.cat([out, out[1:3]])
    g = put(np.arange(6.0), device)
    total.backward(g)
    assert host(a.grad).tolist() == [0.0, 5.0, 7.0, 3.0]
    assert host(b.grad).tolist() == [0.0, 5.0, 7.0, 3.0]
    a.grad[0] = 100.0  # the two leaves' gradients are separate arrays
    assert host(b.grad)[0] == 0.0
    assert host(g).tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_cutting_a_tensor_into_many_slices_makes_one_buffer_in_backward(monkeypatch):
    """T slices of a (T, S) tensor: getitem's rule (a full-size zero buffer with the slice's
    cotangent in it) runs once, for the first slice; the other T - 1 cotangents are added into
    that buffer in place, so backward moves O(T * S) bytes instead of O(T^2 * S)."""
    from tensorgrad.ops.index import getitem

    calls = []
    rule = getitem.prim.vjps[0]

    def counted(*args, **kw):
        calls.append(1)
        return rule(*args, **kw)

    monkeypatch.setattr(getitem.prim, "vjps", (counted,) + tuple(getitem.prim.vjps[1:]))
    T, S = 50, 30
    x = tg.tensor(np.random.default_rng(0).standard_normal((T, S)), requires_grad=True)
    y = x * 1.0
    loss = sum(y[t].sum() * (t + 1) for t in range(T))
    loss.backward()
    assert np.allclose(x.grad.numpy(), np.arange(1, T + 1)[:, None] * np.ones((T, S)))
    assert len(calls) == 1
    calls.clear()
    y = x * 1.0
    loss = sum(y[t].sum() for t in range(T))
    with tg.autograd.detect_anomaly():  # anomaly mode checks every rule's result: no shortcut
        loss.backward()
    assert len(calls) == T
