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
    its gradients ``[dW1, db1, dW2, db2, dW3, db3]``: ``numpy_mlp``'s very code, on the
    arrays' module."""
    return numpy_mlp.loss_and_grads(params, x, y, xp=_xp(x))


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
