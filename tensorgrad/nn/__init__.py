"""Neural-network building blocks: Modules with PyTorch's names, and ``functional`` (``F``)
for the stateless functions."""

from . import functional
from . import functional as F
from .modules import (
    AvgPool2d,
    Conv2d,
    CrossEntropyLoss,
    Dropout,
    Flatten,
    Identity,
    Linear,
    MaxPool2d,
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
from .normalization import LayerNorm

__all__ = ["functional", "F", "Module", "Parameter", "Linear", "Sequential", "ModuleList",
           "ReLU", "Tanh", "Sigmoid", "SiLU", "Softplus", "Identity", "Flatten", "Dropout",
           "CrossEntropyLoss", "MSELoss", "Conv2d", "MaxPool2d", "AvgPool2d", "LayerNorm"]
