"""PyTorch's dtype names (``tg.float32``, ``tg.long``, ``tg.bool``, ...) and ``tg.dtype``.

tensorgrad's dtypes are NumPy's: ``Tensor.dtype`` is a ``numpy.dtype`` (on the GPU too: CuPy
uses NumPy's dtypes), so ``tg.dtype`` is ``numpy.dtype`` and each name is a ``numpy.dtype``
instance: ``isinstance(x.dtype, tg.dtype)``, ``x.dtype == tg.long`` and
``tg.zeros(2, dtype=tg.double)`` read as in PyTorch, and every NumPy/CuPy function takes them.
They print as NumPy's (``dtype('float32')``, not ``torch.float32``) and lack torch.dtype's
``is_floating_point`` attribute (``x.is_floating_point()`` and ``tg.finfo`` exist).

There is no bfloat16 dtype: neither NumPy nor CuPy has that type (``tg.bfloat16`` is only a
name, which ``tg.autocast`` refuses with a message and ``np.dtype`` does not understand). This
module shadows the builtins ``bool``, ``float`` and ``int``
on purpose, as ``torch`` does: it holds nothing else.

>>> import tensorgrad as tg
>>> tg.zeros(2, dtype=tg.long).dtype == tg.int64
True
>>> isinstance(tg.ones(1).dtype, tg.dtype)
True
"""

import numpy as np

dtype = np.dtype

float16 = half = np.dtype(np.float16)
float32 = float = np.dtype(np.float32)
float64 = double = np.dtype(np.float64)
complex64 = cfloat = np.dtype(np.complex64)
complex128 = cdouble = np.dtype(np.complex128)
uint8 = np.dtype(np.uint8)
int8 = np.dtype(np.int8)
int16 = short = np.dtype(np.int16)
int32 = int = np.dtype(np.int32)
int64 = long = np.dtype(np.int64)
bool = bool_ = np.dtype(np.bool_)

finfo = np.finfo
iinfo = np.iinfo

__all__ = [
    "dtype", "float16", "half", "float32", "float", "float64", "double", "complex64", "cfloat",
    "complex128", "cdouble", "uint8", "int8", "int16", "short", "int32", "int", "int64", "long",
    "bool", "bool_", "finfo", "iinfo",
]
