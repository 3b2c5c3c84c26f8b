"""More of PyTorch's ``torch.nn`` modules: multi-class margin losses, the triplet loss with a
custom distance, ``CTCLoss``, ``EmbeddingBag``, the lazy modules (shapes inferred at the first
forward call) and ``AdaptiveLogSoftmaxWithLoss``, with PyTorch's arguments and reprs."""

from collections import namedtuple

import numpy as np

from .. import creation
from ..backend.device import to_host, xp_of
from ..ops.index import getitem as _getitem
from ..ops.index import untake as _untake
from ..ops.shape import concatenate_ as _concat
from ..tensor import _raw
from . import functional as F
from ._functional_extra_b import _on_device
from .conv import Conv1d, ConvTranspose2d
from .layers import Embedding, NLLLoss, _Loss, _WeightedLoss
from .layers_3d import ConvTranspose1d
from .modules import Conv2d, Linear, Module, ModuleList, Parameter, Sequential
from .normalization import BatchNorm1d, BatchNorm2d
from .parameter import UninitializedBuffer, UninitializedParameter
from .upsampling import InstanceNorm1d, InstanceNorm2d, PairwiseDistance

__all__ = ["MultiMarginLoss", "MultiLabelMarginLoss", "TripletMarginWithDistanceLoss", "CTCLoss",
           "NLLLoss2d", "EmbeddingBag", "LazyLinear", "LazyConv1d", "LazyConv2d",
           "LazyConvTranspose1d", "LazyConvTranspose2d", "LazyBatchNorm1d", "LazyBatchNorm2d",
           "LazyInstanceNorm1d", "LazyInstanceNorm2d", "AdaptiveLogSoftmaxWithLoss",
           "UninitializedParameter", "UninitializedBuffer"]


# ---- losses -------------------------------------------------------------------------------------
class MultiMarginLoss(_WeightedLoss):
    """Multi-class hinge loss (PyTorch's ``nn.MultiMarginLoss``); see
    ``F.multi_margin_loss``.

    >>> import tensorgrad as tg
    >>> tg.nn.MultiMarginLoss(p=2, margin=0.5)
    MultiMarginLoss()
    """

    def __init__(self, p=1, margin=1.0, weight=None, size_average=None, reduce=None,
                 reduction="mean"):
        super().__init__(weight, size_average, reduce, reduction)
        if p not in (1, 2):
            raise ValueError(f"MultiMarginLoss: only p == 1 and p == 2 are supported, got {p}")
        self.p, self.margin = p, margin

    def forward(self, input, target):
        return F.multi_margin_loss(input, target, p=self.p, margin=self.margin,
                                   weight=self.weight, reduction=self.reduction)


class MultiLabelMarginLoss(_Loss):
    """Multi-label hinge loss (PyTorch's ``nn.MultiLabelMarginLoss``); see
    ``F.multilabel_margin_loss``."""

    def forward(self, input, target):
        return F.multilabel_margin_loss(input, target, reduction=self.reduction)


class TripletMarginWithDistanceLoss(_Loss):
    """max(0, d(a, p) - d(a, n) + margin) with any ``distance_function`` (a
    ``PairwiseDistance`` when None), as PyTorch's.

    >>> import tensorgrad as tg
    >>> tg.nn.TripletMarginWithDistanceLoss()
    TripletMarginWithDistanceLoss(
      (distance_function): PairwiseDistance()
    )
    """

    def __init__(self, *, distance_function=None, margin=1.0, swap=False, reduction="mean"):
        super().__init__(reduction=reduction)
        if margin <= 0:
            raise ValueError(f"TripletMarginWithDistanceLoss: margin must be greater than 0, "
                             f"got {margin}")
        self.distance_function = distance_function if distance_function is not None \
            else PairwiseDistance()
        self.margin, self.swap = margin, swap

    def forward(self, anchor, positive, negative):
        return F.triplet_margin_with_distance_loss(
            anchor, positive, negative, distance_function=self.distance_function,
            margin=self.margin, swap=self.swap, reduction=self.reduction)


class CTCLoss(_Loss):
    """Connectionist temporal classification loss (PyTorch's ``nn.CTCLoss``); see
    ``F.ctc_loss``.

    >>> import tensorgrad as tg
    >>> tg.nn.CTCLoss(blank=0, zero_infinity=True)
    CTCLoss()
    """

    def __init__(self, blank=0, reduction="mean", zero_infinity=False):
        super().__init__(reduction=reduction)
        self.blank, self.zero_infinity = blank, zero_infinity

    def forward(self, log_probs, targets, input_lengths, target_lengths):
        return F.ctc_loss(log_probs, targets, input_lengths, target_lengths, self.blank,
                          self.reduction, self.zero_infinity)


class NLLLoss2d(NLLLoss):
    """PyTorch's deprecated alias of ``NLLLoss`` for (N, C, H, W) log-probabilities against
    (N, H, W) class indices."""

    def forward(self, input, target):
        if input.ndim <= 2:
            return super().forward(input, target)
        c = input.shape[1]
        axes = (0,) + tuple(range(2, input.ndim)) + (1,)
        flat = input.permute(*axes).reshape(-1, c)
        t = _raw(target)
        out = F.nll_loss(flat, t.reshape(-1), reduction=self.reduction, weight=self.weight,
                         ignore_index=self.ignore_index)
        if self.reduction == "none":
            out = out.reshape(tuple(t.shape))
        return out


# ---- EmbeddingBag -------------------------------------------------------------------------------
class EmbeddingBag(Module):
    """Sums, means or maxima of bags of embeddings (PyTorch's ``nn.EmbeddingBag``): weight
    (num_embeddings, embedding_dim) drawn from N(0, 1), the ``padding_idx`` row zero.
    ``forward(input, offsets=None, per_sample_weights=None)``; see ``F.embedding_bag``.

    >>> import tensorgrad as tg
    >>> bag = tg.nn.EmbeddingBag(10, 3, mode="sum")
    >>> bag
    EmbeddingBag(10, 3, mode='sum')
    >>> bag(tg.tensor([1, 2, 4, 5, 4]), tg.tensor([0, 2])).shape
    (2, 3)
    """

    def __init__(self, num_embeddings, embedding_dim, max_norm=None, norm_type=2.0,
                 scale_grad_by_freq=False, mode="mean", sparse=False, _weight=None,
                 include_last_offset=False, padding_idx=None, device=None, dtype=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        self.padding_idx = F._padding_index("EmbeddingBag", padding_idx, num_embeddings)
        if _weight is None:
            self.weight = Parameter(creation.empty(num_embeddings, embedding_dim, dtype=dtype,
                                                   device=device))
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError(f"EmbeddingBag: _weight must have shape ({num_embeddings}, "
                                 f"{embedding_dim}), got {tuple(_weight.shape)}")
            self.weight = Parameter(_weight)
        self.mode = mode
        self.include_last_offset = include_last_offset

    reset_parameters = Embedding.reset_parameters
    _fill_padding_idx_with_zero = Embedding._fill_padding_idx_with_zero

    def forward(self, input, offsets=None, per_sample_weights=None):
        return F.embedding_bag(input, self.weight, offsets, self.max_norm, self.norm_type,
                               self.scale_grad_by_freq, self.mode, self.sparse,
                               per_sample_weights, self.include_last_offset, self.padding_idx)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        s += f", mode={self.mode!r}"
        if self.include_last_offset:
            s += ", include_last_offset=True"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, max_norm=None, norm_type=2.0,
                        scale_grad_by_freq=False, mode="mean", sparse=False,
                        include_last_offset=False, padding_idx=None):
        """An EmbeddingBag holding ``embeddings`` (2-D), frozen unless ``freeze=False``."""
        if embeddings.ndim != 2:
            raise ValueError(f"EmbeddingBag.from_pretrained: embeddings must be 2-D, got shape "
                             f"{tuple(embeddings.shape)}")
        rows, cols = embeddings.shape
        bag = cls(rows, cols, max_norm, norm_type, scale_grad_by_freq, mode, sparse, embeddings,
                  include_last_offset, padding_idx)
        bag.weight.requires_grad = not freeze
        return bag


# ---- lazy modules -------------------------------------------------------------------------------
class LazyModuleMixin:
    """PyTorch's ``LazyModuleMixin``: parameters and buffers start as ``Uninitialized*``
    placeholders; the first call runs ``initialize_parameters(*inputs)``, which materializes
    them from the input's shape, then the module becomes ``cls_to_become`` (``LazyLinear`` a
    ``Linear``). A state dict loaded before the first call gives the shapes instead."""

    cls_to_become = None

    def has_uninitialized_params(self):
        """Whether any own parameter or buffer is still a placeholder."""
        tables = (self._parameters.values(), self._buffers.values())
        return any(isinstance(t, (UninitializedParameter, UninitializedBuffer))
                   for table in tables for t in table)

    def _own_placeholders(self):
        for table in (self._parameters, self._buffers):
            for name, t in table.items():
                if isinstance(t, (UninitializedParameter, UninitializedBuffer)):
                    yield name, t

    def _become(self):
        if self.has_uninitialized_params():
            raise RuntimeError(f"{type(self).__name__}: module {self._get_name()} has "
                               "parameters left uninitialized after initialize_parameters")
        if self.cls_to_become is not None:
            self.__class__ = self.cls_to_become

    def __call__(self, *args, **kwargs):
        # only a lazy module runs this: the first call, after which the class has changed
        self.initialize_parameters(*args, **kwargs)
        self._become()
        return Module.__call__(self, *args, **kwargs)

    def reset_parameters(self):
        # before the shapes are known there is nothing to initialise (PyTorch skips too)
        if not self.has_uninitialized_params() and self._sized():
            super().reset_parameters()

    def _sized(self):
        return True

    def state_dict(self, destination=None, prefix="", keep_vars=False):
        """As ``Module.state_dict``; a placeholder is stored as itself (PyTorch's
        ``<UninitializedParameter>`` entries), since it holds no values to detach."""
        out = super().state_dict(destination, prefix, keep_vars)
        for name, t in self._own_placeholders():
            if prefix + name in out:
                out[prefix + name] = t
        return out

    def load_state_dict(self, state_dict, strict=True, assign=False):
        """Materialize the placeholders with the shapes found in ``state_dict`` first (as
        PyTorch's load hook), then load; the module then becomes ``cls_to_become``."""
        for name, t in list(self._own_placeholders()):
            value = state_dict.get(name) if hasattr(state_dict, "get") else None
            if value is not None and not isinstance(value, (UninitializedParameter,
                                                            UninitializedBuffer)):
                t.materialize(tuple(value.shape))
        had = self.has_uninitialized_params()
        result = super().load_state_dict(state_dict, strict, assign)
        if not had or not self.has_uninitialized_params():
            self._after_load()
        return result

    def _after_load(self):
        self._infer_from_params()
        self._become()

    def _infer_from_params(self):
        pass


class LazyLinear(LazyModuleMixin, Linear):
    """A ``Linear`` whose ``in_features`` is the last dimension of its first input (PyTorch's
    ``nn.LazyLinear``); after the first call it is a ``Linear``.

    >>> import tensorgrad as tg
    >>> m = tg.nn.LazyLinear(3)
    >>> m
    LazyLinear(in_features=0, out_features=3, bias=True)
    >>> m(tg.ones(2, 5)).shape, type(m).__name__, m.in_features
    ((2, 3), 'Linear', 5)
    """

    cls_to_become = Linear

    def __init__(self, out_features, bias=True, device=None, dtype=None):
        kw = {"device": device, "dtype": dtype}
        super().__init__(0, 0, False, **kw)
        self.weight = UninitializedParameter(**kw)
        self.out_features = out_features
        if bias:
            self.bias = UninitializedParameter(**kw)

    def _sized(self):
        return self.in_features != 0

    def initialize_parameters(self, input):
        if self.has_uninitialized_params():
            self.in_features = input.shape[-1]
            self.weight.materialize((self.out_features, self.in_features))
            if self.bias is not None:
                self.bias.materialize((self.out_features,))
            self.reset_parameters()

    def _infer_from_params(self):
        self.in_features = self.weight.shape[1]


class _LazyConvXdMixin(LazyModuleMixin):
    _spatial = 2

    def _lazy_init(self, out_channels, bias, kw):
        self.weight = UninitializedParameter(**kw)
        self.out_channels = out_channels
        if bias:
            self.bias = UninitializedParameter(**kw)

    def _sized(self):
        return self.in_channels != 0

    def _in_channels(self, input):
        unbatched = input.ndim == self._spatial + 1
        return input.shape[0] if unbatched else input.shape[1]

    def _weight_shape(self):
        g = self.groups
        if getattr(self, "_transposed", False):
            return (self.in_channels, self.out_channels // g) + tuple(self.kernel_size)
        return (self.out_channels, self.in_channels // g) + tuple(self.kernel_size)

    def initialize_parameters(self, input, *args, **kwargs):
        if self.has_uninitialized_params():
            self.in_channels = self._in_channels(input)
            if self.in_channels % self.groups:
                raise ValueError(f"{type(self).__name__}: in_channels={self.in_channels} of "
                                 f"input {tuple(input.shape)} must be divisible by "
                                 f"groups={self.groups}")
            self.weight.materialize(self._weight_shape())
            if self.bias is not None:
                self.bias.materialize((self.out_channels,))
            self.reset_parameters()

    def _infer_from_params(self):
        w = self.weight.shape
        self.in_channels = w[0] if getattr(self, "_transposed", False) else w[1] * self.groups


class _LazyConv(_LazyConvXdMixin):
    """The constructor of the lazy forms of the ``_Conv`` classes (1-D and 3-D)."""

    def __init__(self, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        kw = {"device": device, "dtype": dtype}
        super().__init__(0, 0, kernel_size, stride, padding, dilation, groups, False,
                         padding_mode, **kw)
        self._lazy_init(out_channels, bias, kw)


class LazyConv1d(_LazyConv, Conv1d):
    """A ``Conv1d`` whose ``in_channels`` comes from its first input (PyTorch's
    ``nn.LazyConv1d``)."""

    cls_to_become = Conv1d
    _spatial = 1


class LazyConv2d(_LazyConvXdMixin, Conv2d):
    """A ``Conv2d`` whose ``in_channels`` comes from its first input (PyTorch's
    ``nn.LazyConv2d``).

    >>> import tensorgrad as tg
    >>> m = tg.nn.LazyConv2d(4, 3)
    >>> m
    LazyConv2d(0, 4, kernel_size=(3, 3), stride=(1, 1))
    >>> m(tg.ones(1, 2, 5, 5)).shape, m.weight.shape
    ((1, 4, 3, 3), (4, 2, 3, 3))
    """

    cls_to_become = Conv2d

    def __init__(self, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        if padding_mode != "zeros":
            raise ValueError(f"LazyConv2d: only padding_mode='zeros' is supported (as this "
                             f"library's Conv2d), got {padding_mode!r}")
        kw = {"device": device, "dtype": dtype}
        super().__init__(0, 0, kernel_size, stride, padding, dilation, groups, False, **kw)
        self._lazy_init(out_channels, bias, kw)


class _LazyConvTranspose(_LazyConvXdMixin):
    def __init__(self, out_channels, kernel_size, stride=1, padding=0, output_padding=0,
                 groups=1, bias=True, dilation=1, padding_mode="zeros", device=None,
                 dtype=None):
        kw = {"device": device, "dtype": dtype}
        super().__init__(0, 0, kernel_size, stride, padding, output_padding, groups, False,
                         dilation, padding_mode, **kw)
        self._lazy_init(out_channels, bias, kw)


class LazyConvTranspose1d(_LazyConvTranspose, ConvTranspose1d):
    """A ``ConvTranspose1d`` whose ``in_channels`` comes from its first input (PyTorch's
    ``nn.LazyConvTranspose1d``)."""

    cls_to_become = ConvTranspose1d
    _spatial = 1


class LazyConvTranspose2d(_LazyConvTranspose, ConvTranspose2d):
    """A ``ConvTranspose2d`` whose ``in_channels`` comes from its first input (PyTorch's
    ``nn.LazyConvTranspose2d``)."""

    cls_to_become = ConvTranspose2d


class _LazyNormBase(LazyModuleMixin):
    def _lazy_init(self, kw):
        """The affine parameters and running statistics the ordinary class made (of size 0)
        become placeholders."""
        for name in ("weight", "bias", "running_mean", "running_var"):
            current = getattr(self, name, None)
            if isinstance(current, Parameter):
                setattr(self, name, UninitializedParameter(**kw))
            elif current is not None:
                self.register_buffer(name, UninitializedBuffer(**kw))

    def _sized(self):
        return self.num_features != 0

    def initialize_parameters(self, input):
        if self.has_uninitialized_params():
            spatial = getattr(self, "_spatial", None)  # instance norms take unbatched input
            unbatched = spatial is not None and input.ndim == spatial + 1
            self.num_features = input.shape[0 if unbatched else 1]
            for _, t in list(self._own_placeholders()):
                t.materialize((self.num_features,))
            self.reset_parameters()

    def _infer_from_params(self):
        for t in (self.weight, getattr(self, "running_mean", None)):
            if t is not None:
                self.num_features = t.shape[0]
                return


class _LazyBatchNorm(_LazyNormBase):
    def __init__(self, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 device=None, dtype=None, *, bias=True):
        kw = {"device": device, "dtype": dtype}
        super().__init__(0, eps, momentum, affine, track_running_stats, bias=bias, **kw)
        self._lazy_init(kw)


class LazyBatchNorm1d(_LazyBatchNorm, BatchNorm1d):
    """A ``BatchNorm1d`` whose ``num_features`` comes from its first input (PyTorch's
    ``nn.LazyBatchNorm1d``).

    >>> import tensorgrad as tg
    >>> m = tg.nn.LazyBatchNorm1d()
    >>> _ = m(tg.randn(4, 3))
    >>> type(m).__name__, m.num_features, m.running_mean.shape
    ('BatchNorm1d', 3, (3,))
    """

    cls_to_become = BatchNorm1d


class LazyBatchNorm2d(_LazyBatchNorm, BatchNorm2d):
    """A ``BatchNorm2d`` whose ``num_features`` comes from its first input (PyTorch's
    ``nn.LazyBatchNorm2d``)."""

    cls_to_become = BatchNorm2d


class _LazyInstanceNorm(_LazyNormBase):
    # PyTorch's lazy instance norms default to affine=True and track_running_stats=True (the
    # ordinary ones to False and False)
    def __init__(self, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 device=None, dtype=None, *, bias=True):
        kw = {"device": device, "dtype": dtype}
        super().__init__(0, eps, momentum, affine, track_running_stats, bias=bias, **kw)
        self._lazy_init(kw)


class LazyInstanceNorm1d(_LazyInstanceNorm, InstanceNorm1d):
    """An ``InstanceNorm1d`` whose ``num_features`` comes from its first input (PyTorch's
    ``nn.LazyInstanceNorm1d``)."""

    cls_to_become = InstanceNorm1d


class LazyInstanceNorm2d(_LazyInstanceNorm, InstanceNorm2d):
    """An ``InstanceNorm2d`` whose ``num_features`` comes from its first input (PyTorch's
    ``nn.LazyInstanceNorm2d``)."""

    cls_to_become = InstanceNorm2d


# ---- AdaptiveLogSoftmaxWithLoss -----------------------------------------------------------------
_ASMoutput = namedtuple("_ASMoutput", ["output", "loss"])


class AdaptiveLogSoftmaxWithLoss(Module):
    """Efficient softmax approximation (Grave et al., PyTorch's
    ``nn.AdaptiveLogSoftmaxWithLoss``): the most frequent classes (below ``cutoffs[0]``) and
    one entry per cluster in the ``head``; each cluster's classes in a ``tail`` projection of
    ``in_features // div_value ** (i + 1)`` features. ``forward(input, target)`` returns
    ``(output, loss)``: the target log-probabilities and their negated mean.

    >>> import tensorgrad as tg
    >>> m = tg.nn.AdaptiveLogSoftmaxWithLoss(8, 10, [4, 7], div_value=2.0)
    >>> out = m(tg.randn(5, 8), tg.tensor([0, 3, 5, 9, 6]))
    >>> out.output.shape, out.loss.shape, m.log_prob(tg.randn(2, 8)).shape
    ((5,), (), (2, 10))
    """

    def __init__(self, in_features, n_classes, cutoffs, div_value=4.0, head_bias=False,
                 device=None, dtype=None):
        super().__init__()
        cutoffs = list(cutoffs)
        if len(cutoffs) == 0:
            raise ValueError("AdaptiveLogSoftmaxWithLoss: cutoffs should be a sequence of "
                             "length larger than 0")
        if cutoffs != sorted(cutoffs) or min(cutoffs) <= 0 or max(cutoffs) > n_classes - 1 \
                or len(set(cutoffs)) != len(cutoffs) or any(int(c) != c for c in cutoffs):
            raise ValueError(f"AdaptiveLogSoftmaxWithLoss: cutoffs should be a sequence of "
                             f"unique, positive integers sorted in an increasing order, where "
                             f"each value is between 1 and n_classes-1={n_classes - 1}, got "
                             f"{cutoffs}")
        kw = {"device": device, "dtype": dtype}
        self.in_features, self.n_classes = in_features, n_classes
        self.cutoffs = cutoffs + [n_classes]
        self.div_value, self.head_bias = div_value, head_bias
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        self.head = Linear(in_features, self.head_size, bias=head_bias, **kw)
        tail = []
        for i in range(self.n_clusters):
            hsz = int(in_features // (div_value ** (i + 1)))
            osz = self.cutoffs[i + 1] - self.cutoffs[i]
            tail.append(Sequential(Linear(in_features, hsz, bias=False, **kw),
                                   Linear(hsz, osz, bias=False, **kw)))
        self.tail = ModuleList(tail)

    def reset_parameters(self):
        self.head.reset_parameters()
        for seq in self.tail:
            for lin in seq:
                lin.reset_parameters()

    def _check(self, input, what):
        if input.ndim not in (1, 2) or input.shape[-1] != self.in_features:
            raise ValueError(f"AdaptiveLogSoftmaxWithLoss.{what}: input must be "
                             f"(N, {self.in_features}) or ({self.in_features},), got shape "
                             f"{tuple(input.shape)}")

    def forward(self, input_, target_):
        input, target = input_, target_  # PyTorch's parameter names
        self._check(input, "forward")
        unbatched = input.ndim == 1
        if unbatched:
            input = input.unsqueeze(0)
        t = _raw(target).reshape(-1)
        if t.shape[0] != input.shape[0]:
            raise RuntimeError(f"AdaptiveLogSoftmaxWithLoss: input and target should have the "
                               f"same size in the batch dimension, got input "
                               f"{tuple(input.shape)}, target {tuple(_raw(target).shape)}")
        xp = xp_of(t)
        n = input.shape[0]
        host = to_host(t)  # the rows of each cluster are picked on the host (PyTorch too)
        if n and (host.min() < 0 or host.max() >= self.n_classes):
            raise RuntimeError(f"AdaptiveLogSoftmaxWithLoss: target values should be in "
                               f"[0, {self.n_classes - 1}], but values in range "
                               f"[{host.min()}, {host.max()}] were found")
        gather = xp.where(t < self.shortlist_size, t, 0)
        output = None
        for i in range(1, len(self.cutoffs)):
            low, high = self.cutoffs[i - 1], self.cutoffs[i]
            rows_h = np.nonzero((host >= low) & (host < high))[0]
            if not rows_h.size:
                continue
            rows = _on_device(rows_h, t)
            gather[rows] = self.shortlist_size + i - 1
            cluster = F.log_softmax(self.tail[i - 1](_getitem(input, rows)), 1)
            local = _getitem(cluster, (xp.arange(rows_h.size), t[rows] - low))
            part = _untake(local, rows, (n,))
            output = part if output is None else output + part
        head = F.log_softmax(self.head(input), 1)
        picked = _getitem(head, (xp.arange(n), gather))
        output = picked if output is None else output + picked
        loss = (-output).mean()
        if unbatched:
            output = output.reshape(())
        return _ASMoutput(output, loss)

    def _full_log_prob(self, input, head):
        parts = [_getitem(head, (slice(None), slice(0, self.shortlist_size)))]
        for i in range(self.n_clusters):
            cluster = F.log_softmax(self.tail[i](input), 1)
            k = self.shortlist_size + i
            parts.append(cluster + _getitem(head, (slice(None), slice(k, k + 1))))
        return _concat(1, *parts)

    def log_prob(self, input):
        """Log-probabilities of every class, (N, n_classes) (or (n_classes,))."""
        self._check(input, "log_prob")
        unbatched = input.ndim == 1
        x = input.unsqueeze(0) if unbatched else input
        out = self._full_log_prob(x, F.log_softmax(self.head(x), 1))
        return out.squeeze(0) if unbatched else out

    def predict(self, input):
        """The most likely class of each row, int64 (N,) (or a scalar)."""
        self._check(input, "predict")
        return self.log_prob(input).argmax(-1)
