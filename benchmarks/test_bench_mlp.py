"""W3: one SGD step of an MLP 784-512-256-10 (batch 128, ReLU, softmax cross-entropy, float32).

The workload (``WORKLOAD``, timed by ``run.py``) runs each library the way its users write it:

- numpy: the hand-written forward and backward pass of ``numpy_mlp.py`` (the floor);
- tensorgrad and torch: ``nn.Sequential`` of ``Linear``/``ReLU``, ``F.cross_entropy``,
  ``.backward()`` and ``optim.SGD``'s in-place update;
- HIPS autograd: ``grad`` of the loss over a list of arrays, a new list for the update;
- JAX: ``value_and_grad`` and ``tree.map`` for the update, the whole step under ``jax.jit``,
  or eager.

``build_mlp`` serves W4 (``test_bench_wide_mlp.py``) and the scaling figures too. Below the
workload: the tape written with raw parameters (update under ``no_grad``, the composed loss),
timed by pytest-benchmark (``pytest benchmarks --benchmark-only``). The target for the step is
tensorgrad / NumPy <= 1.10: at this size the time should go to the matrix products, not to the
framework.
"""

import functools

import numpy as np
import numpy_mlp
import pytest
from harness import Workload, check_training, jax_or_none, jax_sgd_steps, optional, to_numpy

import tensorgrad as tg
import tensorgrad.nn.functional as F

LR = numpy_mlp.LR


# ---- the workload: every library, idiomatic ----------------------------------------------


def _sequential(nn, np_params):
    """``nn.Sequential(Linear, ReLU, ..., Linear)`` (tensorgrad's or torch's) holding the
    NumPy parameters (``Linear`` keeps its weight as (out, in): the transpose)."""
    layers = []
    for w in np_params[0::2]:
        layers += [nn.Linear(*w.shape), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def _state(np_params, convert):
    state = {}
    for j in range(len(np_params) // 2):
        state[f"{2 * j}.weight"] = convert(np.ascontiguousarray(np_params[2 * j].T))
        state[f"{2 * j}.bias"] = convert(np_params[2 * j + 1].copy())
    return state


def _linear_grads(model):
    """The gradients in ``numpy_mlp``'s layout: weights (in, out), then biases."""
    grads = []
    for p in model.parameters():
        g = to_numpy(p.grad)
        grads.append(g.T if g.ndim == 2 else g)
    return grads


def tensorgrad_mlp(np_params, x, y, lr=LR):
    model = _sequential(tg.nn, np_params)
    model.load_state_dict(_state(np_params, lambda a: a))
    opt = tg.optim.SGD(model.parameters(), lr=lr)
    x = tg.tensor(x)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step, lambda: _linear_grads(model)


def torch_mlp(torch, np_params, x, y, lr=LR):
    model = _sequential(torch.nn, np_params)
    model.load_state_dict(_state(np_params, torch.from_numpy))
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    x, y = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step, lambda: _linear_grads(model)


def mlp_loss_fn(np_, log_softmax):
    """The loss over the list ``[W1, b1, W2, b2, ...]`` in the NumPy namespace ``np_``."""
    def loss(params, x, y):
        h = x
        for i in range(0, len(params) - 2, 2):
            h = np_.maximum(np_.dot(h, params[i]) + params[i + 1], 0.0)
        z = np_.dot(h, params[-2]) + params[-1]
        return -np_.mean(log_softmax(z)[np_.arange(x.shape[0]), y])
    return loss


def autograd_mlp(np_params, x, y, lr=LR):
    import autograd
    import autograd.numpy as anp
    from autograd.scipy.special import logsumexp

    vg = autograd.value_and_grad(mlp_loss_fn(
        anp, lambda z: z - logsumexp(z, axis=1, keepdims=True)))
    state = {"params": [p.copy() for p in np_params]}
    start = state["params"]

    def step():
        loss, grads = vg(state["params"], x, y)
        state["params"] = [p - lr * g for p, g in zip(state["params"], grads, strict=True)]
        return loss

    return step, lambda: vg(start, x, y)[1]


def jax_mlp(jax, np_params, x, y, lr=LR):
    import jax.numpy as jnp

    return jax_sgd_steps(jax, mlp_loss_fn(jnp, jax.nn.log_softmax), np_params, x, y, lr)


def numpy_floor(floor, np_params, x, y):
    """``(step, None)``: the hand-written step of ``floor`` (``numpy_mlp``, ``numpy_cnn``) on a
    copy of the parameters of its own."""
    params = [p.copy() for p in np_params]
    return (lambda: floor.train_step(params, x, y)), None


def checked_steps(label, impls, floor, np_params, x, y, check, unchecked=()):
    """``{impl: step}`` of ``impls`` (impl: (step, first_grads)); with ``check``, first
    ``check_training`` against the hand-written step of ``floor``: its loss and gradients at
    the start, and its loss after one update."""
    if check:
        ref = [p.copy() for p in np_params]
        loss0, grads0 = floor.loss_and_grads([p.copy() for p in ref], x, y)
        floor.train_step(ref, x, y)
        loss1 = floor.loss_and_grads([p.copy() for p in ref], x, y)[0]
        check_training(label, {k: v for k, v in impls.items() if k not in unchecked}, loss0,
                       grads0, loss1)
    return {name: step for name, (step, _) in impls.items()}


def build_mlp(sizes=numpy_mlp.SIZES, batch=numpy_mlp.BATCH, check=True, only=None, seed=0,
              unchecked=()):
    """``{impl: step}`` for an MLP of these layer sizes; with ``check``, each step's first two
    losses and its first gradients (of the implementations not in ``unchecked``) are compared
    with the hand-written NumPy step first."""
    np_params = numpy_mlp.init_params(seed, sizes)
    x, y = numpy_mlp.make_batch(seed + 1, batch, sizes)
    want = (lambda name: only is None or name in only)
    impls = {}
    if want("numpy"):
        impls["numpy"] = numpy_floor(numpy_mlp, np_params, x, y)
    if want("tensorgrad"):
        impls["tensorgrad"] = tensorgrad_mlp(np_params, x, y)
    torch = optional("torch")
    if torch is not None and want("torch"):
        impls["torch"] = torch_mlp(torch, np_params, x, y)
    if optional("autograd") is not None and want("autograd"):
        impls["autograd"] = autograd_mlp(np_params, x, y)
    jax = jax_or_none()
    if jax is not None and (want("jax.jit") or want("jax eager")):
        impls.update({k: v for k, v in jax_mlp(jax, np_params, x, y).items() if want(k)})
    return checked_steps(f"MLP {'-'.join(map(str, sizes))}", impls, numpy_mlp, np_params, x,
                         y, check, unchecked)


WORKLOAD = Workload("W3", "MLP 784-512-256-10, batch 128, float32, one SGD step", build_mlp,
                    rounds=21)


def test_mlp_all_agree():
    assert {"numpy", "tensorgrad"} <= set(build_mlp())


def test_mlp_any_depth_agrees():
    """Deep and shallow variants (the scaling figures) are checked the same way."""
    for sizes in ((784, 10), (784, 64, 64, 64, 64, 10)):
        assert {"numpy", "tensorgrad"} <= set(build_mlp(sizes, batch=8))


# ---- the tape with raw parameters, timed by pytest-benchmark ------------------------------


def tensorgrad_params(np_params):
    return [tg.tensor(p, requires_grad=True) for p in np_params]


def mlp_logits(params, x):
    """The logits of the MLP ``[W1, b1, W2, b2, ...]`` (ReLU between the layers), for
    tensorgrad's Tensors and torch's alike."""
    h = x
    for i in range(0, len(params) - 2, 2):
        h = (h @ params[i] + params[i + 1]).relu()
    return h @ params[-2] + params[-1]


def tensorgrad_loss(params, x, y):
    z = mlp_logits(params, x)
    return F.cross_entropy(z, y)  # what a PyTorch user writes; one fused node


def tensorgrad_loss_composed(params, x, y):
    """The same loss composed from primitives: log-softmax by logsumexp, integer indexing."""
    z = mlp_logits(params, x)
    logp = z - z.logsumexp(axis=1, keepdims=True)
    return -logp[np.arange(len(y)), y].mean()


def _sgd_step(loss_fn, params, x, y, lr, no_grad=tg.no_grad):
    """``loss_fn``'s backward pass and the SGD update written under ``no_grad`` (tensorgrad's
    or torch's)."""
    loss = loss_fn(params, x, y)
    loss.backward()
    with no_grad():
        for p in params:
            p -= lr * p.grad
            p.grad = None
    return loss


def tensorgrad_step(params, x, y, lr=LR):
    return _sgd_step(tensorgrad_loss, params, x, y, lr)


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
    return torch.nn.functional.cross_entropy(mlp_logits(params, x), y)


def torch_step(torch, params, x, y, lr=LR):
    return _sgd_step(functools.partial(torch_loss, torch), params, x, y, lr, torch.no_grad)


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


def _bench_tape(benchmark, record, paired, label, step, params, *extra):
    """Time ``step(params, *extra, x, y)`` on the standard batch in the group "mlp" under
    ``label`` (its loss must be finite), record it, and pair it with the hand-written NumPy
    step."""
    x, y = numpy_mlp.make_batch()
    args = (params, *extra, tg.tensor(x), y)
    benchmark.group = "mlp"
    loss = benchmark(step, *args)
    assert np.isfinite(loss.item())
    record("mlp", label, fn=step, args=args)
    np_params = numpy_mlp.init_params()
    paired("mlp", label, lambda: step(*args),
           "numpy step", lambda: numpy_mlp.train_step(np_params, x, y))


def test_mlp_numpy(benchmark, record):
    params = numpy_mlp.init_params()
    x, y = numpy_mlp.make_batch()
    benchmark.group = "mlp"
    benchmark(numpy_mlp.train_step, params, x, y)
    record("mlp", "numpy step", fn=numpy_mlp.train_step, args=(params, x, y))


def test_mlp_tensorgrad(benchmark, record, paired):
    check_against_numpy()  # a wrong fast answer is no result, also under --benchmark-only
    _bench_tape(benchmark, record, paired, "tensorgrad step", tensorgrad_step,
                tensorgrad_params(numpy_mlp.init_params()))


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
    _bench_tape(benchmark, record, paired, "tensorgrad+optim.SGD", optim_step, params,
                tg.optim.SGD(params, lr=LR))


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
    return _sgd_step(tensorgrad_loss_composed, params, x, y, lr)


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
    _bench_tape(benchmark, record, paired, "tensorgrad composed CE", composed_step,
                tensorgrad_params(numpy_mlp.init_params()))
