"""NumPy's array methods on traced values while the hook is installed (and the rest of an
``ArrayBox``'s face: ``_value``, and autograd's package as the type's ``__module__``).

autograd's ``ArrayBox`` has NumPy's methods (``x.size`` an int, ``x.std()`` with ``ddof=0``,
``x.min(1)`` the minima, ``x.cumsum()`` of the flattened array, ``x.repeat(2, axis=0)``,
``x.take([0, 2])``, ``x.nonzero()`` a tuple); a tensorgrad ``Tensor`` has PyTorch's, which
differ for these names, silently for some (``std``'s default correction). While the hook is
installed these methods follow NumPy, as a program written for autograd expects; PyTorch's
keyword arguments (``dim=``, ``keepdim=``, ``unbiased=``, ``correction=``, ``as_tuple=``) still
select PyTorch's form. :func:`disable` (called by ``uninstall``) restores PyTorch's methods.
"""

import copyreg

import numpy as np

from ..tensor import Tensor


class _Size(int):
    """``x.size`` under the hook: the element count (NumPy's attribute), and still callable as
    PyTorch's ``x.size()`` / ``x.size(dim)``."""

    def __new__(cls, n, shape):
        self = super().__new__(cls, n)
        self._shape = shape
        return self

    def __call__(self, dim=None):
        return self._shape if dim is None else self._shape[dim]


def _size(self):
    return _Size(self.data.size, self.data.shape)


_TORCH_KW = frozenset(("dim", "keepdim", "unbiased", "correction", "as_tuple"))


def _numpy_forms():
    from .. import numpy as tnp

    def compress(self, condition, axis=None):
        return tnp.compress(condition, self, axis=axis)

    forms = {name: getattr(tnp, name) for name in (
        "std", "var", "mean", "min", "max", "cumsum", "cumprod", "repeat", "take", "nonzero",
        "argpartition", "searchsorted")}
    forms["compress"] = compress
    return forms


_saved = {}

# the operators of a traced value, which under autograd hand the other operand to NumPy
_TAKEN = frozenset((float, int, complex, bool, np.ndarray))
_OPERATORS = tuple(f"__{r}{n}__" for n in ("add", "sub", "mul", "truediv", "matmul", "pow")
                   for r in ("", "r"))


def _operator(torch_form):
    """``x <op> other`` as an ArrayBox does it: an ``other`` that is no array but has
    ``__array__`` (a library's matrix class: mici's ``Matrix`` has ``__array__`` and
    ``__rmatmul__``) is the array NumPy makes of it, before the op records it (its VJP uses
    it too). Types with a ``dtype`` or their own ``__array_ufunc__`` (arrays, NumPy scalars,
    pandas) go in as they are."""

    def method(self, other):
        if type(other) not in _TAKEN and not isinstance(other, Tensor) and \
                getattr(other, "__array__", None) is not None and \
                not hasattr(other, "dtype") and not hasattr(other, "__array_ufunc__"):
            other = np.asarray(other)
        return torch_form(self, other)

    method.__name__ = method.__qualname__ = torch_form.__name__
    method.__doc__ = torch_form.__doc__
    return method


def _method(name, numpy_form, torch_form):
    def method(self, *args, **kwargs):
        if torch_form is not None and (
                not _TORCH_KW.isdisjoint(kwargs)
                or (name in ("min", "max") and args and isinstance(args[0], Tensor))):
            return torch_form(self, *args, **kwargs)  # PyTorch's form, asked for by name
        return numpy_form(self, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"NumPy's ``ndarray.{name}`` (the autograd hook is installed)."
    return method


def enable():
    if _saved:
        return
    for name, form in _numpy_forms().items():
        torch_form = Tensor.__dict__.get(name)
        _saved[name] = torch_form
        setattr(Tensor, name, _method(name, form, torch_form))
    for name in _OPERATORS:
        _saved[name] = Tensor.__dict__[name]
        setattr(Tensor, name, _operator(_saved[name]))
    _saved["size"] = Tensor.__dict__["size"]
    Tensor.size = property(_size, doc="NumPy's element count; callable as PyTorch's size()")
    # the rest of an ArrayBox's face: its raw value as ``_value``, and autograd's package as
    # its type's module (libraries tell autograd's values from other arrays by it: autoray's
    # ``infer_backend``, PennyLane's interfaces)
    _saved["_value"] = None
    Tensor._value = property(lambda self: self.data, doc="autograd's Box._value: the raw array")
    _saved["__module__"] = Tensor.__module__
    Tensor.__module__ = "autograd.numpy.numpy_boxes"
    copyreg.pickle(Tensor, _reduce)  # pickles still name tensorgrad's class, not that module


def _blank():
    return Tensor.__new__(Tensor)


def _reduce(t):
    """Python's own reduction of ``t`` with the class replaced by :func:`_blank` (pickle
    finds a class by its module's name)."""
    reduced = t.__reduce_ex__(2)
    return (_blank, ()) + tuple(reduced[2:])


def disable():
    copyreg.dispatch_table.pop(Tensor, None)
    for name, old in _saved.items():
        if old is None:
            delattr(Tensor, name)
        else:
            setattr(Tensor, name, old)
    _saved.clear()
