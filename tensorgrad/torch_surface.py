"""More of PyTorch's top level: conversion (``as_tensor``, ``asarray``), factories
(``logspace``, ``randperm``, ``randint_like``, ``normal``), seeds, ``inference_mode``, counting
and set ops (``unique``, ``bincount``, ``histc``, ``isin``), distances (``cdist``), batched
products (``baddbmm``, ``addbmm``, ``addmv``), PyTorch's older decomposition names (``svd``
returning V, ``qr(some=)``, ``cholesky(upper=)``, ``pinverse``) and a few numerical helpers
(``cov``, ``corrcoef``, ``xlogy``, ``block_diag``, ``matrix_power``, ``multinomial``,
``bernoulli``, ``bitwise_*``), with PyTorch's argument names. Everything differentiable is a
composition of existing primitives, except ``qr``, whose rules live in
:mod:`tensorgrad.torch_qr`.

>>> import tensorgrad as tg
>>> tg.unique(tg.tensor([3, 1, 3]), return_counts=True)[1].tolist()
[1, 2]
>>> tg.cdist(tg.tensor([[0.0, 0.0]]), tg.tensor([[3.0, 4.0]])).tolist()
[[5.0]]

Results that depend on the values' count (``unique``, ``bincount`` without ``minlength``
large enough, ``histc`` with an automatic range, the checks of ``multinomial``) read values
back to the host, which on a GPU waits for the queued work, as PyTorch's do.
"""

import builtins
import functools
import math
import numbers
import threading
from collections import namedtuple

import numpy as np

from . import _memory_format as _mf
from . import creation as _cr
from . import torch_api as _ta
from .autograd.grad_mode import _state
from .backend.device import _CUPY_ARRAY, _DEFAULT, device_of, factory_device, to_host
from .backend.device import xp_of as _xp_of
from .ops import decomp as _dc
from .ops import elementwise as _ew
from .ops import nondiff as _nd
from .ops.decomp import _mH
from .ops.linalg import matmul as _matmul
from .ops.registry import defjvp as _defjvp
from .ops.registry import defvjp as _defvjp
from .ops.registry import primitive as _primitive
from .tensor import Tensor, _new_tensor, _raw

_t = _ta._t
_xp = _ta._xp

SvdResult = namedtuple("svd", ["U", "S", "V"])
QrResult = namedtuple("qr", ["Q", "R"])

pi = math.pi
e = math.e
inf = math.inf
nan = math.nan
newaxis = None


def _const(arr):
    return _new_tensor(arr, None, False)


def _host_int(x):
    """One integer read back from a (device) array: an explicit host sync."""
    return int(to_host(x).item())


# ---- conversion ------------------------------------------------------------------------------
def _is_array(x):
    return type(x) is np.ndarray or type(x) is _CUPY_ARRAY


def _convert(obj, dtype, device, copy, op):
    """``obj`` as a Tensor of ``dtype`` on ``device``, sharing memory when nothing needs to
    change and ``copy`` is not True; ``copy=False`` refuses a needed copy."""
    dt = None if dtype is None else np.dtype(dtype)
    if isinstance(obj, Tensor) or _is_array(obj):
        raw = obj.data if isinstance(obj, Tensor) else obj
        here = device_of(raw)
        # where the data is, unless a device is given or a default device is set (PyTorch's)
        dev = here if device is None and _DEFAULT[0] is None else factory_device(device)
        same = (dt is None or dt == raw.dtype) and dev == here
        if not same and copy is False:
            raise ValueError(f"{op}(): copy=False, but a {raw.dtype} {here} input needs a copy "
                             f"to become {dt or raw.dtype} on {dev}")
        if isinstance(obj, Tensor):
            out = obj.to(dtype=dt, device=dev)
            return out.clone() if copy and out is obj else out
        if dt is not None and dt != raw.dtype:
            raw = raw.astype(dt)
        elif copy:
            raw = raw.copy()
        return _const(dev.put(raw))
    if copy is False and not isinstance(obj, (numbers.Number, np.generic)):
        raise ValueError(f"{op}(): copy=False, but a {type(obj).__name__} can only be copied "
                         "into a tensor")
    return _cr.tensor(obj, dtype=dt, device=device)


def as_tensor(data, dtype=None, device=None):
    """``data`` as a Tensor, sharing memory where nothing changes: a Tensor of the same dtype
    and device is returned as it is (with its history), a NumPy/CuPy array of the dtype and
    device is wrapped without a copy; anything else (lists, numbers) is copied as by
    ``tg.tensor``.

    >>> import numpy as np, tensorgrad as tg
    >>> a = np.zeros(2)
    >>> tg.as_tensor(a).data is a
    True
    """
    return _convert(data, dtype, device, None, "as_tensor")


def asarray(obj, *, dtype=None, device=None, copy=None, requires_grad=None):
    """PyTorch's asarray: ``obj`` as a Tensor, shared where possible (``copy=None``), always
    copied (``copy=True``), or never (``copy=False``: ValueError when a copy is needed).
    ``requires_grad=None`` keeps a Tensor's (PyTorch's new default), ``False`` detaches (still
    sharing memory), ``True`` makes a leaf that requires grad.

    >>> import tensorgrad as tg
    >>> t = tg.ones(2, requires_grad=True)
    >>> tg.asarray(t) is t, tg.asarray(t, requires_grad=False).requires_grad
    (True, False)
    """
    out = _convert(obj, dtype, device, copy, "asarray")
    if requires_grad is None:
        return out
    if not requires_grad:
        return out.detach() if out.requires_grad else out
    if out.requires_grad:
        return out
    if out is obj:
        out = out.detach()
    return out.requires_grad_()


# ---- factories -------------------------------------------------------------------------------
def logspace(start, end, steps, base=10.0, *, dtype=None, device=None, requires_grad=False):
    """``steps`` values from base**start to base**end, evenly spaced in the exponent.

    >>> import tensorgrad as tg
    >>> tg.logspace(0, 2, 3).tolist()
    [1.0, 10.0, 100.0]
    """
    if not isinstance(steps, numbers.Integral) or steps < 0:
        raise ValueError(f"logspace(): steps must be a non-negative int, got {steps!r}")
    dt = _cr.get_default_dtype() if dtype is None else np.dtype(dtype)
    start, end = (v.item() if isinstance(v, Tensor) else v for v in (start, end))
    if dt.kind in "iu" and steps > 1:
        # PyTorch's integer rule: bounds truncated to integers, exponents in float64 as its
        # integer linspace, each power truncated (a single step keeps the untruncated start)
        exps = _cr._int_steps(np, int(start), int(end), int(steps))
    else:
        # exponents in float64 (PyTorch computes in the dtype; float64 is at least as accurate)
        exps = np.linspace(builtins.float(start), builtins.float(end), int(steps))
    vals = np.power(builtins.float(base), exps)
    out = _cr.tensor(vals.astype(dt), device=device)
    return out.requires_grad_() if requires_grad else out


def randint_like(input, low=0, high=None, *, generator=None, dtype=None, device=None,
                 requires_grad=False, memory_format=_mf.preserve_format):
    """Integers drawn uniformly from [low, high) in ``input``'s shape (and dtype, unless
    ``dtype`` is given); ``randint_like(x, high)`` draws from [0, high), as PyTorch's. From
    ``generator`` (a ``tg.Generator`` on the result's device) or the global generator."""
    if high is None:
        low, high = 0, low
    if high <= low:
        raise ValueError(f"randint_like(): expects low < high, got low={low}, high={high}")

    def draw(shape, generator, dtype, device, requires_grad):
        out = _cr.randint(low, high, tuple(shape), generator=generator, dtype=np.dtype(dtype),
                          device=device)
        return out.requires_grad_() if requires_grad else out

    return _ta._random_like(draw, input, generator, dtype, device, requires_grad, memory_format,
                            "randint_like")


def randperm(n, *, generator=None, dtype=np.int64, device=None, requires_grad=False):
    """A random permutation of 0 .. n-1, from ``generator`` (a ``tg.Generator`` on
    ``device``) or the global generator ``manual_seed`` seeds. Not PyTorch's permutation for
    the same seed (other bit generators).

    >>> import tensorgrad as tg
    >>> sorted(tg.randperm(4).tolist())
    [0, 1, 2, 3]
    """
    if not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(f"randperm(): n must be a non-negative int, got {n!r}")
    dev = factory_device(device)
    _cr._source(generator, dev, "randperm")
    keys = _cr.rand(int(n), generator=generator, dtype=np.float64, device=dev).data
    perm = keys.argsort().astype(np.dtype(dtype))
    out = _const(perm)
    return out.requires_grad_() if requires_grad else out


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, device=None,
           requires_grad=False):
    """Normal samples: elementwise with tensor ``mean`` and/or ``std`` (broadcast together),
    or ``size`` samples of the numbers ``mean`` and ``std``; from ``generator`` (a
    ``tg.Generator`` on the result's device) or the global generator.

    The samples carry no history (PyTorch's have zero gradients with respect to mean and std;
    write ``mean + std * tg.randn(...)`` for a differentiable, reparameterised draw)."""
    tensors = [v for v in (mean, std) if isinstance(v, Tensor)]
    if tensors:
        if size is not None:
            raise TypeError("normal(): size= is only taken with numbers for mean and std")
        shape = np.broadcast_shapes(*[tuple(v.shape) for v in tensors])
        like = tensors[0]
        for v in tensors:
            if v.dtype.kind != "f":
                raise TypeError(f"normal(): mean and std must be floating point, got {v.dtype}")
        _cr._source(generator, device or like.device, "normal")
        z = _cr.randn(*shape, generator=generator, dtype=dtype or like.dtype,
                      device=device or like.device)
        m = mean.detach() if isinstance(mean, Tensor) else mean
        s = std.detach() if isinstance(std, Tensor) else std
        if isinstance(s, Tensor) and bool(to_host((s.data < 0).any())):
            raise ValueError("normal(): std must be non-negative")
        out = z * s + m
    else:
        if size is None:
            raise TypeError("normal(): give size= when mean and std are numbers")
        if std < 0:
            raise ValueError(f"normal(): std must be non-negative, got {std}")
        size = (size,) if isinstance(size, numbers.Integral) else tuple(size)
        _cr._source(generator, device, "normal")
        out = _cr.randn(*size, generator=generator, dtype=dtype, device=device) * std + mean
    return out.requires_grad_() if requires_grad else out


def bernoulli(input, p=None, *, generator=None):
    """0/1 samples (in ``input``'s dtype), 1 with probability ``input`` (or the number ``p``)
    elementwise, from ``generator`` (a ``tg.Generator`` on ``input``'s device) or the global
    generator; no history, as PyTorch's (whose gradient is zero)."""
    x = _t(input, "bernoulli")
    if x.dtype.kind != "f":
        raise TypeError(f"bernoulli(): input must be floating point, got {x.dtype}")
    prob = x.data if p is None else p
    if isinstance(prob, np.ndarray) or isinstance(prob, numbers.Real):
        # PyTorch refuses probabilities outside [0, 1] (here checked on the host only: a
        # device array would cost a synchronisation)
        arr = np.asarray(prob)
        if arr.size and not bool(((arr >= 0) & (arr <= 1)).all()):
            raise ValueError(f"bernoulli(): probabilities must be in [0, 1], got values from "
                             f"{np.nanmin(arr)} to {np.nanmax(arr)} (shape {tuple(x.shape)})")
    _cr._source(generator, x.device, "bernoulli")
    u = _cr.rand(*x.shape, generator=generator, dtype=x.dtype, device=x.device).data
    return _const((u < prob).astype(x.dtype))


def multinomial(input, num_samples, replacement=False, *, generator=None):
    """Indices drawn from the rows of ``input`` (1-D, or 2-D: one draw per row), each with
    probability proportional to its weight; without replacement an index is drawn at most once
    (so ``num_samples`` may not exceed the number of nonzero weights). From ``generator`` (a
    ``tg.Generator`` on ``input``'s device) or the global generator."""
    x = _t(input, "multinomial")
    _cr._source(generator, x.device, "multinomial")  # its device checked first, by this name
    if x.ndim not in (1, 2) or x.dtype.kind != "f":
        raise ValueError(f"multinomial(): input must be a 1-D or 2-D float tensor, got shape "
                         f"{tuple(x.shape)} of {x.dtype}")
    w = x.data if x.ndim == 2 else x.data[None]
    xp = _xp(x)
    rows, n = w.shape
    k = int(num_samples)
    if k <= 0:
        raise ValueError(f"multinomial(): num_samples must be positive, got {num_samples}")
    if not replacement and k > n:
        raise ValueError(f"multinomial(): num_samples={num_samples} must be at most {n} "
                         f"without replacement (input of shape {tuple(x.shape)})")
    w = w.astype(np.float64)
    bad = to_host(xp.stack([(w < 0).any() | ~xp.isfinite(w).all(),
                            (w.sum(-1) <= 0).any(),
                            ((w > 0).sum(-1) < k).any()]))
    if bad[0]:
        raise ValueError("multinomial(): weights must be finite and non-negative")
    if bad[1]:
        raise ValueError("multinomial(): every row needs a positive sum of weights")
    if not replacement and bad[2]:
        raise ValueError(f"multinomial(): fewer than num_samples={k} nonzero weights in a row")
    if replacement:
        # inverse-CDF draws, all rows in one searchsorted: row r's CDF shifted into [r, r+1]
        u = _cr.rand(rows, k, generator=generator, dtype=np.float64, device=x.device).data
        cdf = xp.cumsum(w, -1)
        cdf = cdf / cdf[:, -1:]
        offset = xp.arange(rows, dtype=np.float64)[:, None]
        flat = (cdf + offset).reshape(-1)
        idx = xp.searchsorted(flat, (u + offset).reshape(-1), side="right").reshape(rows, k)
        idx = idx - (xp.arange(rows)[:, None] * n)
        idx = xp.minimum(idx, n - 1)
    else:
        # Gumbel top-k: the k largest log(w) + Gumbel noise are a draw without replacement
        u = _cr.rand(rows, n, generator=generator, dtype=np.float64, device=x.device).data
        with np.errstate(divide="ignore"):
            keys = xp.log(w) - xp.log(-xp.log(xp.maximum(u, 1e-300)))
        idx = xp.argsort(-keys, axis=-1)[:, :k]
    idx = idx.astype(np.int64)
    return _const(idx if x.ndim == 2 else idx[0])


def seed():
    """Seed the generators with a fresh random seed and return it (PyTorch's torch.seed)."""
    s = _cr._fresh_seed()
    _cr.manual_seed(s)
    return s


def initial_seed():
    """The seed the CPU generator was last seeded with (by ``manual_seed``, ``seed``,
    ``tg.default_generator.manual_seed``, or at import)."""
    return _cr.default_generator.initial_seed()


# ---- inference mode ----------------------------------------------------------------------------
class _Inference(threading.local):
    enabled = False


_inference = _Inference()


class inference_mode:
    """Run without recording, as ``no_grad`` (PyTorch's inference mode also skips version
    counters; tensorgrad's no_grad is already as cheap). Context manager or decorator, bare or
    called; ``inference_mode(False)`` changes nothing.

    >>> import tensorgrad as tg
    >>> with tg.inference_mode():
    ...     y = tg.ones(2, requires_grad=True) * 2
    >>> y.requires_grad, tg.is_inference_mode_enabled()
    (False, False)
    """

    def __new__(cls, mode=True):
        self = super().__new__(cls)
        if callable(mode):  # the bare decorator: @inference_mode
            self.__init__(True)
            return self(mode)
        return self

    def __init__(self, mode=True):
        if callable(mode):
            return
        self.mode = builtins.bool(mode)

    def __enter__(self):
        self._prev = (_state.enabled, _inference.enabled)
        if self.mode:
            _state.enabled = False
            _inference.enabled = True
        return self

    def __exit__(self, *exc):
        _state.enabled, _inference.enabled = self._prev
        return False

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with inference_mode(mode):
                return fn(*args, **kwargs)

        return wrapper


def is_inference_mode_enabled():
    return _inference.enabled


# ---- counting and sets -------------------------------------------------------------------------
def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """The distinct values of ``input`` (of the slices along ``dim``), in ascending order
    (always sorted: ``sorted=False`` allows any order, and this one is allowed), with the
    index of each element's value (``return_inverse``, shaped as the input, or as ``dim``) and
    how often each occurs (``return_counts``). No history (PyTorch's has none either). The
    output's size depends on the values: on a GPU it waits for them.

    >>> import tensorgrad as tg
    >>> out, inv = tg.unique(tg.tensor([2, 1, 2]), return_inverse=True)
    >>> out.tolist(), inv.tolist()
    ([1, 2], [1, 0, 1])
    """
    x = _t(input, "unique")
    xp = _xp(x)
    if dim is None:
        res = xp.unique(x.data.reshape(-1), return_inverse=True, return_counts=True)
        inv_shape = x.shape
    else:
        d = _ta._dim(x, dim, "unique")
        if x.numel() == 0:
            return _unique_dim_empty(x, d, "unique", return_inverse, return_counts)
        rest = tuple(x.shape[:d]) + tuple(x.shape[d + 1:])
        # the slices along d as the rows of a matrix: NumPy's unique of rows
        rows = xp.moveaxis(x.data, d, 0).reshape((x.shape[d], -1))
        res = xp.unique(rows, return_inverse=True, return_counts=True, axis=0)
        n = res[0].shape[0]
        res = (xp.moveaxis(res[0].reshape((n,) + rest), 0, d),) + tuple(res[1:])
        inv_shape = (x.shape[d],)
    out = [_const(res[0])]
    if return_inverse:
        out.append(_const(res[1].reshape(inv_shape).astype(np.int64)))
    if return_counts:
        out.append(_const(res[2].astype(np.int64)))
    return out[0] if len(out) == 1 else tuple(out)


def _unique_dim_empty(x, d, op, return_inverse, return_counts):
    """unique/unique_consecutive along dim ``d`` of an empty ``x``, as PyTorch's: no slices
    (``x``'s size along d is 0) gives empty results; empty slices of some other dim, an error."""
    if x.shape[d] != 0:
        raise RuntimeError(f"{op}(): input of shape {tuple(x.shape)} has a size-0 dimension "
                           f"other than dim {d}; there are no slices to compare")
    xp = _xp(x)
    out = [_const(xp.empty(x.shape, x.dtype))]
    out += [_const(xp.empty((0,), np.int64)) for f in (return_inverse, return_counts) if f]
    return out[0] if len(out) == 1 else tuple(out)


def bincount(input, weights=None, minlength=0):
    """How often each value 0, 1, .. occurs in the non-negative integer 1-D ``input`` (at
    least ``minlength`` bins); with ``weights`` (same length) the sum of the weights of each
    value, differentiable with respect to the weights (float64 for integer weights, as
    PyTorch's).

    >>> import tensorgrad as tg
    >>> tg.bincount(tg.tensor([0, 2, 2])).tolist()
    [1, 0, 2]
    """
    x = _t(input, "bincount")
    if x.ndim != 1 or x.dtype.kind not in "iu":
        raise ValueError(f"bincount(): input must be a 1-D integer tensor, got shape "
                         f"{tuple(x.shape)} of {x.dtype}")
    if not isinstance(minlength, numbers.Integral) or minlength < 0:
        raise ValueError(f"bincount(): minlength must be a non-negative int, got {minlength!r}")
    xp = _xp(x)
    n = x.shape[0]
    top = _host_int(x.data.max()) if n else -1
    if n and _host_int(x.data.min()) < 0:
        raise ValueError("bincount(): input must be non-negative")
    length = builtins.max(top + 1, int(minlength))
    if weights is None:
        return _const(xp.bincount(x.data, minlength=length).astype(np.int64)[:length])
    w = _t(weights, "bincount", "weights")
    if w.shape != x.shape:
        raise ValueError(f"bincount(): weights must have the input's shape {tuple(x.shape)}, "
                         f"got {tuple(w.shape)}")
    if w.dtype.kind not in "fc":
        w = w.to(np.float64)
    zeros = _const(xp.zeros(length, dtype=w.dtype))
    return _ta.index_add(zeros, 0, x, w)


def histc(input, bins=100, min=0, max=0):
    """A histogram of ``input``'s values in ``bins`` equal bins over [min, max] (the data's
    own range when min == max; elements outside are not counted), in input's dtype. No history
    (PyTorch's histc has no derivative).

    >>> import tensorgrad as tg
    >>> tg.histc(tg.tensor([1.0, 2.0, 1.0]), bins=4, min=0, max=3).tolist()
    [0.0, 2.0, 1.0, 0.0]
    """
    x = _t(input, "histc")
    if x.dtype.kind != "f":
        raise TypeError(f"histc(): input must be floating point, got {x.dtype}")
    if not isinstance(bins, numbers.Integral) or bins <= 0:
        raise ValueError(f"histc(): bins must be a positive int, got {bins!r}")
    xp = _xp(x)
    data = x.data.reshape(-1)
    lo, hi = builtins.float(min), builtins.float(max)
    if lo > hi:
        raise ValueError(f"histc(): max must be larger than min, got min={min}, max={max}")
    if lo == hi and data.size:
        lo, hi = (builtins.float(v) for v in to_host(xp.stack([data.min(), data.max()])))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"histc(): range of [{lo}, {hi}] is not finite")
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    wide = data.astype(np.float64)
    inside = (wide >= lo) & (wide <= hi)
    pos = xp.floor((wide - lo) * bins / (hi - lo))
    pos = xp.minimum(xp.where(inside, pos, 0), bins - 1).astype(np.int64)
    counts = xp.bincount(pos, weights=inside.astype(np.float64), minlength=bins)
    return _const(counts[:bins].astype(x.dtype))


def isin(elements, test_elements, *, assume_unique=False, invert=False):
    """Whether each of ``elements`` occurs in ``test_elements`` (either may be a number).

    >>> import tensorgrad as tg
    >>> tg.isin(tg.tensor([1, 2, 3]), 2).tolist()
    [False, True, False]
    """
    like = _ta._first_tensor("isin", elements, test_elements)
    xp = _xp(like)
    a = elements.data if isinstance(elements, Tensor) else xp.asarray(elements)
    b = test_elements.data if isinstance(test_elements, Tensor) else xp.asarray(test_elements)
    return _const(xp.isin(a, b, assume_unique=assume_unique, invert=invert))


def _bitwise(fn, name):
    def f(input, other):
        x = _t(input, name)
        if x.dtype.kind not in "biu":
            raise TypeError(f"{name}(): needs integer or bool tensors, got {x.dtype}")
        o = _ta._operand(other, name)
        if isinstance(o, Tensor) and o.dtype.kind not in "biu":
            raise TypeError(f"{name}(): needs integer or bool tensors, got {o.dtype}")
        return fn(x, o)

    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"PyTorch's ``torch.{name}(input, other)`` on integer or bool tensors."
    return f


bitwise_and = _bitwise(_nd.bitwise_and, "bitwise_and")
bitwise_or = _bitwise(_nd.bitwise_or, "bitwise_or")
bitwise_xor = _bitwise(_nd.bitwise_xor, "bitwise_xor")


def bitwise_not(input):
    """Bitwise not of an integer tensor (logical not of a bool one)."""
    x = _t(input, "bitwise_not")
    if x.dtype.kind not in "biu":
        raise TypeError(f"bitwise_not(): needs an integer or bool tensor, got {x.dtype}")
    return _nd.invert(x)


# ---- distances and products ----------------------------------------------------------------------
def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    """The p-norm distance between each row of ``x1`` (..., P, M) and each row of ``x2``
    (..., R, M): shape (..., P, R), batch dims broadcast. Differentiable; at zero distance the
    gradient is 0 (PyTorch's choice), not NaN. Computed from the differences (exact also for
    p=2, where PyTorch may use a matrix product), so it holds a (..., P, R, M) intermediate;
    ``compute_mode`` is accepted and has no effect.

    >>> import tensorgrad as tg
    >>> tg.cdist(tg.tensor([[0.0, 0.0], [1.0, 1.0]]), tg.tensor([[1.0, 1.0]]), p=1).tolist()
    [[2.0], [0.0]]
    """
    a, b = _t(x1, "cdist", "x1"), _t(x2, "cdist", "x2")
    if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-1]:
        raise ValueError(f"cdist(): x1 and x2 must be (..., P, M) and (..., R, M) with the same "
                         f"M, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.dtype.kind not in "fc" or b.dtype.kind not in "fc":
        raise TypeError(f"cdist(): x1 and x2 must be floating point, got {a.dtype} and "
                        f"{b.dtype}")
    if not isinstance(p, numbers.Real) or p < 0:
        raise ValueError(f"cdist(): p must be a non-negative number, got {p!r}")
    if compute_mode not in ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist",
                            "donot_use_mm_for_euclid_dist"):
        raise ValueError(f"cdist(): unknown compute_mode {compute_mode!r}")
    try:
        np.broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-2]))
    except ValueError:
        raise ValueError(f"cdist(): batch dims of x1 {tuple(a.shape)} and x2 {tuple(b.shape)} "
                         "do not broadcast") from None
    diff = a.unsqueeze(-2) - b.unsqueeze(-3)
    return _ta._vector_norm(diff, p, (diff.ndim - 1,), False)


def _beta_alpha(op, input, prod_, beta, alpha):
    """beta * input + alpha * prod_, with PyTorch's rule that beta=0 ignores input (its NaNs
    too). Integer and bool operands keep their dtype, as PyTorch's: it casts beta and alpha to
    it (a float truncated; a bool scale: nonzero)."""
    x = _t(input, op)
    if prod_.dtype.kind in "biu" and x.dtype.kind in "biu":
        cast = bool if prod_.dtype.kind == "b" and x.dtype.kind == "b" else int
        beta, alpha = cast(beta), cast(alpha)
    scaled = prod_ if alpha == 1 else prod_ * alpha
    if beta == 0:
        shape = np.broadcast_shapes(tuple(x.shape), tuple(prod_.shape))
        if shape != tuple(prod_.shape):
            raise ValueError(f"{op}(): input of shape {tuple(x.shape)} does not broadcast to "
                             f"the product's shape {tuple(prod_.shape)}")
        return scaled
    try:
        shape = np.broadcast_shapes(tuple(x.shape), tuple(prod_.shape))
    except ValueError:
        shape = None
    if shape != tuple(prod_.shape):
        raise ValueError(f"{op}(): input of shape {tuple(x.shape)} does not broadcast to the "
                         f"product's shape {tuple(prod_.shape)}")
    return (x if beta == 1 else x * beta) + scaled


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """beta * input + alpha * (batch1 @ batch2) for (b, n, m) and (b, m, p) batches; input
    broadcasts to (b, n, p)."""
    return _beta_alpha("baddbmm", input, _ta.bmm(batch1, batch2), beta, alpha)


def addbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """beta * input + alpha * sum_b(batch1[b] @ batch2[b]); input broadcasts to (n, p)."""
    return _beta_alpha("addbmm", input, _ta.bmm(batch1, batch2).sum(0), beta, alpha)


def addmv(input, mat, vec, *, beta=1, alpha=1):
    """beta * input + alpha * (mat @ vec)."""
    return _beta_alpha("addmv", input, _ta.mv(mat, vec), beta, alpha)


def block_diag(*tensors):
    """A block-diagonal matrix of the tensors (0-d as 1x1, 1-D as one row), differentiable.

    >>> import tensorgrad as tg
    >>> tg.block_diag(tg.ones(1, 1), tg.tensor([[2.0, 3.0]])).tolist()
    [[1.0, 0.0, 0.0], [0.0, 2.0, 3.0]]
    """
    if not tensors:
        return _cr.zeros(0, 0)
    blocks = []
    for i, v in enumerate(tensors):
        v = _t(v, "block_diag", f"tensors[{i}]")
        if v.ndim > 2:
            raise ValueError(f"block_diag(): tensors[{i}] must have at most 2 dims, got shape "
                             f"{tuple(v.shape)}")
        blocks.append(v.reshape(1, 1) if v.ndim == 0 else v.reshape(1, -1) if v.ndim == 1
                      else v)
    dtype = np.result_type(*[b.dtype for b in blocks])
    dev = blocks[0].device
    width = builtins.sum(b.shape[1] for b in blocks)
    rows, left = [], 0
    for b in blocks:
        r, c = b.shape
        parts = []
        if left:
            parts.append(_cr.zeros(r, left, dtype=dtype, device=dev))
        parts.append(b.to(dtype))
        if width - left - c:
            parts.append(_cr.zeros(r, width - left - c, dtype=dtype, device=dev))
        rows.append(_ta.cat(parts, 1) if len(parts) > 1 else parts[0])
        left += c
    return _ta.cat(rows, 0)


def matrix_power(input, n):
    """The n-th power of square matrices (batched; a negative n inverts first)."""
    from .numpy import linalg as _la

    x = _t(input, "matrix_power")
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise ValueError(f"matrix_power(): input must be square matrices, got shape "
                         f"{tuple(x.shape)}")
    if not isinstance(n, numbers.Integral):
        raise TypeError(f"matrix_power(): n must be an int, got {n!r}")
    return _la.matrix_power(x, int(n))


@_primitive
def xlogy_(x, y):
    """x * log(y) on raw arrays (or numbers), exactly 0 where x == 0 unless y is NaN."""
    xp = _xp_of(x if hasattr(x, "dtype") else y)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = x * xp.log(y)
    return xp.where((x == 0) & ~xp.isnan(y), 0, out)


def _xlogy_dx(g, ans, x, y):
    # PyTorch's xlogy(g, y): a zero cotangent gives 0 even where y == 0 (g * log(0) is NaN),
    # so an entry masked out of a loss (a Beta or Gamma log-density at a boundary value) leaves
    # the other entries' gradients finite; 0 where x == 0 and y <= 0 (where the answer is 0)
    pin = (_raw(x) == 0) & (_raw(y) <= 0)
    return _ew.where(pin, 0, xlogy_(g, _ew.where(pin, 1, y)))


def _xlogy_dy(g, ans, x, y):
    # g * x / y; 0 at x == y == 0 (PyTorch: NaN)
    pin = (_raw(x) == 0) & (_raw(y) == 0)
    return _ew.where(pin, 0, g * x / _ew.where(pin, 1, y))


_defvjp(xlogy_, _xlogy_dx, _xlogy_dy)
_defjvp(xlogy_, _xlogy_dx, _xlogy_dy)


def xlogy(input, other):
    """input * log(other), and 0 where input == 0 (unless other is NaN); differentiable, with
    PyTorch's gradients: ``xlogy(g, other)`` with respect to input (0 where input == 0 and
    other <= 0; a zero cotangent gives 0 where other == 0), ``g * input / other`` with respect
    to other (0 at input == other == 0, where PyTorch's is NaN).

    >>> import tensorgrad as tg
    >>> tg.xlogy(tg.tensor([0.0, 2.0]), tg.tensor([0.0, 1.0])).tolist()
    [0.0, 0.0]
    """
    x, y = _ta._float_operands(_tensor_or_number(input, "xlogy", "input"),
                               _tensor_or_number(other, "xlogy", "other"))
    like = _ta._first_tensor("xlogy", x, y)
    dt = _ta._float_dtype(x, y)  # a number becomes an array of the answer's dtype
    x, y = (v if isinstance(v, Tensor) else _const(_xp(like).asarray(v, dtype=dt)) for v in (x, y))
    return xlogy_(x, y)


def _tensor_or_number(v, op, name):
    """A Tensor (an array taken as one without history) or a Python/NumPy number."""
    if isinstance(v, (numbers.Number, np.generic)):
        return v
    return _t(v, op, name)


def cov(input, *, correction=1, fweights=None, aweights=None):
    """The covariance matrix of the variables in the rows of ``input`` (observations in the
    columns; a 1-D input is one variable), with integer frequency weights ``fweights`` and
    observation weights ``aweights``; differentiable in input and aweights."""
    x = _t(input, "cov")
    if x.ndim > 2:
        raise ValueError(f"cov(): input must have at most 2 dims, got shape {tuple(x.shape)}")
    x2 = x.reshape(1, -1) if x.ndim < 2 else x
    if x2.dtype.kind not in "fc":
        x2 = x2.to(_cr.get_default_dtype())
    n = x2.shape[1]
    w = None
    for name, v in (("fweights", fweights), ("aweights", aweights)):
        if v is None:
            continue
        v = _t(v, "cov", name)
        if v.ndim != 1 or v.shape[0] != n:
            raise ValueError(f"cov(): {name} must be 1-D with {n} entries (the observations), "
                             f"got shape {tuple(v.shape)}")
        if name == "fweights" and v.dtype.kind not in "iu":
            raise TypeError(f"cov(): fweights must be integers, got {v.dtype}")
        # a device read, paid only when weights are given (as PyTorch's check)
        if v.dtype.kind not in "bu" and bool(to_host((v.data < 0).any())):
            raise RuntimeError(f"cov(): {name} cannot be negative (input of shape "
                               f"{tuple(x.shape)}, {name} of shape {tuple(v.shape)})")
        if name == "aweights":
            aw = v
        w = v if w is None else w * v
    if w is None:
        avg = x2.mean(1, keepdim=True)
        total = n - correction
    else:
        # PyTorch sums the weights and forms the normalization in the weights' own dtype
        # (float32 aweights give a float32 norm factor), and only then meets the data's dtype
        wsum = w.sum()
        if correction == 0:
            total = wsum
        elif aweights is None:
            total = wsum - correction
        else:
            total = wsum - correction * (w * aw).sum() / wsum
        rdt = x2.real.dtype if x2.dtype.kind == "c" else x2.dtype
        if w.dtype != rdt:
            w, wsum, total = w.to(rdt), wsum.to(rdt), total.to(rdt)
        avg = (x2 * w).sum(1, keepdim=True) / wsum
    c = x2 - avg
    cw = c if w is None else c * w
    ct = _ew.conjugate(c) if c.dtype.kind == "c" else c
    out = _matmul(cw, ct.transpose(0, 1)) / (_ta.clamp(total, min=0) if isinstance(total, Tensor)
                                              else builtins.max(total, 0))
    return out.reshape(()) if out.shape == (1, 1) else out  # one variable: 0-d, as PyTorch


def corrcoef(input):
    """Pearson correlation coefficients of the rows of ``input`` (clipped to [-1, 1] as
    PyTorch's); differentiable."""
    c = cov(input)
    if c.ndim == 0:
        return c / c
    d = _ta.diagonal(c)
    sd = _ew.sqrt(d.real if d.dtype.kind == "c" else d)
    out = c / sd.reshape(-1, 1) / sd.reshape(1, -1)
    return out if out.dtype.kind == "c" else _ta.clamp(out, -1, 1)


# ---- PyTorch's older decomposition names -------------------------------------------------------
def _square(x, op):
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise ValueError(f"{op}(): input must be square matrices (..., n, n), got shape "
                         f"{tuple(x.shape)}")


def _matrices(x, op):
    if x.ndim < 2:
        raise ValueError(f"{op}(): input must be matrices (..., m, n), got shape "
                         f"{tuple(x.shape)}")
    if x.dtype.kind not in "fc":
        raise TypeError(f"{op}(): input must be floating point or complex, got {x.dtype}")


def svd(input, some=True, compute_uv=True):
    """PyTorch's torch.svd: ``(U, S, V)`` with input = U diag(S) V^H, V itself (not V^H as
    ``tg.linalg``/NumPy return); ``some=True`` the reduced factors, ``some=False`` the full
    ones. ``compute_uv=False`` gives S with zero-filled U (m, m) and V (n, n), as PyTorch's.
    Differentiable through tensorgrad's svd rules (U and V: distinct nonzero singular values).

    >>> import tensorgrad as tg
    >>> tg.svd(tg.tensor([[3.0, 0.0], [0.0, -2.0]])).S.tolist()
    [3.0, 2.0]
    """
    x = _t(input, "svd")
    _matrices(x, "svd")
    if not compute_uv:
        s = _dc.svdvals(x)
        xp = _xp(x)
        batch, (m, n) = tuple(x.shape[:-2]), tuple(x.shape[-2:])
        return SvdResult(_const(xp.zeros(batch + (m, m), x.dtype)), s,
                         _const(xp.zeros(batch + (n, n), x.dtype)))
    u, s, vh = _dc.svd(x, full_matrices=not some)
    return SvdResult(u, s, _mH(vh))


def pinverse(input, rcond=1e-15):
    """The Moore-Penrose pseudo-inverse (batched): singular values below ``rcond`` times the
    largest are dropped. Differentiable where the rank does not change."""
    x = _t(input, "pinverse")
    _matrices(x, "pinverse")
    return _dc.pinv(x, rcond)


def cholesky(input, upper=False):
    """The Cholesky factor of symmetric (Hermitian) positive-definite matrices: lower, or
    upper with ``upper=True``. Differentiable (the gradient is symmetric, as PyTorch's)."""
    x = _t(input, "cholesky")
    _square(x, "cholesky")
    _matrices(x, "cholesky")
    from .linalg import _cholesky_core

    return _cholesky_core(x, upper)


def qr(input, some=True):
    """PyTorch's torch.qr: ``(Q, R)`` with input = Q R, Q with orthonormal columns and R upper
    triangular; ``some=True`` the reduced factors (Q: (m, k), R: (k, n), k = min(m, n)),
    ``some=False`` the complete ones (Q: (m, m)). Differentiable for the reduced factors of
    inputs with m >= n, or square, of full rank (PyTorch's domain too)."""
    from .torch_qr import qr as _qr

    x = _t(input, "qr")
    _matrices(x, "qr")
    return QrResult(*_qr(x, "reduced" if some else "complete"))


# ---- Tensor methods --------------------------------------------------------------------------
_METHODS = ("unique bincount histc baddbmm addbmm addmv pinverse svd qr cholesky bernoulli "
            "multinomial matrix_power xlogy cov corrcoef bitwise_and bitwise_or bitwise_xor "
            "bitwise_not isin").split()
_NOT_METHODS = {"isin"}  # PyTorch has no Tensor.isin


def _attach(T):
    g = globals()
    for name in _METHODS:
        if name not in _NOT_METHODS and not hasattr(T, name):
            setattr(T, name, g[name])


_attach(Tensor)

NAMES = [
    "as_tensor", "asarray", "logspace", "randint_like", "randperm", "normal", "bernoulli",
    "multinomial", "seed", "initial_seed", "inference_mode", "is_inference_mode_enabled",
    "unique", "bincount", "histc", "isin", "bitwise_and", "bitwise_or", "bitwise_xor",
    "bitwise_not", "cdist", "baddbmm", "addbmm", "addmv", "block_diag", "matrix_power",
    "xlogy", "cov", "corrcoef", "svd", "pinverse", "cholesky", "qr",
]
CONSTANTS = ["pi", "e", "inf", "nan", "newaxis"]
__all__ = NAMES + CONSTANTS
