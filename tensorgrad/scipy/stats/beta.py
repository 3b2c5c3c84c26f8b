"""The beta distribution (``scipy.stats.beta``'s functions), differentiable in ``x``, ``a``,
``b``, ``loc`` and ``scale`` (``cdf``: not in ``a`` and ``b``).

>>> from tensorgrad.scipy.stats import beta
>>> round(float(beta.pdf(0.5, 2.0, 2.0)), 6)  # 6 x (1 - x)
1.5
"""

from ... import numpy as tnp
from .. import special
from ._common import as_array, raw, restrict, weak


def _z(x, loc, scale):
    return (as_array(x) - as_array(loc)) / as_array(scale)


def logpdf(x, a, b, loc=0.0, scale=1.0):
    a, b, scale = as_array(a), as_array(b), as_array(scale)
    z = _z(x, loc, scale)
    value = (special.xlogy(a - 1, z) + special.xlog1py(b - 1, -z)
             - weak(special.betaln, a, b) - weak(tnp.log, scale))
    zr = raw(z)
    return restrict(value, (zr >= 0) & (zr <= 1))


def pdf(x, a, b, loc=0.0, scale=1.0):
    return tnp.exp(logpdf(x, a, b, loc, scale))


def cdf(x, a, b, loc=0.0, scale=1.0):
    z = _z(x, loc, scale)
    return special.betainc(as_array(a), as_array(b), tnp.clip(z, 0.0, 1.0))


def logcdf(x, a, b, loc=0.0, scale=1.0):
    return tnp.log(cdf(x, a, b, loc, scale))
