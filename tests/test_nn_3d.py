"""The 3-D members of torch.nn and the 1-D transposed convolution (tensorgrad.nn._functional_3d,
tensorgrad.nn.layers_3d) on every device: values and gradients (inputs and every parameter)
against PyTorch CPU over a grid of arguments, derivatives to second order in both modes against
finite differences, modules' state_dict layouts, reprs and training statistics, and errors."""

import numpy as np
import pytest
from devices import host, on, put, torch_oracle, torch_repr
from nn_helpers import check_conv, check_functional, check_op, leaf

import tensorgrad as tg
import tensorgrad.numpy as tnp

F = tg.nn.functional
TOL = {np.float64: dict(rtol=1e-9, atol=1e-11), np.float32: dict(rtol=3e-5, atol=3e-5)}


def _check_op(ours_fn, theirs_fn, arrays, device, rng, dtype=np.float64):
    check_op(ours_fn, theirs_fn, arrays, device, rng, TOL, dtype)


# ---- conv3d ---------------------------------------------------------------------------------
CONV3D_CASES = {  # name: (x shape, weight shape, bias?, options)
    "plain": ((2, 3, 4, 5, 4), (4, 3, 2, 3, 2), True, {}),
    "stride_pad": ((2, 3, 5, 5, 6), (4, 3, 3, 3, 3), True, {"stride": 2, "padding": 1}),
    "anisotropic": ((1, 2, 6, 5, 7), (3, 2, 3, 2, 3), False,
                    {"stride": (1, 2, 3), "padding": (2, 0, 1), "dilation": (2, 1, 2)}),
    "groups": ((2, 4, 4, 4, 5), (6, 2, 2, 3, 2), True, {"groups": 2, "padding": (1, 1, 0)}),
    "depthwise_dilated": ((1, 3, 7, 5, 5), (3, 1, 3, 2, 2), True,
                          {"groups": 3, "dilation": (3, 2, 1)}),
    "same_even": ((2, 2, 4, 5, 4), (3, 2, 2, 3, 4), True, {"padding": "same"}),
    "same_dilated": ((1, 2, 6, 5, 5), (2, 2, 3, 2, 3), True,
                     {"padding": "same", "dilation": (2, 3, 1)}),
    "valid": ((2, 2, 5, 4, 4), (3, 2, 2, 2, 2), True, {"padding": "valid", "stride": (2, 1, 3)}),
    "unbatched": ((2, 4, 3, 5), (3, 2, 2, 2, 3), True, {"padding": 1}),
}


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("name", sorted(CONV3D_CASES))
def test_conv3d_matches_torch(name, device, rng):
    check_conv("conv3d", CONV3D_CASES[name], device, rng, TOL)


def test_conv3d_float32(device, rng):
    arrays = [rng.standard_normal((2, 4, 5, 6, 5)), rng.standard_normal((4, 2, 3, 3, 3)),
              rng.standard_normal(4)]
    check_functional("conv3d", arrays, device, rng, TOL, 2, 1, 1, 2, dtype=np.float32)


# ---- transposed convolutions ----------------------------------------------------------------
CONVT1D_CASES = {
    "plain": ((2, 4, 6), (4, 3, 3), True, {}),
    "stride_pad_outpad": ((2, 4, 5), (4, 3, 4), True, {"stride": 3, "padding": 1,
                                                       "output_padding": 2}),
    "groups_dilation": ((2, 4, 5), (4, 2, 3), False, {"stride": 2, "dilation": 2, "groups": 2,
                                                      "output_padding": 1}),
    "outpad_ge_stride": ((1, 2, 4), (2, 3, 3), True, {"dilation": 3, "padding": 2,
                                                      "output_padding": 2}),
    "unbatched": ((3, 5), (3, 2, 2), True, {"stride": (2,), "padding": (1,)}),
}
CONVT3D_CASES = {
    "plain": ((2, 3, 3, 4, 3), (3, 2, 2, 3, 2), True, {}),
    "stride_pad_outpad": ((1, 4, 3, 3, 4), (4, 3, 3, 3, 2), True,
                          {"stride": 2, "padding": 1, "output_padding": 1}),
    "anisotropic_groups": ((2, 4, 3, 2, 3), (4, 1, 2, 3, 2), True,
                           {"stride": (3, 1, 2), "padding": (1, 0, 1), "groups": 2,
                            "dilation": (1, 2, 2), "output_padding": (2, 1, 0)}),
    "outpad_ge_stride": ((1, 2, 3, 3, 2), (2, 2, 2, 2, 3), False,
                         {"dilation": (3, 1, 2), "padding": (1, 0, 0),
                          "output_padding": (2, 0, 1)}),
    "unbatched": ((2, 3, 2, 3), (2, 3, 2, 2, 2), True, {"stride": 2}),
}


@pytest.mark.parametrize("name", sorted(CONVT1D_CASES))
def test_conv_transpose1d_matches_torch(name, device, rng):
    check_conv("conv_transpose1d", CONVT1D_CASES[name], device, rng, TOL)


@pytest.mark.parametrize("name", sorted(CONVT3D_CASES))
def test_conv_transpose3d_matches_torch(name, device, rng):
    check_conv("conv_transpose3d", CONVT3D_CASES[name], device, rng, TOL)


def test_conv_transpose3d_is_the_adjoint_of_conv3d(device, rng):
    """<conv3d(x, w), y> == <x, conv_transpose3d(y, w)> with the same geometry."""
    x = rng.standard_normal((2, 2, 5, 6, 5))
    w = rng.standard_normal((3, 2, 3, 2, 3))
    geo = dict(stride=(2, 1, 2), padding=(1, 0, 1), dilation=(1, 2, 1))
    y = F.conv3d(tg.tensor(put(x, device)), tg.tensor(put(w, device)), **geo)
    r = rng.standard_normal(y.shape)
    back = F.conv_transpose3d(tg.tensor(put(r, device)), tg.tensor(put(w, device)), **geo)
    assert back.shape == x.shape
    np.testing.assert_allclose(float((host(y) * r).sum()), float((x * host(back)).sum()),
                               rtol=1e-10)


# ---- derivatives to second order ------------------------------------------------------------
def test_conv3d_derivatives_second_order(device, rng):
    def f(x, w, b):
        return tnp.tanh(F.conv3d(x, w, b, stride=(2, 1, 1), padding=(1, 0, 1), groups=2))

    args = (rng.standard_normal((1, 2, 3, 3, 2)), rng.standard_normal((2, 1, 2, 2, 2)),
            rng.standard_normal(2))
    tg.check_grads(f, modes=("fwd", "rev"), order=2)(*put(args, device))


def test_conv_transpose1d_derivatives_second_order(device, rng):
    def f(x, w, b):
        return tnp.tanh(F.conv_transpose1d(x, w, b, stride=2, padding=1, output_padding=1,
                                           groups=2, dilation=2))

    args = (rng.standard_normal((1, 2, 3)), rng.standard_normal((2, 1, 2)),
            rng.standard_normal(2))
    tg.check_grads(f, modes=("fwd", "rev"), order=2)(*put(args, device))


def test_conv_transpose3d_derivatives_second_order(device, rng):
    def f(x, w):
        return tnp.tanh(F.conv_transpose3d(x, w, None, stride=(2, 1, 1), output_padding=(1, 0,
                                                                                         0)))

    args = (rng.standard_normal((1, 1, 2, 2, 1)), rng.standard_normal((1, 2, 2, 1, 2)))
    tg.check_grads(f, modes=("fwd", "rev"), order=2)(*put(args, device))


def test_pools_3d_derivatives_second_order(device, rng):
    def f(x):
        sq = x * x
        return (F.avg_pool3d(sq, 2, 1, 1, ceil_mode=True, count_include_pad=False).sum()
                + F.max_pool3d(tnp.sin(x), (2, 1, 2), padding=(1, 0, 0), ceil_mode=True).sum()
                + F.adaptive_avg_pool3d(sq, (2, 3, 1)).sum()
                + F.adaptive_max_pool3d(tnp.sin(x), (1, 2, 2)).sum())

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(put(rng.standard_normal((1, 1, 3, 3, 2)),
                                                         device))


# ---- pooling --------------------------------------------------------------------------------
MAXPOOL_CASES = {  # name: (x shape, options)
    "plain": ((2, 2, 4, 6, 4), {"kernel_size": 2}),
    "stride_pad": ((1, 2, 5, 5, 6), {"kernel_size": 3, "stride": 2, "padding": 1}),
    "ceil": ((2, 1, 5, 6, 7), {"kernel_size": (2, 3, 2), "stride": (2, 2, 3), "ceil_mode": True,
                               "padding": (1, 0, 1)}),
    "dilation": ((1, 2, 7, 6, 6), {"kernel_size": (3, 2, 2), "stride": 1,
                                   "dilation": (2, 1, 3), "padding": (1, 1, 0)}),
    "dilation_ceil": ((1, 1, 8, 7, 6), {"kernel_size": 3, "stride": 2, "dilation": 2,
                                        "ceil_mode": True, "padding": 1}),
    "unbatched": ((2, 4, 5, 3), {"kernel_size": (2, 2, 1), "stride": (1, 2, 1)}),
}


@pytest.mark.parametrize("name", sorted(MAXPOOL_CASES))
def test_max_pool3d_matches_torch(name, device, rng):
    torch = torch_oracle()
    xs, opts = MAXPOOL_CASES[name]
    x = rng.standard_normal(xs)
    check_functional("max_pool3d", [x], device, rng, TOL, **opts)
    out, idx = F.max_pool3d(tg.tensor(put(x, device)), return_indices=True, **opts)
    ref, ref_idx = torch.nn.functional.max_pool3d(torch.tensor(x), return_indices=True, **opts)
    np.testing.assert_array_equal(host(out), ref.numpy())
    assert idx.dtype == np.int64 and on(idx, device)
    np.testing.assert_array_equal(host(idx), ref_idx.numpy())


def test_max_pool3d_indices_take_the_first_of_ties(device):
    torch = torch_oracle()
    x = np.zeros((1, 1, 3, 4, 4))
    x[0, 0, 1:, 1:, 2:] = 5.0  # ties inside most windows
    out, idx = F.max_pool3d(tg.tensor(put(x, device)), 2, 1, return_indices=True)
    _, ref_idx = torch.nn.functional.max_pool3d(torch.tensor(x), 2, 1, return_indices=True)
    np.testing.assert_array_equal(host(idx), ref_idx.numpy())


AVGPOOL_CASES = {
    "plain": ((2, 2, 4, 6, 4), {"kernel_size": 2}),
    "pad_include": ((1, 2, 5, 5, 6), {"kernel_size": 3, "stride": 2, "padding": 1}),
    "pad_exclude": ((1, 2, 5, 5, 6), {"kernel_size": 3, "stride": 2, "padding": 1,
                                      "count_include_pad": False}),
    "ceil_include": ((2, 1, 5, 6, 7), {"kernel_size": (2, 3, 2), "stride": (2, 2, 3),
                                       "ceil_mode": True, "padding": (1, 0, 1)}),
    "ceil_exclude": ((2, 1, 5, 6, 7), {"kernel_size": (3, 3, 2), "stride": (2, 2, 3),
                                       "ceil_mode": True, "padding": (1, 1, 1),
                                       "count_include_pad": False}),
    "divisor_override": ((1, 2, 5, 4, 5), {"kernel_size": 2, "stride": (1, 2, 2), "padding": 1,
                                           "ceil_mode": True, "divisor_override": 3}),
    "unbatched": ((2, 4, 5, 3), {"kernel_size": (2, 2, 1), "stride": (1, 2, 1)}),
}


@pytest.mark.parametrize("name", sorted(AVGPOOL_CASES))
def test_avg_pool3d_matches_torch(name, device, rng):
    xs, opts = AVGPOOL_CASES[name]
    check_functional("avg_pool3d", [rng.standard_normal(xs)], device, rng, TOL, **opts)


@pytest.mark.parametrize("size", [(2, 3, 2), (3, None, 2), 1, (5, 4, 3), (4, 1, None)])
def test_adaptive_pools_3d_match_torch(size, device, rng):
    torch = torch_oracle()
    x = rng.standard_normal((2, 2, 5, 4, 6))
    check_functional("adaptive_avg_pool3d", [x], device, rng, TOL, size)
    check_functional("adaptive_max_pool3d", [x], device, rng, TOL, size)
    out, idx = F.adaptive_max_pool3d(tg.tensor(put(x[0], device)), size, return_indices=True)
    ref, ref_idx = torch.nn.functional.adaptive_max_pool3d(torch.tensor(x[0]), size, True)
    np.testing.assert_array_equal(host(out), ref.numpy())
    np.testing.assert_array_equal(host(idx), ref_idx.numpy())


def test_pools_keep_float32(device, rng):
    x = tg.tensor(put(rng.standard_normal((1, 2, 4, 4, 4)).astype(np.float32), device),
                  requires_grad=True)
    y = (F.max_pool3d(x, 2) + F.avg_pool3d(x, 2, ceil_mode=True) + F.adaptive_avg_pool3d(x, 2)
         + F.adaptive_max_pool3d(x, 2))
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32 and on(x.grad, device)


# ---- dropout3d ------------------------------------------------------------------------------
def test_dropout3d_drops_whole_channels(device):
    tg.manual_seed(0)
    x = tg.tensor(put(np.ones((8, 16, 2, 3, 2)), device), requires_grad=True)
    y = F.dropout3d(x, 0.25)
    per_channel = host(y).reshape(8, 16, -1)
    assert on(y, device)
    # each channel is all zeros or all 1 / (1 - p)
    assert np.all((per_channel == 0).all(-1) | np.isclose(per_channel, 1 / 0.75).all(-1))
    dropped = (per_channel == 0).all(-1).mean()
    assert 0.1 < dropped < 0.4
    y.sum().backward()
    np.testing.assert_allclose(host(x.grad), host(y))  # the gradient is the mask
    unbatched = F.dropout3d(tg.tensor(put(np.ones((16, 2, 2, 2)), device)), 0.5)
    flat = host(unbatched).reshape(16, -1)
    assert np.all((flat == 0).all(-1) | (flat == 2).all(-1))
    assert F.dropout3d(x, 0.5, training=False) is x
    np.testing.assert_array_equal(host(F.dropout3d(x, 1.0)), 0)


# ---- modules --------------------------------------------------------------------------------
MODULE_CASES = {  # name: (class, constructor args, options, x shape, forward options)
    "conv3d": ("Conv3d", (4, 6, 3), {"stride": 2, "padding": 1, "groups": 2}, (2, 4, 5, 5, 4),
               {}),
    "conv3d_same_no_bias": ("Conv3d", (2, 3, (2, 3, 2)), {"padding": "same", "bias": False},
                            (1, 2, 4, 5, 4), {}),
    "conv3d_reflect": ("Conv3d", (2, 3, 3), {"padding": (1, 2, 1), "padding_mode": "reflect"},
                       (1, 2, 4, 5, 4), {}),
    "conv3d_replicate_same": ("Conv3d", (2, 2, (2, 3, 3)), {"padding": "same", "dilation": 2,
                                                            "padding_mode": "replicate"},
                              (1, 2, 5, 5, 5), {}),
    "conv3d_circular": ("Conv3d", (2, 3, 3), {"padding": 1, "padding_mode": "circular"},
                        (2, 2, 3, 4, 3), {}),
    "convt1d": ("ConvTranspose1d", (4, 6, 3), {"stride": 2, "padding": 1, "groups": 2,
                                               "output_padding": 1}, (2, 4, 5), {}),
    "convt1d_output_size": ("ConvTranspose1d", (3, 2, 3), {"stride": 3}, (2, 3, 4),
                            {"output_size": [13]}),
    "convt3d": ("ConvTranspose3d", (2, 4, (2, 3, 2)), {"stride": (2, 1, 2), "dilation": 2},
                (1, 2, 3, 3, 2), {}),
    "convt3d_output_size": ("ConvTranspose3d", (2, 3, 3), {"stride": 2, "padding": 1},
                            (1, 2, 2, 3, 2), {"output_size": (1, 3, 4, 6, 4)}),
}


def _copy_params(ours, theirs, device):
    torch = torch_oracle()
    with torch.no_grad():
        for name, p in theirs.named_parameters():
            getattr(ours, name).data = put(p.detach().numpy().copy(), device)


def _state_layout(module):
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


@pytest.mark.parametrize("name", sorted(MODULE_CASES))
def test_conv_modules_match_torch(name, device, rng):
    torch = torch_oracle()
    cls, args, opts, xs, fwd = MODULE_CASES[name]
    ref = getattr(torch.nn, cls)(*args, **opts).double()
    mine = getattr(tg.nn, cls)(*args, **opts, dtype=np.float64)
    assert _state_layout(mine) == _state_layout(ref)
    assert repr(mine) == repr(ref)
    _copy_params(mine, ref, device)
    x = rng.standard_normal(xs)
    xt = leaf(x, device)
    xr = torch.tensor(x, requires_grad=True)
    out, expected = mine(xt, **fwd), ref(xr, **fwd)
    np.testing.assert_allclose(host(out), expected.detach().numpy(), **TOL[np.float64])
    g = rng.standard_normal(out.shape)
    (out * tg.tensor(put(g, device))).sum().backward()
    (expected * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(host(xt.grad), xr.grad.numpy(), **TOL[np.float64])
    for pname, p in ref.named_parameters():
        np.testing.assert_allclose(host(getattr(mine, pname).grad), p.grad.numpy(),
                                   **TOL[np.float64])


def test_conv_modules_default_init_bounds():
    # kaiming_uniform(a=sqrt(5)): |w| <= 1/sqrt(fan_in); bias the same bound
    conv = tg.nn.Conv3d(4, 8, 3, groups=2)
    bound = 1 / np.sqrt(2 * 27)
    assert np.abs(conv.weight.numpy()).max() <= bound and conv.weight.numpy().std() > bound / 4
    assert np.abs(conv.bias.numpy()).max() <= bound
    convt = tg.nn.ConvTranspose3d(4, 6, 2)  # fan_in from weight dimension 1: 6 * 8
    assert convt.weight.shape == (4, 6, 2, 2, 2)
    assert np.abs(convt.weight.numpy()).max() <= 1 / np.sqrt(48)


POOL_MODULE_CASES = {  # name: (class, args, options, x shape)
    "maxpool": ("MaxPool3d", (3,), {"stride": 2, "padding": 1, "dilation": 1,
                                    "ceil_mode": True}, (2, 2, 5, 6, 5)),
    "maxpool_dilated": ("MaxPool3d", ((2, 3, 2),), {"dilation": (2, 1, 1)}, (1, 2, 6, 6, 5)),
    "avgpool": ("AvgPool3d", (2,), {"stride": 1, "padding": 1, "count_include_pad": False},
                (2, 2, 3, 4, 3)),
    "avgpool_divisor": ("AvgPool3d", ((2, 3, 2),), {"ceil_mode": True, "divisor_override": 7},
                        (1, 2, 5, 5, 5)),
    "adaptive_avg": ("AdaptiveAvgPool3d", ((2, None, 3),), {}, (2, 2, 5, 4, 7)),
    "adaptive_max": ("AdaptiveMaxPool3d", (3,), {}, (2, 2, 5, 4, 7)),
    "constant_pad": ("ConstantPad3d", ((1, 0, 2, 1, 0, 3), 1.5), {}, (2, 1, 2, 3, 2)),
    "zero_pad": ("ZeroPad3d", (1,), {}, (1, 2, 2, 2, 3)),
}


@pytest.mark.parametrize("name", sorted(POOL_MODULE_CASES))
def test_pool_and_pad_modules_match_torch(name, device, rng):
    torch = torch_oracle()
    cls, args, opts, xs = POOL_MODULE_CASES[name]
    ref = getattr(torch.nn, cls)(*args, **opts)
    mine = getattr(tg.nn, cls)(*args, **opts)
    assert repr(mine) == repr(ref)
    _check_op(mine, ref, [rng.standard_normal(xs)], device, rng)


def test_pool_modules_return_indices(device, rng):
    torch = torch_oracle()
    x = rng.standard_normal((1, 2, 5, 4, 6))
    for cls, args in (("MaxPool3d", (2,)), ("AdaptiveMaxPool3d", ((2, 3, 4),))):
        out, idx = getattr(tg.nn, cls)(*args, return_indices=True)(tg.tensor(put(x, device)))
        ref, ref_idx = getattr(torch.nn, cls)(*args, return_indices=True)(torch.tensor(x))
        np.testing.assert_array_equal(host(out), ref.numpy())
        np.testing.assert_array_equal(host(idx), ref_idx.numpy())


@pytest.mark.parametrize("momentum", [0.1, None])
def test_batch_norm3d_matches_torch(momentum, device, rng):
    torch = torch_oracle()
    ref = torch.nn.BatchNorm3d(3, momentum=momentum).double()
    mine = tg.nn.BatchNorm3d(3, momentum=momentum, dtype=np.float64).to(device)
    assert _state_layout(mine) == _state_layout(ref)
    assert torch_repr(mine, ref)[0] == torch_repr(mine, ref)[1]
    with torch.no_grad():
        ref.weight.uniform_(0.5, 1.5)
        ref.bias.uniform_(-1, 1)
    _copy_params(mine, ref, device)
    for _ in range(2):  # training: batch statistics, running statistics updated
        _check_op(mine, ref, [rng.standard_normal((2, 3, 3, 2, 3)) * 2 + 1], device, rng)
    for key in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_allclose(host(mine.state_dict()[key]),
                                   ref.state_dict()[key].numpy(), rtol=1e-12)
    mine.eval()
    ref.eval()
    _check_op(mine, ref, [rng.standard_normal((2, 3, 2, 2, 3))], device, rng)
    with pytest.raises(ValueError, match=r"BatchNorm3d: expected 5D input.*\(2, 3, 4, 4\)"):
        mine(tg.ones(2, 3, 4, 4, device=device))


def test_batch_norm3d_loads_torch_state_dict(device, rng):
    torch = torch_oracle()
    ref = torch.nn.BatchNorm3d(2).double()
    ref(torch.tensor(rng.standard_normal((3, 2, 2, 2, 2))))
    mine = tg.nn.BatchNorm3d(2, dtype=np.float64).to(device)
    mine.load_state_dict({k: put(v.numpy(), device) for k, v in ref.state_dict().items()})
    mine.eval()
    ref.eval()
    x = rng.standard_normal((1, 2, 3, 2, 2))
    np.testing.assert_allclose(host(mine(tg.tensor(put(x, device)))),
                               ref(torch.tensor(x)).detach().numpy(), **TOL[np.float64])


@pytest.mark.parametrize("affine", [False, True])
def test_instance_norm3d_matches_torch(affine, device, rng):
    torch = torch_oracle()
    ref = torch.nn.InstanceNorm3d(3, affine=affine).double()
    mine = tg.nn.InstanceNorm3d(3, affine=affine, dtype=np.float64).to(device)
    assert _state_layout(mine) == _state_layout(ref)
    assert torch_repr(mine, ref)[0] == torch_repr(mine, ref)[1]
    if affine:
        with torch.no_grad():
            ref.weight.uniform_(0.5, 1.5)
            ref.bias.uniform_(-1, 1)
        _copy_params(mine, ref, device)
    _check_op(mine, ref, [rng.standard_normal((2, 3, 3, 2, 4))], device, rng)
    _check_op(mine, ref, [rng.standard_normal((3, 3, 2, 4))], device, rng)  # unbatched


def test_dropout3d_module(device):
    torch = torch_oracle()
    m = tg.nn.Dropout3d(0.3)
    assert repr(m) == repr(torch.nn.Dropout3d(0.3))
    x = tg.tensor(put(np.ones((4, 8, 2, 2, 2)), device))
    vals = np.unique(host(m(x)))
    assert set(np.round(vals, 6)) <= {0.0, round(1 / 0.7, 6)}
    m.eval()
    np.testing.assert_array_equal(host(m(x)), 1.0)


# ---- errors ---------------------------------------------------------------------------------
ERROR_CASES = [  # (function, args, kwargs, error, pattern)
    (F.conv3d, ((3, 4, 4), (2, 3, 2, 2, 2)), {}, ValueError,
     r"conv3d: input must be .*got shape \(3, 4, 4\)"),
    (F.conv3d, ((1, 3, 4, 4, 4), (2, 3, 2, 2)), {}, ValueError,
     r"conv3d: weight must be .*got shape \(2, 3, 2, 2\)"),
    (F.conv3d, ((1, 4, 4, 4, 4), (2, 3, 2, 2, 2)), {}, ValueError,
     r"conv3d: input of shape \(1, 4, 4, 4, 4\) has 4 channels but weight \(2, 3, 2, 2, 2\)"),
    (F.conv3d, ((1, 2, 2, 4, 4), (2, 2, 3, 2, 2)), {}, ValueError,
     r"conv3d: input of shape \(1, 2, 2, 4, 4\).*smaller than the kernel's reach"),
    (F.conv3d, ((1, 2, 4, 4, 4), (2, 2, 2, 2, 2)), {"stride": 2, "padding": "same"},
     ValueError, r"conv3d: padding='same' is not supported for strided"),
    (F.conv3d, ((1, 2, 4, 4, 4), (2, 2, 2, 2, 2)), {"stride": (1, 2)}, ValueError,
     r"conv3d: stride must be an int or a tuple of 3 ints"),
    (F.conv3d, ((1, 2, 4, 4, 4), (2, 2, 2, 2, 2)), {"bias": (3,)}, ValueError,
     r"conv3d: bias must have shape \(2,\), got \(3,\)"),
    (F.conv_transpose1d, ((1, 3, 4), (2, 2, 3)), {}, ValueError,
     r"conv_transpose1d: input of shape \(1, 3, 4\) has 3 channels but weight \(2, 2, 3\)"),
    (F.conv_transpose1d, ((1, 2, 4), (2, 2, 3)), {"output_padding": 1}, ValueError,
     r"conv_transpose1d: output_padding \(1,\) must be smaller than either stride \(1,\)"),
    (F.conv_transpose1d, ((1, 2, 4, 4), (2, 2, 3)), {}, ValueError,
     r"conv_transpose1d: input must be \(N, C, L\) or \(C, L\), got shape \(1, 2, 4, 4\)"),
    (F.conv_transpose3d, ((1, 2, 2, 2, 2), (2, 1, 3, 3, 3)), {"padding": 3}, ValueError,
     r"conv_transpose3d: the output would be .* for input \(1, 2, 2, 2, 2\)"),
    (F.conv_transpose3d, ((1, 2, 2, 2, 2), (2, 1, 3, 3, 3)), {"groups": 3}, ValueError,
     r"conv_transpose3d: input of shape \(1, 2, 2, 2, 2\) has 2 channels"),
    (F.max_pool3d, ((2, 4, 4),), {"kernel_size": 2}, ValueError,
     r"max_pool3d: input must be \(N, C, D, H, W\) or \(C, D, H, W\), got shape \(2, 4, 4\)"),
    (F.max_pool3d, ((1, 1, 4, 4, 4),), {"kernel_size": 2, "padding": 2}, ValueError,
     r"max_pool3d: padding \(2, 2, 2\) must be at most half the kernel \(2, 2, 2\)"),
    (F.max_pool3d, ((1, 1, 1, 4, 4),), {"kernel_size": 2}, ValueError,
     r"max_pool3d: input of shape \(1, 1, 1, 4, 4\) is too small for kernel \(2, 2, 2\)"),
    (F.avg_pool3d, ((1, 1, 4, 4, 4),), {"kernel_size": 2, "divisor_override": 0}, ValueError,
     r"avg_pool3d: divisor_override must be a positive int"),
    (F.avg_pool3d, ((1, 1, 4, 4, 4),), {"kernel_size": (2, 2)}, ValueError,
     r"avg_pool3d: kernel_size must be an int or a tuple of 3 ints"),
    (F.adaptive_avg_pool3d, ((1, 1, 4, 4, 4),), {"output_size": (2, 2)}, ValueError,
     r"adaptive_avg_pool3d: output_size must be an int or a triple"),
    (F.adaptive_max_pool3d, ((2, 4, 4),), {"output_size": 2}, ValueError,
     r"adaptive_max_pool3d: input must be \(N, C, D, H, W\) .*got shape \(2, 4, 4\)"),
    (F.dropout3d, ((2, 4, 4),), {}, ValueError,
     r"dropout3d: input must be \(N, C, D, H, W\) .*got shape \(2, 4, 4\)"),
    (F.dropout3d, ((1, 2, 4, 4, 4),), {"p": 1.5}, ValueError, r"dropout3d: p must be in"),
]


@pytest.mark.parametrize("case", range(len(ERROR_CASES)))
def test_bad_inputs_name_the_op_and_shapes(case, device):
    fn, shapes, kwargs, error, pattern = ERROR_CASES[case]
    args = [tg.ones(*s, device=device) for s in shapes]
    kwargs = {k: tg.ones(*v, device=device) if k == "bias" else v for k, v in kwargs.items()}
    with pytest.raises(error, match=pattern):
        fn(*args, **kwargs)


def test_module_errors():
    with pytest.raises(ValueError, match=r"Conv3d: in_channels=3 must be divisible by groups=2"):
        tg.nn.Conv3d(3, 4, 2, groups=2)
    with pytest.raises(ValueError, match=r"ConvTranspose3d: only padding_mode='zeros'"):
        tg.nn.ConvTranspose3d(2, 2, 2, padding_mode="reflect")
    with pytest.raises(ValueError, match=r"ConvTranspose1d: padding must be an int or a tuple "
                                         r"of 1 ints"):
        tg.nn.ConvTranspose1d(2, 2, 2, padding="same")
    m = tg.nn.ConvTranspose3d(2, 2, 3, stride=2)
    with pytest.raises(ValueError, match=r"ConvTranspose3d: requested output_size \(9, 9, 12\) "
                                         r"is not reachable from input \(1, 2, 3, 3, 3\)"):
        m(tg.ones(1, 2, 3, 3, 3), output_size=(9, 9, 12))
    with pytest.raises(ValueError, match=r"ConvTranspose1d: output_size must have 1 or 3"):
        tg.nn.ConvTranspose1d(2, 2, 3)(tg.ones(1, 2, 3), output_size=(5, 5))
    with pytest.raises(ValueError, match=r"ConstantPad3d: padding must be an int or 6 ints"):
        tg.nn.ConstantPad3d((1, 2), 0.0)
