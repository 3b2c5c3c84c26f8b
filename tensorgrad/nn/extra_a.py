"""More of PyTorch's modules, group A: reflection/replication/circular/zero padding, RMSNorm,
shrinkage and randomized activations, Softmax2d, ChannelShuffle, Fold/Unfold, feature alpha
dropout, the upsampling aliases, LP pooling, max unpooling and ``nn.Buffer``; PyTorch's names,
arguments and reprs, each a thin wrapper over ``nn.functional``."""

from .. import creation
from ..tensor import Tensor, keep_array
from . import functional as F
from .activation import _Applies, _variants
from .modules import Module
from .normalization import _Affine
from .upsampling import Upsample, _ConstantPadNd, _DropoutNd, _widths

__all__ = ["ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d",
           "ReplicationPad2d", "ReplicationPad3d", "CircularPad1d", "CircularPad2d",
           "CircularPad3d", "ZeroPad1d", "RMSNorm", "Hardshrink", "Softshrink", "RReLU",
           "Softmax2d", "ChannelShuffle", "Fold", "Unfold", "FeatureAlphaDropout",
           "UpsamplingNearest2d", "UpsamplingBilinear2d", "LPPool1d", "LPPool2d", "LPPool3d",
           "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "Buffer"]


# ---- padding ----------------------------------------------------------------------------------
class _PadNd(Module):
    """``F.pad`` in mode ``_mode`` over the last ``_n`` dimensions; ``padding`` an int (every
    side) or 2 ``_n`` ints (left, right, top, bottom, front, back)."""

    _n = 1
    _mode = "reflect"

    def __init__(self, padding):
        super().__init__()
        self.padding = _widths(padding, self._n, type(self).__name__)

    def forward(self, input):
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self):
        return f"{self.padding}"


class _ReflectionPadNd(_PadNd):  # PyTorch's bases of the three families
    _mode = "reflect"


class _ReplicationPadNd(_PadNd):
    _mode = "replicate"


class _CircularPadNd(_PadNd):
    _mode = "circular"


def _pad_classes(prefix, base, what):
    """``{prefix}1d``, ``2d`` and ``3d``: ``base`` (a _PadNd) for 1 to 3 dimensions."""
    return tuple(type(f"{prefix}{n}d", (base,), {
        "__doc__": f"Pads the last {n} dimension{'s' * (n > 1)} of a ({n + 1}-D or {n + 2}-D) "
                   f"input by {what}.",
        "__module__": __name__, "__qualname__": f"{prefix}{n}d", "_n": n})
        for n in (1, 2, 3))


ReflectionPad1d, ReflectionPad2d, ReflectionPad3d = _pad_classes(
    "ReflectionPad", _ReflectionPadNd, "mirroring it at the edges (the edge itself not repeated)")
ReplicationPad1d, ReplicationPad2d, ReplicationPad3d = _pad_classes(
    "ReplicationPad", _ReplicationPadNd, "repeating the edge values")
CircularPad1d, CircularPad2d, CircularPad3d = _pad_classes(
    "CircularPad", _CircularPadNd, "wrapping around (the other end's values)")


class ZeroPad1d(_ConstantPadNd):
    """Pads the last dimension with zeros: (left, right)."""

    _n = 1

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


# ---- normalisation ----------------------------------------------------------------------------
class RMSNorm(_Affine):
    """Root-mean-square normalisation over the trailing ``normalized_shape`` dimensions
    (PyTorch's ``nn.RMSNorm``): x / sqrt(mean(x^2) + eps) * weight, ``eps=None`` the dtype's
    machine epsilon, the weight (with ``elementwise_affine``) initialised to ones.

    >>> import tensorgrad as tg
    >>> tg.nn.RMSNorm(4)
    RMSNorm((4,), eps=None, elementwise_affine=True)
    """

    def __init__(self, normalized_shape, eps=None, elementwise_affine=True, device=None,
                 dtype=None):
        super().__init__()
        self.normalized_shape = F._norm_shape(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        self._make_affine(self.normalized_shape, elementwise_affine, False, dtype, device)

    def forward(self, x):  # PyTorch's name for the argument
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


# ---- activations and shuffles -----------------------------------------------------------------
class _Lambd(_Applies):
    _args = ("lambd",)

    def __init__(self, lambd=0.5):
        super().__init__()
        self.lambd = lambd

    def extra_repr(self):
        return f"{self.lambd}"


Hardshrink, Softshrink = _variants(_Lambd, __name__, (
    ("Hardshrink", F.hardshrink, "x where |x| > lambd, else 0."),
    ("Softshrink", F.softshrink, "x moved towards 0 by lambd, 0 within [-lambd, lambd]."),
))


class RReLU(Module):
    """Randomized leaky ReLU: in training a slope drawn from U(lower, upper) for each element
    at or below 0; in eval mode the mean slope.

    >>> import tensorgrad as tg
    >>> tg.nn.RReLU(0.1, 0.3)
    RReLU(lower=0.1, upper=0.3)
    """

    def __init__(self, lower=1.0 / 8, upper=1.0 / 3, inplace=False):
        super().__init__()
        if not 0 <= lower <= upper:
            raise ValueError(f"RReLU: need 0 <= lower <= upper, got lower={lower}, "
                             f"upper={upper}")
        self.lower, self.upper, self.inplace = lower, upper, inplace

    def forward(self, input):
        return F.rrelu(input, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self):
        return f"lower={self.lower}, upper={self.upper}" + (", inplace=True" if self.inplace
                                                              else "")


class Softmax2d(Module):
    """Softmax over the channels of (N, C, H, W) or (C, H, W) at each position."""

    def forward(self, input):
        if input.ndim not in (3, 4):
            raise ValueError(f"Softmax2d: input must be (N, C, H, W) or (C, H, W), got shape "
                             f"{tuple(input.shape)}")
        return F.softmax(input, -3)


class ChannelShuffle(_Applies):
    """(N, C, *) channels reordered from (groups, C / groups) to (C / groups, groups)."""

    _fn, _args = staticmethod(F.channel_shuffle), ("groups",)

    def __init__(self, groups):
        super().__init__()
        self.groups = groups


# ---- fold / unfold ----------------------------------------------------------------------------
class Fold(Module):
    """``F.fold`` as a module: columns (N, C kh kw, L) summed into (N, C, *output_size)."""

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.output_size, self.kernel_size = output_size, kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, input):
        return F.fold(input, self.output_size, self.kernel_size, self.dilation, self.padding,
                      self.stride)

    def extra_repr(self):
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, "
                f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}")


class Unfold(Module):
    """``F.unfold`` as a module: sliding blocks of (N, C, H, W) as columns (N, C kh kw, L)."""

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size = kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, input):
        return F.unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")


(FeatureAlphaDropout,) = _variants(_DropoutNd, __name__, (
    ("FeatureAlphaDropout", F.feature_alpha_dropout,
     "Alpha dropout of whole channels of (N, C, *) in training mode."),
))


# ---- upsampling -------------------------------------------------------------------------------
class UpsamplingNearest2d(Upsample):
    """Nearest-neighbour upsampling of (N, C, H, W) (``Upsample(mode="nearest")``)."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Bilinear upsampling of (N, C, H, W) with ``align_corners=True``."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


# ---- pooling ----------------------------------------------------------------------------------
class _LPPoolNd(Module):
    _fn = None

    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode=False):
        super().__init__()
        self.norm_type, self.kernel_size = norm_type, kernel_size
        self.stride, self.ceil_mode = stride, ceil_mode

    def forward(self, input):
        return type(self)._fn(input, float(self.norm_type), self.kernel_size, self.stride,
                              self.ceil_mode)

    def extra_repr(self):
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, ceil_mode={self.ceil_mode}")


LPPool1d, LPPool2d, LPPool3d = _variants(_LPPoolNd, __name__, (
    ("LPPool1d", F.lp_pool1d, "Power-average pooling along the last dimension."),
    ("LPPool2d", F.lp_pool2d, "Power-average pooling over the last two dimensions."),
    ("LPPool3d", F.lp_pool3d, "Power-average pooling over the last three dimensions."),
))


def _as_tuple(v, n):
    return (v,) * n if isinstance(v, int) else tuple(v)


class _MaxUnpoolNd(Module):
    _fn = None
    _n = 1

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        n = self._n
        self.kernel_size = _as_tuple(kernel_size, n)
        self.stride = _as_tuple(stride if stride is not None else kernel_size, n)
        self.padding = _as_tuple(padding, n)

    def forward(self, input, indices, output_size=None):
        return type(self)._fn(input, indices, self.kernel_size, self.stride, self.padding,
                              output_size)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


MaxUnpool1d, MaxUnpool2d, MaxUnpool3d = _variants(_MaxUnpoolNd, __name__, (
    ("MaxUnpool1d", F.max_unpool1d, "The inverse of MaxPool1d given its indices."),
    ("MaxUnpool2d", F.max_unpool2d, "The inverse of MaxPool2d given its indices."),
    ("MaxUnpool3d", F.max_unpool3d, "The inverse of MaxPool3d given its indices."),
))
for _n, _cls in enumerate((MaxUnpool1d, MaxUnpool2d, MaxUnpool3d), 1):
    _cls._n = _n


# ---- buffers ----------------------------------------------------------------------------------
class Buffer(Tensor):
    """A tensor that a Module registers as a buffer when assigned as an attribute (PyTorch
    2.5's ``nn.Buffer``); ``persistent=False`` keeps it out of ``state_dict``. It shares the
    data of the tensor it is made from and keeps its ``requires_grad``.

    >>> import tensorgrad as tg
    >>> m = tg.nn.Module()
    >>> m.stat = tg.nn.Buffer(tg.zeros(2))
    >>> [name for name, _ in m.named_buffers()]
    ['stat']
    """

    __slots__ = ("persistent",)
    _is_buffer = True  # what Module.__setattr__ looks for

    def __init__(self, data=None, *, persistent=True):
        src = data if data is not None else creation.empty(0)
        if isinstance(src, Tensor):
            Tensor.__init__(self, src.data, requires_grad=src.requires_grad)
        else:
            Tensor.__init__(self, keep_array(src))
        self.persistent = persistent
