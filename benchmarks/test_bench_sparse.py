"""Sparse @ dense, forward and backward: tensorgrad against PyTorch eager on the CPU.

A 10,000 x 10,000 sparse COO matrix with 100,000 random nonzeros (coalesced) times a
(10,000, 64) float32 dense matrix, as one GCN layer's propagation: a step is the product, a
sum, and the backward pass to the dense operand (the adjacency is a constant). Both sides use
the same data and are checked for equal results and gradients first. Not in the runner's
workload list (benchmarks/run.py); run it with ``pytest benchmarks/test_bench_sparse.py``.

The same matrix in CSR layout (groups "csr fwd": the product alone, and "csr step": product,
sum and backward): tensorgrad's CSR (which runs the COO product's primitive on the expanded
row indices), tensorgrad's COO, and PyTorch's CSR.
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


# ---- CSR ---------------------------------------------------------------------------------
def csr_setups(torch):
    """{impl: (adjacency, dense operand that requires grad, dense operand that does not)}."""
    (adj, x), (tadj, tx) = setups(torch)
    plain, tplain = tg.tensor(x.numpy()), tx.detach().clone()
    return {"tensorgrad csr": (adj.to_sparse_csr(), x, plain),
            "tensorgrad coo": (adj, x, plain),
            "torch csr": (tadj.to_sparse_csr(), tx, tplain)}


def csr_forward(adj, x):
    return adj @ x


def check_csr_against_torch(torch, cases):
    """Same products and gradients for every implementation, and the same CSR indices."""
    adj, tadj = cases["tensorgrad csr"][0], cases["torch csr"][0]
    tx, tplain = cases["torch csr"][1:]
    np.testing.assert_array_equal(adj.crow_indices().numpy(), tadj.crow_indices().numpy())
    np.testing.assert_array_equal(adj.col_indices().numpy(), tadj.col_indices().numpy())
    want = csr_forward(tadj, tplain).numpy()
    for impl in ("tensorgrad csr", "tensorgrad coo"):
        a, xx, p = cases[impl]
        np.testing.assert_allclose(csr_forward(a, p).numpy(), want, rtol=1e-4, atol=1e-4)
    torch_step(torch, tadj, tx)
    for impl in ("tensorgrad csr", "tensorgrad coo"):
        a, xx, _ = cases[impl]
        tensorgrad_step(a, xx)
        np.testing.assert_allclose(xx.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_csr_matches_torch():
    torch = pytest.importorskip("torch")
    check_csr_against_torch(torch, csr_setups(torch))


@pytest.mark.parametrize("impl", ["tensorgrad csr", "tensorgrad coo", "torch csr"])
def test_csr_forward(benchmark, record, paired, impl):
    torch = pytest.importorskip("torch")
    cases = csr_setups(torch)
    check_csr_against_torch(torch, cases)
    adj, _, plain = cases[impl]
    benchmark.group = "csr fwd"
    out = benchmark(csr_forward, adj, plain)
    assert tuple(out.shape) == (N, P)
    record("csr fwd", impl, fn=csr_forward, args=(adj, plain))
    if impl == "tensorgrad csr":
        tadj, _, tplain = cases["torch csr"]
        paired("csr fwd", impl, lambda: csr_forward(adj, plain),
               "torch csr", lambda: csr_forward(tadj, tplain), pairs=30)


@pytest.mark.parametrize("impl", ["tensorgrad csr", "tensorgrad coo", "torch csr"])
def test_csr_step(benchmark, record, paired, impl):
    torch = pytest.importorskip("torch")
    cases = csr_setups(torch)
    check_csr_against_torch(torch, cases)
    adj, x, _ = cases[impl]
    step = (lambda a, xx: torch_step(torch, a, xx)) if impl == "torch csr" else tensorgrad_step
    benchmark.group = "csr step"
    out = benchmark(step, adj, x)
    assert tuple(out.shape) == (N, P)
    record("csr step", impl, fn=step, args=(adj, x))
    if impl == "tensorgrad csr":
        tadj, tx, _ = cases["torch csr"]
        paired("csr step", impl, lambda: tensorgrad_step(adj, x),
               "torch csr", lambda: torch_step(torch, tadj, tx), pairs=30)
