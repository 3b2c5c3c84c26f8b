"""group_norm's host path (tensorgrad/nn/_host_rows.py: gn_forward, gn_backward) and the rules
it gets from its composition (tensorgrad/ops/composed_rules.py).

* values and the three cotangents against the composition (layer_norm on the (N, G, rest)
  view, then the per-channel affine map) over shapes, group counts and weight/bias present or
  not, and against PyTorch in float32;
* accuracy when the mean is large against the spread (the backward works on x - mean);
* second order in both modes and create_graph through the composition's rules; the paths that
  keep the composition (other dtypes, other devices).
"""

import numpy as np
import pytest
from devices import close_to_torch, host, put, torch_oracle

import tensorgrad as tg
from tensorgrad.nn import _host_rows as hr
from tensorgrad.nn import functional as F

CASES = [((4, 6, 5, 3), 3), ((2, 8), 4), ((3, 4, 7), 1), ((2, 6, 2, 2, 2), 6),
         ((2, 64, 16, 16), 8)]


def _run(fn, x, w, b, g):
    leaves = [None if a is None else tg.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = fn(*leaves)
    y.backward(tg.tensor(g))
    return [y.numpy()] + [None if t is None else t.grad.numpy() for t in leaves]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("affine", ["both", "none", "weight"])
@pytest.mark.parametrize("shape,groups", CASES)
def test_host_path_is_the_composition(rng, monkeypatch, shape, groups, affine, dtype):
    calls = []
    backward = hr.gn_backward
    monkeypatch.setattr(hr, "gn_backward", lambda *a: calls.append(1) or backward(*a))
    x = (rng.standard_normal(shape) * 3 + 5).astype(dtype)
    w = rng.standard_normal(shape[1]).astype(dtype) if affine != "none" else None
    b = rng.standard_normal(shape[1]).astype(dtype) if affine == "both" else None
    g = rng.standard_normal(shape).astype(dtype)
    ours = _run(lambda *a: F.group_norm(a[0], groups, a[1], a[2]), x, w, b, g)
    ref = _run(lambda *a: F._gn_composed(a[0], a[1], a[2], groups, 1e-5), x, w, b, g)
    assert calls == [1]  # one pass made every cotangent
    tol = dict(rtol=1e-4, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-12)
    for a, r in zip(ours, ref):
        assert (a is None) == (r is None)
        if a is not None:
            assert a.dtype == dtype
            np.testing.assert_allclose(a, r, **tol)


def test_answer_keeps_the_statistics_behind_it(rng):
    x = rng.standard_normal((3, 4, 5))
    y = hr.gn_forward(x, None, None, 2, 1e-5)
    mean, rstd = hr.gn_saved(y, x, 2)
    rows = x.reshape(6, 10)
    np.testing.assert_allclose(mean, rows.mean(1), rtol=1e-13)
    np.testing.assert_allclose(rstd, 1 / np.sqrt(rows.var(1) + 1e-5), rtol=1e-13)
    assert hr.gn_saved(y.copy(), x, 2) is None


def test_noncontiguous_input(rng):
    x = rng.standard_normal((5, 2, 6, 3)).transpose(1, 0, 2, 3)  # (2, 5, ...) not C-order
    g = rng.standard_normal(x.shape)
    ours = _run(lambda a, *_: F.group_norm(a, 5), x, None, None, g)
    ref = _run(lambda a, *_: F._gn_composed(a, None, None, 5, 1e-5), x, None, None, g)
    for a, r in zip(ours[:2], ref[:2]):
        np.testing.assert_allclose(a, r, rtol=1e-11, atol=1e-12)


def test_large_mean_against_float64(rng):
    """float32 data at 1000 +- 1: the backward subtracts the mean before it multiplies, so the
    input's cotangent stays within float32 noise of the float64 answer."""
    x = (1000 + rng.standard_normal((4, 8, 6, 6))).astype(np.float32)
    w, b = rng.standard_normal(8), rng.standard_normal(8)
    g = rng.standard_normal(x.shape)
    ours = _run(lambda *a: F.group_norm(a[0], 4, a[1], a[2]), x, w.astype(np.float32),
                b.astype(np.float32), g.astype(np.float32))
    exact = _run(lambda *a: F.group_norm(a[0], 4, a[1], a[2]), x.astype(np.float64), w, b, g)
    for a, e in zip(ours, exact):
        scale = np.abs(e).max()
        assert np.abs(a - e).max() < 5e-4 * scale, (np.abs(a - e).max(), scale)


@pytest.mark.parametrize("affine", [True, False])
def test_second_order_in_both_modes(rng, affine):
    x = rng.standard_normal((2, 4, 3))
    w, b = rng.standard_normal(4), rng.standard_normal(4)
    if affine:
        tg.check_grads(lambda x, w, b: F.group_norm(x, 2, w, b), modes=("fwd", "rev"),
                       order=2)(x, w, b)
    else:
        tg.check_grads(lambda x: F.group_norm(x, 2), modes=("fwd", "rev"), order=2)(x)


def test_create_graph_through_the_composition(rng):
    x = rng.standard_normal((3, 6, 4))
    w = rng.standard_normal(6)

    def penalty(fn):
        xt, wt = tg.tensor(x, requires_grad=True), tg.tensor(w, requires_grad=True)
        (gx,) = tg.autograd.grad((fn(xt, wt) ** 3).sum(), [xt], create_graph=True)
        (gx * gx).sum().backward()
        return xt.grad.numpy(), wt.grad.numpy()

    ours = penalty(lambda a, v: F.group_norm(a, 3, v))
    ref = penalty(lambda a, v: F._gn_composed(a, v, None, 3, 1e-5))
    for a, r in zip(ours, ref):
        np.testing.assert_allclose(a, r, rtol=1e-10, atol=1e-12)


def test_other_dtypes_and_devices_keep_the_composition(device, rng, monkeypatch):
    monkeypatch.setattr(hr, "gn_forward", None)  # would fail if called
    x = rng.standard_normal((2, 4, 3))
    for dtype in (np.float16,) if device == "cpu" else (np.float32, np.float64):
        xt = tg.tensor(put(x.astype(dtype), device), requires_grad=True)
        y = F.group_norm(xt, 2)
        y.sum().backward()
        assert y.dtype == dtype and xt.grad.shape == x.shape
        ref = F._gn_composed(tg.tensor(x), None, None, 2, 1e-5).numpy()
        np.testing.assert_allclose(host(y).astype(np.float64), ref, rtol=2e-3, atol=2e-3)


def test_module_follows_torch_in_float32(rng):
    torch = torch_oracle()
    theirs = torch.nn.GroupNorm(4, 16)
    ours = tg.nn.GroupNorm(4, 16)
    with torch.no_grad():
        theirs.weight.copy_(torch.randn(16))
        theirs.bias.copy_(torch.randn(16))
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})
    x = rng.standard_normal((8, 16, 12, 12)).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    xo, xt = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yo, yt = ours(xo), theirs(xt)
    yo.backward(tg.tensor(g))
    yt.backward(torch.tensor(g))
    close_to_torch(yo, yt, rtol=1e-5, atol=1e-5)
    close_to_torch(xo.grad, xt.grad, rtol=1e-4, atol=1e-5)
    close_to_torch(ours.weight.grad, theirs.weight.grad, rtol=1e-4, atol=1e-3)
    close_to_torch(ours.bias.grad, theirs.bias.grad, rtol=1e-4, atol=1e-3)
