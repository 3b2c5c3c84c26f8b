"""The machinery shared by the benchmark set (``run.py``) and its workload files.

A workload file (``test_bench_<name>.py``) defines ``WORKLOAD = Workload(...)`` whose
``build(check=True)`` returns ``{implementation name: zero-argument step}``, after checking
that every implementation gives the floor's loss and gradients. ``interleaved`` times those
steps in alternation: each round runs every implementation once, in an order that rotates from
round to round, so that a load that drifts on a shared machine drifts for all of them alike.
"""

import gc
import importlib
import os
import platform
import time
from dataclasses import dataclass, field

import numpy as np

FLOOR = "numpy"  # the hand-written NumPy backprop
TORCH = "torch"
# the order of the columns in the report and of the bars in the chart
ORDER = ("numpy", "tensorgrad", "torch", "autograd", "jax.jit", "jax eager")


@dataclass
class Workload:
    key: str  # "W1"
    title: str  # one line for the report
    build: object  # build(check=True, only=None) -> {impl: step}; only: names to build
    unit: str = "step"  # what one call of a step is ("100 steps", "op", ...)
    n_ops: int = 1  # a call's time is divided by this (the chain reports per op)
    rounds: int = 15
    notes: list = field(default_factory=list)  # printed under the workload's table


def tune_malloc():
    """glibc: keep freed memory (no heap trimming, mmap only above 32 MiB), for every
    implementation alike, as tensorgrad does for its process at import (tensorgrad/backend/
    malloc.py; see README.md, "malloc"). Returns the note for the report: what was set, or why
    nothing was (TENSORGRAD_MALLOC=default, not glibc)."""
    from tensorgrad.backend import malloc

    return malloc.tune()


def optional(name):
    """The module ``name``, or None when it is not installed (a peer that is missing is left
    out of the comparison, not an error)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def available_impls():
    """The implementations whose libraries are installed, in report order."""
    have = {"numpy": True, "tensorgrad": True, "torch": optional("torch") is not None,
            "autograd": optional("autograd") is not None}
    have["jax.jit"] = have["jax eager"] = optional("jax") is not None
    return [name for name in ORDER if have[name]]


def jax_or_none():
    """JAX with 64-bit floats enabled (W1 and W6 are float64), or None when not installed.
    The other workloads ask for float32 explicitly."""
    jax = optional("jax")
    if jax is not None:
        jax.config.update("jax_enable_x64", True)
    return jax


def jax_variants(jax, fn):
    """``{"jax.jit": jit(fn), "jax eager": fn}``; results are blocked on, so that the time
    includes the work (JAX dispatches asynchronously)."""

    def blocking(f):
        def run(*args):
            return jax.block_until_ready(f(*args))
        return run

    return {"jax.jit": blocking(jax.jit(fn)), "jax eager": blocking(fn)}


def jax_sgd_steps(jax, loss_fn, np_params, x, y, lr):
    """``{"jax.jit": (step, grads), "jax eager": (step, grads)}`` for plain SGD on
    ``loss_fn(params, x, y)``: each step updates the parameters (a list of arrays) and blocks
    on them, so that the time includes the update; ``grads()`` is the gradient at the start."""
    import jax.numpy as jnp

    vg = jax.value_and_grad(loss_fn)

    def update(params, x, y):
        loss, grads = vg(params, x, y)
        return jax.tree.map(lambda p, g: p - lr * g, params, grads), loss

    start = [jnp.asarray(p) for p in np_params]
    x, y = jnp.asarray(x), jnp.asarray(y)
    out = {}
    for name, fn in (("jax.jit", jax.jit(update)), ("jax eager", update)):
        state = {"params": start}

        def step(fn=fn, state=state):
            state["params"], loss = fn(state["params"], x, y)
            jax.block_until_ready(state["params"])  # the update, not just the loss, is done
            return loss

        out[name] = (step, lambda: vg(start, x, y)[1])
    return out


def assert_close(name, got, want, rtol, atol=0.0):
    """``got`` (any array-like: Tensor, torch, JAX) against ``want`` (NumPy)."""
    got = to_numpy(got)
    want = np.asarray(want)
    assert got.shape == want.shape, f"{name}: shape {got.shape} != {want.shape}"
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=name)


def check_training(label, impls, loss0, grads0, loss1, rtol=1e-5, grad_rtol=1e-4):
    """A training workload's check: ``impls`` maps names to ``(step, first_grads)``; each
    step's first two losses must be ``loss0`` and ``loss1`` (the floor's, before and after
    one update), and ``first_grads()`` (None: not available) the floor's first gradients
    ``grads0``, in the floor's layout and dtype, to within ``grad_rtol`` of the largest entry
    (float32 sums in a different order)."""
    for name, (step, first_grads) in impls.items():
        where = f"{label} {name}"
        assert_close(f"{where}: loss", to_numpy(step()).item(), loss0, rtol=rtol)
        if first_grads is not None:
            for i, (g, r) in enumerate(zip(first_grads(), grads0, strict=True)):
                g = to_numpy(g)
                assert g.dtype == r.dtype, f"{where}: gradient {i} is {g.dtype}, not {r.dtype}"
                assert_close(f"{where}: gradient {i}", g, r, rtol=grad_rtol,
                             atol=grad_rtol * float(np.abs(r).max()))
        # (absolute error too: one step can fit a tiny batch, leaving a loss near 0)
        assert_close(f"{where}: loss after one step", to_numpy(step()).item(), loss1, rtol=rtol,
                     atol=rtol * max(1.0, abs(float(loss0))))


def to_numpy(a):
    if hasattr(a, "detach"):  # torch
        a = a.detach()
    if hasattr(a, "numpy"):  # tensorgrad, torch
        return np.asarray(a.numpy())
    return np.asarray(a)


def calibrate(step, min_time):
    """Calls per timed sample so that a sample lasts at least ``min_time`` seconds."""
    t0 = time.perf_counter()
    step()
    dt = time.perf_counter() - t0
    return max(1, int(np.ceil(min_time / max(dt, 1e-9))))


def interleaved(steps, rounds, min_time=0.02, warmup=2, clock=time.perf_counter):
    """Seconds per call of each step, one sample per round: ``{name: array (rounds,)}``.

    Every step first runs ``warmup`` times (caches, JIT compilation), then each round times
    all steps once, the first one rotating from round to round. A sample repeats the call
    enough times to last ``min_time``, and the garbage collector runs between samples, not
    inside them.
    """
    names = list(steps)
    for name in names:
        for _ in range(warmup):
            steps[name]()
    reps = {name: calibrate(steps[name], min_time) for name in names}
    out = {name: np.empty(rounds) for name in names}
    for r in range(rounds):
        for k in range(len(names)):
            name = names[(r + k) % len(names)]
            step, n = steps[name], reps[name]
            gc.collect()
            t0 = clock()
            for _ in range(n):
                step()
            out[name][r] = (clock() - t0) / n
    return out


def summarize(samples, n_ops=1):
    """Median, quartiles and per-round ratios of each implementation's samples.

    The ratio to the floor (and to PyTorch) is the median over rounds of the ratio within a
    round: both were timed in the same round, so the ratio does not drift with the load.
    """
    stats = {}
    for name, t in samples.items():
        t = np.asarray(t, dtype=float) / n_ops
        q1, med, q3 = np.percentile(t, [25, 50, 75])
        stats[name] = {"median": float(med), "q1": float(q1), "q3": float(q3),
                       "rounds": len(t)}
    for ref, key in ((FLOOR, "vs_floor"), (TORCH, "vs_torch")):
        if ref not in samples:
            continue
        base = np.asarray(samples[ref], dtype=float)
        for name, t in samples.items():
            stats[name][key] = float(np.median(np.asarray(t, dtype=float) / base))
    return stats


def machine_info():
    """The machine, the BLAS and the thread counts, for the report's header."""
    info = {"python": platform.python_version(), "numpy": np.__version__,
            "platform": platform.platform(terse=True), "cpu": platform.processor() or "unknown",
            "cores": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        from threadpoolctl import threadpool_info

        blas = [lib for lib in threadpool_info() if lib.get("user_api") == "blas"]
        if blas:
            lib = blas[0]
            info["blas"] = (f"{lib.get('internal_api')} {lib.get('version')} "
                            f"({lib.get('architecture')})")
            info["blas_threads"] = lib.get("num_threads")
    except ImportError:
        pass
    from importlib import metadata

    for name in ("tensorgrad", "torch", "autograd", "jax"):
        try:
            info[f"{name}_version"] = metadata.version(name)
        except metadata.PackageNotFoundError:
            info[f"{name}_version"] = None
    torch = optional("torch")
    if torch is not None:
        info["torch_threads"] = torch.get_num_threads()
    return info
