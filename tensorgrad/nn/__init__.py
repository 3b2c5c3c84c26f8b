"""Neural-network building blocks: Modules with PyTorch's names, and ``functional`` (``F``)
for the stateless functions."""

from . import functional
from . import functional as F
from .modules import (
    CrossEntropyLoss,
    Dropout,
    Flatten,
    Identity,
    Linear,
    Module,
    ModuleList,
    MSELoss,
    Parameter,
    ReLU,
    Sequential,
    Sigmoid,
    SiLU,
    Softplus,
    Tanh,
)

__all__ = ["functional", "F", "Module", "Parameter", "Linear", "Sequential", "ModuleList",
           "ReLU", "Tanh", "Sigmoid", "SiLU", "Softplus", "Identity", "Flatten", "Dropout",
           "CrossEntropyLoss", "MSELoss"]
