"""nn Modules: registration, traversal, state dicts, modes, devices, against PyTorch."""

import numpy as np
import pytest

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


def test_linear_init_and_values_match_pytorch_layout():
    torch = pytest.importorskip("torch")
    lin = nn.Linear(4, 3)
    bound = 1 / np.sqrt(4)
    assert np.all(np.abs(lin.weight.numpy()) <= bound) and lin.weight.shape == (3, 4)
    tl = torch.nn.Linear(4, 3)
    with torch.no_grad():
        tl.weight.copy_(torch.tensor(lin.weight.numpy()))
        tl.bias.copy_(torch.tensor(lin.bias.numpy()))
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    np.testing.assert_allclose(lin(tg.tensor(x)).numpy(), tl(torch.tensor(x)).detach().numpy(),
                               rtol=1e-6, atol=1e-6)


def test_training_a_sequential_model_lowers_the_loss():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 2))
    opt = tg.optim.Adam(model.parameters(), lr=0.05)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 2)).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for _ in range(150):
        opt.zero_grad()
        loss = loss_fn(model(tg.tensor(x)), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]


def test_state_dict_round_trip_and_bad_state_changes_nothing():
    a, b = TwoLayer(), TwoLayer()
    b.load_state_dict(a.state_dict())
    x = tg.randn(4, 3)
    np.testing.assert_allclose(a(x).numpy(), b(x).numpy())
    before = {k: v.numpy().copy() for k, v in b.state_dict().items()}
    bad = a.state_dict()
    bad["hidden.weight"] = tg.zeros(2, 2)  # wrong shape; "out.weight" comes later in order
    bad["out.weight"] = tg.ones(2, 5) * 7
    with pytest.raises(RuntimeError, match=r"hidden.weight.*\(2, 2\).*\(5, 3\)"):
        b.load_state_dict(bad)
    for k, v in b.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])
    with pytest.raises(RuntimeError, match="missing keys"):
        b.load_state_dict({"scale": tg.ones(1)})
    missing, _ = b.load_state_dict({"scale": tg.ones(1) * 2}, strict=False)
    assert b.scale.item() == 2.0 and "hidden.weight" in missing


def test_train_eval_and_dropout():
    tg.manual_seed(1)
    d = nn.Dropout(0.5)
    x = tg.ones(1000)
    y = d(x)
    kept = y.numpy() != 0
    assert 0.4 < kept.mean() < 0.6 and np.allclose(y.numpy()[kept], 2.0)
    d.eval()
    assert d(x) is x and not d.training


def test_to_keeps_the_parameter_objects():
    m = TwoLayer()
    w = m.hidden.weight
    opt = tg.optim.SGD(m.parameters(), lr=0.1)
    m.double()
    assert m.hidden.weight is w and w.dtype == np.float64
    m(tg.randn(2, 3, dtype="float64")).sum().backward()
    opt.step()
    assert w.dtype == np.float64
