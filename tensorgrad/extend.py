"""``tensorgrad.extend``: the names of ``autograd.extend``, for programs that define their own
primitives.

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

from .ops.registry import _prim_of, defjvp, defvjp, primitive
from .ops.shape import _EveryArg
from .tensor import Tensor

__all__ = ["primitive", "defvjp", "defjvp", "defvjp_argnum", "defjvp_argnum", "def_linear",
           "notrace_primitive"]


def defvjp_argnum(fun, vjpmaker):
    """autograd's form: ``vjpmaker(argnum, ans, args, kwargs)`` returns ``g -> cotangent``."""
    _prim_of(fun).vjps = _EveryArg(
        lambda i: lambda g, ans, *args, **kw: vjpmaker(i, ans, args, kw)(g), first=0)


def defjvp_argnum(fun, jvpmaker):
    """autograd's form: ``jvpmaker(argnum, tangent, ans, args, kwargs)`` gives the tangent."""
    _prim_of(fun).jvps = _EveryArg(
        lambda i: lambda t, ans, *args, **kw: jvpmaker(i, t, ans, args, kw), first=0)


def def_linear(fun):
    """Declare ``fun`` linear in each argument: its JVP is ``fun`` applied to the tangent."""

    def jvpmaker(argnum, t, ans, args, kwargs):
        args = list(args)
        args[argnum] = t
        return fun(*args, **kwargs)

    defjvp_argnum(fun, jvpmaker)


def notrace_primitive(fun):
    """``fun`` called on the values of its arguments: no derivative passes through it."""

    def wrapped(*args, **kwargs):
        args = [a.data if isinstance(a, Tensor) else a for a in args]
        kwargs = {k: v.data if isinstance(v, Tensor) else v for k, v in kwargs.items()}
        return fun(*args, **kwargs)

    wrapped.__name__ = getattr(fun, "__name__", "notrace")
    return wrapped
