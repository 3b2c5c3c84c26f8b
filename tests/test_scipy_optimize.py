"""tensorgrad.scipy.optimize: minimize, root and fsolve as SciPy's, and the derivatives of their
solutions in the parameters passed through ``args`` (implicit function theorem), in both modes
and to second order, checked against closed forms, finite differences and SciPy's solutions.

On the cpu SciPy's solvers run; on the cuda device (the CuPy stand-in) tensorgrad's own BFGS
and Newton iterations do, so both paths are covered."""

import numpy as np
import pytest
from devices import host, put

import tensorgrad as tg
import tensorgrad.numpy as tnp
from tensorgrad.scipy import optimize as opt

RNG = np.random.default_rng(7)
A = RNG.standard_normal((8, 3))
B = RNG.standard_normal(8)
M = RNG.standard_normal((3, 3)) + 3 * np.eye(3)
C = RNG.standard_normal(3)


def _ridge(dev):
    a, b, eye = put(A, dev), put(B, dev), put(np.eye(3), dev)

    def f(x, lam):
        return tnp.sum((a @ x - b) ** 2) + lam * tnp.sum(x ** 2)

    def closed(lam):
        return tnp.linalg.solve(a.T @ a + lam * eye, a.T @ b)

    return f, closed


def _system(dev):
    m, c = put(M, dev), put(C, dev)

    def F(x, th, s):
        return m @ x + th * tnp.sin(x) + s * x ** 3 - c

    return F


def _close(x, y, rtol=1e-7, atol=1e-9):
    np.testing.assert_allclose(host(x), host(y), rtol=rtol, atol=atol)


# ---- minimize -----------------------------------------------------------------------------------
def test_minimize_solution_and_its_derivatives_match_the_closed_form(device):
    f, closed = _ridge(device)
    x0 = put(np.zeros(3), device)

    def sol(lam):
        return opt.minimize(f, x0, args=(lam,), tol=1e-12).x

    res = opt.minimize(f, x0, args=(0.5,), tol=1e-12)
    _close(res.x, closed(0.5))
    _close(tg.jacobian(sol)(0.5), tg.jacobian(closed)(0.5), rtol=1e-6)
    _close(tg.jvp(sol, (0.5,), (1.0,))[1], tg.jacobian(closed)(0.5), rtol=1e-6)

    def loss(fn):
        return lambda lam: tnp.sum(fn(lam) ** 3)

    _close(tg.hessian(loss(sol))(0.5), tg.hessian(loss(closed))(0.5), rtol=1e-5)


def test_minimize_tape_backward_and_the_envelope_theorem(device):
    """res.fun's gradient in the parameters is the partial derivative at the solution."""
    def f(x, a):
        return tnp.sum((x - a) ** 2) + tnp.sum(x ** 4)

    a = tg.tensor(put(np.array([1.0, -2.0]), device), requires_grad=True)
    res = opt.minimize(f, put(np.zeros(2), device), args=(a,), tol=1e-12)
    res.fun.backward()
    _close(a.grad, -2 * (res.x.detach() - a.detach()), rtol=1e-6)
    # stationarity of the solution itself: 2 (x - a) + 4 x^3 = 0
    x = host(res.x.detach())
    np.testing.assert_allclose(2 * (x - [1.0, -2.0]) + 4 * x ** 3, 0, atol=1e-8)


@pytest.mark.parametrize("method", ["BFGS", "L-BFGS-B", "Newton-CG", "trust-exact",
                                    "trust-krylov", "CG"])
def test_minimize_scipy_methods_on_the_host(method):
    f, closed = _ridge("cpu")
    options = {"gtol": 1e-12} if method in ("BFGS", "CG", "trust-exact", "trust-krylov") else {}
    if method == "L-BFGS-B":
        options = {"gtol": 1e-14, "ftol": 1e-16}
    if method == "Newton-CG":
        options = {"xtol": 1e-14}
    res = opt.minimize(f, np.zeros(3), args=(0.5,), method=method, options=options)
    _close(res.x, closed(0.5), rtol=1e-6)
    grads = tg.jacobian(lambda lam: opt.minimize(f, np.zeros(3), args=(lam,), method=method,
                                                 options=options).x)(0.5)
    _close(grads, tg.jacobian(closed)(0.5), rtol=1e-5)


def test_minimize_matches_scipy_directly():
    scipy_optimize = pytest.importorskip("scipy.optimize")

    def f(x, c):
        return tnp.sum(tnp.cosh(x - c)) + 0.1 * tnp.sum(x ** 4)

    c = np.array([0.3, -1.2, 2.0])
    ours = opt.minimize(f, np.zeros(3), args=(c,))
    theirs = scipy_optimize.minimize(lambda x: float(f(x, c)), np.zeros(3),
                                     jac=lambda x: tg.grad(f)(x, c))
    np.testing.assert_allclose(ours.x, theirs.x, rtol=1e-10)
    assert ours.nit == theirs.nit and ours.success == theirs.success


def test_minimize_with_an_active_bound():
    """A component pinned at its bound does not move with the parameters; the free ones
    follow the free problem's closed form."""
    def f(x, a):
        return tnp.sum((x - a) ** 2) + x[0] * x[1]

    a0 = np.array([-1.0, 2.0])
    bounds = [(0.0, None), (None, None)]

    def sol(a):
        return opt.minimize(f, np.array([1.0, 1.0]), args=(a,), bounds=bounds,
                            options={"gtol": 1e-14, "ftol": 1e-16}).x

    x = sol(a0)
    np.testing.assert_allclose(x, [0.0, 2.0], atol=1e-8)  # x0 at its bound; x1 = a1 - x0 / 2
    jac = tg.jacobian(sol)(a0)
    np.testing.assert_allclose(jac, [[0.0, 0.0], [0.0, 1.0]], atol=1e-8)
    _close(tg.jvp(sol, (a0,), (np.array([0.3, 0.7]),))[1], [0.0, 0.7])


def test_minimize_check_grads_second_order_both_modes(device, monkeypatch):
    # tensorgrad's BFGS on both devices: it reaches the stationary point to rounding, so that
    # finite differences of the solution are accurate (SciPy's stop near 1e-8)
    monkeypatch.setattr(opt, "_scipy_optimize", lambda: None)

    def f(x, p):
        return tnp.sum(tnp.exp(0.3 * x) - p[:2] * x) + p[2] * tnp.sum(x ** 2)

    x0 = put(np.zeros(2), device)

    def g(p):
        res = opt.minimize(f, x0, args=(p,), tol=1e-13)
        return tnp.sum(res.x ** 2) + res.fun

    tg.check_grads(g, modes=("fwd", "rev"), order=2)(put(np.array([0.8, 1.3, 0.4]), device))


# ---- root and fsolve ----------------------------------------------------------------------------
def test_root_derivatives_against_finite_differences(device):
    F = _system(device)
    x0 = put(np.zeros(3), device)

    def sol(th, s):
        return opt.root(F, x0, args=(th, s), tol=1e-13).x

    th, s = 0.3, 0.05
    res = opt.root(F, x0, args=(th, s), tol=1e-13)
    assert res.success
    _close(F(res.x, th, s), np.zeros(3), atol=1e-11)
    h = 1e-6
    fd_th = (host(sol(th + h, s)) - host(sol(th - h, s))) / (2 * h)
    fd_s = (host(sol(th, s + h)) - host(sol(th, s - h))) / (2 * h)
    jac_th, jac_s = tg.jacobian(sol, 0)(th, s), tg.jacobian(sol, 1)(th, s)
    _close(jac_th, fd_th, rtol=1e-6, atol=1e-8)
    _close(jac_s, fd_s, rtol=1e-6, atol=1e-8)
    tg.check_grads(lambda t: tnp.sum(sol(t, s) ** 2), modes=("fwd", "rev"),
                   order=2)(put(np.array(th), device))


def test_root_on_the_tape(device):
    F = _system(device)
    th = tg.tensor(put(np.array(0.3), device), requires_grad=True)
    x = opt.root(F, put(np.zeros(3), device), args=(th, 0.05), tol=1e-13).x
    assert x.requires_grad and x.grad_fn is not None
    (x ** 2).sum().backward()
    expected = tg.grad(lambda t: tnp.sum(opt.root(F, put(np.zeros(3), device),
                                                  args=(t, 0.05), tol=1e-13).x ** 2))(0.3)
    _close(th.grad, expected, rtol=1e-10)


def test_fsolve_is_roots_x(device):
    F = _system(device)
    x0 = put(np.zeros(3), device)
    x = opt.fsolve(F, x0, args=(0.3, 0.05))
    _close(x, opt.root(F, x0, args=(0.3, 0.05)).x, rtol=1e-7)
    x, info, ier, msg = opt.fsolve(F, x0, args=(0.3, 0.05), full_output=True)
    assert "nfev" in info and isinstance(msg, str)
    grad = tg.grad(lambda t: tnp.sum(opt.fsolve(F, x0, args=(t, 0.05), xtol=1e-13)))(0.3)
    fd = (host(tnp.sum(opt.fsolve(F, x0, args=(0.3 + 1e-6, 0.05), xtol=1e-13)))
          - host(tnp.sum(opt.fsolve(F, x0, args=(0.3 - 1e-6, 0.05), xtol=1e-13)))) / 2e-6
    np.testing.assert_allclose(host(grad), fd, rtol=1e-6)


def test_root_matches_scipy():
    scipy_optimize = pytest.importorskip("scipy.optimize")
    F = _system("cpu")
    ours = opt.root(F, np.zeros(3), args=(0.3, 0.05))
    theirs = scipy_optimize.root(lambda x: F(x, 0.3, 0.05), np.zeros(3))
    np.testing.assert_allclose(ours.x, theirs.x, rtol=1e-8)


def test_own_newton_and_bfgs_on_the_host(monkeypatch):
    """Without SciPy the host runs the solvers the GPU runs."""
    monkeypatch.setattr(opt, "_scipy_optimize", lambda: None)
    f, closed = _ridge("cpu")
    res = opt.minimize(f, np.zeros(3), args=(0.5,), tol=1e-12)
    assert res.success and res.message.startswith("Optimization terminated")
    _close(res.x, closed(0.5))
    assert res.hess_inv.shape == (3, 3)
    F = _system("cpu")
    res = opt.root(F, np.zeros(3), args=(0.3, 0.05))
    assert res.success and res.nit < 10
    _close(F(res.x, 0.3, 0.05), np.zeros(3), atol=1e-12)
    with pytest.raises(NotImplementedError, match="method 'Nelder-Mead' is not available "
                                                  "without SciPy"):
        opt.minimize(f, np.zeros(3), args=(0.5,), method="Nelder-Mead")


# ---- errors ---------------------------------------------------------------------------------
def test_a_parameter_read_from_outside_args_is_refused(device):
    lam = tg.tensor(put(np.array(0.5), device), requires_grad=True)
    f, _ = _ridge(device)
    with pytest.raises(ValueError, match="minimize: fun returned a Tensor that carries a "
                                         "derivative .* Pass that Tensor in args"):
        opt.minimize(lambda x: f(x, lam), put(np.zeros(3), device))
    with pytest.raises(ValueError, match="root: fun returned a Tensor"):
        tg.grad(lambda t: tnp.sum(opt.root(lambda x: _system(device)(x, t, 0.0),
                                           put(np.zeros(3), device)).x))(0.3)


def test_bad_problems_name_the_op_and_the_shapes(device):
    f, _ = _ridge(device)
    with pytest.raises(NotImplementedError, match="minimize: constraints are not supported"):
        opt.minimize(f, put(np.zeros(3), device), args=(0.5,),
                     constraints=[{"type": "eq", "fun": lambda x: x[0]}])
    with pytest.raises(ValueError, match=r"minimize: x0 must be 1-D .* got shape \(3, 1\)"):
        opt.minimize(f, put(np.zeros((3, 1)), device), args=(0.5,))
    if device != "cpu":
        with pytest.raises(NotImplementedError, match="method 'Powell' is not available on the "
                                                      "cuda device"):
            opt.minimize(f, put(np.zeros(3), device), args=(0.5,), method="Powell")
        with pytest.raises(ValueError, match=r"root: fun must return as many values as x has, "
                                             r"got shape \(2,\) for x of shape \(3,\)"):
            opt.root(lambda x: x[:2], put(np.zeros(3), device))


def test_torch_style_tensors_and_backward(device):
    """Tensors everywhere, as a PyTorch user writes it: x0 a Tensor, data and the penalty in
    args, and .backward() through the solution into the penalty."""
    rng = np.random.default_rng(3)
    X = tg.tensor(put(rng.standard_normal((20, 3)), device))
    y = tg.tensor(put(rng.standard_normal(20), device))
    lam = tg.tensor(put(np.array(0.3), device), requires_grad=True)

    def loss(w, lam, X, y):
        return ((X @ w - y) ** 2).mean() + lam * (w ** 2).sum()

    res = opt.minimize(loss, tg.zeros(3, dtype=tg.float64, device=device), args=(lam, X, y),
                       tol=1e-12)
    assert isinstance(res.x, tg.Tensor) and res.x.device == tg.device(device)
    ((X @ res.x - y) ** 2).mean().backward()
    n = 20
    xh, yh, lam0 = host(X), host(y), 0.3
    hess = 2 * xh.T @ xh / n + 2 * lam0 * np.eye(3)
    w = np.linalg.solve(hess, 2 * xh.T @ yh / n)
    dw = -np.linalg.solve(hess, 2 * w)  # d w* / d lam
    np.testing.assert_allclose(host(lam.grad), (2 * xh.T @ (xh @ w - yh) / n) @ dw, rtol=1e-6)


def test_jac_true_takes_the_users_gradient_or_tensorgrads(device, monkeypatch):
    f, closed = _ridge(device)
    seen = []

    def pair(x, lam):
        seen.append(1)
        return f(x, lam), tg.grad(f)(x, lam)

    x0 = put(np.zeros(3), device)
    res = opt.minimize(pair, x0, args=(0.5,), jac=True, tol=1e-12)
    _close(res.x, closed(0.5))
    assert seen  # SciPy (host) or tensorgrad's BFGS (device) called the user's pair
    grads = tg.jacobian(lambda lam: opt.minimize(pair, x0, args=(lam,), jac=True,
                                                 tol=1e-12).x)(0.5)
    _close(grads, tg.jacobian(closed)(0.5), rtol=1e-6)
    monkeypatch.setattr(opt, "_scipy_optimize", lambda: None)
    steps = []
    res = opt.minimize(pair, x0, args=(0.5,), jac=True, tol=1e-12, callback=steps.append)
    assert len(steps) == res.nit > 0
    _close(res.x, closed(0.5))


# ---- scalar problems ----------------------------------------------------------------------------
def _cubic(x, a):
    return x ** 3 + a * x - 2.0


def test_scalar_roots_and_their_derivatives(device):
    a0 = put(np.array(1.0), device)
    r = opt.root_scalar(_cubic, args=(1.0,), bracket=(0.0, 2.0))
    assert r.converged and r.method == "brentq" and abs(r.root - 1.0) < 1e-12
    # x^3 + a x = 2: dx/da = -x / (3 x^2 + a) = -1/4 at a = 1, x = 1
    for solve in (lambda a: opt.brentq(_cubic, 0.0, 2.0, args=(a,)),
                  lambda a: opt.newton(_cubic, 1.5, args=(a,), tol=1e-14),
                  lambda a: opt.root_scalar(_cubic, args=(a,), x0=1.5, method="halley",
                                            xtol=1e-14).root):
        np.testing.assert_allclose(host(tg.grad(solve)(a0)), -0.25, rtol=1e-10)
        np.testing.assert_allclose(host(tg.jvp(solve, (a0,), (put(np.array(2.0), device),))[1]),
                                   -0.5, rtol=1e-10)
    tg.check_grads(lambda a: opt.brentq(_cubic, 0.0, 3.0, args=(a,)), modes=("fwd", "rev"),
                   order=2)(put(np.array(0.7), device))


def test_scalar_root_on_the_tape(device):
    a = tg.tensor(put(np.array(1.0), device), requires_grad=True)
    x = opt.brentq(_cubic, 0.0, 2.0, args=(a,))
    assert isinstance(x, tg.Tensor) and x.shape == () and x.device == tg.device(device)
    (x * x).backward()
    np.testing.assert_allclose(host(a.grad), 2 * 1.0 * -0.25, rtol=1e-10)
    assert isinstance(opt.brentq(_cubic, 0.0, 2.0, args=(1.0,)), float)


def test_minimize_scalar_and_its_derivative(device):
    def h(x, a):
        return (x - a) ** 2 + tnp.exp(x)

    a0 = put(np.array(1.0), device)
    res = opt.minimize_scalar(h, args=(a0,), tol=1e-12)
    x = float(host(res.x))
    np.testing.assert_allclose(2 * (x - 1.0) + np.exp(x), 0, atol=1e-7)  # Brent's accuracy
    # 2 (x - a) + e^x = 0: dx/da = 2 / (2 + e^x)
    grad = tg.grad(lambda a: opt.minimize_scalar(h, args=(a,), tol=1e-12).x)(a0)
    np.testing.assert_allclose(host(grad), 2 / (2 + np.exp(x)), rtol=1e-6)
    # the value's derivative: the partial in a at the minimum (envelope)
    fgrad = tg.grad(lambda a: opt.minimize_scalar(h, args=(a,), tol=1e-12).fun)(a0)
    np.testing.assert_allclose(host(fgrad), -2 * (x - 1.0), rtol=1e-6)
    inner = opt.minimize_scalar(h, args=(a0,), bounds=(-1.0, 2.0), method="bounded",
                                options={"xatol": 1e-12})
    np.testing.assert_allclose(float(host(inner.x)), x, rtol=1e-8)
    on_bound = tg.grad(lambda a: opt.minimize_scalar(h, args=(a,), bounds=(0.5, 2.0),
                                                     method="bounded").x)(a0)
    assert float(host(on_bound)) == 0.0  # the minimum sits on the bound 0.5


def test_scalar_problems_without_scipy(monkeypatch):
    monkeypatch.setattr(opt, "_scipy_optimize", lambda: None)
    r = opt.root_scalar(_cubic, args=(1.0,), bracket=(0.0, 2.0))
    assert abs(r.root - 1.0) < 1e-11 and r.method == "bisect"
    assert abs(opt.root_scalar(_cubic, args=(1.0,), x0=1.7).root - 1.0) < 1e-12
    np.testing.assert_allclose(tg.grad(lambda a: opt.root_scalar(
        _cubic, args=(a,), x0=1.7).root)(1.0), -0.25, rtol=1e-10)
    with pytest.raises(ValueError, match=r"root_scalar: f\(a\) and f\(b\) must have different "
                                         r"signs"):
        opt.root_scalar(_cubic, args=(1.0,), bracket=(2.0, 3.0))
    with pytest.raises(NotImplementedError, match="minimize_scalar needs SciPy"):
        opt.minimize_scalar(lambda x: x ** 2)


def test_root_scalar_needs_a_bracket_or_a_start():
    with pytest.raises(ValueError, match="root_scalar: give a bracket"):
        opt.root_scalar(_cubic, args=(1.0,))
