"""tensorgrad.misc: flatten (structure, order, differentiability) and the optimizers
(autograd's signatures, containers, callbacks, the same trajectories as autograd's)."""

from collections import OrderedDict, namedtuple

import numpy as onp
import pytest
from devices import host, on, put

import tensorgrad as tg
import tensorgrad.numpy as np
from tensorgrad.misc import flatten, flatten_func
from tensorgrad.misc.fixed_points import fixed_point
from tensorgrad.misc.optimizers import adam, rmsprop, sgd

Pair = namedtuple("Pair", ["w", "b"])


def _nested(device="cpu"):
    return {"layer": [(put(onp.arange(6.0).reshape(2, 3), device),
                       put(onp.array([0.5, -0.5]), device))],
            "scale": 2.0,
            "a_first": Pair(put(onp.ones(2), device), put(onp.zeros((1, 1)), device))}


def _assert_same_tree(x, y):
    assert type(x) is type(y)
    if isinstance(x, dict):
        assert list(x) == list(y) or sorted(x) == sorted(y)
        for k in x:
            _assert_same_tree(x[k], y[k])
    elif isinstance(x, (list, tuple)):
        assert len(x) == len(y)
        for a, b in zip(x, y):
            _assert_same_tree(a, b)
    else:
        onp.testing.assert_allclose(host(x), host(y))
        assert onp.shape(x) == onp.shape(y)


def test_flatten_round_trip_and_order(device):
    value = _nested(device)
    flat, unflatten = flatten(value)
    assert on(flat, device)
    # dict keys sorted: a_first, layer, scale
    onp.testing.assert_array_equal(host(flat), [1, 1, 0, 0, 1, 2, 3, 4, 5, 0.5, -0.5, 2.0])
    back = unflatten(flat)
    assert on(back["layer"][0][0], device) and on(back["scale"], device)
    _assert_same_tree(back, {**value, "scale": put(onp.asarray(2.0), device)})
    assert isinstance(back["a_first"], Pair)
    doubled = unflatten(flat * 2)
    onp.testing.assert_array_equal(host(doubled["layer"][0][0]),
                                   host(value["layer"][0][0]) * 2)
    with pytest.raises(ValueError, match="length 12"):
        unflatten(put(onp.zeros(3), device))


def test_flatten_edge_cases(device):
    flat, unflatten = flatten([])
    assert flat.shape == (0,)
    assert unflatten(flat) == []
    flat, unflatten = flatten(OrderedDict([("b", 1.0), ("a", put(onp.zeros(2), device))]))
    assert on(flat, device)
    onp.testing.assert_array_equal(host(flat), [0.0, 0.0, 1.0])
    assert isinstance(unflatten(flat), OrderedDict)
    flat, unflatten = flatten({1: put(onp.ones(1), device), "x": put(onp.zeros(1), device)})
    assert flat.shape == (2,) and on(flat, device)
    flat32, _ = flatten(put([onp.ones(2, onp.float32), onp.zeros(3, onp.float32)], device))
    assert flat32.dtype == onp.float32 and on(flat32, device)
    t = tg.tensor([1.0, 2.0], device=device)
    flat, unflatten = flatten([t, 3.0])  # a number beside a Tensor joins it on its device
    assert isinstance(flat, tg.Tensor) and on(flat, device)
    onp.testing.assert_array_equal(host(flat), [1.0, 2.0, 3.0])


def test_flatten_is_differentiable_both_ways(device):
    value = _nested(device)
    flat, unflatten = flatten(value)

    def through_unflatten(v):
        tree = unflatten(v)
        w, b = tree["layer"][0]
        return np.sum(np.tanh(w) ** 2) + np.sum(b * tree["scale"]) + np.sum(tree["a_first"].w)

    tg.check_grads(through_unflatten, modes=("fwd", "rev"), order=2)(flat)

    def through_flatten(w, b):
        f, _ = flatten({"w": w, "b": [b, b * 2]})
        return np.sum(np.sin(f))

    tg.check_grads(through_flatten, order=2)(put(onp.ones((2, 2)), device),
                                              put(onp.arange(3.0), device))
    g = tg.grad(through_flatten, 1)(put(onp.ones((2, 2)), device), put(onp.arange(3.0), device))
    assert on(g, device)
    onp.testing.assert_allclose(host(g), onp.cos(onp.arange(3.0))
                                + 2 * onp.cos(2 * onp.arange(3.0)))
    t = tg.tensor(onp.ones(3), requires_grad=True, device=device)
    f, unflat = flatten([t, t * 2])
    assert isinstance(f, tg.Tensor) and f.requires_grad and on(f, device)
    assert isinstance(unflat(f)[1], tg.Tensor)


def test_flatten_matches_autograd():
    ag_flatten = pytest.importorskip("autograd.misc").flatten
    value = _nested()
    value["a_first"] = tuple(value["a_first"])  # autograd takes plain tuples only
    onp.testing.assert_array_equal(flatten(value)[0], ag_flatten(value)[0])


def test_flatten_func(device):
    def f(tree, k):
        return {"out": [tree["x"] * k, np.sum(tree["y"])]}

    flat_f, unflatten, flat_x = flatten_func(f, put({"x": onp.ones(2), "y": onp.arange(3.0)},
                                                    device))
    out = flat_f(flat_x, 3.0)
    assert on(flat_x, device) and on(out, device)
    onp.testing.assert_array_equal(host(out), [3.0, 3.0, 3.0])
    assert set(unflatten(flat_x)) == {"x", "y"}


# ---- optimizers --------------------------------------------------------------------------
TARGET = {"w": onp.array([[1.0, -2.0], [0.5, 3.0]]), "b": [onp.array([0.25]), -1.5]}
FLAT_TARGET, _unflat = flatten(TARGET)


def _quadratic_grad_on(device):
    target = put(TARGET, device)

    def grad(tree, i):
        """grad of 0.5 * |x - target|^2, written by hand on the structure."""
        return {"w": tree["w"] - target["w"],
                "b": [tree["b"][0] - target["b"][0], tree["b"][1] - target["b"][1]]}

    return grad


_quadratic_grad = _quadratic_grad_on("cpu")


def _start(device="cpu"):
    return put({"w": onp.zeros((2, 2)), "b": [onp.zeros(1), 0.0]}, device)


@pytest.mark.parametrize("opt, kw", [(sgd, dict(num_iters=300, step_size=0.2)),
                                     (rmsprop, dict(num_iters=400, step_size=0.05)),
                                     (adam, dict(num_iters=400, step_size=0.1))])
def test_optimizers_converge_on_containers(opt, kw, device):
    seen = []

    def callback(x, i, g):
        assert set(x) == {"w", "b"} and set(g) == {"w", "b"}
        assert on(x["w"], device) and on(g["w"], device)
        seen.append(i)

    out = opt(_quadratic_grad_on(device), _start(device), callback=callback, **kw)
    assert seen == list(range(kw["num_iters"]))
    assert set(out) == {"w", "b"} and isinstance(out["b"], list)
    assert on(out["w"], device) and on(out["b"][1], device)
    onp.testing.assert_allclose(host(flatten(out)[0]), FLAT_TARGET, atol=2e-2)


def test_optimizers_with_grad_of_containers(device):
    target = put(TARGET, device)

    def loss(tree, i):
        return (np.sum((tree["w"] - target["w"]) ** 2)
                + np.sum((tree["b"][0] - target["b"][0]) ** 2)
                + (tree["b"][1] - target["b"][1]) ** 2)

    out = adam(tg.grad(loss), _start(device), num_iters=400, step_size=0.1)
    assert on(out["w"], device)
    onp.testing.assert_allclose(host(flatten(out)[0]), FLAT_TARGET, atol=2e-2)


def test_optimizers_keep_float32_and_plain_arrays(device):
    x0 = put(onp.zeros(3, onp.float32), device)
    for opt in (sgd, rmsprop, adam):
        out = opt(lambda x, i: x - 1, x0, num_iters=5, step_size=0.1)
        assert type(out) is type(x0) and out.dtype == onp.float32 and on(out, device)


@pytest.mark.parametrize("name", ["sgd", "rmsprop", "adam"])
def test_optimizers_match_autograd(name, device):
    ag_opt = pytest.importorskip("autograd.misc.optimizers")
    ours = {"sgd": sgd, "rmsprop": rmsprop, "adam": adam}[name]
    theirs = getattr(ag_opt, name)
    kw = dict(num_iters=25, step_size=0.05)
    a = ours(_quadratic_grad_on(device), _start(device), **kw)
    b = theirs(_quadratic_grad, _start(), **kw)
    assert on(a["w"], device)
    onp.testing.assert_allclose(host(flatten(a)[0]), flatten(b)[0], rtol=1e-12, atol=1e-14)


def test_optimizer_run_is_differentiable(device):
    # meta-gradient: d(final loss)/d(step size) through 20 steps of sgd, checked numerically
    start = put(onp.zeros(2), device)

    def final_loss(step):
        x = sgd(lambda x, i: 2 * (x - 3.0), start + 0.0 * step, num_iters=20, step_size=step)
        return np.sum((x - 3.0) ** 2)

    eps = 1e-6
    numeric = (host(final_loss(0.3 + eps)) - host(final_loss(0.3 - eps))) / (2 * eps)
    step = put(onp.array(0.3), device)  # the step size on the device, as a 0-d array
    g = tg.grad(final_loss)(step)
    assert on(g, device)
    assert abs(host(g) - numeric) < 1e-6 * max(1.0, abs(numeric))
    if device == "cpu":  # a Python float step size (a host value: it cannot meet CuPy data)
        g = tg.grad(final_loss)(0.3)
        assert isinstance(g, float)
        assert abs(g - numeric) < 1e-6 * max(1.0, abs(numeric))


# ---- fixed points ------------------------------------------------------------------------
def _max_abs_diff(x, y):
    return np.max(np.abs(x - y))


def _heron_sqrt(a):
    return fixed_point(lambda a: lambda x: 0.5 * (x + a / x), a, 1.0, _max_abs_diff, 1e-13)


def test_fixed_point_derivatives_without_unrolling(device):
    a = onp.array([2.0, 3.0, 0.5])
    ad = put(a, device)
    root = _heron_sqrt(ad)
    assert on(root, device)
    onp.testing.assert_allclose(host(root), onp.sqrt(a))
    g = tg.grad(lambda a: np.sum(_heron_sqrt(a)))(ad)
    assert on(g, device)
    onp.testing.assert_allclose(host(g), 0.5 / onp.sqrt(a), rtol=1e-10)
    assert abs(tg.grad(tg.grad(_heron_sqrt))(2.0) + 0.25 * 2.0 ** -1.5) < 1e-10
    assert abs(tg.deriv(tg.deriv(_heron_sqrt))(2.0) + 0.25 * 2.0 ** -1.5) < 1e-10
    d2 = tg.elementwise_grad(tg.elementwise_grad(_heron_sqrt))(ad)
    assert on(d2, device)
    onp.testing.assert_allclose(host(d2), -0.25 * a ** -1.5, rtol=1e-8)
    tg.check_grads(_heron_sqrt, modes=("fwd", "rev"), order=2)(ad)


def test_fixed_point_matches_autograd(device):
    ag = pytest.importorskip("autograd")
    from autograd.misc.fixed_points import fixed_point as ag_fixed_point

    def step(a):
        return lambda x: x - 0.05 * (x ** 2 - a)

    def ours(a):
        return fixed_point(step, a, 10.0, _max_abs_diff, 1e-4)

    def theirs(a):
        return ag_fixed_point(step, a, 10.0, lambda x, y: abs(x - y), 1e-4)

    assert ours(2.0) == pytest.approx(theirs(2.0), rel=1e-14)
    assert tg.grad(ours)(2.0) == pytest.approx(ag.grad(theirs)(2.0), rel=1e-12)
    assert tg.grad(tg.grad(ours))(2.0) == pytest.approx(ag.grad(ag.grad(theirs))(2.0),
                                                        rel=1e-10)
    a = put(onp.array(2.0), device)  # a 0-d array on the device
    value, g = tg.value_and_grad(ours)(a)
    assert on(value, device) and on(g, device)
    assert host(value) == pytest.approx(theirs(2.0), rel=1e-14)
    assert host(g) == pytest.approx(ag.grad(theirs)(2.0), rel=1e-12)
    assert host(tg.grad(tg.grad(ours))(a)) == pytest.approx(ag.grad(ag.grad(theirs))(2.0),
                                                            rel=1e-10)
    # a number parameter with the starting point on the device
    x = fixed_point(step, 2.0, put(onp.array(10.0), device), _max_abs_diff, 1e-4)
    assert on(x, device) and host(x) == pytest.approx(theirs(2.0), rel=1e-14)
