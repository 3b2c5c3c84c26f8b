"""Univariate continuous families: Normal, LogNormal, Uniform, Laplace, Exponential, Gamma,
Beta. Densities are compositions of tensorgrad ops, so their gradients (of any order) with
respect to the parameters and the value come from the ops' own rules."""

import math

import numpy as np

from . import constraints
from .distribution import (
    LOG_SQRT_2PI,
    Distribution,
    LocCentred,
    broadcast_all,
    draw,
    standard_normal,
    standard_uniform,
)

__all__ = ["Normal", "LogNormal", "Uniform", "Laplace", "Exponential", "Gamma", "Beta"]


def _tg():
    import tensorgrad

    return tensorgrad


class _LocScale(Distribution):
    """Families given by a location and a positive scale, broadcast to the batch shape."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    _param_event_dims = {"loc": 0, "scale": 0}

    def __init__(self, loc, scale, validate_args=None):
        self.loc, self.scale = broadcast_all(loc, scale)
        super().__init__(self.loc.shape, validate_args=validate_args)

    def _check(self, value):
        if self._validate_args:
            self._validate_sample(value)


class Normal(LocCentred, _LocScale):
    """The normal distribution N(loc, scale^2).

    >>> import tensorgrad as tg
    >>> d = tg.distributions.Normal(tg.tensor(0.0), tg.tensor(1.0))
    >>> round(d.log_prob(tg.tensor(0.0)).item(), 4)
    -0.9189
    """

    support = constraints.real
    has_rsample = True

    @property
    def stddev(self):
        return self.scale

    @property
    def variance(self):
        return self.scale ** 2

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        return self.loc + self.scale * standard_normal("Normal.rsample", shape, self.loc)

    def log_prob(self, value):
        self._check(value)
        var = self.scale ** 2
        return -((value - self.loc) ** 2) / (2 * var) - self.scale.log() - LOG_SQRT_2PI

    def cdf(self, value):
        self._check(value)
        return 0.5 * (1 + _tg().erf((value - self.loc) / (self.scale * math.sqrt(2))))

    def icdf(self, value):
        return self.loc + self.scale * _tg().erfinv(2 * value - 1) * math.sqrt(2)

    def entropy(self):
        return 0.5 + 0.5 * math.log(2 * math.pi) + self.scale.log()


class LogNormal(_LocScale):
    """exp(X) for X ~ Normal(loc, scale), written directly (torch builds it as a
    TransformedDistribution of Normal by ExpTransform; values and gradients are the same).
    ``base_dist`` is that Normal."""

    support = constraints.positive
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        super().__init__(loc, scale, validate_args=validate_args)
        self.base_dist = Normal(self.loc, self.scale, validate_args=False)

    def _expand_extra(self, new, batch_shape):
        new.base_dist = Normal(new.loc, new.scale, validate_args=False)

    @property
    def mean(self):
        return (self.loc + self.scale ** 2 / 2).exp()

    @property
    def mode(self):
        return (self.loc - self.scale ** 2).exp()

    @property
    def variance(self):
        var = self.scale ** 2
        return var.expm1() * (2 * self.loc + var).exp()

    def rsample(self, sample_shape=()):
        return self.base_dist.rsample(sample_shape).exp()

    def log_prob(self, value):
        self._check(value)
        log_value = value.log()
        return self.base_dist.log_prob(log_value) - log_value

    def cdf(self, value):
        self._check(value)
        return self.base_dist.cdf(value.log())

    def icdf(self, value):
        return self.base_dist.icdf(value).exp()

    def entropy(self):
        return self.base_dist.entropy() + self.loc


class Laplace(LocCentred, _LocScale):
    """The Laplace distribution: density exp(-|x - loc| / scale) / (2 scale)."""

    support = constraints.real
    has_rsample = True

    @property
    def variance(self):
        return 2 * self.scale ** 2

    @property
    def stddev(self):
        return math.sqrt(2) * self.scale

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        u = standard_uniform("Laplace.rsample", shape, self.loc)
        eps = float(np.finfo(u.dtype).eps)
        u = u * (2 - eps) + (eps - 1)  # in [eps - 1, 1): log1p(-|u|) stays finite
        return self.loc - self.scale * u.sign() * (-u.abs()).log1p()

    def log_prob(self, value):
        self._check(value)
        return -(2 * self.scale).log() - (value - self.loc).abs() / self.scale

    def cdf(self, value):
        self._check(value)
        z = value - self.loc
        return 0.5 - 0.5 * z.sign() * (-z.abs() / self.scale).expm1()

    def icdf(self, value):
        term = value - 0.5
        return self.loc - self.scale * term.sign() * (-2 * term.abs()).log1p()

    def entropy(self):
        return 1 + (2 * self.scale).log()


class Uniform(Distribution):
    """The uniform distribution on the half-open interval [low, high)."""

    arg_constraints = {"low": constraints.dependent(is_discrete=False, event_dim=0),
                       "high": constraints.dependent(is_discrete=False, event_dim=0)}
    _param_event_dims = {"low": 0, "high": 0}
    has_rsample = True

    def __init__(self, low, high, validate_args=None):
        self.low, self.high = broadcast_all(low, high)
        super().__init__(self.low.shape, validate_args=validate_args)
        if self._validate_args and not bool((self.low < self.high).all().item()):
            raise ValueError("Uniform is not defined when low>= high")

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        return constraints.interval(self.low, self.high)

    @property
    def mean(self):
        return (self.high + self.low) / 2

    @property
    def mode(self):
        return self.high * float("nan")

    @property
    def stddev(self):
        return (self.high - self.low) / 12 ** 0.5

    @property
    def variance(self):
        return (self.high - self.low) ** 2 / 12

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        u = draw("Uniform.rsample", shape, self.low,
                 lambda gen, xp, s, d: gen.random(s, dtype=d))
        return self.low + u * (self.high - self.low)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        tg = _tg()
        inside = (self.low <= value) & (self.high > value)
        log_density = -(self.high - self.low).log()
        # -inf outside [low, high), as torch's log(0), without taking a log of 0
        return tg.where(inside, log_density, tg.full_like(log_density, float("-inf")))

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return ((value - self.low) / (self.high - self.low)).clamp(0, 1)

    def icdf(self, value):
        return value * (self.high - self.low) + self.low

    def entropy(self):
        return (self.high - self.low).log()


class Exponential(Distribution):
    """The exponential distribution with density rate * exp(-rate x) on x >= 0."""

    arg_constraints = {"rate": constraints.positive}
    _param_event_dims = {"rate": 0}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, rate, validate_args=None):
        (self.rate,) = broadcast_all(rate)
        super().__init__(self.rate.shape, validate_args=validate_args)

    @property
    def mean(self):
        return self.rate.reciprocal()

    @property
    def mode(self):
        return _tg().zeros_like(self.rate)

    @property
    def stddev(self):
        return self.rate.reciprocal()

    @property
    def variance(self):
        return self.rate ** -2

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        e = -standard_uniform("Exponential.rsample", shape, self.rate).log()
        return e / self.rate

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return self.rate.log() - self.rate * value

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 1 - (-self.rate * value).exp()

    def icdf(self, value):
        return -(-value).log1p() / self.rate

    def entropy(self):
        return 1.0 - self.rate.log()


def standard_gamma(who, concentration, sample_shape):
    """Gamma(concentration, 1) draws of shape sample_shape + concentration.shape, from the
    device's generator (no history), lifted to the dtype's tiny so logs stay finite."""
    shape = tuple(sample_shape) + tuple(concentration.shape)
    alpha = concentration.detach().data

    def fill(gen, xp, s, d):
        a = xp.broadcast_to(alpha.astype(np.float64), s)
        return xp.maximum(gen.standard_gamma(a, size=s).astype(d), np.finfo(d).tiny)
    return draw(who, shape, concentration, fill)


class Gamma(Distribution):
    """The gamma distribution with shape ``concentration`` and inverse scale ``rate``.

    ``sample`` only: ``has_rsample`` is False here (torch's Gamma has an implicit
    reparameterisation gradient, which needs d/da of the incomplete gamma function, an op
    tensorgrad lacks)."""

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    _param_event_dims = {"concentration": 0, "rate": 0}
    support = constraints.nonnegative
    has_rsample = False

    def __init__(self, concentration, rate, validate_args=None):
        self.concentration, self.rate = broadcast_all(concentration, rate)
        super().__init__(self.concentration.shape, validate_args=validate_args)

    @property
    def mean(self):
        return self.concentration / self.rate

    @property
    def mode(self):
        return ((self.concentration - 1) / self.rate).clamp(min=0)

    @property
    def variance(self):
        return self.concentration / self.rate ** 2

    def sample(self, sample_shape=()):
        g = standard_gamma("Gamma.sample", self.concentration.detach(),
                           tuple(sample_shape))
        out = g / self.rate.detach()
        return out.clamp(min=float(np.finfo(out.dtype).tiny))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        tg = _tg()
        a, b = self.concentration, self.rate
        return tg.xlogy(a, b) + tg.xlogy(a - 1, value) - b * value - tg.lgamma(a)

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        from ..scipy.special import gammainc

        return gammainc(self.concentration, self.rate * value)

    def entropy(self):
        tg = _tg()
        a = self.concentration
        return a - self.rate.log() + tg.lgamma(a) + (1.0 - a) * tg.digamma(a)


class Beta(Distribution):
    """The beta distribution on [0, 1] with density proportional to
    x^(concentration1 - 1) (1 - x)^(concentration0 - 1).

    ``sample`` only (X / (X + Y) of two gamma draws): ``has_rsample`` is False here, where
    torch's Beta has an implicit reparameterisation gradient."""

    arg_constraints = {"concentration1": constraints.positive,
                       "concentration0": constraints.positive}
    _param_event_dims = {"concentration1": 0, "concentration0": 0}
    support = constraints.unit_interval
    has_rsample = False

    def __init__(self, concentration1, concentration0, validate_args=None):
        self.concentration1, self.concentration0 = broadcast_all(concentration1,
                                                                 concentration0)
        super().__init__(self.concentration1.shape, validate_args=validate_args)

    @property
    def mean(self):
        return self.concentration1 / (self.concentration1 + self.concentration0)

    @property
    def mode(self):
        tg = _tg()
        a = (self.concentration1 - 1).clamp(min=0)
        b = (self.concentration0 - 1).clamp(min=0)
        # torch takes Dirichlet's mode: both concentrations below 1 give the first corner, 1
        both_small = (self.concentration1 < 1) & (self.concentration0 < 1)
        safe = tg.where(both_small, tg.ones_like(a), a + b)
        return tg.where(both_small, tg.ones_like(a), a / safe)

    @property
    def variance(self):
        total = self.concentration1 + self.concentration0
        return self.concentration1 * self.concentration0 / (total ** 2 * (total + 1))

    def sample(self, sample_shape=()):
        x = standard_gamma("Beta.sample", self.concentration1.detach(), tuple(sample_shape))
        y = standard_gamma("Beta.sample", self.concentration0.detach(), tuple(sample_shape))
        tiny = float(np.finfo(x.dtype).tiny)
        return (x / (x + y)).clamp(tiny, 1 - float(np.finfo(x.dtype).eps))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        tg = _tg()
        a, b = self.concentration1, self.concentration0
        return (tg.xlogy(a - 1, value) + tg.xlogy(b - 1, 1 - value)
                + tg.lgamma(a + b) - tg.lgamma(a) - tg.lgamma(b))

    def entropy(self):
        tg = _tg()
        a, b = self.concentration1, self.concentration0
        total = a + b
        return (tg.lgamma(a) + tg.lgamma(b) - tg.lgamma(total) - (2 - total) * tg.digamma(total)
                - (a - 1) * tg.digamma(a) - (b - 1) * tg.digamma(b))
