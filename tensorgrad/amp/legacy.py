"""The per-device spellings PyTorch had before ``torch.amp`` (``torch.cuda.amp``,
``torch.cpu.amp``), which training scripts still import: each is the ``tg.amp`` name with the
device type fixed. ``tensorgrad.cuda.amp`` and ``tensorgrad.cpu.amp`` are built here."""

from .autocast_mode import autocast as _autocast
from .custom_fn import custom_bwd as _custom_bwd
from .custom_fn import custom_fwd as _custom_fwd


def for_device(device_type):
    """(autocast, custom_fwd, custom_bwd) of ``tg.amp`` with ``device_type`` fixed. The default
    dtype is float16 on both devices (PyTorch's CPU default, bfloat16, exists in neither NumPy
    nor CuPy)."""

    class autocast(_autocast):
        __doc__ = f'``tg.autocast("{device_type}", ...)``: context manager or decorator.'

        def __init__(self, enabled=True, dtype="float16", cache_enabled=True):
            super().__init__(device_type, dtype=dtype, enabled=enabled,
                             cache_enabled=cache_enabled)

    def custom_fwd(fwd=None, *, cast_inputs=None):
        return _custom_fwd(fwd, device_type=device_type, cast_inputs=cast_inputs)

    def custom_bwd(bwd=None):
        return _custom_bwd(bwd, device_type=device_type)

    custom_fwd.__doc__ = f'``tg.amp.custom_fwd(device_type="{device_type}", cast_inputs=...)``.'
    custom_bwd.__doc__ = f'``tg.amp.custom_bwd(device_type="{device_type}")``.'
    return autocast, custom_fwd, custom_bwd
