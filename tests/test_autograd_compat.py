"""Programs written in HIPS autograd's style run on tensorgrad with only their imports changed.

Each program below is written once against a namespace ``L`` holding what its imports would
bind (``L.np`` for ``autograd.numpy``, ``L.grad``, ``L.norm`` for ``autograd.scipy.stats.norm``,
...). It runs on tensorgrad; its gradients are checked against central finite differences
and, where autograd is installed, against autograd running the very same program. On tensorgrad
the program's data lives on the test's device (``L.put``: its arrays onto the GPU, as a CuPy
user would write it); autograd runs it on the host.
"""

import importlib
from types import SimpleNamespace

import numpy as onp
import pytest
from devices import host, numeric_jacobian, on, put

import tensorgrad as tg

pytest.importorskip("scipy")


def _namespace(root):
    """What ``import <root>.numpy as np``, ``from <root> import grad`` etc. would bind."""
    mod = importlib.import_module

    def sub(name):
        return mod(f"{root}.{name}")

    return SimpleNamespace(
        name=root,
        np=sub("numpy"),
        npr=sub("numpy.random"),
        grad=mod(root).grad,
        value_and_grad=mod(root).value_and_grad,
        hessian=mod(root).hessian,
        hessian_vector_product=mod(root).hessian_vector_product,
        elementwise_grad=mod(root).elementwise_grad,
        logsumexp=sub("scipy.special").logsumexp,
        special=sub("scipy.special"),
        norm=sub("scipy.stats.norm"),
        mvn=sub("scipy.stats.multivariate_normal"),
        t=sub("scipy.stats.t"),
        solve_triangular=sub("scipy.linalg").solve_triangular,
        flatten=sub("misc.flatten").flatten,
        adam=sub("misc.optimizers").adam,
        sgd=sub("misc.optimizers").sgd,
        put=lambda x: x,
    )


def namespaces(make):
    """For a namespace maker ``make(root)``: tensorgrad's namespace, a function giving it with
    the programs' data on a device, and one giving autograd's (skipped where it is absent)."""
    tg_names = make("tensorgrad")

    def on_device(device):
        return SimpleNamespace(**{**vars(tg_names), "put": lambda x: put(x, device)})

    def autograd_names():
        pytest.importorskip("autograd")
        return make("autograd")

    return tg_names, on_device, autograd_names


TG, _tg, _autograd = namespaces(_namespace)


def _check_against_numeric(L, objective, params, rtol=1e-5, atol=1e-7):
    """grad(objective) at a container ``params`` against finite differences of its flat form
    (taken on the host, each value computed where the program's data lives)."""
    flat, unflatten = L.flatten(params)
    exact = host(L.flatten(L.grad(objective)(params))[0])
    numeric = numeric_jacobian(lambda v: float(host(objective(unflatten(L.put(v))))), host(flat))
    onp.testing.assert_allclose(exact, numeric, rtol=rtol, atol=atol)
    return exact


# ---- 1. a neural net on a list of (W, b) tuples, trained with adam ----------------------
def neural_net_program(L):
    np, npr = L.np, L.npr

    def init_random_params(scale, layer_sizes, rs):
        return [(scale * rs.randn(m, n), scale * rs.randn(n))
                for m, n in zip(layer_sizes[:-1], layer_sizes[1:])]

    def predict(params, inputs):
        for W, b in params:
            outputs = np.dot(inputs, W) + b
            inputs = np.tanh(outputs)
        return outputs - L.logsumexp(outputs, axis=1, keepdims=True)

    def l2_norm(params):
        flattened, _ = L.flatten(params)
        return np.dot(flattened, flattened)

    rs = npr.RandomState(0)
    inputs = rs.randn(40, 5)
    labels = onp.argmax(inputs @ rs.randn(5, 3), axis=1)  # learnable classes
    targets = L.put(onp.array(labels[:, None] == onp.arange(3)[None, :], dtype=float))
    inputs = L.put(inputs)

    def objective(params, i=0):
        batch = slice((i % 4) * 10, (i % 4 + 1) * 10)
        log_lik = np.sum(predict(params, inputs[batch]) * targets[batch])
        return 0.01 * l2_norm(params) - log_lik

    init = L.put(init_random_params(0.3, [5, 8, 3], rs))
    trace = []

    def callback(params, i, g):
        trace.append(float(host(objective(params, i))))

    trained = L.adam(L.grad(objective), init, step_size=0.05, num_iters=60, callback=callback)
    return objective, init, trained, trace


def test_neural_net_on_containers_trains_and_matches(device):
    L = _tg(device)
    objective, init, trained, trace = neural_net_program(L)
    assert isinstance(trained, list) and isinstance(trained[0], tuple)
    assert trained[0][0].shape == (5, 8) and trained[1][1].shape == (3,)
    assert on(trained[0][0], device) and on(trained[1][1], device)
    assert onp.mean(trace[-8:]) < 0.5 * onp.mean(trace[:8])
    _check_against_numeric(L, objective, init)
    AG = _autograd()
    _, _, trained_ag, trace_ag = neural_net_program(AG)
    onp.testing.assert_allclose(trace, trace_ag, rtol=1e-9)
    onp.testing.assert_allclose(host(L.flatten(trained)[0]), AG.flatten(trained_ag)[0],
                                rtol=1e-8, atol=1e-10)


# ---- 2. a Gaussian process: marginal likelihood through cholesky and solve_triangular ------
def gp_program(L):
    np, npr = L.np, L.npr
    rs = npr.RandomState(1)
    x = rs.uniform(-2, 2, size=(12, 1))
    y = onp.sin(2 * x[:, 0]) + 0.1 * rs.randn(12)
    x, y, eye, zeros = L.put([x, y, onp.eye(len(y)), onp.zeros(len(y))])

    def rbf(params, a, b):
        scale, lengthscale = np.exp(params[0]), np.exp(params[1])
        diffs = np.expand_dims(a / lengthscale, 1) - np.expand_dims(b / lengthscale, 0)
        return scale * np.exp(-0.5 * np.sum(diffs ** 2, axis=2))

    def log_marginal_likelihood(params):
        noise = np.exp(params[2]) + 1e-4
        K = rbf(params, x, x) + noise * eye
        L_ = np.linalg.cholesky(K)
        alpha = L.solve_triangular(L_, y, lower=True)
        by_hand = (-0.5 * np.dot(alpha, alpha) - np.sum(np.log(np.diag(L_)))
                   - 0.5 * len(y) * np.log(2 * np.pi))
        return by_hand, L.mvn.logpdf(y, zeros, K)

    return log_marginal_likelihood


def test_gaussian_process_marginal_likelihood(device):
    L = _tg(device)
    lml = gp_program(L)
    params = onp.array([0.1, -0.3, -1.0])
    pd = L.put(params)
    by_hand, via_mvn = lml(pd)
    assert on(by_hand, device) and on(via_mvn, device)
    assert abs(host(by_hand) - host(via_mvn)) < 1e-10
    g_hand = L.grad(lambda p: lml(p)[0])(pd)
    g_mvn = L.grad(lambda p: lml(p)[1])(pd)
    H = L.hessian(lambda p: lml(p)[0])(pd)
    assert on(g_hand, device) and on(g_mvn, device) and on(H, device)
    g_hand, g_mvn, H = host([g_hand, g_mvn, H])
    onp.testing.assert_allclose(g_hand, g_mvn, rtol=1e-8)
    onp.testing.assert_allclose(g_hand, numeric_jacobian(lambda p: host(lml(L.put(p))[0]), params),
                                rtol=1e-6)
    onp.testing.assert_allclose(H, H.T, rtol=1e-6, atol=1e-8)
    AG = _autograd()
    lml_ag = gp_program(AG)
    onp.testing.assert_allclose(g_hand, AG.grad(lambda p: lml_ag(p)[0])(params), rtol=1e-9)
    onp.testing.assert_allclose(g_mvn, AG.grad(lambda p: lml_ag(p)[1])(params), rtol=1e-9)
    onp.testing.assert_allclose(H, AG.hessian(lambda p: lml_ag(p)[0])(params), rtol=1e-7,
                                atol=1e-9)


# ---- 3. black-box variational inference with scipy.stats.norm -------------------------------
def bbvi_program(L, num_samples=200, fixed_noise=False):
    """autograd's black-box SVI example; ``fixed_noise`` draws the same samples at every call,
    which makes the objective a deterministic function to compare derivatives on."""
    np, npr = L.np, L.npr
    D = 2

    def log_posterior(x, t):
        mu, log_sigma = x[:, 0], x[:, 1]
        return L.norm.logpdf(log_sigma, 0, 1.35) + L.norm.logpdf(mu, 0, np.exp(log_sigma))

    shared_rs = npr.RandomState(0)

    def variational_objective(params, t):
        rs = npr.RandomState(0) if fixed_noise else shared_rs
        mean, log_std = params[:D], params[D:]
        samples = L.put(rs.randn(num_samples, D)) * np.exp(log_std) + mean
        entropy = 0.5 * D * (1.0 + np.log(2 * np.pi)) + np.sum(log_std)
        return -(entropy + np.mean(log_posterior(samples, t)))

    return variational_objective


def test_black_box_variational_inference(device):
    L = _tg(device)
    objective = bbvi_program(L)
    init = L.put(onp.array([-1.0, -1.0, -3.0, -3.0]))
    params = L.adam(L.grad(objective), init, step_size=0.1, num_iters=150)
    assert on(params, device)
    assert host(objective(params, 0)) < host(objective(init, 0)) - 1.0
    fixed = bbvi_program(L, fixed_noise=True)
    x0 = onp.array([0.2, -0.4, -1.0, -0.5])
    g_tg = L.grad(fixed)(L.put(x0), 0)
    assert on(g_tg, device)
    g_tg = host(g_tg)
    onp.testing.assert_allclose(g_tg, numeric_jacobian(lambda p: host(fixed(L.put(p), 0)), x0),
                                rtol=1e-6, atol=1e-8)
    TG_check = tg.check_grads(lambda p: fixed(p, 0), modes=("fwd", "rev"), order=2)
    TG_check(L.put(x0))
    AG = _autograd()
    fixed_ag = bbvi_program(AG, fixed_noise=True)
    onp.testing.assert_allclose(g_tg, AG.grad(fixed_ag)(x0, 0), rtol=1e-10)


# ---- 4. a Gaussian mixture: logsumexp, multivariate_normal, dict parameters, hvp -----------
def gmm_program(L):
    np, npr = L.np, L.npr
    rs = npr.RandomState(2)
    data = onp.concatenate([rs.randn(15, 2) * 0.4 + [1, 1], rs.randn(15, 2) * 0.3 - [1, 0]])
    params = {"log proportions": rs.randn(3) * 0.1,
              "means": rs.randn(3, 2) * 0.5,
              "lower triangles": onp.zeros((3, 2, 2)) + onp.eye(2)}
    data, params = L.put([data, params])

    def log_likelihood(params):
        log_props = params["log proportions"] - L.logsumexp(params["log proportions"])
        cluster_lls = []
        for log_proportion, mean, cov_sqrt in zip(log_props, params["means"],
                                                  params["lower triangles"]):
            cov = np.dot(cov_sqrt.T, cov_sqrt)
            cluster_lls.append(log_proportion + L.mvn.logpdf(data, mean, cov))
        return np.sum(L.logsumexp(np.vstack(cluster_lls), axis=0))

    return log_likelihood, params


def test_gaussian_mixture_with_dict_parameters(device):
    L = _tg(device)
    ll, params = gmm_program(L)
    g = L.grad(ll)(params)
    assert set(g) == set(params) and g["means"].shape == (3, 2) and on(g["means"], device)
    _check_against_numeric(L, ll, params, rtol=1e-5, atol=1e-6)
    flat, unflatten = L.flatten(params)

    def flat_ll(v):
        return ll(unflatten(v))

    v = L.put(onp.random.default_rng(0).normal(size=flat.shape))
    hvp = L.hessian_vector_product(flat_ll)(flat, v)
    assert on(hvp, device)
    eps = 1e-5
    numeric = (L.grad(flat_ll)(flat + eps * v) - L.grad(flat_ll)(flat - eps * v)) / (2 * eps)
    onp.testing.assert_allclose(host(hvp), host(numeric), rtol=1e-4, atol=1e-5)
    AG = _autograd()
    ll_ag, params_ag = gmm_program(AG)
    g_ag = AG.grad(ll_ag)(params_ag)
    for k in params:
        onp.testing.assert_allclose(host(g[k]), g_ag[k], rtol=1e-9, atol=1e-12)


# ---- 5. special functions, Student t and higher derivatives ---------------------------------
def special_program(L):
    np = L.np

    def negbin_loglike(r, p, x):
        return (L.special.gammaln(r + x) - L.special.gammaln(r) - L.special.gammaln(x + 1)
                + x * np.log(p) + r * np.log(1 - p))

    def robust(w, x, y):
        return np.sum(L.t.logpdf(y, 2.4, np.dot(x, w), 0.7))

    return negbin_loglike, robust


def test_special_functions_and_higher_derivatives(device):
    L = _tg(device)
    negbin, robust = special_program(L)
    x = L.put(onp.array([0.0, 3.0, 7.0, 2.0]))

    def loglike(r):
        return L.np.sum(negbin(r, 0.4, x))

    r = L.put(onp.array(2.5))  # a 0-d array on the device
    d2 = L.grad(L.grad(loglike))(r)
    assert on(d2, device)
    d2 = float(host(d2))
    numeric = numeric_jacobian(lambda r: host(L.grad(loglike)(L.put(onp.asarray(r)))),
                               onp.array(2.5))
    assert abs(d2 - numeric) < 1e-6
    rs = onp.random.RandomState(3)
    X, w = rs.randn(10, 3), rs.randn(3)
    y = X @ w + rs.standard_t(2.4, size=10)
    g = L.grad(robust)(*L.put([w, X, y]))
    assert on(g, device)
    g = host(g)
    onp.testing.assert_allclose(g, numeric_jacobian(lambda v: host(robust(*L.put([v, X, y]))), w),
                                rtol=1e-6)
    AG = _autograd()
    negbin_ag, robust_ag = special_program(AG)
    d2_ag = AG.grad(AG.grad(lambda r: AG.np.sum(negbin_ag(r, 0.4, host(x)))))(2.5)
    assert abs(d2 - d2_ag) < 1e-9
    onp.testing.assert_allclose(g, AG.grad(robust_ag)(w, X, y), rtol=1e-9)
    elementwise = L.elementwise_grad(L.special.erf)(L.put(onp.linspace(-1, 1, 5)))
    assert on(elementwise, device)
    onp.testing.assert_allclose(host(elementwise), AG.elementwise_grad(AG.special.erf)(
        onp.linspace(-1, 1, 5)), rtol=1e-12)


def test_tensor_inputs_work_like_arrays(device):
    """The same program given Tensors returns Tensors with the same values."""
    ll, params = gmm_program(_tg(device))
    as_tensors = {k: tg.tensor(v) for k, v in params.items()}
    out = ll(as_tensors)
    assert isinstance(out, tg.Tensor) and on(out, device)
    onp.testing.assert_allclose(out.item(), host(ll(params)))
