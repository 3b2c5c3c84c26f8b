"""NumPy references for the CUDA kernels in this directory, one per ``extern "C"`` entry point.

Each reference is called as a launch is: ``name(grid, block, shared_mem, *args)``, with the
kernel's arguments in the C signature's order, arrays as C-contiguous NumPy arrays (outputs are
written in place) and scalars as NumPy scalars of the C type (``int`` is ``np.int32``,
``long long`` is ``np.int64``, ``float``/``double`` the array's dtype). Before computing, a
reference checks what the CUDA code assumes of the launch (one block per row, a block size the
warp reductions can handle, ...) and of its arguments, and raises ``LaunchError`` where a real
launch would compute garbage or read out of bounds. The tests compare these references against
plain NumPy formulas and PyTorch, and on a GPU against the kernels themselves; the strict CuPy
stand-in of the test suite runs them in place of the kernels.

>>> import numpy as np
>>> x = np.array([[0.0, 0.0]], np.float32)
>>> y = np.empty_like(x)
>>> tg_softmax_fwd_f32((1,), (32,), 0, x, y, np.int32(2))
>>> y.tolist()
[[0.5, 0.5]]
"""

import ctypes
import math

import numpy as np

from ..scipy import _host_erf

try:
    from scipy.special import erf as _scipy_erf
except ImportError:
    _scipy_erf = _host_erf.erf


def _erf(z):
    """erf of a float32 array by NumPy's own float32 kernel (within 1 ulp, 2-3x SciPy's
    speed); of float64 by SciPy's where installed (1.3x faster than the NumPy one)."""
    return _host_erf.erf(z) if z.dtype == np.float32 else _scipy_erf(z)

_DTYPES = {"f32": np.dtype(np.float32), "f64": np.dtype(np.float64)}
MAX_THREADS = 1024


class LaunchError(ValueError):
    """A launch that the CUDA code does not support (bad grid, block, dtype or size)."""


# ---- launch and argument checks -------------------------------------------------------------
def _dims(v, what, name):
    if not isinstance(v, tuple) or not 1 <= len(v) <= 3 or not all(
            type(d) is int and d >= 1 for d in v):
        raise LaunchError(f"{name}: {what} must be a tuple of 1 to 3 positive ints, got {v!r}")
    return v + (1,) * (3 - len(v))


def _block_1d(block, name, warps):
    b = _dims(block, "block", name)
    if b[1] != 1 or b[2] != 1 or b[0] > MAX_THREADS:
        raise LaunchError(f"{name}: block must be (threads,) with threads <= {MAX_THREADS}, "
                          f"got {block}")
    if warps and b[0] % 32:
        raise LaunchError(f"{name}: the block reductions need whole warps, got {b[0]} threads")
    return b[0]


def _no_shared(shared_mem, name):
    if type(shared_mem) is not int or shared_mem != 0:
        raise LaunchError(f"{name}: takes no dynamic shared memory, got {shared_mem!r}")


def _row_launch(grid, block, shared_mem, name):
    """One block per row: the row count is grid[0]."""
    g = _dims(grid, "grid", name)
    if g[1] != 1 or g[2] != 1:
        raise LaunchError(f"{name}: grid must be (rows,), got {grid}")
    _block_1d(block, name, warps=True)
    _no_shared(shared_mem, name)
    return g[0]


def _stride_launch(grid, block, shared_mem, name):
    """A grid-stride loop: any grid and block size cover the data."""
    _dims(grid, "grid", name)
    _block_1d(block, name, warps=False)
    _no_shared(shared_mem, name)


def _array(a, dtype, size, name, what):
    if type(a) is not np.ndarray:
        raise LaunchError(f"{name}: {what} must be a device array, got {type(a).__name__}")
    if a.dtype != dtype:
        raise LaunchError(f"{name}: {what} must be {dtype}, got {a.dtype}")
    if not a.flags.c_contiguous:
        raise LaunchError(f"{name}: {what} must be C-contiguous")
    if a.size != size:
        raise LaunchError(f"{name}: {what} must have {size} elements, got {a.size}")
    return a.reshape(-1)


def _scalar(v, ctype, name, what):
    if type(v) is not ctype:
        raise LaunchError(f"{name}: {what} must be {np.dtype(ctype).name}, "
                          f"got {type(v).__name__}")
    return v


def _cols(cols, name):
    c = int(_scalar(cols, np.int32, name, "cols"))
    if c < 1:
        raise LaunchError(f"{name}: cols must be >= 1, got {c}")
    return c


def _row_view(a, rows, cols):
    return a.reshape(rows, cols)


# ---- softmax_xent.cu ------------------------------------------------------------------------
def _lse_parts(x):
    """(max, sum of exp(x - max)) per row, with -inf entries contributing 0 (an all -inf row
    has max -inf and sum 0), as the kernels' online reduction gives."""
    m = x.max(axis=1, keepdims=True)
    e = np.where(x == -np.inf, 0, np.exp(x - m))
    return m, e.sum(axis=1, keepdims=True, dtype=x.dtype)


def _log_softmax_fwd(T, name, grid, block, shared_mem, x, y, cols):
    rows = _row_launch(grid, block, shared_mem, name)
    c = _cols(cols, name)
    xv = _row_view(_array(x, T, rows * c, name, "x"), rows, c)
    yv = _row_view(_array(y, T, rows * c, name, "y"), rows, c)
    with np.errstate(all="ignore"):
        m, s = _lse_parts(xv)
        yv[...] = (xv - m) - np.log(s)


def _softmax_fwd(T, name, grid, block, shared_mem, x, y, cols):
    rows = _row_launch(grid, block, shared_mem, name)
    c = _cols(cols, name)
    xv = _row_view(_array(x, T, rows * c, name, "x"), rows, c)
    yv = _row_view(_array(y, T, rows * c, name, "y"), rows, c)
    with np.errstate(all="ignore"):
        m, s = _lse_parts(xv)
        yv[...] = np.exp(xv - m) / s


def _log_softmax_bwd(T, name, grid, block, shared_mem, g, y, dx, cols):
    rows = _row_launch(grid, block, shared_mem, name)
    c = _cols(cols, name)
    gv = _row_view(_array(g, T, rows * c, name, "g"), rows, c)
    yv = _row_view(_array(y, T, rows * c, name, "y"), rows, c)
    dv = _row_view(_array(dx, T, rows * c, name, "dx"), rows, c)
    with np.errstate(all="ignore"):
        dv[...] = gv - np.exp(yv) * gv.sum(axis=1, keepdims=True)


def _softmax_bwd(T, name, grid, block, shared_mem, g, y, dx, cols):
    rows = _row_launch(grid, block, shared_mem, name)
    c = _cols(cols, name)
    gv = _row_view(_array(g, T, rows * c, name, "g"), rows, c)
    yv = _row_view(_array(y, T, rows * c, name, "y"), rows, c)
    dv = _row_view(_array(dx, T, rows * c, name, "dx"), rows, c)
    with np.errstate(all="ignore"):
        dv[...] = yv * (gv - (gv * yv).sum(axis=1, keepdims=True))


def _targets(target, rows, cols, name, ignore, use_ignore):
    """(targets, in range, targets with the others replaced by 0, ignored)"""
    t = _array(target, np.dtype(np.int64), rows, name, "target")
    _scalar(ignore, np.int64, name, "ignore")
    ignored = (t == ignore) if _flags(name, use_ignore=use_ignore)["use_ignore"] else \
        np.zeros(rows, bool)
    valid = (t >= 0) & (t < cols) & ~ignored
    return t, valid, np.where(valid, t, 0), ignored


def _xent_fwd(T, name, grid, block, shared_mem, x, target, loss, rowmax, logsum, cols, ignore,
              use_ignore):
    rows = _row_launch(grid, block, shared_mem, name)
    c = _cols(cols, name)
    xv = _row_view(_array(x, T, rows * c, name, "x"), rows, c)
    _, valid, safe, ignored = _targets(target, rows, c, name, ignore, use_ignore)
    lv = _array(loss, T, rows, name, "loss")
    mv = _array(rowmax, T, rows, name, "rowmax")
    sv = _array(logsum, T, rows, name, "logsum")
    with np.errstate(all="ignore"):
        m, s = _lse_parts(xv)
        ls = np.log(s[:, 0])
        picked = xv[np.arange(rows), safe]
        lv[...] = np.where(valid, (m[:, 0] - picked) + ls, np.where(ignored, 0, np.nan))
        mv[...] = m[:, 0]
        sv[...] = ls


def _xent_mean(T, name, grid, block, shared_mem, loss, target, out, rows, ignore, use_ignore):
    g = _dims(grid, "grid", name)
    if g != (1, 1, 1):
        raise LaunchError(f"{name}: one block reduces every row: grid must be (1,), got {grid}")
    _block_1d(block, name, warps=True)
    _no_shared(shared_mem, name)
    n = int(_scalar(rows, np.int32, name, "rows"))
    if n < 1:
        raise LaunchError(f"{name}: rows must be >= 1, got {n}")
    _scalar(ignore, np.int64, name, "ignore")
    t = _array(target, np.dtype(np.int64), n, name, "target")
    kept = ~(t == ignore) if _flags(name, use_ignore=use_ignore)["use_ignore"] else \
        np.ones(n, bool)
    lv = _array(loss, T, n, name, "loss")
    ov = _array(out, T, 2, name, "out")
    count = T.type(kept.sum())
    with np.errstate(all="ignore"):
        ov[0] = lv[kept].sum(dtype=T) / count
    ov[1] = count


def _xent_bwd(T, name, grid, block, shared_mem, g, g_stride, count, use_count, x, target,
              rowmax, logsum, dx, cols, ignore, use_ignore):
    rows = _row_launch(grid, block, shared_mem, name)
    c = _cols(cols, name)
    stride = int(_scalar(g_stride, np.int64, name, "g_stride"))
    if stride not in (0, 1):
        raise LaunchError(f"{name}: g_stride must be 1 (a cotangent per row) or 0 (one for "
                          f"every row), got {stride}")
    gv = _array(g, T, rows if stride else 1, name, "g")
    gv = gv if stride else np.broadcast_to(gv, (rows,))
    if _flags(name, use_count=use_count)["use_count"]:
        with np.errstate(all="ignore"):
            gv = gv / _array(count, T, 1, name, "count")[0]
    xv = _row_view(_array(x, T, rows * c, name, "x"), rows, c)
    t, valid, safe, ignored = _targets(target, rows, c, name, ignore, use_ignore)
    mv = _array(rowmax, T, rows, name, "rowmax")
    sv = _array(logsum, T, rows, name, "logsum")
    dv = _row_view(_array(dx, T, rows * c, name, "dx"), rows, c)
    onehot = np.zeros((rows, c), T)
    onehot[np.arange(rows)[valid], t[valid]] = 1
    with np.errstate(all="ignore"):
        dv[...] = np.where(ignored[:, None], 0,
                           gv[:, None] * (np.exp((xv - mv[:, None]) - sv[:, None]) - onehot))


# ---- optim.cu -------------------------------------------------------------------------------
def _flags(name, **flags):
    for what, v in flags.items():
        _scalar(v, np.int32, name, what)
    return {k: bool(v) for k, v in flags.items()}


TABLE_SIZE = 64  # TG_TABLE_SIZE in optim.cu
# struct tg_grad_table: a size-1 structured array, passed by value
GRAD_TABLE = np.dtype([("grad", np.uint64, (TABLE_SIZE,)), ("start", np.int64, (TABLE_SIZE + 1,))])


def _table(T, name, table, count, *flat):
    """The gradients a tg_grad_table points to (host addresses: NumPy arrays, or the stand-in's
    device arrays, whose pointers are host addresses) as one array, and the slices of the flat
    buffers ``flat`` that the launch updates."""
    if type(table) is not np.ndarray or table.dtype != GRAD_TABLE or table.shape != (1,):
        raise LaunchError(f"{name}: table must be a size-1 array of the tg_grad_table layout "
                          f"{GRAD_TABLE}, got {getattr(table, 'dtype', type(table).__name__)}")
    c = int(_scalar(count, np.int32, name, "count"))
    if not 1 <= c <= TABLE_SIZE:
        raise LaunchError(f"{name}: count must be in [1, {TABLE_SIZE}], got {c}")
    start = table["start"][0, :c + 1]
    if start[0] < 0 or (np.diff(start) < 0).any():
        raise LaunchError(f"{name}: the table's offsets must rise from >= 0, got {start}")
    lo, hi = int(start[0]), int(start[c])
    parts = []
    for k in range(c):
        n = int(start[k + 1] - start[k])
        addr = int(table["grad"][0, k])
        if n and not addr:
            raise LaunchError(f"{name}: tensor {k} of the table has {n} elements and no pointer")
        if n:
            buf = (ctypes.c_char * (n * T.itemsize)).from_address(addr)
            parts.append(np.frombuffer(buf, dtype=T))
    grads = np.concatenate(parts) if parts else np.empty(0, T)
    views = []
    for what, a in flat:
        if a is None:
            views.append(None)
            continue
        flat_a = _array(a, T, a.size, name, what)
        if a.size < hi:
            raise LaunchError(f"{name}: {what} has {a.size} elements; the table reaches {hi}")
        views.append(flat_a[lo:hi])
    return grads, views


def _sgd(T, name, grid, block, shared_mem, p, table, count, buf, lr, momentum,
         one_minus_dampening, weight_decay, nesterov, maximize, first):
    _stride_launch(grid, block, shared_mem, name)
    ctype = T.type
    for what, v in (("lr", lr), ("momentum", momentum),
                    ("one_minus_dampening", one_minus_dampening),
                    ("weight_decay", weight_decay)):
        _scalar(v, ctype, name, what)
    f = _flags(name, nesterov=nesterov, maximize=maximize, first=first)
    # buf is read and written only with momentum (callers pass a placeholder otherwise)
    gv, (pv, bv) = _table(T, name, table, count, ("p", p), ("buf", buf))
    d = -gv if f["maximize"] else gv.copy()
    if weight_decay != 0:
        d += weight_decay * pv
    if momentum != 0:
        if f["first"]:
            b = d.copy()
        else:
            b = bv * momentum
            b += one_minus_dampening * d
        bv[...] = b
        if f["nesterov"]:
            d += momentum * b
        else:
            d = b
    pv += d * -lr


def _adam(T, name, grid, block, shared_mem, p, table, count, m, v, vmax, beta1,
          one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decay, bias2_sqrt,
          neg_step_size, decoupled, amsgrad, maximize):
    _stride_launch(grid, block, shared_mem, name)
    ctype = T.type
    for what, val in (("beta1", beta1), ("one_minus_beta1", one_minus_beta1), ("beta2", beta2),
                      ("one_minus_beta2", one_minus_beta2), ("eps", eps),
                      ("weight_decay", weight_decay), ("decay", decay),
                      ("bias2_sqrt", bias2_sqrt), ("neg_step_size", neg_step_size)):
        _scalar(val, ctype, name, what)
    f = _flags(name, decoupled=decoupled, amsgrad=amsgrad, maximize=maximize)
    gv, (pv, mv, vv, xv) = _table(T, name, table, count, ("p", p), ("m", m), ("v", v),
                                  ("vmax", vmax if f["amsgrad"] else None))
    d = -gv if f["maximize"] else gv.copy()
    if f["decoupled"]:
        pv *= decay
    elif weight_decay != 0:
        d += weight_decay * pv
    mv *= beta1
    mv += one_minus_beta1 * d
    vv *= beta2
    vv += one_minus_beta2 * (d * d)
    src = vv
    if f["amsgrad"]:
        np.maximum(xv, vv, out=xv)
        src = xv
    denom = np.sqrt(src) / bias2_sqrt
    denom += eps
    pv += (mv / denom) * neg_step_size


# ---- bias_act.cu ----------------------------------------------------------------------------
ACTIVATIONS = {"identity": 0, "relu": 1, "gelu": 2, "gelu_tanh": 3, "silu": 4, "tanh": 5,
               "sigmoid": 6}
_SQRT2 = math.sqrt(2.0)
_K = math.sqrt(2.0 / math.pi)
_A = 0.044715


def _sigmoid(z):
    with np.errstate(over="ignore"):  # exp(-z) is inf below -88 (float32): the right 0
        return 1 / (1 + np.exp(-z))


def gelu_cdf(z):
    """Phi(z) = (1 + erf(z / sqrt 2)) / 2 in z's dtype: exact gelu is z * Phi(z)."""
    T = z.dtype.type
    return T(0.5) * (1 + _erf(z / T(_SQRT2)).astype(z.dtype))


def gelu_backward(g, z, cdf):
    """g * gelu'(z) = g * (Phi(z) + z phi(z)), from Phi(z) = ``cdf``."""
    T = z.dtype.type
    pdf = np.exp(T(-0.5) * z * z) * T(1 / math.sqrt(2 * math.pi))
    return g * (cdf + z * pdf)


def act_forward(code, z):
    """act(z) for activation ``code`` (see ACTIVATIONS), in z's dtype."""
    T = z.dtype.type
    if code == 1:
        return np.maximum(z, T(0))
    if code == 2:
        return z * gelu_cdf(z)
    if code == 3:
        return T(0.5) * z * (1 + np.tanh(T(_K) * (z + T(_A) * z * z * z)))
    if code == 4:
        return z * _sigmoid(z)
    if code == 5:
        return np.tanh(z)
    if code == 6:
        return _sigmoid(z)
    return z.copy()


def act_backward(code, g, z):
    """g * act'(z) for activation ``code``, in z's dtype."""
    T = z.dtype.type
    if code == 1:
        return g * (z > 0)
    if code == 2:
        return gelu_backward(g, z, gelu_cdf(z))
    if code == 3:
        t = np.tanh(T(_K) * (z + T(_A) * z * z * z))
        du = T(_K) * (1 + T(3 * _A) * z * z)
        return g * (T(0.5) * (1 + t) + T(0.5) * z * (1 - t * t) * du)
    if code == 4:
        s = _sigmoid(z)
        return g * (s * (1 + z * (1 - s)))
    if code == 5:
        t = np.tanh(z)
        return g - (g * t) * t
    if code == 6:
        s = _sigmoid(z)
        gs = g * s
        return gs - gs * s
    return g.copy()


def _preact(T, name, x, b, size, cols, has_bias):
    xv = _array(x, T, size, name, "x")
    if not has_bias:
        return xv
    c = int(cols)
    if c < 1 or size % c:
        raise LaunchError(f"{name}: {size} elements are not rows of cols={c}")
    bv = _array(b, T, c, name, "b")
    return (xv.reshape(-1, c) + bv).reshape(-1)


def _act_code(act, name):
    code = int(_scalar(act, np.int32, name, "act"))
    if code not in ACTIVATIONS.values():
        raise LaunchError(f"{name}: unknown activation code {code}")
    return code


def _bias_act_fwd(T, name, grid, block, shared_mem, x, b, y, n, cols, act, has_bias):
    _stride_launch(grid, block, shared_mem, name)
    size = int(_scalar(n, np.int64, name, "n"))
    _scalar(cols, np.int64, name, "cols")
    code = _act_code(act, name)
    hb = _flags(name, has_bias=has_bias)["has_bias"]
    yv = _array(y, T, size, name, "y")
    with np.errstate(all="ignore"):
        yv[...] = act_forward(code, _preact(T, name, x, b, size, cols, hb))


def _bias_act_bwd(T, name, grid, block, shared_mem, g, x, b, dz, n, cols, act, has_bias):
    _stride_launch(grid, block, shared_mem, name)
    size = int(_scalar(n, np.int64, name, "n"))
    _scalar(cols, np.int64, name, "cols")
    code = _act_code(act, name)
    hb = _flags(name, has_bias=has_bias)["has_bias"]
    gv = _array(g, T, size, name, "g")
    dv = _array(dz, T, size, name, "dz")
    with np.errstate(all="ignore"):
        dv[...] = act_backward(code, gv, _preact(T, name, x, b, size, cols, hb))


# ---- layer_norm.cu --------------------------------------------------------------------------
WB_TILE = 32  # columns per block of tg_layer_norm_bwd_wb


def _placeholder(a, T, name, what):
    """A pointer argument that the kernel does not read (a flag is off): still a device array
    of the kernel's type, as the C signature says."""
    return _array(a, T, a.size if type(a) is np.ndarray else -1, name, what)


def _ln_rows(T, name, x, rows, cols):
    return _row_view(_array(x, T, rows * cols, name, "x"), rows, cols)


def _ln_affine(T, name, a, flag, what, cols):
    if flag:
        return _array(a, T, cols, name, what)
    _placeholder(a, T, name, what)
    return None


def _layer_norm_fwd(T, name, grid, block, shared_mem, x, w, b, y, mean, rstd, cols, eps,
                    has_weight, has_bias):
    rows = _row_launch(grid, block, shared_mem, name)
    c = _cols(cols, name)
    e = _scalar(eps, T.type, name, "eps")
    f = _flags(name, has_weight=has_weight, has_bias=has_bias)
    xv = _ln_rows(T, name, x, rows, c)
    wv = _ln_affine(T, name, w, f["has_weight"], "w", c)
    bv = _ln_affine(T, name, b, f["has_bias"], "b", c)
    yv = _row_view(_array(y, T, rows * c, name, "y"), rows, c)
    mv = _array(mean, T, rows, name, "mean")
    rv = _array(rstd, T, rows, name, "rstd")
    with np.errstate(all="ignore"):
        mu = xv.mean(axis=1, dtype=T)
        xc = xv - mu[:, None]
        var = (xc * xc).mean(axis=1, dtype=T)
        rs = T.type(1) / np.sqrt(var + e)
        out = xc * rs[:, None]
        if wv is not None:
            out = out * wv
        if bv is not None:
            out = out + bv
    mv[...] = mu
    rv[...] = rs
    yv[...] = out


def _layer_norm_bwd_dx(T, name, grid, block, shared_mem, g, x, w, mean, rstd, dx, cols,
                       has_weight):
    rows = _row_launch(grid, block, shared_mem, name)
    c = _cols(cols, name)
    f = _flags(name, has_weight=has_weight)
    gv = _ln_rows(T, name, g, rows, c)
    xv = _ln_rows(T, name, x, rows, c)
    wv = _ln_affine(T, name, w, f["has_weight"], "w", c)
    mv = _array(mean, T, rows, name, "mean")[:, None]
    rv = _array(rstd, T, rows, name, "rstd")[:, None]
    dv = _row_view(_array(dx, T, rows * c, name, "dx"), rows, c)
    with np.errstate(all="ignore"):
        gw = gv * wv if wv is not None else gv
        xh = (xv - mv) * rv
        dv[...] = rv * ((gw - gw.mean(axis=1, keepdims=True, dtype=T))
                        - xh * (gw * xh).mean(axis=1, keepdims=True, dtype=T))


def _layer_norm_bwd_wb(T, name, grid, block, shared_mem, g, x, mean, rstd, part, rows, cols,
                       rows_per_chunk):
    gx, chunks, gz = _dims(grid, "grid", name)
    _block_1d(block, name, warps=True)  # whole warps: a warp per row lane of the tile
    _no_shared(shared_mem, name)
    r = int(_scalar(rows, np.int32, name, "rows"))
    c = _cols(cols, name)
    per = int(_scalar(rows_per_chunk, np.int32, name, "rows_per_chunk"))
    if r < 1 or per < 1:
        raise LaunchError(f"{name}: rows and rows_per_chunk must be >= 1, got {r}, {per}")
    if gz != 1 or gx * WB_TILE < c or (gx - 1) * WB_TILE >= c:
        raise LaunchError(f"{name}: grid must be (ceil(cols / {WB_TILE}), chunks), got {grid} "
                          f"for cols={c}")
    if chunks > 65535 or chunks * per < r or (chunks - 1) * per >= r:
        raise LaunchError(f"{name}: grid[1] = {chunks} chunks of {per} rows do not cover "
                          f"{r} rows exactly")
    gv = _ln_rows(T, name, g, r, c)
    xv = _ln_rows(T, name, x, r, c)
    mv = _array(mean, T, r, name, "mean")[:, None]
    rv = _array(rstd, T, r, name, "rstd")[:, None]
    pv = _array(part, T, 2 * chunks * c, name, "part").reshape(2, chunks, c)
    with np.errstate(all="ignore"):
        gxh = gv * ((xv - mv) * rv)
        for k in range(chunks):
            sl = slice(k * per, min(r, (k + 1) * per))
            pv[0, k] = gxh[sl].sum(axis=0, dtype=T)
            pv[1, k] = gv[sl].sum(axis=0, dtype=T)


# ---- im2col.cu ------------------------------------------------------------------------------
_GEOMETRY = ("H", "W", "KH", "KW", "OH", "OW", "SH", "SW", "PH", "PW", "DH", "DW")


def _geometry(name, values):
    geo = {}
    for what, v in zip(_GEOMETRY, values):
        geo[what] = int(_scalar(v, np.int32, name, what))
    for what, v in geo.items():
        if v < (0 if what in ("PH", "PW") else 1):
            raise LaunchError(f"{name}: {what} = {v} is out of range")
    return geo


def _im2col(T, name, grid, block, shared_mem, x, cols, total, *rest):
    _stride_launch(grid, block, shared_mem, name)
    if len(rest) != len(_GEOMETRY) + 1:
        raise LaunchError(f"{name}: expected {len(_GEOMETRY) + 4} arguments")
    size = int(_scalar(total, np.int64, name, "total"))
    geo = _geometry(name, rest[:-1])
    pad = _scalar(rest[-1], T.type, name, "pad")
    H, W, KH, KW, OH, OW = (geo[k] for k in _GEOMETRY[:6])
    window = KH * KW * OH * OW
    if size < 1 or size % window:
        raise LaunchError(f"{name}: total={size} is not NC * {KH}*{KW}*{OH}*{OW}")
    nc = size // window
    xv = _array(x, T, nc * H * W, name, "x").reshape(nc, H, W)
    cv = _array(cols, T, size, name, "cols").reshape(nc, KH, KW, OH, OW)
    # the kernel's index arithmetic, for all output elements at once
    i = np.arange(KH)[:, None, None, None]
    j = np.arange(KW)[None, :, None, None]
    oh = np.arange(OH)[None, None, :, None]
    ow = np.arange(OW)[None, None, None, :]
    h = oh * geo["SH"] - geo["PH"] + i * geo["DH"]
    w = ow * geo["SW"] - geo["PW"] + j * geo["DW"]
    h, w = np.broadcast_arrays(h, w)
    valid = (h >= 0) & (h < H) & (w >= 0) & (w < W)
    vals = xv[:, np.clip(h, 0, H - 1), np.clip(w, 0, W - 1)]
    cv[...] = np.where(valid, vals, pad)


def _col2im(T, name, grid, block, shared_mem, cols, out, total, *rest):
    _stride_launch(grid, block, shared_mem, name)
    if len(rest) != len(_GEOMETRY):
        raise LaunchError(f"{name}: expected {len(_GEOMETRY) + 3} arguments")
    size = int(_scalar(total, np.int64, name, "total"))
    geo = _geometry(name, rest)
    H, W, KH, KW, OH, OW = (geo[k] for k in _GEOMETRY[:6])
    if size < 1 or size % (H * W):
        raise LaunchError(f"{name}: total={size} is not NC * {H}*{W}")
    nc = size // (H * W)
    cv = _array(cols, T, nc * KH * KW * OH * OW, name, "cols").reshape(nc, KH, KW, OH, OW)
    ov = _array(out, T, size, name, "out").reshape(nc, H, W)
    hp = np.arange(H)[:, None] + geo["PH"]
    wp = np.arange(W)[None, :] + geo["PW"]
    acc = np.zeros((nc, H, W), T)
    # each output pixel gathers its contributions in (i, j) order, as the kernel does
    for i in range(KH):
        th = hp - i * geo["DH"]
        vh = (th >= 0) & (th % geo["SH"] == 0) & (th // geo["SH"] < OH)
        oh = np.where(vh, th // geo["SH"], 0)
        for j in range(KW):
            tw = wp - j * geo["DW"]
            vw = (tw >= 0) & (tw % geo["SW"] == 0) & (tw // geo["SW"] < OW)
            ow = np.where(vw, tw // geo["SW"], 0)
            mask = vh & vw
            oh_b, ow_b = np.broadcast_arrays(oh, ow)
            acc += np.where(mask, cv[:, i, j, oh_b, ow_b], T.type(0))
    ov[...] = acc


# ---- rnn_cell.cu ----------------------------------------------------------------------------
def _cell_shape(name, rows, hidden):
    r = int(_scalar(rows, np.int64, name, "rows"))
    h = int(_scalar(hidden, np.int64, name, "hidden"))
    if r < 0 or h < 1:
        raise LaunchError(f"{name}: rows must be >= 0 and hidden >= 1, got {r}, {h}")
    return r, h


def _cell_arrays(T, name, rows, hidden, **arrays):
    """Each named array as (rows, k * hidden) for its width k (the keyword's value)."""
    return [_array(a, T, rows * k * hidden, name, what).reshape(rows, k * hidden)
            for what, (a, k) in arrays.items()]


def _lstm_parts(gates, c_prev):
    h = gates.shape[1] // 4
    i, f, o = (_sigmoid(gates[:, k * h:(k + 1) * h]) for k in (0, 1, 3))
    g = np.tanh(gates[:, 2 * h:3 * h])
    c = f * c_prev + i * g
    return i, f, g, o, c


def _lstm_cell_fwd(T, name, grid, block, shared_mem, gates, c_prev, out, rows, hidden):
    _stride_launch(grid, block, shared_mem, name)
    r, h = _cell_shape(name, rows, hidden)
    a, cp, y = _cell_arrays(T, name, r, h, gates=(gates, 4), c_prev=(c_prev, 1), out=(out, 2))
    with np.errstate(all="ignore"):
        _, _, _, o, c = _lstm_parts(a, cp)
        y[:, h:] = c
        y[:, :h] = o * np.tanh(c)


def _lstm_cell_bwd(T, name, grid, block, shared_mem, gout, gates, c_prev, d_gates, d_c, rows,
                   hidden):
    _stride_launch(grid, block, shared_mem, name)
    r, h = _cell_shape(name, rows, hidden)
    g, a, cp, da, dcp = _cell_arrays(T, name, r, h, gout=(gout, 2), gates=(gates, 4),
                                     c_prev=(c_prev, 1), d_gates=(d_gates, 4), d_c=(d_c, 1))
    with np.errstate(all="ignore"):
        i, f, cand, o, c = _lstm_parts(a, cp)
        tc = np.tanh(c)
        dh = g[:, :h]
        dc = g[:, h:] + dh * o * (1 - tc * tc)
        da[:, :h] = dc * cand * i * (1 - i)
        da[:, h:2 * h] = dc * cp * f * (1 - f)
        da[:, 2 * h:3 * h] = dc * i * (1 - cand * cand)
        da[:, 3 * h:] = dh * tc * o * (1 - o)
        dcp[...] = dc * f


def _gru_parts(gi, gh):
    h = gi.shape[1] // 3
    r = _sigmoid(gi[:, :h] + gh[:, :h])
    z = _sigmoid(gi[:, h:2 * h] + gh[:, h:2 * h])
    n = np.tanh(gi[:, 2 * h:] + r * gh[:, 2 * h:])
    return r, z, n


def _gru_cell_fwd(T, name, grid, block, shared_mem, gi, gh, h_prev, out, rows, hidden):
    _stride_launch(grid, block, shared_mem, name)
    r, h = _cell_shape(name, rows, hidden)
    xi, xh, hp, y = _cell_arrays(T, name, r, h, gi=(gi, 3), gh=(gh, 3), h_prev=(h_prev, 1),
                                 out=(out, 1))
    with np.errstate(all="ignore"):
        _, z, n = _gru_parts(xi, xh)
        y[...] = (1 - z) * n + z * hp


def _gru_cell_bwd(T, name, grid, block, shared_mem, gout, gi, gh, h_prev, d_gi, d_gh, d_h,
                  rows, hidden):
    _stride_launch(grid, block, shared_mem, name)
    r_, h = _cell_shape(name, rows, hidden)
    g, xi, xh, hp, dgi, dgh, dh = _cell_arrays(
        T, name, r_, h, gout=(gout, 1), gi=(gi, 3), gh=(gh, 3), h_prev=(h_prev, 1),
        d_gi=(d_gi, 3), d_gh=(d_gh, 3), d_h=(d_h, 1))
    with np.errstate(all="ignore"):
        r, z, n = _gru_parts(xi, xh)
        dn = g * (1 - z) * (1 - n * n)
        dz = g * (hp - n) * z * (1 - z)
        dr = dn * xh[:, 2 * h:] * r * (1 - r)
        dgi[:, :h] = dgh[:, :h] = dr
        dgi[:, h:2 * h] = dgh[:, h:2 * h] = dz
        dgi[:, 2 * h:] = dn
        dgh[:, 2 * h:] = dn * r
        dh[...] = g * z


# ---- one reference per entry point ----------------------------------------------------------
_GENERIC = {
    "tg_log_softmax_fwd": _log_softmax_fwd,
    "tg_softmax_fwd": _softmax_fwd,
    "tg_log_softmax_bwd": _log_softmax_bwd,
    "tg_softmax_bwd": _softmax_bwd,
    "tg_xent_fwd": _xent_fwd,
    "tg_xent_mean": _xent_mean,
    "tg_xent_bwd": _xent_bwd,
    "tg_sgd": _sgd,
    "tg_adam": _adam,
    "tg_bias_act_fwd": _bias_act_fwd,
    "tg_bias_act_bwd": _bias_act_bwd,
    "tg_layer_norm_fwd": _layer_norm_fwd,
    "tg_layer_norm_bwd_dx": _layer_norm_bwd_dx,
    "tg_layer_norm_bwd_wb": _layer_norm_bwd_wb,
    "tg_im2col": _im2col,
    "tg_col2im": _col2im,
    "tg_lstm_cell_fwd": _lstm_cell_fwd,
    "tg_lstm_cell_bwd": _lstm_cell_bwd,
    "tg_gru_cell_fwd": _gru_cell_fwd,
    "tg_gru_cell_bwd": _gru_cell_bwd,
}


def _entry(generic, T, name):
    def ref(grid, block, shared_mem, *args):
        return generic(T, name, grid, block, shared_mem, *args)

    ref.__name__ = ref.__qualname__ = name
    ref.__doc__ = f"NumPy reference of the kernel ``{name}``."
    return ref


ENTRY_POINTS = []
for _base, _generic in _GENERIC.items():
    for _sfx, _T in _DTYPES.items():
        _name = f"{_base}_{_sfx}"
        globals()[_name] = _entry(_generic, _T, _name)
        ENTRY_POINTS.append(_name)
del _base, _generic, _sfx, _T, _name
