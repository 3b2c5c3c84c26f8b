"""``make bench``: time the benchmark set and write RESULTS.md, results.png and scaling.png.

    python benchmarks/run.py [--quick] [--only W1,W3] [--threads N] [--no-memory]
                             [--no-scaling] [--out DIR]

For each workload (W1-W6, one ``test_bench_*.py`` file each) every implementation is first
checked against the floor (equal losses and gradients), then timed in interleaved rounds
(``harness.interleaved``). Peak memory of W3 and W4 is measured in a fresh process per
implementation (``--memory W3 torch`` is that child). The scaling figures time W3's step
against batch size and depth. Everything lands in ``results.json``, from which ``report.py``
writes the page and the charts. ``--quick`` checks the machinery in about a minute (few rounds,
a few scaling points); its numbers mean little.

Every library gets the same thread count (``--threads``, default 1: on a small shared machine
one thread per library is what can be measured reproducibly): BLAS (OpenBLAS, MKL), OpenMP,
PyTorch's intra-op pool and XLA's CPU pool.
"""

import argparse
import json
import os
import subprocess
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
_BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")  # see README: they pick a slow kernel
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
WORKLOAD_FILES = ("test_bench_logreg", "test_bench_chain", "test_bench_mlp",
                  "test_bench_wide_mlp", "test_bench_cnn", "test_bench_hessian")
MEMORY_WORKLOADS = ("W3", "W4")
SCALING_IMPLS = ("numpy", "tensorgrad", "torch")
BATCHES = (1, 4, 16, 64, 256, 1024, 4096)
DEPTHS = (2, 4, 8, 16, 32, 64)
DEPTH_WIDTH = 256
# glibc: serve every block above 64 KiB by mmap and give freed memory back at once, so that
# the resident set follows the live arrays (for the peak-memory children only)
_MEMORY_MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="few rounds: check the machinery")
    p.add_argument("--only", default="", help="comma-separated workload keys, e.g. W1,W3")
    p.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_THREADS", 1)))
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--no-scaling", action="store_true")
    p.add_argument("--out", default=_HERE, help="where RESULTS.md and the charts go")
    p.add_argument("--memory", nargs=2, metavar=("WORKLOAD", "IMPL"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def set_environment(threads):
    """Before NumPy is imported: drop the OpenBLAS overrides, pin every thread pool."""
    removed = {k: os.environ.pop(k) for k in _BLAS_VARS if k in os.environ}
    for k in _THREAD_VARS:
        os.environ[k] = str(threads)
    if threads == 1:
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false "
                                   "intra_op_parallelism_threads=1").strip()
    sys.path.insert(0, _HERE)
    return removed


def import_torch_threads(threads):
    from harness import optional

    torch = optional("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def workloads(only=()):
    import importlib

    out = []
    for name in WORKLOAD_FILES:
        w = importlib.import_module(name).WORKLOAD
        if not only or w.key in only:
            out.append(w)
    return out


def time_workload(w, quick):
    import gc

    from harness import interleaved, summarize

    steps = w.build(check=True)  # a wrong fast answer is no result
    rounds = 3 if quick else w.rounds
    samples = interleaved(steps, rounds, min_time=0.005 if quick else 0.02,
                          warmup=1 if quick else 2)
    del steps
    gc.collect()
    return {"key": w.key, "title": w.title, "unit": w.unit, "n_ops": w.n_ops,
            "notes": list(w.notes), "stats": summarize(samples, w.n_ops),
            "samples": {k: list(map(float, v)) for k, v in samples.items()}}


# ---- peak memory, one child process per (workload, implementation) --------------------------


def _proc_status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024  # kB
    raise KeyError(field)


def memory_child(key, impl):
    """Print one JSON line: the resident memory before the first step (model, data, imported
    libraries) and the peak while stepping (after one warm-up step, whose one-time costs such
    as JIT compilation are not counted)."""
    import gc
    import resource

    w = next(w for w in workloads((key,)))
    step = w.build(check=False, only=(impl,))[impl]
    gc.collect()
    out = {"workload": key, "impl": impl}
    try:
        base = _proc_status("VmRSS")
        step()
        gc.collect()
        with open("/proc/self/clear_refs", "w") as f:  # resets VmHWM to the current RSS
            f.write("5")
        for _ in range(3):
            step()
        peak = _proc_status("VmHWM")
        out.update(base=base, peak=peak, step_peak=peak - base, method="VmHWM")
    except (OSError, KeyError):  # not Linux: the whole process's peak, warm-up included
        for _ in range(4):
            step()
        scale = 1 if sys.platform == "darwin" else 1024
        out.update(base=None, peak=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale,
                   step_peak=None, method="ru_maxrss")
    print(json.dumps(out))


def measure_memory(keys, threads):
    from harness import available_impls

    rows = []
    env = dict(os.environ, **_MEMORY_MALLOC_ENV)
    for key in keys:
        for impl in available_impls():
            cmd = [sys.executable, os.path.abspath(__file__), "--memory", key, impl,
                   "--threads", str(threads)]
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
            if proc.returncode != 0 or not lines:
                raise RuntimeError(f"memory child {key} {impl} failed:\n{proc.stderr[-2000:]}")
            rows.append(json.loads(lines[-1]))
    return rows


# ---- scaling of W3 ----------------------------------------------------------------------------


def measure_scaling(quick):
    import numpy_mlp
    from harness import interleaved, summarize
    from test_bench_mlp import build_mlp

    batches = (1, 64, 4096) if quick else BATCHES
    depths = (2, 8, 64) if quick else DEPTHS
    rounds = 3 if quick else 7
    out = {"batch": [], "depth": [], "depth_width": DEPTH_WIDTH,
           "sizes": list(numpy_mlp.SIZES), "batch_for_depth": numpy_mlp.BATCH}
    for batch in batches:
        steps = build_mlp(numpy_mlp.SIZES, batch, check=True, only=SCALING_IMPLS)
        stats = summarize(interleaved(steps, rounds, min_time=0.01, warmup=1))
        out["batch"].append({"x": batch, "stats": stats})
    for depth in depths:
        sizes = (numpy_mlp.SIZES[0],) + (DEPTH_WIDTH,) * (depth - 1) + (numpy_mlp.SIZES[-1],)
        # past 8 layers PyTorch's step parts from the floor's (its first gradients by 1.4e-2 of
        # the largest entry at 16 layers, 6.3e-2 at 64, its loss after one step by 8e-5):
        # its BLAS sums in another order, and over 16 layers that flips the sign of some
        # near-zero pre-activations, so a few ReLUs differ. tensorgrad, on the floor's BLAS,
        # stays within 8e-7 and 2.2e-6. PyTorch is timed there without the check
        steps = build_mlp(sizes, numpy_mlp.BATCH, check=True, only=SCALING_IMPLS,
                          unchecked=() if depth <= 8 else ("torch",))
        stats = summarize(interleaved(steps, rounds, min_time=0.01, warmup=1))
        out["depth"].append({"x": depth, "stats": stats})
    return out


def main(argv=None):
    args = parse_args(argv)
    removed = set_environment(args.threads)
    import_torch_threads(args.threads)
    if args.memory:
        memory_child(*args.memory)
        return 0
    import report
    from harness import machine_info, tune_malloc

    only = tuple(k.strip() for k in args.only.split(",") if k.strip())
    t0 = time.time()
    results = {"date": time.strftime("%Y-%m-%d %H:%M"), "quick": args.quick,
               "threads": args.threads, "removed_env": removed, "machine": machine_info(),
               "malloc": tune_malloc() or "glibc defaults",
               "workloads": [], "memory": [], "scaling": None}
    for w in workloads(only):
        print(f"== {w.key}: {w.title}", flush=True)
        res = time_workload(w, args.quick)
        for name, s in res["stats"].items():
            print(f"   {name:<12} {report.fmt_time(s['median'])} per {w.unit}"
                  f"   x{s.get('vs_floor', float('nan')):.2f} floor", flush=True)
        results["workloads"].append(res)
    if not args.no_memory:
        keys = [k for k in MEMORY_WORKLOADS if not only or k in only]
        print(f"== peak memory of {', '.join(keys)}, one process each", flush=True)
        results["memory"] = measure_memory(keys, args.threads)
    if not args.no_scaling:
        print("== scaling of W3 with batch size and depth", flush=True)
        results["scaling"] = measure_scaling(args.quick)
    results["seconds"] = round(time.time() - t0, 1)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    written = report.write_all(results, args.out)
    print(f"== wrote {', '.join(written)} in {results['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
