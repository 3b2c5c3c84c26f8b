"""tg.linalg.householder_product / ldl_factor(_ex) / ldl_solve, tg.geqrf / orgqr / ormqr (and
their Tensor methods), and torch.special's polynomials, airy_ai and scaled_modified_bessel_k*:
values against PyTorch, derivatives against finite differences to second order, bad input."""

import numpy as np
import pytest
from devices import against_torch, close_to_torch, host, on, put, tensor_on, torch_oracle

import tensorgrad as tg


def _reflector_input(rng, shape):
    """geqrf's output for a random matrix: reflectors below the diagonal, and tau."""
    torch = torch_oracle()
    a, tau = torch.geqrf(torch.tensor(rng.standard_normal(shape)))
    return a.numpy(), tau.numpy()


# ---- geqrf, householder_product, orgqr, ormqr -------------------------------------------------
@pytest.mark.parametrize("shape", [(5, 3), (3, 3), (3, 5), (2, 4, 2)])
def test_geqrf_matches_torch(device, rng, shape):
    torch = torch_oracle()
    x = rng.standard_normal(shape)
    a, tau = tg.geqrf(tensor_on(x, device))
    ra, rtau = torch.geqrf(torch.tensor(x))
    assert on(a, device) and on(tau, device)
    assert tuple(tau.shape) == tuple(rtau.shape)
    close_to_torch(a, ra, rtol=1e-10, atol=1e-12)
    close_to_torch(tau, rtau, rtol=1e-10, atol=1e-12)
    m = tensor_on(x, device)
    assert np.allclose(host(m.geqrf().a), ra.numpy())  # the Tensor method


def test_geqrf_complex_matches_torch(device, rng):
    torch = torch_oracle()
    x = rng.standard_normal((4, 3)) + 1j * rng.standard_normal((4, 3))
    a, tau = tg.geqrf(tensor_on(x, device))
    ra, rtau = torch.geqrf(torch.tensor(x))
    close_to_torch(a, ra, rtol=1e-10, atol=1e-12)
    close_to_torch(tau, rtau, rtol=1e-10, atol=1e-12)


def test_geqrf_has_no_derivative(device, rng):
    x = tensor_on(rng.standard_normal((3, 2)), device, requires_grad=True)
    a, tau = tg.geqrf(x)
    with pytest.raises(NotImplementedError, match="geqrf"):
        (a.sum() + tau.sum()).backward()


@pytest.mark.parametrize("shape,k", [((5, 3), 3), ((4, 4), 2), ((2, 5, 2), 2), ((4, 3), 0)])
def test_householder_product_matches_torch(device, rng, shape, k):
    torch = torch_oracle()
    a, tau = _reflector_input(rng, shape)
    tau = tau[..., :k]
    against_torch(device, tg.linalg.householder_product, torch.linalg.householder_product,
                  [a, tau], grad_args=(0, 1) if k else (), rtol=1e-9, atol=1e-11, rng=rng)
    q = tg.orgqr(tensor_on(a, device), tensor_on(tau, device))
    close_to_torch(q, torch.linalg.householder_product(torch.tensor(a), torch.tensor(tau)),
                   rtol=1e-10, atol=1e-12)
    assert np.allclose(host(tensor_on(a, device).orgqr(tensor_on(tau, device))), host(q))


def test_householder_product_complex_matches_torch(device, rng):
    torch = torch_oracle()
    x = rng.standard_normal((4, 3)) + 1j * rng.standard_normal((4, 3))
    a, tau = torch.geqrf(torch.tensor(x))
    q = tg.linalg.householder_product(tensor_on(a.numpy(), device),
                                      tensor_on(tau.numpy(), device))
    close_to_torch(q, torch.linalg.householder_product(a, tau), rtol=1e-10, atol=1e-12)


def test_householder_product_second_order(device, rng):
    a, tau = _reflector_input(rng, (4, 3))
    tg.check_grads(tg.linalg.householder_product, modes=("fwd", "rev"), order=2)(
        put(a, device), put(tau, device))


@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("transpose", [False, True])
def test_ormqr_matches_torch(device, rng, left, transpose):
    torch = torch_oracle()
    a, tau = _reflector_input(rng, (2, 5, 3))
    c = rng.standard_normal((2, 5, 4) if left else (2, 4, 5))
    against_torch(device, lambda x, t, o: tg.ormqr(x, t, o, left, transpose),
                  lambda x, t, o: torch.ormqr(x, t, o, left, transpose), [a, tau, c],
                  grad_args=(0, 1, 2), rtol=1e-9, atol=1e-11, rng=rng)
    m = tensor_on(a, device).ormqr(tensor_on(tau, device), tensor_on(c, device), left,
                                   transpose)
    close_to_torch(m, torch.ormqr(torch.tensor(a), torch.tensor(tau), torch.tensor(c), left,
                                  transpose), rtol=1e-10, atol=1e-12)


def test_ormqr_second_order(device, rng):
    a, tau = _reflector_input(rng, (4, 2))
    c = rng.standard_normal((3, 4))
    tg.check_grads(lambda x, t, o: tg.ormqr(x, t, o, left=False, transpose=True),
                   modes=("fwd", "rev"), order=2)(put(a, device), put(tau, device),
                                                  put(c, device))


def test_ormqr_is_q_times_other(device, rng):
    """ormqr(a, tau, C) = Q C with Q the full product of the reflectors (Q from qr)."""
    x = rng.standard_normal((5, 3))
    c = rng.standard_normal((5, 2))
    a, tau = tg.geqrf(tensor_on(x, device))
    q_full = np.linalg.qr(x, mode="complete")[0]
    r = np.linalg.qr(x)[1]
    # Q^T x = R (up to the sign conventions LAPACK shares between both)
    qt_x = tg.ormqr(a, tau, tensor_on(x, device), transpose=True)
    assert np.allclose(np.abs(host(qt_x)[:3]), np.abs(r), atol=1e-12)
    assert np.allclose(host(qt_x)[3:], 0, atol=1e-12)
    back = tg.ormqr(a, tau, tg.ormqr(a, tau, tensor_on(c, device), transpose=True))
    assert np.allclose(host(back), c, atol=1e-12)
    assert q_full.shape == (5, 5)


def test_householder_bad_input(device, rng):
    a = tensor_on(rng.standard_normal((3, 4)), device)
    with pytest.raises(ValueError, match=r"householder_product.*shape \(3, 4\)"):
        tg.linalg.householder_product(a, tensor_on(rng.standard_normal(2), device))
    b = tensor_on(rng.standard_normal((4, 2)), device)
    with pytest.raises(ValueError, match=r"tau.*shape \(3,\)"):
        tg.linalg.householder_product(b, tensor_on(rng.standard_normal(3), device))
    with pytest.raises(ValueError, match="batch dimensions of tau"):
        tg.linalg.householder_product(b, tensor_on(rng.standard_normal((2, 2)), device))
    with pytest.raises(TypeError, match="same dtype"):
        tg.linalg.householder_product(b, tensor_on(rng.standard_normal(2).astype(np.float32),
                                                   device))
    with pytest.raises(ValueError, match=r"ormqr.*other of shape \(3, 2\)"):
        tg.ormqr(b, tensor_on(rng.standard_normal(2), device),
                 tensor_on(rng.standard_normal((3, 2)), device))
    with pytest.raises(ValueError, match="geqrf.*2 dimensions"):
        tg.geqrf(tensor_on(rng.standard_normal(3), device))


# ---- LDL ---------------------------------------------------------------------------------------
def _symmetric(rng, shape, complex_=False):
    x = rng.standard_normal(shape)
    if complex_:
        x = x + 1j * rng.standard_normal(shape)
    return x + np.swapaxes(x, -1, -2).conj()


@pytest.mark.parametrize("shape", [(4, 4), (3, 5, 5), (1, 1)])
def test_ldl_factor_and_solve_match_torch(device, rng, shape):
    torch = torch_oracle()
    s = _symmetric(rng, shape)
    b = rng.standard_normal(shape[:-1] + (2,))
    ours = tg.linalg.ldl_factor_ex(tensor_on(s, device))
    ref = torch.linalg.ldl_factor_ex(torch.tensor(s))
    assert on(ours.LD, device) and on(ours.pivots, device) and on(ours.info, device)
    assert ours.pivots.dtype == np.int32 and ours.info.dtype == np.int32
    close_to_torch(ours.LD, ref.LD, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(host(ours.pivots), ref.pivots.numpy())
    np.testing.assert_array_equal(host(ours.info), ref.info.numpy())
    LD, piv = tg.linalg.ldl_factor(tensor_on(s, device))
    x = tg.linalg.ldl_solve(LD, piv, tensor_on(b, device))
    assert on(x, device)
    close_to_torch(x, torch.linalg.ldl_solve(ref.LD, ref.pivots, torch.tensor(b)), rtol=1e-9,
                   atol=1e-11)
    np.testing.assert_allclose(host(x), np.linalg.solve(s, b), rtol=1e-8, atol=1e-10)


def test_ldl_two_by_two_pivots(device):
    """A zero diagonal forces 2 x 2 blocks (negative pivots)."""
    torch = torch_oracle()
    s = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 3.0], [2.0, 3.0, 0.0]])
    ours = tg.linalg.ldl_factor(tensor_on(s, device))
    ref = torch.linalg.ldl_factor(torch.tensor(s))
    assert (ref.pivots.numpy() < 0).any()
    np.testing.assert_array_equal(host(ours.pivots), ref.pivots.numpy())
    close_to_torch(ours.LD, ref.LD, rtol=1e-12, atol=1e-14)
    b = np.array([[1.0], [2.0], [3.0]])
    np.testing.assert_allclose(host(tg.linalg.ldl_solve(*ours, tensor_on(b, device))),
                               np.linalg.solve(s, b), rtol=1e-12)


@pytest.mark.parametrize("hermitian", [True, False])
def test_ldl_complex_matches_torch(device, rng, hermitian):
    torch = torch_oracle()
    s = _symmetric(rng, (4, 4), complex_=True)
    if not hermitian:  # complex symmetric
        s = s + s.T
    b = rng.standard_normal((4, 3)) + 1j * rng.standard_normal((4, 3))
    ours = tg.linalg.ldl_factor(tensor_on(s, device), hermitian=hermitian)
    ref = torch.linalg.ldl_factor(torch.tensor(s), hermitian=hermitian)
    close_to_torch(ours.LD, ref.LD, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(host(ours.pivots), ref.pivots.numpy())
    x = tg.linalg.ldl_solve(*ours, tensor_on(b, device), hermitian=hermitian)
    np.testing.assert_allclose(host(x), np.linalg.solve(s, b), rtol=1e-9, atol=1e-11)


def test_ldl_singular(device):
    torch = torch_oracle()
    s = np.zeros((3, 3))
    s[0, 0] = 1.0
    ours = tg.linalg.ldl_factor_ex(tensor_on(s, device))
    ref = torch.linalg.ldl_factor_ex(torch.tensor(s))
    assert int(host(ours.info)) == int(ref.info) == 2
    with pytest.raises(tg.linalg.LinAlgError, match=r"ldl_factor.*D\[2,2\]"):
        tg.linalg.ldl_factor(tensor_on(s, device))
    with pytest.raises(RuntimeError, match="ldl_factor_ex"):
        tg.linalg.ldl_factor_ex(tensor_on(s, device), check_errors=True)


def test_ldl_has_no_derivative(device, rng):
    s = tensor_on(_symmetric(rng, (3, 3)), device, requires_grad=True)
    LD, piv = tg.linalg.ldl_factor(s)
    with pytest.raises(NotImplementedError, match="ldl_factor"):
        LD.sum().backward()
    b = tensor_on(rng.standard_normal((3, 1)), device, requires_grad=True)
    x = tg.linalg.ldl_solve(LD.detach(), piv, b)
    with pytest.raises(NotImplementedError, match="ldl_solve"):
        x.sum().backward()


def test_ldl_bad_input(device, rng):
    with pytest.raises(ValueError, match=r"ldl_factor.*square.*\(3, 4\)"):
        tg.linalg.ldl_factor(tensor_on(rng.standard_normal((3, 4)), device))
    with pytest.raises(TypeError, match="ldl_factor_ex.*float32"):
        tg.linalg.ldl_factor_ex(tensor_on(np.eye(3, dtype=np.float16), device))
    LD, piv = tg.linalg.ldl_factor(tensor_on(_symmetric(rng, (3, 3)), device))
    with pytest.raises(ValueError, match=r"ldl_solve.*B of shape \(4, 1\)"):
        tg.linalg.ldl_solve(LD, piv, tensor_on(rng.standard_normal((4, 1)), device))
    with pytest.raises(ValueError, match=r"pivots.*shape \(2,\)"):
        tg.linalg.ldl_solve(LD, piv[:2], tensor_on(rng.standard_normal((3, 1)), device))
    with pytest.raises(ValueError, match="pivots must lie"):
        tg.linalg.ldl_solve(LD, piv * 0, tensor_on(rng.standard_normal((3, 1)), device))
    with pytest.raises(TypeError, match="same dtype"):
        tg.linalg.ldl_solve(LD, piv, tensor_on(rng.standard_normal((3, 1)).astype(np.float32),
                                               device))


# ---- torch.special: polynomials ------------------------------------------------------------
POLYS = ["chebyshev_polynomial_t", "chebyshev_polynomial_u", "chebyshev_polynomial_v",
         "chebyshev_polynomial_w", "shifted_chebyshev_polynomial_t",
         "shifted_chebyshev_polynomial_u", "shifted_chebyshev_polynomial_v",
         "shifted_chebyshev_polynomial_w", "hermite_polynomial_h", "hermite_polynomial_he",
         "laguerre_polynomial_l", "legendre_polynomial_p"]
# |x| > 1, the ends of [-1, 1] and of [0, 1], and the inside
XS = np.concatenate([np.linspace(-2.5, 2.5, 21), [-1.0, 0.0, 0.5, 1.0, 0.999, -0.3]])
NS = np.array([-2.0, 0.0, 1.0, 2.0, 3.0, 4.7, 6.0, 7.0, 9.0, 10.0, 25.0, 600.0])


@pytest.mark.parametrize("name", POLYS)
def test_polynomial_matches_torch(device, name):
    torch = torch_oracle()
    n = NS[:, None]
    ours = getattr(tg.special, name)(tensor_on(XS, device), tensor_on(n, device))
    ref = getattr(torch.special, name)(torch.tensor(XS), torch.tensor(n))
    assert on(ours, device) and ours.dtype == np.float64 and tuple(ours.shape) == (12, 27)
    theirs = ref.numpy()
    # n = 600 overflows for |x| > 1 (inf and nan both sides) and Hermite gives NaN past 512
    np.testing.assert_allclose(host(ours), theirs, rtol=1e-9, atol=1e-9, equal_nan=True)
    for k in (0, 3, 7):  # a Python int n, float32 input: float32 out
        x32 = XS.astype(np.float32)
        mine = getattr(tg.special, name)(tensor_on(x32, device), k)
        assert mine.dtype == np.float32
        close_to_torch(mine, getattr(torch.special, name)(torch.tensor(x32), k), rtol=2e-5,
                       atol=2e-5)


def test_polynomial_integer_n_tensor_and_no_history(device):
    torch = torch_oracle()
    x = tensor_on(np.array([0.3, -1.7], np.float32), device, requires_grad=True)
    n = tensor_on(np.array([[2], [5]], np.int64), device)
    y = tg.special.chebyshev_polynomial_t(x, n)
    ref = torch.special.chebyshev_polynomial_t(torch.tensor([0.3, -1.7]), torch.tensor([[2],
                                                                                        [5]]))
    assert y.dtype == np.float32 and not y.requires_grad and y.grad_fn is None
    close_to_torch(y, ref, rtol=1e-6)
    # a Python number as input, a tensor as n (PyTorch takes either)
    z = tg.special.legendre_polynomial_p(0.5, tensor_on(np.array([3.0]), device))
    close_to_torch(z, torch.special.legendre_polynomial_p(0.5, torch.tensor([3.0])))


def test_polynomial_bad_input(device):
    with pytest.raises(TypeError, match="hermite_polynomial_h.*complex"):
        tg.special.hermite_polynomial_h(tensor_on(np.array([1j]), device), 2)
    with pytest.raises(TypeError, match="laguerre_polynomial_l.*n must be"):
        tg.special.laguerre_polynomial_l(tensor_on(np.array([1.0]), device), "2")
    with pytest.raises(TypeError, match="both be numbers"):
        tg.special.legendre_polynomial_p(0.5, 2)


# ---- airy_ai, scaled_modified_bessel_k0/k1, spherical_bessel_j0 ------------------------------
def test_airy_ai_values(device):
    torch = torch_oracle()
    from scipy import special as sp

    x = np.linspace(-8.0, 8.0, 41)
    ours = tg.special.airy_ai(tensor_on(x, device))
    assert on(ours, device)
    np.testing.assert_allclose(host(ours), sp.airy(x)[0], rtol=1e-13, atol=1e-15)
    # PyTorch's own kernel is less accurate near the zeros of Ai (about 2e-7 absolute)
    close_to_torch(ours, torch.special.airy_ai(torch.tensor(x)), rtol=1e-5, atol=1e-6)
    x32 = tg.special.airy_ai(tensor_on(x.astype(np.float32), device))
    assert x32.dtype == np.float32


def test_airy_ai_derivatives(device):
    from scipy import special as sp

    x = np.array([-3.0, -0.5, 0.0, 1.2, 2.5])
    tg.check_grads(tg.special.airy_ai, modes=("fwd", "rev"), order=2)(put(x, device))
    t = tensor_on(x, device, requires_grad=True)
    tg.special.airy_ai(t).sum().backward()
    np.testing.assert_allclose(host(t.grad), sp.airy(x)[1], rtol=1e-12)


@pytest.mark.parametrize("name,fn", [("scaled_modified_bessel_k0", "k0e"),
                                     ("scaled_modified_bessel_k1", "k1e")])
def test_scaled_modified_bessel_k(device, name, fn):
    torch = torch_oracle()
    from scipy import special as sp

    x = np.array([0.05, 0.5, 1.0, 3.0, 10.0, 80.0])
    ours = getattr(tg.special, name)(tensor_on(x, device))
    assert on(ours, device)
    close_to_torch(ours, getattr(torch.special, name)(torch.tensor(x)), rtol=1e-12)
    tg.check_grads(getattr(tg.special, name), modes=("fwd", "rev"), order=2)(put(x, device))
    # the derivative formula against a central difference of SciPy's function itself
    t = tensor_on(x, device, requires_grad=True)
    getattr(tg.special, name)(t).sum().backward()
    h = 1e-6 * x
    fd = (getattr(sp, fn)(x + h) - getattr(sp, fn)(x - h)) / (2 * h)
    np.testing.assert_allclose(host(t.grad), fd, rtol=1e-6)


def test_spherical_bessel_j0_exists_and_matches(device):
    torch = torch_oracle()
    x = np.array([-4.0, -0.1, 0.0, 1e-9, 0.5, 7.0])
    close_to_torch(tg.special.spherical_bessel_j0(tensor_on(x, device)),
                   torch.special.spherical_bessel_j0(torch.tensor(x)), rtol=1e-12, atol=1e-15)
    tg.check_grads(tg.special.spherical_bessel_j0, modes=("fwd", "rev"), order=2)(
        put(np.array([-2.0, 0.3, 1.5]), device))


def test_special_names_cover_torch():
    torch = torch_oracle()
    missing = [n for n in dir(torch.special) if not n.startswith("_") and
               callable(getattr(torch.special, n)) and not hasattr(tg.special, n)]
    assert missing == [], missing
    for n in ("householder_product", "ldl_factor", "ldl_factor_ex", "ldl_solve"):
        assert n in tg.linalg.__all__ and hasattr(torch.linalg, n)
    for n in ("geqrf", "orgqr", "ormqr"):
        assert n in tg.__all__ and hasattr(tg.Tensor, n)
