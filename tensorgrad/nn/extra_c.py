"""The last of PyTorch's ``torch.nn`` modules: fractional max pooling, the 3-D lazy modules,
``SyncBatchNorm`` (batch statistics all-reduced over ``tensorgrad.distributed``) and
``DataParallel`` (one process, a replica of the module per GPU)."""

from .. import cuda as _cuda
from .. import distributed as _dist
from ..autograd.function import Function, once_differentiable
from ..autograd.grad_mode import _state
from ..backend.device import Device, xp_of
from ..ops.registry import defjvp, defvjp, primitive
from ..ops.shape import concatenate_ as _concat
from ..ops.shape import reshape as _reshape
from ..tensor import Tensor, _new_tensor, _raw
from . import functional as F
from ._functional_conv_attn import _tuple
from .extra_b import _LazyBatchNorm, _LazyConv, _LazyConvTranspose, _LazyInstanceNorm
from .layers_3d import BatchNorm3d, Conv3d, ConvTranspose3d, InstanceNorm3d
from .modules import Module
from .normalization import _BatchNorm

__all__ = ["FractionalMaxPool2d", "FractionalMaxPool3d", "LazyConv3d", "LazyConvTranspose3d",
           "LazyBatchNorm3d", "LazyInstanceNorm3d", "SyncBatchNorm", "DataParallel"]


# ---- fractional max pooling ---------------------------------------------------------------------
class _FractionalMaxPoolNd(Module):
    _n = 2

    def __init__(self, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                 _random_samples=None):
        super().__init__()
        name = type(self).__name__
        n = self._n
        self.kernel_size = _tuple(kernel_size, n, "kernel_size", name)
        self.return_indices = return_indices
        self.register_buffer("_random_samples", _random_samples)
        self.output_size = None if output_size is None else \
            _tuple(output_size, n, "output_size", name)
        if output_ratio is not None and not isinstance(output_ratio, (tuple, list)):
            output_ratio = (output_ratio,) * n
        self.output_ratio = None if output_ratio is None else tuple(output_ratio)
        if output_size is None and output_ratio is None:
            raise ValueError(f"{name} requires specifying either an output size, or a pooling "
                             "ratio")
        if output_size is not None and output_ratio is not None:
            raise ValueError(f"{name}: only one of output_size and output_ratio may be "
                             "specified")
        if self.output_ratio is not None:
            if len(self.output_ratio) != n or not all(0 < r < 1 for r in self.output_ratio):
                raise ValueError(f"{name}: output_ratio must be {n} numbers between 0 and 1 "
                                 f"(got {output_ratio})")

    def forward(self, input):
        fn = F.fractional_max_pool2d if self._n == 2 else F.fractional_max_pool3d
        return fn(input, self.kernel_size, self.output_size, self.output_ratio,
                  self.return_indices, _random_samples=self._random_samples)


class FractionalMaxPool2d(_FractionalMaxPoolNd):
    """Fractional max pooling of (N, C, H, W) or (C, H, W) (PyTorch's
    ``nn.FractionalMaxPool2d``): ``kernel_size`` windows at pseudo-random strides giving
    ``output_size`` (or ``output_ratio`` times the input's size, each ratio in (0, 1)); see
    ``F.fractional_max_pool2d``. ``_random_samples`` (a buffer) fixes the windows.

    >>> import tensorgrad as tg
    >>> tg.nn.FractionalMaxPool2d(3, output_ratio=(0.5, 0.5))(tg.ones(1, 2, 10, 8)).shape
    (1, 2, 5, 4)
    """


class FractionalMaxPool3d(_FractionalMaxPoolNd):
    """Fractional max pooling of (N, C, D, H, W) or (C, D, H, W) (PyTorch's
    ``nn.FractionalMaxPool3d``); see ``FractionalMaxPool2d``.

    >>> import tensorgrad as tg
    >>> tg.nn.FractionalMaxPool3d(2, output_size=(2, 3, 4))(tg.ones(1, 1, 5, 5, 5)).shape
    (1, 1, 2, 3, 4)
    """

    _n = 3


# ---- 3-D lazy modules ---------------------------------------------------------------------------
class LazyConv3d(_LazyConv, Conv3d):
    """A ``Conv3d`` whose ``in_channels`` comes from its first input (PyTorch's
    ``nn.LazyConv3d``); after the first call it is a ``Conv3d``.

    >>> import tensorgrad as tg
    >>> m = tg.nn.LazyConv3d(4, 3)
    >>> m(tg.ones(1, 2, 5, 5, 5)).shape, m.weight.shape, type(m).__name__
    ((1, 4, 3, 3, 3), (4, 2, 3, 3, 3), 'Conv3d')
    """

    cls_to_become = Conv3d
    _spatial = 3


class LazyConvTranspose3d(_LazyConvTranspose, ConvTranspose3d):
    """A ``ConvTranspose3d`` whose ``in_channels`` comes from its first input (PyTorch's
    ``nn.LazyConvTranspose3d``)."""

    cls_to_become = ConvTranspose3d
    _spatial = 3


class LazyBatchNorm3d(_LazyBatchNorm, BatchNorm3d):
    """A ``BatchNorm3d`` whose ``num_features`` comes from its first input (PyTorch's
    ``nn.LazyBatchNorm3d``)."""

    cls_to_become = BatchNorm3d


class LazyInstanceNorm3d(_LazyInstanceNorm, InstanceNorm3d):
    """An ``InstanceNorm3d`` whose ``num_features`` comes from its first input (PyTorch's
    ``nn.LazyInstanceNorm3d``)."""

    cls_to_become = InstanceNorm3d


# ---- SyncBatchNorm ------------------------------------------------------------------------------
@primitive(saves=False)
def _all_reduce_sum(x, group=None):
    """The sum over the ranks of ``group`` of each rank's ``x`` (a new array); its VJP is the
    same sum of the cotangents (the loss being the sum of every rank's loss, as in PyTorch's
    ``SyncBatchNorm``), its JVP the sum of the tangents."""
    out = _new_tensor(x.copy(), None, False)
    _dist.all_reduce(out, group=group)
    return out.data


defvjp(_all_reduce_sum, lambda g, ans, x, group=None: _all_reduce_sum(g, group))
defjvp(_all_reduce_sum, lambda t, ans, x, group=None: _all_reduce_sum(t, group))


def _sync_batch_norm(input, weight, bias, running_mean, running_var, eps, momentum,
                     group=None):
    """Batch norm with the mean and the biased variance of the batch of all ranks together:
    two all-reduces forward (sums with the counts, then squared deviations), two backward."""
    c = input.shape[1]
    axes = (0,) + tuple(range(2, input.ndim))
    shape = (1, c) + (1,) * (input.ndim - 2)
    raw = _raw(input)
    count = _new_tensor(xp_of(raw).full((1,), raw.size // c, dtype=raw.dtype), None, False)
    sums = _all_reduce_sum(_concat(0, input.sum(axis=axes), count), group)
    total = float(sums.data[c])
    if total <= 1:
        raise ValueError(f"SyncBatchNorm: expected more than 1 value per channel when "
                         f"training, got {int(total)} over all ranks (input shape "
                         f"{tuple(input.shape)} here)")
    mean = sums[:c] / total
    centered = input - _reshape(mean, shape)
    var = _all_reduce_sum((centered * centered).sum(axis=axes), group) / total
    out = centered * _reshape((var + float(eps)) ** -0.5, shape)
    if weight is not None:
        out = out * _reshape(weight, shape)
    if bias is not None:
        out = out + _reshape(bias, shape)
    if running_mean is not None:
        F._update_running(running_mean, mean.data, momentum)
        F._update_running(running_var, var.data * (total / (total - 1)), momentum)
    return out


class SyncBatchNorm(_BatchNorm):
    """Batch normalisation over the batch of all processes of ``tensorgrad.distributed``
    (PyTorch's ``nn.SyncBatchNorm``): in training, with an initialized group of more than one
    process, the per-channel mean and variance (and the running statistics' update) are those
    of the ranks' batches concatenated, and the gradients are those of that one big batch
    (each rank's weight and bias gradients are its own part of the sum; DDP averages them).
    Otherwise (eval mode, one process, no group) it is ``BatchNorm``. Any (N, C, *) input.
    ``process_group`` (from ``tensorgrad.distributed.new_group``; default: all ranks) limits
    the statistics to its ranks.

    >>> import tensorgrad as tg
    >>> tg.nn.SyncBatchNorm(3)(tg.randn(4, 3, 5)).shape
    (4, 3, 5)
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, process_group=None, device=None, dtype=None, *,
                 bias=True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device,
                         dtype, bias=bias)
        self.process_group = _check_group(process_group)

    def _check_input_dim(self, input):
        if input.ndim < 2:
            raise ValueError(f"SyncBatchNorm: expected at least 2D input (got {input.ndim}D "
                             f"input of shape {tuple(input.shape)})")
        if input.shape[1] == 0:
            raise ValueError("SyncBatchNorm: number of input channels should be non-zero")

    def forward(self, input):
        need_sync = (self.training and _dist.is_initialized()
                     and _dist.get_world_size(self.process_group) > 1)
        if not need_sync:
            return super().forward(input)
        self._check_input_dim(input)
        if input.shape[1] != self.num_features:
            raise ValueError(f"SyncBatchNorm: input of shape {tuple(input.shape)} has "
                             f"{input.shape[1]} channels, expected {self.num_features}")
        # the running-statistics bookkeeping of _BatchNorm.forward
        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats:
            tracked = self.num_batches_tracked
            tracked.data[...] += 1
            tracked._vc[0] += 1
            if self.momentum is None:  # a cumulative moving average
                factor = 1.0 / float(tracked.item())
        track = self.track_running_stats
        return _sync_batch_norm(input, self.weight, self.bias,
                                self.running_mean if track else None,
                                self.running_var if track else None, self.eps, factor,
                                self.process_group)

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """``module`` with every ``BatchNorm*d`` replaced by a ``SyncBatchNorm`` sharing its
        parameters, running statistics and mode (a batch norm given itself comes back as a new
        ``SyncBatchNorm``), as PyTorch's.

        >>> import tensorgrad as tg
        >>> net = tg.nn.Sequential(tg.nn.Linear(2, 3), tg.nn.BatchNorm1d(3))
        >>> type(tg.nn.SyncBatchNorm.convert_sync_batchnorm(net)[1]).__name__
        'SyncBatchNorm'
        """
        _check_group(process_group)
        out = module
        if isinstance(module, _BatchNorm):
            out = SyncBatchNorm(module.num_features, module.eps, module.momentum,
                                module.affine, module.track_running_stats, process_group,
                                bias=module.bias is not None)
            if module.affine:
                out.weight = module.weight
                out.bias = module.bias
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                out._buffers[name] = module._buffers.get(name)
            out.training = module.training
        for name, child in module.named_children():
            out.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        return out


def _check_group(process_group):
    if process_group is not None and not isinstance(
            process_group, (_dist.ProcessGroup, type(_dist.GroupMember.NON_GROUP_MEMBER))):
        raise ValueError(f"SyncBatchNorm: process_group must be None (all ranks) or a group "
                         f"from tensorgrad.distributed.new_group, got {process_group!r}")
    return process_group


# ---- DataParallel -------------------------------------------------------------------------------
def _cuda_index(d, who):
    if isinstance(d, int):
        return d
    dev = Device(d)
    if dev.type != "cuda":
        raise ValueError(f"{who}: device ids must be CUDA devices, got {d!r}")
    return dev.index or 0


def _chunks(t, n, dim):
    """PyTorch's ``Tensor.chunk``: pieces of ceil(size / n) along ``dim`` (fewer when they run
    out)."""
    size = t.shape[dim]
    step = -(-size // n) if size else 0
    out = []
    for start in range(0, size, max(step, 1)):
        index = (slice(None),) * (dim % t.ndim) + (slice(start, min(start + step, size)),)
        out.append(t[index])
    return out


def _scatter(obj, n, dim):
    """Per replica, ``obj`` with its tensors cut along ``dim`` (PyTorch's ``scatter``: the
    number of replicas is the fewest pieces any tensor gave)."""
    if isinstance(obj, Tensor):
        if obj.ndim == 0:
            raise ValueError("DataParallel: cannot scatter a 0-dimensional tensor input")
        return _chunks(obj, n, dim)
    if isinstance(obj, (tuple, list)) and obj:
        parts = list(zip(*(_scatter(v, n, dim) for v in obj)))
        return [type(obj)(p) if isinstance(obj, list) else tuple(p) for p in parts]
    if isinstance(obj, dict) and obj:
        keys = list(obj)
        parts = list(zip(*(_scatter(obj[k], n, dim) for k in keys)))
        return [dict(zip(keys, p)) for p in parts]
    return [obj] * n


def _tree(obj, fn):
    if isinstance(obj, Tensor):
        return fn(obj)
    if isinstance(obj, (tuple, list)):
        return type(obj)(_tree(v, fn) for v in obj)
    if isinstance(obj, dict):
        return {k: _tree(v, fn) for k, v in obj.items()}
    return obj


def _leaves(obj, out):
    if isinstance(obj, Tensor):
        out.append(obj)
    elif isinstance(obj, (tuple, list)):
        for v in obj:
            _leaves(v, out)
    elif isinstance(obj, dict):
        for v in obj.values():
            _leaves(v, out)
    return out


def _refill(obj, it):
    if isinstance(obj, Tensor):
        return next(it)
    if isinstance(obj, (tuple, list)):
        return type(obj)(_refill(v, it) for v in obj)
    if isinstance(obj, dict):
        return {k: _refill(v, it) for k, v in obj.items()}
    return obj


class _Replica:
    """One replica's run: its device, its graph's outputs and leaves, and the tensors those
    leaves were copied from (which get the gradients)."""

    __slots__ = ("index", "outputs", "leaves", "sources", "out_device")


class _Bridge(Function):
    """Hands a replica's outputs to the output device; backward runs the replica's own graph
    on the replica's GPU (CuPy computes on the current device only) and returns the gradients
    of the tensors its inputs and parameters were copied from, on their devices."""

    @staticmethod
    def forward(ctx, run, *sources):
        ctx.run = run
        return tuple(o.detach().to(run.out_device) for o in run.outputs)

    @staticmethod
    @once_differentiable  # the replica's leaves are copies: a second derivative would miss
    def backward(ctx, *grads):  # the path to the sources, so it raises instead
        run = ctx.run
        pairs = [(o, g) for o, g in zip(run.outputs, grads, strict=True)
                 if g is not None and o.requires_grad]
        got = [None] * len(run.leaves)
        if pairs:
            with _cuda.device(run.index):
                outs = [o for o, _ in pairs]
                gs = [g.to(o.device) for o, g in pairs]
                got = _autograd_grad(outs, run.leaves, gs)
        return (None,) + tuple(None if g is None else g.to(s.device)
                               for g, s in zip(got, run.sources, strict=True))


def _autograd_grad(outputs, inputs, grad_outputs):
    from ..autograd.functional import autograd_grad as grad

    # the replica's graph is kept (it goes with this node) so that retain_graph works
    return grad(outputs, inputs, grad_outputs, retain_graph=True, allow_unused=True)


class DataParallel(Module):
    """Single-process data parallelism over several GPUs (PyTorch's ``nn.DataParallel``):
    each call cuts the tensors of the input along ``dim`` into one piece per device of
    ``device_ids`` (default: every visible GPU), runs a replica of ``module`` on each (the
    module's parameters copied to that GPU), and concatenates the outputs along ``dim`` on
    ``output_device`` (default ``device_ids[0]``; -1 is the CPU). The backward pass sums the
    replicas' gradients into the module's own parameters. The module's parameters and buffers
    must be on ``device_ids[0]``; buffers written in forward (BatchNorm's running statistics)
    keep the writes of the first replica only, as in PyTorch. Without a GPU, or with one
    device, it just calls ``module``. ``state_dict`` keys start with ``module.``.

    >>> import tensorgrad as tg
    >>> net = tg.nn.DataParallel(tg.nn.Linear(3, 2), device_ids=[])  # no GPU: a plain call
    >>> net(tg.ones(4, 3)).shape, list(net.state_dict())
    ((4, 2), ['module.weight', 'module.bias'])
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DataParallel: module must be a tensorgrad.nn.Module, got "
                            f"{type(module).__name__}")
        self.module = module
        self.dim = int(dim)
        if device_ids is None:
            device_ids = list(range(_cuda.device_count())) if _cuda.is_available() else []
        self.device_ids = [_cuda_index(d, "DataParallel") for d in device_ids]
        if not self.device_ids:
            self.output_device = None
            self.src_device_obj = Device("cpu")
            return
        count = _cuda.device_count()
        bad = [d for d in self.device_ids if not 0 <= d < count]
        if bad:
            raise ValueError(f"DataParallel: device_ids {self.device_ids} name GPUs that do not "
                             f"exist ({count} visible)")
        if output_device is None:
            output_device = self.device_ids[0]
        self.output_device = output_device if output_device == -1 else \
            _cuda_index(output_device, "DataParallel")
        self.src_device_obj = Device(f"cuda:{self.device_ids[0]}")
        if len(self.device_ids) == 1:
            self.module.to(self.src_device_obj)

    def forward(self, *inputs, **kwargs):
        if not self.device_ids:
            return self.module(*inputs, **kwargs)
        src = self.src_device_obj
        for name, t in list(self.module.named_parameters()) + list(self.module.named_buffers()):
            if t.device != src:
                raise RuntimeError(f"DataParallel: module must have its parameters and buffers "
                                   f"on device {src} (device_ids[0]) but found {name} on "
                                   f"device {t.device}")
        if len(self.device_ids) == 1:
            return self.module(*_tree(inputs, lambda t: t.to(src)),
                               **_tree(kwargs, lambda t: t.to(src)))
        pieces = self.scatter(inputs, kwargs, self.device_ids)
        outputs = [self._run(i, self.device_ids[i], a, k) for i, (a, k) in enumerate(pieces)]
        return self.gather(outputs, self.output_device)

    def scatter(self, inputs, kwargs, device_ids):
        """(args, kwargs) per replica: tensors cut along ``dim``, everything else shared."""
        n = len(device_ids)
        args = _scatter(tuple(inputs), n, self.dim) if inputs else []
        kws = _scatter(dict(kwargs), n, self.dim) if kwargs else []
        k = max(len(args), len(kws), 1)
        args = list(args) + [()] * (k - len(args))
        kws = list(kws) + [{}] * (k - len(kws))
        return list(zip(args, kws))[:n]

    def _run(self, i, index, args, kwargs):
        from ..func import functional_call

        dev = Device(f"cuda:{index}")
        out_dev = Device("cpu") if self.output_device == -1 else \
            Device(f"cuda:{self.output_device}")
        sources, leaves = [], []

        def copy(t):
            moved = t.detach().to(dev)
            if t.requires_grad and _state.enabled:
                moved.requires_grad_(True)
                sources.append(t)
                leaves.append(moved)
            return moved

        with _cuda.device(index):
            values = {name: copy(p) for name, p in self.module.named_parameters()}
            if i:  # the first replica writes the module's own buffers, the others copies
                values.update({name: b.detach().to(dev)
                               for name, b in self.module.named_buffers()})
            args = _tree(args, copy)
            kwargs = _tree(kwargs, copy)
            out = functional_call(self.module, values, tuple(args), kwargs)
        flat = _leaves(out, [])
        if not leaves or not any(o.requires_grad for o in flat):
            return _tree(out, lambda t: t.detach().to(out_dev))
        run = _Replica()
        run.index, run.outputs, run.leaves, run.sources = index, flat, leaves, sources
        run.out_device = out_dev
        moved = _Bridge.apply(run, *sources)
        moved = moved if isinstance(moved, tuple) else (moved,)
        return _refill(out, iter(moved))

    def gather(self, outputs, output_device):
        """The replicas' outputs joined along ``dim`` (0-dimensional ones stacked into a
        vector, as PyTorch's), structure kept."""
        first = outputs[0]
        if isinstance(first, Tensor):
            if first.ndim == 0:
                return _concat(0, *[_reshape(o, (1,)) for o in outputs])
            return _concat(self.dim % first.ndim, *outputs)
        if first is None:
            return None
        if isinstance(first, dict):
            return {k: self.gather([o[k] for o in outputs], output_device) for k in first}
        if isinstance(first, (tuple, list)):
            return type(first)(self.gather(list(parts), output_device)
                               for parts in zip(*outputs))
        return first

    def extra_repr(self):
        return ""
