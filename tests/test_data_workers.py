"""tensorgrad.utils.data.DataLoader with worker processes (num_workers > 0): the same batches as
num_workers=0, IterableDataset sharding in PyTorch's order, seeding, persistent workers, errors
and timeouts raised in the main process, and no worker left behind.

Datasets used with the "spawn" context are defined at the top of this module (a spawned worker
imports it, so torch is imported inside the tests that need it, not here)."""

import gc
import multiprocessing
import os
import pickle
import random
import signal
import time

import numpy as np
import pytest
from devices import host, on

import tensorgrad as tg
from tensorgrad.utils import data as tgd

# ---- datasets (module level: they must pickle for the spawn context) ------------------------


class Rows(tgd.Dataset):
    """Sample i: (a float32 row of 3 NumPy numbers, the int label i % 3)."""

    def __init__(self, n):
        self.x = np.arange(3 * n, dtype=np.float32).reshape(n, 3)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], int(i % 3)


class WhoLoads(tgd.Dataset):
    """Sample i: what the worker that loads it knows (pid, WorkerInfo fields, random draws)."""

    def __init__(self, n=4):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        info = tgd.get_worker_info()
        return {"i": i, "pid": os.getpid(), "id": info.id, "num_workers": info.num_workers,
                "seed": info.seed, "same_dataset": type(info.dataset) is WhoLoads,
                "tg": float(tg.rand(1).item()), "np": float(np.random.rand()),
                "py": random.random(), "init": _INIT_CALLS[:]}


_INIT_CALLS = []  # in a worker: the ids worker_init_fn was called with


def record_init(worker_id):
    _INIT_CALLS.append(worker_id)


class Chunked(tgd.IterableDataset):
    """range(n), split into contiguous chunks, one per worker (PyTorch's documented example,
    so the workers' streams have different lengths)."""

    def __init__(self, n, info=tgd.get_worker_info):
        self.n = n
        self.info = info

    def __iter__(self):
        info = self.info()
        if info is None:
            return iter(range(self.n))
        per = -(-self.n // info.num_workers)
        return iter(range(info.id * per, min(self.n, (info.id + 1) * per)))


class Failing(tgd.Dataset):
    def __init__(self, bad, exc=ValueError):
        self.bad = bad
        self.exc = exc

    def __len__(self):
        return 6

    def __getitem__(self, i):
        if i == self.bad:
            raise self.exc(f"bad index {i}")
        return i


class TwoArgError(Exception):
    def __init__(self, code, detail):
        super().__init__(code, detail)


class Slow(tgd.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        time.sleep(1.0)
        return i


def _values(batches):
    """Batches as nested lists of Python values, for comparisons."""
    return [host(b).tolist() if isinstance(b, tg.Tensor)
            else (_values(b) if isinstance(b, (list, tuple)) else
                  ({k: _values([v])[0] for k, v in b.items()} if isinstance(b, dict) else b))
            for b in batches]


@pytest.fixture(autouse=True)
def _no_worker_left():
    """Every test leaves no child process behind (its workers are joined, not zombies)."""
    yield
    gc.collect()
    assert multiprocessing.active_children() == []


# ---- map-style: the same batches as in one process --------------------------------------------
@pytest.mark.parametrize("kw", [
    dict(batch_size=3),
    dict(batch_size=3, drop_last=True),
    dict(batch_size=None),
    dict(batch_size=4, shuffle=True, generator="tg"),
    dict(batch_size=4, shuffle=True),  # the global generator, seeded
    dict(batch_size=2, sampler="weighted"),
    dict(batch_sampler=[[9, 0], [3], [4, 5, 6, 1]]),
    dict(batch_size=3, collate_fn=lambda samples: [s[1] for s in samples]),
], ids=["plain", "drop-last", "unbatched", "shuffle-generator", "shuffle-global", "sampler",
        "batch-sampler", "collate-fn"])
@pytest.mark.parametrize("prefetch_factor", [1, 2])
def test_map_style_batches_equal_single_process(kw, prefetch_factor):
    ds = Rows(10)

    def epochs(num_workers):
        args = dict(kw)
        if args.get("generator") == "tg":
            args["generator"] = tg.Generator().manual_seed(7)
        if args.get("sampler") == "weighted":  # a fresh one: its generator is its own
            args["sampler"] = tgd.WeightedRandomSampler([1.0] * 10, 7, generator=5)
        tg.manual_seed(11)
        extra = dict(num_workers=num_workers, prefetch_factor=prefetch_factor) \
            if num_workers else {}
        loader = tgd.DataLoader(ds, **args, **extra)
        return len(loader), [_values(loader) for _ in range(2)], tg.rand(1).item()

    n0, single, after0 = epochs(0)
    n2, multi, after2 = epochs(2)
    assert n2 == n0
    assert multi == single
    assert after2 == after0  # the main process drew from the global generator exactly as much
    if kw.get("shuffle"):
        assert multi[0] != multi[1]  # a new order each epoch


def test_batches_are_built_in_the_workers_and_are_plain_cpu_tensors():
    ds = tgd.TensorDataset(tg.arange(12.0).reshape(6, 2), np.arange(6))
    batches = list(tgd.DataLoader(ds, batch_size=4, num_workers=2))
    (x0, y0), (x1, y1) = batches
    assert type(x0) is tg.Tensor and x0.dtype == np.float32 and y0.dtype == np.int64
    assert x0.is_leaf and not x0.requires_grad and on(x0, "cpu")
    assert host(x1).tolist() == [[8.0, 9.0], [10.0, 11.0]] and host(y1).tolist() == [4, 5]


def test_out_of_order_yields_every_batch_once():
    ds = Rows(12)
    want = sorted(map(str, _values(tgd.DataLoader(ds, batch_size=2))))
    got = _values(tgd.DataLoader(ds, batch_size=2, num_workers=2, in_order=False))
    assert sorted(map(str, got)) == want


def test_pinned_batches_move_to_the_device_in_the_main_process(device):
    ds = Rows(5)
    want = _values(tgd.DataLoader(ds, batch_size=2))
    if tg.cuda.is_available():
        loader = tgd.DataLoader(ds, batch_size=2, num_workers=2, pin_memory=True)
    else:
        with pytest.warns(UserWarning, match="pin_memory"):
            loader = tgd.DataLoader(ds, batch_size=2, num_workers=2, pin_memory=True)
    got = []
    for x, y in loader:
        x = x.to(device, non_blocking=True)
        assert on(x, device)
        got.append([host(x).tolist(), host(y).tolist()])
    assert got == want


def test_cuda_tensor_made_in_a_worker_is_a_clear_error(device):
    class OnDevice(tgd.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return tg.ones(2, device=device)

    loader = tgd.DataLoader(OnDevice(), batch_size=2, num_workers=2)
    if device == "cpu":
        assert [b.shape for b in loader] == [(2, 2), (2, 2)]
        return
    with pytest.raises(RuntimeError, match=r"(?s)worker process 0.*CUDA.*must be on the cpu"):
        list(loader)


# ---- IterableDataset: sharding with get_worker_info, PyTorch's interleaving -----------------
@pytest.mark.parametrize("n, batch_size, drop_last, num_workers", [
    (7, 2, False, 2), (7, 2, True, 2), (10, 3, False, 2), (3, 2, False, 2), (5, None, False, 2),
    (11, 2, False, 3),
])
def test_iterable_sharded_in_torchs_order(n, batch_size, drop_last, num_workers):
    torch = pytest.importorskip("torch")
    kw = dict(batch_size=batch_size, drop_last=drop_last, num_workers=num_workers)
    ours = _values(tgd.DataLoader(Chunked(n), **kw))
    theirs = [b.tolist() if isinstance(b, torch.Tensor) else b
              for b in torch.utils.data.DataLoader(TorchChunked(n, torch), **kw)]
    assert ours == theirs
    flat = sum((b if isinstance(b, list) else [b] for b in ours), [])
    if not drop_last:
        assert sorted(flat) == list(range(n))  # every sample once


def TorchChunked(n, torch):
    base = torch.utils.data.IterableDataset
    cls = type("TorchChunked", (base,), {"__iter__": Chunked.__iter__})
    ds = cls()
    ds.n, ds.info = n, torch.utils.data.get_worker_info
    return ds


def test_iterable_without_sharding_repeats_per_worker_as_torch():
    torch = pytest.importorskip("torch")

    class Same(tgd.IterableDataset):
        def __iter__(self):
            return iter(range(3))

    class TorchSame(torch.utils.data.IterableDataset):
        def __iter__(self):
            return iter(range(3))

    ours = _values(tgd.DataLoader(Same(), batch_size=2, num_workers=2))
    theirs = [b.tolist() for b in torch.utils.data.DataLoader(TorchSame(), batch_size=2,
                                                               num_workers=2)]
    assert ours == theirs == [[0, 1], [0, 1], [2], [2]]


def test_iterable_length_warning_with_workers():
    class Liar(tgd.IterableDataset):
        def __iter__(self):
            return iter(range(4))  # every worker: the whole stream

        def __len__(self):
            return 4

    loader = tgd.DataLoader(Liar(), batch_size=2, num_workers=2)
    assert len(loader) == 2
    with pytest.warns(UserWarning, match="was reported to be 2.*replica at each worker"):
        assert len(list(loader)) == 4


# ---- seeds and worker_init_fn ---------------------------------------------------------------
def _who(**kw):
    loader = tgd.DataLoader(WhoLoads(4), batch_size=None, num_workers=2, **kw)
    return list(loader)


def test_workers_seeded_from_base_seed_plus_id_and_reproducible():
    tg.manual_seed(3)
    state = tg.get_rng_state()
    first = _who(worker_init_fn=record_init)
    assert tg.get_rng_state() == state  # the base seed is read, not drawn
    by_worker = {s["id"]: s for s in first if s["i"] < 2}
    w0, w1 = by_worker[0], by_worker[1]
    assert [s["id"] for s in first] == [0, 1, 0, 1]  # round-robin
    assert w1["seed"] == w0["seed"] + 1 and w0["num_workers"] == 2 and w0["same_dataset"]
    assert w0["pid"] != w1["pid"] != os.getpid()
    assert w0["init"] == [0] and w1["init"] == [1]  # worker_init_fn(id), once, in the worker
    for key in ("tg", "np", "py"):
        assert w0[key] != w1[key]  # two workers draw different numbers
    # each generator is seeded with the seed: the first draw is that of a fresh seeding
    tg.manual_seed(w0["seed"])
    np.random.seed(np.random.SeedSequence(w0["seed"]).generate_state(4))
    random.seed(w0["seed"])
    assert (w0["tg"], w0["np"], w0["py"]) == (tg.rand(1).item(), np.random.rand(),
                                                random.random())

    def draws(result):
        return [(s["seed"], s["tg"], s["np"], s["py"]) for s in result]

    tg.manual_seed(3)
    assert draws(_who()) == draws(first)  # the same base seed: the same numbers
    tg.manual_seed(4)
    assert draws(_who()) != draws(first)
    g = tg.Generator().manual_seed(8)
    tg.manual_seed(3)
    with_g = draws(_who(generator=g))
    assert with_g != draws(first)  # the generator's state decides, not the global one's
    tg.manual_seed(5)
    assert draws(_who(generator=tg.Generator().manual_seed(8))) == with_g


def test_each_start_of_the_workers_gets_a_new_base_seed():
    tg.manual_seed(0)
    loader = tgd.DataLoader(WhoLoads(2), batch_size=None, num_workers=2)
    seeds = [[s["seed"] for s in loader] for _ in range(2)]
    assert seeds[0] != seeds[1]  # sequential sampling advances no generator, yet new seeds


# ---- persistent workers ---------------------------------------------------------------------
def test_persistent_workers_serve_every_epoch():
    tg.manual_seed(0)
    loader = tgd.DataLoader(WhoLoads(4), batch_size=None, num_workers=2,
                            persistent_workers=True, worker_init_fn=record_init)
    epochs = [list(loader) for _ in range(3)]
    pids = [sorted({s["pid"] for s in e}) for e in epochs]
    assert pids[0] == pids[1] == pids[2] and len(pids[0]) == 2
    assert [s["i"] for s in epochs[2]] == [0, 1, 2, 3]
    assert all(s["init"] == [s["id"]] for s in epochs[2])  # initialised once
    assert len(multiprocessing.active_children()) == 2  # alive between epochs
    it = iter(loader)
    next(it)  # an epoch left early: what was in flight is dropped at the next start
    assert [s["i"] for s in loader] == [0, 1, 2, 3]
    del it, loader
    gc.collect()
    assert multiprocessing.active_children() == []

    fresh = tgd.DataLoader(WhoLoads(2), batch_size=None, num_workers=2)
    assert {s["pid"] for s in fresh}.isdisjoint({s["pid"] for s in fresh})  # new each epoch


def test_persistent_workers_restart_an_iterable_each_epoch():
    loader = tgd.DataLoader(Chunked(7), batch_size=2, num_workers=2, persistent_workers=True)
    want = _values(tgd.DataLoader(Chunked(7), batch_size=2, num_workers=2))
    assert [_values(loader) for _ in range(2)] == [want, want]


# ---- errors, timeouts, shutdown -------------------------------------------------------------
def test_worker_error_raised_with_worker_id_and_traceback():
    loader = tgd.DataLoader(Failing(3), batch_size=1, num_workers=2)
    got = []
    with pytest.raises(ValueError) as err:
        for b in loader:
            got.append(host(b).tolist())
    assert got == [[0], [1], [2]]  # the batches before the failing one, in order
    msg = str(err.value)
    assert "Caught ValueError in DataLoader worker process 1" in msg  # index 3: worker 1
    assert "Traceback (most recent call last)" in msg and "bad index 3" in msg
    assert "in __getitem__" in msg

    with pytest.raises(KeyError, match="worker process 0") as err:
        list(tgd.DataLoader(Failing(0, KeyError), batch_size=2, num_workers=2))
    assert "\n" in str(err.value)  # the traceback's lines, not a repr
    with pytest.raises(RuntimeError, match="Caught TwoArgError in DataLoader worker process"):
        list(tgd.DataLoader(Failing(2, lambda m: TwoArgError(1, m)), batch_size=2,
                            num_workers=2))


def test_worker_init_fn_error_and_worker_death():
    def broken_init(worker_id):
        raise OSError(f"no such file for worker {worker_id}")

    with pytest.raises(OSError, match="(?s)worker process 0.*no such file for worker 0"):
        list(tgd.DataLoader(Rows(4), num_workers=2, worker_init_fn=broken_init))

    loader = tgd.DataLoader(WhoLoads(8), batch_size=None, num_workers=2)
    it = iter(loader)
    os.kill(next(it)["pid"], signal.SIGKILL)
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid\(s\) .*exited unexpectedly"):
        for _ in it:
            pass


def test_timeout_raises():
    it = iter(tgd.DataLoader(Slow(), batch_size=None, num_workers=2, timeout=0.2))
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.2 seconds"):
        next(it)
    assert time.monotonic() - t0 < 0.9  # raised at the timeout, not when the sample came
    del it  # the workers are stopped (once the sample they are loading is done)


@pytest.mark.parametrize("how", ["del", "exhausted", "exception", "break"])
def test_no_child_process_left(how):
    loader = tgd.DataLoader(Rows(20), batch_size=2, num_workers=2)
    if how == "break":
        for _ in loader:
            workers = list(multiprocessing.active_children())
            break
        assert len(workers) == 2
        gc.collect()
        assert multiprocessing.active_children() == []
        return
    it = iter(loader)
    next(it)
    workers = list(multiprocessing.active_children())
    assert len(workers) == 2
    if how == "del":
        del it
    elif how == "exhausted":
        assert len(list(it)) == 9
        assert not any(w.is_alive() for w in workers)  # stopped at the end, not at deletion
    elif how == "exception":
        with pytest.raises(ZeroDivisionError):
            for _ in it:
                raise ZeroDivisionError("in the loop's body")
        del it
    gc.collect()
    assert multiprocessing.active_children() == []
    assert all(w.exitcode is not None for w in workers)  # joined (reaped), not zombies


# ---- start methods ----------------------------------------------------------------------------
def test_spawn_context_with_a_module_level_dataset():
    want = _values(tgd.DataLoader(Rows(6), batch_size=4))
    loader = tgd.DataLoader(Rows(6), batch_size=4, num_workers=2,
                            multiprocessing_context="spawn")
    assert _values(loader) == want
    ctx = multiprocessing.get_context("fork")
    loader = tgd.DataLoader(Rows(6), batch_size=4, num_workers=2, multiprocessing_context=ctx)
    assert loader.multiprocessing_context is ctx and _values(loader) == want


# ---- arguments --------------------------------------------------------------------------------
@pytest.mark.parametrize("kw, error, match", [
    (dict(num_workers=-1), ValueError, "num_workers option should be non-negative"),
    (dict(timeout=-1), ValueError, "timeout option should be non-negative"),
    (dict(prefetch_factor=2), ValueError, "prefetch_factor option could only be specified"),
    (dict(persistent_workers=True), ValueError, "persistent_workers option needs num_workers"),
    (dict(multiprocessing_context="fork"), ValueError, "multiprocessing_context can only"),
    (dict(num_workers=2, multiprocessing_context="threads"), ValueError, "valid start method"),
    (dict(num_workers=2, multiprocessing_context=3), TypeError, "context object"),
])
def test_bad_worker_arguments_as_torch(kw, error, match):
    torch = pytest.importorskip("torch")
    with pytest.raises(error, match=match):
        tgd.DataLoader(Rows(4), **kw)
    with pytest.raises(error):
        torch.utils.data.DataLoader(list(range(4)), **kw)


def test_tensors_cross_processes_as_their_arrays():
    leaf = tg.tensor([1.0, 2.0], requires_grad=True)
    back = pickle.loads(tgd._dumps({"x": leaf, "y": [tg.arange(3)]}))
    assert back["x"].requires_grad and back["x"].is_leaf and host(back["x"]).tolist() == [1, 2]
    assert back["y"][0].dtype == np.int64
    with pytest.raises(RuntimeError, match="non-leaf tensor.*requires grad.*detach"):
        tgd._dumps([leaf * 2])
    assert pickle.loads(tgd._dumps((leaf * 2).detach())).requires_grad is False
