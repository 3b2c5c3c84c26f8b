"""Probability distributions, as ``torch.distributions``: sampling (``sample``, and the
reparameterised ``rsample`` where the family has one), ``log_prob``, ``cdf``/``icdf``,
``entropy``, moments, ``expand``, ``constraints`` and ``kl_divergence``; ``transforms``
(with the ``biject_to``/``transform_to`` registries) and TransformedDistribution, on which
HalfNormal, Gumbel, Weibull, Pareto, Kumaraswamy, LogisticNormal and the relaxed families
are built; LKJCholesky and Wishart draw matrices. Parameters are Tensors on any device;
gradients of densities, entropies, KLs and rsamples flow to them through tensorgrad's ops.
Samples come from tensorgrad's generators (``tg.manual_seed``).

>>> import tensorgrad as tg
>>> from tensorgrad.distributions import Normal, kl_divergence
>>> loc = tg.tensor([0.0, 1.0], requires_grad=True)
>>> d = Normal(loc, tg.tensor(1.0))
>>> kl_divergence(d, Normal(tg.tensor(0.0), tg.tensor(1.0))).sum().backward()
>>> loc.grad.tolist()
[0.0, 1.0]
"""

from . import constraints, transforms
from .continuous import (
    Beta,
    Chi2,
    ContinuousBernoulli,
    Exponential,
    FisherSnedecor,
    Gamma,
    GeneralizedPareto,
    Laplace,
    LogNormal,
    Normal,
    StudentT,
    Uniform,
    VonMises,
)
from .discrete import (
    Bernoulli,
    Binomial,
    Categorical,
    Geometric,
    Multinomial,
    NegativeBinomial,
    OneHotCategorical,
    OneHotCategoricalStraightThrough,
    Poisson,
)
from .distribution import Distribution, ExponentialFamily
from .kl import kl_divergence, register_kl
from .matrix import LKJCholesky, Wishart
from .multivariate import (
    Dirichlet,
    Independent,
    LowRankMultivariateNormal,
    MixtureSameFamily,
    MultivariateNormal,
)
from .transformed import (
    Cauchy,
    ExpRelaxedCategorical,
    Gumbel,
    HalfCauchy,
    HalfNormal,
    InverseGamma,
    Kumaraswamy,
    LogisticNormal,
    LogitRelaxedBernoulli,
    Pareto,
    RelaxedBernoulli,
    RelaxedOneHotCategorical,
    TransformedDistribution,
    Weibull,
)
from .transforms import (
    AbsTransform,
    AffineTransform,
    CatTransform,
    ComposeTransform,
    CorrCholeskyTransform,
    CumulativeDistributionTransform,
    ExpTransform,
    IndependentTransform,
    LowerCholeskyTransform,
    PositiveDefiniteTransform,
    PowerTransform,
    ReshapeTransform,
    SigmoidTransform,
    SoftmaxTransform,
    SoftplusTransform,
    StackTransform,
    StickBreakingTransform,
    TanhTransform,
    Transform,
    biject_to,
    identity_transform,
    transform_to,
)

__all__ = [
    "Bernoulli", "Beta", "Binomial", "Categorical", "Dirichlet", "Distribution",
    "Exponential", "Gamma", "Independent", "Laplace", "LogNormal", "MultivariateNormal",
    "Normal", "OneHotCategorical", "Poisson", "Uniform", "constraints", "kl_divergence",
    "register_kl",
    "Cauchy", "Gumbel", "HalfCauchy", "HalfNormal", "Kumaraswamy", "LogisticNormal", "Pareto",
    "RelaxedBernoulli", "RelaxedOneHotCategorical", "TransformedDistribution", "Weibull",
    "Chi2", "ContinuousBernoulli", "ExponentialFamily", "FisherSnedecor", "Geometric",
    "InverseGamma", "LowRankMultivariateNormal", "MixtureSameFamily", "Multinomial",
    "NegativeBinomial", "OneHotCategoricalStraightThrough", "StudentT", "VonMises",
    "GeneralizedPareto", "LKJCholesky", "Wishart",
] + transforms.__all__
