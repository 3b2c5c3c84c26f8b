"""tensorgrad.distributed, DistributedDataParallel and DistributedSampler.

Multi-process checks run the worker tests/dist_worker.py under ``mpiexec -n 2`` on this machine
(the MPICH wheel of the `distributed` extra); the world-size-1 path runs in this process.
"""

import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

import tensorgrad as tg
import tensorgrad.distributed as dist
from tensorgrad import nn
from tensorgrad.nn.parallel import DistributedDataParallel
from tensorgrad.utils.data import DistributedSampler

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dist_worker as W  # noqa: E402

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dist_worker.py")


def _mpiexec():
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return here if os.path.exists(here) else shutil.which("mpiexec")


def _run_job(mode, outdir, limit=60):
    exe = _mpiexec()
    assert exe, "mpiexec not found: install the `distributed` extra (pip install -e '.[dev]')"
    env = dict(os.environ, TENSORGRAD_DIST_TIMEOUT="30", TENSORGRAD_CUPY_STANDIN="0")
    t0 = time.monotonic()
    proc = subprocess.run([exe, "-n", "2", sys.executable, WORKER, mode, str(outdir)],
                          capture_output=True, text=True, timeout=limit, env=env)
    return proc, time.monotonic() - t0


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """The two ranks' results of one ``check`` run."""
    outdir = tmp_path_factory.mktemp("dist")
    proc, _ = _run_job("check", outdir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return [dict(np.load(outdir / f"rank{r}.npz")) for r in range(2)]


# ---- collectives over two processes ------------------------------------------------------------
def test_two_ranks(job):
    assert [int(r["world"]) for r in job] == [2, 2]


@pytest.mark.parametrize("op", ["sum", "mean", "max", "min", "prod"])
def test_all_reduce_matches_numpy(job, op):
    base = np.arange(12, dtype=np.float64).reshape(3, 4)
    inputs = np.stack([base + r * 10.0 + 1.0 for r in range(2)])
    want = {"sum": inputs.sum(0), "mean": inputs.mean(0), "max": inputs.max(0),
            "min": inputs.min(0), "prod": inputs.prod(0)}[op]
    for r in job:
        np.testing.assert_allclose(r["all_reduce_" + op], want, rtol=1e-15)


def test_all_reduce_strided_and_int(job):
    base = np.arange(12, dtype=np.float64).reshape(3, 4)
    for r in job:
        np.testing.assert_array_equal(r["all_reduce_strided"], 2 * base.T + 1)
        assert r["all_reduce_int"].dtype == np.int64
        np.testing.assert_array_equal(r["all_reduce_int"], np.arange(5) * 3)


def test_broadcast_and_all_gather(job):
    base = np.arange(12, dtype=np.float64).reshape(3, 4)
    for r in job:
        np.testing.assert_array_equal(r["broadcast"], base + 1)  # rank 1's tensor
        assert r["all_gather"].dtype == np.float32
        np.testing.assert_array_equal(r["all_gather"][:, 0, 0], [0.0, 1.0])
        np.testing.assert_array_equal(r["all_gather"], np.stack([np.zeros((2, 3)),
                                                                 np.ones((2, 3))]))


# ---- DistributedDataParallel over two processes ------------------------------------------------
def _reference_trace():
    """Single-process training with batch 2B from rank 0's initialisation."""
    model = W.make_model(seed=100)
    x, y = W.data(2)
    opt = tg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    trace = [W.flat_params(model)]
    for s in range(W.STEPS):
        opt.zero_grad()
        W.loss_of(model, x[s], y[s]).backward()
        opt.step()
        trace.append(W.flat_params(model))
    return model, np.stack(trace)


@pytest.mark.parametrize("tag, buckets", [("big", 1), ("tiny", 6)])
def test_ddp_equals_single_process_with_double_batch(job, tag, buckets):
    _, want = _reference_trace()
    assert all(int(r[f"n_buckets_{tag}"]) == buckets for r in job)
    # identical on both ranks after every step (same averaged gradients, same optimizer)
    np.testing.assert_array_equal(job[0][f"trace_{tag}"], job[1][f"trace_{tag}"])
    # rank 1 started from its own initialisation; construction broadcast rank 0's
    np.testing.assert_array_equal(job[1][f"trace_{tag}"][0], want[0])
    assert np.abs(want[-1] - want[0]).max() > 0.05  # it did train
    np.testing.assert_allclose(job[0][f"trace_{tag}"], want, rtol=0, atol=1e-12)


def test_ddp_broadcasts_buffers(job):
    for r in job:  # rank 1 set its buffer to 1.5; rank 0's 1.0 wins
        np.testing.assert_array_equal(r["scale_big"], np.ones(W.IN))


@pytest.mark.parametrize("tag", ["big", "tiny"])
def test_ddp_no_sync_accumulates_then_averages(job, tag):
    model, _ = _reference_trace()  # the parameters both ranks hold after the 20 steps
    x, y = W.data(2)
    half = W.B // 2
    model.zero_grad()
    for rank in range(2):
        for rows in (slice(rank * W.B, rank * W.B + half), slice(rank * W.B + half,
                                                                  (rank + 1) * W.B)):
            (W.loss_of(model, x[0, rows], y[0, rows]) / 2).backward()
    want = W.flat_grads(model)
    assert np.abs(job[0][f"local_{tag}"] - job[1][f"local_{tag}"]).max() > 1e-3  # not synced
    for r in job:
        np.testing.assert_allclose(r[f"no_sync_{tag}"], want, rtol=0, atol=1e-12)


# ---- failing loudly ------------------------------------------------------------------------
def test_rank_that_raises_aborts_the_job(tmp_path):
    proc, seconds = _run_job("raise", tmp_path, limit=60)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "ValueError: boom from rank 1" in out
    assert "aborting the job" in out
    assert "rank 0 finished" not in out
    assert seconds < 20


def test_collective_times_out_when_a_rank_never_comes(tmp_path):
    proc, seconds = _run_job("timeout", tmp_path, limit=60)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "CollectiveTimeout: all_reduce(sum): rank 0 of 2 waited 1.5 s" in out
    assert seconds < 15  # rank 1 would sleep 20 s: the abort ended it


def test_example_trains_on_two_ranks(tmp_path):
    pytest.importorskip("sklearn")
    script = os.path.join(os.path.dirname(WORKER), os.pardir, "examples", "train_digits_ddp.py")
    proc = subprocess.run([_mpiexec(), "-n", "2", sys.executable, script, "--epochs", "2",
                           "--quiet", "--out", str(tmp_path)], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, TENSORGRAD_DIST_TIMEOUT="60"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("mlp on 2 ranks (mpi)")
    assert sum(line.startswith("epoch") for line in lines) == 2  # rank 0 prints alone
    assert lines[-1].startswith("test accuracy: ") and float(lines[-1].split()[-1]) > 0.8
    assert (tmp_path / "digits-mlp.tg").exists()


def test_post_accumulate_grad_hook():
    # the engine hook DDP starts its all-reduces from (PyTorch's name and behaviour)
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    handle = x.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.tolist()))
    (x * x).sum().backward()
    (3 * x).sum().backward()
    assert seen == [[2.0, 4.0], [5.0, 7.0]]  # called after each accumulation, with the sum
    handle.remove()
    x.sum().backward()
    assert len(seen) == 2
    with pytest.raises(RuntimeError, match="only leaf tensors"):
        (x * 2).register_post_accumulate_grad_hook(print)
    with pytest.raises(RuntimeError, match="does not require grad"):
        tg.ones(2).register_post_accumulate_grad_hook(print)


# ---- world size 1, in this process --------------------------------------------------------
# (``mpi_group`` is in conftest.py; it skips without mpi4py, as on the lent GPU machine,
# where the nccl tests below run)


def test_world_size_one(mpi_group, device):
    assert dist.is_initialized()
    assert (dist.get_rank(), dist.get_world_size(), dist.get_backend()) == (0, 1, "mpi")
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    for op in ("sum", "mean", "max", "min", "prod"):
        t = tg.tensor(a, device=device)
        dist.all_reduce(t, op=op)
        assert t.device == tg.Device(device)
        np.testing.assert_array_equal(t.cpu().numpy(), a)
    t = tg.tensor(a, device=device)
    dist.broadcast(t, src=0)
    np.testing.assert_array_equal(t.cpu().numpy(), a)
    parts = [tg.zeros(2, 3, dtype="float64", device=device)]
    dist.all_gather(parts, tg.tensor(a, device=device))
    np.testing.assert_array_equal(parts[0].cpu().numpy(), a)
    dist.barrier()


def test_collectives_count_as_in_place_writes(mpi_group):
    # the version counter is what the engine checks for tensors saved by a graph
    y = tg.tensor([3.0, 4.0])
    before = y._version
    dist.all_reduce(y)
    dist.broadcast(y)
    assert y._version == before + 2


def test_ddp_world_size_one_equals_plain_training(mpi_group, device):
    def run(wrap):
        model = W.make_model(seed=7).to(device)
        net = DistributedDataParallel(model, bucket_cap_mb=1e-6) if wrap else model
        opt = tg.optim.SGD(net.parameters(), lr=0.1)
        x, y = W.data(1)
        for s in range(3):
            opt.zero_grad()
            xs, ys = tg.tensor(x[s], device=device), tg.tensor(y[s], device=device)
            tg.nn.functional.cross_entropy(net(xs), ys).backward()
            opt.step()
        return net, [p.grad.cpu().numpy() for p in model.parameters()], model

    ddp, ddp_grads, inner = run(True)
    _, plain_grads, plain = run(False)
    assert ddp.module is inner
    for g, h in zip(ddp_grads, plain_grads):
        np.testing.assert_array_equal(g, h)
    assert [p.grad.device for p in inner.parameters()] == [tg.Device(device)] * 6
    state = ddp.state_dict()
    assert list(state) == list(plain.state_dict())  # no "module." prefix
    ddp.load_state_dict(plain.state_dict())
    np.testing.assert_array_equal(W.flat_params(inner.to("cpu")), W.flat_params(plain.cpu()))


def test_ddp_averages_a_sparse_embedding_gradient_dense(mpi_group):
    """An Embedding(sparse=True) under DDP: its gradient is averaged as a dense array (the
    values of the sparse one), and SGD steps as without DDP."""
    def run(wrap):
        tg.manual_seed(0)
        model = nn.Sequential(nn.Embedding(10, 3, sparse=True, dtype=tg.float64),
                              nn.Linear(3, 1, dtype=tg.float64))
        net = DistributedDataParallel(model) if wrap else model
        opt = tg.optim.SGD(net.parameters(), lr=0.1)
        for tokens in ([1, 4, 4], [2, 1]):
            opt.zero_grad()
            net(tg.tensor(tokens)).pow(2).sum().backward()
            opt.step()
        return model

    ddp, plain = run(True), run(False)
    assert not ddp[0].weight.grad.is_sparse and plain[0].weight.grad.is_sparse
    np.testing.assert_allclose(ddp[0].weight.grad.numpy(), plain[0].weight.grad.to_dense().numpy(),
                               rtol=1e-15)
    for a, b in zip(ddp.parameters(), plain.parameters(), strict=True):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-15)


def test_ddp_grads_are_new_arrays_each_step(mpi_group):
    model = nn.Linear(3, 2, dtype="float64")
    ddp = DistributedDataParallel(model)
    ddp(tg.ones(4, 3, dtype="float64")).sum().backward()
    first = model.weight.grad
    kept = first.numpy().copy()
    ddp(tg.ones(4, 3, dtype="float64") * 2).sum().backward()  # accumulates, no zero_grad
    np.testing.assert_array_equal(first.numpy(), kept)
    np.testing.assert_array_equal(model.weight.grad.numpy(), 3 * kept)


def test_ddp_unused_parameter_is_an_error(mpi_group):
    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.used = nn.Linear(3, 2)
            self.unused = nn.Linear(3, 2)

        def forward(self, x):
            return self.used(x)

    ddp = DistributedDataParallel(TwoHeads())
    ddp(tg.ones(1, 3)).sum().backward()
    with pytest.raises(RuntimeError, match="did not give a gradient to every parameter"):
        ddp(tg.ones(1, 3))


def test_ddp_needs_a_group():
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedDataParallel(nn.Linear(2, 2))


# ---- errors ---------------------------------------------------------------------------------
def test_not_initialized():
    assert not dist.is_initialized()
    for fn in (dist.get_rank, dist.get_world_size, dist.barrier, dist.destroy_process_group):
        with pytest.raises(RuntimeError, match="init_process_group"):
            fn()
    with pytest.raises(RuntimeError, match="not initialized"):
        dist.all_reduce(tg.ones(2))


def test_bad_arguments(mpi_group):
    with pytest.raises(RuntimeError, match="already initialized"):
        dist.init_process_group("mpi")
    with pytest.raises(ValueError, match="op must be one of"):
        dist.all_reduce(tg.ones(2), op="median")
    with pytest.raises(TypeError, match="MEAN needs a floating tensor"):
        dist.all_reduce(tg.tensor([1, 2]), op=dist.ReduceOp.MEAN)
    with pytest.raises(TypeError, match="must be a tensorgrad Tensor"):
        dist.all_reduce(np.ones(2))
    with pytest.raises(ValueError, match="src must be a rank"):
        dist.broadcast(tg.ones(2), src=1)
    with pytest.raises(ValueError, match=r"list of 1 tensors \(the group's size\), got 2"):
        dist.all_gather([tg.ones(2), tg.ones(2)], tg.ones(2))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        dist.all_gather([tg.ones(3)], tg.ones(2))


def test_bad_backend_and_timeout():
    with pytest.raises(ValueError, match="backend must be 'mpi', 'nccl' or 'gloo', got 'ucc'"):
        dist.init_process_group("ucc")
    with pytest.raises(ValueError, match="timeout must be positive"):
        dist.init_process_group("mpi", timeout=0)
    assert not dist.is_initialized()


def _no_launcher(monkeypatch):
    for var in dist._LAUNCHER_ENV:
        monkeypatch.delenv(var, raising=False)


def test_missing_mpi4py_names_the_extra(monkeypatch):
    _no_launcher(monkeypatch)
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(ImportError, match=r"pip install tensorgrad\[distributed\]"):
        dist.init_process_group("mpi")
    assert not dist.is_available()
    assert not dist.is_initialized()


@pytest.mark.parametrize("var", ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"])
@pytest.mark.parametrize("backend", ["mpi", "nccl"])
def test_missing_mpi4py_with_a_launcher_of_two(monkeypatch, var, backend):
    # the built-in one-process communicator must not pretend to be a world of two
    _no_launcher(monkeypatch)
    monkeypatch.setenv(var, "2")
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(ImportError, match=rf"started 2 processes \({var}\).*"
                                          r"pip install tensorgrad\[distributed\]"):
        dist.init_process_group(backend)
    assert not dist.is_initialized()


# ---- the one-process communicator (no mpi4py) against mpi4py's COMM_WORLD at size 1 --------
def _comms():
    from mpi4py import MPI

    from tensorgrad.distributed import _single

    dist.init_process_group("mpi")  # initialises MPI in this process, as the tests above do
    dist.destroy_process_group()
    return [(MPI, MPI.COMM_WORLD), (_single, _single.COMM_WORLD)]


HOST_DTYPES = ["float64", "float32", "float16", "int64", "uint8", "complex128", "bool"]


@pytest.mark.parametrize("dtype", HOST_DTYPES)
def test_single_comm_collectives_match_mpi4py(dtype):
    a = (np.arange(12).reshape(3, 4) % 3).astype(dtype)
    seen = []
    for MPI, comm in _comms():
        got = {"rank": comm.Get_rank(), "size": comm.Get_size()}
        for name, op in (("sum", MPI.SUM), ("max", MPI.MAX), ("min", MPI.MIN),
                         ("prod", MPI.PROD)):
            if dtype == "complex128" and name in ("max", "min"):
                continue  # not defined on complex (all_reduce refuses them before)
            if dtype == "bool":  # MPI's SUM, MAX, MIN, PROD take no bool: both refuse
                for send in (MPI.IN_PLACE, a):
                    with pytest.raises(RuntimeError):
                        comm.Iallreduce(send, a.copy(), op=op)
                continue
            buf = a.copy()
            req = comm.Iallreduce(MPI.IN_PLACE, buf, op=op)
            got["allreduce_" + name] = (req.Test(), buf)
            out = np.zeros_like(a)
            got["allreduce_to_" + name] = (comm.Iallreduce(a, out, op=op).Test(), out)
        buf = a.copy()
        got["ibcast"] = (comm.Ibcast(buf, root=0).Test(), buf)
        recv = np.zeros((1,) + a.shape, dtype=a.dtype)
        got["iallgather"] = (comm.Iallgather(a, recv).Test(), recv)
        got["ibarrier"] = comm.Ibarrier().Test()
        seen.append(got)
    mpi, single = seen
    assert list(mpi) == list(single)
    for key in mpi:
        if isinstance(mpi[key], tuple):
            assert mpi[key][0] is single[key][0] is True, key
            np.testing.assert_array_equal(single[key][1], mpi[key][1])
            np.testing.assert_array_equal(single[key][1].reshape(a.shape), a)
        else:
            assert mpi[key] == single[key], key
    assert single["rank"] == 0 and single["size"] == 1


def test_single_comm_objects_split_and_errors_match_mpi4py():
    for MPI, comm in _comms():
        uid = tuple(range(-64, 64))
        got = comm.bcast(uid, root=0)
        assert got == uid
        obj = {"a": [1, 2]}
        assert comm.bcast(obj, root=0) == obj and comm.bcast(obj, root=0) is not obj  # pickled
        local = comm.Split_type(MPI.COMM_TYPE_SHARED)
        assert (local.Get_rank(), local.Get_size()) == (0, 1)
        local.Free()
        assert comm.Get_size() == 1  # freeing the local communicator leaves the world usable
        with pytest.raises(RuntimeError, match="(?i)invalid root"):
            comm.bcast(obj, root=1)
        with pytest.raises(RuntimeError, match="(?i)invalid root"):
            comm.Ibcast(np.zeros(3), root=1)
        with pytest.raises(BufferError, match="not contiguous"):
            comm.Iallreduce(MPI.IN_PLACE, np.zeros((3, 4))[:, ::2], op=MPI.SUM)
        f = np.zeros((3, 4)).T  # Fortran order is contiguous memory: MPI copies it as it lies
        assert comm.Iallgather(np.arange(12.0), f).Test()
        np.testing.assert_array_equal(f, np.arange(12.0).reshape(4, 3, order="F"))


def test_single_comm_refuses_mismatched_gather():
    from tensorgrad.distributed import _single

    with pytest.raises(ValueError, match="Iallgather: the receive buffer has 16 bytes"):
        _single.COMM_WORLD.Iallgather(np.zeros(3), np.zeros(2))


# ---- the NCCL backend at world size 1 (the CuPy stand-in's one-rank NCCL, or a real GPU) ------
def _nccl_world_size_one(monkeypatch, mpi4py):
    _no_launcher(monkeypatch)
    if mpi4py == "hidden":
        monkeypatch.setitem(sys.modules, "mpi4py", None)
        monkeypatch.setenv("PMI_SIZE", "1")  # a launcher of one process needs no mpi4py either
    dist.init_process_group("nccl", timeout=60)
    g = dist._GROUP[0]
    assert g.transport.name == "nccl" and (g.rank(), g.size()) == (0, 1)
    assert type(g.transport.comm).__name__ == "NcclCommunicator"
    if mpi4py == "hidden" or not dist.is_available():
        from tensorgrad.distributed import _single

        assert g.transport.mpi.comm is _single.COMM_WORLD
    return g


@pytest.mark.cuda
@pytest.mark.parametrize("mpi4py", ["as installed", "hidden"])
def test_nccl_world_size_one(cuda_device, monkeypatch, mpi4py):
    _nccl_world_size_one(monkeypatch, mpi4py)
    try:
        assert dist.get_backend() == "nccl"
        assert (dist.get_rank(), dist.get_world_size()) == (0, 1)
        a = np.arange(6, dtype=np.float32)
        t = tg.tensor(a, device="cuda")
        dist.all_reduce(t, op="mean")
        dist.broadcast(t, src=0)
        parts = [tg.zeros(6, device="cuda")]
        dist.all_gather(parts, t)
        np.testing.assert_array_equal(parts[0].cpu().numpy(), a)
        dist.barrier()
        model = nn.Linear(6, 2).to("cuda")
        ddp = DistributedDataParallel(model)
        ddp(t.reshape(1, 6)).sum().backward()
        np.testing.assert_allclose(model.weight.grad.cpu().numpy(), np.stack([a, a]))
    finally:
        dist.destroy_process_group()
    assert not dist.is_initialized()


@pytest.mark.cuda
@pytest.mark.parametrize("mpi4py", ["as installed", "hidden"])
def test_nccl_world_size_one_dtypes_and_host_tensors(cuda_device, monkeypatch, mpi4py):
    _nccl_world_size_one(monkeypatch, mpi4py)
    try:
        for dtype in HOST_DTYPES:
            a = (np.arange(12).reshape(3, 4) % 3).astype(dtype)
            for device in ("cuda", "cpu"):  # cpu tensors go through the (one-process) MPI
                ops = {"complex128": ["sum"] if device == "cuda" else ["sum", "prod"],
                       "bool": []}.get(dtype, ["sum", "max", "min", "prod"])
                for op in ops:
                    t = tg.tensor(a, device=device)
                    dist.all_reduce(t, op=op)
                    assert t.device == tg.Device(device) and t.dtype == a.dtype
                    np.testing.assert_array_equal(t.cpu().numpy(), a)
                t = tg.tensor(a.T, device=device)  # not contiguous: through a copy
                dist.broadcast(t, src=0)
                np.testing.assert_array_equal(t.cpu().numpy(), a.T)
                parts = [tg.zeros(3, 4, dtype=dtype, device=device)]
                dist.all_gather(parts, tg.tensor(a, device=device))
                np.testing.assert_array_equal(parts[0].cpu().numpy(), a)
        with pytest.raises(ValueError, match="src must be a rank"):
            dist.broadcast(tg.ones(2, device="cuda"), src=1)
        with pytest.raises(TypeError, match=r"all_reduce\(prod\) of complex data"):
            dist.all_reduce(tg.ones(2, dtype="complex128", device="cuda"), op="prod")
        with pytest.raises(TypeError, match=r"all_reduce\(sum\) of bool data"):
            dist.all_reduce(tg.ones(2, dtype="bool", device="cuda"))
    finally:
        dist.destroy_process_group()


@pytest.mark.cuda
def test_nccl_without_libnccl_says_what_to_install(cuda_device, monkeypatch):
    # CuPy imports cupy.cuda.nccl without libnccl too, with available = False and no names
    from cupy.cuda import nccl

    monkeypatch.setattr(nccl, "available", False)
    with pytest.raises(RuntimeError, match="NCCL bindings are missing.*nvidia-nccl"):
        dist.init_process_group("nccl")
    assert not dist.is_initialized()


# ---- DistributedSampler -----------------------------------------------------------------
CASES = [(n, R, dl) for n in (0, 1, 5, 7, 10, 13) for R in (1, 2, 3, 4) for dl in (False, True)]


@pytest.mark.parametrize("n, replicas, drop_last", CASES)
def test_sampler_matches_torch_without_shuffle(n, replicas, drop_last):
    torch_data = pytest.importorskip("torch.utils.data")
    for r in range(replicas):
        ours = DistributedSampler(range(n), replicas, r, shuffle=False, drop_last=drop_last)
        theirs = torch_data.DistributedSampler(range(n), replicas, r, shuffle=False,
                                               drop_last=drop_last)
        assert list(ours) == list(theirs)
        assert len(ours) == len(theirs)


@pytest.mark.parametrize("n, replicas, drop_last", CASES)
def test_sampler_shuffled_shards(n, replicas, drop_last):
    torch_data = pytest.importorskip("torch.utils.data")
    shards = [list(DistributedSampler(range(n), replicas, r, seed=3, drop_last=drop_last))
              for r in range(replicas)]
    sizes = [len(torch_data.DistributedSampler(range(n), replicas, r, drop_last=drop_last))
             for r in range(replicas)]
    assert [len(s) for s in shards] == sizes
    # dealt round-robin from one permutation, padded with its own head
    dealt = [shards[i % replicas][i // replicas] for i in range(sum(sizes))]
    perm = np.random.default_rng(3).permutation(n).tolist()
    if drop_last:
        assert dealt == perm[:len(dealt)]
        assert len(set(dealt)) == len(dealt)  # disjoint
    else:
        assert dealt[:n] == perm
        assert dealt[n:] == (perm * (len(dealt) // max(n, 1) + 1))[:len(dealt) - n]


def test_sampler_epochs_and_defaults(mpi_group):
    s = DistributedSampler(range(10))  # rank and world size of the group: 0 of 1
    assert (s.rank, s.num_replicas) == (0, 1)
    first = list(s)
    assert sorted(first) == list(range(10)) and first != list(range(10))
    assert list(s) == first  # the same epoch shuffles the same way
    s.set_epoch(1)
    second = list(s)
    assert sorted(second) == list(range(10)) and second != first
    assert list(DistributedSampler(range(10), 1, 0, seed=1)) == second  # seed + epoch
    loader = tg.utils.data.DataLoader(list(range(10)), batch_size=4, sampler=s)
    assert sum(len(b) for b in loader) == 10


def test_sampler_errors():
    with pytest.raises(ValueError, match=r"invalid rank 2, rank should be in the interval \[0, 1"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_replicas should be a positive integer"):
        DistributedSampler(range(4), num_replicas=0, rank=0)
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedSampler(range(4))
