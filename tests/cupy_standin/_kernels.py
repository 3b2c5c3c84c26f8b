"""Kernel objects of the stand-in: ``RawModule``/``RawKernel`` launches run the kernel's NumPy
reference, after the checks a GPU launch would fail (or silently read wrong memory) without.

Contract: a kernel is an ``extern "C" __global__ void name(...)`` in the code string, and its
reference is the function ``name`` in ``tensorgrad.kernels.reference``, called as
``reference(grid, block, shared_mem, *args)`` with grid and block padded to 3 ints, device
arrays passed as their (writable) NumPy arrays and typed scalars as given.

How a launch computes is ``MODE`` (set by ``TENSORGRAD_STANDIN_KERNELS``, or for a block of code
with ``executing(mode)``): ``"reference"`` runs the NumPy reference; ``"emulate"`` runs the
kernel's own CUDA C on the CPU (``_emulate``); ``"compare"`` runs both on copies of the
arguments and fails where they disagree or the C code wrote outside its arrays.
"""

import contextlib
import importlib
import os
import re

import numpy as np

from . import _core

REFERENCE_MODULE = "tensorgrad.kernels.reference"
MAX_THREADS_PER_BLOCK = 1024
MAX_GRID = (2**31 - 1, 65535, 65535)
DEFAULT_SHARED = 48 * 1024  # dynamic shared memory above this needs an opt-in, as on a GPU
MAX_SHARED = 227 * 1024  # the opt-in maximum per block on sm_90


MODES = ("reference", "emulate", "compare")
MODE = os.environ.get("TENSORGRAD_STANDIN_KERNELS", "reference")
if MODE not in MODES:
    raise ValueError(f"TENSORGRAD_STANDIN_KERNELS must be one of {MODES}, got {MODE!r}")


@contextlib.contextmanager
def executing(mode):
    """Run the launches inside the block in ``mode`` (see the module's docstring)."""
    global MODE
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    prev, MODE = MODE, mode
    try:
        yield
    finally:
        MODE = prev


class CUDADriverError(RuntimeError):
    pass


def _has_kernel(code, name):
    pattern = r'extern\s+"C"\s+__global__\s+void\s+' + re.escape(name) + r"\s*\("
    if re.search(pattern, code):
        return True
    # kernels inside an extern "C" { ... } block
    block = re.search(r'extern\s+"C"\s*\{', code)
    return bool(block and re.search(r"__global__\s+void\s+" + re.escape(name) + r"\s*\(",
                                    code[block.end():]))


def _dims(value, what, limits):
    if type(value) is not tuple:
        raise TypeError(f"{what} must be a tuple of 1 to 3 ints, not {type(value).__name__}")
    if not 1 <= len(value) <= 3 or any(type(v) is not int for v in value):
        raise TypeError(f"{what} must be a tuple of 1 to 3 Python ints, got {value!r}")
    dims = (value + (1, 1))[:3]
    for v, lim, axis in zip(dims, limits, "xyz"):
        if v < 0:
            raise ValueError(f"{what}.{axis} = {v} is negative")
        if v > lim:
            raise ValueError(f"{what}.{axis} = {v} exceeds the CUDA limit {lim}")
    return tuple(max(1, v) for v in dims)  # CuPy launches max(1, n) blocks/threads


class RawKernel:
    """``cupy.RawKernel(code, name, options=(), ...)``."""

    def __init__(self, code, name, options=(), backend="nvrtc", *, translate_cucomplex=False,
                 enable_cooperative_groups=False, jitify=None):
        if not isinstance(code, str):
            raise TypeError(f"Argument 'code' has incorrect type (expected str, got "
                            f"{type(code).__name__})")
        if not isinstance(name, str):
            raise TypeError(f"Argument 'name' has incorrect type (expected str, got "
                            f"{type(name).__name__})")
        _check_options(options)
        self.code = code
        self.name = name
        self.__name__ = name
        self.options = options
        self.backend = backend
        self.enable_cooperative_groups = enable_cooperative_groups
        self.max_dynamic_shared_size_bytes = 0
        self.preferred_shared_memory_carveout = -1
        self._compiled = False

    def compile(self, log_stream=None):
        if not _has_kernel(self.code, self.name):
            raise CUDADriverError(
                f"CUDA_ERROR_NOT_FOUND: named symbol not found: no kernel "
                f'`extern "C" __global__ void {self.name}(` in the code (stand-in check)')
        self._compiled = True

    @property
    def kernel(self):
        self.compile()
        return self

    @property
    def attributes(self):
        return {"max_threads_per_block": MAX_THREADS_PER_BLOCK,
                "max_dynamic_shared_size_bytes": self.max_dynamic_shared_size_bytes}

    @property
    def max_threads_per_block(self):
        return MAX_THREADS_PER_BLOCK

    def __call__(self, grid, block, args, *, shared_mem=0, stream=None,
                 enable_cooperative_groups=False):
        if not self._compiled:
            self.compile()
        grid = _dims(grid, "grid", MAX_GRID)
        block = _dims(block, "block", (1024, 1024, 64))
        if block[0] * block[1] * block[2] > MAX_THREADS_PER_BLOCK:
            raise ValueError(f"kernel {self.name}: block {block} has "
                             f"{block[0] * block[1] * block[2]} threads; the limit is "
                             f"{MAX_THREADS_PER_BLOCK}")
        if type(shared_mem) is not int or shared_mem < 0:
            raise TypeError(f"kernel {self.name}: shared_mem must be a non-negative int, got "
                            f"{shared_mem!r}")
        limit = max(DEFAULT_SHARED, min(self.max_dynamic_shared_size_bytes, MAX_SHARED))
        if shared_mem > limit:
            raise ValueError(
                f"kernel {self.name}: shared_mem={shared_mem} bytes exceeds {limit} (above "
                f"{DEFAULT_SHARED} set kernel.max_dynamic_shared_size_bytes first; the most "
                f"is {MAX_SHARED})")
        if not isinstance(args, (tuple, list)):
            raise TypeError(f"kernel {self.name}: args must be a tuple")
        cur = _core._local.device
        passed = []
        for i, a in enumerate(args):
            passed.append(_kernel_arg(self.name, i, a, cur))
        if MODE == "reference":
            _reference(self.name)(grid, block, shared_mem, *passed)
            return
        from . import _emulate

        if MODE == "emulate":
            _emulate.run(self.code, self.name, grid, block, passed, shared_mem)
        else:
            _emulate.compare(self.code, self.name, grid, block, shared_mem, passed,
                             _reference(self.name))


def _kernel_arg(kernel, i, a, cur):
    if type(a) is _core.ndarray:
        if a._dev != cur:
            raise _core.device_mismatch(a._dev, cur)
        if not a._a.flags.c_contiguous:
            raise ValueError(
                f"kernel {kernel}: argument {i} is a non-contiguous array (shape {a.shape}, "
                f"strides {a.strides}); a raw kernel reads it as contiguous memory. Pass "
                "cupy.ascontiguousarray(x)")
        return a._a
    if isinstance(a, np.ndarray):
        if a.size == 1:  # passed by value, as CuPy does: a struct from a structured dtype
            return a
        raise TypeError(
            f"kernel {kernel}: argument {i} is a numpy.ndarray of shape {a.shape}; only "
            "numpy.ndarrays of size one are passed by value (a struct); pass a cupy.ndarray "
            "for device memory")
    if isinstance(a, np.generic):
        if a.dtype.kind not in "biufc":
            raise TypeError(f"kernel {kernel}: argument {i} has unsupported dtype {a.dtype}")
        return a
    if isinstance(a, (bool, int, float, complex)):
        raise TypeError(
            f"kernel {kernel}: argument {i} is a Python {type(a).__name__} ({a!r}); pass a typed "
            "NumPy scalar (numpy.int32, numpy.int64, numpy.float32, ...) so the kernel reads "
            "the width it declares")
    raise TypeError(f"kernel {kernel}: argument {i} has unsupported type {type(a)}")


def _reference(name):
    try:
        module = importlib.import_module(REFERENCE_MODULE)
    except ImportError as e:
        raise RuntimeError(f"stand-in: kernel {name} launched, but its NumPy reference module "
                           f"{REFERENCE_MODULE} cannot be imported ({e})") from e
    fn = getattr(module, name, None)
    if fn is None or not callable(fn):
        raise RuntimeError(f"stand-in: kernel {name} launched, but {REFERENCE_MODULE} has no "
                           f"function {name} (its NumPy reference)")
    return fn


def _check_options(options):
    if type(options) is not tuple:
        raise TypeError(f"Argument 'options' has incorrect type (expected tuple, got "
                        f"{type(options).__name__})")
    for o in options:
        if not isinstance(o, str):
            raise TypeError(f"options must be strings, got {o!r}")


class RawModule:
    """``cupy.RawModule(code=..., options=(...), name_expressions=None)``."""

    def __init__(self, *, code=None, path=None, options=(), backend="nvrtc",
                 translate_cucomplex=False, enable_cooperative_groups=False,
                 name_expressions=None, jitify=None):
        if (code is None) == (path is None):
            raise TypeError("Exactly one of `code` and `path` keyword arguments must be given.")
        _check_options(options)
        if path is not None:
            with open(path) as f:
                code = f.read()
        if not isinstance(code, str):
            raise TypeError(f"Argument 'code' has incorrect type (expected str, got "
                            f"{type(code).__name__})")
        if name_expressions is not None:
            raise NotImplementedError("stand-in: C++ template kernels (name_expressions) are "
                                      'not supported; use extern "C" kernels')
        self.code = code
        self.file_path = path
        self.options = options
        self.backend = backend
        self.enable_cooperative_groups = enable_cooperative_groups
        self.name_expressions = None

    def compile(self, log_stream=None):
        return None

    def get_function(self, name):
        if not isinstance(name, str):
            raise TypeError(f"Argument 'name' has incorrect type (expected str, got "
                            f"{type(name).__name__})")
        ker = RawKernel(self.code, name, self.options, self.backend,
                        enable_cooperative_groups=self.enable_cooperative_groups)
        ker.compile()  # CuPy loads the function here: a wrong name fails at get_function
        return ker


class _NotOnStandIn:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("stand-in: use RawModule")


class ElementwiseKernel(_NotOnStandIn):
    pass


class ReductionKernel(_NotOnStandIn):
    pass


KERNEL_NAMES = {"RawKernel": RawKernel, "RawModule": RawModule,
                "ElementwiseKernel": ElementwiseKernel, "ReductionKernel": ReductionKernel}
