"""The multivariate normal distribution (``scipy.stats.multivariate_normal``'s functions),
differentiable in ``x``, ``mean`` and ``cov`` (through a Cholesky factor; gradients with
respect to ``cov`` are symmetric).

``x`` is (d,) for one point or (..., d) for many; ``cov`` a (d, d) matrix, a vector (its
diagonal) or a scalar (times the identity).

>>> import numpy as np
>>> from tensorgrad.scipy.stats import multivariate_normal
>>> round(float(multivariate_normal.logpdf(np.zeros(2), np.zeros(2), np.eye(2))), 6)
-1.837877
"""

import math

import numpy as np

from ... import numpy as tnp
from ...backend.device import xp_of
from ..linalg import solve_triangular
from ._common import as_array, raw

_LOG_2PI = math.log(2 * math.pi)


def _dim(mean, cov):
    """The dimension, as SciPy infers it: from ``mean``, else from ``cov``, else 1."""
    for v in (mean, cov):
        if v is not None and np.ndim(raw(v)) >= 1:
            return np.shape(raw(v))[-1]
    return 1


def _cov_matrix(cov, d, *like):
    """The covariance as a (d, d) matrix; a number times the identity lives where the first
    array among ``cov`` and ``like`` (the points, the mean) does."""
    cov = as_array(cov)
    nd = np.ndim(raw(cov))
    if nd == 0:
        xp = np
        for v in (cov,) + like:
            if hasattr(raw(v), "shape") and xp_of(raw(v)) is not np:
                xp = xp_of(raw(v))
                break
        return cov * xp.eye(d)
    if nd == 1:
        return tnp.diag(cov)
    return cov


def _points(x, d):
    """x as (..., d): with d == 1 a scalar or a vector holds one point per element."""
    x = as_array(x)
    nd = np.ndim(raw(x))
    if d == 1 and (nd == 0 or np.shape(raw(x))[-1] != 1):
        return tnp.expand_dims(x, -1)
    return x


def logpdf(x, mean=None, cov=1, allow_singular=False):
    if allow_singular:
        raise NotImplementedError("multivariate_normal.logpdf: allow_singular=True is not "
                                  "supported (no derivative for a singular covariance)")
    d = _dim(mean, cov)
    x = _points(x, d)
    diff = x if mean is None else x - as_array(mean)
    low = tnp.linalg.cholesky(_cov_matrix(cov, d, x, mean))
    flat = tnp.reshape(diff, (-1, d))
    z = solve_triangular(low, tnp.transpose(flat), lower=True)  # (d, n)
    maha = tnp.sum(tnp.square(z), axis=0)
    half_logdet = tnp.sum(tnp.log(tnp.diagonal(low)))
    out = -0.5 * (d * _LOG_2PI + maha) - half_logdet
    shape = np.shape(raw(diff))[:-1]
    return tnp.reshape(out, shape)


def pdf(x, mean=None, cov=1, allow_singular=False):
    return tnp.exp(logpdf(x, mean, cov, allow_singular))


def entropy(mean=None, cov=1):
    d = _dim(mean, cov)
    low = tnp.linalg.cholesky(_cov_matrix(cov, d, mean))
    return 0.5 * d * (1 + _LOG_2PI) + tnp.sum(tnp.log(tnp.diagonal(low)))
