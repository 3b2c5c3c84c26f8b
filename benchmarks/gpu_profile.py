"""Where the GPU MLP step's time goes: host time per phase against GPU time.

Run by ``make gpu-check`` after the benchmarks (``python3 benchmarks/gpu_profile.py OUT.md``);
its markdown section goes into ``gpu-report.md``. For the benchmark's MLP step (784-2048-2048-10,
batch 512, SGD; the same data as ``test_bench_gpu.py``) of tensorgrad, the hand-written CuPy
step and PyTorch, medians over ``steps`` steps after a warm-up:

- **wall**: ms per step, synchronising after each (what the benchmark times);
- **host**: ms of Python time to issue each phase (forward, backward, optimizer), the GPU queue
  empty at the start of the step, so issuing never waits for the GPU;
- **GPU**: ms per step of GPU work alone: the steps are queued behind a kernel that keeps the
  GPU busy until the host has issued them all, then timed between CUDA events, so that no host
  gap is counted.

A step whose host total is above its GPU time is bound by host time per call (CuPy's dispatch
plus the tape): launches and Python work are then what to cut. The numbers are one run's, on a
shared machine.
"""

import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]

import cupy_mlp  # noqa: E402
import numpy_mlp  # noqa: E402
from test_bench_mlp import tensorgrad_loss, torch_loss  # noqa: E402

SIZES = (784, 2048, 2048, 10)
BATCH = 512
LR = numpy_mlp.LR
QUEUED = 16  # steps queued behind the busy kernel (about 30 launches each: within the queue)

# one thread spinning for ``cycles`` clock cycles: holds the stream while the host queues work
_SPIN = r'''
extern "C" __global__ void tg_profile_spin(long long cycles) {
    const long long start = clock64();
    while (clock64() - start < cycles) {
    }
}
'''


def _median_ms(values):
    return 1e3 * statistics.median(values)


class Impl:
    """One implementation's step, split into phases (name, callable), with its framework's
    synchronisation, busy kernel and events; ``weights()`` gives its parameters as arrays."""

    def __init__(self, name, phases, weights, sync, hold, events):
        self.name, self.phases, self.weights = name, phases, weights
        self.sync, self.hold, self.events = sync, hold, events

    def step(self):
        for _, fn in self.phases:
            fn()


HOLD_CYCLES = 500_000_000  # about 0.25 s at 2 GHz: far longer than queueing QUEUED steps takes


def _cupy_parts(cp):
    spin = []

    def hold():
        if not spin:
            spin.append(cp.RawKernel(_SPIN, "tg_profile_spin"))
        spin[0]((1,), (1,), (cp.int64(HOLD_CYCLES),))

    def events():
        return cp.cuda.Event(), cp.cuda.Event(), cp.cuda.get_elapsed_time

    return cp.cuda.Device().synchronize, hold, events


def tensorgrad_impl(cp):
    import tensorgrad as tg

    data = cupy_mlp.init_params(0, SIZES, xp=cp)
    x, y = cupy_mlp.make_batch(1, BATCH, SIZES, xp=cp)
    params = [tg.tensor(p, requires_grad=True) for p in data]
    tx, ty = tg.tensor(x), tg.tensor(y)
    opt = tg.optim.SGD(params, lr=LR)
    loss = [None]

    def forward():
        opt.zero_grad()
        loss[0] = tensorgrad_loss(params, tx, ty)

    return Impl("tensorgrad", [("forward", forward), ("backward", lambda: loss[0].backward()),
                               ("optimizer", opt.step)], lambda: [p.data for p in params],
                *_cupy_parts(cp))


def floor_impl(cp):
    params = cupy_mlp.init_params(0, SIZES, xp=cp)
    x, y = cupy_mlp.make_batch(1, BATCH, SIZES, xp=cp)
    grads = [None]

    def forward_backward():
        grads[0] = cupy_mlp.loss_and_grads(params, x, y)[1]

    return Impl("hand-written CuPy", [("forward + backward", forward_backward),
                                      ("optimizer", lambda: cupy_mlp.sgd_update(params, grads[0],
                                                                                 LR))],
                lambda: params, *_cupy_parts(cp))


def torch_impl(cp, torch):
    data = cupy_mlp.init_params(0, SIZES, xp=cp)
    x, y = cupy_mlp.make_batch(1, BATCH, SIZES, xp=cp)
    params = [torch.from_dlpack(p).clone().requires_grad_() for p in data]
    tx, ty = torch.from_dlpack(x).clone(), torch.from_dlpack(y).clone()
    opt = torch.optim.SGD(params, lr=LR)
    loss = [None]

    def forward():
        opt.zero_grad()
        loss[0] = torch_loss(torch, params, tx, ty)

    def hold():
        torch.cuda._sleep(HOLD_CYCLES)  # PyTorch's own spinning kernel

    def events():
        return (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True),
                lambda a, b: a.elapsed_time(b))

    return Impl("PyTorch", [("forward", forward), ("backward", lambda: loss[0].backward()),
                            ("optimizer", opt.step)],
                lambda: [cp.from_dlpack(p.detach()) for p in params], torch.cuda.synchronize,
                hold, events)


def measure(impl, steps=30, warmup=5):
    """{"wall": ms, "host": {phase: ms}, "host total": ms, "gpu": ms or None} for ``impl``."""
    for _ in range(warmup):
        impl.step()
    impl.sync()
    wall, host = [], {name: [] for name, _ in impl.phases}
    totals = []
    for _ in range(steps):
        impl.sync()
        t0 = time.perf_counter()
        t = t0
        for name, fn in impl.phases:
            fn()
            now = time.perf_counter()
            host[name].append(now - t)
            t = now
        totals.append(t - t0)
        impl.sync()
        wall.append(time.perf_counter() - t0)
    gpu, why = None, None
    if impl.hold is not None:
        try:
            start, end, elapsed = impl.events()
            impl.sync()
            impl.hold()
            start.record()
            for _ in range(QUEUED):
                impl.step()
            end.record()
            end.synchronize()
            gpu = elapsed(start, end) / QUEUED
        except Exception as e:  # keep the host figures; say why the GPU column is empty
            why = f"{type(e).__name__}: {e}"
    return {"wall": _median_ms(wall), "host": {k: _median_ms(v) for k, v in host.items()},
            "host total": _median_ms(totals), "gpu": gpu, "gpu error": why}


def render(results, notes=()):
    """The markdown section for ``[(name, measure() result)]``."""
    lines = ["## Where the MLP step's time goes (benchmarks/gpu_profile.py)", "",
             "ms per step, medians: wall with a synchronisation after each step; host time to "
             "issue each phase (GPU queue empty at the start); GPU time of the work alone "
             "(steps queued behind a busy kernel, timed by CUDA events).", "",
             "| implementation | wall | host: phases | host total | GPU | bound by |",
             "|---|---:|---|---:|---:|---|"]
    for name, r in results:
        phases = ", ".join(f"{k} {v:.3f}" for k, v in r["host"].items())
        gpu = "-" if r["gpu"] is None else f"{r['gpu']:.3f}"
        bound = "-" if r["gpu"] is None else ("host" if r["host total"] > r["gpu"] else "GPU")
        lines.append(f"| {name} | {r['wall']:.3f} | {phases} | {r['host total']:.3f} | {gpu} "
                     f"| {bound} |")
    notes = list(notes) + [f"{name}: no GPU time ({r['gpu error']})" for name, r in results
                           if r.get("gpu error")]
    lines += [""] + [f"- {n}" for n in notes]
    return "\n".join(lines).rstrip() + "\n"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    out = argv[0] if argv else None
    import cupy as cp

    impls, notes = [tensorgrad_impl(cp), floor_impl(cp)], []
    try:
        import torch

        if torch.cuda.is_available():
            torch.set_float32_matmul_precision("highest")
            impls.append(torch_impl(cp, torch))
        else:
            notes.append("PyTorch has no CUDA here: no PyTorch row")
    except ImportError as e:
        notes.append(f"PyTorch does not import ({e}): no PyTorch row")
    results = []
    for impl in impls:
        try:
            results.append((impl.name, measure(impl)))
        except Exception as e:  # one failing implementation must not hide the others
            notes.append(f"{impl.name}: {type(e).__name__}: {e}")
    text = render(results, notes)
    if out:
        with open(out, "w", encoding="utf-8") as f:
            f.write(text)
    sys.stdout.write(text)
    return 0 if len(results) == len(impls) else 1


if __name__ == "__main__":
    sys.exit(main())
