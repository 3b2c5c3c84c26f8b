"""Nested containers of arrays as one flat vector, and back.

``flatten(value)`` returns ``(flat, unflatten)``: ``flat`` concatenates the raveled leaves of
any nesting of lists, tuples (named ones too) and dicts (in sorted key order, as HIPS autograd
does, so both give the same vector), and ``unflatten(v)`` rebuilds that structure from a vector
``v`` of the same length. Both directions are compositions of differentiable functions:
flattening Tensors gives a Tensor, unflattening a Tensor gives Tensors on its graph.

>>> import numpy as np
>>> flat, unflatten = flatten({"W": np.ones((2, 2)), "b": [np.zeros(2), 3.0]})
>>> flat
array([1., 1., 1., 1., 0., 0., 3.])
>>> unflatten(flat * 2)["b"][1]
array(6.)
"""

import math

import numpy as np

from .. import numpy as tnp
from ..backend.device import _CUPY_ARRAY, xp_of
from ..tensor import Tensor
from ..tensor import keep_array as _as_array


def _sorted_keys(d):
    try:
        return sorted(d)
    except TypeError:  # keys that do not sort: insertion order
        return list(d)


def _shape(x):
    if isinstance(x, Tensor):
        return tuple(x.shape)
    return np.shape(x)


def _collect(value, leaves):
    """The structure of ``value`` as a spec, appending its leaves to ``leaves``."""
    if isinstance(value, (list, tuple)):
        kind = type(value)
        return ("seq", kind, [_collect(v, leaves) for v in value])
    if isinstance(value, dict):
        keys = _sorted_keys(value)  # the vector's order; the rebuilt dict keeps the user's
        return ("dict", type(value), keys, [_collect(value[k], leaves) for k in keys],
                list(value))
    shape = _shape(value)
    leaves.append(value)
    return ("leaf", shape)


def _rebuild(spec, vector, pos):
    tag = spec[0]
    if tag == "leaf":
        shape = spec[1]
        n = math.prod(shape)
        piece = tnp.reshape(vector[pos:pos + n], shape)
        return piece, pos + n
    if tag == "seq":
        kind, parts = spec[1], []
        for s in spec[2]:
            p, pos = _rebuild(s, vector, pos)
            parts.append(p)
        if kind is list or kind is tuple:
            return kind(parts), pos
        if hasattr(kind, "_fields"):  # a namedtuple
            return kind(*parts), pos
        return kind(parts), pos
    kind, keys, subs, order = spec[1:]
    pieces = {}
    for k, s in zip(keys, subs):
        pieces[k], pos = _rebuild(s, vector, pos)
    out = {k: pieces[k] for k in order}  # insertion order as given, as autograd's unflatten
    return (out if kind is dict else kind(out)), pos


def _arrays(leaves):
    """The leaves as arrays; numbers (and lists) join the first device array among them, so
    that a Python float beside CuPy arrays does not become a host array they cannot mix with."""
    home = None
    out = []
    for leaf in leaves:
        if not isinstance(leaf, Tensor) and not hasattr(leaf, "shape"):
            if home is None:
                home = _home_xp(leaves)
            leaf = home.asarray(leaf)
        out.append(_as_array(leaf))
    return out


def _home_xp(leaves):
    for leaf in leaves:
        raw = leaf.data if isinstance(leaf, Tensor) else leaf
        if type(raw) is _CUPY_ARRAY:
            return xp_of(raw)
    return np


def flatten(value):
    """``(flat_vector, unflatten)`` for a nesting of lists, tuples and dicts of arrays or
    scalars (dict keys in sorted order). Mixed dtypes are promoted to one."""
    leaves = []
    spec = _collect(value, leaves)
    if leaves:
        flat = tnp.concatenate([tnp.ravel(leaf) for leaf in _arrays(leaves)])
    else:
        flat = np.zeros(0)
    size = int(np.shape(flat.data if isinstance(flat, Tensor) else flat)[0])

    def unflatten(vector):
        n = _shape(vector)
        if len(n) != 1 or n[0] != size:
            raise ValueError(f"unflatten: expected a vector of length {size}, got shape {n}")
        return _rebuild(spec, vector, 0)[0]

    return flat, unflatten


def flatten_func(func, example):
    """``(flat_func, unflatten, flat_example)``: ``flat_func(v, *args)`` is ``func`` of the
    structure ``v`` unflattens to, its output flattened."""
    flat_example, unflatten = flatten(example)

    def flat_func(vector, *args):
        return flatten(func(unflatten(vector), *args))[0]

    return flat_func, unflatten, flat_example


__all__ = ["flatten", "flatten_func"]
