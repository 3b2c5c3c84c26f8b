"""tg.masked, PyTorch's torch.masked on dense tensors: values, dtypes and gradients against
torch.masked on the same inputs (on every device), fully masked-out slices, mask broadcasting,
``dtype=``, zero and finite gradients at masked-out elements (a masked inf or nan never reaches
a rule), second-order finite differences in both modes, and the names and signatures of
torch.masked."""

import inspect
import math

import numpy as np
import pytest
from devices import host, put, tensor_on, torch_oracle

import tensorgrad as tg

torch = torch_oracle()
TM = torch.masked

X = np.random.default_rng(0).standard_normal((3, 4, 5))
# row (0, 1, :) and column (:, :, 2) ... fully masked out in places, the rest random
MASK = np.random.default_rng(1).random((3, 4, 5)) < 0.6
MASK[0, 1, :] = False
MASK[:, 2, 3] = False
MASK[1, :, 0] = False
FULL_ROW = (0, 1)  # MASK[0, 1, :] is all False: a fully masked-out slice along the last dim

REDUCTIONS = ["sum", "prod", "amax", "amin", "mean", "norm", "var", "std", "logsumexp"]
# (name, dim, keepdim): tuples, negative dims, None (all), ()
DIMS = [(-1, False), ((0, 2), True), (None, False), (1, True)]
NORMALIZATIONS = ["softmax", "log_softmax", "softmin", "cumsum", "cumprod"]


def _torch(a, requires_grad=False):
    return torch.tensor(a, requires_grad=requires_grad)


def _args(name, dim):
    """Positional arguments after the input (norm's ord first)."""
    return (2.0, dim) if name == "norm" else (dim,)


def _compare_grads(ours, theirs, finite_only=False):
    ours, theirs = host(ours), theirs.detach().numpy()
    if finite_only:  # torch's own gradient is nan there (see the test using it)
        keep = np.isfinite(theirs)
        ours, theirs = ours[keep], theirs[keep]
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-11)


# ---- values and gradients against torch.masked ------------------------------------------------
@pytest.mark.parametrize("dim, keepdim", DIMS)
@pytest.mark.parametrize("name", REDUCTIONS)
def test_reductions_equal_torchs_values_and_gradients(name, dim, keepdim, device):
    x = tensor_on(X, device, requires_grad=True)
    m = tensor_on(MASK, device)
    got = getattr(tg.masked, name)(x, *_args(name, dim), keepdim=keepdim, mask=m)
    tx = _torch(X, requires_grad=True)
    want = getattr(TM, name)(tx, *_args(name, dim), keepdim=keepdim, mask=_torch(MASK))
    assert tuple(got.shape) == tuple(want.shape) and got.dtype == np.float64
    np.testing.assert_allclose(host(got), want.detach().numpy(), rtol=1e-12, atol=1e-12)
    cot = np.random.default_rng(2).standard_normal(tuple(want.shape))
    got.backward(put(cot, device))
    want.backward(torch.from_numpy(cot))
    # var/std: torch centres the raw input, so a fully masked-out slice (nan mean) gives it nan
    # gradients at those elements; tensorgrad's are 0 (asserted below)
    _compare_grads(x.grad, tx.grad, finite_only=name in ("var", "std"))
    g = host(x.grad)
    assert np.isfinite(g).all()
    assert (g[~MASK] == 0).all()


@pytest.mark.parametrize("name", ["median", "argmax", "argmin"])
@pytest.mark.parametrize("dim, keepdim", [(-1, False), (0, True), (1, False)])
def test_index_reductions_equal_torchs(name, dim, keepdim, device):
    x = tensor_on(X, device, requires_grad=name == "median")
    got = getattr(tg.masked, name)(x, dim, keepdim=keepdim, mask=tensor_on(MASK, device))
    tx = _torch(X, requires_grad=name == "median")
    want = getattr(TM, name)(tx, dim, keepdim=keepdim, mask=_torch(MASK))
    np.testing.assert_array_equal(host(got), want.detach().numpy())  # nan where fully masked
    assert got.dtype == np.float64  # argmax/argmin too: torch.masked casts to the input's dtype
    if name == "median":
        cot = np.random.default_rng(3).standard_normal(tuple(want.shape))
        got.backward(put(cot, device))
        want.backward(torch.from_numpy(cot))
        _compare_grads(x.grad, tx.grad)


@pytest.mark.parametrize("name", NORMALIZATIONS + ["normalize"])
@pytest.mark.parametrize("dim", [0, -1])
def test_normalizations_equal_torchs(name, dim, device):
    x = tensor_on(X, device, requires_grad=True)
    args = (2.0, dim) if name == "normalize" else (dim,)
    got = getattr(tg.masked, name)(x, *args, mask=tensor_on(MASK, device))
    tx = _torch(X, requires_grad=True)
    want = getattr(TM, name)(tx, *args, mask=_torch(MASK))
    assert tuple(got.shape) == X.shape
    np.testing.assert_allclose(host(got), want.detach().numpy(), rtol=1e-12, atol=1e-12)
    cot = np.random.default_rng(4).standard_normal(X.shape)
    got.backward(put(cot, device))
    want.backward(torch.from_numpy(cot))
    _compare_grads(x.grad, tx.grad)
    assert (host(x.grad)[~MASK] == 0).all()


def test_logaddexp_equals_torchs(device):
    a, b = X[0], X[1] + 0.5
    ma, mb = MASK[0], MASK[2]
    x, y = tensor_on(a, device, requires_grad=True), tensor_on(b, device, requires_grad=True)
    got = tg.masked.logaddexp(x, y, input_mask=tensor_on(ma, device),
                              other_mask=tensor_on(mb, device))
    tx, ty = _torch(a, requires_grad=True), _torch(b, requires_grad=True)
    want = TM.logaddexp(tx, ty, input_mask=_torch(ma), other_mask=_torch(mb))
    np.testing.assert_allclose(host(got), want.detach().numpy(), rtol=1e-12)
    assert np.isneginf(host(got)[~ma & ~mb]).all()  # both masked out: -inf
    cot = np.random.default_rng(5).standard_normal(a.shape)
    got.backward(put(cot, device))
    want.backward(torch.from_numpy(cot))
    _compare_grads(x.grad, tx.grad)
    _compare_grads(y.grad, ty.grad)
    assert (host(x.grad)[~ma] == 0).all() and (host(y.grad)[~mb] == 0).all()


def test_no_mask_is_the_plain_reduction(device):
    x = tensor_on(X, device)
    np.testing.assert_allclose(host(tg.masked.sum(x, (0, 2))), X.sum((0, 2)))
    np.testing.assert_allclose(host(tg.masked.var(x, 1, unbiased=False)), X.var(1))
    np.testing.assert_allclose(host(tg.masked.softmax(x, -1)),
                               TM.softmax(_torch(X), -1).numpy(), rtol=1e-12)
    assert host(tg.masked.mean(x)) == pytest.approx(X.mean())


# ---- fully masked-out slices ------------------------------------------------------------------
def test_fully_masked_slices_give_the_identity_or_nan(device):
    x = tensor_on(X, device)
    m = tensor_on(MASK, device)
    row = FULL_ROW

    def at(name, *args, **kw):
        return host(getattr(tg.masked, name)(x, *args, mask=m, **kw))[row]

    assert at("sum", -1) == 0 and at("prod", -1) == 1 and at("norm", 2.0, -1) == 0
    assert at("amax", -1) == -math.inf and at("amin", -1) == math.inf
    assert at("logsumexp", -1) == -math.inf and at("norm", -math.inf, -1) == math.inf
    for name in ("mean", "var", "std", "median"):
        assert np.isnan(at(name, -1)), name
    assert np.isnan(at("softmax", -1)).all() and np.isnan(at("softmin", -1)).all()
    np.testing.assert_array_equal(at("cumsum", -1), 0)
    np.testing.assert_array_equal(at("cumprod", -1), 1)
    np.testing.assert_array_equal(at("normalize", 2.0, -1), 0)
    # integers: the limits of the dtype
    xi = tensor_on(np.arange(60).reshape(3, 4, 5).astype(np.int32), device)
    assert host(tg.masked.amax(xi, -1, mask=m))[row] == np.iinfo(np.int32).min
    assert host(tg.masked.amin(xi, -1, mask=m))[row] == np.iinfo(np.int32).max
    with pytest.raises(ValueError, match="fully masked out rows"):
        tg.masked.median(xi, -1, mask=m)


def test_fully_masked_slices_give_finite_zero_gradients(device):
    x = tensor_on(X, device, requires_grad=True)
    m = tensor_on(MASK, device)
    for name in ("mean", "var", "std", "amax", "logsumexp", "norm", "median"):
        x.grad = None
        out = getattr(tg.masked, name)(x, *_args(name, -1), mask=m)
        out = tg.where(tg.isnan(out) | tg.isinf(out), 0.0, out)  # the finite rows only
        out.sum().backward()
        g = host(x.grad)
        assert np.isfinite(g).all() and (g[row_slice()] == 0).all(), name
    x.grad = None
    tg.masked.softmax(x, -1, mask=m)[0, 0].sum().backward()  # rows of nan elsewhere
    assert np.isfinite(host(x.grad)).all()


def row_slice():
    return FULL_ROW + (slice(None),)


# ---- mask broadcasting --------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(5,), (1, 5), (4, 1), (3, 1, 1), (1, 4, 5)])
def test_mask_broadcasts_to_the_input(shape, device):
    mask = np.random.default_rng(6).random(shape) < 0.5
    mask.flat[0] = True
    x = tensor_on(X, device, requires_grad=True)
    got = tg.masked.mean(x, -1, mask=tensor_on(mask, device))
    want = TM.mean(_torch(X), -1, mask=_torch(mask))
    np.testing.assert_allclose(host(got), want.numpy(), rtol=1e-12)
    same = tg.masked.mean(x, -1, mask=tensor_on(np.broadcast_to(mask, X.shape).copy(), device))
    np.testing.assert_array_equal(host(got), host(same))
    tg.where(tg.isnan(got), 0.0, got).sum().backward()
    assert (host(x.grad)[~np.broadcast_to(mask, X.shape)] == 0).all()


def test_non_bool_masks_and_array_masks(device):
    x = tensor_on(X[0], device)
    ints = (MASK[0] * 3).astype(np.int64)  # nonzero means masked in, as torch's .to(bool)
    want = TM.sum(_torch(X[0]), 1, mask=_torch(ints)).numpy()
    np.testing.assert_allclose(host(tg.masked.sum(x, 1, mask=tensor_on(ints, device))), want)
    np.testing.assert_allclose(host(tg.masked.sum(x, 1, mask=put(MASK[0], device))), want)


def test_bad_masks_and_dims_raise_clear_errors(device):
    x = tensor_on(X, device)
    with pytest.raises(IndexError, match=r"masked.sum\(\).*more dimensions.*\(3, 4, 5\)"):
        tg.masked.sum(x, mask=tensor_on(np.ones((1, 3, 4, 5), bool), device))
    with pytest.raises(RuntimeError, match=r"masked.amax\(\).*\(2,\).*\(3, 4, 5\)"):
        tg.masked.amax(x, mask=tensor_on(np.ones(2, bool), device))
    with pytest.raises(IndexError, match=r"masked.norm\(\): dim 3 out of range"):
        tg.masked.norm(x, 2.0, 3)
    with pytest.raises(RuntimeError, match="appears multiple times"):
        tg.masked.sum(x, (1, -2))
    with pytest.raises(ValueError, match="only one of 'unbiased' and 'correction'"):
        tg.masked.var(x, 1, True, correction=0)
    with pytest.raises(TypeError, match=r"masked.softmax\(\).*must be a Tensor"):
        tg.masked.softmax([1.0, 2.0], 0)


# ---- dtype= -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, kwargs, in_dtype", [
    ("sum", {}, "int32"), ("sum", {}, "bool"), ("prod", {}, "int16"), ("sum", {"dtype": "float64"},
                                                                      "float32"),
    ("cumsum", {}, "int32"), ("cumprod", {"dtype": "float64"}, "int64"),
    ("amax", {}, "int64"), ("amax", {"dtype": "float64"}, "float32"),
    ("argmax", {}, "float32"), ("argmin", {"dtype": "int64"}, "float64"),
    ("mean", {"dtype": "float64"}, "int64"), ("var", {}, "int64"), ("std", {}, "int32"),
    ("norm", {"dtype": "float64"}, "float32"), ("logsumexp", {}, "int64"),
    ("softmax", {"dtype": "float64"}, "float32"), ("median", {}, "int64"),
])
def test_dtype_argument_as_torchs(name, kwargs, in_dtype, device):
    data = (np.abs(X[0]) * 3 + 1).astype(in_dtype)
    mask = MASK[2].copy()
    mask[:, 0] = True  # no fully masked-out row: median of an integer input needs that
    dim = 1 if name in ("cumsum", "cumprod", "softmax", "median", "argmax", "argmin") else None
    args = (dim,) if dim is not None else ()
    tkw = {k: getattr(torch, v) for k, v in kwargs.items()}
    want = getattr(TM, name)(torch.from_numpy(data), *args, mask=_torch(mask), **tkw)
    got = getattr(tg.masked, name)(tensor_on(data, device), *args, mask=tensor_on(mask, device),
                                   **{k: getattr(tg, v) for k, v in kwargs.items()})
    assert got.dtype == np.dtype(str(want.dtype).split(".")[1])
    np.testing.assert_allclose(host(got), want.numpy(), rtol=1e-6)


def test_mean_of_integers_needs_a_float_dtype(device):
    x = tensor_on(np.arange(6).reshape(2, 3), device)
    with pytest.raises(ValueError, match="Input dtype must be either a floating point"):
        tg.masked.mean(x)
    with pytest.raises(ValueError, match="Optional dtype must be either a floating point"):
        tg.masked.mean(x.to(tg.float32), dtype=tg.int64)
    assert host(tg.masked.mean(x, dtype=tg.float64)) == 2.5


# ---- masked-out elements: zero gradient, a masked inf or nan harms nothing ---------------------
POISONED = X.copy()
POISONED[~MASK] = np.where(np.arange((~MASK).sum()) % 3 == 0, np.inf,
                           np.where(np.arange((~MASK).sum()) % 3 == 1, -np.inf, np.nan))


@pytest.mark.parametrize("name", REDUCTIONS + NORMALIZATIONS + ["normalize", "median"])
def test_masked_inf_and_nan_give_no_nan_gradient(name, device):
    x = tensor_on(POISONED, device, requires_grad=True)
    m = tensor_on(MASK, device)
    args = (2.0, 2) if name in ("norm", "normalize") else (2,)
    out = getattr(tg.masked, name)(x, *args, mask=m)
    clean = getattr(tg.masked, name)(tensor_on(X, device), *args, mask=m)
    np.testing.assert_array_equal(host(out), host(clean))  # the masked values are never read
    cot = np.random.default_rng(7).standard_normal(tuple(out.shape))
    finite = np.isfinite(host(out))  # the rows of nan/inf (fully masked out) carry nothing
    out.backward(put(np.where(finite, cot, 0.0), device))
    g = host(x.grad)
    assert np.isfinite(g).all(), name
    assert (g[~MASK] == 0).all(), name
    # and the gradient at the masked-in elements is the one of the clean input
    xc = tensor_on(X, device, requires_grad=True)
    getattr(tg.masked, name)(xc, *args, mask=m).backward(put(np.where(finite, cot, 0.0), device))
    np.testing.assert_allclose(g, host(xc.grad), rtol=1e-12, atol=1e-15)


def test_masked_inf_gives_no_nan_forward_mode_tangent(device):
    m = tensor_on(MASK, device)
    for name in ("var", "logsumexp", "softmax", "prod"):
        def f(x, name=name):
            out = getattr(tg.masked, name)(x, 2, mask=m)
            return tg.where(tg.isfinite(out), out, 0.0)

        _, tangent = tg.func.jvp(f, (tensor_on(POISONED, device),),
                                 (tensor_on(np.ones(X.shape), device),))
        assert np.isfinite(host(tangent)).all(), name


# ---- derivatives to second order, both modes --------------------------------------------------
SMALL = np.random.default_rng(8).standard_normal((3, 4)) + 0.1
SMALL_MASK = np.array([[True, False, True, True], [False, True, True, False],
                       [True, True, False, True]])


@pytest.mark.parametrize("f", [
    lambda x, m: tg.masked.sum(x, 1, mask=m),
    lambda x, m: tg.masked.prod(x, (0, 1), mask=m),
    lambda x, m: tg.masked.mean(x, 0, keepdim=True, mask=m),
    lambda x, m: tg.masked.var(x, 1, mask=m),
    lambda x, m: tg.masked.std(x, 1, unbiased=False, mask=m),
    lambda x, m: tg.masked.norm(x, 3.0, 1, mask=m),
    lambda x, m: tg.masked.logsumexp(x, 1, mask=m),
    lambda x, m: tg.masked.amax(x, 1, mask=m),
    lambda x, m: tg.masked.softmax(x, 1, mask=m) * tg.masked.softmin(x, 1, mask=m),
    lambda x, m: tg.masked.normalize(x, 2.0, 1, mask=m),
    lambda x, m: tg.masked.cumprod(x, 1, mask=m),
    lambda x, m: tg.masked.logaddexp(x, tg.flip(x, (0,)), input_mask=m, other_mask=~m),
], ids=["sum", "prod", "mean", "var", "std", "norm", "logsumexp", "amax", "softmax_softmin",
        "normalize", "cumprod", "logaddexp"])
def test_derivatives_to_second_order_in_both_modes(f, device):
    m = tensor_on(SMALL_MASK, device)
    tg.check_grads(lambda x: f(x, m), modes=("fwd", "rev"), order=2)(put(SMALL, device))


def test_log_softmax_derivatives_on_its_finite_elements(device):
    m = tensor_on(SMALL_MASK, device)

    def f(x):
        out = tg.masked.log_softmax(x, 1, mask=m)
        return tg.where(m, out, 0.0)  # -inf at the masked-out elements

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(put(SMALL, device))


# ---- the namespace ------------------------------------------------------------------------------
NOT_PROVIDED = set()  # MaskedTensor and its factories too (tests/test_masked_tensor.py)


def test_names_and_signatures_are_torchs():
    import tensorgrad.masked as tm

    assert tg.masked is tm
    want = [n for n in TM.__all__ if n not in NOT_PROVIDED]
    assert sorted(tm.__all__) == sorted(want)
    assert NOT_PROVIDED <= set(TM.__all__)  # each exclusion names a real torch name
    for n in want:
        ours, theirs = inspect.signature(getattr(tm, n)), inspect.signature(getattr(TM, n))
        assert [(p.name, p.kind, p.default) for p in ours.parameters.values()] == \
            [(p.name, p.kind, p.default) for p in theirs.parameters.values()], n


def test_output_mask_helper_equals_torchs(device):
    """torch's OpInfo gradcheck wrappers call torch.masked._output_mask by name."""
    m = tensor_on(MASK, device)
    x = tensor_on(X, device)
    for name, args, kw in [("sum", (1,), {"keepdim": True}), ("norm", (2.0, (0, 2)), {}),
                           ("softmax", (0,), {}), ("median", (), {})]:
        got = tg.masked._output_mask(getattr(tg.masked, name), x, *args, mask=m, **kw)
        want = TM._output_mask(getattr(TM, name), _torch(X), *args, mask=_torch(MASK), **kw)
        np.testing.assert_array_equal(host(got), want.numpy())
