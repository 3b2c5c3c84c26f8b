"""``tg.jit``: PyTorch's TorchScript names, for code that scripts or traces its models.

tensorgrad has no TorchScript compiler (as ``tg.compile``, it runs eagerly): ``script`` and
``trace`` return the function or module they are given, the decorators (``ignore``, ``unused``,
``export``, ``interface``) leave what they decorate as it is, ``is_scripting()`` and
``is_tracing()`` are False, and ``fork``/``wait`` run the call at once. So the program computes
what it computes in eager PyTorch. ``save``/``load`` of a TorchScript archive cannot be
offered: they raise and name ``tg.save`` of a state dict instead.

>>> import tensorgrad as tg
>>> @tg.jit.script
... def f(x):
...     return x * 2
>>> f(tg.tensor([1.0])).tolist()
[2.0]
"""

import typing

__all__ = ["script", "trace", "trace_module", "ignore", "unused", "export", "interface",
           "script_if_tracing", "is_scripting", "is_tracing", "annotate", "Final", "fork",
           "wait", "Future", "freeze", "optimize_for_inference", "save", "load",
           "ScriptModule", "ScriptFunction", "Error", "enable_onednn_fusion",
           "onednn_fusion_enabled", "set_fusion_strategy"]

Final = typing.Final


class Error(RuntimeError):
    """TorchScript's error type (nothing here raises it but ``save`` and ``load``)."""


class ScriptModule:
    """No object is one here: ``script`` returns the module itself."""


class ScriptFunction:
    """No object is one here: ``script`` returns the function itself."""


def script(obj, optimize=None, _frames_up=0, _rcb=None, example_inputs=None):
    """``obj`` itself (a function, module or class): it runs eagerly."""
    return obj


def trace(func, example_inputs=None, optimize=None, check_trace=True, check_inputs=None,
          check_tolerance=1e-5, strict=True, _force_outplace=False,
          _module_class=None, _compilation_unit=None, example_kwarg_inputs=None,
          _store_inputs=True):
    """``func`` itself: it runs eagerly, on any input, with its Python control flow."""
    return func


def trace_module(mod, inputs, optimize=None, check_trace=True, check_inputs=None,
                 check_tolerance=1e-5, strict=True, _force_outplace=False,
                 _module_class=None, _compilation_unit=None, example_inputs_is_kwarg=False,
                 _store_inputs=True):
    """``mod`` itself."""
    return mod


def _identity_decorator(name):
    def decorator(fn=None, **options):
        if fn is None or not callable(fn):  # @ignore(drop=True) and friends
            return lambda f: f
        return fn

    decorator.__name__ = name
    decorator.__doc__ = f"``@{name}`` and ``@{name}(...)``: the function as it is."
    return decorator


ignore = _identity_decorator("ignore")
unused = _identity_decorator("unused")
export = _identity_decorator("export")
interface = _identity_decorator("interface")
script_if_tracing = _identity_decorator("script_if_tracing")


def is_scripting():
    """False: nothing is compiled by TorchScript here."""
    return False


def is_tracing():
    """False: nothing is traced here."""
    return False


def annotate(the_type, the_value):
    """``the_value``: the type is for TorchScript's compiler."""
    return the_value


class Future:
    """The result of :func:`fork`, already computed."""

    def __init__(self, value):
        self._value = value

    def wait(self):
        return self._value

    def done(self):
        return True

    def value(self):
        return self._value


def fork(func, *args, **kwargs):
    """Call ``func`` now; :func:`wait` returns its result."""
    return Future(func(*args, **kwargs))


def wait(future):
    if not isinstance(future, Future):
        raise TypeError(f"tg.jit.wait: expects the Future that tg.jit.fork returned, got "
                        f"{type(future).__name__}")
    return future.wait()


def freeze(mod, preserved_attrs=None, optimize_numerics=True):
    """``mod`` itself."""
    return mod


def optimize_for_inference(mod, other_methods=None):
    """``mod`` itself."""
    return mod


_FUSION = {"onednn": False, "strategy": [("STATIC", 2), ("DYNAMIC", 10)]}


def enable_onednn_fusion(enabled):
    _FUSION["onednn"] = bool(enabled)


def onednn_fusion_enabled():
    return _FUSION["onednn"]


def set_fusion_strategy(strategy):
    """Accepted; returns the previous strategy, as PyTorch's does."""
    if isinstance(strategy, (str, bytes)) or not hasattr(strategy, "__iter__"):
        raise TypeError(f"tg.jit.set_fusion_strategy: strategy must be a list of (type, depth) "
                        f"pairs such as [('STATIC', 2), ('DYNAMIC', 10)], got {strategy!r}")
    new = list(strategy)
    for pair in new:
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and
                pair[0] in ("STATIC", "DYNAMIC") and isinstance(pair[1], int)):
            raise ValueError(f"tg.jit.set_fusion_strategy: each entry must be ('STATIC', n) or "
                             f"('DYNAMIC', n) with an int n, got {pair!r}")
    old, _FUSION["strategy"] = _FUSION["strategy"], new
    return old


def _no_archive(op):
    raise Error(f"tg.jit.{op}: tensorgrad has no TorchScript, so there is no TorchScript "
                f"archive to {'write' if op == 'save' else 'read'}; save the model's weights "
                f"with tg.save(model.state_dict(), f) and load them with "
                f"model.load_state_dict(tg.load(f))")


def save(m, f, _extra_files=None):
    _no_archive("save")


def load(f, map_location=None, _extra_files=None, _restore_shapes=False):
    _no_archive("load")
