"""The NCCL transport: NCCL collectives (CuPy's ``cupy.cuda.nccl``) between GPUs.

Same interface as ``_mpi.MPITransport``. Each process drives one GPU (local rank modulo the
GPUs it sees); MPI starts the job and hands NCCL's unique id from rank 0 to the others, and
NCCL's collectives run on a stream of their own, ordered after the work already queued on the
current stream. Host (NumPy) arrays go through the MPI transport. In a single process without
mpi4py, "MPI" is ``_single``'s one-process communicator and NCCL's communicator has size 1.
"""

from ..backend.device import _CUPY_ARRAY

_DTYPES = ("float16", "float32", "float64", "int8", "uint8", "int32", "uint32", "int64",
           "uint64")


class Work:
    __slots__ = ("event", "keep")

    def __init__(self, event, keep):
        self.event = event
        self.keep = keep

    def test(self):
        return self.event.done

    def finish(self):
        self.keep = None


class NCCLTransport:
    name = "nccl"

    def __init__(self, mpi):
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
        local = mpi.comm.Split_type(mpi.MPI.COMM_TYPE_SHARED)
        self.device = local.Get_rank() % cupy.cuda.runtime.getDeviceCount()
        local.Free()
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

    def _start(self):
        # NCCL reads the buffers once the kernels already queued for them have run
        self.stream.wait_event(self.cupy.cuda.get_current_stream().record())
        return self.stream.ptr

    def _done(self, *keep):
        event = self.stream.record()
        self.cupy.cuda.get_current_stream().wait_event(event)  # later kernels see the result
        return Work(event, keep)

    def allreduce(self, buf, op):
        if type(buf) is not _CUPY_ARRAY:
            return self.mpi.allreduce(buf, op)
        if buf.dtype.kind == "c":
            if op != "sum":
                raise TypeError(f"nccl backend: all_reduce({op}) of complex data")
            buf = buf.view(buf.real.dtype)
        if buf.dtype.kind == "b" and op in ("sum", "prod"):
            raise TypeError(f"nccl backend: all_reduce({op}) of bool data")
        a, t = self._typed(buf, True)
        self.comm.allReduce(a.data.ptr, a.data.ptr, a.size, t, self._ops[op], self._start())
        return self._done(a)

    def broadcast(self, buf, root):
        if type(buf) is not _CUPY_ARRAY:
            return self.mpi.broadcast(buf, root)
        a, t = self._typed(buf, False)
        self.comm.bcast(a.data.ptr, a.size, t, root, self._start())
        return self._done(a)

    def allgather(self, send, recv):
        if type(send) is not _CUPY_ARRAY:
            return self.mpi.allgather(send, recv)
        s, t = self._typed(send, False)
        r, _ = self._typed(recv, False)
        self.comm.allGather(s.data.ptr, r.data.ptr, s.size, t, self._start())
        return self._done(s, r)

    def barrier(self):
        return self.mpi.barrier()

    def close(self):
        self.stream.synchronize()
        self.comm.destroy()
