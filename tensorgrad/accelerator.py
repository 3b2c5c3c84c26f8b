"""``tg.accelerator``: PyTorch's device-generic ``torch.accelerator`` names, over ``tg.cuda``.

tensorgrad's one accelerator is CUDA (through CuPy). Where CuPy or a GPU is missing the answers
are those of PyTorch's CPU build: ``is_available()`` is False, ``current_accelerator()`` is None,
``device_count()`` is 0, and everything that needs a device raises PyTorch's ``RuntimeError``.
With a GPU each function is the ``tg.cuda`` one.

>>> import tensorgrad as tg
>>> device = (tg.accelerator.current_accelerator() if tg.accelerator.is_available()
...           else tg.device("cpu"))
>>> device.type in ("cpu", "cuda")
True
"""

import warnings

from . import cuda as _cuda
from .backend.device import Device as _Device

__all__ = ["current_accelerator", "current_device_idx", "current_device_index",
           "get_device_capability", "current_stream", "device_count", "device_index",
           "empty_cache", "empty_host_cache", "get_memory_info", "is_available",
           "max_memory_allocated", "max_memory_reserved", "memory_allocated", "memory_reserved",
           "memory_stats", "reset_accumulated_memory_stats", "reset_peak_memory_stats",
           "set_device_idx", "set_device_index", "set_stream", "synchronize"]

_NONE = "Cannot access accelerator device when none is available."


def _require():
    if not _cuda.is_available():
        raise RuntimeError(_NONE)


def _index(device, what, optional=True):
    """The GPU index ``device`` names (an int, ``"cuda:N"``, a ``tg.device``; None: the current
    one), after checking that an accelerator is there."""
    _require()
    if device is None:
        return _cuda.current_device()
    if isinstance(device, bool) or not isinstance(device, (int, str, _Device)):
        raise TypeError(f"tg.accelerator.{what}: expected a device index, a device string or a "
                        f"tg.device, got {type(device).__name__}")
    if isinstance(device, int):
        return device
    d = _Device(device)
    if d.type != "cuda":
        raise ValueError(f"tg.accelerator.{what}: {device!r} is not the current accelerator's "
                         f"device type (cuda)")
    return _cuda.current_device() if d.index is None else d.index


def is_available():
    """Whether an accelerator (a CUDA GPU through CuPy) can be used."""
    return bool(_cuda.is_available())


def current_accelerator(check_available=False):
    """``tg.device("cuda")`` when a GPU is there, else None (``check_available`` is kept for
    PyTorch's signature: without an accelerator the answer is None either way)."""
    if not _cuda.is_available():
        return None
    return _Device("cuda")


def device_count():
    """The number of accelerator devices (0 without one)."""
    return int(_cuda.device_count()) if _cuda.is_available() else 0


def current_device_index():
    """The index of the current GPU."""
    _require()
    return int(_cuda.current_device())


def current_device_idx():
    """Deprecated (as in PyTorch): ``current_device_index()``."""
    warnings.warn("tg.accelerator.current_device_idx is deprecated, use "
                  "tg.accelerator.current_device_index", FutureWarning, stacklevel=2)
    return current_device_index()


def set_device_index(device, /):
    """Make ``device`` (an index, ``"cuda:N"`` or a tg.device) the current GPU."""
    _cuda.set_device(_index(device, "set_device_index"))


def set_device_idx(device, /):
    """Deprecated (as in PyTorch): ``set_device_index(device)``."""
    warnings.warn("tg.accelerator.set_device_idx is deprecated, use "
                  "tg.accelerator.set_device_index", FutureWarning, stacklevel=2)
    set_device_index(device)


class device_index:
    """``with tg.accelerator.device_index(1): ...``: the current GPU inside the block, the
    previous one after it; ``None`` changes nothing (and needs no accelerator)."""

    def __init__(self, device, /):
        self.idx = device
        self.prev_idx = -1

    def __enter__(self):
        if self.idx is not None:
            self.prev_idx = current_device_index()
            set_device_index(self.idx)

    def __exit__(self, *exc_info):
        if self.idx is not None:
            set_device_index(self.prev_idx)


def synchronize(device=None, /):
    """Wait for the work queued on the GPU (the current one, or ``device``)."""
    _cuda.synchronize(_index(device, "synchronize"))


def current_stream(device=None, /):
    """The current stream of the GPU (a ``tg.cuda.Stream``)."""
    return _cuda.current_stream(_index(device, "current_stream"))


def set_stream(stream):
    """Make ``stream`` (a ``tg.cuda.Stream``) the current stream, and its GPU the current
    device, as PyTorch's."""
    _require()
    if not isinstance(stream, _cuda.Stream):
        raise TypeError(f"tg.accelerator.set_stream: expected a tg.cuda.Stream, got "
                        f"{type(stream).__name__}")
    set_device_index(stream.device_index)
    stream._s.use()  # CuPy's current stream of this thread, on that device


def get_device_capability(device=None, /):
    """``{"supported_dtypes": set of dtypes}``: the dtypes tensors can have on the GPU (CuPy's:
    no bfloat16)."""
    from . import _dtypes

    _index(device, "get_device_capability")
    names = ["float16", "float32", "float64", "complex64", "complex128", "int8", "int16",
             "int32", "int64", "uint8", "bool"]
    return {"supported_dtypes": {getattr(_dtypes, n) for n in names}}


def empty_cache():
    """Return cached, unused GPU memory to the driver (``tg.cuda.empty_cache``)."""
    _require()
    _cuda.empty_cache()


def empty_host_cache():
    """Free the cached pinned host memory (CuPy's pinned memory pool)."""
    _require()
    _cuda._cupy("empty_host_cache").get_default_pinned_memory_pool().free_all_blocks()


def memory_allocated(device_index=None, /):
    """Bytes held by live tensors on the GPU (``tg.cuda.memory_allocated``)."""
    return _cuda.memory_allocated(_index(device_index, "memory_allocated"))


def max_memory_allocated(device_index=None, /):
    """The peak of ``memory_allocated`` (``tg.cuda.max_memory_allocated``)."""
    return _cuda.max_memory_allocated(_index(device_index, "max_memory_allocated"))


def memory_reserved(device_index=None, /):
    """Bytes the memory pool holds on the GPU (``tg.cuda.memory_reserved``)."""
    return _cuda.memory_reserved(_index(device_index, "memory_reserved"))


def max_memory_reserved(device_index=None, /):
    """The peak of ``memory_reserved`` (``tg.cuda.max_memory_reserved``)."""
    return _cuda.max_memory_reserved(_index(device_index, "max_memory_reserved"))


def memory_stats(device_index=None, /):
    """The memory statistics dict of ``tg.cuda.memory_stats``, as an OrderedDict."""
    from collections import OrderedDict

    return OrderedDict(_cuda.memory_stats(_index(device_index, "memory_stats")))


def reset_peak_memory_stats(device_index=None, /):
    """Start the peaks over from the bytes in use now (``tg.cuda.reset_peak_memory_stats``)."""
    _cuda.reset_peak_memory_stats(_index(device_index, "reset_peak_memory_stats"))


def reset_accumulated_memory_stats(device_index=None, /):
    """PyTorch resets its allocation counters here; CuPy's pool keeps none (``memory_stats``
    has only current and peak values), so this checks the device and changes nothing."""
    _index(device_index, "reset_accumulated_memory_stats")


def get_memory_info(device_index=None, /):
    """``(free, total)`` bytes of the GPU's memory (``tg.cuda.mem_get_info``)."""
    return _cuda.mem_get_info(_index(device_index, "get_memory_info"))
