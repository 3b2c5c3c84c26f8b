"""``tg.cuda.amp``: PyTorch's older spelling of :mod:`tensorgrad.amp` for CUDA
(``torch.cuda.amp.autocast``, ``GradScaler``, ``custom_fwd``, ``custom_bwd``), which training
scripts still import. Each is the ``tg.amp`` one with ``device_type="cuda"``.

>>> import tensorgrad as tg
>>> tg.cuda.amp.GradScaler(enabled=False).is_enabled()
False
"""

from ..amp import GradScaler as _GradScaler
from ..amp.legacy import for_device

__all__ = ["autocast", "GradScaler", "custom_fwd", "custom_bwd"]

autocast, custom_fwd, custom_bwd = for_device("cuda")


class GradScaler(_GradScaler):
    """``tg.amp.GradScaler("cuda", ...)``."""

    def __init__(self, init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000, enabled=True):
        super().__init__("cuda", init_scale=init_scale, growth_factor=growth_factor,
                         backoff_factor=backoff_factor, growth_interval=growth_interval,
                         enabled=enabled)
