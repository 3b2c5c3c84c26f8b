"""A hand-written NumPy MLP: the baseline that tensorgrad's MLP benchmark is measured against.

784-512-256-10, ReLU, softmax cross-entropy (mean over the batch), one SGD step, float32. The
backward pass is written out by hand and avoids needless copies: the ReLUs and the softmax
gradient work in place, transposes are views handed straight to ``@``, and the SGD update
reuses the gradient buffers. This is what a careful person writes without any framework.
"""

import numpy as np

SIZES = (784, 512, 256, 10)
BATCH = 128
LR = 0.01


def init_params(seed=0, sizes=SIZES):
    """``[W1, b1, W2, b2, W3, b3]`` in float32: He-normal weights, small random biases."""
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        w = rng.standard_normal((fan_in, fan_out), dtype=np.float32)
        w *= np.float32(np.sqrt(2.0 / fan_in))
        b = rng.standard_normal(fan_out, dtype=np.float32)
        b *= np.float32(0.01)
        params += [w, b]
    return params


def make_batch(seed=1, batch=BATCH, sizes=SIZES):
    """A float32 input batch and integer class labels."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], size=batch)
    return x, y


def loss_and_grads(params, x, y, xp=np):
    """The mean softmax cross-entropy and its gradients ``[dW1, db1, dW2, db2, dW3, db3]``.
    ``xp``: the array module of the arrays (CuPy for the GPU floor, ``cupy_mlp``)."""
    w1, b1, w2, b2, w3, b3 = params
    n = x.shape[0]
    rows = xp.arange(n)

    # forward; each ReLU runs in place: h > 0 exactly where the pre-activation is > 0
    h1 = x @ w1
    h1 += b1
    xp.maximum(h1, 0, out=h1)
    h2 = h1 @ w2
    h2 += b2
    xp.maximum(h2, 0, out=h2)
    z = h2 @ w3
    z += b3
    z -= z.max(axis=1, keepdims=True)  # log-softmax(z) = z - log(sum(exp(z))), shifted
    e = xp.exp(z)
    s = e.sum(axis=1, keepdims=True)
    loss = xp.log(s).mean() - z[rows, y].mean()

    # backward: dloss/dz = (softmax(z) - onehot(y)) / n, built in e's buffer
    s *= n
    e /= s
    e[rows, y] -= np.float32(1.0 / n)
    dw3 = h2.T @ e
    db3 = e.sum(axis=0)
    g = e @ w3.T
    g *= h2 > 0
    dw2 = h1.T @ g
    db2 = g.sum(axis=0)
    g = g @ w2.T
    g *= h1 > 0
    dw1 = x.T @ g
    db1 = g.sum(axis=0)
    return loss, [dw1, db1, dw2, db2, dw3, db3]


def sgd_update(params, grads, lr=LR):
    """``p -= lr * g`` for each parameter, in place; the gradient buffers are overwritten."""
    for p, g in zip(params, grads, strict=True):
        g *= -lr
        p += g


def train_step(params, x, y, lr=LR):
    """One SGD step on the batch; returns the loss before the step."""
    loss, grads = loss_and_grads(params, x, y)
    sgd_update(params, grads, lr)
    return loss
