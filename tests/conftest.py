"""Shared fixtures: a ``device`` to run on (cpu, and cuda where CuPy sees a GPU, or on the strict
CuPy stand-in of ``tests/cupy_standin``) and seeded RNGs.

The stand-in replaces ``cupy``/``cupyx`` before tensorgrad is imported, unless real CuPy sees a
GPU. ``TENSORGRAD_CUPY_STANDIN=0`` switches it off, ``=1`` forces it even where a GPU is. On
the stand-in every fused-kernel launch runs the kernel's CUDA C on the CPU as well as its NumPy
reference, and fails where they disagree (``TENSORGRAD_STANDIN_KERNELS``, below).
"""

import os
import sys


def _use_cupy_standin():
    flag = os.environ.get("TENSORGRAD_CUPY_STANDIN", "").strip()
    if flag == "0":
        return False
    if flag == "1":
        return True
    try:
        import cupy

        return not cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # no CuPy, no driver, no GPU: test the cuda paths on the stand-in
        return True


CUPY_STANDIN = _use_cupy_standin()
if CUPY_STANDIN:
    if "tensorgrad" in sys.modules:
        raise RuntimeError("tests/conftest.py: tensorgrad was imported before the CuPy stand-in "
                           "could be installed")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    # every kernel launch runs both the NumPy reference and the kernel's own CUDA C (compiled
    # for the CPU) and checks that they agree (tests/cupy_standin/_emulate.py); examples run in
    # subprocesses inherit the setting. TENSORGRAD_STANDIN_KERNELS=reference runs only the
    # references (faster, but the C code is then not run).
    import cupy_standin
    from cupy_standin import _emulate

    # without a C++ compiler only the references run (the header says so, and
    # tests/test_kernels_emulated.py fails)
    os.environ.setdefault("TENSORGRAD_STANDIN_KERNELS",
                          "compare" if _emulate.compiler() else "reference")
    cupy_standin._kernels.MODE = os.environ["TENSORGRAD_STANDIN_KERNELS"]

    cupy_standin.install()

import zlib  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import tensorgrad as tg  # noqa: E402
from tensorgrad.backend import device as dev  # noqa: E402


def _device_params():
    params = [pytest.param("cpu", id="cpu")]
    try:
        has_cuda = tg.cuda.is_available()
    except Exception:  # a broken CuPy install must not take the cpu tests down with it
        has_cuda = False
    if has_cuda:
        params.append(pytest.param("cuda", id="cuda", marks=pytest.mark.cuda))
    return params


def pytest_configure(config):
    config.addinivalue_line("markers", "cuda: needs CuPy and a CUDA GPU (or the CuPy stand-in)")
    config.addinivalue_line("markers", "real_gpu: needs real CuPy and a GPU; skipped on the "
                                       "CuPy stand-in")


def pytest_report_header(config):
    if CUPY_STANDIN:
        return "cuda: strict CuPy stand-in on the CPU (tests/cupy_standin; "\
               "TENSORGRAD_CUPY_STANDIN=0 to switch it off); fused kernels run in " \
               f"{os.environ['TENSORGRAD_STANDIN_KERNELS']!r} mode (TENSORGRAD_STANDIN_KERNELS)"
    return None


# The kernel-against-reference tests need real CuPy: on the stand-in a launch runs the very
# reference it would be compared with.
# The launch budget counts arrays through the stand-in, and the kernels' C code runs on the CPU
# through the stand-in's emulator, so those run only there.
# The host-synchronisation recorder is the stand-in's too.
collect_ignore = ["test_kernels_gpu.py"] if CUPY_STANDIN else ["test_launch_budget.py",
                                                               "test_kernels_emulated.py",
                                                               "test_host_sync.py"]


def pytest_collection_modifyitems(config, items):
    # TENSORGRAD_TESTS_FIRST="test_a.py test_b.py": those files' tests run first, in that order
    # (``make gpu-check`` puts the core of the GPU path first, in case its time limit cuts the
    # run); the rest keep pytest's order
    first = os.environ.get("TENSORGRAD_TESTS_FIRST", "").split()
    if first:
        rank = {name: i for i, name in enumerate(first)}
        items.sort(key=lambda item: rank.get(item.path.name, len(first)))
    if not CUPY_STANDIN:
        return
    skip = pytest.mark.skip(reason="needs real CuPy and a GPU, not the CuPy stand-in")
    for item in items:
        if "real_gpu" in item.keywords:
            item.add_marker(skip)


def _seed_of(request):
    # stable across runs and processes (unlike hash()), different for every test
    return zlib.crc32(request.node.nodeid.encode())


@pytest.fixture(params=[p for p in _device_params() if p.values[0] != "cpu"] or [
    pytest.param(None, marks=pytest.mark.skip(reason="no cuda device: no GPU and the CuPy "
                                                    "stand-in is switched off"))])
def cuda_device(request):
    """"cuda", for tests of what only a second kind of device has (mixing, indices)."""
    return request.param


@pytest.fixture
def default_cuda(cuda_device):
    """``tg.set_default_device("cuda")`` for the test, "cpu" again after it."""
    tg.set_default_device(cuda_device)
    try:
        yield cuda_device
    finally:
        tg.set_default_device("cpu")


@pytest.fixture
def no_cupy(monkeypatch):
    """tensorgrad as it is on a machine without CuPy, whatever this one has."""
    monkeypatch.setattr(dev, "cupy", None)
    monkeypatch.setattr(dev, "_CUDA", {})
    yield
    dev._CUDA.clear()


@pytest.fixture
def launches(monkeypatch):
    """The kernel names launched during the test (through tensorgrad.backend.cuda)."""
    from tensorgrad.backend import cuda as kcuda

    seen = []
    real = kcuda._launch

    def spy(file, base, dtype, device_id, grid, block, args):
        seen.append(base)
        return real(file, base, dtype, device_id, grid, block, args)

    monkeypatch.setattr(kcuda, "_launch", spy)
    return seen


@pytest.fixture
def mpi_group():
    """A process group of world size 1 in this process (the mpi backend), destroyed after the
    test; the test is skipped where mpi4py (the ``distributed`` extra) is missing."""
    import tensorgrad.distributed as dist

    if not dist.is_available():  # as on the lent GPU machine
        pytest.skip("the mpi backend needs mpi4py (the `distributed` extra)")
    dist.init_process_group("mpi", timeout=30)
    try:
        yield
    finally:
        dist.destroy_process_group()


@pytest.fixture(params=_device_params())
def device(request):
    """The device name a test runs on: "cpu", and "cuda" (marked ``cuda``) when available."""
    return request.param


@pytest.fixture(autouse=True)
def _seed_rngs(request):
    seed = _seed_of(request)
    np.random.seed(seed)
    tg.manual_seed(seed)
    torch = sys.modules.get("torch")  # the oracle, where a test has imported it: its draws too
    if torch is not None:
        torch.manual_seed(seed)
    dists = sys.modules.get("torch.distributions")
    if dists is not None:
        # torch.compile's first call (dynamo's TorchPatcher.patch) turns PyTorch's default
        # argument validation off for the rest of the process; the oracle of the validation
        # tests needs its default (__debug__) whatever ran before
        dists.Distribution.set_default_validate_args(__debug__)


@pytest.fixture
def rng(request):
    """A NumPy Generator seeded from the test's id: reruns see the same numbers."""
    return np.random.default_rng(_seed_of(request))


@pytest.fixture
def loop_only(monkeypatch):
    """``loop_only()`` makes vmap, jacrev and jacfwd take their per-slice loops (the path
    every fallback of the batched transforms takes) for the rest of the test."""
    from tensorgrad import func
    from tensorgrad.autograd import batching

    def refuse(*a, **k):
        raise batching.BatchingFallback("test: the loop")

    def use_loop():
        monkeypatch.setattr(func, "_batched_rows", lambda *a: None)
        monkeypatch.setattr(func, "_jvp_columns", lambda *a: None)
        monkeypatch.setattr(func, "_vmap_batched", refuse)

    return use_loop
