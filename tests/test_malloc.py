"""tensorgrad keeps freed host memory for the next step (tensorgrad/backend/malloc.py).

Each case runs in a fresh interpreter, since malloc's settings are the process's: a loop that
allocates and frees what a CNN step does (a dozen 2 MiB arrays, all freed at the end) and
counts the minor page faults of its steady state."""

import json
import os
import subprocess
import sys

import pytest

from tensorgrad.backend import malloc

_LOOP = r"""
import json, resource, sys
import numpy as np
import_tensorgrad = sys.argv[1] == "1"
if import_tensorgrad:
    import tensorgrad
    from tensorgrad.backend import malloc
    status = malloc.STATUS
else:
    status = None

def step():
    arrays = [np.ones(1 << 19, dtype=np.float32) for _ in range(12)]  # 12 x 2 MiB
    return sum(float(a[0]) for a in arrays)

for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20
print(json.dumps({"faults": faults, "status": status}))
"""

_GLIBC = sys.platform.startswith("linux") and os.confstr("CS_GNU_LIBC_VERSION") is not None


def _run(import_tensorgrad, **env):
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("MALLOC_") and k not in ("TENSORGRAD_MALLOC", "GLIBC_TUNABLES")}
    out = subprocess.run([sys.executable, "-c", _LOOP, "1" if import_tensorgrad else "0"],
                         env=dict(clean, **env), capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not _GLIBC, reason="the thresholds are glibc's")
def test_import_keeps_freed_memory_for_the_next_step():
    tuned = _run(True)
    assert tuned["status"].startswith("tuned by tensorgrad"), tuned
    # a step of 12 x 2 MiB would fault ~6,000 pages if it were handed back each time
    assert tuned["faults"] < 50, tuned


@pytest.mark.skipif(not _GLIBC, reason="the thresholds are glibc's")
def test_glibc_defaults_hand_the_memory_back_each_step():
    """What the tuning is for: without it, the same loop faults its pages in every step."""
    plain = _run(False)
    off = _run(True, TENSORGRAD_MALLOC="default")
    assert off["status"] == "glibc defaults (TENSORGRAD_MALLOC=default)"
    assert plain["faults"] > 1000, plain
    assert off["faults"] > 1000, off


@pytest.mark.parametrize("env, reason", [
    ({"TENSORGRAD_MALLOC": "default"}, "TENSORGRAD_MALLOC=default"),
    ({"TENSORGRAD_MALLOC": "DEFAULT"}, "TENSORGRAD_MALLOC=default"),
    ({"MALLOC_TRIM_THRESHOLD_": "0"}, "MALLOC_TRIM_THRESHOLD_ is set"),
    ({"MALLOC_MMAP_THRESHOLD_": "65536"}, "MALLOC_MMAP_THRESHOLD_ is set"),
    ({"MALLOC_ARENA_MAX": "2"}, "MALLOC_ARENA_MAX is set"),
    ({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"}, "GLIBC_TUNABLES sets glibc.malloc"),
])
def test_the_users_own_malloc_settings_win(env, reason, monkeypatch):
    monkeypatch.setattr(malloc, "STATUS", "unchanged")
    assert malloc.tune(env) == f"glibc defaults ({reason})"
    assert malloc.STATUS == f"glibc defaults ({reason})"


def test_unrelated_environment_tunes():
    status = malloc.tune({"GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX512F", "OMP_NUM_THREADS": "1"})
    if _GLIBC:
        assert status.startswith("tuned by tensorgrad"), status
    else:
        assert status.startswith("glibc defaults"), status
