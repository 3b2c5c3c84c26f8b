"""Elementwise primitives. NumPy ufuncs dispatch to CuPy through ``__array_ufunc__``, so one
kernel table serves both backends; non-ufunc kernels ask ``xp_of`` for the array module."""

import numpy as np

from ..backend import cuda as _cuda
from ..backend.device import _CUPY_ARRAY, move_host_arrays, xp_of
from ..tensor import Tensor
from .join import join, joined_variant
from .registry import (
    apply,
    binary,
    defjvp,
    defvjp,
    move_cpu_scalars,
    primitive,
    stack_tensor_sequences,
    unary,
)


def _ufunc_prim(ufunc, name=None, saves=True):
    """A primitive whose kernel is the ufunc itself. Its public function (what tnp.exp and the
    rules call) goes straight to the ufunc for arrays and to the operators' one-frame paths
    for a tensor first argument."""
    generic = primitive(lambda *a: ufunc(*a), name=name or ufunc.__name__, saves=saves)
    p = generic.prim
    p.fwd = ufunc
    p.promote = 0
    fast = []  # (unary, binary), made on first use: the rules are declared after this

    def prim(*args, **kw):
        if kw:
            return generic(*args, **kw)
        if isinstance(args[0], Tensor):
            if not fast:
                fast.extend((unary(p), binary(p)))
            n = len(args)
            if n == 2:
                return fast[1](args[0], args[1])
            if n == 1:
                return fast[0](args[0])
            return generic(*args)
        if len(args) == 2 and isinstance(args[1], Tensor):
            return apply(p, args, {})
        try:
            return ufunc(*args)
        except Exception:
            stacked = stack_tensor_sequences(args)
            if stacked is not None:
                return prim(*stacked)
            # None unless a default device is set, or a 0-d NumPy array meets a CuPy array
            moved = move_host_arrays(args) or move_cpu_scalars(args)
            if moved is None:
                raise
            return ufunc(*moved)

    prim.__name__ = prim.__qualname__ = name or ufunc.__name__
    prim.__doc__ = f"NumPy's {ufunc.__name__}, differentiable."
    prim.prim = p
    p.wrapper = prim
    return prim


add = _ufunc_prim(np.add, saves=False)
subtract = _ufunc_prim(np.subtract, saves=False)
multiply = _ufunc_prim(np.multiply, saves="other")  # d(x*y)/dx reads y only
true_divide = _ufunc_prim(np.true_divide)
negative = _ufunc_prim(np.negative, saves=False)
power = _ufunc_prim(np.power)
exp = _ufunc_prim(np.exp)
log = _ufunc_prim(np.log)
log1p = _ufunc_prim(np.log1p)
expm1 = _ufunc_prim(np.expm1)
sqrt = _ufunc_prim(np.sqrt)
sin = _ufunc_prim(np.sin)
cos = _ufunc_prim(np.cos)
tan = _ufunc_prim(np.tan)
tanh = _ufunc_prim(np.tanh)
abs = _ufunc_prim(np.absolute, name="abs")
maximum = _ufunc_prim(np.maximum)
minimum = _ufunc_prim(np.minimum)
fmax = _ufunc_prim(np.fmax)  # maximum that skips NaNs: the same rules (a NaN gets no gradient)
fmin = _ufunc_prim(np.fmin)
square = _ufunc_prim(np.square)
conjugate = _ufunc_prim(np.conjugate, saves=False)
remainder = _ufunc_prim(np.remainder)

# autocast (tensorgrad.amp): PyTorch's float32 list (its fast paths read this when made)
for _f in (exp, log, log1p, expm1, power, tan):
    _f.prim.amp = "fp32"


_F16 = np.dtype(np.float16)


def half_as_float(fwd):
    """``fwd`` (a function of a raw array first) computing a float16 argument in float32 and
    rounding the answer back once, as PyTorch's kernels do for half (their "opmath"): in float16
    exp(12) overflows, so sigmoid(-12) was 0 (6.1e-6), and a cumulative sum of 167 halves lost
    its small partial sums entirely."""
    import functools

    @functools.wraps(fwd)
    def f(x, *args, **kw):
        if getattr(x, "dtype", None) == _F16:
            return fwd(x.astype(np.float32), *args, **kw).astype(_F16)
        return fwd(x, *args, **kw)

    return f


@primitive
@half_as_float
def sigmoid(x):
    # 1 / (1 + exp(-x)): accurate to the last bits in both tails, as PyTorch's. The form
    # 0.5 * (tanh(x / 2) + 1) loses the left tail to cancellation: in float32 it was off by
    # 2.6% at x = -15 and 0 at -40 (4.2e-18). exp(-x) overflows to inf for x < -88 (float32),
    # which gives the right 0: NumPy's warning about it is silenced.
    xp = xp_of(x)
    if x.dtype.kind not in "fc":
        x = x.astype(np.float64)  # -x of a bool raises, of an unsigned int wraps around
    if xp is np:
        with np.errstate(over="ignore"):
            return 1 / (1 + np.exp(-x))
    return 1 / (1 + xp.exp(-x))


@primitive
def relu(x):
    if x.dtype.kind == "f":
        # NumPy's clip loop is vectorised where maximum's is not (3.5x faster on a large
        # float32 array), and it keeps the sign of -0.0 as PyTorch's relu does
        return x.clip(0, _INF)
    return xp_of(x).maximum(x, 0)


_INF = float("inf")


@primitive
def clip(x, a_min, a_max):
    return xp_of(x).clip(x, a_min, a_max)


@primitive
def where(cond, x, y):
    if type(cond) is np.ndarray and cond.dtype == np.bool_ and cond.size >= _SELECT_MIN:
        out = _select(cond, x, y)
        if out is not None:
            return out
    for a in (x, y, cond):
        if hasattr(a, "dtype") and hasattr(a, "ndim"):
            return xp_of(a).where(cond, x, y)
    return np.where(cond, x, y)


_SELECT_MIN = 4096  # elements from which ``_select`` pays
_SELECT_BLOCK = 1 << 15  # elements per block of ``_select``
_SAME_SIZE_INT = {4: np.int32, 8: np.int64}


def _select(cond, x, y):
    """NumPy's ``where(cond, x, y)`` for a bool array ``cond`` and 4- or 8-byte values, without
    branches: x's bits where cond, else y's, as y ^ ((x ^ y) & -cond) on the values' bits, a
    cache-sized block at a time. NumPy's where branches on every element, and a mask with no
    pattern (an activation's sign) mispredicts half of them: (4096, 512) float32 took 9.0 ms,
    and 1.1 ms with the same mask sorted; this takes 1-3 ms. The same bits, NaN, infinities
    and -0.0 included. None where it does not apply (other dtypes, operands that are neither
    the whole shape in C order nor single values): NumPy's where then."""
    if type(x) is not np.ndarray and not isinstance(x, (float, int)) or \
            type(y) is not np.ndarray and not isinstance(y, (float, int)):
        return None
    dtype = np.result_type(x, y)
    it = _SAME_SIZE_INT.get(dtype.itemsize)
    if it is None or dtype.kind not in "fiuc":
        return None
    for a in (x, y):  # a Python int NumPy's where would wrap into an integer dtype: NumPy's
        if type(a) is int and (dtype.kind in "iu" or abs(a) >= 1 << 53):
            return None
    shape = cond.shape
    parts = []
    for a in (x, y):
        a = np.asarray(a, dtype=dtype)
        if a.size == 1:
            parts.append(a.reshape(()).view(it))
        elif a.shape == shape and a.flags.c_contiguous:
            parts.append(a.reshape(-1).view(it))
        else:
            return None
    if not cond.flags.c_contiguous:
        return None
    xb, yb = parts
    flat = cond.reshape(-1)
    n = flat.shape[0]
    out = np.empty(n, dtype=it)
    mask = np.empty(min(n, _SELECT_BLOCK), dtype=it)
    for i in range(0, n, _SELECT_BLOCK):
        j = min(n, i + _SELECT_BLOCK)
        o, m = out[i:j], mask[:j - i]
        xs = xb if xb.ndim == 0 else xb[i:j]
        ys = yb if yb.ndim == 0 else yb[i:j]
        np.bitwise_xor(xs, ys, out=o)
        m[...] = flat[i:j]
        np.negative(m, out=m)
        o &= m
        o ^= ys
    return out.view(dtype).reshape(shape)


# Tensor operands promote as PyTorch's (registry.torch_promoted): where's values, not its
# condition; sigmoid of an integer tensor is the default float
where.prim.promote = 1
sigmoid.prim.promote = 0


@primitive(saves=False)
def real(x):
    return x.real


@primitive(saves=False)
def imag(x):
    return x.imag


@primitive(saves=False)
def copy(x):
    return x.copy()


@primitive(saves=False)
def astype(x, dtype):
    return x.astype(dtype)


def _mask_dtype(mask, like):
    return mask.astype(like.dtype) if hasattr(mask, "astype") else mask


def _balanced_eq(x, z, y):
    # 1 where x alone attains the max/min, 1/2 on a tie: the gradient is split evenly
    return _mask_dtype(x == z, z) / (1.0 + _mask_dtype(x == y, z))


def _sign(x):
    # differentiable code may call this on Tensors; sign itself has zero derivative
    from .nondiff import sign

    return sign(x)


defvjp(add, lambda g, ans, x, y: g, lambda g, ans, x, y: g)
defjvp(add, lambda t, ans, x, y: t, lambda t, ans, x, y: t)
defvjp(subtract, lambda g, ans, x, y: g, lambda g, ans, x, y: -g)
defjvp(subtract, lambda t, ans, x, y: t, lambda t, ans, x, y: -t)
defvjp(multiply, lambda g, ans, x, y: g * y, lambda g, ans, x, y: g * x)
defjvp(multiply, lambda t, ans, x, y: t * y, lambda t, ans, x, y: x * t)
defvjp(true_divide, lambda g, ans, x, y: g / y, lambda g, ans, x, y: -g * ans / y)
defjvp(true_divide, lambda t, ans, x, y: t / y, lambda t, ans, x, y: -t * ans / y)
defvjp(negative, lambda g, ans, x: -g)
defjvp(negative, lambda t, ans, x: -t)


def _pow_dx(g, ans, x, y):
    # where y == 0 the exponent y - 1 becomes 1, so 0 ** 0.0 has derivative 0 * 0 ** 1 = 0
    # (autograd's value) instead of 0 * inf = nan, and nothing warns
    if type(y) is np.ndarray and y.ndim == 0:  # a number (the operators pass 0-d arrays)
        y = y.item()
    if isinstance(y, (int, float, complex)):
        return g * y * x ** (y - 1) if y != 0 else g * 0
    # and where y == 0 the derivative is 0 also at x = inf or nan (PyTorch's), not 0 * inf
    return g * where(y != 0, y * x ** where(y != 0, y - 1, 1), 0)


def _pow_dy(g, ans, x, y):
    # log(x) is only real for x > 0; where x <= 0 the y-derivative is taken as 0 (autograd's
    # convention) instead of nan
    if not hasattr(x, "dtype"):  # a Python number
        return g * np.log(x if x > 0 else 1) * ans
    safe = where(x > 0, x, 1) if x.dtype.kind != "c" else x
    return g * log(safe) * ans


def _int_power(error, x, y):
    """PyTorch's power of integer tensors where NumPy refuses a negative exponent: the
    quotient truncated toward zero, 1 / x ** -y (1 for x = 1, +-1 for x = -1, else 0). A
    negative Python-number exponent stays an error, as in PyTorch."""
    if getattr(y, "ndim", None) is None or y.dtype.kind not in "biu" or \
            getattr(x, "dtype", np.dtype(type(x))).kind not in "biu":
        return None
    xp = xp_of(y)
    neg = y < 0
    out = xp.power(x, xp.where(neg, 0, y))
    base = xp.asarray(x)  # a Python number as an array on y's device, for the comparisons
    odd = (y % 2) != 0
    inverse = xp.where(base == 1, 1, xp.where(base == -1, xp.where(odd, -1, 1), 0))
    return xp.where(neg, inverse, out).astype(out.dtype)


defvjp(power, _pow_dx, _pow_dy)
defjvp(power, _pow_dx, _pow_dy)
power.prim.fallback = _int_power
defvjp(exp, lambda g, ans, x: g * ans)
defjvp(exp, lambda t, ans, x: t * ans)
defvjp(log, lambda g, ans, x: g / x)
defjvp(log, lambda t, ans, x: t / x)
defvjp(log1p, lambda g, ans, x: g / (x + 1))
defjvp(log1p, lambda t, ans, x: t / (x + 1))
defvjp(expm1, lambda g, ans, x: g * (ans + 1))
defjvp(expm1, lambda t, ans, x: t * (ans + 1))
defvjp(sqrt, lambda g, ans, x: g * 0.5 / ans)
defjvp(sqrt, lambda t, ans, x: t * 0.5 / ans)
defvjp(sin, lambda g, ans, x: g * cos(x))
defjvp(sin, lambda t, ans, x: t * cos(x))
defvjp(cos, lambda g, ans, x: -g * sin(x))
defjvp(cos, lambda t, ans, x: -t * sin(x))
defvjp(tan, lambda g, ans, x: g * (1 + ans * ans))
defjvp(tan, lambda t, ans, x: t * (1 + ans * ans))
# g - (g * ans) * ans rather than g * (1 - ans * ans): three array ops and no Python scalar,
# which NumPy handles about twice as slowly as an array on small inputs
defvjp(tanh, lambda g, ans, x: g - (g * ans) * ans)
defjvp(tanh, lambda t, ans, x: t - (t * ans) * ans)


def _sigmoid_d(g, ans, x):
    ga = g * ans
    return ga - ga * ans


defvjp(sigmoid, _sigmoid_d)
defjvp(sigmoid, _sigmoid_d)
defvjp(square, lambda g, ans, x: g * 2 * x)
defjvp(square, lambda t, ans, x: t * 2 * x)
defvjp(conjugate, lambda g, ans, x: conjugate(g))
defjvp(conjugate, lambda t, ans, x: conjugate(t))


def _abs_vjp(g, ans, x):
    if x.dtype.kind == "c":
        # autograd's convention for |z|: the real cotangent times conj(z) / |z|, 0 at z = 0
        return g * conjugate(x) / where(ans == 0, 1, ans)
    if type(x) is Tensor:  # create_graph: joined to x, as PyTorch's sgn (ops/join.py)
        return join(g * _sign(x), x)
    return g * _sign(x)


def _abs_jvp(t, ans, x):
    if x.dtype.kind == "c":
        return real(conjugate(x) * t) / where(ans == 0, 1, ans)
    return t * _sign(x)


defvjp(abs, _abs_vjp)
defjvp(abs, _abs_jvp)


def _relu_vjp(g, ans, x):
    if type(g) is _CUPY_ARRAY and type(x) is _CUPY_ARRAY and g.shape == x.shape and \
            g.dtype == x.dtype and _cuda.fusable(x):
        return _cuda.bias_act_backward(g, x, None, "relu")  # one launch, not two
    if type(x) is Tensor:  # create_graph: joined to x, as PyTorch's threshold_backward
        return join(g * (x > 0), x)
    # multiplying by the boolean mask keeps g's dtype: one pass fewer than casting the mask
    return g * (x > 0)


defvjp(relu, _relu_vjp)
defjvp(relu, lambda t, ans, x: t * (x > 0))
defvjp(maximum, lambda g, ans, x, y: g * _balanced_eq(x, ans, y),
       lambda g, ans, x, y: g * _balanced_eq(y, ans, x))
defjvp(maximum, lambda t, ans, x, y: t * _balanced_eq(x, ans, y),
       lambda t, ans, x, y: t * _balanced_eq(y, ans, x))
defvjp(minimum, lambda g, ans, x, y: g * _balanced_eq(x, ans, y),
       lambda g, ans, x, y: g * _balanced_eq(y, ans, x))
defjvp(minimum, lambda t, ans, x, y: t * _balanced_eq(x, ans, y),
       lambda t, ans, x, y: t * _balanced_eq(y, ans, x))
for _p in (fmax, fmin):  # x == ans is False for a NaN x: the other argument takes it all
    defvjp(_p, lambda g, ans, x, y: g * _balanced_eq(x, ans, y),
           lambda g, ans, x, y: g * _balanced_eq(y, ans, x))
    defjvp(_p, lambda t, ans, x, y: t * _balanced_eq(x, ans, y),
           lambda t, ans, x, y: t * _balanced_eq(y, ans, x))


def _clip_mask(x, a_min, a_max):
    inside = x == x
    if a_min is not None:
        inside = inside & (x >= a_min)
    if a_max is not None:
        inside = inside & (x <= a_max)
    return _mask_dtype(inside, x)


defvjp(clip, lambda g, ans, x, lo, hi: g * _clip_mask(x, lo, hi))
defjvp(clip, lambda t, ans, x, lo, hi: t * _clip_mask(x, lo, hi))
defvjp(where, None, lambda g, ans, c, x, y: where(c, g, 0), lambda g, ans, c, x, y: where(c, 0, g))
defjvp(where, None, lambda t, ans, c, x, y: where(c, t, 0), lambda t, ans, c, x, y: where(c, 0, t))
# where for the piecewise-linear activations that PyTorch computes with a backward kernel of
# their input (leaky_relu, hardtanh, threshold, the shrinks, prelu, rrelu): ops/join.py
where_kernel = joined_variant(where, "where_kernel")
defvjp(real, lambda g, ans, x: astype(g, x.dtype) if x.dtype.kind == "c" else g)
defjvp(real, lambda t, ans, x: real(t))
defvjp(imag, lambda g, ans, x: astype(g, x.dtype) * -1j)
defjvp(imag, lambda t, ans, x: imag(t))
defvjp(copy, lambda g, ans, x: g)
defjvp(copy, lambda t, ans, x: t)
defvjp(astype, lambda g, ans, x, dtype: astype(g, x.dtype) if x.dtype.kind == "c" or g.dtype.kind
       != "c" else astype(real(g), x.dtype))
defjvp(astype, lambda t, ans, x, dtype: astype(t, dtype))


def _floor(x):
    from .nondiff import floor

    return floor(x)


defvjp(remainder, lambda g, ans, x, y: g, lambda g, ans, x, y: -g * _floor(x / y))
defjvp(remainder, lambda t, ans, x, y: t, lambda t, ans, x, y: -t * _floor(x / y))
