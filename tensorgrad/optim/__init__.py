"""Optimizers: update parameters in place from their ``.grad``, without recording.

The updates write into the parameters' arrays (and reuse per-parameter buffers) so that a step
allocates nothing: the same memory traffic as a hand-written NumPy update.
"""

from . import lr_scheduler, swa_utils
from .adafactor import Adafactor, SparseAdam
from .lbfgs import LBFGS
from .muon import Muon
from .optimizer import (
    ASGD,
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    NAdam,
    Optimizer,
    RAdam,
    RMSprop,
    Rprop,
)

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "NAdam", "RAdam",
           "Adamax", "Adadelta", "Rprop", "ASGD", "LBFGS", "Adafactor", "SparseAdam", "Muon",
           "lr_scheduler", "swa_utils"]
