"""kl_divergence(p, q) and register_kl: closed forms of KL(p || q) for pairs of families,
found by the most specific registered pair of base classes (as torch's dispatch)."""

import math

from .continuous import Beta, ContinuousBernoulli, Exponential, Gamma, Laplace, Normal, Uniform
from .discrete import Bernoulli, Binomial, Categorical, Geometric, OneHotCategorical, Poisson
from .distribution import ExponentialFamily
from .multivariate import (
    Dirichlet,
    Independent,
    LowRankMultivariateNormal,
    MultivariateNormal,
    batch_mahalanobis,
    sum_rightmost,
)
from .transformed import Cauchy, Gumbel, HalfNormal, Pareto, TransformedDistribution

__all__ = ["kl_divergence", "register_kl"]

_KL_REGISTRY = {}  # (type_p, type_q) -> fn
_KL_MEMOIZE = {}  # (type(p), type(q)) -> the fn dispatch chose


def _tg():
    import tensorgrad

    return tensorgrad


def register_kl(type_p, type_q):
    """Decorator registering ``fn(p, q)`` as KL(p || q) for p an instance of ``type_p`` and q
    of ``type_q`` (subclasses included; the most specific registration wins).

    >>> import tensorgrad as tg
    >>> from tensorgrad.distributions import Normal, kl_divergence
    >>> round(kl_divergence(Normal(0.0, 1.0), Normal(1.0, 1.0)).item(), 4)
    0.5
    """
    if not isinstance(type_p, type) or not isinstance(type_q, type):
        raise TypeError(f"Expected type_p and type_q to be subclasses of Distribution but got "
                        f"{type_p} and {type_q}")

    def decorator(fn):
        _KL_REGISTRY[type_p, type_q] = fn
        _KL_MEMOIZE.clear()
        return fn

    return decorator


def _dispatch(type_p, type_q):
    matches = [(type_p.__mro__.index(sp), type_q.__mro__.index(sq), fn)
               for (sp, sq), fn in _KL_REGISTRY.items()
               if issubclass(type_p, sp) and issubclass(type_q, sq)]
    if not matches:
        return NotImplemented
    return min(matches, key=lambda m: (m[0] + m[1], m[0]))[2]


def kl_divergence(p, q):
    """KL(p || q) = E_p[log p(x) - log q(x)], batch-shaped, differentiable in both
    distributions' parameters. NotImplementedError names the pair when no closed form is
    registered."""
    key = (type(p), type(q))
    fn = _KL_MEMOIZE.get(key)
    if fn is None:
        fn = _KL_MEMOIZE[key] = _dispatch(*key)
    if fn is NotImplemented:
        raise NotImplementedError(f"No KL(p || q) is implemented for p type "
                                  f"{type(p).__name__} and q type {type(q).__name__}")
    return fn(p, q)


def _inf_where(mask, t):
    tg = _tg()
    return tg.where(mask, tg.full_like(t, float("inf")), t)


def _zero_where(mask, t):
    tg = _tg()
    return tg.where(mask, tg.zeros_like(t), t)


@register_kl(Normal, Normal)
def _kl_normal_normal(p, q):
    var_ratio = (p.scale / q.scale) ** 2
    t1 = ((p.loc - q.loc) / q.scale) ** 2
    return 0.5 * (var_ratio + t1 - 1 - var_ratio.log())


@register_kl(Bernoulli, Bernoulli)
def _kl_bernoulli_bernoulli(p, q):
    from ..nn.functional import softplus

    t1 = p.probs * (softplus(-q.logits) - softplus(-p.logits))
    t1 = _zero_where(p.probs == 0, _inf_where(q.probs == 0, t1))
    t2 = (1 - p.probs) * (softplus(q.logits) - softplus(p.logits))
    t2 = _zero_where(p.probs == 1, _inf_where(q.probs == 1, t2))
    return t1 + t2


@register_kl(Categorical, Categorical)
def _kl_categorical_categorical(p, q):
    t = p.probs * (p.logits - q.logits)
    t = _inf_where((q.probs == 0).expand(*t.shape), t)
    t = _zero_where((p.probs == 0).expand(*t.shape), t)
    return t.sum(-1)


@register_kl(MultivariateNormal, MultivariateNormal)
def _kl_mvn_mvn(p, q):
    tg = _tg()
    if p.event_shape != q.event_shape:
        raise ValueError("KL-divergence between two Multivariate Normals with different event "
                         "shapes cannot be computed")
    n = p.event_shape[0]
    half_term1 = q._half_log_det() - p._half_log_det()
    Lq, Lp = q._unbroadcasted_scale_tril, p._unbroadcasted_scale_tril
    batch = tuple(tg.broadcast_shapes(tuple(Lq.shape[:-2]), tuple(Lp.shape[:-2])))
    term2 = tg.linalg.solve_triangular(Lq.expand(*batch, n, n), Lp.expand(*batch, n, n),
                                       upper=False)
    term2 = (term2 ** 2).sum((-2, -1))
    term3 = batch_mahalanobis(Lq, q.loc - p.loc)
    return half_term1 + 0.5 * (term2 + term3 - n)


@register_kl(Beta, Beta)
def _kl_beta_beta(p, q):
    tg = _tg()
    sum_p = p.concentration1 + p.concentration0
    sum_q = q.concentration1 + q.concentration0
    t1 = tg.lgamma(q.concentration1) + tg.lgamma(q.concentration0) + tg.lgamma(sum_p)
    t2 = tg.lgamma(p.concentration1) + tg.lgamma(p.concentration0) + tg.lgamma(sum_q)
    t3 = (p.concentration1 - q.concentration1) * tg.digamma(p.concentration1)
    t4 = (p.concentration0 - q.concentration0) * tg.digamma(p.concentration0)
    t5 = (sum_q - sum_p) * tg.digamma(sum_p)
    return t1 - t2 + t3 + t4 + t5


@register_kl(Gamma, Gamma)
def _kl_gamma_gamma(p, q):
    tg = _tg()
    t1 = q.concentration * (p.rate / q.rate).log()
    t2 = tg.lgamma(q.concentration) - tg.lgamma(p.concentration)
    t3 = (p.concentration - q.concentration) * tg.digamma(p.concentration)
    t4 = (q.rate - p.rate) * (p.concentration / p.rate)
    return t1 + t2 + t3 + t4


@register_kl(Uniform, Uniform)
def _kl_uniform_uniform(p, q):
    result = ((q.high - q.low) / (p.high - p.low)).log()
    return _inf_where((q.low > p.low) | (q.high < p.high), result)


@register_kl(Exponential, Exponential)
def _kl_exponential_exponential(p, q):
    rate_ratio = q.rate / p.rate
    return -rate_ratio.log() + rate_ratio - 1


@register_kl(Laplace, Laplace)
def _kl_laplace_laplace(p, q):
    scale_ratio = p.scale / q.scale
    loc_abs_diff = (p.loc - q.loc).abs()
    t1 = -scale_ratio.log()
    t2 = loc_abs_diff / q.scale
    t3 = scale_ratio * (-loc_abs_diff / p.scale).exp()
    return t1 + t2 + t3 - 1


@register_kl(Dirichlet, Dirichlet)
def _kl_dirichlet_dirichlet(p, q):
    tg = _tg()
    sum_p = p.concentration.sum(-1)
    sum_q = q.concentration.sum(-1)
    t1 = tg.lgamma(sum_p) - tg.lgamma(sum_q)
    t2 = (tg.lgamma(p.concentration) - tg.lgamma(q.concentration)).sum(-1)
    t3 = p.concentration - q.concentration
    t4 = tg.digamma(p.concentration) - tg.digamma(sum_p).unsqueeze(-1)
    return t1 - t2 + (t3 * t4).sum(-1)


@register_kl(Independent, Independent)
def _kl_independent_independent(p, q):
    if p.reinterpreted_batch_ndims != q.reinterpreted_batch_ndims:
        raise NotImplementedError("KL(Independent || Independent) needs the same "
                                  "reinterpreted_batch_ndims, got "
                                  f"{p.reinterpreted_batch_ndims} and "
                                  f"{q.reinterpreted_batch_ndims}")
    result = kl_divergence(p.base_dist, q.base_dist)
    return sum_rightmost(result, p.reinterpreted_batch_ndims)


# ---- the families added with transforms (torch's closed forms) -------------------------------

EULER = 0.57721566490153286060


@register_kl(Cauchy, Cauchy)
def _kl_cauchy_cauchy(p, q):
    t1 = ((p.scale + q.scale) ** 2 + (p.loc - q.loc) ** 2).log()
    t2 = (4 * p.scale * q.scale).log()
    return t1 - t2


@register_kl(Gumbel, Gumbel)
def _kl_gumbel_gumbel(p, q):
    tg = _tg()
    ct1 = p.scale / q.scale
    ct2 = q.loc / q.scale
    ct3 = p.loc / q.scale
    t1 = -ct1.log() - ct2 + ct3
    t2 = ct1 * EULER
    t3 = (ct2 + tg.lgamma(1 + ct1) - ct3).exp()
    return t1 + t2 + t3 - (1 + EULER)


@register_kl(HalfNormal, HalfNormal)
def _kl_halfnormal_halfnormal(p, q):
    var_ratio = (p.scale / q.scale) ** 2
    return 0.5 * (var_ratio - 1 - var_ratio.log())


@register_kl(Pareto, Pareto)
def _kl_pareto_pareto(p, q):
    scale_ratio = p.scale / q.scale
    alpha_ratio = q.alpha / p.alpha
    result = q.alpha * scale_ratio.log() - alpha_ratio.log() + alpha_ratio - 1
    return _inf_where(p.scale < q.scale, result)  # p has mass where q has none


@register_kl(Geometric, Geometric)
def _kl_geometric_geometric(p, q):
    return -p.entropy() - (-q.probs).log1p() / p.probs - q.logits


@register_kl(Poisson, Poisson)
def _kl_poisson_poisson(p, q):
    tg = _tg()
    return tg.xlogy(p.rate, p.rate) - tg.xlogy(p.rate, q.rate) - (p.rate - q.rate)


@register_kl(Binomial, Binomial)
def _kl_binomial_binomial(p, q):
    from ..nn.functional import softplus

    if bool((p.total_count < q.total_count).any().item()):
        raise NotImplementedError("KL between Binomials where q.total_count > p.total_count "
                                  "is not implemented")
    # n [p log(p / q) + (1 - p) log((1 - p) / (1 - q))] in logits: finite at p = 0 or 1
    t1 = p.probs * (softplus(-q.logits) - softplus(-p.logits))
    t2 = (1 - p.probs) * (softplus(q.logits) - softplus(p.logits))
    # more trials under p than q can reach counts q cannot
    return _inf_where(p.total_count > q.total_count, p.total_count * (t1 + t2))


@register_kl(OneHotCategorical, OneHotCategorical)
def _kl_onehotcategorical_onehotcategorical(p, q):
    return _kl_categorical_categorical(p._categorical, q._categorical)


@register_kl(ContinuousBernoulli, ContinuousBernoulli)
def _kl_continuous_bernoulli_continuous_bernoulli(p, q):
    t1 = p.mean * (p.logits - q.logits)
    t2 = p._cont_bern_log_norm() + (-p.probs).log1p()
    t3 = -q._cont_bern_log_norm() - (-q.probs).log1p()
    return t1 + t2 + t3


def _as_full_mvn(d):
    if isinstance(d, MultivariateNormal):
        return d
    return MultivariateNormal(d.loc, covariance_matrix=d.covariance_matrix, validate_args=False)


@register_kl(LowRankMultivariateNormal, LowRankMultivariateNormal)
@register_kl(LowRankMultivariateNormal, MultivariateNormal)
@register_kl(MultivariateNormal, LowRankMultivariateNormal)
def _kl_lowrank_mvn(p, q):
    # the full-covariance closed form on the low-rank covariances (O(n^3), where torch's is
    # O(n m^2); the values agree)
    return _kl_mvn_mvn(_as_full_mvn(p), _as_full_mvn(q))


@register_kl(TransformedDistribution, TransformedDistribution)
def _kl_transformed_transformed(p, q):
    if p.transforms != q.transforms:
        raise NotImplementedError("KL(TransformedDistribution || TransformedDistribution) "
                                  "needs the same transforms")
    if p.event_shape != q.event_shape:
        raise NotImplementedError("KL(TransformedDistribution || TransformedDistribution) "
                                  "needs the same event shape")
    return sum_rightmost(kl_divergence(p.base_dist, q.base_dist),
                         len(p.event_shape) - len(p.base_dist.event_shape))


@register_kl(ExponentialFamily, ExponentialFamily)
def _kl_expfamily_expfamily(p, q):
    # the Bregman divergence of the log-normaliser between the natural parameters
    from .. import autograd, broadcast_shapes, enable_grad

    if type(p) is not type(q):
        # torch's error (this pair is reached by every two exponential families with no
        # closed form between them); the names say which pair it was
        raise NotImplementedError("The cross KL-divergence between different exponential "
                                  "families cannot be computed using Bregman divergences: "
                                  f"no KL(p || q) is implemented for p type "
                                  f"{type(p).__name__} and q type {type(q).__name__}")
    with enable_grad():
        p_params = [t.detach().requires_grad_() for t in p._natural_params]
        log_norm = p._log_normalizer(*p_params)
        grads = autograd.grad(log_norm.sum(), p_params, create_graph=True)
    result = q._log_normalizer(*q._natural_params) - log_norm
    # each term summed over its parameter's own event dimensions (torch sums every term over
    # len(event_shape) dimensions, which eats batch dimensions of Wishart's scalar df term)
    n_batch = len(broadcast_shapes(tuple(p.batch_shape), tuple(q.batch_shape)))
    for pp, qp, g in zip(p_params, q._natural_params, grads):
        term = (qp - pp) * g
        result = result - sum_rightmost(term, term.ndim - n_batch)
    return result


# ---- across families, where torch has a closed form (or knows the KL is infinite) -----------

def _infinite(t):
    return _tg().full_like(t, float("inf"))


def _register_infinite(pairs, param):
    for type_p, type_q in pairs:
        register_kl(type_p, type_q)(lambda p, q: _infinite(getattr(p, param)))


# p puts mass where q has none
_register_infinite([(Beta, Pareto)], "concentration1")
_register_infinite([(ContinuousBernoulli, Pareto)], "probs")
_register_infinite([(Exponential, ContinuousBernoulli), (Exponential, Pareto)], "rate")
_register_infinite([(Gamma, ContinuousBernoulli), (Gamma, Pareto)], "concentration")
_register_infinite([(Gumbel, q) for q in (Beta, ContinuousBernoulli, Exponential, Gamma,
                                          Pareto, Uniform)], "loc")
_register_infinite([(Laplace, ContinuousBernoulli), (Laplace, Pareto)], "loc")
_register_infinite([(Normal, ContinuousBernoulli), (Normal, Pareto)], "loc")
_register_infinite([(Pareto, Beta), (Pareto, ContinuousBernoulli), (Pareto, Uniform)], "scale")
_register_infinite([(Poisson, Bernoulli), (Poisson, Binomial)], "rate")


def _xlogx(x):
    return _tg().xlogy(x, x)


@register_kl(Bernoulli, Poisson)
def _kl_bernoulli_poisson(p, q):
    return -p.entropy() - (p.probs * q.rate.log() - q.rate)


def _minus_entropy_plus_cb_cross(p, q):
    # -H(p) - E_p[log q] for q continuous Bernoulli: E_p[x] logits_q + log(1 - probs_q) + C_q
    return (-p.entropy() - p.mean * q.logits - (-q.probs).log1p()
            - q._cont_bern_log_norm())


@register_kl(Beta, ContinuousBernoulli)
def _kl_beta_continuous_bernoulli(p, q):
    return _minus_entropy_plus_cb_cross(p, q)


@register_kl(Uniform, ContinuousBernoulli)
def _kl_uniform_continuous_bernoulli(p, q):
    # torch's mask: any Uniform touching 0 or 1 counts as infinite
    return _inf_where((p.high >= 1.0) | (p.low <= 0.0), _minus_entropy_plus_cb_cross(p, q))


@register_kl(ContinuousBernoulli, Exponential)
def _kl_continuous_bernoulli_exponential(p, q):
    return -p.entropy() - q.rate.log() + q.rate * p.mean


@register_kl(ContinuousBernoulli, Normal)
def _kl_continuous_bernoulli_normal(p, q):
    var = q.scale ** 2
    cross = (0.5 * math.log(2.0 * math.pi) + q.scale.log()
             + (p.variance + (p.mean - q.loc) ** 2) / (2.0 * var))
    return -p.entropy() + cross


@register_kl(ContinuousBernoulli, Uniform)
def _kl_continuous_bernoulli_uniform(p, q):
    result = -p.entropy() + (q.high - q.low).log()
    # torch's mask (as written there): q.low >= 0 or q.high <= 1 counts as infinite
    return _inf_where((q.low >= 0.0) | (q.high <= 1.0), result)


@register_kl(Exponential, Gumbel)
def _kl_exponential_gumbel(p, q):
    a = p.rate * q.scale
    m = q.loc / q.scale
    return a.log() - 1 - m + m.exp() * a / (a + 1) + a.reciprocal()


@register_kl(Gamma, Gumbel)
def _kl_gamma_gumbel(p, q):
    tg = _tg()
    c = p.concentration
    a = p.rate * q.scale
    m = q.loc / q.scale
    neg_entropy_part = (c - 1) * tg.digamma(c) - tg.lgamma(c) - c
    return (neg_entropy_part + a.log() + c / a
            + m.exp() * (1 + a.reciprocal()) ** (-c) - m)


@register_kl(Gumbel, Normal)
def _kl_gumbel_normal(p, q):
    r = p.scale / q.scale
    mean_gap = (p.loc + p.scale * EULER - q.loc) / q.scale
    return (-(r / math.sqrt(2 * math.pi)).log() + (math.pi * r / 2) ** 2 / 3
            + 0.5 * mean_gap ** 2 - (EULER + 1))


@register_kl(Normal, Gumbel)
def _kl_normal_gumbel(p, q):
    m = p.loc / q.scale
    v = (p.scale / q.scale) ** 2
    b = q.loc / q.scale
    return -0.5 * v.log() + m - b + (b - m + 0.5 * v).exp() - 0.5 * (1 + math.log(2 * math.pi))


@register_kl(Uniform, Gumbel)
def _kl_uniform_gumbel(p, q):
    c = q.scale / (p.high - p.low)
    hi = (p.high - q.loc) / q.scale
    lo = (p.low - q.loc) / q.scale
    return c.log() + 0.5 * (hi + lo) - c * ((-hi).exp() - (-lo).exp())


@register_kl(Pareto, Exponential)
def _kl_pareto_exponential(p, q):
    a = p.alpha
    sr = p.scale * q.rate
    result = (a / sr).log() - a.reciprocal() + a * sr / (a - 1) - 1
    return _inf_where(a <= 1, result)  # p's mean is infinite


@register_kl(Pareto, Gamma)
def _kl_pareto_gamma(p, q):
    tg = _tg()
    a, c = p.alpha, q.concentration
    e_log = p.scale.log() + a.reciprocal()  # E_p[log x]
    result = (a.log() - e_log + tg.lgamma(c) - c * q.rate.log() + (1 - c) * e_log
              + q.rate * a * p.scale / (a - 1) - 1)
    return _inf_where(a <= 1, result)


@register_kl(Pareto, Normal)
def _kl_pareto_normal(p, q):
    a = p.alpha
    gap = p.scale / (a - 1)
    second = a * gap ** 2 / (a - 2) + (a * gap - q.loc) ** 2  # E_p[(x - loc_q)^2]
    result = ((math.sqrt(2 * math.pi) * q.scale * a / p.scale).log() - a.reciprocal()
              + second / (2 * q.scale ** 2) - 1)
    return _inf_where(a <= 2, result)  # p's variance is infinite


@register_kl(Uniform, Pareto)
def _kl_uniform_pareto(p, q):
    width = p.high - p.low
    e_log = (_xlogx(p.high) - _xlogx(p.low) - width) / width  # E_p[log x]
    result = e_log * (q.alpha + 1) - (q.alpha * q.scale ** q.alpha * width).log()
    return _inf_where(p.low < q.scale, result)


# ---- across the older families: -H(p) plus the cross-entropy E_p[-log q] --------------------
def _e_log(p):
    """E_p[log x] for p on the positive half-line or inside it."""
    tg = _tg()
    if isinstance(p, Beta):
        return tg.digamma(p.concentration1) - tg.digamma(p.concentration1 + p.concentration0)
    if isinstance(p, Gamma):
        return tg.digamma(p.concentration) - p.rate.log()
    if isinstance(p, Exponential):
        return -EULER - p.rate.log()
    width = p.high - p.low  # Uniform with low >= 0 (the callers mask the rest)
    return (_xlogx(p.high) - _xlogx(p.low)) / width - 1


def _cross_normal(p, q):
    return (math.log(math.sqrt(2 * math.pi)) + q.scale.log()
            + (p.variance + (p.mean - q.loc) ** 2) / (2 * q.scale ** 2))


def _cross_exponential(p, q):
    return -q.rate.log() + q.rate * p.mean


def _cross_gamma(p, q):
    tg = _tg()
    c = q.concentration
    return tg.lgamma(c) - c * q.rate.log() - (c - 1) * _e_log(p) + q.rate * p.mean


def _register_cross(pairs, cross):
    for type_p, type_q in pairs:
        register_kl(type_p, type_q)(lambda p, q: -p.entropy() + cross(p, q))


_register_cross([(t, Normal) for t in (Beta, Exponential, Gamma, Laplace, Uniform)],
                _cross_normal)
_register_cross([(Beta, Exponential), (Gamma, Exponential)], _cross_exponential)
_register_cross([(Beta, Gamma), (Exponential, Gamma)], _cross_gamma)


@register_kl(Uniform, Exponential)
def _kl_uniform_exponential(p, q):
    return _inf_where(p.low < 0, -p.entropy() + _cross_exponential(p, q))


@register_kl(Uniform, Gamma)
def _kl_uniform_gamma(p, q):
    tg = _tg()
    safe = Uniform(tg.where(p.low < 0, tg.zeros_like(p.low), p.low), p.high)
    return _inf_where(p.low < 0, -p.entropy() + _cross_gamma(safe, q))


@register_kl(Uniform, Beta)
def _kl_uniform_beta(p, q):
    tg = _tg()
    bad = (p.low < 0) | (p.high > 1)
    low = tg.where(bad, tg.zeros_like(p.low), p.low)
    high = tg.where(bad, tg.ones_like(p.high), p.high)
    a, b = q.concentration1, q.concentration0
    e_log = _e_log(Uniform(low, high))
    e_log1m = _e_log(Uniform(1 - high, 1 - low))
    cross = (tg.lgamma(a) + tg.lgamma(b) - tg.lgamma(a + b) - (a - 1) * e_log
             - (b - 1) * e_log1m)
    return _inf_where(bad, -p.entropy() + cross)


@register_kl(Beta, Uniform)
@register_kl(Exponential, Uniform)
@register_kl(Gamma, Uniform)
@register_kl(Laplace, Uniform)
@register_kl(Normal, Uniform)
def _kl_to_uniform(p, q):
    # finite only where q covers p's support: Beta's [0, 1]; the others' never bounded
    result = -p.entropy() + (q.high - q.low).log()
    if isinstance(p, Beta):
        return _inf_where((q.low > 0) | (q.high < 1), result)
    return _infinite(result)


@register_kl(Normal, Laplace)
def _kl_normal_laplace(p, q):
    tg = _tg()
    gap = p.loc - q.loc
    e_abs = (p.scale * math.sqrt(2 / math.pi) * (-(gap / p.scale) ** 2 / 2).exp()
             + gap * tg.erf(gap / (p.scale * math.sqrt(2))))  # E_p|x - loc_q|
    return -p.entropy() + (2 * q.scale).log() + e_abs / q.scale


# p puts mass where q (on the half-line or [0, 1]) has none
_register_infinite([(Exponential, Beta), (Gamma, Beta)], "rate")
_register_infinite([(Laplace, Beta), (Laplace, Exponential), (Laplace, Gamma)], "loc")
_register_infinite([(Normal, Beta), (Normal, Exponential), (Normal, Gamma)], "loc")
