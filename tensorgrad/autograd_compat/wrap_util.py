"""``autograd.wrap_util``."""

from ._core import get_doc, get_name, subvals, unary_to_nary, wrap_nary_f, wraps  # noqa: F401
