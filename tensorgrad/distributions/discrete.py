"""Discrete families: Bernoulli, Categorical, OneHotCategorical(StraightThrough), Poisson,
Binomial, Geometric, NegativeBinomial, Multinomial. Those
given by probabilities take ``probs`` or ``logits`` (exactly one); the other is computed on
first use, as torch's lazy properties."""

import numpy as np

from . import constraints
from .distribution import (
    BinaryProbsLogits,
    Distribution,
    ExponentialFamily,
    as_param,
    broadcast_all,
    const,
    draw,
    lazy_property,
    logits_to_probs,
    probs_to_logits,
    standard_uniform,
    xp,
)

__all__ = ["Bernoulli", "Categorical", "OneHotCategorical", "Poisson", "Binomial",
           "OneHotCategoricalStraightThrough", "Geometric", "NegativeBinomial", "Multinomial"]


def _tg():
    import tensorgrad

    return tensorgrad


def _one_of(who, probs, logits):
    if (probs is None) == (logits is None):
        raise ValueError(f"{who}: either `probs` or `logits` must be specified, but not both.")


_NO_COUNT = object()


def _probs_or_logits(self, who, probs, logits, total_count=_NO_COUNT):
    """Sets whichever of probs / logits is given (exactly one must be) broadcast, with
    ``total_count`` where one is passed (broadcast with it, in its dtype); returns the batch
    shape."""
    _one_of(who, probs, logits)
    key, value = ("probs", probs) if probs is not None else ("logits", logits)
    if total_count is _NO_COUNT:
        (param,) = broadcast_all(value)
    else:
        count, param = broadcast_all(total_count, value)
        self.total_count = count.to(param.dtype)
    setattr(self, key, param)
    return param.shape


class Bernoulli(BinaryProbsLogits, ExponentialFamily):
    """1 with probability ``probs`` (or ``sigmoid(logits)``), 0 otherwise.

    >>> import tensorgrad as tg
    >>> d = tg.distributions.Bernoulli(probs=tg.tensor(0.25))
    >>> round(d.log_prob(tg.tensor(1.0)).item(), 4)
    -1.3863
    """

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    _param_event_dims = {"probs": 0, "logits": 0}
    support = constraints.boolean
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        batch_shape = _probs_or_logits(self, "Bernoulli", probs, logits)
        super().__init__(batch_shape, validate_args=validate_args)

    @property
    def mean(self):
        return self.probs

    @property
    def mode(self):
        tg = _tg()
        p = self.probs
        mode = (p >= 0.5).to(p.dtype)
        return tg.where(p == 0.5, tg.full_like(p, float("nan")), mode)

    @property
    def variance(self):
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        p = self.probs.detach().expand(*shape)
        u = standard_uniform("Bernoulli.sample", shape, p)
        return (u < p).to(p.dtype)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        from ..nn.functional import binary_cross_entropy_with_logits

        logits, value = broadcast_all(self.logits, value)
        return -binary_cross_entropy_with_logits(logits, value, reduction="none")

    def entropy(self):
        from ..nn.functional import binary_cross_entropy_with_logits

        return binary_cross_entropy_with_logits(self.logits, self.probs, reduction="none")

    # exponential family: t(x) = x, theta = logit(probs) (torch's, from probs)
    _mean_carrier_measure = 0

    @property
    def _natural_params(self):
        return (_tg().logit(self.probs),)

    def _log_normalizer(self, x):
        return x.exp().log1p()

    def enumerate_support(self, expand=True):
        tg = _tg()
        values = tg.arange(2, dtype=self.probs.dtype, device=self.probs.device)
        values = values.reshape(2, *((1,) * len(self.batch_shape)))
        return values.expand(2, *self.batch_shape) if expand else values


class Categorical(Distribution):
    """An index in [0, K) drawn with probabilities ``probs`` (normalised along the last
    dimension) or ``softmax(logits)``; the last dimension of the parameter is K, the others
    are the batch shape."""

    arg_constraints = {"probs": constraints.simplex,
                       "logits": constraints.independent(constraints.real, 1)}
    _param_event_dims = {"probs": 1, "logits": 1}
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        _one_of(type(self).__name__, probs, logits)
        if probs is not None:
            probs = as_param(probs)
            if probs.ndim < 1:
                raise ValueError("`probs` parameter must be at least one-dimensional.")
            self.probs = probs / probs.sum(-1, keepdim=True)
            param = self.probs
        else:
            logits = as_param(logits)
            if logits.ndim < 1:
                raise ValueError("`logits` parameter must be at least one-dimensional.")
            self.logits = logits - logits.logsumexp(-1, keepdim=True)
            param = self.logits
        self._param = param
        self._num_events = param.shape[-1]
        super().__init__(param.shape[:-1], validate_args=validate_args)

    def _expand_extra(self, new, batch_shape):
        new._num_events = self._num_events
        new._param = new.__dict__.get("probs", new.__dict__.get("logits"))

    @lazy_property
    def logits(self):
        return probs_to_logits(self.probs)

    @lazy_property
    def probs(self):
        return logits_to_probs(self.logits)

    @property
    def param_shape(self):
        return self._param.shape

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self):
        return constraints.integer_interval(0, self._num_events - 1)

    @property
    def mean(self):
        return _tg().full(self._extended_shape(), float("nan"), dtype=self.probs.dtype,
                          device=self.probs.device)

    @property
    def mode(self):
        return self.probs.argmax(-1)

    @property
    def variance(self):
        return self.mean

    def sample(self, sample_shape=()):
        sample_shape = tuple(sample_shape)
        probs = self.probs.detach().data
        x = xp(self.probs)
        cdf = x.cumsum(probs, axis=-1)
        cdf = cdf / cdf[..., -1:]
        shape = sample_shape + tuple(self.batch_shape)
        u = standard_uniform("Categorical.sample", shape + (1,), self.probs).data
        index = (x.broadcast_to(cdf, shape + cdf.shape[-1:]) < u).sum(-1)
        return const(x.minimum(index, self._num_events - 1).astype(np.int64))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        tg = _tg()
        value = value.long().unsqueeze(-1)
        value, log_pmf = tg.broadcast_tensors(value, self.logits)
        return log_pmf.gather(-1, value[..., :1]).squeeze(-1)

    def entropy(self):
        min_real = float(np.finfo(self.logits.dtype).min)
        logits = self.logits.clamp(min=min_real)
        return -(logits * self.probs).sum(-1)

    def enumerate_support(self, expand=True):
        tg = _tg()
        values = tg.arange(self._num_events, device=self._param.device)
        values = values.reshape(-1, *((1,) * len(self.batch_shape)))
        return values.expand(-1, *self.batch_shape) if expand else values


class _CategoricalBacked:
    """Mixin (before Distribution) of a distribution over K categories that holds a
    Categorical(probs, logits) as ``_categorical``: its parameters, and expand."""

    def _set_categorical(self, probs, logits, validate_args):
        """Makes ``_categorical``; returns (batch shape, event shape (K,))."""
        self._categorical = Categorical(probs, logits, validate_args=validate_args)
        param = self._categorical._param
        return param.shape[:-1], param.shape[-1:]

    def _expand_extra(self, new, batch_shape):
        new._categorical = self._categorical.expand(batch_shape)

    @property
    def probs(self):
        return self._categorical.probs

    @property
    def logits(self):
        return self._categorical.logits

    @property
    def _param(self):
        return self._categorical._param

    @property
    def param_shape(self):
        return self._categorical.param_shape


class OneHotCategorical(_CategoricalBacked, Distribution):
    """Categorical draws as one-hot vectors of length K (the event shape)."""

    arg_constraints = {"probs": constraints.simplex,
                       "logits": constraints.independent(constraints.real, 1)}
    support = constraints.one_hot
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        shapes = self._set_categorical(probs, logits, validate_args)
        super().__init__(*shapes, validate_args=validate_args)

    @property
    def mean(self):
        return self._categorical.probs

    @property
    def mode(self):
        from ..nn.functional import one_hot

        probs = self._categorical.probs
        return one_hot(probs.argmax(-1), probs.shape[-1]).to(probs.dtype)

    @property
    def variance(self):
        p = self._categorical.probs
        return p * (1 - p)

    def sample(self, sample_shape=()):
        from ..nn.functional import one_hot

        probs = self._categorical.probs
        index = self._categorical.sample(sample_shape)
        return one_hot(index, probs.shape[-1]).to(probs.dtype)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return self._categorical.log_prob(value.argmax(-1))

    def entropy(self):
        return self._categorical.entropy()

    def __repr__(self):
        name = "probs" if "probs" in self._categorical.__dict__ else "logits"
        return f"{type(self).__name__}({name}: {tuple(self._param.shape)})"


class Poisson(ExponentialFamily):
    """Counts with mean ``rate``: P(k) = rate^k exp(-rate) / k!."""

    arg_constraints = {"rate": constraints.nonnegative}
    _param_event_dims = {"rate": 0}
    support = constraints.nonnegative_integer

    def __init__(self, rate, validate_args=None):
        (self.rate,) = broadcast_all(rate)
        super().__init__(self.rate.shape, validate_args=validate_args)

    @property
    def mean(self):
        return self.rate

    @property
    def mode(self):
        return self.rate.floor()

    @property
    def variance(self):
        return self.rate

    def sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        lam = self.rate.detach().data

        def fill(gen, x, s, d):
            return gen.poisson(x.broadcast_to(lam.astype(np.float64), s), size=s).astype(d)
        return draw("Poisson.sample", shape, self.rate, fill)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        tg = _tg()
        rate, value = broadcast_all(self.rate, value)
        return tg.xlogy(value, rate) - rate - tg.lgamma(value + 1)

    # exponential family: t(x) = x, carrier 1 / x!; E[log x!] has no closed form, so there is
    # no _mean_carrier_measure and the generic entropy raises NotImplementedError, as torch's
    @property
    def _natural_params(self):
        return (self.rate.log(),)

    def _log_normalizer(self, x):
        return x.exp()


def _clamp_by_zero(x):
    # (max(x, 0) + x - min(x, 0)) / 2, as torch writes it: at 0 the gradient is 1/2
    return (x.clamp(min=0) + x - x.clamp(max=0)) / 2


class Binomial(BinaryProbsLogits, Distribution):
    """The number of successes in ``total_count`` Bernoulli(probs) trials."""

    arg_constraints = {"total_count": constraints.nonnegative_integer,
                       "probs": constraints.unit_interval, "logits": constraints.real}
    _param_event_dims = {"total_count": 0, "probs": 0, "logits": 0}
    has_enumerate_support = True

    def __init__(self, total_count=1, probs=None, logits=None, validate_args=None):
        batch_shape = _probs_or_logits(self, "Binomial", probs, logits, total_count)
        super().__init__(batch_shape, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self):
        return constraints.integer_interval(0, self.total_count)

    @property
    def mean(self):
        return self.total_count * self.probs

    @property
    def mode(self):
        n = self.total_count
        return ((n + 1) * self.probs).floor().clamp(max=n)

    @property
    def variance(self):
        return self.total_count * self.probs * (1 - self.probs)

    def sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        n = self.total_count.detach().data
        p = self.probs.detach().data

        def fill(gen, x, s, d):
            counts = x.broadcast_to(n, s).astype(np.int64)
            return gen.binomial(counts, x.broadcast_to(p.astype(np.float64), s),
                                size=s).astype(d)
        return draw("Binomial.sample", shape, self.probs, fill)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        tg = _tg()
        n = self.total_count
        log_factorial_n = tg.lgamma(n + 1)
        log_factorial_k = tg.lgamma(value + 1)
        log_factorial_nmk = tg.lgamma(n - value + 1)
        logits = self.logits
        normalize_term = (n * _clamp_by_zero(logits) + n * (-logits.abs()).exp().log1p()
                          - log_factorial_n)
        return value * logits - log_factorial_k - log_factorial_nmk - normalize_term

    def entropy(self):
        n = int(self.total_count.max().item())
        if not bool((self.total_count == n).all().item()):
            raise NotImplementedError("Inhomogeneous total count not supported by "
                                      "`entropy`.")
        log_prob = self.log_prob(self.enumerate_support(False))
        return -(log_prob.exp() * log_prob).sum(0)

    def enumerate_support(self, expand=True):
        tg = _tg()
        n = int(self.total_count.max().item())
        if not bool((self.total_count == n).all().item()):
            raise NotImplementedError("Inhomogeneous total count not supported by "
                                      "`enumerate_support`.")
        values = tg.arange(1 + n, dtype=self.probs.dtype, device=self.probs.device)
        values = values.reshape(-1, *((1,) * len(self.batch_shape)))
        return values.expand(-1, *self.batch_shape) if expand else values


class OneHotCategoricalStraightThrough(OneHotCategorical):
    """OneHotCategorical with the straight-through gradient estimator: ``rsample`` returns
    the one-hot draw, whose gradient is taken as that of ``probs``."""

    has_rsample = True

    def rsample(self, sample_shape=()):
        samples = self.sample(sample_shape)
        probs = self._categorical.probs
        return samples + (probs - probs.detach())


class Geometric(BinaryProbsLogits, Distribution):
    """The number of failures before the first success in Bernoulli(probs) trials:
    P(k) = (1 - probs)^k probs."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    _param_event_dims = {"probs": 0, "logits": 0}
    support = constraints.nonnegative_integer

    def __init__(self, probs=None, logits=None, validate_args=None):
        batch_shape = _probs_or_logits(self, "Geometric", probs, logits)
        super().__init__(batch_shape, validate_args=validate_args)
        if self._validate_args and probs is not None and not bool(
                (self.probs > 0).all().item()):
            raise ValueError("Geometric: expected parameter probs to be positive, got "
                             f"{self.probs}")

    @property
    def mean(self):
        return 1.0 / self.probs - 1.0

    @property
    def mode(self):
        return _tg().zeros_like(self.probs)

    @property
    def variance(self):
        return (1.0 / self.probs - 1.0) / self.probs

    def sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        p = self.probs.detach()
        u = standard_uniform("Geometric.sample", shape, p)
        return (u.log() / (-p).log1p()).floor()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        tg = _tg()
        value, probs = broadcast_all(value, self.probs)
        # probs = 1 at value 0 gives 0 * log(0): taken as 0, as torch's
        safe = tg.where((probs == 1) & (value == 0), tg.zeros_like(probs), probs)
        return value * (-safe).log1p() + self.probs.log()

    def entropy(self):
        from ..nn.functional import binary_cross_entropy_with_logits

        return binary_cross_entropy_with_logits(self.logits, self.probs,
                                                reduction="none") / self.probs


class NegativeBinomial(BinaryProbsLogits, Distribution):
    """The number of successes before ``total_count`` failures in Bernoulli(probs) trials.
    Samples are Poisson draws of Gamma(total_count, (1 - probs) / probs) rates."""

    arg_constraints = {"total_count": constraints.greater_than_eq(0),
                       "probs": constraints.half_open_interval(0.0, 1.0),
                       "logits": constraints.real}
    _param_event_dims = {"total_count": 0, "probs": 0, "logits": 0}
    support = constraints.nonnegative_integer

    def __init__(self, total_count, probs=None, logits=None, validate_args=None):
        batch_shape = _probs_or_logits(self, "NegativeBinomial", probs, logits, total_count)
        super().__init__(batch_shape, validate_args=validate_args)

    @property
    def mean(self):
        return self.total_count * self.logits.exp()

    @property
    def mode(self):
        return ((self.total_count - 1) * self.logits.exp()).floor().clamp(min=0.0)

    @property
    def variance(self):
        return self.mean / _tg().sigmoid(-self.logits)

    def sample(self, sample_shape=()):
        from .continuous import standard_gamma

        shape = self._extended_shape(sample_shape)
        n = self.total_count.detach().expand(*self.batch_shape)
        g = standard_gamma("NegativeBinomial.sample", n, tuple(sample_shape))
        rate = (g * self.logits.detach().exp()).data

        def fill(gen, x, s, d):
            return gen.poisson(rate.astype(np.float64), size=s).astype(d)
        return draw("NegativeBinomial.sample", shape, self.total_count, fill)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        from ..nn.functional import logsigmoid

        tg = _tg()
        n = self.total_count
        log_unnormalized = n * logsigmoid(-self.logits) + value * logsigmoid(self.logits)
        log_normalization = -tg.lgamma(n + value) + tg.lgamma(1.0 + value) + tg.lgamma(n)
        # n + value = 0 (no trials, no successes) has probability one
        log_normalization = tg.where(n + value == 0, tg.zeros_like(log_normalization),
                                     log_normalization)
        return log_unnormalized - log_normalization


class Multinomial(_CategoricalBacked, Distribution):
    """Counts of each of K categories in ``total_count`` Categorical(probs) draws (the event
    is the vector of K counts)."""

    arg_constraints = {"probs": constraints.simplex,
                       "logits": constraints.independent(constraints.real, 1)}

    def __init__(self, total_count=1, probs=None, logits=None, validate_args=None):
        if not isinstance(total_count, int):
            raise NotImplementedError("inhomogeneous total_count is not supported")
        self.total_count = total_count
        shapes = self._set_categorical(probs, logits, validate_args)
        self._binomial = Binomial(total_count=total_count, probs=self._categorical.probs)
        super().__init__(*shapes, validate_args=validate_args)

    def _expand_extra(self, new, batch_shape):
        super()._expand_extra(new, batch_shape)
        new.total_count = self.total_count
        new._binomial = Binomial(total_count=self.total_count,
                                 probs=new._categorical.probs)

    @constraints.dependent_property(is_discrete=True, event_dim=1)
    def support(self):
        return constraints.multinomial(self.total_count)

    @property
    def param_shape(self):
        return self._categorical.param_shape

    @property
    def mean(self):
        return self.probs * self.total_count

    @property
    def variance(self):
        return self.total_count * self.probs * (1 - self.probs)

    def sample(self, sample_shape=()):
        from ..nn.functional import one_hot

        sample_shape = tuple(sample_shape)
        k = self._categorical._num_events
        index = self._categorical.sample((self.total_count,) + sample_shape)
        counts = one_hot(index, k).to(self.probs.dtype).sum(0)
        return counts.detach()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        tg = _tg()
        logits, value = broadcast_all(self.logits, value)
        log_factorial_n = tg.lgamma(value.sum(-1) + 1)
        log_factorial_xs = tg.lgamma(value + 1).sum(-1)
        # a category of probability 0 drawn 0 times contributes 0, not 0 * -inf
        logits = tg.where((value == 0) & (logits == float("-inf")), tg.zeros_like(logits),
                          logits)
        return log_factorial_n - log_factorial_xs + (logits * value).sum(-1)

    def entropy(self):
        tg = _tg()
        n = tg.tensor(float(self.total_count), dtype=self.probs.dtype,
                      device=self.probs.device)
        support = self._binomial.enumerate_support()
        binomial_probs = self._binomial.log_prob(support).exp()
        weights = tg.lgamma(support + 1)
        return (n * self._categorical.entropy() - tg.lgamma(n + 1)
                + (binomial_probs * weights).sum(0).sum(-1))
