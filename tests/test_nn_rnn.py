"""nn.RNN / LSTM / GRU, their cells and tg.nn.utils.rnn on every device: values and gradients
(input, initial state, every parameter) against PyTorch CPU in float64 with copied weights, for
every option (layers, directions, batch_first, hx, unbatched, packed sequences with unsorted
lengths, proj_size); second-order derivatives against finite differences; dropout between
layers; state_dict and repr parity; initialisation; errors; a small LSTM that learns."""

import math
import warnings

import numpy as np
import pytest
from devices import fit, host, on, put
from nn_helpers import TOL, check_backward, compare_params, copy_weights, leaf

import tensorgrad as tg
from tensorgrad.nn.utils import rnn as rnn_utils

torch = pytest.importorskip("torch")
I, H = 3, 4  # input and hidden sizes of the comparisons


def _pair(mode, device, **kw):
    """(ours, PyTorch's) with the same float64 weights."""
    torch.manual_seed(0)
    if mode.startswith("RNN_"):
        kw = dict(kw, nonlinearity=mode[4:].lower())
        mode = "RNN"
    ref = getattr(torch.nn, mode)(I, H, dtype=torch.float64, **kw)
    mod = getattr(tg.nn, mode)(I, H, device=device, dtype=np.float64, **kw)
    copy_weights(mod, ref, device)
    return mod, ref


def _as_tensor(v):
    """check_grads hands raw arrays on the plain passes; the modules take Tensors."""
    return v if isinstance(v, tg.Tensor) else tg.tensor(v)


def _flat(state):
    """h_n, or the pair (h_n, c_n), as a list."""
    return list(state) if isinstance(state, tuple) else [state]


MODES = ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"]
CASES = {  # name: (constructor options, forward options)
    "one_layer": ({}, {}),
    "two_layers_bidirectional_hx": ({"num_layers": 2, "bidirectional": True}, {"hx": True}),
    "batch_first_hx": ({"batch_first": True}, {"hx": True}),
    "no_bias_two_layers": ({"bias": False, "num_layers": 2}, {}),
    "unbatched_hx": ({"num_layers": 2}, {"unbatched": True, "hx": True}),
    "unbatched_bidirectional": ({"bidirectional": True}, {"unbatched": True}),
    "packed_unsorted_hx": ({"num_layers": 2, "bidirectional": True},
                           {"packed": [3, 5, 1, 4], "hx": True}),
    "packed_sorted_batch_first": ({"batch_first": True, "bidirectional": True},
                                  {"packed": [5, 4, 4, 2], "sorted": True}),
}


def _state_leaves(arrays, leaves, device):
    """(ours, PyTorch's) initial state of leaves of ``arrays`` (h, or h and c: a pair), the
    leaf pairs appended to ``leaves``."""
    pairs = [(leaf(a, device), torch.tensor(a, requires_grad=True)) for a in arrays]
    leaves += pairs
    if len(pairs) == 2:
        return tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)
    return pairs[0]


def _run_case(mode, copts, fopts, device, rng):
    mod, ref = _pair(mode, device, **copts)
    n, length = 4, 5
    dirs = 2 if copts.get("bidirectional") else 1
    states = dirs * copts.get("num_layers", 1)
    out_h = copts.get("proj_size") or H
    unbatched = fopts.get("unbatched", False)
    batch_first = copts.get("batch_first", False)
    if unbatched:
        shape = (length, I)
    else:
        shape = (n, length, I) if batch_first else (length, n, I)
    x = rng.standard_normal(shape)
    xs = leaf(x, device)
    xr = torch.tensor(x, requires_grad=True)
    hx_t = hx_r = None
    leaves = [(xs, xr)]
    if fopts.get("hx"):
        hshape = (states, out_h) if unbatched else (states, n, out_h)
        cshape = (states, H) if unbatched else (states, n, H)
        arrays = [rng.standard_normal(hshape)]
        if mode == "LSTM":
            arrays.append(rng.standard_normal(cshape))
        hx_t, hx_r = _state_leaves(arrays, leaves, device)
    lengths = fopts.get("packed")
    inp_t, inp_r = xs, xr
    if lengths is not None:
        sort = not fopts.get("sorted", False)
        inp_t = rnn_utils.pack_padded_sequence(xs, lengths, batch_first=batch_first,
                                               enforce_sorted=not sort)
        inp_r = torch.nn.utils.rnn.pack_padded_sequence(xr, lengths, batch_first=batch_first,
                                                        enforce_sorted=not sort)
    out, state = mod(inp_t, hx_t)
    ref_out, ref_state = ref(inp_r, hx_r)
    if lengths is not None:
        assert isinstance(out, rnn_utils.PackedSequence)
        assert out.batch_sizes.tolist() == ref_out.batch_sizes.tolist()
        out, ref_out = out.data, ref_out.data
    state, ref_state = _flat(state), _flat(ref_state)
    assert len(state) == len(ref_state)
    outputs = [(out, ref_out)] + list(zip(state, ref_state, strict=True))
    check_backward(outputs, leaves, device, rng)
    compare_params(mod, ref, ordered=True)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_recurrent_matches_torch(mode, case, device, rng):
    copts, fopts = CASES[case]
    _run_case(mode, copts, fopts, device, rng)


@pytest.mark.parametrize("case", ["two_layers_bidirectional_hx", "packed_unsorted_hx",
                                  "unbatched_hx"])
def test_lstm_proj_size_matches_torch(case, device, rng):
    copts, fopts = CASES[case]
    _run_case("LSTM", dict(copts, proj_size=2), fopts, device, rng)


CELLS = {"RNNCell": {}, "RNNCell_relu": {"nonlinearity": "relu"}, "LSTMCell": {},
         "GRUCell": {}}


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("form", ["batched", "batched_hx", "unbatched_hx", "no_bias"])
def test_cells_match_torch(cell, form, device, rng):
    kw = dict(CELLS[cell])
    name = cell.split("_")[0]
    if form == "no_bias":
        kw["bias"] = False
    torch.manual_seed(0)
    ref = getattr(torch.nn, name)(I, H, dtype=torch.float64, **kw)
    mod = getattr(tg.nn, name)(I, H, device=device, dtype=np.float64, **kw)
    copy_weights(mod, ref, device)
    batch = () if form == "unbatched_hx" else (3,)
    x = rng.standard_normal(batch + (I,))
    leaves = [(leaf(x, device), torch.tensor(x, requires_grad=True))]
    hx_t = hx_r = None
    if form.endswith("_hx"):
        k = 2 if name == "LSTMCell" else 1
        arrays = [rng.standard_normal(batch + (H,)) for _ in range(k)]
        hx_t, hx_r = _state_leaves(arrays, leaves, device)
    outs = _flat(mod(leaves[0][0], hx_t))
    refs = _flat(ref(leaves[0][1], hx_r))
    check_backward(list(zip(outs, refs, strict=True)), leaves, device, rng)
    compare_params(mod, ref, ordered=True)


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_derivatives_second_order(mode, device, rng):
    """Input, initial state and a recurrent weight, to second order in both modes."""
    mod = getattr(tg.nn, mode)(2, 2, device=device, dtype=np.float64)
    x = put(rng.standard_normal((3, 1, 2)), device)
    h0 = put(rng.standard_normal((1, 1, 2)) * 0.5, device)
    w_hh = put(host(mod.weight_hh_l0).copy(), device)

    def f(x, h0, w_hh):
        x, h0, w_hh = (_as_tensor(v) for v in (x, h0, w_hh))
        hx = (h0, h0 * 0.5) if mode == "LSTM" else h0
        out, _ = tg.func.functional_call(mod, {"weight_hh_l0": w_hh}, (x, hx))
        return out

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(x, h0, w_hh)


def test_packed_derivatives_second_order(device, rng):
    mod = tg.nn.GRU(2, 2, bidirectional=True, device=device, dtype=np.float64)
    x = put(rng.standard_normal((3, 2, 2)), device)

    def f(x):
        x = _as_tensor(x)
        packed = rnn_utils.pack_padded_sequence(x, [2, 3], enforce_sorted=False)
        out, h = mod(packed)
        return tg.cat([out.data.reshape(-1), h.reshape(-1)])

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(x)


def test_dropout_between_layers(device, rng):
    x = put(rng.standard_normal((5, 3, I)), device)
    mod, ref = _pair("LSTM", device, num_layers=2, dropout=0.5)
    mod.eval()
    ref.eval()  # eval: no dropout, as PyTorch
    out, _ = mod(tg.tensor(x))
    np.testing.assert_allclose(host(out), ref(torch.tensor(host(x)))[0].detach().numpy(), **TOL)
    mod.train()
    tg.manual_seed(1)
    train_a = host(mod(tg.tensor(x))[0])
    train_b = host(mod(tg.tensor(x))[0])
    assert not np.allclose(train_a, host(out))  # dropout acts in training
    assert not np.allclose(train_a, train_b)  # a fresh mask each call
    # p = 1 drops every input of layer 2: deterministic, and equal to PyTorch's
    mod, ref = _pair("GRU", device, num_layers=2, dropout=1.0)
    out = mod(tg.tensor(x))[0]
    np.testing.assert_allclose(host(out), ref(torch.tensor(host(x)))[0].detach().numpy(), **TOL)
    # one layer: nothing between layers to drop (PyTorch warns about it, as here)
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        one, _ = _pair("RNN_TANH", device, dropout=0.5)
    np.testing.assert_allclose(host(one(tg.tensor(x))[0]), host(one.eval()(tg.tensor(x))[0]),
                               **TOL)


LAYOUTS = [("RNN", {}), ("RNN", {"num_layers": 3, "bidirectional": True, "bias": False}),
           ("LSTM", {"num_layers": 2, "bidirectional": True}),
           ("LSTM", {"num_layers": 2, "proj_size": 2, "bidirectional": True}),
           ("GRU", {"num_layers": 2, "batch_first": True, "dropout": 0.25}),
           ("RNN", {"nonlinearity": "relu", "num_layers": 2})]


@pytest.mark.parametrize("mode,kw", LAYOUTS)
def test_state_dict_and_repr_parity(mode, kw):
    ours = getattr(tg.nn, mode)(5, 6, **kw)
    theirs = getattr(torch.nn, mode)(5, 6, **kw)
    mine = [(k, tuple(v.shape)) for k, v in ours.state_dict().items()]
    ref = [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert mine == ref
    assert repr(ours) == repr(theirs)
    # PyTorch's state_dict loads into ours and back
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    theirs.load_state_dict({k: torch.tensor(host(v)) for k, v in ours.state_dict().items()})
    assert len(ours.all_weights) == len(theirs.all_weights)


@pytest.mark.parametrize("cell,kw", [("RNNCell", {"nonlinearity": "relu"}), ("LSTMCell", {}),
                                     ("GRUCell", {"bias": False})])
def test_cell_state_dict_and_repr_parity(cell, kw):
    ours = getattr(tg.nn, cell)(5, 6, **kw)
    theirs = getattr(torch.nn, cell)(5, 6, **kw)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("module", ["LSTM", "GRUCell"])
def test_initialisation_uniform(module, device):
    hidden = 64
    mod = getattr(tg.nn, module)(32, hidden, device=device)
    bound = 1 / math.sqrt(hidden)
    values = np.concatenate([host(p).ravel() for p in mod.parameters()])
    assert all(on(p, device) and p.dtype == np.float32 for p in mod.parameters())
    assert values.min() >= -bound and values.max() <= bound
    assert abs(values.std() - bound / math.sqrt(3)) < 0.05 * bound
    assert abs(values.mean()) < 0.02 * bound


def test_errors(device):
    x = tg.tensor(put(np.zeros((5, 2, 3)), device))
    with pytest.raises(RuntimeError, match=r"LSTM: input.size\(-1\) must be equal to "
                                           r"input_size. Expected 4, got 3"):
        tg.nn.LSTM(4, 2, device=device)(x.float())
    with pytest.raises(ValueError, match=r"GRU: Expected input to be 2D or 3D, got 4D"):
        tg.nn.GRU(3, 2, device=device)(x.reshape(5, 2, 3, 1))
    with pytest.raises(RuntimeError, match=r"RNN: Expected hidden size \(2, 2, 4\), got "
                                           r"\[1, 2, 4\]"):
        tg.nn.RNN(3, 4, num_layers=2, device=device, dtype=np.float64)(
            x, tg.tensor(put(np.zeros((1, 2, 4)), device)))
    with pytest.raises(RuntimeError, match=r"LSTM: Expected hidden\[1\] size \(1, 2, 4\)"):
        h = tg.tensor(put(np.zeros((1, 2, 4)), device))
        tg.nn.LSTM(3, 4, device=device, dtype=np.float64)(x, (h, h[:, :1]))
    with pytest.raises(RuntimeError, match=r"GRU: For batched 3-D input, h_0 should also be "
                                           r"3-D but got 2-D"):
        tg.nn.GRU(3, 4, device=device, dtype=np.float64)(x, tg.tensor(put(np.zeros((2, 4)),
                                                                              device)))
    with pytest.raises(TypeError, match=r"LSTM: hx must be a tuple \(h_0, c_0\)"):
        tg.nn.LSTM(3, 4, device=device, dtype=np.float64)(x, x)
    with pytest.raises(RuntimeError, match=r"GRUCell: input has inconsistent input_size: got "
                                           r"3 expected 5"):
        tg.nn.GRUCell(5, 4, device=device, dtype=np.float64)(x[0])
    with pytest.raises(RuntimeError, match=r"LSTMCell: hidden1 has inconsistent shape "
                                           r"\(2, 3\), expected \(2, 4\)"):
        h = tg.tensor(put(np.zeros((2, 4)), device))
        tg.nn.LSTMCell(3, 4, device=device, dtype=np.float64)(x[0], (h, h[:, :3]))
    with pytest.raises(ValueError, match="RNNCell: Expected input to be 1D or 2D, got 3D"):
        tg.nn.RNNCell(3, 4, device=device, dtype=np.float64)(x)
    with pytest.raises(ValueError, match="proj_size argument is only supported for LSTM"):
        tg.nn.GRU(3, 4, proj_size=2)
    with pytest.raises(ValueError, match=r"proj_size \(4\) has to be smaller than hidden_size"):
        tg.nn.LSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match="Unknown nonlinearity 'sigmoid'"):
        tg.nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match=r"dropout should be a number in range \[0, 1\]"):
        tg.nn.LSTM(3, 4, num_layers=2, dropout=1.5)


# ---- tg.nn.utils.rnn ------------------------------------------------------------------------
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_sequence_matches_torch(batch_first, side, device, rng):
    arrays = [rng.standard_normal((n, 2)) for n in (3, 5, 1)]
    ours = [leaf(a, device) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = rnn_utils.pad_sequence(ours, batch_first=batch_first, padding_value=-1.5,
                                 padding_side=side)
    ref = torch.nn.utils.rnn.pad_sequence(theirs, batch_first=batch_first, padding_value=-1.5,
                                          padding_side=side)
    check_backward([(out, ref)], zip(ours, theirs, strict=True), device, rng)
    if side == "right":
        back = rnn_utils.unpad_sequence(out, [3, 5, 1], batch_first=batch_first)
        for a, b in zip(back, arrays, strict=True):
            np.testing.assert_allclose(host(a), b, **TOL)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("lengths,enforce_sorted", [([5, 3, 3, 1], True),
                                                    ([2, 5, 1, 4], False)])
def test_pack_and_pad_match_torch(batch_first, lengths, enforce_sorted, device, rng):
    shape = (4, 5, 2) if batch_first else (5, 4, 2)
    x = rng.standard_normal(shape)
    xs = leaf(x, device)
    xr = torch.tensor(x, requires_grad=True)
    packed = rnn_utils.pack_padded_sequence(xs, lengths, batch_first=batch_first,
                                            enforce_sorted=enforce_sorted)
    ref = torch.nn.utils.rnn.pack_padded_sequence(xr, torch.tensor(lengths),
                                                  batch_first=batch_first,
                                                  enforce_sorted=enforce_sorted)
    assert on(packed.data, device)
    np.testing.assert_allclose(host(packed.data), ref.data.detach().numpy(), **TOL)
    assert packed.batch_sizes.device.type == "cpu"
    assert packed.batch_sizes.tolist() == ref.batch_sizes.tolist()
    for mine, theirs in ((packed.sorted_indices, ref.sorted_indices),
                         (packed.unsorted_indices, ref.unsorted_indices)):
        if theirs is None:
            assert mine is None
        else:
            assert on(mine, device) and host(mine).tolist() == theirs.tolist()
    padded, lens = rnn_utils.pad_packed_sequence(packed, batch_first=batch_first,
                                                 padding_value=2.0, total_length=6)
    ref_padded, ref_lens = torch.nn.utils.rnn.pad_packed_sequence(
        ref, batch_first=batch_first, padding_value=2.0, total_length=6)
    assert lens.device.type == "cpu" and lens.tolist() == ref_lens.tolist() == lengths
    check_backward([(padded, ref_padded)], [(xs, xr)], device, rng)


def test_pack_sequence_round_trip(device, rng):
    arrays = [rng.standard_normal((n, 3)) for n in (2, 4, 3)]
    seqs = [tg.tensor(put(a, device)) for a in arrays]
    packed = rnn_utils.pack_sequence(seqs, enforce_sorted=False)
    ref = torch.nn.utils.rnn.pack_sequence([torch.tensor(a) for a in arrays],
                                           enforce_sorted=False)
    np.testing.assert_allclose(host(packed.data), ref.data.numpy(), **TOL)
    for a, b in zip(rnn_utils.unpack_sequence(packed), arrays, strict=True):
        assert on(a, device)
        np.testing.assert_allclose(host(a), b, **TOL)
    moved = packed.to(np.float32)
    assert moved.data.dtype == np.float32 and moved.batch_sizes is packed.batch_sizes


def test_packing_errors(device):
    x = tg.tensor(put(np.zeros((4, 3, 2)), device))
    with pytest.raises(RuntimeError, match="must be sorted in decreasing order"):
        rnn_utils.pack_padded_sequence(x, [2, 4, 1])
    with pytest.raises(RuntimeError, match="greater than 0"):
        rnn_utils.pack_padded_sequence(x, [4, 2, 0])
    with pytest.raises(ValueError, match=r"expected 3 lengths for an input of shape \(4, 3, 2\)"):
        rnn_utils.pack_padded_sequence(x, [4, 2])
    with pytest.raises(RuntimeError, match=r"a length of 5 exceeds the 4 time steps"):
        rnn_utils.pack_padded_sequence(x, [5, 2, 1])
    packed = rnn_utils.pack_padded_sequence(x, [4, 2, 1])
    with pytest.raises(ValueError, match=r"total_length=3 and max sequence length being 4"):
        rnn_utils.pad_packed_sequence(packed, total_length=3)
    with pytest.raises(RuntimeError, match=r"sequences\[1\] has shape \(2, 3\)"):
        rnn_utils.pad_sequence([x[0], tg.tensor(put(np.zeros((2, 3)), device))])


def test_utils_rnn_import_paths():
    import tensorgrad.nn.utils.rnn as by_path
    from tensorgrad.nn.utils import clip_grad_norm_
    from tensorgrad.nn.utils.rnn import PackedSequence

    assert by_path is tg.nn.utils.rnn and PackedSequence is by_path.PackedSequence
    assert clip_grad_norm_ is tg.nn.utils.clip_grad_norm_


def test_lstm_learns_a_sequence_task(device, rng):
    """Predict, at each step, the sum of the inputs so far (needs the state)."""
    tg.manual_seed(0)

    class Net(tg.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = tg.nn.LSTM(1, 12, batch_first=True, device=device)
            self.head = tg.nn.Linear(12, 1, device=device)

        def forward(self, x):
            return self.head(self.lstm(x)[0])

    x = rng.uniform(-1, 1, (16, 6, 1)).astype(np.float32)
    y = np.cumsum(x, axis=1).astype(np.float32)
    model = Net()
    opt = tg.optim.Adam(model.parameters(), lr=0.03)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        losses = fit(model, opt, tg.nn.functional.mse_loss, tg.tensor(put(x, device)),
                     tg.tensor(put(y, device)), steps=80)
    assert losses[-1] < 0.1 * losses[0], losses[::10]
