"""tg.linalg's agreement with PyTorch on its OpInfo edge cases: empty batches and 0 x 0
matrices in the packed factorizations, derivatives of the LU factorization of wide and tall
matrices (against torch and second-order finite differences in both modes), pinv and
matrix_rank with hermitian=True on a non-Hermitian input (the lower triangle is read),
vander and vector_norm of 0-d inputs, tensorsolve with dims, and the subgradient 0 of the
p-norms (p < 1) at zero."""

import numpy as np
import pytest
from devices import against_torch, close_to_torch, host, put, tensor_on, torch_oracle

import tensorgrad as tg

L = tg.linalg
torch = torch_oracle()
TL = torch.linalg


def _rng(seed=0):
    return np.random.default_rng(seed)


def _weights(shape, seed):
    return _rng(seed).standard_normal(shape)


def _mix(t, seed=1):
    """A random weighting of all of t's entries: a scalar that depends on each."""
    w = _weights(tuple(t.shape), seed)
    if isinstance(t, tg.Tensor):
        return (t * tensor_on(w, _device_of(t))).sum()
    return (t * torch.tensor(w)).sum()


def _device_of(t):
    return "cpu" if t.device.type == "cpu" else str(t.device)


# ---- empty batches and 0 x 0 matrices ---------------------------------------------------------
EMPTY = [(0, 0), (0, 0, 0), (2, 0, 0), (0, 3, 3), (1, 1, 0, 0)]


@pytest.mark.parametrize("shape", EMPTY + [(0, 5, 2), (0, 2, 5), (5, 0), (0, 5), (3, 0, 4)])
@pytest.mark.parametrize("mode", ["reduced", "complete", "r"])
def test_qr_of_empty_inputs(device, shape, mode):
    a = tensor_on(np.zeros(shape), device, requires_grad=True)
    q, r = L.qr(a, mode=mode)
    tq, tr = TL.qr(torch.zeros(shape, dtype=torch.float64), mode=mode)
    assert tuple(q.shape) == tuple(tq.shape) and tuple(r.shape) == tuple(tr.shape)
    close_to_torch(q, tq)
    if mode != "complete" or shape[-2] <= shape[-1]:
        r.sum().backward()
        assert tuple(a.grad.shape) == shape


@pytest.mark.parametrize("shape", [(5, 0), (0, 5), (2, 0), (0, 3, 3), (2, 0, 4)])
def test_geqrf_of_empty_inputs(device, shape):
    a, tau = tg.geqrf(tensor_on(np.zeros(shape), device))
    ta, ttau = torch.geqrf(torch.zeros(shape, dtype=torch.float64))
    assert tuple(a.shape) == tuple(ta.shape) and tuple(tau.shape) == tuple(ttau.shape)


@pytest.mark.parametrize("shape", EMPTY)
def test_cholesky_inv_lu_ldl_ex_of_empty_inputs(device, shape):
    a = tensor_on(np.zeros(shape), device)
    ta = torch.zeros(shape, dtype=torch.float64)
    for mine, theirs in [(L.cholesky_ex(a), TL.cholesky_ex(ta)), (L.inv_ex(a), TL.inv_ex(ta)),
                         (L.lu_factor_ex(a), TL.lu_factor_ex(ta)),
                         (L.ldl_factor_ex(a), TL.ldl_factor_ex(ta))]:
        for m, t in zip(mine, theirs):
            assert tuple(m.shape) == tuple(t.shape)
            assert host(m).dtype == t.numpy().dtype
    if len(shape) == 2:
        ld, piv = L.ldl_factor(a)
        x = L.ldl_solve(ld, piv, tensor_on(np.zeros((0, 5)), device))
        assert tuple(x.shape) == (0, 5)


@pytest.mark.parametrize("bshape", [(0,), (0, 3)])
@pytest.mark.parametrize("batch", [(), (0,), (2,)])
def test_solve_ex_of_empty_inputs(device, batch, bshape):
    a = tensor_on(np.zeros(batch + (0, 0)), device)
    b = tensor_on(np.zeros(batch + bshape), device)
    res, info = L.solve_ex(a, b)
    tres, tinfo = TL.solve_ex(torch.zeros(batch + (0, 0), dtype=torch.float64),
                              torch.zeros(batch + bshape, dtype=torch.float64))
    assert tuple(res.shape) == tuple(tres.shape) and tuple(info.shape) == tuple(tinfo.shape)
    assert host(info).dtype == np.int32


@pytest.mark.parametrize("shape", [(0, 5, 5), (0, 5, 2), (0, 2, 5), (0, 5, 0)])
def test_svdvals_gradient_of_an_empty_batch(device, shape):
    a = tensor_on(np.zeros(shape), device, requires_grad=True)
    s = L.svdvals(a)
    assert tuple(s.shape) == tuple(TL.svdvals(torch.zeros(shape)).shape)
    s.sum().backward()
    assert tuple(a.grad.shape) == shape


# ---- LU of wide and tall matrices -------------------------------------------------------------
NONSQUARE = [(3, 5), (4, 5), (6, 5), (7, 4), (2, 3, 5), (2, 6, 3), (1, 4)]


def _lu_loss(lib, a):
    p, low, up = lib.lu(a)
    return _mix(low, 1) + _mix(up, 2)


def _lu_factor_loss(lib, a):
    return _mix(lib.lu_factor(a).LU, 3)


@pytest.mark.parametrize("shape", NONSQUARE)
@pytest.mark.parametrize("loss", [_lu_loss, _lu_factor_loss])
def test_lu_of_nonsquare_matches_torch(device, shape, loss):
    a = _rng(4).standard_normal(shape)
    mine = tensor_on(a, device, requires_grad=True)
    theirs = torch.tensor(a, requires_grad=True)
    out, ref = loss(L, mine), loss(TL, theirs)
    close_to_torch(out, ref, rtol=1e-10)
    out.backward()
    ref.backward()
    close_to_torch(mine.grad, theirs.grad, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (2, 2, 4), (2, 4, 2)])
def test_lu_of_nonsquare_forward_mode_matches_torch(device, shape):
    a = _rng(5).standard_normal(shape)
    t = _rng(6).standard_normal(shape)
    _, mine = tg.func.jvp(lambda x: L.lu_factor(x).LU, (tensor_on(a, device),),
                          (tensor_on(t, device),))
    _, ref = torch.func.jvp(lambda x: TL.lu_factor(x).LU, (torch.tensor(a),),
                            (torch.tensor(t),))
    close_to_torch(mine, ref, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (2, 3, 4), (2, 4, 3)])
def test_lu_of_nonsquare_second_order_finite_differences(device, shape):
    a = put(_rng(7).standard_normal(shape), device)
    tg.check_grads(lambda x: _lu_loss(L, x), modes=("fwd", "rev"), order=2)(a)
    tg.check_grads(lambda x: _lu_factor_loss(L, x), modes=("fwd", "rev"), order=2)(a)


# ---- hermitian=True reads the lower triangle --------------------------------------------------
@pytest.mark.parametrize("complex_", [False, True])
@pytest.mark.parametrize("kw", [{}, {"atol": 0.5}, {"rtol": 0.2}])
def test_pinv_hermitian_reads_the_lower_triangle(device, complex_, kw):
    r = _rng(8)
    a = r.standard_normal((2, 4, 4))
    if complex_:
        a = a + 1j * r.standard_normal((2, 4, 4))
    mine = tensor_on(a, device, requires_grad=True)
    theirs = torch.tensor(a, requires_grad=True)
    out, ref = L.pinv(mine, hermitian=True, **kw), TL.pinv(theirs, hermitian=True, **kw)
    close_to_torch(out, ref, rtol=1e-9, atol=1e-10)
    if complex_:
        return  # complex gradients follow tensorgrad's (autograd's) convention
    w = _weights((2, 4, 4), 9)
    (out * tensor_on(w, device)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    close_to_torch(mine.grad, theirs.grad, rtol=1e-8, atol=1e-10)


def test_matrix_rank_hermitian_reads_the_lower_triangle(device):
    a = np.tril(_rng(10).standard_normal((3, 4, 4)))
    a[..., 3, :] = 0.0  # the lower triangle's Hermitian matrix has rank 3
    a[..., 0, 3] = 50.0  # the upper triangle, which is not read, would raise it to 4
    mine = L.matrix_rank(tensor_on(a, device), hermitian=True)
    ref = TL.matrix_rank(torch.tensor(a), hermitian=True)
    assert host(mine).tolist() == ref.tolist() == [3, 3, 3]


# ---- 0-d inputs, tensorsolve with dims --------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.int64, np.complex128])
def test_vander_of_a_0d_input(device, dtype):
    x = np.array(3, dtype=dtype)
    out = L.vander(tensor_on(x, device), N=3)
    ref = TL.vander(torch.tensor(x), N=3)
    assert tuple(out.shape) == tuple(ref.shape) == (1, 3)
    assert host(out).dtype == ref.numpy().dtype
    close_to_torch(out, ref)
    with pytest.raises(ValueError, match="N must be greater than 1"):
        L.vander(tensor_on(x, device))


@pytest.mark.parametrize("ashape,bshape,dims", [((2, 3, 6), (2, 3), [0, 2]),
                                                ((3, 4, 4, 3), (3, 4), [0, 2]),
                                                ((3, 2, 6), (6,), [0, 1])])
def test_tensorsolve_with_dims(device, ashape, bshape, dims):
    r = _rng(11)
    end = list(range(len(ashape) - len(dims), len(ashape)))
    moved = np.moveaxis(np.empty(ashape), dims, end).shape  # A's shape once dims are moved
    n = int(np.prod(bshape))
    square = r.standard_normal((n, n)) + 4 * np.eye(n)  # well conditioned
    a = np.moveaxis(square.reshape(moved), end, dims)
    b = r.standard_normal(bshape)
    against_torch(device, lambda x, y: L.tensorsolve(x, y, dims=dims),
                  lambda x, y: TL.tensorsolve(x, y, dims=dims), [a, b], grad_args=(0, 1),
                  rtol=1e-8, atol=1e-10)


def test_tensorsolve_refuses_a_non_square_total(device):
    a = tensor_on(np.zeros((2, 3, 5)), device)
    with pytest.raises(ValueError, match="tensorsolve"):
        L.tensorsolve(a, tensor_on(np.zeros((2, 3)), device))


@pytest.mark.parametrize("ord", [6, 2, 1, 0, 0.9, float("inf"), -2.1, -float("inf")])
@pytest.mark.parametrize("dim,keepdim", [(0, True), (-1, False), (None, False)])
def test_vector_norm_of_a_0d_input(device, ord, dim, keepdim):
    against_torch(device, lambda x: L.vector_norm(x, ord, dim, keepdim),
                  lambda x: TL.vector_norm(x, ord, dim, keepdim), [np.array(-2.5)],
                  grad_args=() if ord == 0 else (0,))  # the 0-norm counts: no gradient


# ---- p-norms at zero --------------------------------------------------------------------------
@pytest.mark.parametrize("ord", [0.5, -0.5, -1, -2, -3.5, 3.5, 2, None])
@pytest.mark.parametrize("x", [np.zeros(5), np.array([0.0, 1.5, -2.0, 0.0, 0.7])])
def test_norm_subgradient_at_zero_matches_torch(device, ord, x):
    out, _ = against_torch(device, lambda t: L.norm(t, ord), lambda t: TL.norm(t, ord), [x],
                           grad_args=(0,))
    # the second derivative at a zero is 0 here (torch: NaN for p = 2 and p < 1), never NaN
    t = tensor_on(x, device, requires_grad=True)
    (g,) = tg.autograd.grad([L.norm(t, ord)], [t], create_graph=True)
    (h,) = tg.autograd.grad([(g * tensor_on(np.arange(5.0), device)).sum()], [t],
                            allow_unused=True)
    assert h is None or np.isfinite(host(h)).all()


@pytest.mark.parametrize("ord", [0.5, -0.5, -2])
def test_small_p_norms_finite_differences_away_from_zero(device, ord):
    x = put(np.array([[0.3, -1.2, 2.0], [1.1, 0.4, -0.8]]), device)
    tg.check_grads(lambda t: L.vector_norm(t, ord, dim=1).sum(), modes=("fwd", "rev"),
                   order=2)(x)
