"""``autograd.numpy`` (and ``autograd.numpy.numpy_wrapper``): ``tensorgrad.numpy``, with the
few names autograd adds (``metadata``, ``numpy_version``, ``Box``) and its submodules
(``numpy_boxes``, ``numpy_vjps``, ... load on first use)."""

import numpy as _np

from .. import numpy as _tnp
from ..backend.device import _CUPY_ARRAY, _DEFAULT
from ._core import Box  # noqa: F401

numpy_version = _np.__version__
__version__ = numpy_version


def metadata(A):
    """autograd's ``(shape, ndim, dtype, iscomplex)`` of an array (or traced value)."""
    raw = getattr(A, "data", A) if _tnp.Tensor is type(A) or hasattr(A, "_rg") else A
    return _np.shape(raw), _np.ndim(raw), _np.result_type(raw), _np.iscomplexobj(raw)


class _ArrayMeta(type):
    def __instancecheck__(cls, x):
        return isinstance(x, (_np.ndarray, _CUPY_ARRAY))

    def __subclasscheck__(cls, sub):
        return issubclass(sub, (_np.ndarray, _CUPY_ARRAY))


class _AnyDeviceArray(_np.ndarray, metaclass=_ArrayMeta):
    """With a default device set: ``isinstance(x, np.ndarray)`` holds for the device's arrays
    too, so a program's type checks still pass on the GPU."""

    def __new__(cls, *args, **kwargs):
        return _np.ndarray(*args, **kwargs)


_DYNAMIC_NAMES = ("ndarray",)  # the hook's module leaves it to __getattr__


def __getattr__(name):
    if name == "ndarray":
        return _AnyDeviceArray if _DEFAULT[0] is not None else _np.ndarray
    if name == "__all__":  # ``from autograd.numpy import *``: NumPy's names and tensorgrad's
        names = {n for n in dir(_np) if not n.startswith("_")}
        names |= {n for n in vars(_tnp) if not n.startswith("_")}
        names |= {"metadata", "numpy_version", "Box"}
        return sorted(n for n in names if hasattr(_tnp, n) or n in globals())
    return getattr(_tnp, name)
