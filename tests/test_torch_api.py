"""PyTorch's top-level functions and Tensor methods (tensorgrad/torch_api.py) against PyTorch:
values and gradients in float64 on every device, one table row per call; in-place semantics;
second derivatives of the compositions against finite differences; clear errors."""

import math

import numpy as np
import pytest
from devices import host, on, tensor_on, torch_oracle

import tensorgrad as tg

torch = torch_oracle()

_RNG = np.random.default_rng(7)


def A(*shape):
    return _RNG.standard_normal(shape)


def P(*shape):  # positive
    return _RNG.uniform(0.5, 2.0, shape)


def U(*shape):  # inside (-1, 1)
    return _RNG.uniform(-0.9, 0.9, shape)


def G(*shape):  # above 1
    return _RNG.uniform(1.2, 3.0, shape)


def I(*values):  # noqa: E743  an int64 index array
    return np.array(values, dtype=np.int64)


def B(*shape):  # a bool mask
    return _RNG.random(shape) < 0.5


class Const:
    """A float array passed without requires_grad."""

    def __init__(self, a):
        self.a = a


class Case:
    def __init__(self, id, fn, args, kwargs=None, grad=True, rtol=1e-10, torch_fn=None):
        # array keyword arguments (clamp's min=, diff's prepend=) become inputs too
        kwargs = kwargs or {}
        self.names = [k for k, v in kwargs.items() if isinstance(v, (np.ndarray, Const))]
        args = tuple(args) + tuple(kwargs.pop(k) for k in self.names)
        self.id, self.fn, self.args, self.kwargs = id, fn, args, kwargs
        self.grad, self.rtol, self.torch_fn = grad, rtol, torch_fn


def F(name, *args, id=None, grad=True, rtol=1e-10, torch_fn=None, **kwargs):
    """``tg.<name>(*args, **kwargs)`` against ``torch.<name>(...)``."""
    return Case(id or name, lambda L, *a, **k: getattr(L, name)(*a, **k), args, kwargs, grad,
                rtol, torch_fn)


def M(name, *args, id=None, grad=True, rtol=1e-10, **kwargs):
    """The method ``args[0].<name>(*args[1:], **kwargs)`` on both."""
    return Case(id or "m." + name, lambda L, x, *a, **k: getattr(x, name)(*a, **k), args, kwargs,
                grad, rtol)


def L(id, fn, *args, grad=True, rtol=1e-10):
    """``fn(module, *args)`` with module = tensorgrad or torch."""
    return Case(id, fn, args, None, grad, rtol)


NAN = np.array([1.0, np.nan, -2.0, np.inf, -np.inf, 0.5])
WITH_NAN = np.array([[1.0, np.nan, -2.0], [0.5, 3.0, np.nan]])
ZERO_IN = np.array([[0.7, 0.0, -1.3, 2.0], [1.1, -0.4, 0.9, 0.0]])
SPD = A(3, 3) @ A(3, 3).T + 3 * np.eye(3)

CASES = [
    # ---- elementwise, one argument
    *[F(n, A(3, 4)) for n in ("exp", "expm1", "exp2", "square", "abs", "neg", "negative", "sin",
                              "cos", "atan", "sinh", "cosh", "tanh", "asinh", "sigmoid", "relu",
                              "sinc", "deg2rad", "rad2deg", "erf", "erfc", "absolute", "arctan",
                              "positive")],
    *[F(n, P(3, 4)) for n in ("log", "log1p", "log2", "log10", "sqrt", "rsqrt", "reciprocal",
                              "lgamma", "digamma")],
    *[F(n, U(3, 4)) for n in ("tan", "asin", "acos", "atanh", "erfinv", "arcsin", "arccos",
                              "arctanh")],
    *[F(n, G(3, 4)) for n in ("acosh", "arccosh")],
    F("frac", A(3, 4) * 3),
    F("logit", U(3, 4) * 0.4 + 0.5),
    F("logit", np.array([0.01, 0.3, 0.95]), eps=0.1, id="logit-eps"),
    F("polygamma", 1, P(5), rtol=1e-8),  # SciPy and PyTorch differ at 5e-10
    F("nan_to_num", NAN),
    F("nan_to_num", NAN, nan=2.0, posinf=9.0, neginf=-9.0, id="nan_to_num-values"),
    *[F(n, A(3, 4) * 3, grad=False) for n in ("sign", "sgn", "floor", "ceil", "trunc", "fix",
                                              "round", "signbit")],
    F("round", A(3, 4) * 3, decimals=2, grad=False, id="round-decimals"),
    *[F(n, NAN, grad=False) for n in ("isnan", "isinf", "isfinite", "isposinf", "isneginf")],
    F("logical_not", B(3, 4), grad=False),
    # ---- elementwise, two or more arguments
    F("add", A(3, 4), A(4), alpha=2.0),
    F("add", A(3, 4), 3.0, id="add-scalar"),
    F("sub", A(3, 4), A(3, 1), alpha=0.5),
    F("subtract", A(3, 4), A(3, 4)),
    F("mul", A(3, 4), A(4)),
    F("multiply", A(3, 4), 2.5),
    F("div", A(3, 4), P(3, 4)),
    F("divide", A(3, 4), P(4)),
    F("true_divide", A(3, 4), P(4)),
    F("div", A(3, 4) * 4, P(3, 4), rounding_mode="trunc", grad=False, id="div-trunc"),
    F("div", A(3, 4) * 4, P(3, 4), rounding_mode="floor", grad=False, id="div-floor"),
    F("div", I(7, -7, 6, -6), I(2, 2, -4, 4), rounding_mode="trunc", grad=False,
      id="div-trunc-int"),
    F("floor_divide", A(3, 4) * 4, P(3, 4), grad=False),
    F("pow", P(3, 4), A(3, 4)),
    F("pow", A(3, 4), 3, id="pow-int"),
    F("pow", 2.0, A(3, 4), id="pow-base"),
    F("float_power", P(4), 2.5),
    F("atan2", A(3, 4), A(3, 4)),
    F("arctan2", A(3, 4), A(4)),
    F("hypot", A(3, 4), A(3, 4)),
    F("logaddexp", A(3, 4), A(3, 4)),
    F("logaddexp2", A(3, 4), A(3, 4)),
    F("maximum", A(3, 4), A(3, 4)),
    F("minimum", A(3, 4), A(4)),
    F("fmax", WITH_NAN, np.array([[np.nan, 0.0, 1.0], [2.0, -1.0, np.nan]])),
    F("fmin", WITH_NAN, np.array([[np.nan, 0.0, 1.0], [2.0, -1.0, np.nan]])),
    F("fmod", A(3, 4) * 5, A(3, 4) + 0.1),
    F("fmod", A(3, 4) * 5, 1.5, id="fmod-scalar"),
    F("fmod", I(7, -7, 6, -6), I(2, 2, -4, 4), grad=False, id="fmod-int"),
    F("remainder", A(3, 4) * 5, P(3, 4)),
    F("lerp", A(3, 4), A(3, 4), 0.3),
    F("lerp", A(3, 4), A(3, 4), U(3, 4), id="lerp-tensor-weight"),
    F("addcmul", A(3, 4), A(3, 4), A(4), value=0.5),
    F("addcdiv", A(3, 4), A(3, 4), P(3, 4), value=-2.0),
    F("where", B(3, 4), A(3, 4), A(3, 4)),
    F("where", B(3, 4), A(3, 4), 0.0, id="where-scalar"),
    F("clamp", A(3, 4), -0.5, 0.5),
    F("clamp", A(3, 4), min=-0.2, id="clamp-min"),
    F("clamp", A(3, 4), max=0.3, id="clamp-max"),
    F("clamp", A(3, 4), 0.5, -0.5, id="clamp-min-above-max"),
    F("clamp", A(3, 4), min=A(3, 4) - 0.5, max=A(4) + 0.5, id="clamp-tensor-bounds"),
    F("clamp", A(3, 4), min=A(3, 4), id="clamp-tensor-min"),
    F("clip", A(3, 4), -0.5, 0.5),
    F("clamp_min", A(3, 4), 0.1),
    F("clamp_max", A(3, 4), 0.1),
    *[F(n, A(3, 4), A(4), grad=False) for n in ("eq", "ne", "lt", "le", "gt", "ge", "greater",
                                                "less", "greater_equal", "less_equal",
                                                "not_equal")],
    F("eq", np.array([1.0, 2.0, 3.0]), 2.0, grad=False, id="eq-scalar"),
    *[F(n, B(3, 4), B(3, 4), grad=False) for n in ("logical_and", "logical_or", "logical_xor")],
    F("isclose", np.array([1.0, 1.0 + 1e-9, 2.0, np.nan]), np.array([1.0, 1.0, 2.1, np.nan]),
      grad=False),
    F("isclose", np.array([1.0, np.nan]), np.array([1.0, np.nan]), equal_nan=True, grad=False,
      id="isclose-nan"),
    F("allclose", np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-9]), grad=False),
    F("allclose", np.array([1.0, 2.0]), np.array([1.0, 2.1]), grad=False, id="allclose-false"),
    F("equal", np.array([1.0, 2.0]), np.array([1.0, 2.0]), grad=False),
    F("equal", np.array([1.0, 2.0]), np.array([1.0, 2.5]), grad=False, id="equal-false"),
    F("equal", np.array([1.0, 2.0]), np.array([[1.0, 2.0]]), grad=False, id="equal-shape"),
    # ---- reductions
    F("sum", A(3, 4, 2)),
    F("sum", A(3, 4, 2), 1, id="sum-dim"),
    F("sum", A(3, 4, 2), (0, 2), keepdim=True, id="sum-dims-keepdim"),
    L("sum-dtype", lambda L, x: L.sum(x, dim=-1, dtype=L.float64), A(3, 4)),
    L("sum-int-dtype", lambda L, x: L.sum(x, 0, dtype=L.float64), I(1, 2, 3), grad=False),
    F("nansum", WITH_NAN),
    F("nansum", WITH_NAN, 1, id="nansum-dim"),
    F("mean", A(3, 4, 2)),
    F("mean", A(3, 4, 2), (1, 2), True, id="mean-dims-keepdim"),
    F("nanmean", WITH_NAN, 1),
    F("prod", A(3, 4)),
    F("prod", ZERO_IN, 1, id="prod-dim-zeros"),
    F("max", A(3, 4)),
    F("max", A(3, 4), 1, id="max-dim"),
    F("max", A(3, 4), 0, True, id="max-dim-keepdim"),
    F("max", A(3, 4), dim=-1, keepdim=False, id="max-dim-kw"),
    F("max", A(3, 4), A(3, 4), id="max-elementwise"),
    F("max", np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]), 1, id="max-dim-ties"),
    F("max", np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]), id="max-ties"),
    F("min", A(3, 4)),
    F("min", A(3, 4), 1, id="min-dim"),
    F("min", A(3, 4), A(4), id="min-elementwise"),
    F("amax", A(3, 4, 2), (0, 2)),
    F("amax", A(3, 4), id="amax-all"),
    F("amin", A(3, 4, 2), 1, True),
    L("aminmax", lambda L, x: tuple(L.aminmax(x, dim=1)), A(3, 4)),
    F("argmax", A(3, 4), grad=False),
    F("argmax", A(3, 4), 1, keepdim=True, grad=False, id="argmax-dim"),
    F("argmin", A(3, 4), 0, grad=False),
    F("var", A(3, 4)),
    F("var", A(3, 4), 1, id="var-dim"),
    F("var", A(3, 4), 1, correction=0, keepdim=True, id="var-correction"),
    F("var", A(3, 4), 1, False, id="var-unbiased-positional"),
    F("var", A(3, 4), False, id="var-unbiased-only"),
    F("std", A(3, 4)),
    F("std", A(3, 4), (0, 1), correction=2, id="std-correction"),
    F("std", np.ones((2, 3)), 1, id="std-zero-spread"),
    L("var_mean", lambda L, x: L.var_mean(x, 1), A(3, 4)),
    L("std_mean", lambda L, x: L.std_mean(x, 0, keepdim=True), A(3, 4)),
    F("logsumexp", A(3, 4), 1),
    F("logsumexp", A(3, 4), (0, 1), keepdim=True, id="logsumexp-dims"),
    F("any", B(3, 4), grad=False),
    F("any", B(3, 4), 1, grad=False, id="any-dim"),
    F("all", B(3, 4), 0, keepdim=True, grad=False),
    F("count_nonzero", ZERO_IN, grad=False),
    F("count_nonzero", ZERO_IN, 1, grad=False, id="count_nonzero-dim"),
    F("softmax", A(3, 4), 1),
    F("softmax", A(3, 4), 0, id="softmax-dim0"),
    F("log_softmax", A(3, 4), -1),
    F("cumsum", A(3, 4), 1),
    F("cumsum", A(3, 4), 0, id="cumsum-dim0"),
    F("cumprod", ZERO_IN, 1),
    F("cumprod", A(3, 4), 0, id="cumprod-dim0"),
    F("logcumsumexp", A(3, 4) * 10, 1),
    F("logcumsumexp", A(5), 0, id="logcumsumexp-1d"),
    F("diff", A(3, 5)),
    F("diff", A(4, 3), n=2, dim=0, id="diff-n2"),
    F("diff", A(3, 4), dim=1, prepend=A(3, 1), append=A(3, 2), id="diff-prepend-append"),
    # ---- shapes
    F("reshape", A(3, 4), (2, -1)),
    F("transpose", A(2, 3, 4), 0, 2),
    F("swapaxes", A(2, 3, 4), -1, 0),
    F("swapdims", A(2, 3, 4), 1, 2),
    F("permute", A(2, 3, 4), (2, 0, 1)),
    F("movedim", A(2, 3, 4), 0, -1),
    F("movedim", A(2, 3, 4), (0, 1), (2, 0), id="movedim-tuple"),
    F("moveaxis", A(2, 3, 4), 1, 0),
    F("t", A(3, 4)),
    F("t", A(4), id="t-1d"),
    F("flatten", A(2, 3, 4)),
    F("flatten", A(2, 3, 4, 2), 1, 2, id="flatten-range"),
    F("unflatten", A(2, 12), 1, (3, -1)),
    F("squeeze", A(2, 1, 3, 1)),
    F("squeeze", A(2, 1, 3, 1), 1, id="squeeze-dim"),
    F("unsqueeze", A(2, 3), -1),
    F("ravel", A(2, 3)),
    F("narrow", A(4, 5), 1, 1, 3),
    F("narrow", A(4, 5), 0, -2, 2, id="narrow-negative-start"),
    F("select", A(4, 5), 1, -1),
    L("split", lambda L, x: L.split(x, 2, 1), A(3, 5)),
    L("split-sizes", lambda L, x: L.split(x, [1, 3, 1], dim=1), A(3, 5)),
    L("chunk", lambda L, x: L.chunk(x, 3, 1), A(3, 5)),
    L("chunk-fewer", lambda L, x: L.chunk(x, 4, 0), A(6, 2)),
    L("tensor_split", lambda L, x: L.tensor_split(x, 3, dim=1), A(3, 7)),
    L("tensor_split-indices", lambda L, x: L.tensor_split(x, [1, 4], dim=1), A(3, 7)),
    L("unbind", lambda L, x: L.unbind(x, 1), A(3, 4)),
    L("cat", lambda L, x, y: L.cat([x, y], 1), A(2, 3), A(2, 2)),
    L("cat-neg-dim", lambda L, x, y: L.cat([x, y], dim=-2), A(2, 3), A(1, 3)),
    L("concat", lambda L, x, y: L.concat([x, y]), A(2, 3), A(1, 3)),
    L("stack", lambda L, x, y: L.stack([x, y], 1), A(2, 3), A(2, 3)),
    L("hstack", lambda L, x, y: L.hstack([x, y]), A(3), A(2)),
    L("hstack-2d", lambda L, x, y: L.hstack([x, y]), A(2, 3), A(2, 2)),
    L("vstack", lambda L, x, y: L.vstack([x, y]), A(3), A(2, 3)),
    L("dstack", lambda L, x, y: L.dstack([x, y]), A(2, 3), A(2, 3)),
    L("column_stack", lambda L, x, y: L.column_stack([x, y]), A(3), A(3, 2)),
    L("atleast_1d", lambda L, x: L.atleast_1d(x), np.array(2.0)),
    L("atleast_2d", lambda L, x, y: L.atleast_2d(x, y), np.array(2.0), A(3)),
    L("atleast_3d", lambda L, x, y: L.atleast_3d((x, y)), A(3), A(2, 3)),
    F("broadcast_to", A(3, 1), (2, 3, 4)),
    L("broadcast_tensors", lambda L, x, y: L.broadcast_tensors(x, y), A(3, 1), A(4)),
    L("meshgrid-ij", lambda L, x, y: L.meshgrid(x, y, indexing="ij"), A(3), A(4)),
    L("meshgrid-xy", lambda L, x, y, z: L.meshgrid(x, y, z, indexing="xy"), A(3), A(4), A(2)),
    F("flip", A(3, 4, 2), (0, 2)),
    F("fliplr", A(3, 4)),
    F("flipud", A(3, 4)),
    F("roll", A(3, 4), (1, -2), (0, 1)),
    F("roll", A(3, 4), 5, id="roll-flat"),
    *[F("rot90", A(3, 4, 2), k, (0, 1), id=f"rot90-k{k}") for k in (1, 2, 3, -1)],
    F("rot90", A(3, 4, 2), 1, (2, 0), id="rot90-dims"),
    F("repeat_interleave", A(2, 3), 2),
    F("repeat_interleave", A(2, 3), I(1, 0, 2), dim=1, id="repeat_interleave-tensor"),
    F("repeat_interleave", I(2, 0, 3), grad=False, id="repeat_interleave-counts"),
    F("tile", A(2, 3), (2, 1, 2)),
    F("tril", A(4, 5)),
    F("tril", A(2, 4, 5), -1, id="tril-batched"),
    F("triu", A(4, 5), 1),
    F("diagonal", A(4, 5), 1),
    F("diagonal", A(2, 4, 5), -1, 1, 2, id="diagonal-dims"),
    F("diag", A(4), 1),
    F("diag", A(4), -2, id="diag-vector-below"),
    F("diag", A(4, 5), -1, id="diag-matrix"),
    F("diag_embed", A(2, 3)),
    F("diag_embed", A(2, 3), 1, 0, 2, id="diag_embed-dims"),
    F("trace", A(4, 5)),
    # ---- indexing
    F("gather", A(3, 4), 1, np.array([[0, 3], [1, 1], [2, 0]])),
    F("gather", A(3, 4), 0, np.array([[0, 2, 1, 2]]), id="gather-dim0"),
    F("take_along_dim", A(3, 4), np.array([[0], [3], [1]]), 1),
    F("take_along_dim", A(3, 4), I(0, 5, 11), id="take_along_dim-flat"),
    F("index_select", A(3, 4), 1, I(3, 0, 3)),
    F("take", A(3, 4), np.array([[0, 11], [5, 5]])),
    F("masked_select", A(3, 4), B(4)),
    F("masked_fill", A(3, 4), B(3, 4), 0.5),
    F("masked_fill", A(3, 4), B(4), np.array(2.0), id="masked_fill-tensor-value"),
    F("scatter", A(3, 4), 1, np.array([[0, 3], [1, 2], [2, 0]]), A(3, 2)),
    # PyTorch's own backward fails for a src larger than the index: values only
    F("scatter", A(3, 4), 0, np.array([[0, 2, 1, 2]]), A(2, 5), id="scatter-larger-src",
      grad=False),
    F("scatter", A(3, 4), 1, np.array([[0], [3], [1]]), value=7.0, id="scatter-value"),
    F("scatter_add", A(3, 4), 1, np.array([[0, 0], [1, 2], [3, 3]]), A(3, 2)),
    F("index_add", A(3, 4), 0, I(2, 0, 2), A(3, 4), alpha=2.0),
    F("index_fill", A(3, 4), 1, I(0, 2), -1.0),
    F("nonzero", ZERO_IN, grad=False),
    L("nonzero-tuple", lambda L, x: L.nonzero(x, as_tuple=True), Const(ZERO_IN), grad=False),
    F("argwhere", ZERO_IN, grad=False),
    L("where-one-arg", lambda L, c: L.where(c), B(3, 4), grad=False),
    F("searchsorted", Const(np.array([0.0, 1.0, 2.5, 4.0])), Const(A(5) * 3), grad=False),
    F("searchsorted", Const(np.array([0.0, 1.0, 2.0])), Const(np.array([1.0, 2.0])), right=True,
      grad=False, id="searchsorted-right"),
    F("bucketize", Const(A(5) * 3), Const(np.array([0.0, 1.0, 2.5])), grad=False),
    # ---- sorting
    L("sort", lambda L, x: tuple(L.sort(x)), A(3, 5)),
    L("sort-descending", lambda L, x: tuple(L.sort(x, 0, descending=True)), A(3, 5)),
    L("sort-stable-ties", lambda L, x: tuple(L.sort(x, descending=True, stable=True)),
      np.array([1.0, 3.0, 1.0, 3.0, 2.0, 1.0])),
    L("sort-stable-ascending", lambda L, x: tuple(L.sort(x, stable=True)),
      np.array([1.0, 3.0, 1.0, 3.0, 2.0, 1.0])),
    F("argsort", A(3, 5), grad=False),
    F("argsort", A(3, 5), 0, True, grad=False, id="argsort-descending"),
    F("msort", A(4, 3)),
    L("topk", lambda L, x: tuple(L.topk(x, 2)), A(3, 5)),
    L("topk-smallest", lambda L, x: tuple(L.topk(x, 3, dim=0, largest=False)), A(4, 5)),
    L("kthvalue", lambda L, x: tuple(L.kthvalue(x, 2, 1)), A(3, 5)),
    L("kthvalue-keepdim", lambda L, x: tuple(L.kthvalue(x, 3, 0, True)), A(4, 5)),
    F("median", A(3, 5)),
    F("median", A(4, 3), id="median-even"),
    L("median-dim", lambda L, x: tuple(L.median(x, 1)), A(4, 3)),
    # ---- linear algebra
    F("matmul", A(2, 3, 4), A(4, 5)),
    F("matmul", A(4), A(4, 5), id="matmul-vec"),
    F("mm", A(3, 4), A(4, 2)),
    F("bmm", A(2, 3, 4), A(2, 4, 5)),
    F("mv", A(3, 4), A(4)),
    F("dot", A(4), A(4)),
    F("vdot", A(4), A(4)),
    F("inner", A(2, 4), A(3, 4)),
    F("inner", A(4), A(4), id="inner-1d"),
    F("outer", A(3), A(4)),
    F("ger", A(3), A(4)),
    F("addmm", A(3, 2), A(3, 4), A(4, 2), beta=0.5, alpha=2.0),
    F("tensordot", A(2, 3, 4), A(3, 4, 5), 2),
    F("tensordot", A(2, 3, 4), A(4, 3), ([1, 2], [1, 0]), id="tensordot-lists"),
    F("einsum", "bij,bjk->bik", A(2, 3, 4), A(2, 4, 5)),
    L("einsum-list", lambda L, x, y: L.einsum("i,i->", [x, y]), A(4), A(4)),
    F("einsum", "ii->i", A(3, 3), id="einsum-diagonal"),
    F("cross", A(4, 3), A(4, 3), dim=1),
    F("cross", A(3, 2), A(3, 1), dim=0, id="cross-broadcast"),
    F("kron", A(2, 3), A(3, 2)),
    F("kron", A(3), A(2, 2), id="kron-mixed-ndim"),
    F("det", A(3, 3)),
    F("logdet", SPD),
    L("slogdet-sign", lambda L, x: L.slogdet(x)[0], -SPD, grad=False),
    L("slogdet", lambda L, x: L.slogdet(x).logabsdet, A(3, 3)),
    F("inverse", SPD),
    F("norm", A(3, 4)),
    F("norm", A(3, 4), 1, id="norm-p1"),
    F("norm", A(3, 4), 3, dim=1, id="norm-p3-dim"),
    F("norm", A(3, 4), math.inf, id="norm-inf"),
    F("norm", A(3, 4), -math.inf, dim=0, keepdim=True, id="norm-neg-inf"),
    F("norm", A(3, 4), 0, id="norm-p0", grad=False),
    F("norm", A(2, 3, 4), "fro", dim=(1, 2), id="norm-fro-dims"),
    F("norm", A(3, 4), 2, dim=(0, 1), id="norm-p2-two-dims"),
    F("norm", A(3, 4), "nuc", id="norm-nuc", rtol=1e-8),
    F("norm", np.zeros((2, 3)), id="norm-at-zero"),
    F("norm", np.array([[0.0, 0.0], [1.0, -2.0]]), 3, dim=1, id="norm-p3-zero-row"),
    F("dist", A(3, 4), A(4), 3),
    # ---- methods PyTorch users call
    M("repeat", A(2, 3), 2, 1, 2),
    M("repeat", A(3), (2, 2), id="m.repeat-tuple"),
    M("repeat_interleave", A(2, 3), 3, dim=0),
    M("masked_fill", A(3, 4), B(3, 4), -1.0),
    L("m.topk", lambda L, x: tuple(x.topk(3, largest=True)), A(2, 5)),
    L("m.sort", lambda L, x: tuple(x.sort(dim=0, descending=True)), A(4, 2)),
    M("argsort", A(3, 4), dim=1, grad=False),
    M("softmax", A(3, 4), 1),
    M("softmax", A(3, 4), dim=-1, id="m.softmax-kw"),
    M("log_softmax", A(3, 4), 0),
    L("m.chunk", lambda L, x: x.chunk(2, dim=1), A(3, 5)),
    L("m.split", lambda L, x: x.split([2, 1], 0), A(3, 5)),
    M("narrow", A(3, 5), 1, 2, 2),
    M("flip", A(3, 4), 0),
    M("flip", A(3, 4), (0, 1), id="m.flip-tuple"),
    M("roll", A(3, 4), 1, 1),
    M("tril", A(4, 4), -1),
    M("triu", A(4, 4)),
    M("diag", A(4)),
    M("diag", A(3, 4), 1, id="m.diag-matrix"),
    M("diagonal", A(3, 4), 0, 0, 1),
    M("trace", A(3, 3)),
    M("t", A(3, 4)),
    M("cumsum", A(3, 4), 1),
    M("cumsum", A(3, 4), dim=0, id="m.cumsum-kw"),
    M("cumprod", A(3, 4), 1),
    M("gather", A(3, 4), 1, np.array([[1], [0], [3]])),
    M("index_select", A(3, 4), 0, I(2, 2)),
    M("scatter_add", A(3, 4), 0, np.array([[0, 1, 2, 0]]), A(1, 4)),
    M("norm", A(3, 4)),
    M("norm", A(3, 4), 1, 1, id="m.norm-p-dim"),
    M("movedim", A(2, 3, 4), 0, 2),
    M("unflatten", A(2, 6), 1, (2, 3)),
    M("tile", A(2, 3), (2,)),
    M("masked_select", A(3, 4), B(3, 4)),
    L("m.unbind", lambda L, x: x.unbind(0), A(2, 3)),
    M("select", A(3, 4), 0, 1),
    M("rsqrt", P(3)),
    M("asin", U(3)),
    M("atan2", A(3), A(3)),
    M("fmod", A(3) * 4, 1.5),
    M("lerp", A(3), A(3), 0.25),
    M("erf", A(3)),
    M("lgamma", P(3)),
    M("frac", A(3) * 3),
    M("logit", U(3) * 0.4 + 0.5),
    M("clamp", A(3, 4), min=A(4)),
    M("clamp", A(3, 4), -0.1, 0.1, id="m.clamp-scalars"),
    M("clamp_min", A(3), 0.0),
    L("m.max-dim", lambda L, x: tuple(x.max(1)), A(3, 4)),
    L("m.max-dim-ties", lambda L, x: tuple(x.max(dim=1)), np.array([[2.0, 2.0, 1.0]])),
    L("m.min-dim-keepdim", lambda L, x: tuple(x.min(0, keepdim=True)), A(3, 4)),
    L("m.max-all", lambda L, x: x.max(), A(3, 4)),
    L("m.max-other", lambda L, x, y: x.max(y), A(3, 4), A(4)),
    L("m.kthvalue", lambda L, x: tuple(x.kthvalue(2)), A(3, 4)),
    L("m.median-dim", lambda L, x: tuple(x.median(0)), A(3, 4)),
    M("mm", A(3, 4), A(4, 2)),
    M("bmm", A(2, 3, 4), A(2, 4, 1)),
    M("mv", A(3, 4), A(4)),
    M("outer", A(3), A(2)),
    M("cross", A(3), A(3), dim=0),
    M("var", A(2, 3), 1, False, True, id="m.var(dim, unbiased, keepdim)"),
    M("std", A(2, 3), 0, False, id="m.std(dim, unbiased)"),
    Case("cross-default-dim", lambda L, x, y: L.cross(x, y) if L is tg else L.linalg.cross(
        x, y, dim=1), (A(2, 3, 3), A(2, 3, 3))),
    M("kron", A(2), A(3)),
    M("inner", A(3), A(3)),
    M("take_along_dim", A(3, 4), np.array([[1], [0], [3]]), 1),
    M("nan_to_num", NAN),
    M("nansum", WITH_NAN),
    M("det", A(3, 3)),
    M("inverse", SPD),
    M("logcumsumexp", A(3, 4), 1),
    M("diff", A(3, 4)),
    M("rot90", A(3, 4)),
    M("isclose", np.array([1.0, 2.0]), np.array([1.0, 2.5]), grad=False),
    M("equal", np.array([1.0, 2.0]), np.array([1.0, 2.0]), grad=False),
    M("type_as", A(3), Const(np.zeros(2, dtype=np.float32)), grad=False),
    M("new_zeros", A(3), (2, 2), grad=False),
    M("new_ones", A(3), 2, 3, grad=False),
    M("new_full", A(3), (2,), 4.5, grad=False),
    M("new_tensor", A(3), [1.0, 2.0], grad=False),
    M("count_nonzero", ZERO_IN, grad=False),
    M("nonzero", ZERO_IN, grad=False),
    M("is_floating_point", A(2), grad=False),
    F("is_floating_point", I(1, 2), grad=False, id="is_floating_point-int"),
    F("is_complex", A(2), grad=False),
    F("numel", A(3, 4), grad=False),
    F("clone", A(3, 4)),
    F("is_nonzero", np.array([0.5]), grad=False),
    L("max-0d", lambda L, x: tuple(L.max(x, 0)), np.array(1.5)),
    M("element_size", A(2), grad=False),
]
IDS = [c.id for c in CASES]
assert len(set(IDS)) == len(IDS), sorted(i for i in IDS if IDS.count(i) > 1)


# ---- the comparison ----------------------------------------------------------------------------
def _ours(a, device):
    if isinstance(a, Const):
        return tensor_on(a.a, device)
    if isinstance(a, np.ndarray):
        return tensor_on(a, device, requires_grad=a.dtype.kind == "f")
    return a


def _theirs(a):
    if isinstance(a, Const):
        return torch.tensor(a.a)
    if isinstance(a, np.ndarray):
        return torch.tensor(a, requires_grad=a.dtype.kind == "f")
    return a


def _leaves(out):
    """The tensors of a result (a tensor, or a tuple/list of them)."""
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _leaves(o)]
    return [out]


def _compare(mine, theirs, device, rtol, where):
    if isinstance(theirs, (tuple, list)):
        assert isinstance(mine, (tuple, list)) and len(mine) == len(theirs), where
        for i, (m, t) in enumerate(zip(mine, theirs)):
            _compare(m, t, device, rtol, f"{where}[{i}]")
        return
    if not isinstance(theirs, torch.Tensor):
        assert not isinstance(mine, tg.Tensor) and mine == theirs, (where, mine, theirs)
        assert type(mine) is type(theirs), (where, type(mine), type(theirs))
        return
    assert isinstance(mine, tg.Tensor), (where, type(mine))
    assert on(mine, device), where
    assert tuple(mine.shape) == tuple(theirs.shape), (where, mine.shape, theirs.shape)
    expect = theirs.detach().numpy()
    assert mine.dtype.kind == expect.dtype.kind, (where, mine.dtype, expect.dtype)
    if mine.dtype.kind == "f":
        assert mine.dtype == expect.dtype, (where, mine.dtype, expect.dtype)
    np.testing.assert_allclose(host(mine), expect, rtol=rtol, atol=1e-12, err_msg=where)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_matches_torch(case, device):
    ours = [_ours(a, device) for a in case.args]
    theirs = [_theirs(a) for a in case.args]
    def call(L, fn, values):
        n = len(values) - len(case.names)
        return fn(L, *values[:n], **dict(zip(case.names, values[n:])), **case.kwargs)

    out = call(tg, case.fn, ours)
    tout = call(torch, case.torch_fn or case.fn, theirs)
    _compare(out, tout, device, case.rtol, f"{case.id}: values")
    if not case.grad:
        return
    mine_out = [o for o in _leaves(out) if isinstance(o, tg.Tensor) and o.requires_grad]
    their_out = [o for o in _leaves(tout) if isinstance(o, torch.Tensor) and o.requires_grad]
    assert mine_out and len(mine_out) == len(their_out), f"{case.id}: outputs with history"
    rng = np.random.default_rng(0)
    loss = 0
    tloss = 0
    for m, t in zip(mine_out, their_out):
        w = rng.standard_normal(tuple(t.shape))
        loss = loss + (m * tensor_on(w, device)).sum()
        tloss = tloss + (t * torch.tensor(w)).sum()
    loss.backward()
    tloss.backward()
    checked = 0
    for i, (a, m, t) in enumerate(zip(case.args, ours, theirs)):
        if not (isinstance(a, np.ndarray) and a.dtype.kind == "f"):
            continue
        expect = np.zeros(a.shape) if t.grad is None else t.grad.numpy()
        assert m.grad is not None, f"{case.id}: no gradient reached argument {i}"
        assert on(m.grad, device) and m.grad.dtype == np.float64
        np.testing.assert_allclose(host(m.grad), expect, rtol=1e-9, atol=1e-10,
                                   err_msg=f"{case.id}: gradient of argument {i}")
        checked += 1
    assert checked, f"{case.id}: no differentiable argument"


# ---- second derivatives of the compositions, against finite differences ------------------------
def _on_tensors(fn):
    return lambda *xs: fn(*[tg.tensor(x) if isinstance(x, np.ndarray) else x for x in xs])


_MASK23 = np.array([[True, False, True], [False, False, True]])
SECOND_ORDER = [
    ("cumprod", lambda x: tg.cumprod(x, 1), [ZERO_IN]),
    ("logcumsumexp", lambda x: tg.logcumsumexp(x, 0), [A(4, 2)]),
    ("cross", lambda x, y: tg.cross(x, y, dim=0), [A(3, 2), A(3, 2)]),
    ("kron", tg.kron, [A(2, 2), A(2, 3)]),
    ("fmod", tg.fmod, [A(5) * 4, A(5) + 2.5]),
    ("fmax", tg.fmax, [WITH_NAN[0], np.array([np.nan, 0.0, 1.0])]),
    ("clamp-tensor", lambda x, lo, hi: tg.clamp(x, lo, hi), [A(6), A(6) - 1, A(6) + 1]),
    ("lerp", tg.lerp, [A(3), A(3), U(3)]),
    ("norm-p3", lambda x: tg.norm(x, 3, dim=1), [A(2, 3)]),
    ("norm-2", lambda x: tg.norm(x), [A(2, 3)]),
    ("topk", lambda x: tg.topk(x, 2).values, [A(2, 4)]),
    ("sort", lambda x: tg.sort(x, 0, descending=True).values, [A(3, 2)]),
    ("max-dim", lambda x: tg.max(x, 1).values, [A(2, 4)]),
    ("median", lambda x: tg.median(x, 0).values, [A(3, 2)]),
    ("gather", lambda x: tg.gather(x, 1, tg.tensor(np.array([[0, 0], [2, 1]]))), [A(2, 3)]),
    ("scatter", lambda x, s: tg.scatter(x, 1, tg.tensor(np.array([[0, 2], [1, 0]])), s),
     [A(2, 3), A(2, 2)]),
    ("masked_fill", lambda x, v: tg.masked_fill(x, tg.tensor(_MASK23), v), [A(2, 3),
                                                                             np.array(0.7)]),
    ("diag_embed", lambda x: tg.diag_embed(x, 1), [A(2, 3)]),
    ("rot90", lambda x: tg.rot90(x, 1) * x.T, [A(3, 3)]),
    ("softmax", lambda x: tg.softmax(x, 0), [A(3, 2)]),
    ("nanmean", lambda x: tg.nanmean(x, 1) ** 2, [WITH_NAN]),
    ("logit", lambda x: tg.logit(x), [U(3) * 0.4 + 0.5]),
    ("rsqrt", tg.rsqrt, [P(3)]),
    ("frac", lambda x: tg.frac(x) * x, [A(3) * 3]),
    ("var_mean", lambda x: tg.var_mean(x, 1)[0] * tg.var_mean(x, 1)[1], [A(2, 3)]),
    ("std", lambda x: tg.std(x, 1), [A(2, 3)]),
    ("addcdiv", lambda x, y, z: tg.addcdiv(x, y, z, value=0.5), [A(3), A(3), P(3)]),
    ("meshgrid", lambda x, y: tg.meshgrid(x, y)[0] * tg.meshgrid(x, y)[1], [A(2), A(3)]),
]


@pytest.mark.parametrize("name,fn,args", SECOND_ORDER, ids=[s[0] for s in SECOND_ORDER])
def test_second_derivatives_match_finite_differences(name, fn, args):
    tg.check_grads(_on_tensors(fn), modes=("fwd", "rev"), order=2)(*args)


# ---- the namespace and the methods -------------------------------------------------------------
TORCH_NAMES = (
    "exp log tanh sigmoid relu abs sqrt sin cos pow matmul mm bmm where clamp sum mean max min "
    "amax amin argmax softmax log_softmax logsumexp transpose permute reshape flatten squeeze "
    "unsqueeze gather index_select masked_fill einsum outer norm cumsum log1p expm1 exp2 log2 "
    "log10 rsqrt square sign neg reciprocal floor ceil round trunc frac tan asin acos atan atan2 "
    "sinh cosh asinh acosh atanh erf erfc lgamma digamma maximum minimum fmod remainder clip "
    "argmin prod var std var_mean std_mean cumprod logcumsumexp diff dot vdot inner cross kron "
    "trace diag diagonal tril triu flip roll rot90 repeat_interleave tile stack cat concat "
    "hstack vstack split chunk narrow movedim moveaxis swapaxes t topk sort argsort isnan isinf "
    "isfinite allclose isclose equal eq ne lt le gt ge logical_and logical_or logical_not "
    "zeros_like ones_like full_like empty_like rand_like randn_like"
).split()
METHOD_NAMES = (
    "repeat repeat_interleave masked_fill topk sort argsort softmax log_softmax chunk split "
    "narrow flip roll tril triu diag exp_ clamp_ zero_ fill_ mul_ add_ sub_ div_ copy_ neg_ "
    "log_ sqrt_ sigmoid_ tanh_ relu_ abs_ masked_fill_ clamp_min_ uniform_ normal_ gather "
    "index_select cumsum cumprod norm t movedim unbind kthvalue median cross outer mm bmm "
    "type_as new_zeros new_ones new_full new_tensor scatter scatter_add index_add nonzero"
).split()


def test_every_listed_function_is_in_the_namespace():
    missing = [n for n in TORCH_NAMES if not callable(getattr(tg, n, None))]
    assert not missing, missing
    for n in TORCH_NAMES:
        assert callable(getattr(torch, n)), n  # the names are PyTorch's


def test_every_listed_method_is_on_tensor():
    missing = [n for n in METHOD_NAMES if not callable(getattr(tg.Tensor, n, None))]
    assert not missing, missing
    for n in METHOD_NAMES:
        assert callable(getattr(torch.Tensor, n)), n


def test_numpy_namespace_comes_with_the_package():
    import subprocess
    import sys

    code = "import tensorgrad as tg; print(tg.numpy.sum(tg.numpy.ones(3)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "3.0"


def test_existing_names_keep_working(device):
    x = tensor_on(np.array([[1.0, 5.0], [4.0, 2.0]]), device, requires_grad=True)
    assert tg.cat([x, x], axis=1).shape == (2, 4)  # NumPy's axis= still accepted
    assert tg.stack([x, x], dim=0).shape == (2, 2, 2)
    np.testing.assert_allclose(host(x.max(axis=1)), [5.0, 4.0])  # NumPy keyword: values only
    assert x.max(axis=1, keepdims=True).shape == (2, 1)
    np.testing.assert_allclose(host(x.clamp(2.0, 4.0)), [[2.0, 4.0], [4.0, 2.0]])
    assert x.round().dtype == np.float64 and host(x.sum(dim=0)).tolist() == [5.0, 7.0]


def test_named_tuples_have_values_and_indices(device):
    x = tensor_on(A(3, 4), device)
    for r in (tg.max(x, 1), tg.min(x, 1), tg.sort(x), tg.topk(x, 2), tg.kthvalue(x, 2),
              tg.median(x, 1), x.max(dim=0)):
        values, indices = r
        assert r.values is values and r.indices is indices
        assert indices.dtype == np.int64 and on(indices, device)
    assert type(tg.sort(x)).__name__ == "sort" and type(tg.topk(x, 1)).__name__ == "topk"


def test_ties_send_the_gradient_to_the_returned_index_like_torch(device):
    data = np.array([[3.0, 1.0, 3.0], [2.0, 2.0, 2.0]])
    x = tensor_on(data, device, requires_grad=True)
    tx = torch.tensor(data, requires_grad=True)
    for f in (lambda L, v: L.max(v, 1).values, lambda L, v: L.min(v, 1).values,
              lambda L, v: L.sort(v, 1, descending=True).values[:, 0],
              lambda L, v: L.topk(v, 1).values, lambda L, v: L.median(v, 1).values):
        x.grad = None
        tx.grad = None
        f(tg, x).sum().backward()
        f(torch, tx).sum().backward()
        np.testing.assert_allclose(host(x.grad), tx.grad.numpy())


def test_float32_stays_float32(device):
    x = tensor_on(A(3, 4).astype(np.float32), device, requires_grad=True)
    for out in (tg.masked_fill(x, x > 0, 1.5), tg.clamp(x, -0.5, 0.5), tg.norm(x), tg.std(x),
                tg.cumprod(x, 1), tg.logcumsumexp(x, 1), tg.where(x > 0, x, 0.0),
                tg.fmod(x, 0.7), tg.nan_to_num(x), tg.lerp(x, x * 2, 0.5), tg.rsqrt(x.abs())):
        assert out.dtype == np.float32, out


# ---- in-place methods ---------------------------------------------------------------------------
INPLACE = [
    ("exp_", (), A(3, 4)),
    ("log_", (), P(3, 4)),
    ("sqrt_", (), P(3, 4)),
    ("neg_", (), A(3, 4)),
    ("abs_", (), A(3, 4)),
    ("sigmoid_", (), A(3, 4)),
    ("tanh_", (), A(3, 4)),
    ("relu_", (), A(3, 4)),
    ("sin_", (), A(3, 4)),
    ("reciprocal_", (), P(3, 4)),
    ("rsqrt_", (), P(3, 4)),
    ("square_", (), A(3, 4)),
    ("clamp_", (-0.5, 0.5), A(3, 4)),
    ("clamp_min_", (0.1,), A(3, 4)),
    ("clip_", (None, 0.2), A(3, 4)),
    ("masked_fill_", ("mask", 0.25), A(3, 4)),
    ("mul_", ("other",), A(3, 4)),
    ("add_", ("other",), A(3, 4)),
    ("sub_", ("other",), A(3, 4)),
    ("div_", ("pos",), A(3, 4)),
    ("fmod_", (1.5,), A(3, 4) * 3),
    ("lerp_", ("other", 0.3), A(3, 4)),
    ("addcmul_", ("other", "other"), A(3, 4)),
    ("tril_", (), A(3, 4)),
    ("triu_", (1,), A(3, 4)),
    ("index_fill_", (1, "index", 2.0), A(3, 4)),
    ("scatter_add_", (1, "index2", "other"), A(3, 4)),
    ("copy_", ("other",), A(3, 4)),
    ("fill_", (0.5,), A(3, 4)),
    ("zero_", (), A(3, 4)),
]
_OTHER = A(3, 4)
_POS = P(3, 4)
_MASK = B(3, 4)


def _inplace_args(args, L, device, other_leaf):
    out = []
    for a in args:
        if a == "other":
            out.append(other_leaf)
        elif a == "pos":
            out.append(tensor_on(_POS, device) if L is tg else torch.tensor(_POS))
        elif a == "mask":
            out.append(tensor_on(_MASK, device) if L is tg else torch.tensor(_MASK))
        elif a == "index":
            out.append(tensor_on(I(0, 3), device) if L is tg else torch.tensor(I(0, 3)))
        elif a == "index2":
            idx = np.array([[0, 1, 1, 3]] * 3)
            out.append(tensor_on(idx, device) if L is tg else torch.tensor(idx))
        else:
            out.append(a)
    return out


@pytest.mark.parametrize("name,args,data", INPLACE, ids=[r[0] for r in INPLACE])
def test_inplace_on_a_non_leaf_matches_torch(name, args, data, device):
    x = tensor_on(data, device, requires_grad=True)
    o = tensor_on(_OTHER, device, requires_grad=True)
    tx = torch.tensor(data, requires_grad=True)
    to = torch.tensor(_OTHER, requires_grad=True)
    w = A(3, 4)

    def run(L, leaf, other):
        y = leaf * 1.5
        z = y * 1.0  # keeps y's old values alive in the graph (add saves nothing)
        r = getattr(y, name)(*_inplace_args(args, L, device, other))
        assert r is y
        w_ = tensor_on(w, device) if L is tg else torch.tensor(w)
        return y, ((y + z) * w_).sum()

    y, loss = run(tg, x, o)
    ty, tloss = run(torch, tx, to)
    np.testing.assert_allclose(host(y), ty.detach().numpy(), rtol=1e-12, err_msg=name)
    assert y._version >= 1
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(host(x.grad), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    expect_o = np.zeros(_OTHER.shape) if to.grad is None else to.grad.numpy()
    got_o = np.zeros(_OTHER.shape) if o.grad is None else host(o.grad)
    np.testing.assert_allclose(got_o, expect_o, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name,args,data", INPLACE, ids=[r[0] for r in INPLACE])
def test_inplace_on_a_leaf_that_requires_grad_raises(name, args, data, device):
    x = tensor_on(data, device, requires_grad=True)
    o = tensor_on(_OTHER, device)
    with pytest.raises(RuntimeError, match="leaf"):
        getattr(x, name)(*_inplace_args(args, tg, device, o))
    np.testing.assert_array_equal(host(x), data)  # untouched
    with tg.no_grad():
        getattr(x, name)(*_inplace_args(args, tg, device, o))
    tx = torch.tensor(data, requires_grad=True)
    with torch.no_grad():
        getattr(tx, name)(*_inplace_args(args, torch, device, torch.tensor(_OTHER)))
    np.testing.assert_allclose(host(x), tx.detach().numpy(), rtol=1e-12)
    assert x.is_leaf and x.requires_grad and x._version >= 1


def test_inplace_change_of_a_saved_tensor_makes_backward_raise(device):
    x = tensor_on(A(3), device, requires_grad=True)
    y = x.exp()  # exp saves its answer
    y.exp_()
    with pytest.raises(RuntimeError, match="modified in place"):
        y.sum().backward()
    x2 = tensor_on(A(3), device, requires_grad=True)
    y2 = x2 * 2
    z2 = y2 * y2  # saves y2
    y2.clamp_(0.0, 1.0)
    with pytest.raises(RuntimeError, match="modified in place"):
        z2.sum().backward()
    tx = torch.tensor(A(3), requires_grad=True)
    ty = tx.exp()
    ty.exp_()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        ty.sum().backward()


def test_inplace_that_saves_nothing_needed_backprops(device):
    data = A(4)
    x = tensor_on(data, device, requires_grad=True)
    y = x * 2
    z = y + 1  # add saves nothing: an in-place change of y is fine
    y.clamp_(-0.5, 0.5).mul_(3).masked_fill_(x > 1.0, 0.0)
    (z * y).sum().backward()
    tx = torch.tensor(data, requires_grad=True)
    ty = tx * 2
    tz = ty + 1
    ty.clamp_(-0.5, 0.5).mul_(3).masked_fill_(tx > 1.0, 0.0)
    (tz * ty).sum().backward()
    np.testing.assert_allclose(host(x.grad), tx.grad.numpy(), rtol=1e-12)


def test_inplace_op_whose_answer_is_saved_then_changed_raises_like_torch(device):
    for x in (tensor_on(A(4), device, requires_grad=True), torch.tensor(A(4), requires_grad=True)):
        y = x * 2
        y.sigmoid_()  # sigmoid's rule reads its answer: y's values now
        y.mul_(3)
        with pytest.raises(RuntimeError, match="modified (in place|by an inplace)"):
            y.sum().backward()


def test_inplace_keeps_dtype_and_refuses_unsafe_casts(device):
    x = tensor_on(np.array([1, 2, 3]), device)
    with pytest.raises(RuntimeError, match="exp_.*int64"):
        x.exp_()
    f = tensor_on(np.array([1.0, 4.0], dtype=np.float32), device)
    f.sqrt_()
    assert f.dtype == np.float32 and host(f).tolist() == [1.0, 2.0]


def test_inplace_in_a_view_is_seen_by_the_base(device):
    base = tensor_on(np.array([1.0, -2.0, 3.0]), device)
    view = base[1:]
    view.abs_()
    assert host(base).tolist() == [1.0, 2.0, 3.0]


def test_inplace_inside_a_function_transform(device):
    def f(x):
        y = x * 1.0
        y.exp_()
        y.masked_fill_(x > 1.5, 0.0)
        return (y * y).sum()

    data = np.array([0.5, 2.0, -1.0])
    g = tg.grad(f)(tensor_on(data, device))
    np.testing.assert_allclose(host(g), np.where(data > 1.5, 0.0, 2 * np.exp(2 * data)),
                               rtol=1e-12)


def test_random_fills(device):
    tg.manual_seed(0)
    x = tensor_on(np.zeros((200, 50)), device)
    x.uniform_(-2.0, 3.0)
    assert on(x, device) and -2.0 <= float(x.min()) and float(x.max()) <= 3.0
    assert abs(float(x.mean()) - 0.5) < 0.1
    x.normal_(1.0, 2.0)
    assert abs(float(x.mean()) - 1.0) < 0.1 and abs(float(x.std()) - 2.0) < 0.1
    w = tensor_on(np.zeros(3), device, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        w.uniform_()


# ---- errors ------------------------------------------------------------------------------------
def _bad(device):
    x = tensor_on(A(3, 4), device)
    i = tensor_on(I(0, 1), device)
    return [
        (TypeError, "exp\\(\\): argument 'input' must be a Tensor, not list",
         lambda: tg.exp([1.0, 2.0])),
        (TypeError, "add\\(\\): argument 'other'", lambda: tg.add(x, "a")),
        (ValueError, "mm\\(\\).*\\(3, 4\\) and \\(3, 4\\)", lambda: tg.mm(x, x)),
        (ValueError, "bmm\\(\\)", lambda: tg.bmm(x, x)),
        (ValueError, "dot\\(\\)", lambda: tg.dot(x, x)),
        (ValueError, "clamp\\(\\): at least one", lambda: tg.clamp(x)),
        (TypeError, "gather\\(\\): index must be an integer", lambda: tg.gather(x, 1, x)),
        (ValueError, "gather\\(\\): index of shape \\(2,\\)", lambda: tg.gather(x, 0, i)),
        (IndexError, "gather.*out of range", lambda: tg.gather(x, 2, i.reshape(1, 2))),
        (ValueError, "topk\\(\\): k=5", lambda: tg.topk(x, 5)),
        (ValueError, "kthvalue\\(\\): k=0", lambda: tg.kthvalue(x, 0)),
        (ValueError, "split\\(\\): split_sizes \\[1, 1\\]", lambda: tg.split(x, [1, 1], 1)),
        (ValueError, "split\\(\\): split_size must be positive", lambda: tg.split(x, 0)),
        (ValueError, "chunk\\(\\): chunks must be positive", lambda: tg.chunk(x, 0)),
        (TypeError, "masked_fill\\(\\): mask must be a bool", lambda: tg.masked_fill(x, x, 0.0)),
        (ValueError, "masked_fill\\(\\): mask of shape \\(2, 3, 5\\)",
         lambda: tg.masked_fill(x, tensor_on(np.ones((2, 3, 5), bool), device), 0.0)),
        (ValueError, "masked_fill\\(\\): value must be", lambda: tg.masked_fill(x, x > 0, x)),
        (TypeError, "where\\(\\): condition must be a bool", lambda: tg.where(x, x, x)),
        (ValueError, "cross\\(\\): dim 1 must have size 3", lambda: tg.cross(x, x, dim=1)),
        (ValueError, "cross\\(\\): no dimension of size 3",
         lambda: tg.cross(x[:2, :2], x[:2, :2])),
        (ValueError, "permute\\(\\): dims \\(0, 0\\)", lambda: tg.permute(x, (0, 0))),
        (RuntimeError, "t\\(\\): expects a tensor with <= 2", lambda: tg.t(x.reshape(2, 2, 3))),
        (IndexError, "narrow\\(\\): start 2 and length 3", lambda: tg.narrow(x, 0, 2, 3)),
        (IndexError, "select\\(\\): index 4", lambda: tg.select(x, 1, 4)),
        (ValueError, "norm\\(\\): p must be", lambda: tg.norm(x, "bad")),
        (ValueError, "repeat\\(\\): number of repeat dims 1", lambda: x.repeat(2)),
        (ValueError, "div\\(\\): rounding_mode", lambda: tg.div(x, x, rounding_mode="up")),
        (ValueError, "cat\\(\\): tensors must agree", lambda: tg.concat([x, x.T], 1)),
        (ValueError, "stack\\(\\): expects each tensor", lambda: tg.torch_api.stack([x, x.T])),
        (ValueError, "unflatten\\(\\): sizes \\(5, -1\\)", lambda: tg.unflatten(x, 1, (5, -1))),
        (ValueError, "flip\\(\\): dims \\(0, 0\\)", lambda: tg.flip(x, (0, 0))),
        (ValueError, "rot90: the axes must differ", lambda: tg.rot90(x, 1, (1, 1))),
        (ValueError, "repeat_interleave\\(\\): 2 repeats for dim 1 of size 4",
         lambda: tg.repeat_interleave(x, i, dim=1)),
        (ValueError, "index_add\\(\\): source has shape", lambda: tg.index_add(x, 0, i, x)),
        (TypeError, "scatter\\(\\): give src", lambda: tg.scatter(x, 0, i.reshape(1, 2))),
        (ValueError, "tril\\(\\): input must have at least 2",
         lambda: tg.tril(x.reshape(-1))),
        (IndexError, "softmax.*out of range", lambda: tg.softmax(x, 3)),
        (RuntimeError, "trace\\(\\): expected a matrix", lambda: tg.trace(x.reshape(-1))),
        (ValueError, "diag\\(\\): input must be 1-D or 2-D", lambda: tg.diag(x.reshape(1, 3, 4))),
        (TypeError, "where\\(\\): give both", lambda: tg.where(x > 0, x)),
        (ValueError, "exp_: result shape", lambda: x.add_(tensor_on(A(2, 3, 4), device))),
    ]


@pytest.mark.parametrize("k", range(41))
def test_bad_arguments_raise_clear_errors(k, device):
    cases = _bad(device)
    assert len(cases) == 41
    err, msg, call = cases[k]
    if k == 40:  # an existing method: its own message names add_
        err, msg = ValueError, "add: non-broadcastable output operand with shape \\(3,4\\)"
    with pytest.raises(err, match=msg):
        call()


def test_creation_helpers(device):
    x = tensor_on(A(3, 4).astype(np.float32), device)
    for like in (tg.rand_like(x), tg.randn_like(x)):
        assert like.shape == (3, 4) and like.dtype == np.float32 and on(like, device)
        assert not like.requires_grad
    assert tg.rand_like(x, dtype=tg.float64, requires_grad=True).requires_grad
    for n in ("tril_indices", "triu_indices"):
        for args in ((3, 4, 1), (4, 3, -1), (3, 3, 0)):
            mine = getattr(tg, n)(*args, device=device)
            assert on(mine, device)
            np.testing.assert_array_equal(host(mine), getattr(torch, n)(*args).numpy())
