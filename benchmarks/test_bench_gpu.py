"""The MLP step on a CUDA GPU (CuPy) against PyTorch on the same GPU; skipped without CuPy.

Run on a machine with a GPU: ``make gpu-check``. The arrays are moved once; each step runs the
forward pass, the backward pass and an ``optim.SGD`` update on the device, and ends with a
synchronisation so that the time covers the GPU's work, not only the kernel launches.
"""

import numpy as np
import numpy_mlp
import pytest
from test_bench_mlp import LR, tensorgrad_loss

import tensorgrad as tg

pytestmark = pytest.mark.cuda


def _cupy():
    if not tg.cuda.is_available():
        pytest.skip("no CUDA GPU (CuPy) here")
    import cupy

    return cupy


def test_mlp_cuda_matches_cpu():
    _cupy()
    x, y = numpy_mlp.make_batch()
    cpu = [tg.tensor(p, requires_grad=True) for p in numpy_mlp.init_params()]
    gpu = [tg.tensor(p, device="cuda", requires_grad=True) for p in numpy_mlp.init_params()]
    tensorgrad_loss(cpu, tg.tensor(x), y).backward()
    tensorgrad_loss(gpu, tg.tensor(x, device="cuda"), tg.tensor(y, device="cuda")).backward()
    for a, b in zip(cpu, gpu, strict=True):
        np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), rtol=1e-3, atol=1e-5)


def test_mlp_cuda_tensorgrad(benchmark, record):
    cupy = _cupy()
    x, y = numpy_mlp.make_batch(batch=1024)
    params = [tg.tensor(p, device="cuda", requires_grad=True) for p in numpy_mlp.init_params()]
    opt = tg.optim.SGD(params, lr=LR)
    tx, ty = tg.tensor(x, device="cuda"), tg.tensor(y, device="cuda")

    def step():
        opt.zero_grad()
        loss = tensorgrad_loss(params, tx, ty)
        loss.backward()
        opt.step()
        cupy.cuda.Device().synchronize()
        return loss

    benchmark.group = "mlp cuda (batch 1024)"
    benchmark(step)
    record("mlp cuda", "tensorgrad step")


def test_mlp_cuda_torch(benchmark, record):
    _cupy()
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch has no CUDA here")
    x, y = numpy_mlp.make_batch(batch=1024)
    params = [torch.tensor(p, device="cuda", requires_grad=True)
              for p in numpy_mlp.init_params()]
    opt = torch.optim.SGD(params, lr=LR)
    tx, ty = torch.tensor(x, device="cuda"), torch.tensor(y, device="cuda")

    def step():
        opt.zero_grad()
        w1, b1, w2, b2, w3, b3 = params
        h = (tx @ w1 + b1).relu()
        h = (h @ w2 + b2).relu()
        loss = torch.nn.functional.cross_entropy(h @ w3 + b3, ty)
        loss.backward()
        opt.step()
        torch.cuda.synchronize()
        return loss

    benchmark.group = "mlp cuda (batch 1024)"
    benchmark(step)
    record("mlp cuda", "torch step")
