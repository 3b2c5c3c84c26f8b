"""elu, selu and celu as one primitive (tensorgrad/nn/functional.py: _elu) on float32/float64.

* values bit for bit the composition's (where, expm1 of the negative part, the scale), special
  values included, and PyTorch's;
* first derivatives from the primitive's own rule equal to the composition's, PyTorch's at 0;
* second order in both modes (finite differences), and create_graph through the composition;
* float16 keeps the composition; the cuda device gives the CPU's values.
"""

import numpy as np
import pytest
from devices import close_to_torch, host, put, torch_oracle

import tensorgrad as tg
from tensorgrad.nn import _functional_more as _more
from tensorgrad.nn import functional as F

SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 1e-30, -1e-30, -80.0, 80.0])
FORMS = {"elu": (lambda x: F.elu(x), lambda t, x: t.nn.functional.elu(x), (1.0, 1.0, 1.0)),
         "elu2": (lambda x: F.elu(x, 2.0), lambda t, x: t.nn.functional.elu(x, 2.0),
                  (2.0, 1.0, 1.0)),
         "selu": (F.selu, lambda t, x: t.nn.functional.selu(x),
                  (_more._SELU_ALPHA, _more._SELU_SCALE, 1.0)),
         "celu": (lambda x: F.celu(x, 0.5), lambda t, x: t.nn.functional.celu(x, 0.5),
                  (0.5, 1.0, 0.5))}


def _data(rng, dtype):
    return np.concatenate([SPECIAL, rng.standard_normal(200) * 4]).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("form", list(FORMS))
def test_values_are_the_composition_and_torchs(rng, form, dtype):
    ours, theirs, params = FORMS[form]
    x = _data(rng, dtype)
    y = ours(tg.tensor(x))
    ref = F._elu_composed(tg.tensor(x), *params)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y.numpy(), ref.numpy())
    torch = torch_oracle()
    close_to_torch(y, theirs(torch, torch.tensor(x)), rtol=2e-7 if dtype == np.float32 else 1e-15,
                   atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("form", list(FORMS))
def test_first_derivative_is_the_composition_and_torchs(rng, form, dtype):
    ours, theirs, params = FORMS[form]
    x = _data(rng, dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    xt = tg.tensor(x, requires_grad=True)
    ours(xt).backward(tg.tensor(g))
    alpha, scale, divisor = params
    (rule,) = F._elu_first_order(g, None, x, alpha=alpha, scale=scale, divisor=divisor)
    np.testing.assert_array_equal(xt.grad.numpy(), rule)  # the primitive's own rule ran
    xr = tg.tensor(x, requires_grad=True)
    F._elu_composed(xr, *params).backward(tg.tensor(g))
    tol = dict(rtol=4e-7, atol=1e-30) if dtype == np.float32 else dict(rtol=1e-15, atol=1e-300)
    np.testing.assert_allclose(xt.grad.numpy(), xr.grad.numpy(), **tol)
    torch = torch_oracle()
    tx = torch.tensor(x, requires_grad=True)
    theirs(torch, tx).backward(torch.tensor(g))
    close_to_torch(xt.grad, tx.grad, **tol)
    at_zero = xt.grad.numpy()[:2] / g[:2]  # 0.0 and -0.0: PyTorch's alpha scale / divisor
    np.testing.assert_allclose(at_zero, alpha * scale / divisor, rtol=1e-6)


@pytest.mark.parametrize("form", list(FORMS))
def test_second_order_in_both_modes(rng, form):
    ours = FORMS[form][0]
    x = rng.standard_normal(7) * 2
    tg.check_grads(ours, modes=("fwd", "rev"), order=2)(x)


@pytest.mark.parametrize("form", list(FORMS))
def test_double_backward_follows_torch(rng, form):
    torch = torch_oracle()
    ours, theirs, _ = FORMS[form]
    x = np.concatenate([[0.0, -0.0], rng.standard_normal(9)])
    xt, tx = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (g,) = tg.autograd.grad((ours(xt) ** 2).sum(), [xt], create_graph=True)
    (gt,) = torch.autograd.grad((theirs(torch, tx) ** 2).sum(), [tx], create_graph=True)
    (g * g).sum().backward()
    (gt * gt).sum().backward()
    close_to_torch(g, gt, rtol=1e-13, atol=1e-300)
    close_to_torch(xt.grad, tx.grad, rtol=1e-12, atol=1e-300)


def test_half_precision_keeps_the_composition(rng, monkeypatch):
    monkeypatch.setattr(F._elu.prim, "fwd", None)  # would fail if called
    x = rng.standard_normal(16).astype(np.float16)
    y = F.elu(tg.tensor(x))
    assert y.dtype == np.float16
    np.testing.assert_allclose(y.numpy().astype(np.float64),
                               np.where(x > 0, x, np.expm1(x.astype(np.float64))), rtol=2e-3,
                               atol=1e-3)


def test_device_gives_the_cpus_values(device, rng):
    x = rng.standard_normal((4, 5))
    xt = tg.tensor(put(x, device), requires_grad=True)
    y = F.selu(xt)
    y.sum().backward()
    xc = tg.tensor(x, requires_grad=True)
    F.selu(xc).sum().backward()
    np.testing.assert_allclose(host(y), F.selu(tg.tensor(x)).numpy(), rtol=1e-14)
    np.testing.assert_allclose(host(xt.grad), xc.grad.numpy(), rtol=1e-14)
