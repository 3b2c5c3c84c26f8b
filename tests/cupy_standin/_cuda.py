"""``cupy.cuda`` of the stand-in: devices, streams, events and memory pools, as no-ops on the CPU
that keep CuPy's bookkeeping (the current device per thread, invalid ordinals refused)."""

import contextlib
import itertools
import time

from . import _core

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
    used = _core.used_bytes(_core._local.device)
    return (_TOTAL_MEM - used, _TOTAL_MEM)


def deviceSynchronize():
    return None


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

    @property
    def compute_capability(self):
        _check_ordinal(self.id)
        return "90"

    @property
    def mem_info(self):
        _check_ordinal(self.id)
        return (_TOTAL_MEM - _core.used_bytes(self.id), _TOTAL_MEM)

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

_ptrs = itertools.count(0x5000)


class Stream:
    """``cupy.cuda.Stream``: work on the stand-in is synchronous, so every stream is done."""

    null = None  # set below: the null (legacy default) stream, ptr 0

    def __init__(self, null=False, non_blocking=False, ptds=False, priority=None):
        self.ptr = 0 if null else (2 if ptds else next(_ptrs))
        self.device_id = _core._local.device
        self.non_blocking = non_blocking
        self.priority = priority

    def __enter__(self):
        _core._local.stream_stack.append(_core._local.stream)
        _core._local.stream = self
        return self

    def __exit__(self, *exc):
        _core._local.stream = _core._local.stream_stack.pop()
        return False

    def use(self):
        _core._local.stream = self
        return self

    def synchronize(self):
        return None

    @property
    def done(self):
        return True

    def record(self, event=None):
        if event is None:
            event = Event()
        event.record(self)
        return event

    def wait_event(self, event):
        return None

    def add_callback(self, callback, arg):
        callback(self, 0, arg)

    def launch_host_func(self, callback, arg):
        callback(arg)

    def __eq__(self, other):
        return isinstance(other, Stream) and other.ptr == self.ptr

    def __hash__(self):
        return hash(("Stream", self.ptr))

    def __repr__(self):
        return f"<Stream {self.ptr} (device {self.device_id})>"


Stream.null = Stream(null=True)
Stream.ptds = Stream(ptds=True)


class ExternalStream(Stream):
    def __init__(self, ptr, device_id=-1):
        self.ptr = int(ptr)
        self.device_id = _core._local.device if device_id < 0 else device_id
        self.non_blocking = False
        self.priority = None


def get_current_stream(device_id=None):
    s = _core._local.stream
    return Stream.null if s is None else s


class Event:
    """``cupy.cuda.Event``: records the host time, so ``get_elapsed_time`` measures it."""

    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self.ptr = next(_ptrs)
        self.disable_timing = disable_timing
        self._t = None

    def record(self, stream=None):
        self._t = time.perf_counter()

    def synchronize(self):
        return None

    @property
    def done(self):
        return True


def get_elapsed_time(start_event, end_event):
    if start_event._t is None or end_event._t is None:
        raise CUDARuntimeError(600, "cudaErrorNotReady: event not recorded")
    if start_event.disable_timing or end_event.disable_timing:
        raise CUDARuntimeError(6, "cudaErrorInvalidResourceHandle")
    return (end_event._t - start_event._t) * 1000.0


# ---- memory -------------------------------------------------------------------------------


class MemoryPool:
    """``cupy.cuda.MemoryPool``: ``used_bytes()`` counts the live stand-in arrays of the
    current device; nothing is ever cached, so there is nothing to free."""

    def __init__(self, allocator=None):
        self._limit = 0

    def used_bytes(self):
        return _core.used_bytes(_core._local.device)

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
        if fraction is not None:
            size = int(_TOTAL_MEM * fraction)
        self._limit = int(size or 0)

    def get_limit(self):
        return self._limit


class PinnedMemoryPool:
    def __init__(self, allocator=None):
        pass

    def free_all_blocks(self):
        return None

    def n_free_blocks(self):
        return 0

    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0


_default_pool = MemoryPool()
_default_pinned_pool = PinnedMemoryPool()


def get_default_memory_pool():
    return _default_pool


def get_default_pinned_memory_pool():
    return _default_pinned_pool


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


def set_pinned_memory_allocator(allocator=None):
    return None


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
    "get_rocm_path": get_cuda_path,
}
DEVICE_NAMES = {"Device": Device, "get_device_id": get_device_id}
STREAM_NAMES = {"Stream": Stream, "ExternalStream": ExternalStream, "Event": Event,
                "get_current_stream": get_current_stream, "get_elapsed_time": get_elapsed_time}
MEMORY_NAMES = {"MemoryPool": MemoryPool, "PinnedMemoryPool": PinnedMemoryPool,
                "MemoryPointer": _core.MemoryPointer, "set_allocator": set_allocator,
                "get_allocator": get_allocator}
