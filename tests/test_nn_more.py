"""The activations, distances, shape changes, pooling, interpolation and losses added to
tensorgrad.nn (tensorgrad/nn/_functional_more.py, activation.py, loss.py, pooling.py,
upsampling.py): values and gradients against PyTorch on every device, second-order finite
differences in both modes, reprs, state dicts, errors and PyTorch's signatures."""

import inspect

import numpy as np
import pytest
from devices import host, put
from nn_helpers import case_theirs, check_case, check_case_float32, check_case_order2

import tensorgrad as tg
import tensorgrad.nn.functional as F

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore:Implicit dimension choice")
TF = torch.nn.functional

R = np.random.default_rng(7)


def _away(a, kinks=(0.0,), gap=0.05):
    """``a`` nudged off the kinks of piecewise functions (finite differences and PyTorch's
    one-sided choices agree elsewhere)."""
    a = a.copy()
    for k in kinks:
        near = np.abs(a - k) < gap
        a[near] = k + np.where(a[near] >= k, gap, -gap) * 2
    return a


X = _away(R.standard_normal((2, 4, 5)) * 2.5, (0.0, -1.0, 1.0, -3.0, 3.0, 6.0, 0.5))
X4 = R.standard_normal((2, 3, 4, 5))
SIGN = np.where(R.standard_normal((2, 4, 5)) > 0, 1.0, -1.0)
A, B = R.standard_normal((4, 6)), R.standard_normal((4, 6))
Y01 = (R.random((4, 6)) > 0.5).astype(float)
POS = R.random((2, 4, 5)) + 0.2
COUNTS = np.floor(R.random((2, 4, 5)) * 5)
MR = _away(R.standard_normal(6), (0.0,))  # margin-ranking differences off the kink

# name -> (call taking (F, *args) for either library, args, how many leading args need grad)
CASES = {
    "leaky_relu": (lambda F, x: F.leaky_relu(x, 0.2), [X], 1),
    "elu": (lambda F, x: F.elu(x, 0.7), [X], 1),
    "selu": (lambda F, x: F.selu(x), [X], 1),
    "celu": (lambda F, x: F.celu(x, 1.5), [X], 1),
    "relu6": (lambda F, x: F.relu6(x * 2), [X], 1),
    "hardtanh": (lambda F, x: F.hardtanh(x, -0.5, 2.0), [X], 1),
    "hardsigmoid": (lambda F, x: F.hardsigmoid(x), [X], 1),
    "hardswish": (lambda F, x: F.hardswish(x), [X], 1),
    "mish": (lambda F, x: F.mish(x), [X], 1),
    "logsigmoid": (lambda F, x: F.logsigmoid(x), [X], 1),
    "softsign": (lambda F, x: F.softsign(x), [X], 1),
    "tanhshrink": (lambda F, x: F.tanhshrink(x), [X], 1),
    "softmin": (lambda F, x: F.softmin(x, dim=1), [X], 1),
    "softmin_implicit": (lambda F, x: F.softmin(x[0]), [X], 1),
    "threshold": (lambda F, x: F.threshold(x, 0.5, -2.0), [X], 1),
    "glu": (lambda F, x: F.glu(x, 1), [X], 1),
    "glu_last": (lambda F, x: F.glu(x[..., :4]), [X], 1),
    "prelu": (lambda F, x, w: F.prelu(x, w), [X, np.array([0.1, 0.2, -0.3, 0.4])], 2),
    "prelu_one": (lambda F, x, w: F.prelu(x, w), [X, np.array([0.3])], 2),
    "normalize": (lambda F, x: F.normalize(x, dim=2), [X], 1),
    "normalize_p1": (lambda F, x: F.normalize(x, p=1.0, dim=1), [X], 1),
    "cosine_similarity": (lambda F, a, b: F.cosine_similarity(a, b), [A, B], 2),
    "cosine_similarity_bcast": (lambda F, a, b: F.cosine_similarity(a, b[:1], dim=1), [A, B], 2),
    "pairwise_distance": (lambda F, a, b: F.pairwise_distance(a, b), [A, B], 2),
    "pairwise_distance_p3": (lambda F, a, b: F.pairwise_distance(a, b, 3.0, keepdim=True),
                             [A, B], 2),
    "pixel_shuffle": (lambda F, x: F.pixel_shuffle(x.reshape(2, 4, 3, 5), 2), [X4], 1),
    "pixel_unshuffle": (lambda F, x: F.pixel_unshuffle(x[..., :4], 2), [X4], 1),
    "nearest_up": (lambda F, x: F.interpolate(x, scale_factor=2), [X4], 1),
    "nearest_size": (lambda F, x: F.interpolate(x, size=(3, 7)), [X4], 1),
    "nearest_1d": (lambda F, x: F.interpolate(x, size=8), [X], 1),
    "nearest_exact_up": (lambda F, x: F.interpolate(x, scale_factor=1.7, mode="nearest-exact"),
                         [X4], 1),
    "nearest_exact_down": (lambda F, x: F.interpolate(x, size=(2, 3), mode="nearest-exact"),
                           [X4], 1),
    "nearest_exact_1d": (lambda F, x: F.interpolate(x, size=9, mode="nearest-exact"), [X], 1),
    "area_down": (lambda F, x: F.interpolate(x, size=(2, 3), mode="area"), [X4], 1),
    "area_up": (lambda F, x: F.interpolate(x, size=(7, 11), mode="area"), [X4], 1),
    "area_1d": (lambda F, x: F.interpolate(x, scale_factor=0.6, mode="area"), [X], 1),
    "linear": (lambda F, x: F.interpolate(x, size=8, mode="linear"), [X], 1),
    "linear_ac": (lambda F, x: F.interpolate(x, size=3, mode="linear", align_corners=True),
                  [X], 1),
    "bilinear_up": (lambda F, x: F.interpolate(x, scale_factor=1.5, mode="bilinear"), [X4], 1),
    "bilinear_ac": (lambda F, x: F.interpolate(x, size=(6, 3), mode="bilinear",
                                               align_corners=True), [X4], 1),
    "bilinear_down": (lambda F, x: F.interpolate(x, size=(2, 3), mode="bilinear"), [X4], 1),
    "bilinear_layer": (lambda F, a, b, w, c: F.bilinear(a[:, :3], b[:, :2], w, c),
                       [A, B, R.standard_normal((5, 3, 2)), R.standard_normal(5)], 4),
    "max_pool1d": (lambda F, x: F.max_pool1d(x, 2), [X], 1),
    "max_pool1d_pad": (lambda F, x: F.max_pool1d(x, 3, 1, 1), [X], 1),
    "avg_pool1d": (lambda F, x: F.avg_pool1d(x, 3, 2, 1), [X], 1),
    "adaptive_avg_pool1d": (lambda F, x: F.adaptive_avg_pool1d(x, 3), [X], 1),
    "adaptive_max_pool1d": (lambda F, x: F.adaptive_max_pool1d(x, 3), [X], 1),
    "adaptive_max_pool2d": (lambda F, x: F.adaptive_max_pool2d(x, (3, 2)), [X4], 1),
    "adaptive_max_pool2d_none": (lambda F, x: F.adaptive_max_pool2d(x, (None, 3)), [X4], 1),
    "instance_norm": (lambda F, x, w, b: F.instance_norm(x, weight=w, bias=b),
                      [X4, R.standard_normal(3), R.standard_normal(3)], 3),
    "instance_norm_plain": (lambda F, x: F.instance_norm(x), [X], 1),
    "local_response_norm": (lambda F, x: F.local_response_norm(x, 3, 0.5, 0.6, 1.5), [X4], 1),
    "local_response_norm_even": (lambda F, x: F.local_response_norm(x, 2, 1e-2), [X], 1),
    "margin_ranking": (lambda F, a, b, y: F.margin_ranking_loss(a, b, y, margin=0.1),
                       [MR, np.zeros(6), np.sign(R.standard_normal(6))], 2),
    "hinge_embedding": (lambda F, x, y: F.hinge_embedding_loss(x, y, margin=1.5,
                                                                 reduction="sum"),
                        [_away(X, (1.5,)), SIGN], 1),
    "soft_margin": (lambda F, x, y: F.soft_margin_loss(x, y), [X, SIGN], 1),
    "soft_margin_none": (lambda F, x, y: F.soft_margin_loss(x * 10, y, reduction="none"),
                         [X, SIGN], 1),
    "multilabel_soft_margin": (lambda F, x, y: F.multilabel_soft_margin_loss(x, y), [A, Y01], 1),
    "multilabel_soft_margin_w": (lambda F, x, y, w: F.multilabel_soft_margin_loss(
        x, y, w, reduction="none"), [A, Y01, R.random(6)], 1),
    "cosine_embedding": (lambda F, a, b, y: F.cosine_embedding_loss(a, b, y, margin=-0.5),
                         [A, B, np.array([1.0, -1.0, -1.0, 1.0])], 2),
    "triplet": (lambda F, a, p, n: F.triplet_margin_loss(a, p, n, margin=3.0),
                [A, B, R.standard_normal((4, 6))], 3),
    "triplet_swap": (lambda F, a, p, n: F.triplet_margin_loss(a, p, n, margin=3.0, p=1,
                                                              swap=True, reduction="none"),
                     [A, B, R.standard_normal((4, 6))], 3),
    "poisson_log": (lambda F, x, y: F.poisson_nll_loss(x, y), [X / 3, COUNTS], 1),
    "poisson_full": (lambda F, x, y: F.poisson_nll_loss(x, y, log_input=False, full=True,
                                                        reduction="sum"), [POS, COUNTS], 1),
    "gaussian_nll": (lambda F, x, y, v: F.gaussian_nll_loss(x, y, v), [X, SIGN, POS], 3),
    "gaussian_nll_full": (lambda F, x, y, v: F.gaussian_nll_loss(x, y, v[..., :1], full=True,
                                                                 reduction="none"),
                          [X, SIGN, POS], 3),
    "gaussian_nll_squeezed": (lambda F, x, y, v: F.gaussian_nll_loss(x, y, v[..., 0],
                                                                     reduction="sum"),
                              [X, SIGN, POS], 3),
}

# second-order finite-difference checks: every activation, interpolation and loss
ORDER2 = ["leaky_relu", "elu", "selu", "celu", "relu6", "hardtanh", "hardsigmoid", "hardswish",
          "mish", "logsigmoid", "softsign", "tanhshrink", "softmin", "threshold", "glu", "prelu",
          "normalize", "cosine_similarity", "pairwise_distance", "linear", "bilinear_up",
          "bilinear_ac", "nearest_up", "bilinear_layer", "adaptive_max_pool2d",
          "instance_norm", "local_response_norm", "margin_ranking", "hinge_embedding",
          "soft_margin",
          "multilabel_soft_margin", "cosine_embedding", "triplet", "triplet_swap",
          "poisson_log", "poisson_full", "gaussian_nll", "gaussian_nll_full"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_gradients_match_torch(name, device):
    # PyTorch's hardsigmoid backward multiplies by a float32 1/6
    check_case(CASES, name, device, R, grad_rtol=1e-7 if name == "hardsigmoid" else 1e-9)


@pytest.mark.parametrize("name", sorted(CASES))
def test_float32_matches_torch(name, device):
    check_case_float32(CASES, name, device)


@pytest.mark.parametrize("name", ORDER2)
def test_second_order_finite_differences(name, device):
    check_case_order2(CASES, name, device)


def test_stable_at_large_arguments(device):
    x = tg.tensor(put(np.array([-800.0, -40.0, 0.0, 40.0, 800.0]), device), requires_grad=True)
    def soft_margin(v):
        return F.soft_margin_loss(v, -tg.ones_like(v), reduction="none")

    for fn in (F.logsigmoid, F.mish, soft_margin):
        y = fn(x)
        y.sum().backward()
        assert np.isfinite(host(y.detach())).all() and np.isfinite(host(x.grad)).all()
        x.grad = None
    np.testing.assert_allclose(host(F.logsigmoid(x).detach()), [-800.0, -40.0, -np.log(2),
                                                                  -4.248354255291589e-18, 0.0],
                               rtol=1e-12)


@pytest.mark.parametrize("name", ["cosine_similarity", "margin_ranking", "hinge_embedding",
                                  "soft_margin", "cosine_embedding", "triplet", "poisson_log"])
def test_autocast_runs_float32_list_in_float32(name, device):
    """PyTorch's autocast float32 list: float16 inputs are computed in float32."""
    fn, args, _ = CASES[name]
    ts = [tg.tensor(put(np.asarray(a, dtype=np.float16), device)) for a in args]
    assert fn(F, *ts).dtype == np.float16  # outside a region: unchanged
    with tg.autocast(device):
        out = fn(F, *ts)
    assert out.dtype == np.float32
    ref, _ = case_theirs(CASES, name)
    np.testing.assert_allclose(host(out.detach()), ref.detach().numpy(), rtol=1e-2, atol=1e-2)


# ---- modules ---------------------------------------------------------------------------------
nn = tg.nn
MODULES = [
    ("LeakyReLU", (), {}), ("LeakyReLU", (0.2,), {"inplace": True}), ("ELU", (0.5,), {}),
    ("SELU", (), {}), ("CELU", (), {"alpha": 2.0}), ("PReLU", (3,), {}), ("ReLU6", (), {}),
    ("ReLU6", (), {"inplace": True}), ("Hardtanh", (0.0, 2.0), {}), ("Hardsigmoid", (), {}),
    ("Hardswish", (), {}), ("Mish", (), {}), ("Softsign", (), {}), ("Tanhshrink", (), {}),
    ("LogSigmoid", (), {}), ("Softmax", (), {}), ("Softmax", (1,), {}), ("LogSoftmax", (-1,), {}),
    ("Softmin", (0,), {}), ("Threshold", (0.1, 20), {}), ("GLU", (), {}),
    ("Unflatten", (1, (2, 3)), {}), ("Dropout1d", (), {}), ("Dropout2d", (0.3,), {}),
    ("AlphaDropout", (), {}), ("ZeroPad2d", (1,), {}), ("ZeroPad2d", ((1, 2, 3, 4),), {}),
    ("ConstantPad1d", (2, 3.5), {}), ("ConstantPad2d", (1, 0.0), {}), ("PixelShuffle", (2,), {}),
    ("PixelUnshuffle", (3,), {}), ("Upsample", (), {"scale_factor": 2}),
    ("Upsample", ((3, 4),), {"mode": "bilinear", "align_corners": True}),
    ("CosineSimilarity", (), {}), ("PairwiseDistance", (), {}), ("Bilinear", (2, 3, 4), {}),
    ("Bilinear", (2, 3, 4), {"bias": False}), ("MaxPool1d", (3,), {}),
    ("MaxPool1d", (3, 1, 1), {}), ("AvgPool1d", (3, 2, 1), {}), ("AdaptiveAvgPool1d", (3,), {}),
    ("AdaptiveMaxPool1d", (3,), {}), ("AdaptiveMaxPool2d", ((2, 3),), {}),
    ("InstanceNorm1d", (3,), {}), ("InstanceNorm2d", (3,), {"affine": True}),
    ("InstanceNorm2d", (3,), {"affine": True, "bias": False}), ("MarginRankingLoss", (), {}),
    ("LocalResponseNorm", (3,), {}), ("LocalResponseNorm", (2, 0.1, 0.5, 2.0), {}),
    ("TripletMarginLoss", (), {"swap": True}), ("CosineEmbeddingLoss", (0.2,), {}),
    ("HingeEmbeddingLoss", (), {}), ("SoftMarginLoss", (), {"reduction": "sum"}),
    ("MultiLabelSoftMarginLoss", (), {}), ("PoissonNLLLoss", (), {"full": True}),
    ("GaussianNLLLoss", (), {"full": True}),
]


@pytest.mark.parametrize("name,args,kw", MODULES, ids=[f"{m[0]}-{i}" for i, m in
                                                       enumerate(MODULES)])
def test_repr_and_state_dict_match_torch(name, args, kw):
    mine, theirs = getattr(nn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw)
    assert repr(mine) == repr(theirs)
    assert list(mine.state_dict()) == list(theirs.state_dict())
    for k, v in theirs.state_dict().items():
        assert tuple(mine.state_dict()[k].shape) == tuple(v.shape)


def _copy_params(mine, theirs):
    for k, v in theirs.state_dict().items():
        getattr(mine, k).data[...] = put(v.detach().numpy(), mine.weight.device)


@pytest.mark.parametrize("name,args,inputs", [
    ("PReLU", (4,), [X]), ("PReLU", (), [X]), ("Bilinear", (6, 6, 3), [A, B]),
    ("InstanceNorm2d", (3,), [X4]), ("InstanceNorm1d", (4,), [X[0]]), ("Softmax", (), [X]),
    ("Softmax", (), [A]), ("Upsample", ((7,),), [X]), ("Unflatten", (2, (5, 1)), [X]),
    ("Hardtanh", (-2.0, 2.0), [X]), ("GaussianNLLLoss", (), [X, SIGN, POS]),
    ("CosineEmbeddingLoss", (), [A, B, np.array([1.0, -1.0, 1.0, -1.0])]),
])
def test_modules_forward_and_learn_like_torch(name, args, inputs, device):
    kw = {"affine": True} if name.startswith("InstanceNorm") else {}
    theirs = getattr(torch.nn, name)(*args, **kw).double()
    mine = getattr(nn, name)(*args, **kw)
    if list(theirs.state_dict()):
        mine = mine.to(device).to(tg.float64)
        with torch.no_grad():
            for p in theirs.parameters():
                p.add_(torch.randn_like(p) * 0.3)
        _copy_params(mine, theirs)
    xs = [tg.tensor(put(a, device), requires_grad=True) for a in inputs]
    txs = [torch.tensor(a, requires_grad=True) for a in inputs]
    out, ref = mine(*xs), theirs(*txs)
    np.testing.assert_allclose(host(out.detach()), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    out.sum().backward()
    ref.sum().backward()
    for x, tx in zip(xs, txs, strict=True):
        if tx.grad is None:  # a target: no gradient on either side
            assert x.grad is None or not host(x.grad).any()
            continue
        np.testing.assert_allclose(host(x.grad), tx.grad.numpy(), rtol=1e-9, atol=1e-11)
    for (k, p), tp in zip(mine.named_parameters(), theirs.parameters(), strict=True):
        np.testing.assert_allclose(host(p.grad), tp.grad.numpy(), rtol=1e-9, atol=1e-11,
                                   err_msg=k)


def test_prelu_and_bilinear_initialisation():
    assert nn.PReLU(3, init=0.1).weight.tolist() == pytest.approx([0.1] * 3)
    w = nn.Bilinear(4, 3, 5).weight.numpy()
    assert w.shape == (5, 4, 3) and np.abs(w).max() <= 0.5 and w.std() > 0.05


@pytest.mark.parametrize("cls,fn,shape", [
    (nn.Dropout1d, F.dropout1d, (40, 30, 6)), (nn.Dropout2d, F.dropout2d, (40, 30, 3, 2))])
def test_channel_dropout(cls, fn, shape, device):
    x = tg.ones(*shape, device=device, requires_grad=True)
    y = fn(x, 0.25)
    v = host(y.detach()).reshape(shape[0], shape[1], -1)
    assert ((v == v[..., :1]).all())  # whole channels
    assert set(np.unique(v).tolist()) <= {0.0, float(np.float32(1 / 0.75))}
    assert 0.15 < (v[..., 0] == 0).mean() < 0.35
    y.sum().backward()
    np.testing.assert_array_equal(host(x.grad), host(y.detach()))
    m = cls(0.25).eval()
    assert m(x) is x
    assert fn(x[0], 0.25).shape == x[0].shape  # unbatched


def test_alpha_dropout_keeps_mean_and_variance(device):
    tg.manual_seed(0)
    x = tg.tensor(put(np.random.default_rng(1).standard_normal(200_000), device))
    y = host(F.alpha_dropout(x, 0.2, training=True))
    assert abs(y.mean()) < 0.02 and abs(y.std() - 1) < 0.02
    assert F.alpha_dropout(x, 0.2) is x  # training=False is PyTorch's default
    kept = host(x)[y != y.min()]
    assert kept.size > 0


# ---- errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize("call,match", [
    (lambda: F.glu(tg.ones(2, 3)), r"glu: dimension -1 of input shape \(2, 3\) must have an "
                                   r"even size, got 3"),
    (lambda: F.prelu(tg.ones(2, 3), tg.ones(2)), r"prelu: weight of shape \(2,\) .*\(3\) of "
                                                 r"input shape \(2, 3\)"),
    (lambda: F.pixel_shuffle(tg.ones(1, 3, 2, 2), 2), r"pixel_shuffle: input of shape "
                                                      r"\(1, 3, 2, 2\)"),
    (lambda: F.interpolate(tg.ones(1, 1, 4), size=3, mode="bilinear"),
     r"interpolate: mode 'bilinear' needs a 4-D input .*\(1, 1, 4\)"),
    (lambda: F.interpolate(tg.ones(1, 1, 4)), r"interpolate: give exactly one of size"),
    (lambda: F.interpolate(tg.ones(1, 1, 4, 4), size=(2, 2, 2)), r"size \(2, 2, 2\) must have "
                                                                  r"2 entries"),
    (lambda: F.interpolate(tg.ones(1, 1, 4), size=2, mode="cubic"), r"interpolate: mode must"),
    (lambda: F.bilinear(tg.ones(2, 3), tg.ones(2, 4), tg.ones(5, 3, 3)),
     r"bilinear: input1 of shape \(2, 3\) and input2 of shape \(2, 4\) do not fit a weight "
     r"of shape \(5, 3, 3\)"),
    (lambda: F.cosine_similarity(tg.ones(2, 3), tg.ones(2, 4)),
     r"cosine_similarity: x1 of shape \(2, 3\) and x2 of shape \(2, 4\) do not broadcast"),
    (lambda: F.max_pool1d(tg.ones(3), 2), r"max_pool1d: input must be \(N, C, L\) or \(C, L\), "
                                          r"got shape \(3,\)"),
    (lambda: F.adaptive_max_pool2d(tg.ones(4, 4), 2), r"adaptive_max_pool2d: input must have "
                                                      r"3 or 4 dimensions, got shape \(4, 4\)"),
    (lambda: F.margin_ranking_loss(tg.ones(3), tg.ones(3), tg.ones(2)),
     r"margin_ranking_loss: shapes must match, got input1 \(3,\), input2 \(3,\), target \(2,\)"),
    (lambda: F.soft_margin_loss(tg.ones(3), tg.ones(3), reduction="avg"),
     r"soft_margin_loss: reduction must be one of"),
    (lambda: F.gaussian_nll_loss(tg.ones(2, 3), tg.ones(2, 3), tg.ones(2, 2)),
     r"gaussian_nll_loss: var of shape \(2, 2\) does not fit input of shape \(2, 3\)"),
    (lambda: F.gaussian_nll_loss(tg.ones(2), tg.ones(2), -tg.ones(2)),
     r"gaussian_nll_loss: var has negative entries"),
    (lambda: F.cosine_embedding_loss(tg.ones(2, 3), tg.ones(2, 3), tg.ones(3)),
     r"cosine_embedding_loss: .*target \(3,\)"),
    (lambda: nn.Unflatten(1, (2, 2))(tg.ones(2, 6)),
     r"Unflatten: unflattened_size \(2, 2\) does not fit dimension 1 of input shape \(2, 6\)"),
    (lambda: nn.InstanceNorm2d(3)(tg.ones(2, 3)), r"InstanceNorm2d: input must have 3 or 4 "
                                                  r"dimensions, got shape \(2, 3\)"),
    (lambda: F.hardtanh(tg.ones(2), 1.0, -1.0), r"hardtanh: min_val=1.0 must not exceed"),
    (lambda: F.dropout2d(tg.ones(2), 0.5), r"dropout2d: input must be"),
])
def test_bad_inputs_name_the_op(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_unsupported_options_say_so():
    # (max_pool1d's dilation and InstanceNorm's track_running_stats work now:
    # tests/test_nn_loose_ends.py)
    # size_average/reduce now map to a reduction with PyTorch's warning
    # (tests/test_signature_parity.py)
    with pytest.warns(UserWarning, match="size_average"):
        F.soft_margin_loss(tg.ones(2), tg.ones(2), size_average=True)


# ---- signatures and namespace ------------------------------------------------------------------
NEW_FUNCTIONS = ["relu6", "hardtanh", "hardsigmoid", "hardswish", "mish", "selu", "celu",
                 "softsign", "tanhshrink", "softmin", "threshold", "glu", "normalize",
                 "dropout1d", "dropout2d", "alpha_dropout", "interpolate", "instance_norm",
                 "local_response_norm",
                 "margin_ranking_loss", "triplet_margin_loss", "cosine_embedding_loss",
                 "hinge_embedding_loss", "soft_margin_loss", "multilabel_soft_margin_loss",
                 "poisson_nll_loss", "gaussian_nll_loss", "leaky_relu", "elu"]
# PyTorch's C builtins have no inspectable signature: their documented parameter names
BUILTIN_PARAMS = {
    "logsigmoid": ["input"], "cosine_similarity": ["x1", "x2", "dim", "eps"],
    "pairwise_distance": ["x1", "x2", "p", "eps", "keepdim"], "prelu": ["input", "weight"],
    "pixel_shuffle": ["input", "upscale_factor"],
    "pixel_unshuffle": ["input", "downscale_factor"],
    "bilinear": ["input1", "input2", "weight", "bias"],
    "avg_pool1d": ["input", "kernel_size", "stride", "padding", "ceil_mode",
                   "count_include_pad"],
    "adaptive_avg_pool1d": ["input", "output_size"],
    "max_pool1d": ["input", "kernel_size", "stride", "padding", "dilation", "ceil_mode",
                   "return_indices"],
    "adaptive_max_pool1d": ["input", "output_size", "return_indices"],
    "adaptive_max_pool2d": ["input", "output_size", "return_indices"],
}
NEW_CLASSES = sorted({m[0] for m in MODULES})


def _params(f):
    return [p for p in inspect.signature(f).parameters if p != "self"]


@pytest.mark.parametrize("name", NEW_FUNCTIONS)
def test_function_signatures_match_torch(name):
    mine, theirs = inspect.signature(getattr(F, name)), inspect.signature(getattr(TF, name))
    assert list(mine.parameters) == list(theirs.parameters)
    for k, p in theirs.parameters.items():
        assert mine.parameters[k].default == p.default, k


@pytest.mark.parametrize("name", sorted(BUILTIN_PARAMS))
def test_builtin_function_parameters(name):
    assert _params(getattr(F, name)) == BUILTIN_PARAMS[name]


@pytest.mark.parametrize("name", NEW_CLASSES)
def test_class_signatures_match_torch(name):
    theirs = getattr(torch.nn, name).__init__
    mine = getattr(nn, name).__init__
    tp = _params(theirs)
    if tp in (["args", "kwargs"],):  # Softsign, Tanhshrink, LogSigmoid take nothing
        assert _params(mine) in ([], ["args", "kwargs"])
        return
    assert _params(mine) == tp
    for k, p in inspect.signature(theirs).parameters.items():
        if k != "self":
            assert inspect.signature(mine).parameters[k].default == p.default, (name, k)
            assert inspect.signature(mine).parameters[k].kind == p.kind, (name, k)


def test_functional_namespace_is_public_functions_only():
    public = [n for n in dir(F) if not n.startswith("_")]
    for helper in ("AUTOCAST", "FP32", "cast_inputs", "Tensor", "np", "primitive", "defjvp",
                   "defvjp", "xp_of"):
        assert helper not in public
    extra = [n for n in public if not hasattr(TF, n)]
    assert extra == ["bias_act"]  # tensorgrad's one documented extension
    for n in public:
        assert callable(getattr(F, n)), n
    for n in NEW_FUNCTIONS + list(BUILTIN_PARAMS):
        assert n in public


@pytest.mark.parametrize("name", ["normalize", "normalize_p3", "cosine_similarity",
                                  "pairwise_distance"])
def test_norm_based_ops_at_a_zero_vector_match_torch(name, device):
    # the norm's subgradient at 0 is 0 (PyTorch's), so a zero row gives finite gradients
    torch = pytest.importorskip("torch")
    x = np.zeros((3, 4))
    x[1] = [1.0, -2.0, 0.5, 3.0]
    y = np.zeros((3, 4))
    y[2] = [0.3, 0.1, -0.2, 0.4]
    w = np.random.default_rng(0).standard_normal((3, 4) if name.startswith("normalize") else 3)
    f = {
        "normalize": lambda F, a, b: F.normalize(a),
        "normalize_p3": lambda F, a, b: F.normalize(a, p=3.0),
        "cosine_similarity": lambda F, a, b: F.cosine_similarity(a, b),
        "pairwise_distance": lambda F, a, b: F.pairwise_distance(a, b, eps=0.0),
    }[name]
    a = tg.tensor(put(x, device), requires_grad=True)
    b = tg.tensor(put(y, device), requires_grad=True)
    (f(tg.nn.functional, a, b) * tg.tensor(put(w, device))).sum().backward()
    ta = torch.tensor(x, requires_grad=True)
    tb = torch.tensor(y, requires_grad=True)
    (f(torch.nn.functional, ta, tb) * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(host(a.grad), ta.grad.numpy(), rtol=1e-10, atol=1e-12)
    if tb.grad is None:  # normalize reads only its first argument
        assert b.grad is None
    else:
        np.testing.assert_allclose(host(b.grad), tb.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert np.isfinite(host(a.grad)).all()


@pytest.mark.parametrize("shapes, dim", [(((4, 3), (1, 3)), 0), (((4, 3), (3,)), 0),
                                         (((2, 1, 5), (2, 4, 5)), 1), (((4, 3), (4, 1)), 1)])
def test_cosine_similarity_broadcasts_before_the_norms(shapes, dim, device):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x1, x2 = (rng.standard_normal(s) for s in shapes)
    a = tg.tensor(put(x1, device), requires_grad=True)
    b = tg.tensor(put(x2, device), requires_grad=True)
    ta, tb = torch.tensor(x1, requires_grad=True), torch.tensor(x2, requires_grad=True)
    got = F.cosine_similarity(a, b, dim=dim)
    want = torch.nn.functional.cosine_similarity(ta, tb, dim=dim)
    np.testing.assert_allclose(host(got), want.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(host(tg.cosine_similarity(a, b, dim=dim)), want.detach().numpy(),
                               rtol=1e-12)
    got.sum().backward()
    want.sum().backward()
    np.testing.assert_allclose(host(a.grad), ta.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(host(b.grad), tb.grad.numpy(), rtol=1e-10, atol=1e-12)
