"""tensorgrad with NumPy alone: SciPy is an optional extra, and a PyTorch user's nn.GELU, the
distributions, tg.erf, tg.lgamma, tg.digamma, tg.special.* must work without it, computed by
``tensorgrad/scipy/_host_special.py`` (the NumPy implementations of ``_host_erf``,
``_host_gamma`` and ``_host_bessel``), while the rest of ``scipy.special`` says what to install.

Each test runs Python in a subprocess in which importing scipy fails (a finder at the front of
``sys.meta_path``), on the cpu: the CuPy stand-in builds its ``cupyx.scipy`` from SciPy, and on a
GPU CuPy has its own.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.special as sp

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

_HIDE_SCIPY = """
import sys
class _NoSciPy:
    def find_spec(self, name, path=None, target=None):
        if name == "scipy" or name.startswith("scipy."):
            raise ModuleNotFoundError("No module named 'scipy' (hidden by test_without_scipy)")
sys.meta_path.insert(0, _NoSciPy())
"""


def _run(code, timeout=600):
    env = dict(os.environ, TENSORGRAD_CUPY_STANDIN="0")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, "-c", _HIDE_SCIPY + code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_scipy_is_hidden_in_the_subprocess():
    out = _run("import importlib\n"
               "try:\n    importlib.import_module('scipy.special')\n"
               "except ImportError:\n    print('hidden')\n")
    assert out.stdout.strip() == "hidden", out.stderr


# The tests of the library's own suite that use these functions (values and gradients against
# PyTorch, second derivatives against finite differences), run again without SciPy. Deselected:
# the few whose reference values come from SciPy itself, and the functions with no NumPy
# implementation here (they raise the ImportError checked below).
_SUITE = ["tests/test_distributions.py", "tests/test_distributions_extra.py",
          "tests/test_distributions_more.py", "tests/test_torch_api.py",
          "tests/test_fft_special.py", "tests/test_nn_functional.py", "tests/test_nn_layers.py",
          "tests/test_linalg_torch.py"]
_SELECT = ("(test_distributions or erf or gamma or polygamma or special or gelu "
           "or test_linalg_torch) and not cuda "
           # their reference values come from scipy.stats
           "and not test_more_sampling_ks_and_moments and not test_exact_where_torch_approximates")


def test_the_suite_passes_without_scipy():
    pytest.importorskip("torch")  # most of the selected tests compare with PyTorch
    out = _run("import pytest\n"
               f"sys.exit(pytest.main({_SUITE!r} + ['-q', '-p', 'no:cacheprovider', "
               f"'-o', 'addopts=', '-W', 'ignore', '-k', {_SELECT!r}]))\n", timeout=900)
    tail = out.stdout[-3000:]
    assert out.returncode == 0, tail + out.stderr[-2000:]
    passed = int(tail.split(" passed")[0].split()[-1])
    assert passed > 800, tail


_CALLS = """
import numpy as np
import tensorgrad as tg
F = tg.nn.functional
x = np.linspace(-6, 6, 97)
pos = np.linspace(0.05, 30, 97)
unit = np.linspace(-0.999, 0.999, 97)
prob = np.linspace(0.001, 0.999, 97)
out = {}
for name, arg in [("erf", x), ("erfc", x), ("erfinv", unit), ("lgamma", x + 0.37),
                  ("digamma", x + 0.37), ("i0", x), ("special.i0e", x), ("special.i1", x),
                  ("special.i1e", x)]:
    t = tg.tensor(arg, requires_grad=True)
    y = getattr(tg.special, name[8:])(t) if name.startswith("special.") else getattr(tg, name)(t)
    y.sum().backward()
    out[name] = y.detach().numpy()
    out[name + "_grad"] = t.grad.numpy()
for name, arg in [("ndtr", x), ("ndtri", prob), ("log_ndtr", x), ("erfcx", x),
                  ("gammaln", pos), ("entr", pos)]:
    out["special." + name] = getattr(tg.special, name)(tg.tensor(arg)).numpy()
out["polygamma2"] = tg.polygamma(2, tg.tensor(pos)).numpy()
out["xlogy"] = tg.xlogy(tg.tensor(np.where(x > 0, 0.0, x)), tg.tensor(pos)).numpy()
out["xlog1py"] = tg.special.xlog1py(tg.tensor(np.where(x > 0, 0.0, x)), tg.tensor(pos)).numpy()
t = tg.tensor(x.astype(np.float32).reshape(1, -1).repeat(64, 0), requires_grad=True)
y = F.gelu(t)
y.sum().backward()
out["gelu"], out["gelu_grad"] = y.detach().numpy(), t.grad.numpy()
d = tg.distributions
f64 = lambda v: tg.tensor(v, dtype=tg.float64)
out["normal_cdf"] = d.Normal(f64(0.0), f64(2.0)).cdf(tg.tensor(x)).numpy()
out["normal_icdf"] = d.Normal(f64(0.0), f64(2.0)).icdf(tg.tensor(prob)).numpy()
out["gamma_log_prob"] = d.Gamma(f64(2.5), f64(1.5)).log_prob(tg.tensor(pos)).numpy()
out["studentt_log_prob"] = d.StudentT(f64(3.0)).log_prob(tg.tensor(x)).numpy()
out["vonmises_log_prob"] = d.VonMises(f64(0.3), f64(2.0)).log_prob(tg.tensor(unit * 3)).numpy()
out["special.bessel_j0"] = tg.special.bessel_j0(tg.tensor(x)).numpy()
out["special.bessel_y1"] = tg.special.bessel_y1(tg.tensor(pos)).numpy()
try:
    tg.special.airy_ai(tg.tensor(x))
except ImportError as e:
    out["airy_error"] = np.array(str(e))
np.savez(OUT, **out)
"""


def test_values_without_scipy_match_scipy(tmp_path):
    path = str(tmp_path / "out.npz")
    res = _run(f"OUT = {path!r}\n" + _CALLS)
    assert res.returncode == 0, res.stderr[-3000:]
    got = np.load(path)
    x = np.linspace(-6, 6, 97)
    pos = np.linspace(0.05, 30, 97)
    unit = np.linspace(-0.999, 0.999, 97)
    prob = np.linspace(0.001, 0.999, 97)
    expect = {
        "erf": sp.erf(x), "erf_grad": 2 / np.sqrt(np.pi) * np.exp(-x * x),
        "erfc": sp.erfc(x), "erfinv": sp.erfinv(unit),
        "erfinv_grad": np.sqrt(np.pi) / 2 * np.exp(sp.erfinv(unit) ** 2),
        "lgamma": sp.gammaln(x + 0.37), "lgamma_grad": sp.digamma(x + 0.37),
        "digamma": sp.digamma(x + 0.37), "digamma_grad": sp.polygamma(1, x + 0.37),
        "i0": sp.i0(x), "i0_grad": sp.i1(x), "special.i0e": sp.i0e(x), "special.i1": sp.i1(x),
        "special.i1e": sp.i1e(x), "special.bessel_j0": sp.j0(x), "special.bessel_y1": sp.y1(pos),
        "special.ndtr": sp.ndtr(x), "special.ndtri": sp.ndtri(prob),
        "special.log_ndtr": sp.log_ndtr(x), "special.erfcx": sp.erfcx(x),
        "special.gammaln": sp.gammaln(pos), "special.entr": sp.entr(pos),
        "polygamma2": sp.polygamma(2, pos),
        "xlogy": sp.xlogy(np.where(x > 0, 0.0, x), pos),
        "xlog1py": sp.xlog1py(np.where(x > 0, 0.0, x), pos),
        "normal_cdf": sp.ndtr(x / 2), "normal_icdf": 2 * sp.ndtri(prob),
        "gamma_log_prob": (2.5 * np.log(1.5) + 1.5 * np.log(pos) - 1.5 * pos
                           - sp.gammaln(2.5)),
        "studentt_log_prob": (sp.gammaln(2) - sp.gammaln(1.5) - 0.5 * np.log(3 * np.pi)
                              - 2 * np.log1p(x * x / 3)),
        "vonmises_log_prob": (2 * np.cos(unit * 3 - 0.3) - np.log(2 * np.pi * sp.i0(2.0))),
    }
    for name, want in expect.items():
        np.testing.assert_allclose(got[name], want, rtol=1e-13, atol=1e-300, err_msg=name)
    z = x.astype(np.float32).astype(np.float64)
    cdf = sp.ndtr(z)
    np.testing.assert_allclose(got["gelu"][0], z * cdf, rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(got["gelu_grad"][7], cdf + z * np.exp(-z * z / 2)
                               / np.sqrt(2 * np.pi), rtol=2e-6, atol=1e-7)
    assert "pip install 'tensorgrad[scipy]'" in str(got["airy_error"])


def test_xlogy_and_xlog1py_match_scipy():
    from tensorgrad.scipy import _host_special as host

    x = np.array([0, 0, 0, 0, 0, 1, 2, -1, np.nan, 0.0, -0.0, 3])
    y = np.array([0, -1, np.inf, np.nan, 2, 0, -1, 3, 1, -np.inf, 5, 0.25])
    for name in ("xlogy", "xlog1py"):
        mine, theirs = getattr(host, name), getattr(sp, name)
        np.testing.assert_array_equal(mine(x, y), theirs(x, y))
        np.testing.assert_array_equal(mine(x[:, None], y), theirs(x[:, None], y))  # broadcast
        assert mine(np.float32(2), np.float32(3)).dtype == np.float32
        assert isinstance(mine(0.0, 1.0), np.float64) and mine(0.0, 1.0) == 0
        with pytest.raises(TypeError, match=f"{name}: complex"):
            mine(1j, 2.0)
