"""Threads: grad mode and anomaly mode are per thread; two threads training separate models at
once give bit-identical results to running them one after the other; a backward pass in one
thread while another records is safe."""

import threading

import numpy as np

import tensorgrad as tg


def _train(seed, steps=40):
    rng = np.random.default_rng(seed)
    w1 = tg.tensor(rng.standard_normal((8, 16)) * 0.3, requires_grad=True)
    w2 = tg.tensor(rng.standard_normal((16, 1)) * 0.3, requires_grad=True)
    x = tg.tensor(rng.standard_normal((32, 8)))
    y = tg.tensor(rng.standard_normal((32, 1)))
    opt = tg.optim.SGD([w1, w2], lr=0.05, momentum=0.9)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = (((x @ w1).tanh() @ w2 - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return np.array(losses), w1.numpy().copy(), w2.numpy().copy()


def _in_threads(fns):
    results = [None] * len(fns)
    errors = []
    start = threading.Barrier(len(fns))

    def run(i, fn):
        try:
            start.wait()
            results[i] = fn()
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i, f)) for i, f in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


def test_two_threads_training_at_once_match_running_them_in_turn():
    alone = [_train(1), _train(2)]
    together = _in_threads([lambda: _train(1), lambda: _train(2)])
    for a, b in zip(alone, together):
        for u, v in zip(a, b):
            np.testing.assert_array_equal(u, v)  # bit-identical


def test_grad_mode_is_per_thread():
    inside = threading.Event()
    done = threading.Event()
    seen = {}

    def other():
        inside.wait(10)
        seen["enabled"] = tg.is_grad_enabled()
        x = tg.ones(2, requires_grad=True)
        seen["records"] = (x * 2.0).requires_grad
        done.set()

    t = threading.Thread(target=other)
    t.start()
    with tg.no_grad():
        inside.set()
        done.wait(10)
        assert not tg.is_grad_enabled()
    t.join()
    assert seen == {"enabled": True, "records": True}


def test_backward_in_one_thread_while_another_records():
    def backward_loop():
        out = []
        for i in range(150):
            x = tg.tensor(np.linspace(-1, 1, 50) + i, requires_grad=True)
            (x.sin() * x).sum().backward()
            out.append(x.grad.numpy().copy())
        return out

    def record_loop():
        out = []
        with tg.no_grad():  # this thread's mode must not reach the other thread
            for i in range(150):
                x = tg.tensor(np.linspace(-1, 1, 50) + i, requires_grad=True)
                y = x.sin() * x
                assert not y.requires_grad
                out.append(y.numpy().copy())
        return out

    grads, values = _in_threads([backward_loop, record_loop])
    for i in range(150):
        x = np.linspace(-1, 1, 50) + i
        np.testing.assert_allclose(grads[i], np.cos(x) * x + np.sin(x), rtol=1e-12)
        np.testing.assert_allclose(values[i], np.sin(x) * x, rtol=1e-12)
