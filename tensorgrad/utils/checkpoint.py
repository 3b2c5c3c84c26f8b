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

import contextlib
import copy
import threading

from ..autograd import function as _fn
from ..autograd.grad_mode import _state
from ..autograd.graph import Node, _next_seq, run_backward
from ..autograd.tree import flatten
from ..tensor import Tensor, _new_tensor

__all__ = ["checkpoint", "checkpoint_sequential"]


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
            with rng, _amp()._replay(ctx.amp), ctx.recompute_context:
                out = ctx.function(*ctx.args, **ctx.kwargs)
        finally:
            _state.enabled = create_graph
        leaves, _ = flatten(out)
        if ctx.check:
            _check_same(ctx, leaves)
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


def _check_same(ctx, leaves):
    got = [(tuple(o.shape), o.dtype) if isinstance(o, Tensor) else None for o in leaves]
    if got != ctx.out_meta:
        raise RuntimeError(
            f"checkpoint: recomputing {ctx.name} gave outputs {got}, but the first run gave "
            f"{ctx.out_meta}; the function must compute the same thing again (pass "
            "determinism_check='none' to skip this check)")


def _name(f):
    return getattr(f, "__qualname__", None) or type(f).__name__


def checkpoint(function, *args, use_reentrant=None, context_fn=None, determinism_check="default",
               debug=False, preserve_rng_state=True, **kwargs):
    """PyTorch's ``torch.utils.checkpoint.checkpoint``: ``function(*args, **kwargs)`` without
    keeping its intermediate activations; backward computes them again. The gradients of the
    arguments and of every parameter ``function`` uses are those of the plain call.

    ``use_reentrant`` is accepted for PyTorch's signature; both values give PyTorch's
    non-reentrant behaviour (parameters get gradients even when no argument requires grad).
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
    rng = _rng_snapshot() if preserve_rng_state else None
    amp = _amp()._snapshot()
    start = _next_seq()
    with fwd_context:
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
