"""What a profiler hands back: events, their averages, the table and the Chrome trace.

Times are kept in nanoseconds while collecting and shown in microseconds, as PyTorch's
``FunctionEvent`` does (``cpu_time_total``, ``self_cpu_time_total`` are microseconds).
"""

import json
import os


class Interval:
    """``start`` and ``end`` in microseconds (PyTorch's ``time_range``)."""

    __slots__ = ("start", "end")

    def __init__(self, start, end):
        self.start, self.end = start, end

    def elapsed_us(self):
        return self.end - self.start

    def __repr__(self):
        return f"Interval(start={self.start:.3f}, end={self.end:.3f})"


class FunctionEvent:
    """One timed region: a primitive's forward (``tensorgrad::<name>``), one backward rule
    (``<name>Backward``), a ``record_function`` range, an optimizer step."""

    count = 1

    def __init__(self, id, name, kind, thread, start_us, total_us, self_us, input_shapes,
                 device_type, args):
        self.id = id
        self.name = name
        self.key = name
        self.kind = kind  # "op", "backward", "user_annotation", "optimizer"
        self.thread = thread
        self.time_range = Interval(start_us, start_us + total_us)
        self.cpu_time_total = total_us
        self.self_cpu_time_total = self_us
        self.input_shapes = input_shapes
        self.device_type = device_type  # "cpu", or "cuda" where the data was on a GPU
        self.args = args
        self.cpu_parent = None
        self.cpu_children = []

    @property
    def cpu_time(self):
        return self.cpu_time_total

    @property
    def device_time_total(self):
        # timed with the device synchronized before and after: the GPU's work is inside
        return self.cpu_time_total if self.device_type == "cuda" else 0.0

    @property
    def self_device_time_total(self):
        return self.self_cpu_time_total if self.device_type == "cuda" else 0.0

    cuda_time_total = device_time_total
    self_cuda_time_total = self_device_time_total

    def __repr__(self):
        return (f"<FunctionEvent id={self.id} name={self.name} cpu_time_total="
                f"{_fmt_us(self.cpu_time_total)} self={_fmt_us(self.self_cpu_time_total)} "
                f"input_shapes={self.input_shapes}>")


class FunctionEventAvg:
    """The events of one key (a name, and the input shapes when grouped by them) summed."""

    def __init__(self, key, input_shapes=None):
        self.key = key
        self.name = key
        self.input_shapes = input_shapes
        self.count = 0
        self.cpu_time_total = 0.0
        self.self_cpu_time_total = 0.0
        self.device_time_total = 0.0
        self.self_device_time_total = 0.0
        self.cpu_memory_usage = self.self_cpu_memory_usage = 0
        self.device_memory_usage = self.self_device_memory_usage = 0

    def add(self, e):
        self.count += e.count
        self.cpu_time_total += e.cpu_time_total
        self.self_cpu_time_total += e.self_cpu_time_total
        self.device_time_total += e.device_time_total
        self.self_device_time_total += e.self_device_time_total
        return self

    @property
    def cpu_time(self):
        return self.cpu_time_total / self.count if self.count else 0.0

    @property
    def device_time(self):
        return self.device_time_total / self.count if self.count else 0.0

    cuda_time = device_time

    @property
    def cuda_time_total(self):
        return self.device_time_total

    @property
    def self_cuda_time_total(self):
        return self.self_device_time_total

    cuda_memory_usage = self_cuda_memory_usage = 0

    def __repr__(self):
        return (f"<FunctionEventAvg key={self.key} count={self.count} cpu_time_total="
                f"{_fmt_us(self.cpu_time_total)} self_cpu_time_total="
                f"{_fmt_us(self.self_cpu_time_total)} input_shapes={self.input_shapes}>")


_SORT_KEYS = ("cpu_time", "cpu_time_total", "self_cpu_time_total", "count",
              "device_time", "device_time_total", "self_device_time_total",
              "cuda_time", "cuda_time_total", "self_cuda_time_total",
              "cpu_memory_usage", "self_cpu_memory_usage", "device_memory_usage",
              "self_device_memory_usage", "cuda_memory_usage", "self_cuda_memory_usage")


class EventList(list):
    """A list of events (PyTorch's ``EventList``): ``key_averages``, ``table``,
    ``export_chrome_trace``, ``total_average``."""

    def __init__(self, events=(), grouped_by_shape=False):
        super().__init__(events)
        self._grouped_by_shape = grouped_by_shape

    @property
    def self_cpu_time_total(self):
        return sum(e.self_cpu_time_total for e in self)

    def key_averages(self, group_by_input_shape=False, group_by_stack_n=0,
                     group_by_overload_name=False):
        """One :class:`FunctionEventAvg` per name (per name and input shapes with
        ``group_by_input_shape``), in order of first appearance."""
        groups = {}
        for e in self:
            shapes = _shape_key(e.input_shapes) if group_by_input_shape else None
            key = (e.key, shapes)
            avg = groups.get(key)
            if avg is None:
                avg = groups[key] = FunctionEventAvg(
                    e.key, e.input_shapes if group_by_input_shape else None)
            avg.add(e)
        return EventList(groups.values(), grouped_by_shape=bool(group_by_input_shape))

    def total_average(self):
        total = FunctionEventAvg("Total")
        for e in self:
            total.add(e)
        return total

    def table(self, sort_by=None, row_limit=100, max_src_column_width=75,
              max_name_column_width=55, max_shapes_column_width=80, header=None,
              top_level_events_only=False, time_unit=None):
        """PyTorch's table: Name, Self CPU %, Self CPU, CPU total %, CPU total, CPU time avg,
        (Self CUDA, CUDA total, CUDA time avg where GPU work was timed), # of Calls, and
        Input Shapes when the averages were grouped by input shape. Rows sorted by
        ``sort_by`` (descending), at most ``row_limit`` of them (negative: all)."""
        return format_table(self, sort_by, row_limit, max_name_column_width,
                            max_shapes_column_width, header, top_level_events_only, time_unit)

    def export_chrome_trace(self, path):
        """Write the events as Chrome trace JSON (``chrome://tracing``, Perfetto)."""
        write_chrome_trace(self, path)

    def __str__(self):
        return self.table()


def _shape_key(shapes):
    if shapes is None:
        return None
    return tuple(tuple(s) if isinstance(s, list) else s for s in shapes)


def _fmt_us(us, unit=None):
    if unit is None:
        unit = "s" if us >= 1e6 else "ms" if us >= 1e3 else "us"
    if unit == "s":
        return f"{us / 1e6:.3f}s"
    if unit == "ms":
        return f"{us / 1e3:.3f}ms"
    return f"{us:.3f}us"


def _pct(part, whole):
    return f"{100.0 * part / whole:.2f}%" if whole else "0.00%"


def _cut(s, width):
    return s if len(s) <= width else s[:width - 3] + "..."


def _row(cells, cols):
    # the name left-aligned, the numbers right-aligned, as PyTorch prints them
    return "  ".join(f"{c:<{w}}" if k == 0 else f"{c:>{w}}"
                     for k, (c, (_, w)) in enumerate(zip(cells, cols)))


def format_table(events, sort_by=None, row_limit=100, name_width=55, shapes_width=80,
                 header=None, top_level_only=False, time_unit=None):
    """The table of ``events`` (FunctionEvents or their averages) as PyTorch prints it."""
    if time_unit not in (None, "s", "ms", "us"):
        raise ValueError(f"table: time_unit must be 's', 'ms' or 'us', got {time_unit!r}")
    if row_limit is not None and (not isinstance(row_limit, int) or isinstance(row_limit, bool)):
        raise TypeError(f"table: row_limit must be an int (negative: every row), got "
                        f"{type(row_limit).__name__} {row_limit!r}")
    rows = list(events)
    if top_level_only:
        rows = [e for e in rows if getattr(e, "cpu_parent", None) is None]
    if sort_by is not None:
        if sort_by not in _SORT_KEYS:
            raise ValueError(f"table: cannot sort by {sort_by!r}; use one of "
                             f"{', '.join(_SORT_KEYS)}")
        rows.sort(key=lambda e: getattr(e, sort_by), reverse=True)
    if row_limit is not None and row_limit >= 0:
        rows = rows[:row_limit]
    # percentages are of the self time of every event (sum of self = time accounted once)
    whole = sum(e.self_cpu_time_total for e in events)
    whole_dev = sum(e.self_device_time_total for e in events)
    shapes = bool(getattr(events, "_grouped_by_shape", False))
    device = whole_dev > 0
    name_w = max([len("Name")] + [min(len(e.key), name_width) for e in rows]) + 2
    cols = [("Name", name_w)] + [(c, 14) for c in (
        "Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg")]
    if device:
        cols += [(c, 14) for c in ("Self CUDA", "Self CUDA %", "CUDA total", "CUDA time avg")]
    cols.append(("# of Calls", 12))
    if shapes:
        cols.append(("Input Shapes", max([len("Input Shapes")] + [
            min(len(str(e.input_shapes or [])), shapes_width) for e in rows]) + 2))
    rule = "  ".join("-" * w for _, w in cols)
    lines = []
    if header is not None:
        lines += ["=" * len(rule), header]
    lines += [rule, _row([c for c, _ in cols], cols), rule]
    for e in rows:
        avg = e.cpu_time_total / e.count if e.count else 0.0
        cells = [_cut(e.key, name_width), _pct(e.self_cpu_time_total, whole),
                 _fmt_us(e.self_cpu_time_total, time_unit), _pct(e.cpu_time_total, whole),
                 _fmt_us(e.cpu_time_total, time_unit), _fmt_us(avg, time_unit)]
        if device:
            davg = e.device_time_total / e.count if e.count else 0.0
            cells += [_fmt_us(e.self_device_time_total, time_unit),
                      _pct(e.self_device_time_total, whole_dev),
                      _fmt_us(e.device_time_total, time_unit), _fmt_us(davg, time_unit)]
        cells.append(str(e.count))
        if shapes:
            cells.append(_cut(str(e.input_shapes or []), shapes_width))
        lines.append(_row(cells, cols))
    lines.append(rule)
    lines.append(f"Self CPU time total: {_fmt_us(whole, time_unit)}")
    if device:
        lines.append(f"Self CUDA time total: {_fmt_us(whole_dev, time_unit)}")
    return "\n".join(lines) + "\n"


def chrome_trace(events, metadata=None):
    """The Chrome trace (a dict) of FunctionEvents: one complete ("X") event each, ``ts`` and
    ``dur`` in microseconds, on the process and thread that ran it."""
    pid = os.getpid()
    trace = []
    for e in sorted(events, key=lambda e: (e.time_range.start, -e.cpu_time_total)):
        args = {"External id": e.id}
        if e.input_shapes is not None:
            args["Input Dims"] = e.input_shapes
        if e.device_type != "cpu":
            args["device"] = e.device_type
        args.update(e.args or {})
        trace.append({"ph": "X", "cat": _CATEGORY.get(e.kind, e.kind), "name": e.name,
                      "pid": pid, "tid": e.thread, "ts": e.time_range.start,
                      "dur": e.cpu_time_total, "args": args})
    trace.append({"ph": "M", "name": "process_name", "pid": pid, "tid": 0,
                  "args": {"name": "tensorgrad"}})
    out = {"schemaVersion": 1, "displayTimeUnit": "ms", "traceEvents": trace}
    if metadata:
        out.update(metadata)
    return out


_CATEGORY = {"op": "cpu_op", "backward": "cpu_op", "user_annotation": "user_annotation",
             "optimizer": "python_function"}


def write_chrome_trace(events, path, metadata=None):
    trace = chrome_trace(events, metadata)
    if str(path).endswith(".gz"):
        import gzip

        with gzip.open(path, "wt", encoding="utf-8") as f:
            json.dump(trace, f)
    else:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(trace, f)
