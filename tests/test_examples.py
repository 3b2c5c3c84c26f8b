"""The examples run as printed."""

import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import CUPY_STANDIN

import tensorgrad as tg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(ROOT, "tests")

# Runs an example in a fresh process with the CuPy stand-in in place of CuPy, as this test
# session has it (the example itself is unchanged).
_WITH_STANDIN = (
    "import runpy, sys; sys.path.insert(0, sys.argv.pop(1)); import cupy_standin; "
    "cupy_standin.install(); sys.argv.pop(0); runpy.run_path(sys.argv[0], run_name='__main__')"
)


def run_example(name, *args, standin=False):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    path = os.path.join(ROOT, "examples", name)
    cmd = [sys.executable, "-c", _WITH_STANDIN, TESTS, path] if standin else [
        sys.executable, path]
    res = subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_mlp_demo_trains_on_every_device(device):
    out = run_example("mlp_demo.py", "--device", device, "--steps", "60",
                      standin=CUPY_STANDIN and device != "cpu")
    losses = [float(v) for v in re.findall(r"loss (\d+\.\d+)", out)]
    assert len(losses) == 2 and losses[1] < 0.5 * losses[0], out
    acc = re.search(r"train accuracy (\d+\.\d)%", out)
    assert acc and float(acc.group(1)) > 80.0, out


def test_logistic_regression_prints_autograds_numbers():
    out = run_example("logistic_regression.py")
    assert "Initial loss: 2.772588722239781" in out
    assert "Trained loss: 0.38900754315581143" in out


def test_tanh_derivatives_saves_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "tanh.png"
    run_example("tanh_derivatives.py", str(path))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000


def test_readme_example_runs():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    blocks = text.split("```python")[1:]
    assert blocks, "README has no python example"
    for block in blocks:
        code = textwrap.dedent(block.split("```")[0])  # a block inside a list item is indented
        exec(compile(code, "README.md", "exec"), {})


def _last_accuracy(out):
    last = out.strip().splitlines()[-1]
    match = re.fullmatch(r"test accuracy: ([01]\.\d{4})", last)
    assert match, out
    return float(match.group(1))


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_train_digits_runs_on_every_device(tmp_path, device, model):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    out = run_example("train_digits.py", "--model", model, "--epochs", "1", "--device", device,
                      "--out", str(tmp_path), "--quiet",
                      standin=CUPY_STANDIN and device != "cpu")
    assert _last_accuracy(out) > 0.5, out  # one epoch: far from the defaults' 0.98, far from 0.1
    assert "epoch   1/1" in out and "reloaded" in out, out
    png = tmp_path / f"digits-{model}.png"
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    ck = tg.load(tmp_path / f"digits-{model}.tg", map_location="cpu")
    assert ck["epoch"] == 1 and ck["model_kind"] == model and len(ck["history"]["test_acc"]) == 1
    assert {"model", "optimizer", "scheduler", "rng"} <= set(ck)


def test_train_digits_resumes_where_it_stopped(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    straight, parts = tmp_path / "straight", tmp_path / "parts"
    run_example("train_digits.py", "--epochs", "2", "--device", "cpu", "--quiet", "--out",
                str(straight))
    run_example("train_digits.py", "--epochs", "1", "--device", "cpu", "--quiet", "--out",
                str(parts))
    run_example("train_digits.py", "--epochs", "2", "--device", "cpu", "--quiet", "--out",
                str(parts), "--resume", str(parts / "digits-mlp.tg"))
    a, b = (tg.load(d / "digits-mlp.tg") for d in (straight, parts))
    assert a["history"] == b["history"] and b["epoch"] == 2
    for k, v in a["model"].items():
        np.testing.assert_array_equal(b["model"][k].numpy(), v.numpy())
