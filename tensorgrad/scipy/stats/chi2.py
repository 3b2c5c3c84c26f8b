"""The chi-squared distribution (``scipy.stats.chi2``'s functions), differentiable in ``x``
and ``df`` (``cdf``: in ``x`` only).

>>> from tensorgrad.scipy.stats import chi2
>>> round(float(chi2.pdf(1.0, 2.0)), 6)  # exp(-1/2) / 2
0.303265
"""

from . import gamma as _gamma


def logpdf(x, df, loc=0.0, scale=1.0):
    return _gamma.logpdf(x, df / 2, loc, scale * 2)


def pdf(x, df, loc=0.0, scale=1.0):
    return _gamma.pdf(x, df / 2, loc, scale * 2)


def cdf(x, df, loc=0.0, scale=1.0):
    return _gamma.cdf(x, df / 2, loc, scale * 2)
