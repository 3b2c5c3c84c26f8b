"""Shape primitives: views where the array module gives views, each undone by its VJP."""

import weakref

from ..backend.device import Device, device_of, xp_of
from .registry import defjvp, defvjp, primitive


@primitive(saves=False, view=True)
def reshape(x, shape):
    return x.reshape(shape)


@primitive(saves=False, view=True)
def transpose(x, axes=None):
    return x.transpose(axes)


@primitive(saves=False, view=True)
def swapaxes(x, a, b):
    return x.swapaxes(a, b)


@primitive(saves=False, view=True)
def expand_dims(x, axis):
    return xp_of(x).expand_dims(x, axis)


@primitive(saves=False, view=True)
def squeeze(x, axis=None):
    return x.squeeze(axis)


@primitive(saves=False, view=True)
def broadcast_to(x, shape):
    if x.shape == tuple(shape):  # a writable view, as PyTorch's expand to the same shape
        return x[...]
    return xp_of(x).broadcast_to(x, shape)


def _diagonal_view(x, offset, axis1, axis2):
    # by strides, not xp.diagonal: NumPy's diagonal is read-only and PyTorch's view is not
    xp = xp_of(x)
    y = xp.moveaxis(x, (axis1, axis2), (-2, -1))
    n, m = y.shape[-2:]
    length = max(0, min(n, m - offset) if offset >= 0 else min(n + offset, m))
    # the first diagonal element; no element at all: any view (a (3, 0) matrix has no column 0)
    first = y[..., max(0, -offset), max(0, offset)] if length else y
    return xp.lib.stride_tricks.as_strided(first, y.shape[:-2] + (length,),
                                           y.strides[:-2] + (y.strides[-2] + y.strides[-1],))


@primitive(saves=False, view=True)
def diagonal(x, offset=0, axis1=0, axis2=1):
    """PyTorch's diagonal: a writeable view, the diagonal as the last dimension."""
    return _diagonal_view(x, offset, axis1, axis2)


@primitive(saves=False)
def undiagonal(g, shape, offset=0, axis1=0, axis2=1):
    """Zeros of ``shape`` with ``g`` on the diagonal: diagonal's transpose."""
    out = xp_of(g).zeros(shape, dtype=g.dtype)
    _diagonal_view(out, offset, axis1, axis2)[...] = g
    return out


@primitive(saves=False)
def concatenate_(axis, *xs):
    return xp_of(xs[0]).concatenate(xs, axis=axis)


@primitive(saves=False)
def stack_(axis, *xs):
    return xp_of(xs[0]).stack(xs, axis=axis)


@primitive(saves=False)
def relayout(x, perm):
    """A copy of ``x`` whose memory order is ``perm`` (None: row-major): memory formats'
    copies (``tensorgrad/_memory_format.py``). ``copy()`` is C-ordered on NumPy and CuPy and
    transposes keep strides; the values, hence the derivatives, are the input's."""
    if perm is None:
        return x.copy()
    inverse = tuple(sorted(range(len(perm)), key=perm.__getitem__))
    return x.transpose(perm).copy().transpose(inverse)


defvjp(relayout, lambda g, ans, x, perm: g)
defjvp(relayout, lambda t, ans, x, perm: t)


@primitive(saves=False)
def to_device(x, device, non_blocking=False):
    """``x`` on ``device``; ``non_blocking``: from pinned host memory, an asynchronous copy
    (``Device.put``). The cotangent goes back by an ordinary copy."""
    return Device(device).put(x, non_blocking)


def _source_device(x):
    """The device of a rule's argument: a raw array, or a Tensor while the rules record
    themselves (``create_graph=True``), whose ``device`` is a tensorgrad Device."""
    d = getattr(x, "device", None)
    return d if isinstance(d, Device) else device_of(x)


def _inverse_perm(axes, ndim):
    if axes is None:
        return None
    inv = [0] * ndim
    for i, a in enumerate(axes):
        inv[a % ndim] = i
    return tuple(inv)


defvjp(reshape, lambda g, ans, x, shape: reshape(g, x.shape))
defjvp(reshape, lambda t, ans, x, shape: reshape(t, shape))
defvjp(transpose, lambda g, ans, x, axes=None: transpose(g, _inverse_perm(axes, x.ndim)))
defjvp(transpose, lambda t, ans, x, axes=None: transpose(t, axes))
defvjp(swapaxes, lambda g, ans, x, a, b: swapaxes(g, a, b))
defjvp(swapaxes, lambda t, ans, x, a, b: swapaxes(t, a, b))
defvjp(expand_dims, lambda g, ans, x, axis: reshape(g, x.shape))
defjvp(expand_dims, lambda t, ans, x, axis: expand_dims(t, axis))
defvjp(squeeze, lambda g, ans, x, axis=None: reshape(g, x.shape))
defjvp(squeeze, lambda t, ans, x, axis=None: squeeze(t, axis))
# broadcasting is undone by the engine: the cotangent is summed back to x's shape centrally
defvjp(diagonal, lambda g, ans, x, offset=0, axis1=0, axis2=1:
       undiagonal(g, x.shape, offset, axis1, axis2))
defjvp(diagonal, lambda t, ans, x, offset=0, axis1=0, axis2=1: diagonal(t, offset, axis1, axis2))
defvjp(undiagonal, lambda g, ans, gin, shape, offset=0, axis1=0, axis2=1:
       diagonal(g, offset, axis1, axis2))
defjvp(undiagonal, lambda t, ans, gin, shape, offset=0, axis1=0, axis2=1:
       undiagonal(t, shape, offset, axis1, axis2))
defvjp(broadcast_to, lambda g, ans, x, shape: g)
defjvp(broadcast_to, lambda t, ans, x, shape: broadcast_to(t, shape))
defvjp(to_device, lambda g, ans, x, device, non_blocking=False:
       to_device(g, _source_device(x)))
defjvp(to_device, lambda t, ans, x, device, non_blocking=False:
       to_device(t, device, non_blocking))


class _EveryArg:
    """Rules for a variadic primitive: ``rules[i]`` is made on demand for argument ``i``."""

    def __init__(self, make, first=1):
        self.make, self.first, self.cache = make, first, {}

    def __len__(self):
        return 1 << 30

    def __getitem__(self, i):
        if i < self.first:
            return None
        r = self.cache.get(i)
        if r is None:
            r = self.cache[i] = self.make(i)
        return r


# The offsets of the pieces of the last concatenation whose VJP ran: (weak reference to its
# answer, axis, offsets). The engine calls the VJP once per piece; summing the sizes before
# piece i each time made the backward of a concatenation of T pieces (an unrolled RNN's
# outputs) O(T^2). The answer identifies the node, and its pieces' sizes with it.
_OFFSETS = [None]


def _concat_offsets(ans, axis, xs):
    entry = _OFFSETS[0]
    if entry is not None and ans is not None and entry[0]() is ans and entry[1] == axis and \
            len(entry[2]) == len(xs) + 1:  # (a dead reference gives None: not an answer)
        return entry[2]
    offsets = [0]
    for x in xs:
        offsets.append(offsets[-1] + x.shape[axis])
    try:
        _OFFSETS[0] = (weakref.ref(ans), axis, offsets)
    except TypeError:  # an answer that takes no weak reference: no memo
        _OFFSETS[0] = None
    return offsets


def _concat_part(g, ans, axis, xs, i):
    from .index import getitem

    axis %= len(g.shape)  # a negative axis counts from the end
    offsets = _concat_offsets(ans, axis, xs)
    idx = (slice(None),) * axis + (slice(offsets[i], offsets[i + 1]),)
    return getitem(g, idx)


def _stack_part(g, axis, i):
    from .index import getitem

    return getitem(g, (slice(None),) * (axis % len(g.shape)) + (i,))


concatenate_.prim.vjps = _EveryArg(
    lambda i: lambda g, ans, axis, *xs: _concat_part(g, ans, axis, xs, i - 1))
concatenate_.prim.jvps = _EveryArg(
    lambda i: lambda t, ans, axis, *xs: _one_hot_concat(t, ans, axis, xs, i - 1))
stack_.prim.vjps = _EveryArg(lambda i: lambda g, ans, axis, *xs: _stack_part(g, axis, i - 1))
stack_.prim.jvps = _EveryArg(
    lambda i: lambda t, ans, axis, *xs: stack_(axis, *[t if j == i - 1 else _zeros_of(x, t)
                                                       for j, x in enumerate(xs)]))


def _zeros_of(x, like):
    from ..autograd.batching import physical_raw

    # zeros of x's (logical) shape where x lives; x may be batched (vmap, jacfwd)
    return xp_of(physical_raw(x)).zeros(tuple(x.shape), dtype=like.dtype)


def _one_hot_concat(t, ans, axis, xs, i):
    return concatenate_(axis, *[t if j == i else _zeros_of(x, t) for j, x in enumerate(xs)])
