"""``tensorgrad.numpy.fft``: NumPy's FFTs, differentiable, for real and complex inputs.

Arrays in, arrays out (NumPy's or CuPy's own function runs); any Tensor in, Tensor out.
``norm`` is None/"backward", "ortho" or "forward", as in NumPy. Complex derivatives follow HIPS
autograd's convention (see tensorgrad.ops.spectral).

>>> import numpy as np, tensorgrad as tg
>>> import tensorgrad.numpy as tnp
>>> tg.grad(lambda x: tnp.real(tnp.fft.fft(x)[0]))(np.ones(4))
array([1., 1., 1., 1.])
"""



from .._passthrough import module_getattr as _module_getattr
from ..backend.device import xp_of
from ..ops import elementwise as _ew
from ..ops import extra as _extra
from ..ops import spectral as _sp
from ..tensor import Tensor, _norm_axis

_NORMS = (None, "backward", "ortho", "forward")


def _is_tensor(x):
    return isinstance(x, Tensor)


def _check_norm(norm):
    if norm not in _NORMS:
        raise ValueError(f"fft: invalid norm {norm!r}; use None, 'backward', 'ortho' or "
                         "'forward'")
    return norm


def _swap_direction(norm):
    return {None: "forward", "backward": "forward", "ortho": "ortho",
            "forward": "backward"}[_check_norm(norm)]


def _axes_and_shape(a, s, axes, name):
    """NumPy's rules for ``s`` and ``axes`` of the n-dimensional transforms."""
    if axes is None:
        axes = tuple(range(a.ndim)) if s is None else tuple(range(a.ndim - len(s), a.ndim))
    axes = tuple(_norm_axis(ax, a.ndim, name) for ax in axes)
    if s is not None and len(s) != len(axes):
        raise ValueError(f"{name}: shape s and axes have different lengths")
    return axes, (tuple(s) if s is not None else (None,) * len(axes))


# ---- one axis ----------------------------------------------------------------------------
def fft(a, n=None, axis=-1, norm=None):
    """NumPy's fft: the one-dimensional discrete Fourier transform."""
    if not _is_tensor(a):
        return xp_of(a).fft.fft(a, n=n, axis=axis, norm=norm)
    axis = _norm_axis(axis, a.ndim, "fft")
    return _sp.c2c(_sp.fit(a, n, axis), (axis,), _check_norm(norm), False)


def ifft(a, n=None, axis=-1, norm=None):
    """NumPy's ifft: the one-dimensional inverse discrete Fourier transform."""
    if not _is_tensor(a):
        return xp_of(a).fft.ifft(a, n=n, axis=axis, norm=norm)
    axis = _norm_axis(axis, a.ndim, "ifft")
    return _sp.c2c(_sp.fit(a, n, axis), (axis,), _check_norm(norm), True)


def rfft(a, n=None, axis=-1, norm=None):
    """NumPy's rfft: the FFT of real input, non-negative frequencies only."""
    if not _is_tensor(a):
        return xp_of(a).fft.rfft(a, n=n, axis=axis, norm=norm)
    if a.dtype.kind == "c":
        a = _ew.real(a)  # NumPy discards the imaginary part (with a warning)
    axis = _norm_axis(axis, a.ndim, "rfft")
    return _sp.rfft_(_sp.fit(a, n, axis), axis, _check_norm(norm))


def irfft(a, n=None, axis=-1, norm=None):
    """NumPy's irfft: the inverse of rfft, ``n`` real points (default 2 * (m - 1))."""
    if not _is_tensor(a):
        return xp_of(a).fft.irfft(a, n=n, axis=axis, norm=norm)
    axis = _norm_axis(axis, a.ndim, "irfft")
    if n is None:
        n = 2 * (a.shape[axis] - 1)
    if n < 1:
        raise ValueError(f"irfft: invalid number of data points ({n}) specified")
    return _sp.irfft_(_sp.fit(a, n // 2 + 1, axis), n, axis, _check_norm(norm))


def hfft(a, n=None, axis=-1, norm=None):
    """NumPy's hfft: the FFT of a Hermitian-symmetric signal given by its first half."""
    if not _is_tensor(a):
        return xp_of(a).fft.hfft(a, n=n, axis=axis, norm=norm)
    if n is None:
        n = 2 * (a.shape[axis] - 1)
    return irfft(_ew.conjugate(a), n, axis, _swap_direction(norm))


def ihfft(a, n=None, axis=-1, norm=None):
    """NumPy's ihfft: the inverse of hfft, for real input."""
    if not _is_tensor(a):
        return xp_of(a).fft.ihfft(a, n=n, axis=axis, norm=norm)
    return _ew.conjugate(rfft(a, n, axis, _swap_direction(norm)))


# ---- n dimensions ------------------------------------------------------------------------
def _c2cn(a, s, axes, norm, inverse, name):
    axes, sizes = _axes_and_shape(a, s, axes, name)
    for ax, n in zip(axes, sizes):
        a = _sp.fit(a, n, ax)
    return _sp.c2c(a, axes, _check_norm(norm), inverse)


def fftn(a, s=None, axes=None, norm=None):
    """NumPy's fftn over ``axes`` (all by default), each cut or padded to ``s``."""
    if not _is_tensor(a):
        return xp_of(a).fft.fftn(a, s=s, axes=axes, norm=norm)
    return _c2cn(a, s, axes, norm, False, "fftn")


def ifftn(a, s=None, axes=None, norm=None):
    """NumPy's ifftn."""
    if not _is_tensor(a):
        return xp_of(a).fft.ifftn(a, s=s, axes=axes, norm=norm)
    return _c2cn(a, s, axes, norm, True, "ifftn")


def fft2(a, s=None, axes=(-2, -1), norm=None):
    """NumPy's fft2: fftn over the last two axes."""
    if not _is_tensor(a):
        return xp_of(a).fft.fft2(a, s=s, axes=axes, norm=norm)
    return _c2cn(a, s, axes, norm, False, "fft2")


def ifft2(a, s=None, axes=(-2, -1), norm=None):
    """NumPy's ifft2."""
    if not _is_tensor(a):
        return xp_of(a).fft.ifft2(a, s=s, axes=axes, norm=norm)
    return _c2cn(a, s, axes, norm, True, "ifft2")


def rfftn(a, s=None, axes=None, norm=None):
    """NumPy's rfftn: rfft along the last of ``axes``, complex FFTs along the others."""
    if not _is_tensor(a):
        return xp_of(a).fft.rfftn(a, s=s, axes=axes, norm=norm)
    axes, sizes = _axes_and_shape(a, s, axes, "rfftn")
    out = rfft(a, sizes[-1], axes[-1], norm)
    if len(axes) > 1:
        out = _c2cn(out, sizes[:-1] if s is not None else None, axes[:-1], norm, False, "rfftn")
    return out


def irfftn(a, s=None, axes=None, norm=None):
    """NumPy's irfftn: inverse complex FFTs along all but the last of ``axes``, then irfft."""
    if not _is_tensor(a):
        return xp_of(a).fft.irfftn(a, s=s, axes=axes, norm=norm)
    axes, sizes = _axes_and_shape(a, s, axes, "irfftn")
    if len(axes) > 1:
        a = _c2cn(a, sizes[:-1] if s is not None else None, axes[:-1], norm, True, "irfftn")
    return irfft(a, sizes[-1], axes[-1], norm)


def rfft2(a, s=None, axes=(-2, -1), norm=None):
    """NumPy's rfft2."""
    if not _is_tensor(a):
        return xp_of(a).fft.rfft2(a, s=s, axes=axes, norm=norm)
    return rfftn(a, s, axes, norm)


def irfft2(a, s=None, axes=(-2, -1), norm=None):
    """NumPy's irfft2."""
    if not _is_tensor(a):
        return xp_of(a).fft.irfft2(a, s=s, axes=axes, norm=norm)
    return irfftn(a, s, axes, norm)


# ---- shifts ------------------------------------------------------------------------------
def _shift(x, axes, sign, name):
    if axes is None:
        axes = tuple(range(x.ndim))
    elif isinstance(axes, int):
        axes = (axes,)
    axes = tuple(_norm_axis(ax, x.ndim, name) for ax in axes)
    return _extra.roll(x, tuple(sign * (x.shape[ax] // 2) for ax in axes), axes)


def fftshift(x, axes=None):
    """NumPy's fftshift: the zero frequency moved to the center (a roll)."""
    if not _is_tensor(x):
        return xp_of(x).fft.fftshift(x, axes=axes)
    return _shift(x, axes, 1, "fftshift")


def ifftshift(x, axes=None):
    """NumPy's ifftshift: the inverse of fftshift."""
    if not _is_tensor(x):
        return xp_of(x).fft.ifftshift(x, axes=axes)
    return _shift(x, axes, -1, "ifftshift")


# anything else NumPy has: no derivative, so refuse to silently drop one
__getattr__ = _module_getattr("tensorgrad.numpy.fft", "fft")
