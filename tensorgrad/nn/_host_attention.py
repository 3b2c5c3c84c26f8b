"""``scaled_dot_product_attention`` on the host as one primitive, a block of query rows at a
time (float32/float64 NumPy arrays, no mask but the causal one, no dropout).

Composed of ops, attention materialises the (..., L, S) scores and probabilities, keeps them
for the backward, and with ``is_causal`` computes every score and then masks half of them.
Here the forward runs over blocks of query rows: a block's scores against the keys it may see
(causal: only those up to its last row, so the masked half is never computed), a softmax by
its row maximum, and the block's output; it keeps behind its answer only each row's
log-sum-exp. The backward recomputes each block's probabilities from those and makes
dq, dk and dv with the usual formulas (dS = P (dP - rowsum(dO O))), so no (L, S) array
outlives a block. Under ``create_graph`` and in forward mode the rules are the composition's
(``ops.composed_rules``), so derivatives of any order follow.
"""

import numpy as np

from ..ops.composed_rules import answer_and_kept, define_rules, saved_behind
from ..ops.registry import primitive

_FAST = (np.dtype(np.float32), np.dtype(np.float64))
_BLOCK_SCORES = 1 << 22  # scores per block (all batch and head entries together): 16 MiB
_MIN_ROWS = 128  # query rows per block at least: smaller GEMMs waste BLAS's time


def fits(query, key, value):
    """NumPy arrays of one float32/64 dtype, 2-D or more, with matching leading dimensions."""
    first = query.dtype
    return (all(type(a) is np.ndarray and a.dtype == first for a in (query, key, value))
            and first in _FAST and query.shape[:-2] == key.shape[:-2] == value.shape[:-2]
            and query.shape[-2] > 0 and key.shape[-2] > 0)


def _blocks(query, key):
    """(start, end of the keys it sees) of each block of query rows."""
    lead = int(np.prod(query.shape[:-2]))
    length, keys = query.shape[-2], key.shape[-2]
    # at least four blocks where BLAS allows: a causal block skips the keys after its rows
    rows = min(length, max(_MIN_ROWS, min(_BLOCK_SCORES // max(1, lead * keys),
                                          -(-length // 4))))
    return [(i0, min(length, i0 + rows)) for i0 in range(0, length, rows)]


def _scores(qs, key_t, i0, i1, causal):
    """The block's scaled scores (..., i1 - i0, end) against the keys it may see, causal
    positions (key after query) at -inf, and ``end``."""
    end = min(i1, key_t.shape[-1]) if causal else key_t.shape[-1]
    s = qs[..., i0:i1, :] @ key_t[..., :end]
    if causal and end > i0 + 1:  # -inf where the key comes after the query: one added pass
        later = np.arange(end)[None, :] > np.arange(i0, i1)[:, None]
        s += np.where(later, -np.inf, 0).astype(s.dtype)
    return s, end


@primitive
def attention(query, key, value, *, scale, causal):
    """softmax(query key^T scale (+ the causal mask)) value, on the host in blocks."""
    lead, length = query.shape[:-2], query.shape[-2]
    rows = int(np.prod(lead)) * length
    out, lse = answer_and_kept(query.dtype, lead + (length, value.shape[-1]), (rows, 1))
    if lse is not None:
        lse = lse.reshape(lead + (length,))
    dtype = query.dtype.type
    qs = query * dtype(scale)
    key_t = np.swapaxes(key, -1, -2)
    with np.errstate(over="ignore", invalid="ignore"):
        for i0, i1 in _blocks(query, key):
            s, end = _scores(qs, key_t, i0, i1, causal)
            m = s.max(-1, keepdims=True)
            s -= m
            np.exp(s, out=s)
            total = s.sum(-1, keepdims=True)
            block = out[..., i0:i1, :]
            np.matmul(s, value[..., :end, :], out=block)
            block /= total
            if lse is not None:
                lse[..., i0:i1] = (m + np.log(total))[..., 0]
    return out


def _first_order(g, ans, query, key, value, scale, causal):
    """(dq, dk, dv) from the row log-sum-exps kept behind the answer, or None (the answer was
    copied: the composition's rule then)."""
    if not (type(g) is np.ndarray and g.dtype == ans.dtype and fits(query, key, value)):
        return None
    lead, length = query.shape[:-2], query.shape[-2]
    lse = saved_behind(ans, int(np.prod(lead)) * length, 1)
    if lse is None:
        return None
    lse = lse.reshape(lead + (length, 1))
    dtype = query.dtype.type
    qs = query * dtype(scale)
    key_t = np.swapaxes(key, -1, -2)
    value_t = np.swapaxes(value, -1, -2)
    delta = np.sum(g * ans, -1, keepdims=True)  # rowsum(dO O)
    dq = np.empty_like(query)
    dk = np.zeros_like(key)
    dv = np.zeros_like(value)
    with np.errstate(over="ignore", invalid="ignore"):
        for i0, i1 in _blocks(query, key):
            p, end = _scores(qs, key_t, i0, i1, causal)
            p -= lse[..., i0:i1, :]
            np.exp(p, out=p)  # the probabilities, recomputed
            gb = g[..., i0:i1, :]
            dv[..., :end, :] += np.swapaxes(p, -1, -2) @ gb
            ds = gb @ value_t[..., :end]  # dP
            ds -= delta[..., i0:i1, :]
            ds *= p  # dS
            np.matmul(ds, key[..., :end, :], out=dq[..., i0:i1, :])
            dk[..., :end, :] += np.swapaxes(ds, -1, -2) @ query[..., i0:i1, :]
    dq *= dtype(scale)
    dk *= dtype(scale)
    return dq, dk, dv


def _composed(query, key, value, scale, causal):
    from ._functional_conv_attn import _attend

    return _attend(query, key, value, None, 0.0, causal, scale,
                   "scaled_dot_product_attention")[0]


define_rules(attention, _composed, _first_order, 3)
