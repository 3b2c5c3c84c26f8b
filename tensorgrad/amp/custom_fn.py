"""PyTorch's ``torch.amp.custom_fwd`` and ``custom_bwd``: the autocast behaviour of a
``tg.autograd.Function``'s ``forward`` and ``backward``.

``custom_fwd`` records whether autocast was on for ``device_type`` when ``forward`` ran (and
its dtype) on the ``ctx``. With ``cast_inputs=dtype`` and autocast on, the floating tensors of
the arguments on that device type (not float64 ones, nested in lists, tuples and dicts too)
are cast to ``dtype`` and ``forward`` runs with autocast off; with autocast off the arguments
are left alone. ``custom_bwd`` runs ``backward`` under the autocast state ``forward`` had
(the reverse pass otherwise runs without autocast).

>>> import tensorgrad as tg
>>> class Mul(tg.autograd.Function):
...     @staticmethod
...     @tg.amp.custom_fwd(device_type="cpu", cast_inputs=tg.float32)
...     def forward(ctx, a, b):
...         ctx.save_for_backward(a, b)
...         return a * b
...     @staticmethod
...     @tg.amp.custom_bwd(device_type="cpu")
...     def backward(ctx, g):
...         a, b = ctx.saved_tensors
...         return g * b, g * a
>>> with tg.autocast("cpu"):
...     Mul.apply(tg.ones(2, dtype=tg.float16), tg.ones(2)).dtype
dtype('float32')
"""

import functools

import numpy as np

from ..autograd.grad_mode import _state as _grad_state
from ..backend.device import _CUPY_ARRAY
from ..tensor import Tensor
from .autocast_mode import (
    _check_device_type,
    _tls,
    astype,
    autocast,
    get_autocast_dtype,
    is_autocast_enabled,
)

__all__ = ["custom_fwd", "custom_bwd"]


def _device_type(t):
    return "cuda" if type(t.data) is _CUPY_ARRAY else "cpu"


def _cast(value, device_type, dtype):
    if isinstance(value, Tensor):
        d = value.dtype
        if d.kind == "f" and d != np.float64 and _device_type(value) == device_type \
                and d != dtype:
            return astype(value, dtype)
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_cast(v, device_type, dtype) for v in value)
    if isinstance(value, dict):
        return {k: _cast(v, device_type, dtype) for k, v in value.items()}
    return value


def custom_fwd(fwd=None, *, device_type, cast_inputs=None):
    """Decorator for a custom Function's ``forward`` (see the module's docstring)."""
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)
    _check_device_type(device_type, "custom_fwd")
    target = None if cast_inputs is None else np.dtype(cast_inputs)

    @functools.wraps(fwd)
    def decorate_fwd(*args, **kwargs):
        ctx = args[0]
        ctx._amp_device_type = device_type
        ctx._dtype = get_autocast_dtype(device_type)
        if target is None:
            ctx._fwd_used_autocast = is_autocast_enabled(device_type)
            return fwd(*args, **kwargs)
        autocast_on = is_autocast_enabled(device_type)
        ctx._fwd_used_autocast = False
        if autocast_on:
            with autocast(device_type, enabled=False):
                return fwd(*_cast(args, device_type, target),
                           **_cast(kwargs, device_type, target))
        return fwd(*args, **kwargs)

    return decorate_fwd


def custom_bwd(bwd=None, *, device_type):
    """Decorator for a custom Function's ``backward``: it runs under the autocast state that
    the ``custom_fwd``-decorated ``forward`` ran under."""
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)
    _check_device_type(device_type, "custom_bwd")

    @functools.wraps(bwd)
    def decorate_bwd(*args, **kwargs):
        ctx = args[0]
        used = getattr(ctx, "_fwd_used_autocast", False)
        dtype = getattr(ctx, "_dtype", _tls.dtype[device_type])
        saved = _grad_state.backward
        _grad_state.backward = 0  # the reverse pass switches autocast off; this rule opts in
        try:
            with autocast(device_type, dtype=dtype, enabled=used):
                return bwd(*args, **kwargs)
        finally:
            _grad_state.backward = saved

    return decorate_bwd
