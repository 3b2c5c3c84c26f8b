"""``autograd.numpy.numpy_vjps``: the helpers extension libraries use to write VJP rules
(``unbroadcast_f``, ``match_complex``, ``repeat_to_match_shape``, ...), written with
tensorgrad's functions so that rules made with them run on Tensors and on any device.

autograd's rule makers for its own primitives (``grad_np_sum``, ``grad_chooser``, ...) have no
counterpart: tensorgrad's primitives carry their own rules."""

from functools import partial  # noqa: F401

import numpy as _onp

from .. import numpy as anp
from ..extend import (  # noqa: F401
    SparseObject,
    VJPNode,
    defvjp,
    defvjp_argnum,
    primitive,
    register_notrace,
    vspace,
)
from ..ops.index import untake as _untake
from ._core import ArrayBox, getval  # noqa: F401
from .numpy import metadata


def unbroadcast(x, target_meta, broadcast_idx=0):
    """Sum ``x`` down to the shape in ``target_meta`` (from ``anp.metadata(target)``)."""
    target_shape, target_ndim, _, target_iscomplex = target_meta
    while anp.ndim(x) > target_ndim:
        x = anp.sum(x, axis=broadcast_idx)
    for axis, size in enumerate(target_shape):
        if size == 1:
            x = anp.sum(x, axis=axis, keepdims=True)
    if anp.iscomplexobj(getval(x)) and not target_iscomplex:
        x = anp.real(x)
    return x


def unbroadcast_f(target, f):
    """``g -> unbroadcast(f(g), target's metadata)``: a VJP of an argument that was
    broadcast."""
    meta = metadata(target)
    return lambda g: unbroadcast(f(g), meta)


def unbroadcast_einsum(x, target_meta, subscript):
    if Ellipsis not in subscript:
        return x
    if subscript[0] == Ellipsis:
        return unbroadcast(x, target_meta, 0)
    if subscript[-1] == Ellipsis:
        return unbroadcast(x, target_meta, -1)
    return unbroadcast(x, target_meta, subscript.index(Ellipsis))


def match_complex(target, x):
    """``x`` made real or complex like ``target``."""
    target_c = anp.iscomplexobj(getval(target))
    x_c = anp.iscomplexobj(getval(x))
    if x_c and not target_c:
        return anp.real(x)
    if target_c and not x_c:
        return x + 0j
    return x


def replace_zero(x, val):
    return anp.where(x, x, val)


def balanced_eq(x, z, y):
    """1 where ``x == z`` (split evenly when ``y`` ties too): max/min's subgradient."""
    xv, zv, yv = getval(x), getval(z), getval(y)
    return (xv == zv) / (1.0 + (xv == yv))


def repeat_to_match_shape(g, shape, dtype, axis, keepdims):
    """``g`` (a reduction's cotangent) broadcast back to ``shape``, and how many elements each
    entry of ``g`` stands for."""
    if shape == ():
        return g, 1
    axes = list(axis) if isinstance(axis, tuple) else axis
    new_shape = _onp.array(shape)
    new_shape[axes] = 1
    reps = int(_onp.prod(_onp.array(shape)[axes]))
    return anp.broadcast_to(anp.reshape(g, tuple(int(n) for n in new_shape)), shape), reps


def untake(x, idx, vs):
    """Zeros of ``vs`` (a vspace) with ``x`` placed at ``idx``: the VJP of indexing."""
    return _untake(x, idx, tuple(vs.shape))
