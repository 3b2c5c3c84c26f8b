"""``autograd.core``: the parts of autograd's engine a library can use, in tensorgrad's terms
(autograd's own graph classes are stand-ins that say they are not available)."""

from ..autograd import functional as _f
from ..extend import (  # noqa: F401
    def_linear,
    defjvp,
    defjvp_argnum,
    defjvp_argnums,
    defvjp,
    defvjp_argnum,
    defvjp_argnums,
    primitive,
)
from ._core import (  # noqa: F401
    Box,
    JVPNode,
    SparseBox,
    SparseObject,
    VJPNode,
    VSpace,
    backward_pass,
    getval,
    isbox,
    subval,
    toposort,
    vspace,
)
from .tracer import Node, trace  # noqa: E402,F401  (autograd.core has tracer's)
from .util import func  # noqa: E402,F401  (autograd.core has it)

primitive_with_deprecation_warnings = primitive


def make_vjp(fun, x):
    """autograd's unary ``make_vjp(fun, x)``: ``(vjp, fun(x))``."""
    return _f.make_vjp(fun)(x)


def make_jvp(fun, x):
    """autograd's unary ``make_jvp(fun, x)``: ``g -> (fun(x), J g)``."""
    return _f.make_jvp(fun)(x)


def identity_vjp(argnums, *args):
    return lambda g: g


def identity_jvp(g, *args, **kwargs):
    return g


def sum_outgrads(gs):
    gs = list(gs)
    out = gs[0]
    for g in gs[1:]:
        out = out + g
    return out
