"""``cupy.cuda.nccl`` of the stand-in: NCCL communicators of one rank, or of several processes.

Only what ``tensorgrad.distributed._nccl`` calls, under CuPy 14's names and signatures (from
CuPy's ``cupy_backends/cuda/libs/nccl.pyx`` and ``nccl.pxd``; ``cupy_names.json`` has no list for
this module yet, see README.md): ``available``, ``get_unique_id()`` (128 bytes since CuPy 14.0;
a tuple of ints before), ``NcclCommunicator(ndev, commId, rank)`` with ``allReduce``, ``reduce``,
``bcast``, ``allGather``, ``reduceScatter``, ``send`` and ``recv`` on raw device pointers and
``destroy()``, ``groupStart()``/``groupEnd()``, ``NcclError``, the reductions and the data
types. A communicator of one rank copies the send buffer into the receive buffer; one of several
ranks (processes started by ``mpiexec``, mpi4py installed) runs each collective over MPI on the
bytes the device pointers address. Sends and receives are taken only inside
``groupStart``/``groupEnd`` (tensorgrad groups them all) and run at ``groupEnd``: to the rank
itself paired in order, to others over MPI.
Pointers are not trusted: each must lie in a live stand-in array on the communicator's device,
with ``count`` elements of the data type in it, or the call raises ``NcclError`` (where real
NCCL would read or write out of bounds).
"""

import os
import shutil
import tempfile
import time

import numpy as np

from . import _core

available = True

NCCL_SUM, NCCL_PROD, NCCL_MAX, NCCL_MIN = 0, 1, 2, 3
NCCL_INT8, NCCL_UINT8, NCCL_INT32, NCCL_UINT32 = 0, 1, 2, 3
NCCL_INT64, NCCL_UINT64, NCCL_FLOAT16, NCCL_FLOAT32, NCCL_FLOAT64 = 4, 5, 6, 7, 8

_ITEMSIZE = {NCCL_INT8: 1, NCCL_UINT8: 1, NCCL_INT32: 4, NCCL_UINT32: 4, NCCL_INT64: 8,
             NCCL_UINT64: 8, NCCL_FLOAT16: 2, NCCL_FLOAT32: 4, NCCL_FLOAT64: 8}
_OPS = (NCCL_SUM, NCCL_PROD, NCCL_MAX, NCCL_MIN)
_UNIQUE_ID_BYTES = 128


class NcclError(RuntimeError):
    def __init__(self, status, why=""):
        self.status = status
        super().__init__(f"NCCL_ERROR_INVALID_ARGUMENT: invalid argument (stand-in: {why})")


def get_unique_id():
    return os.urandom(_UNIQUE_ID_BYTES)


_GROUP = {"depth": 0, "sends": [], "recvs": []}


def groupStart():
    _GROUP["depth"] += 1


def groupEnd():
    if _GROUP["depth"] == 0:
        raise NcclError(4, "groupEnd without groupStart")
    _GROUP["depth"] -= 1
    if _GROUP["depth"]:
        return
    sends, recvs = _GROUP["sends"], _GROUP["recvs"]
    _GROUP["sends"], _GROUP["recvs"] = [], []
    # to this rank itself: paired in order
    own_sends = [m for c, p, m in sends if p == c._rank]
    own_recvs = [m for c, p, m in recvs if p == c._rank]
    if len(own_sends) != len(own_recvs):
        raise NcclError(4, f"groupEnd: {len(own_sends)} sends to this rank itself but "
                           f"{len(own_recvs)} receives from it (a real NCCL would hang)")
    for send, recv in zip(own_sends, own_recvs):
        if send.size != recv.size:
            raise NcclError(4, f"groupEnd: a send of {send.size} bytes meets a receive of "
                               f"{recv.size}")
        recv[...] = send
    # to other ranks: over MPI, all started before any is waited for, as NCCL's group runs
    # them together
    requests = [c._mpi.Isend(m.copy(), dest=p, tag=7) for c, p, m in sends if p != c._rank]
    requests += [c._mpi.Irecv(m, source=p, tag=7) for c, p, m in recvs if p != c._rank]
    if requests:
        from mpi4py import MPI

        MPI.Request.Waitall(requests)


def _memory(ptr, nbytes, device, what, writable=False):
    """The bytes [ptr, ptr + nbytes) as a NumPy view, if a live stand-in array on ``device``
    holds them."""
    if not isinstance(ptr, int) or ptr == 0:
        raise NcclError(4, f"{what}: {ptr!r} is not a device pointer")
    for ref in reversed(_core._live):
        s = ref()
        if s is None or not s._a.flags.c_contiguous:
            continue
        start = s._a.__array_interface__["data"][0]
        if start <= ptr and ptr + nbytes <= start + s._a.nbytes:
            if s._dev != device:
                raise NcclError(4, f"{what}: the buffer is on device {s._dev}, the "
                                   f"communicator on device {device}")
            if writable and not s._a.flags.writeable:
                continue
            flat = s._a.reshape(-1).view(np.uint8)
            return flat[ptr - start:ptr - start + nbytes]
    raise NcclError(4, f"{what}: no live stand-in array holds {nbytes} bytes at 0x{ptr:x}")


_NP_TYPE = {NCCL_INT8: np.int8, NCCL_UINT8: np.uint8, NCCL_INT32: np.int32,
            NCCL_UINT32: np.uint32, NCCL_INT64: np.int64, NCCL_UINT64: np.uint64,
            NCCL_FLOAT16: np.float16, NCCL_FLOAT32: np.float32, NCCL_FLOAT64: np.float64}


def _rendezvous(commId, ndev, rank):
    """An MPI communicator of the ``ndev`` processes that make an NcclCommunicator of this id,
    ordered by their NCCL rank: each writes its MPI rank into a folder named after the id and
    waits for the others' (only the members take part, as in NCCL's own bootstrap), then
    ``MPI_Comm_create_group`` over them."""
    from mpi4py import MPI

    world = MPI.COMM_WORLD
    folder = os.path.join(tempfile.gettempdir(), "standin-nccl-" + commId[:16].hex())
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f"{rank}.tmp")
    with open(tmp, "w") as f:
        f.write(str(world.Get_rank()))
    os.replace(tmp, os.path.join(folder, str(rank)))
    deadline = time.monotonic() + 60
    while not all(os.path.exists(os.path.join(folder, str(r))) for r in range(ndev)):
        if time.monotonic() > deadline:
            raise NcclError(4, f"NcclCommunicator: only some of the {ndev} ranks arrived in 60 s")
        time.sleep(0.002)
    members = []
    for r in range(ndev):
        with open(os.path.join(folder, str(r))) as f:
            members.append(int(f.read()))
    comm = world.Create_group(world.Get_group().Incl(members),
                              tag=int.from_bytes(commId[:2], "little") % 32768)
    comm.Barrier()
    if rank == 0:
        shutil.rmtree(folder, ignore_errors=True)
    return comm


class NcclCommunicator:
    """An NCCL communicator on the current device: of one rank (``ndev == 1``) in this process,
    or, under MPI (``mpiexec`` and mpi4py, as tests/test_distributed_collectives.py runs the
    nccl job), of ``ndev`` processes whose collectives and sends run over MPI on the bytes the
    device pointers address."""

    def __init__(self, ndev, commId, rank):
        if not isinstance(commId, bytes):
            raise TypeError(f"Argument 'commId' has incorrect type (expected bytes, got "
                            f"{type(commId).__name__})")
        if len(commId) != _UNIQUE_ID_BYTES:
            raise ValueError(f"commId length {len(commId)} != {_UNIQUE_ID_BYTES}.")
        if not (isinstance(ndev, int) and ndev >= 1 and isinstance(rank, int)
                and 0 <= rank < ndev):
            raise NcclError(4, f"rank {rank} of a communicator of {ndev}")
        self._ndev = ndev
        self._rank = rank
        self._mpi = _rendezvous(commId, ndev, rank) if ndev > 1 else None
        self._device = _core._local.device
        self._live_comm = True

    def _args(self, count, datatype, stream, what):
        if not self._live_comm:
            raise NcclError(4, f"{what} on a destroyed communicator")
        if datatype not in _ITEMSIZE:
            raise NcclError(4, f"{what}: unknown datatype {datatype!r}")
        if not isinstance(stream, int) or not isinstance(count, int) or count < 0:
            raise TypeError(f"{what}: count and stream must be ints")
        return count * _ITEMSIZE[datatype]

    def _op(self, op, what):
        if op not in _OPS:
            raise NcclError(4, f"{what}: unknown op {op!r}")
        if self._mpi is None:
            return op  # one rank: no reduction happens (and mpi4py may be missing)
        from mpi4py import MPI

        return {NCCL_SUM: MPI.SUM, NCCL_PROD: MPI.PROD, NCCL_MAX: MPI.MAX,
                NCCL_MIN: MPI.MIN}[op]

    def _root(self, root, what):
        if not (isinstance(root, int) and 0 <= root < self._ndev):
            raise NcclError(4, f"{what}: root {root} of a communicator of {self._ndev}")

    def _mem(self, ptr, nbytes, what, datatype, writable=False):
        return _memory(ptr, nbytes, self._device, what, writable).view(_NP_TYPE[datatype])

    def allReduce(self, sendbuf, recvbuf, count, datatype, op, stream):
        nbytes = self._args(count, datatype, stream, "allReduce")
        mpi_op = self._op(op, "allReduce")
        send = self._mem(sendbuf, nbytes, "allReduce send buffer", datatype)
        recv = self._mem(recvbuf, nbytes, "allReduce receive buffer", datatype, True)
        if self._mpi is None:
            recv[...] = send
        elif sendbuf == recvbuf:
            from mpi4py import MPI

            self._mpi.Allreduce(MPI.IN_PLACE, recv, op=mpi_op)
        else:
            self._mpi.Allreduce(send, recv, op=mpi_op)

    def bcast(self, buff, count, datatype, root, stream):
        nbytes = self._args(count, datatype, stream, "bcast")
        self._root(root, "bcast")
        buf = _memory(buff, nbytes, self._device, "bcast buffer", True)
        if self._mpi is not None:
            self._mpi.Bcast(buf, root=root)

    def allGather(self, sendbuf, recvbuf, count, datatype, stream):
        nbytes = self._args(count, datatype, stream, "allGather")
        send = _memory(sendbuf, nbytes, self._device, "allGather send buffer")
        recv = _memory(recvbuf, nbytes * self._ndev, self._device, "allGather receive buffer",
                       True)
        if self._mpi is None:
            recv[...] = send
        else:
            self._mpi.Allgather(send.copy(), recv)

    def reduce(self, sendbuf, recvbuf, count, datatype, op, root, stream):
        nbytes = self._args(count, datatype, stream, "reduce")
        mpi_op = self._op(op, "reduce")
        self._root(root, "reduce")
        send = self._mem(sendbuf, nbytes, "reduce send buffer", datatype)
        if self._mpi is None:
            self._mem(recvbuf, nbytes, "reduce receive buffer", datatype, True)[...] = send
            return
        if self._rank != root:
            self._mpi.Reduce(send.copy(), None, op=mpi_op, root=root)
            return
        recv = self._mem(recvbuf, nbytes, "reduce receive buffer", datatype, True)
        if sendbuf == recvbuf:
            from mpi4py import MPI

            self._mpi.Reduce(MPI.IN_PLACE, recv, op=mpi_op, root=root)
        else:
            self._mpi.Reduce(send.copy(), recv, op=mpi_op, root=root)

    def reduceScatter(self, sendbuf, recvbuf, recvcount, datatype, op, stream):
        nbytes = self._args(recvcount, datatype, stream, "reduceScatter")
        mpi_op = self._op(op, "reduceScatter")
        send = self._mem(sendbuf, nbytes * self._ndev, "reduceScatter send buffer", datatype)
        recv = self._mem(recvbuf, nbytes, "reduceScatter receive buffer", datatype, True)
        if self._mpi is None:
            recv[...] = send
        else:
            self._mpi.Reduce_scatter_block(send.copy(), recv, op=mpi_op)

    def _p2p(self, buf, count, datatype, peer, stream, what, writable):
        nbytes = self._args(count, datatype, stream, what)
        if not (isinstance(peer, int) and 0 <= peer < self._ndev):
            raise NcclError(4, f"{what}: peer {peer} of a communicator of {self._ndev}")
        if not _GROUP["depth"]:
            raise NcclError(4, f"{what} outside groupStart/groupEnd (tensorgrad groups every "
                               "send and receive; a lone one to itself would hang NCCL)")
        return _memory(buf, nbytes, self._device, f"{what} buffer", writable)

    def send(self, sendbuf, count, datatype, peer, stream):
        mem = self._p2p(sendbuf, count, datatype, peer, stream, "send", False)
        _GROUP["sends"].append((self, peer, mem))

    def recv(self, recvbuf, count, datatype, peer, stream):
        mem = self._p2p(recvbuf, count, datatype, peer, stream, "recv", True)
        _GROUP["recvs"].append((self, peer, mem))

    def destroy(self):
        self._live_comm = False
        if self._mpi is not None:
            self._mpi.Free()
            self._mpi = None


NCCL_NAMES = {
    "available": available, "get_unique_id": get_unique_id, "groupStart": groupStart,
    "groupEnd": groupEnd,
    "NcclCommunicator": NcclCommunicator, "NcclError": NcclError,
    "NCCL_SUM": NCCL_SUM, "NCCL_PROD": NCCL_PROD, "NCCL_MAX": NCCL_MAX, "NCCL_MIN": NCCL_MIN,
    "NCCL_INT8": NCCL_INT8, "NCCL_UINT8": NCCL_UINT8, "NCCL_INT32": NCCL_INT32,
    "NCCL_UINT32": NCCL_UINT32, "NCCL_INT64": NCCL_INT64, "NCCL_UINT64": NCCL_UINT64,
    "NCCL_FLOAT16": NCCL_FLOAT16, "NCCL_FLOAT32": NCCL_FLOAT32, "NCCL_FLOAT64": NCCL_FLOAT64,
}
