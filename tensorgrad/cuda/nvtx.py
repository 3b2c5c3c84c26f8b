"""``tg.cuda.nvtx``: PyTorch's ``torch.cuda.nvtx`` (NVTX ranges and marks that Nsight Systems
shows on its timeline), through CuPy's ``cupy.cuda.nvtx``.

Without a GPU, or with a CuPy built without NVTX, every call does nothing (PyTorch's CPU build
raises instead), so annotated code runs anywhere. ``range_push`` and ``range_pop`` return the
0-based depth of the range they start or end (-1: ``range_pop`` with no range open), counted
per thread. ``range_start``/``range_end`` (ranges that may span threads) have no CuPy
counterpart: ``range_start`` returns a fresh id and neither reaches NVTX.

>>> import tensorgrad as tg
>>> with tg.cuda.nvtx.range("step {}", 3):
...     pass
"""

import contextlib
import itertools
import threading

__all__ = ["range_push", "range_pop", "range_start", "range_end", "mark", "range"]

_DEPTH = threading.local()
_IDS = itertools.count(1)


def _nvtx():
    """CuPy's nvtx module when a GPU is there and CuPy has NVTX, else None."""
    from ..backend import device as _dev

    if not _dev.cuda_available():
        return None
    return getattr(_dev.cupy.cuda, "nvtx", None)


def _message(msg, what):
    if not isinstance(msg, str):
        raise TypeError(f"tg.cuda.nvtx.{what}: msg must be a str, got {type(msg).__name__}")
    return msg


def range_push(msg):
    """Open a nested range named ``msg``; returns its depth."""
    _message(msg, "range_push")
    nv = _nvtx()
    if nv is not None:
        nv.RangePush(msg)
    depth = getattr(_DEPTH, "n", 0)
    _DEPTH.n = depth + 1
    return depth


def range_pop():
    """Close the innermost open range; returns its depth (-1 if none was open)."""
    depth = getattr(_DEPTH, "n", 0) - 1
    if depth < 0:
        return -1
    nv = _nvtx()
    if nv is not None:
        nv.RangePop()
    _DEPTH.n = depth
    return depth


def range_start(msg):
    """A range id for ``range_end`` (see the module's docstring)."""
    _message(msg, "range_start")
    return next(_IDS)


def range_end(range_id):
    """End the range ``range_start`` returned (see the module's docstring)."""
    if isinstance(range_id, bool) or not isinstance(range_id, int):
        raise TypeError(f"tg.cuda.nvtx.range_end: expected the id range_start returned, got "
                        f"{range_id!r}")


def mark(msg):
    """An instantaneous event named ``msg``."""
    _message(msg, "mark")
    nv = _nvtx()
    if nv is not None:
        nv.Mark(msg)


@contextlib.contextmanager
def range(msg, *args, **kwargs):
    """``with range("epoch {}", i):`` (or as a decorator): a range named
    ``msg.format(*args, **kwargs)`` around the block."""
    range_push(_message(msg, "range").format(*args, **kwargs))
    try:
        yield
    finally:
        range_pop()
