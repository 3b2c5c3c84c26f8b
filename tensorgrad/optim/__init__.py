"""Optimizers: update parameters in place from their ``.grad``, without recording.

The updates write into the parameters' arrays (and reuse per-parameter buffers) so that a step
allocates nothing: the same memory traffic as a hand-written NumPy update.
"""

from . import lr_scheduler
from .optimizer import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "lr_scheduler"]
