"""``tg.signal.windows``: PyTorch's ``torch.signal.windows`` (SciPy-style window functions:
length ``M``, keyword-only ``sym``; ``sym=True`` is the symmetric window, ``sym=False`` the
periodic one for spectral analysis).

The values are computed in float64 by ``tensorgrad.signal_windows._window`` (the machinery of
``tg.hann_window`` and friends, whose ``periodic`` is ``not sym``) and then cast to the dtype;
as PyTorch's, the dtype must be float32 or float64 and bad arguments raise ``ValueError``.

>>> import tensorgrad as tg
>>> [round(v, 12) for v in tg.signal.windows.hann(5, dtype=tg.float64).tolist()]
[0.0, 0.5, 1.0, 0.5, 0.0]
"""

import math
from collections.abc import Iterable

import numpy as np

from .. import creation as _cr
from ..signal_windows import _cosine_sum, _window

__all__ = ["bartlett", "blackman", "cosine", "exponential", "gaussian", "general_cosine",
           "general_hamming", "hamming", "hann", "kaiser", "nuttall"]


def _make(name, values, M, sym, dtype, layout, device, requires_grad):
    if isinstance(M, bool) or not isinstance(M, (int, np.integer)):
        raise TypeError(f"{name}: the window length M must be an int, got {type(M).__name__}")
    if M < 0:
        raise ValueError(f"{name} requires non-negative window length, got M={M}")
    if layout is not None and str(layout) not in ("torch.strided", "strided"):
        raise ValueError(f"{name} is implemented for strided tensors only, got: {layout}")
    dt = np.dtype(dtype) if dtype is not None else _cr.get_default_dtype()
    if dt not in (np.float32, np.float64):
        raise ValueError(f"{name} expects float32 or float64 dtypes, got: {dt}")
    return _window(name, values, M, not sym, dt, device, requires_grad)


# Each window is values(k, d) over k = 0 .. M-1 with d = M - 1 (sym) or M (periodic).
def general_cosine(M, *, a, sym=True, dtype=None, layout=None, device=None,
                   requires_grad=False):
    """sum_i (-1)^i a_i cos(2 pi i k / d)."""
    if M > 1 or not isinstance(M, int):
        if not isinstance(a, Iterable):
            raise TypeError("Coefficients must be a list/tuple")
        a = list(a)
        if not a:
            raise ValueError("Coefficients cannot be empty")
    return _make("general_cosine", _cosine_sum(*a) if M > 1 else None, M, sym, dtype, layout,
                 device, requires_grad)


def general_hamming(M, *, alpha=0.54, sym=True, dtype=None, layout=None, device=None,
                    requires_grad=False):
    """alpha - (1 - alpha) cos(2 pi k / d)."""
    return general_cosine(M, a=[alpha, 1.0 - alpha], sym=sym, dtype=dtype, layout=layout,
                          device=device, requires_grad=requires_grad)


def hann(M, *, sym=True, dtype=None, layout=None, device=None, requires_grad=False):
    """0.5 - 0.5 cos(2 pi k / d)."""
    return general_hamming(M, alpha=0.5, sym=sym, dtype=dtype, layout=layout, device=device,
                           requires_grad=requires_grad)


def hamming(M, *, sym=True, dtype=None, layout=None, device=None, requires_grad=False):
    """0.54 - 0.46 cos(2 pi k / d)."""
    return general_hamming(M, sym=sym, dtype=dtype, layout=layout, device=device,
                           requires_grad=requires_grad)


def blackman(M, *, sym=True, dtype=None, layout=None, device=None, requires_grad=False):
    """0.42 - 0.5 cos(2 pi k / d) + 0.08 cos(4 pi k / d)."""
    return general_cosine(M, a=[0.42, 0.5, 0.08], sym=sym, dtype=dtype, layout=layout,
                          device=device, requires_grad=requires_grad)


def nuttall(M, *, sym=True, dtype=None, layout=None, device=None, requires_grad=False):
    """The minimum 4-term Blackman-Harris window (Nuttall's coefficients)."""
    return general_cosine(M, a=[0.3635819, 0.4891775, 0.1365995, 0.0106411], sym=sym,
                          dtype=dtype, layout=layout, device=device,
                          requires_grad=requires_grad)


def bartlett(M, *, sym=True, dtype=None, layout=None, device=None, requires_grad=False):
    """The triangle 1 - |2 k / d - 1|."""
    return _make("bartlett", lambda k, d: 1 - np.abs(2 * k / d - 1), M, sym, dtype, layout,
                 device, requires_grad)


def kaiser(M, *, beta=12.0, sym=True, dtype=None, layout=None, device=None,
           requires_grad=False):
    """i0(beta sqrt(1 - (2 k / d - 1)^2)) / i0(beta)."""
    if beta < 0:
        raise ValueError(f"beta must be non-negative, got: {beta} instead.")

    def values(k, d):
        return np.i0(beta * np.sqrt(np.clip(1 - (2 * k / d - 1) ** 2, 0, None))) / np.i0(beta)
    return _make("kaiser", values, M, sym, dtype, layout, device, requires_grad)


def gaussian(M, *, std=1.0, sym=True, dtype=None, layout=None, device=None,
             requires_grad=False):
    """exp(-(k - d/2)^2 / (2 std^2))."""
    if std <= 0:
        raise ValueError(f"Standard deviation must be positive, got: {std} instead.")
    return _make("gaussian", lambda k, d: np.exp(-((k - d / 2) / (std * math.sqrt(2))) ** 2), M,
                 sym, dtype, layout, device, requires_grad)


def exponential(M, *, center=None, tau=1.0, sym=True, dtype=None, layout=None, device=None,
                requires_grad=False):
    """exp(-|k - center| / tau), ``center`` d/2 by default (only a periodic window may set
    it)."""
    if tau <= 0:
        raise ValueError(f"Tau must be positive, got: {tau} instead.")
    if sym and center is not None:
        raise ValueError("Center must be None for symmetric windows")

    def values(k, d):
        c = d / 2 if center is None else center
        return np.exp(-np.abs(k - c) / tau)
    if M == 1 and center is not None:  # one point, at distance center from the centre
        out = _make("exponential", None, 1, sym, dtype, layout, device, False)
        return (out * math.exp(-abs(center) / tau)).requires_grad_(requires_grad)
    return _make("exponential", values, M, sym, dtype, layout, device, requires_grad)


def cosine(M, *, sym=True, dtype=None, layout=None, device=None, requires_grad=False):
    """sin(pi (k + 1/2) / (d + 1))."""
    return _make("cosine", lambda k, d: np.sin(math.pi * (k + 0.5) / (d + 1)), M, sym, dtype,
                 layout, device, requires_grad)
