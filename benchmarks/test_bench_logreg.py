"""W1: the lecture's logistic regression (examples/logistic_regression.py), 100 gradient steps.

4 x 3 inputs, float64, ``weights -= grad(training_loss)(weights) * 0.01`` a hundred times: a
tiny problem where everything is per-op overhead. One call is the whole 100-step run.

- numpy: the gradient written out by hand (the floor);
- tensorgrad and HIPS autograd: the example's code, with only the import lines changed;
- torch: a leaf tensor, ``loss.backward()``, ``torch.optim.SGD``;
- jax: ``jax.grad`` of the same function, compiled by ``jax.jit`` or eager.
"""

import numpy as onp
from harness import Workload, assert_close, jax_or_none, optional

import tensorgrad as tg
import tensorgrad.numpy as tnp

INPUTS = onp.array([[0.52, 1.12, 0.77], [0.88, -1.08, 0.15],
                    [0.52, 0.06, -1.30], [0.74, -2.49, 1.39]])
TARGETS = onp.array([True, True, False, True])
STEPS, LR = 100, 0.01
FINAL_LOSS = 0.38900754315581143  # what the example prints after training


def training_loss_fn(np):
    """The example's loss, written against the NumPy namespace ``np`` (tnp, autograd.numpy,
    jax.numpy)."""
    def sigmoid(x):
        return 0.5 * (np.tanh(x) + 1)

    def training_loss(weights):
        preds = sigmoid(np.dot(INPUTS, weights))
        label_probabilities = preds * TARGETS + (1 - preds) * (1 - TARGETS)
        return -np.sum(np.log(label_probabilities))

    return training_loss


def function_api(np, grad):
    """The example's training loop; returns the trained weights."""
    training_gradient_fun = grad(training_loss_fn(np))

    def run():
        weights = onp.array([0.0, 0.0, 0.0])
        for _ in range(STEPS):
            weights = weights - training_gradient_fun(weights) * LR
        return weights

    return run


def hand_written():
    """The gradient written out by hand: the floor for any tape."""
    t = TARGETS.astype(float)
    sign = 2 * t - 1

    def run():
        w = onp.zeros(3)
        for _ in range(STEPS):
            th = onp.tanh(INPUTS @ w)
            p = 0.5 * (th + 1)
            q = p * t + (1 - p) * (1 - t)
            dz = (-0.5 / q) * sign * (1 - th * th)  # d(-log q)/dz through p = (tanh(z) + 1) / 2
            w = w - (INPUTS.T @ dz) * LR
        return w

    return run


def torch_run(torch):
    x = torch.from_numpy(INPUTS)
    t = torch.from_numpy(TARGETS.astype(onp.float64))

    def run():
        w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.SGD([w], lr=LR)
        for _ in range(STEPS):
            opt.zero_grad()
            preds = 0.5 * (torch.tanh(x @ w) + 1)
            loss = -torch.log(preds * t + (1 - preds) * (1 - t)).sum()
            loss.backward()
            opt.step()
        return w.detach()

    return run


def jax_runs(jax):
    import jax.numpy as jnp

    grad = jax.grad(training_loss_fn(jnp))
    out = {}
    for name, g in (("jax.jit", jax.jit(grad)), ("jax eager", grad)):
        def run(g=g):
            weights = jnp.zeros(3)
            for _ in range(STEPS):
                weights = weights - g(weights) * LR
            return jax.block_until_ready(weights)
        out[name] = run
    return out


def build(check=True, only=None):
    runs = {"numpy": hand_written(), "tensorgrad": function_api(tnp, tg.grad)}
    torch = optional("torch")
    if torch is not None:
        runs["torch"] = torch_run(torch)
    autograd = optional("autograd")
    if autograd is not None:
        import autograd.numpy as anp

        runs["autograd"] = function_api(anp, autograd.grad)
    jax = jax_or_none()
    if jax is not None:
        runs.update(jax_runs(jax))
    if only is not None:
        runs = {k: v for k, v in runs.items() if k in only}
    if check:
        check_runs(runs)
    return runs


def check_runs(runs):
    """Every implementation ends at the hand-written run's weights (100 steps, so every
    gradient along the way agreed), and the loss there is the example's."""
    want = hand_written()()
    assert abs(training_loss_fn(onp)(want) - FINAL_LOSS) < 1e-12
    for name, run in runs.items():
        assert_close(f"W1 {name}: trained weights", run(), want, rtol=1e-10, atol=1e-12)


WORKLOAD = Workload("W1", "logistic regression (lecture), 4x3 float64, 100 gradient steps",
                    build, unit="100 steps", rounds=21)


def test_logreg_all_agree():
    runs = build()
    assert {"numpy", "tensorgrad"} <= set(runs)


def test_logreg_floor_gradient_matches_finite_differences():
    """The hand-written gradient (one step from zero) against central differences."""
    loss = training_loss_fn(onp)
    w = onp.array([0.3, -0.2, 0.1])
    eps = 1e-6
    numeric = onp.array([(loss(w + eps * e) - loss(w - eps * e)) / (2 * eps)
                         for e in onp.eye(3)])
    analytic = onp.asarray(tg.grad(training_loss_fn(tnp))(w))
    assert_close("tensorgrad gradient", analytic, numeric, rtol=1e-7)
    t = TARGETS.astype(float)
    th = onp.tanh(INPUTS @ w)
    q = 0.5 * (th + 1) * t + (1 - 0.5 * (th + 1)) * (1 - t)
    hand = INPUTS.T @ ((-0.5 / q) * (2 * t - 1) * (1 - th * th))
    assert_close("hand-written gradient", hand, numeric, rtol=1e-7)
