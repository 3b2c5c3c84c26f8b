"""Sparse @ dense, forward and backward: tensorgrad against PyTorch eager on the CPU.

A 10,000 x 10,000 sparse COO matrix with 100,000 random nonzeros (coalesced) times a
(10,000, 64) float32 dense matrix, as one GCN layer's propagation: a step is the product, a
sum, and the backward pass to the dense operand (the adjacency is a constant). Both sides use
the same data and are checked for equal results and gradients first. Not in the runner's
workload list (benchmarks/run.py); run it with ``pytest benchmarks/test_bench_sparse.py``.
"""

import numpy as np
import pytest

import tensorgrad as tg

N, NNZ, P = 10_000, 100_000, 64


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    idx = np.stack([rng.integers(0, N, NNZ), rng.integers(0, N, NNZ)])
    vals = rng.standard_normal(NNZ).astype(np.float32)
    x = rng.standard_normal((N, P)).astype(np.float32)
    return idx, vals, x


def setups(torch):
    idx, vals, x = make_data()
    ours = (tg.sparse_coo_tensor(idx, vals, (N, N)).coalesce(), tg.tensor(x, requires_grad=True))
    theirs = (torch.sparse_coo_tensor(torch.from_numpy(idx), torch.from_numpy(vals),
                                      (N, N)).coalesce(),
              torch.from_numpy(x).requires_grad_())
    return ours, theirs


def tensorgrad_step(adj, x):
    x.grad = None
    out = adj @ x
    out.sum().backward()
    return out


def torch_step(torch, adj, x):
    x.grad = None
    out = torch.sparse.mm(adj, x)
    out.sum().backward()
    return out


def check_against_torch(torch):
    (adj, x), (tadj, tx) = setups(torch)
    np.testing.assert_allclose(tensorgrad_step(adj, x).detach().numpy(),
                               torch_step(torch, tadj, tx).detach().numpy(), rtol=1e-4,
                               atol=1e-4)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_sparse_matches_torch():
    check_against_torch(pytest.importorskip("torch"))


def test_sparse_tensorgrad(benchmark, record, paired):
    torch = pytest.importorskip("torch")
    check_against_torch(torch)  # a wrong fast answer is no result
    (adj, x), (tadj, tx) = setups(torch)
    benchmark.group = "sparse mm"
    out = benchmark(tensorgrad_step, adj, x)
    assert out.shape == (N, P)
    record("sparse mm", "tensorgrad step", fn=tensorgrad_step, args=(adj, x))
    paired("sparse mm", "tensorgrad step", lambda: tensorgrad_step(adj, x),
           "torch step", lambda: torch_step(torch, tadj, tx), pairs=30)


def test_sparse_torch(benchmark, record):
    torch = pytest.importorskip("torch")
    _, (tadj, tx) = setups(torch)
    benchmark.group = "sparse mm"
    out = benchmark(torch_step, torch, tadj, tx)
    assert tuple(out.shape) == (N, P)
    record("sparse mm", "torch step", fn=torch_step, args=(torch, tadj, tx))
