"""``tg.nn.init``: PyTorch's parameter initialisers, in place and without recording.

Each draws on the tensor's own device and in its dtype, from tensorgrad's generators (seeded by
``tg.manual_seed``), and returns the tensor.

>>> import tensorgrad as tg
>>> w = tg.nn.init.zeros_(tg.empty(2, 3))
>>> w.tolist()
[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
"""

import math

from .. import creation
from ..autograd.grad_mode import no_grad
from ..backend.device import xp_of

_GAINS = {"linear": 1.0, "identity": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3, "relu": math.sqrt(2.0),
          "selu": 3.0 / 4}
_CONV = {"conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
         "conv_transpose3d"}


def calculate_gain(nonlinearity, param=None):
    """The gain PyTorch recommends for ``nonlinearity`` (``leaky_relu`` takes its slope)."""
    if nonlinearity in _CONV:
        return 1.0
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity not in _GAINS:
        raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")
    return _GAINS[nonlinearity]


def _calculate_fan_in_and_fan_out(tensor):
    if tensor.ndim < 2:
        raise ValueError(f"init: fan in and fan out need at least 2 dimensions, got shape "
                         f"{tuple(tensor.shape)}")
    receptive = 1
    for s in tensor.shape[2:]:
        receptive *= s
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fan(tensor, mode):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return fan_in if mode == "fan_in" else fan_out


def _fill(tensor, values):
    """Write ``values`` (a Tensor of the same shape) into ``tensor`` without recording."""
    with no_grad():
        tensor.data[...] = values.data.astype(tensor.dtype, copy=False)
    tensor._vc[0] += 1
    return tensor


def uniform_(tensor, a=0.0, b=1.0):
    u = creation.rand(*tensor.shape, dtype=tensor.dtype, device=tensor.device)
    return _fill(tensor, u * (b - a) + a)


def normal_(tensor, mean=0.0, std=1.0):
    n = creation.randn(*tensor.shape, dtype=tensor.dtype, device=tensor.device)
    return _fill(tensor, n * std + mean)


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
    """Normal samples of ``mean``/``std`` restricted to [a, b] (redrawn until inside)."""
    if not a < b:
        raise ValueError(f"trunc_normal_: need a < b, got a={a}, b={b}")
    shape, dev = tensor.shape, tensor.device
    v = creation.randn(*shape, dtype="float64", device=dev).data * std + mean
    xp = xp_of(v)
    bad = (v < a) | (v > b)
    while bool(bad.any()):
        fresh = creation.randn(*shape, dtype="float64", device=dev).data * std + mean
        v = xp.where(bad, fresh, v)
        bad = (v < a) | (v > b)
    with no_grad():
        tensor.data[...] = v.astype(tensor.dtype)
    tensor._vc[0] += 1
    return tensor


def constant_(tensor, val):
    with no_grad():
        tensor.data[...] = val
    tensor._vc[0] += 1
    return tensor


def zeros_(tensor):
    return constant_(tensor, 0)


def ones_(tensor):
    return constant_(tensor, 1)


def eye_(tensor):
    if tensor.ndim != 2:
        raise ValueError(f"eye_: needs a 2-D tensor, got shape {tuple(tensor.shape)}")
    return _fill(tensor, creation.eye(*tensor.shape, dtype=tensor.dtype, device=tensor.device))


def xavier_uniform_(tensor, gain=1.0):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain=1.0):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std)


def default_linear_(weight, bias=None):
    """PyTorch's default for Linear and the convolutions: ``kaiming_uniform_(a=sqrt(5))`` for
    the weight (uniform in +-1/sqrt(fan_in)) and uniform in +-1/sqrt(fan_in) for the bias."""
    fan_in, _ = _calculate_fan_in_and_fan_out(weight)
    if fan_in:
        kaiming_uniform_(weight, a=math.sqrt(5))
    else:
        zeros_(weight)
    if bias is not None:
        bound = 1 / math.sqrt(fan_in) if fan_in else 0.0
        uniform_(bias, -bound, bound)
    return weight


__all__ = ["calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "zeros_",
           "ones_", "eye_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
           "kaiming_normal_", "default_linear_"]
