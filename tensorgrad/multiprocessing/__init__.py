"""``tensorgrad.multiprocessing``: the standard library's ``multiprocessing`` plus what
PyTorch's ``torch.multiprocessing`` adds: tensors in shared memory that travel between
processes as handles (``Tensor.share_memory_``, ``Module.share_memory``), ``spawn`` /
``start_processes`` and the sharing strategies.

Hogwild (several processes train one model in shared memory):

>>> import tensorgrad as tg
>>> import tensorgrad.multiprocessing as mp
>>> def train(model):
...     opt = tg.optim.SGD(model.parameters(), lr=0.1)
...     model(tg.ones(1, 2)).sum().backward()
...     opt.step()                           # writes the shared parameters in place
>>> model = tg.nn.Linear(2, 1).share_memory()
>>> before = model.bias.item()
>>> ctx = mp.get_context("fork")
>>> for _ in range(2):                      # one after the other here, so no step races
...     p = ctx.Process(target=train, args=(model,))
...     p.start()
...     p.join()
>>> round(model.bias.item() - before, 4)     # both children's steps, seen by the parent
-0.2

Tensors sent through a ``Queue``, a ``Pipe`` or as ``Process`` arguments arrive as tensors:
a shared one maps the same memory in the receiver, any other CPU tensor travels by value
(PyTorch moves it to shared memory first; tensorgrad leaves the sender's tensor as it is).
``.grad`` and the autograd graph do not travel; a non-leaf that requires grad is refused,
and so is a CUDA tensor (tensorgrad does not share GPU memory between processes: send
``t.cpu()``).
"""

import multiprocessing
from multiprocessing import *  # noqa: F403

from ..nn.modules import Module
from ..tensor import Tensor
from . import reductions
from ._spawn import (
    ProcessContext,
    ProcessException,
    ProcessExitedException,
    ProcessRaisedException,
    SpawnContext,
    spawn,
    start_processes,
)
from .reductions import (
    get_all_sharing_strategies,
    get_sharing_strategy,
    init_reductions,
    set_sharing_strategy,
)

__all__ = list(multiprocessing.__all__) + [
    "ProcessContext", "ProcessException", "ProcessExitedException", "ProcessRaisedException",
    "SpawnContext", "spawn", "start_processes", "get_all_sharing_strategies",
    "get_sharing_strategy", "set_sharing_strategy", "init_reductions",
]

Tensor.share_memory_ = reductions.share_memory_
Tensor.is_shared = reductions.is_shared
Module.share_memory = reductions.module_share_memory
init_reductions()

