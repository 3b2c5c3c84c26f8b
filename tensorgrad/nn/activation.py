"""Activation modules with PyTorch's names, arguments and repr (``inplace`` is accepted and
ignored: tensorgrad never overwrites an input)."""

from .. import creation
from . import functional as F
from .modules import Module, Parameter

__all__ = ["LeakyReLU", "ELU", "SELU", "CELU", "PReLU", "ReLU6", "Hardtanh", "Hardsigmoid",
           "Hardswish", "Mish", "Softsign", "Tanhshrink", "LogSigmoid", "Softmax", "LogSoftmax",
           "Softmin", "Threshold", "GLU"]


def _inplace(inplace):
    return ", inplace=True" if inplace else ""


class _Inplace(Module):
    """An activation whose only argument is ``inplace``."""

    _fn = None

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return type(self)._fn(input)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class _Plain(Module):
    _fn = None

    def forward(self, input):
        return type(self)._fn(input)


class SELU(_Inplace):
    """scale * elu(x, alpha) with PyTorch's constants."""
    _fn = staticmethod(F.selu)


class ReLU6(_Inplace):
    """min(max(x, 0), 6)."""
    _fn = staticmethod(F.relu6)


class Hardsigmoid(_Inplace):
    """relu6(x + 3) / 6."""
    _fn = staticmethod(F.hardsigmoid)


class Hardswish(_Inplace):
    """x * relu6(x + 3) / 6."""
    _fn = staticmethod(F.hardswish)


class Mish(_Inplace):
    """x * tanh(softplus(x))."""
    _fn = staticmethod(F.mish)


class Softsign(_Plain):
    """x / (1 + |x|)."""
    _fn = staticmethod(F.softsign)


class Tanhshrink(_Plain):
    """x - tanh(x)."""
    _fn = staticmethod(F.tanhshrink)


class LogSigmoid(_Plain):
    """log(sigmoid(x)), stably."""
    _fn = staticmethod(F.logsigmoid)


class LeakyReLU(Module):
    """x where x > 0, negative_slope * x elsewhere.

    >>> import tensorgrad as tg
    >>> tg.nn.LeakyReLU(0.5)(tg.tensor([-1.0, 2.0])).tolist()
    [-0.5, 2.0]
    """

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, input):
        return F.leaky_relu(input, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}{_inplace(self.inplace)}"


class ELU(Module):
    """x where x > 0, alpha * (exp(x) - 1) elsewhere."""

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input):
        return F.elu(input, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}{_inplace(self.inplace)}"


class CELU(ELU):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""

    def forward(self, input):
        return F.celu(input, self.alpha)


class Hardtanh(Module):
    """x clamped to [min_val, max_val]."""

    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False, min_value=None, max_value=None):
        super().__init__()
        self.min_val = min_val if min_value is None else min_value
        self.max_val = max_val if max_value is None else max_value
        self.inplace = inplace
        if self.max_val <= self.min_val:
            raise ValueError(f"Hardtanh: max_val={self.max_val} must exceed "
                             f"min_val={self.min_val}")

    def forward(self, input):
        return F.hardtanh(input, self.min_val, self.max_val)

    def extra_repr(self):
        return f"min_val={self.min_val}, max_val={self.max_val}{_inplace(self.inplace)}"


class Threshold(Module):
    """x where x > threshold, else value."""

    def __init__(self, threshold, value, inplace=False):
        super().__init__()
        self.threshold, self.value, self.inplace = threshold, value, inplace

    def forward(self, input):
        return F.threshold(input, self.threshold, self.value)

    def extra_repr(self):
        return f"threshold={self.threshold}, value={self.value}{_inplace(self.inplace)}"


class PReLU(Module):
    """x where x > 0, a * x elsewhere, ``a`` learnable (one, or one per channel), initialised
    to ``init``.

    >>> import tensorgrad as tg
    >>> tg.nn.PReLU(2)
    PReLU(num_parameters=2)
    """

    def __init__(self, num_parameters=1, init=0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = Parameter(creation.full((num_parameters,), init, dtype=dtype,
                                              device=device))

    def reset_parameters(self):
        from . import init as _init

        _init.constant_(self.weight, self.init)

    def forward(self, input):
        return F.prelu(input, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class _Dim(Module):
    _fn = None

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return type(self)._fn(input, self._dim(input))

    def _dim(self, input):
        return self.dim if self.dim is not None else (0 if input.ndim in (0, 1, 3) else 1)

    def extra_repr(self):
        return f"dim={self.dim}"


class Softmax(_Dim):
    """exp(x) normalised along ``dim`` (None: PyTorch's implicit dimension)."""
    _fn = staticmethod(F.softmax)


class LogSoftmax(_Dim):
    """log(softmax(x)) along ``dim``."""
    _fn = staticmethod(F.log_softmax)


class Softmin(_Dim):
    """softmax(-x) along ``dim``."""
    _fn = staticmethod(F.softmin)


class GLU(Module):
    """a * sigmoid(b), the input split in halves along ``dim``."""

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.glu(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"
