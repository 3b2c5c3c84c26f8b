"""The MPI transport: non-blocking MPI collectives (mpi4py) on raw arrays.

Every method starts an operation and returns a ``Work``: ``test()`` polls it, ``finish()``
runs once it is complete. The caller (``_Group.wait``) does the waiting, with its timeout.
GPU (CuPy) arrays are staged through host copies: MPI libraries built without CUDA support,
as the pip wheels are, cannot read device memory. Reductions pass typed buffers (MPI reduces
by type); operations that only move data pass bytes, so that every dtype moves (float16,
bool, complex) whatever types the MPI library knows.
"""

from ..backend.device import _CUPY_ARRAY, device_of, to_host


class Work:
    """A started operation: ``request`` (an MPI request) and, for staged GPU arrays, where the
    host result goes back to."""

    __slots__ = ("request", "keep", "copy_back", "status", "source", "complete")

    def __init__(self, request, keep, copy_back=None, status=None):
        self.request = request
        self.keep = keep  # the buffers MPI reads and writes, alive until the end
        self.copy_back = copy_back  # [(device array, host array)]
        self.status = status  # an MPI.Status, for a receive (its source)
        self.source = None
        self.complete = False

    def test(self):
        # once complete, MPI has freed the request: testing it again would reset the status
        if not self.complete:
            self.complete = (self.request.Test() if self.status is None
                             else self.request.Test(self.status))
        return self.complete

    def finish(self):
        if self.status is not None:
            self.source = self.status.Get_source()
            got = self.status.Get_count(_byte_type(self.status))
            if got != self.keep.nbytes:
                raise RuntimeError(
                    f"recv: rank {self.source} sent {got} bytes, but the receiving tensor "
                    f"(shape {tuple(self.keep.shape)}, dtype {self.keep.dtype}) has "
                    f"{self.keep.nbytes}; send and recv must use tensors of the same shape "
                    "and dtype")
        if self.copy_back:
            for dev, host in self.copy_back:
                dev[...] = device_of(dev).put(host)
        self.keep = self.copy_back = None


def _byte_type(status):
    from mpi4py import MPI  # only a receive from a peer gets here, so mpi4py is there

    return MPI.BYTE


def _bytes(a):
    """A contiguous array's memory as a flat uint8 view (host or device)."""
    return a.reshape(-1).view("uint8")


class MPITransport:
    """Collectives over an MPI communicator (``mpi4py.MPI.COMM_WORLD`` for the default group,
    a ``Split`` of it for a group of some ranks). ``MPI`` is the module the communicator
    comes from: ``mpi4py.MPI``, or ``_single`` (one process, no mpi4py)."""

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

    def _staged(self, *arrays):
        """The host arrays MPI works on, and the (device, host) pairs to copy back."""
        hosts = [None if a is None else self._host(a) for a in arrays]
        back = [(a, h) for a, h in zip(arrays, hosts) if a is not None and h is not a]
        return hosts, back

    def allreduce(self, buf, op):
        """Reduce the contiguous array ``buf`` over all ranks, in place."""
        (host,), back = self._staged(buf)
        req = self.comm.Iallreduce(self.MPI.IN_PLACE, host, op=self._ops[op])
        return Work(req, host, back)

    def reduce(self, buf, op, root):
        """Like ``allreduce``, but only rank ``root``'s ``buf`` receives the result."""
        (host,), back = self._staged(buf)
        if self.rank == root:
            req = self.comm.Ireduce(self.MPI.IN_PLACE, host, op=self._ops[op], root=root)
            return Work(req, host, back)
        return Work(self.comm.Ireduce(host, None, op=self._ops[op], root=root), host)

    def reduce_scatter(self, send, recv, op):
        """``recv`` (n elements) = the reduction over ranks of block ``rank`` of ``send``
        (size * n elements)."""
        (hsend, hrecv), _ = self._staged(send, recv)
        req = self.comm.Ireduce_scatter_block(hsend, hrecv, op=self._ops[op])
        return Work(req, (hsend, hrecv), [(recv, hrecv)] if hrecv is not recv else None)

    def broadcast(self, buf, root):
        (host,), back = self._staged(buf)
        return Work(self.comm.Ibcast(_bytes(host), root=root), host, back)

    def allgather(self, send, recv):
        """``recv[r] = send of rank r``; ``recv`` is contiguous, of shape (size,) + send.shape."""
        (hsend, hrecv), _ = self._staged(send, recv)
        req = self.comm.Iallgather(_bytes(hsend), _bytes(hrecv))
        return Work(req, (hsend, hrecv), [(recv, hrecv)] if hrecv is not recv else None)

    def gather(self, send, recv, root):
        """Rank ``root``'s ``recv`` (size,) + send.shape receives every rank's ``send``;
        ``recv`` is None on the other ranks."""
        (hsend, hrecv), _ = self._staged(send, recv)
        req = self.comm.Igather(_bytes(hsend), None if hrecv is None else _bytes(hrecv),
                                root=root)
        back = [(recv, hrecv)] if recv is not None and hrecv is not recv else None
        return Work(req, (hsend, hrecv), back)

    def scatter(self, send, recv, root):
        """Each rank's ``recv`` receives block ``rank`` of rank ``root``'s ``send``
        ((size,) + recv.shape; None on the other ranks)."""
        (hsend, hrecv), _ = self._staged(send, recv)
        req = self.comm.Iscatter(None if hsend is None else _bytes(hsend), _bytes(hrecv),
                                 root=root)
        return Work(req, (hsend, hrecv), [(recv, hrecv)] if hrecv is not recv else None)

    def alltoallv(self, send, send_counts, recv, recv_counts):
        """Block r of the flat ``send`` (``send_counts[r]`` elements, in rank order) goes to
        rank r, which receives it as its block ``rank`` of the flat ``recv``."""
        (hsend, hrecv), _ = self._staged(send, recv)
        item = send.dtype.itemsize
        spec = []
        for buf, counts in ((hsend, send_counts), (hrecv, recv_counts)):
            nbytes = [int(c) * item for c in counts]
            displs = [sum(nbytes[:i]) for i in range(len(nbytes))]
            spec.append([_bytes(buf), (nbytes, displs), self.MPI.BYTE])
        req = self.comm.Ialltoallv(spec[0], spec[1])
        return Work(req, (hsend, hrecv), [(recv, hrecv)] if hrecv is not recv else None)

    def send(self, buf, peer, tag):
        (host,), _ = self._staged(buf)
        return Work(self.comm.Isend(_bytes(host), dest=peer, tag=tag), host)

    def recv(self, buf, peer, tag):
        """Receive into ``buf`` from rank ``peer`` (None: any rank); the work's ``source`` is
        the sender once finished."""
        (host,), back = self._staged(buf)
        source = self.MPI.ANY_SOURCE if peer is None else peer
        req = self.comm.Irecv(_bytes(host), source=source, tag=tag)
        return Work(req, host, back, status=self.MPI.Status())

    def barrier(self):
        return Work(self.comm.Ibarrier(), None)

    def split(self, member, key):
        """A transport over the ranks that pass ``member=True`` (collective over all ranks of
        this one; None on the others)."""
        sub = self.comm.Split(0 if member else self.MPI.UNDEFINED, key)
        if sub == self.MPI.COMM_NULL:
            return None
        return MPITransport(sub, self.MPI)

    def close(self):
        if self.comm is not self.MPI.COMM_WORLD:
            self.comm.Free()
