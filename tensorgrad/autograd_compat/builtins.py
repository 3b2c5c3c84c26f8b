"""``autograd.builtins``: containers and type checks that see through traced values.

tensorgrad differentiates through plain lists, tuples and dicts of arrays, so ``tuple``,
``list`` and ``dict`` are Python's own; ``isinstance`` and ``type`` look at a traced value's
raw array (``isinstance(traced, np.ndarray)`` is true, as in autograd)."""

import builtins as _b

from ..extend import (  # noqa: F401
    defjvp,
    defjvp_argnum,
    defvjp,
    defvjp_argnum,
    notrace_primitive,
    primitive,
)
from ._core import (  # noqa: F401
    Box,
    ContainerVSpace,
    DictBox,
    DictVSpace,
    ListVSpace,
    NamedTupleVSpace,
    SequenceBox,
    SequenceVSpace,
    SparseObject,
    TupleVSpace,
    VSpace,
    getval,
    subvals,
    vspace,
)

tuple_ = _b.tuple
list_ = _b.list
dict_ = _b.dict
isinstance_ = _b.isinstance
type_ = _b.type
tuple = _b.tuple
list = _b.list
dict = _b.dict
ListBox = SequenceBox
TupleBox = SequenceBox


def isinstance(x, t):  # noqa: A001
    """``isinstance`` of the value under ``x`` (a traced value counts as its array)."""
    return _b.isinstance(getval(x), t)


def type(x):  # noqa: A001
    """``type`` of the value under ``x``."""
    return _b.type(getval(x))


def container_take(A, idx):
    return A[idx]


def make_sequence(sequence_type, *args):
    return sequence_type(args)


def sequence_extend_right(seq, *elts):
    return seq + _b.type(seq)(elts)


def sequence_extend_left(seq, *elts):
    return _b.type(seq)(elts) + seq
