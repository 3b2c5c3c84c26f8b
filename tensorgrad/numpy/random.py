"""``tensorgrad.numpy.random``: NumPy's random module, for making inputs (plain arrays)."""

from numpy.random import *  # noqa: F401,F403
from numpy.random import default_rng, seed  # noqa: F401
