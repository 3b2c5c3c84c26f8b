"""``tensorgrad.numpy.random``: NumPy's random module, for making inputs (plain arrays).

The draws are NumPy's (the same numbers for the same seed everywhere); with a default device
other than the CPU (:func:`tensorgrad.set_default_device`) the arrays are moved there, so a
program's random data lives where its computation runs.
"""

import functools

import numpy.random as _npr
from numpy.random import *  # noqa: F401,F403
from numpy.random import (  # noqa: F401
    BitGenerator,
    SeedSequence,
    default_rng,
    get_bit_generator,
    seed,
    set_bit_generator,
)

from ..backend.device import _CUPY_ARRAY, _DEFAULT, device_of


def _placed(out):
    dev = _DEFAULT[0]
    if dev is None or not hasattr(out, "dtype") or not hasattr(out, "shape") or out.shape == ():
        return out
    return dev.put(out)


def _drawing(fn):
    @functools.wraps(fn)
    def draw(*args, **kwargs):
        return _placed(fn(*args, **kwargs))

    return draw


_SKIP = {"seed", "get_state", "set_state", "default_rng", "get_bit_generator",
         "set_bit_generator", "bytes"}
for _name in [n for n in dir(_npr) if not n.startswith("_")]:
    _f = getattr(_npr, _name)
    if callable(_f) and not isinstance(_f, type) and _name not in _SKIP:
        globals()[_name] = _drawing(_f)


class RandomState(_npr.RandomState):
    """NumPy's RandomState whose draws go to the default device."""


for _name in [n for n in dir(_npr.RandomState) if not n.startswith("_")]:
    if _name not in _SKIP and callable(getattr(_npr.RandomState, _name)):
        setattr(RandomState, _name, _drawing(getattr(_npr.RandomState, _name)))
del _name, _f


def _shuffling(shuffle, permutation):
    """NumPy's in-place ``shuffle``, which on a device array permutes it on the device:
    NumPy's own swaps rows through ``x[i]``, a view on a CuPy array, and so leaves rows
    duplicated. The order is NumPy's for the same seed (shuffling an array draws what
    ``permutation(len(x))`` draws)."""
    @functools.wraps(shuffle)
    def shuffle_(*args):  # (x), or (self, x) for RandomState's
        x = args[-1]
        if type(x) is not _CUPY_ARRAY:
            return shuffle(*args)
        perm = permutation(*args[:-1], len(x))
        x[...] = x[device_of(x).put(perm)]

    return shuffle_


shuffle = _shuffling(_npr.shuffle, _npr.permutation)
RandomState.shuffle = _shuffling(_npr.RandomState.shuffle, _npr.RandomState.permutation)
