"""Helpers shared by the distributions: inputs as arrays (Python scalars stay weak so that a
float32 argument is not promoted), supports as masks without a derivative."""

import numpy as np

from ... import numpy as tnp
from ...backend.device import _CUPY_ARRAY
from ...tensor import Tensor


def as_array(x):
    if isinstance(x, (Tensor, np.ndarray, _CUPY_ARRAY, int, float, complex, np.generic)):
        return x
    return np.asarray(x)


def raw(x):
    return x.data if isinstance(x, Tensor) else x


def restrict(value, inside, outside=-np.inf):
    """``value`` where the (raw, boolean) mask ``inside`` holds, ``outside`` elsewhere."""
    inside = raw(inside)
    if np.all(inside):
        return value
    return tnp.where(inside, value, outside)


def weak(fn, *args):
    """``fn(*args)``, as a Python float when every argument is a Python number: a NumPy
    float64 scalar would promote a float32 argument of the distribution to float64."""
    out = fn(*args)
    if all(isinstance(a, (int, float)) for a in args):
        return float(out)
    return out
