"""``tg.nn.utils.prune``: mask entries or channels of a parameter, as
``torch.nn.utils.prune``.

Pruning ``module.weight`` moves the parameter to ``weight_orig``, adds the buffer
``weight_mask`` (state_dict keys ``weight_orig``, ``weight_mask``, as PyTorch) and a forward
pre-hook that sets the plain attribute ``weight = weight_mask * weight_orig`` before each
forward. Pruning the same tensor again combines the masks in a ``PruningContainer``;
``remove`` makes the pruned values permanent.

>>> import tensorgrad as tg
>>> lin = tg.nn.Linear(4, 2)
>>> _ = tg.nn.utils.prune.l1_unstructured(lin, "weight", amount=3)
>>> int((lin.weight == 0).sum().item()), list(lin.state_dict())
(3, ['bias', 'weight_orig', 'weight_mask'])
>>> _ = tg.nn.utils.prune.remove(lin, "weight")
>>> list(lin.state_dict())
['bias', 'weight']
"""

import numbers
from abc import ABC, abstractmethod
from collections.abc import Iterable

from ... import creation
from ...backend.device import xp_of
from ...tensor import Tensor, _new_tensor

__all__ = ["BasePruningMethod", "PruningContainer", "Identity", "RandomUnstructured",
           "L1Unstructured", "RandomStructured", "LnStructured", "CustomFromMask", "identity",
           "random_unstructured", "l1_unstructured", "random_structured", "ln_structured",
           "global_unstructured", "custom_from_mask", "remove", "is_pruned"]


def _wrap(arr):
    return _new_tensor(arr, None, False)


def _ones_like(t):
    return creation.ones(*t.shape, dtype=t.dtype, device=t.device)


def _pre_hooks(module):
    return module.__dict__.get("_forward_pre_hooks", {})


class BasePruningMethod(ABC):
    """A pruning method: ``compute_mask(t, default_mask)`` gives the new mask; the object is
    also the forward pre-hook that applies it. Subclasses set ``PRUNING_TYPE`` to
    "unstructured", "structured" (and have ``dim``) or "global"."""

    _tensor_name = None

    def __call__(self, module, inputs):
        setattr(module, self._tensor_name, self.apply_mask(module))

    @abstractmethod
    def compute_mask(self, t, default_mask):
        """The mask for ``t`` (same shape), given the mask already applied."""

    def apply_mask(self, module):
        """``<name>_mask * <name>_orig`` of ``module``, differentiable in ``<name>_orig``."""
        if self._tensor_name is None:
            raise AssertionError(f"Module {module} has to be pruned")
        mask = getattr(module, self._tensor_name + "_mask")
        orig = getattr(module, self._tensor_name + "_orig")
        return mask.to(orig.dtype) * orig

    @classmethod
    def apply(cls, module, name, *args, importance_scores=None, **kwargs):
        """Prune ``module.<name>`` with ``cls(*args, **kwargs)``, combined with a pruning
        already there; the mask is computed from ``importance_scores`` (default: the
        tensor). Returns the method (or container) now acting as the hook."""
        method = _composite_method(cls, module, name, *args, **kwargs)
        orig = getattr(module, name)
        if importance_scores is not None:
            if tuple(importance_scores.shape) != tuple(orig.shape):
                raise AssertionError(f"importance_scores should have the same shape as "
                                     f"parameter {name} of {module}")
        else:
            importance_scores = orig
        if not isinstance(method, PruningContainer):
            module.register_parameter(name + "_orig", orig)
            del module._parameters[name]
            default_mask = _ones_like(orig)
        else:
            default_mask = getattr(module, name + "_mask").detach().clone()
        try:
            mask = method.compute_mask(importance_scores, default_mask=default_mask)
            module.register_buffer(name + "_mask", mask)
            setattr(module, name, method.apply_mask(module))
            module.register_forward_pre_hook(method)
        except Exception:
            if not isinstance(method, PruningContainer):  # put the parameter back
                orig = getattr(module, name + "_orig")
                module.register_parameter(name, orig)
                del module._parameters[name + "_orig"]
            raise
        return method

    def prune(self, t, default_mask=None, importance_scores=None):
        """``t`` times the mask this method computes (from ``importance_scores`` if given)."""
        if importance_scores is not None:
            if tuple(importance_scores.shape) != tuple(t.shape):
                raise AssertionError("importance_scores should have the same shape as tensor t")
        else:
            importance_scores = t
        default_mask = default_mask if default_mask is not None else _ones_like(t)
        return t * self.compute_mask(importance_scores, default_mask=default_mask)

    def remove(self, module):
        """Make the pruning permanent: ``<name>`` becomes the ``<name>_orig`` Parameter
        (same object) holding the masked values; the mask and the re-parametrization go."""
        if self._tensor_name is None:
            raise AssertionError(f"Module {module} has to be pruned before pruning can be "
                                 "removed")
        weight = self.apply_mask(module)
        if self._tensor_name in module.__dict__:
            delattr(module, self._tensor_name)
        orig = module._parameters[self._tensor_name + "_orig"]
        orig.data = weight.data
        orig._vc[0] += 1
        del module._parameters[self._tensor_name + "_orig"]
        del module._buffers[self._tensor_name + "_mask"]
        setattr(module, self._tensor_name, orig)


def _composite_method(cls, module, name, *args, **kwargs):
    """``cls(*args, **kwargs)`` for ``name``, merged with the pruning hook already on
    ``name`` (taken off the module) into a PruningContainer."""
    hooks = _pre_hooks(module)
    found = [k for k, h in hooks.items()
             if isinstance(h, BasePruningMethod) and h._tensor_name == name]
    if len(found) > 1:
        raise AssertionError(f"Avoid adding multiple pruning hooks to the same tensor {name} "
                             f"of module {module}. Use a PruningContainer.")
    old = hooks.pop(found[0]) if found else None
    method = cls(*args, **kwargs)
    method._tensor_name = name
    if old is None:
        return method
    if isinstance(old, PruningContainer):
        old.add_pruning_method(method)
        return old
    container = PruningContainer(old)
    container.add_pruning_method(method)
    return container


class PruningContainer(BasePruningMethod):
    """The pruning methods applied in turn to one tensor; each acts on what the previous ones
    left (unpruned entries, or channels not yet all zero)."""

    def __init__(self, *args):
        self._pruning_methods = ()
        if len(args) == 1 and isinstance(args[0], BasePruningMethod):
            self._tensor_name = args[0]._tensor_name
            self.add_pruning_method(args[0])
        else:
            for method in args:
                self.add_pruning_method(method)

    def add_pruning_method(self, method):
        if not isinstance(method, BasePruningMethod) and method is not None:
            raise TypeError(f"{type(method)} is not a BasePruningMethod subclass")
        if method is not None and self._tensor_name != method._tensor_name:
            raise ValueError(f"Can only add pruning methods acting on the parameter named "
                             f"'{self._tensor_name}' to PruningContainer {self}. Found "
                             f"'{method._tensor_name}'")
        self._pruning_methods += (method,)

    def __len__(self):
        return len(self._pruning_methods)

    def __iter__(self):
        return iter(self._pruning_methods)

    def __getitem__(self, idx):
        return self._pruning_methods[idx]

    def compute_mask(self, t, default_mask):
        """The last method's mask, computed on the part of ``t`` the mask still keeps."""
        method = self._pruning_methods[-1]
        mask = default_mask.data.astype(t.dtype)
        xp = xp_of(mask)
        kind = method.PRUNING_TYPE
        if kind == "unstructured":
            slc = mask == 1
        elif kind == "structured":
            if not hasattr(method, "dim"):
                raise AttributeError('Pruning methods of PRUNING_TYPE "structured" need to have '
                                     "the attribute `dim` defined.")
            n_dims = t.ndim
            dim = method.dim + n_dims if method.dim < 0 else method.dim
            if dim < 0:
                raise IndexError(f"Index is out of bounds for tensor with dimensions {n_dims}")
            axes = tuple(d for d in range(n_dims) if d != dim)
            slc = [slice(None)] * n_dims
            slc[dim] = xp.nonzero(mask.sum(axis=axes) != 0)[0]  # channels not all pruned
            slc = tuple(slc)
        elif kind == "global":
            slc = (slice(None),) * t.ndim
        else:
            raise ValueError(f"Unrecognized PRUNING_TYPE {kind}")
        partial = method.compute_mask(_wrap(t.data[slc]), default_mask=_wrap(mask[slc]))
        mask[slc] = partial.data.astype(mask.dtype, copy=False)
        return _wrap(mask)


class Identity(BasePruningMethod):
    """Prunes nothing: the mask stays all ones (or as it was)."""

    PRUNING_TYPE = "unstructured"

    def compute_mask(self, t, default_mask):
        return default_mask

    @classmethod
    def apply(cls, module, name):
        return super().apply(module, name)


def _validate_amount_init(amount):
    if not isinstance(amount, numbers.Real):
        raise TypeError(f"Invalid type for amount: {amount}. Must be int or float.")
    integral = isinstance(amount, numbers.Integral)
    if (integral and amount < 0) or (not integral and not 0.0 <= float(amount) <= 1.0):
        raise ValueError(f"amount={amount} should either be a float in the range [0, 1] or a "
                         "non-negative integer")


def _n_to_prune(amount, size):
    """How many of ``size`` units ``amount`` (a count, or a fraction rounded as Python
    rounds) prunes; a count larger than ``size`` is a ValueError."""
    if isinstance(amount, numbers.Integral):
        if amount > size:
            raise ValueError(f"amount={amount} should be smaller than the number of parameters "
                             f"to prune={size}")
        return amount
    return round(amount * size)


def _validate_structured(t, dim):
    if t.ndim <= 1:
        raise ValueError(f"Structured pruning can only be applied to multidimensional tensors. "
                         f"Found tensor of shape {tuple(t.shape)} with {t.ndim} dims")
    if dim >= t.ndim:
        raise IndexError(f"Invalid index {dim} for tensor of size {tuple(t.shape)}")


def _zero_flat(mask, flat_idx):
    m = mask.data.copy()
    m.reshape(-1)[flat_idx] = 0
    return _wrap(m)


def _channel_mask(t, dim, keep_idx, default_mask):
    """Ones in the channels ``keep_idx`` along ``dim``, zeros elsewhere, times the old mask."""
    xp = xp_of(t.data)
    m = xp.zeros(t.shape, dtype=t.dtype)
    slc = [slice(None)] * t.ndim
    slc[dim] = keep_idx
    m[tuple(slc)] = 1
    return _wrap(m * default_mask.data.astype(m.dtype, copy=False))


class _Unstructured(BasePruningMethod):
    """Prune ``amount`` entries (a count, or a fraction): the flat indices ``_pick(t, k)``."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount):
        _validate_amount_init(amount)
        self.amount = amount

    def compute_mask(self, t, default_mask):
        k = _n_to_prune(self.amount, t.data.size)
        if k == 0:
            return _wrap(default_mask.data.copy())
        return _zero_flat(default_mask, self._pick(t, k))


class RandomUnstructured(_Unstructured):
    """Prune ``amount`` entries (a count, or a fraction) chosen at random."""

    def _pick(self, t, k):
        prob = creation.rand(t.data.size, dtype="float64", device=t.device).data
        return xp_of(prob).argsort(prob)[-k:]

    @classmethod
    def apply(cls, module, name, amount):
        return super().apply(module, name, amount=amount)


class L1Unstructured(_Unstructured):
    """Prune the ``amount`` entries (a count, or a fraction) of smallest absolute value."""

    def _pick(self, t, k):
        xp = xp_of(t.data)
        return xp.argsort(xp.abs(t.data).reshape(-1), kind="stable")[:k]

    @classmethod
    def apply(cls, module, name, amount, importance_scores=None):
        return super().apply(module, name, amount=amount, importance_scores=importance_scores)


class RandomStructured(BasePruningMethod):
    """Prune ``amount`` channels along ``dim`` (a count, or a fraction) chosen at random."""

    PRUNING_TYPE = "structured"

    def __init__(self, amount, dim=-1):
        _validate_amount_init(amount)
        self.amount = amount
        self.dim = dim

    def compute_mask(self, t, default_mask):
        _validate_structured(t, self.dim)
        n = t.shape[self.dim]
        k = _n_to_prune(self.amount, n)
        if k == 0:
            return default_mask
        prob = creation.rand(n, dtype="float64", device=t.device).data
        keep = xp_of(prob).argsort(prob)[k:]
        return _channel_mask(t, self.dim, keep, default_mask)

    @classmethod
    def apply(cls, module, name, amount, dim=-1):
        return super().apply(module, name, amount=amount, dim=dim)


def _ln_norm(a, n, axes):
    """The ``n``-norm of ``a`` over ``axes`` (``n``: a number, inf, -inf or "fro")."""
    xp = xp_of(a)
    mag = xp.abs(a)
    if n == "fro":
        n = 2
    if n == float("inf"):
        return mag.max(axis=axes)
    if n == float("-inf"):
        return mag.min(axis=axes)
    if n == 0:
        return (a != 0).sum(axis=axes).astype(mag.dtype)
    return (mag ** n).sum(axis=axes) ** (1.0 / n)


class LnStructured(BasePruningMethod):
    """Prune the ``amount`` channels along ``dim`` (a count, or a fraction) of smallest
    ``n``-norm."""

    PRUNING_TYPE = "structured"

    def __init__(self, amount, n, dim=-1):
        _validate_amount_init(amount)
        self.amount = amount
        self.n = n
        self.dim = dim

    def compute_mask(self, t, default_mask):
        _validate_structured(t, self.dim)
        size = t.shape[self.dim]
        k = _n_to_prune(self.amount, size)
        if k == 0:
            return default_mask
        dim = self.dim % t.ndim
        norm = _ln_norm(t.data, self.n, tuple(d for d in range(t.ndim) if d != dim))
        keep = xp_of(norm).argsort(norm, kind="stable")[k:]
        return _channel_mask(t, dim, keep, default_mask)

    @classmethod
    def apply(cls, module, name, amount, n, dim, importance_scores=None):
        return super().apply(module, name, amount=amount, n=n, dim=dim,
                             importance_scores=importance_scores)


class CustomFromMask(BasePruningMethod):
    """Prune where the given ``mask`` is zero."""

    PRUNING_TYPE = "global"

    def __init__(self, mask):
        self.mask = mask

    def compute_mask(self, t, default_mask):
        if tuple(default_mask.shape) != tuple(self.mask.shape):
            raise AssertionError(f"CustomFromMask: the mask has shape {tuple(self.mask.shape)}, "
                                 f"the tensor {tuple(default_mask.shape)}")
        mask = self.mask.data if isinstance(self.mask, Tensor) else self.mask
        xp = xp_of(default_mask.data)
        return _wrap(default_mask.data * xp.asarray(mask).astype(default_mask.dtype))

    @classmethod
    def apply(cls, module, name, mask):
        return super().apply(module, name, mask=mask)


def identity(module, name):
    """Add a pruning re-parametrization that prunes nothing; returns ``module``."""
    Identity.apply(module, name)
    return module


def random_unstructured(module, name, amount):
    """Prune ``amount`` random entries of ``module.<name>``; returns ``module``."""
    RandomUnstructured.apply(module, name, amount)
    return module


def l1_unstructured(module, name, amount, importance_scores=None):
    """Prune the ``amount`` entries of ``module.<name>`` of smallest absolute value (of
    ``importance_scores`` if given); returns ``module``."""
    L1Unstructured.apply(module, name, amount=amount, importance_scores=importance_scores)
    return module


def random_structured(module, name, amount, dim):
    """Prune ``amount`` random channels of ``module.<name>`` along ``dim``; returns
    ``module``."""
    RandomStructured.apply(module, name, amount, dim)
    return module


def ln_structured(module, name, amount, n, dim, importance_scores=None):
    """Prune the ``amount`` channels along ``dim`` of smallest ``n``-norm; returns
    ``module``."""
    LnStructured.apply(module, name, amount, n, dim, importance_scores=importance_scores)
    return module


def global_unstructured(parameters, pruning_method, importance_scores=None, **kwargs):
    """Prune the ``(module, name)`` pairs of ``parameters`` together, as if one tensor, with
    the unstructured ``pruning_method`` class (``amount=`` etc. in ``kwargs``); each gets a
    ``CustomFromMask`` pruning with its share of the mask.

    >>> import tensorgrad as tg
    >>> a, b = tg.nn.Linear(3, 3), tg.nn.Linear(3, 3)
    >>> tg.nn.utils.prune.global_unstructured([(a, "weight"), (b, "weight")],
    ...     tg.nn.utils.prune.L1Unstructured, amount=6)
    >>> int(((a.weight == 0).sum() + (b.weight == 0).sum()).item())
    6
    """
    from . import parameters_to_vector

    if not isinstance(parameters, Iterable):
        raise TypeError("global_unstructured(): parameters is not an Iterable")
    parameters = list(parameters)
    importance_scores = importance_scores if importance_scores is not None else {}
    if not isinstance(importance_scores, dict):
        raise TypeError("global_unstructured(): importance_scores must be of type dict")
    scores = parameters_to_vector([importance_scores.get((m, n), getattr(m, n))
                                   for m, n in parameters]).detach()
    default_mask = parameters_to_vector([
        getattr(m, n + "_mask") if hasattr(m, n + "_mask") else _ones_like(getattr(m, n))
        for m, n in parameters]).detach()
    container = PruningContainer()
    container._tensor_name = "temp"
    method = pruning_method(**kwargs)
    method._tensor_name = "temp"
    if method.PRUNING_TYPE != "unstructured":
        raise TypeError(f'Only "unstructured" PRUNING_TYPE supported for the `pruning_method`. '
                        f"Found method {pruning_method} of type {method.PRUNING_TYPE}")
    container.add_pruning_method(method)
    final = container.compute_mask(scores, default_mask).data
    pointer = 0
    for m, n in parameters:
        param = getattr(m, n)
        size = param.data.size
        custom_from_mask(m, n, mask=_wrap(final[pointer:pointer + size].reshape(param.shape)))
        pointer += size


def custom_from_mask(module, name, mask):
    """Prune ``module.<name>`` where ``mask`` is zero; returns ``module``."""
    CustomFromMask.apply(module, name, mask)
    return module


def remove(module, name):
    """Make the pruning of ``module.<name>`` permanent (see ``BasePruningMethod.remove``);
    returns ``module``."""
    hooks = _pre_hooks(module)
    for key, hook in hooks.items():
        if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
            hook.remove(module)
            del hooks[key]
            return module
    raise ValueError(f"Parameter '{name}' of module {module} has to be pruned before pruning can "
                     "be removed")


def is_pruned(module):
    """Whether ``module`` or a descendant has a pruning hook."""
    return any(isinstance(hook, BasePruningMethod)
               for _, sub in module.named_modules() for hook in _pre_hooks(sub).values())
