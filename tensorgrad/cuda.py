"""``tg.cuda``: PyTorch's ``torch.cuda`` names over CuPy.

Every function works where CuPy or a GPU is missing: the queries answer (``is_available()`` is
False, ``device_count()`` is 0), seeding is remembered for later, and whatever needs a GPU
raises a ``RuntimeError`` that says what to install.

>>> import tensorgrad as tg
>>> isinstance(tg.cuda.is_available(), bool)
True
"""

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


def current_device():
    """The index of the GPU that new cuda tensors go to when no index is given."""
    return int(_cupy("current_device").cuda.runtime.getDevice())


def set_device(device):
    """Make ``device`` (an index, ``"cuda:N"`` or a Device) the current GPU."""
    index = device if isinstance(device, int) else _dev.as_device(device).index
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
    index = current_device() if device is None else (
        device if isinstance(device, int) else _dev.as_device(device).index)
    cp.cuda.Device(index).synchronize()


def get_device_name(device=None):
    """The GPU's name, as the driver reports it."""
    cp = _cupy("get_device_name")
    index = current_device() if device is None else (
        device if isinstance(device, int) else _dev.as_device(device).index)
    name = cp.cuda.runtime.getDeviceProperties(index)["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def manual_seed(seed):
    """Seed the generators of the cuda devices (kept for later where there is no GPU)."""
    from .creation import _seed_devices

    _seed_devices(seed)


manual_seed_all = manual_seed


def memory_allocated(device=None):
    """Bytes held by tensors in CuPy's memory pool."""
    return int(_cupy("memory_allocated").get_default_memory_pool().used_bytes())


def empty_cache():
    """Return CuPy's cached, unused GPU memory to the driver."""
    _cupy("empty_cache").get_default_memory_pool().free_all_blocks()


__all__ = ["is_available", "device_count", "current_device", "set_device", "device",
           "synchronize", "get_device_name", "manual_seed", "manual_seed_all",
           "memory_allocated", "empty_cache"]
