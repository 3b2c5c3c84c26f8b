"""Activation modules with PyTorch's names, arguments and repr (with ``inplace=True`` the
input takes the result, as PyTorch's: ``nn/_inplace.py``)."""

from .. import creation
from . import functional as F
from .modules import Module, Parameter

__all__ = ["LeakyReLU", "ELU", "SELU", "CELU", "PReLU", "ReLU6", "Hardtanh", "Hardsigmoid",
           "Hardswish", "Mish", "Softsign", "Tanhshrink", "LogSigmoid", "Softmax", "LogSoftmax",
           "Softmin", "Threshold", "GLU"]


def _variants(base, module, table):
    """Subclasses of ``base`` that differ only in the function they apply (``_fn``): one per
    (name, function, docstring) row of ``table``, each with its own name and docstring, as
    if written ``class name(base)`` in ``module``."""
    return tuple(type(name, (base,), {"__doc__": doc, "__module__": module,
                                      "__qualname__": name, "_fn": staticmethod(fn)})
                 for name, fn, doc in table)


class _Applies(Module):
    """A module whose ``forward`` applies the class's ``_fn`` to the input and the attributes
    named in ``_args`` (in that order), and whose repr lists them as ``name=value``, then
    ``inplace=True`` where the module has ``inplace`` set. Each subclass keeps PyTorch's
    constructor, which sets those attributes."""

    _fn = None
    _args = ()

    def forward(self, input):
        args = (getattr(self, name) for name in self._args)
        if getattr(self, "inplace", False):
            return type(self)._fn(input, *args, inplace=True)
        return type(self)._fn(input, *args)

    def extra_repr(self):
        parts = [f"{name}={getattr(self, name)}" for name in self._args]
        if getattr(self, "inplace", False):
            parts.append("inplace=True")
        return ", ".join(parts)


class _Inplace(_Applies):
    """An activation whose only argument is ``inplace``."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace


SELU, ReLU6, Hardsigmoid, Hardswish, Mish = _variants(_Inplace, __name__, (
    ("SELU", F.selu, "scale * elu(x, alpha) with PyTorch's constants."),
    ("ReLU6", F.relu6, "min(max(x, 0), 6)."),
    ("Hardsigmoid", F.hardsigmoid, "relu6(x + 3) / 6."),
    ("Hardswish", F.hardswish, "x * relu6(x + 3) / 6."),
    ("Mish", F.mish, "x * tanh(softplus(x))."),
))

Softsign, Tanhshrink, LogSigmoid = _variants(_Applies, __name__, (
    ("Softsign", F.softsign, "x / (1 + |x|)."),
    ("Tanhshrink", F.tanhshrink, "x - tanh(x)."),
    ("LogSigmoid", F.logsigmoid, "log(sigmoid(x)), stably."),
))


class LeakyReLU(_Applies):
    """x where x > 0, negative_slope * x elsewhere.

    >>> import tensorgrad as tg
    >>> tg.nn.LeakyReLU(0.5)(tg.tensor([-1.0, 2.0])).tolist()
    [-0.5, 2.0]
    """

    _fn, _args = staticmethod(F.leaky_relu), ("negative_slope",)

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace


class ELU(_Applies):
    """x where x > 0, alpha * (exp(x) - 1) elsewhere."""

    _fn, _args = staticmethod(F.elu), ("alpha",)

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace


class CELU(ELU):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""

    _fn = staticmethod(F.celu)


class Hardtanh(_Applies):
    """x clamped to [min_val, max_val]."""

    _fn, _args = staticmethod(F.hardtanh), ("min_val", "max_val")

    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False, min_value=None, max_value=None):
        super().__init__()
        self.min_val = min_val if min_value is None else min_value
        self.max_val = max_val if max_value is None else max_value
        self.inplace = inplace
        if self.max_val <= self.min_val:
            raise ValueError(f"Hardtanh: max_val={self.max_val} must exceed "
                             f"min_val={self.min_val}")


class Threshold(_Applies):
    """x where x > threshold, else value."""

    _fn, _args = staticmethod(F.threshold), ("threshold", "value")

    def __init__(self, threshold, value, inplace=False):
        super().__init__()
        self.threshold, self.value, self.inplace = threshold, value, inplace


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


Softmax, LogSoftmax, Softmin = _variants(_Dim, __name__, (
    ("Softmax", F.softmax,
     "exp(x) normalised along ``dim`` (None: PyTorch's implicit dimension)."),
    ("LogSoftmax", F.log_softmax, "log(softmax(x)) along ``dim``."),
    ("Softmin", F.softmin, "softmax(-x) along ``dim``."),
))


class GLU(_Applies):
    """a * sigmoid(b), the input split in halves along ``dim``."""

    _fn, _args = staticmethod(F.glu), ("dim",)

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim
