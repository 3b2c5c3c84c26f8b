"""The function API against HIPS autograd, measured in the same process.

- ``seed``: the lecture's logistic regression, 100 steps of ``grad(training_loss)``.
- ``hessian100``: the Hessian of a 100-dimensional function (tensorgrad: forward over reverse).
Both are skipped for autograd when it is not installed (it is in the ``dev`` extra).
"""

import numpy as onp
import pytest

import tensorgrad as tg
import tensorgrad.numpy as tnp

INPUTS = onp.array([[0.52, 1.12, 0.77], [0.88, -1.08, 0.15],
                    [0.52, 0.06, -1.30], [0.74, -2.49, 1.39]])
TARGETS = onp.array([True, True, False, True])


def seed_example(np, grad):
    def sigmoid(x):
        return 0.5 * (np.tanh(x) + 1)

    def training_loss(weights):
        preds = sigmoid(np.dot(INPUTS, weights))
        label_probabilities = preds * TARGETS + (1 - preds) * (1 - TARGETS)
        return -np.sum(np.log(label_probabilities))

    training_gradient_fun = grad(training_loss)

    def run():
        weights = onp.array([0.0, 0.0, 0.0])
        for _ in range(100):
            weights = weights - training_gradient_fun(weights) * 0.01
        return training_loss(weights)

    return run


def hand_written_seed():
    """The gradient of the seed example written out by hand: the floor for any tape."""
    t = TARGETS.astype(float)

    def run():
        w = onp.zeros(3)
        for _ in range(100):
            p = 0.5 * (onp.tanh(INPUTS @ w) + 1)
            q = p * t + (1 - p) * (1 - t)
            dq = -1.0 / q
            dp = dq * (2 * t - 1)
            dz = dp * 0.5 * (1 - onp.tanh(INPUTS @ w) ** 2)
            w = w - (INPUTS.T @ dz) * 0.01
        return w

    return run


def hessian_problem(np):
    rng = onp.random.default_rng(0)
    A = rng.standard_normal((100, 100)) / 10

    def f(x):
        return np.sum(np.tanh(np.dot(A, x)) ** 2) + np.sum(x ** 4)

    return f, rng.standard_normal(100)


def _autograd():
    autograd = pytest.importorskip("autograd")
    import autograd.numpy as anp

    return autograd, anp


@pytest.mark.benchmark(group="seed: 100 steps of grad")
def test_seed_tensorgrad(benchmark, record_ratio):
    loss = benchmark(seed_example(tnp, tg.grad))
    assert abs(loss - 0.38900754315581143) < 1e-12
    record_ratio("seed", "tensorgrad", benchmark)


@pytest.mark.benchmark(group="seed: 100 steps of grad")
def test_seed_autograd(benchmark, record_ratio):
    autograd, anp = _autograd()
    loss = benchmark(seed_example(anp, autograd.grad))
    assert abs(loss - 0.38900754315581143) < 1e-12
    record_ratio("seed", "autograd", benchmark)


@pytest.mark.benchmark(group="seed: 100 steps of grad")
def test_seed_hand_written(benchmark, record_ratio):
    benchmark(hand_written_seed())
    record_ratio("seed", "hand-written", benchmark)


@pytest.mark.benchmark(group="hessian of a 100-d function")
def test_hessian_tensorgrad(benchmark, record_ratio):
    f, x = hessian_problem(tnp)
    H = benchmark(tg.hessian(f), x)
    assert H.shape == (100, 100)
    onp.testing.assert_allclose(H, H.T, atol=1e-10)
    record_ratio("hessian100", "tensorgrad", benchmark)


@pytest.mark.benchmark(group="hessian of a 100-d function")
def test_hessian_autograd(benchmark, record_ratio):
    autograd, anp = _autograd()
    f, x = hessian_problem(anp)
    H = benchmark(autograd.hessian(f), x)
    f_tg, _ = hessian_problem(tnp)
    onp.testing.assert_allclose(H, tg.hessian(f_tg)(x), rtol=1e-9, atol=1e-9)
    record_ratio("hessian100", "autograd", benchmark)
