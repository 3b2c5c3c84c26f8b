"""nn Modules: registration, traversal, state dicts, modes, devices, against PyTorch."""

import numpy as np
import pytest
from devices import fit, host, on, put

import tensorgrad as tg
from tensorgrad import nn


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(3, 5)
        self.out = nn.Linear(5, 2, bias=False)
        self.scale = nn.Parameter(tg.ones(1))
        self.register_buffer("steps", tg.zeros(1))
        self.note = "not a parameter"

    def forward(self, x):
        return self.out(self.hidden(x).relu()) * self.scale


def test_registration_and_traversal():
    m = TwoLayer()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["scale", "hidden.weight", "hidden.bias", "out.weight"]
    assert [n for n, _ in m.named_buffers()] == ["steps"]
    assert len(list(m.children())) == 2 and len(list(m.modules())) == 3
    assert m.note == "not a parameter"
    assert all(p.requires_grad and p.is_leaf for p in m.parameters())
    m.out = nn.Identity()
    assert "out.weight" not in dict(m.named_parameters())


def test_linear_init_and_values_match_pytorch_layout(device):
    torch = pytest.importorskip("torch")
    lin = nn.Linear(4, 3, device=device)
    assert on(lin.weight, device) and on(lin.bias, device) and lin.weight.dtype == np.float32
    assert isinstance(lin.weight, nn.Parameter) and lin.weight.is_leaf
    conv = nn.Conv2d(2, 4, 3, device=device, dtype=np.float64)
    assert all(on(p, device) and p.dtype == np.float64 for p in conv.parameters())
    bound = 1 / np.sqrt(4)
    assert np.all(np.abs(host(lin.weight)) <= bound) and lin.weight.shape == (3, 4)
    tl = torch.nn.Linear(4, 3)
    with torch.no_grad():
        tl.weight.copy_(torch.tensor(host(lin.weight)))
        tl.bias.copy_(torch.tensor(host(lin.bias)))
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    out = lin(tg.tensor(put(x, device)))
    assert on(out, device)
    np.testing.assert_allclose(host(out), tl(torch.tensor(x)).detach().numpy(),
                               rtol=1e-6, atol=1e-6)


def _copy_params(ours, theirs, torch):
    with torch.no_grad():
        for (n, p), (tn, tp) in zip(ours.named_parameters(), theirs.named_parameters(),
                                    strict=True):
            assert n == tn
            tp.copy_(torch.tensor(host(p)))


# (our module, PyTorch's, input shape, float64?): the layers a user puts on a GPU, in train and
# eval mode (only Dropout tells them apart)
MODULES = {
    "linear": (lambda: nn.Linear(4, 3), lambda t: t.nn.Linear(4, 3), (5, 4)),
    "linear_nobias": (lambda: nn.Linear(4, 3, bias=False),
                      lambda t: t.nn.Linear(4, 3, bias=False), (2, 5, 4)),
    "conv2d": (lambda: nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2),
               lambda t: t.nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2), (2, 4, 7, 6)),
    "conv2d_dilated": (lambda: nn.Conv2d(2, 3, (2, 3), dilation=2, bias=False),
                       lambda t: t.nn.Conv2d(2, 3, (2, 3), dilation=2, bias=False),
                       (1, 2, 8, 8)),
    "maxpool2d": (lambda: nn.MaxPool2d(3, 2, 1), lambda t: t.nn.MaxPool2d(3, 2, 1), (2, 3, 7, 7)),
    "avgpool2d": (lambda: nn.AvgPool2d(2), lambda t: t.nn.AvgPool2d(2), (2, 3, 6, 6)),
    "relu": (nn.ReLU, lambda t: t.nn.ReLU(), (4, 5)),
    "tanh": (nn.Tanh, lambda t: t.nn.Tanh(), (4, 5)),
    "sigmoid": (nn.Sigmoid, lambda t: t.nn.Sigmoid(), (4, 5)),
    "silu": (nn.SiLU, lambda t: t.nn.SiLU(), (4, 5)),
    "softplus": (nn.Softplus, lambda t: t.nn.Softplus(), (4, 5)),
    "flatten": (nn.Flatten, lambda t: t.nn.Flatten(), (2, 3, 4)),
    "identity": (nn.Identity, lambda t: t.nn.Identity(), (3,)),
    "dropout_eval": (lambda: nn.Dropout(0.3).eval(), lambda t: t.nn.Dropout(0.3).eval(), (4, 5)),
    "sequential": (lambda: nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(),
                                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 3),
                                         nn.Tanh()),
                   lambda t: t.nn.Sequential(t.nn.Conv2d(1, 2, 3, padding=1), t.nn.ReLU(),
                                             t.nn.MaxPool2d(2), t.nn.Flatten(),
                                             t.nn.Linear(8, 3), t.nn.Tanh()),
                   (3, 1, 4, 4)),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_match_torch(name, dtype, device):
    torch = pytest.importorskip("torch")
    make, make_theirs, shape = MODULES[name]
    ours = make().to(device).to(dtype)
    theirs = make_theirs(torch).to(getattr(torch, np.dtype(dtype).name))
    _copy_params(ours, theirs, torch)
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    xt = tg.tensor(put(x, device), requires_grad=True)
    xr = torch.tensor(x, requires_grad=True)
    out, ref = ours(xt), theirs(xr)
    assert on(out, device) and out.dtype == dtype
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(host(out), ref.detach().numpy(), **tol)
    v = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)
    out.backward(tg.tensor(put(v, device)))
    ref.backward(torch.tensor(v))
    assert on(xt.grad, device) and xt.grad.dtype == dtype
    np.testing.assert_allclose(host(xt.grad), xr.grad.numpy(), **tol)
    for (n, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters(), strict=True):
        assert on(p.grad, device) and p.grad.dtype == dtype, n
        np.testing.assert_allclose(host(p.grad), tp.grad.numpy(), err_msg=n, **tol)


CLASS_WEIGHT = np.array([0.5, 2.0, 1.0, 3.0])
LOSSES = [
    pytest.param(lambda r: nn.CrossEntropyLoss(reduction=r),
                 lambda t, r: t.nn.CrossEntropyLoss(reduction=r), "classes", id="ce"),
    pytest.param(lambda r: nn.CrossEntropyLoss(reduction=r, label_smoothing=0.2),
                 lambda t, r: t.nn.CrossEntropyLoss(reduction=r, label_smoothing=0.2), "classes",
                 id="ce_smooth"),
    pytest.param(lambda r: nn.CrossEntropyLoss(reduction=r),
                 lambda t, r: t.nn.CrossEntropyLoss(reduction=r), "probs", id="ce_probs"),
    pytest.param(lambda r: nn.CrossEntropyLoss(reduction=r, label_smoothing=0.2),
                 lambda t, r: t.nn.CrossEntropyLoss(reduction=r, label_smoothing=0.2), "probs",
                 id="ce_probs_smooth"),
    pytest.param(lambda r: nn.MSELoss(reduction=r), lambda t, r: t.nn.MSELoss(reduction=r),
                 "values", id="mse"),
    # PyTorch's positional order: weight first, then ignore_index (class 1 occurs in the targets)
    pytest.param(lambda r: nn.CrossEntropyLoss(tg.tensor(CLASS_WEIGHT), None, 1, reduction=r),
                 lambda t, r: t.nn.CrossEntropyLoss(t.tensor(CLASS_WEIGHT), None, 1, reduction=r),
                 "classes", id="ce_weight_ignore"),
]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("make,make_theirs,kind", LOSSES)
def test_loss_modules_match_torch(make, make_theirs, kind, reduction, device):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 4))
    target = {"classes": rng.integers(0, 4, 6), "probs": rng.dirichlet(np.ones(4), size=6),
              "values": rng.standard_normal((6, 4))}[kind]
    ours, theirs = make(reduction).to(device), make_theirs(torch, reduction)
    xt = tg.tensor(put(x, device), requires_grad=True)
    xr = torch.tensor(x, requires_grad=True)
    out = ours(xt, tg.tensor(put(target, device)))
    ref = theirs(xr, torch.tensor(target))
    assert on(out, device)
    np.testing.assert_allclose(host(out), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    out.sum().backward()
    ref.sum().backward()
    assert on(xt.grad, device)
    np.testing.assert_allclose(host(xt.grad), xr.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_training_a_sequential_model_lowers_the_loss(device):
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 2)).to(device)
    opt = tg.optim.Adam(model.parameters(), lr=0.05)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 2)).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
    x, y = put(x, device), put(y, device)
    losses = fit(model, opt, nn.CrossEntropyLoss(), tg.tensor(x), y, 150)
    assert losses[-1] < 0.3 * losses[0]
    assert all(on(p, device) and p.dtype == np.float32 for p in model.parameters())


def test_state_dict_round_trip_and_bad_state_changes_nothing(device):
    a, b = TwoLayer().to(device), TwoLayer().to(device)
    sd = a.state_dict()
    assert all(on(v, device) for v in sd.values())
    b.load_state_dict(sd)
    assert all(on(v, device) for v in b.state_dict().values())
    x = tg.randn(4, 3, device=device)
    np.testing.assert_allclose(host(a(x)), host(b(x)))
    before = {k: host(v).copy() for k, v in b.state_dict().items()}
    bad = a.state_dict()
    bad["hidden.weight"] = tg.zeros(2, 2, device=device)  # wrong shape; "out.weight" is later
    bad["out.weight"] = tg.ones(2, 5, device=device) * 7
    with pytest.raises(RuntimeError, match=r"hidden.weight.*\(2, 2\).*\(5, 3\)"):
        b.load_state_dict(bad)
    for k, v in b.state_dict().items():
        np.testing.assert_array_equal(host(v), before[k])
    with pytest.raises(RuntimeError, match="missing keys"):
        b.load_state_dict({"scale": tg.ones(1, device=device)})
    missing, _ = b.load_state_dict({"scale": tg.ones(1, device=device) * 2}, strict=False)
    assert b.scale.item() == 2.0 and "hidden.weight" in missing
    # a state dict of tensors or raw arrays, from either device, lands on the model's
    c = TwoLayer()
    b.load_state_dict({k: [v, host(v), put(host(v), device), v.to(device)][i % 4] for i, (k, v) in
                       enumerate(c.state_dict().items())})
    assert all(on(p, device) for p in b.state_dict().values())
    np.testing.assert_allclose(host(b(x)), c(x.cpu()).numpy(), rtol=1e-6)


@pytest.mark.parametrize("p", [0.5, 0.0])
def test_train_eval_and_dropout(p, device):
    tg.manual_seed(1)
    d = nn.Dropout(p)
    x = tg.ones(1000, device=device, requires_grad=True)
    y = d(x)
    assert on(y, device) and y.dtype == np.float32
    kept = host(y) != 0
    if p:
        assert 0.4 < kept.mean() < 0.6 and np.allclose(host(y)[kept], 2.0)
    else:
        assert kept.all()
    y.sum().backward()
    assert on(x.grad, device) and x.grad.dtype == np.float32
    np.testing.assert_allclose(host(x.grad), host(y))  # the same mask scales the gradient
    d.eval()
    assert d(x) is x and not d.training


def test_to_keeps_the_parameter_objects(device):
    m = TwoLayer()
    m.register_buffer("count", tg.zeros(1, dtype="int64"))
    w = m.hidden.weight
    opt = tg.optim.SGD(m.parameters(), lr=0.1)
    m.to(device).double()
    assert m.hidden.weight is w and w.dtype == np.float64 and on(w, device)
    assert m.count.dtype == np.int64 and on(m.count, device)  # casts leave integers alone
    m(tg.randn(2, 3, dtype="float64", device=device)).sum().backward()
    opt.step()
    assert w.dtype == np.float64 and on(w, device) and on(w.grad, device)
