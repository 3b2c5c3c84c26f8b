"""A strict CuPy stand-in that runs on the CPU, for the test suite (see README.md).

``install()`` puts fake ``cupy``, ``cupyx`` and their submodules into ``sys.modules``; code that
then does ``import cupy`` gets a CuPy with two "devices" whose arrays wrap NumPy arrays, and which
fails where real CuPy fails on a GPU: implicit host conversion, NumPy arrays mixed into device
operations, arrays of two devices mixed, names real CuPy lacks, kernel launches with wrong
arguments.
"""

import sys

from . import _core, _modules
from ._core import ndarray
from ._modules import modules

__all__ = ["install", "uninstall", "installed", "modules", "ndarray", "REAL_CUPY"]

REAL_CUPY = None
_saved = None


def installed():
    """Whether ``sys.modules["cupy"]`` is the stand-in."""
    return getattr(sys.modules.get("cupy"), "__cupy_standin__", False)


def install(n_devices=2):
    """Put the stand-in in ``sys.modules`` under CuPy's names; returns the ``cupy`` module.

    A real CuPy already imported (one that found no GPU) stays reachable as ``REAL_CUPY``
    (its NVRTC compiler works without a GPU).
    """
    global REAL_CUPY, _saved
    if installed():
        return sys.modules["cupy"]
    real = sys.modules.get("cupy")
    if real is not None:
        REAL_CUPY = _modules.REAL_CUPY = real
    _core.N_DEVICES = int(n_devices)
    mods = modules()
    _saved = {name: sys.modules.get(name) for name in mods}
    sys.modules.update(mods)
    return mods["cupy"]


def uninstall():
    """Restore the modules ``install()`` replaced."""
    global _saved
    if _saved is None:
        return
    for name, previous in _saved.items():
        if previous is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = previous
    _saved = None
