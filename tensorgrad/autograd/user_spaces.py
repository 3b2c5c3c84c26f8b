"""Differentiating with respect to values of a user's own vector space (autograd's
``VSpace.register(MyType)`` with a ``Box`` subclass registered for ``MyType``), as autograd's
RKHS example does with functions in a reproducing kernel Hilbert space.

Such a value is not an array, so it cannot be a Tensor: a reverse transform gives the function a
*box* of the user's registered Box type, whose ``_value`` is the value, tied to a placeholder
leaf of the tape. The user's primitives (``tensorgrad.extend.primitive``) that receive a box
run on its ``_value`` and record a Node whose parent is that leaf; the backward pass hands the
rule's result (a value of the user's space) to the leaf, adding contributions with the space's
``add``. Reverse mode only, first order; tensorgrad's own array functions do not take boxes.

>>> from tensorgrad.extend import Box, VSpace, primitive, defvjp
>>> class Line:                       # f(x) = slope * x
...     def __init__(self, slope):
...         self.slope = slope
...     @primitive
...     def __call__(self, x):
...         return self.slope * x
>>> class LineBox(Box, Line):
...     pass
>>> LineBox.register(Line)
>>> class LineSpace(VSpace):
...     def __init__(self, value):
...         pass
...     def zeros(self):
...         return Line(0.0)
...     def _add(self, f, g):
...         return Line(f.slope + g.slope)
>>> LineSpace.register(Line)
>>> defvjp(Line.__call__, lambda ans, f, x: lambda g: Line(g * x))
>>> import tensorgrad
>>> float(tensorgrad.grad(lambda f: f(3.0) ** 2)(Line(2.0)).slope)  # d(9 s^2)/ds at s = 2
36.0
"""

import numpy as np

from ..backend.device import _CUPY_ARRAY
from ..tensor import Tensor, _new_tensor
from .grad_mode import _state
from .graph import _EPOCH, Node

# type -> VSpace maker, filled by VSpace.register (autograd's VSpace.mappings)
SPACES = {}
# type -> Box subclass, filled by Box.register (autograd's box_type_mappings)
BOX_TYPES = {}
# reverse transforms running with a user-space variable: while 0, user primitives pay one test
ACTIVE = [0]


def is_user_value(x):
    """Whether ``x`` is a value of a registered user space (never an array, number or Tensor)."""
    return type(x) in SPACES and not isinstance(x, (Tensor, np.ndarray, _CUPY_ARRAY, int,
                                                    float, complex, np.generic))


def space(x):
    return SPACES[type(x)](x)


def box_of(x):
    """Whether ``x`` is a box made here (an instance of a user's Box subclass)."""
    return getattr(x, "_tg_vertex", None) is not None


def make_variable(x, who="grad"):
    """(box for the function, placeholder leaf for the backward pass) for the value ``x``."""
    box_type = BOX_TYPES.get(type(x))
    if box_type is None:
        raise TypeError(
            f"{who}: cannot differentiate with respect to a {type(x).__name__}: its VSpace is "
            f"registered but no Box type is; declare one, as autograd requires: "
            f"class {type(x).__name__}Box(Box, {type(x).__name__}): ...; "
            f"{type(x).__name__}Box.register({type(x).__name__})")
    leaf = _new_tensor(np.zeros(()), None, True)
    return _new_box(box_type, x, leaf), leaf


def _new_box(box_type, value, vertex):
    box = object.__new__(box_type)
    box._value = value
    box._tg_vertex = vertex
    box._node = vertex  # autograd's attribute names, for code that reads them
    box._trace = None
    return box


def gradient_or_zeros(g, x):
    """The gradient the backward pass found for the value ``x``, or its space's zeros when
    nothing reached it (the pass then gives the placeholder's array zeros)."""
    return g if is_user_value(g) else space(x).zeros()


def add(old, new):
    """Two cotangents of a user's space added (autograd's ``vspace(x).add``)."""
    return space(old).add(old, new)


def apply(p, args, kw):
    """Primitive ``p`` applied to arguments that include boxes of user values."""
    raw, parents = [], []
    vjps = p.vjps
    for i, a in enumerate(args):
        if box_of(a):
            raw.append(a._value)
            vertex = a._tg_vertex
        elif isinstance(a, Tensor):
            if a._level:
                raise NotImplementedError(
                    f"{p.name}: forward mode (jvp, hessian's inner pass) through a value of a "
                    "user's VSpace is not supported; use reverse mode (grad, make_vjp)")
            raw.append(a.data)
            vertex = (a._node or a) if a._rg else None
        else:
            raw.append(a)
            vertex = None
        has_rule = vjps is not None and i < len(vjps) and vjps[i] is not None
        parents.append(vertex if has_rule else None)
    out = p.fwd(*raw, **kw)
    if not is_user_value(out) and not isinstance(out, (np.ndarray, _CUPY_ARRAY)):
        out = np.asarray(out)
    record = _state.enabled and any(q is not None for q in parents)
    node = Node(p, tuple(parents), tuple(raw), kw, out, None, _EPOCH[0]) if record else None
    if is_user_value(out):
        box_type = BOX_TYPES.get(type(out))
        if node is None or box_type is None:
            return out
        return _new_box(box_type, out, node)
    return _new_tensor(out, node, node is not None)
