"""The Poisson distribution (``scipy.stats.poisson``'s functions), differentiable in ``mu``.

>>> from tensorgrad.scipy.stats import poisson
>>> round(float(poisson.pmf(0, 2.0)), 6)  # exp(-2)
0.135335
"""

import numpy as np

from ... import numpy as tnp
from .. import special
from ._common import as_array, raw, restrict


def logpmf(k, mu, loc=0):
    k = as_array(k) - loc
    mu = as_array(mu)
    kr = raw(k)
    value = special.xlogy(k, mu) - mu - special.gammaln(k + 1)
    return restrict(value, (np.floor(kr) == kr) & (kr >= 0))


def pmf(k, mu, loc=0):
    return tnp.exp(logpmf(k, mu, loc))


def cdf(k, mu, loc=0):
    k = as_array(k) - loc
    return restrict(special.pdtr(tnp.floor(k), as_array(mu)), raw(k) >= 0, 0.0)


def logcdf(k, mu, loc=0):
    return tnp.log(cdf(k, mu, loc))
