"""Indexing: getitem, its adjoint (scatter-add of a cotangent), and setitem on the tape."""

import numpy as np

from ..autograd.grad_mode import _state
from ..autograd.graph import Node, bump_version
from ..backend.device import xp_of
from ..tensor import Tensor, _check_no_overlap, _raw
from .registry import Primitive, defjvp, defvjp, op_error, primitive


def raw_index(idx):
    """An index with every Tensor in it replaced by its array."""
    if isinstance(idx, Tensor):
        return idx.data
    if isinstance(idx, tuple):
        return tuple(raw_index(i) for i in idx)
    if isinstance(idx, list) and any(isinstance(i, Tensor) for i in idx):
        return [raw_index(i) for i in idx]
    return idx


def _is_basic(idx):
    parts = idx if isinstance(idx, tuple) else (idx,)
    for p in parts:
        if not (p is None or p is Ellipsis or isinstance(p, (int, slice))):
            return False
    return True


@primitive(saves=False, view=lambda raw: _is_basic(raw[1]))  # advanced indexing copies
def getitem(x, idx):
    return x[idx]


@primitive(saves=False)
def untake(g, idx, shape):
    """Zeros of ``shape`` with ``g`` added at ``idx`` (repeated indices add up)."""
    xp = xp_of(g)
    if _is_basic(idx):
        out = xp.zeros(shape, dtype=g.dtype)
        out[idx] = g
    elif g.dtype.kind == "c" and xp is not np:
        # CuPy's add.at takes real dtypes only (int32/64, uint32/64, float16/32/64)
        return untake(g.real, idx, shape) + 1j * untake(g.imag, idx, shape)
    elif xp is not np and g.dtype.kind in "biu" and g.dtype.itemsize < 4:
        # nor bool or 8/16-bit integers: add in int64 and cast back (wrapping as NumPy's
        # add.at does); bools that add up are true (NumPy's add.at of bools is a logical or)
        wide = untake(g.astype(xp.int64), idx, shape)
        return wide != 0 if g.dtype.kind == "b" else wide.astype(g.dtype)
    elif xp is np and g.size >= _FLAT_AT and (k := _flat_form(idx, shape, g.shape)) is not None:
        if k == 0 and g.size >= _CSR_AT and type(idx) is np.ndarray and \
                (out := _rows_by_csr(g, idx, shape)) is not None:
            return out
        return _flat_add_at(g, idx, shape, k)
    else:
        out = xp.zeros(shape, dtype=g.dtype)
        xp.add.at(out, idx, g)
    return out


_AT_EXACT = frozenset(["int32", "int64", "uint32", "uint64"])


def extreme_at(out, idx, vals, largest=True):
    """``maximum.at(out, idx, vals)`` (``minimum.at`` unless ``largest``), in place, as NumPy's
    on both devices: repeated indices keep the extreme, NaN wins. CuPy's float atomics compare
    with ``fmaxf``/``fminf`` (``cupy/_core/include/cupy/atomics.cuh``): float64 is rounded
    through float32 and NaN is skipped; float16 and the small ints have no atomic at all. On
    CuPy floats therefore go through integers of the same order (a float's bits as a signed
    integer, with all bits but the sign flipped where it is negative; NaN the extreme one)."""
    xp = xp_of(out)
    ufunc = xp.maximum if largest else xp.minimum
    if xp is np or out.dtype.name in _AT_EXACT:
        ufunc.at(out, idx, vals)
        return
    if out.dtype.kind != "f":  # bool, int8/16, uint8/16: exact in int32
        work = out.astype(np.int32)
        ufunc.at(work, idx, vals.astype(np.int32, copy=False))
        out[...] = work.astype(out.dtype, copy=False)
        return
    real = np.dtype(np.float32) if out.dtype.itemsize < 4 else out.dtype  # float16 exactly
    keys = _ordered_keys(out.astype(real, copy=False), largest)
    ufunc.at(keys, idx, _ordered_keys(vals.astype(real, copy=False), largest))
    flip = keys.dtype.type(np.iinfo(keys.dtype).max)
    out[...] = xp.where(keys < 0, keys ^ flip, keys).view(real).astype(out.dtype, copy=False)


def _ordered_keys(a, largest):
    """Integers ordered as the floats ``a`` are; NaN the largest (or smallest) of all, and back
    a NaN again."""
    xp = xp_of(a)
    it = np.dtype(f"int{8 * a.dtype.itemsize}")
    bits = a.view(it)
    keys = xp.where(bits < 0, bits ^ it.type(np.iinfo(it).max), bits)
    nan = it.type(np.iinfo(it).max if largest else np.iinfo(it).min)
    return xp.where(xp.isnan(a), nan, keys)


def _parts(idx):
    return idx if isinstance(idx, tuple) else (idx,)


def _flat_form(idx, shape, gshape):
    """k when ``idx`` is k >= 0 whole slices, then integer arrays (adjacent: their broadcast
    shape takes their place in the result, of shape ``gshape``), with something left to
    index as a row or a slice (for integer arrays alone over every axis ``add.at`` already
    runs its fast loop); else None."""
    parts = _parts(idx)
    k = 0
    while k < len(parts) and type(parts[k]) is slice and parts[k] == slice(None):
        k += 1
    arrays = parts[k:]
    if not arrays or len(parts) > len(shape) or (k == 0 and len(parts) == len(shape)):
        return None
    if not all(type(p) is np.ndarray and p.dtype.kind in "iu" for p in arrays):
        return None
    lead = np.broadcast_shapes(*(p.shape for p in arrays))
    if gshape != tuple(shape[:k]) + lead + tuple(shape[len(parts):]):
        return None
    return k


_FLAT_AT = 512  # cotangent entries from which ``_flat_add_at`` pays
_FLAT_CHUNK = 1 << 15  # entries per add.at call of ``_flat_add_at``


_CSR_AT = 1 << 15  # cotangent entries from which ``_rows_by_csr`` pays
_SPARSE = []  # [scipy.sparse or None], looked for once


def _rows_by_csr(g, rows, shape):
    """``add.at(zeros(shape), rows, g)`` for one index array over the first axis (an
    embedding's backward, ``x[i]``'s) as a product with the (rows, entries) 0/1 matrix in
    SciPy's CSR form, or None without SciPy (an optional dependency). Each output row adds its
    entries in their order, as ``add.at`` does, so the numbers are the same. NumPy 2.4 against
    this, in us, float32, rows of width D from a table of V, N looked up: V 1000, D 64,
    N 20000: 2330 / 611; V 100, D 300, N 4096: 2063 / 411; V 50000, D 128, N 4096:
    2388 / 1386 (below ``_CSR_AT`` entries, or rows narrower than 4, ``add.at`` is faster;
    SciPy has no float16)."""
    if not _SPARSE:
        try:
            import scipy.sparse as sparse
        except ImportError:
            sparse = None
        _SPARSE.append(sparse)
    sparse = _SPARSE[0]
    n = rows.size
    trail = g.size // max(n, 1)
    if sparse is None or trail < 4 or g.dtype.char not in "fdFD" or not n:
        return None
    flat = rows.reshape(-1)
    if flat.min() < 0:  # NumPy's negative indices
        flat = np.where(flat < 0, flat + shape[0], flat)
    m = sparse.csr_matrix((np.ones(n, g.dtype), (flat, np.arange(n))), shape=(shape[0], n))
    return np.asarray(m @ g.reshape(n, trail), dtype=g.dtype).reshape(shape)


def _flat_add_at(g, idx, shape, k):
    """NumPy's ``add.at(zeros(shape), idx, g)`` for ``idx`` of k whole slices and then index
    arrays (``_flat_form``: an embedding's backward, ``x[:, i, j]``), as ``add.at`` of single
    entries at flat positions, in the cotangent's order and a chunk of ``_FLAT_CHUNK`` at a
    time: the same additions in the same order, so the same numbers. NumPy's one-dimensional
    ``add.at`` loop costs a few ns an entry; on rows it costs ~400 ns a row, and with slices
    first it takes its slow general loop. Measured on NumPy 2.4, float32, in us, NumPy's
    against this: (V, D) table, rows looked up: (50000, 128), 4096: 4754 / 2223;
    (1000, 64), 20000: 8392 / 2416; (100, 300), 4096: 7944 / 2154; (100, 8), 256:
    17.6 / 8.0, and below ``_FLAT_AT`` entries ((100, 8), 16: 2.1 / 4.2) NumPy's is faster;
    bilinear upsampling's backward, 4 corners of (16, 16, 64, 64) from (16, 16, 32, 32):
    46 / 9 ms."""
    parts = _parts(idx)
    arrays = parts[k:]
    m = len(arrays)
    trail = int(np.prod(shape[k + m:]))
    per_lead = int(np.prod(shape[k:k + m]))  # output rows (of ``trail``) per leading position
    pos = np.ravel_multi_index(np.broadcast_arrays(*arrays), shape[k:k + m], mode="wrap")
    pos = pos.reshape(-1)
    npos = pos.shape[0]
    n_lead = g.size // max(1, npos * trail)  # leading (sliced) positions
    g2 = g.reshape(n_lead * npos, trail)
    cols = np.arange(trail)
    out = np.zeros(int(np.prod(shape)), dtype=g.dtype)
    step = max(1, _FLAT_CHUNK // max(1, trail))  # cotangent rows per add.at call

    def add(rows, q0, q1):
        flat = rows if trail == 1 else (rows.reshape(-1, 1) * trail + cols).reshape(-1)
        np.add.at(out, flat, g2[q0:q1].reshape(-1))

    if npos >= step:  # a chunk of one leading position's rows at a time
        for lead in range(n_lead):
            for a0 in range(0, npos, step):
                a1 = min(npos, a0 + step)
                add(lead * per_lead + pos[a0:a1], lead * npos + a0, lead * npos + a1)
    else:  # whole leading positions at a time
        per_call = step // npos
        for l0 in range(0, n_lead, per_call):
            l1 = min(n_lead, l0 + per_call)
            rows = (np.arange(l0, l1).reshape(-1, 1) * per_lead + pos).reshape(-1)
            add(rows, l0 * npos, l1 * npos)
    return out.reshape(shape)


@primitive(saves=False)
def zero_at(g, idx):
    """``g`` with the elements at ``idx`` set to zero (a copy)."""
    out = g.copy()
    out[idx] = 0
    return out


defvjp(getitem, lambda g, ans, x, idx: untake(g, idx, x.shape))
defjvp(getitem, lambda t, ans, x, idx: getitem(t, idx))
defvjp(untake, lambda g, ans, gin, idx, shape: getitem(g, idx))
defjvp(untake, lambda t, ans, gin, idx, shape: untake(t, idx, shape))
defvjp(zero_at, lambda g, ans, x, idx: zero_at(g, idx))
defjvp(zero_at, lambda t, ans, x, idx: zero_at(t, idx))


def _setitem_fwd(x, idx, v):  # never called: setitem writes in place, see below
    raise AssertionError


SETITEM = Primitive(_setitem_fwd, "setitem", saves=False)
SETITEM.vjps = (lambda g, ans, x, idx, v: zero_at(g, idx), None,
                lambda g, ans, x, idx, v: getitem(g, idx))
SETITEM.jvps = (lambda t, ans, x, idx, v: zero_at(t, idx), None,
                lambda t, ans, x, idx, v: untake(_broadcast_to(t, x[idx].shape), idx, x.shape))


def _broadcast_to(t, shape):
    from .shape import broadcast_to

    return t if t.shape == shape else broadcast_to(t, shape)


def setitem(t, idx, value):
    """``t[idx] = value``, in place; on the tape the old ``t`` and ``value`` both get gradients."""
    ridx = raw_index(idx)
    vrg = isinstance(value, Tensor) and value._rg
    recording = _state.enabled and (t._rg or vrg)
    if 0 in t.data.strides:  # PyTorch's check: the written region must not overlap itself;
        # on the tape the whole tensor (_rebase_view's scatter needs distinct elements)
        _check_no_overlap(t.data[ridx] if _is_basic(ridx) and not recording else t.data,
                          "setitem")
    t._check_inplace("setitem", recording)
    if t._level or (isinstance(value, Tensor) and value._level):
        from ..autograd.forward import setitem_at_level

        return setitem_at_level(t, ridx, value)
    v = _raw(value)
    if recording and hasattr(v, "dtype") and v.dtype.kind == "c" and t.dtype.kind != "c":
        raise TypeError("setitem: cannot write complex values into a real tensor")
    try:
        t.data[ridx] = v
    except Exception as e:
        raise op_error(SETITEM, (t, value), e) from e
    bump_version(t._vc)
    if recording:
        old = (t._node or t) if t._rg else None
        parents = (old, None, (value._node or value) if vrg else None)
        t._node = Node(SETITEM, parents, (t.data, ridx, v), None, None, None, None)
        t._rg = True
        t._after_recorded_write(t.data[ridx] if _is_basic(ridx) else None)
