"""Benchmark-suite setup: a clean OpenBLAS environment and a summary table of the results.

OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE make the OpenBLAS bundled with current NumPy pick a
slower kernel on this machine. OpenBLAS reads them once, when NumPy is first imported, so they
are removed here, at the top of the conftest, before anything in benchmarks/ imports NumPy.
The unit tests (tests/) keep them. If some plugin imported NumPy before this file runs, the
removal comes too late for this process: then the pytest command is re-executed with the
variables unset (see ``pytest_configure``), or, where that is not possible, a warning says so.
"""

import os
import sys

_BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_POPPED = {name: os.environ.pop(name) for name in _BLAS_VARS if name in os.environ}
_TOO_LATE = bool(_POPPED) and "numpy" in sys.modules
_REEXEC_MARK = "TENSORGRAD_BENCH_REEXEC"

import pytest  # noqa: E402  (after the pop on purpose, though pytest does not import NumPy)

# ---- malloc: keep freed memory instead of giving it back to the OS -------------------------
# glibc returns the top of its heap to the OS once more than M_TRIM_THRESHOLD is free, and
# serves large blocks by mmap; either way the next step faults the pages in again (~750 page
# faults, 1-2 ms per MLP step on this VM). Whether a run does so depends on the heap's history,
# so the same NumPy step measured 2 ms or 4 ms. The benchmarks therefore set both thresholds
# high, for every implementation alike; TENSORGRAD_BENCH_MALLOC=default keeps glibc's defaults.
# The summary prints page faults per call either way.
_MALLOC_NOTE = "glibc defaults"


def _tune_malloc():
    global _MALLOC_NOTE
    if os.environ.get("TENSORGRAD_BENCH_MALLOC", "") == "default" or sys.platform != "linux":
        return
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    if mallopt(m_trim_threshold, 1 << 30) and mallopt(m_mmap_threshold, 32 << 20):
        _MALLOC_NOTE = "no heap trimming, mmap above 32 MiB (TENSORGRAD_BENCH_MALLOC=default: off)"


_tune_malloc()

# ---- the OpenBLAS check ------------------------------------------------------------------


def _reexec_possible():
    """Only a pytest command line can be run again; pytest.main() inside a program cannot."""
    if os.environ.get(_REEXEC_MARK) or os.environ.get("PYTEST_XDIST_WORKER"):
        return False
    main = os.path.basename(sys.argv[0])
    return main in ("pytest", "py.test") or sys.argv[0].endswith(
        os.path.join("pytest", "__main__.py"))


def pytest_configure(config):
    if not _TOO_LATE:
        return
    if _reexec_possible():
        # pytest captures fds 1 and 2 already; give the originals back to the new process
        capman = config.pluginmanager.getplugin("capturemanager")
        if capman is not None:
            capman.suspend_global_capture(in_=True)
        sys.stdout.flush()
        sys.stderr.flush()
        os.environ[_REEXEC_MARK] = "1"
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
    late = " (TOO LATE: NumPy was imported first)" if _TOO_LATE else ""
    return (f"OpenBLAS core: {core}; removed from the environment: {env}{late}\n"
            f"malloc: {_MALLOC_NOTE}")


def pytest_report_header(config):
    return _blas_line()


# ---- results and the summary table --------------------------------------------------------

_RESULTS = {}  # (group, implementation) -> {"median": s, "min": s, "n_ops": n}


@pytest.fixture
def record(benchmark):
    """``record(group, impl, n_ops)`` after ``benchmark(...)``: stores µs per op in the
    benchmark's ``extra_info`` and keeps the numbers for the session's summary table."""

    def rec(group, impl, n_ops=1, fn=None, args=()):
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


def _ratio(group, a, b):
    ra, rb = _RESULTS.get((group, a)), _RESULTS.get((group, b))
    if ra is None or rb is None:
        return None
    return ra["median"] / rb["median"], ra["min"] / rb["min"]


def pytest_terminal_summary(terminalreporter):
    if not _RESULTS:
        return
    tr = terminalreporter
    tr.section("tensorgrad benchmark summary (medians; min in brackets)")
    for line in _blas_line().splitlines():
        tr.write_line(line)
    groups = sorted({g for g, _ in _RESULTS})
    for group in groups:
        tr.write_line("")
        for (g, impl), r in _RESULTS.items():
            if g != group:
                continue
            med, lo = r["median"] * 1e6, r["min"] * 1e6
            n = r["n_ops"]
            faults = "" if r["faults"] is None else f"  {r['faults']:7.1f} page faults/call"
            if n == 1:
                tr.write_line(f"  {group:<6} {impl:<22} {med / 1e3:8.3f} ms/call [{lo / 1e3:8.3f}]"
                              f"{faults}")
            else:
                tr.write_line(f"  {group:<6} {impl:<22} {med / n:8.3f} us/op   [{lo / n:8.3f}]"
                              f"{faults}  ({n} ops, {med:.0f} us/call)")
    for group, a, b, note in (
        ("chain", "tensorgrad fwd+bwd", "torch fwd+bwd", ""),
        ("chain", "tensorgrad fwd+bwd", "numpy fwd", "  (numpy runs forward only)"),
        ("mlp", "tensorgrad step", "numpy step", "  (target <= 1.10)"),
        ("mlp", "tensorgrad step", "torch step", ""),
    ):
        r = _ratio(group, a, b)
        if r is not None:
            tr.write_line(f"  ratio {group}: {a} / {b} = {r[0]:.3f}  [{r[1]:.3f}]{note}")
