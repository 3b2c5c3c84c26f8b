"""The digits job of train_digits.py, data-parallel over several processes (MPI or NCCL).

Every process runs this script; each trains the same model on its own shard of every epoch
(``DistributedSampler``), and ``DistributedDataParallel`` averages the gradients, so all ranks
take the same optimizer steps. The global batch (``--batch-size``, default 64) is split evenly
over the ranks. Rank 0 prints the progress, writes the checkpoint and prints
``test accuracy: 0.XXXX`` as its last line.

    mpirun -n 2 python examples/train_digits_ddp.py                   # two processes, one machine
    mpirun -n 4 -f hostfile python examples/train_digits_ddp.py       # MPICH, over machines
    mpirun -n 4 --hostfile hostfile python examples/train_digits_ddp.py   # Open MPI
    mpirun -n 2 python examples/train_digits_ddp.py --device cuda     # NCCL, one GPU per rank

The model, data, evaluation and progress bar are train_digits.py's own functions.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_digits as base  # noqa: E402

import tensorgrad as tg  # noqa: E402
import tensorgrad.distributed as dist  # noqa: E402
from tensorgrad.nn.parallel import DistributedDataParallel  # noqa: E402
from tensorgrad.utils.data import DataLoader, DistributedSampler  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    parser.add_argument("--epochs", type=int, help="default: 30 (mlp), 24 (cnn)")
    parser.add_argument("--batch-size", type=int, help="global batch, over all ranks; "
                        "default: 64")
    parser.add_argument("--lr", type=float, help="AdamW's learning rate; default: 2e-3 (mlp), "
                        "3e-3 (cnn)")
    parser.add_argument("--device", default="cpu", help="cpu (MPI) or cuda (NCCL, one GPU per "
                        "rank); default: cpu")
    parser.add_argument("--out", default=os.path.join("build", "digits-ddp"),
                        help="folder for rank 0's checkpoint (default: build/digits-ddp)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    defaults = base.DEFAULTS[args.model]
    epochs = args.epochs if args.epochs is not None else defaults["epochs"]
    batch_size = args.batch_size if args.batch_size is not None else defaults["batch_size"]
    lr = args.lr if args.lr is not None else defaults["lr"]

    dist.init_process_group("nccl" if args.device.startswith("cuda") else "mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = "cuda" if args.device.startswith("cuda") else "cpu"  # nccl picked this rank's GPU
    per_rank = max(1, batch_size // world)

    tg.manual_seed(args.seed)
    train_set, test_set = base.load_data(device)
    sampler = DistributedSampler(train_set, shuffle=True, seed=args.seed)
    train_loader = DataLoader(train_set, batch_size=per_rank, sampler=sampler)
    test_loader = DataLoader(test_set, batch_size=512)
    model = DistributedDataParallel(base.build(args.model).to(device))  # rank 0's weights
    tg.manual_seed(args.seed + 1 + rank)  # dropout masks differ between ranks
    opt = tg.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = tg.optim.lr_scheduler.StepLR(opt, step_size=defaults["lr_step"], gamma=0.3)

    progress = base.Progress(enabled=rank == 0 and not args.quiet and sys.stderr.isatty())
    log = progress.write if rank == 0 else (lambda line: None)
    log(f"{args.model} on {world} ranks ({dist.get_backend()}), {per_rank} images "
                   f"per rank and step; {len(sampler)} of {len(train_set)} training images "
                   "per rank")
    t0 = time.perf_counter()
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        progress.desc = f"epoch {epoch + 1}/{epochs}"
        loss, acc = base.train_epoch(model, train_loader, opt, progress)
        sched.step()
        # the epoch's training figures over all ranks' shards
        n = len(sampler)
        totals = tg.tensor([loss * n, acc * n, n], dtype="float64")
        dist.all_reduce(totals)
        loss, acc = (totals[:2] / totals[2]).tolist()
        test_loss, test_acc = base.evaluate(model, test_loader)  # the same model on every rank
        log(f"epoch {epoch + 1:3d}/{epochs}  train loss {loss:.4f} acc {acc:.4f}  "
                       f"test loss {test_loss:.4f} acc {test_acc:.4f}")
    seconds = time.perf_counter() - t0
    if rank == 0:
        os.makedirs(args.out, exist_ok=True)
        checkpoint = os.path.join(args.out, f"digits-{args.model}.tg")
        tg.save({"model": model.state_dict(), "model_kind": args.model}, checkpoint)
        print(f"trained {epochs} epochs on {world} ranks in {seconds:.1f} s; wrote {checkpoint}")
        print(f"test accuracy: {test_acc:.4f}", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
