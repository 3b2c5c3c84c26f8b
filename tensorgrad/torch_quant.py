"""PyTorch's fake quantization for quantization-aware training:
``fake_quantize_per_tensor_affine`` and ``fake_quantize_per_channel_affine``.

The value is PyTorch's to the bit: ``q = clamp(zero_point + rint(x * inv_scale), quant_min,
quant_max)`` with ``inv_scale = 1 / scale`` in float32 (PyTorch's kernels take the scale as a
float32), and ``(q - zero_point) * scale``, computed in float32 per tensor and in the input's
dtype per channel, as PyTorch computes them. The derivative is the straight-through estimator:
the gradient passes where ``zero_point + rint(x * inv_scale)`` lies in ``[quant_min,
quant_max]`` and is zero elsewhere. It is written as ``x * mask - detach(x * mask) + value``,
which equals ``value`` exactly (``a - a`` is 0), so no primitive of its own is needed and every
order of derivative comes from the existing ones (the second is zero).

>>> import tensorgrad as tg
>>> x = tg.tensor([-1.0, 0.26, 0.5, 2.0], requires_grad=True)
>>> y = tg.fake_quantize_per_tensor_affine(x, 0.25, 0, -2, 3)
>>> y.tolist()
[-0.5, 0.25, 0.5, 0.75]
>>> y.sum().backward()
>>> x.grad.tolist()
[0.0, 1.0, 1.0, 0.0]
"""

import numbers

import numpy as np

from .backend.device import xp_of
from .tensor import Tensor, _new_tensor

__all__ = ["fake_quantize_per_tensor_affine", "fake_quantize_per_channel_affine"]


def _check_input(input, op):
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be a Tensor, not "
                        f"{type(input).__name__}")
    if input.data.dtype.kind != "f":
        raise TypeError(f"{op}(): input must be a floating tensor, got {input.data.dtype}")


def _check_range(quant_min, quant_max, op):
    if quant_min > quant_max:
        raise RuntimeError(f"{op}(): `quant_min` ({quant_min}) should be less than or equal to "
                           f"`quant_max` ({quant_max})")


def _qparam(value, op, name):
    """A Python number, or the raw array of a Tensor that needs no gradient."""
    if isinstance(value, Tensor):
        if value.requires_grad:
            raise RuntimeError(f"{op}(): not differentiable with respect to argument '{name}'; "
                               "it cannot have requires_grad=True")
        return value.data
    if isinstance(value, numbers.Number):
        return value
    raise TypeError(f"{op}(): argument '{name}' must be a number or a Tensor, not "
                    f"{type(value).__name__}")


def _straight_through(input, value, inside):
    """``value`` (a raw array), with the gradient of ``input`` passed where ``inside``."""
    out = _new_tensor(value, None, False)
    if not (input.requires_grad or input._level):  # neither on a tape nor a forward dual
        return out
    through = input * _new_tensor(inside.astype(input.data.dtype), None, False)
    return (through - through.detach()) + out


def fake_quantize_per_tensor_affine(input, scale, zero_point, quant_min, quant_max):
    """``(clamp(zero_point + rint(input / scale), quant_min, quant_max) - zero_point) * scale``
    with PyTorch's float32 scale, and a straight-through gradient inside the range.
    ``scale`` and ``zero_point`` are numbers or one-element Tensors without gradient."""
    op = "fake_quantize_per_tensor_affine"
    _check_input(input, op)
    _check_range(quant_min, quant_max, op)
    scale, zero_point = _qparam(scale, op, "scale"), _qparam(zero_point, op, "zero_point")
    if not isinstance(scale, numbers.Number):
        scale = scale.item()  # PyTorch reads a tensor's qparams on the host too
    if not isinstance(zero_point, numbers.Number):
        zero_point = zero_point.item()
    zero_point = int(zero_point)
    if not quant_min <= zero_point <= quant_max:
        raise RuntimeError(f"{op}(): `zero_point` ({zero_point}) must be between `quant_min` "
                           f"({quant_min}) and `quant_max` ({quant_max})")
    x = input.data
    xp = xp_of(x)
    scale32 = np.float32(scale)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        qval = xp.rint(x * (np.float32(1) / scale32)) + zero_point
    inside = (qval >= quant_min) & (qval <= quant_max)
    q = xp.clip(qval, quant_min, quant_max) - zero_point
    value = (q.astype(np.float32) * scale32).astype(x.dtype)  # float32 math, as PyTorch's
    return _straight_through(input, value, inside)


def fake_quantize_per_channel_affine(input, scale, zero_point, axis, quant_min, quant_max):
    """Fake quantization with one (float32) scale and one integer zero point per slice of
    ``input`` along ``axis`` (``0 <= axis < input.dim()``); the straight-through gradient
    passes inside the range."""
    op = "fake_quantize_per_channel_affine"
    _check_input(input, op)
    _check_range(quant_min, quant_max, op)
    scale, zero_point = _qparam(scale, op, "scale"), _qparam(zero_point, op, "zero_point")
    x = input.data
    if isinstance(scale, numbers.Number) or isinstance(zero_point, numbers.Number):
        raise TypeError(f"{op}(): 'scale' and 'zero_point' must be 1-D Tensors")
    if not 0 <= axis < x.ndim:
        raise RuntimeError(f"{op}(): `axis` must be between 0 and the number of dimensions of "
                           f"input ({x.ndim}), got {axis}")
    if scale.ndim != 1 or zero_point.ndim != 1 or \
            not scale.shape[0] == zero_point.shape[0] == x.shape[axis]:
        raise RuntimeError(f"{op}(): scale {tuple(scale.shape)} and zero_point "
                           f"{tuple(zero_point.shape)} must be 1-D of the size of input "
                           f"{tuple(x.shape)} along axis {axis}")
    if zero_point.dtype.kind not in "iu":
        raise NotImplementedError(f"{op}(): floating zero points are not supported; give "
                                  f"integer ones (got {zero_point.dtype})")
    xp = xp_of(x)
    if xp_of(scale) is not xp or xp_of(zero_point) is not xp:
        raise RuntimeError(f"{op}(): input, scale and zero_point must be on the same device")
    along = (-1,) + (1,) * (x.ndim - 1 - axis)
    scale32 = scale.astype(np.float32).reshape(along)
    zero = zero_point.reshape(along)
    if ((zero < quant_min) | (zero > quant_max)).any().item():
        raise RuntimeError(f"{op}(): `zero_point` must be between `quant_min` ({quant_min}) "
                           f"and `quant_max` ({quant_max})")
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        qval = xp.rint(x * (np.float32(1) / scale32)) + zero.astype(x.dtype)
    inside = (qval >= quant_min) & (qval <= quant_max)
    value = ((xp.clip(qval, quant_min, quant_max) - zero) * scale32).astype(x.dtype)
    return _straight_through(input, value, inside)
