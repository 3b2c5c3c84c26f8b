"""Thread-local switches: whether ops are recorded on the tape, and anomaly mode (see
:mod:`tensorgrad.autograd.anomaly`). Each thread has its own, as in PyTorch: ``no_grad`` in one
thread does not stop another from recording."""

import functools
import threading


class _State(threading.local):
    enabled = True
    anomaly = False  # check every backward rule's result for NaN/inf
    anomaly_forward = False  # ... and every recorded forward result for NaN
    backward = 0  # reverse passes running in this thread (autocast stays off inside them)
    # forward-mode levels open (forward_ad's, jvp's): views are linked to their bases for
    # in-place writes even under no_grad then (ops/registry.py), as a dual may be written
    dual_levels = 0


_state = _State()


def is_grad_enabled():
    return _state.enabled


class _Mode:
    """Sets the mode on ``__enter__`` and restores the previous one on ``__exit__``; as a
    decorator, runs the function in the mode."""

    mode = True

    def __new__(cls, fn=None):
        # PyTorch accepts the bare decorator too: @no_grad as well as @no_grad()
        self = super().__new__(cls)
        return self if fn is None or not callable(fn) else self(fn)

    def __enter__(self):
        self.prev = _state.enabled
        _state.enabled = self.mode
        return self

    def __exit__(self, *exc):
        _state.enabled = self.prev
        return False

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_Mode):
    """Ops inside run without recording. Context manager or decorator.

    >>> import tensorgrad as tg
    >>> x = tg.ones(3, requires_grad=True)
    >>> with tg.no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """

    mode = False


class enable_grad(_Mode):
    """Recording on again inside a ``no_grad`` block. Context manager or decorator."""

    mode = True


class set_grad_enabled(_Mode):
    """Turn recording on or off: as a call (it takes effect at once, as in PyTorch), a
    context manager or a decorator.

    >>> import tensorgrad as tg
    >>> with tg.set_grad_enabled(False):
    ...     y = tg.ones(2, requires_grad=True) * 2
    >>> y.requires_grad
    False
    """

    def __new__(cls, mode=True):
        return object.__new__(cls)

    def __init__(self, mode=True):
        self.prev = _state.enabled
        self.mode = bool(mode)
        _state.enabled = self.mode

    def __enter__(self):
        _state.enabled = self.mode  # ``prev`` was taken when the call switched the mode
        return self

    def __call__(self, fn):
        _state.enabled = self.prev  # a decorator must not change the mode at definition time
        return super().__call__(fn)


def __getattr__(name):
    # PyTorch's torch.autograd.grad_mode also holds these; lazy, since their modules import
    # this one
    if name == "inference_mode":
        from ..torch_surface import inference_mode

        return inference_mode
    if name == "set_multithreading_enabled":
        from .legacy import set_multithreading_enabled

        return set_multithreading_enabled
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
