"""``tensorgrad.extend``: ``autograd.extend``, with autograd's conventions, for programs and
libraries that define their own primitives (``import autograd.extend`` resolves here under
:mod:`tensorgrad.autograd_compat`).

Rules follow autograd's convention always, whatever their signature:

- ``defvjp(f, maker, ...)``: ``maker(ans, *args, **kwargs)`` returns ``g -> cotangent``;
- ``defjvp(f, rule, ...)``: ``rule(g, ans, *args, **kwargs)`` returns the tangent, or the
  string ``"same"`` (``f`` is linear in that argument);
- ``None`` for an argument: its derivative is zero.

An argument left without a rule raises ``NotImplementedError`` naming the primitive and the rule
when a derivative must go through it, except that a VJP the author did not write is derived
from the JVP (the JVP's transpose), and ``hessian`` goes reverse-over-reverse past a primitive
without a JVP. (``tensorgrad.defvjp``, the tape's door, takes the lecture's
``(g, ans, *args)`` rules instead.)

>>> import numpy as np
>>> from tensorgrad.extend import primitive, defvjp
>>> @primitive
... def logsumexp(x):
...     return np.log(np.sum(np.exp(x)))
>>> defvjp(logsumexp, lambda ans, x: lambda g: g * np.exp(x - ans))
>>> import tensorgrad
>>> tensorgrad.grad(logsumexp)(np.zeros(2)).tolist()
[0.5, 0.5]
"""

import functools

from .autograd import user_spaces as _user
from .autograd.rules import Rules, fill_vjps_from_jvps, mark_user_primitive
from .autograd_compat._core import (  # noqa: F401  (autograd.extend's names)
    Box,
    JVPNode,
    SparseObject,
    VJPNode,
    VSpace,
    vspace,
)
from .ops.registry import Primitive, _prim_of
from .ops.registry import defjvp as _defjvp
from .ops.registry import primitive as _primitive
from .ops.shape import _EveryArg
from .tensor import Tensor

__all__ = ["primitive", "defvjp", "defjvp", "defvjp_argnum", "defjvp_argnum", "defvjp_argnums",
           "defjvp_argnums", "def_linear", "notrace_primitive", "register_notrace", "Box",
           "VSpace", "vspace", "SparseObject", "VJPNode", "JVPNode"]


def _target(fun):
    """The primitive behind ``fun``, or None when ``fun`` is one of tensorgrad's own functions
    that is a composite of primitives (``slogdet``, ``inv``, ...): a library that (re)declares a
    rule for an autograd primitive gets its derivative from the parts there, so the rule is not
    needed and is not installed. Any other non-primitive is an error."""
    if not isinstance(getattr(fun, "prim", fun), Primitive) and callable(fun) and \
            getattr(fun, "__module__", "").startswith("tensorgrad."):
        return None
    return _prim_of(fun)


def primitive(fun=None, **options):
    """Make ``fun`` (a function of raw arrays) a primitive whose rules are declared with
    ``defvjp``/``defjvp``. Until they are, a derivative through it raises
    ``NotImplementedError`` naming it (it is never silently treated as constant)."""
    if fun is None:
        return functools.partial(primitive, **options)
    wrapped = _primitive(fun, **options)
    p = wrapped.prim
    mark_user_primitive(p)

    @functools.wraps(fun)
    def user_primitive(*args, **kwargs):
        if _user.ACTIVE[0]:  # a transform is differentiating a value of a user's VSpace
            for a in args:
                if _user.box_of(a):
                    return _user.apply(p, args, kwargs)
        return wrapped(*args, **kwargs)

    user_primitive.prim = p
    p.wrapper = user_primitive
    return user_primitive


def _uncurry(maker):
    def rule(g, ans, *args, **kwargs):
        return maker(ans, *args, **kwargs)(g)

    rule.curried = maker
    return rule


def defvjp(fun, *vjpmakers, argnums=None):
    """``vjpmaker(ans, *args, **kwargs) -> (g -> cotangent)`` for each positional argument (or
    for those of ``argnums``); None: a zero derivative."""
    p = _target(fun)
    if p is None:
        return
    argnums = range(len(vjpmakers)) if argnums is None else argnums
    given = list(p.vjps) if isinstance(p.vjps, (tuple, list, Rules)) else []
    for i, maker in zip(argnums, vjpmakers):
        given.extend([None] * (i + 1 - len(given)))
        given[i] = None if maker is None else _uncurry(maker)
    default = p.vjps.default if isinstance(p.vjps, Rules) else (lambda i: None)
    p.vjps = Rules(given, default)


def _same(fun, argnum):
    def rule(g, ans, *args, **kwargs):
        args = list(args)
        args[argnum] = g
        return fun(*args, **kwargs)

    return rule


def _zero_jvp(g, ans, *args, **kwargs):
    from .numpy import zeros_like

    return zeros_like(ans)


def defjvp(fun, *jvpfuns, argnums=None):
    """``jvpfun(g, ans, *args, **kwargs) -> tangent`` for each positional argument (or for
    those of ``argnums``); ``"same"``: ``fun`` itself is linear in that argument; None: zero."""
    if _target(fun) is None:
        return
    rules = [_zero_jvp if r is None else _same(fun, i) if r == "same" else r
             for i, r in zip(range(len(jvpfuns)) if argnums is None else argnums, jvpfuns)]
    _defjvp(fun, *rules, argnums=argnums)


def defvjp_argnum(fun, vjpmaker):
    """``vjpmaker(argnum, ans, args, kwargs)`` returns ``g -> cotangent``, for any argument."""
    if _target(fun) is None:
        return
    _prim_of(fun).vjps = _EveryArg(
        lambda i: lambda g, ans, *args, **kw: vjpmaker(i, ans, args, kw)(g), first=0)


def defvjp_argnums(fun, vjpmaker):
    """``vjpmaker(argnums, ans, args, kwargs)`` returns ``g -> (cotangent per argnum)``."""
    if _target(fun) is None:
        return
    _prim_of(fun).vjps = _EveryArg(
        lambda i: lambda g, ans, *args, **kw: vjpmaker((i,), ans, args, kw)(g)[0], first=0)


def defjvp_argnum(fun, jvpmaker):
    """``jvpmaker(argnum, tangent, ans, args, kwargs)`` gives the tangent, for any argument."""
    p = _target(fun)
    if p is None:
        return
    p.jvps = _EveryArg(lambda i: lambda t, ans, *args, **kw: jvpmaker(i, t, ans, args, kw),
                       first=0)
    fill_vjps_from_jvps(p)


def defjvp_argnums(fun, jvpmaker):
    """``jvpmaker(argnums, tangents, ans, args, kwargs)`` gives the summed tangent."""
    p = _target(fun)
    if p is None:
        return
    p.jvps = _EveryArg(
        lambda i: lambda t, ans, *args, **kw: jvpmaker((i,), (t,), ans, args, kw), first=0)
    fill_vjps_from_jvps(p)


def def_linear(fun):
    """Declare ``fun`` linear in each argument: its JVP is ``fun`` applied to the tangent."""

    def jvpmaker(argnum, t, ans, args, kwargs):
        args = list(args)
        args[argnum] = t
        return fun(*args, **kwargs)

    defjvp_argnum(fun, jvpmaker)


def notrace_primitive(fun):
    """``fun`` called on the values of its arguments: no derivative passes through it."""

    @functools.wraps(fun)
    def wrapped(*args, **kwargs):
        args = [a.data if isinstance(a, Tensor) else a for a in args]
        kwargs = {k: v.data if isinstance(v, Tensor) else v for k, v in kwargs.items()}
        return fun(*args, **kwargs)

    return wrapped


def register_notrace(trace_type, primitive_fun):
    """Accepted for compatibility: tensorgrad cuts the derivative of non-differentiable
    functions by itself."""
    return primitive_fun
