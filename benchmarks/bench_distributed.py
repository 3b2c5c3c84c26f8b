"""Data-parallel figures, by hand (not part of ``make test`` or ``make bench``):

    python benchmarks/bench_distributed.py            # launches mpiexec -n 1 and -n 2 itself

1. gradient all-reduce throughput of a 100 MB float32 model over loopback: one flat
   ``all_reduce`` of 100 MB, and DistributedDataParallel's reduction of a 100 MB model's
   gradients (four 25 MB buckets in flight at once, measured as backward with DDP minus
   backward without);
2. DDP's overhead per training step of the MLP 784-512-256-10, batch 128 per rank, float32:
   plain training on one process, DDP on one process, DDP on two processes.

Each rank runs with one BLAS thread (OMP_NUM_THREADS=1), so that two ranks fit two cores.
Times are medians; on a shared machine they are noisy.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np

import tensorgrad as tg
import tensorgrad.distributed as dist
import tensorgrad.nn.functional as F
from tensorgrad import nn
from tensorgrad.nn.parallel import DistributedDataParallel


def _median_time(fn, repeat, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        dist.barrier()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    # the slowest rank decides a step
    worst = tg.tensor([statistics.median(times)], dtype="float64")
    dist.all_reduce(worst, op="max")
    return worst.item()


def allreduce_figures(repeat):
    flat = tg.ones(25 * 2**20, dtype="float32")  # 100 MiB
    t_flat = _median_time(lambda: dist.all_reduce(flat), repeat)

    tg.manual_seed(0)
    big = nn.Sequential(*[nn.Linear(2560, 2560, bias=False) for _ in range(4)])  # 4 x 25 MiB
    x = tg.randn(8, 2560)

    def backward(model):
        model.zero_grad()
        model(x).sum().backward()

    t_plain = _median_time(lambda: backward(big), repeat)
    ddp = DistributedDataParallel(big, bucket_cap_mb=25)
    t_ddp = _median_time(lambda: backward(ddp), repeat)
    return {"flat": t_flat, "bytes": flat.data.nbytes, "plain": t_plain, "ddp": t_ddp,
            "buckets": len(ddp._buckets)}


def mlp_step_figures(repeat, wrap):
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                          nn.Linear(256, 10))
    net = DistributedDataParallel(model) if wrap else model
    opt = tg.optim.SGD(net.parameters(), lr=0.01)
    rng = np.random.default_rng(dist.get_rank())
    x = tg.tensor(rng.standard_normal((128, 784)).astype(np.float32))
    y = tg.tensor(rng.integers(0, 10, 128))

    def step():
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()

    return _median_time(step, repeat)


def worker(args):
    dist.init_process_group("mpi")
    world = dist.get_world_size()
    out = {"world": world}
    out.update(allreduce_figures(args.repeat_big))
    out["mlp_plain"] = mlp_step_figures(args.repeat_mlp, wrap=False)
    out["mlp_ddp"] = mlp_step_figures(args.repeat_mlp, wrap=True)
    if dist.get_rank() == 0:
        print(repr(out), flush=True)
    dist.destroy_process_group()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--repeat-big", type=int, default=7)
    parser.add_argument("--repeat-mlp", type=int, default=50)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    here = os.path.dirname(sys.executable)
    mpiexec = os.path.join(here, "mpiexec") if os.path.exists(os.path.join(here, "mpiexec")) \
        else "mpiexec"
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    results = {}
    for n in (1, 2):
        cmd = [mpiexec, "-n", str(n), sys.executable, os.path.abspath(__file__), "--worker",
               "--repeat-big", str(args.repeat_big), "--repeat-mlp", str(args.repeat_mlp)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        if proc.returncode:
            sys.exit(proc.stdout + proc.stderr)
        results[n] = eval(proc.stdout.strip().splitlines()[-1])  # our own repr of a dict
    r1, r2 = results[1], results[2]
    mb = r2["bytes"] / 1e6
    print(f"all_reduce of {mb:.0f} MB float32 at 2 ranks (loopback, MPICH shared memory): "
          f"{r2['flat'] * 1e3:.1f} ms, algorithm bandwidth {mb / r2['flat'] / 1e3:.2f} GB/s "
          f"(bus bandwidth {mb / r2['flat'] / 1e3:.2f} GB/s at n=2); at 1 rank "
          f"{r1['flat'] * 1e3:.1f} ms")
    red = r2["ddp"] - r2["plain"]
    print(f"DDP gradient reduction of a {mb:.0f} MB model ({r2['buckets']} buckets of 25 MB): "
          f"backward {r2['plain'] * 1e3:.1f} ms plain, {r2['ddp'] * 1e3:.1f} ms with DDP at 2 "
          f"ranks: +{red * 1e3:.1f} ms, {mb / red / 1e3:.2f} GB/s; at 1 rank DDP adds "
          f"{(r1['ddp'] - r1['plain']) * 1e3:.1f} ms (copies into and out of the buckets)")
    print("MLP 784-512-256-10, batch 128 per rank, one step (forward, backward, SGD):")
    print(f"  1 process, plain:  {r1['mlp_plain'] * 1e3:.2f} ms")
    print(f"  1 process, DDP:    {r1['mlp_ddp'] * 1e3:.2f} ms")
    print(f"  2 processes, DDP:  {r2['mlp_ddp'] * 1e3:.2f} ms  (plain at 2 processes, no "
          f"communication: {r2['mlp_plain'] * 1e3:.2f} ms)")
    print(f"  DDP overhead at 2 ranks: {(r2['mlp_ddp'] - r1['mlp_plain']) * 1e3:+.2f} ms per "
          f"step against one plain process, {(r2['mlp_ddp'] - r2['mlp_plain']) * 1e3:+.2f} ms "
          "against the same two processes without DDP")


if __name__ == "__main__":
    main()
