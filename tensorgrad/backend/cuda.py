"""Fused CUDA kernels: finding their sources, compiling them with CuPy, launching them.

The kernels are CUDA C in the repository's top-level ``kernels/`` directory, installed as the
package ``tensorgrad.kernels`` (see that package). They are compiled with ``cupy.RawModule``
on first use, once per (source file, GPU), and are only ever used for CuPy arrays: the CPU path
never imports this module's CuPy side, and CuPy comes from ``tensorgrad.backend.device`` (the
one guarded import), so this module imports where CuPy is missing.

The launch wrappers below marshal arguments exactly as the C signatures in the ``.cu`` files
declare them (``int`` as ``np.int32``, ``long long`` as ``np.int64``, ``float``/``double`` as
the array's dtype); ``KERNELS`` lists every entry point they use, and the tests check each one
against its source and its NumPy reference (``tensorgrad.kernels.reference``).
"""

import math
import os

import numpy as np

from .. import _memory_format as _mf
from . import device as _device

OPTIONS = ("-std=c++14",)
SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}

# source file -> the kernels (without their dtype suffix) that the dispatch code launches
KERNELS = {
    "softmax_xent.cu": ("tg_log_softmax_fwd", "tg_softmax_fwd", "tg_log_softmax_bwd",
                        "tg_softmax_bwd", "tg_xent_fwd", "tg_xent_mean", "tg_xent_bwd"),
    "optim.cu": ("tg_sgd", "tg_adam"),
    "bias_act.cu": ("tg_bias_act_fwd", "tg_bias_act_bwd"),
    "layer_norm.cu": ("tg_layer_norm_fwd", "tg_layer_norm_bwd_dx", "tg_layer_norm_bwd_wb"),
    "im2col.cu": ("tg_im2col", "tg_col2im"),
    "rnn_cell.cu": ("tg_lstm_cell_fwd", "tg_lstm_cell_bwd", "tg_gru_cell_fwd",
                    "tg_gru_cell_bwd"),
}
ACTIVATIONS = {"identity": 0, "relu": 1, "gelu": 2, "gelu_tanh": 3, "silu": 4, "tanh": 5,
               "sigmoid": 6}

STRIDE_BLOCK = 256  # threads per block of the grid-stride kernels
MAX_STRIDE_BLOCKS = 65535  # enough blocks to fill any GPU; more elements loop in each thread

_modules = {}  # (file, device id) -> cupy.RawModule
_functions = {}  # (file, name, device id) -> kernel function
_launchers = {}  # (kernel base name, dtype, device id) -> kernel function: one lookup a launch
_sources = {}  # file -> source text


# ---- finding and compiling the sources ------------------------------------------------------
def kernel_dirs():
    """The directories searched for ``*.cu`` sources: those of the package
    ``tensorgrad.kernels`` (a wheel's install, or the source checkout's ``kernels/``), then the
    checkout's ``kernels/`` next to this package, for a source tree without that package."""
    dirs = []
    try:
        import tensorgrad.kernels as pkg

        dirs.extend(os.path.abspath(d) for d in pkg.__path__)
    except ImportError:  # pragma: no cover - only a broken install lacks the package
        pass
    here = os.path.dirname(os.path.abspath(__file__))
    dirs.append(os.path.normpath(os.path.join(here, os.pardir, os.pardir, "kernels")))
    seen = []
    for d in dirs:
        if d not in seen:
            seen.append(d)
    return seen


def kernel_source(name):
    """The path of the kernel source ``name`` (e.g. ``"optim.cu"``).

    >>> os.path.basename(kernel_source("optim.cu"))
    'optim.cu'
    """
    for d in kernel_dirs():
        path = os.path.join(d, name)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"tensorgrad kernel source {name!r} not found in {kernel_dirs()}; "
                            "reinstall tensorgrad (the wheel ships kernels/*.cu)")


def source_text(name):
    text = _sources.get(name)
    if text is None:
        with open(kernel_source(name), encoding="utf-8") as f:
            text = _sources[name] = f.read()
    return text


def _cupy():
    cp = _device.cupy
    if cp is None:
        raise RuntimeError("tensorgrad's CUDA kernels need CuPy; install tensorgrad[cuda] on a "
                           "machine with an NVIDIA GPU")
    return cp


def get_function(file, name, device_id):
    """The kernel ``name`` of source ``file`` compiled for GPU ``device_id`` (memoised)."""
    key = (file, name, device_id)
    fn = _functions.get(key)
    if fn is None:
        mkey = (file, device_id)
        module = _modules.get(mkey)
        cp = _cupy()
        with cp.cuda.Device(device_id):
            if module is None:
                module = _modules[mkey] = cp.RawModule(code=source_text(file), options=OPTIONS)
            fn = _functions[key] = module.get_function(name)
    return fn


def kernel_name(base, dtype):
    return f"{base}_{SUFFIX[np.dtype(dtype)]}"


def fusable(x):
    """Whether the raw array ``x`` can go to a fused kernel: a non-empty CuPy float32/float64
    array. NumPy arrays never do."""
    return type(x) is _device._CUPY_ARRAY and x.dtype in SUFFIX and x.size > 0


# ---- launch geometry ------------------------------------------------------------------------
def row_block(cols):
    """Threads per block for the one-block-per-row kernels: whole warps, about eight elements
    per thread, at most 1024 (the warp reductions need a multiple of 32).

    >>> row_block(10), row_block(1000), row_block(32000)
    (32, 128, 1024)
    """
    want = max(1, -(-cols // 8))
    threads = 32
    while threads < want and threads < 1024:
        threads *= 2
    return threads


def stride_grid(n, block=STRIDE_BLOCK):
    """Blocks for a grid-stride kernel over ``n`` elements.

    >>> stride_grid(1000), stride_grid(10 ** 9)
    (4, 65535)
    """
    return max(1, min(MAX_STRIDE_BLOCKS, -(-n // block)))


def _launch(file, base, dtype, device_id, grid, block, args):
    """Launch ``base`` for ``dtype`` on GPU ``device_id``; ``grid`` is a block count or a tuple
    of them (x, y), ``block`` a thread count."""
    key = (base, dtype, device_id)
    fn = _launchers.get(key)
    if fn is None:
        fn = _launchers[key] = get_function(file, kernel_name(base, dtype), device_id)
    cp = _device.cupy
    grid = tuple(map(int, grid)) if type(grid) is tuple else (int(grid),)
    if cp.cuda.runtime.getDevice() == device_id:  # the usual case: no device switch to pay for
        fn(grid, (int(block),), args, shared_mem=0)
    else:
        with cp.cuda.Device(device_id):
            fn(grid, (int(block),), args, shared_mem=0)


def _contig(a):
    return a if a.flags.c_contiguous else _device.cupy.ascontiguousarray(a)


def _dense_order(a):
    """The memory order of an array that is dense but not row-major (a channels_last one),
    else None."""
    if a.flags.c_contiguous or a.ndim < 2:
        return None
    perm = _mf._dense_perm(a)
    return None if perm is None or perm == tuple(range(a.ndim)) else perm


def _rows_cols(x):
    cols = x.shape[-1]
    return x.size // cols, cols


# ---- softmax_xent.cu ------------------------------------------------------------------------
def _row_fwd(base, x):
    x = _contig(x)
    rows, cols = _rows_cols(x)
    y = _device.cupy.empty_like(x)
    _launch("softmax_xent.cu", base, x.dtype, x.device.id, rows, row_block(cols),
            (x, y, np.int32(cols)))
    return y


def log_softmax_lastdim(x):
    """log_softmax over the last axis of a fusable CuPy array."""
    return _row_fwd("tg_log_softmax_fwd", x)


def softmax_lastdim(x):
    """softmax over the last axis of a fusable CuPy array."""
    return _row_fwd("tg_softmax_fwd", x)


def _row_bwd(base, g, y):
    g = _contig(g.astype(y.dtype, copy=False))
    y = _contig(y)
    rows, cols = _rows_cols(y)
    dx = _device.cupy.empty_like(y)
    _launch("softmax_xent.cu", base, y.dtype, y.device.id, rows, row_block(cols),
            (g, y, dx, np.int32(cols)))
    return dx


def log_softmax_lastdim_backward(g, y):
    """The cotangent of x for y = log_softmax(x) (last axis): g - exp(y) * sum(g)."""
    return _row_bwd("tg_log_softmax_bwd", g, y)


def softmax_lastdim_backward(g, y):
    """The cotangent of x for y = softmax(x) (last axis): y * (g - sum(g * y))."""
    return _row_bwd("tg_softmax_bwd", g, y)


def _ignore_args(ignore):
    return (np.int64(0 if ignore is None else ignore), np.int32(ignore is not None))


def _xent_rows(x, target, ignore, buf):
    """Run tg_xent_fwd into rows 0, 1, 2 of ``buf`` (loss, max, log-sum; N elements each, from
    the start of buf's memory); return the contiguous int64 targets."""
    x = _contig(x)
    rows, cols = x.shape
    t = _contig(target.astype(_device.cupy.int64, copy=False))
    _launch("softmax_xent.cu", "tg_xent_fwd", x.dtype, x.device.id, rows, row_block(cols),
            (x, t, buf[:rows], buf[rows:2 * rows], buf[2 * rows:3 * rows], np.int32(cols))
            + _ignore_args(ignore))
    return t


def cross_entropy_rows(x, target, ignore=None):
    """Per-row -log softmax(x)[target] of a (N, C) CuPy array, as the first N elements of a
    3N buffer whose next 2N keep each row's max and log-sum (logsumexp = max + log-sum) for the
    backward kernel (``buffer = loss.base``). A row whose target is ``ignore`` (an int, or None
    for none) gives 0; any other target outside [0, C) gives a NaN loss."""
    rows = x.shape[0]
    buf = _device.cupy.empty(3 * rows, x.dtype)
    _xent_rows(x, target, ignore, buf)
    return buf[:rows]


def cross_entropy_mean(x, target, ignore=None):
    """The mean of ``cross_entropy_rows`` over the rows whose target is not ``ignore``, in two
    launches and no host synchronisation: a 0-d view of element 3N of one 3N + 2 buffer that
    holds the rows' losses, maxima and log-sums, then the mean and the count of rows kept (for
    ``cross_entropy_mean_backward``; ``buffer = answer.base``)."""
    rows = x.shape[0]
    buf = _device.cupy.empty(3 * rows + 2, x.dtype)
    t = _xent_rows(x, target, ignore, buf)
    _launch("softmax_xent.cu", "tg_xent_mean", x.dtype, x.device.id, 1, row_block(rows),
            (buf[:rows], t, buf[3 * rows:], np.int32(rows)) + _ignore_args(ignore))
    return buf[3 * rows]


def _xent_bwd(g, g_stride, count, x, target, buf, ignore):
    x = _contig(x)
    rows, cols = x.shape
    g = _contig(g.astype(x.dtype, copy=False))
    t = _contig(target.astype(_device.cupy.int64, copy=False))
    dx = _device.cupy.empty_like(x)
    _launch("softmax_xent.cu", "tg_xent_bwd", x.dtype, x.device.id, rows, row_block(cols),
            (g, np.int64(g_stride), g if count is None else count, np.int32(count is not None),
             x, t, buf[rows:2 * rows], buf[2 * rows:3 * rows], dx, np.int32(cols))
            + _ignore_args(ignore))
    return dx


def cross_entropy_rows_backward(g, x, target, buf, ignore=None):
    """g[r] * (softmax(x[r]) - onehot(target[r])) for per-row cotangents ``g`` (N,), with
    ``buf`` the forward's buffer; 0 on the rows whose target is ``ignore``."""
    return _xent_bwd(g, 1, None, x, target, buf, ignore)


def cross_entropy_mean_backward(g, x, target, buf, ignore=None):
    """(g / count) * (softmax(x[r]) - onehot(target[r])) on every kept row, for the 0-d
    cotangent ``g`` of ``cross_entropy_mean``, whose buffer ``buf`` holds the count."""
    rows = x.shape[0]
    return _xent_bwd(g, 0, buf[3 * rows + 1:], x, target, buf, ignore)


# ---- optim.cu -------------------------------------------------------------------------------
TABLE_SIZE = 64  # tensors per launch of the optimizer kernels (TG_TABLE_SIZE in optim.cu)
# struct tg_grad_table in optim.cu, passed by value as a size-1 structured NumPy array
GRAD_TABLE = np.dtype([("grad", np.uint64, (TABLE_SIZE,)), ("start", np.int64, (TABLE_SIZE + 1,))])


def grad_tables(sizes):
    """The launches of an optimizer kernel over tensors of ``sizes`` elements laid out one after
    another in flat buffers: ``[(table, count, elements)]``, one per TABLE_SIZE tensors, the
    table's offsets filled in and its gradient pointers left for ``fill_grad_tables``.

    >>> [(count, n) for _, count, n in grad_tables([3, 4, 5])]
    [(3, 12)]
    >>> [(count, n) for _, count, n in grad_tables([1] * 130)]
    [(64, 64), (64, 64), (2, 2)]
    """
    starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
    tables = []
    for lo in range(0, len(sizes), TABLE_SIZE):
        count = min(TABLE_SIZE, len(sizes) - lo)
        table = np.zeros(1, GRAD_TABLE)
        table["start"][0, :count + 1] = starts[lo:lo + count + 1]
        tables.append((table, count, int(starts[lo + count] - starts[lo])))
    return tables


def fill_grad_tables(tables, grads):
    """Point ``tables`` (from ``grad_tables``) at ``grads``, contiguous arrays of the tensors'
    sizes and the parameters' dtype: CuPy arrays (device pointers), or NumPy ones (host
    addresses, for the NumPy references)."""
    at = 0
    for table, count, _ in tables:
        table["grad"][0, :count] = [
            (g.data.ptr if type(g) is _device._CUPY_ARRAY else g.ctypes.data) if g.size else 0
            for g in grads[at:at + count]]
        at += count


def sgd_flat(p, tables, buf, lr, momentum, dampening, weight_decay, nesterov, maximize, first):
    """One SGD step over the flat buffers ``p`` (parameters) and ``buf`` (momentum; None when
    momentum is 0), contiguous CuPy arrays of one dtype, with the gradients read in place
    through ``tables`` (``grad_tables``, filled for this step)."""
    T = p.dtype.type
    for table, count, n in tables:
        _launch("optim.cu", "tg_sgd", p.dtype, p.device.id, stride_grid(n), STRIDE_BLOCK,
                (p, table, np.int32(count), p if buf is None else buf, T(lr), T(momentum),
                 T(1 - dampening), T(weight_decay), np.int32(bool(nesterov)),
                 np.int32(bool(maximize)), np.int32(bool(first))))


def adam_flat(p, tables, m, v, vmax, step, lr, beta1, beta2, eps, weight_decay, decoupled,
              maximize):
    """One Adam/AdamW step (step number ``step``, from 1) over flat contiguous CuPy buffers,
    the gradients read through ``tables``; ``vmax`` is None without amsgrad."""
    T = p.dtype.type
    bias1 = 1 - beta1 ** step
    bias2 = 1 - beta2 ** step
    decay = 1 - lr * weight_decay if decoupled and weight_decay else 1.0
    for table, count, n in tables:
        _launch("optim.cu", "tg_adam", p.dtype, p.device.id, stride_grid(n), STRIDE_BLOCK,
                (p, table, np.int32(count), m, v, v if vmax is None else vmax, T(beta1),
                 T(1 - beta1), T(beta2), T(1 - beta2), T(eps), T(weight_decay), T(decay),
                 T(math.sqrt(bias2)), T(-lr / bias1), np.int32(bool(decoupled)),
                 np.int32(vmax is not None), np.int32(bool(maximize))))


# ---- bias_act.cu ----------------------------------------------------------------------------
def bias_act(x, b, activation):
    """act(x + b) (b along the last axis; None for no bias) of fusable CuPy arrays. Without a
    bias the kernel is elementwise: a dense array in another memory order (channels_last) is
    read in place and the answer keeps its layout."""
    perm = _dense_order(x) if b is None else None
    if perm is not None:
        return _mf.unpermute(bias_act(x.transpose(perm), None, activation), perm)
    x = _contig(x)
    y = _device.cupy.empty_like(x)
    cols = x.shape[-1] if x.ndim else 1
    _launch("bias_act.cu", "tg_bias_act_fwd", x.dtype, x.device.id, stride_grid(x.size),
            STRIDE_BLOCK, (x, x if b is None else _contig(b), y, np.int64(x.size),
                           np.int64(cols), np.int32(ACTIVATIONS[activation]),
                           np.int32(b is not None)))
    return y


def bias_act_backward(g, x, b, activation):
    """g * act'(x + b): the cotangent of x (and, summed over the leading axes, of b); laid
    out as x without a bias (``bias_act``)."""
    perm = _dense_order(x) if b is None else None
    if perm is not None:
        return _mf.unpermute(bias_act_backward(g.transpose(perm), x.transpose(perm), None,
                                               activation), perm)
    x = _contig(x)
    g = _contig(g.astype(x.dtype, copy=False))
    dz = _device.cupy.empty_like(x)
    cols = x.shape[-1] if x.ndim else 1
    _launch("bias_act.cu", "tg_bias_act_bwd", x.dtype, x.device.id, stride_grid(x.size),
            STRIDE_BLOCK, (g, x, x if b is None else _contig(b), dz, np.int64(x.size),
                           np.int64(cols), np.int32(ACTIVATIONS[activation]),
                           np.int32(b is not None)))
    return dz


# ---- layer_norm.cu --------------------------------------------------------------------------
WB_TILE = 32  # columns per block of tg_layer_norm_bwd_wb
WB_BLOCK = 256  # threads (8 row lanes of 32 columns) per block of tg_layer_norm_bwd_wb
WB_TARGET_BLOCKS = 1024  # enough blocks to fill a GPU several times over
WB_MIN_ROWS = 64  # fewest rows a chunk is given (8 per warp)


def layer_norm_saved_size(x, cols):
    """Elements of the buffer behind a fused layer_norm answer: y, then mean and rstd per row."""
    return x.size + 2 * (x.size // cols)


def layer_norm(x, w, b, cols, eps):
    """layer_norm of a fusable CuPy array over its trailing ``cols`` elements (w, b: CuPy
    arrays of ``cols`` elements of x's dtype, or None). The answer is the leading part of one
    buffer (``answer.base``) that keeps each row's mean and rstd after it for the backward
    kernels (``layer_norm_stats``)."""
    cp = _device.cupy
    x = _contig(x)
    n = x.size
    rows = n // cols
    buf = cp.empty(n + 2 * rows, x.dtype)
    y = buf[:n].reshape(x.shape)
    mean, rstd = buf[n:n + rows], buf[n + rows:]
    T = x.dtype.type
    _launch("layer_norm.cu", "tg_layer_norm_fwd", x.dtype, x.device.id, rows, row_block(cols),
            (x, x if w is None else _contig(w), x if b is None else _contig(b), y, mean, rstd,
             np.int32(cols), T(eps), np.int32(w is not None), np.int32(b is not None)))
    return y


def layer_norm_stats(buf, x, cols):
    """(mean, rstd) per row from the forward's buffer."""
    n = x.size
    rows = n // cols
    return buf[n:n + rows], buf[n + rows:]


def layer_norm_backward_x(g, x, w, buf, cols):
    """The cotangent of x: rstd * (g w - mean(g w) - xhat * mean(g w xhat)) per row."""
    x = _contig(x)
    g = _contig(g.astype(x.dtype, copy=False))
    mean, rstd = layer_norm_stats(buf, x, cols)
    dx = _device.cupy.empty_like(x)
    _launch("layer_norm.cu", "tg_layer_norm_bwd_dx", x.dtype, x.device.id, x.size // cols,
            row_block(cols), (g, x, x if w is None else _contig(w), mean, rstd, dx,
                              np.int32(cols), np.int32(w is not None)))
    return dx


def wb_chunks(rows, cols):
    """(chunks, rows_per_chunk) of the column reduction: enough blocks to fill the GPU, at least
    WB_MIN_ROWS rows each, the chunks covering the rows exactly (the last may be short).

    >>> wb_chunks(8, 4), wb_chunks(32768, 768), wb_chunks(100000, 32)
    ((1, 8), (43, 763), (1021, 98))
    """
    tiles = -(-cols // WB_TILE)
    chunks = max(1, min(-(-rows // WB_MIN_ROWS), -(-WB_TARGET_BLOCKS // tiles), 65535))
    per = -(-rows // chunks)
    return -(-rows // per), per


def layer_norm_backward_wb(g, x, buf, cols):
    """(dw, db), each (cols,): the sums over rows of g * xhat and of g, as per-chunk partials
    from one kernel and one small CuPy reduction over the chunks."""
    cp = _device.cupy
    x = _contig(x)
    g = _contig(g.astype(x.dtype, copy=False))
    mean, rstd = layer_norm_stats(buf, x, cols)
    rows = x.size // cols
    chunks, per = wb_chunks(rows, cols)
    part = cp.empty((2, chunks, cols), x.dtype)
    _launch("layer_norm.cu", "tg_layer_norm_bwd_wb", x.dtype, x.device.id,
            (-(-cols // WB_TILE), chunks), WB_BLOCK,
            (g, x, mean, rstd, part, np.int32(rows), np.int32(cols), np.int32(per)))
    out = part[:, 0] if chunks == 1 else part.sum(axis=1)
    return out[0], out[1]


# ---- im2col.cu ------------------------------------------------------------------------------
def _geometry_args(h, w, kernel, stride, padding, dilation, oh, ow):
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    return tuple(np.int32(v) for v in (h, w, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw))


def im2col(x, kernel, stride, padding, dilation, pad_value, oh, ow):
    """ops.conv.unfold of a fusable (N, C, H, W) CuPy array: (N, C, kh, kw, OH, OW) windows,
    ``pad_value`` outside the image."""
    x = _contig(x)
    n, c, h, w = x.shape
    (kh, kw) = kernel
    cols = _device.cupy.empty((n, c, kh, kw, oh, ow), x.dtype)
    total = cols.size
    _launch("im2col.cu", "tg_im2col", x.dtype, x.device.id, stride_grid(total), STRIDE_BLOCK,
            (x, cols, np.int64(total))
            + _geometry_args(h, w, kernel, stride, padding, dilation, oh, ow)
            + (x.dtype.type(pad_value),))
    return cols


def col2im(cols, size, kernel, stride, padding, dilation):
    """ops.conv.fold of a fusable (N, C, kh, kw, OH, OW) CuPy array: each (N, C, H, W) pixel
    the sum of the window entries read from it (a gather: deterministic, no atomics)."""
    cols = _contig(cols)
    n, c, _, _, oh, ow = cols.shape
    h, w = size
    out = _device.cupy.empty((n, c, h, w), cols.dtype)
    total = out.size
    _launch("im2col.cu", "tg_col2im", cols.dtype, cols.device.id, stride_grid(total),
            STRIDE_BLOCK, (cols, out, np.int64(total))
            + _geometry_args(h, w, kernel, stride, padding, dilation, oh, ow))
    return out


# ---- rnn_cell.cu ----------------------------------------------------------------------------
def _cell_launch(base, x, hidden, args):
    rows = x.size // (x.shape[-1] or 1)
    n = rows * hidden
    _launch("rnn_cell.cu", base, x.dtype, x.device.id, stride_grid(n), STRIDE_BLOCK,
            args + (np.int64(rows), np.int64(hidden)))


def lstm_cell(gates, c_prev, hidden):
    """The packed (h, c) (..., 2H) of an LSTM step from gates (..., 4H) and c_prev (..., H)."""
    gates, c_prev = _contig(gates), _contig(c_prev)
    out = _device.cupy.empty(gates.shape[:-1] + (2 * hidden,), gates.dtype)
    _cell_launch("tg_lstm_cell_fwd", gates, hidden, (gates, c_prev, out))
    return out


def lstm_cell_backward(g, gates, c_prev):
    """(d gates, d c_prev) of an LSTM step from the cotangent g (..., 2H) of its answer."""
    gates, c_prev = _contig(gates), _contig(c_prev)
    g = _contig(g.astype(gates.dtype, copy=False))
    cp = _device.cupy
    d_gates = cp.empty_like(gates)
    d_c = cp.empty_like(c_prev)
    _cell_launch("tg_lstm_cell_bwd", gates, c_prev.shape[-1], (g, gates, c_prev, d_gates, d_c))
    return d_gates, d_c


def gru_cell(gi, gh, h_prev):
    """h' (..., H) of a GRU step from gi, gh (..., 3H) and h_prev (..., H)."""
    gi, gh, h_prev = _contig(gi), _contig(gh), _contig(h_prev)
    out = _device.cupy.empty_like(h_prev)
    _cell_launch("tg_gru_cell_fwd", gi, h_prev.shape[-1], (gi, gh, h_prev, out))
    return out


def gru_cell_backward(g, gi, gh, h_prev):
    """(d gi, d gh, d h_prev) of a GRU step from the cotangent g (..., H) of h'."""
    gi, gh, h_prev = _contig(gi), _contig(gh), _contig(h_prev)
    g = _contig(g.astype(gi.dtype, copy=False))
    cp = _device.cupy
    d_gi, d_gh, d_h = cp.empty_like(gi), cp.empty_like(gh), cp.empty_like(h_prev)
    _cell_launch("tg_gru_cell_bwd", gi, h_prev.shape[-1], (g, gi, gh, h_prev, d_gi, d_gh, d_h))
    return d_gi, d_gh, d_h
