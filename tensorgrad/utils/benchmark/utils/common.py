"""What the timer, ``Compare`` and the fuzzer share, as PyTorch's
``torch.utils.benchmark.utils.common``: ``TaskSpec`` (what was timed), ``Measurement`` (the
times, their statistics and a readable repr), the unit helpers and ``set_torch_threads``.

A ``Measurement`` holds ``raw_times``, one per block of ``number_per_run`` runs; ``times`` are
per run. Its statistics (median, quartiles by linear interpolation, warnings) are computed on
first use and kept, as PyTorch's are.
"""

import contextlib
import dataclasses
import math
import textwrap

import numpy as np

__all__ = ["TaskSpec", "Measurement", "select_unit", "unit_to_english", "trim_sigfig",
           "ordered_unique", "set_torch_threads"]

_IQR_WARN_THRESHOLD = 0.1  # IQR / median above this: a warning
_IQR_GROSS_WARN_THRESHOLD = 0.25  # ... above this: the stronger one
_MAX_SIGNIFICANT_FIGURES = 4
_MIN_CONFIDENCE_INTERVAL = 25e-9  # seconds: finer than this a Python-level timer cannot tell
_Z_90 = 1.645  # two-sided 90% normal quantile
_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1}
_ENGLISH = {"ns": "nanosecond", "us": "microsecond", "ms": "millisecond", "s": "second"}


@dataclasses.dataclass(init=True, repr=False, eq=True, frozen=True)
class TaskSpec:
    """What a Timer timed (everything but its globals); hashable, so that ``Measurement.merge``
    and ``Compare`` can group replicates by it."""

    stmt: str
    setup: str
    global_setup: str = ""
    label: str | None = None
    sub_label: str | None = None
    description: str | None = None
    env: str | None = None
    num_threads: int = 1

    @property
    def title(self):
        """The label (with the sub_label), else the statement."""
        sub = f": {self.sub_label}" if self.sub_label else ""
        if self.label is not None:
            return f"{self.label}{sub}"
        if "\n" in self.stmt:
            head = f"stmt: ({self.sub_label})" if self.sub_label else "stmt:"
            return f"{head}\n{textwrap.indent(self.stmt, '  ')}"
        return f"{self.stmt}{sub}"

    def setup_str(self):
        """The setup as the repr shows it ("" for none)."""
        if self.setup in ("", "pass"):
            return ""
        if "\n" not in self.setup:
            return f"setup: {self.setup}"
        return f"setup:\n{textwrap.indent(self.setup, '  ')}"

    def summarize(self):
        """Title, description and setup, one per line; a block of several lines is followed
        by an empty line."""
        parts = (self.title, self.description or "", self.setup_str())
        return "\n".join(p + "\n" if "\n" in p else p for p in parts if p)


_TASK_FIELDS = frozenset(f.name for f in dataclasses.fields(TaskSpec))


def _relative(iqr, median):
    if median == 0:  # PyTorch divides by zero here
        return 0.0 if iqr == 0 else math.inf
    return iqr / median


@dataclasses.dataclass(init=True, repr=False)
class Measurement:
    """The result of a Timer: ``raw_times`` (seconds per block of ``number_per_run`` runs) of
    the task ``task_spec``. The TaskSpec's fields read through (``m.label``, ``m.stmt``, ...).
    """

    number_per_run: int
    raw_times: list[float]
    task_spec: TaskSpec
    metadata: dict | None = None

    def __post_init__(self):
        self._stats = None

    def __getattr__(self, name):
        if name in _TASK_FIELDS:  # forwarded to the TaskSpec (label, stmt, num_threads, ...)
            return getattr(self.task_spec, name)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    # ---- statistics ------------------------------------------------------------------------
    @property
    def times(self):
        """Seconds per run: each block's time over its number of runs."""
        return [t / self.number_per_run for t in self.raw_times]

    def _lazy_init(self):
        if self.__dict__.get("_stats") is not None:
            return self._stats
        times = np.sort(np.asarray(self.times, dtype=np.float64))
        if times.size == 0:
            raise ValueError("Measurement: no times to summarize (raw_times is empty)")
        p25, median, p75 = (float(v) for v in np.percentile(times, [25, 50, 75]))
        rel = _relative(p75 - p25, median)
        warnings = ()
        if rel >= _IQR_WARN_THRESHOLD:
            reason = ("This suggests significant environmental influence."
                      if rel >= _IQR_GROSS_WARN_THRESHOLD
                      else "This could indicate system fluctuation.")
            warnings = (f"  WARNING: Interquartile range is {rel * 100:.1f}% of the median "
                        f"measurement.\n           {reason}",)
        self._stats = {"sorted": times, "median": median, "mean": float(times.mean()),
                       "p25": p25, "p75": p75, "warnings": warnings}
        return self._stats

    def _rel_iqr(self):
        return _relative(self.iqr, self.median)

    @property
    def median(self):
        return self._lazy_init()["median"]

    @property
    def mean(self):
        return self._lazy_init()["mean"]

    @property
    def iqr(self):
        stats = self._lazy_init()
        return stats["p75"] - stats["p25"]

    @property
    def significant_figures(self):
        """How many figures of the median to trust (1 to 4): from the 90% confidence interval
        (z = 1.645) of the mean of the middle half of the sorted times, taken as at least 25 ns
        (PyTorch's figures, which this reproduces); ``Compare.trim_significant_figures`` rounds
        to it."""
        times = self._lazy_init()["sorted"]
        n = times.size
        middle = times[int(n * 0.25):math.ceil(n * 0.75)]
        mean = float(middle.mean())
        if mean <= 0:
            return 1
        ci = max(_Z_90 * float(middle.std()) / math.sqrt(middle.size), _MIN_CONFIDENCE_INTERVAL)
        figures = math.floor(-math.log10(ci / mean))
        return int(min(max(figures, 1), _MAX_SIGNIFICANT_FIGURES))

    @property
    def has_warnings(self):
        return bool(self._lazy_init()["warnings"])

    def meets_confidence(self, threshold=_IQR_WARN_THRESHOLD):
        """Whether the IQR is below ``threshold`` times the median."""
        return self._rel_iqr() < threshold

    # ---- what it was -----------------------------------------------------------------------
    @property
    def title(self):
        return self.task_spec.title

    @property
    def env(self):
        return self.task_spec.env

    @property
    def as_row_name(self):
        return self.sub_label or self.stmt or "[Unknown]"

    def __repr__(self):
        stats = self._lazy_init()
        unit, scale = _unit_of(self.median)
        n = len(self.raw_times)
        threads = f"{self.num_threads} thread{'s' if self.num_threads != 1 else ''}"
        lines = [object.__repr__(self), self.task_spec.summarize()]
        if n == 1:
            lines.append(f"  {self.median / scale:.2f} {unit}")
            lines.append(f"  1 measurement, {self.number_per_run} runs , {threads}")
        else:
            lines.append(f"  Median: {self.median / scale:.2f} {unit}")
            if n >= 4:
                lines.append(f"  IQR:    {self.iqr / scale:.2f} {unit} "
                             f"({stats['p25'] / scale:.2f} to {stats['p75'] / scale:.2f})")
            lines.append(f"  {n} measurements, {self.number_per_run} runs per measurement, "
                         f"{threads}")
        lines.extend(stats["warnings"])
        return "\n".join(lines)

    @staticmethod
    def merge(measurements):
        """One Measurement per TaskSpec (in order of first appearance) holding the per-run
        times of all replicates (``number_per_run=1``; metadata is dropped)."""
        grouped = {}
        for m in measurements:
            if not isinstance(m, Measurement):
                raise TypeError(f"Measurement.merge(): expected Measurements, got "
                                f"{type(m).__name__}")
            grouped.setdefault(m.task_spec, []).extend(m.times)
        return [Measurement(1, times, spec) for spec, times in grouped.items()]


def select_unit(t):
    """(unit, seconds per unit) that shows the time ``t`` (seconds) with O(1) magnitude."""
    if not (isinstance(t, (int, float, np.floating, np.integer)) and 0 < t < math.inf):
        raise ValueError(f"select_unit(): expects a positive, finite time in seconds, got {t!r}")
    unit = {-3: "ns", -2: "us", -1: "ms"}.get(math.floor(math.log10(t)) // 3, "s")
    return unit, _UNITS[unit]


def _unit_of(t):
    return select_unit(t) if 0 < t < math.inf else ("s", 1)


def unit_to_english(u):
    """"us" -> "microsecond"."""
    return _ENGLISH[u]


def trim_sigfig(x, n):
    """``x`` rounded to ``n`` significant figures (3.14159, 2 -> 3.1)."""
    if x == 0 or not math.isfinite(x):
        return float(x)
    exponent = math.ceil(math.log10(abs(x))) - n
    if exponent < 0:
        return round(x * 10 ** -exponent) / 10 ** -exponent
    return float(round(x / 10 ** exponent) * 10 ** exponent)


def ordered_unique(elements):
    """The distinct elements, in order of first appearance."""
    return list(dict.fromkeys(elements))


@contextlib.contextmanager
def set_torch_threads(n):
    """tensorgrad's thread count (``tg.set_num_threads``, NumPy's BLAS) is ``n`` inside the
    block and what it was after it."""
    import tensorgrad

    before = tensorgrad.get_num_threads()
    tensorgrad.set_num_threads(n)
    try:
        yield
    finally:
        tensorgrad.set_num_threads(before)
