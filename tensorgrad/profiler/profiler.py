"""``tg.profiler.profile`` (torch.profiler's) and its schedule; the measuring is in _core."""

import enum
import os
import warnings

from . import _core
from ._events import EventList, write_chrome_trace


class ProfilerActivity(enum.Enum):
    """What to profile. CPU: the host time of every primitive, backward rule, range and
    optimizer step. CUDA: in addition, ops on GPU (CuPy) data are timed with the device
    synchronized before and after, so their time includes the GPU's work (this serializes
    host and GPU while profiling); their times also show as "CUDA" columns."""

    CPU = 0
    CUDA = 1
    XPU = 2
    MTIA = 3
    HPU = 4
    PrivateUse1 = 5


def supported_activities():
    """The activities this machine can profile: CPU, and CUDA where a GPU is available."""
    from ..backend.device import cuda_available

    out = {ProfilerActivity.CPU}
    if cuda_available():
        out.add(ProfilerActivity.CUDA)
    return out


def kineto_available():
    return False


class ProfilerAction(enum.Enum):
    """What a scheduled profiler does in a step (PyTorch's values)."""

    NONE = 0
    WARMUP = 1
    RECORD = 2
    RECORD_AND_SAVE = 3


def schedule(*, wait, warmup, active, repeat=0, skip_first=0, skip_first_wait=0):
    """PyTorch's schedule: skip ``skip_first`` steps, then cycles of ``wait`` idle steps,
    ``warmup`` steps, ``active`` recorded steps (the last RECORD_AND_SAVE, where
    ``on_trace_ready`` is called), ``repeat`` times (0: forever). ``skip_first_wait``: the
    first cycle starts without its wait.

    >>> from tensorgrad.profiler import schedule
    >>> s = schedule(wait=1, warmup=1, active=2, repeat=1)
    >>> [s(k).name for k in range(5)]
    ['NONE', 'WARMUP', 'RECORD', 'RECORD_AND_SAVE', 'NONE']
    """
    for name, n in (("wait", wait), ("warmup", warmup), ("active", active),
                    ("repeat", repeat), ("skip_first", skip_first)):
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"schedule: {name} must be an int, got {type(n).__name__} {n!r}")
    if wait < 0 or warmup < 0 or active <= 0 or repeat < 0 or skip_first < 0:
        raise ValueError(
            f"schedule: need wait >= 0, warmup >= 0, active > 0, repeat >= 0, skip_first >= 0; "
            f"got wait={wait}, warmup={warmup}, active={active}, repeat={repeat}, "
            f"skip_first={skip_first}")
    if warmup == 0:
        warnings.warn("profiler schedule without warmup steps: the first recorded step may "
                      "include one-time costs", stacklevel=2)
    cycle = wait + warmup + active

    def action(step):
        if step < 0:
            raise ValueError(f"schedule: step must be >= 0, got {step}")
        if step < skip_first:
            return ProfilerAction.NONE
        k = step - skip_first + (wait if skip_first_wait else 0)
        if repeat and k >= repeat * cycle:
            return ProfilerAction.NONE
        phase = k % cycle
        if phase < wait:
            return ProfilerAction.NONE
        if phase < wait + warmup:
            return ProfilerAction.WARMUP
        return ProfilerAction.RECORD_AND_SAVE if phase == cycle - 1 else ProfilerAction.RECORD

    return action


def _always_record(step):
    return ProfilerAction.RECORD


def tensorboard_trace_handler(dir_name, worker_name=None, use_gzip=False,
                              use_python_export=False):
    """An ``on_trace_ready`` that writes each finished cycle to
    ``dir_name/<worker_name>.<time in ns>.pt.trace.json`` (``.gz`` with ``use_gzip``);
    ``worker_name`` defaults to ``<hostname>_<pid>``."""
    import socket
    import time

    def handler(prof):
        try:
            os.makedirs(dir_name, exist_ok=True)
        except OSError as e:
            raise RuntimeError(f"tensorboard_trace_handler: cannot create directory "
                               f"{dir_name!r}: {e}") from e
        worker = worker_name or f"{socket.gethostname()}_{os.getpid()}"
        name = f"{worker}.{time.time_ns()}.pt.trace.json" + (".gz" if use_gzip else "")
        prof.export_chrome_trace(os.path.join(dir_name, name))

    return handler


class _Profiler:
    """What both profilers share: a collector per recorded span, and the results of the
    last one (all of them with ``acc_events``)."""

    def __init__(self, record_shapes=False, cuda=False, acc_events=False):
        self.record_shapes = record_shapes
        self._cuda = cuda
        self._acc = acc_events
        self._collector = None
        self._events = None
        self._metadata = {}

    def _prepare_trace(self):
        self._collector = _core.Collector(self.record_shapes, self._cuda)

    def _start_trace(self):
        if self._collector is None:
            self._prepare_trace()
        self._collector.install()

    def _claim_and_start(self):
        """Become the one running profiler and install a fresh collector; on failure nothing
        is left claimed or installed."""
        _core.claim(self)
        try:
            self._prepare_trace()
            self._start_trace()
        except BaseException:
            self._collector = None
            _core.release(self)
            raise

    def _stop_trace(self):
        c, self._collector = self._collector, None
        if c is None:
            return
        c.uninstall()
        if self._acc and self._events is not None:
            self._events.extend(c.events(first_id=len(self._events)))
        else:
            self._events = c.events()

    def _results(self, what):
        if self._events is None:
            raise RuntimeError(f"{what}: the profiler has no results yet; call it after the "
                               "profiled block (or from on_trace_ready)")
        return self._events

    def events(self):
        """The recorded events (an :class:`EventList` of FunctionEvents)."""
        return self._results("events")

    def key_averages(self, group_by_input_shape=False, group_by_stack_n=0,
                     group_by_overload_name=False):
        """The events averaged per name (and per input shapes with
        ``group_by_input_shape``; shapes are recorded with ``record_shapes=True``)."""
        return self._results("key_averages").key_averages(group_by_input_shape)

    def export_chrome_trace(self, path):
        """Write the recorded events as Chrome trace JSON (open in chrome://tracing or
        Perfetto; TensorBoard's profiler plugin reads ``*.pt.trace.json``)."""
        write_chrome_trace(self._results("export_chrome_trace"), path,
                           {"metadata": self._metadata} if self._metadata else None)

    def add_metadata(self, key, value):
        self._metadata[str(key)] = str(value)

    def add_metadata_json(self, key, value):
        self._metadata[str(key)] = value

    def export_stacks(self, path, metric="self_cpu_time_total"):
        raise NotImplementedError("export_stacks: tensorgrad's profiler records no stacks "
                                  "(with_stack is accepted and ignored)")


_CHECKED = {ProfilerActivity.CPU, ProfilerActivity.CUDA}

# transitions between the actions of two steps (None: the profiler stops): what to do, in
# order; as PyTorch's profiler, including its warnings for schedules that skip a phase
_TRANSITIONS = {
    ("NONE", "WARMUP"): ("prepare",),
    ("NONE", "RECORD"): ("prepare", "start"),
    ("NONE", "RECORD_AND_SAVE"): ("prepare", "start"),
    ("WARMUP", "NONE"): ("warn", "start", "stop"),
    ("WARMUP", "RECORD"): ("start",),
    ("WARMUP", "RECORD_AND_SAVE"): ("start",),
    ("WARMUP", None): ("start", "stop"),
    ("RECORD", "NONE"): ("warn", "stop"),
    ("RECORD", "WARMUP"): ("warn", "stop"),
    ("RECORD", None): ("stop", "ready"),
    ("RECORD_AND_SAVE", "NONE"): ("stop", "ready"),
    ("RECORD_AND_SAVE", "WARMUP"): ("stop", "ready", "prepare"),
    ("RECORD_AND_SAVE", "RECORD"): ("stop", "ready", "prepare", "start"),
    ("RECORD_AND_SAVE", "RECORD_AND_SAVE"): ("stop", "ready", "prepare", "start"),
    ("RECORD_AND_SAVE", None): ("stop", "ready"),
}


class profile(_Profiler):
    """PyTorch's ``torch.profiler.profile``: times every primitive applied to Tensors
    (``tensorgrad::<name>``), every backward rule (``<name>Backward``, one event per rule
    call, i.e. per input that needs a gradient), ``record_function`` ranges and optimizer
    steps, on the host clock. With ``schedule``, ``prof.step()`` moves through PyTorch's
    NONE/WARMUP/RECORD/RECORD_AND_SAVE phases, ``on_trace_ready(prof)`` is called at the end
    of each active cycle, and each step is a ``ProfilerStep#<n>`` range.

    Only one profiler runs at a time (a nested or concurrent one raises RuntimeError). While
    none records, tensorgrad pays nothing for this module. Accepted and ignored:
    ``profile_memory``, ``with_stack``, ``with_flops``, ``with_modules``.

    >>> import tensorgrad as tg
    >>> from tensorgrad.profiler import profile, ProfilerActivity
    >>> x = tg.ones(2, 3, requires_grad=True)
    >>> with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
    ...     (x * 2).sum().backward()
    >>> sorted(e.key for e in prof.key_averages())
    ['multiplyBackward', 'sumBackward', 'tensorgrad::multiply', 'tensorgrad::sum']
    """

    def __init__(self, *, activities=None, schedule=None, on_trace_ready=None,
                 record_shapes=False, profile_memory=False, with_stack=False, with_flops=False,
                 with_modules=False, experimental_config=None, execution_trace_observer=None,
                 acc_events=False, use_cuda=None, custom_trace_id_callback=None):
        if isinstance(activities, ProfilerActivity) or (
                activities is not None and not hasattr(activities, "__iter__")):
            raise TypeError(f"profile: activities must be a list of ProfilerActivity values "
                            f"(e.g. [ProfilerActivity.CPU]), got {activities!r}")
        acts = set(supported_activities() if activities is None else activities)
        for a in acts:
            if not isinstance(a, ProfilerActivity):
                raise TypeError(f"profile: activities must be ProfilerActivity values, got "
                                f"{a!r}")
        if use_cuda:
            acts.add(ProfilerActivity.CUDA)
        if acts - _CHECKED:
            warnings.warn(f"profile: activities {sorted(a.name for a in acts - _CHECKED)} are "
                          "not profiled by tensorgrad (only CPU and CUDA)", stacklevel=2)
        if schedule is not None and not callable(schedule):
            raise TypeError(f"profile: schedule must be a function step -> ProfilerAction "
                            f"(tg.profiler.schedule(...)), got {schedule!r}")
        super().__init__(record_shapes, ProfilerActivity.CUDA in acts, acc_events)
        self.activities = acts
        self.schedule = schedule if schedule is not None else _always_record
        self.record_steps = schedule is not None
        self.on_trace_ready = on_trace_ready
        self.step_num = 0
        self.current_action = self._action(0)
        self._running = False
        self._step_range = None

    def _action(self, step):
        a = self.schedule(step)
        if not isinstance(a, ProfilerAction):
            raise TypeError(f"profile: the schedule returned {a!r} for step {step}; it must "
                            "return a ProfilerAction")
        return a

    def _transit(self, prev, cur):
        for what in _TRANSITIONS.get((prev.name, None if cur is None else cur.name), ()):
            if what == "prepare":
                self._prepare_trace()
            elif what == "start":
                self._start_trace()
            elif what == "stop":
                self._stop_trace()
            elif what == "ready":
                if self.on_trace_ready is not None:
                    self.on_trace_ready(self)
            else:
                warnings.warn(f"profiler: incorrect schedule, {prev.name} followed by "
                              f"{cur.name}", stacklevel=3)

    def _open_step(self):
        if self.record_steps:
            self._step_range = _core.record_function(f"ProfilerStep#{self.step_num}")
            self._step_range.__enter__()

    def _close_step(self):
        r, self._step_range = self._step_range, None
        if r is not None:
            r.__exit__(None, None, None)

    def start(self):
        """Start profiling (what entering the ``with`` block does)."""
        if self._running:
            return
        _core.claim(self)
        self._running = True
        try:
            self._transit(ProfilerAction.NONE, self.current_action)
            self._open_step()
        except BaseException:
            self._abort()
            raise

    def stop(self):
        """Stop profiling: hooks removed, the last span's results kept, ``on_trace_ready``
        called if a recording span was open (what leaving the ``with`` block does)."""
        if not self._running:
            return
        try:
            self._close_step()
            self._transit(self.current_action, None)
        finally:
            self._abort()

    def _abort(self):
        c = self._collector
        if c is not None and c.recording:
            self._stop_trace()
        self._collector = None
        self._running = False
        _core.release(self)

    def step(self):
        """Tell the profiler a new step begins (moves the schedule on)."""
        if not self._running:
            raise RuntimeError("profile.step: the profiler is not running; call it inside the "
                               "`with profile(...)` block or after prof.start()")
        self._close_step()
        prev = self.current_action
        nxt = self._action(self.step_num + 1)
        self.step_num += 1
        self.current_action = nxt
        try:
            self._transit(prev, nxt)
        except BaseException:
            self._abort()
            raise
        self._open_step()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


class _KinetoProfile(_Profiler):
    """A profiler without a schedule: records from ``start()`` to ``stop()``."""

    def __init__(self, *, activities=None, record_shapes=False, **ignored):
        acts = set(supported_activities() if activities is None else activities)
        super().__init__(record_shapes, ProfilerActivity.CUDA in acts)
        self.activities = acts

    def start(self):
        self._claim_and_start()

    def stop(self):
        try:
            self._stop_trace()
        finally:
            _core.release(self)


__all__ = ["profile", "schedule", "ProfilerActivity", "ProfilerAction",
           "tensorboard_trace_handler", "supported_activities", "kineto_available",
           "EventList"]
