"""benchmarks/gpu_profile.py (run by `make gpu-check`) on the CuPy stand-in with a small MLP:
every implementation's phases run and train, and the report's table has a row for each. The
times themselves mean nothing here; the GPU column needs a real GPU (a spinning kernel)."""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks"))
import gpu_profile  # noqa: E402


@pytest.fixture
def small(monkeypatch):
    monkeypatch.setattr(gpu_profile, "SIZES", (784, 16, 16, 10))
    monkeypatch.setattr(gpu_profile, "BATCH", 8)


def test_every_implementation_runs_its_phases_and_trains(cuda_device, small):
    import cupy

    rows = []
    for impl in (gpu_profile.tensorgrad_impl(cupy), gpu_profile.floor_impl(cupy)):
        impl.hold = None  # the busy kernel needs a GPU
        r = gpu_profile.measure(impl, steps=3, warmup=1)
        assert set(r["host"]) == {name for name, _ in impl.phases}
        assert all(v >= 0 for v in r["host"].values()) and r["wall"] >= r["host total"] > 0
        assert r["gpu"] is None
        rows.append((impl.name, r))
    assert [name for name, _ in rows] == ["tensorgrad", "hand-written CuPy"]
    text = gpu_profile.render(rows, ["a note"])
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(table) == 3 and "| tensorgrad |" in table[1] and "- a note" in text
    assert "forward + backward" in table[2]


def test_the_two_cupy_steps_compute_the_same_update(cuda_device, small):
    # both start from cupy_mlp.init_params(0) and the same batch: after two SGD steps every
    # parameter agrees, so the profile times the same work
    import cupy

    impls = gpu_profile.tensorgrad_impl(cupy), gpu_profile.floor_impl(cupy)
    before = [cupy.asnumpy(w) for w in impls[0].weights()]
    for impl in impls:
        impl.step()
        impl.step()
    for a, b, w0 in zip(impls[0].weights(), impls[1].weights(), before):
        assert not np.array_equal(cupy.asnumpy(a), w0)
        np.testing.assert_allclose(cupy.asnumpy(a), cupy.asnumpy(b), rtol=1e-5, atol=1e-6)
