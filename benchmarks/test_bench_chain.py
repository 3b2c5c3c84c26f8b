"""Per-op overhead: a chain of 200 x ``y = tanh(y * 1.0001 + 0.1)`` on 16 float32 values.

The arrays are tiny, so the time is almost all framework overhead: building the tape on the
way forward and walking it back. N_OPS counts the primitives: 200 mul, 200 add, 200 tanh and
the final sum. NumPy runs the forward pass only (it has no backward); it is the floor.

The chain settles at the fixed point y = 0.61, where each step scales the gradient by about
0.63, so the gradient ends subnormal (~1e-39). That costs nothing extra on the CPU measured
(checked), and it is the same for every framework.
"""

import numpy as np
import pytest

import tensorgrad as tg

STEPS = 200
SIZE = 16
N_OPS = 3 * STEPS + 1  # mul, add, tanh per step, then the sum


def _start():
    return np.linspace(-1.0, 1.0, SIZE, dtype=np.float32)


def tensorgrad_chain(x0):
    x = tg.tensor(x0, requires_grad=True)
    y = x
    for _ in range(STEPS):
        y = (y * 1.0001 + 0.1).tanh()
    y.sum().backward()
    return x.grad


def numpy_chain(x0):
    y = x0
    for _ in range(STEPS):
        y = np.tanh(y * 1.0001 + 0.1)
    return y.sum()


def test_chain_numpy_forward(benchmark, record):
    benchmark.group = "chain"
    out = benchmark(numpy_chain, _start())
    assert out.dtype == np.float32
    record("chain", "numpy fwd", N_OPS, fn=numpy_chain, args=(_start(),))


def test_chain_tensorgrad(benchmark, record):
    benchmark.group = "chain"
    grad = benchmark(tensorgrad_chain, _start())
    assert grad.dtype == np.float32 and grad.shape == (SIZE,)
    record("chain", "tensorgrad fwd+bwd", N_OPS, fn=tensorgrad_chain, args=(_start(),))


def test_chain_torch(benchmark, record, paired):
    torch = pytest.importorskip("torch")

    def torch_chain(x0):
        x = torch.tensor(x0, requires_grad=True)
        y = x
        for _ in range(STEPS):
            y = torch.tanh(y * 1.0001 + 0.1)
        y.sum().backward()
        return x.grad

    benchmark.group = "chain"
    grad = benchmark(torch_chain, _start())
    # the gradient is subnormal (about 0.63 ** 200): compare it relative to its largest entry
    ours = tensorgrad_chain(_start()).numpy()
    np.testing.assert_allclose(grad.numpy(), ours, rtol=1e-4, atol=1e-4 * np.abs(ours).max())
    record("chain", "torch fwd+bwd", N_OPS, fn=torch_chain, args=(_start(),))
    x0 = _start()
    paired("chain", "tensorgrad fwd+bwd", lambda: tensorgrad_chain(x0),
           "torch fwd+bwd", lambda: torch_chain(x0))
