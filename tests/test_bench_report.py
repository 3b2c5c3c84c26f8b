"""The benchmark report (benchmarks/report.py and the statistics of benchmarks/harness.py) on
synthetic timings: what ``make bench`` writes, checked without timing anything."""

import importlib.util
import os
import sys

import numpy as np
import pytest

_BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")


def _load(name):
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", os.path.join(_BENCH,
                                                                                  f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


harness = _load("harness")
report = _load("report")


def _samples(rng, base, rounds=9):
    """Per-round seconds of each implementation: ``base`` times a common drift per round."""
    drift = 1 + 0.5 * rng.random(rounds)  # the machine's load, shared by all in a round
    return {name: t * drift for name, t in base.items()}


def _results():
    rng = np.random.default_rng(0)
    w1 = _samples(rng, {"numpy": 1e-3, "tensorgrad": 6e-3, "torch": 12e-3, "autograd": 14e-3})
    w2 = _samples(rng, {"numpy": 601 * 0.5e-6, "tensorgrad": 601 * 2.2e-6,
                        "torch": 601 * 6e-6})
    point = (lambda b: {"numpy": 1e-4 + b * 1e-5, "tensorgrad": 6e-4 + b * 1e-5,
                        "torch": 3e-4 + b * 1.5e-5})
    return {
        "date": "2026-01-01 00:00", "quick": False, "threads": 1, "seconds": 123.0,
        "removed_env": {"OPENBLAS_CORETYPE": "Haswell"}, "malloc": "glibc defaults",
        "machine": {"cpu": "Test CPU 9000", "cores": 2, "blas": "openblas 0.3 (SkylakeX)",
                    "blas_threads": 1, "python": "3.11", "numpy": "2.0",
                    "tensorgrad_version": "0.1", "torch_version": "2.13", "jax_version": None,
                    "autograd_version": "1.9", "torch_threads": 1},
        "workloads": [
            {"key": "W1", "title": "logistic regression", "unit": "100 steps", "n_ops": 1,
             "notes": [], "stats": harness.summarize(w1)},
            {"key": "W2", "title": "op chain", "unit": "op", "n_ops": 601,
             "notes": ["a note under W2"], "stats": harness.summarize(w2, 601)},
        ],
        "memory": [{"workload": "W3", "impl": "tensorgrad", "base": 300 * 2**20,
                    "peak": 305 * 2**20, "step_peak": 5 * 2**20, "method": "VmHWM"}],
        "scaling": {
            "sizes": [784, 512, 256, 10], "depth_width": 256, "batch_for_depth": 128,
            "batch": [{"x": b, "stats": harness.summarize({k: [v] * 3 for k, v in
                                                          point(b).items()})}
                      for b in (1, 16, 256, 4096)],
            "depth": [{"x": d, "stats": harness.summarize({k: [v] * 3 for k, v in
                                                          point(10 * d).items()})}
                      for d in (2, 8, 64)],
        },
    }


def test_summarize_takes_ratios_within_rounds():
    """A load that drifts between rounds moves the medians, not the per-round ratios."""
    s = _results()["workloads"][0]["stats"]
    assert s["tensorgrad"]["vs_floor"] == pytest.approx(6.0)
    assert s["tensorgrad"]["vs_torch"] == pytest.approx(0.5)
    assert s["numpy"]["vs_floor"] == pytest.approx(1.0)
    assert s["numpy"]["q1"] <= s["numpy"]["median"] <= s["numpy"]["q3"]
    assert s["numpy"]["q3"] > s["numpy"]["q1"]  # the drift shows in the spread
    per_op = _results()["workloads"][1]["stats"]["tensorgrad"]["median"]
    assert 2.2e-6 <= per_op <= 2.2e-6 * 1.5  # divided by the op count


def test_interleaved_rotates_and_times_every_round():
    calls = []
    ticks = iter(range(10_000))
    steps = {name: (lambda name=name: calls.append(name)) for name in ("a", "b", "c")}
    out = harness.interleaved(steps, rounds=3, min_time=0.0, warmup=1,
                              clock=lambda: next(ticks))
    assert {k: len(v) for k, v in out.items()} == {"a": 3, "b": 3, "c": 3}
    timed = calls[-9:]  # after warm-up and calibration
    assert [timed[0], timed[3], timed[6]] == ["a", "b", "c"]  # each round starts elsewhere
    assert all(v == 1.0 for t in out.values() for v in t)  # one clock tick per call


def test_markdown_has_machine_tables_memory_and_scaling():
    text = report.markdown(_results())
    assert "Test CPU 9000, 2 cores" in text
    assert "openblas 0.3 (SkylakeX), 1 threads" in text
    assert "jax not installed" in text
    assert "OPENBLAS_CORETYPE=Haswell" in text
    assert "| W1 | 1.00x | 6.00x | 12.00x | 14.00x |" in text  # the summary row
    assert "| W2 | 1.00x | 4.40x | 12.00x | — |" in text  # autograd missing: a dash
    w1_tg = next(line for line in text.splitlines() if line.startswith("| tensorgrad |"))
    assert "| 6.00x | 0.50x | 9 |" in w1_tg  # / floor, / torch, rounds
    assert "a note under W2" in text
    assert "| W3 | tensorgrad | 300 MiB | 5.0 MiB |" in text
    assert "![time relative to the floor, log scale](results.png)" in text
    assert "(scaling.png)" in text
    # the tape costs 0.5 ms more at batch 1; within 10% of the floor only at 4096
    assert "takes 500 us more" in text
    assert "From batch 4096 on it stays within 10% of the floor." in text
    assert "at least as fast as PyTorch from batch 256 on" in text


def test_crossover_needs_the_ratio_to_stay_below():
    pts = [{"x": x, "stats": {"a": {"median": a}, "b": {"median": 1.0}}}
           for x, a in ((1, 2.0), (2, 1.0), (3, 1.5), (4, 1.05), (5, 0.9))]
    assert report.crossover(pts, "a", "b", 1.1) == 4
    assert report.crossover(pts, "a", "b", 0.5) is None


def test_fmt_time_units():
    assert report.fmt_time(2.5) == "2.5 s"
    assert report.fmt_time(0.0123) == "12.3 ms"
    assert report.fmt_time(2.2e-6) == "2.2 us"
    assert report.fmt_time(3.2e-7) == "320 ns"
    assert report.fmt_time(float("nan")) == "—"


def test_write_all_writes_the_page_and_two_charts(tmp_path):
    pytest.importorskip("matplotlib")  # in the examples extra, which `make test` installs
    written = report.write_all(_results(), str(tmp_path))
    assert sorted(os.path.basename(p) for p in written) == ["RESULTS.md", "results.png",
                                                             "scaling.png"]
    for name in ("results.png", "scaling.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert (tmp_path / "RESULTS.md").read_text().startswith("# tensorgrad benchmark results")
    assert "matplotlib.pyplot" in sys.modules
