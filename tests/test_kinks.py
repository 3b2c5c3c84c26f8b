"""Derivatives where ops are not smooth, against PyTorch: at kinks, ties, thresholds, saturated
probabilities and NaNs, and in double backward through piecewise-linear ops.

- First order: ~110 ops evaluated at points chosen to sit on their kinks (0, +-0.5, +-1, 3, 6
  and repeated values), the gradient of a weighted sum compared with PyTorch's.
- binary_cross_entropy at p = 0 and 1 (a saturated sigmoid): PyTorch's finite derivative
  (p - t) / max(p (1 - p), 1e-12), not the clamped logs' infinite one, which made NaN.
- median() of all elements: ties share the gradient evenly; a NaN makes the median NaN.
- Double backward: PyTorch's backward kernels of relu, leaky_relu, hardtanh, threshold, abs,
  the shrinks, prelu, rrelu and max pooling take their input with a zero derivative, so a
  parameter reaching a first gradient only through their mask gets a zero gradient (not None);
  where, clamp and maximum are not joined, in either library.
"""

import numpy as np
import pytest
from devices import torch_oracle

import tensorgrad as tg

torch = torch_oracle()

# on kinks (0, +-0.5, +-1, 3, 6) and with ties (0.5 and 1.0 twice)
X = [-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0, -3.0, 6.0, 0.5, 1.0]


# name -> f(L, F, x) written once for both libraries (L: tg or torch, F: its functional)
FIRST_ORDER = {
    "relu": lambda L, F, x: F.relu(x),
    "relu6": lambda L, F, x: F.relu6(x),
    "leaky_relu": lambda L, F, x: F.leaky_relu(x, 0.1),
    "hardtanh": lambda L, F, x: F.hardtanh(x),
    "hardtanh_edges": lambda L, F, x: F.hardtanh(x, -0.5, 0.5),
    "hardsigmoid": lambda L, F, x: F.hardsigmoid(x),
    "hardswish": lambda L, F, x: F.hardswish(x),
    "threshold": lambda L, F, x: F.threshold(x, 0.5, -1.0),
    "hardshrink": lambda L, F, x: F.hardshrink(x, 0.5),
    "softshrink": lambda L, F, x: F.softshrink(x, 0.5),
    "elu": lambda L, F, x: F.elu(x),
    "celu": lambda L, F, x: F.celu(x, 0.5),
    "selu": lambda L, F, x: F.selu(x),
    "gelu": lambda L, F, x: F.gelu(x),
    "silu": lambda L, F, x: F.silu(x),
    "mish": lambda L, F, x: F.mish(x),
    "softplus_threshold": lambda L, F, x: F.softplus(x, 2, 1.0),
    "prelu": lambda L, F, x: F.prelu(x, L.tensor([0.2], dtype=L.float64)),
    "rrelu_eval": lambda L, F, x: F.rrelu(x, training=False),
    "logsigmoid": lambda L, F, x: F.logsigmoid(x),
    "softsign": lambda L, F, x: F.softsign(x),
    "tanhshrink": lambda L, F, x: F.tanhshrink(x),
    "glu": lambda L, F, x: F.glu(x, 0),
    "abs": lambda L, F, x: x.abs(),
    "relu_times_relu": lambda L, F, x: F.relu(x) * F.relu(-x),
    "clamp": lambda L, F, x: x.clamp(-1, 1),
    "clamp_min": lambda L, F, x: x.clamp_min(0.5),
    "clamp_max": lambda L, F, x: x.clamp_max(0.5),
    "clamp_tensor": lambda L, F, x: L.clamp(x, min=L.zeros_like(x), max=L.ones_like(x)),
    "maximum": lambda L, F, x: L.maximum(x, L.zeros_like(x)),
    "minimum": lambda L, F, x: L.minimum(x, L.ones_like(x)),
    "fmax": lambda L, F, x: L.fmax(x, L.zeros_like(x)),
    "where": lambda L, F, x: L.where(x > 0, x, x * x),
    "max_all": lambda L, F, x: x.max(),
    "min_all": lambda L, F, x: x.min(),
    "max_dim": lambda L, F, x: x.reshape(3, 4).max(1)[0],
    "amax": lambda L, F, x: x.reshape(3, 4).amax(0),
    "amin": lambda L, F, x: x.reshape(3, 4).amin(1),
    "aminmax": lambda L, F, x: L.aminmax(x)[0] + 2 * L.aminmax(x)[1],
    "median": lambda L, F, x: x.median(),
    "median_dim": lambda L, F, x: x.reshape(3, 4).median(1)[0],
    "nanmedian": lambda L, F, x: x.nanmedian(),
    "kthvalue": lambda L, F, x: x.kthvalue(5)[0],
    "sort": lambda L, F, x: x.sort()[0] * L.arange(12, dtype=L.float64),
    "msort": lambda L, F, x: L.msort(x.reshape(3, 4)),
    "cummax": lambda L, F, x: x.cummax(0)[0],
    "cummin": lambda L, F, x: x.cummin(0)[0],
    "cummax_dim": lambda L, F, x: x.reshape(3, 4).cummax(1)[0],
    "quantile": lambda L, F, x: L.quantile(x, 0.5),
    "nanquantile": lambda L, F, x: L.nanquantile(x, 0.3),
    "mode": lambda L, F, x: L.mode(x)[0],
    "logcumsumexp": lambda L, F, x: x.logcumsumexp(0),
    "logsumexp_minus_inf": lambda L, F, x: L.logsumexp(
        L.cat([x, L.tensor([float("-inf")], dtype=L.float64)]), 0),
    "softmax": lambda L, F, x: F.softmax(x, 0)[0],
    "log_softmax": lambda L, F, x: F.log_softmax(x, 0)[1],
    "norm1": lambda L, F, x: (x * 0).norm(p=1) + x.norm(p=1),
    "norm2_at_zero": lambda L, F, x: (x * 0).norm(),
    "norm_inf": lambda L, F, x: x.norm(p=float("inf")),
    "vector_norm3_at_zero": lambda L, F, x: L.linalg.vector_norm(x * 0, 3),
    "dist_at_zero": lambda L, F, x: L.dist(x, x.detach()),
    "cdist_at_zero": lambda L, F, x: L.cdist(x.reshape(3, 4), x.detach().reshape(3, 4)),
    "renorm": lambda L, F, x: L.renorm(x.reshape(3, 4), 2, 0, 1.0),
    "normalize_zero": lambda L, F, x: F.normalize(x.reshape(3, 4) * 0),
    "cosine_similarity_zero": lambda L, F, x: F.cosine_similarity(x.reshape(3, 4) * 0,
                                                                  x.reshape(3, 4)),
    "std_of_constant": lambda L, F, x: (x * 0).std(),
    "var_of_one": lambda L, F, x: x[:1].var(correction=0),
    "sqrt_at_zero": lambda L, F, x: (x * x).sqrt(),
    "pow_half_at_zero": lambda L, F, x: (x * x) ** 0.5,
    "pow_zero": lambda L, F, x: x ** 0,
    "pow_1_5": lambda L, F, x: x.abs() ** 1.5,
    "copysign": lambda L, F, x: L.copysign(x, -1.0),
    "hypot_at_zero": lambda L, F, x: L.hypot(x, L.zeros_like(x)),
    "logaddexp_equal": lambda L, F, x: L.logaddexp(x, x),
    "nan_to_num": lambda L, F, x: L.nan_to_num(x / x.abs()),
    "frac": lambda L, F, x: x.frac(),
    "fmod": lambda L, F, x: L.fmod(x, 1.5),
    "remainder": lambda L, F, x: L.remainder(x, 1.5),
    "logit_eps": lambda L, F, x: L.logit(x.sigmoid(), eps=0.3),
    "diff_abs": lambda L, F, x: L.diff(x).abs(),
    "l1_loss": lambda L, F, x: F.l1_loss(x, L.zeros_like(x)),
    "smooth_l1_loss": lambda L, F, x: F.smooth_l1_loss(x, L.zeros_like(x), beta=1.0),
    "smooth_l1_loss_beta0": lambda L, F, x: F.smooth_l1_loss(x, L.zeros_like(x), beta=0.0),
    "huber_loss": lambda L, F, x: F.huber_loss(x, L.zeros_like(x), delta=1.0),
    "hinge_embedding_loss": lambda L, F, x: F.hinge_embedding_loss(x, -L.ones_like(x),
                                                                   margin=1.0),
    "margin_ranking_loss": lambda L, F, x: F.margin_ranking_loss(x, L.zeros_like(x),
                                                                 L.ones_like(x), margin=1.0),
    "soft_margin_loss": lambda L, F, x: F.soft_margin_loss(x, L.ones_like(x)),
    "multi_margin_loss": lambda L, F, x: F.multi_margin_loss(x.reshape(3, 4),
                                                             L.tensor([0, 1, 2])),
    "multilabel_margin_loss": lambda L, F, x: F.multilabel_margin_loss(
        x.reshape(3, 4), L.tensor([[0, -1, 0, 0], [1, 2, -1, 0], [3, -1, 0, 0]])),
    "triplet_margin_loss": lambda L, F, x: F.triplet_margin_loss(
        x.reshape(3, 4), x.reshape(3, 4).detach(), x.reshape(3, 4).detach() * 0),
    "cosine_embedding_loss": lambda L, F, x: F.cosine_embedding_loss(
        x.reshape(3, 4), x.reshape(3, 4).detach(), -L.ones(3)),
    "poisson_nll_loss": lambda L, F, x: F.poisson_nll_loss(x, x.abs().detach()),
    "kl_div_zero_target": lambda L, F, x: F.kl_div(x, (x * 0).abs(), reduction="sum"),
    "gaussian_nll_loss_tiny_var": lambda L, F, x: F.gaussian_nll_loss(
        x, L.zeros_like(x), x.detach().abs() * 0 + 1e-7),
    "bce_saturated": lambda L, F, x: F.binary_cross_entropy(
        x.sigmoid() * 0 + (x >= 0).to(x.dtype) * 0.999999, L.ones_like(x)),
    "max_pool1d": lambda L, F, x: F.max_pool1d(x.reshape(1, 1, 12), 2),
    "max_pool1d_overlapping": lambda L, F, x: F.max_pool1d(x.reshape(1, 1, 12), 3, 1),
    "max_pool2d": lambda L, F, x: F.max_pool2d(x.reshape(1, 1, 3, 4), 2, 1),
    "max_pool2d_indices": lambda L, F, x: F.max_pool2d(x.reshape(1, 1, 3, 4), 2, 1,
                                                       return_indices=True)[0],
    "adaptive_max_pool1d": lambda L, F, x: F.adaptive_max_pool1d(x.reshape(1, 1, 12), 5),
    "lp_pool1d": lambda L, F, x: F.lp_pool1d(x.reshape(1, 1, 12), 2, 3),
    "interpolate_nearest": lambda L, F, x: F.interpolate(x.reshape(1, 1, 12), size=5),
    "interpolate_linear": lambda L, F, x: F.interpolate(x.reshape(1, 1, 12), size=5,
                                                        mode="linear"),
    "grid_sample_center": lambda L, F, x: F.grid_sample(
        x.reshape(1, 1, 3, 4), L.zeros(1, 1, 1, 2, dtype=L.float64), align_corners=True),
    "dropout_eval": lambda L, F, x: F.dropout(x, 0.5, training=False),
}


def _first_gradient(L, f):
    x = L.tensor(X, dtype=L.float64, requires_grad=True)
    y = f(L, L.nn.functional, x)
    if y.ndim:
        y = (y * L.arange(1, y.numel() + 1, dtype=L.float64).reshape(y.shape)).sum()
    (g,) = L.autograd.grad(y, x, allow_unused=True)
    return None if g is None else np.asarray(g.detach())


@pytest.mark.parametrize("name", sorted(FIRST_ORDER))
def test_gradient_at_kinks_and_ties_equals_torch(name):
    ours = _first_gradient(tg, FIRST_ORDER[name])
    theirs = _first_gradient(torch, FIRST_ORDER[name])
    assert (ours is None) == (theirs is None)
    if theirs is not None:
        # rtol: PyTorch's hardsigmoid slope is float32's 1/6 in float64 too
        np.testing.assert_allclose(ours, theirs, atol=1e-12, rtol=1e-7)


# ---- binary_cross_entropy at saturated probabilities --------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_binary_cross_entropy_at_zero_and_one_equals_torch_bit_for_bit(dtype):
    p0 = [0.0, 1.0, 0.0, 1.0, 0.5, 0.3, 1e-30]
    t0 = [0.0, 1.0, 1.0, 0.0, 1.0, 0.2, 0.7]
    w0 = [1.0, 2.0, 0.5, 1.5, 1.0, 3.0, 1.0]
    res = []
    for L in (tg, torch):
        dt = getattr(L, dtype)
        p = L.tensor(p0, dtype=dt, requires_grad=True)
        t = L.tensor(t0, dtype=dt, requires_grad=True)
        loss = L.nn.functional.binary_cross_entropy(p, t, weight=L.tensor(w0, dtype=dt),
                                                    reduction="none")
        (loss * L.arange(1, 8, dtype=dt)).sum().backward()
        res.append([np.asarray(a.detach()) for a in (loss, p.grad, t.grad)])
    for ours, theirs in zip(*res):
        assert ours.dtype == theirs.dtype
        # the same formula; float32 products may round in another order (one ulp)
        np.testing.assert_allclose(ours, theirs, rtol=2.5e-7 if dtype == "float32" else 1e-15)
    assert res[0][1][0] == 0 and res[0][1][1] == 0  # p = t = 0 or 1: no gradient
    assert abs(res[0][1][2]) > 1e11  # p = 0, t = 1: large and finite (it was NaN)


def test_binary_cross_entropy_of_a_saturated_sigmoid_trains():
    # float32 sigmoid(20) is exactly 1.0: the gradient must stay finite (it was NaN)
    z = tg.tensor([20.0, -20.0, 0.3], requires_grad=True)
    loss = tg.nn.BCELoss()(tg.sigmoid(z), tg.tensor([1.0, 0.0, 1.0]))
    loss.backward()
    assert np.isfinite(z.grad.numpy()).all()
    tz = torch.tensor([20.0, -20.0, 0.3], requires_grad=True)
    torch.nn.BCELoss()(torch.sigmoid(tz), torch.tensor([1.0, 0.0, 1.0])).backward()
    np.testing.assert_allclose(z.grad.numpy(), tz.grad.numpy(), rtol=1e-6)


def test_binary_cross_entropy_second_order():
    p = tg.tensor([0.2, 0.6, 0.9], dtype=tg.float64, requires_grad=True)
    t = tg.tensor([0.0, 1.0, 0.3], dtype=tg.float64, requires_grad=True)

    def f(p, t):
        return tg.nn.functional.binary_cross_entropy(p, t, reduction="sum")

    assert tg.autograd.gradcheck(f, (p, t), check_forward_ad=True)
    assert tg.autograd.gradgradcheck(f, (p, t))
    tp = torch.tensor([0.2, 0.6, 0.9], dtype=torch.float64, requires_grad=True)
    tt = torch.tensor([0.0, 1.0, 0.3], dtype=torch.float64, requires_grad=True)
    (ours,) = tg.autograd.grad(tg.autograd.grad(f(p, t), p, create_graph=True)[0].sum(), p)
    (theirs,) = torch.autograd.grad(torch.autograd.grad(
        torch.nn.functional.binary_cross_entropy(tp, tt, reduction="sum"), tp,
        create_graph=True)[0].sum(), tp)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-9)


# ---- median ----------------------------------------------------------------------------------
@pytest.mark.parametrize("values", [
    [1.0, 0.5, 0.5, 2.0, 3.0, 0.5],
    [1.0, float("nan"), 0.5, float("nan"), 2.0],
    [4.0, 4.0, 4.0],
    [float("nan"), 1.0],
])
@pytest.mark.parametrize("fn", ["median", "nanmedian"])
def test_median_of_all_elements_spreads_ties_and_propagates_nan(values, fn):
    res = []
    for L in (tg, torch):
        x = L.tensor(values, dtype=L.float64, requires_grad=True)
        m = getattr(x, fn)()
        m.backward()
        res.append((m.item(), x.grad.tolist()))
    np.testing.assert_equal(res[0], res[1])


def test_median_along_a_dim_with_nan_equals_torch():
    data = [[1.0, float("nan"), 0.5, float("nan")], [1.0, 3.0, 0.5, 2.0], [4.0, 3.0, 2.0, 1.0]]
    res = []
    for L in (tg, torch):
        x = L.tensor(data, dtype=L.float64, requires_grad=True)
        m = x.median(1, keepdim=True)
        (m.values * L.tensor([[1.0], [2.0], [3.0]], dtype=L.float64)).sum().backward()
        res.append((m.values.tolist(), m.indices.tolist(), x.grad.tolist()))
    np.testing.assert_equal(res[0], res[1])


def test_median_forward_mode_spreads_ties():
    x = tg.tensor([1.0, 0.5, 0.5, 2.0], dtype=tg.float64)
    v = tg.tensor([1.0, 2.0, 4.0, 8.0], dtype=tg.float64)
    value, tangent = tg.func.jvp(lambda a: a.median(), (x,), (v,))
    assert value.item() == 0.5 and tangent.item() == 3.0  # torch's forward AD: (2 + 4) / 2


def test_median_of_an_empty_dim_names_the_op():
    with pytest.raises(ValueError, match=r"median\(\): dim 1 of input shape \(2, 0\)"):
        tg.zeros(2, 0).median(1)


# ---- double backward through piecewise-linear ops -------------------------------------------
JOINED = {
    "relu": lambda L, F, x: F.relu(x),
    "relu_module": lambda L, F, x: L.nn.ReLU()(x),
    "relu_": lambda L, F, x: x.clone().relu_(),
    "relu6": lambda L, F, x: F.relu6(x),
    "leaky_relu": lambda L, F, x: F.leaky_relu(x, 0.1),
    "hardtanh": lambda L, F, x: F.hardtanh(x),
    "threshold": lambda L, F, x: F.threshold(x, 0.1, 2.0),
    "abs": lambda L, F, x: x.abs(),
    "hardshrink": lambda L, F, x: F.hardshrink(x),
    "softshrink": lambda L, F, x: F.softshrink(x),
    "prelu": lambda L, F, x: F.prelu(x, L.tensor([0.2], dtype=L.float64)),
    "rrelu_eval": lambda L, F, x: F.rrelu(x, training=False),
    "rrelu_train": lambda L, F, x: F.rrelu(x, training=True),
    "max_pool1d": lambda L, F, x: F.max_pool1d(x.reshape(1, 1, -1), 2, 1, padding=1)[
        ..., :-1].reshape(-1),
    "max_pool2d": lambda L, F, x: F.max_pool2d(x.reshape(1, 1, 2, 3), 2, 1, padding=1)[
        ..., :2, :3].reshape(-1),
    "l1_loss": lambda L, F, x: F.l1_loss(x, L.zeros_like(x), reduction="none"),
    "norm1": lambda L, F, x: x.norm(p=1).expand(6),
    "norm_inf": lambda L, F, x: x.norm(p=float("inf")).expand(6),
    # not joined in either library: the first gradient does not depend on x at all
    "clamp": lambda L, F, x: x.clamp(-0.5, 0.5),
    "maximum": lambda L, F, x: L.maximum(x, L.zeros_like(x)),
    "where": lambda L, F, x: L.where(x > 0, x, 0.1 * x),
    "masked_fill": lambda L, F, x: x.masked_fill(x < 0, 0.0),
}


def _penalty_gradient(L, f):
    """A gradient penalty's gradient in a bias that reaches the first gradient only through
    f's mask: (whether the penalty needs a gradient, the bias's gradient or None)."""
    if L is torch:
        torch.manual_seed(0)
    else:
        tg.manual_seed(0)
    a = [-1.3, 0.7, 2.1, -0.4, 1.5, -2.2]
    w = [0.3, -1.2, 0.8, 1.1, -0.5, 0.9]
    b = L.tensor([0.25], requires_grad=True, dtype=L.float64)
    x = L.tensor(a, requires_grad=True, dtype=L.float64)
    w = L.tensor(w, dtype=L.float64)
    y = (f(L, L.nn.functional, x * w + b) * w).sum()
    (gx,) = L.autograd.grad(y, x, create_graph=True)
    penalty = (gx ** 2).sum()
    if not penalty.requires_grad:
        return False, None
    (gb,) = L.autograd.grad(penalty, b, allow_unused=True)
    return True, None if gb is None else gb.tolist()


@pytest.mark.parametrize("name", sorted(JOINED))
def test_double_backward_reaches_parameters_behind_the_mask_as_torch(name):
    assert _penalty_gradient(tg, JOINED[name]) == _penalty_gradient(torch, JOINED[name])


def test_gradient_penalty_of_a_relu_critic_gives_every_parameter_a_gradient():
    # WGAN-GP: grad(penalty, critic.parameters()) without allow_unused, as PyTorch allows;
    # the two biases reach the input gradient only through the activations' masks
    torch.manual_seed(0)
    res, state = [], None
    for L in (torch, tg):
        critic = L.nn.Sequential(L.nn.Linear(3, 8), L.nn.ReLU(), L.nn.Linear(8, 8),
                                 L.nn.LeakyReLU(0.2), L.nn.Linear(8, 1, bias=False)).double()
        if state is None:
            state = {k: v.detach().numpy().copy() for k, v in critic.state_dict().items()}
        else:
            critic.load_state_dict({k: tg.tensor(v) for k, v in state.items()})
        x = L.tensor(np.linspace(-1, 1, 12).reshape(4, 3), requires_grad=True)
        (gx,) = L.autograd.grad(critic(x).sum(), x, create_graph=True)
        penalty = ((gx.norm(dim=1) - 1) ** 2).mean()
        grads = L.autograd.grad(penalty, list(critic.parameters()))
        res.append([np.asarray(g.detach()) for g in grads])
    assert len(res[0]) == len(res[1]) == 5
    for ours, theirs in zip(*res):
        np.testing.assert_allclose(ours, theirs, atol=1e-12)
    assert not res[1][1].any() and not res[1][3].any()  # zero gradients, not missing ones



# ---- NaN and infinite inputs -----------------------------------------------------------------
X_NAN = [1.0, float("nan"), -0.5, 0.0, 0.5, 2.0, float("nan"), 3.0, -3.0, 6.0, 0.5, 1.0]
X_INF = [1.0, float("inf"), -0.5, 0.0, 0.5, 2.0, -float("inf"), 3.0, -3.0, 6.0, 0.5, 1.0]
NONFINITE = dict(FIRST_ORDER, **{
    "sum": lambda L, F, x: x.sum(),
    "mean": lambda L, F, x: x.mean(),
    "prod": lambda L, F, x: x.prod(),
    "std": lambda L, F, x: x.std(),
    "nansum": lambda L, F, x: x.nansum(),
    "nanmean": lambda L, F, x: x.nanmean(),
    "cumsum": lambda L, F, x: x.cumsum(0),
    "softmax_all": lambda L, F, x: F.softmax(x, 0),
    "logsumexp": lambda L, F, x: L.logsumexp(x, 0),
    "clamp_01": lambda L, F, x: x.clamp(0, 1),
    "nan_to_num_all": lambda L, F, x: L.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0),
    "where_isnan": lambda L, F, x: L.where(L.isnan(x), L.zeros_like(x), x),
    "masked_fill_nan": lambda L, F, x: x.masked_fill(L.isnan(x), 0.0),
    "cross_entropy": lambda L, F, x: F.cross_entropy(x.reshape(3, 4), L.tensor([0, 1, 2])),
    "norm": lambda L, F, x: x.norm(),
})
# Where the two differ, and why it is left: the gradient at a NaN element itself (PyTorch's
# relu, abs, elu, ... give it a finite slope, tensorgrad NaN: the loss is NaN either way);
# max/min/max pooling over NaN (PyTorch routes the gradient to the NaN, tensorgrad's tie rule
# makes it NaN everywhere the NaN competes); which of several tied or NaN elements
# kthvalue/quantile/mode pick; margin losses that skip NaN terms in PyTorch's loops; cumprod,
# renorm, diff over non-finite values.
NONFINITE_DIFFER = {
    "nan": {"relu", "relu_times_relu", "hardswish", "elu", "celu", "selu", "abs", "norm1",
            "l1_loss", "smooth_l1_loss_beta0", "clamp_tensor", "maximum", "minimum", "max_all",
            "min_all", "kthvalue", "quantile", "mode", "norm_inf", "renorm", "diff_abs",
            "multi_margin_loss", "multilabel_margin_loss", "bce_saturated", "max_pool1d",
            "max_pool1d_overlapping", "max_pool2d", "max_pool2d_indices", "adaptive_max_pool1d",
            "prod", "logsumexp", "softmax_all", "log_softmax", "cross_entropy"},
    "inf": {"glu", "relu_times_relu", "kthvalue", "log_softmax", "norm1", "copysign",
            "smooth_l1_loss", "huber_loss", "soft_margin_loss", "multilabel_margin_loss",
            "prod", "logsumexp", "softmax_all", "cross_entropy"},
}


def _value_and_gradient(L, f, data):
    x = L.tensor(data, dtype=L.float64, requires_grad=True)
    y = f(L, L.nn.functional, x)
    value = np.asarray(y.detach()).ravel()
    if y.ndim:
        y = (y * L.arange(1, y.numel() + 1, dtype=L.float64).reshape(y.shape)).sum()
    (g,) = L.autograd.grad(y, x, allow_unused=True)
    return value, None if g is None else np.asarray(g.detach())


@pytest.mark.parametrize("name,kind", [(n, k) for k in ("nan", "inf") for n in sorted(NONFINITE)
                                       if n not in NONFINITE_DIFFER[k]])
def test_nan_and_inf_inputs_give_torch_values_and_gradients(name, kind):
    data = X_NAN if kind == "nan" else X_INF
    (v, g), (tv, tgr) = (_value_and_gradient(L, NONFINITE[name], data) for L in (tg, torch))
    np.testing.assert_allclose(v, tv, rtol=1e-7, atol=1e-12)  # NaN where PyTorch's is NaN
    assert (g is None) == (tgr is None)
    if g is not None:
        np.testing.assert_allclose(g, tgr, rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("op", ["threshold", "hardshrink", "softshrink"])
def test_shrink_and_threshold_keep_nan(op):
    # they gave 0 (or the threshold value) for a NaN input; PyTorch's keep it NaN
    F = tg.nn.functional
    x = tg.tensor([float("nan"), 0.1, 2.0])
    y = F.threshold(x, 0.5, -1.0) if op == "threshold" else getattr(F, op)(x, 0.5)
    assert np.isnan(y.numpy()[0]) and not np.isnan(y.numpy()[1:]).any()


def test_power_zero_has_zero_derivative_at_inf_and_nan():
    x = tg.tensor([0.0, float("inf"), float("nan"), 2.0], dtype=tg.float64, requires_grad=True)
    (x ** 0).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0, 0.0]
    x = tg.tensor([0.0, float("inf"), 2.0], dtype=tg.float64, requires_grad=True)
    e = tg.tensor([0.0, 1.0, 2.0], dtype=tg.float64)
    (x[:, None] ** e).sum().backward()  # the exponent-0 column adds 0, not 0 * inf
    assert x.grad.tolist() == [1.0, float("inf"), 5.0]


def test_vmap_of_second_derivatives_through_joined_rules_stays_batched():
    # join (ops/join.py) has a batching rule: per-sample Hessians through relu and abs run
    # batched, and equal the loop
    from tensorgrad.autograd import batching

    w = tg.tensor(np.random.default_rng(0).standard_normal((4, 3)))
    xs = tg.tensor(np.random.default_rng(1).standard_normal((5, 3)))
    for f in (lambda x: (tg.nn.functional.relu(w @ x) ** 3).sum(),
              lambda x: ((w @ x).abs() ** 3).sum()):
        for transform in (tg.func.hessian, lambda f: tg.func.jacrev(tg.func.jacrev(f))):
            before = batching.STATS["fallback"]
            batched = tg.func.vmap(transform(f))(xs)
            assert batching.STATS["fallback"] == before
            loop = tg.stack([transform(f)(x) for x in xs])
            np.testing.assert_allclose(batched.numpy(), loop.numpy(), atol=1e-12)


@pytest.mark.parametrize("op", ["var", "std"])
def test_variance_of_an_empty_or_too_short_axis_is_nan_or_inf_as_torch(op):
    # the divisor n - correction is never below 0 (it was -1 for an empty axis: -0.0)
    res = []
    for L in (tg, torch):
        cases = [(L.zeros(0, dtype=L.float64), {}), (L.zeros(2, 0, dtype=L.float64), {"dim": 1}),
                 (L.tensor([3.0], dtype=L.float64), {}),
                 (L.tensor([3.0, 4.0], dtype=L.float64), {"correction": 3})]
        with np.errstate(all="ignore"):
            res.append([np.asarray(getattr(x, op)(**kw)).tolist() for x, kw in cases])
    np.testing.assert_equal(res[0], res[1])
    assert np.isnan(res[0][0])


@pytest.mark.parametrize("fn", ["median", "nanmedian"])
def test_median_of_no_elements_is_nan_as_torch(fn):
    res = []
    for L in (tg, torch):
        x = L.zeros(0, 3, requires_grad=True)
        m = getattr(x, fn)()
        m.backward()
        res.append((m.item(), tuple(x.grad.shape)))
    np.testing.assert_equal(res[0], res[1])
    assert np.isnan(res[0][0])
    with pytest.raises(ValueError, match=f"{fn}.*empty int64"):
        getattr(tg.zeros(0, dtype=tg.int64), fn)()
