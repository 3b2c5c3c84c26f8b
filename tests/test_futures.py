"""tensorgrad.futures (PyTorch's torch.futures) and the futures of async collectives."""

import numpy as np
import pytest

import tensorgrad as tg
import tensorgrad.distributed as dist
from tensorgrad import nn


def test_future_result_then_and_callbacks():
    f = tg.futures.Future()
    assert not f.done()
    with pytest.raises(RuntimeError, match="not completed yet"):
        f.value()
    seen = []
    f.add_done_callback(lambda fut: seen.append(fut.value()))
    g = f.then(lambda fut: fut.value() + 1).then(lambda fut: fut.value() * 10)
    f.set_result(4)
    assert f.done() and seen == [4] and g.wait() == 50
    f.add_done_callback(lambda fut: seen.append("late"))  # runs at once when done
    assert seen == [4, "late"]
    with pytest.raises(RuntimeError, match="already completed"):
        f.set_result(5)


def test_future_errors_travel_down_the_chain():
    f = tg.futures.Future()
    g = f.then(lambda fut: 1 / 0)
    h = g.then(lambda fut: fut.value() + 1)  # value() re-raises g's error inside h's callback
    f.set_result(1)
    with pytest.raises(ZeroDivisionError):
        g.wait()
    with pytest.raises(ZeroDivisionError):
        h.wait()
    e = tg.futures.Future()
    e.set_exception(ValueError("bad"))
    with pytest.raises(ValueError, match="bad"):
        e.value()
    with pytest.raises(TypeError, match="expected an exception"):
        tg.futures.Future().set_exception("bad")
    with pytest.raises(RuntimeError, match="nothing will complete this future"):
        tg.futures.Future().wait()


def test_collect_all_and_wait_all():
    a, b = tg.futures.Future(), tg.futures.Future()
    both = tg.futures.collect_all([a, b])
    a.set_result("a")
    assert not both.done()
    b.set_result("b")
    assert both.done() and [f.value() for f in both.wait()] == ["a", "b"]
    assert tg.futures.wait_all([a, b]) == ["a", "b"]
    assert tg.futures.collect_all([]).wait() == []


def test_work_future_of_an_async_collective(mpi_group, device):
    t = tg.tensor(np.arange(3.0), device=device)
    work = dist.all_reduce(t, async_op=True)
    fut = work.get_future()
    doubled = fut.then(lambda f: f.value()[0] * 2)
    assert not fut.done()  # nothing waited yet
    np.testing.assert_array_equal(doubled.wait().cpu().numpy(), [0.0, 2.0, 4.0])
    assert fut.done() and fut.value() == [t] and work.is_completed()
    assert work.get_future().value() == [t]  # a future of a finished work is done at once


def test_register_comm_hook_rules(mpi_group, device):
    from tensorgrad.distributed.algorithms.ddp_comm_hooks import default_hooks

    model = nn.Linear(3, 2, dtype="float64").to(device)
    ddp = nn.parallel.DistributedDataParallel(model)
    with pytest.raises(TypeError, match="hook must be callable"):
        ddp.register_comm_hook(None, "allreduce")
    ddp.register_comm_hook(None, default_hooks.allreduce_hook)
    with pytest.raises(RuntimeError, match="can only be called once"):
        ddp.register_comm_hook(None, default_hooks.allreduce_hook)
    x = tg.ones(4, 3, dtype="float64", device=device)
    ddp(x).sum().backward()
    np.testing.assert_allclose(model.weight.grad.cpu().numpy(), np.full((2, 3), 4.0))

    late = nn.parallel.DistributedDataParallel(nn.Linear(3, 2, dtype="float64").to(device))
    late(x).sum().backward()
    with pytest.raises(RuntimeError, match="before the first backward"):
        late.register_comm_hook(None, default_hooks.allreduce_hook)

    bad = nn.parallel.DistributedDataParallel(nn.Linear(3, 2, dtype="float64").to(device))
    bad.register_comm_hook(None, lambda state, bucket: bucket.buffer())
    with pytest.raises(TypeError, match="must return a tensorgrad.futures.Future, got Tensor"):
        bad(x).sum().backward()

    wrong = nn.parallel.DistributedDataParallel(nn.Linear(3, 2, dtype="float64").to(device))

    def short(state, bucket):
        f = tg.futures.Future()
        f.set_result(tg.zeros(1, dtype="float64", device=device))
        return f

    wrong.register_comm_hook(None, short)
    with pytest.raises(RuntimeError, match=r"must be the bucket's flat gradients \(8 elements\)"):
        wrong(x).sum().backward()
