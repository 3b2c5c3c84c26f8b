"""Gradient-based stochastic optimizers with HIPS autograd's calling convention.

``adam(grad, x0, callback=None, num_iters=100, step_size=0.001, b1=0.9, b2=0.999, eps=1e-8)``
calls ``grad(x, i)`` at iteration ``i`` (and ``callback(x, i, g)`` when given) and returns the
final ``x``. ``x0`` may be an array or any nesting of lists, tuples and dicts of arrays: the
optimizers work on its flattened vector (see :func:`tensorgrad.misc.flatten`), so ``grad``
and ``callback`` see the same structure as ``x0``. The updates are plain array arithmetic:
float32 parameters stay float32, CuPy arrays stay on their GPU, and Tensors stay on the graph
(a differentiable optimization run, for meta-learning).

>>> import numpy as np
>>> x = adam(lambda x, i: 2 * (x - 3.0), np.zeros(2), num_iters=500, step_size=0.1)
>>> np.round(x, 3)
array([3., 3.])
"""

import functools

from .. import numpy as tnp
from .flatten import flatten


def unflatten_optimizer(optimize):
    """Turn an optimizer of flat vectors into one of nested containers of arrays."""

    @functools.wraps(optimize)
    def optimize_structured(grad, x0, callback=None, *args, **kwargs):
        flat_x0, unflatten = flatten(x0)

        def flat_grad(x, i):
            return flatten(grad(unflatten(x), i))[0]

        flat_callback = None
        if callback is not None:
            def flat_callback(x, i, g):
                return callback(unflatten(x), i, unflatten(g))

        return unflatten(optimize(flat_grad, flat_x0, flat_callback, *args, **kwargs))

    return optimize_structured


@unflatten_optimizer
def sgd(grad, x, callback=None, num_iters=200, step_size=0.1, mass=0.9):
    """Stochastic gradient descent with momentum: the velocity is a running average of
    negative gradients, ``v = mass * v - (1 - mass) * g; x = x + step_size * v``."""
    velocity = x * 0
    for i in range(num_iters):
        g = grad(x, i)
        if callback:
            callback(x, i, g)
        velocity = mass * velocity - (1.0 - mass) * g
        x = x + step_size * velocity
    return x


@unflatten_optimizer
def rmsprop(grad, x, callback=None, num_iters=100, step_size=0.1, gamma=0.9, eps=1e-8):
    """RMSProp: steps divided by a running root mean square of the gradients (which starts
    at one)."""
    avg_sq_grad = x * 0 + 1
    for i in range(num_iters):
        g = grad(x, i)
        if callback:
            callback(x, i, g)
        avg_sq_grad = avg_sq_grad * gamma + g * g * (1 - gamma)
        x = x - step_size * g / (tnp.sqrt(avg_sq_grad) + eps)
    return x


@unflatten_optimizer
def adam(grad, x, callback=None, num_iters=100, step_size=0.001, b1=0.9, b2=0.999, eps=1e-8):
    """Adam (Kingma and Ba, arXiv:1412.6980): running averages of the gradient and of its
    square, with their start-up bias corrected."""
    m = x * 0
    v = x * 0
    for i in range(num_iters):
        g = grad(x, i)
        if callback:
            callback(x, i, g)
        m = (1 - b1) * g + b1 * m
        v = (1 - b2) * (g * g) + b2 * v
        mhat = m / (1 - b1 ** (i + 1))
        vhat = v / (1 - b2 ** (i + 1))
        x = x - step_size * mhat / (tnp.sqrt(vhat) + eps)
    return x


__all__ = ["sgd", "rmsprop", "adam", "unflatten_optimizer"]
