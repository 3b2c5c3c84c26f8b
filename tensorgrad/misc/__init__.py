"""``tensorgrad.misc``: HIPS autograd's helpers: ``flatten`` (nested containers of arrays as
one vector), ``optimizers`` (``sgd``, ``rmsprop``, ``adam`` with autograd's signatures) and
``fixed_points.fixed_point`` (differentiable fixed-point iteration)."""

from . import fixed_points, optimizers
from .flatten import flatten, flatten_func

__all__ = ["flatten", "flatten_func", "fixed_points", "optimizers"]
