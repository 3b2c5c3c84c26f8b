"""``autograd.misc``: ``flatten``, ``const_graph`` and the ``tracers`` module."""

from ..misc import fixed_points, optimizers  # noqa: F401
from ..misc.flatten import flatten, flatten_func  # noqa: F401
from .misc_tracers import const_graph  # noqa: F401
