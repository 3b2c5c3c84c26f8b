"""Stateless neural-network functions with PyTorch's names and signatures.

Most are compositions of primitives. ``log_softmax``, ``softmax``, ``softplus`` and
``cross_entropy`` are primitives of their own: their fused rules are more stable (no
``log(exp(.))`` round trips, no ``0 * inf``) and faster (one node instead of five) than the
compositions.

On CuPy float32/float64 arrays the softmax family, cross-entropy and the activations run fused
CUDA kernels (``kernels/``, launched through ``tensorgrad.backend.cuda``): one launch per
forward and one per backward instead of a chain of CuPy calls. Only the first-order numeric
path uses them; when a rule is given Tensors (``create_graph=True``, higher derivatives,
forward mode) it runs its composed form, which is differentiable. NumPy arrays never reach a
kernel.
"""

import warnings as _warnings

import numpy as _np

from ..amp.autocast_mode import FP32 as _FP32
from ..amp.autocast_mode import cast_inputs as _cast_inputs
from ..backend import cuda as _cuda
from ..backend.device import _CUPY_ARRAY
from ..backend.device import xp_of as _xp_of
from ..ops import elementwise as _ew
from ..ops import reduce as _red
from ..ops.composed_rules import define_rules as _define_rules
from ..ops.join import join as _join
from ..ops.join import joined as _joined
from ..ops.registry import AUTOCAST as _AUTOCAST
from ..ops.registry import defjvp as _defjvp
from ..ops.registry import defvjp as _defvjp
from ..ops.registry import primitive as _primitive
from ..tensor import Tensor as _Tensor
from ..tensor import _norm_axis, _raw
from . import _host_rows as _hr
from ._inplace import apply_inplace as _apply_inplace


# ---- softmax family ------------------------------------------------------------------------
@_primitive
def _log_softmax(x, axis):
    if type(x) is _CUPY_ARRAY and axis == x.ndim - 1 and _cuda.fusable(x):
        return _cuda.log_softmax_lastdim(x)
    if _hr.last_axis_fits(x, axis):
        return _hr.log_softmax(x)
    xp = _xp_of(x)
    if x.size == 0:  # an empty axis has no max; the answer is as empty as the input
        return x.copy()
    m = x.max(axis=axis, keepdims=True)
    if not xp.isfinite(m).all():
        m = xp.where(xp.isfinite(m), m, 0)
    shifted = x - m
    shifted -= xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
    return shifted


@_primitive
def _softmax(x, axis):
    if type(x) is _CUPY_ARRAY and axis == x.ndim - 1 and _cuda.fusable(x):
        return _cuda.softmax_lastdim(x)
    if _hr.last_axis_fits(x, axis):
        return _hr.softmax(x)
    xp = _xp_of(x)
    if x.size == 0:
        return x.copy()
    e = xp.exp(x - x.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


def _sum_keep(x, axis):
    return _red.sum(x, (axis,), True)


def _fused_rows(g, ans, axis):
    # raw CuPy cotangent and answer (not Tensors: no graph is being built), last axis
    return (type(g) is _CUPY_ARRAY and type(ans) is _CUPY_ARRAY and axis == ans.ndim - 1
            and g.shape == ans.shape and _cuda.fusable(ans))


def _host_rows_vjp(g, ans, axis):
    # raw NumPy cotangent and answer of one dtype, last axis: _host_rows
    return type(g) is _np.ndarray and g.shape == getattr(ans, "shape", None) and \
        g.dtype == ans.dtype and _hr.last_axis_fits(ans, axis)


def _log_softmax_vjp(g, ans, x, axis):
    if _fused_rows(g, ans, axis):
        return _cuda.log_softmax_lastdim_backward(g, ans)
    if _host_rows_vjp(g, ans, axis):
        return _hr.log_softmax_backward(g, ans)
    return g - _ew.exp(ans) * _sum_keep(g, axis)


def _softmax_vjp(g, ans, x, axis):
    if _fused_rows(g, ans, axis):
        return _cuda.softmax_lastdim_backward(g, ans)
    if _host_rows_vjp(g, ans, axis):
        return _hr.softmax_backward(g, ans)
    return ans * (g - _sum_keep(g * ans, axis))


_defvjp(_log_softmax, _log_softmax_vjp)
_defjvp(_log_softmax, lambda t, ans, x, axis: t - _sum_keep(_ew.exp(ans) * t, axis))
_defvjp(_softmax, _softmax_vjp)
_defjvp(_softmax, lambda t, ans, x, axis: ans * (t - _sum_keep(ans * t, axis)))


# autocast (tensorgrad.amp): these primitives run in float32 inside a region (PyTorch's float32
# list); the composite losses and norms below cast their inputs up on entry
for _p in (_log_softmax, _softmax):
    _p.prim.amp = _FP32


def _softmax_dim(ndim, dim, op):
    if dim is not None:
        return dim
    # PyTorch's implicit choice (which it warns about)
    return 0 if ndim in (0, 1, 3) else 1


def _softmax_input(input, dim, dtype, op):
    """(input cast to ``dtype`` first, as PyTorch's ``dtype=`` does, the axis) for the softmax
    family."""
    if dtype is not None:
        input = input.to(dtype) if hasattr(input, "to") else input.astype(dtype)
    return input, _norm_axis(_softmax_dim(input.ndim, dim, op), input.ndim, op)


def _on_vector(fn, x, axis, *args):
    """``fn(x, axis, *args)`` for a reduction-like op along ``axis``; a 0-d ``x`` (PyTorch
    takes dim 0 or -1 of it as one element) runs as a 1-element vector and is reshaped back."""
    if x.ndim:
        return fn(x, axis, *args)
    return _reshape(fn(_reshape(x, (1,)), 0, *args), ())


def log_softmax(input, dim=-1, _stacklevel=3, dtype=None):
    """log(softmax(input)) along ``dim``, computed stably; ``dtype`` casts the input first.

    >>> import tensorgrad as tg
    >>> tg.nn.functional.log_softmax(tg.tensor([0.0, 0.0])).exp().tolist()
    [0.5, 0.5]
    """
    return _on_vector(_log_softmax, *_softmax_input(input, dim, dtype, "log_softmax"))


def softmax(input, dim=-1, _stacklevel=3, dtype=None):
    """exp(input) normalised along ``dim``; ``dtype`` casts the input first (PyTorch's
    ``F.softmax(x, dim, dtype=torch.float32)`` of mixed-precision code)."""
    return _on_vector(_softmax, *_softmax_input(input, dim, dtype, "softmax"))


# ---- losses ---------------------------------------------------------------------------------
def _rows(n, like):
    return _xp_of(like).arange(n)


@_primitive
def _cross_entropy_rows(x, target, ignore=None):
    """Per-row -log softmax(x)[target] for a (N, C) ``x`` and (N,) integer ``target``; a row
    whose target equals ``ignore`` (an int, or None) gives 0 and passes no gradient."""
    if type(x) is _CUPY_ARRAY and type(target) is _CUPY_ARRAY and x.ndim == 2 and \
            _cuda.fusable(x):
        # the answer is the start of a 3N buffer whose rest keeps each row's max and log-sum
        # for the backward kernel (see _fused_saved)
        return _cuda.cross_entropy_rows(x, target, ignore)
    if ignore is None and _hr.ce_fits(x, target):
        return _hr.ce_forward(x, target)
    xp = _xp_of(x)
    safe, valid = _unignored(target, ignore)
    m = x.max(axis=1, keepdims=True)
    lse = xp.log(xp.exp(x - m).sum(axis=1)) + m[:, 0]
    loss = lse - x[_rows(x.shape[0], x), safe]
    return loss if valid is None else xp.where(valid, loss, 0)


def _unignored(target, ignore):
    """(targets with the ignored ones replaced by class 0, mask of the others or None)."""
    if ignore is None:
        return target, None
    t = _raw(target)
    valid = t != ignore
    return _xp_of(t).where(valid, t, 0), valid


def _ce_probs(ans, x, target):
    # softmax(x) rebuilt from the answer: lse = ans + x[rows, target]
    from ..ops.index import getitem
    from ..ops.shape import reshape

    rows = _rows(x.shape[0], _raw(x))
    lse = ans + getitem(x, (rows, target))
    return _ew.exp(x - reshape(lse, (-1, 1)))


def _onehot(target, like):
    raw = _raw(like)
    out = _xp_of(raw).zeros(raw.shape, dtype=raw.dtype)
    out[_rows(raw.shape[0], raw), target] = 1
    return out


def _fused_saved(g, ans, x, extra=0):
    """The forward kernel's buffer (loss, row max, row log-sum: 3N elements, then ``extra``),
    the base of the answer, when this is the raw first-order path on CuPy and the answer came
    from that kernel; else None. Keeping it as the answer's base ties its life to the node's."""
    if type(g) is not _CUPY_ARRAY or type(ans) is not _CUPY_ARRAY or type(x) is not _CUPY_ARRAY:
        return None
    base = ans.base
    if type(base) is _CUPY_ARRAY and base.shape == (3 * x.shape[0] + extra,) and \
            base.dtype == x.dtype and g.shape == ans.shape and _cuda.fusable(x):
        return base
    return None


def _ce_vjp(g, ans, x, target, ignore=None):
    from ..ops.shape import reshape

    saved = _fused_saved(g, ans, x)
    if saved is not None:
        return _cuda.cross_entropy_rows_backward(g, x, target, saved, ignore)
    if ignore is None and type(g) is _np.ndarray and type(target) is _np.ndarray and \
            g.shape == target.shape:
        lse = _hr.ce_saved(ans, x)
        if lse is not None:
            return _hr.ce_backward(g, x, target, lse)
    safe, valid = _unignored(target, ignore)
    if valid is not None:  # a where: an ignored row passes 0 even for an infinite cotangent
        g = _ew.where(valid, g, 0.0)
    return reshape(g, (-1, 1)) * (_ce_probs(ans, x, safe) - _onehot(safe, x))


def _kept_rows(target, ignore, like):
    """The number of rows whose target is not ``ignore``, a 0-d array of ``like``'s dtype on its
    device (no host synchronisation)."""
    t = _raw(target)
    if ignore is None:
        return _xp_of(t).asarray(t.shape[0], dtype=_raw(like).dtype)
    return (t != ignore).sum(dtype=_raw(like).dtype)


@_primitive
def _cross_entropy_mean(x, target, ignore=None):
    """The mean of ``_cross_entropy_rows`` over the rows whose target is not ``ignore`` (0/0,
    NaN, when there are none, as in PyTorch). On a GPU two kernel launches: the answer is
    element 3N of a 3N + 2 buffer that keeps the rows' max and log-sum and the count for the
    one-launch backward (see _fused_saved)."""
    if type(x) is _CUPY_ARRAY and type(target) is _CUPY_ARRAY and x.ndim == 2 and \
            _cuda.fusable(x):
        return _cuda.cross_entropy_mean(x, target, ignore)
    return _xp_of(x).sum(_cross_entropy_rows(x, target, ignore)) / _kept_rows(target, ignore, x)


def _ce_mean_vjp(g, ans, x, target, ignore=None):
    from ..ops.shape import broadcast_to

    saved = _fused_saved(g, ans, x, extra=2)
    if saved is not None:
        return _cuda.cross_entropy_mean_backward(g, x, target, saved, ignore)
    rows = _cross_entropy_rows(x, target, ignore)
    per_row = broadcast_to(g / _kept_rows(target, ignore, x), (x.shape[0],))
    return _ce_vjp(per_row, rows, x, target, ignore)


def _ce_mean_jvp(t, ans, x, target, ignore=None):
    rows = _cross_entropy_rows(x, target, ignore)
    return _red.sum(_ce_jvp(t, rows, x, target, ignore)) / _kept_rows(target, ignore, x)


def _ce_jvp(t, ans, x, target, ignore=None):
    safe, valid = _unignored(target, ignore)
    out = _red.sum(t * (_ce_probs(ans, x, safe) - _onehot(safe, x)), (1,), False)
    return out if valid is None else _ew.where(valid, out, 0.0)


_defvjp(_cross_entropy_rows, _ce_vjp, None, None)
_defjvp(_cross_entropy_rows, _ce_jvp, None, None)
_defvjp(_cross_entropy_mean, _ce_mean_vjp, None, None)
_defjvp(_cross_entropy_mean, _ce_mean_jvp, None, None)


def _reduce(loss, reduction, op):
    if reduction == "mean":
        return loss.mean() if isinstance(loss, _Tensor) else _red.mean(loss)
    if reduction == "sum":
        return loss.sum() if isinstance(loss, _Tensor) else _red.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


_REDUCTIONS = ("mean", "sum", "none")


def _legacy_reduction(size_average, reduce, reduction, op=None, weight=None):
    """PyTorch's deprecated ``size_average``/``reduce`` mapped to a ``reduction``, with the
    warning PyTorch gives (``torch.nn._reduction.legacy_get_string``); ``reduction`` itself
    when both are None. With ``op``: a string passed positionally where PyTorch's order puts
    ``weight``, ``size_average`` or ``reduce`` (``F.mse_loss(x, y, "sum")``, the order
    tensorgrad had before) is a TypeError naming the op and the argument."""
    if op is not None:
        for name, value in (("weight", weight), ("size_average", size_average),
                            ("reduce", reduce)):
            if isinstance(value, str):
                raise TypeError(f"{op}(): argument '{name}' got the string {value!r}; "
                                "reduction is a keyword argument (PyTorch's order: "
                                f"{op}(input, target, ..., reduction={value!r}))")
    if size_average is None and reduce is None:
        return reduction
    import warnings

    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    legacy = "mean" if size_average and reduce else "sum" if reduce else "none"
    warnings.warn("size_average and reduce args will be deprecated, please use "
                  f"reduction='{legacy}' instead.", stacklevel=3)
    return legacy


def _weighted_elementwise(loss, weight, reduction, op, input, mean_by_weight):
    """PyTorch 2.13's elementwise ``weight`` of mse/l1/huber losses: same shape as
    ``input``; the mean divides by the summed weight (mse, l1) or by the count (huber)."""
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError(f"{op}: weight must have the input's shape {tuple(input.shape)}, got "
                         f"{tuple(weight.shape)}")
    loss = loss * weight
    if reduction == "mean" and mean_by_weight:
        return _reduce(loss, "sum", op) / _reduce(weight, "sum", op)
    return _reduce(loss, reduction, op)


def _check_reduction(reduction, op, extra=()):
    if reduction not in _REDUCTIONS + tuple(extra):
        allowed = ", ".join(repr(r) for r in _REDUCTIONS + tuple(extra))
        raise ValueError(f"{op}: reduction must be one of {allowed}, got {reduction!r}")


def _class_weight(weight, c, op, input):
    if weight is not None and tuple(weight.shape) != (c,):
        raise ValueError(f"{op}: weight must have one entry per class, shape ({c},), got "
                         f"{tuple(weight.shape)} (input shape {tuple(input.shape)})")


def _class_targets(t, input, ignore_index, op):
    """Check class-index targets ``t`` (raw) against (N, C) ``input``; return (valid mask as a
    0/1 array of the input's dtype, targets with the ignored ones replaced by class 0)."""
    n, c = input.shape
    if t.shape != (n,):
        raise ValueError(f"{op}: class-index target must have shape ({n},), got "
                         f"{tuple(t.shape)} (input shape {tuple(input.shape)})")
    xp = _xp_of(t)
    valid = t != ignore_index
    # On the CPU a class outside [0, C) is an IndexError here. On a GPU the check would stall
    # the host every step (as PyTorch, it is not made there).
    if t.size and xp is _np:
        bad = valid & ((t < 0) | (t >= c))
        if bad.any():
            v = int(t[bad][0])
            raise IndexError(f"{op}: target index {v} is out of bounds for size {c}: classes "
                             f"must lie in [0, {c}) or equal ignore_index={ignore_index}, "
                             f"got {v}")
    safe = xp.where(valid, t, 0)
    return valid.astype(_raw(input).dtype), safe


def _weighted_sum_over(loss, wt, reduction, valid):
    """PyTorch's weighted reduction for class-index losses: 'mean' divides by the total weight
    of the rows that count (NaN when none does, as PyTorch). The ignored rows (``valid`` 0) get
    a zero gradient even then, as PyTorch's (a ``where``, not a product with an infinite
    cotangent); kept rows of zero weight get NaN, as there."""
    if reduction == "none":
        return loss
    if reduction == "sum":
        return _red.sum(loss)
    kept = _red.sum(_ew.where(valid != 0, loss, 0.0))
    if type(valid) is _np.ndarray and not valid.any():
        # every row ignored (CPU): PyTorch's NaN and zero gradients, silently, as there; the
        # 0 / 0 would make NumPy warn in the forward and in the division's backward
        return kept * _np.nan
    return kept / _red.sum(wt)


def _classes_last(input, target, name):
    """PyTorch's other layouts of a classification loss as the (M, C) rows the loss is written
    for: an (N, C, d1, ..., dk) input (per-token logits, segmentation) with (N, d1, ..., dk)
    class indices or (N, C, d1, ..., dk) probabilities, and an unbatched (C,) input with a 0-d
    index or (C,) probabilities. Returns the rows, their targets and the shape an unreduced
    loss takes. A mean over all the rows is PyTorch's mean over N and the d's."""
    if input.ndim == 0:
        raise ValueError(f"{name}: input must have a class dimension, got a 0-d tensor")
    t = _raw(target)
    probs = getattr(t, "dtype", _np.dtype(_np.float32)).kind not in "iu"
    c = input.shape[0] if input.ndim == 1 else input.shape[1]
    shape = tuple(input.shape[:1]) + tuple(input.shape[2:]) if input.ndim > 1 else ()
    want = shape[:1] + (c,) + shape[1:] if probs else shape
    if tuple(getattr(t, "shape", ())) != want:
        kind = "probabilities" if probs else "class indices"
        raise ValueError(f"{name}: for input of shape {tuple(input.shape)} the target "
                         f"({kind}) must have shape {want}, got {tuple(getattr(t, 'shape', ()))}")
    from ..ops.shape import transpose

    last = (0,) + tuple(range(2, input.ndim)) + (1,)  # the class axis moved to the end
    rows = _reshape(transpose(input, last) if input.ndim > 2 else input, (-1, c))
    if probs:
        target = _reshape(transpose(target, last) if input.ndim > 2 else target, (-1, c))
    else:
        target = _reshape(target, (-1,))
    return rows, target, shape


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100,
                  reduce=None, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy of logits ``input`` (N, C) against class indices ``target`` (N,)
    or class probabilities (N, C), as PyTorch's (also its (N, C, d1, ..., dk) layout with
    (N, d1, ..., dk) targets, and an unbatched (C,) input), with its ``weight`` (one per class),
    ``ignore_index`` (class-index targets) and ``label_smoothing``. With class indices,
    ``reduction="mean"`` divides by the summed weight of the targets that are not ignored, as
    PyTorch does; with probabilities it divides by N.

    The per-row loss is one fused node (a CUDA kernel on CuPy); the weight, the ignored rows
    and the smoothing term are compositions around it.

    >>> import tensorgrad as tg
    >>> x = tg.tensor([[2.0, 0.0], [0.0, 2.0]], requires_grad=True)
    >>> loss = tg.nn.functional.cross_entropy(x, tg.tensor([0, 1]))
    >>> round(loss.item(), 4)
    0.1269
    >>> round(tg.nn.functional.cross_entropy(x, tg.tensor([0, -100])).item(), 4)
    0.1269
    """
    reduction = _legacy_reduction(size_average, reduce, reduction, "cross_entropy", weight)
    if _AUTOCAST[0]:
        input, target, weight = _cast_inputs(_FP32, input, target, weight)
    if input.ndim != 2:
        rows, target, shape = _classes_last(input, target, "cross_entropy")
        loss = cross_entropy(rows, target, reduction=reduction, label_smoothing=label_smoothing,
                             weight=weight, ignore_index=ignore_index)
        return _reshape(loss, shape) if reduction == "none" else loss
    _check_reduction(reduction, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got "
                         f"{label_smoothing}")
    n, c = input.shape
    _class_weight(weight, c, "cross_entropy", input)
    t = _raw(target)
    if isinstance(target, _Tensor) and target._level and t.dtype.kind in "iu" and t.shape == \
            (n,) and weight is None and not label_smoothing and reduction in _REDUCTIONS:
        from ..autograd.batching import class_cross_entropy  # class indices batched by vmap

        return class_cross_entropy(input, target, reduction, ignore_index)
    if getattr(t, "dtype", _np.dtype(_np.float32)).kind in "iu":
        if t.shape != (n,):
            raise ValueError(f"cross_entropy: class-index target must have shape "
                             f"({n},), got {tuple(t.shape)}")
        if weight is None and not label_smoothing and _xp_of(t) is not _np:
            # on a GPU: one fused node that gives the ignored rows 0 (no host synchronisation,
            # no masking ops); the mean over the others, counted on the device, is part of it
            if reduction == "mean":
                return _cross_entropy_mean(input, t, ignore_index)
            return _reduce(_cross_entropy_rows(input, t, ignore_index), reduction,
                           "cross_entropy")
        valid, safe = _class_targets(t, input, ignore_index, "cross_entropy")
        if weight is None and not label_smoothing and _xp_of(t) is _np and bool(valid.all()):
            # the plain case: one fused node and nothing around it
            return _reduce(_cross_entropy_rows(input, t), reduction, "cross_entropy")
        wt = valid if weight is None else weight[safe] * valid
        loss = _weighted_sum_over(_cross_entropy_rows(input, safe) * wt, wt, reduction, valid)
        if not label_smoothing:
            return loss
        # PyTorch's smoothing term: the (weighted) sum of -log p over all classes, reduced with
        # the same denominator as the main term
        logp = log_softmax(input, 1)
        if weight is not None:
            logp = logp * _reshape(weight, (1, c))
        smooth = _weighted_sum_over(-_red.sum(logp, (1,), False) * valid, wt, reduction,
                                    valid)
        return loss * (1 - label_smoothing) + smooth * (label_smoothing / c)
    if tuple(t.shape) != tuple(input.shape):
        raise ValueError(f"cross_entropy: probability target must have the input's shape "
                         f"{tuple(input.shape)}, got {tuple(t.shape)}")
    if ignore_index >= 0:
        raise ValueError(f"cross_entropy: ignore_index={ignore_index} applies to class-index "
                         f"targets only, not to probability targets of shape {tuple(t.shape)}")
    if label_smoothing:  # as PyTorch, for probabilities
        target = target * (1 - label_smoothing) + label_smoothing / c
    lt = log_softmax(input, 1) * target
    if weight is not None:
        lt = lt * _reshape(weight, (1, c))
    return _reduce(-_red.sum(lt, (1,), False), reduction, "cross_entropy")


def _reshape(x, shape):
    from ..ops.shape import reshape

    return reshape(x, shape)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """Negative log-likelihood of log-probabilities ``input`` (N, C) at classes ``target``,
    with PyTorch's ``weight`` and ``ignore_index`` (PyTorch's argument order) and its weighted
    mean.

    >>> import tensorgrad as tg
    >>> logp = tg.tensor([[-0.5, -1.0], [-2.0, -0.1]])
    >>> round(tg.nn.functional.nll_loss(logp, tg.tensor([0, 1]), reduction="sum").item(), 4)
    0.6
    """
    from ..ops.index import getitem

    reduction = _legacy_reduction(size_average, reduce, reduction, "nll_loss", weight)
    if _AUTOCAST[0]:
        input, weight = _cast_inputs(_FP32, input, weight)
    if input.ndim != 2:
        rows, target, shape = _classes_last(input, target, "nll_loss")
        loss = nll_loss(rows, target, reduction=reduction, weight=weight,
                        ignore_index=ignore_index)
        return _reshape(loss, shape) if reduction == "none" else loss
    _check_reduction(reduction, "nll_loss")
    _class_weight(weight, input.shape[1], "nll_loss", input)
    valid, safe = _class_targets(_raw(target), input, ignore_index, "nll_loss")
    picked = getitem(input, (_rows(input.shape[0], _raw(input)), safe))
    wt = valid if weight is None else weight[safe] * valid
    return _weighted_sum_over(-picked * wt, wt, reduction, valid)


def _target_size(op, input, target, strict=False):
    """PyTorch's check of a loss's target shape: a target of another shape than the input is
    broadcast with a warning (an (N, 1) prediction against (N,) targets makes an (N, N) loss:
    a classic silent bug), or refused with ``strict`` (the binary cross-entropies)."""
    ts, xs = getattr(target, "shape", None), getattr(input, "shape", None)
    if ts is None or xs is None or tuple(ts) == tuple(xs):
        return
    if strict:
        raise ValueError(f"{op}: target size {tuple(ts)} must be the same as input size "
                         f"{tuple(xs)}")
    _warnings.warn(f"{op}: using a target size {tuple(ts)} that is different to the input size "
                  f"{tuple(xs)}. This will likely lead to incorrect results due to "
                  "broadcasting. Please ensure they have the same size.", UserWarning,
                  stacklevel=3)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    reduction = _legacy_reduction(size_average, reduce, reduction, "mse_loss", weight)
    _target_size("mse_loss", input, target)
    if _AUTOCAST[0]:
        input, target, weight = _cast_inputs(_FP32, input, target, weight)
    d = input - target
    if weight is not None:
        return _weighted_elementwise(d * d, weight, reduction, "mse_loss", input, True)
    return _reduce(d * d, reduction, "mse_loss")


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    reduction = _legacy_reduction(size_average, reduce, reduction, "l1_loss", weight)
    _target_size("l1_loss", input, target)
    if _AUTOCAST[0]:
        input, target, weight = _cast_inputs(_FP32, input, target, weight)
    if weight is not None:
        return _weighted_elementwise(_ew.abs(input - target), weight, reduction, "l1_loss",
                                     input, True)
    return _reduce(_ew.abs(input - target), reduction, "l1_loss")


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None,
                                     reduce=None, reduction="mean", pos_weight=None):
    """-(t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))), computed stably from the logits, as
    PyTorch's: ``weight`` scales each element's loss, ``pos_weight`` (broadcast along the last
    dimension) the positive term."""
    reduction = _legacy_reduction(size_average, reduce, reduction,
                                  "binary_cross_entropy_with_logits", weight)
    _check_reduction(reduction, "binary_cross_entropy_with_logits")
    _target_size("binary_cross_entropy_with_logits", input, target, strict=True)
    if _AUTOCAST[0]:
        input, target, weight, pos_weight = _cast_inputs(_FP32, input, target, weight,
                                                         pos_weight)
    # softplus without softplus()'s threshold: PyTorch's loss is log-sigmoid, exact everywhere
    if pos_weight is None:
        loss = _softplus(input) - input * target
    else:  # (1 - t) x + (1 + (pw - 1) t) softplus(-x)
        loss = (1 - target) * input + ((pos_weight - 1) * target + 1) * _softplus(-input)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    """-(t log p + (1 - t) log(1 - p)) for probabilities ``input``; logs clamped at -100 as
    PyTorch does; ``weight`` scales each element's loss."""
    reduction = _legacy_reduction(size_average, reduce, reduction, "binary_cross_entropy", weight)
    _check_reduction(reduction, "binary_cross_entropy")
    _target_size("binary_cross_entropy", input, target, strict=True)
    raw = _raw(input)
    if type(raw) is _np.ndarray and raw.size and not bool(((raw >= 0) & (raw <= 1)).all()):
        # PyTorch refuses probabilities outside [0, 1] (checked on the host only: on a GPU the
        # check would cost a synchronisation; there a NaN shows it)
        raise ValueError(f"binary_cross_entropy: all elements of input must be between 0 and "
                         f"1 (probabilities), got values from {_np.nanmin(raw)} to "
                         f"{_np.nanmax(raw)}; for logits use binary_cross_entropy_with_logits")
    if _AUTOCAST[0]:
        input, target, weight = _cast_inputs(_FP32, input, target, weight)
    loss = _bce(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy")


def _clamped_logs(p):
    """log(p) and log(1 - p), each at least -100 (PyTorch's clamp), without NumPy's warning at
    p = 0 or 1."""
    xp = _xp_of(p)
    if xp is _np:
        with _np.errstate(divide="ignore"):
            return xp.maximum(xp.log(p), -100.0), xp.maximum(xp.log1p(-p), -100.0)
    return xp.maximum(xp.log(p), -100.0), xp.maximum(xp.log1p(-p), -100.0)


@_primitive
def _bce(p, t):
    """-(t log p + (1 - t) log(1 - p)), the logs clamped at -100, elementwise."""
    logp, log1mp = _clamped_logs(p)
    out = -(t * logp + (1 - t) * log1mp)
    return out.astype(_np.result_type(p, t), copy=False)


# PyTorch's: the derivative's denominator p (1 - p) is at least this, a float32 constant (so
# 1 / eps is 1.000000004e12 in float64 too)
_BCE_EPS = float(_np.float32(1e-12))


def _bce_dp(ans, p, t):
    """d bce / dp as PyTorch's backward kernel: (p - t) / max(p (1 - p), 1e-12), finite where
    p is 0 or 1 (a saturated sigmoid), where the clamped logs' own derivative is infinite."""
    return (p - t) / _ew.maximum((1 - p) * p, _BCE_EPS)


def _bce_dt(ans, p, t):
    """d bce / dt = -log(p / (1 - p)), unclamped (infinite at p = 0 or 1), as PyTorch's."""
    with _np.errstate(divide="ignore"):
        return -_ew.log(p / (1 - p))


_defvjp(_bce, lambda g, ans, p, t: g * _bce_dp(ans, p, t),
        lambda g, ans, p, t: g * _bce_dt(ans, p, t))
_defjvp(_bce, lambda d, ans, p, t: d * _bce_dp(ans, p, t),
        lambda d, ans, p, t: d * _bce_dt(ans, p, t))


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """PyTorch's smooth L1: 0.5 d**2 / beta where |d| < beta, |d| - 0.5 beta elsewhere
    (d = input - target); ``beta=0`` is the L1 loss.

    >>> import tensorgrad as tg
    >>> F = tg.nn.functional
    >>> F.smooth_l1_loss(tg.tensor([0.5, 3.0]), tg.zeros(2), reduction="none").tolist()
    [0.125, 2.5]
    """
    reduction = _legacy_reduction(size_average, reduce, reduction, "smooth_l1_loss")
    _check_reduction(reduction, "smooth_l1_loss")
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    _target_size("smooth_l1_loss", input, target)
    if _AUTOCAST[0]:
        input, target = _cast_inputs(_FP32, input, target)
    d = input - target
    if beta == 0:
        return _reduce(_ew.abs(d), reduction, "smooth_l1_loss")
    # the quadratic branch is written without abs: its derivative at d = 0 is 0, as PyTorch's
    loss = _ew.where(_ew.abs(_raw(d)) < beta, (0.5 / beta) * d * d, _ew.abs(d) - 0.5 * beta)
    return _reduce(loss, reduction, "smooth_l1_loss")


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """PyTorch's Huber loss: 0.5 d**2 where |d| < delta, delta (|d| - 0.5 delta) elsewhere;
    ``delta`` times ``smooth_l1_loss`` with ``beta=delta``.

    >>> import tensorgrad as tg
    >>> tg.nn.functional.huber_loss(tg.tensor([0.5, 3.0]), tg.zeros(2), "none", 2.0).tolist()
    [0.125, 4.0]
    """
    _check_reduction(reduction, "huber_loss")
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    _target_size("huber_loss", input, target)
    if _AUTOCAST[0]:
        input, target, weight = _cast_inputs(_FP32, input, target, weight)
    d = input - target
    loss = _ew.where(_ew.abs(_raw(d)) < delta, 0.5 * d * d, delta * (_ew.abs(d) - 0.5 * delta))
    if weight is not None:
        return _weighted_elementwise(loss, weight, reduction, "huber_loss", input, False)
    return _reduce(loss, reduction, "huber_loss")


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """PyTorch's Kullback-Leibler divergence loss: ``target * (log(target) - input)`` for
    log-probabilities ``input`` (0 where ``target`` is 0, NaN where it is negative), or
    ``exp(target) * (target - input)`` with ``log_target``. ``reduction="batchmean"``
    divides the sum by the batch size ``input.shape[0]`` (the divergence per sample);
    ``"mean"`` divides by the number of elements, as PyTorch's (which warns about it).

    >>> import tensorgrad as tg
    >>> p = tg.tensor([[0.5, 0.5]])
    >>> round(tg.nn.functional.kl_div(p.log(), p, reduction="batchmean").item(), 6)
    0.0
    """
    reduction = _legacy_reduction(size_average, reduce, reduction, "kl_div")
    _check_reduction(reduction, "kl_div", ("batchmean",))
    if _AUTOCAST[0]:
        input, target = _cast_inputs(_FP32, input, target)
    if log_target:
        loss = _ew.exp(target) * (target - input)
    else:
        # PyTorch's xlogy(target, target) - target * input: target * log(target) is 0 at
        # target = 0 and NaN below; its gradient log(target) + 1 is NaN at 0 and below (0 * -inf
        # in the product's rule), as PyTorch's (0 / 0 in xlogy's)
        with _np.errstate(divide="ignore", invalid="ignore"):
            xlx = _ew.where(_raw(target) == 0, 0.0, target * _ew.log(target))
        loss = xlx - target * input
    if reduction == "batchmean":
        total = _red.sum(loss)
        return total / input.shape[0] if input.ndim else total
    return _reduce(loss, reduction, "kl_div")


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability ``p`` and scale the rest by 1 / (1 - p) while
    ``training``; ``input`` itself otherwise (PyTorch's ``F.dropout``). The mask is drawn on
    the input's device; with ``inplace`` the input takes the result (see ``nn/_inplace.py``).

    >>> import tensorgrad as tg
    >>> x = tg.ones(4)
    >>> tg.nn.functional.dropout(x, 0.5, training=False) is x
    True
    """
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0:
        return input
    if inplace:
        return _apply_inplace(input, lambda x: dropout(x, p, training), "dropout")
    from .. import creation

    raw = _raw(input)
    if p == 1:
        return input * _xp_of(raw).zeros((), dtype=raw.dtype)
    keep = creation.rand(*raw.shape, device=input.device).data >= p
    return input * (keep.astype(raw.dtype) / raw.dtype.type(1 - p))


# ---- activations ----------------------------------------------------------------------------
@_primitive
def _softplus(x):
    xp = _xp_of(x)
    return xp.log1p(xp.exp(-xp.abs(x))) + xp.maximum(x, 0)


_defvjp(_softplus, lambda g, ans, x: g * _ew.sigmoid(x))
_defjvp(_softplus, lambda t, ans, x: t * _ew.sigmoid(x))
_softplus.prim.amp = _FP32


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta x)) / beta, without overflow; ``x`` itself (gradient 1) where
    beta x > threshold, as PyTorch's."""
    if _AUTOCAST[0]:
        (input,) = _cast_inputs(_FP32, input)
    if beta == 1.0:
        scaled, soft = input, _softplus(input)
    else:
        scaled = input * beta
        soft = _softplus(scaled) / beta
    return _ew.where(_raw(scaled) > threshold, input, soft)


# On CuPy the activations below are one fused kernel forward and one backward (_bias_act);
# on NumPy gelu (both forms) and silu of 4,096+ elements are one _bias_act too, a block of rows
# at a time (nn/_host_rows.py); elsewhere they are the compositions, unchanged.
def _fused_act_arg(input, activation):
    """Does act(input) run as one _bias_act: a fusable CuPy array (one kernel each way), or a
    NumPy array that _host_rows takes (blocks in cache)."""
    x = input.data if isinstance(input, _Tensor) else input
    if type(x) is _CUPY_ARRAY:
        return x.ndim > 0 and _cuda.fusable(x)
    return _hr.act_fits(x, None, activation)


def relu(input, inplace=False):
    """max(x, 0); with ``inplace`` the input takes the result and is returned (``relu_``)."""
    if inplace:
        return _apply_inplace(input, relu, "relu")
    if _fused_act_arg(input, "relu"):
        return _bias_act(input, None, "relu")
    return _ew.relu(input)


def sigmoid(input):
    if _fused_act_arg(input, "sigmoid"):
        return _bias_act(input, None, "sigmoid")
    return _ew.sigmoid(input)


def tanh(input):
    if _fused_act_arg(input, "tanh"):
        return _bias_act(input, None, "tanh")
    return _ew.tanh(input)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    if inplace:
        return _apply_inplace(input, lambda x: leaky_relu(x, negative_slope), "leaky_relu")
    if isinstance(negative_slope, (int, float)) and 0 < negative_slope <= 1 and \
            _raw(input).dtype.char in "fd":
        return _leaky_relu(input, float(negative_slope))
    return _ew.where_kernel(_raw(input) > 0, input, input * negative_slope)


# leaky_relu for a slope in (0, 1]: max(x, slope x), two passes (a product and a maximum)
# instead of a mask, a product and a select, with the same values as x if x > 0 else slope x
# (-0.0, infinities and NaN included; a slope of 0 would make inf * 0 a NaN). Its derivative
# is PyTorch's: 1 where x > 0, else the slope (at 0 too).
@_primitive
def _leaky_relu(x, slope):
    return _xp_of(x).maximum(x, x * slope)


def _leaky_relu_d(s, ans, x, slope):
    """s * leaky_relu'(x): s where x > 0, else s * slope."""
    return _ew.where_kernel(_raw(x) > 0, s, s * slope)


# the cotangent joined to x under create_graph, as PyTorch's backward kernel (ops/join.py)
_defvjp(_leaky_relu, _joined(_leaky_relu_d, 0), None)
_defjvp(_leaky_relu, _leaky_relu_d, None)


def elu(input, alpha=1.0, inplace=False):
    if inplace:
        return _apply_inplace(input, lambda x: elu(x, alpha), "elu")
    return _elu_family(input, alpha, 1.0, 1.0)


def _elu_family(input, alpha, scale, divisor):
    """scale * (x if x > 0 else alpha * expm1(x / divisor)): elu (scale and divisor 1), selu
    (PyTorch's alpha and scale) and celu (divisor alpha). On float32/float64 data one
    primitive, max(x, 0) + alpha expm1(min(x, 0) / divisor) forward and a branch-free select
    back, five array passes each way instead of six recorded ops with their temporaries; the
    composition otherwise, and for its rules beyond the first order (its kinks at 0 are
    PyTorch's)."""
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool)
                  for v in (alpha, scale, divisor))
    if numbers and getattr(_raw(input), "dtype", _np.dtype("O")).char in "fd":
        return _elu(input, alpha=float(alpha), scale=float(scale), divisor=float(divisor))
    return _elu_composed(input, alpha, scale, divisor)


def _elu_composed(x, alpha, scale, divisor):
    y = _ew.where(_raw(x) > 0, x, alpha * _expm1_branch(x, divisor))
    return y if scale == 1.0 else scale * y


def _elu_negative(x, divisor):
    """min(x, 0) / divisor, a new array (0-d ones too: not a NumPy scalar)."""
    xp = _xp_of(x)
    t = xp.minimum(x, 0, out=xp.empty_like(x))
    if divisor != 1.0:
        t /= divisor
    return t


@_primitive
def _elu(x, *, alpha, scale, divisor):
    xp = _xp_of(x)
    t = _elu_negative(x, divisor)
    xp.expm1(t, out=t)
    t *= alpha  # 0 where x > 0: the sum below is x there exactly
    y = xp.maximum(x, 0, out=xp.empty_like(x))
    y += t
    if scale != 1.0:
        y *= scale
    return y


def _elu_first_order(g, ans, x, *, alpha, scale, divisor):
    """g * (scale where x > 0, else alpha scale / divisor exp(x / divisor): at 0 too)."""
    xp = _xp_of(x)
    t = _elu_negative(x, divisor)
    xp.exp(t, out=t)
    t *= alpha * scale / divisor
    d = _ew.where(x > 0, scale, t)  # branch-free on the host (ops.elementwise._select)
    d *= g
    return (d,)


_define_rules(_elu, _elu_composed, _elu_first_order, 1)


def _expm1_branch(input, divisor=1.0):
    """expm1(input / divisor) where input <= 0, else 0: elu/celu's exp branch, with PyTorch's
    derivatives at x = 0. The first is the branch's whole slope (1 / divisor; not
    ``expm1(minimum(x, 0))``, whose tie gives half of it); the second is 0 (PyTorch's double
    backward masks x < 0). So the strictly negative part goes through expm1, and the input
    where it is 0 (0 in value, slope 1 there and 0 elsewhere, so no cancellation in the
    gradient) carries the first derivative at 0."""
    raw = _raw(input)
    negative = _ew.where(raw >= 0, 0.0, input)
    at_zero = _ew.where(raw == 0, input, 0.0)
    if divisor != 1.0:
        negative, at_zero = negative / divisor, at_zero / divisor
    return _expm1_slope_exp(negative) + at_zero


@_primitive
def _expm1_slope_exp(x):
    return _xp_of(x).expm1(x)


# expm1 whose slope is exp(x), as PyTorch's elu backward computes it: expm1's own rule,
# ans + 1, cancels to 0 for x below about -37 and loses relative precision well before
_defvjp(_expm1_slope_exp, lambda g, ans, x: g * _ew.exp(x))
_defjvp(_expm1_slope_exp, lambda t, ans, x: t * _ew.exp(x))


def silu(input, inplace=False):
    """x * sigmoid(x); with ``inplace`` the input takes the result and is returned."""
    if inplace:
        return _apply_inplace(input, silu, "silu")
    if _fused_act_arg(input, "silu"):
        return _bias_act(input, None, "silu")
    return input * _ew.sigmoid(input)


_GELU_C = float(_np.sqrt(2 / _np.pi))
_SQRT2 = float(_np.sqrt(2))
_INV_SQRT_2PI = float(1 / _np.sqrt(2 * _np.pi))


def gelu(input, approximate="none"):
    """x * Phi(x); ``approximate="tanh"`` gives the tanh formula."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    if getattr(input, "dtype", None) == _np.float16:  # in float32, as PyTorch's half kernels:
        # 1 + erf(x / sqrt 2) cancels in float16 (gelu(-3) 8% off, gelu(-4) 0)
        return _ew.astype(gelu(_ew.astype(input, _np.float32), approximate), _np.float16)
    activation = "gelu_tanh" if approximate == "tanh" else "gelu"
    if _fused_act_arg(input, activation):
        return _bias_act(input, None, activation)
    if approximate == "tanh":
        c = _GELU_C
        return 0.5 * input * (1 + _ew.tanh(c * (input + 0.044715 * input * input * input)))
    from ..scipy.special import erf

    return 0.5 * input * (1 + erf(input / _SQRT2))


_ACTIVATIONS = {
    "identity": lambda z: z,
    "relu": relu,
    "gelu": gelu,
    "gelu_tanh": lambda z: gelu(z, approximate="tanh"),
    "silu": silu,
    "tanh": tanh,
    "sigmoid": sigmoid,
}


def bias_act(input, bias=None, activation="relu"):
    """``activation(input + bias)``, the bias broadcast along the last dimension: a tensorgrad
    extension (PyTorch has no such function) for the layer pattern ``act(x @ W.T + b)``.

    ``activation`` is one of ``"relu"``, ``"gelu"`` (exact), ``"gelu_tanh"`` (PyTorch's
    ``approximate="tanh"``), ``"silu"``, ``"tanh"``, ``"sigmoid"`` or ``"identity"``. On a CuPy
    float32/float64 tensor it is one fused kernel forward and one backward (the pre-activation
    is recomputed, never stored); elsewhere it is the same composition as
    ``F.relu(input + bias)``, with the same values and derivatives of any order.

    >>> import tensorgrad as tg
    >>> F = tg.nn.functional
    >>> F.bias_act(tg.tensor([[-1.0, 1.0]]), tg.tensor([0.5, 0.5]), "relu").tolist()
    [[0.0, 1.5]]
    """
    act = _ACTIVATIONS.get(activation)
    if act is None:
        raise ValueError(f"bias_act: activation must be one of {sorted(_ACTIVATIONS)}, got "
                         f"{activation!r}")
    x, b = _raw(input), _raw(bias)
    if type(x) is _CUPY_ARRAY:
        if _cuda.fusable(x) and x.ndim > 0 and (
                b is None or (type(b) is _CUPY_ARRAY and b.dtype == x.dtype
                              and b.shape == (x.shape[-1],))):
            return _bias_act(input, bias, activation)
    elif _hr.act_fits(x, b, activation):
        return _bias_act(input, bias, activation)
    return act(input if bias is None else input + bias)


# The fused _primitive behind bias_act and the activations on CuPy: forward act(x + b) in one
# kernel, backward g * act'(x + b) in one kernel that recomputes x + b. Its rules on Tensors
# (create_graph, higher order) and its JVPs are the composed formulas below, written with
# tensorgrad's ops, so derivatives of any order stay right.
@_primitive
def _bias_act(x, b, activation):
    _DZ_CACHE.clear()  # a new forward: drop any cotangent left from the last backward
    if type(x) is _CUPY_ARRAY:
        return _cuda.bias_act(x, b, activation)
    return _hr.act_forward(x, b, activation)


def _act_grad(z, activation):
    """act'(z), composed of differentiable tensorgrad ops."""
    if activation == "relu":
        return _raw(z) > 0
    if activation == "gelu":
        from ..scipy.special import erf

        return 0.5 * (1 + erf(z / _SQRT2)) + z * _ew.exp(-0.5 * z * z) * _INV_SQRT_2PI
    if activation == "gelu_tanh":
        t = _ew.tanh(_GELU_C * (z + 0.044715 * z * z * z))
        return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * (_GELU_C * (1 + 3 * 0.044715 * z * z))
    if activation == "silu":
        s = _ew.sigmoid(z)
        return s * (1 + z * (1 - s))
    if activation == "tanh":
        t = _ew.tanh(z)
        return 1 - t * t
    if activation == "sigmoid":
        s = _ew.sigmoid(z)
        return s * (1 - s)
    return 1.0


def _preact(x, b):
    return x if b is None else x + b


# The backward kernel gives dz = g * act'(x + b), the cotangent of x and (summed over the
# leading axes, which the engine does) of b. The engine asks for x's cotangent first and then
# for b's with the same g, so x's rule leaves dz here for b's rule: one kernel for both.
# Holds at most one array, dropped by b's rule or by the next forward.
_DZ_CACHE = []


def _fused_act_backward(g, ans, x, b, activation):
    """g * act'(x + b) by the CUDA kernel or the host blocks, for raw arrays of one kind and
    shape; None otherwise (Tensors under create_graph take the composed rules)."""
    if type(x) is _CUPY_ARRAY:
        if type(g) is _CUPY_ARRAY and g.shape == x.shape:
            return _cuda.bias_act_backward(g, x, b, activation)
    elif type(x) is _np.ndarray and type(g) is _np.ndarray and g.shape == x.shape:
        return _hr.act_backward(g, x, b, activation, ans)
    return None


def _bias_act_vjp_x(g, ans, x, b, activation):
    dz = _fused_act_backward(g, ans, x, b, activation)
    if dz is not None:
        _DZ_CACHE.clear()
        if b is not None:
            _DZ_CACHE.extend((g, x, dz))
        return dz
    return _relu_joined(g * _act_grad(_preact(x, b), activation), x, activation)


def _relu_joined(dz, arg, activation):
    """relu's cotangent joined to its argument under create_graph (ops/join.py)."""
    if activation == "relu" and isinstance(arg, _Tensor):
        return _join(dz, arg)
    return dz


def _bias_act_vjp_b(g, ans, x, b, activation):
    if _DZ_CACHE and _DZ_CACHE[0] is g and _DZ_CACHE[1] is x:
        dz = _DZ_CACHE[2]
        _DZ_CACHE.clear()
        return dz
    dz = _fused_act_backward(g, ans, x, b, activation)
    if dz is not None:
        return dz
    return _relu_joined(g * _act_grad(_preact(x, b), activation), b, activation)


def _bias_act_jvp(t, ans, x, b, activation):
    return t * _act_grad(_preact(x, b), activation)


_defvjp(_bias_act, _bias_act_vjp_x, _bias_act_vjp_b, None)
_defjvp(_bias_act, _bias_act_jvp, _bias_act_jvp, None)


# ---- normalisation ----------------------------------------------------------------------------
def _norm_shape(normalized_shape):
    if isinstance(normalized_shape, (int, _np.integer)):
        return (int(normalized_shape),)
    try:
        shape = tuple(int(s) for s in normalized_shape)
    except TypeError:
        raise TypeError(f"layer_norm: normalized_shape must be an int or a sequence of ints, got "
                        f"{normalized_shape!r}") from None
    return shape


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalisation over the trailing ``normalized_shape`` dimensions, as PyTorch's:
    ``(x - mean) / sqrt(var + eps) * weight + bias`` with the biased variance.

    One _primitive with its own rules for input, weight and bias and a JVP (derivatives of every
    order, both modes). On CuPy float32/float64 arrays the forward is one fused kernel (mean
    and rstd per row in one read, kept for the backward) and the backward two (dx per row;
    dweight and dbias as one column reduction); see ``kernels/layer_norm.cu``.

    >>> import tensorgrad as tg
    >>> y = tg.nn.functional.layer_norm(tg.tensor([[1.0, 3.0]]), (2,))
    >>> [round(v, 4) for v in y.tolist()[0]]
    [-1.0, 1.0]
    """
    shape = _norm_shape(normalized_shape)
    k = len(shape)
    in_shape = tuple(input.shape)
    if k == 0:
        raise ValueError("layer_norm: normalized_shape must have at least one dimension, got ()")
    if len(in_shape) < k or in_shape[len(in_shape) - k:] != shape:
        raise ValueError(f"layer_norm: normalized_shape={shape} must match the trailing "
                         f"dimensions of the input, but the input has shape {in_shape}")
    for what, a in (("weight", weight), ("bias", bias)):
        if a is not None and tuple(a.shape) != shape:
            raise ValueError(f"layer_norm: {what} must have normalized_shape {shape}, got shape "
                             f"{tuple(a.shape)} (input shape {in_shape})")
    return _layer_norm(input, weight, bias, k, float(eps))


def _ln_fusable(x, w, b, cols):
    if type(x) is not _CUPY_ARRAY or not _cuda.fusable(x) or cols >= 2 ** 31 or \
            x.size // cols >= 2 ** 31:
        return False
    for a in (w, b):
        if a is not None and (type(a) is not _CUPY_ARRAY or a.dtype != x.dtype):
            return False
    return True


def _ln_cols(x, ndim):
    cols = 1
    for s in x.shape[x.ndim - ndim:]:
        cols *= s
    return cols


# Saved between the rules of one backward step: the weight's rule computes dweight and dbias in
# one kernel and leaves dbias here, keyed by (g, x, ndim), for the bias's rule. Dropped by the
# bias rule, the next weight rule or the next fused forward; holds at most one entry.
_LN_DB_CACHE = []


@_primitive
def _layer_norm(x, weight, bias, ndim, eps):
    """y = (x - mean) * rstd * weight + bias over the last ``ndim`` axes."""
    cols = _ln_cols(x, ndim)
    if _ln_fusable(x, weight, bias, cols):
        _LN_DB_CACHE.clear()
        return _cuda.layer_norm(x, weight, bias, cols, eps)
    if _hr.ln_fits(x, weight, bias, cols):
        return _hr.ln_forward(x, weight, bias, cols, eps)
    return _normalize_raw(x, tuple(range(x.ndim - ndim, x.ndim)), eps, weight, bias)


_layer_norm.prim.amp = _FP32  # autocast: layer_norm and group_norm in float32


def _normalize_raw(x, axes, eps, weight, bias):
    """(x - mean) / sqrt(var + eps) * weight + bias over ``axes`` of a raw array (biased
    variance): the forward pass of layer_norm and batch_norm."""
    xc = x - x.mean(axis=axes, keepdims=True)
    var = (xc * xc).mean(axis=axes, keepdims=True)
    y = xc * (1 / _xp_of(x).sqrt(var + eps))
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def _ln_stats(x, ndim, eps):
    """(xhat, rstd) of the normalised axes, with tensorgrad's ops: differentiable."""
    axes = tuple(range(x.ndim - ndim, x.ndim))
    xc = x - _red.mean(x, axes, True)
    rstd = 1 / _ew.sqrt(_red.mean(xc * xc, axes, True) + eps)
    return xc * rstd, rstd, axes


def _ln_lead(x, ndim):
    return tuple(range(x.ndim - ndim))


def _ln_host_saved(g, ans, x, weight, ndim):
    """(cols, (mean, rstd)) of the host forward behind ``ans`` on the raw first-order path
    (``_host_rows``); else None."""
    if type(g) is not _np.ndarray or g.shape != x.shape or g.dtype != x.dtype or \
            weight is not None and type(weight) is not _np.ndarray:
        return None
    cols = _ln_cols(x, ndim)
    stats = _hr.ln_saved(ans, x, cols)
    return None if stats is None else (cols, stats)


def _ln_vjp_x(g, ans, x, weight, bias, ndim, eps):
    saved = _ln_fused_saved(g, ans, x, weight, ndim)
    if saved is not None:
        return _cuda.layer_norm_backward_x(g, x, weight, saved, _ln_cols(x, ndim))
    host = _ln_host_saved(g, ans, x, weight, ndim)
    if host is not None:
        return _hr.ln_backward_x(g, x, weight, host[1], host[0])
    xhat, rstd, axes = _ln_stats(x, ndim, eps)
    gw = g if weight is None else g * weight
    return rstd * ((gw - _red.mean(gw, axes, True)) - xhat * _red.mean(gw * xhat, axes, True))


def _ln_fused_wb(g, ans, x, weight, ndim):
    saved = _ln_fused_saved(g, ans, x, weight, ndim)
    if saved is None:
        return None
    return _cuda.layer_norm_backward_wb(g, x, saved, _ln_cols(x, ndim))


def _ln_vjp_w(g, ans, x, weight, bias, ndim, eps):
    from ..ops.shape import reshape

    fused = _ln_fused_wb(g, ans, x, weight, ndim)
    if fused is not None:
        dw, db = fused
        _LN_DB_CACHE.clear()
        if bias is not None:
            _LN_DB_CACHE.extend((g, x, ndim, db))
        return dw.reshape(weight.shape)
    host = _ln_host_saved(g, ans, x, weight, ndim)
    if host is not None:
        return _hr.ln_backward_weight(g, x, host[1], host[0]).reshape(weight.shape)
    xhat = _ln_stats(x, ndim, eps)[0]
    lead = _ln_lead(x, ndim)
    dw = g * xhat
    return reshape(_red.sum(dw, lead, False), weight.shape) if lead else dw


def _ln_vjp_b(g, ans, x, weight, bias, ndim, eps):
    from ..ops.shape import reshape

    # db is the sum of g over the leading axes: the same g, x and ndim give the same db
    if _LN_DB_CACHE and type(g) is _CUPY_ARRAY and _LN_DB_CACHE[0] is g and \
            _LN_DB_CACHE[1] is x and _LN_DB_CACHE[2] == ndim:
        db = _LN_DB_CACHE[3]
        _LN_DB_CACHE.clear()
        return db.reshape(bias.shape)
    fused = _ln_fused_wb(g, ans, x, weight, ndim)
    if fused is not None:
        return fused[1].reshape(bias.shape)
    lead = _ln_lead(x, ndim)
    if lead and type(g) is _np.ndarray and g.dtype == bias.dtype and g.dtype.char in "fd":
        return _hr.row_sum(g, _ln_cols(x, ndim)).reshape(bias.shape)
    return reshape(_red.sum(g, lead, False), bias.shape) if lead else g


def _ln_fused_saved(g, ans, x, weight, ndim):
    """The fused forward's buffer (y, then mean and rstd per row), the base of the answer, when
    this is the raw first-order path on CuPy and the answer came from that kernel; else None
    (Tensors for create_graph, NumPy, or an answer overwritten in place)."""
    if type(g) is not _CUPY_ARRAY or type(ans) is not _CUPY_ARRAY or \
            type(x) is not _CUPY_ARRAY or g.shape != x.shape or ans.shape != x.shape:
        return None
    if weight is not None and type(weight) is not _CUPY_ARRAY:
        return None
    base = ans.base
    cols = _ln_cols(x, ndim)
    if type(base) is _CUPY_ARRAY and base.dtype == x.dtype and _cuda.fusable(x) and \
            base.shape == (_cuda.layer_norm_saved_size(x, cols),):
        return base
    return None


def _ln_jvp_x(t, ans, x, weight, bias, ndim, eps):
    xhat, rstd, axes = _ln_stats(x, ndim, eps)
    dxhat = rstd * ((t - _red.mean(t, axes, True)) - xhat * _red.mean(xhat * t, axes, True))
    return dxhat if weight is None else dxhat * weight


def _ln_jvp_w(t, ans, x, weight, bias, ndim, eps):
    return _ln_stats(x, ndim, eps)[0] * t


def _ln_jvp_b(t, ans, x, weight, bias, ndim, eps):
    return t


_defvjp(_layer_norm, _ln_vjp_x, _ln_vjp_w, _ln_vjp_b, None, None)
_defjvp(_layer_norm, _ln_jvp_x, _ln_jvp_w, _ln_jvp_b, None, None)


def _channel_shape(input, c):
    return (1, c) + (1,) * (input.ndim - 2)


def _check_channels(input, op):
    if input.ndim < 2:
        raise ValueError(f"{op}: input must be (N, C, *), got shape {tuple(input.shape)}")
    return input.shape[1]


def _check_per_channel(op, c, input, **arrays):
    for what, a in arrays.items():
        if a is not None and tuple(a.shape) != (c,):
            raise ValueError(f"{op}: {what} must have shape ({c},), one value per channel, got "
                             f"{tuple(a.shape)} (input shape {tuple(input.shape)})")


def _update_running(stat, new, momentum):
    """stat <- (1 - momentum) stat + momentum new, in place (a buffer Tensor or an array)."""
    arr = _raw(stat)
    arr[...] = (arr * (1 - momentum) + new.astype(arr.dtype, copy=False) * momentum)
    if isinstance(stat, _Tensor):
        stat._vc[0] += 1


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalisation of ``input`` (N, C, *) per channel, as PyTorch's ``F.batch_norm``.

    With ``training`` the batch's statistics normalise (biased variance) and, when given,
    ``running_mean`` and ``running_var`` are updated in place:
    ``running = (1 - momentum) * running + momentum * batch``, with the unbiased variance for
    ``running_var``. Without it the running statistics normalise. ``weight`` and ``bias``
    (shape (C,)) scale and shift.

    The training path is one _primitive (rules for input, weight and bias, derivatives of every
    order in both modes); the evaluation path is an affine map per channel.

    >>> import tensorgrad as tg
    >>> rm, rv = tg.zeros(2), tg.ones(2)
    >>> y = tg.nn.functional.batch_norm(tg.tensor([[1.0, 2.0], [3.0, 6.0]]), rm, rv,
    ...                                 training=True)
    >>> [round(v, 3) for v in y.tolist()[0]], [round(v, 4) for v in rm.tolist() + rv.tolist()]
    ([-1.0, -1.0], [0.2, 0.4, 1.1, 1.7])
    """
    if eps <= 0 if training else eps < 0:  # as PyTorch: a zero variance would divide by 0
        raise ValueError(f"batch_norm: eps must be {'positive' if training else 'non-negative'}"
                         f"{' when training' if training else ''}, got {eps} (input shape "
                         f"{tuple(input.shape)})")
    if _AUTOCAST[0]:
        input, weight, bias = _cast_inputs(_FP32, input, weight, bias)
    if input.ndim == 1 and input.shape[0] == 0:  # PyTorch gives an empty (0,) back
        y = input if weight is None else input * weight
        return y if bias is None else y + bias
    c = _check_channels(input, "batch_norm")
    _check_per_channel("batch_norm", c, input, running_mean=running_mean,
                       running_var=running_var, weight=weight, bias=bias)
    shape = _channel_shape(input, c)
    w = None if weight is None else _reshape(weight, shape)
    b = None if bias is None else _reshape(bias, shape)
    if training:
        count = _raw(input).size // c if c else 0
        if count == 0:  # an empty batch: PyTorch gives the empty output, statistics untouched
            y = input if w is None else input * w
            return y if b is None else y + b
        if count <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when "
                             f"training, got input shape {tuple(input.shape)}")
        axes = (0,) + tuple(range(2, input.ndim))
        if (running_mean is None) != (running_var is None):
            raise ValueError("batch_norm: give both running_mean and running_var, or neither")
        out = _batch_norm(input, w, b, axes, float(eps))
        if running_mean is not None:
            x = _raw(input)
            saved = _hr.bn_saved(_raw(out), x)  # the host forward's statistics
            if saved is None:
                mean, var = x.mean(axis=axes), x.var(axis=axes)
            else:
                mean, var = saved[0], saved[2]
            _update_running(running_mean, mean, momentum)
            _update_running(running_var, var * (count / (count - 1)), momentum)
        return out
    if running_mean is None or running_var is None:
        raise ValueError("batch_norm: running_mean and running_var are needed when not "
                         "training")
    rm = _raw(running_mean)
    rv = _raw(running_var)
    xp = _xp_of(rm)
    scale = (1 / xp.sqrt(rv + eps)).astype(_raw(input).dtype, copy=False)
    shift = -rm.astype(scale.dtype, copy=False) * scale
    if w is not None:
        y = input * (w * scale.reshape(shape))
        shift = w * shift.reshape(shape)
    else:
        y = input * scale.reshape(shape)
        shift = shift.reshape(shape)
    y = y + shift
    return y if b is None else y + b


@_primitive
def _batch_norm(x, weight, bias, axes, eps):
    """y = (x - mean) * rstd * weight + bias, the statistics over ``axes``; weight and bias
    already shaped to broadcast (1, C, 1, ...)."""
    if _hr.bn_fits(x, weight, bias, axes):
        return _hr.bn_forward(x, weight, bias, eps)
    return _normalize_raw(x, axes, eps, weight, bias)


def _bn_host_saved(g, ans, x, weight):
    """The host forward's (mean, rstd, var) on the raw first-order path; else None."""
    if type(g) is not _np.ndarray or g.shape != x.shape or g.dtype != x.dtype or \
            weight is not None and type(weight) is not _np.ndarray:
        return None
    return _hr.bn_saved(ans, x)


def _bn_stats(x, axes, eps):
    """(xhat, rstd), with tensorgrad's ops: differentiable."""
    xc = x - _red.mean(x, axes, True)
    rstd = 1 / _ew.sqrt(_red.mean(xc * xc, axes, True) + eps)
    return xc * rstd, rstd


def _bn_vjp_x(g, ans, x, weight, bias, axes, eps):
    saved = _bn_host_saved(g, ans, x, weight)
    if saved is not None:
        return _hr.bn_backward_x(g, x, weight, saved)
    xhat, rstd = _bn_stats(x, axes, eps)
    gw = g if weight is None else g * weight
    return rstd * ((gw - _red.mean(gw, axes, True)) - xhat * _red.mean(gw * xhat, axes, True))


def _bn_vjp_w(g, ans, x, weight, bias, axes, eps):
    saved = _bn_host_saved(g, ans, x, weight)
    if saved is not None:
        return _hr.bn_backward_weight(g, x, saved).reshape(weight.shape)
    return _red.sum(g * _bn_stats(x, axes, eps)[0], axes, True)


def _bn_vjp_b(g, ans, x, weight, bias, axes, eps):
    if type(g) is _np.ndarray and g.dtype == bias.dtype and g.dtype.char in "fd" and \
            tuple(axes) == (0,) + tuple(range(2, g.ndim)):
        return _hr.bn_backward_bias(g).reshape(bias.shape)
    return _red.sum(g, axes, True)


def _bn_jvp_x(t, ans, x, weight, bias, axes, eps):
    xhat, rstd = _bn_stats(x, axes, eps)
    dx = rstd * ((t - _red.mean(t, axes, True)) - xhat * _red.mean(xhat * t, axes, True))
    return dx if weight is None else dx * weight


def _bn_jvp_w(t, ans, x, weight, bias, axes, eps):
    return _bn_stats(x, axes, eps)[0] * t


def _bn_jvp_b(t, ans, x, weight, bias, axes, eps):
    return t  # (1, C, 1, ...): the engine broadcasts it to the answer's shape


_defvjp(_batch_norm, _bn_vjp_x, _bn_vjp_w, _bn_vjp_b, None, None)
_defjvp(_batch_norm, _bn_jvp_x, _bn_jvp_w, _bn_jvp_b, None, None)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Group normalisation of ``input`` (N, C, *), as PyTorch's: the C channels split into
    ``num_groups`` groups, each sample's group normalised over its channels and positions
    (biased variance), then ``weight`` and ``bias`` (shape (C,)) per channel.

    On NumPy float32/float64 data one _primitive normalises, scales and shifts a block of
    (sample, group) rows at a time and its backward makes every cotangent in one pass
    (``_host_rows.gn_forward``/``gn_backward``); elsewhere (CuPy: layer_norm's fused kernels
    on the (N, groups, rest) view), and for the derivatives of higher order, it is the
    composition of layer_norm and the per-channel affine map.

    >>> import tensorgrad as tg
    >>> y = tg.nn.functional.group_norm(tg.tensor([[1.0, 3.0, 5.0, 5.0]]), 2)
    >>> [round(v, 4) for v in y.tolist()[0]]
    [-1.0, 1.0, 0.0, 0.0]
    """
    if _AUTOCAST[0]:
        input, weight, bias = _cast_inputs(_FP32, input, weight, bias)
    c = _check_channels(input, "group_norm")
    if not isinstance(num_groups, (int, _np.integer)) or num_groups <= 0 or c % num_groups:
        raise ValueError(f"group_norm: num_groups={num_groups!r} must be a positive divisor of "
                         f"the {c} channels (input shape {tuple(input.shape)})")
    _check_per_channel("group_norm", c, input, weight=weight, bias=bias)
    groups, eps = int(num_groups), float(eps)
    if _hr.gn_fits(*(getattr(a, "data", a) for a in (input, weight, bias)), groups):
        return _group_norm(input, weight, bias, groups=groups, eps=eps)
    return _gn_composed(input, weight, bias, groups, eps)


def _gn_composed(x, weight, bias, groups, eps):
    """group_norm as layer_norm over the (N, groups, rest) view and a per-channel weight and
    bias: differentiable to any order, on any device."""
    n = x.shape[0]
    size = _np.prod(x.shape[1:], dtype=_np.int64) // groups  # -1 fails if n is 0
    y = _layer_norm(_reshape(x, (n, groups, int(size))), None, None, 1, eps)
    y = _reshape(y, tuple(x.shape))
    shape = _channel_shape(x, x.shape[1])
    if weight is not None:
        y = y * _reshape(weight, shape)
    if bias is not None:
        y = y + _reshape(bias, shape)
    return y


@_primitive
def _group_norm(x, weight, bias, *, groups, eps):
    """group_norm on the host (``_host_rows.gn_forward``); any other arrays: the composition."""
    if _hr.gn_fits(x, weight, bias, groups):
        return _hr.gn_forward(x, weight, bias, groups, eps)
    return _gn_composed(x, weight, bias, groups, eps)


def _gn_first_order(g, ans, x, weight, bias, *, groups, eps):
    if type(g) is _np.ndarray and g.dtype == x.dtype and g.shape == x.shape and \
            _hr.gn_fits(x, weight, bias, groups):
        stats = _hr.gn_saved(ans, x, groups)
        if stats is not None:
            return _hr.gn_backward(g, x, weight, bias, stats, groups)
    return None  # the composition's rules


_define_rules(_group_norm, _gn_composed, _gn_first_order, 3)


# ---- embeddings, one-hot, padding ---------------------------------------------------------------
def _rows_at(weight, indices):
    """weight[indices]; from a NumPy table larger than the cache by ``take`` along axis 0,
    which fetches rows out of memory faster than fancy indexing (float32, rows looked up from
    a table, in us, fancy / take: 5,120 of 200,000 x 64: 184 / 129; 4,096 of 50,000 x 128:
    243 / 203), where from a table in the cache it is slower (20,000 of 1,000 x 64: 246 /
    272)."""
    if type(weight) is _np.ndarray and weight.nbytes >= _TAKE_FROM:
        return _np.take(weight, indices, axis=0)
    return weight[indices]


_TAKE_FROM = 1 << 21  # bytes of a table from which _rows_at takes rows with np.take


@_primitive
def _embedding(weight, indices, padding_idx):
    return _rows_at(weight, indices)


def _pad_mask(indices, padding_idx):
    return indices == padding_idx


def _embedding_vjp(g, ans, weight, indices, padding_idx):
    from ..ops.index import untake, zero_at

    if padding_idx is not None:  # as PyTorch: the padding row gets no gradient
        g = zero_at(g, _pad_mask(indices, padding_idx))
    return untake(g, indices, weight.shape)


def _embedding_jvp(t, ans, weight, indices, padding_idx):
    from ..ops.index import getitem, zero_at

    out = getitem(t, indices)
    return out if padding_idx is None else zero_at(out, _pad_mask(indices, padding_idx))


_defvjp(_embedding, _embedding_vjp, None, None)
_defjvp(_embedding, _embedding_jvp, None, None)


# embedding(..., sparse=True): the same lookup, whose weight's cotangent is a RowGrad (the
# looked-up rows and their cotangent rows), which a leaf receives as a sparse COO .grad
@_primitive
def _embedding_rows(weight, indices, padding_idx):
    return _rows_at(weight, indices)


def _embedding_rows_vjp(g, ans, weight, indices, padding_idx):
    from ..autograd.row_grad import RowGrad

    if isinstance(g, _Tensor):  # create_graph: the dense rule, differentiable again
        return _embedding_vjp(g, ans, weight, indices, padding_idx)
    rows = indices.reshape(-1)
    values = g.reshape((rows.shape[0],) + tuple(weight.shape[1:]))
    if padding_idx is not None:  # as PyTorch: the padding row is not in the gradient
        if _xp_of(rows) is _np:
            keep = rows != padding_idx
            rows, values = rows[keep], values[keep]
        else:  # a mask would make the host wait for the GPU: its rows hold zeros instead
            values = _xp_of(values).where((rows == padding_idx)[:, None], 0, values)
    return RowGrad(rows, values, weight.shape)


_defvjp(_embedding_rows, _embedding_rows_vjp, None, None)
_defjvp(_embedding_rows, _embedding_jvp, None, None)


def _sparse_grad_weight(weight):
    """Does ``embedding(..., sparse=True)`` give ``weight`` a sparse gradient: a real floating
    leaf Tensor that requires grad (a weight computed from others, or batched by vmap, gets
    the dense gradient)."""
    return (isinstance(weight, _Tensor) and weight.requires_grad and weight.is_leaf
            and not weight._level and weight.dtype.kind == "f")


def _renorm_rows_(weight, indices, max_norm, norm_type):
    # PyTorch's embedding_renorm_: rows looked up whose norm exceeds max_norm are scaled (in
    # place, unrecorded) to max_norm / (norm + 1e-7)
    w = _raw(weight)
    xp = _xp_of(w)
    rows = xp.unique(indices.reshape(-1))
    sub = w[rows]
    if norm_type == float("inf"):
        norms = xp.abs(sub).max(axis=1)
    else:
        norms = (xp.abs(sub) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
    scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0).astype(w.dtype)
    w[rows] = sub * scale[:, None]
    if isinstance(weight, _Tensor):
        weight._vc[0] += 1


def _padding_index(op, padding_idx, num_embeddings):
    """``padding_idx`` checked against a table of ``num_embeddings`` rows, negative counted
    from the end (None stays None)."""
    if padding_idx is None:
        return None
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"{op}: padding_idx={padding_idx} must be within "
                         f"num_embeddings={num_embeddings}")
    return int(padding_idx) % num_embeddings


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """Rows of ``weight`` (num_embeddings, embedding_dim) at the integer indices ``input``
    (any shape); the result has shape ``input.shape + (embedding_dim,)``, as PyTorch's.

    ``padding_idx``: that row receives no gradient. ``max_norm``: the rows looked up are first
    renormalised in place to a ``norm_type``-norm of at most ``max_norm``, as PyTorch does.
    ``sparse``: ``weight.grad`` is a sparse COO tensor holding only the rows looked up (one row
    per index, uncoalesced, the padding index left out), as PyTorch's; ``optim.SparseAdam``,
    ``SGD`` and ``Adagrad`` then update those rows only. A weight that is not a leaf, a
    complex weight, ``create_graph`` and the function API (``tg.grad``,
    ``tg.autograd.grad``) get the dense gradient.

    >>> import tensorgrad as tg
    >>> w = tg.tensor([[0.0, 1.0], [2.0, 3.0]], requires_grad=True)
    >>> tg.nn.functional.embedding(tg.tensor([[1, 0, 1]]), w, padding_idx=0).sum().backward()
    >>> w.grad.tolist()
    [[0.0, 0.0], [2.0, 2.0]]
    """
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got "
                         f"shape {tuple(weight.shape)}")
    # indices batched by vmap stay a Tensor, for the batching rule; checked on all examples
    batched = isinstance(input, _Tensor) and bool(input._level) and max_norm is None
    if batched:
        from ..autograd.batching import physical_raw

        idx = physical_raw(input)
    else:
        idx = _raw(input)
    if not hasattr(idx, "dtype"):
        idx = _xp_of(_raw(weight)).asarray(idx)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: input must hold integer indices, got dtype {idx.dtype} "
                        f"(shape {tuple(idx.shape)})")
    num = weight.shape[0]
    padding_idx = _padding_index("embedding", padding_idx, num)
    if idx.size and _xp_of(idx) is _np:  # no host sync on a GPU, as PyTorch
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= num:
            raise IndexError(f"embedding: index {lo if lo < 0 else hi} is out of range for "
                             f"weight of shape {tuple(weight.shape)} (input shape "
                             f"{tuple(idx.shape)})")
    if max_norm is not None:
        _renorm_rows_(weight, idx, float(max_norm), float(norm_type))
    if sparse and not batched and _sparse_grad_weight(weight):
        out = _embedding_rows(weight, idx, padding_idx)
    else:
        out = _embedding(weight, input if batched else idx, padding_idx)
    if scale_grad_by_freq:
        if batched:
            raise NotImplementedError("embedding: scale_grad_by_freq=True under vmap is not "
                                      "implemented")
        out = _freq_scaled(out, idx, num)
    return out


def _freq_scaled(out, idx, num):
    """``out`` (rows looked up at ``idx``) with PyTorch's ``scale_grad_by_freq``: the gradient
    of each row divided by the number of times ``idx`` holds it. (out - out.detach()) is
    exactly 0, so the value is untouched."""
    xp = _xp_of(idx)
    count = xp.zeros(num, dtype=_np.int64)
    xp.add.at(count, idx.reshape(-1), 1)  # bincount would synchronise with a GPU
    scale = (1.0 / xp.maximum(count, 1))[idx].astype(_raw(out).dtype)[..., None]
    return out + (out - out.detach()) * (scale - 1)


def one_hot(tensor, num_classes=-1):
    """int64 one-hot rows of the integer class indices ``tensor``: shape
    ``tensor.shape + (num_classes,)``; ``num_classes=-1`` takes the largest index plus one.

    >>> import tensorgrad as tg
    >>> tg.nn.functional.one_hot(tg.tensor([0, 2]), 3).tolist()
    [[1, 0, 0], [0, 0, 1]]
    """
    t = _raw(tensor)
    if not hasattr(t, "dtype") or t.dtype.kind not in "iu":
        raise TypeError(f"one_hot: tensor must hold integer class indices, got "
                        f"{getattr(t, 'dtype', type(t).__name__)}")
    xp = _xp_of(t)
    if num_classes == -1:
        if t.size == 0:
            raise ValueError("one_hot: cannot infer num_classes from an empty tensor")
        num_classes = int(t.max()) + 1
    if num_classes < 0:
        raise ValueError(f"one_hot: num_classes must be -1 or non-negative, got {num_classes}")
    if t.size and xp is _np and (int(t.min()) < 0 or int(t.max()) >= num_classes):
        raise ValueError(f"one_hot: class values must lie in [0, {num_classes}), got values in "
                         f"[{int(t.min())}, {int(t.max())}]")
    out = (t[..., None] == xp.arange(num_classes)).astype(_np.int64)
    return _new_tensor_like(out, tensor)


def _new_tensor_like(out, like):
    if isinstance(like, _Tensor):
        from ..tensor import _new_tensor

        return _new_tensor(out, None, False)
    return out


_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def _slice_axis(x, ax, start, stop, step=None):
    from ..ops.index import getitem

    return getitem(x, (slice(None),) * ax + (slice(start, stop, step),))


def _pad_axis(x, ax, before, after, mode):
    from ..ops.shape import broadcast_to, concatenate_

    n = x.shape[ax]
    parts = []
    if before:
        if mode == "reflect":
            parts.append(_slice_axis(x, ax, before, 0, -1))
        elif mode == "replicate":
            edge = _slice_axis(x, ax, 0, 1)
            parts.append(broadcast_to(edge, edge.shape[:ax] + (before,) + edge.shape[ax + 1:]))
        else:  # circular
            parts.append(_slice_axis(x, ax, n - before, n))
    parts.append(x)
    if after:
        if mode == "reflect":
            stop = n - 2 - after
            parts.append(_slice_axis(x, ax, n - 2, stop if stop >= 0 else None, -1))
        elif mode == "replicate":
            edge = _slice_axis(x, ax, n - 1, n)
            parts.append(broadcast_to(edge, edge.shape[:ax] + (after,) + edge.shape[ax + 1:]))
        else:
            parts.append(_slice_axis(x, ax, 0, after))
    return parts[0] if len(parts) == 1 else concatenate_(ax, *parts)


def pad(input, pad, mode="constant", value=None):
    """PyTorch's ``F.pad``: ``pad`` lists (before, after) widths from the last dimension
    backwards, ``(left, right, top, bottom, ...)``. ``mode`` is ``"constant"`` (``value``,
    default 0; negative widths crop), ``"reflect"`` (mirror without the edge; widths below the
    size), ``"replicate"`` (repeat the edge) or ``"circular"`` (wrap around; widths up to the
    size); the last three pad the last 1 to 3 dimensions of a (batched) input with one or two
    leading dimensions, as PyTorch. Slices and concatenations, differentiable in any order.

    >>> import tensorgrad as tg
    >>> F = tg.nn.functional
    >>> F.pad(tg.tensor([[1.0, 2.0, 3.0]]), (2, 1), mode="reflect").tolist()
    [[3.0, 2.0, 1.0, 2.0, 3.0, 2.0]]
    """
    from ..ops.index import untake

    try:
        widths = [int(p) for p in pad]
    except TypeError:
        raise TypeError(f"pad: pad must be a sequence of ints, got {pad!r}") from None
    if len(widths) % 2:
        raise ValueError(f"pad: pad must have an even length (before, after pairs), got "
                         f"{tuple(widths)}")
    k = len(widths) // 2
    ndim = input.ndim
    shape = tuple(input.shape)
    if k > ndim:
        raise ValueError(f"pad: pad {tuple(widths)} covers {k} dimensions but the input has "
                         f"shape {shape}")
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode must be one of {_PAD_MODES}, got {mode!r}")
    # (axis, before, after), the last axis first as PyTorch lists them
    axes = [(ndim - 1 - i, widths[2 * i], widths[2 * i + 1]) for i in range(k)]
    if mode == "constant":
        x = input
        crop = [slice(None)] * ndim
        for ax, b, a in axes:
            start, stop = max(-b, 0), shape[ax] - max(-a, 0)
            if stop < start:
                raise ValueError(f"pad: widths {tuple(widths)} crop dimension {ax} of input "
                                 f"shape {shape} below zero")
            crop[ax] = slice(start, stop)
        if any(b < 0 or a < 0 for _, b, a in axes):
            from ..ops.index import getitem

            x = getitem(x, tuple(crop))
        inner = tuple(x.shape)
        out_shape = list(inner)
        place = [slice(None)] * ndim
        for ax, b, a in axes:
            out_shape[ax] = inner[ax] + max(b, 0) + max(a, 0)
            place[ax] = slice(max(b, 0), max(b, 0) + inner[ax])
        out_shape, place = tuple(out_shape), tuple(place)
        if out_shape == inner:
            return x
        out = untake(x, place, out_shape)
        fill = 0.0 if value is None else value
        if fill != 0:
            raw = _raw(x)
            outside = _xp_of(raw).full(out_shape, fill, dtype=raw.dtype)
            outside[place] = 0
            out = out + outside
        return out
    if value is not None and value != 0:
        raise ValueError(f"pad: mode {mode!r} takes no value, got value={value}")
    if not 1 <= k <= 3 or ndim not in (k + 1, k + 2):
        raise ValueError(f"pad: mode {mode!r} pads the last 1 to 3 dimensions of an input with "
                         f"one or two more; pad {tuple(widths)} ({k} dimensions) does not fit "
                         f"input shape {shape}")
    x = input
    crop = [slice(None)] * ndim
    for ax, b, a in axes:
        n = shape[ax]
        if b < 0 or a < 0:  # PyTorch crops
            if n + b + a < 0 or n + min(b, 0) + min(a, 0) < 0:
                raise ValueError(f"pad: widths {tuple(widths)} crop dimension {ax} of input "
                                 f"shape {shape} below zero")
            if mode == "circular":  # first, and the rest wraps around what is left
                x = _slice_axis(x, ax, max(-b, 0), n - max(-a, 0))
                n = x.shape[ax]
            else:  # last: reflect and replicate pad from the whole input's edges
                crop[ax] = slice(max(-b, 0), max(b, 0) + n + a)
            b, a = max(b, 0), max(a, 0)
        if mode == "reflect" and (b >= n or a >= n):
            raise ValueError(f"pad: reflect widths must be below the size of the dimension: "
                             f"pad {tuple(widths)}, dimension {ax} of input shape {shape}")
        if mode == "circular" and (b > n or a > n):
            raise ValueError(f"pad: circular widths must be at most the size of the "
                             f"dimension: pad {tuple(widths)}, dimension {ax} of input shape "
                             f"{shape}")
        if mode == "replicate" and n == 0 and (b or a):
            raise ValueError(f"pad: replicate needs a non-empty dimension {ax}, input shape "
                             f"{shape}")
        x = _pad_axis(x, ax, b, a, mode)
    if any(c != slice(None) for c in crop):
        from ..ops.index import getitem

        x = getitem(x, tuple(crop))
    return x


def linear(input, weight, bias=None):
    """input @ weight.T + bias, with PyTorch's (out_features, in_features) weight: one node
    (``tensorgrad.ops.linalg.linear``)."""
    from ..ops.linalg import linear as _linear

    if weight.ndim != 2 or input.ndim == 0 or input.shape[-1] != weight.shape[-1]:
        raise ValueError(f"linear: input of shape {tuple(input.shape)} does not fit a weight of "
                         f"shape {tuple(weight.shape)} (out_features, in_features): the input's "
                         f"last axis must be in_features")
    if bias is not None and tuple(bias.shape) not in ((weight.shape[0],), ()):
        raise ValueError(f"linear: bias must have shape ({weight.shape[0]},) for a weight of "
                         f"shape {tuple(weight.shape)}, got {tuple(bias.shape)}")
    return _linear(input, weight, bias)


# ---- convolution and pooling ---------------------------------------------------------------
def _pair(v, name, op):
    if isinstance(v, int):
        return (v, v)
    v = tuple(int(a) for a in v)
    if len(v) == 1:  # PyTorch's pooling takes a 1-tuple as an int
        return v * 2
    if len(v) != 2:
        raise ValueError(f"{op}: {name} must be an int or a pair, got {v}")
    return v


def _pool(input, kernel_size, stride, padding, pad_value, reduce, op):
    """A window reduction over (N, C, H, W), or an unbatched (C, H, W) as PyTorch's."""
    from ..ops.conv import unfold

    if input.ndim == 3:  # no batch axis: pool a batch of one
        return _pool(input[None], kernel_size, stride, padding, pad_value, reduce, op)[0]
    if input.ndim != 4:
        raise ValueError(f"{op}: input must be (N, C, H, W) or (C, H, W), got shape "
                         f"{tuple(input.shape)}")
    kernel = _pair(kernel_size, "kernel_size", op)
    stride = kernel if stride is None or stride == () or stride == [] else \
        _pair(stride, "stride", op)
    padding = _pair(padding, "padding", op)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{op}: padding {padding} must be at most half the kernel {kernel}")
    cols = unfold(input, kernel, stride, padding, (1, 1), pad_value)
    return reduce(cols, (2, 3), False)


def _pool_nonempty(op, input, n_sp):
    """PyTorch's rule for pooling: of an (N, C, *spatial) or (C, *spatial) input only the
    batch dimension N may be 0 (an O(1) shape check)."""
    shape = tuple(input.shape)
    if len(shape) in (n_sp + 1, n_sp + 2) and 0 in shape[len(shape) - n_sp - 1:]:
        raise ValueError(f"{op}: expected a {n_sp + 1}-D or {n_sp + 2}-D (batched) input whose "
                         f"non-batch dimensions have positive length, got shape {shape}")


def _lowest(dtype):
    """The value padding takes in a max: -inf, or the smallest integer (an integer input
    cannot hold -inf), or False."""
    if dtype.kind == "b":
        return False
    return int(_np.iinfo(dtype).min) if dtype.kind in "iu" else float("-inf")


def _is_integral(x):
    return _raw(x).dtype.kind in "iub"


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over each window (padding counts as -inf). Where a window has ties the gradient is
    split evenly between them (PyTorch sends it to one). ``return_indices`` also gives the
    flat (h W + w) index of each maximum, for ``max_unpool2d``; with it, ``dilation``,
    ``ceil_mode`` or an unbatched (C, H, W) input, ``max_pool2d_with_indices`` pools, and the
    gradient goes to the one maximum picked, as PyTorch's."""
    _pool_nonempty("max_pool2d", input, 2)
    if _pair(dilation, "dilation", "max_pool2d") != (1, 1) or ceil_mode or return_indices \
            or input.ndim == 3:
        from ._functional_extra_a import max_pool2d_with_indices

        out = max_pool2d_with_indices(input, kernel_size, stride, padding, dilation, ceil_mode)
        return out if return_indices else out[0]
    return _pool(input, kernel_size, stride, padding, _lowest(_raw(input).dtype), _red.max_kernel,
                 "max_pool2d")


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Mean over each window; padding counts as zeros and in the divisor unless
    ``count_include_pad=False``; ``ceil_mode`` and ``divisor_override`` as PyTorch's
    (avg_pool3d's)."""
    if ceil_mode or not count_include_pad or divisor_override is not None or \
            _is_integral(input):
        from ._functional_3d import _avg_pool

        return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode,
                         count_include_pad, divisor_override)
    return _pool(input, kernel_size, stride, padding, 0.0, _red.mean, "avg_pool2d")


# the convolutions (conv2d, conv1d, conv_transpose2d), adaptive pooling and attention live in
# their own file
from ._functional_conv_attn import *  # noqa: E402, F403

# more activations, distances, shape changes, pooling, interpolation and losses
from ._functional_more import *  # noqa: E402, F403

# isort: split
# 3-d convolutions, pooling and dropout, and conv_transpose1d (after the imports above:
# it uses names they bind)
from ._functional_3d import *  # noqa: E402, F403

# grid_sample and affine_grid (spatial transformers' sampling)
from ._functional_grid import *  # noqa: E402, F403

# isort: split
# group A of the missing functions: rms_norm, shrinkage, rrelu, fold/unfold, pdist,
# gumbel_softmax, in-place activations, lp pooling, max pooling with indices, unpooling
from ._functional_extra_a import *  # noqa: E402, F403

# group B of the missing functions: multi-class margin losses, the triplet loss with a custom
# distance, ctc_loss and embedding_bag
from ._functional_extra_b import *  # noqa: E402, F403

# group C: fractional max pooling and adaptive_max_pool3d_with_indices
from ._functional_extra_c import *  # noqa: E402, F403

# isort: split
# interpolate's deprecated aliases, multi_head_attention_forward, linear_cross_entropy
from ._functional_aliases import *  # noqa: E402, F403
