"""Group A of the nn additions (tensorgrad/nn/_functional_extra_a.py, tensorgrad/nn/extra_a.py):
padding modules, RMSNorm, shrinkage and randomized activations, channel shuffle, fold/unfold,
pdist, Gumbel-softmax, feature alpha dropout, in-place activations, LP pooling, max pooling with
indices, max unpooling, the upsampling aliases and nn.Buffer. Values and gradients against
PyTorch on every device, second-order finite differences in both modes, reprs and errors."""

import numpy as np
import pytest
from devices import host, put
from nn_helpers import check_case, check_case_float32, check_case_order2

import tensorgrad as tg
import tensorgrad.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional
nn = tg.nn

R = np.random.default_rng(11)


def _away(a, kinks, gap=0.05):
    """``a`` nudged off the kinks of piecewise functions."""
    a = a.copy()
    for k in kinks:
        near = np.abs(a - k) < gap
        a[near] = k + np.where(a[near] >= k, gap, -gap) * 2
    return a


X = _away(R.standard_normal((2, 4, 5)) * 1.5, (0.0, -0.5, 0.5, -0.3, 0.3, -1.0, 1.0))
X4 = R.standard_normal((2, 4, 5, 6))
X5 = R.standard_normal((2, 2, 4, 5, 3))
POS4 = R.random((2, 3, 5, 6)) + 0.3
POS5 = R.random((1, 2, 5, 4, 6)) + 0.3
ROWS = R.standard_normal((5, 3))
# distinct values: no ties in any pooling window
DISTINCT = R.permutation(2 * 3 * 7 * 8).reshape(2, 3, 7, 8) / 10.0 - 16.0

# name -> (call taking (F, *args) for either library, args, how many leading args need grad)
CASES = {
    "rms_norm": (lambda F, x: F.rms_norm(x, (5,)), [X], 1),
    "rms_norm_w": (lambda F, x, w: F.rms_norm(x, (4, 5), w, eps=1e-3),
                   [X, R.standard_normal((4, 5))], 2),
    "hardshrink": (lambda F, x: F.hardshrink(x), [X], 1),
    "hardshrink_l": (lambda F, x: F.hardshrink(x, 1.0), [X], 1),
    "softshrink": (lambda F, x: F.softshrink(x, 0.3), [X], 1),
    "rrelu_eval": (lambda F, x: F.rrelu(x, 0.1, 0.4), [X], 1),
    "channel_shuffle": (lambda F, x: F.channel_shuffle(x, 2), [X4], 1),
    "unfold": (lambda F, x: F.unfold(x, (2, 3), dilation=(2, 1), padding=1, stride=(1, 2)),
               [X4], 1),
    "unfold_unbatched": (lambda F, x: F.unfold(x[0], 2), [X4], 1),
    "fold": (lambda F, c: F.fold(c, (5, 6), (2, 3), padding=1, stride=(2, 1)),
             [R.standard_normal((2, 12, 18))], 1),
    "fold_unbatched": (lambda F, c: F.fold(c, (4, 4), 2, dilation=2), [R.standard_normal((8, 4))],
                       1),
    "pdist": (lambda F, x: F.pdist(x), [ROWS], 1),
    "pdist_p1": (lambda F, x: F.pdist(x, 1), [ROWS], 1),
    "pdist_p3": (lambda F, x: F.pdist(x, 3.0), [ROWS], 1),
    "pdist_inf": (lambda F, x: F.pdist(x, float("inf")), [ROWS], 1),
    "lp_pool1d": (lambda F, x: F.lp_pool1d(x[:, :, 0], 2, 3, 2), [POS4], 1),
    "lp_pool1d_unbatched": (lambda F, x: F.lp_pool1d(x[0, :, 0], 3.0, 2), [POS4], 1),
    "lp_pool2d": (lambda F, x: F.lp_pool2d(x, 2, (2, 3)), [POS4], 1),
    "lp_pool2d_p15": (lambda F, x: F.lp_pool2d(x[0], 1.5, 2, 1), [POS4], 1),
    "lp_pool3d": (lambda F, x: F.lp_pool3d(x, 2, 2), [POS5], 1),
    "lp_pool3d_ceil": (lambda F, x: F.lp_pool3d(x, 3, (2, 3, 2), (2, 2, 3), ceil_mode=True),
                       [POS5], 1),
    "max_pool1d_idx": (lambda F, x: F.max_pool1d_with_indices(x[:, :, 0], 3, 2, 1)[0],
                       [DISTINCT], 1),
    "max_pool1d_idx_ceil": (lambda F, x: F.max_pool1d_with_indices(
        x[0, :, 1], 2, 3, ceil_mode=True, dilation=2)[0], [DISTINCT], 1),
    "max_pool2d_idx": (lambda F, x: F.max_pool2d_with_indices(x, 3, 2, 1)[0], [DISTINCT], 1),
    "max_pool2d_idx_dil": (lambda F, x: F.max_pool2d_with_indices(
        x[0], (2, 3), (1, 2), (1, 0), dilation=(2, 1), ceil_mode=True)[0], [DISTINCT], 1),
    "adaptive_max1d_idx": (lambda F, x: F.adaptive_max_pool1d_with_indices(x[:, :, 0], 3)[0],
                           [DISTINCT], 1),
    "adaptive_max2d_idx": (lambda F, x: F.adaptive_max_pool2d_with_indices(x, (3, 5))[0],
                           [DISTINCT], 1),
    "adaptive_max2d_idx_none": (lambda F, x: F.adaptive_max_pool2d_with_indices(
        x[0], (None, 3))[0], [DISTINCT], 1),
}

ORDER2 = ["rms_norm", "rms_norm_w", "hardshrink", "softshrink", "rrelu_eval", "channel_shuffle",
          "unfold", "fold", "pdist", "pdist_p3", "lp_pool1d", "lp_pool2d", "lp_pool3d",
          "max_pool2d_idx", "adaptive_max2d_idx"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_gradients_match_torch(name, device):
    check_case(CASES, name, device, R)


@pytest.mark.parametrize("name", sorted(CASES))
def test_float32_stays_float32(name, device):
    check_case_float32(CASES, name, device)


@pytest.mark.parametrize("name", ORDER2)
def test_second_order_finite_differences(name, device):
    check_case_order2(CASES, name, device)


# ---- indices ---------------------------------------------------------------------------------
@pytest.mark.parametrize("d, kw", [
    (1, dict(kernel_size=3, stride=2, padding=1)),
    (1, dict(kernel_size=2, stride=3, dilation=2, ceil_mode=True)),
    (2, dict(kernel_size=3, stride=2, padding=1)),
    (2, dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 0), dilation=(2, 1),
             ceil_mode=True)),
    (3, dict(kernel_size=2, stride=(1, 2, 2), padding=1)),
])
def test_max_pool_indices_match_torch_and_unpool_inverts(d, kw, device):
    x = DISTINCT if d == 2 else (DISTINCT[:, :, 0] if d == 1 else DISTINCT.reshape(2, 3, 4, 2, 7))
    ours = getattr(F, f"max_pool{d}d_with_indices")(tg.tensor(put(x, device)), **kw)
    ref = getattr(TF, f"max_pool{d}d")(torch.tensor(x), return_indices=True, **kw)
    np.testing.assert_array_equal(host(ours[1]), ref[1].numpy())
    assert host(ours[1]).dtype == np.int64
    np.testing.assert_allclose(host(ours[0]), ref[0].numpy())
    if kw.get("dilation", 1) != 1 or kw.get("ceil_mode"):
        return
    # unpooling with the same geometry puts each maximum back where it was (overlapping
    # windows repeat indices: the same value, written once)
    un_kw = {k: kw[k] for k in ("kernel_size", "stride", "padding")}
    size = x.shape[2:]
    up = getattr(F, f"max_unpool{d}d")(ours[0], ours[1], output_size=size, **un_kw)
    tup = getattr(TF, f"max_unpool{d}d")(ref[0], ref[1], output_size=size, **un_kw)
    np.testing.assert_allclose(host(up), tup.numpy(), rtol=1e-13)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_max_unpool_gradient_matches_torch(d, device):
    """Without repeated indices (non-overlapping windows) the gradient is PyTorch's: each value
    gets the cotangent at its index."""
    x = DISTINCT[:, :, :6] if d == 2 else (DISTINCT[:, :, 0] if d == 1
                                          else DISTINCT.reshape(2, 3, 4, 2, 7)[..., :6])
    out, idx = TF.__dict__[f"max_pool{d}d"](torch.tensor(x), 2, return_indices=True)
    v = tg.tensor(put(out.numpy(), device), requires_grad=True)
    up = getattr(F, f"max_unpool{d}d")(v, tg.tensor(put(idx.numpy(), device)), 2)
    tv = out.clone().requires_grad_(True)
    tup = getattr(TF, f"max_unpool{d}d")(tv, idx, 2)
    np.testing.assert_allclose(host(up.detach()), tup.detach().numpy())
    g = R.standard_normal(tuple(tup.shape))
    up.backward(tg.tensor(put(g, device)))
    tup.backward(torch.tensor(g))
    np.testing.assert_allclose(host(v.grad), tv.grad.numpy())


@pytest.mark.parametrize("d, size", [(1, 3), (2, (3, 5)), (2, (None, 4)), (2, 1)])
def test_adaptive_max_pool_indices_match_torch(d, size, device):
    x = DISTINCT if d == 2 else DISTINCT[:, :, 0]
    ours = getattr(F, f"adaptive_max_pool{d}d_with_indices")(tg.tensor(put(x, device)), size)
    ref = getattr(TF, f"adaptive_max_pool{d}d")(torch.tensor(x), size, return_indices=True)
    np.testing.assert_array_equal(host(ours[1]), ref[1].numpy())
    np.testing.assert_allclose(host(ours[0]), ref[0].numpy())


def test_max_pool_ties_and_nan_pick_like_torch(device):
    x = np.array([[[1.0, 1.0, 0.0, np.nan, 2.0, 2.0]]])
    out, idx = F.max_pool1d_with_indices(tg.tensor(put(x, device), requires_grad=True), 2)
    rout, ridx = TF.max_pool1d(torch.tensor(x), 2, return_indices=True)
    np.testing.assert_array_equal(host(idx), ridx.numpy())
    np.testing.assert_array_equal(host(out.detach()), rout.numpy())
    t = tg.tensor(put(x, device), requires_grad=True)
    F.max_pool1d_with_indices(t, 2)[0].sum().backward()
    # the whole gradient goes to the one element picked (PyTorch's), not split over ties
    np.testing.assert_array_equal(host(t.grad), [[[1.0, 0.0, 0.0, 1.0, 1.0, 0.0]]])


def test_max_unpool_default_size_and_module(device):
    x = tg.tensor(put(DISTINCT, device))
    out, idx = F.max_pool2d_with_indices(x, 2)
    up = nn.MaxUnpool2d(2)(out, idx)
    tout, tidx = TF.max_pool2d(torch.tensor(DISTINCT), 2, return_indices=True)
    ref = torch.nn.MaxUnpool2d(2)(tout, tidx)
    assert tuple(up.shape) == tuple(ref.shape) == (2, 3, 6, 8)
    np.testing.assert_allclose(host(up), ref.numpy())
    # a full output size is accepted as PyTorch's
    full = nn.MaxUnpool2d(2)(out, idx, output_size=(2, 3, 7, 8))
    np.testing.assert_allclose(host(full), TF.max_unpool2d(tout, tidx, 2,
                                                           output_size=(2, 3, 7, 8)).numpy())


def test_max_unpool_indices_on_another_device():
    """Input on cuda (real, or the stand-in every test run has), indices on the host."""
    v = tg.tensor(put(np.ones((1, 1, 2)), "cuda"))
    with pytest.raises(RuntimeError, match="max_unpool1d: indices must be on the input's"):
        F.max_unpool1d(v, tg.tensor([[[0, 3]]]), 2)


def test_max_unpool_second_order(device):
    # index 3 twice: those two values are averaged
    idx = tg.tensor(put(np.array([[[0, 3, 5]], [[3, 2, 3]]]), device))

    def f(v):
        return (F.max_unpool1d(v, idx, 2) ** 2 * 3).sum()

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(put(R.standard_normal((2, 1, 3)), device))


# ---- random ----------------------------------------------------------------------------------
def test_rrelu_training_draws_slopes_in_range(device):
    x = tg.tensor(put(np.concatenate([-np.ones(2000), np.ones(10)]), device), requires_grad=True)
    tg.manual_seed(0)
    y = F.rrelu(x, 0.1, 0.3, training=True)
    yv = host(y.detach())
    slopes = -yv[:2000]
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3
    assert abs(slopes.mean() - 0.2) < 0.01 and slopes.std() > 0.04
    np.testing.assert_array_equal(yv[2000:], 1.0)
    y.sum().backward()
    # the gradient is the slope drawn for each element
    np.testing.assert_allclose(host(x.grad)[:2000], slopes)
    tg.manual_seed(0)
    np.testing.assert_array_equal(host(F.rrelu(x.detach(), 0.1, 0.3, True)), yv)
    m = nn.RReLU(0.1, 0.3)
    m.eval()
    np.testing.assert_allclose(host(m(x.detach()))[:3], [-0.2, -0.2, -0.2])


def test_gumbel_softmax_matches_torch_formula_for_given_noise(device):
    from tensorgrad.nn._functional_extra_a import _gumbel_softmax

    logits = R.standard_normal((4, 5))
    g = -np.log(R.exponential(size=(4, 5)))
    for hard in (False, True):
        lt = tg.tensor(put(logits, device), requires_grad=True)
        y = _gumbel_softmax(lt, put(g, device), 0.7, hard, -1)
        tl = torch.tensor(logits, requires_grad=True)
        soft = torch.softmax((tl + torch.tensor(g)) / 0.7, -1)
        ref = soft
        if hard:
            onehot = torch.zeros_like(soft).scatter_(-1, soft.argmax(-1, keepdim=True), 1.0)
            ref = onehot - soft.detach() + soft
            np.testing.assert_array_equal(host(y.detach()).sum(-1), 1.0)
            assert set(np.unique(host(y.detach()))) <= {0.0, 1.0}
        np.testing.assert_allclose(host(y.detach()), ref.detach().numpy(), atol=1e-12)
        w = R.standard_normal((4, 5))
        (y * tg.tensor(put(w, device))).sum().backward()
        (ref * torch.tensor(w)).sum().backward()
        np.testing.assert_allclose(host(lt.grad), tl.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_gumbel_softmax_samples_follow_the_softmax(device):
    logits = np.log(np.array([0.6, 0.3, 0.1]))
    tg.manual_seed(1)
    lt = tg.tensor(put(np.tile(logits, (4000, 1)), device))
    y = host(F.gumbel_softmax(lt, tau=0.5, hard=True))
    freq = y.mean(0)
    np.testing.assert_allclose(freq, [0.6, 0.3, 0.1], atol=0.03)
    soft = host(F.gumbel_softmax(lt, dim=1))
    np.testing.assert_allclose(soft.sum(1), 1.0)
    assert (soft > 0).all() and (soft < 1).all() and soft.std(0).min() > 0.05


def test_feature_alpha_dropout_drops_whole_channels(device):
    x = tg.tensor(put(R.standard_normal((400, 8, 3, 3)), device))
    assert F.feature_alpha_dropout(x, 0.3) is x  # training defaults to False, as PyTorch's
    tg.manual_seed(2)
    y = host(F.feature_alpha_dropout(x, 0.3, training=True))
    xv = host(x)
    alpha = 1.7580993408473766
    a = 1 / np.sqrt((alpha ** 2 * 0.3 + 1) * 0.7)
    dropped = np.isclose(y, -alpha * a * 0.7 + 0 * xv)  # SELU's saturation, mapped
    kept = np.isclose(y, a * xv + alpha * a * 0.3)
    # each (sample, channel) map entirely kept or entirely dropped
    per_map = dropped.reshape(400, 8, -1)
    assert (per_map.all(-1) | kept.reshape(400, 8, -1).all(-1)).all()
    rate = per_map.all(-1).mean()
    assert abs(rate - 0.3) < 0.03
    # the two values of zeros are PyTorch's (alpha_dropout's too)
    zeros = tg.zeros(500, 2, device=device)
    for ours, theirs in ((F.feature_alpha_dropout, TF.feature_alpha_dropout),
                         (F.alpha_dropout, TF.alpha_dropout)):
        np.testing.assert_allclose(
            np.unique(host(ours(zeros, 0.3, True))),
            np.unique(theirs(torch.zeros(500, 2, dtype=torch.float64), 0.3, True).numpy()))
    m = nn.FeatureAlphaDropout(0.3)
    m.eval()
    np.testing.assert_array_equal(host(m(x)), xv)
    # PyTorch's statistics: mean and variance of a standard normal kept
    big = tg.tensor(put(R.standard_normal((20000, 4, 1)), device))
    z = host(F.feature_alpha_dropout(big, 0.3, True))
    assert abs(z.mean()) < 0.03 and abs(z.std() - 1) < 0.03


# ---- in-place --------------------------------------------------------------------------------
INPLACE = [("relu_", (), "relu"), ("elu_", (0.7,), "elu"), ("celu_", (1.3,), "celu"),
           ("selu_", (), "selu"), ("leaky_relu_", (0.2,), "leaky_relu"),
           ("hardtanh_", (-0.5, 0.8), "hardtanh"), ("threshold_", (0.3, -2.0), "threshold"),
           ("rrelu_", (0.1, 0.4), "rrelu")]


@pytest.mark.parametrize("name, args, plain", INPLACE)
def test_inplace_activations_write_and_differentiate(name, args, plain, device):
    xv = X[0]
    leaf = tg.tensor(put(xv, device), requires_grad=True)
    t = leaf * 1.0
    version = t._version
    out = getattr(F, name)(t, *args)
    assert out is t and t._version > version
    np.testing.assert_allclose(host(t.detach()), host(getattr(F, plain)(tg.tensor(xv), *args)))
    tl = torch.tensor(xv, requires_grad=True)
    tt = tl * 1.0
    getattr(TF, name)(tt, *args)
    np.testing.assert_allclose(host(t.detach()), tt.detach().numpy(), rtol=1e-12)
    g = R.standard_normal(xv.shape)
    t.backward(tg.tensor(put(g, device)))
    tt.backward(torch.tensor(g))
    # PyTorch's in-place celu backward reads the result with a float32 1/alpha
    np.testing.assert_allclose(host(leaf.grad), tl.grad.numpy(),
                               rtol=1e-7 if name == "celu_" else 1e-10)
    # no grad: the array itself is overwritten
    raw = tg.tensor(put(xv.copy(), device))
    getattr(F, name)(raw, *args)
    np.testing.assert_allclose(host(raw), tt.detach().numpy(), rtol=1e-12)


def test_inplace_second_order(device):
    def f(x):
        y = (x if isinstance(x, tg.Tensor) else tg.tensor(x)) * 1.0
        F.elu_(y, 0.7)
        F.hardtanh_(y, -0.5, 0.8)
        return (y ** 3).sum()

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(put(X[0], device))


def test_inplace_errors(device):
    leaf = tg.tensor(put(X[0], device), requires_grad=True)
    with pytest.raises(RuntimeError, match="relu_"):
        F.relu_(leaf)
    with pytest.raises(TypeError, match="relu_"):
        F.relu_(X[0])


# ---- modules ---------------------------------------------------------------------------------
PADS = [("ReflectionPad1d", (2, 1), (2, 3, 5)), ("ReflectionPad2d", (1, 2, 0, 3), (2, 3, 4, 5)),
        ("ReflectionPad3d", 1, (1, 2, 3, 4, 5)), ("ReplicationPad1d", 3, (3, 5)),
        ("ReplicationPad2d", (3, 0, 1, 4), (3, 4, 5)),
        ("ReplicationPad3d", (1, 0, 2, 1, 0, 3), (1, 2, 3, 4, 5)),
        ("CircularPad1d", (1, 4), (2, 3, 5)), ("CircularPad2d", 2, (2, 3, 4, 5)),
        ("CircularPad3d", (1, 2, 0, 3, 2, 1), (2, 3, 4, 5)), ("ZeroPad1d", (2, -1), (2, 3, 5)),
        ("ZeroPad2d", 1, (2, 4, 5)), ("ZeroPad3d", (1, 0, 2, 1, 0, 3), (2, 3, 4, 5)),
        ("ConstantPad3d", 2, (1, 2, 3, 4, 5))]


@pytest.mark.parametrize("name, padding, shape", PADS)
def test_padding_modules_match_torch(name, padding, shape, device):
    xv = R.standard_normal(shape)
    extra = (0.5,) if name.startswith("Constant") else ()
    m = getattr(nn, name)(padding, *extra)
    ref_m = getattr(torch.nn, name)(padding, *extra)
    assert repr(m) == repr(ref_m)
    x = tg.tensor(put(xv, device), requires_grad=True)
    tx = torch.tensor(xv, requires_grad=True)
    y, ty = m(x), ref_m(tx)
    np.testing.assert_allclose(host(y.detach()), ty.detach().numpy())
    g = R.standard_normal(tuple(ty.shape))
    y.backward(tg.tensor(put(g, device)))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(host(x.grad), tx.grad.numpy(), rtol=1e-12)


def test_reflect_pad_3d_second_order(device):
    def f(x):
        return (F.pad(x, (1, 2, 0, 1, 2, 1), mode="reflect") ** 3).sum()

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(put(R.standard_normal((1, 1, 3, 3, 4)),
                                                         device))


MODULES = [("RMSNorm", ((4, 5),), {}), ("RMSNorm", (5,), {"eps": 1e-2}),
           ("RMSNorm", (5,), {"elementwise_affine": False}), ("Hardshrink", (), {}),
           ("Softshrink", (0.3,), {}), ("Softmax2d", (), {}), ("ChannelShuffle", (2,), {}),
           ("Unfold", ((2, 3),), {"padding": 1}), ("UpsamplingNearest2d", (), {"scale_factor": 2}),
           ("UpsamplingBilinear2d", ((3, 8),), {}), ("LPPool1d", (2, 2), {}),
           ("LPPool2d", (2.0, (2, 2)), {"stride": 1}), ("LPPool3d", (1.5, 2), {}),
           ("FeatureAlphaDropout", (0.2,), {}), ("RReLU", (0.1, 0.3), {})]


@pytest.mark.parametrize("name, args, kwargs", MODULES)
def test_modules_match_torch(name, args, kwargs, device):
    m = getattr(nn, name)(*args, **kwargs)
    ref = getattr(torch.nn, name)(*args, **kwargs).double()
    assert repr(m) == repr(ref)
    m.eval()
    ref.eval()
    xv = R.random((2, 4, 4, 5)) + 0.2
    if name == "LPPool1d":
        xv = xv[:, :, 0]
    elif name == "LPPool3d":
        xv = xv[None]
    x = tg.tensor(put(xv, device), requires_grad=True)
    tx = torch.tensor(xv, requires_grad=True)
    if name == "RMSNorm" and kwargs.get("elementwise_affine", True):
        w = R.standard_normal(tuple(ref.weight.shape))
        m.weight = nn.Parameter(tg.tensor(put(w, device)))
        with torch.no_grad():
            ref.weight.copy_(torch.tensor(w))
    y, ty = m(x), ref(tx)
    np.testing.assert_allclose(host(y.detach()), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = R.standard_normal(tuple(ty.shape))
    y.backward(tg.tensor(put(g, device)))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(host(x.grad), tx.grad.numpy(), rtol=1e-9, atol=1e-11)
    if name == "RMSNorm" and m.weight is not None:
        np.testing.assert_allclose(host(m.weight.grad), ref.weight.grad.numpy(), rtol=1e-9)


def test_fold_module_inverts_unfold_counts(device):
    fold, unfold = nn.Fold((4, 5), 2, padding=1), nn.Unfold(2, padding=1)
    assert repr(fold) == repr(torch.nn.Fold((4, 5), 2, padding=1))
    ones = tg.ones(1, 3, 4, 5, device=device)
    counts = host(fold(unfold(ones)))
    ref = torch.nn.Fold((4, 5), 2, padding=1)(torch.nn.Unfold(2, padding=1)(torch.ones(1, 3, 4,
                                                                                      5)))
    np.testing.assert_array_equal(counts, ref.numpy())


def test_rms_norm_default_eps_is_the_dtypes(device):
    x = np.full((1, 3), 1e-5, dtype=np.float32)
    ours = host(F.rms_norm(tg.tensor(put(x, device)), (3,)))
    ref = TF.rms_norm(torch.tensor(x), (3,))
    np.testing.assert_allclose(ours, ref.numpy(), rtol=1e-6)
    assert ours[0, 0] < 0.1  # eps = 1.19e-7 dominates mean(x^2) = 1e-10


def test_buffer_registers_on_assignment(device):
    m = nn.Module()
    m.stat = nn.Buffer(tg.zeros(3, device=device))
    m.scratch = nn.Buffer(tg.ones(2, device=device), persistent=False)
    m.plain = tg.ones(1)
    assert [n for n, _ in m.named_buffers()] == ["stat", "scratch"]
    assert list(m.state_dict()) == ["stat"]
    assert isinstance(m.stat, tg.Tensor) and isinstance(m.stat, nn.Buffer)
    w = tg.ones(2, requires_grad=True)
    assert nn.Buffer(w).requires_grad and not nn.Buffer().requires_grad
    lin = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="weight"):
        lin.weight = nn.Buffer(tg.zeros(2, 2))
    tm = torch.nn.Module()
    tm.stat = torch.nn.Buffer(torch.zeros(3))
    assert [n for n, _ in tm.named_buffers()] == ["stat"]


# ---- errors ----------------------------------------------------------------------------------
ERRORS = [
    (lambda: F.rms_norm(tg.ones(2, 3), (4,)), ValueError, "rms_norm.*normalized_shape"),
    (lambda: F.rms_norm(tg.ones(2, 3), (3,), tg.ones(2)), ValueError, "rms_norm: weight"),
    (lambda: F.softshrink(tg.ones(2), -1.0), ValueError, "softshrink: lambd"),
    (lambda: F.rrelu(tg.ones(2), 0.5, 0.1), ValueError, "rrelu: .*lower"),
    (lambda: F.channel_shuffle(tg.ones(2, 6, 1), 4), ValueError, "channel_shuffle: groups"),
    (lambda: F.channel_shuffle(tg.ones(6, 2), 2), ValueError, "channel_shuffle: input"),
    (lambda: F.unfold(tg.ones(2, 3), 2), ValueError, "unfold: input"),
    (lambda: F.unfold(tg.ones(1, 1, 2, 2), 3), ValueError, "unfold: kernel_size"),
    (lambda: F.fold(tg.ones(1, 5, 4), (3, 3), 2), ValueError, r"fold: input of shape \(1, 5, 4\)"),
    (lambda: F.pdist(tg.ones(3)), ValueError, r"pdist: input must be \(N, M\)"),
    (lambda: F.gumbel_softmax(tg.ones(3), tau=0), ValueError, "gumbel_softmax: tau"),
    (lambda: F.feature_alpha_dropout(tg.ones(3), 0.5, True), ValueError,
     "feature_alpha_dropout: input"),
    (lambda: F.feature_alpha_dropout(tg.ones(2, 3), 1.5, True), ValueError,
     "feature_alpha_dropout: p"),
    (lambda: F.lp_pool2d(tg.ones(1, 1, 4, 4), 2, 2, ceil_mode=True), NotImplementedError,
     "lp_pool2d: ceil_mode"),
    (lambda: F.lp_pool1d(tg.ones(1, 1, 4, 4), 2, 2), ValueError, "lp_pool1d: input"),
    (lambda: F.lp_pool2d(tg.ones(1, 1, 4, 4), 0, 2), ValueError, "lp_pool2d: norm_type"),
    (lambda: F.lp_pool2d(tg.ones(1, 1, 2, 2), 2, 3), ValueError, "lp_pool2d: kernel_size"),
    (lambda: F.max_unpool1d(tg.ones(1, 1, 2), tg.tensor([[[0.5, 1.0]]]), 2), TypeError,
     "max_unpool1d: indices must be integers"),
    (lambda: F.max_pool2d_with_indices(tg.ones(1, 1, 4, 4), 2, padding=2), ValueError,
     "max_pool2d_with_indices: padding"),
    (lambda: F.max_pool1d_with_indices(tg.ones(4), 2), ValueError,
     "max_pool1d_with_indices: input"),
    (lambda: F.adaptive_max_pool2d_with_indices(tg.ones(1, 1, 4, 4), (2, 0)), ValueError,
     "adaptive_max_pool2d_with_indices: output_size"),
    (lambda: F.max_unpool2d(tg.ones(1, 1, 2, 2), tg.tensor([[[[0, 1], [2, 99]]]]), 2),
     ValueError, r"max_unpool2d: indices must lie in \[0, 16\)"),
    (lambda: F.max_unpool2d(tg.ones(1, 1, 2, 2), tg.tensor([[[0, 1]]]), 2), ValueError,
     "max_unpool2d: indices of shape"),
    (lambda: F.max_unpool1d(tg.ones(1, 1, 2), tg.tensor([[[0, 1]]]), 2, output_size=(9,)),
     ValueError, "max_unpool1d: output_size"),
    (lambda: nn.Softmax2d()(tg.ones(2, 3)), ValueError, "Softmax2d: input"),
    (lambda: nn.ReflectionPad2d((1, 2, 3)), ValueError, "ReflectionPad2d: padding"),
    (lambda: nn.ReflectionPad1d(3)(tg.ones(1, 2, 3)), ValueError, "pad: reflect widths"),
    (lambda: nn.RReLU(0.5, 0.1), ValueError, "RReLU"),
]


@pytest.mark.parametrize("k", range(len(ERRORS)))
def test_bad_input_errors_name_the_op(k):
    call, exc, pattern = ERRORS[k]
    with pytest.raises(exc, match=pattern):
        call()


def test_signatures_match_torch():
    import inspect

    names = ["rms_norm", "hardshrink", "softshrink", "rrelu", "channel_shuffle", "fold",
             "unfold", "pdist", "gumbel_softmax", "feature_alpha_dropout", "lp_pool1d",
             "lp_pool2d", "lp_pool3d", "max_unpool1d", "max_unpool2d", "max_unpool3d",
             "max_pool1d_with_indices", "max_pool2d_with_indices",
             "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d_with_indices"]
    checked = 0
    for name in names:
        try:
            theirs = list(inspect.signature(getattr(TF, name)).parameters)
        except ValueError:  # a builtin without a signature (hardshrink, pdist, ...)
            continue
        assert list(inspect.signature(getattr(F, name)).parameters) == theirs, name
        checked += 1
    assert checked >= 15


def test_native_channel_shuffle_matches_torch(device):
    ours = F.native_channel_shuffle(tg.tensor(put(X4, device)), 2)
    np.testing.assert_array_equal(host(ours), torch.native_channel_shuffle(torch.tensor(X4),
                                                                          2).numpy())
