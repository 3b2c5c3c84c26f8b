"""PyTorch's memory formats (tensorgrad/_memory_format.py): the ``tg.memory_format`` objects,
channels_last strides and contiguity as PyTorch's, ``contiguous``/``clone``/``to``/``*_like``/
``empty`` with ``memory_format=``, ``Module.to(memory_format=)``, derivatives through the
layout copies, ops fed channels_last inputs, and a CNN training step against PyTorch's."""

import copy
import pickle

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
import tensorgrad.nn.functional as F

CL, CL3, CF, PF = tg.channels_last, tg.channels_last_3d, tg.contiguous_format, tg.preserve_format
NAMES = ("contiguous_format", "channels_last", "channels_last_3d", "preserve_format")


def _torch_fmt(fmt):
    return getattr(torch_oracle(), repr(fmt).removeprefix("tensorgrad."))


# ---- the objects ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_formats_are_memory_format_instances_with_torchs_reprs(name):
    torch = torch_oracle()
    fmt = getattr(tg, name)
    assert isinstance(fmt, tg.memory_format) and name in tg.__all__
    assert repr(fmt) == repr(getattr(torch, name)).replace("torch.", "tensorgrad.")
    assert copy.deepcopy(fmt) is fmt and pickle.loads(pickle.dumps(fmt)) is fmt
    assert fmt == fmt and len({fmt, getattr(tg, name)}) == 1


def test_memory_format_type_cannot_be_instantiated_and_legacy_is_contiguous():
    with pytest.raises(TypeError, match="cannot create 'tensorgrad.memory_format' instances"):
        tg.memory_format()
    assert tg.legacy_contiguous_format is tg.contiguous_format
    assert repr(tg.memory_format) == "<class 'tensorgrad.memory_format'>"
    assert len(set(map(id, (CL, CL3, CF, PF)))) == 4


def _fmt_for(v, fmt):
    """``fmt``, or PyTorch's format of that name for a PyTorch tensor."""
    return fmt if isinstance(v, tg.Tensor) else _torch_fmt(fmt)


# ---- strides and contiguity as PyTorch's ---------------------------------------------------
SHAPES_4D = [(2, 3, 4, 5), (2, 1, 4, 5), (2, 3, 1, 1), (1, 3, 1, 1), (2, 1, 1, 1), (2, 3, 4, 1),
             (1, 3, 4, 5), (1, 1, 1, 1)]
SHAPES_5D = [(2, 3, 4, 5, 6), (2, 1, 4, 5, 6), (2, 3, 1, 1, 1), (1, 2, 3, 1, 2)]


def _assert_same_layout_facts(ours, theirs, exact=True):
    """The same strides (``exact=False``: but those of size-1 dimensions, which no layout test
    reads: a row-major tensor's preserve_format copy has standard row-major strides, where
    PyTorch copies a size-1 dimension's odd stride too) and the same contiguity answers."""
    if exact:
        assert ours.stride() == theirs.stride(), (ours.shape, ours.stride(), theirs.stride())
    else:
        big = [i for i, n in enumerate(ours.shape) if n != 1]
        assert [ours.stride(i) for i in big] == [theirs.stride(i) for i in big]
    for fmt in (CF, CL, CL3, PF):
        assert ours.is_contiguous(memory_format=fmt) == \
            theirs.is_contiguous(memory_format=_torch_fmt(fmt)), (fmt, ours.stride())
    assert ours.is_contiguous() == theirs.is_contiguous()


@pytest.mark.parametrize("shape", SHAPES_4D)
def test_channels_last_strides_and_is_contiguous_match_pytorch(device, shape):
    torch = torch_oracle()
    a = np.arange(float(np.prod(shape))).reshape(shape)
    x, t = tensor_on(a, device), torch.tensor(a)
    for make in (lambda v, f: v.contiguous(memory_format=f), lambda v, f: v.clone(memory_format=f),
                 lambda v, f: v.to(memory_format=f)):
        ours, theirs = make(x, CL), make(t, _torch_fmt(CL))
        assert on(ours, device)
        _assert_same_layout_facts(ours, theirs)
        np.testing.assert_array_equal(host(ours), a)
        # back to row-major, and preserve_format copies keep the layout
        _assert_same_layout_facts(ours.contiguous(), theirs.contiguous())
        _assert_same_layout_facts(ours.clone(), theirs.clone(), exact=False)
        _assert_same_layout_facts(tg.empty_like(ours), torch.empty_like(theirs), exact=False)
        _assert_same_layout_facts(tg.zeros_like(ours, dtype=tg.float32),
                                  torch.zeros_like(theirs, dtype=torch.float32), exact=False)
        _assert_same_layout_facts(tg.full_like(ours, 2.0), torch.full_like(theirs, 2.0),
                                  exact=False)
    _assert_same_layout_facts(tg.empty(*shape, memory_format=CL, device=device),
                              torch.empty(*shape, memory_format=torch.channels_last))
    _assert_same_layout_facts(tg.ones_like(x, memory_format=CL),
                              torch.ones_like(t, memory_format=torch.channels_last))


@pytest.mark.parametrize("shape", SHAPES_5D)
def test_channels_last_3d_strides_and_is_contiguous_match_pytorch(device, shape):
    torch = torch_oracle()
    a = np.arange(float(np.prod(shape))).reshape(shape)
    x, t = tensor_on(a, device), torch.tensor(a)
    ours, theirs = x.contiguous(memory_format=CL3), t.contiguous(memory_format=_torch_fmt(CL3))
    _assert_same_layout_facts(ours, theirs)
    _assert_same_layout_facts(ours.clone(), theirs.clone(), exact=False)
    _assert_same_layout_facts(ours.contiguous(), theirs.contiguous())
    _assert_same_layout_facts(tg.empty(shape, memory_format=CL3),
                              torch.empty(shape, memory_format=torch.channels_last_3d))
    np.testing.assert_array_equal(host(ours), a)


@pytest.mark.parametrize("view", ["transposed", "sliced", "cl_sliced", "permuted", "expanded"])
def test_preserve_format_follows_pytorch_for_other_layouts(device, view):
    """Dense layouts keep their exact strides; others get the layout their strides suggest."""
    torch = torch_oracle()
    a = np.arange(120.0).reshape(2, 3, 4, 5)
    views = {"transposed": lambda v: v.transpose(1, 3),
             "sliced": lambda v: v[:, :, ::2],
             "cl_sliced": lambda v: v.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)[
                 :, :, ::2],
             "permuted": lambda v: v.permute(3, 1, 0, 2),
             "expanded": lambda v: v[:1, :, :1].expand(2, 3, 4, 5)}
    ours, theirs = views[view](tensor_on(a, device)), views[view](torch.tensor(a))
    assert ours.stride() == theirs.stride()
    for f in (lambda v: v.clone(), lambda v: v.clone(memory_format=_fmt_for(v, PF)),
              lambda v: v.to(torch.float32 if isinstance(v, torch.Tensor) else tg.float32),
              lambda v: v.contiguous()):
        _assert_same_layout_facts(f(ours), f(theirs))
        np.testing.assert_array_equal(host(f(ours)), f(theirs).numpy())
    _assert_same_layout_facts(tg.empty_like(ours), torch.empty_like(theirs))


def test_contiguous_and_to_return_self_when_nothing_changes_as_pytorch(device):
    torch = torch_oracle()
    x = tensor_on(np.ones((2, 3, 4, 5)), device)
    c = x.contiguous(memory_format=CL)
    assert x.contiguous() is x and c.contiguous(memory_format=CL) is c
    assert c.to(memory_format=CL) is c and x.to(memory_format=CF) is x
    assert c.to(memory_format=PF) is c and c.to(str(c.device)) is c
    assert c.to(memory_format=CL, copy=True) is not c and c.to(copy=True).stride() == c.stride()
    # PyTorch aliases when the strides suggest the format: a transposed matrix stays one
    t = tensor_on(np.ones((3, 4)), device).T
    assert t.to(memory_format=CF) is t
    assert torch.ones(3, 4).T.to(memory_format=torch.contiguous_format).stride() == t.stride()
    assert c.contiguous().is_contiguous() and c.contiguous() is not c


def test_casts_and_device_moves_keep_channels_last(device):
    x = tg.tensor(np.arange(120.0).reshape(2, 3, 4, 5)).contiguous(memory_format=CL)
    moved = x.to(device)
    assert on(moved, device) and moved.is_contiguous(memory_format=CL) and moved.stride() == \
        x.stride()
    back = moved.cpu()
    assert back.stride() == x.stride() and np.array_equal(host(back), host(x))
    for cast in (moved.float(), moved.to(tg.float32), moved.half(), moved.int()):
        assert cast.stride() == x.stride() and on(cast, device)
    y = tensor_on(np.ones((2, 3, 4, 5)), device)
    assert y.float(memory_format=CL).stride() == x.stride()
    assert y.to(tg.float32, memory_format=CL).stride() == x.stride()
    assert y.cpu(memory_format=CL).stride() == x.stride()
    assert y.double(memory_format=CL).is_contiguous(memory_format=CL)


# ---- bad input -----------------------------------------------------------------------------
BAD = ["channels_last", 3, object(), np.float32]


@pytest.mark.parametrize("bad", BAD, ids=["str", "int", "object", "dtype"])
def test_unknown_memory_format_is_a_type_error_naming_op_and_argument(device, bad):
    x = tensor_on(np.ones((2, 3, 4, 5)), device)
    calls = {"contiguous": lambda: x.contiguous(memory_format=bad),
             "clone": lambda: x.clone(memory_format=bad),
             "to": lambda: x.to(memory_format=bad),
             "is_contiguous": lambda: x.is_contiguous(memory_format=bad),
             "empty_like": lambda: tg.empty_like(x, memory_format=bad),
             "zeros_like": lambda: tg.zeros_like(x, memory_format=bad),
             "full_like": lambda: tg.full_like(x, 1.0, memory_format=bad),
             "empty": lambda: tg.empty(2, 3, 4, 5, memory_format=bad),
             "Module.to": lambda: tg.nn.Conv2d(1, 1, 1).to(memory_format=bad)}
    for op, call in calls.items():
        with pytest.raises(TypeError, match=rf"{op}\(\): argument 'memory_format' must be "
                                            r"tensorgrad.memory_format"):
            call()


def test_none_is_refused_where_pytorch_refuses_it(device):
    x = tensor_on(np.ones((2, 3, 4, 5)), device)
    for call in (lambda: x.contiguous(memory_format=None),
                 lambda: x.is_contiguous(memory_format=None)):
        with pytest.raises(TypeError, match="memory_format"):
            call()
    assert x.clone(memory_format=None).stride() == x.stride() and x.to(memory_format=None) is x


@pytest.mark.parametrize("ndim", [2, 3, 5])
def test_channels_last_needs_rank_4_as_pytorch(device, ndim):
    torch = torch_oracle()
    shape = (2, 3, 4, 5, 6)[:ndim]
    x, t = tensor_on(np.ones(shape), device), torch.ones(shape)
    assert x.is_contiguous(memory_format=CL) is t.is_contiguous(memory_format=torch.channels_last)
    calls = {"contiguous": lambda v, f: v.contiguous(memory_format=f),
             "clone": lambda v, f: v.clone(memory_format=f),
             "to": lambda v, f: v.to(memory_format=f),
             "empty_like": lambda v, f: (tg if isinstance(v, tg.Tensor) else torch).empty_like(
                 v, memory_format=f)}
    for op, call in calls.items():
        with pytest.raises(RuntimeError, match="required rank 4 tensor to use channels_last "
                                               "format"):
            call(t, torch.channels_last)
        with pytest.raises(RuntimeError, match=rf"{op}\(\): required rank 4 tensor to use "
                                               rf"channels_last format, got a tensor of shape "
                                               rf"\({shape[0]}, "):
            call(x, CL)
    with pytest.raises(RuntimeError, match="empty.*required rank 5 tensor to use "
                                           "channels_last_3d format"):
        tg.empty(2, 3, memory_format=CL3)


def test_preserve_format_errors_as_pytorch(device):
    x = tensor_on(np.ones((2, 3, 4, 5)), device)
    with pytest.raises(RuntimeError, match="empty.*unsupported memory format Preserve"):
        tg.empty(2, 3, memory_format=PF)
    c = x.contiguous(memory_format=CL)
    assert x.contiguous(memory_format=PF) is x  # contiguous already, as PyTorch
    with pytest.raises(RuntimeError, match="preserve memory format is unsupported by the "
                                           "contiguous operator"):
        c.contiguous(memory_format=PF)


# ---- signatures ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["clone", "contiguous", "is_contiguous", "float", "double",
                                  "half", "int", "long", "bool", "cpu", "cuda"])
def test_tensor_methods_take_pytorchs_memory_format(name):
    torch = torch_oracle()
    ours = getattr(tg.Tensor, name)
    want = torch_param_names(getattr(torch.Tensor, name))
    assert_takes_torchs_parameters(name, ours, want, (), ("self",))
    assert param_names(ours)[1:] == want
    import inspect

    p = inspect.signature(ours).parameters["memory_format"]
    assert p.kind == p.KEYWORD_ONLY


@pytest.mark.parametrize("name", ["empty", "empty_like", "zeros_like", "ones_like", "full_like"])
def test_factories_take_pytorchs_memory_format(name):
    torch = torch_oracle()
    want = torch_param_names(getattr(torch, name))
    # tensorgrad's *_like name their first argument x; PyTorch's input. layout= and
    # pin_memory= are taken, keyword-only after the others here (tests/test_loose_ends_2.py,
    # tests/test_cuda_api.py check them)
    ours = getattr(tg, name)
    assert_takes_torchs_parameters(name, ours, want, ("out", "layout", "pin_memory", "input"),
                                   ("x", "layout", "pin_memory"))
    import inspect

    p = inspect.signature(ours).parameters["memory_format"]
    assert p.kind == p.KEYWORD_ONLY and p.default is (CF if name == "empty" else PF)


@pytest.mark.parametrize("name", ["rand_like", "randn_like", "randint_like", "clone"])
@pytest.mark.parametrize("fmt", ["preserve", "contiguous", "channels_last"])
def test_random_likes_and_clone_lay_out_as_pytorch(device, name, fmt):
    torch = torch_oracle()
    a = np.arange(120.0).reshape(2, 3, 4, 5)
    x = tensor_on(a, device).contiguous(memory_format=CL)
    tx = torch.tensor(a).contiguous(memory_format=torch.channels_last)
    kw = {} if fmt == "preserve" else {"memory_format": {"contiguous": CF,
                                                          "channels_last": CL}[fmt]}
    tkw = {k: _torch_fmt(v) for k, v in kw.items()}
    args = (7,) if name == "randint_like" else ()
    out, tout = getattr(tg, name)(x, *args, **kw), getattr(torch, name)(tx, *args, **tkw)
    assert out.stride() == tout.stride() and out.shape == tuple(tout.shape)
    if name == "clone":
        assert np.array_equal(host(out.data), a)


def test_tensor_to_takes_memory_format_keyword():
    import inspect

    p = inspect.signature(tg.Tensor.to).parameters["memory_format"]
    assert p.kind == p.KEYWORD_ONLY and p.default is None


# ---- derivatives ---------------------------------------------------------------------------
MOVES = {
    "contiguous_cl": lambda v: v.contiguous(memory_format=CL),
    "clone_cl": lambda v: v.clone(memory_format=CL),
    "to_cl": lambda v: v.to(memory_format=CL),
    "cl_then_contiguous": lambda v: v.contiguous(memory_format=CL).contiguous(),
    "clone_preserve_of_cl": lambda v: v.to(memory_format=CL).clone(),
    "clone_contiguous": lambda v: v.transpose(1, 2).clone(memory_format=CF),
    "to_float64_cl": lambda v: v.to(tg.float64, memory_format=CL),
}


@pytest.mark.parametrize("name", list(MOVES))
def test_layout_copies_are_differentiable_to_second_order(device, name):
    move = MOVES[name]
    a = np.random.default_rng(1).standard_normal((2, 3, 2, 2))
    x = tensor_on(a, device)

    def f(v):
        # check_grads calls f on the raw array too, and on Tensors that carry derivatives
        y = move(v if isinstance(v, tg.Tensor) else tg.tensor(v))
        return tg.tanh(y) * y

    np.testing.assert_array_equal(host(move(x)), host(x) if name != "clone_contiguous" else
                                  np.swapaxes(a, 1, 2))
    tg.check_grads(f, modes=("fwd", "rev"), order=2)(x)


@pytest.mark.parametrize("name", ["contiguous_cl", "clone_cl", "to_cl", "cl_then_contiguous"])
def test_layout_copy_gradients_match_pytorch(device, name):
    torch = torch_oracle()
    a = np.random.default_rng(2).standard_normal((2, 3, 4, 5))
    x, t = tensor_on(a, device, requires_grad=True), torch.tensor(a, requires_grad=True)
    tmoves = {"contiguous_cl": lambda v: v.contiguous(memory_format=torch.channels_last),
              "clone_cl": lambda v: v.clone(memory_format=torch.channels_last),
              "to_cl": lambda v: v.to(memory_format=torch.channels_last),
              "cl_then_contiguous": lambda v: v.contiguous(
                  memory_format=torch.channels_last).contiguous()}
    y, u = MOVES[name](x), tmoves[name](t)
    assert y.requires_grad and y.grad_fn is not None and y.stride() == u.stride()
    (tg.sin(y) * y).sum().backward()
    (torch.sin(u) * u).sum().backward()
    np.testing.assert_allclose(host(x.grad), t.grad.numpy(), rtol=1e-12, atol=1e-14)
    assert on(x.grad, device)


# ---- ops fed channels_last inputs ----------------------------------------------------------
def _layout(y):
    if y.is_contiguous():
        return "row-major"
    return "channels_last" if y.is_contiguous(memory_format=CL) else "other"


# what tensorgrad gives a channels_last input (PyTorch keeps channels_last through all but the
# last two); the values are the row-major input's either way
OPS = {
    "conv2d": (lambda v, p: F.conv2d(v, p["w"], p["b"], padding=1), "channels_last"),
    "batch_norm": (lambda v, p: F.batch_norm(v, None, None, p["g"], p["beta"], training=True),
                   "channels_last"),
    "relu": (lambda v, p: F.relu(v), "channels_last"),
    "tanh": (lambda v, p: tg.tanh(v), "channels_last"),
    "add_self": (lambda v, p: v + v, "channels_last"),
    "mul_scalar": (lambda v, p: v * 2.0, "channels_last"),
    "add_row_major": (lambda v, p: v + p["other"], "row-major"),
    "max_pool2d": (lambda v, p: F.max_pool2d(v, 2), "row-major"),
    "avg_pool2d": (lambda v, p: F.avg_pool2d(v, 2), "row-major"),
    "adaptive_avg_pool2d": (lambda v, p: F.adaptive_avg_pool2d(v, 1), "row-major"),
    "flatten_linear": (lambda v, p: F.linear(v.flatten(1), p["lin"]), "row-major"),
}


@pytest.mark.parametrize("name", list(OPS))
def test_ops_give_the_same_values_for_channels_last_inputs(device, name):
    torch = torch_oracle()
    rng = np.random.default_rng(3)
    a = rng.standard_normal((2, 3, 6, 6))
    arrays = {"w": rng.standard_normal((4, 3, 3, 3)), "b": rng.standard_normal(4),
              "g": rng.standard_normal(3), "beta": rng.standard_normal(3),
              "other": rng.standard_normal((2, 3, 6, 6)), "lin": rng.standard_normal((5, 108))}
    params = {k: tensor_on(v, device) for k, v in arrays.items()}
    fn, observed = OPS[name]
    x = tensor_on(a, device, requires_grad=True)
    xc = tensor_on(a, device).contiguous(memory_format=CL).requires_grad_()
    assert xc.is_contiguous(memory_format=CL) and not xc.is_contiguous()
    ref, out = fn(x, params), fn(xc, params)
    np.testing.assert_allclose(host(out), host(ref), rtol=1e-12, atol=1e-12)
    if device == "cpu":  # the layouts NumPy's kernels give (the CuPy stand-in's may differ)
        assert _layout(out) == observed, (name, out.stride())
    w = tensor_on(rng.standard_normal(tuple(ref.shape)), device)
    (ref * w).sum().backward()
    (out * w).sum().backward()
    np.testing.assert_allclose(host(xc.grad), host(x.grad), rtol=1e-12, atol=1e-12)
    # PyTorch on the same channels_last input: the same values
    tp = {k: torch.tensor(v) for k, v in arrays.items()}
    tfn = {"conv2d": lambda v: torch.nn.functional.conv2d(v, tp["w"], tp["b"], padding=1),
           "batch_norm": lambda v: torch.nn.functional.batch_norm(v, None, None, tp["g"],
                                                                  tp["beta"], training=True),
           "relu": torch.relu, "tanh": torch.tanh, "add_self": lambda v: v + v,
           "mul_scalar": lambda v: v * 2.0, "add_row_major": lambda v: v + tp["other"],
           "max_pool2d": lambda v: torch.nn.functional.max_pool2d(v, 2),
           "avg_pool2d": lambda v: torch.nn.functional.avg_pool2d(v, 2),
           "adaptive_avg_pool2d": lambda v: torch.nn.functional.adaptive_avg_pool2d(v, 1),
           "flatten_linear": lambda v: torch.nn.functional.linear(v.flatten(1), tp["lin"])}[name]
    np.testing.assert_allclose(host(out), tfn(torch.tensor(a).contiguous(
        memory_format=torch.channels_last)).numpy(), rtol=1e-10, atol=1e-12)


# ---- modules -------------------------------------------------------------------------------
def test_module_to_channels_last_converts_4d_parameters_only(device):
    torch = torch_oracle()
    ours = tg.nn.Sequential(tg.nn.Conv2d(3, 4, 3), tg.nn.BatchNorm2d(4)).to(device)
    theirs = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    w, b = ours[0].weight, ours[0].bias
    assert ours.to(memory_format=CL) is ours
    theirs.to(memory_format=torch.channels_last)
    assert ours[0].weight is w and ours[0].bias is b  # the same Parameter objects
    assert w.stride() == theirs[0].weight.stride() and w.is_contiguous(memory_format=CL)
    assert on(w, device) and w.requires_grad and w.is_leaf
    for name, t in ours.state_dict().items():
        if t.ndim != 4:
            assert t.stride() == theirs.state_dict()[name].stride(), name
    ours.to(memory_format=CF)
    assert w.is_contiguous() and ours[0].weight is w
    ours.to(device, tg.float32, memory_format=CL)
    assert w.dtype == np.float32 and w.is_contiguous(memory_format=CL) and on(w, device)


def test_module_to_channels_last_refuses_5d_parameters_as_pytorch(device):
    torch = torch_oracle()
    with pytest.raises(RuntimeError, match="required rank 4 tensor to use channels_last"):
        torch.nn.Conv3d(2, 3, 2).to(memory_format=torch.channels_last)
    with pytest.raises(RuntimeError, match="required rank 4 tensor to use channels_last"):
        tg.nn.Conv3d(2, 3, 2).to(device).to(memory_format=CL)
    m = tg.nn.Conv3d(2, 3, 2).to(device).to(memory_format=CL3)
    assert m.weight.stride() == torch.nn.Conv3d(2, 3, 2).to(
        memory_format=torch.channels_last_3d).weight.stride()


# ---- a training step, against PyTorch ------------------------------------------------------
def _cnn(nn):
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 5))


def test_channels_last_cnn_training_matches_pytorch(device):
    torch = torch_oracle()
    torch.manual_seed(0)
    theirs = _cnn(torch.nn).double().to(memory_format=torch.channels_last)
    ours = _cnn(tg.nn).double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    ours.to(device).to(memory_format=CL)
    assert ours[0].weight.stride() == theirs[0].weight.stride()
    opt_t = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    opt = tg.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(4)
    for step in range(4):
        a = rng.standard_normal((6, 3, 8, 8))
        y = rng.integers(0, 5, 6)
        xt = torch.tensor(a).contiguous(memory_format=torch.channels_last)
        x = tensor_on(a, device).contiguous(memory_format=CL)
        assert x.stride() == xt.stride()
        loss_t = torch.nn.functional.cross_entropy(theirs(xt), torch.tensor(y))
        loss = F.cross_entropy(ours(x), put(tg.tensor(y), device))
        opt_t.zero_grad()
        opt.zero_grad()
        loss_t.backward()
        loss.backward()
        opt_t.step()
        opt.step()
        np.testing.assert_allclose(float(loss), loss_t.item(), rtol=1e-10, atol=1e-12)
        for (name, p), q in zip(ours.named_parameters(), theirs.parameters(), strict=True):
            np.testing.assert_allclose(host(p), q.detach().numpy(), rtol=1e-10, atol=1e-12,
                                       err_msg=f"step {step}: {name}")
            assert on(p, device)
    bn_ours, bn_theirs = ours[1], theirs[1]
    np.testing.assert_allclose(host(bn_ours.running_mean), bn_theirs.running_mean.numpy(),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dims", [2, 3])
def test_convert_conv_weight_memory_format_matches_pytorch(device, dims):
    torch = torch_oracle()
    conv, tconv = getattr(tg.nn, f"Conv{dims}d"), getattr(torch.nn, f"Conv{dims}d")
    deconv, tdeconv = (getattr(tg.nn, f"ConvTranspose{dims}d"),
                       getattr(torch.nn, f"ConvTranspose{dims}d"))
    tg.manual_seed(0)
    m = tg.nn.Sequential(conv(3, 4, 3), tg.nn.Sequential(deconv(4, 2, 3)), tg.nn.Linear(2, 2))
    m = m.to(device)
    tm = torch.nn.Sequential(tconv(3, 4, 3), torch.nn.Sequential(tdeconv(4, 2, 3)),
                             torch.nn.Linear(2, 2))
    fmt = CL if dims == 2 else CL3
    before = [host(p.data).copy() for p in m.parameters()]
    ids = [id(p) for p in m.parameters()]
    fn = getattr(tg.nn.utils, f"convert_conv{dims}d_weight_memory_format")
    tfn = getattr(torch.nn.utils, f"convert_conv{dims}d_weight_memory_format")
    assert fn(m, fmt) is m
    tfn(tm, _torch_fmt(fmt))
    for p, tp, old in zip(m.parameters(), tm.parameters(), before):
        assert p.stride() == tp.stride()
        assert np.array_equal(host(p.data), old)
    assert [id(p) for p in m.parameters()] == ids
