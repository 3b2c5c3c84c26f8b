"""``tg.set_default_device`` as PyTorch's ``torch.set_default_device``: every factory without
``device=`` makes its tensor there (so do ``nn`` modules' parameters), conversions
(``tensor``, ``as_tensor``, ``asarray``) move their data there, ``*_like`` and ``from_numpy``
stay where their input is. PyTorch's answers come from its "meta" device (no GPU needed)."""

import warnings

import numpy as np
import pytest

import tensorgrad as tg

CASES = {
    "zeros": lambda m: m.zeros(2, 3),
    "ones": lambda m: m.ones(2),
    "empty": lambda m: m.empty(2),
    "full": lambda m: m.full((2,), 1.5),
    "eye": lambda m: m.eye(2),
    "arange": lambda m: m.arange(3),
    "linspace": lambda m: m.linspace(0, 1, 3),
    "logspace": lambda m: m.logspace(0, 1, 3),
    "rand": lambda m: m.rand(2),
    "randn": lambda m: m.randn(2),
    "randint": lambda m: m.randint(0, 5, (2,)),
    "randperm": lambda m: m.randperm(4),
    "tensor of a list": lambda m: m.tensor([1.0, 2.0]),
    "tensor of a NumPy array": lambda m: m.tensor(np.ones(2)),
    "tensor of a cpu tensor": lambda m: m.tensor(m.ones(2, device="cpu")),
    "as_tensor of a NumPy array": lambda m: m.as_tensor(np.ones(2)),
    "as_tensor of a cpu tensor": lambda m: m.as_tensor(m.ones(2, device="cpu")),
    "asarray of a list": lambda m: m.asarray([1.0]),
    "zeros_like of a cpu tensor": lambda m: m.zeros_like(m.ones(2, device="cpu")),
    "from_numpy": lambda m: m.from_numpy(np.ones(2)),
    "Linear's weight": lambda m: m.nn.Linear(2, 2).weight,
    "explicit device": lambda m: m.zeros(2, device="cpu"),
}


def _torch_on_default(make):
    torch = pytest.importorskip("torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.set_default_device("meta")
        try:
            return make(torch).device.type == "meta"
        finally:
            torch.set_default_device(None)


@pytest.mark.parametrize("name", list(CASES))
def test_factories_follow_the_default_device_as_torchs(cuda_device, name):
    make = CASES[name]
    on_default = _torch_on_default(make)
    tg.set_default_device(cuda_device)
    try:
        out = make(tg)
    finally:
        tg.set_default_device("cpu")
    assert out.device == tg.Device(cuda_device if on_default else "cpu"), (name, on_default)
    assert make(tg).device == tg.Device("cpu")  # and back on the CPU afterwards


def test_a_model_made_under_the_default_device_trains_there(cuda_device):
    tg.set_default_device(cuda_device)
    try:
        model = tg.nn.Sequential(tg.nn.Linear(3, 4), tg.nn.ReLU(), tg.nn.Linear(4, 2))
        opt = tg.optim.Adam(model.parameters(), lr=0.1)
        x, y = tg.randn(8, 3), tg.randint(0, 2, (8,))
        losses = []
        for _ in range(5):
            opt.zero_grad()
            loss = tg.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
    finally:
        tg.set_default_device("cpu")
    assert all(p.device == tg.Device(cuda_device) for p in model.parameters())
    assert losses[-1] < losses[0]


def test_cuda_without_an_index_is_the_current_gpu(cuda_device):
    # as PyTorch: after set_device(n) (each DDP process's first line), "cuda" means GPU n
    last = tg.cuda.device_count() - 1  # 1 on the stand-in's two GPUs
    tg.cuda.set_device(last)
    try:
        want = tg.Device(f"cuda:{last}")
        assert tg.cuda.current_device() == last
        assert tg.zeros(2, device="cuda").device == want
        assert tg.ones(2).to("cuda").device == want
        assert tg.ones(2).cuda().device == want
        assert tg.nn.Linear(2, 2).to("cuda").weight.device == want
        assert tg.device("cuda") == want
        with tg.cuda.device(0):
            assert tg.zeros(2, device="cuda").device == tg.Device("cuda:0")
        assert tg.zeros(2, device="cuda:0").device == tg.Device("cuda:0")
    finally:
        tg.cuda.set_device(0)
    assert tg.zeros(2, device="cuda").device == tg.Device("cuda:0")
