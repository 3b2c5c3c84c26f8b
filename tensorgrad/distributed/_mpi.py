"""The MPI transport: non-blocking MPI collectives (mpi4py) on raw arrays.

Every method starts a collective and returns a ``Work``: ``test()`` polls it, ``finish()``
runs once it is complete. The caller (``_Group.wait``) does the waiting, with its timeout.
GPU (CuPy) arrays are staged through host copies: MPI libraries built without CUDA support,
as the pip wheels are, cannot read device memory.
"""

from ..backend.device import _CUPY_ARRAY, device_of, to_host


class Work:
    """A started collective: ``request`` (an MPI request) and, for staged GPU arrays, where the
    host result goes back to."""

    __slots__ = ("request", "keep", "copy_back")

    def __init__(self, request, keep, copy_back=None):
        self.request = request
        self.keep = keep  # the buffers MPI reads and writes, alive until the end
        self.copy_back = copy_back  # [(device array, host array)]

    def test(self):
        return self.request.Test()

    def finish(self):
        if self.copy_back:
            for dev, host in self.copy_back:
                dev[...] = device_of(dev).put(host)
        self.keep = self.copy_back = None


class MPITransport:
    """Collectives over an MPI communicator (``mpi4py.MPI.COMM_WORLD`` for the default group).
    ``MPI`` is the module the communicator comes from: ``mpi4py.MPI``, or ``_single`` (one
    process, no mpi4py)."""

    name = "mpi"

    def __init__(self, comm, MPI):
        self.MPI = MPI
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self._ops = {"sum": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN, "prod": MPI.PROD}

    @staticmethod
    def _host(a):
        return to_host(a) if type(a) is _CUPY_ARRAY else a

    def allreduce(self, buf, op):
        """Reduce the contiguous array ``buf`` over all ranks, in place."""
        host = self._host(buf)
        req = self.comm.Iallreduce(self.MPI.IN_PLACE, host, op=self._ops[op])
        return Work(req, host, [(buf, host)] if host is not buf else None)

    def broadcast(self, buf, root):
        host = self._host(buf)
        req = self.comm.Ibcast(host, root=root)
        return Work(req, host, [(buf, host)] if host is not buf else None)

    def allgather(self, send, recv):
        """``recv[r] = send of rank r``; ``recv`` is contiguous, of shape (size,) + send.shape."""
        hsend, hrecv = self._host(send), self._host(recv)
        req = self.comm.Iallgather(hsend, hrecv)
        return Work(req, (hsend, hrecv), [(recv, hrecv)] if hrecv is not recv else None)

    def barrier(self):
        return Work(self.comm.Ibarrier(), None)

    def close(self):
        pass
