"""PyTorch's ``torch.autograd.Function`` on tensorgrad's tape.

A call ``MyFn.apply(*args)`` runs ``forward`` with recording off and hangs its outputs on ONE
Node of the ordinary graph, so the ordinary backward pass (``run_backward``) goes through it:

- the Node's parents are the vertices of the tensor arguments that require grad; its ``args``
  hold only each such input's shape, dtype and device (``_Meta``: the inputs themselves are not
  kept alive unless ``ctx.save_for_backward`` keeps them) and, last, under a ``None`` parent,
  the ``ctx``. The pass drops ``args`` after the node has run (without ``retain_graph``), so the
  saved tensors go with it.
- one differentiable output is the Node's own tensor. With several, each output gets a small
  slot Node (parent: the Function's Node) whose rule hands its cotangent on in an
  ``_OutputGrads`` bundle; bundles add up per output, so ``backward`` runs once per pass with
  one gradient per output (None, or zeros with ``set_materialize_grads(True)``, for those that
  got none).
- the engine asks a node for one cotangent per parent; the first request of a pass calls
  ``backward`` and the others reuse its results (``FunctionCtx._cotangent``).

Rules are the user's ``backward`` written with tensorgrad ops: under ``create_graph=True`` the
gradients it receives and the saved tensors it unpacks are tied to the graph, so a second
derivative goes through it. Ordinary ops pay nothing for any of this.

>>> import tensorgrad as tg
>>> class Square(tg.autograd.Function):
...     @staticmethod
...     def forward(ctx, x):
...         ctx.save_for_backward(x)
...         return x * x
...     @staticmethod
...     def backward(ctx, g):
...         x, = ctx.saved_tensors
...         return 2 * x * g
>>> x = tg.tensor([1.0, 3.0], requires_grad=True)
>>> Square.apply(x).sum().backward()
>>> x.grad.tolist()
[2.0, 6.0]
"""

import functools
import weakref

import numpy as np

from ..backend.device import _CUPY_ARRAY, device_of
from ..ops.registry import Primitive
from ..tensor import Tensor, _lift, _new_tensor
from .grad_mode import _state
from .graph import _EPOCH, Node, _sums_to, unbroadcast
from .rules import MissingRuleError, Rules

__all__ = ["Function", "FunctionCtx", "once_differentiable", "InplaceFunction"]

_SLOT_ARG = np.zeros(())  # the argument of a slot node: a bundle of cotangents stands for it
_SLOT_ARG.flags.writeable = False


class _Meta:
    """What the backward pass needs to know of an input it does not keep: shape, dtype, device
    (the engine sums a cotangent back to ``shape`` and casts it to ``dtype``)."""

    __slots__ = ("shape", "dtype", "device")

    def __init__(self, shape, dtype, device):
        self.shape, self.dtype, self.device = tuple(shape), dtype, device

    @classmethod
    def of(cls, a):
        if isinstance(a, Tensor):
            a = a.data
        if isinstance(a, _Meta):
            return a
        return cls(a.shape, a.dtype, device_of(a))


def _is_array(x):
    return isinstance(x, (np.ndarray, _CUPY_ARRAY))


# ---- the two primitives per Function class ------------------------------------------------
class _OutputGrads(Tensor):
    """The cotangents of a multi-output Function's outputs, on their way from the outputs' slot
    nodes to the Function's node: ``parts`` maps output index -> cotangent. A Tensor (shape
    ``()``) only so that the engine carries it like any cotangent and adds bundles with ``+``."""

    __slots__ = ("parts",)

    def __add__(self, other):
        parts = dict(self.parts)
        for j, g in other.parts.items():
            parts[j] = g if j not in parts else parts[j] + g
        return _bundle(parts)

    __radd__ = __add__


def _bundle(parts):
    b = object.__new__(_OutputGrads)
    b.data = _SLOT_ARG
    b._node = None
    b._rg = False
    b.grad = None
    b._vc = [0]
    b.parts = parts
    return b


def _slot_rule(g, ans, marker, j):
    return _bundle({j: g})


def _input_rule(i):
    def rule(g, ans, *args):
        return args[-1]._cotangent(i, g)  # args[-1]: the ctx

    return rule


class _FunctionPrimitive(Primitive):
    __slots__ = ()
    none_is_no_gradient = True  # backward's None for an input: the pass skips that edge


def _prims(cls):
    """(the Function's primitive, its outputs' slot primitive), made once per class."""
    p = cls.__dict__.get("_tg_prims")
    if p is None:
        node_prim = _FunctionPrimitive(_no_forward, name=cls.__name__, saves=False)
        node_prim.vjps = Rules((), _input_rule)
        slot_prim = _FunctionPrimitive(_no_forward, name=cls.__name__, saves=False)
        slot_prim.vjps = (_slot_rule,)
        # jvps stay None: hessian's forward sweep over a tape falls back to reverse over reverse
        p = (node_prim, slot_prim)
        cls._tg_prims = p
    return p


def _no_forward(*args, **kwargs):
    raise RuntimeError("a Function's node is made by Function.apply, never called")


# ---- ctx ---------------------------------------------------------------------------------
class _Saved:
    """A tensor saved for backward: its data, where it hangs in the graph, and its version."""

    __slots__ = ("data", "vertex", "out", "vc", "version")

    def __init__(self, data, vertex, out, vc):
        self.data, self.vertex, self.out, self.vc, self.version = data, vertex, out, vc, vc[0]


class FunctionCtx:
    """The ``ctx`` of a Function: ``save_for_backward``/``saved_tensors``, ``needs_input_grad``,
    ``mark_non_differentiable``, ``mark_dirty``, ``set_materialize_grads``, and any attribute
    ``forward`` sets for ``backward``."""

    def __init__(self, fn_cls, needs_input_grad):
        self._fn = fn_cls
        self.needs_input_grad = needs_input_grad
        self.materialize_grads = True
        self._to_save = None  # as given to save_for_backward, until the outputs are known
        self._saved = None  # _Saved records, after
        self._for_forward = None
        self._non_diff = ()
        self._dirty = ()
        self._node = None  # weakref to the Function's node
        self._slots = None  # per output: weakref to its slot node (several outputs)
        self._direct = None  # the output whose node is the Function's node (one output)
        self._out_meta = ()
        self._non_diff_idx = frozenset()
        self._metas = ()  # per input: _Meta where it needs a gradient, else None
        self._tensor_input = ()
        self._cache = None
        self._last = -1
        self._in_jvp = False

    # -- forward's side --
    def save_for_backward(self, *tensors):
        for k, t in enumerate(tensors):
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"{self._fn.__name__}: save_for_backward can only save tensors "
                                f"(or None), but argument {k} is a {type(t).__name__}; keep "
                                "other values as attributes of ctx (ctx.name = value)")
        self._to_save = tensors

    def save_for_forward(self, *tensors):
        self._for_forward = tensors

    def mark_non_differentiable(self, *tensors):
        self._non_diff = tuple(self._non_diff) + tensors

    def mark_dirty(self, *tensors):
        self._dirty = tuple(self._dirty) + tensors

    def set_materialize_grads(self, value):
        self.materialize_grads = bool(value)

    # -- backward's side --
    @property
    def saved_tensors(self):
        if self._in_jvp and self._for_forward is not None:
            return tuple(self._for_forward)
        if self._saved is None:
            return tuple(self._to_save or ())
        return tuple(self._unpack(k, s) for k, s in enumerate(self._saved))

    saved_variables = saved_tensors

    def _unpack(self, k, s):
        if s is None:
            return None
        if s.vc[0] != s.version:
            raise RuntimeError(
                f"{self._fn.__name__}: one of the tensors saved with ctx.save_for_backward "
                f"(number {k}, shape {tuple(s.data.shape)}) has been modified by an inplace "
                f"operation: it is at version {s.vc[0]}; expected version {s.version} instead. "
                "Use an out-of-place op (x = x * 2, or x.clone()) after saving it")
        vertex = s.vertex
        if s.out is not None:
            vertex = self._output_vertex(s.out)
        if vertex is not None and _state.enabled:  # create_graph: tied to the graph
            return _lift(s.data, vertex)
        t = _new_tensor(s.data, None, False)
        t._vc = s.vc
        return t

    def _output_vertex(self, j):
        node = self._node() if self._node is not None else None
        if node is None or j in self._non_diff_idx:
            return None
        if j == self._direct:
            return node
        ref = self._slots[j]
        slot = ref() if ref is not None else None
        if slot is None:  # the output died: a fresh slot on the same node stands for it
            slot = _slot(node, j, self._fn)
            self._slots[j] = weakref.ref(slot)
        return slot

    def _cotangent(self, i, g):
        """The cotangent of input ``i`` for the output cotangent(s) ``g``: ``backward`` runs
        at the first request of a pass, the other inputs' requests reuse its results (the
        same ``g`` object and mode mean the same pass)."""
        c = self._cache
        if c is None or c[0] is not g or c[1] is not _state.enabled:
            c = self._cache = (g, _state.enabled, _call_backward(self, g))
        r = c[2][i]
        if i == self._last:
            self._cache = None
        return r


def _slot(node, j, fn_cls):
    return Node(_prims(fn_cls)[1], (node, None), (_SLOT_ARG, j), None, None, None, _EPOCH[0])


# ---- backward: the user's rule, checked --------------------------------------------------
def _zeros(meta):
    from ..creation import zeros

    return zeros(meta.shape, dtype=meta.dtype, device=meta.device)


def _call_backward(ctx, g):
    name = ctx._fn.__name__
    parts = g.parts if type(g) is _OutputGrads else {ctx._direct: g}
    grads = []
    for j, meta in enumerate(ctx._out_meta):
        gj = parts.get(j)
        if gj is None:
            gj = _zeros(meta) if meta is not None and ctx.materialize_grads else None
        elif not isinstance(gj, Tensor):
            gj = _new_tensor(gj, None, False)
        grads.append(gj)
    res = ctx._fn.backward(ctx, *grads)
    if not isinstance(res, tuple):
        res = (res,)
    n = len(ctx._metas)
    if len(res) != n and not (len(res) > n and all(r is None for r in res[n:])):
        raise RuntimeError(f"{name}.backward returned an incorrect number of gradients "
                           f"(expected {n}, one per argument of forward, got {len(res)})")
    create_graph = _state.enabled
    out = []
    for i, (r, meta) in enumerate(zip(res, ctx._metas)):
        if meta is None:
            if r is not None and not ctx._tensor_input[i]:
                raise RuntimeError(
                    f"{name}.backward returned a gradient different from None for argument "
                    f"{i}, but that argument of forward was not a tensor; return None there")
            out.append(None)
            continue
        if r is None:
            out.append(None)  # no gradient for this input (the engine skips the edge)
            continue
        data = r.data if isinstance(r, Tensor) else r
        if not _is_array(data) and not isinstance(data, np.generic):
            raise TypeError(f"{name}.backward returned a {type(r).__name__} for argument {i}; "
                            "expected a tensor (or None)")
        if device_of(data) != meta.device:
            raise RuntimeError(f"{name}.backward returned a gradient on {device_of(data)} for "
                               f"argument {i}, which is on {meta.device}")
        shape = tuple(data.shape)
        if shape != meta.shape or data.dtype != meta.dtype:
            if shape != meta.shape and not _sums_to(shape, meta.shape):
                raise RuntimeError(
                    f"{name}.backward returned an invalid gradient for argument {i}: got shape "
                    f"{shape} but expected shape {meta.shape} (or one that broadcasts to it); "
                    "return one gradient per argument, of that argument's shape, or None")
            r = unbroadcast(r if create_graph and isinstance(r, Tensor) else data, meta)
        if create_graph:
            out.append(r if isinstance(r, Tensor) else _new_tensor(r, None, False))
        else:
            out.append(r.data if isinstance(r, Tensor) else r)
    return out


# ---- recording ---------------------------------------------------------------------------
def _alias(t):
    a = _new_tensor(t.data, None, False)
    a._vc = t._vc  # the same memory: in-place writes show in both version counters
    return a


def record(ctx, fn_cls, parents, metas, tensor_input, outs):
    """Hang ``outs`` (a list of forward's outputs; non-tensors pass through) on one node of
    ``fn_cls`` whose parents are ``parents`` (vertices, or None) described by ``metas``; the
    entry point shared by ``Function.apply`` and ``tensorgrad.utils.checkpoint``. Returns the
    outputs to give back (an output that already had a history is aliased by a new tensor)."""
    name = fn_cls.__name__
    dirty = {id(t) for t in ctx._dirty}
    non_diff = {id(t) for t in ctx._non_diff}
    seen = set()
    for j, o in enumerate(outs):
        if isinstance(o, Tensor):
            if id(o) in dirty:
                if o._node is None and o._rg and parents is not None:
                    raise RuntimeError(f"{name}: a leaf tensor that requires grad was modified "
                                       "in place (mark_dirty) in forward; clone() it first")
            elif o._node is not None or o._rg or id(o) in seen:
                outs[j] = o = _alias(o)  # an input, or a tensor with a history elsewhere
            seen.add(id(o))
    if dirty - seen:
        raise RuntimeError(f"{name}: a tensor marked dirty (ctx.mark_dirty) must be an input "
                           "modified in place and returned as an output of forward")
    ctx._out_meta = [_Meta.of(o) if isinstance(o, Tensor) else None for o in outs]
    diff = [j for j, o in enumerate(outs) if isinstance(o, Tensor) and o.data.dtype.kind in "fc"
            and id(o) not in non_diff]
    ctx._non_diff_idx = frozenset(j for j in range(len(outs)) if j not in diff)
    ctx._metas = metas
    ctx._tensor_input = tensor_input
    node = None
    if parents is not None:
        ctx._last = max(i for i, p in enumerate(parents) if p is not None)
        node_prim, _ = _prims(fn_cls)
        node = Node(node_prim, tuple(parents) + (None,), tuple(metas) + (ctx,), None, None,
                    None, _EPOCH[0])
        ctx._node = weakref.ref(node)
        if len(diff) == 1:
            ctx._direct = diff[0]
            o = outs[diff[0]]
            o._node, o._rg = node, True
        else:
            ctx._slots = [None] * len(outs)
            for j in diff:
                s = _slot(node, j, fn_cls)
                ctx._slots[j] = weakref.ref(s)
                outs[j]._node, outs[j]._rg = s, True
    if dirty:
        from .graph import bump_version

        for o in outs:
            if id(o) in dirty:
                bump_version(o._vc)  # what was saved of its old values is stale now
                if node is not None and o._rg:  # a view's base and the other views take
                    o._after_recorded_write()  # the write, as after any in-place op
    _resolve_saved(ctx, outs)
    return outs


def _resolve_saved(ctx, outs):
    """Turn the tensors given to save_for_backward into records that keep no output Tensor
    (an output keeps its node, which keeps the ctx: that would be a reference cycle)."""
    saved = ctx._to_save
    ctx._to_save = None
    if saved is None:
        ctx._saved = ()
        return
    index = {id(o): j for j, o in enumerate(outs) if isinstance(o, Tensor)}
    records = []
    for t in saved:
        if t is None:
            records.append(None)
        elif id(t) in index:
            records.append(_Saved(t.data, None, index[id(t)], t._vc))
        else:
            vertex = (t._node or t) if t._rg else None
            records.append(_Saved(t.data, vertex, None, t._vc))
    ctx._saved = tuple(records)


def _apply(cls, args, kwargs, keep_saved=False):
    """(outputs, ctx) of ``cls`` on ``args``; ``keep_saved``: the tensors given to
    save_for_backward stay as they are for a jvp call (which must drop them)."""
    grad_on = _state.enabled
    needs = tuple(isinstance(a, Tensor) and a._rg and grad_on for a in args)
    ctx = FunctionCtx(cls, needs)
    _state.enabled = False
    try:
        if _setup_style(cls):
            out = cls.forward(*args, **kwargs)
            cls.setup_context(ctx, args, out)
        else:
            out = cls.forward(ctx, *args, **kwargs)
    finally:
        _state.enabled = grad_on
    single = not isinstance(out, tuple)
    outs = [out] if single else list(out)
    for j, o in enumerate(outs):
        if _is_array(o):  # a raw (e.g. CuPy kernel) result: taken as a tensor
            outs[j] = _new_tensor(o, None, False)
    parents = metas = None
    if any(needs):
        parents = [(a._node or a) if n else None for a, n in zip(args, needs)]
        metas = [_Meta.of(a) if n else None for a, n in zip(args, needs)]
    else:
        metas = [None] * len(args)
    if keep_saved and ctx._for_forward is None:
        ctx._for_forward = ctx._to_save
    outs = record(ctx, cls, parents, metas, tuple(isinstance(a, Tensor) for a in args), outs)
    return (outs[0] if single else tuple(outs)), ctx


def _on_arrays(cls, args, kwargs):
    """Arrays in, arrays out (tensorgrad's rule for its functions, so that a Function also
    serves the autograd-style transforms, which call it on raw arrays too)."""
    args = tuple(_new_tensor(a, None, False) if _is_array(a) else a for a in args)
    out = _apply(cls, args, kwargs)[0]
    if isinstance(out, tuple):
        return tuple(o.data if isinstance(o, Tensor) else o for o in out)
    return out.data if isinstance(out, Tensor) else out


def _setup_style(cls):
    return cls.setup_context is not Function.setup_context


# ---- forward mode ------------------------------------------------------------------------
def _apply_dual(cls, args, kwargs):
    """``apply`` on forward-mode duals: forward on the primals (which may carry lower levels
    or the tape), then ``cls.jvp(ctx, *tangents)`` for the tangents of the outputs."""
    from .forward import make_dual

    level = max(a._level for a in args if isinstance(a, Tensor))
    if cls.jvp is Function.jvp:
        raise MissingRuleError(
            f"{cls.__name__}: forward-mode differentiation (tg.jvp, make_jvp, deriv, ...) needs "
            f"{cls.__name__}.jvp(ctx, *tangents); define it as a @staticmethod that returns one "
            "tangent per output of forward")
    primals, tangents = [], []
    for a in args:
        if isinstance(a, Tensor) and a._level == level:
            p, t = a._primal, a._tangent
            primals.append(p if isinstance(p, Tensor) else _new_tensor(p, None, False))
            tangents.append(t if isinstance(t, Tensor) else _new_tensor(t, None, False))
        else:
            primals.append(a)
            tangents.append(_zeros(_Meta.of(a)) if isinstance(a, Tensor) and
                            a.data.dtype.kind in "fc" else None)
    # forward runs on the primals as they are: a lower level's duals among them go through
    # forward's own ops (so its saved tensors carry that level, and jvp's result is right to
    # every order), the tape records as usual
    out, ctx = _apply(cls, tuple(primals), kwargs, keep_saved=True)
    ctx._in_jvp = True
    try:
        res = cls.jvp(ctx, *tangents)
    finally:
        ctx._in_jvp = False
        ctx._for_forward = None  # (it may hold outputs, which hold the node, which holds ctx)
    single = not isinstance(out, tuple)
    outs = [out] if single else list(out)
    res = (res,) if not isinstance(res, tuple) else res
    if len(res) != len(outs):
        raise RuntimeError(f"{cls.__name__}.jvp returned {len(res)} tangents, but forward "
                           f"returned {len(outs)} outputs; return one per output")
    for j, (o, t) in enumerate(zip(outs, res)):
        if not isinstance(o, Tensor) or o.data.dtype.kind not in "fc" or j in \
                ctx._non_diff_idx:
            continue
        if t is None:
            t = _zeros(_Meta.of(o))
        elif not isinstance(t, Tensor):
            t = _new_tensor(t, None, False)
        if tuple(t.shape) != tuple(o.shape):
            raise RuntimeError(f"{cls.__name__}.jvp returned a tangent of shape "
                               f"{tuple(t.shape)} for output {j}, which has shape "
                               f"{tuple(o.shape)}")
        outs[j] = make_dual(o, level, t)
    return (outs[0] if single else tuple(outs)), ctx


# ---- the public class --------------------------------------------------------------------
class Function:
    """PyTorch's ``torch.autograd.Function``: subclass it with ``@staticmethod forward(ctx,
    *args)`` and ``@staticmethod backward(ctx, *grad_outputs)`` (one gradient, or None, per
    argument of forward), optionally ``jvp(ctx, *tangents)`` for forward mode, and call
    ``MyFn.apply(*args)``. ``forward`` may instead be ``forward(*args)`` with a
    ``setup_context(ctx, inputs, output)`` (PyTorch 2's style). See the module's docstring."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("a Function subclass must define forward as a @staticmethod")

    @staticmethod
    def setup_context(ctx, inputs, output):
        raise NotImplementedError("setup_context is not defined")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError(
            f"{getattr(ctx, '_fn', Function).__name__}: backward is not defined; define "
            "backward(ctx, *grad_outputs) as a @staticmethod to differentiate through it")

    vjp = backward

    @staticmethod
    def jvp(ctx, *grad_inputs):
        raise NotImplementedError("jvp is not defined")

    @classmethod
    def apply(cls, *args, **kwargs):
        tensors = False
        for a in args:
            if isinstance(a, Tensor):
                if a._level:
                    return _apply_dual(cls, args, kwargs)[0]
                tensors = True
        if not tensors and any(_is_array(a) for a in args):
            return _on_arrays(cls, args, kwargs)
        return _apply(cls, args, kwargs)[0]

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if "backward" not in cls.__dict__ and "vjp" in cls.__dict__:
            cls.backward = cls.__dict__["vjp"]

    def __call__(self, *args, **kwargs):
        raise RuntimeError(f"{type(self).__name__}: call a Function through its class, "
                           f"{type(self).__name__}.apply(*args), with static forward/backward")


class InplaceFunction(Function):
    """PyTorch's base for functions with an ``inplace`` flag (same behaviour as Function)."""


class _DelayedError(Function):
    """Stands between a once_differentiable backward's results and the graph: differentiating
    them again raises."""

    @staticmethod
    def forward(ctx, name, out, *inputs):
        ctx.name = name
        return out

    @staticmethod
    def backward(ctx, *grads):
        raise RuntimeError(f"trying to differentiate twice a function that was marked with "
                           f"@once_differentiable ({ctx.name}.backward)")


def once_differentiable(fn):
    """Decorate a Function's ``backward`` that is not itself differentiable (it leaves the
    tape, e.g. through a raw kernel): it runs without recording, and a second derivative
    through its results raises instead of being silently wrong."""

    @functools.wraps(fn)
    def wrapper(ctx, *args):
        prev = _state.enabled
        _state.enabled = False
        try:
            outputs = fn(ctx, *args)
        finally:
            _state.enabled = prev
        if not prev:
            return outputs
        # what the results depend on: the gradients given (PyTorch looks at these only) and
        # the saved tensors that require grad (else a second derivative would be silently 0)
        inputs = [a for a in args if isinstance(a, Tensor) and a._rg]
        inputs += [_lift(s.data, s.vertex) for s in (getattr(ctx, "_saved", None) or ())
                   if s is not None and s.vertex is not None]
        if not inputs:
            return outputs
        name = getattr(getattr(ctx, "_fn", None), "__name__", fn.__qualname__)
        single = not isinstance(outputs, tuple)
        outs = (outputs,) if single else outputs
        outs = tuple(_DelayedError.apply(name, o, *inputs) if isinstance(o, Tensor) and
                     o.data.dtype.kind in "fc" else o for o in outs)
        return outs[0] if single else outs

    return wrapper
