"""More of PyTorch's top level (tensorgrad/torch_surface.py, torch_qr.py, _dtypes.py and the
default dtype of creation.py) against PyTorch: the names and their parameters, values and
gradients on every device, second derivatives against finite differences, and clear errors."""


import numpy as np
import pytest
from devices import (
    assert_takes_torchs_parameters,
    host,
    on,
    param_names,
    put,
    tensor_on,
    torch_oracle,
    torch_param_names,
)

import tensorgrad as tg

torch = torch_oracle()

_RNG = np.random.default_rng(11)


def A(*shape):
    return _RNG.standard_normal(shape)


# ---- the names -----------------------------------------------------------------------------
FUNCTIONS = (
    "as_tensor asarray logspace randint_like randperm normal bernoulli multinomial seed "
    "initial_seed inference_mode is_inference_mode_enabled get_default_dtype set_default_dtype "
    "unique bincount histc isin bitwise_and bitwise_or bitwise_xor bitwise_not cdist baddbmm "
    "addbmm addmv block_diag matrix_power xlogy cov corrcoef svd pinverse cholesky qr"
).split()
DTYPES = ("bool long half double float int short uint8 int8 int16 int32 int64 float16 float32 "
          "float64 complex64 complex128 cfloat cdouble").split()
CONSTANTS = "pi e inf nan newaxis".split()
METHODS = ("unique bincount histc baddbmm addbmm addmv pinverse svd qr cholesky bernoulli "
           "multinomial matrix_power xlogy cov corrcoef bitwise_and bitwise_or bitwise_xor "
           "bitwise_not new_tensor").split()
# PyTorch's arguments tensorgrad does not take: output buffers (generator= is taken:
# tests/test_generator.py; layout= and pin_memory= too: tensorgrad/_layouts.py)
_NOT_TAKEN = {"out"}
# arguments of PyTorch's other overloads (its docstring shows only the first)
_OVERLOADS = {"normal": {"size", "dtype", "layout", "device", "requires_grad"}, "bernoulli": {"p"}}


_params, _torch_params = param_names, torch_param_names  # also used by other test files


_UNIQUE_DOC = ["input", "sorted", "return_inverse", "return_counts", "dim"]  # torch.unique's docs


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_exists_in_both_with_pytorchs_parameters(name):
    ours, theirs = getattr(tg, name), getattr(torch, name)
    assert name in tg.__all__
    want = _UNIQUE_DOC if name == "unique" else _torch_params(theirs)
    # pin_memory=: PyTorch takes it at run time even where its docstring leaves it out
    assert_takes_torchs_parameters(name, ours, want, _NOT_TAKEN,
                                   set(_OVERLOADS.get(name, ())) | {"pin_memory"})


@pytest.mark.parametrize("name", DTYPES)
def test_dtype_names_are_numpy_dtypes_matching_pytorchs(name):
    ours = getattr(tg, name)
    assert isinstance(ours, tg.dtype)
    assert ours == np.dtype(str(getattr(torch, name)).removeprefix("torch."))
    assert tg.zeros(2, dtype=ours).dtype == ours


def test_dtype_is_a_type_for_isinstance_and_finfo_reads_it():
    assert tg.dtype is np.dtype
    assert isinstance(tg.ones(2).dtype, tg.dtype)
    assert tg.ones(2, dtype=tg.long).dtype == tg.int64
    assert tg.tensor([True]).dtype == tg.bool
    assert tg.finfo(tg.float32).eps == torch.finfo(torch.float32).eps
    assert tg.iinfo(tg.int32).max == torch.iinfo(torch.int32).max
    assert tg.ones(2).to(tg.double).dtype == tg.float64


def test_bfloat16_is_no_dtype():
    with pytest.raises(TypeError):
        tg.zeros(2, dtype=tg.bfloat16)
    assert not hasattr(tg, "complex32")


def test_constants():
    for name in CONSTANTS:
        assert getattr(tg, name) is getattr(torch, name) or getattr(tg, name) == getattr(
            torch, name) or np.isnan(getattr(tg, name))


@pytest.mark.parametrize("name", METHODS)
def test_tensor_methods_exist_in_both(name):
    assert hasattr(tg.Tensor, name) and hasattr(torch.Tensor, name)


def test_methods_are_the_functions(device):
    x = tensor_on(A(4, 3), device)
    i = tensor_on(np.array([0, 2, 2]), device)
    assert host(x.svd().S).tolist() == host(tg.svd(x).S).tolist()
    assert host(i.unique()).tolist() == [0, 2]
    assert host(i.bincount()).tolist() == [1, 0, 2]
    assert host(x.pinverse()).shape == (3, 4)


# ---- default dtype ---------------------------------------------------------------------------
def test_default_dtype_follows_pytorch(device):
    assert tg.get_default_dtype() == tg.float32
    tg.set_default_dtype(tg.float64)
    try:
        assert tg.get_default_dtype() == tg.float64
        assert tg.tensor([1.5]).dtype == tg.float64
        assert tg.tensor(1.5, device=device).dtype == tg.float64
        assert tg.tensor([1j]).dtype == tg.complex128
        assert tg.tensor([1, 2]).dtype == tg.int64  # integers are not affected
        assert tg.tensor(np.zeros(2, np.float32)).dtype == tg.float32  # arrays keep theirs
        for t in (tg.zeros(2, device=device), tg.ones(2), tg.rand(2, device=device),
                  tg.randn(2), tg.full((2,), 0.5), tg.arange(0.0, 2.0), tg.linspace(0, 1, 3),
                  tg.eye(2), tg.logspace(0, 1, 2), tg.as_tensor([0.5])):
            assert t.dtype == tg.float64
        assert tg.arange(3).dtype == tg.int64
        assert tg.tensor([1.5], dtype=tg.float32).dtype == tg.float32
        # the same value as PyTorch under its float64 default (not a float32 round trip)
        assert tg.tensor([0.1]).item() == 0.1
    finally:
        tg.set_default_dtype(tg.float32)
    assert tg.tensor([1.5]).dtype == tg.float32 and tg.zeros(1).dtype == tg.float32


def test_default_float16_draws(device):
    tg.set_default_dtype(tg.float16)
    try:
        for t in (tg.rand(3, device=device), tg.randn(3, device=device), tg.tensor([0.5])):
            assert t.dtype == tg.float16
        u = host(tg.rand(100, device=device))
        assert 0 <= u.min() and u.max() <= 1
    finally:
        tg.set_default_dtype(tg.float32)


def test_set_default_dtype_refuses_non_floats():
    with pytest.raises(TypeError, match="set_default_dtype.*int64"):
        tg.set_default_dtype(tg.int64)
    with pytest.raises(TypeError, match="set_default_dtype"):
        tg.set_default_dtype("cuda")
    assert tg.get_default_dtype() == tg.float32


# ---- conversion ------------------------------------------------------------------------------
def test_as_tensor_shares_where_nothing_changes(device):
    a = put(np.arange(3.0), device)
    t = tg.as_tensor(a)
    assert t.data is a and on(t, device)
    x = tg.ones(2, requires_grad=True)
    assert tg.as_tensor(x) is x
    y = tg.as_tensor(x, dtype=tg.float64)  # a cast keeps the history, as PyTorch's
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]
    assert tg.as_tensor([1.5, 2.0]).dtype == tg.float32
    assert tg.as_tensor(np.zeros(2, np.float32), dtype=tg.float64).dtype == tg.float64
    moved = tg.as_tensor(np.ones(2), device=device)
    assert on(moved, device) and host(moved).tolist() == [1.0, 1.0]


def test_asarray_copy_and_requires_grad(device):
    a = put(np.arange(3.0), device)
    assert tg.asarray(a).data is a
    c = tg.asarray(a, copy=True)
    assert c.data is not a and host(c).tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(ValueError, match="asarray.*copy=False.*float64"):
        tg.asarray(a, dtype=tg.float32, copy=False)
    with pytest.raises(ValueError, match="asarray.*copy=False"):
        tg.asarray([1.0], copy=False)
    x = tg.ones(2, requires_grad=True)
    assert tg.asarray(x) is x
    d = tg.asarray(x, requires_grad=False)
    assert not d.requires_grad and d.data is x.data
    leaf = tg.asarray([1.0, 2.0], requires_grad=True)
    assert leaf.requires_grad and leaf.is_leaf
    assert torch.asarray([1.5]).dtype == torch.float32 and tg.asarray([1.5]).dtype == tg.float32
    assert tg.asarray(np.float64(2.0)).dtype == tg.float64


# ---- factories and random draws ----------------------------------------------------------------
def test_logspace_matches_pytorch(device):
    for args, kw in (((0, 3, 4), {}), ((-1.0, 1.0, 5), {"base": 2.0}), ((1, 2, 1), {}),
                     ((0, 1, 0), {})):
        mine = tg.logspace(*args, dtype=tg.float64, device=device, **kw)
        theirs = torch.logspace(*args, dtype=torch.float64, **kw)
        assert on(mine, device)
        np.testing.assert_allclose(host(mine), theirs.numpy(), rtol=1e-12)
    assert tg.logspace(0, 1, 3).dtype == tg.float32
    assert tg.logspace(0, 1, 3, requires_grad=True).requires_grad


def test_randperm_randint_like_and_seeds(device):
    tg.manual_seed(3)
    p = tg.randperm(10, device=device)
    assert on(p, device) and p.dtype == tg.int64
    assert sorted(host(p).tolist()) == list(range(10))
    tg.manual_seed(3)
    assert host(tg.randperm(10, device=device)).tolist() == host(p).tolist()
    assert tg.initial_seed() == 3
    assert tg.randperm(5, dtype=tg.int32).dtype == tg.int32
    assert tg.randperm(0).shape == (0,)
    s = tg.seed()
    assert tg.initial_seed() == s and isinstance(s, int)
    x = tensor_on(np.zeros((3, 4), np.float32), device)
    r = tg.randint_like(x, 5)
    assert r.shape == (3, 4) and r.dtype == tg.float32 and on(r, device)
    v = host(r)
    assert (v >= 0).all() and (v < 5).all() and (v == np.round(v)).all()
    r2 = host(tg.randint_like(x, 3, 6, dtype=tg.int64))
    assert r2.dtype == np.int64 and r2.min() >= 3 and r2.max() <= 5
    with pytest.raises(ValueError, match="randint_like.*low < high"):
        tg.randint_like(x, 4, 2)
    with pytest.raises(ValueError, match="randperm.*n"):
        tg.randperm(-1)


def test_normal_overloads_and_statistics(device):
    tg.manual_seed(0)
    mean = tensor_on(np.full(20000, 3.0), device)
    s = tg.normal(mean, 2.0)
    assert on(s, device) and s.shape == (20000,)
    v = host(s)
    assert abs(v.mean() - 3.0) < 0.1 and abs(v.std() - 2.0) < 0.1
    s2 = host(tg.normal(0.0, tensor_on(np.full((2, 5000), 0.5), device)))
    assert s2.shape == (2, 5000) and abs(s2.std() - 0.5) < 0.05
    s3 = tg.normal(1.0, 0.0, (2, 3), device=device)
    assert host(s3).tolist() == [[1.0] * 3] * 2 and s3.dtype == tg.float32
    with pytest.raises(TypeError, match="normal.*size"):
        tg.normal(0.0, 1.0)
    with pytest.raises(ValueError, match="normal.*std"):
        tg.normal(0.0, -1.0, (2,))


def test_bernoulli_and_multinomial(device):
    tg.manual_seed(1)
    p = tensor_on(np.array([0.0, 1.0, 0.3] * 4000), device)
    b = host(tg.bernoulli(p))
    assert b.dtype == np.float64 and set(np.unique(b)) <= {0.0, 1.0}
    assert (b[0::3] == 0).all() and (b[1::3] == 1).all() and abs(b[2::3].mean() - 0.3) < 0.03
    w = tensor_on(np.array([[1.0, 0.0, 3.0], [0.0, 2.0, 2.0]]), device)
    draws = tg.multinomial(w, 4000, replacement=True)
    assert draws.dtype == tg.int64 and draws.shape == (2, 4000) and on(draws, device)
    d = host(draws)
    c0 = np.bincount(d[0], minlength=3) / 4000
    c1 = np.bincount(d[1], minlength=3) / 4000
    np.testing.assert_allclose(c0, [0.25, 0.0, 0.75], atol=0.03)
    np.testing.assert_allclose(c1, [0.0, 0.5, 0.5], atol=0.03)
    once = host(tg.multinomial(tensor_on(np.array([1.0, 5.0, 0.0, 2.0]), device), 3))
    assert sorted(once.tolist()) == [0, 1, 3]  # each nonzero index once, the zero never
    firsts = [host(tg.multinomial(tensor_on(np.array([1.0, 9.0]), device), 1))[0]
              for _ in range(400)]
    assert 0.85 < np.mean(firsts) < 0.95  # P(first draw = 1) = 0.9
    with pytest.raises(ValueError, match="multinomial.*non-negative"):
        tg.multinomial(tensor_on(np.array([1.0, -1.0]), device), 1)
    with pytest.raises(ValueError, match="multinomial.*num_samples"):
        tg.multinomial(tensor_on(np.array([1.0, 1.0]), device), 3)
    with pytest.raises(ValueError, match="multinomial.*shape"):
        tg.multinomial(tensor_on(np.ones((2, 2, 2)), device), 1)


# ---- inference mode --------------------------------------------------------------------------
def test_inference_mode_as_context_and_decorator():
    x = tg.ones(2, requires_grad=True)
    assert not tg.is_inference_mode_enabled()
    with tg.inference_mode():
        assert tg.is_inference_mode_enabled() and not tg.is_grad_enabled()
        assert not (x * 2).requires_grad
    assert tg.is_grad_enabled() and not tg.is_inference_mode_enabled()
    with tg.inference_mode(False):
        assert (x * 2).requires_grad and not tg.is_inference_mode_enabled()

    @tg.inference_mode
    def bare():
        return (x * 2).requires_grad, tg.is_inference_mode_enabled()

    @tg.inference_mode()
    def called():
        return (x * 2).requires_grad

    assert bare() == (False, True) and called() is False
    assert (x * 2).requires_grad
    with pytest.raises(KeyError):
        with tg.inference_mode():
            raise KeyError("restored on errors too")
    assert tg.is_grad_enabled() and not tg.is_inference_mode_enabled()


# ---- counting and sets -----------------------------------------------------------------------
UNIQUE_CASES = [
    (np.array([3, 1, 2, 3, 1, 1]), None),
    (np.array([[1, 2], [1, 2], [0, 5]]), None),
    (np.array([[1, 2], [1, 2], [0, 5]]), 0),
    (np.array([[1, 2, 1], [3, 4, 3]]), 1),
    (np.array([[[1, 2], [1, 2]], [[0, 0], [1, 2]]]), -1),
    (np.array([2.5, np.inf, -1.0, 2.5]), None),
    (np.zeros(0, np.int64), None),
]


@pytest.mark.parametrize("data,dim", UNIQUE_CASES)
def test_unique_matches_pytorch(device, data, dim):
    x = tensor_on(data, device)
    mine = tg.unique(x, sorted=True, return_inverse=True, return_counts=True, dim=dim)
    theirs = torch.unique(torch.tensor(data), sorted=True, return_inverse=True,
                          return_counts=True, dim=dim)
    for m, t in zip(mine, theirs):
        assert on(m, device)
        assert host(m).shape == tuple(t.shape)
        np.testing.assert_array_equal(host(m), t.numpy())
    only = tg.unique(x, dim=dim)
    assert isinstance(only, tg.Tensor)
    np.testing.assert_array_equal(host(only), theirs[0].numpy())
    pair = tg.unique(x, return_counts=True, dim=dim)
    assert len(pair) == 2
    np.testing.assert_array_equal(host(pair[1]), theirs[2].numpy())


def test_bincount_matches_pytorch(device):
    data = np.array([0, 1, 1, 3, 7, 3])
    x = tensor_on(data, device)
    np.testing.assert_array_equal(host(tg.bincount(x)), torch.bincount(torch.tensor(data)))
    np.testing.assert_array_equal(host(tg.bincount(x, minlength=10)),
                                  torch.bincount(torch.tensor(data), minlength=10))
    assert host(tg.bincount(tensor_on(np.zeros(0, np.int64), device), minlength=2)).tolist() \
        == [0, 0]
    iw = np.array([1, 2, 3, 4, 5, 6])
    mine = tg.bincount(x, tensor_on(iw, device))
    theirs = torch.bincount(torch.tensor(data), torch.tensor(iw))
    assert mine.dtype == tg.float64 and theirs.dtype == torch.float64
    np.testing.assert_allclose(host(mine), theirs.numpy())
    w = A(6)
    wm = tensor_on(w, device, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    out_m = tg.bincount(x, wm, minlength=9)
    out_t = torch.bincount(torch.tensor(data), wt, minlength=9)
    np.testing.assert_allclose(host(out_m), out_t.detach().numpy(), rtol=1e-12)
    g = A(9)
    (out_m * tensor_on(g, device)).sum().backward()
    # PyTorch marks the result as requiring grad, but its backward raises ("derivative for
    # aten::bincount is not implemented"); tensorgrad's is the exact gradient g[input]
    with pytest.raises(RuntimeError, match="bincount"):
        (out_t * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(host(wm.grad), g[data], rtol=1e-12)
    with pytest.raises(ValueError, match=r"bincount\(\).*1-D integer.*\(2, 2\)"):
        tg.bincount(tensor_on(np.zeros((2, 2), np.int64), device))
    with pytest.raises(ValueError, match=r"bincount\(\).*non-negative"):
        tg.bincount(tensor_on(np.array([1, -1]), device))
    with pytest.raises(ValueError, match=r"bincount\(\): weights.*\(3,\).*\(2,\)"):
        tg.bincount(x[:3], tensor_on(np.ones(2), device))


def test_histc_matches_pytorch(device):
    data = A(200)
    x = tensor_on(data, device)
    for kw in ({}, {"bins": 7}, {"bins": 5, "min": -1.0, "max": 1.0}, {"bins": 3, "min": 0,
                                                                         "max": 0}):
        mine = tg.histc(x, **kw)
        theirs = torch.histc(torch.tensor(data), **kw)
        assert on(mine, device) and mine.dtype == tg.float64
        np.testing.assert_array_equal(host(mine), theirs.numpy())
    edges = np.array([0.0, 1.0, 2.0, 3.0, 3.0, -0.5, 3.5])
    np.testing.assert_array_equal(host(tg.histc(tensor_on(edges, device), 3, 0, 3)),
                                  torch.histc(torch.tensor(edges), 3, 0, 3).numpy())
    same = np.array([2.0, 2.0])
    np.testing.assert_array_equal(host(tg.histc(tensor_on(same, device), 4)),
                                  torch.histc(torch.tensor(same), 4).numpy())
    with pytest.raises(TypeError, match=r"histc\(\).*floating.*int64"):
        tg.histc(tensor_on(np.array([1, 2]), device))
    with pytest.raises(ValueError, match=r"histc\(\).*max.*min"):
        tg.histc(x, 4, 2.0, 1.0)


def test_isin_and_bitwise_match_pytorch(device):
    a, b = np.array([1, 2, 3, 4]), np.array([2, 4, 9])
    for kw in ({}, {"invert": True}):
        np.testing.assert_array_equal(
            host(tg.isin(tensor_on(a, device), tensor_on(b, device), **kw)),
            torch.isin(torch.tensor(a), torch.tensor(b), **kw).numpy())
    np.testing.assert_array_equal(host(tg.isin(tensor_on(a, device), 3)),
                                  torch.isin(torch.tensor(a), 3).numpy())
    np.testing.assert_array_equal(host(tg.isin(2, tensor_on(b, device))), np.array(True))
    i, j = np.array([5, 3, 12]), np.array([6, 1, 10])
    for name in ("bitwise_and", "bitwise_or", "bitwise_xor"):
        mine = getattr(tg, name)(tensor_on(i, device), tensor_on(j, device))
        np.testing.assert_array_equal(host(mine),
                                      getattr(torch, name)(torch.tensor(i), torch.tensor(j)))
        np.testing.assert_array_equal(host(getattr(tensor_on(i, device), name)(3)),
                                      getattr(torch, name)(torch.tensor(i), 3).numpy())
    np.testing.assert_array_equal(host(tg.bitwise_not(tensor_on(i, device))),
                                  torch.bitwise_not(torch.tensor(i)).numpy())
    m = np.array([True, False])
    assert host(tg.bitwise_not(tensor_on(m, device))).tolist() == [False, True]
    with pytest.raises(TypeError, match=r"bitwise_and\(\).*float64"):
        tg.bitwise_and(tensor_on(A(2), device), 1)


# ---- differentiable functions against PyTorch -----------------------------------------------
def _compare(device, tg_fn, torch_fn, arrays, rtol=1e-9, atol=1e-12, grad=True):
    """Values of tg_fn(*tensors) and torch_fn(*tensors) (one tensor or a tuple), and the
    gradients of sum(out_i * w_i) for fixed random w_i."""
    mine_in = [tensor_on(a, device, requires_grad=grad) for a in arrays]
    theirs_in = [torch.tensor(a, requires_grad=grad) for a in arrays]
    mine, theirs = tg_fn(*mine_in), torch_fn(*theirs_in)
    mine = mine if isinstance(mine, tuple) else (mine,)
    theirs = theirs if isinstance(theirs, tuple) else (theirs,)
    assert len(mine) == len(theirs)
    loss_m, loss_t = 0, 0
    for m, t in zip(mine, theirs):
        assert on(m, device)
        assert host(m).shape == tuple(t.shape)
        np.testing.assert_allclose(host(m), t.detach().numpy(), rtol=rtol, atol=atol)
        if grad and t.requires_grad:
            w = _RNG.standard_normal(tuple(t.shape))
            loss_m = loss_m + (m * tensor_on(w, device)).sum()
            loss_t = loss_t + (t * torch.tensor(w)).sum()
    if not grad:
        return
    loss_m.backward()
    loss_t.backward()
    for m, t in zip(mine_in, theirs_in):
        np.testing.assert_allclose(host(m.grad), t.grad.numpy(), rtol=rtol, atol=atol)


CDIST = [
    ("p2", (A(4, 3), A(5, 3)), {}),
    ("p1", (A(4, 3), A(5, 3)), {"p": 1.0}),
    ("p3", (A(2, 4, 3), A(2, 5, 3)), {"p": 3.0}),
    ("p_half", (A(4, 3), A(2, 3)), {"p": 0.5}),
    ("inf", (A(4, 3), A(5, 3)), {"p": float("inf")}),
    ("broadcast_batch", (A(2, 3, 4), A(5, 4)), {}),
    ("p0", (A(4, 3), A(5, 3)), {"p": 0.0}),  # no history (PyTorch's gradient is 0)
]


@pytest.mark.parametrize("name,arrays,kw", CDIST, ids=[c[0] for c in CDIST])
def test_cdist_matches_pytorch(device, name, arrays, kw):
    _compare(device, lambda a, b: tg.cdist(a, b, **kw), lambda a, b: torch.cdist(a, b, **kw),
             arrays, grad=kw.get("p") != 0.0)


def test_cdist_at_zero_distance_has_pytorchs_zero_gradient(device):
    a = np.array([[0.0, 0.0], [3.0, 4.0]])
    _compare(device, lambda x: tg.cdist(x, x), lambda x: torch.cdist(x, x), [a])
    x = tensor_on(a, device, requires_grad=True)
    tg.cdist(x, x).sum().backward()
    assert np.isfinite(host(x.grad)).all()


def test_cdist_errors_name_function_and_shapes(device):
    with pytest.raises(ValueError, match=r"cdist\(\).*\(4, 3\) and \(5, 2\)"):
        tg.cdist(tensor_on(A(4, 3), device), tensor_on(A(5, 2), device))
    with pytest.raises(ValueError, match=r"cdist\(\).*\(3,\)"):
        tg.cdist(tensor_on(A(3), device), tensor_on(A(5, 3), device))
    with pytest.raises(ValueError, match=r"cdist\(\): p"):
        tg.cdist(tensor_on(A(4, 3), device), tensor_on(A(5, 3), device), p=-1)
    with pytest.raises(ValueError, match=r"cdist\(\): batch dims.*\(2, 4, 3\).*\(3, 5, 3\)"):
        tg.cdist(tensor_on(A(2, 4, 3), device), tensor_on(A(3, 5, 3), device))


PRODUCTS = [
    ("baddbmm", lambda i, a, b: tg.baddbmm(i, a, b), lambda i, a, b: torch.baddbmm(i, a, b),
     (A(2, 3, 4), A(2, 3, 5), A(2, 5, 4))),
    ("baddbmm_scaled_broadcast", lambda i, a, b: tg.baddbmm(i, a, b, beta=0.5, alpha=2.0),
     lambda i, a, b: torch.baddbmm(i, a, b, beta=0.5, alpha=2.0),
     (A(3, 4), A(2, 3, 5), A(2, 5, 4))),
    ("baddbmm_method", lambda i, a, b: i.baddbmm(a, b, alpha=-1.0),
     lambda i, a, b: i.baddbmm(a, b, alpha=-1.0), (A(2, 3, 4), A(2, 3, 5), A(2, 5, 4))),
    ("addbmm", lambda i, a, b: tg.addbmm(i, a, b, beta=2.0),
     lambda i, a, b: torch.addbmm(i, a, b, beta=2.0), (A(3, 4), A(2, 3, 5), A(2, 5, 4))),
    ("addmv", lambda i, a, b: tg.addmv(i, a, b, alpha=3.0),
     lambda i, a, b: torch.addmv(i, a, b, alpha=3.0), (A(3), A(3, 5), A(5))),
    ("block_diag", lambda a, b, c: tg.block_diag(a, b, c),
     lambda a, b, c: torch.block_diag(a, b, c), (A(), A(3), A(2, 2))),
    ("matrix_power3", lambda a: tg.matrix_power(a, 3), lambda a: torch.matrix_power(a, 3),
     (A(2, 3, 3),)),
    ("matrix_power_neg", lambda a: a.matrix_power(-2), lambda a: a.matrix_power(-2),
     (A(3, 3) + 3 * np.eye(3),)),
    ("xlogy", tg.xlogy, torch.xlogy,
     (np.array([0.0, 1.5, 2.0, 0.0, 0.0]), np.array([1.0, 2.0, 0.5, 3.0, -1.0]))),
    ("xlogy_scalar", lambda x: tg.xlogy(x, 2.0), lambda x: torch.xlogy(x, 2.0), (A(3),)),
    ("cov", lambda x: tg.cov(x), torch.cov, (A(3, 6),)),
    ("cov_1d_correction0", lambda x: tg.cov(x, correction=0),
     lambda x: torch.cov(x, correction=0), (A(6),)),
    ("cov_weights", lambda x, a: tg.cov(x, fweights=tg.tensor([1, 2, 1, 3, 1], device=x.device),
                                        aweights=a),
     lambda x, a: torch.cov(x, fweights=torch.tensor([1, 2, 1, 3, 1]), aweights=a),
     (A(2, 5), _RNG.uniform(0.5, 2, 5))),
    ("corrcoef", tg.corrcoef, torch.corrcoef, (A(3, 7),)),
    ("cov_one_row", tg.cov, torch.cov, (A(1, 5),)),
    ("corrcoef_one_row", lambda x: tg.corrcoef(x) * x.sum(), lambda x: torch.corrcoef(x) * x.sum(),
     (A(1, 5),)),
    ("pinverse", tg.pinverse, torch.pinverse, (A(4, 3),)),
    ("pinverse_batched_wide", tg.pinverse, torch.pinverse, (A(2, 2, 5),)),
]


@pytest.mark.parametrize("name,fn,tfn,arrays", PRODUCTS, ids=[p[0] for p in PRODUCTS])
def test_differentiable_functions_match_pytorch(device, name, fn, tfn, arrays):
    _compare(device, fn, tfn, arrays, rtol=1e-8, atol=1e-10)


def test_xlogy_at_zero_zero_is_zero_without_nan_gradients(device):
    x = tensor_on(np.array([0.0, 0.0]), device, requires_grad=True)
    y = tensor_on(np.array([0.0, np.nan]), device, requires_grad=True)
    out = tg.xlogy(x, y)
    assert host(out)[0] == 0.0 and np.isnan(host(out)[1])  # PyTorch's values
    out[0].backward()
    # PyTorch's gradient with respect to other is 0/0 = NaN here; tensorgrad's is 0
    assert host(x.grad).tolist()[0] == 0.0 and host(y.grad).tolist()[0] == 0.0


def test_baddbmm_beta_zero_ignores_nan_input(device):
    i = tensor_on(np.full((2, 3, 4), np.nan), device)
    a, b = tensor_on(A(2, 3, 5), device), tensor_on(A(2, 5, 4), device)
    assert np.isfinite(host(tg.baddbmm(i, a, b, beta=0))).all()
    with pytest.raises(ValueError, match=r"baddbmm\(\): input of shape \(3, 3\).*\(2, 3, 4\)"):
        tg.baddbmm(tensor_on(A(3, 3), device), a, b)
    with pytest.raises(ValueError, match=r"bmm\(\).*\(2, 3, 5\) and \(2, 4, 4\)"):
        tg.baddbmm(tensor_on(A(2, 3, 4), device), a, tensor_on(A(2, 4, 4), device))


def _spd(*batch, n=3):
    m = A(*batch, n, n)
    return m @ np.swapaxes(m, -1, -2) + n * np.eye(n)


@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_matches_pytorch(device, upper):
    _compare(device, lambda a: tg.cholesky(a, upper=upper),
             lambda a: torch.cholesky(a, upper=upper), (_spd(2),), rtol=1e-8, atol=1e-10)
    x = tensor_on(_spd(), device)
    np.testing.assert_allclose(host(x.cholesky(upper)), host(tg.cholesky(x, upper)))


def _svd_loss(lib):
    """A function of torch.svd's factors that does not depend on their signs."""
    def f(a, w1, w2, w3):
        u, s, v = lib.svd(a)
        recon = (u * s.unsqueeze(-2)) @ v.transpose(-2, -1)
        proj_u = u @ u.transpose(-2, -1)
        proj_v = v @ v.transpose(-2, -1)
        return (recon * w1).sum() + (proj_u * w2).sum() + (s ** 3).sum() + (proj_v * w3).sum()

    return f


@pytest.mark.parametrize("shape", [(4, 3), (3, 5), (2, 3, 3)])
def test_svd_matches_pytorch(device, shape):
    a = A(*shape)
    for some in (True, False):
        mine = tg.svd(tensor_on(a, device), some=some)
        theirs = torch.svd(torch.tensor(a), some=some)
        for m, t in zip(mine, theirs):
            assert host(m).shape == tuple(t.shape)
        np.testing.assert_allclose(host(mine.S), theirs.S.numpy(), rtol=1e-10)
        u, s, v = (host(m) for m in mine)
        k = s.shape[-1]
        np.testing.assert_allclose((u[..., :, :k] * s[..., None, :]) @ np.swapaxes(
            v[..., :, :k], -1, -2), a, atol=1e-10)  # V, not V^H
        np.testing.assert_allclose(np.abs(v[..., :, :k]), np.abs(theirs.V.numpy()[..., :, :k]),
                                   atol=1e-8)  # the rest: any basis of the complement
    ws = A(*shape), A(*shape[:-1], shape[-2]), A(*shape[:-2], shape[-1], shape[-1])
    _compare(device, lambda x: _svd_loss(tg)(x, *(tensor_on(w, device) for w in ws)),
             lambda x: _svd_loss(torch)(x, *(torch.tensor(w) for w in ws)), (a,),
             rtol=1e-7, atol=1e-9)


def test_svd_without_uv_gives_zero_factors(device):
    a = A(2, 4, 3)
    mine = tg.svd(tensor_on(a, device, requires_grad=True), compute_uv=False)
    theirs = torch.svd(torch.tensor(a), compute_uv=False)
    for m, t in zip(mine, theirs):
        assert host(m).shape == tuple(t.shape)
        np.testing.assert_allclose(host(m), t.numpy(), rtol=1e-10, atol=1e-12)
    mine.S.sum().backward()  # S keeps its derivative


@pytest.mark.parametrize("shape", [(5, 3), (3, 3), (3, 5), (2, 4, 2)])
@pytest.mark.parametrize("some", [True, False])
def test_qr_matches_pytorch(device, shape, some):
    a = A(*shape)
    tall_complete = not some and shape[-2] > shape[-1]
    mine = tg.qr(tensor_on(a, device), some=some)
    theirs = torch.linalg.qr(torch.tensor(a), "reduced" if some else "complete")
    for m, t in zip(mine, theirs):
        assert on(m, device) and host(m).shape == tuple(t.shape)
        np.testing.assert_allclose(host(m), t.numpy(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(host(mine.Q @ mine.R), a, atol=1e-12)
    if tall_complete:
        x = tensor_on(a, device, requires_grad=True)
        q, r = tg.qr(x, some=False)
        with pytest.raises(NotImplementedError, match="qr.*complete.*some=True"):
            (q.sum() + r.sum()).backward()
        return
    _compare(device, lambda x: tuple(tg.qr(x, some=some)),
             lambda x: tuple(torch.linalg.qr(x, "reduced" if some else "complete")), (a,),
             rtol=1e-7, atol=1e-9)


def test_qr_and_svd_name_their_errors(device):
    with pytest.raises(ValueError, match=r"qr\(\).*\(3,\)"):
        tg.qr(tensor_on(A(3), device))
    with pytest.raises(ValueError, match=r"svd\(\).*\(3,\)"):
        tg.svd(tensor_on(A(3), device))
    with pytest.raises(ValueError, match=r"cholesky\(\).*\(2, 3\)"):
        tg.cholesky(tensor_on(A(2, 3), device))
    with pytest.raises(TypeError, match=r"pinverse\(\).*int64"):
        tg.pinverse(tensor_on(np.ones((2, 2), np.int64), device))
    with pytest.raises(ValueError, match=r"matrix_power\(\).*\(2, 3\)"):
        tg.matrix_power(tensor_on(A(2, 3), device), 2)
    with pytest.raises(ValueError, match=r"block_diag\(\): tensors\[1\].*\(1, 2, 2\)"):
        tg.block_diag(tensor_on(A(2), device), tensor_on(A(1, 2, 2), device))
    with pytest.raises(ValueError, match=r"cov\(\): aweights.*4.*\(3,\)"):
        tg.cov(tensor_on(A(2, 4), device), aweights=tensor_on(A(3), device))


# ---- second derivatives against finite differences (float64) ------------------------------------
SECOND_ORDER = [
    ("cdist_p2", lambda a, b: tg.cdist(a, b), [A(3, 2), A(4, 2)]),
    ("cdist_p1.5_batched", lambda a, b: tg.cdist(a, b, p=1.5), [A(2, 3, 2), A(2, 2, 2)]),
    ("cdist_inf", lambda a, b: tg.cdist(a, b, p=float("inf")), [A(3, 2), A(2, 2)]),
    ("baddbmm", lambda i, a, b: tg.baddbmm(i, a, b, beta=0.5, alpha=2.0),
     [A(2, 2, 3), A(2, 2, 4), A(2, 4, 3)]),
    ("addbmm", lambda i, a, b: tg.addbmm(i, a, b), [A(2, 3), A(2, 2, 4), A(2, 4, 3)]),
    ("addmv", lambda i, a, b: tg.addmv(i, a, b), [A(2), A(2, 3), A(3)]),
    ("bincount_weights", lambda w, i: tg.bincount(i, w) ** 2, [A(4), np.array([0, 2, 2, 1])]),
    ("block_diag", lambda a, b: tg.block_diag(a, b) ** 2, [A(2), A(2, 2)]),
    ("matrix_power", lambda a: tg.matrix_power(a, 3), [A(3, 3)]),
    ("xlogy", lambda x, y: tg.xlogy(x, y), [A(3), _RNG.uniform(0.5, 2, 3)]),
    ("cov_aweights", lambda x, a: tg.cov(x, aweights=a), [A(2, 4), _RNG.uniform(0.5, 2, 4)]),
    ("corrcoef", tg.corrcoef, [A(2, 5)]),
    ("pinverse", tg.pinverse, [A(4, 3)]),
    ("svd", _svd_loss(tg), [A(4, 3), A(4, 3), A(4, 4), A(3, 3)]),
    ("svd_full", lambda a: tg.svd(a, some=False).S ** 2, [A(4, 3)]),
    ("cholesky", lambda a: tg.cholesky(a + tg.transpose(a, -2, -1), upper=True), [_spd(2)]),
    ("qr_tall", lambda a: tg.qr(a), [A(4, 3)]),
    ("qr_square_batched", lambda a: tg.qr(a), [A(2, 3, 3)]),
    ("qr_wide", lambda a: tg.qr(a), [A(2, 4)]),
    ("qr_complete_wide", lambda a: tg.qr(a, some=False), [A(2, 3)]),
    ("as_tensor_cast", lambda a: tg.as_tensor(a, dtype=tg.float64) * a, [A(3)]),
]


@pytest.mark.parametrize("name,fn,arrays", SECOND_ORDER, ids=[s[0] for s in SECOND_ORDER])
def test_second_derivatives_match_finite_differences(device, name, fn, arrays):
    argnum = 0 if name in ("bincount_weights", "svd") else None  # the others are constants
    tg.check_grads(fn, modes=("fwd", "rev"), order=2, argnum=argnum)(*put(arrays, device))


def test_qr_of_complex_input_gives_values_and_derivatives(device):
    a = A(3, 2) + 1j * A(3, 2)
    q, r = tg.qr(tensor_on(a, device))
    tq, tr = torch.linalg.qr(torch.tensor(a))
    np.testing.assert_allclose(host(q), tq.numpy(), atol=1e-10)
    np.testing.assert_allclose(host(r), tr.numpy(), atol=1e-10)
    x = tensor_on(a, device, requires_grad=True)
    (tg.qr(x).R.abs().sum() + tg.qr(x).Q.imag.sum()).backward()
    xt = torch.tensor(a, requires_grad=True)
    (torch.linalg.qr(xt).R.abs().sum() + torch.linalg.qr(xt).Q.imag.sum()).backward()
    np.testing.assert_allclose(host(x.grad), xt.grad.numpy(), atol=1e-10)


def test_gradient_checks_reject_a_wrong_qr_rule():
    """The finite-difference check above would notice a wrong rule: R's gradient with its
    sign flipped fails it."""
    from tensorgrad import torch_qr

    good = torch_qr._qr_vjp

    def flipped(g, ans, a, mode="reduced"):
        return -good(g, ans, a, mode)

    from tensorgrad.ops.registry import defvjp

    defvjp(torch_qr.qr_packed, flipped)
    try:
        with pytest.raises(AssertionError):
            tg.check_grads(lambda a: tg.qr(a).R, modes=("rev",), order=1)(A(3, 2))
    finally:
        defvjp(torch_qr.qr_packed, good)
    tg.check_grads(lambda a: tg.qr(a).R, modes=("rev",), order=1)(A(3, 2))


def test_counting_results_have_no_history():
    x = tg.tensor([1.0, 1.0, 2.0], requires_grad=True)
    assert not tg.unique(x).requires_grad
    assert not tg.histc(x, 3).requires_grad
    assert not tg.bernoulli(x * 0.5).requires_grad
