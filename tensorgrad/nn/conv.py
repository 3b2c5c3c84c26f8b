"""``Conv1d``, ``ConvTranspose2d`` and ``AdaptiveAvgPool2d`` with PyTorch's arguments, parameter
layout, default initialisation and repr."""

from .. import creation
from ..backend.device import xp_of
from ..ops.index import getitem
from ..tensor import _raw
from . import functional as F
from ._functional_conv_attn import _same_padding, _transpose_out
from .modules import Conv2d as _Conv2d
from .modules import _ConvNd
from .pooling import _AdaptiveAvgPoolNd


class _Conv(_ConvNd):
    """A (not transposed) convolution ``F.conv{_n}d`` with PyTorch's arguments; a
    ``padding_mode`` other than ``'zeros'`` pads the input with ``_pad`` first."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, 0,
                         groups, bias, padding_mode, device, dtype)

    _conv_forward = _Conv2d._conv_forward
    forward = _Conv2d.forward


def _pad_index(length, left, right, mode, like, op):
    """Indices of a length + left + right axis padded by ``mode`` (not zeros)."""
    xp = xp_of(like)
    i = xp.arange(-left, length + right)
    if mode == "circular":
        if left > length or right > length:
            raise ValueError(f"{op}: circular padding ({left}, {right}) is larger than the "
                             f"input length {length}")
        return i % length
    if mode == "replicate":
        return xp.clip(i, 0, length - 1)
    if left >= length or right >= length:  # reflect
        raise ValueError(f"{op}: reflect padding ({left}, {right}) must be smaller than the "
                         f"input length {length}")
    i = xp.abs(i)
    return (length - 1) - xp.abs((length - 1) - i)


class Conv1d(_Conv):
    """1-D convolution over (N, C, L) or (C, L) inputs (PyTorch's ``nn.Conv1d``); weight
    (out_channels, in_channels/groups, k).

    >>> import tensorgrad as tg
    >>> m = tg.nn.Conv1d(2, 4, 3, padding=1)
    >>> m
    Conv1d(2, 4, kernel_size=(3,), stride=(1,), padding=(1,))
    >>> m(tg.ones(5, 2, 7)).shape
    (5, 4, 7)
    """

    def _pad(self, input):
        if isinstance(self.padding, str):
            ((left, right),) = _same_padding(self.padding, self.kernel_size, self.stride,
                                             self.dilation, "Conv1d")
        else:
            left = right = self.padding[0]
        if left or right:
            idx = _pad_index(input.shape[-1], left, right, self.padding_mode, _raw(input),
                             "Conv1d")
            input = getitem(input, (Ellipsis, idx))
        return input


class _ConvTransposeNd(_ConvNd):
    """PyTorch's base of the transposed convolutions."""

    _transposed = True


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution (PyTorch's ``nn.ConvTranspose2d``): weight
    (in_channels, out_channels/groups, kh, kw), whose dimension 1 times the kernel is the
    fan-in of the default initialisation. ``forward(input, output_size=None)``: an
    ``output_size`` picks the output_padding that reaches it.

    >>> import tensorgrad as tg
    >>> m = tg.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1)
    >>> m
    ConvTranspose2d(3, 2, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), output_padding=(1, 1))
    >>> m(tg.ones(1, 3, 4, 4)).shape
    (1, 2, 8, 8)
    """

    _n = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype=None):
        name = type(self).__name__  # also the base of ConvTranspose1d and ConvTranspose3d
        if padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is supported, got "
                             f"{padding_mode!r}")
        if isinstance(padding, str):
            raise ValueError(f"{name}: padding must be an int or a tuple of {self._n} ints, "
                             f"got {padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         output_padding, groups, bias, padding_mode, device, dtype)

    def _output_padding(self, input, output_size):
        if output_size is None:
            return self.output_padding
        name, n = type(self).__name__, self._n
        size = tuple(int(s) for s in output_size)
        if len(size) == input.ndim:
            size = size[-n:]
        if len(size) != n:
            raise ValueError(f"{name}: output_size must have {n} or {input.ndim} "
                             f"elements, got {tuple(output_size)}")
        pads = []
        for i in range(n):
            lo = _transpose_out(input.shape[input.ndim - n + i], self.kernel_size[i],
                                self.stride[i], self.padding[i], 0, self.dilation[i])
            hi = lo + self.stride[i] - 1
            if not lo <= size[i] <= hi:
                raise ValueError(f"{name}: requested output_size {size} is not "
                                 f"reachable from input {tuple(input.shape)}: dimension {i} "
                                 f"must lie in [{lo}, {hi}]")
            pads.append(size[i] - lo)
        return tuple(pads)

    def forward(self, input, output_size=None):
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(input, output_size), self.groups,
                                  self.dilation)


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """Average pooling to a fixed output size (PyTorch's ``nn.AdaptiveAvgPool2d``).

    >>> import tensorgrad as tg
    >>> m = tg.nn.AdaptiveAvgPool2d((5, None))
    >>> m
    AdaptiveAvgPool2d(output_size=(5, None))
    >>> m(tg.ones(2, 3, 7, 9)).shape
    (2, 3, 5, 9)
    """

    def forward(self, input):
        return F.adaptive_avg_pool2d(input, self.output_size)


__all__ = ["Conv1d", "ConvTranspose2d", "AdaptiveAvgPool2d"]


# ---- torch.nn.grad: a convolution's gradient with respect to its input or its weight, alone ----
def _conv_grad(n, wrt, given, size, grad_output, stride, padding, dilation, groups):
    """The vector-Jacobian product of ``conv{n}d`` (linear in each operand, so the operand
    differentiated is a zero tensor of ``size``); differentiable itself when an input requires
    grad, as PyTorch's."""
    from ..autograd.functional import autograd_grad
    from ..autograd.grad_mode import enable_grad, is_grad_enabled

    name = f"conv{n}d_{wrt}"
    if len(size) != n + 2:
        raise ValueError(f"{name}: the {wrt} size must have {n + 2} entries (N, C and {n} "
                         f"spatial sizes), got {tuple(size)}")
    free = creation.zeros(*size, dtype=given.dtype, device=given.device, requires_grad=True)
    x, w = (free, given) if wrt == "input" else (given, free)
    create = is_grad_enabled() and (given.requires_grad or grad_output.requires_grad)
    with enable_grad():
        out = getattr(F, f"conv{n}d")(x, w, None, stride, padding, dilation, groups)
        (g,) = autograd_grad(out, (free,), grad_output, create_graph=create)
    return g


def conv1d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1):
    """The gradient of ``conv1d`` with respect to an input of ``input_size`` (PyTorch's
    ``torch.nn.grad.conv1d_input``)."""
    return _conv_grad(1, "input", weight, input_size, grad_output, stride, padding, dilation,
                      groups)


def conv2d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1):
    """The gradient of ``conv2d`` with respect to an input of ``input_size``."""
    return _conv_grad(2, "input", weight, input_size, grad_output, stride, padding, dilation,
                      groups)


def conv3d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1):
    """The gradient of ``conv3d`` with respect to an input of ``input_size``."""
    return _conv_grad(3, "input", weight, input_size, grad_output, stride, padding, dilation,
                      groups)


def conv1d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1):
    """The gradient of ``conv1d`` with respect to a weight of ``weight_size`` (PyTorch's
    ``torch.nn.grad.conv1d_weight``)."""
    return _conv_grad(1, "weight", input, weight_size, grad_output, stride, padding, dilation,
                      groups)


def conv2d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1):
    """The gradient of ``conv2d`` with respect to a weight of ``weight_size``."""
    return _conv_grad(2, "weight", input, weight_size, grad_output, stride, padding, dilation,
                      groups)


def conv3d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1):
    """The gradient of ``conv3d`` with respect to a weight of ``weight_size``."""
    return _conv_grad(3, "weight", input, weight_size, grad_output, stride, padding, dilation,
                      groups)
