"""Neural-network building blocks: Modules with PyTorch's names, and ``functional`` (``F``)
for the stateless functions."""

from . import (
    activation,
    attention,
    conv,
    functional,
    init,
    layers,
    loss,
    normalization,
    parallel,
    pooling,
    rnn,
    transformer,
    upsampling,
    utils,
)
from . import functional as F
from ._functional_aliases import LinearCrossEntropyOptions  # torch.nn's name
from .activation import *  # noqa: F403
from .conv import *  # noqa: F403
from .extra_a import *  # noqa: F403
from .extra_b import *  # noqa: F403
from .extra_c import *  # noqa: F403
from .layers import *  # noqa: F403
from .layers_3d import *  # noqa: F403
from .loss import *  # noqa: F403
from .modules import (
    AvgPool2d,
    Conv2d,
    Dropout,
    Flatten,
    Identity,
    Linear,
    MaxPool2d,
    Module,
    ModuleDict,
    ModuleList,
    Parameter,
    ParameterDict,
    ParameterList,
    ReLU,
    Sequential,
    Sigmoid,
    SiLU,
    Softplus,
    Tanh,
)
from .normalization import *  # noqa: F403
from .pooling import *  # noqa: F403
from .rnn import *  # noqa: F403
from .transformer import *  # noqa: F403  (tg.nn.attention is torch.nn.attention)
from .upsampling import *  # noqa: F403

__all__ = ["functional", "F", "Module", "Parameter", "Linear", "Sequential", "ModuleList",
           "ModuleDict", "ParameterList", "ParameterDict",
           "ReLU", "Tanh", "Sigmoid", "SiLU", "Softplus", "Identity", "Flatten", "Dropout",
           "Conv2d", "MaxPool2d", "AvgPool2d", "init", "utils", "parallel"]
__all__ += transformer.__all__ + conv.__all__ + layers.__all__ + normalization.__all__
__all__ += activation.__all__ + loss.__all__ + pooling.__all__ + upsampling.__all__
__all__ += rnn.__all__ + ["LinearCrossEntropyOptions"]
__all__ += extra_b.__all__ + ["parameter"]  # noqa: F405 (bound by the import above)
__all__ += layers_3d.__all__  # noqa: F405 (bound by the import above)
__all__ += extra_a.__all__  # noqa: F405 (bound by the import above)
__all__ += extra_c.__all__  # noqa: F405 (bound by the import above)
