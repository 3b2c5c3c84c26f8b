"""PyTorch's ``torch.autograd.forward_ad``: dual tensors made and read by hand.

Built on the forward-mode duals of :mod:`tensorgrad.autograd.forward`: ``dual_level`` opens a
fresh level (the same kind that ``tg.jvp`` opens), ``make_dual`` gives a tensor a tangent at
that level, every op then carries the tangent along through its JVP rule, and ``unpack_dual``
reads the result back. Because the primal under a dual may be a tensor on the tape, the
reverse pass nests under it: ``tg.autograd.grad`` of a dual output gives a dual gradient whose
tangent is a Hessian-vector product (forward over reverse).

>>> import tensorgrad as tg
>>> import tensorgrad.autograd.forward_ad as fwAD
>>> x = tg.tensor([1.0, 2.0])
>>> with fwAD.dual_level():
...     y = fwAD.make_dual(x, tg.tensor([1.0, 0.0])) ** 2
...     fwAD.unpack_dual(y).tangent
tensor([2., 0.])

As in PyTorch, one level is open at a time (``tg.jvp`` and ``tg.func.jvp`` nest inside it).
Unlike PyTorch, a dual made inside a level keeps its tangent as an object after the level is
exited (its values still flow through ops); ``unpack_dual`` then reports no tangent, since the
level it belongs to is gone, and no later level can be confused with it (levels are never
reused).
"""

import threading
from collections import namedtuple

from ..backend.device import device_of
from ..tensor import Tensor, _new_tensor
from . import forward
from .grad_mode import _state as _grad_state

__all__ = ["dual_level", "enter_dual_level", "exit_dual_level", "make_dual", "unpack_dual",
           "UnpackedDualTensor"]


class _Levels(threading.local):
    current = None  # the open level (an int from forward.new_level), or None


_state = _Levels()


UnpackedDualTensor = namedtuple("UnpackedDualTensor", ["primal", "tangent"])
UnpackedDualTensor.__doc__ = "What ``unpack_dual`` returns: ``primal`` and ``tangent`` (or None)."


def enter_dual_level():
    """Open a forward-AD level and return it (an int). Prefer the ``dual_level`` context
    manager, which also closes it."""
    if _state.current is not None:
        raise RuntimeError("enter_dual_level: nested forward mode AD is not supported (a level "
                           "is already open); exit it first, or use tg.func.jvp inside it")
    _state.current = forward.new_level()
    _grad_state.dual_levels += 1
    return _state.current


def exit_dual_level(*, level=None):
    """Close the level opened by ``enter_dual_level`` (``level``: the one it returned)."""
    if _state.current is None:
        raise RuntimeError("exit_dual_level: no forward AD level is open")
    if level is not None and level != _state.current:
        raise RuntimeError(f"exit_dual_level: level {level} is not the open level "
                           f"({_state.current}); levels are exited in the order they were made")
    _state.current = None
    _grad_state.dual_levels -= 1


class dual_level:
    """Context manager: a forward-AD level for the duals made inside it.

    >>> import tensorgrad as tg
    >>> import tensorgrad.autograd.forward_ad as fwAD
    >>> with fwAD.dual_level():
    ...     d = fwAD.make_dual(tg.tensor([3.0]), tg.tensor([1.0]))
    ...     fwAD.unpack_dual(tg.exp(d) * 0 + d * d).tangent
    tensor([6.])
    """

    def __enter__(self):
        return enter_dual_level()

    def __exit__(self, *exc):
        exit_dual_level()
        return False


def _resolve(level, who):
    if level is None:
        level = _state.current
    if level is None:
        return None
    if not isinstance(level, int):
        raise TypeError(f"{who}: level must be an int (from enter_dual_level), got "
                        f"{type(level).__name__}")
    return level


def make_dual(tensor, tangent, *, level=None):
    """``tensor`` carrying ``tangent`` (its directional derivative) at the open level (or
    ``level``); ops on the result compute Jacobian-vector products alongside their values.
    ``tensor`` keeps its history on the tape, so gradients still flow to it."""
    level = _resolve(level, "make_dual")
    if level is None:
        raise RuntimeError("make_dual: no forward AD level is open; create duals inside "
                           "`with tg.autograd.forward_ad.dual_level():` (or after "
                           "enter_dual_level())")
    if not isinstance(tensor, Tensor) or not isinstance(tangent, Tensor):
        raise TypeError(f"make_dual: tensor and tangent must be Tensors, got "
                        f"{type(tensor).__name__} and {type(tangent).__name__}")
    if tensor.dtype.kind not in "fc":
        raise ValueError(f"make_dual: expected primal to be floating point or complex, but got "
                         f"{tensor.dtype}")
    if tuple(tangent.shape) != tuple(tensor.shape):
        raise RuntimeError(f"make_dual: the tangent has shape {tuple(tangent.shape)} but the "
                           f"tensor has shape {tuple(tensor.shape)}; they must match")
    if tangent.dtype != tensor.dtype:
        raise RuntimeError(f"make_dual: the tangent has dtype {tangent.dtype} but the tensor "
                           f"(shape {tuple(tensor.shape)}) has dtype {tensor.dtype}; cast it "
                           "with .to(dtype)")
    if device_of(tangent.data) != device_of(tensor.data):
        raise RuntimeError(f"make_dual: the tangent is on {device_of(tangent.data)} but the "
                           f"tensor is on {device_of(tensor.data)}; move it with .to(device)")
    if tensor._level == level:
        raise RuntimeError(f"make_dual: the tensor (shape {tuple(tensor.shape)}) already has a "
                           f"tangent at level {level}; unpack_dual it first")
    if tensor._level > level:
        raise RuntimeError("make_dual: the tensor carries a tangent of an inner forward "
                           "transform; make the dual outside that transform")
    # a plain tangent travels as its array; one that is traced (on the tape, or a dual of an
    # outer transform) stays a Tensor so that derivatives of the tangent flow too
    t = tangent if (tangent._rg or tangent._level) else tangent.data
    return forward.make_dual(tensor, level, t)


def _as_tensor(x):
    return x if isinstance(x, Tensor) else _new_tensor(x, None, False)


def unpack_dual(tensor, *, level=None):
    """``UnpackedDualTensor(primal, tangent)`` of ``tensor`` at the open level (or ``level``);
    ``tangent`` is None when ``tensor`` has none there (or no level is open)."""
    level = _resolve(level, "unpack_dual")
    if level is None or not isinstance(tensor, Tensor) or tensor._level != level:
        return UnpackedDualTensor(tensor, None)
    primal, tangent = forward.split(tensor, level)
    return UnpackedDualTensor(_as_tensor(primal), _as_tensor(tangent))
