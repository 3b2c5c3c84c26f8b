"""Which SciPy to compute with: ``scipy.<sub>``, or ``cupyx.scipy.<sub>`` for CuPy arrays."""

import importlib

from ..backend.device import _CUPY_ARRAY


def scipy_module(sub, args, name):
    """``scipy.<sub>`` (``cupyx.scipy.<sub>`` when an argument is a CuPy array); a missing
    SciPy is an ImportError that names the function and the extra to install."""
    for a in args:
        if isinstance(a, _CUPY_ARRAY):
            return cupyx_module(sub, name, a)
    try:
        return importlib.import_module(f"scipy.{sub}")
    except ImportError as e:  # pragma: no cover - SciPy is installed in the test environment
        raise ImportError(f"tensorgrad.scipy.{sub}.{name} needs SciPy; install it with "
                          "pip install 'tensorgrad[scipy]'") from e


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
