"""``cupy.cuda`` of the stand-in: devices, streams, events and memory pools, as no-ops on the CPU
that keep CuPy's bookkeeping (the current device per thread, invalid ordinals refused)."""

import collections
import contextlib
import ctypes
import functools
import itertools
import threading
import time
import weakref

import numpy as np

from . import _core, _sync

CUDA_RUNTIME_VERSION = 13000  # replaced from cupy_names.json on install
_TOTAL_MEM = 16 * 1024**3


class CUDARuntimeError(RuntimeError):
    def __init__(self, status, msg=None):
        self.status = status
        super().__init__(msg or f"cudaError {status}")


def _check_ordinal(dev):
    if not (0 <= dev < _core.N_DEVICES):
        raise CUDARuntimeError(101, "cudaErrorInvalidDevice: invalid device ordinal")


# ---- cupy.cuda.runtime ------------------------------------------------------------------


def getDeviceCount():
    return _core.N_DEVICES


def getDevice():
    return _core._local.device


def setDevice(device):
    device = int(device)
    _check_ordinal(device)
    _core._local.device = device


def runtimeGetVersion():
    return CUDA_RUNTIME_VERSION


def driverGetVersion():
    return CUDA_RUNTIME_VERSION


def getDeviceProperties(device):
    _check_ordinal(int(device))
    return {
        "name": b"StandIn CPU",
        "totalGlobalMem": _TOTAL_MEM,
        "major": 9,
        "minor": 0,
        "multiProcessorCount": 132,
        "maxThreadsPerBlock": 1024,
        "sharedMemPerBlock": 48 * 1024,
        "sharedMemPerBlockOptin": 227 * 1024,
        "warpSize": 32,
        "maxGridSize": (2**31 - 1, 65535, 65535),
        "maxThreadsDim": (1024, 1024, 64),
        "pciBusID": int(device),
    }


def memGetInfo():
    used = used_bytes(_core._local.device)
    return (_TOTAL_MEM - used, _TOTAL_MEM)


def deviceSynchronize():
    _sync.note("cuda.runtime.deviceSynchronize")


def deviceCanAccessPeer(device, peer):
    return 0  # the stand-in models GPUs without peer access: mixing devices raises


def getLastError():
    return 0


RUNTIME_NAMES = {
    "getDeviceCount": getDeviceCount, "getDevice": getDevice, "setDevice": setDevice,
    "runtimeGetVersion": runtimeGetVersion, "driverGetVersion": driverGetVersion,
    "getDeviceProperties": getDeviceProperties, "memGetInfo": memGetInfo,
    "deviceSynchronize": deviceSynchronize, "deviceCanAccessPeer": deviceCanAccessPeer,
    "getLastError": getLastError, "CUDARuntimeError": CUDARuntimeError, "is_hip": False,
    "_is_hip_environment": False, "streamLegacy": 1, "streamPerThread": 2,
}


# ---- devices ----------------------------------------------------------------------------


class Device:
    """``cupy.cuda.Device(n)``: a context manager that makes ``n`` the current device."""

    def __init__(self, device=None):
        self.id = _core._local.device if device is None else int(device)

    def __enter__(self):
        _check_ordinal(self.id)
        _core._local.device_stack.append(_core._local.device)
        _core._local.device = self.id
        return self

    def __exit__(self, *exc):
        _core._local.device = _core._local.device_stack.pop()
        return False

    def use(self):
        _check_ordinal(self.id)
        _core._local.device = self.id

    def synchronize(self):
        _check_ordinal(self.id)
        _sync.note("Device.synchronize")

    @property
    def compute_capability(self):
        _check_ordinal(self.id)
        return "90"

    @property
    def mem_info(self):
        _check_ordinal(self.id)
        return (_TOTAL_MEM - used_bytes(self.id), _TOTAL_MEM)

    @property
    def attributes(self):
        _check_ordinal(self.id)
        return {"MaxThreadsPerBlock": 1024, "MultiProcessorCount": 132, "WarpSize": 32,
                "MaxSharedMemoryPerBlockOptin": 227 * 1024}

    def __int__(self):
        return self.id

    def __index__(self):
        return self.id

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(("Device", self.id))

    def __repr__(self):
        return f"<CUDA Device {self.id}>"


def get_device_id():
    return _core._local.device


def is_available():
    return True


# ---- streams and events -------------------------------------------------------------------
# As CuPy's cupy/cuda/stream.pyx: the current stream is kept per thread and per device; the
# null and per-thread-default singletons have device_id -1 (the current device); a stream made
# on one device can't be entered or used while another is current. Work is synchronous on the
# stand-in, so every stream and event is done; what is kept is the bookkeeping.

_ptrs = itertools.count(0x5000)
_PRIORITY_RANGE = (0, -5)  # (least, greatest), as cudaDeviceGetStreamPriorityRange on an H200


def _cuda_error(status):
    name, text = {400: ("cudaErrorInvalidResourceHandle", "invalid resource handle"),
                  600: ("cudaErrorNotReady", "device not ready")}[status]
    return CUDARuntimeError(status, f"{name}: {text}")


class _StreamLocal(threading.local):
    def __init__(self):
        self.current = {}  # device id -> stream; absent: the default (null) stream
        self.stacks = {}  # device id -> streams entered with `with`
        self.device_stack = []  # the device id of each `with`, to pop the right stack


_streams = _StreamLocal()


def _check_stream_device_match(device_id):
    cur = _core._local.device
    if device_id == -1:
        device_id = cur
    if device_id != cur:
        raise RuntimeError(f"The device that the stream is created on ({device_id}) does not "
                           f"match with the current device ({cur})")
    return device_id


def _stream_device(stream):
    return _core._local.device if stream.device_id == -1 else stream.device_id


class _BaseStream:
    def __init__(self, ptr, device_id):
        self.ptr = ptr
        self.device_id = device_id

    def __eq__(self, other):  # CuPy compares the handles only
        return isinstance(other, _BaseStream) and other.ptr == self.ptr

    def __hash__(self):
        return self.ptr

    def __enter__(self):
        dev = _check_stream_device_match(self.device_id)
        _streams.stacks.setdefault(dev, []).append(_streams.current.get(dev))
        _streams.device_stack.append(dev)
        _streams.current[dev] = self
        return self

    def __exit__(self, *exc):
        dev = _streams.device_stack.pop()
        prev = _streams.stacks[dev].pop()
        if prev is None:
            _streams.current.pop(dev, None)
        else:
            _streams.current[dev] = prev
        return None

    def __repr__(self):
        return f"<{type(self).__name__} {self.ptr} (device {self.device_id})>"

    def __cuda_stream__(self):
        return (0, self.ptr)

    def use(self):
        dev = _check_stream_device_match(self.device_id)
        _streams.current[dev] = self
        return self

    @property
    def done(self):
        return True

    def synchronize(self):
        _sync.note("Stream.synchronize")

    def add_callback(self, callback, arg):
        callback(self, 0, arg)

    def launch_host_func(self, callback, arg):
        callback(arg)

    def record(self, event=None):
        if event is None:
            event = Event()
        _event_record(event, self)
        return event

    def wait_event(self, event):
        if not isinstance(event, Event):
            raise TypeError(f"wait_event: expected a cupy.cuda.Event, got {type(event)}")
        return None  # waiting on an event never recorded is a no-op in CUDA too

    def is_capturing(self):
        return False

    @property
    def is_non_blocking(self):
        return bool(getattr(self, "_non_blocking", False))

    @property
    def priority(self):
        return getattr(self, "_priority", 0)


class Stream(_BaseStream):
    """``cupy.cuda.Stream(null=False, non_blocking=False, ptds=False, priority=None)``."""

    null = None  # set below: the null (legacy default) stream, ptr 0, device_id -1
    ptds = None

    def __init__(self, null=False, non_blocking=False, ptds=False, priority=None):
        if null:
            super().__init__(0, -1)
        elif ptds:
            super().__init__(2, -1)  # runtime.streamPerThread
        else:
            least, greatest = _PRIORITY_RANGE
            p = 0 if priority is None else int(priority)
            self._priority = min(least, max(greatest, p))  # CUDA clamps into the range
            self._non_blocking = bool(non_blocking)
            super().__init__(next(_ptrs), _core._local.device)


Stream.null = Stream(null=True)
Stream.ptds = Stream(ptds=True)


class ExternalStream(_BaseStream):
    def __init__(self, ptr, device_id=-1):
        super().__init__(int(ptr), int(device_id))


def get_current_stream(device_id=-1):
    if type(device_id) is not int:  # a Cython `int device_id` argument
        raise TypeError(f"an integer is required, got {type(device_id).__name__}")
    if device_id == -1:
        device_id = _core._local.device
    return _streams.current.get(device_id, Stream.null)


class Event:
    """``cupy.cuda.Event(block=False, disable_timing=False, interprocess=False)``: made on the
    current device; ``record`` stamps the host time, and CUDA's rules are kept: recording on a
    stream of another device, or timing an event never recorded or made with
    ``disable_timing=True``, raise ``cudaErrorInvalidResourceHandle``."""

    def __init__(self, block=False, disable_timing=False, interprocess=False):
        if interprocess and not disable_timing:
            raise ValueError("Timing must be disabled for interprocess events")
        self.ptr = next(_ptrs)
        self._device = _core._local.device
        self._timing = not disable_timing
        self._t = None  # host time of the last record; None: never recorded

    def record(self, stream=None):
        _event_record(self, get_current_stream() if stream is None else stream)

    def synchronize(self):
        _sync.note("Event.synchronize")

    @property
    def done(self):
        return True  # cudaEventQuery is cudaSuccess for an event never recorded, too


def _event_record(event, stream):
    if _stream_device(stream) != event._device:
        raise _cuda_error(400)  # an event and the stream it is recorded on share a device
    event._t = time.perf_counter()


def get_elapsed_time(start_event, end_event):
    for e in (start_event, end_event):
        if e._t is None or not e._timing:
            raise _cuda_error(400)
    return (end_event._t - start_event._t) * 1000.0


# ---- memory -------------------------------------------------------------------------------


class MemoryPool:
    """``cupy.cuda.MemoryPool``: ``used_bytes()`` counts the live stand-in arrays of the
    current device; nothing is ever cached, so there is nothing to free."""

    def __init__(self, allocator=None):
        self._limits = {}  # device id -> bytes (0: no limit), as CuPy's per-device pools

    def used_bytes(self):
        return used_bytes(_core._local.device)

    def free_bytes(self):
        return 0

    def total_bytes(self):
        return self.used_bytes()

    def free_all_blocks(self, stream=None):
        return None

    def free_all_free(self):
        return None

    def n_free_blocks(self):
        return 0

    def set_limit(self, size=None, fraction=None):
        # CuPy's SingleDeviceMemoryPool.set_limit, for the current device
        if size is None:
            if fraction is None:
                size = 0
            else:
                if not 0 <= fraction <= 1:
                    raise ValueError(f"memory limit fraction out of range: {fraction}")
                size = fraction * memGetInfo()[1]
            self.set_limit(size=size)
            return
        if fraction is not None:
            raise ValueError("size and fraction cannot be specified at one time")
        if size < 0:
            raise ValueError(f"memory limit size out of range: {size}")
        self._limits[_core._local.device] = int(size)  # a size_t in CuPy

    def get_limit(self):
        return self._limits.get(_core._local.device, 0)


# ---- memory hooks (cupy/cuda/memory_hook.pyx) ---------------------------------------------
# Registered per thread with `with hook:`. While any hook is registered the stand-in counts the
# bytes of live arrays as they are made and freed, so that MemoryPool.used_bytes() is O(1) as
# in CuPy (a hook that reads it at each malloc would otherwise rescan every live array), and
# calls the registering thread's hooks for each buffer first seen (malloc, then alloc: nothing
# is cached) and the freeing thread's hooks when a counted buffer is freed (free).

class _HookLocal(threading.local):
    def __init__(self):
        self.hooks = None


_hook_local = _HookLocal()
_n_hooks = [0]  # hooks registered, all threads together: 0 keeps array creation hook-free
_hooked = weakref.WeakValueDictionary()  # id -> NumPy buffer counted in _counts
_counts = {}  # device id -> bytes of the live buffers, while counting
_generation = [0]  # 0: not counting; a finalizer from an older generation does nothing
_generations = itertools.count(1)


def get_memory_hooks():
    if _hook_local.hooks is None:
        _hook_local.hooks = collections.OrderedDict()
    return _hook_local.hooks


def used_bytes(device):
    """The bytes of the live arrays on ``device``: counted while a hook is registered, else
    found by a scan of the live arrays."""
    if _generation[0]:
        return _counts.get(device, 0)
    return _core.used_bytes(device)


class MemoryHook:
    """``cupy.cuda.MemoryHook``: subclass it, set ``name``, and register it with ``with``."""

    name = "MemoryHook"

    def __enter__(self):
        hooks = get_memory_hooks()
        if self.name in hooks:
            raise KeyError(f"memory hook {self.name} already exists")
        hooks[self.name] = self
        _n_hooks[0] += 1
        if _n_hooks[0] == 1:
            _start_counting()
        return self

    def __exit__(self, *_):
        del get_memory_hooks()[self.name]
        _n_hooks[0] -= 1
        if not _n_hooks[0]:
            _core._alloc_hook[0] = None
            _generation[0] = 0
            _counts.clear()
            _hooked.clear()

    def alloc_preprocess(self, **kwargs):
        pass

    def alloc_postprocess(self, **kwargs):
        pass

    def malloc_preprocess(self, **kwargs):
        pass

    def malloc_postprocess(self, **kwargs):
        pass

    def free_preprocess(self, **kwargs):
        pass

    def free_postprocess(self, **kwargs):
        pass


def _round_size(size):  # CuPy's memory pool rounds up to 512 bytes
    return (size + 511) // 512 * 512


def _start_counting():
    _generation[0] = next(_generations)
    _counts.clear()
    _hooked.clear()
    for ref in list(_core._live):  # what is live now, once
        obj = ref()
        if obj is not None:
            _count(obj)
    _core._alloc_hook[0] = _on_alloc


def _count(obj):
    """The buffer under ``obj`` if it was not counted yet (now it is), else None."""
    a = obj._a
    root = a.base if isinstance(a.base, np.ndarray) else a
    if _hooked.get(id(root)) is root:
        return None
    _hooked[id(root)] = root
    dev, size = obj._dev, root.nbytes
    _counts[dev] = _counts.get(dev, 0) + size
    weakref.finalize(root, _on_free, _generation[0], dev, size, root.ctypes.data,
                     id(root)).atexit = False
    return root


def _on_alloc(obj):
    root = _count(obj)
    hooks = _hook_local.hooks
    if root is None or not hooks:
        return  # memory seen already, or no hook in this thread (CuPy's hooks are per thread)
    dev, size = obj._dev, root.nbytes
    mem_size, ptr, pmem_id = _round_size(size), root.ctypes.data, id(root)
    hooks = list(hooks.values())
    prev, _core._local.device = _core._local.device, dev  # CuPy allocates on the current device
    try:
        for h in hooks:
            h.malloc_preprocess(device_id=dev, size=size, mem_size=mem_size)
        for h in hooks:
            h.alloc_preprocess(device_id=dev, mem_size=mem_size)
        for h in hooks:
            h.alloc_postprocess(device_id=dev, mem_size=mem_size, mem_ptr=ptr)
        for h in hooks:
            h.malloc_postprocess(device_id=dev, size=size, mem_size=mem_size, mem_ptr=ptr,
                                 pmem_id=pmem_id)
    finally:
        _core._local.device = prev


def _on_free(generation, dev, size, ptr, pmem_id):
    if generation != _generation[0]:
        return  # counted by a counting that has ended
    _counts[dev] -= size
    mem_size = _round_size(size)
    hooks = list((_hook_local.hooks or {}).values())  # the freeing thread's hooks, as CuPy
    for h in hooks:
        h.free_preprocess(device_id=dev, mem_size=mem_size, mem_ptr=ptr, pmem_id=pmem_id)
    for h in hooks:
        h.free_postprocess(device_id=dev, mem_size=mem_size, mem_ptr=ptr, pmem_id=pmem_id)


# ---- pinned (page-locked) host memory (cupy/cuda/pinned_memory.pyx) -------------------------
# A PinnedMemory is a NumPy byte buffer whose address range is remembered while it lives, so
# that is_memory_pinned(ptr) answers as cudaPointerGetAttributes would. A PinnedMemoryPointer
# exports its bytes through the buffer protocol (np.frombuffer(ptr, dtype, count)), as CuPy's
# does; Python 3.11 classes can't, so each pointer is a ctypes byte array over the buffer.

_pinned = {}  # start address -> size, of the live PinnedMemory buffers
_NO_BYTES = bytearray(1)  # what an empty pointer's zero bytes are a view of


class PinnedMemory:
    """``cupy.cuda.PinnedMemory(size, flags=0)``: ``size`` bytes of page-locked host memory."""

    def __init__(self, size, flags=0):
        self.size = int(size)
        self.ptr = 0
        if self.size > 0:
            self._buf = np.empty(self.size, np.uint8)
            self.ptr = self._buf.ctypes.data
            _pinned[self.ptr] = self.size
            weakref.finalize(self, _pinned.pop, self.ptr, None).atexit = False

    def __int__(self):
        return self.ptr


class PooledPinnedMemory(PinnedMemory):
    def __init__(self, mem, pool):
        self.ptr, self.size, self.pool, self.mem = mem.ptr, mem.size, pool, mem
        self._buf = getattr(mem, "_buf", None)

    def free(self):
        pool = self.pool()
        if pool is not None and self.ptr != 0:
            pool._free_block(self.mem, self.size)
        self.ptr = 0
        self.size = 0

    __del__ = free


class PinnedMemoryPointer:
    """``cupy.cuda.PinnedMemoryPointer(mem, offset)``: ``.mem``, ``.ptr``, ``size()``, pointer
    arithmetic, and the bytes from ``ptr`` to the end of ``mem`` through the buffer protocol."""

    def __new__(cls, mem, offset):
        offset = int(offset)
        n = max(0, mem.size - offset)
        buf = getattr(mem, "_buf", None)
        kind = _pointer_type(n)
        obj = kind.from_buffer(buf, offset) if n else kind.from_buffer(_NO_BYTES)
        obj.mem = mem
        obj.ptr = mem.ptr + offset
        return obj

    def __init__(self, mem, offset):
        pass

    def __int__(self):
        return self.ptr

    def size(self):
        return self.mem.size - (self.ptr - self.mem.ptr)

    def __add__(self, offset):
        return PinnedMemoryPointer(self.mem, self.ptr - self.mem.ptr + int(offset))

    __radd__ = __add__

    def __sub__(self, offset):
        return self + -int(offset)

    def __repr__(self):
        return f"<PinnedMemoryPointer 0x{self.ptr:x} ({self.size()} bytes)>"


@functools.cache
def _pointer_type(n):
    return type("PinnedMemoryPointer", (PinnedMemoryPointer, ctypes.c_byte * n),
                {"__module__": __name__})


def _malloc_pinned(size):
    return PinnedMemoryPointer(PinnedMemory(size, 1), 0)  # runtime.hostAllocPortable


class PinnedMemoryPool:
    """``cupy.cuda.PinnedMemoryPool``: blocks rounded up to a power of two of 512-byte units,
    kept for reuse once freed (as in CuPy, whose ``free`` is not callable from Python)."""

    def __init__(self, allocator=_malloc_pinned):
        self._free = {}
        self._in_use = set()
        self._alloc = allocator
        self._weakref = weakref.ref(self)

    def malloc(self, size):
        size = int(size)
        if size == 0:
            return PinnedMemoryPointer(PinnedMemory(0), 0)
        units = (size + 511) // 512
        size = 512 * (1 << (units - 1).bit_length())
        free = self._free.get(size)
        mem = free.pop() if free else self._alloc(size).mem
        self._in_use.add(mem)
        return PinnedMemoryPointer(PooledPinnedMemory(mem, self._weakref), 0)

    def _free_block(self, mem, size):
        self._in_use.discard(mem)
        self._free.setdefault(size, []).append(mem)

    def free_all_blocks(self):
        self._free.clear()

    def n_free_blocks(self):
        return sum(len(v) for v in self._free.values())


_default_pool = MemoryPool()
_default_pinned_pool = PinnedMemoryPool()
_pinned_allocator = [_default_pinned_pool.malloc]  # as cupy/__init__.py sets it


def get_default_memory_pool():
    return _default_pool


def get_default_pinned_memory_pool():
    return _default_pinned_pool


def alloc_pinned_memory(size):
    return _pinned_allocator[0](size)


def set_pinned_memory_allocator(allocator=None):
    _pinned_allocator[0] = _malloc_pinned if allocator is None else allocator


def is_memory_pinned(data):
    data = int(data)
    return any(start <= data < start + n for start, n in list(_pinned.items()))


_allocator = None


def set_allocator(allocator=None):
    global _allocator
    _allocator = allocator


def get_allocator():
    return _allocator


@contextlib.contextmanager
def using_allocator(allocator=None):
    global _allocator
    prev, _allocator = _allocator, allocator
    try:
        yield
    finally:
        _allocator = prev


@contextlib.contextmanager
def profile():
    yield


def get_local_runtime_version():
    return CUDA_RUNTIME_VERSION


def get_cuda_path():
    return None


def _range_push(*args, **kwargs):
    return None


NVTX_NAMES = {"RangePush": _range_push, "RangePop": _range_push, "Mark": _range_push,
              "MarkC": _range_push, "RangePushC": _range_push}

CUDA_NAMES = {
    "Device": Device, "Stream": Stream, "ExternalStream": ExternalStream, "Event": Event,
    "MemoryPool": MemoryPool, "PinnedMemoryPool": PinnedMemoryPool,
    "MemoryPointer": _core.MemoryPointer, "get_current_stream": get_current_stream,
    "get_device_id": get_device_id, "get_elapsed_time": get_elapsed_time,
    "is_available": is_available, "set_allocator": set_allocator,
    "get_allocator": get_allocator, "using_allocator": using_allocator,
    "set_pinned_memory_allocator": set_pinned_memory_allocator, "profile": profile,
    "get_local_runtime_version": get_local_runtime_version, "get_cuda_path": get_cuda_path,
    "get_nvcc_path": get_cuda_path, "get_hipcc_path": get_cuda_path,
    "get_rocm_path": get_cuda_path, "MemoryHook": MemoryHook, "PinnedMemory": PinnedMemory,
    "PinnedMemoryPointer": PinnedMemoryPointer, "alloc_pinned_memory": alloc_pinned_memory,
}
DEVICE_NAMES = {"Device": Device, "get_device_id": get_device_id}
STREAM_NAMES = {"Stream": Stream, "ExternalStream": ExternalStream, "Event": Event,
                "get_current_stream": get_current_stream, "get_elapsed_time": get_elapsed_time}
MEMORY_NAMES = {"MemoryPool": MemoryPool, "PinnedMemoryPool": PinnedMemoryPool,
                "MemoryPointer": _core.MemoryPointer, "set_allocator": set_allocator,
                "get_allocator": get_allocator}
PINNED_NAMES = {"PinnedMemory": PinnedMemory, "PinnedMemoryPointer": PinnedMemoryPointer,
                "PinnedMemoryPool": PinnedMemoryPool, "PooledPinnedMemory": PooledPinnedMemory,
                "alloc_pinned_memory": alloc_pinned_memory,
                "set_pinned_memory_allocator": set_pinned_memory_allocator,
                "is_memory_pinned": is_memory_pinned}
MEMORY_HOOK_NAMES = {"MemoryHook": MemoryHook, "get_memory_hooks": get_memory_hooks}
