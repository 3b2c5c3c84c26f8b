"""One registry of primitives: forward on raw arrays, one VJP per input, one JVP per input.

A primitive is a plain function of raw arrays wrapped by :func:`primitive`. Called with raw
arrays it costs one type check per argument; called with any Tensor it goes through
:func:`apply`, which unwraps, runs the forward kernel and records a Node when a gradient is
needed. Rules take ``(g, ans, *args, **kwargs)`` (VJP) or ``(t, ans, *args, **kwargs)`` (JVP) and
are written with tensorgrad's own functions and operators, so the same rule runs on raw arrays
(first derivatives, fast) and on Tensors (``create_graph=True``, higher order).
"""

import functools
import inspect
from weakref import ref as _weakref

import numpy as np

from ..autograd.grad_mode import _state
from ..autograd.graph import _EPOCH, Node
from ..autograd.rules import Rules, fill_vjps_from_jvps
from ..backend.device import _CUPY_ARRAY, cupy, device_of, move_host_arrays
from ..tensor import Tensor, _new_tensor, _prune_at_powers_of_two

_new = object.__new__
_ndarray = np.ndarray
_asarray = np.asarray

_generic = np.generic


# Autocast (tensorgrad.amp): [0] counts the enabled autocast regions open in any thread, so
# that while none is, an op pays one flag test; [1] is tensorgrad.amp's function
# (policy, args) -> args, which casts the arguments of a primitive with an autocast policy.
AUTOCAST = [0, None]
# [0]: None, or a function (primitive, args, raw_args, kw) -> raw answer that runs every
# primitive applied to Tensors in its place (tensorgrad.utils.checkpoint's selective
# checkpointing, which keeps some answers of the first run for the recomputation)
INTERCEPT = [None]


class Primitive:
    __slots__ = ("name", "fwd", "vjps", "jvps", "saves", "view", "wrapper", "amp",
                 "promote", "fallback", "__weakref__")

    def __init__(self, fwd, name=None, saves=True, view=False):
        self.fwd = fwd
        self.name = name or fwd.__name__
        self.vjps = None  # tuple: one rule (or None) per positional argument
        self.jvps = None
        # do the rules read saved values (then versions are checked)? "other": the rule of each
        # argument reads only the other arguments (multiply), so x * constant checks nothing
        self.saves = saves
        # does the answer share memory with argument 0? (True, or a test of the raw arguments)
        self.view = view
        self.wrapper = None  # the public function: raw arrays in, raw out; Tensors in, Tensor out
        # autocast policy (tensorgrad.amp): None, "lower" (cast floating inputs to the autocast
        # dtype) or "fp32" (cast them up); set where the primitive is declared, before the
        # operators that call it are made
        self.amp = None
        # elementwise over broadcast operands: the index of the first operand that promotes
        # as PyTorch's (``torch_promoted``; 1 for where's values, not its condition), or None;
        # set where the primitive is declared
        self.promote = None
        # None, or a forward for Tensor arguments that ``apply`` tries when ``fwd`` raises:
        # PyTorch's answer where NumPy refuses (integer powers with negative exponents);
        # arrays alone keep NumPy's error
        self.fallback = None

    def __repr__(self):
        return f"<primitive {self.name}>"


def primitive(fwd=None, *, name=None, saves=True, view=False):
    """Make ``fwd`` (a function of raw arrays) a differentiable primitive.

    >>> import numpy as np, tensorgrad as tg
    >>> @tg.primitive
    ... def cube(x):
    ...     return x ** 3
    >>> tg.defvjp(cube, lambda g, ans, x: 3 * x ** 2 * g)
    >>> tg.grad(cube)(2.0)
    12.0
    """
    if fwd is None:
        return functools.partial(primitive, name=name, saves=saves, view=view)
    p = Primitive(fwd, name, saves, view)

    @functools.wraps(fwd)
    def wrapper(*args, **kw):
        for a in args:
            if isinstance(a, Tensor):
                return apply(p, args, kw)
        try:
            return fwd(*args, **kw)
        except Exception:
            stacked = stack_tensor_sequences(args)
            if stacked is not None:
                return wrapper(*stacked, **kw)
            # None unless a default device is set, or a 0-d NumPy array meets a CuPy array
            moved = move_host_arrays(args) or move_cpu_scalars(args)
            if moved is None:
                raise
            return fwd(*moved, **kw)

    wrapper.prim = p
    p.wrapper = wrapper
    return wrapper


def _wrapper_of(p):
    return p.wrapper


def _prim_of(fn):
    p = getattr(fn, "prim", fn)
    if not isinstance(p, Primitive):
        raise TypeError(f"defvjp/defjvp: {fn!r} is not a primitive; decorate it with @primitive")
    return p


def _positional_count(f):
    if isinstance(f, np.ufunc):
        return f.nin
    try:
        params = inspect.signature(f).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(q.kind is q.VAR_POSITIONAL for q in params):
        return None
    return sum(q.kind in (q.POSITIONAL_ONLY, q.POSITIONAL_OR_KEYWORD) for q in params)


def _adapt_vjp(p, rule):
    """Accept HIPS autograd's curried rules, ``lambda ans, x: lambda g: ...``, beside the
    lecture's ``lambda g, ans, x: ...``: told apart by the number of parameters."""
    if rule is None:
        return None
    n_args = _positional_count(p.fwd)
    n_rule = _positional_count(rule)
    if n_args is None or n_rule != n_args + 1:
        return rule

    def uncurried(g, ans, *args, **kw):
        return rule(ans, *args, **kw)(g)

    return uncurried


def defvjp(fn, *rules, argnums=None):
    """Declare the VJP of primitive ``fn``: one rule per positional argument (None for an
    argument without a gradient).

    A rule is ``lambda g, ans, *args, **kwargs: cotangent`` (the lecture's convention: output
    gradient, answer, arguments), or autograd's curried ``lambda ans, *args: lambda g: ...``.
    Write it with tensorgrad's functions (``tensorgrad.numpy``, operators) so that it is itself
    differentiable: higher derivatives then need nothing more.

    >>> import numpy as np, tensorgrad as tg
    >>> @tg.primitive
    ... def log1pexp(x):
    ...     return np.logaddexp(0, x)
    >>> tg.defvjp(log1pexp, lambda g, ans, x: g * tg.numpy.exp(x - ans))
    >>> round(tg.grad(log1pexp)(0.0), 6)
    0.5
    """
    p = _prim_of(fn)
    rules = tuple(_adapt_vjp(p, r) for r in rules)
    if argnums is not None:
        full = list(p.vjps or ())
        for i, r in zip(argnums, rules):
            full.extend([None] * (i + 1 - len(full)))
            full[i] = r
        rules = full
    if isinstance(p.vjps, Rules):  # keep the stand-ins for the arguments not declared here
        p.vjps = Rules(rules, p.vjps.default)
    else:
        p.vjps = tuple(rules)


def defjvp(fn, *rules, argnums=None):
    """Declare the JVP of primitive ``fn``: one rule ``(t, ans, *args, **kw) -> tangent`` per
    positional argument (None for an argument without a derivative)."""
    p = _prim_of(fn)
    if argnums is not None:
        full = list(p.jvps or ())
        for i, r in zip(argnums, rules):
            full.extend([None] * (i + 1 - len(full)))
            full[i] = r
        rules = full
    p.jvps = Rules(rules, p.jvps.default) if isinstance(p.jvps, Rules) else tuple(rules)
    fill_vjps_from_jvps(p)  # arguments with a JVP and no VJP: the JVP's transpose


def _weak(a):
    # NumPy scalars become Python scalars so that they do not promote float32 arrays.
    return a.item() if isinstance(a, _generic) else a


def apply(p, args, kw):
    """Run primitive ``p`` on arguments that include Tensors, recording a Node if needed."""
    if AUTOCAST[0] and p.amp is not None:
        args = AUTOCAST[1](p.amp, args)
    level = 0
    for a in args:
        if isinstance(a, Tensor) and a._level > level:
            level = a._level
    if level:
        from ..autograd.forward import apply_at_level

        if cupy is not None:
            # The JVP rules see the arguments as given, and one that broadcasts a CPU scalar's
            # tangent succeeds: a 0-d CPU operand among CUDA ones moves first, not on failure.
            args = move_cpu_scalars(args) or args
        out = apply_at_level(p, args, kw, level)
        if p.view and isinstance(args[0], Tensor) and (p.view is True or p.view(args)):
            from ..autograd.forward import link_level_view

            link_level_view(out, p, args, kw)
        return out
    raw = []
    parents = []
    need = False
    vjps = p.vjps
    for i, a in enumerate(args):
        if isinstance(a, Tensor):
            raw.append(a.data)
            if a._rg and vjps is not None and i < len(vjps) and vjps[i] is not None:
                need = True
                parents.append(a._node or a)
            else:
                parents.append(None)
        else:
            raw.append(_weak(a))
            parents.append(None)
    promote = p.promote is not None and "dtype" not in kw
    if promote:
        promoted = torch_promoted(raw, p.promote)
        if promoted is not None:
            if need:  # a cast operand's gradient goes back through the cast, in its dtype
                from .elementwise import astype

                return apply(p, tuple(
                    astype(a, c.dtype) if isinstance(a, Tensor) and c is not r else
                    c if c is not r else a for a, r, c in zip(args, raw, promoted)), kw)
            raw = promoted
    try:
        out = p.fwd(*raw, **kw) if INTERCEPT[0] is None else INTERCEPT[0](p, args, raw, kw)
    except Exception as e:
        # None unless a default device is set, or a 0-d CPU operand meets a CUDA one
        moved = move_host_arrays(args) or move_cpu_scalars(args)
        if moved is not None:
            return apply(p, moved, kw)
        out = None if p.fallback is None else p.fallback(e, *raw, **kw)
        if out is None:
            raise op_error(p, args, e) from e
    if promote and getattr(out, "dtype", None) is not None and out.dtype.kind in "fc":
        ints = [a for a in raw[p.promote:] if getattr(a, "dtype", None) is not None]
        if ints and all(a.dtype.kind in "biu" for a in ints):
            # a float function of integers (true division, exp): the default float
            promoted = default_float(raw, p.promote)
            if promoted is not None:
                raw = promoted
                out = p.fwd(*raw, **kw)
    if need and _state.enabled and out.dtype.kind in "fc":
        vcs = None
        if p.saves:
            vcs = []
            others = p.saves == "other"
            for i, a in enumerate(args):
                if isinstance(a, Tensor) and not (others and all(
                        q is None for j, q in enumerate(parents) if j != i)):
                    vcs.append(a._vc)
                    vcs.append(a._vc[0])
            vcs = tuple(vcs)
        node = Node(p, tuple(parents), tuple(raw), kw, out, vcs, _EPOCH[0])
        t = _new_tensor(out, node, True)
    else:
        node = None
        t = _new_tensor(out, None, False)
    if p.view and (p.view is True or p.view(raw)) and isinstance(args[0], Tensor):
        vc = t._vc = args[0]._vc  # a view shares its base's version counter
        if _state.enabled or _state.dual_levels:  # what in-place writes need (_link_view)
            t._view = (p, args[0], tuple(raw[1:]), kw)
            vc.append(_weakref(t))
            n = len(vc)
            if n > 16 and not n & (n - 1):
                _prune_at_powers_of_two(vc)
    if node is not None and p.saves:
        node.out_vc = (t._vc, t._vc[0])  # the rules may read the answer
    return t


def binary(p, reflected=False, dunder=False):
    """The operator ``x <op> y`` for a Tensor ``x`` (``y <op> x`` when ``reflected``: the
    right-hand operator of a number or an array minus a tensor, say): the hottest path, so no
    generic loops, no kwargs and one Python frame. As Python's operator method (``dunder``)
    it follows NumPy's protocol where the operation fails: an operand that sets
    ``__array_ufunc__ = None`` (a MaskedTensor) gets its reflected operator (NotImplemented
    here)."""
    fwd = p.fwd
    saves = p.saves
    amp = p.amp is not None  # an autocast policy: ops without one pay nothing for autocast

    def op(x, y):
        if amp and AUTOCAST[0] or INTERCEPT[0] is not None:
            return apply(p, (y, x) if reflected else (x, y), {})
        xd = x.data
        xdt = xd.dtype
        if xdt is not _F32 and xdt is not _F64 and xdt.kind in "biu":
            return apply(p, (y, x) if reflected else (x, y), {})  # PyTorch's promotion
        if isinstance(y, Tensor):
            if x._level or y._level:
                return apply(p, (y, x) if reflected else (x, y), {})
            yd = y.data
            ydt = yd.dtype
            py = (y._node or y) if y._rg else None
        else:
            if x._level:
                return apply(p, (y, x) if reflected else (x, y), {})
            t = type(y)
            if (t is float or t is int) and type(xd) is _ndarray:  # CuPy takes no NumPy arrays
                yd = _scalar_as(y, xdt)
            else:
                yd = y.item() if isinstance(y, _generic) else y
            ydt = getattr(yd, "dtype", None)
            py = None
        if ydt is not xdt and ydt is not None:
            agree = _AGREE.get((xdt, ydt, xd.ndim == 0, yd.ndim == 0))
            if agree is None:
                agree = _arrays_agree(xd, yd)
            if not agree:  # dtypes that NumPy and PyTorch promote apart
                return apply(p, (y, x) if reflected else (x, y), {})
        try:
            out = fwd(yd, xd) if reflected else fwd(xd, yd)
        except Exception as e:
            args = (y, x) if reflected else (x, y)
            # None unless a default device is set, or a 0-d CPU operand meets a CUDA one
            moved = move_host_arrays(args) or move_cpu_scalars(args)
            if moved is not None:
                return apply(p, moved, {})
            if dunder and getattr(type(y), "__array_ufunc__", 0) is None and \
                    not isinstance(y, Tensor):
                return NotImplemented
            raise op_error(p, args, e) from e
        if type(out) is not _ndarray and type(out) is not _CUPY_ARRAY:
            out = _asarray(out)
        t = _new(Tensor)
        t.data = out
        t.grad = None
        t._vc = [0]
        if (x._rg or py is not None) and _state.enabled:
            if saves:
                if py is None:
                    vcs = None if saves == "other" else (x._vc, x._vc[0])
                else:
                    vcs = (x._vc, x._vc[0], y._vc, y._vc[0])
            else:
                vcs = None
            px = (x._node or x) if x._rg else None
            t._node = Node(p, (py, px) if reflected else (px, py),
                           (yd, xd) if reflected else (xd, yd), None, out, vcs, _EPOCH[0],
                           (t._vc, 0) if saves else None)
            t._rg = True
        else:
            t._node = None
            t._rg = False
        return t

    op.__name__ = p.name
    return op


_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_SCALARS = {_F32: {}, _F64: {}}

# ---- PyTorch's type promotion --------------------------------------------------------------
# NumPy and PyTorch promote mixed operands differently, and Tensors follow PyTorch (c10's
# ResultTypeState): operands with dimensions, 0-d ones and Python numbers are promoted apart,
# then combined so that a lower rank counts only where its category (bool < integer < floating
# < complex) is higher. So float32 with int64 is float32 (NumPy: float64); a float32 tensor
# times a 0-d float64 tensor is float32 (NumPy 2: float64); integers meeting a Python float
# give the default float dtype, float32 unless set_default_dtype chose another (NumPy:
# float64), as does a float function of integer tensors (true division, exp, sqrt). Inside a
# function transform of the autograd style (grad, jacobian, ...) the default is float64: its
# traced arrays promote as NumPy's, as autograd's. float16 with a complex 0-d tensor or number
# is complex64 (PyTorch's complex32 has no NumPy counterpart).
_COMPLEX_OF = {np.dtype(np.float16): np.dtype(np.complex64), _F32: np.dtype(np.complex64),
               _F64: np.dtype(np.complex128)}
_INTEGRAL = frozenset("biu")


def _promote(a, b):
    """PyTorch's promoteTypes: NumPy's, except that an integer or bool meeting a float or
    complex dtype gives that dtype unchanged."""
    if a is None:
        return b
    ia, ib = a.kind in _INTEGRAL, b.kind in _INTEGRAL
    if ia == ib:
        return np.promote_types(a, b)
    return b if ia else a


def _combine(higher, lower):
    """c10's combine_categories: ``lower`` (a lower rank's result) counts only where its
    category is higher."""
    if higher is None:
        return lower
    if lower is None or higher.kind == "c":
        return higher
    if lower.kind == "c":
        return _COMPLEX_OF[higher] if higher.kind == "f" else lower
    if higher.kind == "f":
        return higher
    if higher.kind == "b" or lower.kind == "f":
        return _promote(higher, lower)
    return higher


def torch_dtype(raw):
    """The dtype PyTorch gives an elementwise op of ``raw`` (arrays and Python numbers), or
    None for operands it does not rank (None, lists, strings, ...)."""
    dims = zeros = scalars = None
    for a in raw:
        dt = getattr(a, "dtype", None)
        if dt is None:
            t = type(a)
            if t is bool:
                dt = _BOOL
            elif t is int:
                dt = _I64
            elif t is float:
                dt = _default_of(False)
            elif t is complex:
                dt = _default_of(True)
            else:
                return None
            scalars = _promote(scalars, dt)
        elif dt.kind not in "biufc":
            return None
        elif a.ndim:
            dims = _promote(dims, dt)
        else:
            zeros = _promote(zeros, dt)
    return _combine(dims, _combine(zeros, scalars))


_BOOL = np.dtype(np.bool_)
_I64 = np.dtype(np.int64)
_I8 = np.dtype(np.int8)


def _default_of(complex_):
    """The default float (or complex) dtype; float64 (complex128) inside an autograd-style
    transform."""
    from ..autograd.functional import _rev_depth
    from ..creation import _DEFAULT_DTYPE

    dt = _F64 if _rev_depth[0] else _DEFAULT_DTYPE[0]
    return _COMPLEX_OF[dt] if complex_ else dt


def _cast(raw, start, dt):
    if dt is None:
        return None
    return tuple(a.astype(dt) if i >= start and getattr(a, "dtype", dt) != dt else a
                 for i, a in enumerate(raw))


_PROMOTIONS = {}  # (operand kinds, default dtype, in a transform) -> dtype to cast to, or None


_STATE = []  # [creation._DEFAULT_DTYPE, functional._rev_depth], bound on first use


def _promotion(ops):
    """PyTorch's result dtype for ``ops`` where NumPy's differs, else None: remembered per
    kind of operands (dtype and 0-d for arrays, the type of a number), which decide it."""
    if not _STATE:
        from ..autograd.functional import _rev_depth
        from ..creation import _DEFAULT_DTYPE

        _STATE.extend((_DEFAULT_DTYPE, _rev_depth))
    kinds = tuple((dt, a.ndim == 0) if (dt := getattr(a, "dtype", None)) is not None
                  else type(a) for a in ops)
    key = (kinds, _STATE[0][0], _STATE[1][0] > 0)
    try:
        return _PROMOTIONS[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable operand (a list): not ranked
        return None
    dt = torch_dtype(ops)
    if dt is not None and np.result_type(*[_weak(a) for a in ops]) == dt:
        dt = None
    if len(_PROMOTIONS) > 4096:
        _PROMOTIONS.clear()
    _PROMOTIONS[key] = dt
    return dt


# (dtype, dtype, 0-d, 0-d) of two arrays -> whether NumPy promotes them as PyTorch does (with
# no Python number among them, neither the default dtype nor a transform decides it)
_AGREE = {}


def _arrays_agree(a, b):
    agree = _AGREE[(a.dtype, b.dtype, a.ndim == 0, b.ndim == 0)] = _promotion((a, b)) is None
    return agree


def torch_promoted(raw, start=0):
    """``raw`` with its arrays from ``start`` on cast to PyTorch's result dtype
    (``torch_dtype``), or None where NumPy's promotion gives that dtype already."""
    dt = _promotion(raw[start:])
    return None if dt is None else _cast(raw, start, dt)


def default_float(raw, start=0):
    """``raw`` with its integer arrays from ``start`` on cast to the default float dtype, for a
    float function of integer tensors; None where that is float64, NumPy's answer."""
    dt = _default_of(False)
    return None if dt is _F64 else _cast(raw, start, dt)


def _scalar_as(y, dtype):
    """A Python number as a cached 0-d array of a float array's dtype. NumPy takes a 0-d array
    of the same dtype about twice as fast as a Python float (no weak-scalar promotion step),
    and so does every backward rule that multiplies by it."""
    cache = _SCALARS.get(dtype)
    if cache is None:
        return y
    a = cache.get(y)
    if a is None:
        if len(cache) > 4096:
            cache.clear()
        a = cache[y] = np.array(y, dtype)
        a.flags.writeable = False
    return a


def unary(p):
    """The method ``x.<op>()`` for a unary primitive, in one Python frame."""
    fwd = p.fwd
    saves = p.saves
    differentiable = p.vjps is not None
    amp = p.amp is not None

    def op(x):
        if x._level or amp and AUTOCAST[0] or INTERCEPT[0] is not None:
            return apply(p, (x,), {})
        xd = x.data
        try:
            out = fwd(xd)
        except Exception as e:
            raise op_error(p, (x,), e) from e
        if type(out) is not _ndarray and type(out) is not _CUPY_ARRAY:
            out = _asarray(out)
        if not x._rg and out.dtype is not xd.dtype and xd.dtype.kind in "biu":
            if out.dtype.kind in "fc":
                promoted = default_float((xd,))  # exp(int) is the default float, as PyTorch's
                if promoted is not None:
                    out = fwd(promoted[0])
            elif out.dtype == _I8 and xd.dtype == _BOOL:
                out = fwd(xd.astype(_I64))  # NumPy's arithmetic on bools is int8, PyTorch's int64
        t = _new(Tensor)
        t.data = out
        t.grad = None
        t._vc = [0]
        if x._rg and differentiable and _state.enabled:
            t._node = Node(p, ((x._node or x),), (xd,), None, out,
                           (x._vc, x._vc[0]) if saves else None, _EPOCH[0],
                           (t._vc, 0) if saves else None)
            t._rg = True
        else:
            t._node = None
            t._rg = False
        return t

    op.__name__ = p.name
    return op


def stack_tensor_sequences(args):
    """``args`` with each list or tuple that holds Tensors or CuPy arrays stacked into one
    (what NumPy does with a list of numbers, and what autograd does with a traced list:
    ``np.exp(xs)`` where ``xs`` is a list argument of ``grad``), or None when there is none."""
    if not any(isinstance(a, (list, tuple)) for a in args):
        return None
    from ..numpy import _contains_tensor, _first_of, array

    def holds(a):
        return isinstance(a, (list, tuple)) and (
            _contains_tensor(a) or _first_of(a, _CUPY_ARRAY) is not None)

    if not any(holds(a) for a in args):
        return None
    return tuple(array(a) if holds(a) else a for a in args)


def move_cpu_scalars(args):
    """``args`` with their 0-d CPU operands moved to the CUDA device of
    the others, as PyTorch lets a CPU scalar tensor take part in a CUDA op (``x * tensor(2.0)``);
    None when the arguments are not one CUDA device plus 0-d CPU operands (then the op's own
    error stands: a CPU operand with dimensions is a mistake worth reporting).

    A Tensor moves through ``Tensor.to``, a recorded op, so its gradient comes back to the CPU;
    a 0-d NumPy array is copied. Only failures pay for this (the ops try the arrays as given
    first, and CuPy refuses NumPy operands; comparisons it already accepts), and forward mode
    where CuPy is importable, whose JVP rules could otherwise broadcast a CPU tangent."""
    first = None
    scalars = False
    for a in args:
        d = a.data if isinstance(a, Tensor) else a
        t = type(d)
        if t is _CUPY_ARRAY:
            if first is None:
                first = d
        elif t is _ndarray:
            if d.ndim:
                return None
            scalars = True
    if first is None or not scalars:
        return None
    home = device_of(first)
    for a in args:
        d = a.data if isinstance(a, Tensor) else a
        if type(d) is _CUPY_ARRAY and device_of(d) != home:
            return None  # two GPUs: op_error says so
    return tuple(
        (a.to(home) if isinstance(a, Tensor) else home.put(a))
        if type(a.data if isinstance(a, Tensor) else a) is _ndarray else a
        for a in args)


def _describe(a):
    if isinstance(a, Tensor):
        return f"Tensor{tuple(a.shape)} {a.dtype} on {a.device}"
    if isinstance(a, (np.ndarray, _CUPY_ARRAY)):
        return f"array{tuple(a.shape)} {a.dtype} on {device_of(a)}"
    return type(a).__name__


def op_error(p, args, e):
    """Turn an error from deep inside an array library into one that names the op and shapes."""
    arrays = [a.data if isinstance(a, Tensor) else a for a in args]
    devices = {str(device_of(a)) for a in arrays if isinstance(a, (np.ndarray, _CUPY_ARRAY))}
    described = ", ".join(_describe(a) for a in args)
    if len(devices) > 1:
        return RuntimeError(
            f"{p.name}: expected all arguments on the same device, got {described}; "
            "move them with .to(device) first"
        )
    if devices and devices != {"cpu"}:
        here = f"cuda:{cupy.cuda.runtime.getDevice()}"
        there, = devices
        if there != here:  # CuPy computes on the current GPU only
            return RuntimeError(
                f"{p.name}: the arguments are on {there} but the current CUDA device is {here}; "
                f"compute inside `with tg.cuda.device({there.split(':')[1]}):` or call "
                f"tg.cuda.set_device({there.split(':')[1]}) ({described})")
    if isinstance(e, (ValueError, IndexError, TypeError)):
        msg = f"{p.name}: {e} (arguments: {described})"
        try:
            return type(e)(msg)
        except TypeError:  # e.g. NumPy's _UFuncNoLoopError takes more than a message
            base = next(b for b in (IndexError, ValueError, TypeError) if isinstance(e, b))
            return base(msg + "; the operands need numeric dtypes that the op supports")
    return e
