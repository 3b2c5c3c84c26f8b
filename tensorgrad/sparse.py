"""Sparse COO tensors, as PyTorch's ``torch.sparse_coo_tensor`` and ``torch.sparse``.

A ``SparseTensor`` holds ``indices`` (an int64 array of shape (sparse_dim, nnz)), ``values``
(a Tensor of shape (nnz, *dense_dims)) and a size. Every operation on it is a composition of
differentiable primitives on the values: gathers (``getitem``) and scatter-adds (``untake``)
for to_dense, coalesce, sum and softmax, and for the sparse @ dense product one bilinear
primitive (``ops/spmm.py``, 9x faster on the host than the gather/scatter-add composition)
whose rules are itself and gathers; so gradients of every order, forward mode and
``create_graph`` come from those primitives' own rules. Gradients flow to the ``values``
tensor a sparse tensor was built from (a dense vector, as PyTorch's); a sparse leaf
(``requires_grad=True``) gets a sparse ``.grad`` with its own (coalesced) pattern.

>>> import tensorgrad as tg
>>> i = tg.tensor([[0, 1, 1], [2, 0, 2]])
>>> v = tg.tensor([3.0, 4.0, 5.0], requires_grad=True)
>>> a = tg.sparse_coo_tensor(i, v, (2, 3))
>>> x = tg.ones(3, 2)
>>> (a @ x).tolist()
[[3.0, 3.0], [9.0, 9.0]]
>>> (a @ x).sum().backward()
>>> v.grad.tolist()
[2.0, 2.0, 2.0]
"""

import math
import numbers

import numpy as np

from .autograd.forward import Dual
from .backend.device import as_device, device_of, to_host, xp_of
from .ops import concatenate as _concatenate
from .ops import elementwise as _ew
from .ops.index import extreme_at as _extreme_at
from .ops.index import getitem as _getitem
from .ops.index import untake as _untake
from .ops.spmm import SpmmPlan
from .ops.spmm import spmm as _spmm
from .tensor import Tensor, _new_tensor
from .torch_surface2 import Size
from .torch_surface3 import layout, strided

sparse_coo = layout("sparse_coo")

_SUPPORTED = ("@, * and / by numbers or dense tensors, + and - of sparse or dense tensors, "
              "sum, t, transpose, coalesce, to_dense, tg.sparse.mm/addmm/sum/softmax/"
              "log_softmax")


class SparseLayoutError(NotImplementedError):
    """An operation that the sparse COO layout does not support."""


def _const(arr):
    return _new_tensor(arr, None, False)


def _as_values(values, op):
    if isinstance(values, SparseTensor):
        raise TypeError(f"{op}(): values must be a dense tensor, got a sparse one")
    if isinstance(values, Tensor):
        return values
    if hasattr(values, "dtype") and hasattr(values, "shape"):  # a NumPy or CuPy array
        return _const(values)
    from .creation import tensor

    return tensor(values)


def _as_dense(x, op, name):
    """``x`` as a dense Tensor (arrays are wrapped), or the error naming ``op`` and ``name``."""
    if isinstance(x, SparseTensor):
        raise SparseLayoutError(f"{op}(): argument '{name}' must be a dense tensor, got a "
                                f"sparse one of shape {x._size}; convert it with .to_dense()")
    if isinstance(x, Tensor):
        return x
    if hasattr(x, "dtype") and hasattr(x, "shape"):
        return _const(x)
    raise TypeError(f"{op}(): argument '{name}' must be a Tensor, not {type(x).__name__}")


def _keys(idx, dims):
    """The row-major position of each index column within ``dims`` (one int64 per column)."""
    if math.prod(dims) >= 2 ** 62:
        raise ValueError(f"sparse: sparse dimensions {tuple(dims)} hold more than 2**62 "
                         "positions, too many to number with int64")
    xp = xp_of(idx)
    if len(dims) == 0:
        return xp.zeros(idx.shape[1], dtype=np.int64)
    key = idx[0]
    for d in range(1, len(dims)):
        key = key * dims[d] + idx[d]
    return key


def _unravel(keys, dims):
    xp = xp_of(keys)
    rows = []
    for n in reversed(dims):
        rows.append(keys % n)
        keys = keys // n
    return xp.stack(rows[::-1]).astype(np.int64, copy=False)


def _make(idx, values, size, coalesced, owned=False, plan=None):
    s = object.__new__(SparseTensor)
    object.__setattr__(s, "_plan", plan)  # the product's plan, kept with the pattern
    object.__setattr__(s, "_idx", idx)
    object.__setattr__(s, "_vals", values)
    object.__setattr__(s, "_size", tuple(int(n) for n in size))
    object.__setattr__(s, "_coal", bool(coalesced))
    object.__setattr__(s, "_owned", bool(owned))
    object.__setattr__(s, "_vc", [0])  # a version counter, which Module.to() bumps
    return s


class SparseTensor(Tensor):
    """A sparse tensor in COO layout (``layout == tg.sparse_coo``); build one with
    ``tg.sparse_coo_tensor`` or ``dense.to_sparse()``. Dense operations it does not support
    raise ``NotImplementedError`` naming the operation."""

    __slots__ = ("_idx", "_vals", "_size", "_coal", "_owned", "_plan")

    def __getattribute__(self, name):
        if name in _OWN or name[:2] == "__":
            return object.__getattribute__(self, name)
        if name in _TENSOR_NAMES:
            raise _unsupported(self, name)
        return object.__getattribute__(self, name)

    # ---- attributes ----------------------------------------------------------------------
    @property
    def shape(self):
        return Size(self._size)

    def size(self, dim=None):
        if dim is None:
            return Size(self._size)
        return self._size[dim]

    @property
    def ndim(self):
        return len(self._size)

    def dim(self):
        return len(self._size)

    def __len__(self):
        if not self._size:
            raise TypeError("len() of a 0-d tensor")
        return self._size[0]

    def numel(self):
        return math.prod(self._size)

    @property
    def dtype(self):
        return self._vals.dtype

    @property
    def device(self):
        return self._vals.device

    @property
    def is_cuda(self):
        return self._vals.is_cuda

    @property
    def is_sparse(self):
        return True

    @property
    def layout(self):
        return sparse_coo

    def sparse_dim(self):
        return int(self._idx.shape[0])

    def dense_dim(self):
        return self._vals.ndim - 1

    def _nnz(self):
        return int(self._idx.shape[1])

    def is_coalesced(self):
        return self._coal

    def _indices(self):
        return _const(self._idx)

    def _values(self):
        return self._vals

    def indices(self):
        """The indices, (sparse_dim, nnz) int64; only of a coalesced tensor (as PyTorch)."""
        self._need_coalesced("indices")
        return _const(self._idx)

    def values(self):
        """The values, (nnz, *dense_dims), on the tape; only of a coalesced tensor."""
        self._need_coalesced("values")
        return self._vals

    def _need_coalesced(self, op):
        if not self._coal:
            raise RuntimeError(f"{op}(): cannot get {op} of an uncoalesced sparse tensor "
                               f"(shape {self._size}, nnz {self._nnz()}); call .coalesce() "
                               f"first, or ._{op}() for the raw ones")

    # ---- autograd ------------------------------------------------------------------------
    @property
    def requires_grad(self):
        return self._vals.requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        self.requires_grad_(flag)

    def requires_grad_(self, requires_grad=True):
        if requires_grad and not self._vals.requires_grad:
            # a leaf of its own: the caller's values tensor is left as it was
            leaf = _const(self._vals.data)
            leaf.requires_grad_()
            object.__setattr__(self, "_vals", leaf)
            object.__setattr__(self, "_owned", True)
        elif not requires_grad and self._vals.requires_grad:
            if not self.is_leaf:
                raise RuntimeError("requires_grad_(): you can only change requires_grad of "
                                   "leaf tensors; use .detach() to get a sparse tensor "
                                   "without history")
            self._vals.requires_grad_(False)
        return self

    @property
    def is_leaf(self):
        return self._owned or not self._vals.requires_grad

    @property
    def grad_fn(self):
        return None if self.is_leaf else self._vals.grad_fn

    @property
    def grad(self):
        """A sparse leaf's gradient: sparse, with the leaf's coalesced pattern (as PyTorch's
        ``torch.sparse.mm`` and ``to_dense`` give)."""
        if not self._owned or self._vals.grad is None:
            return None
        g = self._vals.grad.data
        if self._coal:
            return _make(self._idx, _const(g), self._size, True)
        xp = xp_of(self._idx)
        dims = self._size[:self.sparse_dim()]
        # every copy of a repeated index gets the same gradient: keep the first
        uniq, first = xp.unique(_keys(self._idx, dims), return_index=True)
        return _make(_unravel(uniq, dims), _const(g[first]), self._size, True)

    @grad.setter
    def grad(self, value):
        if value is not None:
            raise SparseLayoutError("grad: a sparse tensor's .grad can only be set to None")
        self._vals.grad = None

    @property
    def data(self):
        """A sparse tensor of the same indices and values, without history (PyTorch's)."""
        return self.detach()

    # what ``.data = other`` swaps in besides the values (the compressed layouts add theirs)
    _STATE = ("_idx", "_size", "_coal", "_plan")

    def _check_data(self, other):
        if not isinstance(other, SparseTensor):
            raise SparseLayoutError(f"data: a sparse tensor's .data can be set to a sparse "
                                    f"tensor only, not a {type(other).__name__}")

    @data.setter
    def data(self, other):
        # Module.to()/.double() of a sparse buffer: swap the contents, keep the object
        self._check_data(other)
        vals = other._vals.detach()
        if self._owned:
            vals = _const(vals.data)
            if self._vals.requires_grad:
                vals.requires_grad_()
        for name in self._STATE:
            object.__setattr__(self, name, object.__getattribute__(other, name))
        object.__setattr__(self, "_vals", vals)

    def detach(self):
        return _make(self._idx, self._vals.detach(), self._size, self._coal, plan=self._plan)

    def clone(self):
        return _make(self._idx.copy(), self._vals.clone(), self._size, self._coal)

    # ---- conversion ----------------------------------------------------------------------
    def to(self, *args, **kwargs):
        """``.to(device)``, ``.to(dtype)``: values (differentiably) and indices together."""
        return self._moved(self._vals.to(*args, **kwargs))

    def _moved(self, vals):
        if vals is self._vals:
            return self
        if vals.device != self.device:
            return _make(vals.device.put(self._idx), vals, self._size, self._coal)
        return _make(self._idx, vals, self._size, self._coal, plan=self._plan)

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None, non_blocking=False):
        return self._moved(self._vals.cuda(device, non_blocking))

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    def type(self, dtype):
        return self.to(dtype)

    def to_dense(self, dtype=None, *, masked_grad=None):
        """The dense tensor (repeated indices add up); differentiable."""
        vals = self._vals if dtype is None else self._vals.to(dtype)
        return _untake(vals, tuple(self._idx), self._size)

    def to_sparse(self, sparse_dim=None, *, layout=None, blocksize=None, dense_dim=None):
        if layout not in (None, sparse_coo):
            return _compressed()._to_compressed(self, layout, "to_sparse")
        if sparse_dim is not None and sparse_dim != self.sparse_dim():
            raise SparseLayoutError(f"to_sparse(): cannot change sparse_dim from "
                                    f"{self.sparse_dim()} to {sparse_dim}")
        return self

    def to_sparse_coo(self):
        return self

    def to_sparse_csr(self, dense_dim=None):
        """The CSR matrix of a 2-D COO matrix (coalesced first); differentiable."""
        return _compressed()._from_coo(self, _compressed().sparse_csr)

    def to_sparse_csc(self, dense_dim=None):
        """The CSC matrix of a 2-D COO matrix (coalesced first); differentiable."""
        return _compressed()._from_coo(self, _compressed().sparse_csc)

    @property
    def is_sparse_csr(self):
        return False

    def coalesce(self):
        """Indices sorted and unique, the values of repeated ones summed; differentiable."""
        if self._coal:
            return self
        xp = xp_of(self._idx)
        nnz = self._nnz()
        if nnz == 0:
            return _make(self._idx, self._vals, self._size, True)
        dims = self._size[:self.sparse_dim()]
        keys = _keys(self._idx, dims)
        uniq, inverse = xp.unique(keys, return_inverse=True)
        if uniq.shape[0] == nnz:  # no repeats: a permutation
            order = xp.argsort(keys)
            return _make(self._idx[:, order], _getitem(self._vals, order), self._size, True)
        vals = _untake(self._vals, inverse.reshape(-1), (uniq.shape[0],) + self._vals.shape[1:])
        return _make(_unravel(uniq, dims), vals, self._size, True)

    # ---- shape ---------------------------------------------------------------------------
    def t(self):
        if self.ndim > 2:
            raise SparseLayoutError(f"t(): expects a tensor of at most 2 dimensions, got shape "
                                    f"{self._size}; use transpose(dim0, dim1)")
        return self if self.ndim < 2 else self.transpose(0, 1)

    @property
    def T(self):
        return self.t()

    def transpose(self, dim0, dim1):
        d0, d1 = _dim(self, dim0, "transpose"), _dim(self, dim1, "transpose")
        if d0 == d1:
            return self
        sd = self.sparse_dim()
        size = list(self._size)
        size[d0], size[d1] = size[d1], size[d0]
        if d0 < sd and d1 < sd:
            order = list(range(sd))
            order[d0], order[d1] = d1, d0
            plan = self._plan.T if self._plan is not None and sd == 2 else None
            return _make(self._idx[order], self._vals, size, False, plan=plan)
        if d0 >= sd and d1 >= sd:
            vals = self._vals.transpose(d0 - sd + 1, d1 - sd + 1)
            return _make(self._idx, vals, size, self._coal)
        raise SparseLayoutError(f"transpose(): cannot swap sparse dim {min(d0, d1)} with dense "
                                f"dim {max(d0, d1)} of a hybrid sparse tensor of shape "
                                f"{self._size} (sparse_dim {sd})")

    # ---- arithmetic ----------------------------------------------------------------------
    def _scaled(self, vals):
        return _make(self._idx, vals, self._size, self._coal, plan=self._plan)

    def __neg__(self):
        return self._scaled(-self._vals)

    def neg(self):
        return -self

    def __mul__(self, other):
        if isinstance(other, SparseTensor):
            raise SparseLayoutError(f"mul(): sparse * sparse (shapes {self._size} and "
                                    f"{other._size}) is not supported; convert one operand "
                                    "with .to_dense()")
        if isinstance(other, (numbers.Number, np.generic)):
            return self._scaled(self._vals * other)
        d = _as_dense(other, "mul", "other")
        if d.ndim == 0:
            return self._scaled(self._vals * d)
        if tuple(d.shape) != self._size:
            raise ValueError(f"mul(): sparse of shape {self._size} * dense of shape "
                             f"{tuple(d.shape)}: the shapes must be equal (or the dense one "
                             "0-d)")
        return self._scaled(self._vals * _getitem(d, tuple(self._idx)))

    __rmul__ = __mul__
    mul = __mul__
    multiply = __mul__

    def __truediv__(self, other):
        if isinstance(other, Tensor) and (isinstance(other, SparseTensor) or other.ndim):
            raise SparseLayoutError(f"div(): a sparse tensor of shape {self._size} can be "
                                    "divided by a number or a 0-d tensor only")
        if not isinstance(other, (numbers.Number, np.generic, Tensor)) and not (
                hasattr(other, "dtype") and getattr(other, "ndim", None) == 0):
            raise TypeError(f"div(): a sparse tensor of shape {self._size} can be divided by a "
                            f"number or a 0-d tensor only, not a {type(other).__name__}")
        return self._scaled(self._vals / other)

    div = __truediv__

    def __add__(self, other):
        if isinstance(other, SparseTensor):
            if other._size != self._size:
                raise ValueError(f"add(): sparse tensors of shapes {self._size} and "
                                 f"{other._size} differ")
            if other.sparse_dim() != self.sparse_dim():
                raise SparseLayoutError(f"add(): sparse_dim {self.sparse_dim()} and "
                                        f"{other.sparse_dim()} differ")
            if self.device != other.device:
                raise RuntimeError(f"add(): sparse tensors on {self.device} and "
                                   f"{other.device}; move one with .to()")
            idx = xp_of(self._idx).concatenate([self._idx, other._idx], axis=1)
            vals = _concatenate([self._vals, other._vals.to(self.dtype)], 0)
            return _make(idx, vals, self._size, False).coalesce()
        if isinstance(other, Tensor):
            if tuple(other.shape) != self._size:
                raise ValueError(f"add(): sparse of shape {self._size} + dense of shape "
                                 f"{tuple(other.shape)}: the shapes must be equal")
            return self.to_dense() + other
        raise SparseLayoutError(f"add(): a sparse tensor of shape {self._size} adds to sparse "
                                f"or dense tensors of its shape, not a {type(other).__name__}")

    def __radd__(self, other):
        return self.__add__(other)

    add = __add__

    def __sub__(self, other):
        if isinstance(other, Tensor):
            return self + (-other)
        return self.__add__(other)  # the same error as for +

    def __rsub__(self, other):
        return (-self).__add__(other)

    sub = __sub__

    def __matmul__(self, other):
        return _mm(self, other, "matmul")

    def __rmatmul__(self, other):
        d = _as_dense(other, "matmul", "input")
        if self.ndim == 2 and d.ndim > 2:  # PyTorch broadcasts the batch; not done here
            raise SparseLayoutError(f"matmul(): dense input of shape {tuple(d.shape)} @ sparse "
                                    f"other of shape {self._size}: a batched (3-D or more) "
                                    "dense operand is not supported; loop over the batch")
        if self.ndim == 2 and (d.ndim not in (1, 2) or d.shape[-1] != self._size[0]):
            # checked here, in the order the user wrote the product (the work is s.t() @ d.T)
            raise RuntimeError(f"matmul(): dense input of shape {tuple(d.shape)} @ sparse other "
                               f"of shape {self._size}: {_mm_problem(d.ndim, d.shape[-1:], self)}")
        if d.ndim == 1:
            return _mm(self.t(), d, "matmul")
        return _mm(self.t(), d.transpose(0, 1), "matmul").transpose(0, 1)

    matmul = __matmul__

    def mm(self, mat2):
        return _mm(self, mat2, "mm")

    def sum(self, dim=None, keepdim=False, dtype=None):
        if keepdim:
            raise SparseLayoutError("sum(): keepdim=True is not supported for sparse tensors")
        return sum(self, dim, dtype)

    def __repr__(self):
        pad = " " * 7
        idx = repr(_const(to_host(self._idx))).replace("\n", "\n" + pad + " " * 8)
        vals = repr(self._vals.detach()).replace("\n", "\n" + pad + " " * 7)
        extra = ""
        if self.device.type != "cpu":
            extra += f", device='{self.device}'"
        if not self.is_leaf:
            extra += f", grad_fn={self.grad_fn!r}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return (f"tensor(indices={idx},\n{pad}values={vals},\n{pad}size={self._size}, "
                f"nnz={self._nnz()}, layout={sparse_coo!r}{extra})")

    __str__ = __repr__


def _unsupported(s, name):
    size = object.__getattribute__(s, "_size")
    kind = type(s).layout.fget(s)._name  # sparse_coo, or a compressed layout's name
    supported = getattr(type(s), "_SUPPORTED", _SUPPORTED)
    if name.startswith("_"):
        return SparseLayoutError(f"a {kind} tensor of shape {size} was given to an "
                                 f"operation on dense (strided) tensors only; convert it with "
                                 f".to_dense() first ({kind} tensors support {supported})")
    return SparseLayoutError(f"{name}(): not supported for {kind} tensors (shape {size}); "
                             f"convert with .to_dense() first ({kind} tensors support "
                             f"{supported})")


def _unsupported_dunder(name):
    op = name.strip("_")

    def method(self, *args, **kwargs):
        raise _unsupported(self, op)

    method.__name__ = name
    return method


# Dense operators inherited from Tensor (**, <, [], abs(), float(), ...) raise, naming the op;
# Python looks dunders up on the type, past __getattribute__.
_KEEP = {"__init__", "__new__", "__getattribute__", "__setattr__", "__delattr__", "__class__",
         "__slots__", "__weakref__", "__dict__", "__doc__", "__module__", "__hash__",
         "__init_subclass__", "__subclasshook__", "__sizeof__", "__dir__", "__format__",
         "__str__", "__repr__", "__reduce__", "__reduce_ex__", "__getstate__",
         "__array_ufunc__", "__array_priority__", "__eq__", "__ne__", "__qualname__"}
for _n in dir(Tensor):
    if _n.startswith("__") and _n not in _KEEP and _n not in vars(SparseTensor) \
            and callable(getattr(Tensor, _n, None)):
        setattr(SparseTensor, _n, _unsupported_dunder(_n))
SparseTensor.__eq__ = _unsupported_dunder("__eq__")
SparseTensor.__ne__ = _unsupported_dunder("__ne__")
SparseTensor.__hash__ = object.__hash__
_OWN = frozenset(vars(SparseTensor)) | {"_vc"}
_TENSOR_NAMES = frozenset(n for c in Tensor.__mro__ for n in vars(c))


def _refresh_names():
    global _TENSOR_NAMES
    _TENSOR_NAMES = frozenset(dir(Tensor))


# ---- construction ----------------------------------------------------------------------------
def _dim(s, dim, op):
    n = len(s._size)
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{op}(): dim must be an int, got {type(dim).__name__} {dim!r} (sparse "
                        f"tensor of shape {s._size})")
    if not -n <= dim < n:
        raise IndexError(f"{op}(): dim {dim!r} is out of range for a sparse tensor of shape "
                         f"{s._size}")
    return int(dim) % n


def _int_indices(indices, op):
    if isinstance(indices, SparseTensor):
        raise TypeError(f"{op}(): indices must be a dense integer tensor")
    if isinstance(indices, Tensor):
        idx = indices.data
    elif hasattr(indices, "dtype") and hasattr(indices, "shape"):
        idx = indices
    else:
        idx = np.asarray(indices)
        if idx.size == 0:
            idx = idx.astype(np.int64)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{op}(): indices must be an integer tensor, got dtype {idx.dtype}")
    return idx


def sparse_coo_tensor(indices, values, size=None, *, dtype=None, device=None, pin_memory=False,
                      requires_grad=False, check_invariants=None, is_coalesced=None):
    """A sparse COO tensor with ``values[k]`` at ``indices[:, k]`` (repeated indices add up,
    as in PyTorch; ``coalesce()`` sums them). ``size`` defaults to the smallest that holds the
    indices. Gradients flow to ``values``; with ``requires_grad=True`` the tensor is a leaf of
    its own whose ``.grad`` is sparse. The indices are always checked against the size
    (``check_invariants`` is accepted for PyTorch's signature; ``pin_memory`` is ignored).

    >>> import tensorgrad as tg
    >>> s = tg.sparse_coo_tensor([[0, 1, 1], [2, 0, 0]], [1.0, 2.0, 3.0], (2, 3))
    >>> s.to_dense().tolist()
    [[0.0, 0.0, 1.0], [5.0, 0.0, 0.0]]
    >>> s.coalesce().values().tolist()
    [1.0, 5.0]
    """
    op = "sparse_coo_tensor"
    vals = _as_values(values, op)
    if dtype is not None:
        vals = vals.to(dtype)
    if device is not None:
        vals = vals.to(as_device(device))
    idx = _int_indices(indices, op)
    if idx.ndim != 2:
        raise ValueError(f"{op}(): indices must be 2-D, (sparse_dim, nnz), got shape "
                         f"{tuple(idx.shape)}")
    if vals.dtype.kind not in "biufc":
        raise TypeError(f"{op}(): values must be numbers, got dtype {vals.dtype}")
    if vals.ndim < 1:
        raise ValueError(f"{op}(): values must have at least 1 dimension, (nnz, *dense_dims); "
                         "got a 0-d tensor")
    if vals.shape[0] != idx.shape[1]:
        raise ValueError(f"{op}(): indices of shape {tuple(idx.shape)} give {idx.shape[1]} "
                         f"entries, values of shape {tuple(vals.shape)} have {vals.shape[0]}")
    if idx.shape[0] == 0:
        raise ValueError(f"{op}(): indices of shape {tuple(idx.shape)} have no sparse "
                         "dimension; a sparse tensor needs at least one")
    if device_of(idx) != vals.device:
        idx = vals.device.put(idx)  # explicit copy
    if idx.dtype == np.uint64 and idx.size and int(idx.max()) > np.iinfo(np.int64).max:
        raise IndexError(f"{op}(): indices hold {int(idx.max())}, beyond any size (indices of "
                         f"shape {tuple(idx.shape)})")
    idx = idx.astype(np.int64, copy=False)
    sd, nnz = idx.shape
    lo = hi = None
    if nnz:
        lo, hi = to_host(idx.min(axis=1)).tolist(), to_host(idx.max(axis=1)).tolist()
    if size is None:
        size = tuple(hi[d] + 1 if nnz else 0 for d in range(sd)) + tuple(vals.shape[1:])
    else:
        if isinstance(size, (int, np.integer)):
            size = (size,)
        if isinstance(size, (str, bytes)) or not hasattr(size, "__iter__") or not all(
                isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in size):
            raise TypeError(f"{op}(): size must be a sequence of ints, got {size!r}")
        size = tuple(int(n) for n in size)
        if len(size) != sd + vals.ndim - 1 or size[sd:] != tuple(vals.shape[1:]) or \
                any(n < 0 for n in size):
            raise ValueError(f"{op}(): size {size} does not fit indices of shape "
                             f"{tuple(idx.shape)} ({sd} sparse dims) and values of shape "
                             f"{tuple(vals.shape)} (dense dims {tuple(vals.shape[1:])})")
    for d in range(sd if nnz else 0):
        if lo[d] < 0 or hi[d] >= size[d]:
            bad = lo[d] if lo[d] < 0 else hi[d]
            raise IndexError(f"{op}(): indices[{d}] holds {bad}, out of range for size {size} "
                             f"(dim {d} has size {size[d]})")
    s = _make(idx, vals, size, bool(is_coalesced) or nnz <= 1)
    if requires_grad:
        if vals.requires_grad and vals.grad_fn is not None:
            raise RuntimeError(f"{op}(): requires_grad=True with values that have a history; "
                               "pass values.detach() for a leaf, or leave requires_grad off "
                               "to differentiate with respect to the values")
        s = _make(idx, vals.detach(), size, s._coal)
        s.requires_grad_()
    return s


def _check_coalesced(s, what):
    """Refuse a tensor that claims to be coalesced and is not (for ``tg.load``)."""
    if s._coal and s._nnz() > 1:
        keys = _keys(s._idx, s._size[:s.sparse_dim()])
        if not bool((keys[1:] > keys[:-1]).all()):
            raise ValueError(f"{what}: the indices are marked coalesced but are not sorted "
                             "and unique")
    return s


def _compressed():
    from . import sparse_compressed

    return sparse_compressed


def _to_sparse(self, sparse_dim=None, *, layout=None, blocksize=None, dense_dim=None):
    """``dense.to_sparse()``: the nonzero entries (with ``sparse_dim``, the leading dims whose
    slices are not all zero); differentiable (the dense tensor gets the gradient at them).
    ``layout=tg.sparse_csr`` or ``tg.sparse_csc``: a compressed matrix instead."""
    if layout not in (None, sparse_coo):
        return _compressed()._to_compressed(self, layout, "to_sparse")
    k = self.ndim if sparse_dim is None else int(sparse_dim)
    if not 1 <= k <= self.ndim:
        raise ValueError(f"to_sparse(): sparse_dim {sparse_dim} must be in 1..{self.ndim} for "
                         f"a tensor of shape {tuple(self.shape)}")
    xp = xp_of(self.data)
    nz = self.data != 0
    if k < self.ndim:
        nz = nz.reshape(self.shape[:k] + (-1,)).any(axis=-1)
    where = xp.nonzero(nz)
    idx = xp.stack(where).astype(np.int64, copy=False)
    return _make(idx, _getitem(self, where), self.shape, True)


def _sparse_mask(self, mask):
    """``dense.sparse_mask(s)``: this tensor's values at the (coalesced) pattern of ``s``."""
    if not isinstance(mask, SparseTensor):
        raise TypeError(f"sparse_mask(): mask must be a sparse tensor, not "
                        f"{type(mask).__name__}")
    if tuple(self.shape) != mask._size:
        raise ValueError(f"sparse_mask(): dense of shape {tuple(self.shape)} and mask of shape "
                         f"{mask._size} differ")
    m = mask.coalesce()
    return _make(m._idx, _getitem(self, tuple(m._idx)), m._size, True)


def _deferring(name, reflected):
    dense = getattr(Dual, name)

    def op(self, other):
        if isinstance(other, SparseTensor):
            return getattr(other, reflected)(self)
        return dense(self, other)

    op.__name__ = name
    return op


# A forward-mode dual (a Tensor subclass, so Python's rule that a subclass's reflected
# operator goes first does not pick SparseTensor's) hands `dual <op> sparse` to the sparse side.
for _n, _r in (("__add__", "__radd__"), ("__radd__", "__add__"), ("__sub__", "__rsub__"),
               ("__rsub__", "__sub__"), ("__mul__", "__rmul__"), ("__rmul__", "__mul__"),
               ("__matmul__", "__rmatmul__"), ("__rmatmul__", "__matmul__")):
    setattr(Dual, _n, _deferring(_n, _r))

Tensor.to_sparse = _to_sparse
Tensor.to_sparse_coo = lambda self: _to_sparse(self)
Tensor.sparse_mask = _sparse_mask
_refresh_names()


# ---- torch.sparse ----------------------------------------------------------------------------
def _need_sparse(s, op, name="input"):
    if not isinstance(s, SparseTensor):
        raise TypeError(f"{op}(): argument '{name}' must be a sparse tensor, not "
                        f"{type(s).__name__}")
    return s


def mm(mat1, mat2, reduce="sum"):
    """``sparse (n, m) @ dense (m, p)`` (or a dense (m,) vector) as a dense tensor: the dense
    rows at the column indices, scaled by the values, added into the output rows (the
    primitive ``tensorgrad.ops.spmm.spmm``). Differentiable in both operands to every order.

    >>> import tensorgrad as tg
    >>> a = tg.tensor([[0.0, 2.0], [1.0, 0.0]]).to_sparse()
    >>> tg.sparse.mm(a, tg.tensor([[1.0], [3.0]])).tolist()
    [[6.0], [1.0]]
    """
    if reduce != "sum":
        raise SparseLayoutError(f"sparse.mm(): reduce={reduce!r} is not supported; only 'sum'")
    return _mm(mat1, mat2, "sparse.mm")


def _mm(mat1, mat2, op):
    s = _need_sparse(mat1, op, "mat1")
    d = _as_dense(mat2, op, "mat2")
    if s.ndim != 2 or s.sparse_dim() != 2:
        raise SparseLayoutError(f"{op}(): mat1 must be a 2-D sparse matrix with 2 sparse dims, "
                                f"got shape {s._size} with sparse_dim {s.sparse_dim()}")
    if d.ndim not in (1, 2) or d.shape[0] != s._size[1]:
        raise RuntimeError(f"{op}(): sparse mat1 of shape {s._size} @ dense mat2 of shape "
                           f"{tuple(d.shape)}: {_mm_problem(d.ndim, d.shape[:1], s, 'mat2')}")
    if d.device != s.device:
        raise RuntimeError(f"{op}(): mat1 is on {s.device} and mat2 on {d.device}; move one "
                           "with .to()")
    vals = s._vals
    if vals.dtype != d.dtype:
        common = np.result_type(vals.dtype, d.dtype)
        vals, d = vals.to(common), d.to(common)
    if s._plan is None:
        object.__setattr__(s, "_plan", SpmmPlan(s._idx[0], s._idx[1], s._size))
    out = _spmm(vals, d.reshape(-1, 1) if d.ndim == 1 else d, s._plan)
    return out.reshape(-1) if d.ndim == 1 else out


def _mm_problem(ndim, inner, s, name="the dense operand"):
    """What is wrong with a dense operand of ``ndim`` dims whose inner size is ``inner`` (a
    tuple of 0 or 1 entries) for a product with the sparse matrix ``s``."""
    if ndim not in (1, 2):
        return (f"{name} must be 1-D or 2-D, got {ndim}-D (a sparse matrix multiplies vectors "
                "and matrices only)")
    return (f"the inner dimensions differ ({inner[0]} and "
            f"{s._size[1] if name == 'mat2' else s._size[0]})")


def addmm(mat, mat1, mat2, *, beta=1.0, alpha=1.0):
    """``beta * mat + alpha * (mat1 @ mat2)`` with a sparse ``mat1``."""
    prod = _mm(mat1, mat2, "sparse.addmm")
    if isinstance(mat, Tensor) and beta != 0:
        try:
            np.broadcast_shapes(tuple(mat.shape), tuple(prod.shape))
        except ValueError:
            raise RuntimeError(f"sparse.addmm(): mat of shape {tuple(mat.shape)} does not "
                               f"broadcast to the product's shape {tuple(prod.shape)} (mat1 "
                               f"{mat1._size} @ mat2 {tuple(mat2.shape)})") from None
    prod = prod if alpha == 1 else prod * alpha
    return prod if beta == 0 else (mat if beta == 1 else mat * beta) + prod


def sum(input, dim=None, dtype=None):
    """The sum over ``dim`` (all dims when None: a dense 0-d tensor). Summing every sparse
    dim gives a dense tensor, otherwise a coalesced sparse one (as ``torch.sparse.sum``)."""
    s = _need_sparse(input, "sparse.sum")
    vals = s._vals if dtype is None else s._vals.to(dtype)
    if dim is None:
        return vals.sum()
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    dims = sorted({_dim(s, d, "sparse.sum") for d in dims})
    if len(dims) != (len(dim) if isinstance(dim, (tuple, list)) else 1):
        raise ValueError(f"sparse.sum(): dim {dim} names a dimension twice")
    sd = s.sparse_dim()
    gone = [d for d in dims if d < sd]
    dense = [d - sd + 1 for d in dims if d >= sd]
    if dense:
        vals = vals.sum(dim=tuple(dense))
    keep = [d for d in range(sd) if d not in gone]
    dense_size = tuple(n for i, n in enumerate(s._size) if i >= sd and i not in dims)
    if not keep:
        return vals.sum(dim=0)
    size = tuple(s._size[d] for d in keep) + dense_size
    if not gone:
        return _make(s._idx, vals, size, s._coal)
    return _make(s._idx[keep], vals, size, False).coalesce()


def _softmax(input, dim, dtype, log, op):
    s = _need_sparse(input, op)
    d = _dim(s, dim, op)
    c = s.coalesce()
    vals = c._vals if dtype is None else c._vals.to(dtype)
    if vals.dtype.kind != "f":
        raise TypeError(f"{op}(): expects floating-point values, got {vals.dtype}")
    xp = xp_of(c._idx)
    sd = c.sparse_dim()
    if c._nnz() == 0:
        return _make(c._idx, vals, c._size, True)
    if d >= sd:  # a dense dim: each entry's slice on its own
        axis = d - sd + 1
        shift = _const(vals.data.max(axis=axis, keepdims=True))  # a constant: no gradient
        z = vals - shift
        e = _ew.exp(z)
        total = e.sum(dim=axis, keepdim=True)
    else:
        # the entries that share every sparse index but ``d`` form one softmax group
        other = [k for k in range(sd) if k != d]
        keys = _keys(c._idx[other], [c._size[k] for k in other])
        _, group = xp.unique(keys, return_inverse=True)
        group = group.reshape(-1)
        n = int(group.max()) + 1
        peak = xp.full((n,) + tuple(vals.shape[1:]), -np.inf, dtype=vals.dtype)
        _extreme_at(peak, group, vals.data)  # not CuPy's maximum.at: see extreme_at
        z = vals - _const(peak[group])
        e = _ew.exp(z)
        total = _getitem(_untake(e, group, (n,) + tuple(vals.shape[1:])), group)
    out = z - _ew.log(total) if log else e / total
    return _make(c._idx, out, c._size, True)


def softmax(input, dim, dtype=None):
    """Softmax along ``dim`` over the specified entries only (the others count as -inf and
    stay unspecified), as ``torch.sparse.softmax``."""
    return _softmax(input, dim, dtype, False, "sparse.softmax")


def log_softmax(input, dim, dtype=None):
    """Log-softmax along ``dim`` over the specified entries, as ``torch.sparse.log_softmax``."""
    return _softmax(input, dim, dtype, True, "sparse.log_softmax")


def spmm(input, mat2):
    """``torch.spmm``: sparse @ dense (a dense ``input`` gives the dense product)."""
    return input @ mat2


# the compressed layouts (CSR, CSC) and the invariant switch: tensorgrad/sparse_compressed.py
from .sparse_compressed import (  # noqa: E402
    SparseCompressedTensor,
    SparseInvariantError,
    check_sparse_tensor_invariants,
    sparse_bsc,
    sparse_bsc_tensor,
    sparse_bsr,
    sparse_bsr_tensor,
    sparse_compressed_tensor,
    sparse_csc,
    sparse_csc_tensor,
    sparse_csr,
    sparse_csr_tensor,
)

__all__ = ["SparseTensor", "SparseLayoutError", "sparse_coo_tensor", "sparse_coo", "strided",
           "layout", "mm", "addmm", "sum", "softmax", "log_softmax", "spmm",
           "SparseCompressedTensor", "SparseInvariantError", "check_sparse_tensor_invariants",
           "sparse_csr", "sparse_csc", "sparse_bsr", "sparse_bsc", "sparse_csr_tensor",
           "sparse_csc_tensor", "sparse_compressed_tensor", "sparse_bsr_tensor",
           "sparse_bsc_tensor"]
