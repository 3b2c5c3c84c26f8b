"""Real libraries built on HIPS autograd, from PyPI, run under tensorgrad's import hook against
the same code under the real autograd, in this process: lifelines (survival models fitted by
``value_and_grad`` + SciPy, standard errors from ``hessian``, confidence bands from
``make_jvp_reversemode``, hazards from ``elementwise_grad``), autograd-gamma (primitives with
their own rules through ``autograd.extend``), pymanopt (Riemannian gradients and Hessian-vector
products: ``grad`` of ``grad``, complex manifolds) and grcwa (a multi-output ``eig`` primitive
with a complex VJP, through an electromagnetic solver).

Each library is imported afresh for each run (its modules bind autograd's functions at import).
CPU only: these libraries hand their arrays to SciPy (``minimize``, ``scipy.special``) or to
plain NumPy (pymanopt's manifolds, grcwa's own primitives), which take no device arrays."""


import numpy as onp
import pytest
from autograd_libs import run_under

from tensorgrad import autograd_compat

for _name in ("lifelines", "pymanopt", "grcwa"):  # the dev extra; pandas loads once, here
    pytest.importorskip(_name)
LIBRARIES = ("lifelines", "autograd_gamma", "pymanopt", "grcwa")


def _run(engine, fn):
    return run_under(engine, fn, LIBRARIES)


def _assert_same(ours, theirs, path="", rtol=1e-8, atol=1e-10):
    if isinstance(theirs, dict):
        assert set(ours) == set(theirs), path
        for k in theirs:
            _assert_same(ours[k], theirs[k], f"{path}.{k}", rtol, atol)
    elif isinstance(theirs, (list, tuple)):
        assert len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _assert_same(a, b, f"{path}[{i}]", rtol, atol)
    else:
        onp.testing.assert_allclose(_host(ours), _host(theirs), rtol=rtol, atol=atol,
                                    err_msg=path)


def _host(v):
    v = getattr(v, "values", v)  # pandas
    v = v.numpy() if hasattr(v, "numpy") and hasattr(v, "grad_fn") else v  # a Tensor
    return onp.asarray(v)


def _compare(fn, **tol):
    theirs = _run("autograd", fn)
    ours = _run("tensorgrad", fn)
    _assert_same(ours, theirs, **tol)
    return ours


def _uses_tensorgrad(function):
    """Under the hook, the library's autograd function is tensorgrad's."""
    if autograd_compat.is_installed():
        assert function.__module__.startswith("tensorgrad."), function


# ---- lifelines --------------------------------------------------------------------------------
UNIVARIATE = ["WeibullFitter", "ExponentialFitter", "LogNormalFitter", "LogLogisticFitter",
              "GeneralizedGammaFitter", "SplineFitter", "PiecewiseExponentialFitter"]


def _fitted(f):
    out = {a: getattr(f, a) for a in ("params_", "variance_matrix_", "log_likelihood_")}
    out["summary"] = f.summary.select_dtypes("number")  # intervals, z, p
    out["standard_errors"] = onp.sqrt(onp.diag(_host(f.variance_matrix_)))
    out["hessian"] = f._hessian_
    return out


@pytest.mark.parametrize("name", UNIVARIATE)
def test_lifelines_univariate_fitters(name):
    """The fit (SciPy on ``value_and_grad``), standard errors (``hessian``), the survival
    band (``make_jvp_reversemode``) and hazards (``elementwise_grad``, of an array and of a
    list of times) equal autograd's."""

    def fit():
        import lifelines
        from lifelines.datasets import load_waltons

        _uses_tensorgrad(lifelines.fitters.value_and_grad)
        w = load_waltons()
        kw = {"SplineFitter": {"knot_locations": onp.percentile(w["T"], [0, 50, 100])},
              "PiecewiseExponentialFitter": {"breakpoints": [20, 40, 60]}}.get(name, {})
        f = getattr(lifelines, name)(**kw).fit(w["T"], w["E"], timeline=onp.linspace(1, 70, 8))
        out = _fitted(f)
        out["band"] = f.confidence_interval_survival_function_
        out["hazard"] = f.hazard_
        out["hazard_at"] = f.hazard_at_times(onp.array([3.0, 10.0, 50.0]))
        if name != "ExponentialFitter":  # its ``times / lambda_`` takes no list: see below
            # a list in, a list of 0-d arrays out here (autograd: an array, as the list went
            # whole into a primitive); pandas holds those as objects
            out["hazard_at_list"] = f.hazard_at_times([3.0, 10.0, 50.0]).to_numpy().astype(float)
        return out

    out = _compare(fit)
    assert onp.all(onp.isfinite(out["standard_errors"]))


def test_lifelines_hazard_of_a_list_where_autograd_silently_gives_zero():
    """``ExponentialFitter.hazard_at_times(list)``: the fitter computes ``times / lambda_``
    with a NumPy float on the left, which turns autograd's traced list into an object array
    and its derivative into zeros (with a warning); tensorgrad refuses instead of answering
    wrong, and the array form agrees."""

    def hazards():
        import lifelines
        from lifelines.datasets import load_waltons

        w = load_waltons()
        f = lifelines.ExponentialFitter().fit(w["T"], w["E"])
        try:
            as_list = _host(f.hazard_at_times([3.0, 10.0]))
        except TypeError as e:
            as_list = str(e)
        return as_list, _host(f.hazard_at_times(onp.array([3.0, 10.0]))), f.params_.iloc[0]

    theirs = _run("autograd", hazards)
    ours = _run("tensorgrad", hazards)
    onp.testing.assert_array_equal(theirs[0], [0.0, 0.0])  # autograd: wrong
    assert "traced value" in ours[0]  # tensorgrad: refused, with the reason
    onp.testing.assert_allclose(ours[1], 1 / ours[2])  # the hazard of an exponential: 1/lambda
    onp.testing.assert_allclose(ours[1], theirs[1], rtol=1e-10)


REGRESSION = {
    "weibull_aft_ancillary": ("WeibullAFTFitter", {}, {"ancillary": True}),
    "lognormal_aft_penalized": ("LogNormalAFTFitter", {"penalizer": 0.01}, {}),
    "loglogistic_aft": ("LogLogisticAFTFitter", {}, {}),
    "coxph_elastic_net": ("CoxPHFitter", {"penalizer": 0.1, "l1_ratio": 0.3}, {}),
    "coxph_spline_strata": ("CoxPHFitter", {"baseline_estimation_method": "spline",
                                            "n_baseline_knots": 3}, {"strata": ["wexp"]}),
    "piecewise_regression": ("PiecewiseExponentialRegressionFitter",
                             {"breakpoints": [25], "penalizer": 0.1}, {}),
}


@pytest.mark.parametrize("case", sorted(REGRESSION))
def test_lifelines_regression_fitters(case):
    """Regression fitters on the Rossi recidivism data: coefficients, standard errors, the
    Hessian, and predictions equal autograd's (the elastic-net Cox model's penalty goes
    through ``elementwise_grad`` of ``elementwise_grad``)."""
    name, kw, fit_kw = REGRESSION[case]

    def fit():
        import lifelines
        from lifelines.datasets import load_rossi

        rossi = load_rossi()
        f = getattr(lifelines, name)(**kw).fit(rossi, "week", "arrest", **fit_kw)
        out = {a: getattr(f, a) for a in ("params_", "standard_errors_", "variance_matrix_",
                                          "log_likelihood_")}
        out["survival"] = f.predict_survival_function(rossi.iloc[:6], times=[5.0, 30.0])
        return out

    _compare(fit)


def test_lifelines_custom_fitters_and_censoring():
    """lifelines' documented extension point (a user's cumulative hazard in autograd.numpy,
    univariate and regression), and left- and interval-censored fits."""

    def fit():
        import autograd.numpy as anp
        import lifelines
        from lifelines.datasets import load_rossi, load_waltons
        from lifelines.fitters import ParametricRegressionFitter, ParametricUnivariateFitter

        class ThreeParameter(ParametricUnivariateFitter):
            _fitted_parameter_names = ["rho_", "beta_", "alpha_"]
            _bounds = [(0, None), (75, None), (0, None)]

            def _cumulative_hazard(self, params, times):
                rho, beta, alpha = params
                return anp.log1p(alpha * (times / beta) ** rho) + (times / beta) ** rho

        class Weibullish(ParametricRegressionFitter):
            _fitted_parameter_names = ["lambda_", "beta_"]

            def _cumulative_hazard(self, params, T, Xs):
                lam = anp.exp(anp.dot(Xs["lambda_"], params["lambda_"]))
                return (T / lam) ** anp.exp(anp.dot(Xs["beta_"], params["beta_"]))

        w, rossi = load_waltons(), load_rossi()
        df = rossi.assign(Intercept=1.0)
        regressors = {"lambda_": ["fin", "age", "prio", "Intercept"], "beta_": ["Intercept"]}
        t = w["T"].to_numpy(float)
        e = w["E"].to_numpy(bool)
        return {
            "univariate": _fitted(ThreeParameter().fit(w["T"], w["E"])),
            "regression": _fitted(Weibullish().fit(df, "week", "arrest",
                                                   regressors=regressors)),
            "left": _fitted(lifelines.WeibullFitter().fit_left_censoring(t, e)),
            "interval": _fitted(lifelines.LogNormalFitter().fit_interval_censoring(
                t, onp.where(e, t, t * 1.5), e)),
        }

    _compare(fit)


# ---- autograd-gamma ---------------------------------------------------------------------------
def test_autograd_gamma_functions_and_their_rules():
    """Its primitives (SciPy kernels, rules through ``autograd.extend`` with ``unbroadcast_f``
    and its own finite differences): values, every argument's derivative, and a Hessian."""

    def run():
        import autograd.numpy as np
        import autograd_gamma as G
        from autograd import elementwise_grad, hessian, value_and_grad

        _uses_tensorgrad(G.primitive)
        a, x = onp.array([0.5, 1.3, 2.0, 4.5]), onp.array([0.2, 1.0, 2.5, 3.0])
        b, z = onp.array([1.5, 0.7, 2.0, 3.0]), onp.array([0.1, 0.4, 0.6, 0.9])
        out = {}
        for name in ("gammainc", "gammaincc", "gammaincln", "gammainccln"):
            f = getattr(G, name)
            out[name] = [f(a, x), elementwise_grad(f, 0)(a, x), elementwise_grad(f, 1)(a, x)]
        for name in ("betainc", "betaincln"):
            f = getattr(G, name)
            out[name] = [f(a, b, z)] + [elementwise_grad(f, i)(a, b, z) for i in range(3)]
        for name in ("gammaincinv", "gammainccinv"):
            f = getattr(G, name)
            out[name] = [f(a, z), elementwise_grad(f, 0)(a, z), elementwise_grad(f, 1)(a, z)]

        def nll(p):
            return -np.sum(G.gammainccln(np.exp(p[0]), x * np.exp(p[1])))

        p = onp.array([0.3, -0.2])
        out["nll"] = list(value_and_grad(nll)(p)) + [hessian(nll)(p)]
        return out

    _compare(run)


# ---- pymanopt ---------------------------------------------------------------------------------
MANIFOLDS = {
    "sphere_trust_regions": ("Sphere", "TrustRegions", {}),
    "stiefel_trust_regions": ("Stiefel", "TrustRegions", {}),
    "grassmann_conjugate_gradient": ("Grassmann", "ConjugateGradient", {"max_iterations": 60}),
    "product_trust_regions": ("Product", "TrustRegions", {}),
    "spd_trust_regions": ("SPD", "TrustRegions", {"max_iterations": 30}),
    "fixed_rank_conjugate_gradient": ("FixedRank", "ConjugateGradient", {"max_iterations": 30}),
    "complex_grassmann_trust_regions": ("ComplexGrassmann", "TrustRegions",
                                        {"max_iterations": 20}),
}


def _pymanopt_problem(which, rng):
    import autograd.numpy as np
    import pymanopt
    from pymanopt import manifolds

    n = 8
    a = rng.standard_normal((n, n))
    a = a + a.T
    if which == "Sphere":
        m = manifolds.Sphere(n)
        cost = lambda x: -x @ a @ x  # noqa: E731
    elif which in ("Stiefel", "Grassmann"):
        m = getattr(manifolds, which)(n, 2)
        cost = lambda x: -np.trace(x.T @ a @ x) + np.sum(np.sin(x) ** 4)  # noqa: E731
    elif which == "Product":
        m = manifolds.Product([manifolds.Sphere(n), manifolds.Euclidean(3)])
        y = rng.standard_normal(3)
        cost = lambda x, b: -x @ a @ x + np.sum((b - y) ** 2) + np.sum(np.tanh(b) * x[:3])  # noqa: E731,E501
    elif which == "SPD":
        m = manifolds.SymmetricPositiveDefinite(4)
        c = onp.cov(rng.standard_normal((4, 30)))
        cost = lambda x: np.trace(np.linalg.solve(x, c)) + np.linalg.slogdet(x)[1]  # noqa: E731
    elif which == "FixedRank":
        b = rng.standard_normal((6, 2)) @ rng.standard_normal((2, 5))
        m = manifolds.FixedRankEmbedded(6, 5, 2)
        cost = lambda u, s, vt: np.linalg.norm(u @ np.diag(s) @ vt - b) ** 2  # noqa: E731
    else:
        h = rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))
        h = h @ h.conj().T
        m = manifolds.ComplexGrassmann(n, 2)
        cost = lambda x: -np.real(np.trace(np.conj(x).T @ h @ x))  # noqa: E731
    return m, pymanopt.Problem(m, pymanopt.function.autograd(m)(cost))


def _parts(v):
    if isinstance(v, (list, tuple)):
        return [p for e in v for p in _parts(e)]
    if hasattr(v, "Up"):  # a tangent vector of the fixed-rank manifold
        return [v.Up, v.M, v.Vp]
    v = onp.asarray(v)
    return [v.real, v.imag] if onp.iscomplexobj(v) else [v]


@pytest.mark.parametrize("case", sorted(MANIFOLDS))
def test_pymanopt_gradients_hessians_and_optimizers(case):
    """The cost, Euclidean and Riemannian gradients, the Hessian-vector product (autograd's
    ``grad`` of a ``grad``) and the optimizer's result equal autograd's."""
    which, optimizer, options = MANIFOLDS[case]

    def run():
        from pymanopt import optimizers
        from pymanopt.autodiff.backends import _autograd

        _uses_tensorgrad(_autograd.autograd.grad)
        m, problem = _pymanopt_problem(which, onp.random.default_rng(0))
        onp.random.seed(1)
        x = m.random_point()
        v = m.random_tangent_vector(x)
        out = {"cost": problem.cost(x), "egrad": _parts(problem.euclidean_gradient(x)),
               "rgrad": _parts(problem.riemannian_gradient(x))}
        if which != "FixedRank":  # pymanopt's own fixed-rank Hessian fails under both
            out["rhess"] = _parts(problem.riemannian_hessian(x, v))
        result = getattr(optimizers, optimizer)(verbosity=0, **options).run(
            problem, initial_point=x)
        out["result"] = [result.cost, result.iterations] + _parts(result.point)
        return out

    _compare(run, rtol=1e-7, atol=1e-9)


# ---- grcwa ------------------------------------------------------------------------------------
def test_grcwa_reflection_and_its_gradient_through_a_multi_output_eig():
    """grcwa declares ``eig`` (a tuple of eigenvalues and eigenvectors) as a primitive with a
    complex VJP of its own; the reflection of a patterned layer and its gradient with respect
    to the permittivity grid equal autograd's."""

    def run():
        import autograd.numpy as np
        import grcwa
        from autograd import grad
        from grcwa.primitives import eig

        grcwa.set_backend("autograd")
        rng = onp.random.default_rng(0)
        eps = 1.0 + 3.0 * rng.random((6, 6))

        def reflection(x):
            obj = grcwa.obj(21, [0.5, 0], [0, 0.5], 1.0, 0.1, 0.0, verbose=0)
            obj.Add_LayerUniform(1.0, 1.0)
            obj.Add_LayerGrid(0.2, 6, 6)
            obj.Add_LayerUniform(1.0, 1.0)
            obj.Init_Setup()
            obj.MakeExcitationPlanewave(1, 0, 0, 0, order=0)
            obj.GridLayer_geteps(x.flatten())
            return obj.RT_Solve(normalize=1)[0]

        a = rng.standard_normal((4, 4)) + 2 * onp.eye(4)

        def spectral(m):
            e, u = eig(m)
            return np.real(np.sum(e ** 2)) + np.sum(np.abs(u[:, 0]) ** 2 * np.arange(4))

        return {"R": reflection(eps), "dR": grad(reflection)(eps),
                "eig": [spectral(a), grad(spectral)(a)]}

    out = _compare(run)
    assert onp.abs(_host(out["dR"])).max() > 0
