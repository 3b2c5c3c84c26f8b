"""Families with a vector event: Dirichlet, MultivariateNormal; and Independent, which turns
batch dimensions of any distribution into event dimensions."""

import math

import numpy as np

from . import constraints
from .continuous import standard_gamma
from .distribution import Distribution, LocCentred, as_param, lazy_property, standard_normal

__all__ = ["Dirichlet", "MultivariateNormal", "Independent"]


def _tg():
    import tensorgrad

    return tensorgrad


def sum_rightmost(value, dim):
    """``value`` summed over its ``dim`` rightmost dimensions."""
    for _ in range(dim):
        value = value.sum(-1)
    return value


class Dirichlet(Distribution):
    """The Dirichlet distribution on the simplex, with positive ``concentration`` (its last
    dimension is the event).

    ``sample`` only (normalised gamma draws): ``has_rsample`` is False here, where torch's
    Dirichlet has an implicit reparameterisation gradient."""

    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    _param_event_dims = {"concentration": 1}
    support = constraints.simplex
    has_rsample = False

    def __init__(self, concentration, validate_args=None):
        concentration = as_param(concentration)
        if concentration.ndim < 1:
            raise ValueError("`concentration` parameter must be at least one-dimensional.")
        self.concentration = concentration
        super().__init__(concentration.shape[:-1], concentration.shape[-1:],
                         validate_args=validate_args)

    @property
    def mean(self):
        return self.concentration / self.concentration.sum(-1, keepdim=True)

    @property
    def mode(self):
        tg = _tg()
        c = self.concentration
        cm1 = (c - 1).clamp(min=0)
        total = cm1.sum(-1, keepdim=True)
        all_small = (c < 1).all(-1, keepdim=True)
        mode = cm1 / tg.where(all_small, tg.ones_like(total), total)
        # all concentrations below 1: torch puts the mode at the first corner (argmax of NaN)
        first = tg.zeros_like(c)
        first[..., 0] = 1.0
        return tg.where(all_small, first, mode)

    @property
    def variance(self):
        c = self.concentration
        c0 = c.sum(-1, keepdim=True)
        return c * (c0 - c) / (c0 ** 2 * (c0 + 1))

    def sample(self, sample_shape=()):
        g = standard_gamma("Dirichlet.sample", self.concentration.detach().expand(
            *(tuple(self.batch_shape) + tuple(self.event_shape))), tuple(sample_shape))
        out = g / g.sum(-1, keepdim=True)
        tiny = float(np.finfo(out.dtype).tiny)
        return out.clamp(tiny, 1 - float(np.finfo(out.dtype).eps))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        tg = _tg()
        c = self.concentration
        return (tg.xlogy(c - 1, value).sum(-1) + tg.lgamma(c.sum(-1))
                - tg.lgamma(c).sum(-1))

    def entropy(self):
        tg = _tg()
        c = self.concentration
        k = c.shape[-1]
        a0 = c.sum(-1)
        return (tg.lgamma(c).sum(-1) - tg.lgamma(a0) - (k - a0) * tg.digamma(a0)
                - ((c - 1) * tg.digamma(c)).sum(-1))


def batch_mahalanobis(scale_tril, x):
    """x^T (L L^T)^-1 x over the last dimension, L broadcast against x's batch."""
    tg = _tg()
    n = x.shape[-1]
    batch = np.broadcast_shapes(tuple(scale_tril.shape[:-2]), tuple(x.shape[:-1]))
    L = scale_tril.expand(*batch, n, n)
    x = x.expand(*batch, n)
    z = tg.linalg.solve_triangular(L, x.unsqueeze(-1), upper=False).squeeze(-1)
    return (z ** 2).sum(-1)


class MultivariateNormal(LocCentred, Distribution):
    """The multivariate normal distribution with mean ``loc`` and a covariance given by
    exactly one of ``covariance_matrix``, ``precision_matrix`` or ``scale_tril`` (its lower
    Cholesky factor).

    >>> import tensorgrad as tg
    >>> d = tg.distributions.MultivariateNormal(tg.zeros(2), scale_tril=tg.eye(2))
    >>> d.event_shape, round(d.log_prob(tg.zeros(2)).item(), 4)
    (tg.Size([2]), -1.8379)
    """

    arg_constraints = {"loc": constraints.real_vector,
                       "covariance_matrix": constraints.positive_definite,
                       "precision_matrix": constraints.positive_definite,
                       "scale_tril": constraints.lower_cholesky}
    _param_event_dims = {"loc": 1, "covariance_matrix": 2, "precision_matrix": 2,
                         "scale_tril": 2}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc, covariance_matrix=None, precision_matrix=None, scale_tril=None,
                 validate_args=None):
        tg = _tg()
        loc = as_param(loc)
        if loc.ndim < 1:
            raise ValueError("loc must be at least one-dimensional.")
        given = [(n, m) for n, m in (("covariance_matrix", covariance_matrix),
                                     ("precision_matrix", precision_matrix),
                                     ("scale_tril", scale_tril)) if m is not None]
        if len(given) != 1:
            raise ValueError("Exactly one of covariance_matrix or precision_matrix or "
                             "scale_tril may be specified.")
        name, matrix = given[0]
        matrix = as_param(matrix)
        if matrix.ndim < 2:
            raise ValueError(f"{name} matrix must be at least two-dimensional, with optional "
                             "leading batch dimensions")
        n = loc.shape[-1]
        if tuple(matrix.shape[-2:]) != (n, n):
            raise ValueError(f"MultivariateNormal: {name} of shape {tuple(matrix.shape)} does "
                             f"not match loc of shape {tuple(loc.shape)}")
        batch_shape = np.broadcast_shapes(tuple(matrix.shape[:-2]), tuple(loc.shape[:-1]))
        self.__dict__[name] = matrix.expand(*batch_shape, n, n)
        self.loc = loc.expand(*batch_shape, n)
        super().__init__(batch_shape, (n,), validate_args=validate_args)
        if name == "scale_tril":
            self._unbroadcasted_scale_tril = matrix
        elif name == "covariance_matrix":
            self._unbroadcasted_scale_tril = tg.linalg.cholesky(matrix)
        else:
            self._unbroadcasted_scale_tril = tg.linalg.cholesky(tg.linalg.inv(matrix))

    def _expand_extra(self, new, batch_shape):
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril

    def _full(self, m):
        n = self.event_shape[0]
        return m.expand(*(tuple(self.batch_shape) + (n, n)))

    @lazy_property
    def scale_tril(self):
        return self._full(self._unbroadcasted_scale_tril)

    @lazy_property
    def covariance_matrix(self):
        L = self._unbroadcasted_scale_tril
        return self._full(L @ L.transpose(-1, -2))

    @lazy_property
    def precision_matrix(self):
        L = self._unbroadcasted_scale_tril
        return self._full(_tg().linalg.inv(L @ L.transpose(-1, -2)))

    @property
    def variance(self):
        v = (self._unbroadcasted_scale_tril ** 2).sum(-1)
        return v.expand(*(tuple(self.batch_shape) + tuple(self.event_shape)))

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        eps = standard_normal("MultivariateNormal.rsample", shape, self.loc)
        return self.loc + (self._unbroadcasted_scale_tril @ eps.unsqueeze(-1)).squeeze(-1)

    def _half_log_det(self):
        L = self._unbroadcasted_scale_tril
        return L.diagonal(dim1=-2, dim2=-1).log().sum(-1)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        diff = value - self.loc
        m = batch_mahalanobis(self._unbroadcasted_scale_tril, diff)
        n = self.event_shape[0]
        return -0.5 * (n * math.log(2 * math.pi) + m) - self._half_log_det()

    def entropy(self):
        n = self.event_shape[0]
        h = 0.5 * n * (1.0 + math.log(2 * math.pi)) + self._half_log_det()
        return h.expand(*self.batch_shape) if len(self.batch_shape) else h


class Independent(Distribution):
    """``base_distribution`` with its ``reinterpreted_batch_ndims`` rightmost batch dimensions
    read as event dimensions: log_prob and entropy are summed over them.

    >>> import tensorgrad as tg
    >>> base = tg.distributions.Normal(tg.zeros(3, 2), tg.ones(3, 2))
    >>> d = tg.distributions.Independent(base, 1)
    >>> d.batch_shape, d.event_shape
    (tg.Size([3]), tg.Size([2]))
    """

    arg_constraints = {}

    def __init__(self, base_distribution, reinterpreted_batch_ndims, validate_args=None):
        n = int(reinterpreted_batch_ndims)
        if n > len(base_distribution.batch_shape):
            raise ValueError("Expected reinterpreted_batch_ndims <= "
                             "len(base_distribution.batch_shape), actual "
                             f"{n} vs {len(base_distribution.batch_shape)}")
        shape = tuple(base_distribution.batch_shape) + tuple(base_distribution.event_shape)
        event_dim = n + len(base_distribution.event_shape)
        self.base_dist = base_distribution
        self.reinterpreted_batch_ndims = n
        super().__init__(shape[:len(shape) - event_dim], shape[len(shape) - event_dim:],
                         validate_args=validate_args)

    def _expand_extra(self, new, batch_shape):
        n = self.reinterpreted_batch_ndims
        new.base_dist = self.base_dist.expand(batch_shape + tuple(self.event_shape[:n]))
        new.reinterpreted_batch_ndims = n

    @property
    def has_rsample(self):
        return self.base_dist.has_rsample

    @property
    def has_enumerate_support(self):
        return False if self.reinterpreted_batch_ndims else self.base_dist.has_enumerate_support

    @constraints.dependent_property
    def support(self):
        result = self.base_dist.support
        if self.reinterpreted_batch_ndims:
            result = constraints.independent(result, self.reinterpreted_batch_ndims)
        return result

    @property
    def mean(self):
        return self.base_dist.mean

    @property
    def mode(self):
        return self.base_dist.mode

    @property
    def variance(self):
        return self.base_dist.variance

    def sample(self, sample_shape=()):
        return self.base_dist.sample(sample_shape)

    def rsample(self, sample_shape=()):
        return self.base_dist.rsample(sample_shape)

    def log_prob(self, value):
        return sum_rightmost(self.base_dist.log_prob(value), self.reinterpreted_batch_ndims)

    def entropy(self):
        return sum_rightmost(self.base_dist.entropy(), self.reinterpreted_batch_ndims)

    def __repr__(self):
        return f"Independent({self.base_dist!r}, {self.reinterpreted_batch_ndims})"
