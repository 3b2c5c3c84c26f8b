"""``tg.random``: PyTorch's ``torch.random`` (seeding, RNG state, ``fork_rng``) over
tensorgrad's generators (the functions of ``tg.manual_seed``, ``tg.get_rng_state``, ...).

>>> import tensorgrad as tg
>>> a = tg.rand(2)
>>> with tg.random.fork_rng():
...     b = tg.rand(2)
>>> bool((tg.rand(2) == b).all())        # the draw inside the block is drawn again
True
"""

import contextlib
import warnings

from . import creation as _cr
from .creation import get_rng_state, manual_seed, set_rng_state
from .torch_surface import initial_seed, seed

Generator, default_generator = _cr.Generator, _cr.default_generator  # torch.random has them

__all__ = ["set_rng_state", "get_rng_state", "manual_seed", "seed", "initial_seed",
           "fork_rng", "thread_safe_generator"]  # PyTorch's; Generator, default_generator too

_WARNED = [False]


@contextlib.contextmanager
def fork_rng(devices=None, enabled=True, _caller="fork_rng", _devices_kw="devices",
             device_type=None):
    """Run the block and then put the RNG state back: the CPU generator's, and that of each GPU
    in ``devices`` (indices; default: every GPU, with PyTorch's warning when there is more than
    one). ``enabled=False`` does nothing. ``device_type`` is "cuda" (tensorgrad's only
    accelerator) or None."""
    if not enabled:
        yield
        return
    from . import cuda

    if device_type not in (None, "cuda"):
        raise ValueError(f"fork_rng: device_type must be 'cuda' (or None), got {device_type!r}")
    if devices is None:
        count = cuda.device_count() if cuda.is_available() else 0
        if count > 1 and not _WARNED[0]:
            warnings.warn(f"CUDA reports that you have {count} available devices, and you have "
                          f"used {_caller} without explicitly specifying which devices are "
                          f"being used; every device's generator is saved. Pass "
                          f"{_devices_kw}=[...] with the devices you use to save fewer.",
                          stacklevel=3)
            _WARNED[0] = True
        devices = list(range(count))
    else:
        devices = list(devices)  # a generator would be exhausted by the first pass
    cpu_state = get_rng_state()
    device_states = [cuda.get_rng_state(d) for d in devices]
    try:
        yield
    finally:
        set_rng_state(cpu_state)
        for d, state in zip(devices, device_states):
            cuda.set_rng_state(state, d)


def thread_safe_generator():
    """The worker's own generator inside a DataLoader thread worker that has one, else None
    (use the global generator), as PyTorch's. tensorgrad's DataLoader workers are processes,
    so this is None."""
    from .utils.data import get_worker_info

    info = get_worker_info()
    if info is not None and getattr(info, "worker_method", None) == "thread":
        rng = getattr(info, "rng", None)
        return getattr(rng, "torch_generator", None)
    return None
