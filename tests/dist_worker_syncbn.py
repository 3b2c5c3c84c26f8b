"""One rank of the SyncBatchNorm check in tests/test_nn_extra_c.py (not a test module: pytest
collects test_*.py only). Started by that test as

    mpiexec -n 2 python tests/dist_worker_syncbn.py OUTDIR

Rank r trains a SyncBatchNorm on rows ROWS[r] of each step's batch (uneven: 3 and 4 rows) and
writes its outputs, input gradients, parameter gradients and running statistics to
OUTDIR/rank{R}.npz; the test compares them with one BatchNorm over the whole batch.
"""

import os
import sys

import numpy as np

import tensorgrad as tg
import tensorgrad.distributed as dist
from tensorgrad import nn

STEPS = 3
C = 3
ROWS = (slice(0, 3), slice(3, 7))  # rank 0 gets 3 rows, rank 1 gets 4


def data():
    """(STEPS, 7, C, 5) inputs and the (same-shaped) weights of each step's loss."""
    rng = np.random.default_rng(42)
    x = rng.standard_normal((STEPS, 7, C, 5)) * 2.0 + 1.0
    g = rng.standard_normal((STEPS, 7, C, 5))
    return x, g


def make(cls):
    """A batch norm with non-trivial affine parameters, the same on every rank."""
    m = cls(C, momentum=0.3, dtype="float64")
    m.weight.data[...] = np.array([0.5, 1.5, -2.0])
    m.bias.data[...] = np.array([0.1, -0.2, 0.3])
    return m


def run(model, rows):
    """Train steps on ``rows`` of each batch; then one eval call on the last step's rows."""
    x_all, g_all = data()
    out = {"y": [], "dx": [], "dw": [], "db": [], "rm": [], "rv": []}
    for s in range(STEPS):
        model.zero_grad()
        x = tg.tensor(x_all[s, rows], requires_grad=True)
        y = model(x)
        (y * tg.tensor(g_all[s, rows])).sum().backward()
        out["y"].append(y.numpy())
        out["dx"].append(x.grad.numpy())
        out["dw"].append(model.weight.grad.numpy())
        out["db"].append(model.bias.grad.numpy())
        out["rm"].append(model.running_mean.numpy().copy())
        out["rv"].append(model.running_var.numpy().copy())
    model.eval()
    out["eval"] = [model(tg.tensor(x_all[-1, rows])).numpy()]
    out["tracked"] = [np.array(model.num_batches_tracked.item())]
    return {k: np.stack(v) for k, v in out.items()}


def main(outdir):
    dist.init_process_group("mpi")
    rank = dist.get_rank()
    res = run(make(nn.SyncBatchNorm), ROWS[rank])
    # a BatchNorm1d inside a network, converted
    net = nn.SyncBatchNorm.convert_sync_batchnorm(nn.Sequential(make(nn.BatchNorm1d)))
    conv = run(net[0], ROWS[rank])
    res.update({"conv_" + k: v for k, v in conv.items()})
    res["conv_type"] = np.array(type(net[0]).__name__)
    res["world"] = np.array(dist.get_world_size())
    np.savez(os.path.join(outdir, f"rank{rank}.npz"), **res)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
