"""Loose ends of tensorgrad.nn: ``return_indices`` on the max pools (functions and modules) and
max unpooling from those indices, instance norms with running statistics (and the lazy ones'
PyTorch defaults), the one alpha-dropout helper, and PyTorch's top-level copies of the nn
functions (tensorgrad/torch_nn_aliases.py). Values, gradients, indices and running statistics
against PyTorch on every device; the top level's signatures against PyTorch's."""

import numpy as np
import pytest
from devices import (
    against_torch,
    assert_takes_torchs_parameters,
    host,
    tensor_on,
    torch_oracle,
    torch_param_names,
)

import tensorgrad as tg
import tensorgrad.nn.functional as F

torch = torch_oracle()
TF = torch.nn.functional

R = np.random.default_rng(5)
# distinct values: no ties in a pooling window, so both libraries pick the same maximum
DISTINCT = R.permutation(2 * 3 * 7 * 8).reshape(2, 3, 7, 8) / 10.0 - 16.0


def _pair_of(device, x, requires_grad=True):
    return tensor_on(x, device, requires_grad), torch.tensor(x, requires_grad=requires_grad)


def _same_grads(ours, theirs, out, ref, rtol=1e-12, atol=1e-12):
    """Backward of the same random weighting of ``out`` and ``ref``; compare the leaves."""
    w = R.standard_normal(tuple(ref.shape))
    (out * tensor_on(w, out.device)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(host(a.grad), b.grad.numpy(), rtol=rtol, atol=atol)


# ---- return_indices on the max pools ---------------------------------------------------------
POOL_CASES = {
    "max1d": (1, "max_pool1d", dict(kernel_size=3, stride=2, padding=1)),
    "max1d_dil_ceil": (1, "max_pool1d", dict(kernel_size=2, stride=3, dilation=2,
                                             ceil_mode=True)),
    "max2d": (2, "max_pool2d", dict(kernel_size=3, stride=2, padding=1)),
    "max2d_rect_dil": (2, "max_pool2d", dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 0),
                                             dilation=(2, 1), ceil_mode=True)),
    "max2d_unbatched": (2, "max_pool2d", dict(kernel_size=2)),
    "adaptive1d": (1, "adaptive_max_pool1d", dict(output_size=3)),
    "adaptive2d": (2, "adaptive_max_pool2d", dict(output_size=(3, 5))),
    "adaptive2d_none": (2, "adaptive_max_pool2d", dict(output_size=(None, 4))),
}


def _pool_input(name, d):
    x = DISTINCT if d == 2 else DISTINCT[:, :, 0]
    return x[0] if name.endswith("unbatched") else x


@pytest.mark.parametrize("name", POOL_CASES)
def test_return_indices_match_torch(name, device):
    d, fn, kw = POOL_CASES[name]
    x = _pool_input(name, d)
    t, tt = _pair_of(device, x)
    out, idx = getattr(F, fn)(t, return_indices=True, **kw)
    ref, ref_idx = getattr(TF, fn)(tt, return_indices=True, **kw)
    assert host(idx).dtype == np.int64
    np.testing.assert_array_equal(host(idx), ref_idx.numpy())
    np.testing.assert_allclose(host(out.detach()), ref.detach().numpy(), rtol=1e-14)
    _same_grads([t], [tt], out, ref)
    # without return_indices the same values (dilation, ceil_mode and (C, H, W) now work too)
    plain = getattr(F, fn)(tensor_on(x, device), **kw)
    np.testing.assert_allclose(host(plain), ref.detach().numpy(), rtol=1e-14)


MODULE_CASES = {
    "MaxPool1d": (1, (3,), dict(stride=2, padding=1)),
    "MaxPool1d_ceil": (1, (2,), dict(dilation=2, ceil_mode=True)),
    "MaxPool2d": (2, ((2, 3),), dict(stride=(2, 1), padding=(1, 1))),
    "MaxPool2d_dil": (2, (2,), dict(dilation=2, ceil_mode=True)),
    "AdaptiveMaxPool1d": (1, (4,), {}),
    "AdaptiveMaxPool2d": (2, ((3, None),), {}),
}


@pytest.mark.parametrize("name", MODULE_CASES)
def test_pool_modules_return_indices_match_torch(name, device):
    d, args, kw = MODULE_CASES[name]
    cls = name.split("_")[0]
    ours = getattr(tg.nn, cls)(*args, return_indices=True, **kw)
    theirs = getattr(torch.nn, cls)(*args, return_indices=True, **kw)
    assert repr(ours) == repr(theirs)
    x = _pool_input(name, d)
    t, tt = _pair_of(device, x)
    (out, idx), (ref, ref_idx) = ours(t), theirs(tt)
    np.testing.assert_array_equal(host(idx), ref_idx.numpy())
    np.testing.assert_allclose(host(out.detach()), ref.detach().numpy(), rtol=1e-14)
    _same_grads([t], [tt], out, ref)


@pytest.mark.parametrize("d, kw", [
    (1, dict(kernel_size=2)),
    (1, dict(kernel_size=3, stride=3, padding=1)),
    (2, dict(kernel_size=2)),
    (2, dict(kernel_size=(3, 2), stride=(3, 2), padding=(1, 0))),
])
def test_pool_then_unpool_end_to_end(d, kw, device):
    """x -> MaxPool(return_indices) -> MaxUnpool with those indices, modules as a user chains
    them: values and the gradient with respect to x are PyTorch's (windows that do not overlap,
    so every index appears once)."""
    x = DISTINCT if d == 2 else DISTINCT[:, :, 0]
    pool, unpool = f"MaxPool{d}d", f"MaxUnpool{d}d"
    t, tt = _pair_of(device, x)
    out, idx = getattr(tg.nn, pool)(**kw, return_indices=True)(t)
    ref, ref_idx = getattr(torch.nn, pool)(**kw, return_indices=True)(tt)
    size = x.shape[2:]
    up = getattr(tg.nn, unpool)(**kw)(out, idx, output_size=size)
    tup = getattr(torch.nn, unpool)(**kw)(ref, ref_idx, output_size=size)
    assert tuple(up.shape) == tuple(tup.shape) == x.shape
    np.testing.assert_allclose(host(up.detach()), tup.detach().numpy(), rtol=1e-14)
    _same_grads([t], [tt], up, tup)


def test_adaptive_pool_then_unpool_matches_torch(device):
    x = DISTINCT[:, :, :6, :6]
    t, tt = _pair_of(device, x)
    out, idx = F.adaptive_max_pool2d(t, 3, return_indices=True)
    ref, ref_idx = TF.adaptive_max_pool2d(tt, 3, return_indices=True)
    up = F.max_unpool2d(out, idx, 2)
    tup = TF.max_unpool2d(ref, ref_idx, 2)
    np.testing.assert_allclose(host(up.detach()), tup.detach().numpy(), rtol=1e-14)
    _same_grads([t], [tt], up, tup)


def test_return_indices_second_order_both_modes():
    x = DISTINCT[:1, :2, :5, :6].copy()

    def f(a):
        v1 = F.max_pool2d(a, 2, 1, 1, return_indices=True)[0]
        v2 = F.adaptive_max_pool1d(tg.tanh(a[:, :, 0]), 2, return_indices=True)[0]
        return (v1 * v1).sum() + (v2 * v2).sum()

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(x)


def test_pool_bad_arguments_name_the_op(device):
    x = tensor_on(DISTINCT, device)
    with pytest.raises(ValueError, match=r"max_pool1d: dilation must be an int or a 1-tuple"):
        F.max_pool1d(x[:, :, 0], 2, dilation=(1, 2), return_indices=True)
    with pytest.raises(ValueError, match=r"max_pool2d_with_indices: padding \(2, 2\) must be "
                                         r"at most half the kernel \(2, 2\)"):
        F.max_pool2d(x, 2, padding=2, return_indices=True)
    with pytest.raises(ValueError, match=r"adaptive_max_pool1d_with_indices: input must have "
                                         r"2 or 3 dimensions, got shape \(2, 3, 7, 8\)"):
        F.adaptive_max_pool1d(x, 2, return_indices=True)


# ---- instance norm with running statistics -----------------------------------------------
@pytest.mark.parametrize("d, affine, momentum", [
    (1, False, 0.1), (1, True, 0.3), (2, True, 0.1), (2, False, None), (3, True, 0.2),
])
def test_instance_norm_running_stats_trajectory(d, affine, momentum, device):
    shape = (3, 4) + (5, 4, 3)[:d]
    cls = f"InstanceNorm{d}d"
    ours = getattr(tg.nn, cls)(4, momentum=momentum, affine=affine, track_running_stats=True,
                               dtype=np.float64).to(device)
    theirs = getattr(torch.nn, cls)(4, momentum=momentum, affine=affine,
                                    track_running_stats=True).double()
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for step in range(3):
        x = R.standard_normal(shape) * (step + 1) + step
        t, tt = _pair_of(device, x)
        out, ref = ours(t), theirs(tt)
        np.testing.assert_allclose(host(out.detach()), ref.detach().numpy(), rtol=1e-10,
                                   atol=1e-12)
        leaves = [t] + ([ours.weight, ours.bias] if affine else [])
        ref_leaves = [tt] + ([theirs.weight, theirs.bias] if affine else [])
        for p in leaves[1:]:
            p.grad = None
        for p in ref_leaves[1:]:
            p.grad = None
        _same_grads(leaves, ref_leaves, out, ref, rtol=1e-9, atol=1e-11)
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            np.testing.assert_allclose(host(getattr(ours, name)),
                                       getattr(theirs, name).numpy(), rtol=1e-12, atol=1e-14)
    if momentum is not None:  # the statistics moved
        assert not np.allclose(host(ours.running_var), 1.0)
    ours.eval()
    theirs.eval()
    x = R.standard_normal(shape)
    t, tt = _pair_of(device, x)
    out, ref = ours(t), theirs(tt)
    np.testing.assert_allclose(host(out.detach()), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    _same_grads([t], [tt], out, ref, rtol=1e-10, atol=1e-12)
    # unbatched input in eval mode
    np.testing.assert_allclose(host(ours(tensor_on(x[0], device))),
                               theirs(torch.tensor(x[0])).detach().numpy(), rtol=1e-10)


def test_instance_norm_state_dict_round_trip_with_torch(device):
    theirs = torch.nn.InstanceNorm2d(3, track_running_stats=True).double()
    for _ in range(2):
        theirs(torch.randn(2, 3, 4, 5, dtype=torch.float64))
    ours = tg.nn.InstanceNorm2d(3, track_running_stats=True, dtype=np.float64).to(device)
    ours.load_state_dict({k: tensor_on(v.numpy(), device)
                          for k, v in theirs.state_dict().items()})
    ours.eval()
    theirs.eval()
    x = R.standard_normal((2, 3, 4, 5))
    np.testing.assert_allclose(host(ours(tensor_on(x, device))),
                               theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10)
    ours.reset_running_stats()
    assert host(ours.running_mean).tolist() == [0.0] * 3
    assert host(ours.running_var).tolist() == [1.0] * 3


@pytest.mark.parametrize("use_input_stats", [True, False])
def test_functional_instance_norm_with_running_stats(use_input_stats, device):
    x = R.standard_normal((3, 2, 6)) * 2 + 1
    w, b = R.standard_normal(2), R.standard_normal(2)
    rm, rv = R.standard_normal(2), R.random(2) + 0.5
    ours_rm, ours_rv = tensor_on(rm, device), tensor_on(rv, device)
    ref_rm, ref_rv = torch.tensor(rm), torch.tensor(rv)

    def mine(a, w_, b_):
        return F.instance_norm(a, ours_rm, ours_rv, w_, b_, use_input_stats, 0.25, 1e-4)

    def ref(a, w_, b_):
        return TF.instance_norm(a, ref_rm, ref_rv, w_, b_, use_input_stats, 0.25, 1e-4)

    against_torch(device, mine, ref, [x, w, b], grad_args=(0, 1, 2), rtol=1e-10, rng=R)
    np.testing.assert_allclose(host(ours_rm), ref_rm.numpy(), rtol=1e-12)
    np.testing.assert_allclose(host(ours_rv), ref_rv.numpy(), rtol=1e-12)
    assert np.allclose(host(ours_rm), rm) != use_input_stats


def test_instance_norm_running_stats_second_order_both_modes():
    rm, rv = np.zeros(2), np.ones(2)

    def f(a):
        return (F.instance_norm(a, rm, rv, momentum=0.5) ** 3).sum()

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(R.standard_normal((2, 2, 5)))
    assert not np.allclose(rm, 0.0)  # a NumPy buffer is updated in place as well


def test_instance_norm_running_stats_errors(device):
    x = tensor_on(R.standard_normal((2, 3, 1)), device)
    m = tg.nn.InstanceNorm1d(3, track_running_stats=True).to(device)
    with pytest.raises(ValueError, match=r"instance_norm: expected more than 1 spatial element "
                                         r".*input shape \(2, 3, 1\)"):
        m(x.float())
    with pytest.raises(ValueError, match="instance_norm: give both running_mean and "
                                         "running_var"):
        F.instance_norm(tensor_on(R.standard_normal((2, 3, 4)), device),
                        tensor_on(np.zeros(3), device), None)
    with pytest.raises(ValueError, match=r"instance_norm: running_var must have shape \(3,\)"):
        F.instance_norm(tensor_on(R.standard_normal((2, 3, 4)), device),
                        tensor_on(np.zeros(3), device), tensor_on(np.ones(2), device))
    with pytest.raises(ValueError, match=r"InstanceNorm1d: expected 3 channels"):
        m(tensor_on(R.standard_normal((2, 4, 5)), device))


@pytest.mark.parametrize("d", [1, 2])
def test_lazy_instance_norm_defaults_are_torchs(d, device):
    ours = getattr(tg.nn, f"LazyInstanceNorm{d}d")(dtype=np.float64)
    theirs = getattr(torch.nn, f"LazyInstanceNorm{d}d")(dtype=torch.float64)
    assert (ours.affine, ours.track_running_stats) == (theirs.affine,
                                                       theirs.track_running_stats) == (True, True)
    x = R.standard_normal((2, 3) + (5, 4)[:d])
    out, ref = ours.to(device)(tensor_on(x, device)), theirs(torch.tensor(x))
    np.testing.assert_allclose(host(out.detach()), ref.detach().numpy(), rtol=1e-10)
    assert type(ours).__name__ == f"InstanceNorm{d}d"
    assert list(ours.state_dict()) == list(theirs.state_dict())
    np.testing.assert_allclose(host(ours.running_var), theirs.running_var.numpy(), rtol=1e-12)


# ---- one alpha-dropout helper ------------------------------------------------------------------
@pytest.mark.parametrize("fn", ["alpha_dropout", "feature_alpha_dropout"])
def test_alpha_dropouts_take_torchs_values(fn, device):
    """On zeros both libraries give exactly two values, kept and dropped; the same two. The
    gradient is a (kept) or 0, and the feature variant drops whole (sample, channel) maps."""
    p = 0.3
    t = tg.zeros(8, 6, 5, dtype=np.float64, device=device, requires_grad=True)
    out = getattr(F, fn)(t, p, True)
    ref = getattr(TF, fn)(torch.zeros(8, 6, 5, dtype=torch.float64), p, True)
    np.testing.assert_allclose(np.unique(host(out.detach())), np.unique(ref.numpy()),
                               rtol=1e-14)
    out.sum().backward()
    kept = host(out.detach()) == np.unique(ref.numpy()).max()
    scale = 1.0 / np.sqrt((1.7580993408473766 ** 2 * p + 1) * (1 - p))
    np.testing.assert_allclose(host(t.grad), np.where(kept, scale, 0.0), rtol=1e-14)
    if fn == "feature_alpha_dropout":
        assert (kept == kept[:, :, :1]).all()
    assert getattr(F, fn)(t, p, False) is t


# ---- PyTorch's top-level copies of the nn functions ----------------------------------------
ALIASES = ("conv1d conv2d conv3d conv_transpose1d conv_transpose2d conv_transpose3d avg_pool1d "
           "max_pool1d max_pool2d max_pool3d max_pool1d_with_indices adaptive_avg_pool1d "
           "adaptive_max_pool1d layer_norm group_norm pixel_shuffle pixel_unshuffle prelu selu "
           "celu threshold bilinear hardshrink channel_shuffle native_channel_shuffle rrelu "
           "dropout alpha_dropout feature_alpha_dropout dropout_ alpha_dropout_ "
           "feature_alpha_dropout_ batch_norm instance_norm embedding embedding_bag "
           "cosine_embedding_loss hinge_embedding_loss margin_ranking_loss triplet_margin_loss "
           "poisson_nll_loss kl_div binary_cross_entropy_with_logits ctc_loss selu_ celu_ "
           "rrelu_ threshold_").split()  # relu_ was there already (torch_surface3's)


def _schema_names(name):
    """The parameter names of the widest ATen schema ``aten::<name>`` (not the out= ones),
    ``self`` called ``input`` as Python's binding calls it."""
    schemas = [s for s in torch._C._jit_get_schemas_for_operator("aten::" + name)
               if "out" not in s.overload_name]
    widest = max(schemas, key=lambda s: len(s.arguments))
    return ["input" if a.name == "self" else a.name for a in widest.arguments]


@pytest.mark.parametrize("name", ALIASES)
def test_top_level_alias_takes_torchs_parameters(name):
    """PyTorch's documented parameters (its docstring; the ATen schema where there is none),
    and no others but the schema's (``rrelu_``'s ``generator`` is in the schema only)."""
    assert name in tg.__all__
    try:
        want = torch_param_names(getattr(torch, name))
    except (AttributeError, TypeError, ValueError):  # no docstring
        want = _schema_names(name)
    assert want, name
    assert_takes_torchs_parameters(name, getattr(tg, name), want,
                                   overloads=set(_schema_names(name)))


def test_top_level_aliases_do_not_replace_existing_names():
    from tensorgrad import torch_nn_aliases

    assert "relu_" not in torch_nn_aliases.__all__  # torch_surface3's stays
    assert tg.conv2d is F.conv2d and tg.pixel_shuffle is F.pixel_shuffle


def _vs(device, f, g, arrays, grad_args=(), **kw):
    kw.setdefault("rtol", 1e-10)
    return against_torch(device, f, g, arrays, grad_args, rng=R, **kw)


# PyTorch's float64 celu backward is off by ~1e-8 (its alpha goes through a float32 scale);
# ours is exact to rounding (checked against exp(x / alpha) in the test below)
_RTOL = {"celu": 1e-7}


X3 = R.standard_normal((2, 4, 9))
X4 = R.standard_normal((2, 4, 6, 5))


@pytest.mark.parametrize("name, args", [
    ("conv1d", lambda L: (X3, R.standard_normal((6, 2, 3)), R.standard_normal(6), 2, 1, 1, 2)),
    ("conv2d", lambda L: (X4, R.standard_normal((3, 4, 3, 2)), None, 1, (1, 0))),
    ("conv_transpose1d", lambda L: (X3, R.standard_normal((4, 3, 3)), None, 2, 1, 1)),
    ("max_pool2d", lambda L: (X4, 2, (), 1, 1, True)),
    ("max_pool1d", lambda L: (X3, 3, 2, 1, 2)),
    ("avg_pool1d", lambda L: (X3, 3, 2, 1)),
    ("adaptive_avg_pool1d", lambda L: (X3, 4)),
    ("layer_norm", lambda L: (X4, (6, 5), R.standard_normal((6, 5)), None, 1e-3, False)),
    ("group_norm", lambda L: (X4, 2, R.standard_normal(4), R.standard_normal(4), 1e-5, True)),
    ("pixel_shuffle", lambda L: (X4, 2)),
    ("prelu", lambda L: (X4, np.full(4, 0.2))),
    ("selu", lambda L: (X4,)),
    ("celu", lambda L: (X4, 0.7)),
    ("threshold", lambda L: (X4, 0.1, -2.0)),
    ("hardshrink", lambda L: (X4, 0.3)),
    ("channel_shuffle", lambda L: (X4, 2)),
    ("rrelu", lambda L: (X4, 0.1, 0.3, False)),
    ("bilinear", lambda L: (X3[0, :3], X3[1, :3], R.standard_normal((2, 9, 9)), None)),
])
def test_top_level_values_and_gradients(name, args, device):
    vals = args(None)
    arrays = [(i, v) for i, v in enumerate(vals) if isinstance(v, np.ndarray)]
    slots = [i for i, _ in arrays]

    def call(lib, *arrs):
        full = list(vals)
        for i, a in zip(slots, arrs, strict=True):
            full[i] = a
        return getattr(lib, name)(*full)

    _vs(device, lambda *a: call(tg, *a), lambda *a: call(torch, *a), [v for _, v in arrays],
        grad_args=tuple(range(len(arrays))), rtol=_RTOL.get(name, 1e-10))


def test_top_level_celu_gradient_is_exact(device):
    x = np.array([-2.5, -0.3, 0.4, -1.7])
    t = tensor_on(x, device, requires_grad=True)
    tg.celu(t, 0.7).sum().backward()
    np.testing.assert_allclose(host(t.grad), np.where(x > 0, 1.0, np.exp(x / 0.7)), rtol=1e-15)


def test_top_level_pools_with_indices(device):
    t = tensor_on(DISTINCT[:, :, 0], device)
    for name, args in (("max_pool1d_with_indices", (3, 2, 1)), ("adaptive_max_pool1d", (3,))):
        out, idx = getattr(tg, name)(t, *args)
        ref, ref_idx = getattr(torch, name)(torch.tensor(DISTINCT[:, :, 0]), *args)
        np.testing.assert_array_equal(host(idx), ref_idx.numpy())
        np.testing.assert_allclose(host(out), ref.numpy())


def test_top_level_batch_and_instance_norm(device):
    x = R.standard_normal((4, 3, 5))
    w, b = R.standard_normal(3), R.standard_normal(3)
    for name, flag in (("batch_norm", True), ("batch_norm", False), ("instance_norm", True)):
        rm, rv = R.standard_normal(3), R.random(3) + 0.5
        ours_stats = [tensor_on(rm, device), tensor_on(rv, device)]
        ref_stats = [torch.tensor(rm), torch.tensor(rv)]
        _vs(device, lambda a, w_, b_: getattr(tg, name)(a, w_, b_, *ours_stats, flag, 0.2,
                                                        1e-5, False),
            lambda a, w_, b_: getattr(torch, name)(a, w_, b_, *ref_stats, flag, 0.2, 1e-5,
                                                   False),
            [x, w, b], grad_args=(0, 1, 2))
        for s, r in zip(ours_stats, ref_stats, strict=True):
            np.testing.assert_allclose(host(s), r.numpy(), rtol=1e-12)


def test_top_level_embedding(device):
    w = R.standard_normal((6, 3))
    idx = np.array([[1, 2, 0], [2, 5, 2]])
    for pad in (-1, 2):
        _vs(device, lambda w_: tg.embedding(w_, tensor_on(idx, device), pad),
            lambda w_: torch.embedding(w_, torch.tensor(idx), pad), [w], grad_args=(0,))


@pytest.mark.parametrize("mode, pad, last", [(0, None, False), (1, None, False), (2, None, True),
                                             (1, 2, False), (2, 4, False)])
def test_top_level_embedding_bag(mode, pad, last, device):
    w = R.standard_normal((6, 3))
    idx = np.array([1, 2, 4, 5, 4, 3, 2, 0])
    off = np.array([0, 2, 5, 8] if last else [0, 2, 5])
    wt = tensor_on(w, device, requires_grad=True)
    wr = torch.tensor(w, requires_grad=True)
    ours = tg.embedding_bag(wt, tensor_on(idx, device), tensor_on(off, device), False, mode,
                            False, None, last, pad)
    ref = torch.embedding_bag(wr, torch.tensor(idx), torch.tensor(off), False, mode, False, None,
                              last, pad)
    np.testing.assert_allclose(host(ours[0].detach()), ref[0].detach().numpy(), rtol=1e-12)
    _same_grads([wt], [wr], ours[0], ref[0])
    if mode:  # PyTorch's CPU kernel leaves offset2bag and bag_size empty in sum mode
        for k in (1, 2, 3):
            np.testing.assert_array_equal(host(ours[k]), ref[k].numpy())


LOSSES = {
    "cosine_embedding_loss": (lambda: (R.standard_normal((4, 3)), R.standard_normal((4, 3)),
                                       np.array([1.0, -1.0, -1.0, 1.0])), (0.1,), 2),
    "hinge_embedding_loss": (lambda: (R.standard_normal(6), np.array([1.0, -1, 1, -1, -1, 1])),
                             (0.8,), 1),
    "margin_ranking_loss": (lambda: (R.standard_normal(5), R.standard_normal(5),
                                     np.array([1.0, -1, 1, 1, -1])), (0.2,), 2),
    "triplet_margin_loss": (lambda: (R.standard_normal((4, 3)), R.standard_normal((4, 3)),
                                     R.standard_normal((4, 3))), (0.5, 2.0, 1e-6, True), 3),
    "poisson_nll_loss": (lambda: (R.standard_normal(5), R.random(5) * 3), (True, True, 1e-8),
                         1),
    "kl_div": (lambda: (np.log(R.random((3, 4)) + 0.1), R.random((3, 4))), (), 2),
    "binary_cross_entropy_with_logits": (lambda: (R.standard_normal((3, 4)),
                                                  R.random((3, 4)), R.random(4), R.random(4)),
                                         (), 2),
}


@pytest.mark.parametrize("reduction", [0, 1, 2])
@pytest.mark.parametrize("name", LOSSES)
def test_top_level_losses_take_integer_reductions(name, reduction, device):
    make, extra, n_grad = LOSSES[name]
    arrays = list(make())

    def call(lib, *arrs):
        if name == "binary_cross_entropy_with_logits":
            return getattr(lib, name)(*arrs, reduction)
        return getattr(lib, name)(*arrs, *extra, reduction)

    _vs(device, lambda *a: call(tg, *a), lambda *a: call(torch, *a), arrays,
        grad_args=tuple(range(n_grad)))


def test_top_level_kl_div_log_target_and_ctc_loss(device):
    a, b = np.log(R.random((3, 4)) + 0.1), np.log(R.random((3, 4)) + 0.1)
    _vs(device, lambda x, y: tg.kl_div(x, y, 2, log_target=True),
        lambda x, y: torch.kl_div(x, y, 2, log_target=True), [a, b], grad_args=(0, 1))
    # through log_softmax: PyTorch's ctc backward assumes one (tests/test_nn_extra_b.py)
    logits = R.standard_normal((6, 2, 4))
    targets = np.array([[1, 2, 2], [3, 1, 0]])
    for reduction in (0, 1, 2):
        _vs(device, lambda x: tg.ctc_loss(tg.log_softmax(x, 2), tensor_on(targets, device),
                                          [6, 5], [3, 2], 0, reduction),
            lambda x: torch.ctc_loss(torch.log_softmax(x, 2), torch.tensor(targets), [6, 5],
                                     [3, 2], 0, reduction),
            [logits], grad_args=(0,), rtol=1e-9)


def test_top_level_reduction_must_be_torchs_integer(device):
    x = tensor_on(R.standard_normal(3), device)
    with pytest.raises(TypeError, match=r"kl_div: reduction must be 0 \(none\), 1 \(mean\) or "
                                        r"2 \(sum\).*got 'mean'"):
        tg.kl_div(x, x, "mean")
    with pytest.raises(TypeError, match="hinge_embedding_loss: reduction .* got 3"):
        tg.hinge_embedding_loss(x, x, 1.0, 3)


def test_top_level_dropouts_and_in_place_variants(device):
    x = tensor_on(R.standard_normal((4, 5, 6)), device)
    for name in ("dropout", "alpha_dropout", "feature_alpha_dropout"):
        assert getattr(tg, name)(x, 0.5, False) is x
        y = x.clone()
        assert getattr(tg, name + "_")(y, 0.5, False) is y
        np.testing.assert_array_equal(host(y), host(x))
    y = x.clone()
    before = y._version
    assert tg.dropout_(y, 0.5, True) is y
    kept = host(y) != 0
    assert 0.2 < kept.mean() < 0.8
    np.testing.assert_allclose(host(y)[kept], 2 * host(x)[kept], rtol=1e-14)
    assert y._version > before
    z = tg.zeros(4, 6, 5, device=device, dtype=np.float64)
    tg.feature_alpha_dropout_(z, 0.5, True)
    values = host(z)
    assert len(np.unique(values)) == 2 and (values == values[:, :, :1]).all()


def test_top_level_in_place_activations_and_rrelu_generator(device):
    x = R.standard_normal((3, 4))
    for name, args in (("selu_", ()), ("celu_", (0.5,)), ("threshold_", (0.2, -1.0)),
                       ("rrelu_", (0.1, 0.3, False)), ("relu_", ())):
        y = tensor_on(x, device)
        assert getattr(tg, name)(y, *args) is y
        np.testing.assert_allclose(host(y), getattr(torch, name)(torch.tensor(x), *args).numpy(),
                                   rtol=1e-12)
    t = tensor_on(x, device)
    first = tg.rrelu(t, 0.1, 0.3, True, tg.Generator(device).manual_seed(3))
    again = tg.rrelu(t, 0.1, 0.3, True, tg.Generator(device).manual_seed(3))
    np.testing.assert_array_equal(host(first), host(again))
    slope = host(first)[x < 0] / x[x < 0]
    assert (slope >= 0.1).all() and (slope <= 0.3).all()
    np.testing.assert_array_equal(host(first)[x >= 0], x[x >= 0])
