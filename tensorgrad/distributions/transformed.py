"""TransformedDistribution (a base distribution pushed through Transforms) and the families
torch builds on it: HalfNormal, HalfCauchy, Gumbel, Weibull, Pareto, Kumaraswamy,
InverseGamma, LogisticNormal, RelaxedBernoulli, RelaxedOneHotCategorical (and the relaxed
bases LogitRelaxedBernoulli, ExpRelaxedCategorical); and Cauchy, HalfCauchy's base."""

import math

import numpy as np

from . import constraints
from .continuous import Exponential, Gamma, Normal, Uniform
from .discrete import _CategoricalBacked, _probs_or_logits
from .distribution import (
    BinaryProbsLogits,
    Distribution,
    LocCentred,
    broadcast_all,
    clamp_probs,
    standard_uniform,
)
from .multivariate import Independent, sum_rightmost
from .transforms import (
    AbsTransform,
    AffineTransform,
    ComposeTransform,
    ExpTransform,
    PowerTransform,
    SigmoidTransform,
    StickBreakingTransform,
    Transform,
)

__all__ = [
    "Cauchy", "ExpRelaxedCategorical", "Gumbel", "HalfCauchy", "HalfNormal", "InverseGamma",
    "Kumaraswamy",
    "LogisticNormal", "LogitRelaxedBernoulli", "Pareto", "RelaxedBernoulli",
    "RelaxedOneHotCategorical", "TransformedDistribution", "Weibull",
]

EULER = 0.57721566490153286060


def _tg():
    import tensorgrad

    return tensorgrad


class TransformedDistribution(Distribution):
    """``base_distribution`` pushed through ``transforms`` (one Transform or a list, applied
    in order): samples are ``t_n(...t_1(x))``, and ``log_prob(y)`` is the base log-density of
    the preimage minus the log-determinants, by the change of variables.

    >>> import tensorgrad as tg
    >>> from tensorgrad.distributions import Normal, TransformedDistribution
    >>> from tensorgrad.distributions.transforms import ExpTransform
    >>> d = TransformedDistribution(Normal(tg.tensor(0.0), tg.tensor(1.0)), ExpTransform())
    >>> round(d.log_prob(tg.tensor(1.0)).item(), 4)
    -0.9189
    """

    arg_constraints = {}

    def __init__(self, base_distribution, transforms, validate_args=None):
        if isinstance(transforms, Transform):
            self.transforms = [transforms]
        elif isinstance(transforms, (list, tuple)) and all(
                isinstance(t, Transform) for t in transforms):
            self.transforms = list(transforms)
        else:
            raise ValueError("transforms must be a Transform or a list of Transforms, got "
                             f"{transforms!r}")
        base_shape = tuple(base_distribution.batch_shape) + tuple(base_distribution.event_shape)
        base_event_dim = len(base_distribution.event_shape)
        transform = ComposeTransform(self.transforms)
        if len(base_shape) < transform.domain.event_dim:
            raise ValueError(f"base_distribution needs at least {transform.domain.event_dim} "
                             f"dimensions, but got {len(base_shape)} (shape {base_shape})")
        forward_shape = transform.forward_shape(base_shape)
        expanded_base_shape = transform.inverse_shape(forward_shape)
        if base_shape != expanded_base_shape:
            base_batch = expanded_base_shape[:len(expanded_base_shape) - base_event_dim]
            base_distribution = base_distribution.expand(base_batch)
        reinterpreted = transform.domain.event_dim - base_event_dim
        if reinterpreted > 0:
            base_distribution = Independent(base_distribution, reinterpreted)
        self.base_dist = base_distribution
        change = transform.codomain.event_dim - transform.domain.event_dim
        event_dim = max(transform.codomain.event_dim, base_event_dim + change)
        cut = len(forward_shape) - event_dim
        super().__init__(forward_shape[:cut], forward_shape[cut:], validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        from .distribution import _shape

        batch_shape = _shape(batch_shape, "batch_shape")
        new = _instance if _instance is not None else type(self).__new__(type(self))
        shape = batch_shape + tuple(self.event_shape)
        for t in reversed(self.transforms):
            shape = t.inverse_shape(shape)
        base_batch = shape[:len(shape) - len(self.base_dist.event_shape)]
        new.base_dist = self.base_dist.expand(base_batch)
        new.transforms = self.transforms
        return super().expand(batch_shape, _instance=new)

    @constraints.dependent_property(is_discrete=False)
    def support(self):
        if not self.transforms:
            return self.base_dist.support
        support = self.transforms[-1].codomain
        if len(self.event_shape) > support.event_dim:
            support = constraints.independent(support, len(self.event_shape) - support.event_dim)
        return support

    @property
    def has_rsample(self):
        return self.base_dist.has_rsample

    def sample(self, sample_shape=()):
        from .. import no_grad

        with no_grad():
            x = self.base_dist.sample(sample_shape)
            for t in self.transforms:
                x = t(x)
            return x.detach()

    def rsample(self, sample_shape=()):
        x = self.base_dist.rsample(sample_shape)
        for t in self.transforms:
            x = t(x)
        return x

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        event_dim = len(self.event_shape)
        result = 0.0
        y = value
        for t in reversed(self.transforms):
            x = t.inv(y)
            event_dim += t.domain.event_dim - t.codomain.event_dim
            result = result - sum_rightmost(t.log_abs_det_jacobian(x, y),
                                            event_dim - t.domain.event_dim)
            y = x
        return result + sum_rightmost(self.base_dist.log_prob(y),
                                      event_dim - len(self.base_dist.event_shape))

    def _monotonize_cdf(self, value):
        sign = 1
        for t in self.transforms:
            sign = sign * t.sign
        if isinstance(sign, int) and sign == 1:
            return value
        return sign * (value - 0.5) + 0.5

    def cdf(self, value):
        for t in self.transforms[::-1]:
            value = t.inv(value)
        if self._validate_args:
            self.base_dist._validate_sample(value)
        return self._monotonize_cdf(self.base_dist.cdf(value))

    def icdf(self, value):
        value = self.base_dist.icdf(self._monotonize_cdf(value))
        for t in self.transforms:
            value = t(value)
        return value

    def __repr__(self):
        if type(self) is TransformedDistribution:
            return f"TransformedDistribution({self.base_dist!r}, {self.transforms!r})"
        return super().__repr__()


def _where_negative(value, result, fill):
    tg = _tg()
    return tg.where(value >= 0, result, tg.full_like(result, fill))


class Cauchy(LocCentred, Distribution):
    """The Cauchy distribution: density 1 / (pi scale (1 + ((x - loc) / scale)^2)); its mean
    is undefined (NaN) and its variance infinite, as torch's."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    _param_event_dims = {"loc": 0, "scale": 0}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        self.loc, self.scale = broadcast_all(loc, scale)
        super().__init__(self.loc.shape, validate_args=validate_args)

    @property
    def mean(self):
        return _tg().full_like(self.loc, float("nan"))

    @property
    def variance(self):
        return _tg().full_like(self.loc, float("inf"))

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        u = standard_uniform("Cauchy.rsample", shape, self.loc)
        return self.loc + self.scale * (math.pi * (u - 0.5)).tan()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        z = (value - self.loc) / self.scale
        return -math.log(math.pi) - self.scale.log() - (z ** 2).log1p()

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return ((value - self.loc) / self.scale).atan() / math.pi + 0.5

    def icdf(self, value):
        return (math.pi * (value - 0.5)).tan() * self.scale + self.loc

    def entropy(self):
        return math.log(4 * math.pi) + self.scale.log()


class _Folded(TransformedDistribution):
    """|X| for X ~ ``_base(0, scale)``, symmetric about 0: HalfNormal, HalfCauchy."""

    arg_constraints = {"scale": constraints.positive}
    _param_event_dims = {}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, scale, validate_args=None):
        (scale,) = broadcast_all(scale)
        super().__init__(self._base(0 * scale, scale, validate_args=False), AbsTransform(),
                         validate_args=validate_args)

    @property
    def scale(self):
        return self.base_dist.scale

    @property
    def mode(self):
        return _tg().zeros_like(self.scale)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        result = self.base_dist.log_prob(value) + math.log(2)
        return _where_negative(value, result, float("-inf"))

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 2 * self.base_dist.cdf(value) - 1

    def icdf(self, prob):
        return self.base_dist.icdf((prob + 1) / 2)

    def entropy(self):
        return self.base_dist.entropy() - math.log(2)


class HalfNormal(_Folded):
    """|X| for X ~ Normal(0, scale)."""

    _base = Normal

    @property
    def mean(self):
        return self.scale * math.sqrt(2 / math.pi)

    @property
    def variance(self):
        return self.scale ** 2 * (1 - 2 / math.pi)


class HalfCauchy(_Folded):
    """|X| for X ~ Cauchy(0, scale); infinite mean and variance."""

    _base = Cauchy

    @property
    def mean(self):
        return _tg().full_like(self.scale, float("inf"))

    @property
    def variance(self):
        return self.base_dist.variance


def _finfo(t):
    return np.finfo(t.dtype)


class Gumbel(TransformedDistribution):
    """The Gumbel (type-I extreme value) distribution: loc - scale log(-log U) for U uniform."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    _param_event_dims = {"loc": 0, "scale": 0}
    support = constraints.real

    def __init__(self, loc, scale, validate_args=None):
        tg = _tg()
        self.loc, self.scale = broadcast_all(loc, scale)
        finfo = _finfo(self.loc)
        base = Uniform(tg.full_like(self.loc, float(finfo.tiny)),
                       tg.full_like(self.loc, 1 - float(finfo.eps)), validate_args=False)
        transforms = [ExpTransform().inv, AffineTransform(0, -tg.ones_like(self.scale)),
                      ExpTransform().inv, AffineTransform(self.loc, -self.scale)]
        super().__init__(base, transforms, validate_args=validate_args)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        z = (self.loc - value) / self.scale
        return (z - z.exp()) - self.scale.log()

    @property
    def mean(self):
        return self.loc + self.scale * EULER

    @property
    def mode(self):
        return self.loc

    @property
    def stddev(self):
        return (math.pi / math.sqrt(6)) * self.scale

    @property
    def variance(self):
        return self.stddev ** 2

    def entropy(self):
        return self.scale.log() + (1 + EULER)


class Weibull(TransformedDistribution):
    """The Weibull distribution: scale * E^(1 / concentration) for E ~ Exponential(1)."""

    arg_constraints = {"scale": constraints.positive, "concentration": constraints.positive}
    _param_event_dims = {"scale": 0, "concentration": 0}
    support = constraints.positive

    def __init__(self, scale, concentration, validate_args=None):
        tg = _tg()
        self.scale, self.concentration = broadcast_all(scale, concentration)
        self.concentration_reciprocal = self.concentration.reciprocal()
        base = Exponential(tg.ones_like(self.scale), validate_args=False)
        transforms = [PowerTransform(exponent=self.concentration_reciprocal),
                      AffineTransform(loc=0, scale=self.scale)]
        super().__init__(base, transforms, validate_args=validate_args)

    def _expand_extra(self, new, batch_shape):
        new.concentration_reciprocal = new.concentration.reciprocal()

    @property
    def mean(self):
        return self.scale * _tg().lgamma(1 + self.concentration_reciprocal).exp()

    @property
    def mode(self):
        k = self.concentration
        return self.scale * ((k - 1) / k) ** k.reciprocal()

    @property
    def variance(self):
        tg = _tg()
        r = self.concentration_reciprocal
        return self.scale ** 2 * (tg.lgamma(1 + 2 * r).exp() - tg.lgamma(1 + r).exp() ** 2)

    def entropy(self):
        k = self.concentration
        return EULER * (1 - self.concentration_reciprocal) + (self.scale / k).log() + 1


class Pareto(TransformedDistribution):
    """The Pareto distribution: scale * exp(E) for E ~ Exponential(alpha); support
    [scale, inf)."""

    arg_constraints = {"alpha": constraints.positive, "scale": constraints.positive}
    _param_event_dims = {"scale": 0, "alpha": 0}

    def __init__(self, scale, alpha, validate_args=None):
        self.scale, self.alpha = broadcast_all(scale, alpha)
        base = Exponential(self.alpha, validate_args=False)
        transforms = [ExpTransform(), AffineTransform(loc=0, scale=self.scale)]
        super().__init__(base, transforms, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        return constraints.greater_than_eq(self.scale)

    @property
    def mean(self):
        a = self.alpha.clamp(min=1)  # infinite for alpha <= 1
        return a * self.scale / (a - 1)

    @property
    def mode(self):
        return self.scale

    @property
    def variance(self):
        a = self.alpha.clamp(min=2)  # infinite for alpha <= 2
        return self.scale ** 2 * a / ((a - 1) ** 2 * (a - 2))

    def entropy(self):
        return (self.scale / self.alpha).log() + (1 + self.alpha.reciprocal())


def _kumaraswamy_moment(a, b, n):
    tg = _tg()
    arg = 1 + n / a
    return b * (tg.lgamma(arg) + tg.lgamma(b) - tg.lgamma(arg + b)).exp()


class Kumaraswamy(TransformedDistribution):
    """The Kumaraswamy distribution on (0, 1): (1 - U^(1/concentration0))^(1/concentration1)
    for U uniform; density a b x^(a-1) (1 - x^a)^(b-1) with a = concentration1,
    b = concentration0.

    ``mode`` is the closed form ((a - 1) / (a b - 1))^(1/a) (NaN where a or b is below 1);
    torch 2.13's mode returns NaN everywhere (its log-space formula takes log1p(-b))."""

    arg_constraints = {"concentration1": constraints.positive,
                       "concentration0": constraints.positive}
    _param_event_dims = {"concentration1": 0, "concentration0": 0}
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, concentration1, concentration0, validate_args=None):
        tg = _tg()
        self.concentration1, self.concentration0 = broadcast_all(concentration1,
                                                                 concentration0)
        base = Uniform(tg.zeros_like(self.concentration0), tg.ones_like(self.concentration0),
                       validate_args=False)
        transforms = [PowerTransform(exponent=self.concentration0.reciprocal()),
                      AffineTransform(loc=1.0, scale=-1.0),
                      PowerTransform(exponent=self.concentration1.reciprocal())]
        super().__init__(base, transforms, validate_args=validate_args)

    @property
    def mean(self):
        return _kumaraswamy_moment(self.concentration1, self.concentration0, 1)

    @property
    def mode(self):
        tg = _tg()
        a, b = self.concentration1, self.concentration0
        mode = ((a - 1) / (a * b - 1)) ** a.reciprocal()
        return tg.where((a < 1) | (b < 1), tg.full_like(mode, float("nan")), mode)

    @property
    def variance(self):
        return (_kumaraswamy_moment(self.concentration1, self.concentration0, 2)
                - self.mean ** 2)

    def entropy(self):
        tg = _tg()
        a, b = self.concentration1, self.concentration0
        t1 = 1 - a.reciprocal()
        t0 = 1 - b.reciprocal()
        h0 = tg.digamma(b + 1) + EULER
        return t0 + t1 * h0 - a.log() - b.log()


class LogisticNormal(TransformedDistribution):
    """StickBreakingTransform of Normal(loc, scale): a distribution on the simplex with one
    more coordinate than ``loc``."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    _param_event_dims = {}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        base = Normal(loc, scale, validate_args=validate_args)
        if not base.batch_shape:
            base = base.expand([1])
        super().__init__(base, StickBreakingTransform(), validate_args=validate_args)

    @property
    def loc(self):
        return self.base_dist.base_dist.loc

    @property
    def scale(self):
        return self.base_dist.base_dist.scale


class LogitRelaxedBernoulli(BinaryProbsLogits, Distribution):
    """The logit of a RelaxedBernoulli draw: (logit(U) + logits) / temperature."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    _param_event_dims = {"probs": 0, "logits": 0}
    support = constraints.real
    has_rsample = True

    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        self.temperature = temperature
        batch_shape = _probs_or_logits(self, type(self).__name__, probs, logits)
        super().__init__(batch_shape, validate_args=validate_args)

    def _expand_extra(self, new, batch_shape):
        new.temperature = self.temperature

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        probs = clamp_probs(self.probs.expand(*shape))
        u = clamp_probs(standard_uniform("LogitRelaxedBernoulli.rsample", shape, probs))
        return (u.log() - (-u).log1p() + probs.log() - (-probs).log1p()) / self.temperature

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        diff = logits - value * self.temperature
        return self.temperature.log() + diff - 2 * diff.exp().log1p()


class _Relaxed(TransformedDistribution):
    """A relaxation: ``_transform()`` of a ``_base(temperature, probs, logits)`` draw, whose
    temperature, logits and probs it reports; rsample is differentiable."""

    _param_event_dims = {}
    has_rsample = True

    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        base = self._base(temperature, probs, logits, validate_args=validate_args)
        super().__init__(base, self._transform(), validate_args=validate_args)

    @property
    def temperature(self):
        return self.base_dist.temperature

    @property
    def logits(self):
        return self.base_dist.logits

    @property
    def probs(self):
        return self.base_dist.probs


class RelaxedBernoulli(_Relaxed):
    """The Concrete / Gumbel-softmax relaxation of Bernoulli on (0, 1), at ``temperature``:
    sigmoid of a LogitRelaxedBernoulli draw; rsample is differentiable."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.unit_interval
    _base, _transform = LogitRelaxedBernoulli, SigmoidTransform


class ExpRelaxedCategorical(_CategoricalBacked, Distribution):
    """The log of a RelaxedOneHotCategorical draw: log_softmax((logits + Gumbel) /
    temperature) over the last dimension."""

    arg_constraints = {"probs": constraints.simplex,
                       "logits": constraints.independent(constraints.real, 1)}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        shapes = self._set_categorical(probs, logits, validate_args)
        self.temperature = temperature
        super().__init__(*shapes, validate_args=validate_args)

    def _expand_extra(self, new, batch_shape):
        super()._expand_extra(new, batch_shape)
        new.temperature = self.temperature

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        u = clamp_probs(standard_uniform("ExpRelaxedCategorical.rsample", shape, self.logits))
        gumbels = -((-u.log()).log())
        scores = (self.logits + gumbels) / self.temperature
        return scores - scores.logsumexp(-1, keepdim=True)

    def log_prob(self, value):
        tg = _tg()
        k = self._categorical._num_events
        if self._validate_args:
            self._validate_sample(value)
        logits, value = tg.broadcast_tensors(self.logits, value)
        t = self.temperature if isinstance(self.temperature, tg.Tensor) else tg.tensor(
            float(self.temperature), dtype=logits.dtype, device=logits.device)
        log_scale = math.lgamma(k) + (k - 1) * t.log()
        score = logits - value * t
        score = (score - score.logsumexp(-1, keepdim=True)).sum(-1)
        return score + log_scale


class RelaxedOneHotCategorical(_Relaxed):
    """The Concrete / Gumbel-softmax relaxation of OneHotCategorical on the simplex, at
    ``temperature``; rsample is differentiable."""

    arg_constraints = {"probs": constraints.simplex,
                       "logits": constraints.independent(constraints.real, 1)}
    support = constraints.simplex
    _base, _transform = ExpRelaxedCategorical, ExpTransform


class InverseGamma(TransformedDistribution):
    """1 / X for X ~ Gamma(concentration, rate); ``rsample`` through Gamma's."""

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    _param_event_dims = {}
    support = constraints.positive

    def __init__(self, concentration, rate, validate_args=None):
        base = Gamma(concentration, rate, validate_args=validate_args)
        neg_one = _tg().full_like(base.rate, -1.0)
        super().__init__(base, PowerTransform(neg_one), validate_args=validate_args)

    @property
    def concentration(self):
        return self.base_dist.concentration

    @property
    def rate(self):
        return self.base_dist.rate

    @property
    def mean(self):
        c = self.concentration
        return _inf_where(c <= 1, self.rate / (c - 1))

    @property
    def mode(self):
        return self.rate / (self.concentration + 1)

    @property
    def variance(self):
        c = self.concentration
        return _inf_where(c <= 2, self.rate ** 2 / ((c - 1) ** 2 * (c - 2)))

    def entropy(self):
        tg = _tg()
        c = self.concentration
        return c + self.rate.log() + tg.lgamma(c) - (1 + c) * tg.digamma(c)


def _inf_where(mask, t):
    tg = _tg()
    return tg.where(mask, tg.full_like(t, float("inf")), t)
