"""``tensorgrad.scipy.stats``: SciPy's distributions as differentiable functions, written as
compositions of ``tensorgrad.numpy`` and ``tensorgrad.scipy.special``.

>>> from tensorgrad.scipy.stats import norm
>>> round(float(norm.cdf(0.0)), 6)
0.5
"""

from . import beta, chi2, dirichlet, gamma, multivariate_normal, norm, poisson, t

__all__ = ["beta", "chi2", "dirichlet", "gamma", "multivariate_normal", "norm", "poisson", "t"]
