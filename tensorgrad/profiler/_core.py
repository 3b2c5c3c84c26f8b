"""The measuring machinery: installed while a profiler records, absent otherwise.

Nothing here is on the hot path unless a profiler is recording:

- **forward**: a handler on ``ops.registry.INTERCEPT`` (chained with whatever handler is
  there, as tensorgrad.utils.checkpoint's are) times every primitive applied to Tensors. While
  INTERCEPT is set, the fast operator paths (``binary``, ``unary``) divert to ``apply``, so
  ``x + y`` and ``x @ w`` are seen too.
- **backward**: the first time a primitive is seen, its VJP rules are swapped for timing
  wrappers (``p.vjps``, read by the backward pass at each node); the originals come back when
  recording stops, exceptions or not. The backward loop itself has no check added.
- **optimizer steps**: ``step``/``zero_grad`` of every ``tg.optim.Optimizer`` subclass are
  wrapped for the same span and restored.

With ``ProfilerActivity.CUDA``, an op whose data is on a GPU (CuPy) is timed with the device
synchronized before and after, so its time includes the GPU's work; this serializes host and
GPU while profiling (the overlap a real run has is lost).
"""

import functools
import threading
import time

from ..autograd.rules import Missing, Rules
from ..backend.device import _CUPY_ARRAY, cupy
from ..tensor import Tensor
from ._events import EventList, FunctionEvent

_now = time.perf_counter_ns
_ident = threading.get_ident
_T0 = _now()  # timestamps are microseconds from here (precise; shared by every collector)

# The collector recording now (None: none). One at a time: INTERCEPT and the rules are global.
ACTIVE = [None]
# The profiler object that holds the machinery, from its start to its stop.
OWNER = [None]


def claim(owner):
    """Make ``owner`` the one profiler running; refuse a second (nested or concurrent)."""
    held = OWNER[0]
    if held is not None and held is not owner:
        raise RuntimeError(
            f"tensorgrad.profiler: a profiler is already running ({type(held).__name__} "
            "started and not stopped); nested or concurrent profilers are not supported, as in "
            "PyTorch. Stop the first one (leave its `with` block) before starting another, or "
            "mark regions inside one profiler with record_function(name)")
    OWNER[0] = owner


def release(owner):
    if OWNER[0] is owner:
        OWNER[0] = None


class _Raw:
    """An event while it is being collected (nanoseconds from perf_counter_ns)."""

    __slots__ = ("name", "kind", "start", "end", "child", "tid", "shapes", "gpu", "parent",
                 "args")

    def __init__(self, name, kind, shapes=None, gpu=False, args=None):
        self.name = name
        self.kind = kind
        self.shapes = shapes
        self.gpu = gpu
        self.args = args
        self.child = 0
        self.end = None
        self.parent = None


def _shape(a):
    s = getattr(a, "shape", None)  # an array or a Tensor (CuPy's .data is a pointer)
    return list(s) if s is not None else []


def _on_gpu(arrays):
    for a in arrays:
        if type(a.data if isinstance(a, Tensor) else a) is _CUPY_ARRAY:
            return True
    return False


def _sync():
    cupy.cuda.Device().synchronize()


class Collector:
    """Collects events from install() to uninstall(); ``events()`` turns them into
    FunctionEvents."""

    def __init__(self, record_shapes=False, cuda=False):
        self.record_shapes = bool(record_shapes)
        self.cuda = bool(cuda) and cupy is not None
        self.raw = []
        self.recording = False
        self._local = threading.local()
        self._swapped = {}  # primitive -> (original rules, wrapped rules) or None
        self._patched = []  # (class, attribute, original)
        self._intercept = None

    # ---- timing --------------------------------------------------------------------------
    def stack(self):
        try:
            return self._local.stack
        except AttributeError:
            s = self._local.stack = []
            return s

    def open(self, ev):
        stack = self.stack()
        ev.tid = _ident()
        if stack:
            ev.parent = stack[-1]
        stack.append(ev)
        ev.start = _now()

    def close(self, ev):
        ev.end = _now()
        stack = self.stack()
        if stack and stack[-1] is ev:
            stack.pop()
        elif ev in stack:  # a range closed out of order (record_function without `with`)
            stack.remove(ev)
        if ev.parent is not None:
            ev.parent.child += ev.end - ev.start
        if self.recording:
            self.raw.append(ev)

    def run(self, ev, fn, *args, **kw):
        self.open(ev)
        if ev.gpu:
            _sync()
            ev.start = _now()
        try:
            return fn(*args, **kw)
        finally:
            if ev.gpu:
                _sync()
            self.close(ev)

    # ---- installing the hooks ------------------------------------------------------------
    def install(self):
        from ..utils.checkpoint import _intercepting

        self._intercept = _intercepting(self._forward)
        self._intercept.__enter__()
        try:
            self._patch_optimizers()
        except BaseException:
            self._intercept.__exit__(None, None, None)
            raise
        self.recording = True
        ACTIVE[0] = self

    def uninstall(self):
        """Restore INTERCEPT, the VJP rules and the optimizers; safe to call twice."""
        self.recording = False
        if ACTIVE[0] is self:
            ACTIVE[0] = None
        try:
            if self._intercept is not None:
                cm, self._intercept = self._intercept, None
                cm.__exit__(None, None, None)
        finally:
            for p, pair in self._swapped.items():
                if pair is not None and p.vjps is pair[1]:
                    p.vjps = pair[0]  # (rules redeclared while profiling are left as they are)
            self._swapped.clear()
            for cls, attr, orig in reversed(self._patched):
                setattr(cls, attr, orig)
            self._patched.clear()

    def _forward(self, run, p, args, raw, kw):
        if not self.recording:  # left installed under another handler: pass through
            return run(p, args, raw, kw)
        if p not in self._swapped:
            self._swap(p)
        ev = _Raw("tensorgrad::" + p.name, "op",
                  [_shape(a) for a in raw] if self.record_shapes else None,
                  self.cuda and _on_gpu(raw))
        return self.run(ev, run, p, args, raw, kw)

    def _swap(self, p):
        rules = p.vjps
        name = p.name + "Backward"
        if isinstance(rules, Rules):
            given = tuple(self._timed_rule(r, name, i) for i, r in enumerate(rules.given))
            new = Rules(given, lambda i, old=rules: self._timed_rule(old[i], name, i))
        elif isinstance(rules, (tuple, list)):
            new = type(rules)(self._timed_rule(r, name, i) for i, r in enumerate(rules))
        else:
            self._swapped[p] = None
            return
        self._swapped[p] = (rules, new)
        p.vjps = new

    def _timed_rule(self, rule, name, argnum):
        if rule is None or type(rule) is Missing:
            return rule

        def timed(g, ans, *args, **kw):
            if not self.recording:
                return rule(g, ans, *args, **kw)
            ev = _Raw(name, "backward",
                      [_shape(g)] + [_shape(a) for a in args] if self.record_shapes else None,
                      self.cuda and _on_gpu((g,)), {"argument": argnum})
            return self.run(ev, rule, g, ans, *args, **kw)

        try:  # keep the rule's attributes (derived_from_jvp, ...) visible on the wrapper
            functools.update_wrapper(timed, rule)
        except (AttributeError, TypeError):
            pass
        return timed

    def _patch_optimizers(self):
        from ..optim.optimizer import Optimizer

        seen = set()
        todo = [Optimizer]
        while todo:
            cls = todo.pop()
            if cls in seen:
                continue
            seen.add(cls)
            todo.extend(cls.__subclasses__())
            for attr in ("step", "zero_grad"):
                orig = cls.__dict__.get(attr)
                if orig is not None and callable(orig):
                    setattr(cls, attr, self._timed_method(orig, attr))
                    self._patched.append((cls, attr, orig))

    def _timed_method(self, fn, attr):
        local = self._local

        @functools.wraps(fn)
        def timed(opt, *args, **kw):
            # a subclass's step calling super().step() is one event, the outer one
            if not self.recording or getattr(local, "in_optimizer", False):
                return fn(opt, *args, **kw)
            cls = type(opt).__name__
            ev = _Raw(f"Optimizer.{attr}#{cls}.{attr}", "optimizer")
            local.in_optimizer = True
            try:
                return self.run(ev, fn, opt, *args, **kw)
            finally:
                local.in_optimizer = False

        return timed

    # ---- results -------------------------------------------------------------------------
    def events(self, first_id=0):
        """The finished events as FunctionEvents (microseconds), parents linked."""
        out = []
        made = {}
        for k, ev in enumerate(sorted(self.raw, key=lambda e: (e.start, -(e.end - e.start)))):
            fe = FunctionEvent(
                first_id + k, ev.name, ev.kind, ev.tid, (ev.start - _T0) / 1000.0,
                (ev.end - ev.start) / 1000.0, (ev.end - ev.start - ev.child) / 1000.0,
                ev.shapes, "cuda" if ev.gpu else "cpu", ev.args)
            made[id(ev)] = fe
            out.append(fe)
        for ev in self.raw:
            if ev.parent is not None:
                parent = made.get(id(ev.parent))
                if parent is not None:
                    child = made[id(ev)]
                    child.cpu_parent = parent
                    parent.cpu_children.append(child)
        return EventList(out)


class record_function:
    """Mark a region: its time and calls show up under ``name`` in the profiler's results
    (total time includes the ops and regions inside it; self time excludes them). Costs one
    test when no profiler is recording. Use as ``with record_function("block"):`` or as a
    decorator.

    >>> import tensorgrad as tg
    >>> from tensorgrad.profiler import profile, record_function
    >>> with profile() as prof:
    ...     with record_function("my_block"):
    ...         y = tg.ones(3) * 2
    >>> [e.count for e in prof.key_averages() if e.key == "my_block"]
    [1]
    """

    def __init__(self, name, args=None):
        self.name = str(name)
        self.args = args
        self._ev = None
        self._collector = None

    def __enter__(self):
        c = ACTIVE[0]
        if c is not None:
            ev = _Raw(self.name, "user_annotation",
                      args=None if self.args is None else {"args": str(self.args)})
            self._ev, self._collector = ev, c
            c.open(ev)
        return self

    def __exit__(self, *exc):
        ev, c = self._ev, self._collector
        if ev is not None:
            self._ev = self._collector = None
            c.close(ev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapped(*args, **kw):
            with record_function(self.name, self.args):
                return fn(*args, **kw)

        return wrapped
