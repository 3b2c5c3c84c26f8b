"""Stochastic weight averaging and exponential moving averages of a model, as PyTorch's
``torch.optim.swa_utils``: ``AveragedModel``, ``SWALR``, ``update_bn`` and the averaging
functions ``get_swa_avg_fn``, ``get_ema_avg_fn``, ``get_swa_multi_avg_fn``,
``get_ema_multi_avg_fn``.

The averaging runs where the averaged parameters live, and never makes the host wait for the
device: the number of models averaged so far is a device buffer (``n_averaged``, saved in the
state dict as PyTorch's), and the host keeps a copy of it to decide whether an update copies
(the first) or averages (PyTorch reads the buffer back with ``bool(n_averaged == 0)``, a
synchronisation on a GPU). The copy is re-read, once, only when the buffer was changed from
outside (``load_state_dict``, ``.to(device)``).

>>> import tensorgrad as tg
>>> from tensorgrad.optim.swa_utils import AveragedModel
>>> net = tg.nn.Linear(1, 1, bias=False)
>>> swa = AveragedModel(net)
>>> for w in (1.0, 2.0, 6.0):
...     with tg.no_grad():
...         _ = net.weight.fill_(w)
...     swa.update_parameters(net)
>>> swa.module.weight.item(), int(swa.n_averaged.item())
(3.0, 3)
"""

import copy
import itertools
import math

import numpy as np

from ..autograd.grad_mode import no_grad
from ..autograd.graph import bump_version
from ..backend.device import xp_of
from ..nn.modules import Module
from ..tensor import Tensor
from .adafactor import _lerp_
from .lr_scheduler import LRScheduler, _format_param

__all__ = ["AveragedModel", "SWALR", "update_bn", "get_ema_multi_avg_fn",
           "get_swa_multi_avg_fn", "get_ema_avg_fn", "get_swa_avg_fn"]


def _check_decay(decay):
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"Invalid decay value {decay} provided. Please provide a value in "
                         "[0,1] range.")


def _raw(t):
    return t.data if isinstance(t, Tensor) else t


def _count_plus_one(num_averaged, like):
    """``num_averaged + 1`` as a divisor for the floating arrays ``like``: a 0-d array of
    their dtype on their device when ``num_averaged`` is a Tensor (no host read), else a
    Python number."""
    if isinstance(num_averaged, Tensor):
        return (num_averaged.data + 1).astype(like.dtype, copy=False)
    return num_averaged + 1


def _store(dst, value):
    """Write ``value`` (an array) into the Tensor ``dst`` in place, cast to its dtype (integer
    buffers truncate, as PyTorch's ``copy_``)."""
    xp_of(dst.data).copyto(dst.data, value, casting="unsafe")
    bump_version(dst._vc)


def _update_each(dst_list, src_list, float_update, int_value):
    """For each (dst, src) pair of the lists, without recording: a floating ``dst``'s array
    updated in place by ``float_update(dst array, src array)`` (the Tensor's version bumped);
    any other ``dst`` set to ``int_value(dst array, src array)``, computed in float32
    (PyTorch's default dtype) and truncated."""
    with no_grad():
        for dst, src in zip(dst_list, src_list, strict=True):
            a, b = _raw(dst), _raw(src)
            if a.dtype.kind in "fc":
                float_update(a, b)
                if isinstance(dst, Tensor):
                    bump_version(dst._vc)
            else:
                _store(dst, int_value(a, b))


def get_ema_multi_avg_fn(decay=0.999):
    """The in-place EMA update of lists of tensors, ``ema = decay * ema + (1 - decay) *
    current`` (floating tensors by ``lerp`` with weight ``1 - decay``, as PyTorch's), for
    ``AveragedModel(model, multi_avg_fn=...)``."""
    _check_decay(decay)

    def ema_update(ema_param_list, current_param_list, _):
        f = np.float32
        _update_each(ema_param_list, current_param_list,
                     lambda a, b: _lerp_(a, b, 1 - decay, xp_of(a).empty_like(a)),
                     lambda a, b: a.astype(f) * f(decay) + b.astype(f) * f(1 - decay))

    return ema_update


def get_swa_multi_avg_fn():
    """The in-place running mean of lists of tensors, ``avg += (current - avg) /
    (num_averaged + 1)``, for ``AveragedModel(model, multi_avg_fn=...)``. ``num_averaged`` may
    be a Tensor on the tensors' device (it is never read back to the host) or a number."""

    def swa_update(averaged_param_list, current_param_list, num_averaged):
        def float_update(a, b):
            diff = xp_of(a).subtract(b, a)
            diff /= _count_plus_one(num_averaged, a)
            a += diff

        def int_value(a, b):
            f32 = (b - a).astype(np.float32)
            return f32 / _count_plus_one(num_averaged, f32) + a.astype(np.float32)

        _update_each(averaged_param_list, current_param_list, float_update, int_value)

    return swa_update


def get_ema_avg_fn(decay=0.999):
    """The EMA of one tensor, ``decay * ema + (1 - decay) * current`` (returned, not written),
    for ``AveragedModel(model, avg_fn=...)``."""
    _check_decay(decay)

    def ema_update(ema_param, current_param, num_averaged):
        with no_grad():
            return decay * ema_param + (1 - decay) * current_param

    return ema_update


def get_swa_avg_fn():
    """The running mean of one tensor, ``avg + (current - avg) / (num_averaged + 1)``
    (returned, not written), for ``AveragedModel(model, avg_fn=...)``."""

    def swa_update(averaged_param, current_param, num_averaged):
        with no_grad():
            den = num_averaged + 1
            if isinstance(den, Tensor) and isinstance(averaged_param, Tensor) and \
                    averaged_param.dtype.kind == "f":
                den = den.to(averaged_param.dtype)  # float32 stays float32, as PyTorch's
            return averaged_param + (current_param - averaged_param) / den

    return swa_update


class AveragedModel(Module):
    """A copy of ``model`` whose parameters are a running average of ``model``'s, updated by
    ``update_parameters(model)``: the first call copies, later ones average with ``avg_fn``
    (one tensor at a time: ``avg_fn(averaged, current, num_averaged)`` returns the new value)
    or ``multi_avg_fn`` (lists of tensors of one device and dtype, updated in place); with
    neither, the equally weighted mean (SWA). ``use_buffers=True`` averages the buffers too
    (BatchNorm's running statistics); otherwise the buffers are copied from ``model`` at each
    update. ``device`` puts the copy on another device. ``forward`` calls the copy.

    The state dict holds ``n_averaged`` (an int64 buffer) and the copy's entries under
    ``module.``, as PyTorch's; ``avg_fn`` and ``multi_avg_fn`` are not saved. Without
    ``device``, ``n_averaged`` is made on the device of the copy's parameters (PyTorch's is on
    the CPU then), so that averaging a GPU model moves nothing between host and device.

    >>> import tensorgrad as tg
    >>> from tensorgrad.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
    >>> ema = AveragedModel(tg.nn.Linear(2, 1), multi_avg_fn=get_ema_multi_avg_fn(0.9))
    >>> list(ema.state_dict())
    ['n_averaged', 'module.weight', 'module.bias']
    """

    def __init__(self, model, device=None, avg_fn=None, multi_avg_fn=None, use_buffers=False):
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise ValueError("AveragedModel: only one of avg_fn and multi_avg_fn should be "
                             "provided")
        if not isinstance(model, Module):
            raise TypeError(f"AveragedModel: model must be a tensorgrad.nn.Module, got "
                            f"{type(model).__name__}")
        self.module = copy.deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        from .. import creation

        if device is None:  # PyTorch puts it on the CPU; here it lives with the parameters
            first = next(itertools.chain(self.module.parameters(), self.module.buffers()), None)
            device = None if first is None else first.device
        self.register_buffer("n_averaged", creation.zeros((), dtype=np.int64, device=device))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers
        self._count = (0, self._stamp())

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def _stamp(self):
        n = self.n_averaged
        return id(n), id(n.data), n._vc[0]

    def _host_count(self):
        """The number of models averaged, from the host's copy; read from the device (once)
        only when ``n_averaged`` was replaced or written since the last update."""
        count, stamp = self._count
        if stamp != self._stamp():
            count = int(self.n_averaged.item())
            self._count = (count, self._stamp())
        return count

    def update_parameters(self, model):
        """Average ``model``'s parameters (and buffers, with ``use_buffers``) into this copy."""
        if self.use_buffers:
            mine = list(itertools.chain(self.module.parameters(), self.module.buffers()))
            theirs = list(itertools.chain(model.parameters(), model.buffers()))
        else:
            mine = list(self.parameters())
            theirs = list(model.parameters())
        count = self._host_count()
        with no_grad():
            pairs = []
            for avg, cur in zip(mine, theirs):
                cur = cur.detach()
                if cur.device != avg.device:
                    cur = cur.to(avg.device)
                avg = avg.detach()
                pairs.append((avg, cur))
                if count == 0:
                    _store(avg, cur.data)
            if count > 0:
                self._average(pairs)
            if not self.use_buffers:
                for b_avg, b_cur in zip(self.module.buffers(), model.buffers(), strict=True):
                    _store(b_avg, b_cur.detach().to(b_avg.device).data)
            n = self.n_averaged
            n.data += 1
            bump_version(n._vc)
        self._count = (count + 1, self._stamp())

    def _average(self, pairs):
        if self.avg_fn is not None:
            for avg, cur in pairs:
                out = self.avg_fn(avg, cur, self.n_averaged.to(avg.device))
                _store(avg, _raw(out))
            return
        groups = {}  # (device, dtype) -> ([averaged], [current]), in the parameters' order
        for avg, cur in pairs:
            mine, theirs = groups.setdefault((str(avg.device), avg.dtype), ([], []))
            mine.append(avg)
            theirs.append(cur)
        fn = self.multi_avg_fn if self.multi_avg_fn is not None else get_swa_multi_avg_fn()
        for mine, theirs in groups.values():
            fn(mine, theirs, self.n_averaged.to(mine[0].device))


def update_bn(loader, model, device=None):
    """One pass over ``loader`` in training mode to recompute the running statistics of
    ``model``'s BatchNorm layers (reset first, then a cumulative average: ``momentum=None``
    during the pass); the layers' momenta and the model's mode are restored after. Each batch
    is a tensor, or a list or tuple whose first element is the model's input; ``device``
    moves it there first. Without BatchNorm layers nothing is run."""
    from ..nn.normalization import _BatchNorm

    momenta = {}
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            m.reset_running_stats()
            momenta[m] = m.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for m in momenta:
        m.momentum = None
    try:
        with no_grad():
            for batch in loader:
                if isinstance(batch, (list, tuple)):
                    batch = batch[0]
                if device is not None:
                    batch = batch.to(device)
                model(batch)
    finally:
        for m, momentum in momenta.items():
            m.momentum = momentum
        model.train(was_training)


class SWALR(LRScheduler):
    """Anneal each group's learning rate to ``swa_lr`` (one value, or one per group) over
    ``anneal_epochs`` steps, by cosine (``"cos"``) or linearly (``"linear"``), then hold it;
    PyTorch's chainable formula, so the rates agree with PyTorch's.

    >>> import tensorgrad as tg
    >>> opt = tg.optim.SGD([tg.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = SWALR(opt, swa_lr=0.1, anneal_epochs=2, anneal_strategy="linear")
    >>> rates = []
    >>> for _ in range(3):
    ...     opt.step()
    ...     sched.step()
    ...     rates.append(round(sched.get_last_lr()[0], 4))
    >>> rates
    [0.55, 0.1, 0.1]
    """

    def __init__(self, optimizer, swa_lr, anneal_epochs=10, anneal_strategy="cos",
                 last_epoch=-1):
        for lr, group in zip(_format_param("swa_lr", optimizer, swa_lr), optimizer.param_groups,
                             strict=True):
            group["swa_lr"] = lr
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"SWALR: anneal_strategy must be one of 'cos' or 'linear', "
                             f"instead got {anneal_strategy!r}")
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"SWALR: anneal_epochs must be equal or greater than 0, got "
                             f"{anneal_epochs!r}")
        self._anneal_strategy = anneal_strategy
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    def anneal_func(self, t):
        if self._anneal_strategy == "linear":
            return t
        return (1 - math.cos(math.pi * t)) / 2

    @staticmethod
    def _get_initial_lr(lr, swa_lr, alpha):
        if alpha == 1:
            return swa_lr
        return (lr - alpha * swa_lr) / (1 - alpha)

    def get_lr(self):
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        span = max(1, self.anneal_epochs)
        prev_alpha = self.anneal_func(max(0, min(1, (step - 1) / span)))
        alpha = self.anneal_func(max(0, min(1, step / span)))
        groups = self.optimizer.param_groups
        prev = [self._get_initial_lr(g["lr"], g["swa_lr"], prev_alpha) for g in groups]
        return [g["swa_lr"] * alpha + lr * (1 - alpha) for g, lr in zip(groups, prev)]
