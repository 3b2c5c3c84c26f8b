"""Families whose draws are matrices: LKJCholesky (Cholesky factors of correlation matrices,
drawn by the onion method) and Wishart (positive definite matrices, drawn by the Bartlett
decomposition with reparameterised chi-square diagonals, so ``rsample`` is differentiable in
``df`` and in the scale matrix)."""

import math
import warnings

import numpy as np

from . import constraints
from .continuous import Beta, Chi2
from .distribution import (
    Distribution,
    ExponentialFamily,
    as_param,
    broadcast_all,
    standard_normal,
)
from .multivariate import ScaleTrilMatrices, scale_tril_of

__all__ = ["LKJCholesky", "Wishart"]

LOG_2 = math.log(2.0)


def _tg():
    import tensorgrad

    return tensorgrad


class LKJCholesky(Distribution):
    """The LKJ distribution of lower Cholesky factors L of ``dim`` x ``dim`` correlation
    matrices: the density of M = L L^T is proportional to det(M)^(concentration - 1)
    (``concentration`` 1 is uniform over correlation matrices), as torch's LKJCholesky.
    ``sample`` uses the onion method (Lewandowski, Kurowicka and Joe 2009, section 3): row i of
    L is sqrt(y_i) times a uniform direction in its first i coordinates, with
    y_i ~ Beta(i / 2, concentration + (dim - 1 - i) / 2), and the diagonal completes the unit
    norm. Each off-diagonal correlation has the marginal (r + 1) / 2 ~
    Beta(c + dim / 2 - 1, c + dim / 2 - 1).

    >>> import tensorgrad as tg
    >>> d = tg.distributions.LKJCholesky(3, tg.tensor(2.0))
    >>> L = d.sample()
    >>> L.shape, d.event_shape
    ((3, 3), tg.Size([3, 3]))
    >>> bool(((L @ L.T).diagonal() - 1).abs().max() < 1e-5)
    True
    """

    arg_constraints = {"concentration": constraints.positive}
    _param_event_dims = {"concentration": 0}
    support = constraints.corr_cholesky

    def __init__(self, dim, concentration=1.0, validate_args=None):
        tg = _tg()
        if int(dim) != dim or dim < 2:
            raise ValueError(f"LKJCholesky: expected dim to be an integer greater than or "
                             f"equal to 2, found dim={dim}.")
        self.dim = int(dim)
        (self.concentration,) = broadcast_all(concentration)
        c = self.concentration
        # onion method: row i >= 1 has y_i ~ Beta(i / 2, c + (dim - 2) / 2 - (i - 1) / 2);
        # row 0 needs no draw (its Beta is a placeholder, its y is unused). torch 2.13 takes
        # i - 1/2 for the first shape (its offset + 0.5 lacks the paper's factor 1/2), which
        # leaves rows 2.. off the LKJ marginals; this follows the paper
        offset = tg.arange(self.dim - 1, dtype=c.dtype, device=c.device)
        offset = tg.cat([tg.zeros(1, dtype=c.dtype, device=c.device), offset])
        marginal = c + 0.5 * (self.dim - 2)
        self._beta = Beta(0.5 * offset + 0.5, marginal.unsqueeze(-1) - 0.5 * offset,
                          validate_args=False)
        super().__init__(c.shape, (self.dim, self.dim), validate_args=validate_args)

    def _expand_extra(self, new, batch_shape):
        new.dim = self.dim
        new._beta = self._beta.expand(tuple(batch_shape) + (self.dim,))

    def sample(self, sample_shape=()):
        tg = _tg()
        with tg.no_grad():
            y = self._beta.sample(sample_shape).unsqueeze(-1)
            shape = self._extended_shape(sample_shape)
            u = standard_normal("LKJCholesky.sample", shape, y).tril(-1)
            norm = u.norm(dim=-1, keepdim=True)
            # row 0 is all zeros (0 / 1 keeps it so, where torch divides 0 by 0 and refills)
            u = u / tg.where(norm == 0, tg.ones_like(norm), norm)
            w = y.sqrt() * u
            tiny = float(np.finfo(w.dtype).tiny)
            diag = (1 - (w ** 2).sum(-1)).clamp(min=tiny).sqrt()
            return (w + tg.diag_embed(diag)).detach()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        tg = _tg()
        c = self.concentration
        diag = value.diagonal(dim1=-2, dim2=-1)[..., 1:]
        order = tg.arange(2, self.dim + 1, dtype=c.dtype, device=c.device)
        order = 2 * (c - 1).unsqueeze(-1) + self.dim - order
        unnormalized = (order * diag.log()).sum(-1)
        dm1 = self.dim - 1
        alpha = c + 0.5 * dm1
        normalizer = (0.5 * dm1 * math.log(math.pi) + tg.mvlgamma(alpha - 0.5, dm1)
                      - tg.lgamma(alpha) * dm1)
        return unnormalized - normalizer

    def __repr__(self):
        return f"LKJCholesky(dim: {self.dim}, concentration: {self.concentration})"


def _mvdigamma(x, p):
    """The multivariate digamma function: sum of digamma(x - i / 2) for i < p."""
    tg = _tg()
    half = tg.arange(p, dtype=x.dtype, device=x.device) / 2
    return tg.digamma(x.unsqueeze(-1) - half).sum(-1)


class Wishart(ScaleTrilMatrices, ExponentialFamily):
    """The Wishart distribution of ``p`` x ``p`` positive definite matrices with ``df``
    degrees of freedom (``df > p - 1``) and scale Sigma, given by exactly one of
    ``covariance_matrix`` (Sigma), ``precision_matrix`` (Sigma^-1) or ``scale_tril`` (its
    lower Cholesky factor L), as torch's Wishart: mean ``df * Sigma``.

    ``rsample`` is the Bartlett decomposition X = (L A)(L A)^T with A lower triangular,
    A_ii = sqrt(chi2(df - i)) drawn by the reparameterised Chi2 and standard normals below the
    diagonal, so gradients flow to ``df`` and to the matrix parameter. Draws that are not
    numerically positive definite are redrawn up to ``max_try_correction`` times (default 10)
    with a warning, as torch's.

    >>> import tensorgrad as tg
    >>> df = tg.tensor(4.0, requires_grad=True)
    >>> d = tg.distributions.Wishart(df, covariance_matrix=tg.eye(2))
    >>> d.mean.tolist()
    [[4.0, 0.0], [0.0, 4.0]]
    >>> d.rsample((3,)).sum().backward()
    >>> df.grad.shape
    ()
    """

    support = constraints.positive_definite
    has_rsample = True
    _mean_carrier_measure = 0
    _param_event_dims = {"df": 0, "covariance_matrix": 2, "precision_matrix": 2,
                         "scale_tril": 2}

    @property
    def arg_constraints(self):
        return {"covariance_matrix": constraints.positive_definite,
                "precision_matrix": constraints.positive_definite,
                "scale_tril": constraints.lower_cholesky,
                "df": constraints.greater_than(self.event_shape[-1] - 1)}

    def __init__(self, df, covariance_matrix=None, precision_matrix=None, scale_tril=None,
                 validate_args=None):
        tg = _tg()
        given = [(n, m) for n, m in (("covariance_matrix", covariance_matrix),
                                     ("precision_matrix", precision_matrix),
                                     ("scale_tril", scale_tril)) if m is not None]
        if len(given) != 1:
            raise ValueError("Wishart: exactly one of covariance_matrix or precision_matrix or "
                             "scale_tril may be specified.")
        name, matrix = given[0]
        matrix = as_param(matrix)
        if matrix.ndim < 2 or matrix.shape[-1] != matrix.shape[-2]:
            raise ValueError(f"Wishart: {name} must be a batch of square matrices (..., p, p), "
                             f"got shape {tuple(matrix.shape)}")
        p = matrix.shape[-1]
        if not isinstance(df, tg.Tensor):  # a number takes the matrix's dtype and device
            df = tg.tensor(float(df), dtype=matrix.dtype, device=matrix.device)
        batch_shape = tuple(np.broadcast_shapes(tuple(matrix.shape[:-2]), tuple(df.shape)))
        self.df = df.expand(*batch_shape)
        if bool((self.df.detach() <= p - 1).any().item()):
            raise ValueError(f"Wishart: value of df={df} expected to be greater than "
                             f"ndim - 1 = {p - 1}.")
        if bool((self.df.detach() < p).any().item()):
            warnings.warn("Low df values detected. Singular samples are highly likely to "
                          "occur for ndim - 1 < df < ndim.", stacklevel=2)
        self.__dict__[name] = matrix.expand(*batch_shape, p, p)
        super().__init__(batch_shape, (p, p), validate_args=validate_args)
        self._unbroadcasted_scale_tril = scale_tril_of(name, matrix)
        self._dist_chi2 = self._chi2()

    def _chi2(self):
        # the Bartlett diagonal: A_ii^2 ~ chi2(df - i), i = 0 .. p - 1
        tg = _tg()
        L = self._unbroadcasted_scale_tril
        p = self._event_shape[-1]
        steps = tg.arange(p, dtype=L.dtype, device=L.device)
        df = self.df.expand(*self._batch_shape).unsqueeze(-1) - steps
        return Chi2(df, validate_args=False)

    def _expand_extra(self, new, batch_shape):
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril
        new._event_shape = self._event_shape
        new._batch_shape = tuple(batch_shape)
        new._dist_chi2 = new._chi2()

    def _full(self, m):
        return m.expand(*(tuple(self._batch_shape) + tuple(self._event_shape)))

    def _df_matrix(self):
        return self.df.reshape(*(tuple(self._batch_shape) + (1, 1)))

    @property
    def mean(self):
        return self._df_matrix() * self.covariance_matrix

    @property
    def mode(self):
        tg = _tg()
        factor = self.df - self._event_shape[-1] - 1
        factor = tg.where(factor <= 0, tg.full_like(factor, float("nan")), factor)
        return factor.reshape(*(tuple(self._batch_shape) + (1, 1))) * self.covariance_matrix

    @property
    def variance(self):
        V = self.covariance_matrix
        d = V.diagonal(dim1=-2, dim2=-1)
        return self._df_matrix() * (V ** 2 + d.unsqueeze(-1) * d.unsqueeze(-2))

    def _bartlett(self, sample_shape):
        tg = _tg()
        sample_shape = tuple(sample_shape)
        p = self._event_shape[-1]
        eps = float(np.finfo(self._unbroadcasted_scale_tril.dtype).eps)
        diag = self._dist_chi2.rsample(sample_shape).sqrt().clamp(min=eps)
        below = standard_normal("Wishart.rsample",
                                sample_shape + tuple(self._batch_shape) + (p, p),
                                diag).tril(-1)
        chol = self._unbroadcasted_scale_tril @ (below + tg.diag_embed(diag))
        return chol @ chol.transpose(-1, -2)

    def _singular(self, sample, n_sample_dims):
        bad = ~self.support.check(sample.detach())
        for _ in range(len(self._batch_shape)):
            bad = bad.any(-1)
        return bad.reshape(*(tuple(bad.shape) + (1,) * (sample.ndim - n_sample_dims)))

    def rsample(self, sample_shape=(), max_try_correction=None):
        """A reparameterised draw (Bartlett decomposition); draws that are not numerically
        positive definite (likely for df below p) are redrawn, whole batches at a time, up to
        ``max_try_correction`` times (default 10), with a warning."""
        tg = _tg()
        if max_try_correction is None:
            max_try_correction = 10
        sample_shape = tuple(sample_shape)
        sample = self._bartlett(sample_shape)
        singular = self._singular(sample, len(sample_shape))
        if bool(singular.any().item()):
            warnings.warn("Wishart.rsample: singular sample detected.", stacklevel=2)
            for _ in range(int(max_try_correction)):
                sample = tg.where(singular, self._bartlett(sample_shape), sample)
                singular = self._singular(sample, len(sample_shape))
                if not bool(singular.any().item()):
                    break
        return sample

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        tg = _tg()
        nu = self.df
        p = self._event_shape[-1]
        L = self._unbroadcasted_scale_tril
        half_log_det = L.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        trace = tg.cholesky_solve(value, L).diagonal(dim1=-2, dim2=-1).sum(-1)
        return (-nu * (p * LOG_2 / 2 + half_log_det) - tg.mvlgamma(nu / 2, p)
                + (nu - p - 1) / 2 * tg.linalg.slogdet(value).logabsdet - trace / 2)

    def entropy(self):
        tg = _tg()
        nu = self.df
        p = self._event_shape[-1]
        L = self._unbroadcasted_scale_tril
        half_log_det = L.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        return ((p + 1) * (p * LOG_2 / 2 + half_log_det) + tg.mvlgamma(nu / 2, p)
                - (nu - p - 1) / 2 * _mvdigamma(nu / 2, p) + nu * p / 2)

    @property
    def _natural_params(self):
        p = self._event_shape[-1]
        return -self.precision_matrix / 2, (self.df - p - 1) / 2

    def _log_normalizer(self, x, y):
        tg = _tg()
        p = self._event_shape[-1]
        a = y + (p + 1) / 2
        return a * (-tg.linalg.slogdet(-2 * x).logabsdet + LOG_2 * p) + tg.mvlgamma(a, p)

    def __repr__(self):
        name = next(n for n in ("covariance_matrix", "precision_matrix", "scale_tril")
                    if n in self.__dict__)
        return f"Wishart(df: {self.df if self.df.numel() == 1 else tuple(self.df.shape)}, " \
               f"{name}: {tuple(self.__dict__[name].shape)})"
