"""Embedding and EmbeddingBag with ``sparse=True``: the weight's ``.grad`` is a sparse COO
tensor holding the rows looked up (PyTorch's form), and SGD, Adagrad and SparseAdam update
only those rows, as PyTorch's do; the other optimizers refuse such a gradient before they
change anything."""

import numpy as np
import pytest
from devices import host

import tensorgrad as tg
import tensorgrad.nn.functional as F
from tensorgrad.backend.device import to_host

V, D = 12, 4


def _weight(seed=0):
    return np.random.default_rng(seed).standard_normal((V, D))


def _indices_values(g, padding_idx=None):
    """A sparse gradient's (uncoalesced) indices and values, on the host. On a GPU the
    padding index's entries stay in, holding zeros (leaving them out, as PyTorch does, would
    make the host wait for the device): checked, then dropped to compare with PyTorch's."""
    idx, vals = to_host(g._indices().data), host(g._values())
    if padding_idx is not None and g.device.type == "cuda":
        pad = idx[0] == padding_idx
        assert not vals[pad].any()
        idx, vals = idx[:, ~pad], vals[~pad]
    return idx, vals


def _torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("padding_idx", [None, 3])
def test_embedding_sparse_grad_is_pytorchs(device, padding_idx):
    torch = _torch()
    tokens = np.array([[1, 3, 5, 1], [3, 7, 1, 0]])
    upstream = np.random.default_rng(1).standard_normal((2, 4, D))
    ours = tg.nn.Embedding.from_pretrained(tg.tensor(_weight()), freeze=False,
                                           padding_idx=padding_idx, sparse=True).to(device)
    theirs = torch.nn.Embedding.from_pretrained(torch.tensor(_weight()), freeze=False,
                                                padding_idx=padding_idx, sparse=True)
    (ours(tg.tensor(tokens, device=device)) * tg.tensor(upstream, device=device)).sum().backward()
    (theirs(torch.tensor(tokens)) * torch.tensor(upstream)).sum().backward()
    g, t = ours.weight.grad, theirs.weight.grad
    assert g.is_sparse and g.layout == tg.sparse_coo and not g.is_coalesced()
    assert g.shape == (V, D) and g.dtype == tg.float64 and g.device == ours.weight.device
    idx, vals = _indices_values(g, padding_idx)
    np.testing.assert_array_equal(idx, t._indices().numpy())  # every index, in order
    np.testing.assert_allclose(vals, t._values().numpy(), rtol=0, atol=0)
    np.testing.assert_allclose(host(g.to_dense()), t.to_dense().numpy(), rtol=1e-15)
    # the same values as the dense gradient
    dense = tg.nn.Embedding.from_pretrained(tg.tensor(_weight()), freeze=False,
                                            padding_idx=padding_idx).to(device)
    (dense(tg.tensor(tokens, device=device)) * tg.tensor(upstream, device=device)).sum().backward()
    np.testing.assert_allclose(host(g.to_dense()), host(dense.weight.grad), rtol=1e-15)


def test_sparse_grads_accumulate_as_pytorchs(device):
    """A second backward appends its rows (as PyTorch's accumulation); a dense contribution
    (a tied output projection) makes the gradient dense."""
    torch = _torch()
    ours = tg.nn.Embedding(V, D, sparse=True, dtype=tg.float64).to(device)
    theirs = torch.nn.Embedding(V, D, sparse=True, dtype=torch.float64)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(host(ours.weight)))
    for tokens in ([1, 2, 1], [2, 5]):
        ours(tg.tensor(tokens, device=device)).pow(2).sum().backward()
        theirs(torch.tensor(tokens)).pow(2).sum().backward()
    g = ours.weight.grad
    assert g.is_sparse and _indices_values(g)[0].tolist() == [[1, 2, 1, 2, 5]]
    np.testing.assert_allclose(host(g.to_dense()), theirs.weight.grad.to_dense().numpy(),
                               rtol=1e-15)
    # tied weights: the lookup's rows and the projection's dense gradient in one backward
    ours.weight.grad = None
    theirs.weight.grad = None
    h = ours(tg.tensor([0, 3], device=device))
    (h @ ours.weight.T).pow(2).sum().backward()
    th = theirs(torch.tensor([0, 3]))
    (th @ theirs.weight.T).pow(2).sum().backward()
    assert not ours.weight.grad.is_sparse
    np.testing.assert_allclose(host(ours.weight.grad), theirs.weight.grad.to_dense().numpy(),
                               rtol=1e-13)
    # and a dense .grad already there stays dense when sparse rows arrive
    ours(tg.tensor([4], device=device)).sum().backward()
    assert not ours.weight.grad.is_sparse
    assert host(ours.weight.grad)[4].tolist() == pytest.approx(
        (theirs.weight.grad.to_dense()[4] + 1).tolist(), rel=1e-13)


@pytest.mark.parametrize("mode", ["sum", "mean"])
@pytest.mark.parametrize("layout", ["offsets", "2d"])
def test_embedding_bag_sparse_grad_is_pytorchs(device, mode, layout):
    torch = _torch()
    rng = np.random.default_rng(2)
    if layout == "2d":
        tokens, offsets = rng.integers(0, V, (3, 4)), None
    else:
        tokens, offsets = rng.integers(0, V, 9), np.array([0, 2, 2, 7])
    tokens[1] = 0  # the padding index, left out of its bag and of the gradient
    psw = rng.standard_normal(tokens.shape) if mode == "sum" else None
    upstream = rng.standard_normal((3 if layout == "2d" else 4, D))

    def run(lib, nn, put):
        bag = nn.EmbeddingBag.from_pretrained(lib.tensor(_weight()), freeze=False, mode=mode,
                                              sparse=True, padding_idx=0)
        if lib is tg:
            bag = bag.to(device)
        out = bag(put(tokens), None if offsets is None else put(offsets),
                  per_sample_weights=None if psw is None else put(psw))
        (out * put(upstream)).sum().backward()
        return bag.weight.grad

    g = run(tg, tg.nn, lambda a: tg.tensor(a, device=device))
    t = run(torch, torch.nn, torch.tensor)
    assert g.is_sparse
    idx, vals = _indices_values(g, 0)
    np.testing.assert_array_equal(idx, t._indices().numpy())
    np.testing.assert_allclose(vals, t._values().numpy(), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(host(g.to_dense()), t.to_dense().numpy(), rtol=1e-14)


@pytest.mark.parametrize("mode", ["sum", "mean"])
def test_embedding_bag_scale_grad_by_freq(device, mode):
    """scale_grad_by_freq (it raised NotImplementedError): each row's gradient divided by its
    count in the input, as the documentation says and PyTorch's CUDA kernels do. PyTorch's
    CPU kernel (2.13) divides by the wrong count where a row that occurs once sorts after a
    repeated one (pytorch/pytorch#190063, fixed after 2.13), so the reference is written out
    here, and PyTorch is compared only on an input without that pattern."""
    torch = _torch()
    tokens, offsets = np.array([1, 1, 0, 2, 1, 0, 5]), np.array([0, 3, 5])
    bag_of = np.array([0, 0, 0, 1, 1, 2, 2])
    upstream = np.random.default_rng(3).standard_normal((3, D))
    ours = tg.nn.EmbeddingBag.from_pretrained(tg.tensor(_weight()), freeze=False, mode=mode,
                                              scale_grad_by_freq=True, padding_idx=0).to(device)
    got = ours(tg.tensor(tokens, device=device), tg.tensor(offsets, device=device))
    (got * tg.tensor(upstream, device=device)).sum().backward()
    kept = tokens != 0
    sizes = np.bincount(bag_of[kept], minlength=3) if mode == "mean" else np.ones(3)
    counts = np.bincount(tokens, minlength=V)  # padding entries counted, as PyTorch's
    want = np.zeros((V, D))
    for t, b in zip(tokens[kept], bag_of[kept], strict=True):
        want[t] += upstream[b] / sizes[b] / counts[t]
    np.testing.assert_allclose(host(ours.weight.grad), want, rtol=1e-14)
    assert not np.allclose(want[1], upstream[0] * 2 / sizes[0] + upstream[1] / sizes[1])

    # where PyTorch's CPU kernel is right: every row looked up as often as the others
    tokens, offsets = np.array([4, 4, 7, 7, 0]), np.array([0, 3])
    theirs = torch.nn.EmbeddingBag.from_pretrained(torch.tensor(_weight()), freeze=False,
                                                   mode=mode, scale_grad_by_freq=True,
                                                   padding_idx=0)
    ours.weight.grad = None
    got = ours(tg.tensor(tokens, device=device), tg.tensor(offsets, device=device))
    want = theirs(torch.tensor(tokens), torch.tensor(offsets))
    np.testing.assert_allclose(host(got), want.detach().numpy(), rtol=1e-15)
    (got * tg.tensor(upstream[:2], device=device)).sum().backward()
    (want * torch.tensor(upstream[:2])).sum().backward()
    np.testing.assert_allclose(host(ours.weight.grad), theirs.weight.grad.numpy(), rtol=1e-14)


def test_sparse_embedding_scale_grad_by_freq():
    """sparse=True with scale_grad_by_freq=True (PyTorch refuses the pair): the values of the
    sparse gradient are the scaled ones, the dense gradient's rows."""
    tokens = tg.tensor([1, 1, 4, 1])
    sparse = tg.nn.Embedding.from_pretrained(tg.tensor(_weight()), freeze=False,
                                             scale_grad_by_freq=True, sparse=True)
    dense = tg.nn.Embedding.from_pretrained(tg.tensor(_weight()), freeze=False,
                                            scale_grad_by_freq=True)
    sparse(tokens).sum().backward()
    dense(tokens).sum().backward()
    np.testing.assert_allclose(sparse.weight.grad.to_dense().numpy(), dense.weight.grad.numpy(),
                               rtol=1e-15)
    assert dense.weight.grad.numpy()[1].tolist() == pytest.approx([1.0] * D)


def test_embedding_bag_max_refuses_sparse_and_scaling():
    for kw, what in ((dict(sparse=True), "sparse weights"),
                     (dict(scale_grad_by_freq=True), "scaling the gradient")):
        bag = tg.nn.EmbeddingBag(V, D, mode="max", **kw)
        with pytest.raises(ValueError, match=f"embedding_bag: max mode does not support {what}"):
            bag(tg.tensor([[1, 2]]))


# (optimizer, its arguments, the test's model has a dense Linear too: SparseAdam takes sparse
# gradients only in PyTorch)
_SPARSE_OPTIMIZERS = [
    ("SGD", dict(lr=0.1), True),
    ("SGD", dict(lr=0.1, maximize=True), True),
    ("SGD", dict(lr=0.1, momentum=0.9), True),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True), True),
    ("Adagrad", dict(lr=0.1), True),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1, maximize=True), True),
    ("SparseAdam", dict(lr=0.01), False),
    ("SparseAdam", dict(lr=0.01, betas=(0.8, 0.9), maximize=True), False),
]


def _train(lib, opt_name, kw, with_linear, device=None, steps=5, bag=False):
    rng = np.random.default_rng(4)
    batches = [rng.integers(0, V, (6, 3)) for _ in range(steps)]
    lin_w = rng.standard_normal((1, D))
    nn = lib.nn
    emb = (nn.EmbeddingBag.from_pretrained(lib.tensor(_weight()), freeze=False, sparse=True,
                                           mode="mean", padding_idx=2) if bag else
           nn.Embedding.from_pretrained(lib.tensor(_weight()), freeze=False, sparse=True,
                                        padding_idx=2))
    lin = nn.Linear(D, 1, bias=False, dtype=lib.float64)
    with lib.no_grad():
        lin.weight.copy_(lib.tensor(lin_w))
    if lib is tg:
        emb, lin = emb.to(device), lin.to(device)
    params = list(emb.parameters()) + (list(lin.parameters()) if with_linear else [])
    opt = getattr(lib.optim, opt_name)(params, **kw)
    for tokens in batches:
        opt.zero_grad()
        x = lib.tensor(tokens) if lib is not tg else tg.tensor(tokens, device=device)
        h = emb(x)
        loss = (lin(h) ** 2).sum() if with_linear else (h ** 2).sum()
        loss.backward()
        opt.step()
    return emb, lin, opt


@pytest.mark.parametrize("bag", [False, True])
@pytest.mark.parametrize("opt_name,kw,with_linear", _SPARSE_OPTIMIZERS)
def test_sparse_optimizers_follow_pytorchs(device, opt_name, kw, with_linear, bag):
    torch = _torch()
    emb, lin, _ = _train(tg, opt_name, kw, with_linear, device, bag=bag)
    temb, tlin, _ = _train(torch, opt_name, kw, with_linear, bag=bag)
    np.testing.assert_allclose(host(emb.weight), temb.weight.detach().numpy(), rtol=1e-12,
                               atol=1e-14)
    np.testing.assert_allclose(host(lin.weight), tlin.weight.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("opt_name,kw", [("SGD", dict(lr=0.1)), ("Adagrad", dict(lr=0.1)),
                                         ("SparseAdam", dict(lr=0.01))])
def test_rows_not_looked_up_stay_as_they_were(device, opt_name, kw):
    emb = tg.nn.Embedding.from_pretrained(tg.tensor(_weight()), freeze=False,
                                          sparse=True).to(device)
    opt = getattr(tg.optim, opt_name)(emb.parameters(), **kw)
    for tokens in ([1, 5], [5, 7, 7]):
        opt.zero_grad()
        emb(tg.tensor(tokens, device=device)).pow(2).sum().backward()
        opt.step()
    now = host(emb.weight)
    untouched = [r for r in range(V) if r not in (1, 5, 7)]
    np.testing.assert_array_equal(now[untouched], _weight()[untouched])
    assert (now[[1, 5, 7]] != _weight()[[1, 5, 7]]).all()


@pytest.mark.parametrize("opt_name", ["Adam", "AdamW", "RMSprop", "NAdam", "Adadelta", "Rprop",
                                      "Adamax", "ASGD", "RAdam"])
def test_other_optimizers_refuse_sparse_grads_changing_nothing(device, opt_name):
    """As PyTorch's: a RuntimeError naming the optimizer; the dense parameter stepped before
    it in the group is not changed either."""
    emb = tg.nn.Embedding(V, D, sparse=True).to(device)
    lin = tg.nn.Linear(D, 1).to(device)
    opt = getattr(tg.optim, opt_name)(list(lin.parameters()) + list(emb.parameters()))
    lin(emb(tg.tensor([1, 2], device=device))).sum().backward()
    before = [host(p).copy() for p in (*lin.parameters(), *emb.parameters())]
    with pytest.raises(RuntimeError, match=f"^{opt_name} does not support sparse gradients"):
        opt.step()
    for b, p in zip(before, (*lin.parameters(), *emb.parameters()), strict=True):
        np.testing.assert_array_equal(host(p), b)
    assert not dict(opt.state)


def test_adam_refusal_points_to_sparse_adam():
    emb = tg.nn.Embedding(V, D, sparse=True)
    emb(tg.tensor([1])).sum().backward()
    with pytest.raises(RuntimeError, match="please consider SparseAdam instead"):
        tg.optim.Adam(emb.parameters()).step()


def test_lbfgs_takes_a_sparse_gradient_dense():
    torch = _torch()

    def run(lib):
        emb = lib.nn.Embedding.from_pretrained(lib.tensor(_weight()), freeze=False, sparse=True)
        opt = lib.optim.LBFGS(emb.parameters(), lr=0.5, max_iter=5)
        tokens = lib.tensor([1, 4, 4])

        def closure():
            opt.zero_grad()
            loss = ((emb(tokens) - 1) ** 2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        opt.step(closure)  # the first left a sparse .grad behind: taken again, not refused
        return emb.weight.detach().numpy()

    np.testing.assert_allclose(run(tg), run(torch), rtol=1e-10)


def test_zero_grad_keeps_a_sparse_grad_sparse(device):
    emb = tg.nn.Embedding(V, D, sparse=True).to(device)
    opt = tg.optim.SGD(emb.parameters(), lr=0.1)
    emb(tg.tensor([1, 2], device=device)).sum().backward()
    opt.zero_grad(set_to_none=False)
    g = emb.weight.grad
    assert g.is_sparse and g._nnz() == 0 and not host(g.to_dense()).any()
    emb(tg.tensor([3], device=device)).sum().backward()
    assert emb.weight.grad.is_sparse and _indices_values(emb.weight.grad)[0].tolist() == [[3]]
    emb.zero_grad(set_to_none=False)
    assert emb.weight.grad._nnz() == 0
    emb.zero_grad()
    assert emb.weight.grad is None


def test_clipping_a_sparse_grad(device):
    """clip_grad_norm_ counts each row once (repeated indices summed first) and scales the
    values; clip_grad_value_ clamps the coalesced rows (PyTorch refuses both for sparse
    gradients)."""
    emb = tg.nn.Embedding.from_pretrained(tg.tensor(_weight()), freeze=False,
                                          sparse=True).to(device)
    lin = tg.nn.Linear(D, 1, dtype=tg.float64).to(device)
    lin(emb(tg.tensor([1, 1, 6], device=device))).sum().backward()
    dense = [host(emb.weight.grad.to_dense()), host(lin.weight.grad), host(lin.bias.grad)]
    want = np.sqrt(sum((d ** 2).sum() for d in dense))
    params = [*emb.parameters(), *lin.parameters()]
    total = tg.nn.utils.clip_grad_norm_(params, 0.5)
    assert float(total) == pytest.approx(want, rel=1e-14)
    assert emb.weight.grad.is_sparse
    np.testing.assert_allclose(host(emb.weight.grad.to_dense()), dense[0] * 0.5 / (want + 1e-6),
                               rtol=1e-14)
    tg.nn.utils.clip_grad_value_(params, 0.01)
    g = emb.weight.grad
    assert g.is_sparse and g.is_coalesced()
    assert np.abs(host(g.to_dense())).max() == pytest.approx(0.01)


def test_grad_scaler_unscales_a_sparse_grad():
    emb = tg.nn.Embedding.from_pretrained(tg.tensor(_weight()), freeze=False, sparse=True)
    opt = tg.optim.SGD(emb.parameters(), lr=0.1)
    scaler = tg.amp.GradScaler("cpu", init_scale=8.0)
    scaler.scale(emb(tg.tensor([2, 9])).sum()).backward()
    scaler.unscale_(opt)
    assert emb.weight.grad.is_sparse
    np.testing.assert_array_equal(emb.weight.grad.to_dense().numpy()[[2, 9]], np.ones((2, D)))
    scaler.step(opt)
    np.testing.assert_allclose(emb.weight.detach().numpy()[2], _weight()[2] - 0.1, rtol=1e-15)
    # an inf among the sparse values skips the step
    before = emb.weight.detach().numpy().copy()
    opt.zero_grad()
    scaler.update()
    (emb(tg.tensor([3])) * np.inf).sum().backward()
    scaler.step(opt)
    np.testing.assert_array_equal(emb.weight.detach().numpy(), before)


def test_where_the_gradient_stays_dense():
    """A weight computed from another (not a leaf), create_graph, tg.autograd.grad and
    anomaly mode: the same values as the dense gradient."""
    w = tg.tensor(_weight(), requires_grad=True)
    tokens = tg.tensor([1, 1, 3])
    want = np.zeros((V, D))
    np.add.at(want, [1, 1, 3], 2 * _weight()[[1, 1, 3]])
    F.embedding(tokens, w * 1.0, sparse=True).pow(2).sum().backward()
    assert not w.grad.is_sparse
    np.testing.assert_allclose(w.grad.numpy(), want, rtol=1e-15)
    g, = tg.autograd.grad(F.embedding(tokens, w, sparse=True).pow(2).sum(), w)
    assert not g.is_sparse
    np.testing.assert_allclose(g.numpy(), want, rtol=1e-15)
    g, = tg.autograd.grad(F.embedding(tokens, w, sparse=True).pow(2).sum(), w, create_graph=True)
    np.testing.assert_allclose(g.numpy(), want, rtol=1e-15)
    (g * g).sum().backward()  # differentiable again: d/dw sum (2 w_r count)^2
    w.grad = None
    g, = tg.autograd.grad(F.embedding(tokens, w, sparse=True).pow(2).sum(), w, create_graph=True)
    g.sum().backward()  # through the lookup again: this gradient is sparse
    want2 = np.zeros((V, D))
    np.add.at(want2, [1, 1, 3], 2.0)
    np.testing.assert_allclose(w.grad.to_dense().numpy(), want2, rtol=1e-15)
    w.grad = None
    with tg.autograd.detect_anomaly():
        F.embedding(tokens, w, sparse=True).pow(2).sum().backward()
    assert w.grad.is_sparse
    with tg.autograd.detect_anomaly(), pytest.raises(RuntimeError, match="anomaly.*nan"):
        (F.embedding(tokens, w, sparse=True) * np.nan).sum().backward()


def test_sparse_grad_leaf_hooks_see_the_sparse_tensor():
    w = tg.tensor(_weight(), requires_grad=True)
    seen = []
    w.register_hook(lambda g: seen.append(g.is_sparse))
    F.embedding(tg.tensor([2]), w, sparse=True).sum().backward()
    assert seen == [True] and w.grad.is_sparse


def test_embedding_repr_shows_sparse():
    assert repr(tg.nn.Embedding(5, 3, scale_grad_by_freq=True, sparse=True)) == \
        "Embedding(5, 3, scale_grad_by_freq=True, sparse=True)"


def test_lookups_from_a_large_table_are_fancy_indexing(device):
    """From a table larger than the cache the host takes rows with np.take (faster there);
    the values and both gradients are those of weight[idx]."""
    from tensorgrad.nn.functional import _TAKE_FROM

    rng = np.random.default_rng(6)
    table = rng.standard_normal((20000, 32)).astype(np.float32)
    assert table.nbytes >= _TAKE_FROM
    idx = rng.integers(0, 20000, (16, 9))
    upstream = rng.standard_normal((16, 9, 32)).astype(np.float32)
    want = np.zeros_like(table)
    np.add.at(want, idx, upstream)
    for sparse in (False, True):
        w = tg.tensor(table, device=device, requires_grad=True)
        out = F.embedding(tg.tensor(idx, device=device), w, sparse=sparse)
        np.testing.assert_array_equal(host(out), table[idx])
        (out * tg.tensor(upstream, device=device)).sum().backward()
        got = w.grad.to_dense() if sparse else w.grad
        np.testing.assert_allclose(host(got), want, rtol=1e-6, atol=1e-6)
