"""``tg.nn.utils`` against ``torch.nn.utils``: clipping by norm (every norm type) and by value,
and flattening parameters, on every device."""

import math

import numpy as np
import pytest
from devices import host, on, put

import tensorgrad as tg

torch = pytest.importorskip("torch")

SHAPES = [(3, 4), (5,), (2, 1, 3)]


def _grads(rng, scale, dtype=np.float64):
    return [(rng.standard_normal(s) * scale).astype(dtype) for s in SHAPES]


def _params(grads, device, lib):
    out = []
    for g in grads:
        if lib is tg:
            p = tg.tensor(put(np.ones_like(g), device), requires_grad=True)
            p.grad = tg.tensor(put(g.copy(), device))
        else:
            p = torch.ones(g.shape, dtype=torch.from_numpy(g).dtype, requires_grad=True)
            p.grad = torch.tensor(g.copy())
        out.append(p)
    return out


@pytest.mark.parametrize("norm_type", [2.0, 1, 3.5, math.inf, "inf", 0.5])
@pytest.mark.parametrize("scale", [0.01, 10.0], ids=["below", "above"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_clip_grad_norm_matches_torch(norm_type, scale, dtype, device, rng):
    grads = _grads(rng, scale, dtype)
    ps = _params(grads, device, tg)
    tps = _params(grads, device, torch)
    total = tg.nn.utils.clip_grad_norm_(ps, max_norm=1.5, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tps, max_norm=1.5, norm_type=norm_type)
    assert isinstance(total, tg.Tensor) and total.shape == () and on(total, device)
    assert total.dtype == dtype
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(host(total), ttotal.numpy(), rtol=tol)
    for p, tp in zip(ps, tps, strict=True):
        assert on(p.grad, device) and p.grad.dtype == dtype
        np.testing.assert_allclose(host(p.grad), tp.grad.numpy(), rtol=tol, atol=tol * 1e-3)


def test_clip_grad_norm_single_tensor_missing_grads_and_nonfinite(device):
    w = tg.tensor(put(np.array([3.0, 4.0]), device), requires_grad=True)
    w.grad = tg.tensor(put(np.array([3.0, 4.0]), device))
    none = tg.tensor(put(np.zeros(2), device), requires_grad=True)
    assert tg.nn.utils.clip_grad_norm_(w, 1.0).item() == 5.0  # a single Tensor is accepted
    np.testing.assert_allclose(host(w.grad), np.array([3.0, 4.0]) / (5 + 1e-6))
    assert none.grad is None and tg.nn.utils.clip_grad_norm_([none], 1.0).item() == 0.0
    w.grad = tg.tensor(put(np.array([np.inf, 1.0]), device))
    with pytest.raises(RuntimeError, match="non-finite"):
        tg.nn.utils.clip_grad_norm_([w], 1.0, error_if_nonfinite=True)
    with np.errstate(invalid="ignore"):  # as PyTorch: scales by the inf norm (inf * 0 = nan)
        total = tg.nn.utils.clip_grad_norm_([w], 1.0)
    assert math.isinf(total.item())


@pytest.mark.parametrize("clip", [0.5, 2])
def test_clip_grad_value_matches_torch(clip, device, rng):
    grads = _grads(rng, 2.0)
    ps, tps = _params(grads, device, tg), _params(grads, device, torch)
    assert tg.nn.utils.clip_grad_value_(ps, clip) is None
    torch.nn.utils.clip_grad_value_(tps, clip)
    for p, tp in zip(ps, tps, strict=True):
        assert on(p.grad, device)
        np.testing.assert_array_equal(host(p.grad), tp.grad.numpy())


def test_parameters_to_vector_and_back(device, rng):
    arrays = [rng.standard_normal(s) for s in SHAPES]
    ps = [tg.tensor(put(a, device), requires_grad=True) for a in arrays]
    tps = [torch.tensor(a, requires_grad=True) for a in arrays]
    vec = tg.nn.utils.parameters_to_vector(ps)
    tvec = torch.nn.utils.parameters_to_vector(tps)
    assert on(vec, device) and vec.shape == (23,)
    np.testing.assert_array_equal(host(vec), tvec.detach().numpy())
    (vec * tg.tensor(put(np.arange(23.0), device))).sum().backward()  # differentiable
    np.testing.assert_array_equal(np.concatenate([host(p.grad).ravel() for p in ps]),
                                  np.arange(23.0))
    new = tg.tensor(put(np.arange(23.0) * 2, device))
    versions = [p._version for p in ps]
    tg.nn.utils.vector_to_parameters(new, ps)
    torch.nn.utils.vector_to_parameters(torch.arange(23.0, dtype=torch.float64) * 2, tps)
    for p, tp, v in zip(ps, tps, versions, strict=True):
        assert on(p, device) and p._version > v and p.is_leaf
        np.testing.assert_array_equal(host(p), tp.detach().numpy())
    with pytest.raises(TypeError, match="expected a Tensor"):
        tg.nn.utils.vector_to_parameters(np.zeros(23), ps)
    with pytest.raises(RuntimeError, match="23 elements"):
        tg.nn.utils.vector_to_parameters(tg.tensor(put(np.zeros(3), device)), ps)


def test_parameters_on_two_devices_are_refused(cuda_device):
    a = tg.zeros(2, requires_grad=True)
    b = tg.zeros(2, device=cuda_device, requires_grad=True)
    with pytest.raises(TypeError, match="different devices"):
        tg.nn.utils.parameters_to_vector([a, b])


def test_clip_grad_norm_over_two_devices(cuda_device):
    a = tg.tensor([3.0], requires_grad=True, dtype="float64")
    b = tg.tensor([4.0], device=cuda_device, requires_grad=True, dtype="float64")
    a.grad = tg.tensor([3.0], dtype="float64")
    b.grad = tg.tensor([4.0], device=cuda_device, dtype="float64")
    total = tg.nn.utils.clip_grad_norm_([a, b], 1.0)
    assert total.item() == 5.0 and on(total, "cpu") and on(b.grad, cuda_device)
    np.testing.assert_allclose(host(b.grad), [4 / (5 + 1e-6)])
