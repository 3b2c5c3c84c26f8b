"""``tg.cpu.amp``: PyTorch's older spelling of :mod:`tensorgrad.amp` for the CPU
(``torch.cpu.amp.autocast``, ``custom_fwd``, ``custom_bwd``), each with ``device_type="cpu"``.
The default dtype is float16, not PyTorch's bfloat16, which NumPy lacks.

>>> import tensorgrad as tg
>>> with tg.cpu.amp.autocast():
...     (tg.ones(2, 3) @ tg.ones(3, 2)).dtype
dtype('float16')
"""

from ..amp.legacy import for_device

__all__ = ["autocast", "custom_fwd", "custom_bwd"]

autocast, custom_fwd, custom_bwd = for_device("cpu")
