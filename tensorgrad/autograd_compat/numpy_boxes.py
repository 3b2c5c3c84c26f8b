"""``autograd.numpy.numpy_boxes``: a traced array is a tensorgrad Tensor."""

from ._core import ArrayBox, Box, SequenceBox  # noqa: F401
