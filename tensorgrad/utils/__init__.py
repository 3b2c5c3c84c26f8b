"""``tensorgrad.utils``: data loading (``tensorgrad.utils.data``) and activation checkpointing
(``tensorgrad.utils.checkpoint``); PyTorch's ``hooks``, ``dlpack``, ``_pytree``, ``model_zoo``
and ``benchmark`` (imported on first use)."""

from . import checkpoint, data

__all__ = ["checkpoint", "data", "hooks", "dlpack", "model_zoo", "benchmark"]

_LAZY = ("hooks", "dlpack", "_pytree", "model_zoo", "benchmark")


def __getattr__(name):
    # imported on first use: hooks needs tensorgrad.nn, which may import tensorgrad.utils
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
