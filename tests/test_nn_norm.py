"""F.batch_norm, F.group_norm, nn.BatchNorm1d/2d and nn.GroupNorm on every device: values and
gradients against PyTorch CPU in float64 (copied weights, every option), running statistics,
momentum=None, eval mode and num_batches_tracked over several steps, derivatives to second order
in both modes against finite differences, initialisation, repr and errors."""

import operator

import numpy as np
import pytest
from devices import close_to_torch, host, on, put, tensor_on, torch_oracle, torch_repr

import tensorgrad as tg

F = tg.nn.functional
TOL = dict(rtol=1e-10, atol=1e-12)
_torch, _t = torch_oracle, tensor_on


def _close(mine, theirs, **tol):
    close_to_torch(mine, theirs, **(tol or TOL))


def _affine(torch, w, b, device, affine):
    """(ours, theirs): the weight and bias as leaves on ``device`` and as PyTorch's, or
    (None, None) twice without ``affine``."""
    if not affine:
        return (None, None), (None, None)
    return ((_t(w, device, True), _t(b, device, True)),
            (torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)))


def _close_with_grads(y, yr, *leaves):
    """Our output against PyTorch's, then the gradient of each of our leaves against theirs;
    ``leaves`` are (ours, theirs) pairs, (None, None) for an argument left out."""
    _close(y, yr)
    for ours, theirs in leaves:
        if ours is not None:
            _close(ours.grad, theirs.grad)


BN_SHAPES = [(6, 3), (4, 3, 5), (2, 3, 4, 5)]


# ---- F.batch_norm ----------------------------------------------------------------------------
@pytest.mark.parametrize("shape", BN_SHAPES, ids=["2d", "3d", "4d"])
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
@pytest.mark.parametrize("running", [True, False], ids=["running", "norunning"])
def test_batch_norm_training_matches_torch(device, shape, affine, running, rng):
    torch = _torch()
    c = shape[1]
    x = rng.standard_normal(shape) * 2 + 0.5
    w, b = rng.standard_normal(c), rng.standard_normal(c)
    rm, rv = rng.standard_normal(c), rng.random(c) + 0.5
    g = rng.standard_normal(shape)
    xt = _t(x, device, True)
    (wt, bt), (wr, br) = _affine(torch, w, b, device, affine)
    rmt, rvt = (_t(rm, device), _t(rv, device)) if running else (None, None)
    y = F.batch_norm(xt, rmt, rvt, wt, bt, training=True, momentum=0.3, eps=1e-4)
    assert on(y, device) and y.shape == shape and y.dtype == np.float64
    (y * _t(g, device)).sum().backward()

    xr = torch.tensor(x, requires_grad=True)
    rmr, rvr = (torch.tensor(rm), torch.tensor(rv)) if running else (None, None)
    yr = torch.nn.functional.batch_norm(xr, rmr, rvr, wr, br, training=True, momentum=0.3,
                                        eps=1e-4)
    (yr * torch.tensor(g)).sum().backward()
    _close_with_grads(y, yr, (xt, xr), (wt, wr), (bt, br))
    assert on(xt.grad, device)
    if affine:
        assert wt.grad.shape == (c,) and on(wt.grad, device)
    if running:  # updated in place, unbiased variance
        _close(rmt, rmr)
        _close(rvt, rvr)
        assert on(rmt, device) and on(rvt, device)


@pytest.mark.parametrize("shape", BN_SHAPES, ids=["2d", "3d", "4d"])
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
def test_batch_norm_eval_matches_torch(device, shape, affine, rng):
    torch = _torch()
    c = shape[1]
    x = rng.standard_normal(shape)
    w, b = rng.standard_normal(c), rng.standard_normal(c)
    rm, rv = rng.standard_normal(c), rng.random(c) + 0.5
    g = rng.standard_normal(shape)
    xt = _t(x, device, True)
    (wt, bt), (wr, br) = _affine(torch, w, b, device, affine)
    rmt, rvt = _t(rm, device), _t(rv, device)
    y = F.batch_norm(xt, rmt, rvt, wt, bt, training=False, eps=1e-3)
    (y * _t(g, device)).sum().backward()
    xr = torch.tensor(x, requires_grad=True)
    yr = torch.nn.functional.batch_norm(xr, torch.tensor(rm), torch.tensor(rv), wr, br,
                                        training=False, eps=1e-3)
    (yr * torch.tensor(g)).sum().backward()
    _close_with_grads(y, yr, (xt, xr), (wt, wr), (bt, br))
    # eval mode leaves the statistics alone
    np.testing.assert_array_equal(host(rmt), rm)
    np.testing.assert_array_equal(host(rvt), rv)


@pytest.mark.parametrize("shape", [(5, 3), (3, 2, 4)], ids=["2d", "3d"])
@pytest.mark.parametrize("affine", [(True, True), (True, False), (False, True),
                                    (False, False)], ids=["wb", "w", "b", "none"])
def test_batch_norm_check_grads_second_order(device, shape, affine, rng):
    c = shape[1]
    x = _t(rng.standard_normal(shape), device)
    w = _t(rng.standard_normal(c), device)
    b = _t(rng.standard_normal(c), device)
    k = _t(rng.standard_normal(shape), device)
    has_w, has_b = affine

    def f(x, w, b):
        y = F.batch_norm(x, None, None, w if has_w else None, b if has_b else None,
                         training=True, eps=1e-3)
        return (F.tanh(y) * k).sum() + (y * y * y).sum() * 0.1

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(x, w, b)


def test_batch_norm_eval_check_grads_second_order(device, rng):
    x = _t(rng.standard_normal((4, 3, 2)), device)
    w = _t(rng.standard_normal(3), device)
    b = _t(rng.standard_normal(3), device)
    rm, rv = _t(rng.standard_normal(3), device), _t(rng.random(3) + 0.5, device)

    def f(x, w, b):
        y = F.batch_norm(x, rm, rv, w, b, training=False)
        return (F.tanh(y) * y).sum()

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(x, w, b)


def test_batch_norm_hessian_vector_product_matches_torch(device, rng):
    torch = _torch()
    x, w, v = rng.standard_normal((5, 3)), rng.standard_normal(3), rng.standard_normal((5, 3))

    def f(z):
        return (F.batch_norm(z, None, None, _t(w, device), training=True) ** 3).sum()

    hv = tg.make_hvp(f)(_t(x, device))[0](_t(v, device))
    xr = torch.tensor(x, requires_grad=True)
    yr = torch.nn.functional.batch_norm(xr, None, None, torch.tensor(w), training=True)
    (gr,) = torch.autograd.grad((yr ** 3).sum(), xr, create_graph=True)
    (hr,) = torch.autograd.grad((gr * torch.tensor(v)).sum(), xr)
    _close(hv, hr, rtol=1e-9, atol=1e-10)


def test_batch_norm_on_raw_arrays_and_float32(device, rng):
    x = put(rng.standard_normal((6, 4)).astype(np.float32), device)
    rm, rv = put(np.zeros(4, np.float32), device), put(np.ones(4, np.float32), device)
    y = F.batch_norm(x, rm, rv, training=True)
    assert not isinstance(y, tg.Tensor) and on(y, device) and y.dtype == np.float32
    assert on(rm, device) and rm.dtype == np.float32 and np.abs(host(rm)).sum() > 0
    xt = tg.tensor(x, requires_grad=True)
    wt = tg.tensor(put(np.ones(4, np.float32), device), requires_grad=True)
    F.batch_norm(xt, None, None, wt, training=True).sum().backward()
    assert xt.grad.dtype == np.float32 and wt.grad.dtype == np.float32


def test_batch_norm_errors_name_the_function_argument_and_shapes():
    x = tg.ones(4, 3)
    with pytest.raises(ValueError, match=r"batch_norm: weight.*\(3,\).*\(2,\).*\(4, 3\)"):
        F.batch_norm(x, None, None, tg.ones(2), training=True)
    with pytest.raises(ValueError, match=r"batch_norm: running_mean.*\(3,\).*\(5,\)"):
        F.batch_norm(x, tg.zeros(5), tg.ones(3))
    with pytest.raises(ValueError, match=r"more than 1 value per channel.*\(1, 3\)"):
        F.batch_norm(tg.ones(1, 3), None, None, training=True)
    with pytest.raises(ValueError, match=r"batch_norm: input must be \(N, C, \*\).*\(3,\)"):
        F.batch_norm(tg.ones(3), None, None, training=True)
    with pytest.raises(ValueError, match="running_mean and running_var are needed"):
        F.batch_norm(x, None, None, training=False)


# ---- F.group_norm ----------------------------------------------------------------------------
GN_CASES = [((2, 6), 3), ((2, 6, 5), 2), ((3, 6, 2, 3), 6), ((2, 4, 3, 3), 1)]


@pytest.mark.parametrize("shape,groups", GN_CASES, ids=["2d", "3d", "4d-inst", "4d-layer"])
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
def test_group_norm_matches_torch(device, shape, groups, affine, rng):
    torch = _torch()
    c = shape[1]
    x = rng.standard_normal(shape) * 3 - 1
    w, b, g = rng.standard_normal(c), rng.standard_normal(c), rng.standard_normal(shape)
    xt = _t(x, device, True)
    (wt, bt), (wr, br) = _affine(torch, w, b, device, affine)
    y = F.group_norm(xt, groups, wt, bt, eps=1e-4)
    assert on(y, device) and y.shape == shape
    (y * _t(g, device)).sum().backward()
    xr = torch.tensor(x, requires_grad=True)
    yr = torch.nn.functional.group_norm(xr, groups, wr, br, eps=1e-4)
    (yr * torch.tensor(g)).sum().backward()
    _close_with_grads(y, yr, (xt, xr), (wt, wr), (bt, br))


def test_group_norm_check_grads_second_order(device, rng):
    x = _t(rng.standard_normal((2, 4, 3)), device)
    w = _t(rng.standard_normal(4), device)
    b = _t(rng.standard_normal(4), device)

    def f(x, w, b):
        y = F.group_norm(x, 2, w, b, eps=1e-3)
        return (F.tanh(y) * y).sum() + (y * y * y).sum() * 0.1

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(x, w, b)


def test_group_norm_errors():
    x = tg.ones(2, 6, 3)
    with pytest.raises(ValueError, match=r"group_norm: num_groups=4.*6 channels.*\(2, 6, 3\)"):
        F.group_norm(x, 4)
    with pytest.raises(ValueError, match=r"group_norm: bias.*\(6,\).*\(3,\)"):
        F.group_norm(x, 3, bias=tg.ones(3))
    with pytest.raises(ValueError, match="GroupNorm: num_channels=6.*num_groups=4"):
        tg.nn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match=r"GroupNorm: expected input \(N, 4, \*\)"):
        tg.nn.GroupNorm(2, 4)(x)


# ---- nn.BatchNorm1d / BatchNorm2d -----------------------------------------------------------
def _copy_params(mine, theirs, rng, device):
    torch = _torch()
    for name, p in theirs.named_parameters():
        v = rng.standard_normal(tuple(p.shape))
        with torch.no_grad():
            p.copy_(torch.tensor(v))
        getattr(mine, name).data = put(v, device)


MODULE_CASES = [  # class name, input shape, momentum, affine, track_running_stats
    ("BatchNorm1d", (8, 3), 0.1, True, True),
    ("BatchNorm1d", (4, 3, 5), None, True, True),
    ("BatchNorm1d", (6, 2), 0.5, False, True),
    ("BatchNorm2d", (4, 3, 2, 3), 0.1, True, True),
    ("BatchNorm2d", (3, 2, 3, 3), None, False, True),
    ("BatchNorm2d", (4, 3, 2, 2), 0.1, True, False),
    ("BatchNorm1d", (5, 4), 0.2, False, False),
]


@pytest.mark.parametrize("name,shape,momentum,affine,track", MODULE_CASES,
                         ids=[f"m{i}" for i in range(len(MODULE_CASES))])
def test_batch_norm_module_matches_torch_over_steps(device, name, shape, momentum, affine, track,
                                                     rng):
    torch = _torch()
    c = shape[1]
    kw = dict(eps=1e-4, momentum=momentum, affine=affine, track_running_stats=track)
    mine = getattr(tg.nn, name)(c, dtype=np.float64, device=device, **kw)
    theirs = getattr(torch.nn, name)(c, dtype=torch.float64, **kw)
    assert operator.eq(*torch_repr(mine, theirs))
    assert [n for n, _ in mine.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in mine.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert list(mine.state_dict()) == list(theirs.state_dict())
    if affine:
        _copy_params(mine, theirs, rng, device)
    for step in range(4):  # train steps, then eval; then train again
        training = step != 2
        mine.train(training)
        theirs.train(training)
        x = rng.standard_normal(shape) * (step + 1) + step
        g = rng.standard_normal(shape)
        xt = _t(x, device, True)
        y = mine(xt)
        (y * _t(g, device)).sum().backward()
        xr = torch.tensor(x, requires_grad=True)
        yr = theirs(xr)
        (yr * torch.tensor(g)).sum().backward()
        _close(y, yr)
        _close(xt.grad, xr.grad)
        assert on(y, device)
        if affine:
            _close(mine.weight.grad, theirs.weight.grad)
            _close(mine.bias.grad, theirs.bias.grad)
            mine.zero_grad()
            theirs.zero_grad()
        for (n, b), (n2, br) in zip(mine.named_buffers(), theirs.named_buffers()):
            assert n == n2 and on(b, device) and b.dtype == host(br).dtype
            _close(b, br)
    if track:
        assert mine.num_batches_tracked.item() == 3
        assert mine.num_batches_tracked.dtype == np.int64
    else:
        assert mine.running_mean is None and mine.num_batches_tracked is None


def test_batch_norm_module_state_dict_round_trip_and_eval(device, rng):
    torch = _torch()
    bn = tg.nn.BatchNorm2d(3, dtype=np.float64, device=device)
    for _ in range(3):
        bn(_t(rng.standard_normal((4, 3, 2, 2)), device))
    tb = torch.nn.BatchNorm2d(3, dtype=torch.float64)
    tb.load_state_dict({k: torch.tensor(host(v)) for k, v in bn.state_dict().items()})
    assert int(tb.num_batches_tracked) == 3
    fresh = tg.nn.BatchNorm2d(3, dtype=np.float64, device=device)
    fresh.load_state_dict(bn.state_dict())
    fresh.eval()
    tb.eval()
    x = rng.standard_normal((2, 3, 2, 2))
    _close(fresh(_t(x, device)), tb(torch.tensor(x)))
    assert fresh.num_batches_tracked.item() == 3  # eval steps do not count
    fresh.reset_running_stats()
    np.testing.assert_array_equal(host(fresh.running_mean), 0)
    np.testing.assert_array_equal(host(fresh.running_var), 1)
    assert fresh.num_batches_tracked.item() == 0


def test_batch_norm_module_defaults_repr_and_placement(device):
    torch = _torch()
    bn = tg.nn.BatchNorm1d(5, device=device)
    tb = torch.nn.BatchNorm1d(5)
    assert repr(bn) == ("BatchNorm1d(5, eps=1e-05, momentum=0.1, affine=True, "
                        "bias=True, track_running_stats=True)")
    mine, ref = torch_repr(bn, tb)
    assert mine == ref
    for name in ("weight", "bias"):
        p = getattr(bn, name)
        assert isinstance(p, tg.nn.Parameter) and p.requires_grad and p.dtype == np.float32
        assert on(p, device)
        np.testing.assert_array_equal(host(p), getattr(tb, name).detach().numpy())
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        b = getattr(bn, name)
        assert not b.requires_grad and on(b, device)
        np.testing.assert_array_equal(host(b), getattr(tb, name).numpy())
        assert host(b).dtype == getattr(tb, name).numpy().dtype
    for kw in (dict(momentum=None), dict(affine=False), dict(track_running_stats=False),
               dict(eps=1e-3, momentum=0.01)):
        assert operator.eq(*torch_repr(tg.nn.BatchNorm2d(4, **kw), torch.nn.BatchNorm2d(4, **kw)))
    assert list(tg.nn.BatchNorm2d(2, affine=False).parameters()) == []
    # bias= is PyTorch 2.13's (older ones, as on the GPU machine, lack the keyword)
    assert tg.nn.BatchNorm2d(2, bias=False).bias is None
    assert repr(tg.nn.BatchNorm2d(4, bias=False)) == (
        "BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, bias=False, "
        "track_running_stats=True)")
    assert repr(tg.nn.GroupNorm(2, 4, bias=False)) == (
        "GroupNorm(2, 4, eps=1e-05, affine=True, bias=False)")
    seq = tg.nn.Sequential(tg.nn.Linear(3, 4), tg.nn.BatchNorm1d(4))
    assert "(1): BatchNorm1d(4, eps=1e-05" in repr(seq)
    # .to() casts the float buffers and leaves the count an integer
    bn.to(np.float64)
    assert bn.running_mean.dtype == np.float64 and bn.num_batches_tracked.dtype == np.int64


def test_batch_norm_module_without_running_stats_uses_batch_stats_in_eval(device, rng):
    bn = tg.nn.BatchNorm1d(3, track_running_stats=False, dtype=np.float64, device=device).eval()
    y = host(bn(_t(rng.standard_normal((6, 3)) * 5 + 2, device)))
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-12)


def test_batch_norm_module_errors():
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected 2D or 3D input, got 4D.*"
                                         r"\(2, 3, 4, 4\)"):
        tg.nn.BatchNorm1d(3)(tg.ones(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected 4D input, got 2D"):
        tg.nn.BatchNorm2d(3)(tg.ones(2, 3))
    with pytest.raises(ValueError, match=r"batch_norm: running_mean must have shape \(3,\).*"
                                         r"\(4,\).*\(2, 3\)"):
        tg.nn.BatchNorm1d(4)(tg.ones(2, 3))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        tg.nn.BatchNorm1d(3)(tg.ones(1, 3))


# ---- nn.GroupNorm ----------------------------------------------------------------------------
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm_module_matches_torch(device, affine, rng):
    torch = _torch()
    mine = tg.nn.GroupNorm(2, 4, eps=1e-4, affine=affine, dtype=np.float64, device=device)
    theirs = torch.nn.GroupNorm(2, 4, eps=1e-4, affine=affine, dtype=torch.float64)
    assert operator.eq(*torch_repr(mine, theirs))
    assert list(mine.state_dict()) == list(theirs.state_dict())
    if affine:
        for name in ("weight", "bias"):
            np.testing.assert_array_equal(host(getattr(mine, name)),
                                          getattr(theirs, name).detach().numpy())
            assert on(getattr(mine, name), device)
        _copy_params(mine, theirs, rng, device)
    x = rng.standard_normal((3, 4, 5))
    xt = _t(x, device, True)
    y = mine(xt)
    y.pow(3).sum().backward()
    xr = torch.tensor(x, requires_grad=True)
    yr = theirs(xr)
    yr.pow(3).sum().backward()
    _close(y, yr)
    _close(xt.grad, xr.grad, rtol=1e-9, atol=1e-11)
    if affine:
        _close(mine.weight.grad, theirs.weight.grad, rtol=1e-9, atol=1e-11)
        _close(mine.bias.grad, theirs.bias.grad, rtol=1e-9, atol=1e-11)
