"""Every fused kernel on a real GPU against its NumPy reference (kernels/reference.py) run on
host copies of the same data. Marked ``cuda``: skipped without CuPy and a GPU, and on the
CuPy stand-in of the test suite (which runs the references themselves)."""

import numpy as np
import pytest

from tensorgrad.backend import cuda as kcuda
from tensorgrad.backend import device as _device

pytestmark = pytest.mark.cuda


def _real_cupy():
    cp = _device.cupy
    if cp is None:
        pytest.skip("CuPy is not installed")
    try:
        if cp.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("no CUDA GPU")
        name = cp.cuda.runtime.getDeviceProperties(0)["name"]
    except Exception as e:  # no driver, no device
        pytest.skip(f"no usable CUDA GPU: {e}")
    if b"StandIn" in (name if isinstance(name, bytes) else str(name).encode()):
        pytest.skip("the CuPy stand-in runs the references themselves")
    return cp


DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}


def _compare(cp, base, dtype, grid, block, args, outputs, tol=None):
    """Launch ``base`` on the device and its reference on host copies; compare ``outputs``
    (indices into args), to ``tol`` (default TOL[dtype])."""
    name = kcuda.kernel_name(base, dtype)
    import tensorgrad.kernels.reference as ref

    file = next(f for f, names in kcuda.KERNELS.items() if base in names)
    host = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    dev = [cp.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
    kcuda.get_function(file, name, 0)(grid, block, tuple(dev), shared_mem=0)
    cp.cuda.Device(0).synchronize()
    getattr(ref, name)(grid, block, 0, *host)
    for i in outputs:
        np.testing.assert_allclose(cp.asnumpy(dev[i]), host[i], **(tol or TOL[dtype]),
                                   err_msg=f"{name} output {i}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (64, 1000), (16, 32000), (3, 4097)])
def test_softmax_family_on_the_gpu(shape, dtype):
    cp = _real_cupy()
    rng = np.random.default_rng(0)
    rows, cols = shape
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    x[0, 0] = -np.inf
    if rows > 1:
        x[1] -= 1e4
    g = rng.standard_normal(shape).astype(dtype)
    y = np.zeros_like(x)
    grid, block = (rows,), (kcuda.row_block(cols),)
    c = np.int32(cols)
    for kind in ("log_softmax", "softmax"):
        _compare(cp, f"tg_{kind}_fwd", dtype, grid, block, (x, y, c), [1])
        yv = np.empty_like(x)
        getattr(__import__("tensorgrad.kernels.reference", fromlist=["x"]),
                kcuda.kernel_name(f"tg_{kind}_fwd", dtype))(grid, block, 0, x, yv, c)
        yv = np.nan_to_num(yv, neginf=-50.0)
        _compare(cp, f"tg_{kind}_bwd", dtype, grid, block, (g, yv, np.zeros_like(x), c), [2])
    target = rng.integers(0, cols, rows).astype(np.int64)
    target[0] = min(1, cols - 1)
    target[-1] = -100  # ignored
    ign = (np.int64(-100), np.int32(1))
    loss, rmax, lsum = np.zeros((3, rows), dtype)
    _compare(cp, "tg_xent_fwd", dtype, grid, block, (x, target, loss, rmax, lsum, c) + ign,
             [2, 3, 4])
    xr = np.where(np.isinf(x), dtype(-50), x)
    import tensorgrad.kernels.reference as ref

    getattr(ref, kcuda.kernel_name("tg_xent_fwd", dtype))(grid, block, 0, xr, target, loss,
                                                         rmax, lsum, c, *ign)
    gr = rng.standard_normal(rows).astype(dtype)
    _compare(cp, "tg_xent_bwd", dtype, grid, block,
             (gr, np.int64(1), gr, np.int32(0), xr, target, rmax, lsum, np.zeros_like(x), c)
             + ign, [8])
    # the mean over the kept rows and its count, then the backward of that mean: one cotangent
    # for every row (stride 0) divided by the count
    out = np.zeros(2, dtype)
    _compare(cp, "tg_xent_mean", dtype, (1,), (kcuda.row_block(rows),),
             (loss, target, out, np.int32(rows)) + ign, [2])
    getattr(ref, kcuda.kernel_name("tg_xent_mean", dtype))((1,), (kcuda.row_block(rows),), 0,
                                                          loss, target, out, np.int32(rows),
                                                          *ign)
    if out[1] > 0:
        _compare(cp, "tg_xent_bwd", dtype, grid, block,
                 (np.array(1.5, dtype), np.int64(0), out[1:].copy(), np.int32(1), xr, target,
                  rmax, lsum, np.zeros_like(x), c) + ign, [8])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", sorted(kcuda.ACTIVATIONS))
def test_bias_act_on_the_gpu(act, dtype):
    cp = _real_cupy()
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((513, 129)) * 3).astype(dtype)
    b = rng.standard_normal(129).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    n = np.int64(x.size)
    for has_bias in (1, 0):
        tail = (n, np.int64(129), np.int32(kcuda.ACTIVATIONS[act]), np.int32(has_bias))
        grid = (kcuda.stride_grid(x.size),)
        _compare(cp, "tg_bias_act_fwd", dtype, grid, (256,), (x, b, np.zeros_like(x)) + tail,
                 [2])
        _compare(cp, "tg_bias_act_bwd", dtype, (7,), (256,),
                 (g, x, b, np.zeros_like(x)) + tail, [3])


@pytest.mark.parametrize("dtype", DTYPES)
def test_optimizer_kernels_on_the_gpu(dtype):
    # 74 tensors (two pointer tables), an empty one among them: the device kernels read the
    # gradients through tables of device pointers, the references through host addresses
    cp = _real_cupy()
    import tensorgrad.kernels.reference as ref

    rng = np.random.default_rng(2)
    sizes = [100_003, 0, 1, 4097] + [int(k) for k in rng.integers(1, 2000, 70)]
    n = sum(sizes)
    T = np.dtype(dtype).type
    grads = [rng.standard_normal(k).astype(dtype) for k in sizes]
    on_gpu = [cp.asarray(g) for g in grads]
    host_tables, gpu_tables = kcuda.grad_tables(sizes), kcuda.grad_tables(sizes)
    kcuda.fill_grad_tables(host_tables, grads)
    kcuda.fill_grad_tables(gpu_tables, on_gpu)
    start = {k: rng.standard_normal(n).astype(dtype) for k in ("p", "buf", "m", "v", "vmax")}
    start["v"], start["vmax"] = np.abs(start["v"]), np.abs(start["vmax"])

    def check(base, names, scalars):
        host = {k: a.copy() for k, a in start.items()}
        dev = {k: cp.asarray(a) for k, a in start.items()}
        name = kcuda.kernel_name(base, dtype)
        fn = kcuda.get_function("optim.cu", name, 0)
        for (table, count, k), (gtable, _, _) in zip(host_tables, gpu_tables):
            grid, block = (kcuda.stride_grid(k),), (256,)
            getattr(ref, name)(grid, block, 0, host["p"], table, np.int32(count),
                               *[host[a] for a in names], *scalars)
            fn(grid, block, (dev["p"], gtable, np.int32(count), *[dev[a] for a in names],
                             *scalars), shared_mem=0)
        cp.cuda.Device(0).synchronize()
        for a in ("p",) + names:
            np.testing.assert_allclose(cp.asnumpy(dev[a]), host[a], **TOL[dtype],
                                       err_msg=f"{name} {a}")

    for first in (0, 1):
        for nesterov, damp in ((0, 0.3), (1, 0.0)):
            check("tg_sgd", ("buf",), (T(0.1), T(0.9), T(1 - damp), T(0.01), np.int32(nesterov),
                                       np.int32(0), np.int32(first)))
    for decoupled, amsgrad, maximize in ((0, 0, 0), (1, 1, 0), (0, 1, 1)):
        step = 3
        check("tg_adam", ("m", "v", "vmax"),
              (T(0.9), T(0.1), T(0.999), T(0.001), T(1e-8), T(0.01),
               T(1 - 1e-3 * 0.01 if decoupled else 1.0), T(np.sqrt(1 - 0.999 ** step)),
               T(-1e-3 / (1 - 0.9 ** step)), np.int32(decoupled), np.int32(amsgrad),
               np.int32(maximize)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (64, 1000), (5, 4097), (3000, 65)])
def test_layer_norm_kernels_on_the_gpu(shape, dtype):
    cp = _real_cupy()
    import tensorgrad.kernels.reference as ref

    rng = np.random.default_rng(3)
    rows, cols = shape
    # a mean offset small enough that the reference's two-pass mean and the kernel's Welford
    # mean agree to the tolerance (each rounds at the offset's scale)
    x = (rng.standard_normal(shape) * 2 + (3 if dtype == np.float32 else 100)).astype(dtype)
    w = rng.standard_normal(cols).astype(dtype)
    b = rng.standard_normal(cols).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    T = np.dtype(dtype).type
    grid, block = (rows,), (kcuda.row_block(cols),)
    c = np.int32(cols)
    for hw, hb in ((1, 1), (0, 1), (0, 0)):
        _compare(cp, "tg_layer_norm_fwd", dtype, grid, block,
                 (x, w, b, np.zeros_like(x), np.zeros(rows, dtype), np.zeros(rows, dtype), c,
                  T(1e-5), np.int32(hw), np.int32(hb)), [3, 4, 5])
    y, mean, rstd = np.empty_like(x), np.empty(rows, dtype), np.empty(rows, dtype)
    getattr(ref, kcuda.kernel_name("tg_layer_norm_fwd", dtype))(
        grid, block, 0, x, w, b, y, mean, rstd, c, T(1e-5), np.int32(1), np.int32(1))
    # dx carries a factor rstd (316 for a one-element row at eps 1e-5): the GPU's fused
    # multiply-adds leave rounding residues of that size where the reference cancels exactly
    dx_tol = dict(TOL[dtype], atol=TOL[dtype]["atol"] * max(1.0, float(rstd.max())))
    for hw in (1, 0):
        _compare(cp, "tg_layer_norm_bwd_dx", dtype, grid, block,
                 (g, x, w, mean, rstd, np.zeros_like(x), c, np.int32(hw)), [5], dx_tol)
    for chunks, per in (kcuda.wb_chunks(rows, cols), (1, rows), (-(-rows // 7), 7)):
        # column sums of `per` terms of size ~1, added in another order than NumPy's
        tol = (dict(rtol=1e-4, atol=1e-5 + 2e-6 * per) if dtype == np.float32 else
               dict(rtol=1e-10, atol=1e-12 + 1e-14 * per))
        for threads in (kcuda.WB_BLOCK, 32, 1024):
            _compare(cp, "tg_layer_norm_bwd_wb", dtype, (-(-cols // kcuda.WB_TILE), chunks),
                     (threads,), (g, x, mean, rstd, np.zeros((2, chunks, cols), dtype),
                                  np.int32(rows), c, np.int32(per)), [4], tol)


def test_layer_norm_float32_keeps_its_digits_on_the_gpu():
    """Welford's one-read statistics against the two-pass float64 formula, on rows whose mean
    is large against their spread."""
    cp = _real_cupy()
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((16, 4096)) + 300).astype(np.float32)
    y = kcuda.layer_norm(cp.asarray(x), None, None, 4096, 1e-5)
    x64 = x.astype(np.float64)
    want = (x64 - x64.mean(1, keepdims=True)) / np.sqrt(x64.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(cp.asnumpy(y), want, rtol=0, atol=5e-4)


CONV_GEOMETRY = [  # (N, C, H, W), kernel, stride, padding, dilation, pad value
    ((2, 3, 7, 6), (3, 3), (1, 1), (1, 1), (1, 1), 0.0),
    ((1, 2, 9, 8), (3, 2), (2, 1), (1, 2), (2, 1), 0.0),
    ((1, 3, 6, 7), (3, 3), (2, 2), (1, 1), (1, 1), float("-inf")),
    ((1, 1, 4, 4), (1, 1), (3, 3), (0, 0), (1, 1), 0.0),
    ((8, 64, 56, 56), (3, 3), (1, 1), (1, 1), (1, 1), 0.0),
    ((4, 16, 33, 31), (5, 3), (2, 3), (2, 0), (1, 2), 0.0),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geometry", CONV_GEOMETRY, ids=[f"g{i}" for i in range(6)])
def test_im2col_kernels_on_the_gpu(geometry, dtype):
    cp = _real_cupy()
    from tensorgrad.ops.conv import fold, out_size, unfold

    shape, kernel, stride, padding, dilation, pad = geometry
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape).astype(dtype)
    n, c, h, w = shape
    oh = out_size(h, kernel[0], stride[0], padding[0], dilation[0])
    ow = out_size(w, kernel[1], stride[1], padding[1], dilation[1])
    geo = kcuda._geometry_args(h, w, kernel, stride, padding, dilation, oh, ow)
    cols = np.zeros((n, c) + tuple(kernel) + (oh, ow), dtype)
    for grid in ((kcuda.stride_grid(cols.size),), (3,)):  # a short grid strides further
        _compare(cp, "tg_im2col", dtype, grid, (256,),
                 (x, cols, np.int64(cols.size)) + geo + (np.dtype(dtype).type(pad),), [1])
    gc = rng.standard_normal(cols.shape).astype(dtype)
    for grid in ((kcuda.stride_grid(x.size),), (5,)):
        _compare(cp, "tg_col2im", dtype, grid, (128,),
                 (gc, np.zeros_like(x), np.int64(x.size)) + geo, [1])
    # the dispatch: the same values as the CPU path, bit for bit (a copy, and sums in the
    # CPU loop's order)
    np.testing.assert_array_equal(
        cp.asnumpy(unfold(cp.asarray(x), kernel, stride, padding, dilation, pad)),
        unfold(x, kernel, stride, padding, dilation, pad))
    np.testing.assert_array_equal(
        cp.asnumpy(fold(cp.asarray(gc), (h, w), kernel, stride, padding, dilation)),
        fold(gc, (h, w), kernel, stride, padding, dilation))


@pytest.mark.parametrize("dtype", DTYPES)
def test_rnn_cell_kernels_on_the_gpu(dtype):
    cp = _real_cupy()
    rng = np.random.default_rng(6)
    rows, hidden = 97, 130
    size = (np.int64(rows), np.int64(hidden))
    gates = (rng.standard_normal((rows, 4 * hidden)) * 3).astype(dtype)
    c = rng.standard_normal((rows, hidden)).astype(dtype)
    gi, gh = ((rng.standard_normal((rows, 3 * hidden)) * 3).astype(dtype) for _ in range(2))
    for grid in ((kcuda.stride_grid(rows * hidden),), (3,)):  # a short grid strides further
        _compare(cp, "tg_lstm_cell_fwd", dtype, grid, (256,),
                 (gates, c, np.zeros((rows, 2 * hidden), dtype)) + size, [2])
        _compare(cp, "tg_lstm_cell_bwd", dtype, grid, (256,),
                 (rng.standard_normal((rows, 2 * hidden)).astype(dtype), gates, c,
                  np.zeros_like(gates), np.zeros_like(c)) + size, [3, 4])
        _compare(cp, "tg_gru_cell_fwd", dtype, grid, (256,),
                 (gi, gh, c, np.zeros_like(c)) + size, [3])
        _compare(cp, "tg_gru_cell_bwd", dtype, grid, (256,),
                 (rng.standard_normal((rows, hidden)).astype(dtype), gi, gh, c,
                  np.zeros_like(gi), np.zeros_like(gh), np.zeros_like(c)) + size, [4, 5, 6])
