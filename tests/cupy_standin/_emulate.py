"""The CUDA C of the kernels, run on the CPU: each ``.cu`` source compiled with the host C++
compiler against ``emu.h`` (one OS thread per CUDA thread of a block, real barriers for
``__syncthreads`` and warp shuffles), so that every kernel's own code, not only its NumPy
reference, runs in ``make test`` on a machine without a GPU.

``run(code, name, grid, block, args)`` launches the ``extern "C"`` kernel ``name`` of ``code``
on NumPy arrays (device memory) and typed NumPy scalars, after checking them against the C
signature: a pointer parameter takes an array of its element type, ``int`` an ``np.int32``,
``long long`` an ``np.int64``, ``float``/``double`` their NumPy scalars. Builds are cached by
the hash of the source under the temporary directory (``TENSORGRAD_EMU_CACHE`` overrides).

``compare(...)`` runs the NumPy reference and the emulated kernel on copies of the same
arguments and checks that they agree on every array, and that the kernel wrote nothing outside
its arrays (each copy sits between guard bytes that are checked after the launch).
"""

import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
HEADER = os.path.join(HERE, "emu.h")
# no _FORTIFY_SOURCE: its checked longjmp refuses the jumps between fiber stacks
CXX_FLAGS = ("-std=c++17", "-O1", "-shared", "-fPIC", "-w", "-U_FORTIFY_SOURCE")

_SIGNATURE = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)', re.S)
_SCALARS = {"int": np.dtype(np.int32), "long long": np.dtype(np.int64),
            "unsigned int": np.dtype(np.uint32), "float": np.dtype(np.float32),
            "double": np.dtype(np.float64)}
GUARD = 64  # bytes of guard before and after each array
_GUARD_BYTE = 0xA5

_libs = {}  # source hash -> (ctypes library, signatures)
_lock = threading.Lock()


class EmulationError(AssertionError):
    """The emulated kernel disagrees with its reference, or wrote out of bounds."""


def compiler():
    """The host C++ compiler, or None."""
    return os.environ.get("CXX") or shutil.which("g++") or shutil.which("clang++")


def signatures(code):
    """``{kernel: [(c type, element type or None), ...]}`` of the ``extern "C"`` kernels: the
    element type is set for pointer parameters (``const float* __restrict__ x`` gives
    ``("const float*", "float")``)."""
    out = {}
    for name, params in _SIGNATURE.findall(code):
        parsed = []
        for p in params.split(","):
            words = p.replace("__restrict__", " ").replace("*", " * ").split()
            if not words:
                continue
            words = words[:-1]  # the parameter's name
            pointer = "*" in words
            base = " ".join(w for w in words if w not in ("const", "*"))
            ctype = " ".join(words).replace(" *", "*")
            parsed.append((ctype, base if pointer else None))
        out[name] = parsed
    return out


_SHARED = re.compile(r"__shared__\s+([\w:<>]+)\s+(\w+)\s*\[([^\]]+)\](?:\s*\[([^\]]+)\])?\s*;")


def instrument_shared(code):
    """``__shared__ T name[N];`` (and ``[N][M]``) as ``static tg_emu::Shared<T, N> name;``:
    shared arrays whose every element access is checked for races between warps (emu.h)."""
    def repl(m):
        t, name, n, k = m.groups()
        kind = f"tg_emu::Shared2<{t}, {n}, {k}>" if k else f"tg_emu::Shared<{t}, {n}>"
        return f"static {kind} {name};"

    out = _SHARED.sub(repl, code)
    if "__shared__" in out:
        raise RuntimeError("emulation: a __shared__ declaration it cannot rewrite (extern or "
                           "initialised shared memory)")
    return out


def _wrapper(code_path, sigs, direct):
    lines = [f'#include "{HEADER}"', f'#include "{code_path}"', ""]
    flag = "true" if direct else "false"
    for name, params in sigs.items():
        casts = ", ".join(f"*({ctype}*)a[{i}]" for i, (ctype, _) in enumerate(params))
        lines.append(f'extern "C" int tg_emu_{name}(const unsigned* g, const unsigned* b, '
                     f"void** a) {{ return tg_emu::launch(g, b, [=] {{ {name}({casts}); }}, "
                     f"{flag}); }}")
    lines.append('extern "C" { const char* tg_emu_race_message = tg_emu::race_message; }')
    return "\n".join(lines) + "\n"


def _cache_dir():
    d = os.environ.get("TENSORGRAD_EMU_CACHE") or os.path.join(tempfile.gettempdir(),
                                                               "tensorgrad-cuda-emu")
    os.makedirs(d, exist_ok=True)
    return d


def library(code):
    """(ctypes library, signatures) of ``code``, compiled once per source text."""
    with open(HEADER) as f:
        key = hashlib.sha256((code + f.read()).encode()).hexdigest()[:20]
    with _lock:
        hit = _libs.get(key)
        if hit is not None:
            return hit
        cxx = compiler()
        if cxx is None:
            raise RuntimeError("emulating CUDA kernels needs a C++17 compiler (g++ or clang++, "
                               "or CXX)")
        sigs = signatures(code)
        d = _cache_dir()
        so = os.path.join(d, f"{key}.so")
        if not os.path.exists(so):
            work = tempfile.mkdtemp(dir=d)
            try:
                src = os.path.join(work, "kernels.cu.inc")
                with open(src, "w") as f:
                    f.write(instrument_shared(code))
                cpp = os.path.join(work, "wrap.cpp")
                with open(cpp, "w") as f:
                    # a source without barriers runs each thread as a plain call
                    direct = "__syncthreads" not in code and "__shfl" not in code
                    f.write(_wrapper(src, sigs, direct))
                tmp_so = os.path.join(work, "lib.so")
                proc = subprocess.run([cxx, *CXX_FLAGS, cpp, "-o", tmp_so],
                                      capture_output=True, text=True)
                if proc.returncode:
                    raise RuntimeError(f"the kernel source does not build for emulation:\n"
                                       f"{proc.stderr[-4000:]}")
                os.replace(tmp_so, so)  # atomic: parallel test workers may race here
            finally:
                shutil.rmtree(work, ignore_errors=True)
        lib = ctypes.CDLL(so)
        _libs[key] = (lib, sigs)
        return lib, sigs


def _check_args(name, params, args):
    if len(args) != len(params):
        raise TypeError(f"kernel {name}: {len(args)} arguments for {len(params)} parameters")
    for i, (a, (ctype, elem)) in enumerate(zip(args, params)):
        if elem is not None:
            want = _SCALARS.get(elem)
            if type(a) is not np.ndarray or (want is not None and a.dtype != want):
                got = a.dtype if isinstance(a, np.ndarray) else type(a).__name__
                raise TypeError(f"kernel {name}: argument {i} ({ctype}) got {got}")
        elif ctype not in _SCALARS:  # a struct, passed by value from a size-1 array
            if type(a) is not np.ndarray or a.size != 1 or a.dtype.names is None:
                raise TypeError(f"kernel {name}: argument {i} ({ctype}) needs a size-1 "
                                f"structured NumPy array, got {type(a).__name__}")
        else:
            want = _SCALARS[ctype]
            if not isinstance(a, np.generic) or a.dtype != want:
                got = a.dtype if isinstance(a, np.generic) else type(a).__name__
                raise TypeError(f"kernel {name}: argument {i} ({ctype}) needs a {want} scalar, "
                                f"got {got}")


def run(code, name, grid, block, args, shared_mem=0):
    """Launch kernel ``name`` of ``code`` on the CPU; arrays are written in place."""
    if shared_mem:
        raise NotImplementedError("emulation: dynamic shared memory is not supported")
    lib, sigs = library(code)
    if name not in sigs:
        raise KeyError(f"no kernel {name} in the source")
    _check_args(name, sigs[name], args)
    keep = []
    ptrs = (ctypes.c_void_p * max(1, len(args)))()
    for i, (a, (_, elem)) in enumerate(zip(args, sigs[name])):
        if elem is not None:
            if not a.flags.c_contiguous:
                raise ValueError(f"kernel {name}: argument {i} is not contiguous")
            cell = ctypes.c_void_p(a.ctypes.data)
        else:
            cell = np.array(a)  # the scalar's or the struct's bytes
        keep.append(cell)
        ptrs[i] = ctypes.addressof(cell) if isinstance(cell, ctypes.c_void_p) else \
            cell.ctypes.data
    g = (ctypes.c_uint * 3)(*grid)
    b = (ctypes.c_uint * 3)(*block)
    status = getattr(lib, f"tg_emu_{name}")(g, b, ptrs)
    if status == 1:
        raise EmulationError(f"kernel {name}: threads of a block wait at a barrier that the "
                             "others never reach (__syncthreads or a shuffle in divergent code)")
    if status == 2:
        message = ctypes.c_char_p.in_dll(lib, "tg_emu_race_message").value.decode()
        raise EmulationError(f"kernel {name}: race on shared memory: {message}")


def _guarded_copy(a):
    """A copy of ``a`` inside a buffer with GUARD bytes of a known pattern on each side."""
    raw = np.full(a.nbytes + 2 * GUARD, _GUARD_BYTE, np.uint8)
    inner = raw[GUARD:GUARD + a.nbytes].view(a.dtype).reshape(a.shape)
    inner[...] = a
    return raw, inner


def _tolerance(dtype):
    return (2e-5, 1e-6) if dtype == np.float32 else (1e-11, 1e-13)


def _same_memory_copies(args, copy):
    """``copy(a)`` for each array argument, one copy for arguments that are the same memory
    (a kernel may get one array for two parameters, e.g. an unused one); None for what is
    passed by value (scalars, structs)."""
    made = {}
    out = []
    for a in args:
        if not isinstance(a, np.ndarray) or a.dtype.names is not None:  # scalars, structs
            out.append(None)
            continue
        key = (a.ctypes.data, a.shape, a.dtype.str)
        for other_key, (other, _) in made.items():
            if other_key != key and np.shares_memory(a, other):
                raise ValueError("emulation: kernel arguments overlap without being the same "
                                 "array")
        if key not in made:
            made[key] = (a, copy(a))
        out.append(made[key][1])
    return out


def compare(code, name, grid, block, shared_mem, args, reference):
    """Run ``reference(grid, block, shared_mem, *copies)`` and the emulated kernel on separate
    copies of ``args``; raise EmulationError where an array differs or a guard byte changed.
    Then write the emulated results into ``args``' arrays."""
    ref_copies = _same_memory_copies(args, np.copy)
    reference(grid, block, shared_mem,
              *[a if c is None else c for a, c in zip(args, ref_copies)])
    guarded = _same_memory_copies(args, _guarded_copy)
    run(code, name, grid, block, [a if g is None else g[1] for a, g in zip(args, guarded)],
        shared_mem)
    for i, (a, r, g) in enumerate(zip(args, ref_copies, guarded)):
        if g is None:
            continue
        raw, got = g
        if (raw[:GUARD] != _GUARD_BYTE).any() or (raw[GUARD + a.nbytes:] != _GUARD_BYTE).any():
            raise EmulationError(f"kernel {name}: wrote outside argument {i} (shape {a.shape})")
        if got.dtype.kind == "f":
            rtol, atol = _tolerance(got.dtype)
            finite = np.abs(r[np.isfinite(r)])
            scale = max(1.0, float(finite.max())) if finite.size else 1.0
            ok = np.isclose(got, r, rtol=rtol, atol=atol * scale, equal_nan=True)
        else:
            ok = got == r
        if not ok.all():
            bad = tuple(np.argwhere(~ok)[:5].T)
            raise EmulationError(
                f"kernel {name}: argument {i} (shape {a.shape}) differs from the reference at "
                f"{np.argwhere(~ok)[:5].tolist()}: kernel {got[bad].tolist()}, reference "
                f"{r[bad].tolist()}")
    for i, (a, g) in enumerate(zip(args, guarded)):
        if g is None or a.tobytes() == g[1].tobytes():
            continue  # inputs (read-only ones among them: broadcast views) stay as they are
        if not a.flags.writeable:
            raise EmulationError(f"kernel {name}: wrote to argument {i}, a read-only array")
        a[...] = g[1]
