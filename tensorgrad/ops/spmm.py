"""The sparse (COO) @ dense product as one primitive, for ``tensorgrad.sparse``.

``spmm(values, dense, plan)`` is ``sum_k values[k] * dense[cols[k]]`` into row ``rows[k]`` of an
(n, p) result, bilinear in ``values`` and ``dense``. Its rules are itself and two gathers: the
VJP for ``dense`` is the product by the transposed matrix, the one for ``values`` the row-wise
dot products ``(g[rows] * dense[cols]).sum(1)``, and the JVPs are products again, so every
derivative order and forward mode follow.

Why a primitive and not ``untake(getitem(dense, cols) * values, rows)``: the composition's
scatter-add is NumPy's ``bincount`` per column (``add.at`` is slower still), 25 ms of a 31 ms
product on a 10,000 x 10,000 matrix with 100,000 nonzeros times (10,000, 64) float32, single
thread. Here the host adds whole rows instead: the entries grouped by row, rows ordered by
their number of entries, step ``j`` adds the ``j``-th entry of every row that has one, into a
leading slice of the accumulator (ELL order, computed once per sparsity pattern and kept in
the plan); 3.5 ms for the same product. On CuPy the scatter-add is ``untake``'s (``add.at``).
"""

import weakref

import numpy as np

from ..backend.device import xp_of
from .index import getitem, untake
from .registry import defjvp, defvjp, primitive

_MIN_ROWS = 16  # a step that adds fewer rows goes to the one scatter-add of the tail


class SpmmPlan:
    """The pattern of a sparse (n, m) matrix: ``rows``, ``cols`` (int64 arrays on its device)
    and ``shape``; on the host also its ELL order, built on first use."""

    __slots__ = ("rows", "cols", "shape", "_ell", "_t", "_back", "__weakref__")

    def __init__(self, rows, cols, shape):
        self.rows, self.cols, self.shape = rows, cols, (int(shape[0]), int(shape[1]))
        self._ell = None
        self._t = None
        self._back = None  # the plan this one transposes, weakly: no reference cycle

    @property
    def T(self):
        """The plan of the transposed matrix (kept: the backward pass of every product)."""
        if self._t is not None:
            return self._t
        back = self._back() if self._back is not None else None
        if back is not None:
            return back
        self._t = SpmmPlan(self.cols, self.rows, self.shape[::-1])
        self._t._back = weakref.ref(self)
        return self._t

    def ell(self):
        """(entries, cols of the entries, rows added per step, tail entries, their accumulator
        rows, the row of each accumulator row); NumPy only."""
        if self._ell is None:
            self._ell = _ell_order(self.rows, self.cols, self.shape[0])
        return self._ell


def _ell_order(rows, cols, n):
    counts = np.bincount(rows, minlength=n)
    order = np.argsort(rows, kind="stable")
    starts = np.zeros(n, dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    seg = np.argsort(-counts, kind="stable")  # rows, most entries first
    cs, st = counts[seg], starts[seg]
    most = int(cs[0]) if n else 0
    active = np.searchsorted(-cs, -np.arange(most), side="left")  # rows with more than j
    steps = int(np.searchsorted(-active, -_MIN_ROWS, side="right"))  # steps of >= _MIN_ROWS
    active = active[:steps]
    ent = np.concatenate([order[st[:a] + j] for j, a in enumerate(active.tolist())] or
                         [np.zeros(0, dtype=np.int64)])
    # the entries past ``steps`` of the longest rows: one scatter-add
    long_rows = int((cs > steps).sum())
    extra = cs[:long_rows] - steps
    total = int(extra.sum())
    first = np.repeat(np.cumsum(extra) - extra, extra)
    at = np.arange(total) - first + np.repeat(st[:long_rows] + steps, extra)
    tail = order[at]
    tail_acc = np.repeat(np.arange(long_rows), extra)
    return ent, cols[ent], active.tolist(), tail, tail_acc, seg


@primitive
def spmm(values, dense, plan):
    """``sparse @ dense`` for the sparse matrix of ``plan`` with ``values``: (n, p)."""
    n, p = plan.shape[0], dense.shape[1]
    xp = xp_of(dense)
    if xp is not np:
        return untake(dense[plan.cols] * values[:, None], plan.rows, (n, p))
    dtype = np.result_type(values.dtype, dense.dtype)
    ent, ent_cols, active, tail, tail_acc, seg = plan.ell()
    acc = np.zeros((n, p), dtype=dtype)
    vals = values[ent]
    at = 0
    for a in active:
        acc[:a] += dense[ent_cols[at:at + a]] * vals[at:at + a, None]
        at += a
    if tail.shape[0]:
        part = dense[plan.cols[tail]] * values[tail][:, None]
        acc += untake(part.astype(dtype, copy=False), tail_acc, (n, p))
    out = np.empty_like(acc)
    out[seg] = acc
    return out


def _rowdot(g, dense, plan):
    """d/d values: each entry's output row of ``g`` dotted with its dense row."""
    return (getitem(g, plan.rows) * getitem(dense, plan.cols)).sum(axis=1)


defvjp(spmm,
       lambda g, ans, values, dense, plan: _rowdot(g, dense, plan),
       lambda g, ans, values, dense, plan: spmm(values, g, plan.T))
defjvp(spmm,
       lambda t, ans, values, dense, plan: spmm(t, dense, plan),
       lambda t, ans, values, dense, plan: spmm(values, t, plan))
