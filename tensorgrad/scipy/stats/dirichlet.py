"""The Dirichlet distribution (``scipy.stats.dirichlet``'s functions), differentiable in ``x``
and ``alpha``. As in SciPy, the components of ``x`` lie along its first axis: ``x`` is (K,) or
(K, N) for N points.

>>> import numpy as np
>>> from tensorgrad.scipy.stats import dirichlet
>>> round(float(dirichlet.pdf(np.array([0.2, 0.8]), np.array([1.0, 1.0]))), 6)  # uniform
1.0
"""

import numpy as np

from ... import numpy as tnp
from .. import special
from ._common import as_array, raw


def logpdf(x, alpha):
    x, alpha = as_array(x), as_array(alpha)
    nd = np.ndim(raw(x))
    a = tnp.reshape(alpha, (-1,) + (1,) * (nd - 1))
    norm = tnp.sum(special.gammaln(alpha)) - special.gammaln(tnp.sum(alpha))
    return tnp.sum(special.xlogy(a - 1, x), axis=0) - norm


def pdf(x, alpha):
    return tnp.exp(logpdf(x, alpha))


def mean(alpha):
    alpha = as_array(alpha)
    return alpha / tnp.sum(alpha)


def entropy(alpha):
    alpha = as_array(alpha)
    a0 = tnp.sum(alpha)
    k = np.shape(raw(alpha))[0]
    log_b = tnp.sum(special.gammaln(alpha)) - special.gammaln(a0)
    return (log_b + (a0 - k) * special.digamma(a0)
            - tnp.sum((alpha - 1) * special.digamma(alpha)))
