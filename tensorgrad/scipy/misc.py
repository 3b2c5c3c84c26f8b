"""``tensorgrad.scipy.misc``: where old SciPy (and old autograd programs) found logsumexp."""

from .special import logsumexp

__all__ = ["logsumexp"]
