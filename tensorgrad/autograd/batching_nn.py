"""Batching rules for the primitives behind ``nn`` code (registered into ``batching.RULES``).

Each rule gets the physical arguments (a batched one carries the batch dimension B first) and
returns the physical answer, or None for the per-slice rule. The idea throughout: fold the
batch into a dimension the primitive already loops over.

- ``conv2d`` and its two gradient primitives: an unbatched weight folds B into the images
  (N -> B N); a batched weight (per-sample gradients batch every parameter) makes one grouped
  convolution, B times the groups, with the images' channels laid out (N, B C, H, W).
- ``unfold``/``fold`` (im2col and its adjoint, behind pooling): B folds into N.
- ``_layer_norm``: the statistics are over the trailing axes, so B in front changes nothing;
  a batched weight or bias is applied after an unweighted call.
- ``_embedding`` (batched indices, table, or both) and ``untake``/``zero_at`` (the scatters
  behind indexing's rules, met by batched cotangents): B becomes one more index. (A batched
  integer index in ``x[idx]``, gather or take_along_dim still falls back: ``Tensor.__getitem__``
  reads the index's ``.data`` before any primitive runs.)
- ``_cross_entropy_rows``/``_cross_entropy_mean`` with a batched input and unbatched target:
  the rows of all examples in one call.
- ``channel_sum`` (conv's bias gradient): a sum over the logical axes.

The fused ``_bias_act`` is never met batched: ``nn.functional`` picks it only when an input's
``.data`` is a CuPy array, and a batched value's is the logical stand-in, so activations take
the elementwise rules instead.
"""

import inspect

import numpy as np

from ..tensor import Tensor
from . import batching as _b

_SIGS = {}


def _bind(p, phys, bd, kw):
    """(arguments by name with defaults filled, names of the batched ones)."""
    sig = _SIGS.get(p.name)
    if sig is None:
        sig = _SIGS[p.name] = inspect.signature(p.fwd)
    bound = sig.bind(*phys, **kw)
    bound.apply_defaults()
    names = list(sig.parameters)
    return dict(bound.arguments), {names[i] for i, b in enumerate(bd) if b}


def _shape(x):
    return _b._shape(x)


def _reshape(x, shape):
    from ..ops.shape import reshape

    return reshape(x, tuple(shape))


def _full(x, batched, size):
    """``x`` physical with the batch in front (an unbatched one broadcast)."""
    return x if batched else _b.broadcast_batch(x, size)


def _fold_front(x):
    """(B, N, ...) -> (B N, ...)."""
    s = _shape(x)
    return _reshape(x, (s[0] * s[1],) + s[2:])


def _unfold_front(x, size):
    """(B N, ...) -> (B, N, ...)."""
    s = _shape(x)
    return _reshape(x, (size, s[0] // size) + s[1:])


def _to_channels(x, size):
    """(B, N, C, ...) (or an unbatched (N, C, ...), broadcast) -> (N, B C, ...)."""
    from ..ops.shape import swapaxes

    s = _shape(x)
    t = swapaxes(x, 0, 1)
    return _reshape(t, (s[1], s[0] * s[2]) + s[3:])


def _from_channels(x, size):
    """(N, B C, ...) -> (B, N, C, ...)."""
    from ..ops.shape import swapaxes

    s = _shape(x)
    return swapaxes(_reshape(x, (s[0], size, s[1] // size) + s[2:]), 0, 1)


# ---- convolution ----------------------------------------------------------------------------
def _conv2d(p, phys, bd, kw, size):
    a, bat = _bind(p, phys, bd, kw)
    x, w, b = a["x"], a["w"], a["b"]
    geo = (a["stride"], a["padding"], a["dilation"])
    groups = a["groups"]
    if "w" not in bat:
        if "x" not in bat:
            return None  # only the bias batched: rare, the per-slice rule
        out = _unfold_front(p.wrapper(_fold_front(x), w, None if "b" in bat else b, *geo,
                                      groups), size)
        if "b" in bat:
            oc = _shape(b)[1]
            out = out + _reshape(b, (size, 1, oc, 1, 1))
        return out
    ws = _shape(w)
    w2 = _reshape(w, (size * ws[1],) + ws[2:])
    x2 = _to_channels(_full(x, "x" in bat, size), size)
    if b is not None:
        b = _reshape(_full(b, "b" in bat, size), (size * ws[1],))
    return _from_channels(p.wrapper(x2, w2, b, *geo, groups * size), size)


def _conv2d_input_grad(p, phys, bd, kw, size):
    a, bat = _bind(p, phys, bd, kw)
    gy, w, shape = a["gy"], a["w"], a["size"]
    geo = (a["stride"], a["padding"], a["dilation"])
    if "size" in bat:
        return None
    if "w" not in bat:
        return _unfold_front(p.wrapper(_fold_front(gy), w, shape, *geo, a["groups"]), size)
    ws = _shape(w)
    w2 = _reshape(w, (size * ws[1],) + ws[2:])
    g2 = _to_channels(_full(gy, "gy" in bat, size), size)
    return _from_channels(p.wrapper(g2, w2, shape, *geo, a["groups"] * size), size)


def _conv2d_weight_grad(p, phys, bd, kw, size):
    a, bat = _bind(p, phys, bd, kw)
    if "kernel" in bat:
        return None
    x2 = _to_channels(_full(a["x"], "x" in bat, size), size)
    g2 = _to_channels(_full(a["gy"], "gy" in bat, size), size)
    out = p.wrapper(x2, g2, a["kernel"], a["stride"], a["padding"], a["dilation"],
                    a["groups"] * size)
    s = _shape(out)
    return _reshape(out, (size, s[0] // size) + s[1:])


def _channel_sum(p, phys, bd, kw, size):
    from ..ops.reduce import sum as rsum

    (g,) = phys
    nd = len(_shape(g))
    return rsum(g, (1,) + tuple(range(3, nd)), False)


def _unfold(p, phys, bd, kw, size):
    if any(bd[1:]):
        return None
    out = p.wrapper(_fold_front(phys[0]), *phys[1:], **kw)
    return _unfold_front(out, size)


def _fold(p, phys, bd, kw, size):
    return _unfold(p, phys, bd, kw, size)


# ---- normalisation, embedding, losses --------------------------------------------------------
def _layer_norm(p, phys, bd, kw, size):
    a, bat = _bind(p, phys, bd, kw)
    if bat & {"ndim", "eps"}:
        return None
    x, w, b, ndim, eps = a["x"], a["weight"], a["bias"], a["ndim"], a["eps"]
    if not bat & {"weight", "bias"}:
        return p.wrapper(x, w, b, ndim, eps)
    x = _full(x, "x" in bat, size)
    lead = len(_shape(x)) - 1 - ndim  # the logical leading axes a batched weight skips
    wb = [(v, n in bat) for v, n in ((w, "weight"), (b, "bias"))]
    y = p.wrapper(x, *[None if is_b else v for v, is_b in wb], ndim, eps)
    if "weight" in bat:
        y = y * _b._pad(w, lead)
    if "bias" in bat:
        y = y + _b._pad(b, lead)
    return y


def _embedding(p, phys, bd, kw, size):
    from ..ops.shape import swapaxes

    a, bat = _bind(p, phys, bd, kw)
    weight, idx, pad = a["weight"], a["indices"], a["padding_idx"]
    if "padding_idx" in bat or (isinstance(idx, Tensor) and idx._level):
        return None  # an index batched by an outer vmap too: the per-slice rule
    if isinstance(idx, Tensor):
        idx = idx.data
    if "weight" not in bat:
        return p.wrapper(weight, idx, pad)  # (B, ...) indices pick rows as they are
    if "indices" in bat:
        if pad is not None:
            return None
        # rows of the (B V, D) table: example b's index i is row b V + i
        v = _shape(weight)[1]
        raw = idx
        xp = _xp(raw)
        off = (xp.arange(size) * v).reshape((size,) + (1,) * (raw.ndim - 1))
        return p.wrapper(_fold_front(weight), raw + off, None)
    # an unbatched index into a batched table: the batch goes beside the features
    ws = _shape(weight)
    table = _reshape(swapaxes(weight, 0, 1), (ws[1], size * ws[2]))
    out = p.wrapper(table, idx, pad)
    s = _shape(out)
    return _b.move_to_front(_reshape(out, s[:-1] + (size, ws[2])), len(s) - 1)


def _xp(raw):
    from ..backend.device import xp_of

    return xp_of(raw)


def _ce_rows(p, phys, bd, kw, size):
    a, bat = _bind(p, phys, bd, kw)
    if bat - {"x"}:
        return None  # batched targets: F.cross_entropy's one-hot composite handles them
    x, t, ignore = a["x"], a["target"], a["ignore"]
    n = _shape(x)[1]
    tt = _xp(t).tile(t, size) if hasattr(t, "shape") else t
    out = p.wrapper(_fold_front(x), tt, ignore)
    return _reshape(out, (size, n))


def _ce_mean(p, phys, bd, kw, size):
    from ..nn.functional import _cross_entropy_rows, _kept_rows
    from ..ops.reduce import sum as rsum

    a, bat = _bind(p, phys, bd, kw)
    if bat - {"x"}:
        return None
    x, t, ignore = a["x"], a["target"], a["ignore"]
    rows = _ce_rows(_cross_entropy_rows.prim, [x, t, ignore], [True, False, False], {}, size)
    return rsum(rows, (1,), False) / _kept_rows(t, ignore, _b.physical_raw(x))


# ---- scatters and gathers ---------------------------------------------------------------------
def _parts(idx):
    return idx if isinstance(idx, tuple) else (idx,)


def _advanced_lead(parts):
    """Where numpy puts the advanced-index dimensions of ``x[(slice(None),) + parts]``
    relative to the logical answer: None when they stay in place (adjacent), else the
    number of their dimensions (they went first, before the batch)."""
    adv = []
    for k, q in enumerate(parts):
        if q is None or q is Ellipsis or isinstance(q, slice):
            continue
        adv.append((k, () if isinstance(q, (int, np.integer)) else _shape(q)))
    if not adv:
        return None
    pos = [k for k, _ in adv]
    if max(pos) - min(pos) + 1 == len(pos):
        return None
    if all(s == () for _, s in adv):
        return None  # ints only: basic indexing
    return len(np.broadcast_shapes(*(s for _, s in adv)))


def _plain_index(parts):
    for q in parts:
        if isinstance(q, Tensor) and q._level:
            return False
        if isinstance(q, (bool, np.bool_)):
            return False
        if q is not None and q is not Ellipsis and not isinstance(q, (slice, int, np.integer)):
            if getattr(q, "dtype", np.dtype(np.int64)).kind == "b":
                return False
    return True


def _untake(p, phys, bd, kw, size):
    a, bat = _bind(p, phys, bd, kw)
    if bat != {"g"}:
        return None
    g, idx, shape = a["g"], a["idx"], a["shape"]
    parts = _parts(idx)
    if not _plain_index(parts) or Ellipsis in [q for q in parts if q is Ellipsis]:
        return None
    lead = _advanced_lead(parts)
    if lead is not None:  # the cotangent's advanced dims lie first: put the batch after them
        g = _b.move_from_front(g, lead)
    return p.wrapper(g, (slice(None),) + parts, (size,) + tuple(shape))


def _zero_at(p, phys, bd, kw, size):
    if any(bd[1:]) or kw:
        return None
    parts = _parts(phys[1])
    if any(q is Ellipsis for q in parts) or any(isinstance(q, Tensor) and q._level
                                                for q in parts):
        return None
    return p.wrapper(phys[0], (slice(None),) + parts)


_b.RULES.update({
    "conv2d": _conv2d, "conv2d_input_grad": _conv2d_input_grad,
    "conv2d_weight_grad": _conv2d_weight_grad, "channel_sum": _channel_sum,
    "unfold": _unfold, "fold": _fold, "_layer_norm": _layer_norm, "_embedding": _embedding,
    "_cross_entropy_rows": _ce_rows, "_cross_entropy_mean": _ce_mean, "untake": _untake,
    "zero_at": _zero_at,
})
