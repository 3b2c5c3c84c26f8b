"""The op table: every primitive of the core, as rows that the generic tests run over.

A row (:class:`Case`) is one variant of one op on one set of input shapes:

- ``op``: the op's name (``test_every_op_has_rows`` checks that none is missing),
- ``name``: the variant, e.g. ``sum_ax0_keep``,
- ``fn``: ``fn(*tensors) -> Tensor``, written with tensorgrad's public API; every positional
  argument is a differentiable input,
- ``shapes``: one shape per input,
- ``gen``: ``gen(rng, shapes) -> [array, ...]``, inputs inside the op's domain (positive for log
  and sqrt, away from the kinks of abs/relu/clip/maximum, no ties for max/min),
- ``torch_fn``: the same function on ``torch`` tensors; None when ``fn`` works unchanged on them.

Index arrays inside ``fn`` go through :func:`index_for`, so one function serves tensorgrad on any
device and torch.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import tensorgrad as tg


def _torch():
    import torch  # only the torch comparison calls the torch_fn's, and it skips without torch

    return torch


# ---- input generators: (rng, shape) -> array ---------------------------------------------
def normal(rng, shape):
    return rng.standard_normal(shape)


def positive(rng, shape):
    return rng.uniform(0.5, 2.0, shape)


def _signs(rng, shape):
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0)


def nonzero(rng, shape):
    """|x| in [0.3, 1.5]: away from 0 (abs, relu, sign-dependent rules, divisors)."""
    return _signs(rng, shape) * rng.uniform(0.3, 1.5, shape)


def moderate(rng, shape):
    """|x| in [0.6, 1.4] with random signs: products of many of them stay moderate."""
    return _signs(rng, shape) * rng.uniform(0.6, 1.4, shape)


def distinct(rng, shape):
    """All values at least 0.3 apart: no ties for max/min."""
    n = math.prod(shape)
    vals = (rng.permutation(n) - n / 2) * 0.5 + rng.uniform(-0.1, 0.1, n)
    return vals.reshape(shape)


def grid_even(rng, shape):
    """Near even multiples of 0.25; ``grid_odd`` is near odd ones: the two never tie."""
    return 0.5 * rng.integers(-3, 4, shape) + rng.uniform(-0.05, 0.05, shape)


def grid_odd(rng, shape):
    return grid_even(rng, shape) + 0.25


def within(lo, hi):
    return lambda rng, shape: rng.uniform(lo, hi, shape)


def away_from(*kinks, margin=0.15, lo=-1.5, hi=1.5):
    """Uniform in [lo, hi], pushed at least ``margin`` away from every kink."""

    def gen(rng, shape):
        x = rng.uniform(lo, hi, shape)
        for k in kinks:
            d = x - k
            near = np.abs(d) < margin
            x = np.where(near, k + np.where(d < 0, -1.0, 1.0) * (margin + np.abs(d)), x)
        return x

    return gen


def with_zero(count):
    """``moderate`` values with ``count`` exact zeros (prod's zero-aware rule)."""

    def gen(rng, shape):
        x = moderate(rng, shape).reshape(-1)
        x[rng.choice(x.size, count, replace=False)] = 0.0
        return x.reshape(shape)

    return gen


def resample(sampler, ok):
    """Draw with ``sampler`` and redraw the elements where ``ok`` is False."""

    def gen(rng, shape):
        x = np.asarray(sampler(rng, shape), dtype=np.float64)
        for _ in range(1000):
            bad = ~ok(x)
            if not bad.any():
                return x
            x = np.where(bad, sampler(rng, shape), x)
        raise AssertionError("resample: could not draw inputs inside the domain")

    return gen


def _frac_ok(q):
    f = q - np.floor(q)
    return (f > 0.15) & (f < 0.85)


def each(*gens):
    """A joint generator from per-input ones (the last one repeats for further inputs)."""

    def gen(rng, shapes):
        return [gens[min(i, len(gens) - 1)](rng, s) for i, s in enumerate(shapes)]

    return joint(gen)


def joint(gen):
    """Mark ``gen`` as taking all shapes at once: ``gen(rng, shapes) -> [array, ...]``."""
    gen.joint = True
    return gen


@joint
def remainder_inputs(rng, shapes):
    """x % y away from the jumps: x / y is at least 0.2 from an integer. x has the full shape."""
    xs, ys = shapes
    y = _signs(rng, ys) * rng.uniform(0.6, 1.4, ys)
    yb = np.broadcast_to(y, np.broadcast_shapes(xs, ys))
    assert yb.shape == tuple(xs), "remainder_inputs: x must have the broadcast shape"
    q = rng.integers(-3, 3, xs) + rng.uniform(0.2, 0.8, xs)
    return [q * yb, y]


# ---- rows --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    op: str
    name: str
    fn: Callable
    shapes: tuple
    gen: Callable
    torch_fn: Callable = None

    @property
    def id(self):
        return f"{self.name}-" + "_".join(
            "x".join(map(str, s)) if s else "s" for s in self.shapes)

    def inputs(self, rng, dtype=np.float64):
        arrays = self.gen(rng, self.shapes)
        return [np.asarray(a, dtype=dtype) for a in arrays]


CASES = []


def rows(op, name, fn, shape_sets, gen=normal, torch_fn=None):
    """Rows of ``op`` for every entry of ``shape_sets`` (each: one shape per input). ``gen`` is a
    per-input generator (used for every input) or a joint one (see :func:`joint`)."""
    if not getattr(gen, "joint", False):
        gen = each(gen)
    for shapes in shape_sets:
        shapes = tuple(tuple(s) for s in shapes)
        CASES.append(Case(op, name, fn, shapes, gen, torch_fn))


def _is_torch(t):
    return type(t).__module__.startswith("torch")


def index_for(idx, like):
    """``idx`` with its NumPy arrays made index tensors of ``like``'s kind and device."""
    if isinstance(idx, tuple):
        return tuple(index_for(i, like) for i in idx)
    if isinstance(idx, np.ndarray):
        if _is_torch(like):
            return _torch().from_numpy(idx)
        return tg.tensor(idx, device=like.device)
    return idx


def where(cond, x, y):
    return _torch().where(cond, x, y) if _is_torch(cond) else tg.ops.where(cond, x, y)


# shape sets
S, V, M = (), (5,), (2, 3)
UNARY = [(S,), (V,), (M,)]
BINARY = [
    (S, S), ((4,), (4,)), (M, M), (M, (3,)), ((3,), M), ((2, 1), (1, 3)), (S, M), ((3,), S),
    ((2, 1, 3), (4, 1)),
]

# -- elementwise arithmetic
rows("add", "add", lambda x, y: x + y, BINARY)
rows("add", "add_scalar", lambda x: x + 2.0, UNARY)
rows("add", "radd_scalar", lambda x: 2.0 + x, [(M,)])
rows("sub", "sub", lambda x, y: x - y, BINARY)
rows("sub", "rsub_scalar", lambda x: 2.0 - x, UNARY)
rows("mul", "mul", lambda x, y: x * y, BINARY)
rows("mul", "mul_self", lambda x: x * x, UNARY)
rows("mul", "rmul_scalar", lambda x: 0.5 * x, [(M,)])
rows("div", "div", lambda x, y: x / y, BINARY, gen=each(normal, nonzero))
rows("div", "rdiv_scalar", lambda x: 3.0 / x, UNARY, gen=nonzero)
rows("div", "div_scalar", lambda x: x / 4.0, [(M,)])
rows("pow", "pow", lambda x, y: x ** y, BINARY, gen=each(positive, normal))
rows("pow", "pow_int", lambda x: x ** 3, UNARY)
rows("pow", "pow_half", lambda x: x ** 0.5, UNARY, gen=positive)
rows("pow", "pow_neg", lambda x: x ** -2.0, [(M,)], gen=nonzero)
rows("pow", "rpow", lambda x: 2.0 ** x, UNARY)
rows("neg", "neg", lambda x: -x, UNARY)
rows("neg", "neg_method", lambda x: x.neg(), [(M,)])
rows("abs", "abs", lambda x: abs(x), UNARY, gen=nonzero)
rows("abs", "abs_method", lambda x: x.abs() * x, [(M,)], gen=nonzero)
rows("mod", "mod", lambda x, y: x % y, [(S, S), (M, M), (M, (3,)), ((3,), S)],
    gen=remainder_inputs)
rows("mod", "mod_scalar", lambda x: x % 1.5, UNARY,
    gen=resample(within(-4, 4), lambda x: _frac_ok(x / 1.5)))
rows("mod", "rmod_scalar", lambda y: 2.5 % y, UNARY,
    gen=resample(nonzero, lambda y: _frac_ok(2.5 / y)),
    torch_fn=lambda y: _torch().full_like(y, 2.5) % y)  # torch has no grad for Scalar % Tensor

# -- elementwise functions
for _name, _fn, _gen in [
    ("exp", lambda x: x.exp(), normal),
    ("log", lambda x: x.log(), positive),
    ("log1p", lambda x: x.log1p(), within(-0.6, 2.0)),
    ("expm1", lambda x: x.expm1(), normal),
    ("sqrt", lambda x: x.sqrt(), positive),
    ("sin", lambda x: x.sin(), normal),
    ("cos", lambda x: x.cos(), normal),
    ("tan", lambda x: x.tan(), within(-1.2, 1.2)),
    ("tanh", lambda x: x.tanh(), normal),
    ("sigmoid", lambda x: x.sigmoid(), normal),
    ("relu", lambda x: x.relu(), nonzero),
]:
    rows(_name, _name, _fn, UNARY, gen=_gen)
rows("exp", "exp_chain", lambda x: (x * 0.5).exp().sin(), [(M,)])
rows("relu", "relu_times_x", lambda x: x.relu() * x, [(M,)], gen=nonzero)
rows("maximum", "maximum", lambda x, y: x.maximum(y), BINARY, gen=each(grid_even, grid_odd))
rows("maximum", "maximum_scalar", lambda x: x.maximum(0.25) * x, [(M,)], gen=grid_even,
    torch_fn=lambda x: x.maximum(_torch().tensor(0.25, dtype=x.dtype)) * x)
rows("minimum", "minimum", lambda x, y: x.minimum(y), BINARY, gen=each(grid_odd, grid_even))
rows("fmax", "fmax", lambda x, y: tg.numpy.fmax(x, y), BINARY, gen=each(grid_even, grid_odd),
    torch_fn=lambda x, y: _torch().fmax(x, y))
rows("fmin", "fmin", lambda x, y: tg.numpy.fmin(x, y) * x, [(M, M), (M, (3,))],
    gen=each(grid_odd, grid_even), torch_fn=lambda x, y: _torch().fmin(x, y) * x)
rows("std", "std_times_x", lambda x: tg.numpy.std(x, axis=0) * x, [((3, 2),)],
    torch_fn=lambda x: x.std(0, correction=0) * x)
rows("clip", "clip", lambda x: x.clip(-0.5, 0.5), UNARY, gen=away_from(-0.5, 0.5))
rows("clip", "clip_times_x", lambda x: x.clip(-0.5, 0.5) * x, [(M,)], gen=away_from(-0.5, 0.5))
rows("clip", "clip_min", lambda x: x.clip(min=0.2), UNARY, gen=away_from(0.2))
rows("clip", "clip_max", lambda x: x.clip(max=-0.1), [(M,)], gen=away_from(-0.1))
rows("where", "where", lambda x, y: where(x > 0, x * y, y.exp()), BINARY,
    gen=each(nonzero, normal))
rows("where", "where_scalar_branch", lambda x: where(x < 0, x.sin(), 0.5), UNARY, gen=nonzero)

# -- reductions: axis None / int / tuple, keepdims both
_RED_AXES = [
    (S, None), (V, None), (V, 0), (V, -1), ((3, 4), None), ((3, 4), 0), ((3, 4), 1),
    ((3, 4), (0, 1)), ((2, 3, 4), 1), ((2, 3, 4), (0, 2)), ((2, 3, 4), (-1, 0)),
]


def _axis_name(axis):
    if axis is None:
        return "all"
    if isinstance(axis, tuple):
        return "ax" + "".join(str(a).replace("-", "m") for a in axis)
    return "ax" + str(axis).replace("-", "m")


def _torch_dims(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    return axis if isinstance(axis, tuple) else (axis,)


def _torch_prod(x, axis, keepdims):
    # torch.prod takes one dim at a time
    dims = sorted({d % x.ndim for d in _torch_dims(axis, x.ndim)}, reverse=True)
    out = x
    for d in dims:
        out = out.prod(d, keepdim=True)
    if not keepdims:
        out = out.reshape([n for i, n in enumerate(x.shape) if i not in dims])
    return out


def _torch_reduce(op, axis, kd, ddof):
    def fn(x):
        torch = _torch()
        dims = _torch_dims(axis, x.ndim)
        if op == "prod":
            return _torch_prod(x, axis, kd)
        if op in ("var", "std"):
            return getattr(torch, op)(x, dim=dims, correction=ddof, keepdim=kd)
        f = {"sum": torch.sum, "mean": torch.mean, "max": torch.amax, "min": torch.amin,
             "logsumexp": torch.logsumexp}[op]
        return f(x, dim=dims, keepdim=kd)

    return fn


def _tg_reduce(op, axis, kd, ddof):
    if op in ("var", "std"):
        return lambda x: getattr(x, op)(axis=axis, keepdims=kd, ddof=ddof)
    return lambda x: getattr(x, op)(axis=axis, keepdims=kd)


for _op, _gen, _ddofs in [
    ("sum", normal, [None]), ("mean", normal, [None]), ("max", distinct, [None]),
    ("min", distinct, [None]), ("prod", moderate, [None]), ("logsumexp", normal, [None]),
    ("var", normal, [1, 0]), ("std", normal, [1, 0]),
]:
    for _shape, _axis in _RED_AXES:
        for _ddof in _ddofs:
            if math.prod(_shape) == 1 and (_ddof == 1 or _op == "std"):
                # one sample: the unbiased estimate divides by zero, and std = sqrt(0) has no
                # derivative (autodiff and torch give nan, finite differences 0)
                continue
            for _kd in (False, True):
                _name = f"{_op}_{_axis_name(_axis)}" + ("_keep" if _kd else "") + (
                    f"_ddof{_ddof}" if _ddof is not None else "")
                rows(_op, _name, _tg_reduce(_op, _axis, _kd, _ddof), [(_shape,)], gen=_gen,
                    torch_fn=_torch_reduce(_op, _axis, _kd, _ddof))

# PyTorch's spellings: dim=/keepdim=, t.max(1) -> (values, indices)
rows("sum", "sum_dim_keepdim", lambda x: x.sum(dim=1, keepdim=True), [((3, 4),)])
rows("mean", "mean_dim_tuple", lambda x: x.mean(dim=(0, 2)), [((2, 3, 4),)])
rows("max", "max_dim_pos", lambda x: x.max(1).values, [((3, 4),)], gen=distinct)
rows("max", "max_dim_kw", lambda x: x.max(dim=0, keepdim=True)[0], [((3, 4),)], gen=distinct)
rows("min", "min_dim_pos", lambda x: x.min(-1)[0], [((3, 4),)], gen=distinct)
rows("var", "var_dim_default", lambda x: x.var(dim=1), [((3, 4),)])
rows("std", "std_default", lambda x: x.std(), [((3, 4),)])
rows("prod", "prod_one_zero", lambda x: x.prod(axis=1), [((3, 4),)], gen=with_zero(1),
    torch_fn=lambda x: x.prod(1))
rows("prod", "prod_one_zero_all", lambda x: x.prod(), [((5,),), ((2, 3),)], gen=with_zero(1))
rows("prod", "prod_two_zeros_all", lambda x: x.prod(), [((2, 3),)], gen=with_zero(2))
rows("prod", "prod_zeros_ax02_keep", lambda x: x.prod(axis=(0, 2), keepdims=True),
    [((2, 3, 4),)], gen=with_zero(3), torch_fn=lambda x: _torch_prod(x, (0, 2), True))
rows("logsumexp", "logsumexp_large", lambda x: (x * 300.0).logsumexp(axis=1), [((3, 4),)],
    gen=distinct, torch_fn=lambda x: (x * 300.0).logsumexp(1))

# -- matmul and dot
rows("matmul", "matmul", lambda x, y: x @ y, [
    ((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((2, 1, 3, 4), (5, 4, 2)),
    ((2, 3, 4), (4,)), ((4,), (2, 4, 3)), ((2, 3, 4), (2, 4, 5)), ((2, 3, 4), (4, 2)),
])
rows("matmul", "matmul_method", lambda x, y: x.matmul(y).tanh(), [((2, 3), (3, 4))])


def _torch_dot(a, b):
    return a * b if a.ndim == 0 or b.ndim == 0 else a @ b


rows("dot", "dot", lambda x, y: tg.ops.dot(x, y),
    [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)), ((2, 3), (3, 4)), (S, (3,))],
    torch_fn=_torch_dot)
rows("dot", "dot_method", lambda x, y: x.dot(y), [((4,), (4,))])

# -- shape ops
rows("reshape", "reshape", lambda x: x.reshape(3, 2), [(M,)])
rows("reshape", "reshape_infer", lambda x: x.reshape(-1, 2) * x.reshape(-1, 2), [((2, 3, 2),)])
rows("reshape", "reshape_tuple", lambda x: x.reshape((2, 3)), [((6,),)])
rows("reshape", "reshape_scalar", lambda x: x.reshape(1, 1), [(S,)])
rows("reshape", "view", lambda x: x.view(4, 3), [((2, 6),)])
rows("transpose", "T", lambda x: x.T, [(M,)])
rows("transpose", "transpose_pair", lambda x: x.transpose(0, 2), [((2, 3, 4),)])
rows("transpose", "transpose_perm", lambda x: x.transpose((2, 0, 1)), [((2, 3, 4),)],
    torch_fn=lambda x: x.permute(2, 0, 1))
rows("transpose", "permute", lambda x: x.permute(1, 2, 0), [((2, 3, 4),)])
rows("transpose", "permute_tuple", lambda x: x.permute((2, 1, 0)) * 2.0, [((2, 3, 4),)])
rows("transpose", "mT", lambda x: x.mT, [((2, 3, 4),)])
rows("unsqueeze", "unsqueeze0", lambda x: x.unsqueeze(0), [(V,), (M,)])
rows("unsqueeze", "unsqueeze_neg", lambda x: x.unsqueeze(-1), [(S,), (M,)])
rows("unsqueeze", "expand_dims", lambda x: x.expand_dims(1), [(M,)],
    torch_fn=lambda x: x.unsqueeze(1))
rows("squeeze", "squeeze_all", lambda x: x.squeeze(), [((1, 3, 1),), ((1,),)])
rows("squeeze", "squeeze0", lambda x: x.squeeze(0), [((1, 3, 1),)])
rows("squeeze", "squeeze_neg", lambda x: x.squeeze(-1), [((1, 3, 1),)])
rows("squeeze", "squeeze_dim", lambda x: x.squeeze(dim=2), [((2, 3, 1),)])
rows("diagonal", "diagonal", lambda x: x.diagonal(), [(M,)])
rows("diagonal", "diagonal_offset_dims", lambda x: x.diagonal(1, 2, 0), [((2, 3, 4),)])
rows("diagonal", "diagonal_below", lambda x: x.diagonal(-1) * 2.0, [(M,), ((4, 2),)])
rows("squeeze", "squeeze_noop", lambda x: x.squeeze(0) * 1.0, [(M,)])
rows("broadcast_to", "broadcast_to", lambda x: x.broadcast_to((2, 4, 3)), [((3,),), ((4, 1),),
                                                                           (S,)])
rows("broadcast_to", "expand", lambda x: x.expand(4, 3), [((1, 3),)])
rows("broadcast_to", "expand_keep", lambda x: x.expand(2, -1, 3), [((5, 1),)])


def _tg_or_torch(name, torch_name):
    def fn(*xs, axis):
        if _is_torch(xs[0]):
            return getattr(_torch(), torch_name)(list(xs), dim=axis)
        return getattr(tg, name)(list(xs), axis=axis)

    return fn


_cat = _tg_or_torch("concatenate", "cat")
_stack = _tg_or_torch("stack", "stack")
rows("concatenate", "concat_ax0", lambda x, y: _cat(x, y, axis=0), [((2, 3), (4, 3)),
                                                                   ((3,), (2,))])
rows("concatenate", "concat_ax1", lambda x, y: _cat(x, y, axis=1), [((2, 3), (2, 1))])
rows("concatenate", "concat_axm1", lambda x, y: _cat(x, y, axis=-1), [((2, 2, 3), (2, 2, 2))])
rows("concatenate", "concat_three", lambda x, y, z: _cat(x, y, z, axis=0) * _cat(z, x, y, axis=0),
    [((2,), (3,), (2,))])
rows("concatenate", "cat_same_twice", lambda x: tg.cat([x, x], axis=1), [(M,)],
    torch_fn=lambda x: _torch().cat([x, x], dim=1))
rows("stack", "stack_ax0", lambda x, y: _stack(x, y, axis=0), [(S, S), (M, M)])
rows("stack", "stack_ax1", lambda x, y: _stack(x, y, axis=1), [(M, M)])
rows("stack", "stack_axm1", lambda x, y, z: _stack(x, y, z, axis=-1), [((3,), (3,), (3,))])
rows("flatten", "flatten", lambda x: x.flatten(), [(S,), (M,), ((2, 3, 4),)])
rows("flatten", "flatten_from1", lambda x: x.flatten(1), [((2, 3, 4),)])
rows("flatten", "flatten_01", lambda x: x.flatten(0, 1), [((2, 3, 4),)])

# -- getitem
_MASK = np.array([[True, False, True, False, True],
                  [False, False, True, True, False],
                  [True, True, False, False, False],
                  [False, True, False, True, True]])
_ROWS = np.array([True, False, True, True])
_GETITEM = [
    ("int", 1, (4, 5)),
    ("int_pair", (-1, 2), (4, 5)),
    ("int_of_vector", 3, (5,)),
    ("slice", slice(1, 3), (4, 5)),
    ("slice_step", (slice(None, None, 2), slice(1, None)), (4, 5)),
    ("ellipsis_last", (Ellipsis, 1), (3, 4, 5)),
    ("ellipsis_first", (1, Ellipsis), (3, 4, 5)),
    ("none", (None, slice(None), None), (4, 5)),
    ("none_mid", (slice(None), None, 2), (4, 5)),
    ("list_repeat", [0, 2, 0, 0], (4, 5)),
    ("array_2d_repeat", np.array([[1, 1], [0, 3]]), (4, 5)),
    ("cols_repeat", (slice(None), [4, 4, 0]), (4, 5)),
    ("pairs_repeat", (np.array([0, 1, 1, 0]), np.array([2, 0, 0, 2])), (4, 5)),
    ("slice_and_array", (slice(1, None), np.array([0, 0, 3])), (4, 5)),
    ("vector_repeat", np.array([2, 2, 2, 0]), (5,)),
    ("mask", _MASK, (4, 5)),
    ("mask_rows", _ROWS, (4, 5)),
    ("mask_cols", (slice(None), _MASK[0]), (4, 5)),
]
for _name, _idx, _shape in _GETITEM:
    rows("getitem", f"getitem_{_name}", (lambda idx: lambda x: x[index_for(idx, x)])(_idx),
        [(_shape,)])
rows("getitem", "getitem_twice_sum", lambda x: x[1:] * x[:-1], [((5,),)])
rows("getitem", "getitem_reversed", lambda x: x[::-1, 1], [((4, 5),)],
    torch_fn=lambda x: x.flip(0)[:, 1])  # torch has no negative steps


# -- setitem: the old value (where not overwritten) and the written value both get gradients
def _setitem(idx, square=True):
    def fn(x, v):
        y = x.clone()
        y[index_for(idx, y)] = v
        return y * y if square else y

    return fn


_SETITEM = [
    ("int", 1, (4, 5), (5,)),
    ("int_broadcast", 2, (4, 5), ()),
    ("slice", (slice(None), slice(1, 3)), (4, 5), (4, 2)),
    ("slice_broadcast", (slice(1, None), 2), (4, 5), ()),
    ("ellipsis", (Ellipsis, 0), (4, 5), (4,)),
    ("rows", np.array([0, 2]), (4, 5), (2, 5)),
    ("rows_broadcast_row", np.array([3, 1]), (4, 5), (5,)),
    ("mask", _MASK, (4, 5), (int(_MASK.sum()),)),
    ("mask_scalar", _MASK, (4, 5), ()),
]
for _name, _idx, _xs, _vs in _SETITEM:
    rows("setitem", f"setitem_{_name}", _setitem(_idx), [(_xs, _vs)])
rows("setitem", "setitem_linear", _setitem((slice(None), 0), square=False), [((3, 4), (3,))])


def _setitem_const(x):
    y = x.clone()
    y[1] = 0.0
    return y.exp()


def _setitem_twice(x, v):
    y = x * 1.0
    y[0] = v
    y[2:] = v * 2.0
    return y.sin()


rows("setitem", "setitem_const", _setitem_const, [((3, 4),)])
rows("setitem", "setitem_twice", _setitem_twice, [((4, 3), (3,))])

IDS = [c.id for c in CASES]
assert len(set(IDS)) == len(IDS), "op table: two rows have the same id"

REQUIRED_OPS = (
    "add sub mul div pow neg abs exp log log1p expm1 sqrt sin cos tan tanh sigmoid relu maximum "
    "minimum clip where sum mean max min prod var std logsumexp matmul dot reshape transpose "
    "unsqueeze squeeze broadcast_to concatenate stack flatten getitem setitem mod"
).split()
