"""PyTorch's edge cases from its OpInfo samples, on every device: dims of 0-d tensors, empty
tensors, integer and bool dtypes, reflected operators, integer powers, and the arguments
(out_int32, dims lists, broadcasting masks, prepend/append, legacy empty tensors, complex
inputs) where tensorgrad differed from PyTorch."""

import numpy as np
import pytest
from devices import on, same_as_torch, tensor_on, torch_oracle

import tensorgrad as tg
import tensorgrad.numpy as tnp

torch = torch_oracle()


_same = same_as_torch


def _pair(a, device, requires_grad=False):
    a = np.asarray(a)
    return (tensor_on(a, device, requires_grad),
            torch.tensor(a, requires_grad=requires_grad))


# ---- 0-d tensors: dim 0 and -1 name their one element ----------------------------------------
REDUCTIONS = ["sum", "mean", "prod", "amax", "amin", "logsumexp", "nansum", "nanmean", "norm"]


@pytest.mark.parametrize("name", REDUCTIONS)
@pytest.mark.parametrize("dim", [0, -1, [0]])
@pytest.mark.parametrize("keepdim", [False, True])
def test_reduction_over_the_dim_of_a_0d_tensor_matches_pytorch(name, dim, keepdim, device):
    if name == "prod" and isinstance(dim, list):
        dim = dim[0]  # PyTorch's prod takes one dim
    x, tx = _pair(2.5, device, requires_grad=True)
    if name == "norm":
        got, want = tg.norm(x, 2, dim, keepdim), torch.norm(tx, 2, dim, keepdim)
    else:
        got = getattr(tg, name)(x, dim, keepdim)
        want = getattr(torch, name)(tx, dim, keepdim)
    _same(got, want)
    assert on(got, device)
    (g,) = tg.autograd.grad(got, [x])
    (tg_want,) = torch.autograd.grad(want, [tx])
    _same(g, tg_want)


@pytest.mark.parametrize("name", ["sum", "mean", "prod", "amax", "amin", "logsumexp", "all",
                                  "any", "std", "var"])
@pytest.mark.parametrize("dim", [0, -1])
def test_tensor_methods_take_dim_0_of_a_0d_tensor(name, dim, device):
    x, tx = _pair(3.0, device)
    _same(getattr(x, name)(dim=dim, keepdim=True), getattr(tx, name)(dim=dim, keepdim=True))


@pytest.mark.parametrize("dtype", ["float64", "int64", "bool"])
def test_all_any_count_nonzero_aminmax_of_a_0d_tensor(dtype, device):
    x, tx = _pair(np.array(1).astype(dtype), device)
    for name in ("all", "any", "count_nonzero"):
        _same(getattr(tg, name)(x, dim=-1), getattr(torch, name)(tx, dim=-1))
    got, want = tg.aminmax(x, dim=0, keepdim=True), torch.aminmax(tx, dim=0, keepdim=True)
    _same(got.min, want.min)
    _same(got.max, want.max)


@pytest.mark.parametrize("name", ["max", "min", "argmax", "argmin"])
def test_max_min_and_arg_with_dim_of_a_0d_tensor(name, device):
    x, tx = _pair(-1.5, device)
    got, want = getattr(x, name)(0), getattr(tx, name)(0)
    if name in ("max", "min"):
        _same(got.values, want.values)
        _same(got.indices, want.indices)
    else:
        _same(got, want)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_of_a_0d_tensor_and_over_an_empty_dim(name, device):
    x, tx = _pair(0.7, device, requires_grad=True)
    got, want = getattr(tg, name)(x, 0), getattr(torch, name)(tx, 0)
    _same(got, want)
    _same(tg.autograd.grad(got, [x])[0], torch.autograd.grad(want, [tx])[0])
    e, te = _pair(np.zeros((5, 0, 0)), device, requires_grad=True)
    got, want = getattr(tg, name)(e, -1, dtype=tg.float32), getattr(torch, name)(
        te, -1, dtype=torch.float32)
    _same(got, want)
    _same(getattr(tg, name)(e, 0), getattr(torch, name)(te, 0))


def test_squeeze_and_transpose_of_a_0d_tensor(device):
    x, tx = _pair(4.0, device)
    _same(tg.squeeze(x, 0), torch.squeeze(tx, 0))
    _same(x.squeeze(-1), tx.squeeze(-1))
    _same(x.squeeze([0]), tx.squeeze([0]))
    _same(tg.transpose(x, 0, -1), torch.transpose(tx, 0, -1))
    _same(x.transpose(0, 0), tx.transpose(0, 0))
    with pytest.raises(IndexError, match="squeeze"):
        x.squeeze(1)


def test_index_ops_on_a_0d_input(device):
    x, tx = _pair(3.0, device, requires_grad=True)
    i, ti = _pair(np.array([0]), device)
    i0, ti0 = _pair(np.array(0), device)
    s, ts = _pair(2.0, device, requires_grad=True)
    cases = [
        (tg.gather(x, 0, i), torch.gather(tx, 0, ti)),
        (tg.gather(x, 0, i0), torch.gather(tx, 0, ti0)),
        (tg.index_select(x, 0, i), torch.index_select(tx, 0, ti)),
        (tg.index_add(x, 0, i, s, alpha=2), torch.index_add(tx, 0, ti, ts, alpha=2)),
        (tg.index_fill(x, 0, i, -1.0), torch.index_fill(tx, 0, ti, -1.0)),
    ]
    for got, want in cases:
        _same(got, want)
        leaves = [x, s] if got is cases[3][0] else [x]
        tleaves = [tx, ts] if got is cases[3][0] else [tx]
        for a, b in zip(tg.autograd.grad(got.sum(), leaves),
                        torch.autograd.grad(want.sum(), tleaves)):
            _same(a, b)


def test_gather_with_an_empty_index_gives_its_shape(device):
    x, tx = _pair(np.arange(5.0), device, requires_grad=True)
    i, ti = _pair(np.zeros((2, 0), np.int64), device)
    got, want = tg.gather(x, 0, i), torch.gather(tx, 0, ti)
    _same(got, want)
    _same(tg.autograd.grad(got.sum(), [x])[0], torch.autograd.grad(want.sum(), [tx])[0])


@pytest.mark.parametrize("value", [0.0, 2.0])
def test_nonzero_and_argwhere_of_a_0d_tensor(value, device):
    x, tx = _pair(value, device)
    _same(tg.nonzero(x), torch.nonzero(tx))
    _same(tg.argwhere(x), torch.argwhere(tx))
    for a, b in zip(tg.nonzero(x, as_tuple=True), torch.nonzero(tx, as_tuple=True)):
        _same(a, b)


def test_cat_skips_legacy_empty_1d_tensors(device):
    e, te = _pair(np.zeros(0), device, requires_grad=True)
    m, tm = _pair(np.arange(25.0).reshape(5, 5), device, requires_grad=True)
    got, want = tg.cat([e, m], dim=1), torch.cat([te, tm], dim=1)
    _same(got, want)
    _same(tg.cat([m, e, m]), torch.cat([tm, te, tm]))
    _same(tg.autograd.grad(got.sum(), [m])[0], torch.autograd.grad(want.sum(), [tm])[0])
    with pytest.raises(ValueError, match="concatenate"):
        tg.cat([tensor_on(np.zeros((0, 2)), device), m], dim=1)  # only 1-D empties are skipped


# ---- dtypes -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["reciprocal", "sinc", "logit"])
@pytest.mark.parametrize("dtype", ["int64", "int32", "bool"])
def test_float_functions_of_integers_give_the_default_float(name, dtype, device):
    x, tx = _pair(np.array([0, 1, 2, -3]).astype(dtype), device)
    _same(getattr(tg, name)(x), getattr(torch, name)(tx), tol=1e-6)


@pytest.mark.parametrize("dtype", ["int64", "bool"])
def test_logsumexp_of_integers_is_the_default_float(dtype, device):
    x, tx = _pair(np.array([[0, 1, 2], [1, 1, 0]]).astype(dtype), device)
    _same(tg.logsumexp(x, 1), torch.logsumexp(tx, 1), tol=1e-6)
    _same(tg.logsumexp(x, (0, 1)), torch.logsumexp(tx, (0, 1)), tol=1e-6)


def test_bool_tensors_keep_pytorchs_dtypes(device):
    b, tb = _pair(np.array([[True, False], [False, True]]), device)
    for name in ("conj", "square", "sign", "sgn"):
        _same(getattr(tg, name)(b), getattr(torch, name)(tb))
    _same(b.conj(), tb.conj())
    _same(b.square(), tb.square())
    _same(b.sign(), tb.sign())
    _same(b.H, tb.H)
    _same(b.mH, tb.mH)
    i8, ti8 = _pair(np.array([3, -2], np.int8), device)
    _same(tg.square(i8), torch.square(ti8))
    x, tx = _pair(np.array([1.0, 2.0]), device, requires_grad=True)
    assert x.conj() is x  # a real tensor's conjugate is itself, as PyTorch's


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8"])
def test_round_keeps_integers(dtype, device):
    x, tx = _pair(np.array([[1, 2], [7, 250]]).astype(dtype), device)
    _same(tg.round(x), torch.round(tx))
    _same(x.round(), tx.round())


@pytest.mark.parametrize("name", ["sum", "prod"])
def test_sum_and_prod_with_dtype_bool_stay_bool(name, device):
    x, tx = _pair(np.array([[True, False, True], [True, True, True]]), device)
    _same(getattr(tg, name)(x, 1, dtype=tg.bool), getattr(torch, name)(tx, 1, dtype=torch.bool))
    _same(getattr(tg, name)(x, 1), getattr(torch, name)(tx, 1))


# ---- operators ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["int64", "bool"])
def test_reflected_bitwise_operators(dtype, device):
    a, ta = _pair(np.array([[1, 0, 3], [2, 2, 0]]).astype(dtype), device)
    c, tc = _pair(np.array([1, 1, 0]).astype(dtype), device)
    for name in ("__ror__", "__rand__", "__rxor__"):
        _same(getattr(a, name)(c), getattr(ta, name)(tc))
    _same(True | a if dtype == "bool" else 6 | a, True | ta if dtype == "bool" else 6 | ta)


def test_rdiv_is_the_reflected_true_division(device):
    x, tx = _pair(np.array([2.0, -4.0]), device, requires_grad=True)
    got, want = x.__rdiv__(3.0), tx.__rdiv__(3.0)
    _same(got, want)
    _same(tg.autograd.grad(got.sum(), [x])[0], torch.autograd.grad(want.sum(), [tx])[0])
    i, ti = _pair(np.array([2, 4]), device)
    _same(i.__rdiv__(3), ti.__rdiv__(3), tol=1e-6)


def test_integer_powers_with_negative_tensor_exponents_match_pytorch(device):
    base, tbase = _pair(np.array([[2, 3, -1, 1, 0, -5], [-1, 1, 7, 0, 2, 1]]), device)
    e, te = _pair(np.array([-1, -2, -3, -1, 0, 2]), device)
    _same(base ** e, tbase ** te)
    _same(tg.pow(base, e), torch.pow(tbase, te))
    _same(e.__rpow__(base), te.__rpow__(tbase))
    _same(2 ** e, 2 ** te)
    _same(-1 ** e, -1 ** te)
    b, tb = _pair(np.array([True, False]), device)
    _same(b ** e[:2], tb ** te[:2])
    with pytest.raises(ValueError, match="negative integer powers"):
        base ** -1  # a negative Python-number exponent: PyTorch refuses it too
    with pytest.raises(ValueError):  # NumPy arrays keep NumPy's semantics
        tnp.power(np.array([2]), np.array([-1]))


# ---- arguments --------------------------------------------------------------------------------
@pytest.mark.parametrize("out_int32", [False, True])
@pytest.mark.parametrize("right", [False, True])
def test_bucketize_out_int32(out_int32, right, device):
    x, tx = _pair(np.array([[0.5, 1.0], [2.5, 9.0]]), device)
    b, tb = _pair(np.array([0.0, 1.0, 2.0, 3.0]), device)
    _same(tg.bucketize(x, b, out_int32=out_int32, right=right),
          torch.bucketize(tx, tb, out_int32=out_int32, right=right))


@pytest.mark.parametrize("dims, sa, sb", [([[0, 1], [2, 0]], (1, 1, 1), (2, 1, 2)),
                                           (([0], [0]), (1, 3), (4, 2)),
                                           (1, (2, 1), (3, 4)),
                                           (2, (2, 1), (1, 3, 5))])
def test_tensordot_broadcasts_contracted_dims_of_size_one(dims, sa, sb, device):
    rng = np.random.default_rng(0)
    a, ta = _pair(rng.standard_normal(sa), device, requires_grad=True)
    b, tb = _pair(rng.standard_normal(sb), device, requires_grad=True)
    got, want = tg.tensordot(a, b, dims=dims), torch.tensordot(ta, tb, dims=dims)
    _same(got, want)
    for g, w in zip(tg.autograd.grad(got.sum(), [a, b]), torch.autograd.grad(want.sum(),
                                                                               [ta, tb])):
        _same(g, w)


def test_tensordot_refuses_mismatched_sizes_other_than_one(device):
    a = tensor_on(np.ones((2, 3)), device)
    with pytest.raises(ValueError, match="tensordot"):
        tg.tensordot(a, tensor_on(np.ones((3, 3)), device), dims=([0], [0]))


def test_masked_fill_broadcasts_the_input_to_the_mask(device):
    x, tx = _pair(np.arange(5.0), device, requires_grad=True)
    m, tm = _pair(np.tri(5, dtype=bool), device)
    got, want = tg.masked_fill(x, m, 10.0), torch.masked_fill(tx, tm, 10.0)
    _same(got, want)
    _same(tg.autograd.grad(got.sum(), [x])[0], torch.autograd.grad(want.sum(), [tx])[0])
    with pytest.raises(ValueError, match="masked_fill"):
        tg.masked_fill(x, tensor_on(np.ones((5, 4), bool), device), 1.0)


def test_diff_with_n_0_returns_the_input_and_bools_xor(device):
    x, tx = _pair(np.arange(25.0).reshape(5, 5), device)
    p, tp = _pair(np.ones((1, 5)), device)
    a, ta = _pair(np.zeros((2, 5)), device)
    _same(tg.diff(x, 0, 0, p, a), torch.diff(tx, 0, 0, tp, ta))
    _same(tg.diff(x, 2, 0, p, a), torch.diff(tx, 2, 0, tp, ta))
    b, tb = _pair(np.array([[True, False, False, True, True]] * 2), device)
    pb, tpb = _pair(np.array([[False], [True]]), device)
    for n in (1, 2, 4, 7):
        _same(tg.diff(b, n), torch.diff(tb, n))
        _same(tg.diff(b, n, 1, pb), torch.diff(tb, n, 1, tpb))


def test_scatter_reduce_multiply(device):
    x, tx = _pair(np.arange(1.0, 11.0).reshape(5, 2), device)
    i, ti = _pair(np.array([[0, 1], [0, 0], [4, 1]]), device)
    s, ts = _pair(np.array([[2.0, 3.0], [5.0, 7.0], [-1.0, 0.5]]), device)
    for dim in (0, -2):
        _same(tg.scatter(x, dim, i, s, reduce="multiply"),
              torch.scatter(tx, dim, ti, ts, reduce="multiply"))
    z, tz = _pair(3.0, device)
    _same(tg.scatter(z, 0, tensor_on(np.array(0), device), tensor_on(np.array(2.0), device),
                     reduce="multiply"),
          torch.scatter(tz, 0, torch.tensor(0), torch.tensor(2.0, dtype=torch.float64),
                        reduce="multiply"))
    with pytest.raises(RuntimeError, match="no derivative"):
        tg.scatter(tensor_on(np.ones((5, 2)), device, True), 0, i, s, reduce="multiply")


# ---- complex ------------------------------------------------------------------------------------
def _complex(shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)


@pytest.mark.parametrize("shape", [(0, 0), (1, 1), (4, 4), (3, 4, 4), (0, 2, 2)])
def test_logdet_of_complex_matrices(shape, device):
    x, tx = _pair(_complex(shape), device)
    _same(tg.logdet(x), torch.logdet(tx), tol=1e-10)


def test_logdet_of_complex_matrices_gradient(device):
    x, tx = _pair(_complex((3, 3), 1), device, requires_grad=True)
    got, want = tg.logdet(x).real, torch.logdet(tx).real
    _same(tg.autograd.grad(got, [x])[0], torch.autograd.grad(want, [tx])[0], tol=1e-10)


def test_logaddexp_of_complex_tensors(device):
    x, tx = _pair(_complex((3, 4), 2) * 3, device)
    y, ty = _pair(_complex((4,), 3) * 3, device)
    _same(tg.logaddexp(x, y), torch.logaddexp(tx, ty), tol=1e-10)
    r, tr = _pair(np.array([0.5, -2.0]), device)
    _same(tg.logaddexp(r, r), torch.logaddexp(tr, tr))


@pytest.mark.parametrize("scale", [1.0, 30.0, 3e4])
def test_logsumexp_of_complex_tensors_shifts_by_the_real_part(scale, device):
    x, tx = _pair(_complex((5, 5), 4) * scale, device)
    for dim in (1, -2, (0, 1)):
        _same(tg.logsumexp(x, dim), torch.logsumexp(tx, dim), tol=1e-9)


def test_logsumexp_of_complex_numpy_arrays_agrees_with_scipy():
    special = pytest.importorskip("scipy.special")
    x = _complex((2, 3), 5) * 3
    np.testing.assert_allclose(tg.scipy.special.logsumexp(x, axis=1),
                               special.logsumexp(x, axis=1), rtol=1e-12)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_logcumsumexp_of_complex_tensors_is_a_running_logaddexp(dim, device):
    x, tx = _pair(_complex((4, 5), 6) * 2, device, requires_grad=True)
    got, want = tg.logcumsumexp(x, dim), torch.logcumsumexp(tx, dim)
    _same(got, want, tol=1e-10)
    w = _complex((4, 5), 7)
    loss = (got * tensor_on(w, device)).real.sum()  # a real loss: one gradient convention
    _same(tg.autograd.grad(loss, [x])[0],
          torch.autograd.grad((want * torch.tensor(w)).real.sum(), [tx])[0], tol=1e-10)
