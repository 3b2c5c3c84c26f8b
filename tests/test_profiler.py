"""tensorgrad.profiler (torch.profiler's interface) and tg.autograd.profiler: what it counts,
how it nests, its schedule against PyTorch's, its outputs, and that it leaves nothing behind."""

import json
import os
import re
import threading
import warnings

import numpy as np
import pytest
from devices import host, tensor_on, torch_oracle

import tensorgrad as tg
from tensorgrad.ops import registry
from tensorgrad.profiler import (
    ProfilerAction,
    ProfilerActivity,
    profile,
    record_function,
    schedule,
    tensorboard_trace_handler,
)

ACTS = [ProfilerActivity.CPU, ProfilerActivity.CUDA]


def _params(device, seed=0):
    rng = np.random.default_rng(seed)
    x = tensor_on(rng.standard_normal((8, 3)), device)
    ws = [tensor_on(rng.standard_normal(s), device, requires_grad=True)
          for s in ((3, 5), (5,), (5, 2), (2,))]
    return x, ws


def _mlp_loss(x, ws):
    w1, b1, w2, b2 = ws
    return ((x @ w1 + b1).relu() @ w2 + b2).sum()


def _counts(prof):
    return {e.key: e.count for e in prof.key_averages()}


def test_mlp_step_counts(device):
    x, ws = _params(device)
    opt = tg.optim.SGD(ws, lr=0.1)
    with profile(activities=ACTS, record_shapes=True) as prof:
        opt.zero_grad()
        _mlp_loss(x, ws).backward()
        opt.step()
    c = _counts(prof)
    assert c["tensorgrad::matmul"] == 2
    assert c["tensorgrad::add"] == 2
    assert c["tensorgrad::relu"] == 1
    assert c["tensorgrad::sum"] == 1
    # one event per backward rule call: x @ w1 needs w1's only; h @ w2 both; each add both
    assert c["matmulBackward"] == 3
    assert c["addBackward"] == 4
    assert c["reluBackward"] == 1
    assert c["sumBackward"] == 1
    assert c["Optimizer.step#SGD.step"] == 1
    assert c["Optimizer.zero_grad#SGD.zero_grad"] == 1
    # the optimizer's own tensor work is inside its step event
    step = next(e for e in prof.events() if e.name == "Optimizer.step#SGD.step")
    assert all(e.time_range.start >= step.time_range.start for e in step.cpu_children)
    shapes = {tuple(map(tuple, e.input_shapes)) for e in prof.events()
              if e.name == "tensorgrad::matmul"}
    assert shapes == {((8, 3), (3, 5)), ((8, 5), (5, 2))}
    on_gpu = {e.device_type for e in prof.events() if e.kind == "op"}
    assert on_gpu == ({"cuda"} if device == "cuda" else {"cpu"})


def test_self_time_at_most_total(device):
    x, ws = _params(device)
    with profile(activities=ACTS) as prof:
        with record_function("outer"):
            with record_function("inner"):
                _mlp_loss(x, ws).backward()
            _mlp_loss(x, ws).backward()
    evs = prof.events()
    assert len(evs) > 10
    for e in evs:
        assert 0 <= e.self_cpu_time_total <= e.cpu_time_total + 1e-9
        # self = total - the children's totals
        kids = sum(k.cpu_time_total for k in e.cpu_children)
        assert e.self_cpu_time_total == pytest.approx(e.cpu_time_total - kids, abs=1e-6)
    for a in prof.key_averages():
        assert a.self_cpu_time_total <= a.cpu_time_total + 1e-9
    outer = next(e for e in evs if e.name == "outer")
    assert sum(e.self_cpu_time_total for e in evs) <= outer.cpu_time_total + 1e-6


def test_record_function_nesting(device):
    x, ws = _params(device)

    @record_function("decorated")
    def f():
        return _mlp_loss(x, ws)

    with record_function("before the profiler"):  # nothing is recorded, nothing fails
        pass
    with profile(activities=ACTS) as prof:
        with record_function("outer"):
            y = x.exp()
            with record_function("inner"):
                f().backward()
    evs = {e.name: e for e in prof.events() if e.kind == "user_annotation"}
    assert set(evs) == {"outer", "inner", "decorated"}
    outer, inner, dec = evs["outer"], evs["inner"], evs["decorated"]
    assert inner.cpu_parent is outer and dec.cpu_parent is inner
    exp = next(e for e in prof.events() if e.name == "tensorgrad::exp")
    assert exp.cpu_parent is outer
    assert {e.name for e in dec.cpu_children} == {"tensorgrad::matmul", "tensorgrad::add",
                                                  "tensorgrad::relu", "tensorgrad::sum"}
    assert outer.cpu_time_total >= inner.cpu_time_total + exp.cpu_time_total
    assert outer.self_cpu_time_total == pytest.approx(
        outer.cpu_time_total - inner.cpu_time_total - exp.cpu_time_total, abs=1e-6)
    assert inner.time_range.start >= outer.time_range.start
    assert inner.time_range.end <= outer.time_range.end
    assert host(y).shape == (8, 3)


SCHEDULES = [
    dict(wait=1, warmup=1, active=3, repeat=1),
    dict(wait=1, warmup=1, active=2, repeat=2),
    dict(wait=0, warmup=1, active=1, repeat=0),
    dict(wait=2, warmup=0, active=2, repeat=0, skip_first=3),
    dict(wait=3, warmup=1, active=2, repeat=2, skip_first=1, skip_first_wait=1),
]


def _run_schedule(mod, kw, steps, work):
    actions, fired = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sched = mod.schedule(**kw)
        with mod.profile(activities=[mod.ProfilerActivity.CPU], schedule=sched,
                         on_trace_ready=lambda p: fired.append(p.step_num)) as prof:
            for _ in range(steps):
                actions.append(prof.current_action.name)
                work()
                prof.step()
            actions.append(prof.current_action.name)
    return actions, fired


@pytest.mark.parametrize("kw", SCHEDULES, ids=lambda kw: "-".join(f"{v}" for v in kw.values()))
def test_schedule_matches_torch(kw):
    torch = torch_oracle()
    import torch.profiler as tp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs_fn, ours_fn = tp.schedule(**kw), schedule(**kw)
    assert [ours_fn(k).name for k in range(40)] == [theirs_fn(k).name for k in range(40)]
    a = torch.ones(2)
    x = tg.ones(2)
    theirs = _run_schedule(tp, kw, 13, lambda: a * 2)
    ours = _run_schedule(tg.profiler, kw, 13, lambda: x * 2)
    assert ours == theirs
    assert ours[1]  # every schedule here saves at least one cycle in 13 steps


def test_schedule_records_only_active_steps():
    x = tg.ones(2, requires_grad=True)
    cycles = []

    def ready(prof):
        evs = prof.events()
        cycles.append((prof.step_num, sum(e.name == "tensorgrad::exp" for e in evs),
                       sorted(e.name for e in evs if e.name.startswith("ProfilerStep"))))

    with profile(schedule=schedule(wait=1, warmup=1, active=2, repeat=2),
                 on_trace_ready=ready) as prof:
        for _ in range(10):
            x.exp()
            prof.step()
    assert cycles == [(4, 2, ["ProfilerStep#2", "ProfilerStep#3"]),
                      (8, 2, ["ProfilerStep#6", "ProfilerStep#7"])]
    assert registry.INTERCEPT[0] is None
    with pytest.raises(RuntimeError, match="not running"):
        prof.step()


def test_acc_events_keeps_every_cycle():
    x = tg.ones(2)
    with profile(schedule=schedule(wait=0, warmup=1, active=1, repeat=3),
                 acc_events=True) as prof:
        for _ in range(7):
            x.exp()
            prof.step()
    assert _counts(prof)["tensorgrad::exp"] == 3


def test_chrome_trace(device, tmp_path):
    x, ws = _params(device)
    with profile(activities=ACTS, record_shapes=True) as prof:
        with record_function("my_block"):
            _mlp_loss(x, ws).backward()
    path = tmp_path / "trace.json"
    prof.export_chrome_trace(str(path))
    trace = json.loads(path.read_text())
    evs = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert len(evs) == len(prof.events())
    names = [e["name"] for e in evs]
    assert names.count("tensorgrad::matmul") == 2 and names.count("matmulBackward") == 3
    for e in evs:
        assert isinstance(e["ts"], float) and e["dur"] >= 0
        assert {"name", "ph", "ts", "dur", "pid", "tid", "args"} <= set(e)
    block = next(e for e in evs if e["name"] == "my_block")
    for e in evs:  # every event is inside the block, on the time line
        assert block["ts"] <= e["ts"] and e["ts"] + e["dur"] <= block["ts"] + block["dur"] + 1e-3
    mm = next(e for e in evs if e["name"] == "tensorgrad::matmul")
    assert mm["args"]["Input Dims"] == [[8, 3], [3, 5]]


def test_tensorboard_trace_handler(tmp_path):
    x = tg.ones(3)
    with profile(schedule=schedule(wait=1, warmup=1, active=1, repeat=2),
                 on_trace_ready=tensorboard_trace_handler(str(tmp_path / "tb"), "w0")) as p:
        for _ in range(8):
            x.exp()
            p.step()
    files = sorted(os.listdir(tmp_path / "tb"))
    assert len(files) == 2
    for f in files:
        assert re.fullmatch(r"w0\.\d+\.pt\.trace\.json", f)
        trace = json.loads((tmp_path / "tb" / f).read_text())
        assert [e["name"] for e in trace["traceEvents"] if e["ph"] == "X"] == [
            f"ProfilerStep#{int(e['name'][-1])}" for e in trace["traceEvents"]
            if e["ph"] == "X" and e["name"].startswith("ProfilerStep")] + ["tensorgrad::exp"]


def _state():
    from tensorgrad.optim.optimizer import SGD, Optimizer

    prims = [tg.numpy.matmul.prim, tg.numpy.add.prim, tg.ones(1, requires_grad=True).sum()
             ._node.prim, tg.numpy.exp.prim]
    return (registry.INTERCEPT[0], [p.vjps for p in prims], [list(p.vjps) for p in prims],
            SGD.__dict__["step"], Optimizer.__dict__["zero_grad"])


def _same_state(a, b):
    return a[0] is b[0] and all(x is y for x, y in zip(a[1], b[1])) and \
        all(all(r is s for r, s in zip(x, y)) for x, y in zip(a[2], b[2])) and \
        a[3] is b[3] and a[4] is b[4]


def test_leaves_no_trace(device):
    before = _state()
    x, ws = _params(device)
    _mlp_loss(x, ws).backward()
    plain = [host(w.grad) for w in ws]
    for w in ws:
        w.grad = None
    opt = tg.optim.SGD([tg.ones(2, requires_grad=True)], lr=0.1)
    with profile(activities=ACTS):
        assert registry.INTERCEPT[0] is not None
        _mlp_loss(x, ws).backward()
        assert tg.numpy.matmul.prim.vjps is not before[1][0]  # timed while profiling
    assert _same_state(before, _state())
    for g, w in zip(plain, ws):
        assert np.array_equal(g, host(w.grad))
    # an exception inside the block restores everything too
    with pytest.raises(ZeroDivisionError):
        with profile(activities=ACTS):
            _mlp_loss(x, ws).backward()
            opt.step()
            raise ZeroDivisionError("inside the profiled block")
    assert _same_state(before, _state())
    # a graph recorded while profiling, differentiated after: the original rules, same grads
    for w in ws:
        w.grad = None
    with profile():
        loss = _mlp_loss(x, ws)
    loss.backward()
    for g, w in zip(plain, ws):
        assert np.array_equal(g, host(w.grad))


def test_second_order_under_profiler(device):
    x = tensor_on(np.array([0.3, -1.2, 2.0]), device, requires_grad=True)
    (g_plain,) = tg.autograd.grad((x.tanh() ** 3).sum(), x, create_graph=True)
    (gg_plain,) = tg.autograd.grad(g_plain.sum(), x)
    with profile(activities=ACTS) as prof:
        (g,) = tg.autograd.grad((x.tanh() ** 3).sum(), x, create_graph=True)
        (gg,) = tg.autograd.grad(g.sum(), x)
    assert np.array_equal(host(g), host(g_plain)) and np.array_equal(host(gg), host(gg_plain))
    # with create_graph the rules' own ops are recorded, inside their Backward events
    inside = [e for e in prof.events() if e.kind == "op" and e.cpu_parent is not None
              and e.cpu_parent.kind == "backward"]
    assert inside
    assert _counts(prof)["tanhBackward"] >= 2  # the first backward, and through it again


def test_checkpoint_inside_profiler(device):
    before = _state()
    x, ws = _params(device)

    def block(x, w1, b1):
        return (x @ w1 + b1).relu()

    h = tg.utils.checkpoint.checkpoint(block, x, ws[0], ws[1], use_reentrant=False)
    ((h @ ws[2]) + ws[3]).sum().backward()
    plain = [host(w.grad) for w in ws]
    for w in ws:
        w.grad = None
    with profile(activities=ACTS) as prof:
        h = tg.utils.checkpoint.checkpoint(block, x, ws[0], ws[1], use_reentrant=False)
        ((h @ ws[2]) + ws[3]).sum().backward()
    assert _same_state(before, _state())
    for g, w in zip(plain, ws):
        assert np.array_equal(g, host(w.grad))
    assert _counts(prof)["tensorgrad::relu"] == 2  # the first run and the recomputation


def test_nested_profilers_raise():
    before = _state()
    x = tg.ones(2)
    with profile() as outer:
        with pytest.raises(RuntimeError, match="already running"):
            with profile():
                pass
        with pytest.raises(RuntimeError, match="already running"):
            with tg.autograd.profiler.profile():
                pass
        x.exp()
    assert _counts(outer) == {"tensorgrad::exp": 1}
    assert _same_state(before, _state())
    with tg.autograd.profiler.profile() as again:  # free again after the outer one
        x.exp()
    assert _counts(again) == {"tensorgrad::exp": 1}


def test_other_threads_are_recorded_apart():
    x = tg.ones(4)
    with profile() as prof:
        with record_function("main"):
            t = threading.Thread(target=lambda: x.exp())
            t.start()
            t.join()
    main = next(e for e in prof.events() if e.name == "main")
    exp = next(e for e in prof.events() if e.name == "tensorgrad::exp")
    assert exp.thread != main.thread and exp.cpu_parent is None


def test_table_and_key_averages(device):
    x, ws = _params(device)
    with profile(activities=ACTS, record_shapes=True) as prof:
        _mlp_loss(x, ws).backward()
        (x[:2] @ ws[0]).sum()
    avgs = prof.key_averages()
    text = avgs.table(sort_by="cpu_time_total", row_limit=3)
    lines = text.splitlines()
    for col in ("Name", "Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg",
                "# of Calls"):
        assert col in lines[1]
    assert "Input Shapes" not in lines[1]
    # rules and header, three rows, rule and total (and the CUDA total)
    assert len(lines) == 3 + 3 + 2 + (device == "cuda")
    assert lines[7].startswith("Self CPU time total:")
    top = sorted(avgs, key=lambda a: a.cpu_time_total, reverse=True)[:3]
    assert [ln.split()[0] for ln in lines[3:6]] == [a.key for a in top]
    by_shape = prof.key_averages(group_by_input_shape=True)
    mm = [a for a in by_shape if a.key == "tensorgrad::matmul"]
    assert sorted(map(str, (a.input_shapes for a in mm))) == [
        "[[2, 3], [3, 5]]", "[[8, 3], [3, 5]]", "[[8, 5], [5, 2]]"]
    assert "Input Shapes" in by_shape.table().splitlines()[1]
    assert "[[8, 3], [3, 5]]" in by_shape.table()
    with pytest.raises(ValueError, match="cannot sort by 'nope'"):
        avgs.table(sort_by="nope")
    assert ("Self CUDA" in avgs.table()) == (device == "cuda")
    total = prof.events().total_average()
    assert total.count == len(prof.events())


def test_cuda_activity_synchronizes(cuda_device):
    from conftest import CUPY_STANDIN

    x, ws = _params(cuda_device)
    if CUPY_STANDIN:
        from cupy_standin import _sync

        with _sync.watch() as w:
            with profile(activities=[ProfilerActivity.CPU]):
                _mlp_loss(x, ws)
        assert not w.events  # CPU activity alone: no waits
        with _sync.watch() as w:
            with profile(activities=ACTS) as prof:
                _mlp_loss(x, ws)
        # before and after each of the six ops
        assert sum("synchronize" in str(e) for e in w.events) == 12
    else:
        with profile(activities=ACTS) as prof:
            _mlp_loss(x, ws)
    assert {e.device_type for e in prof.events()} == {"cuda"}


def test_autograd_profiler_legacy(device):
    x, ws = _params(device)
    with tg.autograd.profiler.profile(record_shapes=True, use_cuda=device == "cuda") as prof:
        with tg.autograd.profiler.record_function("fwd"):
            loss = _mlp_loss(x, ws)
        loss.backward()
    c = {e.key: e.count for e in prof.key_averages()}
    assert c["tensorgrad::matmul"] == 2 and c["matmulBackward"] == 3 and c["fwd"] == 1
    assert len(prof.function_events) == sum(c.values())
    assert "CPU total" in prof.table(sort_by="self_cpu_time_total")
    assert prof.self_cpu_time_total > 0
    assert tg.autograd.profiler.record_function is record_function
    off = tg.autograd.profiler.profile(enabled=False)
    with off:
        assert registry.INTERCEPT[0] is None
        _mlp_loss(x, ws)
    with pytest.raises(RuntimeError, match="no results"):
        off.key_averages()


def test_bad_arguments():
    with pytest.raises(TypeError, match="ProfilerActivity"):
        profile(activities=["cpu"])
    with pytest.raises(ValueError, match="active"):
        schedule(wait=1, warmup=1, active=0)
    with pytest.raises(TypeError, match="ProfilerAction"):
        with profile(schedule=lambda step: "RECORD"):
            pass
    assert registry.INTERCEPT[0] is None
    with profile(schedule=lambda step: ProfilerAction.RECORD) as prof:
        pass
    assert [e.name for e in prof.events()] == ["ProfilerStep#0"]
