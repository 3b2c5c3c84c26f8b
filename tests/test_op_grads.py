"""Gradients of every op-table row against central finite differences (float64), to second order,
plus float32 stays float32, even splitting of ties, and accumulation of repeated indices."""

import numpy as np
import pytest
from op_table import CASES, IDS, REQUIRED_OPS

import tensorgrad as tg

EPS = 1e-6
TOL = 1e-6


def _np(t):
    return np.asarray(t.numpy())


def _leaves(arrays, device, requires_grad=True):
    return [tg.tensor(a, device=device, requires_grad=requires_grad) for a in arrays]


def _assert_close(analytic, numeric, what, tol=TOL):
    scale = 1.0 + max(abs(analytic), abs(numeric))
    assert abs(analytic - numeric) <= tol * scale, (
        f"{what}: autodiff gives {analytic!r}, finite differences {numeric!r}")


def _central_difference(phi, eps=EPS):
    return (phi(eps) - phi(-eps)) / (2 * eps)


def _perturbed(xs, i, e, u):
    return [x + e * u if j == i else x for j, x in enumerate(xs)]


def _value(case, arrays, device):
    return _np(case.fn(*_leaves(arrays, device, requires_grad=False)))


def _grads(case, arrays, v, device, create_graph=False):
    """The leaves and their gradients of <v, f(x)>."""
    ts = _leaves(arrays, device)
    out = case.fn(*ts)
    out.backward(gradient=tg.tensor(v, device=device), create_graph=create_graph)
    return ts, [t.grad for t in ts]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_vjp_matches_finite_differences(case, device, rng):
    xs = case.inputs(rng)
    ts = _leaves(xs, device)
    out = case.fn(*ts)
    assert out.dtype == np.float64
    assert out.requires_grad
    v = rng.standard_normal(out.shape)
    out.backward(gradient=tg.tensor(v, device=device))
    for i, (x, t) in enumerate(zip(xs, ts, strict=True)):
        assert t.grad is not None, f"no gradient reached input {i}"
        assert t.grad.shape == x.shape and t.grad.dtype == np.float64
        u = rng.standard_normal(x.shape)
        numeric = _central_difference(
            lambda e: np.sum(v * _value(case, _perturbed(xs, i, e, u), device)))
        _assert_close(float(np.sum(_np(t.grad) * u)), numeric, f"<v, J u> for input {i}")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_second_order_matches_finite_differences(case, device, rng):
    xs = case.inputs(rng)
    out_shape = case.fn(*_leaves(xs, device, requires_grad=False)).shape
    v = rng.standard_normal(out_shape)
    ws = [rng.standard_normal(x.shape) for x in xs]

    ts, gs = _grads(case, xs, v, device, create_graph=True)
    _, plain = _grads(case, xs, v, device)
    for i, (g, p) in enumerate(zip(gs, plain, strict=True)):
        assert g is not None, f"no gradient reached input {i}"
        np.testing.assert_allclose(_np(g), _np(p), rtol=1e-12, atol=1e-12,
                                   err_msg=f"create_graph changed the gradient of input {i}")
    # s(x) = sum_i <w_i, g_i(x)>; its gradient is the VJP of g with cotangent w
    s = None
    for g, w in zip(gs, ws, strict=True):
        term = (g * tg.tensor(w, device=device)).sum()
        s = term if s is None else s + term
    for t in ts:
        t.grad = None
    if s.requires_grad:
        s.backward()
    # a gradient that does not depend on x records no graph: its derivative is zero

    def s_at(arrays):
        _, g_e = _grads(case, arrays, v, device)
        return sum(float(np.sum(w * _np(g))) for g, w in zip(g_e, ws, strict=True))

    for i, (x, t) in enumerate(zip(xs, ts, strict=True)):
        hv = np.zeros_like(x) if t.grad is None else _np(t.grad)
        assert hv.shape == x.shape
        u = rng.standard_normal(x.shape)
        numeric = _central_difference(lambda e: s_at(_perturbed(xs, i, e, u)), eps=1e-5)
        _assert_close(float(np.sum(hv * u)), numeric, f"second order, input {i}", tol=1e-5)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_float32_stays_float32(case, device, rng):
    xs = case.inputs(rng)
    ts = _leaves([x.astype(np.float32) for x in xs], device)
    out = case.fn(*ts)
    assert out.dtype == np.float32, f"forward upcast to {out.dtype}"
    v = rng.standard_normal(out.shape)
    out.backward(gradient=tg.tensor(v.astype(np.float32), device=device))
    g32 = [t.grad for t in ts]

    ts64, g64 = _grads(case, xs, v, device)
    np.testing.assert_allclose(_np(out), _value(case, xs, device), rtol=1e-4, atol=1e-4)
    for i, (a, b) in enumerate(zip(g32, g64, strict=True)):
        assert a.dtype == np.float32, f"gradient of input {i} is {a.dtype}"
        np.testing.assert_allclose(_np(a), _np(b), rtol=1e-3, atol=1e-3)

    # a float64 cotangent must not promote a float32 graph either
    ts = _leaves([x.astype(np.float32) for x in xs], device)
    case.fn(*ts).backward(gradient=tg.tensor(v, device=device))
    for i, t in enumerate(ts):
        assert t.grad.dtype == np.float32, f"float64 cotangent: input {i} got {t.grad.dtype}"


def test_every_op_has_rows():
    ops = {c.op for c in CASES}
    assert not set(REQUIRED_OPS) - ops, f"ops without rows: {set(REQUIRED_OPS) - ops}"
    matmul_shapes = {c.shapes for c in CASES if c.op == "matmul"}
    for shapes in [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),
                   ((2, 1, 3, 4), (5, 4, 2))]:
        assert shapes in matmul_shapes


# ---- float32 with Python and NumPy scalars ---------------------------------------------------
_SCALAR_OPS = [
    ("mul_float", lambda t: t * 0.5),
    ("rmul_float", lambda t: 0.5 * t),
    ("mul_np64", lambda t: t * np.float64(0.5)),
    ("rmul_np64", lambda t: np.float64(0.5) * t),
    ("add_np64", lambda t: t + np.float64(1.0)),
    ("rsub_np64", lambda t: np.float64(1.0) - t),
    ("div_np64", lambda t: t / np.float64(2.0)),
    ("rdiv_np64", lambda t: np.float64(2.0) / t),
    ("pow_np64", lambda t: t ** np.float64(2.0)),
    ("rpow_np64", lambda t: np.float64(2.0) ** t),
    ("pow_int", lambda t: t ** 2),
    ("mod_np64", lambda t: t % np.float64(5.0)),
    ("clip_np64", lambda t: t.clip(np.float64(0.1), np.float64(2.0))),
    ("maximum_np64", lambda t: t.maximum(np.float64(0.0))),
    ("where_np64", lambda t: tg.ops.where(t > 1, t, np.float64(0.0))),
    ("mean", lambda t: t.mean()),
    ("var", lambda t: t.var()),
    ("std_ddof0", lambda t: t.std(ddof=0)),
    ("sigmoid", lambda t: t.sigmoid()),
    ("logsumexp", lambda t: t.logsumexp(axis=0)),
]


@pytest.mark.parametrize("fn", [f for _, f in _SCALAR_OPS], ids=[n for n, _ in _SCALAR_OPS])
def test_float32_scalars_do_not_upcast(fn, device):
    t = tg.tensor(np.array([0.5, 1.5, 3.0], dtype=np.float32), device=device, requires_grad=True)
    out = fn(t)
    assert out.dtype == np.float32
    out.sum().backward()
    assert t.grad.dtype == np.float32


def test_float32_from_python_floats(device):
    t = tg.tensor([1.0, 2.0], device=device, requires_grad=True)
    assert t.dtype == np.float32
    (t * 0.5 + 1.0).sum().backward()
    assert t.grad.dtype == np.float32
    np.testing.assert_array_equal(_np(t.grad), [0.5, 0.5])


# ---- ties split the gradient evenly ---------------------------------------------------------
def _grad_of(fn, data, device):
    t = tg.tensor(np.array(data, dtype=np.float64), device=device, requires_grad=True)
    fn(t).sum().backward()
    return _np(t.grad)


@pytest.mark.parametrize("data, fn, expected", [
    ([1.0, 3.0, 3.0], lambda t: t.max(), [0.0, 0.5, 0.5]),
    ([2.0, 1.0, 1.0, 5.0], lambda t: t.min(), [0.0, 0.5, 0.5, 0.0]),
    ([2.0, 2.0, 2.0], lambda t: t.max(), [1 / 3, 1 / 3, 1 / 3]),
    ([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], lambda t: t.max(axis=1),
     [[0.0, 0.5, 0.5], [0.5, 0.5, 0.0]]),
    ([[1.0, 3.0, 3.0], [1.0, 2.0, 3.0]], lambda t: t.min(axis=0, keepdims=True),
     [[0.5, 0.0, 0.5], [0.5, 1.0, 0.5]]),
    ([[4.0, 1.0], [4.0, 4.0]], lambda t: t.max(axis=(0, 1)), [[1 / 3, 0.0], [1 / 3, 1 / 3]]),
], ids=["max_vector", "min_vector", "max_all_equal", "max_axis1", "min_axis0_keep", "max_tuple"])
def test_ties_split_gradient(data, fn, expected, device):
    np.testing.assert_allclose(_grad_of(fn, data, device), expected, rtol=1e-12)


def test_maximum_minimum_ties_split_gradient(device):
    for method in ("maximum", "minimum"):
        x = tg.tensor(np.array([1.0, 2.0, 3.0]), device=device, requires_grad=True)
        y = tg.tensor(np.array([1.0, 5.0, 0.0]), device=device, requires_grad=True)
        getattr(x, method)(y).sum().backward()
        wx = [0.5, 0.0, 1.0] if method == "maximum" else [0.5, 1.0, 0.0]
        np.testing.assert_allclose(_np(x.grad), wx)
        np.testing.assert_allclose(_np(y.grad), 1 - np.array(wx))


def test_tie_split_stays_float32(device):
    t = tg.tensor(np.array([1.0, 3.0, 3.0], dtype=np.float32), device=device, requires_grad=True)
    t.max().backward()
    assert t.grad.dtype == np.float32
    np.testing.assert_array_equal(_np(t.grad), np.array([0, 0.5, 0.5], dtype=np.float32))


# ---- repeated indices accumulate -------------------------------------------------------------
def test_getitem_repeated_indices_accumulate(device):
    x = tg.tensor(np.arange(4.0), device=device, requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    np.testing.assert_array_equal(_np(x.grad), [3.0, 0.0, 1.0, 0.0])


def test_getitem_repeated_indices_weighted(device):
    x = tg.tensor(np.arange(4.0), device=device, requires_grad=True)
    w = tg.tensor(np.array([2.0, 5.0, 7.0]), device=device)
    (x[tg.tensor(np.array([1, 1, 3]), device=device)] * w).sum().backward()
    np.testing.assert_array_equal(_np(x.grad), [0.0, 7.0, 0.0, 7.0])


def test_getitem_repeated_pairs_and_columns_accumulate(device):
    x = tg.tensor(np.zeros((2, 3)), device=device, requires_grad=True)
    (x[[0, 0, 1], [1, 1, 2]].sum() + x[:, [2, 2, 2]].sum()).backward()
    np.testing.assert_array_equal(_np(x.grad), [[0.0, 2.0, 3.0], [0.0, 0.0, 4.0]])


def test_getitem_repeated_indices_accumulate_second_order(device):
    x = tg.tensor(np.array([1.0, 2.0, 3.0]), device=device, requires_grad=True)
    (x[[1, 1, 1]] ** 3).sum().backward(create_graph=True)
    g = x.grad  # 3 * 3 x^2 at index 1
    np.testing.assert_allclose(_np(g), [0.0, 36.0, 0.0])
    x.grad = None
    g.sum().backward()
    np.testing.assert_allclose(_np(x.grad), [0.0, 36.0, 0.0])  # 9 * 2 x at index 1
