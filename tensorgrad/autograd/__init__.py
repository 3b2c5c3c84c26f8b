"""The tape, forward mode and the function transforms."""


def __getattr__(name):
    # lazy: tensor.py imports this package while it is being built
    if name == "grad":  # PyTorch's torch.autograd.grad
        from .functional import autograd_grad

        return autograd_grad
    raise AttributeError(name)
