"""FFT primitives: complex-to-complex over any axes, real-to-complex and complex-to-real along
one axis. Inputs come already cut or zero-padded to the transform length (see
:func:`fit`), so each primitive is one linear map and its rules are short.

Complex numbers follow HIPS autograd's convention: the VJP of a linear map is its transpose
(no conjugate). A DFT matrix is symmetric, so the VJP of a complex FFT is the same FFT.
"""

from ..backend.device import xp_of
from ..tensor import _raw
from .elementwise import real
from .index import getitem, untake
from .registry import defjvp, defvjp, primitive


def _like(c, x):
    """A cotangent for ``x``: real when ``x`` is real."""
    return c if x.dtype.kind == "c" else real(c)


def fit(x, n, axis):
    """``x`` cut or zero-padded to length ``n`` along ``axis`` (NumPy's ``n=`` argument)."""
    m = x.shape[axis]
    if n is None or n == m:
        return x
    if n < 1:
        raise ValueError(f"fft: invalid number of data points ({n}) specified")
    if n < m:
        return getitem(x, (slice(None),) * axis + (slice(0, n),))
    shape = tuple(x.shape[:axis]) + (n,) + tuple(x.shape[axis + 1:])
    return untake(x, (slice(None),) * axis + (slice(0, m),), shape)


@primitive(saves=False)
def c2c(x, axes, norm, inverse):
    """fftn (``inverse`` False) or ifftn over ``axes`` (a tuple of non-negative ints)."""
    fft = xp_of(x).fft
    return (fft.ifftn if inverse else fft.fftn)(x, axes=axes, norm=norm)


defvjp(c2c, lambda g, ans, x, axes, norm, inverse: _like(c2c(g, axes, norm, inverse), x))
defjvp(c2c, lambda t, ans, x, axes, norm, inverse: c2c(t, axes, norm, inverse))


@primitive(saves=False)
def rfft_(x, axis, norm):
    """rfft along ``axis`` with n = x.shape[axis]."""
    return xp_of(x).fft.rfft(x, axis=axis, norm=norm)


def _rfft_vjp(g, ans, x, axis, norm):
    # the transpose of the first n // 2 + 1 rows of the DFT matrix: the cotangent, zero-padded
    # to n, through a full FFT (the input is real, so is its cotangent)
    full = c2c(fit(g, x.shape[axis], axis), (axis,), norm, False)
    return _like(full, x)


defvjp(rfft_, _rfft_vjp)
defjvp(rfft_, lambda t, ans, x, axis, norm: rfft_(t, axis, norm))


@primitive(saves=False)
def irfft_(x, n, axis, norm):
    """irfft along ``axis`` to ``n`` real points; x.shape[axis] == n // 2 + 1."""
    return xp_of(x).fft.irfft(x, n=n, axis=axis, norm=norm)


def _hermitian_weights(x, n, axis):
    """1 for the bins irfft counts once (0 and, for even n, n / 2), 2 for the others, shaped to
    broadcast along ``axis``."""
    raw = _raw(x)
    xp = xp_of(raw)
    m = n // 2 + 1
    w = xp.full(m, 2.0, dtype=raw.real.dtype if raw.dtype.kind == "c" else raw.dtype)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    return w.reshape((m,) + (1,) * (raw.ndim - 1 - axis))


def _irfft_vjp(g, ans, x, n, axis, norm):
    # irfft(X) = Re(A X) with A[j, k] = s w_k exp(2 pi i j k / n): its transpose is w * ifft(g)
    # (same norm), keeping the first n // 2 + 1 bins
    full = c2c(g, (axis,), norm, True)
    part = getitem(full, (slice(None),) * axis + (slice(0, n // 2 + 1),))
    return _like(part * _hermitian_weights(x, n, axis), x)


defvjp(irfft_, _irfft_vjp)
defjvp(irfft_, lambda t, ans, x, n, axis, norm: irfft_(t, n, axis, norm))

__all__ = ["fit", "c2c", "rfft_", "irfft_"]
