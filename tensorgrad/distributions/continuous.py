"""Univariate continuous families: Normal, LogNormal, Uniform, Laplace, Exponential, Gamma,
Beta, Chi2, StudentT, FisherSnedecor, VonMises, ContinuousBernoulli. Densities are
compositions of tensorgrad ops, so their gradients (of any order) with respect to the
parameters and the value come from the ops' own rules."""

import math

import numpy as np

from ..backend.device import xp_of
from . import constraints
from .distribution import (
    LOG_SQRT_2PI,
    Distribution,
    ExponentialFamily,
    LocCentred,
    broadcast_all,
    clamp_probs,
    const,
    draw,
    lazy_property,
    logits_to_probs,
    probs_to_logits,
    standard_normal,
    standard_uniform,
)

__all__ = ["Normal", "LogNormal", "Uniform", "Laplace", "Exponential", "Gamma", "Beta", "Chi2",
           "StudentT", "FisherSnedecor", "VonMises", "ContinuousBernoulli"]


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


class Normal(LocCentred, _LocScale, ExponentialFamily):
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

    # exponential family (torch's parameterisation): t(x) = (x, x^2)
    _mean_carrier_measure = 0

    @property
    def _natural_params(self):
        return self.loc / self.scale ** 2, -0.5 * self.scale.reciprocal() ** 2

    def _log_normalizer(self, x, y):
        return -0.25 * x ** 2 / y + 0.5 * (-math.pi / y).log()


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


class Exponential(ExponentialFamily):
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

    # exponential family: t(x) = x
    _mean_carrier_measure = 0

    @property
    def _natural_params(self):
        return (-self.rate,)

    def _log_normalizer(self, x):
        return -(-x).log()


def standard_gamma(who, concentration, sample_shape):
    """Gamma(concentration, 1) draws of shape sample_shape + concentration.shape, from the
    device's generator (no history), lifted to the dtype's tiny so logs stay finite."""
    shape = tuple(sample_shape) + tuple(concentration.shape)
    alpha = concentration.detach().data

    def fill(gen, xp, s, d):
        a = xp.broadcast_to(alpha.astype(np.float64), s)
        return xp.maximum(gen.standard_gamma(a, size=s).astype(d), np.finfo(d).tiny)
    return draw(who, shape, concentration, fill)


def standard_gamma_r(who, concentration, sample_shape):
    """``standard_gamma`` draws whose gradient flows to ``concentration`` by the exact implicit
    reparameterisation (tensorgrad.ops.gamma_rsample): the same values as ``standard_gamma``
    from the same generator state."""
    from ..ops.gamma_rsample import standard_gamma_rsample

    z = standard_gamma(who, concentration.detach(), sample_shape)
    return standard_gamma_rsample(concentration, z)


class Gamma(ExponentialFamily):
    """The gamma distribution with shape ``concentration`` and inverse scale ``rate``.

    ``rsample`` differentiates a draw by implicit reparameterisation, as torch's, with the
    derivative in ``concentration`` computed exactly rather than approximated
    (tensorgrad.ops.gamma_rsample; ``sample`` and ``rsample`` give the same values from the
    same seed).

    >>> import tensorgrad as tg
    >>> a = tg.tensor(3.0, requires_grad=True)
    >>> tg.distributions.Gamma(a, 2.0).rsample((4,)).sum().backward()
    >>> a.grad.shape
    ()
    """

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    _param_event_dims = {"concentration": 0, "rate": 0}
    support = constraints.nonnegative
    has_rsample = True

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

    def rsample(self, sample_shape=()):
        g = standard_gamma_r("Gamma.rsample", self.concentration, tuple(sample_shape))
        out = g / self.rate
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

    # exponential family (torch's parameterisation): t(x) = (log x, x)
    _mean_carrier_measure = 0

    @property
    def _natural_params(self):
        return self.concentration - 1, -self.rate

    def _log_normalizer(self, x, y):
        return _tg().lgamma(x + 1) + (x + 1) * (-y.reciprocal()).log()


class Beta(ExponentialFamily):
    """The beta distribution on [0, 1] with density proportional to
    x^(concentration1 - 1) (1 - x)^(concentration0 - 1).

    Draws are X / (X + Y) of two gamma draws; ``rsample`` differentiates them through Gamma's
    exact implicit reparameterisation (torch's Beta reparameterises the Dirichlet's marginal
    instead: the same distribution of gradients, not the same gradient per draw)."""

    arg_constraints = {"concentration1": constraints.positive,
                       "concentration0": constraints.positive}
    _param_event_dims = {"concentration1": 0, "concentration0": 0}
    support = constraints.unit_interval
    has_rsample = True

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

    def rsample(self, sample_shape=()):
        x = standard_gamma_r("Beta.rsample", self.concentration1, tuple(sample_shape))
        y = standard_gamma_r("Beta.rsample", self.concentration0, tuple(sample_shape))
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

    # exponential family (torch's parameterisation): theta = (a, b), t(x) = (log x, log(1-x))
    @property
    def _natural_params(self):
        return self.concentration1, self.concentration0

    def _log_normalizer(self, x, y):
        tg = _tg()
        return tg.lgamma(x) + tg.lgamma(y) - tg.lgamma(x + y)

    @property
    def _mean_carrier_measure(self):
        # E[-log x - log(1 - x)] for the carrier 1 / (x (1 - x)) of that parameterisation
        # (torch leaves it undefined, so its generic Beta entropy raises)
        tg = _tg()
        a, b = self.concentration1, self.concentration0
        return 2 * tg.digamma(a + b) - tg.digamma(a) - tg.digamma(b)


class Chi2(Gamma):
    """The chi-squared distribution with ``df`` degrees of freedom: Gamma(df / 2, 1 / 2)."""

    arg_constraints = {"df": constraints.positive}

    def __init__(self, df, validate_args=None):
        (df,) = broadcast_all(df)
        super().__init__(0.5 * df, 0.5 * _tg().ones_like(df), validate_args=validate_args)

    @property
    def df(self):
        return self.concentration * 2

    def __repr__(self):
        return f"Chi2(df: {self.df if self.df.numel() == 1 else tuple(self.df.shape)})"


def _nan_where(mask, t):
    tg = _tg()
    return tg.where(mask, tg.full_like(t, float("nan")), t)


def _inf_where(mask, t):
    tg = _tg()
    return tg.where(mask, tg.full_like(t, float("inf")), t)


class StudentT(Distribution):
    """Student's t distribution with ``df`` degrees of freedom, location ``loc`` and scale
    ``scale``.

    A normal draw over the root of a chi-squared one; ``rsample`` through Gamma's."""

    arg_constraints = {"df": constraints.positive, "loc": constraints.real,
                       "scale": constraints.positive}
    _param_event_dims = {"df": 0, "loc": 0, "scale": 0}
    support = constraints.real
    has_rsample = True

    def __init__(self, df, loc=0.0, scale=1.0, validate_args=None):
        self.df, self.loc, self.scale = broadcast_all(df, loc, scale)
        super().__init__(self.df.shape, validate_args=validate_args)

    @property
    def mean(self):
        return _nan_where(self.df <= 1, self.loc)

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        df = self.df
        var = self.scale ** 2 * df / (df - 2).clamp(min=float(np.finfo(df.dtype).tiny))
        var = _inf_where((df <= 2) & (df > 1), var)
        return _nan_where(df <= 1, var)

    def sample(self, sample_shape=()):
        df = self.df.detach()
        g = standard_gamma("StudentT.sample", 0.5 * df, tuple(sample_shape))
        x = standard_normal("StudentT.sample", tuple(g.shape), df)
        y = x * (0.5 * df / g).sqrt()  # chi2 = 2 gamma(df / 2)
        return self.loc.detach() + self.scale.detach() * y

    def rsample(self, sample_shape=()):
        g = standard_gamma_r("StudentT.rsample", 0.5 * self.df, tuple(sample_shape))
        x = standard_normal("StudentT.rsample", tuple(g.shape), self.df)
        return self.loc + self.scale * (x * (0.5 * self.df / g).sqrt())

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        tg = _tg()
        df = self.df
        y = (value - self.loc) / self.scale
        z = (self.scale.log() + 0.5 * df.log() + 0.5 * math.log(math.pi)
             + tg.lgamma(0.5 * df) - tg.lgamma(0.5 * (df + 1.0)))
        return -0.5 * (df + 1.0) * (y ** 2 / df).log1p() - z

    def entropy(self):
        tg = _tg()
        df = self.df
        lbeta = tg.lgamma(0.5 * df) + math.lgamma(0.5) - tg.lgamma(0.5 * (df + 1))
        return (self.scale.log() + 0.5 * (df + 1) * (tg.digamma(0.5 * (df + 1))
                                                     - tg.digamma(0.5 * df))
                + 0.5 * df.log() + lbeta)


class FisherSnedecor(Distribution):
    """The F distribution with ``df1`` and ``df2`` degrees of freedom: (X1 / df1) / (X2 / df2)
    for independent chi-squared X1, X2 (``rsample`` through Gamma's)."""

    arg_constraints = {"df1": constraints.positive, "df2": constraints.positive}
    _param_event_dims = {"df1": 0, "df2": 0}
    support = constraints.positive
    has_rsample = True

    def __init__(self, df1, df2, validate_args=None):
        self.df1, self.df2 = broadcast_all(df1, df2)
        super().__init__(self.df1.shape, validate_args=validate_args)

    @property
    def mean(self):
        df2 = self.df2
        return _nan_where(df2 <= 2, df2 / (df2 - 2))

    @property
    def mode(self):
        df1, df2 = self.df1, self.df2
        return _nan_where(df1 <= 2, (df1 - 2) / df1 * df2 / (df2 + 2))

    @property
    def variance(self):
        df1, df2 = self.df1, self.df2
        var = 2 * df2 ** 2 * (df1 + df2 - 2) / (df1 * (df2 - 2) ** 2 * (df2 - 4))
        return _nan_where(df2 <= 4, var)

    def sample(self, sample_shape=()):
        df1, df2 = self.df1.detach(), self.df2.detach()
        x1 = standard_gamma("FisherSnedecor.sample", 0.5 * df1, tuple(sample_shape))
        x2 = standard_gamma("FisherSnedecor.sample", 0.5 * df2, tuple(sample_shape))
        out = (x1 / df1) / (x2 / df2)
        return out.clamp(min=float(np.finfo(out.dtype).tiny))

    def rsample(self, sample_shape=()):
        df1, df2 = self.df1, self.df2
        x1 = standard_gamma_r("FisherSnedecor.rsample", 0.5 * df1, tuple(sample_shape))
        x2 = standard_gamma_r("FisherSnedecor.rsample", 0.5 * df2, tuple(sample_shape))
        out = (x1 / df1) / (x2 / df2)
        return out.clamp(min=float(np.finfo(out.dtype).tiny))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        tg = _tg()
        a, b = 0.5 * self.df1, 0.5 * self.df2
        ratio = self.df1 / self.df2
        t1 = tg.lgamma(a + b) - tg.lgamma(a) - tg.lgamma(b)
        t2 = a * ratio.log() + (a - 1) * value.log()
        t3 = (a + b) * (ratio * value).log1p()
        return t1 + t2 - t3


def _log_bessel_i(k, order):
    """log I_order(k) for order 0 or 1, through the exponentially scaled Bessel functions."""
    from ..special import i0e, i1e

    return (i0e(k) if order == 0 else i1e(k)).log() + k


class VonMises(LocCentred, Distribution):
    """The von Mises (circular normal) distribution on angles: density
    exp(concentration cos(x - loc)) / (2 pi I0(concentration)); samples lie in [-pi, pi).

    ``sample`` by Best and Fisher's rejection method (no rsample, as torch)."""

    arg_constraints = {"loc": constraints.real, "concentration": constraints.positive}
    _param_event_dims = {"loc": 0, "concentration": 0}
    support = constraints.real
    has_rsample = False

    def __init__(self, loc, concentration, validate_args=None):
        self.loc, self.concentration = broadcast_all(loc, concentration)
        super().__init__(self.loc.shape, validate_args=validate_args)

    @property
    def variance(self):
        k = self.concentration
        return 1 - (_log_bessel_i(k, 1) - _log_bessel_i(k, 0)).exp()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        k = self.concentration
        return k * (value - self.loc).cos() - math.log(2 * math.pi) - _log_bessel_i(k, 0)

    def sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        like = self.loc.detach()
        x = xp_of(like.data)
        k = x.broadcast_to(self.concentration.detach().data.astype(np.float64), shape)
        loc = x.broadcast_to(like.data.astype(np.float64), shape)
        # the wrapped-Cauchy envelope's parameter r; for tiny k its limit 1/k + k
        tau = 1 + x.sqrt(1 + 4 * k * k)
        rho = (tau - x.sqrt(2 * tau)) / (2 * k)
        r = x.where(k < 1e-5, 1 / k + k, (1 + rho * rho) / (2 * rho))
        theta = x.zeros(shape, dtype=np.float64)
        todo = x.ones(shape, dtype=bool)
        f64 = const(x.zeros((), dtype=np.float64))
        while bool(todo.any()):
            u1, u2, u3 = (standard_uniform("VonMises.sample", shape, f64).data
                          for _ in range(3))
            z = x.cos(math.pi * u1)
            f = (1 + r * z) / (r + z)
            c = k * (r - f)
            accept = ((c * (2 - c) - u2) > 0) | ((x.log(c / u2) + 1 - c) >= 0)
            new = todo & accept
            angle = x.sign(u3 - 0.5) * x.arccos(x.clip(f, -1.0, 1.0))
            theta = x.where(new, angle, theta)
            todo = todo & ~accept
        out = x.mod(theta + loc + math.pi, 2 * math.pi) - math.pi
        return const(out.astype(like.dtype))


class ContinuousBernoulli(ExponentialFamily):
    """The continuous Bernoulli distribution on [0, 1]: density proportional to
    probs^x (1 - probs)^(1 - x). Near probs = 1/2 (inside ``lims``) its normaliser and
    moments are Taylor expansions, as torch's."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    _param_event_dims = {"probs": 0, "logits": 0}
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, probs=None, logits=None, lims=(0.499, 0.501), validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("ContinuousBernoulli: either `probs` or `logits` must be "
                             "specified, but not both.")
        if probs is not None:
            (probs,) = broadcast_all(probs)
            # as torch's: checked only when validate_args is given, then clamped into (0, 1)
            if validate_args is not None and not bool(
                    constraints.unit_interval.check(probs).all().item()):
                raise ValueError(f"Expected parameter probs (Tensor of shape "
                                 f"{tuple(probs.shape)}) of distribution ContinuousBernoulli "
                                 "to satisfy the constraint Interval(lower_bound=0.0, "
                                 f"upper_bound=1.0), but found invalid values:\n{probs}")
            self.probs = clamp_probs(probs)
            param = self.probs
        else:
            (self.logits,) = broadcast_all(logits)
            param = self.logits
        self._lims = lims
        super().__init__(param.shape, validate_args=validate_args)

    def _expand_extra(self, new, batch_shape):
        new._lims = self._lims

    @lazy_property
    def logits(self):
        return probs_to_logits(self.probs, is_binary=True)

    @lazy_property
    def probs(self):
        return clamp_probs(logits_to_probs(self.logits, is_binary=True))

    @property
    def param_shape(self):
        return self.__dict__.get("probs", self.__dict__.get("logits")).shape

    def _outside(self):
        return (self.probs <= self._lims[0]) | (self.probs > self._lims[1])

    def _cut_probs(self):
        tg = _tg()
        return tg.where(self._outside(), self.probs, tg.full_like(self.probs, self._lims[0]))

    def _cont_bern_log_norm(self):
        tg = _tg()
        p = self._cut_probs()
        below = tg.where(p <= 0.5, p, tg.zeros_like(p))
        above = tg.where(p >= 0.5, p, tg.ones_like(p))
        exact = ((-p).log1p() - p.log()).abs().log() - tg.where(
            p <= 0.5, (-2.0 * below).log1p(), (2.0 * above - 1.0).log())
        x = (self.probs - 0.5) ** 2
        taylor = math.log(2.0) + (4.0 / 3.0 + 104.0 / 45.0 * x) * x
        return tg.where(self._outside(), exact, taylor)

    @property
    def mean(self):
        tg = _tg()
        p = self._cut_probs()
        exact = p / (2.0 * p - 1.0) + 1.0 / ((-p).log1p() - p.log())
        x = self.probs - 0.5
        taylor = 0.5 + (1.0 / 3.0 + 16.0 / 45.0 * x ** 2) * x
        return tg.where(self._outside(), exact, taylor)

    @property
    def variance(self):
        tg = _tg()
        p = self._cut_probs()
        exact = (p * (p - 1.0) / (1.0 - 2.0 * p) ** 2
                 + 1.0 / ((-p).log1p() - p.log()) ** 2)
        x = (self.probs - 0.5) ** 2
        taylor = 1.0 / 12.0 - (1.0 / 15.0 - 128.0 / 945.0 * x) * x
        return tg.where(self._outside(), exact, taylor)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        u = draw("ContinuousBernoulli.rsample", shape, self.probs,
                 lambda gen, xp_, s, d: gen.random(s, dtype=d))
        return self.icdf(u)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        from ..nn.functional import binary_cross_entropy_with_logits

        logits, value = broadcast_all(self.logits, value)
        return (-binary_cross_entropy_with_logits(logits, value, reduction="none")
                + self._cont_bern_log_norm())

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        tg = _tg()
        p = self._cut_probs()
        exact = (p ** value * (1.0 - p) ** (1.0 - value) + p - 1.0) / (2.0 * p - 1.0)
        inside = tg.where(self._outside(), exact, value + 0 * p)
        return tg.where(value <= 0.0, tg.zeros_like(inside),
                        tg.where(value >= 1.0, tg.ones_like(inside), inside))

    def icdf(self, value):
        tg = _tg()
        p = self._cut_probs()
        exact = ((value * (2.0 * p - 1.0) - p).log1p() - (-p).log1p()) / (
            p.log() - (-p).log1p())
        return tg.where(self._outside(), exact, value + 0 * p)

    @property
    def _natural_params(self):
        return (self.logits,)

    def _log_normalizer(self, x):
        tg = _tg()
        lo, hi = self._lims[0] - 0.5, self._lims[1] - 0.5
        outside = (x <= lo) | (x > hi)
        cut = tg.where(outside, x, tg.full_like(x, lo))
        exact = (cut.exp() - 1.0).abs().log() - cut.abs().log()
        taylor = 0.5 * x + x ** 2 / 24.0 - x ** 4 / 2880.0
        return tg.where(outside, exact, taylor)

    @property
    def _mean_carrier_measure(self):
        return 0

    def entropy(self):
        log_q = (-self.probs).log1p()
        log_p = self.probs.log()
        return self.mean * (log_q - log_p) - self._cont_bern_log_norm() - log_q


class GeneralizedPareto(Distribution):
    """The generalized Pareto distribution (PyTorch 2.5+): survival function
    ``(1 + concentration * z) ** (-1 / concentration)`` with ``z = (x - loc) / scale``
    (``exp(-z)`` at concentration 0, taken for ``|concentration| <= 1e-8`` as PyTorch's
    ``isclose``); support ``[loc, loc - scale / concentration]`` for negative concentration,
    ``[loc, inf)`` otherwise. ``rsample`` is ``icdf`` of a uniform draw.

    >>> import tensorgrad as tg
    >>> d = tg.distributions.GeneralizedPareto(0.0, 1.0, 0.0)
    >>> round(d.log_prob(tg.tensor(1.0)).item(), 4)
    -1.0
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive,
                       "concentration": constraints.real}
    _param_event_dims = {"loc": 0, "scale": 0, "concentration": 0}
    has_rsample = True

    def __init__(self, loc, scale, concentration, validate_args=None):
        self.loc, self.scale, self.concentration = broadcast_all(loc, scale, concentration)
        super().__init__(self.loc.shape, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        tg = _tg()
        upper = tg.where(self.concentration < 0,
                         self.loc - self.scale / self.concentration,
                         tg.full_like(self.loc, math.inf))
        return constraints.interval(self.loc, upper)

    def _safe(self):
        # concentration ~ 0 takes the exponential limit; 1 stands in there so that no branch
        # of the where divides by zero (and no NaN reaches the gradient)
        tg = _tg()
        zero = self.concentration.abs() <= 1e-8
        return zero, tg.where(zero, tg.ones_like(self.concentration), self.concentration)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        return self.icdf(standard_uniform("GeneralizedPareto.rsample", shape, self.loc))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        tg = _tg()
        z = (value - self.loc) / self.scale
        zero, c = self._safe()
        y = 1 / c + 1
        nonzero = tg.where(y == 0, y, y * (c * z).log1p())
        return -self.scale.log() - tg.where(zero, z, nonzero)

    def log_survival_function(self, value):
        if self._validate_args:
            self._validate_sample(value)
        z = (value - self.loc) / self.scale
        zero, c = self._safe()
        return _tg().where(zero, -z, -(c * z).log1p() / c)

    def log_cdf(self, value):
        return (-self.log_survival_function(value).exp()).log1p()

    def cdf(self, value):
        return self.log_cdf(value).exp()

    def icdf(self, value):
        zero, c = self._safe()
        log_u = (-value).log1p()
        return _tg().where(zero, self.loc - self.scale * log_u,
                           self.loc + self.scale / c * (-c * log_u).expm1())

    @property
    def mean(self):
        tg = _tg()
        valid = self.concentration < 1
        c = tg.where(valid, self.concentration, tg.full_like(self.concentration, 0.5))
        return _nan_where(~valid, self.loc + self.scale / (1 - c))

    @property
    def variance(self):
        tg = _tg()
        valid = self.concentration < 0.5
        c = tg.where(valid, self.concentration, tg.full_like(self.concentration, 0.25))
        return _nan_where(~valid, self.scale ** 2 / ((1 - c) ** 2 * (1 - 2 * c)))

    @property
    def mode(self):
        return self.loc

    def entropy(self):
        return self.scale.log() + self.concentration + 1
