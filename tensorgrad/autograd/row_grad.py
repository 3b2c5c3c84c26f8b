"""A cotangent that is nonzero in a few rows only: what an ``Embedding(sparse=True)`` lookup
sends to its weight during ``backward``.

``RowGrad(rows, values, shape)`` stands for the array of ``shape`` that is zero except where
``values[k]`` is added at row ``rows[k]`` (rows may repeat; their values add up). The backward
pass hands it on as it is, and a leaf receives it as a sparse COO ``.grad`` (PyTorch's
``Embedding(sparse=True)``): the lookup's indices in order, one row of values per index,
uncoalesced. Wherever a dense array is needed instead (a sum with a dense cotangent, the
function API's gradients) ``dense()`` scatter-adds it, once.
"""

import numpy as np

from ..backend.device import xp_of


class RowGrad:
    """Rows ``rows`` (1-D int64) of an array of ``shape``, holding ``values`` (one row each,
    shape ``(len(rows),) + shape[1:]``); every other row is zero."""

    __slots__ = ("rows", "values", "shape", "dtype")
    __array_ufunc__ = None  # never taken for an array by NumPy (or CuPy) by mistake

    def __init__(self, rows, values, shape):
        self.rows = rows
        self.values = values
        self.shape = tuple(shape)
        self.dtype = values.dtype

    @property
    def ndim(self):
        return len(self.shape)

    def dense(self):
        """The array it stands for (repeated rows added up)."""
        from ..ops.index import untake

        return untake(self.values, self.rows, self.shape)

    def sparse_tensor(self, owned):
        """The sparse COO tensor (sparse_dim 1, uncoalesced) PyTorch gives such a leaf as its
        ``.grad``; ``owned``: the values array may be kept as it is (else it is copied)."""
        from ..sparse import _const, _make

        rows = self.rows.astype(np.int64, copy=False).reshape(1, -1)
        values = self.values if owned else self.values.copy()
        return _make(rows, _const(values), self.shape, False)


def densified(g):
    """``g`` itself, or the array a RowGrad stands for."""
    return g.dense() if type(g) is RowGrad else g


def sum_with_rows(a, b):
    """``a + b`` where one or both are RowGrads: a RowGrad if both are (their rows
    concatenated, as PyTorch accumulates sparse gradients), else a new dense array or Tensor."""
    if type(a) is RowGrad and type(b) is RowGrad:
        xp = xp_of(a.values)
        return RowGrad(xp.concatenate([a.rows, b.rows]),
                       xp.concatenate([a.values, b.values.astype(a.dtype, copy=False)]),
                       a.shape)
    return densified(a) + densified(b)
