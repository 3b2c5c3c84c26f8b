"""The fused CUDA kernels (kernels/*.cu) without a GPU.

* every NumPy reference against a plain NumPy formula and PyTorch, float32 and float64, edge
  rows included, and the launch checks the references make;
* every source compiled by NVRTC (NVIDIA's wheel, through ctypes) for compute_80 and
  compute_90, failing on any error or warning; every kernel the dispatch launches exists;
* the dispatch paths on the ``device`` fixture: on "cuda" (the CuPy stand-in, or a GPU) the
  kernels run and must agree with the CPU path, first and second order, forward mode, and
  optimizer trajectories;
* ``pip install`` of the repository into a fresh venv outside it ships the kernels.
"""

import ctypes
import glob
import os
import re
import shutil
import subprocess
import sys
import sysconfig

import numpy as np
import pytest
import tensorgrad.kernels.reference as ref

import tensorgrad as tg
from tensorgrad.backend import cuda as kcuda

F = tg.nn.functional
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}
NO_IGNORE = (np.int64(0), np.int32(0))  # the xent kernels' (ignore, use_ignore): no class ignored


def _per_row(g):
    """tg_xent_bwd's (g, g_stride, count, use_count) for a cotangent per row."""
    return (g, np.int64(1), g, np.int32(0))


def _torch():
    return pytest.importorskip("torch")


def _rows(x):
    return (x.shape[0],), (kcuda.row_block(x.shape[1]),)


def _logits(rng, rows, cols, dtype):
    x = rng.standard_normal((rows, cols)) * 3
    return x.astype(dtype)


def _edge_logits(dtype):
    """Rows a softmax must survive: C=1, huge negative offsets, -inf entries, wide rows."""
    rng = np.random.default_rng(0)
    return {
        "C1": np.array([[0.5], [-3.0], [-1e4]], dtype),
        "negative": (rng.standard_normal((3, 17)) - 1e4).astype(dtype),
        "spread": np.array([[1e4, -1e4, 0.0, 3.0]], dtype),
        "neg_inf": np.array([[-np.inf, 0.0, 1.0, -np.inf], [2.0, -np.inf, -np.inf, -np.inf]],
                            dtype),
        "C32000": _logits(rng, 2, 32000, dtype),
        "C1000": _logits(rng, 5, 1000, dtype),
    }


EDGE = ["C1", "negative", "spread", "neg_inf", "C32000", "C1000"]


def _formula_log_softmax(x):
    x64 = x.astype(np.float64)
    m = x64.max(axis=1, keepdims=True)
    return x64 - m - np.log(np.exp(x64 - m).sum(axis=1, keepdims=True))


# ---- (i) references -------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", EDGE)
def test_softmax_forward_references(case, dtype):
    torch = _torch()
    x = _edge_logits(dtype)[case]
    sfx = kcuda.SUFFIX[np.dtype(dtype)]
    ls = np.empty_like(x)
    sm = np.empty_like(x)
    grid, block = _rows(x)
    getattr(ref, f"tg_log_softmax_fwd_{sfx}")(grid, block, 0, x, ls, np.int32(x.shape[1]))
    getattr(ref, f"tg_softmax_fwd_{sfx}")(grid, block, 0, x, sm, np.int32(x.shape[1]))
    assert ls.dtype == dtype and sm.dtype == dtype
    with np.errstate(all="ignore"):
        want = _formula_log_softmax(x)
    np.testing.assert_allclose(ls, want, **TOL[dtype])
    np.testing.assert_allclose(sm, np.exp(want), **TOL[dtype])
    xt = torch.from_numpy(x)
    np.testing.assert_allclose(ls, torch.log_softmax(xt, 1).numpy(), **TOL[dtype])
    np.testing.assert_allclose(sm, torch.softmax(xt, 1).numpy(), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_all_neg_inf_row_is_nan_like_the_composed_path(dtype):
    x = np.full((1, 5), -np.inf, dtype)
    y = np.empty_like(x)
    getattr(ref, f"tg_log_softmax_fwd_{kcuda.SUFFIX[np.dtype(dtype)]}")(
        (1,), (32,), 0, x, y, np.int32(5))
    assert np.isnan(y).all()
    with np.errstate(all="ignore"):
        assert np.isnan(F._log_softmax(x, 1)).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", EDGE)
def test_softmax_backward_references(case, dtype):
    torch = _torch()
    x = _edge_logits(dtype)[case]
    if case == "neg_inf":
        x = np.where(np.isinf(x), dtype(-50), x)  # torch's backward at -inf is NaN too
    sfx = kcuda.SUFFIX[np.dtype(dtype)]
    rng = np.random.default_rng(1)
    g = rng.standard_normal(x.shape).astype(dtype)
    grid, block = _rows(x)
    for kind, fn in (("log_softmax", torch.log_softmax), ("softmax", torch.softmax)):
        xt = torch.from_numpy(x.copy()).requires_grad_()
        yt = fn(xt, 1)
        (yt * torch.from_numpy(g)).sum().backward()
        y = yt.detach().numpy().copy()
        dx = np.empty_like(x)
        getattr(ref, f"tg_{kind}_bwd_{sfx}")(grid, block, 0, g, y, dx, np.int32(x.shape[1]))
        np.testing.assert_allclose(dx, xt.grad.numpy(), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", EDGE)
def test_cross_entropy_references(case, dtype):
    torch = _torch()
    x = _edge_logits(dtype)[case]
    rows, cols = x.shape
    rng = np.random.default_rng(2)
    target = rng.integers(0, cols, rows).astype(np.int64)
    if case == "neg_inf":
        target[:] = [1, 0]  # finite targets; an -inf target is checked below
    sfx = kcuda.SUFFIX[np.dtype(dtype)]
    grid, block = _rows(x)
    loss, rmax, lsum = np.empty((3, rows), dtype)
    getattr(ref, f"tg_xent_fwd_{sfx}")(grid, block, 0, x, target, loss, rmax, lsum,
                                       np.int32(cols), *NO_IGNORE)
    with np.errstate(all="ignore"):
        want = -_formula_log_softmax(x)[np.arange(rows), target]
    np.testing.assert_allclose(loss, want, **TOL[dtype])
    xt = torch.from_numpy(x.copy()).requires_grad_()
    lt = torch.nn.functional.cross_entropy(xt, torch.from_numpy(target), reduction="none")
    np.testing.assert_allclose(loss, lt.detach().numpy(), **TOL[dtype])
    g = rng.standard_normal(rows).astype(dtype)
    (lt * torch.from_numpy(g)).sum().backward()
    dx = np.empty_like(x)
    getattr(ref, f"tg_xent_bwd_{sfx}")(grid, block, 0, *_per_row(g), x, target, rmax, lsum, dx,
                                       np.int32(cols), *NO_IGNORE)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_reference_at_an_inf_target_and_out_of_range(dtype):
    torch = _torch()
    x = np.array([[-np.inf, 0.0, 1.0]], dtype)
    t = np.array([0], np.int64)
    loss, rmax, lsum = np.empty((3, 1), dtype)
    dx = np.empty_like(x)
    sfx = kcuda.SUFFIX[np.dtype(dtype)]
    getattr(ref, f"tg_xent_fwd_{sfx}")((1,), (32,), 0, x, t, loss, rmax, lsum, np.int32(3),
                                       *NO_IGNORE)
    assert loss[0] == np.inf
    getattr(ref, f"tg_xent_bwd_{sfx}")((1,), (32,), 0, *_per_row(np.ones(1, dtype)), x, t, rmax,
                                       lsum, dx, np.int32(3), *NO_IGNORE)
    xt = torch.from_numpy(x.copy()).requires_grad_()
    torch.nn.functional.cross_entropy(xt, torch.from_numpy(t)).backward()
    np.testing.assert_allclose(dx, xt.grad.numpy(), **TOL[dtype])  # lse kept: no NaN
    getattr(ref, f"tg_xent_fwd_{sfx}")((1,), (32,), 0, x, np.array([3], np.int64), loss, rmax,
                                       lsum, np.int32(3), *NO_IGNORE)
    assert np.isnan(loss[0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_reference_ignores_a_class(dtype):
    """With use_ignore set, rows whose target is ``ignore`` give loss 0 and gradient 0, the
    others what PyTorch gives them; other out-of-range targets stay NaN."""
    torch = _torch()
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 4)).astype(dtype)
    t = np.array([1, -100, 3, -100, 7], np.int64)
    loss, rmax, lsum = np.empty((3, 5), dtype)
    sfx = kcuda.SUFFIX[np.dtype(dtype)]
    ignore = (np.int64(-100), np.int32(1))
    getattr(ref, f"tg_xent_fwd_{sfx}")((5,), (32,), 0, x, t, loss, rmax, lsum, np.int32(4),
                                       *ignore)
    assert loss[1] == 0 and loss[3] == 0 and np.isnan(loss[4])
    keep = [0, 2]
    xt = torch.from_numpy(x[keep].copy()).requires_grad_()
    lt = torch.nn.functional.cross_entropy(xt, torch.from_numpy(t[keep]), reduction="none")
    np.testing.assert_allclose(loss[keep], lt.detach().numpy(), **TOL[dtype])
    g = rng.standard_normal(5).astype(dtype)
    dx = np.full_like(x, 7.0)
    getattr(ref, f"tg_xent_bwd_{sfx}")((5,), (32,), 0, *_per_row(g), x, t, rmax, lsum, dx,
                                       np.int32(4), *ignore)
    (lt * torch.from_numpy(g[keep])).sum().backward()
    np.testing.assert_allclose(dx[keep], xt.grad.numpy(), **TOL[dtype])
    assert (dx[[1, 3]] == 0).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ignored", [[], [1, 4], [0, 1, 2, 3, 4]])
def test_cross_entropy_mean_references_follow_torch(ignored, dtype):
    """tg_xent_mean (the mean over the kept rows, and their count) and tg_xent_bwd with one
    cotangent for every row divided by that count: PyTorch's reduction="mean", NaN when every
    row is ignored."""
    torch = _torch()
    rng = np.random.default_rng(5)
    x = rng.standard_normal((5, 4)).astype(dtype)
    t = rng.integers(0, 4, 5).astype(np.int64)
    t[ignored] = -100
    sfx = kcuda.SUFFIX[np.dtype(dtype)]
    ignore = (np.int64(-100), np.int32(1))
    loss, rmax, lsum = np.empty((3, 5), dtype)
    getattr(ref, f"tg_xent_fwd_{sfx}")((5,), (32,), 0, x, t, loss, rmax, lsum, np.int32(4),
                                       *ignore)
    out = np.empty(2, dtype)
    getattr(ref, f"tg_xent_mean_{sfx}")((1,), (32,), 0, loss, t, out, np.int32(5), *ignore)
    xt = torch.from_numpy(x.copy()).requires_grad_()
    lt = torch.nn.functional.cross_entropy(xt, torch.from_numpy(t))
    lt.backward(torch.tensor(1.5, dtype=xt.dtype))
    assert out[1] == 5 - len(ignored)
    np.testing.assert_allclose(out[0], lt.item(), **TOL[dtype])  # NaN == NaN here
    g = np.array(1.5, dtype)
    dx = np.empty_like(x)
    getattr(ref, f"tg_xent_bwd_{sfx}")((5,), (32,), 0, g, np.int64(0), out[1:], np.int32(1), x,
                                       t, rmax, lsum, dx, np.int32(4), *ignore)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **TOL[dtype])
    with pytest.raises(ref.LaunchError):  # one block reduces every row
        getattr(ref, f"tg_xent_mean_{sfx}")((2,), (32,), 0, loss, t, out, np.int32(5), *ignore)
    with pytest.raises(ref.LaunchError):  # a cotangent per row, or one for all: no other stride
        getattr(ref, f"tg_xent_bwd_{sfx}")((5,), (32,), 0, g, np.int64(2), out[1:], np.int32(1),
                                           x, t, rmax, lsum, dx, np.int32(4), *ignore)


def test_references_check_their_launches():
    x = np.zeros((4, 10), np.float32)
    y = np.empty_like(x)
    f = ref.tg_log_softmax_fwd_f32
    f((4,), (32,), 0, x, y, np.int32(10))
    bad = [
        ((3,), (32,), 0, x, y, np.int32(10)),  # a block per row: grid must be the row count
        ((4,), (48,), 0, x, y, np.int32(10)),  # whole warps only
        ((4,), (2048,), 0, x, y, np.int32(10)),  # too many threads
        ([4], (32,), 0, x, y, np.int32(10)),  # grid not a tuple
        ((4,), (32,), 0, x, y, 10),  # a Python int for a C int
        ((4,), (32,), 0, x.astype(np.float64), y, np.int32(10)),  # dtype of the other suffix
        ((4,), (32,), 0, np.asfortranarray(x), y, np.int32(10)),  # not C-contiguous
        ((4,), (32,), 64, x, y, np.int32(10)),  # no dynamic shared memory
    ]
    for args in bad:
        with pytest.raises(ref.LaunchError):
            f(*args)
    p = np.zeros(5, np.float64)
    g = p.copy()
    tables = kcuda.grad_tables([5])
    kcuda.fill_grad_tables(tables, [g])
    (table, count, _), = tables
    f64 = np.float64
    good = [p, table, np.int32(count), p.copy(), f64(0.1), f64(0), f64(1), f64(0), np.int32(0),
            np.int32(0), np.int32(1)]
    ref.tg_sgd_f64((1,), (256,), 0, *good)
    for i, bad in ((4, np.float32(0.1)),  # lr must be a double, not a float
                   (2, np.int32(65)),  # more tensors than a table holds
                   (1, table.copy().view(np.uint8)),  # not the struct's layout
                   (0, np.zeros(4))):  # fewer parameters than the table covers
        args = list(good)
        args[i] = bad
        with pytest.raises(ref.LaunchError):
            ref.tg_sgd_f64((1,), (256,), 0, *args)
    broken = table.copy()
    broken["grad"][0, 0] = 0
    with pytest.raises(ref.LaunchError, match="no pointer"):
        ref.tg_sgd_f64((1,), (256,), 0, p, broken, *good[2:])


def _table_of(g):
    """A pointer table over ``g`` cut into three tensors, one of them empty: the kernels walk
    from tensor to tensor."""
    cut = len(g) // 3
    tables = kcuda.grad_tables([cut, 0, len(g) - cut])
    kcuda.fill_grad_tables(tables, [g[:cut], g[cut:cut], g[cut:]])
    (table, count, _), = tables
    return table, np.int32(count)


def _sgd_ref(p, g, buf, first, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
             nesterov=False, maximize=False):
    T = p.dtype.type
    fn = getattr(ref, f"tg_sgd_{kcuda.SUFFIX[p.dtype]}")
    fn((kcuda.stride_grid(p.size),), (256,), 0, p, *_table_of(g), buf, T(lr), T(momentum),
       T(1 - dampening), T(weight_decay), np.int32(nesterov), np.int32(maximize),
       np.int32(first))


def _adam_ref(p, g, m, v, vmax, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
              amsgrad=False, maximize=False, decoupled=False):
    T = p.dtype.type
    b1, b2 = betas
    fn = getattr(ref, f"tg_adam_{kcuda.SUFFIX[p.dtype]}")
    decay = 1 - lr * weight_decay if decoupled and weight_decay else 1.0
    fn((3,), (256,), 0, p, *_table_of(g), m, v, vmax, T(b1), T(1 - b1), T(b2), T(1 - b2),
       T(eps), T(weight_decay), T(decay), T(np.sqrt(1 - b2 ** step)), T(-lr / (1 - b1 ** step)),
       np.int32(decoupled), np.int32(amsgrad), np.int32(maximize))


OPTIM = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.5, dampening=0.3, maximize=True, weight_decay=0.1)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("Adam", dict(lr=0.01, maximize=True, betas=(0.5, 0.7))),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.3, amsgrad=True)),
]
OPTIM_IDS = [f"{n}-{i}" for i, (n, _) in enumerate(OPTIM)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,kw", OPTIM, ids=OPTIM_IDS)
def test_optimizer_references_follow_torch(name, kw, dtype):
    torch = _torch()
    rng = np.random.default_rng(3)
    p = rng.standard_normal(37).astype(dtype)
    grads = [rng.standard_normal(37).astype(dtype) for _ in range(5)]
    pt = torch.tensor(p.copy(), requires_grad=True)
    opt = getattr(torch.optim, name)([pt], **kw)
    state = [np.zeros_like(p) for _ in range(3)]
    for step, g in enumerate(grads, 1):
        pt.grad = torch.from_numpy(g.copy())
        opt.step()
        if name == "SGD":
            _sgd_ref(p, g, state[0], step == 1, **kw)
        elif name == "AdamW":
            _adam_ref(p, g, *state, step, decoupled=True, **{"weight_decay": 1e-2, **kw})
        else:
            _adam_ref(p, g, *state, step, **kw)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(p, pt.detach().numpy(), **tol)


ACTS = ["identity", "relu", "gelu", "gelu_tanh", "silu", "tanh", "sigmoid"]


def _torch_act(torch, name):
    tf = torch.nn.functional
    return {"identity": lambda z: z, "relu": tf.relu, "gelu": tf.gelu,
            "gelu_tanh": lambda z: tf.gelu(z, approximate="tanh"), "silu": tf.silu,
            "tanh": torch.tanh, "sigmoid": torch.sigmoid}[name]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("has_bias", [True, False])
@pytest.mark.parametrize("act", ACTS)
def test_bias_act_references_follow_torch(act, has_bias, dtype):
    torch = _torch()
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((6, 9)) * 3).astype(dtype)
    x[0, :3] = [0.0, 40.0, -40.0]
    b = rng.standard_normal(9).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    sfx = kcuda.SUFFIX[np.dtype(dtype)]
    code = np.int32(kcuda.ACTIVATIONS[act])
    y = np.empty_like(x)
    dz = np.empty_like(x)
    bb = b if has_bias else x
    args = (np.int64(x.size), np.int64(9), code, np.int32(has_bias))
    getattr(ref, f"tg_bias_act_fwd_{sfx}")((2,), (64,), 0, x, bb, y, *args)
    getattr(ref, f"tg_bias_act_bwd_{sfx}")((1,), (256,), 0, g, x, bb, dz, *args)
    xt = torch.from_numpy(x.copy()).requires_grad_()
    zt = xt + torch.from_numpy(b) if has_bias else xt
    yt = _torch_act(torch, act)(zt)
    (yt * torch.from_numpy(g)).sum().backward()
    # float32: tanh-gelu's derivative at z ~ -5 cancels terms of size ~1 (torch's too)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(y, yt.detach().numpy(), **tol)
    np.testing.assert_allclose(dz, xt.grad.numpy(), **tol)
    # and the plain formula, written out in float64
    z = x.astype(np.float64) + (b if has_bias else 0)
    from scipy.special import erf

    plain = {"identity": z, "relu": np.maximum(z, 0), "gelu": 0.5 * z * (1 + erf(z / np.sqrt(2))),
             "gelu_tanh": 0.5 * z * (1 + np.tanh(np.sqrt(2 / np.pi) * (z + 0.044715 * z ** 3))),
             "silu": z / (1 + np.exp(-z)), "tanh": np.tanh(z), "sigmoid": 1 / (1 + np.exp(-z))}
    np.testing.assert_allclose(y, plain[act], **tol)


# ---- (ii) NVRTC -----------------------------------------------------------------------------
def _nvrtc():
    """libnvrtc from NVIDIA's wheel (nvidia-cuda-nvrtc-cu12, or CUDA 13's nvidia-cuda-nvrtc)."""
    try:
        import nvidia
    except ImportError:
        pytest.fail("NVRTC not found: install the dev extra (pip install -e '.[dev]', which "
                    "brings nvidia-cuda-nvrtc-cu12)")
    found = []
    for root in nvidia.__path__:
        found += glob.glob(os.path.join(root, "**", "libnvrtc.so*"), recursive=True)
    found = sorted(f for f in found if "builtins" not in os.path.basename(f)
                   and ".alt." not in os.path.basename(f))
    if not found:
        pytest.fail(f"no libnvrtc.so in {list(nvidia.__path__)}; install nvidia-cuda-nvrtc-cu12")
    lib = ctypes.CDLL(found[0])
    lib.nvrtcCreateProgram.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p,
                                       ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p,
                                       ctypes.c_void_p]
    lib.nvrtcCompileProgram.argtypes = [ctypes.c_void_p, ctypes.c_int,
                                        ctypes.POINTER(ctypes.c_char_p)]
    lib.nvrtcGetProgramLogSize.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t)]
    lib.nvrtcGetProgramLog.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.nvrtcGetPTXSize.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t)]
    lib.nvrtcDestroyProgram.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
    return lib


def _compile(lib, source, name, arch):
    prog = ctypes.c_void_p()
    assert lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), name.encode(), 0, None,
                                  None) == 0
    try:
        opts = [o.encode() for o in kcuda.OPTIONS] + [f"--gpu-architecture={arch}".encode()]
        rc = lib.nvrtcCompileProgram(prog, len(opts), (ctypes.c_char_p * len(opts))(*opts))
        size = ctypes.c_size_t()
        lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value + 1)
        lib.nvrtcGetProgramLog(prog, log)
        ptx = ctypes.c_size_t()
        if rc == 0:
            lib.nvrtcGetPTXSize(prog, ctypes.byref(ptx))
        return rc, log.value.decode(errors="replace"), ptx.value
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))


@pytest.mark.parametrize("arch", ["compute_80", "compute_90"])
@pytest.mark.parametrize("file", sorted(kcuda.KERNELS))
def test_kernel_compiles_with_nvrtc(file, arch):
    rc, log, ptx = _compile(_nvrtc(), kcuda.source_text(file), file, arch)
    assert rc == 0, f"{file} ({arch}) does not compile:\n{log}"
    assert "warning" not in log.lower() and "error" not in log.lower(), log
    assert ptx > 0


def test_nvrtc_check_catches_errors_and_warnings():
    lib = _nvrtc()
    rc, log, _ = _compile(lib, 'extern "C" __global__ void k(float* x) { x[0] = y; }', "bad.cu",
                          "compute_80")
    assert rc != 0 and "error" in log
    rc, log, _ = _compile(lib, 'extern "C" __global__ void k(float* x) { int unused; }',
                          "warn.cu", "compute_80")
    assert "warning" in log.lower()


def test_every_dispatched_kernel_exists_in_its_source_and_has_a_reference():
    declared = set()
    for file in sorted(glob.glob(os.path.join(os.path.dirname(kcuda.kernel_source("optim.cu")),
                                              "*.cu"))):
        text = open(file).read()
        declared |= set(re.findall(r'extern "C" __global__ void (\w+)\(', text))
    assert set(ref.ENTRY_POINTS) == declared  # every kernel has a reference, and vice versa
    for file, bases in kcuda.KERNELS.items():
        text = kcuda.source_text(file)
        for base in bases:
            for sfx in ("f32", "f64"):
                assert f'extern "C" __global__ void {base}_{sfx}(' in text, (file, base, sfx)
                assert callable(getattr(ref, f"{base}_{sfx}"))
    assert kcuda.ACTIVATIONS == ref.ACTIVATIONS
    # the optimizer kernels' pointer table: one layout in optim.cu, the dispatch and the reference
    assert kcuda.GRAD_TABLE == ref.GRAD_TABLE and kcuda.TABLE_SIZE == ref.TABLE_SIZE
    assert f"#define TG_TABLE_SIZE {kcuda.TABLE_SIZE}\n" in kcuda.source_text("optim.cu")
    assert kcuda.GRAD_TABLE.itemsize == 8 * (2 * kcuda.TABLE_SIZE + 1)  # no padding


# ---- (iii) dispatch on the device -----------------------------------------------------------
# (the ``launches`` fixture is in conftest.py)


def _host(t):
    return t.cpu().numpy() if isinstance(t, tg.Tensor) else t


def _pair(a, device, requires_grad=True):
    return (tg.tensor(a, requires_grad=requires_grad),
            tg.tensor(a, device=device, requires_grad=requires_grad))


def _expect_kernels(device, launches, *names):
    if device == "cpu":
        assert launches == []
    else:
        for n in names:
            assert n in launches, (n, launches)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["log_softmax", "softmax"])
def test_softmax_dispatch(device, launches, kind, dtype, rng):
    x = _logits(rng, 4, 33, dtype)
    x[1, 3] = -np.inf
    g = rng.standard_normal(x.shape).astype(dtype)
    outs = []
    for t in _pair(x, device):
        y = getattr(F, kind)(t, dim=-1)
        (y * tg.tensor(g, device=t.device)).sum().backward()
        outs.append((_host(y), _host(t.grad)))
    _expect_kernels(device, launches, f"tg_{kind}_fwd", f"tg_{kind}_bwd")
    for a, b in zip(*outs):
        np.testing.assert_allclose(b, a, **TOL[dtype])


def _cross_entropy_on_both(x, target, device, reduction="mean"):
    """[(loss, x's gradient)] of F.cross_entropy on the CPU and on ``device``, as host arrays."""
    outs = []
    for t in _pair(x, device):
        loss = F.cross_entropy(t, tg.tensor(target, device=t.device), reduction=reduction)
        (loss.sum() if reduction == "none" else loss).backward()
        assert loss.dtype == x.dtype and t.grad.dtype == x.dtype
        outs.append((_host(loss), _host(t.grad)))
    return outs


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_dispatch(device, launches, reduction, dtype, rng):
    x = _logits(rng, 6, 11, dtype)
    target = rng.integers(0, 11, 6)
    outs = _cross_entropy_on_both(x, target, device, reduction)
    _expect_kernels(device, launches, "tg_xent_fwd", "tg_xent_bwd")
    if device != "cpu":  # the mean is one more launch: no sum, count and divide around it
        assert ("tg_xent_mean" in launches) == (reduction == "mean")
        assert len(launches) == 2 + (reduction == "mean")
    for a, b in zip(*outs):
        np.testing.assert_allclose(b, a, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_backward_dispatch(device, launches, dtype, rng):
    """relu's first-order VJP on a GPU is bias_act's backward kernel without a bias: one
    launch instead of a comparison and a product; zeros (relu'(0) = 0) and NaNs included."""
    x = rng.standard_normal((7, 13)).astype(dtype)
    x[0, :3] = [0.0, np.nan, -0.0]
    g = rng.standard_normal(x.shape).astype(dtype)
    outs = []
    for t in _pair(x, device):
        t.relu().backward(tg.tensor(g, device=t.device))
        outs.append(_host(t.grad))
    if device != "cpu":
        assert "tg_bias_act_bwd" in launches
    np.testing.assert_array_equal(outs[1], outs[0])
    np.testing.assert_array_equal(outs[0], g * (x > 0))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_dispatch_with_ignored_rows(device, launches, reduction, rng):
    """Ignored targets stay inside the one fused node on a GPU (no masking ops around it):
    the same loss and gradient as the CPU, and as PyTorch."""
    torch = _torch()
    x = _logits(rng, 6, 11, np.float64)
    target = rng.integers(0, 11, 6)
    target[[1, 4]] = -100
    outs = _cross_entropy_on_both(x, target, device, reduction)
    _expect_kernels(device, launches, "tg_xent_fwd", "tg_xent_bwd")
    xt = torch.tensor(x, requires_grad=True)
    lt = torch.nn.functional.cross_entropy(xt, torch.tensor(target), reduction=reduction)
    (lt.sum() if reduction == "none" else lt).backward()
    for loss, grad in outs:
        np.testing.assert_allclose(loss, lt.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_cross_entropy_rows_with_ignore_to_second_order(device, rng):
    """The per-row primitive's composed rules (create_graph, forward mode) with ignored rows."""
    x = tg.tensor(_logits(rng, 5, 4, np.float64), device=device)
    t = tg.tensor(np.array([0, -100, 3, 1, -100]), device=device)
    w = tg.tensor(rng.standard_normal(5), device=device)
    rows = F._cross_entropy_rows(x, t, -100)
    assert _host(rows)[1] == 0 and _host(rows)[4] == 0
    tg.check_grads(lambda z: (F._cross_entropy_rows(z, t, -100) * w).sum(),
                   modes=("fwd", "rev"), order=2)(x)


def test_fused_rules_stay_right_to_second_order_and_in_forward_mode(device, rng):
    x = _logits(rng, 3, 5, np.float64)
    target = rng.integers(0, 5, 3)
    v = rng.standard_normal(x.shape)
    b = rng.standard_normal(5)

    def ce(z, dev):
        return F.cross_entropy(z, tg.tensor(target, device=dev), reduction="sum")

    def chain(z, dev):
        h = F.bias_act(z, tg.tensor(b, device=dev), "gelu")
        return (F.log_softmax(h, -1) * F.softmax(F.silu(h), -1)).sum() + ce(F.tanh(h), dev)

    for f in (ce, chain):
        results = []
        for dev in ("cpu", device):
            xt = tg.tensor(x, device=dev, requires_grad=True)
            (gx,) = tg.autograd.grad(f(xt, dev), [xt], create_graph=True)
            (hv,) = tg.autograd.grad((gx * tg.tensor(v, device=dev)).sum(), [xt])
            _, tangent = tg.jvp(lambda z, dev=dev, f=f: f(z, dev), (tg.tensor(x, device=dev),),
                                (tg.tensor(v, device=dev),))
            results.append([_host(gx.detach()), _host(hv), float(_host(tangent))])
        for a, c in zip(*results):
            np.testing.assert_allclose(c, a, rtol=1e-10, atol=1e-12)
    # the second derivative itself, against finite differences on the device
    tg.check_grads(lambda z: chain(z, device), modes=("rev",), order=2)(
        tg.tensor(x, device=device))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ["relu", "gelu", "gelu_tanh", "silu", "tanh", "sigmoid"])
def test_activation_and_bias_act_dispatch(device, launches, act, dtype, rng):
    x = (rng.standard_normal((5, 7)) * 2).astype(dtype)
    b = rng.standard_normal(7).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    plain = (lambda z: F.gelu(z, approximate="tanh")) if act == "gelu_tanh" else getattr(F, act)
    outs = []
    for dev in ("cpu", device):
        xt = tg.tensor(x, device=dev, requires_grad=True)
        bt = tg.tensor(b, device=dev, requires_grad=True)
        y1 = F.bias_act(xt, bt, act)
        y2 = plain(xt)
        (y1 * tg.tensor(g, device=dev)).sum().backward()
        gx1, gb = _host(xt.grad), _host(bt.grad)
        xt.grad = None
        (y2 * tg.tensor(g, device=dev)).sum().backward()
        outs.append((_host(y1), _host(y2), gx1, gb, _host(xt.grad)))
    _expect_kernels(device, launches, "tg_bias_act_fwd", "tg_bias_act_bwd")
    if device != "cpu":  # one backward kernel for x and b together, one for the plain act
        assert launches.count("tg_bias_act_bwd") == 2
    for a, c in zip(*outs):
        np.testing.assert_allclose(c, a, **TOL[dtype])
    # bias_act is the composition on every device
    np.testing.assert_allclose(outs[0][0], _host(plain(tg.tensor(x) + tg.tensor(b))),
                               **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,kw", OPTIM, ids=OPTIM_IDS)
def test_optimizer_dispatch_trajectory(device, launches, name, kw, dtype, rng):
    shapes = [(3, 4), (4,), (), (2, 1, 3)]
    w0 = [(0.5 * rng.standard_normal(s)).astype(dtype) for s in shapes]
    xs = [(0.5 * rng.standard_normal(s)).astype(dtype) for s in shapes]
    runs = []
    for dev in ("cpu", device):
        ws = [tg.tensor(w, device=dev, requires_grad=True) for w in w0]
        opt = getattr(tg.optim, name)(ws, **kw)
        for _ in range(5):
            opt.zero_grad()
            loss = sum(((w * tg.tensor(x, device=dev)).sum() - 1) ** 2 + (w ** 4).sum() * 0.1
                       for w, x in zip(ws, xs))
            loss.backward()
            opt.step()
        runs.append([_host(w.detach()) for w in ws])
    kernel = "tg_sgd" if name == "SGD" else "tg_adam"
    _expect_kernels(device, launches, kernel)
    if device != "cpu":
        assert launches.count(kernel) == 5  # one launch per step for the whole group
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for a, c in zip(*runs):
        assert c.dtype == dtype and c.shape == a.shape and np.isfinite(a).all()
        np.testing.assert_allclose(c, a, **tol)


def test_optimizer_flat_layout_survives_state_dicts_and_missing_grads(device, launches, rng):
    w0 = [rng.standard_normal(s) for s in [(3,), (2, 2)]]
    runs = []
    for dev in ("cpu", device):
        ws = [tg.tensor(w, device=dev, requires_grad=True) for w in w0]
        opt = tg.optim.Adam(ws, lr=0.1, amsgrad=True)
        for i in range(4):
            opt.zero_grad()
            used = ws if i != 1 else ws[:1]  # step 1: the second parameter has no gradient
            sum((w ** 2).sum() for w in used).backward()
            opt.step()
            if i == 2:  # a round trip through state_dict replaces every buffer
                sd = opt.state_dict()
                opt.load_state_dict(sd)
        (ws[0] * 3).sum().backward()
        ws[0].data = ws[0].data.copy()  # storage replaced behind the optimizer's back
        opt.step()
        runs.append([_host(w.detach()) for w in ws])
    for a, c in zip(*runs):
        np.testing.assert_allclose(c, a, rtol=1e-12, atol=1e-12)


def test_cpu_paths_never_touch_the_kernels(launches, rng):
    x = tg.tensor(_logits(rng, 3, 4, np.float32), requires_grad=True)
    F.cross_entropy(F.gelu(x), tg.tensor([0, 1, 2])).backward()
    opt = tg.optim.AdamW([x])
    opt.step()
    assert launches == [] and opt._flat == {}


# ---- (iv) packaging -------------------------------------------------------------------------
_PROBE = """
import os, sys
sys.path.append({numpy_site!r})  # numpy only, after the venv's own site-packages
import tensorgrad, tensorgrad.kernels.reference as ref
from tensorgrad.backend import cuda
print(os.path.dirname(tensorgrad.__file__))
for f in cuda.KERNELS:
    print(cuda.kernel_source(f))
print(len(ref.ENTRY_POINTS))
"""


def _probe(python, cwd, env=None):
    numpy_site = os.path.dirname(os.path.dirname(np.__file__))
    out = subprocess.run([python, "-c", _PROBE.format(numpy_site=numpy_site)], cwd=cwd,
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_pip_install_outside_the_repository_ships_the_kernels(tmp_path):
    # build from a copy, so that the build writes nothing into the working tree
    src = tmp_path / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(os.path.join(REPO, name), src / name)
    for name in ("tensorgrad", "kernels"):
        shutil.copytree(os.path.join(REPO, name), src / name, ignore=ignore)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["wheel", "--no-deps", "--no-build-isolation", "-w",
                          str(tmp_path / "dist"), str(src)], check=True, cwd=tmp_path, timeout=300)
    wheel = glob.glob(str(tmp_path / "dist" / "tensorgrad-*.whl"))[0]
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    python = str(venv / "bin" / "python")
    subprocess.run(pip + ["--python", python, "install", "--no-deps", "--no-index", wheel],
                   check=True, cwd=tmp_path, timeout=300)
    shutil.rmtree(src)  # nothing may come from the build tree
    lines = _probe(python, cwd=str(tmp_path), env={"PATH": os.environ.get("PATH", "")})
    site = sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)})
    assert lines[0] == os.path.join(site, "tensorgrad")
    for path in lines[1:-1]:
        assert path.startswith(os.path.join(site, "tensorgrad", "kernels")), path
        assert os.path.isfile(path)
    assert int(lines[-1]) == len(ref.ENTRY_POINTS)


def test_kernels_are_found_from_a_source_checkout(tmp_path):
    env = dict(os.environ, PYTHONPATH=REPO)
    lines = _probe(sys.executable, cwd=str(tmp_path), env=env)
    assert lines[0] == os.path.join(REPO, "tensorgrad")
    for path in lines[1:-1]:
        assert path.startswith(os.path.join(REPO, "kernels")), path


# ---- layer_norm.cu and im2col.cu ------------------------------------------------------------
LN_CASES = {  # (rows, cols), a mean offset per row
    "C1": ((3, 1), 0.0),
    "small": ((7, 5), 0.0),
    "offset": ((4, 33), 50.0),
    "wide": ((3, 4097), 0.0),
    "many_rows": ((300, 9), 1.0),
}


def _ln_data(case, dtype, seed=5):
    rng = np.random.default_rng(seed)
    (rows, cols), offset = LN_CASES[case]
    x = (rng.standard_normal((rows, cols)) * 2 + offset).astype(dtype)
    w = rng.standard_normal(cols).astype(dtype)
    b = rng.standard_normal(cols).astype(dtype)
    g = rng.standard_normal((rows, cols)).astype(dtype)
    return x, w, b, g


def _ln_ref_forward(x, w, b, eps=1e-5):
    rows, cols = x.shape
    sfx = kcuda.SUFFIX[x.dtype]
    y = np.empty_like(x)
    mean, rstd = np.empty((2, rows), x.dtype)
    getattr(ref, f"tg_layer_norm_fwd_{sfx}")(
        (rows,), (kcuda.row_block(cols),), 0, x, x if w is None else w, x if b is None else b,
        y, mean, rstd, np.int32(cols), x.dtype.type(eps), np.int32(w is not None),
        np.int32(b is not None))
    return y, mean, rstd


def _ln_ref_wb(g, x, mean, rstd, chunks_per=None):
    rows, cols = x.shape
    chunks, per = kcuda.wb_chunks(rows, cols) if chunks_per is None else chunks_per
    part = np.full((2, chunks, cols), np.nan, x.dtype)
    getattr(ref, f"tg_layer_norm_bwd_wb_{kcuda.SUFFIX[x.dtype]}")(
        (-(-cols // 32), chunks), (256,), 0, g, x, mean, rstd, part, np.int32(rows),
        np.int32(cols), np.int32(per))
    return part


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("affine", ["wb", "w", "none"])
@pytest.mark.parametrize("case", sorted(LN_CASES))
def test_layer_norm_references_follow_torch(case, affine, dtype):
    torch = _torch()
    x, w, b, g = _ln_data(case, dtype)
    w = w if affine != "none" else None
    b = b if affine == "wb" else None
    rows, cols = x.shape
    y, mean, rstd = _ln_ref_forward(x, w, b)
    xt = torch.from_numpy(x.copy()).requires_grad_()
    wt = None if w is None else torch.from_numpy(w.copy()).requires_grad_()
    bt = None if b is None else torch.from_numpy(b.copy()).requires_grad_()
    yt, mt, rt = torch.native_layer_norm(xt, (cols,), wt, bt, 1e-5)
    (yt * torch.from_numpy(g)).sum().backward()
    tol = dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else TOL[dtype]
    np.testing.assert_allclose(y, yt.detach().numpy(), **tol)
    np.testing.assert_allclose(mean, mt.detach().numpy().reshape(-1), **tol)
    np.testing.assert_allclose(rstd, rt.detach().numpy().reshape(-1), **tol)
    # the plain formula in float64
    x64 = x.astype(np.float64)
    xh = (x64 - x64.mean(1, keepdims=True)) / np.sqrt(x64.var(1, keepdims=True) + 1e-5)
    want = xh * (1 if w is None else w) + (0 if b is None else b)
    np.testing.assert_allclose(y, want, **tol)
    dx = np.empty_like(x)
    getattr(ref, f"tg_layer_norm_bwd_dx_{kcuda.SUFFIX[np.dtype(dtype)]}")(
        (rows,), (kcuda.row_block(cols),), 0, g, x, x if w is None else w, mean, rstd, dx,
        np.int32(cols), np.int32(w is not None))
    np.testing.assert_allclose(dx, xt.grad.numpy(), **tol)
    for chunks_per in (None, (-(-rows // 2), 2), (1, rows)):
        part = _ln_ref_wb(g, x, mean, rstd, chunks_per)
        assert not np.isnan(part).any()  # every chunk and column written
        dw, db = part.sum(axis=1)
        if wt is not None:
            np.testing.assert_allclose(dw, wt.grad.numpy(), **tol)
        if bt is not None:
            np.testing.assert_allclose(db, bt.grad.numpy(), **tol)
        np.testing.assert_allclose(db, g.astype(np.float64).sum(0), **tol)


def test_layer_norm_references_check_their_launches():
    x, w, b, g = _ln_data("small", np.float32)
    rows, cols = x.shape
    y = np.empty_like(x)
    mean, rstd = np.empty((2, rows), np.float32)
    fwd = ref.tg_layer_norm_fwd_f32
    good = [x, w, b, y, mean, rstd, np.int32(cols), np.float32(1e-5), np.int32(1), np.int32(1)]
    fwd((rows,), (32,), 0, *good)
    bad = [
        ((rows + 1,), (32,), 0, good),  # one block per row
        ((rows,), (40,), 0, good),  # whole warps
        ((rows,), (32,), 0, good[:7] + [1e-5] + good[8:]),  # a Python float for a float
        ((rows,), (32,), 0, good[:7] + [np.float64(1e-5)] + good[8:]),  # a double
        ((rows,), (32,), 0, [x, w[:3]] + good[2:]),  # a weight of the wrong size
        ((rows,), (32,), 0, [x, w.astype(np.float64), b] + good[3:8] + [np.int32(0),
                                                                           np.int32(1)]),
        ((rows,), (32,), 0, good[:4] + [mean[:2]] + good[5:]),  # mean too short
    ]
    for grid, block, sm, args in bad:
        with pytest.raises(ref.LaunchError):
            fwd(grid, block, sm, *args)
    wb = ref.tg_layer_norm_bwd_wb_f32
    part = np.empty((2, 1, cols), np.float32)
    args = (g, x, mean, rstd, part, np.int32(rows), np.int32(cols), np.int32(rows))
    wb((1, 1), (256,), 0, *args)
    for grid, block, a in [
        ((2, 1), (256,), args),  # a column tile beyond the columns
        ((1, 2), (256,), args),  # chunks not matching the partials / the rows
        ((1, 1), (100,), args),  # whole warps
        ((1, 1), (256,), args[:7] + (np.int32(rows - 1),)),  # chunk does not cover the rows
        ((1, 1), (256,), args[:5] + (rows,) + args[6:]),  # a Python int
    ]:
        with pytest.raises(ref.LaunchError):
            wb(grid, block, 0, *a)


def test_wb_chunks_cover_the_rows_exactly():
    for rows in (1, 7, 64, 65, 1000, 32768, 10 ** 6):
        for cols in (1, 31, 33, 768, 50000):
            chunks, per = kcuda.wb_chunks(rows, cols)
            assert 1 <= chunks <= 65535 and per >= 1
            assert (chunks - 1) * per < rows <= chunks * per


CONV_GEOMETRY = [  # (N, C, H, W), kernel, stride, padding, dilation, pad value
    ((2, 3, 7, 6), (3, 3), (1, 1), (1, 1), (1, 1), 0.0),
    ((1, 2, 9, 8), (3, 2), (2, 1), (1, 2), (2, 1), 0.0),
    ((2, 1, 5, 5), (2, 2), (2, 2), (0, 0), (1, 1), 0.0),
    ((1, 3, 6, 7), (3, 3), (2, 2), (1, 1), (1, 1), float("-inf")),  # max pooling
    ((1, 1, 4, 4), (1, 1), (3, 3), (0, 0), (1, 1), 0.0),  # gaps: pixels in no window
    ((1, 2, 3, 3), (3, 3), (1, 1), (2, 2), (2, 2), 0.0),  # windows mostly in the padding
    ((1, 1, 1, 1), (1, 1), (1, 1), (0, 0), (1, 1), 0.0),
]
CONV_IDS = [f"g{i}" for i in range(len(CONV_GEOMETRY))]


def _im2col_ref(x, kernel, stride, padding, dilation, pad):
    from tensorgrad.ops.conv import out_size

    n, c, h, w = x.shape
    oh = out_size(h, kernel[0], stride[0], padding[0], dilation[0])
    ow = out_size(w, kernel[1], stride[1], padding[1], dilation[1])
    cols = np.full((n, c) + tuple(kernel) + (oh, ow), np.nan, x.dtype)
    geo = kcuda._geometry_args(h, w, kernel, stride, padding, dilation, oh, ow)
    getattr(ref, f"tg_im2col_{kcuda.SUFFIX[x.dtype]}")(
        (kcuda.stride_grid(cols.size),), (256,), 0, x, cols, np.int64(cols.size), *geo,
        x.dtype.type(pad))
    return cols


def _col2im_ref(cols, size, kernel, stride, padding, dilation, grid=None):
    n, c, _, _, oh, ow = cols.shape
    out = np.full((n, c) + tuple(size), np.nan, cols.dtype)
    geo = kcuda._geometry_args(size[0], size[1], kernel, stride, padding, dilation, oh, ow)
    grid = (kcuda.stride_grid(out.size),) if grid is None else grid
    getattr(ref, f"tg_col2im_{kcuda.SUFFIX[cols.dtype]}")(grid, (64,), 0, cols, out,
                                                           np.int64(out.size), *geo)
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,kernel,stride,padding,dilation,pad", CONV_GEOMETRY,
                         ids=CONV_IDS)
def test_im2col_references_match_unfold_fold_and_torch(shape, kernel, stride, padding,
                                                       dilation, pad, dtype):
    from tensorgrad.ops.conv import fold, unfold

    torch = _torch()
    rng = np.random.default_rng(6)
    x = rng.standard_normal(shape).astype(dtype)
    cols = _im2col_ref(x, kernel, stride, padding, dilation, pad)
    want = unfold(x, kernel, stride, padding, dilation, pad)
    assert cols.shape == want.shape and cols.dtype == want.dtype
    np.testing.assert_array_equal(cols, want)  # a copy: exact
    gc = rng.standard_normal(cols.shape).astype(dtype)
    back = _col2im_ref(gc, shape[2:], kernel, stride, padding, dilation)
    np.testing.assert_array_equal(back, fold(gc, shape[2:], kernel, stride, padding, dilation))
    back_one_block = _col2im_ref(gc, shape[2:], kernel, stride, padding, dilation, grid=(1,))
    np.testing.assert_array_equal(back_one_block, back)
    if pad == 0.0:
        # adjointness: <unfold(x), c> = <x, fold(c)>
        np.testing.assert_allclose((cols.astype(np.float64) * gc).sum(),
                                   (x.astype(np.float64) * back).sum(), rtol=1e-5, atol=1e-5)
        tf = torch.nn.functional
        n, c = shape[:2]
        kw = dict(kernel_size=kernel, dilation=dilation, padding=padding, stride=stride)
        tcols = tf.unfold(torch.from_numpy(x), **kw).numpy()
        np.testing.assert_array_equal(cols.reshape(n, -1, cols.shape[4] * cols.shape[5]), tcols)
        tback = tf.fold(torch.from_numpy(gc.reshape(tcols.shape)), output_size=shape[2:], **kw)
        np.testing.assert_allclose(back, tback.numpy(), **TOL[dtype])


def test_im2col_references_check_their_launches():
    x = np.zeros((1, 1, 4, 4), np.float32)
    cols = np.zeros((1, 1, 2, 2, 3, 3), np.float32)
    geo = kcuda._geometry_args(4, 4, (2, 2), (1, 1), (0, 0), (1, 1), 3, 3)
    f = ref.tg_im2col_f32
    f((1,), (256,), 0, x, cols, np.int64(cols.size), *geo, np.float32(0))
    for args in [
        (x, cols, np.int64(cols.size), *geo, 0.0),  # a Python float
        (x, cols, np.int64(cols.size), *geo, np.float64(0)),  # a double for a float
        (x, cols, np.int32(cols.size), *geo, np.float32(0)),  # total is a long long
        (x, cols, np.int64(cols.size - 1), *geo, np.float32(0)),  # not a whole number of NC
        (x[..., :3].copy(), cols, np.int64(cols.size), *geo, np.float32(0)),  # x too small
        (x, cols, np.int64(cols.size), *geo[:6], np.int32(0), *geo[7:], np.float32(0)),
    ]:
        with pytest.raises(ref.LaunchError):
            f((1,), (256,), 0, *args)
    with pytest.raises(ref.LaunchError):  # block too large
        f((1,), (2048,), 0, x, cols, np.int64(cols.size), *geo, np.float32(0))
    with pytest.raises(ref.LaunchError):  # fold: out of another dtype
        ref.tg_col2im_f32((1,), (256,), 0, cols, x.astype(np.float64), np.int64(x.size), *geo)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("affine", ["wb", "w", "b", "none"])
def test_layer_norm_dispatch(device, launches, affine, dtype, rng):
    x = (rng.standard_normal((4, 3, 6)) + 2).astype(dtype)
    w = rng.standard_normal((3, 6)).astype(dtype)
    b = rng.standard_normal((3, 6)).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    outs = []
    for dev in ("cpu", device):
        xt = tg.tensor(x, device=dev, requires_grad=True)
        wt = tg.tensor(w, device=dev, requires_grad=True) if "w" in affine else None
        bt = tg.tensor(b, device=dev, requires_grad=True) if "b" in affine else None
        y = F.layer_norm(xt, (3, 6), wt, bt, eps=1e-4)
        (y * tg.tensor(g, device=dev)).sum().backward()
        outs.append([_host(y), _host(xt.grad)] + [_host(p.grad) for p in (wt, bt) if p is not None])
    expected = ["tg_layer_norm_fwd", "tg_layer_norm_bwd_dx"]
    if affine != "none":
        expected.append("tg_layer_norm_bwd_wb")
    _expect_kernels(device, launches, *expected)
    if device != "cpu":  # dweight and dbias from one launch
        assert launches.count("tg_layer_norm_bwd_wb") == (1 if affine != "none" else 0)
    for a, c in zip(*outs):
        assert c.dtype == dtype and c.shape == a.shape
        np.testing.assert_allclose(c, a, **TOL[dtype])


def test_layer_norm_fused_rules_stay_right_to_second_order_and_in_forward_mode(device, rng):
    x = rng.standard_normal((3, 2, 5))
    w = rng.standard_normal(5)
    b = rng.standard_normal(5)
    v = rng.standard_normal(x.shape)

    def f(z, dev):
        y = F.layer_norm(z, 5, tg.tensor(w, device=dev), tg.tensor(b, device=dev))
        return (F.gelu(y) * y).sum()

    results = []
    for dev in ("cpu", device):
        xt = tg.tensor(x, device=dev, requires_grad=True)
        (gx,) = tg.autograd.grad(f(xt, dev), [xt], create_graph=True)
        (hv,) = tg.autograd.grad((gx * tg.tensor(v, device=dev)).sum(), [xt])
        _, tangent = tg.jvp(lambda z, dev=dev: f(z, dev), (tg.tensor(x, device=dev),),
                            (tg.tensor(v, device=dev),))
        results.append([_host(gx.detach()), _host(hv), float(_host(tangent))])
    for a, c in zip(*results):
        np.testing.assert_allclose(c, a, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geometry", CONV_GEOMETRY[:4], ids=CONV_IDS[:4])
def test_conv_and_pool_dispatch(device, launches, geometry, dtype, rng):
    shape, kernel, stride, padding, dilation, _ = geometry
    x = rng.standard_normal(shape).astype(dtype)
    wgt = rng.standard_normal((4, shape[1]) + kernel).astype(dtype)
    outs = []
    for dev in ("cpu", device):
        xt = tg.tensor(x, device=dev, requires_grad=True)
        wt = tg.tensor(wgt, device=dev, requires_grad=True)
        y = F.conv2d(xt, wt, stride=stride, padding=padding, dilation=dilation)
        m = F.max_pool2d(xt, 2, 1, 1)
        a = F.avg_pool2d(xt, 3, 2, 1)
        loss = (y * y).sum() + (m * m).sum() + a.sum()
        loss.backward()
        outs.append([_host(y), _host(m), _host(a), _host(xt.grad), _host(wt.grad)])
    _expect_kernels(device, launches, "tg_im2col", "tg_col2im")
    if device != "cpu":
        assert launches.count("tg_im2col") == 3 and launches.count("tg_col2im") == 3
    for a, c in zip(*outs):
        assert c.dtype == dtype and c.shape == a.shape
        np.testing.assert_allclose(c, a, **TOL[dtype])


def test_unfold_fold_kernels_agree_with_the_cpu_path_exactly(device, rng):
    from devices import host, put

    from tensorgrad.ops.conv import fold, unfold

    for shape, kernel, stride, padding, dilation, pad in CONV_GEOMETRY:
        x = rng.standard_normal(shape).astype(np.float32)
        cols = unfold(x, kernel, stride, padding, dilation, pad)
        dcols = unfold(put(x, device), kernel, stride, padding, dilation, pad)
        np.testing.assert_array_equal(host(dcols), cols)
        back = fold(cols, shape[2:], kernel, stride, padding, dilation)
        # a non-contiguous cotangent, as a backward pass may hand over
        wide = np.zeros(cols.shape[:-1] + (2 * cols.shape[-1],), cols.dtype)
        wide[..., ::2] = cols
        dback = fold(put(wide, device)[..., ::2], shape[2:], kernel, stride, padding, dilation)
        np.testing.assert_array_equal(host(dback), back)
    # higher order through unfold/fold on the device: conv's second derivative
    x = rng.standard_normal((1, 2, 5, 5))
    wgt = rng.standard_normal((3, 2, 3, 3))
    tg.check_grads(lambda z: (F.conv2d(z, tg.tensor(wgt, device=device), padding=1) ** 2).sum(),
                   modes=("fwd", "rev"), order=2)(tg.tensor(x, device=device))


def test_cpu_layer_norm_and_conv_never_touch_the_kernels(launches, rng):
    x = tg.tensor(rng.standard_normal((2, 3, 5, 5)).astype(np.float32), requires_grad=True)
    w = tg.tensor(rng.standard_normal((2, 3, 3, 3)).astype(np.float32), requires_grad=True)
    y = F.layer_norm(F.conv2d(x, w, padding=1), (5,), tg.ones(5), tg.zeros(5))
    F.max_pool2d(y, 2).sum().backward()
    assert launches == []


def test_layer_norm_shared_cotangent_between_two_fused_nodes(device, launches, rng):
    # the add node hands the same cotangent to both layer norms; the later one (its backward
    # runs first) has a bias that needs no gradient, so its dbias, computed with its dweight,
    # must not be taken for the other's
    x = rng.standard_normal((2, 3, 4))
    outs = []
    for dev in ("cpu", device):
        xt = tg.tensor(x, device=dev, requires_grad=True)
        w1 = tg.tensor(np.full((3, 4), 2.0), device=dev, requires_grad=True)
        b1 = tg.tensor(np.ones((3, 4)), device=dev)
        b2 = tg.tensor(np.zeros(4), device=dev, requires_grad=True)
        z = F.layer_norm(xt, 4, None, b2) + F.layer_norm(xt, (3, 4), w1, b1)
        (z * tg.tensor(x, device=dev)).sum().backward()
        outs.append([_host(t.grad) for t in (xt, w1, b2)])
    for a, c in zip(*outs):
        np.testing.assert_allclose(c, a, rtol=1e-12, atol=1e-12)


def test_cross_entropy_mean_of_a_dtype_without_kernels_takes_the_composed_path(device, launches,
                                                                              rng):
    # float16 has no fused kernel: the mean primitive composes rows, count and division on
    # every device, with ignored rows, and agrees with the CPU
    x = rng.standard_normal((6, 5)).astype(np.float16)
    target = np.array([0, 1, -100, 3, 4, 2])
    outs = _cross_entropy_on_both(x, target, device)
    assert launches == []
    for a, b in zip(*outs):
        np.testing.assert_allclose(b.astype(np.float64), a.astype(np.float64), rtol=1e-3,
                                   atol=1e-3)
    assert (outs[1][1][2] == 0).all()  # the ignored row passes no gradient
