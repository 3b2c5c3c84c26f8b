"""Devices are values: a Device knows its array module.

Only this module imports CuPy, behind a guard, so tensorgrad imports and runs where CuPy or a GPU
is missing. Everything else asks ``xp_of(array)`` for the module to compute with.
"""

import threading

import numpy as np

try:  # pragma: no cover - depends on the machine
    import cupy

    _CUPY_ARRAY = cupy.ndarray
except Exception:  # ImportError, or a CuPy that cannot find its CUDA libraries
    cupy = None

    class _CUPY_ARRAY:  # a type no array will ever have
        pass


def xp_of(x):
    """The array module (numpy or cupy) that computes on ``x``."""
    return cupy if type(x) is _CUPY_ARRAY else np


get_array_module = xp_of


_CUDA = {}  # memoised answers: whether CuPy sees a GPU, how many, and why not


def _probe():
    if not _CUDA:
        if cupy is None:
            _CUDA.update(count=0, why="CuPy is not installed; install tensorgrad[cuda] "
                                      "(cupy-cuda12x or cupy-cuda13x) on a machine with an "
                                      "NVIDIA GPU, or use device='cpu'")
        else:
            try:
                n = int(cupy.cuda.runtime.getDeviceCount())
                why = "CuPy sees no CUDA GPU on this machine; use device='cpu'"
            except Exception as e:  # a CuPy that cannot find its driver or libraries
                n, why = 0, (f"CuPy is installed but cannot reach a GPU ({type(e).__name__}: "
                             f"{e}); check the NVIDIA driver, or use device='cpu'")
            _CUDA.update(count=n, why=why)
    return _CUDA


def cuda_available():
    return _probe()["count"] > 0


def cuda_device_count():
    return _probe()["count"]


def require_cuda(what):
    """Raise a RuntimeError saying what to install when ``what`` needs a GPU and none is
    usable."""
    if not cuda_available():
        raise RuntimeError(f"{what}: {_probe()['why']}")


def _current_gpu():
    """CuPy's current device (0 without CuPy: asking for cuda then fails with its message)."""
    if cupy is None:
        return 0
    try:
        return int(cupy.cuda.runtime.getDevice())
    except Exception:  # noqa: BLE001 - no driver or no GPU: as above
        return 0


class Device:
    """A place for arrays: ``Device("cpu")`` or ``Device("cuda:0")``; ``Device("cuda")`` is
    the current GPU (as PyTorch puts tensors made with ``device="cuda"``).

    >>> Device("cuda:1").index
    1
    """

    __slots__ = ("type", "index")

    def __init__(self, spec="cpu", index=None):
        if isinstance(spec, Device):
            self.type, self.index = spec.type, spec.index
            return
        kind, _, num = str(spec).partition(":")
        if kind not in ("cpu", "cuda"):
            raise ValueError(f"device: unknown device {spec!r}; expected 'cpu' or 'cuda[:N]'")
        self.type = kind
        if kind == "cuda":
            if num:
                self.index = int(num)
            elif index is not None:
                self.index = int(index)
            else:  # "cuda": the current GPU (tg.cuda.set_device, with tg.cuda.device(n):)
                self.index = _current_gpu()
        else:
            self.index = None

    @property
    def xp(self):
        if self.type == "cpu":
            return np
        require_cuda(f"device {self}")
        return cupy

    def __eq__(self, other):
        if isinstance(other, str):
            other = Device(other)
        return isinstance(other, Device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self):
        return hash((self.type, self.index))

    def __repr__(self):
        return f"device(type='{self.type}'" + (f", index={self.index})" if self.index is not None
                                                else ")")

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def put(self, array, non_blocking=False):
        """``array`` (numpy, cupy or a Python sequence) as an array on this device.

        ``non_blocking=True``: a C-contiguous NumPy array in pinned host memory goes to the GPU
        by an asynchronous copy on the current stream (work queued after it on that stream sees
        the values); anything else is copied as without it. A copy to the host is always
        complete on return."""
        if self.type == "cpu":
            if type(array) is _CUPY_ARRAY:
                return array.get()
            return array
        xp = self.xp
        with xp.cuda.Device(self.index):
            if non_blocking and type(array) is np.ndarray and array.flags.c_contiguous \
                    and is_pinned(array):
                return _copy_to_device_async(array)
            return xp.asarray(array)


CPU = Device("cpu")


# ---- pinned host memory and asynchronous copies --------------------------------------------
def pin(array, what="pin_memory"):
    """A copy of the NumPy array ``array`` in page-locked (pinned) host memory from CuPy's
    pinned memory pool: a NumPy array of the same shape and dtype."""
    require_cuda(what)
    mem = cupy.cuda.alloc_pinned_memory(max(array.nbytes, 1))
    out = np.frombuffer(mem, array.dtype, array.size).reshape(array.shape)
    out[...] = array
    return out


def is_pinned(array):
    """Whether ``array`` is a NumPy array in page-locked host memory (False without a GPU)."""
    if type(array) is not np.ndarray or not cuda_available():
        return False
    try:
        return bool(cupy.cuda.pinned_memory.is_memory_pinned(array.ctypes.data))
    except RuntimeError:  # CUDARuntimeError: the driver does not know the address
        return False


# (event, host array) of asynchronous copies not yet seen finished: the host array must live
# until the GPU has read it, or the pinned pool could hand its memory out again meanwhile
_IN_FLIGHT = []
_IN_FLIGHT_LOCK = threading.Lock()


def _copy_to_device_async(host):
    out = cupy.empty(host.shape, host.dtype)
    stream = cupy.cuda.get_current_stream()
    out.set(host, stream=stream)
    event = stream.record()
    with _IN_FLIGHT_LOCK:
        _IN_FLIGHT[:] = [(e, h) for e, h in _IN_FLIGHT if not e.done]
        _IN_FLIGHT.append((event, host))
    return out


def as_device(spec):
    if spec is None:
        return CPU
    return spec if isinstance(spec, Device) else Device(spec)


def to_host(x):
    """``x`` (an array of either device, or a number) as a NumPy array: the one explicit copy
    from a GPU to the host."""
    if type(x) is _CUPY_ARRAY:
        return x.get()
    return np.asarray(x)


def device_of(x):
    if type(x) is _CUPY_ARRAY:
        return Device("cuda", x.device.id)
    return CPU


# ---- the default device -----------------------------------------------------------------
# None while the default is the CPU: the primitives then never look at it (their only cost is
# an ``except`` clause that runs after an op has already failed).
_DEFAULT = [None]


def set_default_device(device):
    """Where the factories put new tensors when no ``device=`` is given (``tg.zeros``,
    ``tg.tensor`` of lists and NumPy arrays, ``tg.randn``, ..., so also the parameters of
    ``nn`` modules made afterwards, as PyTorch's ``torch.set_default_device``), where
    ``tensorgrad.numpy``'s creation functions (``array``, ``zeros``, ``linspace``, ...) and
    ``tensorgrad.numpy.random`` put new arrays, and where the function transforms put a
    NumPy argument they differentiate with respect to. While it is not the CPU, a plain NumPy
    array that meets a device array in a tensorgrad op is moved to the device first (as JAX
    does), so a program written for the CPU runs on the GPU unchanged.

    ``python -m tensorgrad.autograd_compat`` reads the environment variable
    ``TENSORGRAD_DEVICE`` and calls this before the program starts.

    >>> import tensorgrad as tg
    >>> tg.set_default_device("cpu")
    >>> tg.get_default_device()
    device(type='cpu')
    """
    spec = device
    dev = as_device(spec)
    if dev.type != "cpu":
        require_cuda(f"set_default_device({str(spec)!r})")
    _DEFAULT[0] = None if dev.type == "cpu" else dev


def get_default_device():
    return _DEFAULT[0] or CPU


def factory_device(spec):
    """The device a factory's ``device=spec`` means: the default device when ``spec`` is None
    (PyTorch's ``torch.set_default_device``), else ``spec``."""
    if spec is None:
        return _DEFAULT[0] or CPU
    return spec if isinstance(spec, Device) else Device(spec)


def to_default_device(x):
    """``x`` on the default device when ``x`` is a NumPy array (or a container of them) and a
    default device other than the CPU is set; anything else unchanged."""
    dev = _DEFAULT[0]
    if dev is None:
        return x
    if type(x) is np.ndarray:
        return dev.put(x)
    if type(x) in (list, tuple):
        return type(x)(to_default_device(v) for v in x)
    if type(x) is dict:
        return {k: to_default_device(v) for k, v in x.items()}
    return x


def move_host_arrays(args):
    """For an op that failed: ``args`` with their NumPy arrays moved to the device of the
    device arrays among them, or None when there is nothing to move (no default device set,
    or no host array meeting a device array): the failure was something else."""
    if _DEFAULT[0] is None:
        return None
    home = None
    for a in args:
        d = getattr(a, "data", None) if not isinstance(a, (np.ndarray, _CUPY_ARRAY)) else a
        if type(d) is _CUPY_ARRAY:
            home = device_of(d)
            break
    if home is None or not any(type(a) is np.ndarray for a in args):
        return None
    return tuple(home.put(a) if type(a) is np.ndarray else a for a in args)
