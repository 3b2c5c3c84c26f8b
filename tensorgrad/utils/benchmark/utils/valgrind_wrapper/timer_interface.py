"""The containers of Callgrind instruction counts, as PyTorch's
``torch.utils.benchmark.utils.valgrind_wrapper.timer_interface``: ``FunctionCount``,
``FunctionCounts``, ``CallgrindStats`` and the ``CopyIfCallgrind`` marker for Timer globals.

tensorgrad does not collect instruction counts: PyTorch's ``Timer.collect_callgrind`` runs the
statement in a child process under Valgrind with C++ bindings (compiled at run time) that switch
Callgrind's instrumentation on around the statement, and tensorgrad has no such bindings.
``Timer.collect_callgrind`` therefore raises an error that is both an ``OSError`` (what PyTorch
raises where Valgrind is missing, so code that skips on it keeps working) and a
``NotImplementedError``. The containers work on counts obtained elsewhere.

>>> from tensorgrad.utils.benchmark import FunctionCount, FunctionCounts
>>> counts = FunctionCounts((FunctionCount(3, "f"), FunctionCount(5, "g")), inclusive=False)
>>> counts.sum(), len(counts), counts[1].function
(8, 2, 'g')
"""

import dataclasses
import re
from typing import NamedTuple

__all__ = ["FunctionCount", "FunctionCounts", "CallgrindStats", "CopyIfCallgrind"]


class _CallgrindUnsupported(OSError, NotImplementedError):
    """Raised by ``Timer.collect_callgrind``."""


def _callgrind_unsupported():
    return _CallgrindUnsupported(
        "Timer.collect_callgrind is not supported by tensorgrad: PyTorch collects instruction "
        "counts by running the statement under Valgrind with compiled C++ bindings to "
        "Callgrind, which tensorgrad does not have. Time with Timer.blocked_autorange or "
        "adaptive_autorange instead, or profile with `valgrind --tool=callgrind python ...`.")


class FunctionCount(NamedTuple):
    count: int
    function: str


_NOISY = ("dictobject.c:lookdict_unicode",)  # CPython's name lookups: their counts jitter


@dataclasses.dataclass(repr=False, eq=False, frozen=True)
class FunctionCounts:
    """Instruction counts per function: indexable like a tuple of FunctionCount; ``+`` and
    ``-`` combine counts by function name, ``*`` scales them."""

    _data: tuple
    inclusive: bool
    truncate_rows: bool = True
    _linewidth: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "_data", tuple(FunctionCount(*c) for c in self._data))

    def __iter__(self):
        return iter(self._data)

    def __len__(self):
        return len(self._data)

    def __getitem__(self, item):
        data = self._data[item]
        if isinstance(item, slice):
            return FunctionCounts(data, self.inclusive, truncate_rows=False)
        return data

    def __repr__(self):
        lines = [object.__repr__(self)]
        rows = list(self._data)
        if self.truncate_rows and len(rows) > 20:
            rows = rows[:10] + [None] + rows[-10:]
        width = max((len(str(c.count)) for c in self._data), default=1)
        limit = self._linewidth or 120
        for row in rows:
            if row is None:
                lines.append(" " * (width + 2) + "  ...")
                continue
            name = row.function
            if len(name) + width + 4 > limit:
                name = name[:max(limit - width - 7, 10)] + "..."
            lines.append(f"  {row.count:>{width}}  {name}")
        lines.extend(["", f"Total: {self.sum()}"])
        return "\n".join(lines)

    def __add__(self, other):
        return self._merge(other, lambda c: c)

    def __sub__(self, other):
        return self._merge(other, lambda c: -c)

    def __mul__(self, other):
        return self._from_dict({f: int(c * other) for c, f in self._data}, self.inclusive)

    def _merge(self, second, merge_fn):
        if not isinstance(second, FunctionCounts):
            return NotImplemented
        if second.inclusive != self.inclusive:
            raise ValueError("FunctionCounts: cannot combine inclusive and exclusive counts")
        counts = {}
        for c, f in self._data:
            counts[f] = counts.get(f, 0) + c
        for c, f in second._data:
            counts[f] = counts.get(f, 0) + merge_fn(c)
        return self._from_dict(counts, self.inclusive)

    def transform(self, map_fn):
        """The counts with every function name mapped by ``map_fn`` (equal names add up)."""
        counts = {}
        for c, f in self._data:
            name = map_fn(f)
            counts[name] = counts.get(name, 0) + c
        return self._from_dict(counts, self.inclusive)

    def filter(self, filter_fn):
        """The counts of the functions whose name ``filter_fn`` accepts."""
        return FunctionCounts(tuple(c for c in self._data if filter_fn(c.function)),
                              self.inclusive)

    def sum(self):
        return sum(c.count for c in self._data)

    def denoise(self):
        """Without CPython's dictionary lookups of names, whose counts jitter run to run."""
        return self.filter(lambda f: not any(noisy in f for noisy in _NOISY))

    @staticmethod
    def _from_dict(counts, inclusive):
        rows = sorted(((c, f) for f, c in counts.items() if c), reverse=True)
        return FunctionCounts(tuple(FunctionCount(c, f) for c, f in rows), inclusive)


@dataclasses.dataclass(repr=False, eq=False, frozen=True)
class CallgrindStats:
    """Instruction counts of a statement and of an empty baseline, as PyTorch's
    ``Timer.collect_callgrind`` returns them."""

    task_spec: object
    number_per_run: int
    built_with_debug_symbols: bool
    baseline_inclusive_stats: FunctionCounts
    baseline_exclusive_stats: FunctionCounts
    stmt_inclusive_stats: FunctionCounts
    stmt_exclusive_stats: FunctionCounts
    stmt_callgrind_out: str | None

    def __repr__(self):
        lines = [object.__repr__(self), self.task_spec.summarize(),
                 f"{'':>25}All{'':>10}Noisy symbols removed",
                 f"    Instructions: {self.counts():>12}{self.counts(denoise=True):>24}",
                 f"    Baseline:     {self.baseline_exclusive_stats.sum():>12}"
                 f"{self.baseline_exclusive_stats.denoise().sum():>24}",
                 f"{self.number_per_run} runs per measurement, {self.task_spec.num_threads} "
                 f"thread{'s' if self.task_spec.num_threads != 1 else ''}"]
        return "\n".join(lines)

    def stats(self, inclusive=False):
        """The statement's counts per function (``inclusive``: with those of callees)."""
        return self.stmt_inclusive_stats if inclusive else self.stmt_exclusive_stats

    def counts(self, *, denoise=False):
        """The statement's total instruction count."""
        stats = self.stmt_exclusive_stats
        return (stats.denoise() if denoise else stats).sum()

    def delta(self, other, inclusive=False):
        """This statement's counts less ``other``'s, per function."""
        return self.stats(inclusive=inclusive) - other.stats(inclusive=inclusive)

    def as_standardized(self):
        """The same counts with directory prefixes stripped from function names, so that
        profiles of builds in different places compare."""
        def strip(counts):
            return counts.transform(lambda name: re.sub(r"^[^:]*/", "", name))

        return CallgrindStats(
            self.task_spec, self.number_per_run, self.built_with_debug_symbols,
            strip(self.baseline_inclusive_stats), strip(self.baseline_exclusive_stats),
            strip(self.stmt_inclusive_stats), strip(self.stmt_exclusive_stats),
            self.stmt_callgrind_out)


class CopyIfCallgrind:
    """Marks a Timer global as one to copy into Callgrind's child process (PyTorch's); the
    Timer itself uses ``value``."""

    def __init__(self, value, *, setup=None):
        self._value = value
        self._setup = setup

    @property
    def value(self):
        return self._value

    @property
    def setup(self):
        return self._setup

    @staticmethod
    def unwrap_all(globals):
        return {k: v.value if isinstance(v, CopyIfCallgrind) else v for k, v in globals.items()}
