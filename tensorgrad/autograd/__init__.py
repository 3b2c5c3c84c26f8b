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
    if name in _TORCH_NAMES:  # the rest of torch.autograd's top level
        import importlib

        module, attr = _TORCH_NAMES[name]
        return getattr(importlib.import_module(module, __name__), attr)
    if name == "forward_ad":
        import importlib

        return importlib.import_module(__name__ + ".forward_ad")
    raise AttributeError(name)


_TORCH_NAMES = {
    "backward": (".legacy", "backward"),
    "Variable": (".legacy", "Variable"),
    "set_multithreading_enabled": (".legacy", "set_multithreading_enabled"),
    "is_multithreading_enabled": (".legacy", "is_multithreading_enabled"),
    "no_grad": (".grad_mode", "no_grad"),
    "enable_grad": (".grad_mode", "enable_grad"),
    "set_grad_enabled": (".grad_mode", "set_grad_enabled"),
    "is_grad_enabled": (".grad_mode", "is_grad_enabled"),
    "inference_mode": ("..torch_surface", "inference_mode"),
    "is_inference_mode_enabled": ("..torch_surface", "is_inference_mode_enabled"),
    "gradcheck": ("..testing", "gradcheck"),
    "gradgradcheck": ("..testing", "gradgradcheck"),
    "GradcheckError": ("..testing", "GradcheckError"),
}
