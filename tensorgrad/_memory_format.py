"""PyTorch's memory formats: ``tg.memory_format`` and its instances ``tg.contiguous_format``,
``tg.channels_last``, ``tg.channels_last_3d`` and ``tg.preserve_format``.

A tensor's data is a NumPy/CuPy array, which has strides; a channels_last tensor keeps its
logical NCHW shape while its elements lie in NHWC order: an array made C-contiguous in the
permuted order (0, 2, 3, 1) and transposed back, so ``stride()`` reads as PyTorch's
``(H*W*C, 1, W*C, C)``. Every op reads values, not layouts, so any layout gives the same
results; the layout only decides the speed of the kernels that read it.

``preserve_format`` follows PyTorch: a tensor whose elements fill its memory without gaps or
overlaps keeps its exact strides; any other (a sliced, expanded or flipped one) gets the layout
PyTorch's ``suggest_memory_format`` picks from its strides (channels_last or row-major).
Tensors of no elements: NumPy and CuPy give them all-zero strides, so every layout test answers
True for them (PyTorch's answer can differ there).

>>> import tensorgrad as tg
>>> x = tg.zeros(2, 3, 4, 5).contiguous(memory_format=tg.channels_last)
>>> x.stride(), x.is_contiguous(), x.is_contiguous(memory_format=tg.channels_last)
((60, 1, 15, 3), False, True)
>>> tg.channels_last
tensorgrad.channels_last
"""


class memory_format:
    """The type of ``tg.contiguous_format``, ``tg.channels_last``, ``tg.channels_last_3d`` and
    ``tg.preserve_format`` (PyTorch's ``torch.memory_format``); no other instances exist."""

    __slots__ = ("_name",)

    def __new__(cls, *args, **kwargs):
        raise TypeError("cannot create 'tensorgrad.memory_format' instances")

    @classmethod
    def _make(cls, name):
        fmt = object.__new__(cls)
        fmt._name = name
        return fmt

    def __repr__(self):
        return f"tensorgrad.{self._name}"

    def __reduce__(self):
        return self._name  # copies and pickles are the module's own object


memory_format.__module__ = "tensorgrad"

contiguous_format = memory_format._make("contiguous_format")
channels_last = memory_format._make("channels_last")
channels_last_3d = memory_format._make("channels_last_3d")
preserve_format = memory_format._make("preserve_format")
legacy_contiguous_format = contiguous_format  # PyTorch's alias: the same object

# rank required, and the order (outermost first) in which the dimensions lie in memory
_PERMS = {channels_last: (4, (0, 2, 3, 1)), channels_last_3d: (5, (0, 2, 3, 4, 1))}

__all__ = ["memory_format", "contiguous_format", "channels_last", "channels_last_3d",
           "preserve_format", "legacy_contiguous_format"]


def check(fmt, op):
    """``fmt`` if it is a memory format, else a TypeError naming ``op`` and the argument."""
    if type(fmt) is not memory_format:
        raise TypeError(
            f"{op}(): argument 'memory_format' must be tensorgrad.memory_format "
            "(tensorgrad.contiguous_format, channels_last, channels_last_3d or preserve_format), "
            f"not {type(fmt).__name__} {fmt!r}")
    return fmt


def _format_perm(fmt, shape, op):
    """The memory order of the dimensions for channels_last(_3d), checking the rank as
    PyTorch does."""
    rank, perm = _PERMS[fmt]
    if len(shape) != rank:
        raise RuntimeError(f"{op}(): required rank {rank} tensor to use {fmt._name} format, "
                           f"got a tensor of shape {tuple(shape)}")
    return perm


def is_contiguous(a, fmt, op="is_contiguous"):
    """PyTorch's ``is_contiguous(memory_format=fmt)`` of the array ``a``: dimensions of size 1
    may have any stride; channels_last asked of a tensor not of rank 4 is False."""
    if fmt is contiguous_format or fmt is preserve_format:
        return bool(a.flags.c_contiguous)
    check(fmt, op)
    rank, perm = _PERMS[fmt]
    if a.ndim != rank:
        return False
    if a.size == 0:
        return True
    expected = a.itemsize
    for d in reversed(perm):
        n = a.shape[d]
        if n != 1:
            if a.strides[d] != expected:
                return False
            expected *= n
    return True


def _strides_like(a, fmt):
    """PyTorch's ``is_channels_last_strides_2d``/``_3d``: do ``a``'s strides (gaps allowed)
    look like the format's order? Ambiguous cases (size-1 channels) are read as row-major."""
    rank, perm = _PERMS[fmt]
    if a.ndim != rank:
        return False
    st, shape = a.strides, a.shape
    if st[1] == 0:
        return False
    low = 0
    for d in reversed(perm):
        if shape[d] == 0 or st[d] < low:
            return False
        if d == 0 and low == st[1]:
            return False
        low = st[d] * shape[d] if shape[d] > 1 else st[d]
    return True


def suggest(a):
    """PyTorch's ``suggest_memory_format`` of the array ``a``."""
    if a.ndim == 4 and _strides_like(a, channels_last):
        return channels_last
    if a.ndim == 5 and _strides_like(a, channels_last_3d):
        return channels_last_3d
    return contiguous_format


def _dense_perm(a):
    """The dimensions of ``a`` from the largest stride to the smallest when its elements fill
    its memory with no gap and no overlap (PyTorch's non-overlapping-and-dense); else None."""
    st = a.strides
    perm = sorted(range(a.ndim), key=lambda i: -st[i])  # stable: ties keep their order
    expected = a.itemsize
    for d in reversed(perm):
        n = a.shape[d]
        if n != 1:
            if st[d] != expected:
                return None
            expected *= n
    return tuple(perm)


def target(a, fmt, op):
    """The memory order (a permutation, None for row-major) of a copy of the array ``a`` in
    format ``fmt`` (None: preserve)."""
    if fmt is None or fmt is preserve_format:
        if a.flags.c_contiguous:
            return None
        perm = _dense_perm(a)
        if perm is not None:
            return None if perm == tuple(range(a.ndim)) else perm
        fmt = suggest(a)
    if fmt is contiguous_format:
        return None
    check(fmt, op)
    return _format_perm(fmt, a.shape, op)


def _inverse(perm):
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


def _relayout():
    # imported here: the registry imports tensor.py, which imports this module
    from .ops.shape import relayout

    return relayout


def copy_to(t, fmt, op):
    """A differentiable copy of the Tensor ``t`` in format ``fmt`` (None: preserve)."""
    return _relayout()(t, target(t.data, fmt, op))


def contiguous(t, fmt):
    """``Tensor.contiguous(memory_format=fmt)``: ``t`` itself when it is contiguous in that
    format, else a copy in it."""
    check(fmt, "contiguous")
    if is_contiguous(t.data, fmt):
        return t
    if fmt is preserve_format:
        raise RuntimeError("contiguous(): preserve memory format is unsupported by the "
                           "contiguous operator")
    return copy_to(t, fmt, "contiguous")


def to(t, out, fmt, copy):
    """The memory-format step of ``Tensor.to``: ``out`` is ``t`` after the dtype and device
    steps. As PyTorch: with nothing else to do, ``t`` itself when ``fmt`` is preserve or the
    format its strides suggest."""
    check(fmt, "to")
    if out is t:
        if not copy and (fmt is preserve_format or suggest(t.data) is fmt):
            return t
        return copy_to(t, fmt, "to")
    if fmt is preserve_format:
        return like(out, t.data, "to")
    perm = target(out.data, fmt, "to")
    if out is not t and _has_order(out.data, perm):
        return out  # the dtype/device step made a fresh array, already in place
    return _relayout()(out, perm)


def like(out, source, op):
    """``out`` (a fresh Tensor made from the array ``source``) laid out as ``source`` is, for
    ``preserve_format``: a device copy by CuPy comes back row-major."""
    perm = target(source, preserve_format, op)
    if _has_order(out.data, perm):
        return out
    return _relayout()(out, perm)


def _has_order(a, perm):
    if perm is None:
        return bool(a.flags.c_contiguous)
    return bool(a.transpose(perm).flags.c_contiguous)


def empty_order(shape, fmt, op):
    """The memory order of a new tensor of ``shape`` made in format ``fmt`` (``tg.empty``)."""
    if fmt is contiguous_format:
        return None
    check(fmt, op)
    if fmt is preserve_format:
        raise RuntimeError(f"{op}(): unsupported memory format Preserve")
    return _format_perm(fmt, shape, op)


def like_order(x, fmt, op):
    """The memory order of a new tensor made like the Tensor or array ``x`` in format ``fmt``
    (``*_like``: preserve keeps ``x``'s layout)."""
    if fmt is not preserve_format:
        return empty_order(x.shape, fmt, op)
    a = x if hasattr(x, "flags") else x.data  # an array, or a Tensor's array
    return None if a.flags.c_contiguous else target(a, preserve_format, op)


def follow(out, *arrays):
    """The 4-d Tensor ``out`` of a convolution laid out channels_last when one of the op's
    4-d input arrays (the input or the weight) suggests channels_last, as PyTorch's
    convolutions do; else ``out`` itself."""
    data = out if hasattr(out, "flags") else out.data  # a raw array inside a rule, or a Tensor
    if out.ndim != 4 or not hasattr(data, "flags") or is_contiguous(data, channels_last):
        return out
    if any(hasattr(a, "flags") and a.ndim == 4 and suggest(a) is channels_last for a in arrays):
        return _relayout()(out, _PERMS[channels_last][1])
    return out


def grad_like(g, param):
    """The gradient array ``g`` laid out as its leaf's array ``param`` when that is not
    row-major (PyTorch's AccumulateGrad layout contract: a new ``.grad`` takes the strides of
    a dense parameter, so a channels_last weight gets a channels_last gradient)."""
    if getattr(g, "shape", None) != param.shape or param.ndim < 2:
        return g
    perm = target(param, preserve_format, "backward")
    if perm is None or _has_order(g, perm):
        return g
    return unpermute(g.transpose(perm).copy(), perm)


def permuted_shape(shape, perm):
    return tuple(shape[p] for p in perm)


def unpermute(a, perm):
    """The array ``a`` made in the permuted shape, viewed back in the logical order."""
    return a.transpose(_inverse(perm))
