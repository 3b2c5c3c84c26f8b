"""Derivatives of tnp.linalg's decompositions (svd, eig, eigvals, eigh, eigvalsh, pinv) and of
norms at their kinks, on every device: central finite differences of NumPy's own function in
float64, to second order in both modes, and PyTorch's gradients on gauge-invariant outputs.

Singular and eigenvectors are defined up to a phase (a sign for real ones): where NumPy's choice
is smooth (real svd, every eig: unit columns with a real largest entry) the raw vectors are
checked; otherwise functions that do not depend on it (|u|^2, U diag(s) V^H, projectors)."""

import warnings

import numpy as np
import pytest
from devices import close_to_torch, host, put, tensor_on, torch_oracle

import tensorgrad as tg
import tensorgrad.numpy as tnp

LA = tnp.linalg


def check(f, *args):
    tg.check_grads(f, modes=("fwd", "rev"), order=2)(*args)


def randn(rng, shape, complex_=False):
    a = rng.standard_normal(shape)
    return a + 1j * rng.standard_normal(shape) if complex_ else a


def mH(x):
    return tnp.conj(tnp.swapaxes(x, -1, -2))


SVD_SHAPES = [(3, 3), (4, 2), (2, 4), (2, 3, 2)]


def _reconstruct(full):
    def f(x):
        u, s, vh = LA.svd(x, full_matrices=full)
        k = s.shape[-1]
        return tnp.matmul(u[..., :k] * s[..., None, :], vh[..., :k, :])
    return f


def _moduli(full):
    def f(x):
        u, s, vh = LA.svd(x, full_matrices=full)
        k = s.shape[-1]
        return tnp.abs(u[..., :k]) ** 2, s, tnp.abs(vh[..., :k, :]) ** 2
    return f


def _complement_projectors(x):
    u, s, vh = LA.svd(x, full_matrices=True)
    k = s.shape[-1]
    up, vp = u[..., k:], vh[..., k:, :]
    return tnp.matmul(up, mH(up)), tnp.matmul(mH(vp), vp)


# ---- svd ---------------------------------------------------------------------------------
@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
@pytest.mark.parametrize("full", [False, True], ids=["thin", "full"])
@pytest.mark.parametrize("shape", SVD_SHAPES, ids=str)
def test_svd_gauge_invariant(shape, full, complex_, device, rng):
    a = put(randn(rng, shape, complex_), device)
    check(_reconstruct(full), a)
    check(_moduli(full), a)
    if full:
        check(_complement_projectors, a)
    check(lambda x: LA.svd(x, compute_uv=False), a)


@pytest.mark.parametrize("shape", SVD_SHAPES, ids=str)
def test_svd_raw_real_vectors(shape, device, rng):
    # real thin svd: signs are locally constant, so U and Vh themselves match NumPy's
    check(lambda x: LA.svd(x, full_matrices=False), put(randn(rng, shape), device))


@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
def test_svd_values_and_types(complex_, device, rng):
    a = randn(rng, (2, 4, 3), complex_)
    for full in (True, False):
        out = LA.svd(tensor_on(a, device), full_matrices=full)
        ref = np.linalg.svd(a, full_matrices=full)
        assert type(out).__name__ == "SVDResult" and out.S.dtype == np.float64
        for o, r in zip(out, ref):
            np.testing.assert_allclose(host(o), r, rtol=1e-10, atol=1e-12)
    s = LA.svd(tensor_on(a, device), compute_uv=False)
    np.testing.assert_allclose(host(s), np.linalg.svd(a, compute_uv=False), rtol=1e-12)
    raw = LA.svd(put(a, device), compute_uv=False)
    assert not isinstance(raw, tg.Tensor)


def test_singular_values_repeated_or_zero(device, rng):
    q = np.linalg.qr(randn(rng, (3, 3)))[0]
    a = 2 * q  # all three singular values are 2
    g = tg.grad(lambda x: tnp.sum(LA.svd(x, compute_uv=False) ** 2))(put(a, device))
    np.testing.assert_allclose(host(g), 2 * a, atol=1e-10)  # sum s^2 = |A|_F^2
    g = tg.grad(lambda x: tnp.sum(LA.svd(x, compute_uv=False)))(put(a, device))
    np.testing.assert_allclose(host(g), q, atol=1e-10)  # the nuclear norm's gradient U V^T
    low = randn(rng, (3, 1)) @ randn(rng, (1, 3))  # rank one: two zero singular values
    g = tg.grad(lambda x: LA.norm(x, "nuc"))(put(low, device))
    g = host(g)
    assert np.all(np.isfinite(g))
    # a subgradient of a norm at x: <g, x> = |x| and a dual norm (spectral) of at most 1
    np.testing.assert_allclose(np.sum(g * low), np.linalg.norm(low, "nuc"), rtol=1e-10)
    assert np.linalg.norm(g, 2) <= 1 + 1e-10
    # through svd's packed primitive too: a function of S alone stays finite at ties
    g = tg.grad(lambda x: tnp.sum(LA.svd(x)[1]))(put(a, device))
    np.testing.assert_allclose(host(g), q, atol=1e-10)


@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
@pytest.mark.parametrize("shape", [(4, 3), (3, 4), (2, 3, 3)], ids=str)
def test_svd_against_torch(shape, complex_, device, rng):
    torch = torch_oracle()
    a = randn(rng, shape, complex_)
    k = min(shape[-2:])
    wu, ws, wv = (rng.standard_normal(s) for s in [shape[:-1] + (k,), shape[:-2] + (k,),
                                                    shape[:-2] + (k, shape[-1])])

    def loss(u, s, vh, lib):
        mod = tnp if lib is None else torch
        return (mod.sum(mod.abs(u) ** 2 * wu) + mod.sum(s * ws) + mod.sum(s ** 3)
                + mod.sum(mod.abs(vh) ** 2 * wv))

    x = tensor_on(a, device, requires_grad=True)
    u, s, vh = LA.svd(x, full_matrices=False)
    host_w = (wu, ws, wv)
    wu, ws, wv = put(host_w, device)
    loss(u, s, vh, None).backward()
    tx = torch.tensor(a, requires_grad=True)
    tu, ts, tvh = torch.linalg.svd(tx, full_matrices=False)
    wu, ws, wv = (torch.tensor(w) for w in host_w)
    loss(tu, ts, tvh, torch).backward()
    close_to_torch(x.grad, tx.grad, rtol=1e-8, atol=1e-10)


# ---- eig / eigvals -------------------------------------------------------------------------
def _eig_cases(rng):
    t = randn(rng, (3, 3))
    real_ev = t @ np.diag([1.0, 2.0, 4.0]) @ np.linalg.inv(t)
    pair = np.array([[1.0, -2.0, 0.3], [2.0, 1.0, 0.1], [0.2, 0.1, 3.0]])  # 1 +- 2i and ~3
    return {"real-eigenvalues": real_ev, "complex-pair": pair,
            "complex": randn(rng, (3, 3), True), "batched": np.stack([real_ev, pair]),
            "batched-complex": randn(rng, (2, 3, 3), True)}


@pytest.mark.parametrize("case", ["real-eigenvalues", "complex-pair", "complex", "batched",
                                  "batched-complex"])
def test_eig(case, device, rng):
    a = _eig_cases(rng)[case]
    w, v = LA.eig(tensor_on(a, device))
    ew, ev = np.linalg.eig(a)
    assert w.dtype == ew.dtype and v.dtype == ev.dtype  # NumPy's rule: real if all are real
    np.testing.assert_allclose(host(w), ew, rtol=1e-10)
    np.testing.assert_allclose(host(v), ev, rtol=1e-8, atol=1e-10)
    # eigenvectors as NumPy normalises them (unit length, largest entry real): checked raw
    check(LA.eig, put(a, device))
    check(LA.eigvals, put(a, device))
    np.testing.assert_allclose(host(LA.eigvals(tensor_on(a, device))), np.linalg.eigvals(a),
                               rtol=1e-10)


def test_eigvals_repeated(device, rng):
    t = randn(rng, (3, 3))
    a = t @ np.diag([1.0, 1.0, 2.0]) @ np.linalg.inv(t)  # diagonalizable, a double eigenvalue
    g = tg.grad(lambda x: tnp.sum(tnp.real(LA.eigvals(x))))(put(a, device))
    np.testing.assert_allclose(host(g), np.eye(3), atol=1e-8)  # d trace = I
    g = tg.grad(lambda x: tnp.sum(tnp.real(LA.eigvals(x)) ** 2))(put(a, device))
    np.testing.assert_allclose(host(g), 2 * a.T, atol=1e-8)  # d trace(A^2) = 2 A^T
    g = tg.grad(lambda x: tnp.sum(tnp.real(LA.eig(x)[0]) ** 2))(put(a, device))
    np.testing.assert_allclose(host(g), 2 * a.T, atol=1e-8)


def _decomposition_against_torch(name, loss, complex_, device, rng):
    """The gradient at a random (2, 3, 3) stack ``a`` of ``loss(decompose, x, mod, wv)`` (a
    scalar of the outputs of the decomposition ``name``, weighted by a random array ``wv``):
    ours (``LA.<name>``, ``tnp``, on ``device``) against PyTorch's (``torch.linalg.<name>``)."""
    torch = torch_oracle()
    a = randn(rng, (2, 3, 3), complex_)
    wv = rng.standard_normal((2, 3, 3))
    x = tensor_on(a, device, requires_grad=True)
    loss(getattr(LA, name), x, tnp, put(wv, device)).backward()
    tx = torch.tensor(a, requires_grad=True)
    loss(getattr(torch.linalg, name), tx, torch, torch.tensor(wv)).backward()
    close_to_torch(x.grad, tx.grad, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
def test_eig_against_torch(complex_, device, rng):
    def loss(eig, x, mod, wv):
        w, v = eig(x)
        return mod.sum(mod.abs(w) ** 2) + mod.sum(mod.real(w) ** 3) + mod.sum(
            mod.abs(v) ** 2 * wv)

    _decomposition_against_torch("eig", loss, complex_, device, rng)


# ---- eigh / eigvalsh -------------------------------------------------------------------------
@pytest.mark.parametrize("UPLO", ["L", "U"])
@pytest.mark.parametrize("shape", [(3, 3), (2, 3, 3), (2, 1, 3, 3)], ids=str)
def test_eigh_reads_one_triangle(shape, UPLO, device, rng):
    """Straight on a non-symmetric input: NumPy reads one triangle, and finite differences of
    NumPy's function (in every direction) are what the derivatives must give."""
    a = put(randn(rng, shape), device)
    check(lambda x: LA.eigh(x, UPLO), a)  # real eigenvectors: sign locally constant
    check(lambda x: LA.eigvalsh(x, UPLO), a)
    wts = put(np.array([1.0, -2.0, 3.0]), device)
    g = tg.grad(lambda x: tnp.sum(LA.eigvalsh(x, UPLO) * wts))(a)
    other = np.triu if UPLO == "L" else np.tril
    assert np.all(other(host(g), 1 if UPLO == "L" else -1) == 0)  # the unread triangle


@pytest.mark.parametrize("UPLO", ["L", "U"])
def test_eigh_complex_hermitian(UPLO, device, rng):
    c = put(randn(rng, (2, 3, 3), True), device)  # read as the Hermitian matrix of a triangle
    check(lambda x: LA.eigvalsh(x, UPLO), c)

    def invariant(x):
        w, v = LA.eigh(x, UPLO)
        return w, tnp.abs(v) ** 2, tnp.matmul(v * w[..., None, :], mH(v))

    check(invariant, c)
    h = randn(rng, (3, 3), True)
    h = h + h.conj().T
    w, v = LA.eigh(tensor_on(h, device), UPLO)
    ew, ev = np.linalg.eigh(h, UPLO)
    assert w.dtype == np.float64
    np.testing.assert_allclose(host(w), ew, rtol=1e-10)
    np.testing.assert_allclose(np.abs(host(v)), np.abs(ev), rtol=1e-8, atol=1e-10)


def test_eigvalsh_broadcasts_over_batches(device, rng):
    a = randn(rng, (4, 1, 3, 3))
    host_wts = rng.standard_normal((4, 2, 3))  # the eigenvalues (4, 1, 3) broadcast against it
    wts = put(host_wts, device)
    g = tg.grad(lambda x: tnp.sum(LA.eigvalsh(x) * wts))(put(a, device))
    expected = sum(tg.grad(lambda x: tnp.sum(LA.eigvalsh(x) * host_wts[:, j:j + 1]))(a)
                   for j in range(2))
    np.testing.assert_allclose(host(g), expected, atol=1e-10)
    check(lambda x: LA.eigvalsh(x) * wts, put(a, device))
    check(lambda x: LA.eigh(x)[0] * wts, put(a, device))


def test_eigvalsh_repeated(device, rng):
    q = np.linalg.qr(randn(rng, (3, 3)))[0]
    a = q @ np.diag([1.0, 1.0, 3.0]) @ q.T
    for f in (lambda x: LA.eigvalsh(x), lambda x: LA.eigh(x)[0]):
        g = tg.grad(lambda x: tnp.sum(f(x) ** 2))(put(a, device))
        # sum w^2 = |H|_F^2 of the matrix read from the lower triangle
        np.testing.assert_allclose(host(g), 4 * np.tril(a, -1) + 2 * np.diag(np.diag(a)),
                                   atol=1e-10)
    g = tg.grad(lambda x: tnp.sum(LA.eigvalsh(x)))(put(np.eye(3), device))
    np.testing.assert_allclose(host(g), np.eye(3), atol=1e-12)
    _, jv = tg.jvp(LA.eigvalsh, (put(np.eye(3), device),), (put(np.eye(3), device),))
    np.testing.assert_allclose(host(jv), np.ones(3), atol=1e-12)


@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
def test_eigh_against_torch(complex_, device, rng):
    def loss(eigh, x, mod, wv):
        w, v = eigh(x + mod.conj(mod.swapaxes(x, -1, -2)))
        return mod.sum(w ** 3) + mod.sum(mod.abs(v) ** 2 * wv)

    _decomposition_against_torch("eigh", loss, complex_, device, rng)


# ---- pinv ---------------------------------------------------------------------------------
@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
@pytest.mark.parametrize("shape", [(3, 3), (4, 2), (2, 4), (2, 4, 3)], ids=str)
def test_pinv(shape, complex_, device, rng):
    a = randn(rng, shape, complex_)
    np.testing.assert_allclose(host(LA.pinv(tensor_on(a, device))), np.linalg.pinv(a),
                               rtol=1e-10, atol=1e-12)
    check(LA.pinv, put(a, device))


def test_pinv_against_torch(device, rng):
    torch = torch_oracle()
    w = rng.standard_normal((2, 3, 4))
    for a in (randn(rng, (2, 4, 3)), randn(rng, (2, 4, 1)) @ randn(rng, (2, 1, 3))):  # rank 1
        x = tensor_on(a, device, requires_grad=True)
        tnp.sum(LA.pinv(x) * put(w, device)).backward()
        tx = torch.tensor(a, requires_grad=True)
        (torch.linalg.pinv(tx) * torch.tensor(w)).sum().backward()
        close_to_torch(x.grad, tx.grad, rtol=1e-7, atol=1e-9)


def test_pinv_arguments(rng):
    a = randn(rng, (3, 3))
    h = a + a.T
    np.testing.assert_allclose(LA.pinv(tg.tensor(h), hermitian=True).numpy(),
                               np.linalg.pinv(h, hermitian=True), rtol=1e-10)
    np.testing.assert_allclose(LA.pinv(tg.tensor(a), rtol=None).numpy(),
                               np.linalg.pinv(a, rtol=None), rtol=1e-10)
    with pytest.raises(ValueError, match="pinv"):
        LA.pinv(tg.tensor(a), rcond=1e-3, rtol=1e-3)


# ---- norms ---------------------------------------------------------------------------------
@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
def test_norm_at_zero_is_the_subgradient(complex_, device, rng):
    torch = torch_oracle()
    dtype = np.complex128 if complex_ else np.float64
    cases = [(np.zeros(3, dtype), {}), (np.zeros((2, 3), dtype), {}),
             (np.zeros((2, 3), dtype), {"ord": "fro"}),
             (np.stack([np.zeros(3), randn(rng, 3)]).astype(dtype), {"axis": 1}),
             (np.zeros((2, 3), dtype), {"axis": 0, "keepdims": True})]
    for x0, kw in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no divide-by-zero RuntimeWarning
            x = tensor_on(x0, device, requires_grad=True)
            tnp.sum(LA.norm(x, **kw)).backward()
            jv = tg.jvp(lambda a: LA.norm(a, **kw), (put(x0, device),),
                        (put(np.ones_like(x0), device),))[1]
            hess = tg.hessian(lambda a: tnp.sum(LA.norm(a, **kw)))(put(x0.real.copy(), device))
        tx = torch.tensor(x0, requires_grad=True)
        tkw = {k.replace("axis", "dim").replace("keepdims", "keepdim"): v for k, v in kw.items()}
        torch.linalg.norm(tx, **tkw).sum().backward()
        close_to_torch(x.grad, tx.grad, atol=1e-12)
        assert np.all(np.isfinite(host(jv))) and np.all(np.isfinite(host(hess)))
    check(lambda a: LA.norm(a, axis=-1), put(randn(rng, (2, 3), complex_), device))


def test_norm_of_a_list_of_tensors(device, rng):
    x0 = randn(rng, 2)

    def f(x):
        return LA.norm([x[0], 2 * x[1], 3.0])

    g = tg.grad(f)(put(x0, device))
    n = np.sqrt(x0[0] ** 2 + 4 * x0[1] ** 2 + 9)
    np.testing.assert_allclose(host(g), [x0[0] / n, 4 * x0[1] / n], rtol=1e-12)
    np.testing.assert_allclose(float(host(f(tensor_on(x0, device)))), n, rtol=1e-12)
    assert LA.norm([3.0, 4.0]) == 5.0


@pytest.mark.parametrize("ord", [2, -2, "nuc"], ids=str)
def test_spectral_norms_complex(ord, device, rng):
    torch = torch_oracle()
    a = randn(rng, (2, 3, 4), True)
    np.testing.assert_allclose(host(LA.norm(tensor_on(a, device), ord, axis=(1, 2))),
                               np.linalg.norm(a, ord, axis=(1, 2)), rtol=1e-12)
    check(lambda x: LA.norm(x, ord, axis=(-2, -1)), put(a, device))
    x = tensor_on(a, device, requires_grad=True)
    tnp.sum(LA.norm(x, ord, axis=(1, 2))).backward()
    tx = torch.tensor(a, requires_grad=True)
    torch.linalg.matrix_norm(tx, ord).sum().backward()
    close_to_torch(x.grad, tx.grad, rtol=1e-8, atol=1e-10)


# ---- devices -------------------------------------------------------------------------------
def test_results_stay_on_the_device(device, rng):
    a = tensor_on(randn(rng, (3, 3)), device, requires_grad=True)
    outs = [*LA.svd(a), *LA.eig(a), LA.eigvals(a), *LA.eigh(a), LA.eigvalsh(a), LA.pinv(a),
            LA.norm(a, "nuc")]
    for o in outs:
        assert o.device == a.device


@pytest.mark.cuda
def test_missing_cupy_function_names_it(monkeypatch, rng):
    """Where CuPy lacks a function (CuPy before 14 had no eig), the error names it and the
    device."""
    import types

    device = "cuda"

    from tensorgrad.backend.device import cupy

    lacking = types.SimpleNamespace(**{n: getattr(cupy.linalg, n) for n in ("svd", "eigh")})
    monkeypatch.setattr(cupy, "linalg", lacking)
    a = tensor_on(randn(rng, (3, 3)), device, requires_grad=True)
    with pytest.raises(NotImplementedError, match=r"eig.*cuda"):
        LA.eig(a)
    with pytest.raises(NotImplementedError, match=r"pinv.*cuda"):
        LA.pinv(a)


SINGULAR = {
    "rank2_3x3": np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]]),
    "rank1_2x2": np.array([[1.0, 2.0], [2.0, 4.0]]),
    "zero_3x3": np.zeros((3, 3)),
    "rank1_complex": np.array([[1 + 1j, 2.0], [2 + 2j, 4.0]]),
    "batch_mixed": np.stack([np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]]),
                             np.eye(3) + 0.1]),
}


@pytest.mark.parametrize("name", sorted(SINGULAR))
def test_det_derivative_at_singular_matrices(name, device):
    # the derivative of det is the cofactor matrix, finite everywhere; at a singular matrix the
    # rule through the inverse raised LinAlgError (PyTorch 2.13 gives 0 for the 2 x 2 ones)
    a = SINGULAR[name]
    check(LA.det, put(a, device))
    x = tensor_on(a, device, requires_grad=True)
    d = tg.linalg.det(x)
    (d.real if d.dtype.kind == "c" else d).sum().backward()
    fd = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        for step in ((1.0, 1j) if a.dtype.kind == "c" else (1.0,)):
            e = np.zeros_like(a)
            e[i] = 1e-6 * step
            diff = np.linalg.det(a + e).real - np.linalg.det(a - e).real
            fd[i] += diff.sum() / 2e-6 * (1.0 if step == 1.0 else 1j)
    np.testing.assert_allclose(host(x.grad), fd, atol=1e-6)
