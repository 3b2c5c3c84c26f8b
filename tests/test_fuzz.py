"""Randomized tests (hypothesis): ops of the op table on random shapes (size-0 and size-1 axes),
broadcasting pairs, dtypes and axis arguments against central finite differences; random
programs of 5-30 ops over several inputs (reused intermediates, views, in-place updates,
no_grad regions) against PyTorch's values and gradients in float64.

Two profiles: ``ci`` (fixed seed, few examples, part of ``make test``) and ``fuzz`` (many
examples, random seed; ``make fuzz``, or TENSORGRAD_FUZZ=fuzz).
"""

import os

import numpy as np
import pytest

# the GPU machine's python has no hypothesis (make test installs it with the dev extra)
pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import tensorgrad as tg  # noqa: E402

settings.register_profile("ci", max_examples=25, derandomize=True, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile("fuzz", max_examples=1500, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow], print_blob=True)
PROFILE = settings.get_profile(os.environ.get("TENSORGRAD_FUZZ", "ci"))


def fuzz(fn):
    return settings(PROFILE)(fn)


# ---- ops against finite differences ---------------------------------------------------------
def _dd(f, xs, vs, eps=1e-6):
    """The directional derivative of scalar ``f`` along ``vs``, by central differences."""
    plus = f(*[x + eps * v for x, v in zip(xs, vs)])
    minus = f(*[x - eps * v for x, v in zip(xs, vs)])
    return (plus - minus) / (2 * eps)


def _check_vjp(fn, arrays, rng):
    """Gradient of sum(w * fn(...)) for a random weight w, against finite differences."""
    xs = [tg.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*xs)
    w = rng.standard_normal(out.shape)
    (out * tg.tensor(w)).sum().backward()

    def f(*a):
        return float((fn(*[tg.tensor(x) for x in a]).numpy() * w).sum())

    vs = [rng.standard_normal(a.shape) for a in arrays]
    numeric = _dd(f, arrays, vs)
    analytic = sum(float((x.grad.numpy() * v).sum()) for x, v in zip(xs, vs))
    assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-6)
    for x, a in zip(xs, arrays):
        assert x.grad.shape == a.shape and x.grad.dtype == a.dtype


shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
nonempty = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)

UNARY = {
    "exp": (lambda x: x.exp(), lambda r, s: r.uniform(-2, 2, s)),
    "log": (lambda x: x.log(), lambda r, s: r.uniform(0.5, 2, s)),
    "sqrt": (lambda x: x.sqrt(), lambda r, s: r.uniform(0.5, 2, s)),
    "tanh": (lambda x: x.tanh(), lambda r, s: r.uniform(-2, 2, s)),
    "sigmoid": (lambda x: x.sigmoid(), lambda r, s: r.uniform(-2, 2, s)),
    "sin": (lambda x: x.sin(), lambda r, s: r.uniform(-2, 2, s)),
    "abs": (lambda x: abs(x), lambda r, s: np.sign(r.uniform(-1, 1, s)) * r.uniform(.3, 2, s)),
    "relu": (lambda x: x.relu(), lambda r, s: np.sign(r.uniform(-1, 1, s)) * r.uniform(.3, 2, s)),
    "pow3": (lambda x: x ** 3, lambda r, s: r.uniform(-2, 2, s)),
    "neg": (lambda x: -x, lambda r, s: r.uniform(-2, 2, s)),
}


@fuzz
@given(op=st.sampled_from(sorted(UNARY)), shape=shapes, seed=st.integers(0, 2 ** 16))
def test_unary_ops_on_random_shapes(op, shape, seed):
    fn, gen = UNARY[op]
    rng = np.random.default_rng(seed)
    _check_vjp(fn, [np.asarray(gen(rng, shape), np.float64)], rng)


BINARY = {
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "div": lambda x, y: x / (y * y + 1.0),
    "pow": lambda x, y: (x * x + 1.0) ** y,
    "maximum": lambda x, y: x.maximum(y * 1.0 + 10.0),  # no ties: y + 10 is always larger
}


@fuzz
@given(op=st.sampled_from(sorted(BINARY)),
       pair=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=0,
                                              max_side=3),
       seed=st.integers(0, 2 ** 16))
def test_binary_ops_on_broadcasting_pairs(op, pair, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(-1.5, 1.5, s) for s in pair.input_shapes]
    _check_vjp(BINARY[op], arrays, rng)


@st.composite
def shape_and_axis(draw, shape_strategy=shapes):
    shape = draw(shape_strategy)
    nd = len(shape)
    kind = draw(st.sampled_from(["none", "int", "tuple"]) if nd else st.just("none"))
    if kind == "none":
        axis = None
    elif kind == "int":
        axis = draw(st.integers(-nd, nd - 1))
    else:
        axis = tuple(draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd,
                                   unique=True)))
    return shape, axis, draw(st.booleans())


def _reduced_size(shape, axis):
    if axis is None:
        return int(np.prod(shape))
    axes = axis if isinstance(axis, tuple) else (axis,)
    return int(np.prod([shape[a] for a in axes]))


@fuzz
@given(op=st.sampled_from(["sum", "mean", "max", "min", "prod", "logsumexp", "var", "std"]),
       sak=shape_and_axis(), seed=st.integers(0, 2 ** 16))
def test_reductions_with_random_axes(op, sak, seed):
    shape, axis, keepdims = sak
    n = _reduced_size(shape, axis)
    if n == 0 and op not in ("sum", "prod"):
        # an empty reduction: PyTorch and NumPy refuse max/min and give nan for mean/var
        return
    if op in ("var", "std") and n < 2:
        return  # one sample: no unbiased spread (and std = sqrt(0) has no derivative)
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    # distinct values (no ties for max/min), moderate magnitudes (prod)
    x = (rng.permutation(size) / max(size, 1) + 0.5).reshape(shape) * rng.choice([-1, 1], shape)
    _check_vjp(lambda t: getattr(t, op)(axis=axis, keepdims=keepdims), [x], rng)


@fuzz
@given(op=st.sampled_from(["exp", "tanh", "mul", "sum", "matmul"]), shape=nonempty,
       seed=st.integers(0, 2 ** 16))
def test_float32_stays_float32_and_agrees_with_float64(op, shape, seed):
    rng = np.random.default_rng(seed)
    x64 = rng.uniform(-1, 1, shape)
    fns = {"exp": lambda t: t.exp(), "tanh": lambda t: t.tanh(), "mul": lambda t: t * 0.5 * t,
           "sum": lambda t: t.sum(), "matmul": lambda t: t.reshape(1, -1) @ t.reshape(-1, 1)}
    results = []
    for dtype in (np.float32, np.float64):
        x = tg.tensor(x64.astype(dtype), requires_grad=True)
        y = fns[op](x)
        y.sum().backward()
        assert y.dtype == dtype and x.grad.dtype == dtype
        results.append((y.numpy(), x.grad.numpy()))
    for a, b in zip(results[0], results[1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


# ---- random programs against PyTorch --------------------------------------------------------
def _torch_or_tg(t):
    return "torch" if type(t).__module__.startswith("torch") else "tg"


def _no_grad(lib):
    return lib.no_grad()


# Each op takes the library module and two values of the program's shape (rows, cols) and gives
# one of that shape. Views and in-place updates work the same way in both libraries.
def _inplace_add(lib, a, b):
    c = a * 1.0
    c += b
    return c


def _inplace_view(lib, a, b):
    c = a * 1.0
    c[0] = b[-1] * 0.5  # setitem through a row view
    c[:, 0] = c[:, 0] * 2.0  # (an in-place op on a view is refused while recording)
    return c


def _mul_(lib, a, b):
    c = a + 0.0
    c.mul_(b.tanh())
    return c


def _nograd(lib, a, b):
    with lib.no_grad():
        k = (a * b).tanh()  # a constant: no gradient flows through it
    return a * k + b


PROGRAM_OPS = {
    "add": lambda lib, a, b: a + b,
    "sub": lambda lib, a, b: a - b,
    "mul": lambda lib, a, b: a * b,
    "div": lambda lib, a, b: a / (b * b + 1.0),
    "tanh": lambda lib, a, b: a.tanh(),
    "sin": lambda lib, a, b: a.sin(),
    "sigmoid": lambda lib, a, b: a.sigmoid(),
    "exp_tanh": lambda lib, a, b: a.tanh().exp(),
    "square": lambda lib, a, b: a * a,
    "transpose_view": lambda lib, a, b: (a.transpose(0, 1) * 2.0).transpose(0, 1),
    "reshape_view": lambda lib, a, b: a.reshape(-1).reshape(a.shape) + b,
    "slice_view": lambda lib, a, b: a[:, :] * b[:, :],
    "unsqueeze": lambda lib, a, b: a.unsqueeze(0).squeeze(0) - b,
    "row_sum": lambda lib, a, b: a.sum(dim=0, keepdim=True) * b,  # broadcasting back
    "col_mean": lambda lib, a, b: a - b.mean(dim=1, keepdim=True),
    "matmul": lambda lib, a, b: (a @ b.transpose(0, 1)) @ a * 0.25,
    "inplace_add": _inplace_add,
    "inplace_view": _inplace_view,
    "mul_": _mul_,
    "no_grad": _nograd,
}


@st.composite
def programs(draw):
    n_inputs = draw(st.integers(2, 4))
    n_ops = draw(st.integers(5, 30))
    steps = []
    for k in range(n_ops):
        pool = n_inputs + k  # every input and every earlier intermediate can be reused
        steps.append((draw(st.sampled_from(sorted(PROGRAM_OPS))), draw(st.integers(0, pool - 1)),
                      draw(st.integers(0, pool - 1))))
    rows = draw(st.integers(1, 3))
    cols = draw(st.integers(1, 3))
    return n_inputs, steps, (rows, cols), draw(st.integers(0, 2 ** 16))


def _run(lib, inputs, steps):
    values = list(inputs)
    for name, i, j in steps:
        values.append(PROGRAM_OPS[name](lib, values[i], values[j]))
    # the loss reads the last few values, so most of the program matters
    loss = values[-1].sum()
    for v in values[-4:-1]:
        loss = loss + (v * v).mean()
    return values, loss


@fuzz
@given(prog=programs())
def test_random_programs_match_pytorch(prog):
    torch = pytest.importorskip("torch")
    n_inputs, steps, shape, seed = prog
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(-1, 1, shape) for _ in range(n_inputs)]
    ours = [tg.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    ov, ol = _run(tg, ours, steps)
    tv, tl = _run(torch, theirs, steps)
    for a, b in zip(ov, tv):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-10,
                                   atol=1e-12)
    ol.backward()
    tl.backward()
    for a, b in zip(ours, theirs):
        if b.grad is None:
            assert a.grad is None or not a.grad.numpy().any()
        else:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-12)
