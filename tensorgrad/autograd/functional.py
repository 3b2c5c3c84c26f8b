"""autograd-style function transforms: grad, jvp, hessian, ... with autograd's signatures.

Reverse mode runs on the same tape as ``Tensor.backward``: the argument becomes a fresh vertex and
the backward pass is aimed at it alone, so a transform nested in another never mixes up the two
variables. Forward mode uses duals with a level per ``jvp`` (see forward.py). Reverse mode applied
to duals is the transpose of the dual expansion: the tangent of a gradient is the gradient of the
tangent, computed on the same tape.
"""

import functools
import inspect
import numbers
import weakref

import numpy as np

from ..backend.device import _CUPY_ARRAY, _DEFAULT, to_default_device, xp_of
from ..tensor import Tensor, _new_tensor, _raw, checked_seed
from . import batching, user_spaces
from .forward import Dual, level_of, make_dual, new_level, split
from .grad_mode import _state
from .graph import Node, _postorder, forward_sweep, run_backward, tape_order
from .rules import MissingRuleError, lacks_jvp
from .tree import flatten

_rev_depth = [0]  # reverse transforms whose function is being evaluated right now
# How an in-place op on a traced tensor behaves inside those transforms, the innermost
# deciding: True for autograd's (``x -= y`` binds x to a new value, nothing is written),
# False for torch.func's (the array is written, views see it: the tape's own rules).
_REBIND = []


def torch_inplace(fun):
    """``fun`` evaluated with PyTorch's in-place semantics inside a reverse transform (what
    torch.func's transforms wrap the user's function in)."""
    def run(*args, **kwargs):
        _REBIND.append(False)
        try:
            return fun(*args, **kwargs)
        finally:
            _REBIND.pop()

    return run


# ---- what the caller gave, and giving the same kind back --------------------------------
def _kind(x):
    if isinstance(x, Tensor):
        return "tensor"
    if isinstance(x, (np.ndarray, _CUPY_ARRAY)):
        return "array"
    if isinstance(x, np.generic):
        return "scalar"
    if isinstance(x, numbers.Number):
        return "complex" if isinstance(x, complex) else "float"
    return "array"


def _as_array(x, xp=np):
    """``x`` as an array where it lives: device arrays stay on their device, numbers become
    arrays of ``xp`` (NumPy unless the caller found where the other arguments live)."""
    if isinstance(x, Tensor):
        return x.data
    return x if isinstance(x, (np.ndarray, _CUPY_ARRAY)) else xp.asarray(x)


def _as_float_array(x, xp=np):
    a = _as_array(x, xp)
    if a.dtype.kind not in "fciub":
        raise TypeError(f"cannot differentiate with respect to {a.dtype.name} data "
                        f"({type(x).__name__}); pass a float array or number")
    a = a if a.dtype.kind in "fc" else a.astype(np.float64)
    if _DEFAULT[0] is not None:  # a default device is set: variables and tangents live there
        a = to_default_device(a)
    return a


def _value_kind(in_kind, out):
    """The kind a function's own value is given back as: the argument's kind, except that a
    number (or NumPy scalar) argument whose function gives an array gives that array back."""
    if in_kind == "tensor":
        return "tensor" if isinstance(out, Tensor) else _kind(out)
    if in_kind in ("float", "complex", "scalar") and _shape_of(out) != ():
        return "array"
    if in_kind in ("float", "complex"):  # a number: real or complex as the value is
        dtype = getattr(_raw(out), "dtype", None)
        if dtype is not None:
            return "complex" if dtype.kind == "c" else "float"
    return in_kind


def _home_xp(*values):
    """The array module of the first device array among ``values`` (containers, Tensors and
    duals included), else NumPy: where a Python number that becomes a variable or a tangent
    must live to meet the other arguments (a host 0-d array cannot mix with CuPy arrays).
    Called only when there is such a number."""
    leaves, _ = flatten(list(values))
    for v in leaves:
        b = _bottom(v)
        d = b.data if isinstance(b, Tensor) else b
        if type(d) is _CUPY_ARRAY:
            return xp_of(d)
    return np


def _is_number(x):
    return not isinstance(x, Tensor) and not hasattr(x, "shape")


def _give_back(value, kind, keep=True):
    """Raw values for raw callers, unless the value still carries a derivative for an outer
    transform (then it must stay a Tensor). ``keep``: whether being on the tape counts."""
    if not isinstance(value, Tensor):
        if kind == "tensor" and hasattr(value, "dtype"):
            return _new_tensor(value, None, False)
        if kind == "float" and getattr(value, "size", 0) == 1:
            return float(value) if value.dtype.kind != "c" else complex(value)
        if kind == "array" and isinstance(value, np.generic):
            return np.asarray(value)
        return value
    if kind == "tensor" or value._level or (keep and value._rg):
        return value
    data = value.data
    if kind == "float":
        return float(data) if data.dtype.kind != "c" else complex(data)
    if kind == "complex":
        return complex(data)
    if kind == "scalar":
        return data[()]
    if isinstance(data, np.generic):  # 0-d arithmetic on the host gives NumPy scalars
        return np.asarray(data)
    return data


def _value_back(value, kind):
    """A function's own value as NumPy gives it: a 0-d host result of arrays is the NumPy
    scalar a reduction or arithmetic makes (``np.float64``: hashable, a ``float``), as autograd
    hands back what NumPy produced; gradients keep 0-d arrays (see ``_give_back``)."""
    if kind == "array" and type(value) is np.ndarray and value.ndim == 0:
        return value[()]
    return value


def _zeros_like_raw(x):
    if isinstance(x, Tensor) and type(x.data) is batching.Logical:  # batched (vmap): logical
        b = _bottom(x)
        return xp_of(_as_array(b)).zeros(x.shape, dtype=x.dtype)
    d = x.data if isinstance(x, Tensor) else x
    if hasattr(d, "dtype"):
        return xp_of(d).zeros_like(d)  # not d * 0: an inf in d would give nan
    return xp_of(d).zeros_like(_as_float_array(d))


# ---- the variable of a reverse transform ------------------------------------------------
def _bottom(x):
    while isinstance(x, Tensor) and x._level:
        x = x._primal
    return x


def _replace_bottom(x, new):
    if isinstance(x, Tensor) and x._level:
        return batching.rewrap(x, _replace_bottom(x._primal, new))
    return new


def _make_variable(x, home=lambda: np):
    """A tensor that stands for ``x`` and whose gradient the backward pass can aim at;
    ``home()`` gives the array module for a number."""
    b = _bottom(x)
    if isinstance(b, Tensor):
        if b._rg and _state.enabled:
            v = _alias(b)  # a new vertex tied to x's history, so outer transforms see through it
        else:
            data = b.data if b.data.dtype.kind in "fc" else b.data.astype(np.float64)
            v = _new_tensor(data, None, True)
            v._vc = b._vc
            _remember_variable(v)
    else:
        v = _new_tensor(_as_float_array(b, home() if _is_number(b) else np), None, True)
        _remember_variable(v)
    return _replace_bottom(x, v), v


# The leaves that transforms made as their variables (by id, dropped when the tensor dies):
# a later transform whose function reads one (make_ggnvp's VJP of a VJP) reads no tensor of
# the user's, so its result need not go on the tape (_reads_outer_tape).
_VARIABLES = {}


def _remember_variable(v):
    key = id(v)
    _VARIABLES[key] = weakref.ref(v, lambda _, key=key: _VARIABLES.pop(key, None))


def _is_transform_variable(t):
    ref = _VARIABLES.get(id(t))
    return ref is not None and ref() is t


def _alias(t):
    from ..ops.registry import apply
    from ..ops.shape import reshape

    return apply(reshape.prim, (t, t.shape), {})


def _vertex(t):
    return t._node if t._node is not None else t


def _reverse(outs, seeds, variables, create_graph, below=None):
    """d(sum_k <seeds[k], outs[k]>)/d(variables), expanded over the levels that the outputs or
    the seeds carry, highest first (see ``_pivot``). ``below``: the lowest vmap level already
    expanded by an enclosing ``_reverse_batched`` (None at the top); a gradient carries the
    variable's vmap levels under it (see ``_zero_gradient``)."""
    if len(outs) == 1 and len(seeds) == 1:
        top = max(level_of(outs[0]), level_of(seeds[0]))
    else:
        top = max(max(level_of(o) for o in outs), max(level_of(s) for s in seeds))
    if top == 0:
        return _reverse_tape(outs, seeds, variables, create_graph, below=below)
    level, is_batch = _pivot(outs, seeds)
    if level == 0:  # only cotangents batched (vmap over a VJP, as jacrev does): the tape's
        # rules get the batched cotangents and batch them in turn
        return _reverse_tape(outs, seeds, variables, create_graph, keep_seeds=True,
                             below=below)
    if is_batch:
        return _reverse_batched(outs, seeds, variables, create_graph, level)
    ops_, ots = zip(*(_split_deep(o, level) for o in outs))
    sps, sts = zip(*(_split_deep(s, level) for s in seeds))
    primal = _reverse(ops_, sps, variables, create_graph, below)
    tangents = []
    # the tangent of a gradient: the gradient of the tangent, plus the seed's own tangent
    pairs = [(ot, sp) for ot, sp in zip(ots, sps) if ot is not None]
    if pairs:
        tangents.append(_reverse([p[0] for p in pairs], [p[1] for p in pairs], variables,
                                 create_graph, below))
    pairs = [(op, st) for op, st in zip(ops_, sts) if st is not None]
    if pairs:
        tangents.append(_reverse([p[0] for p in pairs], [p[1] for p in pairs], variables,
                                 create_graph, below))
    out_list = []
    for k, p in enumerate(primal):
        parts = [t[k] for t in tangents]
        tan = parts[0] if parts else _zeros_like_raw(p)
        for more in parts[1:]:
            tan = tan + more
        out_list.append(_make_dual_deep(p, level, tan))
    return out_list


# ---- the order of levels in a reverse pass ----------------------------------------------
# A VJP is linear in its cotangents, so a level that only the cotangents carry (a vmap over
# the VJP: jacrev's rows) needs no expansion: the backward pass carries it through the tape's
# rules as part of the cotangents' values. Every other level is expanded, highest first: a
# dual level splits outputs and cotangents into primal and tangent parts (the transpose of the
# dual expansion), a vmap level that the outputs carry runs the pass on physical values. A
# level below a cotangents-only vmap level is expanded UNDER it: the parts and the results
# keep that vmap level on top (levels stay ordered, the newest outermost), so jacrev's rows
# stay separate from the directions of an outer jvp or the examples of an outer vmap.
def _levels_in(x, found):
    """Every level ``x`` carries, through primals and tangents: ``found[level] = is a vmap
    level``."""
    while isinstance(x, Tensor) and x._level:
        batch = type(x) is batching.Batched
        found[x._level] = batch
        if not batch and x._tangent is not None:
            _levels_in(x._tangent, found)
        x = x._primal
    return found


def _pivot(outs, seeds):
    """(level, is a vmap level) to expand next: the highest level of the outputs, or of the
    cotangents' dual levels; (0, False) when only cotangents-only vmap levels are left."""
    found = {}
    for o in outs:
        _levels_in(o, found)
    seed_levels = {}
    for s in seeds:
        _levels_in(s, seed_levels)
    for lev, batch in seed_levels.items():
        if not batch:
            found[lev] = False
    if not found:
        return 0, False
    level = max(found)
    return level, found[level]


def _split_deep(x, level):
    """(primal, tangent) of ``x`` at the dual ``level``, which may lie under higher levels:
    those stay on top of both parts. Tangent None when ``x`` has no part there."""
    lx = level_of(x)
    if lx <= level:
        return split(x, level)
    if type(x) is batching.Batched:
        p, t = _split_deep(x._primal, level)
        return batching.make_batched(p, lx), None if t is None else batching.make_batched(t, lx)
    pp, pt = _split_deep(x._primal, level)
    tp, tt = _split_deep(x._tangent, level)
    primal = make_dual(pp, lx, tp)
    if pt is None and tt is None:
        return primal, None
    return primal, make_dual(_zeros_like_raw(pp) if pt is None else pt, lx,
                             _zeros_like_raw(tp) if tt is None else tt)


def _make_dual_deep(p, level, t):
    """The dual of ``p`` and ``t`` at ``level``, put under the higher levels they carry."""
    top = max(level_of(p), level_of(t))
    if top < level:
        return make_dual(p, level, t)
    if batching.is_batched_at(p, top) or batching.is_batched_at(t, top):
        size = (p if batching.is_batched_at(p, top) else t)._primal.shape[0]
        return batching.make_batched(_make_dual_deep(_physical_at(p, top, size), level,
                                                     _physical_at(t, top, size)), top)
    pp, pt = split(p, top)
    tp, tt = split(t, top)
    return make_dual(_make_dual_deep(pp, level, tp), top,
                     _make_dual_deep(_zeros_like_raw(pp) if pt is None else pt, level,
                                     _zeros_like_raw(tp) if tt is None else tt))


def _physical_at(x, level, size):
    """``x``'s values at the vmap ``level`` with that batch first (broadcast when ``x`` does
    not carry it); higher levels stay on top, each keeping its own batch dimension first."""
    from ..ops.shape import swapaxes

    lx = level_of(x)
    if lx == level:
        return x._primal
    if lx < level or level not in _levels_in(x, {}):
        return batching.broadcast_batch(x, size)
    if type(x) is batching.Batched:  # its physical: (its batch, level's batch, ...)
        return batching.make_batched(swapaxes(_physical_at(x._primal, level, size), 0, 1), lx)
    return make_dual(_physical_at(x._primal, level, size), lx,
                     _physical_at(x._tangent, level, size))


def _batched_at(g, level):
    """The inverse of ``_physical_at``: ``g`` (``level``'s batch first under any higher
    levels) batched at ``level``, under those higher levels."""
    from ..ops.shape import swapaxes

    lg = level_of(g)
    if lg < level:
        return batching.make_batched(g, level)
    if type(g) is batching.Batched:
        return batching.make_batched(_batched_at(swapaxes(g._primal, 0, 1), level), lg)
    return make_dual(_batched_at(g._primal, level), lg, _batched_at(g._tangent, level))


# id(variable) -> (weak reference, the vmap levels it was made to carry): _vjp_maker inside
# vmap. By id, not a WeakKeyDictionary: that compares keys with ==, elementwise for Tensors.
_VARIABLE_LEVELS = {}


def _mark_levels(v, levels):
    key = id(v)
    _VARIABLE_LEVELS[key] = (weakref.ref(v, lambda _r: _VARIABLE_LEVELS.pop(key, None)), levels)


def _levels_of_variable(v):
    entry = _VARIABLE_LEVELS.get(id(v))
    return entry[1] if entry is not None and entry[0]() is v else ()


def _reverse_batched(outs, seeds, variables, create_graph, level):
    """``_reverse`` at a vmap level that outputs carry: the backward pass runs on the
    physical values (seeds without the level broadcast to the batch), which gives
    per-example gradients when every variable carries the level (``_vjp_maker`` promotes
    them); the gradients are batched at the level again (under any cotangents-only levels
    above it)."""
    for v in variables:
        if level not in _levels_of_variable(v):
            raise batching.BatchingFallback("vjp: a variable made outside this vmap")
    pouts, pseeds = [], []
    for o, s in zip(outs, seeds):
        if not batching.is_batched_at(o, level):  # the highest level the outputs carry
            continue  # does not depend on the (batched) variables
        po = o._primal
        size = po.shape[0]
        if not hasattr(s, "shape"):
            raw = _as_array(_bottom(o))
            s = xp_of(raw).asarray(s, dtype=raw.dtype)
        pouts.append(po)
        pseeds.append(_physical_at(s, level, size))
    grads = _reverse(pouts, pseeds, variables, create_graph, level)
    return [_batched_at(g, level) for g in grads]


def _seed_array(seed, out):
    """A number given as a cotangent, as an array of ``out``'s dtype on ``out``'s device."""
    return xp_of(out.data).asarray(seed, dtype=out.data.dtype)


def _zero_gradient(v, below):
    """The gradient of outputs that do not depend on the variable ``v``: zeros shaped like
    ``v`` at the vmap levels it carries (``_vjp_maker`` promoted it) that no enclosing
    ``_reverse_batched`` has expanded yet (those under ``below``), as a gradient that does
    depend on ``v`` comes back there. ``v`` itself is physical (every level's batch in it):
    its zeros alone would have the wrong logical shape at those levels (the tangent part of
    a gradient under an outer jvp, whose outputs' tangents do not depend on ``v``, say)."""
    z = _zeros_like_raw(v)
    for level in sorted(_levels_of_variable(v)):  # the outermost vmap's batch is first
        if below is None or level < below:
            z = batching.make_batched(z, level)
    return z


def _reverse_tape(outs, seeds, variables, create_graph, keep_seeds=False, below=None):
    """The backward pass; ``keep_seeds``: Tensor seeds stay Tensors (batched cotangents,
    which the rules batch in turn) without ``create_graph``. ``below``: see ``_reverse``."""
    roots, root_seeds = [], []
    for out, seed in zip(outs, seeds):
        if not isinstance(out, Tensor) or not out._rg:
            continue  # this output does not depend on the variables
        if not create_graph and isinstance(seed, Tensor) and not keep_seeds:
            seed = seed.data
        elif create_graph and not isinstance(seed, Tensor):
            seed = _new_tensor(_seed_array(seed, out) if not hasattr(seed, "shape") else seed,
                               None, False)
        if not hasattr(seed, "shape"):
            seed = _seed_array(seed, out)
        if tuple(seed.shape) != tuple(out.shape):
            raise ValueError(f"vjp: the cotangent has shape {tuple(seed.shape)} but the output "
                             f"has shape {tuple(out.shape)}")
        roots.append(_vertex(out))
        root_seeds.append(seed)
    if not roots:
        return [_zero_gradient(v, below) for v in variables]
    # Nested in another transform (or with a variable on the user's tape) the graph holds outer
    # computations: walk only toward the variables. At the top level it holds nothing else.
    prune = create_graph or _rev_depth[0] > 0
    res = run_backward(roots, root_seeds, retain_graph=True, create_graph=create_graph,
                       targets=[_vertex(v) for v in variables], prune=prune)
    return [_zero_gradient(v, below) if g is None else g for g, v in zip(res, variables)]


def _argnums(argnum):
    return (argnum, True) if isinstance(argnum, (tuple, list)) else ((argnum,), False)


def _any_leaf(vertices, hit):
    """Whether ``hit`` holds for a leaf (a tensor without a Node) of the graphs behind
    ``vertices``: a loop, not a generator, as it runs on every transform call."""
    stack, seen = vertices, set()
    while stack:
        n = stack.pop()
        if type(n) is not Node:
            if hit(n):
                return True
            continue
        if id(n) in seen:
            continue
        seen.add(id(n))
        stack.extend(p for p in n.parents if p is not None)
    return False


def _reads_outer_tape(outs, variables):
    """Whether the graph behind ``outs`` (recorded by a transform's function) reads a tensor
    of the user's that requires grad (not one of the transform's ``variables``, nor a variable
    of an earlier transform): a parameter closed over, or passed in an argument the transform
    does not differentiate (``functional_call(model, params, ...)`` under ``jacrev(u,
    argnums=1)``). The transform's result must then be recorded on the user's tape
    (create_graph), as torch.func's is, or a loss built from it loses their gradient."""
    roots = []
    for o in outs:
        b = _bottom(o)
        if isinstance(b, Tensor) and b._rg:
            roots.append(_vertex(b))
    if not roots:
        return False
    own = {id(v) for v in variables}
    # a transform's variable is no one's to differentiate once that transform is done
    return _any_leaf(roots, lambda n: id(n) not in own and not _is_transform_variable(n))


# the variables of each transform whose function is running now (the enclosing ones)
_ACTIVE = []


def _only_own(values, variables):
    """Whether the graphs behind ``values`` end only at ``variables`` (this transform's own),
    reading no variable of an enclosing transform and no tensor of the user's: then a nested
    transform's results depend on nothing outside it, and are given back as raw values (as
    autograd's: arrays in, arrays out)."""
    tensors = [o for o in values if isinstance(o, Tensor)]
    if any(o._level for o in tensors):
        return False
    own = {id(v) for v in variables}
    active = {id(v) for vs in _ACTIVE for v in vs}
    return not _any_leaf([_vertex(o) for o in tensors if o._rg], lambda n: id(n) not in own and (
        id(n) in active or not _is_transform_variable(n)))


def _vjp_maker(fun, argnum, has_aux=False):
    nums, many = _argnums(argnum)

    def maker(*args, **kwargs):
        args = list(args)
        variables = []
        kinds = []
        rebuilds = []  # per argnum: (first leaf, number of leaves, rebuild)
        users = {}  # variable index -> a value of a user's VSpace (see user_spaces)
        nested = _rev_depth[0] > 0 and _state.enabled
        create_graph = nested
        outer = False  # does the function read the user's tape (then results stay on it)?
        home = functools.partial(_home_xp, args, kwargs)
        for i in nums:
            leaves, rebuild = flatten(args[i])
            rebuilds.append((len(variables), len(leaves), rebuild))
            new_leaves = []
            inside = not (len(leaves) == 1 and leaves[0] is args[i])
            for x in leaves:
                if user_spaces.SPACES and user_spaces.is_user_value(x):
                    box, v = user_spaces.make_variable(x)
                    users[len(variables)] = x
                    kinds.append("user")
                    new_leaves.append(box)
                    variables.append(v)
                    continue
                k = _kind(x)
                # as autograd: a number inside a container gets a 0-d array as its gradient
                kinds.append("array" if inside and k in ("float", "complex") else k)
                if batching.OPEN:  # inside vmap: one variable per example (per-sample grads)
                    x = batching.promote(x if hasattr(x, "shape") else
                                         _as_float_array(x, home()))
                b = _bottom(x)
                if isinstance(b, Tensor) and b._rg and _state.enabled:
                    create_graph = outer = True
                xv, v = _make_variable(x, home)
                if batching.OPEN:
                    _mark_levels(v, batching.batch_levels(xv))
                new_leaves.append(xv)
                variables.append(v)
            args[i] = rebuild(new_leaves)
        _rev_depth[0] += 1
        _REBIND.append(True)
        if users:
            user_spaces.ACTIVE[0] += 1
        prev = _state.enabled
        _state.enabled = True  # like torch.func.grad: an outer no_grad does not stop the transform
        _ACTIVE.append(variables)
        try:
            res = fun(*args, **kwargs)
        finally:
            _rev_depth[0] -= 1
            _REBIND.pop()
            if users:
                user_spaces.ACTIVE[0] -= 1
            _state.enabled = prev
            _ACTIVE.pop()
        out, aux = res if has_aux else (res, None)
        outs, rebuild_out = flatten(out)
        if not create_graph and prev and _reads_outer_tape(outs, variables):
            create_graph = outer = True
        # nested, on arrays: raw results where nothing enclosing is read (see _only_own)
        given_raw = nested and not outer and _only_own(outs, variables)
        out_kinds = [_value_kind(kinds[0], o) for o in outs]

        def vjp(g):
            seeds, _ = flatten(g)
            if len(seeds) != len(outs):
                raise ValueError(f"vjp: the cotangent has {len(seeds)} parts but the output "
                                 f"has {len(outs)}")
            cg = create_graph
            if not cg:
                for s in seeds:
                    if isinstance(s, Tensor) and (s._rg or s._level) and \
                            batching.carries_derivative(s):
                        cg = True
                        break
                else:
                    cg = _rev_depth[0] > 0 and _state.enabled
            if users and cg:
                raise NotImplementedError(
                    "vjp: higher derivatives (a transform inside another) with respect to a "
                    "value of a user's VSpace are not supported; only first-order reverse mode")
            grads = _reverse(outs, seeds, variables, cg)
            for j, x in users.items():
                grads[j] = user_spaces.gradient_or_zeros(grads[j], x)
            for v, gr in zip(variables, grads):
                want = _levels_of_variable(v)
                if want and not set(want) <= set(batching.batch_levels(gr)):
                    # a gradient physical at a level it should carry (zeros now carry them:
                    # _zero_gradient); kept as a guard, the loop gets it right
                    raise batching.BatchingFallback("vjp: a gradient without its vmap levels")
            keep = cg and not (given_raw and cg == create_graph and _only_own(grads, variables))
            grads = [_give_back(gr, k, keep) for gr, k in zip(grads, kinds)]
            parts = [rb(grads[start:start + n]) for start, n, rb in rebuilds]
            return tuple(parts) if many else parts[0]

        value = rebuild_out([_value_back(_give_back(o, k, create_graph and not given_raw), k)
                             for o, k in zip(outs, out_kinds)])
        return (vjp, value, aux) if has_aux else (vjp, value)

    return maker


def _ones_like(out):
    """Seeds of ones, on each output's device (``ones_like``, not ``o * 0 + 1``: an infinite
    output would give a NaN seed)."""
    leaves, rebuild = flatten(out)
    # a value given back as a number (a float argument's kind) seeds with a number, which
    # the backward pass puts on the output's own device
    return rebuild([1.0 if _is_number(o) else _ones_of(_as_array(o)) for o in leaves])


def _ones_of(a):
    return xp_of(a).ones_like(a)


def _check_scalar(out, who):
    if isinstance(out, (list, tuple, dict)):
        raise TypeError(f"{who}: the function must return a scalar, got a "
                        f"{type(out).__name__}")
    size = _as_array(out).size
    if size != 1:
        shape = out.shape if hasattr(out, "shape") else ()
        raise TypeError(f"{who}: the function must return a scalar, got shape {tuple(shape)}; "
                        "use elementwise_grad, jacobian or make_vjp for non-scalar outputs")


def _check_real(out, who):
    dtype = getattr(_raw(out), "dtype", None)
    if isinstance(out, complex) or (dtype is not None and dtype.kind == "c"):
        raise TypeError(f"{who}: the function returns a complex value; {who} only applies to "
                        "real scalar-valued functions (as in autograd): use holomorphic_grad, "
                        "or differentiate its real part or its absolute value")


def make_vjp(fun, argnum=0):
    """``make_vjp(f, argnum)(*args)`` returns ``(vjp_fn, value)``: ``vjp_fn(g)`` is g^T J.

    >>> import tensorgrad as tg, tensorgrad.numpy as tnp
    >>> vjp_fn, value = tg.make_vjp(tnp.sin)(0.0)
    >>> vjp_fn(2.0)
    2.0
    """
    return _vjp_maker(fun, argnum)


def value_and_grad(fun, argnum=0):
    """``(f(x), df/dx)`` for scalar-valued ``f``, in one pass."""

    maker = _vjp_maker(fun, argnum)

    @functools.wraps(fun)
    def wrapped(*args, **kwargs):
        vjp, value = maker(*args, **kwargs)
        _check_scalar(value, "grad")
        _check_real(value, "grad")
        return value, vjp(1.0)  # a real scalar: the backward pass makes the seed on its device

    return wrapped


def grad(fun, argnum=0):
    """The gradient of a scalar-valued ``fun`` with respect to argument ``argnum`` (an int or a
    tuple). Arrays in, arrays out; floats in, floats out; Tensors in, Tensors out.

    >>> import tensorgrad as tg, tensorgrad.numpy as tnp
    >>> tg.grad(lambda x: tnp.sum(x ** 2))(tnp.array([1.0, 2.0]))
    array([2., 4.])
    """

    vg = value_and_grad(fun, argnum)

    @functools.wraps(fun)
    def gradfun(*args, **kwargs):
        return vg(*args, **kwargs)[1]

    return gradfun


def grad_and_aux(fun, argnum=0):
    """For ``fun`` returning ``(scalar, aux)``: ``(gradient, aux)``."""

    @functools.wraps(fun)
    def wrapped(*args, **kwargs):
        vjp, value, aux = _vjp_maker(fun, argnum, has_aux=True)(*args, **kwargs)
        _check_scalar(value, "grad_and_aux")
        return vjp(_ones_like(value)), aux

    return wrapped


def elementwise_grad(fun, argnum=0):
    """The sum of the Jacobian's rows: the derivative of each output with respect to the
    matching input when ``fun`` acts elementwise."""

    @functools.wraps(fun)
    def wrapped(*args, **kwargs):
        vjp, value = _vjp_maker(fun, argnum)(*args, **kwargs)
        return vjp(_ones_like(value))

    return wrapped


def _shape_of(x):
    return tuple(x.shape) if hasattr(x, "shape") else ()


def _stack(rows, shape):
    from .. import numpy as tnp

    if any(isinstance(r, Tensor) for r in rows):
        return tnp.reshape(tnp.stack([tnp.asarray_keep(r) for r in rows]), shape)
    rows = [_as_array(r) for r in rows]
    return xp_of(rows[0]).stack(rows).reshape(shape)


def _torch_form(second):
    """Whether ``jacobian``/``hessian`` were called as ``torch.autograd.functional``'s
    ``(func, inputs, ...)``: the second argument a Tensor or a tuple of Tensors, where
    autograd's form passes an ``argnum`` (an int, or a tuple of ints)."""
    if isinstance(second, Tensor):
        return True
    return isinstance(second, (tuple, list)) and bool(second) and \
        all(isinstance(t, Tensor) for t in second)


def _torch_derivative(transform, who, func, inputs, create_graph, strict):
    """``torch.autograd.functional.jacobian``/``hessian``: ``transform`` (tg.func's jacrev,
    jacfwd or hessian) over every input; the result detached unless ``create_graph`` (then
    differentiable in the inputs that require grad), nested per output and per input as
    PyTorch's. ``strict=True`` raises where a block is independent of its input (no path in
    the graph: all its entries structurally zero, told by the block's being all zeros)."""
    single = isinstance(inputs, Tensor)
    ins = (inputs,) if single else tuple(inputs)
    argnums = 0 if single else tuple(range(len(ins)))
    res = transform(func, argnums=argnums)(*ins)
    leaves, rebuild = flatten(res)
    if strict:
        for leaf in leaves:
            if not bool(_as_array(leaf).any()):
                raise RuntimeError(f"{who}: in strict mode, an output's derivative is "
                                   "independent of an input (all zero); pass strict=False")
    if not create_graph:
        leaves = [leaf.detach() if isinstance(leaf, Tensor) else leaf for leaf in leaves]
    return rebuild(leaves)


def jacobian(fun, argnum=0, create_graph=False, strict=False, vectorize=False,
             strategy="reverse-mode"):
    """The Jacobian, shaped ``out.shape + x.shape`` (reverse mode, one VJP per output).

    Two forms, told apart by the second argument:

    - autograd's ``jacobian(fun, argnum=0)`` returns a function of ``fun``'s arguments;
    - PyTorch's ``jacobian(func, inputs, create_graph=False, strict=False, vectorize=False,
      strategy="reverse-mode")`` (``inputs`` a Tensor or a tuple of Tensors) returns the
      Jacobian at ``inputs``, a tuple per input (and per output) as
      ``torch.autograd.functional.jacobian``'s; ``strategy="forward-mode"`` uses forward mode.
      ``vectorize`` is accepted: tensorgrad batches the rows either way.

    >>> import tensorgrad as tg
    >>> tg.autograd.functional.jacobian(lambda x: x ** 2, tg.tensor([1.0, 2.0]))
    tensor([[2., 0.],
            [0., 4.]])
    """
    if _torch_form(argnum):
        if strategy not in ("reverse-mode", "forward-mode"):
            raise ValueError(f'jacobian: expected strategy to be either "forward-mode" or '
                             f'"reverse-mode", got {strategy!r}')
        from .. import func as _func

        transform = _func.jacrev if strategy == "reverse-mode" else _func.jacfwd
        return _torch_derivative(transform, "jacobian", fun, argnum, create_graph, strict)

    @functools.wraps(fun)
    def wrapped(*args, **kwargs):
        vjp, value = _vjp_maker(fun, argnum)(*args, **kwargs)
        x = args[argnum]
        out_shape = _shape_of(value)
        raw = _as_array(value)
        n = int(np.prod(out_shape))
        if n:  # all rows from one VJP, vmapped over the basis of cotangents; else row by row
            eye = xp_of(raw).eye(n, dtype=raw.dtype if raw.dtype.kind in "fc" else np.float64)
            got = vmapped_rows(vjp, eye.reshape((n,) + out_shape))
            if got is not None:
                phys = got[0]
                if isinstance(x, Tensor) and not isinstance(phys, Tensor):
                    phys = _new_tensor(phys, None, False)  # the loop's rows are Tensors too
                elif isinstance(phys, Tensor) and not isinstance(x, Tensor) and \
                        not isinstance(value, Tensor) and _only_own([phys], ()):
                    phys = phys.data  # nested, on arrays, reading nothing enclosing: raw
                shape = out_shape + _shape_of(x)
                return phys.reshape(shape) if isinstance(phys, Tensor) else \
                    xp_of(phys).reshape(phys, shape)
        rows = []
        for k in range(int(np.prod(out_shape))):
            basis = xp_of(raw).zeros(raw.size, dtype=raw.dtype if raw.dtype.kind in "fc"
                                     else np.float64)
            basis[k] = 1
            rows.append(vjp(basis.reshape(out_shape)))
        return _stack(rows, out_shape + _shape_of(x))

    return wrapped


def vmapped_rows(call, basis):
    """``call`` (a VJP) applied to every slice of ``basis`` at once (a Batched at a new
    level): the physical leaves of its result (the batch first; lower levels, such as an
    outer vmap's or jvp's, stay in them), or None where that cannot run (an error), counted
    as a fallback; the caller then loops over the slices, which gives the answer or the error
    to report. A VJP is linear in its cotangent: a leaf without the batch does not depend on
    it (the zeros of an output that ignores the variable) and is the same in every row."""
    got = vmapped_call(call, basis)
    if got is None:
        return None
    return [g if batched else _repeated(g, basis.shape[0]) for batched, g in got[0]]


def _repeated(x, n):
    """``x`` repeated ``n`` times along a new first dimension, in an array of its own (as a
    loop's stack gives, never a read-only broadcast view)."""
    from ..ops import copy

    b = batching.broadcast_batch(x, n)
    return copy(b) if isinstance(b, Tensor) else b.copy()


def vmapped_call(call, basis, open_level=False):
    """``call`` applied to every slice of ``basis`` at once (a Batched at a new level).
    ``open_level``: the level is open while ``call`` runs, as inside ``vmap``, so that a
    reverse transform in ``call`` gives each slice its own variable (jacfwd over jacrev).
    Returns ``(leaves, rebuild)``: per leaf of the result ``(True, physical value, the batch
    first)`` or ``(False, leaf)`` for a leaf that does not depend on the batch; None where
    ``call`` raised (counted as a fallback: the caller loops over the slices, which gives the
    answer or the error to report)."""
    level = new_level()
    if open_level:
        batching.OPEN.append((level, basis.shape[0]))
    try:
        leaves, rebuild = flatten(call(batching.make_batched(basis, level)))
    except Exception as e:
        batching.STATS["fallback"] += 1
        batching.STATS["reason"] = e
        return None
    finally:
        if open_level:
            batching.OPEN.pop()
    out = []
    for g in leaves:
        if batching.is_batched_at(g, level):
            out.append((True, _owned(g._primal)))
        else:  # levels are made in order: what is not at this level carries only older ones
            out.append((False, g))
    return out, rebuild


def _owned(x):
    """``x``, or a copy of it when its array is a broadcast view (a zero stride: the batched
    VJP of ``sum`` broadcasts its cotangent), so that the Jacobians and Hessians built from it
    are arrays of their own that a user can write into, as a loop's stack gives."""
    from ..ops import copy

    raw = _bottom(x)
    raw = raw.data if isinstance(raw, Tensor) else raw
    if 0 not in getattr(raw, "strides", (1,)) or getattr(raw, "size", 0) < 2:
        return x
    return copy(x) if isinstance(x, Tensor) else x.copy()


# ---- forward mode -----------------------------------------------------------------------
def _jvp_core(fun, args, kwargs, nums, tangents):
    level = new_level()
    home = functools.partial(_home_xp, args, kwargs)
    args = list(args)
    kinds = []
    for i, t in zip(nums, tangents):
        leaves, rebuild = flatten(args[i])
        tleaves, _ = flatten(t)
        if len(tleaves) != len(leaves):
            raise ValueError(f"jvp: the tangent has {len(tleaves)} parts but the argument has "
                             f"{len(leaves)}")
        duals = []
        for x, t_leaf in zip(leaves, tleaves):
            kinds.append(_kind(x))
            xv = x if isinstance(x, Tensor) else _as_float_array(
                x, home() if _is_number(x) else np)
            # a number given as a tangent lives where its primal does
            tv = t_leaf if isinstance(t_leaf, Tensor) else _as_float_array(
                t_leaf, xp_of(_raw(_bottom(xv))) if _is_number(t_leaf) else np)
            if _shape_of(tv) != _shape_of(xv):
                raise ValueError(f"jvp: tangent shape {_shape_of(tv)} does not match the "
                                 f"argument's shape {_shape_of(xv)}")
            duals.append(make_dual(xv, level, tv))
        args[i] = rebuild(duals)
    _REBIND.append(True)  # autograd's in-place semantics, unless fun is torch.func's
    _state.dual_levels += 1
    try:
        out = fun(*args, **kwargs)
    finally:
        _REBIND.pop()
        _state.dual_levels -= 1
    kind = kinds[0] if kinds else "array"
    outs, rebuild_out = flatten(out)
    pairs = []
    for o in outs:
        primal, tangent = split(o, level)
        if tangent is None:
            tangent = _zeros_like_raw(primal)
        if kind == "tensor" and not isinstance(primal, Tensor):
            primal = _new_tensor(primal, None, False)
        if kind == "tensor" and not isinstance(tangent, Tensor):
            tangent = _new_tensor(tangent, None, False)
        pairs.append((primal, tangent))
    # nested in another transform, on arrays, with results on a tape (a transform inside fun)
    # that reads nothing enclosing: raw results, as the top-level call gives
    keep = not (kind != "tensor" and _ACTIVE and _only_own([v for p in pairs for v in p], ()))
    return (rebuild_out([_give_back(p, kind, keep) for p, _ in pairs]),
            rebuild_out([_give_back(t, kind, keep) for _, t in pairs]))


def make_jvp(fun, argnum=0):
    """``make_jvp(f, argnum)(*args)`` returns ``v -> (f(x), J v)`` (true forward mode).

    >>> import tensorgrad as tg, tensorgrad.numpy as tnp
    >>> tg.make_jvp(tnp.sin)(0.0)(3.0)
    (0.0, 3.0)
    """
    nums, many = _argnums(argnum)

    def maker(*args, **kwargs):
        def at(v):
            return _jvp_core(fun, args, kwargs, nums, tuple(v) if many else (v,))

        return at

    return maker


def jvp(fun, primals, tangents=None, create_graph=False, strict=False):
    """JAX's form: ``jvp(f, (x, ...), (v, ...))`` returns ``(f(x, ...), J v)``. PyTorch's
    ``torch.autograd.functional.jvp(func, inputs, v=None, create_graph=False, strict=False)``
    is the same call, also with a single Tensor for ``inputs`` and ``v`` (then single results),
    ``v`` left out for a single-element input, and results detached unless ``create_graph``
    (``strict`` is accepted)."""
    if isinstance(primals, Tensor):  # PyTorch's form with one input
        if tangents is None:
            if primals.numel() != 1:
                raise RuntimeError("jvp: v can only be None if the input to the user-provided "
                                   f"function is a single element, got shape "
                                   f"{tuple(primals.shape)}")
            tangents = _new_tensor(_ones_of(_as_array(primals)), None, False)
        out, tan = jvp(fun, (primals,), (tangents,))
        if not create_graph:
            out = out.detach() if isinstance(out, Tensor) else out
            tan = tan.detach() if isinstance(tan, Tensor) else tan
        return out, tan
    if tangents is None:
        raise RuntimeError("jvp: give v (the tangents) for several inputs")
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    if _torch_form(primals) and not (_REBIND and _REBIND[-1]):
        # Tensors in, and not inside an autograd-style transform (whose semantics an inner
        # call keeps): PyTorch's in-place semantics inside fun
        fun = torch_inplace(fun)
    return _jvp_core(fun, primals, {}, tuple(range(len(primals))), tangents)


_TORCH_VJP_KEYWORDS = frozenset(("inputs", "v", "create_graph", "strict"))


def vjp(fun, *primals, **torch_kw):
    """JAX's form: ``vjp(f, x, ...)`` returns ``(f(x, ...), vjp_fn)`` with ``vjp_fn(g)`` a tuple
    of one cotangent per primal.

    PyTorch's ``torch.autograd.functional.vjp(func, inputs, v=None, create_graph=False,
    strict=False)`` returns ``(func(inputs), vjp)`` instead; it is taken where the call says
    so: one of its keywords is given, or ``inputs`` (a Tensor or a tuple of Tensors) is
    followed by ``v`` and ``func`` takes exactly as many arguments as there are inputs."""
    if torch_kw or _torch_vjp_call(fun, primals):
        unknown = set(torch_kw) - _TORCH_VJP_KEYWORDS
        if unknown:
            raise TypeError(f"vjp() got unexpected keyword arguments {sorted(unknown)}")
        inputs = primals[0] if primals else torch_kw.get("inputs")
        v = primals[1] if len(primals) > 1 else torch_kw.get("v")
        return _torch_vjp(fun, inputs, v, torch_kw.get("create_graph", False))
    fn, value = _vjp_maker(fun, tuple(range(len(primals))))(*primals)
    return value, fn


def _torch_vjp_call(fun, primals):
    if len(primals) != 2 or not _torch_form(primals[0]):
        return False
    n = 1 if isinstance(primals[0], Tensor) else len(primals[0])
    try:
        params = inspect.signature(fun).parameters.values()
    except (TypeError, ValueError):
        return False
    kinds = [p.kind for p in params]
    if inspect.Parameter.VAR_POSITIONAL in kinds:
        return False
    required = sum(1 for p in params if p.default is p.empty and p.kind in (
        inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD))
    return required == n


def _torch_vjp(fun, inputs, v, create_graph):
    """PyTorch's vjp: ``(func(inputs), v^T J)``, single results for a single Tensor input, the
    results detached unless ``create_graph``; ``v`` may be left out for a one-element output."""
    from .. import func as _func

    single = isinstance(inputs, Tensor)
    ins = (inputs,) if single else tuple(inputs)
    out, vjp_fn = _func.vjp(fun, *ins)
    if v is None:
        if not isinstance(out, Tensor) or out.numel() != 1:
            raise RuntimeError("vjp: the vector v can only be None if the user-provided "
                               "function returns a single Tensor with a single element")
        v = _new_tensor(_ones_of(_as_array(out)), None, False)
    grads = vjp_fn(v)
    if not create_graph:
        out = out.detach() if isinstance(out, Tensor) else out
        grads = tuple(g.detach() if isinstance(g, Tensor) else g for g in grads)
    return out, (grads[0] if single else grads)


def deriv(fun, argnum=0):
    """The directional derivative along ones (forward mode): ``f'(x)`` for scalar ``x``."""

    @functools.wraps(fun)
    def wrapped(*args, **kwargs):
        x = args[argnum]
        xp = _home_xp(args, kwargs) if _is_number(x) else np
        ones = _ones_of(_as_float_array(_bottom(x), xp))
        return make_jvp(fun, argnum)(*args, **kwargs)(ones)[1]

    return wrapped


def hessian(fun, argnum=0, create_graph=False, strict=False, vectorize=False,
            outer_jacobian_strategy="reverse-mode"):
    """The Hessian of a scalar function, shaped ``x.shape + x.shape``: forward mode over
    reverse mode, one JVP of the gradient per input element.

    When ``x`` carries no derivative of an outer transform, the gradient is recorded on the
    tape once and blocks of columns are forward sweeps of JVP rules over that recording, the
    tangent a block of basis directions batched (no new graph per column); otherwise all
    columns come from one ``jvp`` of ``grad`` whose tangent is the basis batched, or one
    nested ``jvp`` per column where that cannot run batched.

    >>> import tensorgrad as tg, tensorgrad.numpy as tnp
    >>> tg.hessian(lambda x: tnp.sum(x ** 3))(tnp.array([1.0, 2.0]))
    array([[ 6.,  0.],
           [ 0., 12.]])

    Called as PyTorch's ``hessian(func, inputs, create_graph=False, strict=False,
    vectorize=False, outer_jacobian_strategy="reverse-mode")`` (``inputs`` a Tensor or a tuple
    of Tensors), it returns the Hessian at ``inputs``, a tuple of tuples for several inputs, as
    ``torch.autograd.functional.hessian``'s.
    """
    if _torch_form(argnum):
        if outer_jacobian_strategy not in ("reverse-mode", "forward-mode"):
            raise ValueError(f'hessian: expected outer_jacobian_strategy to be either '
                             f'"forward-mode" or "reverse-mode", got {outer_jacobian_strategy!r}')
        from .. import func as _func

        return _torch_derivative(_func.hessian, "hessian", fun, argnum, create_graph, strict)
    gradfun = grad(fun, argnum)

    @functools.wraps(fun)
    def wrapped(*args, **kwargs):
        x = args[argnum]
        xs = _shape_of(x)
        raw = _as_float_array(_bottom(x), _home_xp(args, kwargs) if _is_number(x) else np)
        xp = xp_of(raw)
        basis = xp.eye(raw.size, dtype=raw.dtype)  # on the argument's device
        nested = isinstance(x, Tensor) and (x._level or x._rg) or _rev_depth[0] > 0
        if nested:
            at = make_jvp(gradfun, argnum)(*args, **kwargs)
            # all columns from ONE jvp whose tangent is the whole basis (batched); else one
            # jvp per column
            got = vmapped_call(lambda e: at(e)[1], basis.reshape((raw.size,) + xs),
                               open_level=True) if raw.size else None
            if got is not None:
                batched, H = got[0][0]
                if not batched:  # the gradient does not depend on x
                    H = batching.broadcast_batch(H, raw.size)
                if isinstance(x, Tensor) and not isinstance(H, Tensor):
                    H = _new_tensor(H, None, False)  # as the loop's stack of Tensor columns
                elif isinstance(H, Tensor) and not isinstance(x, Tensor) and _only_own([H], ()):
                    H = H.data  # nested, on arrays, reading nothing enclosing: raw
                return H.reshape(xs + xs) if isinstance(H, Tensor) else \
                    xp_of(H).reshape(H, xs + xs)
            try:
                cols = [at(e.reshape(xs))[1] for e in basis]
            except MissingRuleError:  # a primitive without a JVP: reverse over reverse
                return jacobian(gradfun, argnum)(*args, **kwargs)
            return _stack(cols, xs + xs)
        H = _hessian_on_tape(fun, argnum, args, kwargs)
        if H is None:  # a primitive without a JVP: reverse over reverse, as autograd
            return jacobian(gradfun, argnum)(*args, **kwargs)
        return _give_back(_new_tensor(H, None, False), _kind(x), False)

    return wrapped


def _hessian_on_tape(fun, argnum, args, kwargs, check=None, whole=False):
    """The Hessian of ``fun`` at ``args[argnum]`` (which carries no derivative of an outer
    transform), as an array shaped ``x.shape + x.shape``: the gradient recorded on the tape
    ONCE, then forward sweeps of JVP rules over that recording with blocks of basis
    directions batched; the variable is never copied per direction. None where a primitive
    lacks a JVP rule. ``check(out)`` vets the function's value (default: a scalar).
    ``whole``: the sweep also runs the forward pass's own JVP rules, as forward over reverse
    with duals does (where they are not needed for the gradient's tangent too), so that a
    rule it cannot run gives the same fallback as there."""
    x = args[argnum]
    xs = _shape_of(x)
    raw = _as_float_array(_bottom(x), _home_xp(args, kwargs) if _is_number(x) else np)
    xp = xp_of(raw)
    basis = xp.eye(raw.size, dtype=raw.dtype)  # on the argument's device
    outer = _state.enabled
    variable, g, out = _recorded_grad(fun, argnum, args, kwargs, check)
    if level_of(out) or outer and _reads_outer_tape([out], [variable]):
        return None  # differentiable in a tensor the function closes over (an outer jvp's
        # dual, a parameter): the caller's general path keeps that derivative
    if not isinstance(g, Tensor) or not g._rg:
        cols = [xp.zeros(xs, dtype=basis.dtype) for _ in basis]
    else:
        # the gradient's node last (the walk takes the last root first): its tangent comes back
        order = _postorder([_vertex(g), _vertex(out)], {variable}) if whole else \
            tape_order(_vertex(g), variable)
        if lacks_jvp(order):
            return None
        cols = _batched_sweep(order, variable, basis, xs)
        if cols is None:  # a rule the batched sweep cannot run: one sweep per column
            cols = []
            for e in basis:
                c = forward_sweep(order, variable, e.reshape(xs))
                cols.append(xp.zeros(xs, basis.dtype) if c is None else _as_array(c))
    H = xp.stack(cols).reshape(xs + xs)
    # columns are d(grad)/dx_k; for a smooth f the Hessian is symmetric, and its layout is
    # H[i, j] = d2f / dx_i dx_j
    return xp.moveaxis(H.reshape(raw.size, raw.size), 0, 1).reshape(xs + xs)


def _batched_sweep(order, variable, basis, xs):
    """All the Hessian's columns in ONE forward sweep: the tangent is the whole basis, batched
    (vmap's Batched), so each JVP rule runs once on the stacked directions. None where the
    sweep cannot run batched (a rule reading arrays): the caller sweeps column by column."""
    n = basis.shape[0]
    # directions per sweep: the batched intermediates stay about cache-sized (one huge sweep
    # is memory-bound and measured slower than the loop on W6; tiny ones pay per-op overhead;
    # 16384 elements, 128 KiB of float64, measured best on W6 once forward_sweep frees each
    # tangent after its last use)
    widest = max([getattr(nd.ans, "size", 1) or 1 for nd in order] + [1])
    chunk = max(1, min(n, _SWEEP_ELEMENTS[0] // widest))
    parts = []
    for start in range(0, n, chunk):
        block = basis[start:start + chunk]
        level = new_level()
        try:
            c = forward_sweep(order, variable, batching.make_batched(
                block.reshape((block.shape[0],) + xs), level))
        except Exception as e:
            batching.STATS["fallback"] += 1  # counted as vmapped_call counts its own
            batching.STATS["reason"] = e
            return None
        if c is None:
            parts.append(xp_of(basis).zeros((block.shape[0],) + xs, dtype=basis.dtype))
            continue
        if not batching.is_batched_at(c, level) or level_of(c._primal):
            batching.STATS["fallback"] += 1
            return None
        phys = _as_array(c._primal)
        if phys.shape != (block.shape[0],) + xs:
            return None
        parts.append(phys)
    return parts[0] if len(parts) == 1 else xp_of(basis).concatenate(parts)


_SWEEP_ELEMENTS = [16384]


def _recorded_grad(fun, argnum, args, kwargs, check=None):
    """(variable, gradient): the gradient of ``fun`` at ``args[argnum]`` recorded on the tape
    as a function of ``variable``."""
    x = args[argnum]
    variable = _new_tensor(_as_float_array(x, _home_xp(args, kwargs) if _is_number(x) else np),
                           None, True)
    args = list(args)
    args[argnum] = variable
    _rev_depth[0] += 1
    _REBIND.append(True)
    prev = _state.enabled
    _state.enabled = True
    try:
        out = fun(*args, **kwargs)
        if check is None:
            _check_scalar(out, "hessian")
        else:
            check(out)
        if not isinstance(out, Tensor) or not out._rg:
            return variable, None, out
        seed = _new_tensor(_ones_like(out), None, False)
        g, = run_backward([_vertex(out)], [seed], retain_graph=True, create_graph=True,
                          targets=[variable], prune=True)
    finally:
        _rev_depth[0] -= 1
        _REBIND.pop()
        _state.enabled = prev
    return variable, g, out


def make_ggnvp(f, g=None, f_argnum=0):
    """autograd's generalized Gauss-Newton products: ``make_ggnvp(f, g)(x)`` returns
    ``v -> J^T H_g J v`` with ``J`` the Jacobian of ``f`` at ``x`` and ``H_g`` the Hessian of
    ``g`` at ``f(x)`` (``g`` defaults to half the squared norm over the last axis). The
    ``J v`` product is the transpose of the VJP, so no JVP rule is needed.

    >>> import numpy as np, tensorgrad as tg
    >>> tg.make_ggnvp(lambda x: 2 * x)(np.ones(2))(np.array([1.0, 0.0]))
    array([4., 0.])
    """
    if g is None:
        def g(y):
            from .. import numpy as tnp

            return 0.5 * tnp.sum(y ** 2, axis=-1)

    def maker(*args, **kwargs):
        f_vjp, f_x = make_vjp(f, f_argnum)(*args, **kwargs)
        g_hvp, grad_g_x = make_vjp(grad(g))(f_x)
        f_jvp, _ = make_vjp(f_vjp)(_zeros_like_raw(grad_g_x))

        def ggnvp(v):
            return f_vjp(g_hvp(f_jvp(v)))

        return ggnvp

    return maker


def make_jvp_reversemode(fun, argnum=0):
    """autograd's JVP by reverse mode twice: ``make_jvp_reversemode(f)(x)`` returns
    ``v -> J v`` computed as the transpose of the VJP (no JVP rule needed)."""

    def maker(*args, **kwargs):
        vjp_fn, y = make_vjp(fun, argnum)(*args, **kwargs)
        return make_vjp(vjp_fn)(_zeros_like_raw(y))[0]

    return maker


def grad_named(fun, argname):
    """The gradient with respect to the argument named ``argname``."""
    import inspect

    names = list(inspect.signature(fun).parameters)
    if argname not in names:
        raise ValueError(f"grad_named: {_name(fun)} has no argument {argname!r} "
                         f"(its arguments: {', '.join(names)})")
    return grad(fun, names.index(argname))


def multigrad_dict(fun):
    """``multigrad_dict(f)(*args, **kwargs)``: a dict from each named argument to the
    gradient of ``f`` with respect to it."""
    import inspect
    from collections import OrderedDict

    sig = inspect.signature(fun)
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD,
             inspect.Parameter.KEYWORD_ONLY)
    names = [n for n, p in sig.parameters.items() if p.kind in kinds]

    @functools.wraps(fun)
    def wrapped(*args, **kwargs):
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()

        def of_named(values):
            b = sig.bind(*args, **kwargs)
            b.apply_defaults()
            b.arguments.update(values)
            return fun(*b.args, **b.kwargs)

        grads = grad(of_named)(OrderedDict((n, bound.arguments[n]) for n in names))
        return OrderedDict((n, grads[n]) for n in names)

    return wrapped


def make_hvp(fun, argnum=0):
    """``make_hvp(f)(x)`` returns ``(hvp_fn, grad_value)``; ``hvp_fn(v)`` is H v."""
    return make_vjp(grad(fun, argnum), argnum)


def hessian_tensor_product(fun, argnum=0):
    """``hessian_tensor_product(f)(x, v)`` is the Hessian of ``f`` at ``x`` contracted with
    ``v`` over all of ``v``'s axes."""
    from .. import numpy as tnp

    fun_grad = grad(fun, argnum)

    def vector_dot_grad(*args, **kwargs):
        args, vector = args[:-1], args[-1]
        return tnp.tensordot(fun_grad(*args, **kwargs), vector, _ndim(vector))

    return grad(vector_dot_grad, argnum)


hessian_vector_product = hessian_tensor_product


def _ndim(x):
    x = _raw(x)
    return x.ndim if hasattr(x, "ndim") else np.ndim(x)


def tensor_jacobian_product(fun, argnum=0):
    """``tensor_jacobian_product(f)(x, v)`` is ``v`` contracted with the Jacobian of ``f``."""
    from .. import numpy as tnp

    def vector_dot_fun(*args, **kwargs):
        args, vector = args[:-1], args[-1]
        return tnp.tensordot(vector, fun(*args, **kwargs), axes=_ndim(vector))

    return jacobian(vector_dot_fun, argnum)


vector_jacobian_product = tensor_jacobian_product


def holomorphic_grad(fun, argnum=0):
    """f'(z) for a holomorphic ``f`` of a complex argument (autograd's convention)."""
    from .. import numpy as tnp

    def real_part(*args, **kwargs):
        return tnp.real(fun(*args, **kwargs))

    # Rules follow autograd's complex convention (the VJP of a holomorphic op is g * f'(z), no
    # conjugate), so the gradient of Re f is f'(z) itself.
    return functools.wraps(fun)(grad(real_part, argnum))


def checkpoint(fun):
    """``fun`` whose intermediate values are not kept for the backward pass but recomputed
    then: memory for time. ``fun`` takes and returns arrays."""
    from ..ops.registry import defjvp, defvjp, primitive

    prim = primitive(lambda *args: _plain(fun(*args)), name=f"checkpoint({_name(fun)})")
    n_max = 32
    defvjp(prim, *[(lambda i: lambda g, ans, *args: make_vjp(fun, i)(*args)[0](g))(i)
                   for i in range(n_max)])
    defjvp(prim, *[(lambda i: lambda t, ans, *args: make_jvp(fun, i)(*args)(t)[1])(i)
                   for i in range(n_max)])
    return functools.wraps(fun)(prim)


def _plain(x):
    return x.data if isinstance(x, Tensor) else x


def _name(f):
    return getattr(f, "__name__", "f")


def _grad_into_inputs(out, seed, inputs, retain_graph, create_graph):
    """``out.backward(inputs=[...])``: accumulate only into the given tensors' ``.grad``."""
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    res = run_backward([_vertex(out)], [seed], retain_graph, create_graph,
                       targets=[_vertex(t) for t in inputs])
    for t, g in zip(inputs, res):
        if g is None:
            continue
        g = g if isinstance(g, Tensor) else _new_tensor(g.copy(), None, False)
        t.grad = g if t.grad is None else t.grad + g


def autograd_grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
                  only_inputs=True, allow_unused=None, is_grads_batched=False,
                  materialize_grads=False):
    """PyTorch's ``torch.autograd.grad``: gradients of ``outputs`` with respect to ``inputs``,
    returned (not accumulated into ``.grad``). ``materialize_grads=True`` gives zeros (not
    None) for inputs the outputs do not depend on, and implies ``allow_unused``;
    ``only_inputs`` is accepted and ignored, as PyTorch does. ``is_grads_batched=True``: the
    first dimension of every ``grad_outputs`` tensor is a batch of cotangents, and each
    gradient gets that dimension in front (one vector-Jacobian product per row, as PyTorch's
    vmap over them gives: rows of a Jacobian, Jacobian penalties)."""
    if is_grads_batched:
        return _grads_batched(outputs, inputs, grad_outputs, retain_graph, create_graph,
                              allow_unused, materialize_grads)
    if allow_unused is None:
        allow_unused = materialize_grads
    elif materialize_grads and not allow_unused:
        raise ValueError("grad: materialize_grads=True needs allow_unused=True or unset")
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    seeds = []
    for i, (o, g) in enumerate(zip(outputs, grad_outputs)):
        if g is None:
            if o.data.size != 1:
                raise RuntimeError(f"grad: grad_outputs is required for an output of shape "
                                   f"{tuple(o.shape)}; pass a tensor of that shape")
            g = _ones_of(o.data)
        elif not (isinstance(g, Tensor) and g._level) and not level_of(o):
            seed = checked_seed(g, o, f"grad: grad_outputs[{i}]")
            g = g if isinstance(g, Tensor) else seed
        seeds.append(g if create_graph and isinstance(g, Tensor) else _raw(g))
    if any(level_of(t) for t in outputs + inputs + seeds):
        return _autograd_grad_duals(outputs, seeds, inputs, create_graph)
    if retain_graph is None:
        retain_graph = create_graph
    res = run_backward([_vertex(o) for o in outputs], seeds, retain_graph, create_graph,
                       targets=[_vertex(t) for t in inputs])
    out = []
    for t, g in zip(inputs, res):
        if g is None and materialize_grads:
            g = _zeros_like_raw(t)
        if g is None and not allow_unused:
            raise RuntimeError("grad: one of the inputs was not used to compute the outputs; "
                               "pass allow_unused=True to get None for it")
        if g is not None and g.dtype.kind == "c":
            g = g.conj()  # PyTorch's convention, as for .grad
        out.append(g if g is None or isinstance(g, Tensor) else _new_tensor(g, None, False))
    return tuple(out)


def _grads_batched(outputs, inputs, grad_outputs, retain_graph, create_graph, allow_unused,
                   materialize_grads):
    """``autograd_grad`` with ``is_grads_batched``: one pass per row of the cotangents, each
    keeping the graph but the last, the rows' gradients stacked."""
    from ..ops.shape import stack_

    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    seeds = [grad_outputs] if isinstance(grad_outputs, Tensor) else list(grad_outputs or ())
    if len(seeds) != len(outs) or not all(isinstance(g, Tensor) for g in seeds):
        raise RuntimeError("grad: is_grads_batched=True needs a grad_outputs tensor for every "
                           "output, with the batch as its first dimension")
    for o, g in zip(outs, seeds):
        if g.ndim != o.ndim + 1 or tuple(g.shape[1:]) != tuple(o.shape) or \
                g.shape[0] != seeds[0].shape[0]:
            raise RuntimeError(f"grad: with is_grads_batched=True, grad_outputs of shape "
                               f"{tuple(g.shape)} must be (batch, *{tuple(o.shape)}), one batch "
                               "size for all outputs")
    batch = seeds[0].shape[0]
    if batch == 0:
        raise RuntimeError("grad: is_grads_batched=True with an empty batch of grad_outputs")
    if allow_unused is None:
        allow_unused = materialize_grads
    rows = [autograd_grad(outs, inputs, [g[i] for g in seeds],
                          retain_graph=True if i < batch - 1 else retain_graph,
                          create_graph=create_graph, allow_unused=allow_unused)
            for i in range(batch)]
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    out = []
    for t, column in zip(inputs, zip(*rows)):
        if column[0] is not None:
            out.append(stack_(0, *column))
        elif materialize_grads:  # zeros of the input's own shape, without the batch (PyTorch)
            out.append(_new_tensor(_zeros_like_raw(t), None, False))
        else:
            out.append(None)
    return tuple(out)


def _autograd_grad_duals(outputs, seeds, inputs, create_graph):
    """``torch.autograd.grad`` where forward-mode duals are involved (forward over reverse):
    the gradient with respect to the tape tensor under each input, as a dual whose tangent is
    the derivative of the gradient along the inputs' tangents (a Hessian-vector product)."""
    variables = []
    for k, t in enumerate(inputs):
        b = _bottom(t)
        if not isinstance(b, Tensor) or not b._rg:
            raise RuntimeError(f"grad: input {k} (shape {tuple(t.shape)}) does not require "
                               "grad; make the dual of a tensor with requires_grad=True")
        variables.append(b)
    res = _reverse(list(outputs), list(seeds), variables, create_graph)
    return tuple(g if isinstance(g, Tensor) else _new_tensor(g, None, False) for g in res)


# ---- torch.autograd.functional's Hessian products ------------------------------------------
def _torch_tuple(x, who, what):
    single = isinstance(x, Tensor)
    xs = (x,) if single else tuple(x)
    for k, t in enumerate(xs):
        if not isinstance(t, Tensor):
            raise TypeError(f"{who}: element {k} of {what} must be a Tensor, got "
                            f"{type(t).__name__}")
    return single, xs


def _grads_or_zeros(outs, wrt, seeds, create_graph):
    """``autograd.grad`` of the outputs that depend on anything, zeros where an input is unused
    (the second list says which were)."""
    pairs = [(o, s) for o, s in zip(outs, seeds) if o.requires_grad]
    if not pairs:
        return [None] * len(wrt)
    return list(autograd_grad([o for o, _ in pairs], list(wrt), [s for _, s in pairs],
                              retain_graph=True, create_graph=create_graph,
                              allow_unused=True))


def _hessian_product(func, inputs, v, create_graph, strict, who):
    from .grad_mode import enable_grad

    single, xs = _torch_tuple(inputs, who, "inputs")
    if v is None:
        if len(xs) != 1 or xs[0].data.size != 1:
            raise RuntimeError(f"{who}: v can only be None if the input to the function is a "
                               "single Tensor with a single element")
        vs = (_new_tensor(_ones_of(xs[0].data), None, False),)
    else:
        _, vs = _torch_tuple(v, who, "v")
        if len(vs) != len(xs):
            raise RuntimeError(f"{who}: v has {len(vs)} tensors but there are {len(xs)} inputs")
        for k, (t, x) in enumerate(zip(vs, xs)):
            if tuple(t.shape) != tuple(x.shape):
                raise RuntimeError(f"{who}: v[{k}] has shape {tuple(t.shape)} but input {k} "
                                   f"has shape {tuple(x.shape)}")
    with enable_grad():
        # an input that carries history keeps it when the result must be differentiable
        xs = [_alias(x) if create_graph and x.requires_grad
              else x.detach().requires_grad_(True) for x in xs]
        out = func(*xs)
        if not isinstance(out, Tensor) or out.data.size != 1:
            shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise RuntimeError(f"{who}: the function must return a single-element Tensor, got "
                               f"{shape}")
        g = _grads_or_zeros([out], xs, [None], True)
        for k, gk in enumerate(g):
            if strict and (gk is None or not gk.requires_grad):
                raise RuntimeError(f"{who}: in strict mode, the jacobian of the function with "
                                   f"respect to input {k} is independent of the input (is the "
                                   "function linear in it?)")
        g_used = [gk for gk in g if gk is not None]
        if who == "vhp":  # v^T H: the gradient of <grad, v>
            seeds = [vk for gk, vk in zip(g, vs) if gk is not None]
            res = _grads_or_zeros(g_used, xs, seeds, create_graph)
        else:  # H v, by the double-backward trick: d/du <H^T u, v> with u a dummy
            us = [_new_tensor(_zeros_like_raw(x), None, True) for x in xs]
            hu = _grads_or_zeros(g_used, xs, us, True)
            hu_used = [(h, vk) for h, vk in zip(hu, vs) if h is not None]
            res = _grads_or_zeros([h for h, _ in hu_used], us, [vk for _, vk in hu_used],
                                  create_graph)
    res = [_new_tensor(_zeros_like_raw(x), None, False) if r is None else r
           for r, x in zip(res, xs)]
    if not create_graph:
        out = out.detach()
        res = [r.detach() for r in res]
    return out, (res[0] if single else tuple(res))


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """PyTorch's ``torch.autograd.functional.vhp``: ``(func(*inputs), v^T H)`` for a function
    returning a single-element tensor, with ``H`` its Hessian at ``inputs`` (a tensor or a
    tuple of tensors; ``v`` of the same structure). Results are detached unless
    ``create_graph``; ``strict`` raises where a derivative is independent of an input.

    >>> import tensorgrad as tg
    >>> x = tg.tensor([1.0, 2.0])
    >>> tg.autograd.functional.vhp(lambda x: (x ** 3).sum(), x, tg.ones(2))[1]
    tensor([ 6., 12.])
    """
    return _hessian_product(func, inputs, v, create_graph, strict, "vhp")


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """PyTorch's ``torch.autograd.functional.hvp``: ``(func(*inputs), H v)``; arguments as
    :func:`vhp` (equal for twice continuously differentiable functions, whose Hessian is
    symmetric). Computed by reverse over reverse, so every op with a differentiable VJP works.

    >>> import tensorgrad as tg
    >>> x = tg.tensor([1.0, 2.0])
    >>> tg.autograd.functional.hvp(lambda x: (x ** 3).sum(), x, tg.ones(2))[1]
    tensor([ 6., 12.])
    """
    return _hessian_product(func, inputs, v, create_graph, strict, "hvp")


__all__ = ["grad", "value_and_grad", "grad_and_aux", "elementwise_grad", "jacobian", "hessian",
           "make_vjp", "make_jvp", "make_hvp", "make_ggnvp", "make_jvp_reversemode", "grad_named",
           "multigrad_dict", "hessian_tensor_product", "hessian_vector_product",
           "tensor_jacobian_product", "vector_jacobian_product", "deriv", "holomorphic_grad",
           "checkpoint", "vjp", "jvp", "autograd_grad", "Dual", "Node", "hvp", "vhp"]
