"""DDP communication hooks (PyTorch's ``torch.distributed.algorithms.ddp_comm_hooks``):
``default_hooks.allreduce_hook``, ``fp16_compress_hook`` and ``fp16_compress_wrapper``, for
``DistributedDataParallel.register_comm_hook``."""

from . import default_hooks

__all__ = ["default_hooks"]
