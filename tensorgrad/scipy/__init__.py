"""``tensorgrad.scipy``: differentiable counterparts of SciPy functions, for programs written
for HIPS autograd (``import autograd.scipy.stats`` becomes ``import tensorgrad.scipy.stats``).

``special`` (gammaln, digamma, erf, logsumexp, ...), ``stats`` (norm, t, multivariate_normal,
poisson, gamma, beta, chi2, dirichlet), ``linalg`` (solve_triangular, cholesky, sqrtm, expm,
...), ``signal`` (convolve), ``integrate`` (odeint), ``misc`` (logsumexp) and ``optimize``
(``minimize``, ``root``, ``fsolve``, whose solutions are differentiable in their parameters).
Forward values come from SciPy (an optional dependency: ``pip install 'tensorgrad[scipy]'``),
or from CuPy's ``cupyx.scipy`` for CuPy arrays; the derivatives are tensorgrad's.
"""

from . import integrate, linalg, misc, optimize, signal, special, stats

__all__ = ["integrate", "linalg", "misc", "optimize", "signal", "special", "stats"]
