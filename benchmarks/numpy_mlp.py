"""A hand-written NumPy MLP: the floor that the MLP benchmarks (W3, W4, scaling) are measured
against.

784-512-256-10 by default (any list of sizes works), ReLU, softmax cross-entropy (mean over
the batch), one SGD step, float32. The backward pass is written out by hand and avoids
needless copies: the ReLUs and the softmax gradient work in place, transposes are views handed
straight to ``@``, and the SGD update reuses the gradient buffers. This is what a careful
person writes without any framework.
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
    """The mean softmax cross-entropy and its gradients ``[dW1, db1, dW2, db2, ...]``, for
    any number of layers (``params`` as from ``init_params``). ``xp``: the array module of the
    arrays (CuPy for the GPU floor, ``cupy_mlp``)."""
    ws, bs = params[0::2], params[1::2]
    n = x.shape[0]
    rows = xp.arange(n)

    # forward; each ReLU runs in place: h > 0 exactly where the pre-activation is > 0
    hs = [x]  # the input of each layer
    for w, b in zip(ws[:-1], bs[:-1], strict=True):
        h = hs[-1] @ w
        h += b
        xp.maximum(h, 0, out=h)
        hs.append(h)
    z = hs[-1] @ ws[-1]
    z += bs[-1]
    z -= z.max(axis=1, keepdims=True)  # log-softmax(z) = z - log(sum(exp(z))), shifted
    e = xp.exp(z)
    s = e.sum(axis=1, keepdims=True)
    loss = xp.log(s).mean() - z[rows, y].mean()

    # backward: dloss/dz = (softmax(z) - onehot(y)) / n, built in e's buffer
    s *= n
    e /= s
    e[rows, y] -= np.float32(1.0 / n)
    grads = [None] * len(params)
    g = e
    for i in range(len(ws) - 1, -1, -1):
        grads[2 * i] = hs[i].T @ g
        grads[2 * i + 1] = g.sum(axis=0)
        if i:
            g = g @ ws[i].T
            g *= hs[i] > 0
    return loss, grads


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
