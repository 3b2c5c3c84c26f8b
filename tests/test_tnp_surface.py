"""The differentiable NumPy surface of tensorgrad.numpy beyond the core op table: each function
on real and (where NumPy defines it) complex inputs, with broadcasting and size-1 axes. Every
row: the value equals NumPy's, and tg.check_grads passes in both modes to second order, on every
device."""

import warnings

import numpy as onp
import pytest
from devices import host, on, put

import tensorgrad as tg
import tensorgrad.numpy as np
from tensorgrad.backend.device import xp_of


def _numpy_crosses_2_vectors():
    """NumPy before 2.5 takes 2-element vectors in cross (the z component); 2.5 refuses."""
    try:
        np.cross(np.ones(2), np.ones(3))
    except ValueError:
        return False
    return True


_NUMPY_CROSSES_2_VECTORS = _numpy_crosses_2_vectors()


def _real(*shapes):
    return lambda rng: [rng.standard_normal(s) for s in shapes]


def _cplx(*shapes):
    return lambda rng: [rng.standard_normal(s) + 1j * rng.standard_normal(s) for s in shapes]


def _distinct(*shapes):  # no ties (sort, partition, median, ptp)
    def gen(rng):
        out = []
        for s in shapes:
            n = int(onp.prod(s))
            out.append(((rng.permutation(n) - n / 2) * 0.5 + rng.uniform(-0.1, 0.1, n))
                       .reshape(s))
        return out

    return gen


def _like(values, x):
    """A constant array on x's device (x: a Tensor or an array)."""
    return xp_of(x.data if isinstance(x, tg.Tensor) else x).asarray(values)


def _fmod_inputs(rng):  # x / y at least 0.15 from an integer: away from fmod's jumps
    y = rng.uniform(0.6, 1.4, (1, 4)) * onp.where(rng.random((1, 4)) < 0.5, -1, 1)
    q = rng.integers(-3, 3, (3, 4)) + rng.uniform(0.15, 0.85, (3, 4))
    return [q * y, y]


# (id, function, inputs)
CASES = [
    # the derivatives fixed in issue 7
    ("abs_complex", lambda z: np.abs(z) * np.absolute(z * (1 - 2j)), _cplx((3, 1), (1,))[:1]
     if False else _cplx((3, 2))),
    ("real_complex", lambda z: np.real(z) * (2 - 1j) + np.real(z * z), _cplx((2, 3))),
    ("imag_complex", lambda z: np.imag(z) * (1 + 3j) + np.imag(z * z), _cplx((2, 3))),
    ("std_ax1", lambda x: np.std(x, axis=1, keepdims=True), _real((3, 4))),
    ("std_complex", lambda z: np.std(z, axis=0), _cplx((4, 2))),
    ("select", lambda x: np.select([x > 0.5, x < -0.5], [x * 2, x ** 2], default=x * 0.1),
     _real((3, 4))),
    ("select_broadcast", lambda x, y: np.select([x > 0], [y], default=x), _real((3, 1), (4,))),
    ("r_", lambda x: np.r_[x, x * 2, 3.0, 0:2], _real((5,))),
    ("r_directive", lambda x: np.r_["0,2,0", x, x[:1]], _real((4,))),
    ("c_", lambda x, y: np.c_[x, y * 2], _real((3,), (3, 2))),
    ("append_2d_lists", lambda x: np.append([[1.0, 2.0, 3.0]], [x], axis=0), _real((3,))),
    ("append_flat", lambda x, y: np.append(x, y), _real((2, 3), (1,))),
    ("einsum_sublist", lambda a: np.einsum(a, [0, 1], [1, 0]), _real((3, 4))),
    ("einsum_sublist_two", lambda a, b: np.einsum(a, [0, 1], b, [1, 2], [0, 2]),
     _real((3, 4), (4, 2))),
    ("einsum_sublist_ellipsis", lambda a, b: np.einsum(a, [Ellipsis, 0], b, [0]),
     _real((2, 3, 4), (4,))),
    ("einsum_three", lambda a, b, c: np.einsum("ij,jk,kl->il", a, b, c),
     _real((2, 3), (3, 4), (4, 2))),
    ("einsum_three_complex", lambda a, b, c: np.einsum("ij,kj,i->k", a, b, c),
     _cplx((2, 3), (4, 3), (2,))),
    ("pow_zero_exponent", lambda x: x ** 0.0 + np.power(x, 0.0) * x,
     lambda rng: [onp.array([0.0, 1.5, -0.7])]),
    # functions that had no derivative
    ("angle", lambda z: np.angle(z), _cplx((2, 3))),
    ("angle_deg", lambda z: np.angle(z * 2, deg=True), _cplx((3,))),
    ("fmax", lambda x, y: np.fmax(x, y), _distinct((3, 1), (1, 4))),
    ("fmin", lambda x, y: np.fmin(x, y) * x, _distinct((3, 4), (4,))),
    ("array_split", lambda x: np.array_split(x, 3, axis=1)[0] * 2, _real((2, 5))),
    ("array_split_idx", lambda x: np.array_split(x, [1, 3])[2], _real((5, 2))),
    ("vsplit", lambda x: np.vsplit(x, 2)[1], _real((4, 3))),
    ("hsplit", lambda x: np.hsplit(x, [1])[1], _real((2, 3))),
    ("hsplit_1d", lambda x: np.hsplit(x, 2)[0], _real((4,))),
    ("dsplit", lambda x: np.dsplit(x, 2)[1], _real((2, 1, 4))),
    ("rollaxis", lambda x: np.rollaxis(x, 2), _real((2, 3, 4))),
    ("rollaxis_start", lambda x: np.rollaxis(x, 0, 3), _real((2, 3, 4))),
    ("cross", lambda a, b: np.cross(a, b), _real((2, 3), (1, 3))),
    ("cross_complex", lambda a, b: np.cross(a, b), _cplx((3,), (2, 3))),
    ("cross_axes", lambda a, b: np.cross(a, b, axisa=0, axisb=0, axisc=0), _real((3, 2), (3, 2))),
    *([("cross_2x3", lambda a, b: np.cross(a, b), _real((2,), (2, 3)))]
      if _NUMPY_CROSSES_2_VECTORS else []),
    ("kron", lambda a, b: np.kron(a, b), _real((2, 3), (1, 2))),
    ("kron_complex_mixed_ndim", lambda a, b: np.kron(a, b), _cplx((3,), (2, 2))),
    ("partition", lambda x: np.partition(x, 1, axis=0), _distinct((4, 3))),
    ("partition_flat", lambda x: np.partition(x, (0, 2), axis=None), _distinct((2, 3))),
    ("atleast_3d", lambda x, y, s: np.atleast_3d(x) * np.atleast_3d(y) + np.atleast_3d(s),
     _real((2, 3), (3,), ())),
    ("gradient", lambda x: np.gradient(x)[1] * np.gradient(x, 0.5, axis=0), _real((3, 4))),
    ("gradient_edge2", lambda x: np.gradient(x, 2.0, edge_order=2), _real((5,))),
    ("gradient_coords", lambda x: np.gradient(x, _like([0.0, 0.5, 2.0, 2.5], x), axis=-1,
                                              edge_order=2), _cplx((2, 4))),
    ("gradient_coords_edge1", lambda x: np.gradient(x, _like([0.0, 1.0, 1.5], x)),
     _real((3,))),
    ("nan_to_num", lambda x: np.nan_to_num(x), _real((2, 3))),
    ("nan_to_num_complex", lambda z: np.nan_to_num(z, nan=1.0), _cplx((3,))),
    ("rot90", lambda x: np.rot90(x) * np.rot90(x, -1)[::-1], _real((2, 3))),
    ("rot90_k2_axes", lambda x: np.rot90(x, 2, axes=(2, 0)), _real((2, 1, 3))),
    ("inner_scalar", lambda x, s: np.inner(x, s) + np.inner(s, x) + np.inner(x, 2.0),
     _real((2, 3), ())),
    ("dot_scalar", lambda x, s: np.dot(x, s) + np.dot(2.0, x) + np.dot(s, x), _real((3,), ())),
    ("dot_complex", lambda a, b: np.dot(a, b), _cplx((2, 3), (3,))),
    ("acos_atan2", lambda x, y: np.acos(np.tanh(x) * 0.5) + np.atan2(x, y) + np.pow(y * y, 0.5),
     _real((3,), (1,))),
    ("permute_dims", lambda x: np.permute_dims(x, (1, 2, 0)), _real((2, 3, 1))),
    ("matrix_transpose", lambda x: np.matrix_transpose(x), _real((2, 3, 1))),
    ("vecdot", lambda a, b: np.vecdot(a, b), _cplx((2, 3), (3,))),
    ("matvec_vecmat", lambda m, v: np.matvec(m, v) + np.vecmat(v, m.transpose(1, 0)),
     _real((3, 3), (3,))),
    ("float_power", lambda x: np.float_power(x * x + 0.5, 1.5), _real((3,))),
    ("fmod", lambda x, y: np.fmod(x, y), _fmod_inputs),
    ("modf", lambda x: np.modf(x * 3)[0], lambda rng: [rng.uniform(0.05, 0.3, (2, 3))]),
    ("copysign", lambda x, y: np.copysign(x, y), _distinct((2, 3), (3,))),
    ("ldexp", lambda x: np.ldexp(x, 3), _real((2, 2))),
    ("meshgrid", lambda x, y: np.meshgrid(x, y)[0] * np.meshgrid(x, y, indexing="ij")[1].T,
     _real((3,), (2,))),
    ("diagflat", lambda x: np.diagflat(x, -1), _real((2, 1))),
    ("compress", lambda x: np.compress([True, False, True], x, axis=1), _real((2, 3))),
    ("polyval", lambda p, x: np.polyval(p, x), _real((4,), (2, 3))),
    ("polyval_complex", lambda p, x: np.polyval(p, x), _cplx((3,), (2,))),
    ("median", lambda x: np.median(x, axis=1) + np.median(x), _distinct((3, 4))),
    ("median_odd_keep", lambda x: np.median(x, axis=0, keepdims=True), _distinct((3, 2))),
    ("nanmax_nanmin", lambda x: np.nanmax(x, axis=0) * np.nanmin(x), _distinct((3, 4))),
    ("nansum_nanmean_nanprod", lambda x: np.nansum(x, axis=1) + np.nanmean(x) * np.nanprod(x),
     _real((2, 3))),
    ("nancumsum", lambda x: np.nancumsum(x, axis=1), _real((2, 3))),
    ("convolve", lambda a, v: np.convolve(a, v), _real((5,), (3,))),
    ("convolve_same_swapped", lambda a, v: np.convolve(a, v, mode="same"), _real((2,), (5,))),
    ("convolve_valid_complex", lambda a, v: np.convolve(a, v, mode="valid"), _cplx((4,), (2,))),
    ("correlate", lambda a, v: np.correlate(a, v, "full"), _cplx((4,), (2,))),
    ("correlate_swapped", lambda a, v: np.correlate(a, v, "same"), _cplx((2,), (4,))),
    ("average_weights", lambda x, w: np.average(x, axis=1, weights=w), _real((2, 3), (3,))),
    ("average_plain", lambda x: np.average(x, axis=0), _real((2, 3))),
    ("ptp", lambda x: np.ptp(x, axis=1), _distinct((3, 4))),
    ("cumulative_sum", lambda x: np.cumulative_sum(x, axis=0, include_initial=True),
     _real((2, 3))),
    ("ediff1d", lambda x, y: np.ediff1d(x, to_begin=y), _real((2, 2), (1,))),
    ("dstack", lambda x, y: np.dstack([x, y]), _real((2, 3), (2, 3))),
    ("unstack", lambda x: np.unstack(x, axis=1)[1], _real((2, 3))),
    ("broadcast_arrays", lambda x, y: np.broadcast_arrays(x, y)[0] * y, _real((3, 1), (4,))),
    ("real_if_close", lambda x: np.real_if_close(x + 0j) * x, _real((3,))),
    ("astype_complex", lambda x: np.astype(x, np.complex128) * (1 + 1j), _real((3,))),
    ("positive_concat", lambda x, y: np.positive(np.concat([x, y])), _real((2,), (3,))),
]
IDS = [c[0] for c in CASES]
assert len(set(IDS)) == len(IDS)


def _call(fn, xs):
    with warnings.catch_warnings():
        # NumPy's own cross of 2-vectors warns (deprecated in NumPy 2); ours does not
        warnings.filterwarnings("ignore", "Arrays of 2-dimensional vectors",
                                DeprecationWarning)
        return fn(*xs)


def _first(out):
    return out[0] if isinstance(out, tuple) else out


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_value_matches_numpy(case, rng, device):
    _, fn, gen = case
    xs = gen(rng)
    want = _call(fn, xs)  # NumPy arrays in: NumPy's own functions
    got = _first(_call(fn, [tg.tensor(x, device=device) for x in put(xs, device)]))
    assert isinstance(got, tg.Tensor) and on(got, device)
    onp.testing.assert_allclose(host(got), _first(want), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_check_grads_fwd_and_rev_to_second_order(case, rng, device):
    _, fn, gen = case
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no division by zero on the way
        tg.check_grads(lambda *xs: _first(_call(fn, xs)), modes=("fwd", "rev"),
                       order=2)(*put(gen(rng), device))


# ---- kinks and conventions -------------------------------------------------------------------
@pytest.mark.parametrize("values", [[2.0], [1.5, 1.5, 1.5]], ids=["one", "all_equal"])
def test_std_at_zero_spread_has_gradient_zero_without_warning(values, device):
    x = put(onp.array(values), device)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = tg.grad(lambda v: np.std(v))(x)
        _, t = tg.make_jvp(lambda v: np.std(v))(x)(put(onp.ones(len(values)), device))
        tt = tg.tensor(onp.array(values), device=device, requires_grad=True)
        tt.std(correction=0).backward()
    assert on(g, device)
    onp.testing.assert_array_equal(host(g), onp.zeros(len(values)))
    assert float(host(t)) == 0.0
    onp.testing.assert_array_equal(host(tt.grad), onp.zeros(len(values)))
    # central differences agree: std is symmetric about zero spread
    tg.check_grads(lambda v: np.std(v), modes=("fwd", "rev"), order=1)(x)


def test_std_matches_torch_at_zero_spread():
    torch = pytest.importorskip("torch")
    for values in ([2.0], [1.5, 1.5]):
        t = torch.tensor(values, dtype=torch.float64, requires_grad=True)
        t.std(correction=0).backward()
        ours = tg.grad(lambda v: np.std(v))(onp.array(values))
        onp.testing.assert_array_equal(ours, t.grad.numpy())


def test_pow_zero_exponent_at_zero_like_autograd(device):
    x = put(onp.array([0.0, 2.0]), device)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = tg.elementwise_grad(lambda v: v ** 0.0)(x)
        gf = tg.grad(lambda v: v ** 0.0)(0.0)
    onp.testing.assert_array_equal(host(g), [0.0, 0.0])
    assert gf == 0.0
    autograd = pytest.importorskip("autograd")
    assert autograd.grad(lambda v: v ** 0.0)(0.0) == gf


def test_abs_of_complex_follows_autograds_convention(device):
    # for real-valued f of z = x + iy, grad is df/dx - i df/dy; |z| gives conj(z) / |z|
    z = onp.array([0.3 + 0.7j, -1.1 + 0.2j, 0.0 + 0.0j])
    w = put(onp.array([1.0, -2.0, 1.0]), device)
    g = tg.grad(lambda v: np.sum(np.abs(v) * w))(put(z, device))
    want = onp.array([1.0, -2.0, 0.0]) * onp.where(z == 0, 0, z.conj() / onp.where(z == 0, 1,
                                                                                  abs(z)))
    onp.testing.assert_allclose(host(g), want, rtol=1e-12)
    h = 1e-6  # central differences of the real and imaginary parts
    f = lambda v: onp.sum(onp.abs(v) * onp.array([1.0, -2.0, 1.0]))  # noqa: E731
    for k in range(2):
        e = onp.zeros(3, complex)
        e[k] = h
        fd = (f(z + e) - f(z - e)) / (2 * h) - 1j * (f(z + 1j * e) - f(z - 1j * e)) / (2 * h)
        assert abs(host(g)[k] - fd) < 1e-8
    autograd = pytest.importorskip("autograd")
    ag = autograd.grad(lambda v: autograd.numpy.sum(autograd.numpy.abs(v) *
                                                    onp.array([1.0, -2.0, 1.0])))(z)
    onp.testing.assert_allclose(host(g), ag, rtol=1e-12)


def test_real_imag_vjps_match_autograd():
    autograd = pytest.importorskip("autograd")
    anp = autograd.numpy
    z = onp.array([0.3 + 0.7j, -1.1 + 0.2j])
    g = onp.array([1.0, -2.0])
    for ours, theirs in [(np.real, anp.real), (np.imag, anp.imag), (np.abs, anp.abs),
                         (np.angle, anp.angle)]:
        mine = tg.make_vjp(ours)(z)[0](g)
        ref = autograd.make_vjp(theirs)(z)[0](g)
        onp.testing.assert_allclose(mine, ref, rtol=1e-12, err_msg=ours.__name__)


def test_fmax_fmin_send_the_gradient_past_nan(device):
    x = put(onp.array([onp.nan, 1.0, 2.0]), device)
    y = put(onp.array([0.5, onp.nan, 3.0]), device)
    gx, gy = tg.grad(lambda a, b: np.sum(np.fmax(a, b)), argnum=(0, 1))(x, y)
    onp.testing.assert_array_equal(host(gx), [0.0, 1.0, 0.0])
    onp.testing.assert_array_equal(host(gy), [1.0, 0.0, 1.0])


def test_nan_to_num_gives_no_gradient_at_replaced_values(device):
    x = put(onp.array([onp.nan, 1.0, onp.inf, -onp.inf]), device)
    g = tg.grad(lambda a: np.sum(np.nan_to_num(a, posinf=5.0, neginf=-5.0) * 3.0))(x)
    onp.testing.assert_array_equal(host(g), [0.0, 3.0, 0.0, 0.0])


# ---- derivatives are never dropped silently -----------------------------------------------
@pytest.mark.parametrize("call", [
    lambda t: np.lexsort([t, t]),
    lambda t: np.i0(t),  # (isclose, searchsorted: no derivative by nature, they take them)
    lambda t: np.nanpercentile([t], 50.0),
    lambda t: np.histogram(t, bins=[t[0] * 0 - 10, t[0] * 0 + 10]),
], ids=["list", "plain", "nested_list", "nested_in_list_kw"])
def test_passthrough_refuses_tensors_inside_lists(call, device):
    x = tg.tensor(onp.array([0.5, 1.5]), device=device, requires_grad=True)
    with pytest.raises(NotImplementedError, match="no derivative is defined"):
        call(x)


def test_passthrough_unwraps_tensors_inside_lists_without_derivative(device):
    x = tg.tensor(onp.array([0.5, 1.5, 0.5]), device=device)
    out = np.lexsort([x, x])
    assert isinstance(out, tg.Tensor) and on(out, device)
    onp.testing.assert_array_equal(host(out), [0, 2, 1])


# ---- out= on reductions ------------------------------------------------------------------
@pytest.mark.parametrize("name", ["sum", "mean", "prod", "max", "min", "var", "std", "nansum"])
def test_reduction_out_tensor_is_written_on_the_tape(name, device):
    x0 = onp.array([[0.5, 1.5, -2.0], [1.0, 0.25, 3.0]])
    x = tg.tensor(x0, device=device, requires_grad=True)
    out = tg.tensor(onp.zeros(3), device=device)
    r = getattr(np, name)(x, axis=0, out=out)
    assert r is out
    onp.testing.assert_allclose(host(out), getattr(onp, name)(x0, axis=0), rtol=1e-12)
    (out * put(onp.array([1.0, 2.0, 3.0]), device)).sum().backward()
    want = tg.grad(lambda v: np.sum(getattr(np, name)(v, axis=0) * onp.array([1.0, 2, 3])))(x0)
    onp.testing.assert_allclose(host(x.grad), want, rtol=1e-12)


def test_reduction_out_array_refuses_a_derivative(device):
    x = tg.tensor(onp.ones((2, 3)), device=device, requires_grad=True)
    buf = put(onp.zeros(3), device)
    with pytest.raises(TypeError, match=r"sum: out= is a .* cannot hold a derivative"):
        np.sum(x, axis=0, out=buf)
    with tg.no_grad():
        r = np.sum(x, axis=0, out=buf)
    assert r is buf
    onp.testing.assert_array_equal(host(buf), [2.0, 2.0, 2.0])


def test_reduction_out_with_arrays_is_numpys(device):
    a = put(onp.arange(6.0).reshape(2, 3), device)
    buf = put(onp.zeros(2), device)
    assert np.sum(a, axis=1, out=buf) is buf
    onp.testing.assert_array_equal(host(buf), [3.0, 12.0])


def test_einsum_sublist_on_arrays_is_numpys():
    a = onp.arange(6.0).reshape(2, 3)
    onp.testing.assert_array_equal(np.einsum(a, [0, 1], [1, 0]), a.T)
    with pytest.raises(ValueError, match="einsum: a sublist holds ints"):
        np.einsum(tg.tensor(a), [0, "x"])


# ---- the second batch ------------------------------------------------------------------------
def _wrapped_phase(rng):
    return [onp.cumsum(rng.uniform(0.5, 2.5, (2, 5)), axis=1) % (2 * onp.pi) - onp.pi + 0.01]


BATCH2 = [
    ("unwrap", lambda p: np.unwrap(p, axis=1), _wrapped_phase),
    ("divmod", lambda x, y: np.divmod(x, y)[1], _fmod_inputs),
    ("extract", lambda x: np.extract(_like([[True, False, True], [False, True, True]], x), x),
     _real((2, 3))),
    ("delete", lambda x: np.delete(x, [0, 2], axis=1) + np.delete(x, 1)[:2], _real((2, 3))),
    ("vander", lambda x: np.vander(x, 4) + np.vander(x, 4, increasing=True), _real((3,))),
    ("nanvar_nanstd", lambda x: np.nanvar(x, axis=0) + np.nanstd(x, axis=0, ddof=1),
     _real((3, 2))),
    ("cov", lambda x: np.cov(x), _real((2, 5))),
    ("cov_y_cols", lambda x, y: np.cov(x, y, rowvar=False, bias=True), _real((5, 2), (5,))),
    ("cov_complex", lambda x: np.cov(x), _cplx((2, 4))),
    ("corrcoef", lambda x: np.corrcoef(x), _real((3, 5))),
    ("polyadd_sub_mul", lambda a, b: np.polymul(np.polyadd(a, b), np.polysub(b, a)),
     _real((3,), (2,))),
    ("polyder_polyint", lambda p: np.polyder(p, 2) + np.polyint(p)[:2], _real((4,))),
    ("cumprod", lambda x: np.cumprod(x, axis=1), _real((2, 4))),
    ("cumprod_flat_complex", lambda x: np.cumprod(x), _cplx((2, 2))),
    ("cumprod_with_zero", lambda x: np.cumprod(x * _like([1.0, 0.0, 1.0, 1.0], x)),
     _real((4,))),
    ("cumulative_prod", lambda x: np.cumulative_prod(x, axis=0, include_initial=True),
     _real((3, 2))),
    ("nancumprod", lambda x: np.nancumprod(x, axis=0), _real((3, 2))),
    ("quantile", lambda x: np.quantile(x, 0.3, axis=1), _distinct((2, 5))),
    ("quantile_many_keep", lambda x: np.quantile(x, [0.25, 0.9], axis=0, keepdims=True),
     _distinct((4, 3))),
    ("percentile_flat", lambda x: np.percentile(x, 40.0), _distinct((2, 3))),
    ("interp", lambda x, f: np.interp(x, _like([-1.0, 0.0, 0.5, 1.0], f), f),
     lambda rng: [rng.uniform(-0.9, 0.9, (5,)) + 0.013, rng.standard_normal(4)]),
    ("interp_outside", lambda f: np.interp(_like([-3.0, 0.2, 4.0], f), _like([0.0, 1.0], f), f,
                                           left=0.5), _real((2,))),
    ("trim_zeros", lambda x: np.trim_zeros(x * _like([0.0, 1, 1, 0], x)), _real((4,))),
    ("sort_complex", lambda z: np.sort_complex(z), _cplx((4,))),
    ("resize", lambda x: np.resize(x, (3, 3)), _real((2, 2))),
    ("choose", lambda a, b: np.choose(_like([[0, 1, 1], [1, 0, 0]], a), [a, b]),
     _real((2, 3), (3,))),
    ("block", lambda a, b: np.block([[a, b], [b, a]]), _real((2, 2), (2, 2))),
]
BATCH2_IDS = [c[0] for c in BATCH2]


@pytest.mark.parametrize("case", BATCH2, ids=BATCH2_IDS)
def test_value_matches_numpy_batch2(case, rng, device):
    test_value_matches_numpy(case, rng, device)


@pytest.mark.parametrize("case", BATCH2, ids=BATCH2_IDS)
def test_check_grads_batch2(case, rng, device):
    test_check_grads_fwd_and_rev_to_second_order(case, rng, device)


@pytest.mark.parametrize("name", ["fix", "heaviside", "signbit", "sign", "floor"])
def test_zero_derivative_functions_cut_the_graph(name, device):
    # JAX gives these a derivative of 0; tensorgrad returns a tensor without history
    x0 = onp.array([-1.5, 0.0, 2.5])
    x = tg.tensor(x0, device=device, requires_grad=True)
    args = (x, 0.5) if name == "heaviside" else (x,)
    out = getattr(np, name)(*args)
    assert isinstance(out, tg.Tensor) and not out.requires_grad and on(out, device)
    want = getattr(onp, name)(*((x0, 0.5) if name == "heaviside" else (x0,)))
    onp.testing.assert_array_equal(host(out), want)
