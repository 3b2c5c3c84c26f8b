"""``tensorgrad.utils.checkpoint``: PyTorch's activation checkpointing (``checkpoint``,
``checkpoint_sequential``), with PyTorch's non-reentrant behaviour.

``checkpoint(fn, *args)`` runs ``fn`` once recording as usual, then keeps of that recording only
its boundary: the vertices from outside ``fn`` that it reached (its tensor arguments, the
parameters it used through closures or attributes, any outer tensor it read). The recorded
inner graph, with every activation it saved, is dropped at once; the outputs hang on one
autograd.Function node whose parents are those boundary vertices. In backward that node runs
``fn`` again on the same arguments (the random generators put back to their state at the first
run when ``preserve_rng_state``, so dropout draws the same mask) and takes the gradients of the
boundary vertices from the recomputed graph. Parameters therefore get their gradients even when
no argument requires grad, ``tg.autograd.grad`` works through it, and so does
``create_graph=True`` (the recomputation is then recorded on the outer graph).

The autograd-style ``tg.checkpoint(fun)`` (a function transform on arrays) is a different API
and is unchanged.

>>> import tensorgrad as tg
>>> from tensorgrad.utils.checkpoint import checkpoint
>>> lin = tg.nn.Linear(3, 3)
>>> x = tg.ones(2, 3)
>>> checkpoint(lin, x).sum().backward()
>>> lin.weight.grad.shape
(3, 3)
"""

import collections
import contextlib
import copy
import enum
import threading
import warnings

from ..autograd import function as _fn
from ..autograd.grad_mode import _state
from ..autograd.graph import Node, _next_seq, run_backward
from ..autograd.tree import flatten
from ..tensor import Tensor, _new_tensor

__all__ = ["checkpoint", "checkpoint_sequential", "CheckpointError", "CheckpointFunction",
           "CheckpointPolicy", "DefaultDeviceType", "SelectiveCheckpointContext",
           "check_backward_validity", "create_selective_checkpoint_contexts", "detach_variable",
           "get_device_states", "noop_context_fn", "set_checkpoint_debug_enabled",
           "set_checkpoint_early_stop", "set_device_states"]


class CheckpointError(RuntimeError):
    """Raised when the recomputation of a checkpointed function differs from its first run."""


_DEBUG = [None]  # set_checkpoint_debug_enabled's override of ``debug`` (None: the argument's)
_EARLY_STOP = [True]


# ---- the random generators' states --------------------------------------------------------
def _copy_generator(gen):
    """An independent generator in ``gen``'s current state. CuPy's cuRAND generators keep
    their state in a device array and a lock (which cannot be deep-copied): the array is copied
    on its device; anything else (NumPy's generators) is deep-copied."""
    bg = getattr(gen, "bit_generator", None)
    state = getattr(bg, "_state", None)
    if state is not None and hasattr(state, "device") and hasattr(bg, "lock"):
        new_bg = copy.copy(bg)
        with state.device:
            new_bg._state = state.copy()
        new_bg.lock = threading.Lock()
        new = copy.copy(gen)
        new.bit_generator = new_bg
        return new
    return copy.deepcopy(gen)


def _rng_snapshot():
    from ..creation import _rng

    return {k: v if k == "seed" else _copy_generator(v) for k, v in _rng.items()}


@contextlib.contextmanager
def _rng_restored(snapshot):
    """The generators as they were at ``snapshot`` inside the block (copies, so that the
    snapshot serves again), the current ones after it. A cuda generator made lazily during
    the first run is absent from the snapshot: it is made again from the same seed."""
    from ..creation import _rng

    current = dict(_rng)
    _rng.clear()
    _rng.update({k: v if k == "seed" else _copy_generator(v) for k, v in snapshot.items()})
    try:
        yield
    finally:
        _rng.clear()
        _rng.update(current)


# ---- the boundary of a recorded region ------------------------------------------------------
def _boundary(outs, start):
    """{vertex: meta} of the vertices made before ``start`` (a node sequence number) or leaves,
    that the nodes made since and behind ``outs`` read; iteratively, no recursion."""
    found = {}
    stack = []
    seen = set()
    for o in outs:
        if isinstance(o, Tensor) and o._rg:
            v = o._node or o
            if type(v) is Node and v.seq > start:
                stack.append(v)
            else:
                found.setdefault(v, _fn._Meta.of(o))
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        for p, a in zip(n.parents, n.args):
            if p is None:
                continue
            if type(p) is Node and p.seq > start:
                stack.append(p)
            elif p not in found:
                found[p] = _fn._Meta.of(p if type(p) is not Node else a)
    return found


class CheckpointFunction(_fn.Function):
    """The node of a checkpointed region: backward recomputes the region and differentiates
    it toward the region's boundary."""

    @staticmethod
    def backward(ctx, *grad_outputs):
        for t, version in ctx.versions:
            if t._vc[0] != version:
                raise RuntimeError(
                    f"checkpoint: an argument of {ctx.name} (shape {tuple(t.shape)}) was modified "
                    "in place after the checkpointed call, so the recomputation would differ; "
                    "use an out-of-place op, or clone() the argument")
        create_graph = _state.enabled
        rng = _rng_restored(ctx.rng) if ctx.rng is not None else contextlib.nullcontext()
        _state.enabled = True
        try:
            ops = [] if ctx.fwd_ops is not None else None
            with rng, _amp()._replay(ctx.amp), ctx.recompute_context, _recording(ops):
                out = ctx.function(*ctx.args, **ctx.kwargs)
        finally:
            _state.enabled = create_graph
        leaves, _ = flatten(out)
        if ctx.check:
            _check_same(ctx, leaves, ops)
        roots, seeds = [], []
        for o, g in zip(leaves, grad_outputs):
            if isinstance(o, Tensor) and o._rg and g is not None:
                roots.append(o._node or o)
                seeds.append(g if create_graph else g.data)
        del out, leaves
        targets = ctx.targets
        # the boundary's own hooks run once, in the outer pass that gets these gradients
        hooked = [(n, n.hooks, n.retain) for n in targets if type(n) is Node and
                  (n.hooks is not None or n.retain is not None)]
        for n, _, _ in hooked:
            n.hooks = n.retain = None
        try:
            res = run_backward(roots, seeds, retain_graph=create_graph,
                               create_graph=create_graph, targets=targets, prune=True)
        finally:
            for n, hooks, retain in hooked:
                n.hooks, n.retain = hooks, retain
        return tuple(res)


def _amp():
    from ..amp import autocast_mode  # imported on use: tensorgrad.amp imports the ops

    return autocast_mode


def _check_same(ctx, leaves, ops=None):
    got = [(tuple(o.shape), o.dtype) if isinstance(o, Tensor) else None for o in leaves]
    if got != ctx.out_meta:
        trace = ""
        if ops is not None:
            trace = (f"\nprimitives of the first run: {ctx.fwd_ops}\nprimitives of the "
                     f"recomputation: {ops}")
        else:
            trace = " (debug=True lists the primitives each run called)"
        raise CheckpointError(
            f"checkpoint: recomputing {ctx.name} gave outputs {got}, but the first run gave "
            f"{ctx.out_meta}; the function must compute the same thing again (pass "
            f"determinism_check='none' to skip this check){trace}")


def _name(f):
    return getattr(f, "__qualname__", None) or type(f).__name__


def checkpoint(function, *args, use_reentrant=None, context_fn=None, determinism_check="default",
               debug=False, preserve_rng_state=True, **kwargs):
    """PyTorch's ``torch.utils.checkpoint.checkpoint``: ``function(*args, **kwargs)`` without
    keeping its intermediate activations; backward computes them again. The gradients of the
    arguments and of every parameter ``function`` uses are those of the plain call.

    ``use_reentrant`` is accepted for PyTorch's signature; both values give PyTorch's
    non-reentrant behaviour (parameters get gradients even when no argument requires grad;
    PyTorch's reentrant variant would leave them None there and refuse ``autograd.grad``, so
    where it works its gradients are these). The recomputation always runs the whole function
    (``set_checkpoint_early_stop`` is accepted and changes nothing): backward starts from the
    recomputed outputs. ``debug=True`` (or ``set_checkpoint_debug_enabled(True)``) lists the
    primitives of both runs in the ``CheckpointError`` of a failed determinism check.
    ``context_fn=partial(create_selective_checkpoint_contexts, policy)`` keeps the answers
    of the primitives the policy saves instead of recomputing them.
    ``preserve_rng_state``: the recomputation draws the same random numbers (dropout masks) on
    the CPU and cuda generators. ``context_fn`` returns two context managers, for the first run
    and for the recomputation. ``determinism_check="default"`` checks that the recomputation
    gives outputs of the same shapes and dtypes; ``"none"`` skips it.

    >>> import tensorgrad as tg
    >>> from tensorgrad.utils.checkpoint import checkpoint
    >>> x = tg.tensor([1.0, 2.0], requires_grad=True)
    >>> checkpoint(lambda t: (t.exp() * t).sum(), x).backward()
    >>> [round(v, 4) for v in x.grad.tolist()]
    [5.4366, 22.1672]
    """
    if use_reentrant not in (None, True, False):
        raise TypeError(f"checkpoint: use_reentrant must be None, True or False, got "
                        f"{use_reentrant!r}")
    if determinism_check not in ("default", "none"):
        raise ValueError(f"checkpoint: determinism_check must be 'default' or 'none', got "
                         f"{determinism_check!r}")
    if not _state.enabled:  # nothing is recorded: nothing to save or recompute
        return function(*args, **kwargs)
    fwd_context, recompute_context = context_fn() if context_fn is not None else (
        contextlib.nullcontext(), contextlib.nullcontext())
    if _DEBUG[0] is not None:
        debug = _DEBUG[0]
    fwd_ops = [] if debug else None
    rng = _rng_snapshot() if preserve_rng_state else None
    amp = _amp()._snapshot()
    start = _next_seq()
    with fwd_context, _recording(fwd_ops):
        out = function(*args, **kwargs)
    leaves, rebuild = flatten(out)
    found = _boundary(leaves, start)
    if not found:
        return out  # nothing that needs a gradient was used
    targets = list(found)
    ctx = _fn.FunctionCtx(CheckpointFunction, tuple(True for _ in targets))
    ctx.function, ctx.args, ctx.kwargs = function, args, kwargs
    ctx.name = _name(function)
    ctx.rng = rng
    ctx.amp = amp
    ctx.recompute_context = recompute_context
    ctx.check = determinism_check == "default"
    ctx.fwd_ops = fwd_ops
    ctx.early_stop = _EARLY_STOP[0]  # recorded only: the whole function is always recomputed
    ctx.targets = targets
    tensors = [a for a in (*args, *kwargs.values()) if isinstance(a, Tensor)]
    ctx.versions = [(t, t._vc[0]) for t in tensors]
    ctx.out_meta = [(tuple(o.shape), o.dtype) if isinstance(o, Tensor) else None
                    for o in leaves]
    # the outputs: the same arrays, off the inner graph (which goes now, with its activations);
    # one that needed no gradient stays out of the node
    outs = []
    for o in leaves:
        if isinstance(o, Tensor):
            t = _new_tensor(o.data, None, False)
            if not o._rg:
                ctx.mark_non_differentiable(t)
            o = t
        outs.append(o)
    del out, leaves
    outs = _fn.record(ctx, CheckpointFunction, targets, [found[v] for v in targets],
                      tuple(True for _ in targets), outs)
    return rebuild(outs)


def checkpoint_sequential(functions, segments, input, use_reentrant=None, **kwargs):
    """PyTorch's ``checkpoint_sequential``: run ``functions`` (a ``Sequential`` or a list of
    modules/callables) one after another on ``input``, in ``segments`` chunks; every chunk but
    the last is checkpointed. ``kwargs`` (``preserve_rng_state``, ...) go to ``checkpoint``.

    >>> import tensorgrad as tg
    >>> from tensorgrad.utils.checkpoint import checkpoint_sequential
    >>> net = tg.nn.Sequential(tg.nn.Linear(4, 4), tg.nn.Tanh(), tg.nn.Linear(4, 1))
    >>> checkpoint_sequential(net, 2, tg.ones(3, 4)).shape
    (3, 1)
    """
    if hasattr(functions, "children") and callable(functions.children):
        functions = list(functions.children())
    else:
        functions = list(functions)
    n = len(functions)
    if not isinstance(segments, int) or not 1 <= segments:
        raise ValueError(f"checkpoint_sequential: segments must be a positive int, got "
                         f"{segments!r}")

    def run(start, end):
        def forward(x):
            for j in range(start, end + 1):
                x = functions[j](x)
            return x

        forward.__qualname__ = f"checkpoint_sequential[{start}:{end + 1}]"
        return forward

    size = n // segments
    end = -1
    for start in range(0, size * (segments - 1), size) if size else ():
        end = start + size - 1
        input = checkpoint(run(start, end), input, use_reentrant=use_reentrant, **kwargs)
    return run(end + 1, n - 1)(input)


# ---- PyTorch's helpers -------------------------------------------------------------------------
def noop_context_fn():
    """The default ``context_fn``: two contexts that do nothing."""
    return contextlib.nullcontext(), contextlib.nullcontext()


def detach_variable(inputs):
    """PyTorch's ``detach_variable``: a tuple of ``inputs`` with each Tensor detached and given
    its original ``requires_grad``; anything else passes through.

    >>> import tensorgrad as tg
    >>> from tensorgrad.utils.checkpoint import detach_variable
    >>> a, b = detach_variable((tg.ones(2, requires_grad=True) * 2, 3))
    >>> a.is_leaf, a.requires_grad, b
    (True, True, 3)
    """
    if not isinstance(inputs, tuple):
        raise RuntimeError(f"detach_variable: only tuple of tensors is supported, got "
                           f"{type(inputs).__name__}")
    out = []
    for inp in inputs:
        if isinstance(inp, Tensor):
            inp = inp.detach().requires_grad_(inp.requires_grad)
        out.append(inp)
    return tuple(out)


def check_backward_validity(inputs):
    """Warn, as PyTorch does, when no Tensor among ``inputs`` requires grad."""
    if not any(inp.requires_grad for inp in inputs if isinstance(inp, Tensor)):
        warnings.warn("None of the inputs have requires_grad=True. Gradients will be None",
                      stacklevel=2)


class DefaultDeviceType:
    """The device type whose generator state ``get_device_states``/``set_device_states`` deal
    with: ``"cuda"`` (the only accelerator tensorgrad has)."""

    _default_device_type = "cuda"

    @staticmethod
    def set_device_type(device="cuda"):
        if device != "cuda":
            raise ValueError(f"DefaultDeviceType.set_device_type: tensorgrad's only accelerator "
                             f"is 'cuda', got {device!r}")
        DefaultDeviceType._default_device_type = device

    @staticmethod
    def get_device_type():
        return DefaultDeviceType._default_device_type


def get_device_states(*args):
    """``(device indices, generator states)`` of the cuda devices that the Tensors among
    ``args`` live on, in order of first appearance (states from ``tg.cuda.get_rng_state``);
    CPU Tensors and other values are ignored.

    >>> import tensorgrad as tg
    >>> from tensorgrad.utils.checkpoint import get_device_states
    >>> get_device_states(tg.ones(2), 3)
    ([], [])
    """
    from .. import cuda

    devices = []
    for a in args:
        if isinstance(a, Tensor) and a.device.type == "cuda":
            index = a.device.index or 0
            if index not in devices:
                devices.append(index)
    return devices, [cuda.get_rng_state(i) for i in devices]


def set_device_states(devices, states, *, device_type=None):
    """Put back the cuda generator states from ``get_device_states``."""
    from .. import cuda

    device_type = device_type or DefaultDeviceType.get_device_type()
    if device_type != "cuda":
        raise ValueError(f"set_device_states: device_type must be 'cuda', got {device_type!r}")
    if len(devices) != len(states):
        raise ValueError(f"set_device_states: {len(devices)} devices but {len(states)} states")
    for index, state in zip(devices, states):
        cuda.set_rng_state(state, index)


@contextlib.contextmanager
def set_checkpoint_early_stop(enable):
    """PyTorch's context manager; accepted, with nothing to change: PyTorch stops a
    recomputation once it has the saved values it needs, while here backward starts from the
    recomputed outputs, so the whole function is always recomputed."""
    old = _EARLY_STOP[0]
    _EARLY_STOP[0] = bool(enable)
    try:
        yield
    finally:
        _EARLY_STOP[0] = old


@contextlib.contextmanager
def set_checkpoint_debug_enabled(enabled):
    """Inside the block, ``debug`` of every ``checkpoint`` call is ``enabled`` (None: each
    call's own argument)."""
    old = _DEBUG[0]
    _DEBUG[0] = enabled
    try:
        yield
    finally:
        _DEBUG[0] = old


# ---- watching the primitives a region runs -------------------------------------------------
def _run_plain(p, args, raw, kw):
    return p.fwd(*raw, **kw)


@contextlib.contextmanager
def _intercepting(handler):
    """Every primitive applied to Tensors in the block runs through ``handler(run, p, args,
    raw, kw)``, where ``run`` is the handler outside (so regions nest)."""
    from ..ops import registry

    outer = registry.INTERCEPT[0] or _run_plain
    registry.INTERCEPT[0] = lambda p, args, raw, kw: handler(outer, p, args, raw, kw)
    try:
        yield
    finally:
        registry.INTERCEPT[0] = None if outer is _run_plain else outer


def _recording(ops):
    """Append the name of each primitive run in the block to ``ops`` (None: do nothing)."""
    if ops is None:
        return contextlib.nullcontext()

    def record(run, p, args, raw, kw):
        ops.append(p.name)
        return run(p, args, raw, kw)

    return _intercepting(record)


# ---- selective activation checkpointing ------------------------------------------------------
class CheckpointPolicy(enum.Enum):
    """What selective checkpointing does with a primitive's answer: ``MUST_SAVE`` and
    ``PREFER_SAVE`` keep the first run's answer for the recomputation (the primitive is not
    run again); ``MUST_RECOMPUTE`` and ``PREFER_RECOMPUTE`` run it again. tensorgrad has no
    compiler to override the ``PREFER_`` ones, so each acts as its ``MUST_`` twin."""

    MUST_SAVE = 0
    PREFER_SAVE = 1
    MUST_RECOMPUTE = 2
    PREFER_RECOMPUTE = 3


_SAVE = (CheckpointPolicy.MUST_SAVE, CheckpointPolicy.PREFER_SAVE)


class SelectiveCheckpointContext:
    """The first argument of a policy function: ``is_recompute`` tells the first run (False)
    from the recomputation (True)."""

    def __init__(self, *, is_recompute):
        self.is_recompute = is_recompute


def _op_name(op):
    from ..ops.registry import Primitive

    if isinstance(op, str):
        return op
    if isinstance(op, Primitive):
        return op.name
    prim = getattr(op, "prim", None)
    if isinstance(prim, Primitive):
        return prim.name
    name = getattr(op, "__name__", None)
    if name is None:
        raise ValueError(f"create_selective_checkpoint_contexts: expected a list of "
                         f"primitives, tensorgrad functions or primitive names, got {op!r}")
    return name


class _SelectiveRun:
    """One context of a selective-checkpoint pair; the pair shares ``store``."""

    def __init__(self, policy_fn, store, is_recompute):
        self.policy_fn = policy_fn
        self.store = store
        self.is_recompute = is_recompute
        self._cm = None

    def _policy(self, p, args, kw):
        policy = self.policy_fn(SelectiveCheckpointContext(is_recompute=self.is_recompute), p,
                                *args, **kw)
        if isinstance(policy, bool):  # PyTorch's older convention
            policy = CheckpointPolicy.MUST_SAVE if policy else CheckpointPolicy.PREFER_RECOMPUTE
        if not isinstance(policy, CheckpointPolicy):
            raise TypeError(f"selective checkpoint: the policy function returned {policy!r} "
                            f"for primitive {p.name}; expected a CheckpointPolicy")
        return policy in _SAVE

    def _handle(self, run, p, args, raw, kw):
        count = self.counts[p.name]
        self.counts[p.name] = count + 1
        key = (p.name, count)
        save = self._policy(p, args, kw)
        if self.is_recompute:
            if save and key in self.store:
                return self.store[key]
            return run(p, args, raw, kw)
        out = run(p, args, raw, kw)
        if save:
            self.store[key] = out  # the array itself: kept alive, not copied
        return out

    def __enter__(self):
        self.counts = collections.Counter()
        if not self.is_recompute:
            self.store.clear()
        self._cm = _intercepting(self._handle)
        return self._cm.__enter__()

    def __exit__(self, *exc):
        cm, self._cm = self._cm, None
        return cm.__exit__(*exc)


def create_selective_checkpoint_contexts(policy_fn_or_list, allow_cache_entry_mutation=False):
    """PyTorch's selective activation checkpointing: the two contexts for
    ``checkpoint(fn, ..., context_fn=functools.partial(create_selective_checkpoint_contexts,
    policy))``. The primitives whose policy says save keep their answers from the first run,
    and the recomputation takes those instead of running them again (at the cost of holding
    them between forward and backward).

    ``policy_fn_or_list``: a function ``policy(ctx, op, *args, **kwargs)`` returning a
    ``CheckpointPolicy`` (or a bool: True is ``MUST_SAVE``), called for each primitive applied
    to Tensors in the function, in both runs; ``op`` is tensorgrad's ``Primitive`` (where
    PyTorch passes an aten op), whose ``op.name`` is the primitive's name ("matmul", "exp",
    "add", ...), and ``args`` are the primitive's arguments. Or a list of the ops to save:
    primitives, tensorgrad functions (``tg.matmul``, ``tg.exp``: matched by the primitive of
    that name) or names. The policy must decide the same way in both runs. A saved answer is
    the array itself: the function must not modify it in place
    (``allow_cache_entry_mutation`` is accepted for PyTorch's signature).

    >>> import functools, tensorgrad as tg
    >>> from tensorgrad.utils.checkpoint import checkpoint, create_selective_checkpoint_contexts
    >>> x = tg.ones(2, 2, requires_grad=True)
    >>> ctx_fn = functools.partial(create_selective_checkpoint_contexts, [tg.matmul])
    >>> checkpoint(lambda a: (a @ a).tanh().sum(), x, context_fn=ctx_fn).backward()
    >>> x.grad.shape
    (2, 2)
    """
    if isinstance(policy_fn_or_list, (list, tuple)):
        names = {_op_name(op) for op in policy_fn_or_list}

        def policy_fn(ctx, op, *args, **kwargs):
            return (CheckpointPolicy.MUST_SAVE if op.name in names
                    else CheckpointPolicy.PREFER_RECOMPUTE)
    elif callable(policy_fn_or_list):
        policy_fn = policy_fn_or_list
    else:
        raise TypeError(f"create_selective_checkpoint_contexts: policy_fn_or_list must be a "
                        f"function or a list of ops, got {type(policy_fn_or_list).__name__}")
    store = {}
    return _SelectiveRun(policy_fn, store, False), _SelectiveRun(policy_fn, store, True)
