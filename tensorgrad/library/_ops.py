"""The operator registry behind ``tensorgrad.library``: one entry per overload
(``"ns::name.overload"``) with its kernels by device type, its autograd formula, its fake
implementation; the handles PyTorch programs call (``OpOverload``, ``OpOverloadPacket``, the
``ops.<namespace>`` objects); and the call itself.

A call binds its arguments to the schema, picks the kernel by the device of its tensor arguments
and runs it on the tensors as they are, without recording (PyTorch runs a custom op below
autograd). When an input requires grad, the call is ONE ``tg.autograd.Function`` application
whose forward is the kernel and whose backward is the registered formula: the ordinary tape
carries it, and a formula written with tensorgrad ops is differentiable again (double
backward). Without a formula the output still requires grad, and its backward raises
PyTorch's error. An op defined by ``Library`` without a formula runs its kernel with grad
mode on (PyTorch's autograd fallback): a kernel made of tensorgrad operations is differentiated
through them, one that leaves the tape gives no gradient; the backward pass warns in both
cases."""

import inspect
import warnings

import numpy as np

from ..autograd.forward import Dual
from ..autograd.function import Function
from ..autograd.grad_mode import _state
from ..autograd.graph import _sums_to, bump_version
from ..backend.device import _CUPY_ARRAY, Device, get_default_device, xp_of
from ..tensor import Tensor, _new_tensor
from ._schema import bind, kernel_arguments

# device types PyTorch knows (a kernel for one tensorgrad never meets is kept, never run)
DEVICE_TYPES = ("cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve",
                "fpga", "maia", "xla", "lazy", "vulkan", "mps", "meta", "hpu", "mtia",
                "privateuseone")

_OPS = {}  # "ns::name.overload" ("default" for none) -> _Entry


def full_name(ns, name, overload):
    return f"{ns}::{name}.{overload or 'default'}"


class _Entry:
    """One operator overload: its schema and everything registered for it."""

    def __init__(self, ns, name, overload, schema):
        self.ns, self.name, self.overload = ns, name, overload
        self.schema = schema.with_name(f"{ns}::{name}", overload)
        self.kernels = {}  # device type ("cpu", "cuda", ...) or None (any device) -> fn
        self.implicit = None  # CompositeImplicitAutograd: runs on the tape
        self.autograd_kernel = None  # an Autograd-key kernel: it does its own autograd
        self.in_autograd_kernel = False
        self.nondiff = False  # fallthrough_kernel at Autograd: the kernel as is, no warning
        self.backward = None
        self.setup_context = None
        self.fake = None
        self.torch_dispatch = {}  # class -> rule
        self.vmap = None
        self.autocast = {}
        self.opdef = None  # the CustomOpDef, for ops made by custom_op
        self.init_fn = None  # custom_op's own function (a disabled kernel falls back to it)
        self.disabled = set()
        self.handle = OpOverload(self)
        self._function = None

    @property
    def qualname(self):
        return f"{self.ns}::{self.name}"

    @property
    def display(self):  # PyTorch's "ns.name.default"
        return f"{self.ns}.{self.name}.{self.overload or 'default'}"

    def function_class(self):
        """The ``tg.autograd.Function`` of this op (made once): forward runs the kernel,
        backward the registered formula; grad_fn's name is the op's."""
        if self._function is None:
            self._function = type(self.qualname, (Function,), {
                "forward": staticmethod(_forward),
                "setup_context": staticmethod(_setup_context),
                "backward": staticmethod(_backward),
            })
        return self._function


# ---- handles ------------------------------------------------------------------------------
class OpOverload:
    """One overload of an operator (PyTorch's ``torch.ops.ns.name.default``): callable, with
    ``_schema``, ``name()``, ``namespace``, ``overloadpacket``."""

    def __init__(self, entry):
        self._entry = entry

    def __call__(self, *args, **kwargs):
        return call(self._entry, args, kwargs)

    @property
    def _schema(self):
        return self._entry.schema

    @property
    def namespace(self):
        return self._entry.ns

    @property
    def _opname(self):
        return self._entry.name

    @property
    def _overloadname(self):
        return self._entry.overload or "default"

    @property
    def overloadpacket(self):
        return getattr(getattr(ops, self._entry.ns), self._entry.name)

    def name(self):
        e = self._entry
        return e.qualname + (f".{e.overload}" if e.overload else "")

    def __repr__(self):
        e = self._entry
        return f"<OpOverload(op='{e.ns}.{e.name}', overload='{e.overload or 'default'}')>"

    def __str__(self):
        return self._entry.display

    def __eq__(self, other):
        return isinstance(other, OpOverload) and other._entry is self._entry

    def __hash__(self):
        return id(self._entry)


class OpOverloadPacket:
    """An operator with all its overloads (PyTorch's ``torch.ops.ns.name``): called, it runs the
    first overload whose schema takes the arguments ("default" first)."""

    def __init__(self, ns, name):
        self._ns, self._name = ns, name

    @property
    def _qualified_op_name(self):
        return f"{self._ns}::{self._name}"

    def _entries(self):
        prefix = f"{self._ns}::{self._name}."
        found = [e for k, e in _OPS.items() if k.startswith(prefix)]
        found.sort(key=lambda e: e.overload != "")  # default first
        return found

    def overloads(self):
        return [e.overload or "default" for e in self._entries()]

    @property
    def default(self):
        return self.__getattr__("default")

    def __getattr__(self, overload):
        if overload.startswith("__"):
            raise AttributeError(overload)
        e = _OPS.get(f"{self._ns}::{self._name}.{overload}")
        if e is None:
            raise AttributeError(f"The underlying op of '{self._ns}.{self._name}' has no "
                                 f"overload name '{overload}'")
        return e.handle

    def __call__(self, *args, **kwargs):
        entries = self._entries()
        if not entries:
            raise RuntimeError(f"{self._qualified_op_name}: the operator no longer exists (its "
                               "Library was destroyed)")
        if len(entries) == 1:
            return call(entries[0], args, kwargs)
        for e in entries:
            try:
                bind(e.schema, e.qualname, args, kwargs)
            except (RuntimeError, TypeError):
                continue
            return call(e, args, kwargs)
        schemas = "\n  ".join(str(e.schema) for e in entries)
        raise RuntimeError(f"{self._qualified_op_name}: no overload takes these arguments; "
                           f"the overloads are:\n  {schemas}")

    def __repr__(self):
        return f"<OpOverloadPacket(op='{self._ns}.{self._name}')>"

    def __str__(self):
        return f"{self._ns}.{self._name}"


class OpNamespace:
    """``ops.<namespace>`` (PyTorch's ``torch.ops.mylib``): its operators as attributes."""

    def __init__(self, ns):
        self.name = ns
        self._packets = {}

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        if any(k.startswith(f"{self.name}::{name}.") for k in _OPS):
            packet = self._packets.get(name)
            if packet is None:
                packet = self._packets[name] = OpOverloadPacket(self.name, name)
            return packet
        raise AttributeError(f"'_OpNamespace' '{self.name}' object has no attribute '{name}'")

    def __dir__(self):
        prefix = f"{self.name}::"
        return sorted({k[len(prefix):].partition(".")[0] for k in _OPS if k.startswith(prefix)})

    def __repr__(self):
        return f"<module 'tensorgrad.ops.{self.name}' from 'tensorgrad.ops'>"


class Ops:
    """PyTorch's ``torch.ops``: ``ops.mylib.foo`` is the operator ``mylib::foo``."""

    def __init__(self):
        self._spaces = {}

    def __getattr__(self, ns):
        if ns.startswith("__"):
            raise AttributeError(ns)
        space = self._spaces.get(ns)
        if space is None:
            space = self._spaces[ns] = OpNamespace(ns)
        return space


ops = Ops()


def expose(ns):
    """Make ``tensorgrad.ops.<ns>`` the namespace of the custom ops of ``ns`` (as
    ``torch.ops.<ns>``), unless ``tensorgrad.ops`` (tensorgrad's own ops package) already has
    an attribute of that name: then ``tensorgrad.library.ops.<ns>`` is the way, and a warning
    says so."""
    import sys

    package = sys.modules.get("tensorgrad.ops")
    if package is None:
        return
    space = getattr(ops, ns)
    have = package.__dict__.get(ns)
    if have is space:
        return
    if have is not None:
        warnings.warn(f"tensorgrad.ops.{ns} is tensorgrad's own (an op or module); the custom "
                      f"ops of namespace '{ns}' are at tensorgrad.library.ops.{ns}", stacklevel=4)
        return
    setattr(package, ns, space)


# ---- the call -----------------------------------------------------------------------------
def _is_array(x):
    return isinstance(x, (np.ndarray, _CUPY_ARRAY))


def _input_leaves(schema, values):
    """(argument index, index in its list or None, tensor) of every tensor argument."""
    leaves = []
    for i, (a, v) in enumerate(zip(schema.arguments, values)):
        if a.type.base != "Tensor" or v is None:
            continue
        if isinstance(v, Tensor):
            leaves.append((i, None, v))
        elif isinstance(v, (list, tuple)):
            leaves.extend((i, j, t) for j, t in enumerate(v) if isinstance(t, Tensor))
    return leaves


def _device_type(schema, values, leaves):
    if leaves:
        return leaves[0][2].device.type
    for a, v in zip(schema.arguments, values):
        if a.type.base == "Device" and v is not None:
            return Device(v).type
    return get_default_device().type


def _select(entry, device_type):
    """The kernel for ``device_type``, and whether it runs on the tape (implicit)."""
    fn = entry.kernels.get(device_type)
    if fn is not None:
        if device_type in entry.disabled and entry.init_fn is not None:
            return entry.init_fn, False
        return fn, False
    fn = entry.kernels.get(None)
    if fn is not None:
        return fn, False
    if entry.implicit is not None:
        return entry.implicit, True
    have = sorted(str(k) for k in entry.kernels) or "none"
    fix = (f"{entry.name}.register_kernel({device_type!r})" if entry.opdef is not None else
           f"tensorgrad.library.register_kernel('{entry.qualname}', {device_type!r}, fn)")
    raise NotImplementedError(
        f"Could not run '{entry.qualname}' with arguments from the '{device_type.upper()}' "
        f"backend: the operator has kernels for these device types: {have}. Register one "
        f"with {fix}")


def _split(schema, values):
    pos, kw = [], {}
    for a, v in zip(schema.arguments, values):
        if a.kwarg_only:
            kw[a.name] = v
        else:
            pos.append(v)
    return pos, kw


def _as_tensor(entry, v, what):
    if isinstance(v, Tensor):
        return v
    if _is_array(v) or isinstance(v, np.generic):
        return _new_tensor(v, None, False)
    raise RuntimeError(f"{entry.qualname}: the implementation returned a {type(v).__name__} for "
                       f"{what}, where the schema ({entry.schema}) has a Tensor; return a "
                       "tensorgrad Tensor (or a NumPy/CuPy array)")


def _normalize(entry, out):
    """The kernel's result as a list, one value per return of the schema, tensors as Tensors
    (NumPy and CuPy arrays are taken as tensors)."""
    schema = entry.schema
    rets = schema.returns
    if not rets:
        return []
    if schema._text_returns.startswith("("):
        if not isinstance(out, (tuple, list)) or len(out) != len(rets):
            got = f"a {type(out).__name__}" + (f" of {len(out)}" if isinstance(
                out, (tuple, list)) else "")
            raise RuntimeError(f"{entry.qualname}: the implementation returned {got}, where "
                               f"the schema ({schema}) has a tuple of {len(rets)} outputs")
        parts = list(out)
    else:
        parts = [out]
    for k, (r, v) in enumerate(zip(rets, parts)):
        if r.base != "Tensor":
            continue
        if v is None and r.suffix.endswith("?"):
            continue
        if "[]" in r.suffix:
            if not isinstance(v, (list, tuple)):
                raise RuntimeError(f"{entry.qualname}: the implementation returned a "
                                   f"{type(v).__name__} for output {k}, where the schema "
                                   f"({schema}) has a list of tensors")
            parts[k] = [_as_tensor(entry, t, f"output {k}[{j}]") for j, t in enumerate(v)]
        else:
            parts[k] = _as_tensor(entry, v, f"output {k}")
    return parts


def _out_tensors(parts):
    for v in parts:
        if isinstance(v, Tensor):
            yield v
        elif isinstance(v, list):
            yield from (t for t in v if isinstance(t, Tensor))


def _overlap(a, b):
    a, b = a.data, b.data
    if not (_is_array(a) and _is_array(b)) or type(a) is not type(b) or not a.size or \
            not b.size:
        return False
    if type(a) is _CUPY_ARRAY and a.device.id != b.device.id:
        return False
    return bool(xp_of(a).may_share_memory(a, b))


def _check_aliasing(entry, leaves, parts):
    """PyTorch's rule for custom ops: an output is neither an input nor a view of one, nor of
    another output (a view op would need a schema that says so)."""
    seen = [t for _, _, t in leaves]
    for o in _out_tensors(parts):
        if any(o is t or _overlap(o, t) for t in seen):
            module = inspect.getmodule(entry.init_fn or next(iter(entry.kernels.values()), None))
            raise RuntimeError(
                f"{entry.name} (with implementation in {module}): The output of this custom "
                "operator (1) must not also be an input to this custom operator and (2) may "
                "not alias any inputs to this custom operator or other returns. The most common "
                "way to trigger this error is if we have y = custom_op(x) and y and x are the "
                "same Tensor. Please instead return a clone of the offending output tensor(s) "
                "(e.g. return x.clone()) or refactor the custom operator to not return y.")
        seen.append(o)


def _bump_mutated(schema, values):
    """A declared write shows in the version counter of the tensor written (as PyTorch bumps
    it for ``mutates_args``), so a value saved for backward before it is known stale."""
    for a, v in zip(schema.arguments, values):
        if not a.type.mutable or v is None:
            continue
        for t in (v if isinstance(v, (list, tuple)) else (v,)):
            if isinstance(t, Tensor):
                bump_version(t._vc)


def _run(entry, kernel, values, leaves):
    """The kernel on the bound values; its outputs, one per return, checked."""
    pos, kw = kernel_arguments(entry.schema, values)
    parts = _normalize(entry, kernel(*pos, **kw))
    if entry.opdef is not None and not entry.schema.returns_alias:
        _check_aliasing(entry, leaves, parts)
    _bump_mutated(entry.schema, values)
    return parts


def _result(entry, parts):
    if not entry.schema.returns:
        return None
    if entry.schema._text_returns.startswith("("):
        return tuple(parts)
    return parts[0]


def _dispatch_rule(entry, values, leaves):
    """A ``register_torch_dispatch`` rule for the class of a tensor argument, or None."""
    for cls, rule in entry.torch_dispatch.items():
        if any(isinstance(t, cls) for _, _, t in leaves):
            return cls, rule
    return None


def call(entry, args, kwargs):
    schema = entry.schema
    values = bind(schema, entry.qualname, args, kwargs)
    leaves = _input_leaves(schema, values)
    if entry.torch_dispatch:
        found = _dispatch_rule(entry, values, leaves)
        if found is not None:
            cls, rule = found
            pos, kw = kernel_arguments(schema, values)
            kinds = tuple(dict.fromkeys(type(t) for _, _, t in leaves))
            return rule(cls, entry.handle, kinds, tuple(pos), kw)
    if any(isinstance(t, Dual) for _, _, t in leaves):
        raise RuntimeError(
            f"{entry.qualname}: forward-mode AD (tg.func.jvp, tg.autograd.forward_ad, ...) "
            "through a custom op is not supported: torch.library registers a backward formula "
            "only (register_autograd); use reverse mode, or write the function with "
            "tensorgrad ops")
    if entry.autograd_kernel is not None and not entry.in_autograd_kernel:
        # an Autograd-key kernel (typically a Function whose forward calls the op again,
        # which PyTorch sends below autograd): the calls it makes go to the backend kernel
        pos, kw = kernel_arguments(schema, values)
        entry.in_autograd_kernel = True
        try:
            return entry.autograd_kernel(*pos, **kw)
        finally:
            entry.in_autograd_kernel = False
    kernel, implicit = _select(entry, _device_type(schema, values, leaves))
    if implicit:
        pos, kw = kernel_arguments(schema, values)
        return kernel(*pos, **kw)
    if not (_state.enabled and any(t._rg for _, _, t in leaves)) or entry.nondiff:
        # (fallthrough_kernel at Autograd: the kernel runs as it is, on the tape)
        return _result(entry, _run(entry, kernel, values, leaves))
    if not any(r.base == "Tensor" for r in schema.returns):
        # nothing to differentiate; the kernel still runs below autograd (its writes into
        # its inputs unrecorded), or on the tape for a Library op without a formula
        if _on_tape(entry):
            return _result(entry, _run(entry, kernel, values, leaves))
        _state.enabled = False
        try:
            return _result(entry, _run(entry, kernel, values, leaves))
        finally:
            _state.enabled = True
    return _through_function(entry, kernel, values, leaves)


# ---- the op on the tape: one autograd.Function application --------------------------------
class _Call:
    """One call of an op that needs a gradient: what the Function's forward, setup_context and
    backward share. ``values`` (the arguments) are dropped once the node is made: the node keeps
    only what ``setup_context`` saves."""

    __slots__ = ("entry", "kernel", "values", "leaves", "shapes", "arg_kinds", "lengths",
                 "out_layout", "parts")

    def __init__(self, entry, kernel, values, leaves):
        self.entry, self.kernel, self.values, self.leaves = entry, kernel, values, leaves
        self.shapes = [tuple(t.shape) for _, _, t in leaves]
        self.lengths = [len(v) if isinstance(v, (list, tuple)) else None for v in values]
        self.out_layout = None
        self.parts = None

    def flat_outputs(self, parts):
        layout, flat = [], []
        for k, v in enumerate(parts):
            if isinstance(v, list):
                layout.append((k, len(v)))
                flat.extend(v)
            else:
                layout.append((k, None))
                flat.append(v)
        self.out_layout = layout
        return tuple(flat)

    def rebuild(self, flat):
        parts, at = [], 0
        for _, n in self.out_layout:
            if n is None:
                parts.append(flat[at])
                at += 1
            else:
                parts.append(list(flat[at:at + n]))
                at += n
        return parts


def _on_tape(entry):
    """Whether the kernel runs with grad mode on: an op defined by ``Library`` without a
    backward formula (PyTorch's autograd fallback), whose kernel may be made of differentiable
    operations. A custom op's kernel runs below autograd."""
    return entry.opdef is None and entry.backward is None


def _forward(call_, *flat_inputs):
    if _on_tape(call_.entry):
        _state.enabled = True
        try:
            call_.parts = _run(call_.entry, call_.kernel, call_.values, call_.leaves)
        finally:
            _state.enabled = False
    else:
        call_.parts = _run(call_.entry, call_.kernel, call_.values, call_.leaves)
    return call_.flat_outputs(call_.parts)


def _setup_context(ctx, inputs, output):
    call_ = inputs[0]
    entry = call_.entry
    ctx._tg_call = call_
    needs = [False if n is None else [False] * n for n in call_.lengths]
    for i, j, t in call_.leaves:  # (grad mode is off in here: the call needs a gradient)
        if j is None:
            needs[i] = t._rg
        else:
            needs[i][j] = t._rg
    ctx.needs_input_grad = tuple(needs)
    setup = entry.setup_context
    if setup is not None:
        pos, kw = _split(entry.schema, call_.values)
        result = _result(entry, call_.rebuild(output))
        if kw:
            setup(ctx=ctx, inputs=tuple(pos), keyword_only_inputs=kw, output=result)
        else:
            setup(ctx=ctx, inputs=tuple(pos), output=result)


def _warn_no_formula(entry, what):
    warnings.warn(
        f"{entry.qualname}: an autograd kernel was not registered to the Autograd key(s) but we "
        f"are trying to backprop through it: {what}. If the operator is differentiable, "
        "register a formula with "
        f"tensorgrad.library.register_autograd('{entry.qualname}', backward, "
        "setup_context=...) (or its kernel as CompositeImplicitAutograd); if it is not, "
        "register fallthrough_kernel to 'Autograd' to silence this warning.", UserWarning,
        stacklevel=3)


def _warn_at_backward(entry, t):
    """``t`` (an output the kernel's own operations recorded), warning when the backward pass
    reaches it, as PyTorch's autograd fallback does."""
    def hook(grad):
        _warn_no_formula(entry, "the gradient goes through the operations of its kernel")

    t.register_hook(hook)
    return t


def _backward(ctx, *flat_grads):
    call_ = ctx._tg_call
    entry = call_.entry
    if entry.backward is None:
        if entry.opdef is not None:
            raise RuntimeError(f"Trying to backward through {entry.display} but no autograd "
                               "formula was registered. Please use register_autograd to add "
                               "one.")
        _warn_no_formula(entry, "its kernel left the tape, so its inputs get no gradient "
                                "from it")
        return (None,) * (1 + len(call_.leaves))
    grads = call_.rebuild(flat_grads)
    for k, r in enumerate(entry.schema.returns):
        if r.base != "Tensor":
            grads[k] = None
    res = entry.backward(ctx, *grads)
    if not isinstance(res, tuple):
        res = (res,)
    args = entry.schema.arguments
    n_pos = sum(not a.kwarg_only for a in args)
    names = ", ".join(a.name for a in args if not a.kwarg_only)
    if len(res) not in (n_pos, len(args)):
        raise RuntimeError(f"{entry.qualname}: backward returned {len(res)} gradient(s), "
                           f"expected {n_pos}, one per input of the op ({names}; None for an "
                           "input that needs none)")
    flat = []
    lookup_leaf = {(i, j): k for k, (i, j, _) in enumerate(call_.leaves)}
    for i, (a, r) in enumerate(zip(args, res)):
        if a.type.base != "Tensor":
            if r is not None:
                raise RuntimeError(f"{entry.qualname}: backward returned a gradient for "
                                   f"argument '{a.name}' ({i}), which is a {a.type} and not a "
                                   "Tensor; return None for it")
            continue
        n = call_.lengths[i]
        if n is not None and r is not None:
            if not isinstance(r, (list, tuple)) or len(r) != n:
                raise RuntimeError(f"{entry.qualname}: backward returned a "
                                   f"{type(r).__name__} for argument '{a.name}', a list of "
                                   f"{n} tensors; expected a list of {n} gradients (or None)")
    grads_by_leaf = [None] * len(call_.leaves)
    for i, r in enumerate(res[:len(args)]):
        if r is None or args[i].type.base != "Tensor":
            continue
        items = [(None, r)] if call_.lengths[i] is None else list(enumerate(r))
        for j, g in items:
            k = lookup_leaf.get((i, j))
            if k is None or g is None:
                continue
            shape = tuple(getattr(g, "shape", ()))
            want = call_.shapes[k]
            if shape != want and not _sums_to(shape, want):
                where = args[i].name + ("" if j is None else f"[{j}]")
                raise RuntimeError(f"{entry.qualname}: backward returned a gradient of shape "
                                   f"{shape} for argument '{where}', which has shape {want}")
            grads_by_leaf[k] = g
    flat.extend(grads_by_leaf)
    return (None, *flat)


def _through_function(entry, kernel, values, leaves):
    call_ = _Call(entry, kernel, values, leaves)
    try:
        flat = entry.function_class().apply(call_, *(t for _, _, t in leaves))
        if _on_tape(entry):
            # an output the kernel's own operations recorded keeps that history (the
            # gradient flows through them, as in PyTorch); the others hang on the node
            # whose backward warns that no formula was registered
            kernel_out = call_.flat_outputs(call_.parts)
            flat = tuple(_warn_at_backward(entry, k) if isinstance(k, Tensor) and k._rg else f
                         for k, f in zip(kernel_out, flat))
    finally:
        # the node keeps what setup_context saved, not the arguments
        call_.values = call_.parts = None
        call_.leaves = [(i, j, None) for i, j, _ in leaves]
    return _result(entry, call_.rebuild(flat))
