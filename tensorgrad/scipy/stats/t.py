"""Student's t distribution (``scipy.stats.t``'s functions), differentiable in ``x``, ``df``,
``loc`` and ``scale`` (``cdf``: not in ``df``).

>>> from tensorgrad.scipy.stats import t
>>> round(float(t.pdf(0.0, 1.0)), 6)  # Cauchy: 1 / pi
0.31831
"""

import math

from ... import numpy as tnp
from .. import special
from ._common import as_array, weak


def logpdf(x, df, loc=0.0, scale=1.0):
    df, scale = as_array(df), as_array(scale)
    z = (as_array(x) - as_array(loc)) / scale
    half = (df + 1) / 2
    return (weak(special.gammaln, half) - weak(special.gammaln, df / 2)
            - 0.5 * weak(tnp.log, df * math.pi) - weak(tnp.log, scale)
            - half * tnp.log1p(tnp.square(z) / df))


def pdf(x, df, loc=0.0, scale=1.0):
    return tnp.exp(logpdf(x, df, loc, scale))


def cdf(x, df, loc=0.0, scale=1.0):
    return special.stdtr(as_array(df), (as_array(x) - as_array(loc)) / as_array(scale))


def logcdf(x, df, loc=0.0, scale=1.0):
    return tnp.log(cdf(x, df, loc, scale))
