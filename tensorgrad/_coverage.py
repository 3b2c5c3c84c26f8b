"""What tensorgrad differentiates: the primitives of the registry and NumPy's names.

``python -m tensorgrad._coverage > docs/ops.md`` writes the coverage table (tests/test_coverage
fails when the file is stale). The output depends on the code only (sorted, no versions, no
dates), so every machine regenerates the same file.

NumPy's public functions fall into three lists, and tests/test_coverage.py checks that every
function of the installed NumPy is in exactly one:

- differentiable: defined in ``tensorgrad.numpy`` (and not in :data:`NONDIFF`),
- :data:`NONDIFF`: no derivative (integer, boolean, index or constant results, creation from
  shapes, I/O, printing); they pass through to NumPy/CuPy and refuse tensors that carry one,
- :data:`UNSUPPORTED`: a derivative exists (autograd or JAX define one) but tensorgrad has none
  yet; each with the reason.
"""

import importlib
import inspect
import pkgutil

import numpy as np

# Results without a derivative: integer/boolean/index-valued, constants, dtype and printing
# helpers, creation from shapes, file I/O, set operations on values. Each passes through.
NONDIFF = frozenset("""
all allclose any apply_over_axes arange around round_ argmax argmin argpartition argsort argwhere
array2string array_equal array_equiv array_repr array_str asanyarray asarray_chkfinite
ascontiguousarray asfortranarray asmatrix bartlett base_repr binary_repr bincount bitwise_and
bitwise_count bitwise_invert bitwise_left_shift bitwise_not bitwise_or bitwise_right_shift
bitwise_xor blackman bmat broadcast_shapes busday_count busday_offset can_cast ceil
common_type count_nonzero datetime_as_string datetime_data diag_indices diag_indices_from
digitize einsum_path empty empty_like equal eye fix flatnonzero floor floor_divide
format_float_positional format_float_scientific from_dlpack frombuffer fromfile fromfunction
fromiter frompyfunc fromregex fromstring gcd genfromtxt get_include get_printoptions getbufsize
geterr geterrcall greater greater_equal hamming hanning heaviside histogram histogram2d
histogram_bin_edges histogramdd identity indices info intersect1d invert is_busday isclose
in1d iscomplex iscomplexobj isdtype isfinite isfortran isin isinf isnan isnat isneginf isposinf
isreal isrealobj isscalar issubdtype iterable ix_ kaiser lcm left_shift less less_equal
lexsort load loadtxt logical_and logical_not logical_or logical_xor mask_indices
may_share_memory min_scalar_type mintypecode nanargmax nanargmin ndim nested_iters nextafter
nonzero not_equal ones ones_like packbits printoptions promote_types ravel_multi_index
require result_type right_shift rint round save savetxt savez savez_compressed searchsorted
set_printoptions setbufsize setdiff1d seterr seterrcall setxor1d shape shares_memory
show_config show_runtime sign signbit size spacing test tri tril_indices tril_indices_from
triu_indices triu_indices_from trunc typename union1d unique unique_all unique_counts
unique_inverse unique_values unpackbits unravel_index zeros zeros_like
""".split())

_NEEDS_PRIMITIVE = "no exact composition of existing primitives; needs a primitive of its own"
_IN_PLACE = ("writes into its argument in place; use differentiable indexing "
             "(t[idx] = v, which is on the tape) instead")
UNSUPPORTED = {
    "apply_along_axis": "calls a Python function per slice; write it with differentiable ops "
                        "over the axis instead",
    "copyto": _IN_PLACE,
    "fill_diagonal": _IN_PLACE,
    "frexp": "not implemented yet",
    "i0": _NEEDS_PRIMITIVE + " (its derivative is i1, which NumPy lacks)",
    "insert": "not implemented yet; use concatenate of slices (differentiable)",
    "nanmedian": "not implemented yet; median of where(isnan, ...) needs a per-row count",
    "nanpercentile": "not implemented yet",
    "nanquantile": "not implemented yet",
    "piecewise": "calls Python functions on masked pieces; use where/select",
    "place": _IN_PLACE,
    "poly": "not implemented yet (roots to coefficients)",
    "polydiv": "not implemented yet",
    "polyfit": "least squares; use tensorgrad.numpy.linalg.lstsq",
    "put": _IN_PLACE,
    "put_along_axis": _IN_PLACE,
    "putmask": _IN_PLACE,
    "roots": "eigenvalues of the companion matrix; not implemented yet",
}


def numpy_functions():
    """NumPy's public functions (callables that are not classes) in the installed NumPy."""
    names = []
    for n in dir(np):
        if n.startswith("_"):
            continue
        obj = getattr(np, n)
        if callable(obj) and not isinstance(obj, type):
            names.append(n)
    return sorted(names)


def tnp_defined():
    """Names ``tensorgrad.numpy`` defines itself (its ``__getattr__`` passes the rest)."""
    from . import numpy as tnp

    return {n for n, v in vars(tnp).items() if not n.startswith("_") and callable(v)
            and not isinstance(v, type) and not inspect.ismodule(v) and n not in _HELPERS}


# public helpers of tensorgrad.numpy that are not NumPy functions
_HELPERS = frozenset({"asarray_keep", "dot_", "getitem", "xp_of"})


def classify(name, defined=None):
    """'nondiff', 'unsupported', 'differentiable' or None (not classified)."""
    defined = tnp_defined() if defined is None else defined
    if name in NONDIFF:
        return "nondiff"
    if name in UNSUPPORTED:
        return "unsupported"
    if name in defined:
        return "differentiable"
    return None


# ---- the primitive registry ----------------------------------------------------------------
_PRIMITIVE_MODULES = ("tensorgrad.ops", "tensorgrad.nn.functional", "tensorgrad.scipy",
                      "tensorgrad.misc", "tensorgrad.autograd.functional", "tensorgrad.numpy",
                      "tensorgrad.torch_qr", "tensorgrad.linalg", "tensorgrad.special")

# non-ufunc primitives whose rules are checked on complex inputs (tests/test_complex.py,
# tests/test_tnp_surface.py, tests/test_tnp_fft.py, tests/test_tnp_linalg.py)
COMPLEX_TESTED = frozenset("""
abs astype concatenate_ copy cumsum einsum_ getitem imag matmul mean real reshape setitem
squeeze stack_ sum swapaxes transpose untake where broadcast_to expand_dims zero_at
""".split())


def _walk(package):
    try:
        mod = importlib.import_module(package)
    except Exception:  # an optional dependency missing: that module has no rows here
        return
    yield mod
    for info in pkgutil.walk_packages(getattr(mod, "__path__", []), package + "."):
        try:
            yield importlib.import_module(info.name)
        except Exception:
            continue


def primitives():
    """Every primitive reachable from tensorgrad's modules: [(family, Primitive)], sorted."""
    from .ops.registry import Primitive

    found = {}
    for package in _PRIMITIVE_MODULES:
        for mod in _walk(package):
            for value in list(vars(mod).values()):
                p = getattr(value, "prim", value)
                if not isinstance(p, Primitive):
                    continue
                # the family is the module that defines it: a ufunc's kernel names no module,
                # so the first plain module (not a package re-exporting it) that holds it
                fam = getattr(p.fwd, "__module__", None)
                if isinstance(p.fwd, np.ufunc) or not fam:
                    fam = mod.__name__
                    if id(p) in found and hasattr(mod, "__path__"):
                        continue
                    if id(p) in found and not found[id(p)][1]:
                        continue
                elif id(p) in found:
                    continue
                found[id(p)] = (fam, hasattr(mod, "__path__") and fam == mod.__name__, p)
    rows = [(fam.replace("tensorgrad.", ""), p) for fam, _, p in found.values()]
    return sorted(rows, key=lambda fp: (fp[0], fp[1].name))


def _rules(rules):
    if rules is None:
        return "no"
    if not isinstance(rules, tuple):  # a variadic primitive (_EveryArg): every operand
        return "yes (every operand)"
    have = [i for i, r in enumerate(rules) if r is not None]
    if not have:
        return "no"
    return "yes" if len(have) == len(rules) else "yes (args " + ", ".join(map(str, have)) + ")"


def _complex(p):
    if isinstance(p.fwd, np.ufunc):
        return "yes" if any(t[0] in "FDG" for t in p.fwd.types) else "no"
    return "tested" if p.name in COMPLEX_TESTED else "-"


def markdown():
    """The whole of docs/ops.md."""
    out = ["# Operator coverage", "",
           "Generated by `python -m tensorgrad._coverage > docs/ops.md` from the registry of",
           "primitives and from `tensorgrad.numpy`; `tests/test_coverage.py` fails when this",
           "file is stale. Do not edit it by hand.", "",
           "## Primitives", "",
           "VJP/JVP: whether reverse- and forward-mode rules are declared (for which positional",
           "arguments, when not all). Complex: `yes` for NumPy ufuncs with complex loops,",
           "`tested` where the rules are checked on complex inputs, `-` otherwise. Devices: every",
           "primitive runs on `cpu` and on `cuda` through the array module of its data; the",
           "test suite runs them on the CPU and on the strict CuPy stand-in (every `make test`)",
           "and on a real GPU in `make gpu-check`.", "",
           "| primitive | module | VJP | JVP | complex | devices |",
           "|---|---|---|---|---|---|"]
    for fam, p in primitives():
        out.append(f"| `{p.name}` | {fam} | {_rules(p.vjps)} | {_rules(p.jvps)} | "
                   f"{_complex(p)} | cpu, cuda |")
    defined = tnp_defined()
    diff = sorted(n for n in defined if n not in NONDIFF)
    out += ["", "## tensorgrad.numpy", "",
            f"### Differentiable ({len(diff)})", "",
            "Defined in `tensorgrad.numpy`; a tensor argument gets a derivative.", "",
            _wrap(diff), "",
            f"### Without a derivative ({len(NONDIFF)})", "",
            "Pass through to NumPy/CuPy on plain values and on tensors that carry no",
            "derivative; a tensor that carries one is refused with a NotImplementedError.", "",
            _wrap(sorted(NONDIFF)), "",
            f"### Not supported yet ({len(UNSUPPORTED)})", "",
            "| function | why |", "|---|---|"]
    out += [f"| `{n}` | {UNSUPPORTED[n]} |" for n in sorted(UNSUPPORTED)]
    return "\n".join(out) + "\n"


def _wrap(names, width=96):
    lines, line = [], ""
    for n in names:
        piece = f"`{n}`"
        if line and len(line) + 1 + len(piece) > width:
            lines.append(line)
            line = piece
        else:
            line = f"{line} {piece}" if line else piece
    if line:
        lines.append(line)
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    sys.stdout.write(markdown())
