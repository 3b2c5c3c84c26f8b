"""LKJCholesky and Wishart against torch.distributions (float64): densities, entropies and
moments with their gradients, shapes, expand, validation, sampling statistics with fixed seeds
(the onion method's Beta marginals, the Wishart mean) and the pathwise gradients of Wishart's
Bartlett rsample (Monte Carlo and finite differences at fixed noise); and the families that
are exponential families in torch: their natural parameters, the generic entropy and the
Bregman KL, on every device."""

import warnings

import numpy as np
import pytest
import scipy.special as sc
import scipy.stats as st
from devices import host, numeric_jacobian, on, put, torch_oracle

import tensorgrad as tg
import tensorgrad.distributions as D

torch = torch_oracle()
TD = torch.distributions

RNG = np.random.default_rng(2024)


def _t(x, device, requires_grad=False):
    return tg.tensor(put(np.asarray(x, dtype=np.float64), device), requires_grad=requires_grad)


def _tt(x, requires_grad=False):
    return torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=requires_grad)


def _compare(out, ref, ours, theirs, what, rtol=1e-9, atol=1e-10):
    """Values, then the gradients of a weighted sum with respect to each pair of inputs."""
    np.testing.assert_allclose(host(out.detach()), ref.detach().numpy(), rtol=rtol, atol=atol,
                               err_msg=what)
    w = np.linspace(0.5, 1.5, ref.numel()).reshape(tuple(ref.shape))
    (out * tg.tensor(put(w, out.device.type))).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    for a, b in zip(ours, theirs):
        assert b.grad is not None and a.grad is not None, what
        assert on(a.grad, out.device.type), what
        np.testing.assert_allclose(host(a.grad), b.grad.numpy(), rtol=1e-7, atol=1e-9,
                                   err_msg=what)


def _spd(p, batch=()):
    a = RNG.normal(size=batch + (p, p))
    return a @ np.swapaxes(a, -1, -2) / p + np.eye(p)


def _torch_wishart_draws(shape, *args, **kwargs):
    # torch 2.13's rsample tests the support the wrong way round and warns of "singular"
    # samples for every valid one (and redraws them); the draws are still valid
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return TD.Wishart(*args, **kwargs).sample(shape)


# ---- LKJCholesky ----------------------------------------------------------------------------

@pytest.mark.parametrize("dim", [2, 3, 4, 5])
def test_lkj_log_prob_matches_torch(dim, device):
    conc = np.array([0.4, 1.0, 2.5])
    td = TD.LKJCholesky(dim, _tt(conc))
    torch.manual_seed(dim)
    x = td.sample((4,))  # (4, 3, dim, dim): torch's own draws as the points
    c, tc = _t(conc, device, True), _tt(conc, True)
    v, tv = _t(x.numpy(), device, True), _tt(x.numpy(), True)
    out = D.LKJCholesky(dim, c).log_prob(v)
    ref = TD.LKJCholesky(dim, tc).log_prob(tv)
    assert tuple(out.shape) == (4, 3) and on(out, device)
    _compare(out, ref, [c, v], [tc, tv], f"LKJ dim {dim}")


def test_lkj_log_prob_number_concentration_and_broadcast(device):
    torch.manual_seed(0)
    x = TD.LKJCholesky(3, 0.7).sample((2, 5))
    # a number concentration lives on the default device, as torch's (so the value does)
    out = D.LKJCholesky(3, 0.7).log_prob(tg.tensor(x.numpy()))
    assert out.dtype == tg.float32  # the number is float32 in both
    np.testing.assert_allclose(host(out), TD.LKJCholesky(3, 0.7).log_prob(x).numpy(),
                               rtol=1e-5)
    # a batch of concentrations against one value broadcasts
    conc = np.array([0.5, 1.5])
    torch.manual_seed(1)
    one = TD.LKJCholesky(3, _tt(0.7)).sample().numpy()
    out = D.LKJCholesky(3, _t(conc, device)).log_prob(_t(one, device))
    ref = TD.LKJCholesky(3, _tt(conc)).log_prob(_tt(one))
    np.testing.assert_allclose(host(out), ref.numpy(), rtol=1e-12)


@pytest.mark.parametrize("dim", [2, 3, 5])
def test_lkj_samples_are_correlation_cholesky_factors(dim, device):
    d = D.LKJCholesky(dim, _t([0.5, 3.0], device))
    assert d.support is D.constraints.corr_cholesky
    assert not d.has_rsample
    tg.manual_seed(0)
    for shape in ((), (4,), (2, 3)):
        s = d.sample(shape)
        assert tuple(s.shape) == tuple(shape) + (2, dim, dim)
        assert on(s, device) and not s.requires_grad and s.dtype == tg.float64
        L = host(s)
        np.testing.assert_array_equal(L, np.tril(L))
        assert (np.diagonal(L, axis1=-2, axis2=-1) > 0).all()
        corr = L @ np.swapaxes(L, -1, -2)
        np.testing.assert_allclose(np.diagonal(corr, axis1=-2, axis2=-1), 1.0, rtol=1e-12)
        off = corr[..., ~np.eye(dim, dtype=bool)]
        assert (np.abs(off) < 1).all()
        assert bool(d.support.check(s).all().item())
        assert bool(D.constraints.corr_cholesky.check(s).all().item())
    tg.manual_seed(5)
    a = host(d.sample((3,)))
    tg.manual_seed(5)
    np.testing.assert_array_equal(a, host(d.sample((3,))))  # the seed fixes the draws


@pytest.mark.parametrize("dim,conc", [(2, 1.0), (3, 0.5), (4, 1.5), (5, 4.0)])
def test_lkj_correlations_have_the_beta_marginal(dim, conc, device):
    # every off-diagonal correlation r has (r + 1) / 2 ~ Beta(a, a), a = conc - 1 + dim / 2
    n = 20000
    tg.manual_seed(17)
    L = host(D.LKJCholesky(dim, _t(conc, device)).sample((n,)))
    corr = L @ np.swapaxes(L, -1, -2)
    a = conc - 1 + dim / 2
    var = 1 / (2 * a + 1)
    fourth = 3 / ((2 * a + 1) * (2 * a + 3))
    for i in range(1, dim):
        for j in range(i):
            r = corr[:, i, j]
            assert abs(r.mean()) < 5 * np.sqrt(var / n), (i, j, r.mean())
            se_var = np.sqrt((fourth - var ** 2) / n)
            assert abs((r ** 2).mean() - var) < 5 * se_var, (i, j, (r ** 2).mean(), var)
            ks = st.kstest((r + 1) / 2, st.beta(a, a).cdf)
            assert ks.pvalue > 1e-3, (i, j, ks)


def test_lkj_expand_and_batch_shapes(device):
    conc = _t([[0.5], [2.0]], device)
    d = D.LKJCholesky(3, conc)
    td = TD.LKJCholesky(3, _tt([[0.5], [2.0]]))
    assert tuple(d.batch_shape) == tuple(td.batch_shape) == (2, 1)
    assert tuple(d.event_shape) == tuple(td.event_shape) == (3, 3)
    e, te = d.expand((4, 2, 5)), td.expand((4, 2, 5))
    assert type(e) is D.LKJCholesky and e.dim == 3
    assert tuple(e.batch_shape) == tuple(te.batch_shape) == (4, 2, 5)
    assert tuple(e.concentration.shape) == (4, 2, 5)
    tg.manual_seed(1)
    s = e.sample((2,))
    assert tuple(s.shape) == (2, 4, 2, 5, 3, 3) and on(s, device)
    assert bool(e.support.check(s).all().item())
    torch.manual_seed(1)
    x = te.sample()
    np.testing.assert_allclose(host(e.log_prob(_t(x.numpy(), device))),
                               te.log_prob(x).numpy(), rtol=1e-12)
    assert e.expand((4, 2, 5)).batch_shape == e.batch_shape


def test_lkj_validation(device):
    with pytest.raises(ValueError, match="dim"):
        D.LKJCholesky(1, 1.0)
    with pytest.raises(ValueError, match="concentration"):
        D.LKJCholesky(3, _t([1.0, -0.5], device))
    d = D.LKJCholesky(3, _t(1.0, device))
    not_unit = _t(np.eye(3) * 2.0, device)
    with pytest.raises(ValueError, match="support"):
        d.log_prob(not_unit)
    upper = _t(np.array([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [0.0, 0.6, 0.8]]).T, device)
    with pytest.raises(ValueError, match="support"):
        d.log_prob(upper)
    with pytest.raises(ValueError, match="event_shape"):
        d.log_prob(_t(np.eye(2), device))
    # without validation the same value gives torch's number
    x = np.eye(3) * 2.0
    np.testing.assert_allclose(
        host(D.LKJCholesky(3, _t(1.0, device), validate_args=False).log_prob(_t(x, device))),
        TD.LKJCholesky(3, _tt(1.0), validate_args=False).log_prob(_tt(x)).numpy(),
        rtol=1e-12)


def test_lkj_log_prob_second_order():
    L = TD.LKJCholesky(3, 1.0).sample().double().numpy()

    def f(x):
        x = x if isinstance(x, tg.Tensor) else tg.tensor(x)  # finite differences pass arrays
        conc = x[0]
        value = tg.diag_embed(x[1:]) + tg.tensor(np.tril(L, -1))
        return D.LKJCholesky(3, conc, validate_args=False).log_prob(value)

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(
        tg.tensor(np.concatenate([[1.7], np.diagonal(L)])))


# ---- Wishart ----------------------------------------------------------------------------------

_P = 3
_COV = _spd(_P, (2,))
_DF = np.array([4.5, 7.0])


def _wishart_points(p=_P, n=4, df=6.0):
    cov = _spd(p)
    torch.manual_seed(3)
    return _torch_wishart_draws((n, 2), _tt(df), covariance_matrix=_tt(cov)).numpy()


def _param_of(kind, cov):
    if kind == "scale_tril":
        return np.linalg.cholesky(cov)
    if kind == "precision_matrix":
        return np.linalg.inv(cov)
    return cov


@pytest.mark.parametrize("kind", ["covariance_matrix", "precision_matrix", "scale_tril"])
@pytest.mark.parametrize("method", ["log_prob", "entropy", "mean", "mode", "variance",
                                    "generic_entropy"])
def test_wishart_matches_torch(kind, method, device):
    m = _param_of(kind, _COV)
    df, tdf = _t(_DF, device, True), _tt(_DF, True)
    mat, tmat = _t(m, device, True), _tt(m, True)
    d = D.Wishart(df, **{kind: mat})
    td = TD.Wishart(tdf, **{kind: tmat})
    assert tuple(d.batch_shape) == (2,) and tuple(d.event_shape) == (_P, _P)
    ours, theirs = [df, mat], [tdf, tmat]
    if method == "log_prob":
        x = _wishart_points()
        v, tv = _t(x, device, True), _tt(x, True)
        out, ref = d.log_prob(v), td.log_prob(tv)
        ours, theirs = ours + [v], theirs + [tv]
    elif method == "generic_entropy":
        assert isinstance(d, D.ExponentialFamily)
        out, ref = D.ExponentialFamily.entropy(d), TD.ExponentialFamily.entropy(td)
        # the natural parameters are detached there (as torch's): no gradient to compare
        np.testing.assert_allclose(host(out), ref.detach().numpy(), rtol=1e-9)
        np.testing.assert_allclose(host(out), host(d.entropy()), rtol=1e-9)
        return
    elif method in ("mean", "mode", "variance"):
        out, ref = getattr(d, method), getattr(td, method)
    else:
        out, ref = d.entropy(), td.entropy()
    assert on(out, device)
    _compare(out, ref, ours, theirs, f"Wishart {kind} {method}")


def test_wishart_number_df_batched_matrix_and_derived_matrices(device):
    cov = _COV
    d = D.Wishart(5.0, covariance_matrix=_t(cov, device))
    td = TD.Wishart(5.0, covariance_matrix=_tt(cov))
    assert d.df.dtype == tg.float64 and on(d.df, device)
    np.testing.assert_allclose(host(d.mean), td.mean.numpy() if td.df.ndim else
                               5.0 * cov, rtol=1e-12)
    np.testing.assert_allclose(host(d.precision_matrix), td.precision_matrix.numpy(),
                               rtol=1e-10)
    np.testing.assert_allclose(host(d.scale_tril), td.scale_tril.numpy(), rtol=1e-12)
    x = _wishart_points()
    np.testing.assert_allclose(host(d.log_prob(_t(x, device))), td.log_prob(_tt(x)).numpy(),
                               rtol=1e-10)
    # the mode is NaN where df <= p + 1, as torch's
    m = D.Wishart(_t([3.5, 6.0], device), covariance_matrix=_t(cov, device)).mode
    assert np.isnan(host(m)[0]).all() and np.isfinite(host(m)[1]).all()


def test_wishart_expand_and_shapes(device):
    d = D.Wishart(_t([[4.0], [6.0]], device), scale_tril=_t(np.linalg.cholesky(_COV), device))
    td = TD.Wishart(_tt([[4.0], [6.0]]), scale_tril=_tt(np.linalg.cholesky(_COV)))
    assert tuple(d.batch_shape) == tuple(td.batch_shape) == (2, 2)
    e, te = d.expand((3, 2, 2)), td.expand((3, 2, 2))
    assert type(e) is D.Wishart
    assert tuple(e.batch_shape) == tuple(te.batch_shape) == (3, 2, 2)
    assert tuple(e.event_shape) == (_P, _P)
    np.testing.assert_allclose(host(e.mean), te.mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(host(e.entropy()), te.entropy().numpy(), rtol=1e-12)
    tg.manual_seed(0)
    for shape in ((), (4,), (2, 3)):
        s = d.sample(shape)
        assert tuple(s.shape) == tuple(shape) + (2, 2, _P, _P)
        assert on(s, device) and not s.requires_grad
        assert bool(d.support.check(s).all().item())
    s = e.rsample((2,))
    assert tuple(s.shape) == (2, 3, 2, 2, _P, _P)
    np.testing.assert_allclose(host(s), np.swapaxes(host(s), -1, -2), rtol=1e-12)


def test_wishart_validation(device):
    cov = _t(_COV[0], device)
    with pytest.raises(ValueError, match="exactly one"):
        D.Wishart(4.0, covariance_matrix=cov, scale_tril=cov)
    with pytest.raises(ValueError, match="df"):
        D.Wishart(_t([1.5], device), covariance_matrix=cov)
    with pytest.raises(ValueError, match="square"):
        D.Wishart(4.0, covariance_matrix=_t(np.ones(3), device))
    with pytest.warns(UserWarning, match="Low df"):
        D.Wishart(2.5, covariance_matrix=cov)
    with pytest.raises(ValueError, match="covariance_matrix"):
        D.Wishart(4.0, covariance_matrix=_t(-np.eye(3), device))
    with pytest.raises(ValueError, match="support"):
        D.Wishart(4.0, covariance_matrix=cov).log_prob(_t(-np.eye(3), device))


def test_wishart_singular_draws_are_redrawn(device):
    # df just above p - 1: the last Bartlett diagonal is sqrt(chi2(1e-4)), often below eps
    with pytest.warns(UserWarning, match="Low df"):
        d = D.Wishart(4.0001, covariance_matrix=_t(np.eye(5), device))
    tg.manual_seed(0)
    with pytest.warns(UserWarning, match="singular"):
        raw = d.rsample((200,), max_try_correction=0)
    tg.manual_seed(0)
    with pytest.warns(UserWarning, match="singular"):
        fixed = d.rsample((200,), max_try_correction=10)
    bad_raw = int((~d.support.check(raw)).sum().item())
    bad_fixed = int((~d.support.check(fixed)).sum().item())
    assert bad_raw > 20 and bad_fixed < bad_raw / 2, (bad_raw, bad_fixed)


def test_wishart_rsample_mean(device):
    n = 20000
    d = D.Wishart(_t(_DF, device), covariance_matrix=_t(_COV, device))
    tg.manual_seed(7)
    x = host(d.rsample((n,)))
    var = host(d.variance)
    err = np.abs(x.mean(0) - _DF[:, None, None] * _COV)
    assert (err < 5 * np.sqrt(var / n)).all(), err / np.sqrt(var / n)
    np.testing.assert_allclose(x.var(0), var, rtol=0.15)


def test_wishart_rsample_gradient_monte_carlo(device):
    # per-draw pathwise gradients of <W, X>: E = df <W, Sigma>, so d/dSigma E = df W and
    # d/ddf E = <W, Sigma> (n independent copies: each gradient element is one draw's)
    n = 20000
    cov, df0 = _COV[0], 5.5
    w = RNG.normal(size=(_P, _P))
    w = w + w.T
    df = _t(np.full(n, df0), device, True)
    sigma = _t(np.broadcast_to(cov, (n, _P, _P)).copy(), device, True)
    tg.manual_seed(11)
    x = D.Wishart(df, covariance_matrix=sigma).rsample()
    (x * _t(w, device)).sum().backward()
    g_df, g_sigma = host(df.grad), host(sigma.grad)
    assert np.isfinite(g_df).all() and np.isfinite(g_sigma).all()
    want = (w * cov).sum()
    assert abs(g_df.mean() - want) < 5 * g_df.std() / np.sqrt(n), (g_df.mean(), want)
    se = g_sigma.std(0) / np.sqrt(n)
    assert (np.abs(g_sigma.mean(0) - df0 * w) < 5 * se + 1e-12).all(), (g_sigma.mean(0),
                                                                          df0 * w)


def test_wishart_rsample_fixed_noise_finite_differences(device):
    # the matrix parameter: the draws' noise does not depend on it, so resetting the seed
    # fixes the noise exactly
    w = RNG.normal(size=(2, _P, _P))
    cov0 = _COV
    chol0 = np.linalg.cholesky(cov0)
    idx = np.tril_indices(_P)

    def f(v, requires_grad=False):
        v = _t(v, device, requires_grad)
        tril = tg.zeros(2, _P, _P, dtype=tg.float64, device=device)
        tril[:, idx[0], idx[1]] = v
        tg.manual_seed(4)
        x = D.Wishart(_t(_DF, device), scale_tril=tril).rsample((3,))
        return v, (x * _t(w, device)).sum()

    v0 = chol0[:, idx[0], idx[1]]
    v, out = f(v0, True)
    out.backward()
    fd = numeric_jacobian(lambda z: f(z)[1].item(), v0)
    np.testing.assert_allclose(host(v.grad), fd, rtol=1e-6, atol=1e-8)
    assert np.abs(fd).max() > 1e-2


def test_wishart_rsample_df_derivative_at_fixed_quantiles(device):
    # df moves the chi-square diagonals at fixed quantiles q_i = P(chi2(df - i) <= A_ii^2):
    # rebuild the draw from the Bartlett factor A = L^-1 chol(X) with scipy's inverse CDF
    cov = _COV[0]
    L = np.linalg.cholesky(cov)
    w = RNG.normal(size=(_P, _P))
    df0 = 5.3
    df = _t(np.full(6, df0), device, True)
    tg.manual_seed(9)
    x = D.Wishart(df, covariance_matrix=_t(cov, device)).rsample()
    (x * _t(w, device)).sum().backward()
    X = host(x.detach())
    A = np.linalg.solve(L, np.linalg.cholesky(X))
    steps = np.arange(_P)
    q = sc.gammainc((df0 - steps) / 2, np.diagonal(A, axis1=-2, axis2=-1) ** 2 / 2)

    def rebuild(nu):
        diag = np.sqrt(2 * sc.gammaincinv((nu - steps) / 2, q))
        B = np.tril(A, -1) + diag[..., None] * np.eye(_P)
        C = L @ B
        return (C @ np.swapaxes(C, -1, -2) * w).sum((-2, -1))

    np.testing.assert_allclose(rebuild(df0), (X * w).sum((-2, -1)), rtol=1e-10)
    h = 1e-5
    fd = (rebuild(df0 + h) - rebuild(df0 - h)) / (2 * h)
    np.testing.assert_allclose(host(df.grad), fd, rtol=1e-5, atol=1e-7)


def test_wishart_log_prob_second_order():
    x = _wishart_points()[0, 0]
    cov = _COV[0]

    def f(v):
        v = v if isinstance(v, tg.Tensor) else tg.tensor(v)
        tril = tg.diag_embed(v[1:4].exp()) + tg.tensor(np.tril(np.linalg.cholesky(cov), -1))
        return D.Wishart(v[0], scale_tril=tril, validate_args=False).log_prob(
            tg.tensor(x) * v[4])

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(
        tg.tensor(np.array([5.5, 0.1, -0.2, 0.3, 1.1])))


def test_wishart_bregman_kl_matches_torch(device):
    cov_p, cov_q = _COV[0], _COV[1]
    p = D.Wishart(_t(5.0, device), covariance_matrix=_t(cov_p, device))
    q = D.Wishart(_t(6.5, device), covariance_matrix=_t(cov_q, device))
    tp = TD.Wishart(_tt(5.0), covariance_matrix=_tt(cov_p))
    tq = TD.Wishart(_tt(6.5), covariance_matrix=_tt(cov_q))
    out = D.kl_divergence(p, q)
    np.testing.assert_allclose(host(out), TD.kl_divergence(tp, tq).detach().numpy(),
                               rtol=1e-9)
    assert host(D.kl_divergence(p, p)) == pytest.approx(0.0, abs=1e-9)
    # batched: each element is its own KL (torch sums the df term over the batch there, so
    # compare against torch one element at a time)
    dfs_p, dfs_q = np.array([4.0, 5.0, 9.0]), np.array([6.5, 4.5, 3.5])
    bp = D.Wishart(_t(dfs_p, device), covariance_matrix=_t(cov_p, device))
    bq = D.Wishart(_t(dfs_q, device), covariance_matrix=_t(cov_q, device))
    want = [TD.kl_divergence(TD.Wishart(_tt(a), covariance_matrix=_tt(cov_p)),
                             TD.Wishart(_tt(b), covariance_matrix=_tt(cov_q))).item()
            for a, b in zip(dfs_p, dfs_q)]
    np.testing.assert_allclose(host(D.kl_divergence(bp, bq)), want, rtol=1e-9)


# ---- exponential families ---------------------------------------------------------------------

_FAMILY_NAMES = sorted(n for n in D.__all__ if isinstance(getattr(D, n), type)
                       and issubclass(getattr(D, n), D.Distribution) and hasattr(TD, n))


@pytest.mark.parametrize("name", _FAMILY_NAMES)
def test_exponential_family_subclasses_match_torch(name):
    ours, theirs = getattr(D, name), getattr(TD, name)
    assert issubclass(ours, D.ExponentialFamily) == issubclass(theirs, TD.ExponentialFamily)


def _pairs(device):
    """name -> (p, q, torch p, torch q): two members of each exponential family."""
    a, b = np.array([0.7, 2.0, 3.5]), np.array([1.5, 0.4, 2.2])
    simplex_a, simplex_b = np.array([[0.6, 1.5, 3.0]]), np.array([[2.0, 0.7, 1.1]])
    pr_a, pr_b = np.array([0.2, 0.55, 0.9]), np.array([0.4, 0.3, 0.7])
    cov = _COV[0]
    return {
        "Normal": (lambda M, t: M.Normal(t(a - 1), t(b)), lambda M, t: M.Normal(t(b), t(a))),
        "Gamma": (lambda M, t: M.Gamma(t(a), t(b)), lambda M, t: M.Gamma(t(b), t(a))),
        "Chi2": (lambda M, t: M.Chi2(t(a)), lambda M, t: M.Chi2(t(b))),
        "Exponential": (lambda M, t: M.Exponential(t(a)), lambda M, t: M.Exponential(t(b))),
        "Poisson": (lambda M, t: M.Poisson(t(a)), lambda M, t: M.Poisson(t(b))),
        "Bernoulli": (lambda M, t: M.Bernoulli(t(pr_a)), lambda M, t: M.Bernoulli(t(pr_b))),
        "Beta": (lambda M, t: M.Beta(t(a), t(b)), lambda M, t: M.Beta(t(b), t(a))),
        "Dirichlet": (lambda M, t: M.Dirichlet(t(simplex_a)),
                      lambda M, t: M.Dirichlet(t(simplex_b))),
        "ContinuousBernoulli": (lambda M, t: M.ContinuousBernoulli(t(pr_a)),
                                lambda M, t: M.ContinuousBernoulli(t(pr_b))),
        "Wishart": (lambda M, t: M.Wishart(t(5.0), covariance_matrix=t(cov)),
                    lambda M, t: M.Wishart(t(4.0), covariance_matrix=t(_COV[1]))),
    }


@pytest.mark.parametrize("name", list(_pairs("cpu")))
def test_natural_params_log_normalizer_and_generic_entropy(name, device):
    mp, _ = _pairs(device)[name]
    d = mp(D, lambda x: _t(x, device))
    td = mp(TD, _tt)
    assert isinstance(d, D.ExponentialFamily)
    for ours, theirs in zip(d._natural_params, td._natural_params):
        np.testing.assert_allclose(host(ours), theirs.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(host(d._log_normalizer(*d._natural_params)),
                               td._log_normalizer(*td._natural_params).detach().numpy(),
                               rtol=1e-12)
    try:
        want = TD.ExponentialFamily.entropy(td).detach().numpy()
    except NotImplementedError:  # torch gives no carrier measure (Poisson, Beta, Dirichlet)
        want = None
    if name == "Poisson":
        assert want is None
        with pytest.raises(NotImplementedError, match="Poisson.*_mean_carrier_measure"):
            D.ExponentialFamily.entropy(d)
        return
    generic = D.ExponentialFamily.entropy(d)
    assert on(generic, device)
    if want is not None:
        np.testing.assert_allclose(host(generic), want, rtol=1e-9)
    # the family's own closed form (kept) agrees with the generic one
    np.testing.assert_allclose(host(generic), host(d.entropy()), rtol=1e-8)


@pytest.mark.parametrize("name", list(_pairs("cpu")))
def test_bregman_kl_matches_closed_forms_and_torch(name, device):
    from tensorgrad.distributions import kl as klmod

    mp, mq = _pairs(device)[name]
    leaves = []

    def t(x):
        leaves.append(_t(x, device, True))
        return leaves[-1]

    tleaves = []

    def tt(x):
        tleaves.append(_tt(x, True))
        return tleaves[-1]

    p, q = mp(D, t), mq(D, t)
    tp, tq = mp(TD, tt), mq(TD, tt)
    out = klmod._kl_expfamily_expfamily(p, q)
    ref = TD.kl._kl_expfamily_expfamily(tp, tq)
    assert on(out, device)
    # the registered KL (closed form where one exists, Bregman for Wishart) agrees
    np.testing.assert_allclose(host(D.kl_divergence(p, q)), host(out), rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(host(out), TD.kl_divergence(tp, tq).detach().numpy(),
                               rtol=1e-7, atol=1e-12)
    # gradients of the Bregman form flow to q only (p's natural parameters are detached, as
    # torch's): compare them with torch's, leaf by leaf
    w = np.linspace(0.5, 1.5, ref.numel()).reshape(tuple(ref.shape))
    (out * _t(w, device)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    n_p = len(leaves) // 2
    for i, (a, b) in enumerate(zip(leaves, tleaves)):
        if i < n_p:
            assert a.grad is None and b.grad is None, name
        else:
            assert on(a.grad, device)
            np.testing.assert_allclose(host(a.grad), b.grad.numpy(), rtol=1e-7, atol=1e-10,
                                       err_msg=name)


def test_cross_family_kl_raises_like_torch(device):
    # both exponential families, nothing registered between them: torch's Bregman error
    p, q = D.Normal(_t(0.0, device), _t(1.0, device)), D.Poisson(_t(1.0, device))
    with pytest.raises(NotImplementedError) as theirs:
        TD.kl_divergence(TD.Normal(0.0, 1.0), TD.Poisson(1.0))
    with pytest.raises(NotImplementedError, match="Bregman.*Normal.*Poisson"):
        D.kl_divergence(p, q)
    assert "Bregman" in str(theirs.value)
    # an exponential family against a family that is not one keeps the "No KL" error
    with pytest.raises(NotImplementedError, match="No KL.*Normal.*Binomial"):
        D.kl_divergence(p, D.Binomial(3, _t(0.5, device)))
    with pytest.raises(NotImplementedError, match="No KL.*Normal.*Binomial"):
        TD.kl_divergence(TD.Normal(0.0, 1.0), TD.Binomial(3, torch.tensor(0.5)))
    # closed forms across families registered before stay what they were
    np.testing.assert_allclose(
        host(D.kl_divergence(D.Exponential(_t(2.0, device)), D.Gamma(_t(1.5, device),
                                                                     _t(0.5, device)))),
        TD.kl_divergence(TD.Exponential(_tt(2.0)), TD.Gamma(_tt(1.5), _tt(0.5))).numpy(),
        rtol=1e-10)


def test_float32_stays_float32(device):
    cov = tg.tensor(put(_COV[0].astype(np.float32), device))
    df = tg.tensor(put(np.array(5.0, np.float32), device), requires_grad=True)
    w = D.Wishart(df, covariance_matrix=cov)
    x = w.rsample((4,))
    assert x.dtype == tg.float32 and on(x, device)
    assert w.log_prob(x.detach()).dtype == tg.float32
    x.sum().backward()
    assert df.grad.dtype == tg.float32 and np.isfinite(host(df.grad)).all()
    d = D.LKJCholesky(4, tg.tensor(put(np.array(1.5, np.float32), device)))
    s = d.sample((3,))
    assert s.dtype == tg.float32 and bool(d.support.check(s).all().item())
    assert d.log_prob(s).dtype == tg.float32
