"""Run a script with the CuPy stand-in in place of CuPy (not a test module):

    python tests/standin_run.py SCRIPT [ARGS...]

as tests/conftest.py does for the test process, so that a script started in a process of its
own (under mpiexec, say) sees the stand-in's GPUs. Kernels run their NumPy references only.
"""

import os
import runpy
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cupy_standin  # noqa: E402

cupy_standin._kernels.MODE = "reference"
cupy_standin.install()

if __name__ == "__main__":
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    runpy.run_path(script, run_name="__main__")
