"""``tensorgrad.test_util``: autograd's ``check_grads`` calling form,
``check_grads(f, argnum=0, modes=["fwd", "rev"], order=2)(*args)``: only the argument
``argnum`` is checked, as in autograd. (``tensorgrad.check_grads`` checks all of them.)

>>> import numpy as np, tensorgrad.numpy as tnp
>>> check_grads(lambda x, y: tnp.sin(x) * y, modes=["rev"])(np.array([0.3]), 2.0)
"""

import functools

from .testing import check_grads as _check_grads

__all__ = ["check_grads"]


def check_grads(f, argnum=0, modes=("fwd", "rev"), order=2):
    def checker(*args, **kwargs):  # keyword arguments go to f, held fixed (as autograd)
        g = functools.partial(f, **kwargs) if kwargs else f
        return _check_grads(g, modes=tuple(modes), order=order, argnum=argnum)(*args)

    return checker
