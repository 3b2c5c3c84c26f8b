"""Library functions tensorgrad has no derivative for (NumPy's, SciPy's): usable on plain values
and on tensors that carry no derivative, refused (never silently cut) on tensors that do."""

import importlib

import numpy as _np

from .backend.device import _CUPY_ARRAY, cupy
from .tensor import Tensor, _new_tensor


def _wrap_out(out):
    if isinstance(out, (_np.ndarray, _CUPY_ARRAY, _np.generic)):
        return _new_tensor(out, None, False)
    if isinstance(out, tuple):
        parts = [_wrap_out(o) for o in out]
        return type(out)(*parts) if hasattr(out, "_fields") else tuple(parts)
    return out


def _collect(a, found):
    """Append the Tensors and CuPy arrays in ``a`` (nested lists, tuples, dict values): NumPy
    would turn a Tensor inside a list into plain numbers and silently drop its derivative."""
    if isinstance(a, (Tensor, _CUPY_ARRAY)):
        found.append(a)
    elif isinstance(a, (list, tuple)):
        for x in a:
            _collect(x, found)
    elif isinstance(a, dict):
        for x in a.values():
            _collect(x, found)


def _unwrap(a):
    if isinstance(a, Tensor):
        return a.data
    if isinstance(a, (list, tuple)) and not hasattr(a, "_fields"):
        return type(a)(_unwrap(x) for x in a)
    if isinstance(a, dict):
        return {k: _unwrap(v) for k, v in a.items()}
    return a


def _module(path, base):
    """``base`` (the numpy or cupy module) followed by the dotted ``path``, or the module named
    ``path`` itself when ``base`` is None."""
    if base is None:
        return importlib.import_module(path)
    mod = base
    for part in path.split(".") if path else ():
        mod = getattr(mod, part)
    return mod


def _cupy_counterpart(public, path, base, name, array):
    """CuPy's function for ``numpy.<path>.<name>`` or ``scipy.<...>.<name>``; a name CuPy
    lacks is an error naming the function and the device, not NumPy refusing a CuPy array."""
    if base is None:
        if not path.startswith("scipy"):
            return getattr(importlib.import_module(path), name)
        path = "cupyx." + path
    try:
        mod = _module(path, cupy) if base is not None else importlib.import_module(path)
        return getattr(mod, name)
    except (AttributeError, ImportError):
        where = f"cupy.{path}" if base is not None else path
        raise NotImplementedError(
            f"{public}.{name}: not available on the cuda device (cuda:{array.device.id}): "
            f"{where.rstrip('.')} has no {name}. Compute it on the cpu (cupy.asnumpy(x), or "
            "tensor.cpu()) and move the result back") from None


# NumPy functions whose result has no derivative by nature (indices, counts, booleans, types,
# uninitialised memory): they take traced tensors (their values) as autograd's do
NO_DERIVATIVE = frozenset(
    "argpartition argwhere nonzero flatnonzero count_nonzero searchsorted isneginf isposinf "
    "allclose isclose array_equal array_equiv iscomplexobj iscomplex isscalar isreal isrealobj "
    "empty_like result_type can_cast shape ndim size".split())


def module_getattr(public, path, base=_np):
    """A module ``__getattr__`` for ``tensorgrad.<public>``: names it does not define come from
    ``numpy.<path>`` (CuPy's counterpart for CuPy arrays), or, with ``base=None``, from the
    module named ``path`` (``"scipy.linalg"``)."""

    def __getattr__(name):
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            module = _module(path, base)
        except ImportError as e:
            raise AttributeError(f"{public}.{name}: needs {path} ({e})") from None
        target = getattr(module, name)  # AttributeError for names the library lacks
        if not callable(target) or isinstance(target, type):
            return target

        def passthrough(*args, **kwargs):
            found = []  # the Tensors and CuPy arrays, also inside lists, tuples and dicts
            for a in list(args) + list(kwargs.values()):
                _collect(a, found)
            tensors = False
            fn = target
            for a in found:
                if isinstance(a, Tensor):
                    if (a._rg or a._level) and not (base is _np and name in NO_DERIVATIVE):
                        raise NotImplementedError(
                            f"{public}.{name}: no derivative is defined, so it cannot take a "
                            "tensor that carries one; use differentiable functions, or "
                            ".detach()")
                    tensors = True
                    a = a.data
                if isinstance(a, _CUPY_ARRAY) and fn is target:
                    fn = _cupy_counterpart(public, path, base, name, a)
            if tensors:
                args = [_unwrap(a) for a in args]
                kwargs = {k: _unwrap(v) for k, v in kwargs.items()}
            out = fn(*args, **kwargs)
            return _wrap_out(out) if tensors else out

        passthrough.__name__ = name
        passthrough.__doc__ = f"{getattr(module, '__name__', path)}.{name}, without a derivative."
        return passthrough

    return __getattr__
