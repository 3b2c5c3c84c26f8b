"""Write ``cupy_names.json``: the public names of a real CuPy install, the stand-in's allowlist.

Run it on a machine with CuPy and a GPU (no network needed), from the repository root::

    python3 tests/cupy_standin/gen_names.py            # writes tests/cupy_standin/cupy_names.json
    python3 tests/cupy_standin/gen_names.py out.json   # or elsewhere

Each module's entry is the sorted list of its public names (``dir()``, no leading underscore);
a module that fails to import gets the string ``"ERROR <exception>"`` instead.
"""

import importlib
import json
import os
import sys

MODULES = [
    "cupy", "cupy.linalg", "cupy.fft", "cupy.random", "cupy.testing",
    "cupyx", "cupyx.scipy", "cupyx.scipy.special", "cupyx.scipy.linalg", "cupyx.scipy.signal",
    "cupyx.scipy.stats", "cupyx.scipy.ndimage", "cupyx.scipy.fft", "cupyx.scipy.sparse",
    "cupyx.scipy.integrate", "cupyx.scipy.interpolate", "cupyx.scipy.spatial",
    "cupy.cuda", "cupy.lib", "cupy.polynomial",
    "cupy.cuda.nccl",  # last: importing it adds `nccl` to cupy.cuda's names
]

# the protocol methods of cupy.ndarray the stand-in must mirror (other dunders are left out)
NDARRAY_DUNDERS = ["__array_function__", "__array_ufunc__", "__cuda_array_interface__",
                   "__dlpack__", "__dlpack_device__"]


def public(module):
    return sorted(n for n in dir(module) if not n.startswith("_"))


def main(path):
    import cupy

    out = {
        "cupy_version": cupy.__version__,
        "cuda_runtime": int(cupy.cuda.runtime.runtimeGetVersion()),
        "modules": {},
    }
    loaded = {}
    for name in MODULES:  # each listed right after its import, before its siblings load
        try:
            loaded[name] = importlib.import_module(name)
        except Exception as e:  # a module this CuPy lacks, or one that cannot load here
            out["modules"][name] = f"ERROR {type(e).__name__}: {e}"
        else:
            out["modules"][name] = public(loaded[name])
    out["ndarray"] = sorted(
        n for n in dir(cupy.ndarray)
        if not n.startswith("__") or n in NDARRAY_DUNDERS and hasattr(cupy.ndarray, n))
    out["ufuncs"] = sorted(n for n in public(cupy) if isinstance(getattr(cupy, n), cupy.ufunc))
    special = loaded.get("cupyx.scipy.special")
    out["special_ufuncs"] = [] if special is None else sorted(
        n for n in public(special) if isinstance(getattr(special, n), cupy.ufunc))
    with open(path, "w") as f:
        json.dump(out, f, indent=0)
        f.write("\n")
    print(f"wrote {path}: CuPy {out['cupy_version']}, CUDA runtime {out['cuda_runtime']}, "
          f"{sum(len(v) for v in out['modules'].values() if isinstance(v, list))} names")


if __name__ == "__main__":
    default = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cupy_names.json")
    main(sys.argv[1] if len(sys.argv) > 1 else default)
