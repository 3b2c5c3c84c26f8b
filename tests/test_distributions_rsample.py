"""Reparameterised sampling of the gamma family: the exact implicit derivative of a standard
gamma draw (tensorgrad.ops.gamma_rsample) against mpmath, finite differences of the inverse CDF
and torch's approximation; the families' rsample (Gamma, Beta, Dirichlet, Chi2, StudentT,
FisherSnedecor, InverseGamma) on every device."""

import numpy as np
import pytest
import scipy.special as sc
from devices import host, on, put, torch_oracle

import tensorgrad as tg
from tensorgrad.ops.gamma_rsample import (
    gamma_log_moment_ratio,
    standard_gamma_dz_dalpha,
    standard_gamma_rsample,
)

D = tg.distributions

ALPHAS = [1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 100.0, 1e3, 1e4]
QUANTILES = [0.001, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99, 0.999]


def _grid(dtype):
    """(alpha, z) at the distribution's quantiles, rounded to ``dtype``; quantiles whose z is
    below the dtype's smallest normal number (small alpha puts most of the mass there) are
    left out, as the samplers lift such draws to it."""
    a, q = np.meshgrid(np.array(ALPHAS), np.array(QUANTILES), indexing="ij")
    z = sc.gammaincinv(a, q)
    keep = z >= np.finfo(dtype).tiny
    return a[keep].astype(dtype), z[keep].astype(dtype), q[keep]


def _mp_dz_dalpha(a, z):
    """-(dP/da)(a, z) / p(z; a) to 30 digits: the integral of p(t) (log t - digamma(a)) over
    (0, z], in s = log t with the density's constants cancelled against p(z)."""
    mp = pytest.importorskip("mpmath")
    with mp.workdps(30):
        a, z = mp.mpf(float(a)), mp.mpf(float(z))
        psi, lz = mp.digamma(a), mp.log(z)

        def f(s):
            return mp.exp(a * (s - lz) - (mp.exp(s) - z)) * (s - psi)
        pts = sorted({lz - 60 / a - 60, lz - 50 / a, lz - 5 / a, lz - 40, lz - 10, lz - 3,
                      lz - 1})
        return float(-z * mp.quad(f, [-mp.inf] + [p for p in pts if p < lz] + [lz]))


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-10), (np.float32, 2e-6)])
def test_dz_dalpha_against_mpmath(dtype, rtol):
    a, z, _ = _grid(dtype)
    want = np.array([_mp_dz_dalpha(ai, zi) for ai, zi in zip(a, z)])
    got = standard_gamma_dz_dalpha(a, z)
    assert got.dtype == dtype
    err = np.abs(got / want - 1)
    assert len(a) > 100
    assert err.max() < rtol, (a[err.argmax()], z[err.argmax()], err.max())


def _richardson(f, x, h):
    """f'(x) by central differences at h and h/2, Richardson-extrapolated (error O(h^4))."""
    d1 = (f(x + h) - f(x - h)) / (2 * h)
    d2 = (f(x + h / 2) - f(x - h / 2)) / h
    return (4 * d2 - d1) / 3


# alpha, quantile: points where scipy's gammaincinv is accurate enough for differences
FD_POINTS = [(0.3, 0.8), (0.7, 0.2), (1.0, 0.5), (2.5, 0.05), (2.5, 0.95), (12.0, 0.5),
             (150.0, 0.3), (3000.0, 0.9)]


@pytest.mark.parametrize("a,q", FD_POINTS)
def test_first_and_implicit_second_derivative_against_inverse_cdf(a, q):
    z = sc.gammaincinv(a, q)
    h = 1e-3 * a
    fd1 = _richardson(lambda s: sc.gammaincinv(s, q), a, h)
    fd2 = (sc.gammaincinv(a + h, q) - 2 * z + sc.gammaincinv(a - h, q)) / h ** 2

    def draw(alpha):  # the draw as a function of alpha at fixed noise q
        return standard_gamma_rsample(alpha, np.float64(z))
    np.testing.assert_allclose(tg.grad(draw)(a), fd1, rtol=1e-7)
    rev2 = tg.grad(tg.grad(draw))(a)
    fwd2 = tg.deriv(tg.deriv(draw))(a)
    np.testing.assert_allclose(rev2, fd2, rtol=2e-4, atol=1e-6 / a)
    np.testing.assert_allclose(fwd2, rev2, rtol=1e-12)
    # the third derivative runs (R_3 and polygamma(2, .) in its rules) and is finite
    assert np.isfinite(tg.grad(tg.grad(tg.grad(draw)))(a))


@pytest.mark.parametrize("k", [0, 1, 2])
def test_log_moment_ratio_check_grads(k):
    a = np.array([0.4, 2.0, 30.0])
    z = np.array([0.05, 3.5, 28.0])  # below and above the mode alpha
    tg.check_grads(lambda al, zz: gamma_log_moment_ratio(k, al, zz), modes=("fwd", "rev"),
                   order=2)(a, z)


def test_matches_torch_standard_gamma_grad_for_the_same_draw():
    torch = torch_oracle()
    a, z, _ = _grid(np.float64)
    theirs = torch._standard_gamma_grad(torch.tensor(a), torch.tensor(z)).numpy()
    ours = standard_gamma_dz_dalpha(a, z)
    # torch's fits are accurate to a few 1e-4 at worst (measured 7.4e-4 at alpha 0.01,
    # q 0.999), 2e-6 in the median
    np.testing.assert_allclose(ours, theirs, rtol=2e-3)
    assert np.median(np.abs(ours / theirs - 1)) < 1e-5


def test_gamma_rsample_pathwise_gradient_matches_torch(device):
    torch = torch_oracle()
    alpha = np.array([0.05, 0.7, 3.0, 40.0])
    rate = np.array([2.0, 0.5, 1.5, 3.0])
    a = tg.tensor(put(alpha, device), requires_grad=True)
    r = tg.tensor(put(rate, device), requires_grad=True)
    x = D.Gamma(a, r).rsample((50,))
    assert on(x, device) and x.shape == (50, 4)
    x.sum().backward()
    assert on(a.grad, device) and on(r.grad, device)
    # torch's pathwise gradient of the same draws: z = x rate, dx/da = dz/da / rate
    ta, tr = torch.tensor(alpha, requires_grad=True), torch.tensor(rate, requires_grad=True)
    tz = torch.tensor(host(x) * rate)
    tx = torch._standard_gamma_grad(ta.detach().expand(50, 4), tz)
    want_a = (tx / tr.detach()).sum(0).numpy()
    np.testing.assert_allclose(host(a.grad), want_a, rtol=2e-3)
    (tz / tr).sum().backward()  # the draw as z / rate
    np.testing.assert_allclose(host(r.grad), tr.grad.numpy(), rtol=1e-10)


def test_rsample_is_sample_with_history(device):
    a = tg.tensor(put(np.array([0.5, 4.0]), device), requires_grad=True)
    tg.manual_seed(3)
    s = D.Gamma(a, 2.0).sample((4,))
    tg.manual_seed(3)
    r = D.Gamma(a, 2.0).rsample((4,))
    np.testing.assert_array_equal(host(s), host(r))
    assert r.requires_grad and not s.requires_grad


def _per_draw_grads(make, alpha, n, device):
    """Per-draw pathwise derivatives of the draws' sum in alpha: n independent copies of the
    distribution (one alpha element each), so each element of alpha.grad is one draw's."""
    a = tg.tensor(put(np.full(n, alpha), device), requires_grad=True)
    x = make(a).rsample()
    x.sum().backward()
    g = host(a.grad)
    assert np.isfinite(g).all()
    return g


@pytest.mark.parametrize("family,alpha,want", [
    ("Gamma", 2.5, 0.5),                 # mean alpha / rate, rate 2
    ("Gamma", 0.2, 0.5),
    ("Chi2", 3.0, 1.0),                  # mean df
    ("Beta", 1.5, 2.0 / 3.5 ** 2),       # mean a / (a + b), b = 2
    ("InverseGamma", 4.0, -3.0 / 9.0),   # mean rate / (a - 1), rate 3
    ("FisherSnedecor", 10.0, -2 / 64),   # mean df2 / (df2 - 2), df2 = alpha
    ("StudentT", 5.0, 0.0),              # mean loc
])
def test_monte_carlo_mean_gradient(device, family, alpha, want):
    makers = {
        "Gamma": lambda a: D.Gamma(a, 2.0), "Chi2": D.Chi2, "Beta": lambda a: D.Beta(a, 2.0),
        "InverseGamma": lambda a: D.InverseGamma(a, 3.0),
        "FisherSnedecor": lambda a: D.FisherSnedecor(7.0 + 0 * a, a),
        "StudentT": lambda a: D.StudentT(a, 1.0, 2.0),
    }
    g = _per_draw_grads(makers[family], alpha, 20000, device)
    err = 5 * g.std() / np.sqrt(g.size)
    assert abs(g.mean() - want) < err, (g.mean(), want, err)
    assert g.std() > 0


def test_dirichlet_rsample_gradient(device):
    c = np.array([0.5, 2.0, 4.0])
    conc = tg.tensor(put(np.tile(c, (20000, 1)), device), requires_grad=True)
    x = D.Dirichlet(conc).rsample()
    assert on(x, device)
    np.testing.assert_allclose(host(x.sum(-1)), 1.0, rtol=1e-12)
    x[:, 0].sum().backward()  # d/dc E[x_0] = (c0 - c_j [j == 0]) / c0^2 ... per column
    g = host(conc.grad)
    total = c.sum()
    want = np.array([(total - c[0]) / total ** 2, -c[0] / total ** 2, -c[0] / total ** 2])
    err = 5 * g.std(0) / np.sqrt(g.shape[0])
    assert (np.abs(g.mean(0) - want) < err).all(), (g.mean(0), want, err)


def test_float32_parameters_give_float32_gradients(device):
    a = tg.tensor(put(np.array([0.3, 3.0], np.float32), device), requires_grad=True)
    b = tg.tensor(put(np.array([1.0, 2.0], np.float32), device), requires_grad=True)
    x = D.Beta(a, b).rsample((100,))
    assert x.dtype == tg.float32
    x.sum().backward()
    assert a.grad.dtype == tg.float32 and b.grad.dtype == tg.float32
    assert np.isfinite(host(a.grad)).all() and np.isfinite(host(b.grad)).all()


def test_second_order_through_rsample(device):
    a = tg.tensor(put(np.array([1.5, 8.0]), device), requires_grad=True)
    x = D.Gamma(a, 1.0).rsample((10,))
    (g,) = tg.autograd.grad(x.sum(), [a], create_graph=True)
    (h,) = tg.autograd.grad(g.sum(), [a])
    assert on(h, device) and np.isfinite(host(h)).all()
    # the implicit second derivative per draw: finite differences of the inverse CDF
    z = host(x.detach())
    q = sc.gammainc(np.array([1.5, 8.0]), z)
    step = 1e-4
    fd = ((sc.gammaincinv(np.array([1.5, 8.0]) + step, q)
           - 2 * z + sc.gammaincinv(np.array([1.5, 8.0]) - step, q)) / step ** 2).sum(0)
    np.testing.assert_allclose(host(h), fd, rtol=1e-3, atol=1e-4)


def test_bad_inputs_are_named():
    a = tg.tensor(np.array([2.0]), requires_grad=True)
    z = tg.tensor(np.array([1.0]), requires_grad=True)
    with pytest.raises(NotImplementedError, match="standard_gamma_rsample"):
        standard_gamma_rsample(a, z).sum().backward()
    with pytest.raises(ValueError, match="gamma_log_moment_ratio.*order k"):
        gamma_log_moment_ratio(-1, np.array([2.0]), np.array([1.0]))
