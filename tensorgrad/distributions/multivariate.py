"""Families with a vector event: Dirichlet, MultivariateNormal, LowRankMultivariateNormal;
Independent, which turns batch dimensions of any distribution into event dimensions; and
MixtureSameFamily."""

import math

import numpy as np

from . import constraints
from .continuous import standard_gamma, standard_gamma_r
from .distribution import (
    Distribution,
    ExponentialFamily,
    LocCentred,
    as_param,
    lazy_property,
    standard_normal,
)

__all__ = ["Dirichlet", "MultivariateNormal", "Independent", "LowRankMultivariateNormal",
           "MixtureSameFamily"]


def _tg():
    import tensorgrad

    return tensorgrad


def sum_rightmost(value, dim):
    """``value`` summed over its ``dim`` rightmost dimensions."""
    for _ in range(dim):
        value = value.sum(-1)
    return value


class Dirichlet(ExponentialFamily):
    """The Dirichlet distribution on the simplex, with positive ``concentration`` (its last
    dimension is the event).

    Draws are normalised gamma draws; ``rsample`` differentiates them through Gamma's exact
    implicit reparameterisation (torch's Dirichlet uses the implicit gradient of the marginal
    Beta CDF instead: the same distribution of gradients, not the same gradient per draw)."""

    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    _param_event_dims = {"concentration": 1}
    support = constraints.simplex
    has_rsample = True

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

    def rsample(self, sample_shape=()):
        g = standard_gamma_r("Dirichlet.rsample", self.concentration.expand(
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

    # exponential family (torch's parameterisation): theta = concentration, t(x) = log x
    @property
    def _natural_params(self):
        return (self.concentration,)

    def _log_normalizer(self, x):
        tg = _tg()
        return tg.lgamma(x).sum(-1) - tg.lgamma(x.sum(-1))

    @property
    def _mean_carrier_measure(self):
        # E[-sum log x_i] for the carrier prod 1 / x_i (torch leaves it undefined)
        tg = _tg()
        c = self.concentration
        return (tg.digamma(c.sum(-1)).unsqueeze(-1) - tg.digamma(c)).sum(-1)


def batch_mahalanobis(scale_tril, x):
    """x^T (L L^T)^-1 x over the last dimension, L broadcast against x's batch."""
    tg = _tg()
    n = x.shape[-1]
    batch = np.broadcast_shapes(tuple(scale_tril.shape[:-2]), tuple(x.shape[:-1]))
    L = scale_tril.expand(*batch, n, n)
    x = x.expand(*batch, n)
    z = tg.linalg.solve_triangular(L, x.unsqueeze(-1), upper=False).squeeze(-1)
    return (z ** 2).sum(-1)


def scale_tril_of(name, matrix):
    """The lower Cholesky factor L of the covariance given by one of ``covariance_matrix``
    (L L^T), ``precision_matrix`` (its inverse) or ``scale_tril`` (L itself)."""
    tg = _tg()
    if name == "scale_tril":
        return matrix
    if name == "covariance_matrix":
        return tg.linalg.cholesky(matrix)
    return tg.linalg.cholesky(tg.linalg.inv(matrix))


class ScaleTrilMatrices:
    """``scale_tril``, ``covariance_matrix`` and ``precision_matrix`` of a family kept as the
    lower Cholesky factor ``_unbroadcasted_scale_tril``; ``_full(m)`` expands a matrix of the
    factor's shape to the batch shape."""

    @lazy_property
    def scale_tril(self):
        return self._full(self._unbroadcasted_scale_tril)

    @lazy_property
    def covariance_matrix(self):
        L = self._unbroadcasted_scale_tril
        return self._full(L @ L.transpose(-1, -2))

    @lazy_property
    def precision_matrix(self):
        tg = _tg()
        L = self._unbroadcasted_scale_tril
        eye = tg.eye(L.shape[-1], dtype=L.dtype, device=L.device)
        return self._full(tg.cholesky_solve(eye, L))


class MultivariateNormal(ScaleTrilMatrices, LocCentred, Distribution):
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
        self._unbroadcasted_scale_tril = scale_tril_of(name, matrix)

    def _expand_extra(self, new, batch_shape):
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril

    def _full(self, m):
        n = self.event_shape[0]
        return m.expand(*(tuple(self.batch_shape) + (n, n)))


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


def _lowrank_capacitance_tril(W, D):
    """Cholesky factor of the capacitance matrix I + W^T D^-1 W (m x m, m the rank)."""
    tg = _tg()
    m = W.shape[-1]
    Wt_Dinv = W.transpose(-1, -2) / D.unsqueeze(-2)
    K = Wt_Dinv @ W
    return tg.linalg.cholesky(K + tg.eye(m, dtype=W.dtype, device=W.device))


class LowRankMultivariateNormal(LocCentred, Distribution):
    """The multivariate normal distribution with covariance
    ``cov_factor @ cov_factor.T + diag(cov_diag)``; densities use the Woodbury identity and
    the matrix determinant lemma (an m x m Cholesky factor, m the rank), as torch's."""

    arg_constraints = {"loc": constraints.real_vector,
                       "cov_factor": constraints.independent(constraints.real, 2),
                       "cov_diag": constraints.independent(constraints.positive, 1)}
    _param_event_dims = {"loc": 1, "cov_factor": 2, "cov_diag": 1}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc, cov_factor, cov_diag, validate_args=None):
        loc, cov_factor, cov_diag = as_param(loc), as_param(cov_factor), as_param(cov_diag)
        if loc.ndim < 1:
            raise ValueError("loc must be at least one-dimensional.")
        n = loc.shape[-1]
        if cov_factor.ndim < 2:
            raise ValueError("cov_factor must be at least two-dimensional, with optional "
                             "leading batch dimensions")
        if cov_factor.shape[-2] != n:
            raise ValueError(f"cov_factor must be a batch of matrices with shape {n} x m, got "
                             f"{tuple(cov_factor.shape)}")
        if tuple(cov_diag.shape[-1:]) != (n,):
            raise ValueError(f"cov_diag must be a batch of vectors with shape {(n,)}, got "
                             f"{tuple(cov_diag.shape)}")
        batch = np.broadcast_shapes(tuple(loc.shape[:-1]), tuple(cov_factor.shape[:-2]),
                                    tuple(cov_diag.shape[:-1]))
        m = cov_factor.shape[-1]
        self.loc = loc.expand(*batch, n)
        self.cov_factor = cov_factor.expand(*batch, n, m)
        self.cov_diag = cov_diag.expand(*batch, n)
        self._unbroadcasted_cov_factor = cov_factor
        self._unbroadcasted_cov_diag = cov_diag
        self._capacitance_tril = _lowrank_capacitance_tril(cov_factor, cov_diag)
        super().__init__(batch, (n,), validate_args=validate_args)

    def _expand_extra(self, new, batch_shape):
        new._unbroadcasted_cov_factor = self._unbroadcasted_cov_factor
        new._unbroadcasted_cov_diag = self._unbroadcasted_cov_diag
        new._capacitance_tril = self._capacitance_tril

    def _full(self, m):
        n = self.event_shape[0]
        return m.expand(*(tuple(self.batch_shape) + (n, n)))

    @property
    def variance(self):
        v = (self._unbroadcasted_cov_factor ** 2).sum(-1) + self._unbroadcasted_cov_diag
        return v.expand(*(tuple(self.batch_shape) + tuple(self.event_shape)))

    @lazy_property
    def covariance_matrix(self):
        W = self._unbroadcasted_cov_factor
        return self._full(W @ W.transpose(-1, -2) + self._unbroadcasted_cov_diag.diag_embed())

    @lazy_property
    def scale_tril(self):
        return _tg().linalg.cholesky(self.covariance_matrix)

    @lazy_property
    def precision_matrix(self):
        # Woodbury: D^-1 - D^-1 W C^-1 W^T D^-1, C = L L^T the capacitance
        tg = _tg()
        W, D = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
        Wt_Dinv = W.transpose(-1, -2) / D.unsqueeze(-2)
        A = tg.linalg.solve_triangular(self._capacitance_tril, Wt_Dinv, upper=False)
        return self._full(D.reciprocal().diag_embed() - A.transpose(-1, -2) @ A)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        m = self._unbroadcasted_cov_factor.shape[-1]
        eps_w = standard_normal("LowRankMultivariateNormal.rsample", shape[:-1] + (m,),
                                self.loc)
        eps_d = standard_normal("LowRankMultivariateNormal.rsample", shape, self.loc)
        low_rank = (self._unbroadcasted_cov_factor @ eps_w.unsqueeze(-1)).squeeze(-1)
        return self.loc + low_rank + self._unbroadcasted_cov_diag.sqrt() * eps_d

    def _log_det(self):
        L = self._capacitance_tril
        return (2 * L.diagonal(dim1=-2, dim2=-1).log().sum(-1)
                + self._unbroadcasted_cov_diag.log().sum(-1))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        tg = _tg()
        diff = value - self.loc
        W, D = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
        Wt_Dinv_x = ((W / D.unsqueeze(-1)).transpose(-1, -2) @ diff.unsqueeze(-1))
        L = self._capacitance_tril
        batch = np.broadcast_shapes(tuple(L.shape[:-2]), tuple(Wt_Dinv_x.shape[:-2]))
        m = L.shape[-1]
        z = tg.linalg.solve_triangular(L.expand(*batch, m, m),
                                       Wt_Dinv_x.expand(*batch, m, 1), upper=False)
        mahalanobis = (diff ** 2 / D).sum(-1) - (z ** 2).sum((-2, -1))
        n = self.event_shape[0]
        return -0.5 * (n * math.log(2 * math.pi) + self._log_det() + mahalanobis)

    def entropy(self):
        n = self.event_shape[0]
        h = 0.5 * (n * (1.0 + math.log(2 * math.pi)) + self._log_det())
        return h.expand(*self.batch_shape) if len(self.batch_shape) else h


class MixtureSameFamily(Distribution):
    """A mixture of the components of one batched distribution: ``mixture_distribution`` (a
    Categorical over the rightmost batch dimension of ``component_distribution``) picks the
    component. log_prob is a logsumexp over components, differentiable in both."""

    arg_constraints = {}
    has_rsample = False

    def __init__(self, mixture_distribution, component_distribution, validate_args=None):
        from .discrete import Categorical

        self._mixture_distribution = mixture_distribution
        self._component_distribution = component_distribution
        if not isinstance(mixture_distribution, Categorical):
            raise ValueError("The Mixture distribution needs to be an instance of "
                             "torch.distributions.Categorical")
        if not isinstance(component_distribution, Distribution):
            raise ValueError("The Component distribution need to be an instance of "
                             "torch.distributions.Distribution")
        mdbs = tuple(mixture_distribution.batch_shape)
        cdbs = tuple(component_distribution.batch_shape)[:-1]
        for a, b in zip(reversed(mdbs), reversed(cdbs)):
            if a != 1 and b != 1 and a != b:
                raise ValueError(f"`mixture_distribution.batch_shape` ({mdbs}) is not "
                                 "compatible with `component_distribution.batch_shape`"
                                 f"({cdbs})")
        km = mixture_distribution.logits.shape[-1]
        kc = component_distribution.batch_shape[-1]
        if km != kc:
            raise ValueError(f"`mixture_distribution component` ({km}) does not equal "
                             f"`component_distribution.batch_shape[-1]` ({kc})")
        self._num_component = km
        self._event_ndims = len(component_distribution.event_shape)
        super().__init__(cdbs, component_distribution.event_shape,
                         validate_args=validate_args)

    def _expand_extra(self, new, batch_shape):
        new._component_distribution = self._component_distribution.expand(
            batch_shape + (self._num_component,))
        new._mixture_distribution = self._mixture_distribution.expand(batch_shape)
        new._num_component = self._num_component
        new._event_ndims = self._event_ndims

    @constraints.dependent_property
    def support(self):
        return self._component_distribution.support

    @property
    def mixture_distribution(self):
        return self._mixture_distribution

    @property
    def component_distribution(self):
        return self._component_distribution

    def _pad_mixture(self, t):
        # mixture weights (batch, K) -> (batch, K, 1 per event dim)
        return t.reshape(*(tuple(t.shape) + (1,) * self._event_ndims))

    def _pad(self, x):
        return x.unsqueeze(-1 - self._event_ndims)

    @property
    def mean(self):
        probs = self._pad_mixture(self.mixture_distribution.probs)
        return (probs * self.component_distribution.mean).sum(-1 - self._event_ndims)

    @property
    def variance(self):
        probs = self._pad_mixture(self.mixture_distribution.probs)
        dim = -1 - self._event_ndims
        mean_cond_var = (probs * self.component_distribution.variance).sum(dim)
        var_cond_mean = (probs * (self.component_distribution.mean
                                  - self._pad(self.mean)) ** 2).sum(dim)
        return mean_cond_var + var_cond_mean

    def cdf(self, x):
        x = self._pad(x)
        cdf_x = self.component_distribution.cdf(x)
        return (cdf_x * self.mixture_distribution.probs).sum(-1)

    def log_prob(self, x):
        if self._validate_args:
            self._validate_sample(x)
        x = self._pad(x)
        log_prob_x = self.component_distribution.log_prob(x)
        log_mix = self.mixture_distribution.logits.log_softmax(-1)
        return (log_prob_x + log_mix).logsumexp(-1)

    def sample(self, sample_shape=()):
        from .. import no_grad

        sample_shape = tuple(sample_shape)
        with no_grad():
            index = self.mixture_distribution.sample(sample_shape)
            comp = self.component_distribution.sample(sample_shape)
            es = tuple(self.event_shape)
            index = index.reshape(*(tuple(index.shape) + (1,) * (1 + len(es))))
            index = index.expand(*(tuple(index.shape[:-1 - len(es)]) + (1,) + es))
            return comp.gather(-1 - len(es), index).squeeze(-1 - len(es)).detach()

    def __repr__(self):
        return (f"MixtureSameFamily(\n  {self.mixture_distribution!r},\n  "
                f"{self.component_distribution!r})")
