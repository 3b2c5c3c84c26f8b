"""``tensorgrad.distributed``: collectives between processes, PyTorch's names, over MPI or NCCL.

Every process of a job runs the same script, started by a launcher (``mpirun -n 4 python
train.py``, ``srun``, ``mpiexec -f hostfile ...``); ``init_process_group`` joins them:

- ``backend="mpi"``: MPI through mpi4py, for CPU tensors (GPU tensors are staged through the
  host), on one machine or across machines;
- ``backend="nccl"``: NCCL through CuPy (``cupy.cuda.nccl``) between GPUs, one GPU per process
  (the one of index local rank modulo the GPUs visible); MPI still starts the job, hands the
  NCCL id around and carries the collectives of CPU tensors. A single process (no launcher,
  or one saying 1) needs no mpi4py: without it, a built-in one-process communicator
  (``_single``) stands in for MPI.

tensorgrad adds no transport of its own: each backend is a small class (``_mpi.MPITransport``,
``_nccl.NCCLTransport``) with the same four non-blocking collectives on raw arrays, and
everything else (arguments, dtypes, ``mean``, timeouts, failing loudly) is shared here, so the
multi-process logic tested over MPI is the one NCCL runs.

A rank that raises must not leave the others waiting forever: from ``init_process_group`` on
(with more than one process) an uncaught exception prints its traceback and aborts the whole
job (``MPI_Abort``), and every collective gives up after ``timeout`` seconds with a
``RuntimeError`` (which aborts the job the same way).

>>> import tensorgrad as tg
>>> import tensorgrad.distributed as dist
>>> dist.is_initialized()
False
"""

import datetime
import os
import sys
import time
import warnings

import numpy as np

from ..backend.device import xp_of
from ..tensor import Tensor

__all__ = ["ReduceOp", "init_process_group", "destroy_process_group", "is_initialized",
           "is_available", "get_rank", "get_world_size", "get_backend", "barrier", "all_reduce",
           "broadcast", "all_gather", "CollectiveTimeout", "Work", "ProcessGroup", "GroupMember",
           "group", "new_group", "get_global_rank", "get_group_rank", "get_process_group_ranks",
           "reduce", "gather", "scatter", "reduce_scatter", "reduce_scatter_tensor",
           "all_gather_into_tensor", "all_to_all", "all_to_all_single", "send", "recv", "isend",
           "irecv", "P2POp", "batch_isend_irecv", "monitored_barrier", "all_gather_object",
           "broadcast_object_list", "gather_object", "scatter_object_list", "is_mpi_available",
           "is_nccl_available", "is_gloo_available", "is_ucc_available",
           "is_torchelastic_launched", "Backend"]

DEFAULT_TIMEOUT = 1800.0  # seconds, PyTorch's default; TENSORGRAD_DIST_TIMEOUT overrides it


class ReduceOp:
    """The reductions of ``all_reduce``: ``ReduceOp.SUM``, ``MEAN`` (also ``AVG``), ``MAX``,
    ``MIN``, ``PRODUCT``. The plain strings ``"sum"``, ``"mean"``, ... work too."""

    SUM = "sum"
    MEAN = "mean"
    AVG = "mean"
    MAX = "max"
    MIN = "min"
    PRODUCT = "prod"


_OPS = ("sum", "mean", "max", "min", "prod")

# the world size as launchers publish it (Open MPI, MPICH/Hydra and Intel MPI, Slurm's srun):
# checked against what mpi4py sees, as a mismatch means mpi4py uses another MPI than mpirun
_LAUNCHER_ENV = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS")

_GROUP = [None]


def _missing_mpi4py(e):
    return ImportError(
        f"tensorgrad.distributed needs mpi4py and an MPI library ({type(e).__name__}: {e}); "
        "install the `distributed` extra: pip install tensorgrad[distributed] (it brings "
        "mpi4py and the MPICH wheel), or pip install mpi4py over your cluster's MPI")


def _import_mpi():
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise _missing_mpi4py(e) from e
    except RuntimeError as e:  # mpi4py installed, but its MPI library cannot be loaded
        raise _missing_mpi4py(e) from e
    return MPI


def is_available():
    """Whether mpi4py (the transport of both backends' start-up) can be imported."""
    try:
        _import_mpi()
    except ImportError:
        return False
    return True


def _launcher_world_size():
    for size_var in _LAUNCHER_ENV:
        if os.environ.get(size_var, "").isdigit():
            return int(os.environ[size_var]), size_var
    return None, None


def _as_seconds(timeout, who="init_process_group"):
    if timeout is None:
        env = os.environ.get("TENSORGRAD_DIST_TIMEOUT")
        return float(env) if env else DEFAULT_TIMEOUT
    if isinstance(timeout, datetime.timedelta):
        timeout = timeout.total_seconds()
    timeout = float(timeout)
    if not timeout > 0:
        raise ValueError(f"{who}: timeout must be positive seconds (or a "
                         f"timedelta), got {timeout!r}")
    return timeout


class CollectiveTimeout(RuntimeError):
    """A collective waited longer than the group's timeout (some rank never joined it)."""


class ProcessGroup:
    """A set of ranks that run collectives together (``torch.distributed.ProcessGroup``): the
    default group of all ranks (``GroupMember.WORLD``, made by ``init_process_group``) or one
    made by ``new_group``. ``rank()`` and ``size()`` are this process's rank in the group and
    the group's size; ``ranks`` are its members' global ranks, in group-rank order."""

    def __init__(self, backend, transport, timeout, ranks):
        self.backend = backend
        self.transport = transport
        self.timeout = timeout
        self.ranks = list(ranks)
        self._rank = transport.rank
        self._size = transport.size

    def rank(self):
        return self._rank

    def size(self):
        return self._size

    def name(self):
        return self.backend

    def __repr__(self):
        return (f"ProcessGroup(backend={self.backend!r}, ranks={self.ranks}, "
                f"rank={self._rank})")

    def wait(self, work, what, timeout=None):
        """Finish ``work``, polling it so that a rank that never comes ends in an error rather
        than a hang. The first polls spin (small messages finish in microseconds); then the
        waits between polls grow to 1 ms, leaving the cores to the other ranks."""
        timeout = self.timeout if timeout is None else timeout
        deadline = None
        pause = 0.0
        spins = 0
        while not work.test():
            spins += 1
            if spins < 200:
                continue
            now = time.monotonic()
            if deadline is None:
                deadline = now + timeout
            elif now > deadline:
                raise CollectiveTimeout(
                    f"{what}: rank {self._rank} of {self._size} waited {timeout:g} s for the "
                    f"other ranks ({self.backend} backend); some rank did not reach this "
                    "collective (it failed, hangs, or runs different code)")
            time.sleep(pause)
            pause = min(pause + 5e-5, 1e-3)
        work.finish()


_Group = ProcessGroup  # the name the rest of tensorgrad used


class _NonMember:
    def __repr__(self):
        return "GroupMember.NON_GROUP_MEMBER"


class _GroupMeta(type):
    @property
    def WORLD(cls):
        return _GROUP[0]


class GroupMember(metaclass=_GroupMeta):
    """``GroupMember.WORLD``: the default group (None before ``init_process_group``);
    ``GroupMember.NON_GROUP_MEMBER``: what ``new_group`` returns on the ranks not in it."""

    NON_GROUP_MEMBER = _NonMember()


group = GroupMember  # PyTorch's ``dist.group.WORLD``


class Backend(str):
    """The backend names: ``Backend.MPI``, ``Backend.NCCL``, ``Backend.GLOO``;
    ``Backend("NCCL")`` is ``"nccl"``."""

    MPI = "mpi"
    NCCL = "nccl"
    GLOO = "gloo"

    def __new__(cls, name):
        low = str(name).lower()
        if low not in _BACKENDS:
            raise ValueError(f"Backend: unknown backend {name!r}; tensorgrad has "
                             f"{', '.join(_BACKENDS)}")
        return str.__new__(cls, low)


_BACKENDS = ("mpi", "nccl", "gloo")


class Work:
    """An operation started with ``async_op=True`` (and what ``isend``/``irecv`` return):
    ``wait()`` finishes it (the output tensors hold the result afterwards), ``is_completed()``
    asks without waiting. A synchronous call is the same thing waited for at once."""

    def __init__(self, group, parts, what, then=None, outputs=()):
        self._group = group
        self._parts = parts
        self._what = what
        self._then = then
        self._outputs = list(outputs)
        self._done = False
        self._futures = []

    def is_completed(self):
        return self._done or all(p.test() for p in self._parts)

    def is_success(self):
        return self.is_completed()

    def wait(self, timeout=None):
        """Finish the operation (``timeout``: seconds or a ``timedelta``, default the group's;
        past it a ``CollectiveTimeout``). Returns True."""
        if not self._done:
            seconds = None if timeout is None else _as_seconds(timeout, "Work.wait")
            for part in self._parts:
                self._group.wait(part, self._what, seconds)
            if self._then is not None:
                self._then()
            self._done = True
            for f in self._futures:
                f.set_result(self._outputs)
        return True

    def get_future(self):
        """A ``tensorgrad.futures.Future`` of the output tensors (a list), completed when the
        operation is: ``fut.wait()`` waits for it, ``fut.then(fn)`` chains on it."""
        from ..futures import Future

        fut = Future()
        if self._done:
            fut.set_result(self._outputs)
        else:
            fut._waiter = self.wait
            self._futures.append(fut)
        return fut

    def result(self):
        """The output tensors (after waiting)."""
        self.wait()
        return self._outputs

    def __repr__(self):
        return f"Work({self._what}, completed={self._done})"


def _group(who, group=None, warn=True):
    """The group a call runs in: the default one for None or ``GroupMember.WORLD``; None
    when this rank is not a member of ``group`` (the call then does nothing, as PyTorch)."""
    g = _GROUP[0]
    if g is None:
        raise RuntimeError(f"{who}: the default process group is not initialized; call "
                           "tensorgrad.distributed.init_process_group('mpi' or 'nccl') first")
    if group is None or group is g:
        return g
    if group is GroupMember.NON_GROUP_MEMBER:
        if warn:
            warnings.warn(f"Running {who} on global rank {g.rank()} which does not belong to "
                          "the given group.", stacklevel=3)
        return None
    if not isinstance(group, ProcessGroup):
        raise TypeError(f"{who}: group must be a ProcessGroup (from new_group), "
                        f"GroupMember.WORLD or None, got {type(group).__name__}")
    if group.transport is None:
        raise RuntimeError(f"{who}: the group was destroyed")
    return group


def _abort_on_uncaught(comm, previous):
    def hook(exc_type, exc, tb):
        previous(exc_type, exc, tb)
        try:
            sys.stderr.write(f"tensorgrad.distributed: uncaught {exc_type.__name__} on rank "
                             f"{comm.Get_rank()} of {comm.Get_size()}; aborting the job\n")
            sys.stderr.flush()
            sys.stdout.flush()
            # the launcher forwards output through its own processes, which the abort tears
            # down: give it a moment, or the traceback arrives cut short
            time.sleep(0.5)
        finally:
            comm.Abort(1)

    hook.previous = previous
    return hook


def _check_launch(backend, world_size, rank, comm_size, comm_rank):
    """PyTorch's ``world_size``/``rank`` arguments and torchrun's environment must agree with
    the job MPI started."""
    hint = ("tensorgrad's processes find each other through MPI: start the job with mpiexec "
            "(or srun), not torchrun or by hand")
    for what, given, actual in (("world_size", world_size, comm_size), ("rank", rank, comm_rank)):
        if given is not None and int(given) not in (-1, actual):
            raise ValueError(f"init_process_group({backend!r}): {what}={given} but the MPI job "
                             f"has {what} {actual}; {hint}")
    env = os.environ.get("WORLD_SIZE", "")
    if env.isdigit() and int(env) != comm_size and "TORCHELASTIC_RUN_ID" in os.environ:
        raise RuntimeError(f"init_process_group({backend!r}): torchrun started {env} processes, "
                           f"but MPI sees {comm_size}; {hint}")


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1,
                       store=None, group_name="", pg_options=None, device_id=None, *,
                       abort_on_exception=True):
    """Join the processes of this job into the default group.

    ``backend`` is ``"mpi"``, ``"nccl"`` or ``"gloo"`` (PyTorch's CPU backend name: here the
    MPI transport); None picks ``"nccl"`` when a GPU is there and ``"mpi"`` otherwise. Rank and
    world size come from the launcher, through MPI (``mpirun``/``mpiexec``/``srun``); a script
    started alone is rank 0 of 1 (with ``"nccl"`` it then runs without mpi4py too).
    ``world_size`` and ``rank``, when given, must be what MPI says; ``init_method``, ``store``,
    ``group_name`` and ``pg_options`` are PyTorch's rendezvous settings, which MPI replaces.
    ``timeout`` (seconds or a ``timedelta``; default ``$TENSORGRAD_DIST_TIMEOUT`` or 1800)
    bounds the wait in every collective. With ``abort_on_exception`` (default) and more than
    one process, an uncaught exception on any rank aborts the whole job instead of leaving the
    others hanging.

    >>> import tensorgrad.distributed as dist
    >>> dist.init_process_group("mpi")          # doctest: +SKIP
    >>> dist.get_rank(), dist.get_world_size()  # doctest: +SKIP
    (0, 2)
    """
    if _GROUP[0] is not None:
        raise RuntimeError("init_process_group: the default process group is already "
                           "initialized; call destroy_process_group() first")
    if backend is None:
        from .. import cuda

        backend = "nccl" if cuda.is_available() else "mpi"
    if str(backend).lower() not in _BACKENDS:
        raise ValueError(f"init_process_group: backend must be 'mpi', 'nccl' or 'gloo', got "
                         f"{backend!r}")
    backend = str(backend).lower()
    seconds = _as_seconds(timeout)
    expected, var = _launcher_world_size()
    try:
        MPI = _import_mpi()
    except ImportError as e:
        if expected not in (None, 1):
            raise ImportError(f"init_process_group({backend!r}): the launcher started {expected} "
                              f"processes ({var}), and {e}") from e
        if backend != "nccl":
            raise
        from . import _single as MPI  # one process: NCCL needs no MPI to find its peers
    comm = MPI.COMM_WORLD
    if expected is not None and expected != comm.Get_size():
        raise RuntimeError(
            f"init_process_group: the launcher started {expected} processes ({var}) but MPI "
            f"sees {comm.Get_size()}: mpi4py is built against a different MPI than the "
            "mpirun/mpiexec that started the job; launch with the mpiexec of the MPI that "
            "mpi4py uses (with the `distributed` extra: the one in the environment's bin/)")
    _check_launch(backend, world_size, rank, comm.Get_size(), comm.Get_rank())
    from ._mpi import MPITransport

    transport = MPITransport(comm, MPI)
    if backend == "nccl":
        from ._nccl import NCCLTransport

        transport = NCCLTransport(transport)
    _GROUP[0] = ProcessGroup(backend, transport, seconds, range(transport.size))
    _GROUPS.clear()
    if abort_on_exception and transport.size > 1:
        sys.excepthook = _abort_on_uncaught(comm, sys.excepthook)


_GROUPS = []  # the groups new_group made, destroyed with the default one


def new_group(ranks=None, timeout=None, backend=None, pg_options=None,
              use_local_synchronization=False, group_desc=None, device_id=None):
    """A group of the global ranks ``ranks`` (None: all), with its own communicator. Every rank
    of the job must call it, with the same ``ranks``, in the same order as the other
    ``new_group`` calls; the ranks not in it get ``GroupMember.NON_GROUP_MEMBER``. In a group,
    ``src``/``dst`` arguments are global ranks (``group_src``/``group_dst``: ranks in the
    group), and ``get_rank(group)`` is the rank in the group.

    >>> evens = dist.new_group([0, 2])     # doctest: +SKIP
    >>> dist.all_reduce(t, group=evens)    # on ranks 0 and 2 only  # doctest: +SKIP
    """
    world = _group("new_group")
    if backend is not None and str(backend).lower() != world.backend:
        raise ValueError(f"new_group: backend {backend!r} differs from the default group's "
                         f"{world.backend!r}; a group uses the default group's backend here")
    members = list(range(world.size())) if ranks is None else sorted(int(r) for r in ranks)
    if len(set(members)) != len(members) or any(not 0 <= r < world.size() for r in members):
        raise ValueError(f"new_group: ranks must be distinct ranks in [0, {world.size()}), got "
                         f"{list(ranks)}")
    if not members:
        raise ValueError("new_group: ranks is empty")
    seconds = world.timeout if timeout is None else _as_seconds(timeout, "new_group")
    me = world.rank()
    sub = world.transport.split(me in members, me)
    if sub is None:
        return GroupMember.NON_GROUP_MEMBER
    g = ProcessGroup(world.backend, sub, seconds, members)
    _GROUPS.append(g)
    return g


def destroy_process_group(group=None):
    """Leave ``group`` (default: the default group, and with it every group ``new_group``
    made). MPI itself stays up until the process ends, as MPI can be started only once."""
    if group is GroupMember.NON_GROUP_MEMBER:
        return
    g = _group("destroy_process_group", group)
    if g is not _GROUP[0]:
        if g in _GROUPS:
            _GROUPS.remove(g)
        g.transport.close()
        g.transport = None
        return
    for sub in _GROUPS:
        sub.transport.close()
        sub.transport = None
    _GROUPS.clear()
    _GROUP[0] = None
    previous = getattr(sys.excepthook, "previous", None)
    if previous is not None:
        sys.excepthook = previous
    g.transport.close()


def is_initialized():
    return _GROUP[0] is not None


def is_mpi_available():
    """Whether the MPI backend can start (mpi4py and an MPI library)."""
    return is_available()


def is_nccl_available():
    """Whether CuPy with its NCCL bindings (and a GPU) is there."""
    from ..backend.device import cuda_available

    if not cuda_available():
        return False
    try:
        from cupy.cuda import nccl
    except ImportError:
        return False
    return bool(getattr(nccl, "available", True))


def is_gloo_available():
    """False: there is no Gloo here (``backend="gloo"`` runs on MPI)."""
    return False


def is_ucc_available():
    return False


def is_torchelastic_launched():
    """Whether torchrun started this process (its environment says so); tensorgrad's jobs
    start under MPI instead."""
    return "TORCHELASTIC_RUN_ID" in os.environ


def get_rank(group=None):
    """This process's rank in ``group`` (default: the default group, 0 to world size - 1);
    -1 on a rank not in ``group``."""
    g = _group("get_rank", group, warn=False)
    return -1 if g is None else g.rank()


def get_world_size(group=None):
    """The number of processes in ``group`` (default: the default group); -1 on a rank not
    in ``group``."""
    g = _group("get_world_size", group, warn=False)
    return -1 if g is None else g.size()


def get_backend(group=None):
    g = _group("get_backend", group)
    if g is None:
        raise ValueError("get_backend: this rank is not in the given group")
    return g.backend


def get_process_group_ranks(group):
    """The global ranks of ``group``'s members, in group-rank order."""
    g = _group("get_process_group_ranks", group)
    if g is None:
        raise ValueError("get_process_group_ranks: this rank is not in the given group")
    return list(g.ranks)


def get_global_rank(group, group_rank):
    """The global rank of ``group``'s member of rank ``group_rank``."""
    ranks = get_process_group_ranks(group)
    if not (isinstance(group_rank, int) and 0 <= group_rank < len(ranks)):
        raise ValueError(f"get_global_rank: group rank {group_rank!r} is not part of the group "
                         f"(size {len(ranks)})")
    return ranks[group_rank]


def get_group_rank(group, global_rank):
    """The rank in ``group`` of the process of global rank ``global_rank``."""
    ranks = get_process_group_ranks(group)
    if global_rank not in ranks:
        raise ValueError(f"get_group_rank: global rank {global_rank!r} is not part of the "
                         f"group (ranks {ranks})")
    return ranks.index(global_rank)


def _peer(g, who, rank, group_rank, arg):
    """The group rank meant by a global ``rank`` or a ``group_rank`` (PyTorch's ``src`` and
    ``group_src``); the default group's rank 0 when both are None."""
    if rank is not None and group_rank is not None:
        raise ValueError(f"{who}: give {arg} or group_{arg}, not both")
    if group_rank is not None:
        if not (isinstance(group_rank, int) and 0 <= group_rank < g.size()):
            raise ValueError(f"{who}: group_{arg} must be a rank in [0, {g.size()}), got "
                             f"{group_rank!r}")
        return group_rank
    rank = 0 if rank is None else rank
    if not isinstance(rank, int) or rank not in g.ranks:
        if g is _GROUP[0]:
            raise ValueError(f"{who}: {arg} must be a rank in [0, {g.size()}), got {rank!r}")
        raise ValueError(f"{who}: {arg}={rank!r} is not a global rank of the group (ranks "
                         f"{g.ranks})")
    return g.ranks.index(rank)


def _run(g, parts, what, async_op, then=None, outputs=()):
    work = Work(g, parts if isinstance(parts, list) else [parts], what, then, outputs)
    if async_op:
        return work
    work.wait()
    return None


def barrier(group=None, async_op=False, device_ids=None):
    """Wait until every rank of ``group`` has called ``barrier()``."""
    g = _group("barrier", group)
    if g is None:
        return None
    return _run(g, g.transport.barrier(), "barrier", async_op)


def monitored_barrier(group=None, timeout=None, wait_all_ranks=False):
    """A barrier that gives up after ``timeout`` (default: the group's) with a
    ``CollectiveTimeout`` naming this rank, instead of waiting the group's whole timeout."""
    g = _group("monitored_barrier", group)
    if g is None:
        return
    seconds = None if timeout is None else _as_seconds(timeout, "monitored_barrier")
    Work(g, [g.transport.barrier()], "monitored_barrier").wait(seconds)


def _raw_of(tensor, who, arg="tensor"):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{who}: {arg} must be a tensorgrad Tensor, got "
                        f"{type(tensor).__name__}")
    return tensor.data


def _contiguous(a):
    return a if a.flags.c_contiguous else xp_of(a).ascontiguousarray(a)


def _write_back(tensor, buf):
    """Put the result ``buf`` into ``tensor`` in place (a no-op when ``buf`` is its data), and
    count it as an in-place change, so that a graph that saved the tensor notices."""
    from ..autograd.graph import bump_version

    if buf is not tensor.data:
        tensor.data[...] = buf.reshape(tensor.data.shape)
    bump_version(tensor._vc)


def _check_op(op, dtype, who):
    if op not in _OPS:
        raise ValueError(f"{who}: op must be one of ReduceOp.SUM, MEAN, MAX, MIN, PRODUCT, got "
                         f"{op!r}")
    if op == "mean" and dtype.kind not in "fc":
        raise TypeError(f"{who}: ReduceOp.MEAN needs a floating tensor, got {dtype}; reduce "
                        "with SUM and divide, or convert the tensor first")
    if op in ("max", "min") and dtype.kind == "c":
        raise TypeError(f"{who}: ReduceOp.{op.upper()} is not defined for complex tensors "
                        f"({dtype})")


def _describe(a):
    return f"shape {tuple(a.shape)}, dtype {a.dtype} ({type(a).__module__.split('.')[0]})"


def _same(a, ref, who, arg, ref_arg="tensor", shape=None):
    """``a`` must have ``ref``'s dtype and array type, and ``shape`` (default: ``ref``'s)."""
    shape = tuple(ref.shape) if shape is None else tuple(shape)
    if tuple(a.shape) != shape or a.dtype != ref.dtype or type(a) is not type(ref):
        raise ValueError(f"{who}: {arg} has {_describe(a)}, but {ref_arg} has {_describe(ref)}"
                         + ("" if shape == tuple(ref.shape) else f"; {arg} must have shape "
                            f"{shape}") + "; they must match")


def _tensor_list(tensors, n, who, arg):
    if not isinstance(tensors, (list, tuple)) or len(tensors) != n:
        got = len(tensors) if isinstance(tensors, (list, tuple)) else type(tensors).__name__
        raise ValueError(f"{who}: {arg} must be a list of {n} tensors (the group's size), got "
                         f"{got}")
    return [_raw_of(t, who, f"{arg}[{i}]") for i, t in enumerate(tensors)]


def _like_list(g, who, ref, tensors, arg, ref_arg="tensor"):
    """``tensors``' raw arrays: a list of the group's size, each shaped like ``ref``."""
    parts = _tensor_list(tensors, g.size(), who, arg)
    for i, p in enumerate(parts):
        _same(p, ref, who, f"{arg}[{i}]", ref_arg)
    return parts


def _root_list(g, who, ref, tensors, root, arg, role):
    """``_like_list`` on the rank ``root``; None elsewhere, where no list may be given."""
    if g.rank() == root:
        return _like_list(g, who, ref, tensors, arg)
    if tensors:
        raise ValueError(f"{who}: {arg} must be empty or None on the ranks other than {role} "
                         f"(this is rank {g.rank()} of the group, {role} {root})")
    return None


def _mean_then(tensor, buf, op, size, lands=True):
    """What finishes a reduction into ``buf``: the mean's division and the write into
    ``tensor``, on a rank where the result lands (``lands``)."""
    def then():
        if lands:
            if op == "mean":
                buf[...] /= size
            _write_back(tensor, buf)
    return then


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``tensor`` over all ranks, in place: afterwards every rank holds the sum (or
    mean, max, min, product) of the tensors all ranks passed.

    >>> t = tg.ones(3) * (dist.get_rank() + 1)   # doctest: +SKIP
    >>> dist.all_reduce(t, op=dist.ReduceOp.SUM)  # doctest: +SKIP
    >>> t                                         # on 2 ranks  # doctest: +SKIP
    tensor([3., 3., 3.])
    """
    g = _group("all_reduce", group)
    if g is None:
        return None
    a = _raw_of(tensor, "all_reduce")
    _check_op(op, a.dtype, "all_reduce")
    buf = _contiguous(a)
    reduce_op = "sum" if op == "mean" else op
    return _run(g, g.transport.allreduce(buf, reduce_op), f"all_reduce({op})", async_op,
                _mean_then(tensor, buf, op, g.size()), [tensor])


def reduce(tensor, dst=None, op=ReduceOp.SUM, group=None, async_op=False, group_dst=None):
    """Reduce ``tensor`` over all ranks into rank ``dst``'s ``tensor`` (in place); the other
    ranks' tensors stay as they were."""
    g = _group("reduce", group)
    if g is None:
        return None
    a = _raw_of(tensor, "reduce")
    _check_op(op, a.dtype, "reduce")
    root = _peer(g, "reduce", dst, group_dst, "dst")
    buf = _contiguous(a)  # read on the other ranks, written on dst only
    work = g.transport.reduce(buf, "sum" if op == "mean" else op, root)
    return _run(g, work, f"reduce({op})", async_op,
                _mean_then(tensor, buf, op, g.size(), lands=g.rank() == root), [tensor])


def broadcast(tensor, src=None, group=None, async_op=False, group_src=None):
    """Copy rank ``src``'s ``tensor`` into ``tensor`` on every other rank, in place."""
    g = _group("broadcast", group)
    if g is None:
        return None
    a = _raw_of(tensor, "broadcast")
    root = _peer(g, "broadcast", src, group_src, "src")
    buf = _contiguous(a)
    return _run(g, g.transport.broadcast(buf, root), "broadcast", async_op,
                lambda: _write_back(tensor, buf), [tensor])


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """Fill ``tensor_list`` (world size tensors shaped like ``tensor``) with every rank's
    ``tensor``: ``tensor_list[r]`` receives rank ``r``'s."""
    g = _group("all_gather", group)
    if g is None:
        return None
    a = _raw_of(tensor, "all_gather")
    _like_list(g, "all_gather", a, tensor_list, "tensor_list")
    recv = xp_of(a).empty((g.size(),) + a.shape, dtype=a.dtype)

    def then():
        for t, part in zip(tensor_list, recv):
            _write_back(t, part)

    return _run(g, g.transport.allgather(_contiguous(a), recv), "all_gather", async_op, then,
                list(tensor_list))


def _stacked(out, a, n, who, arg, ref_arg):
    """``out`` is ``a`` of n ranks, concatenated along dim 0 or stacked on a new dim 0."""
    cat = (a.shape[0] * n,) + a.shape[1:] if a.ndim else (n,)
    if tuple(out.shape) not in (cat, (n,) + a.shape):
        _same(out, a, who, arg, ref_arg, shape=cat)
    _same(out, a, who, arg, ref_arg, shape=out.shape)


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """Every rank's ``input_tensor``, concatenated along dim 0 (``output_tensor`` of shape
    (world * n, ...)) or stacked ((world, n, ...)), in rank order."""
    g = _group("all_gather_into_tensor", group)
    if g is None:
        return None
    who = "all_gather_into_tensor"
    a = _raw_of(input_tensor, who, "input_tensor")
    out = _raw_of(output_tensor, who, "output_tensor")
    _stacked(out, a, g.size(), who, "output_tensor", "input_tensor")
    recv = _contiguous(out) if out.flags.c_contiguous else xp_of(a).empty(out.shape, a.dtype)
    work = g.transport.allgather(_contiguous(a), recv.reshape((g.size(),) + a.shape))
    return _run(g, work, who, async_op, lambda: _write_back(output_tensor, recv),
                [output_tensor])


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``input`` (world blocks along dim 0: shape (world * n, ...) or (world, n, ...))
    over all ranks; rank r's ``output`` receives block r of the result."""
    g = _group("reduce_scatter_tensor", group)
    if g is None:
        return None
    who = "reduce_scatter_tensor"
    a = _raw_of(input, who, "input")
    out = _raw_of(output, who, "output")
    _check_op(op, a.dtype, who)
    _stacked(a, out, g.size(), who, "input", "output")
    recv = xp_of(a).empty(out.shape, dtype=a.dtype)
    work = g.transport.reduce_scatter(_contiguous(a), recv, "sum" if op == "mean" else op)
    return _run(g, work, f"{who}({op})", async_op, _mean_then(output, recv, op, g.size()),
                [output])


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce over all ranks each of ``input_list``'s world size tensors; rank r's ``output``
    receives the reduction of everyone's ``input_list[r]``."""
    g = _group("reduce_scatter", group)
    if g is None:
        return None
    out = _raw_of(output, "reduce_scatter", "output")
    _check_op(op, out.dtype, "reduce_scatter")
    parts = _like_list(g, "reduce_scatter", out, input_list, "input_list", "output")
    send = xp_of(out).stack(parts)
    recv = xp_of(out).empty(out.shape, dtype=out.dtype)
    work = g.transport.reduce_scatter(send, recv, "sum" if op == "mean" else op)
    return _run(g, work, f"reduce_scatter({op})", async_op,
                _mean_then(output, recv, op, g.size()), [output])


def gather(tensor, gather_list=None, dst=None, group=None, async_op=False, group_dst=None):
    """Rank ``dst``'s ``gather_list`` (world size tensors shaped like ``tensor``) receives
    every rank's ``tensor``; the other ranks pass no ``gather_list``."""
    g = _group("gather", group)
    if g is None:
        return None
    a = _raw_of(tensor, "gather")
    root = _peer(g, "gather", dst, group_dst, "dst")
    recv = None
    if _root_list(g, "gather", a, gather_list, root, "gather_list", "dst") is not None:
        recv = xp_of(a).empty((g.size(),) + a.shape, dtype=a.dtype)

    def then():
        if recv is not None:
            for t, part in zip(gather_list, recv):
                _write_back(t, part)

    return _run(g, g.transport.gather(_contiguous(a), recv, root), "gather", async_op, then,
                list(gather_list or []))


def scatter(tensor, scatter_list=None, src=None, group=None, async_op=False, group_src=None):
    """Each rank's ``tensor`` receives its entry of rank ``src``'s ``scatter_list`` (world
    size tensors shaped like ``tensor``); the other ranks pass no ``scatter_list``."""
    g = _group("scatter", group)
    if g is None:
        return None
    a = _raw_of(tensor, "scatter")
    root = _peer(g, "scatter", src, group_src, "src")
    parts = _root_list(g, "scatter", a, scatter_list, root, "scatter_list", "src")
    send = None if parts is None else xp_of(a).stack(parts)
    recv = xp_of(a).empty(a.shape, dtype=a.dtype)
    return _run(g, g.transport.scatter(send, recv, root), "scatter", async_op,
                lambda: _write_back(tensor, recv), [tensor])


def _all_to_all(g, who, outs, ins, out_counts, in_counts, then_outputs, async_op, outputs):
    """Send the flat blocks of ``ins`` (``in_counts`` elements to each rank) and receive
    ``out_counts`` from each into a new array shaped like ``outs``, which ``then_outputs``
    hands on."""
    send = _contiguous(ins)
    recv = xp_of(ins).empty(outs.size, dtype=outs.dtype)
    work = g.transport.alltoallv(send.reshape(-1), in_counts, recv, out_counts)
    return _run(g, work, who, async_op, lambda: then_outputs(recv), outputs)


def all_to_all_single(output, input, output_split_sizes=None, input_split_sizes=None,
                      group=None, async_op=False):
    """Split ``input`` along dim 0 into one block per rank (equal blocks, or
    ``input_split_sizes`` rows each) and send block r to rank r; ``output`` receives the
    blocks of all ranks, in rank order (``output_split_sizes`` rows from each)."""
    g = _group("all_to_all_single", group)
    if g is None:
        return None
    who = "all_to_all_single"
    a = _raw_of(input, who, "input")
    out = _raw_of(output, who, "output")
    if a.ndim == 0 or out.ndim == 0:
        raise ValueError(f"{who}: input and output need a dim 0 to split, got input of "
                         f"{_describe(a)} and output of {_describe(out)}")
    _same(out, a, who, "output", "input", shape=out.shape[:1] + a.shape[1:])
    n, row = g.size(), _rows(a.shape[1:])
    counts = []
    for arg, sizes, rows in (("input_split_sizes", input_split_sizes, a.shape[0]),
                             ("output_split_sizes", output_split_sizes, out.shape[0])):
        if sizes is None or len(sizes) == 0:
            if rows % n:
                raise ValueError(f"{who}: {arg[:-12]} has {rows} rows, not divisible by the "
                                 f"group's size {n}; give {arg}")
            sizes = [rows // n] * n
        sizes = [int(s) for s in sizes]
        if len(sizes) != n or any(s < 0 for s in sizes) or sum(sizes) != rows:
            raise ValueError(f"{who}: {arg} must be {n} non-negative row counts summing to "
                             f"{rows}, got {list(sizes)}")
        counts.append([s * row for s in sizes])
    return _all_to_all(g, who, out, a, counts[1], counts[0],
                       lambda recv: _write_back(output, recv), async_op, [output])


def _rows(shape):
    n = 1
    for d in shape:
        n *= int(d)
    return n


def all_to_all(output_tensor_list, input_tensor_list, group=None, async_op=False):
    """Send ``input_tensor_list[r]`` to rank r; ``output_tensor_list[r]`` receives what rank
    r sent to this rank. Shapes may differ from rank to rank; dtypes and devices may not."""
    g = _group("all_to_all", group)
    if g is None:
        return None
    who = "all_to_all"
    ins = _tensor_list(input_tensor_list, g.size(), who, "input_tensor_list")
    outs = _tensor_list(output_tensor_list, g.size(), who, "output_tensor_list")
    ref = ins[0]
    for arg, parts in (("input_tensor_list", ins), ("output_tensor_list", outs)):
        for i, p in enumerate(parts):
            _same(p, ref, who, f"{arg}[{i}]", "input_tensor_list[0]", shape=p.shape)
    xp = xp_of(ref)
    flat = xp.concatenate([p.reshape(-1) for p in ins]) if ins else None
    total = xp.empty(sum(p.size for p in outs), dtype=ref.dtype)

    def then(recv):
        o = 0
        for t, p in zip(output_tensor_list, outs):
            _write_back(t, recv[o:o + p.size])
            o += p.size

    return _all_to_all(g, who, total, flat, [p.size for p in outs], [p.size for p in ins],
                       then, async_op, list(output_tensor_list))


# ---- point to point ------------------------------------------------------------------------
def _p2p(who, tensor, peer, group, tag, group_peer, arg):
    g = _group(who, group)
    if g is None:
        return None, None, None
    a = _raw_of(tensor, who)
    if peer is None and group_peer is None and who.endswith("recv"):
        return g, a, None
    if peer is None and group_peer is None:
        raise ValueError(f"{who}: give the peer's rank ({arg}=)")
    p = _peer(g, who, peer, group_peer, arg)
    if p == g.rank():
        raise ValueError(f"{who}: {arg} is this process's own rank ({g.ranks[p]}); a process "
                         "cannot send to or receive from itself")
    if not isinstance(tag, int) or tag < 0:
        raise ValueError(f"{who}: tag must be a non-negative int, got {tag!r}")
    return g, a, p


def isend(tensor, dst=None, group=None, tag=0, group_dst=None):
    """Start sending ``tensor`` to rank ``dst``; returns a ``Work`` (``wait()`` before
    changing ``tensor``)."""
    g, a, p = _p2p("isend", tensor, dst, group, tag, group_dst, "dst")
    if g is None:
        return None
    return Work(g, [g.transport.send(_contiguous(a), p, tag)], f"isend(to {g.ranks[p]})")


def irecv(tensor, src=None, group=None, tag=0, group_src=None):
    """Start receiving into ``tensor`` from rank ``src`` (None: any rank); returns a
    ``Work``."""
    g, a, p = _p2p("irecv", tensor, src, group, tag, group_src, "src")
    if g is None:
        return None
    buf = _contiguous(a)
    part = g.transport.recv(buf, p, tag)
    work = Work(g, [part], f"irecv(from {'any rank' if p is None else g.ranks[p]})",
                lambda: _write_back(tensor, buf), [tensor])
    work._source = part
    return work


def send(tensor, dst=None, group=None, tag=0, group_dst=None):
    """Send ``tensor`` to rank ``dst`` (which calls ``recv``); returns once sent."""
    work = isend(tensor, dst, group, tag, group_dst)
    if work is not None:
        work.wait()


def recv(tensor, src=None, group=None, tag=0, group_src=None):
    """Receive into ``tensor`` from rank ``src`` (None: any rank); returns the sender's
    global rank (-1 on a rank not in ``group``)."""
    work = irecv(tensor, src, group, tag, group_src)
    if work is None:
        return -1
    work.wait()
    return work._group.ranks[work._source.source]


class P2POp:
    """One send or receive of ``batch_isend_irecv``: ``P2POp(dist.isend, tensor, peer)`` or
    ``P2POp(dist.irecv, tensor, peer)``."""

    def __init__(self, op, tensor, peer=None, group=None, tag=0, group_peer=None):
        if op not in (isend, irecv):
            raise ValueError(f"P2POp: op must be tensorgrad.distributed.isend or irecv, got "
                             f"{op!r}")
        self.op, self.tensor, self.peer = op, tensor, peer
        self.group, self.tag, self.group_peer = group, tag, group_peer

    def __repr__(self):
        return f"P2POp({self.op.__name__}, peer={self.peer}, tag={self.tag})"


def batch_isend_irecv(p2p_op_list):
    """Start every ``P2POp`` of the list; returns their ``Work`` objects to wait for."""
    if not isinstance(p2p_op_list, (list, tuple)) or not all(
            isinstance(op, P2POp) for op in p2p_op_list):
        raise TypeError("batch_isend_irecv: p2p_op_list must be a list of P2POp")
    works = [op.op(op.tensor, op.peer, op.group, op.tag, op.group_peer) for op in p2p_op_list]
    return [w for w in works if w is not None]


# ---- Python objects ------------------------------------------------------------------------
# pickled to bytes, which travel as uint8 host arrays over MPI (through the NCCL backend's MPI
# transport too): first the sizes, then the bytes padded to the largest
def _host_transport(g):
    return getattr(g.transport, "mpi", g.transport)


def _pickled(obj):
    import pickle

    return np.frombuffer(pickle.dumps(obj), dtype=np.uint8)


def _unpickled(buf, n):
    import pickle

    return pickle.loads(buf[:n].tobytes())


def all_gather_object(object_list, obj, group=None):
    """Fill ``object_list`` (world size entries) with every rank's ``obj`` (any picklable
    object), in rank order."""
    g = _group("all_gather_object", group)
    if g is None:
        return
    _object_list(object_list, g.size(), "all_gather_object")
    t, mine = _host_transport(g), _pickled(obj)
    sizes = np.empty(g.size(), dtype=np.int64)
    g.wait(t.allgather(np.array([mine.size]), sizes.reshape(-1, 1)), "all_gather_object")
    send = np.zeros(int(sizes.max()), dtype=np.uint8)
    send[:mine.size] = mine
    recv = np.empty((g.size(), send.size), dtype=np.uint8)
    g.wait(t.allgather(send, recv), "all_gather_object")
    object_list[:] = [_unpickled(recv[r], int(sizes[r])) for r in range(g.size())]


def gather_object(obj, object_gather_list=None, dst=None, group=None, group_dst=None):
    """Rank ``dst``'s ``object_gather_list`` (world size entries) receives every rank's
    ``obj``; the other ranks pass None."""
    g = _group("gather_object", group)
    if g is None:
        return
    root = _peer(g, "gather_object", dst, group_dst, "dst")
    at_root = g.rank() == root
    if at_root:
        _object_list(object_gather_list, g.size(), "gather_object", "object_gather_list")
    t, mine = _host_transport(g), _pickled(obj)
    sizes = np.empty(g.size(), dtype=np.int64)
    g.wait(t.allgather(np.array([mine.size]), sizes.reshape(-1, 1)), "gather_object")
    send = np.zeros(int(sizes.max()), dtype=np.uint8)
    send[:mine.size] = mine
    recv = np.empty((g.size(), send.size), dtype=np.uint8) if at_root else None
    g.wait(t.gather(send, recv, root), "gather_object")
    if at_root:
        object_gather_list[:] = [_unpickled(recv[r], int(sizes[r])) for r in range(g.size())]


def broadcast_object_list(object_list, src=None, group=None, device=None, group_src=None):
    """Replace the entries of every rank's ``object_list`` with rank ``src``'s (the lists have
    the same length everywhere)."""
    g = _group("broadcast_object_list", group)
    if g is None:
        return
    root = _peer(g, "broadcast_object_list", src, group_src, "src")
    if not isinstance(object_list, list):
        raise TypeError(f"broadcast_object_list: object_list must be a list, got "
                        f"{type(object_list).__name__}")
    t = _host_transport(g)
    mine = [_pickled(o) for o in object_list] if g.rank() == root else []
    sizes = np.array([m.size for m in mine] if mine else [0] * len(object_list), dtype=np.int64)
    g.wait(t.broadcast(sizes, root), "broadcast_object_list")
    data = np.concatenate(mine) if mine else np.empty(int(sizes.sum()), dtype=np.uint8)
    g.wait(t.broadcast(data, root), "broadcast_object_list")
    if g.rank() != root:
        o = 0
        for i, n in enumerate(sizes):
            object_list[i] = _unpickled(data[o:], int(n))
            o += int(n)


def scatter_object_list(scatter_object_output_list, scatter_object_input_list=None, src=None,
                        group=None, group_src=None):
    """Each rank's ``scatter_object_output_list[0]`` receives its entry of rank ``src``'s
    ``scatter_object_input_list`` (world size objects)."""
    g = _group("scatter_object_list", group)
    if g is None:
        return
    who = "scatter_object_list"
    root = _peer(g, who, src, group_src, "src")
    if not isinstance(scatter_object_output_list, list) or not scatter_object_output_list:
        raise ValueError(f"{who}: scatter_object_output_list must be a non-empty list (its "
                         "first entry receives the object)")
    t = _host_transport(g)
    if g.rank() == root:
        _object_list(scatter_object_input_list, g.size(), who, "scatter_object_input_list")
        parts = [_pickled(o) for o in scatter_object_input_list]
        sizes = np.array([p.size for p in parts], dtype=np.int64)
    else:
        sizes = np.empty(g.size(), dtype=np.int64)
    g.wait(t.broadcast(sizes, root), "scatter_object_list")
    width = int(sizes.max())
    send = None
    if g.rank() == root:
        send = np.zeros((g.size(), width), dtype=np.uint8)
        for r, p in enumerate(parts):
            send[r, :p.size] = p
    recv = np.empty(width, dtype=np.uint8)
    g.wait(t.scatter(send, recv, root), "scatter_object_list")
    scatter_object_output_list[0] = _unpickled(recv, int(sizes[g.rank()]))


def _object_list(objects, n, who, arg="object_list"):
    if not isinstance(objects, list) or len(objects) != n:
        got = len(objects) if isinstance(objects, list) else type(objects).__name__
        raise ValueError(f"{who}: {arg} must be a list of {n} entries (the group's size), got "
                         f"{got}")
