"""Gradients of real losses of complex tensors against PyTorch's (its convention in ``.grad``):
~90 ops, elementwise, reductions, indexing, FFTs and linear algebra (cholesky, QR and the sign
of slogdet among them, complex since this file), and finite-difference checks of the complex
decompositions to second order in both modes."""

import numpy as onp
import pytest
from devices import host, on, put

import tensorgrad as tg

torch = pytest.importorskip("torch")

RNG = onp.random.default_rng(0)
A = RNG.standard_normal((3, 3)) + 1j * RNG.standard_normal((3, 3))
W = onp.arange(9.0).reshape(3, 3)


def _c(L, x, a):
    """The constant ``a`` on x's device."""
    return L.tensor(a, device=x.device)


def _w(L, x):
    return _c(L, x, W)


def _eye(L, x):
    return L.eye(3, dtype=x.dtype, device=x.device)


# each: a real scalar of the complex (3, 3) input x, written once for torch and tensorgrad (L)
LOSSES = {
    "abs": lambda L, x: L.abs(x).sum(),
    "real_of_square": lambda L, x: (x * x).real.sum(),
    "abs_squared": lambda L, x: (x * x.conj()).real.sum(),
    "exp_imag": lambda L, x: L.exp(x).imag.sum(),
    "angle": lambda L, x: L.angle(x).sum(),
    "abs_of_log": lambda L, x: L.log(x).abs().sum(),
    "sqrt": lambda L, x: L.sqrt(x).real.sum(),
    "sqrt_branch_cut": lambda L, x: L.sqrt(x - 10).imag.sum(),
    "reciprocal": lambda L, x: L.reciprocal(x).imag.sum(),
    "one_over": lambda L, x: (1 / x).real.sum(),
    "sgn_times_x": lambda L, x: (L.sgn(x) * x).real.sum(),
    "sgn": lambda L, x: x.sgn().imag.sum(),
    "sgn_at_zero": lambda L, x: L.sgn(x * _c(L, x, onp.array([1.0, 0.0, 1.0]))).real.sum(),
    "sigmoid": lambda L, x: L.sigmoid(x).real.sum(),
    "tanh": lambda L, x: L.tanh(x).imag.sum(),
    "sin": lambda L, x: L.sin(x).real.sum(),
    "cosh": lambda L, x: L.cosh(x).real.sum(),
    "asin": lambda L, x: L.asin(x).real.sum(),
    "acos": lambda L, x: L.acos(x).imag.sum(),
    "atan": lambda L, x: L.atan(x).imag.sum(),
    "acosh": lambda L, x: L.acosh(x).imag.sum(),
    "atanh": lambda L, x: L.atanh(x).real.sum(),
    "log10": lambda L, x: L.log10(x).real.sum(),
    "log2": lambda L, x: L.log2(x).imag.sum(),
    "exp2": lambda L, x: L.exp2(x).imag.sum(),
    "expm1": lambda L, x: L.expm1(x).imag.sum(),
    "log1p": lambda L, x: L.log1p(x).imag.sum(),
    "rsqrt": lambda L, x: L.rsqrt(x).real.sum(),
    "square": lambda L, x: L.square(x).imag.sum(),
    "pow_real": lambda L, x: (x ** 2.5).real.sum(),
    "pow_int": lambda L, x: (x ** 3).imag.sum(),
    "pow_self": lambda L, x: (x ** x).real.sum(),
    "scalar_pow": lambda L, x: (2.0 ** x).imag.sum(),
    "abs_cubed": lambda L, x: (x.abs() ** 3).sum(),
    "real_over_x": lambda L, x: (x.real / x).imag.sum(),
    "polar": lambda L, x: L.polar(x.abs(), x.angle()).real.sum(),
    "complex": lambda L, x: L.complex(x.real, x.imag * 2).abs().sum(),
    "view_as_real": lambda L, x: (L.view_as_real(x) ** 2).sum(),
    "view_as_complex": lambda L, x: L.view_as_complex(L.view_as_real(x) * 2).imag.sum(),
    "addcmul": lambda L, x: L.addcmul(x, x, x, value=2).imag.sum(),
    "lerp": lambda L, x: L.lerp(x, x * x, 0.3).imag.sum(),
    "where": lambda L, x: L.where(x.real > 0, x, x * 2j).imag.sum(),
    "mean": lambda L, x: x.mean(0).abs().sum(),
    "var": lambda L, x: x.var(0).sum(),
    "std": lambda L, x: x.std(),
    "weighted_sum": lambda L, x: (x.sum(1) * _c(L, x, onp.array([1, 2j, 3]))).real.sum(),
    "prod": lambda L, x: x.prod(1).imag.sum(),
    "cumsum": lambda L, x: L.cumsum(x, 0).abs().sum(),
    "cumprod": lambda L, x: L.cumprod(x, 1).real.sum(),
    "softmax_like": lambda L, x: (L.exp(x) / L.exp(x).sum()).abs().sum(),
    "roll": lambda L, x: (L.roll(x, 1, 0) * _w(L, x)).imag.sum(),
    "flip": lambda L, x: (L.flip(x, [0]) * _w(L, x)).real.sum(),
    "transpose": lambda L, x: (x.T * _w(L, x)).real.sum(),
    "index": lambda L, x: (x[[0, 0, 2]] * _w(L, x)).imag.sum(),
    "scatter_add": lambda L, x: L.zeros(3, 3, dtype=x.dtype, device=x.device).scatter_add(
        0, _c(L, x, onp.array([[0, 1, 0], [1, 0, 1], [2, 2, 2]])), x).imag.sum(),
    "cat": lambda L, x: (L.cat([x, x.conj()])
                         * L.arange(18.0, device=x.device).reshape(6, 3)).imag.sum(),
    "diag": lambda L, x: L.diag(x).imag.sum(),
    "triu": lambda L, x: L.triu(x).imag.sum(),
    "matmul": lambda L, x: (x @ x).imag.sum(),
    "matmul_mH": lambda L, x: (x @ x.mH).real.sum(),
    "trace": lambda L, x: L.trace(x @ x).real,
    "mv": lambda L, x: L.mv(x, x[0]).imag.sum(),
    "dot": lambda L, x: L.dot(x[0], x[1]).imag,
    "vdot": lambda L, x: L.vdot(x[0], x[1]).imag,
    "inner": lambda L, x: L.inner(x, x).imag.sum(),
    "outer": lambda L, x: L.outer(x[0], x[1]).imag.sum(),
    "tensordot": lambda L, x: L.tensordot(x, x, dims=([1], [0])).imag.sum(),
    "einsum": lambda L, x: L.einsum("ij,jk->ik", x, x.conj()).real.sum(),
    "kron": lambda L, x: L.kron(x, x).imag.sum(),
    "det": lambda L, x: L.linalg.det(x).real,
    "slogdet_logabsdet": lambda L, x: L.linalg.slogdet(x)[1],
    "slogdet_sign": lambda L, x: L.linalg.slogdet(x)[0].imag,
    "slogdet_sign_real": lambda L, x: (L.linalg.slogdet(x)[0] * x[0, 0]).real,
    "inv": lambda L, x: L.linalg.inv(x).imag.sum(),
    "pinv": lambda L, x: L.linalg.pinv(x).real.sum(),
    "solve": lambda L, x: L.linalg.solve(x, x.sum(0)).real.sum(),
    "solve_triangular": lambda L, x: L.linalg.solve_triangular(
        L.tril(x) + 3 * _eye(L, x), x, upper=False).real.sum(),
    "lstsq": lambda L, x: L.linalg.lstsq(x, x[:, :1]).solution.real.sum(),
    "matrix_power": lambda L, x: L.linalg.matrix_power(x, 3).imag.sum(),
    "matrix_power_neg": lambda L, x: L.linalg.matrix_power(x, -2).imag.sum(),
    "matrix_exp": lambda L, x: L.linalg.matrix_exp(x * 0.3).real.sum(),
    "cholesky": lambda L, x: (L.linalg.cholesky(x @ x.mH + _eye(L, x)) * _w(L, x)).real.sum(),
    "cholesky_imag": lambda L, x: L.linalg.cholesky(x @ x.mH + _eye(L, x)).imag.sum(),
    "qr_r": lambda L, x: L.linalg.qr(x)[1].abs().sum(),
    "qr_q": lambda L, x: (L.linalg.qr(x)[0].abs() ** 2 * _w(L, x)).sum(),
    "qr_wide": lambda L, x: (L.linalg.qr(x[:2])[1].abs() * _w(L, x)[:2]).sum(),
    "qr_tall": lambda L, x: (L.linalg.qr(L.cat([x, x * 1j]))[1].abs() * _w(L, x)).sum(),
    "svdvals": lambda L, x: L.linalg.svdvals(x).sum(),
    "svd_u": lambda L, x: (L.linalg.svd(x)[0].abs() * _w(L, x)).sum(),
    "eigvals": lambda L, x: L.linalg.eigvals(x).real.sum() + (L.linalg.eigvals(x) ** 2).imag.sum(),
    "eigvalsh": lambda L, x: (L.linalg.eigvalsh(x + x.mH) ** 2).sum(),
    "eigh_vectors": lambda L, x: (L.linalg.eigh(x + x.mH)[1].abs() ** 2 * _w(L, x)).sum(),
    "matrix_norm_fro": lambda L, x: L.linalg.matrix_norm(x),
    "matrix_norm_nuc": lambda L, x: L.linalg.matrix_norm(x, "nuc"),
    "vector_norm_3": lambda L, x: L.linalg.vector_norm(x, 3),
    "fft2": lambda L, x: L.fft.fft2(x).real.sum() + L.fft.fft2(x).imag.abs().sum(),
    "ifft": lambda L, x: L.fft.ifft(x, dim=0).imag.sum(),
    "rfft_of_real": lambda L, x: L.fft.rfft(x.real).abs().sum(),
    "irfft": lambda L, x: (L.fft.irfft(x) ** 2).sum(),
    "hfft": lambda L, x: (L.fft.hfft(x) ** 2).sum(),
    "fftshift": lambda L, x: (L.fft.fftshift(x) * _w(L, x)).imag.sum(),
}


def _grad(L, loss, a, device=None):
    x = L.tensor(a, requires_grad=True) if L is torch else tg.tensor(
        a, requires_grad=True, device=device)
    y = loss(L, x)
    y.backward()
    if L is torch:
        return y.item(), x.grad.resolve_conj().numpy()
    assert on(x.grad, device)
    return float(host(y)), host(x.grad)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_complex_gradient_matches_torch(name, device):
    loss = LOSSES[name]
    want_value, want_grad = _grad(torch, loss, A)
    value, grad = _grad(tg, loss, A, device)
    assert value == pytest.approx(want_value, rel=1e-10, abs=1e-12)
    onp.testing.assert_allclose(grad, want_grad, rtol=1e-8, atol=1e-10)


# the new complex rules, to second order against finite differences, forward and reverse
DECOMPS = {  # each: a function of the input a and the identity on its device
    "cholesky": lambda a, eye: tg.numpy.linalg.cholesky(
        a @ tg.numpy.conj(tg.numpy.swapaxes(a, -1, -2)) + 3 * eye),
    "qr": lambda a, eye: tg.linalg.qr(a).R.abs() + tg.linalg.qr(a).Q.abs()[:3],
    "qr_tall": lambda a, eye: tg.linalg.qr(tg.numpy.concatenate([a, a * 1j])).R.abs(),
    "slogdet_sign": lambda a, eye: tg.linalg.slogdet(a).sign,
    "sgn": lambda a, eye: tg.sgn(a),
}


@pytest.mark.parametrize("name", sorted(DECOMPS))
def test_complex_decomposition_check_grads(name, device):
    a, eye = put(A + onp.eye(3), device), put(onp.eye(3), device)
    tg.check_grads(lambda a: DECOMPS[name](a, eye), modes=("fwd", "rev"), order=2)(a)


def test_sgn_of_real_is_sign_without_history():
    x = tg.tensor([-2.0, 0.0, 3.0], requires_grad=True)
    y = tg.sgn(x)
    assert y.tolist() == [-1.0, 0.0, 1.0] and not y.requires_grad


def test_slogdet_sign_of_real_has_no_history():
    x = tg.tensor(A.real, requires_grad=True)
    assert not tg.linalg.slogdet(x).sign.requires_grad
    assert tg.linalg.slogdet(x).logabsdet.requires_grad


T = RNG.standard_normal((3, 3)) + 1j * RNG.standard_normal((3, 3))


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_complex_jvp_matches_torch(name, device):
    loss = LOSSES[name]
    _, want = torch.func.jvp(lambda x: loss(torch, x), (torch.tensor(A),), (torch.tensor(T),))
    _, got = tg.func.jvp(lambda x: loss(tg, x), (tg.tensor(A, device=device),),
                         (tg.tensor(T, device=device),))
    assert float(host(got)) == pytest.approx(want.item(), rel=1e-8, abs=1e-10)


# losses linear in x (no second derivative: PyTorch's double backward refuses them), and sgn at
# 0, whose second derivative PyTorch gives as NaN (tensorgrad's: 0, the limit along every line)
_LINEAR = {"view_as_complex", "where", "weighted_sum", "roll", "flip", "transpose", "index",
           "scatter_add", "cat", "diag", "triu", "ifft", "fftshift", "sgn_at_zero"}


def _hvp(L, loss, device=None):
    kw = {} if L is torch else {"device": device}
    x = L.tensor(A, requires_grad=True, **kw)
    (g,) = L.autograd.grad(loss(L, x), x, create_graph=True)
    (g.conj() * L.tensor(T, **kw)).real.sum().backward()
    return x.grad.resolve_conj().numpy() if L is torch else host(x.grad)


@pytest.mark.parametrize("name", sorted(set(LOSSES) - _LINEAR))
def test_complex_double_backward_matches_torch(name, device):
    onp.testing.assert_allclose(_hvp(tg, LOSSES[name], device), _hvp(torch, LOSSES[name]),
                                rtol=1e-7, atol=1e-9)
