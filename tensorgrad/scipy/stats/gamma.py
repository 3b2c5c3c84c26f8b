"""The gamma distribution (``scipy.stats.gamma``'s functions, shape ``a``), differentiable in
``x``, ``a``, ``loc`` and ``scale`` (``cdf``: not in ``a``).

>>> from tensorgrad.scipy.stats import gamma
>>> round(float(gamma.logpdf(1.0, 1.0)), 6)  # exponential: -1
-1.0
"""

from ... import numpy as tnp
from .. import special
from ._common import as_array, raw, restrict, weak


def _z(x, loc, scale):
    return (as_array(x) - as_array(loc)) / as_array(scale)


def logpdf(x, a, loc=0.0, scale=1.0):
    a, scale = as_array(a), as_array(scale)
    z = _z(x, loc, scale)
    value = (special.xlogy(a - 1, z) - z - weak(special.gammaln, a)
             - weak(tnp.log, scale))
    return restrict(value, raw(z) >= 0)


def pdf(x, a, loc=0.0, scale=1.0):
    return tnp.exp(logpdf(x, a, loc, scale))


def cdf(x, a, loc=0.0, scale=1.0):
    z = _z(x, loc, scale)
    return restrict(special.gammainc(as_array(a), z), raw(z) >= 0, 0.0)


def logcdf(x, a, loc=0.0, scale=1.0):
    return tnp.log(cdf(x, a, loc, scale))
