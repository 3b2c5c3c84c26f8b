"""Regressions found by running programs of pytorch/examples under tensorgrad (their import lines
changed, nothing else). Each test is a small program of ours in the same style, run under both
libraries with the same float64 weights and compared to 1e-10 on every device.

- a polynomial fit whose report formats 0-d tensors (``'{:+.2f}'.format(w[0])``): regression
- an LSTM classifier with ``nn.Dropout2d`` on its 2-D last hidden state: mnist_rnn
- ``import torch.onnx`` kept for an export behind a flag: word_language_model
"""

import importlib
import warnings

import numpy as np
import pytest
from devices import host, put, torch_oracle

import tensorgrad as tg

torch = torch_oracle()


def _copy_weights(ours, theirs, device):
    """theirs' float64 parameters into ours (same names), on ``device``."""
    with tg.no_grad():
        for name, p in ours.named_parameters():
            p.copy_(tg.tensor(put(theirs.get_parameter(name).detach().numpy(), device)))


# ---- regression: 0-d tensors in format strings -------------------------------------------------
def _describe(w, b):
    text = "y = "
    for i, wi in enumerate(w):
        text += f"{wi:+.6f} x^{i + 1} "
    return text + f"{b[0]:+.6f}"


def test_polynomial_fit_report_formats_scalars_as_torch(device):
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((5, 16))
    target_w, target_b = rng.standard_normal(4), 0.7

    def run(lib, fc, dev):
        losses = []
        for x in xs:
            feats = np.stack([x ** k for k in range(1, 5)], 1)
            bx = lib.tensor(put(feats, dev) if lib is tg else feats)
            by = lib.tensor(put(feats @ target_w[:, None] + target_b, dev) if lib is tg
                            else feats @ target_w[:, None] + target_b)
            fc.zero_grad()
            loss = lib.nn.functional.smooth_l1_loss(fc(bx), by)
            loss.backward()
            with lib.no_grad():
                for p in fc.parameters():
                    p.add_(-0.1 * p.grad)
            losses.append(loss.item())
        return losses, _describe(fc.weight.view(-1), fc.bias), fc

    ref_fc = torch.nn.Linear(4, 1).double()
    our_fc = tg.nn.Linear(4, 1).double().to(device)
    _copy_weights(our_fc, ref_fc, device)
    ours, our_text, _ = run(tg, our_fc, device)
    theirs, their_text, _ = run(torch, ref_fc, "cpu")
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(host(our_fc.weight.detach()), ref_fc.weight.detach().numpy(),
                               rtol=1e-10, atol=1e-12)
    assert our_text == their_text and our_text.startswith("y = ") and "x^4" in our_text


@pytest.mark.parametrize("spec", ["", "+.3f", ">12", ".2e", "g"])
def test_format_of_a_0d_tensor_is_its_numbers(device, spec):
    for value, dtype in ((-2.375, np.float64), (7, np.int64), (1.5, np.float32)):
        ours = tg.tensor(put(np.array(value, dtype), device))
        theirs = torch.tensor(np.array(value, dtype))
        assert format(ours, spec) == format(theirs, spec)
        assert f"{ours.requires_grad_(ours.is_floating_point())}" == format(theirs.item())


def test_format_with_a_spec_refuses_what_torch_refuses(device):
    vec = tg.tensor(put(np.array([1.5]), device))
    with pytest.raises(TypeError):
        format(vec, ".2f")
    with pytest.raises(TypeError):  # torch formats only a plain Tensor as a number
        format(tg.nn.Parameter(tg.tensor(put(np.array(1.5), device))), ".2f")
    with pytest.raises(TypeError):
        format(torch.nn.Parameter(torch.tensor(1.5)), ".2f")
    assert format(vec, "") == str(vec)


# ---- mnist_rnn: Dropout2d on (N, F) --------------------------------------------------------------
class _Rows:
    """The classifier of the program, built from ``lib``: LSTM, Dropout2d on the last hidden
    state (N, H), Linear, log_softmax."""

    def __init__(self, lib):
        self.lib = lib
        self.rnn = lib.nn.LSTM(6, 8, batch_first=True).double()
        self.drop = lib.nn.Dropout2d(0.4)
        self.fc = lib.nn.Linear(8, 3).double()

    def hidden(self, x):
        return self.rnn(x)[0][:, -1]

    def head(self, h):
        return self.lib.nn.functional.log_softmax(self.fc(h), dim=1)


def test_lstm_classifier_with_dropout2d_on_rows_as_torch(device):
    rng = np.random.default_rng(1)
    x0, y0 = rng.standard_normal((10, 5, 6)), rng.integers(0, 3, 10)
    ref = _Rows(torch)
    ours = _Rows(tg)
    for mod in ("rnn", "fc"):
        setattr(ours, mod, getattr(ours, mod).to(device))
        _copy_weights(getattr(ours, mod), getattr(ref, mod), device)

    x, y = tg.tensor(put(x0, device)), tg.tensor(put(y0, device))
    h = ours.hidden(x)
    with pytest.warns(UserWarning, match="dropout2d"):  # torch warns too (a 2-D input)
        dropped = ours.drop(h)
    assert dropped.shape == (10, 8)
    mask = host(dropped.detach()) != 0
    np.testing.assert_allclose(host(dropped.detach())[mask], host(h.detach())[mask] / 0.6,
                               rtol=1e-12)
    # torch's rule for 2-D input: one draw per element, not per row
    assert 0 < mask.sum() < mask.size and not (mask == mask[:, :1]).all()
    loss = tg.nn.functional.nll_loss(ours.head(dropped), y)
    loss.backward()

    tx, ty = torch.tensor(x0), torch.tensor(y0)
    their_loss = torch.nn.functional.nll_loss(
        ref.head(ref.hidden(tx) * torch.tensor(mask) / 0.6), ty)
    their_loss.backward()
    assert abs(loss.item() - their_loss.item()) < 1e-10
    for mod in ("rnn", "fc"):
        for name, p in getattr(ours, mod).named_parameters():
            q = getattr(ref, mod).get_parameter(name)
            np.testing.assert_allclose(host(p.grad), q.grad.numpy(), rtol=1e-10, atol=1e-12)

    ours.drop.eval()
    ref.drop.eval()
    with tg.no_grad(), torch.no_grad():
        np.testing.assert_allclose(host(ours.head(ours.drop(ours.hidden(x)))),
                                   ref.head(ref.drop(ref.hidden(tx))).numpy(), rtol=1e-10)


@pytest.mark.parametrize("shape,mask_dims", [((6, 4, 3), 2), ((5, 4, 3, 2), 2), ((6, 7), 2),
                                             ((3, 4, 2, 2, 2), 2)])
def test_dropout2d_masks_the_first_two_dims_as_torch(device, shape, mask_dims):
    x = tg.ones(*shape, device=device, dtype=tg.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = host(tg.nn.functional.dropout2d(x, 0.5))
        t = torch.nn.functional.dropout2d(torch.ones(*shape, dtype=torch.float64), 0.5)
    for out in (y, t.numpy()):
        assert out.shape == shape
        flat = out.reshape(shape[:mask_dims] + (-1,))
        assert (flat == flat[..., :1]).all()  # constant below the first two dimensions
        assert set(np.unique(out).tolist()) <= {0.0, 2.0}
    with pytest.raises(ValueError, match="dropout2d: input must be"):
        tg.nn.functional.dropout2d(tg.ones(3, device=device), 0.5)


# ---- word_language_model: `import torch.onnx` ----------------------------------------------------
def test_onnx_import_path_exists_and_export_says_it_is_missing():
    import subprocess
    import sys

    # tg.onnx without importing it first, as torch.onnx after `import torch`
    code = "import tensorgrad as tg; print(tg.onnx.is_in_onnx_export())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert done.stdout.strip() == "False", done.stderr
    onnx = importlib.import_module("tensorgrad.onnx")
    assert tg.onnx is onnx and onnx.is_in_onnx_export() is torch.onnx.is_in_onnx_export()
    with pytest.raises(RuntimeError, match=r"tensorgrad.onnx.export: .*Linear.*'m.onnx'"):
        onnx.export(tg.nn.Linear(2, 2), (tg.ones(1, 2),), "m.onnx")


# ---- word_language_model: torch's submodules as attributes, without import lines -----------------
def test_submodule_attributes_without_import_lines_in_a_fresh_process():
    """The program names ``torch.nn.modules.rnn.GRU``, ``torch.serialization.safe_globals``, ...
    after only ``import torch`` and ``import torch.nn``: torch imports them eagerly."""
    import functools
    import subprocess
    import sys

    names = ("serialization.safe_globals nn.modules.rnn.GRU nn.modules.rnn.LSTM "
             "nn.modules.linear.Linear nn.modules.linear.NonDynamicallyQuantizableLinear "
             "nn.modules.sparse.Embedding nn.modules.dropout.Dropout "
             "nn.modules.container.ModuleList "
             "nn.modules.transformer.TransformerEncoderLayer "
             "utils.data.dataloader.DataLoader autograd.gradcheck")
    code = ("import functools, sys, tensorgrad as torch, tensorgrad.nn as nn\n"
            f"for n in {names!r}.split():\n"
            "    print(getattr(functools.reduce(getattr, n.split('.'), torch), '__name__'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    want = [functools.reduce(getattr, n.split("."), torch).__name__ for n in names.split()]
    assert out == want and "NonDynamicallyQuantizableLinear" in out
    assert tg.nn.modules.linear.NonDynamicallyQuantizableLinear is type(
        tg.nn.MultiheadAttention(4, 2).out_proj)


class _LangModel:
    """Embedding, GRU (2 layers), Linear decoder, log_softmax: the shape of the program's RNN
    language model, built from ``lib``."""

    def __init__(self, lib, ntok=11, nin=6, nhid=5):
        self.lib, self.ntok = lib, ntok
        self.parts = lib.nn.ModuleDict({"encoder": lib.nn.Embedding(ntok, nin),
                                        "rnn": lib.nn.GRU(nin, nhid, 2),
                                        "decoder": lib.nn.Linear(nhid, ntok)}).double()

    def __call__(self, data, hidden):
        out, hidden = self.parts["rnn"](self.parts["encoder"](data), hidden)
        decoded = self.parts["decoder"](out).view(-1, self.ntok)
        return self.lib.nn.functional.log_softmax(decoded, dim=1), hidden


def test_language_model_bptt_steps_with_clipping_and_state_reload_as_torch(device, tmp_path):
    rng = np.random.default_rng(2)
    stream = rng.integers(0, 11, size=(13, 3))  # (time, batch): batchify's layout
    ref, ours = _LangModel(torch), _LangModel(tg)
    ours.parts.to(device)
    _copy_weights(ours.parts, ref.parts, device)

    def train(m, lib, dev):
        source = lib.tensor(put(stream, dev) if lib is tg else stream)
        hidden = (lib.zeros(2, 3, 5, dtype=lib.float64, device=dev) if lib is tg
                  else lib.zeros(2, 3, 5, dtype=lib.float64))
        losses = []
        for i in range(0, 12, 4):  # get_batch with bptt 4, hidden detached between chunks
            data, target = source[i:i + 4], source[i + 1:i + 5].reshape(-1)
            m.parts.zero_grad()
            out, hidden = m(data, hidden.detach())
            loss = lib.nn.NLLLoss()(out, target)
            loss.backward()
            lib.nn.utils.clip_grad_norm_(m.parts.parameters(), 0.25)
            with lib.no_grad():
                for p in m.parts.parameters():
                    p.add_(p.grad, alpha=-20.0)
            losses.append(loss.item())
        return losses

    np.testing.assert_allclose(train(ours, tg, device), train(ref, torch, "cpu"), rtol=1e-10)
    path = tmp_path / "lm.pt"
    with open(path, "wb") as f:
        tg.save(ours.parts.state_dict(), f)
    again = _LangModel(tg)
    with tg.serialization.safe_globals([tg.nn.modules.rnn.GRU, tg.nn.modules.linear.Linear]):
        with open(path, "rb") as f:
            again.parts.load_state_dict(tg.load(f))
    again.parts.to(device)
    x = tg.tensor(put(stream[:5], device))
    h = tg.zeros(2, 3, 5, dtype=tg.float64, device=device)
    with tg.no_grad(), torch.no_grad():
        np.testing.assert_allclose(host(again(x, h)[0]),
                                   ref(torch.tensor(stream[:5]),
                                       torch.zeros(2, 3, 5, dtype=torch.float64))[0].numpy(),
                                   rtol=1e-10, atol=1e-12)
