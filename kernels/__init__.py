"""tensorgrad's fused CUDA kernels: the ``*.cu`` sources in this directory and their NumPy
references (:mod:`tensorgrad.kernels.reference`).

In a built wheel this directory *is* the package ``tensorgrad.kernels`` (pyproject.toml maps it
there); in a source checkout ``tensorgrad/kernels/__init__.py`` adds this directory to that
package's path. ``tensorgrad.backend.cuda.kernel_source`` finds a source either way.
"""
