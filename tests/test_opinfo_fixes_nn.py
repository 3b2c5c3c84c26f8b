"""nn.functional's agreement with PyTorch on its OpInfo edge cases: 0-d inputs with dim=0,
empty inputs, integer inputs that stay integer, negative pad widths, pooling arguments, and
the functions that were missing (upsample aliases, multi_head_attention_forward,
linear_cross_entropy)."""

import numpy as np
import pytest
from devices import against_torch, host, tensor_on, torch_oracle

import tensorgrad as tg

F = tg.nn.functional


def _torch():
    return torch_oracle()


# ---- 0-d inputs along dim 0 -------------------------------------------------------------------
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "softmin"])
def test_softmax_family_on_0d_and_empty(device, name):
    torch = _torch()
    fn = getattr(torch.nn.functional, name)
    against_torch(device, lambda x: getattr(F, name)(x, 0), lambda x: fn(x, 0),
                  [np.array(0.7)], grad_args=(0,))
    out = getattr(F, name)(tensor_on(np.zeros((5, 0, 0)), device), -1)
    assert tuple(out.shape) == (5, 0, 0)


def test_normalize_and_cosine_similarity_on_0d(device):
    torch = _torch()
    tF = torch.nn.functional
    against_torch(device, lambda x: F.normalize(x, 1.2, 0), lambda x: tF.normalize(x, 1.2, 0),
                  [np.array(-3.0)], grad_args=(0,))
    against_torch(device, lambda a, b: F.cosine_similarity(a, b, 0),
                  lambda a, b: tF.cosine_similarity(a, b, 0),
                  [np.array(2.0), np.array(-0.5)], grad_args=(0, 1))


@pytest.mark.parametrize("name", ["multi_margin_loss", "multilabel_margin_loss"])
def test_margin_losses_on_0d(device, name):
    torch = _torch()
    x = tensor_on(np.array(0.3), device, requires_grad=True)
    out = getattr(F, name)(x, tensor_on(np.array(0), device))
    ref = getattr(torch.nn.functional, name)(torch.tensor(0.3), torch.tensor(0))
    assert out.shape == () and float(out.item()) == pytest.approx(float(ref))
    out.backward()
    assert float(host(x.grad)) == 0.0


# ---- integer inputs ---------------------------------------------------------------------------
@pytest.mark.parametrize("case", [
    ("avg_pool1d", (2, 3, 9), dict(kernel_size=3)),
    ("avg_pool1d", (1, 3, 9), dict(kernel_size=3, stride=1, padding=1, ceil_mode=True,
                                   count_include_pad=False)),
    ("avg_pool2d", (1, 3, 9, 9), dict(kernel_size=3, stride=3)),
    ("avg_pool2d", (1, 1, 4, 4), dict(kernel_size=2, divisor_override=-2)),
    ("avg_pool3d", (1, 2, 5, 5, 5), dict(kernel_size=(2, 3, 4), stride=(1, 2, 2),
                                         padding=(0, 1, 2), ceil_mode=True)),
    ("max_pool2d", (1, 2, 3, 6), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("max_pool2d", (1, 2, 3, 6), dict(kernel_size=3, stride=2, padding=1)),
    ("max_pool3d", (1, 2, 3, 6, 5), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("hardtanh", (20,), dict(min_val=-0.5, max_val=2.5)),
    ("relu6", (4, 5), {}),
    ("local_response_norm", (1, 6, 3), dict(size=2)),
])
def test_integer_inputs_keep_torchs_dtype_and_values(device, case):
    torch = _torch()
    name, shape, kw = case
    a = np.random.default_rng(1).integers(-9, 10, shape)
    out = getattr(F, name)(tensor_on(a, device), **kw)
    ref = getattr(torch.nn.functional, name)(torch.tensor(a), **kw)
    assert str(out.dtype).split(".")[-1] == str(ref.dtype).split(".")[-1]
    np.testing.assert_allclose(host(out), ref.numpy(), rtol=1e-6)


def test_max_pool_int64_with_indices(device):
    torch = _torch()
    a = np.random.default_rng(2).integers(-50, 50, (1, 2, 3, 6))
    out, idx = F.max_pool2d(tensor_on(a, device), 3, 2, 1, ceil_mode=True, return_indices=True)
    ref, ridx = torch.nn.functional.max_pool2d(torch.tensor(a), 3, 2, 1, ceil_mode=True,
                                               return_indices=True)
    np.testing.assert_array_equal(host(out), ref.numpy())
    np.testing.assert_array_equal(host(idx), ridx.numpy())


# ---- pooling arguments ------------------------------------------------------------------------
def test_avg_pool2d_one_tuple_padding_and_negative_divisor(device):
    torch = _torch()
    tF = torch.nn.functional
    x = np.random.default_rng(3).standard_normal((2, 3, 9, 9))
    against_torch(device, lambda t: F.avg_pool2d(t, [3, 3], [1, 1], [1], True, False, 2),
                  lambda t: tF.avg_pool2d(t, [3, 3], [1, 1], [1], True, False, 2), [x],
                  grad_args=(0,))
    against_torch(device, lambda t: F.avg_pool2d(t, [4, 4], [2, 2], [2], True),
                  lambda t: tF.avg_pool2d(t, [4, 4], [2, 2], [2], True), [x[:1, :2, :6, :6]],
                  grad_args=(0,))
    y = np.random.default_rng(4).standard_normal((1, 1, 4, 5, 4))
    against_torch(device, lambda t: F.avg_pool3d(t, [2, 2, 3], [2, 2, 1], divisor_override=-2),
                  lambda t: tF.avg_pool3d(t, [2, 2, 3], [2, 2, 1], divisor_override=-2), [y],
                  grad_args=(0,))
    with pytest.raises(ValueError, match="divisor_override"):
        F.avg_pool2d(tensor_on(x, device), 2, divisor_override=0)


# ---- empty inputs -----------------------------------------------------------------------------
def test_norms_of_empty_inputs(device):
    torch = _torch()
    z = np.zeros((0, 2))
    w, b = tensor_on(np.ones(2), device), tensor_on(np.zeros(2), device)
    assert tuple(F.group_norm(tensor_on(z, device), 1, w, b).shape) == (0, 2)
    lrn = F.local_response_norm(tensor_on(np.zeros((0, 1, 2), dtype=np.int64), device), 1)
    ref = torch.nn.functional.local_response_norm(torch.zeros(0, 1, 2, dtype=torch.int64), 1)
    assert tuple(lrn.shape) == (0, 1, 2) and str(lrn.dtype).endswith(str(ref.dtype)[6:])
    e = tensor_on(np.zeros(0), device)
    for training in (True, False):
        assert tuple(F.batch_norm(e, e, e, None, None, training=training).shape) == (0,)


def test_feature_alpha_dropout_outside_training_is_identity_for_any_shape(device):
    for shape in ((5,), ()):
        x = tensor_on(np.arange(float(np.prod(shape))).reshape(shape), device)
        np.testing.assert_array_equal(host(F.feature_alpha_dropout(x, 0.5, training=False)),
                                      host(x))
    with pytest.raises(ValueError, match="feature_alpha_dropout"):
        F.feature_alpha_dropout(tensor_on(np.ones(5), device), 0.5, training=True)


# ---- negative pad widths ----------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("widths", [(-1, 1, -2, 1), (2, -1, 0, 0), (-2, -1, 1, 2), (2, -2, 0, 0)])
def test_pad_negative_widths_crop_as_torch(device, mode, widths):
    torch = _torch()
    x = np.random.default_rng(5).standard_normal((1, 2, 4, 5))
    against_torch(device, lambda t: F.pad(t, widths, mode),
                  lambda t: torch.nn.functional.pad(t, widths, mode), [x], grad_args=(0,))


def test_pad_negative_widths_derivatives():
    x = np.random.default_rng(6).standard_normal((1, 4, 5))
    tg.check_grads(lambda t: F.pad(t, (-1, 2), "reflect"), modes=("fwd", "rev"), order=2)(x)
    tg.check_grads(lambda t: F.pad(t, (2, -1), "circular"), modes=("fwd", "rev"), order=2)(x)


# ---- ctc_loss and max_unpool: documented differences, checked for what they are ------------------
def test_ctc_loss_gradient_agrees_with_torch_through_log_softmax(device):
    torch = _torch()
    rng = np.random.default_rng(7)
    z = rng.standard_normal((12, 3, 5))
    tgt = rng.integers(1, 5, (3, 4))
    il, tl = [12, 12, 3], [4, 3, 4]  # the third cannot be aligned: infinite, zeroed
    for zero_inf in (True, False):
        def ours(t):
            return F.ctc_loss(F.log_softmax(t, 2), tensor_on(tgt, device), il, tl,
                              reduction="sum" if zero_inf else "none", zero_infinity=zero_inf)

        def theirs(t):
            return torch.nn.functional.ctc_loss(t.log_softmax(2), torch.tensor(tgt), il, tl,
                                                reduction="sum" if zero_inf else "none",
                                                zero_infinity=zero_inf)

        if zero_inf:
            against_torch(device, ours, theirs, [z], grad_args=(0,), rtol=1e-9)
        else:
            out = ours(tensor_on(z, device))
            assert np.isinf(host(out)[2]) and np.isfinite(host(out)[:2]).all()


def _unpool_case():
    # overlapping windows (kernel 3, stride 2): index 2 is picked by both outputs, with values
    # that differ (a user's, not max_pool's), so the duplicates disagree
    x = np.array([[[0.7, -0.4]]])
    idx = np.array([[[2, 2]]])
    return x, idx


def test_max_unpool_duplicate_indices_gradient_is_the_true_derivative(device):
    torch = _torch()
    x, idx = _unpool_case()
    w = np.array([0.3, -1.1, 2.0, 0.5, 0.9])

    def f_ours(a):
        return float((host(F.max_unpool1d(tensor_on(a, device), tensor_on(idx, device), 3, 2,
                                          output_size=[5])) * w).sum())

    def fd(f):
        g = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            d = np.zeros_like(x)
            d[i] = 1e-6
            g[i] = (f(x + d) - f(x - d)) / 2e-6
        return g

    t = tensor_on(x, device, requires_grad=True)
    (F.max_unpool1d(t, tensor_on(idx, device), 3, 2, output_size=[5]) *
     tensor_on(w, device)).sum().backward()
    np.testing.assert_allclose(host(t.grad), fd(f_ours), atol=1e-8)  # ours: its own derivative
    tt = torch.tensor(x, requires_grad=True)
    (torch.nn.functional.max_unpool1d(tt, torch.tensor(idx), 3, 2, output_size=[5]) *
     torch.tensor(w)).sum().backward()
    # PyTorch's gather gives both duplicates the whole w[2] (twice what any one position
    # receives); which duplicate its forward keeps is unspecified, so its own finite
    # differences are not a stable reference
    np.testing.assert_allclose(tt.grad.numpy(), [[[2.0, 2.0]]])
    assert not np.allclose(host(t.grad), tt.grad.numpy())


# ---- the missing names ------------------------------------------------------------------------
def test_upsample_aliases(device):
    torch = _torch()
    x = np.random.default_rng(8).standard_normal((1, 2, 3, 4))
    against_torch(device, lambda t: F.upsample_nearest(t, scale_factor=2),
                  lambda t: torch.nn.functional.upsample_nearest(t, scale_factor=2), [x],
                  grad_args=(0,))
    against_torch(device, lambda t: F.upsample_bilinear(t, size=(5, 7)),
                  lambda t: torch.nn.functional.upsample_bilinear(t, size=(5, 7)), [x],
                  grad_args=(0,))


@pytest.mark.parametrize("kw", [{}, dict(reduction="sum"), dict(reduction="none"),
                                dict(label_smoothing=0.1), dict(ignore_index=1)])
@pytest.mark.parametrize("chunk", [None, 3])
def test_linear_cross_entropy(device, kw, chunk):
    torch = _torch()
    rng = np.random.default_rng(9)
    x, w, b = rng.standard_normal((8, 3)), rng.standard_normal((5, 3)), rng.standard_normal(5)
    cw = rng.random(5) + 0.5
    t = rng.integers(0, 5, 8)
    opts = None if chunk is None else tg.nn.LinearCrossEntropyOptions(batch_chunk_size=chunk)
    topts = None if chunk is None else torch.nn.LinearCrossEntropyOptions(batch_chunk_size=chunk)
    against_torch(
        device,
        lambda a, m, c, q: F.linear_cross_entropy(a, m, tensor_on(t, device), linear_bias=c,
                                                  weight=q, options=opts, **kw),
        lambda a, m, c, q: torch.nn.functional.linear_cross_entropy(
            a, m, torch.tensor(t), linear_bias=c, weight=q, options=topts, **kw),
        [x, w, b, cw], grad_args=(0, 1, 2), rtol=1e-9)


def test_linear_cross_entropy_k_dimensional_and_probabilities(device):
    torch = _torch()
    rng = np.random.default_rng(10)
    x, w = rng.standard_normal((4, 3)), rng.standard_normal((2, 3, 3))
    t = rng.integers(0, 2, (4, 3))
    against_torch(device, lambda a, m: F.linear_cross_entropy(a, m, tensor_on(t, device)),
                  lambda a, m: torch.nn.functional.linear_cross_entropy(a, m, torch.tensor(t)),
                  [x, w], grad_args=(0, 1))
    p = rng.random(5)
    against_torch(device, lambda a, m, q: F.linear_cross_entropy(a, m, q),
                  lambda a, m, q: torch.nn.functional.linear_cross_entropy(a, m, q),
                  [x[0], rng.standard_normal((5, 3)), p / p.sum()], grad_args=(0, 1))
    tg.check_grads(lambda a, m: F.linear_cross_entropy(a, m, t), order=2)(x, w)


@pytest.mark.parametrize("batched", [True, False])
def test_multi_head_attention_forward(device, batched):
    torch = _torch()
    rng = np.random.default_rng(11)
    e, h = 4, 2
    lead = (3, 2) if batched else (3,)
    q, k = rng.standard_normal(lead + (e,)), rng.standard_normal((5,) + lead[1:] + (e,))
    inw, inb = rng.standard_normal((3 * e, e)), rng.standard_normal(3 * e)
    ow, ob = rng.standard_normal((e, e)), rng.standard_normal(e)
    bk, bv = rng.standard_normal((1, 1, e)), rng.standard_normal((1, 1, e))
    mask = rng.standard_normal((3, 5))

    def call(mod, bias_kv, masked):
        def f(q_, k_, inw_, ow_, *rest):
            m = mod.tensor(mask) if mod is torch else tensor_on(mask, device)
            kv = [mod.tensor(a) if mod is torch else tensor_on(a, device) for a in (bk, bv)]
            fn = mod.nn.functional.multi_head_attention_forward
            mk = (lambda a: mod.tensor(a)) if mod is torch else (lambda a: tensor_on(a, device))
            out = fn(q_, k_, k_, e, h, inw_, mk(inb), *(kv if bias_kv else (None, None)), True,
                     0.0, ow_, mk(ob), training=False, attn_mask=m if masked else None)
            return out[0] * 1.0 + 0.0 * out[1].sum()
        return f

    for bias_kv, masked in ((False, False), (True, True)):
        against_torch(device, call(tg, bias_kv, masked), call(torch, bias_kv, masked),
                      [q, k, inw, ow], grad_args=(0, 1, 2, 3), rtol=1e-9, atol=1e-11)


# ---- stft and istft ---------------------------------------------------------------------------
def test_stft_complex_input_defaults_to_complex_and_istft_complex_window(device):
    torch = _torch()
    rng = np.random.default_rng(12)
    x = rng.standard_normal(100) + 1j * rng.standard_normal(100)
    against_torch(device, lambda t: tg.stft(t, 10), lambda t: torch.stft(t, 10), [x],
                  grad_args=(0,))
    z = rng.standard_normal((2, 10, 6)) + 1j * rng.standard_normal((2, 10, 6))
    win = rng.random(10) + 0.5 + 1j * rng.standard_normal(10) * 0.3
    against_torch(device,
                  lambda a, w: tg.istft(a, 10, window=w, center=True, return_complex=True),
                  lambda a, w: torch.istft(a, 10, window=w, center=True, return_complex=True),
                  [z, win], grad_args=(0, 1), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("dims", [2, 3])
def test_fractional_max_pool_of_an_empty_batch_is_empty(device, dims):
    """A batch of no images pools to no images, with and without indices, as PyTorch's (the
    window size was inferred by reshape(-1), which an empty array cannot do)."""
    torch = _torch()
    shape = (0, 1) + (4, 5, 4)[:dims]
    pool = getattr(F, f"fractional_max_pool{dims}d")
    tpool = getattr(torch.nn.functional, f"fractional_max_pool{dims}d")
    out, idx = pool(tensor_on(np.zeros(shape), device), 2, output_size=2, return_indices=True)
    want, _ = tpool(torch.zeros(shape, dtype=torch.float64), 2, output_size=2,
                    return_indices=True)
    assert tuple(out.shape) == tuple(want.shape) == (0, 1) + (2,) * dims
    assert tuple(idx.shape) == tuple(want.shape)
