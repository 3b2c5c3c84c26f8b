"""tensorgrad.multiprocessing: shared-memory tensors, Hogwild training, spawn, tensors through
Queue/Pipe, sharing strategies, no leaked segments, DataLoader worker contexts.

The child processes' targets are top-level functions of this module ("spawn" children import
it by name). Children are few and small: each spawned interpreter imports tensorgrad.
"""

import gc
import os
import pickle
from multiprocessing.reduction import ForkingPickler

import numpy as np
import pytest

import tensorgrad as tg
import tensorgrad.multiprocessing as mp
from tensorgrad.utils.data import DataLoader, TensorDataset

CONTEXTS = ["fork", "spawn"]
STRATEGIES = sorted(mp.get_all_sharing_strategies())
TIMEOUT = 60


@pytest.fixture
def strategy(request):
    old = mp.get_sharing_strategy()
    mp.set_sharing_strategy(request.param)
    try:
        yield request.param
    finally:
        mp.set_sharing_strategy(old)


def _our_segments():
    return sorted(n for n in os.listdir("/dev/shm") if n.startswith("tensorgrad_"))


def _mlp(seed):
    tg.manual_seed(seed)
    return tg.nn.Sequential(tg.nn.Linear(3, 8), tg.nn.Tanh(), tg.nn.Linear(8, 1)).double()


def _batch(rank):
    rng = np.random.default_rng(100 + rank)
    x = rng.standard_normal((16, 3))
    return tg.tensor(x), tg.tensor(np.sin(x).sum(1, keepdims=True))


def _sgd_steps(model, rank, steps, lib=tg):
    x, y = _batch(rank)
    if lib is not tg:
        x, y = lib.tensor(x.numpy()), lib.tensor(y.numpy())
    opt = lib.optim.SGD(model.parameters(), lr=0.05, momentum=0.5)
    for _ in range(steps):
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        opt.step()


def _ordered_worker(rank, model, events, lib_name="tensorgrad"):
    """Rank k waits for rank k-1, then takes 3 SGD steps: a deterministic Hogwild program."""
    lib = tg
    if lib_name == "torch":
        import torch as lib
    if rank:
        assert events[rank - 1].wait(TIMEOUT)
    _sgd_steps(model, rank, 3, lib)
    events[rank].set()


def _run(ctx, target, args_of_rank, n=2):
    procs = [ctx.Process(target=target, args=args_of_rank(k)) for k in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(TIMEOUT)
    assert [p.exitcode for p in procs] == [0] * n


# ---- the public names -------------------------------------------------------------------------
# torch.multiprocessing's public names that tensorgrad leaves out, and why
EXCLUDED = {
    "torch": "the module torch.multiprocessing imports, not an API",
    "sys": "the module torch.multiprocessing imports, not an API",
    "ENV_VAR_PARALLEL_START": "torch's switch for starting forkserver children from threads; "
                              "tensorgrad starts them one by one",
}


def test_public_names_cover_torch():
    tmp = pytest.importorskip("torch.multiprocessing")
    theirs = {n for n in dir(tmp) if not n.startswith("_")}
    ours = {n for n in dir(mp) if not n.startswith("_")}
    assert theirs - set(EXCLUDED) - ours == set()
    assert set(tmp.__all__) <= set(mp.__all__)
    assert mp.get_all_sharing_strategies() == tmp.get_all_sharing_strategies()
    assert mp.get_sharing_strategy() == tmp.get_sharing_strategy() == "file_descriptor"
    assert mp.Process is __import__("multiprocessing").Process


# ---- share_memory_ / is_shared ------------------------------------------------------------------
@pytest.mark.parametrize("strategy", STRATEGIES, indirect=True)
def test_share_memory_in_place(strategy):
    base = np.arange(12, dtype=np.float64).reshape(3, 4)
    t = tg.tensor(base.T, requires_grad=True)  # a non-contiguous array
    t.grad = tg.ones(4, 3, dtype=tg.float64)
    old = t.data
    assert not t.is_shared()
    assert t.share_memory_() is t
    assert t.is_shared() and t.data is not old
    np.testing.assert_array_equal(t.data, base.T)
    assert t.requires_grad and t.is_leaf and not t.grad.is_shared()  # .grad is left alone
    assert t.share_memory_().data is t.data  # already shared: nothing moves
    with tg.no_grad():
        assert t[1:].is_shared()  # views of shared memory are shared
    assert not (t * 2).is_shared()
    for z in (tg.zeros(0), tg.tensor(True), tg.arange(5)):  # empty, bool, int64
        assert z.share_memory_().is_shared()
        assert z.tolist() == z.clone().tolist()
    (t * t).sum().backward()  # gradients into the shared tensor's grad as before
    np.testing.assert_array_equal(t.grad.data, 1 + 2 * base.T)


def test_module_share_memory():
    net = tg.nn.Sequential(tg.nn.Linear(2, 3), tg.nn.BatchNorm1d(3))
    net(tg.randn(4, 2)).sum().backward()
    values = [p.data.copy() for p in net.parameters()]
    assert net.share_memory() is net
    assert all(t.is_shared() for t in net.parameters())
    assert all(t.is_shared() for t in net.buffers())
    assert all(p.grad.is_shared() for p in net.parameters())  # as PyTorch's _apply
    for p, v in zip(net.parameters(), values):
        np.testing.assert_array_equal(p.data, v)


def test_plain_pickle_and_save_write_the_values(tmp_path):
    t = tg.arange(4.0).share_memory_()
    u = pickle.loads(pickle.dumps(t))
    assert not u.is_shared() and u.tolist() == [0.0, 1.0, 2.0, 3.0]
    tg.save({"t": t}, tmp_path / "t.pt")
    v = tg.load(tmp_path / "t.pt")["t"]
    assert not v.is_shared() and v.tolist() == t.tolist()


def test_forking_pickler_in_process():
    t = tg.nn.Parameter(tg.arange(3.0)).share_memory_()
    t.grad = tg.ones(3)
    back = ForkingPickler.loads(ForkingPickler.dumps(t))
    assert type(back) is tg.nn.Parameter and back.requires_grad and back.grad is None
    assert back.is_shared() and back.data.base is t.data.base  # the same mapping
    plain = tg.arange(3.0)
    copy = ForkingPickler.loads(ForkingPickler.dumps(plain))
    copy.data[0] = 5
    assert plain.tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(RuntimeError, match="non-leaf tensor .*detach"):
        ForkingPickler.dumps(t * 2)
    ForkingPickler.dumps((t * 2).detach())


def test_cuda_tensors(cuda_device):
    t = tg.tensor(np.arange(3.0), device=cuda_device)
    old = t.data
    assert t.share_memory_() is t and t.data is old  # a no-op, as PyTorch's
    assert not t.is_shared()
    with pytest.raises(RuntimeError, match=r"CUDA tensor of shape \(3,\).*t\.cpu\(\)"):
        ForkingPickler.dumps(t)
    back = ForkingPickler.loads(ForkingPickler.dumps(t.cpu().share_memory_()))
    assert back.is_shared() and back.to(cuda_device).device == t.device


def test_sharing_strategy_errors():
    with pytest.raises(ValueError, match="unknown strategy 'nope'"):
        mp.set_sharing_strategy("nope")


# ---- Hogwild ------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", CONTEXTS)
def test_hogwild_children_write_the_parents_parameters(method):
    ctx = mp.get_context(method)
    model = _mlp(0).share_memory()
    before = [p.data.copy() for p in model.parameters()]
    events = [ctx.Event() for _ in range(2)]
    _run(ctx, _ordered_worker, lambda k: (k, model, events))
    expected = _mlp(0)  # the same steps, in the same order, in this process
    _sgd_steps(expected, 0, 3)
    _sgd_steps(expected, 1, 3)
    for p, q, b in zip(model.parameters(), expected.parameters(), before):
        assert not np.array_equal(p.data, b)
        np.testing.assert_allclose(p.data, q.data, rtol=0, atol=1e-12)


def test_hogwild_matches_torch_multiprocessing():
    torch = pytest.importorskip("torch")
    tmp = pytest.importorskip("torch.multiprocessing")
    ours = _mlp(1).share_memory()
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    theirs = theirs.double()
    with torch.no_grad():
        for p, q in zip(theirs.parameters(), ours.parameters()):
            p.copy_(torch.from_numpy(q.data.copy()))
    theirs.share_memory()
    for lib, model, ctx in (("tensorgrad", ours, mp.get_context("fork")),
                            ("torch", theirs, tmp.get_context("fork"))):
        events = [ctx.Event() for _ in range(2)]
        _run(ctx, _ordered_worker, lambda k, m=model, e=events, n=lib: (k, m, e, n))
    for p, q in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=0, atol=1e-10)


def _hogwild_train(rank, model, steps):
    _sgd_steps(model, rank + 2, steps)


def _loss(model):
    total = 0.0
    for k in (2, 3):
        x, y = _batch(k)
        total += ((model(x) - y) ** 2).mean().item()
    return total


def test_hogwild_training_loss_falls():
    model = _mlp(2).share_memory()
    start = _loss(model)
    _run(mp.get_context("fork"), _hogwild_train, lambda k: (k, model, 60))
    assert _loss(model) < 0.5 * start


# ---- spawn --------------------------------------------------------------------------------------
def _write_rank(rank, out):
    out.data[rank] = rank + 10


def _fail_on_one(rank, out):
    if rank == 1:
        raise ValueError(f"rank {rank} failed on purpose")
    out.data[rank] = 1


def _exit_three(rank):
    os._exit(3)


def test_spawn_runs_fn_with_rank_and_shared_args():
    out = tg.zeros(2).share_memory_()
    assert mp.spawn(_write_rank, args=(out,), nprocs=2) is None
    assert out.tolist() == [10.0, 11.0]


def test_spawn_reraises_a_childs_exception():
    out = tg.zeros(2).share_memory_()
    with pytest.raises(mp.ProcessRaisedException) as info:
        mp.spawn(_fail_on_one, args=(out,), nprocs=2)
    err = info.value
    assert err.error_index == 1 and isinstance(err.error_pid, int)
    msg = str(err)
    assert "-- Process 1 terminated with the following error:" in msg
    assert "Traceback (most recent call last)" in msg
    assert "ValueError: rank 1 failed on purpose" in msg and "_fail_on_one" in msg
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is mp.ProcessRaisedException and again.error_index == 1


def test_start_processes_exit_code_and_join_false():
    ctx = mp.start_processes(_exit_three, nprocs=1, join=False, start_method="fork")
    assert isinstance(ctx, mp.ProcessContext) and len(ctx.pids()) == 1
    with pytest.raises(mp.ProcessExitedException, match="process 0 terminated with exit "
                                                        "code 3") as info:
        while not ctx.join(TIMEOUT):
            pass
    assert info.value.exit_code == 3
    assert not any(os.path.exists(f) for f in ctx.error_files)


# ---- tensors through Queue and Pipe ------------------------------------------------------------
def _queue_child(inbox, outbox):
    shared, plain, view, param = inbox.get()
    outbox.put((shared.is_shared(), plain.is_shared(), view.is_shared(), type(param).__name__,
                param.requires_grad, param.grad is None))
    shared.data[0, 0] = 42.0  # seen by the parent
    plain.data[0] = 42.0  # a copy: not seen
    view.data[0] = -1.0  # row 1 of the parent's tensor
    made = tg.full((2,), 7.0).share_memory_()
    outbox.put(made)
    assert inbox.get(timeout=TIMEOUT) == "write"
    made.data[1] = 8.0  # after the parent has received it
    outbox.put("written")
    assert inbox.get(timeout=TIMEOUT) == "done"


@pytest.mark.parametrize("strategy", STRATEGIES, indirect=True)
@pytest.mark.parametrize("method", CONTEXTS)
def test_queue_round_trip(method, strategy):
    ctx = mp.get_context(method)
    inbox, outbox = ctx.Queue(), ctx.Queue()
    shared = tg.arange(6.0).reshape(3, 2).share_memory_()
    plain = tg.arange(3.0)
    param = tg.nn.Parameter(tg.ones(2)).share_memory_()
    param.grad = tg.ones(2)
    p = ctx.Process(target=_queue_child, args=(inbox, outbox))
    p.start()
    try:
        inbox.put((shared, plain, shared.detach()[1], param))
        assert outbox.get(timeout=TIMEOUT) == (True, False, True, "Parameter", True, True)
        made = outbox.get(timeout=TIMEOUT)
        assert made.is_shared() and made.tolist() == [7.0, 7.0]
        inbox.put("write")
        assert outbox.get(timeout=TIMEOUT) == "written"
        assert made.tolist() == [7.0, 8.0]
        inbox.put("done")
    finally:
        p.join(TIMEOUT)
    assert p.exitcode == 0
    assert shared.tolist() == [[42.0, 1.0], [-1.0, 3.0], [4.0, 5.0]]
    assert plain.tolist() == [0.0, 1.0, 2.0]


def _pipe_child(conn):
    t = conn.recv()
    t.data += 1
    conn.send(t)
    conn.recv()  # the sender stays alive until the receiver has mapped it (as torch's rule)
    conn.close()


def test_pipe_round_trip():
    ctx = mp.get_context("fork")
    a, b = ctx.Pipe()
    t = tg.zeros(3).share_memory_()
    p = ctx.Process(target=_pipe_child, args=(b,))
    p.start()
    a.send(t)
    back = a.recv()
    a.send("done")
    p.join(TIMEOUT)
    assert t.tolist() == [1.0, 1.0, 1.0] and back.tolist() == [1.0, 1.0, 1.0]
    back.data[0] = 5.0  # the received tensor maps the same memory as t
    assert t.tolist() == [5.0, 1.0, 1.0]


# ---- lifetime -----------------------------------------------------------------------------------
def _leak_child(inbox, outbox):
    t = inbox.get()
    t.data[:] = 3.0
    tg.ones(4).share_memory_()  # shared and dropped in the child: unlinked at its exit
    kept = tg.ones(4).share_memory_()
    outbox.put(kept)
    assert inbox.get(timeout=TIMEOUT) == "done"


@pytest.mark.parametrize("method", CONTEXTS)
def test_no_leaked_segments(method):
    old = mp.get_sharing_strategy()
    mp.set_sharing_strategy("file_system")
    try:
        before = _our_segments()
        ctx = mp.get_context(method)
        inbox, outbox = ctx.Queue(), ctx.Queue()
        t = tg.zeros(4).share_memory_()
        assert len(_our_segments()) == len(before) + 1  # a named segment while t lives
        p = ctx.Process(target=_leak_child, args=(inbox, outbox))
        p.start()
        inbox.put(t)
        kept = outbox.get(timeout=TIMEOUT)
        inbox.put("done")
        p.join(TIMEOUT)
        assert p.exitcode == 0 and t.tolist() == [3.0] * 4 and kept.tolist() == [1.0] * 4
        del t
        gc.collect()
        assert _our_segments() == before  # the child's unlinked at its exit, ours when freed
        kept.data[0] = 2.0  # still mapped here after the names are gone
    finally:
        mp.set_sharing_strategy(old)


def _memfds():
    """This process's open descriptors of anonymous tensorgrad segments."""
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("/memfd:tensorgrad-shm"):
                out.append(int(fd))
        except OSError:  # closed meanwhile (the listing's own descriptor)
            pass
    return sorted(out)


def test_file_descriptor_segments_close():
    fds = _memfds()
    names = _our_segments()
    ts = [tg.ones(100).share_memory_() for _ in range(5)]
    # our handle and mmap's own duplicate for each; nothing in /dev/shm
    assert len(_memfds()) == len(fds) + 10 and _our_segments() == names
    del ts
    gc.collect()
    assert _memfds() == fds


# ---- DataLoader ---------------------------------------------------------------------------------
@pytest.mark.parametrize("context", ["spawn", mp.get_context("spawn")], ids=["name", "object"])
def test_dataloader_worker_context(context):
    data = TensorDataset(tg.arange(20.0).reshape(10, 2), tg.arange(10))
    ref = [[b.tolist() for b in batch] for batch in DataLoader(data, batch_size=3)]
    loader = DataLoader(data, batch_size=3, num_workers=2, multiprocessing_context=context)
    got = [[b.tolist() for b in batch] for batch in loader]
    assert got == ref
