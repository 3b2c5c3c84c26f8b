"""Numerical programs written for HIPS autograd run on tensorgrad with only their imports
changed (see test_autograd_compat.py for the pattern): a Kalman filter's log-likelihood,
Gaussian-process hyperparameters fitted with SciPy's L-BFGS-B, PCA and matrix functions
(eigh, svd, expm), a spectral filter through rfft/irfft, and one model's log-joint over
autograd's scipy.stats.

Each program is written once against a namespace ``L`` of what its imports bind; it runs on
tensorgrad with its data on the test's device (``L.put``) and is compared with HIPS autograd
running the very same program on the host.
"""

import importlib
from types import SimpleNamespace

import numpy as onp
import pytest
from devices import host, numeric_jacobian, on
from test_autograd_compat import namespaces
from test_autograd_examples_2 import _names as _names_2

from tensorgrad.autograd_compat import MODULES

pytest.importorskip("scipy")


def _names(root):
    """``test_autograd_examples_2._names(root)`` and the modules these programs import."""
    def sub(name):  # autograd.<name>, or tensorgrad's counterpart the import hook gives
        full = f"autograd.{name}"
        return importlib.import_module(full if root == "autograd" else MODULES[full])

    return SimpleNamespace(
        **vars(_names_2(root)),
        linalg=sub("scipy.linalg"),
        gamma=sub("scipy.stats.gamma"),
        beta=sub("scipy.stats.beta"),
        dirichlet=sub("scipy.stats.dirichlet"),
        poisson=sub("scipy.stats.poisson"),
    )


TG, _tg, _autograd = namespaces(_names)


def _close(mine, theirs, rtol=1e-10, atol=1e-12):
    onp.testing.assert_allclose(host(mine), theirs, rtol=rtol, atol=atol)


def _numeric_grad(L, f, x):
    return numeric_jacobian(lambda v: float(host(f(L.put(v)))), host(x))


# ---- 1. a Kalman filter's log-likelihood ----------------------------------------------------
def kalman_program(L, use_det=False):
    """A 2-d linear-Gaussian state-space model observed through C; ``params`` holds the
    transition matrix (4 entries) and the log variances of the process and observation noise."""
    np = L.np
    rs = onp.random.RandomState(4)
    T = 6
    ys = rs.randn(T, 2).cumsum(axis=0) * 0.3
    C = onp.array([[1.0, 0.0], [0.5, 1.0]])
    ys, C, eye, mu0 = L.put([ys, C, onp.eye(2), onp.zeros(2)])

    def log_likelihood(params):
        A = np.reshape(params[:4], (2, 2))
        Q, R = np.exp(params[4]) * eye, np.exp(params[5]) * eye
        mu, P, ll = mu0, eye, 0.0
        for t in range(T):
            mu = np.dot(A, mu)  # predict
            P = np.dot(np.dot(A, P), A.T) + Q
            S = np.dot(np.dot(C, P), C.T) + R  # innovation covariance
            resid = ys[t] - np.dot(C, mu)
            if use_det:
                logdet = np.log(np.linalg.det(S))
            else:
                sign, logdet = np.linalg.slogdet(S)
            ll = ll - 0.5 * (np.dot(resid, np.linalg.solve(S, resid)) + logdet
                             + 2 * np.log(2 * np.pi))
            K = np.dot(np.dot(P, C.T), np.linalg.inv(S))  # update
            mu = mu + np.dot(K, resid)
            P = P - np.dot(np.dot(K, C), P)
        return ll

    return log_likelihood


KALMAN_PARAMS = onp.array([0.9, 0.1, -0.2, 0.8, -1.0, -0.5])


def test_kalman_filter_log_likelihood(device):
    L = _tg(device)
    ll, ll_det = kalman_program(L), kalman_program(L, use_det=True)
    p = L.put(KALMAN_PARAMS)
    value, g = L.value_and_grad(ll)(p)
    H = L.hessian(ll)(p)
    assert on(value, device) and on(g, device) and on(H, device) and H.shape == (6, 6)
    _close(ll_det(p), host(value))
    _close(L.grad(ll_det)(p), host(g), rtol=1e-9)
    onp.testing.assert_allclose(host(g), _numeric_grad(L, ll, p), rtol=1e-6, atol=1e-8)
    onp.testing.assert_allclose(host(H), host(H).T, rtol=1e-8, atol=1e-10)
    L.check_grads(ll, modes=["fwd", "rev"], order=2)(p)
    AG = _autograd()
    ll_ag, ll_det_ag = kalman_program(AG), kalman_program(AG, use_det=True)
    _close(value, ll_ag(KALMAN_PARAMS))
    _close(g, AG.grad(ll_ag)(KALMAN_PARAMS))
    _close(L.grad(ll_det)(p), AG.grad(ll_det_ag)(KALMAN_PARAMS))
    _close(H, AG.hessian(ll_ag)(KALMAN_PARAMS), rtol=1e-9, atol=1e-11)


# ---- 2. Gaussian-process hyperparameters fitted with L-BFGS-B -------------------------------
def gp_fit_program(L):
    np = L.np
    rs = onp.random.RandomState(5)
    x = onp.sort(rs.uniform(-3, 3, size=15))
    y = onp.sin(x) + 0.1 * rs.randn(15)
    x, y, eye = L.put([x, y, onp.eye(15)])

    def neg_log_marginal_likelihood(params):
        amp, length, noise = np.exp(params[0]), np.exp(params[1]), np.exp(params[2])
        K = amp * np.exp(-0.5 * ((x[:, None] - x[None, :]) / length) ** 2) + (noise + 1e-6) * eye
        chol = np.linalg.cholesky(K)
        alpha = L.linalg.solve_triangular(chol, y, lower=True)
        return (0.5 * np.dot(alpha, alpha) + np.sum(np.log(np.diag(chol)))
                + 0.5 * len(x) * np.log(2 * np.pi))

    return neg_log_marginal_likelihood


def _fit_gp(L, objective, to_host=lambda v: v, to_device=lambda v: v):
    """SciPy's L-BFGS-B on value_and_grad; ``to_host``/``to_device`` are what a CuPy user adds
    (SciPy works on host arrays and Python floats)."""
    from scipy.optimize import minimize

    def fun(th):
        v, g = L.value_and_grad(objective)(to_device(th))
        return to_host(v), to_host(g)

    return minimize(fun, onp.array([0.0, 0.0, -1.0]), jac=True, method="L-BFGS-B",
                    options={"gtol": 1e-9, "ftol": 1e-14})


def test_gaussian_process_hyperparameters_by_lbfgsb(device):
    L = _tg(device)
    nlml = gp_fit_program(L)
    start = L.put(onp.array([0.2, -0.1, -1.5]))
    onp.testing.assert_allclose(host(L.grad(nlml)(start)), _numeric_grad(L, nlml, start),
                                rtol=1e-6, atol=1e-8)
    L.check_grads(nlml, modes=["fwd", "rev"], order=2)(start)
    if device == "cpu":
        res = _fit_gp(L, nlml)
    else:
        # the value of a function of device data is a device scalar and its gradient at device
        # parameters a device array: SciPy cannot take them ...
        # (SciPy re-raises CuPy's refusal as a ValueError about the objective's scalar value)
        with pytest.raises((TypeError, ValueError)) as refused:
            _fit_gp(L, nlml, to_device=L.put)
        cause = refused.value if refused.type is TypeError else refused.value.__context__
        assert "implicit" in str(cause).lower() or "unsupported type" in str(cause).lower()
        # ... until the user copies them back
        res = _fit_gp(L, nlml, to_host=host, to_device=L.put)
    assert res.success, res.message
    g = L.grad(nlml)(L.put(res.x))
    assert on(g, device) and onp.max(onp.abs(host(g))) < 1e-5
    assert float(host(nlml(L.put(res.x)))) < float(host(nlml(start)))
    AG = _autograd()
    nlml_ag = gp_fit_program(AG)
    res_ag = _fit_gp(AG, nlml_ag)
    assert res_ag.success
    _close(res.x, res_ag.x, rtol=1e-7, atol=1e-8)
    th = onp.array([0.3, 0.2, -2.0])
    _close(nlml(L.put(th)), nlml_ag(th))
    _close(L.grad(nlml)(L.put(th)), AG.grad(nlml_ag)(th))
    _close(L.hessian(nlml)(L.put(th)), AG.hessian(nlml_ag)(th), rtol=1e-8, atol=1e-10)


# ---- 3. PCA and matrix functions: eigh, svd, expm -------------------------------------------
def pca_program(L):
    np = L.np
    rs = onp.random.RandomState(6)
    data = rs.randn(30, 4) @ onp.diag([3.0, 1.5, 1.0, 0.5])
    target = onp.array([0.5, -0.5, 0.5, 0.5])
    data, target, eye = L.put([data, target, onp.eye(4)])

    def top_eigenvector(W):
        Z = np.dot(data, W)
        cov = np.dot(Z.T, Z) / Z.shape[0]
        w, V = np.linalg.eigh(cov)
        v = V[:, -1]
        return v * np.sign(v[0])  # sign-fixed

    def eig_loss(W):
        return np.sum((top_eigenvector(W) - target) ** 2)

    def svd_loss(W):
        s = np.linalg.svd(np.dot(data, W), full_matrices=False)[1]
        return s[0] - 0.5 * s[-1] + np.sum(s ** 3) * 1e-4

    def expm_series(A, squarings=4, terms=14):
        """exp(A) by scaling and squaring a Taylor series, written by the program."""
        B = A / 2.0 ** squarings
        term = out = eye
        for k in range(1, terms):
            term = np.dot(term, B) / k
            out = out + term
        for _ in range(squarings):
            out = np.dot(out, out)
        return out

    def expm_loss(A):
        return np.sum(expm_series(A) * target[:, None])

    return eig_loss, svd_loss, expm_series, expm_loss


def test_pca_eigh_and_svd_gradients(device):
    L = _tg(device)
    eig_loss, svd_loss, _, _ = pca_program(L)
    W = L.put(onp.eye(4) + 0.1 * onp.random.RandomState(7).randn(4, 4))
    for loss in (eig_loss, svd_loss):
        g = L.grad(loss)(W)
        assert on(g, device) and g.shape == (4, 4)
        onp.testing.assert_allclose(host(g), _numeric_grad(L, loss, W).reshape(4, 4),
                                    rtol=1e-5, atol=1e-7)
        L.check_grads(loss, modes=["fwd", "rev"], order=2)(W)
    AG = _autograd()
    eig_ag, svd_ag, _, _ = pca_program(AG)
    Wh = host(W)
    _close(eig_loss(W), eig_ag(Wh))
    _close(L.grad(eig_loss)(W), AG.grad(eig_ag)(Wh), rtol=1e-8, atol=1e-10)
    _close(svd_loss(W), svd_ag(Wh))
    _close(L.grad(svd_loss)(W), AG.grad(svd_ag)(Wh), rtol=1e-8, atol=1e-10)


def test_matrix_exponential_series_and_expm(device):
    L = _tg(device)
    _, _, expm_series, expm_loss = pca_program(L)
    A = L.put(0.4 * onp.random.RandomState(8).randn(4, 4))
    E = expm_series(A)
    assert on(E, device)
    _close(E, host(L.linalg.expm(A)), rtol=1e-12, atol=1e-13)  # the program's series is exact
    g = L.grad(expm_loss)(A)
    onp.testing.assert_allclose(host(g), _numeric_grad(L, expm_loss, A).reshape(4, 4),
                                rtol=1e-6, atol=1e-8)
    L.check_grads(expm_loss, modes=["fwd", "rev"], order=2)(A)
    # tensorgrad's expm is differentiable (autograd's expm has no gradient): it agrees with
    # the derivative of the series
    target = L.put(onp.array([0.5, -0.5, 0.5, 0.5]))
    g_expm = L.grad(lambda A: L.np.sum(L.linalg.expm(A) * target[:, None]))(A)
    assert on(g_expm, device)
    _close(g_expm, host(g), rtol=1e-10, atol=1e-12)
    AG = _autograd()
    _, _, expm_series_ag, expm_loss_ag = pca_program(AG)
    Ah = host(A)
    _close(E, expm_series_ag(Ah))
    _close(E, AG.linalg.expm(Ah), rtol=1e-12, atol=1e-13)
    _close(g, AG.grad(expm_loss_ag)(Ah))
    _close(L.hessian(expm_loss)(A), AG.hessian(expm_loss_ag)(Ah), rtol=1e-9, atol=1e-11)


# ---- 4. a spectral filter through rfft / irfft ----------------------------------------------
def spectral_program(L):
    np = L.np
    rs = onp.random.RandomState(9)
    n = 32
    t = onp.arange(n) / n
    clean = onp.sin(2 * onp.pi * 2 * t) + 0.5 * onp.cos(2 * onp.pi * 5 * t)
    noisy = clean + 0.3 * rs.randn(n)
    clean, noisy = L.put([clean, noisy])

    def filtered(log_gain, signal):
        spectrum = np.fft.rfft(signal)
        return np.fft.irfft(spectrum * np.exp(log_gain), n)

    def loss(log_gain, signal):
        out = filtered(log_gain, signal)
        spectrum = np.fft.rfft(out)
        smooth = np.sum(np.abs(spectrum[8:]) ** 2) / n  # penalise energy at high frequencies
        return np.sum((out - clean) ** 2) + 0.1 * smooth + 1e-3 * np.sum(log_gain ** 2)

    return loss, filtered, noisy, n


def test_spectral_filter_gradients(device):
    L = _tg(device)
    loss, filtered, noisy, n = spectral_program(L)
    log_gain = L.put(0.1 * onp.random.RandomState(10).randn(n // 2 + 1))
    out = filtered(log_gain, noisy)
    assert on(out, device) and out.shape == (n,) and out.dtype == onp.float64
    g_gain, g_signal = L.grad(loss, argnum=(0, 1))(log_gain, noisy)
    assert on(g_gain, device) and on(g_signal, device)
    onp.testing.assert_allclose(host(g_gain), _numeric_grad(L, lambda v: loss(v, noisy), log_gain),
                                rtol=1e-6, atol=1e-8)
    onp.testing.assert_allclose(host(g_signal),
                                _numeric_grad(L, lambda v: loss(log_gain, v), noisy),
                                rtol=1e-6, atol=1e-8)
    L.check_grads(lambda g: loss(g, noisy), modes=["fwd", "rev"], order=2)(log_gain)
    L.check_grads(lambda s: loss(log_gain, s), modes=["fwd", "rev"], order=2)(noisy)
    # a few gradient steps on the gains make the filter better
    gains = log_gain
    for _ in range(20):
        gains = gains - 0.03 * L.grad(loss)(gains, noisy)
    assert float(host(loss(gains, noisy))) < 0.8 * float(host(loss(log_gain, noisy)))
    AG = _autograd()
    loss_ag, filtered_ag, noisy_ag, _ = spectral_program(AG)
    lg = host(log_gain)
    _close(out, filtered_ag(lg, noisy_ag))
    _close(loss(log_gain, noisy), loss_ag(lg, noisy_ag))
    for mine, theirs in zip((g_gain, g_signal), AG.grad(loss_ag, argnum=(0, 1))(lg, noisy_ag)):
        _close(mine, theirs)


# ---- 5. one model's log-joint over autograd's scipy.stats -----------------------------------
def log_joint_program(L):
    np = L.np
    rs = onp.random.RandomState(11)
    x = rs.randn(10) * 1.3 + 0.4
    heavy = rs.standard_t(4, size=8) + 0.4
    waits = rs.gamma(2.5, size=6)
    props = rs.beta(2.0, 3.0, size=5)
    simplex = onp.array([0.2, 0.5, 0.3])
    pts = rs.randn(4, 2) + onp.array([1.0, -1.0])
    counts = rs.poisson(3.0, size=7)
    x, heavy, waits, props, simplex, pts, counts = L.put([x, heavy, waits, props, simplex, pts,
                                                          counts])

    def log_joint(theta):
        mu, sigma = theta[0], np.exp(theta[1])
        df, shape = np.exp(theta[2]) + 1.0, np.exp(theta[3])
        a, b = np.exp(theta[4]), np.exp(theta[5])
        alpha = np.exp(theta[6:9])
        mean = theta[9:11]
        cov = np.array([[1.0 + theta[11] ** 2, theta[11]], [theta[11], 1.0]])
        rate = np.exp(theta[12])
        return (np.sum(L.norm.logpdf(x, mu, sigma))
                + np.log(L.norm.cdf(mu + 2.0)) + L.norm.logcdf(sigma - 0.2)
                + np.sum(L.t.logpdf(heavy, df, mu, sigma))
                + np.sum(L.gamma.logpdf(waits, shape))
                + np.sum(L.beta.logpdf(props, a, b))
                + L.dirichlet.logpdf(simplex, alpha)
                + np.sum(L.mvn.logpdf(pts, mean, cov))
                + np.sum(L.poisson.logpmf(counts, rate)))

    return log_joint


THETA = onp.array([0.3, 0.1, 1.0, 0.8, 0.6, 1.0, 0.2, 0.4, 0.3, 0.9, -0.8, 0.3, 1.1])


def test_log_joint_over_scipy_stats(device):
    L = _tg(device)
    log_joint = log_joint_program(L)
    theta = L.put(THETA)
    value, g = L.value_and_grad(log_joint)(theta)
    assert on(value, device) and on(g, device) and g.shape == THETA.shape
    assert onp.all(host(g) != 0)  # every parameter is used
    onp.testing.assert_allclose(host(g), _numeric_grad(L, log_joint, theta), rtol=1e-6,
                                atol=1e-8)
    L.check_grads(log_joint, modes=["fwd", "rev"], order=2)(theta)
    AG = _autograd()
    log_joint_ag = log_joint_program(AG)
    _close(value, log_joint_ag(THETA))
    _close(g, AG.grad(log_joint_ag)(THETA))
    _close(L.hessian(log_joint)(theta), AG.hessian(log_joint_ag)(THETA), rtol=1e-9, atol=1e-11)


def test_regression_array_of_device_scalars_and_numbers(device):
    """np.array([[1 + t ** 2, t], [t, 1.0]]) with t a 0-d device array (the log-joint's
    covariance, evaluated outside grad as finite differences do) went through NumPy, which
    CuPy refuses; it is now built on the device, as autograd builds it from boxes."""
    t = _tg(device).put(onp.array(0.3))
    out = TG.np.array([[1.0 + t ** 2, t], [t, 1.0]])
    assert on(out, device) and out.shape == (2, 2) and out.dtype == onp.float64
    onp.testing.assert_array_equal(host(out), [[1.09, 0.3], [0.3, 1.0]])
    row = TG.np.array([t, onp.array(2.0), 3], dtype=onp.float32, ndmin=2)
    assert on(row, device) and row.shape == (1, 3) and row.dtype == onp.float32
    onp.testing.assert_allclose(host(row), [[0.3, 2.0, 3.0]], rtol=1e-7)
