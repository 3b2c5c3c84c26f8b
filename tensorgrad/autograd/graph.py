"""The tape: one Node per recorded op, and the reverse pass over it.

A vertex of the graph is either a Node (the op that made a non-leaf tensor) or a leaf Tensor
that requires grad. Nodes keep raw arrays (never their output Tensor), so a graph is freed by
reference counting alone, without the cyclic collector.
"""

import heapq
import itertools
import weakref
from typing import NamedTuple

from ..backend.device import xp_of
from .grad_mode import _state
from .row_grad import RowGrad, densified, sum_with_rows

# Bumped by every in-place write to a tensor (its own counter is bumped too).
_EPOCH = [0]
# nodes recorded inside allow_mutation_on_saved_tensors (their saved values are copies)
_MUTABLE_SAVED = weakref.WeakSet()
_next_seq = itertools.count().__next__


def bump_version(vc):
    vc[0] += 1
    _EPOCH[0] += 1


def _versions_changed(vcs):
    for i in range(0, len(vcs), 2):
        if vcs[i][0] != vcs[i + 1]:
            return True
    return False


class Node:
    """One recorded application of a primitive.

    ``parents[i]`` is the vertex of argument ``i`` (None when it needs no gradient); ``args`` are
    the raw arguments, ``ans`` the raw answer. ``vcs`` is None when the rules read no saved value,
    else the flat tuple (counter, version, counter, version, ...) of the tensors they read;
    ``epoch`` is the global count of in-place writes when the node was made, so that backward
    looks at the counters only if some in-place write happened since. ``out_vc`` is the
    (counter, version) of the answer's tensor, or None: an answer written in place since is
    handed to the rules as a stand-in that raises only if a rule reads it (exp's does,
    multiply's does not), as PyTorch does for the outputs it saves.
    """

    __slots__ = ("prim", "parents", "args", "kw", "ans", "vcs", "epoch", "hooks", "retain",
                 "out_vc", "seq", "stack", "__weakref__")  # stack: set in anomaly mode only

    def __init__(self, prim, parents, args, kw, ans, vcs, epoch, out_vc=None):
        self.seq = _next_seq()  # creation order: a node comes after all of its parents
        self.prim = prim
        self.parents = parents
        self.args = args
        self.kw = kw
        self.ans = ans
        self.vcs = vcs
        self.epoch = epoch
        self.hooks = None
        self.retain = None
        self.out_vc = out_vc

    def name(self):
        return self.prim.name

    def __repr__(self):
        return f"<{self.prim.name}Backward>"

    def register_prehook(self, fn):
        """PyTorch's ``Node.register_prehook``: ``fn(grad_outputs)`` (a tuple) runs before
        this node's backward; a tuple it returns replaces ``grad_outputs``. Returns a handle
        whose ``remove()`` takes it away."""
        from .graph_hooks import node_prehook

        return node_prehook(self, fn)

    def register_hook(self, fn):
        """PyTorch's ``Node.register_hook``: ``fn(grad_inputs, grad_outputs)`` runs after
        this node's backward (``grad_inputs``: one gradient per input, None where it needs
        none); a tuple it returns replaces ``grad_inputs``. Returns a handle whose
        ``remove()`` takes it away."""
        from .graph_hooks import node_posthook

        return node_posthook(self, fn)


class _Packed:
    """What a node recorded inside ``saved_tensors_hooks`` keeps as its ``args`` (its ``ans``
    is None then): each saved array as the pack hook's result (a ``_Saved``), and the unpack
    hook, which ``open`` calls when the backward pass (or a forward sweep) uses the node. Such
    a node's ``epoch`` is -1, so ``run_backward`` looks at it in the branch it already takes
    after in-place writes: ordinary nodes pay nothing for this."""

    __slots__ = ("args", "ans", "unpack")

    def __init__(self, args, ans, unpack):
        self.args, self.ans, self.unpack = args, ans, unpack

    def open(self, with_ans=True):
        """The saved (args, ans), unpacked; ``ans`` stays packed unless ``with_ans``."""
        args = tuple(a.open(self.unpack) if type(a) is _Saved else a for a in self.args)
        ans = self.ans
        if with_ans and type(ans) is _Saved:
            ans = ans.open(self.unpack)
        return args, ans

    def held(self):
        """What the node holds now (the pack hooks' results), for to_dot's byte counts."""
        return [a.value if type(a) is _Saved else a for a in (*self.args, self.ans)]

    def __iter__(self):  # a walk over a node's args (checkpoint's) sees the saved values
        return iter(self.open(with_ans=False)[0])


class _Saved:
    """One array packed by a saved-tensor pack hook: the hook's result and the shape the
    unpacked value must have."""

    __slots__ = ("value", "shape")

    def __init__(self, value, shape):
        self.value, self.shape = value, shape

    def open(self, unpack):
        Tensor = _tensor_names()[0]
        r = unpack(self.value)
        arr = r.data if isinstance(r, Tensor) else r
        if getattr(arr, "shape", None) != self.shape or not hasattr(arr, "dtype"):
            got = f"shape {tuple(arr.shape)}" if hasattr(arr, "shape") else type(r).__name__
            raise RuntimeError(f"saved_tensors_hooks: the unpack hook returned {got} for a "
                               f"saved tensor of shape {tuple(self.shape)}; it must return the "
                               "tensor that was packed (same shape)")
        return arr


def saved_values(n):
    """(args, ans) of node ``n`` as its rules read them: unpacked if saved-tensor hooks packed
    them."""
    args = n.args
    if type(args) is _Packed:
        return args.open()
    return args, n.ans


def _freed(node):
    return RuntimeError(
        f"backward: the graph through '{node.prim.name}' was already freed by an earlier "
        "backward(); pass retain_graph=True to the first backward() to go through it again"
    )


def _modified(node):
    return RuntimeError(
        f"backward: a tensor saved by '{node.prim.name}' for the backward pass was modified in "
        "place after it was saved; use an out-of-place op (x = x + y, or x.clone()) instead"
    )


class _Overwritten:
    """The saved answer of ``node`` after an in-place write to it: any use raises."""

    __slots__ = ("node",)

    def __init__(self, node):
        self.node = node

    def _fail(self, *args, **kwargs):
        raise _modified(self.node)

    def __getattr__(self, name):
        raise _modified(self.node)

    __array_ufunc__ = __array_function__ = __array__ = __getitem__ = __len__ = __iter__ = _fail
    __bool__ = __float__ = __int__ = __index__ = __neg__ = __pos__ = __abs__ = _fail
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _fail
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _fail
    __truediv__ = __rtruediv__ = __pow__ = __rpow__ = __matmul__ = __rmatmul__ = _fail
    __hash__ = object.__hash__


def rule_error(kind, prim, i, r, shape, dtype):
    """The error for a rule whose result cannot be the cotangent of argument ``i`` (VJP; it
    must sum back to the argument's ``shape``) or a tangent of the answer (JVP; it must
    broadcast to the answer's ``shape``)."""
    got = (f"shape {tuple(r.shape)} and dtype {r.dtype}" if hasattr(r, "shape")
           and hasattr(r, "dtype") else f"a {type(r).__name__}")
    whose = "the argument has" if kind == "VJP" else "the answer has"
    return TypeError(
        f"{kind} of '{prim.name}' for argument {i} returned {got}, but {whose} shape "
        f"{tuple(shape)} and dtype {dtype}; a {kind} rule must return one array (or Tensor) of "
        f"that shape (or one that broadcasts to it) with a numeric dtype"
    )


def _sums_to(big, small):
    lead = len(big) - len(small)
    return lead >= 0 and all(n == 1 or big[lead + k] == n for k, n in enumerate(small))


def check_rule_result(kind, prim, i, r, shape, dtype):
    """Raise a clear error when a rule's result cannot stand for a cotangent (VJP) or tangent
    (JVP) of ``shape``: not an array, a non-numeric dtype, or a shape that does not broadcast.
    Called only when the result does not already fit, so correct rules pay nothing."""
    if not (hasattr(r, "shape") and hasattr(r, "dtype")) or r.dtype.kind not in "fciub":
        raise rule_error(kind, prim, i, r, shape, dtype)
    rs = tuple(r.shape)
    ok = _sums_to(rs, tuple(shape)) if kind == "VJP" else _sums_to(tuple(shape), rs)
    if not ok:
        raise rule_error(kind, prim, i, r, shape, dtype)


def unbroadcast(g, arg):
    """Sum a cotangent back to the shape of ``arg`` and give it ``arg``'s dtype."""
    shape = arg.shape if hasattr(arg, "shape") else ()
    gshape = g.shape
    if gshape != shape:
        lead = len(gshape) - len(shape)
        inner = [lead + i for i, n in enumerate(shape) if n == 1 and gshape[lead + i] != 1]
        if inner:
            g = g.sum(axis=tuple(range(lead)) + tuple(inner), keepdims=True)
            g = g.reshape(shape)
        elif lead:
            g = g.sum(axis=tuple(range(lead)) if lead > 1 else 0)  # already of shape ``shape``
        else:
            g = g.reshape(shape)
    dtype = getattr(arg, "dtype", None)
    if dtype is not None and g.dtype != dtype:
        if g.dtype.kind == "c" and dtype.kind != "c":
            g = g.real
        g = g.astype(dtype)
    return g


def run_backward(roots, seeds, retain_graph=False, create_graph=False, targets=None,
                 prune=False):
    """Walk the graph from ``roots`` (vertices) with cotangents ``seeds``.

    With ``targets`` (a list of vertices) the gradients of those are returned in order and no
    ``.grad`` changes (nor is any leaf's gradient computed but the targets': for
    ``grad(loss, input)`` no weight gradient); without, gradients accumulate into the ``.grad``
    of leaves. ``prune``
    stops the walk at the targets (the function transforms' variables, which never depend on
    one another): what lies behind them belongs to an outer computation, and only the nodes
    from which a target can be reached are visited.
    """
    stop = set(targets) if prune else ()
    Tensor, _lift, hooked = _tensor_names()[:3]
    target_set = set(targets) if targets is not None else ()
    needed = _toward(roots, target_set, stop) if prune else None

    # Nodes are taken latest-made first: every consumer of a node was made after it, so by the
    # time a node comes off the heap all the gradient it will get has arrived. No counting pass
    # over the graph is needed, and the walk is iterative (no recursion limit).
    grads = {}
    private = set()  # vertices whose accumulated buffer we allocated ourselves
    heap = []
    for r, sd in zip(roots, seeds):
        old = grads.get(r)
        if old is None:
            grads[r] = sd
            if type(r) is Node:
                heapq.heappush(heap, (-r.seq, r))
        else:
            grads[r] = old + sd
    captured = {}
    handed = {id(sd) for sd in seeds}  # buffers a .grad must not share with another
    # leaves with post-accumulate-grad hooks get their .grad as soon as their last contribution
    # is in, while the pass goes on (DistributedDataParallel overlaps its all-reduce with it)
    early = _hooked_leaf_edges(roots) if targets is None and hooked else None
    epoch = _EPOCH[0]
    push = heapq.heappush
    pop = heapq.heappop

    prev_mode = _state.enabled
    anomaly = _state.anomaly
    slice_prim = _slice_prim()
    slice_ok = not create_graph and not anomaly
    _state.enabled = create_graph
    _state.backward += 1  # as in PyTorch, autocast does not apply to the rules
    # while a multi-grad hook exists it learns which vertices this pass runs (graph_hooks)
    outer = _PASS[0]
    if MULTI_GRAD_HOOKS[0]:
        _PASS[0] = _Pass(roots, targets, needed, stop)
    try:
        while heap:
            n = pop(heap)[1]
            g = grads.pop(n)
            if n.hooks is not None or n.retain is not None:
                g = _node_hooks(n, g, Tensor)
            if n in target_set:
                captured[n] = g
                if n in stop:
                    continue
            args = raw_args = n.args
            if args is None:
                raise _freed(n)
            ans = n.ans
            if n.epoch != epoch:  # some in-place write happened since this node was made
                # (nodes recorded in allow_mutation_on_saved_tensors kept copies: no check)
                mutable = _MUTABLE_SAVED and n in _MUTABLE_SAVED
                if n.vcs is not None and not mutable and _versions_changed(n.vcs):
                    raise _modified(n)
                ov = n.out_vc
                if ov is not None and not mutable and ov[0][0] != ov[1]:
                    ans = _Overwritten(n)
                if type(args) is _Packed:  # recorded inside saved_tensors_hooks: unpack now
                    args, a = args.open(with_ans=type(ans) is not _Overwritten)
                    raw_args = args
                    if type(ans) is not _Overwritten:
                        ans = a
            if create_graph:
                # Rules see Tensors tied to the graph, so the pass records itself.
                if not isinstance(g, Tensor):
                    g = Tensor._wrap(g)
                if type(ans) is not _Overwritten:
                    ans = Tensor._wrap(ans, n)
                args = tuple(a if p is None else _lift(a, p) for a, p in zip(args, n.parents))
            vjps = n.prim.vjps
            kw = n.kw
            i = -1
            for p in n.parents:
                i += 1
                if p is None or (needed is not None and p not in needed) or (
                        targets is not None and type(p) is not Node and p not in target_set):
                    continue
                old = grads.get(p)
                if old is not None and n.prim is slice_prim and p in private and slice_ok \
                        and _add_slice(old, raw_args[1], g):
                    pass  # a slice's cotangent added into the parent's buffer in place
                else:
                    gi = vjps[i](g, ans, *args, **kw) if kw else vjps[i](g, ans, *args)
                    a = raw_args[i]
                    try:
                        fits = gi.shape == a.shape and gi.dtype == a.dtype
                    except AttributeError:  # None, a tuple, a list: a user's rule gone wrong
                        if gi is None and getattr(n.prim, "none_is_no_gradient", False):
                            continue  # an autograd.Function's backward gave None: no edge
                        if not hasattr(a, "shape") and gi is not None:
                            _user_cotangent(grads, p, old, gi, heap)  # a user VSpace's value
                            continue
                        raise rule_error("VJP", n.prim, i, gi, a.shape, a.dtype) from None
                    if not fits:
                        check_rule_result("VJP", n.prim, i, gi, a.shape, a.dtype)
                        gi = unbroadcast(gi, a)
                    if anomaly:
                        from .anomaly import check_backward

                        check_backward(n, i, gi)
                    if old is None:
                        grads[p] = gi  # the first contribution is kept as it is: no copy
                        if n.prim is slice_prim:
                            private.add(p)  # getitem's rule made it: a fresh buffer
                        if type(p) is Node:
                            push(heap, (-p.seq, p))
                    elif type(gi) is RowGrad or type(old) is RowGrad:
                        grads[p] = sum_with_rows(old, gi)  # an Embedding(sparse=True)'s
                        if type(grads[p]) is not RowGrad:
                            private.add(p)
                    elif create_graph or p not in private or isinstance(old, Tensor):
                        grads[p] = old + gi
                        private.add(p)
                    else:
                        old += gi  # a buffer we allocated ourselves: safe to add in place
                        grads[p] = old  # (a 0-d result is a NumPy scalar: += made a new object)
                if early and p in early:
                    left = early[p] - 1
                    if left:
                        early[p] = left
                    else:
                        del early[p]
                        _hand_to_leaf(p, grads.pop(p), handed, Tensor, create_graph)
            if not retain_graph:
                n.args = None
                n.ans = None
        # the last node's saves must not outlive its run in these locals (leaf hooks run next)
        args = raw_args = ans = a = None
        if targets is not None:
            if _tensor_names()[3]:  # some tensor has a gradient hook: a leaf target's run too
                for t in targets:
                    if type(t) is not Node and t._hooks and grads.get(t) is not None:
                        grads[t] = _run_hooks(t._hooks, densified(grads[t]), Tensor)
            # the gradients asked for are dense, an Embedding(sparse=True)'s weight's too
            return [captured.get(t) if type(t) is Node else densified(grads.get(t))
                    for t in targets]
        for leaf, g in grads.items():
            if type(leaf) is not Node:
                _hand_to_leaf(leaf, g, handed, Tensor, create_graph)
    finally:
        _state.enabled = prev_mode
        _state.backward -= 1
        _PASS[0] = outer
    return None


# register_multi_grad_hook's view of the running backward pass: [0] counts the live
# multi-grad hooks (while none is, a pass records nothing), _PASS[0] is the running pass
MULTI_GRAD_HOOKS = [0]
_PASS = [None]


class _Pass:
    """One backward pass: which vertices it runs, worked out on first asking."""

    __slots__ = ("roots", "targets", "needed", "stop", "_nodes", "__weakref__")

    def __init__(self, roots, targets, needed, stop):
        self.roots, self.targets, self.needed, self.stop = roots, targets, needed, stop
        self._nodes = None

    def will_run(self, vertex):
        """Whether this pass computes the gradient of ``vertex`` (a node's, or a leaf's
        accumulation: only when the pass accumulates into leaves, without ``targets``)."""
        if self._nodes is None:
            nodes = _postorder(self.roots, self.stop)
            needed = self.needed
            self._nodes = {n for n in nodes if needed is None or n in needed}
        if type(vertex) is Node:
            return vertex in self._nodes
        if self.targets is not None and not any(t is vertex for t in self.targets):
            return False
        return any(r is vertex for r in self.roots) or any(
            p is vertex for n in self._nodes for p in n.parents)  # by identity, not Tensor ==



def _user_cotangent(grads, p, old, gi, heap):
    """Accumulate ``gi``, a cotangent in a user's own VSpace (an argument that was a box of
    tensorgrad.autograd.user_spaces), for the vertex ``p``: with the space's ``add``."""
    from . import user_spaces

    if old is None:
        grads[p] = gi
        if type(p) is Node:
            heapq.heappush(heap, (-p.seq, p))
    else:
        grads[p] = user_spaces.add(old, gi)


def _toward(roots, targets, stop):
    """The vertices from which a target can be reached: the only ones a gradient aimed at the
    targets passes through. The walk does not go past the vertices in ``stop``."""
    order = _postorder(roots, stop)
    needed = set(t for t in targets if type(t) is not Node)  # leaf targets
    for n in order:
        if n in targets:
            needed.add(n)
        elif n not in stop:
            for p in n.parents:
                if p is not None and p in needed:
                    needed.add(n)
                    break
    return needed


_TENSOR_NAMES = []
_SLICE_PRIM = []


def _slice_prim():
    """getitem's primitive (looked up on first use: ops imports this module)."""
    if not _SLICE_PRIM:
        from ..ops.index import _is_basic, getitem

        _SLICE_PRIM.extend((getitem.prim, _is_basic))
    return _SLICE_PRIM[0]


def _add_slice(buf, idx, g):
    """``buf[idx] += g`` for a basic index and a cotangent of buf's type and dtype: what
    getitem's rule would give, a full-size buffer with g at idx, added without making it. A
    tensor cut into T pieces then costs O(size) in backward, not O(T * size). False (nothing
    done) when it does not apply."""
    if type(g) is not type(buf) or g.dtype != buf.dtype or not _SLICE_PRIM[1](idx):
        return False
    buf[idx] += g
    return True


def _tensor_names():
    # tensor.py imports this module, so its names are looked up on first use
    if not _TENSOR_NAMES:
        from ..tensor import _LEAF_HOOKS, _POST_ACCUMULATE_HOOKS, Tensor, _lift, _new_tensor

        _TENSOR_NAMES.extend((Tensor, _lift, _POST_ACCUMULATE_HOOKS, _LEAF_HOOKS, _new_tensor))
    return _TENSOR_NAMES


def _run_hooks(hooks, g, Tensor):
    gt = g if isinstance(g, Tensor) else Tensor._wrap(g)
    for h in hooks:
        r = h(gt)
        if r is not None:
            if not isinstance(r, Tensor):
                if not (hasattr(r, "shape") and hasattr(r, "dtype")) or r.dtype.kind not in "fc":
                    raise TypeError(f"hook {getattr(h, '__name__', h)!r} returned "
                                    f"{type(r).__name__}; a gradient hook must return None or a "
                                    f"float tensor of the gradient's shape {tuple(gt.shape)}")
                r = Tensor._wrap(r)
            if r.shape != gt.shape:
                raise RuntimeError(f"hook {getattr(h, '__name__', h)!r} returned a gradient of "
                                   f"shape {tuple(r.shape)} for a tensor of shape "
                                   f"{tuple(gt.shape)}; a hook must return None or a tensor of "
                                   "the gradient's shape")
            gt = r
    return gt if isinstance(g, Tensor) else gt.data


def _node_hooks(n, g, Tensor):
    if n.hooks:
        g = _run_hooks(n.hooks, g, Tensor)
    if n.retain is not None:
        t = n.retain()
        if t is not None:
            t.grad = _sum_grad(t.grad, g, Tensor)
    return g


def _sum_grad(old, g, Tensor):
    if not isinstance(g, Tensor):
        g = Tensor._wrap(g)
    if old is None:
        return g
    if old.is_sparse or g.is_sparse:
        return _sum_sparse_grad(old, g, Tensor)
    return old + g if (g._rg or old._rg) else Tensor._wrap(old.data + g.data)


def _sum_sparse_grad(old, g, Tensor):
    """A leaf's ``.grad`` plus a new gradient, one of them sparse (an Embedding(sparse=True)'s
    weight): sparse + sparse stays sparse (rows concatenated, uncoalesced, as PyTorch
    accumulates), otherwise the sum is dense."""
    tracked = old.requires_grad or g.requires_grad
    if old.is_sparse and g.is_sparse:
        if tracked:
            return old + g
        from ..sparse import _const, _make

        xp = xp_of(old._idx)
        return _make(xp.concatenate([old._idx, g._idx], axis=1),
                     _const(xp.concatenate([old._vals.data,
                                            g._vals.data.astype(old.dtype, copy=False)])),
                     old.shape, False)
    dense, sparse = (g, old) if old.is_sparse else (old, g)
    if tracked:
        return dense + sparse.to_dense()
    return Tensor._wrap(dense.data + sparse.to_dense().data)


def _hooked_leaves():
    return _tensor_names()[2]


def _hooked_leaf_edges(roots):
    """How many contributions each leaf with post-accumulate-grad hooks behind ``roots`` gets
    in this pass: one per edge from a node (one counting walk, made only while some tensor
    has such a hook)."""
    hooked = _hooked_leaves()
    counts = {}
    for n in _postorder(roots):
        for p in n.parents:
            if p is not None and type(p) is not Node and id(p) in hooked:
                counts[p] = counts.get(p, 0) + 1
    return counts


def _hand_to_leaf(leaf, g, handed, Tensor, create_graph):
    if not isinstance(g, Tensor):
        a = g.values if type(g) is RowGrad else g
        key = id(a if a.base is None else a.base)
        owned = key not in handed and getattr(a.flags, "writeable", True)
        handed.add(key)
        if type(g) is RowGrad:
            g = g.sparse_tensor(owned)  # the leaf's .grad is sparse, as PyTorch's
        elif not owned:
            g = g.copy()
    _accumulate_leaf(leaf, g, Tensor, create_graph)


def _accumulate_leaf(leaf, g, Tensor, create_graph):
    if g.dtype.kind == "c":
        # Rules follow autograd's convention (no conjugate); .grad follows PyTorch's, which is
        # the conjugate: for a real loss L, z.grad = dL/dRe(z) + i dL/dIm(z).
        g = g.conj()
    names = _tensor_names()
    if names[3]:  # some tensor has a gradient hook
        hooks = leaf._hooks
        if hooks:
            g = _run_hooks(hooks, g, Tensor)
    if leaf.grad is None and not isinstance(g, Tensor) and not create_graph:
        # PyTorch's layout contract: a channels_last leaf gets a channels_last .grad
        flags = getattr(leaf.data, "flags", None)
        if flags is not None and not flags.c_contiguous:
            from .. import _memory_format

            g = _memory_format.grad_like(g, leaf.data)
        leaf.grad = names[4](g, None, False)
    else:
        leaf.grad = _sum_grad(leaf.grad, g, Tensor)
    if names[2]:  # some tensor has a post-accumulate-grad hook
        post = leaf._post_accumulate_hooks
        if post:
            for h in tuple(post):
                h(leaf)


def _postorder(roots, stop=()):
    """The nodes behind ``roots``, each after all of its parents (iteratively, no recursion);
    the walk does not go past the vertices in ``stop``."""
    order = []
    seen = set()
    stack = [(r, False) for r in roots if type(r) is Node]
    while stack:
        n, done = stack.pop()
        if done:
            order.append(n)
            continue
        if n in seen:
            continue
        seen.add(n)
        stack.append((n, True))
        if n in stop:
            continue
        for p in n.parents:
            if type(p) is Node and p not in seen:
                stack.append((p, False))
    return order


def tape_order(root, stop=None):
    """The nodes behind ``root``, each after all of its parents; not past the vertex ``stop``."""
    return _postorder([root], set() if stop is None else {stop})


def forward_sweep(order, source, tangent):
    """Forward mode over a recorded tape: push ``tangent`` (the tangent of the vertex
    ``source``) through the nodes of ``order`` with their JVP rules on the saved raw values.
    Returns the tangent of the last node (None where it does not depend on ``source``)."""
    tangents = {source: tangent}
    # each tangent is dropped after its last reader: a batched sweep's tangents are large,
    # and memory given back at once is reused at once (not freshly mapped by each op)
    last = {}
    for k, n in enumerate(order):
        for p in n.parents:
            last[p] = k
    for k, n in enumerate(order):
        if n.args is None:
            raise _freed(n)
        args, ans = saved_values(n)
        acc = None
        jvps = n.prim.jvps
        kw = n.kw
        i = -1
        for p in n.parents:
            i += 1
            if p is None:
                continue
            tp = tangents.get(p)
            if tp is None:
                continue
            r = jvps[i](tp, ans, *args, **kw) if kw else jvps[i](tp, ans, *args)
            if ans is not None and getattr(r, "shape", None) != ans.shape:
                check_rule_result("JVP", n.prim, i, r, ans.shape, ans.dtype)
            acc = r if acc is None else acc + r
        if acc is not None:
            shape = ans.shape if ans is not None else args[0].shape
            if acc.shape != shape:
                from ..backend.device import xp_of

                acc = xp_of(acc).broadcast_to(acc, shape)
            tangents[n] = acc
        for p in n.parents:
            if last.get(p) == k and p is not order[-1]:
                tangents.pop(p, None)
    return tangents.get(order[-1]) if order else None


from .graph_hooks import (  # noqa: E402, F401  (public here; they build on the names above)
    disable_saved_tensors_hooks,
    register_multi_grad_hook,
    save_on_cpu,
    saved_tensors_hooks,
)


# ---- PyTorch's torch.autograd.graph helpers ------------------------------------------------
class GradientEdge(NamedTuple):
    """PyTorch's ``GradientEdge(node, output_nr)``: where a tensor's gradient enters the graph.
    ``node`` is tensorgrad's vertex (the ``grad_fn`` Node of a non-leaf, the leaf tensor
    itself); ``tg.autograd.grad(outputs, inputs=[edge])`` gives the gradient at that edge,
    also after the tensor itself is gone or was changed in place."""

    node: object
    output_nr: int = 0

    @property
    def _node(self):  # what the autograd functions take as a variable's vertex
        return self.node

    @property
    def _level(self):
        return 0

    # tg.autograd.backward(..., inputs=[edge]) accumulates into the leaf's .grad, as PyTorch's;
    # the edge of a non-leaf has no .grad to fill
    @property
    def grad(self):
        return self.node.grad if not isinstance(self.node, Node) else None

    @grad.setter
    def grad(self, value):
        if not isinstance(self.node, Node):
            self.node.grad = value

    def __array__(self, *args, **kwargs):
        raise RuntimeError("materialize_grads cannot be used when the given input is a "
                           "GradientEdge (it is not a tensor)")


def get_gradient_edge(tensor):
    """The :class:`GradientEdge` of ``tensor`` (which must require grad)."""
    if not getattr(tensor, "requires_grad", False):
        raise RuntimeError("get_gradient_edge(): it is not possible to get the gradient edge "
                           "for a Tensor that does not require gradients")
    node = tensor._node
    return GradientEdge(tensor if node is None else node, 0)


def increment_version(tensor):
    """Count an in-place change of ``tensor`` (or of each tensor of an iterable) that
    tensorgrad did not see, so that backward passes that saved it refuse, as after any
    in-place op."""
    Tensor = _tensor_names()[0]
    for t in ([tensor] if isinstance(tensor, Tensor) else tensor):
        bump_version(t._vc)


class allow_mutation_on_saved_tensors:
    """PyTorch's context in which a tensor saved for backward may be changed in place: the
    backward pass of what was recorded inside still uses the values as they were when saved.
    tensorgrad saves a copy of each value the rules read (through the saved-tensor hook
    machinery) and skips the in-place check for those nodes; leaving the context drops
    nothing the graph still needs."""

    def __enter__(self):
        from ..ops import registry
        from . import graph_hooks

        self._hooks = graph_hooks.saved_tensors_hooks(lambda t: t.clone(), lambda t: t)
        self._hooks.__enter__()
        inner = registry.Node

        def node(*args, **kwargs):
            n = inner(*args, **kwargs)
            _MUTABLE_SAVED.add(n)
            return n

        registry.Node = node
        self._inner = inner
        return self

    def __exit__(self, *exc):
        from ..ops import registry

        registry.Node = self._inner
        self._hooks.__exit__(*exc)
