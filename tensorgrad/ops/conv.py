"""Sliding windows for convolution and pooling: ``unfold`` (im2col) and its adjoint ``fold``.

``unfold(x, kernel, stride, padding, dilation, pad_value)`` takes (N, C, H, W) to
(N, C, kh, kw, OH, OW): window (i, j) of output position (oh, ow). Both are linear, each the
other's VJP, so convolutions and pools built from them get derivatives of every order.

On CuPy float32/float64 arrays both run a CUDA kernel (``kernels/im2col.cu``: one launch that
writes the windows, and for ``fold`` a gather in which each pixel adds up its window entries,
deterministic and without atomics) instead of a pad, a strided copy and kh * kw strided adds.
The kernels are these primitives' forward functions, so the rules, and derivatives of every
order, are the same on every device. NumPy arrays keep the code below.

On the host, convolutions use the primitives ``conv2d`` (with bias), ``conv2d_input_grad`` and
``conv2d_weight_grad`` further down instead: GEMMs over shifted views, no im2col matrix.
"""

import math

from ..backend import cuda as _cuda
from ..backend.device import _CUPY_ARRAY, xp_of
from .registry import defjvp, defvjp, primitive
from .shape import broadcast_to, reshape


def out_size(size, k, stride, padding, dilation):
    return (size + 2 * padding - dilation * (k - 1) - 1) // stride + 1


@primitive(saves=False)
def unfold(x, kernel, stride, padding, dilation, pad_value=0.0):
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    if type(x) is _CUPY_ARRAY and x.ndim == 4 and _cuda.fusable(x):
        oh = out_size(x.shape[2], kh, sh, ph, dh)
        ow = out_size(x.shape[3], kw, sw, pw, dw)
        if oh > 0 and ow > 0:
            return _cuda.im2col(x, kernel, stride, padding, dilation, pad_value, oh, ow)
    xp = xp_of(x)
    if ph or pw:
        x = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=pad_value)
    n, c, h, w = x.shape
    oh = (h - dh * (kh - 1) - 1) // sh + 1
    ow = (w - dw * (kw - 1) - 1) // sw + 1
    s0, s1, s2, s3 = x.strides
    # a strided view (CuPy's as_strided takes no ``writeable``), copied at once: nothing writes
    view = xp.lib.stride_tricks.as_strided(
        x, (n, c, kh, kw, oh, ow), (s0, s1, s2 * dh, s3 * dw, s2 * sh, s3 * sw))
    return view.copy()


@primitive(saves=False)
def fold(cols, size, kernel, stride, padding, dilation):
    """The adjoint of ``unfold``: window values added back to the (N, C, H, W) positions they
    came from (overlaps add up); ``size`` is (H, W) before padding."""
    if type(cols) is _CUPY_ARRAY and cols.ndim == 6 and _cuda.fusable(cols) and min(size) > 0:
        return _cuda.col2im(cols, size, kernel, stride, padding, dilation)
    xp = xp_of(cols)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    n, c, _, _, oh, ow = cols.shape
    h, w = size
    out = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                j * dw:j * dw + sw * (ow - 1) + 1:sw] += cols[:, :, i, j]
    return out[:, :, ph:ph + h, pw:pw + w]


defvjp(unfold, lambda g, ans, x, kernel, stride, padding, dilation, pad_value=0.0:
       fold(g, x.shape[2:], kernel, stride, padding, dilation))
defjvp(unfold, lambda t, ans, x, kernel, stride, padding, dilation, pad_value=0.0:
       unfold(t, kernel, stride, padding, dilation, 0.0))
defvjp(fold, lambda g, ans, cols, size, kernel, stride, padding, dilation:
       unfold(g, kernel, stride, padding, dilation, 0.0))
defjvp(fold, lambda t, ans, cols, size, kernel, stride, padding, dilation:
       fold(t, size, kernel, stride, padding, dilation))


# ---- conv2d on the host: GEMMs over shifted views ---------------------------------------------
# unfold + matmul writes kh * kw copies of the input (the im2col matrix) and reads them back,
# and fold adds kh * kw strided slices; on the CPU those copies, not the GEMMs, took most of the
# time. Here the three maps of a convolution are primitives of their own, each a few GEMMs over
# shifted views of a flattened image, batched over the images, a chunk of images at a time so
# that what a chunk touches stays in cache:
#
# - output: the image "expanded by kernel column" (``_Expanded``: kw shifted copies, kw times
#   the input instead of kh kw times), in which kernel row i is a flat shift: one GEMM
#   (OC, kw C) @ (kw C, OH OW) per kernel row;
# - input gradient: the cotangent on the "phase grid" (``_Geometry``): one GEMM
#   (C, OC) @ (OC, Hq Wq) per kernel offset over a shifted view, added up;
# - weight gradient: the expanded image times the cotangent laid out (positions, channels):
#   one GEMM (kw C, OH OW) @ (OH OW, OC) per kernel row.
#
# Each GEMM has the shape OpenBLAS runs fastest among those tried (measured on W5's layers).
# Strides, dilations and paddings change only where the views start; groups are one more batch
# dimension. The rules of the three primitives call each other, so every derivative order stays
# on this path. They run on CuPy arrays too, but ``nn.functional`` sends CuPy data to unfold +
# matmul, whose im2col/col2im CUDA kernels suit a GPU better than many small GEMM launches.

_CHUNK_BYTES = 1 << 19  # what one chunk of images reads and writes stays in L2
_COLS_K = 40  # GEMMs at most this deep in all: gather a small im2col chunk, then one GEMM


class _Geometry:
    """The phase grid of an (H, W) input: phase (a, b) holds the padded pixels
    (r sh + a, t sw + b) at flat index r Wq + t, and kernel offset (i, j) reads phase
    ((i dh) % sh, (j dw) % sw) at flat shift ((i dh) // sh) Wq + (j dw) // sw from output
    position (oh, ow) at oh Wq + ow. Columns ow >= OW of the grid are not outputs."""

    __slots__ = ("oh", "ow", "hq", "wq", "phases", "terms", "smax", "size", "s", "p")

    def __init__(self, size, kernel, stride, padding, dilation):
        (h, w), (kh, kw), (sh, sw), (ph, pw), (dh, dw) = size, kernel, stride, padding, dilation
        self.size, self.s, self.p = (h, w), (sh, sw), (ph, pw)
        self.oh = out_size(h, kh, sh, ph, dh)
        self.ow = out_size(w, kw, sw, pw, dw)
        self.hq = self.oh + (dh * (kh - 1)) // sh
        self.wq = self.ow + (dw * (kw - 1)) // sw
        self.phases = [(a, b) for a in range(sh) for b in range(sw)]
        # (phase index, flat shift) per offset, in weight order (i, j)
        self.terms = [(((i * dh) % sh) * sw + (j * dw) % sw,
                       ((i * dh) // sh) * self.wq + (j * dw) // sw)
                      for i in range(kh) for j in range(kw)]
        self.smax = max(s for _, s in self.terms)

    def bare(self):
        """Is the single phase the image itself (stride 1, no padding)?"""
        return len(self.phases) == 1 and self.p == (0, 0) and (self.hq, self.wq) == self.size

    def _span(self, axis, a, n_q):
        """Phase rows r0:r1 of phase ``a`` along ``axis`` and the input row of r0."""
        s, p, n = self.s[axis], self.p[axis], self.size[axis]
        r0 = max(0, -((a - p) // s))
        r1 = min(n_q, (n - 1 + p - a) // s + 1)
        return r0, max(r0, r1), r0 * s + a - p

    def windows(self):
        """(phase index, phase-grid slices, input slices) of each phase's pixels."""
        for k, (a, b) in enumerate(self.phases):
            r0, r1, y0 = self._span(0, a, self.hq)
            t0, t1, x0 = self._span(1, b, self.wq)
            if r1 > r0 and t1 > t0:
                sh, sw = self.s
                yield (k, (slice(r0, r1), slice(t0, t1)),
                       (slice(y0, y0 + (r1 - r0 - 1) * sh + 1, sh),
                        slice(x0, x0 + (t1 - t0 - 1) * sw + 1, sw)))


def _from_phases(buf, geo, n, c):
    """(N, P, C, Hq Wq) values on the phase grid -> (N, C, H, W) at the pixels they stand for
    (padding dropped)."""
    xp = xp_of(buf)
    if geo.bare():
        return buf[..., :geo.hq * geo.wq].reshape((n, c) + geo.size)
    out = xp.zeros((n, c) + geo.size, dtype=buf.dtype)
    grid = buf[..., :geo.hq * geo.wq].reshape(n, len(geo.phases), c, geo.hq, geo.wq)
    for k, dst, src in geo.windows():
        out[:, :, src[0], src[1]] = grid[:, k, :, dst[0], dst[1]]
    return out


def _chunk(n, per_image_bytes):
    return max(1, min(n, _CHUNK_BYTES // max(1, per_image_bytes)))


def _shifted_gemms(mats, src, terms, length, out, bias=None, src_bytes=0):
    """out[n] = sum over terms (p, s) of mats[t] @ src[n, p, ..., s:s + length] (+ bias, of
    shape (G, M, 1), added while the chunk is in cache).

    ``mats`` (T, G, M, K), ``out`` (N, G, M, length); ``src`` (N, P, G, K, L), or a function
    of (n0, n1) that builds those images' part (``src_bytes`` each) into a buffer that stays in
    cache. A chunk of images at a time. With few GEMM rows per term (T K small, as for a
    1-channel input) the GEMMs would be outer products: then the chunk's windows are gathered
    (a small im2col, in cache too) and multiplied in one GEMM."""
    xp = xp_of(out)
    n, g, m = out.shape[:3]
    t_count, k = mats.shape[0], mats.shape[3]
    chunk_src = src if callable(src) else (lambda n0, n1: src[n0:n1])
    nb = _chunk(n, g * m * length * out.itemsize + src_bytes)
    if t_count * k <= _COLS_K:
        wcat = mats.transpose(1, 2, 0, 3).reshape(g, m, t_count * k)
        cols = xp.empty((nb, g, t_count, k, length), dtype=out.dtype)
        for n0 in range(0, n, nb):
            n1 = min(n, n0 + nb)
            c, part = cols[:n1 - n0], chunk_src(n0, n1)
            for t, (p, s) in enumerate(terms):
                c[:, :, t] = part[:, p, :, :, s:s + length]
            xp.matmul(wcat, c.reshape(n1 - n0, g, t_count * k, length), out=out[n0:n1])
            if bias is not None:
                out[n0:n1] += bias
        return out
    tmp = xp.empty((nb, g, m, length), dtype=out.dtype)
    for n0 in range(0, n, nb):
        n1 = min(n, n0 + nb)
        acc, part, chunk = out[n0:n1], tmp[:n1 - n0], chunk_src(n0, n1)
        for t, (p, s) in enumerate(terms):
            view = chunk[:, p, :, :, s:s + length]
            if t == 0:
                xp.matmul(mats[t], view, out=acc)
            else:
                xp.matmul(mats[t], view, out=part)
                acc += part
        if bias is not None:
            acc += bias
    return out


class _ChunkBuffer:
    """One zeroed buffer for the chunks of images, sized by the first (largest) chunk. Every
    chunk writes the same places, so what is left zero (padding) stays zero."""

    def __init__(self, like, shape):
        self.like, self.shape, self.buf = like, shape, None
        self.bytes_per_image = math.prod(shape) * like.itemsize

    def take(self, m):
        if self.buf is None:
            self.buf = xp_of(self.like).zeros((m,) + self.shape, dtype=self.like.dtype)
        return self.buf[:m]


class _Grid(_ChunkBuffer):
    """The (N, OC, OH, OW) cotangent on the phase grid, a chunk of images at a time, as
    (n, 1, G, OC/G, lead + length): zeros in the columns that are not outputs, before ``lead``
    and after the OH rows."""

    def __init__(self, gy, geo, groups, lead, length):
        n, oc = gy.shape[:2]
        super().__init__(gy, (1, groups, oc // groups, lead + length))
        self.gy, self.geo, self.lead = gy, geo, lead
        # the cotangent as it is, when it already lies on the grid
        self.bare = lead == 0 and length == geo.oh * geo.wq and geo.wq == geo.ow

    def __call__(self, n0, n1):
        if self.bare:
            return xp_of(self.gy).reshape(self.gy[n0:n1], (n1 - n0,) + self.shape)
        geo, lead = self.geo, self.lead
        buf = self.take(n1 - n0)
        view = buf.reshape(n1 - n0, -1, buf.shape[-1])[:, :, lead:lead + geo.oh * geo.wq]
        view.reshape(n1 - n0, -1, geo.oh, geo.wq)[..., :geo.ow] = self.gy[n0:n1]
        return buf


def _common(*arrays):
    dtype = arrays[0].dtype
    for a in arrays[1:]:
        if a.dtype != dtype:
            dtype = xp_of(a).result_type(dtype, a.dtype)
    return [a if a.dtype == dtype else a.astype(dtype) for a in arrays]


class _Expanded(_ChunkBuffer):
    """The image expanded by kernel column, a chunk of images at a time: for row phase a and
    kernel column j, padded pixel (r sh + a, t sw + j dw) at r OW + t, as
    (n, sh, G, kw C/G, Hq OW). Kernel row i then reads row phase (i dh) % sh at shift
    ((i dh) // sh) OW, and its kw columns make one GEMM of depth kw C/G."""

    def __init__(self, x, geo, kh, kw, dilation, groups):
        n, c, h, w = x.shape
        (dh, dw), (sh, sw) = dilation, geo.s
        super().__init__(x, (sh, groups, kw, c // groups, geo.hq, geo.ow))
        # (row phase, flat shift) of each kernel row
        self.terms = [((i * dh) % sh, ((i * dh) // sh) * geo.ow) for i in range(kh)]
        self.x = x.reshape(n, groups, c // groups, h, w)
        self.copies = []
        for a in range(sh):
            r0, r1, y0 = geo._span(0, a, geo.hq)
            for j in range(kw):
                t0, t1, x0 = geo._span(1, j * dw, geo.ow)
                if r1 > r0 and t1 > t0:
                    self.copies.append(((a, j, slice(r0, r1), slice(t0, t1)),
                                        (slice(y0, y0 + (r1 - r0 - 1) * sh + 1, sh),
                                         slice(x0, x0 + (t1 - t0 - 1) * sw + 1, sw))))

    def __call__(self, n0, n1):
        buf = self.take(n1 - n0)
        for (a, j, rows, cols), (ys, xs) in self.copies:
            buf[:, a, :, j, :, rows, cols] = self.x[n0:n1, :, :, ys, xs]
        s = self.shape
        return buf.reshape(n1 - n0, s[0], s[1], s[2] * s[3], s[4] * s[5])


@primitive
def conv2d(x, w, b=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    """2-D cross-correlation of (N, C, H, W) with (OC, C/groups, kh, kw), plus the bias (OC,)
    unless None: one GEMM per kernel row over shifted views of the image expanded by kernel
    column (see above)."""
    x, w = _common(x, w)
    xp = xp_of(x)
    n = x.shape[0]
    oc, cg, kh, kw = w.shape
    geo = _Geometry(x.shape[2:], (kh, kw), stride, padding, dilation)
    src = _Expanded(x, geo, kh, kw, dilation, groups)
    # (kh, G, OC/G, kw C/G), columns ordered as the expanded rows: (j, c)
    mats = w.reshape(groups, oc // groups, cg, kh, kw).transpose(3, 0, 1, 4, 2).reshape(
        kh, groups, oc // groups, kw * cg)
    out = xp.empty((n, groups, oc // groups, geo.oh * geo.ow), dtype=x.dtype)
    if b is not None:
        b = b.astype(x.dtype, copy=False).reshape(groups, oc // groups, 1)
    _shifted_gemms(mats, src, src.terms, geo.oh * geo.ow, out, b, src.bytes_per_image)
    return out.reshape(n, oc, geo.oh, geo.ow)


@primitive
def conv2d_input_grad(gy, w, size, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    """The input cotangent of ``conv2d`` (a transposed convolution): (N, OC, OH, OW) and the
    weight -> (N, C, H, W) for an input of spatial ``size`` (H, W)."""
    gy, w = _common(gy, w)
    xp = xp_of(gy)
    n = gy.shape[0]
    oc, cg, kh, kw = w.shape
    geo = _Geometry(tuple(size), (kh, kw), stride, padding, dilation)
    plen = geo.hq * geo.wq
    # phase-grid position r takes gy at r - s for each offset's shift s: zeros before and after
    src = _Grid(gy, geo, groups, geo.smax, plen)
    # one (C/G, OC/G) matrix per offset and group: (kh kw, G, C/G, OC/G)
    mats = xp.ascontiguousarray(
        w.reshape(groups, oc // groups, cg, kh * kw).transpose(3, 0, 2, 1))
    out = xp.empty((n, len(geo.phases), groups, cg, plen), dtype=gy.dtype)
    for k in range(len(geo.phases)):
        idx = [t for t, (p, _) in enumerate(geo.terms) if p == k]
        if idx:
            terms = [(0, geo.smax - geo.terms[t][1]) for t in idx]
            _shifted_gemms(mats[idx], src, terms, plen, out[:, k], None, src.bytes_per_image)
        else:  # a stride above the kernel's reach: pixels no offset reads
            out[:, k] = 0
    return _from_phases(out.reshape(n, len(geo.phases), groups * cg, plen), geo, n, groups * cg)


@primitive
def conv2d_weight_grad(x, gy, kernel, stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                       groups=1):
    """The weight cotangent of ``conv2d``: input (N, C, H, W) and (N, OC, OH, OW) ->
    (OC, C/groups, kh, kw). Per kernel row one GEMM (kw C/G, OH OW) @ (OH OW, OC/G) of the
    expanded image and the cotangent made (positions, channels), summed over the images."""
    x, gy = _common(x, gy)
    xp = xp_of(x)
    n, c = x.shape[:2]
    oc = gy.shape[1]
    cg, ocg = c // groups, oc // groups
    kh, kw = kernel
    geo = _Geometry(x.shape[2:], (kh, kw), stride, padding, dilation)
    length = geo.oh * geo.ow
    src = _Expanded(x, geo, kh, kw, dilation, groups)
    dy = xp.reshape(gy, (n, groups, ocg, length))
    depth = kw * cg
    if kh * depth <= _COLS_K:  # gather all kernel rows: one small GEMM of depth OH OW
        nb = _chunk(n, src.bytes_per_image * 2)
        cols = xp.empty((nb, groups, kh, depth, length), dtype=x.dtype)
        acc = xp.zeros((groups, ocg, kh * depth), dtype=x.dtype)
        for n0 in range(0, n, nb):
            n1 = min(n, n0 + nb)
            part, cl = src(n0, n1), cols[:n1 - n0]
            for i, (p, s) in enumerate(src.terms):
                cl[:, :, i] = part[:, p, :, :, s:s + length]
            cl = cl.reshape(n1 - n0, groups, kh * depth, length)
            acc += xp.matmul(dy[n0:n1], cl.swapaxes(-1, -2)).sum(axis=0)
        acc = acc.reshape(groups, ocg, kh, depth).transpose(2, 0, 3, 1)
    else:
        # (N, G, OH OW, OC/G): then every GEMM multiplies row-major matrices as they lie, which
        # OpenBLAS runs faster than the transposed products with the cotangent as it comes
        dyt = xp.ascontiguousarray(dy.swapaxes(-1, -2))
        nb = _chunk(n, src.bytes_per_image + dyt[0].nbytes)
        per_image = xp.empty((kh, n, groups, depth, ocg), dtype=x.dtype)
        for n0 in range(0, n, nb):
            n1 = min(n, n0 + nb)
            part = src(n0, n1)
            for i, (p, s) in enumerate(src.terms):
                xp.matmul(part[:, p, :, :, s:s + length], dyt[n0:n1], out=per_image[i, n0:n1])
        acc = per_image.sum(axis=1)
    # (kh, G, kw, C/G, OC/G) -> (OC, C/G, kh, kw)
    return acc.reshape(kh, groups, kw, cg, ocg).transpose(1, 4, 3, 0, 2).reshape(oc, cg, kh, kw)


def sum_by_channel(g):
    """(N, C, *) -> (C,), the sum over every axis but the channels: a product with a vector
    of ones per image (BLAS) takes a third of the time of ``g.sum((0, 2, 3))`` on W5's
    layers; for (N, C) one product with a row of ones. Raw arrays."""
    xp = xp_of(g)
    n, c = g.shape[:2]
    if g.ndim == 2 or math.prod(g.shape[2:]) == 1:
        return xp.matmul(xp.ones(n, dtype=g.dtype), xp.reshape(g, (n, c)))
    flat = xp.reshape(g, (n, c, math.prod(g.shape[2:])))
    return xp.matmul(flat, xp.ones(flat.shape[2], dtype=g.dtype)).sum(axis=0)


channel_sum = primitive(sum_by_channel, saves=False, name="channel_sum")
channel_sum.__doc__ = "(N, C, H, W) -> (C,): conv2d's bias gradient (``sum_by_channel``)."


def _bias_tangent(t, shape):
    return broadcast_to(reshape(t, (1, t.shape[0], 1, 1)), shape)


defvjp(channel_sum, lambda g, ans, x: _bias_tangent(g, x.shape))
defjvp(channel_sum, lambda t, ans, x: channel_sum(t))


defvjp(conv2d,
       lambda g, ans, x, w, b, *geo: conv2d_input_grad(g, w, x.shape[2:], *geo),
       lambda g, ans, x, w, b, *geo: conv2d_weight_grad(x, g, w.shape[2:], *geo),
       lambda g, ans, x, w, b, *geo: channel_sum(g))
defjvp(conv2d,
       lambda t, ans, x, w, b, *geo: conv2d(t, w, None, *geo),
       lambda t, ans, x, w, b, *geo: conv2d(x, t, None, *geo),
       lambda t, ans, x, w, b, *geo: _bias_tangent(t, ans.shape))
defvjp(conv2d_input_grad,
       lambda g, ans, gy, w, size, *geo: conv2d(g, w, None, *geo),
       lambda g, ans, gy, w, size, *geo: conv2d_weight_grad(g, gy, w.shape[2:], *geo))
defjvp(conv2d_input_grad,
       lambda t, ans, gy, w, size, *geo: conv2d_input_grad(t, w, size, *geo),
       lambda t, ans, gy, w, size, *geo: conv2d_input_grad(gy, t, size, *geo))
defvjp(conv2d_weight_grad,
       lambda g, ans, x, gy, kernel, *geo: conv2d_input_grad(gy, g, x.shape[2:], *geo),
       lambda g, ans, x, gy, kernel, *geo: conv2d(x, g, None, *geo))
defjvp(conv2d_weight_grad,
       lambda t, ans, x, gy, kernel, *geo: conv2d_weight_grad(t, gy, kernel, *geo),
       lambda t, ans, x, gy, kernel, *geo: conv2d_weight_grad(x, t, kernel, *geo))
