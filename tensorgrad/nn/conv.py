"""``Conv1d``, ``ConvTranspose2d`` and ``AdaptiveAvgPool2d`` with PyTorch's arguments, parameter
layout, default initialisation and repr."""

from .. import creation
from ..backend.device import xp_of
from ..ops.index import getitem
from ..tensor import _raw
from . import functional as F
from . import init
from ._functional_conv_attn import _same_padding, _transpose_out, _tuple
from .modules import Module, Parameter

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    """Shared by the convolutions: parameters made as PyTorch makes them and initialised by
    ``reset_parameters`` (kaiming_uniform_(a=sqrt(5)) for the weight, uniform in
    +-1/sqrt(fan_in) for the bias, fan_in from weight dimension 1 times the kernel)."""

    _n = 1
    _transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 output_padding, groups, bias, padding_mode, device, dtype):
        super().__init__()
        name, n = type(self).__name__, self._n
        if groups <= 0:
            raise ValueError(f"{name}: groups must be a positive integer, got {groups}")
        if in_channels % groups:
            raise ValueError(f"{name}: in_channels={in_channels} must be divisible by "
                             f"groups={groups}")
        if out_channels % groups:
            raise ValueError(f"{name}: out_channels={out_channels} must be divisible by "
                             f"groups={groups}")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {_PADDING_MODES}, got "
                             f"{padding_mode!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _tuple(kernel_size, n, "kernel_size", name)
        self.stride = _tuple(stride, n, "stride", name)
        self.dilation = _tuple(dilation, n, "dilation", name)
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"{name}: padding must be 'valid', 'same' or ints, got "
                                 f"{padding!r}")
            _same_padding(padding, self.kernel_size, self.stride, self.dilation, name)
            self.padding = padding
        else:
            self.padding = _tuple(padding, n, "padding", name)
        self.output_padding = _tuple(output_padding, n, "output_padding", name)
        self.groups, self.padding_mode = groups, padding_mode
        if self._transposed:
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = Parameter(creation.empty(*shape, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(creation.empty(out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.default_linear_(self.weight, self.bias)

    def extra_repr(self):
        n = self._n
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    """A (not transposed) convolution ``F.conv{_n}d`` with PyTorch's arguments; a
    ``padding_mode`` other than ``'zeros'`` pads the input with ``_pad`` first."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, 0,
                         groups, bias, padding_mode, device, dtype)

    def forward(self, input):
        conv = getattr(F, f"conv{self._n}d")
        if self.padding_mode == "zeros":
            return conv(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)
        return conv(self._pad(input), self.weight, self.bias, self.stride, 0, self.dilation,
                    self.groups)


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


class ConvTranspose2d(_ConvNd):
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
    _transposed = True

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


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size (PyTorch's ``nn.AdaptiveAvgPool2d``).

    >>> import tensorgrad as tg
    >>> m = tg.nn.AdaptiveAvgPool2d((5, None))
    >>> m
    AdaptiveAvgPool2d(output_size=(5, None))
    >>> m(tg.ones(2, 3, 7, 9)).shape
    (2, 3, 5, 9)
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


__all__ = ["Conv1d", "ConvTranspose2d", "AdaptiveAvgPool2d"]
