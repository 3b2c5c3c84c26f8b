"""Anomaly mode (tg.autograd.detect_anomaly / set_detect_anomaly) and tg.autograd.to_dot."""

import re
import threading

import numpy as np
import pytest
from devices import tensor_on

import tensorgrad as tg
from tensorgrad.autograd import anomaly
from tensorgrad.autograd.graph import Node


def _sqrt_at_zero(device):
    x = tensor_on(np.array([0.0, 4.0]), device, requires_grad=True)
    y = x.sqrt()  # the line the traceback must point at
    return x, (y * 2.0).sum()


def test_backward_nan_names_the_primitive_and_the_forward_line(device):
    with tg.autograd.detect_anomaly():
        x, loss = _sqrt_at_zero(device)
        with pytest.raises(RuntimeError) as info:
            loss.backward()
    msg = str(info.value)
    assert "'sqrt'" in msg and "inf values" in msg
    assert "y = x.sqrt()" in msg and "_sqrt_at_zero" in msg  # the forward-pass traceback
    assert x.grad is None  # nothing half-accumulated


def test_without_anomaly_mode_the_nan_passes_silently(device):
    x, loss = _sqrt_at_zero(device)
    with np.errstate(divide="ignore"):
        loss.backward()
    assert np.isinf(x.grad.numpy()[0])


def test_set_detect_anomaly_as_a_call_and_as_a_context(device):
    assert not tg.autograd.is_anomaly_enabled()
    tg.autograd.set_detect_anomaly(True)
    try:
        assert tg.autograd.is_anomaly_enabled()
        x, loss = _sqrt_at_zero(device)
        with pytest.raises(RuntimeError, match="'sqrt'"):
            loss.backward()
    finally:
        tg.autograd.set_detect_anomaly(False)
    assert not tg.autograd.is_anomaly_enabled()
    with tg.autograd.set_detect_anomaly(True):
        assert tg.autograd.is_anomaly_enabled()
    assert not tg.autograd.is_anomaly_enabled()


def test_detect_anomaly_as_a_decorator():
    @tg.autograd.detect_anomaly(check_forward=True)
    def step():
        assert tg.autograd.is_anomaly_enabled()
        x = tg.tensor([1.0, -1.0], dtype=np.float64, requires_grad=True)
        (x.log() * 0.0).sum().backward()

    assert not tg.autograd.is_anomaly_enabled()  # decorating does not switch it on
    with pytest.raises(RuntimeError, match=r"'log' produced nan"), np.errstate(invalid="ignore"):
        step()
    assert not tg.autograd.is_anomaly_enabled()  # and the error switched it off again


def test_check_forward_reports_nan_from_finite_inputs(device):
    x = tensor_on(np.array([-1.0, 1.0]), device, requires_grad=True)
    with tg.autograd.detect_anomaly(check_forward=True), np.errstate(invalid="ignore"):
        with pytest.raises(RuntimeError, match=r"forward op 'log' produced nan.*\n.*recorded it"
                                               r"(.|\n)*x\.log\(\)"):
            x.log()
        y = (x * np.inf)  # inf from finite inputs is allowed: only NaN is an anomaly
        z = y - y  # inf - inf: NaN from non-finite inputs is reported where it began, not here
        assert np.isnan(z.numpy()).any()
    with tg.autograd.detect_anomaly(), np.errstate(invalid="ignore"):
        x.log()  # check_forward is off by default


def test_a_clean_backward_is_unchanged_in_anomaly_mode(device):
    a = np.array([[0.5, -1.0], [2.0, 0.25]])
    grads = []
    for on in (False, True):
        x = tensor_on(a, device, requires_grad=True)
        with tg.autograd.set_detect_anomaly(on):
            ((x @ x).tanh().sum() * x.exp().mean()).backward()
        grads.append(x.grad.numpy())
    np.testing.assert_array_equal(grads[0], grads[1])


def test_anomaly_under_create_graph():
    x = tg.tensor([0.0, 1.0], dtype=np.float64, requires_grad=True)
    with tg.autograd.detect_anomaly():
        y = (x ** 1.5).sum()
        (g,) = tg.autograd.grad(y, [x], create_graph=True)
        with pytest.raises(RuntimeError, match="'power'|'pow'"), np.errstate(all="ignore"):
            g.sum().backward()


def test_nodes_keep_no_stack_when_the_mode_is_off():
    x = tg.ones(3, requires_grad=True)
    y = x * 2.0
    assert Node.__init__ is anomaly._plain_init  # zero cost: the plain constructor
    assert not hasattr(y.grad_fn, "stack")
    with tg.autograd.detect_anomaly():
        assert Node.__init__ is not anomaly._plain_init
        z = x * 2.0
    assert z.grad_fn.stack
    assert Node.__init__ is anomaly._plain_init


def test_anomaly_mode_is_per_thread():
    seen = {}
    ready = threading.Event()
    release = threading.Event()

    def other():
        seen["start"] = tg.autograd.is_anomaly_enabled()
        x = tg.ones(2, requires_grad=True)
        seen["stack"] = hasattr((x * 2.0).grad_fn, "stack")
        ready.set()
        release.wait(10)

    with tg.autograd.detect_anomaly():
        t = threading.Thread(target=other)
        t.start()
        ready.wait(10)
        assert tg.autograd.is_anomaly_enabled()
        release.set()
        t.join()
    assert seen == {"start": False, "stack": False}


# ---- to_dot ---------------------------------------------------------------------------------
def test_to_dot_describes_ops_shapes_dtypes_leaves_and_saved_bytes(device):
    w = tensor_on(np.ones((3, 4), np.float32), device, requires_grad=True)
    c = tensor_on(np.ones((2, 3), np.float32), device)  # a constant: not a leaf of the graph
    loss = (c @ w).tanh().sum()
    dot = tg.autograd.to_dot(loss)
    assert dot.startswith("digraph tensorgrad {") and dot.rstrip().endswith("}")
    for op in ("matmul", "tanh", "sum"):
        assert re.search(rf'label="{op}\\n', dot), op
    assert "leaf (3, 4) float32\\nrequires_grad=True" in dot
    assert "(2, 4) float32" in dot and "() float32" in dot
    assert dot.count(" -> ") == 3  # w -> matmul -> tanh -> sum
    assert "(2, 3)" not in dot  # the constant input is no vertex
    # matmul saves c (24 B), w (48 B) and its answer (32 B)
    assert 'label="matmul\\n(2, 4) float32\\nsaved 104 B"' in dot
    assert "3 ops, 1 leaves requiring grad" in dot
    loss.backward()
    assert "freed by backward" in tg.autograd.to_dot(loss)


def test_to_dot_of_a_leaf_and_of_a_shared_input():
    x = tg.ones(2, requires_grad=True)
    assert "requires_grad=True" in tg.autograd.to_dot(x)
    dot = tg.autograd.to_dot(x * x)
    assert dot.count(" -> ") == 2 and dot.count("shape=ellipse") == 1


def test_render_dot_without_graphviz_says_what_to_install(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "graphviz", None)  # as if it were not installed
    x = tg.ones(2, requires_grad=True)
    with pytest.raises(ImportError, match=r"pip install graphviz.*to_dot"):
        tg.autograd.render_dot(x * 2.0, str(tmp_path / "g"))
