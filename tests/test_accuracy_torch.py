"""Accuracy against PyTorch's where rounding decides it: float16 activations, losses and
reductions (PyTorch's kernels compute half in float32) measured against a float64 reference,
and variances of data far from 0."""

import numpy as np
import pytest

import tensorgrad as tg

torch = pytest.importorskip("torch")

X16 = np.concatenate([np.linspace(-8, 8, 161), [-20, -12, 12, 20, 1e-3, -1e-3]]).astype(
    np.float16)
def _special(name):
    return lambda L, t: getattr(L.special, name)(t)


def _functional(name, **kw):
    return lambda L, t: getattr(L.nn.functional, name)(t, **kw)


def _positive(name, shift=0.01):
    return lambda L, t: getattr(L, name)(L.abs(t) + shift)


def _zero_target(L, t):
    return L.zeros(1, dtype=L.int64, device=t.device)


FNS = {  # each: a float16 result of the float16 input t, written once for torch and tensorgrad
    **{n: _functional(n) for n in (
        "gelu silu mish softplus elu selu celu leaky_relu hardswish hardsigmoid logsigmoid "
        "tanhshrink softsign sigmoid tanh relu6 hardtanh softshrink").split()},
    **{n: (lambda n: lambda L, t: getattr(L, n)(t))(n) for n in (
        "erf erfc exp expm1 sin cos tan atan asinh sinh cosh lgamma digamma sinc exp2").split()},
    **{n: _positive(n) for n in ("log", "sqrt", "rsqrt", "reciprocal")},
    **{f"special.{n}": _special(n) for n in ("ndtr", "i0e")},
    **{f"{n}0": (lambda n: lambda L, t: getattr(L, n)(t, 0))(n) for n in (
        "var", "std", "mean", "sum", "cumsum", "logsumexp")},
    "log1p": _positive("log1p", 0),
    "gelu_tanh": _functional("gelu", approximate="tanh"),
    "rrelu_eval": _functional("rrelu", training=False),
    "softplus_beta2": _functional("softplus", beta=2),
    "normalize": _functional("normalize", dim=0),
    "glu": lambda L, t: L.nn.functional.glu(t[:166], 0),
    "softmin": _functional("softmin", dim=0),
    "softmax": _functional("softmax", dim=0),
    "log_softmax": _functional("log_softmax", dim=0),
    "erfinv": lambda L, t: L.erfinv(t / 21),
    "logit": lambda L, t: L.logit(L.sigmoid(t * 0.3)),
    "special.xlog1py": lambda L, t: L.special.xlog1py(t, L.abs(t)),
    "logaddexp": lambda L, t: L.logaddexp(t, t * 0.5),
    "layer_norm": lambda L, t: L.nn.functional.layer_norm(t.reshape(-1, 167), (167,)),
    "rms_norm": lambda L, t: L.nn.functional.rms_norm(t.reshape(-1, 167), (167,)),
    "bce_with_logits": lambda L, t: L.nn.functional.binary_cross_entropy_with_logits(
        t, L.sigmoid(t * 0.5), reduction="none"),
    "mse": lambda L, t: L.nn.functional.mse_loss(t, t * 0.9),
    "cosine_similarity": lambda L, t: L.nn.functional.cosine_similarity(t[None], (t * t)[None]),
    "kl_div": lambda L, t: L.nn.functional.kl_div(
        L.nn.functional.log_softmax(t, 0), L.nn.functional.softmax(t * 0.5, 0), reduction="sum"),
    "poisson_nll": lambda L, t: L.nn.functional.poisson_nll_loss(
        t * 0.1, L.abs(t), reduction="none"),
    "huber": lambda L, t: L.nn.functional.huber_loss(t, t * 0.5, reduction="none"),
    "smooth_l1": lambda L, t: L.nn.functional.smooth_l1_loss(t, t * 0.5, reduction="none"),
    "cross_entropy": lambda L, t: L.nn.functional.cross_entropy(
        t.reshape(1, -1), _zero_target(L, t)),
    "nll": lambda L, t: L.nn.functional.nll_loss(
        L.nn.functional.log_softmax(t.reshape(1, -1), 1), _zero_target(L, t)),
}

def _error(got, ref):
    with np.errstate(all="ignore"):
        finite = np.isfinite(ref)
        scale = np.maximum(np.abs(ref), 6e-5)  # below: float16's subnormals
        return np.nanmax(np.where(finite, np.abs(got - ref) / scale, 0))


@pytest.mark.parametrize("name", sorted(FNS))
def test_float16_accuracy_as_torch(name, device):
    # gelu(-4) was 0 in float16 (-1.27e-4) and sigmoid(-12) 0 (6.1e-6), sinc 5x off near its
    # zeros, a cumulative sum of 167 halves off by 651x its small partial sums
    fn = FNS[name]
    ref = fn(torch, torch.tensor(X16.astype(np.float64))).numpy()
    want = _error(fn(torch, torch.tensor(X16)).double().numpy(), ref)
    got = fn(tg, tg.tensor(X16, device=device))
    assert got.dtype == np.float16
    assert _error(got.astype(np.float64).numpy(), ref) <= 2 * want + 2e-3


@pytest.mark.parametrize("shape, dim", [((5000, 3), 0), ((4, 5000), 1), ((10000,), None)])
def test_variance_of_offset_data_as_accurate_as_torch(shape, dim, device):
    # a naive float32 sum along a strided axis put the mean ~1e-5 off; var(0) of 1e4 + N(0, 1)
    # was 3e-4 off, PyTorch's 3e-8 (the corrected two-pass sum: 6e-6)
    x = (np.random.default_rng(0).standard_normal(shape) + 1e4).astype(np.float32)
    ref = x.astype(np.float64).var(axis=dim, ddof=1)
    got = tg.tensor(x, device=device).var(dim)
    np.testing.assert_allclose(got.numpy(), ref, rtol=2e-5)
    np.testing.assert_allclose(tg.tensor(x, device=device).std(dim).numpy(), np.sqrt(ref),
                               rtol=2e-5)
