"""``fixed_point(f, a, x0, distance, tol)``: iterate ``x = f(a)(x)`` from ``x0`` until
``distance(x, x_prev) <= tol``, differentiable with respect to ``a`` (HIPS autograd's
``autograd.misc.fixed_points``).

The derivative does not unroll the loop: at the fixed point x* = f(a)(x*), so
dx*/da = (I - df/dx)^-1 df/da, and both the VJP and the JVP are found as fixed points of
their own, by the same function, which makes them differentiable again.

>>> import tensorgrad as tg
>>> def heron(a):
...     return lambda x: 0.5 * (x + a / x)
>>> sqrt = lambda a: fixed_point(heron, a, 1.0, lambda x, y: abs(x - y), 1e-12)
>>> round(float(tg.grad(sqrt)(4.0)), 6)  # 1 / (2 sqrt(4))
0.25
"""

from ..autograd.functional import jvp, vjp
from ..backend.device import xp_of
from ..ops.registry import defjvp, defvjp, primitive
from ..tensor import Tensor
from .flatten import flatten


def _zeros_like(x):
    # a raw starting point: where the iteration starts carries no derivative
    raw = x.data if isinstance(x, Tensor) else x
    return xp_of(raw).zeros_like(raw)


def _plain(x):
    # a step may answer with a Tensor (the VJP and JVP steps, run inside an outer transform):
    # a primitive's forward works on raw arrays, and a Tensor wrapped as data would pass for a
    # host array
    return x.data if isinstance(x, Tensor) else x


@primitive
def _fixed_point(a, f, x0, distance, tol):
    step = f(a)
    x, x_prev = _plain(step(x0)), x0
    while distance(x, x_prev) > tol:
        x, x_prev = _plain(step(x)), x
    return x


def _as_array(x, x0):
    """``x`` as an array; a number lives where the starting point ``x0`` does."""
    if hasattr(x, "shape"):
        return x
    return xp_of(_plain(x0)).asarray(x, dtype=float)


def _pullback(f, a, x, w):
    """(df/da)^T w and (df/dx)^T w for f(a)(x). Both a and x are variables of the VJP: the
    backward pass then stops at them and never walks into how an outer computation made them
    (x is often this primitive's own answer)."""
    return vjp(lambda a_, x_: f(a_)(x_), a, x)[1](w)


def _vjp(g, ans, a, f, x0, distance, tol):
    # w = g + (df/dx)^T w at x*, then the cotangent of a is (df/da)^T w
    packed, unpack = flatten((a, ans, g))

    def reverse_step(params):
        a_, x_star, g_ = unpack(params)
        return lambda w: _pullback(f, a_, x_star, w)[1] + g_

    w = fixed_point(reverse_step, packed, _zeros_like(ans), distance, tol)
    return _pullback(f, a, ans, w)[0]


def _jvp(t, ans, a, f, x0, distance, tol):
    # u = (df/dx) u + (df/da) t at x*
    direct = jvp(lambda a_: f(a_)(ans), (a,), (t,))[1]
    packed, unpack = flatten((a, ans, direct))

    def forward_step(params):
        a_, x_star, b = unpack(params)
        return lambda u: jvp(f(a_), (x_star,), (u,))[1] + b

    return fixed_point(forward_step, packed, _zeros_like(ans), distance, tol)


defvjp(_fixed_point, _vjp)
defjvp(_fixed_point, _jvp)


def fixed_point(f, a, x0, distance, tol):
    """The fixed point of ``f(a)`` reached from ``x0`` (see the module); differentiable in
    ``a`` (an array, scalar or Tensor), not in ``x0``."""
    return _fixed_point(_as_array(a, x0) if not isinstance(a, Tensor) else a, f, x0, distance,
                        tol)


__all__ = ["fixed_point"]
