"""PyTorch's ``torch.func`` (functorch): composable function transforms, with torch's names,
signatures and return structures.

``grad``, ``grad_and_value``, ``vjp``, ``jvp``, ``jacrev``, ``jacfwd``, ``hessian`` and
``linearize`` are thin layers over tensorgrad's own transforms (``autograd/functional.py``:
reverse mode on the tape, forward mode with dual levels), so they nest with each other and with
``tg.grad`` & co. ``vmap`` runs the function ONCE on batched values (``autograd/batching.py``:
each primitive is called once on arrays with the batch dimension, as torch.func and JAX do) and
falls back to a loop over slices, joined with the differentiable ``stack``, wherever the
batched path cannot go (code that reads a batched tensor's ``.data``, say).
``functional_call`` runs a module with given tensors in place of its parameters and buffers;
``stack_module_state`` stacks the state of several models for ensembling with ``vmap``.

Per-sample gradients, the flagship use:

>>> import tensorgrad as tg
>>> from tensorgrad.func import functional_call, grad, vmap
>>> model = tg.nn.Linear(3, 1)
>>> params = {k: v.detach() for k, v in model.named_parameters()}
>>> def loss(params, x, y):
...     return ((functional_call(model, params, (x,)) - y) ** 2).sum()
>>> x, y = tg.randn(5, 3), tg.randn(5, 1)
>>> per_sample = vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)
>>> per_sample["weight"].shape, per_sample["bias"].shape
((5, 1, 3), (5, 1))
"""

import contextlib
import functools

from .autograd import batching as _batching
from .autograd import functional as _functional
from .autograd.forward import level_of, new_level, split
from .autograd.functional import (
    _check_real,
    _shape_of,
    _stack,
    _vjp_maker,
    _zeros_like_raw,
    make_jvp,
    torch_inplace,
    vmapped_call,
    vmapped_rows,
)
from .autograd.functional import jvp as _jvp
from .autograd.rules import MissingRuleError
from .autograd.tree import flatten
from .backend.device import xp_of
from .tensor import Tensor, _new_tensor

__all__ = ["grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd", "hessian", "linearize",
           "vmap", "functional_call", "stack_module_state", "replace_all_batch_norm_modules_",
           "functionalize"]


# ---- checks shared by the transforms ------------------------------------------------------
def _name(f):
    return getattr(f, "__name__", type(f).__name__)


def _check_argnums(argnums, nargs, who):
    """``argnums`` (an int or a tuple of ints, negative counting from the end) as a tuple of
    non-negative positions, checked against the ``nargs`` positional arguments."""
    many = isinstance(argnums, tuple)
    nums = argnums if many else (argnums,)
    if not many and not (isinstance(argnums, int) and not isinstance(argnums, bool)):
        raise RuntimeError(f"{who}: argnums must be int or Tuple[int, ...], got "
                           f"{type(argnums).__name__}")
    if many and not nums:
        raise RuntimeError(f"{who}: argnums must be non-empty")
    out = []
    for n in nums:
        if not isinstance(n, int) or isinstance(n, bool):
            raise RuntimeError(f"{who}: argnums must be int or Tuple[int, ...], got an element "
                               f"of type {type(n).__name__}")
        if not -nargs <= n < nargs:
            raise RuntimeError(f"{who}: Got argnum={n}, but only {nargs} positional inputs")
        out.append(n % nargs)
    if len(set(out)) != len(out):
        raise RuntimeError(f"{who}: argnums must be unique, got {argnums}")
    return tuple(out), many


def _check_chunk_size(chunk_size, who):
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size <= 0):
        raise ValueError(f"{who}: chunk_size should be None or greater than 0. "
                         f"(got {chunk_size})")


def _split_aux(res, who):
    if not (isinstance(res, tuple) and len(res) == 2):
        raise RuntimeError(f"{who}(f)(*args): output of function f should be a tuple: "
                           "(output, aux) if has_aux is True")
    return res


def _tree_map(fn, tree):
    leaves, rebuild = flatten(tree)
    return rebuild([fn(v) for v in leaves])


def _zeros_of(x):
    """Zeros shaped like the leaf ``x``, of its kind (a Tensor for a Tensor), on its device."""
    z = _zeros_like_raw(x)
    return _tensor_of(z) if isinstance(x, Tensor) else z


def _zeros_shaped(like, shape):
    """Zeros of ``shape`` with the dtype, device and kind of the leaf ``like``."""
    raw = _zeros_like_raw(like)
    z = xp_of(raw).zeros(shape, dtype=raw.dtype)
    return _tensor_of(z) if isinstance(like, Tensor) else z


def _tensor_of(raw):
    return _new_tensor(raw, None, False)


def _one_hot(x, k):
    """The k-th basis element shaped like the leaf ``x`` (a Tensor for a Tensor)."""
    raw = _zeros_like_raw(x)
    flat = raw.reshape(-1)  # a copy when x is not C-contiguous (a transposed output, say)
    flat[k] = 1
    raw = flat.reshape(raw.shape)
    return _tensor_of(raw) if isinstance(x, Tensor) else raw


def _size_of(x):
    n = 1
    for s in _shape_of(x):
        n *= s
    return n


# ---- reverse mode -------------------------------------------------------------------------
def grad_and_value(func, argnums=0, has_aux=False):
    """``grad_and_value(f)(*args)`` returns ``(gradient, f(*args))``: the gradient of a scalar
    ``f`` with respect to the argument(s) ``argnums`` (an int, or a tuple giving a tuple of
    gradients; an argument may be a tuple/list/dict of tensors, its gradient has that shape).
    With ``has_aux=True``, ``f`` returns ``(output, aux)`` and the result is
    ``(gradient, (output, aux))``.

    >>> import tensorgrad as tg
    >>> g, v = tg.func.grad_and_value(lambda x: (x ** 2).sum())(tg.tensor([1.0, 2.0]))
    >>> g, v.item()
    (tensor([2., 4.]), 5.0)
    """
    who = "grad_and_value"
    fun = (lambda *a, **k: _split_aux(func(*a, **k), who)) if has_aux else func

    @functools.wraps(func)
    def wrapped(*args, **kwargs):
        nums, many = _check_argnums(argnums, len(args), who)
        res = _vjp_maker(torch_inplace(fun), nums if many else nums[0],
                         has_aux=has_aux)(*args, **kwargs)
        vjp_fn, value = res[0], res[1]
        if _shape_of(value) != ():
            raise RuntimeError(f"{who}({_name(func)})(*args): Expected f(*args) to return a "
                               f"scalar Tensor, got tensor with {len(_shape_of(value))} dims. "
                               "Maybe you wanted to use the vjp or jacrev APIs instead?")
        _check_real(value, who)
        g = vjp_fn(1.0)  # the backward pass makes the seed on the output's device
        return (g, (value, res[2])) if has_aux else (g, value)

    return wrapped


def grad(func, argnums=0, has_aux=False):
    """The gradient of a scalar-valued ``func`` with respect to its argument(s) ``argnums``,
    as ``torch.func.grad``: ``grad(f)(x)`` has ``x``'s shape; ``argnums=(0, 1)`` gives a
    tuple; ``has_aux=True`` (``f`` returns ``(output, aux)``) gives ``(gradient, aux)``.
    Transforms nest: ``grad(grad(f))``, ``vmap(grad(f))``, ``jacfwd(grad(f))``.

    >>> import tensorgrad as tg
    >>> tg.func.grad(lambda x: x.sin().sum())(tg.tensor([0.0]))
    tensor([1.])
    >>> tg.func.grad(tg.func.grad(lambda x: x ** 3))(tg.tensor(2.0))
    tensor(12.)
    """
    gv = grad_and_value(func, argnums, has_aux)

    @functools.wraps(func)
    def wrapped(*args, **kwargs):
        g, value = gv(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return wrapped


def vjp(func, *primals, has_aux=False):
    """``vjp(f, *primals)`` returns ``(f(*primals), vjp_fn)`` (and ``aux`` third with
    ``has_aux``); ``vjp_fn(cotangents)``, with cotangents shaped like the output, returns a
    tuple with one vector-Jacobian product per primal.

    >>> import tensorgrad as tg
    >>> out, vjp_fn = tg.func.vjp(lambda x: x * 3, tg.tensor([1.0, 2.0]))
    >>> vjp_fn(tg.tensor([1.0, 1.0]))
    (tensor([3., 3.]),)
    """
    if not primals:
        raise RuntimeError("vjp(f, *primals): expected at least one primal")
    fun = (lambda *a, **k: _split_aux(func(*a, **k), "vjp")) if has_aux else func
    res = _vjp_maker(torch_inplace(fun), tuple(range(len(primals))), has_aux=has_aux)(*primals)
    return (res[1], res[0], res[2]) if has_aux else (res[1], res[0])


def _jacobian_rows(vjp_fn, value):
    """The Jacobian from a ``vjp_fn``: for each leaf of ``value``, its rows (one VJP per
    element, the other leaves seeded with zeros) stacked and shaped ``leaf.shape + input``.
    The result mirrors ``value``; each leaf holds what ``vjp_fn`` returns (one pytree, or a
    tuple of them)."""
    outs, rebuild_out = flatten(value)
    zeros = [_zeros_of(o) for o in outs]
    jacs = []
    for k, o in enumerate(outs):
        block = _batched_rows(vjp_fn, rebuild_out, zeros, k, o)
        if block is not None:
            jacs.append(block)
            continue
        rows = []
        for e in range(_size_of(o)):
            seeds = list(zeros)
            seeds[k] = _one_hot(o, e)
            rows.append(vjp_fn(rebuild_out(seeds)))
        shape = _shape_of(o)
        if not rows:  # an empty output: no rows, zeros shaped out.shape + input.shape
            row = vjp_fn(rebuild_out(zeros))
            jacs.append(_tree_map(lambda g: _zeros_shaped(g, shape + _shape_of(g)), row))
            continue
        leaves = [flatten(r)[0] for r in rows]
        _, rebuild_in = flatten(rows[0])
        stacked = [_stack([lv[j] for lv in leaves], shape + _shape_of(leaves[0][j]))
                   for j in range(len(leaves[0]))]
        jacs.append(rebuild_in(stacked))
    return rebuild_out(jacs)


def _batched_rows(vjp_fn, rebuild_out, zeros, k, o):
    """All the rows of output leaf ``o``'s Jacobian from ONE vmapped VJP (the basis of
    cotangents batched): shaped ``o.shape + input``; None where the batched path cannot run
    (then the caller computes row by row)."""
    size = _size_of(o)
    if size < 2:  # one row (a scalar output): nothing to batch
        return None
    raw = _zeros_like_raw(o)
    basis = xp_of(raw).eye(size, dtype=raw.dtype).reshape((size,) + raw.shape)
    seed = _tensor_of(basis) if isinstance(o, Tensor) else basis

    def row(s):
        seeds = list(zeros)
        seeds[k] = s
        return vjp_fn(rebuild_out(seeds))

    box = []

    def keep(s):  # the result's structure, for rebuilding it from the physical leaves
        res = row(s)
        box.append(flatten(res)[1])
        return res

    leaves = vmapped_rows(keep, seed)
    if leaves is None:
        return None
    shape = _shape_of(o)
    done = []
    for phys in leaves:
        if isinstance(o, Tensor) and not isinstance(phys, Tensor):
            phys = _tensor_of(phys)
        done.append(phys.reshape(shape + tuple(phys.shape[1:])))
    return box[0](done)


def jacrev(func, argnums=0, *, has_aux=False, chunk_size=None):
    """The Jacobian of ``func`` by reverse mode (one VJP per output element), as
    ``torch.func.jacrev``: shaped ``output.shape + input.shape``; with pytree outputs the
    result has the output's structure, and with ``argnums`` a tuple each leaf is a tuple of
    Jacobians. ``has_aux=True`` returns ``(jacobian, aux)``. ``chunk_size`` is accepted and
    checked; the rows of each output leaf come from one batched VJP (vmap over the basis of
    cotangents), or one VJP per row where that cannot run batched.

    >>> import tensorgrad as tg
    >>> tg.func.jacrev(lambda x: x ** 2)(tg.tensor([1.0, 2.0]))
    tensor([[2., 0.],
            [0., 4.]])
    """
    _check_chunk_size(chunk_size, "jacrev")
    fun = (lambda *a, **k: _split_aux(func(*a, **k), "jacrev")) if has_aux else func

    @functools.wraps(func)
    def wrapped(*args, **kwargs):
        nums, many = _check_argnums(argnums, len(args), "jacrev")
        res = _vjp_maker(torch_inplace(fun), nums if many else nums[0],
                         has_aux=has_aux)(*args, **kwargs)
        jac = _jacobian_rows(res[0], res[1])
        return (jac, res[2]) if has_aux else jac

    return wrapped


# ---- forward mode -------------------------------------------------------------------------
def _aux_stripped(func, who, box):
    """``func`` (returning ``(output, aux)``) as a function returning ``output`` for a ``jvp``;
    ``aux`` goes into ``box`` without the tangent of that ``jvp``'s level (the newest level
    among the arguments: each ``jvp`` opens a level above all that exist)."""

    def inner(*args, **kwargs):
        out, aux = _split_aux(func(*args, **kwargs), who)
        level = max([level_of(v) for v in flatten(list(args))[0]] + [0])
        box.append(_tree_map(lambda v: split(v, level)[0] if level else v, aux))
        return out

    return inner


def jvp(func, primals, tangents, *, strict=False, has_aux=False):
    """``jvp(f, primals, tangents)`` returns ``(f(*primals), J @ tangents)`` by forward mode
    (and ``aux`` third with ``has_aux``), as ``torch.func.jvp``: ``primals`` and ``tangents``
    are tuples of the same structure. ``strict`` is accepted, as torch accepts it.

    >>> import tensorgrad as tg
    >>> tg.func.jvp(lambda x: x * x, (tg.tensor(3.0),), (tg.tensor(1.0),))
    (tensor(9.), tensor(6.))
    """
    if not isinstance(primals, tuple):
        raise RuntimeError("jvp(f, primals, tangents): Expected primals to be a tuple. "
                           "E.g. it should be valid to call f(*primals).")
    if not isinstance(tangents, tuple) or len(tangents) != len(primals):
        raise RuntimeError("jvp(f, primals, tangents): Expected tangents to be a tuple of the "
                           f"same length as primals ({len(primals)}), got "
                           f"{type(tangents).__name__}"
                           + (f" of length {len(tangents)}" if isinstance(tangents, tuple)
                              else ""))
    if not has_aux:
        return _jvp(torch_inplace(func), primals, tangents)
    box = []
    out, tan = _jvp(torch_inplace(_aux_stripped(func, "jvp", box)), primals, tangents)
    return out, tan, box[0]


def linearize(func, *primals):
    """``linearize(f, *primals)`` returns ``(f(*primals), jvp_fn)`` with
    ``jvp_fn(*tangents)`` the JVP at ``primals``. Each ``jvp_fn`` call runs ``f`` again in
    forward mode (tensorgrad keeps no linearised graph to replay), which gives the same
    values as torch's at the cost of one forward evaluation per call.

    >>> import tensorgrad as tg
    >>> out, jvp_fn = tg.func.linearize(lambda x: x.sin(), tg.tensor([0.0]))
    >>> jvp_fn(tg.tensor([2.0]))
    tensor([2.])
    """
    output = func(*primals)

    def jvp_fn(*tangents):
        if len(tangents) != len(primals):
            raise RuntimeError(f"linearize: jvp_fn expects {len(primals)} tangents, one per "
                               f"primal, got {len(tangents)}")
        return _jvp(torch_inplace(func), primals, tangents)[1]

    return output, jvp_fn


def jacfwd(func, argnums=0, has_aux=False, *, randomness="error"):
    """The Jacobian of ``func`` by forward mode, as ``torch.func.jacfwd``: the same layout as
    ``jacrev`` (``output.shape + input.shape``, pytrees and ``argnums`` tuples alike). The
    columns of each input leaf come from ONE jvp whose tangent is the basis batched (vmap
    over jvp), or one JVP per input element where that cannot run batched. ``randomness``
    applies across the columns as in ``vmap``: ``"error"`` refuses random draws, ``"same"``
    gives every column the same draws, ``"different"`` lets them differ (and runs the loop).

    >>> import tensorgrad as tg
    >>> tg.func.jacfwd(lambda x: x ** 2)(tg.tensor([1.0, 2.0]))
    tensor([[2., 0.],
            [0., 4.]])
    """
    _check_randomness(randomness)

    @functools.wraps(func)
    def wrapped(*args, **kwargs):
        nums, many = _check_argnums(argnums, len(args), "jacfwd")
        box = []
        fun = _aux_stripped(func, "jacfwd", box) if has_aux else func
        at = make_jvp(torch_inplace(fun), nums if many else nums[0])(*args, **kwargs)
        ins = [flatten(args[i]) for i in nums]
        zeros = [[_zeros_of(v) for v in leaves] for leaves, _ in ins]

        def tangent(a, j, v):  # v at leaf j of argument a, zeros elsewhere
            parts = []
            for b, (_, rebuild) in enumerate(ins):
                new = list(zeros[b])
                if b == a:
                    new[j] = v
                parts.append(rebuild(new))
            return tuple(parts) if many else parts[0]

        columns = []  # per input leaf (a, j): the output tangents' blocks, or one per element
        value = None
        with _randomness_policy(randomness) as each:
            for a, (leaves, _) in enumerate(ins):
                for j, leaf in enumerate(leaves):
                    got = None
                    if randomness != "different":  # "different" needs a draw per column
                        def call(v, a=a, j=j):
                            value, t = at(tangent(a, j, v))  # v: the basis
                            return (value, box.pop() if has_aux else None), t

                        held = len(box)
                        with each():
                            got = _jvp_columns(call, leaf)
                        del box[held:]  # what a failed batched call left
                    if got is not None:
                        (value, aux), blocks = got
                        if has_aux:
                            box.append(aux)
                        columns.append((a, j, leaf, blocks))
                        continue
                    cols = []
                    for e in range(_size_of(leaf)):
                        with each():
                            value, t = at(tangent(a, j, _one_hot(leaf, e)))
                        cols.append(flatten(t)[0])
                    columns.append((a, j, leaf, [_stack_columns(c) for c in zip(*cols)]))
            if value is None:  # every input is empty: one JVP for the output's structure
                with each():
                    value, _ = at(_all_zero(many, ins, zeros))
        outs, rebuild_out = flatten(value)
        jacs = []
        for k, o in enumerate(outs):
            per_arg = [[None] * len(leaves) for leaves, _ in ins]
            for a, j, leaf, blocks in columns:
                per_arg[a][j] = _block_to_jacobian(blocks[k] if blocks else None, o,
                                                   _shape_of(leaf))
            parts = [rebuild(per_arg[a]) for a, (_, rebuild) in enumerate(ins)]
            jacs.append(tuple(parts) if many else parts[0])
        jac = rebuild_out(jacs)
        return (jac, box[0]) if has_aux else jac

    return wrapped


def _all_zero(many, ins, zeros):
    parts = [rebuild(zeros[b]) for b, (_, rebuild) in enumerate(ins)]
    return tuple(parts) if many else parts[0]


def _jvp_columns(call, leaf):
    """The output tangents of all basis directions of the input ``leaf`` from ONE jvp whose
    tangent is the whole basis, batched (``call(v)`` returns ``(values, tangent)``, values
    being what does not depend on the direction): ``(values, [per output leaf of tangent:
    the directions stacked first, (n,) + its shape])``; None where that cannot run batched
    (the caller then runs one jvp per direction)."""
    n = _size_of(leaf)
    if n < 2:  # nothing to batch: one jvp per direction does the same
        return None
    raw = _zeros_like_raw(leaf)
    basis = xp_of(raw).eye(n, dtype=raw.dtype).reshape((n,) + raw.shape)
    tensors_in = isinstance(leaf, Tensor)
    got = vmapped_call(call, _tensor_of(basis) if tensors_in else basis, open_level=True)
    if got is None:
        return None
    leaves, rebuild = got
    values_at, _ = rebuild(list(range(len(leaves))))  # which leaves are the values'
    nv = len(flatten(values_at)[0])
    done = []
    for k, (batched, g) in enumerate(leaves):
        if k < nv:
            # the same in every direction: the first of a batched one (a reverse transform
            # inside gives each direction its own copy of the variable)
            g = g[0] if batched else g
        elif not batched:  # a tangent that does not depend on the direction (zeros)
            g = _batching.broadcast_batch(g, n)
        if tensors_in and hasattr(g, "shape") and not isinstance(g, Tensor):
            g = _tensor_of(g)  # Tensors in, Tensors out, as the loop gives
        done.append(g)
    values, _ = rebuild(done)
    return values, done[nv:]


def _stack_columns(cols):
    """One output leaf's tangents, one per direction, stacked first (the loop's block)."""
    return _stack(list(cols), (len(cols),) + _shape_of(cols[0]))


def _block_to_jacobian(block, out, in_shape):
    """The output tangents of the basis directions of one input, stacked first in ``block``
    (None for an empty input), as the Jacobian block of the output leaf ``out``, shaped
    ``out.shape + in_shape``."""
    from . import numpy as tnp

    out_shape = _shape_of(out)
    if block is None:  # an empty input
        return _zeros_shaped(out, out_shape + in_shape)
    return tnp.reshape(tnp.moveaxis(block, 0, -1), out_shape + in_shape)


def hessian(func, argnums=0):
    """The Hessian of a scalar ``func``: ``jacfwd(jacrev(func, argnums), argnums)``
    (forward over reverse) as ``torch.func.hessian``, shaped ``input.shape + input.shape``.
    Where a primitive has no JVP rule it falls back to reverse over reverse.

    >>> import tensorgrad as tg
    >>> tg.func.hessian(lambda x: (x ** 3).sum())(tg.tensor([1.0, 2.0]))
    tensor([[ 6.,  0.],
            [ 0., 12.]])
    """
    fwd = jacfwd(jacrev(func, argnums), argnums)
    rev = jacrev(jacrev(func, argnums), argnums)

    @functools.wraps(func)
    def wrapped(*args, **kwargs):
        H = _hessian_plain(func, argnums, args, kwargs)
        if H is not None:
            return H
        try:
            return fwd(*args, **kwargs)
        except MissingRuleError:
            return rev(*args, **kwargs)

    return wrapped


class _NotScalar(Exception):
    pass


def _scalar_only(out):
    if not isinstance(out, Tensor) or tuple(out.shape) != ():
        raise _NotScalar()


def _hessian_plain(func, argnums, args, kwargs):
    """``hessian`` of a scalar function at a plain tensor (no level, no history, outside
    every reverse transform), as the autograd-style ``tg.hessian`` computes it: the gradient
    recorded once, its JVP swept over blocks of basis directions. jacfwd over jacrev would
    give each direction its own copy of the variable (the reverse pass runs on vmap's
    physical values, so per-direction gradients need per-direction variables) and run the
    forward and backward passes once per direction. None where this does not apply (the
    caller then runs jacfwd over jacrev): an output that is not a 0-d Tensor (the function
    has then run once for nothing), or a primitive without a JVP rule."""
    if not (_is_int(argnums) and -len(args) <= argnums < len(args)):
        return None
    num = argnums % len(args)
    x = args[num]
    if type(x) is not Tensor or x.dtype.kind != "f" or _functional._rev_depth[0] \
            or _batching.OPEN:
        return None
    for v in flatten([list(args), kwargs])[0]:
        if isinstance(v, Tensor) and (v._level or v._rg):
            return None  # derivatives of an outer transform or of the tape must flow
    try:
        with _randomness_policy("error"):  # as jacfwd's: random draws raise
            H = _functional._hessian_on_tape(torch_inplace(func), num, args, kwargs,
                                             check=_scalar_only,
                                             whole=True)
    except _NotScalar:
        return None
    return None if H is None else _tensor_of(H)


# ---- randomness inside loops over slices ---------------------------------------------------
_RANDOM_MSG = ("vmap: called random operation while in randomness error mode. Please either "
               "use the 'same' or 'different' randomness flags on vmap or perform the "
               "randomness operation out of vmap")


class _NoRandomness:
    """Stands in for a random generator while ``randomness="error"``: any draw raises."""

    def __getattr__(self, name):
        if name.startswith("__") or name == "bit_generator":
            raise AttributeError(name)  # copy/introspection see a plain object
        raise RuntimeError(_RANDOM_MSG)


def _check_randomness(randomness):
    if randomness not in ("error", "different", "same"):
        raise RuntimeError("Only allowed values for randomness are 'error', 'different', or "
                           f"'same'. Got {randomness}")


@contextlib.contextmanager
def _randomness_policy(randomness):
    """A context for the whole loop that yields ``each``, a context for one slice.

    ``"different"``: nothing (each slice draws on from where the last one stopped).
    ``"same"``: every slice runs on fresh copies of the generators as they were before the
    loop (utils.checkpoint's snapshot helpers), so all draw the same numbers; the last
    slice's generators stay, so afterwards they have moved on as after one call.
    ``"error"``: the generators behind ``rand``/``randn``/``randint``/dropout are replaced by
    stand-ins that raise PyTorch's error on any draw (cpu and every cuda device), and put back
    after the loop. Draws from an explicit ``tg.Generator`` (``generator=``) and from NumPy's
    global ``np.random`` are the caller's own and follow none of these rules."""
    from .creation import _rng

    if randomness == "different":
        yield contextlib.nullcontext
        return
    if randomness == "same":
        from .utils.checkpoint import _copy_generator, _rng_snapshot

        snapshot = _rng_snapshot()

        @contextlib.contextmanager
        def each():
            _rng.clear()
            _rng.update({k: v if k == "seed" else _copy_generator(v)
                         for k, v in snapshot.items()})
            yield

        yield each
        return
    saved = dict(_rng)
    # the generator entries only ("cpu", "cuda:N"); the seeds beside them stay readable
    keys = ["cpu"] + [k for k in _rng if k.startswith("cuda")]
    try:
        from . import cuda

        keys += [f"cuda:{i}" for i in range(cuda.device_count())] if cuda.is_available() else []
    except Exception:  # no CuPy: only the cpu generator exists
        pass
    for k in keys:
        _rng[k] = _NoRandomness()
    try:
        yield contextlib.nullcontext
    finally:
        _rng.clear()
        _rng.update(saved)


# ---- vmap ---------------------------------------------------------------------------------
def _is_int(d):
    return isinstance(d, int) and not isinstance(d, bool)


def _dims_for(dims, value, what):
    """The dimension (an int or None) for each leaf of ``value`` (in ``tree.flatten``'s
    order): ``dims`` is an int or None for the whole of ``value``, or a container of the same
    structure (a prefix of it: an int or None stands for a whole subtree)."""
    if dims is None or _is_int(dims):
        return [dims] * len(flatten(value)[0])
    if isinstance(dims, dict) and isinstance(value, dict):
        if set(dims) != set(value):
            raise _Mismatch()
        out = []
        for k in sorted(value):
            out += _dims_for(dims[k], value[k], what)
        return out
    if isinstance(dims, (list, tuple)) and isinstance(value, (list, tuple)) \
            and not isinstance(value, dict):
        if len(dims) != len(value):
            raise _Mismatch()
        out = []
        for d, v in zip(dims, value):
            out += _dims_for(d, v, what)
        return out
    if isinstance(dims, (list, tuple, dict)):
        raise _Mismatch()
    raise ValueError(f"{what}: expected an int, None or a container of them, got "
                     f"{type(dims).__name__}")


class _Mismatch(Exception):
    pass


def _structure(x):
    if isinstance(x, dict):
        return {k: _structure(x[k]) for k in sorted(x)}
    if isinstance(x, (list, tuple)):
        return type(x)(_structure(v) for v in x)
    return "*"


def _take(x, dim, i):
    """Slice ``i`` of ``x`` along ``dim`` (differentiable for Tensors)."""
    return x[(slice(None),) * dim + (i,)]


def vmap(func, in_dims=0, out_dims=0, randomness="error", *, chunk_size=None):
    """``torch.func.vmap``: ``vmap(f)(x)`` maps ``f`` over dimension 0 of ``x`` and stacks
    the results along dimension 0.

    ``f`` runs once, on batched tensors (each primitive gets the whole batch; see
    ``autograd/batching.py``); where that cannot run (``f`` reads a batched tensor's ``.data``
    or calls ``.item()``, say), vmap reruns ``f`` once per slice and joins the outputs with
    the differentiable ``stack``. Either way it nests with itself and with ``grad``,
    ``jacrev``, ``jvp``, ... (``vmap(grad(loss))`` gives per-sample gradients: a reverse
    transform inside vmap gives each example its own copy of an unmapped argument).

    - ``in_dims``: an int (every input), or a tuple with one entry per positional argument:
      an int, None (not mapped: passed whole to each call) or a container matching that
      argument's structure. Negative dims count from the end. Keyword arguments are passed
      whole to every call.
    - ``out_dims``: an int, or a container matching the output's structure: where the batch
      dimension goes in each output (an output that does not depend on the mapped inputs is
      repeated along it). None for an output gives the first slice's value (for outputs that
      do not depend on the mapped inputs).
    - ``randomness``: ``"error"`` (the default) makes a draw from tensorgrad's generators
      (``rand``, ``randn``, ``randint``, dropout, ...) inside ``f`` raise PyTorch's
      RuntimeError; ``"different"`` lets each slice draw its own numbers; ``"same"`` gives
      every slice the same draws (each slice starts from the generators' state before the
      loop; batched, one draw serves all). ``"different"`` always runs the loop. Draws
      from an explicit ``generator=`` and from NumPy's global ``np.random``
      are outside these rules. The generators are swapped process-wide during the call, so
      another thread drawing at the same time is affected too.
    - ``chunk_size``: accepted and checked (None or a positive int); the whole batch runs
      at once whatever it is.

    Mapping over a dimension of size 0 raises ValueError: without a slice to run, a loop
    cannot know the output's shape.

    >>> import tensorgrad as tg
    >>> x = tg.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> tg.vmap(lambda row: row.sum())(x)
    tensor([3., 7.])
    >>> tg.vmap(lambda a, b: a * b, in_dims=(1, None))(x, tg.tensor(10.0))
    tensor([[10., 30.],
            [20., 40.]])
    """
    _check_randomness(randomness)
    _check_chunk_size(chunk_size, "vmap")
    fname = _name(func)

    @functools.wraps(func)
    def wrapped(*args, **kwargs):
        where = f"vmap({fname}, in_dims={in_dims}, ...)(<inputs>)"
        if not args:
            raise ValueError(f"vmap({fname})(<inputs>): got no inputs. Maybe you forgot to add "
                             "inputs, or you are trying to vmap over a function with no "
                             "inputs. The latter is unsupported.")
        if not (_is_int(in_dims) or isinstance(in_dims, tuple)):
            raise ValueError(f"{where}: expected `in_dims` to be int or a (potentially nested) "
                             f"tuple matching the structure of inputs, got: {type(in_dims)}.")
        leaves, rebuild = flatten(list(args))
        try:
            dims = _dims_for(in_dims, list(args), f"{where}: in_dims")
        except _Mismatch:
            raise ValueError(f"{where}: in_dims is not compatible with the structure of "
                             f"`inputs`. in_dims has structure {_structure(in_dims)} but inputs "
                             f"has structure {_structure(tuple(args))}.") from None
        sizes = []
        norm = []
        for x, d in zip(leaves, dims):
            if d is None:
                norm.append(None)
                continue
            if not _is_int(d):
                raise ValueError(f"{where}: in_dims entries must be int or None, got {d!r}")
            if not hasattr(x, "shape"):
                raise ValueError(f"{where}: Got in_dim={d} for an input but the input is of "
                                 f"type {type(x)}. We cannot vmap over non-Tensor arguments, "
                                 "please use None as the respective in_dim")
            nd = len(x.shape)
            if not -nd <= d < nd:
                raise ValueError(f"{where}: Got in_dim={d} for some input, but that input is a "
                                 f"Tensor of dimensionality {nd} so expected in_dim to satisfy "
                                 f"-{nd} <= in_dim < {nd}.")
            norm.append(d % nd)
            sizes.append(x.shape[d % nd])
        if not sizes:
            raise ValueError("vmap: Expected at least one Tensor to vmap over")
        if len(set(sizes)) > 1:
            raise ValueError("vmap: Expected all tensors to have the same size in the mapped "
                             f"dimension, got sizes {sizes} for the mapped dimension")
        batch = sizes[0]
        if batch == 0:
            raise ValueError(f"{where}: the mapped dimension has size 0; tensorgrad's vmap "
                             "runs the function once per slice and cannot infer the output's "
                             "shape without one")
        if randomness != "different":
            # one call on batched values; anything it cannot handle reruns as the loop below
            # ("different" needs a draw per example, which only the loop gives)
            try:
                return _vmap_batched(func, leaves, norm, batch, rebuild, kwargs, out_dims,
                                     randomness)
            except Exception as e:  # the loop gives the answer, or the error to report
                _batching.STATS["fallback"] += 1
                _batching.STATS["reason"] = e
        results = []
        with _randomness_policy(randomness) as each:
            for i in range(batch):
                sliced = [x if d is None else _take(x, d, i) for x, d in zip(leaves, norm)]
                with each():
                    results.append(func(*rebuild(sliced), **kwargs))
        return _join(results, out_dims, fname)

    return wrapped


def _vmap_batched(func, leaves, norm, batch, rebuild, kwargs, out_dims, randomness):
    """vmap by batching: each input's mapped dimension moves to the front of a Batched at a
    new level, ``func`` runs once, and each output's batch dimension moves to ``out_dims``
    (an output that does not depend on a mapped input is broadcast to the batch)."""
    from .ops import copy

    level = new_level()
    ins = []
    tensors_in = any(isinstance(x, Tensor) for x, d in zip(leaves, norm) if d is not None)
    for x, d in zip(leaves, norm):
        if d is None:
            ins.append(x)
            continue
        if isinstance(x, Tensor):
            phys = _batching.move_to_front(x, d)
        else:
            phys = xp_of(x).moveaxis(x, d, 0) if d else x
        ins.append(_batching.make_batched(phys, level))
    _batching.OPEN.append((level, batch))
    try:
        with _randomness_policy(randomness) as each:
            with each():
                res = func(*rebuild(ins), **kwargs)
    finally:
        _batching.OPEN.pop()
    outs, rebuild_out = flatten(res)
    dims = _dims_for(out_dims, res, "out_dims")
    done = []
    for o, d in zip(outs, dims):
        batched = _batching.is_batched_at(o, level)
        if d is None:
            done.append(o._primal[0] if batched else o)
            continue
        if not _is_int(d) or not hasattr(o, "shape"):
            raise _batching.BatchingFallback("vmap: an output the loop must report")
        nd = len(o.shape) + 1
        if not -nd <= d < nd:
            raise _batching.BatchingFallback("vmap: out_dims out of range")
        if batched:
            phys = o._primal
            if tensors_in and not isinstance(phys, Tensor):
                # a transform gave a raw array back inside (a gradient is raw below the
                # Batched): Tensors in, Tensors out, as the loop gives
                phys = _tensor_of(phys)
        elif isinstance(o, Tensor):
            phys = copy(_batching.broadcast_batch(o, batch))
        else:  # a raw value, stacked by the loop into a new array
            raw = xp_of(o).asarray(o)
            phys = xp_of(raw).broadcast_to(raw[None], (batch,) + raw.shape).copy()
        done.append(_batching.move_from_front(phys, d % nd))
    return rebuild_out(done)


def _join(results, out_dims, fname):
    """Stack the per-slice outputs ``results`` along ``out_dims``."""
    first, rebuild = flatten(results[0])
    where = f"vmap({fname}, ..., out_dims={out_dims})(<inputs>)"
    try:
        dims = _dims_for(out_dims, results[0], f"{where}: out_dims")
    except _Mismatch:
        raise ValueError(f"{where}: out_dims is not compatible with the structure of `outputs`."
                         f" out_dims has structure {_structure(out_dims)} but outputs has "
                         f"structure {_structure(results[0])}.") from None
    per_slice = [first]
    for r in results[1:]:
        leaves, _ = flatten(r)
        if len(leaves) != len(first) or _structure(r) != _structure(results[0]):
            raise ValueError(f"vmap({fname}): the function returned outputs of different "
                             f"structures for different slices: {_structure(results[0])} and "
                             f"{_structure(r)}")
        per_slice.append(leaves)
    out = []
    for j, d in enumerate(dims):
        if d is None:
            out.append(first[j])
            continue
        column = [leaves[j] for leaves in per_slice]
        if not all(hasattr(v, "shape") for v in column):
            bad = next(v for v in column if not hasattr(v, "shape"))
            raise ValueError(f"vmap({fname}, ...): `{fname}` must only return Tensors, got type "
                             f"{type(bad)}. Did you mean to set out_dims= to None for output?")
        if not _is_int(d):
            raise ValueError(f"{where}: out_dims entries must be int or None, got {d!r}")
        nd = len(column[0].shape) + 1
        if not -nd <= d < nd:
            raise IndexError(f"{where}: Dimension out of range (expected to be in range of "
                             f"[{-nd}, {nd - 1}], but got {d}) for an output of shape "
                             f"{tuple(column[0].shape)}")
        out.append(_stack_along(column, d % nd, fname))
    return rebuild(out)


def _stack_along(column, dim, fname):
    from . import ops

    shapes = {tuple(v.shape) for v in column}
    if len(shapes) > 1:
        raise ValueError(f"vmap({fname}): the function returned outputs of different shapes "
                         f"for different slices: {sorted(shapes)}; they must agree to be "
                         "stacked")
    if all(isinstance(v, Tensor) for v in column) or not any(isinstance(v, Tensor)
                                                             for v in column):
        return ops.stack(column, dim)
    xp = xp_of(next(v.data for v in column if isinstance(v, Tensor)))
    return ops.stack([v if isinstance(v, Tensor) else _tensor_of(xp.asarray(v))
                      for v in column], dim)


# ---- modules as functions -----------------------------------------------------------------
def _locate(module, name):
    """(owning module, attribute name) of the dotted ``name`` inside ``module``."""
    from .nn.modules import Module

    *path, leaf = name.split(".")
    owner = module
    for part in path:
        found = getattr(owner, part, None)
        if found is None:
            raise AttributeError(f"functional_call: {type(owner).__name__} has no attribute "
                                 f"`{part}` (looking up {name!r})")
        if not isinstance(found, Module):
            raise TypeError(f"functional_call: submodule `{part}` in {name!r}: "
                            f"{type(found).__name__} is not an instance of "
                            "tensorgrad.nn.Module")
        owner = found
    return owner, leaf


@contextlib.contextmanager
def _substituted(module, values):
    """``module`` with ``values`` ({dotted name: Tensor}) in place of its parameters and
    buffers (other names become plain attributes), restored on leaving, exceptions too."""
    undo = []  # (owner, table or None, leaf, had, old)
    try:
        for name, value in values.items():
            owner, leaf = _locate(module, name)
            d = owner.__dict__
            if leaf in d["_modules"]:
                raise TypeError(f"functional_call: {name!r} names a submodule, not a parameter "
                                "or buffer")
            table = "_parameters" if leaf in d["_parameters"] else \
                "_buffers" if leaf in d["_buffers"] else None
            if table is None:
                undo.append((owner, None, leaf, leaf in d, d.get(leaf)))
                d[leaf] = value
            else:
                undo.append((owner, table, leaf, True, d[table][leaf]))
                d[table][leaf] = value  # past __setattr__: a plain Tensor is welcome here
        yield
    finally:
        for owner, table, leaf, had, old in reversed(undo):
            d = owner.__dict__
            if table is not None:
                d[table][leaf] = old
            elif had:
                d[leaf] = old
            else:
                d.pop(leaf, None)


def functional_call(module, parameter_and_buffer_dicts, args=None, kwargs=None, *,
                    tie_weights=True, strict=False):
    """Call ``module(*args, **kwargs)`` with the tensors of ``parameter_and_buffer_dicts``
    (a dict from dotted names such as ``"0.weight"`` to tensors, or a sequence of such
    dicts) in place of the module's own parameters and buffers, as
    ``torch.func.functional_call``. The module's own tensors are put back afterwards (also
    when the call raises); gradients flow to the given tensors, not to the module's
    parameters.

    - ``args``: a tuple of positional arguments (anything else is the single argument).
    - ``tie_weights``: a parameter or buffer registered under several names (tied weights)
      takes the value given for any of its names; giving different values for them is a
      ValueError. With False, each name is replaced separately.
    - ``strict``: the given names must be exactly the module's parameters and buffers
      (RuntimeError listing the missing and unexpected ones). Otherwise names the module
      lacks are set as plain attributes for the call.

    >>> import tensorgrad as tg
    >>> lin = tg.nn.Linear(2, 1)
    >>> w, b = tg.tensor([[1.0, 1.0]], requires_grad=True), tg.tensor([0.0])
    >>> y = tg.func.functional_call(lin, {"weight": w, "bias": b}, (tg.tensor([[2.0, 3.0]]),))
    >>> y.backward(); w.grad, lin.weight.grad
    (tensor([[2., 3.]]), None)
    """
    dicts = [parameter_and_buffer_dicts] if isinstance(parameter_and_buffer_dicts, dict) \
        else list(parameter_and_buffer_dicts)
    values = {}
    for d in dicts:
        if not isinstance(d, dict):
            raise TypeError("functional_call: parameter_and_buffer_dicts must be a dict or a "
                            f"sequence of dicts, got a {type(d).__name__} inside")
        dup = sorted(k for k in d if k in values)
        if dup:
            raise ValueError(f"{dup} appeared in multiple dictionaries; behavior of functional "
                             "call is ambiguous")
        values.update(d)
    for k, v in values.items():
        if not isinstance(v, Tensor):
            raise TypeError(f"functional_call: the value for {k!r} is a {type(v).__name__}, "
                            "not an instance of tensorgrad.Tensor")
    names = [n for n, _ in module.named_parameters(remove_duplicate=False)] + \
        [n for n, _ in module.named_buffers(remove_duplicate=False)]
    if tie_weights:
        values = _tie(module, values)
    if strict:
        missing = [n for n in names if n not in values]
        unexpected = [k for k in values if k not in set(names)]
        if missing or unexpected:
            lines = []
            if unexpected:
                lines.append("Unexpected key(s): " + ", ".join(f"'{k}'" for k in unexpected)
                             + ".")
            if missing:
                lines.append("Missing key(s): " + ", ".join(f"'{k}'" for k in missing) + ".")
            raise RuntimeError(f"Error(s) in reparametrizing for {type(module).__name__}:\n\t"
                               + "\n\t".join(lines))
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    with _substituted(module, values):
        return module(*args, **(kwargs or {}))


def _tie(module, values):
    """``values`` with each tied tensor's value given under all of its names."""
    groups = {}
    members = list(module.named_parameters(remove_duplicate=False)) + \
        list(module.named_buffers(remove_duplicate=False))
    for n, t in members:
        groups.setdefault(id(t), []).append(n)
    out = dict(values)
    for group in groups.values():
        if len(group) < 2:
            continue
        given = [n for n in group if n in values]
        if not given:
            continue
        if any(values[n] is not values[given[0]] for n in given[1:]):
            raise ValueError(f"functional_call got multiple values for keys {sorted(given)}, "
                             "which are tied. Consider using tie_weights=False")
        for n in group:
            out[n] = values[given[0]]
    return out


def stack_module_state(models):
    """``(params, buffers)``: dicts from each parameter's (buffer's) dotted name to the
    models' tensors stacked along a new leading dimension, for model ensembling with
    ``vmap(functional_call)``, as ``torch.func.stack_module_state``. The stacked parameters
    are new leaves (``requires_grad`` as the models' parameters); the models must be of the
    same class and in the same training mode.

    >>> import tensorgrad as tg
    >>> models = [tg.nn.Linear(3, 2) for _ in range(4)]
    >>> params, buffers = tg.func.stack_module_state(models)
    >>> params["weight"].shape, params["weight"].requires_grad
    ((4, 2, 3), True)
    >>> def run(p, b, x):
    ...     return tg.func.functional_call(models[0], (p, b), (x,))
    >>> tg.vmap(run, in_dims=(0, 0, None))(params, buffers, tg.randn(5, 3)).shape
    (4, 5, 2)
    """
    from . import ops

    models = list(models)
    if not models:
        raise RuntimeError("stack_module_state: Expected at least one model, got 0.")
    if len({type(m) for m in models}) > 1:
        raise RuntimeError("stack_module_state: Expected all models to be of the same class.")
    if len({m.training for m in models}) > 1:
        raise RuntimeError("stack_module_state: Expected all models to have the same "
                           "training/eval mode.")
    all_params = [dict(m.named_parameters()) for m in models]
    all_buffers = [dict(m.named_buffers()) for m in models]
    params = {}
    for name in all_params[0]:
        ps = [p[name] for p in all_params]
        flags = {p.requires_grad for p in ps}
        if len(flags) > 1:
            raise RuntimeError(f"Expected {name} from each model to have the same "
                               ".requires_grad")
        stacked = ops.stack([p.detach() for p in ps], 0)
        params[name] = stacked.requires_grad_() if flags.pop() else stacked
    buffers = {name: ops.stack([b[name].detach() for b in all_buffers], 0)
               for name in all_buffers[0]}
    return params, buffers


# ---- batch norm and mutations under transforms ---------------------------------------------
def replace_all_batch_norm_modules_(root):
    """``torch.func.replace_all_batch_norm_modules_``: every batch norm in ``root`` (itself
    included) stops tracking running statistics, in place: ``running_mean``, ``running_var``
    and ``num_batches_tracked`` become None and ``track_running_stats`` False, so the layer
    normalises with the statistics of the batch it sees, in training and eval mode alike.
    Under ``vmap`` that is each example's own batch, and no buffer is written inside the
    transform. Returns ``root``.

    >>> import tensorgrad as tg
    >>> net = tg.nn.Sequential(tg.nn.Linear(3, 4), tg.nn.BatchNorm1d(4))
    >>> net = tg.func.replace_all_batch_norm_modules_(net)
    >>> net[1].running_mean is None, net[1].track_running_stats
    (True, False)
    >>> tg.vmap(net)(tg.randn(2, 5, 3)).shape
    (2, 5, 4)
    """
    from .nn.normalization import _BatchNorm

    for m in root.modules():
        if isinstance(m, _BatchNorm):
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                m._buffers[name] = None
            m.track_running_stats = False
    return root


def functionalize(func, *, remove="mutations"):
    """``torch.func.functionalize``: ``func`` itself (wrapped), since tensorgrad needs no
    rewrite. torch.func needs one because its transforms cannot see through in-place
    mutation; in tensorgrad an in-place op on a value inside a transform rebinds that value
    (a forward-mode dual writes its primal and its tangent alike, the tape records the write
    with version checks, and a batched value makes ``vmap`` rerun the function per slice), so
    the function with its mutations gives the values and derivatives the functionalized one
    does (tests/test_vmap_rules.py compares them with torch.func.functionalize). ``remove``
    is checked: ``"mutations"`` or ``"mutations_and_views"``.

    >>> import tensorgrad as tg
    >>> def f(x):
    ...     y = x.clone()
    ...     y.mul_(2)
    ...     return y.sum()
    >>> tg.func.grad(tg.func.functionalize(f))(tg.tensor([1.0, 2.0]))
    tensor([2., 2.])
    """
    if remove not in ("mutations", "mutations_and_views"):
        raise RuntimeError("functionalize(f, remove='mutations'): received invalid argument for "
                           f"remove={remove}. Valid options are: remove='mutations' or "
                           "remove='mutations_and_views'")

    @functools.wraps(func)
    def wrapped(*args, **kwargs):
        return func(*args, **kwargs)

    return wrapped
