"""More of PyTorch's ``torch.nn.functional``: multi-class margin losses, the triplet loss with a
custom distance, the CTC loss and ``embedding_bag``.

All are compositions of differentiable primitives (no new derivative rules), so they have
derivatives of every order in both modes. Star-imported into ``tensorgrad.nn.functional``.
"""

import numpy as np

from ..backend.device import to_host, xp_of
from ..ops import elementwise as _ew
from ..ops import reduce as _red
from ..ops.index import getitem as _getitem
from ..ops.shape import concatenate_ as _concat
from ..ops.shape import expand_dims as _unsqueeze
from ..ops.shape import reshape as _reshape
from ..tensor import _raw
from ._functional_more import _const, _loss_args, _shape, pairwise_distance
from .functional import _legacy_reduction, _padding_index, _reduce, _renorm_rows_, embedding

__all__ = ["multi_margin_loss", "multilabel_margin_loss", "triplet_margin_with_distance_loss",
           "ctc_loss", "embedding_bag"]


def _index_array(x, like, op, name):
    """``x`` (a Tensor, an array, a list or a number) as an integer array on ``like``'s
    device."""
    a = _raw(x)
    xp = xp_of(_raw(like))
    if not hasattr(a, "dtype"):
        a = np.asarray(a)
        if a.dtype.kind not in "iu" and a.size == 0:
            a = a.astype(np.int64)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{op}: {name} must hold integers, got dtype {a.dtype} "
                        f"(shape {tuple(a.shape)})")
    return xp.asarray(a) if xp is np else _on_device(a, like)


def _on_device(a, like):
    from ..backend.device import device_of

    return device_of(_raw(like)).put(a) if isinstance(a, np.ndarray) else a


def _class_rows(input, target, op):
    """Check (N, C)/(C,) ``input`` against class indices ``target`` (N,)/(); return
    (input as 2-D, targets as a 1-D integer array, whether the input was 1-D)."""
    if input.ndim not in (1, 2):
        raise ValueError(f"{op}: input must be (N, C) or (C,), got shape {_shape(input)}")
    t = _index_array(target, input, op, "target")
    want = _shape(input)[:-1]
    if tuple(t.shape) != want and not (input.ndim == 1 and tuple(t.shape) == (1,)):
        raise ValueError(f"{op}: target must have shape {want}, got {tuple(t.shape)} "
                         f"(input shape {_shape(input)})")
    c = input.shape[-1]
    if t.size and xp_of(t) is np and (int(t.min()) < 0 or int(t.max()) >= c):
        raise IndexError(f"{op}: target values must lie in [0, {c}), got "
                         f"{int(t.min())}..{int(t.max())} (input shape {_shape(input)})")
    one_d = input.ndim == 1
    return (_unsqueeze(input, 0) if one_d else input), t.reshape(-1), one_d


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None,
                      reduce=None, reduction="mean"):
    """PyTorch's multi-class hinge loss: per sample, sum over the classes i other than the
    target y of ``weight[y] * max(0, margin - x[y] + x[i]) ** p``, divided by C.

    >>> import tensorgrad as tg
    >>> x = tg.tensor([[0.1, 0.2, 0.4, 0.8]])
    >>> round(tg.nn.functional.multi_margin_loss(x, tg.tensor([3])).item(), 4)
    0.325
    """
    op = "multi_margin_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    (input,) = _loss_args(op, size_average, reduce, reduction, input)
    if p not in (1, 2):
        raise ValueError(f"{op}: only p == 1 and p == 2 are supported, got p={p}")
    if input.ndim == 0:  # PyTorch: one class
        input = _reshape(input, (1,))
    x, t, one_d = _class_rows(input, target, op)
    n, c = x.shape
    if weight is not None and _shape(weight) != (c,):
        raise ValueError(f"{op}: weight must have shape ({c},), got {_shape(weight)} "
                         f"(input shape {_shape(input)})")
    xp = xp_of(_raw(x))
    rows = xp.arange(n)
    picked = _unsqueeze(_getitem(x, (rows, t)), 1)
    hinge = _ew.relu(margin - picked + x)
    if p == 2:
        hinge = hinge * hinge
    others = (xp.arange(c)[None, :] != t[:, None]).astype(_raw(x).dtype)
    loss = _red.sum(hinge * others, (1,), False)
    if weight is not None:
        loss = loss * _getitem(weight, t)
    loss = loss / c
    if one_d:
        loss = _reshape(loss, ())
    return _reduce(loss, reduction, op)


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """PyTorch's multi-label hinge loss. ``target`` has the input's shape and lists each
    sample's classes, ended by the first -1; per sample, the sum over its classes j and the
    classes i not among them of ``max(0, 1 - (x[j] - x[i]))``, divided by C.

    >>> import tensorgrad as tg
    >>> x = tg.tensor([[0.1, 0.2, 0.4, 0.8]])
    >>> y = tg.tensor([[3, 0, -1, 1]])
    >>> round(tg.nn.functional.multilabel_margin_loss(x, y).item(), 4)
    0.85
    """
    op = "multilabel_margin_loss"
    reduction = _legacy_reduction(size_average, reduce, reduction)
    (input,) = _loss_args(op, size_average, reduce, reduction, input)
    if input.ndim == 0:  # PyTorch: one class, a 0-d target
        input = _reshape(input, (1,))
        if tuple(getattr(target, "shape", (1,))) == ():
            target = target.reshape((1,))
    if input.ndim not in (1, 2):
        raise ValueError(f"{op}: input must be (N, C) or (C,), got shape {_shape(input)}")
    t = _index_array(target, input, op, "target")
    if tuple(t.shape) != _shape(input):
        raise ValueError(f"{op}: target must have the input's shape {_shape(input)}, got "
                         f"{tuple(t.shape)}")
    c = input.shape[-1]
    if t.size and xp_of(t) is np and (int(t.min()) < -1 or int(t.max()) >= c):
        raise IndexError(f"{op}: target values must lie in [-1, {c}), got "
                         f"{int(t.min())}..{int(t.max())} (input shape {_shape(input)})")
    one_d = input.ndim == 1
    x = _unsqueeze(input, 0) if one_d else input
    t = t.reshape(x.shape)
    xp = xp_of(t)
    dtype = _raw(x).dtype
    listed = xp.cumprod((t != -1).astype(np.int64), axis=1).astype(bool)  # before the first -1
    safe = xp.where(listed, t, 0)
    is_target = ((safe[:, :, None] == xp.arange(c)[None, None, :]) & listed[:, :, None]).any(1)
    pairs = (listed[:, :, None] & ~is_target[:, None, :]).astype(dtype)  # (N, j, i)
    picked = _getitem(x, (xp.arange(x.shape[0])[:, None], safe))  # (N, j)
    hinge = _ew.relu(1 - _unsqueeze(picked, 2) + _unsqueeze(x, 1))
    loss = _red.sum(hinge * pairs, (1, 2), False) / c
    if one_d:
        loss = _reshape(loss, ())
    return _reduce(loss, reduction, op)


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None,
                                      margin=1.0, swap=False, reduction="mean"):
    """max(0, d(a, p) - d(a, n) + margin) with ``distance_function`` d (``pairwise_distance``
    when None); ``swap`` uses min(d(a, n), d(p, n)) as the negative distance.

    >>> import tensorgrad as tg
    >>> a, p, n = tg.zeros(2, 3), tg.ones(2, 3), tg.ones(2, 3) * 2
    >>> F = tg.nn.functional
    >>> F.triplet_margin_with_distance_loss(a, p, n, margin=2.0).item() > 0
    True
    """
    op = "triplet_margin_with_distance_loss"
    _loss_args(op, None, None, reduction, autocast=False)
    if margin <= 0:
        raise ValueError(f"{op}: margin must be greater than 0, got {margin}")
    dims = {k: v.ndim for k, v in (("anchor", anchor), ("positive", positive),
                                   ("negative", negative))}
    if len(set(dims.values())) != 1:
        raise ValueError(f"{op}: anchor, positive and negative must have the same number of "
                         f"dimensions, got shapes {_shape(anchor)}, {_shape(positive)}, "
                         f"{_shape(negative)}")
    dist = pairwise_distance if distance_function is None else distance_function
    d_pos = dist(anchor, positive)
    d_neg = dist(anchor, negative)
    if swap:
        d_neg = _ew.minimum(d_neg, dist(positive, negative))
    return _reduce(_ew.relu(d_pos - d_neg + margin), reduction, op)


# ---- CTC ----------------------------------------------------------------------------------------
def _lengths(x, n, like, op, name):
    a = _index_array(x, like, op, name).reshape(-1)
    if a.shape != (n,):
        raise ValueError(f"{op}: {name} must have one entry per batch element ({n}), got "
                         f"shape {tuple(a.shape)}")
    return a


def _lse(*xs):
    """log(sum(exp(x))) of same-shaped tensors, shifted by their (constant) elementwise max:
    a composition, so every derivative order comes from the rules of exp and log. The inputs
    are finite (the CTC recursion marks impossible states with a large negative number, not
    -inf), so no row needs the special care of ``logsumexp``."""
    xp = xp_of(_raw(xs[0]))
    m = _raw(xs[0])
    for x in xs[1:]:
        m = xp.maximum(m, _raw(x))
    total = _ew.exp(xs[0] - m)
    for x in xs[1:]:
        total = total + _ew.exp(x - m)
    return _ew.log(total) + m


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean",
             zero_infinity=False):
    """Connectionist temporal classification loss of ``log_probs`` (T, N, C) (or (T, C)),
    log-softmax outputs, against ``targets``: padded (N, S) or concatenated
    (sum(target_lengths),). ``input_lengths`` and ``target_lengths`` are tensors or lists.
    ``reduction="mean"`` divides each loss by its target length, then averages over the batch
    (PyTorch's); ``zero_infinity`` turns impossible alignments' infinite losses (and their
    gradients) into zeros.

    The forward algorithm runs in log space, vectorized over the batch, with a loop over time;
    the gradient comes from the tape, so it is the true derivative with respect to
    ``log_probs``. PyTorch's own backward assumes ``log_probs`` come from ``log_softmax`` and
    adds ``exp(log_probs)`` to it; through a ``log_softmax`` both agree.

    >>> import tensorgrad as tg
    >>> lp = tg.nn.functional.log_softmax(tg.zeros(3, 1, 2), 2)
    >>> loss = tg.nn.functional.ctc_loss(lp, tg.tensor([[1]]), [3], [1], reduction="sum")
    >>> round(loss.item(), 4)   # 6 of the 8 paths collapse to the label: -log(6/8)
    0.2877
    """
    op = "ctc_loss"
    (log_probs,) = _loss_args(op, None, None, reduction, log_probs)
    if log_probs.ndim not in (2, 3):
        raise ValueError(f"{op}: log_probs must be (T, N, C) or (T, C), got shape "
                         f"{_shape(log_probs)}")
    unbatched = log_probs.ndim == 2
    if unbatched:
        log_probs = _unsqueeze(log_probs, 1)
    steps, n, c = log_probs.shape
    if not 0 <= blank < c:
        raise ValueError(f"{op}: blank={blank} must lie in [0, {c}) (log_probs shape "
                         f"{_shape(log_probs)})")
    raw = _raw(log_probs)
    xp = xp_of(raw)
    in_len = _lengths(input_lengths, n, log_probs, op, "input_lengths")
    tg_len = _lengths(target_lengths, n, log_probs, op, "target_lengths")
    tgt = _index_array(targets, log_probs, op, "targets")
    if unbatched:
        tgt = tgt.reshape(1, -1) if tgt.ndim == 1 else tgt
    # the host needs the longest target to size the recursion (one sync on a GPU)
    lens_host = to_host(tg_len)
    in_host = to_host(in_len)
    if (lens_host < 0).any() or (in_host < 0).any() or (in_host > steps).any():
        raise ValueError(f"{op}: lengths must be non-negative and input_lengths at most "
                         f"T={steps}, got input_lengths {in_host.tolist()}, target_lengths "
                         f"{lens_host.tolist()}")
    max_len = int(lens_host.max()) if n else 0
    if tgt.ndim == 2:
        if tgt.shape[0] != n or tgt.shape[1] < max_len:
            raise ValueError(f"{op}: padded targets must be (N={n}, S >= {max_len}), got shape "
                             f"{tuple(tgt.shape)}")
        padded = tgt[:, :max_len]
    elif tgt.ndim == 1:
        if tgt.shape[0] != int(lens_host.sum()):
            raise ValueError(f"{op}: concatenated targets must have sum(target_lengths)="
                             f"{int(lens_host.sum())} entries, got shape {tuple(tgt.shape)}")
        starts = np.concatenate([[0], np.cumsum(lens_host)[:-1]]).astype(np.int64)
        pos = starts[:, None] + np.arange(max_len)[None, :]
        inside = np.arange(max_len)[None, :] < lens_host[:, None]
        pos = xp.asarray(np.where(inside, pos, 0)) if xp is np else _on_device(
            np.where(inside, pos, 0), log_probs)
        padded = tgt[pos] if tgt.size else xp.zeros((n, max_len), dtype=tgt.dtype)
    else:
        raise ValueError(f"{op}: targets must be (N, S) or concatenated (sum(target_lengths),), "
                         f"got shape {tuple(tgt.shape)}")
    if padded.size and xp is np:
        inside = np.arange(max_len)[None, :] < lens_host[:, None]
        bad = inside & ((padded < 0) | (padded >= c) | (padded == blank))
        if bad.any():
            raise ValueError(f"{op}: target labels must lie in [0, {c}) and differ from "
                             f"blank={blank}, got {int(padded[bad][0])}")
    padded = xp.clip(padded, 0, c - 1)
    # the extended label sequence: blank, l1, blank, l2, ..., blank  (S = 2 * max_len + 1)
    s = 2 * max_len + 1
    ext = xp.full((n, s), blank, dtype=np.int64)
    ext[:, 1::2] = padded
    # a skip from s - 2 to s is allowed onto a label that differs from the label before it
    skip = xp.zeros((n, s), dtype=bool)
    if max_len > 1:
        skip[:, 3::2] = padded[:, 1:] != padded[:, :-1]
    dtype = raw.dtype
    neg = xp.asarray(-1e30 if dtype.itemsize >= 4 else -1e4, dtype=dtype)
    pad1 = xp.full((n, 1), neg, dtype=dtype)
    pad2 = xp.full((n, 2), neg, dtype=dtype)
    no_skip = xp.where(skip, 0, neg).astype(dtype)
    emit = _getitem(log_probs, (slice(None), xp.arange(n)[:, None], ext))  # (T, N, S)
    start = xp.where(xp.arange(s)[None, :] < 2, 0, neg).astype(dtype)
    alpha = _getitem(emit, 0) + start
    for step in range(1, steps):
        one = _concat(1, pad1, _getitem(alpha, (slice(None), slice(0, s - 1))))
        if s > 2:
            two = _concat(1, pad2, _getitem(alpha, (slice(None), slice(0, s - 2)))) + no_skip
            new = _lse(alpha, one, two)
        else:
            new = _lse(alpha, one)
        new = new + _getitem(emit, step)
        live = (in_len > step)[:, None]  # sequences that have ended keep their last alpha
        alpha = _ew.where(live, new, alpha)
    rows = xp.arange(n)
    last = _getitem(alpha, (rows, 2 * tg_len))
    before = _getitem(alpha, (rows, xp.maximum(2 * tg_len - 1, 0)))
    before = before + xp.where(tg_len > 0, 0, neg).astype(dtype)
    loss = -_lse(last, before)
    # no path (an input too short for its target, or of length 0): an infinite loss
    impossible = _raw(loss) > -neg / 2
    impossible = impossible | (in_len == 0)
    if zero_infinity:
        loss = _ew.where(impossible, _const(0.0, loss), loss)
    else:
        loss = _ew.where(impossible, _const(np.inf, loss), loss)
    if unbatched:
        loss = _reshape(loss, ())
    if reduction == "mean":
        denom = xp.maximum(tg_len, 1).astype(dtype)
        return _red.mean(loss / (denom[0] if unbatched else denom))
    return _reduce(loss, reduction, op)


# ---- embedding_bag ------------------------------------------------------------------------------
def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False,
                  mode="mean", sparse=False, per_sample_weights=None, include_last_offset=False,
                  padding_idx=None):
    """Sums, means or maxima of bags of ``weight`` rows, without the intermediate embeddings
    of PyTorch's API: ``input`` (B, L) gives B bags of L indices; 1-D ``input`` with
    ``offsets`` (the start of each bag; with ``include_last_offset`` one more, the end) gives
    bags of any length. ``per_sample_weights`` (``mode="sum"`` only) scale each row;
    ``padding_idx`` entries are left out of their bag. An empty bag gives zeros.
    ``scale_grad_by_freq`` and ``sparse`` (sum and mean) as in ``embedding``.

    >>> import tensorgrad as tg
    >>> w = tg.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    >>> F = tg.nn.functional
    >>> F.embedding_bag(tg.tensor([0, 2, 1]), w, tg.tensor([0, 2]), mode="sum").tolist()
    [[6.0, 8.0], [3.0, 4.0]]
    """
    op = "embedding_bag"
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"{op}: mode must be 'sum', 'mean' or 'max', got {mode!r}")
    if mode == "max" and (sparse or scale_grad_by_freq):
        raise ValueError(f"{op}: max mode does not support "
                         + ("sparse weights" if sparse else
                            "scaling the gradient by the frequency"))
    if weight.ndim != 2:
        raise ValueError(f"{op}: weight must be 2-D (num_embeddings, embedding_dim), got shape "
                         f"{_shape(weight)}")
    idx = _index_array(input, weight, op, "input")
    xp = xp_of(idx)
    psw = per_sample_weights
    if psw is not None:
        if mode != "sum":
            raise NotImplementedError(f"{op}: per_sample_weights are only supported for "
                                      f"mode='sum', got mode={mode!r}")
        if _shape(psw) != tuple(idx.shape):
            raise ValueError(f"{op}: per_sample_weights must have the input's shape "
                             f"{tuple(idx.shape)}, got {_shape(psw)}")
    if idx.ndim == 2:
        if offsets is not None:
            raise ValueError(f"{op}: offsets must be None for 2-D input (shape "
                             f"{tuple(idx.shape)}): each row is a bag")
        bags, width = idx.shape
        pos = xp.arange(bags * width).reshape(bags, width)
        inside = xp.ones((bags, width), dtype=bool)
        full = True  # every bag holds ``width`` entries
    elif idx.ndim == 1:
        if offsets is None:
            raise ValueError(f"{op}: 1-D input (shape {tuple(idx.shape)}) needs offsets")
        off = to_host(_index_array(offsets, weight, op, "offsets")).reshape(-1)
        total = idx.shape[0]
        # with include_last_offset the last bag still runs to the input's end, whatever the
        # last offset (PyTorch's kernels read it only for its check against the length)
        starts = off if not include_last_offset else off[:-1]
        ends = np.append(off[1:len(starts)], total) if len(starts) else off[:0]
        if len(off) and (off[0] != 0 or (np.diff(off) < 0).any() or off[-1] > total):
            raise ValueError(f"{op}: offsets must start at 0, be non-decreasing and stay "
                             f"within the input's {total} entries, got {off.tolist()}")
        bags = len(starts)
        counts = ends - starts
        width = int(counts.max()) if bags else 0
        grid = starts[:, None] + np.arange(width)[None, :]
        inside_h = np.arange(width)[None, :] < counts[:, None]
        pos = _on_device(np.where(inside_h, grid, 0), weight) if xp is not np else \
            np.where(inside_h, grid, 0)
        inside = _on_device(inside_h, weight) if xp is not np else inside_h
        full = bool(inside_h.all())
    else:
        raise ValueError(f"{op}: input must be 1-D (with offsets) or 2-D, got shape "
                         f"{tuple(idx.shape)}")
    flat = idx.reshape(-1)
    num = weight.shape[0]
    if width == 0:  # every bag empty
        none = _red.sum(_getitem(weight, (slice(0, 0),)), (0,), False)  # zeros, on the tape
        return none + xp.zeros((bags, weight.shape[1]), dtype=_raw(weight).dtype)
    padding_idx = _padding_index(op, padding_idx, num)
    if padding_idx is not None:
        inside = inside & (flat[pos] != padding_idx)
        full = False
    if max_norm is not None:
        _renorm_rows_(weight, flat, float(max_norm), float(norm_type))
    if sparse or scale_grad_by_freq:
        # the rows of the input's indices, then the bags' grid of them: the counts are the
        # input's, and a sparse gradient holds one row per index of the input, as PyTorch's
        rows = embedding(flat, weight, padding_idx, None, 2.0, scale_grad_by_freq, sparse)
        rows = _reshape(rows, (bags, width, -1)) if idx.ndim == 2 else _getitem(rows, pos)
    else:
        rows = embedding(flat[pos], weight)  # (B, W, D), index checks included
    dtype = _raw(weight).dtype
    keep = inside[:, :, None]
    if mode == "max":
        floor = xp.asarray(-np.inf, dtype=dtype)
        best = _red.max(_ew.where(keep, rows, floor), (1,), False)
        return _ew.where(inside.any(1)[:, None], best, _const(0.0, weight))
    if psw is not None:
        w = _getitem(_reshape(psw, (-1,)), pos)
        rows = rows * _unsqueeze(w, 2)
    if full:  # no entry to leave out: the plain sum or mean over the bag
        return _red.sum(rows, (1,), False) if mode == "sum" else _red.mean(rows, (1,), False)
    total = _red.sum(rows * keep.astype(dtype), (1,), False)
    if mode == "sum":
        return total
    count = xp.maximum(inside.sum(1), 1).astype(dtype)[:, None]
    return total / count

