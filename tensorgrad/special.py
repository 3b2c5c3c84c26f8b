"""``tg.special``: PyTorch's ``torch.special``, differentiable, on cpu and cuda.

PyTorch's names and arguments over the primitives of :mod:`tensorgrad.scipy.special` (SciPy's
kernels on the cpu, ``cupyx.scipy.special`` on cuda) and of tensorgrad's top level
(``tg.sigmoid``, ``tg.logsumexp``, ...), so derivatives of any order come from their rules.
Derivatives follow PyTorch's: none with respect to the integer order of ``polygamma`` or the
first argument of ``zeta``, ``gammainc`` and ``gammaincc`` (passing a Tensor that needs one
raises NotImplementedError rather than dropping it). Where PyTorch has no derivative but one is
known (``bessel_j0``, ``bessel_j1``, ``bessel_y0``, ``bessel_y1``, the ``modified_bessel_*``),
tensorgrad gives it; ``round`` carries no history (PyTorch's gradient is zero).

>>> import tensorgrad as tg
>>> tg.special.ndtr(tg.tensor([0.0])).tolist()
[0.5]
"""

import math
import numbers

from . import torch_api as _ta
from . import torch_surface as _ts
from .backend.device import xp_of
from .scipy import special as _ss
from .tensor import Tensor, _new_tensor
from .torch_api import _t


def _door(fn, name, doc):
    def f(input):
        return fn(_t(input, name))

    f.__name__ = f.__qualname__ = name
    f.__doc__ = doc
    return f


erf = _door(_ss.erf, "erf", "The error function.")
erfc = _door(_ss.erfc, "erfc", "1 - erf(input).")
erfcx = _door(_ss.erfcx, "erfcx", "exp(input ** 2) * erfc(input), without overflow.")
erfinv = _door(_ss.erfinv, "erfinv", "The inverse of erf.")
expit = _door(_ta.sigmoid, "expit", "The logistic sigmoid 1 / (1 + exp(-input)).")
exp2 = _door(_ta.exp2, "exp2", "2 ** input.")
expm1 = _door(_ta.expm1, "expm1", "exp(input) - 1, accurate near 0.")
log1p = _door(_ta.log1p, "log1p", "log(1 + input), accurate near 0.")
gammaln = _door(_ss.gammaln, "gammaln", "log|Gamma(input)|.")
digamma = _door(_ss.digamma, "digamma", "The digamma function, d/dx log Gamma(x).")
psi = digamma
i0 = _door(_ss.i0, "i0", "The modified Bessel function of the first kind, order 0.")
i0e = _door(_ss.i0e, "i0e", "exp(-|input|) * i0(input).")
i1 = _door(_ss.i1, "i1", "The modified Bessel function of the first kind, order 1.")
i1e = _door(_ss.i1e, "i1e", "exp(-|input|) * i1(input).")
ndtr = _door(_ss.ndtr, "ndtr", "The standard normal CDF.")
ndtri = _door(_ss.ndtri, "ndtri", "The standard normal quantile (the inverse of ndtr).")
log_ndtr = _door(_ss.log_ndtr, "log_ndtr", "log of the standard normal CDF, accurate in the "
                                           "tails.")
sinc = _door(_ta.sinc, "sinc", "The normalized sinc, sin(pi x) / (pi x), and 1 at 0.")
entr = _door(_ss.entr, "entr", "-input * log(input) for input > 0, 0 at 0, -inf below.")
bessel_j0 = _door(_ss.j0, "bessel_j0", "The Bessel function of the first kind, order 0.")
bessel_j1 = _door(_ss.j1, "bessel_j1", "The Bessel function of the first kind, order 1.")
bessel_y0 = _door(_ss.y0, "bessel_y0", "The Bessel function of the second kind, order 0.")
bessel_y1 = _door(_ss.y1, "bessel_y1", "The Bessel function of the second kind, order 1.")
modified_bessel_i0 = _door(_ss.i0, "modified_bessel_i0", "The same as i0.")
modified_bessel_i1 = _door(_ss.i1, "modified_bessel_i1", "The same as i1.")
modified_bessel_k0 = _door(_ss.k0, "modified_bessel_k0",
                           "The modified Bessel function of the second kind, order 0.")
modified_bessel_k1 = _door(_ss.k1, "modified_bessel_k1",
                           "The modified Bessel function of the second kind, order 1.")


def spherical_bessel_j0(input):
    """sin(input) / input, and 1 at 0 (the normalized sinc of input / pi)."""
    return _ta.sinc(_t(input, "spherical_bessel_j0") / math.pi)


def logit(input, eps=None):
    """log(p / (1 - p)); with ``eps`` the input is clamped to [eps, 1 - eps] first."""
    return _ta.logit(input, eps)


def round(input, *, decimals=0):
    """Round half to even, to ``decimals`` places (no derivative: PyTorch's is zero)."""
    return _ta.round(input, decimals=decimals)


def polygamma(n, input):
    """The ``n``-th derivative of digamma (differentiable in ``input``)."""
    if not isinstance(n, numbers.Integral) or n < 0:
        raise RuntimeError(f"polygamma(): n must be a non-negative integer, got {n!r}")
    return _ss.polygamma(int(n), _t(input, "polygamma"))


def multigammaln(input, p):
    """log of the multivariate gamma function of dimension ``p`` (an int); every element of
    ``input`` must exceed ``(p - 1) / 2``."""
    x = _t(input, "multigammaln")
    if not isinstance(p, numbers.Integral) or p < 1:
        raise RuntimeError(f"multigammaln(): p must be a positive integer, got {p!r}")
    if x.numel() and bool((x.data <= (p - 1) / 2).any()):  # PyTorch checks too (a host sync)
        raise RuntimeError(f"multigammaln(): all elements must be greater than (p-1)/2 = "
                           f"{(p - 1) / 2}")
    return _ss.multigammaln(x, int(p))


def _pair(input, other, op):
    """(input, other) with a Python number turned into a 0-d tensor of the other's dtype and
    device (PyTorch takes a Number for either, not both)."""
    a, b = input, other
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = _t(a, op) if not isinstance(a, numbers.Number) else a
        b = _t(b, op, "other") if not isinstance(b, numbers.Number) else b
        if not isinstance(a, Tensor) and not isinstance(b, Tensor):
            raise TypeError(f"{op}(): input and other cannot both be numbers")
    like = a if isinstance(a, Tensor) else b
    xp = xp_of(like.data)

    def tensor(v, name):
        if isinstance(v, Tensor):
            return v
        if isinstance(v, numbers.Number):
            dt = like.dtype if like.dtype.kind in "fc" else None
            return _new_tensor(xp.asarray(v, dtype=dt), None, False)
        return _t(v, op, name)

    return tensor(a, "input"), tensor(b, "other")


def xlogy(input, other):
    """input * log(other), and 0 where input == 0 (PyTorch's gradients)."""
    return _ts.xlogy(input, other)


def xlog1py(input, other):
    """input * log1p(other), and 0 where input == 0."""
    x, y = _pair(input, other, "xlog1py")
    return _ss.xlog1py(x, y)


zeta_ = _ss._scipy_prim("zeta", "zeta(x, q): the Hurwitz zeta function sum_k (k + q) ** -x "
                                "(differentiable in q).")
zeta_.prim.fwd.__module__ = __name__  # docs/ops.md lists it under this module
_ss._elementwise(zeta_, _ss._no_derivative("zeta", "input (the exponent)"),
                 lambda s, ans, x, q: s * -x * zeta_(x + 1, q))


def zeta(input, other):
    """The Hurwitz zeta function of exponent ``input`` at ``other`` (differentiable in
    ``other``, as PyTorch)."""
    x, q = _pair(input, other, "zeta")
    return zeta_(x, q)


def gammainc(input, other):
    """The regularized lower incomplete gamma function P(input, other) (differentiable in
    ``other``)."""
    a, x = _pair(input, other, "gammainc")
    return _ss.gammainc(a, x)


def gammaincc(input, other):
    """The regularized upper incomplete gamma function Q(input, other) (differentiable in
    ``other``)."""
    a, x = _pair(input, other, "gammaincc")
    return _ss.gammaincc(a, x)


def logsumexp(input, dim, keepdim=False):
    """log(sum(exp(input))) over ``dim``, computed stably."""
    return _ta.logsumexp(input, dim, keepdim)


def softmax(input, dim, *, dtype=None):
    """exp(input) normalised along ``dim``."""
    return _ta.softmax(input, dim, dtype)


def log_softmax(input, dim, *, dtype=None):
    """log(softmax(input, dim)), computed stably."""
    return _ta.log_softmax(input, dim, dtype)


__all__ = [
    "erf", "erfc", "erfcx", "erfinv", "expit", "logit", "exp2", "expm1", "log1p", "gammaln",
    "digamma", "psi", "polygamma", "multigammaln", "i0", "i0e", "i1", "i1e", "ndtr", "ndtri",
    "log_ndtr", "sinc", "round", "xlogy", "xlog1py", "zeta", "entr", "logsumexp", "softmax",
    "log_softmax", "bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "modified_bessel_i0",
    "modified_bessel_i1", "modified_bessel_k0", "modified_bessel_k1", "spherical_bessel_j0",
    "gammainc", "gammaincc",
]
