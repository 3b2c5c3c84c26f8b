"""Single layers, forward and backward, tensorgrad against PyTorch eager on the CPU: the
host paths that are not one GEMM.

- ``layer_norm``: LayerNorm(128) on (4096, 128) float32 (a transformer's 32 x 128 tokens);
- ``embedding``: a (1000, 64) float32 table, 20,000 lookups (the backward is a scatter-add);
- ``linear b1``: Linear(784, 512) on one row (the weight gradient is a column times a row);
- ``linear out1``: Linear(256, 1) on 128 rows (the input gradient is a column times a row);
- ``cross_entropy``: CrossEntropyLoss of (8192, 1000) float32 logits;
- ``leaky_relu``: LeakyReLU on (4096, 512) float32 (``where`` with an unpredictable mask);
- ``batch_norm``: BatchNorm2d(16) in training on (32, 16, 26, 26) float32 (W5's first layer);
- ``gelu``, ``gelu_tanh``, ``silu``: GELU (exact; ``approximate="tanh"``) and SiLU on
  (4096, 512) float32 (a transformer MLP's activations);
- ``elu``: ELU on (4096, 512) float32;
- ``group_norm``: GroupNorm(8, 64) on (16, 64, 32, 32) float32 (a U-Net's block);
- ``rnn``, ``lstm``, ``gru``: RNN(64, 128), LSTM(64, 128) and GRU(64, 128) over 200 steps
  of a batch of 32, float32 (the output sequence; the recurrence is sequential, so per-step
  costs add up).

Each call runs the layer and ``backward`` with a fixed cotangent, after ``zero_grad``. Both
libraries start from the same weights and are checked first for equal outputs and gradients
(also under --benchmark-only). The summary prints tensorgrad / torch per layer, timed in
alternation (``paired``).
"""

import numpy as np
import pytest

import tensorgrad as tg

RNG = np.random.default_rng(0)


def _layer_norm(lib):
    layer = lib.nn.LayerNorm(128)
    x = RNG.standard_normal((4096, 128)).astype(np.float32)
    return layer, x


def _embedding(lib):
    layer = lib.nn.Embedding(1000, 64)
    return layer, RNG.integers(0, 1000, 20000)


def _linear_b1(lib):
    return lib.nn.Linear(784, 512), RNG.standard_normal((1, 784)).astype(np.float32)


def _linear_out1(lib):
    return lib.nn.Linear(256, 1), RNG.standard_normal((128, 256)).astype(np.float32)


def _cross_entropy(lib):
    x = RNG.standard_normal((8192, 1000)).astype(np.float32)
    return lib.nn.CrossEntropyLoss(), x, RNG.integers(0, 1000, 8192)


def _leaky_relu(lib):
    return lib.nn.LeakyReLU(), RNG.standard_normal((4096, 512)).astype(np.float32)


def _batch_norm(lib):
    return lib.nn.BatchNorm2d(16), RNG.standard_normal((32, 16, 26, 26)).astype(np.float32)


def _gelu(lib):
    return lib.nn.GELU(), RNG.standard_normal((4096, 512)).astype(np.float32)


def _gelu_tanh(lib):
    return lib.nn.GELU(approximate="tanh"), RNG.standard_normal((4096, 512)).astype(np.float32)


def _silu(lib):
    return lib.nn.SiLU(), RNG.standard_normal((4096, 512)).astype(np.float32)


def _elu(lib):
    return lib.nn.ELU(), RNG.standard_normal((4096, 512)).astype(np.float32)


def _group_norm(lib):
    return lib.nn.GroupNorm(8, 64), RNG.standard_normal((16, 64, 32, 32)).astype(np.float32)


# packed cases: 32 sequences of 100 to 200 steps, longest first
_LENGTHS = sorted(np.random.default_rng(3).integers(100, 201, 32).tolist(), reverse=True)


def _recurrent(kind, packed=False):
    def case(lib):
        class Outputs(lib.nn.Module):  # the output sequence alone, as the cases' calls expect
            def __init__(self):
                super().__init__()
                self.rnn = getattr(lib.nn, kind)(64, 128)

            def forward(self, x):
                if not packed:
                    return self.rnn(x)[0]
                seq = lib.nn.utils.rnn.pack_padded_sequence(x, _LENGTHS)
                return self.rnn(seq)[0].data  # the packed rows

        return Outputs(), RNG.standard_normal((200, 32, 64)).astype(np.float32)
    return case


def _causal_attention(lib):
    class Attention(lib.nn.Module):  # self-attention of x with itself, GPT's causal mask
        def forward(self, x):
            return lib.nn.functional.scaled_dot_product_attention(x, x, x, is_causal=True)

    return Attention(), RNG.standard_normal((4, 8, 512, 64)).astype(np.float32)


CASES = {"layer_norm": _layer_norm, "embedding": _embedding, "linear b1": _linear_b1,
         "linear out1": _linear_out1, "cross_entropy": _cross_entropy,
         "leaky_relu": _leaky_relu, "batch_norm": _batch_norm, "gelu": _gelu,
         "gelu_tanh": _gelu_tanh, "silu": _silu, "elu": _elu, "group_norm": _group_norm,
         "rnn": _recurrent("RNN"), "lstm": _recurrent("LSTM"), "gru": _recurrent("GRU"),
         "lstm packed": _recurrent("LSTM", True), "gru packed": _recurrent("GRU", True),
         "causal attention": _causal_attention}


def setups(torch, name):
    """(tensorgrad call, torch call, their layers and inputs) for case ``name``, the same
    weights in both."""
    theirs, data, *extra = CASES[name](torch)
    ours = CASES[name](tg)[0]
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})
    x, tx = tg.tensor(data), torch.from_numpy(data)
    args, targs = [tg.tensor(a) for a in extra], [torch.from_numpy(a) for a in extra]
    float_input = data.dtype.kind == "f"
    if float_input:
        x.requires_grad_(True)
        tx.requires_grad_(True)
    out_shape = tuple(theirs(tx, *targs).shape)
    g = RNG.standard_normal(out_shape).astype(np.float32)
    gg, tgg = tg.tensor(g), torch.from_numpy(g)

    def ours_call():
        ours.zero_grad()
        x.grad = None
        ours(x, *args).backward(gg)

    def torch_call():
        theirs.zero_grad()
        tx.grad = None
        theirs(tx, *targs).backward(tgg)

    return ours_call, torch_call, (ours, x, args, theirs, tx, targs, float_input)


def check(torch, name):
    ours_call, torch_call, (ours, x, args, theirs, tx, targs, float_input) = setups(torch, name)
    ours_call()
    torch_call()
    np.testing.assert_allclose(ours(x, *args).detach().numpy(),
                               theirs(tx, *targs).detach().numpy(),
                               rtol=1e-4, atol=1e-5, err_msg=name)
    mine = dict(ours.named_parameters())
    for k, p in theirs.named_parameters():
        np.testing.assert_allclose(mine[k].grad.numpy(), p.grad.numpy(), rtol=1e-4, atol=1e-4,
                                   err_msg=f"{name}: {k}")
    if float_input:
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=f"{name}: input")


@pytest.mark.parametrize("name", list(CASES))
def test_layer_matches_torch(name):
    check(pytest.importorskip("torch"), name)


@pytest.mark.parametrize("name", list(CASES))
def test_layer_tensorgrad(name, benchmark, record, paired):
    torch = pytest.importorskip("torch")
    check(torch, name)  # a wrong fast answer is no result
    ours_call, torch_call, _ = setups(torch, name)
    benchmark.group = name
    benchmark(ours_call)
    record(name, "tensorgrad", fn=ours_call)
    paired(name, "tensorgrad", ours_call, "torch", torch_call, pairs=40)


@pytest.mark.parametrize("name", list(CASES))
def test_layer_torch(name, benchmark, record):
    torch = pytest.importorskip("torch")
    _, torch_call, _ = setups(torch, name)
    benchmark.group = name
    benchmark(torch_call)
    record(name, "torch", fn=torch_call)
