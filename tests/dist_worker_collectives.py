"""One rank of the three-process checks in tests/test_distributed_collectives.py (not a test
module itself). Started by that test as

    mpiexec -n 3 python tests/dist_worker_collectives.py OUTDIR

With ``TG_WORKER_BACKEND=nccl`` the job runs on the CuPy stand-in (installed here, before
tensorgrad) with cuda tensors and the nccl backend, whose communicators the stand-in runs
over MPI between the processes.

Each rank runs every collective, point-to-point and object operation of
``tensorgrad.distributed`` on rank-dependent data and writes what it got to
OUTDIR/rank{R}.pkl; the test compares with what NumPy says each rank must get.
"""

import os
import pickle
import sys

import numpy as np

BACKEND = os.environ.get("TG_WORKER_BACKEND", "gloo")
if BACKEND == "nccl":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import standin_run  # noqa: F401 (importing it puts the stand-in in place of CuPy)

import tensorgrad as tg  # noqa: E402
import tensorgrad.distributed as dist  # noqa: E402
from tensorgrad import nn  # noqa: E402


def val(r, shape=(2, 3)):
    """Rank r's data: distinct per rank and element."""
    return np.arange(np.prod(shape), dtype=np.float64).reshape(shape) + 100.0 * (r + 1)


X_SHAPE = (3, 2)


def x_of(r):
    """Rank r's input of the differentiable collectives."""
    return np.random.default_rng(50 + r).standard_normal(X_SHAPE)


def c_of(r, k=0):
    """Rank r's loss weights (for output k)."""
    return np.random.default_rng(80 + 10 * r + k).standard_normal(X_SHAPE)


def dnn_losses(me, x, ops):
    """Rank me's loss through each differentiable collective, given the collectives ``ops``
    (``tensorgrad.distributed.nn.functional``, or the test's one-process simulation)."""
    def w(y, k=0):
        return (tg.tensor(c_of(me, k)) * y * y).sum()

    out = {}
    out["all_gather"] = sum(w(y, k) for k, y in enumerate(ops.all_gather(x)))
    out["all_reduce_sum"] = w(ops.all_reduce(x))
    out["all_reduce_mean"] = w(ops.all_reduce(x, op="mean"))
    out["all_reduce_max"] = w(ops.all_reduce(x, op="max"))
    out["broadcast"] = w(ops.broadcast(x, src=1))
    out["reduce"] = w(ops.reduce(x, dst=2))
    out["reduce_scatter"] = w(ops.reduce_scatter(tg.zeros(*X_SHAPE, dtype="float64"),
                                                 [x * (k + 1) for k in range(3)]))
    out["gather"] = sum(w(y, k) for k, y in enumerate(ops.gather(x, dst=0)))
    out["scatter"] = w(ops.scatter([x * (k + 1) for k in range(3)], src=1))
    out["all_to_all"] = sum(w(y, k) for k, y in enumerate(ops.all_to_all(
        [tg.zeros(*X_SHAPE, dtype="float64")] * 3, [x * (k + 1) for k in range(3)])))
    out["all_to_all_single"] = w(ops.all_to_all_single(tg.zeros(*X_SHAPE, dtype="float64"),
                                                       x))
    return out


def differentiable(me):
    import tensorgrad.distributed.nn.functional as dF

    grads = {}
    names = list(dnn_losses(me, tg.tensor(x_of(me)), dF))  # one run to learn the names
    for name in names:
        x = tg.tensor(x_of(me), requires_grad=True)
        dnn_losses_one(me, x, dF, name).backward()
        grads[name] = x.grad.cpu().numpy()
    # second order through all_gather: the gradient of |dL/dx|^2
    x = tg.tensor(x_of(me), requires_grad=True)
    g, = tg.autograd.grad(dnn_losses_one(me, x, dF, "all_gather"), x, create_graph=True)
    (g * g).sum().backward()
    grads["all_gather_second"] = x.grad.cpu().numpy()
    # forward mode: the tangent of every rank's output is the gathered tangents
    _, tangent = tg.func.jvp(lambda t: tg.stack(dF.all_gather(t)), (tg.tensor(x_of(me)),),
                             (tg.tensor(np.full(X_SHAPE, float(me + 1))),))
    grads["all_gather_jvp"] = tangent.cpu().numpy()
    return grads


def dnn_losses_one(me, x, ops, name):
    return dnn_losses(me, x, ops)[name]


def hook_model():
    tg.manual_seed(1)
    return nn.Sequential(nn.Linear(3, 4, dtype="float64"), nn.Tanh(),
                         nn.Linear(4, 2, dtype="float64"))


def hook_input(r):
    return tg.tensor(np.random.default_rng(200 + r).standard_normal((5, 3)))


def comm_hooks(me):
    """Gradients after one backward under each communication hook (and none)."""
    from tensorgrad.distributed.algorithms.ddp_comm_hooks import default_hooks as H

    seen = []

    def custom(state, bucket):  # a hook of the user's: sum only, count the calls
        state.append((bucket.index(), bucket.is_last(), len(bucket.parameters()),
                      [tuple(g.shape) for g in bucket.gradients()]))
        fut = dist.all_reduce(bucket.buffer(), async_op=True).get_future()
        return fut.then(lambda f: f.value()[0] / dist.get_world_size())

    out = {}
    for name, state, hook in (("none", None, None), ("allreduce", None, H.allreduce_hook),
                              ("fp16", None, H.fp16_compress_hook), ("custom", seen, custom)):
        model = hook_model()
        ddp = nn.parallel.DistributedDataParallel(model, bucket_cap_mb=1e-4)
        if hook is not None:
            ddp.register_comm_hook(state, hook)
        ddp(hook_input(me)).pow(2).sum().backward()
        out[name] = [p.grad.cpu().numpy() for p in model.parameters()]
    out["custom_calls"] = seen
    return out


def join_model():
    tg.manual_seed(3)
    return nn.Sequential(nn.Linear(3, 4, dtype="float64"), nn.BatchNorm1d(4, dtype="float64"),
                         nn.Tanh(), nn.Linear(4, 2, dtype="float64"))


def join_batch(r, step):
    """Rank r's batch of a step: rank r has 2 + 2 r of them (2, 4 and 6)."""
    rng = np.random.default_rng(1000 + 10 * r + step)
    return tg.tensor(rng.standard_normal((4, 3))), tg.tensor(rng.integers(0, 2, 4))


def uneven(me):
    """DDP.join() with 2, 4 and 6 batches on ranks 0, 1, 2: the parameters each rank ends with,
    for both divisions; then throw_on_early_termination."""
    out = {}
    for divide in (True, False):
        model = join_model()
        ddp = nn.parallel.DistributedDataParallel(model, bucket_cap_mb=1e-4)
        opt = tg.optim.SGD(ddp.parameters(), lr=0.5)
        with ddp.join(divide_by_initial_world_size=divide):
            for step in range(2 + 2 * me):
                x, y = join_batch(me, step)
                opt.zero_grad()
                tg.nn.functional.cross_entropy(ddp(x), y).backward()
                opt.step()
        out[divide] = [p.cpu().numpy() for p in model.parameters()] + [
            model[1].running_mean.cpu().numpy()]
    model = join_model()
    ddp = nn.parallel.DistributedDataParallel(model)
    steps = 0
    try:
        with ddp.join(throw_on_early_termination=True):
            for step in range(2 + 2 * me):
                x, y = join_batch(me, step)
                ddp(x).sum().backward()
                steps += 1
    except RuntimeError as e:
        out["throw"] = (steps, str(e))
    return out


class Heads(nn.Module):
    def __init__(self):
        super().__init__()
        tg.manual_seed(0)
        self.a = nn.Linear(3, 2, dtype="float64")
        self.b = nn.Linear(3, 2, dtype="float64")
        self.never = nn.Linear(3, 2, dtype="float64")

    def forward(self, x, use_b=True):
        y = self.a(x)
        return y + self.b(x) if use_b else y


def main(outdir):
    # "gloo": PyTorch's CPU backend name, the MPI transport here
    dist.init_process_group(BACKEND)
    if BACKEND == "nccl":  # every tensor made below on this rank's GPU
        tg.set_default_device(f"cuda:{tg.cuda.current_device()}")
    me, n = dist.get_rank(), dist.get_world_size()
    world = dist.group.WORLD
    out = {"world": n, "backend": dist.get_backend(),
           "transport": type(world.transport).__name__,
           "nccl_ranks": getattr(getattr(world.transport, "comm", None), "_ndev", None),
           "device": str(tg.tensor(val(me)).device)}

    for op in ("sum", "mean", "max", "prod"):
        t = tg.tensor(val(me))
        dist.reduce(t, dst=1, op=op)
        out["reduce_" + op] = t.cpu().numpy()
    t = tg.tensor(val(me).T)  # not contiguous
    dist.reduce(t, dst=0)
    out["reduce_strided"] = t.cpu().numpy()

    gl = [tg.zeros(2, 3, dtype="float64") for _ in range(n)] if me == 2 else None
    dist.gather(tg.tensor(val(me)), gl, dst=2)
    out["gather"] = None if gl is None else np.stack([g.cpu().numpy() for g in gl])
    try:  # every rank refuses before communicating: no rank is left waiting
        dist.gather(tg.tensor(val(me)), [tg.tensor(val(me))] * 5, dst=0)
    except ValueError as e:
        out["gather_error"] = str(e)
    t = tg.zeros(2, 3, dtype="float64")
    dist.scatter(t, [tg.tensor(val(10 + r)) for r in range(n)] if me == 1 else None, src=1)
    out["scatter"] = t.cpu().numpy()

    o = tg.zeros(2, 3, dtype="float64")
    dist.reduce_scatter(o, [tg.tensor(val(me) * (q + 1)) for q in range(n)])
    out["reduce_scatter"] = o.cpu().numpy()
    o = tg.zeros(2, 3, dtype="float64")
    dist.reduce_scatter_tensor(o, tg.tensor(np.concatenate([val(me) * (q + 1) for q in range(n)])),
                               op=dist.ReduceOp.MAX)
    out["reduce_scatter_tensor_cat"] = o.cpu().numpy()
    o = tg.zeros(2, 3, dtype="float64")
    dist.reduce_scatter_tensor(o, tg.tensor(np.stack([val(me) * (q + 1) for q in range(n)])))
    out["reduce_scatter_tensor_stack"] = o.cpu().numpy()

    cat = tg.zeros(2 * n, 3, dtype="float64")
    dist.all_gather_into_tensor(cat, tg.tensor(val(me)))
    out["all_gather_cat"] = cat.cpu().numpy()
    st = tg.zeros(n, 2, 3, dtype="float32")
    dist.all_gather_into_tensor(st, tg.tensor(val(me).astype(np.float32)))
    out["all_gather_stack"] = st.cpu().numpy()

    # all_to_all: rank r sends rank q a (r + q + 1, 2) block of 10 r + q
    outs = [tg.zeros(q + me + 1, 2, dtype="int64") for q in range(n)]
    dist.all_to_all(outs, [tg.full((me + q + 1, 2), 10 * me + q, dtype="int64")
                           for q in range(n)])
    out["all_to_all"] = [o.cpu().numpy() for o in outs]
    # all_to_all_single with splits: rank r sends q + 1 rows to rank q
    rows = sum(q + 1 for q in range(n))
    src = tg.tensor(np.arange(rows * 2, dtype=np.float64).reshape(rows, 2) + 1000 * me)
    dst = tg.zeros((me + 1) * n, 2, dtype="float64")
    dist.all_to_all_single(dst, src, output_split_sizes=[me + 1] * n,
                           input_split_sizes=[q + 1 for q in range(n)])
    out["all_to_all_single"] = dst.cpu().numpy()
    even = tg.zeros(n, 4, dtype="float64")
    dist.all_to_all_single(even, tg.tensor(np.arange(4.0 * n).reshape(n, 4) + 1000 * me))
    out["all_to_all_single_even"] = even.cpu().numpy()

    # point to point: a ring, both ways of waiting
    right, left = (me + 1) % n, (me - 1) % n
    w = dist.isend(tg.tensor(val(me)), dst=right)
    got = tg.zeros(2, 3, dtype="float64")
    # any source (the left neighbour's); NCCL needs the sender named
    out["recv_from"] = dist.recv(got, src=left if BACKEND == "nccl" else None)
    w.wait()
    out["ring"] = got.cpu().numpy()
    # two messages to the right, received in the other order by their tags (NCCL has no
    # tags: there they match in order)
    a, b = tg.zeros(3, dtype="float64"), tg.zeros(3, dtype="float64")
    recvs = [dist.P2POp(dist.irecv, b, left, tag=2), dist.P2POp(dist.irecv, a, left, tag=1)]
    ops = [dist.P2POp(dist.isend, tg.full((3,), 1.0 + me, dtype="float64"), right, tag=1),
           dist.P2POp(dist.isend, tg.full((3,), 2.0 + me, dtype="float64"), right, tag=2),
           *(recvs[::-1] if BACKEND == "nccl" else recvs)]
    works = dist.batch_isend_irecv(ops)
    for w in works:
        w.wait()
    out["tag1"], out["tag2"] = a.cpu().numpy(), b.cpu().numpy()

    # a receive into a tensor of another size is an error, not a silent partial copy (MPI
    # tells the size received; NCCL does not)
    if BACKEND == "nccl":
        pass
    elif me == 0:
        dist.send(tg.ones(2, dtype="float32"), dst=1, tag=9)
    elif me == 1:
        try:
            dist.recv(tg.zeros(3, dtype="float64"), src=0, tag=9)
        except RuntimeError as e:
            out["recv_mismatch"] = str(e)

    # async: start, compute, wait
    t = tg.tensor(val(me))
    work = dist.all_reduce(t, async_op=True)
    out["async_type"] = type(work).__name__
    local = (tg.tensor(val(me)) * 2).sum().item()
    work.wait()
    out["async"] = t.cpu().numpy()
    out["async_local"] = local
    out["async_done"] = work.is_completed()

    # Python objects of different sizes, a tensor among them
    obj = {"rank": me, "pad": "x" * (10 * me), "t": tg.tensor([float(me)])}
    objs = [None] * n
    dist.all_gather_object(objs, obj)
    out["all_gather_object"] = [(o["rank"], o["pad"], o["t"].tolist()) for o in objs]
    lst = [me, "z" * me, None] if me == 2 else [None, None, None]
    dist.broadcast_object_list(lst, src=2)
    out["broadcast_object_list"] = lst
    gathered = [None] * n if me == 0 else None
    dist.gather_object(("g", me), gathered, dst=0)
    out["gather_object"] = gathered
    recv_obj = [None]
    dist.scatter_object_list(recv_obj, [{"to": q, "s": "y" * q} for q in range(n)]
                             if me == 1 else None, src=1)
    out["scatter_object_list"] = recv_obj[0]

    # a group of ranks 0 and 2; rank 1 is not in it
    g = dist.new_group([2, 0])
    out["group_is_member"] = g is not dist.GroupMember.NON_GROUP_MEMBER
    out["group_rank"] = dist.get_rank(g)
    out["group_size"] = dist.get_world_size(g)
    t = tg.tensor(val(me))
    dist.all_reduce(t, group=g)  # rank 1: not a member, does nothing (warns)
    out["group_all_reduce"] = t.cpu().numpy()
    t = tg.tensor(val(me))
    dist.broadcast(t, src=2, group=g)  # a global rank
    out["group_broadcast"] = t.cpu().numpy()
    t = tg.tensor(val(me))
    dist.broadcast(t, group_src=0, group=g)  # the group's rank 0: global 0
    out["group_broadcast_group_src"] = t.cpu().numpy()
    if out["group_is_member"]:
        out["group_ranks"] = dist.get_process_group_ranks(g)
        out["group_global_of_1"] = dist.get_global_rank(g, 1)
        objs = [None, None]
        dist.all_gather_object(objs, me * 7, group=g)
        out["group_objects"] = objs
        try:
            dist.broadcast(tg.ones(2), src=1, group=g)
        except ValueError as e:
            out["group_bad_src"] = str(e)
    # a group of ranks 0 and 1 for SyncBatchNorm; rank 2 normalises alone
    h = dist.new_group([0, 1])
    x = np.random.default_rng(5).standard_normal((9, 3)) * 2 + 1
    rows = [slice(0, 4), slice(4, 9), slice(0, 9)][me]
    bn = nn.SyncBatchNorm(3, process_group=h, dtype="float64")
    xt = tg.tensor(x[rows], requires_grad=True)
    y = bn(xt)
    (y * tg.tensor(np.arange(27.0).reshape(9, 3)[rows])).sum().backward()
    out["bn_y"], out["bn_dx"] = y.cpu().numpy(), xt.grad.cpu().numpy()
    out["bn_rm"] = bn.running_mean.cpu().numpy()

    # find_unused_parameters: rank 0 never uses head b; no rank uses `never`
    for cap, tag in ((25, "big"), (1e-6, "tiny")):
        model = Heads()
        ddp = nn.parallel.DistributedDataParallel(model, bucket_cap_mb=cap,
                                                  find_unused_parameters=True)
        steps = []
        for s in range(2):
            x = tg.tensor(np.random.default_rng(10 * me + s).standard_normal((4, 3)))
            model.zero_grad()
            ddp(x, use_b=me != 0).pow(2).sum().backward()
            steps.append({k: None if v.grad is None else v.grad.cpu().numpy().copy()
                          for k, v in model.named_parameters()})
        out["unused_" + tag] = steps
    out["unused_init"] = {k: v.cpu().numpy() for k, v in model.named_parameters()}

    out["dnn"] = differentiable(me)
    out["hooks"] = comm_hooks(me)
    out["join"] = uneven(me)

    dist.barrier()
    dist.monitored_barrier(timeout=30)
    dist.destroy_process_group(h)
    with open(os.path.join(outdir, f"rank{me}.pkl"), "wb") as f:
        pickle.dump(out, f)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
