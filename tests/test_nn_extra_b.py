"""Group B of the missing torch.nn pieces (tensorgrad/nn/_functional_extra_b.py, extra_b.py,
parameter.py): multi-margin, multilabel-margin, triplet-with-distance and CTC losses,
embedding_bag, the lazy modules, AdaptiveLogSoftmaxWithLoss and NLLLoss2d. Values and
gradients against PyTorch on every device, second-order finite differences in both modes,
reprs, state dicts and errors."""

import numpy as np
import pytest
from devices import host, put

import tensorgrad as tg
import tensorgrad.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

R = np.random.default_rng(11)
X = R.standard_normal((4, 5))
Y = np.array([1, 0, 4, 2])
W5 = R.random(5) + 0.5
YML = np.array([[1, 3, -1, 0, 2], [0, 1, 2, 3, 4], [-1, 0, 0, 0, 0], [4, 4, -1, 1, 1]])
A, P, N_ = (R.standard_normal((4, 6)) for _ in range(3))

# CTC: (T, N, C) logits, padded targets, lengths
T_, NB, C_ = 10, 4, 5
CTC_X = R.standard_normal((T_, NB, C_))
CTC_TGT = np.array([[1, 2, 2, 0], [3, 1, 4, 4], [2, 0, 0, 0], [1, 1, 3, 1]])
CTC_TL = [3, 4, 1, 4]
CTC_IL = [10, 8, 6, 10]

EB_W = R.standard_normal((7, 3))
EB_IDX = np.array([1, 2, 4, 5, 4, 3, 2, 0, 6])
EB_OFF = np.array([0, 2, 2, 5])  # bag 1 is empty
EB_PSW = R.random(9) + 0.5


def _tg(a, device, grad=False):
    return tg.tensor(put(np.asarray(a), device), requires_grad=grad)


def _both(fn_ours, fn_torch, arrays, device, ngrad=1):
    """Run the loss on both libraries (float64), backward of sum(out**2), return
    (ours, theirs, our grads, their grads)."""
    ours = [_tg(a, device, i < ngrad) for i, a in enumerate(arrays)]
    theirs = [torch.tensor(np.asarray(a), requires_grad=i < ngrad) for i, a in enumerate(arrays)]
    o = fn_ours(*ours)
    t = fn_torch(*theirs)
    (o * o).sum().backward()
    (t * t).sum().backward()
    return o, t, [x.grad for x in ours[:ngrad]], [x.grad for x in theirs[:ngrad]]


def _assert_same(o, t, og, tg_, tol=1e-10):
    np.testing.assert_allclose(host(o.detach()), t.detach().numpy(), rtol=tol, atol=tol)
    for a, b in zip(og, tg_):
        np.testing.assert_allclose(host(a), b.numpy(), rtol=tol, atol=tol)


# ---- the margin losses ------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("weighted", [False, True])
def test_multi_margin_loss_matches_torch(device, reduction, p, weighted):
    def call(lib, x, w):
        return lib.multi_margin_loss(x, _target(lib, device), p=p, margin=0.7,
                                     weight=w if weighted else None, reduction=reduction)

    o, t, og, tg_ = _both(lambda x, w: call(F, x, w), lambda x, w: call(TF, x, w), [X, W5],
                          device)  # PyTorch has no gradient for the class weight
    _assert_same(o, t, og, tg_)


def _target(lib, device, y=Y):
    return _tg(y, device) if lib is F else torch.tensor(y)


def test_multi_margin_loss_unbatched_and_module(device):
    loss = tg.nn.MultiMarginLoss(p=2, margin=0.5, weight=tg.tensor(put(W5, device)))
    ref = torch.nn.MultiMarginLoss(p=2, margin=0.5, weight=torch.tensor(W5))
    assert repr(loss) == repr(ref) == "MultiMarginLoss()"
    np.testing.assert_allclose(host(loss(_tg(X, device), _tg(Y, device))),
                               ref(torch.tensor(X), torch.tensor(Y)).item(), rtol=1e-12)
    one = F.multi_margin_loss(_tg(X[0], device), _tg(np.array(2), device), reduction="none")
    assert one.shape == ()
    np.testing.assert_allclose(host(one), TF.multi_margin_loss(
        torch.tensor(X[0]), torch.tensor(2), reduction="none").item(), rtol=1e-12)
    assert "weight" in loss.state_dict()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_multilabel_margin_loss_matches_torch(device, reduction):
    def call(lib, x):
        return lib.multilabel_margin_loss(x, _target(lib, device, YML), reduction=reduction)

    o, t, og, tg_ = _both(lambda x: call(F, x), lambda x: call(TF, x), [X], device)
    _assert_same(o, t, og, tg_)
    m = tg.nn.MultiLabelMarginLoss()
    np.testing.assert_allclose(host(m(_tg(X[1], device), _tg(YML[1], device))),
                               torch.nn.MultiLabelMarginLoss()(torch.tensor(X[1]),
                                                               torch.tensor(YML[1])).item())


@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_triplet_margin_with_distance_loss_matches_torch(device, swap, reduction):
    def call(lib, a, p, n, dist):
        return lib.triplet_margin_with_distance_loss(a, p, n, distance_function=dist,
                                                     margin=1.5, swap=swap, reduction=reduction)

    for ours_d, theirs_d in [(None, None),
                             (lambda a, b: 1 - F.cosine_similarity(a, b),
                              lambda a, b: 1 - TF.cosine_similarity(a, b))]:
        o, t, og, tg_ = _both(lambda a, p, n: call(F, a, p, n, ours_d),
                              lambda a, p, n: call(TF, a, p, n, theirs_d), [A, P, N_], device,
                              ngrad=3)
        _assert_same(o, t, og, tg_)
    mod, ref = tg.nn.TripletMarginWithDistanceLoss(), torch.nn.TripletMarginWithDistanceLoss()
    assert repr(mod) == repr(ref)
    np.testing.assert_allclose(host(mod(*(_tg(a, device) for a in (A, P, N_)))),
                               ref(*(torch.tensor(a) for a in (A, P, N_))).item(), rtol=1e-10)


# ---- CTC ----------------------------------------------------------------------------------------
def _concat_targets():
    return np.concatenate([CTC_TGT[i, :CTC_TL[i]] for i in range(NB)])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("layout", ["padded", "concatenated"])
@pytest.mark.parametrize("as_lists", [False, True])
def test_ctc_loss_matches_torch(device, reduction, layout, as_lists):
    tgt = CTC_TGT if layout == "padded" else _concat_targets()
    il, tl = (CTC_IL, CTC_TL) if as_lists else (_tg(np.array(CTC_IL), device),
                                                _tg(np.array(CTC_TL), device))
    x = _tg(CTC_X, device, True)
    loss = F.ctc_loss(F.log_softmax(x, 2), _tg(tgt, device), il, tl, reduction=reduction)
    xt = torch.tensor(CTC_X, requires_grad=True)
    ref = TF.ctc_loss(TF.log_softmax(xt, 2), torch.tensor(tgt), torch.tensor(CTC_IL),
                      torch.tensor(CTC_TL), reduction=reduction)
    (loss * loss).sum().backward()
    (ref * ref).sum().backward()
    _assert_same(loss, ref, [x.grad], [xt.grad])


def test_ctc_loss_float32_blank_and_unbatched(device):
    x32 = CTC_X.astype(np.float32)
    x = _tg(x32[:, 0], device, True)
    loss = F.ctc_loss(F.log_softmax(x, 1), _tg(np.array([1, 2, 0]), device), [10], [3], blank=4)
    xt = torch.tensor(x32[:, 0], requires_grad=True)
    ref = TF.ctc_loss(TF.log_softmax(xt, 1), torch.tensor([1, 2, 0]), torch.tensor([10]),
                      torch.tensor([3]), blank=4)
    loss.backward()
    ref.backward()
    assert loss.shape == () and loss.dtype == np.float32 and x.grad.dtype == np.float32
    _assert_same(loss, ref, [x.grad], [xt.grad], tol=2e-5)
    assert tg.nn.CTCLoss(blank=4)(F.log_softmax(_tg(x32[:, 0], device), 1),
                                  _tg(np.array([1, 2, 0]), device), [10], [3]).item() \
        == pytest.approx(ref.item(), rel=1e-5)


@pytest.mark.parametrize("zero_infinity", [False, True])
def test_ctc_loss_impossible_alignment(device, zero_infinity):
    il = [10, 8, 6, 3]  # the last target (1, 1, 3, 1) needs at least 5 steps
    x = _tg(CTC_X, device, True)
    loss = F.ctc_loss(F.log_softmax(x, 2), _tg(CTC_TGT, device), il, CTC_TL, reduction="none",
                      zero_infinity=zero_infinity)
    xt = torch.tensor(CTC_X, requires_grad=True)
    ref = TF.ctc_loss(TF.log_softmax(xt, 2), torch.tensor(CTC_TGT), torch.tensor(il),
                      torch.tensor(CTC_TL), reduction="none", zero_infinity=zero_infinity)
    np.testing.assert_allclose(host(loss.detach()), ref.detach().numpy(), rtol=1e-10)
    assert np.isinf(host(loss.detach())[3]) != zero_infinity
    if zero_infinity:
        loss.sum().backward()
        ref.sum().backward()
        np.testing.assert_allclose(host(x.grad), xt.grad.numpy(), atol=1e-10)
        assert not host(x.grad)[:, 3].any()


def test_ctc_loss_gradient_wrt_log_probs(device):
    """The tape gives the true derivative with respect to log_probs; PyTorch's backward adds
    exp(log_probs) on the steps within each input (it assumes a log_softmax before)."""
    lp = TF.log_softmax(torch.tensor(CTC_X), 2).numpy()
    a = _tg(lp, device, True)
    F.ctc_loss(a, _tg(CTC_TGT, device), CTC_IL, CTC_TL, reduction="sum").backward()
    b = torch.tensor(lp, requires_grad=True)
    TF.ctc_loss(b, torch.tensor(CTC_TGT), torch.tensor(CTC_IL), torch.tensor(CTC_TL),
                reduction="sum").backward()
    inside = (np.arange(T_)[:, None] < np.array(CTC_IL)[None, :])[:, :, None]
    np.testing.assert_allclose(host(a.grad) + np.exp(lp) * inside, b.grad.numpy(), atol=1e-10)


def test_ctc_loss_second_order(device):
    x = put(R.standard_normal((5, 2, 3)), device)
    tgt = _tg(np.array([[1, 2], [2, 2]]), device)

    def f(v):
        return F.ctc_loss(F.log_softmax(v, 2), tgt, [5, 4], [2, 2], reduction="sum")

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(x)


# ---- embedding_bag ------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("padding_idx", [None, 4])
@pytest.mark.parametrize("include_last_offset", [False, True])
def test_embedding_bag_matches_torch(device, mode, padding_idx, include_last_offset):
    off = np.append(EB_OFF, len(EB_IDX)) if include_last_offset else EB_OFF
    weighted = mode == "sum"

    def call(lib, w, psw):
        wrap = _tg if lib is F else (lambda a, d: torch.tensor(a))
        return lib.embedding_bag(wrap(EB_IDX, device), w, wrap(off, device), mode=mode,
                                 per_sample_weights=psw if weighted else None,
                                 include_last_offset=include_last_offset,
                                 padding_idx=padding_idx)

    o, t, og, tg_ = _both(lambda w, p: call(F, w, p), lambda w, p: call(TF, w, p),
                          [EB_W, EB_PSW], device, ngrad=2 if weighted else 1)
    assert o.shape == (4, 3)
    _assert_same(o, t, og, tg_)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_2d_input_and_module(device, mode):
    idx = R.integers(0, 7, (3, 4))
    w = _tg(EB_W, device, True)
    out = F.embedding_bag(_tg(idx, device), w, mode=mode)
    wt = torch.tensor(EB_W, requires_grad=True)
    ref = TF.embedding_bag(torch.tensor(idx), wt, mode=mode)
    out.sum().backward()
    ref.sum().backward()
    _assert_same(out, ref, [w.grad], [wt.grad])
    bag = tg.nn.EmbeddingBag(7, 3, mode=mode, padding_idx=2)
    tbag = torch.nn.EmbeddingBag(7, 3, mode=mode, padding_idx=2)
    assert repr(bag) == repr(tbag)
    assert not host(bag.weight.detach())[2].any()
    bag.load_state_dict({"weight": tg.tensor(tbag.weight.detach().numpy())})
    bag.to(device)
    np.testing.assert_allclose(host(bag(_tg(idx, device)).detach()),
                               tbag(torch.tensor(idx)).detach().numpy(), rtol=1e-6)


def test_embedding_bag_max_norm_and_pretrained(device):
    w = put(EB_W * 3, device)
    out = F.embedding_bag(_tg(EB_IDX, device), tg.tensor(w), _tg(EB_OFF, device), max_norm=1.0,
                          mode="sum")
    wt = torch.tensor(EB_W * 3)
    ref = TF.embedding_bag(torch.tensor(EB_IDX), wt, torch.tensor(EB_OFF), max_norm=1.0,
                           mode="sum")
    np.testing.assert_allclose(host(out), ref.numpy(), rtol=1e-6)
    bag = tg.nn.EmbeddingBag.from_pretrained(tg.tensor(put(EB_W, device)), mode="max")
    assert bag.weight.requires_grad is False
    assert bag(_tg(EB_IDX[:4].reshape(2, 2), device)).shape == (2, 3)


def test_embedding_bag_second_order(device):
    idx, off = _tg(EB_IDX, device), _tg(EB_OFF, device)

    def f(w, psw):
        return (F.embedding_bag(idx, w, off, mode="sum", per_sample_weights=psw) ** 2).sum()

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(put(EB_W, device), put(EB_PSW, device))

    def g(w):
        return (F.embedding_bag(idx, w, off, mode="mean", padding_idx=4) ** 2).sum()

    tg.check_grads(g, modes=("fwd", "rev"), order=2)(put(EB_W, device))


# ---- second order for the margin losses ---------------------------------------------------------
def test_margin_losses_second_order(device):
    y, yml = _tg(Y, device), _tg(YML, device)
    w = _tg(W5, device)

    def mm(x):
        return F.multi_margin_loss(x, y, p=2, margin=0.7, weight=w, reduction="sum")

    def ml(x):
        return (F.multilabel_margin_loss(x, yml, reduction="none") ** 2).sum()

    def tri(a, p, n):
        return F.triplet_margin_with_distance_loss(a, p, n, margin=3.0, reduction="sum")

    for fn, args in [(mm, [X]), (ml, [X]), (tri, [A, P, N_])]:
        tg.check_grads(fn, modes=("fwd", "rev"), order=2)(*(put(a, device) for a in args))


# ---- lazy modules -------------------------------------------------------------------------------
LAZY = {
    "LazyLinear": ((3,), (2, 5)),
    "LazyConv1d": ((4, 3), (2, 2, 7)),
    "LazyConv2d": ((4, 3), (2, 2, 7, 7)),
    "LazyConvTranspose1d": ((4, 3), (2, 2, 7)),
    "LazyConvTranspose2d": ((4, 3), (2, 2, 5, 5)),
    "LazyBatchNorm1d": ((), (4, 3)),
    "LazyBatchNorm2d": ((), (4, 3, 2, 2)),
    "LazyInstanceNorm1d": ((), (2, 3, 4)),
    "LazyInstanceNorm2d": ((), (2, 3, 4, 4)),
}


def _torch_lazy(name, args):
    return getattr(torch.nn, name)(*args)  # the lazy instance norms track running statistics


@pytest.mark.parametrize("name", list(LAZY))
def test_lazy_module_becomes_ordinary(device, name):
    args, shape = LAZY[name]
    ours = getattr(tg.nn, name)(*args, device=device).double()  # casts the placeholders
    ref = _torch_lazy(name, args).double()
    assert repr(ours) == repr(ref)
    before = ours.state_dict()
    assert list(before) == list(ref.state_dict())
    for key, value in ref.state_dict().items():
        assert repr(before[key]) == repr(value) or key == "num_batches_tracked"
    x = R.standard_normal(shape)
    ours(_tg(x, device))
    ref(torch.tensor(x))
    plain = name.replace("Lazy", "")
    assert type(ours) is getattr(tg.nn, plain) and type(ref) is getattr(torch.nn, plain)
    assert repr(ours) == repr(ref)
    mine = ours.state_dict()
    assert {k: tuple(v.shape) for k, v in mine.items()} == \
        {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    # same weights -> same outputs and gradients
    ours.load_state_dict({k: tg.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()})
    assert all(p.dtype == np.float64 for p in ours.parameters())
    xin = _tg(x, device, True)
    xt = torch.tensor(x, requires_grad=True)
    out, tout = ours(xin), ref(xt)
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_allclose(host(out.detach()), tout.detach().numpy(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(host(xin.grad), xt.grad.numpy(), rtol=1e-8, atol=1e-10)
    assert all(type(p) is tg.nn.Parameter and all(p.shape) for p in ours.parameters())


def test_lazy_linear_trains_with_optimizer_built_after_first_forward(device):
    model = tg.nn.Sequential(tg.nn.LazyLinear(8, device=device), tg.nn.Tanh(),
                             tg.nn.LazyLinear(1, device=device))
    x = _tg(R.standard_normal((16, 3)).astype(np.float32), device)
    y = _tg(R.standard_normal((16, 1)).astype(np.float32), device)
    model(x)
    assert [tuple(p.shape) for p in model.parameters()] == [(8, 3), (8,), (1, 8), (1,)]
    assert all(type(p) is tg.nn.Parameter for p in model.parameters())
    assert host(model[0].weight.detach()).std() > 0  # initialised
    assert np.abs(host(model[0].weight.detach())).max() <= 1 / np.sqrt(3)
    opt = tg.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_lazy_load_state_dict_before_first_forward(device):
    src = torch.nn.Linear(5, 3).double()
    m = tg.nn.LazyLinear(3)
    m.load_state_dict({k: tg.tensor(v.detach().numpy()) for k, v in src.state_dict().items()})
    assert type(m) is tg.nn.Linear and m.in_features == 5
    m.to(device)
    x = R.standard_normal((2, 5))
    np.testing.assert_allclose(host(m(_tg(x, device)).detach()),
                               src(torch.tensor(x)).detach().numpy(), rtol=1e-12)
    bn = tg.nn.LazyBatchNorm1d()
    ref = torch.nn.BatchNorm1d(4)
    bn.load_state_dict({k: tg.tensor(v.numpy()) for k, v in ref.state_dict().items()})
    assert type(bn) is tg.nn.BatchNorm1d and bn.num_features == 4


def test_uninitialized_parameter_api():
    from tensorgrad.nn import parameter

    p = parameter.UninitializedParameter(dtype=np.float64)
    assert repr(p) == "<UninitializedParameter>" and p.requires_grad
    with pytest.raises(RuntimeError, match="uninitialized"):
        _ = p.shape
    p.materialize((2, 3))
    assert type(p) is tg.nn.Parameter and p.shape == (2, 3) and p.dtype == np.float64
    b = parameter.UninitializedBuffer()
    b.materialize(4)
    assert type(b) is tg.Tensor and b.shape == (4,) and not b.requires_grad
    assert parameter.Parameter is tg.nn.Parameter and tg.nn.parameter is parameter
    assert isinstance(tg.nn.LazyLinear(2).weight, tg.nn.Parameter)
    assert tg.nn.LazyLinear(2).has_uninitialized_params()


# ---- AdaptiveLogSoftmaxWithLoss -----------------------------------------------------------------
@pytest.mark.parametrize("head_bias", [False, True])
def test_adaptive_log_softmax_matches_torch(device, head_bias):
    torch.manual_seed(0)
    ref = torch.nn.AdaptiveLogSoftmaxWithLoss(8, 10, [4, 7], div_value=2.0,
                                              head_bias=head_bias).double()
    ours = tg.nn.AdaptiveLogSoftmaxWithLoss(8, 10, [4, 7], div_value=2.0, head_bias=head_bias)
    assert repr(ours) == repr(ref)
    ours.load_state_dict({k: tg.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()})
    ours.double().to(device)
    x = R.standard_normal((6, 8))
    y = np.array([0, 3, 5, 9, 6, 2])
    xa = _tg(x, device, True)
    out = ours(xa, _tg(y, device))
    xb = torch.tensor(x, requires_grad=True)
    tout = ref(xb, torch.tensor(y))
    assert out._fields == ("output", "loss")
    out.loss.backward()
    tout.loss.backward()
    _assert_same(out.output, tout.output, [xa.grad], [xb.grad])
    assert out.loss.item() == pytest.approx(tout.loss.item(), rel=1e-12)
    for (n1, p1), (n2, p2) in zip(ours.named_parameters(), ref.named_parameters()):
        assert n1 == n2
        np.testing.assert_allclose(host(p1.grad), p2.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(host(ours.log_prob(_tg(x, device)).detach()),
                               ref.log_prob(torch.tensor(x)).detach().numpy(), atol=1e-12)
    np.testing.assert_array_equal(host(ours.predict(_tg(x, device))),
                                  ref.predict(torch.tensor(x)).numpy())
    one = ours(_tg(x[0], device), _tg(np.array(5), device))
    assert one.output.shape == () and one.loss.item() == pytest.approx(
        ref(torch.tensor(x[0]), torch.tensor(5)).loss.item(), rel=1e-12)


def test_adaptive_log_softmax_errors():
    with pytest.raises(ValueError, match="cutoffs"):
        tg.nn.AdaptiveLogSoftmaxWithLoss(8, 10, [4, 12])
    m = tg.nn.AdaptiveLogSoftmaxWithLoss(8, 10, [4])
    with pytest.raises(RuntimeError, match=r"\[0, 9\]"):
        m(tg.randn(2, 8), tg.tensor([1, 10]))
    with pytest.raises(ValueError, match=r"\(2, 7\)"):
        m(tg.randn(2, 7), tg.tensor([1, 2]))


def test_nll_loss_2d_is_nll_loss(device):
    assert issubclass(tg.nn.NLLLoss2d, tg.nn.NLLLoss)
    x = R.standard_normal((2, 3, 4, 5))
    y = R.integers(0, 3, (2, 4, 5))
    for reduction in ("mean", "none"):
        xa = _tg(x, device, True)
        out = tg.nn.NLLLoss2d(reduction=reduction)(F.log_softmax(xa, 1), _tg(y, device))
        xb = torch.tensor(x, requires_grad=True)
        ref = torch.nn.NLLLoss(reduction=reduction)(TF.log_softmax(xb, 1), torch.tensor(y))
        out.sum().backward()
        ref.sum().backward()
        _assert_same(out, ref, [xa.grad], [xb.grad])


# ---- bad input ----------------------------------------------------------------------------------
def test_bad_inputs_name_the_op_and_shapes():
    x = tg.tensor(X)
    with pytest.raises(ValueError, match=r"multi_margin_loss.*\(4,\).*\(3,\)"):
        F.multi_margin_loss(x, tg.tensor([0, 1, 2]))
    with pytest.raises(IndexError, match="multi_margin_loss.*5"):
        F.multi_margin_loss(x, tg.tensor([0, 1, 2, 5]))
    with pytest.raises(ValueError, match="multi_margin_loss.*p"):
        F.multi_margin_loss(x, tg.tensor(Y), p=3)
    with pytest.raises(ValueError, match=r"multilabel_margin_loss.*\(4, 5\).*\(4, 4\)"):
        F.multilabel_margin_loss(x, tg.tensor(YML[:, :4]))
    with pytest.raises(ValueError, match="triplet_margin_with_distance_loss.*margin"):
        F.triplet_margin_with_distance_loss(x, x, x, margin=0.0)
    with pytest.raises(ValueError, match=r"triplet_margin_with_distance_loss.*\(4, 5\).*\(5,\)"):
        F.triplet_margin_with_distance_loss(x, x, x[0])
    lp = tg.tensor(CTC_X)
    with pytest.raises(ValueError, match=r"ctc_loss.*\(10, 4, 5, 1\)"):
        F.ctc_loss(lp.unsqueeze(-1), tg.tensor(CTC_TGT), CTC_IL, CTC_TL)
    with pytest.raises(ValueError, match=r"ctc_loss: input_lengths.*\(4\).*\(3,\)"):
        F.ctc_loss(lp, tg.tensor(CTC_TGT), CTC_IL[:3], CTC_TL)
    with pytest.raises(ValueError, match="ctc_loss.*at most T=10"):
        F.ctc_loss(lp, tg.tensor(CTC_TGT), [11, 1, 1, 1], CTC_TL)
    with pytest.raises(ValueError, match="ctc_loss.*blank=0"):
        F.ctc_loss(lp, tg.tensor(CTC_TGT * 0), CTC_IL, CTC_TL)
    with pytest.raises(ValueError, match=r"ctc_loss: concatenated.*12.*\(5,\)"):
        F.ctc_loss(lp, tg.tensor(_concat_targets()[:5]), CTC_IL, CTC_TL)
    with pytest.raises(TypeError, match="ctc_loss: targets must hold integers"):
        F.ctc_loss(lp, tg.tensor(CTC_TGT * 1.0), CTC_IL, CTC_TL)
    w = tg.tensor(EB_W)
    with pytest.raises(ValueError, match=r"embedding_bag.*offsets.*\(3, 4\)"):
        F.embedding_bag(tg.tensor(np.zeros((3, 4), dtype=np.int64)), w, tg.tensor([0, 2]))
    with pytest.raises(ValueError, match=r"embedding_bag: 1-D input \(shape \(9,\)\) needs"):
        F.embedding_bag(tg.tensor(EB_IDX), w)
    with pytest.raises(NotImplementedError, match="embedding_bag.*per_sample_weights.*mean"):
        F.embedding_bag(tg.tensor(EB_IDX), w, tg.tensor(EB_OFF),
                        per_sample_weights=tg.tensor(EB_PSW))
    with pytest.raises(ValueError, match="embedding_bag.*mode"):
        F.embedding_bag(tg.tensor(EB_IDX), w, tg.tensor(EB_OFF), mode="prod")
    with pytest.raises(ValueError, match="embedding_bag: offsets must start at 0"):
        F.embedding_bag(tg.tensor(EB_IDX), w, tg.tensor([1, 3]))
    with pytest.raises(IndexError, match=r"embedding.*7.*\(7, 3\)"):
        F.embedding_bag(tg.tensor([0, 7]), w, tg.tensor([0]))
    with pytest.raises(ValueError, match="LazyConv2d.*groups"):
        tg.nn.LazyConv2d(4, 3, groups=2)(tg.ones(1, 3, 5, 5))


def test_optimizer_built_before_the_first_forward_keeps_the_parameters(device):
    """The placeholders turn into Parameters in place, so an optimizer holding them before the
    first call (PyTorch warns but allows it) updates the materialized weights."""
    m = tg.nn.LazyLinear(2, device=device)
    opt = tg.optim.SGD(m.parameters(), lr=0.1)
    held = list(m.parameters())
    m(_tg(np.ones((3, 4), dtype=np.float32), device)).sum().backward()
    before = host(m.weight.detach()).copy()
    opt.step()
    assert [id(p) for p in m.parameters()] == [id(p) for p in held]
    np.testing.assert_allclose(host(m.weight.detach()), before - 0.1 * 3, rtol=1e-6)


def test_lazy_conv_unbatched_input_and_public_names(device):
    m = tg.nn.LazyConv1d(4, 3, device=device)
    assert m(_tg(np.ones((2, 7), dtype=np.float32), device)).shape == (4, 5)
    assert m.in_channels == 2 and m.weight.shape == (4, 2, 3)
    for name in ["MultiMarginLoss", "MultiLabelMarginLoss", "TripletMarginWithDistanceLoss",
                 "CTCLoss", "NLLLoss2d", "EmbeddingBag", "AdaptiveLogSoftmaxWithLoss",
                 "parameter", *LAZY]:
        assert name in tg.nn.__all__ and getattr(tg.nn, name) is not None
    for name in ["multi_margin_loss", "multilabel_margin_loss", "ctc_loss", "embedding_bag",
                 "triplet_margin_with_distance_loss"]:
        assert callable(getattr(F, name))


@pytest.mark.parametrize("name", ["multi_margin_loss", "multilabel_margin_loss",
                                  "triplet_margin_with_distance_loss", "ctc_loss",
                                  "embedding_bag"])
def test_functions_take_torchs_parameters(name):
    from devices import assert_takes_torchs_parameters, torch_param_names

    assert_takes_torchs_parameters(name, getattr(F, name), torch_param_names(getattr(TF, name)))


@pytest.mark.parametrize("name", ["MultiMarginLoss", "MultiLabelMarginLoss", "CTCLoss",
                                  "TripletMarginWithDistanceLoss", "NLLLoss2d", "EmbeddingBag",
                                  "AdaptiveLogSoftmaxWithLoss", *LAZY])
def test_modules_take_torchs_parameters(name):
    from devices import assert_takes_torchs_parameters, torch_param_names

    ours, theirs = getattr(tg.nn, name), getattr(torch.nn, name)
    assert_takes_torchs_parameters(name, ours.__init__, torch_param_names(theirs.__init__))
    if "Lazy" not in name:
        assert_takes_torchs_parameters(name, ours.forward, torch_param_names(theirs.forward))
