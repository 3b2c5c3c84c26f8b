"""The last of PyTorch's ``torch.nn.functional`` pooling functions: fractional max pooling
(2-D and 3-D, with and without indices) and ``adaptive_max_pool3d_with_indices``.

Fractional max pooling (Graham, 2014) takes the max over ``kernel_size`` windows whose start
positions advance by a pseudo-random step of floor(alpha) or ceil(alpha), alpha =
(input - kernel) / (output - 1), one sample u in [0, 1) per (sample, channel, axis) choosing
the sequence: start_i = int((i + u) alpha) - int(u alpha), the last window flush with the end.
That is PyTorch's formula, computed in the input's dtype as PyTorch does, so the same
``_random_samples`` give the same windows, values and indices. As in the max pools with
indices of ``_functional_extra_a``, the argmax is chosen on the raw arrays and the value is
gathered with ``take_along_axis``: the gradient goes to that one element, derivatives of every
order. Star-imported into ``tensorgrad.nn.functional``.
"""

import numpy as np

from ..backend.device import xp_of
from ..ops.shape import reshape as _reshape
from ..tensor import _raw
from ._functional_conv_attn import _tuple
from ._functional_extra_a import _adaptive_with_indices, _take_along_axis, _tensor_of

__all__ = ["fractional_max_pool2d", "fractional_max_pool3d",
           "fractional_max_pool2d_with_indices", "fractional_max_pool3d_with_indices",
           "adaptive_max_pool3d_with_indices"]


def _shape(x):
    return tuple(x.shape)


def _fractional_sizes(input, d, output_size, output_ratio, op):
    spatial = _shape(input)[input.ndim - d:]
    if output_size is None and output_ratio is None:
        raise ValueError(f"{op}: give either output_size or output_ratio")
    if output_size is not None and output_ratio is not None:
        raise ValueError(f"{op}: give only one of output_size ({output_size!r}) and "
                         f"output_ratio ({output_ratio!r})")
    if output_size is not None:
        return _tuple(output_size, d, "output_size", op)
    ratio = (float(output_ratio),) * d if isinstance(output_ratio, (int, float, np.number)) \
        else tuple(float(r) for r in output_ratio)
    if len(ratio) != d:
        raise ValueError(f"{op}: output_ratio must be a number or {d} numbers, got "
                         f"{output_ratio!r}")
    return tuple(int(n * r) for n, r in zip(spatial, ratio, strict=True))


def _starts(u, n, o, k):
    """(P, o) window starts along one axis for the P samples ``u`` (PyTorch's
    ``generate_intervals``, in the samples' dtype)."""
    xp = xp_of(u)
    dtype = u.dtype.type
    last = xp.full((u.shape[0], 1), n - k, dtype=np.int64)
    if o == 1:
        return last
    alpha = dtype(n - k) / dtype(o - 1)
    i = xp.arange(o - 1, dtype=u.dtype)
    seq = ((i[None, :] + u[:, None]) * alpha).astype(np.int64) - \
        (u * alpha).astype(np.int64)[:, None]
    return xp.concatenate([seq, last], axis=1)


def _fractional(input, d, kernel_size, output_size, output_ratio, samples, op):
    if input.ndim not in (d + 1, d + 2):
        raise ValueError(f"{op}: input must have {d + 1} or {d + 2} dimensions, got shape "
                         f"{_shape(input)}")
    raw = _raw(input)
    xp = xp_of(raw)
    if raw.dtype.kind != "f":
        raise TypeError(f"{op}: input must be floating point, got dtype {raw.dtype}")
    if samples is None:  # as PyTorch: U[0, 1) of shape (batch, channels, d), input's dtype
        from .. import creation

        batch = input.shape[0] if input.ndim == d + 2 else 1
        samples = creation.rand(batch, input.shape[-d - 1], d, dtype=raw.dtype,
                                device=input.device)
    kernel = _tuple(kernel_size, d, "kernel_size", op)
    sizes = _fractional_sizes(input, d, output_size, output_ratio, op)
    spatial = _shape(input)[input.ndim - d:]
    if min(kernel) <= 0 or min(sizes) <= 0:
        raise ValueError(f"{op}: kernel_size {kernel} and output size {sizes} must be positive "
                         f"(input shape {_shape(input)})")
    if any(o + k - 1 > n for o, k, n in zip(sizes, kernel, spatial, strict=True)):
        raise ValueError(f"{op}: output size {sizes} with kernel_size {kernel} is too large for "
                         f"input shape {_shape(input)}: need output + kernel - 1 <= input along "
                         f"each of the last {d} dimensions")
    lead = _shape(input)[:input.ndim - d]
    batch = lead[0] if input.ndim == d + 2 else 1
    planes = int(np.prod(lead, dtype=np.int64))
    u = _raw(samples)
    want = (batch, lead[-1], d)
    if u.ndim != 3 or u.shape[0] < batch or tuple(u.shape[1:]) != want[1:]:
        raise ValueError(f"{op}: _random_samples must have shape {want} (batch, channels, {d}; "
                         f"a larger batch is allowed, its first {batch} used) for input shape "
                         f"{_shape(input)}, got {tuple(u.shape)}")
    u = u[:batch]  # PyTorch takes the first rows of a larger batch of samples
    if u.dtype != raw.dtype:
        raise TypeError(f"{op}: _random_samples must have the input's dtype {raw.dtype}, got "
                        f"{u.dtype}")
    if xp_of(u) is not xp:
        raise RuntimeError(f"{op}: _random_samples must be on the input's device "
                           f"({input.device}); move them with .to(input.device)")
    if d == 2:
        u = u[..., ::-1]  # PyTorch's order is (W, H); ours follows the axes
    u = u.reshape(planes, d)
    # per axis: the (P, o, k) input positions of every window of every plane
    pos = []
    for a in range(d):
        start = _starts(xp.ascontiguousarray(u[:, a]), spatial[a], sizes[a], kernel[a])
        pos.append(start[:, :, None] + xp.arange(kernel[a], dtype=np.int64)[None, None, :])
    index = [xp.arange(planes).reshape((planes,) + (1,) * (2 * d))]
    for a, p in enumerate(pos):
        # (P, o, k) -> (P, 1.., o at 1 + a, 1.., k at 1 + d + a, 1..)
        index.append(p.reshape([planes] + [sizes[a] if i == a else 1 for i in range(d)] +
                               [kernel[a] if i == a else 1 for i in range(d)]))
    windows = raw.reshape((planes,) + spatial)[tuple(index)]  # (P, *sizes, *kernel)
    # sizes written out, not -1: an empty batch has no planes to infer them from
    window = int(np.prod(kernel, dtype=np.int64))
    best = xp.argmax(windows.reshape((planes,) + sizes + (window,)), axis=-1)  # (P, *sizes)
    flat = xp.zeros(best.shape, dtype=np.int64)
    rest = best
    for a in reversed(range(d)):
        offset = rest % kernel[a]
        rest = rest // kernel[a]
        view = [planes] + [sizes[a] if i == a else 1 for i in range(d)]
        row = pos[a][:, :, 0].reshape(view)  # the window's start along axis a
        flat = flat + (row + offset) * int(np.prod(spatial[a + 1:], dtype=np.int64))
    flat = flat.reshape(lead + sizes)
    plane = int(np.prod(spatial, dtype=np.int64))
    values = _take_along_axis(_reshape(input, lead + (plane,)),
                              flat.reshape(lead + (int(np.prod(sizes, dtype=np.int64)),)), -1)
    return _reshape(values, lead + sizes), _tensor_of(flat, input)


def fractional_max_pool2d_with_indices(input, kernel_size, output_size=None, output_ratio=None,
                                       return_indices=False, _random_samples=None):
    """Fractional max pooling of (N, C, H, W) or (C, H, W) to ``output_size`` (or
    ``output_ratio`` times the input's size) and the flat (h W + w) index of each maximum.
    ``_random_samples`` (N, C, 2) in [0, 1) fix the windows (entry 0 for W, 1 for H, as
    PyTorch's); by default they are drawn from tensorgrad's generator of the input's device.

    >>> import tensorgrad as tg
    >>> x = tg.arange(25.0).reshape(1, 1, 5, 5)
    >>> u = tg.full((1, 1, 2), 0.5)
    >>> F = tg.nn.functional
    >>> out, idx = F.fractional_max_pool2d_with_indices(x, 2, 3, _random_samples=u)
    >>> idx.tolist()
    [[[[6, 8, 9], [16, 18, 19], [21, 23, 24]]]]
    """
    return _fractional(input, 2, kernel_size, output_size, output_ratio, _random_samples,
                       "fractional_max_pool2d")


def fractional_max_pool2d(input, kernel_size, output_size=None, output_ratio=None,
                          return_indices=False, _random_samples=None):
    """Fractional max pooling of (N, C, H, W) or (C, H, W) (PyTorch's
    ``F.fractional_max_pool2d``); with ``return_indices`` (output, indices).

    >>> import tensorgrad as tg
    >>> tg.nn.functional.fractional_max_pool2d(tg.ones(2, 3, 7, 7), 3, output_ratio=0.5).shape
    (2, 3, 3, 3)
    """
    out, idx = fractional_max_pool2d_with_indices(input, kernel_size, output_size, output_ratio,
                                                  return_indices, _random_samples)
    return (out, idx) if return_indices else out


def fractional_max_pool3d_with_indices(input, kernel_size, output_size=None, output_ratio=None,
                                       return_indices=False, _random_samples=None):
    """Fractional max pooling of (N, C, D, H, W) or (C, D, H, W) and the flat index over
    D * H * W of each maximum; ``_random_samples`` (N, C, 3) are for D, H, W in that order
    (PyTorch's)."""
    return _fractional(input, 3, kernel_size, output_size, output_ratio, _random_samples,
                       "fractional_max_pool3d")


def fractional_max_pool3d(input, kernel_size, output_size=None, output_ratio=None,
                          return_indices=False, _random_samples=None):
    """Fractional max pooling of (N, C, D, H, W) or (C, D, H, W) (PyTorch's
    ``F.fractional_max_pool3d``); with ``return_indices`` (output, indices).

    >>> import tensorgrad as tg
    >>> tg.nn.functional.fractional_max_pool3d(tg.ones(1, 2, 6, 6, 6), 2, (3, 4, 5)).shape
    (1, 2, 3, 4, 5)
    """
    out, idx = fractional_max_pool3d_with_indices(input, kernel_size, output_size, output_ratio,
                                                  return_indices, _random_samples)
    return (out, idx) if return_indices else out


def adaptive_max_pool3d_with_indices(input, output_size, return_indices=False):
    """Adaptive max pooling of (N, C, D, H, W) or (C, D, H, W) and the flat index over
    D * H * W of each maximum (PyTorch's windows); None in ``output_size`` keeps that
    dimension.

    >>> import tensorgrad as tg
    >>> out, idx = tg.nn.functional.adaptive_max_pool3d_with_indices(
    ...     tg.arange(8.0).reshape(1, 2, 2, 2), 1)
    >>> out.flatten().tolist(), idx.flatten().tolist()
    ([7.0], [7])
    """
    return _adaptive_with_indices(input, output_size, 3, "adaptive_max_pool3d_with_indices")
