"""``tensorgrad.nn.parameter``, as PyTorch's module of that name: ``Parameter``, and the
placeholders of the lazy modules, ``UninitializedParameter`` and ``UninitializedBuffer``, whose
shape is decided at the first forward call (``materialize``)."""

from .. import creation
from ..tensor import Tensor
from .modules import Parameter

__all__ = ["Parameter", "UninitializedParameter", "UninitializedBuffer", "Buffer",  # noqa: F822
           "is_lazy"]


def __getattr__(name):
    if name == "Buffer":  # nn.Buffer (tensorgrad/nn/extra_a.py imports this module's names)
        from .extra_a import Buffer

        return Buffer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def is_lazy(param):
    """Whether ``param`` is a placeholder of a lazy module not yet materialised."""
    return isinstance(param, _UninitializedMixin)


class _UninitializedMixin:
    """An empty placeholder that remembers its dtype, device and ``requires_grad``;
    ``materialize(shape)`` gives it storage of that shape and turns it, in place (the same
    object, so references held elsewhere stay valid), into the ordinary class."""

    __slots__ = ()
    cls_to_become = None

    def materialize(self, shape, device=None, dtype=None):
        """Storage of ``shape`` (uninitialised values) on ``device`` with ``dtype`` (by default
        the placeholder's own), and the class becomes ``cls_to_become``."""
        if isinstance(shape, int):
            shape = (shape,)
        device = self.device if device is None else device
        dtype = self.dtype if dtype is None else dtype
        self.data = creation.empty(*tuple(int(s) for s in shape), dtype=dtype, device=device).data
        self._vc[0] += 1
        self.__class__ = self.cls_to_become

    @property
    def shape(self):
        raise RuntimeError(f"{type(self).__name__}: can't access the shape of an uninitialized "
                           "parameter or buffer. Run a forward pass of the lazy module first "
                           "(or materialize() it)")

    def __repr__(self):
        return f"<{type(self).__name__}>"


class UninitializedParameter(_UninitializedMixin, Parameter):
    """A parameter of a lazy module before its first forward call (PyTorch's).

    >>> from tensorgrad.nn.parameter import UninitializedParameter
    >>> p = UninitializedParameter()
    >>> p
    <UninitializedParameter>
    >>> p.materialize((2, 3))
    >>> type(p).__name__, p.shape, p.requires_grad
    ('Parameter', (2, 3), True)
    """

    __slots__ = ()
    cls_to_become = Parameter

    def __init__(self, requires_grad=True, device=None, dtype=None):
        Parameter.__init__(self, creation.empty(0, dtype=dtype, device=device), requires_grad)


class UninitializedBuffer(_UninitializedMixin, Tensor):
    """A buffer of a lazy module before its first forward call (PyTorch's).

    >>> from tensorgrad.nn.parameter import UninitializedBuffer
    >>> b = UninitializedBuffer()
    >>> b.materialize(4)
    >>> type(b).__name__, b.shape
    ('Tensor', (4,))
    """

    __slots__ = ()
    cls_to_become = Tensor

    def __init__(self, requires_grad=False, device=None, dtype=None):
        Tensor.__init__(self, creation.empty(0, dtype=dtype, device=device).data,
                        requires_grad=requires_grad)
