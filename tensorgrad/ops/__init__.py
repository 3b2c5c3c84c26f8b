"""All primitives, and the Tensor operators and methods that call them."""

import numpy as np

from ..backend.device import xp_of
from ..tensor import MinMax, Tensor, _axis_args, _norm_axis, _raw
from . import elementwise, index, linalg, nondiff, reduce, shape
from .elementwise import (
    abs,
    add,
    astype,
    clip,
    conjugate,
    copy,
    cos,
    exp,
    expm1,
    imag,
    log,
    log1p,
    maximum,
    minimum,
    multiply,
    negative,
    power,
    real,
    relu,
    remainder,
    sigmoid,
    sin,
    sqrt,
    square,
    subtract,
    tan,
    tanh,
    true_divide,
    where,
)
from .index import getitem, untake, zero_at
from .linalg import dot, matmul
from .nondiff import (
    argmax,
    argmin,
    equal,
    floor_divide,
    greater,
    greater_equal,
    less,
    less_equal,
    not_equal,
    ones_like,
    sign,
    zeros_like,
)
from .reduce import logsumexp, mean, std, var
from .registry import (
    Primitive,
    apply,
    binary,
    defjvp,
    defvjp,
    op_error,
    primitive,
    torch_dtype,
    unary,
)
from .shape import (
    broadcast_to,
    concatenate_,
    expand_dims,
    reshape,
    squeeze,
    stack_,
    swapaxes,
    to_device,
    transpose,
)

__all__ = [
    "Primitive", "apply", "defjvp", "defvjp", "op_error", "primitive", "elementwise", "index",
    "linalg", "nondiff", "reduce", "shape", "dot", "mean", "std", "var", "logsumexp", "where",
]


def ones_like_raw(a):
    return xp_of(a).ones_like(a)


def promoted(xs):
    """``xs`` cast (differentiably) to PyTorch's result dtype of them all where one is a
    Tensor and NumPy's promotion differs (int64 with float32 is float32, not float64); arrays
    alone keep NumPy's."""
    if not any(isinstance(x, Tensor) for x in xs):
        return xs
    dt = torch_dtype(tuple(_raw(x) for x in xs))
    if dt is None or all(x.dtype == dt for x in xs):
        return xs
    return [x if x.dtype == dt else astype(x, dt) for x in xs]


def concatenate(xs, axis=0, *, dim=None):
    """Join along an existing axis (NumPy's ``axis=`` or PyTorch's ``dim=``)."""
    axis = axis if dim is None else dim
    xs = skip_legacy_empty(list(xs))
    if not xs:
        raise ValueError("concatenate: need at least one array")
    return concatenate_(_norm_axis(axis, xs[0].ndim, "concatenate"), *promoted(xs))


def skip_legacy_empty(xs):
    """``xs`` without its 1-D empty tensors when the others have another number of dims:
    PyTorch's cat skips such (0,)-shaped tensors, a legacy way to start an accumulation."""
    if len(xs) > 1 and any(x.ndim == 1 and x.shape[0] == 0 for x in xs) and \
            len({x.ndim for x in xs}) > 1:
        kept = [x for x in xs if not (x.ndim == 1 and x.shape[0] == 0)]
        return kept or xs[:1]
    return xs


def stack(xs, axis=0, *, dim=None):
    """Join along a new axis (NumPy's ``axis=`` or PyTorch's ``dim=``)."""
    axis = axis if dim is None else dim
    xs = list(xs)
    if not xs:
        raise ValueError("stack: need at least one array")
    shapes = {tuple(x.shape) for x in xs}
    if len(shapes) > 1:
        raise ValueError(f"stack: all inputs must have the same shape, got {sorted(shapes)}")
    return stack_(_norm_axis(axis, xs[0].ndim + 1, "stack"), *promoted(xs))


# ---- reductions with NumPy's and PyTorch's argument names ------------------------------
def _reducer(prim, name):
    def method(self, axis=None, keepdims=False, dim=None, keepdim=None, dtype=None, out=None):
        if isinstance(axis, (list, tuple)) and not axis:
            axis = None
        ax, kd = _axis_args(name, self.ndim, axis, dim, keepdims, keepdim, True)
        if dtype is None:
            if self.data.dtype.kind != "u":
                return prim(self, ax, kd)
            dtype = np.int64  # unsigned integers sum to int64, as PyTorch's (NumPy's: uint64)
        out = prim(self.to(dtype), ax, kd)
        # NumPy sums and multiplies bools as int64; PyTorch keeps the dtype asked for
        return out if out.dtype == dtype else out.to(dtype)

    method.__name__ = name
    method.__doc__ = (f"{name} over ``axis`` (or PyTorch's ``dim``); ``keepdims``/``keepdim`` "
                      "keeps reduced axes as size 1.")
    return method


def _minmax(prim, argprim, name):
    def method(self, *args, axis=None, keepdims=False, dim=None, keepdim=None):
        if args and isinstance(args[0], Tensor):  # PyTorch's t.max(other): elementwise
            return (maximum if name == "max" else minimum)(self, args[0])
        if args:  # t.max(1) or t.max(1, True): PyTorch's positional dim
            dim = args[0]
            if len(args) > 1:
                keepdim = args[1]
        torch_style = dim is not None
        ax, kd = _axis_args(name, self.ndim, axis, dim, keepdims, keepdim, True)
        values = prim(self, ax, kd)
        if torch_style:
            if not ax:  # a 0-d tensor: its one element, at index 0
                return MinMax(values, argprim(self, None, False))
            return MinMax(values, argprim(self, ax[0], kd))
        return values

    method.__name__ = name
    method.__doc__ = (f"{name} over ``axis`` (NumPy's keyword: values only); with PyTorch's "
                      f"``dim`` (``t.{name}(1)`` or ``dim=1``) a named tuple (values, indices).")
    return method


def _var_like(fn, name):
    # PyTorch's positional order: (dim, unbiased, keepdim)
    def method(self, axis=None, unbiased=None, keepdims=False, *, dim=None, keepdim=None,
               ddof=None, correction=None):
        ax, kd = _axis_args(name, self.ndim, axis, dim, keepdims, keepdim, True)
        if ddof is None:
            # Tensor methods follow PyTorch (unbiased by default); tnp follows NumPy (ddof=0)
            ddof = correction if correction is not None else (
                0 if unbiased is False else 1)
        return fn(self, ax, kd, ddof)

    method.__name__ = name
    return method


def _mean(self, axis=None, keepdims=False, dim=None, keepdim=None, dtype=None):
    ax, kd = _axis_args("mean", self.ndim, axis, dim, keepdims, keepdim, True)
    if dtype is None and self.data.dtype.kind in "biu":  # PyTorch's rule (NumPy's methods, with
        # float64 means of integers, are the traced values' under the autograd hook)
        raise RuntimeError(f"mean(): could not infer output dtype; input is "
                           f"{self.data.dtype}, give a floating-point tensor or dtype=")
    x = self if dtype is None else self.to(dtype)
    if x.data.dtype.kind not in "fc":  # PyTorch's rule: an integer mean is no mean
        raise RuntimeError(f"mean(): could not infer output dtype; dtype= must be a floating "
                           f"point or complex dtype, got {x.data.dtype} (input of shape "
                           f"{tuple(self.shape)})")
    return mean(x, ax, kd)


def _arg(prim, name, single=True):
    def method(self, axis=None, keepdims=False, dim=None, keepdim=None):
        ax, kd = _axis_args(name, self.ndim, axis, dim, keepdims, keepdim, True)
        if single and ax is not None:
            if not ax:  # a 0-d tensor: index 0
                return prim(self, None, False)
            if len(ax) != 1:
                raise ValueError(f"{name}: takes a single axis, got {ax}")
            ax = ax[0]
        return prim(self, ax, kd)

    method.__name__ = name
    return method


# ---- shape methods ----------------------------------------------------------------------
def _shape_arg(args):
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(int(a) for a in args)


def _reshape(self, *shape):
    shape = _shape_arg(shape)
    if shape == self.shape:
        return self
    return reshape(self, shape)


def _transpose(self, *axes):
    if len(axes) == 2 and all(isinstance(a, int) for a in axes):
        axes = tuple(_norm_axis(a, self.ndim, "transpose") for a in axes)
        if not self.ndim:  # PyTorch: dims 0 and -1 of a 0-d tensor; nothing to swap
            return self
        return swapaxes(self, *axes)
    axes = _shape_arg(axes) if axes else None
    if axes is not None:
        axes = tuple(_norm_axis(a, self.ndim, "transpose") for a in axes)
        if sorted(axes) != list(range(self.ndim)):
            raise ValueError(f"transpose: axes {axes} are not a permutation of the "
                             f"{self.ndim} dimensions of a tensor of shape {tuple(self.shape)}")
    return transpose(self, axes)


def _permute(self, *dims):
    return _transpose(self, _shape_arg(dims)) if len(dims) != 2 or not all(
        isinstance(d, int) for d in dims) else transpose(self, tuple(
            _norm_axis(d, self.ndim, "permute") for d in dims))


def _flatten(self, start_dim=0, end_dim=-1):
    if self.ndim == 0:
        return reshape(self, (1,))
    s = _norm_axis(start_dim, self.ndim, "flatten")
    e = _norm_axis(end_dim, self.ndim, "flatten")
    if s > e:  # it flattened nothing, or into a wrong shape
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for a "
                         f"tensor of shape {tuple(self.shape)}")
    shape = self.shape
    n = 1
    for d in shape[s:e + 1]:
        n *= d
    return _reshape(self, shape[:s] + (n,) + shape[e + 1:])


def _squeeze(self, axis=None, dim=None):
    if dim is not None:
        axis = dim
    if axis is None:
        return squeeze(self, None)
    ax = _norm_axis(axis, self.ndim, "squeeze")
    if not self.ndim:  # PyTorch: dim 0 or -1 of a 0-d tensor, which stays as it is
        return self
    ax = ax if isinstance(ax, tuple) else (ax,)
    ax = tuple(a for a in ax if self.shape[a] == 1)  # PyTorch: squeezing a non-1 dim is a no-op
    return squeeze(self, ax) if ax else self


def _unsqueeze(self, dim):
    return expand_dims(self, _norm_axis(dim, self.ndim + 1, "unsqueeze"))


def _expand(self, *sizes):
    sizes = _shape_arg(sizes)
    lead = len(sizes) - self.ndim
    shape = tuple(self.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
    return broadcast_to(self, shape)


def _broadcast_to(self, shape):
    return broadcast_to(self, tuple(shape))


# ---- operators ---------------------------------------------------------------------------
_ADD, _SUB, _MUL, _DIV, _POW = add.prim, subtract.prim, multiply.prim, true_divide.prim, power.prim
_MATMUL = matmul.prim


def _conj(self):
    """The complex conjugate; a real tensor itself, as PyTorch's (NumPy's conjugate of a bool
    array is int8)."""
    return conjugate(self) if self.data.dtype.kind == "c" else self


def _sign(self):
    """-1, 0 or 1 (no history); a bool tensor's sign is itself, as PyTorch's."""
    return copy(self) if self.data.dtype.kind == "b" else nondiff.sign(self)


def _round(self, decimals=0):
    """Round half to even, to ``decimals`` places (no history); integers stay as they are."""
    if self.data.dtype.kind in "biu":
        return copy(self)
    if decimals == 0:
        return nondiff.rint(self)
    return nondiff.rint(self * 10.0 ** decimals) / 10.0 ** decimals


def _cmp(fn):
    def op(self, o):
        if o is None:
            return False
        return fn(self, o)

    return op


def _setmethods():
    T = Tensor
    T.__add__ = T.__radd__ = binary(_ADD, dunder=True)
    T.__sub__ = binary(_SUB, dunder=True)
    T.__rsub__ = binary(_SUB, reflected=True, dunder=True)
    T.__mul__ = T.__rmul__ = binary(_MUL, dunder=True)
    T.__truediv__ = binary(_DIV, dunder=True)
    T.__rtruediv__ = binary(_DIV, reflected=True, dunder=True)
    T.__pow__ = binary(_POW, dunder=True)
    T.__rpow__ = binary(_POW, reflected=True, dunder=True)
    T.__matmul__ = binary(_MATMUL, dunder=True)
    T.__rmatmul__ = binary(_MATMUL, reflected=True, dunder=True)
    T.__floordiv__ = lambda self, o: floor_divide(self, o)
    T.__rfloordiv__ = lambda self, o: floor_divide(o, self)
    T.__mod__ = lambda self, o: remainder(self, o)
    T.__rmod__ = lambda self, o: remainder(o, self)
    T.__neg__ = unary(negative.prim)
    T.__pos__ = lambda self: self
    T.__abs__ = unary(abs.prim)
    T.__lt__ = _cmp(less)
    T.__le__ = _cmp(less_equal)
    T.__gt__ = _cmp(greater)
    T.__ge__ = _cmp(greater_equal)
    T.__eq__ = _cmp(equal)
    T.__ne__ = lambda self, o: True if o is None else not_equal(self, o)
    T.__and__ = lambda self, o: nondiff.bitwise_and(self, o)
    T.__or__ = lambda self, o: nondiff.bitwise_or(self, o)
    T.__xor__ = lambda self, o: nondiff.bitwise_xor(self, o)
    T.__rand__ = lambda self, o: nondiff.bitwise_and(o, self)
    T.__ror__ = lambda self, o: nondiff.bitwise_or(o, self)
    T.__rxor__ = lambda self, o: nondiff.bitwise_xor(o, self)
    T.__rdiv__ = T.__rtruediv__  # PyTorch keeps Python 2's names
    T.__div__ = T.__truediv__
    T.__invert__ = lambda self: nondiff.invert(self)
    T.__getitem__ = lambda self, idx: getitem(self, index.raw_index(idx))

    for name in ("exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tan", "tanh", "sigmoid",
                 "relu", "square", "conjugate"):
        prim = getattr(elementwise, name).prim
        setattr(T, name, unary(prim))
    T.abs = T.__abs__
    T.neg = T.__neg__
    T.negative = T.__neg__
    T.conj = T.conjugate = _conj
    for name in ("floor", "ceil", "isnan", "isinf", "isfinite", "logical_not"):
        setattr(T, name, (lambda f: lambda self: f(self))(getattr(nondiff, name)))
    T.sign = _sign
    T.round = _round
    T.add = T.__add__
    T.sub = T.__sub__
    T.subtract = T.__sub__
    T.mul = T.__mul__
    T.multiply = T.__mul__
    T.div = T.__truediv__
    T.divide = T.__truediv__
    T.pow = T.__pow__
    T.matmul = T.__matmul__
    T.dot = lambda self, o: dot(self, o)
    T.maximum = lambda self, o: maximum(self, o)
    T.minimum = lambda self, o: minimum(self, o)
    T.clip = lambda self, min=None, max=None: clip(self, _raw(min), _raw(max))
    T.clamp = T.clip
    T.where = lambda self, cond, other: where(cond, self, other)
    T.lt, T.le, T.gt, T.ge, T.eq, T.ne = (T.__lt__, T.__le__, T.__gt__, T.__ge__, T.__eq__,
                                          T.__ne__)

    T.sum = _reducer(reduce.sum, "sum")
    T.prod = _reducer(reduce.prod, "prod")
    T.logsumexp = _reducer(reduce.logsumexp, "logsumexp")
    T.mean = _mean
    T.max = _minmax(reduce.max, argmax, "max")
    T.min = _minmax(reduce.min, argmin, "min")
    T.amax = _reducer(reduce.max, "amax")
    T.amin = _reducer(reduce.min, "amin")
    T.var = _var_like(var, "var")
    T.std = _var_like(std, "std")
    T.argmax = _arg(argmax, "argmax")
    T.argmin = _arg(argmin, "argmin")
    T.any = _arg(nondiff.any, "any", single=False)
    T.all = _arg(nondiff.all, "all", single=False)

    T.reshape = _reshape
    T.view = _reshape
    T.view_as = lambda self, o: _reshape(self, o.shape)
    T.reshape_as = T.view_as
    T.transpose = _transpose
    T.permute = _permute
    T.swapaxes = lambda self, a, b: swapaxes(self, a, b)
    T.flatten = _flatten
    T.ravel = lambda self: _reshape(self, (-1,))
    T.squeeze = _squeeze
    T.unsqueeze = _unsqueeze
    T.expand_dims = _unsqueeze
    T.expand = _expand
    T.expand_as = lambda self, o: broadcast_to(self, tuple(o.shape))
    T.broadcast_to = _broadcast_to


_setmethods()
np_ = np  # re-exported for modules that build on this one
