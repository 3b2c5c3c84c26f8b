"""PyTorch's ``inplace=True`` of the activations and dropouts (and their ``*_`` functions):
the input tensor takes the function's value and is returned."""

from ..autograd.grad_mode import _state
from ..tensor import Tensor, drop_dead_views


def apply_inplace(input, fn, op):
    """``input`` overwritten by ``fn(input)``, as PyTorch's in-place functions; returns
    ``input``.

    On the tape, where nothing else can see the tensor's memory (it is no view and has no
    views or ``detach()`` aliases) and no forward-mode level is open, the tensor takes the
    new value's array and history without a copy: what can be observed (its values, its
    gradient, the result being the same object) is PyTorch's, and values that earlier nodes
    saved stay as they were (PyTorch would refuse a backward through a node that saved
    them). Elsewhere the array is written: views and aliases see it, the version counter
    moves, and on the tape the new value's graph reads a copy of the old values, so a rule
    that saved them stays right."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a tensorgrad Tensor, got {type(input).__name__}")
    recording = _state.enabled and input._rg
    input._check_inplace(op, recording)
    if recording and not input._level and getattr(input, "_view", None) is None and \
            not _aliased(input):
        out = fn(input)
        _check_shape(out, input, op)
        if out is not input:
            input.data, input._node, input._rg = out.data, out._node, out._rg
            input._vc = [input._vc[0] + 1]
        return input
    # a dual's primal is written in place too: its graph must not read the old values either
    out = fn(input.clone() if recording or input._level else input)
    _check_shape(out, input, op)
    if out is not input:
        input[...] = out
    return input


def _aliased(t):
    """Whether a live view or ``detach()`` alias of ``t`` is registered with its version
    counter (the dead references are dropped on the way)."""
    return len(t._vc) > 1 and drop_dead_views(t._vc)


def _check_shape(out, input, op):
    if tuple(out.shape) != tuple(input.shape):
        raise ValueError(f"{op}: result shape {tuple(out.shape)} differs from input shape "
                         f"{tuple(input.shape)}")
