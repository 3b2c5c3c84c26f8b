"""``tg.nn.utils``: gradient clipping and flattening parameters, as PyTorch's ``torch.nn.utils``.

Everything works on the gradients' own arrays and devices: the norms stay 0-d arrays on the
device and scale the gradients in place, so clipping costs no host synchronisation (unless
``error_if_nonfinite`` asks for a check, as in PyTorch).

>>> import tensorgrad as tg
>>> w = tg.tensor([3.0, 4.0], requires_grad=True)
>>> (w * w).sum().backward()
>>> tg.nn.utils.clip_grad_norm_([w], max_norm=1.0).item()
10.0
>>> [round(v, 4) for v in w.grad.tolist()]
[0.6, 0.8]
"""

import math
import warnings

from ...autograd.graph import bump_version
from ...backend.device import xp_of
from ...tensor import Tensor, _new_tensor


def _as_list(parameters):
    if isinstance(parameters, Tensor):
        return [parameters]
    return list(parameters)


def _vector_norm(a, p):
    """The ``p``-norm of the array ``a`` flattened, as a 0-d array of its (real) dtype."""
    xp = xp_of(a)
    mag = xp.abs(a)
    if p == math.inf:
        return mag.max()
    if p == -math.inf:
        return mag.min()
    if p == 0:
        return (a != 0).sum().astype(mag.dtype)
    if p == 1:
        return mag.sum()
    if p == 2:
        mag *= mag
        return xp.sqrt(mag.sum())
    mag **= p
    return mag.sum() ** (1.0 / p)


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The ``norm_type``-norm of all ``tensors`` together (as if concatenated), a 0-d Tensor
    on the first one's device. ``foreach`` is accepted for PyTorch's signature."""
    tensors = [t for t in _as_list(tensors) if t is not None]
    norm_type = float(norm_type)
    if not tensors:
        from ...creation import tensor

        return tensor(0.0)
    first = tensors[0].device
    norms = []
    for t in tensors:
        a = t.coalesce()._vals.data if t.is_sparse else t.data  # a sparse gradient's entries
        n = _vector_norm(a, norm_type) if a.size else xp_of(a).zeros((), xp_of(a).abs(a).dtype)
        if t.device != first:  # as PyTorch: the norms meet on the first tensor's device
            n = _new_tensor(n, None, False).to(first).data
        norms.append(n)
    xp = xp_of(norms[0])
    total = _vector_norm(xp.stack(norms), norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from "
                           "`parameters` is non-finite, so it cannot be clipped. To disable "
                           "this error and scale the gradients by the non-finite norm anyway, "
                           "set `error_if_nonfinite=False`")
    return _new_tensor(total, None, False)


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale the gradients by ``min(1, max_norm / (total_norm + 1e-6))`` in place."""
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    if not grads:
        return
    total = total_norm.data if isinstance(total_norm, Tensor) else total_norm
    xp = xp_of(total)
    coef = float(max_norm) / (total + 1e-6)
    coef = xp.minimum(coef, 1.0) if hasattr(coef, "dtype") else min(coef, 1.0)
    for g in grads:
        a = g._vals.data if g.is_sparse else g.data  # a sparse gradient: its values
        c = coef
        if hasattr(c, "dtype"):
            if xp_of(a) is not xp or g.device != total_norm.device:
                c = _new_tensor(xp.asarray(c), None, False).to(g.device).data
            c = c.astype(a.dtype, copy=False)
        a *= c
        bump_version(g._vc)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False,
                    foreach=None):
    """Scale the gradients of ``parameters`` in place so that their total ``norm_type``-norm
    is at most ``max_norm``; returns the total norm before clipping (a 0-d Tensor).

    As PyTorch: the scale is ``min(1, max_norm / (total + 1e-6))``; ``norm_type`` may be
    ``inf``; a NaN or infinite norm raises only with ``error_if_nonfinite``.
    """
    params = _as_list(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(params, max_norm, total, foreach)
    return total


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient into ``[-clip_value, clip_value]`` in place."""
    clip_value = float(clip_value)
    for p in _as_list(parameters):
        if p.grad is not None:
            if p.grad.is_sparse:  # clamped entry by entry: each row once
                p.grad = p.grad.coalesce()
                g = p.grad._vals.data
            else:
                g = p.grad.data
            xp_of(g).clip(g, -clip_value, clip_value, out=g)
            bump_version(p.grad._vc)


def _check_same_device(params):
    first = None
    for p in params:
        if first is None:
            first = p.device
        elif p.device != first:
            raise TypeError(f"Found two parameters on different devices, this is currently not "
                            f"supported: {first} and {p.device}")


def parameters_to_vector(parameters):
    """All parameters flattened into one vector (differentiable, as PyTorch's)."""
    from ... import cat

    params = _as_list(parameters)
    _check_same_device(params)
    return cat([p.reshape(-1) for p in params])


def vector_to_parameters(vec, parameters):
    """Slice ``vec`` into the parameters, in order. As in PyTorch each parameter's data
    becomes a view of ``vec`` (they share memory afterwards)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected a Tensor, but got: {type(vec).__name__}")
    params = _as_list(parameters)
    _check_same_device(params)
    total = sum(p.data.size for p in params)
    if vec.ndim != 1 or vec.shape[0] != total:
        raise RuntimeError(f"vector_to_parameters: the vector has shape {tuple(vec.shape)}, the "
                           f"parameters {total} elements")
    offset = 0
    for p in params:
        n = p.data.size
        p.data = vec.data[offset:offset + n].reshape(p.data.shape)
        bump_version(p._vc)
        offset += n


__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_",
           "parameters_to_vector", "vector_to_parameters"]

def clip_grad_norm(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Deprecated name of ``clip_grad_norm_`` (same arguments; a FutureWarning, as PyTorch)."""
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of "
                  "`torch.nn.utils.clip_grad_norm_`.", FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def _convert_conv_weights(module, memory_format, kinds):
    """Lay the weights of the convolutions of ``kinds`` in ``module`` (recursively) out in
    ``memory_format``, in place; values and parameters stay the same objects."""
    if isinstance(module, kinds):
        w = module.weight
        w.data = w.detach().clone(memory_format=memory_format).data
    for child in module.children():
        _convert_conv_weights(child, memory_format, kinds)
    return module


def convert_conv2d_weight_memory_format(module, memory_format):
    """PyTorch's: the weights of every ``Conv2d``/``ConvTranspose2d`` in ``module`` laid out
    in ``memory_format`` (``tg.channels_last``); returns ``module``."""
    from .. import Conv2d, ConvTranspose2d

    return _convert_conv_weights(module, memory_format, (Conv2d, ConvTranspose2d))


def convert_conv3d_weight_memory_format(module, memory_format):
    """PyTorch's: the weights of every ``Conv3d``/``ConvTranspose3d`` in ``module`` laid out
    in ``memory_format`` (``tg.channels_last_3d``); returns ``module``."""
    from .. import Conv3d, ConvTranspose3d

    return _convert_conv_weights(module, memory_format, (Conv3d, ConvTranspose3d))

__all__ += ["clip_grad_norm", "convert_conv2d_weight_memory_format",
            "convert_conv3d_weight_memory_format"]

# the submodules, as torch.nn.utils.rnn, .parametrize, .parametrizations, .prune, .stateless
from . import parametrizations, parametrize, prune, rnn, stateless  # noqa: E402
from ._norm_hooks import (  # noqa: E402
    remove_spectral_norm,
    remove_weight_norm,
    spectral_norm,
    weight_norm,
)
from .fusion import (  # noqa: E402
    fuse_conv_bn_eval,
    fuse_conv_bn_weights,
    fuse_linear_bn_eval,
    fuse_linear_bn_weights,
)
from .init import skip_init  # noqa: E402

__all__ += ["rnn", "parametrize", "parametrizations", "prune", "stateless", "weight_norm",
            "remove_weight_norm", "spectral_norm", "remove_spectral_norm", "fuse_conv_bn_eval",
            "fuse_conv_bn_weights", "fuse_linear_bn_eval", "fuse_linear_bn_weights",
            "skip_init"]
