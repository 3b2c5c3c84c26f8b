"""F.layer_norm and nn.LayerNorm on every device: values and gradients against PyTorch CPU
(float32 and float64), derivatives to second order in both modes against finite differences,
the module's initialisation and repr, and the errors."""

import operator

import numpy as np
import pytest
from devices import host, on, put, torch_repr

import tensorgrad as tg

F = tg.nn.functional
TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-11, atol=1e-12)}

CASES = [  # input shape, normalized_shape, weight, bias
    ((4, 6), 6, True, True),
    ((2, 3, 5), (5,), True, False),
    ((2, 3, 5), [3, 5], False, True),
    ((3, 1), (1,), True, True),  # a single element: zero variance
    ((7,), (7,), False, False),
    ((2, 2, 3, 4), (2, 3, 4), True, True),
]
IDS = [f"c{i}" for i in range(len(CASES))]


def _torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,nshape,has_w,has_b", CASES, ids=IDS)
def test_layer_norm_matches_torch(device, shape, nshape, has_w, has_b, dtype, rng):
    torch = _torch()
    ns = (nshape,) if isinstance(nshape, int) else tuple(nshape)
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    w = rng.standard_normal(ns).astype(dtype)
    b = rng.standard_normal(ns).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    xt = tg.tensor(put(x, device), requires_grad=True)
    wt = tg.tensor(put(w, device), requires_grad=True) if has_w else None
    bt = tg.tensor(put(b, device), requires_grad=True) if has_b else None
    y = F.layer_norm(xt, nshape, wt, bt, eps=1e-5)
    assert on(y, device) and y.dtype == dtype and y.shape == shape
    (y * tg.tensor(put(g, device))).sum().backward()

    xr = torch.from_numpy(x.copy()).requires_grad_()
    wr = torch.from_numpy(w.copy()).requires_grad_() if has_w else None
    br = torch.from_numpy(b.copy()).requires_grad_() if has_b else None
    yr = torch.nn.functional.layer_norm(xr, ns, wr, br, eps=1e-5)
    (yr * torch.from_numpy(g)).sum().backward()
    tol = dict(TOL[dtype])
    if ns == (1,) and dtype == np.float32:
        # one element: x - mean is 0 here, while PyTorch's float32 mean leaves a rounding
        # residue that rstd = 1 / sqrt(eps) ~ 316 magnifies to ~1e-5
        tol["atol"] = 1e-4
    np.testing.assert_allclose(host(y), yr.detach().numpy(), **tol)
    np.testing.assert_allclose(host(xt.grad), xr.grad.numpy(), **tol)
    for mine, theirs in ((wt, wr), (bt, br)):
        if mine is not None:
            assert mine.grad.dtype == dtype and mine.grad.shape == ns
            np.testing.assert_allclose(host(mine.grad), theirs.grad.numpy(), **tol)


@pytest.mark.parametrize("shape,nshape,has_w,has_b", CASES[:3] + CASES[5:], ids=IDS[:3] + IDS[5:])
def test_layer_norm_check_grads_second_order(device, shape, nshape, has_w, has_b, rng):
    ns = (nshape,) if isinstance(nshape, int) else tuple(nshape)
    x = tg.tensor(put(rng.standard_normal(shape), device))
    w = tg.tensor(put(rng.standard_normal(ns), device))
    b = tg.tensor(put(rng.standard_normal(ns), device))
    c = tg.tensor(put(rng.standard_normal(shape), device))

    def f(x, w, b):
        y = F.layer_norm(x, nshape, w if has_w else None, b if has_b else None, eps=1e-3)
        return (F.tanh(y) * c).sum() + (y * y * y).sum() * 0.1

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(x, w, b)


def test_layer_norm_hessian_vector_product_matches_torch(device, rng):
    torch = _torch()
    x = rng.standard_normal((3, 4))
    w = rng.standard_normal(4)
    v = rng.standard_normal((3, 4))

    def f(z):
        return (F.layer_norm(z, 4, tg.tensor(put(w, device))) ** 3).sum()

    hv = tg.make_hvp(f)(tg.tensor(put(x, device)))[0](tg.tensor(put(v, device)))
    xr = torch.from_numpy(x.copy()).requires_grad_()
    (gr,) = torch.autograd.grad((torch.nn.functional.layer_norm(
        xr, (4,), torch.from_numpy(w)) ** 3).sum(), xr, create_graph=True)
    (hr,) = torch.autograd.grad((gr * torch.from_numpy(v)).sum(), xr)
    np.testing.assert_allclose(host(hv), hr.numpy(), rtol=1e-10, atol=1e-10)


def test_layer_norm_on_raw_arrays(device, rng):
    x = put(rng.standard_normal((2, 5)), device)
    y = F.layer_norm(x, 5)
    assert not isinstance(y, tg.Tensor) and on(y, device)
    np.testing.assert_allclose(host(y).mean(1), 0, atol=1e-12)
    np.testing.assert_allclose(host(y).var(1), 1, rtol=1e-4)
    # tg.grad of a plain function of arrays
    gw = tg.grad(lambda w: (F.layer_norm(x, 5, w) ** 2).sum())(put(np.ones(5), device))
    assert on(gw, device) and gw.shape == (5,)


def test_layer_norm_module_matches_torch(device, rng):
    torch = _torch()
    ln = tg.nn.LayerNorm((3, 4), eps=1e-6, dtype=np.float64).to(device)
    tl = torch.nn.LayerNorm((3, 4), eps=1e-6, dtype=torch.float64)
    assert [n for n, _ in ln.named_parameters()] == [n for n, _ in tl.named_parameters()]
    w = rng.standard_normal((3, 4))
    b = rng.standard_normal((3, 4))
    with torch.no_grad():
        tl.weight.copy_(torch.from_numpy(w))
        tl.bias.copy_(torch.from_numpy(b))
    ln.weight.data = put(w, device)
    ln.bias.data = put(b, device)
    x = rng.standard_normal((5, 3, 4))
    y = ln(tg.tensor(put(x, device)))
    yt = tl(torch.from_numpy(x))
    np.testing.assert_allclose(host(y), yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    y.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(host(ln.weight.grad), tl.weight.grad.numpy(), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(host(ln.bias.grad), tl.bias.grad.numpy(), rtol=1e-12)


def test_layer_norm_module_init_repr_and_options(device):
    torch = _torch()
    ln = tg.nn.LayerNorm(8, device=device)
    assert ln.normalized_shape == (8,) and ln.eps == 1e-5 and ln.elementwise_affine
    assert ln.weight.dtype == np.float32 and on(ln.weight, device) and on(ln.bias, device)
    np.testing.assert_array_equal(host(ln.weight), np.ones(8, np.float32))
    np.testing.assert_array_equal(host(ln.bias), np.zeros(8, np.float32))
    assert isinstance(ln.weight, tg.nn.Parameter) and ln.weight.requires_grad
    assert operator.eq(*torch_repr(ln, torch.nn.LayerNorm(8)))
    assert operator.eq(*torch_repr(tg.nn.LayerNorm((2, 3), bias=False),
                                   torch.nn.LayerNorm((2, 3), bias=False)))
    assert operator.eq(*torch_repr(tg.nn.LayerNorm(4, eps=1e-3, elementwise_affine=False),
                                   torch.nn.LayerNorm(4, eps=1e-3, elementwise_affine=False)))
    none = tg.nn.LayerNorm(4, elementwise_affine=False)
    assert none.weight is None and none.bias is None and list(none.parameters()) == []
    nob = tg.nn.LayerNorm(4, bias=False).to(device)
    assert nob.bias is None and len(list(nob.parameters())) == 1
    x = tg.tensor(put(np.arange(8.0).reshape(2, 4), device), requires_grad=True)
    y = nob(x.float())
    y.sum().backward()
    assert nob.weight.grad is not None and nob.weight.grad.shape == (4,)
    assert "LayerNorm" in repr(tg.nn.Sequential(tg.nn.Linear(4, 4), tg.nn.LayerNorm(4)))
    sd = tg.nn.LayerNorm(4).state_dict()
    assert sorted(sd) == ["bias", "weight"]


def test_layer_norm_errors_name_the_function_argument_and_shapes():
    x = tg.ones(2, 3, 4)
    with pytest.raises(ValueError, match=r"layer_norm.*normalized_shape=\(3,\).*\(2, 3, 4\)"):
        F.layer_norm(x, 3)
    with pytest.raises(ValueError, match=r"layer_norm.*normalized_shape=\(2, 3, 4, 5\)"):
        F.layer_norm(x, (2, 3, 4, 5))
    with pytest.raises(ValueError, match=r"layer_norm: weight.*\(4,\).*\(3,\)"):
        F.layer_norm(x, 4, weight=tg.ones(3))
    with pytest.raises(ValueError, match=r"layer_norm: bias.*\(3, 4\).*\(4,\)"):
        F.layer_norm(x, (3, 4), bias=tg.ones(4))
    with pytest.raises(ValueError, match="at least one dimension"):
        F.layer_norm(x, ())
    with pytest.raises(TypeError, match="layer_norm: normalized_shape"):
        F.layer_norm(x, 2.5j)
    with pytest.raises(ValueError, match=r"layer_norm.*\(5,\)"):
        tg.nn.LayerNorm(5)(x)


def test_layer_norm_constant_rows_and_float32_stay_float32(device):
    x = tg.tensor(put(np.full((2, 6), 3.0, np.float32), device), requires_grad=True)
    w = tg.tensor(put(np.ones(6, np.float32), device), requires_grad=True)
    y = F.layer_norm(x, 6, w)
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32 and w.grad.dtype == np.float32
    np.testing.assert_array_equal(host(y), 0)  # zero variance: (x - mean) * rsqrt(eps) = 0
    assert np.isfinite(host(x.grad)).all()
