"""``tensorgrad.nn.parallel``: data-parallel training over ``tensorgrad.distributed``."""

import contextlib
import weakref

from ..backend.device import xp_of
from ..tensor import Tensor
from .modules import Module

__all__ = ["DistributedDataParallel"]


class _Bucket:
    """Gradients of a run of parameters (same dtype and device), reduced as one flat array
    (allocated at the first backward and reused: a new 25 MB array each step would cost more
    in page faults than the copies into and out of it)."""

    __slots__ = ("params", "offsets", "numel", "dtype", "ready", "flat", "fortran", "unused")

    def __init__(self, params):
        self.params = params
        self.offsets = []
        n = 0
        for p in params:
            self.offsets.append(n)
            n += p.data.size
        self.numel = n
        self.dtype = params[0].data.dtype
        self.ready = 0
        self.unused = set()  # positions find_unused_parameters marked ready with zeros
        self.flat = None
        # per parameter, whether its gradient's slot is laid out in Fortran order: a Linear
        # weight's gradient is the transpose of a product, and copying it into C order would
        # be a slow strided copy. Decided at the first backward, then fixed, so that the layout
        # is the same on every rank (they run the same graph) and from step to step.
        self.fortran = [None] * len(params)

    def slot(self, pos, shape):
        """The part of ``flat`` that holds parameter ``pos``'s gradient, shaped like it."""
        o = self.offsets[pos]
        seg = self.flat[o:o + self.params[pos].data.size]
        return seg.reshape(shape[::-1]).T if self.fortran[pos] else seg.reshape(shape)


class GradBucket:
    """What a DDP communication hook gets (PyTorch's ``dist.GradBucket``): ``buffer()``, the
    flat tensor of the bucket's gradients (its memory: a hook may work in place),
    ``gradients()`` and ``parameters()``, ``index()``, ``is_last()``, and ``set_buffer(t)``
    to hand a replacement buffer (a compressed copy) to a hook it wraps."""

    def __init__(self, index, bucket, last):
        self._index = index
        self._bucket = bucket
        self._last = last
        self._buffer = Tensor._wrap(bucket.flat)

    def index(self):
        return self._index

    def is_last(self):
        return self._last

    def buffer(self):
        return self._buffer

    def set_buffer(self, tensor):
        if not isinstance(tensor, Tensor):
            raise TypeError(f"GradBucket.set_buffer: expected a Tensor, got "
                            f"{type(tensor).__name__}")
        self._buffer = tensor

    def parameters(self):
        return list(self._bucket.params)

    def gradients(self):
        b = self._bucket
        return [Tensor._wrap(b.slot(pos, p.data.shape)) for pos, p in enumerate(b.params)]


def _runs(tensors, cap_bytes):
    """``tensors`` cut into runs of one dtype and device, each at most ``cap_bytes`` (a tensor
    larger than that is a run of its own)."""
    runs, run, size, key = [], [], 0, None
    for t in tensors:
        k = (t.data.dtype, str(t.device))
        nbytes = t.data.nbytes
        if run and (k != key or size + nbytes > cap_bytes):
            runs.append(run)
            run, size = [], 0
        run.append(t)
        size += nbytes
        key = k
    if run:
        runs.append(run)
    return runs


def _broadcast_coalesced(group, tensors, cap_bytes, src=0):
    """Give every rank rank ``src``'s values of ``tensors``, one flat broadcast per run."""
    from ..autograd.graph import bump_version

    for run in _runs(tensors, cap_bytes):
        xp = xp_of(run[0].data)
        flat = xp.concatenate([t.data.reshape(-1) for t in run])
        group.wait(group.transport.broadcast(flat, src), "DistributedDataParallel broadcast")
        o = 0
        for t in run:
            n = t.data.size
            t.data[...] = flat[o:o + n].reshape(t.data.shape)
            bump_version(t._vc)
            o += n


class DistributedDataParallel(Module):
    """Data-parallel training of ``module``: each process runs the same model on its own part
    of the batch, and ``backward()`` leaves every rank with the gradients averaged over all
    ranks, so that the optimizers take the same step everywhere.

    At construction the parameters and buffers of rank 0 are broadcast to all ranks. Gradients
    are averaged in buckets of about ``bucket_cap_mb`` MB (parameters in reverse order, the
    order backward produces them): each bucket's non-blocking all-reduce starts from the
    parameters' post-accumulate-grad hooks as soon as its last gradient is in, and backward
    waits for all of them once the last bucket has started. Inside ``no_sync()`` gradients
    only accumulate locally; the first backward after it averages the sum. With
    ``broadcast_buffers`` (default) each forward first copies rank 0's buffers (running
    statistics) to all ranks.

    ``forward`` calls the module; ``.module`` is the module itself; ``state_dict()`` and
    ``load_state_dict()`` are the module's (no ``module.`` prefix, so a checkpoint loads into a
    plain model). Every parameter that requires grad must receive a gradient in each backward
    (PyTorch's ``find_unused_parameters=False``); a forward that finds the previous
    iteration's reduction unfinished names the parameters that got none. With
    ``find_unused_parameters=True`` each forward walks its output's graph and marks the
    parameters it does not reach as ready with zero gradients: a parameter unused on this rank
    gets the average of the other ranks' gradients, one unused on every rank keeps its
    ``.grad`` (one more small all-reduce per step). ``process_group`` (from
    ``tensorgrad.distributed.new_group``) averages over its ranks only.

    >>> import tensorgrad as tg, tensorgrad.distributed as dist      # doctest: +SKIP
    >>> dist.init_process_group("mpi")                               # doctest: +SKIP
    >>> model = DistributedDataParallel(tg.nn.Linear(4, 2))          # doctest: +SKIP
    >>> model(x_shard).pow(2).mean().backward()   # grads averaged    # doctest: +SKIP
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0,
                 broadcast_buffers=True, process_group=None, bucket_cap_mb=None,
                 find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False, **kwargs):
        # PyTorch's arguments, in its order. device_ids, output_device and dim: one device per
        # process here, the module stays where it is; gradient_as_bucket_view and static_graph
        # are PyTorch's memory and graph optimisations, which change no result
        super().__init__()
        from .. import distributed as dist

        unknown = set(kwargs) - {"init_sync", "delay_all_reduce_named_params",
                                 "param_to_hook_all_reduce", "mixed_precision", "device_mesh",
                                 "skip_all_reduce_unused_params"}
        if unknown:
            raise TypeError(f"DistributedDataParallel: unexpected keyword arguments "
                            f"{sorted(unknown)}")
        object.__setattr__(self, "find_unused_parameters", bool(find_unused_parameters))
        bucket_cap_mb = 25 if bucket_cap_mb is None else bucket_cap_mb
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: module must be a tensorgrad.nn.Module, "
                            f"got {type(module).__name__}")
        if not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be positive, got "
                             f"{bucket_cap_mb!r}")
        group = dist._group("DistributedDataParallel", process_group)
        if group is None:
            raise ValueError("DistributedDataParallel: this rank is not a member of "
                             "process_group")
        self.module = module
        object.__setattr__(self, "process_group", group)
        object.__setattr__(self, "_group", group)
        object.__setattr__(self, "broadcast_buffers", bool(broadcast_buffers))
        object.__setattr__(self, "require_backward_grad_sync", True)
        cap = int(bucket_cap_mb * 1024 * 1024)
        object.__setattr__(self, "_cap", cap)
        params = [p for p in module.parameters() if p.requires_grad]
        buffers = [b for b in module.buffers() if b is not None]
        object.__setattr__(self, "_buffer_list", buffers)
        if group.size() > 1:
            _broadcast_coalesced(group, list(module.parameters()) + buffers, cap)
        buckets = [_Bucket(run) for run in _runs(list(reversed(params)), cap)]
        if find_unused_parameters:
            # a parameter may be unused on one rank at the first backward and used on another,
            # so the layout of its slot cannot come from its gradient: C order everywhere
            for b in buckets:
                b.fortran = [False] * len(b.params)
        object.__setattr__(self, "_buckets", buckets)
        object.__setattr__(self, "_works", [])
        object.__setattr__(self, "_comm_hook", None)
        object.__setattr__(self, "_join", None)  # the settings of join() while inside it
        object.__setattr__(self, "_active", group.size())  # ranks not yet joined, this step
        object.__setattr__(self, "_next", 0)  # the next bucket to start, in bucket order
        handles = []
        me = weakref.ref(self)
        for bi, b in enumerate(buckets):
            for pos, p in enumerate(b.params):
                handles.append(p.register_post_accumulate_grad_hook(_hook(me, bi, pos)))
        object.__setattr__(self, "_handles", handles)

    # ---- the reduction ------------------------------------------------------------------------
    def _grad_ready(self, bi, pos, p):
        b = self._buckets[bi]
        if p.grad.is_sparse:  # an Embedding(sparse=True)'s gradient: averaged dense
            p.grad = p.grad.to_dense()
        g = p.grad.data
        if pos in b.unused:
            raise RuntimeError(
                f"DistributedDataParallel: a parameter of shape {tuple(p.shape)} got a gradient "
                "although the forward's graph did not reach it (find_unused_parameters marked "
                "it unused); it takes part in the loss some other way than through the "
                "forward's outputs")
        if b.flat is None:
            b.flat = xp_of(g).empty(b.numel, dtype=b.dtype)
        if g.dtype != b.dtype:
            raise RuntimeError(f"DistributedDataParallel: the gradient of a parameter of shape "
                               f"{tuple(p.shape)} is {g.dtype}, the parameter {b.dtype}")
        if b.fortran[pos] is None:
            b.fortran[pos] = bool(g.ndim > 1 and g.flags.f_contiguous
                                  and not g.flags.c_contiguous)
        b.slot(pos, g.shape)[...] = g
        self._one_ready(b)

    def _one_ready(self, b):
        b.ready += 1
        if b.ready == len(b.params):
            # buckets start in their order on every rank: MPI and NCCL match collectives by order
            buckets = self._buckets
            while self._next < len(buckets) and buckets[self._next].ready == len(
                    buckets[self._next].params):
                self._works.append(self._start(self._next))
                self._next += 1
            if self._next == len(buckets):
                self._finish()

    def _start(self, bi):
        """Start bucket ``bi``'s reduction: a summing all-reduce, or the communication hook."""
        b = self._buckets[bi]
        if self._comm_hook is None:
            return self._group.transport.allreduce(b.flat, "sum")
        state, hook = self._comm_hook
        fut = hook(state, GradBucket(bi, b, bi == len(self._buckets) - 1))
        if not hasattr(fut, "wait") or not hasattr(fut, "then"):
            raise TypeError(f"DistributedDataParallel: the communication hook must return a "
                            f"tensorgrad.futures.Future, got {type(fut).__name__}")
        return fut

    def _collect(self, b, work):
        """Wait for a bucket's reduction and leave the averaged gradients in ``b.flat``."""
        group = self._group
        if self._comm_hook is None:
            group.wait(work, "DistributedDataParallel gradient all_reduce")
            size = group.size()
            if self._join is not None and not self._join["divide_by_initial_world_size"]:
                size = self._active
            if size > 1:
                b.flat /= size
            return
        result = work.wait()
        if isinstance(result, (list, tuple)) and len(result) == 1:
            result = result[0]
        raw = result.data if isinstance(result, Tensor) else result
        if getattr(raw, "size", None) != b.numel:
            raise RuntimeError(f"DistributedDataParallel: the communication hook's future gave "
                               f"{type(result).__name__} of shape "
                               f"{getattr(raw, 'shape', None)}; it must be the bucket's flat "
                               f"gradients ({b.numel} elements)")
        if raw is not b.flat:
            b.flat[...] = raw.reshape(-1)

    def register_comm_hook(self, state, hook):
        """Reduce each bucket with ``hook(state, bucket)`` instead of the default all-reduce:
        it gets a ``GradBucket`` and returns a ``tensorgrad.futures.Future`` of the bucket's
        averaged flat gradients (``tensorgrad.distributed.algorithms.ddp_comm_hooks`` has
        PyTorch's stock hooks). Register it once, before the first backward."""
        if self._comm_hook is not None:
            raise RuntimeError("DistributedDataParallel: register_comm_hook can only be called "
                               "once")
        if any(b.flat is not None for b in self._buckets):
            raise RuntimeError("DistributedDataParallel: register_comm_hook must be called "
                               "before the first backward")
        if not callable(hook):
            raise TypeError(f"DistributedDataParallel: hook must be callable, got "
                            f"{type(hook).__name__}")
        object.__setattr__(self, "_comm_hook", (state, hook))

    def _finish(self):
        used = self._globally_used() if self.find_unused_parameters else None
        for bi, (b, work) in enumerate(zip(self._buckets, self._works)):
            self._collect(b, work)
            for pos, p in enumerate(b.params):
                if pos in b.unused:
                    # unused here: the average of the other ranks' gradients, as PyTorch; a
                    # parameter no rank used keeps its .grad as it was
                    if used[bi][pos]:
                        p.grad = Tensor._wrap(b.slot(pos, p.data.shape).copy())
                    continue
                # back into the gradient backward just made (the bucket is reused next step,
                # so .grad must not be a view of it); a read-only one is replaced
                g = p.grad.data
                avg = b.slot(pos, g.shape)
                if getattr(g.flags, "writeable", True):
                    g[...] = avg
                else:
                    p.grad = Tensor._wrap(avg.copy())
            b.ready = 0
            b.unused = set()
        self._works.clear()
        self._next = 0

    # ---- find_unused_parameters -----------------------------------------------------------------
    def _mark_unused(self, output):
        """Mark ready, with zero gradients, the parameters the graph of ``output`` does not
        reach (PyTorch's ``find_unused_parameters=True``): a walk over the graph each
        forward."""
        from ..autograd.grad_mode import is_grad_enabled

        outputs = _tensors_in(output)
        if not is_grad_enabled() or not any(t.requires_grad for t in outputs):
            return  # no backward follows
        reached, stack, seen = set(), outputs, set()
        while stack:
            v = stack.pop()
            if id(v) in seen:
                continue
            seen.add(id(v))
            node = v._node if isinstance(v, Tensor) else v
            if node is None:
                reached.add(id(v))
                continue
            stack.extend(q for q in node.parents if q is not None)
        for b in self._buckets:
            for pos, p in enumerate(b.params):
                if id(p) not in reached:
                    if b.flat is None:
                        b.flat = xp_of(p.data).empty(b.numel, dtype=b.dtype)
                    b.unused.add(pos)
                    b.slot(pos, p.data.shape)[...] = 0
                    self._one_ready(b)

    def _globally_used(self):
        """Per bucket and parameter, whether any rank used it (one small all-reduce)."""
        import numpy as np

        local = np.array([0 if pos in b.unused else 1 for b in self._buckets
                          for pos in range(len(b.params))], dtype=np.int32)
        self._group.wait(self._group.transport.allreduce(local, "max"),
                         "DistributedDataParallel find_unused_parameters")
        out, o = [], 0
        for b in self._buckets:
            out.append(local[o:o + len(b.params)])
            o += len(b.params)
        return out

    def _unfinished(self):
        return any(b.ready for b in self._buckets)

    @contextlib.contextmanager
    def no_sync(self):
        """Inside, backward() accumulates gradients locally without communicating; the first
        backward after the block averages the accumulated gradients.

        >>> with ddp.no_sync():                        # doctest: +SKIP
        ...     ddp(x1).sum().backward()
        >>> ddp(x2).sum().backward()   # averages the gradients of both batches  # doctest: +SKIP
        """
        old = self.require_backward_grad_sync
        object.__setattr__(self, "require_backward_grad_sync", False)
        try:
            yield
        finally:
            object.__setattr__(self, "require_backward_grad_sync", old)

    # ---- Module ---------------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        if self._unfinished():
            missing = [tuple(p.shape) for b in self._buckets if b.ready
                       for p in b.params if p.grad is None]
            raise RuntimeError(
                "DistributedDataParallel: the previous backward() did not give a gradient to "
                "every parameter, so its gradients were never averaged (parameters of shapes "
                f"{missing[:8]} got none, or .grad was reset before the end); every parameter "
                "that requires grad must take part in the loss, or set requires_grad=False on "
                "the unused ones before wrapping, or pass find_unused_parameters=True)")
        src = 0
        if self._join is not None:
            src = self._notify(True)
        if self.broadcast_buffers and self._buffer_list and self._group.size() > 1:
            _broadcast_coalesced(self._group, self._buffer_list, self._cap, src)
        out = self.module(*args, **kwargs)
        if self.find_unused_parameters and self.require_backward_grad_sync:
            self._mark_unused(out)
        return out

    # ---- uneven inputs: join() ----------------------------------------------------------------
    @contextlib.contextmanager
    def join(self, divide_by_initial_world_size=True, enable=True,
             throw_on_early_termination=False):
        """Train on inputs of different lengths per rank (PyTorch's ``ddp.join()``): a rank
        whose loop ends first keeps taking part in the others' collectives (their buffer
        broadcasts and gradient all-reduces, with zero gradients) until every rank is done;
        then every rank takes the parameters of the last rank to finish. Gradients are
        divided by the world size (``divide_by_initial_world_size``, default, so a joined
        rank counts as zero) or by the ranks still training. Each forward inside costs one
        small all-reduce (who is still training). ``throw_on_early_termination``: every rank
        raises as soon as one runs out, instead.

        >>> with ddp.join():                            # doctest: +SKIP
        ...     for x, y in my_shard:                   # of any length
        ...         opt.zero_grad(); loss(ddp(x), y).backward(); opt.step()
        """
        if not enable:
            yield
            return
        if self._join is not None:
            raise RuntimeError("DistributedDataParallel.join: already inside a join()")
        object.__setattr__(self, "_join", {
            "divide_by_initial_world_size": bool(divide_by_initial_world_size),
            "throw": bool(throw_on_early_termination), "first_exit": True})
        try:
            yield
            self._shadow_until_all_joined()
        finally:
            object.__setattr__(self, "_join", None)
            object.__setattr__(self, "_active", self._group.size())

    def _notify(self, training):
        """One step's roll call (an all-reduce of [training, syncing, rank one-hot, last-joiner
        one-hot]): how many ranks still train, whether any syncs gradients this step, and
        which rank's buffers count (the highest one still training). Returns that rank."""
        import numpy as np

        g, join = self._group, self._join
        n, me = g.size(), g.rank()
        v = np.zeros(2 + 2 * n, dtype=np.int64)
        if training:
            v[0], v[1], v[2 + me] = 1, int(self.require_backward_grad_sync), 1
        elif join["first_exit"]:
            v[2 + n + me] = 1
        g.wait(g.transport.allreduce(v, "sum"), "DistributedDataParallel.join roll call")
        object.__setattr__(self, "_active", int(v[0]))
        join["syncing"], join["last"] = bool(v[1]), v[2 + n:]
        if join["throw"] and v[0] < n:
            raise RuntimeError(
                f"DistributedDataParallel.join: {n - int(v[0])} of {n} ranks ran out of inputs "
                f"(throw_on_early_termination=True; this is rank {me})")
        return int(np.flatnonzero(v[2:2 + n])[-1]) if v[0] else 0

    def _shadow_until_all_joined(self):
        """This rank's inputs are done: answer the other ranks' collectives, step by step,
        until no rank trains; then take the last one's parameters and buffers."""
        g = self._group
        while True:
            src = self._notify(False)
            self._join["first_exit"] = False
            if self._active == 0:
                break
            if self.broadcast_buffers and self._buffer_list and g.size() > 1:
                _broadcast_coalesced(g, self._buffer_list, self._cap, src)
            if self._join["syncing"]:
                self._shadow_backward()
        import numpy as np

        last = int(np.flatnonzero(self._join["last"])[-1])
        if g.size() > 1:
            _broadcast_coalesced(g, list(self.module.parameters()) + self._buffer_list,
                                 self._cap, last)

    def _shadow_backward(self):
        """The collectives of one backward, with zero gradients: each bucket's reduction in
        order (through the communication hook if there is one), then find_unused_parameters'
        usage all-reduce (nothing used here)."""
        import numpy as np

        works = []
        for bi, b in enumerate(self._buckets):
            if b.flat is None:
                b.flat = xp_of(b.params[0].data).zeros(b.numel, dtype=b.dtype)
            b.flat[...] = 0
            works.append(self._start(bi))
        if self.find_unused_parameters:
            used = np.zeros(sum(len(b.params) for b in self._buckets), dtype=np.int32)
            self._group.wait(self._group.transport.allreduce(used, "max"),
                             "DistributedDataParallel find_unused_parameters")
        for work in works:
            if self._comm_hook is None:
                self._group.wait(work, "DistributedDataParallel gradient all_reduce")
            else:
                work.wait()

    def state_dict(self, destination=None, prefix="", keep_vars=False):
        return self.module.state_dict(destination, prefix, keep_vars)

    def load_state_dict(self, state_dict, strict=True, assign=False):
        return self.module.load_state_dict(state_dict, strict, assign)

    def extra_repr(self):
        return (f"world_size={self._group.size()}, buckets={len(self._buckets)}, "
                f"bucket_cap_mb={self._cap / 2**20:g}")


def _tensors_in(obj):
    """The tensors in a forward's output (nested tuples, lists and dicts)."""
    if isinstance(obj, Tensor):
        return [obj]
    if isinstance(obj, dict):
        obj = list(obj.values())
    if isinstance(obj, (list, tuple)):
        return [t for o in obj for t in _tensors_in(o)]
    return []


def _hook(ddp_ref, bi, pos):
    def hook(p):
        ddp = ddp_ref()
        if ddp is not None and ddp.require_backward_grad_sync:
            ddp._grad_ready(bi, pos, p)

    return hook
