"""``autograd.misc.tracers``: ``const_graph`` (autograd's cache of a traced graph, for speed;
tensorgrad traces each call, so it is the function itself)."""

import functools
from functools import partial, wraps  # noqa: F401
from itertools import repeat  # noqa: F401

from ._core import engine_internal, subvals, toposort  # noqa: F401
from .tracer import Node, trace  # noqa: F401

FullGraphNode = engine_internal("FullGraphNode", "graph-recording node")
ConstGraphNode = engine_internal("ConstGraphNode", "graph-recording node")
full_graph = engine_internal("full_graph", "graph recorder")


def const_graph_unary(fun):
    return fun


def const_graph(fun, *args, **kwargs):
    """``fun`` with ``args``/``kwargs`` bound (autograd: its graph traced once and replayed;
    tensorgrad: traced on every call, with the same values)."""
    bound = functools.partial(fun, *args, **kwargs)
    return functools.update_wrapper(bound, fun) if hasattr(fun, "__name__") else bound
