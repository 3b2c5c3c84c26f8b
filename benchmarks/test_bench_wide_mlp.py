"""W4: one SGD step of a wide MLP 1024-4096-4096-10, batch 512, float32.

The same libraries, code and checks as W3 (``test_bench_mlp.build_mlp``); here the matrix
products are large (about 65 GFLOP per step), so every library should sit at the BLAS floor.
"""

import numpy as np
from harness import Workload
from test_bench_mlp import build_mlp

SIZES = (1024, 4096, 4096, 10)
BATCH = 512


def build(check=True, only=None):
    return build_mlp(SIZES, BATCH, check=check, only=only)


WORKLOAD = Workload("W4", "wide MLP 1024-4096-4096-10, batch 512, float32, one SGD step", build,
                    rounds=7)


def test_wide_mlp_all_agree():
    steps = build()
    assert {"numpy", "tensorgrad"} <= set(steps)
    assert np.isfinite(float(np.asarray(steps["numpy"]())))
