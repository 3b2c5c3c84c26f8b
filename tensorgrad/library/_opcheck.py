"""``opcheck``: PyTorch's test of a custom operator's registrations, on tensorgrad's terms.

The four tests keep PyTorch's names; what each checks here (tensorgrad has no fake tensors and
no compiler, so two of them check what their registrations mean instead):

- ``test_schema``: the op runs on copies of the arguments, an argument it writes is declared
  mutable (``mutates_args``), and its outputs do not alias its inputs (custom ops);
- ``test_autograd_registration``: an op defined by ``Library`` without a backward formula
  (nor a CompositeImplicitAutograd or Autograd kernel), given inputs that require grad, has a
  kernel whose own operations do not record (they would differentiate it silently), as in
  PyTorch; custom ops pass (their missing formula raises at backward);
- ``test_faketensor``: the fake implementation (``register_fake``), run on the same arguments,
  gives outputs of the kernel's shapes, dtypes and devices (sizes from
  ``get_ctx().new_dynamic_size()`` are not compared); nothing to check without one;
- ``test_aot_dispatch_dynamic`` (and ``_static``): the backward pass runs, and where the inputs
  that require grad are float64 the registered formula agrees with central finite differences
  (``tg.gradcheck``): stricter than PyTorch, whose test compares the compiled op with the eager
  one and passes a wrong formula.
"""

import copy

import numpy as np

from ..autograd.grad_mode import enable_grad, no_grad
from ..backend.device import to_host
from ..tensor import Tensor
from . import _ops
from ._schema import bind

DEFAULT_UTILS = ("test_schema", "test_autograd_registration", "test_faketensor",
                 "test_aot_dispatch_dynamic")
ALL_UTILS = ("test_schema", "test_autograd_registration", "test_faketensor",
             "test_aot_dispatch_static", "test_aot_dispatch_dynamic")


class OpCheckError(Exception):
    """A test of ``opcheck`` failed (PyTorch's ``OpCheckError``)."""


class FakeImplCtx:
    """What ``get_ctx()`` returns inside a fake implementation run by ``opcheck``:
    ``new_dynamic_size()`` stands for a size known only from the data (the output of
    ``nonzero``, say); ``opcheck`` then compares the other sizes only."""

    def __init__(self):
        self.dynamic = False

    def new_dynamic_size(self, *, min=0, max=None):  # noqa: A002  (PyTorch's names)
        if min < 0:
            raise ValueError(f"new_dynamic_size: min must be >= 0, got {min}")
        self.dynamic = True
        return min

    create_unbacked_symint = new_dynamic_size


CTX = [None]


def _clone_tree(x):
    """The arguments with every tensor copied (requires_grad kept, history cut)."""
    if isinstance(x, Tensor):
        c = x.detach().clone()
        if x.requires_grad:
            c.requires_grad_(True)
        return c
    if isinstance(x, (list, tuple)):
        return type(x)(_clone_tree(v) for v in x)
    if isinstance(x, dict):
        return {k: _clone_tree(v) for k, v in x.items()}
    return copy.copy(x) if isinstance(x, (np.ndarray,)) else x


def _same_values(a, b):
    a, b = to_host(a.data), to_host(b.data)
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")


def _tensors(x):
    if isinstance(x, Tensor):
        return [x]
    if isinstance(x, (list, tuple)):
        return [t for v in x for t in _tensors(v)]
    return []


def _test_schema(entry, args, kwargs):
    a2, k2 = _clone_tree(args), _clone_tree(kwargs)
    before = _clone_tree((a2, k2))
    entry.handle(*a2, **k2)
    values = bind(entry.schema, entry.qualname, a2, k2)
    old = bind(entry.schema, entry.qualname, before[0], before[1])
    for a, v, o in zip(entry.schema.arguments, values, old):
        if a.type.mutable:
            continue
        for t, t0 in zip(_tensors(v), _tensors(o)):
            if not _same_values(t, t0):
                raise RuntimeError(f"Argument {a.name} is not defined as mutable but was "
                                   "mutated")


def _float_outputs(out):
    return [t for t in _tensors(out) if t.dtype.kind in "fc"]


def _test_autograd_registration(entry, args, kwargs):
    needs = any(t.requires_grad for t in _tensors((args, kwargs)))
    if not needs:
        return
    if entry.opdef is not None or entry.backward is not None or entry.implicit is not None \
            or entry.autograd_kernel is not None or entry.nondiff:
        return
    # a Library op without a formula: its kernel runs on the tape; PyTorch's check is that
    # the kernel's own operations did not record (they would differentiate silently, and
    # PyTorch wants that said with a CompositeImplicitAutograd registration)
    args, kwargs = _clone_tree(args), _clone_tree(kwargs)
    values = bind(entry.schema, entry.qualname, args, kwargs)
    leaves = _ops._input_leaves(entry.schema, values)
    kernel, _ = _ops._select(entry, _ops._device_type(entry.schema, values, leaves))
    inputs = {id(t) for t in _tensors((args, kwargs))}
    with enable_grad():
        out = _ops._run(entry, kernel, values, leaves)
    if any(t.requires_grad and id(t) not in inputs for t in _float_outputs(out)):
        raise AssertionError(
            f"{entry.qualname}: at least one output of this operator has requires_grad=True "
            "but the operator does not have an autograd kernel defined at an autograd key "
            "(e.g. DispatchKey::Autograd). Register a backward formula with "
            f"tensorgrad.library.register_autograd('{entry.qualname}', ...), or register the "
            "kernel as CompositeImplicitAutograd if it consists of tensorgrad operations.")


def _test_faketensor(entry, args, kwargs):
    if entry.fake is None:
        return  # tensorgrad never needs one: nothing to compare
    with no_grad():
        real = entry.handle(*_clone_tree(args), **_clone_tree(kwargs))
        ctx = FakeImplCtx()
        outer, CTX[0] = CTX[0], ctx
        try:
            fake = entry.fake(*_clone_tree(args), **_clone_tree(kwargs))
        finally:
            CTX[0] = outer
    real_t, fake_t = _tensors(real), _tensors(fake)
    if len(real_t) != len(fake_t):
        raise RuntimeError(f"{entry.qualname}: the fake implementation returned "
                           f"{len(fake_t)} tensor(s), the kernel {len(real_t)}")
    for k, (r, f) in enumerate(zip(real_t, fake_t)):
        shapes_differ = tuple(r.shape) != tuple(f.shape) if not ctx.dynamic else \
            r.ndim != f.ndim
        if shapes_differ or r.dtype != f.dtype or r.device != f.device:
            raise RuntimeError(
                f"{entry.qualname}: the fake implementation's output {k} is "
                f"{tuple(f.shape)} {f.dtype} on {f.device}, the kernel's is {tuple(r.shape)} "
                f"{r.dtype} on {r.device}; the fake (register_fake) must describe the "
                "kernel's outputs")


def _test_aot_dispatch(entry, args, kwargs, atol, rtol):
    from ..autograd.functional import autograd_grad
    from ..testing import gradcheck

    args, kwargs = _clone_tree(args), _clone_tree(kwargs)
    leaves = [t for t in _tensors((args, kwargs)) if t.requires_grad]
    if not leaves:
        out = entry.handle(*args, **kwargs)
        return
    out = entry.handle(*args, **kwargs)
    outs = [t for t in _float_outputs(out) if t.requires_grad]
    if not outs:
        return
    # the backward pass runs (custom_op's "no formula" error surfaces here, as in PyTorch)
    autograd_grad([o.sum() for o in outs], leaves, allow_unused=True)
    if not all(t.dtype == np.float64 for t in leaves):
        return

    def rebuild(x, it):
        if isinstance(x, Tensor) and x.requires_grad:
            return next(it)
        if isinstance(x, (list, tuple)):
            return type(x)(rebuild(v, it) for v in x)
        if isinstance(x, dict):
            return {k: rebuild(v, it) for k, v in x.items()}
        return x

    def on_leaves(*xs):
        a, k = rebuild((args, kwargs), iter(xs))
        return tuple(_float_outputs(entry.handle(*a, **k)))

    gradcheck(on_leaves, tuple(leaves), atol=1e-5 if atol is None else atol,
              rtol=1e-3 if rtol is None else rtol)


def run(entry, args, kwargs, test_utils, raise_exception, atol, rtol):
    kwargs = {} if kwargs is None else kwargs
    if isinstance(test_utils, str):
        test_utils = (test_utils,)
    if not set(test_utils) <= set(ALL_UTILS):
        raise ValueError(f"opcheck(op, ..., test_utils={test_utils}), expected test_utils to be "
                         f"subset of {ALL_UTILS} but it was not")
    tests = {
        "test_schema": lambda: _test_schema(entry, args, kwargs),
        "test_autograd_registration": lambda: _test_autograd_registration(entry, args, kwargs),
        "test_faketensor": lambda: _test_faketensor(entry, args, kwargs),
        "test_aot_dispatch_static": lambda: _test_aot_dispatch(entry, args, kwargs, atol, rtol),
        "test_aot_dispatch_dynamic": lambda: _test_aot_dispatch(entry, args, kwargs, atol,
                                                                rtol),
    }
    results = {}
    for name in test_utils:
        try:
            tests[name]()
        except Exception as e:
            if raise_exception:
                raise OpCheckError(f"opcheck(op, ...): {name} failed with {e} (scroll up for "
                                   "stack trace)") from e
            results[name] = e
            continue
        results[name] = "SUCCESS"
    return results
