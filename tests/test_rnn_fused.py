"""The fused LSTM and GRU steps (tensorgrad/ops/rnn_cell.py, kernels/rnn_cell.cu).

* the cell primitives against the composed step they replace (the CPU values bit for bit) and
  against PyTorch's LSTM/GRU/LSTMCell/GRUCell with copied weights, values and gradients, on the
  ``device`` fixture;
* the primitives to second order in both modes (finite differences), and a double backward
  through the layers against PyTorch's;
* the kernels' NumPy references against PyTorch, and the dispatch on the cuda device: one
  launch per step and direction, none on the CPU, no host synchronisation in a training step.
"""

import sys

import numpy as np
import pytest
import tensorgrad.kernels.reference as ref
from devices import assert_quiet, close_to_torch, host, put, torch_oracle

import tensorgrad as tg
from tensorgrad.backend import cuda as kcuda
from tensorgrad.nn import functional as F
from tensorgrad.ops.rnn_cell import gru_cell, lstm_cell, lstm_cell_hc

TOL64 = dict(rtol=1e-10, atol=1e-12)


def _standin():
    return getattr(sys.modules.get("cupy"), "__cupy_standin__", False)


# The composed steps the primitives replace (tensorgrad's previous nn/rnn.py code).
def _lstm_composed(gates, c):
    n = c.shape[-1]
    i = F.sigmoid(gates[..., :n])
    f = F.sigmoid(gates[..., n:2 * n])
    cand = F.tanh(gates[..., 2 * n:3 * n])
    o = F.sigmoid(gates[..., 3 * n:])
    c = f * c + i * cand
    return o * F.tanh(c), c


def _gru_composed(gi, gh, h):
    n = h.shape[-1]
    r = F.sigmoid(gi[..., :n] + gh[..., :n])
    z = F.sigmoid(gi[..., n:2 * n] + gh[..., n:2 * n])
    cand = F.tanh(gi[..., 2 * n:] + r * gh[..., 2 * n:])
    return cand + z * (h - cand)


def _leaves(arrays, device):
    return [tg.tensor(put(a, device), requires_grad=True) for a in arrays]


def _grads_of(outs, leaves, weights, device):
    loss = sum((o * tg.tensor(put(w, device))).sum() for o, w in zip(outs, weights))
    loss.backward()
    return [host(t.grad) for t in leaves]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lstm_cell_equals_the_composed_step(device, rng, dtype):
    gates = (rng.standard_normal((5, 4 * 6)) * 2).astype(dtype)
    c = rng.standard_normal((5, 6)).astype(dtype)
    w = [rng.standard_normal((5, 6)).astype(dtype) for _ in range(2)]
    fused_in = _leaves([gates, c], device)
    h, c1 = lstm_cell_hc(*fused_in)
    plain_in = _leaves([gates, c], device)
    h0, c0 = _lstm_composed(*plain_in)
    assert h.dtype == dtype and c1.dtype == dtype
    if device == "cpu":  # the same operations in the same order
        np.testing.assert_array_equal(host(h), host(h0))
        np.testing.assert_array_equal(host(c1), host(c0))
    tol = TOL64 if dtype == np.float64 else dict(rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(host(h), host(h0), **tol)
    np.testing.assert_allclose(host(c1), host(c0), **tol)
    for a, b in zip(_grads_of((h, c1), fused_in, w, device),
                    _grads_of((h0, c0), plain_in, w, device)):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gru_cell_equals_the_composed_step(device, rng, dtype):
    arrays = [(rng.standard_normal((4, 3 * 7)) * 2).astype(dtype),
              (rng.standard_normal((4, 3 * 7)) * 2).astype(dtype),
              rng.standard_normal((4, 7)).astype(dtype)]
    w = [rng.standard_normal((4, 7)).astype(dtype)]
    fused_in = _leaves(arrays, device)
    h = gru_cell(*fused_in)
    plain_in = _leaves(arrays, device)
    h0 = _gru_composed(*plain_in)
    if device == "cpu":
        np.testing.assert_array_equal(host(h), host(h0))
    tol = TOL64 if dtype == np.float64 else dict(rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(host(h), host(h0), **tol)
    for a, b in zip(_grads_of((h,), fused_in, w, device), _grads_of((h0,), plain_in, w, device)):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, **tol)


def test_cells_on_raw_arrays_return_arrays(rng):
    gates, c = rng.standard_normal((2, 8)), rng.standard_normal((2, 2))
    out = lstm_cell(gates, c)
    assert type(out) is np.ndarray and out.shape == (2, 4)
    h, c1 = _lstm_composed(tg.tensor(gates), tg.tensor(c))
    np.testing.assert_array_equal(out, np.concatenate([host(h), host(c1)], -1))
    assert type(gru_cell(rng.standard_normal((2, 6)), rng.standard_normal((2, 6)),
                         rng.standard_normal((2, 2)))) is np.ndarray


def test_cells_to_second_order_in_both_modes(device, rng):
    gates = put(rng.standard_normal((2, 4 * 3)), device)
    c = put(rng.standard_normal((2, 3)), device)
    tg.check_grads(lstm_cell, modes=("fwd", "rev"), order=2)(gates, c)
    gi, gh = (put(rng.standard_normal((2, 3 * 3)), device) for _ in range(2))
    h = put(rng.standard_normal((2, 3)), device)
    tg.check_grads(gru_cell, modes=("fwd", "rev"), order=2)(gi, gh, h)


def test_each_argument_alone_to_second_order(rng):
    """The one-pass VJP and the per-argument JVPs, one argument varying at a time."""
    gates, c = rng.standard_normal((2, 8)), rng.standard_normal((2, 2))
    tg.check_grads(lambda a: lstm_cell(a, c), modes=("fwd", "rev"), order=2)(gates)
    tg.check_grads(lambda b: lstm_cell(gates, b), modes=("fwd", "rev"), order=2)(c)
    gi, gh, h = (rng.standard_normal(s) for s in ((3, 6), (3, 6), (3, 2)))
    tg.check_grads(lambda a: gru_cell(a, gh, h), modes=("fwd", "rev"), order=2)(gi)
    tg.check_grads(lambda a: gru_cell(gi, a, h), modes=("fwd", "rev"), order=2)(gh)
    tg.check_grads(lambda a: gru_cell(gi, gh, a), modes=("fwd", "rev"), order=2)(h)


def test_shape_errors_name_the_op_and_the_shapes():
    with pytest.raises(ValueError, match=r"lstm_cell: gates must be \(\.\.\., 4 \* hidden"):
        lstm_cell(np.zeros((2, 7)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"lstm_cell: c_prev must have shape \(2, 2\).*\(3, 2\)"):
        lstm_cell(np.zeros((2, 8)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"gru_cell: gh must have the shape of gi \(2, 6\)"):
        gru_cell(np.zeros((2, 6)), np.zeros((2, 9)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"gru_cell: h_prev must have shape"):
        gru_cell(tg.tensor(np.zeros((2, 6))), np.zeros((2, 6)), np.zeros((2, 3)))


# ---- against PyTorch ------------------------------------------------------------------------
def _copy_weights(ours, theirs, device):
    for name, p in theirs.named_parameters():
        getattr(ours, name).data = put(p.detach().numpy().copy(), device)


def _pair(kind, device, *args, **kw):
    torch = torch_oracle()
    theirs = getattr(torch.nn, kind)(*args, **kw).double()
    ours = getattr(tg.nn, kind)(*args, **kw, dtype=np.float64)
    _copy_weights(ours, theirs, device)
    return ours, theirs


def _check_param_grads(ours, theirs):
    for name, p in theirs.named_parameters():
        close_to_torch(getattr(ours, name).grad, p.grad, **TOL64)


@pytest.mark.parametrize("kw", [dict(), dict(num_layers=2, bidirectional=True),
                                dict(batch_first=True, bias=False)],
                         ids=["plain", "2-layer-bidirectional", "batch_first-nobias"])
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_layers_follow_torch(device, rng, kind, kw):
    torch = torch_oracle()
    ours, theirs = _pair(kind, device, 3, 5, **kw)
    x = rng.standard_normal((4, 6, 3))
    xt = torch.tensor(x, requires_grad=True)
    xo = tg.tensor(put(x, device), requires_grad=True)
    out, state = ours(xo)
    out_t, state_t = theirs(xt)
    close_to_torch(out, out_t, **TOL64)
    states = state if kind == "LSTM" else (state,)
    states_t = state_t if kind == "LSTM" else (state_t,)
    for s, st in zip(states, states_t):
        close_to_torch(s, st, **TOL64)
    w = rng.standard_normal(tuple(out_t.shape))
    loss = (out * tg.tensor(put(w, device))).sum() + sum(s.sum() for s in states)
    loss_t = (out_t * torch.tensor(w)).sum() + sum(s.sum() for s in states_t)
    loss.backward()
    loss_t.backward()
    close_to_torch(xo.grad, xt.grad, **TOL64)
    _check_param_grads(ours, theirs)


@pytest.mark.parametrize("kind", ["LSTMCell", "GRUCell"])
def test_cells_follow_torch(device, rng, kind):
    torch = torch_oracle()
    ours, theirs = _pair(kind, device, 4, 3)
    x = rng.standard_normal((5, 4))
    h = rng.standard_normal((5, 3))
    c = rng.standard_normal((5, 3))
    xt, ht, ct = (torch.tensor(a, requires_grad=True) for a in (x, h, c))
    xo, ho, co = (tg.tensor(put(a, device), requires_grad=True) for a in (x, h, c))
    if kind == "LSTMCell":
        outs, outs_t = ours(xo, (ho, co)), theirs(xt, (ht, ct))
    else:
        outs, outs_t = (ours(xo, ho),), (theirs(xt, ht),)
    w = [rng.standard_normal((5, 3)) for _ in outs]
    sum((o * tg.tensor(put(v, device))).sum() for o, v in zip(outs, w)).backward()
    sum((o * torch.tensor(v)).sum() for o, v in zip(outs_t, w)).backward()
    for o, ot in zip(outs, outs_t):
        close_to_torch(o, ot, **TOL64)
    pairs = [(xo, xt), (ho, ht)] + ([(co, ct)] if kind == "LSTMCell" else [])
    for a, b in pairs:
        close_to_torch(a.grad, b.grad, **TOL64)
    _check_param_grads(ours, theirs)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_double_backward_through_the_layers_follows_torch(device, rng, kind):
    """create_graph: the gradient norm's gradient, through the fused rules' own graph."""
    torch = torch_oracle()
    ours, theirs = _pair(kind, device, 2, 3)
    x = rng.standard_normal((3, 2, 2))
    xo = tg.tensor(put(x, device), requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    (g,) = tg.autograd.grad(ours(xo)[0].sum(), [xo], create_graph=True)
    (gt,) = torch.autograd.grad(theirs(xt)[0].sum(), [xt], create_graph=True)
    (g * g).sum().backward()
    (gt * gt).sum().backward()
    close_to_torch(xo.grad, xt.grad, **TOL64)
    _check_param_grads(ours, theirs)


# ---- the kernels: references, dispatch ----------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_references_follow_torch(rng, dtype):
    torch = torch_oracle()
    rows, hidden = 5, 4
    sfx = kcuda.SUFFIX[np.dtype(dtype)]
    size = (np.int64(rows), np.int64(hidden))
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
    gates = (rng.standard_normal((rows, 4 * hidden)) * 3).astype(dtype)
    gates[0, :4] = [40.0, -40.0, 0.0, 20.0]  # saturated gates
    c = rng.standard_normal((rows, hidden)).astype(dtype)
    g = rng.standard_normal((rows, 2 * hidden)).astype(dtype)
    out = np.empty((rows, 2 * hidden), dtype)
    d_gates, d_c = np.empty_like(gates), np.empty_like(c)
    getattr(ref, f"tg_lstm_cell_fwd_{sfx}")((1,), (256,), 0, gates, c, out, *size)
    getattr(ref, f"tg_lstm_cell_bwd_{sfx}")((3,), (32,), 0, g, gates, c, d_gates, d_c, *size)
    at, ct = torch.tensor(gates, requires_grad=True), torch.tensor(c, requires_grad=True)
    i, f, cand, o = at.chunk(4, -1)
    c1 = torch.sigmoid(f) * ct + torch.sigmoid(i) * torch.tanh(cand)
    h1 = torch.sigmoid(o) * torch.tanh(c1)
    (torch.cat([h1, c1], -1) * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(out, torch.cat([h1, c1], -1).detach().numpy(), **tol)
    np.testing.assert_allclose(d_gates, at.grad.numpy(), **tol)
    np.testing.assert_allclose(d_c, ct.grad.numpy(), **tol)

    gi = (rng.standard_normal((rows, 3 * hidden)) * 3).astype(dtype)
    gh = (rng.standard_normal((rows, 3 * hidden)) * 3).astype(dtype)
    g = rng.standard_normal((rows, hidden)).astype(dtype)
    out = np.empty_like(c)
    d_gi, d_gh, d_h = np.empty_like(gi), np.empty_like(gh), np.empty_like(c)
    getattr(ref, f"tg_gru_cell_fwd_{sfx}")((1,), (64,), 0, gi, gh, c, out, *size)
    getattr(ref, f"tg_gru_cell_bwd_{sfx}")((1,), (64,), 0, g, gi, gh, c, d_gi, d_gh, d_h, *size)
    it, ht_, hp = (torch.tensor(a, requires_grad=True) for a in (gi, gh, c))
    ir, iz, i_n = it.chunk(3, -1)
    hr, hz, hn = ht_.chunk(3, -1)
    r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
    n = torch.tanh(i_n + r * hn)
    h1 = (1 - z) * n + z * hp
    (h1 * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(out, h1.detach().numpy(), **tol)
    for mine, theirs in ((d_gi, it), (d_gh, ht_), (d_h, hp)):
        np.testing.assert_allclose(mine, theirs.grad.numpy(), **tol)


def test_kernel_references_check_their_launches():
    gates, c = np.zeros((2, 8), np.float32), np.zeros((2, 2), np.float32)
    out = np.empty((2, 4), np.float32)
    f = ref.tg_lstm_cell_fwd_f32
    f((1,), (256,), 0, gates, c, out, np.int64(2), np.int64(2))
    bad = [
        ((1,), (256,), 0, gates, c, out, np.int32(2), np.int64(2)),  # rows is a long long
        ((1,), (256,), 0, gates, c, out[:, :2].copy(), np.int64(2), np.int64(2)),  # out too small
        ((1,), (256,), 0, gates.astype(np.float64), c, out, np.int64(2), np.int64(2)),
        ((1,), (256,), 0, gates, np.asfortranarray(np.zeros((2, 3), np.float32))[:, :2], out,
         np.int64(2), np.int64(2)),  # not C-contiguous
        ((1,), (256,), 16, gates, c, out, np.int64(2), np.int64(2)),  # no shared memory
    ]
    for args in bad:
        with pytest.raises(ref.LaunchError):
            f(*args)


def _expect(device, launches, counts):
    if device == "cpu":
        assert launches == []
    else:
        assert {k: launches.count(k) for k in counts} == counts, launches


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_layer_dispatch_one_launch_per_step(device, launches, rng, kind, dtype):
    steps, layers = 5, 2
    m = getattr(tg.nn, kind)(3, 4, num_layers=layers, bidirectional=True, dtype=dtype,
                             device=device)
    x = tg.tensor(put(rng.standard_normal((steps, 2, 3)).astype(dtype), device))
    out, _ = m(x)
    fwd, bwd = f"tg_{kind.lower()}_cell_fwd", f"tg_{kind.lower()}_cell_bwd"
    calls = steps * layers * 2
    _expect(device, launches, {fwd: calls, bwd: 0})
    out.sum().backward()
    _expect(device, launches, {fwd: calls, bwd: calls})
    assert all(p.grad is not None and p.grad.dtype == dtype for p in m.parameters())


def test_cell_dispatch_and_the_composed_rules_on_tensors(device, launches, rng):
    """First-order rules on the device take the backward kernel; create_graph takes the rules
    written with tensorgrad's ops (no backward launch), with the same gradient."""
    gates = tg.tensor(put(rng.standard_normal((3, 8)), device), requires_grad=True)
    c = tg.tensor(put(rng.standard_normal((3, 2)), device), requires_grad=True)
    lstm_cell(gates, c).sum().backward()
    first = host(gates.grad), host(c.grad)
    _expect(device, launches, {"tg_lstm_cell_fwd": 1, "tg_lstm_cell_bwd": 1})
    del launches[:]
    gates.grad = c.grad = None
    g1, g2 = tg.autograd.grad(lstm_cell(gates, c).sum(), [gates, c], create_graph=True)
    _expect(device, launches, {"tg_lstm_cell_fwd": 1, "tg_lstm_cell_bwd": 0})
    np.testing.assert_allclose(host(g1), first[0], **TOL64)
    np.testing.assert_allclose(host(g2), first[1], **TOL64)


def test_mixed_dtypes_take_the_composed_path(device, launches, rng):
    gi = tg.tensor(put(rng.standard_normal((2, 6)).astype(np.float32), device))
    h = tg.tensor(put(rng.standard_normal((2, 2)), device))  # float64
    out = gru_cell(gi, gi, h)
    assert out.dtype == np.float64
    _expect(device, launches, {"tg_gru_cell_fwd": 0})
    # the gates' activations are float32 either way (on cuda F.sigmoid is a float32 kernel)
    np.testing.assert_allclose(host(out), host(_gru_composed(gi, gi, h)), rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not _standin(), reason="counts host synchronisations on the stand-in")
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_training_step_makes_no_host_synchronisation(kind):
    rng = np.random.default_rng(0)
    m = getattr(tg.nn, kind)(3, 4, num_layers=2, device="cuda")
    opt = tg.optim.Adam(m.parameters(), lr=1e-3)
    x = tg.tensor(rng.standard_normal((6, 2, 3)).astype(np.float32), device="cuda")

    def step():
        opt.zero_grad()
        out, _ = m(x)
        (out * out).mean().backward()
        opt.step()

    assert_quiet(step)
