"""More of PyTorch's ``torch.nn.functional``: activations, distances, shape changes, 1-d and
adaptive-max pooling, instance norm, interpolation and margin/likelihood losses.

All are compositions of differentiable primitives (no new derivative rules), so they have
derivatives of every order in both modes; terms that would overflow as written (softplus-like
logs of exponentials) go through the stable ``softplus`` primitive. Star-imported into
``tensorgrad.nn.functional``.
"""

import math

import numpy as np

from ..amp.autocast_mode import FP32 as _FP32
from ..amp.autocast_mode import cast_inputs as _cast_inputs
from ..backend.device import xp_of
from ..ops import elementwise as _ew
from ..ops import reduce as _red
from ..ops.index import getitem as _getitem
from ..ops.registry import AUTOCAST as _AUTOCAST
from ..ops.shape import broadcast_to as _broadcast_to
from ..ops.shape import concatenate_ as _concat
from ..ops.shape import expand_dims as _unsqueeze
from ..ops.shape import reshape as _reshape
from ..ops.shape import squeeze as _squeeze
from ..ops.shape import transpose as _transpose
from ..tensor import Tensor, _new_tensor, _raw
from ._inplace import apply_inplace as _apply_inplace
from .functional import (
    _check_per_channel,
    _check_reduction,
    _elu_family,
    _is_integral,
    _legacy_reduction,
    _on_vector,
    _pool_nonempty,
    _reduce,
    _softmax_dim,
    _softplus,
    _update_running,
    adaptive_avg_pool2d,
    avg_pool2d,
    batch_norm,
    group_norm,
    max_pool2d,
    softmax,
)

__all__ = [
    "relu6", "hardtanh", "hardsigmoid", "hardswish", "mish", "selu", "celu", "logsigmoid",
    "softsign", "tanhshrink", "softmin", "threshold", "glu", "prelu", "normalize",
    "cosine_similarity", "pairwise_distance", "dropout1d", "dropout2d", "alpha_dropout",
    "pixel_shuffle", "pixel_unshuffle", "interpolate", "bilinear", "max_pool1d", "avg_pool1d",
    "adaptive_avg_pool1d", "adaptive_max_pool1d", "adaptive_max_pool2d", "instance_norm",
    "local_response_norm",
    "margin_ranking_loss", "triplet_margin_loss", "cosine_embedding_loss",
    "hinge_embedding_loss", "soft_margin_loss", "multilabel_soft_margin_loss",
    "poisson_nll_loss", "gaussian_nll_loss",
]


def _shape(x):
    return tuple(x.shape)


def _const(value, like):
    """A 0-d array of ``like``'s dtype on its device."""
    raw = _raw(like)
    return xp_of(raw).asarray(value, dtype=raw.dtype)


# ---- activations ------------------------------------------------------------------------------
def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """``input`` clamped to [min_val, max_val]; the gradient is 1 strictly inside, 0 elsewhere
    (PyTorch's, also at the edges).

    >>> import tensorgrad as tg
    >>> tg.nn.functional.hardtanh(tg.tensor([-2.0, 0.5, 3.0])).tolist()
    [-1.0, 0.5, 1.0]
    """
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val={min_val} must not exceed max_val={max_val}")
    if inplace:
        return _apply_inplace(input, lambda x: hardtanh(x, min_val, max_val), "hardtanh")
    x = _raw(input)
    xp = xp_of(x)
    if x.dtype.kind in "iu":  # PyTorch keeps integers integer: the bounds truncated to ints
        out = xp.clip(x, int(min_val), int(max_val))
        return _new_tensor(out, None, False) if isinstance(input, Tensor) else out
    inside = (x > min_val) & (x < max_val)
    return _ew.where_kernel(inside, input, xp.clip(x, min_val, max_val))


def relu6(input, inplace=False):
    """min(max(input, 0), 6)."""
    return hardtanh(input, 0.0, 6.0, inplace)


def hardsigmoid(input, inplace=False):
    """relu6(input + 3) / 6, PyTorch's piecewise-linear sigmoid."""
    if inplace:
        return _apply_inplace(input, hardsigmoid, "hardsigmoid")
    return hardtanh(input + 3.0, 0.0, 6.0) / 6.0


def hardswish(input, inplace=False):
    """input * relu6(input + 3) / 6."""
    if inplace:
        return _apply_inplace(input, hardswish, "hardswish")
    return input * hardsigmoid(input)


def mish(input, inplace=False):
    """input * tanh(softplus(input)), softplus computed stably."""
    if inplace:
        return _apply_inplace(input, mish, "mish")
    return input * _ew.tanh(_softplus(input))


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input, inplace=False):
    """scale * elu(input, alpha) with PyTorch's constants."""
    if inplace:
        return _apply_inplace(input, selu, "selu")
    return _elu_family(input, _SELU_ALPHA, _SELU_SCALE, 1.0)


def celu(input, alpha=1.0, inplace=False):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0")
    if inplace:
        return _apply_inplace(input, lambda x: celu(x, alpha), "celu")
    return _elu_family(input, alpha, 1.0, alpha)


def logsigmoid(input):
    """log(sigmoid(input)) = -softplus(-input), without overflow."""
    return -_softplus(-input)


def softsign(input):
    """input / (1 + |input|)."""
    return input / (1 + _ew.abs(input))


def tanhshrink(input):
    """input - tanh(input)."""
    return input - _ew.tanh(input)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    """softmax(-input) along ``dim`` (None: PyTorch's implicit dimension)."""
    if dtype is not None:
        input = input.to(dtype) if hasattr(input, "to") else input.astype(dtype)
    return softmax(-input, _softmax_dim(input.ndim, dim, "softmin"))


def threshold(input, threshold, value, inplace=False):
    """input where input > threshold, else ``value``."""
    if inplace:
        return _apply_inplace(input, lambda x: _threshold_of(x, threshold, value), "threshold")
    return _threshold_of(input, threshold, value)


def _threshold_of(input, threshold, value):
    # value where input <= threshold, so that a NaN stays NaN (PyTorch's)
    return _ew.where_kernel(_raw(input) <= threshold, value, input)


def glu(input, dim=-1):
    """a * sigmoid(b), ``input`` split in halves a, b along ``dim``."""
    if input.ndim == 0:
        raise ValueError("glu: input must have at least one dimension, got a 0-d tensor")
    ax = dim % input.ndim
    n = input.shape[ax]
    if n % 2:
        raise ValueError(f"glu: dimension {dim} of input shape {_shape(input)} must have an "
                         f"even size, got {n}")
    lead = (slice(None),) * ax
    a = _getitem(input, lead + (slice(0, n // 2),))
    b = _getitem(input, lead + (slice(n // 2, n),))
    return a * _ew.sigmoid(b)


def prelu(input, weight):
    """max(0, x) + weight * min(0, x), ``weight`` one value or one per channel (dim 1)."""
    nw = int(np.prod(weight.shape)) if weight.ndim else 1
    if nw != 1:
        c = input.shape[1] if input.ndim >= 2 else (input.shape[0] if input.ndim else 1)
        if weight.ndim != 1 or nw != c:
            raise ValueError(f"prelu: weight of shape {_shape(weight)} must have 1 element or "
                             f"one per channel ({c}) of input shape {_shape(input)}")
        if input.ndim >= 2:
            weight = _reshape(weight, (1, c) + (1,) * (input.ndim - 2))
    elif weight.ndim:
        weight = _reshape(weight, ())
    return _ew.where_kernel(_raw(input) > 0, input, weight * input)


# ---- distances and normalisation --------------------------------------------------------------
def _pnorm(x, p, axis, keepdims):
    """The p-norm along ``axis``, with the subgradient 0 at a zero vector (PyTorch's), not the
    NaN of sqrt's derivative there."""
    from ..numpy.linalg import _vector_norm

    return _vector_norm(x, p, (axis,), keepdims)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """input / max(||input||_p, eps) along ``dim``.

    >>> import tensorgrad as tg
    >>> [round(v, 6) for v in tg.nn.functional.normalize(tg.tensor([[3.0, 4.0]]))[0].tolist()]
    [0.6, 0.8]
    """
    if out is not None:
        raise NotImplementedError("normalize: out= is not supported")
    return _on_vector(_normalize, input, dim % max(input.ndim, 1), p, eps)


def _normalize(x, ax, p, eps):
    return x / _ew.maximum(_pnorm(x, p, ax, True), eps)


def _broadcast_shapes(a, b, op):
    try:
        return np.broadcast_shapes(_shape(a), _shape(b))
    except ValueError:
        raise ValueError(f"{op}: x1 of shape {_shape(a)} and x2 of shape {_shape(b)} do not "
                         f"broadcast") from None


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """sum(x1/max(|x1|, eps) * x2/max(|x2|, eps)) along ``dim`` (PyTorch's formula)."""
    if _AUTOCAST[0]:  # PyTorch's float32 autocast list
        x1, x2 = _cast_inputs(_FP32, x1, x2)
    shape = _broadcast_shapes(x1, x2, "cosine_similarity")
    # broadcast first: the norms are taken over the broadcast dim, as PyTorch's
    x1 = x1 if _shape(x1) == shape else _broadcast_to(x1, shape)
    x2 = x2 if _shape(x2) == shape else _broadcast_to(x2, shape)
    ax = dim % max(len(shape), 1)
    if not shape:  # 0-d: one element along dim 0 (PyTorch's)
        x1, x2 = _reshape(x1, (1,)), _reshape(x2, (1,))
    n1 = _ew.maximum(_pnorm(x1, 2, ax, True), eps)
    n2 = _ew.maximum(_pnorm(x2, 2, ax, True), eps)
    return _red.sum((x1 / n1) * (x2 / n2), (ax,), False)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """||x1 - x2 + eps||_p along the last dimension."""
    shape = _broadcast_shapes(x1, x2, "pairwise_distance")
    return _pnorm(x1 - x2 + eps, p, max(len(shape), 1) - 1, keepdim)


# ---- dropout ----------------------------------------------------------------------------------
def _channel_dropout(input, p, training, spatial, op):
    if not 0 <= p <= 1:
        raise ValueError(f"{op}: p must be in [0, 1], got {p}")
    if input.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(f"{op}: input must be (N, C{', L' if spatial == 1 else ', H, W'}) or "
                         f"unbatched, got shape {_shape(input)}")
    if not training or p == 0:
        return input
    from .. import creation

    raw = _raw(input)
    lead = input.shape[:input.ndim - spatial]
    if p == 1:
        return input * xp_of(raw).zeros((), dtype=raw.dtype)
    keep = creation.rand(*lead, device=input.device).data >= p
    keep = keep.reshape(tuple(lead) + (1,) * spatial)
    return input * (keep.astype(raw.dtype) / raw.dtype.type(1 - p))


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, L) or (C, L) with probability ``p``, scale the rest."""
    if inplace and training and p:
        return _apply_inplace(input, lambda x: dropout1d(x, p, training), "dropout1d")
    return _channel_dropout(input, p, training, 1, "dropout1d")


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, H, W) with probability ``p``. As PyTorch 2.13 (with its
    warnings): a 3-D input is (N, C, L), and any other input of 2 or more dimensions has its
    mask over the first two (a 2-D (N, F) input drops single elements, as ``dropout``)."""
    if input.ndim < 2:
        raise ValueError(f"dropout2d: input must be (N, C, H, W), (N, C, L) or have at least "
                         f"2 dimensions, got shape {_shape(input)}")
    if input.ndim != 4:
        import warnings

        warnings.warn(f"dropout2d: Received a {input.ndim}-D input; as PyTorch, its mask is "
                      f"over the first 2 dimensions (N, C): use dropout for 2-D input and "
                      f"dropout1d for (N, C, L)", stacklevel=2)
    if inplace and training and p:
        return _apply_inplace(input, lambda x: _channel_dropout(x, p, training, x.ndim - 2,
                                                                 "dropout2d"), "dropout2d")
    return _channel_dropout(input, p, training, input.ndim - 2, "dropout2d")


def _alpha_dropout(input, p, training, mask_shape, op):
    """Alpha dropout (SELU's negative saturation for dropped values, then the affine map that
    keeps mean and variance) with one draw per element of ``mask_shape``, which broadcasts to
    the input's shape: the elements for ``alpha_dropout``, (N, C, 1, ...) for
    ``feature_alpha_dropout``."""
    if not 0 <= p <= 1:
        raise ValueError(f"{op}: p must be in [0, 1], got {p}")
    if not training or p == 0:
        return input
    raw = _raw(input)
    if p == 1:
        return input * xp_of(raw).zeros((), dtype=raw.dtype)
    from .. import creation

    alpha = _SELU_ALPHA * _SELU_SCALE  # dropped values go to -alpha a (1 - p), as PyTorch's
    a = 1.0 / math.sqrt((alpha * alpha * p + 1) * (1 - p))
    keep = (creation.rand(*mask_shape, device=input.device).data >= p).astype(raw.dtype)
    b = (keep - 1) * raw.dtype.type(alpha * a) + raw.dtype.type(alpha * a * p)
    return input * (keep * raw.dtype.type(a)) + b


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    """PyTorch's alpha dropout for SELU networks: dropped elements take SELU's negative
    saturation value and an affine map keeps mean and variance."""
    if inplace and training and p:
        return _apply_inplace(input, lambda x: alpha_dropout(x, p, training), "alpha_dropout")
    return _alpha_dropout(input, p, training, _shape(input), "alpha_dropout")


# ---- shape --------------------------------------------------------------------------------------
def pixel_shuffle(input, upscale_factor):
    """(*, C r^2, H, W) -> (*, C, H r, W r)."""
    r = int(upscale_factor)
    if input.ndim < 3 or r <= 0 or input.shape[-3] % (r * r):
        raise ValueError(f"pixel_shuffle: input of shape {_shape(input)} needs at least 3 "
                         f"dimensions and a channel count divisible by upscale_factor**2 = "
                         f"{r * r}")
    lead = tuple(input.shape[:-3])
    c, h, w = input.shape[-3:]
    k = len(lead)
    x = _reshape(input, lead + (c // (r * r), r, r, h, w))
    x = _transpose(x, tuple(range(k)) + (k, k + 3, k + 1, k + 4, k + 2))
    return _reshape(x, lead + (c // (r * r), h * r, w * r))


def pixel_unshuffle(input, downscale_factor):
    """(*, C, H r, W r) -> (*, C r^2, H, W), the inverse of pixel_shuffle."""
    r = int(downscale_factor)
    if input.ndim < 3 or r <= 0 or input.shape[-2] % r or input.shape[-1] % r:
        raise ValueError(f"pixel_unshuffle: input of shape {_shape(input)} needs at least 3 "
                         f"dimensions and height and width divisible by downscale_factor={r}")
    lead = tuple(input.shape[:-3])
    c, h, w = input.shape[-3:]
    k = len(lead)
    x = _reshape(input, lead + (c, h // r, r, w // r, r))
    x = _transpose(x, tuple(range(k)) + (k, k + 2, k + 4, k + 1, k + 3))
    return _reshape(x, lead + (c * r * r, h // r, w // r))


# ---- interpolation ----------------------------------------------------------------------------
_INTERP_MODES = {"nearest": None, "nearest-exact": None, "area": None, "linear": 1,
                 "bilinear": 2, "bicubic": 2, "trilinear": 3, "lanczos": 2}


def _aa_filter(mode, x):
    """The antialiasing filters of PyTorch's ``interpolate(..., antialias=True)`` (PIL's): the
    triangle, Keys' cubic with a = -0.5, and Lanczos-3; and their half-widths."""
    x = np.abs(x)
    if mode == "bilinear":
        return np.maximum(1 - x, 0.0)
    if mode == "bicubic":
        a = -0.5
        near = ((a + 2) * x - (a + 3)) * x * x + 1
        far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
        return np.where(x < 1, near, np.where(x < 2, far, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        sinc = np.where(x == 0, 1.0, np.sin(np.pi * x) / (np.pi * x))
        sinc3 = np.where(x == 0, 1.0, np.sin(np.pi * x / 3) / (np.pi * x / 3))
    return np.where(x < 3, sinc * sinc3, 0.0)


_AA_SUPPORT = {"bilinear": 1.0, "bicubic": 2.0, "lanczos": 3.0}


def _aa_weights(mode, n_in, n_out, scale):
    """The (n_out, n_in) matrix of antialiased resampling along one axis, as PyTorch computes
    it: output i is centred at ``scale (i + 0.5)`` of the input; when shrinking (scale > 1)
    the filter is stretched by ``scale``, so each output averages every input it covers;
    each row's weights sum to one."""
    support = _AA_SUPPORT[mode] * max(scale, 1.0)
    invscale = 1.0 / scale if scale >= 1.0 else 1.0
    centre = scale * (np.arange(n_out) + 0.5)
    lo = np.maximum((centre - support + 0.5).astype(np.int64), 0)  # C's truncation
    hi = np.minimum((centre + support + 0.5).astype(np.int64), n_in)
    cols = lo[:, None] + np.arange(int(math.ceil(support)) * 2 + 1)[None, :]
    inside = cols < hi[:, None]
    w = np.where(inside, _aa_filter(mode, (cols - centre[:, None] + 0.5) * invscale), 0.0)
    total = w.sum(1, keepdims=True)
    w = np.divide(w, total, out=np.zeros_like(w), where=total != 0)
    out = np.zeros((n_out, n_in))
    rows = np.broadcast_to(np.arange(n_out)[:, None], cols.shape)
    out[rows[inside], cols[inside]] = w[inside]
    return out
_CUBIC_A = -0.75  # PyTorch's (and OpenCV's) coefficient of the cubic convolution


def _cubic_taps(src, n_in):
    """The four source indices (clamped to the border, as PyTorch's) and weights of cubic
    convolution at the (unclamped) source positions ``src``: each a list of four arrays."""
    a = _CUBIC_A
    i0 = np.floor(src).astype(np.int64)
    t = src - i0

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    weights = [far(t + 1), near(t), near(1 - t), far(2 - t)]
    return [np.clip(i0 + k, 0, n_in - 1) for k in (-1, 0, 1, 2)], weights


def _interp_sizes(input, size, scale_factor, recompute, op):
    d = input.ndim - 2
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: give exactly one of size and scale_factor, got size={size!r}, "
                         f"scale_factor={scale_factor!r}")
    if size is not None:
        sizes = (size,) * d if isinstance(size, (int, np.integer)) else tuple(size)
        if len(sizes) != d:
            raise ValueError(f"{op}: size {size!r} must have {d} entries for input shape "
                             f"{_shape(input)}")
        sizes = tuple(int(s) for s in sizes)
        scales = tuple(i / o for i, o in zip(input.shape[2:], sizes, strict=True))
        return sizes, scales
    factors = (scale_factor,) * d if isinstance(scale_factor, (int, float)) \
        else tuple(scale_factor)
    if len(factors) != d:
        raise ValueError(f"{op}: scale_factor {scale_factor!r} must have {d} entries for input "
                         f"shape {_shape(input)}")
    sizes = tuple(int(math.floor(i * float(f))) for i, f in zip(input.shape[2:], factors,
                                                                 strict=True))
    if recompute:
        scales = tuple(i / o for i, o in zip(input.shape[2:], sizes, strict=True))
    else:
        scales = tuple(1.0 / float(f) for f in factors)
    return sizes, scales


def _take_axis(x, ax, idx):
    return _getitem(x, (slice(None),) * ax + (idx,))


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize the spatial dimensions of (N, C, *spatial), as PyTorch's: ``mode`` is
    ``"nearest"``, ``"nearest-exact"`` (pixel centres: the source index of output i is
    floor((i + 0.5) * scale)) or ``"area"`` (adaptive average pooling to the output size), for
    1 to 3 spatial dimensions, ``"linear"`` (3-D input), ``"bilinear"`` or
    ``"bicubic"`` (4-D; cubic convolution with a = -0.75, borders replicated) or
    ``"trilinear"`` (5-D), with ``align_corners`` for the linear and cubic modes. Gathers and
    weighted sums along one axis at a time: differentiable in any order.

    >>> import tensorgrad as tg
    >>> x = tg.tensor([[[0.0, 1.0]]])
    >>> tg.nn.functional.interpolate(x, scale_factor=2, mode="linear").tolist()
    [[[0.0, 0.25, 0.75, 1.0]]]
    """
    op = "interpolate"
    if mode not in _INTERP_MODES:
        raise ValueError(f"{op}: mode must be one of {tuple(_INTERP_MODES)}, got {mode!r}")
    if antialias and not (mode in _AA_SUPPORT and input.ndim == 4):
        raise ValueError(f"{op}: antialias=True takes the bilinear, bicubic and lanczos modes "
                         f"and a 4-D input (N, C, H, W), got mode {mode!r} and shape "
                         f"{_shape(input)}")
    if mode == "lanczos" and (not antialias or align_corners):
        raise ValueError(f"{op}: mode 'lanczos' needs antialias=True and align_corners "
                         f"False, got antialias={antialias}, align_corners={align_corners}")
    want = _INTERP_MODES[mode]
    if input.ndim not in (3, 4, 5) or (want is not None and input.ndim != want + 2):
        need = "3-D to 5-D" if want is None else f"{want + 2}-D"
        raise ValueError(f"{op}: mode {mode!r} needs a {need} input (N, C, *spatial), got "
                         f"shape {_shape(input)}")
    if want is None and align_corners is not None:
        raise ValueError(f"{op}: align_corners applies to the linear modes only, not {mode!r}")
    sizes, scales = _interp_sizes(input, size, scale_factor, recompute_scale_factor, op)
    if min(sizes) <= 0:
        raise ValueError(f"{op}: output size {sizes} must be positive (input shape "
                         f"{_shape(input)})")
    if mode == "area":
        from . import functional as F

        pool = {3: adaptive_avg_pool1d, 4: F.adaptive_avg_pool2d, 5: F.adaptive_avg_pool3d}
        return pool[input.ndim](input, tuple(sizes))
    raw = _raw(input)
    xp = xp_of(raw)
    x = input
    if antialias:  # one (out, in) matrix per axis, applied as products: rows, then columns
        from ..ops.linalg import matmul

        for k, (n_in, n_out, scale) in enumerate(zip(input.shape[2:], sizes, scales,
                                                     strict=True)):
            if align_corners:
                scale = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
            m = xp.asarray(_aa_weights(mode, n_in, n_out, scale).astype(raw.dtype))
            x = matmul(m, x) if k == 0 else matmul(x, m.T)
        return x
    for k, (n_in, n_out, scale) in enumerate(zip(input.shape[2:], sizes, scales, strict=True)):
        ax = k + 2
        dst = np.arange(n_out, dtype=np.float64)
        if want is None:
            at = dst + 0.5 if mode == "nearest-exact" else dst
            idx = np.minimum(np.floor(at * scale).astype(np.int64), n_in - 1)
            x = _take_axis(x, ax, xp.asarray(idx))
            continue
        wshape = (n_out,) + (1,) * (input.ndim - 1 - ax)
        if align_corners:
            src = dst * ((n_in - 1) / (n_out - 1)) if n_out > 1 else dst * 0
        else:
            src = (dst + 0.5) * scale - 0.5
        if mode == "bicubic":  # the source position is not clamped at 0 (PyTorch's)
            taps, weights = _cubic_taps(src, n_in)
            terms = [_take_axis(x, ax, xp.asarray(i)) *
                     xp.asarray(w.reshape(wshape).astype(raw.dtype))
                     for i, w in zip(taps, weights, strict=True)]
            x = (terms[0] + terms[1]) + (terms[2] + terms[3])
            continue
        src = np.maximum(src, 0.0)
        i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        lam = src - i0
        l1 = xp.asarray(lam.reshape(wshape).astype(raw.dtype))
        l0 = xp.asarray((1 - lam).reshape(wshape).astype(raw.dtype))
        x = _take_axis(x, ax, xp.asarray(i0)) * l0 + _take_axis(x, ax, xp.asarray(i1)) * l1
    return x


# ---- bilinear ---------------------------------------------------------------------------------
def bilinear(input1, input2, weight, bias=None):
    """y_o = x1^T A_o x2 + b_o with ``weight`` (out, in1, in2) and ``bias`` (out,)."""
    from ..ops.linalg import matmul

    if weight.ndim != 3 or input1.ndim == 0 or input1.shape[-1] != weight.shape[1] or \
            input2.shape[-1] != weight.shape[2] or input1.shape[:-1] != input2.shape[:-1]:
        raise ValueError(f"bilinear: input1 of shape {_shape(input1)} and input2 of shape "
                         f"{_shape(input2)} do not fit a weight of shape {_shape(weight)} "
                         f"(out_features, in1_features, in2_features)")
    o, i1, i2 = weight.shape
    if bias is not None and _shape(bias) != (o,):
        raise ValueError(f"bilinear: bias must have shape ({o},), got {_shape(bias)}")
    w = _reshape(_transpose(weight, (1, 0, 2)), (i1, o * i2))
    u = _reshape(matmul(input1, w), tuple(input1.shape[:-1]) + (o, i2))
    y = _red.sum(u * _unsqueeze(input2, input2.ndim - 1), (input2.ndim,), False)
    return y if bias is None else y + bias


# ---- 1-d and adaptive max pooling ---------------------------------------------------------------
def _one(v, name, op):
    if isinstance(v, (int, np.integer)):
        return int(v)
    v = tuple(v)
    if len(v) != 1:
        raise ValueError(f"{op}: {name} must be an int or a 1-tuple, got {v!r}")
    return int(v[0])


def _pool1d(input, kernel_size, stride, padding, pool2d, op):
    if input.ndim not in (2, 3):
        raise ValueError(f"{op}: input must be (N, C, L) or (C, L), got shape {_shape(input)}")
    k = _one(kernel_size, "kernel_size", op)
    s = k if stride is None or stride == () else _one(stride, "stride", op)
    p = _one(padding, "padding", op)
    x = _unsqueeze(input, input.ndim - 1)
    batched = x.ndim == 4
    if not batched:
        x = _unsqueeze(x, 0)
    y = pool2d(x, (1, k), (1, s), (0, p))
    y = _squeeze(y, (2,))
    return y if batched else _squeeze(y, (0,))


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over windows along the last dimension of (N, C, L) or (C, L); ``return_indices``
    also gives the input index of each maximum, for ``max_unpool1d``. With ``dilation``,
    ``ceil_mode`` or ``return_indices`` the gradient goes to the one maximum picked (PyTorch's);
    otherwise ties split it evenly."""
    _pool_nonempty("max_pool1d", input, 1)
    if _one(dilation, "dilation", "max_pool1d") != 1 or ceil_mode or return_indices:
        from ._functional_extra_a import max_pool1d_with_indices

        out = max_pool1d_with_indices(input, kernel_size, stride, padding, dilation, ceil_mode)
        return out if return_indices else out[0]
    return _pool1d(input, kernel_size, stride, padding, max_pool2d, "max_pool1d")


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """Mean over windows along the last dimension of (N, C, L) or (C, L); ``ceil_mode`` and
    ``count_include_pad`` as PyTorch's (avg_pool3d's)."""
    if ceil_mode or not count_include_pad or _is_integral(input):
        from ._functional_3d import _avg_pool

        return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode,
                         count_include_pad, None)
    return _pool1d(input, kernel_size, stride, padding, avg_pool2d, "avg_pool1d")


def adaptive_avg_pool1d(input, output_size):
    """Average pooling of (N, C, L) or (C, L) to length ``output_size``."""
    if input.ndim not in (2, 3):
        raise ValueError(f"adaptive_avg_pool1d: input must be (N, C, L) or (C, L), got shape "
                         f"{_shape(input)}")
    o = _one(output_size, "output_size", "adaptive_avg_pool1d")
    y = adaptive_avg_pool2d(_unsqueeze(input, input.ndim - 1), (1, o))
    return _squeeze(y, (y.ndim - 2,))


def _windows(n_in, n_out):
    return [((i * n_in) // n_out, -(-((i + 1) * n_in) // n_out)) for i in range(n_out)]


def _adaptive_max(input, sizes, op):
    d = len(sizes)
    if input.ndim not in (d + 1, d + 2):
        raise ValueError(f"{op}: input must have {d + 1} or {d + 2} dimensions, got shape "
                         f"{_shape(input)}")
    spatial = tuple(input.shape[input.ndim - d:])
    sizes = tuple(i if o is None else int(o) for o, i in zip(sizes, spatial, strict=True))
    if min(sizes) <= 0 or min(spatial) <= 0:
        raise ValueError(f"{op}: output_size {sizes} and input spatial size {spatial} must be "
                         f"positive")
    x = input
    for k, (n_in, n_out) in enumerate(zip(spatial, sizes, strict=True)):
        ax = input.ndim - d + k
        if n_in == n_out:
            continue
        parts = [_red.max_kernel(_getitem(x, (slice(None),) * ax + (slice(a, b),)), (ax,), True)
                 for a, b in _windows(n_in, n_out)]
        x = _concat(ax, *parts)
    return x


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Max pooling of (N, C, L) or (C, L) to length ``output_size`` (PyTorch's windows);
    ``return_indices`` also gives the index of each maximum (the gradient then goes to that
    one element, PyTorch's; without it ties split the gradient evenly)."""
    if return_indices:
        from ._functional_extra_a import adaptive_max_pool1d_with_indices

        return adaptive_max_pool1d_with_indices(input, output_size)
    return _adaptive_max(input, (_one(output_size, "output_size", "adaptive_max_pool1d"),),
                         "adaptive_max_pool1d")


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling of (N, C, H, W) or (C, H, W) to (OH, OW); None keeps a dimension. Max is
    separable, so rows then columns; ties split the gradient evenly. ``return_indices`` also
    gives the flat (h W + w) index of each maximum, and the gradient goes to that element."""
    if return_indices:
        from ._functional_extra_a import adaptive_max_pool2d_with_indices

        return adaptive_max_pool2d_with_indices(input, output_size)
    sizes = (output_size, output_size) if output_size is None or \
        isinstance(output_size, (int, np.integer)) else tuple(output_size)
    if len(sizes) != 2:
        raise ValueError(f"adaptive_max_pool2d: output_size must be an int or a pair, got "
                         f"{output_size!r}")
    return _adaptive_max(input, sizes, "adaptive_max_pool2d")


# ---- instance norm ------------------------------------------------------------------------------
def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """Each sample's channels normalised over their positions (group_norm with one channel a
    group), as PyTorch's. Given ``running_mean`` and ``running_var`` (shape (C,)),
    ``use_input_stats`` also updates them in place, PyTorch's way: ``running = (1 - momentum)
    running + momentum s``, s the mean over the batch of the per-instance means and unbiased
    variances. With ``use_input_stats=False`` the running statistics normalise instead.

    >>> import tensorgrad as tg
    >>> rm, rv = tg.zeros(1), tg.ones(1)
    >>> y = tg.nn.functional.instance_norm(tg.tensor([[[1.0, 3.0]], [[2.0, 6.0]]]), rm, rv,
    ...                                    momentum=0.5)
    >>> [round(v, 3) for v in y.flatten().tolist()], rm.tolist(), rv.tolist()
    ([-1.0, 1.0, -1.0, 1.0], [1.5], [3.0])
    """
    if input.ndim < 3:
        raise ValueError(f"instance_norm: input must be (N, C, *spatial), got shape "
                         f"{_shape(input)}")
    if not use_input_stats:
        return batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps)
    if (running_mean is None) != (running_var is None):
        raise ValueError("instance_norm: give both running_mean and running_var, or neither")
    if running_mean is not None:
        n, c = _shape(input)[:2]
        _check_per_channel("instance_norm", c, input, running_mean=running_mean,
                           running_var=running_var)
        x = _raw(input)
        count = x.size // (n * c) if n * c else 0
        if count <= 1:
            raise ValueError(f"instance_norm: expected more than 1 spatial element when "
                             f"updating running statistics, got input shape {_shape(input)}")
        axes = tuple(range(2, x.ndim))
        _update_running(running_mean, x.mean(axis=axes).mean(axis=0), momentum)
        var = x.var(axis=axes) * x.dtype.type(count / (count - 1))
        _update_running(running_var, var.mean(axis=0), momentum)
    return group_norm(input, input.shape[1], weight, bias, eps)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """x / (k + alpha * mean of x^2 over ``size`` neighbouring channels)^beta, the window
    zero-padded (size // 2 before, (size - 1) // 2 after) and always divided by ``size``, as
    PyTorch's."""
    from .functional import pad

    if input.ndim >= 3 and _raw(input).size == 0:  # PyTorch returns an empty input as it is
        return input
    if input.ndim < 3:
        raise ValueError(f"local_response_norm: input must be (N, C, *), got shape "
                         f"{_shape(input)}")
    if int(size) <= 0:
        raise ValueError(f"local_response_norm: size must be positive, got {size}")
    n, c = input.shape[:2]
    sq = _reshape(input * input, (n, c, math.prod(_shape(input)[2:])))
    sq = pad(sq, (0, 0, size // 2, (size - 1) // 2))
    div = _getitem(sq, (slice(None), slice(0, c)))
    for j in range(1, size):
        div = div + _getitem(sq, (slice(None), slice(j, j + c)))
    if _is_integral(input):  # PyTorch averages integers with an integer (truncating) division
        div = div // size
        div = _reshape(div, _shape(input)) * alpha + k
    else:
        div = _reshape(div, _shape(input)) * (alpha / size) + k
    return input / div ** beta


# ---- losses -------------------------------------------------------------------------------------
def _same_shape(op, **arrays):
    shapes = {k: _shape(v) for k, v in arrays.items() if hasattr(v, "shape")}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{k} {s}" for k, s in shapes.items())
        raise ValueError(f"{op}: shapes must match, got {listed}")


def _loss_args(op, size_average, reduce, reduction, *inputs, autocast=True):
    """A loss's common prologue: check ``reduction`` (the caller has mapped the deprecated
    ``size_average`` and ``reduce`` to it with ``_legacy_reduction``, as PyTorch does), and
    return ``inputs``, cast to float32 under autocast when ``autocast`` (the loss is on
    PyTorch's float32 autocast list)."""
    _check_reduction(reduction, op)
    if autocast and _AUTOCAST[0]:
        inputs = _cast_inputs(_FP32, *inputs)
    return tuple(inputs)


def margin_ranking_loss(input1, input2, target, margin=0, size_average=None, reduce=None,
                        reduction="mean"):
    """max(0, -target * (input1 - input2) + margin)."""
    op = "margin_ranking_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    input1, input2, target = _loss_args(op, size_average, reduce, reduction, input1, input2, target)
    _same_shape(op, input1=input1, input2=input2, target=target)
    # clamp_min, as PyTorch's: at the margin the gradient is the linear part's (relu's is 0)
    return _reduce(_ew.clip(-target * (input1 - input2) + margin, 0, None), reduction, op)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None,
                         reduction="mean"):
    """input where target is 1, max(0, margin - input) where target is -1."""
    op = "hinge_embedding_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    input, target = _loss_args(op, size_average, reduce, reduction, input, target)
    _same_shape(op, input=input, target=target)
    t = _raw(target)
    # clamp_min, as PyTorch's: at margin == input the gradient is -1 (relu's would be 0)
    loss = _ew.where(t != 1, _ew.clip(margin - input, 0, None), 0.0) + \
        _ew.where(t != -1, input, 0.0)
    return _reduce(loss, reduction, op)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """log(1 + exp(-target * input)), stably."""
    op = "soft_margin_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    input, target = _loss_args(op, size_average, reduce, reduction, input, target)
    _same_shape(op, input=input, target=target)
    return _reduce(_softplus(-target * input), reduction, op)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,
                                reduction="mean"):
    """Per sample, the mean over the C classes of the binary logistic loss of (N, C) logits."""
    op = "multilabel_soft_margin_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _loss_args(op, size_average, reduce, reduction, autocast=False)
    _same_shape(op, input=input, target=target)
    if input.ndim not in (1, 2):
        raise ValueError(f"{op}: input must be (N, C) or (C,), got shape {_shape(input)}")
    loss = target * _softplus(-input) + (1 - target) * _softplus(input)
    if weight is not None:
        loss = loss * weight
    c = input.shape[-1]
    return _reduce(_red.sum(loss, (input.ndim - 1,), False) / c, reduction, op)


def cosine_embedding_loss(input1, input2, target, margin=0, size_average=None, reduce=None,
                          reduction="mean"):
    """1 - cos(x1, x2) where target is 1, max(0, cos(x1, x2) - margin) where it is -1."""
    op = "cosine_embedding_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    input1, input2, target = _loss_args(op, size_average, reduce, reduction, input1, input2, target)
    _same_shape(op, input1=input1, input2=input2)
    if input1.ndim not in (1, 2) or _shape(target) != _shape(input1)[:-1]:
        raise ValueError(f"{op}: inputs must be (N, D) or (D,) with target (N,) or (), got "
                         f"input1 {_shape(input1)}, target {_shape(target)}")
    ax = input1.ndim - 1
    eps = 1e-12  # PyTorch's
    dot = _red.sum(input1 * input2, (ax,), False)
    m1 = _red.sum(input1 * input1, (ax,), False) + eps
    m2 = _red.sum(input2 * input2, (ax,), False) + eps
    cos = dot / _ew.sqrt(m1 * m2)
    t = _raw(target)
    loss = _ew.where(t == 1, 1 - cos, 0.0) + _ew.where(t == -1, _ew.relu(cos - margin), 0.0)
    return _reduce(loss, reduction, op)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False,
                        size_average=None, reduce=None, reduction="mean"):
    """max(0, margin + d(a, p) - d(a, n)), d the pairwise p-norm distance."""
    op = "triplet_margin_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    anchor, positive, negative = _loss_args(op, size_average, reduce, reduction, anchor,
                                            positive, negative)
    _same_shape(op, anchor=anchor, positive=positive, negative=negative)
    if anchor.ndim not in (1, 2):
        raise ValueError(f"{op}: inputs must be (N, D) or (D,), got shape {_shape(anchor)}")
    if not margin > 0:
        raise ValueError(f"{op}: margin must be greater than 0, got {margin} (inputs of shape "
                         f"{_shape(anchor)})")
    d_ap = pairwise_distance(anchor, positive, p, eps)
    d_an = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_an = _ew.minimum(d_an, pairwise_distance(positive, negative, p, eps))
    return _reduce(_ew.relu(margin + d_ap - d_an), reduction, op)


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8,
                     reduce=None, reduction="mean"):
    """exp(input) - target * input (``log_input``), else input - target * log(input + eps);
    ``full`` adds Stirling's term for target > 1."""
    op = "poisson_nll_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    input, target = _loss_args(op, size_average, reduce, reduction, input, target)
    if log_input:
        loss = _ew.exp(input) - target * input
    else:
        loss = input - target * _ew.log(input + eps)
    if full:  # differentiable in the target too (a predicted target), as PyTorch's
        big = _raw(target) > 1
        safe = _ew.where(big, target, 1.0)
        stirling = safe * _ew.log(safe) - safe + 0.5 * _ew.log(2 * math.pi * safe)
        loss = loss + _ew.where(big, stirling, 0.0)
    return _reduce(loss, reduction, op)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """0.5 (log(var) + (input - target)^2 / var), var clamped below at ``eps`` (the clamp
    passes the gradient through, as PyTorch's), ``full`` adds 0.5 log(2 pi). ``var`` has the
    input's shape, or its shape without the last dimension, or its shape with one dimension
    of size 1 (broadcast: one variance shared along that dimension, as PyTorch's
    homoscedastic case), or is a float."""
    op = "gaussian_nll_loss"
    _check_reduction(reduction, op)
    if isinstance(var, (int, float)):
        var = _const(float(var), input) + 0 * _raw(input)
    vs, xs = _shape(var), _shape(input)
    if vs != xs:
        if xs[:-1] == vs:
            var = _unsqueeze(var, var.ndim)
        elif len(vs) != len(xs) or sum(v for x, v in zip(xs, vs) if x != v) != 1:
            # PyTorch's rule: the same rank and the var's sizes where the shapes differ sum to
            # 1 (one dimension of size 1 to broadcast)
            raise ValueError(f"{op}: var of shape {vs} does not fit input of shape {xs}: it "
                             f"must be the input's shape, that shape without its last "
                             f"dimension, or that shape with one dimension of size 1")
    v = _raw(var)
    if v.size and xp_of(v) is np and bool((v < 0).any()):
        raise ValueError(f"{op}: var has negative entries")
    var = var + (xp_of(v).maximum(v, eps) - v)  # clamp whose gradient is the identity
    loss = 0.5 * (_ew.log(var) + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction, op)

