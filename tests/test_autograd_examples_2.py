"""More kinds of programs from HIPS autograd's ``examples/`` run on tensorgrad with only their
imports changed (see test_autograd_compat.py for the pattern).

Each program is written once against a namespace ``L`` of what its imports bind; it runs on
tensorgrad with its data on the test's device (``L.put``) and is compared with HIPS autograd
running the very same program on the host: natural gradient for logistic regression, an HMM
fitted by EM whose E-step is the gradient of the log partition function, negative-binomial
maximum likelihood through ``scipy.optimize.minimize``, a function-valued argument in an RKHS
with its own ``VSpace``, a 1-D GAN on two parameter containers, and custom primitives
(``define_gradient``, higher derivatives of tanh, ``print_trace``).
"""

import importlib
from types import SimpleNamespace

import numpy as onp
import pytest
from devices import host, numeric_jacobian, on, put
from test_autograd_compat import _namespace, namespaces

from tensorgrad.autograd_compat import MODULES

pytest.importorskip("scipy")


def _names(root):
    """``_namespace(root)`` and the names these programs import besides."""
    def sub(name):  # autograd.<name>, or tensorgrad's counterpart the import hook gives
        full = f"autograd.{name}"
        return importlib.import_module(full if root == "autograd" else MODULES[full])

    top = importlib.import_module(root)
    return SimpleNamespace(
        **vars(_namespace(root)),
        jacobian=top.jacobian,
        digamma=sub("scipy.special").digamma,
        gammaln=sub("scipy.special").gammaln,
        extend=sub("extend"),
        tracer=sub("tracer"),
        util=sub("util"),
        check_grads=sub("test_util").check_grads,
    )


TG, _tg, _autograd = namespaces(_names)


def _close(mine, theirs, rtol=1e-10, atol=1e-12):
    onp.testing.assert_allclose(host(mine), theirs, rtol=rtol, atol=atol)


# ---- 1. natural gradient for logistic regression -------------------------------------------
def natural_gradient_program(L):
    np, npr = L.np, L.npr
    rs = npr.RandomState(0)
    X = rs.randn(40, 3)
    y = (X @ onp.array([1.5, -2.0, 0.5]) + 0.7 * rs.randn(40) > 0).astype(float)
    X, y, eye = L.put([X, y, onp.eye(3)])

    def per_example_loglik(w):
        logits = np.dot(X, w)
        return y * logits - np.logaddexp(0.0, logits)

    def loglik(w):
        return np.sum(per_example_loglik(w))

    def empirical_fisher(w):  # sum over examples of the outer products of their scores
        J = L.jacobian(per_example_loglik)(w)
        return np.dot(J.T, J)

    def fisher(w):  # the exact Fisher information of logistic regression: minus the Hessian
        return -L.hessian(loglik)(w)

    def natural_step(w, step_size=1.0):
        nat = np.linalg.solve(fisher(w) + 1e-6 * eye, L.grad(loglik)(w))
        return w + step_size * nat

    w = L.put(onp.zeros(3))
    path = [w]
    for _ in range(5):
        w = natural_step(w)
        path.append(w)
    return loglik, empirical_fisher, fisher, path


def test_natural_gradient_logistic_regression(device):
    L = _tg(device)
    loglik, empirical_fisher, fisher, path = natural_gradient_program(L)
    assert all(on(w, device) for w in path)
    lls = [float(host(loglik(w))) for w in path]
    assert all(b > a for a, b in zip(lls, lls[1:])), lls  # Newton/natural steps ascend
    w = path[2]
    F, EF = fisher(w), empirical_fisher(w)
    assert on(F, device) and on(EF, device) and F.shape == EF.shape == (3, 3)
    onp.testing.assert_allclose(host(F), host(F).T, rtol=1e-12)
    assert onp.all(onp.linalg.eigvalsh(host(EF)) > 0)
    # the Hessian against finite differences of the gradient
    numeric = numeric_jacobian(lambda v: host(L.grad(loglik)(L.put(v))), host(w))
    onp.testing.assert_allclose(-host(F), numeric, rtol=1e-6, atol=1e-8)
    L.check_grads(loglik, modes=["fwd", "rev"], order=2)(w)
    AG = _autograd()
    loglik_ag, empirical_fisher_ag, fisher_ag, path_ag = natural_gradient_program(AG)
    for mine, theirs in zip(path, path_ag):
        _close(mine, theirs)
    _close(F, fisher_ag(path_ag[2]))
    _close(EF, empirical_fisher_ag(path_ag[2]))


# ---- 2. an HMM fitted by EM: the E-step is the gradient of the log partition function -------
def hmm_program(L, num_iters=6):
    np = L.np
    rs = onp.random.RandomState(1)
    true_A = onp.array([[0.9, 0.1], [0.2, 0.8]])
    true_B = onp.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    state, obs = 0, []
    for _ in range(25):
        obs.append(int(rs.choice(3, p=true_B[state])))
        state = int(rs.choice(2, p=true_A[state]))

    def log_partition(log_pi, log_A, log_B):
        """log p(obs) by the forward algorithm; with unnormalised log parameters as natural
        parameters, its gradient is the expected sufficient statistics (counts)."""
        log_alpha = log_pi + log_B[:, obs[0]]
        for o in obs[1:]:
            log_alpha = L.logsumexp(log_alpha[:, None] + log_A, axis=0) + log_B[:, o]
        return L.logsumexp(log_alpha)

    expected_stats = L.grad(log_partition, argnum=(0, 1, 2))

    def normalise(counts, axis):
        return counts / np.sum(counts, axis=axis, keepdims=True)

    def em_step(params):
        E_init, E_trans, E_emit = expected_stats(*params)
        return (np.log(normalise(E_init, 0)), np.log(normalise(E_trans, 1)),
                np.log(normalise(E_emit, 1)))

    init = L.put((onp.log([0.5, 0.5]), onp.log([[0.6, 0.4], [0.4, 0.6]]),
                  onp.log([[0.4, 0.3, 0.3], [0.2, 0.3, 0.5]])))
    history, params = [init], init
    for _ in range(num_iters):
        params = em_step(params)
        history.append(params)
    return log_partition, expected_stats, history, obs


def test_hmm_em_with_expectations_from_grad_of_log_partition(device):
    L = _tg(device)
    log_partition, expected_stats, history, obs = hmm_program(L)
    lls = [float(host(log_partition(*p))) for p in history]
    assert all(b >= a - 1e-12 for a, b in zip(lls, lls[1:])), lls  # EM never decreases it
    assert lls[-1] > lls[0] + 1.0
    E_init, E_trans, E_emit = expected_stats(*history[0])
    assert all(on(e, device) for e in (E_init, E_trans, E_emit))
    # expected counts: one initial state, T - 1 transitions, T emissions matching obs
    assert abs(float(host(L.np.sum(E_init))) - 1.0) < 1e-12
    assert abs(float(host(L.np.sum(E_trans))) - (len(obs) - 1)) < 1e-10
    onp.testing.assert_allclose(host(L.np.sum(E_emit, axis=0)), onp.bincount(obs, minlength=3),
                                rtol=1e-10)
    for p in history[-1]:
        assert on(p, device)
    AG = _autograd()
    log_partition_ag, expected_stats_ag, history_ag, _ = hmm_program(AG)
    for mine, theirs in zip(history, history_ag):
        for a, b in zip(mine, theirs):
            _close(a, b)
    for a, b in zip((E_init, E_trans, E_emit), expected_stats_ag(*history_ag[0])):
        _close(a, b)
    # second order, both modes, on the log partition as a function of the transitions
    start = history[1]
    L.check_grads(lambda log_A: log_partition(start[0], log_A, start[2]),
                  modes=["fwd", "rev"], order=2)(start[1])


# ---- 3. negative-binomial maximum likelihood with scipy.optimize.minimize -------------------
def negbin_program(L):
    np = L.np

    def negbin_loglike(r, p, x):
        return (L.gammaln(r + x) - L.gammaln(r) - L.gammaln(x + 1) + x * np.log(p)
                + r * np.log(1 - p))

    def negbin_sample(r, p, size, rs):  # a gamma-Poisson mixture
        return rs.poisson(rs.gamma(r, p / (1 - p), size=size))

    def objective(params, x):
        r, p = np.exp(params[0]), 1.0 / (1.0 + np.exp(-params[1]))
        return -np.sum(negbin_loglike(r, p, x)) / x.shape[0]

    rs = onp.random.RandomState(2)
    data = negbin_sample(5.0, 0.6, 400, rs).astype(float)
    return objective, negbin_loglike, data


def _fit_negbin(L, objective, x, to_host=lambda v: v, to_device=lambda v: v):
    """Newton-free fitting with scipy's BFGS; ``to_host``/``to_device`` are the conversions a
    CuPy user adds (SciPy runs on the host)."""
    from scipy.optimize import minimize

    res = minimize(lambda th: float(to_host(objective(to_device(th), x))),
                   onp.array([0.0, 0.0]),
                   jac=lambda th: to_host(L.grad(objective)(to_device(th), x)),
                   method="BFGS", options={"gtol": 1e-10})
    return res


def test_negative_binomial_maximum_likelihood(device):
    L = _tg(device)
    objective, negbin_loglike, data = negbin_program(L)
    x = L.put(data)
    # unchanged, the program hands SciPy's host parameters to a function of device data: the
    # gradient has the kind of its argument (a host array), the value is a device scalar that
    # float() copies explicitly, so SciPy gets what it needs on either device
    res = _fit_negbin(L, objective, x)
    assert res.success, res.message
    assert isinstance(L.grad(objective)(res.x, x), onp.ndarray)
    if device != "cpu":
        # parameters put on the device make a device gradient, which SciPy cannot take
        with pytest.raises(TypeError, match="(?i)implicit|unsupported type"):
            _fit_negbin(L, objective, x, to_device=L.put)
        # ... until the user copies it back, as a CuPy user must
        res_dev = _fit_negbin(L, objective, x, to_host=host, to_device=L.put)
        assert res_dev.success
        _close(res_dev.x, res.x, rtol=1e-12)
    g = L.grad(objective)(L.put(res.x), x)
    assert on(g, device) and onp.max(onp.abs(host(g))) < 1e-6
    # the maximum-likelihood r and p against the moment matching of the data (close for 400)
    r, p = onp.exp(res.x[0]), 1 / (1 + onp.exp(-res.x[1]))
    assert abs(r * p / (1 - p) - data.mean()) < 0.05 * data.mean()
    # digamma is the derivative of gammaln: the score of r written by hand
    def score_r(r, p):
        return L.np.sum(L.digamma(r + x) - L.digamma(r) + L.np.log(1 - p))

    by_hand = score_r(L.put(onp.array(3.0)), 0.4)
    by_grad = L.grad(lambda r: L.np.sum(negbin_loglike(r, 0.4, x)))(L.put(onp.array(3.0)))
    assert on(by_grad, device)
    _close(by_grad, host(by_hand))
    L.check_grads(lambda th: objective(th, x), modes=["fwd", "rev"], order=2)(
        L.put(onp.array([1.2, 0.3])))
    AG = _autograd()
    objective_ag, _, data_ag = negbin_program(AG)
    res_ag = _fit_negbin(AG, objective_ag, data_ag)
    _close(res.x, res_ag.x, rtol=1e-8)
    th = onp.array([0.7, -0.2])
    _close(L.grad(objective)(L.put(th), x), AG.grad(objective_ag)(th, data_ag))
    _close(objective(L.put(th), x), objective_ag(th, data_ag))


# ---- 5. a GAN on 1-D data: two parameter containers, adam with a callback ------------------
def gan_program(L, num_iters=40):
    np, npr = L.np, L.npr

    def init_net(sizes, rs, scale=0.5):
        return [(scale * rs.randn(m, n), scale * rs.randn(n)) for m, n in zip(sizes, sizes[1:])]

    def net(params, x):
        for W, b in params[:-1]:
            x = np.tanh(np.dot(x, W) + b)
        W, b = params[-1]
        return np.dot(x, W) + b

    def log_sigmoid(z):
        return -np.logaddexp(0.0, -z)

    rs = npr.RandomState(3)
    data = L.put(rs.randn(64, 1) * 0.5 + 2.0)
    noise = L.put([rs.randn(64, 1) for _ in range(num_iters)])

    def gan_objective(gen, dsc, i):
        fake = net(gen, noise[i % num_iters])
        return (np.mean(log_sigmoid(net(dsc, data)))
                + np.mean(log_sigmoid(-net(dsc, fake))))

    gen_grad = L.grad(gan_objective, argnum=0)
    dsc_grad = L.grad(gan_objective, argnum=1)

    def combined_grad(params, i):
        """adam minimises: the generator descends the objective, the discriminator ascends it;
        they take turns (even steps: discriminator, odd: generator)."""
        gen, dsc = params
        if i % 2 == 0:
            g = dsc_grad(gen, dsc, i)
            return ([(0 * W, 0 * b) for W, b in gen], [(-gW, -gb) for gW, gb in g])
        g = gen_grad(gen, dsc, i)
        return (g, [(0 * W, 0 * b) for W, b in dsc])

    init = L.put((init_net([1, 8, 1], rs), init_net([1, 8, 1], rs)))
    trace = []

    def callback(params, i, g):
        gen, dsc = params
        trace.append((float(host(gan_objective(gen, dsc, i))),
                      float(host(np.mean(net(gen, noise[0]))))))

    trained = L.adam(combined_grad, init, step_size=0.05, num_iters=num_iters, callback=callback)
    return gan_objective, init, trained, trace


def test_gan_on_1d_data_with_two_containers(device):
    L = _tg(device)
    objective, init, trained, trace = gan_program(L)
    gen, dsc = trained
    assert isinstance(gen, list) and isinstance(gen[0], tuple) and gen[0][0].shape == (1, 8)
    assert on(gen[0][0], device) and on(dsc[1][1], device)
    assert len(trace) == 40
    # the generator's samples are pulled from far away to the data's mean (2.0) (and, a GAN
    # with momentum, overshoot it after: only the approach is asserted)
    distances = [abs(m - 2.0) for _, m in trace]
    assert distances[0] > 2.0 and min(distances) < 0.2
    gen0, dsc0 = init
    for argnum, params in ((0, gen0), (1, dsc0)):
        flat, unflatten = L.flatten(params)

        def f(v, argnum=argnum, unflatten=unflatten):
            args = [gen0, dsc0, 0]
            args[argnum] = unflatten(v)
            return objective(*args)

        exact = L.flatten(L.grad(objective, argnum)(gen0, dsc0, 0))[0]
        numeric = numeric_jacobian(lambda v: float(host(f(L.put(v)))), host(flat))
        onp.testing.assert_allclose(host(exact), numeric, rtol=1e-6, atol=1e-8)
        L.check_grads(f, modes=["fwd", "rev"], order=2)(flat)
    AG = _autograd()
    objective_ag, _, trained_ag, trace_ag = gan_program(AG)
    onp.testing.assert_allclose(trace, trace_ag, rtol=1e-10, atol=1e-12)
    _close(L.flatten(trained)[0], AG.flatten(trained_ag)[0], rtol=1e-9, atol=1e-11)


# ---- 6. a primitive with a hand-written stable gradient; derivatives of tanh ----------------
def define_gradient_program(L):
    np, extend = L.np, L.extend

    @extend.primitive
    def logsumexp(x):
        """log(sum(exp(x))) computed stably; its gradient below is stable too."""
        max_x = np.max(x)
        return max_x + np.log(np.sum(np.exp(x - max_x)))

    def logsumexp_vjp(ans, x):
        x_shape = x.shape
        return lambda g: np.full(x_shape, g) * np.exp(x - np.full(x_shape, ans))

    extend.defvjp(logsumexp, logsumexp_vjp)

    def example_func(y):
        z = y ** 2
        lse = logsumexp(z)
        return np.sum(lse)

    def tanh(x):  # autograd's tanh example: the ratio form, differentiated to 4th order
        y = np.exp(-2.0 * x)
        return (1.0 - y) / (1.0 + y)

    return logsumexp, example_func, tanh


def test_define_gradient_stable_logsumexp(device):
    L = _tg(device)
    logsumexp, example_func, _ = define_gradient_program(L)
    x = L.put(onp.array([0.3, -1.2, 0.8, 2.0]))
    g = L.grad(example_func)(x)
    assert on(g, device)
    numeric = numeric_jacobian(lambda v: float(host(example_func(L.put(v)))), host(x))
    onp.testing.assert_allclose(host(g), numeric, rtol=1e-6)
    L.check_grads(example_func, modes=["rev"], order=2)(x)
    # the hand-written rule is what keeps the gradient finite where exp overflows
    big = L.put(onp.array([1000.0, 1000.5, 999.0]))
    g_big = L.grad(logsumexp)(big)
    assert onp.all(onp.isfinite(host(g_big)))
    assert abs(float(host(L.np.sum(g_big))) - 1.0) < 1e-12
    AG = _autograd()
    logsumexp_ag, example_func_ag, _ = define_gradient_program(AG)
    _close(g, AG.grad(example_func_ag)(host(x)))
    _close(g_big, AG.grad(logsumexp_ag)(host(big)))
    H = L.hessian(example_func)(x)
    assert on(H, device)
    _close(H, AG.hessian(example_func_ag)(host(x)))


def test_fourth_derivative_of_tanh_by_elementwise_grad(device):
    L = _tg(device)
    _, _, tanh = define_gradient_program(L)
    egrad = L.elementwise_grad
    x = L.put(onp.linspace(-3.0, 3.0, 13))
    derivs = [tanh, egrad(tanh)]
    for _ in range(3):
        derivs.append(egrad(derivs[-1]))
    values = [d(x) for d in derivs]
    assert all(on(v, device) for v in values)
    t = onp.tanh(host(x))  # closed forms of the derivatives of tanh
    closed = [t, 1 - t ** 2, -2 * t * (1 - t ** 2), (1 - t ** 2) * (6 * t ** 2 - 2),
              (1 - t ** 2) * (16 * t - 24 * t ** 3)]
    for v, c in zip(values, closed):
        onp.testing.assert_allclose(host(v), c, rtol=1e-9, atol=1e-12)
    np_tanh4 = egrad(egrad(egrad(egrad(L.np.tanh))))(x)  # the library's tanh, same closed form
    assert on(np_tanh4, device)
    onp.testing.assert_allclose(host(np_tanh4), closed[4], rtol=1e-9, atol=1e-12)
    L.check_grads(derivs[2], modes=["fwd", "rev"], order=2)(x)
    AG = _autograd()
    _, _, tanh_ag = define_gradient_program(AG)
    d = tanh_ag
    xs = host(x)
    for v in values[1:]:
        d = AG.elementwise_grad(d)
        _close(v, d(xs))
    e = AG.np.tanh
    for _ in range(4):
        e = AG.elementwise_grad(e)
    _close(np_tanh4, e(xs))


# ---- 4. a function in an RKHS as the variable: its own value type with a custom VSpace ------
def rkhs_program(L, num_steps=30):
    """autograd's RKHS example, written for arrays: a function ``f = sum_i w_i k(c_i, .)``
    (centres and weights in arrays, so they can live on the device) is a value of a VSpace of
    its own, and ``grad(logprob)(f)`` is a function too (the gradient in the RKHS norm)."""
    np, extend = L.np, L.extend
    empty = L.put(onp.zeros(0))

    def sq_exp_kernel(x1, x2):
        return np.exp(-((x1 - x2) ** 2) / 0.5)

    class RKHSFun:
        def __init__(self, kernel, centers=empty, weights=empty):
            self.kernel, self.centers, self.weights = kernel, centers, weights
            self.vs = RKHSFunVSpace(self)

        @extend.primitive
        def __call__(self, x):
            return np.sum(self.weights * self.kernel(x, self.centers))

        def __add__(self, other):
            return self.vs.add(self, other)

        def __mul__(self, a):
            return self.vs.scalar_mul(self, a)

    # d f(x) / d f is the evaluation functional: the function k(x, .)
    extend.defvjp(RKHSFun.__call__, lambda ans, f, x: lambda g: RKHSFun(
        f.kernel, np.reshape(x, (1,)), np.reshape(g, (1,))))

    class RKHSFunBox(extend.Box, RKHSFun):
        @property
        def kernel(self):
            return self._value.kernel

    RKHSFunBox.register(RKHSFun)

    class RKHSFunVSpace(extend.VSpace):
        def __init__(self, value):
            self.kernel = value.kernel

        def zeros(self):
            return RKHSFun(self.kernel)

        def _add(self, f, g):
            return RKHSFun(f.kernel, np.concatenate([f.centers, g.centers]),
                           np.concatenate([f.weights, g.weights]))

        def _scalar_mul(self, f, a):
            return RKHSFun(f.kernel, f.centers, a * f.weights)

        def _inner_prod(self, f, g):
            gram = f.kernel(f.centers[:, None], g.centers[None, :])
            return np.sum(f.weights[:, None] * gram * g.weights[None, :])

    RKHSFunVSpace.register(RKHSFun)

    xs = L.put(onp.arange(5.0))
    ys = L.put(onp.array([1.0, 2.0, 3.0, 2.0, 1.0]))

    def logprob(f, xs, ys):
        return -sum((f(x) - y) ** 2 for x, y in zip(xs, ys))

    f = RKHSFun(sq_exp_kernel)
    history = []
    for _ in range(num_steps):
        f = f + L.grad(logprob)(f, xs, ys) * 0.05
        history.append(float(host(logprob(f, xs, ys))))
    return SimpleNamespace(RKHSFun=RKHSFun, Box=RKHSFunBox, kernel=sq_exp_kernel, f=f, xs=xs,
                           ys=ys, logprob=logprob, history=history)


def test_rkhs_function_valued_argument_with_its_own_vspace(device):
    L = _tg(device)
    P = rkhs_program(L)
    assert P.history[-1] > P.history[0] and P.history[-1] > -0.5, P.history
    assert all(b >= a for a, b in zip(P.history, P.history[1:]))
    g = L.grad(P.logprob)(P.f, P.xs, P.ys)
    assert type(g) is P.RKHSFun  # the gradient is a function, with one centre per evaluation
    assert g.centers.shape == (5,) and on(g.centers, device) and on(g.weights, device)
    # the gradient represents the derivative: <grad, h> in the RKHS is the directional
    # derivative along any function h (central differences along f + e h)
    h = P.RKHSFun(P.kernel, L.put(onp.array([0.5, 2.5, 3.3])), L.put(onp.array([0.7, -1.1, 0.4])))
    eps = 1e-6
    numeric = (float(host(P.logprob(P.f + h * eps, P.xs, P.ys)))
               - float(host(P.logprob(P.f + h * -eps, P.xs, P.ys)))) / (2 * eps)
    assert abs(float(host(g.vs.inner_prod(g, h))) - numeric) < 1e-6
    # inside the traced function the argument is a box of the program's Box type
    seen = []

    def peek(f):
        seen.append((isinstance(f, P.Box), L.extend.vspace(f) == P.f.vs, f.kernel is P.kernel))
        return f(P.xs[1]) * 2.0

    g_peek = L.grad(peek)(P.f)
    assert seen == [(True, True, True)]
    assert float(host(g_peek.weights[0])) == 2.0 and float(host(g_peek.centers[0])) == 1.0
    # a function that does not use its argument: the space's zeros
    g0 = L.grad(lambda f, x: L.np.sum(x ** 2), argnum=0)(P.f, P.xs)
    assert type(g0) is P.RKHSFun and g0.weights.shape == (0,)
    AG = _autograd()
    P_ag = rkhs_program(AG)
    onp.testing.assert_allclose(P.history, P_ag.history, rtol=1e-10)
    _close(P.f.centers, P_ag.f.centers)
    _close(P.f.weights, P_ag.f.weights)
    g_ag = AG.grad(P_ag.logprob)(P_ag.f, P_ag.xs, P_ag.ys)
    _close(g.centers, g_ag.centers)
    _close(g.weights, g_ag.weights)
    for x in (0.3, 2.0, 4.5):
        _close(P.f(L.put(onp.array(x))), P_ag.f(x))


def test_regression_value_of_an_unboxed_user_vspace_is_refused_clearly():
    """A type whose VSpace is registered but which has no Box type: autograd cannot trace it
    either; tensorgrad says which declaration is missing (it used to try np.asarray on it)."""
    L = TG

    class Thing:
        pass

    class ThingSpace(L.extend.VSpace):
        def __init__(self, value):
            pass

    ThingSpace.register(Thing)
    with pytest.raises(TypeError, match="Thing.*no Box type.*ThingBox.register"):
        L.grad(lambda t: 1.0)(Thing())


def test_regression_vspace_add_calls_the_subclass_add():
    """autograd's VSpace.add/scalar_mul/inner_prod call the subclass's _add/_scalar_mul/
    _inner_prod; tensorgrad's computed x + y, which recursed forever for a type whose __add__
    is vs.add (the RKHS example)."""
    L = TG

    class Pair:
        def __init__(self, a, b):
            self.a, self.b = a, b

        def __add__(self, other):
            return PairSpace(self).add(self, other)

    class PairSpace(L.extend.VSpace):
        def __init__(self, value):
            pass

        def _add(self, x, y):
            return Pair(x.a + y.a, x.b + y.b)

        def _scalar_mul(self, x, s):
            return Pair(x.a * s, x.b * s)

        def _inner_prod(self, x, y):
            return x.a * y.a + x.b * y.b

    PairSpace.register(Pair)
    s = (Pair(1.0, 2.0) + Pair(3.0, 4.0))
    vs = L.extend.vspace(s)
    assert type(vs) is PairSpace and (s.a, s.b) == (4.0, 6.0)
    assert vs.inner_prod(s, vs.scalar_mul(s, 0.5)) == 0.5 * (16 + 36)
    arr = onp.array([1.0, 2.0])  # the arrays' space keeps its behaviour
    assert L.extend.vspace(arr).inner_prod(arr, arr) == 5.0
    onp.testing.assert_array_equal(L.extend.vspace(arr).add(arr, arr), 2 * arr)


def test_regression_full_filled_with_a_device_scalar(device):
    """np.full(shape, g) with g a 0-d device array (the cotangent in autograd's logsumexp
    example's VJP) copied it to the host through NumPy: CuPy refuses that."""
    fill = put(onp.array(1.5), device)
    out = TG.np.full((2, 3), fill)
    assert on(out, device) and out.shape == (2, 3) and out.dtype == onp.float64
    onp.testing.assert_array_equal(host(out), onp.full((2, 3), 1.5))
    assert on(TG.np.full(3, put(onp.array(2.0), device), dtype=onp.float32), device)


# ---- 6b. autograd's print_trace example: a Node subclass and tracer.trace -------------------
def print_trace_program(L):
    np = L.np
    lines = []

    class PrintNode(L.tracer.Node):
        def __init__(self, value, fun, args, kwargs, parent_argnums, parents):
            self.varname_generator = parents[0].varname_generator
            self.varname = next(self.varname_generator)
            lines.append((self.varname, fun.__name__, [p.varname for p in parents],
                          list(parent_argnums), float(host(value))))

        def initialize_root(self, x):
            self.varname_generator = (f"x{i}" for i in range(1000))
            self.varname = next(self.varname_generator)
            lines.append((self.varname, None, [], [], float(host(x))))

    def print_trace(f, x):
        lines.clear()
        start_node = PrintNode.new_root(x)
        value, end_node = L.tracer.trace(start_node, f, x)
        return float(host(value)), end_node.varname, list(lines)

    def avg(x, y):
        return (x + y) / 2

    def fun(x):
        y = np.sin(x + x)
        return avg(y, y) * 2.0 - np.sum(np.tanh(x)) ** 2

    return print_trace, fun


def test_print_trace_with_a_node_subclass(device):
    """autograd.tracer.trace and Node were stand-ins that raised under tensorgrad; now a
    program's Node subclass sees each primitive, its traced arguments and their nodes."""
    L = _tg(device)
    print_trace, fun = print_trace_program(L)
    value, end, lines = print_trace(fun, L.put(onp.array(1.23)))
    names = [line[1] for line in lines]
    assert names == [None, "add", "sin", "add", "divide", "multiply", "tanh", "sum", "power",
                     "subtract"]
    assert end == "x9" and lines[2][2] == ["x1"] and lines[1][2] == ["x0", "x0"]
    assert lines[-1][2] == ["x5", "x8"] and lines[-1][3] == [0, 1]
    assert abs(value - float(host(fun(L.put(onp.array(1.23)))))) < 1e-15
    AG = _autograd()
    print_trace_ag, fun_ag = print_trace_program(AG)
    value_ag, end_ag, lines_ag = print_trace_ag(fun_ag, 1.23)
    assert (end, [line[:4] for line in lines]) == (end_ag, [line[:4] for line in lines_ag])
    onp.testing.assert_allclose([line[4] for line in lines], [line[4] for line in lines_ag],
                                rtol=1e-15)
    assert abs(value - value_ag) < 1e-15

    class Quiet(L.tracer.Node):
        def initialize_root(self):
            pass

    with pytest.warns(UserWarning, match="independent"):
        out, node = L.tracer.trace(Quiet.new_root(), lambda x: L.np.ones(2), L.put(onp.array(1.0)))
    assert node is None and host(out).tolist() == [1.0, 1.0]
