"""The NCCL transport: NCCL collectives (CuPy's ``cupy.cuda.nccl``) between GPUs.

Same interface as ``_mpi.MPITransport``. Each process drives one GPU (local rank modulo the
GPUs it sees); MPI starts the job and hands NCCL's unique id from rank 0 to the others, and
NCCL's operations run on a stream of their own, ordered after the work already queued on the
current stream. Host (NumPy) arrays go through the MPI transport. NCCL has no gather, scatter
or all-to-all: those are grouped sends and receives (``groupStart``/``groupEnd``), the rank's
own block a copy on the device. In a single process without mpi4py, "MPI" is ``_single``'s
one-process communicator and NCCL's communicator has size 1.
"""

from ..backend.device import _CUPY_ARRAY

_DTYPES = ("float16", "float32", "float64", "int8", "uint8", "int32", "uint32", "int64",
           "uint64")


class Work:
    __slots__ = ("event", "keep", "source")

    def __init__(self, event, keep, source=None):
        self.event = event
        self.keep = keep
        self.source = source

    def test(self):
        return self.event.done

    def finish(self):
        self.keep = None


class NCCLTransport:
    name = "nccl"

    def __init__(self, mpi, device=None):
        from ..backend.device import require_cuda

        require_cuda("init_process_group('nccl')")
        try:
            import cupy
            from cupy.cuda import nccl
            if not getattr(nccl, "available", True):  # CuPy imports it, but found no libnccl
                raise ImportError("cupy.cuda.nccl.available is False: libnccl was not found")
        except ImportError as e:  # a CuPy built without NCCL
            raise RuntimeError(f"init_process_group('nccl'): CuPy's NCCL bindings are missing "
                               f"({e}); install NCCL for CuPy's CUDA (pip install "
                               "nvidia-nccl-cu13, or -cu12) or use backend='mpi'") from e
        self.cupy = cupy
        self.nccl = nccl
        self.mpi = mpi
        self.rank = mpi.rank
        self.size = mpi.size
        if device is None:
            local = mpi.comm.Split_type(mpi.MPI.COMM_TYPE_SHARED)
            device = local.Get_rank() % cupy.cuda.runtime.getDeviceCount()
            local.Free()
        self.device = device
        cupy.cuda.Device(self.device).use()
        uid = nccl.get_unique_id() if self.rank == 0 else None
        uid = mpi.comm.bcast(uid, root=0)
        self.comm = nccl.NcclCommunicator(self.size, uid, self.rank)
        self.stream = cupy.cuda.Stream(non_blocking=True)
        self._ops = {"sum": nccl.NCCL_SUM, "max": nccl.NCCL_MAX, "min": nccl.NCCL_MIN,
                     "prod": nccl.NCCL_PROD}

    def _typed(self, a, reducing):
        """(array viewed as a type NCCL knows, its NCCL type)."""
        kind = a.dtype.kind
        if kind == "c" and not reducing:
            a = a.view(a.real.dtype)
        elif kind == "b":
            a = a.view("uint8")
        name = a.dtype.name
        if name not in _DTYPES:
            raise TypeError(f"nccl backend: dtype {a.dtype} is not supported by NCCL")
        return a, getattr(self.nccl, "NCCL_" + name.upper())

    def _reducible(self, buf, op, what):
        if buf.dtype.kind == "c":
            if op != "sum":
                raise TypeError(f"nccl backend: {what}({op}) of complex data")
            buf = buf.view(buf.real.dtype)
        if buf.dtype.kind == "b" and op in ("sum", "prod"):
            raise TypeError(f"nccl backend: {what}({op}) of bool data")
        return self._typed(buf, True)

    def _start(self):
        # NCCL reads the buffers once the kernels already queued for them have run
        self.stream.wait_event(self.cupy.cuda.get_current_stream().record())
        return self.stream.ptr

    def _done(self, *keep, source=None):
        event = self.stream.record()
        self.cupy.cuda.get_current_stream().wait_event(event)  # later kernels see the result
        return Work(event, keep, source)

    @staticmethod
    def _on_host(*arrays):
        return any(a is not None and type(a) is not _CUPY_ARRAY for a in arrays)

    def allreduce(self, buf, op):
        if self._on_host(buf):
            return self.mpi.allreduce(buf, op)
        a, t = self._reducible(buf, op, "all_reduce")
        self.comm.allReduce(a.data.ptr, a.data.ptr, a.size, t, self._ops[op], self._start())
        return self._done(a)

    def reduce(self, buf, op, root):
        if self._on_host(buf):
            return self.mpi.reduce(buf, op, root)
        a, t = self._reducible(buf, op, "reduce")
        self.comm.reduce(a.data.ptr, a.data.ptr, a.size, t, self._ops[op], root, self._start())
        return self._done(a)

    def reduce_scatter(self, send, recv, op):
        if self._on_host(send, recv):
            return self.mpi.reduce_scatter(send, recv, op)
        s, t = self._reducible(send, op, "reduce_scatter")
        r, _ = self._reducible(recv, op, "reduce_scatter")
        self.comm.reduceScatter(s.data.ptr, r.data.ptr, r.size, t, self._ops[op], self._start())
        return self._done(s, r)

    def broadcast(self, buf, root):
        if self._on_host(buf):
            return self.mpi.broadcast(buf, root)
        a, t = self._typed(buf, False)
        self.comm.bcast(a.data.ptr, a.size, t, root, self._start())
        return self._done(a)

    def allgather(self, send, recv):
        if self._on_host(send, recv):
            return self.mpi.allgather(send, recv)
        s, t = self._typed(send, False)
        r, _ = self._typed(recv, False)
        self.comm.allGather(s.data.ptr, r.data.ptr, s.size, t, self._start())
        return self._done(s, r)

    # ---- data movement as grouped sends and receives, in bytes --------------------------------
    def _exchange(self, sends, recvs):
        """Start, as one NCCL group, the sends ``[(flat uint8 array, peer)]`` and receives
        ``[(flat uint8 array, peer)]`` (no peer is this rank)."""
        stream = self._start()
        uint8 = self.nccl.NCCL_UINT8
        self.nccl.groupStart()
        try:
            for buf, peer in sends:
                if buf.size:
                    self.comm.send(buf.data.ptr, buf.size, uint8, peer, stream)
            for buf, peer in recvs:
                if buf.size:
                    self.comm.recv(buf.data.ptr, buf.size, uint8, peer, stream)
        finally:
            self.nccl.groupEnd()
        return self._done(*[b for b, _ in sends + recvs])

    @staticmethod
    def _blocks(a, n):
        flat = a.reshape(-1).view("uint8")
        step = flat.size // n
        return [flat[i * step:(i + 1) * step] for i in range(n)]

    def gather(self, send, recv, root):
        if self._on_host(send, recv):
            return self.mpi.gather(send, recv, root)
        mine = send.reshape(-1).view("uint8")
        if self.rank != root:
            return self._exchange([(mine, root)], [])
        blocks = self._blocks(recv, self.size)
        blocks[root][...] = mine
        return self._exchange([], [(b, r) for r, b in enumerate(blocks) if r != root])

    def scatter(self, send, recv, root):
        if self._on_host(send, recv):
            return self.mpi.scatter(send, recv, root)
        mine = recv.reshape(-1).view("uint8")
        if self.rank != root:
            return self._exchange([], [(mine, root)])
        blocks = self._blocks(send, self.size)
        mine[...] = blocks[root]
        return self._exchange([(b, r) for r, b in enumerate(blocks) if r != root], [])

    def alltoallv(self, send, send_counts, recv, recv_counts):
        if self._on_host(send, recv):
            return self.mpi.alltoallv(send, send_counts, recv, recv_counts)
        item = send.dtype.itemsize

        def cut(a, counts):
            flat, out, o = a.reshape(-1).view("uint8"), [], 0
            for c in counts:
                out.append(flat[o:o + int(c) * item])
                o += int(c) * item
            return out

        sends, recvs = cut(send, send_counts), cut(recv, recv_counts)
        recvs[self.rank][...] = sends[self.rank]
        me = self.rank
        return self._exchange([(b, r) for r, b in enumerate(sends) if r != me],
                              [(b, r) for r, b in enumerate(recvs) if r != me])

    def send(self, buf, peer, tag):
        if self._on_host(buf):
            return self.mpi.send(buf, peer, tag)
        return self._exchange([(buf.reshape(-1).view("uint8"), peer)], [])

    def recv(self, buf, peer, tag):
        if self._on_host(buf):
            return self.mpi.recv(buf, peer, tag)
        if peer is None:
            raise ValueError("recv: the nccl backend needs the sender's rank (src) for a GPU "
                             "tensor; NCCL cannot receive from any rank")
        work = self._exchange([], [(buf.reshape(-1).view("uint8"), peer)])
        work.source = peer
        return work

    def barrier(self):
        return self.mpi.barrier()

    def split(self, member, key):
        sub = self.mpi.split(member, key)
        return None if sub is None else NCCLTransport(sub, self.device)

    def close(self):
        self.stream.synchronize()
        self.comm.destroy()
        self.mpi.close()
