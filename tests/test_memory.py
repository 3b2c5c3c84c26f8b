"""Memory held flat: a long training run keeps its resident memory flat with the cyclic collector
off, leaves nothing for the collector, and every array saved for backward is released as soon as
its node has run."""

import gc
import weakref

import numpy as np

import tensorgrad as tg
from tensorgrad.autograd import graph


def _rss_kib():
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    import resource

    return pages * resource.getpagesize() // 1024


def test_5000_steps_keep_memory_flat_without_the_cycle_collector():
    tg.manual_seed(0)
    model = tg.nn.Sequential(tg.nn.Linear(16, 32), tg.nn.ReLU(), tg.nn.Linear(32, 4))
    opt = tg.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((32, 16)).astype(np.float32))
    y = tg.tensor(rng.integers(0, 4, 32))
    samples = []
    gc.collect()
    gc.disable()
    try:
        for step in range(5000):
            opt.zero_grad()
            loss = tg.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            if step % 50 == 0:
                samples.append(_rss_kib())
        found = gc.collect()
    finally:
        gc.enable()
    assert found == 0, f"the cyclic collector found {found} objects: a reference cycle"
    # after warm-up (the first 1,000 steps), the first and last 1,000 steps: within 2 %
    first = np.mean(samples[20:40])
    last = np.mean(samples[-20:])
    assert abs(last - first) <= 0.02 * first, (first, last)
    assert np.isfinite(loss.item())


def test_saved_arrays_are_released_as_each_node_runs():
    x = tg.tensor(np.linspace(0.1, 1.0, 6), requires_grad=True)
    a = x.exp()
    b = a.sin()
    c = b * b
    loss = c.sum()
    refs = {name: weakref.ref(t.grad_fn.ans) for name, t in (("exp", a), ("sin", b), ("mul", c))}
    nodes = [weakref.ref(t.grad_fn) for t in (a, b, c, loss)]
    del a, b, c  # the nodes hold raw arrays only: no Tensor of the graph keeps them
    released = []

    def spy(g):
        # when exp's input gradient arrives, every later node has run and dropped its arrays
        released.extend(name for name, r in refs.items() if r() is None)
        return g

    x.register_hook(spy)
    loss.backward()
    assert sorted(released) == ["exp", "mul", "sin"]
    assert all(r() is None for r in refs.values())
    del loss
    assert all(n() is None for n in nodes)  # the whole graph went with reference counting


def test_each_node_drops_its_saved_arrays_right_after_its_rule_runs():
    x = tg.tensor(np.linspace(0.1, 1.0, 6), requires_grad=True)
    h1 = x.exp()
    h2 = h1.sin()
    out = (h2 * 2.0).sum()
    n1, n2 = h1.grad_fn, h2.grad_fn
    seen = []
    h1.register_hook(lambda g: seen.append((n2.args, n2.ans, n1.args is not None)))
    out.backward()
    # when h1's gradient is ready, sin's node has run and freed its saves; exp's has not yet
    assert seen == [(None, None, True)]
    assert n1.args is None and n1.ans is None


def test_retain_graph_keeps_the_saves_until_the_last_backward():
    x = tg.tensor([0.5, 1.5], requires_grad=True)
    y = x.exp()
    loss = (y * y).sum()
    loss.backward(retain_graph=True)
    assert y.grad_fn.args is not None
    loss.backward()
    assert y.grad_fn.args is None
    assert isinstance(y.grad_fn, graph.Node)
