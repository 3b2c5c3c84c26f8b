"""Differentiable collectives (PyTorch's ``torch.distributed.nn.functional``).

Each returns new tensors (the input is left as it is) and records itself on the tape: the
gradient of a collective is another collective of the gradients, run when ``backward()``
reaches it, so every rank must call ``backward()`` through the same collectives in the same
order. ``all_gather`` with this backward is what contrastive losses over the global batch use:

    >>> import tensorgrad.distributed.nn.functional as dF          # doctest: +SKIP
    >>> everyone = tg.cat(dF.all_gather(embeddings))   # gradients flow back to each rank
    ...                                                             # doctest: +SKIP

Each is a primitive whose VJP and JVP are collectives too (a collective is linear in its
input), so derivatives of any order work in both modes. ``all_reduce``'s gradient: the sum over
ranks of the gradients for SUM (their mean for MEAN); for MAX and MIN it goes to the ranks that
hold the extreme (split evenly between ties); PRODUCT has none. ``reduce``: ``dst`` gets the sum,
the other ranks their own input, and the gradient follows both (PyTorch's drops the second).
"""

import numpy as np

from ... import distributed as dist
from ...backend.device import _CUPY_ARRAY, xp_of
from ...ops.registry import defjvp, defvjp, primitive
from ...tensor import Tensor, _new_tensor

__all__ = ["all_gather", "all_reduce", "all_to_all", "all_to_all_single", "broadcast", "gather",
           "reduce", "reduce_scatter", "scatter"]


def _t(a):
    """A fresh tensor holding a copy of the raw array ``a`` (the collectives write in place)."""
    return _new_tensor(xp_of(a).array(a, copy=True), None, False)


def _size(group):
    return dist.get_world_size(group)


def _is_rank(r):
    return dist.get_rank() == r


# ---- all_reduce ------------------------------------------------------------------------------
@primitive(name="dist_all_reduce")
def _all_reduce(x, op, group):
    out = _t(x)
    dist.all_reduce(out, op=op, group=group)
    return out.data


def _extreme_share(x, ans, group):
    """Where this rank holds the extreme, 1 over the number of ranks that do (else 0)."""
    hit = (x == ans).astype(x.dtype)
    return hit / _all_reduce(hit, "sum", group)


def _all_reduce_vjp(g, ans, x, op, group):
    if op == "prod":
        raise RuntimeError("distributed.nn.all_reduce: ReduceOp.PRODUCT has no gradient here; "
                           "reduce log-values with SUM instead")
    if op in ("max", "min"):
        return _all_reduce(g, "sum", group) * _extreme_share(x, ans, group)
    return _all_reduce(g, op, group)


def _all_reduce_jvp(t, ans, x, op, group):
    if op == "prod":
        raise RuntimeError("distributed.nn.all_reduce: ReduceOp.PRODUCT has no derivative here")
    if op in ("max", "min"):
        return _all_reduce(t * _extreme_share(x, ans, group), "sum", group)
    return _all_reduce(t, op, group)


defvjp(_all_reduce, _all_reduce_vjp)
defjvp(_all_reduce, _all_reduce_jvp)


# ---- broadcast and reduce --------------------------------------------------------------------
@primitive(name="dist_broadcast")
def _broadcast(x, src, group):
    out = _t(x)
    dist.broadcast(out, src=src, group=group)
    return out.data


@primitive(name="dist_reduce")
def _reduce(x, dst, group):
    out = _t(x)
    dist.reduce(out, dst=dst, group=group)
    return out.data


def _broadcast_vjp(g, ans, x, src, group):
    total = _reduce(g, src, group)  # every rank's output was src's input
    return total if _is_rank(src) else total * 0


def _reduce_vjp(g, ans, x, dst, group):
    back = _broadcast(g, dst, group)  # dst's output is the sum of every rank's input
    return back if _is_rank(dst) else back + g  # the others' output is their own input


defvjp(_broadcast, _broadcast_vjp)
defjvp(_broadcast, lambda t, ans, x, src, group: _broadcast(t, src, group))
defvjp(_reduce, _reduce_vjp)
defjvp(_reduce, lambda t, ans, x, dst, group: _reduce(t, dst, group))


# ---- gathering and scattering: stacked on a leading dim of the group's size -------------------
@primitive(name="dist_all_gather")
def _all_gather(x, group):
    parts = [_new_tensor(xp_of(x).empty_like(x), None, False) for _ in range(_size(group))]
    dist.all_gather(parts, _new_tensor(x, None, False), group=group)
    return xp_of(x).stack([p.data for p in parts])


@primitive(name="dist_reduce_scatter")
def _reduce_scatter(stacked, group):
    out = _new_tensor(xp_of(stacked).empty_like(stacked[0]), None, False)
    dist.reduce_scatter_tensor(out, _new_tensor(stacked, None, False), group=group)
    return out.data


@primitive(name="dist_gather")
def _gather(x, dst, group):
    xp = xp_of(x)
    parts = [_new_tensor(xp.zeros_like(x), None, False) for _ in range(_size(group))]
    dist.gather(_new_tensor(x, None, False), parts if _is_rank(dst) else None, dst=dst,
                group=group)
    return xp.stack([p.data for p in parts])


@primitive(name="dist_scatter")
def _scatter(stacked, src, group):
    out = _new_tensor(xp_of(stacked).empty_like(stacked[0]), None, False)
    parts = [_new_tensor(s, None, False) for s in stacked] if _is_rank(src) else None
    dist.scatter(out, parts, src=src, group=group)
    return out.data


defvjp(_all_gather, lambda g, ans, x, group: _reduce_scatter(g, group))
defjvp(_all_gather, lambda t, ans, x, group: _all_gather(t, group))
defvjp(_reduce_scatter, lambda g, ans, x, group: _all_gather(g, group))
defjvp(_reduce_scatter, lambda t, ans, x, group: _reduce_scatter(t, group))
defvjp(_gather, lambda g, ans, x, dst, group: _scatter(g, dst, group))
defjvp(_gather, lambda t, ans, x, dst, group: _gather(t, dst, group))
defvjp(_scatter, lambda g, ans, x, src, group: _gather(g, src, group))
defjvp(_scatter, lambda t, ans, x, src, group: _scatter(t, src, group))


# ---- all to all, on flat arrays: block r (counts[r] elements) to rank r ------------------------
@primitive(name="dist_all_to_all")
def _all_to_all(flat, in_rows, out_rows, row_shape, group):
    out = _new_tensor(xp_of(flat).empty((sum(out_rows),) + row_shape, flat.dtype), None, False)
    dist.all_to_all_single(out, _new_tensor(flat, None, False), list(out_rows), list(in_rows),
                           group=group)
    return out.data


defvjp(_all_to_all, lambda g, ans, x, i, o, shape, group: _all_to_all(g, o, i, shape, group))
defjvp(_all_to_all, lambda t, ans, x, i, o, shape, group: _all_to_all(t, i, o, shape, group))


# ---- the public functions --------------------------------------------------------------------
def _check(t, who):
    if not isinstance(t, Tensor) and type(t) is not np.ndarray and type(t) is not _CUPY_ARRAY:
        raise TypeError(f"distributed.nn.{who}: expected a tensorgrad Tensor, got "
                        f"{type(t).__name__}")
    return t


def _stack(ts, who):
    from ...ops.shape import stack_

    return stack_(0, *[_check(t, who) for t in ts])


def _unstack(stacked):
    return tuple(stacked[i] for i in range(stacked.shape[0]))


def all_reduce(tensor, op=dist.ReduceOp.SUM, group=None):
    """The reduction over the ranks of ``tensor`` (a new tensor on every rank)."""
    return _all_reduce(_check(tensor, "all_reduce"), op, group)


def broadcast(tensor, src, group=None):
    """Rank ``src``'s ``tensor`` on every rank (a new tensor); the gradient of every rank's
    output sums into ``src``'s input."""
    return _broadcast(_check(tensor, "broadcast"), src, group)


def reduce(tensor, dst, op=dist.ReduceOp.SUM, group=None):
    """The sum over the ranks of ``tensor`` on rank ``dst``; the other ranks get their own
    ``tensor`` back, as a new tensor."""
    if op != dist.ReduceOp.SUM:
        raise ValueError(f"distributed.nn.reduce: op must be ReduceOp.SUM (the one with a "
                         f"gradient here), got {op!r}")
    return _reduce(_check(tensor, "reduce"), dst, group)


def all_gather(tensor, group=None):
    """Every rank's ``tensor``, as a tuple in rank order; the gradient of output r on every
    rank sums into rank r's input."""
    return _unstack(_all_gather(_check(tensor, "all_gather"), group))


def reduce_scatter(output, input_list, op=dist.ReduceOp.SUM, group=None):
    """The sum over the ranks of ``input_list[rank]`` (a new tensor shaped like ``output``,
    which is only a template here)."""
    if op != dist.ReduceOp.SUM:
        raise ValueError(f"distributed.nn.reduce_scatter: op must be ReduceOp.SUM, got {op!r}")
    return _reduce_scatter(_stack(input_list, "reduce_scatter"), group)


def gather(tensor, dst=0, group=None):
    """Every rank's ``tensor`` on rank ``dst`` as a tuple in rank order (zeros on the other
    ranks)."""
    return _unstack(_gather(_check(tensor, "gather"), dst, group))


def scatter(tensors, src=0, group=None):
    """Entry ``rank`` of rank ``src``'s ``tensors`` on each rank (every rank passes a list of
    world size tensors of the same shape; only ``src``'s values are read)."""
    return _scatter(_stack(tensors, "scatter"), src, group)


def all_to_all(output_tensor_list, input_tensor_list, group=None):
    """``input_tensor_list[r]`` to rank r; returns what each rank sent here, as a tuple shaped
    like ``output_tensor_list`` (templates here)."""
    import math

    from ...ops.shape import concatenate_

    ins = [_check(t, "all_to_all") for t in input_tensor_list]
    shapes = [tuple(t.shape) for t in output_tensor_list]
    sizes = [math.prod(s) for s in shapes]
    flat = concatenate_(0, *[t.reshape(-1) for t in ins])
    out = _all_to_all(flat, tuple(math.prod(t.shape) for t in ins), tuple(sizes), (), group)
    parts, o = [], 0
    for s, n in zip(shapes, sizes):
        parts.append(out[o:o + n].reshape(s))
        o += n
    return tuple(parts)


def all_to_all_single(output, input, output_split_sizes=None, input_split_sizes=None,
                      group=None):
    """``dist.all_to_all_single`` as a function: returns a new tensor shaped like ``output``
    (a template here); the gradient goes back the reverse way."""
    _check(input, "all_to_all_single")
    n = _size(group)
    rows_in, rows_out = input.shape[0], output.shape[0]
    ins = tuple(input_split_sizes or [rows_in // n] * n)
    outs = tuple(output_split_sizes or [rows_out // n] * n)
    return _all_to_all(input, ins, outs, tuple(input.shape[1:]), group)
