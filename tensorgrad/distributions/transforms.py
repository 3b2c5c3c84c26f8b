"""Transforms: invertible (or at least differentiable) maps between constrained spaces, with the
log absolute determinant of their Jacobian, as ``torch.distributions.transforms``; and the
``biject_to`` / ``transform_to`` registries from constraints to transforms.

Every map is a composition of tensorgrad ops, so gradients of any order flow through a
transform, its inverse and its log-determinant, on the data's device.

>>> import tensorgrad as tg
>>> from tensorgrad.distributions.transforms import ExpTransform, AffineTransform
>>> t = AffineTransform(1.0, 2.0)
>>> t(tg.tensor([0.0, 1.0])).tolist(), t.inv(tg.tensor([3.0])).tolist()
([1.0, 3.0], [1.0])
"""

import functools
import math
import numbers
import weakref

import numpy as np

from ..tensor import Tensor
from . import constraints
from .multivariate import sum_rightmost

__all__ = [
    "AbsTransform", "AffineTransform", "CatTransform", "ComposeTransform",
    "CorrCholeskyTransform", "CumulativeDistributionTransform", "ExpTransform",
    "IndependentTransform", "LowerCholeskyTransform", "PositiveDefiniteTransform",
    "PowerTransform", "ReshapeTransform", "SigmoidTransform", "SoftmaxTransform",
    "SoftplusTransform", "StackTransform", "StickBreakingTransform", "TanhTransform",
    "Transform", "biject_to", "identity_transform", "transform_to",
]


def _tg():
    import tensorgrad

    return tensorgrad


def _broadcast_shape(*shapes):
    return tuple(np.broadcast_shapes(*(tuple(s) for s in shapes)))


def _shape_of(v):
    return tuple(v.shape) if isinstance(v, Tensor) else ()


class Transform:
    """A map ``y = t(x)`` from ``domain`` to ``codomain``; ``t.inv(y)`` undoes it where it is
    ``bijective``, ``log_abs_det_jacobian(x, y)`` is log|dy/dx| summed over ``event_dim``.
    With ``cache_size=1`` the last pair (x, y) is remembered, so ``t.inv(t(x))`` returns ``x``
    itself (the object), as torch's cache.

    >>> import tensorgrad as tg
    >>> from tensorgrad.distributions.transforms import ExpTransform
    >>> t = ExpTransform()
    >>> round(t.inv(t(tg.tensor(0.5))).item(), 6)
    0.5
    """

    bijective = False
    domain = constraints.real
    codomain = constraints.real

    def __init__(self, cache_size=0):
        if cache_size not in (0, 1):
            raise ValueError(f"{type(self).__name__}: cache_size must be 0 or 1, got "
                             f"{cache_size!r}")
        self._cache_size = cache_size
        self._cached_x_y = None, None
        self._inv = None

    @property
    def event_dim(self):
        if self.domain.event_dim == self.codomain.event_dim:
            return self.domain.event_dim
        raise ValueError("Please use either .domain.event_dim or .codomain.event_dim")

    @property
    def inv(self):
        """The inverse transform (``inv.inv`` is this one again)."""
        inv = self._inv() if self._inv is not None else None
        if inv is None:
            inv = _InverseTransform(self)
            self._inv = weakref.ref(inv)
        return inv

    @property
    def sign(self):
        """+1 or -1 for a monotone map of scalars (the sign of its derivative)."""
        raise NotImplementedError(f"{type(self).__name__} has no sign")

    def with_cache(self, cache_size=1):
        if self._cache_size == cache_size:
            return self
        if type(self).__init__ is Transform.__init__:
            return type(self)(cache_size=cache_size)
        raise NotImplementedError(f"{type(self)}.with_cache is not implemented")

    def __eq__(self, other):
        return self is other

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = object.__hash__

    def __call__(self, x):
        if self._cache_size == 0:
            return self._call(x)
        x_old, y_old = self._cached_x_y
        if x is x_old:
            return y_old
        y = self._call(x)
        self._cached_x_y = x, y
        return y

    def _inv_call(self, y):
        if self._cache_size == 0:
            return self._inverse(y)
        x_old, y_old = self._cached_x_y
        if y is y_old:
            return x_old
        x = self._inverse(y)
        self._cached_x_y = x, y
        return x

    def _call(self, x):
        raise NotImplementedError(f"{type(self).__name__} does not implement its forward map")

    def _inverse(self, y):
        raise NotImplementedError(f"{type(self).__name__} does not implement its inverse")

    def log_abs_det_jacobian(self, x, y):
        raise NotImplementedError(f"{type(self).__name__} does not implement "
                                  "log_abs_det_jacobian")

    def forward_shape(self, shape):
        """The shape of ``t(x)`` for ``x`` of ``shape``."""
        return tuple(shape)

    def inverse_shape(self, shape):
        """The shape of ``t.inv(y)`` for ``y`` of ``shape``."""
        return tuple(shape)

    def __repr__(self):
        return type(self).__name__ + "()"


class _InverseTransform(Transform):
    """``t.inv``: calls ``t``'s inverse and negates its log-determinant."""

    def __init__(self, transform):
        super().__init__(cache_size=transform._cache_size)
        self._inv = transform  # a strong reference: the inverse keeps its forward alive

    @property
    def inv(self):
        return self._inv

    @property
    def domain(self):
        return self._inv.codomain

    @property
    def codomain(self):
        return self._inv.domain

    @property
    def bijective(self):
        return self._inv.bijective

    @property
    def sign(self):
        return self._inv.sign

    def with_cache(self, cache_size=1):
        return self._inv.with_cache(cache_size).inv

    def __eq__(self, other):
        return isinstance(other, _InverseTransform) and self._inv == other._inv

    __hash__ = object.__hash__

    def __call__(self, x):
        return self._inv._inv_call(x)

    def log_abs_det_jacobian(self, x, y):
        return -self._inv.log_abs_det_jacobian(y, x)

    def forward_shape(self, shape):
        return self._inv.inverse_shape(shape)

    def inverse_shape(self, shape):
        return self._inv.forward_shape(shape)

    def __repr__(self):
        return f"{self._inv!r}.inv"


class _Parameterless(Transform):
    """Transforms without parameters: any two instances of the class are equal."""

    def __eq__(self, other):
        return type(other) is type(self)

    __hash__ = Transform.__hash__


class ComposeTransform(Transform):
    """``parts`` applied in order (an empty list is the identity); the log-determinants of
    the parts are summed over the event dimensions of the whole."""

    def __init__(self, parts, cache_size=0):
        if cache_size:
            parts = [part.with_cache(cache_size) for part in parts]
        super().__init__(cache_size=cache_size)
        self.parts = list(parts)
        for p in self.parts:
            if not isinstance(p, Transform):
                raise TypeError(f"ComposeTransform: parts must be Transforms, got "
                                f"{type(p).__name__}")

    def __eq__(self, other):
        return isinstance(other, ComposeTransform) and self.parts == other.parts

    __hash__ = Transform.__hash__

    @property
    def domain(self):
        if not self.parts:
            return constraints.real
        domain = self.parts[0].domain
        event_dim = self.parts[-1].codomain.event_dim
        for part in reversed(self.parts):
            event_dim += part.domain.event_dim - part.codomain.event_dim
            event_dim = max(event_dim, part.domain.event_dim)
        if event_dim > domain.event_dim:
            domain = constraints.independent(domain, event_dim - domain.event_dim)
        return domain

    @property
    def codomain(self):
        if not self.parts:
            return constraints.real
        codomain = self.parts[-1].codomain
        event_dim = self.parts[0].domain.event_dim
        for part in self.parts:
            event_dim += part.codomain.event_dim - part.domain.event_dim
            event_dim = max(event_dim, part.codomain.event_dim)
        if event_dim > codomain.event_dim:
            codomain = constraints.independent(codomain, event_dim - codomain.event_dim)
        return codomain

    @property
    def bijective(self):
        return all(p.bijective for p in self.parts)

    @property
    def sign(self):
        sign = 1
        for p in self.parts:
            sign = sign * p.sign
        return sign

    @property
    def inv(self):
        inv = self._inv() if self._inv is not None else None
        if inv is None:
            inv = ComposeTransform([p.inv for p in reversed(self.parts)])
            self._inv = weakref.ref(inv)
            inv._inv = weakref.ref(self)
        return inv

    def with_cache(self, cache_size=1):
        if self._cache_size == cache_size:
            return self
        return ComposeTransform(self.parts, cache_size=cache_size)

    def __call__(self, x):
        for part in self.parts:
            x = part(x)
        return x

    def log_abs_det_jacobian(self, x, y):
        if not self.parts:
            return _tg().zeros_like(x)
        xs = [x]
        for part in self.parts[:-1]:
            xs.append(part(xs[-1]))
        xs.append(y)
        total = None
        event_dim = self.domain.event_dim
        for part, a, b in zip(self.parts, xs[:-1], xs[1:]):
            term = sum_rightmost(part.log_abs_det_jacobian(a, b),
                                 event_dim - part.domain.event_dim)
            total = term if total is None else total + term
            event_dim += part.codomain.event_dim - part.domain.event_dim
        return total

    def forward_shape(self, shape):
        for part in self.parts:
            shape = part.forward_shape(shape)
        return tuple(shape)

    def inverse_shape(self, shape):
        for part in reversed(self.parts):
            shape = part.inverse_shape(shape)
        return tuple(shape)

    def __repr__(self):
        inner = ",\n    ".join(repr(p) for p in self.parts)
        return f"{type(self).__name__}(\n    {inner}\n)"


identity_transform = ComposeTransform([])


class IndependentTransform(Transform):
    """``base_transform`` with its ``reinterpreted_batch_ndims`` rightmost batch dimensions
    made event dimensions: the log-determinant is summed over them."""

    def __init__(self, base_transform, reinterpreted_batch_ndims, cache_size=0):
        super().__init__(cache_size=cache_size)
        self.base_transform = base_transform.with_cache(cache_size)
        self.reinterpreted_batch_ndims = int(reinterpreted_batch_ndims)

    def with_cache(self, cache_size=1):
        if self._cache_size == cache_size:
            return self
        return IndependentTransform(self.base_transform, self.reinterpreted_batch_ndims,
                                    cache_size=cache_size)

    @property
    def domain(self):
        return constraints.independent(self.base_transform.domain,
                                       self.reinterpreted_batch_ndims)

    @property
    def codomain(self):
        return constraints.independent(self.base_transform.codomain,
                                       self.reinterpreted_batch_ndims)

    @property
    def bijective(self):
        return self.base_transform.bijective

    @property
    def sign(self):
        return self.base_transform.sign

    def _call(self, x):
        if x.ndim < self.domain.event_dim:
            raise ValueError(f"IndependentTransform: input of shape {tuple(x.shape)} has too "
                             f"few dimensions (needs {self.domain.event_dim})")
        return self.base_transform(x)

    def _inverse(self, y):
        if y.ndim < self.codomain.event_dim:
            raise ValueError(f"IndependentTransform: input of shape {tuple(y.shape)} has too "
                             f"few dimensions (needs {self.codomain.event_dim})")
        return self.base_transform.inv(y)

    def log_abs_det_jacobian(self, x, y):
        return sum_rightmost(self.base_transform.log_abs_det_jacobian(x, y),
                             self.reinterpreted_batch_ndims)

    def forward_shape(self, shape):
        return self.base_transform.forward_shape(shape)

    def inverse_shape(self, shape):
        return self.base_transform.inverse_shape(shape)

    def __repr__(self):
        return (f"{type(self).__name__}({self.base_transform!r}, "
                f"{self.reinterpreted_batch_ndims})")


class ReshapeTransform(Transform):
    """Reshapes the rightmost ``in_shape`` dimensions to ``out_shape`` (same size);
    volume-preserving, its log-determinant is 0."""

    bijective = True

    def __init__(self, in_shape, out_shape, cache_size=0):
        self.in_shape = tuple(int(s) for s in in_shape)
        self.out_shape = tuple(int(s) for s in out_shape)
        if math.prod(self.in_shape) != math.prod(self.out_shape):
            raise ValueError(f"ReshapeTransform: in_shape {self.in_shape} and out_shape "
                             f"{self.out_shape} have different numbers of elements")
        super().__init__(cache_size=cache_size)

    @property
    def domain(self):
        return constraints.independent(constraints.real, len(self.in_shape))

    @property
    def codomain(self):
        return constraints.independent(constraints.real, len(self.out_shape))

    def with_cache(self, cache_size=1):
        if self._cache_size == cache_size:
            return self
        return ReshapeTransform(self.in_shape, self.out_shape, cache_size=cache_size)

    def _call(self, x):
        batch = tuple(x.shape[:x.ndim - len(self.in_shape)])
        return x.reshape(*(batch + self.out_shape))

    def _inverse(self, y):
        batch = tuple(y.shape[:y.ndim - len(self.out_shape)])
        return y.reshape(*(batch + self.in_shape))

    def log_abs_det_jacobian(self, x, y):
        batch = tuple(x.shape[:x.ndim - len(self.in_shape)])
        return _tg().zeros(batch, dtype=x.dtype, device=x.device)

    def _swap(self, shape, src, dst, who):
        n = len(src)
        if len(shape) < n or tuple(shape[len(shape) - n:]) != src:
            raise ValueError(f"ReshapeTransform.{who}: shape {tuple(shape)} does not end "
                             f"with {src}")
        return tuple(shape[:len(shape) - n]) + dst

    def forward_shape(self, shape):
        return self._swap(tuple(shape), self.in_shape, self.out_shape, "forward_shape")

    def inverse_shape(self, shape):
        return self._swap(tuple(shape), self.out_shape, self.in_shape, "inverse_shape")


class ExpTransform(_Parameterless):
    """y = exp(x)."""

    domain = constraints.real
    codomain = constraints.positive
    bijective = True
    sign = 1

    def _call(self, x):
        return x.exp()

    def _inverse(self, y):
        return y.log()

    def log_abs_det_jacobian(self, x, y):
        return x


class PowerTransform(Transform):
    """y = x ** exponent on the positive reals."""

    domain = constraints.positive
    codomain = constraints.positive
    bijective = True

    def __init__(self, exponent, cache_size=0):
        super().__init__(cache_size=cache_size)
        self.exponent = exponent if isinstance(exponent, Tensor) else _tg().tensor(
            float(exponent))

    def with_cache(self, cache_size=1):
        if self._cache_size == cache_size:
            return self
        return PowerTransform(self.exponent, cache_size=cache_size)

    @property
    def sign(self):
        return self.exponent.sign()

    def __eq__(self, other):
        return isinstance(other, PowerTransform) and bool(
            (self.exponent == other.exponent).all().item())

    __hash__ = Transform.__hash__

    def _call(self, x):
        return x ** self.exponent

    def _inverse(self, y):
        return y ** self.exponent.reciprocal()

    def log_abs_det_jacobian(self, x, y):
        return (self.exponent * y / x).abs().log()

    def forward_shape(self, shape):
        return _broadcast_shape(shape, self.exponent.shape)

    def inverse_shape(self, shape):
        return _broadcast_shape(shape, self.exponent.shape)


def _clip_unit(y):
    # kept in [tiny, 1 - eps] so that its logit and log stay finite
    finfo = np.finfo(y.dtype)
    return y.clamp(float(finfo.tiny), 1.0 - float(finfo.eps))


def _clipped_sigmoid(x):
    return _clip_unit(_tg().sigmoid(x))


def _softplus(x):
    from ..nn.functional import softplus

    return softplus(x)


class SigmoidTransform(_Parameterless):
    """y = 1 / (1 + exp(-x)), kept inside (0, 1)."""

    domain = constraints.real
    codomain = constraints.unit_interval
    bijective = True
    sign = 1

    def _call(self, x):
        return _clipped_sigmoid(x)

    def _inverse(self, y):
        y = _clip_unit(y)
        return y.log() - (-y).log1p()

    def log_abs_det_jacobian(self, x, y):
        return -_softplus(-x) - _softplus(x)


class TanhTransform(_Parameterless):
    """y = tanh(x); its inverse is atanh (not clipped: y = +-1 maps to +-inf)."""

    domain = constraints.real
    codomain = constraints.interval(-1.0, 1.0)
    bijective = True
    sign = 1

    def _call(self, x):
        return x.tanh()

    def _inverse(self, y):
        return _tg().atanh(y)

    def log_abs_det_jacobian(self, x, y):
        # log(1 - tanh(x)^2) written without cancellation
        return 2.0 * (math.log(2.0) - x - _softplus(-2.0 * x))


class SoftplusTransform(_Parameterless):
    """y = log(1 + exp(x))."""

    domain = constraints.real
    codomain = constraints.positive
    bijective = True
    sign = 1

    def _call(self, x):
        return _softplus(x)

    def _inverse(self, y):
        return (-(-y).expm1()).log() + y

    def log_abs_det_jacobian(self, x, y):
        return -_softplus(-x)


class AbsTransform(_Parameterless):
    """y = |x| (not injective: ``inv`` returns the positive preimage)."""

    domain = constraints.real
    codomain = constraints.positive

    def _call(self, x):
        return x.abs()

    def _inverse(self, y):
        return y


class AffineTransform(Transform):
    """y = loc + scale * x, pointwise; with ``event_dim`` > 0 the log-determinant is summed
    over that many rightmost dimensions."""

    bijective = True

    def __init__(self, loc, scale, event_dim=0, cache_size=0):
        super().__init__(cache_size=cache_size)
        self.loc = loc
        self.scale = scale
        self._event_dim = int(event_dim)

    @property
    def event_dim(self):
        return self._event_dim

    @property
    def domain(self):
        if self._event_dim == 0:
            return constraints.real
        return constraints.independent(constraints.real, self._event_dim)

    @property
    def codomain(self):
        return self.domain

    def with_cache(self, cache_size=1):
        if self._cache_size == cache_size:
            return self
        return AffineTransform(self.loc, self.scale, self._event_dim, cache_size=cache_size)

    def __eq__(self, other):
        if not isinstance(other, AffineTransform):
            return False
        for a, b in ((self.loc, other.loc), (self.scale, other.scale)):
            if isinstance(a, numbers.Number) and isinstance(b, numbers.Number):
                if a != b:
                    return False
            elif not bool((a == b).all().item()):
                return False
        return True

    __hash__ = Transform.__hash__

    @property
    def sign(self):
        if isinstance(self.scale, numbers.Real):
            return 1 if float(self.scale) > 0 else -1 if float(self.scale) < 0 else 0
        return self.scale.sign()

    def _call(self, x):
        return self.loc + self.scale * x

    def _inverse(self, y):
        return (y - self.loc) / self.scale

    def log_abs_det_jacobian(self, x, y):
        tg = _tg()
        shape = tuple(x.shape)
        if isinstance(self.scale, numbers.Real):
            result = tg.full_like(x, math.log(abs(float(self.scale))))
        else:
            result = self.scale.abs().log()
        if self._event_dim:
            result = result.reshape(*(tuple(result.shape[:result.ndim - self._event_dim])
                                      + (-1,))).sum(-1)
            shape = shape[:len(shape) - self._event_dim]
        return result.expand(*shape)

    def forward_shape(self, shape):
        return _broadcast_shape(shape, _shape_of(self.loc), _shape_of(self.scale))

    def inverse_shape(self, shape):
        return _broadcast_shape(shape, _shape_of(self.loc), _shape_of(self.scale))


class SoftmaxTransform(_Parameterless):
    """x -> softmax(x) on the last dimension (not bijective: inv gives log-probabilities)."""

    domain = constraints.real_vector
    codomain = constraints.simplex

    def _call(self, x):
        logprobs = x - x.max(-1, keepdim=True).values.detach()
        probs = logprobs.exp()
        return probs / probs.sum(-1, keepdim=True)

    def _inverse(self, y):
        return y.log()


def _arange_like(n, like):
    return _tg().arange(n, dtype=like.dtype, device=like.device)


class StickBreakingTransform(_Parameterless):
    """The bijection from R^K to the (K+1)-simplex by stick breaking: the i-th coordinate
    takes a sigmoid fraction of what is left of the stick."""

    domain = constraints.real_vector
    codomain = constraints.simplex
    bijective = True

    @staticmethod
    def _log_offset(n, like):
        # log of K+1-i for i = 1..K: shifts the sigmoids so that x = 0 maps to the centre
        return (n - _arange_like(n, like)).log()

    def _call(self, x):
        tg = _tg()
        n = x.shape[-1]
        z = _clipped_sigmoid(x - self._log_offset(n, x))
        rest = (1 - z).cumprod(-1)
        ones = tg.ones_like(x.narrow(-1, 0, 1))
        return tg.cat([z, ones], -1) * tg.cat([ones, rest], -1)

    def _inverse(self, y):
        n = y.shape[-1] - 1
        head = y.narrow(-1, 0, n)
        left = (1 - head.cumsum(-1)).clamp(min=float(np.finfo(y.dtype).tiny))
        return head.log() - left.log() + self._log_offset(n, y)

    def log_abs_det_jacobian(self, x, y):
        from ..nn.functional import logsigmoid

        n = x.shape[-1]
        x = x - self._log_offset(n, x)
        return (-x + logsigmoid(x) + y.narrow(-1, 0, n).log()).sum(-1)

    def forward_shape(self, shape):
        if len(shape) < 1:
            raise ValueError("StickBreakingTransform: too few dimensions on input")
        return tuple(shape[:-1]) + (shape[-1] + 1,)

    def inverse_shape(self, shape):
        if len(shape) < 1:
            raise ValueError("StickBreakingTransform: too few dimensions on input")
        return tuple(shape[:-1]) + (shape[-1] - 1,)


class LowerCholeskyTransform(_Parameterless):
    """Square matrices to lower triangular ones with a positive diagonal: the strict lower
    part is kept, the diagonal exponentiated."""

    domain = constraints.independent(constraints.real, 2)
    codomain = constraints.lower_cholesky

    def _call(self, x):
        return x.tril(-1) + x.diagonal(dim1=-2, dim2=-1).exp().diag_embed()

    def _inverse(self, y):
        return y.tril(-1) + y.diagonal(dim1=-2, dim2=-1).log().diag_embed()


class PositiveDefiniteTransform(_Parameterless):
    """Square matrices to positive definite ones: L L^T of LowerCholeskyTransform's L."""

    domain = constraints.independent(constraints.real, 2)
    codomain = constraints.positive_definite

    def _call(self, x):
        lower = LowerCholeskyTransform()(x)
        return lower @ lower.transpose(-1, -2)

    def _inverse(self, y):
        return LowerCholeskyTransform().inv(_tg().linalg.cholesky(y))


def _strict_lower_positions(n, offset=-1):
    """Flat positions (row-major, in an n x n matrix) of the entries below the diagonal
    ``offset``, in torch.tril_indices order."""
    rows, cols = np.tril_indices(n, offset)
    return rows * n + cols


def _tril_to_vec(m, offset=-1):
    n = m.shape[-1]
    idx = _tg().tensor(_strict_lower_positions(n, offset), device=m.device)
    return m.reshape(*(tuple(m.shape[:-2]) + (n * n,))).index_select(-1, idx)


def _vec_to_strict_tril(v):
    tg = _tg()
    k = v.shape[-1]
    n = int(round((1 + math.sqrt(1 + 8 * k)) / 2))
    if n * (n - 1) // 2 != k:
        raise ValueError(f"CorrCholeskyTransform: the last dimension {k} is not a triangular "
                         "number n(n-1)/2")
    # every matrix entry picks a vector entry, or the appended zero
    pick = np.full(n * n, k, dtype=np.int64)
    pick[_strict_lower_positions(n)] = np.arange(k)
    padded = tg.cat([v, tg.zeros_like(v.narrow(-1, 0, 1)) if k else
                     tg.zeros(tuple(v.shape[:-1]) + (1,), dtype=v.dtype, device=v.device)], -1)
    out = padded.index_select(-1, tg.tensor(pick, device=v.device))
    return out.reshape(*(tuple(v.shape[:-1]) + (n, n)))


class CorrCholeskyTransform(_Parameterless):
    """Unconstrained vectors of length n(n-1)/2 to Cholesky factors of n x n correlation
    matrices: tanh into (-1, 1), then stick breaking on the squares of each row. The
    log-determinant is of the map to the strictly lower triangular entries of y."""

    domain = constraints.real_vector
    codomain = constraints.corr_cholesky
    bijective = True

    def _call(self, x):
        tg = _tg()
        eps = float(np.finfo(x.dtype).eps)
        r = _vec_to_strict_tril(x.tanh().clamp(-1 + eps, 1 - eps))
        n = r.shape[-1]
        left = (1 - r ** 2).sqrt().cumprod(-1)
        ones = tg.ones_like(left.narrow(-1, 0, 1))
        shifted = tg.cat([ones, left.narrow(-1, 0, n - 1)], -1)
        eye = tg.eye(n, dtype=x.dtype, device=x.device)
        return (r + eye) * shifted

    def _inverse(self, y):
        tg = _tg()
        n = y.shape[-1]
        left = 1 - (y * y).cumsum(-1)
        ones = tg.ones_like(left.narrow(-1, 0, 1))
        shifted = tg.cat([ones, left.narrow(-1, 0, n - 1)], -1)
        t = _tril_to_vec(y) / _tril_to_vec(shifted).sqrt()
        return tg.atanh(t)

    def log_abs_det_jacobian(self, x, y):
        left = 1 - (y * y).cumsum(-1)
        stick = 0.5 * _tril_to_vec(left, -2).log().sum(-1)
        tanh = -2.0 * (x + _softplus(-2.0 * x) - math.log(2.0)).sum(-1)
        return stick + tanh

    def forward_shape(self, shape):
        if len(shape) < 1:
            raise ValueError("CorrCholeskyTransform: too few dimensions on input")
        k = shape[-1]
        n = int(round((1 + math.sqrt(1 + 8 * k)) / 2))
        if n * (n - 1) // 2 != k:
            raise ValueError(f"CorrCholeskyTransform: input size {k} is not a triangular "
                             "number n(n-1)/2")
        return tuple(shape[:-1]) + (n, n)

    def inverse_shape(self, shape):
        if len(shape) < 2 or shape[-1] != shape[-2]:
            raise ValueError(f"CorrCholeskyTransform: expected square matrices, got shape "
                             f"{tuple(shape)}")
        n = shape[-1]
        return tuple(shape[:-2]) + (n * (n - 1) // 2,)


class CatTransform(Transform):
    """``tseq[i]`` applied to the i-th piece (``lengths[i]`` entries, 1 by default) along
    ``dim``, the results concatenated."""

    def __init__(self, tseq, dim=0, lengths=None, cache_size=0):
        if cache_size:
            tseq = [t.with_cache(cache_size) for t in tseq]
        super().__init__(cache_size=cache_size)
        self.transforms = list(tseq)
        self.lengths = [1] * len(self.transforms) if lengths is None else list(lengths)
        if len(self.lengths) != len(self.transforms):
            raise ValueError(f"CatTransform: {len(self.transforms)} transforms but "
                             f"{len(self.lengths)} lengths")
        self.dim = dim

    @property
    def event_dim(self):
        return max(t.event_dim for t in self.transforms)

    @property
    def length(self):
        return sum(self.lengths)

    def with_cache(self, cache_size=1):
        if self._cache_size == cache_size:
            return self
        return CatTransform(self.transforms, self.dim, self.lengths, cache_size)

    def _check(self, x):
        if not -x.ndim <= self.dim < x.ndim or x.shape[self.dim] != self.length:
            raise ValueError(f"CatTransform: input of shape {tuple(x.shape)} must have "
                             f"{self.length} entries along dim {self.dim}")

    def _map(self, x, inverse):
        self._check(x)
        pieces = constraints._pieces(x, self.dim, self.lengths)
        out = [t.inv(v) if inverse else t(v) for t, v in zip(self.transforms, pieces)]
        return _tg().cat(out, self.dim)

    def _call(self, x):
        return self._map(x, False)

    def _inverse(self, y):
        return self._map(y, True)

    def log_abs_det_jacobian(self, x, y):
        self._check(x)
        terms = []
        for t, a, b in zip(self.transforms, constraints._pieces(x, self.dim, self.lengths),
                           constraints._pieces(y, self.dim, self.lengths)):
            term = t.log_abs_det_jacobian(a, b)
            if t.event_dim < self.event_dim:
                term = sum_rightmost(term, self.event_dim - t.event_dim)
            terms.append(term)
        dim = self.dim - x.ndim if self.dim >= 0 else self.dim
        dim += self.event_dim
        if dim < 0:
            return _tg().cat(terms, dim)
        return functools.reduce(lambda a, b: a + b, terms)

    @property
    def bijective(self):
        return all(t.bijective for t in self.transforms)

    @property
    def domain(self):
        return constraints.cat([t.domain for t in self.transforms], self.dim, self.lengths)

    @property
    def codomain(self):
        return constraints.cat([t.codomain for t in self.transforms], self.dim, self.lengths)


class StackTransform(Transform):
    """``tseq[i]`` applied to the i-th slice along ``dim``, the results stacked."""

    def __init__(self, tseq, dim=0, cache_size=0):
        if cache_size:
            tseq = [t.with_cache(cache_size) for t in tseq]
        super().__init__(cache_size=cache_size)
        self.transforms = list(tseq)
        self.dim = dim

    def with_cache(self, cache_size=1):
        if self._cache_size == cache_size:
            return self
        return StackTransform(self.transforms, self.dim, cache_size)

    def _slices(self, x):
        if not -x.ndim <= self.dim < x.ndim or x.shape[self.dim] != len(self.transforms):
            raise ValueError(f"StackTransform: input of shape {tuple(x.shape)} must have "
                             f"{len(self.transforms)} slices along dim {self.dim}")
        return [x.select(self.dim, i) for i in range(x.shape[self.dim])]

    def _call(self, x):
        return _tg().stack([t(v) for t, v in zip(self.transforms, self._slices(x))], self.dim)

    def _inverse(self, y):
        return _tg().stack([t.inv(v) for t, v in zip(self.transforms, self._slices(y))],
                           self.dim)

    def log_abs_det_jacobian(self, x, y):
        terms = [t.log_abs_det_jacobian(a, b) for t, a, b in
                 zip(self.transforms, self._slices(x), self._slices(y))]
        return _tg().stack(terms, self.dim)

    @property
    def bijective(self):
        return all(t.bijective for t in self.transforms)

    @property
    def domain(self):
        return constraints.stack([t.domain for t in self.transforms], self.dim)

    @property
    def codomain(self):
        return constraints.stack([t.codomain for t in self.transforms], self.dim)


class CumulativeDistributionTransform(Transform):
    """x -> distribution.cdf(x), onto the unit interval; its log-determinant is the
    distribution's log-density."""

    bijective = True
    codomain = constraints.unit_interval
    sign = 1

    def __init__(self, distribution, cache_size=0):
        super().__init__(cache_size=cache_size)
        self.distribution = distribution

    @property
    def domain(self):
        return self.distribution.support

    def with_cache(self, cache_size=1):
        if self._cache_size == cache_size:
            return self
        return CumulativeDistributionTransform(self.distribution, cache_size=cache_size)

    def _call(self, x):
        return self.distribution.cdf(x)

    def _inverse(self, y):
        return self.distribution.icdf(y)

    def log_abs_det_jacobian(self, x, y):
        return self.distribution.log_prob(x)


# ---- biject_to / transform_to -----------------------------------------------------------------

class ConstraintRegistry:
    """Constraint -> Transform factories, found by the constraint's class (or, for a
    constraint object registered directly, by its class too, as torch's)."""

    def __init__(self):
        self._registry = {}

    def register(self, constraint, factory=None):
        if factory is None:
            return lambda f: self.register(constraint, f)
        if isinstance(constraint, constraints.Constraint):
            constraint = type(constraint)
        if not isinstance(constraint, type) or not issubclass(constraint,
                                                              constraints.Constraint):
            raise TypeError("Expected constraint to be either a Constraint subclass or "
                            f"instance, but got {constraint}")
        self._registry[constraint] = factory
        return factory

    def __call__(self, constraint):
        try:
            factory = self._registry[type(constraint)]
        except KeyError:
            raise NotImplementedError(f"Cannot transform {type(constraint).__name__} "
                                      "constraints") from None
        return factory(constraint)


biject_to = ConstraintRegistry()
transform_to = ConstraintRegistry()


def _both(constraint_type, factory):
    biject_to.register(constraint_type, factory)
    transform_to.register(constraint_type, factory)


C = constraints
_both(type(C.real), lambda c: identity_transform)
biject_to.register(C._IndependentConstraint, lambda c: IndependentTransform(
    biject_to(c.base_constraint), c.reinterpreted_batch_ndims))
transform_to.register(C._IndependentConstraint, lambda c: IndependentTransform(
    transform_to(c.base_constraint), c.reinterpreted_batch_ndims))
# positive and nonnegative too, as torch's (whose greater_than registration replaces its
# positive one): exp, then a shift by the bound
_both(C._GreaterThan, lambda c: ComposeTransform([ExpTransform(),
                                                  AffineTransform(c.lower_bound, 1)]))
_both(C._GreaterThanEq, lambda c: ComposeTransform([ExpTransform(),
                                                    AffineTransform(c.lower_bound, 1)]))
_both(C._LessThan, lambda c: ComposeTransform([ExpTransform(),
                                               AffineTransform(c.upper_bound, -1)]))


def _interval(c):
    unit = (isinstance(c.lower_bound, numbers.Number) and c.lower_bound == 0
            and isinstance(c.upper_bound, numbers.Number) and c.upper_bound == 1)
    if unit:
        return SigmoidTransform()
    return ComposeTransform([SigmoidTransform(),
                             AffineTransform(c.lower_bound, c.upper_bound - c.lower_bound)])


_both(C._Interval, _interval)
_both(C._HalfOpenInterval, _interval)
biject_to.register(C._Simplex, lambda c: StickBreakingTransform())
transform_to.register(C._Simplex, lambda c: SoftmaxTransform())
transform_to.register(C._LowerCholesky, lambda c: LowerCholeskyTransform())
transform_to.register(C._PositiveDefinite, lambda c: PositiveDefiniteTransform())
_both(C._CorrCholesky, lambda c: CorrCholeskyTransform())
biject_to.register(C._Cat, lambda c: CatTransform([biject_to(x) for x in c.cseq], c.dim,
                                                  c.lengths))
transform_to.register(C._Cat, lambda c: CatTransform([transform_to(x) for x in c.cseq],
                                                     c.dim, c.lengths))
biject_to.register(C._Stack, lambda c: StackTransform([biject_to(x) for x in c.cseq], c.dim))
transform_to.register(C._Stack, lambda c: StackTransform([transform_to(x) for x in c.cseq],
                                                         c.dim))
del C
