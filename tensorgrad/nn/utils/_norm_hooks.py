"""The older, forward-pre-hook forms of weight and spectral normalisation:
``tg.nn.utils.weight_norm``/``remove_weight_norm`` (parameters ``weight_g``, ``weight_v``) and
``spectral_norm``/``remove_spectral_norm`` (parameter ``weight_orig``, buffers ``weight_u``,
``weight_v``), as ``torch.nn.utils.weight_norm`` and ``torch.nn.utils.spectral_norm``. The
weight is recomputed by a hook before every forward and stored as a plain attribute.
"""

import warnings

from ... import creation
from ...autograd.grad_mode import no_grad
from .. import functional as F
from ..modules import Parameter
from .parametrizations import _norm_except_dim, _to_matrix, _weight_norm, _write

__all__ = ["WeightNorm", "weight_norm", "remove_weight_norm", "SpectralNorm", "spectral_norm",
           "remove_spectral_norm"]


def _find_hook(module, cls, name):
    for key, hook in module.__dict__.get("_forward_pre_hooks", {}).items():
        if isinstance(hook, cls) and hook.name == name:
            return key, hook
    return None, None


def _remove_hook(module, cls, name, what):
    """Removes the ``cls`` hook of ``name`` (the ``what`` of the error when there is none)."""
    key, hook = _find_hook(module, cls, name)
    if hook is None:
        raise ValueError(f"{what} of '{name}' not found in {module}")
    hook.remove(module)
    del module._forward_pre_hooks[key]
    return module


class WeightNorm:
    """The pre-hook of ``weight_norm``: ``weight = weight_g * weight_v / ||weight_v||``."""

    def __init__(self, name, dim):
        self.name = name
        self.dim = -1 if dim is None else dim

    def compute_weight(self, module):
        g = getattr(module, self.name + "_g")
        v = getattr(module, self.name + "_v")
        return _weight_norm(v, g, self.dim)

    @staticmethod
    def apply(module, name, dim):
        warnings.warn("`torch.nn.utils.weight_norm` is deprecated in favor of "
                      "`torch.nn.utils.parametrizations.weight_norm`.", FutureWarning,
                      stacklevel=3)
        if _find_hook(module, WeightNorm, name)[1] is not None:
            raise RuntimeError(f"Cannot register two weight_norm hooks on the same parameter "
                               f"{name}")
        fn = WeightNorm(name, dim)
        weight = getattr(module, name)
        del module._parameters[name]
        with no_grad():
            g = _norm_except_dim(weight, fn.dim)
        module.register_parameter(name + "_g", Parameter(g.data))
        module.register_parameter(name + "_v", Parameter(weight.data))
        setattr(module, name, fn.compute_weight(module))
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module):
        weight = self.compute_weight(module)
        delattr(module, self.name)
        del module._parameters[self.name + "_g"]
        del module._parameters[self.name + "_v"]
        setattr(module, self.name, Parameter(weight.data))

    def __call__(self, module, inputs):
        setattr(module, self.name, self.compute_weight(module))


def weight_norm(module, name="weight", dim=0):
    """Replace ``module.<name>`` by ``<name>_g * <name>_v / ||<name>_v||`` (norm over every
    dimension but ``dim``; ``None``: the whole tensor), recomputed before each forward.
    Deprecated in PyTorch (FutureWarning) for ``parametrizations.weight_norm``.

    >>> import warnings, tensorgrad as tg
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     lin = tg.nn.utils.weight_norm(tg.nn.Linear(3, 2))
    >>> list(lin.state_dict())
    ['bias', 'weight_g', 'weight_v']
    """
    WeightNorm.apply(module, name, dim)
    return module


def remove_weight_norm(module, name="weight"):
    """Undo ``weight_norm``: ``<name>`` becomes a Parameter holding the current weight."""
    return _remove_hook(module, WeightNorm, name, "weight_norm")


class SpectralNorm:
    """The pre-hook of ``spectral_norm``: ``weight = weight_orig / sigma``, sigma estimated by
    power iteration on the buffers ``weight_u``/``weight_v`` (in training mode only)."""

    _version = 1

    def __init__(self, name="weight", n_power_iterations=1, dim=0, eps=1e-12):
        self.name = name
        self.dim = dim
        if n_power_iterations <= 0:
            raise ValueError(f"Expected n_power_iterations to be positive, but got "
                             f"n_power_iterations={n_power_iterations}")
        self.n_power_iterations = n_power_iterations
        self.eps = eps

    def reshape_weight_to_matrix(self, weight):
        return _to_matrix(weight, self.dim)

    def compute_weight(self, module, do_power_iteration):
        from ... import dot, mv

        weight = getattr(module, self.name + "_orig")
        u = getattr(module, self.name + "_u")
        v = getattr(module, self.name + "_v")
        weight_mat = self.reshape_weight_to_matrix(weight)
        if do_power_iteration:
            with no_grad():
                w = weight_mat.detach()
                for _ in range(self.n_power_iterations):
                    _write(v, F.normalize(mv(w.T, u), dim=0, eps=self.eps))
                    _write(u, F.normalize(mv(w, v), dim=0, eps=self.eps))
            u = u.detach().clone()
            v = v.detach().clone()
        sigma = dot(u, mv(weight_mat, v))
        return weight / sigma

    def remove(self, module):
        with no_grad():
            weight = self.compute_weight(module, do_power_iteration=False)
        delattr(module, self.name)
        delattr(module, self.name + "_u")
        delattr(module, self.name + "_v")
        delattr(module, self.name + "_orig")
        module.register_parameter(self.name, Parameter(weight.detach()))

    def __call__(self, module, inputs):
        setattr(module, self.name,
                self.compute_weight(module, do_power_iteration=module.training))

    @staticmethod
    def apply(module, name, n_power_iterations, dim, eps):
        if _find_hook(module, SpectralNorm, name)[1] is not None:
            raise RuntimeError(f"Cannot register two spectral_norm hooks on the same parameter "
                               f"{name}")
        fn = SpectralNorm(name, n_power_iterations, dim, eps)
        weight = module._parameters.get(name)
        if weight is None:
            raise ValueError(f"`SpectralNorm` cannot be applied as parameter `{name}` is None")
        with no_grad():
            h, w = fn.reshape_weight_to_matrix(weight).shape
            u = creation.randn(h, dtype=weight.dtype, device=weight.device)
            v = creation.randn(w, dtype=weight.dtype, device=weight.device)
            u = F.normalize(u, dim=0, eps=fn.eps)
            v = F.normalize(v, dim=0, eps=fn.eps)
        delattr(module, fn.name)
        module.register_parameter(fn.name + "_orig", weight)
        # `weight` stays reachable (initialisers look for it) as a plain attribute
        setattr(module, fn.name, weight.detach())
        module.register_buffer(fn.name + "_u", u)
        module.register_buffer(fn.name + "_v", v)
        module.register_forward_pre_hook(fn)
        return fn


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """Divide ``module.<name>`` by its spectral norm before each forward, estimated with
    ``n_power_iterations`` power-iteration steps per training-mode forward (none in eval
    mode); ``dim`` defaults to 1 for transposed convolutions, else 0. Parameters
    ``<name>_orig``, buffers ``<name>_u`` and ``<name>_v``, as PyTorch's.

    >>> import tensorgrad as tg
    >>> list(tg.nn.utils.spectral_norm(tg.nn.Linear(3, 2)).state_dict())
    ['bias', 'weight_orig', 'weight_u', 'weight_v']
    """
    from .parametrizations import _is_conv_transpose

    if dim is None:
        dim = 1 if _is_conv_transpose(module) else 0
    SpectralNorm.apply(module, name, n_power_iterations, dim, eps)
    return module


def remove_spectral_norm(module, name="weight"):
    """Undo ``spectral_norm``: ``<name>`` becomes a Parameter holding the normalised weight."""
    return _remove_hook(module, SpectralNorm, name, "spectral_norm")
