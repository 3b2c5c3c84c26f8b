"""Every op-table row against PyTorch: forward values and gradients on the same float64 inputs."""

import numpy as np
import pytest
from op_table import CASES, IDS

import tensorgrad as tg

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_matches_torch(case, device, rng):
    xs = case.inputs(rng)
    ts = [tg.tensor(x, device=device, requires_grad=True) for x in xs]
    out = case.fn(*ts)
    txs = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    tout = (case.torch_fn or case.fn)(*txs)

    assert tuple(out.shape) == tuple(tout.shape)
    assert out.dtype == np.float64 and tout.dtype == torch.float64
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-10, atol=1e-12,
                               err_msg="forward values differ from torch")

    v = rng.standard_normal(out.shape)
    out.backward(gradient=tg.tensor(v, device=device))
    tout.backward(gradient=torch.tensor(v, dtype=torch.float64))
    for i, (t, tx) in enumerate(zip(ts, txs, strict=True)):
        expected = np.zeros(xs[i].shape) if tx.grad is None else tx.grad.numpy()
        assert t.grad is not None, f"no gradient reached input {i}"
        assert t.grad.shape == tuple(tx.shape)
        np.testing.assert_allclose(t.grad.numpy(), expected, rtol=1e-9, atol=1e-10,
                                   err_msg=f"gradient of input {i} differs from torch")
