"""PyTorch's top-level names and Tensor methods around Householder reflectors: ``tg.geqrf``,
``tg.orgqr`` (= ``tg.linalg.householder_product``), ``tg.ormqr`` and ``Tensor.geqrf``,
``Tensor.orgqr``, ``Tensor.ormqr``. The functions live in :mod:`tensorgrad.linalg`.

>>> import tensorgrad as tg
>>> x = tg.tensor([[3.0, 1.0], [4.0, 2.0]])
>>> a, tau = x.geqrf()
>>> q = a.orgqr(tau)
>>> bool(((q.mT @ x).tril(-1).abs() < 1e-6).all())   # Q^T x is R: upper triangular
True
"""

from .linalg import geqrf, orgqr, ormqr
from .tensor import Tensor


def _attach(T):
    for name, fn in (("geqrf", geqrf), ("orgqr", orgqr), ("ormqr", ormqr)):
        if not hasattr(T, name):
            setattr(T, name, fn)


_attach(Tensor)

__all__ = ["geqrf", "orgqr", "ormqr"]
