"""tensorgrad's fused CUDA kernels (``*.cu``) and their NumPy references.

The sources live in the repository's top-level ``kernels/`` directory. A built wheel installs
that directory as this package (pyproject.toml maps it here, replacing this file); running from
a source checkout (``PYTHONPATH=.`` or an editable install) this file puts it on the package's
path, so ``tensorgrad.kernels.reference`` and the ``.cu`` files are found the same way.
"""

import os

_SOURCE_DIR = os.path.normpath(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir,
                                            "kernels"))
if os.path.isfile(os.path.join(_SOURCE_DIR, "reference.py")):
    __path__.append(_SOURCE_DIR)
