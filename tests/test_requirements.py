"""What tensorgrad requires of its environment, as pyproject.toml declares it: NumPy 2.2 or
newer (checked at import with a message that says what to install; NumPy 1.x's value-based
promotion sent mixed-dtype ops into endless casts, and NumPy before 2.2 imports DLPack data
read-only), Python 3.11 or newer (exception notes), and names that programs written for older
NumPy still call."""

import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

import tensorgrad as tg
import tensorgrad.numpy as tnp

ROOT = Path(__file__).resolve().parents[1]


def _import_with_numpy_version(version):
    code = f"import numpy; numpy.__version__ = {version!r}; import tensorgrad"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


@pytest.mark.parametrize("version", ["1.26.4", "2.0.2", "2.1.3"])
def test_older_numpy_is_refused_with_what_to_install(version):
    run = _import_with_numpy_version(version)
    assert run.returncode != 0
    assert f"tensorgrad needs NumPy 2.2 or newer; this environment has NumPy {version}: " \
           f"pip install 'numpy>=2.2'" in run.stderr


@pytest.mark.parametrize("version", ["2.2.0", "2.5.0rc1", "3.0.0"])
def test_numpy_at_or_above_the_floor_imports(version):
    run = _import_with_numpy_version(version)
    assert run.returncode == 0, run.stderr


def test_pyproject_declares_the_floors_the_code_checks():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "numpy>=2.2" in project["dependencies"]
    assert project["requires-python"] == ">=3.11"
    assert sys.version_info >= (3, 11)
    extras = project["optional-dependencies"]
    assert "scipy>=1.15" in extras["scipy"]  # LAPACK ?sytrs for tg.linalg.ldl_solve


def test_numpy_before_2_names_autograd_programs_use():
    """np.trapz (NumPy's name until 2.0, removed in 2.4) is trapezoid, with its derivative."""
    x = tg.tensor([0.0, 1.0, 3.0, 4.0], requires_grad=True)
    y = tg.tensor([1.0, 2.0, 0.5, 2.0], requires_grad=True)
    tnp.trapz(y, x).backward()
    np.testing.assert_allclose(x.grad.numpy(), [-1.5, 0.25, 0.0, 1.25])
    np.testing.assert_allclose(y.grad.numpy(), [0.5, 1.5, 1.5, 0.5])
    assert tnp.trapz is tnp.trapezoid
