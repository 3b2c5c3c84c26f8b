"""Batching for ``vmap``: a value with a hidden batch dimension, and one rule per primitive.

A :class:`Batched` at level L (levels come from the same counter as forward mode's duals) holds
``_primal``, its PHYSICAL value: the batch dimension first, then the logical dimensions; the
physical value is a raw array, a tape Tensor, or a value of a lower level (a dual, or another
vmap's Batched). Its ``shape``/``ndim``/``dtype`` are the logical ones. Its ``.data`` is a
:class:`Logical` stand-in that answers the metadata questions and raises
:class:`BatchingFallback` on any use of the values: code written against ``.data`` (there is
much of it) cannot compute a silently wrong answer, and ``vmap`` reruns the call as a loop.

A primitive meeting a Batched at the top level goes through :func:`apply_batched`: the rule of
its category moves axes and calls the primitive ONCE on the physical values, through the
primitives' wrappers, so that the tape and forward mode (the lower levels) see through it.
Primitives without a rule of their own go through a generic rule that loops over the batch (one
call per slice, then ``stack``): correct for any primitive, and no faster than the loop.
"""

import string

import numpy as np

from ..backend.device import xp_of
from ..tensor import Tensor

STATS = {"rule": {}, "generic": {}, "fallback": 0}  # debug counters (the tests read them)

# the vmap levels open right now, innermost last: (level, batch size). A reverse transform
# that makes its variables while one is open gives each example its own variable (promote).
OPEN = []


class BatchingFallback(RuntimeError):
    """A batched value met code that reads its array: ``vmap`` reruns the call as a loop."""


def _refuse(*_args, **_kw):
    raise BatchingFallback("vmap: a batched tensor's .data was used as an array; the batched "
                           "path cannot run this code (vmap falls back to its loop)")


class _RowMajor:
    __slots__ = ()
    c_contiguous = True


_ROW_MAJOR = _RowMajor()


class Logical:
    """The ``.data`` of a batched value: logical metadata only."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape, dtype):
        self.shape = tuple(shape)
        self.dtype = dtype

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        n = 1
        for s in self.shape:
            n *= s
        return n

    @property
    def flags(self):
        """A logical value has no memory layout: it reads as row-major (flags, strides), so
        ``contiguous()`` is itself, ``clone()`` a plain copy and no layout follows a
        channels_last input under ``vmap``."""
        return _ROW_MAJOR

    @property
    def itemsize(self):
        return np.dtype(self.dtype).itemsize

    @property
    def strides(self):
        out, step = [], self.itemsize
        for n in reversed(self.shape):
            out.append(step)
            step *= n
        return tuple(reversed(out))

    def __getattr__(self, name):
        _refuse()

    def __repr__(self):
        return f"<batched data: logical shape {self.shape}, {self.dtype}>"


for _name in ("__array__", "__len__", "__iter__", "__getitem__", "__setitem__", "__bool__",
              "__float__", "__int__", "__index__", "__complex__", "__neg__", "__pos__",
              "__abs__", "__invert__", "__dlpack__", "__array_function__"):
    setattr(Logical, _name, _refuse)
for _op in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or",
            "xor", "lshift", "rshift", "lt", "le", "gt", "ge"):
    for _f in (f"__{_op}__", f"__r{_op}__", f"__i{_op}__"):
        setattr(Logical, _f, _refuse)
Logical.__eq__ = Logical.__ne__ = _refuse
Logical.__hash__ = object.__hash__
Logical.__array_ufunc__ = None
Logical.__array_priority__ = 10000


class Batched(Tensor):
    """A value with a hidden batch dimension (see the module's docstring)."""

    __slots__ = ()

    @property
    def _level(self):
        return self._lev

    @property
    def device(self):
        from ..backend.device import device_of

        x = self._primal
        while isinstance(x, Tensor) and x._level:
            x = x._primal
        return x.device if isinstance(x, Tensor) else device_of(x)

    def __repr__(self):
        return f"Batched(level={self._lev}, physical={self._primal!r})"

    # values leaving the batched world would be the logical stand-in: refuse instead
    numpy = tolist = item = __array__ = __dlpack__ = __float__ = __int__ = __bool__ = _refuse


_new = object.__new__


def make_batched(physical, level):
    """The Batched of ``physical`` (batch dimension first) at ``level``."""
    b = _new(Batched)
    b.data = Logical(physical.shape[1:], _dtype(physical))
    b._node = None
    b._rg = False
    b.grad = None
    b._vc = [0]
    b._lev = level
    b._primal = physical
    b._tangent = None
    return b


def _dtype(x):
    d = getattr(x, "dtype", None)
    return d if d is not None else np.asarray(x).dtype


def is_batched_at(x, level):
    return type(x) is Batched and x._lev == level


def batch_levels(x):
    """The vmap levels that ``x`` carries (through duals' primals), as a tuple."""
    out = []
    while isinstance(x, Tensor) and x._level:
        if type(x) is Batched:
            out.append(x._lev)
        x = x._primal
    return tuple(sorted(out))


def carries_derivative(x):
    """Whether ``x`` carries a derivative (a dual's tangent, or a place on the tape) under its
    batch levels: a batched cotangent that carries none needs no differentiable backward."""
    while isinstance(x, Tensor) and x._level:
        if type(x) is not Batched:
            return True
        x = x._primal
    return isinstance(x, Tensor) and x._rg


def rewrap(x, primal):
    """``x``'s top level around a new ``primal`` (a Batched or a dual)."""
    from .forward import make_dual  # forward.py imports this module

    if type(x) is Batched:
        return make_batched(primal, x._lev)
    return make_dual(primal, x._lev, x._tangent)


# ---- helpers written with primitives (they see through the tape and lower levels) --------
def _ops():
    from .. import ops

    return ops


def _shape(x):
    try:
        return tuple(x.shape)
    except (AttributeError, TypeError):  # numbers, dtypes, NumPy scalar types
        return ()


def _ndim(x):
    return len(_shape(x))


def broadcast_batch(x, size):
    """The physical value of an unbatched ``x`` broadcast to a batch of ``size``."""
    from ..ops.shape import broadcast_to, expand_dims

    if not hasattr(x, "shape"):
        x = np.asarray(x)
    return broadcast_to(expand_dims(x, 0), (size,) + _shape(x))


def _pad(x, k):
    """A physical batched value with ``k`` singleton dims after the batch dim."""
    if k <= 0:
        return x
    from ..ops.shape import reshape

    s = _shape(x)
    return reshape(x, s[:1] + (1,) * k + s[1:])


def move_to_front(x, d):
    if d == 0:
        return x
    from ..ops.shape import transpose

    n = _ndim(x)
    perm = (d,) + tuple(i for i in range(n) if i != d)
    return transpose(x, perm)


def move_from_front(x, d):
    if d == 0:
        return x
    from ..ops.shape import transpose

    n = _ndim(x)
    rest = list(range(1, n))
    rest.insert(d, 0)
    return transpose(x, tuple(rest))


def promote(x):
    """``x`` carrying every open vmap level (an unbatched value broadcast to the batch), so
    that a reverse transform's variable holds one copy per example."""
    for level, size in OPEN:
        x = _insert(x, level, size)
    return x


def _insert(x, level, size):
    if isinstance(x, Tensor) and x._level:
        if x._level == level:
            return x
        if x._level > level:
            return rewrap(x, _insert(x._primal, level, size))
    return make_batched(broadcast_batch(x, size), level)


def physical_raw(x):
    """The raw array under a batched ``x`` (every example at once): for checks that look at
    all examples, such as a class index out of range, never for computing values."""
    while isinstance(x, Tensor) and x._level:
        x = x._primal
    return x.data if isinstance(x, Tensor) else x


def class_cross_entropy(input, target, reduction, ignore_index):
    """``cross_entropy`` with class-index targets that differ across a vmap batch (no weight,
    no smoothing): a one-hot composite of primitives, which batch, where the fused kernel
    reads the indices as an array."""
    from ..nn.functional import log_softmax
    from ..ops.reduce import sum as rsum
    from ..ops.shape import reshape

    n, c = input.shape
    raw = physical_raw(target)
    xp = xp_of(raw)
    bad = (raw != ignore_index) & ((raw < 0) | (raw >= c))
    if xp is np and bad.any():  # as the loop: a GPU does not stall the host for this check
        v = int(raw[bad][0])
        raise IndexError(f"cross_entropy: target index {v} is out of bounds for size {c}: "
                         f"classes must lie in [0, {c}) or equal ignore_index={ignore_index}, "
                         f"got {v}")
    dtype = input.dtype
    valid = (target != ignore_index).astype(dtype)
    onehot = (reshape(target, (n, 1)) == xp.arange(c)).astype(dtype)
    rows = -rsum(log_softmax(input, 1) * onehot, (1,), False) * valid
    if reduction == "none":
        return rows
    if reduction == "sum":
        return rsum(rows)
    return rsum(rows) / rsum(valid)


# ---- dispatch --------------------------------------------------------------------------
def apply_batched(p, args, kw, level):
    size = None
    phys = []
    bd = []
    for a in args:
        if type(a) is Batched and a._lev == level:
            phys.append(a._primal)
            bd.append(True)
            if size is None:
                size = a._primal.shape[0]
        else:
            phys.append(a)
            bd.append(False)
    rule = RULES.get(p.name)
    out = None
    if rule is not None:
        out = rule(p, phys, bd, kw, size)
        if out is not None:
            STATS["rule"][p.name] = STATS["rule"].get(p.name, 0) + 1
    if out is None:
        out = _generic(p, phys, bd, kw, size)
    if not hasattr(out, "shape"):
        out = np.asarray(out)
    return make_batched(out, level)


def _generic(p, phys, bd, kw, size):
    """Any primitive: one call per example on slices, then stack."""
    from ..ops.index import getitem
    from ..ops.shape import stack_

    STATS["generic"][p.name] = STATS["generic"].get(p.name, 0) + 1
    call = p.wrapper
    outs = []
    for i in range(size):
        sliced = [getitem(a, i) if b else a for a, b in zip(phys, bd)]
        outs.append(call(*sliced, **kw))
    if not any(isinstance(o, Tensor) for o in outs):
        outs = [o if hasattr(o, "shape") and not isinstance(o, np.generic) else np.asarray(o)
                for o in outs]
    return stack_(0, *outs)


# ---- rules: each returns the physical answer, or None for the generic rule --------------
def _elementwise(p, phys, bd, kw, size):
    rank = 0
    for a, b in zip(phys, bd):
        rank = max(rank, _ndim(a) - 1 if b else _ndim(a))
    args = [_pad(a, rank - (_ndim(a) - 1)) if b else a for a, b in zip(phys, bd)]
    return p.wrapper(*args, **kw)


def _reduction(p, phys, bd, kw, size):
    if not bd[0] or any(bd[1:]) or len(phys) > 3:
        return None
    x = phys[0]
    nd = _ndim(x) - 1
    axis = phys[1] if len(phys) > 1 else kw.get("axis", None)
    keepdims = phys[2] if len(phys) > 2 else kw.get("keepdims", False)
    if axis is None:
        axes = tuple(range(1, nd + 1))
    else:
        axes = tuple(sorted(int(a) % max(nd, 1) + 1 for a in
                            (axis if isinstance(axis, (tuple, list)) else (axis,))))
    if nd == 0:
        axes = ()
    rest = {k: v for k, v in kw.items() if k not in ("axis", "keepdims")}
    return p.wrapper(x, axes, keepdims, **rest)


def _matmul(p, phys, bd, kw, size):
    from ..ops.shape import expand_dims, squeeze

    if kw or len(phys) != 2:
        return None
    (x, y), (bx, by) = phys, bd
    lx = _ndim(x) - bx
    ly = _ndim(y) - by
    if lx == 0 or ly == 0:
        return None
    # one matrix product over the whole batch where the batch folds into the rows: NumPy
    # runs a stack of small products (a batch of matrix-vector ones) one by one
    if bx and not by and lx == 1 and ly == 2 and _ndim(x) == 2:
        return p.wrapper(x, y)  # (k, m) @ (m, n)
    if by and not bx and lx == 2 and ly == 1 and _ndim(y) == 2:
        from ..ops.shape import swapaxes

        return p.wrapper(y, swapaxes(x, 0, 1))  # rows of A @ v_k: v_k @ A.T
    x1 = x if lx >= 2 else expand_dims(x, -2)
    y1 = y if ly >= 2 else expand_dims(y, -1)
    r = max(lx, ly, 2)
    if bx:
        x1 = _pad(x1, r - max(lx, 2))
    if by:
        y1 = _pad(y1, r - max(ly, 2))
    out = p.wrapper(x1, y1)
    if ly < 2:
        out = squeeze(out, -1)
    if lx < 2:
        out = squeeze(out, -1 if ly < 2 else -2)
    return out


def _linear(p, phys, bd, kw, size):
    """``x @ w.T + b``: one call when only ``x`` is batched; else the matmul and add rules."""
    from ..ops.elementwise import add
    from ..ops.linalg import matmul
    from ..ops.shape import swapaxes

    if kw or not 2 <= len(phys) <= 3:
        return None
    if not any(bd[1:]):
        return p.wrapper(*phys)
    w = swapaxes(phys[1], -1, -2)
    out = _matmul(matmul.prim, [phys[0], w], bd[:2], {}, size)
    if len(phys) == 3 and phys[2] is not None:
        out = _elementwise(add.prim, [out, phys[2]], [bd[0] or bd[1], bd[2]], {}, size)
    return out


def _einsum(p, phys, bd, kw, size):
    subs = phys[0]
    if bd[0] or not isinstance(subs, str) or "->" not in subs or "..." in subs or kw:
        return None
    free = next(c for c in string.ascii_letters if c not in subs)
    ins, out = subs.split("->")
    terms = ins.split(",")
    if len(terms) != len(phys) - 1:
        return None
    terms = [free + t if b else t for t, b in zip(terms, bd[1:])]
    return p.wrapper(",".join(terms) + "->" + free + out, *phys[1:])


def _axis1(a, nd):
    return int(a) % max(nd, 1) + 1


def _reshape(p, phys, bd, kw, size):
    if bd[1:] != [False] * (len(bd) - 1) or kw:
        return None
    shape = phys[1]
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return p.wrapper(phys[0], (size,) + shape)


def _transpose(p, phys, bd, kw, size):
    x = phys[0]
    nd = _ndim(x) - 1
    axes = phys[1] if len(phys) > 1 else kw.get("axes", None)
    if axes is None:
        axes = tuple(range(nd))[::-1]
    return p.wrapper(x, (0,) + tuple(_axis1(a, nd) for a in axes))


def _swapaxes(p, phys, bd, kw, size):
    if kw or len(phys) != 3:
        return None
    nd = _ndim(phys[0]) - 1
    return p.wrapper(phys[0], _axis1(phys[1], nd), _axis1(phys[2], nd))


def _expand_dims(p, phys, bd, kw, size):
    axis = phys[1] if len(phys) > 1 else kw["axis"]
    many = isinstance(axis, (tuple, list))
    axes = tuple(axis) if many else (axis,)
    out_nd = _ndim(phys[0]) - 1 + len(axes)
    new = tuple(int(a) % out_nd + 1 for a in axes)
    return p.wrapper(phys[0], new if many else new[0])


def _squeeze(p, phys, bd, kw, size):
    x = phys[0]
    logical = _shape(x)[1:]
    axis = phys[1] if len(phys) > 1 else kw.get("axis", None)
    if axis is None:
        axes = tuple(i + 1 for i, n in enumerate(logical) if n == 1)
    else:
        axes = tuple(_axis1(a, len(logical)) for a in
                     (axis if isinstance(axis, (tuple, list)) else (axis,)))
    return p.wrapper(x, axes)


def _broadcast_to(p, phys, bd, kw, size):
    if kw or bd[1:] != [False]:
        return None
    shape = phys[1]
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    x = _pad(phys[0], len(shape) - (_ndim(phys[0]) - 1))
    return p.wrapper(x, (size,) + shape)


def _joined(p, phys, bd, kw, size, extra):
    if bd[0] or kw:
        return None
    xs = [a if b else broadcast_batch(a, size) for a, b in zip(phys[1:], bd[1:])]
    nd = _ndim(xs[0]) - 1 + extra
    return p.wrapper(_axis1(phys[0], nd), *xs)


def _getitem(p, phys, bd, kw, size):
    if kw or bd[1:] != [False]:
        return None
    x, idx = phys
    parts = idx if isinstance(idx, tuple) else (idx,)
    advanced = []
    has_array = False
    for k, q in enumerate(parts):
        if q is None or q is Ellipsis or isinstance(q, slice):
            continue
        if isinstance(q, Tensor) and q._level:
            return None  # a batched index: the generic rule
        if isinstance(q, (int, np.integer)):
            advanced.append((k, ()))
            continue
        if isinstance(q, (bool, np.bool_)):
            return None
        arr = q if hasattr(q, "dtype") else np.asarray(q)
        if arr.dtype.kind == "b":
            return None  # boolean masks: the generic rule
        has_array = True
        advanced.append((k, _shape(arr)))
    out = p.wrapper(x, (slice(None),) + parts)
    if not has_array:
        return out
    positions = [k for k, _ in advanced]
    if max(positions) - min(positions) + 1 == len(positions):
        return out  # adjacent advanced indices stay in place, after the batch dimension
    # separated advanced indices go first, in the logical answer as in the physical one
    lead = len(np.broadcast_shapes(*(s for _, s in advanced)))
    return move_to_front(out, lead)


def _along_axis(p, phys, bd, kw, size):
    """``f(x, axis)`` with one int axis (softmax, log_softmax): the axis shifts by one."""
    if any(bd[1:]) or len(phys) != 2 or kw or not isinstance(phys[1], (int, np.integer)):
        return None
    return p.wrapper(phys[0], _axis1(phys[1], _ndim(phys[0]) - 1))


def _where(p, phys, bd, kw, size):
    return _elementwise(p, phys, bd, kw, size)


RULES = {}
_ELEMENTWISE = """add subtract multiply true_divide divide negative power exp log log1p expm1 sqrt
sin cos tan tanh abs maximum minimum fmax fmin square conjugate remainder sigmoid relu real imag
copy astype clip where arccos arccosh arcsin arcsinh arctan arctan2 arctanh cbrt cosh deg2rad
exp2 hypot log10 log2 logaddexp logaddexp2 rad2deg reciprocal sinc sinh equal not_equal greater
greater_equal less less_equal logical_and logical_or logical_xor logical_not sign floor ceil
rint trunc isfinite isinf isnan signbit heaviside floor_divide invert bitwise_and bitwise_or
bitwise_xor _softplus erf erfc erfinv expit logit gammaln digamma ndtr log_ndtr
where_kernel""".split()
for _n in _ELEMENTWISE:
    RULES[_n] = _elementwise
for _n in ("sum", "mean", "max", "min", "prod", "logsumexp", "max_kernel"):
    RULES[_n] = _reduction


def _join(p, phys, bd, kw, size):
    """ops/join.py's join(v, x) is v: batched as v is (v without a batch: the loop)."""
    return p.wrapper(*phys) if bd[0] else None


RULES["join"] = _join
RULES.update({
    "matmul": _matmul, "linear": _linear, "einsum_": _einsum, "reshape": _reshape,
    "transpose": _transpose,
    "swapaxes": _swapaxes, "expand_dims": _expand_dims, "squeeze": _squeeze,
    "broadcast_to": _broadcast_to, "getitem": _getitem, "_softmax": _along_axis,
    "_log_softmax": _along_axis, "cumsum": _along_axis,
    "concatenate_": lambda p, phys, bd, kw, size: _joined(p, phys, bd, kw, size, 0),
    "stack_": lambda p, phys, bd, kw, size: _joined(p, phys, bd, kw, size, 1),
})


from . import batching_nn  # noqa: E402, F401  (the nn primitives' rules register themselves)

__all__ = ["Batched", "BatchingFallback", "Logical", "make_batched", "apply_batched", "STATS",
           "OPEN", "promote", "batch_levels", "broadcast_batch", "move_from_front"]
