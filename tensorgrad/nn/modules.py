"""Modules: parameters and sub-modules registered by attribute assignment, as in PyTorch."""

import math
from collections import OrderedDict

import numpy as np

from .. import creation
from ..autograd.grad_mode import no_grad
from ..tensor import Tensor, _new_tensor, keep_array
from . import functional as F


class Parameter(Tensor):
    """A tensor that a Module registers as a parameter; it requires grad by default.

    >>> import tensorgrad as tg
    >>> p = tg.nn.Parameter(tg.zeros(2))
    >>> p.requires_grad, p.is_leaf
    (True, True)
    """

    __slots__ = ()

    def __init__(self, data=None, requires_grad=True):
        src = data if data is not None else creation.empty(0)
        arr = src.data if isinstance(src, Tensor) else keep_array(src)  # a CuPy array stays
        Tensor.__init__(self, arr, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + Tensor.__repr__(self)


class Module:
    """Base class: assign Parameters and Modules as attributes; define ``forward``."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---- registration ----------------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before "
                                 "assigning attributes")
        for table in (self._parameters, self._buffers, self._modules):
            table.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        d = self.__dict__
        for table in ("_parameters", "_buffers", "_modules"):
            if table in d and name in d[table]:
                return d[table][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                return
        object.__delattr__(self, name)

    def register_buffer(self, name, tensor):
        """A tensor that belongs to the module's state (saved in state_dict) but is not trained."""
        self._buffers[name] = tensor

    def register_parameter(self, name, param):
        self._parameters[name] = param

    def add_module(self, name, module):
        self._modules[name] = module

    # ---- traversal -------------------------------------------------------------------------
    def named_modules(self, prefix=""):
        stack = [(prefix, self)]
        seen = set()
        while stack:
            name, m = stack.pop(0)
            if id(m) in seen:
                continue
            seen.add(id(m))
            yield name, m
            for child_name, child in m._modules.items():
                if child is not None:
                    stack.append((f"{name}.{child_name}" if name else child_name, child))

    def modules(self):
        return (m for _, m in self.named_modules())

    def children(self):
        return (m for m in self._modules.values() if m is not None)

    def named_parameters(self, prefix=""):
        seen = set()
        for mod_name, m in self.named_modules(prefix):
            for name, p in m._parameters.items():
                if p is not None and id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self):
        return (p for _, p in self.named_parameters())

    def named_buffers(self):
        for mod_name, m in self.named_modules():
            for name, b in m._buffers.items():
                if b is not None:
                    yield (f"{mod_name}.{name}" if mod_name else name), b

    def buffers(self):
        return (b for _, b in self.named_buffers())

    # ---- modes, gradients, devices -----------------------------------------------------------
    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.data[...] = 0

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def to(self, *args, **kwargs):
        """Move (or cast) every parameter and buffer in place: the Parameter objects stay the
        same, so an optimizer made before still holds them."""
        with no_grad():
            for m in self.modules():
                for table in (m._parameters, m._buffers):
                    for t in table.values():
                        if t is None:
                            continue
                        moved = t.to(*args, **kwargs)
                        if moved.dtype != t.dtype and t.dtype.kind not in "fc":
                            moved = t.to(moved.device)  # as PyTorch: casts are for floats
                        if moved is not t:
                            t.data = moved.data
                            t._vc = [t._vc[0] + 1]
                        if t.grad is not None:  # gradients go along, as in PyTorch
                            t.grad = t.grad.to(*args, **kwargs)
        return self

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else f"cuda:{device}")

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    # ---- state -------------------------------------------------------------------------------
    def state_dict(self):
        """An ordered dict of name -> tensor (parameters and buffers), sharing their data."""
        out = OrderedDict()
        for name, p in self.named_parameters():
            out[name] = p.detach()
        for name, b in self.named_buffers():
            out[name] = b.detach()
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy values from ``state_dict`` into the parameters and buffers. Everything is
        checked first (names when ``strict``, shapes always), so a bad state dict changes
        nothing. Returns (missing_keys, unexpected_keys)."""
        own = OrderedDict(list(self.named_parameters()) + list(self.named_buffers()))
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise RuntimeError(f"load_state_dict: missing keys {missing}, unexpected keys "
                               f"{unexpected} in the state dict of {type(self).__name__}")
        updates = []
        for name, t in own.items():
            if name not in state_dict:
                continue
            value = state_dict[name]
            arr = value.data if isinstance(value, Tensor) else keep_array(value)
            if tuple(arr.shape) != tuple(t.shape):
                raise RuntimeError(f"load_state_dict: '{name}' has shape {tuple(arr.shape)} in "
                                   f"the state dict but {tuple(t.shape)} in the model")
            updates.append((t, arr))
        with no_grad():
            for t, arr in updates:
                t.copy_(_new_tensor(t.device.put(arr.astype(t.dtype, copy=False)), None, False))
        return missing, unexpected

    # ---- calling -------------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__}: define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, m in self._modules.items():
            body = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return lines[0] + ")" if len(lines) == 1 else "\n".join(lines) + "\n)"


def _uniform(shape, bound, dtype, device):
    # drawn where the parameter lives: no host-to-device copy for a model built on a GPU
    return Parameter(creation.rand(*shape, dtype=dtype, device=device) * (2 * bound) - bound)


class Linear(Module):
    """y = x @ W.T + b with W of shape (out_features, in_features), initialised as PyTorch
    does: uniform in +-1/sqrt(in_features).

    >>> import tensorgrad as tg
    >>> tg.nn.Linear(3, 2)(tg.ones(4, 3)).shape
    (4, 2)
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1 / math.sqrt(in_features) if in_features else 0.0
        dtype = dtype or np.float32
        self.weight = _uniform((out_features, in_features), bound, dtype, device)
        self.bias = _uniform((out_features,), bound, dtype, device) if bias else None

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Sequential(Module):
    """Modules applied one after the other."""

    def __init__(self, *modules):
        super().__init__()
        for i, m in enumerate(modules):
            self.add_module(str(i), m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def __len__(self):
        return len(self._modules)


class ModuleList(Module):
    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, m):
        self.add_module(str(len(self._modules)), m)
        return self

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def __iter__(self):
        return iter(self._modules.values())

    def __len__(self):
        return len(self._modules)


def _activation(name, fn, doc):
    cls = type(name, (Module,), {
        "forward": lambda self, x: fn(x),
        "__doc__": doc,
    })
    return cls


ReLU = _activation("ReLU", F.relu, "max(x, 0) elementwise.")
Tanh = _activation("Tanh", F.tanh, "tanh elementwise.")
Sigmoid = _activation("Sigmoid", F.sigmoid, "1 / (1 + exp(-x)) elementwise.")
SiLU = _activation("SiLU", F.silu, "x * sigmoid(x) elementwise.")
Softplus = _activation("Softplus", F.softplus, "log(1 + exp(x)) elementwise.")


class Identity(Module):
    def forward(self, x):
        return x


class Flatten(Module):
    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return x.flatten(self.start_dim, self.end_dim)


class Dropout(Module):
    """Zeroes each element with probability ``p`` in training mode and scales the rest by
    1 / (1 - p); the identity in eval mode."""

    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)


class CrossEntropyLoss(Module):
    def __init__(self, reduction="mean", label_smoothing=0.0):
        super().__init__()
        self.reduction, self.label_smoothing = reduction, label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, self.reduction, self.label_smoothing)


class MSELoss(Module):
    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, input, target):
        return F.mse_loss(input, target, self.reduction)


class Conv2d(Module):
    """2-D convolution layer (PyTorch's layout and initialisation: uniform in
    +-1/sqrt(in_channels / groups * kh * kw))."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, device=None, dtype=None):
        super().__init__()
        kh, kw = F._pair(kernel_size, "kernel_size", "Conv2d")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: channels {in_channels}->{out_channels} are not divisible "
                             f"by groups={groups}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = (kh, kw), stride, padding
        self.dilation, self.groups = dilation, groups
        fan_in = in_channels // groups * kh * kw
        bound = 1 / math.sqrt(fan_in)
        dtype = dtype or np.float32
        self.weight = _uniform((out_channels, in_channels // groups, kh, kw), bound, dtype,
                               device)
        self.bias = _uniform((out_channels,), bound, dtype, device) if bias else None

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)


class AvgPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)
