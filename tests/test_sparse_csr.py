"""Compressed sparse layouts (tensorgrad/sparse_compressed.py) against PyTorch's CSR and CSC
tensors: construction and index arrays, conversions between dense, COO, CSR and CSC, the
products (@, tg.mm, tg.addmm, tg.sparse.mm/addmm) and their gradients (dense operand, values,
CSR/CSC leaves), transpose, save/load, devices, the invariant checks and their errors; and
derivatives to second order in both modes against finite differences."""

import numpy as np
import pytest
from devices import close_to_torch, host, on, put, tensor_on, torch_oracle

import tensorgrad as tg

torch = torch_oracle()
# PyTorch's notes that CSR/CSC are beta and that it checks invariants only when asked
pytestmark = [pytest.mark.filterwarnings("ignore:Sparse CS[RC] tensor support is in beta"),
              pytest.mark.filterwarnings("ignore:Sparse invariant checks are implicitly")]

_RNG = np.random.default_rng(11)


def _dense(n, m, density=0.4):
    """A random (n, m) float64 matrix with about ``density`` of its entries nonzero."""
    a = _RNG.standard_normal((n, m))
    return a * (_RNG.random((n, m)) < density)


def _csr_arrays(a):
    """(crow, col, values) of the dense NumPy matrix ``a`` (PyTorch's conversion)."""
    t = torch.tensor(a).to_sparse_csr()
    return t.crow_indices().numpy(), t.col_indices().numpy(), t.values().numpy()


def _same(ours, theirs, **tol):
    """Same layout, index arrays, values and shape as PyTorch's compressed tensor."""
    assert repr(ours.layout) == repr(theirs.layout)
    assert tuple(ours.shape) == tuple(theirs.shape) and ours._nnz() == theirs._nnz()
    if theirs.layout is torch.sparse_csr:
        pairs = ((ours.crow_indices(), theirs.crow_indices()),
                 (ours.col_indices(), theirs.col_indices()))
    else:
        pairs = ((ours.ccol_indices(), theirs.ccol_indices()),
                 (ours.row_indices(), theirs.row_indices()))
    for mine, ref in pairs:
        np.testing.assert_array_equal(host(mine), ref.numpy())
    close_to_torch(ours.values(), theirs.values(), **tol)


# ---- construction ------------------------------------------------------------------------
def test_construction_attributes_and_indices(device):
    a = _dense(5, 4)
    crow, col, vals = _csr_arrays(a)
    s = tg.sparse_csr_tensor(put(crow, device), put(col, device), put(vals, device), (5, 4))
    ts = torch.sparse_csr_tensor(torch.tensor(crow), torch.tensor(col), torch.tensor(vals),
                                 (5, 4))
    _same(s, ts)
    assert isinstance(s, tg.Tensor) and s.layout is tg.sparse_csr
    assert s.is_sparse is False and s.is_sparse_csr is True
    assert ts.is_sparse is False and ts.is_sparse_csr is True
    assert s.sparse_dim() == ts.sparse_dim() == 2 and s.dense_dim() == ts.dense_dim() == 0
    assert repr(tg.sparse_csr) == "torch.sparse_csr" and repr(tg.sparse_csc) == "torch.sparse_csc"
    assert on(s.crow_indices(), device) and on(s.col_indices(), device)
    assert on(s.values(), device) and s.dtype == np.float64
    close_to_torch(s.to_dense(), ts.to_dense())
    assert repr(s).splitlines()[0] == repr(ts).splitlines()[0]
    assert "layout=torch.sparse_csr" in repr(s) and f"nnz={len(vals)}" in repr(s)
    # the size is inferred, lists and dtype=/device= are accepted
    inferred = tg.sparse_csr_tensor(crow.tolist(), col.tolist(), vals.tolist(), dtype=tg.float64,
                                    device=device)
    tinf = torch.sparse_csr_tensor(torch.tensor(crow), torch.tensor(col), torch.tensor(vals))
    assert tuple(inferred.shape) == tuple(tinf.shape)
    assert inferred.dtype == np.float64 and on(inferred.values(), device)
    # int32 indices stay int32, as PyTorch's
    s32 = tg.sparse_csr_tensor(crow.astype(np.int32), col.astype(np.int32), vals, (5, 4))
    t32 = torch.sparse_csr_tensor(torch.tensor(crow).int(), torch.tensor(col).int(),
                                  torch.tensor(vals), (5, 4))
    assert s32.crow_indices().dtype == np.int32 and t32.crow_indices().dtype == torch.int32


def test_csc_construction_and_compressed_tensor(device):
    a = _dense(4, 6)
    t = torch.tensor(a).to_sparse_csc()
    cc, ri, v = (x.numpy() for x in (t.ccol_indices(), t.row_indices(), t.values()))
    s = tg.sparse_csc_tensor(put(cc, device), put(ri, device), put(v, device), (4, 6))
    _same(s, t)
    assert s.is_sparse_csr is False and t.is_sparse_csr is False
    close_to_torch(s.to_dense(), a)
    g = tg.sparse_compressed_tensor(put(cc, device), put(ri, device), put(v, device), (4, 6),
                                    layout=tg.sparse_csc)
    _same(g, torch.sparse_compressed_tensor(t.ccol_indices(), t.row_indices(), t.values(),
                                            (4, 6), layout=torch.sparse_csc))
    crow, col, vals = _csr_arrays(a)
    r = tg.sparse_compressed_tensor(crow, col, vals, (4, 6), layout=tg.sparse_csr)
    assert r.layout is tg.sparse_csr
    close_to_torch(r.to_dense(), a)
    # the other layout's index accessors raise PyTorch's error
    with pytest.raises(RuntimeError, match="crow_indices expected sparse row compressed tensor "
                       "layout but got SparseCsc"):
        s.crow_indices()
    with pytest.raises(RuntimeError, match="crow_indices expected sparse row compressed"):
        t.crow_indices()
    with pytest.raises(RuntimeError, match="row_indices expected sparse column compressed "
                       "tensor layout but got SparseCsr"):
        r.row_indices()


def test_empty_and_all_zero_rows(device):
    s = tg.sparse_csr_tensor(put(np.zeros(4, np.int64), device), put(np.zeros(0, np.int64),
                             device), put(np.zeros(0), device), (3, 5))
    assert s._nnz() == 0 and tuple(s.shape) == (3, 5)
    out = s @ tensor_on(_RNG.standard_normal((5, 2)), device)
    assert host(out).tolist() == [[0.0, 0.0]] * 3
    d = tensor_on(np.zeros((3, 4)), device).to_sparse_csr()
    td = torch.zeros(3, 4).to_sparse_csr()
    assert d._nnz() == 0 and host(d.crow_indices()).tolist() == td.crow_indices().tolist()


# ---- conversions -------------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["csr", "csc"])
def test_conversions_match_torch(device, layout):
    a = _dense(6, 5)
    x, tx = tensor_on(a, device), torch.tensor(a)
    ours, theirs = getattr(x, f"to_sparse_{layout}")(), getattr(tx, f"to_sparse_{layout}")()
    _same(ours, theirs)
    lay = getattr(tg, f"sparse_{layout}")
    _same(x.to_sparse(layout=lay), tx.to_sparse(layout=getattr(torch, f"sparse_{layout}")))
    # between the layouts
    other = "csc" if layout == "csr" else "csr"
    _same(getattr(ours, f"to_sparse_{other}")(), getattr(theirs, f"to_sparse_{other}")())
    assert getattr(ours, f"to_sparse_{layout}")() is ours
    coo, tcoo = ours.to_sparse_coo(), theirs.to_sparse_coo()
    assert coo.layout is tg.sparse_coo and coo.is_coalesced()
    np.testing.assert_array_equal(host(coo.indices()), tcoo.coalesce().indices().numpy())
    close_to_torch(coo.values(), tcoo.coalesce().values())
    assert ours.to_sparse().layout is tg.sparse_coo and theirs.to_sparse().layout is \
        torch.sparse_coo
    # COO -> compressed
    _same(getattr(x.to_sparse(), f"to_sparse_{layout}")(),
          getattr(tx.to_sparse(), f"to_sparse_{layout}")())
    _same(x.to_sparse().to_sparse(layout=lay),
          tx.to_sparse().to_sparse(layout=getattr(torch, f"sparse_{layout}")))
    close_to_torch(ours.to_dense(), a)


def test_uncoalesced_coo_to_csr_sums_repeats(device):
    idx = np.array([[1, 0, 1, 1], [2, 1, 0, 2]])
    v = np.array([1.0, 2.0, 3.0, 4.0])
    s = tg.sparse_coo_tensor(put(idx, device), put(v, device), (2, 3))
    ts = torch.sparse_coo_tensor(torch.tensor(idx), torch.tensor(v), (2, 3))
    _same(s.to_sparse_csr(), ts.to_sparse_csr())
    _same(s.to_sparse_csc(), ts.to_sparse_csc())


def test_transpose_gives_the_other_layout(device):
    a = _dense(4, 6)
    s, ts = tensor_on(a, device).to_sparse_csr(), torch.tensor(a).to_sparse_csr()
    _same(s.t(), ts.t())
    _same(s.transpose(0, 1), ts.transpose(0, 1))
    _same(s.T.T, ts.t().t())
    c, tc = s.to_sparse_csc(), ts.to_sparse_csc()
    _same(c.t(), tc.t())
    assert s.t().values() is s.values()  # shared, as PyTorch's transpose


def test_device_moves_and_dtypes(device):
    a = _dense(3, 4)
    s = tensor_on(a, "cpu").to_sparse_csr()
    moved = s.to(device)
    assert on(moved.values(), device) and on(moved.crow_indices(), device)
    assert on(moved.col_indices(), device) and moved.layout is tg.sparse_csr
    back = moved.cpu()
    assert on(back.crow_indices(), "cpu")
    np.testing.assert_array_equal(host(back.to_dense()), a)
    if device != "cpu":
        c = s.cuda()
        assert on(c.values(), device) and on(c.col_indices(), device)
    f = moved.to(tg.float32)
    assert f.dtype == np.float32 and f.layout is tg.sparse_csr
    assert moved.double().dtype == np.float64
    d = moved.detach()
    assert d.layout is tg.sparse_csr and not d.requires_grad


# ---- products and gradients --------------------------------------------------------------
def _pair(a, device, requires_grad=False, layout="csr"):
    """(ours, torch's) CSR/CSC matrices of the dense ``a``; leaves when ``requires_grad``."""
    ours = getattr(tensor_on(a, device), f"to_sparse_{layout}")().detach()
    theirs = getattr(torch.tensor(a), f"to_sparse_{layout}")().detach()
    if requires_grad:
        ours.requires_grad_()
        theirs.requires_grad_()
    return ours, theirs


@pytest.mark.parametrize("layout", ["csr", "csc"])
@pytest.mark.parametrize("how", ["matmul", "tg.mm", "sparse.mm", "addmm", "sparse.addmm",
                                 "method"])
def test_product_values_and_dense_gradient(device, how, layout):
    a, b = _dense(6, 5), _RNG.standard_normal((5, 3))
    s, ts = _pair(a, device, layout=layout)
    x, tx = tensor_on(b, device, requires_grad=True), torch.tensor(b, requires_grad=True)
    m, tm = _RNG.standard_normal((6, 3)), None
    tm = torch.tensor(m)
    ops = {"matmul": (lambda p, q: p @ q, lambda p, q: p @ q),
           "tg.mm": (tg.mm, torch.mm),
           "sparse.mm": (tg.sparse.mm, torch.sparse.mm),
           "addmm": (lambda p, q: tg.addmm(tensor_on(m, device), p, q, beta=0.5, alpha=2.0),
                     lambda p, q: torch.addmm(tm, p, q, beta=0.5, alpha=2.0)),
           "sparse.addmm": (lambda p, q: tg.sparse.addmm(tensor_on(m, device), p, q),
                            lambda p, q: torch.sparse.addmm(tm, p, q)),
           "method": (lambda p, q: p.mm(q), lambda p, q: p.mm(q))}
    f, tf = ops[how]
    out, tout = f(s, x), tf(ts, tx)
    close_to_torch(out, tout, rtol=1e-12)
    w = _RNG.standard_normal((6, 3))
    (out * tensor_on(w, device)).sum().backward()
    (tout * torch.tensor(w)).sum().backward()
    close_to_torch(x.grad, tx.grad, rtol=1e-12)
    assert on(x.grad, device)


def test_vector_and_dense_at_sparse(device):
    a, v, d = _dense(5, 4), _RNG.standard_normal(4), _RNG.standard_normal((3, 5))
    s, ts = _pair(a, device)
    close_to_torch(s @ tensor_on(v, device), ts @ torch.tensor(v), rtol=1e-12)
    close_to_torch(tensor_on(d, device) @ s, torch.tensor(d) @ ts.to_dense(), rtol=1e-12)
    close_to_torch(tg.matmul(s, tensor_on(v, device)), a @ v, rtol=1e-12)


def test_gradient_to_the_values_tensor(device):
    a = _dense(5, 4)
    crow, col, vals = _csr_arrays(a)
    v, tv = tensor_on(vals, device, requires_grad=True), torch.tensor(vals, requires_grad=True)
    s = tg.sparse_csr_tensor(put(crow, device), put(col, device), v, (5, 4))
    ts = torch.sparse_csr_tensor(torch.tensor(crow), torch.tensor(col), tv, (5, 4))
    assert not s.is_leaf and s.requires_grad and not ts.is_leaf
    b = _RNG.standard_normal((4, 2))
    (s @ tensor_on(b, device)).pow(2).sum().backward()
    (ts @ torch.tensor(b)).pow(2).sum().backward()
    close_to_torch(v.grad, tv.grad, rtol=1e-12)


@pytest.mark.parametrize("layout", ["csr", "csc"])
@pytest.mark.parametrize("how", ["sparse.mm", "sparse.addmm", "to_dense", "matmul"])
def test_leaf_gets_a_sparse_gradient_on_its_pattern(device, how, layout):
    """PyTorch 2.13 gives a CSR leaf the gradient on its pattern for sparse.mm, sparse.addmm
    and to_dense (compared in full), and for @ / mm / addmm the dense unmasked one;
    tensorgrad gives the one on the pattern throughout, equal to PyTorch's dense gradient at
    the pattern. PyTorch has no backward to a CSC leaf, so a CSC leaf of ours is compared with
    PyTorch's CSR gradient, converted."""
    a, b = _dense(5, 4), _RNG.standard_normal((4, 3))
    s, _ = _pair(a, device, requires_grad=True, layout=layout)
    _, ts = _pair(a, device, requires_grad=True, layout="csr")
    assert s.is_leaf and s.requires_grad and s.grad is None
    x, tx = tensor_on(b, device), torch.tensor(b)
    m = _RNG.standard_normal((5, 3))
    ops = {"sparse.mm": (lambda p: tg.sparse.mm(p, x), lambda p: torch.sparse.mm(p, tx)),
           "sparse.addmm": (lambda p: tg.sparse.addmm(tensor_on(m, device), p, x),
                            lambda p: torch.sparse.addmm(torch.tensor(m), p, tx)),
           "to_dense": (lambda p: p.to_dense() * 3.0, lambda p: p.to_dense() * 3.0),
           "matmul": (lambda p: p @ x, lambda p: p @ tx)}
    f, tf = ops[how]
    f(s).pow(2).sum().backward()
    tf(ts).pow(2).sum().backward()
    g = s.grad
    assert g.layout is s.layout and on(g.values(), device) and not g.requires_grad
    want = ts.grad
    if want.layout is torch.strided:  # PyTorch's unmasked dense gradient
        mask = a != 0
        np.testing.assert_array_equal(host(g.to_dense())[~mask], 0.0)
        want = (want * torch.tensor(mask)).to_sparse_csr()
    else:
        assert how != "matmul"
    _same(g, getattr(want, f"to_sparse_{layout}")(), rtol=1e-12)
    s.grad = None
    assert s.grad is None


def test_training_step_with_a_csr_adjacency(device):
    """A GCN-style step: the adjacency is CSR, the weights get PyTorch's gradients."""
    a = _dense(8, 8, 0.3) + np.eye(8)
    feats, w0 = _RNG.standard_normal((8, 5)), _RNG.standard_normal((5, 3))
    adj, tadj = _pair(a, device)
    x = tensor_on(feats, device)
    w, tw = tensor_on(w0, device, requires_grad=True), torch.tensor(w0, requires_grad=True)
    tg.tanh(adj @ (x @ w)).sum().backward()
    torch.tanh(tadj @ (torch.tensor(feats) @ tw)).sum().backward()
    close_to_torch(w.grad, tw.grad, rtol=1e-10)


# ---- second order ------------------------------------------------------------------------
def _check2(f, *args):
    tg.check_grads(f, modes=("fwd", "rev"), order=2)(*args)


@pytest.mark.parametrize("layout", ["csr", "csc"])
def test_product_second_order_in_values_and_dense(device, layout):
    a = _dense(5, 4, 0.5)
    t = getattr(torch.tensor(a), f"to_sparse_{layout}")()
    comp = (t.crow_indices() if layout == "csr" else t.ccol_indices()).numpy()
    plain = (t.col_indices() if layout == "csr" else t.row_indices()).numpy()
    build = getattr(tg, f"sparse_{layout}_tensor")

    def f(vals, x):
        s = build(put(comp, device), put(plain, device), vals, (5, 4))
        y = tg.tanh(s @ x)
        return y.sum() + (s.t() @ y).sum() + (s.to_dense() ** 2).sum()

    _check2(f, put(t.values().numpy(), device), put(_RNG.standard_normal((4, 3)), device))


def test_conversions_second_order(device):
    def f(x):
        x = x if isinstance(x, tg.Tensor) else tg.tensor(x)
        s = x.to_sparse_csr()
        c = s.to_sparse_csc()
        return tg.sin(c @ x.t()).sum() + (s.to_sparse_coo() * 2.0).to_dense()

    # no zeros: finite differences stay on the pattern
    _check2(f, put(_RNG.standard_normal((3, 3)) + 3.0, device))


# ---- save / load -------------------------------------------------------------------------
def test_save_load_round_trip(device, tmp_path):
    a = _dense(4, 6)
    s = tensor_on(a, device).to_sparse_csr()
    c = tensor_on(a, device).to_sparse_csc().detach().requires_grad_()
    s32 = tg.sparse_csr_tensor(*(put(np.asarray(z), device) for z in (
        host(s.crow_indices()).astype(np.int32), host(s.col_indices()).astype(np.int32))),
        s.values().detach(), (4, 6))
    path = tmp_path / "csr.tg"
    tg.save({"csr": s, "csc": c, "i32": s32}, path)
    back = tg.load(path)
    for name, orig in (("csr", s), ("csc", c), ("i32", s32)):
        got = back[name]
        assert got.layout is orig.layout and tuple(got.shape) == tuple(orig.shape)
        assert str(got.device) == str(orig.device)
        np.testing.assert_array_equal(host(got.to_dense()), a)
    np.testing.assert_array_equal(host(back["csr"].crow_indices()), host(s.crow_indices()))
    assert back["i32"].crow_indices().dtype == np.int32
    assert back["csc"].requires_grad and back["csc"].is_leaf
    cpu = tg.load(path, map_location="cpu")["csr"]
    assert on(cpu.values(), "cpu") and on(cpu.crow_indices(), "cpu")


def test_load_checks_the_invariants(tmp_path):
    import json
    import zipfile

    s = tg.sparse_csr_tensor([0, 1, 2], [1, 0], [1.0, 2.0], (2, 2))
    path = tmp_path / "s.tg"
    tg.save(s, path)
    with zipfile.ZipFile(path) as z:
        files = {n: z.read(n) for n in z.namelist()}
    for change in ({"size": [2, 1]}, {"size": [3, 2]}, {"sparse_compressed": "sparse_bsr"}):
        st = json.loads(files["structure.json"])
        st["root"].update(change)
        bad = tmp_path / "bad.tg"
        with zipfile.ZipFile(bad, "w") as z:
            for name, data in files.items():
                z.writestr(name, json.dumps(st) if name == "structure.json" else data)
        with pytest.raises(ValueError, match="not a valid tensorgrad checkpoint"):
            tg.load(bad)


# ---- bad input ---------------------------------------------------------------------------
_GOOD = ([0, 2, 2, 3], [0, 2, 1], [1.0, 2.0, 3.0], (3, 3))


@pytest.mark.parametrize("case, match", [
    (dict(crow=[0, 2, 1, 3]), r"sparse_csr_tensor\(\): `0 <= crow_indices\[\.\.\., 1:\] - "
     r"crow_indices\[\.\.\., :-1\] <= ncols` is not satisfied.*crow_indices of shape \(4,\)"),
    (dict(crow=[0, 2, 3]), r"crow_indices.shape\[-1\] must be equal to the number of rows \+ 1 "
     r"\(=4\), but got 3.*crow_indices of shape \(3,\), col_indices of shape \(3,\)"),
    (dict(col=[0, 5, 1]), r"`0 <= col_indices < ncols` is not satisfied.*holds 5.*size \(3, 3\)"),
    (dict(col=[0, -1, 1]), r"`0 <= col_indices < ncols` is not satisfied.*holds -1"),
    (dict(col=[0, 2]), r"col_indices.shape\[-1\] must be equal to nnz \(=3\).*but got 2"),
    (dict(crow=[1, 2, 2, 3]), r"`crow_indices\[\.\.\., 0\] == 0` is not satisfied"),
    (dict(crow=[0, 2, 2, 2]), r"`crow_indices\[\.\.\., -1\] == nnz` is not satisfied"),
    (dict(crow=np.array([0, 2, 2, 3], np.int32)), r"must have the same dtype.*int32 and int64"),
    (dict(crow=[0.0, 2.0, 2.0, 3.0]), r"indices must be an integer tensor"),
])
def test_bad_indices_raise_clear_errors(case, match):
    crow, col, vals, size = _GOOD
    crow, col = case.get("crow", crow), case.get("col", col)
    with pytest.raises((RuntimeError, TypeError), match=match):
        tg.sparse_csr_tensor(crow, col, vals, size)
    # PyTorch refuses the same input under check_invariants=True
    with pytest.raises(RuntimeError):
        torch.sparse_csr_tensor(torch.tensor(crow), torch.tensor(col), torch.tensor(vals), size,
                                check_invariants=True)


def test_bad_input_on_the_device(device):
    crow, col, vals, size = _GOOD
    with pytest.raises(RuntimeError, match=r"sparse_csc_tensor\(\): `0 <= row_indices < nrows`"):
        tg.sparse_csc_tensor(put(np.array(crow), device), put(np.array([0, 7, 1]), device),
                             put(np.array(vals), device), size)
    with pytest.raises(ValueError, match=r"ccol_indices.shape\[-1\] must be equal to the number "
                       r"of columns \+ 1 \(=6\)"):
        tg.sparse_csc_tensor(put(np.array(crow), device), put(np.array(col), device),
                             put(np.array(vals), device), (3, 5))


def test_sorted_distinct_check_and_the_switch():
    crow, vals = [0, 2], [1.0, 2.0]
    for col in ([1, 0], [1, 1]):
        tg.sparse_csr_tensor(crow, col, vals, (1, 3))  # accepted, as PyTorch without checks
        torch.sparse_csr_tensor(torch.tensor(crow), torch.tensor(col), torch.tensor(vals), (1, 3))
        with pytest.raises(RuntimeError, match="are sorted and distinct"):
            tg.sparse_csr_tensor(crow, col, vals, (1, 3), check_invariants=True)
        with pytest.raises(RuntimeError, match="are sorted and distinct"):
            torch.sparse_csr_tensor(torch.tensor(crow), torch.tensor(col), torch.tensor(vals),
                                    (1, 3), check_invariants=True)
    check = tg.sparse.check_sparse_tensor_invariants
    assert check.is_enabled() is False
    with check():
        assert check.is_enabled() is True
        with pytest.raises(RuntimeError, match=r"sparse_csr_tensor\(\).*sorted and distinct"):
            tg.sparse_csr_tensor(crow, [1, 0], vals, (1, 3))
        # check_invariants=False overrides the switch
        tg.sparse_csr_tensor(crow, [1, 0], vals, (1, 3), check_invariants=False)
    assert check.is_enabled() is False

    @check()
    def build():
        return tg.sparse_csr_tensor(crow, [1, 0], vals, (1, 3))

    with pytest.raises(RuntimeError, match="sorted and distinct"):
        build()
    assert check.is_enabled() is False
    check.enable()
    try:
        assert check.is_enabled() is True
    finally:
        check.disable()
    assert check.is_enabled() is False
    # an unsorted pattern still multiplies and converts correctly (entries add up)
    s = tg.sparse_csr_tensor([0, 3], [2, 0, 2], [1.0, 2.0, 3.0], (1, 3))
    np.testing.assert_allclose(s.to_dense().numpy(), [[2.0, 0.0, 4.0]])
    np.testing.assert_allclose((s @ tg.ones(3, 1, dtype=tg.float64)).numpy(), [[6.0]])
    np.testing.assert_allclose(s.to_sparse_coo().values().numpy(), [2.0, 4.0])


def test_unsupported_operations_and_layouts(device):
    s = tensor_on(_dense(3, 3), device).to_sparse_csr()
    with pytest.raises(NotImplementedError, match=r"exp\(\): not supported for sparse_csr"):
        s.exp()
    with pytest.raises(NotImplementedError, match="sparse_csr tensor of shape"):
        tg.exp(s)
    with pytest.raises(RuntimeError, match="indices expected sparse coordinate tensor layout "
                       "but got SparseCsr"):
        s.indices()
    with pytest.raises(RuntimeError, match="coalesce expected sparse coordinate"):
        s.coalesce()
    for fn in (lambda: tg.ones(2, 2).to_sparse(layout=tg.sparse_bsr),
               lambda: tg.ones(2, 2).to_sparse_bsr((1, 1)),
               lambda: s.to_sparse(layout=tg.sparse_bsc),
               lambda: tg.sparse_compressed_tensor([0, 1], [0], [1.0], layout=tg.sparse_bsr),
               lambda: tg.sparse_bsr_tensor([0, 1], [0], [[[1.0]]])):
        with pytest.raises(NotImplementedError, match="block|BSR|bsr|bsc"):
            fn()
    with pytest.raises(NotImplementedError, match="batched or hybrid"):
        tg.sparse_csr_tensor([0, 1], [0], [[1.0, 2.0]])
    with pytest.raises(NotImplementedError, match="only 2-D tensors"):
        tg.ones(2, 2, 2).to_sparse_csr()
    with pytest.raises(RuntimeError, match=r"mat1 of shape \(3, 3\).*mat2 of shape \(4, 2\)"):
        tg.sparse.mm(s, tensor_on(np.ones((4, 2)), device))
    # dense tensors: PyTorch's errors for the compressed accessors, and is_sparse_csr False
    x = tg.ones(2, 2)
    assert x.is_sparse_csr is False and tg.ones(2, 2).to_sparse().is_sparse_csr is False
    for name, what in (("crow_indices", "row"), ("col_indices", "row"),
                       ("ccol_indices", "column"), ("row_indices", "column")):
        with pytest.raises(RuntimeError, match=f"{name} expected sparse {what} compressed "
                           "tensor layout but got Strided"):
            getattr(x, name)()
        with pytest.raises(RuntimeError, match=f"{name} expected sparse {what} compressed"):
            getattr(torch.ones(2, 2), name)()


def test_arithmetic_keeps_the_layout(device):
    a, b = _dense(3, 4), _dense(3, 4)
    s, ts = _pair(a, device)
    _same(s * 2.0, ts * 2.0)
    _same(s / 4.0, ts * 0.25)  # PyTorch's CSR has no division
    _same(-s, -ts)
    u, tu = _pair(b, device)
    got, want = s + u, ts + tu
    assert got.layout is tg.sparse_csr
    close_to_torch(got.to_dense(), want.to_dense(), rtol=1e-12)
    close_to_torch(s + tensor_on(b, device), ts.to_dense() + torch.tensor(b), rtol=1e-12)
    close_to_torch(s.sum(), ts.sum(), rtol=1e-12)


def test_module_buffer_and_no_reference_cycles(device):
    from devices import cyclic_garbage

    m = tg.nn.Module()
    m.register_buffer("adj", tensor_on(_dense(4, 4) + np.eye(4), device).to_sparse_csr())
    m.float()
    assert m.adj.dtype == np.float32 and m.adj.layout is tg.sparse_csr
    assert on(m.adj.crow_indices(), device)
    assert m.state_dict()["adj"].layout is tg.sparse_csr
    x = tensor_on(_RNG.standard_normal((4, 2)).astype(np.float32), device, requires_grad=True)
    with cyclic_garbage() as found:
        for _ in range(2):
            (m.adj.t() @ tg.tanh(m.adj @ x)).sum().backward()
    assert not found and x.grad is not None


def test_data_assignment_swaps_contents_and_refuses_other_layouts(device):
    a = tensor_on(_dense(3, 4), device).to_sparse_csr()
    b = tensor_on(_dense(3, 4) * 2 + 1, device).to_sparse_csr()
    keep = a
    a.data = b
    assert a is keep and a.layout is tg.sparse_csr
    np.testing.assert_array_equal(host(a.to_dense()), host(b.to_dense()))
    np.testing.assert_array_equal(host(a.crow_indices()), host(b.crow_indices()))
    with pytest.raises(tg.sparse.SparseLayoutError,
                       match="can be set to a compressed sparse tensor only"):
        a.data = tensor_on(_dense(3, 4), device).to_sparse()
    coo = tensor_on(_dense(3, 4), device).to_sparse()
    with pytest.raises(tg.sparse.SparseLayoutError, match="can be set to a sparse tensor only"):
        coo.data = tensor_on(_dense(3, 4), device)
