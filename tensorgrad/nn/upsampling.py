"""Resizing, padding, reshaping, channel dropout, distance, bilinear and instance-norm modules
with PyTorch's names, arguments and repr."""

import math

from .. import creation
from . import functional as F
from . import init
from .activation import _Applies, _variants
from .modules import Module, Parameter, _DropoutNd
from .normalization import _NormBase

__all__ = ["Upsample", "PixelShuffle", "PixelUnshuffle", "ZeroPad2d", "ConstantPad1d",
           "ConstantPad2d", "Unflatten", "Dropout1d", "Dropout2d", "AlphaDropout",
           "CosineSimilarity", "PairwiseDistance", "Bilinear", "InstanceNorm1d",
           "InstanceNorm2d", "LocalResponseNorm"]


class Upsample(Module):
    """``F.interpolate`` as a module.

    >>> import tensorgrad as tg
    >>> tg.nn.Upsample(scale_factor=2)
    Upsample(scale_factor=2.0, mode='nearest')
    """

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        self.size = size
        if isinstance(scale_factor, (tuple, list)):
            scale_factor = tuple(float(f) for f in scale_factor)
        self.scale_factor = float(scale_factor) if isinstance(scale_factor, (int, float)) \
            else scale_factor
        self.mode, self.align_corners = mode, align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input):
        return F.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                             self.recompute_scale_factor)

    def extra_repr(self):
        what = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None \
            else f"size={self.size!r}"
        return f"{what}, mode={self.mode!r}"


class PixelShuffle(_Applies):
    """(*, C r^2, H, W) -> (*, C, H r, W r)."""

    _fn, _args = staticmethod(F.pixel_shuffle), ("upscale_factor",)

    def __init__(self, upscale_factor):
        super().__init__()
        self.upscale_factor = upscale_factor


class PixelUnshuffle(_Applies):
    """(*, C, H r, W r) -> (*, C r^2, H, W)."""

    _fn, _args = staticmethod(F.pixel_unshuffle), ("downscale_factor",)

    def __init__(self, downscale_factor):
        super().__init__()
        self.downscale_factor = downscale_factor


def _widths(padding, n, name):
    if isinstance(padding, int):
        return (padding,) * (2 * n)
    padding = tuple(int(p) for p in padding)
    if len(padding) != 2 * n:
        raise ValueError(f"{name}: padding must be an int or {2 * n} ints, got {padding}")
    return padding


class _ConstantPadNd(Module):
    _n = 1

    def __init__(self, padding, value):
        super().__init__()
        self.padding = _widths(padding, self._n, type(self).__name__)
        self.value = value

    def forward(self, input):
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pads the last dimension with ``value``: (left, right)."""
    _n = 1


class ConstantPad2d(_ConstantPadNd):
    """Pads the last two dimensions with ``value``: (left, right, top, bottom)."""
    _n = 2


class ZeroPad2d(ConstantPad2d):
    """Pads the last two dimensions with zeros."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class Unflatten(Module):
    """Splits dimension ``dim`` into ``unflattened_size``."""

    def __init__(self, dim, unflattened_size):
        super().__init__()
        self.dim = dim
        self.unflattened_size = tuple(unflattened_size)

    def forward(self, input):
        from ..ops.shape import reshape

        shape = tuple(input.shape)
        d = self.dim % len(shape) if shape else 0
        if not shape or math.prod(s for s in self.unflattened_size if s != -1) == 0 or (
                -1 not in self.unflattened_size and
                math.prod(self.unflattened_size) != shape[d]):
            raise ValueError(f"Unflatten: unflattened_size {self.unflattened_size} does not "
                             f"fit dimension {self.dim} of input shape {shape}")
        return reshape(input, shape[:d] + self.unflattened_size + shape[d + 1:])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


Dropout1d, Dropout2d, AlphaDropout = _variants(_DropoutNd, __name__, (
    ("Dropout1d", F.dropout1d, "Zeroes whole channels of (N, C, L) in training mode."),
    ("Dropout2d", F.dropout2d, "Zeroes whole channels of (N, C, H, W) in training mode."),
    ("AlphaDropout", F.alpha_dropout, "Dropout that keeps SELU's mean and variance."),
))


class CosineSimilarity(Module):
    """Cosine of the angle between x1 and x2 along ``dim``."""

    def __init__(self, dim=1, eps=1e-8):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1, x2):
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """||x1 - x2 + eps||_p along the last dimension."""

    def __init__(self, p=2.0, eps=1e-6, keepdim=False):
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1, x2):
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)


class Bilinear(Module):
    """y = x1^T A x2 + b, weight (out, in1, in2) and bias uniform in +-1/sqrt(in1_features)
    (PyTorch's initialisation)."""

    def __init__(self, in1_features, in2_features, out_features, bias=True, device=None,
                 dtype=None):
        super().__init__()
        self.in1_features, self.in2_features = in1_features, in2_features
        self.out_features = out_features
        self.weight = Parameter(creation.empty(out_features, in1_features, in2_features,
                                               dtype=dtype, device=device))
        self.bias = Parameter(creation.empty(out_features, dtype=dtype, device=device)) \
            if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self):
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class _InstanceNorm(_NormBase):
    """PyTorch's ``_InstanceNorm``: each sample's channels normalised over their positions.
    With ``track_running_stats`` training also updates ``running_mean`` and ``running_var``
    (the batch's mean of the per-instance means and unbiased variances, with ``momentum``;
    ``momentum=None`` leaves them, and ``num_batches_tracked`` stays 0, as PyTorch's), and
    eval mode normalises with them."""

    _spatial = 1

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False,
                 track_running_stats=False, device=None, dtype=None, *, bias=True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype,
                         bias)

    def forward(self, input):
        name = type(self).__name__
        d = self._spatial
        if input.ndim not in (d + 1, d + 2):
            raise ValueError(f"{name}: input must have {d + 1} or {d + 2} dimensions, got shape "
                             f"{tuple(input.shape)}")
        unbatched = input.ndim == d + 1
        if unbatched:
            input = input.unsqueeze(0)
        if input.shape[1] != self.num_features and (self.affine or self.track_running_stats):
            raise ValueError(f"{name}: expected {self.num_features} channels, got input shape "
                             f"{tuple(input.shape)}")
        use_input_stats = self.training or not self.track_running_stats
        momentum = 0.0 if self.momentum is None else self.momentum
        y = F.instance_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                            use_input_stats, momentum, self.eps)
        return y.squeeze(0) if unbatched else y


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of (N, C, L) or (C, L)."""
    _spatial = 1


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of (N, C, H, W) or (C, H, W)."""
    _spatial = 2


class LocalResponseNorm(Module):
    """``F.local_response_norm`` across channels."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input):
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
