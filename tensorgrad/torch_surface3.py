"""PyTorch's top level and Tensor methods, third pass: the scatter family (``scatter_reduce``,
``index_reduce``, ``index_copy``, ``index_put``, ``masked_scatter``, ``put``,
``select_scatter``/``slice_scatter``/``diagonal_scatter``), ``Tensor.unfold``, ``renorm``,
``sum_to_size``, the in-place variants PyTorch has (``eq_``, ``logical_and_``, ``addmm_``,
``cumsum_``, ``unsqueeze_``, ... and the top-level ``torch.abs_``-style ones), the random
fills (``random_``, ``exponential_``, ``geometric_``, ``cauchy_``, ``log_normal_``,
``bernoulli_``), the storage queries (``stride``, ``storage_offset``, ``data_ptr``,
``is_contiguous``, ``nbytes``, ``dim_order``), the dtype casts (``byte``, ``short``, ``cfloat``,
...), the old linear-algebra names (``lu``, ``lu_solve``, ``lu_unpack``, ``triangular_solve``),
special functions (``i0``, ``igamma``, ``igammac``, ``mvlgamma``, ``nextafter``), and process
switches (``set_default_tensor_type``, ``compile`` and the control-flow ``cond``/
``while_loop``, both run eagerly). Differentiable functions are compositions of existing
primitives, so their derivatives of every order come with them.

>>> import tensorgrad as tg
>>> src = tg.tensor([1.0, 5.0, 2.0, 4.0])
>>> tg.zeros(2).scatter_reduce(0, tg.tensor([0, 0, 1, 1]), src, "amax").tolist()
[5.0, 4.0]
>>> tg.arange(5.0).unfold(0, 2, 2).tolist()
[[0.0, 1.0], [2.0, 3.0]]
"""

import builtins
import math
import numbers
import sys
import warnings
from collections import namedtuple

import numpy as np

from . import creation as _cr
from . import linalg as _la
from . import special as _sp
from . import torch_api as _ta
from . import torch_surface as _ts
from ._layouts import layout, strided  # PyTorch's layout tags; dense is tg.strided
from .autograd import anomaly as _anomaly
from .backend.device import _CUPY_ARRAY, to_host, xp_of
from .ops import elementwise as _ew
from .ops import nondiff as _nd
from .ops import shape as _sh
from .ops.index import extreme_at as _extreme_at
from .ops.index import getitem as _getitem
from .ops.index import untake as _untake
from .ops.index import zero_at as _zero_at
from .ops.registry import defjvp, defvjp, primitive
from .tensor import Tensor, _new_tensor, _raw, bump_version

_t = _ta._t
_xp = _ta._xp
_dim = _ta._dim

TriangularSolveResult = namedtuple("triangular_solve", ["solution", "cloned_coefficient"])
LuUnpackResult = namedtuple("lu_unpack", ["P", "L", "U"])


def _const(arr):
    return _new_tensor(arr, None, False)


# ---- the scatter family ----------------------------------------------------------------------
_REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")


def _scatter_reduced(x, fidx, s, reduce, include_self, op):
    """``x`` with the values ``s`` reduced into the places ``fidx`` (a fancy index of x's
    elements, one per value) by ``reduce``; places no value goes to keep x's value. Each
    reduction is a composition of differentiable pieces: amax/amin share the gradient evenly
    among the values equal to the result, as PyTorch's. x's own value counts among those ties
    even with include_self=False (PyTorch's rule: a zero-initialised output and a value 0 at the
    maximum each get half), but then its share goes nowhere: x gets no gradient where values
    were scattered."""
    if reduce not in _REDUCTIONS:
        raise ValueError(f"{op}(): reduce must be one of {', '.join(_REDUCTIONS)}, got "
                         f"{reduce!r}")
    if x.dtype == np.bool_ and reduce != "sum":  # logical and (prod, amin) / or (amax)
        # (int32: a dtype CuPy's atomics cover)
        return _scatter_reduced(x.to(np.int32), fidx, s.to(np.int32), reduce, include_self,
                                op).to(np.bool_)
    xp = _xp(x)
    hit = xp.zeros(x.shape, dtype=np.int64)
    xp.add.at(hit, fidx, 1)
    base = x if include_self else _zero_at(x, fidx)
    if reduce == "sum":
        return base + _untake(s, fidx, x.shape)
    if reduce == "mean":
        count = hit + int(include_self)
        total = base + _untake(s, fidx, x.shape)
        safe = _const(xp.maximum(count, 1).astype(x.dtype))
        return _ew.where(count > 0, total // safe if x.dtype.kind in "iu" else total / safe, x)
    if reduce == "prod":
        return _scatter_prod(x, fidx, s, hit, include_self)
    info = np.finfo(x.dtype) if x.dtype.kind == "f" else np.iinfo(x.dtype)
    start = (-np.inf if reduce == "amax" else np.inf) if x.dtype.kind == "f" else \
        (info.min if reduce == "amax" else info.max)
    best = xp.full(x.shape, start, dtype=x.dtype)
    if include_self:
        best[...] = x.data
    _extreme_at(best, fidx, s.data, reduce == "amax")  # exact on CuPy too (extreme_at)
    # the values that reach the extreme share it: weights 1/ties, constants
    s_at = (s.data == best[fidx]).astype(x.dtype)
    ties = xp.zeros(x.shape, dtype=x.dtype)
    xp.add.at(ties, fidx, s_at)
    self_at = (x.data == best).astype(x.dtype)
    ties = ties + self_at
    hit_any = hit > 0
    if x.dtype.kind not in "fc":  # no gradient: the extremes themselves
        return _const(xp.where(hit_any, best, x.data))
    w = _const((1 / xp.maximum(ties, 1)).astype(x.dtype))  # places not hit keep x, below
    picked = _untake(s * _const(s_at), fidx, x.shape)
    # x's tie: its share of the value, differentiable only when x takes part
    # (where, not a product: an output filled with -inf must not give -inf * 0 = nan)
    tied = self_at > 0
    picked = picked + (_ew.where(_const(tied), x, 0.0) if include_self else
                       _const(xp.where(tied, x.data, 0).astype(x.dtype)))
    return _ew.where(hit_any, picked * w, x)


def _scatter_prod(x, fidx, s, hit, include_self):
    """The product of the values reaching each place (x's own too with include_self): the
    product of the nonzero ones as sign * exp(sum log|v|), times 1 where none is zero and the
    sum of the zero ones where exactly one is (its value 0 and its derivative the product of
    the others, as PyTorch's gradient)."""
    xp = _xp(x)
    vals = [(s, fidx, True)] + ([(x, None, False)] if include_self else [])
    zeros = xp.zeros(x.shape, dtype=np.int64)
    logabs = 0
    negs = xp.zeros(x.shape, dtype=np.int64)
    zero_sum = 0
    zparts = []  # (the zero values as differentiable entries, where they go)
    for v, idx, scattered in vals:
        nz = v.data != 0
        mag = _ew.where(_const(nz), _ew.abs(v), 1.0)
        part = _ew.log(mag)
        zpart = _ew.where(_const(~nz), v, 0.0)
        zparts.append((zpart, idx if scattered else None))
        if scattered:
            xp.add.at(zeros, idx, (~nz).astype(np.int64))
            xp.add.at(negs, idx, (v.data < 0).astype(np.int64))
            part = _untake(part, idx, x.shape)
            zpart = _untake(zpart, idx, x.shape)
        else:
            zeros = zeros + (~nz)
            negs = negs + (v.data < 0)
        logabs = logabs + part
        zero_sum = zero_sum + zpart
    sign = _const((1 - 2 * (negs % 2)).astype(x.dtype))
    prod_nz = sign * _ew.exp(logabs)
    most = int(to_host(zeros.max()).item()) if x.dtype.kind in "fc" and zeros.size else 0
    if most < 2:
        factor = _ew.where(_const(zeros == 0), 1.0,
                           _const((zeros == 1).astype(x.dtype)) * zero_sum)
    else:
        factor = _zeros_product(zparts, zeros, most, x.shape, x.dtype)
    out = prod_nz * factor
    if x.dtype.kind in "iu":
        out = _nd.rint(out).to(x.dtype)
    return _ew.where(_const(hit > 0), out, x)


def _zeros_product(zparts, zeros, most, shape, dtype):
    """The product of the zero values meeting in each place (``zeros`` of them, at most
    ``most``), as the elementary symmetric polynomial e_k of those values (k = their count)
    from their power sums p_i by Newton's identities, k e_k = sum_i (-1)^(i-1) e_(k-i) p_i: a
    polynomial identity, so every derivative is the product's (where two zeros meet, the second
    derivative in the pair is the product of the rest, as PyTorch's)."""
    p = []
    for i in builtins.range(1, most + 1):
        terms = [zp ** i for zp, _ in zparts]
        p.append(sum(_untake(t, idx, shape) if idx is not None else t
                     for t, (_, idx) in zip(terms, zparts)))
    e = [1.0]
    for k in builtins.range(1, most + 1):
        e.append(sum((-1) ** (i - 1) * e[k - i] * p[i - 1]
                     for i in builtins.range(1, k + 1)) / k)
    factor = _const((zeros == 0).astype(dtype))
    for k in builtins.range(1, most + 1):
        factor = _ew.where(_const(zeros == k), e[k], factor)
    return factor


def _one_element(fn, x, dim, index, values, op, *args, **kwargs):
    """``fn`` on a 0-d ``x`` as PyTorch sees it: one element along dim 0 (or -1), with the
    index and the values taken as 1-d too; the answer 0-d again."""
    _dim(x, dim, op)  # 0 or -1, else IndexError
    flat = [v.reshape(-1) if isinstance(v, Tensor) else _t(v, op).reshape(-1)
            for v in (index, values)]
    return fn(x.reshape(1), 0, *flat, *args, **kwargs).reshape(())


def scatter_reduce(input, dim, index, src, reduce, *, include_self=True):
    """``input`` with each ``src[i][j][k]`` reduced into ``out[index[i][j][k]][j][k]`` (for
    dim=0) by ``reduce``: "sum", "prod", "mean", "amax" or "amin"; with
    ``include_self=False`` the places written start from the values alone."""
    x = _t(input, "scatter_reduce")
    if x.ndim == 0:
        return _one_element(scatter_reduce, x, dim, index, src, "scatter_reduce", reduce,
                            include_self=include_self)
    fidx, s = _ta._scatter_index(x, dim, index, _t(src, "scatter_reduce", "src"),
                                 "scatter_reduce")
    return _scatter_reduced(x, fidx, s, reduce, include_self, "scatter_reduce")


def _index_places(x, dim, index, source, op):
    """(fancy index of x's elements, values) for the index_* family: slice ``index[i]`` of
    ``dim`` takes slice i of ``source``."""
    d = _dim(x, dim, op)
    idx = _ta._int_index(index, op).reshape(-1)
    s = _t(source, op, "source")
    want = x.shape[:d] + (idx.shape[0],) + x.shape[d + 1:]
    if tuple(s.shape) != want:
        raise ValueError(f"{op}(): source has shape {tuple(s.shape)}, expected {want} for "
                         f"input {tuple(x.shape)}, dim {dim} and {idx.shape[0]} indices")
    xp = _xp(x)
    grids = list(xp.meshgrid(*[xp.arange(n) for n in want], indexing="ij"))
    grids[d] = idx.reshape((1,) * d + (-1,) + (1,) * (x.ndim - d - 1)) + grids[d] * 0
    return tuple(grids), _ta._cast_like(s, x)


def index_reduce(input, dim, index, source, reduce, *, include_self=True):
    """``input`` with slice i of ``source`` reduced into slice ``index[i]`` of ``dim`` by
    ``reduce``: "prod", "mean", "amax" or "amin" (PyTorch's set)."""
    x = _t(input, "index_reduce")
    if reduce not in ("prod", "mean", "amax", "amin"):
        raise ValueError(f"index_reduce(): reduce must be prod, mean, amax or amin, got "
                         f"{reduce!r}")
    if x.ndim == 0:
        return _one_element(index_reduce, x, dim, index, source, "index_reduce", reduce,
                            include_self=include_self)
    fidx, s = _index_places(x, dim, index, source, "index_reduce")
    return _scatter_reduced(x, fidx, s, reduce, include_self, "index_reduce")


def index_copy(input, dim, index, source):
    """``input`` with slice ``index[i]`` of ``dim`` replaced by slice i of ``source``."""
    x = _t(input, "index_copy")
    if x.ndim == 0:
        return _one_element(index_copy, x, dim, index, source, "index_copy")
    fidx, s = _index_places(x, dim, index, source, "index_copy")
    return _zero_at(x, fidx) + _untake(s, fidx, x.shape)


def index_put(input, indices, values, accumulate=False):
    """``input`` with ``values`` written at ``input[indices]`` (a tuple of index tensors), or
    added there with ``accumulate=True`` (repeated indices then add up)."""
    x = _t(input, "index_put")
    if not isinstance(indices, (tuple, list)):
        raise TypeError("index_put(): indices must be a tuple of tensors")
    idx = tuple(i.data if isinstance(i, Tensor) else i for i in indices)
    v = values if isinstance(values, Tensor) else _const(_xp(x).asarray(values, dtype=x.dtype))
    shape = _xp(x).empty(x.shape, dtype=np.int8)[idx].shape
    v = _sh.broadcast_to(_ta._cast_like(v, x), shape)
    if accumulate:
        return x + _untake(v, idx, x.shape)
    return _zero_at(x, idx) + _untake(v, idx, x.shape)


def _broadcast_shapes(a, b, op, name_a, name_b):
    try:
        return tuple(np.broadcast_shapes(tuple(a), tuple(b)))
    except ValueError:
        raise RuntimeError(f"{op}(): {name_a} of shape {tuple(a)} and {name_b} of shape "
                           f"{tuple(b)} do not broadcast") from None


def masked_scatter(input, mask, source):
    """``input`` with the places where ``mask`` (broadcast to input) holds taken, in order,
    from the elements of ``source``."""
    x = _t(input, "masked_scatter")
    m = _t(mask, "masked_scatter", "mask")
    if m.dtype != np.bool_:
        raise TypeError(f"masked_scatter(): mask must be a bool tensor, got {m.dtype}")
    s = _t(source, "masked_scatter", "source")
    xp = _xp(x)
    if m.shape != x.shape:  # the answer has the shape of input and mask broadcast together
        shape = _broadcast_shapes(x.shape, m.shape, "masked_scatter", "input", "mask")
        if shape != x.shape:
            x = _sh.broadcast_to(x, shape)
    mb = xp.broadcast_to(m.data, x.shape).reshape(-1)
    need = int(mb.sum())
    if need > s.numel():
        raise RuntimeError(f"masked_scatter(): the mask selects {need} elements but source "
                           f"(shape {tuple(s.shape)}) has {s.numel()}")
    pos = xp.maximum(xp.cumsum(mb) - 1, 0)
    picked = _getitem(_ta._cast_like(s, x).reshape(-1), pos).reshape(x.shape)
    return _ew.where(_const(mb.reshape(x.shape)), picked, x)


def put(input, index, source, accumulate=False):
    """``input`` (seen flat) with ``source`` written at the flat positions ``index``, or added
    there with ``accumulate=True``."""
    x = _t(input, "put")
    idx = _ta._int_index(index, "put").reshape(-1)
    n = x.numel()
    raw = _raw(idx)
    if raw.size and bool(((raw < -n) | (raw >= n)).any()):  # a host read
        raise IndexError(f"put(): index out of range for a tensor of {n} elements "
                         f"(shape {tuple(x.shape)}): indices must be in [-{n}, {n})")
    idx = idx % n if n else idx
    flat = x.reshape(-1)
    s = _ta._cast_like(_t(source, "put", "source"), x).reshape(-1)
    if s.shape[0] != idx.shape[0]:
        raise ValueError(f"put(): source has {s.shape[0]} elements, index {idx.shape[0]}")
    out = flat + _untake(s, idx, flat.shape) if accumulate else \
        _zero_at(flat, idx) + _untake(s, idx, flat.shape)
    return out.reshape(x.shape)


def _embed(x, src, where, op):
    """``x`` with ``x[where] = src``: a differentiable copy (x's gradient is zero at ``where``,
    src's is the gradient there)."""
    target = _getitem(x, where)
    s = _t(src, op, "src")
    if tuple(s.shape) != tuple(target.shape):
        raise ValueError(f"{op}(): src has shape {tuple(s.shape)}, expected "
                         f"{tuple(target.shape)}")
    return _zero_at(x, where) + _untake(_ta._cast_like(s, x), where, x.shape)


def select_scatter(input, src, dim, index):
    """``input`` with ``src`` embedded as ``input.select(dim, index)``."""
    x = _t(input, "select_scatter")
    d = _dim(x, dim, "select_scatter")
    return _embed(x, src, (slice(None),) * d + (index,), "select_scatter")


def slice_scatter(input, src, dim=0, start=None, end=None, step=1):
    """``input`` with ``src`` embedded at ``start:end:step`` of ``dim``."""
    x = _t(input, "slice_scatter")
    d = _dim(x, dim, "slice_scatter")
    return _embed(x, src, (slice(None),) * d + (slice(start, end, step),), "slice_scatter")


def diagonal_scatter(input, src, offset=0, dim1=0, dim2=1):
    """``input`` with ``src`` embedded as ``input.diagonal(offset, dim1, dim2)``."""
    x = _t(input, "diagonal_scatter")
    a, b = _dim(x, dim1, "diagonal_scatter"), _dim(x, dim2, "diagonal_scatter")
    if a == b:
        raise ValueError("diagonal_scatter(): dim1 and dim2 must differ")
    n = max(0, min(x.shape[a] - max(0, -offset), x.shape[b] - max(0, offset)))
    xp = _xp(x)
    i = xp.arange(n) + max(0, -offset)
    j = xp.arange(n) + max(0, offset)
    # the diagonal goes last, as Tensor.diagonal puts it
    perm = [k for k in builtins.range(x.ndim) if k not in (a, b)] + [a, b]
    moved = x.permute(*perm)
    where = (Ellipsis, i, j)
    out = _embed(moved, src, where, "diagonal_scatter")
    inv = [perm.index(k) for k in builtins.range(x.ndim)]
    return out.permute(*inv)


def renorm(input, p, dim, maxnorm):
    """Each slice of ``dim`` whose ``p``-norm exceeds ``maxnorm`` scaled down to that norm
    (PyTorch's factor maxnorm / (norm + 1e-7))."""
    x = _t(input, "renorm")
    if x.ndim < 2:  # PyTorch's rule: one norm per slice of dim needs another dimension
        raise RuntimeError(f"renorm(): input needs at least 2 dimensions, got {x.ndim} "
                           f"dimensions (shape {tuple(x.shape)})")
    d = _dim(x, dim, "renorm")
    if p <= 0:
        raise ValueError(f"renorm(): p must be positive, got {p}")
    others = tuple(k for k in builtins.range(x.ndim) if k != d)
    norm = _la.vector_norm(x, p, dim=others, keepdim=True)
    scale = _ew.where(norm > maxnorm, maxnorm / (norm + 1e-7), 1.0)
    return x * scale


def unfold(input, dimension, size, step):
    """``Tensor.unfold``: the windows of ``size`` elements every ``step`` along ``dimension``,
    as a new last dimension (PyTorch's is a view; this is a copy with the same gradient)."""
    x = _t(input, "unfold")
    if x.ndim == 0:  # PyTorch: the one window of a 0-d tensor, shape (size,)
        _dim(x, dimension, "unfold")
        return unfold(x.reshape(1), 0, size, step).reshape((size,))
    else:
        d = _dim(x, dimension, "unfold")
        n = x.shape[d]
    if size > n or size < 0:
        raise RuntimeError(f"unfold(): maximum size for tensor at dimension {d} is {n} but "
                           f"size is {size}")
    if step <= 0:
        raise RuntimeError(f"unfold(): step is {step} but must be > 0")
    xp = _xp(x)
    windows = (n - size) // step + 1
    idx = (xp.arange(windows)[:, None] * step + xp.arange(size)[None, :]).reshape(-1)
    picked = _getitem(x, (slice(None),) * d + (idx,))
    picked = picked.reshape(x.shape[:d] + (windows, size) + x.shape[d + 1:])
    return picked.movedim(d + 1, -1)


def sum_to_size(input, *size):
    """``input`` summed down to ``size``, which it must broadcast from."""
    x = _t(input, "sum_to_size")
    size = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else size
    lead = x.ndim - len(size)
    if lead < 0 or any(s != 1 and s != n for s, n in zip(size, x.shape[lead:])):
        raise RuntimeError(f"sum_to_size(): size {list(size)} is not expandable to size "
                           f"{list(x.shape)}")
    if not size:  # torch sums everything to a 0-d result (a bool one becomes int64)
        return x.sum()
    axes = tuple(builtins.range(lead)) + tuple(lead + i for i, s in enumerate(size)
                                      if s == 1 and x.shape[lead + i] != 1)
    out = x.sum(dim=axes, keepdim=True) if axes else x
    return out.reshape(size)


def vdot(input, other):
    """sum(conj(input) * other) of two 1-D tensors."""
    a, b = _t(input, "vdot"), _t(other, "vdot", "other")
    if a.ndim != 1 or b.ndim != 1 or a.shape != b.shape:
        raise RuntimeError(f"vdot(): expected two 1-D tensors of one size, got shapes "
                           f"{tuple(a.shape)} and {tuple(b.shape)}")
    return (a.conj() * b).sum()


def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):
    """The values with consecutive repeats collapsed (flattened unless ``dim``), and the
    inverse indices and run lengths when asked. No gradient, as PyTorch's."""
    x = _t(input, "unique_consecutive")
    xp = _xp(x)
    a = x.data
    if dim is None:
        flat = a.reshape(-1)
        if flat.size == 0:
            change = xp.zeros(0, dtype=bool)
        else:
            change = xp.concatenate([xp.ones(1, dtype=bool), flat[1:] != flat[:-1]])
        values = flat[change]
    else:
        d = _dim(x, dim, "unique_consecutive")
        if a.size == 0:
            return _ts._unique_dim_empty(x, d, "unique_consecutive", return_inverse,
                                         return_counts)
        m = xp.moveaxis(a, d, 0).reshape(a.shape[d], -1)
        diff = (m[1:] != m[:-1]).any(axis=1) if m.shape[0] else xp.zeros(0, dtype=bool)
        change = xp.concatenate([xp.ones(min(1, m.shape[0]), dtype=bool), diff])
        values = xp.moveaxis(xp.moveaxis(a, d, 0)[change], 0, d)
    out = [_const(values)]
    run = xp.cumsum(change) - 1
    if return_inverse:
        out.append(_const(run.reshape(a.shape if dim is None else (-1,)).astype(np.int64)))
    if return_counts:
        starts = xp.nonzero(change)[0]
        ends = xp.concatenate([starts[1:], xp.asarray([change.shape[0]])])
        out.append(_const((ends - starts).astype(np.int64)))
    return out[0] if len(out) == 1 else tuple(out)


def split_with_sizes(input, split_sizes, dim=0):
    """``split`` with a list of sizes that must add up to the dimension's size."""
    x = _t(input, "split_with_sizes")
    d = _dim(x, dim, "split_with_sizes")
    if builtins.sum(split_sizes) != x.shape[d]:
        raise RuntimeError(f"split_with_sizes(): split_sizes {list(split_sizes)} do not sum "
                           f"to {x.shape[d]} (the size of dim {dim})")
    return _ta.split(x, list(split_sizes), d)


def rsub(input, other, *, alpha=1):
    """other - alpha * input."""
    return other - alpha * _t(input, "rsub")


def bitwise_left_shift(input, other):
    """input << other, elementwise (integers)."""
    return _bit_shift(input, other, "left_shift")


def bitwise_right_shift(input, other):
    """input >> other, elementwise (integers; arithmetic shift for signed ones)."""
    return _bit_shift(input, other, "right_shift")


def _bit_shift(input, other, name):
    x = _t(input, "bitwise_" + name)
    return getattr(_nd, name)(x, other.detach() if isinstance(other, Tensor) else other)


# ---- special functions -------------------------------------------------------------------
def i0(input):
    """The modified Bessel function of order 0 (``tg.special.i0``)."""
    return _sp.i0(_t(input, "i0"))


def igamma(input, other):
    """The regularised lower incomplete gamma function P(input, other) (differentiable in
    ``other``)."""
    return _sp.gammainc(_t(input, "igamma"), other)


def igammac(input, other):
    """The regularised upper incomplete gamma function Q(input, other)."""
    return _sp.gammaincc(_t(input, "igammac"), other)


def mvlgamma(input, p):
    """The multivariate log-gamma function of dimension ``p``."""
    x = _t(input, "mvlgamma")
    bad = x.data <= (p - 1) / 2
    if bool(bad.any()):
        raise RuntimeError(f"mvlgamma(): all elements must be greater than (p-1)/2 = "
                           f"{(p - 1) / 2}")
    return _sp.multigammaln(x, p)


@primitive(saves=False)
def nextafter_(x, other):
    """The next floating-point value after x towards other, on raw arrays."""
    return xp_of(x).nextafter(x, other)


# PyTorch's derivative: the identity in input (the step is below any finite difference), none
# in other
nextafter_.prim.promote = 0  # PyTorch's promotion of the pair
defvjp(nextafter_, lambda g, ans, x, other: g, None)
defjvp(nextafter_, lambda t, ans, x, other: t, None)


def nextafter(input, other):
    """The next floating-point value after ``input`` towards ``other``; the gradient passes
    to ``input`` unchanged (PyTorch's), none to ``other``.

    >>> import tensorgrad as tg
    >>> tg.nextafter(tg.tensor([1.0]), tg.tensor([2.0])).item() > 1.0
    True
    """
    x = _t(input, "nextafter")
    o = other.detach() if isinstance(other, Tensor) else other
    return nextafter_(x, o)


# ---- old linear-algebra names ------------------------------------------------------------
def lu(A, pivot=True, get_infos=False):
    """``(A_LU, pivots)`` (and ``infos`` with ``get_infos``): ``tg.linalg.lu_factor``."""
    a = _t(A, "lu", "A")
    if get_infos:
        return tuple(_la.lu_factor_ex(a, pivot=pivot))
    return tuple(_la.lu_factor(a, pivot=pivot))


def lu_solve(b, LU_data, LU_pivots):
    """The solution of A x = b from ``lu``'s factors of A."""
    return _la.lu_solve(LU_data, LU_pivots, b)


def lu_unpack(LU_data, LU_pivots, unpack_data=True, unpack_pivots=True):
    """``(P, L, U)`` from ``lu``'s packed factors."""
    LU = _t(LU_data, "lu_unpack", "LU_data")
    piv = _t(LU_pivots, "lu_unpack", "LU_pivots")
    xp = _xp(LU)
    m, n = LU.shape[-2], LU.shape[-1]
    k = min(m, n)
    L = U = P = None
    if unpack_data:
        lower = xp.tril(xp.ones((m, k), dtype=bool), -1)
        L = _ew.where(_const(lower), LU[..., :, :k], 0.0) + _const(xp.eye(m, k, dtype=LU.dtype))
        U = LU[..., :k, :].triu()
    if unpack_pivots:
        # the row swaps of LAPACK's ipiv (1-based), applied in order to the identity
        p = piv.data - 1
        batch = p.shape[:-1]
        perm = xp.broadcast_to(xp.arange(m), batch + (m,)).copy()
        flat_perm = perm.reshape(-1, m)
        flat_p = p.reshape(-1, p.shape[-1])
        rows = xp.arange(flat_perm.shape[0])
        for i in builtins.range(flat_p.shape[-1]):
            j = flat_p[:, i]
            a, b = flat_perm[rows, i].copy(), flat_perm[rows, j].copy()
            flat_perm[rows, i] = b
            flat_perm[rows, j] = a
        eye = xp.eye(m, dtype=LU.dtype)
        # A = P L U: column c of P is e_{perm[c]}
        P = _const(xp.swapaxes(eye[flat_perm.reshape(batch + (m,))], -1, -2))
    return LuUnpackResult(P, L, U)


def triangular_solve(b, A, upper=True, transpose=False, unitriangular=False):
    """``(solution, cloned_coefficient)`` of A X = b (or Aᵀ X = b) for triangular A."""
    a = _t(A, "triangular_solve", "A")
    if transpose:
        a_used, up = a.mT, not upper
    else:
        a_used, up = a, upper
    x = _la.solve_triangular(a_used, _t(b, "triangular_solve", "b"), upper=up,
                             unitriangular=unitriangular)
    return TriangularSolveResult(x, a.clone())


def nuclear_norm(input, dim=None, keepdim=False):
    """The sum of the singular values (of the last two dims, or of ``dim``)."""
    return _la.matrix_norm(_t(input, "nuclear_norm"), "nuc",
                           dim=(-2, -1) if dim is None else tuple(dim), keepdim=keepdim)


def frobenius_norm(input, dim=None, keepdim=False):
    """The Frobenius norm (of all elements, or of ``dim``)."""
    x = _t(input, "frobenius_norm")
    dims = tuple(builtins.range(x.ndim)) if dim is None else tuple(dim)
    return _la.vector_norm(x, 2, dim=dims, keepdim=keepdim)


# ---- creation ----------------------------------------------------------------------------
def range(start=0, end=None, step=1, *, dtype=None, device=None, requires_grad=False):
    """Deprecated in PyTorch: ``start, start + step, ... , end`` with ``end`` included (float
    by default)."""
    warnings.warn("torch.range is deprecated and will be removed in a future release because "
                  "its behavior is inconsistent with Python's range builtin. Instead, use "
                  "tg.arange, which produces values in [start, end).", UserWarning, stacklevel=2)
    if end is None:
        start, end = 0, start
    n = int(math.floor((end - start) / step)) + 1
    vals = np.asarray([start + i * step for i in builtins.range(max(n, 0))], dtype=np.float64)
    return _cr.tensor(vals, dtype=dtype or _cr.get_default_dtype(), device=device,
                      requires_grad=requires_grad)


def scalar_tensor(s, *, dtype=None, device=None, requires_grad=False):
    """A 0-d tensor holding ``s`` (default dtype float)."""
    return _cr.tensor(s, dtype=dtype or _cr.get_default_dtype(), device=device,
                      requires_grad=requires_grad)


def frombuffer(buffer, *, dtype, count=-1, offset=0, requires_grad=False):
    """A 1-D CPU tensor over the bytes of ``buffer`` (shares its memory, as PyTorch's)."""
    arr = np.frombuffer(buffer, dtype=np.dtype(dtype), count=count, offset=offset)
    t = _new_tensor(arr, None, False)
    return t.requires_grad_(True) if requires_grad else t


def empty_strided(size, stride, *, dtype=None, device=None, requires_grad=False):
    """An uninitialised tensor of ``size``: the strides are a layout PyTorch honours and NumPy
    and CuPy choose themselves, so they are checked and the result is contiguous."""
    if len(stride) != len(size):
        raise RuntimeError(f"empty_strided(): mismatch in length of strides ({len(stride)}) "
                           f"and shape ({len(size)})")
    return _cr.empty(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def empty_permuted(size, physical_layout, *, dtype=None, device=None, requires_grad=False):
    """An uninitialised tensor of ``size`` (the physical layout is NumPy's choice here)."""
    if sorted(physical_layout) != list(builtins.range(len(size))):
        raise RuntimeError(f"empty_permuted(): physical_layout {list(physical_layout)} is not "
                           f"a permutation of the {len(size)} dims")
    return _cr.empty(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def fill(input, value):
    """A tensor of input's shape, dtype and device filled with ``value`` (a number or a 0-d
    tensor, which gets the gradient)."""
    x = _t(input, "fill")
    if isinstance(value, Tensor):
        return _sh.broadcast_to(_ta._cast_like(value, x), x.shape) + x.detach() * 0
    return _cr.full(tuple(x.shape), value, dtype=x.dtype, device=x.device)


def detach(input):
    """``input.detach()``."""
    return _t(input, "detach").detach()


def is_same_size(input, other):
    """Whether two tensors have the same shape."""
    return tuple(_t(input, "is_same_size").shape) == tuple(_t(other, "is_same_size").shape)


def is_signed(input):
    """Whether the dtype is signed (floating and complex ones are)."""
    return _t(input, "is_signed").dtype.kind in "ifc"


def is_neg(input):
    """Always False: tensorgrad negates eagerly, it has no lazy negation bit."""
    _t(input, "is_neg")
    return False


def binomial(count, prob, generator=None):
    """Samples of Binomial(count, prob), elementwise, on their device."""
    c = _t(count, "binomial", "count")
    p = _t(prob, "binomial", "prob")
    n = int(c.data.max()) if c.numel() else 0
    u = _cr.rand(*(tuple(c.shape) + (max(n, 1),)), generator=generator, dtype=p.dtype,
                 device=c.device)
    xp = _xp(c)
    keep = xp.arange(max(n, 1)) < c.data[..., None]
    return _const(((u.data < p.data[..., None]) & keep).sum(axis=-1).astype(p.dtype))


def poisson(input, generator=None):
    """Samples of Poisson(rate), elementwise, on their device."""
    rate = _t(input, "poisson")
    gen = _cr._source(generator, rate.device, "poisson")()
    return _const(gen.poisson(rate.data).astype(rate.dtype))


def histogramdd(input, bins=10, *, range=None, weight=None, density=False):
    """``(hist, bin_edges)`` of the points in the rows of ``input`` (N, D), on the CPU as
    PyTorch's (the counts are read back from a GPU)."""
    x = _t(input, "histogramdd")
    pts = x.data if type(x.data) is not _CUPY_ARRAY else x.data.get()
    w = None if weight is None else (weight.data if type(weight.data) is not _CUPY_ARRAY
                                     else weight.data.get())
    rng = None if range is None else [tuple(range[i:i + 2]) for i in
                                      builtins.range(0, len(range), 2)]
    pts = pts.reshape(-1, pts.shape[-1])
    if w is not None:  # one weight per point: weight has input's shape without the last dim
        if tuple(w.shape) != tuple(x.shape[:-1]):
            raise ValueError(f"histogramdd(): weight of shape {tuple(w.shape)} must have "
                             f"input's shape {tuple(x.shape)} without the last dim")
        w = w.reshape(-1)
    if isinstance(bins, (list, tuple)) and bins and isinstance(bins[0], Tensor):
        edges = [b.data if type(b.data) is not _CUPY_ARRAY else b.data.get() for b in bins]
        hist = _histogram_at_edges(pts, edges, w, density)
    else:
        hist, edges = np.histogramdd(pts, bins=bins, range=rng, weights=w, density=density)
    return _HistogramddResult(_cr.tensor(hist.astype(x.dtype), device=x.device),
                              [_cr.tensor(e.astype(x.dtype), device=x.device) for e in edges])


def _upper_bound(edges, v):
    """C++'s std::upper_bound of each value in ``v`` over ``edges`` (the same steps, so edges
    out of order give PyTorch's answers too): the first position whose edge exceeds it."""
    first = np.zeros(v.shape, np.int64)
    count = np.full(v.shape, edges.shape[0], np.int64)
    while count.max(initial=0) > 0:
        step = count // 2
        it = np.minimum(first + step, edges.shape[0] - 1)
        right = (count > 0) & ~(v < edges[it])
        first = np.where(right, it + 1, first)
        count = np.where(right, count - step - 1, np.where(count > 0, step, 0))
    return first


def _histogram_at_edges(pts, edges, weights, density):
    """PyTorch's histogramdd for explicit bin edges (on host arrays): a point counts where each
    coordinate lies within [first edge, last edge] of its dimension, in the bin that
    std::upper_bound finds (the last bin closed on the right); edges need not be sorted."""
    shape = tuple(e.shape[0] - 1 for e in edges)
    keep = np.ones(pts.shape[0], bool)
    flat = np.zeros(pts.shape[0], np.int64)
    for d, e in enumerate(edges):
        v = pts[:, d]
        keep &= (v >= e[0]) & (v <= e[-1])
        pos = _upper_bound(e, v) - 1
        pos = np.where(pos == e.shape[0] - 1, pos - 1, pos)
        flat = flat * shape[d] + np.clip(pos, 0, max(shape[d] - 1, 0))
    w = np.ones(pts.shape[0], pts.dtype) if weights is None else weights.reshape(-1)
    hist = np.zeros(int(np.prod(shape)), np.result_type(pts.dtype, w.dtype))
    np.add.at(hist, flat[keep], w[keep])
    hist = hist.reshape(shape)
    if density:
        with np.errstate(all="ignore"):
            hist = hist / hist.sum()
            for d, e in enumerate(edges):
                hist = hist / np.diff(e).reshape((1,) * d + (-1,) + (1,) * (len(edges) - d - 1))
    return hist


_HistogramddResult = namedtuple("histogramdd", ["hist", "bin_edges"])


def gradient(input, *, spacing=1, dim=None, edge_order=1):
    """The derivative of sampled values by central differences inside and one-sided ones at
    the edges (``numpy.gradient``'s rule): one tensor per dimension in ``dim``. ``spacing``: a
    number (None is 1), one number per dim, or one 1-d tensor of coordinates per dim (uneven
    steps). Differentiable: a composition of slices."""
    x = _t(input, "gradient")
    dims = list(builtins.range(x.ndim)) if dim is None else \
        [dim] if isinstance(dim, int) else list(dim)
    dims = [_dim(x, d, "gradient") for d in dims]
    if len(set(dims)) != len(dims):
        twice = next(d for d in dims if dims.count(d) > 1)
        raise RuntimeError(f"gradient(): dim {twice} appears multiple times in dim {dim} "
                           f"(input of shape {tuple(x.shape)})")
    if edge_order not in (1, 2):
        raise ValueError(f"gradient(): edge_order must be 1 or 2, got {edge_order}")
    if spacing is None:
        spacing = 1
    if isinstance(spacing, (list, tuple)):
        hs = list(spacing)
    else:
        hs = [spacing] * len(dims)
    if len(hs) != len(dims):
        raise RuntimeError(f"gradient(): expected spacing to have {len(dims)} entries, got "
                           f"{len(hs)}")
    outs = []
    for d, h in zip(dims, hs):
        n = x.shape[d]
        if n < edge_order + 1:
            raise RuntimeError(f"gradient(): each dimension needs at least edge_order + 1 = "
                               f"{edge_order + 1} samples; dim {d} has {n}")

        def at(sl, d=d, v=x):
            return v[(slice(None),) * d + (sl,)]

        if isinstance(h, Tensor):
            outs.append(_coordinate_gradient(x, d, h, edge_order, at))
            continue
        inner = (at(slice(2, None)) - at(slice(None, -2))) / (2.0 * h)
        if edge_order == 1:
            first = (at(slice(1, 2)) - at(slice(0, 1))) / h
            last = (at(slice(-1, None)) - at(slice(-2, -1))) / h
        else:
            first = (-1.5 * at(slice(0, 1)) + 2 * at(slice(1, 2)) - 0.5 * at(slice(2, 3))) / h
            last = (0.5 * at(slice(-3, -2)) - 2 * at(slice(-2, -1)) + 1.5 * at(slice(-1, None))) \
                / h
        outs.append(_ta.cat([first, inner, last], d))
    return tuple(outs)


def _coordinate_gradient(x, d, coords, edge_order, at):
    """gradient() along ``d`` sampled at the 1-d ``coords`` (numpy.gradient's second-order
    formulas for uneven steps)."""
    if coords.ndim != 1 or coords.shape[0] != x.shape[d]:
        raise RuntimeError(f"gradient(): a spacing tensor must be 1-d with the {x.shape[d]} "
                           f"coordinates of dim {d}, got shape {tuple(coords.shape)}")
    c = coords.reshape((1,) * d + (-1,) + (1,) * (x.ndim - d - 1))
    h = at(slice(1, None), v=c) - at(slice(None, -1), v=c)  # the n - 1 steps, along d

    def step(sl):
        return at(sl, v=h)

    h1, h2 = step(slice(None, -1)), step(slice(1, None))
    inner = (-h2 / (h1 * (h1 + h2))) * at(slice(None, -2)) + \
        ((h2 - h1) / (h1 * h2)) * at(slice(1, -1)) + (h1 / (h2 * (h1 + h2))) * at(slice(2, None))
    if edge_order == 1:
        first = (at(slice(1, 2)) - at(slice(0, 1))) / step(slice(0, 1))
        last = (at(slice(-1, None)) - at(slice(-2, -1))) / step(slice(-1, None))
    else:
        a, b = step(slice(0, 1)), step(slice(1, 2))
        first = (-(a + a + b) / (a * (a + b))) * at(slice(0, 1)) + \
            ((a + b) / (a * b)) * at(slice(1, 2)) + (-a / (b * (a + b))) * at(slice(2, 3))
        a, b = step(slice(-2, -1)), step(slice(-1, None))
        last = (b / (a * (a + b))) * at(slice(-3, -2)) + \
            (-(a + b) / (a * b)) * at(slice(-2, -1)) + ((b + b + a) / (b * (a + b))) * \
            at(slice(-1, None))
    return _ta.cat([first, inner, last], d)


# ---- control flow and compilation (eager) --------------------------------------------------
def cond(pred, true_fn, false_fn, operands=()):
    """``true_fn(*operands)`` if ``pred`` holds, else ``false_fn(*operands)``, run eagerly
    (reading a tensor ``pred`` waits for a GPU)."""
    p = pred.item() if isinstance(pred, Tensor) else pred
    return (true_fn if p else false_fn)(*operands)


def while_loop(cond_fn, body_fn, carried_inputs):
    """Run ``carried_inputs = body_fn(*carried_inputs)`` while ``cond_fn(*carried_inputs)``
    holds, eagerly; returns the final carried values (a tuple)."""
    vals = tuple(carried_inputs)
    while True:
        c = cond_fn(*vals)
        if not (c.item() if isinstance(c, Tensor) else c):
            return vals
        vals = body_fn(*vals)
        vals = vals if isinstance(vals, tuple) else tuple(vals) if isinstance(vals, list) \
            else (vals,)


def compile(model=None, *, fullgraph=False, dynamic=None, backend="inductor", mode=None,
            options=None, name=None, disable=False, recompile_limit=None,
            isolate_recompiles=False, shapes_spec=None):
    """tensorgrad has no graph compiler: everything runs eagerly with the same results.
    ``compile(f)`` of a function returns ``f`` itself (``@compile(...)`` decorates with no
    change); ``compile(module)`` returns an ``OptimizedModule`` wrapping it as PyTorch's does
    (``_orig_mod``, ``state_dict`` keys prefixed ``_orig_mod.``, attributes read and written
    through), or ``module`` itself with ``disable=True``. The recompilation switches
    (``name``, ``recompile_limit``, ``isolate_recompiles``, ``shapes_spec``) have nothing to
    control."""
    if model is None:
        return lambda m: compile(m, disable=disable)
    from .nn.modules import Module

    if disable or not isinstance(model, Module) or isinstance(model, OptimizedModule):
        return model
    return OptimizedModule(model)


def _optimized_module_class():
    from .nn.modules import Module

    class OptimizedModule(Module):
        """What ``tg.compile(module)`` returns, as ``torch.compile``'s: the module as the child
        ``_orig_mod`` (so ``named_parameters``/``state_dict`` names start with ``_orig_mod.``),
        attributes and ``training`` read and written through to it, calls running it."""

        _own = frozenset({"_orig_mod", "forward", "dynamo_ctx", "_initialized"})

        def __init__(self, mod):
            object.__setattr__(self, "_initialized", False)
            super().__init__()
            self._modules["_orig_mod"] = mod
            object.__setattr__(self, "_initialized", True)

        @property
        def training(self):
            return self._modules["_orig_mod"].training

        @training.setter
        def training(self, value):
            if self.__dict__.get("_initialized"):
                self._modules["_orig_mod"].training = value

        def forward(self, *args, **kwargs):
            return self._modules["_orig_mod"](*args, **kwargs)

        def __getattr__(self, name):
            mods = self.__dict__.get("_modules")
            if mods is None or "_orig_mod" not in mods:
                raise AttributeError(f"'OptimizedModule' object has no attribute '{name}'")
            if name == "_orig_mod":
                return mods["_orig_mod"]
            return getattr(mods["_orig_mod"], name)

        def __setattr__(self, name, value):
            if hasattr(type(self), name) or name in self._own or \
                    not self.__dict__.get("_initialized"):
                return super().__setattr__(name, value)
            return setattr(self._modules["_orig_mod"], name, value)

        def __delattr__(self, name):
            if hasattr(type(self), name) or name in self._own:
                return super().__delattr__(name)
            return delattr(self._modules["_orig_mod"], name)

        def __len__(self):
            return len(self._modules["_orig_mod"])

        def __dir__(self):
            mine = self._modules["_orig_mod"].__dir__()
            return mine + [a for a in super().__dir__() if a not in mine]

    OptimizedModule.__module__ = "tensorgrad"
    return OptimizedModule


OptimizedModule = _optimized_module_class()


# ---- process switches --------------------------------------------------------------------
_LEGACY_TYPES = {}


class _LegacyTensorType(type):
    """``tg.FloatTensor`` and friends: calling one makes a CPU tensor of its dtype
    (``FloatTensor(2, 3)`` uninitialised, ``FloatTensor([1, 2])`` from data), and
    ``isinstance(t, tg.FloatTensor)`` tests the dtype and device, as PyTorch's."""

    def __call__(cls, *args, device=None):
        if not args:
            args = (0,)
        if len(args) == 1 and not isinstance(args[0], numbers.Integral):
            return _cr.tensor(args[0], dtype=cls.dtype, device=device or cls.device)
        return _cr.empty(*args, dtype=cls.dtype, device=device or cls.device)

    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj.dtype == cls.dtype and \
            obj.device.type == cls.device

    def __repr__(cls):
        return f"<class 'tensorgrad.{cls.__name__}'>"


for _name, _dt in [("FloatTensor", np.float32), ("DoubleTensor", np.float64),
                   ("HalfTensor", np.float16), ("LongTensor", np.int64),
                   ("IntTensor", np.int32), ("ShortTensor", np.int16), ("CharTensor", np.int8),
                   ("ByteTensor", np.uint8), ("BoolTensor", np.bool_)]:
    _LEGACY_TYPES[_name] = _LegacyTensorType(_name, (), {"dtype": np.dtype(_dt),
                                                         "device": "cpu"})
globals().update(_LEGACY_TYPES)


def set_default_tensor_type(t):
    """Deprecated in PyTorch: the default floating dtype from a tensor type
    (``tg.DoubleTensor`` or its name ``"torch.DoubleTensor"``)."""
    name = t if isinstance(t, str) else getattr(t, "__name__", "")
    name = name.split(".")[-1]
    typ = _LEGACY_TYPES.get(name)
    if typ is None or typ.dtype.kind != "f":
        raise TypeError(f"set_default_tensor_type(): only floating-point types are supported "
                        f"as the default type, got {t!r}")
    _cr.set_default_dtype(typ.dtype)


def typename(obj):
    """PyTorch's type name: ``"torch.FloatTensor"``-style for tensors, the class's name
    otherwise."""
    if isinstance(obj, Tensor):
        for name, typ in _LEGACY_TYPES.items():
            if typ.dtype == obj.dtype:
                prefix = "torch.cuda." if obj.device.type == "cuda" else "torch."
                return prefix + name
        return f"torch.{obj.dtype}"
    mod = type(obj).__module__
    return type(obj).__qualname__ if mod == "builtins" else f"{mod}.{type(obj).__qualname__}"


def is_storage(obj):
    """Always False: tensorgrad has no storage objects (tensors hold NumPy/CuPy arrays)."""
    return False


_WARN_ALWAYS = [False]
_DET_DEBUG = [0]
_INTEROP = [1]


def set_warn_always(b):
    """PyTorch's switch for warnings it gives once; kept and reported by
    ``is_warn_always_enabled``."""
    _WARN_ALWAYS[0] = bool(b)


def is_warn_always_enabled():
    return _WARN_ALWAYS[0]


def set_deterministic_debug_mode(debug_mode):
    """0/"default", 1/"warn" or 2/"error", as PyTorch's (tensorgrad's ops are deterministic on
    the CPU; on a GPU, scatter-adds are not)."""
    modes = {"default": 0, "warn": 1, "error": 2}
    m = modes.get(debug_mode, debug_mode)
    if m not in (0, 1, 2):
        raise RuntimeError(f"set_deterministic_debug_mode(): invalid mode {debug_mode!r}")
    _DET_DEBUG[0] = m


def get_deterministic_debug_mode():
    return _DET_DEBUG[0]


def set_num_interop_threads(n):
    """Kept for PyTorch code; tensorgrad runs ops in the calling thread."""
    if n < 1:
        raise RuntimeError("set_num_interop_threads(): expected a positive number of threads")
    _INTEROP[0] = int(n)


def get_num_interop_threads():
    return _INTEROP[0]


def set_anomaly_enabled(enabled, check_nan=True):
    """``tg.autograd.set_detect_anomaly``'s switch, as a function."""
    _anomaly._switch(bool(enabled))


def is_anomaly_enabled():
    return _anomaly.is_anomaly_enabled()


def is_anomaly_check_nan_enabled():
    return _anomaly.is_anomaly_enabled()


# ---- Tensor methods ----------------------------------------------------------------------
def _storage_root(a):
    """The last NumPy array down ``a``'s ``.base`` chain: the array whose memory is ``a``'s
    storage (past it lies a buffer: shared memory, bytes, a mapped file)."""
    while True:
        b = a.base
        if isinstance(b, np.ndarray):
            a = b
        elif b is not None and isinstance(getattr(b, "base", None), np.ndarray):
            a = b.base  # np.lib.stride_tricks.as_strided's DummyArray, or a storage's span
        else:
            return a


def _stride(self, dim=None):
    st = tuple(s // self.data.itemsize for s in self.data.strides)
    return st if dim is None else st[_dim(self, dim, "stride")]


def _storage_offset(self):
    a = self.data
    if type(a) is _CUPY_ARRAY:
        return (a.data.ptr - a.data.mem.ptr) // a.itemsize
    root = _storage_root(a)
    return (a.__array_interface__["data"][0] - root.__array_interface__["data"][0]) // \
        a.itemsize


def _data_ptr(self):
    a = self.data
    return int(a.data.ptr) if type(a) is _CUPY_ARRAY else int(a.__array_interface__["data"][0])


def _dim_order(self, *, ambiguity_check=False):
    st = _stride(self)
    return tuple(sorted(builtins.range(self.ndim), key=lambda i: -st[i]))


def _is_nonzero(self):
    if self.numel() != 1:
        raise RuntimeError(f"is_nonzero(): boolean value of a tensor with {self.numel()} "
                           "values is ambiguous")
    return bool(self.data.reshape(()) != 0)


def _is_set_to(self, other):
    return type(self.data) is type(other.data) and _data_ptr(self) == _data_ptr(other) and \
        self.shape == other.shape and _stride(self) == _stride(other)


def _cast(dtype):
    def method(self, *, memory_format=None):
        return self.to(dtype, memory_format=memory_format)

    return method


def _no_dtype(name, why):
    def method(self, *args, **kwargs):
        raise TypeError(f"{name}(): {why}")

    method.__name__ = name
    return method


def _new(self, *args, device=None):
    """Legacy ``x.new(...)``: ``x.new(2, 3)`` an uninitialised tensor, ``x.new(data)`` one
    from data, both of x's dtype and device."""
    dev = device or self.device
    if len(args) == 1 and not isinstance(args[0], numbers.Integral):
        a = args[0]
        if isinstance(a, Tensor):
            return a
        return _cr.tensor(a, dtype=self.dtype, device=dev)
    return _cr.empty(*args, dtype=self.dtype, device=dev)


def _resize_(self, *sizes):
    """Change the shape (and the number of elements) in place: the first elements keep their
    values, new ones are zero. Refused for a tensor that requires grad, as PyTorch's."""
    sizes = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) \
        else sizes
    if self._rg:
        raise RuntimeError("resize_(): cannot resize a tensor that requires grad")
    xp = _xp(self)
    n = int(np.prod(sizes))
    flat = self.data.reshape(-1)
    new = xp.zeros(n, dtype=self.dtype)
    k = min(n, flat.shape[0])
    new[:k] = flat[:k]
    self.data = new.reshape(sizes)
    bump_version(self._vc)
    return self


def _resize_as_(self, other):
    return _resize_(self, tuple(other.shape))


def _shape_inplace(name, fn):
    """An in-place change of shape (``unsqueeze_``, ``t_``, ...): the tensor takes the new
    view's array and history; a leaf that requires grad refuses, as PyTorch's."""
    def method(self, *args, **kwargs):
        from .autograd.grad_mode import _state

        if _state.enabled and self._rg and self._node is None:
            raise RuntimeError(f"{name}: a leaf tensor that requires grad is used in an "
                               "in-place operation")
        r = fn(self, *args, **kwargs)
        self.data = r.data
        self._node = r._node
        self._rg = r._rg
        return self

    method.__name__ = method.__qualname__ = name
    return method


def _fill_diagonal_(self, fill_value, wrap=False):
    """Write ``fill_value`` on the main diagonal (all dims of one size, or a tall matrix with
    ``wrap``) in place."""
    if self.ndim < 2:
        raise RuntimeError("fill_diagonal_(): dimensions must larger than 1")
    if self.ndim > 2 and len(set(self.shape)) != 1:
        raise RuntimeError("fill_diagonal_(): all dimensions of input must be of equal length")
    xp = _xp(self)
    if self.ndim == 2:
        rows, cols = self.shape
        n = rows if wrap and rows > cols else min(rows, cols)
        flat = xp.arange(0, rows * cols, cols + 1)
        if not (wrap and rows > cols):
            flat = flat[:n]
        idx = (flat // cols, flat % cols)
    else:
        i = xp.arange(self.shape[0])
        idx = (i,) * self.ndim
    self[idx] = fill_value
    return self


def _apply_(self, callable):
    """Apply ``callable`` to each element in place (CPU tensors only, as PyTorch's)."""
    if type(self.data) is _CUPY_ARRAY:
        raise TypeError("apply_(): is only implemented on CPU tensors")
    flat = self.data.reshape(-1)  # a copy when the tensor is not C-contiguous: written back
    for i in builtins.range(flat.shape[0]):
        flat[i] = callable(flat[i].item())
    self.data[...] = flat.reshape(self.data.shape)
    bump_version(self._vc)
    return self


def _map_(self, tensor, callable):
    """self[i] = callable(self[i], tensor[i]) in place (CPU tensors only, as PyTorch's)."""
    if type(self.data) is _CUPY_ARRAY:
        raise TypeError("map_(): is only implemented on CPU tensors")
    other = np.broadcast_to(tensor.data, self.shape).reshape(-1)
    flat = self.data.reshape(-1)  # a copy when the tensor is not C-contiguous: written back
    for i in builtins.range(flat.shape[0]):
        flat[i] = callable(flat[i].item(), other[i].item())
    self.data[...] = flat.reshape(self.data.shape)
    bump_version(self._vc)
    return self


def _random_fill(name, draw, check):
    """The in-place fill ``name`` drawing ``draw(u, *args)`` from uniforms ``u``; ``check(*args)``
    is the message of PyTorch's error for bad scalar parameters, else None."""
    def method(self, *args, generator=None, **kwargs):
        _check_params(name, self, check(*args, **kwargs))
        _cr._source(generator, self.device, name)
        u = _cr.rand(*self.shape, generator=generator, dtype=np.float64, device=self.device)
        vals = draw(u, *args, **kwargs)
        return self.copy_(vals.to(self.dtype))

    method.__name__ = method.__qualname__ = name
    return method


def _check_params(name, self, problem):
    if problem is not None:
        raise RuntimeError(f"{name}(): expects {problem} (tensor of shape {tuple(self.shape)})")


def _bad(v, ok):
    """True if ``v`` is a real number (checked on the host, O(1)) for which ``ok`` fails."""
    return isinstance(v, numbers.Real) and not ok(v)


def _exponential(u, lambd=1.0):
    return -_ew.log1p(-u) / lambd


def _exponential_check(lambd=1.0):
    return f"lambda > 0.0, but found lambda={lambd}" if _bad(lambd, lambda v: v > 0) else None


def _geometric(u, p):
    return _nd.floor(_ew.log1p(-u) / math.log1p(-p)) + 1


def _geometric_check(p):
    return f"p to be in (0, 1), but got p={p}" if _bad(p, lambda v: 0 < v < 1) else None


def _cauchy(u, median=0.0, sigma=1.0):
    return median + sigma * _ew.tan(math.pi * (u - 0.5))


def _cauchy_check(median=0.0, sigma=1.0):
    return f"sigma > 0.0, but found sigma={sigma}" if _bad(sigma, lambda v: v > 0) else None


def _log_normal_(self, mean=1.0, std=2.0, *, generator=None):
    if _bad(std, lambda v: v > 0):
        _check_params("log_normal_", self, f"std > 0.0, but found std={std}")
    _cr._source(generator, self.device, "log_normal_")
    z = _cr.randn(*self.shape, generator=generator, dtype=np.float64, device=self.device)
    return self.copy_(_ew.exp(z * std + mean).to(self.dtype))


def _bernoulli_(self, p=0.5, *, generator=None):
    _cr._source(generator, self.device, "bernoulli_")
    u = _cr.rand(*self.shape, generator=generator, dtype=np.float64, device=self.device)
    pp = p.to(np.float64) if isinstance(p, Tensor) else p
    return self.copy_((u < pp).to(self.dtype))


def _random_(self, from_=0, to=None, *, generator=None):
    """Integers in [from_, to - 1] (``random_(to)``: [0, to - 1]; no bounds: [0, 2^mantissa]
    for floats, the dtype's range for integers), as PyTorch's."""
    if to is None and from_ != 0:
        from_, to = 0, from_
    if to is None:
        to = (1 << (np.finfo(self.dtype).nmant + 1)) + 1 if self.dtype.kind == "f" else \
            int(np.iinfo(self.dtype).max) + 1
    if from_ >= to:
        raise RuntimeError(f"random_(): expects 'from' to be less than 'to', but got "
                           f"from={from_} >= to={to}")
    r = _cr.randint(from_, to, tuple(self.shape), generator=generator, dtype=np.int64,
                    device=self.device)
    return self.copy_(r.to(self.dtype))


def _H(self):
    if self.ndim not in (0, 2):
        raise RuntimeError("tensor.H is only supported on matrices (2-D tensors)")
    return self.mH if self.ndim == 2 else self


def _mH(self):
    return self.mT.conj()


def _retains_grad(self):
    node = self._node
    return node is not None and getattr(node, "retain", None) is not None


# methods = function(self, ...) of this module
_FUNCTION_METHODS = ("scatter_reduce index_reduce index_copy index_put masked_scatter put "
                     "select_scatter slice_scatter diagonal_scatter renorm unfold sum_to_size "
                     "vdot unique_consecutive split_with_sizes i0 igamma igammac mvlgamma "
                     "nextafter").split()
# name_ writes name(self, ...) into self (those Tensor lacks)
_INPLACE = ("eq ne lt le gt ge greater greater_equal less less_equal not_equal logical_and "
            "logical_or logical_xor logical_not bitwise_and bitwise_or bitwise_xor bitwise_not "
            "bitwise_left_shift bitwise_right_shift copysign heaviside gcd lcm ldexp xlogy "
            "sinc deg2rad rad2deg absolute arccos arccosh arcsin arcsinh arctan arctan2 "
            "arctanh cumsum cumprod addmm addbmm baddbmm addmv addr "
            "renorm index_copy index_put put masked_scatter scatter_reduce index_reduce "
            "polygamma mvlgamma i0 igamma igammac nextafter").split()
_SHAPE_INPLACE = "squeeze unsqueeze t transpose swapaxes swapdims".split()


def _polygamma_method(self, n):
    return _sp.polygamma(n, self)


def _attach(T):
    g = globals()
    for name in _FUNCTION_METHODS:
        if not hasattr(T, name):
            setattr(T, name, g[name])
    if not hasattr(T, "polygamma"):
        T.polygamma = _polygamma_method
    for name in _INPLACE:
        if hasattr(T, name + "_"):
            continue
        fn = getattr(T, name, None)
        if fn is None:
            continue
        setattr(T, name + "_", _ta._inplace_method(name + "_", fn))
    for name in _SHAPE_INPLACE:
        if not hasattr(T, name + "_"):
            setattr(T, name + "_", _shape_inplace(name + "_", getattr(T, name)))
    methods = {
        "multiply_": T.mul_, "divide_": T.div_, "subtract_": T.sub_,
        "stride": _stride, "storage_offset": _storage_offset, "data_ptr": _data_ptr,
        "dim_order": _dim_order, "is_nonzero": _is_nonzero,
        "is_set_to": _is_set_to, "is_same_size": is_same_size, "is_signed": is_signed,
        "is_neg": is_neg, "new": _new, "resize_": _resize_, "resize_as_": _resize_as_,
        "fill_diagonal_": _fill_diagonal_, "apply_": _apply_, "map_": _map_,
        "random_": _random_,
        "exponential_": _random_fill("exponential_", _exponential, _exponential_check),
        "geometric_": _random_fill("geometric_", _geometric, _geometric_check),
        "cauchy_": _random_fill("cauchy_", _cauchy, _cauchy_check), "log_normal_": _log_normal_,
        "bernoulli_": _bernoulli_, "to_dense": lambda self, dtype=None: self if dtype is None
        else self.to(dtype),
        "byte": _cast(np.uint8), "char": _cast(np.int8), "short": _cast(np.int16),
        "cfloat": _cast(np.complex64), "cdouble": _cast(np.complex128),
        "chalf": _no_dtype("chalf", "NumPy and CuPy have no complex32 dtype"),
        "bfloat16": _no_dtype("bfloat16", "NumPy and CuPy have no bfloat16 dtype"),
    }
    for name, fn in methods.items():
        if not hasattr(T, name):
            setattr(T, name, fn)
    props = {"nbytes": lambda self: int(self.data.nbytes),
             "is_cpu": lambda self: self.device.type == "cpu",
             "is_sparse": lambda self: False, "is_quantized": lambda self: False,
             "is_meta": lambda self: False, "is_nested": lambda self: False,
             "is_mkldnn": lambda self: False, "layout": lambda self: strided,
             "mH": _mH, "H": _H, "retains_grad": _retains_grad}
    for name, fn in props.items():
        if not hasattr(T, name):
            setattr(T, name, property(fn))


_attach(Tensor)

# torch.abs_(x)-style functions for the in-place methods
_TOP_INPLACE = ("abs acos acosh asin asinh atan atanh arccos arccosh arcsin arcsinh arctan "
                "arctanh ceil clamp clamp_max clamp_min clip cos cosh deg2rad erf erfc exp "
                "exp2 expm1 fix floor frac gcd lcm ldexp log log10 log1p log2 logit nan_to_num "
                "neg negative rad2deg reciprocal relu round rsqrt sigmoid sin sinc sinh sqrt "
                "square tan tanh trunc xlogy fill zero index_put").split()


def _top_inplace(name):
    def fn(input, *args, **kwargs):
        return getattr(_t(input, name), name)(*args, **kwargs)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"``input.{name}(...)``: in place."
    return fn


for _n in _TOP_INPLACE:
    if hasattr(Tensor, _n + "_"):
        globals()[_n + "_"] = _top_inplace(_n + "_")


# the *_copy variants: the op's result as a fresh tensor (tensorgrad's views become copies)
def _copy_variant(name, fn):
    def f(*args, **kwargs):
        r = fn(*args, **kwargs)
        return tuple(t.clone() for t in r) if isinstance(r, (tuple, list)) else r.clone()

    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"``{name[:-5]}`` as a new tensor (no memory shared with the input)."
    return f


_COPY_OF = {
    "alias_copy": lambda x: x, "detach_copy": lambda x: x.detach(),
    "diagonal_copy": lambda x, *a, **k: x.diagonal(*a, **k),
    "expand_copy": lambda x, *a, **k: x.expand(*a, **k),
    "permute_copy": lambda x, dims: x.permute(*dims), "select_copy": lambda x, d, i: x.select(d, i),
    "slice_copy": lambda x, dim=0, start=None, end=None, step=1:
        x[(slice(None),) * (dim % max(x.ndim, 1)) + (slice(start, end, step),)],
    "split_copy": lambda x, *a, **k: _ta.split(x, *a, **k),
    "squeeze_copy": lambda x, *a: x.squeeze(*a), "t_copy": lambda x: x.t(),
    "transpose_copy": lambda x, a, b: x.transpose(a, b),
    "unbind_copy": lambda x, dim=0: x.unbind(dim),
    "unfold_copy": lambda x, *a: unfold(x, *a), "unsqueeze_copy": lambda x, d: x.unsqueeze(d),
    "view_copy": lambda x, size: x.view(size), "narrow_copy": lambda x, *a: x.narrow(*a),
    "view_as_real_copy": lambda x: sys.modules[__package__].view_as_real(x),
    "view_as_complex_copy": lambda x: sys.modules[__package__].view_as_complex(x),
}
for _n, _f in _COPY_OF.items():
    globals()[_n] = _copy_variant(_n, _f)
unsafe_split = _ta.split
unsafe_chunk = _ta.chunk

# the names tensorgrad's top level does not have yet (this module is imported after the others,
# whose functions of the same name stay)
_pkg = sys.modules[__package__]
__all__ = sorted(
    n for n, v in globals().items()
    if not n.startswith("_") and not isinstance(v, type(np)) and not hasattr(_pkg, n)
    and (getattr(v, "__module__", None) == __name__ or isinstance(v, layout)
         or n in ("unsafe_split", "unsafe_chunk", "layout"))
    and n not in ("TriangularSolveResult", "LuUnpackResult", "unfold"))
