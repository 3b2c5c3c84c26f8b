"""Which SciPy to compute with: ``scipy.<sub>``, or ``cupyx.scipy.<sub>`` for CuPy arrays."""

import importlib

from ..backend.device import _CUPY_ARRAY

_FOUND = {}  # sub -> scipy.<sub>, or the ImportError of a missing SciPy (tried once)
# what stands in for scipy.<sub> without SciPy: NumPy implementations of some of its functions
_NUMPY_ONLY = {"special": "._host_special", "linalg": "._host_linalg"}


def scipy_module(sub, args, name):
    """``scipy.<sub>`` (``cupyx.scipy.<sub>`` when an argument is a CuPy array). Without SciPy,
    the functions of ``scipy.special`` and ``scipy.linalg`` that tensorgrad has in NumPy
    (``_host_special``, ``_host_linalg``) come from there; any other is an ImportError that
    names the function and the extra to install."""
    for a in args:
        if isinstance(a, _CUPY_ARRAY):
            return cupyx_module(sub, name, a)
    mod = _FOUND.get(sub)
    if mod is None:
        try:
            mod = importlib.import_module(f"scipy.{sub}")
        except ImportError as e:
            mod = e
        _FOUND[sub] = mod
    if not isinstance(mod, ImportError):
        return mod
    if sub in _NUMPY_ONLY:
        fallback = importlib.import_module(_NUMPY_ONLY[sub], __package__)
        if name in fallback.NAMES:
            return fallback
    raise ImportError(f"tensorgrad.scipy.{sub}.{name} needs SciPy; install it with "
                      "pip install 'tensorgrad[scipy]'") from mod


def cupyx_module(sub, name, array):
    """``cupyx.scipy.<sub>`` for a CuPy ``array``, checked to have ``name``: CuPy lacks some of
    SciPy's functions, and that is an error that says which function and which device, not an
    AttributeError from inside a primitive."""
    mod = importlib.import_module(f"cupyx.scipy.{sub}")
    if not hasattr(mod, name):
        raise NotImplementedError(
            f"tensorgrad.scipy.{sub}.{name}: not available on the cuda device "
            f"(cuda:{array.device.id}): CuPy's cupyx.scipy.{sub} has no {name}. Compute it on "
            "the cpu (cupy.asnumpy(x), or tensor.cpu()) and move the result back")
    return mod
