"""benchmarks/gpu_report.py: the report of ``make gpu-check``, parsed from small crafted inputs
(pytest junit XML, pytest summary lines, pytest-benchmark JSON). Runs on the CPU."""

import importlib.util
import json
import pathlib

import pytest

_PATH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_report.py"
_spec = importlib.util.spec_from_file_location("gpu_report", _PATH)
gpu_report = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gpu_report)

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites name="pytest tests">
  <testsuite name="pytest" errors="1" failures="1" skipped="2" tests="6" time="73.25">
    <testcase classname="tests.test_tensor" name="test_add[cuda]" time="0.01" />
    <testcase classname="tests.test_tensor" name="test_mul[cuda]" time="0.01">
      <failure message="AssertionError: arrays differ&#10;second line">trace</failure>
    </testcase>
    <testcase classname="tests.test_kernels_gpu" name="test_softmax[float32]" time="0.2" />
    <testcase classname="tests.test_kernels_gpu.TestAdam" name="test_step[float64]" time="0.1">
      <error message="CUDARuntimeError: an illegal memory access">trace</error>
    </testcase>
    <testcase classname="tests.test_scipy" name="test_special_on_cupy" time="0">
      <skipped type="pytest.skip" message="needs cupyx.scipy">skip</skipped>
    </testcase>
    <testcase classname="tests.test_scipy" name="test_other" time="0">
      <skipped type="pytest.skip" message="needs cupyx.scipy">skip</skipped>
    </testcase>
  </testsuite>
</testsuites>
"""


def _bench(group, impl, median, role=None, n_ops=1, check="ok", targets=None, name=None):
    info = {"n_ops": n_ops}
    if role is not None:  # written by test_bench_gpu.py; CPU benchmarks have none
        info.update(group=group, impl=impl, role=role, check=check)
    if targets:
        info["targets"] = targets
    return {"group": group, "name": name or f"test_x[{impl}]", "fullname": "f::x",
            "params": None, "param": None, "extra_info": info, "options": {},
            "stats": {"min": median * 0.9, "max": median * 2, "mean": median, "median": median,
                      "rounds": 42, "iterations": 1}}


BENCH = {
    "machine_info": {}, "commit_info": {}, "datetime": "2026-11-30T00:00:00", "version": "5.1",
    "benchmarks": [
        _bench("gpu mlp", "tensorgrad", 1.10e-3, "tensorgrad",
               targets={"floor": 1.15, "torch": 1.0}),
        _bench("gpu mlp", "cupy floor", 1.00e-3, "floor"),
        _bench("gpu mlp", "torch", 1.20e-3, "torch"),
        _bench("gpu adam", "tensorgrad Adam", 4e-3, "tensorgrad", targets={"floor": 0.5},
               check="FAILED: AssertionError: adam, tensorgrad: update of parameter 0"),
        _bench("gpu adam", "cupy chain", 10e-3, "floor"),
        _bench("gpu adam", "torch Adam foreach", 6e-3, "torch"),
        _bench("gpu adam", "torch Adam fused", 2e-3, "torch"),
        _bench("gpu chain", "tensorgrad fwd+bwd", 6.01e-3, "tensorgrad", n_ops=601),
        _bench("gpu chain", "cupy floor fwd+bwd", 3.005e-3, "floor", n_ops=601),
    ],
}


@pytest.fixture
def junit(tmp_path):
    path = tmp_path / "tests.xml"
    path.write_text(JUNIT)
    return path


@pytest.fixture
def bench_json(tmp_path):
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(BENCH))
    return path


# ---- pytest results --------------------------------------------------------------------------


def test_summary_line_counts():
    line = "==== 2 failed, 1950 passed, 3 skipped, 1 error, 4 warnings in 73.21s (0:01:13) ===="
    assert gpu_report.parse_summary_line(line) == {
        "failed": 2, "passed": 1950, "skipped": 3, "errors": 1, "warnings": 4, "seconds": 73.21}
    assert gpu_report.parse_summary_line("1953 passed in 73.20s") == {
        "passed": 1953, "seconds": 73.2}
    assert gpu_report.parse_summary_line("27 skipped, 3303 deselected in 3.05s") == {
        "skipped": 27, "deselected": 3303, "seconds": 3.05}


def test_summary_line_is_the_last_one_in_a_log():
    log = "\n".join([
        "tests/test_a.py ....F",
        "E   assert 3 passed in the loop",  # not a summary line: no 'in N.NNs'
        "=== 1 failed, 4 passed in 1.50s ===",
        "rerun:",
        "=== 5 passed in 1.20s ===",
        "",
    ])
    assert gpu_report.parse_summary_line(log) == {"passed": 5, "seconds": 1.2}
    assert gpu_report.parse_summary_line("no summary here\nat all") == {}


def test_junit_counts_by_test_case(junit):
    r = gpu_report.parse_junit(junit)
    assert (r["passed"], r["failed"], r["errors"], r["skipped"], r["tests"]) == (2, 1, 1, 2, 6)
    assert r["seconds"] == pytest.approx(73.25)
    assert r["modules"]["tests.test_kernels_gpu"] == {
        "passed": 1, "failed": 0, "errors": 1, "skipped": 0}  # the class folds into its module
    assert r["modules"]["tests.test_tensor"]["failed"] == 1
    assert r["problems"] == [
        ("failed", "tests/test_tensor.py::test_mul[cuda]", "AssertionError: arrays differ"),
        ("errors", "tests/test_kernels_gpu.py::test_step[float64]",
         "CUDARuntimeError: an illegal memory access"),
    ]
    assert r["skips"] == {"needs cupyx.scipy": 2}


def test_junit_with_a_single_testsuite_root(tmp_path):
    path = tmp_path / "one.xml"
    path.write_text('<testsuite name="pytest" tests="2" time="1.5">'
                    '<testcase classname="benchmarks.test_bench_gpu" name="test_gpu_mlp_check"/>'
                    '<testcase classname="benchmarks.test_bench_gpu" name="test_gpu_mlp[torch]">'
                    '<skipped message="PyTorch has no CUDA here"/></testcase></testsuite>')
    r = gpu_report.parse_junit(path)
    assert (r["passed"], r["skipped"], r["tests"], r["seconds"]) == (1, 1, 2, 1.5)


def test_test_results_fall_back_to_the_summary_line_then_the_log(tmp_path, junit):
    counts, note = gpu_report._read_test_results(junit)
    assert counts["failed"] == 1 and str(junit) in note
    missing = tmp_path / "missing.xml"
    counts, note = gpu_report._read_test_results(missing, summary="7 passed in 2.00s")
    assert counts == {"passed": 7, "seconds": 2.0} and "missing" in note
    log = tmp_path / "tests.log"
    log.write_text("....\n4 passed, 1 skipped in 9.00s\n")
    counts, note = gpu_report._read_test_results(missing, log=log)
    assert counts == {"passed": 4, "skipped": 1, "seconds": 9.0}
    bad = tmp_path / "bad.xml"
    bad.write_text("<testsuites><testsuite")  # cut short: the run was killed while writing
    counts, note = gpu_report._read_test_results(bad)
    assert counts is None and "unreadable" in note


# ---- benchmarks ------------------------------------------------------------------------------


def test_benchmark_rows_and_ratios(bench_json):
    rows, notes = gpu_report.load_benchmarks([bench_json])
    assert notes == [] and len(rows) == 9
    groups = gpu_report.add_ratios(rows)
    assert list(groups) == ["gpu mlp", "gpu adam", "gpu chain"]  # order of appearance
    mlp = {r["impl"]: r for r in groups["gpu mlp"]}
    assert mlp["tensorgrad"]["vs_floor"] == pytest.approx(1.1)
    assert mlp["tensorgrad"]["vs_torch"] == pytest.approx(1.1 / 1.2)
    assert mlp["cupy floor"]["vs_floor"] == pytest.approx(1.0)
    adam = {r["impl"]: r for r in groups["gpu adam"]}
    assert adam["tensorgrad Adam"]["vs_floor"] == pytest.approx(0.4)
    assert adam["tensorgrad Adam"]["vs_torch"] == pytest.approx(2.0)  # the fastest PyTorch
    chain = {r["impl"]: r for r in groups["gpu chain"]}
    assert chain["tensorgrad fwd+bwd"]["n_ops"] == 601
    assert chain["tensorgrad fwd+bwd"]["vs_torch"] is None  # no PyTorch in that group


def test_targets_met_and_missed(bench_json):
    rows, _ = gpu_report.load_benchmarks([bench_json])
    found = gpu_report.target_results(gpu_report.add_ratios(rows))
    by = {(g, ref): (ratio, limit, met) for g, _, ref, ratio, limit, met in found}
    assert by["gpu mlp", "cupy floor"] == (pytest.approx(1.1), 1.15, True)
    assert by["gpu mlp", "torch"] == (pytest.approx(1.1 / 1.2), 1.0, True)
    assert by["gpu adam", "cupy chain"] == (pytest.approx(0.4), 0.5, True)


def test_a_missed_target_and_a_group_without_its_reference(tmp_path):
    path = tmp_path / "xent.json"
    path.write_text(json.dumps(dict(BENCH, benchmarks=[
        _bench("gpu xent", "tensorgrad F.ce", 3e-3, "tensorgrad",
               targets={"floor": 0.5, "torch": 1.0}),
        _bench("gpu xent", "cupy chain", 4e-3, "floor"),
    ])))
    rows, _ = gpu_report.load_benchmarks([path])
    found = gpu_report.target_results(gpu_report.add_ratios(rows))
    assert found == [("gpu xent", "tensorgrad F.ce", "cupy chain", pytest.approx(0.75), 0.5,
                      False),
                     ("gpu xent", "tensorgrad F.ce", "torch", None, 1.0, None)]
    text = "\n".join(gpu_report._bench_section(rows, []))
    assert "tensorgrad F.ce / cupy chain = 0.75 (target <= 0.50): **MISSED**" in text
    assert "no torch result" in text


def test_roles_without_extra_info_come_from_the_names(tmp_path):
    path = tmp_path / "cpu.json"
    path.write_text(json.dumps(dict(BENCH, benchmarks=[
        _bench("mlp", "x", 2e-3, name="test_mlp_tensorgrad"),
        _bench("mlp", "x", 1.8e-3, name="test_mlp_numpy"),
        _bench("mlp", "x", 2.5e-3, name="test_mlp_torch"),
        _bench("mlp", "x", 9e-3, name="test_mlp_autograd"),
    ])))
    rows, _ = gpu_report.load_benchmarks([path])
    assert [r["role"] for r in rows] == ["tensorgrad", "floor", "torch", "other"]
    assert [r["check"] for r in rows] == [None] * 4


def test_missing_and_broken_benchmark_files_become_notes(tmp_path, bench_json):
    broken = tmp_path / "broken.json"
    broken.write_text('{"benchmarks": [')
    rows, notes = gpu_report.load_benchmarks([tmp_path / "none.json", broken, bench_json])
    assert len(rows) == 9
    assert len(notes) == 2 and "missing" in notes[0] and "unreadable" in notes[1]


def test_benchmark_table(bench_json):
    rows, _ = gpu_report.load_benchmarks([bench_json])
    text = "\n".join(gpu_report._bench_section(rows, []))
    assert "| gpu mlp | tensorgrad | 1.100 ms | 990.00 us | 42 | 1.10 | 0.92 | ok |" in text
    assert "| gpu adam | torch Adam fused | 2.000 ms | 1.800 ms | 42 | 0.20 | 1.00 | ok |" in text
    assert "| gpu chain | tensorgrad fwd+bwd | 10.00 us/op (6.010 ms) |" in text
    assert "| gpu adam | tensorgrad Adam | 4.000 ms | 3.600 ms | 42 | 0.40 | 2.00 | **FAILED** |" \
        in text
    assert "- gpu adam, tensorgrad Adam: FAILED: AssertionError" in text
    assert "gpu mlp: tensorgrad / cupy floor = 1.10 (target <= 1.15): met" in text


# ---- the report ------------------------------------------------------------------------------


def test_small_helpers():
    assert gpu_report.fmt_time(2.5) == "2.50 s"
    assert gpu_report.fmt_time(1.69e-3) == "1.690 ms"
    assert gpu_report.fmt_time(7.5e-6) == "7.50 us"
    assert gpu_report.cuda_version_text(13020) == "13.2"
    assert gpu_report.cuda_version_text(12040) == "12.4"
    assert gpu_report.cuda_version_text("n/a") == "n/a"
    assert gpu_report.parse_steps(["cuda-tests=0", "bench-adam=124", "odd"]) == [
        ("cuda-tests", "0"), ("bench-adam", "124"), ("odd", "unknown")]
    assert gpu_report._rc_text("124") == "124 (timed out)"
    assert gpu_report._rc_text("not-run") == "not-run"


def test_main_writes_and_prints_the_report(tmp_path, junit, bench_json, capsys):
    bench_xml = tmp_path / "bench.xml"
    bench_xml.write_text('<testsuite><testcase classname="benchmarks.test_bench_gpu" '
                         'name="test_gpu_adam_check"><failure message="adam: 1 implementation(s)'
                         ' disagree"/></testcase></testsuite>')
    out = tmp_path / "sub" / "gpu-report.md"
    rc = gpu_report.main([str(out), "--tests-junit", str(junit), "--bench-json", str(bench_json),
                          str(tmp_path / "absent.json"), "--bench-junit", str(bench_xml),
                          str(tmp_path / "absent.xml"), "--step", "cuda-tests=1",
                          "--step", "bench-mlp=0", "--no-device-info"])
    assert rc == 0
    text = out.read_text()
    assert capsys.readouterr().out == text
    assert text.startswith("# tensorgrad GPU check (")
    assert "**Result: FAILED: cuda-tests.**" in text
    assert "| cuda-tests | 1 (tests failed) |" in text
    assert "2 passed, 1 failed, 1 errors, 2 skipped (6 tests, 73.2 s)" in text
    assert ("Kernels against their references (tests/test_kernels_gpu.py): 1 passed, 0 failed, "
            "1 errors, 0 skipped.") in text
    assert "- failed: `tests/test_tensor.py::test_mul[cuda]`: AssertionError: arrays differ" \
        in text
    assert "- 2 x needs cupyx.scipy" in text
    assert "0 passed, 1 failed, 0 errors, 0 skipped (1 tests)" in text  # the benchmark run
    assert "absent.xml is missing" in text and "absent.json is missing" in text
    assert "## Machine" not in text
    assert "| gpu mlp | cupy floor | 1.000 ms |" in text


def test_main_without_any_input_still_writes_a_report(tmp_path, capsys):
    out = tmp_path / "r.md"
    assert gpu_report.main([str(out), "--no-device-info", "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    text = out.read_text()
    assert "No result: no result given." in text and "No benchmark results." in text


def test_appended_sections_come_last_and_a_missing_one_is_named(tmp_path):
    profile = tmp_path / "profile.md"
    profile.write_text("## Where the MLP step's time goes\n\n| a | b |\n")
    out = tmp_path / "r.md"
    assert gpu_report.main([str(out), "--no-device-info", "--quiet", "--append", str(profile),
                            str(tmp_path / "gone.md")]) == 0
    text = out.read_text()
    assert text.index("No benchmark results.") < text.index("## Where the MLP step's time goes")
    assert text.rstrip().endswith("(no gone.md: No such file or directory)")


def test_device_info_never_raises():
    info = gpu_report.device_info()  # here: no GPU (or the test suite's CuPy stand-in)
    assert info[0][0] == "Python"
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in info)


def test_gpu_check_runs_its_core_files_first():
    """``make gpu-check`` names the files whose cuda tests run first (TENSORGRAD_TESTS_FIRST,
    ordered by tests/conftest.py): they exist, and the files named there are collected first,
    in that order, the others after them in pytest's order."""
    import os
    import re
    import subprocess
    import sys

    root = _PATH.parents[1]
    text = (root / "Makefile").read_text()
    names = re.search(r"^GPU_FIRST = (.*?)\n\n", text, re.S | re.M).group(1)
    first = names.replace("\\", " ").split()
    assert first and all((root / "tests" / name).is_file() for name in first)
    env = dict(os.environ, TENSORGRAD_TESTS_FIRST="test_io.py test_amp.py")
    cmd = [sys.executable, "-m", "pytest", "tests/test_amp.py", "tests/test_device.py",
           "tests/test_io.py", "--co", "-q", "-o", "addopts=", "-p", "no:cacheprovider"]
    out = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True,
                         check=True).stdout
    files = [line.split("::")[0] for line in out.splitlines() if "::" in line]
    order = [f for i, f in enumerate(files) if i == 0 or files[i - 1] != f]
    assert order == ["tests/test_io.py", "tests/test_amp.py", "tests/test_device.py"]
