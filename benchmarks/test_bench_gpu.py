"""GPU benchmarks: tensorgrad on CuPy against hand-written CuPy (the floor) and PyTorch CUDA eager.

Skipped as a whole, with the reason, unless CuPy imports and sees a real CUDA GPU (the test
suite's CPU stand-in for CuPy does not count). On a GPU machine: ``make gpu-check``, or

    PYTHONPATH=. python3 -m pytest benchmarks/test_bench_gpu.py -rs -p no:cacheprovider

Four workloads, each a group in the summary table (implementations in brackets):

- ``gpu mlp``: one SGD training step of an MLP 784-2048-2048-10, batch 512, ReLU, softmax
  cross-entropy, float32 [tensorgrad with ``tg.optim.SGD``; the hand-written CuPy step of
  ``cupy_mlp.py``, the floor; PyTorch with ``torch.optim.SGD``]. Targets: tensorgrad within
  1.15x of the floor, and no slower than PyTorch.
- ``gpu chain``: per-op overhead, the chain benchmark on the GPU: 200 x ``tanh(y*1.0001+0.1)``
  on 16 float32 values, forward and backward, time per primitive op (601 of them)
  [tensorgrad; the same CuPy calls with a hand-written backward, no tape; PyTorch].
- ``gpu xent``: softmax cross-entropy forward + backward on 4096 x 32000 float32 logits
  [tensorgrad ``F.cross_entropy`` + ``.backward()``, which dispatches to the fused kernels for
  CuPy arrays; the same math as a chain of CuPy calls; PyTorch ``F.cross_entropy``]. Target:
  tensorgrad at least 2x faster than the CuPy chain.
- ``gpu adam``: one Adam step over 100M float32 parameters (10 tensors of 10M), gradients set
  beforehand [``tg.optim.Adam``; the same math as a chain of CuPy calls per parameter;
  ``torch.optim.Adam`` (default, foreach) and ``torch.optim.Adam(fused=True)``]. Target:
  tensorgrad at least 2x faster than the CuPy chain.

Every timed call ends in a device synchronisation, so a time covers the GPU's work, not only
the launches. Before any timing, ``test_gpu_<workload>_check`` checks that the implementations
agree (loss, gradients, updated parameters) to float32 tolerances; every timed benchmark of the
workload carries that outcome in ``extra_info["check"]``, next to ``workload``, ``impl``,
``role`` (tensorgrad | floor | torch) and, for tensorgrad, ``targets`` (the largest allowed
ratio to the floor and to the fastest PyTorch): ``gpu_report.py`` prints them from the
``--benchmark-json`` file.

Timing: a few warm-up calls (NVRTC compiles, memory pools grow), then ``benchmark.pedantic``
with as many rounds as fit in TIME_BUDGET_S (at least MIN_ROUNDS, at most MAX_ROUNDS), so the
run time of this file does not depend on pytest-benchmark's command-line options. A failing
implementation fails its own test only; ``make gpu-check`` also runs each workload in a
process of its own, so that a GPU fault in one cannot take the others down.
"""

import gc
import math
import time

import cupy_mlp
import numpy as np
import numpy_mlp
import pytest
from test_bench_mlp import tensorgrad_loss, torch_loss

import tensorgrad as tg
import tensorgrad.nn.functional as F

pytestmark = pytest.mark.cuda

TIME_BUDGET_S = 0.5  # timed rounds per benchmark, roughly
MIN_ROUNDS = 5
MAX_ROUNDS = 500
WARMUP_CALLS = 3

MLP_SIZES = (784, 2048, 2048, 10)
MLP_BATCH = 512
LR = numpy_mlp.LR
MLP_TARGETS = {"floor": 1.15, "torch": 1.0}

CHAIN_STEPS = 200
CHAIN_SIZE = 16
CHAIN_CHECK_STEPS = 20  # the check's chain: after 200 steps the gradient is subnormal (~1e-40)

XENT_SHAPE = (4096, 32000)
FUSED_TARGETS = {"floor": 0.5}

ADAM_TENSORS = 10
ADAM_NUMEL = 10_000_000
ADAM_LR = 1e-3
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


def _chain_n_ops():
    return 3 * CHAIN_STEPS + 1  # mul, add, tanh per step, then the sum


# ---- skip without a real GPU -----------------------------------------------------------------


def _why_no_gpu():
    """None where CuPy drives a real CUDA GPU that tensorgrad sees; else the reason."""
    head = "GPU benchmarks skipped: they need CuPy and a CUDA GPU;"
    try:
        import cupy
    except Exception as e:  # ImportError, or a CuPy that cannot load its CUDA libraries
        return f"{head} CuPy does not import ({type(e).__name__}: {e})"
    try:
        count = int(cupy.cuda.runtime.getDeviceCount())
        name = cupy.cuda.runtime.getDeviceProperties(0)["name"] if count else b""
    except Exception as e:
        return f"{head} CuPy cannot reach a GPU ({type(e).__name__}: {e})"
    if count < 1:
        return f"{head} CuPy sees no CUDA GPU"
    if isinstance(name, str):
        name = name.encode()
    if b"StandIn" in name:
        return f"{head} 'cupy' is the test suite's CPU stand-in ({name.decode()}), not a GPU"
    if not tg.cuda.is_available():
        return f"{head} tensorgrad does not see the GPU (tg.cuda.is_available() is False)"
    return None


_WHY_SKIP = _why_no_gpu()
if _WHY_SKIP is not None:
    pytest.skip(_WHY_SKIP, allow_module_level=True)


# ---- where the implementations run -----------------------------------------------------------


class Env:
    """The array module of the floor and of tensorgrad's data (CuPy; NumPy in the CPU checks of
    this file's logic) with its synchronisation, and PyTorch with its device (None, with the
    reason in ``why_no_torch``, where PyTorch or its CUDA is missing)."""

    def __init__(self, xp, torch=None, torch_device="cuda", why_no_torch=""):
        self.xp = xp
        self.torch = torch
        self.torch_device = torch_device
        self.why_no_torch = why_no_torch

    def sync(self):
        if self.xp is not np:
            self.xp.cuda.Device().synchronize()

    def torch_sync(self):
        if self.torch_device != "cpu":
            self.torch.cuda.synchronize()

    def need_torch(self):
        if self.torch is None:
            pytest.skip(self.why_no_torch)
        return self.torch

    def to_torch(self, a):
        """A PyTorch copy of the device array ``a``, on the same device."""
        return self.torch.from_dlpack(a).clone()

    def as_xp(self, obj):
        """A tensorgrad Tensor, a PyTorch tensor or an array as an array of ``xp`` (no copy
        where possible), for comparisons on the device."""
        if isinstance(obj, tg.Tensor):
            return obj.data
        if self.torch is not None and isinstance(obj, self.torch.Tensor):
            return self.xp.from_dlpack(obj.detach())
        return self.xp.asarray(obj)

    def randn(self, shape, seed, scale=1.0):
        xp = self.xp
        if xp is np:
            a = np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)
        else:
            a = xp.random.RandomState(seed).standard_normal(shape, dtype=xp.float32)
        if scale != 1.0:
            a *= np.float32(scale)
        return a

    def randint(self, high, size, seed):
        xp = self.xp
        if xp is np:
            return np.random.default_rng(seed).integers(0, high, size=size, dtype=np.int64)
        return xp.random.RandomState(seed).randint(0, high, size=size, dtype=xp.int64)

    def free(self):
        """Give cached device memory back between benchmarks (the 100M-parameter Adam and the
        4096 x 32000 logits are large), in both CuPy's and PyTorch's pools."""
        gc.collect()
        if self.xp is not np:
            self.xp.get_default_memory_pool().free_all_blocks()
        if self.torch is not None and self.torch_device != "cpu":
            self.torch.cuda.empty_cache()


def _make_env():
    import cupy

    try:
        import torch
    except Exception as e:
        return Env(cupy, None, "cuda", f"PyTorch does not import ({type(e).__name__}: {e})")
    if not torch.cuda.is_available():
        return Env(cupy, None, "cuda", "PyTorch has no CUDA here")
    torch.set_float32_matmul_precision("highest")  # no TF32: the same math as cuBLAS in CuPy
    return Env(cupy, torch, "cuda")


@pytest.fixture(scope="module")
def env():
    return _make_env()


@pytest.fixture(autouse=True)
def _free_device_memory(env):
    yield
    env.free()


# ---- checks: the implementations agree before anything is timed ------------------------------

_CHECKS = {}  # workload -> {impl id: "ok" | "FAILED: ..."}; {"*": "FAILED: ..."} if it crashed
FLOOR_ID = "cupy"  # the implementations' test ids: tensorgrad, cupy (the floor), torch, ...


def _first_line(e):
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0] if lines else ''}"[:300]


def _compare_each(builders, compare):
    """``compare(name, build)`` for every implementation, each on its own: one that fails
    does not hide the others. Returns name -> None (agrees) or the failure."""
    out = {}
    for name, build in builders.items():
        try:
            compare(name, build)
            out[name] = None
        except Exception as e:
            out[name] = _first_line(e)
    return out


def _builders(env, tensorgrad, **torch_builders):
    """The implementations a check compares with the floor: tensorgrad's, and PyTorch's
    (``torch_builders``, test id: builder) where PyTorch runs here."""
    builders = {"tensorgrad": tensorgrad}
    if env.torch is not None:
        builders.update(torch_builders)
    return builders


def _run_check(workload, check, env):
    """Run a workload's check, keep each implementation's outcome for the timed benchmarks'
    ``extra_info["check"]``, and fail naming every implementation that disagrees."""
    try:
        results = check(env)
    except Exception as e:  # the reference itself failed
        _CHECKS[workload] = {"*": f"FAILED: {_first_line(e)}"}
        raise
    status = {name: "ok" if msg is None else f"FAILED: {msg}" for name, msg in results.items()}
    status[FLOOR_ID] = "ok (the reference)"
    _CHECKS[workload] = status
    failed = [f"{name}: {msg}" for name, msg in results.items() if msg is not None]
    if failed:
        raise AssertionError(f"{workload}: {len(failed)} implementation(s) disagree with the "
                             "floor: " + "; ".join(failed))


def _check_status(workload, impl_id):
    status = _CHECKS.get(workload)
    if status is None:
        return "not run in this process"
    return status.get("*") or status.get(impl_id, "not checked (not available)")


def _assert_close(what, actual, expected, env, rtol, atol_frac=0.0, atol=0.0):
    """``|actual - expected| <= atol + atol_frac * max|expected| + rtol * |expected|`` for
    every element (NaN fails), and the same shape and dtype; computed on the device."""
    xp = env.xp
    a, e = env.as_xp(actual), env.as_xp(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape}, expected {e.shape}"
    assert a.dtype == e.dtype, f"{what}: dtype {a.dtype}, expected {e.dtype}"
    scale = float(xp.abs(e).max()) if e.size else 0.0
    err = xp.abs(a.astype(np.float64) - e.astype(np.float64))
    ok = err <= atol + atol_frac * scale + rtol * xp.abs(e.astype(np.float64))
    bad = int(e.size - int(ok.sum()))
    if bad:
        i = int(xp.flatnonzero(~ok.ravel())[0])
        raise AssertionError(
            f"{what}: {bad} of {e.size} values differ beyond rtol={rtol}, atol={atol} + "
            f"{atol_frac} * {scale:.3g}; max |diff| {float(xp.nanmax(err)):.3g}; first at flat "
            f"index {i}: {float(a.ravel()[i])!r} against {float(e.ravel()[i])!r}")


def _ulps(arrays, env, n=4):
    """An absolute tolerance of ``n`` float32 ulps at the largest magnitude in ``arrays``: the
    rounding of ``p_new - p_old`` when updates are compared."""
    top = max(float(env.xp.abs(a).max()) for a in arrays)
    return n * float(np.spacing(np.float32(top)))


# ---- timing ----------------------------------------------------------------------------------


def _time(benchmark, record, workload, impl_id, group, label, role, step, n_ops=1,
          targets=None):
    once = math.inf  # the fastest warm-up call sets the number of rounds
    for i in range(WARMUP_CALLS + 1):
        t0 = time.perf_counter()
        step()
        if i:  # the first call compiles kernels and grows the memory pools
            once = min(once, time.perf_counter() - t0)
    rounds = int(min(MAX_ROUNDS, max(MIN_ROUNDS, TIME_BUDGET_S // max(once, 1e-6))))
    benchmark.group = group
    info = benchmark.extra_info
    info.update(workload=workload, group=group, impl=label, role=role,
                check=_check_status(workload, impl_id))
    if targets:
        info["targets"] = dict(targets)
    benchmark.pedantic(step, rounds=rounds, iterations=1, warmup_rounds=0)
    record(group, label, n_ops)


def _workload_tests(workload, check, impls, targets=None, n_ops=1, step_of=lambda b: b[0]):
    """A workload's two tests, in this order: ``test_gpu_<workload>_check`` runs ``check``
    (the implementations agree), then ``test_gpu_<workload>[impl]`` times each implementation
    of ``impls`` (test id: (label in the summary, role, builder)) in the group
    "gpu <workload>". ``step_of`` takes the timed call from what a builder returns;
    ``targets`` go to tensorgrad's benchmark."""

    def test_check(env):
        _run_check(workload, check, env)

    @pytest.mark.parametrize("impl", list(impls))
    def test_bench(benchmark, record, env, impl):
        label, role, build = impls[impl]
        step = step_of(build(env))
        _time(benchmark, record, workload, impl, f"gpu {workload}", label, role, step,
              n_ops=n_ops, targets=targets if role == "tensorgrad" else None)

    test_check.__name__ = test_check.__qualname__ = f"test_gpu_{workload}_check"
    test_bench.__name__ = test_bench.__qualname__ = f"test_gpu_{workload}"
    return test_check, test_bench


# ---- (a) MLP training step -------------------------------------------------------------------


def _mlp_data(env):
    params = cupy_mlp.init_params(0, MLP_SIZES, xp=env.xp)
    x, y = cupy_mlp.make_batch(1, MLP_BATCH, MLP_SIZES, xp=env.xp)
    return params, x, y


def mlp_tensorgrad(env):
    data, x, y = _mlp_data(env)
    params = [tg.tensor(p, requires_grad=True) for p in data]
    tx, ty = tg.tensor(x), tg.tensor(y)
    opt = tg.optim.SGD(params, lr=LR)

    def step():
        opt.zero_grad()
        loss = tensorgrad_loss(params, tx, ty)
        loss.backward()
        opt.step()
        env.sync()
        return loss

    return step, params


def mlp_floor(env):
    params, x, y = _mlp_data(env)

    def step():
        loss = cupy_mlp.train_step(params, x, y, LR)
        env.sync()
        return loss

    return step, params


def mlp_torch(env):
    torch = env.need_torch()
    data, x, y = _mlp_data(env)
    params = [env.to_torch(p).requires_grad_() for p in data]
    tx, ty = env.to_torch(x), env.to_torch(y)
    opt = torch.optim.SGD(params, lr=LR)

    def step():
        opt.zero_grad()
        loss = torch_loss(torch, params, tx, ty)
        loss.backward()
        opt.step()
        env.torch_sync()
        return loss

    return step, params


def check_mlp(env):
    """One step from the same start: the loss, every gradient and every update (new minus old
    parameter) of tensorgrad and PyTorch against the hand-written step."""
    data, x, y = _mlp_data(env)
    before = [p.copy() for p in data]
    ref_loss, ref_grads = cupy_mlp.loss_and_grads(data, x, y)
    ref_grads = [g.copy() for g in ref_grads]  # sgd_update overwrites its gradients
    cupy_mlp.sgd_update(data, [g.copy() for g in ref_grads], LR)
    ref_updates = [p - q for p, q in zip(data, before)]
    atol = _ulps(before, env)
    builders = _builders(env, mlp_tensorgrad, torch=mlp_torch)

    def compare(name, build):
        step, params = build(env)
        loss = step()
        _assert_close(f"mlp, {name}: loss", loss, ref_loss, env, rtol=1e-4)
        for i, (p, g, u, q) in enumerate(zip(params, ref_grads, ref_updates, before)):
            _assert_close(f"mlp, {name}: gradient {i}", p.grad, g, env, rtol=5e-3,
                          atol_frac=1e-3)
            _assert_close(f"mlp, {name}: update of parameter {i}", env.as_xp(p) - q, u, env,
                          rtol=1e-2, atol_frac=1e-3, atol=atol)

    return _compare_each(builders, compare)


MLP_IMPLS = {  # test id: (label in the summary, role, builder)
    "tensorgrad": ("tensorgrad", "tensorgrad", mlp_tensorgrad),
    "cupy": ("cupy floor", "floor", mlp_floor),
    "torch": ("torch", "torch", mlp_torch),
}


test_gpu_mlp_check, test_gpu_mlp = _workload_tests("mlp", check_mlp, MLP_IMPLS, MLP_TARGETS)


# ---- (b) per-op overhead: the chain ----------------------------------------------------------


def _chain_x0(env):
    return env.xp.asarray(np.linspace(-1.0, 1.0, CHAIN_SIZE, dtype=np.float32))


def chain_tensorgrad(env, steps=None):
    steps = CHAIN_STEPS if steps is None else steps
    x0 = _chain_x0(env)

    def run():
        x = tg.tensor(x0, requires_grad=True)
        y = x
        for _ in range(steps):
            y = (y * 1.0001 + 0.1).tanh()
        y.sum().backward()
        env.sync()
        return x.grad

    return run


def chain_floor(env, steps=None):
    """The same CuPy calls without a tape: the forward keeps each tanh output, the backward
    multiplies by its derivative ``(1 - y*y) * 1.0001`` step by step."""
    steps = CHAIN_STEPS if steps is None else steps
    xp = env.xp
    x0 = _chain_x0(env)

    def run():
        y = x0.copy()
        ys = []
        for _ in range(steps):
            y = xp.tanh(y * 1.0001 + 0.1)
            ys.append(y)
        y.sum()  # the forward's last op, as in the others; its value is not needed
        g = xp.ones_like(y)
        for yi in reversed(ys):
            g = g * (1 - yi * yi) * 1.0001
        env.sync()
        return g

    return run


def chain_torch(env, steps=None):
    torch = env.need_torch()
    steps = CHAIN_STEPS if steps is None else steps
    x0 = env.to_torch(_chain_x0(env))

    def run():
        x = x0.clone().requires_grad_()
        y = x
        for _ in range(steps):
            y = torch.tanh(y * 1.0001 + 0.1)
        y.sum().backward()
        env.torch_sync()
        return x.grad

    return run


def check_chain(env):
    """The gradient of a shorter chain (of the 200-step chain it is subnormal, and a GPU may
    flush subnormals to zero) against the hand-written backward."""
    ref = chain_floor(env, CHAIN_CHECK_STEPS)()
    builders = _builders(env, chain_tensorgrad, torch=chain_torch)

    def compare(name, build):
        grad = build(env, CHAIN_CHECK_STEPS)()
        _assert_close(f"chain, {name}: gradient", grad, ref, env, rtol=1e-4, atol_frac=1e-5)

    return _compare_each(builders, compare)


CHAIN_IMPLS = {
    "tensorgrad": ("tensorgrad fwd+bwd", "tensorgrad", chain_tensorgrad),
    "cupy": ("cupy floor fwd+bwd", "floor", chain_floor),
    "torch": ("torch fwd+bwd", "torch", chain_torch),
}


# a chain builder returns the timed call itself
test_gpu_chain_check, test_gpu_chain = _workload_tests(
    "chain", check_chain, CHAIN_IMPLS, n_ops=_chain_n_ops(), step_of=lambda run: run)


# ---- (c) softmax cross-entropy forward + backward --------------------------------------------


def _xent_data(env):
    n, c = XENT_SHAPE
    return env.randn((n, c), seed=2, scale=3.0), env.randint(c, n, seed=3)


def xent_chain(xp, z, y):
    """The mean softmax cross-entropy of logits ``z`` (N, C) at classes ``y`` and its gradient,
    as a chain of array calls: max, subtract, gather, exp, sum, log; then softmax - onehot,
    scaled by 1/N. In place where a careful hand-written version is; ``z`` is kept."""
    n = z.shape[0]
    rows = xp.arange(n)
    s = z - z.max(axis=1, keepdims=True)
    picked = s[rows, y]
    e = xp.exp(s, out=s)
    se = e.sum(axis=1, keepdims=True)
    loss = (xp.log(se)[:, 0] - picked).mean()
    se *= n
    g = xp.divide(e, se, out=e)
    g[rows, y] -= np.float32(1.0 / n)
    return loss, g


def xent_tensorgrad(env):
    z, y = _xent_data(env)
    logits = tg.tensor(z, requires_grad=True)
    target = tg.tensor(y)
    del z

    def step():
        logits.grad = None
        loss = F.cross_entropy(logits, target)
        loss.backward()
        env.sync()
        return loss

    return step, logits


def xent_floor(env):
    xp = env.xp
    z, y = _xent_data(env)

    def step():
        out = xent_chain(xp, z, y)
        env.sync()
        return out

    return step, None


def xent_torch(env):
    torch = env.need_torch()
    z, y = _xent_data(env)
    logits, target = env.to_torch(z).requires_grad_(), env.to_torch(y)
    del z

    def step():
        logits.grad = None
        loss = torch.nn.functional.cross_entropy(logits, target)
        loss.backward()
        env.torch_sync()
        return loss

    return step, logits


def check_xent(env):
    z, y = _xent_data(env)
    ref_loss, ref_grad = xent_chain(env.xp, z, y)
    del z
    builders = _builders(env, xent_tensorgrad, torch=xent_torch)

    def compare(name, build):
        step, logits = build(env)
        loss = step()
        _assert_close(f"xent, {name}: loss", loss, ref_loss, env, rtol=1e-4)
        _assert_close(f"xent, {name}: gradient", logits.grad, ref_grad, env, rtol=1e-3,
                      atol_frac=1e-4)

    return _compare_each(builders, compare)


XENT_IMPLS = {
    "tensorgrad": ("tensorgrad F.ce", "tensorgrad", xent_tensorgrad),
    "cupy": ("cupy chain", "floor", xent_floor),
    "torch": ("torch F.ce", "torch", xent_torch),
}


test_gpu_xent_check, test_gpu_xent = _workload_tests("xent", check_xent, XENT_IMPLS,
                                                     FUSED_TARGETS)


# ---- (d) Adam over 100M parameters -----------------------------------------------------------


def _adam_data(env):
    params = [env.randn(ADAM_NUMEL, seed=10 + i) for i in range(ADAM_TENSORS)]
    grads = [env.randn(ADAM_NUMEL, seed=100 + i, scale=1e-2) for i in range(ADAM_TENSORS)]
    return params, grads


class ChainAdam:
    """Adam (PyTorch's formulas, no weight decay) as a chain of array calls per parameter,
    written with ``out=`` and one scratch buffer per parameter: 12 kernels per tensor."""

    def __init__(self, xp, params, grads):
        self.xp, self.params, self.grads = xp, params, grads
        self.lr, self.betas, self.eps = ADAM_LR, ADAM_BETAS, ADAM_EPS
        self.m = [xp.zeros_like(p) for p in params]
        self.v = [xp.zeros_like(p) for p in params]
        self.d = [xp.empty_like(p) for p in params]
        self.t = 0

    def step(self):
        xp, (b1, b2), eps = self.xp, self.betas, self.eps
        self.t += 1
        step_size = -self.lr / (1 - b1 ** self.t)
        root2 = math.sqrt(1 - b2 ** self.t)
        for p, g, m, v, d in zip(self.params, self.grads, self.m, self.v, self.d):
            m *= b1
            xp.multiply(g, 1 - b1, out=d)
            m += d
            v *= b2
            xp.multiply(g, g, out=d)
            d *= 1 - b2
            v += d
            xp.sqrt(v, out=d)
            d /= root2
            d += eps
            xp.divide(m, d, out=d)
            d *= step_size
            p += d


def adam_tensorgrad(env):
    data, grads = _adam_data(env)
    params = [tg.tensor(p, requires_grad=True) for p in data]
    for p, g in zip(params, grads):
        p.grad = tg.tensor(g)
    del data, grads
    opt = tg.optim.Adam(params, lr=ADAM_LR, betas=ADAM_BETAS, eps=ADAM_EPS)

    def step():
        opt.step()
        env.sync()

    return step, params, [p.grad for p in params]


def adam_floor(env):
    params, grads = _adam_data(env)
    opt = ChainAdam(env.xp, params, grads)

    def step():
        opt.step()
        env.sync()

    return step, params, grads


def _adam_torch(env, fused):
    torch = env.need_torch()
    data, grads = _adam_data(env)
    params = [env.to_torch(p).requires_grad_() for p in data]
    for p, g in zip(params, grads):
        p.grad = env.to_torch(g)
    del data, grads
    opt = torch.optim.Adam(params, lr=ADAM_LR, betas=ADAM_BETAS, eps=ADAM_EPS,
                           **({"fused": True} if fused else {}))

    def step():
        opt.step()
        env.torch_sync()

    return step, params, [p.grad for p in params]


def adam_torch(env):
    return _adam_torch(env, fused=False)


def adam_torch_fused(env):
    return _adam_torch(env, fused=True)


def _scale_in_place(grads, factor):
    for g in grads:
        if isinstance(g, tg.Tensor):
            g.data *= factor
        elif hasattr(g, "mul_"):  # a PyTorch tensor
            g.mul_(factor)
        else:
            g *= factor


def _adam_two_steps(env, build):
    """Two steps, the second with the gradients scaled by -0.5; the new parameters."""
    step, params, grads = build(env)
    step()
    _scale_in_place(grads, -0.5)
    step()
    env.sync()
    if env.torch is not None:
        env.torch_sync()
    return params


def check_adam(env):
    """Two steps from the same start (the second with other gradients): every update (new
    minus old parameter) against the CuPy chain's. One implementation at a time, to keep the
    memory low."""
    before, _ = _adam_data(env)
    ref_updates = [p - q for p, q in zip(_adam_two_steps(env, adam_floor), before)]
    env.free()
    atol = _ulps(before, env)
    builders = _builders(env, adam_tensorgrad, torch=adam_torch, torch_fused=adam_torch_fused)

    def compare(name, build):
        params = _adam_two_steps(env, build)
        for i, (p, q, u) in enumerate(zip(params, before, ref_updates)):
            _assert_close(f"adam, {name}: update of parameter {i}", env.as_xp(p) - q, u, env,
                          rtol=1e-3, atol_frac=1e-4, atol=atol)

    def compare_and_free(name, build):
        try:
            compare(name, build)
        finally:
            env.free()

    return _compare_each(builders, compare_and_free)


ADAM_IMPLS = {
    "tensorgrad": ("tensorgrad Adam", "tensorgrad", adam_tensorgrad),
    "cupy": ("cupy chain", "floor", adam_floor),
    "torch": ("torch Adam foreach", "torch", adam_torch),
    "torch_fused": ("torch Adam fused", "torch", adam_torch_fused),
}


test_gpu_adam_check, test_gpu_adam = _workload_tests("adam", check_adam, ADAM_IMPLS,
                                                     FUSED_TARGETS)
