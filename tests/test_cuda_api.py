"""tg.cuda's PyTorch device API: streams and events, memory statistics, device properties,
pinned memory and non-blocking copies (Tensor.pin_memory/.to(non_blocking=True), DataLoader's
pin_memory), on the CPU, on the strict CuPy stand-in or a GPU, and without CuPy."""

import inspect
import warnings

import numpy as np
import pytest
from devices import host, put, tensor_on

import tensorgrad as tg
import tensorgrad.nn.functional as F
import tensorgrad.numpy as tnp
from tensorgrad.backend import device as dev
from tensorgrad.utils.data import DataLoader, TensorDataset

HAS_CUDA = tg.cuda.is_available()


def needs_cuda(test):
    """Marked ``cuda``; skipped where CuPy sees no GPU and the stand-in is off."""
    skip = pytest.mark.skipif(not HAS_CUDA, reason="needs CuPy and a GPU (or the stand-in)")
    return pytest.mark.cuda(skip(test))


TWO_GPUS = pytest.mark.skipif(not HAS_CUDA or tg.cuda.device_count() < 2,
                              reason="needs two GPUs (the stand-in has two)")


def _standin():
    import sys

    return getattr(sys.modules.get("cupy"), "__cupy_standin__", False)


on_standin = pytest.mark.skipif(not _standin(), reason="inspects the CuPy stand-in")



def _stop_peak_tracking():
    while tg.cuda._PEAK_HOOK:
        tg.cuda._PEAK_HOOK.pop().__exit__(None, None, None)
    tg.cuda._PEAK.clear()


@pytest.fixture
def peak_tracking():
    """Peak tracking off, as before a user's first memory-stat call, and off again afterwards
    (so that the memory hook does not run for the rest of the session)."""
    _stop_peak_tracking()
    yield
    _stop_peak_tracking()


# ---- Tensor.is_cuda / get_device ---------------------------------------------------------------
def test_is_cuda_and_get_device(device):
    x = tensor_on([1.0, 2.0], device)
    assert x.is_cuda is (device == "cuda")
    assert x.get_device() == (0 if device == "cuda" else -1)
    assert (x * 2).is_cuda is (device == "cuda")  # results stay where their inputs are


def test_is_cuda_and_get_device_as_pytorch():
    torch = pytest.importorskip("torch")
    t, x = torch.ones(2), tg.ones(2)
    assert (x.is_cuda, x.get_device()) == (t.is_cuda, t.get_device()) == (False, -1)


@TWO_GPUS
def test_get_device_on_the_second_gpu():
    with tg.cuda.device(1):
        x = tg.ones(3, device="cuda:1")
        assert x.get_device() == 1 and x.is_cuda


# ---- names and signatures against PyTorch ------------------------------------------------------
NEW_NAMES = ["Stream", "StreamContext", "stream", "current_stream", "default_stream", "Event",
             "max_memory_allocated", "reset_peak_memory_stats", "memory_reserved",
             "mem_get_info", "get_device_properties", "get_device_capability",
             "memory_allocated", "empty_cache", "synchronize", "get_device_name"]


def _params(fn):
    return [p.name for p in inspect.signature(fn).parameters.values()
            if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]


@pytest.mark.parametrize("name", NEW_NAMES)
def test_names_and_parameters_match_torch_cuda(name):
    torch = pytest.importorskip("torch")
    ours, theirs = getattr(tg.cuda, name), getattr(torch.cuda, name)
    assert name in tg.cuda.__all__
    assert ours.__doc__ and ours.__doc__.strip()
    # our parameters are PyTorch's, in PyTorch's order (a prefix: PyTorch may have more)
    mine, ref = _params(ours), _params(theirs)
    assert mine == ref[:len(mine)], (name, mine, ref)


@pytest.mark.parametrize("cls, methods", [
    ("Stream", ["synchronize", "query", "wait_stream", "wait_event", "record_event"]),
    ("Event", ["record", "synchronize", "query", "wait", "elapsed_time"]),
])
def test_stream_and_event_methods_match_torch(cls, methods):
    torch = pytest.importorskip("torch")
    for m in methods:
        ours, theirs = getattr(getattr(tg.cuda, cls), m), getattr(getattr(torch.cuda, cls), m)
        assert ours.__doc__, f"{cls}.{m} has no docstring"
        mine, ref = _params(ours), _params(theirs)
        assert mine == ref[:len(mine)], (cls, m, mine, ref)


def test_tensor_methods_exist_in_torch():
    torch = pytest.importorskip("torch")
    for name in ("is_cuda", "get_device", "pin_memory", "is_pinned"):
        assert hasattr(torch.Tensor, name) and hasattr(tg.Tensor, name)
        assert getattr(tg.Tensor, name).__doc__
    assert _params(tg.Tensor.cuda) == ["self", "device", "non_blocking", "memory_format"]


# ---- streams -----------------------------------------------------------------------------------
def _cross_entropy_np(x, t):
    z = x - x.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(t)), t].mean()


@needs_cuda
def test_work_inside_a_stream_is_right_and_the_stream_is_current(monkeypatch):
    cp = dev.cupy
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((6, 5)).astype(np.float32)
    target = rng.integers(0, 5, 6)
    launches = []
    if _standin():  # which stream each fused-kernel launch went to
        from cupy_standin import _kernels

        real = _kernels.RawKernel.__call__

        def spy(self, *args, **kw):
            launches.append((self.name, kw.get("stream") or cp.cuda.get_current_stream()))
            return real(self, *args, **kw)

        monkeypatch.setattr(_kernels.RawKernel, "__call__", spy)
    s = tg.cuda.Stream()
    assert s.device_index == 0 and s.device == "cuda:0" and s.cuda_stream != 0
    before = tg.cuda.current_stream()
    assert before == tg.cuda.default_stream() and before != s
    with tg.cuda.stream(s) as entered:
        assert entered is s
        assert tg.cuda.current_stream() == s
        assert cp.cuda.get_current_stream().ptr == s.cuda_stream  # what CuPy launches on
        x = tg.tensor(put(logits, "cuda"), requires_grad=True)
        y = (x * 2 + 1).sum(axis=1)
        loss = F.cross_entropy(x, tg.tensor(put(target, "cuda")))
        loss.backward()
    assert tg.cuda.current_stream() == before and tg.cuda.current_stream() != s
    s.synchronize()
    assert s.query() is True
    np.testing.assert_allclose(host(y), (logits * 2 + 1).sum(axis=1), rtol=1e-6)
    np.testing.assert_allclose(loss.item(), _cross_entropy_np(logits.astype(np.float64), target),
                               rtol=1e-5)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(6), target] -= 1
    np.testing.assert_allclose(host(x.grad), p / 6, rtol=1e-5, atol=1e-7)
    if _standin():
        assert launches, "cross_entropy on float32 cuda data launched no fused kernel"
        assert all(st == s._s for _, st in launches), launches


def test_stream_none_changes_nothing():
    with tg.cuda.stream(None) as entered:  # works without CuPy too
        assert entered is None


@TWO_GPUS
def test_a_stream_of_the_second_gpu_makes_it_current_inside():
    s1 = tg.cuda.Stream(device=1)
    assert s1.device_index == 1 and tg.cuda.Stream("cuda:1").device_index == 1
    assert tg.cuda.current_device() == 0
    with tg.cuda.stream(s1):
        assert tg.cuda.current_device() == 1
        assert tg.cuda.current_stream() == s1 and tg.cuda.current_stream(1) == s1
        assert tg.cuda.current_stream(0) == tg.cuda.default_stream(0)
        y = tg.ones(2, device="cuda:1") * 3
    assert tg.cuda.current_device() == 0 and tg.cuda.current_stream(1) != s1
    assert host(y).tolist() == [3.0, 3.0] and y.get_device() == 1
    # a stream is not equal to the same handle on another device
    assert tg.cuda.default_stream(0) != tg.cuda.default_stream(1)


@needs_cuda
def test_stream_synchronisation_and_priority():
    a, b = tg.cuda.Stream(), tg.cuda.Stream(priority=-1)
    assert a.priority == 0 and b.priority == -1
    assert a != b and a == a and len({a, b, a}) == 2
    assert repr(a).startswith("<tensorgrad.cuda.Stream device=cuda:0 cuda_stream=0x")
    with tg.cuda.stream(a):
        x = tg.arange(4.0, device="cuda") + 1
    ev = a.record_event()
    assert isinstance(ev, tg.cuda.Event) and ev.device_index == 0 and ev.query() is True
    b.wait_stream(a)
    b.wait_event(ev)
    with tg.cuda.stream(b):
        y = x * 2
    b.synchronize()
    assert host(y).tolist() == [2.0, 4.0, 6.0, 8.0]
    mine = tg.cuda.Event()
    assert a.record_event(mine) is mine
    tg.cuda.current_stream().wait_stream(b)


# ---- events ------------------------------------------------------------------------------------
@needs_cuda
def test_event_timing_in_milliseconds():
    start, end = tg.cuda.Event(enable_timing=True), tg.cuda.Event(enable_timing=True)
    assert start.query() is True  # never recorded: nothing to wait for
    start.synchronize()
    start.wait()
    with pytest.raises(RuntimeError, match="must be recorded"):
        start.elapsed_time(end)
    start.record()
    y = (tg.ones(1000, device="cuda") * 2).sum()
    end.record(tg.cuda.current_stream())
    ms = start.elapsed_time(end)
    assert isinstance(ms, float) and ms >= 0.0
    assert y.item() == 2000.0 and end.query() is True


@needs_cuda
def test_elapsed_time_needs_enable_timing():
    plain, timed = tg.cuda.Event(), tg.cuda.Event(enable_timing=True)
    plain.record()
    timed.record()
    for a, b in ((plain, timed), (timed, plain), (plain, plain)):
        with pytest.raises(RuntimeError, match="enable_timing=True"):
            a.elapsed_time(b)
    plain.synchronize()
    plain.wait(tg.cuda.Stream())


@TWO_GPUS
def test_an_event_stays_on_its_gpu():
    ev = tg.cuda.Event()
    ev.record(tg.cuda.Stream(device=1))
    assert ev.device_index == 1
    with pytest.raises(RuntimeError, match="belongs to cuda:1"):
        ev.record(tg.cuda.Stream(device=0))
    tg.cuda.Stream(device=0).wait_event(ev)  # waiting across GPUs is allowed


# ---- memory ------------------------------------------------------------------------------------
MIB4 = 4 << 20


@needs_cuda
def test_peak_memory_rises_and_resets(peak_tracking):
    tg.cuda.reset_peak_memory_stats()
    base = tg.cuda.memory_allocated()
    assert tg.cuda.max_memory_allocated() == base
    x = tg.zeros(1 << 20, device="cuda")  # 4 MiB of float32
    assert tg.cuda.memory_allocated() >= base + MIB4
    assert tg.cuda.max_memory_allocated() >= base + MIB4
    del x
    assert tg.cuda.memory_allocated() < base + MIB4
    assert tg.cuda.max_memory_allocated() >= base + MIB4  # the peak remembers
    tg.cuda.reset_peak_memory_stats()
    assert tg.cuda.max_memory_allocated() == tg.cuda.memory_allocated() < base + MIB4
    # a temporary made and freed between two calls counts: the hook sees each allocation
    total = tg.ones(2 << 20, device="cuda").sum()  # 8 MiB, gone when sum returns
    assert total.item() == 2 << 20
    assert tg.cuda.max_memory_allocated() >= base + 2 * MIB4
    assert tg.cuda.memory_allocated() < base + MIB4


@needs_cuda
def test_peak_tracking_starts_only_when_asked(peak_tracking):
    assert not tg.cuda._PEAK_HOOK
    tg.cuda.memory_allocated()
    tg.cuda.memory_reserved()
    assert not tg.cuda._PEAK_HOOK  # plain queries register nothing
    tg.cuda.max_memory_allocated()
    assert len(tg.cuda._PEAK_HOOK) == 1
    tg.cuda.reset_peak_memory_stats()
    assert len(tg.cuda._PEAK_HOOK) == 1  # once


@TWO_GPUS
def test_memory_statistics_per_gpu(peak_tracking):
    tg.cuda.reset_peak_memory_stats(1)
    before0 = tg.cuda.memory_allocated(0)
    with tg.cuda.device(1):
        x = tg.zeros(1 << 20, device="cuda:1")
    assert tg.cuda.memory_allocated("cuda:1") >= MIB4
    assert tg.cuda.memory_allocated(0) == before0
    assert tg.cuda.max_memory_allocated(1) >= MIB4
    del x


@needs_cuda
def test_reserved_free_and_total_memory():
    x = tg.zeros(1 << 20, device="cuda")
    assert tg.cuda.memory_reserved() >= tg.cuda.memory_allocated() >= MIB4
    free, total = tg.cuda.mem_get_info()
    assert isinstance(free, int) and 0 <= free <= total
    assert total == tg.cuda.get_device_properties().total_memory
    del x


@needs_cuda
def test_device_properties_and_capability():
    p = tg.cuda.get_device_properties(0)
    assert p.name == tg.cuda.get_device_name(0) and p.name
    assert p.total_memory > 0 and p.multi_processor_count > 0 and p.major >= 1
    assert tg.cuda.get_device_capability() == tg.cuda.get_device_capability("cuda:0") \
        == (p.major, p.minor)
    r = repr(p)
    assert r.startswith("_CudaDeviceProperties(name=") and f"'{p.name}'" in r
    assert f"total_memory={p.total_memory // 2**20}MB" in r and f"major={p.major}" in r
    with pytest.raises(ValueError, match="expected a cuda device"):
        tg.cuda.get_device_properties("cpu")


# ---- pinned memory and non-blocking copies -----------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_, np.complex64])
@needs_cuda
def test_pin_memory_round_trip(dtype):
    a = (np.arange(12).reshape(3, 4) % 5).astype(dtype)
    x = tg.tensor(a)
    p = x.pin_memory()
    assert p.is_pinned() is True and x.is_pinned() is False
    assert p.dtype == a.dtype and p.shape == (3, 4) and not p.is_cuda
    np.testing.assert_array_equal(p.numpy(), a)
    assert p.pin_memory() is p  # pinned already
    t = tg.tensor(a).T.pin_memory()  # a non-contiguous source
    np.testing.assert_array_equal(t.numpy(), a.T)
    assert t.is_pinned()
    np.testing.assert_array_equal(host(p.to("cuda", non_blocking=True)), a)
    empty = tg.tensor(np.zeros((0, 3), dtype)).pin_memory()
    assert empty.shape == (0, 3) and empty.dtype == a.dtype


_PIN_FACTORIES = {  # PyTorch's factories that take pin_memory= (checked against torch below)
    "zeros": ((2, 3),), "ones": ((2,),), "empty": ((2,),), "full": ((2,), 1.5), "eye": (2,),
    "arange": (3,), "linspace": (0, 1, 3), "logspace": (0, 1, 3), "rand": ((2,),),
    "randn": ((2,),), "randint": (0, 5, (2,)), "randperm": (3,), "normal": (0.0, 1.0, (2,)),
    "empty_strided": ((2,), (1,)), "scalar_tensor": (1.0,), "tril_indices": (3, 3),
    "triu_indices": (3, 3), "hann_window": (4,), "tensor": ([1.0, 2.0],),
}


def test_factories_take_pin_memory_where_pytorch_does():
    torch = pytest.importorskip("torch")
    for name, args in _PIN_FACTORIES.items():
        ours = getattr(tg, name)(*args, pin_memory=False)
        theirs = getattr(torch, name)(*args, pin_memory=False)
        assert tuple(ours.shape) == tuple(theirs.shape) and not ours.is_pinned(), name
        assert "pin_memory" in inspect.signature(getattr(tg, name)).parameters, name
    x = tg.ones(2)
    for method, args in (("new_zeros", ((2,),)), ("new_full", ((2,), 3.0)),
                         ("new_empty", ((2,),))):
        assert getattr(x, method)(*args, pin_memory=False).shape == (2,)
    for like in ("zeros_like", "ones_like", "empty_like", "rand_like", "randn_like"):
        assert getattr(tg, like)(x, pin_memory=False).shape == (2,)


@needs_cuda
def test_factories_with_pin_memory_give_pinned_leaves():
    for name, args in _PIN_FACTORIES.items():
        p = getattr(tg, name)(*args, pin_memory=True)
        assert p.is_pinned() and not p.is_cuda, name
    assert tg.ones(2).new_full((3,), 2.0, pin_memory=True).is_pinned()
    assert tg.zeros_like(tg.ones(2), pin_memory=True).is_pinned()
    leaf = tg.zeros(2, requires_grad=True, pin_memory=True)
    assert leaf.is_leaf and leaf.requires_grad and leaf.is_pinned()
    assert tg.tensor([1.0, 2.0], pin_memory=True).to("cuda", non_blocking=True).is_cuda
    with pytest.raises(RuntimeError, match="pin_memory=True is for CPU tensors"):
        tg.zeros(2, device="cuda", pin_memory=True)


@needs_cuda
def test_pinning_a_cuda_tensor_is_an_error():
    x = tg.ones(2, device="cuda")
    assert x.is_pinned() is False
    with pytest.raises(RuntimeError, match="only CPU tensors can be pinned"):
        x.pin_memory()


@needs_cuda
def test_gradient_flows_through_pin_memory():
    x = tg.tensor([1.0, -2.0, 3.0], requires_grad=True)
    p = x.pin_memory()
    (p * p).sum().backward()
    assert x.grad.tolist() == [2.0, -4.0, 6.0]
    tg.check_grads(lambda v: tnp.sin(tg.cuda._prims()["pin"](v)) * v,
                   modes=("fwd", "rev"), order=2)(np.array([0.3, -1.2, 2.0]))


@needs_cuda
def test_non_blocking_copies_from_pinned_and_unpinned_memory(monkeypatch):
    async_copies = []
    real = dev._copy_to_device_async

    def spy(h):
        async_copies.append(h)
        return real(h)

    monkeypatch.setattr(dev, "_copy_to_device_async", spy)
    a = np.random.default_rng(1).standard_normal((5, 7)).astype(np.float32)
    unpinned, pinned = tg.tensor(a), tg.tensor(a).pin_memory()
    want = host(unpinned.to("cuda"))
    for src in (unpinned, pinned):
        for y in (src.to("cuda", non_blocking=True), src.cuda(non_blocking=True),
                  src.to("cuda", None, True), src.cuda(0, True)):
            assert y.is_cuda and y.dtype == np.float32 and y.shape == (5, 7)
            np.testing.assert_array_equal(host(y), want)
    # the pinned source went by the asynchronous copy, four times; the unpinned one never
    assert len(async_copies) == 4 and all(h is pinned.data for h in async_copies)
    # ... and is kept alive until the GPU has read it
    assert any(h is pinned.data for _, h in dev._IN_FLIGHT)
    # with a dtype change on the way, and back to the host
    y = pinned.to("cuda", np.float64, non_blocking=True)
    assert y.dtype == np.float64 and np.allclose(host(y), a)
    back = y.to("cpu", non_blocking=True)
    assert not back.is_cuda and np.array_equal(back.numpy(), a.astype(np.float64))
    same = pinned.to("cpu", non_blocking=True)
    assert same is pinned  # nothing to move


@on_standin
def test_non_blocking_copy_runs_on_the_current_stream(monkeypatch):
    from cupy_standin import _core

    streams = []
    real = _core.ndarray.set

    def spy(self, arr, stream=None):
        streams.append(stream)
        return real(self, arr, stream)

    monkeypatch.setattr(_core.ndarray, "set", spy)
    p = tg.tensor([1.0, 2.0]).pin_memory()
    s = tg.cuda.Stream()
    with tg.cuda.stream(s):
        y = p.to("cuda", non_blocking=True)
    assert host(y).tolist() == [1.0, 2.0]
    assert len(streams) == 1 and streams[0] == s._s


@pytest.mark.parametrize("pinned", [False, True], ids=["unpinned", "pinned"])
@needs_cuda
def test_gradients_through_non_blocking_to(pinned):
    a = np.array([0.5, -1.0, 2.0])
    grads = []
    for non_blocking in (False, True):
        x = tg.tensor(a, requires_grad=True)
        src = x.pin_memory() if pinned else x
        y = src.to("cuda", non_blocking=non_blocking)
        loss = (y ** 3).sum().to("cpu", non_blocking=non_blocking)
        loss.backward()
        assert x.grad.device == "cpu"
        grads.append(x.grad.numpy())
    np.testing.assert_allclose(grads[1], grads[0])
    np.testing.assert_allclose(grads[1], 3 * a ** 2)
    # the other way: a cuda leaf, copied to the host without blocking
    w = tg.tensor(put(a, "cuda"), requires_grad=True)
    (w.to("cpu", non_blocking=True) ** 2).sum().backward()
    assert w.grad.is_cuda and host(w.grad).tolist() == (2 * a).tolist()


@needs_cuda
def test_non_blocking_to_has_checked_derivatives():
    from tensorgrad.ops.shape import to_device

    def move(v, where):
        return to_device(v, where, True)

    gpu, cpu = dev.Device("cuda"), dev.Device("cpu")
    tg.check_grads(lambda v: move(tnp.sin(move(v, gpu)) ** 2, cpu),
                   modes=("fwd", "rev"), order=2)(np.array([0.3, -1.2, 2.0]))


def test_non_blocking_on_the_cpu_alone(device):
    x = tensor_on([1.0, 2.0], device)
    y = x.to(device, non_blocking=True)
    assert y is x  # already there: no copy, no work
    z = x.to("cpu", non_blocking=True)
    assert z.numpy().tolist() == [1.0, 2.0] and not z.is_cuda


# ---- DataLoader(pin_memory=True) ---------------------------------------------------------------
@needs_cuda
def test_dataloader_pins_batches():
    xs, ys = tg.arange(20.0).reshape(10, 2), tg.tensor(np.arange(10) % 3)
    ds = TensorDataset(xs, ys)
    plain = list(DataLoader(ds, batch_size=4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # CUDA is there: no warning
        loader = DataLoader(ds, batch_size=4, pin_memory=True)
    pinned = list(loader)
    assert loader.pin_memory is True and len(pinned) == len(plain) == 3
    for (px, py), (x, y) in zip(pinned, plain):
        assert px.is_pinned() and py.is_pinned() and not x.is_pinned()
        assert px.dtype == x.dtype and py.dtype == y.dtype
        np.testing.assert_array_equal(px.numpy(), x.numpy())
        np.testing.assert_array_equal(py.numpy(), y.numpy())
        np.testing.assert_array_equal(host(px.to("cuda", non_blocking=True)), x.numpy())


@needs_cuda
def test_dataloader_pins_nested_batches_as_pytorch():

    def collate(samples):
        return {"x": tg.tensor([s for s in samples]), "meta": ("tag", tg.ones(1)), "n": 3}

    (batch,) = DataLoader(list(range(4)), batch_size=4, collate_fn=collate, pin_memory=True)
    assert batch["x"].is_pinned() and batch["x"].tolist() == [0, 1, 2, 3]
    assert batch["n"] == 3
    assert isinstance(batch["meta"], list)  # a tuple comes back a list, as in PyTorch
    assert batch["meta"][0] == "tag" and batch["meta"][1].is_pinned()
    # without auto-batching too
    items = list(DataLoader(TensorDataset(tg.arange(3.0)), batch_size=None, pin_memory=True))
    assert [t.is_pinned() for (t,) in items] == [True] * 3


def test_dataloader_pin_memory_without_cuda_warns_and_goes_on(no_cupy):
    ds = TensorDataset(tg.arange(6.0))
    with pytest.warns(UserWarning, match="pin_memory.*CUDA is not available"):
        loader = DataLoader(ds, batch_size=4, pin_memory=True)
    batches = [b.tolist() for (b,) in loader]
    assert batches == [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0]]
    assert not any(b.is_pinned() for (b,) in loader)


# ---- without CuPy ------------------------------------------------------------------------------
NEEDS_GPU = [
    ("Stream", lambda: tg.cuda.Stream()),
    ("current_stream", lambda: tg.cuda.current_stream()),
    ("default_stream", lambda: tg.cuda.default_stream()),
    ("current_stream", lambda: tg.cuda.Event().record()),
    ("max_memory_allocated", lambda: tg.cuda.max_memory_allocated()),
    ("reset_peak_memory_stats", lambda: tg.cuda.reset_peak_memory_stats()),
    ("memory_reserved", lambda: tg.cuda.memory_reserved()),
    ("mem_get_info", lambda: tg.cuda.mem_get_info()),
    ("get_device_properties", lambda: tg.cuda.get_device_properties(0)),
    ("get_device_properties", lambda: tg.cuda.get_device_capability()),
    ("pin_memory", lambda: tg.ones(2).pin_memory()),
    ("device cuda", lambda: tg.ones(2).to("cuda", non_blocking=True)),
]


@pytest.mark.parametrize("what, call", NEEDS_GPU, ids=[f"{w}-{i}" for i, (w, _) in
                                                        enumerate(NEEDS_GPU)])
def test_without_cupy_each_call_says_what_to_install(no_cupy, what, call):
    with pytest.raises(RuntimeError, match=rf"{what}.*CuPy is not installed.*tensorgrad\[cuda\]"):
        call()


def test_without_cupy_the_queries_answer(no_cupy):
    x = tg.ones(2)
    assert x.is_cuda is False and x.get_device() == -1 and x.is_pinned() is False
    ev = tg.cuda.Event(enable_timing=True)  # made lazily: nothing needs a GPU yet
    assert ev.query() is True
    ev.synchronize()
    assert x.to("cpu", non_blocking=True) is x


# ---- the stand-in keeps CuPy's bookkeeping ------------------------------------------------------
@on_standin
def test_standin_streams_follow_cupy():
    cp = dev.cupy
    cuda = cp.cuda
    assert cuda.Stream.null.device_id == -1 and cuda.Stream.null.ptr == 0
    s = cuda.Stream(non_blocking=True, priority=-100)
    assert s.device_id == 0 and s.is_non_blocking and s.priority == -5  # clamped
    assert hash(s) == s.ptr and s == cuda.ExternalStream(s.ptr)
    with pytest.raises(TypeError):
        cuda.get_current_stream(None)
    with cuda.Device(1):
        with pytest.raises(RuntimeError, match=r"created on \(0\) does not match .* \(1\)"):
            s.__enter__()
        with pytest.raises(RuntimeError, match="does not match"):
            s.use()
        s1 = cuda.Stream()
        with s1:
            assert cuda.get_current_stream() is s1 and cuda.get_current_stream(1) is s1
            assert cuda.get_current_stream(0) is cuda.Stream.null  # per device
    assert cuda.get_current_stream(1) is cuda.Stream.null


@on_standin
def test_standin_events_follow_cuda():
    cp = dev.cupy
    cuda = cp.cuda
    a, b = cuda.Event(), cuda.Event(disable_timing=True)
    with pytest.raises(cuda.runtime.CUDARuntimeError, match="cudaErrorInvalidResourceHandle"):
        cuda.get_elapsed_time(a, a)  # never recorded
    a.record()
    b.record()
    with pytest.raises(cuda.runtime.CUDARuntimeError, match="cudaErrorInvalidResourceHandle"):
        cuda.get_elapsed_time(a, b)  # timing disabled
    assert cuda.get_elapsed_time(a, a) == 0.0
    with cuda.Device(1):
        with pytest.raises(cuda.runtime.CUDARuntimeError):
            a.record()  # the null stream is now device 1's; the event is device 0's
    with pytest.raises(ValueError, match="Timing must be disabled"):
        cuda.Event(interprocess=True)
    assert not hasattr(a, "disable_timing")  # CuPy's Event has only .ptr


@on_standin
def test_standin_memory_hooks_see_mallocs_and_frees():
    cp = dev.cupy
    seen = []

    class Hook(cp.cuda.MemoryHook):
        name = "test"

        def malloc_postprocess(self, **kw):
            seen.append(("malloc", kw["device_id"], kw["size"], kw["mem_size"], kw["mem_ptr"]))

        def free_postprocess(self, **kw):
            seen.append(("free", kw["device_id"], kw["mem_size"], kw["mem_ptr"]))

    from cupy_standin import _core

    pool = cp.get_default_memory_pool()
    with Hook():
        with pytest.raises(KeyError, match="already exists"):
            Hook().__enter__()
        before = pool.used_bytes()
        x = cp.zeros(1000, np.float32)
        v = x.reshape(10, 100)  # a view: no malloc
        ptr = x.data.ptr
        assert pool.used_bytes() == before + 4000 == _core.used_bytes(0)  # counted = scanned
        del x
        assert pool.used_bytes() == before + 4000  # the view keeps the memory
        del v
        assert pool.used_bytes() == before == _core.used_bytes(0)
    assert [e for e in seen if e[0] == "malloc"] == [("malloc", 0, 4000, 4096, ptr)]
    assert ("free", 0, 4096, ptr) in seen
    seen.clear()
    cp.zeros(10)  # unregistered: nothing
    assert seen == []


@on_standin
def test_standin_pinned_memory_follows_cupy():
    cp = dev.cupy
    mem = cp.cuda.alloc_pinned_memory(100)
    assert type(mem).__name__ == "PinnedMemoryPointer"
    assert isinstance(mem, cp.cuda.PinnedMemoryPointer) and mem.size() == 512  # pool rounding
    a = np.frombuffer(mem, np.float32, 25)
    a[:] = 2.5
    assert cp.cuda.pinned_memory.is_memory_pinned(a.ctypes.data)
    assert not cp.cuda.pinned_memory.is_memory_pinned(np.ones(4).ctypes.data)
    assert (mem + 8).ptr == mem.ptr + 8 and (mem + 8).size() == 504
    pool = cp.get_default_pinned_memory_pool()
    free_before = pool.n_free_blocks()
    del a, mem
    assert pool.n_free_blocks() == free_before + 1  # back to the pool, still pinned
    assert cp.cuda.alloc_pinned_memory(0).size() == 0
    assert not hasattr(pool, "used_bytes")  # CuPy's PinnedMemoryPool has no such method
