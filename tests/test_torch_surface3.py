"""PyTorch's top level and Tensor methods, third pass (tensorgrad/torch_surface3.py) against
PyTorch: names and parameters, values and gradients on every device, second derivatives
against finite differences, in-place rules, storage queries and clear errors."""

import warnings

import numpy as np
import pytest
from devices import (
    against_torch,
    assert_takes_torchs_parameters,
    host,
    tensor_on,
    torch_oracle,
    torch_param_names,
)

import tensorgrad as tg

torch = torch_oracle()

_RNG = np.random.default_rng(31)


def A(*shape):
    return _RNG.standard_normal(shape)


def _vs(device, fn_tg, fn_torch, arrays, grad_args=(), **kw):
    return against_torch(device, fn_tg, fn_torch, arrays, grad_args, rng=_RNG, **kw)


def _check2(f, *args):
    tg.check_grads(f, modes=("fwd", "rev"), order=2)(*args)


# ---- the names -----------------------------------------------------------------------------
FUNCTIONS = ("scatter_reduce index_reduce index_copy index_put masked_scatter put "
             "select_scatter slice_scatter diagonal_scatter renorm vdot unique_consecutive "
             "split_with_sizes rsub bitwise_left_shift bitwise_right_shift i0 igamma igammac "
             "mvlgamma nextafter lu_solve lu_unpack triangular_solve nuclear_norm "
             "frobenius_norm scalar_tensor frombuffer empty_strided empty_permuted fill detach "
             "is_same_size is_signed is_neg binomial poisson histogramdd gradient cond "
             "while_loop set_default_tensor_type typename is_storage set_warn_always "
             "is_warn_always_enabled set_deterministic_debug_mode get_deterministic_debug_mode "
             "set_num_interop_threads get_num_interop_threads is_anomaly_enabled "
             "set_anomaly_enabled abs_ exp_ sigmoid_ clamp_ zero_ fill_ index_put_ "
             "diagonal_copy permute_copy unfold_copy view_copy unsafe_split unsafe_chunk").split()
_NOT_TAKEN = {"out", "memory_format"}  # layout= and pin_memory= are taken (_layouts.py)
_OVERLOADS = {"nuclear_norm": {"dim", "keepdim"}, "frobenius_norm": {"dim", "keepdim"},
              "gradient": {"spacing", "dim", "edge_order"}, "rsub": {"alpha"},
              "fill": {"value"}, "fill_": {"value"}, "clamp_": {"min", "max"},
              "histogramdd": {"bins", "range", "weight", "density"},
              "diagonal_copy": {"offset", "dim1", "dim2"}, "unsafe_split": {"dim"},
              "set_anomaly_enabled": {"enabled", "check_nan"},
              "bitwise_left_shift": {"other"}, "bitwise_right_shift": {"other"},
              "igamma": {"other"}, "igammac": {"other"}, "nextafter": {"other"}}


# PyTorch's docstring gives types, not names, for these
_UNREADABLE = {"set_num_interop_threads"}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_exists_with_pytorchs_parameters(name):
    ours, theirs = getattr(tg, name), getattr(torch, name)
    try:
        want = torch_param_names(theirs)
    except (TypeError, ValueError, AttributeError):  # no signature and no docstring
        want = None
    if want and want != ["*args"] and name not in _UNREADABLE:
        assert_takes_torchs_parameters(name, ours, want, _NOT_TAKEN, _OVERLOADS.get(name, ()))
    assert callable(ours)


METHODS = ("scatter_reduce scatter_reduce_ index_reduce index_copy index_copy_ index_put "
           "index_put_ masked_scatter masked_scatter_ put put_ select_scatter slice_scatter "
           "diagonal_scatter renorm renorm_ unfold sum_to_size vdot unique_consecutive "
           "split_with_sizes i0 igamma igammac mvlgamma nextafter polygamma eq_ ne_ lt_ le_ "
           "gt_ ge_ logical_and_ logical_not_ bitwise_and_ copysign_ xlogy_ absolute_ "
           "multiply_ divide_ subtract_ cumsum_ cumprod_ addmm_ baddbmm_ addmv_ addr_ "
           "squeeze_ unsqueeze_ t_ transpose_ swapaxes_ stride storage_offset data_ptr "
           "is_contiguous dim_order is_nonzero is_set_to is_same_size is_signed new resize_ "
           "resize_as_ fill_diagonal_ apply_ map_ random_ exponential_ geometric_ cauchy_ "
           "log_normal_ bernoulli_ to_dense byte char short cfloat cdouble nbytes is_cpu "
           "is_sparse layout mH H retains_grad").split()


@pytest.mark.parametrize("name", METHODS)
def test_tensor_methods_exist_in_both(name):
    assert hasattr(tg.Tensor, name) and hasattr(torch.Tensor, name)


# ---- scatter family ------------------------------------------------------------------------
@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("dim", [0, 1])
def test_scatter_reduce_matches_pytorch(device, reduce, include_self, dim):
    # halves: ties among the values and with the input (which counts among the ties even
    # without include_self, as in PyTorch), no zeros
    x = np.round(A(4, 5), 0) + 0.5
    src = np.round(A(6, 5) if dim == 0 else A(4, 6), 0) + 0.5
    idx = _RNG.integers(0, x.shape[dim] - 1, size=src.shape)  # the last slot stays untouched
    _vs(device, lambda a, s: a.scatter_reduce(dim, tensor_on(idx, device), s, reduce,
                                              include_self=include_self),
        lambda a, s: a.scatter_reduce(dim, torch.tensor(idx), s, reduce,
                                      include_self=include_self), [x, src], (0, 1))


@pytest.mark.parametrize("zeros", [1, 2])
def test_scatter_reduce_prod_with_zeros_has_pytorchs_gradient(device, zeros):
    src = np.array([2.0, 0.0, 3.0, 0.0 if zeros == 2 else 5.0, 4.0])
    idx = np.array([0, 0, 0, 0, 1])
    _vs(device, lambda a, s: a.scatter_reduce(0, tensor_on(idx, device), s, "prod"),
        lambda a, s: a.scatter_reduce(0, torch.tensor(idx), s, "prod"),
        [np.array([1.5, 2.0, 3.0]), src], (0, 1))


def test_scatter_reduce_of_integers_and_second_derivatives(device):
    x = np.array([[1, 9], [4, 2]])
    s = np.array([[7, 3], [5, 8], [2, 2]])
    idx = np.array([[0, 1], [0, 0], [1, 1]])
    for reduce in ("sum", "prod", "mean", "amax", "amin"):
        ours = tg.scatter_reduce(tensor_on(x, device), 0, tensor_on(idx, device),
                                 tensor_on(s, device), reduce)
        ref = torch.scatter_reduce(torch.tensor(x), 0, torch.tensor(idx), torch.tensor(s),
                                   reduce)
        assert ours.dtype == tg.int64 and host(ours).tolist() == ref.tolist(), reduce
    i = tensor_on(np.array([0, 1, 0, 2]), device)
    for reduce in ("sum", "mean", "amax", "prod"):
        _check2(lambda a, b, r=reduce: tg.scatter_reduce(a, 0, i, b, r),
                tensor_on(A(3), device), tensor_on(A(4), device))


def test_scatter_reduce_bad_input(device):
    x = tensor_on(A(3), device)
    with pytest.raises(ValueError, match="scatter_reduce.*reduce"):
        x.scatter_reduce(0, tensor_on(np.array([0]), device), x[:1], "max")
    with pytest.raises(ValueError, match="scatter_reduce"):
        x.scatter_reduce(0, tensor_on(np.zeros((2, 2), int), device), x, "sum")


@pytest.mark.parametrize("reduce", ["prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_index_reduce_matches_pytorch(device, reduce, include_self):
    x, s = np.round(A(4, 3), 0) + 0.5, np.round(A(5, 3), 0) + 0.5
    idx = np.array([0, 2, 0, 1, 2])
    _vs(device, lambda a, b: a.index_reduce(0, tensor_on(idx, device), b, reduce,
                                            include_self=include_self),
        lambda a, b: a.index_reduce(0, torch.tensor(idx), b, reduce, include_self=include_self),
        [x, s], (0, 1))


def test_index_copy_index_put_masked_scatter_put_match_pytorch(device):
    idx = np.array([2, 0])
    _vs(device, lambda a, b: tg.index_copy(a, 1, tensor_on(idx, device), b),
        lambda a, b: torch.index_copy(a, 1, torch.tensor(idx), b), [A(3, 4), A(3, 2)], (0, 1))
    rows, cols = np.array([0, 2, 2]), np.array([1, 3, 0])
    for acc in (False, True):
        _vs(device, lambda a, v: tg.index_put(a, (tensor_on(rows, device),
                                                  tensor_on(cols, device)), v, acc),
            lambda a, v: torch.index_put(a, (torch.tensor(rows), torch.tensor(cols)), v, acc),
            [A(3, 4), A(3)], (0, 1))
    rep = np.array([1, 1, 0])  # repeated place, accumulated
    _vs(device, lambda a, v: tg.index_put(a, (tensor_on(rep, device),), v, True),
        lambda a, v: torch.index_put(a, (torch.tensor(rep),), v, True), [A(3, 2), A(3, 2)],
        (0, 1))
    mask = A(3, 4) > 0
    _vs(device, lambda a, s: tg.masked_scatter(a, tensor_on(mask, device), s),
        lambda a, s: torch.masked_scatter(a, torch.tensor(mask), s), [A(3, 4), A(13)], (0, 1))
    pos = np.array([5, -1, 0])
    for acc in (False, True):
        _vs(device, lambda a, s: tg.put(a, tensor_on(pos, device), s, acc),
            lambda a, s: torch.put(a, torch.tensor(pos), s, acc), [A(2, 4), A(3)], (0, 1))
    with pytest.raises(RuntimeError, match="masked_scatter.*selects"):
        tg.masked_scatter(tensor_on(A(3), device), tensor_on(np.ones(3, bool), device),
                          tensor_on(A(2), device))
    with pytest.raises(ValueError, match="index_copy.*source has shape"):
        tg.index_copy(tensor_on(A(3, 4), device), 1, tensor_on(idx, device),
                      tensor_on(A(3, 3), device))


def test_select_slice_diagonal_scatter_match_pytorch(device):
    _vs(device, lambda a, s: tg.select_scatter(a, s, 1, -1),
        lambda a, s: torch.select_scatter(a, s, 1, -1), [A(3, 4), A(3)], (0, 1))
    _vs(device, lambda a, s: tg.slice_scatter(a, s, 1, 1, None, 2),
        lambda a, s: torch.slice_scatter(a, s, 1, 1, None, 2), [A(3, 5), A(3, 2)], (0, 1))
    for offset, d1, d2, shape in [(0, 0, 1, (3, 4)), (1, 0, 1, (3, 4)), (-1, 1, 2, (2, 4, 3)),
                                  (0, 2, 0, (3, 2, 4))]:
        n = torch.zeros(shape).diagonal(offset, d1, d2).shape
        _vs(device, lambda a, s: tg.diagonal_scatter(a, s, offset, d1, d2),
            lambda a, s: torch.diagonal_scatter(a, s, offset, d1, d2), [A(*shape), A(*n)],
            (0, 1))
    with pytest.raises(ValueError, match="select_scatter.*src has shape"):
        tg.select_scatter(tensor_on(A(3, 4), device), tensor_on(A(4), device), 1, 0)
    x, s = tensor_on(A(3, 3), device), tensor_on(A(2), device)
    _check2(lambda a, b: tg.diagonal_scatter(a, b, 1), x, s)


# ---- reshaping and norms -------------------------------------------------------------------
@pytest.mark.parametrize("dim,size,step", [(0, 2, 1), (1, 3, 2), (-1, 5, 5), (1, 1, 3)])
def test_unfold_matches_pytorch(device, dim, size, step):
    _vs(device, lambda a: a.unfold(dim, size, step), lambda a: a.unfold(dim, size, step),
        [A(4, 5)], (0,))


def test_unfold_errors_and_second_derivatives(device):
    x = tensor_on(A(4, 5), device)
    with pytest.raises(RuntimeError, match="unfold.*size is 6"):
        x.unfold(1, 6, 1)
    with pytest.raises(RuntimeError, match="step"):
        x.unfold(1, 2, 0)
    _check2(lambda a: (tg.torch_surface3.unfold(a, 1, 3, 1) ** 2).sum(-1), x)


@pytest.mark.parametrize("p,dim", [(2, 0), (1, 1), (3.0, -1)])
def test_renorm_matches_pytorch(device, p, dim):
    a = A(3, 4) * 2
    _vs(device, lambda x: x.renorm(p, dim, 1.5), lambda x: x.renorm(p, dim, 1.5), [a], (0,))
    _check2(lambda x: tg.renorm(x, p, dim, 1.5), tensor_on(a, device))
    x = tensor_on(a, device)
    assert x.renorm_(p, dim, 1.5) is x


def test_sum_to_size_vdot_split_with_sizes_rsub_shifts(device):
    _vs(device, lambda a: a.sum_to_size(3, 1), lambda a: a.sum_to_size(3, 1), [A(2, 3, 4)], (0,))
    _vs(device, lambda a: a.sum_to_size((4,)), lambda a: a.sum_to_size((4,)), [A(2, 3, 4)], (0,))
    with pytest.raises(RuntimeError, match="sum_to_size.*not expandable"):
        tensor_on(A(2, 3), device).sum_to_size(4)
    c1, c2 = A(3) + 1j * A(3), A(3) + 1j * A(3)
    assert np.allclose(host(tg.vdot(tensor_on(c1, device), tensor_on(c2, device))),
                       torch.vdot(torch.tensor(c1), torch.tensor(c2)).numpy())
    _vs(device, lambda a, b: tg.vdot(a, b), lambda a, b: torch.vdot(a, b), [A(4), A(4)], (0, 1))
    x = tensor_on(A(6, 2), device)
    parts = tg.split_with_sizes(x, [1, 2, 3])
    assert [tuple(p.shape) for p in parts] == [(1, 2), (2, 2), (3, 2)]
    with pytest.raises(RuntimeError, match="split_with_sizes.*sum"):
        tg.split_with_sizes(x, [1, 2])
    _vs(device, lambda a: tg.rsub(a, 2.0, alpha=3), lambda a: torch.rsub(a, 2.0, alpha=3), [A(3)],
        (0,))
    ints = np.array([1, -8, 5])
    for name in ("bitwise_left_shift", "bitwise_right_shift"):
        assert host(getattr(tg, name)(tensor_on(ints, device), 2)).tolist() == \
            getattr(torch, name)(torch.tensor(ints), 2).tolist()


@pytest.mark.parametrize("dim", [None, 0, 1])
def test_unique_consecutive_matches_pytorch(device, dim):
    a = np.array([[1, 1, 2], [1, 1, 2], [3, 1, 1], [3, 1, 1], [1, 1, 2]])
    ours = tg.unique_consecutive(tensor_on(a, device), True, True, dim)
    theirs = torch.unique_consecutive(torch.tensor(a), True, True, dim)
    for o, t in zip(ours, theirs):
        assert host(o).tolist() == t.tolist()
    assert host(tensor_on(a, device).unique_consecutive()).tolist() == \
        torch.tensor(a).unique_consecutive().tolist()


# ---- special functions and old linear algebra ----------------------------------------------
def test_special_functions_match_pytorch(device):
    a, b = np.abs(A(5)) + 0.5, np.abs(A(5)) + 0.1
    _vs(device, lambda x: tg.i0(x), lambda x: torch.i0(x), [A(5)], (0,))
    _vs(device, lambda x, y: tg.igamma(x, y), lambda x, y: torch.igamma(x, y), [a, b], (1,))
    _vs(device, lambda x, y: tg.igammac(x, y), lambda x, y: torch.igammac(x, y), [a, b], (1,))
    _vs(device, lambda x: tg.mvlgamma(x, 3), lambda x: torch.mvlgamma(x, 3), [a + 1.5], (0,))
    _vs(device, lambda x: x.polygamma(2), lambda x: x.polygamma(2), [a], (0,))
    _vs(device, lambda x, y: tg.nextafter(x, y), lambda x, y: torch.nextafter(x, y), [a, b],
        rtol=0, atol=0)
    with pytest.raises(RuntimeError, match="mvlgamma.*greater than"):
        tg.mvlgamma(tensor_on(np.array([0.5]), device), 3)


def test_lu_lu_solve_lu_unpack_triangular_solve_match_pytorch(device):
    a, b = A(2, 4, 4), A(2, 4, 3)
    LU, piv = tg.lu(tensor_on(a, device))
    tLU, tpiv = torch.linalg.lu_factor(torch.tensor(a))
    assert np.allclose(host(LU), tLU.numpy()) and host(piv).tolist() == tpiv.tolist()
    P, L, U = tg.lu_unpack(LU, piv)
    tP, tL, tU = torch.lu_unpack(tLU, tpiv)
    for o, t in ((P, tP), (L, tL), (U, tU)):
        assert np.allclose(host(o), t.numpy())
    assert np.allclose(host(P @ L @ U), a)
    _vs(device, lambda m, r: tg.lu_solve(r, *tg.lu(m)),
        lambda m, r: torch.linalg.lu_solve(*torch.linalg.lu_factor(m), r), [a, b], (0, 1),
        rtol=1e-8, atol=1e-10)
    assert len(tg.lu(tensor_on(a, device), get_infos=True)) == 3
    tri = np.triu(A(4, 4)) + 4 * np.eye(4)
    for upper, transpose, unit in [(True, False, False), (True, True, False),
                                   (False, False, True)]:
        m = tri if upper else tri.T
        _vs(device, lambda r, t: tg.triangular_solve(r, t, upper, transpose, unit).solution,
            lambda r, t: torch.triangular_solve(r, t, upper, transpose, unit).solution,
            [A(4, 2), m], (0, 1), rtol=1e-9, atol=1e-11)
    r = tg.triangular_solve(tensor_on(A(4, 2), device), tensor_on(tri, device))
    assert r._fields == ("solution", "cloned_coefficient")
    _vs(device, lambda x: tg.nuclear_norm(x), lambda x: torch.nuclear_norm(x), [A(3, 4)], (0,),
        rtol=1e-9)
    _vs(device, lambda x: tg.frobenius_norm(x, (0, 1)), lambda x: torch.frobenius_norm(x, (0, 1)),
        [A(3, 4)], (0,))


# ---- creation and numerics -----------------------------------------------------------------
def test_creation_functions_match_pytorch(device):
    with pytest.warns(UserWarning, match="deprecated"):
        r = tg.range(1, 2.5, 0.5, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert host(r).tolist() == torch.range(1, 2.5, 0.5).tolist()
    s = tg.scalar_tensor(3, device=device)
    assert s.shape == () and s.dtype == tg.float32 and host(s).item() == 3.0
    buf = bytearray(np.arange(4, dtype=np.float32).tobytes())
    f = tg.frombuffer(buf, dtype=tg.float32)
    f[0] = 9.0  # shares the buffer, as PyTorch's
    assert np.frombuffer(buf, np.float32)[0] == 9.0
    e = tg.empty_strided((2, 3), (3, 1), device=device)
    assert e.shape == (2, 3)
    with pytest.raises(RuntimeError, match="empty_strided.*strides"):
        tg.empty_strided((2, 3), (1,))
    assert tg.empty_permuted((2, 3, 4), (0, 2, 1), device=device).shape == (2, 3, 4)
    x = tensor_on(A(2, 3), device)
    assert host(tg.fill(x, 2.5)).tolist() == [[2.5] * 3] * 2
    v = tensor_on(np.array(1.5), device, requires_grad=True)
    tg.fill(x, v).sum().backward()
    assert host(v.grad).item() == 6.0
    assert tg.is_same_size(x, x * 2) and not tg.is_same_size(x, x.T)
    assert tg.is_signed(x) and not tg.is_signed(tensor_on(np.array([1], np.uint8), device))
    assert not tg.is_neg(x)
    assert not tg.detach(tensor_on(A(2), device, requires_grad=True)).requires_grad


@pytest.mark.parametrize("edge_order", [1, 2])
def test_gradient_matches_pytorch(device, edge_order):
    for dim, spacing in [(None, 1), (1, 0.5), ([0, 1], [2.0, 0.25])]:
        kw = {"spacing": spacing, "edge_order": edge_order}
        if dim is not None:
            kw["dim"] = dim
        ours = tg.gradient(tensor_on(A(4, 5), device), **kw)
        a = A(4, 5)
        ours = tg.gradient(tensor_on(a, device), **kw)
        theirs = torch.gradient(torch.tensor(a), **kw)
        assert len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            assert np.allclose(host(o), t.numpy())
    _check2(lambda x: tg.gradient(x, edge_order=edge_order)[0], tensor_on(A(5), device))


def test_histogramdd_binomial_poisson(device):
    pts = A(200, 2)
    h, edges = tg.histogramdd(tensor_on(pts, device), bins=[3, 4])
    th, tedges = torch.histogramdd(torch.tensor(pts), bins=[3, 4])
    assert np.allclose(host(h), th.numpy())
    assert all(np.allclose(host(e), t.numpy()) for e, t in zip(edges, tedges))
    count = tensor_on(np.full(4000, 10.0), device)
    b = tg.binomial(count, tensor_on(np.full(4000, 0.3), device))
    hb = host(b)
    assert hb.min() >= 0 and hb.max() <= 10 and abs(hb.mean() - 3.0) < 0.15
    p = host(tg.poisson(tensor_on(np.full(4000, 2.0), device)))
    assert abs(p.mean() - 2.0) < 0.15 and abs(p.var() - 2.0) < 0.3


# ---- in-place variants ---------------------------------------------------------------------
@pytest.mark.parametrize("name,other", [("eq_", 0.5), ("lt_", 0.0), ("ge_", 0.0),
                                        ("logical_not_", None), ("copysign_", -1.0),
                                        ("xlogy_", 2.0), ("absolute_", None),
                                        ("arctan_", None), ("multiply_", 3.0),
                                        ("divide_", 4.0), ("sinc_", None), ("deg2rad_", None)])
def test_inplace_methods_match_pytorch(device, name, other):
    a = np.round(A(3, 4), 1)
    if name == "eq_":
        a[0, 0] = 0.5
    x, t = tensor_on(a, device), torch.tensor(a)
    args = () if other is None else (other,)
    r = getattr(x, name)(*args)
    getattr(t, name)(*args)
    assert r is x and x.dtype == tg.float64
    assert np.allclose(host(x), t.numpy())


def test_inplace_linear_algebra_and_cumulative(device):
    for name, shapes in [("addmm_", [(3, 4), (3, 2), (2, 4)]), ("addmv_", [(3,), (3, 2), (2,)]),
                         ("addr_", [(3, 4), (3,), (4,)]),
                         ("baddbmm_", [(2, 3, 4), (2, 3, 5), (2, 5, 4)])]:
        arrs = [A(*s) for s in shapes]
        x = tensor_on(arrs[0], device)
        getattr(x, name)(*[tensor_on(b, device) for b in arrs[1:]], beta=0.5, alpha=2)
        t = torch.tensor(arrs[0])
        getattr(t, name)(*[torch.tensor(b) for b in arrs[1:]], beta=0.5, alpha=2)
        assert np.allclose(host(x), t.numpy()), name
    a = A(3, 4)
    x = tensor_on(a, device)
    x.cumsum_(1)
    assert np.allclose(host(x), np.cumsum(a, 1))
    x.subtract_(tensor_on(a, device), alpha=2)
    assert np.allclose(host(x), np.cumsum(a, 1) - 2 * a)


def test_inplace_on_the_tape_follows_pytorchs_rules(device):
    leaf = tensor_on(A(3), device, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        leaf.eq_(0.0)
    with pytest.raises(RuntimeError, match="leaf"):
        leaf.unsqueeze_(0)
    y = leaf * 2
    y.unsqueeze_(0)
    assert y.shape == (1, 3)
    (y * tensor_on(np.array([[1.0, 2.0, 3.0]]), device)).sum().backward()
    assert host(leaf.grad).tolist() == [2.0, 4.0, 6.0]
    z = leaf.exp()
    z.cumsum_(0)  # exp saved its answer: backward must refuse
    with pytest.raises(RuntimeError, match="modified in place"):
        z.sum().backward()
    m = tensor_on(A(2, 3), device)
    m.t_()
    assert m.shape == (3, 2)
    m.transpose_(0, 1).squeeze_()
    assert m.shape == (2, 3)


def test_inplace_top_level_functions(device):
    a = A(4)
    x = tensor_on(a, device)
    assert tg.exp_(x) is x and np.allclose(host(x), np.exp(a))
    assert host(tg.zero_(x)).tolist() == [0.0] * 4
    tg.clamp_(x, min=1.0)
    assert host(x).tolist() == [1.0] * 4


def test_fill_diagonal_matches_pytorch(device):
    for shape, wrap in [((3, 3), False), ((5, 3), False), ((7, 3), True), ((3, 5), False),
                        ((3, 3, 3), False)]:
        x, t = tensor_on(np.zeros(shape), device), torch.zeros(shape)
        x.fill_diagonal_(2.0, wrap)
        t.fill_diagonal_(2.0, wrap)
        assert host(x).tolist() == t.tolist(), (shape, wrap)
    with pytest.raises(RuntimeError, match="equal length"):
        tensor_on(np.zeros((2, 3, 3)), device).fill_diagonal_(1.0)


# ---- random fills --------------------------------------------------------------------------
def test_random_fills_have_the_right_distributions(device):
    n = 20000
    x = tensor_on(np.zeros(n), device)
    e = host(x.exponential_(2.0))
    assert abs(e.mean() - 0.5) < 0.02 and e.min() >= 0
    g = host(x.geometric_(0.25))
    assert g.min() >= 1 and abs(g.mean() - 4.0) < 0.15 and np.all(g == np.round(g))
    c = host(x.cauchy_(1.0, 2.0))
    assert abs(np.median(c) - 1.0) < 0.1
    ln = host(x.log_normal_(0.0, 0.5))
    assert abs(np.log(ln).mean()) < 0.02 and abs(np.log(ln).std() - 0.5) < 0.02
    b = host(x.bernoulli_(0.3))
    assert set(np.unique(b)) <= {0.0, 1.0} and abs(b.mean() - 0.3) < 0.02
    r = host(x.random_(3, 7))
    assert set(np.unique(r)) == {3.0, 4.0, 5.0, 6.0}
    r = host(tensor_on(np.zeros(n, np.int64), device).random_(5))
    assert set(np.unique(r)) == {0, 1, 2, 3, 4}
    with pytest.raises(RuntimeError, match="random_.*from"):
        x.random_(5, 2)
    g1 = tg.Generator(device=device).manual_seed(4)
    g2 = tg.Generator(device=device).manual_seed(4)
    assert host(x.exponential_(generator=g1)).tolist() == \
        host(x.clone().exponential_(generator=g2)).tolist()


# ---- storage queries, casts, legacy types --------------------------------------------------
def test_storage_queries_match_pytorch(device):
    a = np.arange(24.0).reshape(2, 3, 4)
    x, t = tensor_on(a, device), torch.tensor(a)
    for f in (lambda v: v, lambda v: v.transpose(0, 2), lambda v: v[:, 1:], lambda v: v[1]):
        ov, tv = f(x), f(t)
        assert ov.stride() == tv.stride() and ov.stride(-1) == tv.stride(-1)
        assert ov.is_contiguous() == tv.is_contiguous()
        assert ov.dim_order() == tv.dim_order()
    assert x[1].storage_offset() == t[1].storage_offset() == 12
    assert x[:, 1:].storage_offset() == 4
    assert x.nbytes == t.nbytes and x.is_cpu == (device == "cpu")
    assert x[0].data_ptr() == x.data_ptr() and x[1].data_ptr() == x.data_ptr() + 12 * 8
    assert x.is_set_to(x) and not x.is_set_to(x.clone())
    assert not x.is_sparse and x.layout is tg.strided and repr(tg.strided) == "torch.strided"
    with pytest.raises(RuntimeError, match="ambiguous"):
        x.is_nonzero()
    assert tensor_on(np.array([2.0]), device).is_nonzero()
    c = tensor_on(A(2, 3) + 1j * A(2, 3), device)
    assert np.allclose(host(c.mH), host(c).conj().T) and np.allclose(host(c.H), host(c).conj().T)
    with pytest.raises(RuntimeError, match="matrices"):
        _ = tensor_on(A(2, 2, 2), device).H


def test_casts_new_resize_and_retains_grad(device):
    x = tensor_on(np.array([1.7, -2.2, 300.0]), device)
    for name, want in [("byte", np.uint8), ("char", np.int8), ("short", np.int16),
                       ("cfloat", np.complex64), ("cdouble", np.complex128)]:
        assert getattr(x, name)().dtype == np.dtype(want)
    with pytest.raises(TypeError, match="bfloat16"):
        x.bfloat16()
    n = x.new(2, 5)
    assert n.shape == (2, 5) and n.dtype == x.dtype and n.device == x.device
    assert host(x.new([1, 2])).tolist() == [1.0, 2.0]
    r = tensor_on(np.arange(6.0), device)
    r.resize_(2, 2)
    assert host(r).tolist() == [[0.0, 1.0], [2.0, 3.0]]
    r.resize_(5)
    assert host(r).tolist() == [0.0, 1.0, 2.0, 3.0, 0.0]
    with pytest.raises(RuntimeError, match="resize_.*requires grad"):
        tensor_on(A(3), device, requires_grad=True).resize_(2)
    leaf = tensor_on(A(3), device, requires_grad=True)
    y = leaf * 2
    assert not y.retains_grad
    y.retain_grad()
    assert y.retains_grad and not leaf.retains_grad


def test_apply_and_map_are_cpu_only_as_pytorchs(device):
    x = tensor_on(np.array([1.0, 2.0]), device)
    if device == "cpu":
        x.apply_(lambda v: v * 10)
        x.map_(tg.tensor([1.0, 1.0]), lambda a, b: a + b)
        assert x.tolist() == [11.0, 21.0]
        t = tg.tensor([[1.0, 2.0], [3.0, 4.0]]).T  # not C-contiguous: written all the same
        t.apply_(lambda v: -v)
        t.map_(tg.tensor([[10.0, 10.0], [10.0, 10.0]]), lambda a, b: a + b)
        assert t.tolist() == [[9.0, 7.0], [8.0, 6.0]]
    else:
        with pytest.raises(TypeError, match="CPU"):
            x.apply_(lambda v: v)


def test_legacy_tensor_types_and_typename():
    f = tg.FloatTensor(2, 3)
    assert f.shape == (2, 3) and f.dtype == tg.float32
    assert tg.LongTensor([1, 2]).dtype == tg.int64 and tg.FloatTensor().shape == (0,)
    assert isinstance(tg.ones(2), tg.FloatTensor) and not isinstance(tg.ones(2), tg.DoubleTensor)
    assert tg.typename(tg.ones(2)) == torch.typename(torch.ones(2)) == "torch.FloatTensor"
    assert tg.typename(tg.ones(2, dtype=tg.int64)) == "torch.LongTensor"
    assert tg.typename(3) == torch.typename(3) == "int"
    old = tg.get_default_dtype()
    try:
        tg.set_default_tensor_type(tg.DoubleTensor)
        assert tg.ones(1).dtype == tg.float64
        tg.set_default_tensor_type("torch.FloatTensor")
        assert tg.ones(1).dtype == tg.float32
        with pytest.raises(TypeError, match="floating"):
            tg.set_default_tensor_type(tg.LongTensor)
    finally:
        tg.set_default_dtype(old)
    assert not tg.is_storage(tg.ones(1))


# ---- control flow and switches -------------------------------------------------------------
def test_cond_while_loop_and_compile_run_eagerly(device):
    x = tensor_on(np.array([1.0, 2.0]), device, requires_grad=True)
    out = tg.cond(x.sum() > 0, lambda v: v * 2, lambda v: v * 3, (x,))
    out.sum().backward()
    assert host(x.grad).tolist() == [2.0, 2.0]
    i, v = tg.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * 2),
                         (tensor_on(np.array(0), device), tensor_on(np.array(1.0), device)))
    assert host(i).item() == 3 and host(v).item() == 8.0

    def f(a):
        return a + 1

    assert tg.compile(f) is f and tg.compile(mode="max-autotune")(f) is f
    m = tg.nn.Linear(2, 2)
    assert tg.compile(m)._orig_mod is m and tg.compile(m, disable=True) is m


def test_process_switches():
    tg.set_warn_always(True)
    assert tg.is_warn_always_enabled()
    tg.set_warn_always(False)
    assert not tg.is_warn_always_enabled()
    tg.set_deterministic_debug_mode("warn")
    assert tg.get_deterministic_debug_mode() == 1
    tg.set_deterministic_debug_mode(0)
    with pytest.raises(RuntimeError, match="invalid"):
        tg.set_deterministic_debug_mode("loud")
    tg.set_num_interop_threads(2)
    assert tg.get_num_interop_threads() == 2
    assert not tg.is_anomaly_enabled()
    tg.set_anomaly_enabled(True)
    try:
        assert tg.is_anomaly_enabled() and tg.autograd.anomaly.is_anomaly_enabled()
    finally:
        tg.set_anomaly_enabled(False)
    assert not tg.is_anomaly_enabled()


def test_copy_variants_share_no_memory(device):
    a = A(3, 4)
    x = tensor_on(a, device)
    for name, args in [("diagonal_copy", ()), ("permute_copy", ((1, 0),)), ("t_copy", ()),
                       ("unfold_copy", (1, 2, 2)), ("view_copy", ((12,),)),
                       ("select_copy", (0, 1)), ("slice_copy", (1, 1, 3)),
                       ("expand_copy", ((2, 3, 4),)), ("unsqueeze_copy", (0,))]:
        ours = getattr(tg, name)(x, *args)
        theirs = getattr(torch, name)(torch.tensor(a), *args)
        assert np.allclose(host(ours), theirs.numpy()), name
    d = tg.diagonal_copy(x)
    d[0] = 100.0
    assert host(x)[0, 0] == a[0, 0]
    assert [tuple(p.shape) for p in tg.unsafe_split(x, 2, 1)] == [(3, 2), (3, 2)]
