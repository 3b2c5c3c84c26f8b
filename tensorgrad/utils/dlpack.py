"""``tg.utils.dlpack``: PyTorch's ``torch.utils.dlpack``: ``to_dlpack`` (a tensor's legacy DLPack
capsule), ``from_dlpack`` (a tensor sharing memory with a DLPack object or capsule) and
``DLDeviceType``.

>>> import numpy as np, tensorgrad as tg
>>> t = tg.utils.dlpack.from_dlpack(tg.utils.dlpack.to_dlpack(tg.arange(3)))
>>> t.tolist()
[0, 1, 2]
"""

import ctypes
import enum

from ..creation import from_dlpack as _from_dlpack
from ..tensor import Tensor

__all__ = ["DLDeviceType", "from_dlpack"]  # PyTorch's; to_dlpack is public too


class DLDeviceType(enum.IntEnum):
    """DLPack's device type codes."""

    kDLCPU = 1
    kDLCUDA = 2
    kDLCUDAHost = 3
    kDLOpenCL = 4
    kDLVulkan = 7
    kDLMetal = 8
    kDLVPI = 9
    kDLROCM = 10
    kDLROCMHost = 11
    kDLExtDev = 12
    kDLCUDAManaged = 13
    kDLOneAPI = 14
    kDLWebGPU = 15
    kDLHexagon = 16
    kDLMAIA = 17


def to_dlpack(tensor):
    """The tensor's data as a DLPack capsule (shared, not copied), for a library's
    ``from_dlpack``; the capsule can be consumed once."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"to_dlpack: expected a tensorgrad Tensor, got {type(tensor).__name__}")
    return tensor.__dlpack__()


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLTensorHead(ctypes.Structure):  # DLTensor's first members: data, then device
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice)]


_get_name = ctypes.pythonapi.PyCapsule_GetName
_get_name.restype, _get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_get_pointer.restype, _get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object,
                                                                 ctypes.c_char_p]


class _Capsule:
    """A legacy capsule dressed as a DLPack object (``__dlpack__``/``__dlpack_device__``), the
    form NumPy's and CuPy's ``from_dlpack`` take."""

    def __init__(self, capsule):
        name = _get_name(capsule)
        if name != b"dltensor":
            raise RuntimeError(f"from_dlpack: the capsule is named {name!r}, not 'dltensor' "
                               "(was it consumed already?)")
        head = _DLTensorHead.from_address(_get_pointer(capsule, name))
        self.capsule = capsule
        self.device = (int(head.device.device_type), int(head.device.device_id))

    def __dlpack__(self, *args, **kwargs):
        return self.capsule

    def __dlpack_device__(self):
        return self.device


def from_dlpack(ext_tensor, *, device=None, copy=None):
    """A tensor of ``ext_tensor``'s data: an object with ``__dlpack__`` (a PyTorch, CuPy, JAX or
    NumPy array) or a capsule from ``to_dlpack``. Shared without a copy unless ``copy=True``
    or ``device`` names another device (``copy=False`` then raises)."""
    if type(ext_tensor).__name__ == "PyCapsule":
        ext_tensor = _Capsule(ext_tensor)
    out = _from_dlpack(ext_tensor)
    if device is not None and str(out.device) != str(_as_device(device, out)):
        if copy is False:
            raise BufferError(f"from_dlpack: the data is on {out.device}, not {device}, and "
                              "copy=False forbids the copy")
        return out.to(device)
    return out.clone() if copy else out


def _as_device(device, like):
    from ..backend.device import as_device

    d = as_device(device)
    if d.type == "cuda" and d.index is None and like.device.type == "cuda":
        return like.device
    return d
