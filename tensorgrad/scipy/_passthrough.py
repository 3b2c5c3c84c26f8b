"""SciPy functions tensorgrad has no derivative for: usable on arrays and on tensors that carry
no derivative, refused (never silently cut) on tensors that do."""

import importlib

import numpy as np

from ..backend.device import _CUPY_ARRAY
from ..tensor import Tensor, _new_tensor


def _wrap(out):
    if isinstance(out, (np.ndarray, _CUPY_ARRAY, np.generic)):
        return _new_tensor(out, None, False)
    if isinstance(out, tuple):
        parts = [_wrap(o) for o in out]
        return type(out)(*parts) if hasattr(out, "_fields") else tuple(parts)
    return out


def _unwrap(a, where):
    if isinstance(a, Tensor):
        if a._rg or a._level:
            raise NotImplementedError(
                f"{where}: no derivative is defined, so it cannot take a tensor that carries "
                "one; use differentiable functions, or .detach()")
        return a.data, True
    return a, False


def module_getattr(public, scipy_module):
    """A module ``__getattr__`` for ``tensorgrad.<public>`` forwarding to ``<scipy_module>``."""

    def __getattr__(name):
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            module = importlib.import_module(scipy_module)
        except ImportError as e:
            raise AttributeError(f"{public}.{name}: needs SciPy ({e})") from None
        target = getattr(module, name)  # AttributeError for names SciPy lacks
        if not callable(target) or isinstance(target, type):
            return target

        def passthrough(*args, **kwargs):
            tensors = False
            raw_args = []
            for a in args:
                a, t = _unwrap(a, f"{public}.{name}")
                tensors |= t
                raw_args.append(a)
            raw_kw = {}
            for k, v in kwargs.items():
                v, t = _unwrap(v, f"{public}.{name}")
                tensors |= t
                raw_kw[k] = v
            out = target(*raw_args, **raw_kw)
            return _wrap(out) if tensors else out

        passthrough.__name__ = name
        passthrough.__doc__ = f"{scipy_module}.{name} without a derivative."
        return passthrough

    return __getattr__
