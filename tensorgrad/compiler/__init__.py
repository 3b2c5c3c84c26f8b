"""``tg.compiler``: PyTorch's ``torch.compiler`` names with eager semantics.

tensorgrad has no graph compiler, so nothing is ever being compiled or exported:
``is_compiling()``, ``is_dynamo_compiling()`` and ``is_exporting()`` are False; ``compile`` returns
the function or module itself; the decorators (``disable``, ``allow_in_graph``,
``assume_constant_result``, ``substitute_in_graph``, ``nested_compile_region``, ``wrap_numpy``)
return functions that compute what the undecorated ones compute; the guard filters answer as
PyTorch's do for the entries they are given; ``reset`` and ``cudagraph_mark_step_begin`` have
nothing to do.

>>> import tensorgrad as tg
>>> @tg.compiler.disable(reason="python side effects")
... def f(x):
...     return x + 1
>>> f(1), tg.compiler.is_compiling()
(2, False)
"""

import contextlib
import functools

from ..torch_surface3 import compile
from . import config

__all__ = ["compile", "config", "assume_constant_result", "reset", "allow_in_graph",
           "substitute_in_graph", "list_backends", "disable", "set_default_backend",
           "get_default_backend", "set_stance", "set_enable_guard_collectives",
           "cudagraph_mark_step_begin", "load_compiled_function", "wrap_numpy", "is_compiling",
           "is_dynamo_compiling", "is_exporting", "save_cache_artifacts",
           "load_cache_artifacts", "keep_portable_guards_unsafe",
           "skip_guard_on_inbuilt_nn_modules_unsafe", "skip_guard_on_all_nn_modules_unsafe",
           "keep_tensor_guards_unsafe", "skip_guard_on_globals_unsafe", "skip_all_guards_unsafe",
           "nested_compile_region"]

# PyTorch's list_backends() (the ones not tagged debug or experimental); tensorgrad runs every
# one of them as eager Python
_BACKENDS = ["cudagraphs", "inductor", "openxla", "tvm"]
_ALL_BACKENDS = sorted(_BACKENDS + ["aot_eager", "eager", "aot_ts", "ts", "openxla_eval"])
_STANCES = ("default", "force_eager", "eager_on_recompile", "fail_on_recompile",
            "eager_then_compile", "aot_eager_then_compile")
_STATE = {"backend": "inductor", "stance": "default"}


def _check_fn(fn, what):
    if not callable(fn):
        raise TypeError(f"tg.compiler.{what}: expected a function, got {type(fn).__name__}")
    return fn


def is_compiling():
    """False: tensorgrad never traces a function into a graph."""
    return False


def is_dynamo_compiling():
    """False (see ``is_compiling``)."""
    return False


def is_exporting():
    """False: tensorgrad has no ``export``."""
    return False


def disable(fn=None, recursive=True, *, reason=None):
    """``@disable`` or ``@disable(recursive=..., reason=...)``: the function runs eagerly,
    as everything does in tensorgrad; it is returned unchanged."""
    if fn is None:
        return functools.partial(disable, recursive=recursive, reason=reason)
    return _check_fn(fn, "disable")


def allow_in_graph(fn):
    """The function (or list of functions) unchanged: there is no graph to put it in."""
    if isinstance(fn, (list, tuple)):
        return [allow_in_graph(f) for f in fn]
    return _check_fn(fn, "allow_in_graph")


def assume_constant_result(fn):
    """The function unchanged: it is called each time, as without a compiler."""
    return _check_fn(fn, "assume_constant_result")


def wrap_numpy(fn):
    """The function unchanged: tensorgrad's NumPy door (``tensorgrad.numpy``) already takes
    tensors."""
    return _check_fn(fn, "wrap_numpy")


def substitute_in_graph(original_fn, *, can_constant_fold_through=False,
                        skip_signature_check=False):
    """A decorator that would make a compiler trace the decorated Python function in place of
    ``original_fn``; eagerly ``original_fn`` is what runs, so the decorator returns the
    decorated function unchanged (callable directly, as PyTorch's)."""
    _check_fn(original_fn, "substitute_in_graph")

    def wrapper(fn):
        return _check_fn(fn, "substitute_in_graph")
    return wrapper


def nested_compile_region(fn=None, *, options=None, max_reuse_entries=8, reuse_hash_fn=None):
    """``@nested_compile_region`` (with or without arguments): the function unchanged."""
    if fn is None:
        return functools.partial(nested_compile_region, options=options,
                                 max_reuse_entries=max_reuse_entries,
                                 reuse_hash_fn=reuse_hash_fn)
    return _check_fn(fn, "nested_compile_region")


def reset():
    """Nothing to clear: no compiled code is cached."""


def cudagraph_mark_step_begin():
    """Nothing to mark: tensorgrad records no CUDA graphs."""


def list_backends(exclude_tags=("debug", "experimental")):
    """PyTorch's backend names (all run eagerly here); ``exclude_tags=None`` lists more."""
    return list(_BACKENDS) if exclude_tags else list(_ALL_BACKENDS)


def set_default_backend(backend):
    """Remember the backend ``get_default_backend`` answers (None: back to "inductor")."""
    if backend is not None and not isinstance(backend, str) and not callable(backend):
        raise TypeError(f"tg.compiler.set_default_backend: expected a backend name or a "
                        f"callable, got {type(backend).__name__}")
    _STATE["backend"] = "inductor" if backend is None else backend


def get_default_backend():
    """The backend set by ``set_default_backend`` ("inductor" by default)."""
    return _STATE["backend"]


class set_stance(contextlib.ContextDecorator):
    """``set_stance("force_eager")`` as a call, a ``with`` block or a decorator, as PyTorch's.
    Every stance runs eagerly here; the stance is remembered (and restored after a block)."""

    def __init__(self, stance="default", *, skip_guard_eval_unsafe=False, force_backend=None):
        if stance not in _STANCES:
            raise ValueError(f"tg.compiler.set_stance: unknown stance {stance!r}; expected one "
                             f"of {', '.join(_STANCES)}")
        if force_backend is not None and stance != "default":
            raise RuntimeError("tg.compiler.set_stance: force_backend can only be given with "
                               "the 'default' stance")
        self.stance = stance
        self.prev = _STATE["stance"]
        _STATE["stance"] = stance

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _STATE["stance"] = self.prev
        return False

    def __call__(self, fn):
        stance = self.stance
        _STATE["stance"] = self.prev  # as a decorator the stance holds inside fn only

        @functools.wraps(fn)
        def inner(*args, **kwargs):
            prev = _STATE["stance"]
            _STATE["stance"] = stance
            try:
                return fn(*args, **kwargs)
            finally:
                _STATE["stance"] = prev
        return inner


def set_enable_guard_collectives(enabled):
    """Guards are not evaluated eagerly; returns the previous setting (False), as PyTorch's."""
    return False


def _no_artifacts(what):
    raise RuntimeError(f"tg.compiler.{what}: tensorgrad compiles nothing, so there are no "
                       "compiled functions or cache artifacts to load")


def load_compiled_function(file, *, f_globals=None, external_data=None):
    """Raises: tensorgrad saves no compiled functions."""
    _no_artifacts("load_compiled_function")


def save_cache_artifacts():
    """None: nothing was compiled, so there is nothing to save (PyTorch's answer then)."""
    return None


def load_cache_artifacts(serialized_artifacts):
    """Raises: no artifacts can have been saved by tensorgrad."""
    _no_artifacts("load_cache_artifacts")


# Guard filters (for ``options={"guard_filter_fn": ...}``): lists of keep flags, one per entry,
# computed as PyTorch's from the entries' ``guard_type``, ``value``, ``is_global``, ...
def keep_portable_guards_unsafe(guard_entries):
    """Keep the global-state and shape guards and the tensor guards of local tensors."""
    return [e.guard_type in ("GLOBAL_STATE", "SHAPE_ENV")
            or (e.guard_type == "TENSOR_MATCH" and not e.is_global) for e in guard_entries]


def skip_guard_on_inbuilt_nn_modules_unsafe(guard_entries):
    """Drop the guards on built-in nn modules' unspecialised attributes."""
    return [not e.orig_guard.source.is_unspecialized_builtin_nn_module() for e in guard_entries]


def skip_guard_on_all_nn_modules_unsafe(guard_entries):
    """Drop the guards on every nn module's unspecialised attributes."""
    return [not e.orig_guard.source.is_unspecialized_nn_module() for e in guard_entries]


def keep_tensor_guards_unsafe(guard_entries, keep_parameters=False):
    """Keep only tensor-match guards (of parameters too with ``keep_parameters``)."""
    from ..nn.modules import Parameter

    return [e.guard_type == "TENSOR_MATCH"
            and (keep_parameters or not isinstance(e.value, Parameter)) for e in guard_entries]


def skip_guard_on_globals_unsafe(guard_entries):
    """Drop the guards on globals."""
    return [not e.is_global for e in guard_entries]


def skip_all_guards_unsafe(guard_entries):
    """Drop every guard."""
    return [False for _ in guard_entries]
