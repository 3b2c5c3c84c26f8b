"""One L-BFGS step of two stacked LSTMCells unrolled by a Python loop: tensorgrad against
PyTorch eager on the CPU.

The workload of PyTorch's time-sequence-prediction example, shortened: a batch of 97 sine
sequences of 200 steps, float64; ``LSTMCell(1, 51)``, ``LSTMCell(51, 51)`` and
``Linear(51, 1)`` called once per step, the step outputs joined by ``cat(outputs, dim=1)``,
MSE loss, ``LBFGS(lr=0.8, max_iter=3)``, whose closure zeroes the gradients, runs forward and
backward (three closures per step). A call restores the initial weights and makes a fresh
optimizer, so that every call does the same work. Both libraries start from the same weights
and are checked first for equal losses and weights after the step (also under
--benchmark-only). Run the suite with one thread (``OMP_NUM_THREADS=1``, as ``run.py`` does) for
a fair comparison: with two OpenBLAS threads on a loaded two-core machine each small GEMM can
wait for a descheduled worker thread.
"""

import numpy as np
import pytest

import tensorgrad as tg

BATCH, STEPS, HIDDEN, CLOSURES = 97, 200, 51, 3


def make_data():
    """Sine waves of period 40*pi, each shifted by a random phase: (BATCH, STEPS + 1)."""
    rng = np.random.default_rng(0)
    t = np.arange(STEPS + 1) + rng.integers(-80, 80, BATCH)[:, None]
    return np.sin(t / 20.0)


def model(lib):
    """The two-cell model, written once for both libraries (``lib`` is torch or tensorgrad)."""

    class Sequence(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm1 = lib.nn.LSTMCell(1, HIDDEN, dtype=lib.float64)
            self.lstm2 = lib.nn.LSTMCell(HIDDEN, HIDDEN, dtype=lib.float64)
            self.linear = lib.nn.Linear(HIDDEN, 1, dtype=lib.float64)

        def forward(self, x):
            h, c, h2, c2 = (lib.zeros(x.shape[0], HIDDEN, dtype=lib.float64) for _ in range(4))
            outputs = []
            for x_t in x.split(1, dim=1):
                h, c = self.lstm1(x_t, (h, c))
                h2, c2 = self.lstm2(h, (h2, c2))
                outputs.append(self.linear(h2))
            return lib.cat(outputs, dim=1)

    return Sequence()


class Setup:
    """A model, its initial weights and the data, for one library; ``step()`` is one L-BFGS
    step from the initial weights and returns the closure's losses."""

    def __init__(self, lib, weights, data):
        self.lib = lib
        self.net = model(lib)
        self.net.load_state_dict({k: lib.from_numpy(v.copy()) for k, v in weights.items()})
        self.initial = [p.detach().clone() for p in self.net.parameters()]
        self.x = lib.from_numpy(data[:, :-1].copy())
        self.y = lib.from_numpy(data[:, 1:].copy())

    def step(self):
        lib, net = self.lib, self.net
        with lib.no_grad():
            for p, p0 in zip(net.parameters(), self.initial):
                p.copy_(p0)
        opt = lib.optim.LBFGS(net.parameters(), lr=0.8, max_iter=CLOSURES)
        losses = []

        def closure():
            opt.zero_grad()
            loss = lib.nn.functional.mse_loss(net(self.x), self.y)
            losses.append(loss.item())
            loss.backward()
            return loss

        opt.step(closure)
        return losses


def setups(torch):
    torch.manual_seed(0)
    reference = model(torch)
    weights = {k: v.detach().numpy().copy() for k, v in reference.state_dict().items()}
    data = make_data()
    return Setup(tg, weights, data), Setup(torch, weights, data)


def check_against_torch(ours, theirs):
    """Equal losses at every closure and equal weights after the step (float64)."""
    got, want = ours.step(), theirs.step()
    assert len(got) == len(want) == CLOSURES
    np.testing.assert_allclose(got, want, rtol=1e-10)
    for (name, p), q in zip(ours.net.named_parameters(), theirs.net.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-9,
                                   atol=1e-12, err_msg=name)


def test_lstmcell_matches_torch():
    check_against_torch(*setups(pytest.importorskip("torch")))


def test_lstmcell_tensorgrad(benchmark, record, paired):
    torch = pytest.importorskip("torch")
    ours, theirs = setups(torch)
    check_against_torch(ours, theirs)  # a wrong fast answer is no result
    benchmark.group = "lstmcell"
    losses = benchmark(ours.step)
    assert len(losses) == CLOSURES and np.isfinite(losses).all()
    record("lstmcell", "tensorgrad step", n_ops=CLOSURES)
    paired("lstmcell", "tensorgrad step", ours.step, "torch step", theirs.step, pairs=6)


def test_lstmcell_torch(benchmark, record):
    torch = pytest.importorskip("torch")
    _, theirs = setups(torch)
    benchmark.group = "lstmcell"
    losses = benchmark(theirs.step)
    assert len(losses) == CLOSURES and np.isfinite(losses).all()
    record("lstmcell", "torch step", n_ops=CLOSURES)
