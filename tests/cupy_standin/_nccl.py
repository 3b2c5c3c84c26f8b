"""``cupy.cuda.nccl`` of the stand-in: an NCCL communicator of one rank.

Only what ``tensorgrad.distributed._nccl`` calls, under CuPy 14's names and signatures (from
CuPy's ``cupy_backends/cuda/libs/nccl.pyx`` and ``nccl.pxd``; ``cupy_names.json`` has no list for
this module yet, see README.md): ``available``, ``get_unique_id()`` (128 bytes since CuPy 14.0;
a tuple of ints before), ``NcclCommunicator(ndev, commId, rank)`` with ``allReduce``, ``reduce``,
``bcast``, ``allGather``, ``reduceScatter``, ``send`` and ``recv`` on raw device pointers and
``destroy()``, ``groupStart()``/``groupEnd()``, ``NcclError``, the reductions and the data
types. A world of one rank is all one process can model, so ``ndev`` must be 1; a collective of
one rank copies the send buffer into the receive buffer; sends and receives (to and from rank
0, itself) pair up in order at ``groupEnd``, as NCCL allows them only inside a group.
Pointers are not trusted: each must lie in a live stand-in array on the communicator's device,
with ``count`` elements of the data type in it, or the call raises ``NcclError`` (where real
NCCL would read or write out of bounds).
"""

import os

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
    if len(sends) != len(recvs):
        raise NcclError(4, f"groupEnd: {len(sends)} sends to rank 0 but {len(recvs)} receives "
                           "from it (a real NCCL would hang)")
    for send, recv in zip(sends, recvs):
        if send.size != recv.size:
            raise NcclError(4, f"groupEnd: a send of {send.size} bytes meets a receive of "
                               f"{recv.size}")
        recv[...] = send


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


class NcclCommunicator:
    """An NCCL communicator of one rank (``ndev == 1``) on the current device."""

    def __init__(self, ndev, commId, rank):
        if not isinstance(commId, bytes):
            raise TypeError(f"Argument 'commId' has incorrect type (expected bytes, got "
                            f"{type(commId).__name__})")
        if len(commId) != _UNIQUE_ID_BYTES:
            raise ValueError(f"commId length {len(commId)} != {_UNIQUE_ID_BYTES}.")
        if ndev != 1:
            raise NotImplementedError("stand-in: NcclCommunicator models one rank (ndev=1)")
        if rank != 0:
            raise NcclError(4, f"rank {rank} of a communicator of {ndev}")
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

    def allReduce(self, sendbuf, recvbuf, count, datatype, op, stream):
        nbytes = self._args(count, datatype, stream, "allReduce")
        if op not in _OPS:
            raise NcclError(4, f"allReduce: unknown op {op!r}")
        send = _memory(sendbuf, nbytes, self._device, "allReduce send buffer")
        _memory(recvbuf, nbytes, self._device, "allReduce receive buffer", True)[...] = send

    def bcast(self, buff, count, datatype, root, stream):
        nbytes = self._args(count, datatype, stream, "bcast")
        if root != 0:
            raise NcclError(4, f"bcast: root {root} of a communicator of 1")
        _memory(buff, nbytes, self._device, "bcast buffer", True)

    def allGather(self, sendbuf, recvbuf, count, datatype, stream):
        nbytes = self._args(count, datatype, stream, "allGather")
        send = _memory(sendbuf, nbytes, self._device, "allGather send buffer")
        _memory(recvbuf, nbytes, self._device, "allGather receive buffer", True)[...] = send

    def reduce(self, sendbuf, recvbuf, count, datatype, op, root, stream):
        nbytes = self._args(count, datatype, stream, "reduce")
        if op not in _OPS:
            raise NcclError(4, f"reduce: unknown op {op!r}")
        if root != 0:
            raise NcclError(4, f"reduce: root {root} of a communicator of 1")
        send = _memory(sendbuf, nbytes, self._device, "reduce send buffer")
        _memory(recvbuf, nbytes, self._device, "reduce receive buffer", True)[...] = send

    def reduceScatter(self, sendbuf, recvbuf, recvcount, datatype, op, stream):
        nbytes = self._args(recvcount, datatype, stream, "reduceScatter")
        if op not in _OPS:
            raise NcclError(4, f"reduceScatter: unknown op {op!r}")
        send = _memory(sendbuf, nbytes, self._device, "reduceScatter send buffer")
        _memory(recvbuf, nbytes, self._device, "reduceScatter receive buffer", True)[...] = send

    def _p2p(self, buf, count, datatype, peer, stream, what, writable):
        nbytes = self._args(count, datatype, stream, what)
        if peer != 0:
            raise NcclError(4, f"{what}: peer {peer} of a communicator of 1")
        if not _GROUP["depth"]:
            raise NcclError(4, f"{what} to this rank itself outside groupStart/groupEnd (a "
                               "real NCCL would hang)")
        return _memory(buf, nbytes, self._device, f"{what} buffer", writable)

    def send(self, sendbuf, count, datatype, peer, stream):
        _GROUP["sends"].append(self._p2p(sendbuf, count, datatype, peer, stream, "send", False))

    def recv(self, recvbuf, count, datatype, peer, stream):
        _GROUP["recvs"].append(self._p2p(recvbuf, count, datatype, peer, stream, "recv", True))

    def destroy(self):
        self._live_comm = False


NCCL_NAMES = {
    "available": available, "get_unique_id": get_unique_id, "groupStart": groupStart,
    "groupEnd": groupEnd,
    "NcclCommunicator": NcclCommunicator, "NcclError": NcclError,
    "NCCL_SUM": NCCL_SUM, "NCCL_PROD": NCCL_PROD, "NCCL_MAX": NCCL_MAX, "NCCL_MIN": NCCL_MIN,
    "NCCL_INT8": NCCL_INT8, "NCCL_UINT8": NCCL_UINT8, "NCCL_INT32": NCCL_INT32,
    "NCCL_UINT32": NCCL_UINT32, "NCCL_INT64": NCCL_INT64, "NCCL_UINT64": NCCL_UINT64,
    "NCCL_FLOAT16": NCCL_FLOAT16, "NCCL_FLOAT32": NCCL_FLOAT32, "NCCL_FLOAT64": NCCL_FLOAT64,
}
