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

from ..backend.device import xp_of
from ..tensor import Tensor

__all__ = ["ReduceOp", "init_process_group", "destroy_process_group", "is_initialized",
           "is_available", "get_rank", "get_world_size", "get_backend", "barrier", "all_reduce",
           "broadcast", "all_gather", "CollectiveTimeout"]

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


def _as_seconds(timeout):
    if timeout is None:
        env = os.environ.get("TENSORGRAD_DIST_TIMEOUT")
        return float(env) if env else DEFAULT_TIMEOUT
    if isinstance(timeout, datetime.timedelta):
        timeout = timeout.total_seconds()
    timeout = float(timeout)
    if not timeout > 0:
        raise ValueError(f"init_process_group: timeout must be positive seconds (or a "
                         f"timedelta), got {timeout!r}")
    return timeout


class CollectiveTimeout(RuntimeError):
    """A collective waited longer than the group's timeout (some rank never joined it)."""


class _Group:
    """The state behind the module's functions: a transport, rank, size, timeout."""

    def __init__(self, backend, transport, timeout):
        self.backend = backend
        self.transport = transport
        self.rank = transport.rank
        self.size = transport.size
        self.timeout = timeout

    def wait(self, work, what):
        """Finish ``work``, polling it so that a rank that never comes ends in an error rather
        than a hang. The first polls spin (small messages finish in microseconds); then the
        waits between polls grow to 1 ms, leaving the cores to the other ranks."""
        deadline = None
        pause = 0.0
        spins = 0
        while not work.test():
            spins += 1
            if spins < 200:
                continue
            now = time.monotonic()
            if deadline is None:
                deadline = now + self.timeout
            elif now > deadline:
                raise CollectiveTimeout(
                    f"{what}: rank {self.rank} of {self.size} waited {self.timeout:g} s for the "
                    f"other ranks ({self.backend} backend); some rank did not reach this "
                    "collective (it failed, hangs, or runs different code)")
            time.sleep(pause)
            pause = min(pause + 5e-5, 1e-3)
        work.finish()


def _group(who):
    g = _GROUP[0]
    if g is None:
        raise RuntimeError(f"{who}: the default process group is not initialized; call "
                           "tensorgrad.distributed.init_process_group('mpi' or 'nccl') first")
    return g


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


def init_process_group(backend="mpi", timeout=None, abort_on_exception=True):
    """Join the processes of this job into the default group.

    ``backend`` is ``"mpi"`` or ``"nccl"``. Rank and world size come from the launcher, through
    MPI (``mpirun``/``mpiexec``/``srun``); a script started alone is rank 0 of 1 (with
    ``"nccl"`` it then runs without mpi4py too). ``timeout``
    (seconds or a ``timedelta``; default ``$TENSORGRAD_DIST_TIMEOUT`` or 1800) bounds the wait
    in every collective. With ``abort_on_exception`` (default) and more than one process, an
    uncaught exception on any rank aborts the whole job instead of leaving the others hanging.

    >>> import tensorgrad.distributed as dist
    >>> dist.init_process_group("mpi")          # doctest: +SKIP
    >>> dist.get_rank(), dist.get_world_size()  # doctest: +SKIP
    (0, 2)
    """
    if _GROUP[0] is not None:
        raise RuntimeError("init_process_group: the default process group is already "
                           "initialized; call destroy_process_group() first")
    if backend not in ("mpi", "nccl"):
        raise ValueError(f"init_process_group: backend must be 'mpi' or 'nccl', got "
                         f"{backend!r}")
    seconds = _as_seconds(timeout)
    expected, var = _launcher_world_size()
    try:
        MPI = _import_mpi()
    except ImportError as e:
        if expected not in (None, 1):
            raise ImportError(f"init_process_group({backend!r}): the launcher started {expected} "
                              f"processes ({var}), and {e}") from e
        if backend == "mpi":
            raise
        from . import _single as MPI  # one process: NCCL needs no MPI to find its peers
    comm = MPI.COMM_WORLD
    if expected is not None and expected != comm.Get_size():
        raise RuntimeError(
            f"init_process_group: the launcher started {expected} processes ({var}) but MPI "
            f"sees {comm.Get_size()}: mpi4py is built against a different MPI than the "
            "mpirun/mpiexec that started the job; launch with the mpiexec of the MPI that "
            "mpi4py uses (with the `distributed` extra: the one in the environment's bin/)")
    from ._mpi import MPITransport

    transport = MPITransport(comm, MPI)
    if backend == "nccl":
        from ._nccl import NCCLTransport

        transport = NCCLTransport(transport)
    _GROUP[0] = _Group(backend, transport, seconds)
    if abort_on_exception and transport.size > 1:
        sys.excepthook = _abort_on_uncaught(comm, sys.excepthook)


def destroy_process_group():
    """Leave the default group (MPI itself stays up until the process ends, as MPI can be
    started only once per process)."""
    g = _group("destroy_process_group")
    _GROUP[0] = None
    previous = getattr(sys.excepthook, "previous", None)
    if previous is not None:
        sys.excepthook = previous
    g.transport.close()


def is_initialized():
    return _GROUP[0] is not None


def get_rank():
    """This process's rank in the default group, 0 to world size - 1."""
    return _group("get_rank").rank


def get_world_size():
    """The number of processes in the default group."""
    return _group("get_world_size").size


def get_backend():
    return _group("get_backend").backend


def barrier():
    """Wait until every rank has called ``barrier()``."""
    g = _group("barrier")
    g.wait(g.transport.barrier(), "barrier")


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
        tensor.data[...] = buf
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


def all_reduce(tensor, op=ReduceOp.SUM):
    """Reduce ``tensor`` over all ranks, in place: afterwards every rank holds the sum (or
    mean, max, min, product) of the tensors all ranks passed.

    >>> t = tg.ones(3) * (dist.get_rank() + 1)   # doctest: +SKIP
    >>> dist.all_reduce(t, op=dist.ReduceOp.SUM)  # doctest: +SKIP
    >>> t                                         # on 2 ranks  # doctest: +SKIP
    tensor([3., 3., 3.])
    """
    g = _group("all_reduce")
    a = _raw_of(tensor, "all_reduce")
    _check_op(op, a.dtype, "all_reduce")
    buf = _contiguous(a)
    reduce_op = "sum" if op == "mean" else op
    g.wait(g.transport.allreduce(buf, reduce_op), f"all_reduce({op})")
    if op == "mean":
        buf /= g.size
    _write_back(tensor, buf)


def broadcast(tensor, src=0):
    """Copy rank ``src``'s ``tensor`` into ``tensor`` on every other rank, in place."""
    g = _group("broadcast")
    a = _raw_of(tensor, "broadcast")
    if not (isinstance(src, int) and 0 <= src < g.size):
        raise ValueError(f"broadcast: src must be a rank in [0, {g.size}), got {src!r}")
    buf = _contiguous(a)
    g.wait(g.transport.broadcast(buf, src), "broadcast")
    _write_back(tensor, buf)


def all_gather(tensor_list, tensor):
    """Fill ``tensor_list`` (world size tensors shaped like ``tensor``) with every rank's
    ``tensor``: ``tensor_list[r]`` receives rank ``r``'s."""
    g = _group("all_gather")
    a = _raw_of(tensor, "all_gather")
    if not isinstance(tensor_list, (list, tuple)) or len(tensor_list) != g.size:
        n = len(tensor_list) if isinstance(tensor_list, (list, tuple)) else type(tensor_list)
        raise ValueError(f"all_gather: tensor_list must be a list of world size ({g.size}) "
                         f"tensors, got {n}")
    for i, t in enumerate(tensor_list):
        out = _raw_of(t, "all_gather", f"tensor_list[{i}]")
        if out.shape != a.shape or out.dtype != a.dtype or type(out) is not type(a):
            raise ValueError(f"all_gather: tensor_list[{i}] has shape {tuple(out.shape)} and "
                             f"dtype {out.dtype} ({type(out).__module__}), but tensor has "
                             f"shape {tuple(a.shape)} and dtype {a.dtype} "
                             f"({type(a).__module__}); they must match")
    send = _contiguous(a)
    recv = xp_of(a).empty((g.size,) + a.shape, dtype=a.dtype)
    g.wait(g.transport.allgather(send, recv), "all_gather")
    for t, part in zip(tensor_list, recv):
        _write_back(t, part)
