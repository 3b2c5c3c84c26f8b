"""Run programs and libraries written for HIPS autograd on tensorgrad, unmodified.

``python -m tensorgrad.autograd_compat prog.py [args]`` (or ``-m module [args]``) runs a program
with an import hook installed: ``import autograd`` and every public module below it
(``autograd.numpy``, ``autograd.scipy.stats``, ``autograd.extend``, ``autograd.builtins``, ...)
resolve to tensorgrad's counterparts. ``TENSORGRAD_DEVICE=cuda`` also makes the GPU the
default device (:func:`tensorgrad.set_default_device`), so a CPU-written program runs there.

In a program of your own, call :func:`install` before the first ``import autograd`` (or use
``with installed(): ...``). Without the hook, ``import autograd`` is never affected.

>>> from tensorgrad import autograd_compat
>>> with autograd_compat.installed():
...     import autograd.numpy as np
...     from autograd import grad
...     float(grad(lambda x: np.sum(np.tanh(x)))(0.0))
1.0
"""

import importlib
import importlib.abc
import importlib.machinery
import os
import sys
import types
from contextlib import contextmanager

# autograd's public modules and their counterparts (a name not here is not autograd's public
# surface, and importing it under the hook says so)
_C = "tensorgrad.autograd_compat."
MODULES = {
    "autograd": _C + "root",
    "autograd.builtins": _C + "builtins",
    "autograd.core": _C + "core",
    "autograd.differential_operators": _C + "differential_operators",
    "autograd.extend": "tensorgrad.extend",
    "autograd.tracer": _C + "tracer",
    "autograd.util": _C + "util",
    "autograd.wrap_util": _C + "wrap_util",
    "autograd.test_util": _C + "test_util",
    "autograd.misc": _C + "misc",
    "autograd.misc.fixed_points": "tensorgrad.misc.fixed_points",
    "autograd.misc.flatten": "tensorgrad.misc.flatten",
    "autograd.misc.optimizers": "tensorgrad.misc.optimizers",
    "autograd.misc.tracers": _C + "misc_tracers",
    "autograd.numpy": _C + "numpy",
    "autograd.numpy.numpy_wrapper": _C + "numpy",
    "autograd.numpy.numpy_boxes": _C + "numpy_boxes",
    "autograd.numpy.numpy_vjps": _C + "numpy_vjps",
    "autograd.numpy.numpy_jvps": _C + "numpy_jvps",
    "autograd.numpy.numpy_vspaces": _C + "numpy_vspaces",
    "autograd.numpy.linalg": "tensorgrad.numpy.linalg",
    "autograd.numpy.fft": "tensorgrad.numpy.fft",
    "autograd.numpy.random": "tensorgrad.numpy.random",
    "autograd.scipy": "tensorgrad.scipy",
    "autograd.scipy.integrate": _C + "scipy_integrate",
    "autograd.scipy.linalg": "tensorgrad.scipy.linalg",
    "autograd.scipy.signal": "tensorgrad.scipy.signal",
    "autograd.scipy.special": "tensorgrad.scipy.special",
    "autograd.scipy.misc": "tensorgrad.scipy.misc",
    "autograd.scipy.stats": "tensorgrad.scipy.stats",
}
for _dist in ("beta", "chi2", "dirichlet", "gamma", "multivariate_normal", "norm", "poisson",
              "t"):
    MODULES[f"autograd.scipy.stats.{_dist}"] = f"tensorgrad.scipy.stats.{_dist}"
MODULES["autograd.scipy.stats.dirichlet"] = _C + "stats_dirichlet"


class _Alias(types.ModuleType):
    """``autograd.<name>``: a module of its own (so importing below it never writes into
    tensorgrad's modules) whose names are those of its tensorgrad counterpart."""

    def __getattr__(self, name):
        target = self.__dict__["_tensorgrad_module"]
        try:
            return getattr(target, name)
        except AttributeError:
            sub = f"{self.__name__}.{name}"
            if sub in MODULES and not name.startswith("_"):
                return importlib.import_module(sub)
            raise AttributeError(f"module {self.__name__!r} (tensorgrad's "
                                 f"{target.__name__}) has no attribute {name!r}") from None

    def __dir__(self):
        return sorted(set(dir(self.__dict__["_tensorgrad_module"])) | set(self.__dict__))


class _Loader(importlib.abc.Loader):
    def create_module(self, spec):
        target = importlib.import_module(MODULES[spec.name])
        mod = _Alias(spec.name, getattr(target, "__doc__", None))
        mod._tensorgrad_module = target
        return mod

    def exec_module(self, module):
        # the names are in the module's __dict__ as well, as in a real module: libraries read
        # it (PennyLane wraps every function in ``vars(autograd.numpy)``); a name the target
        # computes on each use (``ndarray``) stays out
        target = module.__dict__["_tensorgrad_module"]
        names = [n for n in vars(target) if not n.startswith("__")]
        names += getattr(target, "__all__", ())
        for name in set(names) - set(getattr(target, "_DYNAMIC_NAMES", ())):
            if name not in module.__dict__ and hasattr(target, name):
                module.__dict__[name] = getattr(target, name)


class AutogradFinder(importlib.abc.MetaPathFinder):
    """The meta path finder behind :func:`install`."""

    loader = _Loader()

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "autograd" and not fullname.startswith("autograd."):
            return None
        if fullname not in MODULES:
            raise ModuleNotFoundError(
                f"No module named {fullname!r} under tensorgrad's autograd hook: it is not one "
                "of autograd's public modules (tensorgrad.autograd_compat.MODULES lists them)",
                name=fullname)
        return importlib.machinery.ModuleSpec(fullname, self.loader, is_package=True)


_saved = {}  # the real autograd's modules, put aside while the hook is installed


def _is_autograd(name):
    return name == "autograd" or name.startswith("autograd.")


def install(device=None):
    """Make ``import autograd...`` resolve to tensorgrad from now on in this process.
    ``device`` (or the environment variable ``TENSORGRAD_DEVICE`` when ``device`` is None):
    the default device, see :func:`tensorgrad.set_default_device`. Idempotent."""
    device = device or os.environ.get("TENSORGRAD_DEVICE") or None
    if device is not None:
        from ..backend.device import set_default_device

        set_default_device(device)
    if any(isinstance(f, AutogradFinder) for f in sys.meta_path):
        return
    from . import _methods

    _methods.enable()  # NumPy's array methods on traced values, as autograd's ArrayBox has
    for name in [n for n in sys.modules if _is_autograd(n)]:
        _saved[name] = sys.modules.pop(name)  # a real autograd imported earlier
    sys.meta_path.insert(0, AutogradFinder())


def uninstall():
    """Undo :func:`install`: ``import autograd`` finds the real autograd again."""
    from . import _methods

    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, AutogradFinder)]
    _methods.disable()
    for name in [n for n in sys.modules if _is_autograd(n)]:
        if isinstance(sys.modules[name], _Alias):
            del sys.modules[name]
    sys.modules.update(_saved)
    _saved.clear()


def installed():
    """``with installed(): ...``: the hook for the duration of the block."""
    return _installed()


@contextmanager
def _installed():
    install()
    try:
        yield
    finally:
        uninstall()


def is_installed():
    return any(isinstance(f, AutogradFinder) for f in sys.meta_path)


__all__ = ["install", "uninstall", "installed", "is_installed", "AutogradFinder", "MODULES"]
