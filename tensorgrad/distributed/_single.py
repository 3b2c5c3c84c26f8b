"""A one-process stand-in for ``mpi4py.MPI``: what the backends need when mpi4py is missing.

``init_process_group("nccl")`` uses it (as the module ``MPI``, in place of ``mpi4py.MPI``) when
mpi4py cannot be imported and no launcher says the job has more than one process, so that
single-GPU code written for DDP runs where only CuPy is installed. It implements exactly the
part of mpi4py that ``_mpi.py`` and ``_nccl.py`` call, as mpi4py behaves in a world of one
process: rank 0 of 1, collectives that complete at once (by copying where MPI copies).
"""

import pickle

import numpy as np

# the reductions and constants MPITransport/NCCLTransport pass; at one process every reduction
# leaves the data as it is, so they only need to be distinct
SUM, MAX, MIN, PROD = "sum", "max", "min", "prod"
COMM_TYPE_SHARED = "shared"
BYTE = "byte"
UNDEFINED = -32766  # mpi4py's values
ANY_SOURCE = -2


class _InPlace:
    def __repr__(self):
        return "IN_PLACE"


IN_PLACE = _InPlace()


class Status:
    """Where a completed receive came from (always rank 0 here)."""

    def Get_source(self):
        return 0


class Request:
    """A collective that completed when it was started."""

    def Test(self, status=None):
        return True


def _bytes(buf):
    """The memory of ``buf`` as bytes (a view: writes go to ``buf``), as MPI sees a buffer."""
    a = np.asarray(buf)
    if not (a.flags.c_contiguous or a.flags.f_contiguous):
        raise BufferError("tensorgrad.distributed (one process): buffer is not contiguous")
    return a.reshape(-1, order="C" if a.flags.c_contiguous else "F").view(np.uint8)


class SelfComm:
    """``COMM_WORLD`` of a job of one process."""

    def Get_rank(self):
        return 0

    def Get_size(self):
        return 1

    @staticmethod
    def _check_root(root, what):
        if root != 0:
            raise RuntimeError(f"{what}: invalid root (value given was {root}); the only rank "
                               "is 0")

    def bcast(self, obj, root=0):
        """A copy of ``obj``, as mpi4py's pickled broadcast returns."""
        self._check_root(root, "bcast")
        return pickle.loads(pickle.dumps(obj))

    def Ibcast(self, buf, root=0):
        self._check_root(root, "Ibcast")
        _bytes(buf)
        return Request()

    def Iallreduce(self, sendbuf, recvbuf, op=SUM):
        if np.asarray(recvbuf).dtype == bool:  # as MPI: its SUM, MAX, MIN, PROD take no bool
            raise RuntimeError(f"Iallreduce: MPI_Op {op} is not defined for bool data")
        recv = _bytes(recvbuf)
        if sendbuf is not IN_PLACE:
            _copy(_bytes(sendbuf), recv, "Iallreduce")
        return Request()

    def Iallgather(self, sendbuf, recvbuf):
        _copy(_bytes(sendbuf), _bytes(recvbuf), "Iallgather")
        return Request()

    def Ireduce(self, sendbuf, recvbuf, op=SUM, root=0):
        self._check_root(root, "Ireduce")
        return self.Iallreduce(sendbuf, recvbuf, op)

    def Ireduce_scatter_block(self, sendbuf, recvbuf, op=SUM):
        return self.Iallreduce(sendbuf, recvbuf, op)

    def Igather(self, sendbuf, recvbuf, root=0):
        self._check_root(root, "Igather")
        return self.Iallgather(sendbuf, recvbuf)

    def Iscatter(self, sendbuf, recvbuf, root=0):
        self._check_root(root, "Iscatter")
        return self.Iallgather(sendbuf, recvbuf)

    def Ialltoallv(self, sendbuf, recvbuf):
        (send, (scounts, sdispls), _), (recv, (rcounts, rdispls), _) = sendbuf, recvbuf
        if len(scounts) != 1 or len(rcounts) != 1 or scounts[0] != rcounts[0]:
            raise ValueError(f"Ialltoallv: counts {scounts} sent, {rcounts} received; at one "
                             "process they must be one and the same")
        n = scounts[0]
        _copy(_bytes(send)[sdispls[0]:sdispls[0] + n], _bytes(recv)[rdispls[0]:rdispls[0] + n],
              "Ialltoallv")
        return Request()

    def Isend(self, buf, dest=0, tag=0):
        raise RuntimeError("Isend: a process of a one-process job has no peer to send to")

    def Irecv(self, buf, source=ANY_SOURCE, tag=0):
        raise RuntimeError("Irecv: a process of a one-process job has no peer to receive from")

    def Split(self, color=0, key=0):
        return self if color != UNDEFINED else COMM_NULL

    def Ibarrier(self):
        return Request()

    def Split_type(self, split_type, key=0):
        return self

    def Free(self):
        pass


def _copy(send, recv, what):
    if send.size != recv.size:
        raise ValueError(f"{what}: the receive buffer has {recv.size} bytes, the send buffer "
                         f"{send.size}; at one process they must be the same size")
    recv[...] = send


COMM_WORLD = SelfComm()
COMM_NULL = None
