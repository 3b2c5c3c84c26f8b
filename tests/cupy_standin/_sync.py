"""Host synchronisations: the places where real CuPy makes the host wait for the GPU.

A training step that makes one loses the overlap of host and GPU work: every launch queued
before it must finish before Python goes on, and on a GPU the step's time becomes host time
plus GPU time instead of the larger of the two. Real CuPy syncs on every transfer to the host
(``get()``, ``item()``, ``tolist()``, ``float()``/``int()``/``bool()``, printing, pickling), on
every op whose output shape depends on the data (boolean-mask indexing, ``nonzero``,
``unique``, ``bincount``, ...; CuPy marks them "synchronize!" in its source), on value checks
it makes before raising (``nanmax``/``nanmin`` for all-NaN slices, ``percentile``), and on
explicit waits (``Device().synchronize()``, ``Stream.synchronize()``, ``Event.synchronize()``).

The stand-in reports each of them here. Nothing is recorded unless a ``watch`` is open, so
the rest of the suite pays one list test per synchronising call::

    with _sync.watch() as w:
        step()
    assert not w.events, w.report()
"""

import sys
import threading

_watchers = []
_lock = threading.Lock()

# functions (cupy.<name>, and ndarray methods of the same name) whose output shape or checks
# depend on the data, so real CuPy copies a count or a flag to the host before returning
DATA_DEPENDENT = frozenset("""
nonzero flatnonzero argwhere compress extract place delete unique bincount histogram
histogram2d histogramdd average nanmax nanmin percentile quantile ravel_multi_index
unravel_index interp gradient asarray_chkfinite real_if_close ix_ mask_indices
""".split())


def note(what):
    """Record that ``what`` made the host wait (a no-op while no ``watch`` is open)."""
    if _watchers:
        site = _site()
        with _lock:
            for w in _watchers:
                w.events.append((what, site))


def _site():
    """The innermost frame outside the stand-in: the code that asked for the data."""
    f = sys._getframe(2)
    while f is not None and "cupy_standin" in f.f_code.co_filename:
        f = f.f_back
    if f is None:
        return "?"
    return f"{f.f_code.co_filename}:{f.f_lineno} ({f.f_code.co_name})"


class watch:
    """Collect the host synchronisations made inside the block (all threads): ``events`` is
    a list of ``(what, where)``."""

    def __init__(self):
        self.events = []

    def __enter__(self):
        with _lock:
            _watchers.append(self)
        return self

    def __exit__(self, *exc):
        with _lock:
            _watchers.remove(self)
        return False

    def report(self):
        lines = [f"{len(self.events)} host synchronisation(s):"]
        lines += [f"  {what} at {where}" for what, where in self.events]
        return "\n".join(lines)
