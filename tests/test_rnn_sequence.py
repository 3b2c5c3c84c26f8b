"""The whole-sequence LSTM and GRU primitives (tensorgrad/ops/rnn_sequence.py) behind
``nn.LSTM`` and ``nn.GRU``.

* its answer against the step-by-step composition it replaces (bit for bit on the CPU), on the
  ``device`` fixture, in both directions;
* its three backward paths (the NumPy one reading the activations kept behind the answer, the
  per-step one for other arrays and devices, the composed one under ``create_graph``) against
  each other and against finite differences to second order in both modes;
* the layer: one node per layer and direction, float32 against PyTorch, the path it leaves
  to the step loop (``proj_size``), and the shape errors;
* packed input (``batch_sizes``): the batch shrinks as sequences end, against the
  composition, each sequence alone, finite differences and PyTorch's packed layers.
"""

import re

import numpy as np
import pytest
from devices import close_to_torch, host, put, torch_oracle

import tensorgrad as tg
from tensorgrad.ops import rnn_sequence as rs
from tensorgrad.ops.rnn_sequence import lstm_sequence


def _args(rng, steps=4, batch=3, hidden=2, dtype=np.float64, device="cpu"):
    proj = rng.standard_normal((steps, batch, 4 * hidden))
    h0 = rng.standard_normal((batch, hidden)) * 0.5
    c0 = rng.standard_normal((batch, hidden))
    w = rng.standard_normal((4 * hidden, hidden)) * 0.5
    return [put(a.astype(dtype), device) for a in (proj, h0, c0, w)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reverse", [False, True])
def test_answer_is_the_step_by_step_composition(device, rng, dtype, reverse):
    args = _args(rng, dtype=dtype, device=device)
    ans = lstm_sequence(*args, reverse=reverse)
    ref = rs._composed(*args, reverse=reverse)
    assert ans.shape == (2, 4, 3, 2) and ans.dtype == dtype
    if device == "cpu":
        np.testing.assert_array_equal(ans, ref)
    else:  # the fused cell kernel's reference on the stand-in: same formulas, same order
        np.testing.assert_allclose(host(ans), host(ref), rtol=1e-6, atol=1e-7)
    # the last step's state is the end of the run: step 0 when reversed
    h, c = host(args[1]), host(args[2])
    for t in (range(3, -1, -1) if reverse else range(4)):
        gates = host(args[0])[t] + h @ host(args[3]).T
        hc = host(tg.ops.rnn_cell.lstm_cell(gates, c))
        h, c = hc[:, :2], hc[:, 2:]
    end = 0 if reverse else 3
    np.testing.assert_allclose(host(ans)[:, end], np.stack([h, c]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reverse", [False, True])
def test_the_backward_paths_agree(rng, dtype, reverse, monkeypatch):
    """The in-place NumPy path (activations from behind the answer), the per-step path (what
    other devices and dtypes take; here forced by copying the answer) and the composed rules
    give the same four cotangents."""
    args = _args(rng, steps=6, dtype=dtype)
    ans = lstm_sequence(*args, reverse=reverse)
    acts = rs._saved_behind(ans, 18, 8)  # 6 steps of 3 rows, 4 gates of 2
    assert acts is not None and acts.shape == (18, 8)
    assert rs._saved_behind(ans.copy(), 18, 8) is None
    g = rng.standard_normal(ans.shape).astype(dtype)
    fast = rs._first_order(g, ans, *args, reverse=reverse)  # finds the activations
    steps = rs._first_order(g, ans.copy(), *args, reverse=reverse)  # recomputes the gates
    vjp, _ = tg.make_vjp(lambda *a: rs._composed(*a, reverse=reverse), (0, 1, 2, 3))(*args)
    composed = vjp(g)
    tol = dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
    for a, b, c, arg in zip(fast, steps, composed, args):
        assert a.shape == b.shape == arg.shape and a.dtype == dtype
        np.testing.assert_allclose(a, c, **tol)
        np.testing.assert_allclose(b, c, **tol)
    # and the primitive's rule takes the in-place path for its own answer
    monkeypatch.setattr(rs, "_grads_arrays", None)
    got = tg.make_vjp(lambda *a: lstm_sequence(*a, reverse=reverse), (0, 1, 2, 3))(*args)[0](g)
    for a, b in zip(got, fast):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("reverse", [False, True])
def test_second_order_in_both_modes(device, rng, reverse):
    args = _args(rng, steps=3, batch=2, device=device)
    tg.check_grads(lambda *a: lstm_sequence(*a, reverse=reverse), modes=("fwd", "rev"),
                   order=2)(*args)


def test_each_argument_alone_to_second_order(rng):
    args = _args(rng, steps=3, batch=2)
    for k in range(4):
        def f(a, k=k):
            return lstm_sequence(*args[:k], a, *args[k + 1:])
        tg.check_grads(f, modes=("fwd", "rev"), order=2)(args[k])


def test_double_backward_of_the_layer_against_the_step_loop(rng):
    """create_graph through nn.LSTM (the composed rules) against the same layer run step by
    step with LSTMCell weights: the gradient norm's gradient for every parameter."""
    lstm = tg.nn.LSTM(2, 3, dtype=tg.float64)
    cell = tg.nn.LSTMCell(2, 3, dtype=tg.float64)
    cell.load_state_dict({k[:-3]: v for k, v in lstm.state_dict().items()})
    x = rng.standard_normal((4, 2, 2))

    def penalty(run):
        xt = tg.tensor(x, requires_grad=True)
        (g,) = tg.autograd.grad(run(xt).sum(), [xt], create_graph=True)
        (g * g).sum().backward()
        return xt.grad

    def by_cell(xt):
        h = c = tg.zeros(2, 3, dtype=tg.float64)
        outs = []
        for t in range(4):
            h, c = cell(xt[t], (h, c))
            outs.append(h)
        return tg.stack(outs) * tg.stack(outs)

    a = penalty(lambda xt: lstm(xt)[0] * lstm(xt)[0])
    b = penalty(by_cell)
    np.testing.assert_allclose(host(a), host(b), rtol=1e-10, atol=1e-12)
    for (name, p) in lstm.named_parameters():
        np.testing.assert_allclose(host(p.grad), host(getattr(cell, name[:-3]).grad),
                                   rtol=1e-10, atol=1e-12, err_msg=name)


def test_layer_makes_one_node_per_layer_and_direction(rng, monkeypatch):
    calls = []
    forward = rs._forward_numpy
    monkeypatch.setattr(rs, "_forward_numpy", lambda *a: calls.append(a[4]) or forward(*a))
    m = tg.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    x = tg.tensor(rng.standard_normal((7, 2, 3)).astype(np.float32), requires_grad=True)
    out, (h, c) = m(x)
    assert calls == [False, True, False, True]
    assert out.shape == (7, 2, 8) and h.shape == c.shape == (4, 2, 4)
    out.sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    # the states at the end of each direction: the last step forward, step 0 backward
    np.testing.assert_array_equal(host(h[2]), host(out[-1, :, :4]))
    np.testing.assert_array_equal(host(h[3]), host(out[0, :, 4:]))


def test_projection_keeps_the_step_loop(rng, monkeypatch):
    monkeypatch.setattr(rs, "_forward_numpy", None)  # would fail if called
    m = tg.nn.LSTM(3, 4, proj_size=2)
    out, _ = m(tg.tensor(rng.standard_normal((5, 2, 3))))
    assert out.shape == (5, 2, 2)


# ---- packed input: the batch shrinks as sequences end ----------------------------------------
_SIZES = (4, 4, 3, 1, 1)  # four sequences of lengths 5, 3, 3, 2


def _packed_args(rng, gates, dtype=np.float64, device="cpu", hidden=2):
    rows = sum(_SIZES)
    arrays = [rng.standard_normal((rows, gates * hidden)),
              rng.standard_normal((_SIZES[0], hidden)) * 0.5]
    if gates == 4:
        arrays.append(rng.standard_normal((_SIZES[0], hidden)))
    arrays.append(rng.standard_normal((gates * hidden, hidden)) * 0.5)
    if gates == 3:
        arrays.append(rng.standard_normal(gates * hidden) * 0.5)
    return [put(a.astype(dtype), device) for a in arrays]


_PACKED = {  # kind: (gates, primitive, composition, first-order rule, keyword arguments)
    "lstm": (4, lambda *a, **k: rs.lstm_sequence(*a, **k), rs._composed, rs._first_order, {}),
    "gru": (3, lambda *a, **k: rs.gru_sequence(*a, **k), rs._gru_composed, rs._gru_first_order,
            {}),
    "rnn-tanh": (1, lambda *a, **k: rs.rnn_sequence(*a, **k), rs._rnn_composed,
                 rs._rnn_first_order, {"nonlinearity": "tanh"}),
    "rnn-relu": (1, lambda *a, **k: rs.rnn_sequence(*a, **k), rs._rnn_composed,
                 rs._rnn_first_order, {"nonlinearity": "relu"}),
}


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("kind", sorted(_PACKED))
def test_packed_answer_is_the_shrinking_step_loop(device, rng, kind, reverse):
    """Packed rows (batch_sizes): the answer equals the step-by-step composition on the
    running sequences only (bit for bit on the CPU), and each sequence's rows equal the same
    primitive run on that sequence alone, padded nowhere."""
    gates, prim, composed, _, kw = _PACKED[kind]
    args = _packed_args(rng, gates, device=device)
    kw = dict(kw, reverse=reverse, batch_sizes=_SIZES)
    ans = prim(*args, **kw)
    ref = composed(*args, **kw)
    assert ans.shape[-2:] == (sum(_SIZES), 2)
    # (not bit for bit: a step of one running sequence multiplies a (1, H) row, which
    # tensorgrad's matmul does without BLAS and NumPy's with)
    tol = dict(rtol=1e-12, atol=1e-14) if device == "cpu" else dict(rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(host(ans), host(ref), **tol)
    starts = np.concatenate(([0], np.cumsum(_SIZES)[:-1]))
    for seq, length in enumerate((5, 3, 3, 2)):
        rows = starts[:length] + seq
        alone = [put(host(a)[rows][:, None] if k == 0 else
                     (host(a)[seq:seq + 1] if k < len(args) - (1 if gates != 3 else 2)
                      else host(a)), device) for k, a in enumerate(args)]
        one = prim(*alone, **dict(kw, batch_sizes=None))
        got = host(ans)[..., rows, :]
        np.testing.assert_allclose(got, host(one)[..., 0, :], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("kind", sorted(_PACKED))
def test_packed_backward_paths_agree(rng, kind, reverse):
    gates, prim, composed, first_order, kw = _PACKED[kind]
    args = _packed_args(rng, gates)
    kw = dict(kw, reverse=reverse, batch_sizes=_SIZES)
    ans = prim(*args, **kw)
    g = rng.standard_normal(ans.shape)
    fast = first_order(g, ans, *args, **kw)
    steps = first_order(g, ans.copy(), *args, **kw)
    nums = tuple(range(len(args)))
    vjp, _ = tg.make_vjp(lambda *a: composed(*a, **kw), nums)(*args)
    for a, b, c, arg in zip(fast, steps, vjp(g), args):
        assert a.shape == b.shape == arg.shape
        np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(b, c, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("kind", sorted(_PACKED))
def test_packed_second_order_in_both_modes(device, rng, kind, reverse):
    gates, prim, _, _, kw = _PACKED[kind]
    args = _packed_args(rng, gates, device=device)
    tg.check_grads(lambda *a: prim(*a, **kw, reverse=reverse, batch_sizes=_SIZES),
                   modes=("fwd", "rev"), order=2)(*args)


def test_packed_errors_name_the_op_and_the_sizes(rng):
    args = _packed_args(rng, 4)
    for sizes in ((4, 4, 3, 1), (4, 3, 4, 1, 1), (4, 4, 3, 2, 0)):
        with pytest.raises(ValueError, match=r"lstm_sequence: batch_sizes must be positive, "
                                             r"non-increasing and sum to proj's 13 rows, got "
                                             + re.escape(str(list(sizes)))):
            rs.lstm_sequence(*args, batch_sizes=sizes)
    with pytest.raises(ValueError, match=r"lstm_sequence: packed proj must be \(rows, 4 \* "):
        rs.lstm_sequence(args[0][None], *args[1:], batch_sizes=_SIZES)
    with pytest.raises(ValueError, match=r"lstm_sequence: h0 must have shape \(4, 2\)"):
        rs.lstm_sequence(args[0], args[1][:3], *args[2:], batch_sizes=_SIZES)


@pytest.mark.parametrize("kind, kw", [("LSTM", {}), ("GRU", {}),
                                      ("RNN", {"nonlinearity": "tanh"}),
                                      ("RNN", {"nonlinearity": "relu"})],
                         ids=["LSTM", "GRU", "RNN-tanh", "RNN-relu"])
def test_packed_layers_follow_torch(device, rng, kind, kw, monkeypatch):
    """Unsorted lengths (enforce_sorted=False), two layers, both directions, an initial
    state: the packed output, the final states and every gradient as PyTorch's; one sequence
    primitive per layer and direction."""
    torch = torch_oracle()
    calls = []
    for name in ("lstm_sequence", "gru_sequence", "rnn_sequence"):
        real = getattr(tg.nn.rnn, name)
        monkeypatch.setattr(tg.nn.rnn, name,
                            lambda *a, real=real, **k: calls.append(k) or real(*a, **k))
    kw = dict(kw, num_layers=2, bidirectional=True)
    theirs = getattr(torch.nn, kind)(3, 4, dtype=torch.float64, **kw)
    ours = getattr(tg.nn, kind)(3, 4, dtype=tg.float64, **kw).to(device)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = rng.standard_normal((6, 5, 3))
    lengths = [4, 6, 1, 3, 6]
    states = 2 if kind == "LSTM" else 1
    hx = [rng.standard_normal((4, 5, 4)) for _ in range(states)]
    w = rng.standard_normal((sum(lengths), 8))

    def run(lib, model, put_):
        xs = put_(x).requires_grad_()
        hs = [put_(h).requires_grad_() for h in hx]
        packed = lib.nn.utils.rnn.pack_padded_sequence(xs, lib.tensor(lengths),
                                                        enforce_sorted=False)
        out, hn = model(packed, tuple(hs) if kind == "LSTM" else hs[0])
        finals = list(hn) if kind == "LSTM" else [hn]
        loss = (out.data * put_(w)).sum() + sum((f * f).sum() for f in finals)
        loss.backward()
        return [out.data] + finals + [xs.grad] + [h.grad for h in hs] + \
            [p.grad for p in model.parameters()]

    got = run(tg, ours, lambda a: tg.tensor(a, device=device))
    want = run(torch, theirs, torch.tensor)
    assert [c["batch_sizes"] for c in calls] == [(5, 4, 4, 3, 2, 2)] * 4
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(host(a), b.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("kind, kw", [("LSTM", {}), ("GRU", {}),
                                      ("RNN", {"nonlinearity": "tanh"}),
                                      ("RNN", {"nonlinearity": "relu"})],
                         ids=["LSTM", "GRU", "RNN-tanh", "RNN-relu"])
def test_float32_layers_follow_torch(device, rng, kind, kw, batch_first):
    """A longer float32 sequence, two layers, both directions: values and every gradient."""
    torch = torch_oracle()
    kw = dict(kw, num_layers=2, bidirectional=True, batch_first=batch_first)
    theirs = getattr(torch.nn, kind)(5, 16, **kw)
    ours = getattr(tg.nn, kind)(5, 16, device=device, **kw)
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})
    x = rng.standard_normal((3, 30, 5) if batch_first else (30, 3, 5)).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    xo = tg.tensor(put(x, device), requires_grad=True)
    (out, state), (out_t, state_t) = ours(xo), theirs(xt)
    states = state if kind == "LSTM" else (state,)
    states_t = state_t if kind == "LSTM" else (state_t,)
    tol = dict(rtol=1e-5, atol=1e-5)
    for a, b in zip((out, *states), (out_t, *states_t)):
        close_to_torch(a, b, **tol)
    w = rng.standard_normal(tuple(out_t.shape)).astype(np.float32)
    ((out * tg.tensor(put(w, device))).sum() + states[-1].sum()).backward()
    ((out_t * torch.tensor(w)).sum() + states_t[-1].sum()).backward()
    close_to_torch(xo.grad, xt.grad, **tol)
    mine = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        close_to_torch(mine[name].grad, p.grad, rtol=1e-4, atol=1e-4)


def test_errors_name_the_op_the_argument_and_the_shapes(rng):
    proj, h0, c0, w = _args(rng)
    with pytest.raises(ValueError, match=r"lstm_sequence: proj must be .* got shape \(4, 3, 7\)"):
        lstm_sequence(proj[..., :7], h0, c0, w)
    with pytest.raises(ValueError, match=r"lstm_sequence: c0 must have shape \(3, 2\) .* "
                                         r"got \(2, 2\)"):
        lstm_sequence(proj, h0, c0[:2], w)
    with pytest.raises(ValueError, match=r"lstm_sequence: w_hh must have shape \(8, 2\)"):
        lstm_sequence(proj, h0, c0, w.T)


# ---- GRU --------------------------------------------------------------------------------------
def _gru_args(rng, steps=4, batch=3, hidden=2, dtype=np.float64, device="cpu", bias=True):
    proj = rng.standard_normal((steps, batch, 3 * hidden))
    h0 = rng.standard_normal((batch, hidden)) * 0.5
    w = rng.standard_normal((3 * hidden, hidden)) * 0.5
    b = rng.standard_normal(3 * hidden) if bias else None
    return [None if a is None else put(a.astype(dtype), device) for a in (proj, h0, w, b)]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reverse", [False, True])
def test_gru_answer_is_the_step_by_step_composition(device, rng, dtype, reverse, bias):
    args = _gru_args(rng, dtype=dtype, device=device, bias=bias)
    ans = rs.gru_sequence(*args, reverse=reverse)
    ref = rs._gru_composed(*args, reverse=reverse)
    assert ans.shape == (4, 3, 2) and ans.dtype == dtype
    if device == "cpu":
        np.testing.assert_array_equal(ans, ref)
    else:
        np.testing.assert_allclose(host(ans), host(ref), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reverse", [False, True])
def test_gru_backward_paths_agree(rng, dtype, reverse, bias):
    args = _gru_args(rng, steps=6, dtype=dtype, bias=bias)
    ans = rs.gru_sequence(*args, reverse=reverse)
    saved = rs._saved_behind(ans, 18, 8)
    assert saved is not None and rs._saved_behind(ans.copy(), 18, 8) is None
    g = rng.standard_normal(ans.shape).astype(dtype)
    fast = rs._gru_first_order(g, ans, *args, reverse=reverse)
    steps = rs._gru_first_order(g, ans.copy(), *args, reverse=reverse)
    nums = (0, 1, 2, 3) if bias else (0, 1, 2)
    vjp, _ = tg.make_vjp(lambda p, h, w, b=None: rs._gru_composed(p, h, w, b, reverse=reverse),
                         nums)(*args[:len(nums)])
    composed = list(vjp(g)) + [None] * (4 - len(nums))
    tol = dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
    for a, b, c, arg in zip(fast, steps, composed, args):
        if arg is None:
            assert a is None and b is None
            continue
        assert a.shape == b.shape == arg.shape and a.dtype == dtype
        np.testing.assert_allclose(a, c, **tol)
        np.testing.assert_allclose(b, c, **tol)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("reverse", [False, True])
def test_gru_second_order_in_both_modes(device, rng, reverse, bias):
    args = _gru_args(rng, steps=3, batch=2, device=device, bias=bias)
    n = 4 if bias else 3
    tg.check_grads(lambda *a: rs.gru_sequence(*a, *([None] * (4 - n)), reverse=reverse),
                   modes=("fwd", "rev"), order=2)(*args[:n])


def test_gru_layer_makes_one_node_per_layer_and_direction(rng, monkeypatch):
    calls = []
    forward = rs._gru_forward_numpy
    monkeypatch.setattr(rs, "_gru_forward_numpy",
                        lambda *a: calls.append(a[4]) or forward(*a))
    m = tg.nn.GRU(3, 4, num_layers=2, bidirectional=True, bias=False)
    x = tg.tensor(rng.standard_normal((7, 2, 3)).astype(np.float32), requires_grad=True)
    out, h = m(x)
    assert calls == [False, True, False, True]
    assert out.shape == (7, 2, 8) and h.shape == (4, 2, 4)
    out.sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    np.testing.assert_array_equal(host(h[2]), host(out[-1, :, :4]))
    np.testing.assert_array_equal(host(h[3]), host(out[0, :, 4:]))


def test_gru_errors_name_the_op_the_argument_and_the_shapes(rng):
    proj, h0, w, b = _gru_args(rng)
    with pytest.raises(ValueError, match=r"gru_sequence: proj must be \(steps, batch, 3 \* "):
        rs.gru_sequence(proj[..., :5], h0, w, b)
    with pytest.raises(ValueError, match=r"gru_sequence: b_hh must have shape \(6,\) .* "
                                         r"got \(5,\)"):
        rs.gru_sequence(proj, h0, w, b[:5])
    with pytest.raises(ValueError, match=r"gru_sequence: h0 must have shape \(3, 2\)"):
        rs.gru_sequence(proj, h0[:1], w, b)


# ---- Elman RNN --------------------------------------------------------------------------------
def _rnn_args(rng, steps=4, batch=3, hidden=2, dtype=np.float64, device="cpu"):
    proj = rng.standard_normal((steps, batch, hidden))
    h0 = rng.standard_normal((batch, hidden)) * 0.5
    w = rng.standard_normal((hidden, hidden)) * 0.5
    return [put(a.astype(dtype), device) for a in (proj, h0, w)]


@pytest.mark.parametrize("act", ["tanh", "relu"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reverse", [False, True])
def test_rnn_answer_and_backward_are_the_compositions(device, rng, dtype, reverse, act):
    args = _rnn_args(rng, steps=6, dtype=dtype, device=device)
    kw = dict(nonlinearity=act, reverse=reverse)
    ans = rs.rnn_sequence(*args, **kw)
    ref = rs._rnn_composed(*args, **kw)
    assert ans.shape == (6, 3, 2) and ans.dtype == dtype
    np.testing.assert_array_equal(host(ans), host(ref))
    g = put(rng.standard_normal(ans.shape).astype(dtype), device)
    ours = rs._rnn_first_order(g, ans, *args, **kw)
    vjp, _ = tg.make_vjp(lambda *a: rs._rnn_composed(*a, **kw), (0, 1, 2))(*args)
    tol = dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
    for a, c, arg in zip(ours, vjp(g), args):
        assert a.shape == arg.shape and a.dtype == dtype
        np.testing.assert_allclose(host(a), host(c), **tol)


@pytest.mark.parametrize("act", ["tanh", "relu"])
@pytest.mark.parametrize("reverse", [False, True])
def test_rnn_second_order_in_both_modes(device, rng, reverse, act):
    args = _rnn_args(rng, steps=3, batch=2, device=device)
    tg.check_grads(lambda *a: rs.rnn_sequence(*a, nonlinearity=act, reverse=reverse),
                   modes=("fwd", "rev"), order=2)(*args)


def test_rnn_relu_kink_is_torchs(rng):
    """A pre-activation of exactly 0: relu's derivative there is 0, as PyTorch's."""
    proj = np.zeros((2, 1, 1))
    h0, w = np.zeros((1, 1)), np.ones((1, 1))
    grads = tg.make_vjp(lambda p: rs.rnn_sequence(p, h0, w, nonlinearity="relu"))(proj)[0](
        np.ones((2, 1, 1)))
    np.testing.assert_array_equal(grads, 0.0)


def test_rnn_errors_name_the_op_and_the_argument(rng):
    proj, h0, w = _rnn_args(rng)
    with pytest.raises(ValueError, match=r"rnn_sequence: w_hh must have shape \(2, 2\)"):
        rs.rnn_sequence(proj, h0, w[:1])
    with pytest.raises(ValueError, match="rnn_sequence: nonlinearity must be 'tanh' or 'relu'"):
        rs.rnn_sequence(proj, h0, w, nonlinearity="gelu")


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_per_sample_gradients_under_vmap(rng, kind):
    """vmap(grad) over examples through the sequence primitives (no batching rule of their
    own: the generic one) equals a loop over the examples."""
    m = getattr(tg.nn, kind)(3, 4, dtype=tg.float64)
    params = {k: v.detach() for k, v in m.named_parameters()}
    xs = tg.tensor(rng.standard_normal((5, 6, 2, 3)))

    def loss(p, x):
        out, _ = tg.func.functional_call(m, p, (x,))
        return (out ** 2).sum()

    batched = tg.func.vmap(tg.func.grad(loss), in_dims=(None, 0))(params, xs)
    for i in range(5):
        one = tg.func.grad(loss)(params, xs[i])
        for k in params:
            np.testing.assert_allclose(batched[k].numpy()[i], one[k].numpy(), rtol=1e-12,
                                       atol=1e-14, err_msg=k)


@pytest.mark.parametrize("kind, kw", [("GRU", {"bias": False}), ("LSTM", {}), ("RNN", {})])
def test_backward_leaves_no_cotangents_behind(rng, kind, kw):
    """The rules share one pass through a cache that the last argument's rule empties: a GRU
    without bias (b_hh None) must not leave its cotangents there after backward."""
    from tensorgrad.ops.composed_rules import LAST

    m = getattr(tg.nn, kind)(3, 4, **kw)
    m(tg.tensor(rng.standard_normal((5, 2, 3)).astype(np.float32)))[0].sum().backward()
    assert LAST[0] is None


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_no_grad_keeps_nothing_behind_the_answer(rng, kind):
    """Under no_grad the forward keeps no per-step activations (one step's scratch instead),
    with the same values; a backward of such an answer (were one asked for) would take the
    recomputing path."""
    m = getattr(tg.nn, kind)(3, 4)
    x = tg.tensor(rng.standard_normal((9, 2, 3)).astype(np.float32))
    with tg.no_grad():
        out, _ = m(x)
    ref, _ = m(x)
    np.testing.assert_array_equal(out.numpy(), ref.numpy())
    args = (m.weight_hh_l0.detach().numpy(),)
    proj = tg.nn.functional.linear(x, m.weight_ih_l0, m.bias_ih_l0).detach().numpy()
    h0 = np.zeros((2, 4), np.float32)
    with tg.no_grad():
        if kind == "LSTM":
            ans = rs.lstm_sequence(proj, h0, h0, *args)
        else:
            ans = rs.gru_sequence(proj, h0, *args, None)
    owner = ans if ans.base is None else ans.base
    assert owner.size == ans.size and rs._saved_behind(ans, 18, 16) is None
