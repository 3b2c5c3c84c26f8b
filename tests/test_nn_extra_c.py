"""Group C of the missing torch.nn pieces (tensorgrad/nn/_functional_extra_c.py, extra_c.py):
fractional max pooling, adaptive_max_pool3d_with_indices, the 3-D lazy modules, SyncBatchNorm
(one process here, two processes under mpiexec through tests/dist_worker_syncbn.py) and
DataParallel (two devices of the CuPy stand-in). Values, indices and gradients against
PyTorch, second-order finite differences in both modes, reprs, state dicts and errors."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from devices import host, put

import tensorgrad as tg
import tensorgrad.distributed as dist
import tensorgrad.nn.functional as F
from tensorgrad import nn

torch = pytest.importorskip("torch")
TF = torch.nn.functional

R = np.random.default_rng(23)


def _tg(a, device, grad=False):
    return tg.tensor(put(np.asarray(a), device), requires_grad=grad)


def _close(mine, theirs, tol=1e-10):
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else theirs
    np.testing.assert_allclose(host(mine), theirs, rtol=tol, atol=tol)


# ---- fractional max pooling ---------------------------------------------------------------------
FRACTIONAL = [
    # d, input shape, kernel_size, output_size, output_ratio
    (2, (2, 3, 9, 7), (2, 3), (4, 3), None),
    (2, (3, 11, 10), 3, (5, 6), None),
    (2, (2, 2, 7, 8), 2, None, (0.5, 0.75)),
    (2, (1, 2, 6, 6), 2, 5, None),  # steps of 1: overlapping windows
    (2, (1, 1, 5, 9), (1, 2), (1, 4), None),  # one output row: the window flush with the end
    (3, (2, 2, 7, 6, 8), (2, 3, 2), (4, 3, 5), None),
    (3, (3, 9, 8, 6), 2, None, 0.5),
]


def _fractional_pair(d, shape, kernel, size, ratio, dtype, device, grad=False):
    x = R.standard_normal(shape).astype(dtype)
    n = shape[0] if len(shape) == d + 2 else 1
    u = R.random((n, shape[-d - 1], d)).astype(dtype)
    ours = getattr(F, f"fractional_max_pool{d}d")
    theirs = getattr(TF, f"fractional_max_pool{d}d")
    xin = _tg(x, device, grad)
    xt = torch.tensor(x, requires_grad=grad)
    o, oi = ours(xin, kernel, size, ratio, return_indices=True, _random_samples=_tg(u, device))
    t, ti = theirs(xt, kernel, size, ratio, return_indices=True,
                   _random_samples=torch.tensor(u))
    return xin, xt, (o, oi), (t, ti), u


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", FRACTIONAL)
def test_fractional_max_pool_matches_torch_exactly(device, case, dtype):
    d, shape, kernel, size, ratio = case
    xin, xt, (o, oi), (t, ti), _ = _fractional_pair(d, shape, kernel, size, ratio, dtype,
                                                    device, grad=True)
    assert o.dtype == dtype and oi.dtype == np.int64 and o.device == tg.Device(device)
    np.testing.assert_array_equal(host(o.detach()), t.detach().numpy())
    np.testing.assert_array_equal(host(oi), ti.numpy())
    g = R.standard_normal(tuple(t.shape)).astype(dtype)
    (o * _tg(g, device)).sum().backward()
    (t * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(host(xin.grad), xt.grad.numpy(), rtol=1e-6)


def test_fractional_with_indices_functions_return_pairs(device):
    x = R.standard_normal((2, 2, 8, 8))
    u = R.random((2, 2, 2))
    o, i = F.fractional_max_pool2d_with_indices(_tg(x, device), 2, (4, 5),
                                                _random_samples=_tg(u, device))
    t, ti = TF.fractional_max_pool2d_with_indices(torch.tensor(x), 2, (4, 5),
                                                  _random_samples=torch.tensor(u))
    np.testing.assert_array_equal(host(o), t.numpy())
    np.testing.assert_array_equal(host(i), ti.numpy())
    x3 = R.standard_normal((1, 2, 6, 6, 6))
    u3 = R.random((1, 2, 3))
    o, i = F.fractional_max_pool3d_with_indices(_tg(x3, device), 2, 3,
                                                _random_samples=_tg(u3, device))
    t, ti = TF.fractional_max_pool3d_with_indices(torch.tensor(x3), 2, 3,
                                                  _random_samples=torch.tensor(u3))
    np.testing.assert_array_equal(host(i), ti.numpy())
    np.testing.assert_array_equal(host(o), t.numpy())
    # without return_indices: the values only
    only = F.fractional_max_pool2d(_tg(x, device), 2, (4, 5), _random_samples=_tg(u, device))
    assert isinstance(only, tg.Tensor) and only.shape == (2, 2, 4, 5)


def test_fractional_max_pool_indices_feed_max_unpool(device):
    x = R.standard_normal((2, 3, 9, 8))
    u = R.random((2, 3, 2))
    o, i = F.fractional_max_pool2d(_tg(x, device), 2, 4, return_indices=True,
                                   _random_samples=_tg(u, device))
    back = F.max_unpool2d(o, i, 2, output_size=(9, 8))
    t, ti = TF.fractional_max_pool2d(torch.tensor(x), 2, 4, return_indices=True,
                                     _random_samples=torch.tensor(u))
    np.testing.assert_array_equal(host(back), TF.max_unpool2d(t, ti, 2, output_size=(9, 8)))


@pytest.mark.parametrize("d", [2, 3])
def test_fractional_max_pool_grads_second_order(device, d):
    shape = (1, 2, 6, 5) if d == 2 else (1, 1, 5, 4, 5)
    # distinct values far apart: finite differences never change which element wins
    x = R.permutation(np.prod(shape)).reshape(shape).astype(np.float64) * 0.1
    u = put(R.random((1, shape[1], d)), device)
    fn = getattr(F, f"fractional_max_pool{d}d")

    def f(a):
        return fn(a, 2, (3, 2, 3)[:d], _random_samples=u) ** 2

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(put(x, device))


def test_fractional_default_samples_come_from_tensorgrads_generator(device):
    x = _tg(R.standard_normal((3, 4, 12, 11)), device)
    tg.manual_seed(5)
    if device != "cpu":
        tg.cuda.manual_seed(5)
    a, ai = F.fractional_max_pool2d(x, 2, output_ratio=0.5, return_indices=True)
    tg.manual_seed(5)
    if device != "cpu":
        tg.cuda.manual_seed(5)
    u = tg.rand(3, 4, 2, dtype=np.float64, device=device)  # what PyTorch's default draws
    b, bi = F.fractional_max_pool2d(x, 2, output_ratio=0.5, return_indices=True,
                                    _random_samples=u)
    np.testing.assert_array_equal(host(ai), host(bi))
    np.testing.assert_array_equal(host(a), host(b))
    # the same windows in torch from those samples
    t, ti = TF.fractional_max_pool2d(torch.tensor(host(x)), 2, output_ratio=(0.5, 0.5),
                                     return_indices=True, _random_samples=torch.tensor(host(u)))
    np.testing.assert_array_equal(host(ai), ti.numpy())
    # fresh draws give other windows somewhere in 12 planes
    c = [host(F.fractional_max_pool2d(x, 2, output_ratio=0.5, return_indices=True)[1])
         for _ in range(3)]
    assert any(not np.array_equal(c[0], other) for other in c[1:])


@pytest.mark.parametrize("d", [2, 3])
def test_fractional_modules_match_torch(device, d):
    shape = (2, 3, 10, 9) if d == 2 else (2, 3, 7, 8, 9)
    x = R.standard_normal(shape)
    u = R.random((2, 3, d))
    ours_cls = getattr(nn, f"FractionalMaxPool{d}d")
    ref_cls = getattr(torch.nn, f"FractionalMaxPool{d}d")
    for kw in ({"output_size": 4}, {"output_ratio": 0.6}):
        m = ours_cls(3, return_indices=True, _random_samples=_tg(u, device), **kw)
        ref = ref_cls(3, return_indices=True, _random_samples=torch.tensor(u), **kw)
        assert repr(m) == repr(ref)
        assert list(m.state_dict()) == list(ref.state_dict()) == ["_random_samples"]
        assert m.kernel_size == ref.kernel_size and m.output_size == ref.output_size
        assert m.output_ratio == ref.output_ratio
        (o, oi), (t, ti) = m(_tg(x, device)), ref(torch.tensor(x))
        np.testing.assert_array_equal(host(o), t.numpy())
        np.testing.assert_array_equal(host(oi), ti.numpy())
    # without samples: random windows of the right shape, values that are window maxima
    m = ours_cls(2, output_size=3)
    out = m(_tg(x, device))
    assert out.shape == shape[:2] + (3,) * d and "_random_samples" not in m.state_dict()
    assert np.isin(host(out), x).all()


def test_fractional_errors():
    x = tg.ones(1, 2, 6, 6)
    with pytest.raises(ValueError, match="either an output size, or a pooling ratio"):
        nn.FractionalMaxPool2d(2)
    with pytest.raises(ValueError, match="only one of output_size and output_ratio"):
        nn.FractionalMaxPool3d(2, output_size=2, output_ratio=0.5)
    with pytest.raises(ValueError, match=r"output_ratio must be .*between 0 and 1.*1\.5"):
        nn.FractionalMaxPool2d(2, output_ratio=(0.5, 1.5))
    with pytest.raises(ValueError, match="fractional_max_pool2d: give either"):
        F.fractional_max_pool2d(x, 2)
    with pytest.raises(ValueError, match=r"fractional_max_pool2d: input must have 3 or 4 "
                                         r"dimensions, got shape \(6, 6\)"):
        F.fractional_max_pool2d(tg.ones(6, 6), 2, 3)
    with pytest.raises(ValueError, match=r"fractional_max_pool3d: output size \(5, 5, 5\) with "
                                         r"kernel_size \(3, 3, 3\) is too large for input "
                                         r"shape \(1, 6, 6, 6\)"):
        F.fractional_max_pool3d(tg.ones(1, 6, 6, 6), 3, 5)
    with pytest.raises(ValueError, match=r"_random_samples must have shape \(1, 2, 2\).*"
                                         r"got \(1, 2, 3\)"):
        F.fractional_max_pool2d(x, 2, 3, _random_samples=tg.rand(1, 2, 3))
    with pytest.raises(TypeError, match="_random_samples must have the input's dtype float32"):
        F.fractional_max_pool2d(x, 2, 3, _random_samples=tg.rand(1, 2, 2, dtype=np.float64))
    with pytest.raises(TypeError, match="input must be floating point, got dtype int64"):
        F.fractional_max_pool2d(tg.tensor(np.ones((1, 2, 6, 6), np.int64)), 2, 3)
    with pytest.raises(ValueError, match=r"kernel_size \(0, 0\) and output size"):
        F.fractional_max_pool2d(x, 0, 3)
    with pytest.raises(ValueError, match="output_size must be an int or a tuple of 2 ints"):
        F.fractional_max_pool2d(x, 2, (3, 3, 3))


def test_fractional_samples_on_another_device_is_an_error(cuda_device):
    x = tg.ones(1, 2, 6, 6, device=cuda_device)
    with pytest.raises(RuntimeError, match="_random_samples must be on the input's device"):
        F.fractional_max_pool2d(x, 2, 3, _random_samples=tg.rand(1, 2, 2))


# ---- adaptive_max_pool3d_with_indices -----------------------------------------------------------
@pytest.mark.parametrize("shape, size", [((2, 3, 7, 6, 5), (3, 2, 4)), ((2, 5, 5, 4), 2),
                                         ((1, 2, 6, 7, 8), (None, 3, None))])
def test_adaptive_max_pool3d_with_indices_matches_torch(device, shape, size):
    x = R.standard_normal(shape)
    xin = _tg(x, device, True)
    xt = torch.tensor(x, requires_grad=True)
    o, i = F.adaptive_max_pool3d_with_indices(xin, size)
    t, ti = TF.adaptive_max_pool3d_with_indices(xt, size)
    np.testing.assert_array_equal(host(o.detach()), t.detach().numpy())
    np.testing.assert_array_equal(host(i), ti.numpy())
    o.sum().backward()
    t.sum().backward()
    _close(xin.grad, xt.grad)


def test_adaptive_max_pool3d_with_indices_grads_and_errors(device):
    x = R.permutation(60).reshape(1, 3, 4, 5).astype(np.float64)
    tg.check_grads(lambda a: F.adaptive_max_pool3d_with_indices(a, 2)[0] ** 2,
                   modes=("fwd", "rev"), order=2)(put(x, device))
    with pytest.raises(ValueError, match=r"adaptive_max_pool3d_with_indices: input must have 4 "
                                         r"or 5 dimensions, got shape \(3, 4\)"):
        F.adaptive_max_pool3d_with_indices(tg.ones(3, 4), 2)
    with pytest.raises(ValueError, match="output_size must be an int or 3 values"):
        F.adaptive_max_pool3d_with_indices(tg.ones(1, 2, 3, 4), (2, 2))


# ---- 3-D lazy modules ---------------------------------------------------------------------------
LAZY3D = {
    "LazyConv3d": ((4, 3), {"padding": 1, "stride": (1, 2, 1)}, (2, 2, 5, 6, 4)),
    "LazyConvTranspose3d": ((4, 3), {"stride": 2, "output_padding": 1}, (2, 2, 3, 2, 3)),
    "LazyBatchNorm3d": ((), {}, (4, 3, 2, 3, 2)),
    "LazyInstanceNorm3d": ((), {}, (2, 3, 3, 4, 2)),
}


@pytest.mark.parametrize("name", list(LAZY3D))
def test_lazy_3d_module_becomes_ordinary(device, name):
    args, kw, shape = LAZY3D[name]
    ours = getattr(nn, name)(*args, device=device, **kw).double()
    ref = getattr(torch.nn, name)(*args, **kw).double()
    assert repr(ours) == repr(ref)
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert ours.has_uninitialized_params()
    x = R.standard_normal(shape)
    ours(_tg(x, device))
    ref(torch.tensor(x))
    plain = name.replace("Lazy", "")
    assert type(ours) is getattr(nn, plain) and type(ref) is getattr(torch.nn, plain)
    assert repr(ours) == repr(ref)
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    assert all(p.device == tg.Device(device) for p in ours.parameters())
    # same state -> same outputs and gradients (train mode: batch statistics)
    ours.load_state_dict({k: tg.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()})
    xin = _tg(x, device, True)
    xt = torch.tensor(x, requires_grad=True)
    out, tout = ours(xin), ref(xt)
    g = R.standard_normal(tuple(tout.shape))
    (out * _tg(g, device)).sum().backward()
    (tout * torch.tensor(g)).sum().backward()
    _close(out.detach(), tout, 1e-9)
    _close(xin.grad, xt.grad, 1e-9)
    for (n, p), (m, q) in zip(ours.named_parameters(), ref.named_parameters()):
        assert n == m
        _close(p.grad, q.grad, 1e-9)


def test_lazy_3d_load_state_dict_before_first_forward(device):
    src = torch.nn.Conv3d(3, 2, 2).double()
    m = nn.LazyConv3d(2, 2)
    m.load_state_dict({k: tg.tensor(v.detach().numpy()) for k, v in src.state_dict().items()})
    assert type(m) is nn.Conv3d and m.in_channels == 3
    m.to(device)
    x = R.standard_normal((1, 3, 3, 4, 3))
    _close(m(_tg(x, device)).detach(), src(torch.tensor(x)), 1e-12)
    t = nn.LazyConvTranspose3d(5, 2, groups=2)
    t.load_state_dict({"weight": tg.zeros(4, 2, 2, 2, 2), "bias": tg.zeros(5 * 2 // 2)})
    assert type(t) is nn.ConvTranspose3d and t.in_channels == 4
    bn = nn.LazyInstanceNorm3d()
    ref = torch.nn.InstanceNorm3d(6, affine=True, track_running_stats=True)
    bn.load_state_dict({k: tg.tensor(v.numpy()) for k, v in ref.state_dict().items()})
    assert type(bn) is nn.InstanceNorm3d and bn.num_features == 6


def test_lazy_3d_errors():
    with pytest.raises(ValueError, match=r"LazyConv3d: in_channels=3 of input \(1, 3, 4, 4, 4\) "
                                         r"must be divisible by groups=2"):
        nn.LazyConv3d(4, 3, groups=2)(tg.ones(1, 3, 4, 4, 4))
    with pytest.raises(ValueError, match=r"BatchNorm3d: expected 5D input, got 4D"):
        nn.LazyBatchNorm3d()(tg.ones(2, 3, 4, 4))


# ---- SyncBatchNorm ------------------------------------------------------------------------------
def _bn_pair(cls_ours, device, **kw):
    ours = cls_ours(3, dtype="float64", device=device, **kw)
    ref = torch.nn.SyncBatchNorm(3, **kw).double()
    w, b = R.standard_normal(3), R.standard_normal(3)
    ours.weight.data[...] = put(w, device)
    ours.bias.data[...] = put(b, device)
    with torch.no_grad():
        ref.weight[...] = torch.tensor(w)
        ref.bias[...] = torch.tensor(b)
    return ours, ref


@pytest.mark.parametrize("momentum", [0.1, None])
def test_sync_batch_norm_without_a_group_is_batch_norm(device, momentum):
    # PyTorch's SyncBatchNorm falls back to F.batch_norm when no process group is initialized
    ours, ref = _bn_pair(nn.SyncBatchNorm, device, momentum=momentum)
    assert repr(ours) == repr(ref) and not dist.is_initialized()
    assert list(ours.state_dict()) == list(ref.state_dict())
    for step, shape in enumerate([(4, 3), (5, 3, 4), (2, 3, 2, 3), (2, 3, 2, 2, 2)]):
        x = R.standard_normal(shape) * 3 + step
        xin = _tg(x, device, True)
        xt = torch.tensor(x, requires_grad=True)
        out, tout = ours(xin), ref(xt)
        g = R.standard_normal(shape)
        (out * _tg(g, device)).sum().backward()
        (tout * torch.tensor(g)).sum().backward()
        _close(out.detach(), tout)
        _close(xin.grad, xt.grad)
    _close(ours.weight.grad, ref.weight.grad)
    _close(ours.bias.grad, ref.bias.grad)
    _close(ours.running_mean, ref.running_mean)
    _close(ours.running_var, ref.running_var)
    assert ours.num_batches_tracked.item() == ref.num_batches_tracked.item() == 4
    ours.eval()
    ref.eval()
    x = R.standard_normal((3, 3, 2))
    _close(ours(_tg(x, device)), ref(torch.tensor(x)))


def test_sync_batch_norm_world_size_one_is_batch_norm(mpi_group, device):
    ours, ref = _bn_pair(nn.SyncBatchNorm, device)
    x = R.standard_normal((6, 3, 4))
    xin = _tg(x, device, True)
    xt = torch.tensor(x, requires_grad=True)
    out, tout = ours(xin), ref(xt)
    out.sum().backward()
    tout.sum().backward()
    _close(out.detach(), tout)
    _close(xin.grad, xt.grad)
    _close(ours.running_var, ref.running_var)


def test_sync_batch_norm_composite_grads_and_values(mpi_group, device):
    # the synchronised path on one rank: all-reduces are identities, so it must equal
    # F.batch_norm, and its rules (including the all-reduce's) must pass finite differences
    from tensorgrad.nn.extra_c import _sync_batch_norm

    x = R.standard_normal((4, 3, 2)) * 2 + 1
    w, b = R.standard_normal(3), R.standard_normal(3)
    rm, rv = tg.zeros(3, dtype="float64", device=device), tg.ones(3, dtype="float64",
                                                                  device=device)
    got = _sync_batch_norm(_tg(x, device), _tg(w, device), _tg(b, device), rm, rv, 1e-5, 0.25)
    rm2, rv2 = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    want = TF.batch_norm(torch.tensor(x), rm2, rv2, torch.tensor(w), torch.tensor(b), True,
                         0.25, 1e-5)
    _close(got, want)
    _close(rm, rm2)
    _close(rv, rv2)

    def f(a, weight, bias):
        return _sync_batch_norm(a, weight, bias, None, None, 1e-5, 0.1)

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(put(x, device), put(w, device),
                                                      put(b, device))


def test_convert_sync_batchnorm_shares_state_as_torch():
    inner = nn.Sequential(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3))
    net = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4, momentum=None, bias=False), inner)
    net[1].eval()
    params = {n: id(p) for n, p in net.named_parameters()}
    buffers = {n: id(b) for n, b in net.named_buffers()}
    keys = list(net.state_dict())
    out = nn.SyncBatchNorm.convert_sync_batchnorm(net)
    assert out is net  # a container comes back itself, its batch norms replaced
    assert type(net[1]) is nn.SyncBatchNorm and type(net[2][1]) is nn.SyncBatchNorm
    assert not net[1].training and net[2][1].training
    assert net[1].momentum is None and net[1].bias is None and net[1].num_features == 4
    assert {n: id(p) for n, p in net.named_parameters()} == params
    assert {n: id(b) for n, b in net.named_buffers()} == buffers
    assert list(net.state_dict()) == keys
    ref = torch.nn.SyncBatchNorm.convert_sync_batchnorm(
        torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4, momentum=None,
                                                                        bias=False)))
    assert repr(net[1]) == repr(ref[1])
    bare = nn.BatchNorm3d(5)
    conv = nn.SyncBatchNorm.convert_sync_batchnorm(bare)
    assert type(conv) is nn.SyncBatchNorm and conv is not bare and conv.weight is bare.weight


def test_sync_batch_norm_errors():
    with pytest.raises(ValueError, match=r"SyncBatchNorm: expected at least 2D input \(got 1D"):
        nn.SyncBatchNorm(3)(tg.ones(3))
    with pytest.raises(ValueError, match="process_group must be None .* or a group"):
        nn.SyncBatchNorm(3, process_group="group")
    with pytest.raises(ValueError, match="process_group must be None .* or a group"):
        nn.SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm1d(2), process_group=object())
    with pytest.raises(ValueError, match="batch_norm: .*channels|batch_norm: .*shape"):
        nn.SyncBatchNorm(3)(tg.ones(2, 4))


WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dist_worker_syncbn.py")


@pytest.fixture(scope="module")
def sync_job(tmp_path_factory):
    """The two ranks' results of tests/dist_worker_syncbn.py under mpiexec -n 2."""
    if not dist.is_available():
        pytest.skip("the mpi backend needs mpi4py (the `distributed` extra)")
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    exe = here if os.path.exists(here) else shutil.which("mpiexec")
    assert exe, "mpiexec not found: install the `distributed` extra (pip install -e '.[dev]')"
    outdir = tmp_path_factory.mktemp("syncbn")
    env = dict(os.environ, TENSORGRAD_DIST_TIMEOUT="30", TENSORGRAD_CUPY_STANDIN="0")
    proc = subprocess.run([exe, "-n", "2", sys.executable, WORKER, str(outdir)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return [dict(np.load(outdir / f"rank{r}.npz")) for r in range(2)]


def _single_process_reference():
    """One BatchNorm1d over the concatenated batches, same steps."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import dist_worker_syncbn as W

    return W.run(W.make(nn.BatchNorm1d), slice(None)), W.ROWS


@pytest.mark.parametrize("prefix", ["", "conv_"])
def test_sync_batch_norm_two_ranks_equal_one_big_batch(sync_job, prefix):
    want, rows = _single_process_reference()
    assert [int(r["world"]) for r in sync_job] == [2, 2]
    assert all(str(r["conv_type"]) == "SyncBatchNorm" for r in sync_job)
    for rank, r in enumerate(sync_job):
        np.testing.assert_allclose(r[prefix + "y"], want["y"][:, rows[rank]], atol=1e-12)
        np.testing.assert_allclose(r[prefix + "dx"], want["dx"][:, rows[rank]], atol=1e-12)
        # running statistics (unbiased variance of all 7 * 5 values per channel)
        np.testing.assert_allclose(r[prefix + "rm"], want["rm"], atol=1e-13)
        np.testing.assert_allclose(r[prefix + "rv"], want["rv"], atol=1e-13)
        assert int(r[prefix + "tracked"][0]) == 3
        # eval mode normalises with the (shared) running statistics
        np.testing.assert_allclose(r[prefix + "eval"][0], want["eval"][0][rows[rank]],
                                   atol=1e-12)
    # each rank's weight and bias gradients are its part of the whole batch's
    for key in ("dw", "db"):
        total = sync_job[0][prefix + key] + sync_job[1][prefix + key]
        np.testing.assert_allclose(total, want[key], atol=1e-12)
        assert np.abs(sync_job[0][prefix + key] - want[key]).max() > 1e-3  # not the whole
    # the batches differ in mean: per-rank statistics would have given other outputs
    assert np.abs(want["rm"][-1]).max() > 0.1


# ---- DataParallel -------------------------------------------------------------------------------
class _Net(nn.Module):
    """A float64 MLP that records the device of each input it sees."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8, dtype="float64"), nn.Tanh(),
                                  nn.Linear(8, 3, dtype="float64"))
        self.register_buffer("scale", tg.full((4,), 1.5, dtype="float64"))
        self.seen = []

    def forward(self, x, shift=None):
        self.seen.append(str(x.device))
        y = self.body(x * self.scale)
        return y if shift is None else (y + shift, y.sum(axis=1))


def _two_gpus(cuda_device):
    if tg.cuda.device_count() < 2:
        pytest.skip("needs two GPUs (the CuPy stand-in has two)")
    return cuda_device


def _step(model, x, g, **kw):
    model.zero_grad()
    x = tg.tensor(x.data, requires_grad=True)
    out = model(x, **kw)
    first = out[0] if isinstance(out, tuple) else out
    (first * g).sum().backward()
    return out, x.grad


def test_data_parallel_two_devices_equals_one_module(cuda_device):
    _two_gpus(cuda_device)
    tg.manual_seed(3)
    net = _Net().to("cuda:0")
    dp = nn.DataParallel(net)
    assert dp.device_ids == [0, 1] and dp.output_device == 0 and dp.module is net
    x = tg.tensor(R.standard_normal((5, 4)), device="cuda:0")  # uneven: 3 and 2 rows
    g = tg.tensor(R.standard_normal((5, 3)), device="cuda:0")
    out, dx = _step(dp, x, g)
    assert net.seen == ["cuda:0", "cuda:1"]  # one replica per device
    grads = [p.grad.numpy() for p in net.parameters()]
    assert all(p.grad.device == "cuda:0" for p in net.parameters())
    ref, rdx = _step(net, x, g)
    assert out.device == "cuda:0" and out.shape == (5, 3)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(host(dx), host(rdx), rtol=1e-12, atol=1e-14)
    for a, p in zip(grads, net.parameters()):
        np.testing.assert_allclose(a, p.grad.numpy(), rtol=1e-12, atol=1e-14)
    # an optimizer step through the wrapper: the same parameters as the plain step
    state = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    for wrap in (dp, net):
        net.load_state_dict({k: tg.tensor(v, device="cuda:0") for k, v in state.items()})
        opt = tg.optim.SGD(net.parameters(), lr=0.1)
        _step(wrap, x, g)
        opt.step()
        after = [p.numpy().copy() for p in net.parameters()]
        if wrap is dp:
            first = after
    for a, b in zip(first, after):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert max(np.abs(a - state[k]).max() for a, k in
               zip(first, ["body.0.weight", "body.0.bias", "body.2.weight", "body.2.bias"])) > 0


def test_data_parallel_kwargs_tuples_dim_and_cpu_output(cuda_device):
    _two_gpus(cuda_device)
    net = _Net().to("cuda:0")
    dp = nn.DataParallel(net, device_ids=["cuda:0", tg.device("cuda:1")], output_device=-1)
    x = tg.tensor(R.standard_normal((4, 4)), device="cuda:0")
    shift = tg.tensor(R.standard_normal((4, 3)), device="cuda:0")
    g = tg.tensor(R.standard_normal((4, 3)))
    (y, s), dx = _step(dp, x, g, shift=shift)  # shift is cut like x
    assert y.device == "cpu" and s.device == "cpu" and s.shape == (4,)
    grads = [p.grad.numpy() for p in net.parameters()]
    (ry, rs), rdx = _step(net, x, g.to("cuda:0"), shift=shift)
    np.testing.assert_allclose(host(y), host(ry), rtol=1e-13)
    np.testing.assert_allclose(host(s), host(rs), rtol=1e-13)
    np.testing.assert_allclose(host(dx), host(rdx), rtol=1e-12)
    for a, p in zip(grads, net.parameters()):
        np.testing.assert_allclose(a, p.grad.numpy(), rtol=1e-12)
    # dim=1: the batch is along dimension 1
    lin = nn.Linear(3, 2, dtype="float64").to("cuda:0")
    dp1 = nn.DataParallel(lin, dim=1)
    x3 = tg.tensor(R.standard_normal((2, 6, 3)), device="cuda:0")
    np.testing.assert_allclose(host(dp1(x3)), host(lin(x3)), rtol=1e-13)


def test_data_parallel_buffers_and_no_grad(cuda_device):
    _two_gpus(cuda_device)
    bn = nn.BatchNorm1d(3, dtype="float64").to("cuda:0")
    dp = nn.DataParallel(bn)
    x = tg.tensor(R.standard_normal((6, 3)) + 2.0, device="cuda:0")
    dp(x)
    # the first replica's update of the running statistics is kept (its 3 rows), as PyTorch's
    assert bn.num_batches_tracked.item() == 1
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.1 * x.numpy()[:3].mean(0), rtol=1e-12)
    with tg.no_grad():
        out = dp(x)
    assert not out.requires_grad and out.shape == (6, 3)


def test_data_parallel_second_derivative_raises(cuda_device):
    _two_gpus(cuda_device)
    net = nn.Linear(3, 1, dtype="float64").to("cuda:0")
    x = tg.tensor(R.standard_normal((4, 3)), device="cuda:0", requires_grad=True)
    (gx,) = tg.autograd.grad(nn.DataParallel(net)(x).sum() ** 2, [x], create_graph=True)
    np.testing.assert_allclose(host(gx), host(tg.autograd.grad(net(x).sum() ** 2, [x])[0]),
                               rtol=1e-12)
    with pytest.raises(RuntimeError, match="differentiate twice"):
        gx.sum().backward()


def test_data_parallel_state_dict_has_module_prefix(device):
    net = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    dp = nn.DataParallel(net, device_ids=[])
    ref = torch.nn.DataParallel(torch.nn.Sequential(torch.nn.Linear(2, 3),
                                                    torch.nn.BatchNorm1d(3)))
    assert list(dp.state_dict()) == list(ref.state_dict())
    assert all(k.startswith("module.") for k in dp.state_dict())
    dp.load_state_dict({k: tg.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()})
    np.testing.assert_array_equal(net[0].weight.numpy(), ref.module[0].weight.detach().numpy())
    assert repr(dp).startswith("DataParallel(\n  (module): Sequential(")
    dp.to(device)
    x = R.standard_normal((4, 2)).astype(np.float32)
    _close(dp(_tg(x, device)), net(_tg(x, device)), 0)


def test_data_parallel_without_gpus_calls_the_module(device, monkeypatch):
    monkeypatch.setattr(tg.cuda, "is_available", lambda: False)
    net = _Net().to(device)
    dp = nn.DataParallel(net)
    assert dp.device_ids == [] and dp.output_device is None
    x = _tg(R.standard_normal((3, 4)), device)
    g = _tg(R.standard_normal((3, 3)), device)
    out, dx = _step(dp, x, g)
    grads = [host(p.grad) for p in net.parameters()]
    ref, rdx = _step(net, x, g)
    np.testing.assert_array_equal(host(out), host(ref))
    np.testing.assert_array_equal(host(dx), host(rdx))
    for a, p in zip(grads, net.parameters()):
        np.testing.assert_array_equal(a, host(p.grad))


def test_data_parallel_one_device_moves_the_module(cuda_device):
    net = nn.Linear(3, 2)
    dp = nn.DataParallel(net, device_ids=[0])
    assert net.weight.device == "cuda:0"
    x = tg.ones(4, 3)  # a CPU input goes to device_ids[0]
    out = dp(x)
    assert out.device == "cuda:0"
    np.testing.assert_allclose(host(out), host(net(x.to("cuda:0"))))


def test_data_parallel_errors(cuda_device):
    with pytest.raises(TypeError, match="DataParallel: module must be a tensorgrad.nn.Module"):
        nn.DataParallel(lambda x: x)
    with pytest.raises(ValueError, match=r"DataParallel: device_ids \[0, 7\] name GPUs that do "
                                         r"not exist"):
        nn.DataParallel(nn.Linear(2, 2), device_ids=[0, 7])
    with pytest.raises(ValueError, match="device ids must be CUDA devices"):
        nn.DataParallel(nn.Linear(2, 2), device_ids=["cpu"])
    if tg.cuda.device_count() >= 2:
        dp = nn.DataParallel(nn.Linear(2, 2), device_ids=[0, 1])  # parameters left on the CPU
        with pytest.raises(RuntimeError, match=r"module must have its parameters and buffers "
                                               r"on device cuda:0 \(device_ids\[0\]\) but found "
                                               r"weight on device cpu"):
            dp(tg.ones(4, 2))
        dp.to("cuda:0")
        with pytest.raises(ValueError, match="cannot scatter a 0-dimensional tensor"):
            dp(tg.tensor(1.0, device="cuda:0"))
