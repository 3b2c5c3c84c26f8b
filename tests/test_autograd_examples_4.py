"""Round 4 of programs in the style of HIPS autograd's ``examples/`` run on tensorgrad with only
their imports changed (see test_autograd_compat.py for the pattern): a Bayesian neural network
by black-box variational inference, black-box SVI on a banana-shaped 2-D posterior, mixture
variational inference, natural-gradient SVI, a two-layer deep Gaussian process, a Gaussian
mixture by gradient ascent on its flat parameter vector, ICA by maximum likelihood, a
variational autoencoder on tiny binary images, logistic regression through
``scipy.optimize.minimize(jac=True)``, Bayesian optimization with an expected-improvement
acquisition climbed by its gradient, the sinusoid regression toy, and a projectile with drag
aimed through its simulation's gradient and Hessian.

Each program is written once against a namespace ``L`` of what its imports bind; it runs on
tensorgrad with its data on the test's device (``L.put``) and is compared with HIPS autograd
running the very same program on the host.
"""

import importlib

import numpy as onp
import pytest
from devices import host, numeric_jacobian, on
from test_autograd_compat import namespaces
from test_autograd_examples_3 import _names

from tensorgrad.backend.device import xp_of

pytest.importorskip("scipy")

TG, _tg, _autograd = namespaces(_names)


def _close(mine, theirs, rtol=1e-10, atol=1e-12):
    """Our result (a container of arrays of any device) equals autograd's (host)."""
    flat_mine = host(TG.flatten(host(mine))[0])
    flat_theirs = host(TG.flatten(host(theirs))[0])
    onp.testing.assert_allclose(flat_mine, flat_theirs, rtol=rtol, atol=atol)


def _numeric_grad(L, f, x, eps=1e-6):
    return numeric_jacobian(lambda v: float(host(f(L.put(v)))), host(x), eps=eps)


def _grad_checks(L, f, x, rtol=1e-6, atol=1e-8, order=2):
    """grad(f) at the flat ``x`` on its device, against central differences, and autograd's
    ``check_grads`` (random directions, both modes) to ``order``."""
    g = L.grad(f)(x)
    assert xp_of(g) is xp_of(x)  # on the argument's device
    onp.testing.assert_allclose(host(g), _numeric_grad(L, f, x), rtol=rtol, atol=atol)
    L.check_grads(f, modes=["fwd", "rev"], order=order)(x)
    return g


def _trace_callback(trace, value):
    def callback(params, i, g):
        trace.append(float(host(value(params, i))))
    return callback


# ---- 1. a Bayesian neural network fitted by black-box variational inference ----------------
def bnn_program(L, num_iters=25, num_samples=4):
    np, npr = L.np, L.npr
    shapes = [(1, 6), (6, 1)]
    num_weights = sum((m + 1) * n for m, n in shapes)

    def unpack_layers(weights):  # (samples, num_weights) -> per layer (S, m, n), (S, 1, n)
        S = weights.shape[0]
        for m, n in shapes:
            yield (np.reshape(weights[:, :m * n], (S, m, n)),
                   np.reshape(weights[:, m * n:m * n + n], (S, 1, n)))
            weights = weights[:, (m + 1) * n:]

    def predictions(weights, inputs):  # -> (samples, points, 1)
        inputs = np.expand_dims(inputs, 0)
        for W, b in unpack_layers(weights):
            outputs = np.einsum("mnd,mdo->mno", inputs, W) + b
            inputs = np.tanh(outputs)
        return outputs

    rs = npr.RandomState(0)
    x = onp.linspace(-3, 3, 14)[:, None]
    y = onp.cos(x) + 0.1 * rs.randn(14, 1)
    x, y = L.put([x, y])

    def log_posterior(weights):
        log_prior = -0.5 * np.sum(weights ** 2, axis=1)
        log_lik = np.sum(L.norm.logpdf(y, predictions(weights, x), 0.1), axis=(1, 2))
        return log_prior + log_lik

    def elbo(params, rs):
        mean, log_std = params[:num_weights], params[num_weights:]
        samples = L.put(rs.randn(num_samples, num_weights)) * np.exp(log_std) + mean
        entropy = 0.5 * num_weights * (1.0 + np.log(2 * np.pi)) + np.sum(log_std)
        return entropy + np.mean(log_posterior(samples))

    shared = npr.RandomState(1)

    def objective(params, t):
        return -elbo(params, shared)

    def fixed_objective(params, t=0):
        return -elbo(params, npr.RandomState(2))

    init = L.put(onp.concatenate([0.5 * rs.randn(num_weights), -3.0 * onp.ones(num_weights)]))
    trace = []
    trained = L.adam(L.grad(objective), init, step_size=0.05, num_iters=num_iters,
                     callback=_trace_callback(trace, fixed_objective))
    return fixed_objective, predictions, init, trained, trace


def test_bayesian_neural_net_by_bbvi(device):
    L = _tg(device)
    objective, predictions, init, trained, trace = bnn_program(L)
    assert on(trained, device) and trained.shape == (38,) and len(trace) == 25
    assert host(objective(trained)) < host(objective(init)) - 50
    preds = predictions(L.np.reshape(trained[:19], (1, 19)), L.put(onp.zeros((3, 1))))
    assert on(preds, device) and preds.shape == (1, 3, 1)
    _grad_checks(L, objective, init, rtol=1e-5, atol=1e-6)
    AG = _autograd()
    objective_ag, _, init_ag, trained_ag, trace_ag = bnn_program(AG)
    _close(init, init_ag)
    onp.testing.assert_allclose(trace, trace_ag, rtol=1e-10)
    _close(trained, trained_ag, rtol=1e-9, atol=1e-11)
    _close(L.grad(objective)(init), AG.grad(objective_ag)(init_ag), rtol=1e-10, atol=1e-10)


# ---- 2. black-box SVI on a banana-shaped 2-D posterior --------------------------------------
def banana_svi_program(L, num_samples=100, num_iters=60):
    np, npr = L.np, L.npr
    D = 2
    shift = L.put(onp.array([0.0, -1.0]))

    def log_density(z):  # z: (samples, 2)
        a, b = z[:, 0], z[:, 1]
        return (L.t.logpdf(a, 4.0, 0.0, 1.2)
                + L.norm.logpdf(b, 0.4 * a ** 2 + shift[1], 0.5))

    def elbo(params, rs):
        mean, log_std = params[:D], params[D:]
        z = L.put(rs.randn(num_samples, D)) * np.exp(log_std) + mean
        log_q = np.sum(L.norm.logpdf(z, mean, np.exp(log_std)), axis=1)
        return np.mean(log_density(z) - log_q)

    shared = npr.RandomState(0)

    def objective(params, t):
        return -elbo(params, shared)

    def fixed_objective(params, t=0):
        return -elbo(params, npr.RandomState(5))

    init = L.put(onp.array([1.0, 1.0, -2.0, -2.0]))
    trace = []
    trained = L.adam(L.grad(objective), init, step_size=0.1, num_iters=num_iters,
                     callback=_trace_callback(trace, fixed_objective))
    return fixed_objective, init, trained, trace


def test_black_box_svi_on_a_banana_posterior(device):
    L = _tg(device)
    objective, init, trained, trace = banana_svi_program(L)
    assert on(trained, device) and len(trace) == 60
    assert onp.mean(trace[-5:]) < trace[0] - 2.0
    mean, std = host(trained[:2]), onp.exp(host(trained[2:]))
    assert abs(mean[0]) < 0.4 and -1.0 < mean[1] < 0.3 and onp.all((std > 0.2) & (std < 2.0))
    _grad_checks(L, objective, L.put(onp.array([0.3, -0.5, -0.4, -0.8])))
    AG = _autograd()
    objective_ag, _, trained_ag, trace_ag = banana_svi_program(AG)
    onp.testing.assert_allclose(trace, trace_ag, rtol=1e-10)
    _close(trained, trained_ag, rtol=1e-9, atol=1e-11)
    x = onp.array([0.3, -0.5, -0.4, -0.8])
    _close(L.hessian(objective)(L.put(x)), AG.hessian(objective_ag)(x), rtol=1e-9, atol=1e-11)


# ---- 3. mixture variational inference: a two-component q for a bimodal target ---------------
def mixture_vi_program(L, num_samples=40, num_iters=80):
    np, npr = L.np, L.npr
    centres = L.put(onp.array([-2.0, 2.0]))

    def log_target(z):
        return L.logsumexp(L.norm.logpdf(z[..., None], centres, 0.6), axis=-1) - np.log(2.0)

    def softmax(a):
        return np.exp(a - L.logsumexp(a))

    def log_q(z, params):
        log_w = params["logits"] - L.logsumexp(params["logits"])
        comps = L.norm.logpdf(z[..., None], params["means"], np.exp(params["log_stds"]))
        return L.logsumexp(comps + log_w, axis=-1)

    def elbo(params, rs):
        """sum_k w_k E_{q_k}[log p - log q], each expectation by reparameterised samples."""
        eps = L.put(rs.randn(num_samples, 1))
        z = params["means"] + np.exp(params["log_stds"]) * eps  # (samples, components)
        per_component = np.mean(log_target(z) - log_q(z, params), axis=0)
        return np.dot(softmax(params["logits"]), per_component)

    shared = npr.RandomState(0)

    def objective(params, t):
        return -elbo(params, shared)

    def fixed_objective(params, t=0):
        return -elbo(params, npr.RandomState(3))

    init = L.put({"logits": onp.array([0.3, -0.3]), "means": onp.array([-0.5, 0.4]),
                  "log_stds": onp.array([0.0, 0.0])})
    trace = []
    trained = L.adam(L.grad(objective), init, step_size=0.1, num_iters=num_iters,
                     callback=_trace_callback(trace, fixed_objective))
    return fixed_objective, init, trained, trace, softmax


def test_mixture_variational_inference(device):
    L = _tg(device)
    objective, init, trained, trace, softmax = mixture_vi_program(L)
    assert set(trained) == {"logits", "means", "log_stds"} and on(trained["means"], device)
    means = onp.sort(host(trained["means"]))
    assert abs(means[0] + 2) < 0.4 and abs(means[1] - 2) < 0.4  # one component per mode
    assert onp.all(host(softmax(trained["logits"])) > 0.3)
    assert onp.mean(trace[-5:]) < trace[0] - 0.5
    flat, unflatten = L.flatten(init)
    _grad_checks(L, lambda v: objective(unflatten(v)), flat)
    AG = _autograd()
    objective_ag, init_ag, trained_ag, trace_ag, _ = mixture_vi_program(AG)
    onp.testing.assert_allclose(trace, trace_ag, rtol=1e-10)
    for k in trained:
        _close(trained[k], trained_ag[k], rtol=1e-9, atol=1e-11)


# ---- 4. natural-gradient black-box SVI: the Fisher from the jacobian of the score ----------
def natural_svi_program(L, num_steps=15, step_size=0.5):
    np, npr = L.np, L.npr
    D = 2
    mu = onp.array([1.0, -0.5])
    cov = onp.array([[1.0, 0.6], [0.6, 0.8]])
    mu, cov, eye = L.put([mu, cov, onp.eye(2 * D)])
    rs = npr.RandomState(7)
    eps = L.put(rs.randn(200, D))  # fixed noise: a deterministic objective

    def elbo(params):
        mean, log_std = params[:D], params[D:]
        z = eps * np.exp(log_std) + mean
        return np.mean(L.mvn.logpdf(z, mu, cov)) + np.sum(log_std)

    def log_q(params, z):  # one log density per sample
        mean, log_std = params[:D], params[D:]
        return np.sum(L.norm.logpdf(z, mean, np.exp(log_std)), axis=1)

    def fisher(params, rs):
        """E_q[score score^T], the score by the jacobian of log q in its parameters."""
        z = L.put(rs.randn(400, D)) * np.exp(params[D:]) + params[:D]
        J = L.jacobian(log_q)(params, z)
        return np.dot(J.T, J) / z.shape[0]

    params = L.put(onp.array([-1.0, 1.0, -0.5, -0.5]))
    path, fisher_rs = [params], npr.RandomState(8)
    for _ in range(num_steps):
        F = fisher(params, fisher_rs)
        params = params + step_size * np.linalg.solve(F + 1e-8 * eye, L.grad(elbo)(params))
        path.append(params)
    return elbo, fisher, path


def test_natural_gradient_black_box_svi(device):
    L = _tg(device)
    elbo, fisher, path = natural_svi_program(L)
    assert all(on(p, device) for p in path)
    values = [float(host(elbo(p))) for p in path]
    assert values[-1] > values[0] + 1.0 and abs(values[-1] - values[-2]) < 1e-3
    final = host(path[-1])  # the optimal diagonal q: the mean, and 1/sqrt(diag(precision))
    precision = onp.linalg.inv(onp.array([[1.0, 0.6], [0.6, 0.8]]))
    onp.testing.assert_allclose(final[:2], [1.0, -0.5], atol=0.15)
    onp.testing.assert_allclose(onp.exp(final[2:]), 1 / onp.sqrt(onp.diag(precision)), rtol=0.15)
    # the Monte-Carlo Fisher is near the exact one, diag(1/s^2, 1/s^2, 2, 2)
    F = host(fisher(path[-1], L.npr.RandomState(0)))
    exact = onp.concatenate([onp.exp(-2 * final[2:]), [2.0, 2.0]])
    onp.testing.assert_allclose(onp.diag(F), exact, rtol=0.35)
    _grad_checks(L, elbo, path[3])
    AG = _autograd()
    elbo_ag, fisher_ag, path_ag = natural_svi_program(AG)
    for mine, theirs in zip(path, path_ag):
        _close(mine, theirs, rtol=1e-9, atol=1e-11)
    _close(fisher(path[2], L.npr.RandomState(4)), fisher_ag(path_ag[2], AG.npr.RandomState(4)))


# ---- 5. a two-layer deep Gaussian process -------------------------------------------------
def deep_gp_program(L, num_iters=30):
    np = L.np
    rs = onp.random.RandomState(9)
    x = onp.sort(rs.uniform(-2, 2, 16))
    y = onp.where(x > 0, 1.0, -1.0) + 0.05 * rs.randn(16)  # a step: easier with a warped input
    inducing = onp.linspace(-2, 2, 5)
    x, y, inducing, eye5, eye16 = L.put([x, y, inducing, onp.eye(5), onp.eye(16)])

    def rbf(hypers, a, b):
        amp, length = np.exp(hypers[0]), np.exp(hypers[1])
        return amp * np.exp(-0.5 * ((a[:, None] - b[None, :]) / length) ** 2)

    def hidden(params, xs):
        """Layer 1: the GP mean through the learned values at the inducing inputs."""
        K = rbf(params["h1"], inducing, inducing) + 1e-6 * eye5
        return np.dot(rbf(params["h1"], xs, inducing), np.linalg.solve(K, params["u"]))

    def neg_log_evidence(params):
        K_uu = rbf(params["h1"], inducing, inducing) + 1e-6 * eye5
        prior = 0.5 * np.dot(params["u"], np.linalg.solve(K_uu, params["u"]))
        h = hidden(params, x)
        K = rbf(params["h2"], h, h) + (np.exp(params["log_noise"]) + 1e-6) * eye16
        chol = np.linalg.cholesky(K)
        alpha = L.linalg.solve_triangular(chol, y, lower=True)
        return prior + 0.5 * np.dot(alpha, alpha) + np.sum(np.log(np.diag(chol)))

    init = L.put({"h1": onp.array([0.0, 0.0]), "h2": onp.array([0.0, 0.0]),
                  "u": onp.linspace(-1, 1, 5), "log_noise": onp.array(-2.0)})
    trace = []
    trained = L.adam(lambda p, i: L.grad(neg_log_evidence)(p), init, step_size=0.05,
                     num_iters=num_iters,
                     callback=_trace_callback(trace, lambda p, i: neg_log_evidence(p)))
    return neg_log_evidence, hidden, init, trained, trace


def test_deep_gaussian_process(device):
    L = _tg(device)
    nle, hidden, init, trained, trace = deep_gp_program(L)
    assert on(trained["u"], device) and trained["log_noise"].shape == ()
    assert trace[-1] < trace[0] - 2.0
    flat, unflatten = L.flatten(init)
    _grad_checks(L, lambda v: nle(unflatten(v)), flat, rtol=1e-5, atol=1e-7)
    AG = _autograd()
    nle_ag, hidden_ag, init_ag, trained_ag, trace_ag = deep_gp_program(AG)
    onp.testing.assert_allclose(trace, trace_ag, rtol=1e-10)
    for k in trained:
        _close(trained[k], trained_ag[k], rtol=1e-9, atol=1e-11)
    xs = onp.linspace(-1, 1, 4)
    _close(hidden(trained, L.put(xs)), hidden_ag(trained_ag, xs), rtol=1e-9, atol=1e-11)
    # the warping's slope at new inputs (elementwise_grad in the data, not the parameters)
    slope = L.elementwise_grad(lambda v: hidden(trained, v))(L.put(xs))
    assert on(slope, device)
    _close(slope, AG.elementwise_grad(lambda v: hidden_ag(trained_ag, v))(xs), rtol=1e-8,
           atol=1e-10)


# ---- 6. a Gaussian mixture by gradient ascent on its flattened parameters ------------------
def gmm_ascent_program(L, num_steps=40, step_size=0.01):
    np = L.np
    rs = onp.random.RandomState(10)
    data = onp.concatenate([rs.randn(20) * 0.5 - 2, rs.randn(30) * 0.7 + 1.5])
    data = L.put(data)
    params = (onp.zeros(2), onp.array([-0.5, 0.5]), onp.zeros(2))  # logits, means, log_stds
    flat, unflatten = L.flatten(L.put(params))

    def log_likelihood(flat_params):
        logits, means, log_stds = unflatten(flat_params)
        log_weights = logits - L.logsumexp(logits)
        comps = L.norm.logpdf(data[:, None], means, np.exp(log_stds)) + log_weights
        return np.sum(L.logsumexp(comps, axis=1))

    path = [flat]
    for _ in range(num_steps):
        flat = flat + step_size * L.grad(log_likelihood)(flat)
        path.append(flat)
    return log_likelihood, unflatten, path


def test_gaussian_mixture_by_gradient_ascent(device):
    L = _tg(device)
    ll, unflatten, path = gmm_ascent_program(L)
    values = [float(host(ll(p))) for p in path]
    assert all(b > a - 1e-9 for a, b in zip(values, values[1:])) and values[-1] > values[0] + 10
    logits, means, log_stds = unflatten(path[-1])
    assert on(means, device) and logits.shape == (2,)
    onp.testing.assert_allclose(onp.sort(host(means)), [-2.0, 1.5], atol=0.4)
    _grad_checks(L, ll, path[5])
    H = L.hessian(ll)(path[5])
    assert on(H, device) and H.shape == (6, 6)
    onp.testing.assert_allclose(host(H), host(H).T, rtol=1e-9, atol=1e-10)
    AG = _autograd()
    ll_ag, _, path_ag = gmm_ascent_program(AG)
    for mine, theirs in zip(path, path_ag):
        _close(mine, theirs, rtol=1e-10, atol=1e-11)
    _close(H, AG.hessian(ll_ag)(path_ag[5]), rtol=1e-9, atol=1e-10)


# ---- 7. ICA by maximum likelihood with a heavy-tailed source density -----------------------
def ica_program(L, num_iters=150):
    np = L.np
    rs = onp.random.RandomState(11)
    sources = rs.laplace(size=(300, 2))
    mixing = onp.array([[1.0, 0.6], [0.4, 1.0]])
    observed = L.put(sources @ mixing.T)

    def log_likelihood(W):
        latents = np.dot(observed, W.T)
        sign, logdet = np.linalg.slogdet(W)
        return (observed.shape[0] * logdet + np.sum(L.t.logpdf(latents, 1.5))) / observed.shape[0]

    init = L.put(onp.eye(2) + 0.1 * rs.randn(2, 2))
    trace = []
    W = L.adam(lambda W, i: -L.grad(log_likelihood)(W), init, step_size=0.05,
               num_iters=num_iters, callback=_trace_callback(trace, lambda W, i: log_likelihood(W)))
    return log_likelihood, mixing, init, W, trace


def test_ica_by_maximum_likelihood(device):
    L = _tg(device)
    ll, mixing, init, W, trace = ica_program(L)
    assert on(W, device) and W.shape == (2, 2) and trace[-1] > trace[0] + 0.1
    recovered = host(W) @ mixing  # a scaled permutation when the sources are unmixed
    recovered = onp.abs(recovered) / onp.abs(recovered).max(axis=1, keepdims=True)
    assert onp.sort(recovered, axis=1)[:, 0].max() < 0.15, recovered
    _grad_checks(L, ll, init)
    AG = _autograd()
    ll_ag, _, init_ag, W_ag, trace_ag = ica_program(AG)
    onp.testing.assert_allclose(trace, trace_ag, rtol=1e-10)
    _close(W, W_ag, rtol=1e-9, atol=1e-11)


# ---- 8. a variational autoencoder on tiny binary images ------------------------------------
def vae_program(L, num_iters=40, latent=2):
    np, npr = L.np, L.npr

    def init_net(sizes, rs, scale=0.3):
        return [(scale * rs.randn(m, n), scale * rs.randn(n)) for m, n in zip(sizes, sizes[1:])]

    def net(params, x):
        for W, b in params[:-1]:
            x = np.tanh(np.dot(x, W) + b)
        W, b = params[-1]
        return np.dot(x, W) + b

    rs = npr.RandomState(12)
    patterns = onp.array([[1, 1, 1, 0, 0, 0, 0, 0, 0], [0, 0, 0, 1, 1, 1, 0, 0, 0],
                          [1, 0, 0, 1, 0, 0, 1, 0, 0], [0, 0, 1, 0, 0, 1, 0, 0, 1]], float)
    images = L.put(patterns[rs.randint(4, size=16)])

    def elbo(params, rs):
        encoder, decoder = params
        q = net(encoder, images)
        mean, log_std = q[:, :latent], q[:, latent:]
        z = mean + np.exp(log_std) * L.put(rs.randn(*mean.shape))
        logits = net(decoder, z)
        log_lik = np.sum(images * logits - np.logaddexp(0.0, logits), axis=1)
        kl = 0.5 * np.sum(np.exp(2 * log_std) + mean ** 2 - 1.0 - 2 * log_std, axis=1)
        return np.mean(log_lik - kl)

    shared = npr.RandomState(13)

    def objective(params, t):
        return -elbo(params, shared)

    def fixed_objective(params, t=0):
        return -elbo(params, npr.RandomState(14))

    init = L.put((init_net([9, 8, 2 * latent], rs), init_net([latent, 8, 9], rs)))
    trace = []
    trained = L.adam(L.grad(objective), init, step_size=0.05, num_iters=num_iters,
                     callback=_trace_callback(trace, fixed_objective))
    return fixed_objective, net, init, trained, trace


def test_variational_autoencoder_on_tiny_images(device):
    L = _tg(device)
    objective, net, init, trained, trace = vae_program(L)
    encoder, decoder = trained
    assert isinstance(encoder, list) and isinstance(decoder[0], tuple)
    assert on(encoder[0][0], device) and decoder[-1][0].shape == (8, 9)
    assert onp.mean(trace[-5:]) < trace[0] - 1.0
    flat, unflatten = L.flatten(init)
    assert flat.shape == (9 * 8 + 8 + 8 * 4 + 4 + 2 * 8 + 8 + 8 * 9 + 9,)
    L.check_grads(lambda v: objective(unflatten(v)), modes=["fwd", "rev"], order=2)(flat)
    direction = L.put(onp.random.RandomState(0).randn(flat.shape[0]))
    exact = float(host(L.np.dot(L.grad(lambda v: objective(unflatten(v)))(flat), direction)))
    numeric = _numeric_grad(L, lambda s: objective(unflatten(flat + s * direction)),
                            onp.array(0.0))
    assert abs(exact - float(numeric)) < 1e-6 * max(1.0, abs(exact))
    AG = _autograd()
    objective_ag, _, init_ag, trained_ag, trace_ag = vae_program(AG)
    onp.testing.assert_allclose(trace, trace_ag, rtol=1e-10)
    _close(trained, trained_ag, rtol=1e-9, atol=1e-11)


# ---- 9. logistic regression: value_and_grad into scipy.optimize.minimize(jac=True) --------
def logistic_program(L):
    np = L.np
    rs = onp.random.RandomState(15)
    X = onp.hstack([rs.randn(60, 3), onp.ones((60, 1))])
    y = (X @ onp.array([2.0, -1.0, 0.5, 0.3]) + 0.5 * rs.randn(60) > 0).astype(float)
    X, y = L.put([X, y])

    def neg_log_likelihood(w):
        logits = np.dot(X, w)
        return np.sum(np.logaddexp(0.0, logits) - y * logits) + 0.05 * np.dot(w, w)

    return neg_log_likelihood


def _fit_logistic(L, objective, to_host=lambda v: v, to_device=lambda v: v):
    from scipy.optimize import minimize

    def fun(w):
        value, g = L.value_and_grad(objective)(to_device(w))
        return to_host(value), to_host(g)

    return minimize(fun, onp.zeros(4), jac=True, method="BFGS", options={"gtol": 1e-6})


def test_logistic_regression_by_scipy_minimize(device):
    L = _tg(device)
    nll = logistic_program(L)
    if device == "cpu":
        res = _fit_logistic(L, nll)
    else:  # SciPy works on host arrays: a CuPy user copies the value and gradient back
        res = _fit_logistic(L, nll, to_host=host, to_device=L.put)
    assert res.success, res.message
    w = L.put(res.x)
    g, H = L.grad(nll)(w), L.hessian(nll)(w)
    assert on(g, device) and on(H, device) and onp.max(onp.abs(host(g))) < 1e-5
    assert onp.all(onp.linalg.eigvalsh(host(H)) > 0)
    assert onp.sign(res.x[0]) == 1 and onp.sign(res.x[1]) == -1
    _grad_checks(L, nll, L.put(onp.array([0.5, -0.2, 0.1, 0.0])))
    AG = _autograd()
    nll_ag = logistic_program(AG)
    res_ag = _fit_logistic(AG, nll_ag)
    _close(res.x, res_ag.x, rtol=1e-7, atol=1e-9)
    _close(H, AG.hessian(nll_ag)(res.x), rtol=1e-9, atol=1e-11)
    x = onp.array([0.5, -0.2, 0.1, 0.0])
    _close(L.value_and_grad(nll)(L.put(x))[1], AG.value_and_grad(nll_ag)(x)[1])


# ---- 10. Bayesian optimization: a GP surrogate and expected improvement climbed by grad -----
def bayes_opt_program(L, num_rounds=3, climb_steps=25):
    np = L.np

    def target(x):
        return np.sin(3 * x) + 0.3 * x ** 2

    def kernel(a, b):
        return np.exp(-0.5 * ((a[:, None] - b[None, :]) / 0.5) ** 2)

    def posterior(xs, X, Y):
        K = kernel(X, X) + 1e-6 * L.put(onp.eye(X.shape[0]))
        Ks = kernel(xs, X)
        mean = np.dot(Ks, np.linalg.solve(K, Y))
        var = 1.0 - np.sum(Ks * np.linalg.solve(K, Ks.T).T, axis=1)
        return mean, np.sqrt(np.maximum(var, 1e-12))

    def expected_improvement(xs, X, Y):
        mean, std = posterior(xs, X, Y)
        best = np.min(Y)
        z = (best - mean) / std
        return (best - mean) * L.norm.cdf(z) + std * L.norm.pdf(z)

    X = L.put(onp.array([-1.8, 0.3, 1.6]))
    Y = target(X)
    chosen = []
    for _ in range(num_rounds):
        # every start climbs its own EI: each value depends on its own point only
        ei_grad = L.elementwise_grad(lambda xs: expected_improvement(xs, X, Y))
        xs = L.put(onp.linspace(-1.9, 1.9, 6))
        for _ in range(climb_steps):
            xs = np.clip(xs + 0.5 * ei_grad(xs), -2.0, 2.0)
        best = int(onp.argmax(host(expected_improvement(xs, X, Y))))
        chosen.append(xs[best])
        X = np.concatenate([X, xs[best:best + 1]])
        Y = np.concatenate([Y, target(xs[best:best + 1])])
    return expected_improvement, target, X, Y, chosen


def test_bayesian_optimization_with_expected_improvement(device):
    L = _tg(device)
    ei, target, X, Y, chosen = bayes_opt_program(L)
    assert on(X, device) and X.shape == (6,) and len(chosen) == 3
    assert onp.min(host(Y)) < onp.min(host(Y[:3])) - 0.05  # the search found a lower value
    x0 = L.put(onp.array([0.7]))
    X3, Y3 = X[:4], Y[:4]
    _grad_checks(L, lambda v: ei(v, X3, Y3)[0], x0)
    # the gradient through the data too: EI at a point as a function of the observed values
    _grad_checks(L, lambda ys: ei(x0, X3, ys)[0], Y3, rtol=1e-5, atol=1e-7)
    AG = _autograd()
    ei_ag, _, X_ag, Y_ag, chosen_ag = bayes_opt_program(AG)
    _close(X, X_ag, rtol=1e-9, atol=1e-11)
    _close(Y, Y_ag, rtol=1e-9, atol=1e-11)
    _close(L.grad(lambda v: ei(v, X3, Y3)[0])(x0),
           AG.grad(lambda v: ei_ag(v, X_ag[:4], Y_ag[:4])[0])(onp.array([0.7])), rtol=1e-9)


# ---- 11. the sinusoid regression toy: a small MLP fitted with adam ------------------------
def sinusoid_program(L, num_iters=80):
    np, npr = L.np, L.npr

    def init_params(sizes, rs, scale=0.5):
        return [(scale * rs.randn(m, n), scale * rs.randn(n)) for m, n in zip(sizes, sizes[1:])]

    def nn_predict(params, inputs):
        for W, b in params:
            outputs = np.dot(inputs, W) + b
            inputs = np.tanh(outputs)
        return outputs

    rs = npr.RandomState(16)
    inputs = onp.concatenate([onp.linspace(0, 2, 10), onp.linspace(4, 6, 10)])[:, None]
    targets = onp.sin(inputs) + 0.05 * rs.randn(20, 1)
    inputs, targets = L.put([inputs, targets])

    def log_posterior(params, t=0):
        prior = -0.5 * 0.1 * np.sum(L.flatten(params)[0] ** 2)
        return prior - np.sum((nn_predict(params, inputs) - targets) ** 2) / (2 * 0.1 ** 2)

    init = L.put(init_params([1, 10, 10, 1], rs))
    trace = []
    trained = L.adam(L.grad(lambda p, t: -log_posterior(p)), init, step_size=0.02,
                     num_iters=num_iters, callback=_trace_callback(trace, log_posterior))
    return log_posterior, nn_predict, init, trained, trace


def test_sinusoid_regression_toy(device):
    L = _tg(device)
    log_post, predict, init, trained, trace = sinusoid_program(L)
    assert on(trained[0][0], device) and trace[-1] > trace[0] + 100
    flat, unflatten = L.flatten(init)
    _grad_checks(L, lambda v: log_post(unflatten(v)), flat, rtol=1e-5, atol=1e-6)
    xs = onp.linspace(0, 2, 5)[:, None]
    slope = L.elementwise_grad(lambda v: predict(trained, v))(L.put(xs))
    assert on(slope, device) and slope.shape == (5, 1)
    AG = _autograd()
    log_post_ag, predict_ag, _, trained_ag, trace_ag = sinusoid_program(AG)
    onp.testing.assert_allclose(trace, trace_ag, rtol=1e-10)
    _close(trained, trained_ag, rtol=1e-9, atol=1e-11)
    _close(slope, AG.elementwise_grad(lambda v: predict_ag(trained_ag, v))(xs), rtol=1e-9,
           atol=1e-11)


# ---- 12. a projectile with drag aimed through its simulation by Newton's method -------------
def projectile_program(L, num_steps=40, dt=0.05):
    np = L.np
    target = L.put(onp.array([6.0, 1.0]))
    gravity = L.put(onp.array([0.0, -9.81]))

    def simulate(v0, drag):
        pos, vel = L.put(onp.zeros(2)), v0
        positions = [pos]
        for _ in range(num_steps):
            speed = np.sqrt(np.sum(vel ** 2))
            vel = vel + dt * (gravity - drag * speed * vel)
            pos = pos + dt * vel
            positions.append(pos)
        return np.stack(positions)

    def miss(v0, drag=0.1):
        return np.sum((simulate(v0, drag)[-1] - target) ** 2)

    v = L.put(onp.array([4.0, 8.0]))
    path = [v]
    for _ in range(6):  # Newton steps on the miss distance
        v = v - np.linalg.solve(L.hessian(miss)(v), L.grad(miss)(v))
        path.append(v)
    return miss, simulate, path


def test_projectile_aimed_through_its_simulation(device):
    L = _tg(device)
    miss, simulate, path = projectile_program(L)
    assert all(on(v, device) for v in path)
    assert float(host(miss(path[0]))) > 1.0 and float(host(miss(path[-1]))) < 1e-12
    trajectory = simulate(path[-1], 0.1)
    assert on(trajectory, device) and trajectory.shape == (41, 2)
    _grad_checks(L, miss, path[1])
    # the sensitivity of the landing point to the drag coefficient
    d_drag = L.grad(miss, argnum=1)(path[1], 0.1)
    numeric = (float(host(miss(path[1], 0.1 + 1e-6))) - float(host(miss(path[1], 0.1 - 1e-6))))
    assert abs(float(host(d_drag)) - numeric / 2e-6) < 1e-5 * max(1.0, abs(numeric / 2e-6))
    AG = _autograd()
    miss_ag, _, path_ag = projectile_program(AG)
    for mine, theirs in zip(path, path_ag):
        _close(mine, theirs, rtol=1e-9, atol=1e-11)
    _close(L.hessian(miss)(path[1]), AG.hessian(miss_ag)(path_ag[1]), rtol=1e-9, atol=1e-10)


# ---- regressions found while porting these programs ---------------------------------------
def test_regression_value_of_a_host_function_is_numpys_scalar():
    """value_and_grad / make_vjp gave a function's 0-d host value back as a 0-d array, where
    autograd (and the function itself) give NumPy's scalar: a float, hashable, JSON-able."""
    x = onp.linspace(-1, 1, 3)
    AG = _autograd()
    for dtype in (onp.float64, onp.float32):
        for L in (TG, AG):
            def f(v, np=L.np):
                return np.sum(np.tanh(v) ** 2) * 1.5

            value, g = L.value_and_grad(f)(x.astype(dtype))
            assert type(value) is dtype and type(g) is onp.ndarray and g.dtype == dtype
            assert type(importlib.import_module(L.name).make_vjp(f)(x.astype(dtype))[1]) is dtype
            assert type(f(x.astype(dtype))) is dtype
    assert {TG.value_and_grad(lambda v: TG.np.dot(v, v))(x)[0]: 1}  # hashable, as a float
    # the gradient of a 0-d array is still a 0-d array
    g = TG.grad(lambda v: v ** 2)(onp.array(3.0))
    assert type(g) is onp.ndarray and g.shape == () and float(g) == 6.0


def test_regression_value_on_the_device_stays_an_array(device):
    L = _tg(device)
    value, g = L.value_and_grad(lambda v: L.np.sum(v ** 2))(L.put(onp.arange(3.0)))
    assert on(value, device) and on(g, device) and float(host(value)) == 5.0


def test_regression_dicts_come_back_in_the_users_key_order(device):
    """grad, adam and unflatten rebuilt dicts with their keys sorted (the flat vector's order);
    autograd gives them back in the order the user wrote them, which ``W, b = g.values()``
    relies on."""
    L = _tg(device)
    AG = _autograd()
    params = {"W": onp.ones(2), "b": onp.array(1.0), "a": [onp.ones(1)]}

    def f(p, np):
        return np.sum(p["W"] * p["b"]) + np.sum(p["a"][0] ** 2)

    g = L.grad(lambda p: f(p, L.np))(L.put(params))
    g_ag = AG.grad(lambda p: f(p, AG.np))(params)
    assert list(g) == list(g_ag) == ["W", "b", "a"] and on(g["W"], device)
    for k in g:
        _close(g[k], g_ag[k])
    flat, unflatten = L.flatten(L.put(params))
    flat_ag, unflatten_ag = AG.flatten(params)
    _close(flat, flat_ag)  # the vector itself is in sorted key order on both
    assert list(unflatten(flat)) == list(unflatten_ag(flat_ag)) == ["W", "b", "a"]
    trained = L.adam(lambda p, i: L.grad(lambda q: f(q, L.np))(p), L.put(params), num_iters=3)
    trained_ag = AG.adam(lambda p, i: AG.grad(lambda q: f(q, AG.np))(p), params, num_iters=3)
    assert list(trained) == list(trained_ag) == ["W", "b", "a"]
    _close(trained, trained_ag)
    W, b, a = g.values()  # unpacking by position, as a program may
    assert W.shape == (2,) and b.shape == () and isinstance(a, list)
