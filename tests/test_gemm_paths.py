"""Products that tensorgrad computes another way than NumPy's matmul would, for speed: the
answers must be the same.

- A column times a row (a product over an axis of length 1), which NumPy's matmul runs as a
  plain loop without BLAS: tensorgrad sends it to a depth-2 GEMM with a zero second term
  (large float32/float64 pairs) or to the broadcast product (the rest). It comes up whenever
  a dimension is 1: the weight gradient of a Linear at batch 1, the input gradient of a
  Linear with one output, the forward pass of a Linear with one input, matrix-vector
  products' gradients.
- A Linear's float32 forward pass at 8-32 rows with a wide weight, computed as the
  transposed product (w @ x.T).T and copied back to rows.

Values against NumPy's own matmul (exactly for real dtypes where every entry is one
product), gradients against central finite differences and, where PyTorch is installed,
training against PyTorch.
"""

import numpy as np
import pytest
from devices import host, numeric_jacobian, put, tensor_on

import tensorgrad as tg
import tensorgrad.nn.functional as F
import tensorgrad.numpy as tnp
from tensorgrad.ops.linalg import _OUTER_GEMM

RNG = np.random.default_rng(7)

# (a shape, b shape): 2-D above and below the GEMM threshold, batched, broadcast batches
SHAPES = [((64, 1), (1, 64)), ((3, 1), (1, 5)), ((100, 1), (1, 41)), ((513, 1), (1, 9)),
          ((4, 7, 1), (4, 1, 11)), ((2, 70, 1), (1, 80)), ((70, 1), (3, 1, 80))]
DTYPES = [np.float32, np.float64, np.complex128, np.float16]


def _array(shape, dtype):
    a = RNG.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        a = a + 1j * RNG.standard_normal(shape)
    return a.astype(dtype)


def test_the_shapes_cover_both_sides_of_the_threshold():
    sizes = [a[-2] * b[-1] for a, b in SHAPES if len(a) == len(b) == 2]
    assert min(sizes) < _OUTER_GEMM <= max(sizes)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_values_are_numpys_exactly(shapes, dtype, device):
    a, b = _array(shapes[0], dtype), _array(shapes[1], dtype)
    got = host(tg.matmul(tensor_on(a, device), tensor_on(b, device)))
    want = np.matmul(a, b)
    assert got.shape == want.shape and got.dtype == want.dtype
    if want.dtype.kind == "c":  # NumPy's loop rounds a complex product its own way: 1 ulp
        np.testing.assert_allclose(got, want, rtol=4e-16, atol=0)
    else:
        np.testing.assert_array_equal(got, want)


def test_special_values_pass_through():
    """inf and NaN entries give what the plain product gives (the zero term adds nothing)."""
    a = _array((80, 1), np.float64)
    b = _array((1, 90), np.float64)
    a[3, 0], a[5, 0], b[0, 7] = np.inf, np.nan, -np.inf
    with np.errstate(invalid="ignore"):
        want = a * b
    got = tg.matmul(tg.tensor(a), tg.tensor(b)).numpy()
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("shapes", [((70, 1), (1, 65)), ((3, 1), (1, 4)), ((2, 5, 1), (1, 3)),
                                    ((70,), (70, 1)), ((1,), (1, 80)), ((80, 1), (1,)),
                                    ((60, 1), (2, 1, 90))], ids=str)
def test_gradients_match_finite_differences(shapes, device):
    a0, b0 = _array(shapes[0], np.float64), _array(shapes[1], np.float64)
    w = _array(np.matmul(a0, b0).shape, np.float64)

    def loss(a, b):
        return (tg.matmul(a, b) * tensor_on(w, device)).sum()

    a, b = tensor_on(a0, device, True), tensor_on(b0, device, True)
    loss(a, b).backward()

    def numeric(i):
        def f(v):
            args = [a0, b0]
            args[i] = v
            return float(host(loss(*[tensor_on(x, device) for x in args])))
        return numeric_jacobian(f, (a0, b0)[i])

    np.testing.assert_allclose(host(a.grad), numeric(0), rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(host(b.grad), numeric(1), rtol=1e-7, atol=1e-8)


def test_second_order_and_forward_mode():
    a0, b0 = _array((70, 1), np.float64), _array((1, 65), np.float64)
    tg.check_grads(lambda a, b: (tnp.tanh(a @ b) ** 2).sum(), order=2)(a0, b0)
    tg.check_grads(lambda x, w: (F.linear(x, w) ** 3).sum(), order=2)(
        _array((1, 70), np.float64), _array((65, 70), np.float64))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch, fan_in, fan_out", [(1, 784, 512), (1, 30, 20), (128, 256, 1),
                                                    (5, 1, 300), (3, 4, 1), (1, 1, 1),
                                                    (16, 784, 512), (8, 512, 256),
                                                    (32, 1024, 128), (33, 1024, 128),
                                                    (16, 1, 140000)])
def test_linear_layer_gradients(batch, fan_in, fan_out, dtype, device):
    """Batch 1 (the weight gradient is a column times a row), one output (the input
    gradient is), one input (the forward pass is): against the plain NumPy formulas."""
    x0 = _array((batch, fan_in), dtype)
    w0 = _array((fan_out, fan_in), dtype)
    b0 = _array((fan_out,), dtype)
    g0 = _array((batch, fan_out), dtype)
    x, w, b = (tensor_on(v, device, True) for v in (x0, w0, b0))
    out = F.linear(x, w, b)
    assert out.is_contiguous() and out.dtype == x.dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(host(out), x0 @ w0.T + b0, rtol=tol, atol=tol)
    out.backward(put(g0, device))
    np.testing.assert_allclose(host(x.grad), g0 @ w0, rtol=tol, atol=tol)
    np.testing.assert_allclose(host(w.grad), np.einsum("bo,bi->oi", g0, x0), rtol=tol,
                               atol=tol)
    np.testing.assert_allclose(host(b.grad), g0.sum(0), rtol=tol, atol=tol)


def test_batch_one_training_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    sizes = (100, 80, 1)
    params = [(rng.standard_normal((o, i)) / np.sqrt(i), rng.standard_normal(o))
              for i, o in zip(sizes, sizes[1:], strict=False)]
    data = [(rng.standard_normal((1, sizes[0])), rng.standard_normal((1, 1))) for _ in range(5)]

    def run(lib, nn, optim, mse):
        model = nn.Sequential(nn.Linear(100, 80), nn.Tanh(), nn.Linear(80, 1)).double()
        with lib.no_grad():
            for layer, (w, b) in zip((model[0], model[2]), params, strict=True):
                layer.weight.copy_(lib.tensor(w))
                layer.bias.copy_(lib.tensor(b))
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        losses = []
        for x, y in data:
            opt.zero_grad()
            loss = mse(model(lib.tensor(x)), lib.tensor(y))
            loss.backward()
            opt.step()
            losses.append(float(loss.item()))
        return losses, [p.detach().numpy() for p in model.parameters()]

    ours = run(tg, tg.nn, tg.optim, F.mse_loss)
    theirs = run(torch, torch.nn, torch.optim, torch.nn.functional.mse_loss)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-10)
    for p, q in zip(ours[1], theirs[1], strict=True):
        np.testing.assert_allclose(p, q, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", [(2, 8, 512), (4, 4, 1), (3, 5, 512)], ids=str)
def test_linear_of_a_batch_of_sequences(shape):
    """(B, S, E) inputs go through the same paths with their rows flattened."""
    x0 = _array(shape, np.float32)
    w0 = _array((300, shape[-1]), np.float32)
    x = tg.tensor(x0, requires_grad=True)
    w = tg.tensor(w0, requires_grad=True)
    out = F.linear(x, w)
    assert out.shape == shape[:-1] + (300,) and out.is_contiguous()
    np.testing.assert_allclose(out.numpy(), x0 @ w0.T, rtol=1e-5, atol=1e-5)
    g0 = _array(out.shape, np.float32)
    out.backward(tg.tensor(g0))
    np.testing.assert_allclose(x.grad.numpy(), g0 @ w0, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(w.grad.numpy(), np.einsum("bso,bsi->oi", g0, x0), rtol=1e-5,
                               atol=1e-4)


def test_linear_fast_path_second_order():
    """Second derivatives through the float32 transposed forward product (16 rows, a weight
    of 256 x 600) agree with the same computed in float64, which takes the plain path."""
    x0 = _array((16, 600), np.float64)
    w0 = _array((256, 600), np.float64) / 30

    def second(dtype):
        x = tg.tensor(x0.astype(dtype), requires_grad=True)
        w = tg.tensor(w0.astype(dtype), requires_grad=True)
        (gx,) = tg.autograd.grad((tnp.tanh(F.linear(x, w)) ** 2).sum(), [x], create_graph=True)
        (gw,) = tg.autograd.grad((gx * gx).sum(), [w])
        return gx.detach().numpy(), gw.numpy()

    for got, want in zip(second(np.float32), second(np.float64), strict=True):
        np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-3 * np.abs(want).max())
    tg.check_grads(lambda x, w: (tnp.tanh(F.linear(x, w)) ** 2).sum(), order=2)(x0, w0)
