"""tg.linalg, PyTorch's torch.linalg: values and gradients against torch.linalg on the same
float64 inputs (on every device), second-order finite differences in both modes, PyTorch's
named-tuple fields, singular inputs and bad arguments, and the names and parameters of
torch.linalg."""

import ast
import inspect
import re

import numpy as np
import pytest
from devices import close_to_torch, host, put, tensor_on, torch_oracle

import tensorgrad as tg
import tensorgrad.numpy as tnp

L = tg.linalg
torch = torch_oracle()
TL = torch.linalg


def check(f, *args):
    tg.check_grads(f, modes=("fwd", "rev"), order=2)(*args)


def _rng(seed=0):
    return np.random.default_rng(seed)


def well(*shape, seed=0, complex_=False):
    """Well-conditioned square matrices (diagonally dominant)."""
    r = _rng(seed)
    a = r.standard_normal(shape) * 0.3
    if complex_:
        a = a + 1j * r.standard_normal(shape) * 0.3
    return a + 2.0 * np.eye(shape[-1])


def spd(*shape, seed=0):
    """Symmetric positive-definite matrices with well-separated eigenvalues."""
    r = _rng(seed)
    q = np.linalg.qr(r.standard_normal(shape))[0]
    w = np.arange(1, shape[-1] + 1, dtype=float) * 1.5
    return (q * w[..., None, :]) @ np.swapaxes(q, -1, -2)


def randn(*shape, seed=1):
    return _rng(seed).standard_normal(shape)


def distinct_real_eig(n, seed=2):
    """A nonsymmetric matrix with distinct real eigenvalues 1..n."""
    r = _rng(seed)
    v = r.standard_normal((n, n)) + 3 * np.eye(n)
    return v @ np.diag(np.arange(1.0, n + 1)) @ np.linalg.inv(v)


def tri(x, upper):
    return np.triu(x) if upper else np.tril(x)


# ---- the table: (id, inputs, loss(L, *xs) on tg.linalg or torch.linalg, differentiable) -----
def _sq(t):
    return (t * t).sum()


def _mix(t):
    """A scalar that weighs each entry differently (sum + sum of squares)."""
    return t.sum() + (t * t).sum()


CASES = [
    ("det", [well(2, 3, 3)], lambda L, a: _mix(L.det(a))),
    ("slogdet", [well(2, 3, 3)], lambda L, a: _mix(L.slogdet(a).logabsdet)),
    ("inv", [well(2, 3, 3)], lambda L, a: _mix(L.inv(a))),
    ("inv_ex", [well(3, 3)], lambda L, a: _mix(L.inv_ex(a).inverse)),
    ("solve", [well(2, 3, 3), randn(2, 3, 2)], lambda L, a, b: _mix(L.solve(a, b))),
    ("solve_vec", [well(3, 3), randn(3)], lambda L, a, b: _mix(L.solve(a, b))),
    ("solve_batched_vec", [well(2, 3, 3), randn(2, 3)], lambda L, a, b: _mix(L.solve(a, b))),
    ("solve_broadcast", [well(3, 3), randn(4, 3, 2)], lambda L, a, b: _mix(L.solve(a, b))),
    ("solve_broadcast_a", [well(2, 1, 3, 3), randn(4, 3, 2)],
     lambda L, a, b: _mix(L.solve(a, b))),
    ("solve_right", [well(2, 3, 3), randn(2, 4, 3)],
     lambda L, a, b: _mix(L.solve(a, b, left=False))),
    ("solve_ex", [well(3, 3), randn(3, 2)], lambda L, a, b: _mix(L.solve_ex(a, b).result)),
    ("solve_triangular_upper", [well(2, 3, 3), randn(2, 3, 2)],
     lambda L, a, b: _mix(L.solve_triangular(a, b, upper=True))),
    ("solve_triangular_lower_right_unit", [well(3, 3), randn(2, 4, 3)],
     lambda L, a, b: _mix(L.solve_triangular(a, b, upper=False, left=False,
                                             unitriangular=True))),
    ("cholesky", [spd(2, 3, 3)], lambda L, a: _mix(L.cholesky(a))),
    ("cholesky_upper", [spd(3, 3)], lambda L, a: _mix(L.cholesky(a, upper=True))),
    ("cholesky_ex", [spd(3, 3)], lambda L, a: _mix(L.cholesky_ex(a).L)),
    ("eigh", [spd(2, 3, 3)],
     lambda L, a: _mix(L.eigh(a).eigenvalues) + L.eigh(a).eigenvectors.abs().sum()),
    ("eigh_upper", [spd(3, 3)],
     lambda L, a: _mix(L.eigh(a, UPLO="U").eigenvalues)
     + (L.eigh(a, UPLO="U").eigenvectors[..., 0] ** 2 * 1.5).sum()),
    ("eigvalsh", [spd(2, 3, 3)], lambda L, a: _mix(L.eigvalsh(a))),
    ("eig", [distinct_real_eig(3)],
     lambda L, a: _mix(L.eig(a).eigenvalues.real) + L.eig(a).eigenvectors.abs().sum()),
    ("eigvals", [distinct_real_eig(3)], lambda L, a: _mix(L.eigvals(a).real)),
    ("svd", [randn(2, 4, 3)],
     lambda L, a: _mix(L.svd(a, full_matrices=False).S)
     + L.svd(a, full_matrices=False).U.abs().sum()
     + L.svd(a, full_matrices=False).Vh.abs().sum()),
    ("svdvals", [randn(2, 3, 4)], lambda L, a: _mix(L.svdvals(a))),
    ("qr", [randn(2, 4, 3)], lambda L, a: _mix(L.qr(a).Q) + _mix(L.qr(a).R)),
    ("qr_square_complete", [randn(3, 3)],
     lambda L, a: _mix(L.qr(a, mode="complete").Q) + _mix(L.qr(a, mode="complete").R)),
    ("pinv", [randn(2, 3, 4)], lambda L, a: _mix(L.pinv(a))),
    ("pinv_hermitian", [spd(3, 3)], lambda L, a: _mix(L.pinv(a, hermitian=True))),
    ("lstsq", [randn(5, 3), randn(5, 2, seed=3)],
     lambda L, a, b: _mix(L.lstsq(a, b, driver="gelsd").solution)
     + _mix(L.lstsq(a, b, driver="gelsd").residuals)),
    ("matrix_exp", [randn(3, 3) * 0.5], lambda L, a: _mix(L.matrix_exp(a))),
    ("matrix_exp_batched", [randn(2, 3, 3) * 0.5], lambda L, a: _mix(L.matrix_exp(a))),
    ("matrix_power_3", [randn(2, 3, 3)], lambda L, a: _mix(L.matrix_power(a, 3))),
    ("matrix_power_neg", [well(3, 3)], lambda L, a: _mix(L.matrix_power(a, -2))),
    ("lu_factor", [randn(2, 3, 3)], lambda L, a: _mix(L.lu_factor(a).LU)),
    ("lu", [randn(3, 3)], lambda L, a: _mix(L.lu(a).L) + _mix(L.lu(a).U)),
    ("lu_solve", [randn(2, 3, 3), randn(2, 3, 2, seed=3)],
     lambda L, a, b: _mix(L.lu_solve(*L.lu_factor(a), b))),
    ("lu_solve_adjoint_right", [randn(3, 3), randn(2, 3, seed=3)],
     lambda L, a, b: _mix(L.lu_solve(*L.lu_factor(a), b, left=False, adjoint=True))),
    ("norm_default", [randn(2, 3, 4)], lambda L, a: L.norm(a)),
    ("norm_fro", [randn(3, 4)], lambda L, a: L.norm(a, "fro")),
    ("norm_nuc", [randn(3, 4)], lambda L, a: L.norm(a, "nuc")),
    ("norm_2", [randn(3, 4)], lambda L, a: L.norm(a, 2)),
    ("norm_-2", [randn(3, 4)], lambda L, a: L.norm(a, -2)),
    ("norm_1", [randn(3, 4)], lambda L, a: L.norm(a, 1)),
    ("norm_inf", [randn(3, 4)], lambda L, a: L.norm(a, float("inf"))),
    ("norm_vec_3", [randn(5)], lambda L, a: L.norm(a, 3)),
    ("norm_dim", [randn(2, 3, 4)], lambda L, a: _mix(L.norm(a, 1.5, dim=1, keepdim=True))),
    ("norm_dims", [randn(2, 3, 4)], lambda L, a: _mix(L.norm(a, "nuc", dim=(0, 2)))),
    ("vector_norm", [randn(2, 3, 4)],
     lambda L, a: _mix(L.vector_norm(a, ord=3, dim=(0, 2), keepdim=True))),
    ("vector_norm_inf", [randn(2, 3)], lambda L, a: _mix(L.vector_norm(a, float("inf"), 1))),
    ("matrix_norm", [randn(2, 3, 4)], lambda L, a: _mix(L.matrix_norm(a))),
    ("matrix_norm_nuc_dims", [randn(3, 2, 4)],
     lambda L, a: _mix(L.matrix_norm(a, "nuc", dim=(0, 2), keepdim=True))),
    ("cross", [randn(1, 2, 3), randn(4, 1, 3, seed=3)], lambda L, a, b: _mix(L.cross(a, b))),
    ("cross_dim0", [randn(3, 2), randn(3, 2, seed=3)],
     lambda L, a, b: _mix(L.cross(a, b, dim=0))),
    ("multi_dot", [randn(3), randn(3, 4, seed=3), randn(4, 2, seed=4), randn(2, seed=5)],
     lambda L, a, b, c, d: _mix(L.multi_dot([a, b, c, d]))),
    ("vecdot", [randn(2, 3), randn(3, seed=3)], lambda L, a, b: _mix(L.vecdot(a, b))),
    ("diagonal", [randn(2, 3, 4)], lambda L, a: _mix(L.diagonal(a, offset=1))),
    ("tensorinv", [well(6, 6).reshape(2, 3, 6)], lambda L, a: _mix(L.tensorinv(a, ind=2))),
    ("tensorsolve", [well(6, 6).reshape(2, 3, 6), randn(2, 3, seed=3)],
     lambda L, a, b: _mix(L.tensorsolve(a, b))),
    ("cond", [well(2, 3, 3)], lambda L, a: _mix(L.cond(a))),
    ("vander", [randn(2, 3)], lambda L, a: _mix(L.vander(a, N=4))),
    ("matmul", [randn(2, 3, 4), randn(4, seed=3)], lambda L, a, b: _mix(L.matmul(a, b))),
]

# second-order finite differences of these (the rest are checked against torch only: piecewise
# norms have kinks where finite differences are blind or misleading)
FD = {
    "det", "slogdet", "inv", "solve", "solve_vec", "solve_broadcast", "solve_right",
    "solve_triangular_upper", "solve_triangular_lower_right_unit", "cholesky",
    "cholesky_upper", "eigh", "eigvalsh", "eig", "eigvals", "svd", "svdvals", "qr", "pinv",
    "lstsq", "matrix_exp", "matrix_exp_batched", "matrix_power_neg", "lu_factor", "lu",
    "lu_solve", "lu_solve_adjoint_right", "norm_nuc", "norm_fro", "vector_norm", "cross",
    "multi_dot", "tensorsolve", "cond", "vander", "inv_ex", "solve_ex", "cholesky_ex",
}
# Hermitian inputs: PyTorch's derivative (and ours) is that of A -> f((A + A^H) / 2), the
# function finite differences are taken of (LAPACK itself reads one triangle)
SYMMETRIZED = {"cholesky", "cholesky_upper", "cholesky_ex", "eigh", "eigh_upper", "eigvalsh",
               "pinv_hermitian"}
assert FD <= {c[0] for c in CASES}

_IDS = [c[0] for c in CASES]


def _case(name):
    return CASES[_IDS.index(name)]


@pytest.mark.parametrize("name", _IDS)
def test_values_and_gradients_match_torch(name, device):
    _, xs, loss = _case(name)
    mine = [tensor_on(x, device, requires_grad=True) for x in xs]
    theirs = [torch.tensor(x, requires_grad=True) for x in xs]
    out = loss(L, *mine)
    ref = loss(TL, *theirs)
    close_to_torch(out, ref, rtol=1e-9, atol=1e-10)
    out.backward()
    ref.backward()
    for m, t in zip(mine, theirs):
        assert m.grad is not None
        close_to_torch(m.grad, t.grad, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", sorted(FD))
def test_second_order_finite_differences(name, device):
    _, xs, loss = _case(name)
    if name in SYMMETRIZED:
        check(lambda a: loss(L, (a + tnp.swapaxes(a, -1, -2)) * 0.5), put(xs[0], device))
    else:
        check(lambda *ts: loss(L, *ts), *[put(x, device) for x in xs])


@pytest.mark.parametrize("p", ["fro", 1, float("inf"), "nuc"])
def test_cond_in_other_norms(p, device):
    """PyTorch's own backward of cond(A, p) for these p fails (it modifies a saved tensor in
    place), so values against torch and derivatives against finite differences."""
    a = well(2, 3, 3)
    close_to_torch(L.cond(tensor_on(a, device), p), TL.cond(torch.tensor(a), p), rtol=1e-10)
    check(lambda x: L.cond(x, p).sum(), put(a, device))


# ---- values of the multi-output functions and of complex inputs ------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_decompositions_match_torch(dtype, device):
    cplx = dtype is np.complex128
    a = well(2, 3, 3, complex_=cplx)
    h = a + np.conj(np.swapaxes(a, -1, -2))
    b = randn(2, 3, 2).astype(dtype)
    ta, th, tb = (torch.tensor(v) for v in (a, h, b))
    ma, mh, mb = (tensor_on(v, device) for v in (a, h, b))
    pairs = [
        (L.det(ma), TL.det(ta)), (L.inv(ma), TL.inv(ta)), (L.solve(ma, mb), TL.solve(ta, tb)),
        (L.slogdet(ma).sign, TL.slogdet(ta).sign),
        (L.slogdet(ma).logabsdet, TL.slogdet(ta).logabsdet),
        (L.eigvalsh(mh), TL.eigvalsh(th)), (L.cholesky(mh), TL.cholesky(th)),
        (L.svdvals(ma), TL.svdvals(ta)), (L.eigvals(ma), TL.eigvals(ta)),
        (L.qr(ma).R, TL.qr(ta).R), (L.qr(ma).Q, TL.qr(ta).Q),
        (L.pinv(ma), TL.pinv(ta)), (L.matrix_exp(ma), TL.matrix_exp(ta)),
        (L.lu_factor(ma).LU, TL.lu_factor(ta).LU), (L.lu(ma).P, TL.lu(ta).P),
        (L.lu_solve(*L.lu_factor(ma), mb, adjoint=True),
         TL.lu_solve(*TL.lu_factor(ta), tb, adjoint=True)),
        (L.solve_triangular(ma, mb, upper=True), TL.solve_triangular(ta, tb, upper=True)),
        (L.vecdot(ma, ma), TL.vecdot(ta, ta)), (L.norm(ma, "nuc", dim=(-2, -1)),
                                                 TL.norm(ta, "nuc", dim=(-2, -1))),
        (L.vector_norm(ma, 3), TL.vector_norm(ta, 3)),
    ]
    for mine, ref in pairs:
        assert mine.dtype == np.dtype(str(ref.dtype).replace("torch.", ""))
        close_to_torch(mine, ref, rtol=1e-9, atol=1e-10)
    w, v = L.eigh(mh)
    tw, tv = TL.eigh(th)
    close_to_torch(w, tw, rtol=1e-9, atol=1e-10)
    close_to_torch(abs(host(v)), tv.abs(), rtol=1e-8, atol=1e-10)  # up to a phase per column
    u, s, vh = L.svd(ma)
    close_to_torch(host(u) * host(s)[..., None, :] @ host(vh), ta, rtol=1e-9, atol=1e-10)
    ew, ev = L.eig(ma)
    assert ew.dtype.kind == "c" and ev.dtype.kind == "c"
    close_to_torch(ev, TL.eig(ta).eigenvectors, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name", ["inv", "solve", "det", "slogdet", "lu_factor"])
def test_complex_derivatives(name, device):
    a = put(well(3, 3, complex_=True), device)
    b = put(randn(3, 2).astype(complex), device)
    fns = {"inv": lambda x: L.inv(x), "det": lambda x: L.det(x),
           "slogdet": lambda x: L.slogdet(x).logabsdet,
           "solve": lambda x: L.solve(x, b), "lu_factor": lambda x: L.lu_factor(x).LU}
    check(fns[name], a)


def test_lstsq_fields_and_drivers(device):
    a, b = randn(5, 3), randn(5, 2, seed=3)
    for driver in (None, "gels", "gelsy", "gelsd", "gelss"):
        mine = L.lstsq(tensor_on(a, device), tensor_on(b, device), driver=driver)
        ref = TL.lstsq(torch.tensor(a), torch.tensor(b), driver=driver)
        for field in ("solution", "residuals", "rank", "singular_values"):
            m, t = getattr(mine, field), getattr(ref, field)
            assert tuple(m.shape) == tuple(t.shape), (driver, field)
            close_to_torch(m, t, rtol=1e-9, atol=1e-10)
    vec = L.lstsq(tensor_on(a, device), tensor_on(b[:, 0], device)).solution
    close_to_torch(vec, TL.lstsq(torch.tensor(a), torch.tensor(b[:, 0])).solution, rtol=1e-9)


def test_pinv_and_rank_tolerances(device):
    a = np.diag([4.0, 1.0, 1e-3])
    for kw in ({}, {"atol": 0.5}, {"rtol": 0.1}, {"atol": 0.5, "rtol": 0.5}, {"atol": 1e-4}):
        close_to_torch(L.pinv(tensor_on(a, device), **kw), TL.pinv(torch.tensor(a), **kw),
                       rtol=1e-12)
        mine = L.matrix_rank(tensor_on(a, device), **kw)
        assert mine.dtype == np.int64
        assert mine.item() == TL.matrix_rank(torch.tensor(a), **kw).item(), kw
    batch = np.stack([a, 10 * a])
    close_to_torch(L.pinv(tensor_on(batch, device), atol=0.5),
                   TL.pinv(torch.tensor(batch), atol=0.5), rtol=1e-12)


# ---- named tuples -------------------------------------------------------------------------------
def test_named_tuples_have_torchs_names_and_fields(device):
    a = tensor_on(well(3, 3), device)
    s = tensor_on(spd(3, 3), device)
    ta, ts = torch.tensor(well(3, 3)), torch.tensor(spd(3, 3))
    results = [
        (L.slogdet(a), TL.slogdet(ta), ("sign", "logabsdet")),
        (L.eig(a), TL.eig(ta), ("eigenvalues", "eigenvectors")),
        (L.eigh(s), TL.eigh(ts), ("eigenvalues", "eigenvectors")),
        (L.svd(a), TL.svd(ta), ("U", "S", "Vh")),
        (L.qr(a), TL.qr(ta), ("Q", "R")),
        (L.lstsq(a, a), TL.lstsq(ta, ta), ("solution", "residuals", "rank", "singular_values")),
        (L.inv_ex(a), TL.inv_ex(ta), ("inverse", "info")),
        (L.solve_ex(a, a), TL.solve_ex(ta, ta), ("result", "info")),
        (L.cholesky_ex(s), TL.cholesky_ex(ts), ("L", "info")),
        (L.lu_factor(a), TL.lu_factor(ta), ("LU", "pivots")),
        (L.lu_factor_ex(a), TL.lu_factor_ex(ta), ("LU", "pivots", "info")),
        (L.lu(a), TL.lu(ta), ("P", "L", "U")),
    ]
    for mine, ref, fields in results:
        assert type(mine).__name__ == type(ref).__name__
        assert mine._fields == fields
        assert len(mine) == len(ref)
        for f in fields:
            close_to_torch(getattr(mine, f), getattr(ref, f), rtol=1e-9, atol=1e-12)
    assert L.lu_factor(a).pivots.dtype == np.int32
    assert L.inv_ex(a).info.dtype == np.int32
    q, r = L.qr(a, mode="r")
    assert tuple(q.shape) == (0,) and q.dtype == np.float64
    close_to_torch(r, TL.qr(ta, mode="r").R, rtol=1e-9, atol=1e-12)


# ---- errors ------------------------------------------------------------------------------------
def test_singular_inputs_raise_as_torch(device):
    sing = np.zeros((2, 2, 2))
    sing[0] = np.eye(2)
    sing[1] = [[1.0, 2.0], [2.0, 4.0]]
    for fn, tfn in ((L.inv, TL.inv), (lambda x: L.solve(x, x), lambda x: TL.solve(x, x)),
                    (L.lu_factor, TL.lu_factor)):
        with pytest.raises(RuntimeError):
            tfn(torch.tensor(sing))
        with pytest.raises(L.LinAlgError) as err:
            fn(tensor_on(sing, device))
        assert isinstance(err.value, RuntimeError)
        assert isinstance(err.value, np.linalg.LinAlgError)
        msg = str(err.value)
        assert "linalg." in msg and "(2, 2, 2)" in msg and "Batch element 1" in msg
    with pytest.raises(L.LinAlgError, match=r"linalg.cholesky: .*leading minor of order 2"):
        L.cholesky(tensor_on(np.diag([1.0, -1.0]), device))


def test_ex_variants_return_info_as_torch(device):
    sing = np.stack([np.eye(3), np.diag([1.0, 0.0, 1.0]), np.zeros((3, 3))])
    notpd = np.stack([np.eye(3), np.diag([1.0, 2.0, -1.0])])
    rhs = np.ones((3, 3, 1))
    pairs = [
        (L.inv_ex(tensor_on(sing, device)).info, TL.inv_ex(torch.tensor(sing)).info),
        (L.solve_ex(tensor_on(sing, device), tensor_on(rhs, device)).info,
         TL.solve_ex(torch.tensor(sing), torch.tensor(rhs)).info),
        (L.lu_factor_ex(tensor_on(sing, device)).info,
         TL.lu_factor_ex(torch.tensor(sing)).info),
        (L.cholesky_ex(tensor_on(notpd, device)).info,
         TL.cholesky_ex(torch.tensor(notpd)).info),
    ]
    for mine, ref in pairs:
        assert mine.dtype == np.int32
        np.testing.assert_array_equal(host(mine), ref.numpy())
    good = L.inv_ex(tensor_on(sing, device)).inverse
    close_to_torch(good[0], np.eye(3))
    assert np.isnan(host(good[1])).all()
    with pytest.raises(L.LinAlgError, match="inv_ex"):
        L.inv_ex(tensor_on(sing, device), check_errors=True)
    with pytest.raises(L.LinAlgError, match="cholesky_ex"):
        L.cholesky_ex(tensor_on(notpd, device), check_errors=True)


def test_ex_gradients_flow_through_the_good_elements(device):
    sing = np.stack([well(3, 3), np.zeros((3, 3))])
    a = tensor_on(sing, device, requires_grad=True)
    inv = L.inv_ex(a).inverse
    inv[0].sum().backward()
    t = torch.tensor(sing[0], requires_grad=True)
    TL.inv(t).sum().backward()
    close_to_torch(a.grad[0], t.grad, rtol=1e-10)
    assert np.all(host(a.grad[1]) == 0)


@pytest.mark.parametrize("call, exc, words", [
    (lambda d: L.inv(tensor_on(np.ones((2, 3)), d)), ValueError, ["linalg.inv", "(2, 3)"]),
    (lambda d: L.det(tensor_on(np.ones(3), d)), ValueError, ["linalg.det", "(3,)"]),
    (lambda d: L.solve(tensor_on(np.eye(3), d), tensor_on(np.ones((4, 2)), d)), ValueError,
     ["linalg.solve", "3x3 and 4x2"]),
    (lambda d: L.solve(tensor_on(np.eye(3), d), tensor_on(np.ones(3, np.float32), d)),
     TypeError, ["linalg.solve", "same dtype"]),
    (lambda d: L.eigh(tensor_on(np.eye(3), d), UPLO="X"), ValueError, ["eigh", "UPLO"]),
    (lambda d: L.qr(tensor_on(np.eye(3), d), mode="full"), ValueError, ["qr", "mode"]),
    (lambda d: L.inv(tensor_on(np.eye(3), d), out=tensor_on(np.eye(3), d)), TypeError,
     ["out="]),
    (lambda d: L.inv(np.eye(3).tolist()), TypeError, ["linalg.inv", "Tensor"]),
    (lambda d: L.inv(tensor_on(np.eye(3, dtype=np.int64), d)), TypeError, ["int64"]),
    (lambda d: L.matrix_norm(tensor_on(np.eye(3), d), ord=3), ValueError, ["matrix_norm"]),
    (lambda d: L.vector_norm(tensor_on(np.eye(3), d), ord="fro"), ValueError,
     ["vector_norm"]),
    (lambda d: L.norm(tensor_on(np.ones((2, 2, 2)), d), ord=2), ValueError, ["1D or 2D"]),
    (lambda d: L.cross(tensor_on(np.ones(3), d), tensor_on(np.ones((2, 3)), d)), ValueError,
     ["linalg.cross", "(3,)", "(2, 3)"]),
    (lambda d: L.multi_dot([tensor_on(np.eye(3), d)]), ValueError, ["at least 2"]),
    (lambda d: L.lstsq(tensor_on(np.eye(3), d), tensor_on(np.eye(3), d), driver="x"),
     ValueError, ["driver"]),
    (lambda d: L.lu_factor(tensor_on(np.eye(3), d), pivot=False), NotImplementedError,
     ["pivot"]),
])
def test_bad_arguments_name_the_op(call, exc, words, device):
    with pytest.raises(exc) as err:
        call(device)
    for w in words:
        assert w in str(err.value)


def test_qr_complete_of_tall_input_refuses_its_derivative(device):
    a = tensor_on(randn(4, 3), device, requires_grad=True)
    q, r = L.qr(a, mode="complete")
    assert tuple(q.shape) == (4, 4) and tuple(r.shape) == (4, 3)
    with pytest.raises(NotImplementedError, match="complete"):
        (q.sum() + r.sum()).backward()


def test_results_stay_on_the_device(device):
    from devices import on

    a = tensor_on(well(2, 3, 3), device)
    for out in (L.inv(a), L.lu_factor(a).pivots, L.inv_ex(a).info, L.matrix_rank(a),
                L.eig(a).eigenvectors, L.lu(a).P, L.qr(a, mode="r").Q, L.matrix_exp(a),
                L.lstsq(a, a, driver="gelsd").rank, L.cholesky_ex(a @ a.transpose(-1, -2)).info):
        assert on(out, device)


# ---- the names and parameters of torch.linalg --------------------------------------------------
def _torch_params(fn):
    """PyTorch's parameters from the first line of its docstring (its functions expose no
    inspect.signature): [(name, kind, default)]."""
    first = fn.__doc__.strip().splitlines()[0]
    params = re.search(r"\((.*)\)", first).group(1)
    params = re.sub(r"\bbool (\w)", r"\1", params)
    tree = ast.parse(f"def f({params}): pass")
    args = tree.body[0].args
    out = []
    pos_defaults = [None] * (len(args.args) - len(args.defaults)) + list(args.defaults)
    for a, d in zip(args.args, pos_defaults):
        out.append((a.arg, "pos", None if d is None else ast.literal_eval(d)))
    for a, d in zip(args.kwonlyargs, args.kw_defaults):
        out.append((a.arg, "kw", None if d is None else ast.literal_eval(d)))
    return out


def _kind(p):
    return "kw" if p.kind is inspect.Parameter.KEYWORD_ONLY else "pos"


def test_every_name_is_torchs_with_its_parameters():
    names = [n for n in L.__all__ if n != "LinAlgError"]
    assert len(names) >= 35
    assert issubclass(L.LinAlgError, RuntimeError) and hasattr(TL, "LinAlgError")
    for name in names:
        assert hasattr(TL, name), name
        ref = getattr(TL, name)
        try:
            inspect.signature(ref)
            pytest.fail(f"torch.linalg.{name} has a signature now: compare with it")
        except (TypeError, ValueError):
            pass
        theirs = _torch_params(ref)
        ours = inspect.signature(getattr(L, name)).parameters.values()
        mine = [(p.name, _kind(p),
                 None if p.default is inspect.Parameter.empty else p.default) for p in ours]
        assert [(n, k) for n, k, _ in mine] == [(n, k) for n, k, _ in theirs], name
        for (n, _, d_mine), (_, _, d_ref) in zip(mine, theirs):
            if d_ref is not None:
                assert d_mine == d_ref, (name, n)
    assert tg.linalg is L and "linalg" in dir(tg)
