"""The Distribution base class and the helpers the families share (broadcasting of the
parameters, lazy probs/logits, drawing from tensorgrad's generators)."""

import math
import numbers

import numpy as np

from .. import creation as _cr
from ..backend.device import xp_of
from ..tensor import Tensor, _new_tensor
from . import constraints

__all__ = ["Distribution", "ExponentialFamily"]

def broadcast_all(*values):
    """The arguments as Tensors broadcast to one shape: numbers take the dtype and device of
    the first Tensor among them (the default dtype when there is none), as torch's."""
    from .. import broadcast_tensors, tensor

    like = next((v for v in values if isinstance(v, Tensor)), None)
    if like is None and not all(isinstance(v, numbers.Number) for v in values):
        raise ValueError("Input arguments must all be instances of numbers.Number or Tensor, "
                         f"got {[type(v).__name__ for v in values]}")
    out = []
    for v in values:
        if isinstance(v, Tensor):
            out.append(v)
        elif like is None:
            out.append(tensor(float(v)))
        else:
            out.append(tensor(float(v), dtype=like.dtype, device=like.device))
    return tuple(broadcast_tensors(*out))


def as_param(v):
    """A parameter as a Tensor (a number becomes a tensor of the default dtype)."""
    from .. import tensor

    return v if isinstance(v, Tensor) else tensor(v)


def const(arr):
    """A Tensor without history holding the raw array ``arr``."""
    return _new_tensor(arr, None, False)


def xp(t):
    """The array module of a Tensor's data."""
    return xp_of(t.data)


def draw(who, shape, like, fill):
    """A Tensor of ``shape`` in ``like``'s dtype and device filled by ``fill(gen, xp, shape,
    dtype)`` from the global generator of that device (the one ``tg.manual_seed`` seeds)."""
    src = _cr._source(None, like.device, who)
    return _cr._make(lambda xp_, s, d: fill(src(), xp_, s, d), (tuple(shape),), like.dtype,
                     like.device, False)


def standard_uniform(who, shape, like):
    """Uniform samples in the open interval (0, 1): tiny draws are lifted to the dtype's
    smallest normal number so logs stay finite."""
    def fill(gen, xp_, s, d):
        u = gen.random(s, dtype=d)
        return xp_.maximum(u, np.finfo(d).tiny)
    return draw(who, shape, like, fill)


def standard_normal(who, shape, like):
    return draw(who, shape, like, lambda gen, xp_, s, d: gen.standard_normal(s, dtype=d))


def clamp_probs(probs):
    """probs kept eps away from 0 and 1, so their logits are finite."""
    eps = float(np.finfo(probs.dtype).eps)
    return probs.clamp(eps, 1 - eps)


def probs_to_logits(probs, is_binary=False):
    from .. import log, log1p

    ps = clamp_probs(probs)
    return log(ps) - log1p(-ps) if is_binary else log(ps)


def logits_to_probs(logits, is_binary=False):
    from .. import sigmoid, softmax

    return sigmoid(logits) if is_binary else softmax(logits, -1)


class lazy_property:
    """A property computed once and stored in the instance's ``__dict__`` (so ``name in
    self.__dict__`` says whether it was given or computed): probs and logits."""

    def __init__(self, fn):
        self.fn = fn
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        value = self.fn(instance)
        instance.__dict__[self.__name__] = value
        return value


def _shape(size, who="sample_shape"):
    if isinstance(size, numbers.Integral):
        return (int(size),)
    try:
        return tuple(int(s) for s in size)
    except TypeError:
        raise TypeError(f"{who} must be a tuple of ints, got {size!r}") from None


class Distribution:
    """The base of all distributions, as ``torch.distributions.Distribution``.

    A distribution has a ``batch_shape`` (independent, differently parameterised copies) and
    an ``event_shape`` (the shape of one draw); ``sample(sample_shape)`` returns
    ``sample_shape + batch_shape + event_shape``, and ``log_prob(value)`` the batch-shaped
    log-density. With ``validate_args`` (on by default, as in torch) the parameters are checked
    against ``arg_constraints`` and the values given to ``log_prob`` against ``support``, a
    ``ValueError`` naming the parameter otherwise.

    >>> import tensorgrad as tg
    >>> d = tg.distributions.Normal(tg.tensor([0.0, 1.0]), tg.tensor(1.0))
    >>> d.batch_shape, d.sample((5,)).shape
    (tg.Size([2]), (5, 2))
    """

    has_rsample = False
    has_enumerate_support = False
    _validate_args = True  # torch's default is __debug__: True outside python -O

    @staticmethod
    def set_default_validate_args(value):
        """Turn argument validation on or off for distributions made later."""
        if value not in (True, False):
            raise ValueError(f"set_default_validate_args: expected True or False, got {value!r}")
        Distribution._validate_args = value

    def __init__(self, batch_shape=(), event_shape=(), validate_args=None):
        from .. import Size

        self._batch_shape = Size(batch_shape)
        self._event_shape = Size(event_shape)
        if validate_args is not None:
            self._validate_args = validate_args
        if self._validate_args:
            try:
                arg_constraints = self.arg_constraints
            except NotImplementedError:
                arg_constraints = {}
            for param, constraint in arg_constraints.items():
                if constraints.is_dependent(constraint):
                    continue
                if param not in self.__dict__ and isinstance(
                        getattr(type(self), param, None), lazy_property):
                    continue  # the other parameterisation (probs vs logits) was given
                value = getattr(self, param)
                valid = constraint.check(value)
                if not bool(valid.all().item()):
                    raise ValueError(
                        f"Expected parameter {param} ({type(value).__name__} of shape "
                        f"{tuple(value.shape)}) of distribution {self!r} to satisfy the "
                        f"constraint {constraint!r}, but found invalid values:\n{value}")

    # shapes --------------------------------------------------------------------------------
    @property
    def batch_shape(self):
        return self._batch_shape

    @property
    def event_shape(self):
        return self._event_shape

    @property
    def arg_constraints(self):
        """The constraints each parameter must satisfy (a dict name -> Constraint)."""
        raise NotImplementedError

    @property
    def support(self):
        """The constraint the values of the distribution satisfy."""
        raise NotImplementedError

    def _extended_shape(self, sample_shape=()):
        return _shape(sample_shape) + tuple(self._batch_shape) + tuple(self._event_shape)

    # the expand every family shares: parameters broadcast to the new batch shape ----------
    _param_event_dims = {}  # parameter attribute -> its number of non-batch trailing dims

    def expand(self, batch_shape, _instance=None):
        """A distribution of the same family with its parameters broadcast (not copied) to
        ``batch_shape``."""
        batch_shape = _shape(batch_shape, "batch_shape")
        new = _instance if _instance is not None else type(self).__new__(type(self))
        for name, nd in self._param_event_dims.items():
            if name in self.__dict__:
                v = self.__dict__[name]
                tail = tuple(v.shape[v.ndim - nd:]) if nd else ()
                new.__dict__[name] = v.expand(*(batch_shape + tail))
        self._expand_extra(new, batch_shape)
        Distribution.__init__(new, batch_shape, self._event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _expand_extra(self, new, batch_shape):
        """Attributes other than parameters that a family's expand carries over."""

    # statistics ----------------------------------------------------------------------------
    @property
    def mean(self):
        raise NotImplementedError(f"{type(self).__name__} does not implement mean")

    @property
    def mode(self):
        raise NotImplementedError(f"{type(self).__name__} does not implement mode")

    @property
    def variance(self):
        raise NotImplementedError(f"{type(self).__name__} does not implement variance")

    @property
    def stddev(self):
        return self.variance.sqrt()

    def entropy(self):
        raise NotImplementedError(f"{type(self).__name__} does not implement entropy")

    def perplexity(self):
        return self.entropy().exp()

    # sampling and densities ----------------------------------------------------------------
    def sample(self, sample_shape=()):
        """A draw of shape ``sample_shape + batch_shape + event_shape``, without history."""
        from .. import no_grad

        with no_grad():
            return self.rsample(sample_shape).detach()

    def rsample(self, sample_shape=()):
        """A reparameterised draw: its gradient flows to the parameters."""
        raise NotImplementedError(f"{type(self).__name__} does not implement rsample")

    def sample_n(self, n):
        return self.sample((n,))

    def log_prob(self, value):
        raise NotImplementedError(f"{type(self).__name__} does not implement log_prob")

    def cdf(self, value):
        raise NotImplementedError(f"{type(self).__name__} does not implement cdf")

    def icdf(self, value):
        raise NotImplementedError(f"{type(self).__name__} does not implement icdf")

    def enumerate_support(self, expand=True):
        raise NotImplementedError(f"{type(self).__name__} does not implement "
                                  "enumerate_support")

    def _validate_sample(self, value):
        """torch's checks of a value given to log_prob/cdf: a Tensor, whose rightmost
        dimensions are the event shape, broadcastable with the batch shape, in the support."""
        if not isinstance(value, Tensor):
            raise ValueError("The value argument to log_prob must be a Tensor")
        event_dim_start = len(value.shape) - len(self._event_shape)
        if tuple(value.shape[event_dim_start:]) != tuple(self._event_shape):
            raise ValueError(f"The right-most size of value must match event_shape: "
                             f"{tuple(value.shape)} vs {tuple(self._event_shape)}.")
        actual_shape = tuple(value.shape)
        expected_shape = tuple(self._batch_shape) + tuple(self._event_shape)
        for i, j in zip(reversed(actual_shape), reversed(expected_shape)):
            if i != 1 and j != 1 and i != j:
                raise ValueError(f"Value is not broadcastable with batch_shape+event_shape: "
                                 f"{actual_shape} vs {expected_shape}.")
        try:
            support = self.support
        except NotImplementedError:
            return
        if support is None:
            return
        valid = support.check(value)
        if not bool(valid.all().item()):
            raise ValueError(f"Expected value argument ({type(value).__name__} of shape "
                             f"{tuple(value.shape)}) to be within the support ({support!r}) "
                             f"of the distribution {self!r}, but found invalid values:\n"
                             f"{value}")

    def __repr__(self):
        from .. import Size

        parts = []
        for name in self.arg_constraints:
            if name in self.__dict__:
                v = self.__dict__[name]
                parts.append(f"{name}: {v if v.numel() == 1 else Size(v.shape)}")
        return f"{type(self).__name__}({', '.join(parts)})"


LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


class LocCentred:
    """Mixin for families symmetric and unimodal about ``loc``: mean and mode are ``loc``."""

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc


class BinaryProbsLogits:
    """Mixin for families given by exactly one of ``probs`` and ``logits`` of a binary event:
    the other is computed on first use, and ``param_shape`` is the given one's shape."""

    @lazy_property
    def logits(self):
        return probs_to_logits(self.probs, is_binary=True)

    @lazy_property
    def probs(self):
        return logits_to_probs(self.logits, is_binary=True)

    @property
    def param_shape(self):
        return self.__dict__.get("probs", self.__dict__.get("logits")).shape


class ExponentialFamily(Distribution):
    """The base of families with density exp(<t(x), theta> - F(theta) + k(x)): a subclass
    gives ``_natural_params`` (theta), ``_log_normalizer(*theta)`` (F) and
    ``_mean_carrier_measure`` (E[k(x)]); ``entropy`` is then F(theta) - <theta, grad F> -
    E[k(x)], and KL within one family the Bregman divergence of F. As torch's, the natural
    parameters are detached first, so this entropy carries no gradient to the parameters."""

    @property
    def _natural_params(self):
        raise NotImplementedError(f"{type(self).__name__} does not give _natural_params")

    def _log_normalizer(self, *natural_params):
        raise NotImplementedError(f"{type(self).__name__} does not give _log_normalizer")

    @property
    def _mean_carrier_measure(self):
        raise NotImplementedError(f"{type(self).__name__} does not give "
                                  "_mean_carrier_measure")

    def entropy(self):
        from .. import autograd, enable_grad

        result = -self._mean_carrier_measure
        with enable_grad():
            params = [p.detach().requires_grad_() for p in self._natural_params]
            log_norm = self._log_normalizer(*params)
            grads = autograd.grad(log_norm.sum(), params, create_graph=True)
        result = result + log_norm
        for p, g in zip(params, grads):
            result = result - (p * g).reshape(*(tuple(self._batch_shape) + (-1,))).sum(-1)
        return result
