"""Which SciPy to compute with: ``scipy.<sub>``, or ``cupyx.scipy.<sub>`` for CuPy arrays."""

import importlib

from ..backend.device import _CUPY_ARRAY


def scipy_module(sub, args, name):
    """``scipy.<sub>`` (``cupyx.scipy.<sub>`` when an argument is a CuPy array); a missing
    SciPy is an ImportError that names the function and the extra to install."""
    for a in args:
        if isinstance(a, _CUPY_ARRAY):  # pragma: no cover - needs CuPy
            return importlib.import_module(f"cupyx.scipy.{sub}")
    try:
        return importlib.import_module(f"scipy.{sub}")
    except ImportError as e:  # pragma: no cover - SciPy is installed in the test environment
        raise ImportError(f"tensorgrad.scipy.{sub}.{name} needs SciPy; install it with "
                          "pip install 'tensorgrad[scipy]'") from e
