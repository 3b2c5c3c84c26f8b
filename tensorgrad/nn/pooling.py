"""1-d and adaptive max pooling modules with PyTorch's names, arguments and repr."""

from . import functional as F
from .modules import Module, _AvgPoolNd, _MaxPoolNd

__all__ = ["MaxPool1d", "AvgPool1d", "AdaptiveAvgPool1d", "AdaptiveMaxPool1d",
           "AdaptiveMaxPool2d"]


class MaxPool1d(_MaxPoolNd):
    """Max over windows along the last dimension (``stride`` defaults to ``kernel_size``);
    with ``return_indices`` forward returns (values, indices), for ``MaxUnpool1d``."""


def _single(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,)


class AvgPool1d(_AvgPoolNd):
    """Mean over windows along the last dimension (padding counts as zeros)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True):
        super().__init__()
        self.kernel_size = _single(kernel_size)
        self.stride = _single(stride if stride is not None else kernel_size)
        self.padding = _single(padding)
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, input):
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _Adaptive(Module):
    _fn = None

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        return type(self)._fn(input, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class _AdaptiveAvgPoolNd(_Adaptive):
    """PyTorch's base of the adaptive average poolings: ``__init__(output_size)``."""


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """Average pooling to a fixed length."""
    _fn = staticmethod(F.adaptive_avg_pool1d)


class _AdaptiveMaxPoolNd(_Adaptive):
    """PyTorch's base of the adaptive max poolings: ``__init__(output_size,
    return_indices=False)``; with ``return_indices`` forward returns (values, flat indices of
    the maxima)."""

    def __init__(self, output_size, return_indices=False):
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, input):
        return type(self)._fn(input, self.output_size, self.return_indices)


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """Max pooling to a fixed length."""
    _fn = staticmethod(F.adaptive_max_pool1d)


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """Max pooling to a fixed (OH, OW)."""
    _fn = staticmethod(F.adaptive_max_pool2d)
