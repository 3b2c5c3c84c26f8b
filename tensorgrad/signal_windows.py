"""PyTorch's window functions (``tg.hann_window``, ...) and the short-time Fourier transform
(``tg.stft``, ``tg.istft``, ``Tensor.stft``, ``Tensor.istft``), with PyTorch's arguments.

``stft`` pads (``tg.nn.functional.pad``), cuts frames with one gather (advanced indexing: its
backward is the scatter-add of ``tensorgrad.ops.index.untake``, ``add.at`` on NumPy and CuPy),
windows them and applies ``tg.fft``; ``istft`` inverts the FFT, windows, overlap-adds with the
same scatter-add and divides by the summed squared window. Everything is a composition of
differentiable primitives, so derivatives of any order need no rules here.

>>> import tensorgrad as tg
>>> x = tg.arange(16, dtype=tg.float64)
>>> w = tg.hann_window(8, dtype=tg.float64)
>>> y = tg.istft(tg.stft(x, 8, 2, window=w, return_complex=True), 8, 2, window=w, length=16)
>>> bool(((y - x).abs() < 1e-9).all())
True
"""

import math

import numpy as np

from . import creation as _cr
from . import fft as _fft
from .nn import functional as _F
from .ops import elementwise as _ew
from .ops import shape as _sh
from .ops import stack as _stack
from .ops.index import getitem as _getitem
from .ops.index import untake as _untake
from .tensor import Tensor, _new_tensor
from .torch_api import _t, _xp


# ---- windows ---------------------------------------------------------------------------------
def _window(name, values, window_length, periodic, dtype, device, requires_grad):
    """The window ``values(N, denom)`` (a NumPy float64 array) of ``window_length`` points, as
    PyTorch builds it: symmetric over ``N - 1``, or periodic (``N + 1`` points, the last
    dropped, so over ``N``)."""
    if int(window_length) != window_length or window_length < 0:
        raise RuntimeError(f"{name}(): window_length must be a non-negative integer, got "
                           f"{window_length!r}")
    n = int(window_length)
    dt = np.dtype(dtype) if dtype is not None else _cr.get_default_dtype()
    if dt.kind != "f":
        raise RuntimeError(f"{name}(): expected a floating point dtype, got {dt}")
    if n <= 1:
        w = np.ones(n)
    else:
        k = np.arange(n, dtype=np.float64)
        w = values(k, n if periodic else n - 1)
    return _cr.tensor(w.astype(dt), device=device, requires_grad=requires_grad)


def _cosine_sum(*coefs):
    def values(k, denom):
        return sum(((-1) ** j) * c * np.cos(2 * math.pi * j * k / denom)
                   for j, c in enumerate(coefs))
    return values


def hann_window(window_length, periodic=True, *, dtype=None, layout=None, device=None,
                requires_grad=False):
    """0.5 - 0.5 cos(2 pi k / N) (``N`` = length if ``periodic`` else length - 1)."""
    return _window("hann_window", _cosine_sum(0.5, 0.5), window_length, periodic, dtype,
                   device, requires_grad)


def hamming_window(window_length, periodic=True, alpha=0.54, beta=0.46, *, dtype=None,
                   layout=None, device=None, requires_grad=False):
    """alpha - beta cos(2 pi k / N)."""
    return _window("hamming_window", _cosine_sum(alpha, beta), window_length, periodic, dtype,
                   device, requires_grad)


def blackman_window(window_length, periodic=True, *, dtype=None, layout=None, device=None,
                    requires_grad=False):
    """0.42 - 0.5 cos(2 pi k / N) + 0.08 cos(4 pi k / N)."""
    return _window("blackman_window", _cosine_sum(0.42, 0.5, 0.08), window_length, periodic,
                   dtype, device, requires_grad)


def bartlett_window(window_length, periodic=True, *, dtype=None, layout=None, device=None,
                    requires_grad=False):
    """The triangle 1 - |2 k / N - 1|."""
    return _window("bartlett_window", lambda k, d: 1 - np.abs(2 * k / d - 1), window_length,
                   periodic, dtype, device, requires_grad)


def kaiser_window(window_length, periodic=True, beta=12.0, *, dtype=None, layout=None,
                  device=None, requires_grad=False):
    """i0(beta sqrt(1 - (2 k / N - 1)^2)) / i0(beta)."""
    def values(k, d):
        return np.i0(beta * np.sqrt(np.clip(1 - (2 * k / d - 1) ** 2, 0, None))) / np.i0(beta)
    return _window("kaiser_window", values, window_length, periodic, dtype, device,
                   requires_grad)


# ---- stft / istft ------------------------------------------------------------------------------
def _lengths(op, n_fft, hop_length, win_length):
    if int(n_fft) != n_fft or n_fft < 1:
        raise RuntimeError(f"{op}(): expected 0 < n_fft, got n_fft={n_fft!r}")
    n_fft = int(n_fft)
    hop = n_fft // 4 if hop_length is None else int(hop_length)
    win = n_fft if win_length is None else int(win_length)
    if hop < 1:
        raise RuntimeError(f"{op}(): expected hop_length > 0, got hop_length={hop}")
    if not 0 < win <= n_fft:
        raise RuntimeError(f"{op}(): expected 0 < win_length <= n_fft, got win_length={win}, "
                           f"n_fft={n_fft}")
    return n_fft, hop, win


def _full_window(op, window, n_fft, win, like):
    """The window (ones by default) zero-padded on both sides to ``n_fft``, on like's device."""
    if window is None:
        w = _new_tensor(_xp(like).ones(win, dtype=like.data.real.dtype), None, False)
    else:
        w = _t(window, op, "window")
        if w.ndim != 1 or w.shape[0] != win:
            raise RuntimeError(f"{op}(): expected a 1D window tensor of size equal to "
                               f"win_length={win}, but got window with size {tuple(w.shape)}")
    left = (n_fft - win) // 2
    if left or win != n_fft:
        w = _F.pad(w, (left, n_fft - win - left))
    return w


def _frame_index(xp, n_frames, n_fft, hop):
    return (xp.arange(n_frames)[:, None] * hop + xp.arange(n_fft)[None, :]).astype(np.int64)


def stft(input, n_fft, hop_length=None, win_length=None, window=None, center=True,
         pad_mode="reflect", normalized=False, onesided=None, return_complex=None,
         align_to_window=None):
    """PyTorch's short-time Fourier transform of a 1D ``(L,)`` or batched ``(B, L)`` signal:
    complex ``(B?, n_freq, n_frames)``, ``n_freq = n_fft // 2 + 1`` when ``onesided`` (the
    default for a real input and window), else ``n_fft``."""
    x = _t(input, "stft")
    if return_complex is None and (x.dtype.kind == "c" or (
            window is not None and _t(window, "stft").dtype.kind == "c")):
        return_complex = True  # PyTorch's default for a complex input or window
    if return_complex is None:
        raise RuntimeError("stft requires the return_complex parameter be given for real "
                           "inputs, and will further require that return_complex=True in a "
                           "future PyTorch release.")
    if align_to_window:
        raise NotImplementedError("stft(): align_to_window=True is not implemented")
    if x.ndim not in (1, 2):
        raise RuntimeError(f"stft(): expected a 1D or 2D tensor, got shape {tuple(x.shape)}")
    n_fft, hop, win = _lengths("stft", n_fft, hop_length, win_length)
    if x.dtype.kind in "biu":
        x = x.to(_cr.get_default_dtype())
    batched = x.ndim == 2
    x2 = x if batched else _sh.reshape(x, (1, x.shape[0]))
    if center:
        x2 = _F.pad(x2, (n_fft // 2, n_fft // 2), mode=pad_mode)
    length = x2.shape[-1]
    if not 0 < n_fft <= length:
        raise RuntimeError(f"stft(): expected 0 < n_fft <= {length}, but got n_fft={n_fft}")
    w = _full_window("stft", window, n_fft, win, x2)
    n_frames = 1 + (length - n_fft) // hop
    frames = _getitem(x2, (slice(None), _frame_index(_xp(x2), n_frames, n_fft, hop)))
    frames = frames * w  # (B, n_frames, n_fft)
    complex_in = x.dtype.kind == "c" or w.dtype.kind == "c"
    if onesided is None:
        onesided = not complex_in
    if onesided and complex_in:
        raise RuntimeError("stft(): cannot have onesided output if window or input is complex")
    norm = "ortho" if normalized else "backward"
    spec = (_fft.rfft if onesided else _fft.fft)(frames, dim=-1, norm=norm)
    spec = _sh.swapaxes(spec, -1, -2)
    if not batched:
        spec = _sh.reshape(spec, spec.shape[1:])
    if not return_complex:
        return _stack((_ew.real(spec), _ew.imag(spec)), -1)
    return spec


def istft(input, n_fft, hop_length=None, win_length=None, window=None, center=True,
          normalized=False, onesided=None, length=None, return_complex=False):
    """The inverse of :func:`stft` (least squares overlap-add): a ``(B?, n_freq, n_frames)``
    complex spectrogram back to ``(B?, length)`` samples."""
    z = _t(input, "istft")
    if z.dtype.kind != "c":
        raise RuntimeError("istft requires a complex-valued input tensor")
    if z.ndim not in (2, 3):
        raise RuntimeError(f"istft(): expected a 2D or 3D tensor, got shape {tuple(z.shape)}")
    n_fft, hop, win = _lengths("istft", n_fft, hop_length, win_length)
    batched = z.ndim == 3
    z3 = z if batched else _sh.reshape(z, (1,) + tuple(z.shape))
    n_freq, n_frames = z3.shape[1], z3.shape[2]
    if onesided is None:
        onesided = n_freq != n_fft
    if onesided and n_freq != n_fft // 2 + 1:
        raise RuntimeError(f"istft(): expected the frequency dimension (size {n_freq}) of a "
                           f"onesided input to be n_fft // 2 + 1 = {n_fft // 2 + 1}")
    if not onesided and n_freq != n_fft:
        raise RuntimeError(f"istft(): expected the frequency dimension (size {n_freq}) of a "
                           f"twosided input to be n_fft = {n_fft}")
    if onesided and return_complex:
        raise RuntimeError("istft(): cannot have onesided output if return_complex=True")
    w = _full_window("istft", window, n_fft, win, z3)
    norm = "ortho" if normalized else "backward"
    spec = _sh.swapaxes(z3, -1, -2)  # (B, n_frames, n_freq)
    if return_complex:
        frames = _fft.ifft(spec, n=n_fft, dim=-1, norm=norm)
    else:
        # a real output: the first n_fft // 2 + 1 bins through irfft, as PyTorch (the rest of
        # a twosided input is taken to be their Hermitian mirror, also in the gradient)
        if not onesided:
            spec = _getitem(spec, (Ellipsis, slice(0, n_fft // 2 + 1)))
        frames = _fft.irfft(spec, n=n_fft, dim=-1, norm=norm)
    frames = frames * w
    total = n_fft + hop * (n_frames - 1)
    xp = _xp(z3)
    idx = _frame_index(xp, n_frames, n_fft, hop)
    y = _untake(frames, (slice(None), idx), (frames.shape[0], total))
    wsq = w * w  # PyTorch divides by the overlap-added squares, w^2 (not |w|^2) for a complex w
    env = _untake(_sh.broadcast_to(wsq, (n_frames, n_fft)), idx, (total,))
    start = n_fft // 2 if center else 0
    if length is not None:
        end = start + int(length)
    else:
        end = total - n_fft // 2 if center else total
    stop = min(end, total)
    y = _getitem(y, (slice(None), slice(start, stop)))
    env = _getitem(env, (slice(start, stop),))
    small = bool((xp.abs(env.data) < 1e-11).any())  # PyTorch checks too (a host sync)
    if small:
        raise RuntimeError("istft(): window overlap add min: 0 (the window's squares do not "
                           "overlap to a nonzero sum everywhere: the NOLA condition fails)")
    y = y / env
    if end > total:
        y = _F.pad(y, (0, end - total))
    if not batched:
        y = _sh.reshape(y, (y.shape[1],))
    return y


def _attach(T):
    for name in ("stft", "istft"):
        if not hasattr(T, name):
            setattr(T, name, globals()[name])


_attach(Tensor)

__all__ = ["hann_window", "hamming_window", "blackman_window", "bartlett_window",
           "kaiser_window", "stft", "istft"]
