"""Devices are values: a Device knows its array module.

Only this module imports CuPy, behind a guard, so tensorgrad imports and runs where CuPy or a GPU
is missing. Everything else asks ``xp_of(array)`` for the module to compute with.
"""

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


class Device:
    """A place for arrays: ``Device("cpu")`` or ``Device("cuda:0")``.

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
            self.index = int(num) if num else (0 if index is None else int(index))
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

    def put(self, array):
        """``array`` (numpy, cupy or a Python sequence) as an array on this device."""
        if self.type == "cpu":
            if type(array) is _CUPY_ARRAY:
                return array.get()
            return array
        xp = self.xp
        with xp.cuda.Device(self.index):
            return xp.asarray(array)


CPU = Device("cpu")


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
