"""3-D convolution, pooling, normalisation, dropout and padding modules, and ConvTranspose1d,
with PyTorch's names, arguments, parameter layouts (so ``state_dict``s load either way),
default initialisation and repr. The shared machinery is the 1-D/2-D modules': ``_ConvNd``,
``ConvTranspose2d``, ``_BatchNorm``, ``_InstanceNorm``, ``_DropoutNd``, ``_ConstantPadNd``."""

from . import functional as F
from .activation import _variants
from .conv import ConvTranspose2d, _Conv
from .modules import _AvgPoolNd, _MaxPoolNd
from .normalization import _BatchNorm
from .pooling import _AdaptiveAvgPoolNd, _AdaptiveMaxPoolNd
from .upsampling import _ConstantPadNd, _DropoutNd, _InstanceNorm

__all__ = ["Conv3d", "ConvTranspose1d", "ConvTranspose3d", "MaxPool3d", "AvgPool3d",
           "AdaptiveAvgPool3d", "AdaptiveMaxPool3d", "BatchNorm3d", "InstanceNorm3d",
           "Dropout3d", "ConstantPad3d", "ZeroPad3d"]


class Conv3d(_Conv):
    """3-D convolution over (N, C, D, H, W) or (C, D, H, W) inputs (PyTorch's ``nn.Conv3d``);
    weight (out_channels, in_channels/groups, kd, kh, kw). ``padding_mode`` other than
    ``'zeros'`` pads with ``F.pad`` first, as PyTorch does.

    >>> import tensorgrad as tg
    >>> m = tg.nn.Conv3d(2, 4, 3, padding=1)
    >>> m
    Conv3d(2, 4, kernel_size=(3, 3, 3), stride=(1, 1, 1), padding=(1, 1, 1))
    >>> m(tg.ones(1, 2, 5, 6, 7)).shape
    (1, 4, 5, 6, 7)
    """

    _n = 3


class ConvTranspose1d(ConvTranspose2d):
    """1-D transposed convolution (PyTorch's ``nn.ConvTranspose1d``): weight
    (in_channels, out_channels/groups, k). ``forward(input, output_size=None)``.

    >>> import tensorgrad as tg
    >>> m = tg.nn.ConvTranspose1d(3, 2, 3, stride=2)
    >>> m
    ConvTranspose1d(3, 2, kernel_size=(3,), stride=(2,))
    >>> m(tg.ones(1, 3, 4)).shape, m(tg.ones(1, 3, 4), output_size=[10]).shape
    ((1, 2, 9), (1, 2, 10))
    """

    _n = 1

    def forward(self, input, output_size=None):
        return F.conv_transpose1d(input, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(input, output_size), self.groups,
                                  self.dilation)


class ConvTranspose3d(ConvTranspose2d):
    """3-D transposed convolution (PyTorch's ``nn.ConvTranspose3d``): weight
    (in_channels, out_channels/groups, kd, kh, kw). ``forward(input, output_size=None)``.

    >>> import tensorgrad as tg
    >>> m = tg.nn.ConvTranspose3d(3, 2, 3, stride=2, padding=1, output_padding=1)
    >>> m(tg.ones(1, 3, 2, 3, 4)).shape
    (1, 2, 4, 6, 8)
    """

    _n = 3

    def forward(self, input, output_size=None):
        return F.conv_transpose3d(input, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(input, output_size), self.groups,
                                  self.dilation)


class MaxPool3d(_MaxPoolNd):
    """Max over (kd, kh, kw) windows (PyTorch's ``nn.MaxPool3d``; ``stride`` defaults to
    ``kernel_size``); with ``return_indices`` forward returns (values, flat indices).

    >>> import tensorgrad as tg
    >>> m = tg.nn.MaxPool3d(2)
    >>> m
    MaxPool3d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
    >>> m(tg.ones(1, 1, 4, 4, 5)).shape
    (1, 1, 2, 2, 2)
    """

    _n = 3


class AvgPool3d(_AvgPoolNd):
    """Mean over (kd, kh, kw) windows (PyTorch's ``nn.AvgPool3d``), with ``ceil_mode``,
    ``count_include_pad`` and ``divisor_override``.

    >>> import tensorgrad as tg
    >>> tg.nn.AvgPool3d(2, stride=1)
    AvgPool3d(kernel_size=2, stride=1, padding=0)
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, input):
        return F.avg_pool3d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    """Average pooling to a fixed (OD, OH, OW) (PyTorch's ``nn.AdaptiveAvgPool3d``).

    >>> import tensorgrad as tg
    >>> tg.nn.AdaptiveAvgPool3d((2, None, 1))(tg.ones(1, 3, 5, 4, 3)).shape
    (1, 3, 2, 4, 1)
    """

    def forward(self, input):
        return F.adaptive_avg_pool3d(input, self.output_size)


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    """Max pooling to a fixed (OD, OH, OW) (PyTorch's ``nn.AdaptiveMaxPool3d``); with
    ``return_indices`` forward returns (values, flat indices)."""

    def forward(self, input):
        return F.adaptive_max_pool3d(input, self.output_size, self.return_indices)


class BatchNorm3d(_BatchNorm):
    """Batch normalisation of (N, C, D, H, W) inputs per channel (PyTorch's
    ``nn.BatchNorm3d``); see ``BatchNorm1d``.

    >>> import tensorgrad as tg
    >>> tg.nn.BatchNorm3d(4)(tg.randn(2, 4, 3, 3, 3)).shape
    (2, 4, 3, 3, 3)
    """

    _dims = (5,)


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation of (N, C, D, H, W) or (C, D, H, W) (PyTorch's
    ``nn.InstanceNorm3d``)."""

    _spatial = 3


(Dropout3d,) = _variants(_DropoutNd, __name__, (
    ("Dropout3d", F.dropout3d, "Zeroes whole channels of (N, C, D, H, W) in training mode."),
))


class ConstantPad3d(_ConstantPadNd):
    """Pads the last three dimensions with ``value``: (left, right, top, bottom, front,
    back)."""

    _n = 3


class ZeroPad3d(ConstantPad3d):
    """Pads the last three dimensions with zeros."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"
