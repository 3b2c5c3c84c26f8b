"""NumPy functions tensorgrad has no derivative for: usable on plain values and on tensors that
carry no derivative, refused (never silently cut) on tensors that do."""

import numpy as _np

from ..backend.device import _CUPY_ARRAY, xp_of
from ..tensor import Tensor, _new_tensor


def _wrap_out(out):
    if isinstance(out, (_np.ndarray, _CUPY_ARRAY, _np.generic)):
        return _new_tensor(out, None, False)
    if isinstance(out, tuple):
        parts = [_wrap_out(o) for o in out]
        return type(out)(*parts) if hasattr(out, "_fields") else tuple(parts)
    return out


def module_getattr(public, submodule=None):
    """A module ``__getattr__`` for ``tensorgrad.<public>`` that forwards to NumPy's
    (``numpy.<submodule>``), or CuPy's for CuPy arrays."""

    def lookup(xp):
        return xp if submodule is None else getattr(xp, submodule)

    def __getattr__(name):
        target = getattr(lookup(_np), name)  # AttributeError for names NumPy lacks
        if not callable(target) or isinstance(target, type):
            return target

        def passthrough(*args, **kwargs):
            values = list(args) + list(kwargs.values())
            tensors = False
            fn = target
            for a in values:
                if isinstance(a, Tensor):
                    if a._rg or a._level:
                        raise NotImplementedError(
                            f"{public}.{name}: no derivative is defined, so it cannot take a "
                            "tensor that carries one; use differentiable functions, or "
                            ".detach()")
                    tensors = True
                    a = a.data
                if isinstance(a, _CUPY_ARRAY):  # pragma: no cover - CuPy
                    fn = getattr(lookup(xp_of(a)), name)
            args = [a.data if isinstance(a, Tensor) else a for a in args]
            kwargs = {k: v.data if isinstance(v, Tensor) else v for k, v in kwargs.items()}
            out = fn(*args, **kwargs)
            return _wrap_out(out) if tensors else out

        passthrough.__name__ = name
        return passthrough

    return __getattr__
