"""Patterns PennyLane's autograd interface relies on (found by running PennyLane under the hook,
see README's section for autograd users), each reproduced without PennyLane: the hook's modules
list their names in ``vars()``; ``autograd.tracer.trace_stack`` imports; traced values wear an
``ArrayBox``'s face (``_value``, autograd's package as their type's module) while the hook is
installed; a user primitive takes traced values inside a tuple of lists (autograd's
``builtins.tuple``/``list``), returns several (nested) outputs, runs its kernel once, and may
meet traced values through an object argument."""

import copy
import pickle

import numpy as onp
import pytest
from devices import host, numeric_jacobian, on, put

import tensorgrad as tg
from tensorgrad import autograd_compat
from tensorgrad.tensor import Tensor


def test_hook_modules_list_their_names_in_vars():
    """PennyLane wraps every function in ``vars(autograd.numpy)``; ``ndarray`` stays computed
    on use (it depends on the default device)."""
    with autograd_compat.installed():
        import autograd.numpy as np
        import autograd.numpy.linalg as la

        names = vars(np)
        for name in ("sin", "array", "stack", "sum", "tensordot", "linalg", "float64"):
            assert name in names, name
        assert names["sin"] is np.sin and "solve" in vars(la)
        assert "ndarray" not in names and np.ndarray is onp.ndarray
        wrapped = {k: v for k, v in names.items() if callable(v) and not isinstance(v, type)}
        assert len(wrapped) > 300
        from autograd import grad

        assert float(grad(lambda x: names["sin"](x))(0.5)) == pytest.approx(onp.cos(0.5))


def test_trace_stack_imports_and_names_itself_when_used():
    with autograd_compat.installed():
        from autograd.tracer import new_box, trace_stack  # noqa: F401

        with pytest.raises(NotImplementedError, match="trace_stack"):
            trace_stack.new_trace()
        assert "trace_stack" in repr(trace_stack) and not hasattr(trace_stack, "__wrapped__")


def test_traced_values_wear_an_arrayboxs_face_under_the_hook_only():
    seen = {}

    def f(x):
        seen["module"] = type(x).__module__
        seen["value"] = x._value
        return (x ** 2).sum()

    with autograd_compat.installed():
        from autograd import grad

        g = grad(f)(onp.array([1.0, 2.0]))
        t = tg.tensor([1.0, 2.0], requires_grad=True)
        blob = pickle.dumps(t)  # pickles name tensorgrad's class, not autograd's module
        assert type(pickle.loads(blob)) is Tensor
        assert host(copy.deepcopy(t)).tolist() == [1.0, 2.0]
    onp.testing.assert_array_equal(g, [2.0, 4.0])
    assert seen["module"].split(".")[0] == "autograd"
    assert type(seen["value"]) is onp.ndarray and seen["value"].tolist() == [1.0, 2.0]
    assert Tensor.__module__ == "tensorgrad.tensor" and not hasattr(t, "_value")
    restored = pickle.loads(blob)
    assert type(restored) is Tensor and restored.requires_grad
    assert host(restored).tolist() == [1.0, 2.0]


# ---- a primitive of a tuple of lists of traced values, as PennyLane's circuit execution -------
class Runs:
    """Counts the kernel's and the rule's runs."""

    def __init__(self):
        self.kernel = self.rule = 0


def _circuits(runs, extend):
    """``execute(params, weights)``: ``params`` a tuple of lists of 0-d arrays (one list per
    circuit); one output per circuit, the second a pair (nested, as a circuit with two
    measurements). The rule gives the cotangent of each list as ONE array (PennyLane's
    ``jpc.compute_vjp``), and of the second list as a list. Written with ``tensorgrad.numpy``
    (autograd's numpy under the hook), so the rule is differentiable itself."""
    np = tg.numpy

    def values(params, weights):
        (a, b), (c,) = params
        return (weights[0] * np.sin(a) * b, (np.cos(c) * b, weights[1] * a * c))

    @extend.primitive
    def execute(params, weights):
        runs.kernel += 1
        return values(params, weights)

    def vjp(ans, params, weights):
        (a, b), (c,) = params

        def rule(gs):
            runs.rule += 1
            g0, (g1, g2) = gs
            da = g0 * weights[0] * np.cos(a) * b + g2 * weights[1] * c
            db = g0 * weights[0] * np.sin(a) + g1 * np.cos(c)
            dc = -g1 * np.sin(c) * b + g2 * weights[1] * a
            return (np.stack([da, db]), [dc])

        return rule

    extend.defvjp(execute, vjp, argnums=[0])
    return execute


def _cost(execute):
    def cost(x):
        params = (list([x[0], x[1]]), list([x[2]]))
        out, (p, q) = execute(params, (2.0, 0.5))
        return out + 3.0 * p - q

    return cost


def test_primitive_of_a_tuple_of_lists_of_traced_values(device):
    """The gradient reaches each traced value inside the containers (it was silently zero:
    the primitive saw no traced argument), the rule runs once per cotangent rather than once
    per traced value, and the value matches the kernel on raw arrays."""
    from tensorgrad import extend

    runs = Runs()
    execute = _circuits(runs, extend)
    x = put(onp.array([0.4, -1.3, 0.9]), device)
    cost = _cost(execute)
    value = cost(x)
    a, b, c = host(x)
    expected = 2.0 * onp.sin(a) * b + 3.0 * onp.cos(c) * b - 0.5 * a * c
    assert runs.kernel == 1 and float(host(value)) == pytest.approx(expected, rel=1e-12)
    g = tg.grad(cost)(x)
    assert on(g, device)
    numeric = numeric_jacobian(lambda v: host(cost(put(v, device))), host(x))
    onp.testing.assert_allclose(host(g), numeric, rtol=1e-8, atol=1e-9)
    # three outputs (one nested pair), one run of the rule for each one's cotangent, not one
    # per output and traced value (nine)
    assert runs.rule == 3
    tg.check_grads(cost, modes=["rev"], order=2)(x)


def test_primitive_of_containers_gives_the_jacobian_of_every_output(device):
    from tensorgrad import extend

    runs = Runs()
    execute = _circuits(runs, extend)

    def outputs(x):
        out, (p, q) = execute(([x[0], x[1]], [x[2]]), (2.0, 0.5))
        return tg.numpy.stack([out, p, q])

    x = put(onp.array([0.4, -1.3, 0.9]), device)
    jac = tg.jacobian(outputs)(x)
    numeric = numeric_jacobian(lambda v: host(outputs(put(v, device))), host(x))
    onp.testing.assert_allclose(host(jac), numeric, rtol=1e-8, atol=1e-9)


def test_primitive_of_containers_without_a_rule_for_them_is_unchanged():
    """No VJP declared for the container argument: its traced values reach the function
    itself, which is traced through (as before, and as autograd does for a plain list)."""
    from tensorgrad import extend

    @extend.primitive
    def total(xs, w):
        return sum(x * w for x in xs)

    extend.defvjp(total, None, lambda ans, xs, w: lambda g: g * sum(xs))
    g = tg.grad(lambda v: total([v[0], v[1] ** 2], 3.0))(onp.array([1.0, 2.0]))
    onp.testing.assert_allclose(g, [3.0, 12.0])


def test_several_outputs_run_the_kernel_once_on_the_first_call():
    from tensorgrad import extend

    calls = []

    @extend.primitive
    def pair(x):
        calls.append(1)
        return onp.sin(x), onp.cos(x)

    extend.defvjp(pair, lambda ans, x: lambda g: g[0] * ans[1] - g[1] * ans[0])
    s, c = pair(onp.array(0.3))
    assert len(calls) == 1 and s == pytest.approx(onp.sin(0.3))
    g = tg.grad(lambda x: pair(x)[0] * pair(x)[1])(0.3)
    assert g == pytest.approx(onp.cos(0.6))


def test_kernel_that_meets_traced_values_by_an_object_and_calls_itself_again():
    """PennyLane's executions: the kernel reads traced values from an object argument (its
    circuits) and, for higher derivatives, calls the same primitive again before its first
    call has returned. As autograd: the answer is their value, the derivative the rule's."""
    from tensorgrad import extend

    class Circuit:
        def __init__(self, theta):
            self.theta = theta

    @extend.primitive
    def run(params, circuit, depth):
        if depth:  # calls itself, with the circuit's traced parameter
            inner = run([circuit.theta], circuit, depth - 1)
            return inner[0] * 2.0, inner[1]
        return tg.numpy.sin(circuit.theta), tg.numpy.cos(circuit.theta)

    def vjp(ans, params, circuit, depth):
        np = tg.numpy
        scale = 2.0 ** depth
        return lambda gs: [scale * gs[0] * np.cos(params[0]) - gs[1] * np.sin(params[0])]

    extend.defvjp(run, vjp, argnums=[0])

    def f(t):
        s, c = run([t], Circuit(t), 1)
        return s + c

    value = f(0.7)
    assert float(host(value)) == pytest.approx(2 * onp.sin(0.7) + onp.cos(0.7))
    g = tg.grad(f)(0.7)
    assert g == pytest.approx(2 * onp.cos(0.7) - onp.sin(0.7), rel=1e-12)
    numeric = (f(0.7 + 1e-6) - f(0.7 - 1e-6)) / 2e-6
    assert g == pytest.approx(float(host(numeric)), rel=1e-8)


def test_several_outputs_whose_count_changes_between_calls(device):
    """One primitive called for two outputs, then for one (PennyLane's execution of chained
    circuits): the rules of the first call's outputs still find their answers."""
    from tensorgrad import extend

    @extend.primitive
    def measure(x, n):
        return tuple(tg.numpy.sin(x * (k + 1)) for k in range(n))

    def vjp(ans, x, n):
        return lambda gs: sum(g * (k + 1) * tg.numpy.cos(x * (k + 1)) for k, g in enumerate(gs))

    extend.defvjp(measure, vjp)

    def f(x):
        a, b = measure(x, 2)
        (c,) = measure(a * b, 1)
        return c

    x = put(onp.array(0.3), device)
    g = tg.grad(f)(x)
    numeric = numeric_jacobian(lambda v: host(f(put(v, device))), host(x))
    onp.testing.assert_allclose(host(g), numeric, rtol=1e-8)
