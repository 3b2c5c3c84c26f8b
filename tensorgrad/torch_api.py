"""PyTorch's top-level functions (``tg.exp``, ``tg.max(x, 1)``, ``tg.topk``, ``tg.where``, ...)
and the Tensor methods PyTorch users call (``t.repeat``, ``t.masked_fill``, ``t.exp_()``, ...).

Each function is a thin door to the primitives of ``tensorgrad.ops`` (or a composition of
them, so it needs no derivative rule of its own), with PyTorch's argument names (``dim``,
``keepdim``, ``min=``/``max=``, ``descending=``, ...), defaults and return types (the named
tuples ``(values, indices)`` of ``max``/``min``/``sort``/``topk``/``kthvalue``/``median``).
The first argument must be a Tensor, as in PyTorch (a NumPy/CuPy array is taken as a Tensor
without history, so these functions also work inside ``tg.grad`` and ``check_grads``); "other"
operands may be numbers.

>>> import tensorgrad as tg
>>> x = tg.tensor([[1.0, 5.0], [4.0, 2.0]])
>>> tg.max(x, 1).indices.tolist()
[1, 0]
>>> tg.topk(x.flatten(), 2).values.tolist()
[5.0, 4.0]

In-place methods (``exp_``, ``clamp_``, ``masked_fill_``, ...) follow PyTorch's rules: on a
leaf that requires grad they raise (outside ``tg.no_grad()``), and an in-place change of a
tensor that backward still needs makes backward raise a RuntimeError (the version counters of
``tensorgrad.tensor``).

Differences from PyTorch, on purpose: ``sign``/``floor``/``ceil``/``round``/``trunc`` and the
comparisons give tensors without history (PyTorch's have zero gradients); ``scatter`` with
repeated indices adds the values (PyTorch keeps one of them, unspecified which).
"""

import builtins
import math
import numbers
from collections import namedtuple

import numpy as np

from . import _memory_format as _mf
from . import numpy as tnp
from .autograd.grad_mode import _state
from .backend.device import _CUPY_ARRAY, xp_of
from .nn import functional as _F
from .ops import elementwise as _ew
from .ops import extra as _ex
from .ops import nondiff as _nd
from .ops import promoted as _promoted
from .ops import reduce as _red
from .ops import shape as _sh
from .ops.index import getitem as _getitem
from .ops.index import untake as _untake
from .ops.index import zero_at as _zero_at
from .ops.linalg import matmul as _matmul
from .ops.registry import _default_of
from .ops.registry import defjvp as _defjvp
from .ops.registry import defvjp as _defvjp
from .ops.registry import primitive as _primitive
from .ops.registry import torch_dtype as _torch_dtype
from .tensor import MinMax, Tensor, _new_tensor, _norm_axis, _raw, _rebinds, bump_version

SortResult = namedtuple("sort", ["values", "indices"])
TopkResult = namedtuple("topk", ["values", "indices"])
KthvalueResult = namedtuple("kthvalue", ["values", "indices"])
MedianResult = namedtuple("median", ["values", "indices"])
SlogdetResult = namedtuple("slogdet", ["sign", "logabsdet"])


# ---- argument checks ----------------------------------------------------------------------
def _t(x, op, name="input"):
    """``x`` itself when it is a Tensor, a NumPy/CuPy array as a Tensor without history (so
    that ``check_grads`` and the function API can evaluate on arrays); PyTorch's TypeError
    for anything else (lists, numbers)."""
    if isinstance(x, Tensor):
        return x
    if type(x) is np.ndarray or type(x) is _CUPY_ARRAY:
        return _new_tensor(x, None, False)
    raise TypeError(f"{op}(): argument '{name}' must be a Tensor, not {type(x).__name__}")


def _operand(x, op, name="other"):
    """A Tensor or a Python/NumPy number (PyTorch's "Scalar")."""
    if isinstance(x, (Tensor, numbers.Number, np.generic)):
        return x
    raise TypeError(f"{op}(): argument '{name}' must be a Tensor or a number, not "
                    f"{type(x).__name__}")


def _is_number(v):
    """A real Python/NumPy number (a scalar argument checked on the host, with no device read)."""
    return isinstance(v, numbers.Real) and not isinstance(v, Tensor)


def _first_tensor(op, *xs):
    for x in xs:
        if isinstance(x, Tensor):
            return x
    raise TypeError(f"{op}(): at least one argument must be a Tensor")


def _dim(x, dim, op):
    """One dimension of ``x``, normalised to 0 .. ndim-1 (IndexError naming ``op`` if out of
    range)."""
    if isinstance(dim, (list, tuple)):
        raise TypeError(f"{op}(): dim must be an int, got {dim!r}")
    return _norm_axis(dim, x.ndim, op)


def _dims(x, dim, op):
    """``dim`` as a sorted tuple of dimensions, or None for all."""
    if dim is None or (isinstance(dim, (list, tuple)) and not dim):
        return None
    d = _norm_axis(dim, x.ndim, op)
    if not x.ndim:  # PyTorch: dim 0 (or -1) of a 0-d tensor has one element: nothing reduced
        return ()
    return d if isinstance(d, tuple) else (d,)


def _xp(x):
    return xp_of(x.data)


def _zero_index(x):
    """The index tensor of a 0-d tensor's one element (0, int64, on its device)."""
    return _new_tensor(_xp(x).zeros((), dtype=np.int64), None, False)


def _int_index(index, op, name="index"):
    _t(index, op, name)
    if index.dtype.kind not in "iu":
        raise TypeError(f"{op}(): {name} must be an integer tensor, got {index.dtype}")
    return index.data


def _cast_like(v, like):
    """A Tensor value cast to ``like``'s dtype (PyTorch casts fill values to the input's)."""
    return v.to(like.dtype) if isinstance(v, Tensor) and v.dtype != like.dtype else v


def _along(index, dim):
    """The fancy index that picks ``index[i_0, .., i_n]`` along ``dim`` at position i_d in the
    other dimensions (PyTorch's gather/scatter addressing, sized by the index)."""
    return _ex._along_axis_index(index, index.shape, dim)


def _slice_along(x, dim, index):
    return (slice(None),) * dim + (index,)


# ---- elementwise, one argument --------------------------------------------------------------
def _masked(*args):
    """Whether an argument is a ``tg.masked.MaskedTensor`` (asked only after a call failed)."""
    from ._masked_tensor import MaskedTensor

    for a in args:  # (``any`` here is torch's)
        if isinstance(a, MaskedTensor):
            return True
    return False


def _unary(fn, name, doc=None):
    def f(input):
        try:
            return fn(_t(input, name))
        except TypeError:
            if not _masked(input):
                raise
        from ._masked_tensor import call

        return call(name, input)

    f._masked_tensor_builtin = True
    f.__name__ = f.__qualname__ = name
    f.__doc__ = doc or f"PyTorch's ``torch.{name}(input)``, elementwise."
    return f


def _special(name):
    def fn(x):
        from .scipy import special

        return getattr(special, name)(x)

    return fn


def _floating(x):
    """``x``, an integer or bool tensor cast to the default float dtype first: PyTorch's
    float functions (reciprocal, sinc, logit, logsumexp) of integers are float32."""
    return x.to(_default_of(False)) if x.data.dtype.kind in "biu" else x


def _rsqrt(x):
    return _ex.reciprocal(_ew.sqrt(x))


def _lgamma(x):
    """log|Gamma(x)|, +inf at -inf as C's lgamma and PyTorch's (SciPy's gammaln: -inf)."""
    from .scipy import special

    out = special.gammaln(x)
    if x.dtype.kind == "f":
        out = _ew.where(_nd.equal(x, -np.inf), np.inf, out)
    return out


def _float_dtype(*vals):
    """The dtype PyTorch gives a float function of ``vals`` (Tensors and numbers): their
    promoted dtype, and the default float dtype where that is integral. Python numbers count as
    PyTorch's wrapped numbers: an integer tensor meeting 2.5 gives the default float, a float16
    one float16."""
    dt = _torch_dtype(tuple(v.data if isinstance(v, Tensor) else v for v in vals))
    return _default_of(False) if dt is None or dt.kind not in "fc" else dt


def _float_operands(*vals):
    """``vals`` (Tensors and numbers) in their ``_float_dtype``; numbers stay numbers."""
    dt = _float_dtype(*vals)
    return tuple(v.to(dt) if isinstance(v, Tensor) and v.dtype != dt else v for v in vals)


def _frac(x):
    return x - _nd.trunc(x)  # trunc has zero derivative: d frac / dx = 1, as PyTorch


def _sgn(x):
    """PyTorch's sgn: sign of a real tensor (no history); z / |z| of a complex one, differentiable
    (0 at 0, with a zero gradient there, as PyTorch's)."""
    x = _t(x, "sgn")
    if x.data.dtype.kind != "c":
        return Tensor.sign(x)
    zero = _nd.equal(x, 0)
    safe = _ew.where(zero, 1, x)  # no 0/0 in any derivative of |x| at 0
    return _ew.where(zero, 0, safe / _ew.abs(safe))


_UNARY = {
    "exp": _ew.exp, "log": _ew.log, "log1p": _ew.log1p, "expm1": _ew.expm1,
    "exp2": _ex.exp2, "log2": _ex.log2, "log10": _ex.log10, "sqrt": _ew.sqrt, "rsqrt": _rsqrt,
    "square": _ew.square, "abs": _ew.abs, "neg": _ew.negative,
    "reciprocal": lambda x: _ex.reciprocal(_floating(x)),
    "sin": _ew.sin, "cos": _ew.cos, "tan": _ew.tan, "asin": _ex.arcsin, "acos": _ex.arccos,
    "atan": _ex.arctan, "sinh": _ex.sinh, "cosh": _ex.cosh, "tanh": _ew.tanh,
    "asinh": _ex.arcsinh, "acosh": _ex.arccosh, "atanh": _ex.arctanh, "sigmoid": _ew.sigmoid,
    "relu": _ew.relu, "sinc": lambda x: _ex.sinc(_floating(x)), "deg2rad": _ex.deg2rad,
    "rad2deg": _ex.rad2deg,
    "frac": _frac, "conj": Tensor.conj, "real": _ew.real, "imag": _ew.imag,
    "erf": _special("erf"), "erfc": _special("erfc"), "erfinv": _special("erfinv"),
    "lgamma": _lgamma, "digamma": _special("digamma"),
    # no derivative (PyTorch's is zero almost everywhere): results carry no history
    "sign": Tensor.sign, "sgn": _sgn, "floor": _nd.floor, "ceil": _nd.ceil,
    "trunc": _nd.trunc, "fix": _nd.trunc, "isnan": _nd.isnan, "isinf": _nd.isinf,
    "isfinite": _nd.isfinite, "logical_not": _nd.logical_not,
}
_ALIASES = {"absolute": "abs", "negative": "neg", "arcsin": "asin", "arccos": "acos",
            "arctan": "atan", "arcsinh": "asinh", "arccosh": "acosh", "arctanh": "atanh"}
for _name, _fn in _UNARY.items():
    globals()[_name] = _unary(_fn, _name)
for _alias, _name in _ALIASES.items():
    globals()[_alias] = globals()[_name]

signbit = _unary(lambda x: _new_tensor(_xp(x).signbit(x.data), None, False), "signbit")


def positive(input):
    return _t(input, "positive")


def round(input, *, decimals=0):
    """Round half to even (PyTorch's and NumPy's rule), to ``decimals`` places."""
    return _t(input, "round").round(decimals)


def logit(input, eps=None):
    """log(p / (1 - p)); with ``eps`` the input is clamped to [eps, 1 - eps] first."""
    x = _floating(_t(input, "logit"))
    if eps is not None:
        x = clamp(x, eps, 1 - eps)
    return _ew.log(x / (1 - x))


def polygamma(n, input):
    from .scipy import special

    return special.polygamma(n, _t(input, "polygamma"))


def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    """NaN, +inf and -inf replaced by ``nan``, ``posinf`` (default: the dtype's largest
    value) and ``neginf`` (its lowest); the gradient flows where the input was finite."""
    x = _t(input, "nan_to_num")
    if x.dtype.kind not in "fc":
        return x.clone()
    info = np.finfo(x.dtype)
    posinf = info.max if posinf is None else posinf
    neginf = info.min if neginf is None else neginf
    raw = x.data
    xp = xp_of(raw)
    if x.dtype.kind == "c":  # each part on its own, as PyTorch's
        fixed = xp.nan_to_num(raw, nan=nan, posinf=posinf, neginf=neginf)
        return _ew.where(xp.isfinite(raw), x, fixed)
    out = _ew.where(xp.isnan(raw), nan, x)
    out = _ew.where(xp.isposinf(raw), posinf, out)
    return _ew.where(xp.isneginf(raw), neginf, out)


def isposinf(input):
    x = _t(input, "isposinf")
    return _new_tensor(_xp(x).isposinf(x.data), None, False)


def isneginf(input):
    x = _t(input, "isneginf")
    return _new_tensor(_xp(x).isneginf(x.data), None, False)


def isreal(input):
    x = _t(input, "isreal")
    return _new_tensor(_xp(x).isreal(x.data), None, False)


# ---- elementwise, two or more arguments --------------------------------------------------------
def add(input, other, *, alpha=1):
    """input + alpha * other."""
    x = _t(input, "add")
    o = _operand(other, "add")
    return x + (o if alpha == 1 else o * alpha)


def sub(input, other, *, alpha=1):
    """input - alpha * other."""
    x = _t(input, "sub")
    o = _operand(other, "sub")
    return x - (o if alpha == 1 else o * alpha)


subtract = sub


def mul(input, other):
    return _t(input, "mul") * _operand(other, "mul")


multiply = mul


def div(input, other, *, rounding_mode=None):
    """input / other; ``rounding_mode`` 'trunc' or 'floor' rounds the quotient (no
    derivative)."""
    x = _t(input, "div")
    o = _operand(other, "div")
    if rounding_mode is None:
        return x / o
    if rounding_mode == "trunc":
        return _nd.trunc(x / o) if x.dtype.kind in "fc" else _int_trunc_div(x, o)
    if rounding_mode == "floor":
        return _nd.floor_divide(x, o)
    raise ValueError(f"div(): rounding_mode must be None, 'trunc' or 'floor', got "
                     f"{rounding_mode!r}")


def _int_trunc_div(x, o):
    q = _nd.floor_divide(x, o)
    fix = _nd.logical_and(_nd.not_equal(q * o, x), _nd.less(x * o, 0))
    return q + fix.to(q.dtype)


divide = div


def true_divide(dividend, divisor):
    return _t(dividend, "true_divide", "dividend") / _operand(divisor, "true_divide", "divisor")


def floor_divide(input, other):
    return _nd.floor_divide(_t(input, "floor_divide"), _operand(other, "floor_divide"))


def pow(input, exponent):
    """input ** exponent; either may be a number (``tg.pow(2, x)``)."""
    _first_tensor("pow", input, exponent)
    base = _operand(input, "pow", "input")
    e = _operand(exponent, "pow", "exponent")
    return base ** e


def float_power(input, exponent):
    """pow in double precision (complex128 for complex operands)."""
    _first_tensor("float_power", input, exponent)

    def up(v):
        if not isinstance(v, Tensor):
            return v
        return v.to(np.complex128 if v.dtype.kind == "c" else np.float64)

    return up(_operand(input, "float_power", "input")) ** up(
        _operand(exponent, "float_power", "exponent"))


def _binary(fn, name, doc):
    def f(input, other):
        try:
            _t(input, name)
            return fn(input, _operand(other, name))
        except TypeError:
            if not _masked(input, other):
                raise
        from ._masked_tensor import call

        return call(name, input, other)

    f._masked_tensor_builtin = True
    f.__name__ = f.__qualname__ = name
    f.__doc__ = doc
    return f


atan2 = arctan2 = _binary(_ex.arctan2, "atan2", "atan2(input, other): the angle of (other, "
                          "input), elementwise.")
hypot = _binary(_ex.hypot, "hypot", "sqrt(input**2 + other**2), elementwise.")
def logaddexp(input, other):
    """log(exp(input) + exp(other)), stably; complex operands too (the larger real part
    factored out, as PyTorch's)."""
    x = _t(input, "logaddexp")
    o = _operand(other, "logaddexp")
    if x.dtype.kind != "c" and getattr(o, "dtype", np.dtype(type(o))).kind != "c":
        return _ex.logaddexp(x, o)
    first = _nd.greater_equal(_ew.real(x), _ew.real(o))
    hi, lo = _ew.where(first, x, o), _ew.where(first, o, x)
    return hi + _ew.log1p(_ew.exp(lo - hi))


logaddexp2 = _binary(_ex.logaddexp2, "logaddexp2", "log2(2**input + 2**other), stably.")
maximum = _binary(_ew.maximum, "maximum", "The elementwise maximum (NaN propagates; ties "
                  "share the gradient).")
minimum = _binary(_ew.minimum, "minimum", "The elementwise minimum (NaN propagates; ties "
                  "share the gradient).")
remainder = _binary(_ew.remainder, "remainder", "Python's modulus: the result has the sign "
                    "of ``other``.")
eq = _binary(_nd.equal, "eq", "input == other (a bool tensor).")
ne = not_equal = _binary(_nd.not_equal, "ne", "input != other (a bool tensor).")
lt = less = _binary(_nd.less, "lt", "input < other (a bool tensor).")
le = less_equal = _binary(_nd.less_equal, "le", "input <= other (a bool tensor).")
gt = greater = _binary(_nd.greater, "gt", "input > other (a bool tensor).")
ge = greater_equal = _binary(_nd.greater_equal, "ge", "input >= other (a bool tensor).")
logical_and = _binary(_nd.logical_and, "logical_and", "Elementwise logical and.")
logical_or = _binary(_nd.logical_or, "logical_or", "Elementwise logical or.")
logical_xor = _binary(_nd.logical_xor, "logical_xor", "Elementwise logical xor.")


def fmod(input, other):
    """C's fmod: the remainder of truncated division, with the sign of ``input``.

    Composed from ``remainder`` (Python's modulus, sign of ``other``): where the two signs
    differ the results differ by ``other``. d/dinput = 1, d/dother = -trunc(input / other)."""
    x = _t(input, "fmod")
    o = _operand(other, "fmod")
    r = _ew.remainder(x, o)
    if x.dtype.kind not in "fc" and not (isinstance(o, Tensor) and o.dtype.kind in "fc"):
        fix = _nd.logical_and(_nd.not_equal(r, 0), _nd.less(x * o, 0))
        return r - fix.to(r.dtype) * o
    return _ew.where(_nd.logical_and(_nd.not_equal(r, 0), _nd.less(x * o, 0)), r - o, r)


def fmax(input, other):
    """The elementwise maximum that ignores NaN (NaN only where both are NaN)."""
    return _nan_ignoring(_nd.greater_equal, _t(input, "fmax"), _operand(other, "fmax"))


def fmin(input, other):
    """The elementwise minimum that ignores NaN (NaN only where both are NaN)."""
    return _nan_ignoring(_nd.less_equal, _t(input, "fmin"), _operand(other, "fmin"))


def _nan_ignoring(keep, x, o):
    # input where it wins (ties included) or other is NaN, else other: PyTorch's values and
    # its gradients (the whole gradient to one side, input on ties and where both are NaN)
    return _ew.where(_nd.logical_or(keep(x, o), _nd.isnan(o)), x, o)


def lerp(input, end, weight):
    """input + weight * (end - input)."""
    x = _t(input, "lerp")
    return x + _operand(weight, "lerp", "weight") * (_operand(end, "lerp", "end") - x)


def addcmul(input, tensor1, tensor2, *, value=1):
    """input + value * tensor1 * tensor2."""
    return _t(input, "addcmul") + value * _t(tensor1, "addcmul", "tensor1") * _t(
        tensor2, "addcmul", "tensor2")


def addcdiv(input, tensor1, tensor2, *, value=1):
    """input + value * tensor1 / tensor2."""
    return _t(input, "addcdiv") + value * _t(tensor1, "addcdiv", "tensor1") / _t(
        tensor2, "addcdiv", "tensor2")


def where(condition, input=None, other=None):
    """``input`` where ``condition`` holds, else ``other`` (either may be a number); with the
    condition alone, ``nonzero(condition, as_tuple=True)``."""
    c = _t(condition, "where", "condition")
    if input is None and other is None:
        return nonzero(c, as_tuple=True)
    if input is None or other is None:
        raise TypeError("where(): give both input and other, or neither")
    if c.dtype != np.bool_:
        raise TypeError(f"where(): condition must be a bool tensor, got {c.dtype}")
    input, other = _operand(input, "where", "input"), _operand(other, "where", "other")
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        # two numbers (``torch.where(done, 1.0, -0.01)``): PyTorch's dtype for them (the
        # operators' promotion rule), on the condition's device
        dtype = _torch_dtype((input, other))
        make = _creation().tensor
        input, other = (make(v, dtype=dtype, device=c.device) for v in (input, other))
    return _ew.where(c, input, other)


def clamp(input, min=None, max=None):
    """Limit ``input`` to [min, max]; ``min``/``max`` are numbers or tensors (which then get
    gradients where they are the answer). As PyTorch: min > max gives max, and the gradient goes
    to ``input`` at the bounds (min <= input <= max)."""
    x = _t(input, "clamp")
    if min is None and max is None:
        raise ValueError("clamp(): at least one of 'min' or 'max' must not be None")
    lo = _operand(min, "clamp", "min") if min is not None else None
    hi = _operand(max, "clamp", "max") if max is not None else None
    dt = _torch_dtype(tuple(v.data if isinstance(v, Tensor) else v
                            for v in (x, lo, hi) if v is not None))
    if dt is not None and dt != x.dtype:  # PyTorch's promotion of the three (int with 0.5)
        x = x.to(dt)
    if not isinstance(lo, Tensor) and not isinstance(hi, Tensor):
        return _ew.clip(x, lo, hi)  # NumPy's clip: min > max gives max, as PyTorch
    out = x
    if lo is not None:
        out = _ew.where(_nd.less(out, lo), _cast_like(lo, x), out)
    if hi is not None:
        out = _ew.where(_nd.greater(out, hi), _cast_like(hi, x), out)
    return out


clip = clamp


def clamp_min(input, min):
    return clamp(input, min=min)


def clamp_max(input, max):
    return clamp(input, max=max)


# ---- comparisons that answer with a bool ---------------------------------------------------------
def equal(input, other):
    """True if both have the same shape and elements."""
    x, o = _t(input, "equal"), _t(other, "equal", "other")
    return bool(x.shape == o.shape and bool(_xp(x).all(x.data == o.data)))


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    x = _t(input, "isclose")
    o = other.data if isinstance(other, Tensor) else _operand(other, "isclose")
    for name, tol in (("rtol", rtol), ("atol", atol)):
        if isinstance(tol, numbers.Real) and not tol >= 0:  # O(1), as PyTorch's check
            raise RuntimeError(f"isclose(): {name} must be greater than or equal to zero, got "
                               f"{tol} (input of shape {tuple(x.shape)})")
    return _new_tensor(_xp(x).isclose(x.data, o, rtol=rtol, atol=atol, equal_nan=equal_nan),
                       None, False)


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return bool(isclose(input, other, rtol, atol, equal_nan).all())


# ---- reductions -------------------------------------------------------------------------------
def sum(input, dim=None, keepdim=False, *, dtype=None):
    """The sum over ``dim`` (an int, a tuple, or None for all)."""
    return _t(input, "sum").sum(dim=dim, keepdim=keepdim, dtype=dtype)


def nansum(input, dim=None, keepdim=False, *, dtype=None):
    """The sum with NaN counted as 0."""
    x = _t(input, "nansum")
    return sum(_ew.where(_nd.isnan(x), 0, x), dim, keepdim, dtype=dtype)


def mean(input, dim=None, keepdim=False, *, dtype=None):
    x = _t(input, "mean")
    if x.dtype.kind not in "fc" and dtype is None:
        raise RuntimeError(f"mean(): could not infer output dtype; input is {x.dtype}, give a "
                           "floating-point tensor or dtype=")
    return x.mean(dim=dim, keepdim=keepdim, dtype=dtype)


def nanmean(input, dim=None, keepdim=False, *, dtype=None):
    """The mean of the elements that are not NaN."""
    x = _t(input, "nanmean")
    xp = _xp(x)
    ok = _new_tensor(xp.logical_not(xp.isnan(x.data)).astype(dtype or x.dtype), None, False)
    return nansum(x, dim, keepdim, dtype=dtype) / sum(ok, dim, keepdim)


def prod(input, dim=None, keepdim=False, *, dtype=None):
    x = _t(input, "prod")
    if dim is not None and isinstance(dim, (list, tuple)):
        raise TypeError("prod(): dim must be an int")
    return x.prod(dim=dim, keepdim=keepdim, dtype=dtype)


def _by_index(x, idx, dim, keepdim):
    """``x``'s values at the indices ``idx`` (keepdim shape) along ``dim``: the gradient goes to
    that one element, as PyTorch's max/min/sort/median with dim."""
    vals = _getitem(x, _along(idx, dim))
    return vals if keepdim else _sh.squeeze(vals, (dim,))


def _minmax(name, arg, elementwise):
    def f(input, dim=None, keepdim=False):
        x = _t(input, name)
        if isinstance(dim, Tensor):  # tg.max(a, b): elementwise
            return elementwise(x, dim)
        if dim is None:
            return (_red.max if name == "max" else _red.min)(x, None, False)
        d = _dim(x, dim, name)
        if x.ndim == 0:
            return MinMax(x.clone(), _zero_index(x))
        idx = getattr(_xp(x), arg)(x.data, axis=d, keepdims=True)
        ix = _new_tensor(idx if keepdim else idx.squeeze(d), None, False)
        return MinMax(_by_index(x, idx, d, keepdim), ix)

    f.__name__ = f.__qualname__ = name
    f.__doc__ = (f"``{name}(input)``: the {name} of all elements (ties share the gradient); "
                 f"``{name}(input, dim, keepdim=False)``: a named tuple (values, indices), the "
                 f"gradient to the index; ``{name}(input, other)``: elementwise.")
    return f


max = _minmax("max", "argmax", _ew.maximum)
min = _minmax("min", "argmin", _ew.minimum)


def amax(input, dim=(), keepdim=False):
    """The maximum over ``dim`` (all by default); ties share the gradient."""
    x = _t(input, "amax")
    return _red.max(x, _dims(x, dim, "amax"), bool(keepdim))


def amin(input, dim=(), keepdim=False):
    """The minimum over ``dim`` (all by default); ties share the gradient."""
    x = _t(input, "amin")
    return _red.min(x, _dims(x, dim, "amin"), bool(keepdim))


def aminmax(input, *, dim=None, keepdim=False):
    return namedtuple("aminmax", ["min", "max"])(amin(input, () if dim is None else dim, keepdim),
                                                 amax(input, () if dim is None else dim, keepdim))


def argmax(input, dim=None, keepdim=False):
    x = _t(input, "argmax")
    if dim is None:
        return _nd.argmax(x, None, False)
    return _nd.argmax(x, _dim(x, dim, "argmax"), bool(keepdim))


def argmin(input, dim=None, keepdim=False):
    x = _t(input, "argmin")
    if dim is None:
        return _nd.argmin(x, None, False)
    return _nd.argmin(x, _dim(x, dim, "argmin"), bool(keepdim))


def _ddof(op, correction, unbiased):
    if correction is not None and unbiased is not None:
        raise TypeError(f"{op}(): give correction= or unbiased=, not both")
    if correction is not None:
        return correction
    return 0 if unbiased is False else 1


def _var_args(op, input, dim, unbiased, keepdim, correction):
    x = _t(input, op)
    if isinstance(dim, bool):  # var(input, unbiased)
        dim, unbiased = None, dim
    return x, _dims(x, dim, op), bool(keepdim), _ddof(op, correction, unbiased)


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """The variance over ``dim``, with Bessel's correction by default (``correction=1``)."""
    x, ax, kd, ddof = _var_args("var", input, dim, unbiased, keepdim, correction)
    return _red.var(x, ax, kd, ddof)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """The standard deviation over ``dim`` (``correction=1`` by default); its gradient at zero
    spread is 0, as PyTorch's."""
    x, ax, kd, ddof = _var_args("std", input, dim, unbiased, keepdim, correction)
    return _red.std(x, ax, kd, ddof)


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """(var, mean) over ``dim``."""
    x, ax, kd, ddof = _var_args("var_mean", input, dim, unbiased, keepdim, correction)
    return _red.var(x, ax, kd, ddof), _red.mean(x, ax, kd)


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """(std, mean) over ``dim``."""
    x, ax, kd, ddof = _var_args("std_mean", input, dim, unbiased, keepdim, correction)
    return _red.std(x, ax, kd, ddof), _red.mean(x, ax, kd)


def logsumexp(input, dim, keepdim=False):
    """log(sum(exp(input))) over ``dim``, computed stably."""
    x = _floating(_t(input, "logsumexp"))
    return _red.logsumexp(x, _dims(x, dim, "logsumexp"), bool(keepdim))


def any(input, dim=None, keepdim=False):
    x = _t(input, "any")
    return _nd.any(x, _dims(x, dim, "any"), bool(keepdim))


def all(input, dim=None, keepdim=False):
    x = _t(input, "all")
    return _nd.all(x, _dims(x, dim, "all"), bool(keepdim))


def count_nonzero(input, dim=None):
    x = _t(input, "count_nonzero")
    return _new_tensor(_xp(x).count_nonzero(x.data, axis=_dims(x, dim, "count_nonzero")),
                       None, False)


def softmax(input, dim, dtype=None):
    """exp(input) normalised along ``dim``."""
    x = _t(input, "softmax")
    return _F.softmax(x if dtype is None else x.to(dtype), dim)


def log_softmax(input, dim, dtype=None):
    """log(softmax(input, dim)), computed stably."""
    x = _t(input, "log_softmax")
    return _F.log_softmax(x if dtype is None else x.to(dtype), dim)


def _accumulating(x, dtype):
    """``x`` in ``dtype``, or for a sum or product of unsigned integers in int64 (PyTorch's;
    NumPy's: uint64)."""
    if dtype is None:
        return x.to(np.int64) if x.dtype.kind == "u" else x
    return x.to(dtype)


def cumsum(input, dim, *, dtype=None):
    x = _accumulating(_t(input, "cumsum"), dtype)
    if x.ndim == 0:
        return x.clone()
    return _ex.cumsum(x, _dim(x, dim, "cumsum"))


def _prefix_grid(x, d, fill):
    """(..., n, n, ...) with row i holding x along ``d`` where j <= i, ``fill`` elsewhere: the
    prefixes of ``d`` as rows, for reductions that have a rule (prod, logsumexp). O(n^2)
    memory along ``d``."""
    n = x.shape[d]
    xp = _xp(x)
    mask = xp.tril(xp.ones((n, n), dtype=bool)).reshape(
        (n, n) + (1,) * (x.ndim - d - 1))
    return _ew.where(mask, _sh.expand_dims(x, d), fill)


def cumprod(input, dim, *, dtype=None):
    """Cumulative product along ``dim``; differentiable at zeros too (row i of a prefix grid
    reduced by ``prod``, whose rule handles zeros)."""
    x = _accumulating(_t(input, "cumprod"), dtype)
    if x.ndim == 0:
        return x.clone()
    d = _dim(x, dim, "cumprod")
    return _red.prod(_prefix_grid(x, d, 1), (d + 1,), False)


def logcumsumexp(input, dim):
    """log(cumsum(exp(input))) along ``dim``, computed stably (logsumexp of each prefix)."""
    x = _t(input, "logcumsumexp")
    if x.ndim == 0:
        return x.clone()
    d = _dim(x, dim, "logcumsumexp")
    if x.dtype.kind == "c" and x.shape[d]:  # PyTorch's running logaddexp, whose imaginary
        # parts are not brought back to (-pi, pi] as one logsumexp of each prefix would be
        acc = [_getitem(x, _slice_along(x, d, 0))]
        for j in builtins.range(1, x.shape[d]):
            acc.append(logaddexp(acc[-1], _getitem(x, _slice_along(x, d, j))))
        return stack(acc, d)
    return _red.logsumexp(_prefix_grid(x, d, -np.inf), (d + 1,), False)


def diff(input, n=1, dim=-1, prepend=None, append=None):
    """The n-th forward difference along ``dim``; ``prepend``/``append`` are joined first."""
    x = _t(input, "diff")
    d = _dim(x, dim, "diff")
    if n < 0:
        raise RuntimeError(f"diff(): order n must be non-negative, got {n} (input of shape "
                           f"{tuple(x.shape)})")
    if n == 0:  # PyTorch: the input itself, prepend and append ignored
        return x
    parts = [p for p in (prepend, x, append) if p is not None]
    if len(parts) > 1:
        x = cat([_t(p, "diff", "prepend/append") for p in parts], d)
    if x.dtype.kind == "b":  # bools differ where they are unequal (xor), as PyTorch's
        for _ in builtins.range(builtins.min(n, x.shape[d])):
            m = x.shape[d]
            x = _nd.logical_xor(_getitem(x, _slice_along(x, d, slice(1, m))),
                                _getitem(x, _slice_along(x, d, slice(0, m - 1))))
        return x
    return _ex.diff(x, n, d)


# ---- shapes ------------------------------------------------------------------------------------
def reshape(input, shape):
    return _t(input, "reshape").reshape(shape)


def transpose(input, dim0, dim1):
    """``input`` with dimensions ``dim0`` and ``dim1`` swapped."""
    x = _t(input, "transpose")
    d0, d1 = _dim(x, dim0, "transpose"), _dim(x, dim1, "transpose")
    return _sh.swapaxes(x, d0, d1) if x.ndim else x


swapaxes = swapdims = transpose


def permute(input, dims):
    x = _t(input, "permute")
    dims = tuple(_norm_axis(d, x.ndim, "permute") for d in dims)
    if sorted(dims) != list(range(x.ndim)):
        raise ValueError(f"permute(): dims {dims} are not a permutation of the {x.ndim} "
                         f"dimensions of a tensor of shape {tuple(x.shape)}")
    return _sh.transpose(x, dims)


def movedim(input, source, destination):
    x = _t(input, "movedim")
    src = source if isinstance(source, (tuple, list)) else (source,)
    dst = destination if isinstance(destination, (tuple, list)) else (destination,)
    if len(src) != len(dst):
        raise ValueError(f"movedim(): {len(src)} source dims but {len(dst)} destination dims")
    for name, dims in (("source", src), ("destination", dst)):
        normed = [_norm_axis(d, x.ndim, "movedim") for d in dims]
        if len(set(normed)) != len(normed):
            raise RuntimeError(f"movedim(): repeated dim in {name} {list(dims)} (input of "
                               f"shape {tuple(x.shape)})")
    return tnp.moveaxis(x, tuple(src), tuple(dst))


moveaxis = movedim


def t(input):
    """The transpose of a matrix; 0-d and 1-D tensors come back as they are."""
    x = _t(input, "t")
    if x.ndim > 2:
        raise RuntimeError(f"t(): expects a tensor with <= 2 dimensions, but got shape "
                           f"{tuple(x.shape)}; use transpose(dim0, dim1) or .mT")
    return _sh.transpose(x) if x.ndim == 2 else x


def flatten(input, start_dim=0, end_dim=-1):
    return _t(input, "flatten").flatten(start_dim, end_dim)


def unflatten(input, dim, sizes):
    """Dimension ``dim`` split into ``sizes`` (one of them may be -1)."""
    x = _t(input, "unflatten")
    d = _dim(x, dim, "unflatten")
    sizes = tuple(int(s) for s in sizes)
    known = math.prod(s for s in sizes if s != -1)
    if sizes.count(-1) > 1 or (-1 not in sizes and known != x.shape[d]) or (
            -1 in sizes and (known == 0 or x.shape[d] % known)):
        raise ValueError(f"unflatten(): sizes {sizes} do not multiply to the size "
                         f"{x.shape[d]} of dim {dim} of a tensor of shape {tuple(x.shape)}")
    sizes = tuple(x.shape[d] // known if s == -1 else s for s in sizes)
    return x.reshape(x.shape[:d] + sizes + x.shape[d + 1:])


def squeeze(input, dim=None):
    return _t(input, "squeeze").squeeze(dim=dim)


def unsqueeze(input, dim):
    return _t(input, "unsqueeze").unsqueeze(dim)


def ravel(input):
    return _t(input, "ravel").reshape(-1)


def narrow(input, dim, start, length):
    """The slice ``start:start+length`` of dimension ``dim`` (a view, as PyTorch's)."""
    x = _t(input, "narrow")
    d = _dim(x, dim, "narrow")
    n = x.shape[d]
    if isinstance(start, Tensor) and (start.ndim or start.dtype.kind not in "iu"):
        raise TypeError(f"narrow(): start must be an int or a 0-d integral tensor, got a "
                        f"tensor of dtype {start.dtype} and shape {tuple(start.shape)}")
    start = int(start)
    if start < 0:
        start += n
    if not 0 <= start <= n or length < 0 or start + length > n:
        raise IndexError(f"narrow(): start {start} and length {length} are out of range for "
                         f"dim {dim} of size {n} (shape {tuple(x.shape)})")
    return _getitem(x, _slice_along(x, d, slice(start, start + int(length))))


def select(input, dim, index):
    """The slice at ``index`` of dimension ``dim``, which is removed."""
    x = _t(input, "select")
    d = _dim(x, dim, "select")
    n = x.shape[d]
    if not -n <= index < n:
        raise IndexError(f"select(): index {index} is out of range for dim {dim} of size {n}")
    return _getitem(x, _slice_along(x, d, int(index)))


def _split_bounds(sizes):
    bounds = [0]
    for s in sizes:
        bounds.append(bounds[-1] + s)
    return bounds


def _pieces(x, d, sizes):
    b = _split_bounds(sizes)
    return tuple(_getitem(x, _slice_along(x, d, slice(b0, b1))) for b0, b1 in zip(b[:-1], b[1:]))


def split(tensor, split_size_or_sections, dim=0):
    """Pieces of size ``split_size_or_sections`` (an int: the last may be smaller) or of the
    sizes in the list, along ``dim``."""
    x = _t(tensor, "split", "tensor")
    d = _dim(x, dim, "split")
    n = x.shape[d]
    s = split_size_or_sections
    if isinstance(s, (int, np.integer)):
        s = int(s)
        if s <= 0 and not (s == 0 and n == 0):
            raise ValueError(f"split(): split_size must be positive, got {s}")
        sizes = [builtins.min(s, n - i) for i in range(0, n, s)] if n else [0]
    else:
        sizes = [int(v) for v in s]
        if builtins.sum(sizes) != n or builtins.any(v < 0 for v in sizes):
            raise ValueError(f"split(): split_sizes {sizes} must be non-negative and sum to "
                             f"{n}, the size of dim {dim} (shape {tuple(x.shape)})")
    return _pieces(x, d, sizes)


def chunk(input, chunks, dim=0):
    """At most ``chunks`` pieces of ceil(n / chunks) elements along ``dim`` (PyTorch's rule:
    there may be fewer)."""
    x = _t(input, "chunk")
    if int(chunks) <= 0:
        raise ValueError(f"chunk(): chunks must be positive, got {chunks}")
    n = x.shape[_dim(x, dim, "chunk")]
    size = -(-n // int(chunks))
    return split(x, builtins.max(size, 1) if n else 0, dim)


def tensor_split(input, indices_or_sections, dim=0):
    """NumPy's array_split: ``sections`` pieces whose sizes differ by at most one (the first
    ``n % sections`` one larger), or pieces between the ``indices``."""
    x = _t(input, "tensor_split")
    d = _dim(x, dim, "tensor_split")
    n = x.shape[d]
    s = indices_or_sections
    if isinstance(s, Tensor):
        s = s.tolist()
    if isinstance(s, (int, np.integer)):
        if s <= 0:
            raise ValueError(f"tensor_split(): sections must be positive, got {s}")
        each, extra = divmod(n, int(s))
        return _pieces(x, d, [each + 1] * extra + [each] * (int(s) - extra))
    cuts = [0] + [builtins.min(builtins.max(int(i) + (n if i < 0 else 0), 0), n) for i in s] + [n]
    return tuple(_getitem(x, _slice_along(x, d, slice(a, builtins.max(a, b))))
                 for a, b in zip(cuts[:-1], cuts[1:]))


def unbind(input, dim=0):
    """The slices along ``dim``, each without that dimension."""
    x = _t(input, "unbind")
    d = _dim(x, dim, "unbind")
    return tuple(_getitem(x, _slice_along(x, d, i)) for i in range(x.shape[d]))


def _tensors(tensors, op):
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{op}(): expects a non-empty list of tensors")
    for i, v in enumerate(tensors):
        _t(v, op, f"tensors[{i}]")
    return tensors


def cat(tensors, dim=0):
    """Join along an existing dimension (shapes must agree elsewhere)."""
    tensors = _tensors(tensors, "cat")
    nd = tensors[0].ndim
    d = _norm_axis(dim, nd, "cat")
    ref = tensors[0].shape
    for v in tensors[1:]:
        if v.ndim != nd or v.shape[:d] + v.shape[d + 1:] != ref[:d] + ref[d + 1:]:
            raise ValueError(f"cat(): tensors must agree in shape except in dim {dim}, got "
                             f"{[tuple(u.shape) for u in tensors]}")
    return _sh.concatenate_(d, *_promoted(tensors))


concat = concatenate = cat


def stack(tensors, dim=0):
    """Join along a new dimension (all shapes equal)."""
    tensors = _tensors(tensors, "stack")
    shapes = {tuple(v.shape) for v in tensors}
    if len(shapes) > 1:
        raise ValueError(f"stack(): expects each tensor to be equal size, got "
                         f"{[tuple(u.shape) for u in tensors]}")
    return _sh.stack_(_norm_axis(dim, tensors[0].ndim + 1, "stack"), *_promoted(tensors))


def hstack(tensors):
    tensors = atleast_1d(*_tensors(tensors, "hstack"))
    tensors = tensors if isinstance(tensors, tuple) else (tensors,)
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors):
    tensors = atleast_2d(*_tensors(tensors, "vstack"))
    return cat(tensors if isinstance(tensors, tuple) else (tensors,), 0)


row_stack = vstack


def dstack(tensors):
    tensors = atleast_3d(*_tensors(tensors, "dstack"))
    return cat(tensors if isinstance(tensors, tuple) else (tensors,), 2)


def column_stack(tensors):
    cols = [v.reshape(-1, 1) if v.ndim < 2 else v for v in _tensors(tensors, "column_stack")]
    return cat(cols, 1)


def _atleast(n, name):
    def one(x):
        _t(x, name, "tensors")
        if x.ndim >= n:
            return x
        if n == 3 and x.ndim == 2:
            return x.reshape(x.shape + (1,))
        if n == 3 and x.ndim == 1:
            return x.reshape((1,) + x.shape + (1,))
        return x.reshape((1,) * (n - x.ndim) + x.shape)

    def f(*tensors):
        if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
            tensors = tuple(tensors[0])
        out = tuple(one(x) for x in tensors)
        return out[0] if len(out) == 1 else out

    f.__name__ = f.__qualname__ = name
    return f


atleast_1d = _atleast(1, "atleast_1d")
atleast_2d = _atleast(2, "atleast_2d")
atleast_3d = _atleast(3, "atleast_3d")


def broadcast_to(input, size):
    return _sh.broadcast_to(_t(input, "broadcast_to"), tuple(size))


def broadcast_shapes(*shapes):
    return tuple(np.broadcast_shapes(*[(s,) if isinstance(s, int) else tuple(s)
                                       for s in shapes]))


def broadcast_tensors(*tensors):
    tensors = _tensors(tensors, "broadcast_tensors")
    shape = broadcast_shapes(*[v.shape for v in tensors])
    return tuple(v if v.shape == shape else _sh.broadcast_to(v, shape) for v in tensors)


def meshgrid(*tensors, indexing="ij"):
    """Coordinate grids of 1-D tensors (``indexing='ij'`` or ``'xy'``), differentiable."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    tensors = _tensors(tensors, "meshgrid")
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid(): indexing must be 'ij' or 'xy', got {indexing!r}")
    for v in tensors:
        if v.ndim > 1:
            raise ValueError(f"meshgrid(): expects 0-D or 1-D tensors, got shape "
                             f"{tuple(v.shape)}")
    vs = [v.reshape(-1) for v in tensors]
    if indexing == "xy" and len(vs) >= 2:
        vs[0], vs[1] = vs[1], vs[0]
    shape = tuple(v.shape[0] for v in vs)
    grids = []
    for i, v in enumerate(vs):
        s = [1] * len(vs)
        s[i] = -1
        grids.append(_sh.broadcast_to(v.reshape(tuple(s)), shape))
    if indexing == "xy" and len(vs) >= 2:  # built as 'ij' over (y, x, ...): shape (ny, nx, ...)
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)


def _flip_index(x, dims):
    # an index array (a copy, as PyTorch's flip), one dim at a time: several index arrays in
    # one index would be broadcast together
    xp = _xp(x)
    out = x
    for d in dims:
        out = _getitem(out, _slice_along(out, d, xp.arange(x.shape[d] - 1, -1, -1)))
    return out


def flip(input, dims):
    """``input`` reversed along ``dims`` (a copy, as PyTorch's)."""
    x = _t(input, "flip")
    dims = dims if isinstance(dims, (tuple, list)) else (dims,)
    d = tuple(_norm_axis(v, x.ndim, "flip") for v in dims)
    if len(set(d)) != len(d):
        raise ValueError(f"flip(): dims {tuple(dims)} has a repeated dimension")
    return _flip_index(x, d) if d else x.clone()


def fliplr(input):
    x = _t(input, "fliplr")
    if x.ndim < 2:
        raise ValueError(f"fliplr(): input must be >= 2-D, got shape {tuple(x.shape)}")
    return flip(x, 1)


def flipud(input):
    x = _t(input, "flipud")
    if x.ndim < 1:
        raise ValueError("flipud(): input must be >= 1-D")
    return flip(x, 0)


def roll(input, shifts, dims=None):
    """Elements shifted by ``shifts`` along ``dims`` (the flattened tensor when None)."""
    x = _t(input, "roll")
    if dims is None and isinstance(shifts, (tuple, list)) and len(shifts) != 1:
        raise ValueError("roll(): give dims when shifts has more than one entry")
    if dims is not None:
        s = shifts if isinstance(shifts, (tuple, list)) else (shifts,)
        dd = dims if isinstance(dims, (tuple, list)) else (dims,)
        if len(s) != len(dd):
            raise ValueError(f"roll(): shifts {shifts} and dims {dims} must have the same "
                             "length")
    return _ex.roll(x, shifts, dims)


def rot90(input, k=1, dims=(0, 1)):
    """Rotation by 90 degrees ``k`` times in the plane of ``dims`` (from the first towards the
    second): NumPy's rot90, and a new tensor even when ``k`` is a multiple of 4."""
    x = _t(input, "rot90")
    if len(dims) != 2:
        raise ValueError(f"rot90(): dims must have length 2, got {dims}")
    out = tnp.rot90(x, k, tuple(dims))
    return x.clone() if out is x else out


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    """Each element repeated ``repeats`` times (an int or a tensor of counts) along ``dim``
    (over the flattened input when None). ``repeat_interleave(counts)`` repeats 0..n-1."""
    if repeats is None:
        counts = _int_index(input, "repeat_interleave", "repeats")
        xp = xp_of(counts)
        return _new_tensor(xp.repeat(xp.arange(counts.shape[0]), counts), None, False)
    x = _t(input, "repeat_interleave")
    if isinstance(repeats, Tensor):
        r = _int_index(repeats, "repeat_interleave", "repeats")
        if r.ndim > 1:
            raise ValueError("repeat_interleave(): repeats must be 0-D or 1-D")
    else:
        r = int(repeats)
        if r < 0:
            raise ValueError(f"repeat_interleave(): repeats must be non-negative, got {r}")
    if dim is None:
        x, d = x.reshape(-1), 0
    else:
        d = _dim(x, dim, "repeat_interleave")
    if isinstance(r, int) or r.ndim == 0:
        pass
    elif r.shape[0] != x.shape[d]:
        raise ValueError(f"repeat_interleave(): {r.shape[0]} repeats for dim {dim} of size "
                         f"{x.shape[d]}")
    return _ex.repeat(x, r, d)


def tile(input, dims):
    """``input`` repeated ``dims[i]`` times along dimension i (NumPy's tile)."""
    x = _t(input, "tile")
    dims = tuple(dims) if isinstance(dims, (tuple, list)) else (int(dims),)
    return _ex.tile(x, dims)


def _repeat_method(self, *sizes):
    """PyTorch's Tensor.repeat: ``sizes`` (at least ndim of them) copies along each dim."""
    sizes = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else \
        tuple(int(s) for s in sizes)
    if len(sizes) < self.ndim:
        raise ValueError(f"repeat(): number of repeat dims {len(sizes)} can not be smaller than "
                         f"the number of dimensions {self.ndim} of the tensor")
    return _ex.tile(self, sizes)


def tril(input, diagonal=0):
    """The lower triangle (on and below ``diagonal``) of the last two dims; zeros elsewhere."""
    return _triangle("tril", input, diagonal)


def triu(input, diagonal=0):
    """The upper triangle (on and above ``diagonal``) of the last two dims; zeros elsewhere."""
    return _triangle("triu", input, diagonal)


def _triangle(name, input, k):
    x = _t(input, name)
    if x.ndim < 2:
        raise ValueError(f"{name}(): input must have at least 2 dimensions, got shape "
                         f"{tuple(x.shape)}")
    xp = _xp(x)
    mask = getattr(xp, name)(xp.ones(x.shape[-2:], dtype=bool), int(k))
    return _ew.where(mask, x, xp.zeros((), dtype=x.dtype))  # a bool input stays bool


def diagonal(input, offset=0, dim1=0, dim2=1):
    """The diagonal ``offset`` of the plane (dim1, dim2), as the last dimension."""
    x = _t(input, "diagonal")
    a, b = _norm_axis(dim1, x.ndim, "diagonal"), _norm_axis(dim2, x.ndim, "diagonal")
    if a == b:
        raise ValueError(f"diagonal(): dim1 and dim2 must differ, got {dim1} and {dim2}")
    from .ops.shape import diagonal as diagonal_view

    return diagonal_view(x, int(offset), a, b)  # a view, as PyTorch's


def diag(input, diagonal=0):
    """A 1-D input: the square matrix with it on diagonal ``diagonal``; a 2-D input: that
    diagonal as a 1-D tensor."""
    x = _t(input, "diag")
    if x.ndim == 2:
        return globals()["diagonal"](x, diagonal)
    if x.ndim != 1:
        raise ValueError(f"diag(): input must be 1-D or 2-D, got shape {tuple(x.shape)}")
    k = int(diagonal)
    n = x.shape[0] + builtins.abs(k)
    xp = _xp(x)
    rows = xp.arange(x.shape[0]) + builtins.max(0, -k)
    return _untake(x, (rows, rows + k), (n, n))


def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    """The last dimension of ``input`` placed on diagonal ``offset`` of new dims (dim1,
    dim2)."""
    x = _t(input, "diag_embed")
    k = int(offset)
    m = x.shape[-1]
    n = m + builtins.abs(k)
    xp = _xp(x)
    rows = xp.arange(m) + builtins.max(0, -k)
    place = xp.zeros((m, n, n), dtype=x.dtype)  # place[i] is 1 at (rows[i], rows[i] + k)
    place[xp.arange(m), rows, rows + k] = 1
    out = _ex.einsum("...i,ijk->...jk", x, place)
    nd = x.ndim + 1
    a, b = _norm_axis(dim1, nd, "diag_embed"), _norm_axis(dim2, nd, "diag_embed")
    if a == b:
        raise ValueError("diag_embed(): dim1 and dim2 must differ")
    return tnp.moveaxis(out, (-2, -1), (a, b))


def trace(input):
    """The sum of the main diagonal of a matrix."""
    x = _t(input, "trace")
    if x.ndim != 2:
        raise RuntimeError(f"trace(): expected a matrix, got shape {tuple(x.shape)}")
    return _red.sum(_accumulating(diagonal(x), None), None, False)


# ---- indexing ------------------------------------------------------------------------------------
def gather(input, dim, index, *, sparse_grad=False):
    """out[i][j][k] = input[index[i][j][k]][j][k] (for dim=0); ``index`` has input's number of
    dims and is no larger than input outside ``dim``. The gradient scatters back (repeated
    indices add up)."""
    x = _t(input, "gather")
    idx = _int_index(index, "gather")
    d = _dim(x, dim, "gather")
    if not idx.size:  # PyTorch: an empty index gives an empty result of its shape, unchecked
        return _getitem(x.reshape(-1), idx.reshape(-1)).reshape(idx.shape)
    if not x.ndim:  # a 0-d input: one element along dim 0 (and a 0-d index: one index)
        x = x.reshape(1)
        if not idx.ndim:
            return _getitem(x, _along(idx.reshape(1), 0)).reshape(())
    if idx.ndim != x.ndim or builtins.any(
            idx.shape[i] > x.shape[i] for i in range(x.ndim) if i != d):
        raise ValueError(f"gather(): index of shape {tuple(idx.shape)} does not fit input of "
                         f"shape {tuple(x.shape)} along dim {dim} (same number of dims, no "
                         "larger outside dim)")
    return _getitem(x, _along(idx, d))


def take_along_dim(input, indices, dim=None):
    """``input``'s values at ``indices`` along ``dim`` (both broadcast outside ``dim``; the
    flattened input when None)."""
    x = _t(input, "take_along_dim")
    idx = _int_index(indices, "take_along_dim", "indices")
    if dim is None:
        return _getitem(x.reshape(-1), idx.reshape(-1))
    d = _dim(x, dim, "take_along_dim")
    if idx.ndim != x.ndim:
        raise ValueError(f"take_along_dim(): input {tuple(x.shape)} and indices "
                         f"{tuple(idx.shape)} must have the same number of dims")
    shape = [builtins.max(a, b) for a, b in zip(x.shape, idx.shape)]
    xs, ish = list(shape), list(shape)
    xs[d], ish[d] = x.shape[d], idx.shape[d]
    xb = x if tuple(xs) == x.shape else _sh.broadcast_to(x, tuple(xs))
    ib = idx if tuple(ish) == idx.shape else xp_of(idx).broadcast_to(idx, tuple(ish))
    return _getitem(xb, _along(ib, d))


def index_select(input, dim, index):
    """The slices at ``index`` (1-D) of dimension ``dim``."""
    x = _t(input, "index_select")
    idx = _int_index(index, "index_select")
    if idx.ndim > 1:
        raise ValueError(f"index_select(): index must be 0-D or 1-D, got shape "
                         f"{tuple(idx.shape)}")
    d = _dim(x, dim, "index_select")
    if not x.ndim:  # a 0-d input: one element along dim 0, and a 0-d result
        return _getitem(x.reshape(1), idx.reshape(-1)).reshape(())
    return _getitem(x, _slice_along(x, d, idx.reshape(-1)))


def take(input, index):
    """The flattened input at ``index`` (the result has index's shape)."""
    x = _t(input, "take")
    return _getitem(x.reshape(-1), _int_index(index, "take"))


def masked_select(input, mask):
    """The elements where ``mask`` (broadcast with input) holds, as a 1-D tensor."""
    x = _t(input, "masked_select")
    m = _bool_mask(mask, "masked_select")
    shape = broadcast_shapes(x.shape, m.shape)
    xb = x if x.shape == shape else _sh.broadcast_to(x, shape)
    mb = m.data if m.shape == shape else xp_of(m.data).broadcast_to(m.data, shape)
    return _getitem(xb, mb)


def _bool_mask(mask, op):
    m = _t(mask, op, "mask")
    if m.dtype != np.bool_:
        raise TypeError(f"{op}(): mask must be a bool tensor, got {m.dtype}")
    return m


def masked_fill(input, mask, value):
    """``input`` with ``value`` (a number or a 0-d tensor, which gets the gradient of the
    filled places) where ``mask`` (broadcastable to input) holds."""
    x = _t(input, "masked_fill")
    m = _bool_mask(mask, "masked_fill")
    # the result has the broadcast shape of input and mask (PyTorch's out-of-place form;
    # the in-place masked_fill_ needs a mask that broadcasts to input)
    try:
        broadcast_shapes(x.shape, m.shape)
    except ValueError:
        raise ValueError(f"masked_fill(): mask of shape {tuple(m.shape)} does not broadcast "
                         f"with the input's shape {tuple(x.shape)}") from None
    return _ew.where(m, _fill_value(value, x, "masked_fill"), x)


def _fill_value(value, x, op):
    """A number or 0-d tensor, as ``x``'s dtype (PyTorch casts fill values)."""
    v = _operand(value, op, "value")
    if isinstance(v, Tensor):
        if v.ndim:
            raise ValueError(f"{op}(): value must be a number or a 0-d tensor, got shape "
                             f"{tuple(v.shape)}")
        vd, xd = v.dtype, x.dtype
        if (xd.kind in "iu" and not np.can_cast(vd, xd)) or (xd.kind == "f" and vd.kind == "c"):
            _check_fits(v.item(), x, op)  # a device read, only for these rare dtype pairs
        return _cast_like(v, x)
    return x.dtype.type(_check_fits(v, x, op)).item()


def _check_fits(v, x, op):
    """``v`` as a number ``x``'s dtype takes (a zero imaginary part dropped); RuntimeError
    unless it converts without overflow (PyTorch's rule for fill values: no imaginary part into
    a real dtype, no NaN, infinity or out-of-range value into an integer dtype; anything into
    bool)."""
    kind = x.dtype.kind
    fits, real = True, v
    if kind in "iuf" and isinstance(v, numbers.Complex) and not isinstance(v, numbers.Real):
        fits, real = v.imag == 0, v.real
    if fits and kind in "iu":
        info = np.iinfo(x.dtype)
        fits = bool(info.min <= real <= info.max)  # False for NaN
    if not fits:
        raise RuntimeError(f"{op}(): value {v!r} cannot be converted to the input's dtype "
                           f"{x.dtype} without overflow (input of shape {tuple(x.shape)})")
    return real


def _scatter_index(x, dim, index, src, op):
    d = _dim(x, dim, op)
    idx = _int_index(index, op)
    if idx.ndim != x.ndim or builtins.any(
            idx.shape[i] > x.shape[i] for i in range(x.ndim) if i != d):
        raise ValueError(f"{op}(): index of shape {tuple(idx.shape)} does not fit input of "
                         f"shape {tuple(x.shape)} along dim {dim}")
    if isinstance(src, Tensor):
        if src.ndim != idx.ndim or builtins.any(a > b for a, b in zip(idx.shape, src.shape)):
            raise ValueError(f"{op}(): src of shape {tuple(src.shape)} is smaller than index "
                             f"of shape {tuple(idx.shape)}")
        if src.shape != idx.shape:
            src = _getitem(src, tuple(slice(0, n) for n in idx.shape))
        src = _cast_like(src, x)
    else:
        src = _sh.broadcast_to(_new_tensor(_xp(x).asarray(src, dtype=x.dtype), None, False),
                               idx.shape)
    return _along(idx, d), src


def scatter(input, dim, index, src=None, *, value=None, reduce=None):
    """``input`` with src (or the number ``value``) written at ``index`` along ``dim``;
    ``reduce='add'`` adds instead. Repeated indices add up (PyTorch keeps one of them)."""
    x = _t(input, "scatter")
    if src is None:
        src = value
    if src is None:
        raise TypeError("scatter(): give src (a tensor) or value (a number)")
    if not isinstance(src, (Tensor, numbers.Number)):
        raise TypeError(f"scatter(): src must be a Tensor or a number, not {type(src).__name__}")
    fidx, s = _scatter_index(x, dim, index, src, "scatter")
    if reduce == "add":
        return x + _untake(s, fidx, x.shape)
    if reduce == "multiply":
        return _scatter_multiply(x, _dim(x, dim, "scatter"), fidx, s)
    if reduce is not None:
        raise NotImplementedError(f"scatter(): reduce={reduce!r} is not supported; use "
                                  "reduce='add', reduce='multiply' or scatter_add")
    return _zero_at(x, fidx) + _untake(s, fidx, x.shape)


def _scatter_multiply(x, d, fidx, s):
    """scatter with reduce='multiply', without a derivative (PyTorch has none either)."""
    if _state.enabled and (x.requires_grad or s.requires_grad):
        raise RuntimeError("scatter(): reduce='multiply' has no derivative (as in PyTorch); "
                           "detach the inputs or use tg.no_grad()")
    xp = _xp(x)
    out = x.data.copy()
    shape = s.shape
    parts = [xp.broadcast_to(a, shape) for a in fidx]
    # the targets of one position along d are distinct: a slice at a time multiplies
    # repeated indices in turn
    for j in builtins.range(shape[d] if s.ndim else 1):
        at = _slice_along(x, d, j) if s.ndim else ()
        out[tuple(a[at] for a in parts)] *= s.data[at]
    return _new_tensor(out, None, False)


def scatter_add(input, dim, index, src):
    """``input`` with ``src`` added at ``index`` along ``dim`` (repeated indices add up)."""
    x = _t(input, "scatter_add")
    fidx, s = _scatter_index(x, dim, index, _t(src, "scatter_add", "src"), "scatter_add")
    return x + _untake(s, fidx, x.shape)


def index_add(input, dim, index, source, *, alpha=1):
    """``input`` with alpha * source[i] added to the slice index[i] of ``dim``."""
    x = _t(input, "index_add")
    d = _dim(x, dim, "index_add")
    idx = _int_index(index, "index_add")
    s = _t(source, "index_add", "source")
    if not x.ndim:  # a 0-d input: one element along dim 0
        return index_add(x.reshape(1), 0, index, s.reshape(-1), alpha=alpha).reshape(())
    want = x.shape[:d] + (idx.reshape(-1).shape[0],) + x.shape[d + 1:]
    if s.shape != want:
        raise ValueError(f"index_add(): source has shape {tuple(s.shape)}, expected {want} "
                         f"for input {tuple(x.shape)}, dim {dim} and {want[d]} indices")
    s = _cast_like(s, x)
    return x + _untake(s if alpha == 1 else s * alpha, _slice_along(x, d, idx.reshape(-1)),
                       x.shape)


def index_fill(input, dim, index, value):
    """``input`` with the slices index of ``dim`` set to ``value``."""
    x = _t(input, "index_fill")
    d = _dim(x, dim, "index_fill")
    if not x.ndim:  # a 0-d input: one element along dim 0
        return index_fill(x.reshape(1), 0, index, value).reshape(())
    idx = _int_index(index, "index_fill").reshape(-1)
    xp = _xp(x)
    m = xp.zeros(x.shape[d], dtype=bool)
    m[idx] = True
    m = m.reshape((-1,) + (1,) * (x.ndim - d - 1))
    return _ew.where(m, _fill_value(value, x, "index_fill"), x)


def nonzero(input, *, as_tuple=False):
    """The indices of the nonzero elements: an (n, ndim) int64 tensor, or one 1-D tensor per
    dim with ``as_tuple=True``."""
    x = _t(input, "nonzero")
    xp = _xp(x)
    idx = xp.nonzero(x.data if x.ndim else x.data.reshape(1))
    if as_tuple:
        return tuple(_new_tensor(i, None, False) for i in idx)
    if not x.ndim:  # one row per nonzero element, of no coordinates
        return _new_tensor(xp.zeros((idx[0].shape[0], 0), dtype=np.int64), None, False)
    return _new_tensor(xp.stack(idx, axis=1), None, False)


def argwhere(input):
    return nonzero(input)


def _sorts_before(xp, a, b):
    """``a < b`` with NaN sorted last (NumPy's and PyTorch's order for a NaN searched for)."""
    return (a < b) | (xp.isnan(b) & ~xp.isnan(a))


def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None,
                 sorter=None):
    """Insertion points of ``input`` into ``sorted_sequence``: a 1-D sequence for any input, or
    one sorted row per leading index, (*, M), for an input of shape (*, K) (PyTorch's batched
    form: ``torch.searchsorted(probs.cumsum(-1), u)`` samples one index per row).

    >>> import tensorgrad as tg
    >>> cdf = tg.tensor([[0.1, 0.5, 1.0], [0.3, 0.6, 1.0]])
    >>> tg.searchsorted(cdf, tg.tensor([[0.4], [0.2]])).tolist()
    [[1], [0]]
    """
    s = _t(sorted_sequence, "searchsorted", "sorted_sequence")
    if side not in (None, "left", "right") or (side == "left" and right):
        raise ValueError(f"searchsorted(): side must be 'left' or 'right' (and agree with "
                         f"right={right}), got {side!r}")
    side = side or ("right" if right else "left")
    xp = xp_of(s.data)
    seq = s.data
    if sorter is not None:
        seq = xp.take_along_axis(seq, _t(sorter, "searchsorted", "sorter").data, axis=-1)
    v = input.data if isinstance(input, Tensor) else input
    dtype = np.int32 if out_int32 else np.int64
    if s.ndim == 1:
        return _new_tensor(xp.searchsorted(seq, v, side=side).astype(dtype), None, False)
    v_shape = tuple(getattr(v, "shape", ()))
    if not v_shape:
        raise ValueError(f"searchsorted(): input can be a number only for a 1-D "
                         f"sorted_sequence, got sorted_sequence of shape {tuple(s.shape)}")
    if s.ndim == 0 or v_shape[:-1] != tuple(s.shape[:-1]):
        raise ValueError(f"searchsorted(): the leading dimensions of sorted_sequence "
                         f"{tuple(s.shape)} and input {v_shape} must match (or "
                         f"sorted_sequence must be 1-D)")
    rows, values = seq[..., None, :], v[..., :, None]  # (*, 1, M) against (*, K, 1)
    if side == "left":
        count = _sorts_before(xp, rows, values)
    else:
        count = ~_sorts_before(xp, values, rows)
    return _new_tensor(count.sum(axis=-1).astype(dtype), None, False)


def bucketize(input, boundaries, *, out_int32=False, right=False):
    """The bucket of each element of ``input`` given 1-D sorted ``boundaries`` (int64, or
    int32 with ``out_int32``)."""
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


# ---- sorting ---------------------------------------------------------------------------------
def _argsort_raw(x, d, descending):
    """Stable argsort along ``d``; descending keeps equal elements in their order and puts NaN
    first (NaN counts as the largest, as PyTorch)."""
    xp = _xp(x)
    a = x.data
    if not descending:
        return xp.argsort(a, axis=d, kind="stable")
    n = a.shape[d]
    rev = (slice(None),) * d + (slice(None, None, -1),)
    order = xp.argsort(a[rev], axis=d, kind="stable")
    return (n - 1 - order)[rev]


def sort(input, dim=-1, descending=False, stable=False):
    """(values, indices) sorted along ``dim``; the gradient follows the permutation."""
    x = _t(input, "sort")
    if x.ndim == 0:
        return SortResult(x.clone(), _zero_index(x))
    d = _dim(x, dim, "sort")
    idx = _argsort_raw(x, d, descending)
    return SortResult(_getitem(x, _along(idx, d)), _new_tensor(idx, None, False))


def argsort(input, dim=-1, descending=False, stable=False):
    x = _t(input, "argsort")
    if x.ndim == 0:
        return _zero_index(x)
    return _new_tensor(_argsort_raw(x, _dim(x, dim, "argsort"), descending), None, False)


def msort(input):
    return sort(input, 0).values


def _k_along(input, k, dim, op, least):
    """(the tensor, ``dim`` made non-negative) for topk/kthvalue, once ``least <= k <=`` the
    size of ``dim`` (a 0-d tensor has one element along dim 0)."""
    x = _t(input, op)
    d = _dim(x, dim, op) if x.ndim else 0
    n = x.shape[d] if x.ndim else 1
    if not least <= k <= n:
        raise ValueError(f"{op}(): k={k} is out of range for dim {dim} of size {n}")
    return x, d


def topk(input, k, dim=-1, largest=True, sorted=True):
    """(values, indices) of the ``k`` largest (``largest=False``: smallest) along ``dim``,
    largest first; the gradient goes to the chosen elements."""
    x, d = _k_along(input, k, dim, "topk", 0)
    if x.ndim == 0:
        return TopkResult(x.clone(), _zero_index(x))
    idx = _argsort_raw(x, d, largest)[_slice_along(x, d, slice(0, int(k)))]
    return TopkResult(_getitem(x, _along(idx, d)), _new_tensor(idx, None, False))


def kthvalue(input, k, dim=-1, keepdim=False):
    """(values, indices) of the k-th smallest element (k counts from 1) along ``dim``."""
    x, d = _k_along(input, k, dim, "kthvalue", 1)
    if x.ndim == 0:
        return KthvalueResult(x.clone(), _zero_index(x))
    idx = _argsort_raw(x, d, False)[_slice_along(x, d, slice(k - 1, k))]
    return KthvalueResult(_by_index(x, idx, d, keepdim),
                          _new_tensor(idx if keepdim else idx.squeeze(d), None, False))


def median(input, dim=None, keepdim=False):
    """The lower median: of all elements (a value), or (values, indices) along ``dim``."""
    x = _t(input, "median")
    if dim is None:
        flat = x.reshape(-1)
        if flat.shape[0] == 0:
            return _empty_median(flat, "median")
        return _tied_value(flat, median(flat.detach(), 0).values)
    if x.ndim == 0:
        return MedianResult(x.clone(), _zero_index(x))
    d = _dim(x, dim, "median")
    n = x.shape[d]
    if n == 0:
        raise ValueError(f"median(): dim {dim} of input shape {tuple(x.shape)} is empty")
    idx = _argsort_raw(x, d, False)[_slice_along(x, d, slice((n - 1) // 2, (n + 1) // 2))]
    if x.dtype.kind in "fc":  # a NaN in a row makes its median NaN: the first NaN's (PyTorch)
        xp = xp_of(x.data)
        nan = xp.isnan(x.data)
        idx = xp.where(nan.any(axis=d, keepdims=True), nan.argmax(axis=d, keepdims=True), idx)
    return MedianResult(_by_index(x, idx, d, keepdim),
                        _new_tensor(idx if keepdim else idx.squeeze(d), None, False))


@_primitive
def _evenly_at(x, value):
    """``value`` (an element of ``x``, as an array), its derivative spread evenly over the
    elements of ``x`` equal to it (NaN: over the NaNs): PyTorch's for a median of all
    elements, where the index of ``median(dim)`` picks one of the tied elements."""
    return value.copy()


def _ties(ans, x):
    xp = xp_of(_raw(x))
    a, v = _raw(x), _raw(ans)
    mask = (xp.where(xp.isnan(v), xp.isnan(a), a == v) if a.dtype.kind in "fc" else a == v)
    mask = mask.astype(a.dtype)
    return mask / mask.sum()


_defvjp(_evenly_at, lambda g, ans, x, value: g * _ties(ans, x), None)
_defjvp(_evenly_at, lambda t, ans, x, value: _red.sum(t * _ties(ans, x)), None)


def _tied_value(flat, value):
    """The median ``value`` of the 1-D ``flat`` (detached), differentiable through ``flat``
    with its ties sharing the gradient."""
    if not flat.requires_grad and not _is_dual(flat):
        return value
    return _evenly_at(flat, value.data)


def _empty_median(flat, op):
    """The median of no elements: nan, as PyTorch's (an integer tensor has no nan: an error,
    where PyTorch returns the smallest integer)."""
    if flat.dtype.kind not in "fc":
        raise ValueError(f"{op}(): cannot take the median of an empty {flat.dtype} tensor")
    return _tied_value(flat, Tensor._wrap(xp_of(flat.data).asarray(np.nan, dtype=flat.dtype)))


def _is_dual(t):
    return t._level != 0


# ---- linear algebra ----------------------------------------------------------------------------
def _is_sparse(x):
    """A sparse tensor of any layout (COO, CSR, CSC; CSR's ``is_sparse`` is False)."""
    from .sparse import SparseTensor

    return isinstance(x, SparseTensor)


def matmul(input, other):
    """The matrix product, with NumPy's rules for 1-D operands and batch broadcasting."""
    if _is_sparse(input) or _is_sparse(other):
        return input @ other  # tensorgrad.sparse: a sparse @ dense product
    return _matmul(_t(input, "matmul"), _t(other, "matmul", "other"))


def _operands(op, input, other, other_name, fits, expects):
    """``op``'s two operands as Tensors, once ``fits(a, b)`` holds; else ValueError
    "op(): expects <expects>, got <the two shapes>"."""
    a, b = _t(input, op), _t(other, op, other_name)
    if not fits(a, b):
        raise ValueError(f"{op}(): expects {expects}, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    return a, b


def _mm_fits(a, b):
    return a.ndim == 2 and b.ndim == 2 and a.shape[1] == b.shape[0]


def _bmm_fits(a, b):
    return a.ndim == 3 and b.ndim == 3 and a.shape[0] == b.shape[0] and a.shape[2] == b.shape[1]


def _mv_fits(a, v):
    return a.ndim == 2 and v.ndim == 1 and a.shape[1] == v.shape[0]


def _same_length_vectors(a, b):
    return a.ndim == 1 and b.ndim == 1 and a.shape == b.shape


def _vectors(a, b):
    return a.ndim == 1 and b.ndim == 1


def mm(input, mat2):
    """The product of two matrices (no broadcasting)."""
    if _is_sparse(input) or _is_sparse(mat2):
        return input @ mat2  # tensorgrad.sparse: a sparse @ dense product
    return _matmul(*_operands("mm", input, mat2, "mat2", _mm_fits, "(n, m) @ (m, p) matrices"))


def bmm(input, mat2):
    """Batched products of (b, n, m) and (b, m, p) tensors (no broadcasting)."""
    return _matmul(*_operands("bmm", input, mat2, "mat2", _bmm_fits,
                          "(b, n, m) and (b, m, p) tensors"))


def mv(input, vec):
    return _matmul(*_operands("mv", input, vec, "vec", _mv_fits,
                          "an (n, m) matrix and an (m,) vector"))


def dot(input, other):
    """The inner product of two 1-D tensors of the same length."""
    return _matmul(*_operands("dot", input, other, "other", _same_length_vectors,
                          "two 1-D tensors of the same length"))


def vdot(input, other):
    """conj(input) . other for 1-D tensors."""
    a, b = _operands("vdot", input, other, "other", _same_length_vectors,
                 "two 1-D tensors of the same length")
    return _matmul(_ew.conjugate(a) if a.dtype.kind == "c" else a, b)


def inner(input, other):
    """The sum over the last dims of both (a product when either is 0-d)."""
    a, b = _t(input, "inner"), _t(other, "inner", "other")
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"inner(): last dims differ: {tuple(a.shape)} and {tuple(b.shape)}")
    return tensordot(a, b, ([-1], [-1]))


def outer(input, vec2):
    """The outer product of two 1-D tensors."""
    a, b = _operands("outer", input, vec2, "vec2", _vectors, "two 1-D tensors")
    return a.reshape(-1, 1) * b.reshape(1, -1)


ger = outer


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """beta * input + alpha * (mat1 @ mat2)."""
    from .ops.registry import AUTOCAST

    if AUTOCAST[0]:  # autocast (tensorgrad.amp): all of it in float16, as PyTorch's addmm
        from .amp.autocast_mode import LOWER, cast_inputs

        input, mat1, mat2 = cast_inputs(LOWER, input, mat1, mat2)
    prod_ = mm(mat1, mat2)
    x = _t(input, "addmm")
    return (x if beta == 1 else x * beta) + (prod_ if alpha == 1 else prod_ * alpha)


def tensordot(a, b, dims=2):
    """Contraction over the last ``dims`` dims of a and the first of b, or over the dims in a
    pair of lists."""
    a = _t(a, "tensordot", "a")
    b = _t(b, "tensordot", "b")
    if isinstance(dims, Tensor):
        dims = dims.tolist()
    if isinstance(dims, numbers.Integral):
        pairs = [(a.ndim - int(dims) + k, k) for k in builtins.range(int(dims))]
    else:
        da, db = ([d] if isinstance(d, numbers.Integral) else list(d) for d in dims)
        pairs = list(zip(da, db))
    for i, j in pairs:  # PyTorch broadcasts a contracted dim of size 1 against the other's
        if a.shape[i] == 1 and b.shape[j] != 1:
            b = _red.sum(b, (_dim(b, j, "tensordot"),), True)
        elif b.shape[j] == 1 and a.shape[i] != 1:
            a = _red.sum(a, (_dim(a, i, "tensordot"),), True)
    return tnp.tensordot(a, b, dims)


def einsum(equation, *operands):
    """Einstein summation (``'ij,jk->ik'``; ``'...'`` allowed), differentiable in every
    operand; the operands may also come as one list."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    for i, v in enumerate(operands):
        _t(v, "einsum", f"operands[{i}]")
    return _ex.einsum(equation, *operands)


def cross(input, other, dim=None):
    """The cross product of 3-vectors along ``dim`` (broadcast elsewhere; the first dim of size
    3 when None)."""
    x, y = _t(input, "cross"), _t(other, "cross", "other")
    a, b = broadcast_tensors(x, y)
    if dim is None:
        sizes = [i for i, n in enumerate(a.shape) if n == 3]
        if not sizes:
            raise ValueError(f"cross(): no dimension of size 3 in shape {tuple(a.shape)}")
        d = sizes[0]
    else:
        d = _dim(a, dim, "cross")
        k = d - a.ndim  # in both inputs: no broadcasting along the vectors' dim, as PyTorch's
        if builtins.any(-k > v.ndim or v.shape[k] != 3 for v in (x, y)):
            raise ValueError(f"cross(): dim {dim} must have size 3 in both inputs, got shapes "
                             f"{tuple(x.shape)} and {tuple(y.shape)}")
    a0, a1, a2 = unbind(a, d)
    b0, b1, b2 = unbind(b, d)
    return stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], d)


def kron(input, other):
    """The Kronecker product (the shorter shape padded with leading ones)."""
    a, b = _t(input, "kron"), _t(other, "kron", "other")
    nd = builtins.max(a.ndim, b.ndim)
    sa = (1,) * (nd - a.ndim) + tuple(a.shape)
    sb = (1,) * (nd - b.ndim) + tuple(b.shape)
    ai = a.reshape(tuple(v for n in sa for v in (n, 1)))
    bi = b.reshape(tuple(v for n in sb for v in (1, n)))
    return (ai * bi).reshape(tuple(p * q for p, q in zip(sa, sb)))


def det(input):
    from .ops import decomp

    return decomp.det(_t(input, "det"))


def logdet(input):
    """log(det(input)); nan where the determinant is negative."""
    from .ops import decomp

    x = _t(input, "logdet")
    if x.dtype.kind == "c":  # the complex logarithm of the determinant (PyTorch's)
        return _ew.log(decomp.det(x))
    s, la = decomp.slogdet(x)
    return _ew.where(s.data < 0, np.nan, la)  # det = 0: logabsdet is already -inf


def slogdet(input):
    from .ops import decomp

    s, la = decomp.slogdet(_t(input, "slogdet"))
    return SlogdetResult(s, la)


def inverse(input):
    from .ops import decomp

    return decomp.inv(_t(input, "inverse"))


def _vector_norm(x, p, axes, keepdim):
    from .numpy.linalg import _vector_norm as vector_norm

    return vector_norm(x, p, tuple(range(x.ndim)) if axes is None else axes, keepdim)


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """PyTorch's torch.norm: a number ``p`` (2, 1, inf, -inf, 0, any float) is the vector
    p-norm over ``dim`` (all elements when None); 'fro' the 2-norm over ``dim``; 'nuc' the
    nuclear norm of the matrices in the two dims. The gradient at 0 is 0, as PyTorch's."""
    x = _t(input, "norm")
    if dtype is not None:
        x = x.to(dtype)
    axes = _dims(x, dim, "norm")
    kd = bool(keepdim)
    if p is None or p == "fro":
        if axes is not None and len(axes) > 2:
            raise ValueError(f"norm(): 'fro' takes at most 2 dims, got {dim}")
        return _vector_norm(x, 2, axes, kd)
    if p == "nuc":
        axes = axes if axes is not None else (0, 1) if x.ndim == 2 else None
        if axes is None or len(axes) != 2:
            raise ValueError(f"norm(): 'nuc' needs a matrix or two dims, got shape "
                             f"{tuple(x.shape)} and dim={dim}")
        return tnp.linalg.norm(x, "nuc", axes, kd)
    if isinstance(p, str) or not isinstance(p, numbers.Real):
        raise ValueError(f"norm(): p must be a number, 'fro' or 'nuc', got {p!r}")
    return _vector_norm(x, p, axes, kd)


def dist(input, other, p=2):
    """norm(input - other, p)."""
    return norm(_t(input, "dist") - _t(other, "dist", "other"), p)


# ---- creation ------------------------------------------------------------------------------------
def _creation():
    from . import creation

    return creation


def _random_like(draw, input, generator, dtype, device, requires_grad, memory_format, op):
    """``draw(shape, ...)`` in ``input``'s shape, dtype and device (laid out as
    ``memory_format`` says), from ``generator`` (a ``tg.Generator`` on that device) or the
    global generator."""
    x = _t(input, op)
    cr = _creation()
    cr._source(generator, device or x.device, op)
    return cr._like(lambda shape, **kw: draw(shape, generator=generator, **kw), x, dtype,
                    device, requires_grad, memory_format, op)


def rand_like(input, *, generator=None, dtype=None, device=None, requires_grad=False,
              memory_format=_mf.preserve_format):
    """``rand`` in ``input``'s shape, dtype and device, from ``generator`` (a
    ``tg.Generator`` on that device) or the global generator."""
    return _random_like(lambda shape, **kw: _creation().rand(*shape, **kw), input, generator,
                        dtype, device, requires_grad, memory_format, "rand_like")


def randn_like(input, *, generator=None, dtype=None, device=None, requires_grad=False,
               memory_format=_mf.preserve_format):
    """``randn`` in ``input``'s shape, dtype and device, from ``generator`` (a
    ``tg.Generator`` on that device) or the global generator."""
    return _random_like(lambda shape, **kw: _creation().randn(*shape, **kw), input, generator,
                        dtype, device, requires_grad, memory_format, "randn_like")


def clone(input, *, memory_format=_mf.preserve_format):
    return _t(input, "clone").clone(memory_format=memory_format)


def numel(input):
    return _t(input, "numel").numel()


def is_floating_point(input):
    return _t(input, "is_floating_point").dtype.kind == "f"


def is_complex(input):
    return _t(input, "is_complex").dtype.kind == "c"


def is_nonzero(input):
    x = _t(input, "is_nonzero")
    if x.numel() != 1:
        raise RuntimeError(f"is_nonzero(): needs a one-element tensor, got shape "
                           f"{tuple(x.shape)}")
    return bool(x.item())


def tril_indices(row, col, offset=0, *, dtype=np.int64, device=None):
    i = np.tril_indices(row, offset, col)
    return _creation().tensor(np.stack(i).astype(dtype), device=device)


def triu_indices(row, col, offset=0, *, dtype=np.int64, device=None):
    i = np.triu_indices(row, offset, col)
    return _creation().tensor(np.stack(i).astype(dtype), device=device)


# ---- in-place methods ----------------------------------------------------------------------------
def _inplace(self, opname, fn, *others):
    """``self`` := fn(self), written into self's array, with PyTorch's rules: a leaf that
    requires grad refuses (while recording); the version counter is bumped, so a node that saved
    the old values makes backward raise; on the tape the old values go to ``fn`` as a copy. The
    same machinery as Tensor's ``+=`` (``tensor.py``)."""
    ts = [o for o in others if isinstance(o, Tensor)]
    recording = _state.enabled and (self._rg or builtins.any(o._rg for o in ts))
    step = lambda first, _other: fn(first)  # noqa: E731  (Tensor._inplace_* call prim(a, b))
    if self._level or builtins.any(o._level for o in ts) or (
            recording and self._node is not None and _rebinds()):
        return self._inplace_rebind(step, None, opname)
    self._check_inplace(opname, recording)
    if not recording:
        r = fn(self)
        if r.shape != self.shape:
            raise ValueError(f"{opname}: result shape {tuple(r.shape)} does not match the "
                             f"tensor's shape {tuple(self.shape)} for an in-place op")
        if r.dtype != self.dtype and not np.can_cast(r.dtype, self.dtype, "same_kind"):
            raise RuntimeError(f"{opname}: result type {r.dtype} can't be cast to the tensor's "
                               f"dtype {self.dtype} in place")
        self.data[...] = r.data
        bump_version(self._vc)
        return self
    first = _new_tensor(self.data.copy(), self._node, self._rg)
    r = self._inplace_result(step, first, None, opname)
    self.data[...] = r.data
    self._node = r._node
    self._rg = r._rg
    bump_version(self._vc)
    node = self._node
    if node is not None and node.out_vc is not None:
        # the rule reads its answer (exp_, sigmoid_, tanh_ ...): that answer is this tensor's
        # values now, so a later in-place change of it makes backward raise, as PyTorch's
        node.out_vc = (self._vc, self._vc[0])
    self._after_recorded_write()
    return self


def _inplace_method(name, fn):
    def method(self, *args, **kwargs):
        others = args + tuple(kwargs.values())
        return _inplace(self, name, lambda x: fn(x, *args, **kwargs), *others)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"In-place ``{name[:-1]}``: writes the result into this tensor."
    return method


def _uniform_(self, from_=0.0, to=1.0, *, generator=None):
    """Fill with uniform samples in [from_, to), from ``generator`` (a ``tg.Generator`` on
    this tensor's device) or the global generator."""
    if _is_number(from_) and _is_number(to) and not from_ <= to:
        raise RuntimeError(f"uniform_(): expects a [from, to) range, but found from={from_} > "
                           f"to={to} (tensor of shape {tuple(self.shape)})")
    _creation()._source(generator, self.device, "uniform_")
    u = _creation().rand(*self.shape, generator=generator, dtype=self.dtype, device=self.device)
    return self.copy_(u * (to - from_) + from_)


def _normal_(self, mean=0.0, std=1.0, *, generator=None):
    """Fill with normal samples of ``mean`` and ``std``, from ``generator`` (a
    ``tg.Generator`` on this tensor's device) or the global generator."""
    if _is_number(std) and not std >= 0:
        raise RuntimeError(f"normal_(): expects std >= 0.0, but found std={std} (tensor of "
                           f"shape {tuple(self.shape)})")
    _creation()._source(generator, self.device, "normal_")
    z = _creation().randn(*self.shape, generator=generator, dtype=self.dtype, device=self.device)
    return self.copy_(z * std + mean)


# ---- Tensor methods ------------------------------------------------------------------------------
def _minmax_method(fn, old):
    def method(self, *args, **kwargs):
        if (args and not isinstance(args[0], Tensor)) or "dim" in kwargs:
            if "axis" not in kwargs and "keepdims" not in kwargs:
                return fn(self, *args, **kwargs)
        return old(self, *args, **kwargs)

    method.__name__ = fn.__name__
    method.__doc__ = old.__doc__
    return method


def _new_like(fill):
    def method(self, *size, dtype=None, device=None, requires_grad=False, **kw):
        if "size" in kw:  # PyTorch's keyword form: x.new_ones(size=(2, 3))
            if size:
                raise TypeError(f"new_{fill}(): size given both positionally and as a keyword")
            size = (kw.pop("size"),)
        if kw:
            raise TypeError(f"new_{fill}() got an unexpected keyword argument {next(iter(kw))!r}")
        size = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else size
        c = _creation()
        return getattr(c, fill)(*size, dtype=dtype or self.dtype, device=device or self.device,
                                requires_grad=requires_grad)

    return method


def _new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    return _creation().full(tuple(size), fill_value, dtype=dtype or self.dtype,
                            device=device or self.device, requires_grad=requires_grad)


def _new_tensor_m(self, data, *, dtype=None, device=None, requires_grad=False):
    return _creation().tensor(data.detach() if isinstance(data, Tensor) else data,
                              dtype=dtype or self.dtype, device=device or self.device,
                              requires_grad=requires_grad)


# functions that are also methods with the same signature (self = input)
_METHOD_NAMES = (
    "exp2 log2 log10 rsqrt reciprocal asin acos atan sinh cosh asinh acosh atanh arcsin arccos "
    "arctan arcsinh arccosh arctanh frac trunc fix sgn erf erfc erfinv lgamma digamma logit "
    "nan_to_num isposinf isneginf isreal signbit sinc deg2rad rad2deg positive absolute "
    "atan2 arctan2 hypot logaddexp logaddexp2 fmod remainder fmax fmin lerp addcmul addcdiv "
    "float_power true_divide floor_divide greater less greater_equal less_equal not_equal "
    "logical_and logical_or logical_xor equal isclose allclose clamp_min clamp_max "
    "nansum nanmean count_nonzero softmax log_softmax cumsum cumprod logcumsumexp diff "
    "movedim moveaxis swapdims t unflatten narrow select split chunk tensor_split unbind "
    "flip fliplr flipud roll rot90 repeat_interleave tile tril triu diagonal diag diag_embed "
    "trace gather take_along_dim index_select take masked_select masked_fill scatter "
    "scatter_add index_add index_fill nonzero argwhere sort argsort msort topk kthvalue median "
    "mm bmm mv inner outer ger addmm cross kron det logdet slogdet inverse norm dist "
    "aminmax var_mean std_mean"
).split()
# methods that replace existing ones: clamp takes tensor bounds (with gradients); add/sub
# take PyTorch's alpha=, div its rounding_mode= (the operators stay the fast path)
_OVERRIDES = ("clamp", "clip", "add", "sub", "subtract", "div", "divide")
# in-place variants: name_ writes ``name(self, ...)`` into self
_INPLACE_NAMES = (
    "abs neg negative exp log log1p expm1 exp2 log2 log10 sqrt rsqrt square reciprocal sin cos "
    "tan asin acos atan sinh cosh asinh acosh atanh sigmoid relu tanh erf erfc erfinv lgamma "
    "digamma frac trunc fix floor ceil round sign sgn logit nan_to_num clamp clip clamp_min "
    "clamp_max fmod remainder atan2 hypot lerp addcmul addcdiv masked_fill index_fill "
    "scatter scatter_add index_add tril triu float_power floor_divide true_divide"
).split()


def _split_method(self, split_size, dim=0):
    """PyTorch's Tensor.split: its first parameter is ``split_size`` (torch.split's is
    ``split_size_or_sections``)."""
    return split(self, split_size, dim)


def _attach(T):
    g = globals()
    for name in _METHOD_NAMES:
        if not hasattr(T, name):
            setattr(T, name, g[name])
    for name in _OVERRIDES:
        setattr(T, name, g[name])
    T.max = _minmax_method(max, T.max)
    T.min = _minmax_method(min, T.min)
    T.split = _split_method
    if not hasattr(T, "repeat"):
        T.repeat = _repeat_method
    for name in _INPLACE_NAMES:
        if not hasattr(T, name + "_"):
            fn = g[name] if name != "round" else (lambda x, decimals=0: round(x,
                                                                              decimals=decimals))
            setattr(T, name + "_", _inplace_method(name + "_", fn))
    extra_methods = {
        "uniform_": _uniform_, "normal_": _normal_,
        "type_as": lambda self, other: self.to(other.dtype),
        "new_zeros": _new_like("zeros"), "new_ones": _new_like("ones"),
        "new_empty": _new_like("empty"), "new_full": _new_full, "new_tensor": _new_tensor_m,
        "is_floating_point": is_floating_point, "is_complex": is_complex,
        "element_size": lambda self: self.data.itemsize, "nelement": lambda self: self.numel(),
        "ndimension": lambda self: self.ndim,
    }
    for name, fn in extra_methods.items():
        if not hasattr(T, name):
            setattr(T, name, fn)


_attach(Tensor)

# tg.cat/stack/concatenate exist already (they also take NumPy's axis=): not replaced
_PUBLIC_SKIP = {"SortResult", "TopkResult", "KthvalueResult", "MedianResult", "SlogdetResult",
                "cat", "stack", "concatenate"}
__all__ = sorted(
    n for n, v in globals().items()
    if not n.startswith("_") and callable(v) and getattr(v, "__module__", None) == __name__
    and n not in _PUBLIC_SKIP
) + sorted(_ALIASES) + ["swapaxes", "swapdims", "concat", "subtract",
                        "multiply", "divide", "arctan2", "ne", "not_equal", "lt", "less", "le",
                        "less_equal", "gt", "greater", "ge", "greater_equal", "clip",
                        "moveaxis", "row_stack", "ger", "max", "min"]
__all__ = sorted(set(__all__))
