"""tnp.fft: fft, ifft, rfft, irfft, hfft, ihfft, the 2-D and n-D forms, shifts. Derivatives
against finite differences (both modes, second order, float64) for real and complex inputs,
under autograd's complex convention; values against NumPy, gradients against PyTorch."""

import warnings

import numpy as np
import pytest
from devices import assert_matches_cpu

import tensorgrad as tg
import tensorgrad.numpy as tnp

FFT = tnp.fft
NORMS = [None, "ortho", "forward"]


def check(f, *args):
    tg.check_grads(f, modes=("fwd", "rev"), order=2)(*args)


def values_match(f, np_f, x):
    raw = f(x)
    expected = np_f(x)
    assert not isinstance(raw, tg.Tensor)
    np.testing.assert_allclose(raw, expected, rtol=1e-12, atol=1e-12)
    out = f(tg.tensor(x))
    assert isinstance(out, tg.Tensor)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)


def inputs(rng, shape):
    x = rng.standard_normal(shape)
    return {"real": x, "complex": x + 1j * rng.standard_normal(shape)}


@pytest.mark.parametrize("norm", NORMS, ids=str)
@pytest.mark.parametrize("name", ["fft", "ifft"])
@pytest.mark.parametrize("n,axis", [(None, -1), (4, 0), (8, 1)], ids=str)
def test_c2c(name, n, axis, norm, rng):
    for x in inputs(rng, (3, 6)).values():
        f = lambda a: getattr(FFT, name)(a, n=n, axis=axis, norm=norm)
        values_match(f, lambda a: getattr(np.fft, name)(a, n=n, axis=axis, norm=norm), x)
        check(f, x)


@pytest.mark.parametrize("norm", NORMS, ids=str)
@pytest.mark.parametrize("name", ["fft2", "ifft2", "fftn", "ifftn"])
@pytest.mark.parametrize("s", [None, (4, 7)], ids=str)
def test_c2c_nd(name, s, norm, rng):
    kw = {"axes": (0, 1)} if s is not None and name.endswith("n") else {}
    for x in inputs(rng, (3, 6)).values():
        f = lambda a: getattr(FFT, name)(a, s=s, norm=norm, **kw)
        values_match(f, lambda a: getattr(np.fft, name)(a, s=s, norm=norm, **kw), x)
        check(f, x)


def test_fftn_s_without_axes(rng):
    # NumPy (deprecated but still so): s without axes transforms the last len(s) axes
    x = inputs(rng, (2, 3, 4))["complex"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        expected = np.fft.fftn(x, s=(5, 3))
    np.testing.assert_allclose(FFT.fftn(tg.tensor(x), s=(5, 3)).numpy(), expected, rtol=1e-12)


def test_fftn_axes(rng):
    x = inputs(rng, (2, 3, 4))["complex"]
    f = lambda a: FFT.fftn(a, axes=(0, 2))
    values_match(f, lambda a: np.fft.fftn(a, axes=(0, 2)), x)
    check(f, x)


@pytest.mark.parametrize("norm", NORMS, ids=str)
@pytest.mark.parametrize("length,n", [(6, None), (5, None), (6, 5), (6, 9)], ids=str)
def test_rfft(length, n, norm, rng):
    x = rng.standard_normal((2, length))
    f = lambda a: FFT.rfft(a, n=n, norm=norm)
    values_match(f, lambda a: np.fft.rfft(a, n=n, norm=norm), x)
    check(f, x)


@pytest.mark.parametrize("norm", NORMS, ids=str)
@pytest.mark.parametrize("n", [None, 5, 7, 3, 10], ids=str)
def test_irfft(n, norm, rng):
    # a general complex input: irfft ignores the imaginary parts of bins 0 (and n / 2)
    for x in inputs(rng, (2, 4)).values():
        f = lambda a: FFT.irfft(a, n=n, norm=norm)
        values_match(f, lambda a: np.fft.irfft(a, n=n, norm=norm), x)
        check(f, x)


@pytest.mark.parametrize("norm", NORMS, ids=str)
def test_real_nd_and_hermitian(norm, rng):
    x = inputs(rng, (3, 6))
    cases = [
        (lambda a: FFT.rfftn(a, norm=norm), lambda a: np.fft.rfftn(a, norm=norm), x["real"]),
        (lambda a: FFT.rfft2(a, s=(4, 5), norm=norm),
         lambda a: np.fft.rfft2(a, s=(4, 5), norm=norm), x["real"]),
        (lambda a: FFT.irfftn(a, norm=norm), lambda a: np.fft.irfftn(a, norm=norm),
         x["complex"][:, :4]),
        (lambda a: FFT.irfft2(a, s=(4, 5), norm=norm),
         lambda a: np.fft.irfft2(a, s=(4, 5), norm=norm), x["complex"]),
        (lambda a: FFT.hfft(a, norm=norm), lambda a: np.fft.hfft(a, norm=norm),
         x["complex"][:, :4]),
        (lambda a: FFT.ihfft(a, norm=norm), lambda a: np.fft.ihfft(a, norm=norm), x["real"]),
    ]
    for f, np_f, a in cases:
        values_match(f, np_f, a)
        check(f, a)


def test_shifts(rng):
    x = rng.standard_normal((3, 5))
    values_match(FFT.fftshift, np.fft.fftshift, x)
    values_match(lambda a: FFT.ifftshift(a, axes=1), lambda a: np.fft.ifftshift(a, axes=1), x)
    check(FFT.fftshift, x)
    check(lambda a: FFT.ifftshift(a, axes=1), x)
    assert np.allclose(FFT.fftfreq(4, 0.5), np.fft.fftfreq(4, 0.5))


def test_round_trips_are_identities(rng):
    x = rng.standard_normal(6)
    w = rng.standard_normal(6)
    for f in (lambda a: FFT.ifft(FFT.fft(a)), lambda a: FFT.irfft(FFT.rfft(a), 6)):
        g = tg.grad(lambda a: tnp.sum(tnp.real(f(a)) * w))(x)
        np.testing.assert_allclose(g, w, atol=1e-12)


def test_parseval_gradient(rng):
    # sum |fft(x)|^2 = n sum |x|^2, so its gradient is 2 n x (for complex x: 2 n conj(x) in
    # autograd's convention)
    x = inputs(rng, 8)
    for z in x.values():
        g = tg.grad(lambda a: tnp.sum(tnp.abs(FFT.fft(a)) ** 2))(z)
        np.testing.assert_allclose(g, 16 * np.conj(z), rtol=1e-10)


def test_against_torch(rng):
    torch = pytest.importorskip("torch")
    x = inputs(rng, (3, 8))
    wr = rng.standard_normal((3, 8))
    for norm in ("backward", "ortho"):
        def ours(a, b):
            out = tnp.sum(tnp.abs(FFT.fft2(b, norm=norm)) ** 2 * wr)
            out = out + tnp.sum(tnp.real(FFT.rfft(a, norm=norm)) * wr[:, :5])
            out = out + tnp.sum(tnp.imag(FFT.ifft(b, n=6, norm=norm)) ** 2)
            return out + tnp.sum(FFT.irfft(b[:, :5], n=8, norm=norm) * wr)

        def theirs(a, b):
            tf = torch.fft
            out = ((tf.fft2(b, norm=norm).abs() ** 2) * torch.tensor(wr)).sum()
            out = out + (tf.rfft(a, norm=norm).real * torch.tensor(wr[:, :5])).sum()
            out = out + (tf.ifft(b, n=6, norm=norm).imag ** 2).sum()
            return out + (tf.irfft(b[:, :5], n=8, norm=norm) * torch.tensor(wr)).sum()

        ga, gb = tg.grad(ours, (0, 1))(x["real"], x["complex"])
        ta = torch.tensor(x["real"], requires_grad=True)
        tb = torch.tensor(x["complex"], requires_grad=True)
        value = theirs(ta, tb)
        value.backward()
        np.testing.assert_allclose(ours(x["real"], x["complex"]), value.item(), rtol=1e-10)
        np.testing.assert_allclose(ga, ta.grad.numpy(), rtol=1e-9, atol=1e-10)
        # PyTorch's gradient of a real loss is the conjugate of autograd's convention
        np.testing.assert_allclose(gb, np.conj(tb.grad.numpy()), rtol=1e-9, atol=1e-10)


def test_float32_stays_single(rng):
    x = tg.tensor(rng.standard_normal(8).astype(np.float32), requires_grad=True)
    y = FFT.rfft(x)
    assert y.dtype == np.complex64
    tnp.sum(tnp.abs(y)).backward()
    assert x.grad.dtype == np.float32


def test_passthrough_refuses_derivatives():
    with pytest.raises(NotImplementedError, match="fftfreq"):
        FFT.fftfreq(tg.tensor(4.0, requires_grad=True))


def test_on_device(device, rng):
    x = rng.standard_normal((4, 6))

    def f(a):
        z = FFT.fft2(a, norm="ortho")
        r = FFT.irfft(FFT.rfft(a * a), n=6)
        return tnp.sum(tnp.abs(FFT.ifft(z * z)) ** 2) + tnp.sum(r * a) + tnp.sum(
            tnp.real(FFT.fftshift(z)) ** 2)

    assert_matches_cpu(f, x, device, rtol=1e-10, grad_rtol=1e-8, grad_atol=1e-10)
