"""Tensor as a user sees it: attributes, conversions, dtype defaults, mixing with NumPy and
Python scalars, comparisons, indexing, factories, reductions, in-place updates."""

import numpy as np
import pytest
from devices import host, on, put

import tensorgrad as tg


# ---- attributes and conversions -------------------------------------------------------------
def test_attributes_of_a_leaf_and_of_a_result(device):
    x = tg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], device=device, requires_grad=True)
    assert isinstance(x.data, tg.device(device).xp.ndarray)
    assert x.shape == (2, 3)
    assert x.ndim == 2
    assert x.dtype == np.float32
    assert x.device == tg.device(device)
    assert str(x.device) == ("cpu" if device == "cpu" else "cuda:0")
    assert x.requires_grad is True
    assert x.grad is None
    assert x.grad_fn is None
    assert x.is_leaf is True
    y = x * 2.0
    assert y.requires_grad is True
    assert y.grad_fn is not None
    assert y.is_leaf is False
    assert y.shape == (2, 3)
    assert y.device == x.device


def test_repr(device):
    x = tg.tensor([1.0, 2.0], device=device, requires_grad=True)
    where = "" if device == "cpu" else ", device='cuda:0'"
    assert repr(x) == f"tensor([1., 2.]{where}, requires_grad=True)"
    assert repr(tg.tensor([1, 2], dtype="int32", device=device)) == \
        f"tensor([1, 2], dtype=int32{where})"
    assert repr(x * 2).startswith(f"tensor([2., 4.]{where}, grad_fn=")
    assert repr(tg.nn.Parameter(tg.zeros(1, device=device))) == \
        f"Parameter containing:\ntensor([0.]{where}, requires_grad=True)"


def test_numpy_item_tolist(device):
    x = tg.tensor([[1.0, 2.0], [3.0, 4.0]], device=device)
    a = x.numpy()
    assert isinstance(a, np.ndarray)
    np.testing.assert_array_equal(a, [[1.0, 2.0], [3.0, 4.0]])
    assert np.shares_memory(a, x.data) if device == "cpu" else on(x, device)  # a copy on cuda
    # PyTorch's force=True (detach, copy to the host): what numpy() does anyway
    w = tg.tensor([1.0, 2.0], device=device, requires_grad=True) * 2
    np.testing.assert_array_equal(w.numpy(force=True), [2.0, 4.0])
    if device != "cpu":  # as PyTorch and CuPy: no implicit copy from the GPU
        with pytest.raises(TypeError, match=r"on cuda:0 .*\.numpy\(\) or \.cpu\(\)"):
            np.asarray(x)
    assert x.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert isinstance(x.tolist()[0][0], float)
    s = x.sum()
    assert s.item() == 10.0
    assert isinstance(s.item(), float)
    assert isinstance(tg.tensor([7], device=device).item(), int)
    assert float(s) == 10.0


def test_item_of_a_multi_element_tensor_raises():
    with pytest.raises(ValueError, match=r"\(2,\)"):
        tg.tensor([1.0, 2.0]).item()


def test_numpy_of_a_tensor_that_requires_grad_gives_values(device):
    x = tg.tensor([1.0, 2.0], device=device, requires_grad=True)
    np.testing.assert_array_equal((x * 2.0).numpy(), [2.0, 4.0])


def test_to_dtype_converts_and_is_differentiable(device):
    x = tg.tensor([1.0, 2.0], device=device, requires_grad=True)
    for spec in (np.float64, "float64", tg.float64):
        y = x.to(spec)
        assert y.dtype == np.float64 and on(y, device)
    y = x.to(np.float64)
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32 and on(x.grad, device)
    np.testing.assert_allclose(host(x.grad), [2.0, 4.0])
    assert x.to(np.float32) is x  # nothing to do
    assert x.to(device) is x and x.to(device, np.float32) is x
    z = x.to(device, dtype="float64")
    assert z.dtype == np.float64 and on(z, device)
    for cast in (x.double(), x.half(), x.float(), x.long(), x.int(), x.bool()):
        assert on(cast, device)
    i = tg.tensor([1.5, 2.5], device=device).to("int64")
    assert i.tolist() == [1, 2] and on(i, device)


def test_cpu_and_to_cpu_keep_a_cpu_tensor(device):
    x = tg.tensor([1.0, 2.0], device=device, requires_grad=True)
    assert x.cpu().device == "cpu" and on(x.cpu(), "cpu")
    np.testing.assert_array_equal(x.cpu().numpy(), x.numpy())
    assert x.to("cpu").device.type == "cpu"
    assert (x.cpu() is x) == (device == "cpu")
    x.cpu().sum().backward()  # the move is differentiable, the gradient comes back
    assert on(x.grad, device)
    np.testing.assert_allclose(host(x.grad), [1.0, 1.0])


# ---- dtype defaults -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "data, dtype",
    [
        (1.5, np.float32),
        ([1.0, 2.0], np.float32),
        ([[1.0], [2.0]], np.float32),
        ([1, 2.5], np.float32),
        (3, np.int64),
        ([1, 2], np.int64),
        (True, np.bool_),
        ([True, False], np.bool_),
        (np.arange(3, dtype=np.int16), np.int16),
        (np.ones(2, dtype=np.float64), np.float64),
        (np.ones(2, dtype=np.float32), np.float32),
        (np.float64(2.0), np.float64),
    ],
)
def test_dtype_defaults(data, dtype):
    assert tg.tensor(data).dtype == dtype


def test_explicit_dtype_wins():
    assert tg.tensor([1, 2], dtype=np.float64).dtype == np.float64
    assert tg.tensor([1.0, 2.0], dtype="float16").dtype == np.float16


def test_tensor_copies_its_numpy_input(device):
    a = np.zeros(3, dtype=np.float32)
    t = tg.tensor(a, device=device)
    a[0] = 9.0
    assert t.numpy()[0] == 0.0 and on(t, device)


# ---- mixing with NumPy arrays and Python scalars ----------------------------------------------
@pytest.mark.parametrize(
    "op",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a * b,
        lambda a, b: a / b,
        lambda a, b: a ** b,
        lambda a, b: a @ b,
    ],
    ids=["add", "sub", "mul", "div", "pow", "matmul"],
)
def test_numpy_array_on_either_side_gives_a_tensor(op, device):
    # the device's own array type (NumPy's, CuPy's) on either side of a Tensor
    h = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    a = put(h, device)
    t = tg.tensor([4.0, 5.0, 6.0], device=device)
    left = op(a, t)
    right = op(t, a)
    assert isinstance(left, tg.Tensor), type(left)
    assert isinstance(right, tg.Tensor), type(right)
    assert left.dtype != object and right.dtype != object
    assert on(left, device) and on(right, device)
    np.testing.assert_allclose(left.numpy(), op(h, t.numpy()), rtol=1e-6)
    np.testing.assert_allclose(right.numpy(), op(t.numpy(), h), rtol=1e-6)


def test_numpy_on_the_left_keeps_the_graph():
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = np.ones(3) * x
    assert isinstance(y, tg.Tensor)
    assert y.requires_grad
    (np.array([1.0, 2.0, 3.0], dtype=np.float32) * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 2.0, 3.0])


@pytest.mark.parametrize(
    "op, expected",
    [
        (lambda t: t + 1, [2.0, 3.0]),
        (lambda t: 1 + t, [2.0, 3.0]),
        (lambda t: t - 1, [0.0, 1.0]),
        (lambda t: 1 - t, [0.0, -1.0]),
        (lambda t: t * 2, [2.0, 4.0]),
        (lambda t: 2 * t, [2.0, 4.0]),
        (lambda t: t / 2, [0.5, 1.0]),
        (lambda t: 2 / t, [2.0, 1.0]),
        (lambda t: t ** 2, [1.0, 4.0]),
        (lambda t: 2 ** t, [2.0, 4.0]),
        (lambda t: -t, [-1.0, -2.0]),
        (lambda t: abs(-t), [1.0, 2.0]),
        (lambda t: t * 0.5, [0.5, 1.0]),
        (lambda t: np.float64(0.5) * t, [0.5, 1.0]),
        (lambda t: t * np.float64(0.5), [0.5, 1.0]),
    ],
)
def test_python_and_numpy_scalars_keep_float32(op, expected, device):
    t = tg.tensor([1.0, 2.0], device=device)
    r = op(t)
    assert isinstance(r, tg.Tensor)
    assert r.dtype == np.float32 and on(r, device)
    np.testing.assert_allclose(r.numpy(), expected)


# ---- comparisons ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "op, expected",
    [
        (lambda a, b: a < b, [True, False, False]),
        (lambda a, b: a <= b, [True, True, False]),
        (lambda a, b: a > b, [False, False, True]),
        (lambda a, b: a >= b, [False, True, True]),
        (lambda a, b: a == b, [False, True, False]),
        (lambda a, b: a != b, [True, False, True]),
    ],
    ids=["lt", "le", "gt", "ge", "eq", "ne"],
)
def test_comparisons_give_bool_tensors_without_grad(op, expected, device):
    x = tg.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    for other in (tg.tensor([2.0, 2.0, 2.0], device=device), 2.0,
                  put(np.array([2.0, 2.0, 2.0]), device)):
        r = op(x, other)
        assert isinstance(r, tg.Tensor)
        assert r.dtype == np.bool_ and on(r, device)
        assert not r.requires_grad
        assert r.grad_fn is None
        assert r.tolist() == expected


def test_comparison_with_none():
    t = tg.tensor([1.0])
    assert (t == None) is False  # noqa: E711
    assert (t != None) is True  # noqa: E711


# ---- indexing ---------------------------------------------------------------------------
def test_getitem_values_and_gradients(device):
    x = tg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], device=device, requires_grad=True)
    assert x[1].tolist() == [4.0, 5.0, 6.0]
    assert x[:, 1:].tolist() == [[2.0, 3.0], [5.0, 6.0]]
    assert x[1, 2].item() == 6.0
    (x[0, 1:] * 2.0).sum().backward()
    assert on(x.grad, device)
    np.testing.assert_allclose(x.grad.numpy(), [[0.0, 2.0, 2.0], [0.0, 0.0, 0.0]])
    x.grad = None
    (x[:, ::-2] * x.T[::2]).sum().backward()  # views of views: a step, a transpose
    np.testing.assert_allclose(x.grad.numpy(), [[7.0, 0.0, 7.0], [7.0, 0.0, 7.0]])


def test_getitem_repeated_indices_add_up_gradients(device):
    x = tg.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    x[[0, 0, 2]].sum().backward()
    assert on(x.grad, device)
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 0.0, 1.0])
    m = tg.tensor(np.arange(6.0).reshape(2, 3), device=device, requires_grad=True)
    rows = put(np.array([1, 1, 0]), device)
    (m[rows, tg.tensor([2, 2, 0], device=device)] * tg.tensor([1.0, 2.0, 3.0], dtype="float64",
                                                               device=device)).sum().backward()
    assert on(m.grad, device) and m.grad.dtype == np.float64
    np.testing.assert_allclose(m.grad.numpy(), [[3.0, 0.0, 0.0], [0.0, 0.0, 3.0]])


def test_getitem_with_tensor_and_mask_indices(device):
    x = tg.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    idx = tg.tensor([2, 0], device=device)
    assert x[idx].tolist() == [3.0, 1.0]
    y = x[x > 1.5]
    assert y.tolist() == [2.0, 3.0] and on(y, device)
    (y * 2.0).sum().backward()
    x[idx].sum().backward()
    assert on(x.grad, device)
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 2.0, 3.0])


def test_setitem_writes_values(device):
    t = tg.zeros(2, 3, device=device)
    t[0] = 1.0
    t[1, 1:] = tg.tensor([5.0, 6.0], device=device)
    t[:, 0] = put(np.array([7.0, 8.0]), device)
    assert t.tolist() == [[7.0, 1.0, 1.0], [8.0, 5.0, 6.0]] and on(t, device)
    t[tg.tensor([0, 1], device=device), tg.tensor([2, 2], device=device)] = 9.0
    t[t == 1.0] = 3.0
    assert t.tolist() == [[7.0, 3.0, 9.0], [8.0, 5.0, 9.0]] and on(t, device)


def test_setitem_on_the_tape_gives_gradients_to_old_value_and_written_value(device):
    x = tg.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    v = tg.tensor([10.0, 20.0], device=device, requires_grad=True)
    w = tg.tensor([1.0, 2.0, 3.0], device=device)
    t = x * 1.0
    t[1:] = v * 2.0
    assert t.tolist() == [1.0, 20.0, 40.0]
    assert t.requires_grad and t.grad_fn is not None
    (t * w).sum().backward()
    assert on(x.grad, device) and on(v.grad, device)
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 0.0, 0.0])
    np.testing.assert_allclose(v.grad.numpy(), [4.0, 6.0])


def test_setitem_of_a_grad_value_into_a_plain_tensor_records(device):
    v = tg.tensor(3.0, device=device, requires_grad=True)
    t = tg.zeros(3, device=device)
    t[1] = v
    assert t.requires_grad
    (t * tg.tensor([1.0, 5.0, 1.0], device=device)).sum().backward()
    assert v.grad.item() == 5.0 and on(v.grad, device)


# ---- factories ---------------------------------------------------------------------------------
def test_zeros_ones_full_empty():
    z = tg.zeros(2, 3)
    assert z.shape == (2, 3) and z.dtype == np.float32 and not z.numpy().any()
    assert tg.zeros((2, 3)).shape == (2, 3)
    o = tg.ones(4, dtype=np.float64, requires_grad=True)
    assert o.dtype == np.float64 and o.requires_grad and o.numpy().sum() == 4.0
    f = tg.full((2, 2), 7.0)
    assert f.dtype == np.float32 and f.tolist() == [[7.0, 7.0], [7.0, 7.0]]
    assert tg.full((2,), 3).dtype == np.int64
    e = tg.empty(3, 2)
    assert e.shape == (3, 2) and e.dtype == np.float32


def test_arange_linspace_eye():
    assert tg.arange(4).tolist() == [0, 1, 2, 3]
    assert tg.arange(4).dtype == np.int64
    assert tg.arange(1, 7, 2).tolist() == [1, 3, 5]
    a = tg.arange(0.0, 1.0, 0.25)
    assert a.dtype == np.float32 and a.tolist() == [0.0, 0.25, 0.5, 0.75]
    s = tg.linspace(0, 1, 5)
    assert s.dtype == np.float32 and s.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    i = tg.eye(3)
    assert i.dtype == np.float32
    np.testing.assert_array_equal(i.numpy(), np.eye(3))
    assert tg.eye(2, 3).shape == (2, 3)


def test_rand_randn_and_manual_seed_reproducibility():
    tg.manual_seed(123)
    r1, n1 = tg.rand(3, 4), tg.randn(5)
    tg.manual_seed(123)
    r2, n2 = tg.rand(3, 4), tg.randn(5)
    np.testing.assert_array_equal(r1.numpy(), r2.numpy())
    np.testing.assert_array_equal(n1.numpy(), n2.numpy())
    assert r1.dtype == np.float32 and n1.dtype == np.float32
    assert ((r1.numpy() >= 0) & (r1.numpy() < 1)).all()
    tg.manual_seed(124)
    assert not np.array_equal(tg.rand(3, 4).numpy(), r1.numpy())
    assert tg.randn(2, 2, requires_grad=True).requires_grad


def test_zeros_like_ones_like_keep_shape_and_dtype():
    x = tg.tensor(np.arange(6.0).reshape(2, 3))  # float64
    z = tg.zeros_like(x)
    o = tg.ones_like(x)
    assert z.shape == (2, 3) and z.dtype == np.float64 and not z.numpy().any()
    assert o.shape == (2, 3) and o.dtype == np.float64 and (o.numpy() == 1).all()
    assert tg.zeros_like(x, dtype=np.float32).dtype == np.float32
    assert not tg.zeros_like(tg.ones(2, requires_grad=True)).requires_grad


def test_from_numpy_shares_memory_and_keeps_dtype():
    a = np.zeros(3, dtype=np.float64)
    t = tg.from_numpy(a)
    assert t.dtype == np.float64
    a[0] = 5.0
    assert t.numpy()[0] == 5.0
    t[1] = 7.0
    assert a[1] == 7.0
    with pytest.raises(TypeError):
        tg.from_numpy([1.0, 2.0])


def test_factories_refuse_requires_grad_for_integers():
    with pytest.raises(RuntimeError):
        tg.zeros(2, dtype=np.int64, requires_grad=True)
    with pytest.raises(RuntimeError):
        tg.arange(3, requires_grad=True)


# ---- reductions ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["sum", "mean", "prod", "amax", "amin", "var", "std"])
def test_reductions_accept_numpy_and_pytorch_argument_names(name):
    x = tg.tensor([[1.0, 5.0, 2.0], [3.0, 2.0, 4.0]])
    numpy_style = getattr(x, name)(axis=1, keepdims=True)
    torch_style = getattr(x, name)(dim=1, keepdim=True)
    assert numpy_style.shape == torch_style.shape == (2, 1)
    np.testing.assert_allclose(numpy_style.numpy(), torch_style.numpy())
    flat = getattr(x, name)(axis=0)
    assert flat.shape == (3,)
    np.testing.assert_allclose(getattr(x, name)(dim=0).numpy(), flat.numpy())


def test_reduction_values():
    x = tg.tensor([[1.0, 5.0, 2.0], [3.0, 2.0, 4.0]])
    np.testing.assert_allclose(x.sum(axis=0).numpy(), [4.0, 7.0, 6.0])
    np.testing.assert_allclose(x.mean(dim=1).numpy(), [8.0 / 3.0, 3.0])
    assert x.sum().item() == 17.0
    np.testing.assert_allclose(x.sum(axis=(0, 1)).numpy(), 17.0)
    assert x.sum(axis=-1, keepdims=True).shape == (2, 1)


def test_giving_both_axis_and_dim_is_an_error():
    with pytest.raises(TypeError, match="dim"):
        tg.ones(2, 2).sum(axis=0, dim=0)


def test_max_with_dim_returns_values_and_indices(device):
    x = tg.tensor([[1.0, 5.0, 2.0], [3.0, 2.0, 4.0]], device=device, requires_grad=True)
    values, indices = x.max(dim=1)
    assert on(values, device) and on(indices, device)
    assert values.tolist() == [5.0, 4.0]
    assert indices.tolist() == [1, 2]
    assert indices.dtype == np.int64
    out = x.max(1)
    assert out.values.tolist() == [5.0, 4.0] and out.indices.tolist() == [1, 2]
    mins = x.min(dim=0)
    assert mins.values.tolist() == [1.0, 2.0, 2.0] and mins.indices.tolist() == [0, 1, 0]
    values.sum().backward()
    assert on(x.grad, device)
    np.testing.assert_allclose(x.grad.numpy(), [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def test_max_with_axis_or_without_arguments_returns_values_only():
    x = tg.tensor([[1.0, 5.0, 2.0], [3.0, 2.0, 4.0]])
    assert isinstance(x.max(), tg.Tensor) and x.max().item() == 5.0
    m = x.max(axis=1)
    assert isinstance(m, tg.Tensor) and m.tolist() == [5.0, 4.0]


# ---- in-place updates ------------------------------------------------------------------------
def test_optimizer_style_in_place_update_under_no_grad(device):
    p = tg.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    (p * p).sum().backward()
    buffer = p.data
    with tg.no_grad():
        p -= 0.1 * p.grad
    np.testing.assert_allclose(p.numpy(), [0.8, 1.6, 2.4], rtol=1e-6)
    assert p.data is buffer  # modified in place, not rebound
    assert p.is_leaf and p.grad_fn is None and p.requires_grad
    assert p.dtype == np.float32
    p.grad = None
    (p * 2.0).sum().backward()  # still a working leaf
    assert on(p.grad, device)
    np.testing.assert_allclose(p.grad.numpy(), [2.0, 2.0, 2.0])


def test_in_place_methods_under_no_grad(device):
    p = tg.ones(3, device=device, requires_grad=True)
    buffer = p.data
    with tg.no_grad():
        p.add_(tg.ones(3, device=device), alpha=2.0)
        p.mul_(2.0)
        p.sub_(1.0)
        p.div_(5.0)
    assert p.data is buffer
    np.testing.assert_allclose(p.numpy(), [1.0, 1.0, 1.0])
    assert p.is_leaf and p.requires_grad
    with tg.no_grad():
        p.zero_()
    assert p.tolist() == [0.0, 0.0, 0.0]
    assert p.data is buffer


def test_in_place_operator_on_a_plain_tensor_modifies_in_place(device):
    t = tg.tensor([1.0, 2.0], device=device)
    buffer = t.data
    t += 1.0
    t *= tg.tensor([2.0, 3.0], device=device)
    t -= put(np.zeros(2, dtype=np.float64), device)  # casts into float32 in place
    t /= np.float64(1.0)
    assert t.data is buffer
    assert t.tolist() == [4.0, 9.0] and t.dtype == np.float32
    assert not t.requires_grad


def test_in_place_on_a_non_leaf_while_recording_stays_differentiable(device):
    x = tg.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x * 3.0
    y += x
    assert y.tolist() == [4.0, 8.0]
    y.sum().backward()
    assert on(x.grad, device)
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 4.0])


def test_cat_and_stack_take_dim_and_negative_axes(device):
    a = np.arange(6.0).reshape(2, 3)
    b = np.arange(4.0).reshape(2, 2)
    x = tg.tensor(put(a, device), requires_grad=True)
    y = tg.tensor(put(b, device), requires_grad=True)
    w = tg.tensor(put(np.arange(5.0), device))
    (tg.cat([x, y], dim=-1) * w).sum().backward()
    np.testing.assert_array_equal(host(x.grad), np.tile([0.0, 1.0, 2.0], (2, 1)))
    np.testing.assert_array_equal(host(y.grad), np.tile([3.0, 4.0], (2, 1)))
    x.grad = None
    s = tg.stack([x, 2 * x], dim=-1)
    assert s.shape == (2, 3, 2)
    (s * tg.tensor(put(np.array([1.0, 3.0]), device))).sum().backward()
    np.testing.assert_array_equal(host(x.grad), np.full((2, 3), 7.0))
    # the raw primitives, as tnp and the layers call them, count negative axes from the end
    import tensorgrad.numpy as tnp
    g = tg.grad(lambda a, b: tnp.sum(tnp.concatenate([a, b], axis=-1) ** 2), (0, 1))(
        put(a, device), put(b, device))
    np.testing.assert_allclose(host(g[0]), 2 * a, rtol=1e-14)  # the GPU's pow rounds
    np.testing.assert_allclose(host(g[1]), 2 * b, rtol=1e-14)


@pytest.mark.parametrize("name, fn", [
    ("number - t", lambda L, t, a: 1.5 - t),
    ("array - t", lambda L, t, a: a - t),
    ("number / t", lambda L, t, a: 2.0 / t),
    ("array / t", lambda L, t, a: a / t),
    ("number ** t", lambda L, t, a: 2.0 ** t),
    ("array ** t", lambda L, t, a: a ** t),
    ("matrix @ t", lambda L, t, a: a.reshape(2, 2) @ t.reshape(2, 2)),
])
def test_reflected_operators_match_torch(device, name, fn):
    """``y <op> t`` with a number or an array on the left (the reflected fast path): values,
    dtype and gradients as PyTorch's, on every device; a tensor on the left still works."""
    torch = pytest.importorskip("torch")
    tv = np.array([0.5, 1.5, 2.0, 3.0], np.float32)
    av = np.array([0.7, -1.2, 2.5, 0.3], np.float32)
    t = tg.tensor(tv, device=device, requires_grad=True)
    a = tg.tensor(av, device=device).data  # a raw array on the tensor's device
    out = fn(tg, t, a)
    tt = torch.tensor(tv, requires_grad=True)
    tout = fn(torch, tt, torch.tensor(av))
    assert out.dtype == np.float32 and out.grad_fn is not None
    np.testing.assert_allclose(out.cpu().numpy(), tout.detach().numpy(), rtol=1e-6)
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_allclose(t.grad.cpu().numpy(), tt.grad.numpy(), rtol=1e-5)
    if not name.startswith("number"):  # both tensors: the left one gets its gradient too
        s = tg.tensor(av, device=device, requires_grad=True)
        ts = torch.tensor(av, requires_grad=True)
        fn(tg, t, s).sum().backward()
        fn(torch, tt, ts).sum().backward()
        np.testing.assert_allclose(s.grad.cpu().numpy(), ts.grad.numpy(), rtol=1e-5)


def test_relu_edge_values_match_torch(device):
    """relu keeps NaN, maps -inf to 0, keeps the sign of -0.0 (as PyTorch does), on float32,
    float64 and integer data; its gradient at 0 is 0."""
    torch = pytest.importorskip("torch")
    v = np.array([-0.0, 0.0, np.nan, -np.inf, np.inf, -2.5, 3.0])
    for dtype in (np.float32, np.float64):
        out = tg.tensor(v.astype(dtype), device=device).relu()
        want = torch.relu(torch.tensor(v.astype(dtype))).numpy()
        got = out.cpu().numpy()
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
    ints = tg.tensor(np.array([-3, 0, 4]), device=device).relu()
    assert ints.cpu().numpy().tolist() == [0, 0, 4]
    x = tg.tensor(np.array([-1.0, 0.0, 2.0]), device=device, requires_grad=True)
    x.relu().sum().backward()
    assert x.grad.cpu().numpy().tolist() == [0.0, 0.0, 1.0]


def test_detach_in_place_updates_the_parameter_as_torchs_data_idiom(device):
    """README's porting note: PyTorch's ``p.data.mul_(m).add_(q, alpha=1 - m)`` (an EMA teacher)
    is ``p.detach().mul_(m).add_(q, alpha=1 - m)`` here, updating ``p`` in place, off the tape."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    p0, q0, mask = rng.standard_normal(4), rng.standard_normal(4), np.array([1.0, 0, 1, 0])
    p = tg.nn.Parameter(tg.tensor(put(p0, device)))
    q = tg.tensor(put(q0, device))
    tp, tq = torch.nn.Parameter(torch.tensor(p0)), torch.tensor(q0)
    before = p.data
    for _ in range(3):
        p.detach().mul_(0.9).add_(q, alpha=0.1)
        tp.data.mul_(0.9).add_(tq, alpha=0.1)
    p.data *= put(mask, device)
    tp.data *= torch.tensor(mask)
    assert p.data is before and p.requires_grad and p.grad_fn is None
    np.testing.assert_allclose(host(p.detach()), tp.detach().numpy(), rtol=1e-15)


def test_legacy_constructor_and_type_names():
    """PyTorch's ``torch.Tensor(2, 3)`` (sizes: an uninitialised tensor, as custom layers
    write ``nn.Parameter(torch.Tensor(out, in))`` before ``reset_parameters()``) raised
    "Cannot interpret '3' as a data type"; ``x.type()`` without a dtype raised TypeError."""
    torch = pytest.importorskip("torch")
    for args in ((2, 3), (5,), (), ([1, 2],), ([1.5, 2.0],), ([True, False],), ([[1, 2]],)):
        ours, theirs = tg.Tensor(*args), torch.Tensor(*args)
        assert tuple(ours.shape) == tuple(theirs.shape) and ours.dtype == tg.float32, args
        if args and not isinstance(args[0], int):
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    w = tg.nn.Parameter(tg.Tensor(4, 3))
    tg.nn.init.kaiming_uniform_(w, a=5 ** 0.5)
    assert w.shape == (4, 3) and w.requires_grad and np.isfinite(w.numpy()).all()
    assert tg.Tensor(np.arange(3)).dtype == tg.int64  # an array keeps its dtype
    assert tg.Tensor(np.arange(3.0), np.float32).dtype == tg.float32  # tensorgrad's dtype
    for dt, name in ((tg.float32, "torch.FloatTensor"), (tg.int64, "torch.LongTensor"),
                     (tg.float64, "torch.DoubleTensor"), (tg.bool, "torch.BoolTensor")):
        x = tg.zeros(2, dtype=dt)
        assert x.type() == name == torch.zeros(2, dtype=getattr(torch, str(dt))).type()
        assert x.type(name).dtype == dt
    assert tg.ones(2).type(tg.DoubleTensor).dtype == tg.float64
    assert tg.ones(2).type(tg.float16).dtype == tg.float16
    with pytest.raises(ValueError, match="invalid type 'torch.NoSuchTensor'"):
        tg.ones(2).type("torch.NoSuchTensor")
