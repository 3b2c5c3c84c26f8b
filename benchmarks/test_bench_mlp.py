"""One SGD step of an MLP 784-512-256-10 (batch 128, ReLU, softmax cross-entropy, float32).

tensorgrad is written the way a user writes it (operators, ``.relu()``, ``logsumexp``, integer
indexing, ``.backward()``, an update under ``no_grad``) and is compared with a hand-written
NumPy forward and backward pass (numpy_mlp.py) and with PyTorch eager on the CPU. The target is
tensorgrad / NumPy <= 1.10: at this size the time should go to the matrix products, not to the
framework. ``test_mlp_matches_numpy`` is an ordinary test (it runs without --benchmark-only).
"""

import numpy as np
import numpy_mlp
import pytest

import tensorgrad as tg
import tensorgrad.nn.functional as F

LR = numpy_mlp.LR


def tensorgrad_params(np_params):
    return [tg.tensor(p, requires_grad=True) for p in np_params]


def tensorgrad_loss(params, x, y):
    w1, b1, w2, b2, w3, b3 = params
    h = (x @ w1 + b1).relu()
    h = (h @ w2 + b2).relu()
    z = h @ w3 + b3
    return F.cross_entropy(z, y)  # what a PyTorch user writes; one fused node


def tensorgrad_loss_composed(params, x, y):
    """The same loss composed from primitives: log-softmax by logsumexp, integer indexing."""
    w1, b1, w2, b2, w3, b3 = params
    h = (x @ w1 + b1).relu()
    h = (h @ w2 + b2).relu()
    z = h @ w3 + b3
    logp = z - z.logsumexp(axis=1, keepdims=True)
    return -logp[np.arange(len(y)), y].mean()


def tensorgrad_step(params, x, y, lr=LR):
    loss = tensorgrad_loss(params, x, y)
    loss.backward()
    with tg.no_grad():
        for p in params:
            p -= lr * p.grad
            p.grad = None
    return loss


def optim_step(params, opt, x, y):
    """The same step with ``tg.optim.SGD``: the update reuses a buffer per parameter instead
    of allocating ``lr * p.grad`` (as the hand-written NumPy update overwrites its gradients)."""
    opt.zero_grad()
    loss = tensorgrad_loss(params, x, y)
    loss.backward()
    opt.step()
    return loss


def torch_setup(torch, np_params, x, y):
    params = [torch.tensor(p, requires_grad=True) for p in np_params]
    return params, torch.from_numpy(x), torch.from_numpy(y)


def torch_loss(torch, params, x, y):
    w1, b1, w2, b2, w3, b3 = params
    h = (x @ w1 + b1).relu()
    h = (h @ w2 + b2).relu()
    z = h @ w3 + b3
    return torch.nn.functional.cross_entropy(z, y)


def torch_step(torch, params, x, y, lr=LR):
    loss = torch_loss(torch, params, x, y)
    loss.backward()
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad
            p.grad = None
    return loss


def _tolerances(dtype=np.float32):
    return {"rtol": 1e-4, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-10, "atol": 0}


def check_against_numpy():
    """One step of tensorgrad and of the hand-written NumPy model, from the same start: the
    loss, every gradient and every updated parameter agree to float32 tolerance."""
    np_params = numpy_mlp.init_params()
    x, y = numpy_mlp.make_batch()
    params = tensorgrad_params(np_params)

    loss = tensorgrad_loss(params, tg.tensor(x), y)
    loss.backward()
    ref_loss, ref_grads = numpy_mlp.loss_and_grads(np_params, x, y)
    tol = _tolerances()
    assert loss.dtype == np.float32
    np.testing.assert_allclose(loss.item(), ref_loss, **tol)
    for i, (p, g) in enumerate(zip(params, ref_grads, strict=True)):
        assert p.grad.dtype == np.float32, f"gradient {i} is {p.grad.dtype}"
        assert p.grad.shape == g.shape
        np.testing.assert_allclose(p.grad.numpy(), g, err_msg=f"gradient {i}", **tol)

    with tg.no_grad():
        for p in params:
            p -= LR * p.grad
    numpy_mlp.sgd_update(np_params, ref_grads)
    for i, (p, q) in enumerate(zip(params, np_params, strict=True)):
        assert p.dtype == np.float32
        np.testing.assert_allclose(p.numpy(), q, err_msg=f"parameter {i}", **tol)


def test_mlp_matches_numpy():
    check_against_numpy()


def test_mlp_numpy_matches_float64():
    """The hand-written backward pass itself, against finite differences of the float64 loss
    along a random direction (guards the baseline, so the comparison above means something)."""
    params = [p.astype(np.float64) for p in numpy_mlp.init_params(sizes=(12, 8, 6, 4))]
    x, y = numpy_mlp.make_batch(batch=5, sizes=(12, 8, 6, 4))
    x = x.astype(np.float64)
    _, grads = numpy_mlp.loss_and_grads([p.copy() for p in params], x, y)
    rng = np.random.default_rng(2)
    direction = [rng.standard_normal(p.shape) for p in params]
    eps = 1e-6

    def loss_at(t):
        moved = [p + t * d for p, d in zip(params, direction, strict=True)]
        return numpy_mlp.loss_and_grads(moved, x, y)[0]

    numeric = (loss_at(eps) - loss_at(-eps)) / (2 * eps)
    analytic = sum(float((g * d).sum()) for g, d in zip(grads, direction, strict=True))
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6)


def test_mlp_torch_matches_numpy():
    torch = pytest.importorskip("torch")
    np_params = numpy_mlp.init_params()
    x, y = numpy_mlp.make_batch()
    params, tx, ty = torch_setup(torch, np_params, x, y)
    loss = torch_loss(torch, params, tx, ty)
    loss.backward()
    ref_loss, ref_grads = numpy_mlp.loss_and_grads(np_params, x, y)
    np.testing.assert_allclose(loss.item(), ref_loss, **_tolerances())
    for p, g in zip(params, ref_grads, strict=True):
        np.testing.assert_allclose(p.grad.numpy(), g, **_tolerances())


# ---- the benchmarks -------------------------------------------------------------------------


def test_mlp_numpy(benchmark, record):
    params = numpy_mlp.init_params()
    x, y = numpy_mlp.make_batch()
    benchmark.group = "mlp"
    benchmark(numpy_mlp.train_step, params, x, y)
    record("mlp", "numpy step", fn=numpy_mlp.train_step, args=(params, x, y))


def test_mlp_tensorgrad(benchmark, record, paired):
    check_against_numpy()  # a wrong fast answer is no result, also under --benchmark-only
    params = tensorgrad_params(numpy_mlp.init_params())
    x, y = numpy_mlp.make_batch()
    tx = tg.tensor(x)
    benchmark.group = "mlp"
    loss = benchmark(tensorgrad_step, params, tx, y)
    assert np.isfinite(loss.item())
    record("mlp", "tensorgrad step", fn=tensorgrad_step, args=(params, tx, y))
    np_params = numpy_mlp.init_params()
    paired("mlp", "tensorgrad step", lambda: tensorgrad_step(params, tx, y),
           "numpy step", lambda: numpy_mlp.train_step(np_params, x, y))


def test_mlp_torch(benchmark, record, paired):
    torch = pytest.importorskip("torch")
    params, x, y = torch_setup(torch, numpy_mlp.init_params(), *numpy_mlp.make_batch())
    benchmark.group = "mlp"
    loss = benchmark(torch_step, torch, params, x, y)
    assert np.isfinite(loss.item())
    record("mlp", "torch step", fn=torch_step, args=(torch, params, x, y))
    tg_params = tensorgrad_params(numpy_mlp.init_params())
    tx, ty = tg.tensor(x.numpy()), y.numpy()
    paired("mlp", "tensorgrad step", lambda: tensorgrad_step(tg_params, tx, ty),
           "torch step", lambda: torch_step(torch, params, x, y))


def test_mlp_tensorgrad_optim(benchmark, record, paired):
    params = tensorgrad_params(numpy_mlp.init_params())
    opt = tg.optim.SGD(params, lr=LR)
    x, y = numpy_mlp.make_batch()
    tx = tg.tensor(x)
    benchmark.group = "mlp"
    loss = benchmark(optim_step, params, opt, tx, y)
    assert np.isfinite(loss.item())
    record("mlp", "tensorgrad+optim.SGD", fn=optim_step, args=(params, opt, tx, y))
    np_params = numpy_mlp.init_params()
    paired("mlp", "tensorgrad+optim.SGD", lambda: optim_step(params, opt, tx, y),
           "numpy step", lambda: numpy_mlp.train_step(np_params, x, y))


def test_optim_step_matches_numpy_update():
    """One optim.SGD step gives the hand-written NumPy update's parameters."""
    np_params = numpy_mlp.init_params()
    x, y = numpy_mlp.make_batch()
    params = tensorgrad_params(np_params)
    opt = tg.optim.SGD(params, lr=LR)
    optim_step(params, opt, tg.tensor(x), y)
    numpy_mlp.train_step(np_params, x, y)
    for p, q in zip(params, np_params, strict=True):
        np.testing.assert_allclose(p.numpy(), q, **_tolerances())


def composed_step(params, x, y, lr=LR):
    loss = tensorgrad_loss_composed(params, x, y)
    loss.backward()
    with tg.no_grad():
        for p in params:
            p -= lr * p.grad
            p.grad = None
    return loss


def test_composed_loss_matches_fused():
    np_params = numpy_mlp.init_params()
    x, y = numpy_mlp.make_batch()
    a, b = tensorgrad_params(np_params), tensorgrad_params(np_params)
    la = tensorgrad_loss(a, tg.tensor(x), y)
    lb = tensorgrad_loss_composed(b, tg.tensor(x), y)
    la.backward()
    lb.backward()
    np.testing.assert_allclose(la.item(), lb.item(), **_tolerances())
    for p, q in zip(a, b, strict=True):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), **_tolerances())


def test_mlp_tensorgrad_composed(benchmark, record, paired):
    params = tensorgrad_params(numpy_mlp.init_params())
    x, y = numpy_mlp.make_batch()
    tx = tg.tensor(x)
    benchmark.group = "mlp"
    loss = benchmark(composed_step, params, tx, y)
    assert np.isfinite(loss.item())
    record("mlp", "tensorgrad composed CE", fn=composed_step, args=(params, tx, y))
    np_params = numpy_mlp.init_params()
    paired("mlp", "tensorgrad composed CE", lambda: composed_step(params, tx, y),
           "numpy step", lambda: numpy_mlp.train_step(np_params, x, y))
