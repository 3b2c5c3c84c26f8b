"""Benchmark-suite setup: a clean OpenBLAS environment and a summary table of the results.

OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE make the OpenBLAS bundled with current NumPy pick a
slower kernel on this machine. OpenBLAS reads them once, when NumPy is first imported, so they
are removed here, at the top of the conftest, before anything in benchmarks/ imports NumPy.
The unit tests keep them: when the pytest command also collects paths outside benchmarks/,
nothing is removed (and a warning says that the numbers are then not representative). If some
plugin imported NumPy before this file runs, the removal comes too late for this process: then
the pytest command is re-executed with the variables unset (see ``pytest_configure``), or,
where that is not possible, a warning says so.
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_REEXEC_MARK = "TENSORGRAD_BENCH_REEXEC"


def _is_pytest_command():
    """True under ``pytest ...`` or ``python -m pytest ...``; False under pytest.main()."""
    main = os.path.basename(sys.argv[0])
    return main in ("pytest", "py.test") or sys.argv[0].endswith(
        os.path.join("pytest", "__main__.py"))


def _benchmarks_only():
    """Does this pytest command collect from benchmarks/ alone? Told from the command line,
    because the environment must be settled before any conftest or test imports NumPy."""
    if not _is_pytest_command():
        return True  # pytest.main() from a program: its arguments are not known here
    paths = [os.path.abspath(a.split("::")[0]) for a in sys.argv[1:]
             if not a.startswith("-") and os.path.exists(a.split("::")[0])]
    return all(p == _HERE or p.startswith(_HERE + os.sep) for p in paths or [os.getcwd()])


_ALONE = _benchmarks_only()
_POPPED = {name: os.environ.pop(name) for name in _BLAS_VARS if _ALONE and name in os.environ}
_TOO_LATE = bool(_POPPED) and "numpy" in sys.modules

import pytest  # noqa: E402  (after the pop on purpose, though pytest does not import NumPy)

# ---- malloc: keep freed memory instead of giving it back to the OS -------------------------
# glibc returns the top of its heap to the OS once more than M_TRIM_THRESHOLD is free, and
# serves large blocks by mmap; either way the next step faults the pages in again (~750 page
# faults, 1-2 ms per MLP step on this VM). Whether a run does so depends on the heap's history,
# so the same NumPy step measured 2 ms or 4 ms. tensorgrad sets both thresholds high when it is
# imported (tensorgrad/backend/malloc.py), so the whole benchmark process, every implementation
# alike, runs with them; TENSORGRAD_MALLOC=default keeps glibc's defaults.
# The summary prints page faults per call either way.
_MALLOC_NOTE = "glibc defaults"


def _tune_malloc():
    global _MALLOC_NOTE
    if _ALONE:
        from harness import tune_malloc  # imports NumPy: after the pop above, on purpose

        _MALLOC_NOTE = tune_malloc() or _MALLOC_NOTE


_tune_malloc()

# ---- the OpenBLAS check ------------------------------------------------------------------


def pytest_configure(config):
    if not _ALONE and any(name in os.environ for name in _BLAS_VARS):
        config.issue_config_time_warning(pytest.PytestConfigWarning(
            "benchmarks/ runs together with other tests, so OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE "
            "stay set and OpenBLAS may run a slow kernel; run `pytest benchmarks` alone for "
            "representative numbers"), stacklevel=2)
    if not _TOO_LATE:
        return
    # Only a pytest command line can be run again; pytest.main() inside a program cannot.
    reexec = _is_pytest_command() and not os.environ.get(_REEXEC_MARK)
    if reexec and not os.environ.get("PYTEST_XDIST_WORKER"):
        # pytest captures fds 1 and 2 already; give the originals back to the new process
        capman = config.pluginmanager.getplugin("capturemanager")
        if capman is not None:
            capman.suspend_global_capture(in_=True)
        sys.stdout.flush()
        sys.stderr.flush()
        os.environ[_REEXEC_MARK] = ", ".join(f"{k}={v}" for k, v in _POPPED.items())
        os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
    config.issue_config_time_warning(pytest.PytestConfigWarning(
        f"NumPy was imported before benchmarks/conftest.py could unset {sorted(_POPPED)}; "
        "OpenBLAS may run a slow kernel. Run: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "
        "python -m pytest benchmarks"), stacklevel=2)


def openblas_info():
    """(core name, threads) of the OpenBLAS that NumPy uses, or None if it cannot be told.

    threadpoolctl is used when installed; otherwise the name is asked directly from the
    OpenBLAS library that NumPy's wheel bundles (as threadpoolctl does).
    """
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        for lib in threadpool_info():
            if lib.get("internal_api") == "openblas":
                return lib.get("architecture"), lib.get("num_threads")
        return None
    import ctypes
    import glob

    import numpy

    libs_dir = os.path.dirname(numpy.__file__) + ".libs"  # site-packages/numpy.libs
    for path in glob.glob(os.path.join(libs_dir, "*openblas*")):
        lib = ctypes.CDLL(path)  # already loaded by NumPy: this returns the same library
        for suffix in ("64_", ""):
            for prefix in ("scipy_openblas_", "openblas_"):
                name_fn = getattr(lib, f"{prefix}get_corename{suffix}", None)
                threads_fn = getattr(lib, f"{prefix}get_num_threads{suffix}", None)
                if name_fn is not None and threads_fn is not None:
                    name_fn.restype = ctypes.c_char_p
                    threads_fn.restype = ctypes.c_int
                    return name_fn().decode(), threads_fn()
    return None


def _blas_line():
    info = openblas_info()
    core = "unknown" if info is None else f"{info[0]}, {info[1]} threads"
    env = ", ".join(f"{k}={v}" for k, v in _POPPED.items()) or "none were set"
    if not _ALONE:
        env = "nothing (benchmarks/ runs together with other tests)"
    if os.environ.get(_REEXEC_MARK):
        env = f"{os.environ[_REEXEC_MARK]} (pytest was re-executed without them)"
    late = " (TOO LATE: NumPy was imported first)" if _TOO_LATE else ""
    return (f"OpenBLAS core: {core}; removed from the environment: {env}{late}\n"
            f"malloc: {_MALLOC_NOTE}")


def pytest_report_header(config):
    return _blas_line()


# ---- results and the summary table --------------------------------------------------------

_RESULTS = {}  # (group, implementation) -> {"median": s, "min": s, "n_ops": n, "faults": f}
_NOTES = {  # printed after the ratio tensorgrad / <implementation> of a group
    ("chain", "numpy fwd"): "  (numpy runs forward only)",
    ("mlp", "numpy step"): "  (target <= 1.10)",
    # the GPU benchmarks (test_bench_gpu.py); only on a machine with CuPy and a GPU
    ("gpu mlp", "cupy floor"): "  (target <= 1.15)",
    ("gpu mlp", "torch"): "  (target <= 1.00)",
    ("gpu xent", "cupy chain"): "  (target <= 0.50: fused kernels)",
    ("gpu adam", "cupy chain"): "  (target <= 0.50: fused kernels)",
}


def _store(benchmark, group, impl, n_ops=1, fn=None, args=()):
    if benchmark.stats is None:  # --benchmark-disable: the function ran once, untimed
        return
    stats = benchmark.stats.stats
    info = benchmark.extra_info
    info["n_ops"] = n_ops
    info["us_per_op_median"] = round(stats.median * 1e6 / n_ops, 3)
    info["us_per_op_min"] = round(stats.min * 1e6 / n_ops, 3)
    faults = None if fn is None else _page_faults_per_call(fn, args)
    if faults is not None:
        info["page_faults_per_call"] = faults
    _RESULTS[group, impl] = {"median": stats.median, "min": stats.min, "n_ops": n_ops,
                             "faults": faults}


@pytest.fixture
def record(benchmark):
    """``record(group, impl, n_ops=1, fn=None, args=())`` after ``benchmark(...)``: stores µs
    per op in the benchmark's ``extra_info`` and keeps the numbers for the summary table;
    with ``fn(*args)`` (the benchmarked call) it also counts page faults per call."""

    def rec(group, impl, n_ops=1, fn=None, args=()):
        _store(benchmark, group, impl, n_ops, fn, args)

    return rec


@pytest.fixture
def record_ratio():
    """``record_ratio(group, impl, benchmark)``: ``record`` for a test that passes its own
    ``benchmark``; the summary prints tensorgrad / impl for every other impl of the group."""

    def rec(group, impl, benchmark, n_ops=1):
        _store(benchmark, group, impl, n_ops)

    return rec


def _page_faults_per_call(fn, args, calls=20):
    """Minor page faults per call: memory that malloc handed back to the OS and takes again.
    On a VM each costs microseconds, so they can decide a benchmark of large arrays."""
    try:
        import resource
    except ImportError:  # not on Unix
        return None
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(calls):
        fn(*args)
    return round((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / calls, 1)


_PAIRED = {}  # (group, a, b) -> (median of per-pair ratios a / b, ratio of the minima)


@pytest.fixture
def paired(benchmark):
    """``paired(group, name_a, call_a, name_b, call_b)``: time the two zero-argument calls in
    alternation, so that both see the same load, and keep the ratio a / b for the summary.

    On a small shared machine the load drifts between two benchmarks run one after the other;
    a ratio taken pair by pair does not drift with it.
    """

    def run(group, name_a, call_a, name_b, call_b, pairs=100):
        if benchmark.stats is None:  # --benchmark-disable
            return None
        import time

        import numpy as np

        for _ in range(5):
            call_a()
            call_b()
        ta, tb = np.empty(pairs), np.empty(pairs)
        for i in range(pairs):
            first, second = (call_a, call_b) if i % 2 == 0 else (call_b, call_a)
            t0 = time.perf_counter()
            first()
            t1 = time.perf_counter()
            second()
            t2 = time.perf_counter()
            ta[i], tb[i] = (t1 - t0, t2 - t1) if i % 2 == 0 else (t2 - t1, t1 - t0)
        ratio = float(np.median(ta / tb)), float(ta.min() / tb.min())
        benchmark.extra_info[f"paired_ratio_vs_{name_b}"] = round(ratio[0], 4)
        _PAIRED[group, name_a, name_b] = ratio
        return ratio

    return run


def _row(group, impl, r):
    med, lo, n = r["median"] * 1e6, r["min"] * 1e6, r["n_ops"]
    faults = "" if r["faults"] is None else f"  {r['faults']:6.1f} page faults/call"
    if n == 1:
        return f"  {group:<10} {impl:<20} {med / 1e3:8.3f} ms/call [{lo / 1e3:8.3f}]{faults}"
    return (f"  {group:<10} {impl:<20} {med / n:8.3f} us/op   [{lo / n:8.3f}]{faults}"
            f"  ({n} ops, {med:.0f} us/call)")


def pytest_terminal_summary(terminalreporter):
    if not _RESULTS:
        return
    tr = terminalreporter
    tr.section("tensorgrad benchmark summary (medians; minima in brackets)")
    for line in _blas_line().splitlines():
        tr.write_line(line)
    for group in sorted({g for g, _ in _RESULTS}):
        impls = [i for g, i in _RESULTS if g == group]
        tr.write_line("")
        for impl in impls:
            tr.write_line(_row(group, impl, _RESULTS[group, impl]))
        ours = [i for i in impls if i.startswith("tensorgrad")]
        for a in ours:
            for b in impls:
                if b in ours:
                    continue
                ra, rb = _RESULTS[group, a], _RESULTS[group, b]
                note = _NOTES.get((group, b), "")
                tr.write_line(f"  ratio {a} / {b} = {ra['median'] / rb['median']:.3f}  "
                              f"[{ra['min'] / rb['min']:.3f}]{note}")
                r = _PAIRED.get((group, a, b))
                if r is not None:
                    tr.write_line(f"        paired, timed in alternation: {r[0]:.3f}  "
                                  f"[{r[1]:.3f}]")
