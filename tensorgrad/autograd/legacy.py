"""The rest of ``torch.autograd``'s top level: ``backward`` over several tensors, the legacy
``Variable`` and ``set_multithreading_enabled``."""

from ..tensor import Tensor, _new_tensor


def _bottom(t):
    while isinstance(t, Tensor) and t._level:  # a forward-AD dual: its tape tensor
        t = t._primal
    return t if isinstance(t, Tensor) or t is None else _new_tensor(t, None, False)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False,
             grad_variables=None, inputs=None):
    """PyTorch's ``torch.autograd.backward``: accumulate the gradients of ``tensors`` (weighted
    by ``grad_tensors``, needed for non-scalars) into the ``.grad`` of the leaves (or only of
    ``inputs``), in one backward pass.

    >>> import tensorgrad as tg
    >>> x = tg.tensor([1.0, 2.0], requires_grad=True)
    >>> tg.autograd.backward([x.sum(), (x * x).sum()])
    >>> x.grad
    tensor([3., 5.])
    """
    from .functional import _vertex
    from .graph import run_backward

    if grad_variables is not None:  # PyTorch's old name
        if grad_tensors is not None:
            raise RuntimeError("backward: pass grad_tensors or grad_variables, not both")
        grad_tensors = grad_variables
    single = isinstance(tensors, Tensor)
    tensors = [tensors] if single else list(tensors)
    if grad_tensors is None or isinstance(grad_tensors, Tensor):
        grad_tensors = [grad_tensors] * len(tensors) if grad_tensors is None else [grad_tensors]
    else:
        grad_tensors = list(grad_tensors)
    if len(grad_tensors) != len(tensors):
        raise RuntimeError(f"backward: got {len(grad_tensors)} grad_tensors for "
                           f"{len(tensors)} tensors; pass one per tensor (None for a scalar)")
    if len(tensors) == 1 and inputs is None:
        return _bottom(tensors[0]).backward(grad_tensors[0], retain_graph, create_graph)
    if retain_graph is None:
        retain_graph = create_graph
    roots, seeds = [], []
    for k, (t, g) in enumerate(zip(tensors, grad_tensors)):
        t = _bottom(t)
        if not t.requires_grad:
            raise RuntimeError(f"backward: element {k} of tensors does not require grad and "
                               "has no grad_fn")
        seeds.append(_seed(t, _bottom(g), k, create_graph))
        roots.append(_vertex(t))
    if inputs is None:
        run_backward(roots, seeds, retain_graph, create_graph)
        return None
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    res = run_backward(roots, seeds, retain_graph, create_graph,
                       targets=[_vertex(t) for t in inputs])
    for t, g in zip(inputs, res):
        if g is not None:
            g = g if isinstance(g, Tensor) else _new_tensor(g.copy(), None, False)
            t.grad = g if t.grad is None else t.grad + g
    return None


def _seed(t, g, k, create_graph):
    from .functional import _ones_of, _seed_array

    if g is None:
        if t.data.size != 1:
            raise RuntimeError(f"backward: grad can be implicitly created only for scalar "
                               f"outputs, but element {k} of tensors has shape "
                               f"{tuple(t.shape)}; pass grad_tensors")
        return _ones_of(t.data)
    if not hasattr(g, "shape"):
        return _seed_array(g, t)
    if tuple(g.shape) != tuple(t.shape):
        raise RuntimeError(f"backward: grad_tensors[{k}] has shape {tuple(g.shape)} but the "
                           f"tensor has shape {tuple(t.shape)}; they must match")
    if isinstance(g, Tensor) and not create_graph:
        return g.data
    return g


class _VariableMeta(type):
    def __instancecheck__(cls, other):
        return isinstance(other, Tensor)  # as in PyTorch: every tensor is a Variable


class Variable(metaclass=_VariableMeta):
    """PyTorch's legacy ``Variable(tensor, requires_grad=False)``: a leaf tensor sharing the
    data of ``tensor`` (detached from its history). Tensors do everything Variables did;
    ``isinstance(t, Variable)`` holds for every tensor.

    >>> import tensorgrad as tg
    >>> v = tg.autograd.Variable(tg.ones(2), requires_grad=True)
    >>> v.requires_grad, v.is_leaf, isinstance(tg.ones(1), tg.autograd.Variable)
    (True, True, True)
    """

    def __new__(cls, data, requires_grad=False, volatile=False):
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got "
                            f"{type(data).__name__}")
        t = data.detach()
        if requires_grad:
            t.requires_grad_(True)
        return t


class set_multithreading_enabled:
    """PyTorch's ``set_multithreading_enabled(mode)`` (context manager or call): in PyTorch it
    lets the backward pass run one worker thread per device. tensorgrad's backward pass always
    runs in the calling thread (one walk of the graph, kernels queued in stream order on a
    GPU), so the flag is recorded (``is_multithreading_enabled()``) and changes nothing else.

    >>> import tensorgrad as tg
    >>> with tg.autograd.set_multithreading_enabled(False):
    ...     tg.autograd.is_multithreading_enabled()
    False
    """

    def __init__(self, mode):
        self.mode = bool(mode)
        self.prev = _flag[0]
        _flag[0] = self.mode  # takes effect on the call, as PyTorch's

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _flag[0] = self.prev
        return False


_flag = [True]


def is_multithreading_enabled():
    """The flag ``set_multithreading_enabled`` sets (True by default)."""
    return _flag[0]
