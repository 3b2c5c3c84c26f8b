"""F.conv1d, F.conv_transpose2d, F.adaptive_avg_pool2d and the Conv1d, ConvTranspose2d,
AdaptiveAvgPool2d modules on every device: values and gradients (inputs and every parameter)
against PyTorch CPU in float64 with copied weights, for every option; derivatives to second
order against finite differences; default initialisation statistics and reprs; errors."""

import numpy as np
import pytest
from devices import host, on, put
from nn_helpers import check_conv, check_op, leaf

import tensorgrad as tg
import tensorgrad.numpy as tnp

F = tg.nn.functional
TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=2e-5, atol=2e-5)}


def _torch():
    return pytest.importorskip("torch")


# ---- conv1d ---------------------------------------------------------------------------------
CONV1D_CASES = {  # name: (x shape, weight shape, bias?, options)
    "plain": ((2, 4, 9), (6, 4, 3), True, {}),
    "stride_pad": ((2, 4, 9), (6, 4, 3), True, {"stride": 2, "padding": 1}),
    "dilation_groups": ((2, 4, 11), (6, 2, 3), False, {"dilation": 2, "groups": 2,
                                                        "padding": (2,)}),
    "same_even": ((2, 3, 8), (4, 3, 4), True, {"padding": "same"}),
    "same_dilated": ((1, 4, 10), (4, 1, 3), True, {"padding": "same", "dilation": 3,
                                                   "groups": 4}),
    "valid": ((2, 3, 8), (5, 3, 2), True, {"padding": "valid", "stride": 3}),
    "unbatched": ((3, 7), (2, 3, 2), True, {"padding": 1}),
}


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(CONV1D_CASES))
def test_conv1d_matches_torch(name, dtype, device, rng):
    check_conv("conv1d", CONV1D_CASES[name], device, rng, TOL, dtype)


# ---- conv_transpose2d -----------------------------------------------------------------------
CONVT_CASES = {  # name: (x shape, weight shape, bias?, options)
    "plain": ((2, 4, 5, 6), (4, 3, 3, 3), True, {}),
    "stride_pad_outpad": ((2, 4, 5, 6), (4, 3, 3, 2), True, {"stride": 2, "padding": 1,
                                                              "output_padding": 1}),
    "groups_dilation": ((2, 4, 5, 4), (4, 2, 3, 2), True, {"stride": (2, 3), "dilation": (2, 1),
                                                           "groups": 2,
                                                           "output_padding": (1, 2)}),
    "outpad_ge_stride": ((1, 2, 4, 5), (2, 3, 3, 3), True, {"dilation": 3, "padding": 2,
                                                             "output_padding": 2}),
    "rect_no_bias": ((2, 3, 4, 3), (3, 2, 2, 4), False, {"stride": (1, 2), "padding": (1, 0)}),
    "unbatched_groups3": ((6, 3, 3), (6, 1, 2, 2), True, {"stride": 2, "groups": 3}),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(CONVT_CASES))
def test_conv_transpose2d_matches_torch(name, dtype, device, rng):
    check_conv("conv_transpose2d", CONVT_CASES[name], device, rng, TOL, dtype)


def test_conv_transpose2d_is_adjoint_of_conv2d(device, rng):
    """<conv2d(x, w), y> = <x, conv_transpose2d(y, w)> with the same options."""
    x = put(rng.standard_normal((2, 4, 9, 8)), device)
    w = put(rng.standard_normal((6, 2, 3, 2)), device)
    opts = dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)
    y = F.conv2d(tg.tensor(x), tg.tensor(w), **opts)
    v = put(rng.standard_normal(y.shape), device)
    back = F.conv_transpose2d(tg.tensor(v), tg.tensor(w), output_padding=(0, 0), **opts)
    # the transposed output may be shorter than x where the stride skipped trailing pixels
    xs = host(tg.tensor(x))[:, :, :back.shape[2], :back.shape[3]]
    np.testing.assert_allclose((host(y) * host(tg.tensor(v))).sum(),
                               (xs * host(back)).sum(), rtol=1e-10)


# ---- adaptive_avg_pool2d --------------------------------------------------------------------
ADAPTIVE_CASES = {  # name: (x shape, output_size)
    "global": ((2, 3, 7, 9), 1),
    "global_pair": ((2, 3, 7, 9), (1, 1)),
    "global_unbatched": ((3, 5, 6), 1),
    "divisible": ((2, 3, 8, 6), (4, 3)),
    "non_divisible": ((2, 3, 7, 10), (3, 4)),
    "mixed": ((1, 2, 9, 10), (3, 4)),
    "none": ((2, 2, 7, 5), (None, 3)),
    "larger_than_input": ((1, 2, 3, 4), (5, 7)),
    "identity": ((1, 2, 5, 6), (5, 6)),
    "unbatched": ((3, 11, 6), 4),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(ADAPTIVE_CASES))
def test_adaptive_avg_pool2d_matches_torch(name, dtype, device, rng):
    torch = _torch()
    xs, size = ADAPTIVE_CASES[name]
    check_op(lambda x: F.adaptive_avg_pool2d(x, size),
             lambda x: torch.nn.functional.adaptive_avg_pool2d(x, size),
             [rng.standard_normal(xs)], device, rng, TOL, dtype)


# ---- second order ---------------------------------------------------------------------------
def test_conv1d_derivatives_second_order(device, rng):
    def f(x, w, b):
        return tnp.tanh(F.conv1d(x, w, b, stride=2, padding=1, dilation=2, groups=2))

    args = (rng.standard_normal((1, 2, 6)), rng.standard_normal((2, 1, 2)),
            rng.standard_normal(2))
    tg.check_grads(f, modes=("fwd", "rev"), order=2)(*put(args, device))


def test_conv_transpose2d_derivatives_second_order(device, rng):
    def f(x, w, b):
        return tnp.tanh(F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1,
                                           groups=2))

    args = (rng.standard_normal((1, 2, 2, 3)), rng.standard_normal((2, 1, 2, 2)),
            rng.standard_normal(2))
    tg.check_grads(f, modes=("fwd", "rev"), order=2)(*put(args, device))


def test_adaptive_avg_pool2d_derivatives_second_order(device, rng):
    def f(x):
        return (F.adaptive_avg_pool2d(x * x, (2, 3)) + F.adaptive_avg_pool2d(tnp.tanh(x), (2, 3))
                + F.adaptive_avg_pool2d(x ** 3, 1))

    x = put(rng.standard_normal((1, 2, 5, 4)), device)
    tg.check_grads(f, modes=("fwd", "rev"), order=2)(x)


# ---- modules --------------------------------------------------------------------------------
MODULE_CASES = {  # name: (class name, constructor args, options, x shape, forward options)
    "conv1d": ("Conv1d", (4, 6, 3), {"stride": 2, "padding": 1, "groups": 2}, (2, 4, 9), {}),
    "conv1d_same_no_bias": ("Conv1d", (3, 2, 4), {"padding": "same", "bias": False},
                            (2, 3, 8), {}),
    "conv1d_reflect": ("Conv1d", (3, 4, 3), {"padding": 2, "padding_mode": "reflect"},
                       (2, 3, 7), {}),
    "conv1d_replicate": ("Conv1d", (3, 4, 3), {"padding": "same", "dilation": 2,
                                               "padding_mode": "replicate"}, (2, 3, 7), {}),
    "conv1d_circular": ("Conv1d", (3, 4, 4), {"padding": "same", "padding_mode": "circular"},
                        (3, 9), {}),
    "conv2d_reflect": ("Conv2d", (3, 4, 3), {"padding": (2, 1), "padding_mode": "reflect"},
                       (2, 3, 7, 6), {}),
    "conv2d_replicate_same": ("Conv2d", (3, 4, (3, 4)), {"padding": "same", "dilation": 2,
                                                        "padding_mode": "replicate"},
                              (2, 3, 9, 8), {}),
    "conv2d_circular_strided": ("Conv2d", (4, 2, 3), {"padding": 1, "stride": 2, "groups": 2,
                                                      "padding_mode": "circular"},
                                (4, 7, 6), {}),
    "conv2d_valid": ("Conv2d", (3, 4, 3), {"padding": "valid"}, (2, 3, 6, 5), {}),
    "conv2d_same_zeros": ("Conv2d", (3, 4, (2, 3)), {"padding": "same", "bias": False},
                          (2, 3, 6, 5), {}),
    "convt": ("ConvTranspose2d", (4, 6, 3), {"stride": 2, "padding": 1, "output_padding": 1,
                                             "groups": 2, "dilation": 2}, (2, 4, 5, 4), {}),
    "convt_output_size": ("ConvTranspose2d", (3, 2, (3, 2)), {"stride": (2, 3), "bias": False},
                          (2, 3, 4, 5), {"output_size": (10, 16)}),
    "adaptive": ("AdaptiveAvgPool2d", ((3, None),), {}, (2, 3, 7, 5), {}),
}


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("name", sorted(MODULE_CASES))
def test_modules_match_torch(name, device, rng):
    torch = _torch()
    cls, args, opts, xs, fopts = MODULE_CASES[name]
    torch.manual_seed(0)
    pooling = cls.startswith("Adaptive")
    theirs = getattr(torch.nn, cls)(*args, **opts, **({} if pooling else
                                                      {"dtype": torch.float64}))
    ours = getattr(tg.nn, cls)(*args, **opts, **({} if pooling else
                                                 {"device": device, "dtype": np.float64}))
    assert repr(ours) == repr(theirs)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = rng.standard_normal(xs)
    xt, xr = leaf(x, device), torch.tensor(x, requires_grad=True)
    out, ref = ours(xt, **fopts), theirs(xr, **fopts)
    assert on(out, device) and out.shape == tuple(ref.shape)
    np.testing.assert_allclose(host(out), ref.detach().numpy(), **TOL[np.float64])
    g = rng.standard_normal(out.shape)
    (out * tg.tensor(put(g, device))).sum().backward()
    (ref * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(host(xt.grad), xr.grad.numpy(), **TOL[np.float64])
    mine = dict(ours.named_parameters())
    assert sorted(mine) == sorted(k for k, _ in theirs.named_parameters())
    for k, p in theirs.named_parameters():
        assert on(mine[k].grad, device)
        np.testing.assert_allclose(host(mine[k].grad), p.grad.numpy(), err_msg=k,
                                   **TOL[np.float64])


@pytest.mark.parametrize("cls,args", [("Conv1d", (16, 64, 5)),
                                      ("Conv1d", (64, 32, 3, 1, 0, 1, 4)),
                                      ("ConvTranspose2d", (16, 48, 3)),
                                      ("ConvTranspose2d", (64, 8, (2, 3), 1, 0, 0, 4))])
def test_default_init_matches_torch(cls, args, device):
    torch = _torch()
    ours = getattr(tg.nn, cls)(*args, device=device)
    theirs = getattr(torch.nn, cls)(*args)
    for name in ("weight", "bias"):
        a = getattr(ours, name)
        b = getattr(theirs, name).detach().numpy()
        assert a.shape == b.shape and a.dtype == np.float32 and on(a, device)
        a = host(a)
        # uniform in +-1/sqrt(fan_in), fan_in = weight.shape[1] * kernel (ConvTranspose too)
        fan_in = np.prod(theirs.weight.shape[1:])
        bound = 1 / np.sqrt(fan_in)
        assert np.abs(a).max() <= bound and np.abs(b).max() <= bound * (1 + 1e-6)
        assert np.abs(a).max() > 0.8 * bound
        if a.size > 1000:
            np.testing.assert_allclose(a.std(), b.std(), rtol=0.05)
            np.testing.assert_allclose(a.std(), bound / np.sqrt(3), rtol=0.05)


def test_module_dtype_device_and_repr(device):
    m = tg.nn.Conv1d(2, 4, 3, dilation=2, bias=False, padding_mode="circular", padding=2,
                     device=device, dtype=np.float64)
    assert m.weight.dtype == np.float64 and on(m.weight, device) and m.bias is None
    assert repr(m) == ("Conv1d(2, 4, kernel_size=(3,), stride=(1,), padding=(2,), "
                       "dilation=(2,), bias=False, padding_mode=circular)")
    t = tg.nn.ConvTranspose2d(4, 2, (2, 3), groups=2)
    assert t.weight.shape == (4, 1, 2, 3) and t.weight.dtype == np.float32
    assert repr(tg.nn.AdaptiveAvgPool2d(7)) == "AdaptiveAvgPool2d(output_size=7)"


# ---- errors ---------------------------------------------------------------------------------
def test_errors(device):
    x1 = tg.tensor(put(np.zeros((2, 4, 9)), device))
    with pytest.raises(ValueError, match=r"conv1d: input of shape \(2, 4, 9\) has 4 channels"):
        F.conv1d(x1, tg.tensor(put(np.zeros((6, 3, 3)), device)))
    with pytest.raises(ValueError, match="conv1d: input must be"):
        F.conv1d(tg.tensor(put(np.zeros((2, 4, 9, 1)), device)), x1)
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        F.conv1d(x1, tg.tensor(put(np.zeros((6, 4, 3)), device)), stride=2, padding="same")
    with pytest.raises(ValueError, match="kernel's reach"):
        F.conv1d(x1, tg.tensor(put(np.zeros((6, 4, 5)), device)), dilation=3)
    x2 = tg.tensor(put(np.zeros((2, 4, 5, 5)), device))
    with pytest.raises(ValueError, match="conv_transpose2d: input of shape .* has 4 channels"):
        F.conv_transpose2d(x2, tg.tensor(put(np.zeros((3, 2, 3, 3)), device)))
    with pytest.raises(ValueError, match="output_padding \\(2, 2\\) must be smaller"):
        F.conv_transpose2d(x2, tg.tensor(put(np.zeros((4, 2, 3, 3)), device)), stride=2,
                           output_padding=2)
    with pytest.raises(ValueError, match="bias must have shape \\(2,\\)"):
        F.conv_transpose2d(x2, tg.tensor(put(np.zeros((4, 2, 3, 3)), device)),
                           tg.tensor(put(np.zeros(3), device)))
    with pytest.raises(ValueError, match="adaptive_avg_pool2d: output_size must be positive"):
        F.adaptive_avg_pool2d(x2, (0, 2))
    with pytest.raises(ValueError, match="adaptive_avg_pool2d: input must be"):
        F.adaptive_avg_pool2d(x1[0, 0], 2)
    with pytest.raises(ValueError, match="in_channels=3 must be divisible by groups=2"):
        tg.nn.Conv1d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="output_size .* not reachable"):
        tg.nn.ConvTranspose2d(4, 2, 3, stride=2)(x2, output_size=(20, 20))
