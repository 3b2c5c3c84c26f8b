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

import os

from .backend import device as _dev


def is_available():
    """Whether CuPy is installed and sees at least one CUDA GPU."""
    return _dev.cuda_available()


def device_count():
    """The number of CUDA GPUs CuPy sees (0 without CuPy or a GPU)."""
    return _dev.cuda_device_count()


def _cupy(what):
    _dev.require_cuda(what)
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
        self.index = index if isinstance(index, int) else _dev.as_device(index).index
        self._ctx = None

    def __enter__(self):
        self._ctx = _cupy("device").cuda.Device(self.index)
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


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
    from .creation import _seed_devices

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
        from .ops.registry import defjvp, defvjp, primitive

        @primitive(saves=False)
        def pin_memory(x):
            return _dev.pin(x)

        defvjp(pin_memory, lambda g, ans, x: g)
        defjvp(pin_memory, lambda t, ans, x: t)
        _PRIMS.update(pin=pin_memory)
    return _PRIMS


__all__ = ["is_available", "device_count", "current_device", "set_device", "device",
           "synchronize", "get_device_name", "manual_seed", "manual_seed_all",
           "Stream", "StreamContext", "stream", "current_stream", "default_stream", "Event",
           "memory_allocated", "max_memory_allocated", "reset_peak_memory_stats",
           "memory_reserved", "empty_cache", "mem_get_info", "get_device_properties",
           "get_device_capability"]
