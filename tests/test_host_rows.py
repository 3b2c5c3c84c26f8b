"""The host paths of row-wise layers (``tensorgrad/nn/_host_rows.py``): layer_norm and
cross-entropy, a block of rows at a time, with what the backward needs kept behind the
answer. They must give what the composed forms give, take over only where they apply, and
hand every other case (create_graph, other dtypes, an answer from elsewhere) to the composed,
differentiable rules.
"""

import numpy as np
import pytest

import tensorgrad as tg
import tensorgrad.nn.functional as F
import tensorgrad.numpy as tnp
from tensorgrad.nn import _host_rows as host_rows

RNG = np.random.default_rng(5)

# (input shape, normalized_shape): rows of one, few and many blocks; several trailing dims
SHAPES = [((4096, 128), (128,)), ((3, 7), (7,)), ((2, 5, 300), (300,)),
          ((6, 4, 8, 9), (8, 9)), ((1, 70000), (70000,)), ((300, 1), (1,))]


def _composed(x, w, b, eps, g, k=1):
    """The reference over the last ``k`` axes: the formula in float64 NumPy, its gradients."""
    axes = tuple(range(x.ndim - k, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    xc = x - mean
    rstd = 1 / np.sqrt((xc * xc).mean(axis=axes, keepdims=True) + eps)
    xhat = xc * rstd
    y = xhat * (1 if w is None else w) + (0 if b is None else b)
    gw = g * (1 if w is None else w)
    dx = rstd * (gw - gw.mean(axis=axes, keepdims=True) -
                 xhat * (gw * xhat).mean(axis=axes, keepdims=True))
    lead = tuple(range(x.ndim - len(axes)))
    return y, dx, (g * xhat).sum(axis=lead), g.sum(axis=lead)


@pytest.mark.parametrize("affine", ["both", "weight", "none"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, norm", SHAPES, ids=str)
def test_values_and_gradients(shape, norm, dtype, affine):
    x0 = (RNG.standard_normal(shape) * 3 + 1.5).astype(dtype)
    g0 = RNG.standard_normal(shape).astype(dtype)
    w0 = RNG.standard_normal(norm).astype(dtype) if affine != "none" else None
    b0 = RNG.standard_normal(norm).astype(dtype) if affine == "both" else None
    x = tg.tensor(x0, requires_grad=True)
    w = None if w0 is None else tg.tensor(w0, requires_grad=True)
    b = None if b0 is None else tg.tensor(b0, requires_grad=True)
    y = F.layer_norm(x, norm, w, b, eps=1e-5)
    assert host_rows.ln_saved(y.data, x0, int(np.prod(norm))) is not None  # the host path ran
    y.backward(tg.tensor(g0))
    ref = _composed(*(None if a is None else a.astype(np.float64) for a in (x0, w0, b0)),
                    1e-5, g0.astype(np.float64), len(norm))
    tol = dict(rtol=2e-4, atol=2e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    assert y.dtype == x.dtype and y.shape == x.shape
    np.testing.assert_allclose(y.numpy(), ref[0], **tol)
    np.testing.assert_allclose(x.grad.numpy(), ref[1], **tol)
    if w is not None:
        np.testing.assert_allclose(w.grad.numpy(), ref[2], **tol)
    if b is not None:
        np.testing.assert_allclose(b.grad.numpy(), ref[3], **tol)


def test_matches_torch_layer_norm():
    torch = pytest.importorskip("torch")
    x0 = RNG.standard_normal((8, 64, 96)).astype(np.float32)
    g0 = RNG.standard_normal((8, 64, 96)).astype(np.float32)
    ours, theirs = tg.nn.LayerNorm(96), torch.nn.LayerNorm(96)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(RNG.standard_normal(96)))
        theirs.bias.copy_(torch.tensor(RNG.standard_normal(96)))
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x, tx = tg.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    y, ty = ours(x), theirs(tx)
    y.backward(tg.tensor(g0))
    ty.backward(torch.tensor(g0))
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours.bias.grad.numpy(), theirs.bias.grad.numpy(), rtol=1e-4,
                               atol=1e-4)


def test_non_contiguous_input():
    x0 = RNG.standard_normal((40, 30)).T  # (30, 40), Fortran order
    x = tg.tensor(x0, requires_grad=True)
    F.layer_norm(x, (40,)).sum().backward()
    ref = _composed(np.ascontiguousarray(x0), None, None, 1e-5, np.ones((30, 40)))
    np.testing.assert_allclose(x.grad.numpy(), ref[1], atol=1e-12)


def test_second_order_and_forward_mode_use_the_composed_rules():
    x0 = RNG.standard_normal((5, 6))
    w0 = RNG.standard_normal(6)
    b0 = RNG.standard_normal(6)
    tg.check_grads(lambda x, w, b: (tnp.tanh(F.layer_norm(x, (6,), w, b)) ** 2).sum(),
                   order=2)(x0, w0, b0)


def test_float16_takes_the_composed_path():
    x = tg.tensor(RNG.standard_normal((10, 20)).astype(np.float16), requires_grad=True)
    y = F.layer_norm(x, (20,))
    assert y.dtype == tg.float16
    assert host_rows.ln_saved(y.data, x.data, 20) is None
    y.float().sum().backward()
    assert x.grad.dtype == tg.float16 and np.isfinite(x.grad.numpy()).all()


def test_an_answer_changed_in_place_keeps_its_statistics():
    """The answer's buffer also holds the saved statistics, after the answer's own entries:
    changing the answer in place (allowed, as in PyTorch: the rules do not read it) leaves
    them intact, and the gradients are those of the unchanged layer (PyTorch's too)."""
    x = tg.tensor(RNG.standard_normal((4, 8)), requires_grad=True)
    w = tg.tensor(RNG.standard_normal(8), requires_grad=True)
    y = F.layer_norm(x, (8,), w)
    y.add_(1.0)
    y.mul_(2.0)
    y.sum().backward()
    ref = _composed(x.data, w.data, None, 1e-5, np.full((4, 8), 2.0))
    np.testing.assert_allclose(x.grad.numpy(), ref[1], atol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), ref[2], atol=1e-12)


def test_large_offset_stays_accurate():
    """Rows far from zero (mean 1e4, spread 1): the two-pass statistics keep float64
    gradients to 1e-9 of the composed form."""
    x0 = 1e4 + RNG.standard_normal((50, 64))
    g0 = RNG.standard_normal((50, 64))
    x = tg.tensor(x0, requires_grad=True)
    F.layer_norm(x, (64,)).backward(tg.tensor(g0))
    np.testing.assert_allclose(x.grad.numpy(), _composed(x0, None, None, 1e-5, g0)[1],
                               rtol=1e-9, atol=1e-9)


# ---- cross-entropy --------------------------------------------------------------------------


def _ce_reference(x, t, g_rows):
    """Per-row loss and d/dx in float64 NumPy."""
    m = x.max(axis=1, keepdims=True)
    lse = np.log(np.exp(x - m).sum(axis=1)) + m[:, 0]
    loss = lse - x[np.arange(len(t)), t]
    p = np.exp(x - lse[:, None])
    p[np.arange(len(t)), t] -= 1
    return loss, p * g_rows[:, None]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(128, 10), (1, 7), (3000, 65), (20, 50000), (4096, 1)],
                         ids=str)
def test_cross_entropy_values_and_gradients(shape, dtype, reduction):
    n, c = shape
    x0 = (RNG.standard_normal(shape) * 4).astype(dtype)
    t0 = RNG.integers(0, c, n)
    x = tg.tensor(x0, requires_grad=True)
    loss = F.cross_entropy(x, tg.tensor(t0), reduction=reduction)
    g0 = RNG.standard_normal(n) if reduction == "none" else np.array(1.7)
    loss.backward(tg.tensor(g0.astype(dtype)))
    g_rows = g0 if reduction == "none" else np.full(n, 1.7 / (n if reduction == "mean" else 1))
    want_loss, want_grad = _ce_reference(x0.astype(np.float64), t0, g_rows)
    want_loss = {"none": want_loss, "sum": want_loss.sum(), "mean": want_loss.mean()}[reduction]
    tol = dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-12)
    assert loss.dtype == x.dtype and x.grad.dtype == x.dtype
    np.testing.assert_allclose(loss.detach().numpy(), want_loss, **tol)
    np.testing.assert_allclose(x.grad.numpy(), want_grad, **tol)


def test_cross_entropy_keeps_its_log_sum_behind_the_answer():
    x = RNG.standard_normal((6, 4))
    rows = tg.nn.functional._cross_entropy_rows(x, RNG.integers(0, 4, 6))
    lse = host_rows.ce_saved(rows, x)
    np.testing.assert_allclose(lse, np.log(np.exp(x).sum(axis=1)), rtol=1e-14)
    assert host_rows.ce_saved(rows.copy(), x) is None  # an answer from elsewhere: recomputed


def test_cross_entropy_matches_torch():
    torch = pytest.importorskip("torch")
    x0 = (RNG.standard_normal((700, 300)) * 5).astype(np.float32)
    t0 = RNG.integers(0, 300, 700)
    x, tx = tg.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    for reduction in ("mean", "sum"):
        x.grad, tx.grad = None, None
        ours = F.cross_entropy(x, tg.tensor(t0), reduction=reduction)
        theirs = torch.nn.functional.cross_entropy(tx, torch.tensor(t0), reduction=reduction)
        ours.backward()
        theirs.backward()
        np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-5)
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-7)


def test_cross_entropy_extreme_logits():
    """-inf logits of other classes contribute nothing; a huge spread stays finite."""
    x0 = np.array([[0.0, -np.inf, 2.0], [1e30, -1e30, 0.0], [-50.0, 50.0, 0.0]])
    t0 = np.array([2, 0, 1])
    x = tg.tensor(x0, requires_grad=True)
    loss = F.cross_entropy(x, tg.tensor(t0), reduction="sum")
    loss.backward()
    want_loss, want_grad = _ce_reference(x0, t0, np.ones(3))
    np.testing.assert_allclose(loss.item(), want_loss.sum(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), want_grad, atol=1e-15)


def test_cross_entropy_second_order_and_forward_mode():
    t = tg.tensor(RNG.integers(0, 5, 8))
    tg.check_grads(lambda x: F.cross_entropy(x, t) ** 2, order=2)(RNG.standard_normal((8, 5)))
    tg.check_grads(lambda x: F.cross_entropy(x, t, reduction="none").sum() * 3,
                   order=2)(RNG.standard_normal((8, 5)))


# ---- softmax and log_softmax ----------------------------------------------------------------


def _softmax_ref(x, g, log):
    m = x.max(axis=-1, keepdims=True)
    lse = np.log(np.exp(x - m).sum(axis=-1, keepdims=True)) + m
    if log:
        ans = x - lse
        return ans, g - np.exp(ans) * g.sum(axis=-1, keepdims=True)
    ans = np.exp(x - lse)
    return ans, ans * (g - (g * ans).sum(axis=-1, keepdims=True))


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, dim", [((32, 4, 128, 128), -1), ((4096, 65), 1),
                                        ((3, 50000), -1), ((300, 40), 0), ((20, 30), -1)],
                         ids=str)
def test_softmax_values_and_gradients(shape, dim, dtype, log):
    x0 = (RNG.standard_normal(shape) * 3).astype(dtype)
    g0 = RNG.standard_normal(shape).astype(dtype)
    x = tg.tensor(x0, requires_grad=True)
    y = (F.log_softmax if log else F.softmax)(x, dim=dim)
    y.backward(tg.tensor(g0))
    xr, gr = np.moveaxis(x0, dim, -1).astype(np.float64), np.moveaxis(g0, dim, -1)
    want, want_grad = (np.moveaxis(a, -1, dim) for a in _softmax_ref(xr, gr, log))
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
    assert y.dtype == x.dtype and x.grad.dtype == x.dtype
    np.testing.assert_allclose(y.detach().numpy(), want, **tol)
    np.testing.assert_allclose(x.grad.numpy(), want_grad, **tol)


def test_softmax_rows_with_infinities():
    """-inf entries get probability 0; a row all -inf gives NaN: the host path (last axis)
    answers as the composed form (another axis) does."""
    x0 = RNG.standard_normal((100, 100))
    x0[3, :50] = -np.inf
    x0[7, :] = -np.inf
    for fn in (F.softmax, F.log_softmax):
        with np.errstate(all="ignore"):
            host = fn(tg.tensor(x0), dim=-1).numpy()
            composed = fn(tg.tensor(np.ascontiguousarray(x0.T)), dim=0).numpy().T
        assert np.isnan(host[7]).all()
        np.testing.assert_allclose(host, composed, rtol=1e-13, atol=0)


def test_softmax_matches_torch_and_second_order():
    torch = pytest.importorskip("torch")
    x0 = (RNG.standard_normal((64, 4, 16, 16)) * 2).astype(np.float32)
    g0 = RNG.standard_normal(x0.shape).astype(np.float32)
    for ours_fn, torch_fn in ((F.softmax, torch.softmax), (F.log_softmax, torch.log_softmax)):
        x, tx = tg.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
        ours_fn(x, dim=-1).backward(tg.tensor(g0))
        torch_fn(tx, dim=-1).backward(torch.tensor(g0))
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-6)
    big = RNG.standard_normal((2, 4100))  # the host path's size: second order still holds
    w = RNG.standard_normal(big.shape)
    for fn in (F.softmax, F.log_softmax):
        tg.check_grads(lambda x, fn=fn: (tnp.tanh(fn(x, dim=-1)) * w).sum(), order=2)(big)


# ---- batch_norm (training) ------------------------------------------------------------------


def _bn_reference(x, w, b, eps, g):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    rstd = 1 / np.sqrt(var + eps)
    xhat = (x - mean) * rstd
    wv = np.ones(shape) if w is None else w.reshape(shape)
    y = xhat * wv + (0 if b is None else b.reshape(shape))
    gw = g * wv
    dx = rstd * (gw - gw.mean(axis=axes, keepdims=True) -
                 xhat * (gw * xhat).mean(axis=axes, keepdims=True))
    return y, dx, (g * xhat).sum(axis=axes), g.sum(axis=axes), mean.ravel(), var.ravel()


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(32, 16, 26, 26), (512, 256), (200, 8, 3), (4, 3, 100),
                                   (2, 5, 4, 6, 7), (3, 2)], ids=str)
def test_batch_norm_values_gradients_and_running_stats(shape, dtype, affine):
    c = shape[1]
    x0 = (RNG.standard_normal(shape) * 2 + 3).astype(dtype)
    g0 = RNG.standard_normal(shape).astype(dtype)
    layer = {2: tg.nn.BatchNorm1d, 3: tg.nn.BatchNorm1d, 4: tg.nn.BatchNorm2d,
             5: tg.nn.BatchNorm3d}[len(shape)](c, affine=affine, momentum=0.3)
    layer = layer.double() if dtype == np.float64 else layer
    if affine:
        with tg.no_grad():
            layer.weight.copy_(tg.tensor(RNG.standard_normal(c).astype(dtype)))
            layer.bias.copy_(tg.tensor(RNG.standard_normal(c).astype(dtype)))
    w0 = layer.weight.detach().numpy().astype(np.float64) if affine else None
    b0 = layer.bias.detach().numpy().astype(np.float64) if affine else None
    x = tg.tensor(x0, requires_grad=True)
    y = layer(x)
    assert host_rows.bn_saved(y.data, x0) is not None  # the host path ran
    y.backward(tg.tensor(g0))
    ref = _bn_reference(x0.astype(np.float64), w0, b0, 1e-5, g0.astype(np.float64))
    tol = dict(rtol=2e-4, atol=2e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(y.detach().numpy(), ref[0], **tol)
    np.testing.assert_allclose(x.grad.numpy(), ref[1], **tol)
    if affine:
        np.testing.assert_allclose(layer.weight.grad.numpy(), ref[2], **tol)
        np.testing.assert_allclose(layer.bias.grad.numpy(), ref[3], **tol)
    count = x0.size // c
    np.testing.assert_allclose(layer.running_mean.numpy(), 0.3 * ref[4], **tol)
    np.testing.assert_allclose(layer.running_var.numpy(),
                               0.7 + 0.3 * ref[5] * count / (count - 1), **tol)


def test_batch_norm_matches_torch_training_steps():
    torch = pytest.importorskip("torch")
    x0 = RNG.standard_normal((16, 8, 12, 12)).astype(np.float32)
    ours, theirs = tg.nn.BatchNorm2d(8), torch.nn.BatchNorm2d(8)
    for _ in range(3):
        x, tx = tg.tensor(x0 * 3 + 1, requires_grad=True), torch.tensor(x0 * 3 + 1,
                                                                       requires_grad=True)
        (ours(x) ** 2).sum().backward()
        (theirs(tx) ** 2).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-3, atol=1e-4)
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[k].numpy(), v.numpy(), rtol=1e-5,
                                   atol=1e-6, err_msg=k)
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-4)


def test_batch_norm_second_order_and_eval():
    x0 = RNG.standard_normal((6, 3, 4))
    w0, b0 = RNG.standard_normal(3), RNG.standard_normal(3)

    def f(x, w, b):
        return (tnp.tanh(F.batch_norm(x, None, None, w, b, training=True)) ** 2).sum()

    tg.check_grads(f, order=2)(x0, w0, b0)
    layer = tg.nn.BatchNorm1d(3).eval()
    y = layer(tg.tensor(x0))
    assert host_rows.bn_saved(y.data, x0) is None  # evaluation: the affine map
    np.testing.assert_allclose(y.numpy(), x0 / np.sqrt(1 + 1e-5), rtol=1e-6)  # float32 stats


# ---- bias + activation --------------------------------------------------------------------
ACT_SHAPES = [(4096,), (64, 128), (3, 40000), (40001,), (5, 7, 300)]


def _act(name):
    return (lambda z: F.gelu(z, approximate="tanh")) if name == "gelu_tanh" else getattr(F, name)


def _act_step(x0, b0, g0, activation):
    x = tg.tensor(x0, requires_grad=True)
    b = None if b0 is None else tg.tensor(b0, requires_grad=True)
    y = (F.bias_act(x, b, activation) if b is not None else _act(activation)(x))
    return y, tg.autograd.grad(y, [x] if b is None else [x, b], tg.tensor(g0))


def _spy(monkeypatch):
    calls = []
    real = host_rows.act_forward
    monkeypatch.setattr(host_rows, "act_forward",
                        lambda *a: calls.append(a[2]) or real(*a))
    return calls


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", ACT_SHAPES, ids=str)
@pytest.mark.parametrize("activation", sorted(host_rows.HOST_ACTS))
def test_activation_values_and_gradients(activation, shape, dtype, bias, monkeypatch):
    x0 = (RNG.standard_normal(shape) * 3).astype(dtype)
    b0 = RNG.standard_normal(shape[-1]).astype(dtype) if bias else None
    g0 = RNG.standard_normal(shape).astype(dtype)
    calls = _spy(monkeypatch)
    y, grads = _act_step(x0, b0, g0, activation)
    assert calls == [activation]  # the host path ran
    saved = host_rows.act_saved(y.data, x0)  # gelu keeps Phi(x + b) for its backward
    if activation == "gelu":
        z = x0 if b0 is None else x0 + b0
        np.testing.assert_array_equal(saved.reshape(shape) * z, y.numpy())
    else:
        assert saved is None
    monkeypatch.setattr(host_rows, "HOST_ACTS", frozenset())
    y_ref, grads_ref = _act_step(x0, b0, g0, activation)
    assert calls == [activation]  # and the composed one did not take it
    tol = dict(rtol=4e-6, atol=4e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-13)
    assert y.dtype == y_ref.dtype and y.shape == y_ref.shape
    np.testing.assert_allclose(y.numpy(), y_ref.numpy(), **tol)
    for got, want in zip(grads, grads_ref):
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=tol["rtol"],
                                   atol=tol["atol"] * (shape[0] if got.ndim == 1 else 1))


@pytest.mark.parametrize("activation", sorted(host_rows.HOST_ACTS))
def test_activation_matches_torch(activation):
    torch = pytest.importorskip("torch")
    x0 = RNG.standard_normal((128, 96)) * 4
    b0, g0 = RNG.standard_normal(96), RNG.standard_normal((128, 96))
    y, (gx, gb) = _act_step(x0, b0, g0, activation)
    xt = torch.tensor(x0, requires_grad=True)
    bt = torch.tensor(b0, requires_grad=True)
    tf = {"gelu": torch.nn.functional.gelu, "silu": torch.nn.functional.silu,
          "gelu_tanh": lambda z: torch.nn.functional.gelu(z, approximate="tanh")}[activation]
    yt = tf(xt + bt)
    yt.backward(torch.tensor(g0))
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(gx.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gb.numpy(), bt.grad.numpy(), rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("case", ["small", "strided", "float16", "sigmoid"])
def test_activation_other_cases_take_the_composed_form(case, monkeypatch):
    calls = _spy(monkeypatch)
    x0 = RNG.standard_normal((64, 128))
    if case == "small":
        y = F.gelu(tg.tensor(x0[:4]))
    elif case == "strided":
        y = F.gelu(tg.tensor(x0).T)
    elif case == "float16":
        y = F.silu(tg.tensor(x0.astype(np.float16)))
    else:
        y = F.bias_act(tg.tensor(x0), None, "sigmoid")
    assert calls == [] and y.shape in ((4, 128), (128, 64), (64, 128))


@pytest.mark.parametrize("activation", sorted(host_rows.HOST_ACTS))
def test_activation_second_order_and_forward_mode(activation, monkeypatch):
    """create_graph and forward mode run the composed rules: the same numbers either way."""
    x0, b0 = RNG.standard_normal((64, 128)), RNG.standard_normal(128)
    g0, v0 = RNG.standard_normal((64, 128)), RNG.standard_normal((64, 128))

    def derivatives():
        x = tg.tensor(x0, requires_grad=True)
        y = F.bias_act(x, tg.tensor(b0), activation)
        (d1,) = tg.autograd.grad(y, [x], tg.tensor(g0), create_graph=True)
        (d2,) = tg.autograd.grad((d1 * tg.tensor(v0)).sum(), [x])
        _, jv = tg.func.jvp(lambda z: F.bias_act(z, tg.tensor(b0), activation),
                            (tg.tensor(x0),), (tg.tensor(v0),))
        return d1.detach().numpy(), d2.numpy(), jv.numpy()

    calls = _spy(monkeypatch)
    host = derivatives()
    assert activation in calls
    monkeypatch.setattr(host_rows, "HOST_ACTS", frozenset())
    for got, want in zip(host, derivatives()):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
