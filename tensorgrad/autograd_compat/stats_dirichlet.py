"""``autograd.scipy.stats.dirichlet``: tensorgrad's, with SciPy's sampler ``rvs`` (no
derivative, as in autograd)."""

import scipy.stats as _stats

from ..scipy.stats import dirichlet as _dirichlet

rvs = _stats.dirichlet.rvs


def __getattr__(name):
    return getattr(_dirichlet, name)
