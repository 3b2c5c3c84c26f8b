"""The normal distribution (``scipy.stats.norm``'s functions), differentiable in ``x``,
``loc`` and ``scale``.

>>> from tensorgrad.scipy.stats import norm
>>> round(float(norm.logpdf(0.0)), 6)
-0.918939
"""

import math

from ... import numpy as tnp
from .. import special
from ._common import as_array, weak

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _z(x, loc, scale):
    return (as_array(x) - as_array(loc)) / as_array(scale)


def logpdf(x, loc=0.0, scale=1.0):
    scale = as_array(scale)
    return -0.5 * tnp.square(_z(x, loc, scale)) - weak(tnp.log, scale) - _HALF_LOG_2PI


def pdf(x, loc=0.0, scale=1.0):
    return tnp.exp(logpdf(x, loc, scale))


def cdf(x, loc=0.0, scale=1.0):
    return special.ndtr(_z(x, loc, scale))


def logcdf(x, loc=0.0, scale=1.0):
    return special.log_ndtr(_z(x, loc, scale))


def sf(x, loc=0.0, scale=1.0):
    return special.ndtr(-_z(x, loc, scale))


def logsf(x, loc=0.0, scale=1.0):
    return special.log_ndtr(-_z(x, loc, scale))


def ppf(q, loc=0.0, scale=1.0):
    return as_array(loc) + as_array(scale) * special.ndtri(as_array(q))


def entropy(loc=0.0, scale=1.0):
    return 0.5 + _HALF_LOG_2PI + weak(tnp.log, as_array(scale))
