"""PyTorch's top-level copies of ``torch.nn.functional``: ``torch.conv2d``, ``torch.max_pool2d``,
``torch.batch_norm``, ``torch.embedding``, ``torch.kl_div``, ... with the top level's own
arguments, which differ from ``F``'s: ``batch_norm``/``instance_norm`` take (weight, bias)
before the running statistics and a ``cudnn_enabled`` flag, ``dropout`` takes ``train``,
``embedding`` takes (weight, indices, padding_idx=-1), ``adaptive_max_pool1d`` returns
(values, indices), the losses take ``reduction`` as an integer (0 none, 1 mean, 2 sum), and the
max pools have no ``return_indices``. Each is a thin wrapper over ``tensorgrad.nn.functional``
(so the same derivatives); only names tensorgrad's top level lacks are exported.

>>> import tensorgrad as tg
>>> x = tg.tensor([[[1.0, 3.0, 2.0, 0.0]]])
>>> tg.max_pool1d(x, 2).tolist(), tg.adaptive_max_pool1d(x, 1)[1].tolist()
([[[3.0, 2.0]]], [[[1]]])
>>> tg.hinge_embedding_loss(tg.tensor([0.5, 2.0]), tg.tensor([1.0, -1.0]), 1.0, 2).item()
0.5
"""

import sys

import numpy as np

from .backend.device import to_host, xp_of
from .nn import functional as F
from .nn._functional_extra_a import _rrelu
from .nn._inplace import apply_inplace as _apply_inplace
from .tensor import _new_tensor, _raw

_REDUCTIONS = {0: "none", 1: "mean", 2: "sum"}


def _reduction(value, op):
    """PyTorch's integer reduction (``torch.nn._reduction``'s enum) as F's string."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or int(value) not in _REDUCTIONS:
        raise TypeError(f"{op}: reduction must be 0 (none), 1 (mean) or 2 (sum) at the top "
                        f"level (torch's enum; nn.functional takes the names), got {value!r}")
    return _REDUCTIONS[int(value)]


# ---- convolutions: the same arguments as F's ------------------------------------------------
conv1d = F.conv1d
conv2d = F.conv2d
conv3d = F.conv3d
conv_transpose1d = F.conv_transpose1d
conv_transpose2d = F.conv_transpose2d
conv_transpose3d = F.conv_transpose3d


# ---- pooling ------------------------------------------------------------------------------
avg_pool1d = F.avg_pool1d
adaptive_avg_pool1d = F.adaptive_avg_pool1d


def _stride(stride):
    """The top level's default stride ``()`` (an empty list: the kernel) as F's None."""
    return None if isinstance(stride, (tuple, list)) and not stride else stride


def max_pool1d(input, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    """``F.max_pool1d`` without ``return_indices`` (``torch.max_pool1d``)."""
    return F.max_pool1d(input, kernel_size, _stride(stride), padding, dilation, ceil_mode)


def max_pool2d(input, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    """``F.max_pool2d`` without ``return_indices`` (``torch.max_pool2d``)."""
    return F.max_pool2d(input, kernel_size, _stride(stride), padding, dilation, ceil_mode)


def max_pool3d(input, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    """``F.max_pool3d`` without ``return_indices`` (``torch.max_pool3d``)."""
    return F.max_pool3d(input, kernel_size, _stride(stride), padding, dilation, ceil_mode)


def max_pool1d_with_indices(input, kernel_size, stride=(), padding=0, dilation=1,
                            ceil_mode=False):
    """(values, indices) of a 1-d max pool (``torch.max_pool1d_with_indices``)."""
    return F.max_pool1d_with_indices(input, kernel_size, _stride(stride), padding, dilation,
                                     ceil_mode)


def adaptive_max_pool1d(input, output_size):
    """(values, indices): ``torch.adaptive_max_pool1d`` always returns both."""
    return F.adaptive_max_pool1d_with_indices(input, output_size)


# ---- normalisation ------------------------------------------------------------------------
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5, cudnn_enable=True):
    """``F.layer_norm``; ``cudnn_enable`` is accepted and has no effect."""
    return F.layer_norm(input, normalized_shape, weight, bias, eps)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5, cudnn_enabled=True):
    """``F.group_norm``; ``cudnn_enabled`` is accepted and has no effect."""
    return F.group_norm(input, num_groups, weight, bias, eps)


def batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps,
               cudnn_enabled):
    """``F.batch_norm`` with the top level's order: (weight, bias) before the running
    statistics, every argument required; ``cudnn_enabled`` has no effect."""
    return F.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def instance_norm(input, weight, bias, running_mean, running_var, use_input_stats, momentum,
                  eps, cudnn_enabled):
    """``F.instance_norm`` with the top level's order (see ``batch_norm``)."""
    return F.instance_norm(input, running_mean, running_var, weight, bias, use_input_stats,
                           momentum, eps)


# ---- shape and activations ----------------------------------------------------------------
pixel_shuffle = F.pixel_shuffle
pixel_unshuffle = F.pixel_unshuffle
prelu = F.prelu
bilinear = F.bilinear
hardshrink = F.hardshrink
channel_shuffle = F.channel_shuffle
native_channel_shuffle = F.native_channel_shuffle
selu_ = F.selu_
celu_ = F.celu_
threshold_ = F.threshold_


def selu(input):
    """``F.selu`` (no ``inplace``: ``tg.selu_`` writes in place)."""
    return F.selu(input)


def celu(input, alpha=1.0):
    """``F.celu`` (no ``inplace``: ``tg.celu_`` writes in place)."""
    return F.celu(input, alpha)


def threshold(input, threshold, value):
    """``F.threshold``: ``input`` where it exceeds ``threshold``, else ``value``."""
    return F.threshold(input, threshold, value)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, generator=None):
    """``F.rrelu``, its slopes drawn from ``generator`` (a ``tg.Generator``) when given."""
    return _rrelu(input, lower, upper, training, generator)


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False, generator=None):
    """``rrelu`` written into ``input``."""
    return _apply_inplace(input, lambda x: _rrelu(x, lower, upper, training, generator),
                          "rrelu_")


# ---- dropout: (input, p, train), every argument required -----------------------------------
def dropout(input, p, train):
    """``F.dropout(input, p, training=train)``."""
    return F.dropout(input, p, train)


def alpha_dropout(input, p, train):
    """``F.alpha_dropout(input, p, training=train)``."""
    return F.alpha_dropout(input, p, train)


def feature_alpha_dropout(input, p, train):
    """``F.feature_alpha_dropout(input, p, training=train)``."""
    return F.feature_alpha_dropout(input, p, train)


def dropout_(input, p, train):
    """``dropout`` written into ``input``."""
    return _apply_inplace(input, lambda x: F.dropout(x, p, train), "dropout_")


def alpha_dropout_(input, p, train):
    """``alpha_dropout`` written into ``input``."""
    return _apply_inplace(input, lambda x: F.alpha_dropout(x, p, train), "alpha_dropout_")


def feature_alpha_dropout_(input, p, train):
    """``feature_alpha_dropout`` written into ``input``."""
    return _apply_inplace(input, lambda x: F.feature_alpha_dropout(x, p, train),
                          "feature_alpha_dropout_")


# ---- embeddings -----------------------------------------------------------------------------
def embedding(weight, indices, padding_idx=-1, scale_grad_by_freq=False, sparse=False):
    """``F.embedding(indices, weight, ...)``: rows of ``weight``. A negative ``padding_idx``
    (the default -1) means none, as in ``torch.embedding``, which PyTorch's ``F.embedding``
    calls with a negative ``padding_idx`` already turned into a row number."""
    pad = None if padding_idx is None or padding_idx < 0 else padding_idx
    return F.embedding(indices, weight, pad, None, 2.0, scale_grad_by_freq, sparse)


_BAG_MODES = {0: "sum", 1: "mean", 2: "max"}


def embedding_bag(weight, indices, offsets, scale_grad_by_freq=False, mode=0, sparse=False,
                  per_sample_weights=None, include_last_offset=False, padding_idx=None):
    """``torch.embedding_bag``: ``mode`` 0 sum, 1 mean, 2 max, and four results (output,
    offset2bag, bag_size, max_indices). ``output`` is ``F.embedding_bag``'s; offset2bag is
    the bag of each index, bag_size the number of indices each bag counts (``padding_idx``
    left out), max_indices for ``mode=2`` the row picked per bag and feature (-1 for an empty
    bag) and bag_size otherwise. PyTorch's CPU kernel leaves offset2bag empty and bag_size 0
    in sum mode; these are the values it defines for the other modes."""
    op = "embedding_bag"
    if mode not in _BAG_MODES:
        raise ValueError(f"{op}: mode must be 0 (sum), 1 (mean) or 2 (max), got {mode!r}")
    out = F.embedding_bag(indices, weight, offsets, None, 2, scale_grad_by_freq,
                          _BAG_MODES[mode], sparse, per_sample_weights, include_last_offset,
                          padding_idx)
    idx = _raw(indices)
    flat = to_host(idx).reshape(-1).astype(np.int64)
    if idx.ndim == 2:
        bags, width = idx.shape
        starts = np.arange(bags) * width
    else:
        off = to_host(_raw(offsets)).reshape(-1).astype(np.int64)
        starts = off[:-1] if include_last_offset else off
        bags = len(starts)
    bag_of = np.searchsorted(starts, np.arange(flat.size), side="right") - 1
    counted = np.ones(flat.size, dtype=bool)
    if padding_idx is not None:
        counted = flat != int(padding_idx) % weight.shape[0]
    bag_size = np.bincount(bag_of[counted], minlength=bags).astype(np.int64)
    max_indices = bag_size
    if mode == 2:
        rows = to_host(_raw(weight))
        max_indices = np.full((bags, weight.shape[1]), -1, dtype=np.int64)
        for b in range(bags):
            members = flat[(bag_of == b) & counted]
            if members.size:  # the first maximum of each feature, as PyTorch's
                max_indices[b] = members[np.argmax(rows[members], axis=0)]
    xp = xp_of(idx)
    return (out,) + tuple(_new_tensor(xp.asarray(a), None, False)
                          for a in (bag_of, bag_size, max_indices))


# ---- losses: the top level's argument order and integer reduction --------------------------
def cosine_embedding_loss(input1, input2, target, margin=0.0, reduction=1):
    """``F.cosine_embedding_loss``; ``reduction`` 0 none, 1 mean, 2 sum."""
    op = "cosine_embedding_loss"
    return F.cosine_embedding_loss(input1, input2, target, margin,
                                   reduction=_reduction(reduction, op))


def hinge_embedding_loss(input, target, margin=1.0, reduction=1):
    """``F.hinge_embedding_loss``; ``reduction`` 0 none, 1 mean, 2 sum."""
    op = "hinge_embedding_loss"
    return F.hinge_embedding_loss(input, target, margin, reduction=_reduction(reduction, op))


def margin_ranking_loss(input1, input2, target, margin=0.0, reduction=1):
    """``F.margin_ranking_loss``; ``reduction`` 0 none, 1 mean, 2 sum."""
    op = "margin_ranking_loss"
    return F.margin_ranking_loss(input1, input2, target, margin,
                                 reduction=_reduction(reduction, op))


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2.0, eps=1e-6, swap=False,
                        reduction=1):
    """``F.triplet_margin_loss``; ``reduction`` 0 none, 1 mean, 2 sum."""
    op = "triplet_margin_loss"
    return F.triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap,
                                 reduction=_reduction(reduction, op))


def poisson_nll_loss(input, target, log_input, full, eps, reduction):
    """``F.poisson_nll_loss``, every argument required; ``reduction`` 0 none, 1 mean, 2 sum."""
    op = "poisson_nll_loss"
    return F.poisson_nll_loss(input, target, log_input, full, eps=eps,
                              reduction=_reduction(reduction, op))


def kl_div(input, target, reduction=1, *, log_target=False):
    """``F.kl_div``; ``reduction`` 0 none, 1 mean (over every element), 2 sum."""
    return F.kl_div(input, target, reduction=_reduction(reduction, "kl_div"),
                   log_target=log_target)


def binary_cross_entropy_with_logits(input, target, weight=None, pos_weight=None, reduction=1):
    """``F.binary_cross_entropy_with_logits``; ``reduction`` 0 none, 1 mean, 2 sum."""
    op = "binary_cross_entropy_with_logits"
    return F.binary_cross_entropy_with_logits(input, target, reduction=_reduction(reduction, op),
                                              weight=weight, pos_weight=pos_weight)


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction=1,
             zero_infinity=False):
    """``F.ctc_loss``; ``reduction`` 0 none, 1 mean (each loss over its target length, then
    the batch mean), 2 sum."""
    return F.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank,
                      _reduction(reduction, "ctc_loss"), zero_infinity)


# the names tensorgrad's top level does not have yet (imported last: what is there stays)
_pkg = sys.modules[__package__]
__all__ = sorted(
    n for n, v in list(globals().items())
    if not n.startswith("_") and callable(v) and not isinstance(v, type)
    and n not in ("to_host", "xp_of") and not hasattr(_pkg, n))
