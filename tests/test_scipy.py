"""tensorgrad.scipy: values against SciPy, derivatives against finite differences (order 2,
forward and reverse), kinds of values (arrays in, arrays out; Tensors in, Tensors out)."""

import numpy as onp
import pytest
from devices import host, on, put

import tensorgrad as tg
from tensorgrad import check_grads

scipy = pytest.importorskip("scipy")
import scipy.linalg as sl  # noqa: E402
import scipy.signal as ssig  # noqa: E402
import scipy.special as ss  # noqa: E402
import scipy.stats as sst  # noqa: E402

from tensorgrad.scipy import linalg as la  # noqa: E402
from tensorgrad.scipy import signal as tsig  # noqa: E402
from tensorgrad.scipy import special as sp  # noqa: E402
from tensorgrad.scipy import stats as st  # noqa: E402

_rng = onp.random.default_rng(7)
POS = _rng.uniform(0.6, 2.5, 3)
UNIT = _rng.uniform(0.15, 0.85, 3)
SYM = _rng.uniform(-1.5, 1.5, 3)
ORDERS = onp.array([0.0, 1.0, 3.0])

def _special(POS, UNIT, SYM, ORDERS):
    """name: (tensorgrad function, scipy function, arguments); every argument is
    differentiated. The constants are arguments, so that the table can live on a device."""
    return {
        "gammaln": (sp.gammaln, ss.gammaln, [POS]),
        "digamma": (sp.digamma, ss.digamma, [POS]),
        "psi": (sp.psi, ss.psi, [POS]),
        "gamma": (sp.gamma, ss.gamma, [POS]),
        "rgamma": (sp.rgamma, ss.rgamma, [POS]),
        "polygamma": (lambda x: sp.polygamma(2, x), lambda x: ss.polygamma(2, x), [POS]),
        "multigammaln": (lambda a: sp.multigammaln(a, 3), lambda a: ss.multigammaln(a, 3),
                         [POS + 2]),
        "beta": (sp.beta, ss.beta, [POS, POS[::-1]]),
        "betaln": (sp.betaln, ss.betaln, [POS, POS[::-1]]),
        "gammainc": (lambda x: sp.gammainc(POS, x), lambda x: ss.gammainc(POS, x), [POS]),
        "gammaincc": (lambda x: sp.gammaincc(POS, x), lambda x: ss.gammaincc(POS, x), [POS]),
        "betainc": (lambda x: sp.betainc(POS, POS[::-1], x),
                    lambda x: ss.betainc(POS, POS[::-1], x), [UNIT]),
        "erf": (sp.erf, ss.erf, [SYM]),
        "erfc": (sp.erfc, ss.erfc, [SYM]),
        "erfcx": (sp.erfcx, ss.erfcx, [SYM]),
        "erfinv": (sp.erfinv, ss.erfinv, [UNIT - 0.5]),
        "erfcinv": (sp.erfcinv, ss.erfcinv, [UNIT + 0.3]),
        "ndtr": (sp.ndtr, ss.ndtr, [SYM]),
        "log_ndtr": (sp.log_ndtr, ss.log_ndtr, [SYM]),
        "ndtri": (sp.ndtri, ss.ndtri, [UNIT]),
        "dawsn": (sp.dawsn, ss.dawsn, [SYM]),
        "expi": (sp.expi, ss.expi, [POS]),
        "exp1": (sp.exp1, ss.exp1, [POS]),
        "j0": (sp.j0, ss.j0, [POS]),
        "j1": (sp.j1, ss.j1, [POS]),
        "y0": (sp.y0, ss.y0, [POS]),
        "y1": (sp.y1, ss.y1, [POS]),
        "jv": (lambda x: sp.jv(1.5, x), lambda x: ss.jv(1.5, x), [POS]),
        "yv": (lambda x: sp.yv(1.5, x), lambda x: ss.yv(1.5, x), [POS]),
        "jn": (lambda x: sp.jn(2, x), lambda x: ss.jn(2, x), [POS]),
        "yn": (lambda x: sp.yn(2, x), lambda x: ss.yn(2, x), [POS]),
        "i0": (sp.i0, ss.i0, [SYM]),
        "i1": (sp.i1, ss.i1, [SYM]),
        "i0e": (sp.i0e, ss.i0e, [SYM]),
        "i1e": (sp.i1e, ss.i1e, [SYM]),
        "iv": (lambda x: sp.iv(1.5, x), lambda x: ss.iv(1.5, x), [POS]),
        "ive": (lambda x: sp.ive(2, x), lambda x: ss.ive(2, x), [SYM]),
        "k0": (sp.k0, ss.k0, [POS]),
        "k1": (sp.k1, ss.k1, [POS]),
        "kv": (lambda x: sp.kv(1.5, x), lambda x: ss.kv(1.5, x), [POS]),
        "kve": (lambda x: sp.kve(0.5, x), lambda x: ss.kve(0.5, x), [POS]),
        "xlogy": (sp.xlogy, ss.xlogy, [SYM, POS]),
        "xlog1py": (sp.xlog1py, ss.xlog1py, [SYM, POS]),
        "entr": (sp.entr, ss.entr, [POS]),
        "rel_entr": (sp.rel_entr, ss.rel_entr, [POS, POS[::-1]]),
        "expit": (sp.expit, ss.expit, [SYM]),
        "logit": (sp.logit, ss.logit, [UNIT]),
        "log_expit": (sp.log_expit, ss.log_expit, [SYM]),
        "stdtr": (lambda x: sp.stdtr(3.0, x), lambda x: ss.stdtr(3.0, x), [SYM]),
        "pdtr": (lambda m: sp.pdtr(ORDERS, m), lambda m: ss.pdtr(ORDERS, m), [POS]),
        "logsumexp": (sp.logsumexp, ss.logsumexp, [SYM]),
        "logsumexp_b": (lambda a, b: sp.logsumexp(a, b=b), lambda a, b: ss.logsumexp(a, b=b),
                        [SYM, POS]),
        "softmax": (sp.softmax, ss.softmax, [SYM]),
        "log_softmax": (sp.log_softmax, ss.log_softmax, [SYM]),
    }


SPECIAL = _special(POS, UNIT, SYM, ORDERS)
# SciPy functions CuPy 14.2 lacks (cupyx.scipy.special; tests/cupy_standin/cupy_names.json):
# on the cuda device tensorgrad must say so, naming the function and the device
CUPY_LACKS = {"dawsn", "jv", "yv", "jn", "iv", "ive", "kv", "kve", "stdtr"}


def _special_on(device):
    """The table with its constants on ``device`` (the SciPy references stay on the host)."""
    return _special(*put([POS, UNIT, SYM, ORDERS], device))


def _lacks(name, device):
    """Whether a SPECIAL or STATS row needs a function CuPy lacks (t.cdf is SciPy's stdtr)."""
    return device != "cpu" and (name in CUPY_LACKS or name == "t.cdf")


def _refuses(device, what):
    """The error a function CuPy lacks gives on the device: it names the function and cuda."""
    return pytest.raises(NotImplementedError, match=rf"{what}.*cuda")


@pytest.mark.parametrize("name", sorted(SPECIAL))
def test_special_values_and_derivatives(name, device):
    _, ref, args = SPECIAL[name]
    f = _special_on(device)[name][0]
    dargs = put(args, device)
    if _lacks(name, device):
        with _refuses(device, name):
            f(*dargs)
        return
    out = f(*dargs)
    assert isinstance(out, (onp.ndarray, onp.generic)) if device == "cpu" else on(out, device)
    onp.testing.assert_allclose(host(out), ref(*args), rtol=1e-10, atol=1e-12)
    check_grads(f, modes=("fwd", "rev"), order=2)(*dargs)


@pytest.mark.parametrize("name", ["gammaln", "erf", "beta", "logsumexp_b", "jv"])
def test_special_tensor_in_tensor_out(name, device):
    _, ref, args = SPECIAL[name]
    f = _special_on(device)[name][0]
    tensors = [tg.tensor(a, requires_grad=True, device=device) for a in args]
    if _lacks(name, device):
        with _refuses(device, name):
            f(*tensors)
        return
    out = f(*tensors)
    assert isinstance(out, tg.Tensor) and out.requires_grad and on(out, device)
    onp.testing.assert_allclose(host(out), ref(*args), rtol=1e-10)
    out.sum().backward()
    for t in tensors:
        assert t.grad is not None and t.grad.shape == t.shape and on(t.grad, device)


def test_special_keeps_float32(device):
    x = put(onp.abs(SYM.astype(onp.float32)) + 0.5, device)
    for f in (sp.erf, sp.expit, sp.gammaln, sp.logsumexp):
        out = f(x)
        assert out.dtype == onp.float32 and on(out, device)
        g = tg.grad(lambda v, f=f: f(v).sum())(x)
        assert g.dtype == onp.float32 and on(g, device)


def test_special_scalars_and_broadcasting(device):
    assert abs(tg.grad(sp.gammaln)(1.0) + onp.euler_gamma) < 1e-12
    assert isinstance(tg.grad(sp.gammaln)(1.0), float)
    a = put(onp.array([[1.0], [2.0]]), device)
    # (2, 1) with (3,): the cotangents are summed back
    check_grads(sp.beta, order=1)(a, put(POS, device))
    ga, gb = tg.grad(lambda a, b: sp.beta(a, b).sum(), (0, 1))(a, put(POS, device))
    assert on(ga, device) and ga.shape == (2, 1) and on(gb, device) and gb.shape == (3,)


def test_logsumexp_axes_keepdims_sign(device):
    a = _rng.normal(size=(3, 4, 2))
    b = _rng.normal(size=(3, 4, 2))
    ad, bd = put(a, device), put(b, device)
    for axis in (None, 0, -1, (0, 2)):
        for keepdims in (False, True):
            out = sp.logsumexp(ad, axis=axis, keepdims=keepdims)
            assert on(out, device)
            onp.testing.assert_allclose(host(out), ss.logsumexp(a, axis=axis, keepdims=keepdims))
            mine = sp.logsumexp(ad, axis=axis, b=bd, keepdims=keepdims, return_sign=True)
            ref = ss.logsumexp(a, axis=axis, b=b, keepdims=keepdims, return_sign=True)
            assert on(mine[0], device) and on(mine[1], device)
            onp.testing.assert_allclose(host(mine[0]), ref[0])
            onp.testing.assert_array_equal(host(mine[1]), ref[1])
    # negative weights: the derivative of log|sum b exp(a)|, checked to second order
    check_grads(lambda a, b: sp.logsumexp(a, axis=1, b=b, return_sign=True)[0])(ad, bd)
    assert onp.isneginf(host(sp.logsumexp(put(onp.array([-onp.inf, -onp.inf]), device))))


def test_no_derivative_argument_is_refused(device):
    a = tg.tensor(POS, requires_grad=True, device=device)
    with pytest.raises(NotImplementedError, match="gammainc: no derivative with respect to a"):
        tg.grad(lambda a: sp.gammainc(a, 1.0).sum())(a)
    with pytest.raises(NotImplementedError, match="order"):
        tg.grad(lambda v: sp.polygamma(v, 1.0).sum())(put(ORDERS, device))
    if device == "cpu":
        with pytest.raises(NotImplementedError, match="order"):
            tg.grad(lambda v: sp.jv(v, 1.0).sum())(POS)


def test_special_matches_autograd_gradients(device):
    ag = pytest.importorskip("autograd")
    import autograd.scipy.special as asp

    pairs = [("gammaln", sp.gammaln, asp.gammaln, POS), ("digamma", sp.digamma, asp.digamma, POS),
             ("erf", sp.erf, asp.erf, SYM), ("erfinv", sp.erfinv, asp.erfinv, UNIT - 0.5),
             ("logit", sp.logit, asp.logit, UNIT), ("i1", sp.i1, asp.i1, SYM),
             ("logsumexp", sp.logsumexp, asp.logsumexp, SYM)]
    for name, mine, theirs, x in pairs:
        g_mine = tg.grad(lambda v, f=mine: (f(v) ** 2).sum())(put(x, device))
        g_theirs = ag.grad(lambda v, f=theirs: (f(v) ** 2).sum())(x)
        assert on(g_mine, device)
        onp.testing.assert_allclose(host(g_mine), g_theirs, rtol=1e-10, err_msg=name)


# ---- stats -------------------------------------------------------------------------------
X = _rng.normal(size=4)
P4 = _rng.uniform(0.6, 2.5, 4)
U4 = _rng.uniform(0.15, 0.85, 4)
K4 = onp.array([0.0, 1.0, 2.0, 5.0])
ALPHA = onp.array([1.5, 2.0, 3.0])
SIMPLEX = _rng.dirichlet(ALPHA, size=4).T  # (K, N): SciPy's layout
_A = _rng.normal(size=(3, 3))
COV = _A @ _A.T + onp.eye(3)
MEAN = _rng.normal(size=3)
PTS = _rng.normal(size=(4, 3))

def _stats(X, P4, U4, K4, ALPHA, SIMPLEX, COV, MEAN, PTS):
    """name: (tensorgrad function, scipy function, arguments), as _special."""
    return {
        "norm.logpdf": (st.norm.logpdf, sst.norm.logpdf, [X, 0.3, 1.7]),
        "norm.pdf": (st.norm.pdf, sst.norm.pdf, [X, 0.3, 1.7]),
        "norm.cdf": (st.norm.cdf, sst.norm.cdf, [X, 0.3, 1.7]),
        "norm.logcdf": (st.norm.logcdf, sst.norm.logcdf, [X, 0.3, 1.7]),
        "norm.sf": (st.norm.sf, sst.norm.sf, [X, 0.3, 1.7]),
        "norm.logsf": (st.norm.logsf, sst.norm.logsf, [X, 0.3, 1.7]),
        "norm.ppf": (st.norm.ppf, sst.norm.ppf, [U4, 0.3, 1.7]),
        "t.logpdf": (st.t.logpdf, sst.t.logpdf, [X, P4, 0.2, 1.3]),
        "t.pdf": (st.t.pdf, sst.t.pdf, [X, P4, 0.2, 1.3]),
        "t.cdf": (lambda x, loc, s: st.t.cdf(x, P4, loc, s),
                  lambda x, loc, s: sst.t.cdf(x, P4, loc, s), [X, 0.2, 1.3]),
        "poisson.logpmf": (lambda mu: st.poisson.logpmf(K4, mu),
                           lambda mu: sst.poisson.logpmf(K4, mu), [P4]),
        "poisson.pmf": (lambda mu: st.poisson.pmf(K4, mu), lambda mu: sst.poisson.pmf(K4, mu),
                        [P4]),
        "poisson.cdf": (lambda mu: st.poisson.cdf(K4 + 0.5, mu),
                        lambda mu: sst.poisson.cdf(K4 + 0.5, mu), [P4]),
        "gamma.logpdf": (st.gamma.logpdf, sst.gamma.logpdf, [P4, P4[::-1], 0.1, 1.5]),
        "gamma.cdf": (lambda x: st.gamma.cdf(x, P4[::-1]), lambda x: sst.gamma.cdf(x, P4[::-1]),
                      [P4]),
        "chi2.logpdf": (st.chi2.logpdf, sst.chi2.logpdf, [P4, 3.0]),
        "beta.logpdf": (st.beta.logpdf, sst.beta.logpdf, [U4, P4, P4[::-1]]),
        "beta.pdf": (st.beta.pdf, sst.beta.pdf, [U4, P4, P4[::-1]]),
        "beta.cdf": (lambda x: st.beta.cdf(x, P4, P4[::-1]),
                     lambda x: sst.beta.cdf(x, P4, P4[::-1]), [U4]),
        "dirichlet.logpdf": (st.dirichlet.logpdf, sst.dirichlet.logpdf, [SIMPLEX, ALPHA]),
        "dirichlet.entropy": (st.dirichlet.entropy, sst.dirichlet.entropy, [ALPHA]),
        "multivariate_normal.logpdf": (st.multivariate_normal.logpdf,
                                       sst.multivariate_normal.logpdf, [PTS, MEAN, COV]),
        "multivariate_normal.pdf_one_point": (st.multivariate_normal.pdf,
                                              sst.multivariate_normal.pdf, [PTS[0], MEAN, COV]),
        "multivariate_normal.entropy": (st.multivariate_normal.entropy,
                                        sst.multivariate_normal.entropy, [MEAN, COV]),
    }


STATS_CONSTS = [X, P4, U4, K4, ALPHA, SIMPLEX, COV, MEAN, PTS]
STATS = _stats(*STATS_CONSTS)


def _symmetrized(f, n_args, cov_pos):
    """f with its covariance argument symmetrized, so that finite differences in any direction
    see the function the (symmetric) derivative describes."""
    def g(*args):
        args = list(args)
        c = args[cov_pos]
        args[cov_pos] = (c + tg.numpy.swapaxes(c, -1, -2)) / 2
        return f(*args)

    return g


@pytest.mark.parametrize("name", sorted(STATS))
def test_stats_values_and_derivatives(name, device):
    _, ref, args = STATS[name]
    f = _stats(*put(STATS_CONSTS, device))[name][0]
    dargs = put(args, device)
    if _lacks(name, device):
        with _refuses(device, "stdtr"):  # t.cdf is SciPy's stdtr
            f(*dargs)
        return
    out = f(*dargs)
    assert on(out, device)
    onp.testing.assert_allclose(host(out), ref(*args), rtol=1e-10)
    if name.startswith("multivariate_normal"):
        f = _symmetrized(f, len(args), len(args) - 1)
    check_grads(f, modes=("fwd", "rev"), order=2)(*dargs)


def test_stats_support_and_shapes(device):
    out = st.poisson.logpmf(put(onp.array([2.5, -1.0]), device), 3.0)
    assert on(out, device)
    onp.testing.assert_array_equal(host(out), [-onp.inf, -onp.inf])
    out = st.beta.logpdf(put(onp.array([1.5, -0.2]), device), 2.0, 3.0)
    assert on(out, device)
    onp.testing.assert_array_equal(host(out), [-onp.inf, -onp.inf])
    assert st.gamma.logpdf(-1.0, 2.0) == -onp.inf
    mvn = st.multivariate_normal
    for args in [(X, 0.5, 2.0), (X,), (0.3, 0.5, 2.0), (PTS, MEAN, P4[:3]), (PTS, MEAN, 2.0)]:
        mine, ref = mvn.logpdf(*put(args, device)), sst.multivariate_normal.logpdf(*args)
        assert onp.shape(mine) == onp.shape(ref)
        if any(hasattr(a, "shape") for a in args):
            assert on(mine, device)
        onp.testing.assert_allclose(host(mine), ref)


def test_stats_on_tensors(device):
    x = tg.tensor(X, requires_grad=True, device=device)
    lp = st.norm.logpdf(x, 0.0, 2.0).sum()
    lp.backward()
    assert on(lp, device) and on(x.grad, device)
    onp.testing.assert_allclose(host(x.grad), -X / 4.0)
    x32 = put(onp.abs(X).astype(onp.float32) / 4 + 0.1, device)
    for out in (st.norm.logpdf(x32, 0.0, 2.0), st.norm.cdf(x32), st.t.logpdf(x32, 3.0),
                st.gamma.logpdf(x32, 2.0), st.beta.logpdf(x32, 2.0, 3.0),
                st.poisson.logpmf(x32, 2.0), sp.xlogy(2.0, x32), sp.multigammaln(x32 + 3, 2)):
        assert out.dtype == onp.float32 and on(out, device)


def test_stats_match_autograd_gradients(device):
    ag = pytest.importorskip("autograd")
    import autograd.scipy.stats as ast

    def compare(mine, theirs, *args):
        for i in range(len(args)):
            g1 = tg.grad(lambda *a: mine(*a).sum(), i)(*put(args, device))
            g2 = ag.grad(lambda *a: theirs(*a).sum(), i)(*args)
            assert isinstance(g1, float) or on(g1, device)
            onp.testing.assert_allclose(host(g1), g2, rtol=1e-8, atol=1e-12)

    compare(st.norm.logpdf, ast.norm.logpdf, X, 0.3, 1.7)
    compare(st.norm.cdf, ast.norm.cdf, X, 0.3, 1.7)
    compare(st.t.logpdf, ast.t.logpdf, X, P4, 0.2, 1.3)
    compare(st.gamma.logpdf, ast.gamma.logpdf, P4, P4[::-1])
    compare(st.beta.logpdf, ast.beta.logpdf, U4, P4, P4[::-1])
    compare(st.dirichlet.logpdf, ast.dirichlet.logpdf, SIMPLEX[:, 0], ALPHA)
    compare(st.multivariate_normal.logpdf, ast.multivariate_normal.logpdf, PTS, MEAN, COV)


# ---- linalg ------------------------------------------------------------------------------
LOW = onp.tril(_rng.normal(size=(3, 3))) + 3 * onp.eye(3)
RHS = _rng.normal(size=(3, 2))


@pytest.mark.parametrize("trans", [0, 1, "C"])
@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("unit", [False, True])
def test_solve_triangular(trans, lower, unit, device):
    a = LOW if lower else LOW.T

    def f(a, b):
        return la.solve_triangular(a, b, trans=trans, lower=lower, unit_diagonal=unit)

    ad, bd = put(a, device), put(RHS, device)
    out = f(ad, bd)
    assert on(out, device)
    onp.testing.assert_allclose(host(out), sl.solve_triangular(
        a, RHS, trans=trans, lower=lower, unit_diagonal=unit))
    check_grads(f, order=2)(ad, bd)
    check_grads(f, order=1)(ad, bd[:, 0])


def test_solve_triangular_batched_falls_back_to_solve(device):
    a = onp.stack([LOW, LOW * 2])
    b = onp.stack([RHS, RHS])
    x = la.solve_triangular(put(a, device), put(b, device), lower=True)
    assert on(x, device)
    onp.testing.assert_allclose(onp.matmul(a, host(x)), b)
    check_grads(lambda a, b: la.solve_triangular(a, b, lower=True), order=1)(put(a, device),
                                                                            put(b, device))


def test_cholesky_family(device):
    def sym(c):
        return (c + c.T) / 2

    cov, rhs = put(COV, device), put(RHS, device)
    for got, want in [(la.cholesky(cov), sl.cholesky(COV)),
                      (la.cholesky(cov, lower=True), sl.cholesky(COV, lower=True)),
                      (la.solve(cov, rhs, assume_a="pos"), onp.linalg.solve(COV, RHS))]:
        assert on(got, device)
        onp.testing.assert_allclose(host(got), want)
    for lower in (False, True):
        got = la.cho_solve(la.cho_factor(cov, lower=lower), rhs)
        assert on(got, device)
        onp.testing.assert_allclose(host(got), sl.cho_solve(sl.cho_factor(COV, lower=lower), RHS))
        check_grads(lambda c, b: la.cho_solve(la.cho_factor(sym(c), lower=lower), b),
                    order=2)(cov, rhs)
    check_grads(lambda c: la.cholesky(sym(c)), order=2)(cov)


def test_sqrtm_expm_sylvester(device):
    a = _rng.normal(size=(3, 3)) * 0.5
    q = _rng.normal(size=(3, 3))
    cov, ad, qd = put([COV, a, q], device)
    out = la.expm(ad)
    assert on(out, device)
    onp.testing.assert_allclose(host(out), sl.expm(a))
    check_grads(la.expm, order=2)(ad)
    if device != "cpu":  # CuPy's cupyx.scipy.linalg has neither sqrtm nor solve_sylvester
        with _refuses(device, "sqrtm"):
            la.sqrtm(cov)
        with _refuses(device, "solve_sylvester"):
            la.solve_sylvester(ad, cov, qd)
        return
    onp.testing.assert_allclose(la.sqrtm(COV), sl.sqrtm(COV))
    check_grads(la.sqrtm, order=2)(COV)
    onp.testing.assert_allclose(la.solve_sylvester(a, COV, q), sl.solve_sylvester(a, COV, q))
    check_grads(la.solve_sylvester, order=2)(a, COV, q)


def test_linalg_compositions_and_passthrough(device):
    cov, rhs = put(COV, device), put(RHS, device)
    for got, want in [(la.block_diag(cov, rhs), sl.block_diag(COV, RHS)),
                      (la.inv(cov), onp.linalg.inv(COV)), (la.eigh(cov)[0], sl.eigh(COV)[0]),
                      (la.det(cov), onp.linalg.det(COV))]:
        assert on(got, device)
        onp.testing.assert_allclose(host(got), want)
    check_grads(lambda a, b: la.block_diag(a, b), order=1)(cov, rhs)
    # no derivative: works on arrays, refuses a tensor that carries one
    p, low, up = la.lu(cov)
    assert on(low, device)
    onp.testing.assert_allclose(host(p) @ host(low) @ host(up), COV)
    with pytest.raises(NotImplementedError, match="scipy.linalg.lu"):
        la.lu(tg.tensor(COV, requires_grad=True, device=device))
    if device != "cpu":  # cupyx.scipy.linalg has no norm
        with _refuses(device, "norm"):
            la.norm(cov)
        return
    onp.testing.assert_allclose(la.norm(COV), sl.norm(COV))


def test_linalg_matches_autograd(device):
    ag = pytest.importorskip("autograd")
    import autograd.scipy.linalg as asl

    def mine(a, b):
        return (la.solve_triangular(a, b, trans=1, lower=True) ** 2).sum()

    def theirs(a, b):
        return (asl.solve_triangular(a, b, trans=1, lower=True) ** 2).sum()

    for i in (0, 1):
        g = tg.grad(mine, i)(put(LOW, device), put(RHS, device))
        assert on(g, device)
        onp.testing.assert_allclose(host(g), ag.grad(theirs, i)(LOW, RHS))
    if device == "cpu":  # no sqrtm on CuPy (test_sqrtm_expm_sylvester)
        onp.testing.assert_allclose(tg.grad(lambda c: la.sqrtm(c)[0, 1])(COV),
                                    ag.grad(lambda c: asl.sqrtm(c)[0, 1])(COV), rtol=1e-6)


# ---- signal ------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["full", "valid", "same"])
def test_convolve_matches_scipy(mode, device):
    a = _rng.normal(size=(5, 4))
    b = _rng.normal(size=(2, 3))
    ad, bd = put(a, device), put(b, device)
    for got, want in [(tsig.convolve(ad, bd, mode=mode), ssig.convolve(a, b, mode=mode)),
                      (tsig.convolve(bd, ad, mode=mode), ssig.convolve(b, a, mode=mode))]:
        assert on(got, device)
        onp.testing.assert_allclose(host(got), want)
    check_grads(lambda a, b: tsig.convolve(a, b, mode=mode), order=2)(ad, bd)


def test_convolve_axes_and_dot_axes_match_autograd(device):
    ag = pytest.importorskip("autograd")
    import autograd.scipy.signal as asig

    images = _rng.normal(size=(2, 3, 6, 5))  # batch, channels, rows, cols
    filters = _rng.normal(size=(3, 4, 3, 2))  # channels in, channels out, rows, cols
    kw = dict(axes=([2, 3], [2, 3]), dot_axes=([1], [0]), mode="valid")
    di, df = put(images, device), put(filters, device)
    out = tsig.convolve(di, df, **kw)
    assert on(out, device)
    onp.testing.assert_allclose(host(out), asig.convolve(images, filters, **kw))
    assert out.shape == (2, 4, 4, 4)
    for i in (0, 1):
        g1 = tg.grad(lambda a, b: (tsig.convolve(a, b, **kw) ** 2).sum(), i)(di, df)
        g2 = ag.grad(lambda a, b: (asig.convolve(a, b, **kw) ** 2).sum(), i)(images, filters)
        assert on(g1, device)
        onp.testing.assert_allclose(host(g1), g2)
