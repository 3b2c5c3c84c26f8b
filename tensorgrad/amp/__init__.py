"""Automatic mixed precision, as PyTorch's ``torch.amp``: :class:`autocast` runs the matrix
products and convolutions of a region in float16 and the precision-sensitive ops in float32;
:class:`GradScaler` scales the loss so that float16 gradients do not underflow, and skips the
optimizer steps whose gradients overflowed.

>>> import tensorgrad as tg
>>> w = tg.randn(4, 3, requires_grad=True)
>>> with tg.autocast("cpu"):
...     y = tg.ones(2, 4) @ w          # float16 inside the region
...     loss = y.float().sum()
>>> y.dtype, loss.dtype
(dtype('float16'), dtype('float32'))
>>> loss.backward()
>>> w.grad.dtype                        # the float32 parameter gets a float32 gradient
dtype('float32')
"""

from .autocast_mode import (
    autocast,
    clear_autocast_cache,
    get_autocast_dtype,
    is_autocast_available,
    is_autocast_cache_enabled,
    is_autocast_enabled,
)
from .custom_fn import custom_bwd, custom_fwd
from .grad_scaler import GradScaler, OptState

__all__ = ["autocast", "GradScaler", "OptState", "is_autocast_enabled", "get_autocast_dtype",
           "is_autocast_available", "is_autocast_cache_enabled", "clear_autocast_cache",
           "custom_fwd", "custom_bwd"]
