"""``tensorgrad.utils.benchmark``: PyTorch's ``torch.utils.benchmark`` for tensorgrad code.

``Timer`` times a statement (``timeit``, ``blocked_autorange``, ``adaptive_autorange``) and
returns a ``Measurement`` (median, IQR, a readable repr); ``Compare`` lays many measurements
out as tables; ``Fuzzer`` draws random inputs. The modules sit at PyTorch's paths
(``tensorgrad.utils.benchmark.utils.common``, ...). Instruction counts
(``Timer.collect_callgrind``) are not supported.

>>> from tensorgrad.utils.benchmark import Timer
>>> m = Timer("x @ x", setup="x = tg.ones(16, 16)", label="matmul").blocked_autorange(
...     min_run_time=0.01)
>>> m.label, m.median > 0
('matmul', True)
"""

from numbers import Number

from . import utils
from .utils.common import (
    Measurement,
    TaskSpec,
    ordered_unique,
    select_unit,
    set_torch_threads,
    trim_sigfig,
    unit_to_english,
)
from .utils.compare import Colorize, Compare
from .utils.fuzzer import FuzzedParameter, FuzzedTensor, Fuzzer, ParameterAlias
from .utils.timer import Language, Timer, timer
from .utils.valgrind_wrapper.timer_interface import (
    CallgrindStats,
    CopyIfCallgrind,
    FunctionCount,
    FunctionCounts,
)

__all__ = ["CallgrindStats", "Colorize", "Compare", "CopyIfCallgrind", "FunctionCount",
           "FunctionCounts", "FuzzedParameter", "FuzzedTensor", "Fuzzer", "Language",
           "Measurement", "Number", "ParameterAlias", "TaskSpec", "Timer", "ordered_unique",
           "select_unit", "set_torch_threads", "timer", "trim_sigfig", "unit_to_english"]
