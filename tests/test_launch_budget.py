"""How many device arrays one training step creates on the cuda device: a count, not a time.

On a GPU tensorgrad's training step is bound by host time per launch (CuPy's dispatch plus the
tape), so every device array a step creates costs host time there. The strict CuPy stand-in
counts them here, without a GPU: each array that owns new memory is one kernel launch (or one
allocation) on a real GPU, and each view is one more CuPy call. The budgets below are what the
step costs now; a change that adds launches to the hot path fails here, and should lower the
budget when it removes some. The hand-written CuPy step (benchmarks/cupy_mlp.py) is the floor.

Only collected on the stand-in (tests/conftest.py): on a real GPU nothing counts arrays.
"""

import sys

import numpy as np
import pytest
from cupy_standin import _core

import tensorgrad as tg
import tensorgrad.nn.functional as F

sys.path.insert(0, __file__.rsplit("/tests/", 1)[0] + "/benchmarks")
import cupy_mlp  # noqa: E402

SIZES = (784, 256, 256, 10)
BATCH = 64
# (arrays that own new memory, all arrays including views) per step
TENSORGRAD_BUDGET = (21, 35)
HAND_WRITTEN = (23, 28)


@pytest.fixture
def count(monkeypatch):
    seen = {"own": 0, "all": 0}
    real = _core._track

    def track(obj):
        seen["all"] += 1
        seen["own"] += obj._a.base is None
        real(obj)

    monkeypatch.setattr(_core, "_track", track)
    return seen


def _data():
    import cupy

    params = cupy_mlp.init_params(0, SIZES, xp=cupy)
    x, y = cupy_mlp.make_batch(1, BATCH, SIZES, xp=cupy)
    return params, x, y


def _measure(count, step):
    for _ in range(2):  # warm-up: the optimizer lays its flat buffers out on the first step
        step()
    count["own"] = count["all"] = 0
    step()
    return count["own"], count["all"]


def test_mlp_sgd_step_launch_budget(count):
    data, x, y = _data()
    params = [tg.tensor(p, requires_grad=True) for p in data]
    tx, ty = tg.tensor(x), tg.tensor(y)
    opt = tg.optim.SGD(params, lr=0.01)

    losses = []

    def step():
        opt.zero_grad()
        w1, b1, w2, b2, w3, b3 = params
        h = (tx @ w1 + b1).relu()
        h = (h @ w2 + b2).relu()
        loss = F.cross_entropy(h @ w3 + b3, ty)
        loss.backward()
        opt.step()
        losses.append(loss.detach())

    own, every = _measure(count, step)
    assert own <= TENSORGRAD_BUDGET[0], f"{own} launches per step (budget {TENSORGRAD_BUDGET})"
    assert every <= TENSORGRAD_BUDGET[1], f"{every} arrays per step (budget {TENSORGRAD_BUDGET})"
    # and the step still trains: the loss went down over the three steps
    first, last = (float(v.item()) for v in (losses[0], losses[-1]))
    assert np.isfinite(first) and last < first


def test_hand_written_floor_is_what_the_budget_says(count):
    """The floor the budget is compared with in the docs, measured the same way."""
    params, x, y = _data()
    assert _measure(count, lambda: cupy_mlp.train_step(params, x, y, 0.01)) == HAND_WRITTEN
