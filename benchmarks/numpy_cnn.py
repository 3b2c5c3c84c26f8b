"""A hand-written NumPy CNN with im2col: the floor of the CNN benchmark (W5).

Batch 32 of 1x28x28, conv 3x3 1->16, ReLU, conv 3x3 16->32, ReLU, global average pool, linear
32->10, softmax cross-entropy (mean), one SGD step, float32. Parameters are kept in PyTorch's
layout (conv weights (out, in, kh, kw), linear weight (out, in)) so that every framework loads
the same arrays. Activations are kept channels-last (N, H, W, C) inside: im2col is then one
strided view and one copy per convolution, each convolution one matrix product, and col2im
nine slice additions (one per kernel offset), with no Python loop over the batch.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

BATCH, SIDE, CLASSES = 32, 28, 10
CHANNELS = (1, 16, 32)
K = 3
LR = 0.01


def init_params(seed=0):
    """``[W1, b1, W2, b2, W3, b3]`` in float32, He-normal weights, small biases."""
    rng = np.random.default_rng(seed)
    params = []
    for c_in, c_out in zip(CHANNELS[:-1], CHANNELS[1:], strict=True):
        w = rng.standard_normal((c_out, c_in, K, K), dtype=np.float32)
        w *= np.float32(np.sqrt(2.0 / (c_in * K * K)))
        params += [w, np.float32(0.01) * rng.standard_normal(c_out, dtype=np.float32)]
    w = rng.standard_normal((CLASSES, CHANNELS[-1]), dtype=np.float32)
    w *= np.float32(np.sqrt(1.0 / CHANNELS[-1]))
    params += [w, np.float32(0.01) * rng.standard_normal(CLASSES, dtype=np.float32)]
    return params


def make_batch(seed=1, batch=BATCH):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, 1, SIDE, SIDE), dtype=np.float32)
    return x, rng.integers(0, CLASSES, size=batch)


def im2col(h):
    """(N, H, W, C) -> (N * H' * W', C * K * K), columns ordered (c, kh, kw) as the weight."""
    n, hh, ww, c = h.shape
    return sliding_window_view(h, (K, K), axis=(1, 2)).reshape(
        n * (hh - K + 1) * (ww - K + 1), c * K * K)


def col2im(dcols, shape):
    """The adjoint of ``im2col``: (N * H' * W', C * K * K) -> (N, H, W, C)."""
    n, hh, ww, c = shape
    ho, wo = hh - K + 1, ww - K + 1
    d = dcols.reshape(n, ho, wo, c, K, K)
    out = np.zeros(shape, dtype=dcols.dtype)
    for i in range(K):
        for j in range(K):
            out[:, i:i + ho, j:j + wo, :] += d[..., i, j]
    return out


def loss_and_grads(params, x, y):
    """The mean cross-entropy and the gradients ``[dW1, db1, dW2, db2, dW3, db3]``."""
    w1, b1, w2, b2, w3, b3 = params
    n = x.shape[0]
    rows = np.arange(n)
    x = x.reshape(n, SIDE, SIDE, 1)  # one channel: NCHW and NHWC are the same array
    c1, c2 = CHANNELS[1], CHANNELS[2]
    w1m, w2m = w1.reshape(c1, -1), w2.reshape(c2, -1)

    cols1 = im2col(x)
    h1 = cols1 @ w1m.T
    h1 += b1
    np.maximum(h1, 0, out=h1)
    h1 = h1.reshape(n, SIDE - 2, SIDE - 2, c1)
    cols2 = im2col(h1)
    h2 = cols2 @ w2m.T
    h2 += b2
    np.maximum(h2, 0, out=h2)
    positions = (SIDE - 4) ** 2
    pooled = h2.reshape(n, positions, c2).mean(axis=1)
    z = pooled @ w3.T
    z += b3
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    loss = np.log(s).mean() - z[rows, y].mean()

    s *= n
    e /= s
    e[rows, y] -= np.float32(1.0 / n)  # dloss/dz
    dw3 = e.T @ pooled
    db3 = e.sum(axis=0)
    dpooled = e @ w3
    dpooled /= np.float32(positions)
    dh2 = np.broadcast_to(dpooled[:, None, :], (n, positions, c2)).reshape(-1, c2)
    dh2 = dh2 * (h2 > 0)
    dw2 = (dh2.T @ cols2).reshape(w2.shape)
    db2 = dh2.sum(axis=0)
    dh1 = col2im(dh2 @ w2m, h1.shape)
    dh1 *= h1 > 0
    dh1 = dh1.reshape(-1, c1)
    dw1 = (dh1.T @ cols1).reshape(w1.shape)
    db1 = dh1.sum(axis=0)
    return loss, [dw1, db1, dw2, db2, dw3, db3]


def train_step(params, x, y, lr=LR):
    """One SGD step in place; returns the loss before the step."""
    loss, grads = loss_and_grads(params, x, y)
    for p, g in zip(params, grads, strict=True):
        g *= -lr
        p += g
    return loss
