"""sigmoid is 1 / (1 + exp(-x)) everywhere (the primitive, the fused bias+activation and RNN
kernels, their NumPy references): accurate in relative terms in both tails, as PyTorch's. The
form 0.5 * (tanh(x / 2) + 1) it replaces cancelled in the left tail: in float32 it was 2.6% off
at x = -15, and gave 0 at x = -40 (4.2e-18)."""

import warnings

import numpy as np
import pytest
from devices import host

import tensorgrad as tg
import tensorgrad.nn.functional as F

torch = pytest.importorskip("torch")

XS = [-100.0, -80.0, -40.0, -20.0, -15.0, -10.0, -3.0, -1e-3, 0.0, 2.0, 15.0, 40.0, 100.0]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("path", ["tg.sigmoid", "F.sigmoid", "F.silu", "nn.LSTMCell"])
def test_sigmoid_is_accurate_in_both_tails(path, dtype, device):
    x = np.array(XS, dtype=dtype)
    tx = torch.tensor(x)
    eps = np.finfo(dtype).eps
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning for exp(100)
        if path == "tg.sigmoid":
            got, want = tg.sigmoid(tg.tensor(x, device=device)), torch.sigmoid(tx)
        elif path == "F.sigmoid":  # the fused kernel on cuda (its reference on the stand-in)
            got, want = F.sigmoid(tg.tensor(x, device=device)), torch.sigmoid(tx)
        elif path == "F.silu":
            got, want = F.silu(tg.tensor(x, device=device)), torch.nn.functional.silu(tx)
        else:  # the input gate of one LSTM step with weights that pass x through
            cell, tcell = tg.nn.LSTMCell(1, 1), torch.nn.LSTMCell(1, 1)
            if dtype == "float64":
                cell, tcell = cell.double(), tcell.double()
            state = {"weight_ih": np.ones((4, 1)), "weight_hh": np.zeros((4, 1)),
                     "bias_ih": np.zeros(4), "bias_hh": np.zeros(4)}
            cell.load_state_dict({k: tg.tensor(v.astype(dtype)) for k, v in state.items()})
            tcell.load_state_dict({k: torch.tensor(v.astype(dtype)) for k, v in state.items()})
            cell.to(device)
            h, c = cell(tg.tensor(x[:, None], device=device))
            th, tc = tcell(tx[:, None])
            # c = i * g with i = sigmoid(x), g = tanh(x): relative accuracy of the gate
            got, want = c, tc
    got = host(got.data) if isinstance(got, tg.Tensor) else host(got)
    want = want.detach().numpy()
    assert got.dtype == want.dtype
    tiny = np.finfo(dtype).tiny
    normal = np.abs(want) > tiny  # denormal results: absolute agreement only
    np.testing.assert_allclose(got[normal], want[normal], rtol=16 * eps, atol=0)
    np.testing.assert_allclose(got[~normal], want[~normal], atol=16 * tiny, rtol=0)


def test_sigmoid_gradient_in_the_tail_matches_torch(device):
    x = np.array([-30.0, -12.0, 0.5, 30.0])
    xt = torch.tensor(x, requires_grad=True)
    torch.sigmoid(xt).sum().backward()
    xg = tg.tensor(x, device=device, requires_grad=True)
    tg.sigmoid(xg).sum().backward()
    np.testing.assert_allclose(host(xg.grad.data), xt.grad.numpy(), rtol=1e-13, atol=0)
    tg.check_grads(tg.sigmoid, modes=("fwd", "rev"), order=2)(tg.tensor([-8.0, 0.3, 5.0],
                                                                        device=device))
