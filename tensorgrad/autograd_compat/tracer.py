"""``autograd.tracer``: in tensorgrad a traced value is a Tensor (see ``_core``).

``trace(start_node, fun, x)`` and ``Node`` work as autograd's: subclass ``Node`` with
``__init__(self, value, fun, args, kwargs, parent_argnums, parents)`` and
``initialize_root(self, ...)``; ``trace`` runs ``fun`` on ``x`` and makes a node of the
subclass for each primitive applied to a traced value (its raw answer, the public function,
the raw arguments, which of them were traced and their nodes). autograd's ``print_trace``
example runs unchanged on it.
"""

import warnings
from collections import defaultdict

import numpy as np

from ..extend import notrace_primitive, primitive, register_notrace  # noqa: F401
from ..tensor import Tensor, _new_tensor
from ._core import (  # noqa: F401
    Box,
    TraceStack,
    find_top_boxed_args,
    getval,
    isbox,
    new_box,
    subvals,
    toposort,
    trace_stack,
    wraps,
)

box_type_mappings = Box.type_mappings
box_types = Box.types
notrace_primitives = defaultdict(set)  # accepted by register_notrace; nothing reads it


class Node:
    """A node of a trace made by :func:`trace` (subclass it: see the module's docstring)."""

    __slots__ = []

    def __init__(self, value, fun, args, kwargs, parent_argnums, parents):
        raise NotImplementedError("Node: subclass it and define __init__ (autograd's "
                                  "convention: value, fun, args, kwargs, parent_argnums, parents)")

    def initialize_root(self, *args, **kwargs):
        raise NotImplementedError("Node: subclass it and define initialize_root")

    @classmethod
    def new_root(cls, *args, **kwargs):
        root = cls.__new__(cls)
        root.initialize_root(*args, **kwargs)
        return root


def trace(start_node, fun, x):
    """Run ``fun(x)``, making a node of ``type(start_node)`` for each primitive that reads a
    traced value; ``(value of fun(x), its node)``, or ``(fun(x), None)`` with a warning when
    the output does not depend on ``x``."""
    from ..utils.checkpoint import _intercepting

    start = x if isinstance(x, Tensor) else _new_tensor(
        x if hasattr(x, "dtype") else np.asarray(x, dtype=float), None, False)
    made = {id(start.data): (start.data, start_node)}  # id(raw value) -> (raw value, node)
    node_type = type(start_node)

    def node_of(a):
        if not isinstance(a, Tensor):
            return None
        entry = made.get(id(a.data))
        return entry[1] if entry is not None and entry[0] is a.data else None

    def record(run, p, args, raw, kw):
        ans = run(p, args, raw, kw)
        if isinstance(ans, np.generic):  # 0-d arithmetic on the host: the Tensor's array
            ans = np.asarray(ans)  # is this one, so its node can be found again
        found = [(i, node_of(a)) for i, a in enumerate(args)]
        found = [(i, n) for i, n in found if n is not None]
        if found:
            argnums, parents = zip(*found)
            made[id(ans)] = (ans, node_type(ans, p.wrapper, tuple(raw), kw or {}, argnums,
                                            list(parents)))
        return ans

    with _intercepting(record):
        end = fun(start)
    end_node = node_of(end)
    if end_node is None:
        warnings.warn("Output seems independent of input.", stacklevel=2)
        return end, None
    return end.data, end_node
