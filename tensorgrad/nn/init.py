"""``tg.nn.init``: PyTorch's parameter initialisers, in place and without recording.

Each draws on the tensor's own device and in its dtype, from tensorgrad's generators (seeded by
``tg.manual_seed``), and returns the tensor.

>>> import tensorgrad as tg
>>> w = tg.nn.init.zeros_(tg.empty(2, 3))
>>> w.tolist()
[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
"""

import functools
import math
import warnings

import numpy as np

from .. import creation
from ..autograd.grad_mode import no_grad
from ..backend.device import _CUPY_ARRAY, xp_of
from ..tensor import _new_tensor

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


_SKIP = [0]  # > 0 inside skip_init: the initialisers leave tensors as they are


def _skippable(fn):
    """``fn`` does nothing (returns its tensor untouched, drawing no random numbers) while
    ``tg.nn.utils.skip_init`` builds a module. Given an array (``p.data``, as PyTorch code
    writes ``nn.init.normal_(m.weight.data, 0.0, 0.02)``) it fills that array in place and
    returns it."""
    @functools.wraps(fn)
    def run(tensor, *args, **kwargs):
        if _SKIP[0]:
            return tensor
        if type(tensor) is np.ndarray or type(tensor) is _CUPY_ARRAY:
            fn(_new_tensor(tensor, None, False), *args, **kwargs)  # shares the array
            return tensor
        return fn(tensor, *args, **kwargs)
    return run


def _fill(tensor, values):
    """Write ``values`` (a Tensor of the same shape) into ``tensor`` without recording."""
    with no_grad():
        tensor.data[...] = values.data.astype(tensor.dtype, copy=False)
    tensor._vc[0] += 1
    return tensor


@_skippable
def uniform_(tensor, a=0.0, b=1.0, generator=None):
    u = creation.rand(*tensor.shape, generator=generator, dtype=tensor.dtype,
                      device=tensor.device)
    return _fill(tensor, u * (b - a) + a)


@_skippable
def normal_(tensor, mean=0.0, std=1.0, generator=None):
    n = creation.randn(*tensor.shape, generator=generator, dtype=tensor.dtype,
                       device=tensor.device)
    return _fill(tensor, n * std + mean)


@_skippable
def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """Normal samples of ``mean``/``std`` restricted to [a, b] (redrawn until inside)."""
    if not a < b:
        raise ValueError(f"trunc_normal_: need a < b, got a={a}, b={b}")
    shape, dev = tensor.shape, tensor.device
    v = creation.randn(*shape, generator=generator, dtype="float64", device=dev).data * std \
        + mean
    xp = xp_of(v)
    bad = (v < a) | (v > b)
    while bool(bad.any()):
        fresh = creation.randn(*shape, generator=generator, dtype="float64",
                               device=dev).data * std + mean
        v = xp.where(bad, fresh, v)
        bad = (v < a) | (v > b)
    with no_grad():
        tensor.data[...] = v.astype(tensor.dtype)
    tensor._vc[0] += 1
    return tensor


@_skippable
def constant_(tensor, val):
    with no_grad():
        tensor.data[...] = val
    tensor._vc[0] += 1
    return tensor


def zeros_(tensor):
    return constant_(tensor, 0)


def ones_(tensor):
    return constant_(tensor, 1)


@_skippable
def eye_(tensor):
    if tensor.ndim != 2:
        raise ValueError(f"eye_: needs a 2-D tensor, got shape {tuple(tensor.shape)}")
    return _fill(tensor, creation.eye(*tensor.shape, dtype=tensor.dtype, device=tensor.device))


def xavier_uniform_(tensor, gain=1.0, generator=None):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def _kaiming_std(tensor, a, mode, nonlinearity):
    """The standard deviation of He et al.'s initialisation; None for a zero-element tensor
    (a no-op, with PyTorch's warning)."""
    if 0 in tuple(tensor.shape):
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return None
    return calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    return normal_(tensor, 0.0, std, generator)


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


@_skippable
def orthogonal_(tensor, gain=1.0, generator=None):
    """A (semi-)orthogonal matrix (Saxe et al.), as PyTorch's: the tensor viewed as
    (shape[0], rest), filled from the QR decomposition of a normal matrix with the signs fixed
    by R's diagonal, times ``gain``."""
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: only tensors with 2 or more dimensions are supported, "
                         f"got shape {tuple(tensor.shape)}")
    if tensor.data.size == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.data.size // rows
    flat = creation.randn(rows, cols, generator=generator, dtype="float64",
                          device=tensor.device).data
    xp = xp_of(flat)
    if rows < cols:
        flat = flat.T
    q, r = xp.linalg.qr(flat)
    q *= xp.sign(xp.diagonal(r))
    if rows < cols:
        q = q.T
    with no_grad():
        tensor.data[...] = (q * gain).reshape(tensor.shape).astype(tensor.dtype)
    tensor._vc[0] += 1
    return tensor


@_skippable
def sparse_(tensor, sparsity, std=0.01, generator=None):
    """A 2-D tensor with a fraction ``sparsity`` of each column zero (the rows chosen at
    random) and the rest normal with ``std``, as PyTorch's."""
    if tensor.ndim != 2:
        raise ValueError(f"sparse_: only tensors with 2 dimensions are supported, got shape "
                         f"{tuple(tensor.shape)}")
    rows, cols = tensor.shape
    zeros = int(math.ceil(sparsity * rows))
    values = creation.randn(rows, cols, generator=generator, dtype="float64",
                            device=tensor.device).data * std
    xp = xp_of(values)
    if zeros:
        # a random permutation of the rows per column: the first `zeros` of each are cleared
        noise = creation.rand(rows, cols, generator=generator, dtype="float64",
                              device=tensor.device).data
        order = xp.argsort(noise, axis=0)[:zeros]
        keep = xp.ones((rows, cols), dtype=bool)
        keep[order, xp.arange(cols)[None, :]] = False
        values = values * keep
    with no_grad():
        tensor.data[...] = values.astype(tensor.dtype)
    tensor._vc[0] += 1
    return tensor


@_skippable
def dirac_(tensor, groups=1):
    """The identity for a convolution (3, 4 or 5 dimensions): the centre tap of each kernel
    whose output and input channel (within a group) agree is one, as PyTorch's."""
    if tensor.ndim not in (3, 4, 5):
        raise ValueError(f"dirac_: only tensors with 3, 4, or 5 dimensions are supported, got "
                         f"shape {tuple(tensor.shape)}")
    out_per_group = tensor.shape[0] // groups
    if tensor.shape[0] % groups:
        raise ValueError(f"dirac_: dim 0 ({tensor.shape[0]}) is not divisible by groups={groups}")
    n = min(out_per_group, tensor.shape[1])
    xp = xp_of(tensor.data)
    centre = tuple(s // 2 for s in tensor.shape[2:])
    with no_grad():
        tensor.data[...] = 0
        idx = xp.arange(n)
        for g in range(groups):
            tensor.data[(g * out_per_group + idx, idx) + centre] = 1
    tensor._vc[0] += 1
    return tensor


__all__ = ["calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "zeros_",
           "ones_", "eye_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
           "kaiming_normal_", "default_linear_", "orthogonal_", "sparse_", "dirac_"]


def _deprecated(fn):
    """The old name of ``fn`` (without the trailing underscore), which warns as PyTorch's."""
    old, new = fn.__name__[:-1], fn.__name__

    @functools.wraps(fn)
    def run(*args, **kwargs):
        warnings.warn(f"`nn.init.{old}` is now deprecated in favor of `nn.init.{new}`.",
                      FutureWarning, stacklevel=2)
        return fn(*args, **kwargs)
    run.__name__ = run.__qualname__ = old
    run.__doc__ = f"{old}(...): deprecated, use ``{new}`` (same arguments)."
    return run


uniform = _deprecated(uniform_)
normal = _deprecated(normal_)
constant = _deprecated(constant_)
eye = _deprecated(eye_)
dirac = _deprecated(dirac_)
xavier_uniform = _deprecated(xavier_uniform_)
xavier_normal = _deprecated(xavier_normal_)
kaiming_uniform = _deprecated(kaiming_uniform_)
kaiming_normal = _deprecated(kaiming_normal_)
orthogonal = _deprecated(orthogonal_)
sparse = _deprecated(sparse_)

__all__ += ["uniform", "normal", "constant", "eye", "dirac", "xavier_uniform", "xavier_normal",
            "kaiming_uniform", "kaiming_normal", "orthogonal", "sparse"]
