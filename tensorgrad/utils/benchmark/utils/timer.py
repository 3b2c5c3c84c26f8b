"""``Timer``: PyTorch's ``torch.utils.benchmark.Timer`` for tensorgrad code.

Built on ``timeit.Timer`` (as PyTorch's is): ``stmt`` and ``setup`` are strings of Python code,
compiled once, run in a copy of ``globals`` to which ``tensorgrad`` and ``tg`` are added (as
PyTorch adds ``torch``). Each call of ``timeit.Timer.timeit`` runs ``setup`` once and then
``stmt`` ``number`` times, so ``blocked_autorange`` runs the setup once per block, as PyTorch's
does. Every method holds tensorgrad's thread count (``tg.set_num_threads``) at ``num_threads``
while it runs and restores it afterwards.

The default clock, ``timer``, waits for tensorgrad's queued CUDA work before reading
``time.perf_counter`` where a GPU is available, as PyTorch's waits for the accelerator.

>>> from tensorgrad.utils.benchmark import Timer
>>> m = Timer("x * 2", setup="x = tg.ones(8)").timeit(100)
>>> m.number_per_run, len(m.times)
(100, 1)
"""

import enum
import textwrap
import time
import timeit as _timeit
from collections.abc import Mapping
from numbers import Integral, Real

import numpy as np

from .... import cuda as _cuda
from .common import Measurement, TaskSpec, set_torch_threads
from .valgrind_wrapper.timer_interface import CopyIfCallgrind, _callgrind_unsupported

__all__ = ["Timer", "timer", "Language"]


class Language(enum.Enum):
    PYTHON = 0
    CPP = 1


def timer():
    """``time.perf_counter()``, read after tensorgrad's CUDA work has finished where a GPU is
    available (CuPy launches return before the GPU is done)."""
    if _cuda.is_available():
        _cuda.synchronize()
    return time.perf_counter()


def _language(language):
    if isinstance(language, Language):
        return language
    if isinstance(language, str) and language in ("py", "python"):
        return Language.PYTHON
    if isinstance(language, str) and language in ("c++", "cpp"):
        return Language.CPP
    raise ValueError(f"Timer(): invalid language `{language}` (expected 'py', 'python', 'c++', "
                     f"'cpp' or a Language)")


def _positive_int(what, value):
    if not isinstance(value, Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{what} must be a positive int, got {value!r}")
    return int(value)


def _positive_time(what, value):
    if not isinstance(value, Real) or isinstance(value, bool) or not 0 < value < float("inf"):
        raise ValueError(f"{what} must be a positive number of seconds, got {value!r}")
    return float(value)


class Timer:
    """Times a statement of tensorgrad code (PyTorch's ``torch.utils.benchmark.Timer``).

    ``stmt``/``setup``: Python code as strings (dedented, stripped). ``globals``: the names the
    code sees (copied). ``label``, ``sub_label``, ``description``, ``env``: metadata that
    ``Measurement``'s repr and ``Compare`` show and group by. ``num_threads``: tensorgrad's
    thread count while timing (1 by default, as PyTorch's). ``language``: Python only.
    """

    _timer_cls = _timeit.Timer

    def __init__(self, stmt="pass", setup="pass", global_setup="", timer=timer, globals=None,
                 label=None, sub_label=None, description=None, env=None, num_threads=1,
                 language=Language.PYTHON):
        if not isinstance(stmt, str):
            raise ValueError(f"Timer(): stmt must be a str of Python code (callables are not "
                             f"supported, as in PyTorch), got {type(stmt).__name__}")
        if not isinstance(setup, str):
            raise TypeError(f"Timer(): setup must be a str of Python code, got "
                            f"{type(setup).__name__}")
        if not isinstance(global_setup, str):
            raise TypeError(f"Timer(): global_setup must be a str, got "
                            f"{type(global_setup).__name__}")
        if _language(language) is Language.CPP:
            raise NotImplementedError("Timer(language='c++'): tensorgrad has no C++ frontend; "
                                      "it times Python statements only")
        if global_setup:
            raise ValueError(f"Timer(): global_setup is C++ only, got `{global_setup}`. Most "
                             f"likely this code can simply be moved to `setup`.")
        if not callable(timer):
            raise TypeError(f"Timer(): timer must be a callable returning seconds, got "
                            f"{type(timer).__name__}")
        if globals is not None and not isinstance(globals, Mapping):
            raise TypeError(f"Timer(): globals must be a dict, got {type(globals).__name__}")
        num_threads = _positive_int("Timer(): num_threads", num_threads)

        import tensorgrad

        stmt, setup = textwrap.dedent(stmt).strip(), textwrap.dedent(setup).strip()
        self._globals = {"tensorgrad": tensorgrad, "tg": tensorgrad, **(globals or {})}
        self._language = Language.PYTHON
        self._timer = self._timer_cls(stmt=stmt, setup=setup or "pass", timer=timer,
                                      globals=CopyIfCallgrind.unwrap_all(self._globals))
        self._task_spec = TaskSpec(stmt=stmt, setup=setup, global_setup=global_setup,
                                   label=label, sub_label=sub_label, description=description,
                                   env=env, num_threads=num_threads)

    def _timeit(self, number):
        return max(self._timer.timeit(number), 0.0)

    def timeit(self, number=1000000):
        """``stmt`` ``number`` times in one block, after a warm-up of ``max(number // 100, 2)``
        runs (as PyTorch's): a Measurement of one block."""
        number = _positive_int("Timer.timeit(): number", number)
        with set_torch_threads(self._task_spec.num_threads):
            self._timeit(max(number // 100, 2))
            return Measurement(number_per_run=number, raw_times=[self._timeit(number)],
                               task_spec=self._task_spec)

    def repeat(self, repeat=-1, number=-1):
        raise NotImplementedError("See `Timer.blocked_autorange.`")

    def autorange(self, callback=None):
        raise NotImplementedError("See `Timer.blocked_autorange.`")

    def _estimate_block_size(self, min_run_time):
        """The smallest power of ten of runs whose block takes at least ``min_run_time / 1000``
        and at least 10,000 times the timer's own overhead (the median of five empty blocks),
        or more than ``min_run_time``: PyTorch's rule, measured on its Timer with a fake clock
        (its docstring says 0.1% overhead; the code keeps it to 0.01%)."""
        overhead = float(np.median([self._timeit(0) for _ in range(5)]))
        number = 1
        while True:
            t = self._timeit(number)
            if (t >= min_run_time / 1000 and overhead <= t * 1e-4) or t > min_run_time:
                return number
            if t <= 0 and number >= 10 ** 6:
                raise RuntimeError(f"Timer: the clock did not advance over {number} runs of "
                                   f"the statement; `timer` must return seconds")
            number *= 10

    def blocked_autorange(self, callback=None, min_run_time=0.2):
        """Blocks of ``number_per_run`` runs (sized by ``_estimate_block_size``) until they
        total ``min_run_time`` seconds; ``callback(number, seconds)`` after each block."""
        min_run_time = _positive_time("Timer.blocked_autorange(): min_run_time", min_run_time)
        with set_torch_threads(self._task_spec.num_threads):
            return self._blocks(self._estimate_block_size(min_run_time), min_run_time, callback)

    def _blocks(self, number, limit, callback, done=None):
        """Timed blocks of ``number`` runs until they total ``limit`` seconds, or until
        ``done(times, total)`` says enough; ``callback(number, seconds)`` after each."""
        times, total = [], 0.0
        while total < limit:
            t = self._timeit(number)
            times.append(t)
            total += t
            if callback is not None:
                callback(number, t)
            if done is not None and done(times, total):
                break
        return Measurement(number_per_run=number, raw_times=times, task_spec=self._task_spec)

    def adaptive_autorange(self, threshold=0.1, *, min_run_time=0.01, max_run_time=10.0,
                           callback=None):
        """As ``blocked_autorange``, but stops once there are more than three blocks, they
        total at least ``min_run_time`` and the IQR is below ``threshold`` times the median;
        or once they total ``max_run_time``. Blocks are sized as for ``blocked_autorange`` with
        a ``min_run_time`` of 0.05 s."""
        min_run_time = _positive_time("Timer.adaptive_autorange(): min_run_time", min_run_time)
        max_run_time = _positive_time("Timer.adaptive_autorange(): max_run_time", max_run_time)
        with set_torch_threads(self._task_spec.num_threads):
            number = self._estimate_block_size(min_run_time=0.05)
            return self._blocks(number, max_run_time, callback, lambda times, total: (
                len(times) > 3 and total >= min_run_time and Measurement(
                    number, times, self._task_spec).meets_confidence(threshold)))

    def collect_callgrind(self, number=100, *, repeats=None, collect_baseline=True,
                          retain_out_file=False):
        """Not supported: raises an OSError (also a NotImplementedError) saying so."""
        raise _callgrind_unsupported()
