"""Inputs PyTorch refuses (its OpInfo ``error_inputs``) that tensorgrad used to compute silently.

Each test makes one such mistake and checks the error type and a message naming the op and the
argument; beside each, the nearest valid call still works (the check refuses no more than
PyTorch's does).
"""

import math

import numpy as np
import pytest
from devices import host, tensor_on

import tensorgrad as tg
import tensorgrad.nn.functional as F


def _x(device, *shape, dtype=np.float32):
    return tensor_on(np.arange(math.prod(shape), dtype=dtype).reshape(shape), device)


# ---- arange -----------------------------------------------------------------------------------
@pytest.mark.parametrize("start,end,step", [(0, -3, 2), (0, 3, -2), (0.0, -1.5, 0.5),
                                            (1549556900, 1549556828, 1989724)])
def test_arange_step_sign_contradicts_bounds(device, start, end, step):
    with pytest.raises(RuntimeError, match=rf"arange\(\): upper bound {end} and lower bound "
                                           rf"{start} inconsistent with the sign of step"):
        tg.arange(start, end, step, device=device)


def test_arange_zero_step(device):
    with pytest.raises(RuntimeError, match=r"arange\(\): step must be nonzero"):
        tg.arange(0, 3, 0, device=device)


@pytest.mark.parametrize("start,end,step", [(2, 2, 1), (2, 2, -1), (0.5, 0.5, -0.25)])
def test_arange_empty_range_with_either_step_sign_stays_valid(device, start, end, step):
    assert tg.arange(start, end, step, device=device).shape == (0,)
    assert host(tg.arange(3, 0, -1, device=device)).tolist() == [3, 2, 1]


# ---- in-place random fills: their scalar parameters -------------------------------------------
@pytest.mark.parametrize("method,args,message", [
    ("cauchy_", (0, 0), r"cauchy_\(\): expects sigma > 0\.0, but found sigma=0"),
    ("cauchy_", (0, -1.0), r"cauchy_\(\): expects sigma > 0\.0, but found sigma=-1\.0"),
    ("exponential_", (0,), r"exponential_\(\): expects lambda > 0\.0, but found lambda=0"),
    ("geometric_", (-1,), r"geometric_\(\): expects p to be in \(0, 1\), but got p=-1"),
    ("geometric_", (1,), r"geometric_\(\): expects p to be in \(0, 1\), but got p=1"),
    ("log_normal_", (0, 0), r"log_normal_\(\): expects std > 0\.0, but found std=0"),
    ("normal_", (0, -1), r"normal_\(\): expects std >= 0\.0, but found std=-1"),
    ("uniform_", (3, -1), r"uniform_\(\): expects a \[from, to\) range, but found from=3 > "
                          r"to=-1"),
])
def test_random_fill_bad_parameter(device, method, args, message):
    t = tg.zeros(10, device=device)
    with pytest.raises(RuntimeError, match=message + r".*shape \(10,\)"):
        getattr(t, method)(*args)
    assert not host(t).any()  # refused before anything was written


@pytest.mark.parametrize("method,args", [("cauchy_", (0, 0.5)), ("exponential_", (2.0,)),
                                         ("geometric_", (0.5,)), ("log_normal_", (0, 0.5)),
                                         ("normal_", (0, 0)), ("uniform_", (3, 3))])
def test_random_fill_valid_parameters_still_fill(device, method, args):
    t = tg.zeros(10, device=device)
    assert getattr(t, method)(*args) is t
    assert np.isfinite(host(t)).all()


def test_random_fill_keyword_parameters_are_checked(device):
    t = tg.zeros(4, device=device)
    with pytest.raises(RuntimeError, match=r"exponential_\(\): expects lambda > 0"):
        t.exponential_(lambd=-2.0)
    with pytest.raises(RuntimeError, match=r"cauchy_\(\): expects sigma > 0"):
        t.cauchy_(sigma=0.0)


# ---- cov --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,w", [("fweights", np.array([1, 2, -3, 4, 5])),
                                    ("aweights", np.array([1.0, 2.0, 3.0, -4.0, 5.0]))])
def test_cov_negative_weights(device, name, w):
    x = _x(device, 5)
    with pytest.raises(RuntimeError, match=rf"cov\(\): {name} cannot be negative.*\(5,\)"):
        tg.cov(x, **{name: tensor_on(w, device)})
    ok = tg.cov(x, **{name: tensor_on(np.abs(w), device)})
    assert np.isfinite(host(ok)).all()


# ---- diff, gradient, isclose, movedim, narrow, renorm --------------------------------------------
def test_diff_negative_order(device):
    with pytest.raises(RuntimeError, match=r"diff\(\): order n must be non-negative, got -1.*"
                                           r"\(1, 3\)"):
        tg.diff(_x(device, 1, 3), -1)
    assert host(tg.diff(_x(device, 1, 3), 0)).tolist() == [[0, 1, 2]]


def test_gradient_repeated_dim(device):
    with pytest.raises(RuntimeError, match=r"gradient\(\): dim 1 appears multiple times in "
                                           r"dim \[1, -1\].*\(3, 3\)"):
        tg.gradient(_x(device, 3, 3), spacing=0.1, dim=[1, -1])  # -1 is 1 too
    assert len(tg.gradient(_x(device, 3, 3), spacing=0.1, dim=[0, 1])) == 2


@pytest.mark.parametrize("name", ["rtol", "atol"])
def test_isclose_negative_tolerance(device, name):
    x = _x(device, 2)
    with pytest.raises(RuntimeError, match=rf"isclose\(\): {name} must be greater than or equal "
                                           rf"to zero, got -0\.4"):
        tg.isclose(x, x, **{name: -0.4})
    assert host(tg.isclose(x, x, **{name: 0.0})).all()


def test_movedim_repeated_destination(device):
    x = _x(device, 2, 3, 4, 5, 6)
    with pytest.raises(RuntimeError, match=r"movedim\(\): repeated dim in destination "
                                           r"\[0, 4, -5\].*\(2, 3, 4, 5, 6\)"):
        tg.movedim(x, [1, 0, 2], [0, 4, -5])
    with pytest.raises(RuntimeError, match=r"movedim\(\): repeated dim in source \[1, -4\]"):
        tg.movedim(x, [1, -4], [0, 2])
    assert tg.movedim(x, [1, 0, 2], [0, 4, 3]).shape == (3, 5, 6, 4, 2)


@pytest.mark.parametrize("start", [np.array(True), np.array(1.0), np.array([1, 2])],
                         ids=["bool0d", "float0d", "int1d"])
def test_narrow_start_must_be_an_integral_0d_tensor(device, start):
    x = _x(device, 20, 10, 5)
    with pytest.raises(TypeError, match=r"narrow\(\): start must be an int or a 0-d integral "
                                        r"tensor"):
        tg.narrow(x, -3, tensor_on(start, device), 3)
    assert tg.narrow(x, -3, tensor_on(np.array(2), device), 3).shape == (3, 10, 5)


@pytest.mark.parametrize("shape", [(), (3,)])
def test_renorm_needs_two_dimensions(device, shape):
    x = tensor_on(np.ones(shape, np.float32), device)
    with pytest.raises(RuntimeError, match=rf"renorm\(\): input needs at least 2 dimensions, "
                                           rf"got {len(shape)} dimensions"):
        tg.renorm(x, 0.5, 0, 1.0)
    with pytest.raises(RuntimeError, match=r"renorm\(\)"):
        x.renorm(2, 0, 1.0)


# ---- mean with an integer dtype ---------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["int64", "int32", "bool"])
def test_mean_integer_dtype(device, dtype):
    x = _x(device, 3, 4, 5)
    with pytest.raises(RuntimeError, match=r"mean\(\): could not infer output dtype; dtype= "
                                           r"must be a floating point or complex dtype"):
        x.mean(dtype=getattr(tg, dtype))
    with pytest.raises(RuntimeError, match=r"mean\(\): could not infer output dtype"):
        tg.mean(x, [], dtype=getattr(tg, dtype))
    xi = _x(device, 3, dtype=np.int64)
    assert float(host(xi.mean(dtype=tg.float64))) == 1.0


# ---- linalg.cross ---------------------------------------------------------------------------
def test_cross_does_not_broadcast_the_vector_dim(device):
    a, b = _x(device, 5, 3), _x(device, 5, 1)
    with pytest.raises(ValueError, match=r"cross\(\): dim -1 must have size 3 in both inputs, "
                                         r"got shapes \(5, 3\) and \(5, 1\)"):
        tg.linalg.cross(a, b)
    with pytest.raises(ValueError, match=r"cross\(\): dim 1 must have size 3 in both"):
        tg.cross(a, b, dim=1)
    assert tg.linalg.cross(a, _x(device, 1, 3)).shape == (5, 3)  # broadcasting elsewhere


# ---- masked_fill with a value its dtype cannot hold ------------------------------------------
@pytest.mark.parametrize("dtype,value", [
    ("int64", 1j), ("int64", 1e30), ("int32", 2 ** 40), ("uint8", -1), ("uint8", 256),
    ("int64", float("nan")), ("int64", float("inf")), ("float32", 1j)])
def test_masked_fill_value_overflows_the_dtype(device, dtype, value):
    x = tensor_on(np.array([1, 1], dtype), device)
    m = tensor_on(np.array(False), device)
    match = rf"masked_fill\(\): value .* cannot be converted to the input's dtype {dtype} " \
            rf"without overflow"
    with pytest.raises(RuntimeError, match=match):
        x.masked_fill(m, value)
    with pytest.raises(RuntimeError, match=match):  # a 0-d tensor value too
        x.masked_fill(m, tensor_on(np.array(value), device))


@pytest.mark.filterwarnings("ignore")  # NumPy's ComplexWarning for 1+0j into a real dtype
@pytest.mark.parametrize("dtype,value,filled", [
    ("int64", 2.5, 2), ("int64", 1 + 0j, 1), ("int32", -2 ** 31, -2 ** 31), ("uint8", 255, 255),
    ("float32", 1e30, np.float32(1e30)), ("bool", 1j, True)])
def test_masked_fill_value_that_fits_is_cast(device, dtype, value, filled):
    x = tensor_on(np.array([1, 1], dtype), device)
    m = tensor_on(np.array([True, False]), device)
    for v in (value, tensor_on(np.array(value), device)):
        out = host(x.masked_fill(m, v))
        assert out.dtype == np.dtype(dtype) and out.tolist() == [filled, 1]


# ---- triplet_margin_loss --------------------------------------------------------------------
@pytest.mark.parametrize("margin", [-1.0, 0.0])
def test_triplet_margin_loss_margin_not_positive(device, margin):
    a = _x(device, 3, 4)
    with pytest.raises(ValueError, match=rf"triplet_margin_loss: margin must be greater than 0, "
                                         rf"got {margin}.*\(3, 4\)"):
        F.triplet_margin_loss(a, a, a, margin=margin)
    assert float(host(F.triplet_margin_loss(a, a, a, margin=0.5))) == pytest.approx(0.5)


# ---- max pooling of an input with an empty non-batch dimension ------------------------------
@pytest.mark.parametrize("fn,shape", [
    ("max_pool1d", (0, 10)), ("max_pool1d", (1, 10, 0)), ("max_pool1d", (1, 0, 4)),
    ("max_pool2d", (2, 1, 10, 0)), ("max_pool2d", (0, 4, 4)), ("max_pool3d", (0, 1, 2, 10)),
    ("max_pool3d", (1, 1, 0, 2, 2))])
@pytest.mark.parametrize("indices", [False, True])
def test_max_pool_empty_non_batch_dim(device, fn, shape, indices):
    x = tensor_on(np.zeros(shape, np.float32), device)
    with pytest.raises(ValueError, match=rf"{fn}.*non-batch dimensions have positive length, "
                                         rf"got shape {re_shape(shape)}"):
        getattr(F, fn)(x, kernel_size=1, return_indices=indices)


@pytest.mark.parametrize("fn,shape", [("max_pool1d", (0, 2, 4)), ("max_pool2d", (0, 2, 4, 4)),
                                      ("max_pool3d", (0, 1, 2, 2, 2))])
def test_max_pool_empty_batch_stays_valid(device, fn, shape):
    x = tensor_on(np.zeros(shape, np.float32), device)
    assert getattr(F, fn)(x, kernel_size=2).shape[:2] == shape[:2]


def re_shape(shape):
    return "\\(" + ", ".join(map(str, shape)) + (",\\)" if len(shape) == 1 else "\\)")


# ---- PyTorch refuses the same inputs ---------------------------------------------------------
def test_pytorch_refuses_these_inputs_too():
    torch = pytest.importorskip("torch")
    t = torch.zeros(10)
    calls = [lambda: torch.arange(0, -3, 2), lambda: t.cauchy_(0, 0),
             lambda: t.exponential_(0), lambda: t.geometric_(-1), lambda: t.log_normal_(0, 0),
             lambda: t.normal_(0, -1), lambda: t.uniform_(3, -1),
             lambda: torch.cov(t[:5], fweights=torch.tensor([1, 2, -3, 4, 5])),
             lambda: torch.diff(torch.zeros(1, 3), -1),
             lambda: torch.gradient(torch.zeros(3, 3), spacing=0.1, dim=[1, 1]),
             lambda: torch.isclose(t, t, rtol=-0.4),
             lambda: torch.movedim(torch.zeros(2, 3, 4, 5, 6), [1, 0, 2], [0, 4, -5]),
             lambda: torch.narrow(torch.zeros(20, 10, 5), -3, torch.tensor(True), 3),
             lambda: torch.renorm(torch.zeros(()), 0.5, 0, 1.0),
             lambda: torch.zeros(3, 4).mean(dtype=torch.int64),
             lambda: torch.linalg.cross(torch.zeros(5, 3), torch.zeros(5, 1)),
             lambda: torch.tensor([1, 1]).masked_fill(torch.tensor(False), 1e30),
             lambda: torch.nn.functional.triplet_margin_loss(t, t, t, margin=-1.0),
             lambda: torch.nn.functional.max_pool2d(torch.zeros(2, 1, 10, 0), 1)]
    for i, call in enumerate(calls):
        with pytest.raises((RuntimeError, ValueError)):
            call()
            pytest.fail(f"call {i} was accepted")
