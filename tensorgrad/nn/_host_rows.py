"""Normalisations and row-wise layers on NumPy arrays, forward and first-order backward:
layer_norm, cross-entropy, softmax and log_softmax a block of rows at a time, and batch_norm's
training path by channel.

layer_norm, cross-entropy and batch_norm keep what their backward needs after the answer in
one buffer (``answer.base``), as the CUDA kernels do. All the rules fall back to the composed,
differentiable forms for create_graph (Tensors), for other dtypes, and for an answer that did
not come from here.

layer_norm. The composed form (a mean, a centred copy, its square, another mean, a
product, the weight, the bias; the backward recomputing the statistics twice) makes ~25
passes over the whole array, each out of cache: 5.6 ms for a (4096, 128) float32 forward and
backward, where PyTorch takes 0.8. Here each block of ``_BLOCK`` elements stays in L2 while
~6 passes (forward) or ~10 (backward) go over it, row sums are BLAS products with a vector
of ones, and the forward keeps each row's mean and rstd after the answer (the layout of the
CUDA kernel's: ``answer.base`` is [y, mean, rstd]), so the backward does not recompute them:
2.6 ms for the same step.

cross-entropy of (N, C) logits and class indices. The composed form makes a shifted copy, its
exponential and a sum, and the backward does it all again before the probabilities, a one-hot
matrix and their difference: (8192, 1000) float32 forward and backward took 31 ms, PyTorch 21.
Here the forward keeps each row's log-sum-exp (buffer [loss, lse]) and the backward writes
exp(x - lse) once, subtracts 1 at the targets and scales the rows.
"""

import numpy as np

from ..ops.conv import sum_by_channel

_BLOCK = 1 << 15  # elements per block of rows (128 KiB of float32)


def ln_fits(x, weight, bias, cols):
    """Does the host path take this call: float32/float64 NumPy data, weight and bias of its
    dtype (or None), a nonempty array."""
    if type(x) is not np.ndarray or x.dtype.char not in "fd" or x.size == 0 or cols == 0:
        return False
    for a in (weight, bias):
        if a is not None and (type(a) is not np.ndarray or a.dtype != x.dtype):
            return False
    return True


def _rows(x, cols):
    return x.reshape(x.size // cols, cols)


def _steps(rows, cols):
    step = max(1, _BLOCK // cols)
    for r0 in range(0, rows, step):
        yield r0, min(rows, r0 + step)


def ln_forward(x, weight, bias, cols, eps):
    """y = (x - mean) * rstd * weight + bias over the trailing ``cols`` elements of each row:
    the leading part of a buffer that holds each row's mean and rstd after it."""
    x2 = _rows(x, cols)
    rows = x2.shape[0]
    buf = np.empty(x.size + 2 * rows, dtype=x.dtype)
    y = buf[:x.size].reshape(rows, cols)
    mean, rstd = buf[x.size:x.size + rows], buf[x.size + rows:]
    w = None if weight is None else weight.reshape(cols)
    b = None if bias is None else bias.reshape(cols)
    ones = np.ones(cols, dtype=x.dtype)
    for r0, r1 in _steps(rows, cols):
        ys, r = y[r0:r1], rstd[r0:r1]
        _normalise_rows(x2[r0:r1], ys, mean[r0:r1], r, ones, eps)
        ys *= r[:, None]
        if w is not None:
            ys *= w
        if b is not None:
            ys += b
    return y.reshape(x.shape)


def _normalise_rows(xs, ys, m, r, ones, eps):
    """Each row's mean into ``m`` and rstd into ``r``, and ys = xs - mean (rows of xs)."""
    cols = xs.shape[1]
    np.matmul(xs, ones, out=m)
    m *= 1.0 / cols
    np.subtract(xs, m[:, None], out=ys)
    np.einsum("ij,ij->i", ys, ys, out=r)
    r *= 1.0 / cols
    r += eps
    np.sqrt(r, out=r)
    np.divide(1.0, r, out=r)


def ln_saved(ans, x, cols):
    """(mean, rstd) per row when ``ans`` came from ``forward`` of this ``x``; else None."""
    if type(ans) is not np.ndarray or type(x) is not np.ndarray or ans.shape != x.shape:
        return None
    base = ans.base
    rows = x.size // cols
    if type(base) is not np.ndarray or base.dtype != x.dtype or \
            base.shape != (x.size + 2 * rows,):
        return None
    return base[x.size:x.size + rows], base[x.size + rows:]


def _centred(h, xs, m, r):
    """h = (xs - m) * r, rows by rows: the normalised block."""
    np.subtract(xs, m[:, None], out=h)
    h *= r[:, None]
    return h


def ln_backward_x(g, x, weight, stats, cols):
    """The input's cotangent: rstd * (gw - mean(gw) - xhat * mean(gw * xhat)), gw = g * w."""
    mean, rstd = stats
    x2, g2 = _rows(x, cols), _rows(g, cols)
    rows = x2.shape[0]
    out = np.empty((rows, cols), dtype=np.result_type(g.dtype, x.dtype))
    w = None if weight is None else weight.reshape(cols)
    ones = np.ones(cols, dtype=out.dtype)
    h = np.empty((min(rows, max(1, _BLOCK // cols)), cols), dtype=x.dtype)
    for r0, r1 in _steps(rows, cols):
        d, r = out[r0:r1], rstd[r0:r1]
        hs = _centred(h[:r1 - r0], x2[r0:r1], mean[r0:r1], r)
        if w is None:
            d[...] = g2[r0:r1]
        else:
            np.multiply(g2[r0:r1], w, out=d)
        m1 = d @ ones
        m1 *= 1.0 / cols
        m2 = np.einsum("ij,ij->i", d, hs)
        m2 *= 1.0 / cols
        d -= m1[:, None]
        hs *= m2[:, None]
        d -= hs
        d *= r[:, None]
    return out.reshape(x.shape)


def ln_backward_weight(g, x, stats, cols):
    """The weight's cotangent: the sum over rows of g * xhat, as (cols,)."""
    mean, rstd = stats
    x2, g2 = _rows(x, cols), _rows(g, cols)
    rows = x2.shape[0]
    acc = np.zeros(cols, dtype=np.result_type(g.dtype, x.dtype))
    h = np.empty((min(rows, max(1, _BLOCK // cols)), cols), dtype=x.dtype)
    for r0, r1 in _steps(rows, cols):
        hs = h[:r1 - r0]
        np.subtract(x2[r0:r1], mean[r0:r1, None], out=hs)
        hs *= g2[r0:r1]
        acc += rstd[r0:r1] @ hs  # the rows weighted by rstd: BLAS
    return acc


def row_sum(g, cols):
    """The sum of ``g``'s rows of ``cols`` elements (the bias's cotangent): one product with
    a row of ones (BLAS), a third of the time of ``sum(axis=0)``."""
    return sum_by_channel(_rows(g, cols))


def gn_fits(x, weight, bias, groups):
    """Does group_norm's host path take this call: nonempty float32/float64 NumPy (N, C, *)
    data, weight and bias of its dtype (or None)."""
    return ln_fits(x, weight, bias, 1) and x.ndim >= 2 and x.shape[1] % groups == 0


def _gn_shape(x, groups):
    """(rows, channels per group, positions): the (N * G, C / G, S) view of (N, C, *)."""
    n, c = x.shape[:2]
    return n * groups, c // groups, x.size // (n * c)


def gn_forward(x, weight, bias, groups, eps):
    """Group normalisation with the per-channel weight and bias, a block of (sample, group)
    rows at a time: the leading part of a buffer that holds each row's mean and rstd after
    it (as layer_norm's)."""
    rows, cg, positions = _gn_shape(x, groups)
    cols = cg * positions
    buf = np.empty(x.size + 2 * rows, dtype=x.dtype)
    y = buf[:x.size].reshape(rows, cg, positions)
    mean, rstd = buf[x.size:x.size + rows], buf[x.size + rows:]
    x3 = np.ascontiguousarray(x).reshape(rows, cg, positions)
    w = None if weight is None else weight.reshape(groups, cg)
    b = None if bias is None else bias.reshape(groups, cg)
    ones = np.ones(cols, dtype=x.dtype)
    for r0, r1 in _steps(rows, cols):
        ys, r = y[r0:r1], rstd[r0:r1]
        _normalise_rows(x3[r0:r1].reshape(r1 - r0, cols), ys.reshape(r1 - r0, cols),
                        mean[r0:r1], r, ones, eps)
        group = np.arange(r0, r1) % groups
        ys *= (r[:, None] if w is None else r[:, None] * w[group])[:, :, None]
        if b is not None:
            ys += b[group][:, :, None]
    return y.reshape(x.shape)


def gn_saved(ans, x, groups):
    """(mean, rstd) per (sample, group) row when ``ans`` came from ``gn_forward``; else None."""
    rows, cg, positions = _gn_shape(x, groups)
    return ln_saved(ans, x, cg * positions)


def gn_backward(g, x, weight, bias, stats, groups):
    """(dx, dweight, dbias) of group_norm in one pass over blocks of rows, from per-channel
    sums of g and g * (x - mean) (dweight and dbias are None where the argument is None)."""
    mean, rstd = stats
    rows, cg, positions = _gn_shape(x, groups)
    cols = cg * positions
    x3 = np.ascontiguousarray(x).reshape(rows, cg, positions)
    g3 = np.ascontiguousarray(g).reshape(rows, cg, positions)
    dx = np.empty((rows, cg, positions), dtype=x.dtype)
    w = np.ones((groups, cg), x.dtype) if weight is None else weight.reshape(groups, cg)
    s1 = np.empty((rows, cg), x.dtype)  # sum over positions of g, per row and channel
    s2 = np.empty((rows, cg), x.dtype)  # ... of g * (x - mean)
    ones = np.ones(positions, dtype=x.dtype)
    step = max(1, _BLOCK // cols)
    tmp = np.empty((min(rows, step), cg, positions), dtype=x.dtype)
    for r0, r1 in _steps(rows, cols):
        m, r, gs, t = mean[r0:r1], rstd[r0:r1], g3[r0:r1], tmp[:r1 - r0]
        np.subtract(x3[r0:r1], m[:, None, None], out=t)
        flat = (r1 - r0) * cg, positions  # (row, channel) pairs by positions: BLAS, einsum
        np.matmul(gs.reshape(flat), ones, out=s1[r0:r1].reshape(-1))
        np.einsum("ij,ij->i", gs.reshape(flat), t.reshape(flat), out=s2[r0:r1].reshape(-1))
        wg = w[np.arange(r0, r1) % groups]
        a = np.einsum("rc,rc->r", wg, s1[r0:r1]) * (1.0 / cols)  # mean of g * w over the row
        b = np.einsum("rc,rc->r", wg, s2[r0:r1]) * (r * r * (1.0 / cols))  # of g w xhat / r
        d = dx[r0:r1]
        np.multiply(gs, (r[:, None] * wg)[:, :, None], out=d)  # rstd * w * g
        t *= (-r * b)[:, None, None]
        d += t
        d -= (r * a)[:, None, None]
    n, c = x.shape[:2]
    dw = None if weight is None else (rstd[:, None] * s2).reshape(n, c).sum(0)
    db = None if bias is None else s1.reshape(n, c).sum(0)
    return dx.reshape(x.shape), dw, db


def ce_fits(x, target):
    return type(x) is np.ndarray and x.dtype.char in "fd" and x.ndim == 2 and x.size > 0 and \
        type(target) is np.ndarray and target.dtype.kind in "iu"


def ce_forward(x, target):
    """Per row -log softmax(x)[target]: the leading part of a buffer [loss, lse] (N each)."""
    n, c = x.shape
    buf = np.empty(2 * n, dtype=x.dtype)
    loss, lse = buf[:n], buf[n:]
    if x.size <= _BLOCK:  # one block: the same steps without the loop
        m = x.max(axis=1)
        t = x - m[:, None]
        np.exp(t, out=t)
        np.sum(t, axis=1, out=lse)
        np.log(lse, out=lse)
        lse += m
        np.subtract(lse, x[np.arange(n), target], out=loss)
        return loss
    ones = np.ones(c, dtype=x.dtype)
    tmp = np.empty((min(n, max(1, _BLOCK // c)), c), dtype=x.dtype)
    for r0, r1 in _steps(n, c):
        xs, t, s = x[r0:r1], tmp[:r1 - r0], lse[r0:r1]
        m = xs.max(axis=1)
        np.subtract(xs, m[:, None], out=t)
        np.exp(t, out=t)
        np.matmul(t, ones, out=s)
        np.log(s, out=s)
        s += m
    np.subtract(lse, x[np.arange(n), target], out=loss)
    return loss


def ce_saved(ans, x):
    """Each row's log-sum-exp when ``ans`` came from ``ce_forward`` of this ``x``; else None."""
    if type(ans) is not np.ndarray or type(x) is not np.ndarray:
        return None
    base, n = ans.base, x.shape[0]
    if type(base) is not np.ndarray or base.dtype != x.dtype or base.shape != (2 * n,) or \
            ans.shape != (n,):
        return None
    return base[n:]


def ce_backward(g, x, target, lse):
    """d loss / d x for the per-row cotangent ``g`` (N,): g * (softmax(x) - onehot(target))."""
    n, c = x.shape
    if x.size <= _BLOCK:  # one block: the same steps without the loops
        out = x - lse[:, None]
        np.exp(out, out=out)
        out[np.arange(n), target] -= 1
        out *= g[:, None]
        return out
    out = np.empty_like(x)
    for r0, r1 in _steps(n, c):
        o = out[r0:r1]
        np.subtract(x[r0:r1], lse[r0:r1, None], out=o)
        np.exp(o, out=o)
    out[np.arange(n), target] -= 1
    for r0, r1 in _steps(n, c):
        out[r0:r1] *= g[r0:r1, None]
    return out


# ---- softmax and log_softmax over the last axis -----------------------------------------------
# The composed forms allocate a temporary of the whole array per step; a block of rows at a
# time keeps the four or five passes in cache and sums rows by BLAS.


_MIN_SOFTMAX = 1 << 13  # below, the composed form's few calls cost less than the blocks'


def last_axis_fits(x, axis):
    """float32/float64 NumPy data in C order (other layouts keep the composed form, whose
    answer keeps the input's layout), 8,192+ elements, the last axis."""
    return type(x) is np.ndarray and x.dtype.char in "fd" and x.size >= _MIN_SOFTMAX and \
        axis % x.ndim == x.ndim - 1 and x.flags.c_contiguous


def _row_blocks(a2):
    """(the (r0, r1) blocks, a row of ones) for the (rows, cols) array ``a2``."""
    return _steps(a2.shape[0], a2.shape[1]), np.ones(a2.shape[1], dtype=a2.dtype)


def softmax(x):
    c = x.shape[-1]
    x2 = _rows(x, c)
    out = np.empty(x2.shape, dtype=x.dtype)
    steps, ones = _row_blocks(x2)
    for r0, r1 in steps:
        o = out[r0:r1]
        np.subtract(x2[r0:r1], x2[r0:r1].max(axis=1, keepdims=True), out=o)
        np.exp(o, out=o)
        s = o @ ones
        np.divide(1.0, s, out=s)
        o *= s[:, None]
    return out.reshape(x.shape)


def softmax_backward(g, ans):
    """ans * (g - sum(g * ans)) along the rows."""
    c = ans.shape[-1]
    a2, g2 = _rows(ans, c), _rows(g, c)
    out = np.empty(a2.shape, dtype=ans.dtype)
    tmp = np.empty((min(a2.shape[0], max(1, _BLOCK // c)), c), dtype=ans.dtype)
    steps, ones = _row_blocks(a2)
    for r0, r1 in steps:
        o, a, t = out[r0:r1], a2[r0:r1], tmp[:r1 - r0]
        np.multiply(g2[r0:r1], a, out=o)
        np.multiply(a, (o @ ones)[:, None], out=t)
        o -= t
    return out.reshape(ans.shape)


def log_softmax(x):
    c = x.shape[-1]
    x2 = _rows(x, c)
    out = np.empty(x2.shape, dtype=x.dtype)
    tmp = np.empty((min(x2.shape[0], max(1, _BLOCK // c)), c), dtype=x.dtype)
    steps, ones = _row_blocks(x2)
    for r0, r1 in steps:
        o, t = out[r0:r1], tmp[:r1 - r0]
        m = x2[r0:r1].max(axis=1, keepdims=True)
        if not np.isfinite(m).all():  # a row of infinities: shifted by 0, as the composed form
            m = np.where(np.isfinite(m), m, 0)
        np.subtract(x2[r0:r1], m, out=o)
        np.exp(o, out=t)
        s = t @ ones
        np.log(s, out=s)
        o -= s[:, None]
    return out.reshape(x.shape)


def log_softmax_backward(g, ans):
    """g - exp(ans) * sum(g) along the rows."""
    c = ans.shape[-1]
    a2, g2 = _rows(ans, c), _rows(g, c)
    out = np.empty(a2.shape, dtype=ans.dtype)
    steps, ones = _row_blocks(a2)
    for r0, r1 in steps:
        o, gs = out[r0:r1], g2[r0:r1]
        np.exp(a2[r0:r1], out=o)
        o *= (gs @ ones)[:, None]
        np.subtract(gs, o, out=o)
    return out.reshape(ans.shape)


# ---- batch_norm in training (statistics over every axis but the channels) ---------------------
# The composed form computed the statistics three times (the running update, the forward, each
# backward rule) with NumPy reductions over axes (0, 2, 3): (32, 16, 26, 26) float32 forward and
# backward took 4.2 ms, PyTorch 0.95. Here per-channel sums are BLAS products with a vector of
# ones, the weight is folded into one scale per channel, and the answer's buffer keeps each
# channel's mean, rstd and biased variance: [y, mean, rstd, var]. 2.0 ms.


def bn_fits(x, weight, bias, axes):
    """float32/float64 NumPy data in C order (a channels_last input keeps the composed form,
    whose answer keeps its layout, as PyTorch's), weight and bias of its dtype or None."""
    if type(x) is not np.ndarray or x.dtype.char not in "fd" or x.ndim < 2 or x.size == 0 or \
            not x.flags.c_contiguous or tuple(axes) != (0,) + tuple(range(2, x.ndim)):
        return False
    return all(a is None or (type(a) is np.ndarray and a.dtype == x.dtype)
               for a in (weight, bias))


def _by_channel(x):
    """``x`` (N, C, *) as (N, C, L)."""
    return x.reshape(x.shape[0], x.shape[1], x.size // (x.shape[0] * x.shape[1]))


def _channel_dots(a3, b3):
    """The per-channel sums of a3 * b3: image by image for a few large images, else one
    contraction."""
    if a3.shape[0] > 64 or a3.shape[2] < 64:
        return np.einsum("ncl,ncl->c", a3, b3)
    acc = np.zeros(a3.shape[1], dtype=a3.dtype)
    for n in range(a3.shape[0]):
        acc += np.einsum("cl,cl->c", a3[n], b3[n])
    return acc


def bn_forward(x, weight, bias, eps):
    x3 = _by_channel(x)
    n, c, _ = x3.shape
    count = x.size // c
    buf = np.empty(x.size + 3 * c, dtype=x.dtype)
    y3 = buf[:x.size].reshape(x3.shape)
    mean, rstd, var = (buf[x.size + k * c:x.size + (k + 1) * c] for k in range(3))
    np.multiply(sum_by_channel(x3), 1.0 / count, out=mean)
    np.subtract(x3, mean[:, None], out=y3)
    np.multiply(_channel_dots(y3, y3), 1.0 / count, out=var)
    np.add(var, eps, out=rstd)
    np.sqrt(rstd, out=rstd)
    np.divide(1.0, rstd, out=rstd)
    scale = rstd if weight is None else rstd * weight.reshape(c)
    y3 *= scale[:, None]
    if bias is not None:
        y3 += bias.reshape(c)[:, None]
    return y3.reshape(x.shape)


def bn_saved(ans, x):
    """(mean, rstd, biased var) per channel when ``ans`` came from ``bn_forward`` of ``x``."""
    if type(ans) is not np.ndarray or type(x) is not np.ndarray or ans.shape != x.shape or \
            x.ndim < 2:
        return None
    base, c = ans.base, x.shape[1]
    if type(base) is not np.ndarray or base.dtype != x.dtype or \
            base.shape != (x.size + 3 * c,):
        return None
    return tuple(base[x.size + k * c:x.size + (k + 1) * c] for k in range(3))


def _centred_by_channel(x3, mean):
    return x3 - mean[:, None]


def bn_backward_x(g, x, weight, stats):
    """a g + b (x - mean) + c per channel: rstd w (g - mean(g) - xhat mean(g xhat))."""
    mean, rstd, _ = stats
    x3, g3 = _by_channel(x), _by_channel(g)
    c = x3.shape[1]
    count = x.size // c
    h = _centred_by_channel(x3, mean)
    sum_g, sum_gh = sum_by_channel(g3), _channel_dots(g3, h)
    a = rstd if weight is None else rstd * weight.reshape(c)
    out = g3 * a[:, None]
    h *= (-a * rstd * rstd * sum_gh / count)[:, None]
    out += h
    out += (-a * sum_g / count)[:, None]
    return out.reshape(x.shape)


def bn_backward_weight(g, x, stats):
    mean, rstd, _ = stats
    x3 = _by_channel(x)
    return rstd * _channel_dots(_by_channel(g), _centred_by_channel(x3, mean))


def bn_backward_bias(g):
    return sum_by_channel(_by_channel(g))


# ---- bias + activation ----------------------------------------------------------------------
# act(x + b) and g * act'(x + b) with the CUDA kernel's math (kernels/reference.py), a block of
# rows at a time: the composed forms make 5-12 passes over the whole array (gelu's erf, the
# tanh formula, silu's sigmoid and product), each out of cache; here they run in L2.
_MIN_ACT = 1 << 12  # below, the composed form's few calls cost less than the blocks'
# not sigmoid or tanh: their composed backward reads the answer, cheaper than recomputing it
HOST_ACTS = frozenset(("gelu", "gelu_tanh", "silu"))


def act_fits(x, b, activation):
    """Does the host path take act(x + b): a C-order float32/float64 NumPy array of 4,096+
    elements, the bias None or a vector of its dtype along its last axis."""
    if (activation not in HOST_ACTS or type(x) is not np.ndarray or x.dtype.char not in "fd"
            or x.size < _MIN_ACT or not x.flags.c_contiguous):
        return False
    return b is None or (type(b) is np.ndarray and b.dtype == x.dtype
                         and b.shape == (x.shape[-1],))


def _act_views(x, b):
    """x as rows (of the bias's length; of one block's elements, or fewer, without a bias:
    the activation is elementwise) and the slices of those rows that make the blocks."""
    cols = x.shape[-1] if b is not None else _BLOCK
    if b is None and x.size % cols:
        cols = x.size if x.size < _BLOCK else int(np.gcd(x.size, _BLOCK))
    return cols, [slice(r0, r1) for r0, r1 in _steps(x.size // cols, cols)]


def act_forward(x, b, activation):
    """act(x + b) as one array of x's shape. gelu's answer is the first half of a buffer whose
    second half keeps Phi(x + b) for the backward (``act_saved``): its erf is most of the
    cost, and the backward then needs only an exp."""
    from ..kernels import reference

    code = reference.ACTIVATIONS[activation]
    cols, blocks = _act_views(x, b)
    x2 = _rows(x, cols)
    gelu = activation == "gelu"
    buf = np.empty(2 * x.size if gelu else x.size, dtype=x.dtype)
    y2 = _rows(buf[:x.size], cols)
    cdf2 = _rows(buf[x.size:], cols) if gelu else None
    for rows in blocks:
        z = x2[rows] if b is None else x2[rows] + b
        if gelu:
            cdf2[rows] = reference.gelu_cdf(z)
            np.multiply(z, cdf2[rows], out=y2[rows])
        else:
            y2[rows] = reference.act_forward(code, z)
    return buf[:x.size].reshape(x.shape)


def act_saved(ans, x):
    """Phi(x + b) kept behind gelu's answer ``ans`` of this ``x``; else None."""
    if type(ans) is not np.ndarray or ans.shape != x.shape:
        return None
    base = ans.base
    if type(base) is not np.ndarray or base.dtype != x.dtype or base.shape != (2 * x.size,):
        return None
    return base[x.size:]


def act_backward(g, x, b, activation, ans=None):
    """g * act'(x + b): x's cotangent (and, summed over the leading axes, b's); gelu reads
    Phi(x + b) from behind its answer ``ans`` when it is there."""
    from ..kernels import reference

    code = reference.ACTIVATIONS[activation]
    cols, blocks = _act_views(x, b)
    x2, dz = _rows(x, cols), np.empty_like(x)
    g2, dz2 = _rows(np.ascontiguousarray(g, dtype=x.dtype), cols), _rows(dz, cols)
    saved = act_saved(ans, x) if activation == "gelu" else None
    cdf2 = None if saved is None else _rows(saved, cols)
    for rows in blocks:
        z = x2[rows] if b is None else x2[rows] + b
        if cdf2 is not None:
            dz2[rows] = reference.gelu_backward(g2[rows], z, cdf2[rows])
        else:
            dz2[rows] = reference.act_backward(code, g2[rows], z)
    return dz
