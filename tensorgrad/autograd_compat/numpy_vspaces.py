"""``autograd.numpy.numpy_vspaces``."""

from ._core import (  # noqa: F401
    ArrayVSpace,
    ComplexArrayVSpace,
    NamedTupleVSpace,
    TupleVSpace,
    VSpace,
)

EigResultVSpace = EighResultVSpace = QRResultVSpace = SVDResultVSpace = \
    SlogdetResultVSpace = NamedTupleVSpace
