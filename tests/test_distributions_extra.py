"""GeneralizedPareto and the cross-family KL pairs torch registers between the older families:
values and gradients against torch.distributions, on every device; rsample with fixed seeds."""

import numpy as np
import pytest
from devices import host, put

import tensorgrad as tg
import tensorgrad.distributions as D

torch = pytest.importorskip("torch")
TD = torch.distributions


def _pair(arrays, device):
    """The same float64 parameters as tensorgrad (on ``device``) and torch leaves."""
    ours = [tg.tensor(put(np.asarray(a, np.float64), device), requires_grad=True)
            for a in arrays]
    theirs = [torch.tensor(np.asarray(a, np.float64), requires_grad=True) for a in arrays]
    return ours, theirs


def _compare(f_tg, f_torch, arrays, device, rtol=1e-9, atol=1e-10, grads=True):
    ours, theirs = _pair(arrays, device)
    a, b = f_tg(*ours), f_torch(*theirs)
    want = b.detach().numpy()
    np.testing.assert_allclose(host(a), want, rtol=rtol, atol=atol)
    finite = np.isfinite(want)
    if grads and finite.any():
        w = np.where(finite, np.linspace(0.5, 1.5, want.size).reshape(want.shape), 0.0)
        (a * tg.tensor(put(w, device))).sum().backward()
        (b * torch.tensor(w)).sum().backward()
        for o, t in zip(ours, theirs):
            tgrad = np.zeros(t.shape) if t.grad is None else t.grad.numpy()
            ograd = np.zeros(tgrad.shape) if o.grad is None else host(o.grad)
            # where torch's KL is infinite its masked gradient is NaN; ours is 0 there
            ok = np.isfinite(tgrad)
            assert ok.any()
            np.testing.assert_allclose(ograd[ok], tgrad[ok], rtol=1e-7, atol=1e-9)


# ---- GeneralizedPareto ------------------------------------------------------------------------
GP_PARAMS = [np.array([0.0, 0.5, -1.0, 0.2]), np.array([1.0, 2.0, 0.5, 1.5]),
             np.array([0.3, 0.0, -0.25, 0.7])]  # concentration: >0, 0, <0


@pytest.mark.parametrize("what", ["log_prob", "cdf", "log_cdf", "log_survival_function",
                                  "icdf", "mean", "variance", "entropy", "mode"])
def test_generalized_pareto_matches_torch(what, device):
    value = np.array([0.4, 1.5, -0.8, 2.0])
    if what == "icdf":
        value = np.array([0.1, 0.5, 0.7, 0.95])

    def run(mod, x):
        def f(loc, scale, conc):
            d = mod.GeneralizedPareto(loc, scale, conc)
            if what in ("mean", "variance", "mode"):
                return getattr(d, what)
            if what == "entropy":
                return d.entropy()
            return getattr(d, what)(x(value))
        return f

    def torch_f(*params):
        old = torch.get_default_dtype()  # torch's isclose(c, tensor(0.0)) wants the dtype
        torch.set_default_dtype(torch.float64)
        try:
            return run(TD, torch.tensor)(*params)
        finally:
            torch.set_default_dtype(old)

    _compare(run(D, lambda v: tg.tensor(put(v, device))), torch_f, GP_PARAMS, device)


def test_generalized_pareto_rsample_and_support(device):
    loc, scale, conc = (tg.tensor(put(np.full(3, v), device), requires_grad=True)
                        for v in (1.0, 2.0, -0.2))
    d = D.GeneralizedPareto(loc, scale, conc)
    tg.manual_seed(0)
    x = d.rsample((20000,))
    assert x.shape == (20000, 3)
    xs = host(x)
    upper = 1.0 + 2.0 / 0.2
    assert xs.min() >= 1.0 and xs.max() <= upper
    assert bool(host(d.support.check(x)).all())
    np.testing.assert_allclose(xs.mean(0), host(d.mean), rtol=0.03)
    np.testing.assert_allclose(xs.var(0), host(d.variance), rtol=0.08)
    tg.manual_seed(0)
    np.testing.assert_array_equal(host(d.rsample((20000,))), xs)  # fixed seed, same draws
    x.sum().backward()  # pathwise gradient: d x / d loc = 1
    np.testing.assert_allclose(host(loc.grad), 20000.0)
    assert np.all(np.isfinite(host(conc.grad)))
    # heavy tail: mean and variance are NaN where torch says so
    heavy = D.GeneralizedPareto(0.0, 1.0, tg.tensor([0.6, 1.2]))
    assert np.isnan(host(heavy.variance)).all() and np.isnan(host(heavy.mean))[1]


def test_generalized_pareto_second_order_grads():
    def f(conc):
        d = D.GeneralizedPareto(tg.tensor(0.5, dtype=tg.float64), tg.tensor(1.5, dtype=tg.float64),
                                conc)
        return d.log_prob(tg.tensor([0.7, 2.0], dtype=tg.float64)).sum() + d.icdf(
            tg.tensor(0.3, dtype=tg.float64))

    tg.check_grads(f, modes=("rev",), order=2)(tg.tensor(0.3, dtype=tg.float64))


# ---- cross-family KL -----------------------------------------------------------------------
FAMILIES = {
    "Normal": (lambda m, a, b: m.Normal(a - 0.5, b), [0.3, 1.2], [0.7, 1.5]),
    "Laplace": (lambda m, a, b: m.Laplace(a - 0.5, b), [0.3, 1.2], [0.7, 1.5]),
    "Exponential": (lambda m, a, b: m.Exponential(a + b), [0.3, 1.2], [0.7, 1.5]),
    "Gamma": (lambda m, a, b: m.Gamma(a + 0.5, b), [0.3, 1.2], [0.7, 1.5]),
    "Beta": (lambda m, a, b: m.Beta(a + 0.5, b), [0.3, 1.2], [0.7, 1.5]),
    "Uniform": (lambda m, a, b: m.Uniform(a * 0.5, a * 0.5 + b * 0.5), [0.3, 1.2], [0.7, 1.5]),
}
UNIFORMS = {  # q covering p, partly outside [0, 1], and below 0
    "cover": ([-0.2, 0.5], [1.2, 0.1]), "outside": ([-0.2, 0.2], [0.6, 0.6]),
}
# the pairs torch registers (X-Laplace only for X = Normal)
PAIRS = [(p, q) for p in FAMILIES for q in FAMILIES
         if p != q and (getattr(TD, p), getattr(TD, q)) in TD.kl._KL_REGISTRY]


@pytest.mark.parametrize("p_name, q_name", PAIRS, ids=[f"{p}-{q}" for p, q in PAIRS])
def test_cross_family_kl_matches_torch(p_name, q_name, device):
    fp, a1, b1 = FAMILIES[p_name]
    fq, a2, b2 = FAMILIES[q_name]
    if q_name == "Uniform":  # q wide enough to cover a Beta in one entry, not in the other
        a2, b2 = [-0.2, 0.4], [3.0, 0.6]
    if p_name == "Uniform":  # one p inside [0, 1] and one reaching below 0
        a1, b1 = [0.2, -0.4], [1.0, 0.5]

    def kl(mod):
        def f(pa, pb, qa, qb):
            return mod.kl_divergence(fp(mod, pa, pb), fq(mod, qa, qb))
        return f

    arrays = [np.array(v) for v in (a1, b1, a2, b2)]
    _compare(kl(D), kl(TD), arrays, device, rtol=1e-8, atol=1e-10)
