"""PyTorch's ``grid_sample`` and ``affine_grid`` (spatial transformers' sampling), for 4-D
(N, C, H, W) and 5-D (N, C, D, H, W) inputs.

Per spatial axis the sampling coordinate is a differentiable function of the grid (unnormalise,
then clip or reflect for the padding modes); the integer tap positions are ``floor``/``rint`` of
its value (constants of the graph); the tap weights are polynomials of the fractional part
(linear or Keys' cubic). The taps of all axes are combined by broadcasting into T corners (4
bilinear, 8 trilinear, 16 bicubic, 1 nearest) with weights ``w`` (T, N, P), differentiable
functions of the grid, and positions ``rows`` (T, N, P), constants. The sampling itself,
``out[n, c, p] = sum_t w[t, n, p] * x[n, c, rows[t, n, p]]``, is one primitive (``_tap_sum``)
instead of a gather of T * C * P values and a product: it is one of the three partial
derivatives of the trilinear form ``sum x[n, c, rows] * w * g[n, c, p]``, and the other two
(``_tap_spread``, the scatter for the input's gradient, and ``_tap_dot``, the weights'
gradient) are primitives too, so every rule of the three is one call of another of them: all
orders of derivative in both modes come for free. Star-imported into
``tensorgrad.nn.functional``.
"""

import math

import numpy as np

from ..backend.device import device_of, xp_of
from ..ops import elementwise as _ew
from ..ops.index import getitem as _getitem
from ..ops.linalg import matmul as _matmul
from ..ops.registry import defjvp, defvjp, primitive
from ..ops.shape import reshape as _reshape
from ..ops.shape import stack_ as _stack
from ..ops.shape import transpose as _transpose
from ..tensor import _raw

__all__ = ["grid_sample", "affine_grid"]

_MODES = ("bilinear", "nearest", "bicubic")
_PADDINGS = ("zeros", "border", "reflection")
_CUBIC_A = -0.75  # PyTorch's (and OpenCV's) bicubic convolution constant


def _shape(x):
    return tuple(x.shape)


# ---- one spatial axis: coordinates and taps ---------------------------------------------------
def _unnormalize(coord, size, align_corners):
    """[-1, 1] -> pixel coordinates: -1 and 1 are the centres of the corner pixels with
    ``align_corners``, their outer edges without."""
    if align_corners:
        return (coord + 1) / 2 * (size - 1)
    return ((coord + 1) * size - 1) / 2


def _clip(ix, size):
    """``ix`` clipped to [0, size - 1]; the gradient is 1 strictly inside, 0 on and beyond the
    borders (PyTorch's choice at the borders)."""
    raw = _raw(ix)
    xp = xp_of(raw)
    inside = (raw > 0) & (raw < size - 1)
    return _ew.where(inside, ix, xp.clip(raw, 0, size - 1).astype(raw.dtype))


def _reflect(ix, twice_low, twice_high):
    """``ix`` reflected about the bounds ``twice_low / 2`` and ``twice_high / 2`` until it lies
    between them; the gradient is +1 or -1 by the number of reflections (0 when the bounds
    coincide)."""
    raw = _raw(ix)
    xp = xp_of(raw)
    if twice_low == twice_high:
        return _ew.where(xp.zeros(raw.shape, dtype=bool), ix, xp.zeros_like(raw))
    low = twice_low / 2
    span = (twice_high - twice_low) / 2
    shifted = ix - low
    dist = _ew.where(_raw(shifted) < 0, -shifted, shifted)
    flips = xp.floor(_raw(dist) / span)
    extra = dist - (flips * span).astype(raw.dtype)
    even = flips % 2 == 0
    return _ew.where(even, extra + low, span - extra + low)


def _pad_coord(ix, size, padding_mode, align_corners):
    """The source coordinate after the padding mode (bilinear and nearest sampling)."""
    if padding_mode == "border":
        return _clip(ix, size)
    if padding_mode == "reflection":
        if align_corners:
            ix = _reflect(ix, 0, 2 * (size - 1))
        else:
            ix = _reflect(ix, -1, 2 * size - 1)
        return _clip(ix, size)
    return ix


def _pad_index(idx, size, padding_mode, align_corners):
    """Integer tap positions (as floats) after the padding mode: bicubic sampling pads each of
    its taps, not the source coordinate."""
    if padding_mode == "zeros":
        return idx
    xp = xp_of(idx)
    if padding_mode == "reflection":
        idx = _raw(_reflect(idx, 0, 2 * (size - 1)) if align_corners else
                   _reflect(idx, -1, 2 * size - 1))
    return xp.clip(idx, 0, size - 1)


def _cubic_weights(t):
    """Keys' cubic-convolution weights of the taps at -1, 0, 1, 2 for the fraction ``t``."""
    a = _CUBIC_A

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    s = 1 - t
    return [far(t + 1), near(t), near(s), far(s + 1)]


def _axis_taps(coord, size, mode, padding_mode, align_corners):
    """(positions, in_bounds, weights) of one axis' taps, each stacked along a new first axis:
    int64 positions clipped into [0, size - 1], whether each tap lies inside the input (raw
    arrays, constants of the graph), and the weights (a differentiable function of ``coord``;
    None for nearest)."""
    ix = _unnormalize(coord, size, align_corners)
    raw = _raw(ix)
    xp = xp_of(raw)
    if mode == "bicubic":
        base = xp.floor(raw)
        pos = xp.stack([_pad_index(base + k, size, padding_mode, align_corners)
                        for k in (-1, 0, 1, 2)])
        weights = _stack(0, *_cubic_weights(ix - base))
    else:
        ix = _pad_coord(ix, size, padding_mode, align_corners)
        raw = _raw(ix)
        if mode == "nearest":
            pos = xp.rint(raw)[None]  # round half to even, as PyTorch's nearbyint
            weights = None
        else:
            base = xp.floor(raw)
            pos = xp.stack([base, base + 1])
            frac = ix - base
            weights = _stack(0, 1 - frac, frac)
    inside = (pos >= 0) & (pos <= size - 1)
    return xp.clip(pos, 0, size - 1).astype(xp.int64), inside, weights


# ---- the sampling primitives ------------------------------------------------------------------
# x (N, C, S): the input, its pixels flattened; w (T, N, P): the corners' weights; g (N, C, P):
# an output-shaped array; rows (T, N, P) int64: ``n * S + s`` for the pixel s of corner t of
# point p of sample n, a constant of the graph (passed as the keyword ``rows``). The trilinear
# form sum x[n, c, rows] * w * g has three partial derivatives, one primitive each; each is
# linear in both of its arguments, so its JVP is itself with a tangent in one argument's place.
def _by_pixel(x):
    """x (N, C, S) as rows (N * S, C): C innermost, so that one row gather moves the C values
    of a pixel at once (a gather of single elements is 10x slower)."""
    n, c, s = x.shape
    return xp_of(x).ascontiguousarray(x.transpose(0, 2, 1)).reshape(n * s, c)


def _corners(x, rows):
    """The values of each corner t in turn, (N, P, C): one corner at a time keeps the
    temporaries in cache (all T at once is 2x slower for bicubic's 16)."""
    xp = xp_of(x)
    by_pixel = _by_pixel(x)
    _, n, p = rows.shape
    for t in range(rows.shape[0]):
        yield t, xp.take(by_pixel, rows[t].reshape(-1), axis=0).reshape(n, p, x.shape[1])


@primitive
def _tap_sum(x, w, *, rows):
    """out[n, c, p] = sum_t w[t, n, p] * x[n, c, rows[t, n, p] - n * S]: the sampling (w None
    means weights 1)."""
    out = None
    for t, v in _corners(x, rows):
        if w is not None and w.dtype == v.dtype:
            v *= w[t][..., None]  # v is a fresh gather: in place
        elif w is not None:
            v = v * w[t][..., None]
        if out is None:
            out = v
        else:
            out += v
    return xp_of(x).ascontiguousarray(out.transpose(0, 2, 1))


@primitive
def _tap_dot(x, g, *, rows):
    """out[t, n, p] = sum_c x[n, c, rows[t, n, p] - n * S] * g[n, c, p]: the weights'
    gradient."""
    xp = xp_of(x)
    by_point = xp.ascontiguousarray(g.transpose(0, 2, 1))
    return xp.stack([xp.einsum("npc,npc->np", v, by_point) for _, v in _corners(x, rows)])


@primitive
def _tap_spread(g, w, *, rows, pixels):
    """out[n, c, s] = sum over (t, p) with rows[t, n, p] = n * S + s of w[t, n, p] * g[n, c, p]
    (S = ``pixels``; w None means weights 1): the input's gradient, a scatter-add."""
    xp = xp_of(g)
    n, c, _ = g.shape
    dtype = g.dtype if w is None else xp.result_type(g, w)
    flat = rows.reshape(-1)
    if xp is np and dtype.kind == "f":
        # one bincount per channel over (n, s): 5x faster than add.at of the (T, N, P, C)
        # products, 3x faster than one bincount over (n, s, c) (the counts stay in cache)
        out = np.empty((n, c, pixels), dtype=dtype)
        for j in range(c):
            part = np.broadcast_to(g[:, j] if w is None else w * g[:, j], rows.shape)
            total = np.bincount(flat, weights=part.reshape(-1), minlength=n * pixels)
            out[:, j] = total.reshape(n, pixels)
        return out
    # CuPy (bincount would sync with the host) and complex data: add.at of whole rows
    out = xp.zeros((n * pixels, c), dtype=dtype)
    part = g[None] if w is None else w[:, :, None] * g[None]  # (T, N, C, P)
    part = xp.broadcast_to(part, rows.shape[:2] + g.shape[1:]).transpose(0, 1, 3, 2)
    xp.add.at(out, flat, part.reshape(flat.shape[0], c))
    return xp.ascontiguousarray(out.reshape(n, pixels, c).transpose(0, 2, 1))


def _pixels(x):
    return x.shape[2]


defvjp(_tap_sum,
       lambda g, ans, x, w, *, rows: _tap_spread(g, w, rows=rows, pixels=_pixels(x)),
       lambda g, ans, x, w, *, rows: _tap_dot(x, g, rows=rows))
defjvp(_tap_sum,
       lambda t, ans, x, w, *, rows: _tap_sum(t, w, rows=rows),
       lambda t, ans, x, w, *, rows: _tap_sum(x, t, rows=rows))
defvjp(_tap_dot,
       lambda u, ans, x, g, *, rows: _tap_spread(g, u, rows=rows, pixels=_pixels(x)),
       lambda u, ans, x, g, *, rows: _tap_sum(x, u, rows=rows))
defjvp(_tap_dot,
       lambda t, ans, x, g, *, rows: _tap_dot(t, g, rows=rows),
       lambda t, ans, x, g, *, rows: _tap_dot(x, t, rows=rows))
defvjp(_tap_spread,
       lambda u, ans, g, w, *, rows, pixels: _tap_sum(u, w, rows=rows),
       lambda u, ans, g, w, *, rows, pixels: _tap_dot(u, g, rows=rows))
defjvp(_tap_spread,
       lambda t, ans, g, w, *, rows, pixels: _tap_spread(t, w, rows=rows, pixels=pixels),
       lambda t, ans, g, w, *, rows, pixels: _tap_spread(g, t, rows=rows, pixels=pixels))


# ---- grid_sample ------------------------------------------------------------------------------
def _check_sample_args(input, grid, mode, padding_mode):
    op = "grid_sample"
    if mode not in _MODES:
        raise ValueError(f"{op}: mode must be one of {_MODES}, got {mode!r}")
    if padding_mode not in _PADDINGS:
        raise ValueError(f"{op}: padding_mode must be one of {_PADDINGS}, got {padding_mode!r}")
    if input.ndim not in (4, 5):
        raise ValueError(f"{op}: input must be 4-D (N, C, H, W) or 5-D (N, C, D, H, W), got "
                         f"shape {_shape(input)}")
    k = input.ndim - 2
    names = "(N, H_out, W_out, 2)" if k == 2 else "(N, D_out, H_out, W_out, 3)"
    if grid.ndim != input.ndim or grid.shape[-1] != k:
        raise ValueError(f"{op}: grid must be {names} for an input of shape {_shape(input)}, "
                         f"got shape {_shape(grid)}")
    if grid.shape[0] != input.shape[0]:
        raise ValueError(f"{op}: grid's batch size {grid.shape[0]} (shape {_shape(grid)}) must "
                         f"equal input's {input.shape[0]} (shape {_shape(input)})")
    if mode == "bicubic" and k != 2:
        raise ValueError(f"{op}: mode 'bicubic' needs a 4-D input (N, C, H, W), got shape "
                         f"{_shape(input)}")
    if min(input.shape[2:]) <= 0:
        raise ValueError(f"{op}: input's spatial dimensions must be non-empty, got shape "
                         f"{_shape(input)}")
    on_input, on_grid = device_of(_raw(input)), device_of(_raw(grid))
    if on_input != on_grid:
        raise RuntimeError(f"{op}: input (shape {_shape(input)}) is on {on_input} and grid "
                           f"(shape {_shape(grid)}) on {on_grid}; move both to one device "
                           f"with .to(device)")
    if input.dtype != grid.dtype:
        raise ValueError(f"{op}: input ({input.dtype}, shape {_shape(input)}) and grid "
                         f"({grid.dtype}, shape {_shape(grid)}) must have the same dtype")


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    """Sample ``input`` (N, C, H, W) at the points of ``grid`` (N, H_out, W_out, 2), or
    (N, C, D, H, W) at (N, D_out, H_out, W_out, 3), as PyTorch's: the grid's last axis holds
    (x, y[, z]) in [-1, 1] across the input's (W, H[, D]). ``mode``: "bilinear" (trilinear on
    5-D), "nearest" or "bicubic" (4-D only); ``padding_mode``: "zeros", "border" or
    "reflection" for points outside; ``align_corners`` (None means False): whether -1 and 1
    are the centres of the corner pixels rather than their outer edges. Differentiable in
    ``input`` and ``grid``, to any order (the gradient with respect to the grid is piecewise
    smooth: it jumps where a point crosses a pixel; "nearest" gives the grid none, so there
    ``grid.grad`` stays None where PyTorch's is zeros). Taps outside the input are weighted by
    0, so an inf or NaN in the input's edge pixels reaches points outside that PyTorch
    would set to 0.

    >>> import tensorgrad as tg
    >>> x = tg.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])
    >>> grid = tg.tensor([[[[0.0, 0.0], [1.0, -1.0]]]])
    >>> tg.nn.functional.grid_sample(x, grid, align_corners=True).tolist()
    [[[[1.5, 1.0]]]]
    """
    _check_sample_args(input, grid, mode, padding_mode)
    align_corners = bool(align_corners)
    n, c = input.shape[:2]
    sizes = tuple(input.shape[2:])
    out_sizes = tuple(grid.shape[1:-1])
    k = len(sizes)
    xp = xp_of(_raw(input))
    # per axis in the input's order (D, H, W), whose coordinate is grid[..., k - 1 - axis]
    taps = [_axis_taps(_getitem(grid, (Ellipsis, k - 1 - d)), sizes[d], mode, padding_mode,
                       align_corners) for d in range(k)]
    # all corners by broadcasting: axis d's taps go to leading axis d of k, before (N, *out);
    # the rows start from each sample's first pixel
    rows = xp.arange(n, dtype=xp.int64) * math.prod(sizes)
    rows = rows.reshape((1,) * k + (n,) + (1,) * k)
    weight = None
    stride = 1
    for d in reversed(range(k)):
        pos, ok, w = taps[d]
        lead = (1,) * d + (pos.shape[0],) + (1,) * (k - 1 - d)
        rows = rows + pos.reshape(lead + pos.shape[1:]) * stride
        stride *= sizes[d]
        if padding_mode == "zeros":
            # taps outside weigh 0, axis by axis (the other modes clip the taps inside; a tap
            # they clip has weight 0 and a gradient 0 already, so needs no mask)
            ok = ok.astype(_raw(input).dtype)
            w = ok if w is None else w * ok
        if w is not None:
            w = _reshape(w, lead + _shape(w)[1:])
            weight = w if weight is None else weight * w
    corners = math.prod(pos.shape[0] for pos, _, _ in taps)
    rows = rows.reshape(corners, n, math.prod(out_sizes))
    if weight is not None:
        weight = _reshape(weight, rows.shape)
    out = _tap_sum(_reshape(input, (n, c, stride)), weight, rows=rows)
    return _reshape(out, (n, c) + out_sizes)


# ---- affine_grid ------------------------------------------------------------------------------
def _base_coords(steps, align_corners, xp, dtype):
    """The pixel centres of one axis in [-1, 1]."""
    if steps <= 1:
        return xp.zeros(steps, dtype=dtype)
    r = xp.linspace(-1.0, 1.0, steps, dtype=xp.float64)
    if not align_corners:
        r = r * ((steps - 1) / steps)
    return r.astype(dtype)


def affine_grid(theta, size, align_corners=None):
    """The sampling grid of the affine maps ``theta``: (N, 2, 3) for ``size`` (N, C, H, W),
    giving (N, H, W, 2); (N, 3, 4) for (N, C, D, H, W), giving (N, D, H, W, 3); for
    ``grid_sample``. Differentiable in ``theta``; ``align_corners`` (None means False) as
    there.

    >>> import tensorgrad as tg
    >>> theta = tg.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    >>> tg.nn.functional.affine_grid(theta, (1, 1, 1, 2), align_corners=True).tolist()
    [[[[-1.0, 0.0], [1.0, 0.0]]]]
    """
    op = "affine_grid"
    size = tuple(int(s) for s in size)
    if len(size) not in (4, 5):
        raise ValueError(f"{op}: size must be (N, C, H, W) or (N, C, D, H, W), got {size}")
    k = len(size) - 2
    if min(size) <= 0:
        raise ValueError(f"{op}: size must be positive, got {size}")
    if theta.ndim != 3 or _shape(theta) != (size[0], k, k + 1):
        raise ValueError(f"{op}: theta must have shape (N, {k}, {k + 1}) = "
                         f"{(size[0], k, k + 1)} for size {size}, got {_shape(theta)}")
    raw = _raw(theta)
    if raw.dtype.kind != "f":
        raise ValueError(f"{op}: theta must be floating point, got {raw.dtype} (shape "
                         f"{_shape(theta)})")
    xp = xp_of(raw)
    align_corners = bool(align_corners)
    spatial = size[2:]
    # homogeneous coordinates (x, y[, z], 1) of every output point, x along the last axis
    axes = [_base_coords(s, align_corners, xp, raw.dtype) for s in spatial]
    mesh = xp.meshgrid(*axes, indexing="ij")
    cols = [mesh[d] for d in reversed(range(k))] + [xp.ones(spatial, dtype=raw.dtype)]
    base = xp.stack(cols, axis=-1).reshape(-1, k + 1)
    grid = _matmul(base, _transpose(theta, (0, 2, 1)))  # (N, points, k)
    return _reshape(grid, (size[0],) + spatial + (k,))

