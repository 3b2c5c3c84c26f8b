"""Normalisation layers with PyTorch's names, arguments, initialisation and repr."""

import numpy as np

from .. import creation
from . import functional as F
from . import init
from .modules import Module, Parameter


class _Affine(Module):
    """A normalisation layer's optional per-feature weight (ones) and bias (zeros)."""

    def _make_affine(self, shape, affine, bias, dtype, device):
        self.weight = Parameter(creation.ones(*shape, dtype=dtype, device=device)) \
            if affine else None
        self.bias = Parameter(creation.zeros(*shape, dtype=dtype, device=device)) \
            if affine and bias else None

    def reset_parameters(self):
        """Weight back to ones, bias back to zeros (PyTorch's initialisation)."""
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)


class LayerNorm(_Affine):
    """Layer normalisation over the trailing ``normalized_shape`` dimensions (PyTorch's
    ``nn.LayerNorm``): biased variance, ``eps`` inside the square root, and with
    ``elementwise_affine`` a weight initialised to ones and (with ``bias``) a bias to zeros.

    >>> import tensorgrad as tg
    >>> ln = tg.nn.LayerNorm(4)
    >>> ln
    LayerNorm((4,), eps=1e-05, elementwise_affine=True, bias=True)
    >>> ln(tg.ones(2, 4)).shape, ln.weight.tolist(), ln.bias.tolist()
    ((2, 4), [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0])
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 device=None, dtype=None):
        super().__init__()
        self.normalized_shape = F._norm_shape(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        self._make_affine(self.normalized_shape, elementwise_affine, bias, dtype, device)

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class _NormBase(_Affine):
    """PyTorch's ``_NormBase``, shared by the batch and instance norms: the affine parameters
    and, with ``track_running_stats``, the buffers ``running_mean`` (zeros), ``running_var``
    (ones) and ``num_batches_tracked`` (0); without it the three are None."""

    def __init__(self, num_features, eps, momentum, affine, track_running_stats, device, dtype,
                 bias):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        self._make_affine((num_features,), affine, bias, dtype, device)
        if track_running_stats:
            self.register_buffer("running_mean",
                                 creation.zeros(num_features, dtype=dtype, device=device))
            self.register_buffer("running_var",
                                 creation.ones(num_features, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked",
                                 creation.zeros((), dtype=np.int64, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self):
        """Running mean to zeros, running variance to ones, the batch count to 0."""
        if self.track_running_stats:
            for name, fill in (("running_mean", 0), ("running_var", 1),
                               ("num_batches_tracked", 0)):
                buf = getattr(self, name)
                buf.data[...] = fill
                buf._vc[0] += 1

    def reset_parameters(self):
        """Running statistics reset; weight back to ones, bias back to zeros."""
        self.reset_running_stats()
        super().reset_parameters()

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class _BatchNorm(_NormBase):
    """PyTorch's ``_BatchNorm``: per-channel batch statistics in training (running statistics
    updated), running statistics in eval mode."""

    _dims = ()  # the input dimensions the layer accepts

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None, *, bias=True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype,
                         bias)

    def _check_input_dim(self, input):
        if input.ndim not in self._dims:
            want = " or ".join(f"{d}D" for d in self._dims)
            raise ValueError(f"{type(self).__name__}: expected {want} input, got {input.ndim}D "
                             f"input of shape {tuple(input.shape)}")

    def forward(self, input):
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            tracked = self.num_batches_tracked
            tracked.data[...] += 1
            tracked._vc[0] += 1
            if self.momentum is None:  # a cumulative moving average
                factor = 1.0 / float(tracked.item())
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        track = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if track else None,
                            self.running_var if track else None, self.weight, self.bias,
                            use_batch, factor, self.eps)


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs per channel (PyTorch's
    ``nn.BatchNorm1d``): weight ones and bias zeros (``affine``; ``bias=False`` drops the
    bias, as in PyTorch 2.13), buffers ``running_mean``
    (zeros), ``running_var`` (ones) and ``num_batches_tracked``; ``momentum=None`` keeps a
    cumulative average. ``eval()`` normalises with the running statistics.

    >>> import tensorgrad as tg
    >>> bn = tg.nn.BatchNorm1d(3)
    >>> bn
    BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
    >>> y = bn(tg.randn(8, 3))
    >>> bn.num_batches_tracked.item(), [n for n, _ in bn.named_buffers()]
    (1, ['running_mean', 'running_var', 'num_batches_tracked'])
    """

    _dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs per channel (PyTorch's ``nn.BatchNorm2d``);
    see :class:`BatchNorm1d`.

    >>> import tensorgrad as tg
    >>> tg.nn.BatchNorm2d(4)(tg.randn(2, 4, 3, 3)).shape
    (2, 4, 3, 3)
    """

    _dims = (4,)


class GroupNorm(_Affine):
    """Group normalisation (PyTorch's ``nn.GroupNorm``): the ``num_channels`` channels of an
    (N, C, *) input split into ``num_groups`` groups normalised per sample; with ``affine`` a
    per-channel weight (ones) and bias (zeros).

    >>> import tensorgrad as tg
    >>> tg.nn.GroupNorm(2, 4)
    GroupNorm(2, 4, eps=1e-05, affine=True, bias=True)
    """

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None,
                 dtype=None, *, bias=True):
        super().__init__()
        if num_groups <= 0 or num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels={num_channels} must be divisible by "
                             f"num_groups={num_groups}")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        self._make_affine((num_channels,), affine, bias, dtype, device)

    def forward(self, input):
        if input.ndim < 2 or input.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm: expected input (N, {self.num_channels}, *), got "
                             f"shape {tuple(input.shape)}")
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


__all__ = ["LayerNorm", "BatchNorm1d", "BatchNorm2d", "GroupNorm"]
