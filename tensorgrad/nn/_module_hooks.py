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

import warnings

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
        self.hooks = list(hooks.values()) if hooks else []
        self.pre_hooks = list(pre_hooks.values()) if pre_hooks else []
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
