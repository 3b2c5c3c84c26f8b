"""The fast paths an unrolled LSTMCell loop takes (benchmarks/test_bench_lstmcell.py):

* the LSTM step's VJP on NumPy arrays (``_lstm_grads_numpy``) against the rule written with
  tensorgrad's ops, bit for bit;
* the VJP of a concatenation of many pieces (offsets memoised per node) against PyTorch,
  including two concatenations that receive the same cotangent object and second order;
* ``linear`` with one input feature (a multiply instead of a GEMM) and its bias cotangent
  summed by the rule, against PyTorch;
* the two-cell model of PyTorch's time-sequence example, values and gradients against PyTorch.
"""

import numpy as np
import pytest
from devices import close_to_torch, host, put, torch_oracle

import tensorgrad as tg
from tensorgrad.ops import rnn_cell

TOL64 = dict(rtol=1e-10, atol=1e-12)


class _Other(np.ndarray):
    """An ndarray subclass: the VJP then takes the rule written with tensorgrad's ops."""


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("lead", [(), (5,), (2, 3)])
def test_lstm_numpy_vjp_is_the_rule_bit_for_bit(dtype, lead):
    rng = np.random.default_rng(0)
    hidden = 7
    gates = (3 * rng.standard_normal(lead + (4 * hidden,))).astype(dtype)
    c_prev = rng.standard_normal(lead + (hidden,)).astype(dtype)
    ans = rnn_cell.lstm_cell(gates, c_prev)
    g = rng.standard_normal(ans.shape).astype(dtype)
    fast = rnn_cell._lstm_grads_numpy(g, ans, gates, c_prev)
    rule = rnn_cell._lstm_grads(g.view(_Other), ans, gates, c_prev)
    for got, want in zip(fast, rule, strict=True):
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, np.asarray(want))


def test_lstm_vjp_takes_the_numpy_path(monkeypatch):
    calls = []
    real = rnn_cell._lstm_grads_numpy
    monkeypatch.setattr(rnn_cell, "_lstm_grads_numpy",
                        lambda *a: calls.append(1) or real(*a))
    cell = tg.nn.LSTMCell(3, 4, dtype=tg.float64)
    h, c = cell(tg.randn(2, 3, dtype=tg.float64))
    (h.sum() + c.sum()).backward()
    assert calls == [1]
    assert cell.weight_hh.grad is not None


def test_cat_of_many_pieces_matches_torch(device):
    torch = torch_oracle()
    rng = np.random.default_rng(1)
    a = [rng.standard_normal((3, k)) for k in rng.integers(1, 4, 40)]
    b = [rng.standard_normal(x.shape) for x in reversed(a)]  # other offsets, same width
    w = rng.standard_normal((3, sum(x.shape[1] for x in a)))
    ours = [tg.tensor(put(x, device), requires_grad=True) for x in a + b]
    theirs = [torch.tensor(x, requires_grad=True) for x in a + b]

    def loss(lib, ts, w):
        # the same cotangent object reaches both concatenations (add passes it through)
        s = lib.cat(ts[:len(a)], dim=1) + lib.cat(ts[len(a):], dim=-1)
        return ((s * w) ** 2).sum()

    loss(tg, ours, tg.tensor(put(w, device))).backward()
    loss(torch, theirs, torch.tensor(w)).backward()
    for x, y in zip(ours, theirs, strict=True):
        close_to_torch(x.grad, y.grad, **TOL64)


def test_cat_backward_second_order_matches_torch():
    torch = torch_oracle()
    rng = np.random.default_rng(2)
    pieces = [rng.standard_normal((2, k)) for k in (1, 3, 2, 1)]
    ours = [tg.tensor(x, requires_grad=True) for x in pieces]
    theirs = [torch.tensor(x, requires_grad=True) for x in pieces]
    g1 = tg.autograd.grad((tg.cat(ours, dim=1) ** 3).sum(), ours, create_graph=True)
    t1 = torch.autograd.grad((torch.cat(theirs, dim=1) ** 3).sum(), theirs, create_graph=True)
    g2 = tg.autograd.grad(sum(g.sum() for g in g1), ours)
    t2 = torch.autograd.grad(sum(g.sum() for g in t1), theirs)
    for x, y in zip(g2, t2, strict=True):
        close_to_torch(x, y, **TOL64)
    tg.check_grads(lambda p, q: tg.cat([p, q], dim=1) ** 2, modes=("fwd", "rev"), order=2)(
        tg.tensor(pieces[0]), tg.tensor(pieces[1]))


@pytest.mark.parametrize("shape", [(5, 1), (2, 3, 1)])
def test_linear_one_feature_matches_torch(device, shape):
    torch = torch_oracle()
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal(shape), rng.standard_normal((4, 1)), rng.standard_normal(4)
    g = rng.standard_normal(shape[:-1] + (4,))
    ours = [tg.tensor(put(v, device), requires_grad=True) for v in (x, w, b)]
    theirs = [torch.tensor(v, requires_grad=True) for v in (x, w, b)]
    out = tg.nn.functional.linear(*ours)
    ref = torch.nn.functional.linear(*theirs)
    np.testing.assert_array_equal(host(out), host(ours[0]) * host(ours[1]).T + b)
    close_to_torch(out, ref, **TOL64)
    out.backward(tg.tensor(put(g, device)))
    ref.backward(torch.tensor(g))
    for p, q in zip(ours, theirs, strict=True):
        close_to_torch(p.grad, q.grad, **TOL64)
    assert ours[2].grad.shape == (4,)
    tg.check_grads(lambda x, w, b: tg.nn.functional.linear(x, w, b), modes=("fwd", "rev"),
                   order=2)(tg.tensor(x), tg.tensor(w), tg.tensor(b))


def test_two_cell_sequence_model_matches_torch():
    torch = torch_oracle()

    def run(lib, cells, linear, x):
        h, c, h2, c2 = (lib.zeros(x.shape[0], 6, dtype=lib.float64) for _ in range(4))
        outs = []
        for x_t in x.split(1, dim=1):
            h, c = cells[0](x_t, (h, c))
            h2, c2 = cells[1](h, (h2, c2))
            outs.append(linear(h2))
        return lib.cat(outs, dim=1)

    torch.manual_seed(0)
    t_cells = [torch.nn.LSTMCell(1, 6).double(), torch.nn.LSTMCell(6, 6).double()]
    t_lin = torch.nn.Linear(6, 1).double()
    cells = [tg.nn.LSTMCell(1, 6, dtype=tg.float64), tg.nn.LSTMCell(6, 6, dtype=tg.float64)]
    lin = tg.nn.Linear(6, 1, dtype=tg.float64)
    for ours, theirs in zip(cells + [lin], t_cells + [t_lin], strict=True):
        ours.load_state_dict({k: v.detach().numpy().copy()
                              for k, v in theirs.state_dict().items()})
    data = np.sin(np.arange(31)[None, :] / 5.0 + np.arange(4)[:, None])
    y = tg.nn.functional.mse_loss(run(tg, cells, lin, tg.tensor(data[:, :-1])),
                                  tg.tensor(data[:, 1:]))
    t_y = torch.nn.functional.mse_loss(run(torch, t_cells, t_lin, torch.tensor(data[:, :-1])),
                                       torch.tensor(data[:, 1:]))
    close_to_torch(y, t_y, **TOL64)
    y.backward()
    t_y.backward()
    for ours, theirs in zip(cells + [lin], t_cells + [t_lin], strict=True):
        for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
            close_to_torch(p.grad, q.grad, **TOL64)
