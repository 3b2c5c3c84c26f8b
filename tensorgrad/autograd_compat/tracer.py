"""``autograd.tracer``: in tensorgrad a traced value is a Tensor (see ``_core``)."""

from collections import defaultdict

from ..extend import notrace_primitive, primitive, register_notrace  # noqa: F401
from ._core import (  # noqa: F401
    Box,
    Node,
    TraceStack,
    find_top_boxed_args,
    getval,
    isbox,
    new_box,
    subvals,
    toposort,
    trace,
    wraps,
)

box_type_mappings = Box.type_mappings
box_types = Box.types
notrace_primitives = defaultdict(set)  # accepted by register_notrace; nothing reads it
