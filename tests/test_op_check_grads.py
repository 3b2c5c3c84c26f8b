"""Every op-table row through ``tg.check_grads``: forward and reverse mode, to second order, on
the function API (duals and variables instead of tensors that require grad)."""

import pytest
from devices import put
from op_table import CASES, IDS

import tensorgrad as tg


def _as_tensor_fn(case):
    def f(*xs):
        return case.fn(*[x if isinstance(x, tg.Tensor) else tg.tensor(x) for x in xs])

    f.__name__ = case.name
    return f


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_check_grads_fwd_and_rev_to_second_order(case, rng, device):
    tg.check_grads(_as_tensor_fn(case), modes=("fwd", "rev"), order=2)(
        *put(list(case.inputs(rng)), device))
