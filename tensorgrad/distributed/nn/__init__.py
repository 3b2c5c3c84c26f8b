"""``tensorgrad.distributed.nn``: collectives that autograd differentiates (PyTorch's
``torch.distributed.nn``); see ``functional``."""

from .functional import (
                         all_gather,
                         all_reduce,
                         all_to_all,
                         all_to_all_single,
                         broadcast,
                         gather,
                         reduce,
                         reduce_scatter,
                         scatter,
)

__all__ = ["all_gather", "all_reduce", "all_to_all", "all_to_all_single", "broadcast", "gather",
           "reduce", "reduce_scatter", "scatter"]
