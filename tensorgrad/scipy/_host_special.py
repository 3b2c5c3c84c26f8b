"""The part of ``scipy.special`` that tensorgrad computes with NumPy alone.

When SciPy is not installed, ``tensorgrad.scipy.special`` (and through it ``tg.erf``,
``tg.lgamma``, ``tg.xlogy``, ``nn.GELU``, the distributions, ``tg.special``) computes these
functions with the NumPy implementations of ``_host_erf``, ``_host_gamma``, ``_host_bessel`` (I
and K) and ``_host_bessel_jy`` (J and Y), and ``xlogy``/``xlog1py`` here, instead of raising
ImportError; the rest of ``scipy.special`` still needs SciPy and says so. Each is a
``scipy.special``-like ufunc of real arguments, within a few ulp of the exact value
(tests/test_host_*.py measure them against mpmath).
"""

import numpy as np

from . import _host_bessel, _host_bessel_jy, _host_erf, _host_gamma


def _x_times(name, log, x, y):
    """x * log(y), and 0 where x == 0 unless y is NaN (SciPy's xlogy and xlog1py)."""
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype.kind == "c" or y.dtype.kind == "c":
        raise TypeError(f"{name}: complex arguments need SciPy (pip install 'tensorgrad[scipy]')")
    dtype = np.result_type(x, y, np.float16)
    dtype = np.float32 if dtype in (np.float16, np.float32) else np.float64
    with np.errstate(all="ignore"):
        out = np.asarray(x * log(y), dtype=dtype)
    out[(x == 0) & ~np.isnan(y)] = 0
    return out[()] if out.ndim == 0 else out


def xlogy(x, y):
    """x * log(y), and 0 where x == 0 (unless y is NaN)."""
    return _x_times("xlogy", np.log, x, y)


def xlog1py(x, y):
    """x * log1p(y), and 0 where x == 0 (unless y is NaN)."""
    return _x_times("xlog1py", np.log1p, x, y)


_MODULES = (_host_erf, _host_gamma, _host_bessel, _host_bessel_jy)
NAMES = frozenset(sum((m.NAMES for m in _MODULES), ("xlogy", "xlog1py")))

for _mod in _MODULES:
    for _name in _mod.NAMES:
        globals()[_name] = getattr(_mod, _name)
del _mod, _name
