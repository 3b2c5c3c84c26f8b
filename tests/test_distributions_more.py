"""tg.distributions.transforms, TransformedDistribution and the families built on it, and
Cauchy, against torch.distributions (float64): values and gradients of the maps, inverses and
log-determinants, the biject_to/transform_to registries, densities, cdf/icdf, entropies,
moments, shapes, expand, sampling statistics (moments and a Kolmogorov-Smirnov distance) and
pathwise rsample gradients, on every device."""

import numpy as np
import pytest
from devices import check_samples_and_expand, host, numeric_jacobian, on, put, torch_oracle

import tensorgrad as tg
import tensorgrad.distributions as D
import tensorgrad.distributions.transforms as T

torch = torch_oracle()
TD = torch.distributions
TT = torch.distributions.transforms

RNG = np.random.default_rng(4321)


def _t(x, device, requires_grad=False):
    return tg.tensor(put(np.asarray(x, dtype=np.float64), device), requires_grad=requires_grad)


def _tt(x, requires_grad=False):
    return torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=requires_grad)


def _grads_match(out, ref, ours, theirs, what, rtol=1e-7):
    if not out.requires_grad:  # constant in the inputs: torch's gradient must vanish too
        if ref.requires_grad:
            grads = torch.autograd.grad(ref.sum(), theirs, allow_unused=True)
            assert all(g is None or not g.any() for g in grads), what
        return
    w = np.linspace(0.5, 1.5, ref.numel()).reshape(tuple(ref.shape))
    (out * tg.tensor(put(w, out.device.type))).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    for a, b in zip(ours, theirs):
        g_ref = b.grad.numpy() if b.grad is not None else np.zeros(tuple(b.shape))
        g = host(a.grad) if a.grad is not None else np.zeros(tuple(b.shape))
        np.testing.assert_allclose(g, g_ref, rtol=rtol, atol=1e-9, err_msg=what)


# ---- transforms -----------------------------------------------------------------------------

_VEC = RNG.normal(size=(2, 3))
_POSV = RNG.uniform(0.5, 2.0, (2, 3))
_SQ = RNG.normal(size=(2, 3, 3)) * 0.5

# name -> (make(module, tensor), x (a point of the domain))
TRANSFORMS = {
    "Exp": (lambda M, t: M.ExpTransform(), _VEC),
    "Power": (lambda M, t: M.PowerTransform(t([0.5, 2.0, -1.5])), _POSV),
    "Sigmoid": (lambda M, t: M.SigmoidTransform(), _VEC),
    "Tanh": (lambda M, t: M.TanhTransform(), _VEC),
    "Softplus": (lambda M, t: M.SoftplusTransform(), _VEC),
    "Affine": (lambda M, t: M.AffineTransform(t([0.5, -1.0, 2.0]), t([2.0, -0.5, 1.5])), _VEC),
    "Affine_number": (lambda M, t: M.AffineTransform(1.5, -2.0), _VEC),
    "Affine_event": (lambda M, t: M.AffineTransform(t([0.5, -1.0, 2.0]),
                                                    t([2.0, -0.5, 1.5]), event_dim=1), _VEC),
    "StickBreaking": (lambda M, t: M.StickBreakingTransform(), _VEC),
    "CorrCholesky": (lambda M, t: M.CorrCholeskyTransform(), _VEC),
    "Compose": (lambda M, t: M.ComposeTransform([M.ExpTransform(),
                                                 M.AffineTransform(1.0, t([2.0, 3.0, 0.5]))]),
                _VEC),
    "Compose_inv": (lambda M, t: M.ComposeTransform([M.ExpTransform().inv,
                                                     M.SigmoidTransform().inv]),
                    RNG.uniform(1.2, 2.5, (2, 3))),
    "Compose_event": (lambda M, t: M.ComposeTransform([M.AffineTransform(0.5, 2.0),
                                                       M.StickBreakingTransform()]), _VEC),
    "Independent": (lambda M, t: M.IndependentTransform(M.ExpTransform(), 1), _VEC),
    "Reshape": (lambda M, t: M.ReshapeTransform((3,), (3, 1)), _VEC),
    "Cat": (lambda M, t: M.CatTransform([M.ExpTransform(), M.SigmoidTransform()], dim=-1,
                                        lengths=[1, 2]), _VEC),
    "Cat_dim0": (lambda M, t: M.CatTransform([M.ExpTransform(), M.TanhTransform()], dim=0),
                 _VEC),
    "Stack": (lambda M, t: M.StackTransform([M.ExpTransform(), M.SoftplusTransform(),
                                             M.AffineTransform(1.0, 3.0)], dim=-1), _VEC),
    "CDF": (lambda M, t: M.CumulativeDistributionTransform(
        (D if M is T else TD).Normal(t([0.5, -0.5, 1.0]), t([1.0, 2.0, 0.5]))), _VEC),
    "identity": (lambda M, t: M.identity_transform, _VEC),
}
NOT_BIJECTIVE = {
    "Abs": (lambda M, t: M.AbsTransform(), _VEC),
    "Softmax": (lambda M, t: M.SoftmaxTransform(), _VEC),
    "LowerCholesky": (lambda M, t: M.LowerCholeskyTransform(), _SQ),
    "PositiveDefinite": (lambda M, t: M.PositiveDefiniteTransform(), _SQ),
}


@pytest.mark.parametrize("name", list(TRANSFORMS) + list(NOT_BIJECTIVE))
def test_transform_matches_torch(name, device):
    make, x0 = {**TRANSFORMS, **NOT_BIJECTIVE}[name]
    ours = make(T, lambda v: _t(v, device))
    theirs = make(TT, _tt)
    x, tx = _t(x0, device, True), _tt(x0, True)
    y, ty = ours(x), theirs(tx)
    assert on(y, device)
    np.testing.assert_allclose(host(y), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert ours.forward_shape(tuple(x.shape)) == tuple(theirs.forward_shape(tx.shape))
    assert ours.inverse_shape(tuple(y.shape)) == tuple(theirs.inverse_shape(ty.shape))
    assert bool(ours.bijective) == bool(theirs.bijective)
    assert ours.domain.event_dim == theirs.domain.event_dim
    assert ours.codomain.event_dim == theirs.codomain.event_dim
    assert bool(ours.codomain.check(y).all().item())
    _grads_match(y, ty, [x], [tx], name + " forward")
    yv = y.detach()
    tyv = ty.detach()
    back, tback = ours.inv(yv), theirs.inv(tyv)
    np.testing.assert_allclose(host(back), tback.numpy(), rtol=1e-8, atol=1e-10)
    if name in TRANSFORMS:
        np.testing.assert_allclose(host(back), x0, rtol=1e-7, atol=1e-8)
        x2, tx2 = _t(x0, device, True), _tt(x0, True)
        ladj = ours.log_abs_det_jacobian(x2, ours(x2))
        tladj = theirs.log_abs_det_jacobian(tx2, theirs(tx2))
        assert tuple(ladj.shape) == tuple(tladj.shape)
        np.testing.assert_allclose(host(ladj), tladj.detach().numpy(), rtol=1e-9, atol=1e-10)
        _grads_match(ladj, tladj, [x2], [tx2], name + " log_abs_det_jacobian")
        y3, ty3 = _t(host(yv), device, True), _tt(tyv.numpy(), True)
        inv_ladj = ours.inv.log_abs_det_jacobian(y3, ours.inv(y3))
        tinv = theirs.inv.log_abs_det_jacobian(ty3, theirs.inv(ty3))
        np.testing.assert_allclose(host(inv_ladj), tinv.detach().numpy(), rtol=1e-8,
                                   atol=1e-9)
        _grads_match(inv_ladj, tinv, [y3], [ty3], name + " inverse log_abs_det_jacobian")


@pytest.mark.parametrize("name", ["Exp", "Sigmoid", "Tanh", "Softplus", "Affine", "Power"])
def test_scalar_transform_log_det_is_log_derivative(name):
    # log|dy/dx| against finite differences of the map itself, independent of torch
    make, x0 = TRANSFORMS[name]
    t = make(T, lambda v: tg.tensor(np.asarray(v, dtype=np.float64)))
    x = x0[0]
    deriv = np.diag(numeric_jacobian(lambda v: host(t(tg.tensor(v))), x))
    ladj = host(t.log_abs_det_jacobian(tg.tensor(x), t(tg.tensor(x))))
    np.testing.assert_allclose(ladj, np.log(np.abs(deriv)), rtol=1e-6)
    sign = t.sign
    sign = host(sign) if isinstance(sign, tg.Tensor) else sign
    assert np.all(np.sign(deriv) == sign)


def test_stick_breaking_log_det_by_finite_differences():
    # the Jacobian of x -> y[:-1] (the free coordinates of the simplex)
    x = np.array([0.3, -0.7, 1.1])
    t = T.StickBreakingTransform()
    jac = numeric_jacobian(lambda v: host(t(tg.tensor(v)))[:-1], x)
    ladj = t.log_abs_det_jacobian(tg.tensor(x), t(tg.tensor(x))).item()
    np.testing.assert_allclose(ladj, np.log(abs(np.linalg.det(jac))), rtol=1e-6)


def _as_tensor(v):
    return v if isinstance(v, tg.Tensor) else tg.tensor(v)


def test_transform_second_order():
    for t in (T.StickBreakingTransform(), T.CorrCholeskyTransform(), T.TanhTransform(),
              T.ComposeTransform([T.SigmoidTransform(), T.AffineTransform(1.0, 2.0)])):
        def f(v, t=t):
            v = _as_tensor(v)
            return t.log_abs_det_jacobian(v, t(v)).sum() + (t(v) ** 2).sum()
        tg.check_grads(f, modes=("fwd", "rev"), order=2)(tg.tensor(np.array([0.3, -0.4, 0.8])))


def test_transform_cache_equality_and_errors(device):
    x = _t([0.1, 0.2], device)
    t = T.ExpTransform(cache_size=1)
    y = t(x)
    assert t.inv(y) is x and t(x) is y
    assert T.ExpTransform(cache_size=0).inv(T.ExpTransform()(x)) is not x
    assert t.inv.inv is t
    assert T.ExpTransform() == T.ExpTransform() and T.ExpTransform() != T.SigmoidTransform()
    assert T.ExpTransform().with_cache(1)._cache_size == 1
    assert T.ComposeTransform([T.ExpTransform()]).inv.parts[0] == T.ExpTransform().inv
    with pytest.raises(ValueError, match="cache_size"):
        T.ExpTransform(cache_size=2)
    with pytest.raises(ValueError, match="elements"):
        T.ReshapeTransform((3,), (2, 2))
    with pytest.raises(ValueError, match="triangular"):
        T.CorrCholeskyTransform().forward_shape((4,))
    with pytest.raises(ValueError, match="CatTransform"):
        T.CatTransform([T.ExpTransform()], dim=0)(_t([1.0, 2.0], device))
    with pytest.raises(NotImplementedError):
        T.SoftmaxTransform().log_abs_det_jacobian(x, x)
    assert T.identity_transform(x) is x
    assert T.AffineTransform(0.0, -2.0).sign == -1


CONSTRAINTS = [
    ("real", lambda C: C.real, (2, 3)),
    ("positive", lambda C: C.positive, (2, 3)),
    ("nonnegative", lambda C: C.nonnegative, (2, 3)),
    ("greater_than", lambda C: C.greater_than(1.5), (2, 3)),
    ("greater_than_eq", lambda C: C.greater_than_eq(-1.0), (2, 3)),
    ("less_than", lambda C: C.less_than(2.0), (2, 3)),
    ("unit_interval", lambda C: C.unit_interval, (2, 3)),
    ("interval", lambda C: C.interval(-1.0, 3.0), (2, 3)),
    ("half_open_interval", lambda C: C.half_open_interval(-1.0, 3.0), (2, 3)),
    ("simplex", lambda C: C.simplex, (2, 3)),
    ("real_vector", lambda C: C.real_vector, (2, 3)),
    ("independent_positive", lambda C: C.independent(C.positive, 2), (2, 3)),
    ("lower_cholesky", lambda C: C.lower_cholesky, (2, 3, 3)),
    ("positive_definite", lambda C: C.positive_definite, (2, 3, 3)),
    ("corr_cholesky", lambda C: C.corr_cholesky, (2, 3)),
    ("cat", lambda C: C.cat([C.positive, C.unit_interval], dim=-1, lengths=[1, 2]), (2, 3)),
    ("stack", lambda C: C.stack([C.positive, C.real, C.unit_interval], dim=-1), (2, 3)),
]


@pytest.mark.parametrize("registry", ["biject_to", "transform_to"])
@pytest.mark.parametrize("name,make,shape", CONSTRAINTS, ids=[c[0] for c in CONSTRAINTS])
def test_biject_to_transform_to_match_torch(registry, name, make, shape, device):
    ours_reg, theirs_reg = getattr(T, registry), getattr(TD, registry)
    assert getattr(D, registry) is ours_reg
    c, tc = make(D.constraints), make(TD.constraints)
    try:
        theirs = theirs_reg(tc)
    except NotImplementedError:
        with pytest.raises(NotImplementedError):
            ours_reg(c)
        return
    ours = ours_reg(c)
    assert type(ours).__name__ == type(theirs).__name__
    x0 = RNG.normal(size=shape)
    x, tx = _t(x0, device, True), _tt(x0, True)
    y, ty = ours(x), theirs(tx)
    np.testing.assert_allclose(host(y), ty.detach().numpy(), rtol=1e-9, atol=1e-12)
    assert bool(c.check(y).all().item()), f"{registry}({name}) left the constraint"
    if theirs.bijective:
        ladj, tladj = ours.log_abs_det_jacobian(x, y), theirs.log_abs_det_jacobian(tx, ty)
        np.testing.assert_allclose(host(ladj), tladj.detach().numpy(), rtol=1e-9, atol=1e-10)
        _grads_match(ladj + y.sum(), tladj + ty.sum(), [x], [tx], f"{registry}({name})")


def test_constraint_checks_match_torch():
    C, TC = D.constraints, TD.constraints
    L = np.linalg.cholesky(np.array([[1.0, 0.3], [0.3, 1.0]]))
    for ours, theirs, v in (
            (C.corr_cholesky, TC.corr_cholesky, L),
            (C.corr_cholesky, TC.corr_cholesky, 2 * L),
            (C.cat([C.positive, C.real], 0, [1, 2]), TC.cat([TC.positive, TC.real], 0, [1, 2]),
             np.array([-1.0, 2.0, 3.0])),
            (C.stack([C.positive, C.real], 0), TC.stack([TC.positive, TC.real], 0),
             np.array([[1.0, -1.0], [-2.0, 0.0]]))):
        np.testing.assert_array_equal(host(ours.check(tg.tensor(v))),
                                      theirs.check(torch.tensor(v)).numpy())
    assert C.corr_cholesky.event_dim == TC.corr_cholesky.event_dim


# ---- TransformedDistribution and its families ------------------------------------------------

def _normal(M, t):
    return M.Normal(t([0.3, -0.2, 0.5]), t([1.0, 0.7, 1.3]))


# name -> (make(module, tensor_maker, params), params, value, methods)
FAMILIES = {
    "Transformed_exp_affine": (
        lambda M, t, p: M.TransformedDistribution(
            M.Normal(p["loc"], p["scale"]),
            [(T if M is D else TT).ExpTransform(),
             (T if M is D else TT).AffineTransform(1.0, 2.0)]),
        {"loc": RNG.normal(size=3) * 0.3, "scale": RNG.uniform(0.5, 1.5, 3)},
        RNG.uniform(1.5, 4.0, (2, 3)), ("log_prob", "cdf", "icdf")),
    "Transformed_stickbreaking": (
        lambda M, t, p: M.TransformedDistribution(
            M.Independent(M.Normal(p["loc"], p["scale"]), 1),
            (T if M is D else TT).StickBreakingTransform()),
        {"loc": RNG.normal(size=3) * 0.3, "scale": RNG.uniform(0.5, 1.5, 3)},
        RNG.dirichlet(np.ones(4), size=2), ("log_prob",)),
    "Transformed_sigmoid_neg": (
        lambda M, t, p: M.TransformedDistribution(
            M.Normal(p["loc"], p["scale"]),
            [(T if M is D else TT).SigmoidTransform(),
             (T if M is D else TT).AffineTransform(0.0, -3.0)]),
        {"loc": RNG.normal(size=3) * 0.3, "scale": RNG.uniform(0.5, 1.5, 3)},
        -RNG.uniform(0.3, 2.7, (2, 3)), ("log_prob", "cdf", "icdf")),
    "HalfNormal": (lambda M, t, p: M.HalfNormal(p["scale"]),
                   {"scale": RNG.uniform(0.5, 2.0, 3)}, RNG.uniform(0.1, 3.0, (2, 3)),
                   ("log_prob", "cdf", "icdf", "entropy", "mean", "mode", "variance")),
    "HalfCauchy": (lambda M, t, p: M.HalfCauchy(p["scale"]),
                   {"scale": RNG.uniform(0.5, 2.0, 3)}, RNG.uniform(0.1, 3.0, (2, 3)),
                   ("log_prob", "cdf", "icdf", "entropy", "mean", "mode", "variance")),
    "Cauchy": (lambda M, t, p: M.Cauchy(p["loc"], p["scale"]),
               {"loc": RNG.normal(size=3), "scale": RNG.uniform(0.5, 2.0, (2, 1))},
               RNG.normal(size=(2, 3)),
               ("log_prob", "cdf", "icdf", "entropy", "mean", "mode", "variance")),
    "Gumbel": (lambda M, t, p: M.Gumbel(p["loc"], p["scale"]),
               {"loc": RNG.normal(size=3), "scale": RNG.uniform(0.5, 2.0, 3)},
               RNG.normal(size=(2, 3)),
               ("log_prob", "cdf", "icdf", "entropy", "mean", "mode", "variance", "stddev")),
    "Weibull": (lambda M, t, p: M.Weibull(p["scale"], p["concentration"]),
                {"scale": RNG.uniform(0.5, 2.0, 3), "concentration": RNG.uniform(1.2, 3.0, 3)},
                RNG.uniform(0.2, 3.0, (2, 3)),
                ("log_prob", "cdf", "icdf", "entropy", "mean", "mode", "variance")),
    "Pareto": (lambda M, t, p: M.Pareto(p["scale"], p["alpha"]),
               {"scale": RNG.uniform(0.5, 1.0, 3), "alpha": np.array([0.7, 1.5, 3.0])},
               RNG.uniform(1.0, 4.0, (2, 3)),
               ("log_prob", "cdf", "icdf", "entropy", "mean", "mode", "variance")),
    "Kumaraswamy": (lambda M, t, p: M.Kumaraswamy(p["concentration1"], p["concentration0"]),
                    {"concentration1": RNG.uniform(1.2, 3.0, 3),
                     "concentration0": RNG.uniform(1.2, 3.0, 3)},
                    RNG.uniform(0.1, 0.9, (2, 3)),
                    ("log_prob", "cdf", "icdf", "entropy", "mean", "variance")),
    "LogisticNormal": (lambda M, t, p: M.LogisticNormal(p["loc"], p["scale"]),
                       {"loc": RNG.normal(size=3) * 0.3, "scale": RNG.uniform(0.5, 1.5, 3)},
                       RNG.dirichlet(np.ones(4), size=2), ("log_prob",)),
    "RelaxedBernoulli": (lambda M, t, p: M.RelaxedBernoulli(p["temperature"],
                                                            logits=p["logits"]),
                         {"temperature": np.array(0.7), "logits": RNG.normal(size=3)},
                         RNG.uniform(0.1, 0.9, (2, 3)), ("log_prob",)),
    "RelaxedBernoulli_probs": (lambda M, t, p: M.RelaxedBernoulli(p["temperature"],
                                                                  probs=p["probs"]),
                               {"temperature": np.array(1.3),
                                "probs": RNG.uniform(0.2, 0.8, 3)},
                               RNG.uniform(0.1, 0.9, (2, 3)), ("log_prob",)),
    "RelaxedOneHotCategorical": (lambda M, t, p: M.RelaxedOneHotCategorical(
        p["temperature"], logits=p["logits"]),
        {"temperature": np.array(0.6), "logits": RNG.normal(size=(2, 4))},
        RNG.dirichlet(np.ones(4), size=2), ("log_prob",)),
}


def _family_pair(case, device, requires_grad=True):
    make, params, value, _ = FAMILIES[case]
    ours = {k: _t(v, device, requires_grad) for k, v in params.items()}
    theirs = {k: _tt(v, requires_grad) for k, v in params.items()}
    return (make(D, lambda v: _t(v, device), ours), make(TD, _tt, theirs), ours, theirs,
            value)


# where torch is the less exact side (test_exact_where_torch_approximates checks ours against
# scipy): its VonMises uses polynomial approximations of log I0, log I1 (~2e-8 relative), its
# Multinomial entropy takes lgamma(n + 1) of an integer tensor in float32
LOOSER = {("VonMises", "log_prob"): 1e-7, ("VonMises", "variance"): 3e-6,
          ("Multinomial", "entropy"): 1e-7}


@pytest.mark.parametrize("case,method", [(c, m) for c, f in FAMILIES.items() for m in f[3]])
def test_family_values_and_grads_match_torch(case, method, device):
    d, td, ours, theirs, value = _family_pair(case, device)
    if method == "icdf":
        value = RNG.uniform(0.05, 0.95, np.shape(value))
    if method in ("log_prob", "cdf", "icdf"):
        out, ref = getattr(d, method)(_t(value, device)), getattr(td, method)(_tt(value))
    elif method == "entropy":
        out, ref = d.entropy(), td.entropy()
    else:
        out, ref = getattr(d, method), getattr(td, method)
    assert tuple(out.shape) == tuple(ref.shape)
    assert on(out, device)
    rtol = LOOSER.get((case.split("_")[0], method), 1e-9)
    np.testing.assert_allclose(host(out), ref.detach().numpy(), rtol=rtol, atol=1e-11,
                               err_msg=f"{case}.{method}")
    if ref.requires_grad and torch.isfinite(ref).all() and out.requires_grad:
        names = [k for k in theirs]
        _grads_match(out, ref, [ours[k] for k in names], [theirs[k] for k in names],
                     f"{case}.{method}", rtol=1e-4 if case == "VonMises" else 1e-7)


def test_kumaraswamy_mode_is_the_closed_form(device):
    # torch 2.13 returns NaN for every mode; ours is argmax of the density
    a, b = np.array([2.0, 3.0, 0.5]), np.array([3.0, 1.5, 2.0])
    d = D.Kumaraswamy(_t(a, device), _t(b, device))
    mode = host(d.mode)
    assert np.isnan(mode[2])
    grid = np.linspace(1e-4, 1 - 1e-4, 20001)
    for i in range(2):
        dens = a[i] * b[i] * grid ** (a[i] - 1) * (1 - grid ** a[i]) ** (b[i] - 1)
        assert abs(mode[i] - grid[dens.argmax()]) < 1e-3


@pytest.mark.parametrize("case", list(FAMILIES))
def test_family_shapes_support_expand_match_torch(case, device):
    d, td, _, _, value = _family_pair(case, device, requires_grad=False)
    assert tuple(d.batch_shape) == tuple(td.batch_shape)
    assert tuple(d.event_shape) == tuple(td.event_shape)
    assert d.has_rsample == td.has_rsample or (case in NO_RSAMPLE_HERE and not d.has_rsample)
    if case.startswith("Mixture"):  # torch wraps the component's support in its own class
        assert d.support.event_dim == td.support.event_dim
    elif D.constraints.is_dependent(type(d).support):  # a bound that is a parameter
        assert type(d.support).__name__ == type(td.support).__name__
    else:
        assert repr(d.support) == repr(td.support)
    assert d.support.event_dim == td.support.event_dim
    e, te = check_samples_and_expand(d, td, case, device)
    v = _t(value, device)
    np.testing.assert_allclose(host(e.log_prob(v)), te.log_prob(_tt(value)).detach().numpy(),
                               rtol=LOOSER.get((case, "log_prob"), 1e-9))
    assert tuple(e.sample((3,)).shape) == tuple(te.sample((3,)).shape)
    if d.has_rsample:
        assert tuple(e.rsample((3,)).shape) == tuple(te.rsample((3,)).shape)


def test_family_arg_constraints_and_signatures_match_torch():
    import inspect

    for name in ("Cauchy", "HalfNormal", "HalfCauchy", "Gumbel", "Weibull", "Pareto",
                 "Kumaraswamy", "LogisticNormal", "RelaxedBernoulli", "RelaxedOneHotCategorical",
                 "TransformedDistribution"):
        ours, theirs = getattr(D, name), getattr(TD, name)
        assert {k: repr(v) for k, v in ours.arg_constraints.items()} == \
            {k: repr(v) for k, v in theirs.arg_constraints.items()}, name
        assert list(inspect.signature(ours.__init__).parameters) == \
            list(inspect.signature(theirs.__init__).parameters), name


def _ks_distance(x, cdf):
    n = len(x)
    f = cdf(x)
    return max((np.arange(1, n + 1) / n - f).max(), (f - np.arange(n) / n).max())


N = 20000
# name -> (make(tensor), a torch twin for its cdf, or None)
STAT = {
    "HalfNormal": lambda t: D.HalfNormal(t([0.5, 2.0])),
    "HalfCauchy": lambda t: D.HalfCauchy(t([0.5, 2.0])),
    "Cauchy": lambda t: D.Cauchy(t([0.5, -1.0]), t([1.0, 0.3])),
    "Gumbel": lambda t: D.Gumbel(t([0.5, -1.0]), t([1.0, 2.0])),
    "Weibull": lambda t: D.Weibull(t([1.0, 2.0]), t([0.8, 3.0])),
    "Pareto": lambda t: D.Pareto(t([1.0, 2.0]), t([3.0, 5.0])),
    "Kumaraswamy": lambda t: D.Kumaraswamy(t([0.5, 3.0]), t([2.0, 1.5])),
}


@pytest.mark.parametrize("case", list(STAT))
def test_sampling_ks_and_moments(case, device):
    d = STAT[case](lambda x: _t(x, device))
    tg.manual_seed(5)
    s = d.sample((N,))
    tg.manual_seed(5)
    assert np.array_equal(host(d.sample((N,))), host(s)), "seeded sampling repeats"
    x = host(s)
    xs = np.sort(x, axis=0)
    cdf = host(d.cdf(_t(xs, device)))
    for j in range(x.shape[1]):
        ks = _ks_distance(xs[:, j], lambda _: cdf[:, j])
        assert ks < 1.63 / np.sqrt(N), (case, j, ks)  # the 1% critical value
    mean, var = host(d.mean), host(d.variance)
    finite = np.isfinite(var)
    if finite.any():
        assert np.all(np.abs(x.mean(0) - mean)[finite] < 5 * np.sqrt(var[finite] / N))


def test_relaxed_and_logistic_normal_sampling(device):
    tg.manual_seed(2)
    logits = np.array([0.4, -1.0])
    s = host(D.RelaxedBernoulli(_t(0.1, device), logits=_t(logits, device)).sample((N,)))
    # at low temperature the relaxation is near {0, 1}, with P(x > 1/2) = sigmoid(logits)
    p = 1 / (1 + np.exp(-logits))
    assert np.all(np.abs((s > 0.5).mean(0) - p) < 5 * np.sqrt(p * (1 - p) / N))
    probs = np.array([0.1, 0.3, 0.6])
    c = host(D.RelaxedOneHotCategorical(_t(0.1, device), probs=_t(probs, device)).sample((N,)))
    np.testing.assert_allclose(c.sum(-1), 1.0, rtol=1e-9)
    freq = np.bincount(c.argmax(-1), minlength=3) / N
    assert np.all(np.abs(freq - probs) < 5 * np.sqrt(probs * (1 - probs) / N))
    loc, scale = np.array([0.3, -0.5]), np.array([0.5, 0.8])
    ln = host(D.LogisticNormal(_t(loc, device), _t(scale, device)).sample((N,)))
    # inverse stick breaking gives back normals with the given moments
    z = host(T.StickBreakingTransform().inv(tg.tensor(ln)))
    assert np.all(np.abs(z.mean(0) - loc) < 5 * scale / np.sqrt(N))
    np.testing.assert_allclose(z.std(0), scale, rtol=0.05)


RSAMPLE = {
    "HalfNormal": lambda a, b: D.HalfNormal(a * b),
    "Cauchy": lambda a, b: D.Cauchy(a, b),
    "Gumbel": lambda a, b: D.Gumbel(a, b),
    "Weibull": lambda a, b: D.Weibull(a, b + 1),
    "Pareto": lambda a, b: D.Pareto(a, b + 2),
    "Kumaraswamy": lambda a, b: D.Kumaraswamy(a + 1, b + 1),
    "LogisticNormal": lambda a, b: D.LogisticNormal(a, b),
    "RelaxedBernoulli": lambda a, b: D.RelaxedBernoulli(b, logits=a),
    "RelaxedOneHotCategorical": lambda a, b: D.RelaxedOneHotCategorical(b[0], logits=a),
}


@pytest.mark.parametrize("case", list(RSAMPLE))
def test_rsample_pathwise_gradient_matches_finite_differences(case, device):
    make = RSAMPLE[case]
    x0 = np.array([1.3, 0.6, 1.2, 0.7])

    def f(x, requires_grad=False):
        x = _t(x, device, requires_grad)
        tg.manual_seed(3)
        s = make(x[:2], x[2:]).rsample((8,))
        w = tg.tensor(put(np.linspace(-1.0, 1.0, s.numel()).reshape(tuple(s.shape)), device))
        return x, (s * w).sum()

    x, out = f(x0, requires_grad=True)
    out.backward()
    fd = numeric_jacobian(lambda v: f(v)[1].item(), x0)
    np.testing.assert_allclose(host(x.grad), fd, rtol=1e-5, atol=1e-7)
    assert np.abs(fd).max() > 1e-3


def test_transformed_distribution_errors_and_second_order():
    with pytest.raises(ValueError, match="Transform"):
        D.TransformedDistribution(D.Normal(0.0, 1.0), [lambda x: x])
    with pytest.raises(ValueError, match="dimensions"):
        D.TransformedDistribution(D.Normal(0.0, 1.0), T.StickBreakingTransform())
    with pytest.raises(ValueError):
        D.HalfNormal(tg.tensor([-1.0]))
    with pytest.raises(ValueError):
        D.HalfNormal(tg.tensor([1.0])).log_prob(tg.tensor([-1.0]))
    v = tg.tensor(np.array([0.4, 1.7]))
    for make in (lambda x: D.Weibull(x[:2], x[2:]), lambda x: D.Gumbel(x[:2], x[2:]),
                 lambda x: D.Kumaraswamy(x[:2], x[2:])):
        value = v if make(tg.tensor(np.ones(4))).support.check(v).all().item() else v / 2
        tg.check_grads(lambda x, m=make, val=value: m(_as_tensor(x)).log_prob(val).sum(),
                       modes=("fwd", "rev"), order=2)(tg.tensor(np.array([1.5, 2.5, 0.8, 1.3])))


def test_float32_stays_float32(device):
    p = tg.tensor(put(np.array([0.5, 1.5], np.float32), device), requires_grad=True)
    for d in (D.HalfNormal(p), D.Gumbel(p, p), D.Weibull(p, p), D.Pareto(p, p),
              D.Kumaraswamy(p, p), D.Cauchy(p, p), D.LogisticNormal(p, p),
              D.RelaxedBernoulli(p[0], logits=p)):
        s = d.rsample((3,))
        assert s.dtype == np.float32 and on(s, device), type(d).__name__
        assert d.log_prob(s.detach()).dtype == np.float32, type(d).__name__


# ---- the other families -------------------------------------------------------------------------

_COUNTS = np.array([[2.0, 0.0, 1.0, 2.0], [0.0, 5.0, 0.0, 0.0]])
FAMILIES_MORE = {
    "Chi2": (lambda M, t, p: M.Chi2(p["df"]), {"df": RNG.uniform(1.5, 4.0, 3)},
             RNG.uniform(0.2, 4.0, (2, 3)), ("log_prob", "entropy", "mean", "mode", "variance")),
    "StudentT": (lambda M, t, p: M.StudentT(p["df"], p["loc"], p["scale"]),
                 {"df": np.array([0.8, 1.5, 3.0]), "loc": RNG.normal(size=3),
                  "scale": RNG.uniform(0.5, 2.0, 3)}, RNG.normal(size=(2, 3)),
                 ("log_prob", "entropy", "mean", "mode", "variance")),
    "StudentT_large_df": (lambda M, t, p: M.StudentT(p["df"], p["loc"], p["scale"]),
                          {"df": RNG.uniform(2.5, 6.0, 3), "loc": RNG.normal(size=3),
                           "scale": RNG.uniform(0.5, 2.0, 3)}, RNG.normal(size=(2, 3)),
                          ("mean", "variance")),
    "InverseGamma": (lambda M, t, p: M.InverseGamma(p["concentration"], p["rate"]),
                     {"concentration": np.array([0.8, 1.5, 3.0]),
                      "rate": RNG.uniform(0.5, 2.0, 3)}, RNG.uniform(0.2, 3.0, (2, 3)),
                     ("log_prob", "entropy", "mean", "mode", "variance")),
    "FisherSnedecor": (lambda M, t, p: M.FisherSnedecor(p["df1"], p["df2"]),
                       {"df1": np.array([1.5, 3.0, 5.0]), "df2": np.array([3.0, 5.0, 6.5])},
                       RNG.uniform(0.2, 3.0, (2, 3)), ("log_prob", "mean", "mode", "variance")),
    "Geometric_probs": (lambda M, t, p: M.Geometric(probs=p["probs"]),
                        {"probs": RNG.uniform(0.2, 0.8, 3)},
                        np.array([[0.0, 1.0, 4.0], [2.0, 0.0, 7.0]]),
                        ("log_prob", "entropy", "mean", "mode", "variance")),
    "Geometric_logits": (lambda M, t, p: M.Geometric(logits=p["logits"]),
                         {"logits": RNG.normal(size=3)},
                         np.array([[0.0, 1.0, 4.0], [2.0, 0.0, 7.0]]),
                         ("log_prob", "entropy", "mean", "variance")),
    "NegativeBinomial": (lambda M, t, p: M.NegativeBinomial(p["total_count"], probs=p["probs"]),
                         {"total_count": np.array([1.5, 3.0, 6.0]),
                          "probs": RNG.uniform(0.2, 0.8, 3)},
                         np.array([[0.0, 1.0, 4.0], [2.0, 0.0, 7.0]]),
                         ("log_prob", "mean", "mode", "variance")),
    "NegativeBinomial_logits": (lambda M, t, p: M.NegativeBinomial(p["total_count"],
                                                                   logits=p["logits"]),
                                {"total_count": np.array([1.5, 3.0, 6.0]),
                                 "logits": RNG.normal(size=3)},
                                np.array([[0.0, 1.0, 4.0], [2.0, 0.0, 7.0]]),
                                ("log_prob", "mean", "variance")),
    "Multinomial": (lambda M, t, p: M.Multinomial(5, probs=p["probs"]),
                    {"probs": RNG.dirichlet(np.ones(4), size=2)}, _COUNTS,
                    ("log_prob", "entropy", "mean", "variance")),
    "Multinomial_logits": (lambda M, t, p: M.Multinomial(5, logits=p["logits"]),
                           {"logits": RNG.normal(size=(2, 4))}, _COUNTS,
                           ("log_prob", "entropy", "mean", "variance")),
    "LowRankMVN": (lambda M, t, p: M.LowRankMultivariateNormal(p["loc"], p["cov_factor"],
                                                                p["cov_diag"]),
                   {"loc": RNG.normal(size=(2, 3)), "cov_factor": RNG.normal(size=(3, 2)),
                    "cov_diag": RNG.uniform(0.5, 1.5, 3)}, RNG.normal(size=(2, 3)),
                   ("log_prob", "entropy", "mean", "mode", "variance", "covariance_matrix",
                    "precision_matrix", "scale_tril")),
    "Mixture_normal": (lambda M, t, p: M.MixtureSameFamily(
        M.Categorical(logits=p["mix"]), M.Normal(p["loc"], p["scale"])),
        {"mix": RNG.normal(size=(2, 3)), "loc": RNG.normal(size=(2, 3)),
         "scale": RNG.uniform(0.5, 1.5, (2, 3))}, RNG.normal(size=2),
        ("log_prob", "cdf", "mean", "variance")),
    "Mixture_independent": (lambda M, t, p: M.MixtureSameFamily(
        M.Categorical(logits=p["mix"]), M.Independent(M.Normal(p["loc"], p["scale"]), 1)),
        {"mix": RNG.normal(size=3), "loc": RNG.normal(size=(3, 2)),
         "scale": RNG.uniform(0.5, 1.5, (3, 2))}, RNG.normal(size=(2, 2)),
        ("log_prob", "mean", "variance")),
    "VonMises": (lambda M, t, p: M.VonMises(p["loc"], p["concentration"]),
                 {"loc": RNG.uniform(-1, 1, 3), "concentration": np.array([0.5, 2.0, 30.0])},
                 RNG.uniform(-3, 3, (2, 3)), ("log_prob", "mean", "mode", "variance")),
    "ContinuousBernoulli": (lambda M, t, p: M.ContinuousBernoulli(probs=p["probs"]),
                            {"probs": np.array([0.2, 0.4995, 0.8])},
                            RNG.uniform(0.05, 0.95, (2, 3)),
                            ("log_prob", "cdf", "icdf", "entropy", "mean", "variance")),
    "ContinuousBernoulli_logits": (lambda M, t, p: M.ContinuousBernoulli(logits=p["logits"]),
                                   {"logits": np.array([-1.5, 0.001, 2.0])},
                                   RNG.uniform(0.05, 0.95, (2, 3)),
                                   ("log_prob", "cdf", "icdf", "entropy", "mean", "variance")),
    "OneHotStraightThrough": (lambda M, t, p: M.OneHotCategoricalStraightThrough(
        logits=p["logits"]), {"logits": RNG.normal(size=(2, 4))}, np.eye(4)[[1, 3]],
        ("log_prob", "entropy", "mean", "variance")),
}
FAMILIES.update(FAMILIES_MORE)
# families torch reparameterises and tensorgrad does not (none since Gamma's implicit
# reparameterisation, tests/test_distributions_rsample.py)
NO_RSAMPLE_HERE = set()


@pytest.mark.parametrize("case,method",
                         [(c, m) for c, f in FAMILIES_MORE.items() for m in f[3]])
def test_more_family_values_and_grads_match_torch(case, method, device):
    test_family_values_and_grads_match_torch(case, method, device)


@pytest.mark.parametrize("case", list(FAMILIES_MORE))
def test_more_family_shapes_support_expand_match_torch(case, device):
    test_family_shapes_support_expand_match_torch(case, device)


STAT_MORE = {
    "StudentT": (lambda t: D.StudentT(t([9.0, 6.5]), t([0.5, -1.0]), t([1.0, 2.0])),
                 lambda x: __import__("scipy.stats").stats.t.cdf(
                     x, [9.0, 6.5], loc=[0.5, -1.0], scale=[1.0, 2.0])),
    "Chi2": (lambda t: D.Chi2(t([1.5, 6.0])), None),
    "InverseGamma": (lambda t: D.InverseGamma(t([7.5, 9.0]), t([1.0, 3.0])), None),
    "FisherSnedecor": (lambda t: D.FisherSnedecor(t([3.0, 8.0]), t([16.0, 22.0])),
                       lambda x: __import__("scipy.stats").stats.f.cdf(x, [3.0, 8.0],
                                                                       [16.0, 22.0])),
    "VonMises": (lambda t: D.VonMises(t([0.5, -2.5]), t([0.3, 8.0])),
                 lambda x: __import__("scipy.stats").stats.vonmises.cdf(
                     x, [0.3, 8.0], loc=[0.5, -2.5])),
    "ContinuousBernoulli": (lambda t: D.ContinuousBernoulli(t([0.2, 0.9])), None),
    "Mixture": (lambda t: D.MixtureSameFamily(D.Categorical(logits=t([[0.2, -0.5, 1.0]] * 2)),
                                              D.Normal(t([[-2.0, 0.0, 3.0]] * 2),
                                                       t([[0.5, 1.0, 0.8]] * 2))), None),
    "Geometric": (lambda t: D.Geometric(t([0.2, 0.7])), None),
    "NegativeBinomial": (lambda t: D.NegativeBinomial(t([3.0, 0.7]), t([0.4, 0.8])), None),
}


@pytest.mark.parametrize("case", list(STAT_MORE))
def test_more_sampling_ks_and_moments(case, device):
    make, ref_cdf = STAT_MORE[case]
    d = make(lambda x: _t(x, device))
    tg.manual_seed(9)
    s = d.sample((N,))
    tg.manual_seed(9)
    assert np.array_equal(host(d.sample((N,))), host(s)), "seeded sampling repeats"
    assert on(s, device)
    x = host(s)
    if case == "VonMises":  # the samples wrap into [-pi, pi); scipy's cdf is from -pi
        assert np.all((x >= -np.pi) & (x < np.pi))
    xs = np.sort(x, axis=0)
    if not d.support.is_discrete:
        cdf = ref_cdf(xs) if ref_cdf is not None else host(d.cdf(_t(xs, device)))
        if case == "VonMises":
            cdf = cdf - __import__("scipy.stats").stats.vonmises.cdf(
                -np.pi, [0.3, 8.0], loc=[0.5, -2.5])
        for j in range(x.shape[1]):
            ks = _ks_distance(xs[:, j], lambda _: cdf[:, j])
            assert ks < 1.63 / np.sqrt(N), (case, j, ks)
    if case == "VonMises":
        return
    mean, var = host(d.mean), host(d.variance)
    assert np.all(np.abs(x.mean(0) - mean) < 5 * np.sqrt(var / N)), (x.mean(0), mean)
    np.testing.assert_allclose(x.var(0), var, rtol=0.1)


def test_multinomial_and_lowrank_sampling(device):
    tg.manual_seed(4)
    probs = np.array([0.1, 0.3, 0.6])
    m = D.Multinomial(7, probs=_t(probs, device))
    s = host(m.sample((N,)))
    assert np.all(s.sum(-1) == 7) and bool(m.support.check(tg.tensor(s)).all().item())
    np.testing.assert_allclose(s.mean(0), 7 * probs, atol=5 * np.sqrt(7 * 0.25 / N))
    np.testing.assert_allclose(np.cov(s.T), 7 * (np.diag(probs) - np.outer(probs, probs)),
                               atol=0.05)
    W, diag = np.array([[1.0, 0.2], [0.5, -0.4], [0.0, 0.8]]), np.array([0.3, 0.5, 0.2])
    lr = D.LowRankMultivariateNormal(_t(np.zeros(3), device), _t(W, device), _t(diag, device))
    x = host(lr.sample((N,)))
    np.testing.assert_allclose(np.cov(x.T), W @ W.T + np.diag(diag), atol=0.05)


def test_straight_through_and_lowrank_rsample_gradients(device):
    logits = _t([0.2, -0.4, 0.9], device, requires_grad=True)
    d = D.OneHotCategoricalStraightThrough(logits=logits)
    tg.manual_seed(1)
    s = d.rsample((5,))
    assert bool(D.constraints.one_hot.check(s.detach()).all().item())
    w = _t(np.arange(15.0).reshape(5, 3), device)
    (s * w).sum().backward()
    tl = torch.tensor([0.2, -0.4, 0.9], dtype=torch.float64, requires_grad=True)
    p = torch.softmax(tl, -1)
    (p * torch.tensor(np.arange(15.0).reshape(5, 3)).sum(0)).sum().backward()
    np.testing.assert_allclose(host(logits.grad), tl.grad.numpy(), rtol=1e-10)

    def f(x, requires_grad=False):
        x = _t(x, device, requires_grad)
        tg.manual_seed(3)
        s = D.LowRankMultivariateNormal(x[:2], x[2:6].reshape(2, 2), x[6:].exp()).rsample((6,))
        w = tg.tensor(put(np.linspace(-1.0, 1.0, 12).reshape(6, 2), device))
        return x, (s * w).sum()

    x0 = np.array([0.3, -0.2, 1.0, 0.4, -0.3, 0.7, 0.1, -0.5])
    x, out = f(x0, requires_grad=True)
    out.backward()
    fd = numeric_jacobian(lambda v: f(v)[1].item(), x0)
    np.testing.assert_allclose(host(x.grad), fd, rtol=1e-6, atol=1e-8)


def test_exponential_family_entropy_and_bregman_kl_match_torch(device):
    probs = np.array([0.2, 0.7, 0.9])
    d, td = D.ContinuousBernoulli(_t(probs, device)), TD.ContinuousBernoulli(_tt(probs))
    assert isinstance(d, D.ExponentialFamily)
    generic = D.ExponentialFamily.entropy(d)
    np.testing.assert_allclose(host(generic), TD.ExponentialFamily.entropy(td).detach().numpy(),
                               rtol=1e-9)
    np.testing.assert_allclose(host(generic), host(d.entropy()), rtol=1e-7)
    from tensorgrad.distributions import kl as klmod

    q = np.array([0.4, 0.3, 0.6])
    ours = klmod._kl_expfamily_expfamily(d, D.ContinuousBernoulli(_t(q, device)))
    np.testing.assert_allclose(host(ours), host(D.kl_divergence(
        d, D.ContinuousBernoulli(_t(q, device)))), rtol=1e-7)
    with pytest.raises(NotImplementedError, match="exponential families"):
        klmod._kl_expfamily_expfamily(d, _Twin(_t(q, device)))


class _Twin(D.ContinuousBernoulli):
    pass


# ---- kl_divergence of the new pairs ---------------------------------------------------------

def _kl_params(**spec):
    return {k: v for k, v in spec.items()}


KL_MORE = {
    "Cauchy": (lambda M, p: M.Cauchy(p["loc"], p["scale"]),
               lambda: {"loc": RNG.normal(size=3), "scale": RNG.uniform(0.5, 2.0, 3)}),
    "Gumbel": (lambda M, p: M.Gumbel(p["loc"], p["scale"]),
               lambda: {"loc": RNG.normal(size=3), "scale": RNG.uniform(0.5, 2.0, 3)}),
    "HalfNormal": (lambda M, p: M.HalfNormal(p["scale"]),
                   lambda: {"scale": RNG.uniform(0.5, 2.0, 3)}),
    "Pareto": (lambda M, p: M.Pareto(p["scale"], p["alpha"]),
               lambda: {"scale": RNG.uniform(0.5, 2.0, 3), "alpha": RNG.uniform(0.5, 3.0, 3)}),
    "Geometric": (lambda M, p: M.Geometric(probs=p["probs"]),
                  lambda: {"probs": RNG.uniform(0.1, 0.9, 3)}),
    "Poisson": (lambda M, p: M.Poisson(p["rate"]), lambda: {"rate": RNG.uniform(0.5, 4.0, 3)}),
    "Binomial": (lambda M, p: M.Binomial(6, probs=p["probs"]),
                 lambda: {"probs": RNG.uniform(0.1, 0.9, 3)}),
    "OneHotCategorical": (lambda M, p: M.OneHotCategorical(logits=p["logits"]),
                          lambda: {"logits": RNG.normal(size=(2, 4))}),
    "ContinuousBernoulli": (lambda M, p: M.ContinuousBernoulli(probs=p["probs"]),
                            lambda: {"probs": RNG.uniform(0.1, 0.9, 3)}),
    "LowRank": (lambda M, p: M.LowRankMultivariateNormal(p["loc"], p["W"], p["d"]),
                lambda: {"loc": RNG.normal(size=(2, 3)), "W": RNG.normal(size=(3, 2)),
                         "d": RNG.uniform(0.5, 1.5, 3)}),
    "LogNormal_as_transformed": (
        lambda M, p: M.TransformedDistribution(M.Normal(p["loc"], p["scale"]),
                                               (T if M is D else TT).ExpTransform()),
        lambda: {"loc": RNG.normal(size=3), "scale": RNG.uniform(0.5, 2.0, 3)}),
    "Weibull_as_transformed": (
        lambda M, p: M.Weibull(p["scale"], p["concentration"]),
        lambda: {"scale": RNG.uniform(0.5, 2.0, 3), "concentration": np.full(3, 1.5)}),
}
KL_MORE_PARAMS = {k: (make, spec(), spec()) for k, (make, spec) in KL_MORE.items()}
KL_MORE_PARAMS["Weibull_as_transformed"][2]["concentration"] = np.full(3, 1.5)  # same transforms


@pytest.mark.parametrize("case", list(KL_MORE_PARAMS))
def test_kl_more_matches_torch(case, device):
    make, pp, qp = KL_MORE_PARAMS[case]
    ours = {"p_" + k: _t(v, device, True) for k, v in pp.items()}
    ours.update({"q_" + k: _t(v, device, True) for k, v in qp.items()})
    theirs = {k: _tt(host(v), True) for k, v in ours.items()}

    def split(d, side):
        return {k[2:]: v for k, v in d.items() if k.startswith(side)}

    if case == "Weibull_as_transformed":  # shared parameters give equal transforms
        for side in (ours, theirs):
            side["q_concentration"] = side["p_concentration"]
    p, q = make(D, split(ours, "p_")), make(D, split(ours, "q_"))
    tp, tq = make(TD, split(theirs, "p_")), make(TD, split(theirs, "q_"))
    if case == "Weibull_as_transformed":
        p.transforms = q.transforms = p.transforms  # the same objects, as torch needs
        tp.transforms = tq.transforms = tp.transforms
    out, ref = D.kl_divergence(p, q), TD.kl_divergence(tp, tq)
    assert tuple(out.shape) == tuple(ref.shape)
    np.testing.assert_allclose(host(out), ref.detach().numpy(), rtol=1e-9, atol=1e-12,
                               equal_nan=True)
    if torch.isfinite(ref).all():
        names = [k for k in ours if theirs[k].requires_grad]
        _grads_match(out, ref, [ours[k] for k in names], [theirs[k] for k in names], case)


def test_kl_more_special_cases(device):
    p = D.Pareto(_t([1.0, 2.0], device), _t([2.0, 2.0], device))
    q = D.Pareto(_t([1.5, 1.0], device), _t([2.0, 3.0], device))
    out = host(D.kl_divergence(p, q))
    assert np.isinf(out[0]) and np.isfinite(out[1])
    with pytest.raises(NotImplementedError):
        D.kl_divergence(D.Binomial(3, _t([0.5], device)), D.Binomial(5, _t([0.5], device)))
    assert np.isinf(host(D.kl_divergence(D.Binomial(5, _t([0.5], device)),
                                         D.Binomial(3, _t([0.5], device))))[0])
    a = D.TransformedDistribution(D.Normal(_t(0.0, device), _t(1.0, device)), T.ExpTransform())
    b = D.TransformedDistribution(D.Normal(_t(0.0, device), _t(1.0, device)),
                                  T.SigmoidTransform())
    with pytest.raises(NotImplementedError, match="same transforms"):
        D.kl_divergence(a, b)
    # Gumbel is a TransformedDistribution, but its own closed form wins the dispatch
    g = D.Gumbel(_t(0.0, device), _t(1.0, device))
    assert D.kl_divergence(g, g).item() == pytest.approx(0.0, abs=1e-12)


def test_more_bad_inputs_raise_like_torch(device):
    def t(x):
        return _t(x, device)

    bad = [
        lambda M, t: M.StudentT(t([-1.0])),
        lambda M, t: M.Geometric(probs=t([1.5])),
        lambda M, t: M.NegativeBinomial(t([2.0]), probs=t([1.0])),
        lambda M, t: M.Multinomial(3, probs=t([0.5, -0.5])),
        lambda M, t: M.Multinomial(3, probs=t([0.5, 0.5])).log_prob(t([1.0, -1.0])),
        lambda M, t: M.LowRankMultivariateNormal(t([0.0, 0.0]), t([[1.0], [1.0], [1.0]]),
                                                 t([1.0, 1.0])),
        lambda M, t: M.LowRankMultivariateNormal(t([0.0, 0.0]), t([[1.0], [1.0]]),
                                                 t([1.0, -1.0])),
        lambda M, t: M.MixtureSameFamily(M.Categorical(logits=t([0.0, 0.0])),
                                         M.Normal(t([0.0, 0.0, 0.0]), t([1.0, 1.0, 1.0]))),
        lambda M, t: M.VonMises(t([0.0]), t([-1.0])),
        lambda M, t: M.ContinuousBernoulli(probs=t([1.5]), validate_args=True),
        lambda M, t: M.FisherSnedecor(t([1.0]), t([0.0])),
        lambda M, t: M.Gumbel(t([0.0]), t([0.0])),
        lambda M, t: M.Pareto(t([1.0]), t([1.0])).log_prob(t([0.5])),
        lambda M, t: M.Kumaraswamy(t([1.0]), t([1.0])).log_prob(t([1.5])),
    ]
    for make in bad:
        with pytest.raises(Exception) as theirs:
            make(TD, lambda x: torch.tensor(x, dtype=torch.float64))
        with pytest.raises(theirs.type):
            make(D, t)
    # torch clamps an out-of-range probs of ContinuousBernoulli unless validate_args is given
    assert D.ContinuousBernoulli(probs=t([1.5])).probs.item() < 1.0


def test_exact_where_torch_approximates(device):
    import itertools

    from scipy import stats

    loc, k = np.array([0.3, -1.0, 2.0]), np.array([0.5, 2.0, 30.0])
    x = np.array([0.1, 2.5, -3.0])
    d = D.VonMises(_t(loc, device), _t(k, device))
    np.testing.assert_allclose(host(d.log_prob(_t(x, device))),
                               stats.vonmises.logpdf(x, k, loc=loc), rtol=1e-12)
    from scipy.special import i0, i1

    np.testing.assert_allclose(host(d.variance), 1 - i1(k) / i0(k), rtol=1e-12)
    kk = _t(k, device, requires_grad=True)
    D.VonMises(_t(loc, device), kk).variance.sum().backward()
    ratio = i1(k) / i0(k)  # d/dk of I1/I0 is 1 - ratio/k - ratio^2
    np.testing.assert_allclose(host(kk.grad), -(1 - ratio / k - ratio ** 2), rtol=1e-9)
    probs = np.array([0.1, 0.3, 0.6])
    n = 4
    h = 0.0
    for c in itertools.product(range(n + 1), repeat=3):
        if sum(c) == n:
            lp = stats.multinomial.logpmf(c, n, probs)
            h -= np.exp(lp) * lp
    np.testing.assert_allclose(D.Multinomial(n, _t(probs, device)).entropy().item(), h,
                               rtol=1e-12)


# parameters of one batch of three, per family, for the cross-family KLs
_CROSS = {
    "Beta": lambda M, t: M.Beta(t([1.5, 2.0, 0.7]), t([2.5, 1.2, 0.9])),
    "ContinuousBernoulli": lambda M, t: M.ContinuousBernoulli(t([0.2, 0.6, 0.9])),
    "Exponential": lambda M, t: M.Exponential(t([0.5, 1.5, 3.0])),
    "Gamma": lambda M, t: M.Gamma(t([1.5, 2.0, 4.0]), t([0.5, 1.5, 3.0])),
    "Gumbel": lambda M, t: M.Gumbel(t([0.3, -1.0, 2.0]), t([0.5, 1.5, 3.0])),
    "Laplace": lambda M, t: M.Laplace(t([0.3, -1.0, 2.0]), t([0.5, 1.5, 3.0])),
    "Normal": lambda M, t: M.Normal(t([0.3, -1.0, 2.0]), t([0.5, 1.5, 3.0])),
    "Pareto": lambda M, t: M.Pareto(t([0.5, 1.0, 2.0]), t([0.8, 2.5, 3.5])),
    "Uniform": lambda M, t: M.Uniform(t([0.1, 1.5, 2.5]), t([0.7, 3.0, 4.0])),
    "Uniform_wide": lambda M, t: M.Uniform(t([-1.0, 0.2, -0.5]), t([2.0, 0.9, 0.8])),
    "Bernoulli": lambda M, t: M.Bernoulli(t([0.2, 0.6, 0.9])),
    "Poisson": lambda M, t: M.Poisson(t([0.5, 1.5, 3.0])),
    "Binomial": lambda M, t: M.Binomial(4, t([0.2, 0.6, 0.9])),
}
CROSS_PAIRS = [
    ("Beta", "Pareto"), ("ContinuousBernoulli", "Pareto"), ("Exponential", "ContinuousBernoulli"),
    ("Exponential", "Pareto"), ("Gamma", "ContinuousBernoulli"), ("Gamma", "Pareto"),
    ("Gumbel", "Beta"), ("Gumbel", "ContinuousBernoulli"), ("Gumbel", "Exponential"),
    ("Gumbel", "Gamma"), ("Gumbel", "Pareto"), ("Gumbel", "Uniform"),
    ("Laplace", "ContinuousBernoulli"), ("Laplace", "Pareto"), ("Normal", "ContinuousBernoulli"),
    ("Normal", "Pareto"), ("Pareto", "Beta"), ("Pareto", "ContinuousBernoulli"),
    ("Pareto", "Uniform"), ("Poisson", "Bernoulli"), ("Poisson", "Binomial"),
    ("Bernoulli", "Poisson"), ("Beta", "ContinuousBernoulli"), ("Uniform", "ContinuousBernoulli"),
    ("Uniform_wide", "ContinuousBernoulli"), ("ContinuousBernoulli", "Exponential"),
    ("ContinuousBernoulli", "Normal"), ("ContinuousBernoulli", "Uniform"),
    ("ContinuousBernoulli", "Uniform_wide"), ("Exponential", "Gumbel"), ("Gamma", "Gumbel"),
    ("Gumbel", "Normal"), ("Normal", "Gumbel"), ("Uniform", "Gumbel"), ("Pareto", "Exponential"),
    ("Pareto", "Gamma"), ("Pareto", "Normal"), ("Uniform", "Pareto"),
]


@pytest.mark.parametrize("pair", CROSS_PAIRS, ids=["-".join(p) for p in CROSS_PAIRS])
def test_cross_family_kl_matches_torch(pair, device):
    ours_leaves, theirs_leaves = [], []

    def ours(x):
        leaf = _t(x, device, requires_grad=True)
        ours_leaves.append(leaf)
        return leaf

    def theirs(x):
        leaf = _tt(x, requires_grad=True)
        theirs_leaves.append(leaf)
        return leaf

    p, q = (_CROSS[name](D, ours) for name in pair)
    tp, tq = (_CROSS[name](TD, theirs) for name in pair)
    out, ref = D.kl_divergence(p, q), TD.kl_divergence(tp, tq)
    assert tuple(out.shape) == tuple(ref.shape) and on(out, device)
    np.testing.assert_allclose(host(out), ref.detach().numpy(), rtol=1e-9, atol=1e-12)
    finite = torch.isfinite(ref)
    if finite.any() and ref.requires_grad:
        w = finite.double().numpy()  # gradients of the finite entries only
        safe = tg.where(tg.tensor(put(w > 0, device)), out, tg.zeros_like(out))
        (safe * tg.tensor(put(np.linspace(0.5, 1.5, w.size) * w, device))).sum().backward()
        tsafe = torch.where(finite, ref, torch.zeros_like(ref))
        (tsafe * torch.tensor(np.linspace(0.5, 1.5, w.size) * w)).sum().backward()
        for a, b in zip(ours_leaves, theirs_leaves):
            g = host(a.grad) if a.grad is not None else np.zeros(tuple(b.shape))
            g_ref = b.grad.numpy() if b.grad is not None else np.zeros(tuple(b.shape))
            np.testing.assert_allclose(g, g_ref, rtol=1e-7, atol=1e-9)


def _second_order_more():
    v = tg.tensor(np.array([0.3, -0.4]))
    counts = tg.tensor(np.array([1.0, 3.0]))
    unit = tg.tensor(np.array([0.3, 0.8]))
    return {
        "StudentT.log_prob": (lambda x: D.StudentT(x[:2] + 2, x[2:], 1.5).log_prob(v).sum(),
                              [1.5, 2.5, 0.8, -0.3]),
        "StudentT.entropy": (lambda x: D.StudentT(x[:2], x[2:], 1.5).entropy().sum(),
                             [1.5, 2.5, 0.8, 1.3]),
        "FisherSnedecor.log_prob": (lambda x: D.FisherSnedecor(x[:2], x[2:]).log_prob(
            unit).sum(), [1.5, 2.5, 3.8, 4.3]),
        "VonMises.log_prob": (lambda x: D.VonMises(x[:2], x[2:]).log_prob(v).sum(),
                              [0.1, -0.2, 0.8, 3.0]),
        "ContinuousBernoulli.log_prob": (lambda x: D.ContinuousBernoulli(
            logits=x[:2]).log_prob(unit).sum() + D.ContinuousBernoulli(
            logits=x[2:]).entropy().sum(), [0.4, -1.2, 2.0, -0.7]),
        "NegativeBinomial.log_prob": (lambda x: D.NegativeBinomial(
            x[:2], logits=x[2:]).log_prob(counts).sum(), [1.5, 2.5, 0.3, -0.6]),
        "Geometric.entropy": (lambda x: D.Geometric(logits=x).entropy().sum(),
                              [0.3, -0.6, 1.2, 0.1]),
        "Multinomial.log_prob": (lambda x: D.Multinomial(4, logits=x).log_prob(
            tg.tensor(np.array([1.0, 0.0, 2.0, 1.0]))), [0.3, -0.6, 1.2, 0.1]),
        "LowRankMVN.log_prob": (lambda x: D.LowRankMultivariateNormal(
            x[:2], x.reshape(2, 2), x[2:].exp()).log_prob(v), [0.3, -0.6, 1.2, 0.1]),
        "Mixture.log_prob": (lambda x: D.MixtureSameFamily(
            D.Categorical(logits=x[:2]), D.Normal(x[2:], tg.tensor(np.array([1.0, 0.5])))
        ).log_prob(v).sum(), [0.3, -0.6, 1.2, 0.1]),
        "Cauchy.cdf": (lambda x: D.Cauchy(x[:2], x[2:]).cdf(v).sum(), [0.3, -0.6, 1.2, 0.9]),
        "HalfCauchy.icdf": (lambda x: D.HalfCauchy(x).icdf(tg.tensor(np.array(
            [0.2, 0.5, 0.7, 0.9]))).sum(), [0.3, 0.6, 1.2, 0.9]),
        "LogisticNormal.log_prob": (lambda x: D.LogisticNormal(x[:2], x[2:]).log_prob(
            tg.tensor(np.array([0.2, 0.5, 0.3]))), [0.3, -0.6, 1.2, 0.9]),
        "RelaxedOneHot.log_prob": (lambda x: D.RelaxedOneHotCategorical(
            x[0] + 1, logits=x[1:]).log_prob(tg.tensor(np.array([0.2, 0.5, 0.3]))),
            [0.3, -0.6, 1.2, 0.9]),
        "KL Gumbel-Normal": (lambda x: D.kl_divergence(D.Gumbel(x[:2], x[2:]),
                                                       D.Normal(v, unit)).sum(),
                             [0.3, -0.6, 1.2, 0.9]),
        "KL Pareto-Gamma": (lambda x: D.kl_divergence(D.Pareto(x[:2], x[2:] + 2),
                                                      D.Gamma(unit, unit)).sum(),
                            [0.3, 0.6, 1.2, 0.9]),
        "KL LowRank": (lambda x: D.kl_divergence(
            D.LowRankMultivariateNormal(x[:2], x.reshape(2, 2), x[2:].exp()),
            D.LowRankMultivariateNormal(v, x.reshape(2, 2).T, unit)), [0.3, -0.6, 1.2, 0.1]),
    }


@pytest.mark.parametrize("case", list(_second_order_more()))
def test_more_second_order_finite_differences(case):
    f, x = _second_order_more()[case]
    tg.check_grads(lambda t: f(_as_tensor(t)), modes=("fwd", "rev"), order=2)(
        tg.tensor(np.array(x, dtype=np.float64)))


def test_more_families_float32_stay_float32(device):
    p = tg.tensor(put(np.array([0.3, 0.6], np.float32), device), requires_grad=True)
    two = tg.tensor(put(np.array([3.0, 5.0], np.float32), device))
    for d in (D.StudentT(two, p, two), D.Chi2(two), D.InverseGamma(two, two),
              D.FisherSnedecor(two, two), D.VonMises(p, two), D.ContinuousBernoulli(p),
              D.Geometric(p), D.NegativeBinomial(two, p), D.Multinomial(3, probs=p),
              D.LowRankMultivariateNormal(p, two.reshape(2, 1), two),
              D.MixtureSameFamily(D.Categorical(probs=p), D.Normal(p, two)),
              D.OneHotCategoricalStraightThrough(probs=p)):
        s = d.sample((3,))
        assert s.dtype == np.float32 and on(s, device), type(d).__name__
        assert d.log_prob(s).dtype == np.float32, type(d).__name__
