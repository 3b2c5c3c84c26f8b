"""Compressed sparse layouts, as PyTorch's ``torch.sparse_csr_tensor`` / ``sparse_csc_tensor``.

A CSR matrix (``layout == tg.sparse_csr``) is ``crow_indices`` (n + 1 offsets), ``col_indices``
and ``values`` (nnz each); CSC (``tg.sparse_csc``) the same with the roles of rows and columns
swapped (``ccol_indices``, ``row_indices``). 2-D matrices only (no batch or dense dims).

One mechanism with the COO layout: ``SparseCompressedTensor`` is a ``SparseTensor`` whose COO
row/column indices (the compressed ones expanded, in the values' own order) are kept next to
the compressed arrays, so the sparse @ dense product is the COO product's primitive
(``ops/spmm.py``: the same rules, every order, forward mode) and its pattern plan, to_dense is
the same scatter-add, and a leaf's ``.grad`` is the gradient of its values, given on the leaf's
own pattern (a CSR/CSC tensor with the same indices). PyTorch 2.13 gives that sparse gradient
for ``torch.sparse.mm``, ``torch.sparse.addmm`` and ``to_dense``, but a full dense (unmasked)
matrix for ``@``, ``torch.mm`` and ``torch.addmm``; here every product gives the sparse one
(its values are the dense gradient at the pattern), as the COO layout here does.

The index invariants are always checked (offsets start at 0, end at nnz, never decrease;
plain indices in range; lengths agree), cheaply, on the device; sorted and distinct plain
indices within each compressed row are checked when ``check_invariants=True`` or inside
``tg.sparse.check_sparse_tensor_invariants()`` (PyTorch accepts them unsorted otherwise).

>>> import tensorgrad as tg
>>> a = tg.sparse_csr_tensor([0, 2, 2, 3], [0, 2, 1], [1.0, 2.0, 3.0], (3, 3))
>>> (a @ tg.ones(3, 1)).tolist()
[[3.0], [0.0], [3.0]]
>>> a.to_sparse_csc().row_indices().tolist()
[0, 2, 0]
"""

import functools

import numpy as np

from . import sparse as _sp
from .backend.device import as_device, device_of, to_host, xp_of
from .ops.index import getitem as _getitem
from .sparse import SparseLayoutError, SparseTensor, _as_values, _const, _make, layout
from .tensor import Tensor

sparse_csr = layout("sparse_csr")
sparse_csc = layout("sparse_csc")
sparse_bsr = layout("sparse_bsr")
sparse_bsc = layout("sparse_bsc")

# per layout: (compressed name, plain name, torch's layout word, the compressed dim)
_NAMES = {sparse_csr: ("crow_indices", "col_indices", "SparseCsr", 0),
          sparse_csc: ("ccol_indices", "row_indices", "SparseCsc", 1)}
_WHAT = {sparse_csr: "sparse row compressed", sparse_csc: "sparse column compressed"}

_SUPPORTED = ("@ and tg.mm/addmm/sparse.mm/sparse.addmm with a dense operand, * and / by "
              "numbers, * by a dense tensor, + of sparse or dense tensors, sum(), t, transpose, "
              "to_dense, to_sparse_coo/csr/csc, values, crow/col/ccol/row_indices")


class SparseInvariantError(RuntimeError, ValueError):
    """Indices that break the compressed layout's invariants (a RuntimeError, as PyTorch's,
    and a ValueError, as the COO constructor's errors here)."""


# ---- the invariant-checking switch ------------------------------------------------------------
_CHECK = [False]


class check_sparse_tensor_invariants:
    """Check the invariants of every sparse tensor built inside (as PyTorch's): a context
    manager (``with tg.sparse.check_sparse_tensor_invariants():``), a decorator, or the
    switches ``enable()``, ``disable()`` and ``is_enabled()``. Here it adds the sorted-and-
    distinct check of compressed layouts; the other invariants are always checked."""

    def __init__(self, enable=True):
        self.state = bool(enable)
        self.saved = []

    @staticmethod
    def is_enabled():
        return _CHECK[0]

    @staticmethod
    def enable():
        _CHECK[0] = True

    @staticmethod
    def disable():
        _CHECK[0] = False

    def __enter__(self):
        self.saved.append(_CHECK[0])
        _CHECK[0] = self.state
        return self

    def __exit__(self, *exc):
        _CHECK[0] = self.saved.pop()
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            with check_sparse_tensor_invariants(self.state):
                return fn(*args, **kwargs)

        return wrapped


# ---- index helpers ----------------------------------------------------------------------------
def _compress(major, n):
    """The offsets (n + 1, int64) of entries sorted by ``major`` (an int64 array)."""
    xp = xp_of(major)
    comp = xp.zeros(n + 1, dtype=np.int64)
    if major.shape[0]:
        comp[1:] = xp.cumsum(xp.bincount(major, minlength=n))
    return comp


def _expand(comp, nnz):
    """The compressed index of each entry (int64), from valid offsets ``comp``."""
    xp = xp_of(comp)
    comp = comp.astype(np.int64, copy=False)
    if xp is np:
        return np.repeat(np.arange(comp.shape[0] - 1), np.diff(comp))
    # CuPy's repeat takes host counts only: a search instead, on the device
    return xp.searchsorted(comp, xp.arange(nnz), side="right") - 1


def _coo_of(lay, major, minor):
    """(rows, cols) as a (2, nnz) int64 array."""
    xp = xp_of(major)
    pair = (major, minor) if lay is sparse_csr else (minor, major)
    return xp.stack([a.astype(np.int64, copy=False) for a in pair])


def _make_c(lay, comp, plain, idx, vals, size, sorted_, owned=False, plan=None):
    s = object.__new__(SparseCompressedTensor)
    for name, value in (("_plan", plan), ("_idx", idx), ("_vals", vals),
                        ("_size", tuple(int(n) for n in size)),
                        ("_coal", lay is sparse_csr and bool(sorted_)), ("_owned", bool(owned)),
                        ("_vc", [0]), ("_layout", lay), ("_comp", comp), ("_plain", plain),
                        ("_sorted", bool(sorted_))):
        object.__setattr__(s, name, value)
    return s


def _from_coo(coo, lay):
    """A coalesced 2-D COO tensor in layout ``lay`` (differentiable in the values)."""
    if coo.ndim != 2 or coo.sparse_dim() != 2:
        raise SparseLayoutError(f"to_{lay._name}(): only 2-D sparse matrices (no batch or dense "
                                f"dims) convert to {lay!r}; got shape {coo._size} with "
                                f"sparse_dim {coo.sparse_dim()}")
    c = coo.coalesce()
    rows, cols = c._idx[0], c._idx[1]
    vals = c._vals
    if lay is sparse_csc:
        order = xp_of(rows).argsort(cols * max(c._size[0], 1) + rows)
        rows, cols, vals = rows[order], cols[order], _getitem(vals, order)
    major, minor = (rows, cols) if lay is sparse_csr else (cols, rows)
    n = c._size[_NAMES[lay][3]]
    plan = c._plan if lay is sparse_csr else None
    return _make_c(lay, _compress(major, n), minor, _coo_of(lay, major, minor), vals, c._size,
                   True, plan=plan)


def _layout_arg(lay, op):
    if lay in (sparse_bsr, sparse_bsc):
        raise NotImplementedError(f"{op}(): the block layout {lay!r} is not supported; "
                                  "tensorgrad has sparse_coo, sparse_csr and sparse_csc")
    if lay not in _NAMES:
        raise ValueError(f"{op}(): layout must be tg.sparse_csr or tg.sparse_csc, got {lay!r}")
    return lay


class SparseCompressedTensor(SparseTensor):
    """A 2-D sparse matrix in CSR or CSC layout; build one with ``tg.sparse_csr_tensor``,
    ``tg.sparse_csc_tensor`` or ``dense.to_sparse_csr()``. Dense operations it does not
    support raise ``NotImplementedError`` naming the operation."""

    __slots__ = ("_layout", "_comp", "_plain", "_sorted")
    _SUPPORTED = _SUPPORTED

    def __getattribute__(self, name):
        if name in _OWN_C or name[:2] == "__":
            return object.__getattribute__(self, name)
        if name in _sp._TENSOR_NAMES:
            raise _sp._unsupported(self, name)
        return object.__getattribute__(self, name)

    # ---- attributes ----------------------------------------------------------------------
    @property
    def layout(self):
        return self._layout

    @property
    def is_sparse(self):
        return False  # PyTorch's is_sparse means the COO layout

    @property
    def is_sparse_csr(self):
        return self._layout is sparse_csr

    def sparse_dim(self):
        return 2

    def dense_dim(self):
        return 0

    def _index(self, name, want, arr):
        if self._layout is not want:
            raise RuntimeError(f"{name} expected {_WHAT[want]} tensor layout but got "
                               f"{_NAMES[self._layout][2]}")
        return _const(arr)

    def crow_indices(self):
        return self._index("crow_indices", sparse_csr, self._comp)

    def col_indices(self):
        return self._index("col_indices", sparse_csr, self._plain)

    def ccol_indices(self):
        return self._index("ccol_indices", sparse_csc, self._comp)

    def row_indices(self):
        return self._index("row_indices", sparse_csc, self._plain)

    def values(self):
        """The values (nnz,), on the tape, in the layout's order."""
        return self._vals

    def _coo_only(self, name):
        raise RuntimeError(f"{name} expected sparse coordinate tensor layout but got "
                           f"{_NAMES[self._layout][2]}; convert with .to_sparse_coo()")

    def indices(self):
        self._coo_only("indices")

    def _indices(self):
        self._coo_only("_indices")

    def coalesce(self):
        self._coo_only("coalesce")

    def is_coalesced(self):
        self._coo_only("is_coalesced")

    # ---- autograd ------------------------------------------------------------------------
    @property
    def grad(self):
        """A leaf's gradient: on the leaf's own pattern, in its layout."""
        if not self._owned or self._vals.grad is None:
            return None
        return self._with(_const(self._vals.grad.data))

    @grad.setter
    def grad(self, value):
        SparseTensor.grad.fset(self, value)

    _STATE = SparseTensor._STATE + ("_layout", "_comp", "_plain", "_sorted")

    def _check_data(self, other):
        if not isinstance(other, SparseCompressedTensor):
            raise SparseLayoutError(f"data: a {self._layout._name} tensor's .data can be set "
                                    f"to a compressed sparse tensor only, not a "
                                    f"{type(other).__name__}")

    def _with(self, vals, keep_plan=True):
        return _make_c(self._layout, self._comp, self._plain, self._idx, vals, self._size,
                       self._sorted, plan=self._plan if keep_plan else None)

    def detach(self):
        return self._with(self._vals.detach())

    def clone(self):
        return _make_c(self._layout, self._comp.copy(), self._plain.copy(), self._idx.copy(),
                       self._vals.clone(), self._size, self._sorted)

    def _scaled(self, vals):
        return self._with(vals)

    def _moved(self, vals):
        if vals is self._vals:
            return self
        if vals.device != self.device:
            put = vals.device.put
            return _make_c(self._layout, put(self._comp), put(self._plain), put(self._idx), vals,
                           self._size, self._sorted)
        return self._with(vals)

    # ---- conversion ----------------------------------------------------------------------
    def to_sparse_coo(self):
        """The COO tensor of the same entries (coalesced); differentiable."""
        coo = _make(self._idx, self._vals, self._size, self._coal,
                    plan=self._plan if self._coal else None)
        return coo if self._coal else coo.coalesce()

    def to_sparse_csr(self, dense_dim=None):
        if self._layout is sparse_csr:
            return self
        return _from_coo(self.to_sparse_coo(), sparse_csr)

    def to_sparse_csc(self, dense_dim=None):
        if self._layout is sparse_csc:
            return self
        return _from_coo(self.to_sparse_coo(), sparse_csc)

    def to_sparse(self, sparse_dim=None, *, layout=None, blocksize=None, dense_dim=None):
        if layout is None or layout is _sp.sparse_coo:
            if sparse_dim not in (None, 2):
                raise SparseLayoutError(f"to_sparse(): sparse_dim={sparse_dim} for a "
                                        f"{self._layout._name} matrix; it has 2 sparse dims")
            return self.to_sparse_coo()
        lay = _layout_arg(layout, "to_sparse")
        return self.to_sparse_csr() if lay is sparse_csr else self.to_sparse_csc()

    def to_sparse_bsr(self, blocksize=None, dense_dim=None):
        _layout_arg(sparse_bsr, "to_sparse_bsr")

    def to_sparse_bsc(self, blocksize=None, dense_dim=None):
        _layout_arg(sparse_bsc, "to_sparse_bsc")

    # ---- shape ---------------------------------------------------------------------------
    def transpose(self, dim0, dim1):
        """The transpose in the other compressed layout (CSR <-> CSC), sharing the indices and
        the values, as PyTorch's."""
        d0, d1 = _sp._dim(self, dim0, "transpose"), _sp._dim(self, dim1, "transpose")
        if d0 == d1:
            return self
        other = sparse_csc if self._layout is sparse_csr else sparse_csr
        plan = self._plan.T if self._plan is not None else None
        return _make_c(other, self._comp, self._plain, self._idx[::-1], self._vals,
                       self._size[::-1], self._sorted, plan=plan)

    # ---- arithmetic ----------------------------------------------------------------------
    def __add__(self, other):
        if isinstance(other, SparseTensor):
            if isinstance(other, SparseCompressedTensor):
                other = other.to_sparse_coo()
            out = SparseTensor.__add__(self.to_sparse_coo(), other)
            return _from_coo(out, self._layout)
        return SparseTensor.__add__(self, other)

    __radd__ = add = __add__

    def sum(self, dim=None, keepdim=False, dtype=None):
        if dim is not None or keepdim:
            raise SparseLayoutError(f"sum(): only the sum of all entries is supported for a "
                                    f"{self._layout._name} tensor (shape {self._size}); "
                                    "convert with .to_sparse_coo() to sum over a dim")
        vals = self._vals if dtype is None else self._vals.to(dtype)
        return vals.sum()

    def __repr__(self):
        pad = " " * 7
        comp_name, plain_name = _NAMES[self._layout][:2]
        parts = [f"{comp_name}={_const(to_host(self._comp))!r}",
                 f"{plain_name}={_const(to_host(self._plain))!r}",
                 f"values={self._vals.detach()!r}"]
        extra = ""
        if self.device.type != "cpu":
            extra += f", device='{self.device}'"
        if not self.is_leaf:
            extra += f", grad_fn={self.grad_fn!r}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        body = (",\n" + pad).join(parts)
        return (f"tensor({body}, size={self._size}, nnz={self._nnz()},\n{pad}"
                f"layout={self._layout!r}{extra})")

    __str__ = __repr__


_OWN_C = frozenset(vars(SparseCompressedTensor)) | _sp._OWN


# ---- construction -----------------------------------------------------------------------------
def _index_array(x, op, name):
    arr = _sp._int_indices(x, op)
    if arr.dtype not in (np.int32, np.int64):
        raise SparseInvariantError(f"{op}(): {name} must be int32 or int64, got {arr.dtype}")
    return arr


def sparse_compressed_tensor(compressed_indices, plain_indices, values, size=None, *,
                             dtype=None, layout=None, device=None, pin_memory=False,
                             requires_grad=False, check_invariants=None):
    """A 2-D sparse matrix in ``layout`` (``tg.sparse_csr``: compressed rows; or
    ``tg.sparse_csc``: compressed columns), as ``torch.sparse_compressed_tensor``."""
    lay = _layout_arg(layout, "sparse_compressed_tensor")
    return _build(compressed_indices, plain_indices, values, size, dtype, lay, device,
                  requires_grad, check_invariants, "sparse_compressed_tensor")


def sparse_csr_tensor(crow_indices, col_indices, values, size=None, *, dtype=None, device=None,
                      pin_memory=False, requires_grad=False, check_invariants=None):
    """A 2-D CSR matrix: row ``i`` holds ``values[crow_indices[i]:crow_indices[i + 1]]`` at
    the columns ``col_indices[...]`` of the same range. ``size`` defaults to
    (len(crow_indices) - 1, max(col_indices) + 1). Gradients flow to ``values``; with
    ``requires_grad=True`` the matrix is a leaf whose ``.grad`` is CSR on its pattern."""
    return _build(crow_indices, col_indices, values, size, dtype, sparse_csr, device,
                  requires_grad, check_invariants, "sparse_csr_tensor")


def sparse_csc_tensor(ccol_indices, row_indices, values, size=None, *, dtype=None, device=None,
                      pin_memory=False, requires_grad=False, check_invariants=None):
    """A 2-D CSC matrix: column ``j`` holds ``values[ccol_indices[j]:ccol_indices[j + 1]]`` at
    the rows ``row_indices[...]`` of the same range (``sparse_csr_tensor``'s rules)."""
    return _build(ccol_indices, row_indices, values, size, dtype, sparse_csc, device,
                  requires_grad, check_invariants, "sparse_csc_tensor")


def _block_layout(name):
    def fn(*args, **kwargs):
        raise NotImplementedError(f"{name}(): block sparse layouts (BSR, BSC) are not "
                                  "supported; tensorgrad has sparse_coo, sparse_csr and "
                                  "sparse_csc")

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = "Not supported: raises NotImplementedError (block sparse layouts)."
    return fn


sparse_bsr_tensor = _block_layout("sparse_bsr_tensor")
sparse_bsc_tensor = _block_layout("sparse_bsc_tensor")


def _build(comp, plain, values, size, dtype, lay, device, requires_grad, check, op):
    cname, pname, _, cdim = _NAMES[lay]
    vals = _as_values(values, op)
    if dtype is not None:
        vals = vals.to(dtype)
    if device is not None:
        vals = vals.to(as_device(device))
    comp, plain = _index_array(comp, op, cname), _index_array(plain, op, pname)

    def shapes():
        return (f"{cname} of shape {tuple(comp.shape)}, {pname} of shape "
                f"{tuple(plain.shape)}, values of shape {tuple(vals.shape)}"
                + ("" if size is None else f", size {tuple(size)}"))

    def fail(what):
        return SparseInvariantError(f"{op}(): {what} ({shapes()})")

    if comp.dtype != plain.dtype:
        raise fail(f"{cname} and {pname} must have the same dtype, got {comp.dtype} and "
                   f"{plain.dtype}")
    if vals.dtype.kind not in "biufc":
        raise TypeError(f"{op}(): values must be numbers, got dtype {vals.dtype}")
    if comp.ndim != 1 or plain.ndim != 1 or vals.ndim != 1:
        if comp.ndim == plain.ndim and comp.ndim > 1 or vals.ndim > 1:
            raise SparseLayoutError(f"{op}(): batched or hybrid (dense-dim) compressed tensors "
                                    f"are not supported; {cname}, {pname} and values must be "
                                    f"1-D ({shapes()})")
        raise fail(f"{cname}, {pname} and values must be 1-D")
    if plain.shape[0] != vals.shape[0]:
        raise fail(f"{pname}.shape[-1] must be equal to nnz (={vals.shape[0]}) as defined by "
                   f"values.shape[0], but got {plain.shape[0]}")
    if comp.shape[0] < 1:
        raise fail(f"{cname} must hold at least one offset (the number of "
                   f"{'rows' if lay is sparse_csr else 'columns'} + 1)")
    if device_of(comp) != vals.device:
        comp = vals.device.put(comp)  # explicit copies
    if device_of(plain) != vals.device:
        plain = vals.device.put(plain)
    xp = xp_of(comp)
    nnz = int(plain.shape[0])
    stats = [comp[0], comp[-1]]
    if comp.shape[0] > 1:
        step = xp.diff(comp)
        stats += [step.min(), step.max()]
    if nnz:
        stats += [plain.min(), plain.max()]
    stats = to_host(xp.stack([s.astype(np.int64) for s in stats])).tolist()
    if size is None:
        nmajor = comp.shape[0] - 1
        nminor = stats[-1] + 1 if nnz else 0
        size = (nmajor, nminor) if lay is sparse_csr else (nminor, nmajor)
    else:
        if isinstance(size, (str, bytes)) or not hasattr(size, "__iter__") or not all(
                isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in size):
            raise TypeError(f"{op}(): size must be a sequence of ints, got {size!r}")
        size = tuple(int(n) for n in size)
        if len(size) != 2 or min(size) < 0:
            raise SparseLayoutError(f"{op}(): size must be 2 non-negative sizes (rows, "
                                    f"columns); batched or hybrid compressed tensors are not "
                                    f"supported ({shapes()})")
    nmajor, nminor = size[cdim], size[1 - cdim]
    minor_name = "ncols" if lay is sparse_csr else "nrows"
    if comp.shape[0] != nmajor + 1:
        raise fail(f"{cname}.shape[-1] must be equal to the number of "
                   f"{'rows' if lay is sparse_csr else 'columns'} + 1 (={nmajor + 1}), but "
                   f"got {comp.shape[0]}")
    if stats[0] != 0:
        raise fail(f"`{cname}[..., 0] == 0` is not satisfied (it is {stats[0]})")
    if stats[1] != nnz:
        raise fail(f"`{cname}[..., -1] == nnz` is not satisfied ({stats[1]} != {nnz})")
    if nmajor and not 0 <= stats[2] <= stats[3] <= nminor:
        raise fail(f"`0 <= {cname}[..., 1:] - {cname}[..., :-1] <= {minor_name}` is not "
                   f"satisfied (differences from {stats[2]} to {stats[3]}, {minor_name} = "
                   f"{nminor})")
    if nnz and not 0 <= stats[-2] <= stats[-1] < nminor:
        bad = stats[-2] if stats[-2] < 0 else stats[-1]
        raise fail(f"`0 <= {pname} < {minor_name}` is not satisfied ({pname} holds {bad}, "
                   f"{minor_name} = {nminor})")
    major = _expand(comp, nnz)
    minor = plain.astype(np.int64, copy=False)
    sorted_ = True
    if nnz > 1:
        sorted_ = bool(to_host(((minor[1:] > minor[:-1]) | (major[1:] != major[:-1])).all()))
    if not sorted_ and (_CHECK[0] if check is None else check):
        raise fail(f"`{pname}[..., {cname}[..., i - 1]:{cname}[..., i]] for all i = 1, ..., "
                   f"{'nrows' if lay is sparse_csr else 'ncols'} are sorted and distinct "
                   "along the last dimension values` is not satisfied")
    if requires_grad:
        if vals.requires_grad and vals.grad_fn is not None:
            raise RuntimeError(f"{op}(): requires_grad=True with values that have a history; "
                               "pass values.detach() for a leaf, or leave requires_grad off "
                               "to differentiate with respect to the values")
        vals = vals.detach()
    s = _make_c(lay, comp, plain, _coo_of(lay, major, minor), vals, size, sorted_)
    return s.requires_grad_() if requires_grad else s


# ---- dense tensors ----------------------------------------------------------------------------
def _dense_to(self, lay, op):
    if self.ndim != 2:
        raise SparseLayoutError(f"{op}(): only 2-D tensors convert to {lay!r} here (no batch "
                                f"or dense dims); got shape {tuple(self.shape)}")
    xp = xp_of(self.data)
    nz = self.data != 0
    if lay is sparse_csr:
        rows, cols = xp.nonzero(nz)
        major, minor = rows, cols
    else:
        cols, rows = xp.nonzero(nz.T)
        major, minor = cols, rows
    major = major.astype(np.int64, copy=False)
    minor = minor.astype(np.int64, copy=False)
    vals = _getitem(self, (rows, cols))
    n = self.shape[_NAMES[lay][3]]
    return _make_c(lay, _compress(major, n), minor, _coo_of(lay, major, minor), vals,
                   tuple(self.shape), True)


def _to_compressed(self, lay, op):
    lay = _layout_arg(lay, op)
    if isinstance(self, SparseCompressedTensor):
        return self.to_sparse_csr() if lay is sparse_csr else self.to_sparse_csc()
    if isinstance(self, SparseTensor):
        return _from_coo(self, lay)
    return _dense_to(self, lay, op)


def _to_sparse_csr(self, dense_dim=None):
    """The CSR matrix of this 2-D tensor's nonzero entries; differentiable."""
    return _to_compressed(self, sparse_csr, "to_sparse_csr")


def _to_sparse_csc(self, dense_dim=None):
    """The CSC matrix of this 2-D tensor's nonzero entries; differentiable."""
    return _to_compressed(self, sparse_csc, "to_sparse_csc")


def _strided_only(name, want):
    def method(self, *args, **kwargs):
        raise RuntimeError(f"{name} expected {_WHAT[want]} tensor layout but got Strided")

    method.__name__ = method.__qualname__ = name
    return method


def _block_method(name):
    def method(self, *args, **kwargs):
        _layout_arg(sparse_bsr if name.endswith("bsr") else sparse_bsc, name)

    method.__name__ = method.__qualname__ = name
    return method


Tensor.to_sparse_csr = _to_sparse_csr
Tensor.to_sparse_csc = _to_sparse_csc
Tensor.to_sparse_bsr = _block_method("to_sparse_bsr")
Tensor.to_sparse_bsc = _block_method("to_sparse_bsc")
for _name, _want in (("crow_indices", sparse_csr), ("col_indices", sparse_csr),
                     ("ccol_indices", sparse_csc), ("row_indices", sparse_csc)):
    setattr(Tensor, _name, _strided_only(_name, _want))
_sp._refresh_names()


# ---- save / load (tensorgrad/io.py) -----------------------------------------------------------
def _encode(obj, add):
    """The save description of a compressed tensor; ``add(array)`` stores a host array and
    returns its node."""
    host = [to_host(a) for a in (obj._comp, obj._plain)]
    return {"sparse_compressed": obj._layout._name, "compressed": add(host[0]),
            "plain": add(host[1]), "values": add(obj._vals.numpy()), "size": list(obj._size),
            "requires_grad": bool(obj.requires_grad and obj.is_leaf),
            "device": str(obj.device)}


def _decode(node, array):
    """The tensor ``_encode`` described, rebuilt and checked; ``array(key)`` reads one array
    onto the target device."""
    lay = {"sparse_csr": sparse_csr, "sparse_csc": sparse_csc}.get(node["sparse_compressed"])
    size = node["size"]
    if lay is None or not isinstance(size, list) or not all(type(n) is int for n in size):
        raise ValueError(f"a compressed sparse entry's layout or size is "
                         f"{node['sparse_compressed']!r}, {size!r}")
    s = _build(array("compressed"), array("plain"), array("values"), size, None, lay, None,
               False, None, "load")
    return s.requires_grad_() if node["requires_grad"] is True else s
