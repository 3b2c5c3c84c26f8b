"""Tensor operands promote as PyTorch's, not as NumPy's (ops/registry.py ``torch_dtype``):

- a higher category wins outright: float32 with int64 is float32 (NumPy: float64);
- operands with dimensions outrank 0-d ones, which outrank Python numbers: a float32 tensor
  times a 0-d float64 tensor is float32 (NumPy 2: float64);
- integers meeting a Python float, or a float function (true division, exp, sqrt, sigmoid), give
  the default float dtype (NumPy: float64).

Inside an autograd-style function transform the last rule gives way to NumPy's (autograd's
traced arrays promote as NumPy's). Arrays that are not Tensors keep NumPy's rules throughout."""

import itertools

import numpy as np
import pytest
from devices import host, put

import tensorgrad as tg
import tensorgrad.numpy as tnp

torch = pytest.importorskip("torch")

DTYPES = ["bool", "uint8", "int16", "int32", "int64", "float16", "float32", "float64",
          "complex64"]


def _pair(lib, dt, shape, device=None):
    data = np.arange(1, 1 + int(np.prod(shape))).reshape(shape) % 3
    if lib is torch:
        return torch.tensor(data.astype(dt))
    return tg.tensor(data.astype(dt), device=device)


def _torch_dtype_name(t):
    """PyTorch's result dtype by NumPy's name; its complex32 (float16 meeting a complex 0-d
    tensor or number) has no NumPy counterpart, and tensorgrad gives complex64 there."""
    name = str(t.dtype).replace("torch.", "")
    return "complex64" if name == "complex32" else name


BINARY = {"add": lambda a, b: a + b, "mul": lambda a, b: a * b, "truediv": lambda a, b: a / b}


@pytest.mark.parametrize("op", ["add", "mul", "truediv"])
@pytest.mark.parametrize("shapes", [((3,), (3,)), ((3,), ()), ((), (3,)), ((), ())],
                         ids=["nd-nd", "nd-0d", "0d-nd", "0d-0d"])
def test_tensor_pairs_promote_as_torch(op, shapes, device):
    """Every pair of dtypes (bool through complex64), at every rank pairing: the result's
    dtype is PyTorch's, and so are its values."""
    fn = BINARY[op]
    wrong = []
    for da, db in itertools.product(DTYPES, DTYPES):
        ta, tb = _pair(torch, da, shapes[0]), _pair(torch, db, shapes[1])
        try:
            want = fn(ta, tb)
        except RuntimeError:
            continue  # PyTorch refuses (bool - bool and the like)
        got = fn(_pair(tg, da, shapes[0], device), _pair(tg, db, shapes[1], device))
        if str(got.dtype) != _torch_dtype_name(want):
            wrong.append(f"{da} {op} {db}: {got.dtype} (torch {want.dtype})")
            continue
        np.testing.assert_allclose(host(got.data).astype(complex),
                                   want.to(torch.complex128).numpy(), rtol=1e-3)
    assert wrong == []


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("scalar", [True, 2, 0.5, 1j])
def test_tensor_with_python_number_as_torch(dt, scalar, device):
    wrong = []
    for op in ("add", "mul", "truediv"):
        fn = BINARY[op]
        try:
            want = fn(_pair(torch, dt, (3,)), scalar)
        except RuntimeError:
            continue
        got = fn(_pair(tg, dt, (3,), device), scalar)
        if str(got.dtype) != _torch_dtype_name(want):
            wrong.append(f"{dt} {op} {scalar!r}: {got.dtype} (torch {want.dtype})")
    assert wrong == []


@pytest.mark.parametrize("name", ["exp", "sqrt", "sin", "tanh", "sigmoid", "log1p"])
@pytest.mark.parametrize("dt", ["bool", "uint8", "int32", "int64"])
def test_float_functions_of_integer_tensors_give_the_default_float(name, dt, device):
    x = _pair(tg, dt, (4,), device)
    got = getattr(tg, name)(x)
    want = getattr(torch, name)(_pair(torch, dt, (4,)))
    assert str(got.dtype) == _torch_dtype_name(want) == "float32"
    np.testing.assert_allclose(host(got.data), want.numpy(), rtol=1e-6)


def test_default_dtype_decides_what_integers_become(device):
    tg.set_default_dtype(tg.float64)
    try:
        assert (tg.arange(3, device=device) * 0.5).dtype == np.float64
        assert tg.exp(tg.arange(3, device=device)).dtype == np.float64
        assert (tg.arange(3, device=device) * 1j).dtype == np.complex128
    finally:
        tg.set_default_dtype(tg.float32)
    assert (tg.arange(3, device=device) / 2).dtype == np.float32
    assert (tg.arange(3, device=device) * 1j).dtype == np.complex64


def test_where_promotes_its_values_not_its_condition(device):
    cond = tg.tensor([True, False, True], device=device)
    for a, b in [(1.0, 0.0), (tg.ones(3, device=device), tg.arange(3, device=device)),
                 (tg.arange(3, device=device), 2.5)]:
        got = tg.where(cond, a, b)
        ta = torch.ones(3) if isinstance(a, tg.Tensor) and a.dtype == np.float32 else \
            torch.arange(3) if isinstance(a, tg.Tensor) else a
        tb = torch.arange(3) if isinstance(b, tg.Tensor) else b
        want = torch.where(torch.tensor([True, False, True]), ta, tb)
        assert str(got.dtype) == _torch_dtype_name(want)
        np.testing.assert_allclose(host(got.data), want.numpy())


def test_gradients_come_back_in_each_operands_dtype(device):
    """float32 weights times a 0-d float64 tensor compute in float32 (PyTorch's result), and
    the 0-d tensor's gradient is float64, as PyTorch's: the cast is on the tape."""
    w = tg.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    s = tg.tensor(0.5, dtype=tg.float64, device=device, requires_grad=True)
    y = (w * s).sum()
    assert y.dtype == np.float32
    y.backward()
    tw = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    ts = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    (tw * ts).sum().backward()
    assert w.grad.dtype == np.float32 and s.grad.dtype == np.float64
    np.testing.assert_allclose(host(w.grad.data), tw.grad.numpy())
    np.testing.assert_allclose(host(s.grad.data), ts.grad.numpy())
    # an integer tensor among float32 ones: float32 all the way, gradient included
    x = tg.tensor([1.0, -2.0, 3.0], device=device, requires_grad=True)
    z = (x * tg.arange(3, device=device) + tg.tensor([1, 2, 3], device=device)).sum()
    assert z.dtype == np.float32
    z.backward()
    assert x.grad.dtype == np.float32 and host(x.grad.data).tolist() == [0.0, 1.0, 2.0]


def test_mixed_dtype_derivatives_by_finite_differences(device):
    """A float64 variable meeting float32 and integer tensors: the op runs in float64 (the
    highest float), and its derivatives to second order, both modes, are exact."""
    c32 = tg.tensor([0.5, 1.5, -1.0], device=device)
    k = tg.arange(1, 4, device=device)

    def f(x):
        return tg.sum(tg.tanh(x * c32 + k) * x / k)

    x = put(np.array([0.3, -0.7, 1.1]), device)
    assert f(tg.tensor(x)).dtype == np.float64
    tg.check_grads(f, modes=("fwd", "rev"), order=2)(x)


def test_autograd_style_transforms_keep_numpys_promotion(device):
    """Inside grad, an integer array traced from the input and multiplied by a Python float
    stays float64, as autograd's: its values are not rounded to float32."""
    seen = []

    def f(x):
        k = tnp.floor(x * 1000.0).astype(int)  # an integer traced value
        seen.append((k * 0.001).dtype)
        return tnp.sum(x * x) + tnp.sum(k * 0.001)

    g = tg.grad(f)(put(np.array([1.2345678, 2.0]), device))
    assert seen == [np.float64]
    np.testing.assert_allclose(host(g), [2.4691356, 4.0])


def test_plain_arrays_keep_numpys_rules():
    """tensorgrad.numpy on arrays is NumPy: int64 * 0.5 is float64, float32 * int64 float64."""
    assert tnp.multiply(np.arange(3), 0.5).dtype == np.float64
    assert tnp.multiply(np.ones(3, np.float32), np.arange(3)).dtype == np.float64
    assert tnp.exp(np.arange(3)).dtype == np.float64
