"""Module forward hooks and full backward hooks, as PyTorch's ``nn.Module`` runs them.

A full backward hook ``hook(module, grad_input, grad_output)`` needs the gradients at the
module's inputs and outputs of one backward pass. As PyTorch's ``BackwardHook`` does, the
module's tensor arguments and its tensor results each pass through one identity node (a
``tg.autograd.Function``) when grad mode is on: the output node's backward sees the gradients
of the outputs (the backward pre-hooks may replace them), the input node's backward, which the
engine runs once every gradient of the inputs has been summed, calls the hooks with both (they
may replace the input gradients). When no input requires grad the hooks fire at the output
node with ``grad_input`` all None (PyTorch warns then; so do we). The identity's backward is
written with tensorgrad values, so ``create_graph=True`` goes through it.
"""

import itertools
import warnings
from collections import OrderedDict

from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled
from ..tensor import Tensor


class _BackwardHookFunction(Function):
    """The identity on the tensors given; its backward hands their gradients to ``callback``
    (which may replace them)."""

    @staticmethod
    def forward(ctx, callback, *tensors):
        ctx.callback = callback
        ctx.mark_non_differentiable(*[t for t in tensors if not t.requires_grad])
        return tensors

    @staticmethod
    def backward(ctx, *grads):
        return (None,) + tuple(ctx.callback(grads))

    @staticmethod
    def jvp(ctx, callback_tangent, *tangents):
        return tangents  # forward mode passes the identity (the hooks are for backward)


class BackwardHook:
    """One call's link between the gradients at a module's outputs and at its inputs."""

    def __init__(self, module, hooks, pre_hooks):
        self.module = module
        self.hooks = hooks  # lists: the global hooks first, then the module's
        self.pre_hooks = pre_hooks
        self.grad_outputs = None
        self.n_inputs = self.n_outputs = -1
        self.input_index = self.output_index = None

    @staticmethod
    def _pack(index, values, size):
        res = [None] * size
        for i, v in zip(index, values):
            res[i] = v
        return tuple(res)

    def _wrap(self, args, callback):
        """``args`` with its tensors passed through one identity node, and their positions;
        unchanged (and None) when grad mode is off or none of them requires grad."""
        index = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        if not (is_grad_enabled() and any(args[i].requires_grad for i in index)):
            return args, None
        new = _BackwardHookFunction.apply(callback, *[args[i] for i in index])
        out = list(args)
        for i, t in zip(index, new):
            out[i] = t
        return tuple(out), index

    def setup_input_hook(self, args):
        args, self.input_index = self._wrap(args, self._on_input_grads)
        self.n_inputs = len(args)
        return args

    def setup_output_hook(self, result):
        single = not isinstance(result, tuple)
        outs = (result,) if single else result
        outs, self.output_index = self._wrap(outs, self._on_output_grads)
        self.n_outputs = len(outs)
        return outs[0] if single else outs

    def _on_output_grads(self, grads):
        self.grad_outputs = self._pack(self.output_index, grads, self.n_outputs)
        for hook in self.pre_hooks:
            res = hook(self.module, self.grad_outputs)
            if res is None:
                continue
            res = tuple(res) if isinstance(res, (tuple, list)) else (res,)
            if len(res) != len(self.grad_outputs):
                raise RuntimeError(f"{type(self.module).__name__}: backward pre hook returned "
                                   f"{len(res)} grad_output, but expected "
                                   f"{len(self.grad_outputs)}")
            self.grad_outputs = res
        local = self.grad_outputs
        if self.input_index is None:
            warnings.warn("Full backward hook is firing when gradients are computed with "
                          "respect to module outputs since no inputs require gradients",
                          UserWarning, stacklevel=2)
            none = (None,) * self.n_inputs
            for hook in self.hooks:
                res = hook(self.module, none, self.grad_outputs)
                if res is not None and not (isinstance(res, tuple) and
                                            all(r is None for r in res)):
                    raise RuntimeError("Backward hook for Modules where no input requires "
                                       "gradient should always return None or None for all "
                                       "gradients.")
            self.grad_outputs = None
        return tuple(local[i] for i in self.output_index)

    def _on_input_grads(self, grads):
        if self.grad_outputs is None:
            # the gradient reached the inputs without passing the outputs (double backward)
            return grads
        res = self._pack(self.input_index, grads, self.n_inputs)
        for hook in self.hooks:
            out = hook(self.module, res, self.grad_outputs)
            if out is None:
                continue
            out = tuple(out) if isinstance(out, (tuple, list)) else (out,)
            if len(out) != len(res):
                raise RuntimeError(f"{type(self.module).__name__}: backward hook returned "
                                   f"{len(out)} grad_input, but expected {len(res)}")
            res = out
        self.grad_outputs = None
        return tuple(res[i] for i in self.input_index)


# ---- hooks common to all modules (PyTorch's torch.nn.modules.module.register_module_*) ------
# While none is registered, Module.__call__ is the plain one and looks at none of these; the
# first registration swaps in Module._call_with_global_hooks, the last removal swaps it back.
_global_forward_pre_hooks = OrderedDict()
_global_forward_hooks = OrderedDict()  # id -> (hook, with_kwargs, always_call), as a module's
_global_backward_hooks = OrderedDict()
_global_backward_pre_hooks = OrderedDict()
_global_is_full_backward_hook = [None]  # True (full hooks), False (the deprecated ones), None
_GLOBAL_TABLES = (_global_forward_pre_hooks, _global_forward_hooks, _global_backward_hooks,
                  _global_backward_pre_hooks)


def _swap_call():
    from .modules import Module

    if any(_GLOBAL_TABLES):
        Module.__call__ = Module._call_with_global_hooks
    else:
        Module.__call__ = Module._call_plain
        if not _global_backward_hooks:
            _global_is_full_backward_hook[0] = None


class _GlobalHandle:
    """What the register_module_* functions return: ``remove()`` takes the hook out (and, with
    the last one, the global-hook path out of Module.__call__)."""

    _ids = itertools.count()

    def __init__(self, table, entry):
        self.table, self.id = table, next(_GlobalHandle._ids)
        table[self.id] = entry
        _swap_call()

    def remove(self):
        if self.table.pop(self.id, None) is not None:
            _swap_call()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def register_module_forward_pre_hook(hook):
    """Call ``hook(module, args)`` before the ``forward`` of every module, before the module's
    own pre-hooks; a result that is not None replaces the arguments (a non-tuple becomes the
    one argument). For debugging and profiling, as PyTorch's. Returns a handle whose
    ``remove()`` drops the hook."""
    return _GlobalHandle(_global_forward_pre_hooks, hook)


def register_module_forward_hook(hook, *, with_kwargs=False, always_call=False):
    """Call ``hook(module, args, output)`` (``hook(module, args, kwargs, output)`` with
    ``with_kwargs``) after the ``forward`` of every module, before the module's own forward
    hooks; a result that is not None replaces the output. With ``always_call`` it also runs
    when forward raises. Returns a handle whose ``remove()`` drops the hook."""
    return _GlobalHandle(_global_forward_hooks, (hook, with_kwargs, always_call))


def _backward_kind(full):
    if _global_is_full_backward_hook[0] is (not full):
        raise RuntimeError("Cannot use both regular backward hooks and full backward hooks as a "
                           "global Module hook. Please use only one of them.")
    _global_is_full_backward_hook[0] = full


def register_module_full_backward_hook(hook):
    """Call ``hook(module, grad_input, grad_output)`` for every module, as
    ``Module.register_full_backward_hook`` does, before the module's own hooks. Returns a
    handle whose ``remove()`` drops the hook."""
    _backward_kind(True)
    return _GlobalHandle(_global_backward_hooks, hook)


def register_module_backward_hook(hook):
    """PyTorch's deprecated global backward hook: runs as a full backward hook (see
    ``Module.register_backward_hook``)."""
    _backward_kind(False)
    return _GlobalHandle(_global_backward_hooks, hook)


def register_module_full_backward_pre_hook(hook):
    """Call ``hook(module, grad_output)`` for every module, as
    ``Module.register_full_backward_pre_hook`` does, before the module's own pre-hooks.
    Returns a handle whose ``remove()`` drops the hook."""
    return _GlobalHandle(_global_backward_pre_hooks, hook)


def warn_non_full(args, wrapped, result):
    """The FutureWarnings PyTorch gives where its deprecated (non-full) backward hook would see
    other gradients than a full one; here such a hook always runs as a full one. ``args``
    are the module's arguments, ``wrapped`` those that forward got (through the identity
    node of the full hooks, which PyTorch's non-full hooks do not add: it is looked through)."""
    outs = result if isinstance(result, tuple) else (result,)
    if not all(isinstance(r, Tensor) for r in outs):
        warnings.warn("Using non-full backward hooks on a Module that does not return a single "
                      "Tensor or a tuple of Tensors is deprecated and will be removed in future "
                      "versions. This hook will be missing some of the grad_output. Please use "
                      "register_full_backward_hook to get the documented behavior.",
                      FutureWarning, stacklevel=3)
        return
    if not all(isinstance(a, Tensor) for a in args):
        warnings.warn("Using non-full backward hooks on a Module that does not take as input a "
                      "single Tensor or a tuple of Tensors is deprecated and will be removed in "
                      "future versions. This hook will be missing some of the grad_input. "
                      "Please use register_full_backward_hook to get the documented behavior.",
                      FutureWarning, stacklevel=3)
        return
    out_nodes = {id(r._node): r._node for r in outs if r._node is not None}
    if len(out_nodes) > 1:
        warnings.warn("Using a non-full backward hook when outputs are generated by different "
                      "autograd Nodes is deprecated and will be removed in future versions. "
                      "This hook will be missing some grad_output. Please use "
                      "register_full_backward_hook to get the documented behavior.",
                      FutureWarning, stacklevel=3)
        return
    if not out_nodes:
        return
    node, = out_nodes.values()
    # as PyTorch compares the inputs' grad_fns with the next functions of the output's
    # grad_fn: a leaf input stands for its AccumulateGrad, which is never an input's grad_fn
    inputs = {id(a._node) for a in args if a._node is not None}
    through = {id(w._node): a._node or a for a, w in zip(args, wrapped)
               if w is not a and w._node is not None}
    # (arguments without a gradient are left out: tensorgrad's nodes do not tell a constant,
    # such as a fused kernel's absent bias, from a tensor that needs none)
    nexts = {id(through.get(id(p), p)) for p in node.parents if p is not None}
    if inputs != nexts:
        warnings.warn("Using a non-full backward hook when the forward contains multiple "
                      "autograd Nodes is deprecated and will be removed in future versions. "
                      "This hook will be missing some grad_input. Please use "
                      "register_full_backward_hook to get the documented behavior.",
                      FutureWarning, stacklevel=3)
