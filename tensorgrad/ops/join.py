"""A first derivative joined to the input it was taken at, with a zero derivative.

PyTorch computes the gradient of a piecewise-linear op (relu, leaky_relu, hardtanh, threshold,
the shrinks, prelu, rrelu, abs, max pooling) with a backward kernel that takes the op's input
(``threshold_backward(grad, self)``, ...) and declares its derivative in that input zero. So
under ``create_graph`` such a gradient depends on the input, and a parameter that reaches it
only through the op's mask (the bias before a ReLU, in a gradient penalty) gets a zero
gradient, not None: ``autograd.grad(penalty, params)`` works without ``allow_unused``, and an
optimizer's weight decay sees that parameter. tensorgrad's rules compute the mask from raw
values, which cuts that edge; :func:`join` puts it back.

Only in higher-order passes: a rule calls ``join`` when its argument is a Tensor, which it is
only while ``create_graph`` records the backward pass. A first-order backward pays one type
check.
"""

from ..backend.device import xp_of
from ..tensor import Tensor
from .registry import defjvp, defvjp, primitive


def _zeros_like(x):
    """Zeros of ``x``'s shape and dtype, a constant (its own derivative is zero too)."""
    if isinstance(x, Tensor):
        return Tensor._wrap(xp_of(x.data).zeros_like(x.data))
    return xp_of(x).zeros_like(x)


@primitive(saves=False)
def join(v, x):
    """``v``, with ``x`` among its arguments and a zero derivative in it."""
    return v


defvjp(join, lambda g, ans, v, x: g, lambda g, ans, v, x: _zeros_like(x))
defjvp(join, lambda t, ans, v, x: t, lambda t, ans, v, x: _zeros_like(ans))


def joined(rule, argnum):
    """``rule`` (a VJP), its cotangent joined to argument ``argnum`` when that is a Tensor."""
    def r(g, ans, *args, **kw):
        out = rule(g, ans, *args, **kw)
        x = args[argnum]
        if type(x) is Tensor and out is not None:
            return join(out, x)
        return out

    return r


def joined_variant(fn, name=None):
    """A primitive computing what primitive ``fn`` computes, with ``fn``'s JVPs and its VJPs
    each joined to its own argument: the op as PyTorch's backward kernel sees it. Made after
    ``fn``'s rules are declared."""
    p = fn.prim
    q = primitive(p.fwd, name=name or p.name, saves=p.saves, view=p.view).prim
    for attr in ("amp", "promote", "fallback"):
        setattr(q, attr, getattr(p, attr))
    q.vjps = tuple(None if r is None else joined(r, i) for i, r in enumerate(p.vjps))
    q.jvps = p.jvps
    return q.wrapper
