"""A hand-written CuPy MLP: the floor that tensorgrad's GPU MLP benchmark is measured against.

The same model and the same hand-written backward pass as ``numpy_mlp.py``, on the GPU: a
three-layer ReLU MLP (784-512-256-10 by default; the GPU benchmark uses 784-2048-2048-10),
softmax cross-entropy (mean over the batch), one SGD step, float32. It makes the same
cuBLAS calls as any framework must (``@`` with transposed views, no copies) and the same
elementwise math, in place wherever the hand-written NumPy step works in place, with no tape,
no graph and no Python objects per op. This is what a careful person writes with CuPy alone.

Every function takes its array module from its arguments (``cupy.get_array_module``), so the
same code also runs on NumPy arrays; the tests of the benchmark logic use that on machines
without a GPU. The parameters and batches are ``numpy_mlp``'s, moved to the device: both
baselines start from the very same numbers.
"""

import numpy as np
import numpy_mlp

try:  # CuPy is optional: without it every function here computes with NumPy
    import cupy
except Exception:  # ImportError, or a CuPy that cannot load its CUDA libraries
    cupy = None

SIZES = numpy_mlp.SIZES
BATCH = numpy_mlp.BATCH
LR = numpy_mlp.LR


def _xp(*arrays):
    return np if cupy is None else cupy.get_array_module(*arrays)


def _default_xp():
    return np if cupy is None else cupy


def init_params(seed=0, sizes=SIZES, xp=None):
    """``[W1, b1, W2, b2, ...]`` in float32 on the device (``xp``, CuPy by default): the
    parameters of ``numpy_mlp.init_params`` with the same seed."""
    xp = _default_xp() if xp is None else xp
    return [xp.asarray(p) for p in numpy_mlp.init_params(seed, sizes)]


def make_batch(seed=1, batch=BATCH, sizes=SIZES, xp=None):
    """``numpy_mlp.make_batch``'s float32 inputs and integer labels, on the device."""
    xp = _default_xp() if xp is None else xp
    x, y = numpy_mlp.make_batch(seed, batch, sizes)
    return xp.asarray(x), xp.asarray(y)


def loss_and_grads(params, x, y):
    """The mean softmax cross-entropy (a 0-d device array: reading it would synchronise) and
    its gradients ``[dW1, db1, dW2, db2, dW3, db3]``; line for line ``numpy_mlp``'s."""
    xp = _xp(x)
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
    """One SGD step on the batch; returns the loss before the step (a 0-d device array). The
    work is queued on the GPU: synchronise before reading a clock."""
    loss, grads = loss_and_grads(params, x, y)
    sgd_update(params, grads, lr)
    return loss
