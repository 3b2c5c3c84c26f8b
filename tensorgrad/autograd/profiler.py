"""PyTorch's older ``torch.autograd.profiler``: ``profile()`` as a context manager,
``record_function``; the machinery is tensorgrad.profiler's.

>>> import tensorgrad as tg
>>> x = tg.ones(3, requires_grad=True)
>>> with tg.autograd.profiler.profile(record_shapes=True) as prof:
...     (x.exp() * 2).sum().backward()
>>> [e.count for e in prof.key_averages() if e.key == "tensorgrad::exp"]
[1]
"""

import contextlib

from ..profiler import _core
from ..profiler._events import EventList, FunctionEvent, FunctionEventAvg
from ..profiler.profiler import _Profiler

record_function = _core.record_function


class profile(_Profiler):
    """``with tg.autograd.profiler.profile() as prof: ...``, then ``prof.key_averages()``,
    ``prof.table()``, ``prof.function_events``, ``prof.export_chrome_trace(path)``.
    ``use_cuda``/``use_device="cuda"``: ops on GPU data are timed with the device
    synchronized (see tensorgrad.profiler). ``enabled=False`` records nothing. A profiler
    inside another raises RuntimeError, as in PyTorch."""

    def __init__(self, enabled=True, *, use_cuda=False, use_device=None, record_shapes=False,
                 with_flops=False, profile_memory=False, with_stack=False, with_modules=False,
                 use_kineto=False, use_cpu=True, experimental_config=None, acc_events=False,
                 custom_trace_id_callback=None):
        cuda = bool(use_cuda) or (use_device is not None and str(use_device).startswith("cuda"))
        super().__init__(record_shapes, cuda, acc_events)
        self.enabled = enabled
        self._entered = False

    def __enter__(self):
        if not self.enabled:
            return self
        if self._entered:
            raise RuntimeError("autograd.profiler.profile: this profiler was already entered; "
                               "make a new one for each block")
        self._claim_and_start()
        self._entered = True
        return self

    def __exit__(self, *exc):
        if not self.enabled:
            return False
        try:
            self._stop_trace()
        finally:
            _core.release(self)
        return False

    @property
    def function_events(self):
        return self._results("function_events")

    @property
    def self_cpu_time_total(self):
        return self._results("self_cpu_time_total").self_cpu_time_total

    def total_average(self):
        return self._results("total_average").total_average()

    def table(self, sort_by=None, row_limit=100, max_src_column_width=75,
              max_name_column_width=55, max_shapes_column_width=80, header=None,
              top_level_events_only=False):
        return self._results("table").table(
            sort_by=sort_by, row_limit=row_limit, max_name_column_width=max_name_column_width,
            max_shapes_column_width=max_shapes_column_width, header=header,
            top_level_events_only=top_level_events_only)

    def __str__(self):
        return self.table() if self._events is not None else "<unfinished profile>"


@contextlib.contextmanager
def emit_nvtx(enabled=True, record_shapes=False):
    """Accepted for PyTorch scripts; tensorgrad emits no NVTX ranges (a no-op)."""
    yield


__all__ = ["profile", "record_function", "emit_nvtx", "EventList", "FunctionEvent",
           "FunctionEventAvg"]
