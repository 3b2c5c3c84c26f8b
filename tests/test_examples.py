"""The examples run as printed."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_example(name, *args):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run([sys.executable, os.path.join(ROOT, "examples", name), *args],
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    return res.stdout


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
