"""Convolution and pooling: values and gradients against PyTorch, second order, a small CNN."""

import numpy as np
import pytest
from devices import fit, host, on, put

import tensorgrad as tg
import tensorgrad.nn.functional as F

RNG = np.random.default_rng(0)
CONV_CASES = [  # stride, padding, dilation, groups
    (1, 0, 1, 1), (2, 1, 1, 1), (1, 2, 2, 1), (2, 1, 1, 2), ((2, 1), (1, 0), 1, 1),
    ((1, 2), (2, 1), (2, 1), 4), (3, 0, 1, 1),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("stride,padding,dilation,groups", CONV_CASES)
def test_conv2d_matches_torch(stride, padding, dilation, groups, dtype, device):
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((2, 4, 9, 8))
    w = RNG.standard_normal((8, 4 // groups, 3, 2))
    b = RNG.standard_normal(8)
    ts = [tg.tensor(put(a.astype(dtype), device), requires_grad=True) for a in (x, w, b)]
    out = F.conv2d(*ts, stride, padding, dilation, groups)
    assert on(out, device) and out.dtype == dtype
    rs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    ref = torch.nn.functional.conv2d(*rs, stride=stride, padding=padding, dilation=dilation,
                                     groups=groups)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(host(out), ref.detach().numpy(), **tol)
    v = RNG.standard_normal(out.shape)
    out.backward(tg.tensor(put(v.astype(dtype), device)))
    ref.backward(torch.tensor(v))
    for t, r in zip(ts, rs, strict=True):
        assert on(t.grad, device) and t.grad.dtype == dtype
        np.testing.assert_allclose(host(t.grad), r.grad.numpy(), **tol)


POOLS = {
    "max": (lambda a: F.max_pool2d(a, 3, 2, 1),
            lambda tF, a: tF.max_pool2d(a, 3, 2, 1)),
    "max_rect": (lambda a: F.max_pool2d(a, (2, 3), (1, 2)),
                 lambda tF, a: tF.max_pool2d(a, (2, 3), (1, 2))),
    "avg": (lambda a: F.avg_pool2d(a, 2), lambda tF, a: tF.avg_pool2d(a, 2)),
    "avg_pad": (lambda a: F.avg_pool2d(a, 3, 2, 1), lambda tF, a: tF.avg_pool2d(a, 3, 2, 1)),
}


@pytest.mark.parametrize("name", sorted(POOLS))
def test_pools_match_torch(name, device):
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((2, 3, 7, 7))
    ours, theirs = POOLS[name]
    xt = tg.tensor(put(x, device), requires_grad=True)
    xr = torch.tensor(x, requires_grad=True)
    out, ref = ours(xt), theirs(torch.nn.functional, xr)
    assert on(out, device)
    np.testing.assert_allclose(host(out), ref.detach().numpy(), rtol=1e-12)
    v = RNG.standard_normal(out.shape)
    out.backward(tg.tensor(put(v, device)))
    ref.backward(torch.tensor(v))
    assert on(xt.grad, device)
    np.testing.assert_allclose(host(xt.grad), xr.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_conv_and_pool_derivatives_to_second_order(device):
    w = put(RNG.standard_normal((3, 2, 2, 2)), device)

    def f(x):
        x = x if isinstance(x, tg.Tensor) else tg.tensor(x)
        y = F.conv2d(x, tg.tensor(w), stride=1, padding=1).tanh()
        return F.avg_pool2d(y, 2) + F.max_pool2d(y, 2)

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(put(RNG.standard_normal((1, 2, 4, 4)),
                                                         device))


def test_small_cnn_trains(device):
    tg.manual_seed(0)
    nn = tg.nn
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 4 * 4, 2)).to(device)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((32, 1, 8, 8)).astype(np.float32)
    y = (x[:, 0, :4].sum(axis=(1, 2)) > x[:, 0, 4:].sum(axis=(1, 2))).astype(np.int64)
    x, y = tg.tensor(put(x, device)), tg.tensor(put(y, device))
    opt = tg.optim.Adam(model.parameters(), lr=0.02)
    losses = fit(model, opt, F.cross_entropy, x, y, 60)
    assert losses[-1] < 0.5 * losses[0]
    assert all(on(p, device) and p.dtype == np.float32 for p in model.parameters())


def test_conv_shape_errors_name_the_op():
    with pytest.raises(ValueError, match=r"conv2d: input has 3 channels.*\(4, 2, 3, 3\)"):
        F.conv2d(tg.zeros(1, 3, 5, 5), tg.zeros(4, 2, 3, 3))
    with pytest.raises(ValueError, match=r"conv2d: input must be \(C, H, W\) or \(N, C, H, W\)"):
        F.conv2d(tg.zeros(5, 5), tg.zeros(4, 3, 3, 3))


# ---- the host convolution primitives (ops.conv.conv2d and its two gradient primitives) -------
# name: (x shape, weight shape, bias?, options). Covers batch 1, unbatched, non-square images
# and kernels, 1x1 and large kernels, strides above the kernel (phases no offset reads),
# dilation, groups up to depthwise, string paddings, a 1-channel input (GEMMs of gathered
# windows) and a wide one (one GEMM per kernel row).
CONV_TABLE = {
    "batch1_1x1": ((1, 5, 6, 7), (3, 5, 1, 1), True, {}),
    "1x1_stride2_pad1": ((2, 3, 5, 6), (4, 3, 1, 1), True, {"stride": 2, "padding": 1}),
    "one_channel": ((3, 1, 9, 8), (6, 1, 3, 3), True, {"padding": 1}),
    "wide": ((2, 16, 7, 6), (8, 16, 3, 3), True, {}),
    "large_kernel": ((2, 3, 11, 10), (4, 3, 7, 5), True, {"padding": (3, 1)}),
    "stride_above_kernel": ((2, 2, 9, 11), (3, 2, 2, 2), False, {"stride": (3, 4)}),
    "dilated_strided": ((2, 4, 12, 13), (6, 4, 3, 3), True, {"stride": 2, "dilation": (2, 3),
                                                             "padding": (2, 1)}),
    "groups3": ((2, 6, 7, 8), (9, 2, 3, 2), True, {"groups": 3, "stride": (1, 2)}),
    "depthwise": ((2, 4, 8, 7), (8, 1, 3, 3), True, {"groups": 4, "padding": 1,
                                                     "dilation": 2}),
    "pad_beyond_reach": ((1, 2, 4, 5), (3, 2, 1, 2), True, {"padding": 2}),
    "same_even": ((2, 3, 7, 6), (4, 3, 4, 2), True, {"padding": "same"}),
    "same_dilated": ((1, 2, 6, 9), (2, 2, 3, 3), False, {"padding": "same", "dilation": 2}),
    "valid": ((2, 3, 6, 6), (2, 3, 3, 3), True, {"padding": "valid", "stride": 2}),
    "unbatched": ((3, 6, 5), (4, 3, 2, 3), True, {"padding": (1, 0)}),
    "kernel_fills_input": ((2, 3, 4, 5), (2, 3, 4, 5), True, {}),
}


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(CONV_TABLE))
def test_conv2d_table_matches_torch(name, dtype, device):
    torch = pytest.importorskip("torch")
    xs, ws, has_b, opts = CONV_TABLE[name]
    rng = np.random.default_rng(sorted(CONV_TABLE).index(name))
    arrays = [rng.standard_normal(xs), rng.standard_normal(ws)]
    if has_b:
        arrays.append(rng.standard_normal(ws[0]))
    ts = [tg.tensor(put(a.astype(dtype), device), requires_grad=True) for a in arrays]
    rs = [torch.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    out = F.conv2d(*ts, **opts)
    ref = torch.nn.functional.conv2d(*rs, **opts)
    assert on(out, device) and out.dtype == dtype and tuple(out.shape) == tuple(ref.shape)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(host(out), ref.detach().numpy(), **tol)
    v = rng.standard_normal(tuple(ref.shape)).astype(dtype)
    (out * tg.tensor(put(v, device))).sum().backward()
    (ref * torch.tensor(v)).sum().backward()
    for t, r in zip(ts, rs, strict=True):
        assert on(t.grad, device) and t.grad.dtype == dtype
        np.testing.assert_allclose(host(t.grad), r.grad.numpy(), **tol)


SECOND_ORDER = [  # x shape, weight shape, options
    ((2, 2, 5, 4), (3, 2, 3, 2), dict(padding=1)),
    ((1, 4, 7, 6), (4, 2, 2, 3), dict(stride=(2, 1), dilation=(1, 2), groups=2, padding=(1, 2))),
    ((2, 1, 6, 6), (2, 1, 3, 3), dict(stride=3)),
]


@pytest.mark.parametrize("case", range(len(SECOND_ORDER)))
def test_conv2d_second_order_in_every_argument(case, device):
    """x, weight and bias together, to second order in both modes: the rules of the host
    primitives are the primitives themselves, so their own derivatives are checked too."""
    xs, ws, opts = SECOND_ORDER[case]
    rng = np.random.default_rng(10 + case)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])

    def f(x, w, b):
        return tg.numpy.tanh(F.conv2d(x, w, b, **opts))

    # all three at once: the mixed second derivatives need every rule of every primitive
    tg.check_grads(f, modes=("fwd", "rev"), order=2)(*[tg.tensor(put(a, device))
                                                       for a in (x, w, b)])


def _prim_cases():
    yield (2, 4, 7, 6), (6, 2, 3, 2), ((1, 1), (1, 0), (1, 2), 2)
    yield (1, 3, 8, 9), (2, 3, 2, 3), ((2, 3), (1, 1), (2, 1), 1)
    yield (2, 1, 5, 5), (3, 1, 2, 2), ((1, 1), (0, 0), (1, 1), 1)


@pytest.mark.parametrize("case", range(3))
def test_host_primitives_are_adjoint(case):
    """<conv2d(x, w), y> = <x, conv2d_input_grad(y, w)> = <w, conv2d_weight_grad(x, y)>."""
    from tensorgrad.ops.conv import conv2d, conv2d_input_grad, conv2d_weight_grad

    xs, ws, geo = list(_prim_cases())[case]
    rng = np.random.default_rng(case)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    out = conv2d(x, w, None, *geo)
    y = rng.standard_normal(out.shape)
    dx = conv2d_input_grad(y, w, xs[2:], *geo)
    dw = conv2d_weight_grad(x, y, ws[2:], *geo)
    assert dx.shape == x.shape and dw.shape == w.shape
    np.testing.assert_allclose((out * y).sum(), (x * dx).sum(), rtol=1e-12)
    np.testing.assert_allclose((out * y).sum(), (w * dw).sum(), rtol=1e-12)


@pytest.mark.parametrize("case", range(3))
def test_host_gradient_primitives_second_order(case):
    """The two gradient primitives as functions of both their arguments (they are
    conv_transpose2d and the weight gradient a user may differentiate again)."""
    from tensorgrad.ops.conv import conv2d, conv2d_input_grad, conv2d_weight_grad

    xs, ws, geo = list(_prim_cases())[case]
    rng = np.random.default_rng(20 + case)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    y = rng.standard_normal(conv2d(x, w, None, *geo).shape)
    tanh = tg.numpy.tanh
    for fn, at in ((lambda a: conv2d_input_grad(a, w, xs[2:], *geo), y),
                   (lambda a: conv2d_input_grad(y, a, xs[2:], *geo), w),
                   (lambda a: conv2d_weight_grad(a, y, ws[2:], *geo), x),
                   (lambda a: conv2d_weight_grad(x, a, ws[2:], *geo), y)):
        tg.check_grads(lambda a, fn=fn: tanh(fn(a)), modes=("fwd", "rev"), order=2)(at)


def test_channel_sum_is_the_bias_gradient():
    from tensorgrad.ops.conv import channel_sum

    rng = np.random.default_rng(7)
    g = rng.standard_normal((3, 4, 5, 2))
    np.testing.assert_allclose(channel_sum(g), g.sum((0, 2, 3)), rtol=1e-12)
    assert channel_sum(g.astype(np.float32)).dtype == np.float32
    tg.check_grads(lambda a: tg.numpy.tanh(channel_sum(a)), modes=("fwd", "rev"), order=2)(g)


def test_host_conv_chunking_and_gemm_forms_agree(monkeypatch):
    """One image per chunk and several (with a remainder), gathered windows and one GEMM per
    kernel row: the same numbers as PyTorch either way."""
    torch = pytest.importorskip("torch")
    from tensorgrad.ops import conv as conv_ops

    rng = np.random.default_rng(5)
    x = rng.standard_normal((5, 4, 9, 7))
    w = rng.standard_normal((6, 4, 3, 2))
    b = rng.standard_normal(6)
    opts = dict(stride=(2, 1), padding=1, dilation=(1, 2))
    xr, wr, br = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ref = torch.nn.functional.conv2d(xr, wr, br, **opts)
    v = rng.standard_normal(tuple(ref.shape))
    ref.backward(torch.tensor(v))
    per_image = 6 * ref.shape[2] * ref.shape[3] * 8
    for chunk_bytes in (1, 2 * per_image, 1 << 18):
        for cols_k in (0, 1000):
            monkeypatch.setattr(conv_ops, "_CHUNK_BYTES", chunk_bytes)
            monkeypatch.setattr(conv_ops, "_COLS_K", cols_k)
            ts = [tg.tensor(a, requires_grad=True) for a in (x, w, b)]
            out = F.conv2d(*ts, **opts)
            out.backward(tg.tensor(v))
            np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12,
                                       atol=1e-12)
            for t, r in zip(ts, (xr, wr, br), strict=True):
                np.testing.assert_allclose(t.grad.numpy(), r.grad.numpy(), rtol=1e-12,
                                           atol=1e-12)


def test_host_conv_records_one_node_and_takes_strided_inputs():
    """On the host conv2d (bias included) is one node of the primitive ``conv2d``; strided
    inputs and broadcast cotangents (as ``mean`` hands back) give PyTorch's numbers."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 7, 2, 6)).astype(np.float32)  # (N, H, C, W): permuted below
    w = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    xt = tg.tensor(x, requires_grad=True)
    wt, bt = tg.tensor(w, requires_grad=True), tg.tensor(b, requires_grad=True)
    out = F.conv2d(xt.permute(0, 2, 1, 3), wt, bt, padding=1)
    assert out.grad_fn is not None and "conv2d" in str(out.grad_fn)
    out.mean().backward()
    xr = torch.tensor(x, requires_grad=True)
    wr, br = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
    ref = torch.nn.functional.conv2d(xr.permute(0, 2, 1, 3), wr, br, padding=1)
    ref.mean().backward()
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-5, atol=1e-5)
    for t, r in ((xt, xr), (wt, wr), (bt, br)):
        assert t.grad.dtype == np.float32
        np.testing.assert_allclose(t.grad.numpy(), r.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_conv2d_errors_name_the_op_and_shapes():
    with pytest.raises(ValueError, match=r"conv2d: input of shape \(1, 2, 3, 3\), padded by "
                                         r"\(0, 0\), is smaller than the kernel's reach"):
        F.conv2d(tg.zeros(1, 2, 3, 3), tg.zeros(1, 2, 4, 2))
    with pytest.raises(ValueError, match=r"conv2d: bias must have shape \(4,\), got \(3,\)"):
        F.conv2d(tg.zeros(1, 2, 3, 3), tg.zeros(4, 2, 1, 1), tg.zeros(3))
    with pytest.raises(ValueError, match=r"conv2d: stride must be positive"):
        F.conv2d(tg.zeros(1, 2, 3, 3), tg.zeros(4, 2, 1, 1), stride=0)
    with pytest.raises(ValueError, match=r"conv2d: padding='same' is not supported for strided"):
        F.conv2d(tg.zeros(1, 2, 3, 3), tg.zeros(4, 2, 1, 1), stride=2, padding="same")
    with pytest.raises(ValueError, match=r"conv2d: weight must be \(out_channels"):
        F.conv2d(tg.zeros(1, 2, 3, 3), tg.zeros(4, 2, 1))


def test_conv2d_and_transpose_of_an_empty_batch(device):
    torch = pytest.importorskip("torch")
    x = tg.tensor(put(np.zeros((0, 3, 5, 5)), device), requires_grad=True)
    w = tg.tensor(put(np.ones((4, 3, 3, 3)), device), requires_grad=True)
    b = tg.tensor(put(np.ones(4), device), requires_grad=True)
    y = F.conv2d(x, w, b, padding=1)
    assert tuple(y.shape) == (0, 4, 5, 5)
    y.sum().backward()
    assert tuple(x.grad.shape) == (0, 3, 5, 5)
    np.testing.assert_array_equal(host(w.grad), np.zeros((4, 3, 3, 3)))
    np.testing.assert_array_equal(host(b.grad), np.zeros(4))
    t = F.conv_transpose2d(tg.tensor(put(np.ones((0, 4, 3, 3)), device)),
                           tg.tensor(put(np.ones((4, 2, 3, 3)), device)), stride=2)
    ref = torch.nn.functional.conv_transpose2d(torch.ones(0, 4, 3, 3), torch.ones(4, 2, 3, 3),
                                               stride=2)
    assert tuple(t.shape) == tuple(ref.shape)
