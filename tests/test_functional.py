"""The autograd-style function transforms: signatures, kinds of values, nesting."""

import math

import numpy as onp
import pytest
from devices import host, numeric_jacobian, on, put

import tensorgrad as tg
import tensorgrad.numpy as np
from tensorgrad import (
    checkpoint,
    deriv,
    elementwise_grad,
    grad,
    grad_and_aux,
    hessian,
    hessian_tensor_product,
    hessian_vector_product,
    holomorphic_grad,
    jacobian,
    jvp,
    make_hvp,
    make_jvp,
    make_vjp,
    tensor_jacobian_product,
    value_and_grad,
    vector_jacobian_product,
    vjp,
)


def test_perturbation_confusion_reverse():
    assert grad(lambda x: x * grad(lambda y: x + y)(1.0))(2.0) == 1.0


def test_perturbation_confusion_forward():
    f = lambda x: x * jvp(lambda y: x + y, (1.0,), (1.0,))[1]
    assert jvp(f, (2.0,), (1.0,))[1] == 1.0


def test_perturbation_confusion_mixed():
    # reverse outside, forward inside, and the other way round
    assert grad(lambda x: x * jvp(lambda y: x + y, (1.0,), (1.0,))[1])(2.0) == 1.0
    assert jvp(lambda x: x * grad(lambda y: x + y)(1.0), (2.0,), (1.0,))[1] == 1.0


def test_grad_returns_the_kind_it_was_given(device):
    f = lambda x: np.sum(np.sin(x))
    assert isinstance(grad(f)(0.5), float)
    x = put(onp.array([0.5, 1.0]), device)
    g = grad(f)(x)
    assert type(g) is type(x) and on(g, device) and g.dtype == onp.float64
    onp.testing.assert_allclose(host(g), onp.cos([0.5, 1.0]), rtol=1e-12)
    t = grad(f)(tg.tensor([0.5, 1.0], device=device))
    assert isinstance(t, tg.Tensor) and t.dtype == onp.float32 and on(t, device)
    onp.testing.assert_allclose(host(t), onp.cos([0.5, 1.0]), rtol=1e-6)


def test_tnp_on_arrays_returns_arrays_and_on_tensors_tensors(device):
    a = put(onp.array([1.0, 2.0]), device)
    assert type(np.exp(a)) is type(a)
    s = np.sum(a)
    assert type(s) is (onp.float64 if device == "cpu" else type(a))  # CuPy: a 0-d array
    assert host(s) == 3.0
    t = np.exp(tg.tensor(a))
    assert isinstance(t, tg.Tensor) and on(t, device)


def test_all_orders_of_nesting_agree(device):
    f = lambda x: np.sin(x) * np.exp(x)
    # exact second derivative: d2/dx2 sin(x) e^x = 2 cos(x) e^x
    want = 2 * math.cos(0.7) * math.exp(0.7)
    # a Python float, and an array on the device (elementwise_grad for its derivatives)
    for x, one, g in [(0.7, 1.0, grad),
                      (put(onp.array([0.7]), device), put(onp.ones(1), device), elementwise_grad)]:
        rr = g(g(f))(x)
        fr = jvp(g(f), (x,), (one,))[1]
        rf = g(lambda x: jvp(f, (x,), (one,))[1])(x)
        ff = jvp(lambda x: jvp(f, (x,), (one,))[1], (x,), (one,))[1]
        for got in (rr, fr, rf, ff):
            assert isinstance(got, float) if g is grad else on(got, device)
            assert host(got) == pytest.approx(want, rel=1e-12)


def test_sixth_derivative_of_tanh_by_nesting(device):
    d = np.tanh
    for _ in range(6):
        d = elementwise_grad(d)
    x = put(onp.linspace(-2, 2, 9), device)
    # compare with finite differences of the fifth derivative
    d5 = np.tanh
    for _ in range(5):
        d5 = elementwise_grad(d5)
    eps = 1e-5
    got = d(x)
    assert on(got, device)
    onp.testing.assert_allclose(host(got), host((d5(x + eps) - d5(x - eps)) / (2 * eps)),
                                rtol=1e-4, atol=1e-4)


def test_elementwise_grad_of_tanh_closed_form(device):
    x = onp.linspace(-3, 3, 13)
    d1 = elementwise_grad(np.tanh)(put(x, device))
    d2 = elementwise_grad(elementwise_grad(np.tanh))(put(x, device))
    assert on(d1, device) and on(d2, device)
    onp.testing.assert_allclose(host(d1), 1 - onp.tanh(x) ** 2, rtol=1e-12)
    onp.testing.assert_allclose(host(d2), -2 * onp.tanh(x) * (1 - onp.tanh(x) ** 2), rtol=1e-10)


def test_hessian_of_quadratic_form(device):
    rng = onp.random.default_rng(0)
    H = rng.standard_normal((5, 5))
    x = rng.standard_normal(5)
    Hd = put(H, device)
    hess = hessian(lambda x: np.dot(x, np.dot(Hd, x)))(put(x, device))
    assert on(hess, device)
    onp.testing.assert_allclose(host(hess), H + H.T, rtol=1e-12, atol=1e-12)


def test_jacobian_against_finite_differences(device):
    f = lambda x: np.tanh(np.outer(x, x[:2]) * 0.3).ravel()
    x = onp.array([0.1, -0.4, 0.8])
    J = jacobian(f)(put(x, device))
    assert on(J, device)
    onp.testing.assert_allclose(host(J), numeric_jacobian(f, x), rtol=1e-6, atol=1e-8)


def test_value_and_grad_and_grad_and_aux(device):
    f = lambda x: np.sum(x ** 3)
    v, g = value_and_grad(f)(put(onp.array([1.0, 2.0]), device))
    assert host(v) == 9.0 and on(g, device)
    onp.testing.assert_allclose(host(g), [3.0, 12.0])
    g2, aux = grad_and_aux(lambda x: (np.sum(x ** 2), "aux"))(put(onp.array([3.0]), device))
    assert aux == "aux" and on(g2, device)
    onp.testing.assert_allclose(host(g2), [6.0])


def test_argnum_int_and_tuple(device):
    f = lambda x, y: np.sum(x * y ** 2)
    x, y = onp.array([1.0, 2.0]), onp.array([3.0, 4.0])
    xd, yd = put(x, device), put(y, device)
    gy = grad(f, 1)(xd, yd)
    assert on(gy, device)
    onp.testing.assert_allclose(host(gy), 2 * x * y)
    gx, gy = grad(f, (0, 1))(xd, yd)
    assert on(gx, device) and on(gy, device)
    onp.testing.assert_allclose(host(gx), y ** 2)
    onp.testing.assert_allclose(host(gy), 2 * x * y)


def test_make_vjp_and_make_jvp_forms(device):
    vjp_fn, value = make_vjp(np.sin)(0.5)
    assert value == pytest.approx(math.sin(0.5))
    assert vjp_fn(2.0) == pytest.approx(2 * math.cos(0.5))
    val, tan = make_jvp(np.sin)(0.5)(3.0)
    assert val == pytest.approx(math.sin(0.5))
    assert tan == pytest.approx(3 * math.cos(0.5))
    # arrays on the device: values, cotangents and tangents stay there
    x = onp.array([0.5, -1.0])
    vjp_fn, value = make_vjp(np.sin)(put(x, device))
    ct = vjp_fn(put(onp.array([2.0, 3.0]), device))
    assert on(value, device) and on(ct, device)
    onp.testing.assert_allclose(host(value), onp.sin(x))
    onp.testing.assert_allclose(host(ct), [2.0, 3.0] * onp.cos(x))
    val, tan = make_jvp(np.sin)(put(x, device))(put(onp.array([3.0, 1.0]), device))
    assert on(val, device) and on(tan, device)
    onp.testing.assert_allclose(host(tan), [3.0, 1.0] * onp.cos(x))


def test_jax_style_vjp_and_jvp(device):
    f = lambda x, y: x * np.sin(y)
    out, fn = vjp(f, 2.0, 0.5)
    assert out == pytest.approx(2 * math.sin(0.5))
    gx, gy = fn(1.0)
    assert gx == pytest.approx(math.sin(0.5))
    assert gy == pytest.approx(2 * math.cos(0.5))
    out, tan = jvp(f, (2.0, 0.5), (1.0, 1.0))
    assert tan == pytest.approx(math.sin(0.5) + 2 * math.cos(0.5))
    x, y = put(onp.array([2.0, 1.0]), device), put(onp.array([0.5, 0.25]), device)
    out, fn = vjp(f, x, y)
    gx, gy = fn(put(onp.ones(2), device))
    assert on(out, device) and on(gx, device) and on(gy, device)
    onp.testing.assert_allclose(host(gx), onp.sin([0.5, 0.25]))
    onp.testing.assert_allclose(host(gy), [2.0, 1.0] * onp.cos([0.5, 0.25]))
    out, tan = jvp(f, (x, y), (put(onp.ones(2), device), put(onp.ones(2), device)))
    assert on(out, device) and on(tan, device)
    onp.testing.assert_allclose(host(tan), onp.sin([0.5, 0.25]) + [2.0, 1.0] * onp.cos(
        [0.5, 0.25]))


def test_hvp_forms_agree_with_hessian(device):
    rng = onp.random.default_rng(1)
    x, v = rng.standard_normal(4), rng.standard_normal(4)
    f = lambda x: np.sum(np.tanh(x) ** 2) + np.prod(x)
    H = host(hessian(f)(put(x, device)))
    xd, vd = put(x, device), put(v, device)
    for got in (hessian_tensor_product(f)(xd, vd), hessian_vector_product(f)(xd, vd)):
        assert on(got, device)
        onp.testing.assert_allclose(host(got), H @ v, rtol=1e-10)
    hvp_fn, g = make_hvp(f)(xd)
    hv = hvp_fn(vd)
    assert on(hv, device) and on(g, device)
    onp.testing.assert_allclose(host(hv), H @ v, rtol=1e-10)
    onp.testing.assert_allclose(host(g), grad(f)(x), rtol=1e-12)
    onp.testing.assert_allclose(H, hessian(f)(x), rtol=1e-12)


def test_tensor_jacobian_product(device):
    f = lambda x: np.sin(x) * x[0]
    x, v = onp.array([0.3, 0.9]), onp.array([1.5, -2.0])
    xd, vd = put(x, device), put(v, device)
    J = host(jacobian(f)(xd))
    for got in (tensor_jacobian_product(f)(xd, vd), vector_jacobian_product(f)(xd, vd)):
        assert on(got, device)
        onp.testing.assert_allclose(host(got), v @ J, rtol=1e-12)


def test_deriv_is_forward_mode_derivative(device):
    assert deriv(np.sin)(0.3) == pytest.approx(math.cos(0.3))
    d = deriv(np.sin)(put(onp.array([0.3, 0.6]), device))
    assert on(d, device)
    onp.testing.assert_allclose(host(d), onp.cos([0.3, 0.6]))


def test_holomorphic_grad(device):
    z = 0.3 + 0.7j
    assert holomorphic_grad(lambda z: z ** 3)(z) == pytest.approx(3 * z ** 2)
    assert holomorphic_grad(np.exp)(z) == pytest.approx(onp.exp(z))
    zs = onp.array([0.3 + 0.7j, -0.2 + 0.1j])
    g = holomorphic_grad(lambda z: np.sum(z ** 3))(put(zs, device))
    assert on(g, device)
    onp.testing.assert_allclose(host(g), 3 * zs ** 2)


def test_checkpoint_gives_the_same_gradients(device):
    f = lambda x: np.sum(np.tanh(np.sin(x) * 3.0))
    x = onp.linspace(-1, 1, 5)
    ck = checkpoint(lambda x: np.tanh(np.sin(x) * 3.0))
    xd = put(x, device)
    got = grad(lambda x: np.sum(ck(x)))(xd)
    assert on(got, device) and on(ck(xd), device)
    onp.testing.assert_allclose(host(got), grad(f)(x), rtol=1e-12)
    tg.check_grads(lambda x: np.sum(ck(x)), order=2)(xd)


def test_grad_of_tensor_function_is_differentiable_on_the_tape(device):
    x = tg.tensor([0.5, 1.5], dtype="float64", requires_grad=True, device=device)
    g = grad(lambda x: np.sum(x ** 3))(x)  # 3x^2, still tied to x
    assert on(g, device)
    g.sum().backward()
    assert on(x.grad, device)
    onp.testing.assert_allclose(x.grad.numpy(), 6 * x.numpy())


def test_grad_ignores_outer_no_grad():
    with tg.no_grad():
        assert grad(lambda x: x * x)(3.0) == 6.0


def test_grad_of_non_scalar_is_an_error(device):
    with pytest.raises(TypeError, match="scalar"):
        grad(lambda x: x * 2)(put(onp.ones(3), device))


def test_user_defined_primitive_lecture_convention(device):
    @tg.primitive
    def logsumexp(x):
        m = onp.max(x)
        return m + onp.log(onp.sum(onp.exp(x - m)))

    tg.defvjp(logsumexp, lambda g, ans, x: g * np.exp(x - ans))
    tg.defjvp(logsumexp, lambda t, ans, x: np.sum(t * np.exp(x - ans)))
    x = onp.array([0.5, -1.0, 2.0])
    g = grad(logsumexp)(put(x, device))
    assert on(g, device)
    onp.testing.assert_allclose(host(g), onp.exp(x) / onp.exp(x).sum())
    tg.check_grads(logsumexp, modes=("fwd", "rev"), order=2)(put(x, device))


def test_check_grads_reports_function_mode_and_order(device):
    @tg.primitive
    def square(x):
        return x * x

    tg.defvjp(square, lambda g, ans, x: g * x)  # wrong on purpose: misses the factor 2
    tg.defjvp(square, lambda t, ans, x: 2 * t * x)
    with pytest.raises(AssertionError, match=r"square.*mode rev, order 1"):
        tg.check_grads(square, modes=("fwd", "rev"))(put(onp.array([0.3, 0.4]), device))
    tg.defvjp(square, lambda g, ans, x: 2 * g * x)
    tg.defjvp(square, lambda t, ans, x: t * x)  # now forward mode is wrong
    with pytest.raises(AssertionError, match=r"square.*mode fwd, order 1"):
        tg.check_grads(square, modes=("fwd", "rev"))(put(onp.array([0.3, 0.4]), device))


def test_gradcheck_pytorch_form(device):
    x = tg.tensor([0.3, -0.2, 0.9], dtype="float64", requires_grad=True, device=device)
    w = tg.tensor([[1.0, 2.0, 0.5]], dtype="float64", requires_grad=True, device=device)
    assert tg.gradcheck(lambda x, w: (w @ x).tanh(), (x, w))
    bad = tg.primitive(lambda x: x ** 2)
    tg.defvjp(bad, lambda g, ans, x: g * x)
    with pytest.raises(RuntimeError, match="Jacobian mismatch"):
        tg.gradcheck(bad, (x,))


def test_gradcheck_of_a_strided_input(device):
    """A transposed (non-contiguous) leaf: the finite differences must move its elements."""
    base = tg.tensor([[0.3, -0.2], [0.9, 0.4], [0.1, 0.7]], dtype="float64", device=device)
    x = base.T.detach().requires_grad_()
    assert not x.data.flags.c_contiguous
    assert tg.gradcheck(lambda x: (x * x).sum(axis=1), (x,))
    bad = tg.primitive(lambda x: x ** 3)
    tg.defvjp(bad, lambda g, ans, x: 2 * g * x)
    with pytest.raises(RuntimeError, match="Jacobian mismatch"):
        tg.gradcheck(bad, (x,))


def test_transforms_run_on_tensors_of_any_device(device):
    x = tg.tensor([0.1, 0.2, 0.3], dtype="float64", device=device)
    g = grad(lambda x: np.sum(np.exp(x)))(x)
    assert g.device == x.device
    onp.testing.assert_allclose(g.numpy(), onp.exp([0.1, 0.2, 0.3]), rtol=1e-12)


def test_user_defined_primitive_autograd_curried_convention(device):
    @tg.primitive
    def cube(x):
        return x ** 3

    tg.defvjp(cube, lambda ans, x: lambda g: 3 * x ** 2 * g)  # HIPS autograd's form
    tg.defjvp(cube, lambda t, ans, x: 3 * x ** 2 * t)
    assert grad(cube)(2.0) == 12.0
    assert grad(grad(cube))(2.0) == 12.0
    tg.check_grads(cube, modes=("fwd", "rev"), order=2)(put(onp.array([0.5, -1.5]), device))
    g = grad(lambda x: np.sum(cube(x)))(put(onp.array([0.5, -1.5]), device))
    assert on(g, device)
    onp.testing.assert_allclose(host(g), 3 * onp.array([0.5, -1.5]) ** 2)


def test_hessian_fast_path_and_nested_path_agree(device):
    rng = onp.random.default_rng(5)
    A = put(rng.standard_normal((4, 4)), device)

    def f(x):
        y = np.tanh(np.dot(A, x))
        z = tg.zeros(4, dtype="float64", device=device)
        z[1:3] = y[:2] * x[2:]  # setitem on the tape: forward sweeps need its JVP too
        return np.sum(y ** 2) + np.sum(z * x) + np.prod(x[:2])

    x = rng.standard_normal(4)
    xd = put(x, device)
    fast = hessian(f)(xd)
    nested = hessian(f)(tg.tensor(xd, requires_grad=True))  # per-column jvp of grad
    jac = jacobian(grad(f))(xd)
    assert on(fast, device) and on(nested, device) and on(jac, device)
    fast = host(fast)
    onp.testing.assert_allclose(fast, nested.detach().numpy(), rtol=1e-10, atol=1e-12)
    onp.testing.assert_allclose(fast, host(jac), rtol=1e-10, atol=1e-12)
    onp.testing.assert_allclose(fast, numeric_jacobian(lambda v: host(grad(f)(put(v, device))),
                                                       x), rtol=1e-6, atol=1e-6)


def test_grad_with_respect_to_containers(device):
    params = put([(onp.array([[1.0, 2.0], [3.0, 4.0]]), onp.array([0.5, -0.5])),
                  {"w": onp.array([1.0, -1.0]), "scale": 2.0}], device)

    def loss(params, x):
        (W, b), head = params
        h = np.tanh(np.dot(x, W) + b)
        return head["scale"] * np.sum(h * head["w"]) ** 2

    x = put(onp.array([[0.1, 0.2], [0.3, -0.4]]), device)
    g = grad(loss)(params, x)
    assert isinstance(g, list) and isinstance(g[0], tuple) and set(g[1]) == {"w", "scale"}
    assert g[1]["scale"].shape == ()  # a number inside a container: a 0-d array, as autograd
    assert on(g[0][0], device) and on(g[0][1], device) and on(g[1]["w"], device)
    loss_h = lambda p, x: float(host(loss(p, x)))
    gW = host(g[0][0])
    # each leaf against finite differences
    eps = 1e-6
    W = params[0][0]
    for idx in onp.ndindex(W.shape):
        d = onp.zeros(W.shape)
        d[idx] = eps
        d = put(d, device)
        up = [(W + d, params[0][1]), params[1]]
        down = [(W - d, params[0][1]), params[1]]
        assert gW[idx] == pytest.approx((loss_h(up, x) - loss_h(down, x)) / (2 * eps), rel=1e-6)
    s = params[1]["scale"]
    up = [params[0], {"w": params[1]["w"], "scale": s + eps}]
    down = [params[0], {"w": params[1]["w"], "scale": s - eps}]
    assert float(host(g[1]["scale"])) == pytest.approx(
        (loss_h(up, x) - loss_h(down, x)) / (2 * eps), rel=1e-6)


def test_jvp_and_vjp_of_containers():
    f = lambda p: {"sum": p[0] * p[1], "diff": p[0] - np.sin(p[1])}
    primal, tangent = jvp(f, ((2.0, 0.5),), ((1.0, 0.0),))
    assert tangent == {"sum": 0.5, "diff": 1.0}
    out, fn = vjp(f, (2.0, 0.5))
    (g,) = fn({"sum": 1.0, "diff": 0.0})
    assert g == (0.5, 2.0)
    assert primal["sum"] == out["sum"] == 1.0


def test_check_grads_on_containers(device):
    def f(params, x):
        W, b = params["layer"]
        return np.tanh(np.dot(x, W) + b) * params["gain"]

    params = {"layer": (onp.array([[0.3, -0.2], [0.1, 0.5]]), onp.array([0.1, 0.0])),
              "gain": onp.array(1.5)}
    tg.check_grads(f, modes=("fwd", "rev"), order=2)(put(params, device),
                                                      put(onp.array([[1.0, -1.0]]), device))


def test_autograd_extend_and_test_util_names(device):
    from tensorgrad.extend import def_linear, defjvp_argnum, defvjp_argnum, notrace_primitive
    from tensorgrad.extend import defvjp as ext_defvjp
    from tensorgrad.extend import primitive as ext_primitive
    from tensorgrad.test_util import check_grads as ag_check_grads

    @ext_primitive
    def scale(x, c):
        return x * c

    defvjp_argnum(scale, lambda argnum, ans, args, kwargs:
                  (lambda g: g * args[1]) if argnum == 0 else (lambda g: np.sum(g * args[0])))
    defjvp_argnum(scale, lambda argnum, t, ans, args, kwargs:
                  t * args[1] if argnum == 0 else args[0] * t)
    x = put(onp.array([1.0, 2.0]), device)
    ag_check_grads(scale, 0, ["fwd", "rev"], order=2)(x, 3.0)
    ag_check_grads(scale, 1, ["fwd", "rev"], order=2)(x, 3.0)

    @ext_primitive
    def double(x):
        return 2 * x

    def_linear(double)
    ext_defvjp(double, lambda ans, x: lambda g: 2 * g)
    tg.check_grads(double, order=2)(x)
    g = tg.grad(lambda x: np.sum(double(x) * scale(x, 3.0)))(x)
    assert on(g, device)
    onp.testing.assert_allclose(host(g), 12 * host(x))
    out = notrace_primitive(lambda a: a.sum())(tg.tensor([1.0, 2.0], requires_grad=True,
                                                         device=device))
    assert on(out, device) and host(out) == 3.0
    ext_defvjp(double, lambda ans, x: lambda g: 3 * g)  # wrong: caught on the device too
    with pytest.raises(AssertionError, match="mode rev"):
        tg.check_grads(double, order=1)(x)


def test_nested_backward_walks_only_toward_its_variables():
    # a VJP rule that runs its own make_vjp over a closure on the node's answer: the inner
    # backward must not wander into the outer graph (it used to recurse forever)
    @tg.primitive
    def sq(x):
        return x ** 2

    tg.defvjp(sq, lambda g, ans, x:
              tg.make_vjp(lambda a: a * ans / x)(x)[0](g) * 2 * x / (ans / x))
    tg.defjvp(sq, lambda t, ans, x: 2 * x * t)
    assert grad(sq)(3.0) == pytest.approx(6.0)
    assert grad(grad(sq))(3.0) == pytest.approx(2.0)


def test_where_differentiates_both_branches_and_the_masking_idiom_avoids_nan(device):
    x = put(onp.array([0.0, 4.0]), device)
    with onp.errstate(divide="ignore", invalid="ignore"):
        naive = grad(lambda x: np.sum(np.where(x > 0, np.sqrt(x), 0.0)))(x)
    assert onp.isnan(host(naive)[0])  # documented: 0 * inf from the branch not taken
    safe = grad(lambda x: np.sum(np.where(x > 0, np.sqrt(np.where(x > 0, x, 1.0)), 0.0)))(x)
    assert on(safe, device)
    onp.testing.assert_allclose(host(safe), [0.0, 0.25])


def test_nested_transform_of_arrays_gives_arrays_as_autograd(device):
    """A transform called inside another on plain arrays, reading nothing of the enclosing
    one, gives plain arrays back (as autograd's: arrays in, arrays out), so its results can go
    to NumPy/SciPy-only code. One that reads the enclosing variable stays on its tape, and the
    outer derivative stays exact."""
    seen = {}

    def outer(x):
        ones = put(onp.ones(3), device)
        inner = tg.grad(lambda y: np.sum(y ** 2))(ones)
        value, g3 = tg.value_and_grad(lambda y: np.sum(y ** 3))(ones)
        hess = tg.hessian(lambda y: np.sum(y ** 3))(ones)
        reads_x = tg.grad(lambda y: np.sum(y * x))(ones)
        # a forward-over-reverse product (a Hessian-vector product, as SciPy's hessp takes)
        hvp = tg.jvp(tg.grad(lambda y: np.sum(y ** 4)), (ones,), (ones,))
        hvp_x = tg.jvp(tg.grad(lambda y: np.sum(y ** 4 * x)), (ones,), (ones,))
        seen.update(inner=inner, value=value, g3=g3, hess=hess, reads_x=reads_x, hvp=hvp[0],
                    hvp_t=hvp[1], hvp_x=hvp_x[1])
        return np.sum(x * inner) + np.sum(reads_x ** 2) + np.sum(hess) * np.sum(x) + \
            np.sum(hvp[1]) * 0 + np.sum(hvp_x[1])

    x = put(onp.array([0.5, -1.0, 2.0]), device)
    g = tg.grad(outer)(x)
    for k in ("inner", "g3", "hess", "hvp", "hvp_t"):
        assert not isinstance(seen[k], tg.Tensor) and on(seen[k], device), k
    onp.testing.assert_array_equal(host(seen["hvp_t"]), [12.0, 12.0, 12.0])
    assert not isinstance(seen["value"], tg.Tensor) and float(host(seen["value"])) == 3.0
    assert isinstance(seen["reads_x"], tg.Tensor)  # depends on x: on the outer tape
    assert isinstance(seen["hvp_x"], tg.Tensor)
    # d/dx [sum(2 x) + sum(x^2) + 18 sum(x) + sum(12 x)] = 2 + 2 x + 18 + 12
    onp.testing.assert_allclose(host(g), 32 + 2 * host(x), rtol=1e-13)
    if pytest.importorskip("autograd"):
        import autograd
        import autograd.numpy as anp

        def outer_ag(x):
            inner = autograd.grad(lambda y: anp.sum(y ** 2))(onp.ones(3))
            assert type(inner) is onp.ndarray
            hvp_x = autograd.make_jvp(autograd.grad(lambda y: anp.sum(y ** 4 * x)))(
                onp.ones(3))(onp.ones(3))[1]
            return anp.sum(x * inner) + anp.sum(autograd.grad(lambda y: anp.sum(y * x))(
                onp.ones(3)) ** 2) + 18 * anp.sum(x) + anp.sum(hvp_x)

        onp.testing.assert_allclose(host(g), autograd.grad(outer_ag)(host(x)), rtol=1e-13)
