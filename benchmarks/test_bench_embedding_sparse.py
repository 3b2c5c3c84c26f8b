"""A bag-of-words classifier with a large vocabulary, trained with sparse or dense embedding
gradients: tensorgrad against PyTorch eager on the CPU.

``EmbeddingBag(200,000, 64, mode="mean")`` over a batch of 256 bags of 20 tokens, a
``Linear(64, 10)``, cross-entropy, float32. A step is zero_grad, forward, backward and the
update, written as a PyTorch user writes it:

- sparse: ``sparse=True``, ``SparseAdam`` for the embedding and ``Adam`` for the linear layer
  (PyTorch's SparseAdam takes sparse gradients only), or ``SGD`` for both;
- dense: ``sparse=False`` and one ``Adam`` (or ``SGD``): every step touches all 12.8M
  embedding weights, and their gradient is a 51 MB array.

Both libraries start from the same weights and are checked for equal losses and weights after
a few steps first. Not in the runner's workload list (benchmarks/run.py); run it with
``pytest benchmarks/test_bench_embedding_sparse.py --benchmark-only``.
"""

import numpy as np
import pytest

import tensorgrad as tg

VOCAB, DIM, CLASSES, BAGS, BAG = 200_000, 64, 10, 256, 20

CASES = ["sparse adam", "dense adam", "sparse sgd", "dense sgd"]


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    emb = (rng.standard_normal((VOCAB, DIM)) * 0.1).astype(np.float32)
    w = (rng.standard_normal((CLASSES, DIM)) * 0.1).astype(np.float32)
    tokens = rng.integers(0, VOCAB, (BAGS, BAG))
    labels = rng.integers(0, CLASSES, BAGS)
    return emb, w, tokens, labels


def build(lib, case):
    """(step, model) for ``lib`` (tensorgrad or torch) and one of CASES."""
    emb, w, tokens, labels = make_data()
    sparse = case.startswith("sparse")
    nn = lib.nn
    bag = nn.EmbeddingBag.from_pretrained(lib.tensor(emb), freeze=False, mode="mean",
                                          sparse=sparse)
    lin = nn.Linear(DIM, CLASSES)
    with lib.no_grad():
        lin.weight.copy_(lib.tensor(w))
        lin.bias.zero_()
    if case.endswith("sgd"):
        opts = [lib.optim.SGD(list(bag.parameters()) + list(lin.parameters()), lr=0.5)]
    elif sparse:
        opts = [lib.optim.SparseAdam(bag.parameters(), lr=1e-2),
                lib.optim.Adam(lin.parameters(), lr=1e-2)]
    else:
        opts = [lib.optim.Adam(list(bag.parameters()) + list(lin.parameters()), lr=1e-2)]
    x, y = lib.tensor(tokens), lib.tensor(labels)
    cross_entropy = nn.functional.cross_entropy

    def step():
        for o in opts:
            o.zero_grad()
        loss = cross_entropy(lin(bag(x)), y)
        loss.backward()
        for o in opts:
            o.step()
        return loss

    return step, bag


def check_against_torch(torch, case, steps=3):
    ours, our_bag = build(tg, case)
    theirs, their_bag = build(torch, case)
    for _ in range(steps):
        a, b = float(ours()), float(theirs())
        assert a == pytest.approx(b, rel=1e-5)
    np.testing.assert_allclose(our_bag.weight.detach().numpy(),
                               their_bag.weight.detach().numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case", CASES)
def test_embedding_sparse_matches_torch(case):
    check_against_torch(pytest.importorskip("torch"), case)


@pytest.mark.parametrize("case", CASES)
def test_embedding_sparse_tensorgrad(case, benchmark, record, paired):
    torch = pytest.importorskip("torch")
    check_against_torch(torch, case)  # a wrong fast answer is no result
    ours, _ = build(tg, case)
    theirs, _ = build(torch, case)
    benchmark.group = f"bag-of-words {case}"
    benchmark(ours)
    record(benchmark.group, "tensorgrad", fn=ours)
    paired(benchmark.group, "tensorgrad", ours, "torch", theirs, pairs=20)


@pytest.mark.parametrize("case", CASES)
def test_embedding_sparse_torch(case, benchmark, record):
    torch = pytest.importorskip("torch")
    theirs, _ = build(torch, case)
    benchmark.group = f"bag-of-words {case}"
    benchmark(theirs)
    record(benchmark.group, "torch", fn=theirs)
