"""The Module API against PyTorch's (traversal order, buffers, modes, state_dict, containers,
repr) and ``tg.nn.init``'s distributions against PyTorch's, on every device."""

import math
from collections import OrderedDict

import numpy as np
import pytest
from devices import host, on, put

import tensorgrad as tg

torch = pytest.importorskip("torch")


def _net(lib):
    nn = lib.nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 4)
            self.register_buffer("count", lib.zeros(1))
            self.register_buffer("cache", lib.ones(2), persistent=False)
            self.drop = nn.Dropout(0.2)

        def forward(self, x):
            return self.drop(self.lin(x))

    net = nn.Sequential(OrderedDict([("block", Block()), ("act", nn.ReLU()),
                                     ("heads", nn.ModuleDict({"a": nn.Linear(4, 2),
                                                              "b": nn.Identity()})),
                                     ("conv", nn.Conv2d(2, 4, 3, padding=1, bias=False))]))
    net.shared = net.heads["a"]  # the same module under two names
    return net


def test_traversal_names_and_order_match_torch():
    net, tnet = _net(tg), _net(torch)
    assert [n for n, _ in net.named_modules()] == [n for n, _ in tnet.named_modules()]
    assert [n for n, _ in net.named_modules(remove_duplicate=False)] == \
        [n for n, _ in tnet.named_modules(remove_duplicate=False)]
    assert [n for n, _ in net.named_children()] == [n for n, _ in tnet.named_children()]
    assert [n for n, _ in net.named_parameters()] == [n for n, _ in tnet.named_parameters()]
    assert [n for n, _ in net.named_parameters(prefix="m", recurse=False)] == []
    assert [n for n, _ in net.block.named_parameters(prefix="b", recurse=False)] == []
    assert [n for n, _ in net.block.lin.named_parameters(prefix="x")] == ["x.weight", "x.bias"]
    assert [n for n, _ in net.named_buffers()] == [n for n, _ in tnet.named_buffers()]
    assert list(net.state_dict()) == list(tnet.state_dict())  # no non-persistent buffer
    assert "block.cache" not in net.state_dict() and "block.count" in net.state_dict()
    assert len(list(net.parameters())) == len(list(tnet.parameters())) == 5
    assert len(list(net.buffers())) == 2
    assert len(list(net.children())) == len(list(tnet.children())) == 5


def test_repr_matches_torch():
    net, tnet = _net(tg), _net(torch)
    assert repr(net) == repr(tnet)
    for args in [(1, 8, 3), (2, 4, (3, 5))]:
        kw = dict(stride=2, padding=(1, 2), dilation=2, groups=2, bias=False)
        assert repr(tg.nn.Conv2d(*args)) == repr(torch.nn.Conv2d(*args))
        assert repr(tg.nn.Conv2d(2, 4, 3, **kw)) == repr(torch.nn.Conv2d(2, 4, 3, **kw))
    for name, args in [("MaxPool2d", (2,)), ("AvgPool2d", (3, 1, 1)), ("Flatten", ()),
                       ("Dropout", (0.1,)), ("Linear", (2, 3, False))]:
        assert repr(getattr(tg.nn, name)(*args)) == repr(getattr(torch.nn, name)(*args))


def test_train_eval_apply_and_buffers_follow_the_tree(device):
    net = _net(tg).to(device)
    assert all(on(b, device) for b in net.buffers())
    assert net.eval() is net and not any(m.training for m in net.modules())
    assert net.train() is net and all(m.training for m in net.modules())
    net.block.train(False)
    assert net.training and not net.block.drop.training
    with pytest.raises(ValueError, match="boolean"):
        net.train("yes")
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen[-1] == "Sequential" and seen[0] == "Linear"  # children first
    net.block.count = tg.tensor(put(np.array([5.0]), device))  # assigning keeps it a buffer
    assert "block.count" in net.state_dict() and net.block.count.item() == 5.0
    net.block.count = None
    assert "block.count" not in net.state_dict()
    with pytest.raises(TypeError, match="buffer"):
        net.block.cache = 3.0
    with pytest.raises(TypeError, match="parameter"):
        net.block.lin.weight = tg.zeros(4, 3)
    with pytest.raises(KeyError, match="already exists"):
        net.block.register_buffer("forward", tg.zeros(1))


def test_state_dict_round_trip_with_buffers(device):
    src, dst = _net(tg).to(device), _net(tg).to(device)
    src.block.count.data[...] = 7
    keys = dst.load_state_dict(src.state_dict())
    assert keys.missing_keys == [] and keys.unexpected_keys == [] and tuple(keys) == ([], [])
    for (n, a), (_, b) in zip(src.state_dict().items(), dst.state_dict().items(), strict=True):
        np.testing.assert_array_equal(host(a), host(b), err_msg=n)
    sd = src.state_dict()
    del sd["block.count"]
    with pytest.raises(RuntimeError, match="block.count"):
        dst.load_state_dict(sd)
    assert dst.load_state_dict(sd, strict=False).missing_keys == ["block.count"]
    tsd = {k: torch.tensor(host(v)) for k, v in src.state_dict().items()}
    tnet = _net(torch)
    tnet.load_state_dict(tsd)  # the names are PyTorch's: its own modules take them


def test_zero_grad_and_containers(device):
    net = _net(tg).to(device)
    x = tg.tensor(put(np.ones((2, 3), np.float32), device))
    net.heads["a"](net.block(x)).sum().backward()
    assert net.block.lin.weight.grad is not None
    net.zero_grad(set_to_none=False)
    assert net.block.lin.weight.grad.data.sum().item() == 0.0
    net.zero_grad()
    assert net.block.lin.weight.grad is None
    d = tg.nn.ModuleDict()
    d["x"] = tg.nn.Linear(1, 1)
    d.update({"y": tg.nn.ReLU()})
    assert list(d.keys()) == ["x", "y"] and "x" in d and len(d) == 2
    assert d.pop("x") is not None and list(d) == ["y"]
    pl = tg.nn.ParameterList([tg.zeros(2), tg.nn.Parameter(tg.ones(3))])
    pd = tg.nn.ParameterDict({"w": tg.zeros(2)})
    assert all(isinstance(p, tg.nn.Parameter) for p in list(pl) + list(pd.values()))
    assert [n for n, _ in pl.named_parameters()] == ["0", "1"] and list(pd) == ["w"]
    holder = tg.nn.Module()
    holder.pl, holder.pd = pl, pd
    assert list(holder.state_dict()) == ["pl.0", "pl.1", "pd.w"]
    seq = tg.nn.Sequential(tg.nn.Linear(2, 2), tg.nn.ReLU(), tg.nn.Linear(2, 1))
    assert isinstance(seq[1:], tg.nn.Sequential) and len(seq[1:]) == 2
    ml = tg.nn.ModuleList([tg.nn.ReLU()]).extend([tg.nn.Tanh()])
    ml.insert(0, tg.nn.Identity())
    assert [type(m).__name__ for m in ml] == ["Identity", "ReLU", "Tanh"]
    assert seq.get_submodule("2") is seq[2] and seq.get_parameter("0.bias") is seq[0].bias


# ---- initialisation: distributions against PyTorch's --------------------------------------

SHAPE = (400, 300)
INITS = [
    ("uniform_", dict(a=-0.5, b=2.0)),
    ("normal_", dict(mean=1.5, std=0.3)),
    ("trunc_normal_", dict(mean=0.2, std=1.0, a=-1.0, b=1.5)),
    ("xavier_uniform_", dict(gain=2.0)),
    ("xavier_normal_", dict()),
    ("kaiming_uniform_", dict()),
    ("kaiming_uniform_", dict(a=math.sqrt(5))),
    ("kaiming_uniform_", dict(mode="fan_out", nonlinearity="relu")),
    ("kaiming_normal_", dict(a=0.1, mode="fan_out")),
    ("kaiming_normal_", dict(nonlinearity="tanh")),
    ("orthogonal_", dict(gain=1.5)),
    ("sparse_", dict(sparsity=0.3, std=0.05)),
]


def _stats(a):
    return a.mean(), a.std(), a.min(), a.max()


@pytest.mark.parametrize("name,kw", INITS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(INITS)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_initialiser_distribution_matches_torch(name, kw, dtype, device):
    t = tg.empty(*SHAPE, dtype=dtype, device=device)
    v = t._version
    assert getattr(tg.nn.init, name)(t, **kw) is t
    assert on(t, device) and t.dtype == dtype and t._version > v
    ours = host(t).astype(np.float64)
    tt = torch.empty(*SHAPE, dtype=torch.float64)
    getattr(torch.nn.init, name)(tt, **kw)
    ref = tt.numpy()
    m, s, lo, hi = _stats(ours)
    rm, rs, rlo, rhi = _stats(ref)
    n = ours.size
    # the sample means differ by a few standard errors at most, the spreads by about 1 %
    assert abs(m - rm) < 6 * rs * math.sqrt(2 / n) + 1e-12, (m, rm)
    assert abs(s - rs) < 0.02 * rs, (s, rs)
    if "uniform" in name or name == "trunc_normal_":  # the same support, filled to its ends
        span = rhi - rlo
        assert rlo - 1e-6 <= lo and hi <= rhi + 1e-6 or abs(lo - rlo) < 0.01 * span
        assert abs(lo - rlo) < 0.01 * span and abs(hi - rhi) < 0.01 * span
    if name == "sparse_":
        np.testing.assert_array_equal((ours == 0).sum(0), (ref == 0).sum(0))
    if name == "orthogonal_":
        np.testing.assert_allclose(ours.T @ ours, ref.T @ ref, atol=1e-4)


def test_constant_zeros_ones_eye_dirac_match_torch(device):
    for name, shape, args in [("constant_", (3, 4), (0.25,)), ("zeros_", (3,), ()),
                              ("ones_", (2, 2), ()), ("eye_", (3, 5), ()),
                              ("dirac_", (4, 2, 3, 3), (2,)), ("dirac_", (3, 3, 5), ())]:
        t = tg.empty(*shape, dtype="float64", device=device)
        getattr(tg.nn.init, name)(t, *args)
        tt = torch.empty(*shape, dtype=torch.float64)
        getattr(torch.nn.init, name)(tt, *args)
        assert on(t, device)
        np.testing.assert_array_equal(host(t), tt.numpy(), err_msg=name)


@pytest.mark.parametrize("nonlinearity,param", [("linear", None), ("conv2d", None),
                                                ("sigmoid", None), ("tanh", None),
                                                ("relu", None), ("leaky_relu", None),
                                                ("leaky_relu", 0.2), ("selu", None)])
def test_calculate_gain_matches_torch(nonlinearity, param):
    assert tg.nn.init.calculate_gain(nonlinearity, param) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param), rel=1e-15)


@pytest.mark.parametrize("make", [
    lambda nn: nn.Linear(300, 200),
    lambda nn: nn.Conv2d(12, 150, 5),
    lambda nn: nn.Conv2d(16, 300, (3, 2), groups=4),
], ids=["Linear", "Conv2d", "Conv2d-groups"])
def test_default_initialisation_matches_torch(make, device):
    layer = make(tg.nn)
    tlayer = make(torch.nn)
    layer.to(device)
    for name in ("weight", "bias"):
        ours = host(getattr(layer, name)).astype(np.float64)
        ref = getattr(tlayer, name).detach().numpy().astype(np.float64)
        bound = np.abs(ref).max()
        assert getattr(layer, name).dtype == np.float32
        fan_in = np.prod(tlayer.weight.shape[1:])
        assert np.abs(ours).max() <= 1 / math.sqrt(fan_in) + 1e-7
        assert np.abs(ours).max() > 0.97 * bound
        # both uniform in +-1/sqrt(fan_in): std 1/sqrt(3 fan_in), a sample's within 5 standard
        # errors (0.45/sqrt(n) relative, for a uniform distribution)
        for sample in (ours, ref):
            rel = abs(sample.std() * math.sqrt(3 * fan_in) - 1)
            assert rel < 5 * 0.45 / math.sqrt(sample.size), (name, rel)
        assert abs(ours.mean()) < 6 * ref.std() / math.sqrt(ours.size)


def test_layers_draw_on_their_device(cuda_device):
    lin = tg.nn.Linear(3, 2, device=cuda_device, dtype="float64")
    conv = tg.nn.Conv2d(1, 2, 3, device=cuda_device)
    assert all(on(p, cuda_device) for p in list(lin.parameters()) + list(conv.parameters()))
    assert lin.weight.dtype == np.float64
    tg.manual_seed(0)
    a = host(tg.nn.Linear(3, 2).weight)
    tg.manual_seed(0)
    b = host(tg.nn.Linear(3, 2).weight)
    np.testing.assert_array_equal(a, b)  # seeded by tg.manual_seed
