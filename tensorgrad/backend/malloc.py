"""Keep freed host memory for the next training step (glibc only).

glibc's malloc gives the top of its heap back to the OS once more than ``M_TRIM_THRESHOLD``
bytes there are free, and serves blocks above ``M_MMAP_THRESHOLD`` with fresh ``mmap``s. Both
thresholds start low and grow with the largest block freed so far. A training step allocates
its activations and cotangents and frees them all at the end, so once a step frees more than
twice its largest array, every step hands its memory back and the next one faults every page in
again, zeroed by the kernel: a CNN step of batch 32 (``benchmarks/`` W5) took ~3,100 page faults
and twice its compute time on this VM. NumPy written by hand pays the same.

At import, tensorgrad sets both thresholds once for the process: no trimming below 1 GiB of
free heap, ``mmap`` only above 32 MiB (the ceiling glibc's own adaptive threshold reaches). The
memory a step frees then serves the next step. Arrays above 32 MiB still come and go by
``mmap``, so a transient huge array is still returned to the OS.

Nothing is changed where the user has chosen: ``TENSORGRAD_MALLOC=default``, any of glibc's own
``MALLOC_*_`` variables or a ``glibc.malloc`` tunable in ``GLIBC_TUNABLES`` leave malloc alone,
and so does a C library that is not glibc. ``STATUS`` says what happened.
"""

import ctypes
import os
import sys

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
TRIM_THRESHOLD = 1 << 30
MMAP_THRESHOLD = 32 << 20
_USER_VARS = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_",
              "MALLOC_MMAP_MAX_", "MALLOC_ARENA_MAX")

STATUS = "glibc defaults"


def _user_choice(environ):
    """The reason to leave malloc alone that the environment gives, or None."""
    if environ.get("TENSORGRAD_MALLOC", "").lower() == "default":
        return "TENSORGRAD_MALLOC=default"
    for name in _USER_VARS:
        if name in environ:
            return f"{name} is set"
    if "glibc.malloc." in environ.get("GLIBC_TUNABLES", ""):
        return "GLIBC_TUNABLES sets glibc.malloc"
    return None


def tune(environ=os.environ):
    """Set glibc's trim and mmap thresholds (see the module's docstring) unless the
    environment chose otherwise; returns and records ``STATUS``."""
    global STATUS
    reason = _user_choice(environ)
    if reason is not None:
        STATUS = f"glibc defaults ({reason})"
        return STATUS
    if not sys.platform.startswith("linux"):
        return STATUS
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return STATUS
    # glibc only: musl has no such thresholds
    if not (hasattr(libc, "gnu_get_libc_version") and hasattr(libc, "mallopt")):
        return STATUS
    mallopt = libc.mallopt
    if mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) and mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD):
        STATUS = (f"tuned by tensorgrad: no heap trimming below {TRIM_THRESHOLD >> 20} MiB free, "
                  f"mmap above {MMAP_THRESHOLD >> 20} MiB (TENSORGRAD_MALLOC=default: off)")
    return STATUS
