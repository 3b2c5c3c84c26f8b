"""tg.distributions against torch.distributions: values and parameter gradients of log_prob,
cdf, icdf, entropy, moments and kl_divergence (float64), shapes, sampling statistics,
pathwise rsample gradients, validation errors, second-order checks, signature parity."""

import inspect

import numpy as np
import pytest
from devices import check_samples_and_expand, host, numeric_jacobian, on, put, torch_oracle

import tensorgrad as tg
import tensorgrad.distributions as D

torch = torch_oracle()
TD = torch.distributions

RNG = np.random.default_rng(1234)


def _pos(*shape, low=0.5, high=2.0):
    return RNG.uniform(low, high, shape)


def _tril(n, batch=()):
    a = RNG.normal(size=batch + (n, n)) * 0.3
    a = np.tril(a)
    idx = np.arange(n)
    a[..., idx, idx] = RNG.uniform(0.8, 1.5, batch + (n,))
    return a


_L = _tril(3)
_COV = _L @ _L.T + 0.1 * np.eye(3)
_SIMPLEX = RNG.dirichlet(np.ones(4), size=2)
_ONEHOT = np.eye(4)[[1, 3]]

# name -> (family, params: {name: array}, const params (no grad), value, methods)
# params are differentiated; const are passed as given (numbers) to both libraries
CASES = {
    "Normal": ("Normal", {"loc": RNG.normal(size=3), "scale": _pos(2, 1)}, {},
               RNG.normal(size=(2, 3)),
               ("log_prob", "cdf", "icdf", "entropy", "mean", "mode", "variance", "stddev")),
    "LogNormal": ("LogNormal", {"loc": RNG.normal(size=3) * 0.3, "scale": _pos(2, 1)}, {},
                  _pos(2, 3),
                  ("log_prob", "cdf", "icdf", "entropy", "mean", "mode", "variance")),
    "Laplace": ("Laplace", {"loc": RNG.normal(size=3), "scale": _pos(2, 1)}, {},
                RNG.normal(size=(2, 3)),
                ("log_prob", "cdf", "icdf", "entropy", "mean", "mode", "variance", "stddev")),
    "Uniform": ("Uniform", {"low": np.array([-1.0, 0.0, 0.5]), "high": np.array([1.0, 2.0, 3.0])},
                {}, np.array([-0.5, 1.5, 2.0]),
                ("log_prob", "cdf", "icdf", "entropy", "mean", "mode", "variance", "stddev")),
    "Exponential": ("Exponential", {"rate": _pos(2, 3)}, {}, _pos(2, 3),
                    ("log_prob", "cdf", "icdf", "entropy", "mean", "mode", "variance",
                     "stddev")),
    "Gamma": ("Gamma", {"concentration": _pos(2, 3, low=1.5, high=3.0), "rate": _pos(3)}, {},
              _pos(2, 3), ("log_prob", "cdf", "entropy", "mean", "mode", "variance")),
    "Beta": ("Beta", {"concentration1": _pos(2, 3, low=1.2, high=3.0),
                      "concentration0": _pos(3, low=1.2, high=3.0)}, {},
             RNG.uniform(0.1, 0.9, (2, 3)), ("log_prob", "entropy", "mean", "mode", "variance")),
    "Bernoulli_probs": ("Bernoulli", {"probs": RNG.uniform(0.1, 0.9, (2, 3))}, {},
                        np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]]),
                        ("log_prob", "entropy", "mean", "mode", "variance")),
    "Bernoulli_logits": ("Bernoulli", {"logits": RNG.normal(size=(2, 3))}, {},
                         np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]]),
                         ("log_prob", "entropy", "mean", "mode", "variance")),
    "Categorical_probs": ("Categorical", {"probs": _pos(2, 4)}, {}, np.array([0, 3]),
                          ("log_prob", "entropy", "mean", "mode", "variance")),
    "Categorical_logits": ("Categorical", {"logits": RNG.normal(size=(2, 4))}, {},
                           np.array([[2, 1], [0, 3]]), ("log_prob", "entropy", "mode")),
    "OneHotCategorical": ("OneHotCategorical", {"logits": RNG.normal(size=(2, 4))}, {}, _ONEHOT,
                          ("log_prob", "entropy", "mean", "mode", "variance")),
    "Poisson": ("Poisson", {"rate": _pos(2, 3, high=4.0)}, {},
                np.array([[0.0, 1.0, 3.0], [2.0, 5.0, 0.0]]),
                ("log_prob", "mean", "mode", "variance")),
    "Binomial_probs": ("Binomial", {"probs": RNG.uniform(0.1, 0.9, (2, 3))}, {"total_count": 5},
                       np.array([[0.0, 1.0, 3.0], [2.0, 5.0, 4.0]]),
                       ("log_prob", "entropy", "mean", "mode", "variance")),
    "Binomial_logits": ("Binomial", {"logits": RNG.normal(size=(2, 3))}, {"total_count": 7},
                        np.array([[0.0, 1.0, 3.0], [2.0, 7.0, 4.0]]),
                        ("log_prob", "mean", "variance")),
    "Dirichlet": ("Dirichlet", {"concentration": _pos(2, 4, low=1.2, high=3.0)}, {}, _SIMPLEX,
                  ("log_prob", "entropy", "mean", "mode", "variance")),
    "MVN_scale_tril": ("MultivariateNormal", {"loc": RNG.normal(size=(2, 3)), "scale_tril": _L},
                       {}, RNG.normal(size=(2, 3)),
                       ("log_prob", "entropy", "mean", "mode", "variance")),
    "MVN_covariance": ("MultivariateNormal", {"loc": RNG.normal(size=3),
                                              "covariance_matrix": _COV}, {},
                       RNG.normal(size=(2, 3)), ("log_prob", "entropy", "variance")),
    "MVN_precision": ("MultivariateNormal", {"loc": RNG.normal(size=3),
                                             "precision_matrix": np.linalg.inv(_COV)}, {},
                      RNG.normal(size=(2, 3)), ("log_prob", "entropy", "variance")),
}

# torch's gammainc has no derivative in its first argument, nor has ours
NO_GRAD = {("Gamma", "cdf", "concentration")}
# symmetric matrices are differentiated along symmetric directions only: torch's cholesky
# and inverse give gradients that agree on those (the test compares their symmetric parts)
SYMMETRIC = {"covariance_matrix", "precision_matrix"}
INT_VALUES = {"Categorical"}


def _build(family, params, const, device, requires_grad=True):
    ours = {k: tg.tensor(put(np.asarray(v, dtype=np.float64), device),
                         requires_grad=requires_grad) for k, v in params.items()}
    theirs = {k: torch.tensor(v, dtype=torch.float64, requires_grad=requires_grad)
              for k, v in params.items()}
    d = getattr(D, family)(**ours, **const)
    t = getattr(TD, family)(**theirs, **const)
    return d, t, ours, theirs


def _value(family, v, device):
    dtype = np.int64 if family in INT_VALUES else np.float64
    return (tg.tensor(put(np.asarray(v, dtype=dtype), device)),
            torch.tensor(np.asarray(v, dtype=dtype)))


def _call(dist, method, value):
    if method in ("log_prob", "cdf", "icdf"):
        return getattr(dist, method)(value)
    if method == "entropy":
        return dist.entropy()
    return getattr(dist, method)


def _icdf_value(v):
    return 1.0 / (1.0 + np.exp(-np.asarray(v, dtype=np.float64)))  # into (0, 1)


def _compare_grads(out, ref, ours, theirs, family, method):
    if not ref.dtype.is_floating_point or not torch.isfinite(ref).all():
        return
    if not out.requires_grad:  # a constant (Exponential's mode, floor): torch's gradient is 0
        if ref.requires_grad:
            grads = torch.autograd.grad(ref.sum(), list(theirs.values()), allow_unused=True)
            assert all(g is None or not g.any() for g in grads)
        return
    w = np.linspace(0.5, 1.5, ref.numel()).reshape(tuple(ref.shape))
    (out * tg.tensor(put(w, out.device.type))).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    for name, t in theirs.items():
        if not t.requires_grad:
            continue
        g_ref = t.grad.numpy() if t.grad is not None else np.zeros(tuple(t.shape))
        g = ours[name].grad
        g = host(g) if g is not None else np.zeros(tuple(t.shape))
        if name in SYMMETRIC:
            g, g_ref = g + g.swapaxes(-1, -2), g_ref + g_ref.swapaxes(-1, -2)
        np.testing.assert_allclose(g, g_ref, rtol=1e-7, atol=1e-9,
                                   err_msg=f"{family}.{method} d/d{name}")
        if ours[name].grad is not None:
            assert on(ours[name].grad, out.device.type)


@pytest.mark.parametrize("case,method", [(c, m) for c, spec in CASES.items() for m in spec[4]])
def test_values_and_grads_match_torch(case, method, device):
    family, params, const, value, _ = CASES[case]
    d, t, ours, theirs = _build(family, params, const, device)
    for name in [n for (f, m, n) in NO_GRAD if (f, m) == (family, method)]:
        fixed = params[name]
        ours[name] = tg.tensor(put(fixed, device))  # no gradient asked for this parameter
        theirs[name] = torch.tensor(fixed)
        d = getattr(D, family)(**ours, **const)
        t = getattr(TD, family)(**theirs, **const)
    if method == "icdf":
        value = _icdf_value(value)
    v, tv = _value(family, value, device)
    out, ref = _call(d, method, v), _call(t, method, tv)
    assert tuple(out.shape) == tuple(ref.shape)
    assert on(out, device)
    np.testing.assert_allclose(host(out), ref.detach().numpy(), rtol=1e-9, atol=1e-12,
                               equal_nan=True, err_msg=f"{case}.{method}")
    _compare_grads(out, ref, ours, theirs, family, method)


def test_gamma_cdf_has_no_concentration_derivative(device):
    c = tg.tensor(put(np.array([2.0]), device), requires_grad=True)
    out = D.Gamma(c, tg.tensor(put(np.array([1.0]), device))).cdf(
        tg.tensor(put(np.array([1.5]), device)))
    with pytest.raises(NotImplementedError, match="gammainc"):
        out.sum().backward()


# ---- kl_divergence --------------------------------------------------------------------------

def _kl_pair(family, make):
    return family, make(), make()


KL_CASES = {
    "Normal": ("Normal", lambda: {"loc": RNG.normal(size=(2, 3)), "scale": _pos(2, 3)}),
    "Bernoulli": ("Bernoulli", lambda: {"probs": RNG.uniform(0.1, 0.9, (2, 3))}),
    "Categorical": ("Categorical", lambda: {"logits": RNG.normal(size=(2, 4))}),
    "MVN": ("MultivariateNormal", lambda: {"loc": RNG.normal(size=(2, 3)),
                                           "scale_tril": _tril(3, (2,))}),
    "Beta": ("Beta", lambda: {"concentration1": _pos(2, 3), "concentration0": _pos(2, 3)}),
    "Gamma": ("Gamma", lambda: {"concentration": _pos(2, 3), "rate": _pos(2, 3)}),
    "Uniform": ("Uniform", lambda: {"low": RNG.uniform(-1, 0, 3),
                                    "high": RNG.uniform(1, 2, 3)}),
    "Exponential": ("Exponential", lambda: {"rate": _pos(2, 3)}),
    "Laplace": ("Laplace", lambda: {"loc": RNG.normal(size=(2, 3)), "scale": _pos(2, 3)}),
    "Dirichlet": ("Dirichlet", lambda: {"concentration": _pos(2, 4)}),
}
KL_PARAMS = {k: (fam, make(), make()) for k, (fam, make) in KL_CASES.items()}
# Uniform: q must contain p for a finite KL
KL_PARAMS["Uniform"][2]["low"] = KL_PARAMS["Uniform"][1]["low"] - 0.5
KL_PARAMS["Uniform"][2]["high"] = KL_PARAMS["Uniform"][1]["high"] + 0.5


@pytest.mark.parametrize("case", list(KL_PARAMS))
def test_kl_divergence_matches_torch(case, device):
    family, pp, qp = KL_PARAMS[case]
    p, tp, op_, tp_ = _build(family, pp, {}, device)
    q, tq, oq_, tq_ = _build(family, qp, {}, device)
    out, ref = D.kl_divergence(p, q), TD.kl_divergence(tp, tq)
    assert tuple(out.shape) == tuple(ref.shape)
    np.testing.assert_allclose(host(out), ref.detach().numpy(), rtol=1e-9, atol=1e-12)
    ours = {**{"p_" + k: v for k, v in op_.items()}, **{"q_" + k: v for k, v in oq_.items()}}
    theirs = {**{"p_" + k: v for k, v in tp_.items()}, **{"q_" + k: v for k, v in tq_.items()}}
    _compare_grads(out, ref, ours, theirs, family, "kl")


def test_kl_independent_and_infinite_cases(device):
    loc, scale = RNG.normal(size=(2, 3)), _pos(2, 3)
    p = D.Independent(D.Normal(tg.tensor(put(loc, device)), tg.tensor(put(scale, device))), 1)
    q = D.Independent(D.Normal(tg.tensor(put(loc + 1, device)), tg.tensor(put(scale, device))),
                      1)
    ref = TD.kl_divergence(TD.Independent(TD.Normal(torch.tensor(loc), torch.tensor(scale)), 1),
                           TD.Independent(TD.Normal(torch.tensor(loc + 1),
                                                    torch.tensor(scale)), 1))
    np.testing.assert_allclose(host(D.kl_divergence(p, q)), ref.numpy(), rtol=1e-12)
    with pytest.raises(NotImplementedError):
        D.kl_divergence(p, D.Independent(p.base_dist, 2))
    with pytest.raises(NotImplementedError, match="Normal.*Poisson"):
        D.kl_divergence(D.Normal(0.0, 1.0), D.Poisson(1.0))  # torch has Normal-Gamma now
    u = D.kl_divergence(D.Uniform(tg.tensor(put(np.array([0.0, 0.0]), device)),
                                  tg.tensor(put(np.array([1.0, 1.0]), device))),
                        D.Uniform(tg.tensor(put(np.array([0.5, -1.0]), device)),
                                  tg.tensor(put(np.array([2.0, 2.0]), device))))
    assert np.isinf(host(u)[0]) and np.isfinite(host(u)[1])
    b = D.kl_divergence(D.Bernoulli(probs=tg.tensor(put(np.array([0.0, 0.3]), device))),
                        D.Bernoulli(probs=tg.tensor(put(np.array([0.5, 0.3]), device))))
    tb = TD.kl_divergence(TD.Bernoulli(probs=torch.tensor([0.0, 0.3])),
                          TD.Bernoulli(probs=torch.tensor([0.5, 0.3])))
    np.testing.assert_allclose(host(b), tb.numpy(), atol=1e-6)
    assert host(b)[0] > 0.69


def test_register_kl_most_specific_wins():
    class MyNormal(D.Normal):
        pass

    @D.register_kl(MyNormal, D.Normal)
    def _kl(p, q):
        return tg.tensor(42.0)

    try:
        assert D.kl_divergence(MyNormal(0.0, 1.0), D.Normal(0.0, 1.0)).item() == 42.0
        assert D.kl_divergence(D.Normal(0.0, 1.0), MyNormal(1.0, 1.0)).item() == 0.5
    finally:
        from tensorgrad.distributions import kl as _klmod

        del _klmod._KL_REGISTRY[MyNormal, D.Normal]
        _klmod._KL_MEMOIZE.clear()
    with pytest.raises(TypeError):
        D.register_kl(1, D.Normal)


# ---- shapes ---------------------------------------------------------------------------------

@pytest.mark.parametrize("case", list(CASES))
def test_shapes_sample_expand_match_torch(case, device):
    family, params, const, value, _ = CASES[case]
    d, t, _, _ = _build(family, params, const, device, requires_grad=False)
    assert tuple(d.batch_shape) == tuple(t.batch_shape)
    assert tuple(d.event_shape) == tuple(t.event_shape)
    assert d.has_rsample == t.has_rsample or family in ("Gamma", "Beta", "Dirichlet")
    e, te = check_samples_and_expand(d, t, case, device)
    v, tv = _value(family, value, device)
    assert tuple(e.log_prob(v).shape) == tuple(te.log_prob(tv).shape)
    np.testing.assert_allclose(host(e.log_prob(v)), te.log_prob(tv).detach().numpy(),
                               rtol=1e-9)
    assert tuple(e.sample((3,)).shape) == tuple(te.sample((3,)).shape)
    if len(d.batch_shape):
        i, ti = D.Independent(d, 1), TD.Independent(t, 1)
        assert (tuple(i.batch_shape), tuple(i.event_shape)) == \
            (tuple(ti.batch_shape), tuple(ti.event_shape))
        assert tuple(i.log_prob(v).shape) == tuple(ti.log_prob(tv).shape)
        np.testing.assert_allclose(host(i.log_prob(v)), ti.log_prob(tv).detach().numpy(),
                                   rtol=1e-9)
        assert type(i.support).__name__ == type(ti.support).__name__
        assert i.support.event_dim == ti.support.event_dim
        ie, tie = i.expand((4,) + tuple(i.batch_shape)), ti.expand((4,) + tuple(ti.batch_shape))
        assert (tuple(ie.batch_shape), tuple(ie.event_shape)) == \
            (tuple(tie.batch_shape), tuple(tie.event_shape))
        assert tuple(ie.sample((2,)).shape) == tuple(tie.sample((2,)).shape)


def test_constraint_reprs_match_torch():
    for name in ("real", "positive", "nonnegative", "unit_interval", "simplex", "boolean",
                 "nonnegative_integer", "real_vector", "lower_cholesky", "positive_definite",
                 "one_hot"):
        assert repr(getattr(D.constraints, name)) == repr(getattr(TD.constraints, name)), name
    for fam in ("Normal", "Bernoulli", "Categorical", "Beta", "Gamma", "Exponential", "Laplace",
                "LogNormal", "Poisson", "Binomial", "Dirichlet", "MultivariateNormal"):
        ours, theirs = getattr(D, fam), getattr(TD, fam)
        assert {k: repr(v) for k, v in ours.arg_constraints.items()} == \
            {k: repr(v) for k, v in theirs.arg_constraints.items()}, fam
    assert repr(D.Normal.support) == repr(TD.Normal.support)
    assert D.constraints.is_dependent(D.Uniform.support)
    ours = D.Uniform(tg.tensor([0.0, 1.0]), 2.0).support
    assert repr(ours) == repr(TD.Uniform(torch.tensor([0.0, 1.0]), 2.0).support)


# ---- sampling statistics --------------------------------------------------------------------

N = 20000
STAT_CASES = {
    "Normal": lambda t: D.Normal(t([0.5, -1.0]), t([1.0, 2.0])),
    "LogNormal": lambda t: D.LogNormal(t([0.0, 0.3]), t([0.25, 0.5])),
    "Laplace": lambda t: D.Laplace(t([0.5, -1.0]), t([1.0, 0.5])),
    "Uniform": lambda t: D.Uniform(t([0.0, -2.0]), t([1.0, 3.0])),
    "Exponential": lambda t: D.Exponential(t([0.5, 3.0])),
    "Gamma": lambda t: D.Gamma(t([0.5, 4.0]), t([2.0, 1.0])),
    "Beta": lambda t: D.Beta(t([0.5, 3.0]), t([2.0, 1.5])),
    "Bernoulli": lambda t: D.Bernoulli(probs=t([0.2, 0.7])),
    "Categorical": lambda t: D.Categorical(probs=t([0.1, 0.2, 0.7])),
    "OneHotCategorical": lambda t: D.OneHotCategorical(probs=t([0.1, 0.2, 0.7])),
    "Poisson": lambda t: D.Poisson(t([0.5, 6.0])),
    "Binomial": lambda t: D.Binomial(10, probs=t([0.2, 0.7])),
    "Dirichlet": lambda t: D.Dirichlet(t([0.5, 2.0, 3.0])),
    "MultivariateNormal": lambda t: D.MultivariateNormal(
        t([1.0, -1.0]), covariance_matrix=t([[2.0, 0.6], [0.6, 1.0]])),
}


@pytest.mark.parametrize("case", list(STAT_CASES))
def test_sample_moments(case, device):
    def t(x):
        return tg.tensor(put(np.asarray(x, dtype=np.float64), device))

    d = STAT_CASES[case](t)
    tg.manual_seed(7)
    s = d.sample((N,))
    tg.manual_seed(7)
    assert np.array_equal(host(d.sample((N,))), host(s)), "seeded sampling repeats"
    x = host(s).astype(np.float64)
    if case == "Categorical":  # its mean is NaN, as torch's: check frequencies instead
        freq = np.bincount(x.astype(int), minlength=3) / N
        p = host(d.probs)
        assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / N))
        return
    mean, var = host(d.mean), host(d.variance)
    assert np.all(np.abs(x.mean(0) - mean) < 5 * np.sqrt(var / N)), (x.mean(0), mean)
    np.testing.assert_allclose(x.var(0), var, rtol=0.1)
    if case == "MultivariateNormal":
        np.testing.assert_allclose(np.cov(x.T), [[2.0, 0.6], [0.6, 1.0]], rtol=0.1, atol=0.03)


# ---- pathwise rsample gradients ---------------------------------------------------------------

RSAMPLE_CASES = {
    "Normal": (lambda a, b: D.Normal(a, b), [0.3, -0.5], [1.2, 0.7]),
    "Laplace": (lambda a, b: D.Laplace(a, b), [0.3, -0.5], [1.2, 0.7]),
    "Uniform": (lambda a, b: D.Uniform(a, a + b), [0.3, -0.5], [1.2, 0.7]),
    "Exponential": (lambda a, b: D.Exponential(a * b), [1.3, 0.5], [1.2, 0.7]),
    "LogNormal": (lambda a, b: D.LogNormal(a, b), [0.3, -0.5], [0.4, 0.7]),
    "MultivariateNormal": (
        lambda a, b: D.MultivariateNormal(a, scale_tril=tg.diag_embed(b) + tg.tril(
            b.unsqueeze(-1) * 0.3, -1)), [0.3, -0.5], [1.2, 0.7]),
}


@pytest.mark.parametrize("case", list(RSAMPLE_CASES))
def test_rsample_pathwise_gradient_matches_finite_differences(case, device):
    make, a0, b0 = RSAMPLE_CASES[case]
    w = put(np.linspace(-1.0, 1.0, 2 * 8).reshape(8, 2), device)
    x0 = np.array(a0 + b0)

    def f(x, requires_grad=False):
        x = tg.tensor(put(np.asarray(x, dtype=np.float64), device), requires_grad=requires_grad)
        tg.manual_seed(3)
        s = make(x[:2], x[2:]).rsample((8,))
        return x, (s * tg.tensor(w)).sum()

    x, out = f(x0, requires_grad=True)
    out.backward()
    fd = numeric_jacobian(lambda v: f(v)[1].item(), x0)
    np.testing.assert_allclose(host(x.grad), fd, rtol=1e-6, atol=1e-8)
    assert np.abs(fd).max() > 1e-3


def test_no_rsample_where_not_exact():
    for d in (D.Bernoulli(0.5), D.Poisson(1.0)):
        assert not d.has_rsample
        with pytest.raises(NotImplementedError):
            d.rsample()


# ---- validation -------------------------------------------------------------------------------

BAD = [
    ("Normal", lambda M, t: M.Normal(t([0.0]), t([-1.0]))),
    ("Bernoulli", lambda M, t: M.Bernoulli(probs=t([1.5]))),
    ("Categorical-neg", lambda M, t: M.Categorical(probs=t([0.5, -0.2, 0.7]))),
    ("Categorical-both", lambda M, t: M.Categorical(probs=t([0.5, 0.5]), logits=t([0.0, 0.0]))),
    ("Bernoulli-none", lambda M, t: M.Bernoulli()),
    ("Uniform", lambda M, t: M.Uniform(t([1.0]), t([0.0]))),
    ("Gamma", lambda M, t: M.Gamma(t([0.0]), t([1.0]))),
    ("Dirichlet", lambda M, t: M.Dirichlet(t([1.0, -1.0]))),
    ("Dirichlet-0d", lambda M, t: M.Dirichlet(t(1.0))),
    ("MVN-notpd", lambda M, t: M.MultivariateNormal(t([0.0, 0.0]),
                                                    covariance_matrix=t([[1.0, 2.0],
                                                                         [2.0, 1.0]]))),
    ("MVN-two", lambda M, t: M.MultivariateNormal(t([0.0]), covariance_matrix=t([[1.0]]),
                                                  scale_tril=t([[1.0]]))),
    ("Independent", lambda M, t: M.Independent(M.Normal(t([0.0]), t([1.0])), 2)),
    ("logprob-support", lambda M, t: M.Exponential(t([1.0])).log_prob(t([-1.0]))),
    ("logprob-bool", lambda M, t: M.Bernoulli(t([0.3])).log_prob(t([0.5]))),
    ("logprob-notensor", lambda M, t: M.Normal(t([0.0]), t([1.0])).log_prob(0.5)),
    ("logprob-event", lambda M, t: M.MultivariateNormal(t([0.0, 0.0]), scale_tril=t(
        [[1.0, 0.0], [0.0, 1.0]])).log_prob(t([1.0, 2.0, 3.0]))),
    ("logprob-broadcast", lambda M, t: M.Normal(t([0.0, 0.0]), t([1.0, 1.0])).log_prob(
        t([1.0, 2.0, 3.0]))),
    ("beta-support", lambda M, t: M.Beta(t([2.0]), t([2.0])).log_prob(t([1.5]))),
]


@pytest.mark.parametrize("name,make", BAD, ids=[b[0] for b in BAD])
def test_validate_args_errors_match_torch(name, make, device):
    def ours(x):
        return tg.tensor(put(np.asarray(x, dtype=np.float64), device))

    with pytest.raises(Exception) as theirs:
        make(TD, lambda x: torch.tensor(x, dtype=torch.float64))
    with pytest.raises(theirs.type):
        make(D, ours)


def test_validate_args_false_and_default_switch():
    d = D.Normal(tg.tensor([0.0]), tg.tensor([-1.0]), validate_args=False)
    with np.errstate(invalid="ignore"):
        assert np.isnan(d.log_prob(tg.tensor([0.0])).item())  # log of the negative scale
    with pytest.raises(ValueError, match="scale"):
        D.Normal(tg.tensor([0.0]), tg.tensor([-1.0]))
    D.Distribution.set_default_validate_args(False)
    try:
        D.Normal(tg.tensor([0.0]), tg.tensor([-1.0]))
        assert D.Exponential(1.0).log_prob(tg.tensor(-1.0)).item() == -1.0 + 2.0
    finally:
        D.Distribution.set_default_validate_args(True)


# ---- second order -------------------------------------------------------------------------------

def _second_order_cases():
    v = np.array([0.3, -0.4])
    pos = np.array([0.6, 1.7])
    simplex = np.array([0.2, 0.3, 0.5])
    return {
        "Normal.log_prob": (lambda x: D.Normal(x[:2], x[2:].exp()).log_prob(
            tg.tensor(v)).sum(), np.array([0.1, 0.2, -0.3, 0.4])),
        "Gamma.log_prob": (lambda x: D.Gamma(x[:2], x[2:]).log_prob(tg.tensor(pos)).sum(),
                           np.array([1.5, 2.5, 0.8, 1.3])),
        "Beta.entropy": (lambda x: D.Beta(x[:2], x[2:]).entropy().sum(),
                         np.array([1.5, 2.5, 0.8, 1.3])),
        "Dirichlet.log_prob": (lambda x: D.Dirichlet(x).log_prob(tg.tensor(simplex)),
                               np.array([1.5, 2.5, 0.8])),
        "Categorical.log_prob": (lambda x: D.Categorical(logits=x).log_prob(
            tg.tensor(np.array([2, 0]))).sum(), np.array([0.1, -0.5, 0.7])),
        "MVN.log_prob": (lambda x: D.MultivariateNormal(x[:2], scale_tril=tg.diag_embed(
            x[2:].exp())).log_prob(tg.tensor(v)), np.array([0.1, 0.2, -0.3, 0.4])),
        "KL Normal": (lambda x: D.kl_divergence(D.Normal(x[:2], x[2:].exp()),
                                                D.Normal(tg.tensor(v), tg.tensor(pos))).sum(),
                      np.array([0.1, 0.2, -0.3, 0.4])),
        "KL Gamma": (lambda x: D.kl_divergence(D.Gamma(x[:2], x[2:]),
                                               D.Gamma(tg.tensor(pos), tg.tensor(pos))).sum(),
                     np.array([1.5, 2.5, 0.8, 1.3])),
        "KL Bernoulli": (lambda x: D.kl_divergence(D.Bernoulli(logits=x[:2]),
                                                   D.Bernoulli(logits=x[2:])).sum(),
                         np.array([0.1, 0.2, -0.3, 0.4])),
    }


@pytest.mark.parametrize("case", list(_second_order_cases()))
def test_second_order_finite_differences(case):
    f, x = _second_order_cases()[case]
    tg.check_grads(lambda t: f(tg.tensor(t) if not isinstance(t, tg.Tensor) else t),
                   modes=("fwd", "rev"), order=2)(tg.tensor(x))


# ---- signatures ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", D.__all__)
def test_signature_parity_with_torch(name):
    ours, theirs = getattr(D, name), getattr(TD, name)
    if inspect.isclass(ours):
        ours, theirs = ours.__init__, theirs.__init__
    if name == "constraints":
        missing = [n for n in D.constraints.__all__ if not hasattr(TD.constraints, n)]
        assert not missing
        return
    p = inspect.signature(ours).parameters
    q = inspect.signature(theirs).parameters
    assert list(p) == list(q)
    assert [v.default for v in p.values()] == [v.default for v in q.values()]


# ---- user paths ---------------------------------------------------------------------------------

def test_float32_parameters_stay_float32(device):
    loc = tg.tensor(put(np.zeros(3, np.float32), device), requires_grad=True)
    scale = tg.tensor(put(np.ones(3, np.float32), device))
    for d in (D.Normal(loc, scale), D.Laplace(loc, scale), D.Gamma(scale, scale),
              D.Beta(scale, scale), D.Exponential(scale), D.Bernoulli(logits=loc),
              D.MultivariateNormal(loc, scale_tril=tg.diag_embed(scale))):
        s = d.sample((4,))
        assert s.dtype == np.float32 and on(s, device), type(d).__name__
        assert d.log_prob(s).dtype == np.float32, type(d).__name__
    d = D.Normal(loc, scale)
    d.rsample((2,)).sum().backward()
    assert loc.grad.dtype == np.float32


def test_fit_normal_by_maximum_likelihood(device):
    rng = np.random.default_rng(0)
    data = tg.tensor(put(rng.normal(2.0, 0.5, 500), device))
    loc = tg.tensor(put(np.array(0.0), device), requires_grad=True)
    log_scale = tg.tensor(put(np.array(0.0), device), requires_grad=True)
    opt = tg.optim.Adam([loc, log_scale], lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        nll = -D.Normal(loc, log_scale.exp()).log_prob(data).mean()
        nll.backward()
        opt.step()
    x = host(data)
    assert abs(loc.item() - x.mean()) < 0.02
    assert abs(np.exp(log_scale.item()) - x.std()) < 0.02


def test_score_function_gradient_of_categorical(device):
    # REINFORCE: d/dlogits E[r(a)] = E[r(a) d log p(a)], against the exact gradient
    logits = tg.tensor(put(np.array([0.2, -0.4, 0.9]), device), requires_grad=True)
    reward = tg.tensor(put(np.array([1.0, 3.0, -2.0]), device))
    tg.manual_seed(11)
    d = D.Categorical(logits=logits)
    a = d.sample((40000,))
    (d.log_prob(a) * reward[a]).mean().backward()
    p = np.exp(host(logits.detach())) / np.exp(host(logits.detach())).sum()
    r = host(reward)
    exact = p * (r - (p * r).sum())
    np.testing.assert_allclose(host(logits.grad), exact, atol=0.05)
