"""The gradient of row lookups (``w[idx]``, an embedding) and of lookups after whole slices
(``x[:, i, j]``, bilinear upsampling's corners) is a scatter-add of the cotangent. On the host
tensorgrad runs it as NumPy's ``add.at`` of single entries at flat positions (a few ns an
entry) rather than of whole rows (~400 ns a row) or through NumPy's general loop: the same
additions in the same order, so the very numbers of ``add.at``; rows of a larger cotangent
over the first axis alone go through SciPy's CSR product with the 0/1 (rows, entries) matrix
where SciPy is installed (each row adds its entries in order: the same numbers, 2-5x faster
again). Checked here bit for bit
against ``np.add.at``, for every dtype, repeated and negative indices, several index arrays
and broadcast ones, leading slices, on both sides of the size threshold; and embedding and
upsampling gradients against PyTorch's.
"""

import numpy as np
import pytest
from devices import host, tensor_on

import tensorgrad as tg
import tensorgrad.nn.functional as F
from tensorgrad.ops import index as _index
from tensorgrad.ops.index import _CSR_AT, _FLAT_AT, _FLAT_CHUNK, untake

RNG = np.random.default_rng(11)


def _values(shape, dtype):
    if np.dtype(dtype).kind == "b":
        return RNG.random(shape) < 0.3
    if np.dtype(dtype).kind in "iu":
        return RNG.integers(-50, 50, shape).astype(dtype)
    a = RNG.standard_normal(shape) * 10
    if np.dtype(dtype).kind == "c":
        a = a + 1j * RNG.standard_normal(shape)
    return a.astype(dtype)


# (table shape, index shapes (one per leading dim), rows drawn from)
CASES = [((1000, 64), [(2000,)]), ((30, 5), [(4, 40)]), ((7, 3), [(10,)]),
         ((50, 6, 4), [(300,)]), ((20, 30, 8), [(100,), (100,)]),
         ((9, 11, 5), [(40, 1), (1, 30)]), ((5, 2), [(20000,)]),
         ((40, 3000), [(25,)]), ((6, 40000), [(7,)])]
DTYPES = [np.float32, np.float64, np.float16, np.complex64, np.int64, np.int32, np.bool_]


def test_cases_cover_both_sides_of_the_threshold_and_several_chunks():
    sizes = [int(np.prod(np.broadcast_shapes(*ix))) * int(np.prod(shape[len(ix):]))
             for shape, ix in CASES]
    assert min(sizes) < _FLAT_AT <= max(sizes)
    assert any(s >= _CSR_AT and len(ix) == 1 for s, (shape, ix) in zip(sizes, CASES,
                                                                         strict=True))
    assert max(sizes) > 3 * _FLAT_CHUNK
    assert any(int(np.prod(shape[len(ix):])) > _FLAT_CHUNK for shape, ix in CASES)


@pytest.mark.parametrize("scipy", ["with scipy", "without scipy"])
def test_row_scatter_is_add_at_bit_for_bit_with_or_without_scipy(scipy, monkeypatch):
    """The CSR product (SciPy, an optional dependency) and the flat add.at without it."""
    pytest.importorskip("scipy")
    if scipy == "without scipy":
        monkeypatch.setattr(_index, "_SPARSE", [None])
    for shape, rows, dtype in (((1000, 64), (20000,), np.float32), ((300, 8, 5), (30, 200),
                                                                      np.float64),
                               ((50, 40), (2000,), np.complex64)):
        idx = RNG.integers(-shape[0], shape[0], rows)
        g = _values(rows + shape[1:], dtype)
        want = np.zeros(shape, dtype)
        np.add.at(want, idx, g)
        assert g.size >= _CSR_AT
        got = untake(g, idx, shape)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape, index_shapes", CASES, ids=str)
def test_scatter_add_is_add_at_bit_for_bit(shape, index_shapes, dtype):
    idx = tuple(RNG.integers(-shape[i], shape[i], s) for i, s in enumerate(index_shapes))
    lead = np.broadcast_shapes(*index_shapes)
    g = _values(lead + tuple(shape[len(index_shapes):]), dtype)
    want = np.zeros(shape, dtype)
    np.add.at(want, idx if len(idx) > 1 else idx[0], g)
    got = untake(g, idx if len(idx) > 1 else idx[0], shape)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_repeated_rows_add_in_order():
    """One row hit 5000 times: float32 sums in index order, exactly as add.at does (not a
    float64 sum rounded once)."""
    g = (RNG.standard_normal((5000, 3)) * 1e3).astype(np.float32)
    idx = np.full(5000, 2)
    want = np.zeros((4, 3), np.float32)
    np.add.at(want, idx, g)
    np.testing.assert_array_equal(untake(g, idx, (4, 3)), want)


@pytest.mark.parametrize("vocab, dim, n, padding_idx", [(1000, 64, 4000, None),
                                                        (50, 16, 3000, 3), (10, 700, 64, None)])
def test_embedding_gradient_matches_torch(vocab, dim, n, padding_idx, device):
    torch = pytest.importorskip("torch")
    w0 = RNG.standard_normal((vocab, dim)).astype(np.float32)
    idx0 = RNG.integers(0, vocab, (n // 8, 8))
    g0 = RNG.standard_normal((n // 8, 8, dim)).astype(np.float32)
    w = tensor_on(w0, device, True)
    F.embedding(tensor_on(idx0, device), w, padding_idx=padding_idx).backward(
        tensor_on(g0, device))
    tw = torch.tensor(w0, requires_grad=True)
    torch.nn.functional.embedding(torch.tensor(idx0), tw, padding_idx=padding_idx).backward(
        torch.tensor(g0))
    np.testing.assert_allclose(host(w.grad), tw.grad.numpy(), rtol=1e-5, atol=1e-4)
    if padding_idx is not None:
        assert not host(w.grad)[padding_idx].any()


def test_second_order_through_the_lookup():
    w0 = RNG.standard_normal((30, 40))
    idx = tg.tensor(RNG.integers(0, 30, 50))
    tg.check_grads(lambda w: (F.embedding(idx, w) ** 3).sum(), order=2)(w0)
    tg.check_grads(lambda w: (tg.tanh(w[idx]) * w[idx]).sum(), order=2)(w0)


# whole slices first, then index arrays: x[:, i], x[:, :, i, j] (bilinear upsampling's corners)
SLICED = [((16, 16, 32, 32), 2, [(64, 1), (1, 64)]), ((8, 300), 1, [(500,)]),
          ((4, 50, 7), 1, [(90,)]), ((3, 5, 9, 4), 1, [(6, 2), (1, 2)]),
          ((2, 3, 4000), 2, [(70000,)]), ((600, 2), 1, [(3,)])]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.complex128],
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape, k, index_shapes", SLICED, ids=str)
def test_sliced_scatter_add_is_add_at_bit_for_bit(shape, k, index_shapes, dtype):
    arrays = tuple(RNG.integers(-shape[k + i], shape[k + i], s)
                   for i, s in enumerate(index_shapes))
    idx = (slice(None),) * k + arrays
    lead = np.broadcast_shapes(*index_shapes)
    g = _values(tuple(shape[:k]) + lead + tuple(shape[k + len(arrays):]), dtype)
    want = np.zeros(shape, dtype)
    np.add.at(want, idx, g)
    got = untake(g, idx, shape)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_bilinear_upsampling_gradient_matches_torch():
    torch = pytest.importorskip("torch")
    x0 = RNG.standard_normal((4, 3, 20, 24)).astype(np.float32)
    g0 = RNG.standard_normal((4, 3, 40, 48)).astype(np.float32)
    for align in (False, True):
        x, tx = tg.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
        F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=align).backward(
            tg.tensor(g0))
        torch.nn.functional.interpolate(tx, scale_factor=2, mode="bilinear",
                                        align_corners=align).backward(torch.tensor(g0))
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-5)
