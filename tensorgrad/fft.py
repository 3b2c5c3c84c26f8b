"""``tg.fft``: PyTorch's ``torch.fft``, differentiable, on cpu and cuda.

A thin door to :mod:`tensorgrad.numpy.fft` (whose primitives are in
:mod:`tensorgrad.ops.spectral`) with PyTorch's argument names and rules: ``dim`` instead of
``axes``; ``n``/``s`` cut or zero-pad (an entry of ``s`` may be -1: that dimension's default);
``norm`` is None/"backward", "ortho" or "forward"; real (and integer) inputs of the complex
transforms give complex outputs of the matching precision (float32 -> complex64, integers as
the default float dtype); ``rfft``/``ihfft`` refuse complex input, as PyTorch does.
Gradients in ``.grad`` follow PyTorch's complex convention (see tests/test_complex.py).

>>> import tensorgrad as tg
>>> tg.fft.rfft(tg.tensor([1.0, 2.0, 3.0, 4.0])).tolist()
[(10+0j), (-2+2j), (-2+0j)]
>>> tg.fft.fftfreq(4).tolist()
[0.0, 0.25, -0.5, -0.25]
"""

import numpy as np

from . import creation as _cr
from .numpy import fft as _nf
from .torch_api import _t

_NORMS = (None, "backward", "ortho", "forward")


def _input(input, op, real=False):
    """``input`` as a Tensor of a floating (or complex) dtype; ``real``: refuse complex."""
    x = _t(input, op)
    kind = x.dtype.kind
    if kind == "c" and real:
        raise RuntimeError(f"{op} expects a real input tensor, but got {x.dtype}")
    if kind in "biu":
        x = x.to(_cr.get_default_dtype())
    elif kind not in "fc":
        raise TypeError(f"{op}(): unsupported input dtype {x.dtype}")
    return x


def _norm(norm, op):
    if norm not in _NORMS:
        raise ValueError(f"{op}(): invalid normalization mode {norm!r}; use None, 'backward', "
                         "'ortho' or 'forward'")
    return norm


def _dim(x, dim, op):
    d = int(dim)
    if not -max(x.ndim, 1) <= d < max(x.ndim, 1):
        raise IndexError(f"{op}(): dim {dim} is out of range for a tensor of shape "
                         f"{tuple(x.shape)}")
    return d % max(x.ndim, 1)


def _n(n, op):
    if n is not None and (int(n) != n or n < 1):
        raise RuntimeError(f"{op}(): invalid number of data points ({n}) specified")
    return None if n is None else int(n)


def _dims_and_sizes(x, s, dim, op, last_default=None):
    """PyTorch's ``s``/``dim`` rules: ``dim`` None means every dimension, or the last
    ``len(s)`` when ``s`` is given; -1 in ``s`` keeps that dimension's size (``last_default``
    computes the default of the last one, for the inverse real transforms)."""
    if isinstance(dim, int):
        dim = (dim,)
    if dim is None:
        dims = tuple(range(x.ndim)) if s is None else tuple(range(x.ndim - len(s), x.ndim))
    else:
        dims = tuple(_dim(x, d, op) for d in dim)
    if len(set(dims)) != len(dims):
        raise RuntimeError(f"{op}(): dims must be unique, got {tuple(dim)}")
    if s is None:
        return dims, None
    s = [int(v) for v in s]
    if len(s) != len(dims):
        raise RuntimeError(f"{op}(): when given, dim and shape arguments must have the same "
                           f"length, got s={tuple(s)} and dim={dims}")
    for i, (d, v) in enumerate(zip(dims, s)):
        if v == -1:
            s[i] = (last_default(x.shape[d]) if last_default is not None and i == len(s) - 1
                    else x.shape[d])
        elif v < 1:
            raise RuntimeError(f"{op}(): invalid number of data points ({v}) specified")
    return dims, tuple(s)


# ---- one dimension -----------------------------------------------------------------------
def _one_dim(name, input, n, dim, norm, real=False):
    x = _input(input, name, real=real)
    return getattr(_nf, name)(x, _n(n, name), _dim(x, dim, name), _norm(norm, name))


def fft(input, n=None, dim=-1, norm=None):
    """The one-dimensional discrete Fourier transform over ``dim``."""
    return _one_dim("fft", input, n, dim, norm)


def ifft(input, n=None, dim=-1, norm=None):
    """The inverse of :func:`fft`."""
    return _one_dim("ifft", input, n, dim, norm)


def rfft(input, n=None, dim=-1, norm=None):
    """The FFT of a real input: the ``n // 2 + 1`` non-negative frequencies."""
    return _one_dim("rfft", input, n, dim, norm, real=True)


def irfft(input, n=None, dim=-1, norm=None):
    """The inverse of :func:`rfft`: ``n`` real points (default ``2 * (m - 1)``)."""
    return _one_dim("irfft", input, n, dim, norm)


def hfft(input, n=None, dim=-1, norm=None):
    """The FFT of a Hermitian-symmetric signal given by its first half (a real output)."""
    return _one_dim("hfft", input, n, dim, norm)


def ihfft(input, n=None, dim=-1, norm=None):
    """The inverse of :func:`hfft`, for a real input."""
    return _one_dim("ihfft", input, n, dim, norm, real=True)


# ---- several dimensions --------------------------------------------------------------------
def _nd(name, input, s, dim, norm, real=False, last_default=None):
    x = _input(input, name, real=real)
    dims, sizes = _dims_and_sizes(x, s, dim, name, last_default)
    return getattr(_nf, name.replace("2", "n"))(x, sizes, dims, _norm(norm, name))


def _half(m):
    return 2 * (m - 1)


def fftn(input, s=None, dim=None, norm=None):
    """The FFT over ``dim`` (every dimension by default, or the last ``len(s)``)."""
    return _nd("fftn", input, s, dim, norm)


def ifftn(input, s=None, dim=None, norm=None):
    """The inverse of :func:`fftn`."""
    return _nd("ifftn", input, s, dim, norm)


def fft2(input, s=None, dim=(-2, -1), norm=None):
    """:func:`fftn` over the last two dimensions."""
    return _nd("fft2", input, s, dim, norm)


def ifft2(input, s=None, dim=(-2, -1), norm=None):
    """:func:`ifftn` over the last two dimensions."""
    return _nd("ifft2", input, s, dim, norm)


def rfftn(input, s=None, dim=None, norm=None):
    """rfft over the last of ``dim``, complex FFTs over the others."""
    return _nd("rfftn", input, s, dim, norm, real=True)


def irfftn(input, s=None, dim=None, norm=None):
    """The inverse of :func:`rfftn`; the last output size defaults to ``2 * (m - 1)``."""
    return _nd("irfftn", input, s, dim, norm, last_default=_half)


def rfft2(input, s=None, dim=(-2, -1), norm=None):
    """:func:`rfftn` over the last two dimensions."""
    return _nd("rfft2", input, s, dim, norm, real=True)


def irfft2(input, s=None, dim=(-2, -1), norm=None):
    """:func:`irfftn` over the last two dimensions."""
    return _nd("irfft2", input, s, dim, norm, last_default=_half)


_DUAL = {None: "forward", "backward": "forward", "forward": "backward", "ortho": "ortho"}


def _hermitian(name, input, s, dim, norm, inverse):
    """``hfftn``: irfftn of the conjugate with the dual normalisation (the forward transform
    of a Hermitian signal given by its last-dimension half); ``ihfftn``: the conjugate of
    rfftn with the dual normalisation, as torch.fft defines them."""
    x = _input(input, name, real=inverse)
    _norm(norm, name)
    if inverse:
        dims, sizes = _dims_and_sizes(x, s, dim, name)
        return _nf.rfftn(x, sizes, dims, _DUAL[norm]).conj()
    dims, sizes = _dims_and_sizes(x, s, dim, name, _half)
    if sizes is None:
        sizes = tuple(x.shape[d] for d in dims[:-1]) + (_half(x.shape[dims[-1]]),)
    return _nf.irfftn(x.conj(), sizes, dims, _DUAL[norm])


def hfftn(input, s=None, dim=None, norm=None):
    """The n-dimensional FFT of a Hermitian-symmetric signal given by its half in the last of
    ``dim``: a real output whose last size defaults to ``2 * (m - 1)``."""
    return _hermitian("hfftn", input, s, dim, norm, False)


def hfft2(input, s=None, dim=(-2, -1), norm=None):
    """:func:`hfftn` over the last two dimensions."""
    return _hermitian("hfft2", input, s, dim, norm, False)


def ihfftn(input, s=None, dim=None, norm=None):
    """The inverse of :func:`hfftn`, for a real input: the half spectrum over the last of
    ``dim``."""
    return _hermitian("ihfftn", input, s, dim, norm, True)


def ihfft2(input, s=None, dim=(-2, -1), norm=None):
    """:func:`ihfftn` over the last two dimensions."""
    return _hermitian("ihfft2", input, s, dim, norm, True)


# ---- frequencies and shifts ----------------------------------------------------------------
def _freqs(values, n, d, dtype, device, requires_grad, op):
    if int(n) != n or n < 0:
        raise RuntimeError(f"{op}(): n must be a non-negative integer, got {n!r}")
    dt = np.dtype(dtype) if dtype is not None else _cr.get_default_dtype()
    if dt.kind not in "fc":
        raise RuntimeError(f"{op}(): dtype must be floating or complex, got {dt}")
    out = (np.asarray(values, dtype=np.float64) / (n * d)) if n else np.zeros(0)
    return _cr.tensor(out.astype(dt), device=device, requires_grad=requires_grad)


def fftfreq(n, d=1.0, *, dtype=None, device=None, requires_grad=False):
    """The sample frequencies of an ``n``-point FFT with sample spacing ``d``."""
    n = int(n)
    k = np.concatenate([np.arange(0, (n + 1) // 2), np.arange(-(n // 2), 0)])
    return _freqs(k, n, d, dtype, device, requires_grad, "fftfreq")


def rfftfreq(n, d=1.0, *, dtype=None, device=None, requires_grad=False):
    """The sample frequencies of an ``n``-point rfft: ``0 .. n // 2`` over ``n * d``."""
    n = int(n)
    return _freqs(np.arange(n // 2 + 1), n, d, dtype, device, requires_grad, "rfftfreq")


def _shift_dims(x, dim, op):
    if dim is None:
        return None
    return tuple(_dim(x, d, op) for d in ((dim,) if isinstance(dim, int) else dim))


def fftshift(input, dim=None):
    """The zero frequency moved to the center of ``dim`` (all dimensions by default)."""
    x = _t(input, "fftshift")
    return _nf.fftshift(x, _shift_dims(x, dim, "fftshift"))


def ifftshift(input, dim=None):
    """The inverse of :func:`fftshift`."""
    x = _t(input, "ifftshift")
    return _nf.ifftshift(x, _shift_dims(x, dim, "ifftshift"))


__all__ = ["fft", "ifft", "fft2", "ifft2", "fftn", "ifftn", "rfft", "irfft", "rfft2", "irfft2",
           "rfftn", "irfftn", "hfft", "ihfft", "hfft2", "hfftn", "ihfft2", "ihfftn", "fftfreq",
           "rfftfreq", "fftshift", "ifftshift"]
