"""The tape, forward mode and the function transforms."""

from .anomaly import (  # noqa: F401
    detect_anomaly,
    is_anomaly_check_forward_enabled,
    is_anomaly_enabled,
    set_detect_anomaly,
)
from .dot import render_dot, to_dot  # noqa: F401


def __getattr__(name):
    # lazy: tensor.py imports this package while it is being built
    if name == "grad":  # PyTorch's torch.autograd.grad
        from .functional import autograd_grad

        return autograd_grad
    if name in ("Function", "FunctionCtx", "InplaceFunction", "once_differentiable",
                "function"):  # PyTorch's torch.autograd.Function and its module
        import importlib

        function = importlib.import_module(__name__ + ".function")
        return function if name == "function" else getattr(function, name)
    raise AttributeError(name)
