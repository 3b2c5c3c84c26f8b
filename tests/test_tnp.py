"""tensorgrad.numpy: NumPy's names, kinds of values in and out, graph cutting."""

import numpy as onp
import pytest
from devices import host, on, put

import tensorgrad as tg
import tensorgrad.numpy as np


def test_constants_and_dtypes_pass_through():
    assert np.pi == onp.pi and np.e == onp.e and np.inf == onp.inf and onp.isnan(np.nan)
    assert np.newaxis is None
    assert np.float32 is onp.float32 and np.float64 is onp.float64


def test_random_is_plain_numpy():
    np.random.seed(0)
    a = np.random.randn(3)
    assert type(a) is onp.ndarray


def test_array_of_tensors_stacks_and_keeps_the_graph(device):
    x = tg.tensor(2.0, dtype="float64", requires_grad=True, device=device)
    v = np.array([x, x * 3, 1.0])
    assert isinstance(v, tg.Tensor) and v.shape == (3,) and on(v, device)
    v.sum().backward()
    assert x.grad.item() == 4.0 and on(x.grad, device)


def test_non_differentiable_functions_cut_the_graph(device):
    x = tg.tensor([0.5, -1.5], requires_grad=True, device=device)
    for f in (np.floor, np.sign, np.ceil, lambda t: np.argmax(t), lambda t: t > 0,
              np.zeros_like, np.isnan):
        y = f(x)
        assert isinstance(y, tg.Tensor) and not y.requires_grad and on(y, device)


def test_function_without_derivative_refuses_a_tensor_that_carries_one(device):
    x = tg.tensor([0.5, 1.5], requires_grad=True, device=device)
    with pytest.raises(NotImplementedError, match="nanmedian"):
        np.nanmedian(x)
    out = np.nanmedian(put(onp.array([1.0, 2.0, 3.0]), device))
    assert on(out, device) and host(out) == 2.0
    out = np.nanmedian(tg.tensor([1.0, 2.0, 3.0], device=device))
    assert on(out, device) and out.item() == 2.0


def test_reductions_take_numpy_signatures(device):
    a = onp.arange(12.0).reshape(3, 4)
    t = tg.tensor(a, device=device)
    ad = put(a, device)
    for name in ("sum", "mean", "max", "min", "prod", "var", "std"):
        for kw in ({}, {"axis": 1}, {"axis": (0, 1)}, {"axis": 0, "keepdims": True}):
            want = getattr(onp, name)(a, **kw)
            got_t, got_a = getattr(np, name)(t, **kw), getattr(np, name)(ad, **kw)
            assert on(got_t, device) and on(got_a, device)
            onp.testing.assert_allclose(host(got_t), want, rtol=1e-6)
            onp.testing.assert_allclose(host(got_a), want)


@pytest.mark.parametrize("f", [
    lambda x: np.tensordot(x, x, axes=([1], [1])),
    lambda x: np.outer(x[0], x[1]),
    lambda x: np.trace(x[:, :3]),
    lambda x: np.diag(x[0]),
    lambda x: np.diagonal(x),
    lambda x: np.triu(x) + np.tril(x, -1) * 2,
    lambda x: np.concatenate([x, x ** 2], axis=1),
    lambda x: np.stack([x, -x], axis=2),
    lambda x: np.hstack([x, x])[:, 2:6] * np.vstack([x, x])[2:5],
    lambda x: np.moveaxis(x[:, :, None] * x[:, None, :], 0, 2),
    lambda x: np.flip(x, 1)[np.newaxis],
    lambda x: np.split(x, 2, axis=1)[1],
    lambda x: np.take(x, [0, 2, 2], axis=1),
    lambda x: np.logsumexp(x, axis=1),
    lambda x: np.where(x > 0, np.exp(x), np.log1p(x ** 2)),
    lambda x: np.dot(x, x.T),
    lambda x: np.dot(x[0], x[1]),
    lambda x: np.inner(x, x),
    lambda x: np.clip(x, -0.5, 0.5) + np.maximum(x, 0.1) * np.minimum(x, 0.2),
], ids=["tensordot", "outer", "trace", "diag", "diagonal", "triu", "concat", "stack", "hvstack",
        "moveaxis", "flip", "split", "take", "logsumexp", "where", "dot2", "dot1", "inner",
        "clipmax"])
def test_tnp_functions_check_grads(f, device):
    x = put(onp.random.default_rng(3).standard_normal((3, 4)), device)
    assert on(f(x), device)
    tg.check_grads(f, modes=("fwd", "rev"), order=2)(x)


def test_reductions_of_python_sequences_of_tensors_keep_derivatives():
    assert tg.grad(lambda x: np.sum([x, x * x]))(3.0) == 7.0
    assert tg.grad(lambda x: np.max([x, 2 * x]))(3.0) == 2.0
    assert tg.grad(lambda x: np.mean((x, 3 * x)))(1.0) == 2.0
