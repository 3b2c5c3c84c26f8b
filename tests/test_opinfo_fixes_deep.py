"""PyTorch's OpInfo samples past the first 24 (the deep run): cov's normalisation with
aweights, logspace of integer dtypes, quantile's derivative in q, second derivatives of
products scattered with repeated zeros, unique along an empty dim, histograms of empty input
and histogramdd's per-point weights, matrix norms of empty matrices, cholesky_inverse's forward
mode and the spectral norm's subgradient at 0."""

import numpy as np
import pytest
from devices import host, on, same_as_torch, tensor_on, torch_oracle

import tensorgrad as tg

torch = torch_oracle()
_RNG = np.random.default_rng(7)


_same = same_as_torch


# ---- cov: the norm factor in the weights' dtype -----------------------------------------------
@pytest.mark.parametrize("correction", [0, 1, 2])
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_cov_float32_aweights_normalise_in_float32(device, correction, dtype):
    x = _RNG.standard_normal((2, 3)).astype(dtype) * 5
    if dtype == np.complex128:
        x = x + 1j * _RNG.standard_normal((2, 3))
    aw = np.array([0.3666, 0.0583, 0.7006], np.float32)  # torch's sample: a norm factor near 0
    out = tg.cov(tensor_on(x, device), correction=correction, aweights=tensor_on(aw, device))
    assert on(out, device)
    _same(out, torch.cov(torch.tensor(x), correction=correction, aweights=torch.tensor(aw)),
          tol=1e-10)


def test_cov_fweights_and_aweights_still_differentiable(device):
    x = _RNG.standard_normal((2, 4))
    fw = np.array([1, 2, 1, 3])
    aw = _RNG.random(4) + 0.5
    tx, ta = torch.tensor(x, requires_grad=True), torch.tensor(aw, requires_grad=True)
    want = torch.cov(tx, correction=1, fweights=torch.tensor(fw), aweights=ta)
    got = tg.cov(tensor_on(x, device), correction=1, fweights=tensor_on(fw, device),
                 aweights=tensor_on(aw, device))
    _same(got, want)
    tg.check_grads(lambda u, w: tg.cov(u, correction=1, fweights=tensor_on(fw, device),
                                       aweights=w),
                   modes=("fwd", "rev"), order=2)(tensor_on(x, device), tensor_on(aw, device))


# ---- logspace of integer dtypes ---------------------------------------------------------------
@pytest.mark.parametrize("args", [(0, 1.2, 4), (0, 1.2, 4, 5.0), (4.3, -3, 4, 2.0),
                                  (4.3, 0, 2, 3.0), (2, 1.2, 4, 3.0), (0.5, 3.7, 5),
                                  (2.0, 0, 4, 1.5), (-1, 3, 5, 2.0), (1.7, 2, 1),
                                  (1.7, 2, 1, 2.0), (0, 3, 0)])
@pytest.mark.parametrize("dtype", ["int64", "int32"])
def test_logspace_integer_dtype_is_torchs(device, args, dtype):
    out = tg.logspace(*args, dtype=getattr(tg, dtype), device=device)
    assert on(out, device)
    _same(out, torch.logspace(*args, dtype=getattr(torch, dtype)))


def test_logspace_tensor_bounds_integer_dtype(device):
    s, e = tensor_on(np.array(4.3), device), tensor_on(np.array(1.2), device)
    _same(tg.logspace(s, e, 4, 5.0, dtype=tg.int64, device=device),
          torch.logspace(torch.tensor(4.3), torch.tensor(1.2), 4, 5.0, dtype=torch.int64))


def test_logspace_float_dtype_unchanged(device):
    _same(tg.logspace(0, 1.2, 4, dtype=tg.float64, device=device),
          torch.logspace(0, 1.2, 4, dtype=torch.float64), tol=1e-12)


# ---- quantile / nanquantile: differentiable in q ----------------------------------------------
@pytest.mark.parametrize("fn", ["quantile", "nanquantile"])
@pytest.mark.parametrize("dim,keepdim", [(None, False), (0, True), (-1, False)])
def test_quantile_gradient_in_q_is_torchs(device, fn, dim, keepdim):
    x = _RNG.standard_normal((3, 5))
    q = np.array([0.3, 0.55])
    tx, tq = torch.tensor(x, requires_grad=True), torch.tensor(q, requires_grad=True)
    want = getattr(torch, fn)(tx, tq, dim=dim, keepdim=keepdim)
    u = _RNG.standard_normal(tuple(want.shape))
    want.backward(torch.tensor(u))
    gx, gq = tensor_on(x, device, True), tensor_on(q, device, True)
    got = getattr(tg, fn)(gx, gq, dim=dim, keepdim=keepdim)
    _same(got, want)
    got.backward(tensor_on(u, device))
    np.testing.assert_allclose(host(gq.grad), tq.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(host(gx.grad), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    tg.check_grads(lambda a, b: getattr(tg, fn)(a, b, dim=dim, keepdim=keepdim),
                   modes=("fwd", "rev"), order=2)(tensor_on(x, device), tensor_on(q, device))


def test_nanquantile_gradient_in_q_with_nan(device):
    x = np.array([[1.0, np.nan, 3.0, 0.5], [2.0, 4.0, -1.0, 0.0]])
    q = np.array([0.25, 0.7])
    tq = torch.tensor(q, requires_grad=True)
    torch.nanquantile(torch.tensor(x), tq, dim=1).sum().backward()
    gq = tensor_on(q, device, True)
    tg.nanquantile(tensor_on(x, device), gq, dim=1).sum().backward()
    np.testing.assert_allclose(host(gq.grad), tq.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("interpolation", ["lower", "higher", "midpoint", "nearest"])
def test_quantile_other_interpolations_no_gradient_in_q(device, interpolation):
    x = _RNG.standard_normal(6)
    q = np.array([0.3, 0.55])
    tq = torch.tensor(q, requires_grad=True)
    want = torch.quantile(torch.tensor(x), tq, interpolation=interpolation)
    gq = tensor_on(q, device, True)
    got = tg.quantile(tensor_on(x, device), gq, interpolation=interpolation)
    _same(got, want)
    want_g = (torch.autograd.grad(want.sum(), tq, allow_unused=True)[0]
              if want.requires_grad else None)
    want_g = np.zeros(2) if want_g is None else want_g.numpy()
    if got.requires_grad:
        got.sum().backward()
    np.testing.assert_array_equal(np.zeros(2) if gq.grad is None else host(gq.grad), want_g)


# ---- prod scattered with repeated zeros: the second derivatives --------------------------------
def _second_order(ft, fg, args, device, seed=0):
    """<d/dargs <grad f . u, w>> from torch and from tensorgrad."""
    rng = np.random.default_rng(seed)
    t_in = [torch.tensor(a, requires_grad=True) for a in args]
    out = ft(*t_in)
    u = rng.standard_normal(tuple(out.shape))
    ws = [rng.standard_normal(a.shape) for a in args]
    g1 = torch.autograd.grad(out, t_in, torch.tensor(u), create_graph=True)
    want = torch.autograd.grad(g1, t_in, [torch.tensor(w) for w in ws])
    g_in = [tensor_on(a, device, True) for a in args]
    h1 = tg.autograd.grad(fg(*g_in), g_in, tensor_on(u, device), create_graph=True)
    got = tg.autograd.grad(h1, g_in, [tensor_on(w, device) for w in ws])
    for a, b in zip(want, got):
        np.testing.assert_allclose(host(b), a.numpy(), rtol=1e-10, atol=1e-10)


def test_index_reduce_prod_second_order_repeated_zeros(device):
    x = np.array([[0.0, 13.0], [0.0, 0.0], [15.0, 19.0]])
    s = np.array([[2.0, 0.0], [0.0, 0.0], [2.0, 3.0], [2.0, 2.0]])
    idx = np.array([0, 1, 2, 0])
    _second_order(lambda a, b: torch.index_reduce(a, 0, torch.tensor(idx), b, "prod"),
                  lambda a, b: tg.index_reduce(a, 0, tensor_on(idx, device), b, "prod"),
                  (x, s), device)
    tg.check_grads(lambda a, b: tg.index_reduce(a, 0, tensor_on(idx, device), b, "prod"),
                   modes=("fwd", "rev"), order=2)(tensor_on(x, device), tensor_on(s, device))


def test_scatter_reduce_prod_second_order_repeated_zeros(device):
    x = np.array([[0.0, 13.0], [0.0, 17.0], [0.0, 19.0]])
    idx = np.array([[1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 0, 1]])
    s = np.array([[0.0, 1.0, 2.0, 3.0], [0.0, 4.0, 0.0, 1.0], [2.0, 3.0, 5.0, 6.0]])
    _second_order(lambda a, b: torch.scatter_reduce(a, 1, torch.tensor(idx), b, "prod"),
                  lambda a, b: tg.scatter_reduce(a, 1, tensor_on(idx, device), b, "prod"),
                  (x, s), device)
    tg.check_grads(lambda a, b: tg.scatter_reduce(a, 1, tensor_on(idx, device), b, "prod"),
                   modes=("fwd", "rev"), order=2)(tensor_on(x, device), tensor_on(s, device))


def test_scatter_reduce_prod_three_zeros_in_a_place(device):
    # x's zero and two of src's meet at place 0: every second derivative is 0 there, the third
    # (through all three) the product of the rest; checked against finite differences
    x = np.array([0.0, 2.0])
    s = np.array([0.0, 0.0, 3.0, -1.5])
    idx = np.array([0, 0, 0, 1])
    out = tg.scatter_reduce(tensor_on(x, device), 0, tensor_on(idx, device),
                            tensor_on(s, device), "prod")
    _same(out, torch.scatter_reduce(torch.tensor(x), 0, torch.tensor(idx), torch.tensor(s),
                                    "prod"))
    tg.check_grads(lambda a, b: tg.scatter_reduce(a, 0, tensor_on(idx, device), b, "prod"),
                   modes=("fwd", "rev"), order=3)(tensor_on(x, device), tensor_on(s, device))


def test_scatter_reduce_prod_float32_repeated_zeros_keeps_dtype(device):
    x = np.array([0.0, 2.0], np.float32)
    s = np.array([0.0, 1.0, 3.0], np.float32)
    idx = np.array([0, 0, 1])
    out = tg.scatter_reduce(tensor_on(x, device), 0, tensor_on(idx, device),
                            tensor_on(s, device), "prod")
    _same(out, torch.scatter_reduce(torch.tensor(x), 0, torch.tensor(idx), torch.tensor(s),
                                    "prod"), tol=1e-6)


# ---- unique along a size-0 dim ----------------------------------------------------------------
@pytest.mark.parametrize("name", ["unique", "unique_consecutive"])
def test_unique_dim_of_size_zero(device, name):
    x = np.zeros((5, 0, 5))
    got = getattr(tg, name)(tensor_on(x, device), dim=1, return_inverse=True,
                            return_counts=True)
    want = getattr(torch, name)(torch.tensor(x), dim=1, return_inverse=True,
                                return_counts=True)
    for g, w in zip(got, want):
        assert on(g, device)
        _same(g, w)
    assert tuple(getattr(tg, name)(tensor_on(x, device), dim=1).shape) == (5, 0, 5)


@pytest.mark.parametrize("name", ["unique", "unique_consecutive"])
@pytest.mark.parametrize("dim", [0, 2])
def test_unique_other_dim_of_empty_input_raises(device, name, dim):
    with pytest.raises(RuntimeError):
        getattr(torch, name)(torch.zeros(5, 0, 5), dim=dim)
    with pytest.raises(RuntimeError, match=f"{name}.*size-0"):
        getattr(tg, name)(tensor_on(np.zeros((5, 0, 5)), device), dim=dim)


# ---- histograms -------------------------------------------------------------------------------
@pytest.mark.parametrize("bins", [1, 3, 4])
@pytest.mark.parametrize("weighted", [False, True])
def test_histogram_of_empty_input_bins_zero_to_one(device, bins, weighted):
    x = np.zeros((5, 0, 5))
    w = np.zeros((5, 0, 5)) if weighted else None
    got = tg.histogram(tensor_on(x, device), bins,
                       weight=None if w is None else tensor_on(w, device))
    want = torch.histogram(torch.tensor(x), bins,
                           weight=None if w is None else torch.tensor(w))
    _same(got.hist, want.hist)
    _same(got.bin_edges, want.bin_edges)


def test_histogram_empty_input_with_equal_range_still_widens(device):
    got = tg.histogram(tensor_on(np.zeros((0,)), device), 3, range=(1.0, 1.0))
    want = torch.histogram(torch.zeros(0, dtype=torch.float64), 3, range=(1.0, 1.0))
    _same(got.bin_edges, want.bin_edges)


@pytest.mark.parametrize("shape", [(5, 5, 5), (5, 1, 5)])
@pytest.mark.parametrize("density", [False, True])
def test_histogramdd_weight_per_point_of_3d_input(device, shape, density):
    x = _RNG.standard_normal(shape)
    w = _RNG.random(shape[:-1])
    got = tg.histogramdd(tensor_on(x, device), [2, 3, 2, 3, 2], weight=tensor_on(w, device),
                         density=density)
    want = torch.histogramdd(torch.tensor(x), [2, 3, 2, 3, 2], weight=torch.tensor(w),
                             density=density)
    assert on(got.hist, device)
    _same(got.hist, want.hist)
    for g, e in zip(got.bin_edges, want.bin_edges):
        _same(g, e)


def test_histogramdd_weight_of_wrong_shape_names_it(device):
    with pytest.raises(ValueError, match="histogramdd.*weight"):
        tg.histogramdd(tensor_on(np.zeros((5, 5, 5)), device), 2,
                       weight=tensor_on(np.ones((5, 4)), device))


# ---- matrix norms of empty matrices -----------------------------------------------------------
@pytest.mark.parametrize("shape", [(0, 0), (5, 0), (0, 5), (3, 0, 4), (2, 4, 0)])
@pytest.mark.parametrize("ord", [float("inf"), 1, 2, "fro", "nuc"])
@pytest.mark.parametrize("dtype", ["float64", "complex128", "float32"])
@pytest.mark.parametrize("keepdim", [False, True])
def test_matrix_norm_of_empty_matrix_is_zero(device, shape, ord, dtype, keepdim):
    a = np.zeros(shape, dtype)
    want = torch.linalg.matrix_norm(torch.tensor(a), ord, keepdim=keepdim)
    got = tg.linalg.matrix_norm(tensor_on(a, device), ord, keepdim=keepdim)
    _same(got, want)
    if len(shape) == 2:
        _same(tg.linalg.norm(tensor_on(a, device), ord, keepdim=keepdim),
              torch.linalg.norm(torch.tensor(a), ord, keepdim=keepdim))


@pytest.mark.parametrize("ord", [-1, -2, float("-inf")])
def test_matrix_norm_min_orders_of_empty_matrix_raise(device, ord):
    with pytest.raises((RuntimeError, IndexError)):
        torch.linalg.matrix_norm(torch.zeros(0, 0), ord)
    with pytest.raises((ValueError, IndexError)):
        tg.linalg.matrix_norm(tensor_on(np.zeros((0, 0)), device), ord)


def test_matrix_norm_of_empty_matrix_gradient(device):
    a = tensor_on(np.zeros((3, 0, 4)), device, True)
    tg.linalg.matrix_norm(a, 2).sum().backward()
    assert host(a.grad).shape == (3, 0, 4)


# ---- cholesky_inverse: forward mode --------------------------------------------------------------
@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_inverse_forward_mode_is_exact(device, upper):
    # torch.func.jvp of cholesky_inverse (2.13) differs from torch's own reverse-mode
    # derivative; ours agrees with -X dA X (A = L L^H) and with torch's double-backward jvp
    L = np.tril(_RNG.standard_normal((4, 4))) + 3 * np.eye(4)
    L = L.T.copy() if upper else L
    V = _RNG.standard_normal((4, 4))
    _, got = tg.func.jvp(lambda m: tg.cholesky_inverse(m, upper=upper),
                         (tensor_on(L, device),), (tensor_on(V, device),))
    A = L.T @ L if upper else L @ L.T
    dA = V.T @ L + L.T @ V if upper else V @ L.T + L @ V.T
    X = np.linalg.inv(A)
    np.testing.assert_allclose(host(got), -X @ dA @ X, rtol=1e-10, atol=1e-12)
    _, ref = torch.autograd.functional.jvp(lambda m: torch.cholesky_inverse(m, upper=upper),
                                           (torch.tensor(L),), (torch.tensor(V),))
    np.testing.assert_allclose(host(got), ref.numpy(), rtol=1e-10, atol=1e-12)
    tg.check_grads(lambda m: tg.cholesky_inverse(m, upper=upper), modes=("fwd", "rev"),
                   order=2)(tensor_on(L, device))


# ---- the spectral norm at 0: a subgradient ----------------------------------------------------
@pytest.mark.parametrize("ord", [2, -2])
def test_spectral_norm_gradient_at_zero_is_a_subgradient(device, ord):
    # PyTorch splits among the tied singular values (I/n); ours takes one singular pair. Both
    # lie in the nuclear-norm unit ball, the (Clarke) subdifferential of sigma_max/sigma_min at 0
    a = tensor_on(np.zeros((5, 5)), device, True)
    tg.linalg.norm(a, ord).backward()
    g = host(a.grad)
    assert np.all(np.isfinite(g))
    assert np.linalg.svd(g, compute_uv=False).sum() <= 1 + 1e-12
    # the subgradient inequality of the convex sigma_max at 0: <G, B> <= ||B||_2
    if ord == 2:
        for _ in range(20):
            b = _RNG.standard_normal((5, 5))
            assert (g * b).sum() <= np.linalg.norm(b, 2) + 1e-12
