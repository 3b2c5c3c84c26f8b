"""tg.svd_lowrank, pca_lowrank, lobpcg, as_strided (+ _, _copy, _scatter), segment_reduce and
nonzero_static: values against NumPy/SciPy and PyTorch, gradients against PyTorch, derivatives
against finite differences (second order, both modes), bad input."""

import numpy as np
import pytest
import scipy.linalg
from devices import close_to_torch, host, on, put, tensor_on, torch_oracle

import tensorgrad as tg


def _decaying(m, n, rank=8, seed=0):
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((m, rank)))
    V, _ = np.linalg.qr(rng.standard_normal((n, rank)))
    s = 10.0 * 2.0 ** -np.arange(rank)
    return U @ np.diag(s) @ V.T, U, s, V


def _spd(m, seed=0, power=1.5):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((m, m)))
    return Q @ np.diag(np.arange(1.0, m + 1) ** power) @ Q.T


def _subspace_gap(U, Uref):
    """sin of the largest principal angle between the column spans."""
    s = np.linalg.svd(U.T @ Uref, compute_uv=False)
    return float(np.sqrt(max(0.0, 1 - s.min() ** 2)))


# ---- svd_lowrank / pca_lowrank --------------------------------------------------------------
@pytest.mark.parametrize("shape", [(30, 20), (20, 30)])
def test_svd_lowrank_matches_full_svd(device, shape):
    torch = torch_oracle()
    A, *_ = _decaying(*shape)
    tg.manual_seed(0)
    # oversampled (q=6 for 3 triplets): the leading ones are then accurate for any draw (300
    # seeds checked to rtol 1e-8)
    U, S, V = tg.svd_lowrank(tensor_on(A, device), q=6, niter=3)
    assert on(U, device) and U.shape == (shape[0], 6) and V.shape == (shape[1], 6)
    Uf, sf, Vhf = np.linalg.svd(A)
    np.testing.assert_allclose(host(S)[:3], sf[:3], rtol=1e-7)
    assert _subspace_gap(host(U)[:, :3], Uf[:, :3]) < 1e-5
    assert _subspace_gap(host(V)[:, :3], Vhf[:3].T) < 1e-5
    np.testing.assert_allclose(host(U).T @ host(U), np.eye(6), atol=1e-10)
    _, St, _ = torch.svd_lowrank(torch.tensor(A), q=6, niter=3)
    close_to_torch(S[:3], St[:3], rtol=1e-7)


def test_svd_lowrank_batched_and_M(device):
    A = np.stack([_decaying(12, 9, rank=4, seed=s)[0] for s in range(3)])
    M = np.random.default_rng(5).standard_normal((12, 9)) * 0.0 + 0.5
    U, S, V = tg.svd_lowrank(tensor_on(A + M, device), q=4, niter=2, M=tensor_on(M, device))
    assert U.shape == (3, 12, 4) and S.shape == (3, 4) and V.shape == (3, 9, 4)
    rec = host(U) @ (host(S)[..., :, None] * np.swapaxes(host(V), -1, -2))
    np.testing.assert_allclose(rec, A, atol=1e-9)   # rank 4 exactly: the range is found
    np.testing.assert_allclose(host(S), np.linalg.svd(A, compute_uv=False)[:, :4], rtol=1e-9)


def test_svd_lowrank_float32_and_defaults(device):
    A, *_ = _decaying(20, 15)
    U, S, V = tg.svd_lowrank(tensor_on(A.astype(np.float32), device))
    assert S.dtype == tg.float32 and S.shape == (6,)
    np.testing.assert_allclose(host(S)[:3], np.linalg.svd(A, compute_uv=False)[:3], rtol=1e-4)


def test_svd_lowrank_gradient(device):
    A, *_ = _decaying(6, 5, rank=5)

    def f(a):
        tg.manual_seed(3)  # the same test matrix at every evaluation
        U, S, V = tg.svd_lowrank(a, q=3, niter=1)
        return (U * S) @ V.mT   # sign-invariant

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(tensor_on(A, device))


def test_pca_lowrank(device):
    torch = torch_oracle()
    A, *_ = _decaying(40, 10, rank=6, seed=2)
    A = A + 3.0   # means to remove
    U, S, V = tg.pca_lowrank(tensor_on(A, device), q=5, niter=4)   # 3 wanted, oversampled
    C = A - A.mean(axis=0)
    Uf, sf, Vhf = np.linalg.svd(C)
    np.testing.assert_allclose(host(S)[:3], sf[:3], rtol=1e-7)
    assert _subspace_gap(host(V)[:, :3], Vhf[:3].T) < 1e-5
    assert _subspace_gap(host(U)[:, :3], Uf[:, :3]) < 1e-5
    _, St, _ = torch.pca_lowrank(torch.tensor(A), q=5, niter=4)
    close_to_torch(S[:3], St[:3], rtol=1e-7)
    _, S0, _ = tg.pca_lowrank(tensor_on(A, device), center=False, niter=4)
    assert S0.shape == (6,)
    np.testing.assert_allclose(host(S0)[:2], np.linalg.svd(A, compute_uv=False)[:2], rtol=1e-6)


def test_lowrank_bad_input():
    A = tg.ones(4, 3)
    with pytest.raises(ValueError, match=r"svd_lowrank\(\): q\(=5\)"):
        tg.svd_lowrank(A, q=5)
    with pytest.raises(ValueError, match="niter"):
        tg.svd_lowrank(A, q=2, niter=-1)
    with pytest.raises(ValueError, match=r"pca_lowrank\(\).*shape \(3,\)"):
        tg.pca_lowrank(tg.ones(3))
    with pytest.raises(TypeError, match="floating"):
        tg.svd_lowrank(tg.tensor([[1, 2], [3, 4]]), q=1)
    with pytest.raises(ValueError, match="broadcast"):
        tg.svd_lowrank(A, q=2, M=tg.ones(2, 2))


# ---- lobpcg ------------------------------------------------------------------------------------
@pytest.mark.parametrize("largest", [True, False])
def test_lobpcg_matches_eigh_and_torch(device, largest):
    torch = torch_oracle()
    M = _spd(15)
    E, X = tg.lobpcg(tensor_on(M, device), k=3, largest=largest, tol=1e-10)
    assert on(E, device) and E.shape == (3,) and X.shape == (15, 3)
    w = np.linalg.eigh(M)[0]
    ref = w[::-1][:3] if largest else w[:3]
    np.testing.assert_allclose(host(E), ref, rtol=1e-8)
    x = host(X)
    np.testing.assert_allclose(M @ x, x * host(E), atol=1e-6)
    np.testing.assert_allclose(x.T @ x, np.eye(3), atol=1e-10)
    Et, _ = torch.lobpcg(torch.tensor(M), k=3, largest=largest)
    close_to_torch(E, Et, rtol=1e-6)


def test_lobpcg_generalized_options(device):
    M = _spd(14, seed=1)
    B = np.eye(14) + 0.1 * np.ones((14, 14))
    X0 = np.random.default_rng(1).standard_normal((14, 3))
    K = np.diag(1 / np.diag(M))
    seen = []
    E, X = tg.lobpcg(tensor_on(M, device), k=2, B=tensor_on(B, device), X=tensor_on(X0, device),
                     iK=tensor_on(K, device), tol=1e-11, method="ortho",
                     tracker=lambda s: seen.append(s.ivars["istep"]))
    ref = scipy.linalg.eigh(M, B)[0][::-1][:2]
    np.testing.assert_allclose(host(E), ref, rtol=1e-8)
    x = host(X)
    np.testing.assert_allclose(x.T @ B @ x, np.eye(2), atol=1e-9)
    assert seen and seen == list(range(1, len(seen) + 1))


def test_lobpcg_batched_float32(device):
    Ms = np.stack([_spd(9, seed=s) for s in range(2)]).astype(np.float32)
    E, X = tg.lobpcg(tensor_on(Ms, device), k=2)
    assert E.shape == (2, 2) and X.shape == (2, 9, 2) and E.dtype == tg.float32
    ref = np.linalg.eigh(Ms.astype(np.float64))[0][:, ::-1][:, :2]
    np.testing.assert_allclose(host(E), ref, rtol=1e-4)


def test_lobpcg_gradient_matches_torch(device):
    torch = torch_oracle()
    M = _spd(10, seed=2)
    R = np.random.default_rng(3).standard_normal((10, 10))
    A = tensor_on(M, device, requires_grad=True)
    E, X = tg.lobpcg(A, k=2, tol=1e-13)
    (E.sum() + ((X @ X.mT) * tensor_on(R, device)).sum()).backward()
    At = torch.tensor(M, requires_grad=True)
    Et, Xt = torch.lobpcg(At, k=2, tol=1e-13)
    (Et.sum() + ((Xt @ Xt.mT) * torch.tensor(R)).sum()).backward()
    g, gt = host(A.grad), At.grad.numpy()
    np.testing.assert_allclose(g + g.T, gt + gt.T, atol=1e-7)


def test_lobpcg_derivatives(device):
    M = _spd(9, seed=4)
    B = np.eye(9) + 0.2 * np.diag(np.arange(9.0) / 9)

    def f(a, b):
        E, X = tg.lobpcg(a, k=2, B=b, tol=1e-14, niter=-1)
        return E.sum() + 0.1 * (X @ X.mT).sum()

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(tensor_on(M, device), tensor_on(B, device))

    def g(a):
        E, X = tg.lobpcg(a, k=1, largest=False, tol=1e-14, niter=-1)
        return E * 2 + X[:, 0] ** 2

    tg.check_grads(g, modes=("fwd", "rev"), order=2)(tensor_on(M, device))


def test_lobpcg_bad_input():
    M = tg.tensor(_spd(9))
    with pytest.raises(ValueError, match="3 x the number"):
        tg.lobpcg(M, k=4)
    with pytest.raises(ValueError, match=r"k\(=3\) must be between 1 and n\(=2\)"):
        tg.lobpcg(M, k=3, n=2)
    with pytest.raises(ValueError, match="square"):
        tg.lobpcg(tg.ones(3, 4))
    with pytest.raises(TypeError, match="real floating"):
        tg.lobpcg(tg.ones(9, 9, dtype=tg.int64))
    with pytest.raises(ValueError, match="method"):
        tg.lobpcg(M, method="fast")
    with pytest.raises(ValueError, match=r"B must be \(\.\.\., 9, 9\)"):
        tg.lobpcg(M, B=tg.eye(3))
    with pytest.raises(ValueError, match=r"X must be"):
        tg.lobpcg(M, X=tg.ones(4, 2))


# ---- as_strided ------------------------------------------------------------------------------
_STRIDED = [((3, 3), (2, 1), 1), ((4, 2), (1, 1), 0), ((2, 2), (1, 2), None), ((2, 3), (0, 3), 2),
            ((5,), (2,), 1), ((2, 2, 2), (6, 1, 3), 0), ((0, 3), (1, 1), 0), ((), (), 7)]


@pytest.mark.parametrize("size,stride,offset", _STRIDED)
def test_as_strided_matches_torch(device, size, stride, offset):
    torch = torch_oracle()
    a = np.arange(12.0).reshape(3, 4) * 1.5
    R = np.random.default_rng(0).standard_normal(size)
    x = tensor_on(a, device, requires_grad=True)
    y = tg.as_strided(x, size, stride, offset)
    xt = torch.tensor(a, requires_grad=True)
    yt = torch.as_strided(xt, size, stride, offset)
    assert on(y, device)
    close_to_torch(y, yt)
    (y * tensor_on(R, device)).sum().backward()
    (yt * torch.tensor(R)).sum().backward()
    close_to_torch(x.grad, xt.grad)   # overlapping windows accumulate
    close_to_torch(x.as_strided(size, stride, offset), yt)
    close_to_torch(tg.as_strided_copy(x, size, stride, offset), yt)


def test_as_strided_derivatives(device):
    a = np.random.default_rng(1).standard_normal(7)

    def f(x):
        return tg.as_strided(x * x, (3, 3), (2, 1), 0) ** 2

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(tensor_on(a, device))


def test_as_strided_inplace_and_errors(device):
    torch = torch_oracle()
    x = tensor_on(np.arange(6.0), device)
    out = x.as_strided_((2, 2), (1, 2))
    assert out is x and x.shape == (2, 2)
    close_to_torch(x, torch.arange(6.0).as_strided_((2, 2), (1, 2)))
    y = tg.arange(6.0).reshape(2, 3)
    with pytest.raises(RuntimeError, match=r"as_strided\(\): input of shape \(3, 2\).*contiguous"):
        tg.as_strided(y.mT, (2,), (1,))
    with pytest.raises(RuntimeError, match=r"as_strided\(\).*need 11 elements.*has 6"):
        tg.as_strided(y, (3,), (5,))
    with pytest.raises(RuntimeError, match="negative strides"):
        tg.as_strided(y, (3,), (-1,))
    with pytest.raises(RuntimeError, match="mismatch in length"):
        tg.as_strided(y, (3, 1), (1,))
    leaf = tg.ones(4, requires_grad=True)
    with pytest.raises(RuntimeError, match="as_strided_.*leaf"):
        leaf.as_strided_((2,), (1,))


@pytest.mark.parametrize("size,stride,offset", [((3,), (1,), 2), ((2, 2), (3, 1), 1),
                                                ((2, 3), (1, 2), 0)])
def test_as_strided_scatter_matches_torch(device, size, stride, offset):
    torch = torch_oracle()
    a = np.arange(9.0) * 0.5
    s = np.random.default_rng(2).standard_normal(size)
    x = tensor_on(a, device, requires_grad=True)
    src = tensor_on(s, device, requires_grad=True)
    y = tg.as_strided_scatter(x, src, size, stride, offset)
    xt = torch.tensor(a, requires_grad=True)
    st = torch.tensor(s, requires_grad=True)
    yt = torch.as_strided_scatter(xt, st, size, stride, offset)
    close_to_torch(y, yt)
    close_to_torch(x.as_strided_scatter(src, size, stride, offset), yt)
    R = np.random.default_rng(3).standard_normal(9)
    (y * tensor_on(R, device)).sum().backward()
    (yt * torch.tensor(R)).sum().backward()
    # torch 2.13's gradient for the input is wrong (its own gradcheck fails: it gives the
    # written places' cotangent, not the others'); the right one keeps R where src did not write
    written = np.zeros(9, dtype=bool)
    written[host(tg.as_strided(tg.arange(9), size, stride, offset)).ravel()] = True
    np.testing.assert_allclose(host(x.grad), np.where(written, 0.0, R))
    close_to_torch(src.grad, st.grad)


def test_as_strided_scatter_overlap_and_derivatives(device):
    x = tensor_on(np.zeros(5), device)
    src = tensor_on(np.array([[1.0, 2.0], [3.0, 4.0]]), device)
    # places 0,1 / 1,2: place 1 is written by 2.0 then 3.0 (row-major): the last wins
    np.testing.assert_array_equal(host(tg.as_strided_scatter(x, src, (2, 2), (1, 1))),
                                  [1.0, 3.0, 4.0, 0.0, 0.0])

    def f(a, s):
        return tg.as_strided_scatter(a * a, s ** 3, (2, 2), (1, 1), 1)

    rng = np.random.default_rng(4)
    tg.check_grads(f, modes=("fwd", "rev"), order=2)(tensor_on(rng.standard_normal(6), device),
                                                   tensor_on(rng.standard_normal((2, 2)), device))
    with pytest.raises(RuntimeError, match=r"as_strided_scatter\(\).*src size = \(4,\)"):
        tg.as_strided_scatter(tg.zeros(6), tg.ones(4), (2, 2), (1, 1))


# ---- segment_reduce --------------------------------------------------------------------------
@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min", "prod", "amax"])
@pytest.mark.parametrize("initial", [None, 3.0])
@pytest.mark.parametrize("how", ["lengths", "offsets"])
def test_segment_reduce_matches_torch(device, reduce, initial, how):
    torch = torch_oracle()
    d = np.array([3.0, 3.0, 1.0, 0.0, 2.0, 0.0, 5.0, -1.0])   # ties, zeros, an empty segment
    lens = np.array([3, 2, 0, 3])
    seg = {"lengths": lens, "offsets": np.concatenate([[0], np.cumsum(lens)])}[how]
    x = tensor_on(d, device, requires_grad=True)
    y = tg.segment_reduce(x, reduce, initial=initial, **{how: tensor_on(seg, device)})
    xt = torch.tensor(d, requires_grad=True)
    yt = torch.segment_reduce(xt, reduce, initial=initial, **{how: torch.tensor(seg)})
    close_to_torch(y, yt, rtol=1e-12)
    w = np.array([1.0, -2.0, 0.5, 3.0])
    (y * tensor_on(w, device)).nan_to_num(0.0, 0.0, 0.0).sum().backward()
    (yt * torch.tensor(w)).nan_to_num(0.0, 0.0, 0.0).sum().backward()
    close_to_torch(x.grad, xt.grad, rtol=1e-12)


@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "prod"])
def test_segment_reduce_axis_batched_lengths(device, reduce):
    torch = torch_oracle()
    d = np.random.default_rng(0).standard_normal((3, 5, 2))
    lens = np.array([[1, 4], [2, 3], [5, 0]])
    y = tg.segment_reduce(tensor_on(d, device), reduce, lengths=tensor_on(lens, device), axis=1,
                          initial=0.5)
    yt = torch.segment_reduce(torch.tensor(d), reduce, lengths=torch.tensor(lens), axis=1,
                              initial=0.5)
    assert y.shape == (3, 2, 2)
    close_to_torch(y, yt, rtol=1e-12)


@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min", "prod"])
def test_segment_reduce_derivatives(device, reduce):
    d = np.random.default_rng(1).standard_normal((6, 2))   # no ties: smooth points
    lens = tensor_on(np.array([2, 0, 3, 1]), device)

    def f(x):
        return tg.segment_reduce(x * x, reduce, lengths=lens, initial=0.25)

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(tensor_on(d, device))


def test_segment_reduce_unsafe_and_errors(device):
    torch = torch_oracle()
    d = np.arange(6.0)
    y = tg.segment_reduce(tensor_on(d, device), "sum", lengths=tensor_on(np.array([2, 2]), device),
                          unsafe=True)
    close_to_torch(y, torch.segment_reduce(torch.tensor(d), "sum", lengths=torch.tensor([2, 2]),
                                           unsafe=True))
    x = tg.tensor(d)
    with pytest.raises(ValueError, match=r"segment_reduce\(\).*cover"):
        tg.segment_reduce(x, "sum", lengths=tg.tensor([2, 2]))
    with pytest.raises(ValueError, match="reduce must be one of"):
        tg.segment_reduce(x, "median", lengths=tg.tensor([6]))
    with pytest.raises(NotImplementedError, match="indices"):
        tg.segment_reduce(x, "sum", indices=tg.tensor([0, 0, 1, 1, 1, 1]))
    with pytest.raises(ValueError, match="exactly one"):
        tg.segment_reduce(x, "sum")
    with pytest.raises(ValueError, match=r"lengths must have shape.*\(3, 2\)"):
        tg.segment_reduce(tg.ones(2, 3), "sum", lengths=tg.tensor([[1, 2], [1, 2], [0, 3]]),
                          axis=1)
    with pytest.raises(TypeError, match="floating"):
        tg.segment_reduce(tg.tensor([1, 2]), "sum", lengths=tg.tensor([2]))
    with pytest.raises(ValueError, match="non-negative"):
        tg.segment_reduce(x, "sum", lengths=tg.tensor([7, -1]), unsafe=True)


# ---- nonzero_static --------------------------------------------------------------------------
@pytest.mark.parametrize("size,fill", [(5, -1), (2, -1), (3, 9), (0, -1)])
def test_nonzero_static_matches_torch(device, size, fill):
    torch = torch_oracle()
    a = np.array([[0, 1, 0], [2, 0, 3]])
    y = tg.nonzero_static(tensor_on(a, device), size=size, fill_value=fill)
    yt = torch.nonzero_static(torch.tensor(a), size=size, fill_value=fill)
    assert on(y, device) and y.dtype == tg.int64
    close_to_torch(y, yt)
    close_to_torch(tensor_on(a, device).nonzero_static(size=size, fill_value=fill), yt)
    close_to_torch(tg.nonzero_static(tensor_on(np.array(3.0), device), size=size),
                   torch.nonzero_static(torch.tensor(3.0), size=size))


def test_nonzero_static_errors():
    with pytest.raises(ValueError, match=r"nonzero_static\(\): size must be non-negative"):
        tg.nonzero_static(tg.ones(3), size=-1)
    with pytest.raises(TypeError, match="size must be an int"):
        tg.nonzero_static(tg.ones(3), size=2.5)


def test_names_exported():
    for name in ("svd_lowrank", "pca_lowrank", "lobpcg", "as_strided", "as_strided_",
                 "as_strided_copy", "as_strided_scatter", "segment_reduce", "nonzero_static"):
        assert name in tg.__all__ and callable(getattr(tg, name))
    assert put(1, "cpu") == 1
