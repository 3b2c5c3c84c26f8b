"""One rank of the multi-process checks in tests/test_distributed.py (not a test module itself:
pytest collects test_*.py only). Started by that test as

    mpiexec -n 2 python tests/dist_worker.py MODE OUTDIR

MODE ``check``: collectives and DistributedDataParallel training; each rank writes what it saw
to OUTDIR/rank{R}.npz and the test compares with NumPy and single-process references.
MODE ``raise``: rank 1 raises before a collective that rank 0 waits in; the job must end.
MODE ``timeout``: rank 1 never reaches the collective; rank 0 must give up after 1.5 s.
"""

import os
import sys
import time

import numpy as np

import tensorgrad as tg
import tensorgrad.distributed as dist
import tensorgrad.nn.functional as F
from tensorgrad import nn
from tensorgrad.nn.parallel import DistributedDataParallel

B = 6  # rows per rank and step
STEPS = 20
IN, HIDDEN, OUT = 5, 16, 3


class Net(nn.Module):
    """A small float64 MLP with a buffer (so that buffers are broadcast too)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(IN, HIDDEN, dtype="float64"), nn.Tanh(),
                                  nn.Linear(HIDDEN, HIDDEN, dtype="float64"), nn.Tanh(),
                                  nn.Linear(HIDDEN, OUT, dtype="float64"))
        self.register_buffer("scale", tg.ones(IN, dtype="float64"))

    def forward(self, x):
        return self.body(x * self.scale)


def make_model(seed):
    tg.manual_seed(seed)
    return Net()


def data(world):
    """The whole batch of each step: (STEPS, world * B, IN) inputs and their labels."""
    rng = np.random.default_rng(1234)
    x = rng.standard_normal((STEPS, world * B, IN))
    y = rng.integers(0, OUT, size=(STEPS, world * B))
    return x, y


def flat_params(model):
    return np.concatenate([p.data.ravel() for p in model.parameters()])


def flat_grads(model):
    return np.concatenate([p.grad.data.ravel() for p in model.parameters()])


def loss_of(model, x, y):
    return F.cross_entropy(model(tg.tensor(x)), tg.tensor(y))


def check(outdir):
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    out = {"world": np.array(world)}

    # collectives on rank-dependent data (the test knows the formula)
    base = np.arange(12, dtype=np.float64).reshape(3, 4)
    for op in ("sum", "mean", "max", "min", "prod"):
        t = tg.tensor(base + rank * 10.0 + 1.0)
        dist.all_reduce(t, op=op)
        out["all_reduce_" + op] = t.numpy()
    t = tg.tensor(base.T + rank)  # not C-contiguous: reduced through a copy, written back
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    out["all_reduce_strided"] = t.numpy()
    t = tg.tensor(np.arange(5, dtype=np.int64) * (rank + 1))
    dist.all_reduce(t)
    out["all_reduce_int"] = t.numpy()
    t = tg.tensor(base + rank)
    dist.broadcast(t, src=world - 1)
    out["broadcast"] = t.numpy()
    parts = [tg.zeros(2, 3, dtype="float32") for _ in range(world)]
    dist.all_gather(parts, tg.full((2, 3), float(rank), dtype="float32"))
    out["all_gather"] = np.stack([p.numpy() for p in parts])
    dist.barrier()

    # DDP: each rank starts from its own initialisation and its own buffer: construction
    # broadcasts rank 0's. Two bucket sizes: one bucket, and one parameter per bucket.
    x, y = data(world)
    for cap, tag in ((25, "big"), (1e-6, "tiny")):
        model = make_model(seed=100 + rank)
        model.scale.data[...] = 1.0 + 0.5 * rank
        ddp = DistributedDataParallel(model, bucket_cap_mb=cap)
        out[f"n_buckets_{tag}"] = np.array(len(ddp._buckets))
        out[f"scale_{tag}"] = model.scale.numpy()
        opt = tg.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
        trace = [flat_params(model)]
        for s in range(STEPS):
            rows = slice(rank * B, (rank + 1) * B)
            opt.zero_grad()
            loss_of(ddp, x[s, rows], y[s, rows]).backward()
            opt.step()
            trace.append(flat_params(model))
        out[f"trace_{tag}"] = np.stack(trace)

        # no_sync: the local gradients of two micro-batches add up, the second backward
        # averages the sum
        opt.zero_grad()
        half = B // 2
        with ddp.no_sync():
            loss_of(ddp, x[0, rank * B:rank * B + half], y[0, rank * B:rank * B + half]).backward()
        out[f"local_{tag}"] = flat_grads(model)
        loss_of(ddp, x[0, rank * B + half:(rank + 1) * B],
                y[0, rank * B + half:(rank + 1) * B]).backward()
        out[f"no_sync_{tag}"] = flat_grads(model)
    np.savez(os.path.join(outdir, f"rank{rank}.npz"), **out)
    dist.destroy_process_group()


def fail(mode):
    dist.init_process_group("mpi", timeout=1.5)
    rank = dist.get_rank()
    t = tg.ones(3)
    if rank == 1:
        if mode == "raise":
            raise ValueError("boom from rank 1")
        time.sleep(20)  # never reaches the collective
        return
    dist.all_reduce(t)
    print("rank 0 finished an all_reduce that rank 1 never joined", flush=True)


if __name__ == "__main__":
    mode, outdir = sys.argv[1], sys.argv[2]
    if mode == "check":
        check(outdir)
    else:
        fail(mode)
