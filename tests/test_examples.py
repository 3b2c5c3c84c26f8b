"""The examples run as printed."""

import os
import re
import subprocess
import sys

import pytest
from conftest import CUPY_STANDIN

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
        code = block.split("```")[0]
        exec(compile(code, "README.md", "exec"), {})
