"""PyTorch's ``torch.profiler`` for tensorgrad: what a training step spends its time on.

>>> import tensorgrad as tg
>>> from tensorgrad.profiler import profile, record_function, ProfilerActivity
>>> w = tg.ones(3, 2, requires_grad=True)
>>> with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
...     with record_function("step"):
...         loss = (tg.ones(4, 3) @ w).relu().sum()
...         loss.backward()
>>> {e.key: e.count for e in prof.key_averages()}["tensorgrad::matmul"]
1
>>> table = prof.key_averages().table(sort_by="cpu_time_total", row_limit=10)

Every primitive applied to Tensors is one ``tensorgrad::<name>`` event, every backward rule
call one ``<name>Backward`` event, each ``record_function`` range and optimizer step one more
(``Optimizer.step#SGD.step``). Self time excludes the events inside; total time includes them.
The machinery is installed only while a profiler records: otherwise it costs nothing.
``tg.autograd.profiler`` is PyTorch's older interface to the same machinery.
"""

from ._core import record_function
from ._events import EventList, FunctionEvent, FunctionEventAvg
from .profiler import (
    ProfilerAction,
    ProfilerActivity,
    _KinetoProfile,
    kineto_available,
    profile,
    schedule,
    supported_activities,
    tensorboard_trace_handler,
)

__all__ = ["profile", "record_function", "schedule", "ProfilerActivity", "ProfilerAction",
           "tensorboard_trace_handler", "supported_activities", "kineto_available",
           "EventList", "FunctionEvent", "FunctionEventAvg", "_KinetoProfile"]
