"""Still more of PyTorch's top level (tensorgrad/torch_surface2.py) against PyTorch: names and
parameters, values and gradients on every device, second derivatives against finite
differences, the process-level switches, print options, tg.Size and clear errors."""

import inspect
import math

import numpy as np
import pytest
from devices import (
    against_torch,
    assert_takes_torchs_parameters,
    host,
    put,
    tensor_on,
    torch_oracle,
    torch_param_names,
)

import tensorgrad as tg

torch = torch_oracle()

_RNG = np.random.default_rng(23)


def A(*shape):
    return _RNG.standard_normal(shape)


# ---- the names -----------------------------------------------------------------------------
FUNCTIONS = (
    "cummax cummin quantile nanquantile nanmedian median mode trapezoid trapz "
    "cumulative_trapezoid cartesian_prod combinations cosine_similarity pairwise_distance pdist "
    "copysign heaviside gcd lcm frexp ldexp complex polar view_as_real view_as_complex angle "
    "histogram cholesky_solve cholesky_inverse diagflat vander unravel_index result_type "
    "promote_types can_cast hsplit vsplit dsplit addr adjoint chain_matmul matrix_exp is_conj "
    "resolve_conj resolve_neg get_float32_matmul_precision set_float32_matmul_precision "
    "get_num_threads set_num_threads use_deterministic_algorithms "
    "are_deterministic_algorithms_enabled is_deterministic_algorithms_warn_only_enabled "
    "set_printoptions"
).split()
METHODS = ("cummax cummin quantile nanquantile nanmedian median mode copysign heaviside gcd lcm "
           "frexp ldexp histogram cholesky_solve cholesky_inverse diagflat angle hsplit vsplit "
           "dsplit addr adjoint matrix_exp is_conj resolve_conj resolve_neg").split()
_NOT_TAKEN = {"out", "layout", "memory_format", "pin_memory"}
# parameters of PyTorch's other overloads, which its docstring's first line does not show
_OVERLOADS = {"trapz": {"dx"}, "median": {"dim", "keepdim"}, "nanmedian": {"dim", "keepdim"}}
# PyTorch's first docstring line for names whose signature inspect cannot read
_DOCUMENTED = {
    "get_num_threads": [], "are_deterministic_algorithms_enabled": [],
    "chain_matmul": ["*matrices"], "get_float32_matmul_precision": [],
    "set_float32_matmul_precision": ["precision"],
    "is_deterministic_algorithms_warn_only_enabled": [],
}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_exists_in_both_with_pytorchs_parameters(name):
    ours, theirs = getattr(tg, name), getattr(torch, name)
    assert name in tg.__all__
    want = _DOCUMENTED[name] if name in _DOCUMENTED else torch_param_names(theirs)
    assert_takes_torchs_parameters(name, ours, want, _NOT_TAKEN, _OVERLOADS.get(name, ()))


@pytest.mark.parametrize("name", METHODS)
def test_tensor_methods_exist_in_both(name):
    assert callable(getattr(tg.Tensor, name)) and hasattr(torch.Tensor, name)


def test_size_is_a_tuple_like_pytorchs():
    assert hasattr(torch, "Size")
    s = tg.Size([2, 3, 4])
    assert isinstance(s, tuple) and s == (2, 3, 4) and s == tuple(torch.Size([2, 3, 4]))
    assert s.numel() == torch.Size([2, 3, 4]).numel() == 24
    assert isinstance(s[1:], tg.Size) and s[1:] == (3, 4) and s[0] == 2
    assert tg.ones(2, 3).shape == tg.Size([2, 3])  # .shape stays a plain tuple that compares equal
    # x.size() is a Size, as PyTorch's: x.size().numel(), slices of it, one dimension an int
    x, tx = tg.ones(2, 3, 4), torch.ones(2, 3, 4)
    assert isinstance(x.size(), tg.Size) and x.size().numel() == tx.size().numel() == 24
    assert x.size()[1:].numel() == tx.size()[1:].numel() == 12
    assert x.size(1) == tx.size(1) == 3 and x.size(-1) == tx.size(-1) == 4
    assert type(x.size(0)) is int and repr(x.size()) == "tg.Size([2, 3, 4])"
    with pytest.raises(TypeError, match="Size"):
        tg.Size([2.5])


# ---- values and gradients against PyTorch ------------------------------------------------------
def _against_torch(device, fn_tg, fn_torch, arrays, grad_args=(), rtol=1e-10, atol=1e-12,
                   pick=lambda r: r):
    return against_torch(device, fn_tg, fn_torch, arrays, grad_args, rtol, atol, pick, _RNG)


@pytest.mark.parametrize("name", ["cummax", "cummin"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cummax_cummin_values_indices_and_gradients(device, name, dim):
    a = np.round(A(4, 5), 0)  # ties
    a[1, 2] = np.nan
    for k in (0, 1):
        _against_torch(device, lambda x: getattr(tg, name)(x, dim)[k],
                       lambda x: getattr(torch, name)(x, dim)[k], [a], (0,) if k == 0 else ())
    x = tensor_on(a, device)
    r = getattr(x, name)(dim)
    assert r._fields == ("values", "indices") and r.indices.dtype == tg.int64


def test_cummax_of_integers_and_edge_shapes(device):
    a = np.array([[3, 1, 4, 1, 5], [9, 2, 6, 5, 3]])
    r, t = tg.cummax(tensor_on(a, device), 1), torch.cummax(torch.tensor(a), 1)
    assert host(r.values).tolist() == t.values.tolist()
    assert host(r.indices).tolist() == t.indices.tolist()
    s = tg.cummin(tensor_on(np.array(2.5), device), 0)
    assert host(s.values).item() == 2.5 and host(s.indices).item() == 0


@pytest.mark.parametrize("name", ["quantile", "nanquantile"])
@pytest.mark.parametrize("interpolation", ["linear", "lower", "higher", "midpoint", "nearest"])
@pytest.mark.parametrize("dim,keepdim", [(None, False), (None, True), (0, False), (1, True),
                                         (-1, False)])
def test_quantile_matches_pytorch(device, name, interpolation, dim, keepdim):
    a = A(3, 6)
    if name == "nanquantile":
        a[0, 1] = a[2, 4] = np.nan
    qs = np.array([0.0, 0.25, 0.5, 0.9, 1.0])
    grad = (0,) if name == "quantile" else ()
    _against_torch(device, lambda x, q: getattr(tg, name)(x, q, dim, keepdim,
                                                          interpolation=interpolation),
                   lambda x, q: getattr(torch, name)(x, q, dim, keepdim,
                                                     interpolation=interpolation),
                   [a, qs], grad)
    _against_torch(device, lambda x: getattr(tg, name)(x, 0.3, dim, keepdim,
                                                       interpolation=interpolation),
                   lambda x: getattr(torch, name)(x, 0.3, dim, keepdim,
                                                  interpolation=interpolation), [a], grad)


def test_quantile_nan_rows(device):
    a = A(3, 4)
    a[1, 2] = np.nan
    a[2, :] = np.nan
    for name in ("quantile", "nanquantile"):
        out = getattr(tg, name)(tensor_on(a, device), 0.5, dim=1)
        ref = getattr(torch, name)(torch.tensor(a), 0.5, dim=1)
        np.testing.assert_allclose(host(out), ref.numpy())
    b = A(2, 5)
    b[0, 0] = np.nan
    _against_torch(device, lambda x: tg.nanquantile(x, 0.4, dim=1),
                   lambda x: torch.nanquantile(x, 0.4, dim=1), [b], (0,))


def test_nanmedian_and_median_with_dim(device):
    a = A(4, 5)
    a[0, 1] = a[2, 2] = a[2, 3] = np.nan
    a[3, :] = np.nan
    for dim, keepdim in ((1, False), (0, True)):
        r = tg.nanmedian(tensor_on(a, device), dim, keepdim)
        t = torch.nanmedian(torch.tensor(a), dim, keepdim)
        np.testing.assert_allclose(host(r.values), t.values.numpy())
        finite = ~np.isnan(t.values.numpy())
        assert (host(r.indices)[finite] == t.indices.numpy()[finite]).all()
    b = a.copy()
    b[3, :] = 1.0 + np.arange(5)
    _against_torch(device, lambda x: tg.nanmedian(x, 1).values,
                   lambda x: torch.nanmedian(x, 1).values, [b], (0,))
    _against_torch(device, lambda x: tg.nanmedian(x), lambda x: torch.nanmedian(x), [b], (0,))
    c = A(3, 5)
    r = tg.median(tensor_on(c, device), 1)
    t = torch.median(torch.tensor(c), 1)
    assert r._fields == ("values", "indices")
    assert host(r.indices).tolist() == t.indices.tolist()
    _against_torch(device, lambda x: tg.median(x, 0, True).values,
                   lambda x: torch.median(x, 0, True).values, [c], (0,))


def test_mode_matches_pytorch(device):
    a = np.array([[1.0, 2, 2, 1, 3], [4, 4, 5, 5, 5], [7, 6, 6, 7, 6], [0, 1, 2, 3, 4]])
    for dim, keepdim in ((1, False), (-1, True)):
        r = tg.mode(tensor_on(a, device), dim, keepdim)
        t = torch.mode(torch.tensor(a), dim, keepdim)
        assert host(r.values).tolist() == t.values.tolist()
        assert host(r.indices).tolist() == t.indices.tolist()
    ints = np.array([[3, 3, 1], [2, 1, 1]])
    r, t = tg.mode(tensor_on(ints, device), 0), torch.mode(torch.tensor(ints), 0)
    assert host(r.values).tolist() == t.values.tolist()
    assert host(r.indices).tolist() == t.indices.tolist()
    _against_torch(device, lambda x: tg.mode(x, 1).values, lambda x: torch.mode(x, 1).values,
                   [a], (0,))


@pytest.mark.parametrize("name", ["trapezoid", "trapz", "cumulative_trapezoid"])
def test_trapezoid_family(device, name):
    ours, theirs = getattr(tg, name), getattr(torch, name)
    y = A(3, 5)
    x1 = np.sort(A(5))
    xf = np.sort(A(3, 5), axis=1)
    _against_torch(device, lambda a: ours(a), lambda a: theirs(a), [y], (0,))
    _against_torch(device, lambda a: ours(a, dx=0.5, dim=0), lambda a: theirs(a, dx=0.5, dim=0),
                   [y], (0,))
    _against_torch(device, lambda a, b: ours(a, b), lambda a, b: theirs(a, b), [y, x1], (0, 1))
    _against_torch(device, lambda a, b: ours(a, b, dim=1), lambda a, b: theirs(a, b, dim=1),
                   [y, xf], (0, 1))
    _against_torch(device, lambda a, b: ours(a, b), lambda a, b: theirs(a, b),
                   [y, xf[:1]], (0, 1))  # x broadcasts


def test_cartesian_prod_and_combinations(device):
    a, b, c = A(3), A(2), A(2)
    _against_torch(device, lambda x, y, z: tg.cartesian_prod(x, y, z),
                   lambda x, y, z: torch.cartesian_prod(x, y, z), [a, b, c], (0, 1, 2))
    _against_torch(device, tg.cartesian_prod, torch.cartesian_prod, [a], (0,))
    for r in (1, 2, 3):
        for rep in (False, True):
            _against_torch(device, lambda x: tg.combinations(x, r, rep),
                           lambda x: torch.combinations(x, r, rep), [A(4)], (0,))
    assert tuple(tg.combinations(tensor_on(A(2), device), 3).shape) == tuple(
        torch.combinations(torch.tensor(A(2)), 3).shape)
    assert tuple(tg.combinations(tensor_on(A(2), device), 0).shape) == tuple(
        torch.combinations(torch.tensor(A(2)), 0).shape)


def test_distances_at_top_level(device):
    _against_torch(device, lambda a, b: tg.cosine_similarity(a, b),
                   lambda a, b: torch.cosine_similarity(a, b), [A(4, 3), A(4, 3)], (0, 1))
    _against_torch(device, lambda a, b: tg.cosine_similarity(a, b, dim=0),
                   lambda a, b: torch.cosine_similarity(a, b, dim=0), [A(4, 3), A(1, 3)], (0, 1))
    _against_torch(device, lambda a, b: tg.pairwise_distance(a, b, p=1.5),
                   lambda a, b: torch.pairwise_distance(a, b, p=1.5), [A(4, 3), A(4, 3)],
                   (0, 1))
    for p in (1, 2, 3.5, math.inf):
        _against_torch(device, lambda a: tg.pdist(a, p), lambda a: torch.pdist(a, p), [A(5, 3)],
                       (0,))
    same = np.array([[1.0, 2.0], [1.0, 2.0], [0.0, 0.0]])
    x = tensor_on(same, device, requires_grad=True)
    tg.pdist(x).sum().backward()
    assert np.isfinite(host(x.grad)).all()


def test_copysign_heaviside_gcd_lcm(device):
    a, b = A(6), A(6)
    a[0], b[1] = 0.0, -0.0
    _against_torch(device, tg.copysign, torch.copysign, [a, b], (0,))
    _against_torch(device, lambda x: tg.copysign(x, -2.0), lambda x: torch.copysign(x, -2.0),
                   [a], (0,))
    ints = np.array([-2, 0, 3])
    assert host(tg.copysign(tensor_on(ints, device), -1.0)).tolist() == torch.copysign(
        torch.tensor(ints), -1.0).tolist()
    for x, v in ((np.array([-1.5, 0.0, 2.0]), np.array([0.5])),
                 (np.array([-1, 0, 2]), np.array([7]))):
        out, ref = tg.heaviside(tensor_on(x, device), tensor_on(v, device)), torch.heaviside(
            torch.tensor(x), torch.tensor(v))
        assert host(out).tolist() == ref.tolist() and out.dtype == np.dtype(
            str(ref.dtype).removeprefix("torch."))
    i, j = np.array([12, -18, 0, 7]), np.array([8, 12, 5, 0])
    for name in ("gcd", "lcm"):
        out = getattr(tg, name)(tensor_on(i, device), tensor_on(j, device))
        assert host(out).tolist() == getattr(torch, name)(torch.tensor(i), torch.tensor(j)).tolist()
        assert host(getattr(tensor_on(i, device), name)(tensor_on(j, device))).tolist() == \
            host(out).tolist()


def test_frexp_ldexp(device):
    a = A(5) * 100
    a[0] = 0.0
    r, t = tg.frexp(tensor_on(a, device)), torch.frexp(torch.tensor(a))
    np.testing.assert_allclose(host(r.mantissa), t.mantissa.numpy())
    assert host(r.exponent).tolist() == t.exponent.tolist() and r.exponent.dtype == tg.int32
    _against_torch(device, lambda x: tg.frexp(x).mantissa, lambda x: torch.frexp(x).mantissa,
                   [a], (0,))
    e = np.array([-1.0, 0.0, 2.0, 3.0, 1.0])
    _against_torch(device, tg.ldexp, torch.ldexp, [A(5), e], (0, 1))
    assert host(tg.ldexp(tensor_on(np.array([1, 3]), device), tensor_on(np.array([2, 1]),
                                                                           device))).tolist() == \
        torch.ldexp(torch.tensor([1, 3]), torch.tensor([2, 1])).tolist()


def test_complex_polar_views_angle(device):
    re, im = A(2, 3), A(2, 3)
    out, ref = _against_torch(device, tg.complex, torch.complex, [re, im], (0, 1))
    assert out.dtype == tg.complex128
    assert tg.complex(tensor_on(re.astype(np.float32), device),
                      tensor_on(im.astype(np.float32), device)).dtype == tg.complex64
    _against_torch(device, tg.polar, torch.polar, [np.abs(re), im], (0, 1))
    _against_torch(device, tg.view_as_complex, torch.view_as_complex, [A(3, 2)], (0,))
    z = A(2, 3) + 1j * A(2, 3)
    _against_torch(device, tg.view_as_real, torch.view_as_real, [z], (0,))
    _against_torch(device, tg.angle, torch.angle, [A(5)])
    _against_torch(device, lambda x: tg.angle(x), lambda x: torch.angle(x), [z])
    # the real part of angle's gradient for complex input is PyTorch's convention-free part:
    # d angle / d re and d / d im through view_as_real
    _against_torch(device, lambda p: tg.angle(tg.view_as_complex(p)),
                   lambda p: torch.angle(torch.view_as_complex(p)), [A(4, 2)], (0,))


def test_histogram(device):
    a = A(50)
    w = np.abs(A(50))
    for kwargs in ({}, {"range": (-1.0, 1.0)}, {"density": True}):
        r = tg.histogram(tensor_on(a, device), 7, **kwargs)
        t = torch.histogram(torch.tensor(a), 7, **kwargs)
        assert r._fields == ("hist", "bin_edges")
        np.testing.assert_allclose(host(r.hist), t.hist.numpy(), rtol=1e-12)
        np.testing.assert_allclose(host(r.bin_edges), t.bin_edges.numpy(), rtol=1e-12)
    edges = np.array([-3.0, -0.5, 0.0, 2.0, 3.0])
    r = tg.histogram(tensor_on(a, device), tensor_on(edges, device),
                     weight=tensor_on(w, device))
    t = torch.histogram(torch.tensor(a), torch.tensor(edges), weight=torch.tensor(w))
    np.testing.assert_allclose(host(r.hist), t.hist.numpy(), rtol=1e-12)
    r = tensor_on(a.astype(np.float32), device).histogram(4)
    t = torch.tensor(a.astype(np.float32)).histogram(4)
    np.testing.assert_allclose(host(r.hist), t.hist.numpy())
    assert r.hist.dtype == tg.float32 and r.bin_edges.dtype == tg.float32


def _factor(n, batch=()):
    m = _RNG.standard_normal(batch + (n, n))
    spd = m @ np.swapaxes(m, -1, -2) + n * np.eye(n)
    return np.linalg.cholesky(spd)


@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_solve_and_inverse(device, upper):
    low = _factor(3, (2,))
    f = np.swapaxes(low, -1, -2) if upper else low
    b = A(2, 3, 2)
    _against_torch(device, lambda x, y: tg.cholesky_solve(x, y, upper),
                   lambda x, y: torch.cholesky_solve(x, y, upper), [b, f], (0, 1), rtol=1e-9)
    _against_torch(device, lambda x, y: x.cholesky_solve(y, upper),
                   lambda x, y: x.cholesky_solve(y, upper), [b[:1], f], (0, 1), rtol=1e-9)
    _against_torch(device, lambda y: tg.cholesky_inverse(y, upper),
                   lambda y: torch.cholesky_inverse(y, upper), [f[0]], (0,), rtol=1e-9)
    _against_torch(device, lambda y: y.cholesky_inverse(upper),
                   lambda y: y.cholesky_inverse(upper), [f], (0,), rtol=1e-9)


def test_diagflat_vander_unravel_index(device):
    for offset in (0, 1, -2):
        _against_torch(device, lambda x: tg.diagflat(x, offset),
                       lambda x: torch.diagflat(x, offset), [A(2, 2)], (0,))
    for n, inc in ((None, False), (4, True), (2, False)):
        # values only: PyTorch 2.13's vander backward fails (an in-place cumprod); its
        # gradients are checked against finite differences below
        _against_torch(device, lambda x: tg.vander(x, n, inc), lambda x: torch.vander(x, n, inc),
                       [A(3)])
    idx = np.array([0, 5, 11, 7, -1])
    ours = tg.unravel_index(tensor_on(idx, device), (3, 4))
    theirs = torch.unravel_index(torch.tensor(idx), (3, 4))
    assert [host(o).tolist() for o in ours] == [t.tolist() for t in theirs]


@pytest.mark.parametrize("name,shape,arg", [("hsplit", (4,), 2), ("hsplit", (2, 6), [1, 4]),
                                            ("vsplit", (4, 3), 2), ("dsplit", (2, 2, 4), [3])])
def test_hsplit_vsplit_dsplit(device, name, shape, arg):
    a = A(*shape)
    ours = getattr(tg, name)(tensor_on(a, device), arg)
    theirs = getattr(torch, name)(torch.tensor(a), arg)
    assert len(ours) == len(theirs)
    for o, t in zip(ours, theirs):
        np.testing.assert_array_equal(host(o), t.numpy())
    x = tensor_on(a, device, requires_grad=True)
    sum(p.sum() * (i + 1) for i, p in enumerate(getattr(x, name)(arg))).backward()
    tx = torch.tensor(a, requires_grad=True)
    sum(p.sum() * (i + 1) for i, p in enumerate(getattr(tx, name)(arg))).backward()
    np.testing.assert_array_equal(host(x.grad), tx.grad.numpy())
    with pytest.raises(ValueError, match=rf"{name}\(\): .*not divisible into 5"):
        getattr(tg, name)(tensor_on(a, device), 5)


@pytest.mark.filterwarnings("ignore:torch.chain_matmul is deprecated")
def test_addr_adjoint_chain_matmul_matrix_exp_and_flags(device):
    _against_torch(device, lambda i, u, v: tg.addr(i, u, v, beta=0.5, alpha=2.0),
                   lambda i, u, v: torch.addr(i, u, v, beta=0.5, alpha=2.0),
                   [A(3, 2), A(3), A(2)], (0, 1, 2))
    z = A(2, 3, 2) + 1j * A(2, 3, 2)
    _against_torch(device, tg.adjoint, torch.adjoint, [z], (0,))
    _against_torch(device, lambda a: a.adjoint(), lambda a: a.adjoint(), [A(3, 2)], (0,))
    _against_torch(device, tg.chain_matmul, torch.chain_matmul, [A(2, 3), A(3, 4), A(4, 2)],
                   (0, 1, 2))
    _against_torch(device, tg.matrix_exp, torch.matrix_exp, [A(3, 3) * 0.5], (0,), rtol=1e-9)
    x = tensor_on(z, device)
    assert tg.is_conj(x) is torch.is_conj(torch.tensor(z)) is False
    assert tg.resolve_conj(x) is x and tg.resolve_neg(x) is x and x.resolve_conj() is x
    assert tg.get_float32_matmul_precision() == torch.get_float32_matmul_precision()
    try:
        tg.set_float32_matmul_precision("high")
        assert tg.get_float32_matmul_precision() == "high"
    finally:
        tg.set_float32_matmul_precision("highest")
    with pytest.raises(ValueError, match="set_float32_matmul_precision"):
        tg.set_float32_matmul_precision("low")
    with pytest.raises(ValueError, match=r"addr\(\): vec1 and vec2 must be 1-D.*\(3, 2\)"):
        tg.addr(tensor_on(A(3, 2), device), tensor_on(A(3, 2), device), tensor_on(A(2), device))


def test_dtype_promotion_helpers():
    pairs = [(tg.float32, tg.int64), (tg.int8, tg.uint8), (tg.float32, tg.float64),
             (tg.bool, tg.int16), (tg.complex64, tg.float64)]
    for a, b in pairs:
        ta, tb = (getattr(torch, str(np.dtype(d))) if d != tg.bool else torch.bool for d in (a, b))
        assert tg.promote_types(a, b) == np.dtype(str(torch.promote_types(ta, tb))[6:])
        assert tg.can_cast(a, b) == torch.can_cast(ta, tb)
        assert tg.can_cast(b, a) == torch.can_cast(tb, ta)
    cases = [(np.ones(2, np.float32), 2.5), (np.ones(2, np.int32), 2.5), (np.ones(2, np.int32), 3),
             (np.ones(2, np.float32), 1j), (np.ones(2, np.int64), np.ones(2, np.float32)),
             (np.ones(2, np.bool_), 2), (np.ones(2, np.float64), np.ones(2, np.float32))]
    for x, y in cases:
        ours = tg.result_type(tg.tensor(x), tg.tensor(y) if isinstance(y, np.ndarray) else y)
        ref = torch.result_type(torch.tensor(x), torch.tensor(y) if isinstance(y, np.ndarray)
                                else y)
        assert ours == np.dtype(str(ref)[6:]), (x.dtype, y, ours, ref)


# ---- second derivatives against finite differences (float64) ------------------------------------
def _distinct(*shape):
    return _RNG.permutation(np.prod(shape)).reshape(shape) * 0.37 + _RNG.uniform(0, 0.1, shape)


SECOND_ORDER = [
    ("cummax", lambda a: tg.cummax(a, 1).values ** 2, [_distinct(3, 4)]),
    ("cummin", lambda a: tg.cummin(a, 0).values ** 2, [_distinct(3, 4)]),
    ("quantile", lambda a: tg.quantile(a, 0.3, dim=1) ** 2, [_distinct(3, 5)]),
    ("quantile_q", lambda a, q: tg.quantile(a, q, dim=0), [_distinct(3, 5), np.array([0.2, 0.7])]),
    ("nanquantile", lambda a: tg.nanquantile(a, 0.6) ** 2, [_distinct(7)]),
    ("nanmedian", lambda a: tg.nanmedian(a, 0).values ** 2, [_distinct(5, 2)]),
    # distinct values (any tie breaks under finite differences): the mode is the least
    ("mode", lambda a: tg.mode(a, 1).values ** 2, [_distinct(2, 3)]),
    ("trapezoid", lambda y, x: tg.trapezoid(y * y, x * x), [A(3, 4), np.sort(A(4))]),
    ("cumulative_trapezoid", lambda y, x: tg.cumulative_trapezoid(y * y, x * x, dim=0),
     [A(4, 2), A(4, 2)]),
    ("cartesian_prod", lambda a, b: tg.cartesian_prod(a, b) ** 2, [A(2), A(3)]),
    ("combinations", lambda a: tg.combinations(a, 2) ** 2, [A(4)]),
    ("cosine_similarity", lambda a, b: tg.cosine_similarity(a, b), [A(3, 2), A(3, 2)]),
    ("pdist", lambda a: tg.pdist(a), [A(4, 3)]),
    ("pdist_p3", lambda a: tg.pdist(a, 3), [A(4, 3)]),
    ("copysign", lambda a, b: tg.copysign(a * a, b), [A(4), A(4)]),
    ("frexp", lambda a: tg.frexp(a * 3).mantissa ** 2, [A(4)]),
    ("ldexp", lambda a, b: tg.ldexp(a, b) ** 2, [A(4), A(4)]),
    ("complex", lambda a, b: tg.view_as_real(tg.complex(a, b) ** 2), [A(3), A(3)]),
    ("polar", lambda a, b: tg.view_as_real(tg.polar(a, b)), [A(3), A(3)]),
    ("view_as_complex", lambda a: tg.view_as_real(tg.view_as_complex(a) ** 3), [A(3, 2)]),
    ("angle", lambda a: tg.angle(tg.view_as_complex(a)), [A(3, 2)]),
    ("cholesky_solve", lambda b, f: tg.cholesky_solve(b, f), [A(3, 2), _factor(3)]),
    ("cholesky_inverse_upper", lambda f: tg.cholesky_inverse(f, upper=True),
     [_factor(3).T.copy()]),
    ("diagflat", lambda a: tg.diagflat(a * a, 1), [A(3)]),
    ("vander", lambda a: tg.vander(a, 4), [A(3)]),
    ("addr", lambda i, u, v: tg.addr(i, u * u, v, alpha=0.5), [A(3, 2), A(3), A(2)]),
    ("chain_matmul", lambda a, b: tg.chain_matmul(a, b, a.T), [A(2, 3), A(3, 3)]),
]


@pytest.mark.parametrize("name,fn,arrays", SECOND_ORDER, ids=[s[0] for s in SECOND_ORDER])
def test_second_derivatives_match_finite_differences(device, name, fn, arrays):
    argnum = 0 if name == "quantile_q" else None  # q: PyTorch's quantile has no gradient in q
    tg.check_grads(fn, modes=("fwd", "rev"), order=2, argnum=argnum)(*put(arrays, device))


# ---- process-level switches and printing -------------------------------------------------------
def test_num_threads_round_trip():
    before = tg.get_num_threads()
    assert isinstance(before, int) and before >= 1
    try:
        tg.set_num_threads(1)
        assert tg.get_num_threads() == 1
    finally:
        tg.set_num_threads(before)
    assert tg.get_num_threads() == before
    with pytest.raises(ValueError, match=r"set_num_threads\(\).*0"):
        tg.set_num_threads(0)


def test_deterministic_flag_is_accepted_and_recorded():
    assert tg.are_deterministic_algorithms_enabled() is False
    try:
        tg.use_deterministic_algorithms(True, warn_only=True)
        assert tg.are_deterministic_algorithms_enabled() is True
        assert tg.is_deterministic_algorithms_warn_only_enabled() is True
    finally:
        tg.use_deterministic_algorithms(False)
    assert tg.are_deterministic_algorithms_enabled() is False
    with pytest.raises(TypeError, match="use_deterministic_algorithms"):
        tg.use_deterministic_algorithms("yes")


def test_set_printoptions_changes_repr_like_pytorch():
    x = tg.tensor([1.0 / 3, 2.0, 123.456])
    plain = repr(x)
    try:
        tg.set_printoptions(precision=2)
        assert repr(x) == "tensor([  0.33,   2.00, 123.46])"
        torch.set_printoptions(precision=2)
        assert "0.33" in repr(torch.tensor([1.0 / 3]))
        tg.set_printoptions(threshold=5, edgeitems=2)
        assert "..." in repr(tg.arange(100.0))
        assert "..." not in repr(tg.arange(3))
        tg.set_printoptions(sci_mode=True)
        assert "e-01" in repr(tg.tensor([1.0 / 3]))
        tg.set_printoptions(profile="full")
        assert "..." not in repr(tg.arange(2000))
    finally:
        tg.set_printoptions(profile="default")
        torch.set_printoptions(profile="default")
    assert repr(x) == plain


# ---- errors ----------------------------------------------------------------------------------
def test_errors_name_the_function_argument_and_shapes(device):
    x = tensor_on(A(2, 3), device)
    with pytest.raises(ValueError, match=r"quantile\(\): q values must be in the range"):
        tg.quantile(x, 1.5)
    with pytest.raises(TypeError, match=r"quantile\(\): q .*float32.*float64"):
        tg.quantile(x, tensor_on(np.array([0.5], np.float32), device))
    with pytest.raises(ValueError, match=r"quantile\(\): interpolation"):
        tg.quantile(x, 0.5, interpolation="cubic")
    with pytest.raises(TypeError, match=r"quantile\(\): input must be floating"):
        tg.quantile(tensor_on(np.arange(3), device), 0.5)
    with pytest.raises(ValueError, match=r"trapezoid\(\): x of shape \(4,\).*\(2, 3\)"):
        tg.trapezoid(x, tensor_on(A(4), device))
    with pytest.raises(ValueError, match=r"cartesian_prod\(\): expects 1-D.*\(2, 3\)"):
        tg.cartesian_prod(x)
    with pytest.raises(ValueError, match=r"combinations\(\): input must be 1-D.*\(2, 3\)"):
        tg.combinations(x)
    with pytest.raises(ValueError, match=r"pdist\(\): input must be 2-D.*\(3,\)"):
        tg.pdist(tensor_on(A(3), device))
    with pytest.raises(TypeError, match=r"gcd\(\): input and other must be integer.*float64"):
        tg.gcd(x, x)
    with pytest.raises(TypeError, match=r"complex\(\): real and imag.*float64 and int64"):
        tg.complex(x, tensor_on(np.ones((2, 3), np.int64), device))
    with pytest.raises(ValueError, match=r"view_as_complex\(\): .*size 2.*\(2, 3\)"):
        tg.view_as_complex(x)
    with pytest.raises(TypeError, match=r"view_as_real\(\): input must be complex"):
        tg.view_as_real(x)
    with pytest.raises(ValueError, match=r"histogram\(\): weight of shape \(3,\).*\(2, 3\)"):
        tg.histogram(x, 3, weight=tensor_on(A(3), device))
    with pytest.raises(ValueError, match=r"cholesky_solve\(\): B must be .*n = 3.*\(2, 2\)"):
        tg.cholesky_solve(tensor_on(A(2, 2), device), tensor_on(_factor(3), device))
    with pytest.raises(ValueError, match=r"cholesky_inverse\(\): L must be square.*\(2, 3\)"):
        tg.cholesky_inverse(x)
    with pytest.raises(IndexError, match="cummax"):
        tg.cummax(x, 2)
    with pytest.raises(TypeError, match=r"cummax\(\): argument 'input' must be a Tensor"):
        tg.cummax([1.0, 2.0], 0)
    with pytest.raises(ValueError, match=r"unravel_index\(\): indices out of range"):
        tg.unravel_index(tensor_on(np.array([12]), device), (3, 4))


def test_signatures_are_inspectable():
    for name in FUNCTIONS:
        inspect.signature(getattr(tg, name))
