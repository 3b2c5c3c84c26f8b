"""A 0-d CPU operand in an op with CUDA operands, as PyTorch allows (``cuda_x * tensor(2.0)``).

Only 0-d CPU operands move: the result is on the CUDA device, gradients flow back to the CPU
scalar through the recorded device move (its ``.grad`` is on the CPU), and a CPU operand with
dimensions still raises the RuntimeError that names both devices. Values and gradients are
compared with the same computation all on the CPU, with PyTorch (CPU) and, on the function API,
with central finite differences. Also here: ``take_along_axis`` with indices on another device
says so instead of passing on CuPy's bare TypeError.
"""

import numpy as np
import pytest
from devices import host, on, put, torch_oracle

import tensorgrad as tg
import tensorgrad.numpy as tnp

S = 0.7  # the CPU scalar; the CUDA data lie in [0.5, 1.5]: no ties with it, positive bases

# name: (ours on Tensors or arrays, PyTorch's), each a function of (a, b)
OPS = {
    "add": (lambda a, b: a + b, lambda T, a, b: a + b),
    "sub": (lambda a, b: a - b, lambda T, a, b: a - b),
    "mul": (lambda a, b: a * b, lambda T, a, b: a * b),
    "div": (lambda a, b: a / b, lambda T, a, b: a / b),
    "pow": (lambda a, b: a ** b, lambda T, a, b: a ** b),
    "maximum": (lambda a, b: tg.maximum(a, b), lambda T, a, b: T.maximum(a, b)),
    "minimum": (lambda a, b: tg.minimum(a, b), lambda T, a, b: T.minimum(a, b)),
    "atan2": (lambda a, b: tg.atan2(a, b), lambda T, a, b: T.atan2(a, b)),
    "where": (lambda a, b: tg.where(a > b, a * b, b - a),
              lambda T, a, b: T.where(a > b, a * b, b - a)),
}

# the function API on raw arrays: CuPy data with a 0-d NumPy array
TNP_OPS = {
    "add": tnp.add,
    "subtract": tnp.subtract,
    "multiply": tnp.multiply,
    "true_divide": tnp.true_divide,
    "power": tnp.power,
    "maximum": tnp.maximum,
    "arctan2": tnp.arctan2,
    "where": lambda a, b: tnp.where(tnp.greater(a, b), tnp.multiply(a, b), tnp.subtract(b, a)),
}

ORDERS = ["cuda_first", "cpu_first"]


def _call(f, order, big, scalar):
    return f(big, scalar) if order == "cuda_first" else f(scalar, big)


def _data(rng):
    return rng.uniform(0.5, 1.5, (3, 4)), rng.standard_normal((3, 4))


def _run(f, order, xd, gd, device):
    """Value, and the gradients of both operands, with the scalar on the CPU and the array on
    ``device``; second derivatives through create_graph too."""
    x = tg.tensor(put(xd, device), requires_grad=True)
    s = tg.tensor(np.array(S), requires_grad=True)
    out = _call(f, order, x, s)
    loss = (out * put(gd, device)).sum()
    gx, gs = tg.autograd.grad(loss, [x, s], create_graph=True)
    # d/dx, d/ds of |gx|^2 + gs^2 (+ |out|^2, which depends on both for every op)
    ((gx * gx).sum() + gs * gs + (out * out).sum()).backward()
    return out, gx, gs, x, s


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("name", list(OPS))
def test_values_and_grads_match_the_cpu(name, order, cuda_device, rng):
    f = OPS[name][0]
    xd, gd = _data(rng)
    out, gx, gs, x, s = _run(f, order, xd, gd, cuda_device)
    ref = _run(f, order, xd, gd, "cpu")

    assert out.device == cuda_device and on(out, cuda_device)
    assert gx.device == cuda_device and x.grad.device == cuda_device
    assert gs.device == "cpu" and on(gs, "cpu") and gs.shape == ()
    assert s.grad.device == "cpu" and on(s.grad, "cpu") and s.grad.shape == ()
    assert s.grad.dtype == np.float64
    for mine, theirs in zip((out, gx, gs, x.grad, s.grad), (ref[0], ref[1], ref[2], ref[3].grad,
                                                           ref[4].grad)):
        np.testing.assert_allclose(host(mine), host(theirs), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("name", list(OPS))
def test_values_and_grads_match_pytorch(name, order, cuda_device, rng):
    torch = torch_oracle()
    f, ft = OPS[name]
    xd, gd = _data(rng)
    out, gx, gs, x, s = _run(f, order, xd, gd, cuda_device)

    xt = torch.tensor(xd, requires_grad=True)
    st = torch.tensor(S, dtype=torch.float64, requires_grad=True)
    outt = _call(lambda a, b: ft(torch, a, b), order, xt, st)
    losst = (outt * torch.tensor(gd)).sum()
    gxt, gst = torch.autograd.grad(losst, [xt, st], create_graph=True)
    ((gxt * gxt).sum() + gst * gst + (outt * outt).sum()).backward()
    for mine, theirs in zip((out, gx, gs, x.grad, s.grad), (outt, gxt, gst, xt.grad, st.grad)):
        np.testing.assert_allclose(host(mine), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("name", list(TNP_OPS))
def test_function_api_with_a_0d_numpy_array(name, order, cuda_device, rng):
    f = TNP_OPS[name]
    xd, _ = _data(rng)
    x = put(xd, cuda_device)
    s = np.array(S)
    out = _call(f, order, x, s)
    assert type(out) is type(x) and on(out, cuda_device)  # a raw CuPy array, no Tensor
    np.testing.assert_allclose(host(out), _call(f, order, xd, s), rtol=1e-13)

    def fn(a, b):
        return tnp.sin(_call(f, order, a, b))

    # against central finite differences, both modes, to second order; one argument at a time
    # (the checker concatenates the gradients, which live on two devices here)
    tg.check_grads(fn, modes=("fwd", "rev"), order=2, argnum=0)(x, s)
    tg.check_grads(fn, modes=("fwd", "rev"), order=2, argnum=1)(x, s)
    gs = tg.grad(lambda b: tnp.sum(fn(x, b)), 0)(s)
    assert type(gs) is np.ndarray and gs.shape == ()  # the gradient of a host array is host
    ref = tg.grad(lambda b: tnp.sum(fn(xd, b)), 0)(s)
    np.testing.assert_allclose(gs, ref, rtol=1e-12)


@pytest.mark.parametrize("op", ["lt", "ge", "eq", "ne"])
@pytest.mark.parametrize("order", ORDERS)
def test_comparisons(op, order, cuda_device, rng):
    xd = rng.uniform(0.0, 2.0, (3, 4))
    xd[0, 1] = xd[2, 3] = S  # ties too
    x = tg.tensor(put(xd, cuda_device))
    s = tg.tensor(S, dtype=np.float64)
    fn = {"lt": lambda a, b: a < b, "ge": lambda a, b: a >= b, "eq": lambda a, b: a == b,
          "ne": lambda a, b: a != b}[op]
    out = _call(fn, order, x, s)
    assert out.device == cuda_device and out.dtype == np.bool_
    want = _call(fn, order, xd, np.float64(S))
    assert want.any() and not want.all()
    np.testing.assert_array_equal(host(out), want)
    raw = _call(fn, order, x.data, np.array(S))
    np.testing.assert_array_equal(host(raw), want)


def test_where_with_a_cpu_condition_and_0d_cuda_operand(cuda_device):
    torch = torch_oracle()
    x = tg.tensor(put(np.array([1.0, -2.0, 3.0]), cuda_device), requires_grad=True)
    y = tg.tensor(put(np.array(5.0), cuda_device), requires_grad=True)  # 0-d, but on the GPU
    for flag in (True, False):
        x.grad = y.grad = None
        out = tg.where(tg.tensor(flag), x, y)  # a 0-d CPU condition
        assert out.device == cuda_device
        out.sum().backward()
        xt = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64, requires_grad=True)
        yt = torch.tensor(5.0, dtype=torch.float64, requires_grad=True)
        ot = torch.where(torch.tensor(flag), xt, yt)
        ot.sum().backward()
        np.testing.assert_array_equal(host(out), ot.detach().numpy())
        np.testing.assert_array_equal(host(x.grad), xt.grad.numpy())
        np.testing.assert_array_equal(host(y.grad), yt.grad.numpy())
        assert x.grad.device == cuda_device and y.grad.device == cuda_device


def test_0d_cpu_with_0d_cuda_gives_cuda(cuda_device):
    a = tg.tensor(put(np.array(3.0), cuda_device), requires_grad=True)
    b = tg.tensor(2.0, dtype=np.float64, requires_grad=True)
    for out in (a * b, b * a, b - a):
        assert out.device == cuda_device and out.shape == ()
    (a * b * b).backward()
    assert a.grad.device == cuda_device and float(host(a.grad)) == 4.0
    assert b.grad.device == "cpu" and float(host(b.grad)) == 12.0


def test_the_scalar_used_twice_accumulates_on_the_cpu(cuda_device, rng):
    xd = rng.standard_normal(5)
    x = tg.tensor(put(xd, cuda_device), requires_grad=True)
    s = tg.tensor(S, dtype=np.float64, requires_grad=True)
    (x * s + s * s * x - s).sum().backward()
    assert s.grad.device == "cpu"
    np.testing.assert_allclose(host(s.grad), xd.sum() + 2 * S * xd.sum() - 5, rtol=1e-12)
    np.testing.assert_allclose(host(x.grad), np.full(5, S + S * S), rtol=1e-12)


def test_on_a_second_gpu(cuda_device):
    if tg.cuda.device_count() < 2:
        pytest.skip("one GPU")
    with tg.cuda.device(1):
        x = tg.ones(3, device="cuda:1", requires_grad=True)
        s = tg.tensor(2.0, requires_grad=True)
        out = x * s
        assert out.device == "cuda:1"
        out.sum().backward()
    assert s.grad.device == "cpu" and float(host(s.grad)) == 3.0
    assert x.grad.device == "cuda:1"


# ---- in place -----------------------------------------------------------------------------
@pytest.mark.parametrize("method, fn", [
    ("add_", lambda a, b: a + b), ("sub_", lambda a, b: a - b),
    ("mul_", lambda a, b: a * b), ("div_", lambda a, b: a / b)])
def test_inplace_with_a_cpu_scalar(method, fn, cuda_device, rng):
    torch = torch_oracle()
    xd = rng.uniform(0.5, 1.5, (2, 3))
    for scalar in (tg.tensor(S, dtype=np.float64), np.array(S)):  # not recorded
        x = tg.tensor(put(xd, cuda_device))
        data = x.data
        assert getattr(x, method)(scalar) is x
        assert x.data is data and x.device == cuda_device  # written in place
        np.testing.assert_allclose(host(x), fn(xd, S), rtol=1e-13)

    # recorded: the scalar requires grad
    leaf = tg.tensor(put(xd, cuda_device), requires_grad=True)
    s = tg.tensor(S, dtype=np.float64, requires_grad=True)
    y = leaf * 2.0
    getattr(y, method)(s)
    assert y.device == cuda_device
    (y * y).sum().backward()
    lt = torch.tensor(xd, requires_grad=True)
    st = torch.tensor(S, dtype=torch.float64, requires_grad=True)
    yt = lt * 2.0
    getattr(yt, method)(st)
    (yt * yt).sum().backward()
    np.testing.assert_allclose(host(y), yt.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(host(leaf.grad), lt.grad.numpy(), rtol=1e-12)
    assert s.grad.device == "cpu"
    np.testing.assert_allclose(host(s.grad), st.grad.numpy(), rtol=1e-12)


def test_inplace_into_a_cpu_scalar_from_cuda_is_refused(cuda_device):
    c = tg.tensor(2.0)
    with pytest.raises(RuntimeError, match=r"add: .*on cpu.*on cuda:0"):
        c.add_(tg.ones((), device=cuda_device))
    assert float(c.item()) == 2.0
    r = tg.tensor(2.0, requires_grad=True) * 1.0
    with pytest.raises(RuntimeError, match=r"add_: the result is on cuda:0 .* on cpu"):
        r.add_(tg.ones((), device=cuda_device, requires_grad=True))


# ---- what still raises --------------------------------------------------------------------
_NAMES = {"add": "add", "sub": "subtract", "mul": "multiply", "div": "divide",
          "pow": "power", "maximum": "maximum", "minimum": "minimum", "atan2": "arctan2",
          "where": "where"}


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("name", list(OPS))
def test_a_cpu_operand_with_dimensions_still_raises(name, order, cuda_device, rng):
    f = OPS[name][0]
    x = tg.tensor(put(rng.uniform(0.5, 1.5, (3, 4)), cuda_device), requires_grad=True)
    v = tg.tensor(np.full(4, S), requires_grad=True)  # broadcastable: only the device is wrong
    pattern = rf"{_NAMES[name]}: expected all arguments on the same device.*" + (
        r"on cuda:0.*on cpu" if order == "cuda_first" else r"on cpu.*on cuda:0")
    if name == "where":  # the condition (x > v) is the op that meets the mix first
        pattern = r"greater: .*(on cuda:0.*on cpu|on cpu.*on cuda:0)"
    with pytest.raises(RuntimeError, match=pattern):
        _call(f, order, x, v)
    with pytest.raises(RuntimeError, match=r"add: .*on cuda:0.*on cpu"):
        tg.tensor(put(np.ones(4), cuda_device)).add_(tg.ones(4))  # in place, too
    # the function API on raw arrays keeps CuPy's own refusal of a NumPy array
    with pytest.raises(TypeError, match="Unsupported type"):
        TNP_OPS["multiply"](x.data, np.full(4, S))


def test_a_0d_cpu_scalar_with_a_cpu_array_stays_on_the_cpu():
    out = tg.ones(3) * tg.tensor(2.0)
    assert out.device == "cpu"


def test_errors_that_are_not_about_devices_are_kept(cuda_device):
    x = tg.tensor(put(np.ones((2, 3)), cuda_device))
    with pytest.raises(ValueError, match=r"reshape"):
        (x * tg.tensor(2.0)).reshape(4, 4)
    # an op that fails for its own reason after the move reports that reason, on the GPU
    with pytest.raises(TypeError, match=r"bitwise_and"):
        tg.tensor(put(np.ones(3), cuda_device)) & tg.tensor(True)


# ---- take_along_axis with indices on another device --------------------------------------
def test_take_along_axis_indices_on_another_device(cuda_device, rng):
    a = rng.standard_normal((3, 4))
    idx = np.array([[0], [3], [1]])
    want = np.take_along_axis(a, idx, 1)
    np.testing.assert_array_equal(host(tnp.take_along_axis(put(a, cuda_device),
                                                           put(idx, cuda_device), 1)), want)
    with pytest.raises(RuntimeError, match=r"take_along_axis: indices .* arr array\(3, 4\) "
                                           r"float64 on cuda:0 and indices array\(3, 1\) "
                                           r"int64 on cpu"):
        tnp.take_along_axis(put(a, cuda_device), idx, 1)
    with pytest.raises(RuntimeError, match=r"take_along_axis: indices .* arr array\(3, 4\) "
                                           r"float64 on cpu and indices array\(3, 1\) int64 "
                                           r"on cuda:0"):
        tnp.take_along_axis(a, put(idx, cuda_device), 1)
    with pytest.raises(RuntimeError, match=r"take_along_axis: .*on cuda:0 and indices "
                                           r"array\(3, 1\) int64 on cpu"):
        tnp.take_along_axis(put(a, cuda_device), tg.tensor(idx), 1)  # a CPU Tensor of indices


def test_take_along_axis_with_a_default_device_moves_the_indices(default_cuda, rng):
    # as every other op does while a default device is set (JAX's behaviour)
    a = rng.standard_normal((3, 4))
    idx = np.array([[0], [3], [1]])
    out = tnp.take_along_axis(put(a, default_cuda), idx, 1)
    assert on(out, default_cuda)
    np.testing.assert_array_equal(host(out), np.take_along_axis(a, idx, 1))
