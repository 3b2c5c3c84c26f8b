"""Double backward of 89 functional ops, losses and linear-algebra functions against PyTorch's:
the gradient of a weighted sum of each output, kept on the tape, and the gradient of its product
with a fixed direction (a Hessian-vector product)."""

import numpy as np
import pytest

import tensorgrad as tg

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)
X = RNG.standard_normal((4, 6))
T = RNG.standard_normal((4, 6))
V = RNG.standard_normal((4, 6))
P = np.abs(RNG.standard_normal((4, 6))) * 0.8 + 0.1
P = P / P.max() * 0.9
idx = np.array([0, 3, 5, 1])

FNS = {  # each: a function of x (4, 6), written once for torch and tensorgrad (L, F)
    "softmax": lambda L, F, x: F.softmax(x, 1),
    "log_softmax": lambda L, F, x: F.log_softmax(x, 1),
    "gelu": lambda L, F, x: F.gelu(x),
    "gelu_tanh": lambda L, F, x: F.gelu(x, approximate="tanh"),
    "silu": lambda L, F, x: F.silu(x),
    "mish": lambda L, F, x: F.mish(x),
    "softplus": lambda L, F, x: F.softplus(x, beta=2, threshold=1),
    "elu": lambda L, F, x: F.elu(x, 0.7),
    "selu": lambda L, F, x: F.selu(x),
    "celu": lambda L, F, x: F.celu(x, 1.3),
    "logsigmoid": lambda L, F, x: F.logsigmoid(x),
    "tanh": lambda L, F, x: L.tanh(x),
    "sigmoid": lambda L, F, x: L.sigmoid(x),
    "softsign": lambda L, F, x: F.softsign(x),
    "hardswish": lambda L, F, x: F.hardswish(x),
    "leaky_relu": lambda L, F, x: F.leaky_relu(x, 0.1) * x,
    "layer_norm": lambda L, F, x: F.layer_norm(x, (6,)),
    "layer_norm_w": lambda L, F, x: F.layer_norm(
        x, (6,), L.tensor(np.arange(1.0, 7.0)), L.tensor(np.ones(6) * 0.1)
    ),
    "group_norm": lambda L, F, x: F.group_norm(x.reshape(2, 4, 3), 2),
    "batch_norm": lambda L, F, x: F.batch_norm(x, None, None, training=True),
    "instance_norm": lambda L, F, x: F.instance_norm(x.reshape(2, 2, 6)),
    "rms_norm": lambda L, F, x: F.rms_norm(x, (6,)),
    "normalize": lambda L, F, x: F.normalize(x, dim=1),
    "cosine_sim": lambda L, F, x: F.cosine_similarity(x, x.flip(0)),
    "pdist": lambda L, F, x: F.pdist(x),
    "cross_entropy": lambda L, F, x: F.cross_entropy(x, L.tensor(idx)),
    "cross_entropy_ls": lambda L, F, x: F.cross_entropy(x, L.tensor(idx), label_smoothing=0.2),
    "cross_entropy_prob": lambda L, F, x: F.cross_entropy(x, L.softmax(L.tensor(T), 1)),
    "nll": lambda L, F, x: F.nll_loss(F.log_softmax(x, 1), L.tensor(idx)),
    "mse": lambda L, F, x: F.mse_loss(x, L.tensor(T)),
    "huber": lambda L, F, x: F.huber_loss(x, L.tensor(T), delta=0.5),
    "smooth_l1": lambda L, F, x: F.smooth_l1_loss(x, L.tensor(T), beta=0.5),
    "bce": lambda L, F, x: F.binary_cross_entropy(L.sigmoid(x), L.tensor(P)),
    "bce_logits": lambda L, F, x: F.binary_cross_entropy_with_logits(
        x, L.tensor(P), pos_weight=L.tensor(np.arange(1.0, 7.0))
    ),
    "kl_div": lambda L, F, x: F.kl_div(
        F.log_softmax(x, 1), L.softmax(L.tensor(T), 1), reduction="batchmean"
    ),
    "kl_div_log_target": lambda L, F, x: F.kl_div(
        F.log_softmax(x, 1), F.log_softmax(x.flip(0), 1), reduction="sum", log_target=True
    ),
    "poisson_nll": lambda L, F, x: F.poisson_nll_loss(x, L.tensor(np.abs(T))),
    "poisson_nll_nolog": lambda L, F, x: F.poisson_nll_loss(
        L.exp(x), L.tensor(np.abs(T)), log_input=False
    ),
    "gaussian_nll": lambda L, F, x: F.gaussian_nll_loss(x, L.tensor(T), L.exp(x.flip(1))),
    "soft_margin": lambda L, F, x: F.soft_margin_loss(x, L.tensor(np.sign(T))),
    "multilabel_soft_margin": lambda L, F, x: F.multilabel_soft_margin_loss(
        x, L.tensor((T > 0).astype(float))
    ),
    "cosine_embedding": lambda L, F, x: F.cosine_embedding_loss(
        x, x.flip(0) * 2 + 0.1, L.tensor(np.array([1, -1, 1, -1.0]))
    ),
    "triplet": lambda L, F, x: F.triplet_margin_loss(x, x.flip(0), x.flip(1), margin=5.0),
    "margin_ranking": lambda L, F, x: F.margin_ranking_loss(
        x[:, 0], x[:, 1], L.tensor(np.array([1, -1, 1, -1.0])), margin=3.0
    ),
    "multi_margin": lambda L, F, x: F.multi_margin_loss(x, L.tensor(idx), margin=3.0),
    "ctc_like_logsumexp": lambda L, F, x: L.logsumexp(x, 1),
    "sdpa": lambda L, F, x: F.scaled_dot_product_attention(
        x.reshape(1, 4, 6), x.reshape(1, 4, 6).flip(1), x.reshape(1, 4, 6)
    ),
    "conv1d": lambda L, F, x: F.conv1d(x.reshape(1, 4, 6), x[:2, :4].reshape(2, 4, 1) * 1.0),
    "avg_pool": lambda L, F, x: F.avg_pool1d((x * x).reshape(1, 4, 6), 2),
    "interp_linear": lambda L, F, x: F.interpolate(
        (x * x).reshape(1, 4, 6), scale_factor=1.5, mode="linear"
    ),
    "glu": lambda L, F, x: F.glu(x, 1),
    "prelu": lambda L, F, x: F.prelu(x, L.tensor(np.array([0.2]))) * x,
    "dropout_eval": lambda L, F, x: F.dropout(x * x, 0.5, training=False),
    "embedding_like": lambda L, F, x: (x * x)[L.tensor(idx % 4)],
    "std": lambda L, F, x: x.std(1),
    "var_mean": lambda L, F, x: L.var_mean(x, 1)[0],
    "norm_2": lambda L, F, x: L.linalg.vector_norm(x, dim=1),
    "norm_3": lambda L, F, x: L.linalg.vector_norm(x, 3, dim=1),
    "cdist": lambda L, F, x: L.cdist(x, x.flip(0) * 0.5 + 1),
    "logcumsumexp": lambda L, F, x: L.logcumsumexp(x, 1),
    "cumprod": lambda L, F, x: L.cumprod(x, 1),
    "atan2": lambda L, F, x: L.atan2(x, x.flip(0) + 3),
    "lgamma": lambda L, F, x: L.lgamma(x * x + 0.5),
    "digamma": lambda L, F, x: L.digamma(x * x + 0.5),
    "erfinv": lambda L, F, x: L.erfinv(L.tanh(x) * 0.9),
    "xlogy": lambda L, F, x: L.xlogy(x, x * x + 0.1),
    "hypot": lambda L, F, x: L.hypot(x, x.flip(0)),
    "polygamma": lambda L, F, x: L.polygamma(1, x * x + 0.5),
    "sinc": lambda L, F, x: L.sinc(x),
    "matrix_exp": lambda L, F, x: L.linalg.matrix_exp(x[:, :4].reshape(4, 4) * 0.3),
    "det": lambda L, F, x: L.linalg.det(x[:, :4].reshape(4, 4)),
    "inv": lambda L, F, x: L.linalg.inv(x[:, :4].reshape(4, 4) + 3 * L.eye(4, dtype=x.dtype)),
    "cholesky": lambda L, F, x: L.linalg.cholesky(x @ x.T + L.eye(4, dtype=x.dtype)),
    "eigvalsh": lambda L, F, x: L.linalg.eigvalsh(x @ x.T),
    "svdvals": lambda L, F, x: L.linalg.svdvals(x),
    "pinv": lambda L, F, x: L.linalg.pinv(x),
    "solve": lambda L, F, x: L.linalg.solve(x[:, :4] + 3 * L.eye(4, dtype=x.dtype), x[:, 4:]),
    "lstsq": lambda L, F, x: L.linalg.lstsq(x.T, x[0][:, None]).solution,
    "slogdet": lambda L, F, x: L.linalg.slogdet(x[:, :4]).logabsdet,
    "fft": lambda L, F, x: L.fft.rfft(x).abs(),
    "stft_like_fft2": lambda L, F, x: L.fft.fft2(x).abs(),
    "sort": lambda L, F, x: L.sort(x * x, 1).values * x,
    "topk": lambda L, F, x: L.topk(x, 2, 1).values ** 2,
    "max": lambda L, F, x: x.max(1).values ** 2,
    "clamp": lambda L, F, x: L.clamp(x, -0.5, 0.5) * x,
    "where": lambda L, F, x: L.where(x > 0, x * x, x**3),
    "abs": lambda L, F, x: x.abs() * x,
    "relu": lambda L, F, x: F.relu(x) * x,
    "hardtanh": lambda L, F, x: F.hardtanh(x) * x,
}


def _gradients(L, fn):
    x = L.tensor(X, requires_grad=True)
    y = fn(L, L.nn.functional, x)
    w = L.tensor(np.cos(np.arange(y.numel())).reshape(tuple(y.shape)))
    (g,) = L.autograd.grad((y * w).sum(), x, create_graph=True)
    if not g.requires_grad:  # piecewise linear (margin_ranking): PyTorch's g has no graph
        return g.detach().numpy(), np.zeros_like(X)
    (h,) = L.autograd.grad((g * L.tensor(V)).sum(), x, allow_unused=True)
    return g.detach().numpy(), np.zeros_like(X) if h is None else h.numpy()


# PyTorch 2.13 has no double backward for these (NotImplementedError): checked against finite
# differences of tensorgrad's own first derivative instead
_TORCH_LACKS = {"cdist", "pdist", "multi_margin"}


@pytest.mark.parametrize("name", sorted(set(FNS) - _TORCH_LACKS))
def test_double_backward_matches_torch(name):
    want_g, want_h = _gradients(torch, FNS[name])
    got_g, got_h = _gradients(tg, FNS[name])
    np.testing.assert_allclose(got_g, want_g, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(got_h, want_h, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", sorted(_TORCH_LACKS))
def test_double_backward_where_torch_has_none(name):
    fn = FNS[name]
    with pytest.raises((NotImplementedError, RuntimeError)):
        _gradients(torch, fn)
    y = fn(tg, tg.nn.functional, tg.tensor(X))
    w = np.cos(np.arange(y.numel())).reshape(tuple(y.shape))

    def loss(x):  # finite differences evaluate on arrays: Tensors for the functions here
        return (fn(tg, tg.nn.functional, tg.as_tensor(x)) * tg.tensor(w)).sum()

    tg.check_grads(loss, modes=("rev",), order=2)(X)
