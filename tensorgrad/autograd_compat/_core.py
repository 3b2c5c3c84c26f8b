"""What autograd's internal modules export, in tensorgrad's terms.

autograd traces a function by wrapping its values in *boxes*; tensorgrad traces with Tensors
(tape) and duals (forward mode). So a box is a Tensor here: ``isbox(x)`` is
``isinstance(x, Tensor)`` and ``getval(x)`` its raw array. ``Box``, ``ArrayBox`` and the other
box classes are *virtual* classes: ``isinstance(traced_value, ArrayBox)`` is true, and
subclassing or registering them is accepted (for import compatibility) without effect.
"""

import builtins
import functools
import itertools
import operator
import weakref

import numpy as np

from ..autograd import user_spaces as _user
from ..autograd.graph import Node as _GraphNode
from ..backend.device import _CUPY_ARRAY, xp_of
from ..tensor import Tensor, _new_tensor


# ---- boxes -------------------------------------------------------------------------------
def getval(x):
    """The value under a traced value: its raw array (NumPy or CuPy), or the value of a user's
    VSpace in its box; anything else as is."""
    if isinstance(x, Tensor):
        return x.data
    return x._value if _user.box_of(x) else x


def isbox(x):
    """Whether ``x`` is a traced value (a Tensor, or a box of a user's value)."""
    return isinstance(x, Tensor) or _user.box_of(x)


class _BoxMeta(type):
    def __instancecheck__(cls, x):
        return cls._holds(x)

    def __subclasscheck__(cls, sub):
        return type.__subclasscheck__(cls, sub) or (isinstance(sub, type) and
                                                     issubclass(sub, Tensor) and
                                                     cls._holds_tensors)


class Box(metaclass=_BoxMeta):
    """autograd's base of traced values; in tensorgrad a traced value is a Tensor."""

    _holds_tensors = True
    type_mappings = {}
    types = set()

    @classmethod
    def _holds(cls, x):
        # a box of a user's value (see tensorgrad.autograd.user_spaces) is a real instance
        return isinstance(x, Tensor) and cls._holds_tensors or type.__instancecheck__(cls, x)

    @classmethod
    def register(cls, value_type):
        """``value_type``'s values are traced in boxes of ``cls`` (autograd's convention). For
        arrays tensorgrad needs no such map; for a type of a user's own VSpace, the reverse
        transforms box it in ``cls`` (tensorgrad.autograd.user_spaces)."""
        cls.types.add(cls)
        cls.type_mappings[value_type] = cls
        _user.BOX_TYPES[value_type] = cls

    def __init__(self, *args, **kwargs):
        raise NotImplementedError(
            "autograd's Box cannot be made by hand under tensorgrad: traced values are "
            "tensorgrad Tensors, made by the transforms (grad, make_vjp, ...)")


class ArrayBox(Box):
    """A traced array: a Tensor."""


class SequenceBox(Box):
    """A traced list or tuple. tensorgrad traces the arrays inside containers, never the
    container itself, so no value is a SequenceBox."""

    _holds_tensors = False


class DictBox(Box):
    """A traced dict: never, as for :class:`SequenceBox`."""

    _holds_tensors = False


class SparseBox(Box):
    _holds_tensors = False


class SparseObject:
    """autograd's sparse cotangent (used by its own container rules)."""

    __slots__ = ("vs", "mut_add")

    def __init__(self, vs, mut_add):
        self.vs, self.mut_add = vs, mut_add


def engine_internal(name, what, callable_=True):
    """A stand-in for a piece of autograd's tracing engine (its nodes, trace stack, ...):
    importable, so libraries that import it load; an error naming it when used (called, or
    for an object, ``callable_=False``, any of its attributes read)."""

    def refuse(*args, **kwargs):
        raise NotImplementedError(
            f"autograd's {name} ({what}) is part of autograd's own tracing engine, which "
            "tensorgrad replaces; use the transforms (grad, make_vjp, make_jvp, ...) instead")

    if not callable_:  # an object (trace_stack): an error on the first attribute used
        def getattr_(self, attr):
            if attr.startswith("__"):  # Python's own probes (copy, inspect, pytest)
                raise AttributeError(attr)
            refuse()

        return type(name, (), {"__getattr__": getattr_, "__repr__": lambda self: (
            f"<autograd's {name}: not available under tensorgrad>")})()
    if name[:1].isupper():
        return type(name, (), {"__init__": refuse, "__doc__": f"autograd's {what}: not "
                               "available under tensorgrad (see the README)."})
    refuse.__name__ = name
    refuse.__doc__ = f"autograd's {what}: not available under tensorgrad."
    return refuse


Node = engine_internal("Node", "graph node base class")
JVPNode = engine_internal("JVPNode", "forward-mode graph node")
TraceStack = engine_internal("TraceStack", "trace stack")
trace = engine_internal("trace", "entry point of a trace")


# ---- autograd's reverse-mode engine, the way libraries drive it by hand ---------------------
# pymoo's gradients (and autograd's own make_vjp) do: ``root = VJPNode.new_root()``,
# ``x = new_box(value, 0, root)``, ``y = f(x)``, then ``backward_pass(g, y._node)`` is g^T dy/dx.
# Here ``x`` is a Tensor leaf, ``y._node`` tensorgrad's own graph node, and backward_pass runs
# the tape from that node to the latest-made ``new_box`` leaf behind it.
class VJPNode:
    """autograd's reverse-mode node: only ``VJPNode.new_root()`` (a trace's start, handed to
    :func:`new_box`); the nodes of the trace are tensorgrad's (a traced value's ``_node``)."""

    __slots__ = ("box",)

    def __init__(self, *args, **kwargs):
        raise NotImplementedError(
            "autograd's VJPNode(...) (a node of autograd's own graph) cannot be made under "
            "tensorgrad; VJPNode.new_root() with new_box and backward_pass work")

    @classmethod
    def new_root(cls, *args, **kwargs):
        root = object.__new__(cls)
        root.box = None
        return root


_BOXES = {}  # id(leaf made by new_box) -> (weak reference to it, the order it was made in)
_MADE = itertools.count()


def new_box(value, trace_id, node):
    """A traced value of ``value`` starting the trace rooted at ``node`` (from
    ``VJPNode.new_root()``): a Tensor leaf that carries a derivative. Integers become floats."""
    if type(node) is not VJPNode:
        raise NotImplementedError(
            f"new_box: the node must come from VJPNode.new_root(), got {type(node).__name__} "
            "(autograd's other nodes are part of its own engine, which tensorgrad replaces)")
    if isinstance(value, Tensor):
        if value._rg or value._level:
            raise NotImplementedError("new_box: boxing a value that is already traced (a "
                                      "trace inside a trace) is not supported; use the "
                                      "transforms (grad of grad, make_vjp, ...)")
        value = value.data
    raw = value if isinstance(value, (np.ndarray, _CUPY_ARRAY)) else np.asarray(value)
    if raw.dtype.kind not in "biufc":  # None, strings, objects: autograd's words
        raise TypeError(f"Can't differentiate w.r.t. type {type(value)}")
    if raw.dtype.kind not in "fc":
        raw = raw.astype(np.float64)
    box = _new_tensor(raw, None, True)
    key = id(box)
    _BOXES[key] = (weakref.ref(box, lambda _, k=key: _BOXES.pop(k, None)), next(_MADE))
    node.box = box
    return box


def _latest_box_behind(node):
    """The latest-made leaf from :func:`new_box` that the graph behind ``node`` reads."""
    best, order = None, -1
    stack, seen = [node], set()
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if type(n) is _GraphNode:
            stack.extend(p for p in n.parents if p is not None)
            continue
        entry = _BOXES.get(id(n))
        if entry is not None and entry[0]() is n and entry[1] > order:
            best, order = n, entry[1]
    return best


def backward_pass(g, end_node):
    """autograd's reverse sweep: the cotangent ``g`` of the value whose node is ``end_node``
    (a traced value's ``_node``) pulled back to the value :func:`new_box` made (the trace's
    start). The graph is kept (call it again with another ``g``); a traced ``g`` (one from
    ``new_box``, as pymoo makes) gives a traced result, differentiable in ``g``."""
    from ..autograd.functional import _reverse_tape

    if type(end_node) is not _GraphNode:
        raise TypeError("backward_pass: end_node must be a traced value's _node (a node of "
                        f"the trace), got {type(end_node).__name__}; a value that does not "
                        "depend on the traced input has none")
    box = _latest_box_behind(end_node)
    if box is None:
        raise ValueError("backward_pass: no value made by new_box lies behind end_node")
    traced_g = isinstance(g, Tensor)
    out = _new_tensor(end_node.ans, end_node, True)
    (grad,) = _reverse_tape([out], [g], [box], traced_g and g._rg)
    return _new_tensor(grad, None, False) if traced_g and not isinstance(grad, Tensor) else grad


find_top_boxed_args = engine_internal("find_top_boxed_args", "box lookup")
trace_stack = engine_internal("trace_stack", "stack of active traces", callable_=False)


# ---- small utilities ---------------------------------------------------------------------
def subvals(x, ivs):
    """``x`` (a sequence) as a tuple with ``x[i] = v`` for each ``(i, v)`` of ``ivs``."""
    out = list(x)
    for i, v in ivs:
        out[i] = v
    return tuple(out)


def subval(x, i, v):
    return subvals(x, [(i, v)])


def toposort(end_node, parents=operator.attrgetter("parents")):
    """The nodes behind ``end_node``, each before all of its parents (children first), found
    by counting children, iteratively."""
    counts = {}
    stack = [end_node]
    while stack:
        n = stack.pop()
        if n in counts:
            counts[n] += 1
        else:
            counts[n] = 1
            stack.extend(parents(n))
    ready = [end_node]
    while ready:
        n = ready.pop()
        yield n
        for p in parents(n):
            if counts[p] == 1:
                ready.append(p)
            else:
                counts[p] -= 1


def get_name(f):
    return getattr(f, "__name__", "[unknown name]")


def get_doc(f):
    return getattr(f, "__doc__", "")


def wraps(fun, namestr="{fun}", docstr="{doc}", **kwargs):
    """autograd's ``wraps``: name and document ``f`` after ``fun`` with format strings."""

    def _wraps(f):
        try:
            f.__name__ = namestr.format(fun=get_name(fun), **kwargs)
            f.__doc__ = docstr.format(fun=get_name(fun), doc=get_doc(fun), **kwargs)
        except Exception:
            pass
        return f

    return _wraps


def wrap_nary_f(fun, op, argnum):
    return wraps(fun, "{op}_of_{fun}_wrt_argnum_{argnum}",
                 "{op} of function {fun} with respect to argument number {argnum}.",
                 op=get_name(op), argnum=argnum)


def unary_to_nary(unary_operator):
    """Turn ``op(f, x, ...)`` (``f`` of one argument) into ``op(f, argnum=0, ...)`` applied
    to ``f(*args)`` with respect to ``args[argnum]`` (an int or a tuple of ints)."""

    @functools.wraps(unary_operator)
    def nary_operator(fun, argnum=0, *op_args, **op_kwargs):
        if type(argnum) not in (int, tuple, list):
            raise TypeError(f"{get_name(unary_operator)}: argnum must be an int or a tuple of "
                            f"ints, got {argnum!r}")

        @wrap_nary_f(fun, unary_operator, argnum)
        def nary_f(*args, **kwargs):
            def unary_f(x):
                if isinstance(argnum, int):
                    sub = subvals(args, [(argnum, x)])
                else:
                    sub = subvals(args, zip(argnum, x))
                return fun(*sub, **kwargs)

            x = args[argnum] if isinstance(argnum, int) else tuple(args[i] for i in argnum)
            return unary_operator(unary_f, x, *op_args, **op_kwargs)

        return nary_f

    return nary_operator


# ---- vector spaces -----------------------------------------------------------------------
class VSpace:
    """The vector space of a value (autograd's ``vspace``): arrays and numbers, and lists,
    tuples and dicts of them. Used by autograd-style test and optimisation code.

    As in autograd, ``add``, ``mut_add``, ``scalar_mul``, ``inner_prod`` and ``covector`` call
    ``_add``, ``_mut_add``, ... which a subclass for a type of its own overrides (with its own
    ``__init__``, ``zeros``, ...), and ``MySpace.register(MyType)`` makes ``vspace`` and the
    reverse transforms use it (see tensorgrad.autograd.user_spaces)."""

    _mappings = mappings = _user.SPACES  # autograd's name is VSpace.mappings
    iscomplex = False

    def __init__(self, value):
        raw = np.asarray(value) if not isinstance(value, (np.ndarray, _CUPY_ARRAY)) else value
        self.shape = tuple(raw.shape)
        self.dtype = raw.dtype if raw.dtype.kind in "fc" else np.dtype(np.float64)
        self.xp = xp_of(raw)
        self.iscomplex = self.dtype.kind == "c"
        self.scalar = not isinstance(value, (np.ndarray, _CUPY_ARRAY))

    @property
    def size(self):
        return int(np.prod(self.shape))

    @property
    def ndim(self):
        return len(self.shape)

    def _out(self, a):
        return a[()].item() if self.scalar and a.ndim == 0 else a

    def zeros(self):
        return self._out(self.xp.zeros(self.shape, self.dtype))

    def ones(self):
        return self._out(self.xp.ones(self.shape, self.dtype))

    def standard_basis(self):
        for i in range(self.size):
            e = self.xp.zeros(self.size, self.dtype)
            e[i] = 1
            yield self._out(e.reshape(self.shape))

    def randn(self):
        r = np.random.randn(*self.shape)
        if self.iscomplex:
            r = r + 1j * np.random.randn(*self.shape)
        return self._out(self.xp.asarray(r.astype(self.dtype)))

    def flatten(self, value, covector=False):
        v = self.xp.ravel(self.xp.asarray(getval(value)))
        return self.xp.conj(v) if covector and self.iscomplex else v

    def unflatten(self, value, covector=False):
        v = self.xp.reshape(value, self.shape)
        return self._out(self.xp.conj(v) if covector and self.iscomplex else v)

    def mut_add(self, x_prev, x_new):
        return self._mut_add(self.zeros() if x_prev is None else x_prev, x_new)

    def add(self, x, y):
        return self._add(x, y)

    def scalar_mul(self, x, a):
        return self._scalar_mul(x, a)

    def inner_prod(self, x, y):
        return self._inner_prod(x, y)

    def covector(self, x):
        return self._covector(x)

    def _mut_add(self, x, y):
        return self._add(x, y)

    def _add(self, x, y):
        return x + y

    def _scalar_mul(self, x, a):
        return x * a

    def _inner_prod(self, x, y):
        return self.xp.real(self.xp.vdot(self.flatten(x), self.flatten(y))).item()

    def _covector(self, x):
        return self.xp.conj(x) if self.iscomplex else x

    def examples(self):
        yield self.zeros()
        yield self.randn()

    def __eq__(self, other):
        if "shape" not in self.__dict__:  # a user's space: autograd compares the attributes
            return type(self) is type(other) and self.__dict__ == other.__dict__
        return type(self) is type(other) and (self.shape, self.dtype) == (other.shape,
                                                                          other.dtype)

    def __hash__(self):
        if "shape" not in self.__dict__:
            return hash(type(self))
        return hash((type(self), self.shape, self.dtype))

    def __repr__(self):
        return f"{type(self).__name__}_{{ shape: {self.shape}, dtype: {self.dtype} }}"

    @classmethod
    def register(cls, value_type, vspace_maker=None):
        VSpace._mappings[value_type] = vspace_maker or cls


class ArrayVSpace(VSpace):
    pass


class ComplexArrayVSpace(VSpace):
    pass


class ContainerVSpace(VSpace):
    """The space of a list, tuple or dict of values: a vector per entry."""

    def __init__(self, value):
        self.kind = type(value)
        if isinstance(value, builtins.dict):
            self.keys = list(value)
            self.spaces = [vspace(value[k]) for k in self.keys]
        else:
            self.keys = None
            self.spaces = [vspace(v) for v in value]
        self.shape = (sum(s.size for s in self.spaces),)
        self.dtype = np.result_type(*[s.dtype for s in self.spaces]) if self.spaces else \
            np.dtype(np.float64)
        self.iscomplex = any(s.iscomplex for s in self.spaces)
        self.xp = self.spaces[0].xp if self.spaces else np

    def _build(self, parts):
        if self.keys is not None:
            return builtins.dict(zip(self.keys, parts))
        return builtins.tuple(parts) if self.kind is not builtins.list else builtins.list(parts)

    def _parts(self, value):
        return [value[k] for k in self.keys] if self.keys is not None else builtins.list(value)

    def zeros(self):
        return self._build([s.zeros() for s in self.spaces])

    def ones(self):
        return self._build([s.ones() for s in self.spaces])

    def randn(self):
        return self._build([s.randn() for s in self.spaces])

    def standard_basis(self):
        for i, s in enumerate(self.spaces):
            for e in s.standard_basis():
                yield self._build([e if j == i else t.zeros()
                                   for j, t in enumerate(self.spaces)])

    def flatten(self, value, covector=False):
        parts = [s.flatten(v, covector) for s, v in zip(self.spaces, self._parts(value))]
        return self.xp.concatenate(parts) if parts else self.xp.zeros(0)

    def unflatten(self, value, covector=False):
        out, start = [], 0
        for s in self.spaces:
            out.append(s.unflatten(value[start:start + s.size], covector))
            start += s.size
        return self._build(out)

    def _add(self, x, y):
        return self._build([s.add(a, b) for s, a, b in zip(self.spaces, self._parts(x),
                                                            self._parts(y))])

    def _scalar_mul(self, x, a):
        return self._build([s.scalar_mul(v, a) for s, v in zip(self.spaces, self._parts(x))])

    def _inner_prod(self, x, y):
        return sum(s.inner_prod(a, b) for s, a, b in zip(self.spaces, self._parts(x),
                                                          self._parts(y)))

    def _covector(self, x):
        return self._build([s.covector(v) for s, v in zip(self.spaces, self._parts(x))])

    def __eq__(self, other):
        return type(self) is type(other) and self.kind is other.kind and \
            self.keys == other.keys and self.spaces == other.spaces

    def __hash__(self):
        return hash((self.kind, builtins.tuple(self.spaces)))


class SequenceVSpace(ContainerVSpace):
    pass


class ListVSpace(SequenceVSpace):
    pass


class TupleVSpace(SequenceVSpace):
    pass


class DictVSpace(ContainerVSpace):
    pass


NamedTupleVSpace = TupleVSpace


def vspace(value):
    """The :class:`VSpace` of ``value`` (traced values: of their raw value)."""
    value = getval(value)
    maker = VSpace._mappings.get(type(value))
    if maker is not None:
        return maker(value)
    if isinstance(value, builtins.dict):
        return DictVSpace(value)
    if isinstance(value, builtins.list):
        return ListVSpace(value)
    if isinstance(value, builtins.tuple):
        return TupleVSpace(value)
    return ArrayVSpace(value)
