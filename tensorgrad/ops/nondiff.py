"""Functions without a derivative (or with zero derivative almost everywhere). On Tensors they
give Tensors that do not require grad: they cut the graph."""

import numpy as np

from ..backend.device import xp_of
from .registry import primitive


def _nd(ufunc, name=None):
    p = primitive(lambda *a, **k: ufunc(*a, **k), name=name or ufunc.__name__)
    p.prim.fwd = ufunc
    return p


sign = _nd(np.sign)
floor = _nd(np.floor)
ceil = _nd(np.ceil)
rint = _nd(np.rint)
trunc = _nd(np.trunc)
isnan = _nd(np.isnan)
isinf = _nd(np.isinf)
isfinite = _nd(np.isfinite)
equal = _nd(np.equal)
not_equal = _nd(np.not_equal)
less = _nd(np.less)
less_equal = _nd(np.less_equal)
greater = _nd(np.greater)
greater_equal = _nd(np.greater_equal)
logical_and = _nd(np.logical_and)
logical_or = _nd(np.logical_or)
logical_not = _nd(np.logical_not)
logical_xor = _nd(np.logical_xor)
bitwise_and = _nd(np.bitwise_and)
bitwise_or = _nd(np.bitwise_or)
bitwise_xor = _nd(np.bitwise_xor)
invert = _nd(np.invert)
floor_divide = _nd(np.floor_divide)
heaviside = _nd(np.heaviside)
left_shift = _nd(np.left_shift)
right_shift = _nd(np.right_shift)
gcd = _nd(np.gcd)
lcm = _nd(np.lcm)
signbit = _nd(np.signbit)

# Tensor operands promote as PyTorch's (registry.torch_promoted): a 0-d int64 tensor does not
# widen a uint8 one, an integer tensor meeting a Python float gives the default float dtype
for _p in (floor_divide, bitwise_and, bitwise_or, bitwise_xor, heaviside, left_shift, right_shift,
           gcd, lcm):
    _p.prim.promote = 0


@primitive
def argmax(x, axis=None, keepdims=False):
    return xp_of(x).argmax(x, axis=axis, keepdims=keepdims)


@primitive
def argmin(x, axis=None, keepdims=False):
    return xp_of(x).argmin(x, axis=axis, keepdims=keepdims)


@primitive
def argsort(x, axis=-1):
    return xp_of(x).argsort(x, axis=axis)


@primitive
def zeros_like(x, dtype=None):
    return xp_of(x).zeros_like(x, dtype=dtype)


@primitive
def ones_like(x, dtype=None):
    return xp_of(x).ones_like(x, dtype=dtype)


@primitive
def any(x, axis=None, keepdims=False):
    return xp_of(x).any(x, axis=axis, keepdims=keepdims)


@primitive
def all(x, axis=None, keepdims=False):
    return xp_of(x).all(x, axis=axis, keepdims=keepdims)
