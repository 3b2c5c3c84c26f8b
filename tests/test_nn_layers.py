"""F.embedding, F.one_hot, F.pad, the losses (smooth_l1, huber, kl_div, cross_entropy and
nll_loss with weight/ignore_index, binary cross-entropy with weight/pos_weight) and the
modules of nn.layers (Embedding, GELU, the loss modules) on every device: values and gradients
against PyTorch CPU in float64 with every option, derivatives to second order in both modes,
initialisation statistics, repr and errors."""

import numpy as np
import pytest
from devices import close_to_torch, host, on, put, tensor_on, torch_oracle

import tensorgrad as tg

F = tg.nn.functional
TOL = dict(rtol=1e-10, atol=1e-12)
_torch, _t = torch_oracle, tensor_on


def _close(mine, theirs, **tol):
    close_to_torch(mine, theirs, **(tol or TOL))


def _compare(device, mine_fn, torch_fn, arrays, grad_of, rng):
    """Run ``mine_fn`` on device tensors and ``torch_fn`` on torch tensors built from the same
    float64 ``arrays``; compare the value and the gradients of the arrays named in
    ``grad_of`` (for a random cotangent)."""
    torch = _torch()
    mine = {k: _t(v, device, k in grad_of) for k, v in arrays.items()}
    theirs = {k: torch.tensor(v, requires_grad=k in grad_of) for k, v in arrays.items()}
    y = mine_fn(**mine)
    yr = torch_fn(**theirs)
    assert on(y, device)
    _close(y, yr)
    g = rng.standard_normal(tuple(yr.shape))
    (y * _t(g, device)).sum().backward()
    (yr * torch.tensor(g)).sum().backward()
    for k in grad_of:
        assert on(mine[k].grad, device)
        _close(mine[k].grad, theirs[k].grad)


# ---- embedding -------------------------------------------------------------------------------
@pytest.mark.parametrize("padding_idx", [None, 2, -1])
@pytest.mark.parametrize("ishape", [(5,), (2, 3), ()], ids=["1d", "2d", "scalar"])
def test_embedding_matches_torch(device, padding_idx, ishape, rng):
    torch = _torch()
    w = rng.standard_normal((6, 4))
    idx = rng.integers(0, 6, ishape)
    if ishape and padding_idx is not None:
        idx.reshape(-1)[0] = padding_idx % 6  # the padding row is looked up
    wt = _t(w, device, True)
    y = F.embedding(put(idx, device), wt, padding_idx=padding_idx)
    assert on(y, device) and y.shape == ishape + (4,)
    g = rng.standard_normal(ishape + (4,))
    (y * _t(g, device)).sum().backward()
    wr = torch.tensor(w, requires_grad=True)
    yr = torch.nn.functional.embedding(torch.tensor(idx), wr, padding_idx=padding_idx)
    (yr * torch.tensor(g)).sum().backward()
    _close(y, yr)
    _close(wt.grad, wr.grad)
    if padding_idx is not None:
        np.testing.assert_array_equal(host(wt.grad)[padding_idx], 0)


def test_embedding_check_grads_second_order(device, rng):
    w = _t(rng.standard_normal((5, 3)), device)
    idx = put(np.array([[0, 3, 3], [4, 1, 0]]), device)
    k = _t(rng.standard_normal((2, 3, 3)), device)

    def f(w):
        y = F.embedding(idx, w)
        return (F.tanh(y) * k).sum() + (y * y * y).sum()

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(w)

    def g(w):  # padding_idx that is not looked up: the true derivative
        y = F.embedding(idx, w, padding_idx=2)
        return (y * y * k).sum()

    tg.check_grads(g, modes=("fwd", "rev"), order=2)(w)


def test_embedding_padding_row_has_no_gradient_in_any_mode(device, rng):
    w = _t(rng.standard_normal((4, 2)), device)
    idx = put(np.array([0, 1, 1, 3]), device)

    def f(w):
        return (F.embedding(idx, w, padding_idx=1) ** 2).sum()

    gr = host(tg.grad(f)(w))
    np.testing.assert_array_equal(gr[1], 0)
    assert np.abs(gr[[0, 3]]).sum() > 0
    # forward mode agrees with reverse mode: the padding row's tangent does not reach the output
    t = np.zeros((4, 2))
    t[1] = 1.0
    _, tangent = tg.jvp(f, (w,), (_t(t, device),))
    assert float(host(tangent)) == 0.0


@pytest.mark.parametrize("norm_type", [2.0, 1.0])
def test_embedding_max_norm_renormalises_rows_like_torch(device, norm_type, rng):
    torch = _torch()
    w = rng.standard_normal((6, 3)) * 3
    idx = np.array([[0, 2], [2, 5]])
    wt = _t(w, device, True)
    y = F.embedding(put(idx, device), wt, max_norm=1.5, norm_type=norm_type)
    wr = torch.tensor(w, requires_grad=True)
    yr = torch.nn.functional.embedding(torch.tensor(idx), wr, max_norm=1.5, norm_type=norm_type)
    _close(y, yr)
    _close(wt, wr)  # the rows looked up changed in place, the others not
    np.testing.assert_array_equal(host(wt)[[1, 3, 4]], w[[1, 3, 4]])
    y.sum().backward()
    yr.sum().backward()
    _close(wt.grad, wr.grad)


def test_embedding_errors():
    w = tg.ones(4, 3)
    with pytest.raises(IndexError, match=r"embedding: index 4 is out of range.*\(4, 3\)"):
        F.embedding(tg.tensor([0, 4]), w)
    with pytest.raises(IndexError, match=r"embedding: index -1"):
        F.embedding(np.array([-1]), w)
    with pytest.raises(TypeError, match=r"embedding: input must hold integer.*float32"):
        F.embedding(tg.tensor([0.0]), w)
    with pytest.raises(ValueError, match=r"embedding: weight must be 2-D.*\(4,\)"):
        F.embedding(tg.tensor([0]), tg.ones(4))
    with pytest.raises(ValueError, match="padding_idx=7 must be within num_embeddings=4"):
        F.embedding(tg.tensor([0]), w, padding_idx=7)
    with pytest.raises(ValueError, match="Embedding: padding_idx=5"):
        tg.nn.Embedding(3, 2, padding_idx=5)


# ---- nn.Embedding -------------------------------------------------------------------------------
def test_embedding_module_init_repr_and_torch_statistics(device):
    torch = _torch()
    emb = tg.nn.Embedding(2000, 64, padding_idx=3, device=device)
    ref = torch.nn.Embedding(2000, 64, padding_idx=3)
    assert repr(emb) == repr(ref) == "Embedding(2000, 64, padding_idx=3)"
    assert isinstance(emb.weight, tg.nn.Parameter) and emb.weight.requires_grad
    assert emb.weight.dtype == np.float32 and on(emb.weight, device)
    w, wr = host(emb.weight), ref.weight.detach().numpy()
    np.testing.assert_array_equal(w[3], 0)
    # PyTorch's N(0, 1): same moments within sampling error (128,000 draws)
    for stat in (np.mean, np.std):
        assert abs(stat(w) - stat(wr)) < 0.02
    assert abs(np.mean(w ** 4) / np.mean(w ** 2) ** 2 - 3) < 0.1  # normal kurtosis
    for kw in (dict(), dict(max_norm=2.0), dict(norm_type=1.0, max_norm=1.0),
               dict(padding_idx=-1)):
        assert repr(tg.nn.Embedding(5, 2, **kw)) == repr(torch.nn.Embedding(5, 2, **kw))
    assert tg.nn.Embedding(5, 2, padding_idx=-1).padding_idx == 4
    assert tg.nn.Embedding(5, 2, dtype=np.float64).weight.dtype == np.float64
    assert list(emb.state_dict()) == list(ref.state_dict())


def test_embedding_module_matches_torch_and_trains(device, rng):
    torch = _torch()
    w = rng.standard_normal((7, 3))
    emb = tg.nn.Embedding(7, 3, padding_idx=0, dtype=np.float64, device=device)
    ref = torch.nn.Embedding(7, 3, padding_idx=0, dtype=torch.float64)
    emb.weight.data = put(w, device)
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(w))
    idx = np.array([[0, 1, 6], [6, 0, 2]])
    y = emb(put(idx, device))
    yr = ref(torch.tensor(idx))
    _close(y, yr)
    (y ** 2).sum().backward()
    (yr ** 2).sum().backward()
    _close(emb.weight.grad, ref.weight.grad)


def test_embedding_from_pretrained(device, rng):
    torch = _torch()
    w = rng.standard_normal((4, 3))
    emb = tg.nn.Embedding.from_pretrained(_t(w, device), padding_idx=1)
    ref = torch.nn.Embedding.from_pretrained(torch.tensor(w), padding_idx=1)
    assert repr(emb) == repr(ref)
    assert not emb.weight.requires_grad and on(emb.weight, device)
    _close(emb(put(np.array([1, 3]), device)), ref(torch.tensor([1, 3])))  # padding row kept
    trainable = tg.nn.Embedding.from_pretrained(_t(w, device), freeze=False)
    assert trainable.weight.requires_grad
    trainable(put(np.array([2]), device)).sum().backward()
    np.testing.assert_array_equal(host(trainable.weight.grad)[2], 1)
    with pytest.raises(ValueError, match=r"from_pretrained: embeddings must be 2-D.*\(3,\)"):
        tg.nn.Embedding.from_pretrained(tg.ones(3))


# ---- one_hot ------------------------------------------------------------------------------------
@pytest.mark.parametrize("num_classes", [-1, 6])
def test_one_hot_matches_torch(device, num_classes, rng):
    torch = _torch()
    idx = rng.integers(0, 5, (3, 4))
    idx[0, 0] = 4
    y = F.one_hot(tg.tensor(put(idx, device)), num_classes)
    yr = torch.nn.functional.one_hot(torch.tensor(idx), num_classes)
    assert isinstance(y, tg.Tensor) and on(y, device) and y.dtype == np.int64
    np.testing.assert_array_equal(host(y), yr.numpy())
    raw = F.one_hot(put(idx, device), 5)  # arrays in, array out
    assert not isinstance(raw, tg.Tensor) and on(raw, device)


def test_one_hot_errors():
    with pytest.raises(TypeError, match="one_hot: tensor must hold integer.*float32"):
        F.one_hot(tg.tensor([1.0]))
    with pytest.raises(ValueError, match=r"one_hot: class values must lie in \[0, 3\)"):
        F.one_hot(tg.tensor([0, 3]), 3)
    with pytest.raises(ValueError, match=r"one_hot: class values.*-1"):
        F.one_hot(tg.tensor([-1, 0]), 3)


# ---- pad -----------------------------------------------------------------------------------------
PAD_CASES = [  # mode, input shape, pad
    ("constant", (3, 4), (1, 2)),
    ("constant", (2, 3, 4), (0, 1, 2, 0, 1, 1)),
    ("constant", (2, 3, 4), (-1, 2, 1, -2)),
    ("reflect", (2, 5), (2, 3)),
    ("reflect", (1, 2, 4, 5), (1, 2, 3, 0)),
    ("reflect", (2, 1, 3, 4, 4), (1, 1, 2, 0, 1, 2)),
    ("replicate", (2, 3, 4), (3, 1)),
    ("replicate", (2, 2, 3, 4), (2, 0, 1, 3)),
    ("circular", (2, 3, 4), (4, 2)),
    ("circular", (1, 2, 3, 4), (1, 3, 3, 2)),
]


@pytest.mark.parametrize("mode,shape,pads", PAD_CASES, ids=[f"p{i}" for i in
                                                             range(len(PAD_CASES))])
def test_pad_matches_torch(device, mode, shape, pads, rng):
    tF = _torch().nn.functional
    value = 1.5 if mode == "constant" else None
    _compare(device, lambda x: F.pad(x, pads, mode=mode, value=value),
             lambda x: tF.pad(x, pads, mode=mode, value=value),
             {"x": rng.standard_normal(shape)}, ("x",), rng)


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad_check_grads_second_order(device, mode, rng):
    x = _t(rng.standard_normal((1, 2, 3, 4)), device)

    def f(x):
        y = F.pad(x, (2, 1, 1, 2), mode=mode)
        return (y * y * y).sum() + (F.tanh(y) * y).sum()

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(x)


def test_pad_on_raw_arrays_and_float32(device, rng):
    x = put(rng.standard_normal((2, 3)).astype(np.float32), device)
    y = F.pad(x, (1, 1), mode="reflect")
    assert not isinstance(y, tg.Tensor) and on(y, device) and y.dtype == np.float32
    yt = F.pad(tg.tensor(x), (1, 1), value=2.0)
    assert yt.dtype == np.float32 and on(yt, device)


def test_pad_errors():
    x = tg.ones(2, 3, 4)
    with pytest.raises(ValueError, match=r"pad: pad must have an even length.*\(1, 2, 3\)"):
        F.pad(x, (1, 2, 3))
    with pytest.raises(ValueError, match=r"pad: pad .* covers 4 dimensions.*\(2, 3, 4\)"):
        F.pad(x, (1,) * 8)
    with pytest.raises(ValueError, match="pad: mode must be one of"):
        F.pad(x, (1, 1), mode="mirror")
    with pytest.raises(ValueError, match=r"pad: reflect widths must be below.*\(2, 3, 4\)"):
        F.pad(x, (4, 0), mode="reflect")
    with pytest.raises(ValueError, match="pad: circular widths must be at most"):
        F.pad(x, (5, 0), mode="circular")
    with pytest.raises(ValueError, match=r"pad: mode 'reflect' pads the last 1 to 3.*\(4,\)"):
        F.pad(tg.ones(4), (1, 1), mode="reflect")
    with pytest.raises(ValueError, match="pad: mode 'replicate' takes no value"):
        F.pad(x, (1, 1), mode="replicate", value=3.0)
    with pytest.raises(ValueError, match="crop dimension 2.*below zero"):
        F.pad(x, (-3, -2))


# ---- losses -------------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("beta", [1.0, 0.3, 0.0])
def test_smooth_l1_loss_matches_torch(device, reduction, beta, rng):
    tF = _torch().nn.functional
    x, y = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    x[0, 0] = y[0, 0]  # d = 0: PyTorch's derivative 0
    _compare(device, lambda x, y: F.smooth_l1_loss(x, y, reduction=reduction, beta=beta),
             lambda x, y: tF.smooth_l1_loss(x, y, reduction=reduction, beta=beta),
             {"x": x, "y": y}, ("x", "y"), rng)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("delta", [1.0, 0.4, 2.5])
def test_huber_loss_matches_torch(device, reduction, delta, rng):
    tF = _torch().nn.functional
    x, y = rng.standard_normal((3, 6)) * 2, rng.standard_normal((3, 6))
    _compare(device, lambda x, y: F.huber_loss(x, y, reduction, delta=delta),
             lambda x, y: tF.huber_loss(x, y, reduction=reduction, delta=delta),
             {"x": x, "y": y}, ("x", "y"), rng)


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")  # PyTorch's
@pytest.mark.parametrize("reduction", ["mean", "batchmean", "sum", "none"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_torch(device, reduction, log_target, rng):
    tF = _torch().nn.functional
    x = np.log(rng.dirichlet(np.ones(5), 4))
    p = rng.dirichlet(np.ones(5), 4)
    t = np.log(p) if log_target else p
    _compare(device, lambda x, t: F.kl_div(x, t, reduction=reduction, log_target=log_target),
             lambda x, t: tF.kl_div(x, t, reduction=reduction, log_target=log_target),
             {"x": x, "t": t}, ("x", "t"), rng)


def test_kl_div_zero_target_is_zero_not_nan(device):
    torch = _torch()
    x = np.log(np.array([[0.5, 0.25, 0.25]]))
    t = np.array([[0.0, 0.5, 0.5]])
    xt = _t(x, device, True)
    loss = F.kl_div(xt, _t(t, device), reduction="batchmean")
    loss.backward()
    xr = torch.tensor(x, requires_grad=True)
    lr = torch.nn.functional.kl_div(xr, torch.tensor(t), reduction="batchmean")
    lr.backward()
    _close(loss, lr)
    _close(xt.grad, xr.grad)


def test_loss_check_grads_second_order(device, rng):
    x = _t(rng.standard_normal((3, 4)), device)
    y = _t(rng.standard_normal((3, 4)), device)
    p = _t(rng.dirichlet(np.ones(4), 3), device)
    tg.check_grads(lambda x, y: F.smooth_l1_loss(x, y, beta=0.7) * F.huber_loss(x, y, delta=2.0),
                   modes=("fwd", "rev"), order=2)(x, y)
    tg.check_grads(lambda x, p: F.kl_div(F.log_softmax(x, 1), p, reduction="batchmean"),
                   modes=("fwd", "rev"), order=2)(x, p)


CE_CASES = [  # weight, ignore present, label_smoothing, reduction
    (False, True, 0.0, "mean"),
    (True, False, 0.0, "mean"),
    (True, True, 0.0, "mean"),
    (True, True, 0.0, "sum"),
    (True, True, 0.0, "none"),
    (True, True, 0.2, "mean"),
    (False, True, 0.2, "mean"),
    (True, False, 0.1, "sum"),
    (True, True, 0.3, "none"),
]


@pytest.mark.parametrize("use_weight,ignore,smoothing,reduction", CE_CASES,
                         ids=[f"ce{i}" for i in range(len(CE_CASES))])
@pytest.mark.parametrize("ignore_index", [-100, 1])
def test_cross_entropy_weight_and_ignore_index_match_torch(device, use_weight, ignore,
                                                           smoothing, reduction, ignore_index,
                                                           rng):
    torch = _torch()
    tF = torch.nn.functional
    n, c = 7, 4
    target = rng.integers(0, c, n)
    if ignore:
        target[[1, 4]] = ignore_index
    elif ignore_index >= 0:
        target[target == ignore_index] = 0
    arrays = {"x": rng.standard_normal((n, c)) * 2}
    if use_weight:
        arrays["w"] = rng.random(c) + 0.2

    def mine(x, w=None):
        return F.cross_entropy(x, put(target, device), reduction=reduction,
                               label_smoothing=smoothing, weight=w, ignore_index=ignore_index)

    def theirs(x, w=None):
        return tF.cross_entropy(x, torch.tensor(target), weight=w, ignore_index=ignore_index,
                                reduction=reduction, label_smoothing=smoothing)

    _compare(device, mine, theirs, arrays, ("x",), rng)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.15])
def test_cross_entropy_probability_targets_with_weight_match_torch(device, reduction, smoothing,
                                                                    rng):
    torch = _torch()
    p = rng.dirichlet(np.ones(5), 6)
    w = rng.random(5) + 0.5
    _compare(device,
             lambda x: F.cross_entropy(x, _t(p, device), reduction=reduction,
                                       label_smoothing=smoothing, weight=_t(w, device)),
             lambda x: torch.nn.functional.cross_entropy(
                 x, torch.tensor(p), weight=torch.tensor(w), reduction=reduction,
                 label_smoothing=smoothing),
             {"x": rng.standard_normal((6, 5))}, ("x",), rng)


def test_cross_entropy_all_ignored_is_nan_like_torch(device):
    torch = _torch()
    x = np.zeros((2, 3))
    t = np.array([-100, -100])
    with np.errstate(invalid="ignore"):
        loss = F.cross_entropy(_t(x, device), put(t, device))
    assert np.isnan(host(loss)) and np.isnan(
        torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(t)).item())


def test_cross_entropy_weighted_check_grads_second_order(device, rng):
    x = _t(rng.standard_normal((5, 3)), device)
    w = _t(rng.random(3) + 0.5, device)
    t = put(np.array([0, 2, -100, 1, 2]), device)

    def f(x):
        return F.cross_entropy(x, t, label_smoothing=0.1, weight=w)

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(x)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("use_weight", [False, True])
def test_nll_loss_weight_and_ignore_index_match_torch(device, reduction, use_weight, rng):
    torch = _torch()
    target = np.array([0, 3, -100, 2, 3, 1])
    arrays = {"x": np.log(rng.dirichlet(np.ones(4), 6))}
    if use_weight:
        arrays["w"] = rng.random(4) + 0.1
    _compare(device,
             lambda x, w=None: F.nll_loss(x, put(target, device), reduction=reduction, weight=w),
             lambda x, w=None: torch.nn.functional.nll_loss(x, torch.tensor(target), weight=w,
                                                            reduction=reduction),
             arrays, ("x",), rng)


def test_class_weight_and_target_errors():
    x = tg.ones(3, 4)
    with pytest.raises(ValueError, match=r"cross_entropy: weight must have one entry per class, "
                                         r"shape \(4,\), got \(3,\)"):
        F.cross_entropy(x, np.array([0, 1, 2]), weight=tg.ones(3))
    with pytest.raises(IndexError, match=r"cross_entropy: target index -5.*ignore_index=-100"):
        F.cross_entropy(x, np.array([0, -5, 2]))
    with pytest.raises(ValueError, match="ignore_index=2 applies to class-index targets only"):
        F.cross_entropy(x, tg.ones(3, 4) / 4, ignore_index=2)
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\]"):
        F.cross_entropy(x, np.array([0, 1, 2]), label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"nll_loss: class-index target must have shape \(3,\)"):
        F.nll_loss(x, np.array([0, 1]))
    with pytest.raises(IndexError, match="nll_loss: target index 4 is out of bounds for size 4"):
        F.nll_loss(x, np.array([0, 1, 4]))
    with pytest.raises(ValueError, match="kl_div: reduction must be one of.*'batchmean'"):
        F.kl_div(x, x, reduction="avg")
    with pytest.raises(ValueError, match="smooth_l1_loss: beta must be non-negative"):
        F.smooth_l1_loss(x, x, beta=-1.0)
    with pytest.raises(ValueError, match="huber_loss: delta must be positive"):
        F.huber_loss(x, x, delta=0.0)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("options", ["plain", "weight", "pos_weight", "both"])
def test_binary_cross_entropy_weights_match_torch(device, reduction, options, rng):
    tF = _torch().nn.functional
    arrays = {"x": rng.standard_normal((4, 3)) * 2, "t": rng.random((4, 3))}
    if options in ("weight", "both"):
        arrays["w"] = rng.random((4, 3)) + 0.1
    if options in ("pos_weight", "both"):
        arrays["pw"] = rng.random(3) * 3
    _compare(device,
             lambda x, t, w=None, pw=None: F.binary_cross_entropy_with_logits(
                 x, t, reduction=reduction, weight=w, pos_weight=pw),
             lambda x, t, w=None, pw=None: tF.binary_cross_entropy_with_logits(
                 x, t, weight=w, pos_weight=pw, reduction=reduction),
             arrays, ("x", "t"), rng)
    if options == "weight":
        _compare(device,
                 lambda x, t, w: F.binary_cross_entropy(F.sigmoid(x), t, reduction=reduction,
                                                        weight=w),
                 lambda x, t, w: tF.binary_cross_entropy(x.sigmoid(), t, weight=w,
                                                         reduction=reduction),
                 arrays, ("x",), rng)


# ---- modules ----------------------------------------------------------------------------------
def test_gelu_module_matches_torch(device, rng):
    torch = _torch()
    for approximate in ("none", "tanh"):
        m, ref = tg.nn.GELU(approximate), torch.nn.GELU(approximate)
        assert repr(m) == repr(ref)
        _compare(device, lambda x: m(x), lambda x: ref(x), {"x": rng.standard_normal((3, 4))},
                 ("x",), rng)
    assert repr(tg.nn.GELU()) == "GELU(approximate='none')"
    with pytest.raises(ValueError, match="GELU: approximate must be"):
        tg.nn.GELU("fast")


def _module_pairs(torch, device, rng):
    w = rng.random(4) + 0.2
    pw = rng.random(4) + 0.5
    return [  # ours, theirs, input kind
        (tg.nn.NLLLoss(weight=_t(w, device), ignore_index=2),
         torch.nn.NLLLoss(weight=torch.tensor(w), ignore_index=2), "logp"),
        (tg.nn.NLLLoss(reduction="sum"), torch.nn.NLLLoss(reduction="sum"), "logp"),
        (tg.nn.BCELoss(reduction="none"), torch.nn.BCELoss(reduction="none"), "prob"),
        (tg.nn.BCEWithLogitsLoss(pos_weight=_t(pw, device)),
         torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pw)), "binary"),
        (tg.nn.L1Loss(), torch.nn.L1Loss(), "real"),
        (tg.nn.SmoothL1Loss(beta=0.5), torch.nn.SmoothL1Loss(beta=0.5), "real"),
        (tg.nn.HuberLoss(delta=0.5, reduction="sum"),
         torch.nn.HuberLoss(delta=0.5, reduction="sum"), "real"),
        (tg.nn.KLDivLoss(reduction="batchmean", log_target=True),
         torch.nn.KLDivLoss(reduction="batchmean", log_target=True), "logp2"),
    ]


def test_loss_modules_match_torch(device, rng):
    torch = _torch()
    for mine, theirs, kind in _module_pairs(torch, device, rng):
        assert repr(mine) == repr(theirs)
        assert [n for n, _ in mine.named_buffers()] == [n for n, _ in theirs.named_buffers()]
        if kind == "logp":
            x = np.log(rng.dirichlet(np.ones(4), 5))
            t = np.array([0, 2, 3, 1, 2])
            tt, tr = put(t, device), torch.tensor(t)
        else:
            x = rng.standard_normal((5, 4))
            t = {"prob": rng.random((5, 4)), "binary": rng.random((5, 4)),
                 "real": rng.standard_normal((5, 4)),
                 "logp2": np.log(rng.dirichlet(np.ones(4), 5))}[kind]
            if kind == "prob":
                x = 1 / (1 + np.exp(-x))
            if kind == "logp2":
                x = np.log(rng.dirichlet(np.ones(4), 5))
            tt, tr = _t(t, device), torch.tensor(t)
        xt = _t(x, device, True)
        xr = torch.tensor(x, requires_grad=True)
        y, yr = mine(xt, tt), theirs(xr, tr)
        assert on(y, device)
        _close(y, yr)
        y.sum().backward()
        yr.sum().backward()
        _close(xt.grad, xr.grad)


def test_loss_module_weight_is_a_buffer_that_moves(device):
    loss = tg.nn.NLLLoss(weight=tg.tensor([1.0, 2.0]))
    assert [n for n, _ in loss.named_buffers()] == ["weight"]
    loss.to(device)
    assert on(loss.weight, device)
    # PyTorch's deprecated size_average/reduce map to a reduction, with PyTorch's warning
    # (tests/test_signature_parity.py)
    with pytest.warns(UserWarning, match="reduction='mean'"):
        assert tg.nn.L1Loss(size_average=True).reduction == "mean"


def test_layers_are_exported():
    for name in ("Embedding", "GELU", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "L1Loss",
                 "SmoothL1Loss", "HuberLoss", "KLDivLoss", "BatchNorm1d", "BatchNorm2d",
                 "GroupNorm", "LayerNorm"):
        assert name in tg.nn.__all__ and getattr(tg.nn, name).__name__ == name
    for name in ("batch_norm", "group_norm", "embedding", "one_hot", "pad", "smooth_l1_loss",
                 "huber_loss", "kl_div"):
        assert callable(getattr(F, name))


def test_layers_follow_the_default_dtype_as_pytorch():
    torch = pytest.importorskip("torch")
    makers = {
        "Linear": lambda nn: nn.Linear(2, 3), "Conv2d": lambda nn: nn.Conv2d(1, 2, 3),
        "Conv1d": lambda nn: nn.Conv1d(1, 2, 3),
        "ConvTranspose2d": lambda nn: nn.ConvTranspose2d(1, 2, 3),
        "Embedding": lambda nn: nn.Embedding(4, 2), "LayerNorm": lambda nn: nn.LayerNorm(3),
        "BatchNorm1d": lambda nn: nn.BatchNorm1d(3), "GroupNorm": lambda nn: nn.GroupNorm(1, 3),
        "MultiheadAttention": lambda nn: nn.MultiheadAttention(4, 2),
    }
    saved, saved_torch = tg.get_default_dtype(), torch.get_default_dtype()
    try:
        for ours, theirs in ((tg.float64, torch.float64), (tg.float32, torch.float32)):
            tg.set_default_dtype(ours)
            torch.set_default_dtype(theirs)
            for name, make in makers.items():
                got = {str(p.dtype) for p in make(tg.nn).parameters()}
                want = {str(p.dtype).removeprefix("torch.") for p in make(torch.nn).parameters()}
                assert got == want == {str(np.dtype(ours))}, name
        assert tg.nn.Linear(2, 3, dtype=tg.float16).weight.dtype == np.float16
    finally:
        tg.set_default_dtype(saved)
        torch.set_default_dtype(saved_torch)
