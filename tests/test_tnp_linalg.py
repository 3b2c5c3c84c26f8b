"""tnp.linalg: inv, det, slogdet, solve, cholesky, eigh, eigvalsh, norm, matrix_power,
multi_dot, passthrough. Derivatives against finite differences (both modes, second order,
float64), values against NumPy, gradients against PyTorch where it is installed."""

import numpy as np
import pytest
from devices import assert_matches_cpu

import tensorgrad as tg
import tensorgrad.numpy as tnp

LA = tnp.linalg


def check(f, *args):
    tg.check_grads(f, modes=("fwd", "rev"), order=2)(*args)


def well(rng, *shape, complex_=False):
    """A well-conditioned square matrix (or a stack of them)."""
    a = 0.3 * rng.standard_normal(shape) + 2 * np.eye(shape[-1])
    if complex_:
        a = a + 0.3j * rng.standard_normal(shape)
    return a


def spd(a):
    """A symmetric positive-definite matrix made differentiably from any square ``a``."""
    return tnp.matmul(a, tnp.swapaxes(a, -1, -2)) + 3 * np.eye(a.shape[-1])


def sym(a):
    return a + tnp.swapaxes(a, -1, -2)


def values_match(f, np_f, *args, **kw):
    raw = f(*args, **kw)
    expected = np_f(*args, **kw)
    out = f(*[tg.tensor(a) for a in args], **kw)
    if isinstance(expected, tuple):
        for r, o, e in zip(raw, out, expected):
            np.testing.assert_allclose(r, e, rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(o.numpy(), e, rtol=1e-10, atol=1e-12)
    else:
        assert not isinstance(raw, tg.Tensor) and isinstance(out, tg.Tensor)
        np.testing.assert_allclose(raw, expected, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)


SHAPES = [(3, 3), (2, 3, 3)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", ["inv", "det"])
def test_inv_det(name, shape, rng):
    a = well(rng, *shape)
    values_match(getattr(LA, name), getattr(np.linalg, name), a)
    check(getattr(LA, name), a)


@pytest.mark.parametrize("name", ["inv", "det"])
def test_inv_det_complex(name, rng):
    check(getattr(LA, name), well(rng, 3, 3, complex_=True))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_slogdet(shape, rng):
    a = -well(rng, *shape)  # negative determinant for odd n
    values_match(LA.slogdet, np.linalg.slogdet, a)
    check(lambda x: LA.slogdet(x)[1], a)
    check(lambda x: LA.slogdet(x).logabsdet, well(rng, 3, 3, complex_=True))
    sign, _ = LA.slogdet(tg.tensor(a, requires_grad=True))
    assert not sign.requires_grad


@pytest.mark.parametrize("ashape,bshape", [
    ((3, 3), (3,)), ((3, 3), (3, 2)), ((2, 3, 3), (3,)), ((2, 3, 3), (2, 3, 2)),
    ((2, 3, 3), (3, 2)),
], ids=str)
def test_solve(ashape, bshape, rng):
    a, b = well(rng, *ashape), rng.standard_normal(bshape)
    values_match(LA.solve, np.linalg.solve, a, b)
    check(LA.solve, a, b)


def test_solve_complex(rng):
    a = well(rng, 3, 3, complex_=True)
    check(LA.solve, a, rng.standard_normal(3) + 1j * rng.standard_normal(3))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_cholesky(shape, rng):
    a = well(rng, *shape)
    s = np.asarray(spd(a))
    values_match(LA.cholesky, np.linalg.cholesky, s)
    check(lambda x: LA.cholesky(spd(x)), a)
    np.testing.assert_allclose(LA.cholesky(tg.tensor(s), upper=True).numpy(),
                               np.linalg.cholesky(s, upper=True), rtol=1e-12)


def test_cholesky_gradient_is_symmetric(rng):
    s = np.asarray(spd(well(rng, 3, 3)))
    g = tg.grad(lambda x: tnp.sum(LA.cholesky(x) ** 3))(s)
    np.testing.assert_allclose(g, g.T, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_eigh(shape, rng):
    a = rng.standard_normal(shape)
    s = np.asarray(sym(a))
    w, v = LA.eigh(tg.tensor(s))
    ew, ev = np.linalg.eigh(s)
    np.testing.assert_allclose(w.numpy(), ew, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.abs(v.numpy()), np.abs(ev), rtol=1e-8, atol=1e-10)
    check(lambda x: LA.eigh(sym(x)), a)
    check(lambda x: LA.eigvalsh(sym(x)), a)


def test_eigh_reconstructs(rng):
    s = np.asarray(sym(rng.standard_normal((4, 4))))

    def rebuilt(x):
        w, v = LA.eigh(x)
        return tnp.matmul(v * w[None, :], tnp.swapaxes(v, 0, 1))

    # v diag(w) v^T is the symmetric matrix NumPy reads from the lower triangle: the gradient
    # of <C, tril(x) + tril(x, -1)^T> is C + C^T below the diagonal, diag(C) on it, 0 above
    g = tg.grad(lambda x: tnp.sum(rebuilt(x) * np.arange(16.0).reshape(4, 4)))(s)
    c = np.arange(16.0).reshape(4, 4)
    np.testing.assert_allclose(g, np.tril(c + c.T, -1) + np.diag(np.diag(c)), atol=1e-9)


VECTOR_ORDS = [None, 2, 1, np.inf, -np.inf, 3, 0.5]
MATRIX_ORDS = [None, "fro", 1, -1, np.inf, -np.inf, 2, -2, "nuc"]


@pytest.mark.parametrize("ord", VECTOR_ORDS, ids=str)
def test_vector_norm(ord, rng):
    x = rng.standard_normal((3, 4))
    for kw in ({"axis": 1}, {"axis": 0, "keepdims": True}):
        values_match(LA.norm, np.linalg.norm, x, ord=ord, **kw)
    check(lambda a: LA.norm(a, ord, axis=1), x)
    if ord in (None, 2, 1, np.inf):
        z = x + 1j * rng.standard_normal((3, 4))
        check(lambda a: LA.norm(a, ord, axis=-1), z)


@pytest.mark.parametrize("ord", MATRIX_ORDS, ids=str)
def test_matrix_norm(ord, rng):
    x = rng.standard_normal((3, 4))
    values_match(LA.norm, np.linalg.norm, x, ord=ord)
    values_match(LA.norm, np.linalg.norm, x, ord=ord, keepdims=True)
    check(lambda a: LA.norm(a, ord), x)
    b = rng.standard_normal((2, 4, 3))
    values_match(LA.norm, np.linalg.norm, b, ord=ord, axis=(2, 1))


def test_norm_default_flattens(rng):
    x = rng.standard_normal((2, 3, 2))
    values_match(LA.norm, np.linalg.norm, x)
    check(LA.norm, x)
    values_match(lambda a: LA.vector_norm(a, ord=1), lambda a: np.linalg.vector_norm(a, ord=1),
                 x)
    values_match(LA.matrix_norm, np.linalg.matrix_norm, x)


@pytest.mark.parametrize("n", [0, 1, 3, -2])
def test_matrix_power(n, rng):
    a = well(rng, 3, 3)
    values_match(lambda x: LA.matrix_power(x, n), lambda x: np.linalg.matrix_power(x, n), a)
    if n:
        check(lambda x: LA.matrix_power(x, n), a)


def test_multi_dot(rng):
    a, b, c = (rng.standard_normal(s) for s in [(2, 3), (3, 4), (4,)])
    values_match(lambda *xs: LA.multi_dot(xs), lambda *xs: np.linalg.multi_dot(xs), a, b, c)
    check(lambda *xs: LA.multi_dot(xs), a, b, c)


def test_against_torch(rng):
    torch = pytest.importorskip("torch")
    a = well(rng, 2, 3, 3)
    b = rng.standard_normal((2, 3, 2))
    w = rng.standard_normal((2, 3, 2))

    def ours(x, y):
        s = spd(x)
        out = tnp.sum(LA.solve(x, y) * w) + tnp.sum(LA.det(x)) + tnp.sum(LA.slogdet(s)[1])
        out = out + tnp.sum(LA.inv(x) ** 2) + tnp.sum(LA.cholesky(s) ** 2)
        return out + tnp.sum(LA.eigh(sym(x))[0] ** 3) + LA.norm(x[0], 2)

    def theirs(x, y):
        s = x @ x.transpose(-1, -2) + 3 * torch.eye(3, dtype=x.dtype)
        out = (torch.linalg.solve(x, y) * torch.tensor(w)).sum() + torch.linalg.det(x).sum()
        out = out + torch.linalg.slogdet(s)[1].sum()
        out = out + (torch.linalg.inv(x) ** 2).sum() + (torch.linalg.cholesky(s) ** 2).sum()
        out = out + (torch.linalg.eigvalsh(x + x.transpose(-1, -2)) ** 3).sum()
        return out + torch.linalg.matrix_norm(x[0], 2)

    ga, gb = tg.grad(ours, (0, 1))(a, b)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    theirs(ta, tb).backward()
    np.testing.assert_allclose(ours(a, b), theirs(torch.tensor(a), torch.tensor(b)).item(),
                               rtol=1e-10)
    np.testing.assert_allclose(ga, ta.grad.numpy(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(gb, tb.grad.numpy(), rtol=1e-8, atol=1e-10)


def test_hessian_of_logdet(rng):
    # d^2 log det(X) [V, V] = -trace(X^-1 V X^-1 V)
    x = np.asarray(spd(well(rng, 3, 3)))
    v = rng.standard_normal((3, 3))
    hv = tg.make_hvp(lambda a: LA.slogdet(a)[1])(x)[0](v)
    hv = hv[0] if isinstance(hv, tuple) else hv
    xi = np.linalg.inv(x)
    np.testing.assert_allclose(np.sum(hv * v), -np.trace(xi @ v @ xi @ v), rtol=1e-8)


def test_passthrough_refuses_derivatives(rng):
    a = well(rng, 3, 3)
    assert LA.matrix_rank(a) == 3
    assert int(LA.matrix_rank(tg.tensor(a)).item()) == 3
    with pytest.raises(NotImplementedError, match="lstsq"):
        LA.lstsq(tg.tensor(a, requires_grad=True), a[:, 0])
    with pytest.raises(NotImplementedError, match="qr"):
        tg.grad(lambda x: tnp.sum(LA.qr(x)[0]))(a)


def test_errors_name_the_op(rng):
    with pytest.raises(LA.LinAlgError):
        LA.inv(tg.tensor(np.zeros((2, 2)), requires_grad=True))
    with pytest.raises(ValueError, match="norm"):
        LA.norm(tg.tensor(rng.standard_normal((2, 2, 2))), ord=1)


def test_on_device(device, rng):
    """Values and gradients on every available device match the CPU (no host constants)."""
    a = well(rng, 3, 3)

    def f(x):
        s = tnp.matmul(x, tnp.swapaxes(x, 0, 1))  # x is nonsingular, so s is positive definite
        return (tnp.sum(LA.solve(x, x[:, 0])) + LA.det(x) + LA.slogdet(s)[1]
                + tnp.sum(LA.inv(x)) + tnp.sum(LA.cholesky(s)) + tnp.sum(LA.eigh(s)[0] ** 2)
                + LA.norm(x))

    assert_matches_cpu(f, a, device, rtol=1e-10, grad_rtol=1e-8, grad_atol=1e-10)


def test_eigh_complex_values_and_derivative(rng):
    a = rng.standard_normal((3, 3)) + 1j * rng.standard_normal((3, 3))
    h = a + a.conj().T
    w, v = LA.eigh(tg.tensor(h))
    assert w.dtype == np.float64
    np.testing.assert_allclose(w.numpy(), np.linalg.eigh(h)[0], rtol=1e-10)
    check(lambda x: LA.eigvalsh(x), h)  # Hermitian eigenvalues: real, derivative defined


@pytest.mark.parametrize("ord", [3, 1.5, 2])
def test_vector_p_norm_at_zero_has_the_zero_subgradient(device, ord):
    """Any vector p-norm at 0 has gradient 0 (PyTorch's subgradient), with no warning."""
    import warnings

    x = tg.tensor(np.zeros(4), device=device, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tnp.linalg.norm(x, ord).backward()
    assert np.all(x.grad.cpu().numpy() == 0)
    y = tg.tensor(np.array([3.0, -4.0, 0.0]), device=device, requires_grad=True)
    tnp.linalg.norm(y, ord).backward()
    r = np.sum(np.abs([3.0, 4.0]) ** ord) ** (1 / ord)
    want = np.sign([3.0, -4.0, 0.0]) * np.abs([3.0, -4.0, 0.0]) ** (ord - 1) / r ** (ord - 1)
    np.testing.assert_allclose(y.grad.cpu().numpy(), want, rtol=1e-12)
