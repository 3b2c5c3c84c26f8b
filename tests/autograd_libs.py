"""Running a real library's code under HIPS autograd or under tensorgrad's import hook, the
library imported afresh for each run (its modules bind autograd's functions at import):
tests/test_autograd_libraries.py and tests/test_autograd_libraries_more.py."""

import sys

from tensorgrad import autograd_compat


def forget(libraries):
    for name in [n for n in sys.modules if n.split(".")[0] in libraries]:
        del sys.modules[name]


def run_under(engine, fn, libraries):
    """``fn()`` with ``libraries`` imported afresh against ``engine`` ("autograd" or
    "tensorgrad")."""
    forget(libraries)
    if engine == "tensorgrad":
        autograd_compat.install()
    try:
        import autograd

        assert (type(autograd) is autograd_compat._Alias) == (engine == "tensorgrad")
        return fn()
    finally:
        if engine == "tensorgrad":
            autograd_compat.uninstall()
        forget(libraries)
