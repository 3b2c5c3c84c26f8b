"""``tg.cuda``: PyTorch's ``torch.cuda`` names over CuPy.

Every function works where CuPy or a GPU is missing: the queries answer (``is_available()`` is
False, ``device_count()`` is 0), seeding is remembered for later, and whatever needs a GPU
raises a ``RuntimeError`` that says what to install.

A ``device`` argument is an index, ``"cuda:N"``, ``"cuda"`` (the current GPU) or a
``tg.device``; ``None`` is the current GPU.

>>> import tensorgrad as tg
>>> isinstance(tg.cuda.is_available(), bool)
True
"""

import numbers
import os
import warnings

from ..backend import device as _dev


def is_available():
    """Whether CuPy is installed and sees at least one CUDA GPU."""
    return _dev.cuda_available()


def device_count():
    """The number of CUDA GPUs CuPy sees (0 without CuPy or a GPU)."""
    return _dev.cuda_device_count()


_INITIALIZED = []  # [True] once a tg.cuda call has reached CuPy and a GPU (is_initialized)


def _cupy(what):
    _dev.require_cuda(what)
    if not _INITIALIZED:
        _INITIALIZED.append(True)
    return _dev.cupy


def _index(device, what):
    """The GPU index ``device`` names (``None`` or ``"cuda"``: the current GPU)."""
    if device is None or (isinstance(device, str) and device == "cuda"):
        return int(_cupy(what).cuda.runtime.getDevice())
    if isinstance(device, int) and not isinstance(device, bool):
        return device
    d = _dev.as_device(device)
    if d.type != "cuda":
        raise ValueError(f"{what}: expected a cuda device, got {device!r}")
    return d.index


def current_device():
    """The index of the GPU that new cuda tensors go to when no index is given."""
    return int(_cupy("current_device").cuda.runtime.getDevice())


def set_device(device):
    """Make ``device`` (an index, ``"cuda:N"`` or a Device) the current GPU."""
    index = _index(device, "set_device")
    _cupy("set_device").cuda.Device(index).use()


class device:
    """``with tg.cuda.device(1): ...``: the current GPU inside the block."""

    def __init__(self, index):
        if index is None:
            index = -1  # PyTorch's: None or -1 changes nothing
        self.index = index if isinstance(index, int) else _dev.as_device(index).index
        self._ctx = None

    def __enter__(self):
        if self.index == -1:
            return self
        self._ctx = _cupy("device").cuda.Device(self.index)
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        if self._ctx is None:
            return False
        ctx, self._ctx = self._ctx, None
        return ctx.__exit__(*exc)


def synchronize(device=None):
    """Wait until the GPU (the current one, or ``device``) has finished its queued work."""
    cp = _cupy("synchronize")
    cp.cuda.Device(_index(device, "synchronize")).synchronize()


def get_device_name(device=None):
    """The GPU's name, as the driver reports it."""
    _cupy("get_device_name")
    return get_device_properties(device).name


def manual_seed(seed):
    """Seed the generators of the cuda devices (kept for later where there is no GPU)."""
    from ..creation import _seed_devices

    _seed_devices(seed)


manual_seed_all = manual_seed


# ---- streams and events ----------------------------------------------------------------------
class Stream:
    """A CUDA stream of ``device`` (default: the current GPU): a queue of GPU work that runs in
    order, and concurrently with other streams. As PyTorch's, it does not synchronise with the
    default stream (a CuPy ``Stream(non_blocking=True)``); ``priority`` below 0 is higher
    (CUDA clamps it into the device's range).

    Work goes to it inside ``with tg.cuda.stream(s):``: tensorgrad's ops, its fused kernels and
    CuPy calls. Order it against other streams with ``wait_stream``/``wait_event``.

    >>> import tensorgrad as tg
    >>> if tg.cuda.is_available():
    ...     s = tg.cuda.Stream()
    ...     s.wait_stream(tg.cuda.current_stream())   # start after what is queued so far
    ...     with tg.cuda.stream(s):
    ...         y = tg.ones(3, device="cuda") * 2
    ...     tg.cuda.current_stream().wait_stream(s)   # later work sees y
    """

    def __init__(self, device=None, priority=0):
        cp = _cupy("Stream")
        index = _index(device, "Stream")
        with cp.cuda.Device(index):
            self._init(cp.cuda.Stream(non_blocking=True, priority=int(priority)), index)

    def _init(self, cupy_stream, index):
        self._s = cupy_stream
        self.device_index = index

    @classmethod
    def _wrap(cls, cupy_stream, index):
        s = cls.__new__(cls)
        s._init(cupy_stream, index)
        return s

    @property
    def device(self):
        """The GPU of the stream, a ``tg.device``."""
        return _dev.Device("cuda", self.device_index)

    @property
    def cuda_stream(self):
        """The raw ``cudaStream_t`` (0: the legacy default stream)."""
        return int(self._s.ptr)

    @property
    def priority(self):
        """The stream's priority, as CUDA clamped it."""
        with _dev.cupy.cuda.Device(self.device_index):
            return int(self._s.priority)

    def query(self):
        """Whether all work queued on the stream has finished."""
        with _dev.cupy.cuda.Device(self.device_index):
            return bool(self._s.done)

    def synchronize(self):
        """Wait until all work queued on the stream has finished."""
        with _dev.cupy.cuda.Device(self.device_index):
            self._s.synchronize()

    def wait_event(self, event):
        """Make work queued on this stream from now on wait for ``event`` (no-op for an event
        never recorded); the host does not wait."""
        event.wait(self)

    def wait_stream(self, stream):
        """Make work queued on this stream from now on wait for all work queued on ``stream``
        so far; the host does not wait."""
        self.wait_event(stream.record_event())

    def record_event(self, event=None):
        """Record ``event`` (default: a new ``Event``) on this stream and return it."""
        event = Event() if event is None else event
        event.record(self)
        return event

    def __eq__(self, other):
        return isinstance(other, Stream) and (self.cuda_stream, self.device_index) == \
            (other.cuda_stream, other.device_index)

    def __hash__(self):
        return hash((self.cuda_stream, self.device_index))

    def __repr__(self):
        return (f"<tensorgrad.cuda.Stream device=cuda:{self.device_index} "
                f"cuda_stream={self.cuda_stream:#x}>")


class StreamContext:
    """What ``tg.cuda.stream(s)`` returns: inside ``with``, ``s`` is the current stream (and
    its GPU the current device); ``s=None`` changes nothing."""

    def __init__(self, stream):
        self.stream = stream
        self._devices = []

    def __enter__(self):
        s = self.stream
        if s is None:
            return None
        ctx = _cupy("stream").cuda.Device(s.device_index)
        ctx.__enter__()
        try:
            s._s.__enter__()
        except BaseException:
            ctx.__exit__(None, None, None)
            raise
        self._devices.append(ctx)
        return s

    def __exit__(self, *exc):
        if self.stream is None:
            return False
        self.stream._s.__exit__(*exc)
        self._devices.pop().__exit__(*exc)
        return False


def stream(stream):
    """``with tg.cuda.stream(s): ...``: queue the work inside the block on ``s`` (a
    ``tg.cuda.Stream``; ``None`` changes nothing)."""
    return StreamContext(stream)


def current_stream(device=None):
    """The stream work on ``device`` (default: the current GPU) goes to now."""
    cp = _cupy("current_stream")
    index = _index(device, "current_stream")
    return Stream._wrap(cp.cuda.get_current_stream(index), index)


def default_stream(device=None):
    """The default stream of ``device`` (default: the current GPU): CUDA's legacy null stream,
    or the per-thread default stream where CuPy was told to use it
    (``CUPY_CUDA_PER_THREAD_DEFAULT_STREAM=1``)."""
    cp = _cupy("default_stream")
    index = _index(device, "default_stream")
    ptds = os.environ.get("CUPY_CUDA_PER_THREAD_DEFAULT_STREAM", "0") == "1"
    return Stream._wrap(cp.cuda.Stream.ptds if ptds else cp.cuda.Stream.null, index)


class Event:
    """A CUDA event: a marker in a stream's queue, to wait for or to time GPU work.

    The CuPy event is made at the first ``record``, on the recording stream's GPU (as
    PyTorch's); until then ``query()`` is True and ``wait``/``synchronize`` do nothing.
    ``enable_timing=True`` is needed for ``elapsed_time``; ``blocking=True`` makes
    ``synchronize`` sleep instead of spinning.

    >>> import tensorgrad as tg
    >>> if tg.cuda.is_available():
    ...     start, end = tg.cuda.Event(enable_timing=True), tg.cuda.Event(enable_timing=True)
    ...     start.record()
    ...     y = tg.ones(1000, device="cuda").exp().sum()
    ...     end.record()
    ...     ms = start.elapsed_time(end)   # GPU time between the two records
    """

    def __init__(self, enable_timing=False, blocking=False):
        self.enable_timing = bool(enable_timing)
        self.blocking = bool(blocking)
        self._e = None  # the cupy.cuda.Event, made on first record
        self.device_index = None

    def record(self, stream=None):
        """Mark the point the stream (default: the current stream) has reached in its queue."""
        s = current_stream() if stream is None else stream
        cp = _dev.cupy
        with cp.cuda.Device(s.device_index):
            if self._e is None:
                self._e = cp.cuda.Event(block=self.blocking, disable_timing=not self.enable_timing)
                self.device_index = s.device_index
            elif self.device_index != s.device_index:
                raise RuntimeError(f"Event.record: the event belongs to cuda:{self.device_index}; "
                                   f"it can't be recorded on a stream of cuda:{s.device_index}")
            self._e.record(s._s)

    def wait(self, stream=None):
        """Make work queued on ``stream`` (default: the current stream) from now on wait until
        the event is reached; the host does not wait."""
        s = current_stream() if stream is None else stream
        if self._e is not None:
            with _dev.cupy.cuda.Device(s.device_index):
                s._s.wait_event(self._e)

    def query(self):
        """Whether the work before the event's last record has finished (True if never
        recorded)."""
        return True if self._e is None else bool(self._e.done)

    def synchronize(self):
        """Wait until the work before the event's last record has finished."""
        if self._e is not None:
            self._e.synchronize()

    def elapsed_time(self, end_event):
        """Milliseconds of GPU time from this event's record to ``end_event``'s. Both must be
        made with ``enable_timing=True`` and recorded; waits for ``end_event`` to be reached
        (PyTorch raises instead where it is not yet)."""
        if not (self.enable_timing and end_event.enable_timing):
            raise RuntimeError("Event.elapsed_time: both events must be created with argument "
                               "'enable_timing=True' (got "
                               f"{self.enable_timing} and {end_event.enable_timing})")
        if self._e is None or end_event._e is None:
            raise RuntimeError("Event.elapsed_time: both events must be recorded before "
                               "calculating elapsed time")
        end_event._e.synchronize()
        return float(_dev.cupy.cuda.get_elapsed_time(self._e, end_event._e))

    def __repr__(self):
        return (f"<tensorgrad.cuda.Event enable_timing={self.enable_timing} "
                f"recorded={self._e is not None}>")


# ---- memory ------------------------------------------------------------------------------------
def _pool_bytes(what, device, kind):
    cp = _cupy(what)
    with cp.cuda.Device(_index(device, what)):
        return int(getattr(cp.get_default_memory_pool(), kind)())


# The peak is kept only once asked for: a CuPy MemoryHook (malloc_postprocess) then reads the
# pool's bytes in use after each allocation. Until then nothing runs per allocation.
_PEAK = {}  # GPU index -> most bytes in use seen since tracking began or the last reset
_PEAK_HOOK = []  # the registered hook, once tracking has begun
_PEAK_RESERVED = {}  # GPU index -> most bytes the pool held, tracked the same way


def _track_peak(what):
    cp = _cupy(what)
    if _PEAK_HOOK:
        return cp
    pool = cp.get_default_memory_pool()
    peak = _PEAK

    class _PeakHook(cp.cuda.MemoryHook):
        name = "tensorgrad.cuda.peak_memory"

        def malloc_postprocess(self, device_id, **kwargs):
            used = pool.used_bytes()  # CuPy allocates on the current device: device_id's
            if used > peak.get(device_id, 0):
                peak[device_id] = used
            held = pool.total_bytes()
            if held > _PEAK_RESERVED.get(device_id, 0):
                _PEAK_RESERVED[device_id] = held

    hook = _PeakHook()
    hook.__enter__()  # registered for good (in this thread: CuPy keeps memory hooks per thread)
    _PEAK_HOOK.append(hook)
    return cp


def _seen(index, used):
    if used > _PEAK.get(index, -1):
        _PEAK[index] = used
    return used


def memory_allocated(device=None):
    """Bytes held by live arrays (tensors) in CuPy's default memory pool on ``device``: what
    ``cupy.get_default_memory_pool().used_bytes()`` says there, CuPy's rounding to 512-byte
    blocks included."""
    used = _pool_bytes("memory_allocated", device, "used_bytes")
    if _PEAK_HOOK:
        _seen(_index(device, "memory_allocated"), used)
    return used


def max_memory_allocated(device=None):
    """The most bytes ``memory_allocated(device)`` has been since peak tracking began or the
    last ``reset_peak_memory_stats(device)``.

    Tracking is off until the first call of ``max_memory_allocated`` or
    ``reset_peak_memory_stats`` (so it costs nothing before); that call registers a CuPy memory
    hook. From then on the peak of a GPU is the most of the bytes in use there (in CuPy's
    default memory pool) read after each allocation there by the thread that began tracking
    (CuPy keeps memory hooks per thread), and at each ``memory_allocated``,
    ``max_memory_allocated`` and ``reset_peak_memory_stats`` call for that GPU. So it starts
    from the bytes in use at the first such moment after tracking began (other GPUs are not
    touched before, as touching one makes a CUDA context there), and allocations by other
    threads count through what is still in use at those moments.

    >>> import tensorgrad as tg
    >>> if tg.cuda.is_available():
    ...     tg.cuda.reset_peak_memory_stats()
    ...     x = tg.zeros(1 << 20, device="cuda")     # 4 MiB
    ...     del x
    ...     assert tg.cuda.max_memory_allocated() >= 4 << 20
    """
    _track_peak("max_memory_allocated")
    index = _index(device, "max_memory_allocated")
    _seen(index, _pool_bytes("max_memory_allocated", index, "used_bytes"))
    return _PEAK[index]


def reset_peak_memory_stats(device=None):
    """Start ``max_memory_allocated(device)`` over from the bytes in use now (and begin peak
    tracking if it has not begun; see ``max_memory_allocated``)."""
    _track_peak("reset_peak_memory_stats")
    index = _index(device, "reset_peak_memory_stats")
    _PEAK[index] = _pool_bytes("reset_peak_memory_stats", index, "used_bytes")
    _PEAK_RESERVED[index] = _pool_bytes("reset_peak_memory_stats", index, "total_bytes")


def memory_reserved(device=None):
    """Bytes CuPy's default memory pool holds on ``device``: in use plus cached for reuse
    (``empty_cache()`` returns the cached part to the driver)."""
    return _pool_bytes("memory_reserved", device, "total_bytes")


def empty_cache():
    """Return CuPy's cached, unused GPU memory to the driver."""
    _cupy("empty_cache").get_default_memory_pool().free_all_blocks()


def mem_get_info(device=None):
    """``(free, total)`` bytes of ``device``'s memory, as the driver reports them (memory
    cached by CuPy's pool counts as used)."""
    cp = _cupy("mem_get_info")
    with cp.cuda.Device(_index(device, "mem_get_info")):
        free, total = cp.cuda.runtime.memGetInfo()
    return int(free), int(total)


class _CudaDeviceProperties:
    """What ``get_device_properties`` returns: ``name``, ``total_memory`` (bytes), ``major``,
    ``minor`` (the compute capability) and ``multi_processor_count``."""

    __slots__ = ("name", "total_memory", "major", "minor", "multi_processor_count")

    def __init__(self, props):
        name = props["name"]
        self.name = name.decode() if isinstance(name, bytes) else str(name)
        self.total_memory = int(props["totalGlobalMem"])
        self.major = int(props["major"])
        self.minor = int(props["minor"])
        self.multi_processor_count = int(props["multiProcessorCount"])

    def __repr__(self):
        return (f"_CudaDeviceProperties(name='{self.name}', major={self.major}, "
                f"minor={self.minor}, total_memory={self.total_memory // 2**20}MB, "
                f"multi_processor_count={self.multi_processor_count})")


def get_device_properties(device=None):
    """The properties of ``device`` (default: the current GPU): ``.name``, ``.total_memory``,
    ``.major``, ``.minor``, ``.multi_processor_count``.

    >>> import tensorgrad as tg
    >>> if tg.cuda.is_available():
    ...     p = tg.cuda.get_device_properties(0)
    ...     assert p.total_memory > 0 and (p.major, p.minor) == tg.cuda.get_device_capability(0)
    """
    cp = _cupy("get_device_properties")
    return _CudaDeviceProperties(
        cp.cuda.runtime.getDeviceProperties(_index(device, "get_device_properties")))


def get_device_capability(device=None):
    """``(major, minor)``: the compute capability of ``device`` (default: the current GPU)."""
    p = get_device_properties(device)
    return p.major, p.minor


# ---- the Tensor side: pinned memory ----------------------------------------------------------
# A primitive of its own, made on first use (this module is imported before tensorgrad.ops), so
# that gradients flow through pin_memory(); non-blocking copies are ops.shape.to_device's.
_PRIMS = {}


def _prims():
    if not _PRIMS:
        from ..ops.registry import defjvp, defvjp, primitive

        @primitive(saves=False)
        def pin_memory(x):
            return _dev.pin(x)

        defvjp(pin_memory, lambda g, ans, x: g)
        defjvp(pin_memory, lambda t, ans, x: t)
        _PRIMS.update(pin=pin_memory)
    return _PRIMS


# ---- more of torch.cuda: memory statistics, RNG state, queries -------------------------------
def max_memory_reserved(device=None):
    """The most bytes ``memory_reserved(device)`` has been since peak tracking began or the
    last ``reset_peak_memory_stats(device)`` (tracked as ``max_memory_allocated`` says)."""
    _track_peak("max_memory_reserved")
    index = _index(device, "max_memory_reserved")
    held = _pool_bytes("max_memory_reserved", index, "total_bytes")
    if held > _PEAK_RESERVED.get(index, -1):
        _PEAK_RESERVED[index] = held
    return _PEAK_RESERVED[index]


def reset_max_memory_allocated(device=None):
    """Deprecated (as in PyTorch): ``reset_peak_memory_stats``, which resets all peaks."""
    warnings.warn("tg.cuda.reset_max_memory_allocated now calls "
                  "tg.cuda.reset_peak_memory_stats, which resets /all/ peak memory stats.",
                  FutureWarning, stacklevel=2)
    reset_peak_memory_stats(device)


def reset_max_memory_cached(device=None):
    """Deprecated (as in PyTorch): ``reset_peak_memory_stats``, which resets all peaks."""
    warnings.warn("tg.cuda.reset_max_memory_cached now calls tg.cuda.reset_peak_memory_stats, "
                  "which resets /all/ peak memory stats.", FutureWarning, stacklevel=2)
    reset_peak_memory_stats(device)


def memory_cached(device=None):
    """Deprecated (as in PyTorch): the old name of ``memory_reserved``."""
    warnings.warn("tg.cuda.memory_cached has been renamed to tg.cuda.memory_reserved",
                  FutureWarning, stacklevel=2)
    return memory_reserved(device)


def max_memory_cached(device=None):
    """Deprecated (as in PyTorch): the old name of ``max_memory_reserved``."""
    warnings.warn("tg.cuda.max_memory_cached has been renamed to tg.cuda.max_memory_reserved",
                  FutureWarning, stacklevel=2)
    return max_memory_reserved(device)


def memory_stats(device=None):
    """PyTorch's memory statistics dict for ``device``, with the counters CuPy's default
    memory pool can give (CuPy has no per-allocation statistics, so the rest of PyTorch's keys
    are absent rather than made up):

    - ``allocated_bytes.all.current``/``.peak`` and ``active_bytes.all.current``/``.peak``:
      bytes held by live arrays (``memory_allocated`` / ``max_memory_allocated``);
    - ``reserved_bytes.all.current``/``.peak``: bytes the pool holds, in use or cached
      (``memory_reserved`` / ``max_memory_reserved``);
    - ``inactive_split_bytes.all.current``: bytes cached by the pool and not in use
      (``free_bytes()``);
    - ``inactive_split.all.current``: cached blocks (``n_free_blocks()``).

    The first call begins peak tracking, as ``max_memory_allocated`` does.
    """
    cp = _track_peak("memory_stats")
    index = _index(device, "memory_stats")
    allocated = max_memory_allocated(index)
    reserved = max_memory_reserved(index)
    with cp.cuda.Device(index):
        pool = cp.get_default_memory_pool()
        used, held = int(pool.used_bytes()), int(pool.total_bytes())
        free, blocks = int(pool.free_bytes()), int(pool.n_free_blocks())
    stats = {
        "active_bytes.all.current": used, "active_bytes.all.peak": allocated,
        "allocated_bytes.all.current": used, "allocated_bytes.all.peak": allocated,
        "inactive_split.all.current": blocks, "inactive_split_bytes.all.current": free,
        "reserved_bytes.all.current": held, "reserved_bytes.all.peak": reserved,
    }
    return dict(sorted(stats.items()))


def _format_bytes(n):
    for unit in ("B  ", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:7.0f} {unit}" if unit == "B  " else f"{n:7.2f} {unit}"
        n /= 1024.0
    return f"{n} B"  # pragma: no cover


def memory_summary(device=None, abbreviated=False):
    """A readable table of ``memory_stats(device)`` (current and peak of each counter CuPy's
    pool gives); ``abbreviated`` is accepted for PyTorch's signature (the table is short)."""
    _cupy("memory_summary")
    index = _index(device, "memory_summary")
    stats = memory_stats(index)
    rows = [("Allocated memory", "allocated_bytes"), ("Active memory", "active_bytes"),
            ("GPU reserved memory", "reserved_bytes"),
            ("Non-releasable memory", "inactive_split_bytes")]
    lines = ["=" * 60, f" tensorgrad CUDA memory summary (CuPy memory pool), device ID {index}",
             "-" * 60, f" {'Metric':<26}| {'Cur Usage':>14} | {'Peak Usage':>14}", "-" * 60]
    for name, key in rows:
        cur = stats.get(f"{key}.all.current")
        peak = stats.get(f"{key}.all.peak")
        lines.append(f" {name:<26}| {_format_bytes(cur):>14} | "
                     f"{_format_bytes(peak) if peak is not None else '-':>14}")
    lines.append(f" {'Non-releasable allocs':<26}| {stats['inactive_split.all.current']:>14} | "
                 f"{'-':>14}")
    lines.append("=" * 60)
    return "\n".join(lines) + "\n"


def set_per_process_memory_fraction(fraction, device=None):
    """Limit CuPy's default memory pool on ``device`` to ``fraction`` (a float in [0, 1]) of
    the GPU's memory (``MemoryPool.set_limit(fraction=...)``): allocating beyond it raises
    CuPy's OutOfMemoryError. 0 removes the limit in CuPy (PyTorch would allow nothing)."""
    if not isinstance(fraction, float):
        raise TypeError(f"set_per_process_memory_fraction: Invalid type for fraction argument, "
                        f"must be `float`, got {type(fraction).__name__}")
    if fraction < 0 or fraction > 1:
        raise ValueError(f"set_per_process_memory_fraction: Invalid fraction value: "
                         f"{fraction}. Allowed range: 0~1")
    cp = _cupy("set_per_process_memory_fraction")
    with cp.cuda.Device(_index(device, "set_per_process_memory_fraction")):
        cp.get_default_memory_pool().set_limit(fraction=fraction)


def get_per_process_memory_fraction(device=None):
    """The fraction of ``device``'s memory CuPy's default memory pool may use (1.0 with no
    limit), from ``MemoryPool.get_limit()``."""
    cp = _cupy("get_per_process_memory_fraction")
    with cp.cuda.Device(_index(device, "get_per_process_memory_fraction")):
        limit = int(cp.get_default_memory_pool().get_limit())
        total = int(cp.cuda.runtime.memGetInfo()[1])
    return 1.0 if limit == 0 or total == 0 else min(limit / total, 1.0)


def list_gpu_processes(device=None):
    """A readable list of the processes using ``device`` and their GPU memory (through
    ``pynvml``, as PyTorch's; without it, a line that says to install nvidia-ml-py)."""
    index = _index(device, "list_gpu_processes")
    try:
        import pynvml
    except ImportError:
        return "pynvml module not found, please install nvidia-ml-py"
    try:  # pragma: no cover - needs NVML
        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        procs = pynvml.nvmlDeviceGetComputeRunningProcesses(handle)
    except Exception as e:  # pragma: no cover - needs NVML
        return f"GPU:{index}\ncould not list processes: {e}"
    lines = [f"GPU:{index}"]  # pragma: no cover - needs NVML
    if not procs:  # pragma: no cover
        lines.append("no processes are running")
    for p in procs:  # pragma: no cover
        lines.append(f"process {p.pid:>10d} uses {p.usedGpuMemory / 2**20:>12.3f} MB GPU memory")
    return "\n".join(lines)  # pragma: no cover


def ipc_collect():
    """A no-op: PyTorch frees here the GPU memory of tensors shared with other processes by
    CUDA IPC after they are gone; tensorgrad shares no memory through CUDA IPC."""
    return None


def is_initialized():
    """Whether a ``tg.cuda`` call (or ``init()``) has reached CuPy and a GPU in this process
    (cuda tensors made without one are not counted)."""
    return bool(_INITIALIZED)


def init():
    """Make CuPy set up the current GPU now (PyTorch's lazy initialisation, forced); raises
    where there is no CuPy or GPU."""
    cp = _cupy("init")
    cp.cuda.Device(cp.cuda.runtime.getDevice()).use()


def is_bf16_supported(including_emulation=True):
    """False: NumPy and CuPy have no bfloat16 dtype, so tensorgrad has no bfloat16 tensors."""
    return False


def get_arch_list():
    """The GPU architectures tensorgrad's kernels are built for: CuPy compiles them at run time
    (NVRTC) for each GPU present, so the ``sm_XY`` of the visible GPUs ([] without one)."""
    if not is_available():
        return []
    archs = []
    for i in range(device_count()):
        major, minor = get_device_capability(i)
        arch = f"sm_{major}{minor}"
        if arch not in archs:
            archs.append(arch)
    return archs


def get_gencode_flags():
    """NVCC's ``-gencode`` flags for :func:`get_arch_list` ('' without a GPU)."""
    flags = []
    for arch in get_arch_list():
        num = arch.split("_", 1)[1]
        flags.append(f"-gencode compute=compute_{num},code={arch}")
    return " ".join(flags)


class device_of(device):
    """``with tg.cuda.device_of(t): ...``: the GPU of tensor ``t`` is the current one inside
    the block; a CPU tensor changes nothing."""

    def __init__(self, obj):
        dev = getattr(obj, "device", None)
        index = dev.index if getattr(dev, "type", None) == "cuda" else -1
        super().__init__(-1 if index is None else index)


class ExternalStream(Stream):
    """A CUDA stream made elsewhere (a raw ``cudaStream_t``, e.g. PyTorch's
    ``torch.cuda.Stream().cuda_stream``) used as a ``tg.cuda.Stream`` (CuPy's
    ``cupy.cuda.ExternalStream``). The caller keeps the stream alive; ``device`` is the GPU
    it was made on (default: the current one)."""

    def __init__(self, stream_ptr, device=None):
        cp = _cupy("ExternalStream")
        if isinstance(stream_ptr, bool) or not isinstance(stream_ptr, numbers.Integral):
            raise TypeError(f"ExternalStream: stream_ptr must be an int (a cudaStream_t), got "
                            f"{type(stream_ptr).__name__}")
        index = _index(device, "ExternalStream")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # CuPy 14 prefers from_external
            self._init(cp.cuda.ExternalStream(int(stream_ptr), index), index)


# ---- the RNG of the cuda devices (tensorgrad.creation's generators) ---------------------------
def _rng_device(device, what):
    cp = _cupy(what)
    return cp, _dev.Device("cuda", _index(device, what))


def get_rng_state(device="cuda"):
    """The state of ``device``'s generator (the one behind ``tg.rand(..., device="cuda")``): an
    opaque ``DeviceGeneratorState``, usable by ``set_rng_state`` in this process only (CuPy
    keeps the state on the GPU with no public read-back; PyTorch returns a byte tensor)."""
    from ..creation import DeviceGeneratorState, _copy_backend, _generator

    cp, dev = _rng_device(device, "get_rng_state")
    with cp.cuda.Device(dev.index):
        return DeviceGeneratorState(dev, _copy_backend(_generator(dev)))


def set_rng_state(new_state, device="cuda"):
    """Make ``device``'s generator continue from ``new_state`` (from ``get_rng_state`` of the
    same device)."""
    from ..creation import DeviceGeneratorState, _copy_backend, _rng

    cp, dev = _rng_device(device, "set_rng_state")
    if not isinstance(new_state, DeviceGeneratorState):
        raise TypeError(f"set_rng_state: expected the state tg.cuda.get_rng_state() returns, "
                        f"got {type(new_state).__name__}")
    if new_state.device != dev:
        raise RuntimeError(f"set_rng_state: the state is of the generator on "
                           f"{new_state.device}, not {dev}")
    with cp.cuda.Device(dev.index):
        _rng[str(dev)] = _copy_backend(new_state._gen)


def get_rng_state_all():
    """``[get_rng_state(i) for each GPU]``."""
    return [get_rng_state(i) for i in range(device_count())]


def set_rng_state_all(new_states):
    """``set_rng_state(state, i)`` for the i-th state of ``new_states``."""
    for i, state in enumerate(new_states):
        set_rng_state(state, i)


def _seed_key(index):
    return f"cuda_seed:{index}"  # manual_seed's _seed_devices forgets keys starting "cuda"


def initial_seed():
    """The seed of the current GPU's generator (without a GPU: the one the generators will be
    made from)."""
    from ..creation import _rng

    if is_available():
        return int(_rng.get(_seed_key(current_device()), _rng["seed"]))
    return int(_rng["seed"])


def seed():
    """Seed the current GPU's generator with a fresh nondeterministic seed (as PyTorch's, it
    returns None; ``initial_seed()`` tells it)."""
    from ..creation import _fresh_seed, _rng

    cp, dev = _rng_device(None, "seed")
    s = _fresh_seed()
    with cp.cuda.Device(dev.index):
        _rng[str(dev)] = cp.random.default_rng(s)
    _rng[_seed_key(dev.index)] = s


def seed_all():
    """Seed every GPU's generator with one fresh nondeterministic seed (remembered for later
    where there is no GPU)."""
    from ..creation import _fresh_seed, _seed_devices

    _seed_devices(_fresh_seed())


__all__ = ["is_available", "device_count", "current_device", "set_device", "device",
           "synchronize", "get_device_name", "manual_seed", "manual_seed_all",
           "Stream", "StreamContext", "stream", "current_stream", "default_stream", "Event",
           "memory_allocated", "max_memory_allocated", "reset_peak_memory_stats",
           "memory_reserved", "empty_cache", "mem_get_info", "get_device_properties",
           "get_device_capability",
           "memory_stats", "memory_summary", "max_memory_reserved", "reset_max_memory_allocated",
           "reset_max_memory_cached", "memory_cached", "max_memory_cached", "get_rng_state",
           "set_rng_state", "get_rng_state_all", "set_rng_state_all", "initial_seed", "seed",
           "seed_all", "is_initialized", "init", "ipc_collect", "is_bf16_supported",
           "get_arch_list", "get_gencode_flags", "device_of", "ExternalStream",
           "set_per_process_memory_fraction", "get_per_process_memory_fraction",
           "list_gpu_processes"]

# tg.cuda.amp needs the names above; tg.cuda.nvtx: NVTX ranges, no-ops without a GPU
from . import amp, nvtx  # noqa: E402

# PyTorch's legacy cuda tensor types (tg.cuda.FloatTensor, ...): tg.FloatTensor's metaclass
# (torch_surface3) with device cuda; made on first use, as torch_surface3 imports much of the
# package
_LEGACY_NAMES = ("FloatTensor", "DoubleTensor", "HalfTensor", "LongTensor", "IntTensor",
                 "ShortTensor", "CharTensor", "ByteTensor", "BoolTensor")
__all__ += ["nvtx", *_LEGACY_NAMES]


def __getattr__(name):
    if name not in _LEGACY_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from ..torch_surface3 import _LEGACY_TYPES, _LegacyTensorType

    class _CudaTensorType(_LegacyTensorType):
        def __repr__(cls):
            return f"<class 'tensorgrad.cuda.{cls.__name__}'>"

    for n in _LEGACY_NAMES:
        cpu = _LEGACY_TYPES[n]
        globals()[n] = _CudaTensorType(n, (), {"dtype": cpu.dtype, "device": "cuda",
                                               "__module__": __name__})
    return globals()[name]
