"""``tensorgrad.library``: PyTorch's ``torch.library``, the Python API for custom operators.

An operator is declared once, by a schema (inferred from type annotations, or written out),
with kernels per device type, an optional backward formula and an optional fake implementation:

>>> import numpy as np
>>> import tensorgrad as tg
>>> from tensorgrad.library import custom_op
>>> @custom_op("doc::numpy_sin", mutates_args=())
... def numpy_sin(x: tg.Tensor) -> tg.Tensor:
...     return tg.from_numpy(np.sin(x.numpy()))
>>> def setup_context(ctx, inputs, output):
...     ctx.save_for_backward(inputs[0])
>>> def backward(ctx, grad):
...     x, = ctx.saved_tensors
...     return grad * x.cos()
>>> numpy_sin.register_autograd(backward, setup_context=setup_context)
>>> x = tg.tensor([0.0, 1.0], requires_grad=True)
>>> numpy_sin(x).sum().backward()
>>> x.grad.tolist() == np.cos([0.0, 1.0]).astype(np.float32).tolist()
True

How it maps onto tensorgrad (see ``_ops.py``): the kernel, picked by the device type of the
tensor arguments, runs on the tensors without recording, as PyTorch runs a custom op below
autograd; when an input requires grad the call is one ``tg.autograd.Function`` application
whose backward is the registered formula, so a formula written with tensorgrad ops gives second
derivatives too. Without a formula, backward raises PyTorch's error (custom ops); an op defined
by ``Library`` runs its kernel on the tape instead and warns at backward (PyTorch's autograd
fallback). A write into an argument named in ``mutates_args`` bumps its version. A kernel may
return NumPy or CuPy arrays where the schema has a Tensor. ``tensorgrad.library.ops.<ns>.<name>``
(and ``tensorgrad.ops.<ns>``, set when the namespace's first op is made, unless tensorgrad's
own ops package has that name) is ``torch.ops.<ns>.<name>``.

What differs from PyTorch, and why:

- ``register_fake``: kept; tensorgrad has no fake tensors or compiler, so only ``opcheck`` runs
  it (its ``test_faketensor`` compares the fake's output shapes, dtypes and devices with the
  kernel's). ``get_ctx()`` is its context there, and None elsewhere.
- ``register_torch_dispatch``: kept, and used: the rule runs when a tensor argument is an
  instance of its class (a Tensor subclass). tensorgrad has no dispatch modes, so a rule for a
  mode never runs, which is what PyTorch does while that mode is not active.
- ``register_vmap``, ``register_autocast``: kept, unused: ``tg.vmap`` runs such an op once per
  example (correct, slower); autocast leaves its inputs' dtypes as they are.
- ``opcheck``: PyTorch's four tests by name; ``test_aot_dispatch_dynamic`` checks the backward
  formula against finite differences where the inputs are float64 (see ``_opcheck.py``).
- forward-mode AD through a custom op raises (PyTorch registers no forward formula either).
- ``Library.impl`` of an operator not yet defined raises (PyTorch keeps it for a later
  ``define``); ``Library.fallback`` and ``impl(..., with_keyset=True)`` raise: there is no
  dispatcher to fall back through or key set to pass.
- ``triton_op``, ``wrap_triton``: there is no Triton in tensorgrad; they raise.
- ``set_kernel_enabled`` warns with ``warnings.warn`` where PyTorch logs.
"""

import contextlib
import re
import warnings
import weakref

from . import _opcheck
from ._opcheck import OpCheckError
from ._ops import (
    _OPS,
    DEVICE_TYPES,
    OpOverload,
    OpOverloadPacket,
    _Entry,
    expose,
    full_name,
    ops,
)
from ._schema import FunctionSchema, infer_schema, parse

__all__ = ["custom_op", "CustomOpDef", "Library", "define", "impl", "impl_abstract",
           "register_kernel", "register_autograd", "register_fake", "register_torch_dispatch",
           "register_vmap", "register_autocast", "get_ctx", "infer_schema", "opcheck",
           "triton_op", "wrap_triton", "fallthrough_kernel", "OpOverload", "OpOverloadPacket",
           "OpCheckError", "FunctionSchema", "ops"]

_RESERVED = ("prim",)
_KEEP_ALIVE = []  # the fragments made by define() without a lib: they live as long as the process


def _split_qualname(qualname):
    """("ns", "name", "overload") of ``"ns::name"`` / ``"ns::name.overload"``."""
    if not isinstance(qualname, str) or qualname.count("::") != 1:
        raise ValueError(f'Expected `qualname` to be of the form "namespace::name", but got '
                         f"{qualname}. The qualname passed to the tensorgrad.library APIs must "
                         "consist of a namespace and a name, e.g. mylib::sin")
    ns, _, rest = qualname.partition("::")
    name, _, overload = rest.partition(".")
    if not re.fullmatch(r"[A-Za-z_]\w*", ns) or not re.fullmatch(r"[A-Za-z_]\w*", name) or (
            overload and not re.fullmatch(r"[A-Za-z_]\w*", overload)):
        raise ValueError(f"{qualname!r} is not a valid operator name: the namespace, the name "
                         "and the overload (after a '.') must be identifiers")
    return ns, name, "" if overload == "default" else overload


def _entry_of(op, what):
    """The registry entry of ``op``: a CustomOpDef, an OpOverload, a packet (its default) or a
    qualified name."""
    if isinstance(op, CustomOpDef):
        return op._entry
    if isinstance(op, OpOverload):
        return op._entry
    if isinstance(op, OpOverloadPacket):
        op = op._qualified_op_name
    if isinstance(op, str):
        ns, name, overload = _split_qualname(op)
        entry = _OPS.get(full_name(ns, name, overload))
        if entry is None:
            raise AttributeError(f"{what}: there is no operator '{op}'; define it first "
                                 "(custom_op, tensorgrad.library.define or Library.define)")
        return entry
    raise TypeError(f"{what}: expected an operator (a CustomOpDef, an OpOverload or a name "
                    f"'namespace::name'), got {type(op).__name__}")


def _device_list(device_types, what):
    kinds = [device_types] if device_types is None or isinstance(device_types, str) \
        else list(device_types)
    for d in kinds:
        if d is not None and d not in DEVICE_TYPES:
            raise RuntimeError(f"{what}: Expected one of {', '.join(DEVICE_TYPES)} device type, "
                               f"got {d!r}")
    return kinds


def _register_kernel(entry, device_types, fn, what="register_kernel"):
    if not callable(fn):
        raise TypeError(f"{what}({entry.qualname}): the kernel must be callable, got "
                        f"{type(fn).__name__}")
    kinds = _device_list(device_types, what)
    if device_types is not None:
        args = entry.schema.arguments
        if not any(a.type.base == "Tensor" for a in args) and \
                not any(a.type.base == "Device" for a in args):
            raise ValueError("Functions without tensor inputs are required to have a `device: "
                             f"tg.device` argument ({entry.qualname}: the kernel is picked by "
                             "the device)")
    for d in kinds:
        entry.kernels[d] = fn
    return fn


def _check_autograd(entry, backward, setup_context):
    if not callable(backward):
        raise TypeError(f"register_autograd({entry.qualname}): backward must be callable, got "
                        f"{type(backward).__name__}")
    if setup_context is not None and not callable(setup_context):
        raise TypeError(f"register_autograd({entry.qualname}): setup_context must be callable "
                        f"or None, got {type(setup_context).__name__}")
    if entry.schema.is_mutable:
        raise RuntimeError(f"Cannot register autograd formula for non-functional operator "
                           f"{entry.opdef or entry.qualname} with schema {entry.schema}. Please "
                           "create a functional operator and register an autograd formula for "
                           "that.")
    entry.backward, entry.setup_context = backward, setup_context


# ---- custom_op ----------------------------------------------------------------------------
class CustomOpDef:
    """A custom operator made by :func:`custom_op`: call it like the function it was made from;
    add kernels, a backward formula, a fake implementation with its ``register_*`` methods."""

    def __init__(self, namespace, name, schema, fn, tags=None):
        name, _, overload = name.partition(".")
        entry = _Entry(namespace, name, overload, parse(schema, name=name))
        entry.opdef = self
        entry.init_fn = fn
        self._entry = entry
        self._namespace, self._name, self._schema = namespace, name, schema
        self._init_fn = fn
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__name__ = getattr(fn, "__name__", name)
        self.__wrapped__ = fn
        _OPS[full_name(namespace, name, overload)] = entry  # a new definition replaces one
        expose(namespace)

    @property
    def _qualname(self):
        return f"{self._namespace}::{self._name}"

    @property
    def _opoverload(self):
        return self._entry.handle

    def __repr__(self):
        return f"<CustomOpDef({self._qualname})>"

    def __call__(self, *args, **kwargs):
        return self._entry.handle(*args, **kwargs)

    def register_kernel(self, device_types, fn=None, /):
        """Register ``fn`` as the kernel for ``device_types`` ("cpu", "cuda", or a sequence;
        None: every device); usable as a decorator. The kernel is picked by the device of the
        op's tensor arguments."""
        if fn is None:
            return lambda f: _register_kernel(self._entry, device_types, f)
        return _register_kernel(self._entry, device_types, fn)

    def register_fake(self, fn, /):
        """Keep ``fn`` as the fake implementation (what the outputs' shapes, dtypes and devices
        are); ``opcheck`` compares it with the kernel. Usable as a decorator."""
        if not callable(fn):
            raise TypeError(f"register_fake({self._qualname}): expected a callable, got "
                            f"{type(fn).__name__}")
        self._entry.fake = fn
        return fn

    def register_autograd(self, backward, /, *, setup_context=None):
        """Make the op differentiable: ``setup_context(ctx, inputs, output)`` (with
        ``keyword_only_inputs`` before ``output`` when the op has keyword-only arguments) saves
        what ``backward(ctx, *grads)`` needs; backward returns one gradient per input (None
        for non-tensors; a list for a list of tensors)."""
        _check_autograd(self._entry, backward, setup_context)

    def register_torch_dispatch(self, torch_dispatch_class, fn=None, /):
        """``fn(cls, op, types, args, kwargs)`` runs instead of the kernel when a tensor argument
        is an instance of ``torch_dispatch_class``; usable as a decorator."""
        def register(f):
            self._entry.torch_dispatch[torch_dispatch_class] = f
            return f

        return register if fn is None else register(fn)

    def register_vmap(self, func=None):
        """Kept, not used: ``tg.vmap`` runs the op once per example."""
        def register(f):
            self._entry.vmap = f
            return f

        return register if func is None else register(func)

    def register_autocast(self, device_type, cast_inputs):
        """Kept, not used: the op's inputs keep their dtypes under autocast."""
        self._entry.autocast[device_type] = cast_inputs

    @contextlib.contextmanager
    def set_kernel_enabled(self, device_type, enabled=True):
        """Within the block, the kernel registered for ``device_type`` is disabled (the op's
        own function runs instead) or enabled again; the state is restored after it."""
        entry = self._entry
        action = "enable" if enabled else "disable"
        was_disabled = device_type in entry.disabled
        if device_type not in entry.kernels:
            warnings.warn(f"{self._qualname}: attempted to {action} the kernel for "
                          f"{device_type} but no kernel was registered for this device type",
                          stacklevel=3)
        if enabled == (not was_disabled):
            warnings.warn(f"{self._qualname}: attempted to {action} the kernel for "
                          f"{device_type} but it was already {action}d", stacklevel=3)
        if enabled:
            entry.disabled.discard(device_type)
        else:
            entry.disabled.add(device_type)
        try:
            yield
        finally:
            if was_disabled:
                entry.disabled.add(device_type)
            else:
                entry.disabled.discard(device_type)


def custom_op(name, fn=None, /, *, mutates_args, device_types=None, schema=None, tags=None):
    """PyTorch's ``torch.library.custom_op``: make ``fn`` an operator ``"namespace::name"``
    whose schema comes from its annotations (or ``schema=``). ``mutates_args``: the names of the
    tensor arguments ``fn`` writes into, ``()`` for none, or ``"unknown"``. ``device_types``:
    the devices ``fn`` is the kernel for (None: all). Usable as a decorator.

    >>> import tensorgrad as tg
    >>> from tensorgrad.library import custom_op
    >>> @custom_op("doc::twice", mutates_args=())
    ... def twice(x: tg.Tensor) -> tg.Tensor:
    ...     return x * 2
    >>> twice(tg.tensor([1.0, 2.0])).tolist()
    [2.0, 4.0]
    """
    def inner(f):
        ns, opname, overload = _split_qualname(name)
        if ns in _RESERVED:
            raise ValueError(f"{ns} is a reserved namespace. Please try creating a library with "
                             "another name.")
        text = infer_schema(f, mutates_args=mutates_args) if schema is None else schema
        op = CustomOpDef(ns, opname + (f".{overload}" if overload else ""), text, f, tags)
        _register_kernel(op._entry, device_types, f, what="custom_op")
        return op

    return inner if fn is None else inner(fn)


def triton_op(name, fn=None, /, *, mutates_args, schema=None):
    """PyTorch's ``triton_op``: tensorgrad has no Triton, so it raises."""
    raise NotImplementedError(
        f"triton_op({name!r}): tensorgrad has no Triton. Define the operator with "
        "tensorgrad.library.custom_op and write its CUDA kernel with CuPy (cupy.RawKernel, "
        "cupy.ElementwiseKernel) or tensorgrad operations")


def wrap_triton(triton_kernel, /):
    """PyTorch's ``wrap_triton``: tensorgrad has no Triton, so it raises."""
    raise NotImplementedError(
        "wrap_triton: tensorgrad has no Triton to launch a Triton kernel with. Write the kernel "
        "with CuPy (cupy.RawKernel) inside a custom_op's implementation instead")


def fallthrough_kernel():
    """A marker for ``Library.impl``: registered at ``"Autograd"`` it makes an op silently
    non-differentiable; at a backend key it registers nothing."""
    raise NotImplementedError("fallthrough_kernel() should never be called.")


# ---- Library ------------------------------------------------------------------------------
_DEF_LIBS = {}  # namespace -> weakref to its DEF library
_BACKEND_KEYS = {"CPU": "cpu", "CUDA": "cuda", "XLA": "xla", "MPS": "mps", "XPU": "xpu",
                 "HIP": "hip", "HPU": "hpu", "IPU": "ipu", "MTIA": "mtia", "Lazy": "lazy",
                 "PrivateUse1": "privateuseone", "MAIA": "maia", "VE": "ve"}
_ANY_DEVICE = ("CompositeExplicitAutograd", "CompositeExplicitAutogradNonFunctional")
_AUTOGRAD_KEYS = ("Autograd", "AutogradCPU", "AutogradCUDA", "AutogradOther")
# keys PyTorch knows that have no counterpart in tensorgrad's call: registered, never run
_IGNORED_KEYS = ("Functionalize", "ADInplaceOrView", "Python", "BackendSelect", "AutocastCPU",
                 "AutocastCUDA", "Autocast", "FuncTorchBatched", "Batched", "Tracer",
                 "PreDispatch", "PythonDispatcher", "FuncTorchDynamicLayerFrontMode",
                 "FuncTorchDynamicLayerBackMode", "Conjugate", "Negative", "ZeroTensor",
                 "SparseCPU", "SparseCUDA", "QuantizedCPU", "QuantizedCUDA", "NestedTensorCPU",
                 "NestedTensorCUDA", "AutogradNestedTensor")


def _slot(key):
    """(attribute of the entry, key inside it) where a kernel for dispatch ``key`` goes."""
    if key in _BACKEND_KEYS:
        return "kernels", _BACKEND_KEYS[key]
    if key in _ANY_DEVICE:
        return "kernels", None
    if key == "CompositeImplicitAutograd":
        return "implicit", None
    if key in _AUTOGRAD_KEYS:
        return "autograd_kernel", None
    if key == "Meta":
        return "fake", None
    if key in _IGNORED_KEYS:
        return None, None
    raise RuntimeError(f"could not parse dispatch key: {key}")


def _install(entry, key, fn, record):
    attr, sub = _slot(key)
    if attr is None:
        return
    if fn is fallthrough_kernel:
        if attr == "autograd_kernel":
            entry.nondiff = True
            record.append((entry, "nondiff", None, True))
        return
    if attr == "kernels":
        entry.kernels[sub] = fn
    else:
        setattr(entry, attr, fn)
    record.append((entry, attr, sub, fn))


def _remove(defined, registered):
    """A Library's definitions and registrations, undone (when it is destroyed or collected)."""
    for entry, attr, sub, fn in registered:
        if attr == "kernels":
            if entry.kernels.get(sub) is fn:
                del entry.kernels[sub]
        elif getattr(entry, attr) is fn:
            setattr(entry, attr, False if attr == "nondiff" else None)
    for key, entry in defined:
        if _OPS.get(key) is entry:
            del _OPS[key]
    registered.clear()
    defined.clear()


class Library:
    """PyTorch's ``torch.library.Library(ns, kind)``: ``kind`` "DEF" (the one library that
    defines namespace ``ns``), "FRAGMENT" (defines more of it) or "IMPL" (registers kernels
    only). Its definitions and kernels are removed when it is destroyed (``_destroy()``, or
    when the object is collected), as in PyTorch.

    >>> import tensorgrad as tg
    >>> from tensorgrad.library import Library
    >>> lib = Library("doclib", "FRAGMENT")
    >>> lib.define("scale(Tensor x, float a=2.0) -> Tensor")
    'scale'
    >>> lib.impl("scale", lambda x, a=2.0: x * a, "CompositeExplicitAutograd")
    >>> tg.library.ops.doclib.scale(tg.ones(2)).tolist()
    [2.0, 2.0]
    """

    def __init__(self, ns, kind, dispatch_key=""):
        if kind not in ("IMPL", "DEF", "FRAGMENT"):
            raise ValueError(f"Unsupported kind: {kind}")
        if ns in _RESERVED and kind in ("DEF", "FRAGMENT"):
            raise ValueError(f"{ns} is a reserved namespace. Please try creating a library with "
                             "another name.")
        if kind == "DEF":
            held = _DEF_LIBS.get(ns)
            if held is not None and held() is not None:
                raise RuntimeError(
                    f"Only a single TORCH_LIBRARY can be used to register the namespace {ns}; "
                    "please put all of your definitions in a single TORCH_LIBRARY block. If you "
                    "were trying to specify implementations, consider using TORCH_LIBRARY_IMPL "
                    "(which can be duplicated). If you really intended to define operators for "
                    "a single namespace in a distributed way, you can use TORCH_LIBRARY_FRAGMENT "
                    "to explicitly indicate this.")
            _DEF_LIBS[ns] = weakref.ref(self)
        self.ns, self.kind, self.dispatch_key = ns, kind, dispatch_key
        self._defined, self._registered = [], []
        self._finalizer = weakref.finalize(self, _remove, self._defined, self._registered)

    def __repr__(self):
        return f"Library(kind={self.kind}, ns={self.ns}, dispatch_key={self.dispatch_key})>"

    def define(self, schema, alias_analysis="", *, tags=()):
        """Define an operator of this namespace from its schema (``"name(Tensor x) ->
        Tensor"``); returns its name."""
        parsed = parse(schema)
        name = parsed.name
        if "::" in name:
            ns, _, name = name.partition("::")
            if ns != self.ns:
                raise RuntimeError(f"define({schema!r}): the operator's namespace {ns!r} is not "
                                   f"this library's ({self.ns!r})")
        if self.kind == "IMPL":
            raise RuntimeError(f'def("{name}"): Cannot define an operator inside of a '
                               "TORCH_LIBRARY_IMPL block. All def()s should be placed in the "
                               "(unique) TORCH_LIBRARY block for their namespace.")
        if alias_analysis not in ("", "FROM_SCHEMA", "CONSERVATIVE"):
            raise RuntimeError(f"Invalid alias_analysis type {alias_analysis}")
        key = full_name(self.ns, name, parsed.overload_name)
        if key in _OPS:
            raise RuntimeError(f"Tried to register an operator ({self.ns}::{parse(schema)}) with "
                               "the same name and overload name multiple times. Each "
                               "overload's schema should only be registered with a single "
                               "call to def().")
        entry = _Entry(self.ns, name, parsed.overload_name, parsed)
        _OPS[key] = entry
        self._defined.append((key, entry))
        expose(self.ns)
        return name

    def impl(self, op_name, fn, dispatch_key="", *, with_keyset=False, allow_override=False):
        """Register ``fn`` as the kernel of ``op_name`` ("name" or "name.overload" of this
        namespace, or an OpOverload) for ``dispatch_key``: "CPU", "CUDA",
        "CompositeExplicitAutograd" (any device), "CompositeImplicitAutograd" (runs on the
        tape: differentiable through its ops), "Autograd" (the kernel does its own autograd),
        "Meta" (the fake implementation)."""
        if not callable(fn):
            raise TypeError(f"Input function is required to be a callable but found type "
                            f"{type(fn)}")
        if with_keyset:
            raise NotImplementedError("Library.impl(with_keyset=True): tensorgrad has no "
                                      "dispatch key sets to pass to the kernel")
        if isinstance(op_name, OpOverload):
            entry = op_name._entry
        else:
            name = op_name if "::" in op_name else f"{self.ns}::{op_name}"
            entry = _entry_of(name, f"Library.impl({op_name!r})")
        _install(entry, dispatch_key or self.dispatch_key or "CompositeImplicitAutograd", fn,
                 self._registered)

    def fallback(self, fn, dispatch_key="", *, with_keyset=False):
        raise NotImplementedError("Library.fallback: tensorgrad has no dispatcher to fall back "
                                  "through; register kernels per operator with impl()")

    def _destroy(self):
        self._finalizer()
        if _DEF_LIBS.get(self.ns) is not None and _DEF_LIBS[self.ns]() is self:
            del _DEF_LIBS[self.ns]


# ---- the functional API -------------------------------------------------------------------
def define(qualname, schema, *, lib=None, tags=()):
    """Define the operator ``qualname`` ("ns::name") with ``schema`` ("(Tensor x) -> Tensor").
    Without ``lib`` the definition lasts as long as the process."""
    ns, name, overload = _split_qualname(qualname)
    if lib is None:
        lib = Library(ns, "FRAGMENT")
        _KEEP_ALIVE.append(lib)
    lib.define(name + (f".{overload}" if overload else "") + schema, tags=tags)


def _dispatch_key(kind):
    if kind == "default":
        return "CompositeExplicitAutograd"
    if kind in DEVICE_TYPES:
        return {v: k for k, v in _BACKEND_KEYS.items()}.get(kind, kind.upper())
    return kind


def impl(qualname, types=None, func=None, *, lib=None):
    """Register ``func`` for ``types`` (device types "cpu"/"cuda", "default", or dispatch keys
    such as "CompositeImplicitAutograd") of the operator ``qualname``; a decorator without
    ``func``. The older form ``impl(lib, name, dispatch_key)`` is a decorator too."""
    if isinstance(qualname, Library):
        target, name, key = qualname, types, func or ""

        def register_in(f):
            target.impl(name, f, key)
            return f

        return register_in
    keys = [types] if isinstance(types, str) else list(types or ())
    if not keys:
        raise ValueError(f"impl({qualname!r}): give the device types or dispatch keys")

    def register(f):
        entry = _entry_of(qualname, "impl")
        record = lib._registered if lib is not None else []
        for k in keys:
            _install(entry, _dispatch_key(k), f, record)
        return f

    if func is None:
        return register
    register(func)
    return None


def register_kernel(op, device_types, func=None, /, *, lib=None):
    """Register ``func`` as the kernel of ``op`` for ``device_types``; a decorator without it."""
    if isinstance(op, CustomOpDef):
        return op.register_kernel(device_types, func)

    def register(f):
        return _register_kernel(_entry_of(op, "register_kernel"), device_types, f)

    return register if func is None else register(func)


def register_autograd(op, backward, /, *, setup_context=None, lib=None):
    """Register the backward formula of ``op`` (see ``CustomOpDef.register_autograd``)."""
    _check_autograd(_entry_of(op, "register_autograd"), backward, setup_context)


def register_fake(op, func=None, /, *, lib=None, _stacklevel=1, allow_override=False):
    """Keep ``func`` as ``op``'s fake implementation (run by ``opcheck`` only)."""
    def register(f):
        _entry_of(op, "register_fake").fake = f
        return f

    return register if func is None else register(func)


def impl_abstract(qualname, func=None, *, lib=None, _stacklevel=1):
    """``register_fake``'s older name."""
    return register_fake(qualname, func, lib=lib)


def register_torch_dispatch(op, torch_dispatch_class, func=None, /, *, lib=None):
    """See ``CustomOpDef.register_torch_dispatch``."""
    def register(f):
        _entry_of(op, "register_torch_dispatch").torch_dispatch[torch_dispatch_class] = f
        return f

    return register if func is None else register(func)


def register_vmap(op, func=None, /, *, lib=None):
    """Kept, not used: ``tg.vmap`` runs the op once per example."""
    def register(f):
        _entry_of(op, "register_vmap").vmap = f
        return f

    return register if func is None else register(func)


def register_autocast(op, device_type, cast_inputs, /, *, lib=None):
    """Kept, not used: the op's inputs keep their dtypes under autocast."""
    _entry_of(op, "register_autocast").autocast[device_type] = cast_inputs


def get_ctx():
    """The context of the fake implementation ``opcheck`` is running (``new_dynamic_size()``),
    None outside one."""
    return _opcheck.CTX[0]


def opcheck(op, args, kwargs=None, *, test_utils=_opcheck.DEFAULT_UTILS, raise_exception=True,
            atol=None, rtol=None):
    """PyTorch's ``torch.library.opcheck``: run the tests named in ``test_utils`` on ``op``
    called with ``args``/``kwargs``; returns ``{test name: "SUCCESS" or the exception}``, or
    raises ``OpCheckError`` at the first failure when ``raise_exception``. What each test
    checks in tensorgrad: see ``tensorgrad/library/_opcheck.py``.

    >>> import tensorgrad as tg
    >>> from tensorgrad.library import custom_op, opcheck
    >>> @custom_op("doc::cube", mutates_args=())
    ... def cube(x: tg.Tensor) -> tg.Tensor:
    ...     return x * x * x
    >>> cube.register_autograd(lambda ctx, g: 3 * ctx.saved_tensors[0] ** 2 * g,
    ...                        setup_context=lambda ctx, inputs, output:
    ...                        ctx.save_for_backward(inputs[0]))
    >>> x = tg.tensor([1.0, 2.0], dtype=tg.float64, requires_grad=True)
    >>> opcheck(cube, (x,))["test_aot_dispatch_dynamic"]
    'SUCCESS'
    """
    if isinstance(op, OpOverloadPacket):
        found = op.overloads()
        if len(found) != 1:
            raise RuntimeError(f"opcheck can only test operators without overloads. Got the "
                               f"following overloads for {op._qualified_op_name}: {found}")
        op = getattr(op, found[0])
    if not isinstance(op, (CustomOpDef, OpOverload)):
        raise ValueError(f"opcheck(op, ...): op must be a custom operator (a CustomOpDef or an "
                         f"OpOverload such as tensorgrad.library.ops.mylib.foo.default), got "
                         f"{type(op)}")
    return _opcheck.run(_entry_of(op, "opcheck"), tuple(args), kwargs, test_utils,
                        raise_exception, atol, rtol)


def namespace(ns):
    """``ops.<ns>`` (for ``tensorgrad.ops``' module ``__getattr__``): the namespace of the
    custom ops of ``ns``, or AttributeError when none is defined."""
    if not any(k.startswith(f"{ns}::") for k in _OPS):
        raise AttributeError(f"module 'tensorgrad.ops' has no attribute {ns!r}")
    return getattr(ops, ns)


