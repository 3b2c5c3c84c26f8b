"""Rules for a primitive that has a fast first-order backward on raw arrays and a slower twin
written with tensorgrad's ops.

Some primitives (a whole LSTM sequence, group normalisation on the host) compute their answer
and first-order cotangents with in-place NumPy code that is not itself differentiable. Each has
a composition of differentiable primitives computing the same function; :func:`define_rules`
gives the primitive

- VJP rules that compute the cotangents of all arguments in one pass (``first_order`` on raw
  arrays), shared between the per-argument calls through :func:`one_pass`;
- and, where ``first_order`` declines (it returns None) or the arguments are Tensors
  (``create_graph=True``, higher order), the VJP of the composition (recomputing it);
- JVP rules that are the composition's JVP (forward mode, to any order).
"""

import functools
import math

import numpy as np

from ..autograd.grad_mode import is_grad_enabled
from ..tensor import Tensor
from .registry import defjvp, defvjp

# A VJP rule is called once per argument with the same cotangent; the first computes the
# cotangents of all arguments in one pass and leaves them here, keyed by (g, ans), for the
# others. One tuple, replaced whole (a reader never sees half an entry); dropped by the last
# argument's rule, by the next one-pass backward or by the next forward that clears it.
LAST = [None]


def one_pass(grads, argnum, last=None):
    """The VJP rule of argument ``argnum`` from ``grads(g, ans, *args, **kw)``, which returns
    the cotangents of all arguments; ``last`` is the last argument whose rule may ask (None:
    the last argument that is not None, so that an absent bias leaves nothing behind)."""
    def rule(g, ans, *args, **kw):
        end = last
        if end is None:
            end = max(i for i, a in enumerate(args) if a is not None)
        entry = LAST[0]
        if entry is not None and entry[0] is g and entry[1] is ans:
            if argnum == end:
                LAST[0] = None
            return entry[2][argnum]
        out = grads(g, ans, *args, **kw)
        LAST[0] = None if argnum == end else (g, ans, out)
        return out[argnum]
    return rule


def _composed_vjp(composed, g, args, kw):
    from ..autograd.functional import make_vjp

    nums = tuple(k for k, a in enumerate(args) if a is not None)
    vjp, _ = make_vjp(functools.partial(composed, **kw), nums)(*args)
    out = [None] * len(args)
    for k, v in zip(nums, vjp(g)):
        out[k] = v
    return out


def define_rules(prim, composed, first_order, nargs):
    """VJP and JVP rules for the ``nargs`` positional arguments of ``prim`` (None arguments
    allowed: they get no cotangent), as the module docstring says."""
    def grads(g, ans, *args, **kw):
        if not isinstance(g, Tensor) and not isinstance(ans, Tensor) and \
                not any(isinstance(a, Tensor) for a in args):
            out = first_order(g, ans, *args, **kw)
            if out is not None:
                return out
        return _composed_vjp(composed, g, args, kw)

    def tangent(k):
        def rule(t, ans, *args, **kw):
            from ..autograd.functional import make_jvp

            return make_jvp(functools.partial(composed, **kw), k)(*args)(t)[1]
        return rule

    defvjp(prim, *(one_pass(grads, k) for k in range(nargs)))
    defjvp(prim, *(tangent(k) for k in range(nargs)))


def answer_and_kept(dtype, shape, kept_shape):
    """A NumPy answer of ``shape`` and, behind it in one buffer, a ``kept_shape`` block that
    the first-order rule reads back (``saved_behind``); with gradients off (``no_grad``:
    nothing will read it) the answer alone, and None."""
    size = math.prod(shape)
    if not is_grad_enabled():
        return np.empty(shape, dtype), None
    buf = np.empty(size + math.prod(kept_shape), dtype)
    return buf[:size].reshape(shape), buf[size:].reshape(kept_shape)


def saved_behind(ans, rows, cols):
    """The (rows, cols) block an ``answer_and_kept`` forward kept behind its answer ``ans``,
    or None (an answer from elsewhere, or copied)."""
    base = ans.base
    size = ans.size
    if type(base) is not np.ndarray or base.dtype != ans.dtype or \
            base.shape != (size + rows * cols,) or not ans.flags.c_contiguous or \
            base[:size].ctypes.data != ans.ctypes.data:
        return None
    return base[size:].reshape(rows, cols)
