"""``skip_init``: build a module without running its parameter initialisers, as
``torch.nn.utils.skip_init``."""

import inspect

from .. import init as _init
from ..modules import Module

__all__ = ["skip_init"]


def skip_init(module_cls, *args, **kwargs):
    """``module_cls(*args, **kwargs)`` with its parameters and buffers left uninitialised (as
    ``empty`` made them): every ``tg.nn.init`` initialiser is a no-op while it is built, and no
    random numbers are drawn. The class must take a ``device`` argument (as PyTorch requires);
    ``device`` defaults to "cpu".

    PyTorch builds the module on the "meta" device and allocates afterwards; tensorgrad has no
    meta device, so a constructor that computes its values without ``tg.nn.init`` still runs
    that computation.

    >>> import tensorgrad as tg
    >>> tg.nn.utils.skip_init(tg.nn.Linear, 4, 2).weight.shape
    (2, 4)
    """
    if not (isinstance(module_cls, type) and issubclass(module_cls, Module)):
        raise RuntimeError(f"Expected a Module; got {module_cls}")
    if "device" not in inspect.signature(module_cls).parameters:
        raise RuntimeError("Module must support a 'device' arg to skip initialization")
    kwargs.setdefault("device", "cpu")
    _init._SKIP[0] += 1
    try:
        return module_cls(*args, **kwargs)
    finally:
        _init._SKIP[0] -= 1
