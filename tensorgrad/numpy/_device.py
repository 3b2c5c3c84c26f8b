"""``tensorgrad.numpy``'s creation functions that honour the default device
(:func:`tensorgrad.set_default_device`), a differentiable ``linspace``, and autograd's
``make_diagonal``. With the CPU as default (the usual case) each is NumPy's own function after
one check."""

import numpy as np

from ..backend.device import _DEFAULT, xp_of
from ..tensor import Tensor, _raw
from . import array as _array
from . import asarray as _asarray
from . import full as _full
from . import full_like as _full_like
from . import ones_like as _ones_like
from . import zeros_like as _zeros_like


def _on_default(name, *args, **kwargs):
    dev = _DEFAULT[0]
    if dev is None:
        return getattr(np, name)(*args, **kwargs)
    xp = dev.xp
    with xp.cuda.Device(dev.index):
        return getattr(xp, name)(*args, **kwargs)


def _placed(out):
    dev = _DEFAULT[0]
    return out if dev is None or type(out) is not np.ndarray else dev.put(out)


def array(obj, dtype=None, copy=True, ndmin=0):
    """NumPy's array; a (nested) sequence holding Tensors becomes a stacked Tensor; new arrays
    go to the default device."""
    return _placed(_array(obj, dtype=dtype, copy=copy, ndmin=ndmin))


def asarray(a, dtype=None):
    """NumPy's asarray (Tensors stay Tensors); host data goes to the default device."""
    return _placed(_asarray(a, dtype=dtype))


def zeros(shape, dtype=float, order="C"):
    return _on_default("zeros", shape, dtype=dtype, order=order)


def ones(shape, dtype=float, order="C"):
    return _on_default("ones", shape, dtype=dtype, order=order)


def empty(shape, dtype=float, order="C"):
    return _on_default("empty", shape, dtype=dtype, order=order)


def eye(N, M=None, k=0, dtype=float):
    return _on_default("eye", N, M, k, dtype=dtype)


def identity(n, dtype=float):
    return _on_default("identity", n, dtype=dtype)


def arange(*args, **kwargs):
    return _on_default("arange", *args, **kwargs)


def logspace(*args, **kwargs):
    return _on_default("logspace", *args, **kwargs)


def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    """NumPy's geomspace (host endpoints: NumPy's, placed on the default device; CuPy has
    none), and for Tensor or device endpoints of one sign ``sign * exp(linspace(log|start|,
    log|stop|))``, differentiable in them.

    >>> import tensorgrad as tg, tensorgrad.numpy as tnp
    >>> round(float(tg.grad(lambda b: tnp.sum(tnp.geomspace(1.0, b, 3)))(4.0)), 6)  # 1 + 2 + b
    1.25
    """
    on_host = all(not isinstance(v, Tensor) and xp_of(v) is np for v in (start, stop))
    if on_host:
        return _placed(np.geomspace(start, stop, num, endpoint, dtype, axis))
    from . import abs as _abs
    from . import astype, exp, log, sign

    lo, hi = _raw(start), _raw(stop)
    if bool(xp_of(lo).any(lo == 0)) or bool(xp_of(hi).any(hi == 0)):
        raise ValueError("geomspace: a geometric sequence cannot include zero (start or stop "
                         "is 0)")
    if bool(xp_of(lo).any(xp_of(lo).sign(lo) != xp_of(hi).sign(hi))):
        raise NotImplementedError("geomspace: endpoints of different signs (a complex "
                                  "sequence) are not supported for Tensor endpoints")
    signs = linspace(sign(start), sign(stop), num, endpoint, axis=axis)  # one sign: constant
    out = signs * exp(linspace(log(_abs(start)), log(_abs(stop)), num, endpoint, axis=axis))
    return out if dtype is None else astype(out, dtype)


def tri(N, M=None, k=0, dtype=float):
    return _on_default("tri", N, M, k, dtype=dtype)


def full(shape, fill_value, dtype=None, order="C"):
    """NumPy's full (differentiable in a Tensor ``fill_value``); a new host array goes to the
    default device."""
    return _placed(_full(shape, fill_value, dtype=dtype, order=order))


# ``*_like`` of a host array or a list follow the default device too (as CuPy's and JAX's
# do), so ``np.zeros_like(x)`` of the program's own data lives where its computation runs; the
# like of a Tensor or a device array stays where that is
def zeros_like(a, dtype=None):
    return _placed(_zeros_like(a, dtype=dtype))


def ones_like(a, dtype=None):
    return _placed(_ones_like(a, dtype=dtype))


def full_like(a, fill_value, dtype=None):
    return _placed(_full_like(a, fill_value, dtype=dtype))


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """NumPy's linspace, differentiable in ``start`` and ``stop``.

    >>> import tensorgrad as tg, tensorgrad.numpy as tnp
    >>> tg.grad(lambda b: tnp.sum(tnp.linspace(0.0, b, 5)))(2.0)
    2.5
    """
    if not isinstance(start, Tensor) and not isinstance(stop, Tensor):
        return _on_default("linspace", start, stop, num, endpoint=endpoint, retstep=retstep,
                           dtype=dtype, axis=axis)
    from . import moveaxis, ndim, reshape

    div = (num - 1) if endpoint else num
    home = start if isinstance(start, Tensor) else stop
    xp = xp_of(_raw(home))
    steps = xp.arange(num, dtype=np.float64) / (div if div > 0 else 1)
    shape = np.broadcast_shapes(np.shape(_raw(start)), np.shape(_raw(stop)))
    steps = steps.reshape((num,) + (1,) * len(shape))
    lo = reshape(start, (1,) + tuple(np.shape(_raw(start)))) if ndim(start) else start
    hi = reshape(stop, (1,) + tuple(np.shape(_raw(stop)))) if ndim(stop) else stop
    out = lo * (1 - steps) + hi * steps  # exactly ``start`` and ``stop`` at the ends
    if axis != 0:
        out = moveaxis(out, 0, axis)
    if dtype is not None:
        out = out.to(dtype) if isinstance(out, Tensor) else out.astype(dtype)
    return (out, (hi - lo) / div) if retstep else out


def make_diagonal(D, offset=0, axis1=0, axis2=1):
    """autograd's ``make_diagonal``: arrays with ``D``'s last axis on the diagonal of two new
    last axes (``offset=0, axis1=-1, axis2=-2`` only, as in autograd); differentiable.

    >>> import numpy as np
    >>> make_diagonal(np.array([1.0, 2.0]), axis1=-1, axis2=-2)
    array([[1., 0.],
           [0., 2.]])
    """
    if not (offset == 0 and axis1 == -1 and axis2 == -2):
        raise NotImplementedError("make_diagonal: only offset=0, axis1=-1, axis2=-2 are "
                                  f"supported (as in autograd), got offset={offset}, "
                                  f"axis1={axis1}, axis2={axis2}")
    from . import expand_dims, multiply

    raw = _raw(D)
    n = raw.shape[-1]
    dtype = raw.dtype if raw.dtype.kind in "fc" else np.float64
    return multiply(expand_dims(D, -1), xp_of(raw).eye(n, dtype=dtype))
