"""Probability distributions, as ``torch.distributions``: sampling (``sample``, and the
reparameterised ``rsample`` where the family has one), ``log_prob``, ``cdf``/``icdf``,
``entropy``, moments, ``expand``, ``constraints`` and ``kl_divergence``. Parameters are
Tensors on any device; gradients of densities, entropies, KLs and rsamples flow to them
through tensorgrad's ops. Samples come from tensorgrad's generators (``tg.manual_seed``).

>>> import tensorgrad as tg
>>> from tensorgrad.distributions import Normal, kl_divergence
>>> loc = tg.tensor([0.0, 1.0], requires_grad=True)
>>> d = Normal(loc, tg.tensor(1.0))
>>> kl_divergence(d, Normal(tg.tensor(0.0), tg.tensor(1.0))).sum().backward()
>>> loc.grad.tolist()
[0.0, 1.0]
"""

from . import constraints
from .continuous import Beta, Exponential, Gamma, Laplace, LogNormal, Normal, Uniform
from .discrete import Bernoulli, Binomial, Categorical, OneHotCategorical, Poisson
from .distribution import Distribution
from .kl import kl_divergence, register_kl
from .multivariate import Dirichlet, Independent, MultivariateNormal

__all__ = [
    "Bernoulli", "Beta", "Binomial", "Categorical", "Dirichlet", "Distribution",
    "Exponential", "Gamma", "Independent", "Laplace", "LogNormal", "MultivariateNormal",
    "Normal", "OneHotCategorical", "Poisson", "Uniform", "constraints", "kl_divergence",
    "register_kl",
]
