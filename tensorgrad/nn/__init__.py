"""Neural-network building blocks. ``functional`` (``F``) holds the stateless functions."""

from . import functional
from . import functional as F

__all__ = ["functional", "F"]
