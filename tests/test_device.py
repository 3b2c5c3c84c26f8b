"""The device seam: Device values, and clear errors where CuPy or a GPU is missing."""

import os
import subprocess
import sys

import numpy as np
import pytest

import tensorgrad as tg
from tensorgrad.backend import Device, xp_of
from tensorgrad.backend import device as dev

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_device_values():
    assert Device("cpu") == "cpu" and Device("cuda:1").index == 1
    assert Device("cuda").index == 0 and str(Device("cuda:2")) == "cuda:2"
    assert tg.tensor([1.0]).device == "cpu"
    assert xp_of(np.ones(2)) is np
    with pytest.raises(ValueError, match="unknown device"):
        Device("tpu")



@pytest.fixture
def cupy_without_gpu(monkeypatch):
    """CuPy installed, but its runtime finds no driver (a machine without a GPU)."""
    class Runtime:
        @staticmethod
        def getDeviceCount():
            raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    class FakeCupy:
        class cuda:
            runtime = Runtime

    monkeypatch.setattr(dev, "cupy", FakeCupy)
    monkeypatch.setattr(dev, "_CUDA", {})
    yield
    dev._CUDA.clear()


def test_cuda_without_cupy_says_what_to_install(no_cupy):
    assert tg.cuda.is_available() is False and tg.cuda.device_count() == 0
    with pytest.raises(RuntimeError, match=r"CuPy is not installed.*tensorgrad\[cuda\]"):
        tg.tensor([1.0], device="cuda")
    with pytest.raises(RuntimeError, match="CuPy is not installed"):
        tg.ones(2).cuda()
    with pytest.raises(RuntimeError, match=r"synchronize: CuPy is not installed"):
        tg.cuda.synchronize()
    with pytest.raises(RuntimeError, match="current_device: CuPy is not installed"):
        tg.cuda.current_device()
    tg.cuda.manual_seed(3)  # remembered for later, as PyTorch does without a GPU
    assert tg.ones(2).sum().item() == 2.0  # the CPU is untouched


def test_cupy_without_a_gpu_says_so(cupy_without_gpu):
    assert tg.cuda.is_available() is False and tg.cuda.device_count() == 0
    with pytest.raises(RuntimeError, match=r"cannot reach a GPU.*no CUDA-capable device"):
        tg.zeros(3, device="cuda:0")


def test_import_without_cupy_in_a_fresh_process(tmp_path):
    """``import tensorgrad`` where ``import cupy`` fails: the library imports and the CPU runs."""
    (tmp_path / "cupy.py").write_text("raise ImportError('no cupy on this machine')\n")
    code = ("import tensorgrad as tg; assert not tg.cuda.is_available(); "
            "print((tg.ones(2) * 3).sum().item())")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), ROOT]))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "6.0"


def test_round_trip_to_cuda_and_back(device):
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x.to(device)
    assert y.device == device
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])
    assert x.grad.device == "cpu"


def test_device_api(device):
    assert tg.device(device) == device and tg.device("cuda", 1) == "cuda:1"
    if device == "cpu":
        return
    assert tg.cuda.is_available() and tg.cuda.device_count() >= 1
    assert tg.cuda.current_device() == 0
    assert isinstance(tg.cuda.get_device_name(), str)
    tg.cuda.synchronize()
    tg.cuda.manual_seed(7)
    a = tg.randn(4, device="cuda")
    tg.cuda.manual_seed(7)
    b = tg.randn(4, device="cuda")
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert a.device == "cuda:0"


@pytest.mark.parametrize("make", [
    lambda d: tg.zeros(2, 3, device=d), lambda d: tg.ones(2, device=d),
    lambda d: tg.full((2,), 1.5, device=d), lambda d: tg.empty(2, device=d),
    lambda d: tg.eye(3, device=d), lambda d: tg.arange(4, device=d),
    lambda d: tg.linspace(0, 1, 5, device=d), lambda d: tg.rand(2, device=d),
    lambda d: tg.randn(2, device=d), lambda d: tg.randint(0, 5, (3,), device=d),
    lambda d: tg.tensor([1.0, 2.0], device=d), lambda d: tg.zeros_like(tg.ones(2, device=d)),
    lambda d: tg.ones_like(tg.ones(2, device=d)), lambda d: tg.full_like(tg.ones(2, device=d), 3),
    lambda d: tg.empty_like(tg.ones(2, device=d)),
], ids=["zeros", "ones", "full", "empty", "eye", "arange", "linspace", "rand", "randn",
        "randint", "tensor", "zeros_like", "ones_like", "full_like", "empty_like"])
def test_every_factory_takes_device(make, device):
    t = make(device)
    assert t.device == device and xp_of(t.data) is tg.device(device).xp


@pytest.mark.parametrize("there, back", [("cuda", "cpu"), ("cpu", "cuda")])
def test_second_derivative_through_device_moves(cuda_device, there, back):
    # the rule of .to() records itself under create_graph: its argument is then a Tensor,
    # whose device (not the raw array's) the cotangent must go back to
    x = tg.tensor([0.5, -1.0, 2.0], device=back, requires_grad=True)
    y = x.to(there)
    z = (y ** 3).sum()
    (g,) = tg.autograd.grad(z, [x], create_graph=True)
    assert g.device == back
    np.testing.assert_allclose(g.cpu().numpy(), 3 * np.array([0.5, -1.0, 2.0]) ** 2)
    g.sum().backward()
    assert x.grad.device == back
    np.testing.assert_allclose(x.grad.cpu().numpy(), 6 * np.array([0.5, -1.0, 2.0]))

    def f(v):  # a Tensor while traced, a raw array for the finite differences
        v = v if isinstance(v, tg.Tensor) else tg.tensor(v)
        return (v.to(there) ** 3).sum()

    tg.check_grads(f, modes=("fwd", "rev"), order=2)(
        tg.tensor([0.5, -1.0, 2.0], dtype="float64", device=back))


def test_mixing_devices_names_both(cuda_device):
    device = cuda_device
    with pytest.raises(RuntimeError, match=r"add: .*on cpu.*on cuda:0"):
        tg.ones(2) + tg.ones(2, device=device)
    with pytest.raises(RuntimeError, match=r"matmul: .*cuda:0.*cpu"):
        tg.ones(2, 2, device=device) @ tg.ones(2, 2)


def test_second_gpu_index_is_kept(cuda_device):
    if tg.cuda.device_count() < 2:
        pytest.skip("needs two GPUs (the CuPy stand-in has two)")
    x = tg.ones(2, device="cuda:1")
    assert x.device == "cuda:1" and x.data.device.id == 1
    with tg.cuda.device(1):
        assert tg.cuda.current_device() == 1
    with pytest.raises(RuntimeError, match=r"cuda:0.*cuda:1|cuda:1.*cuda:0"):
        tg.ones(2, device="cuda:0") + x
    y = x.to("cuda:0")
    assert y.device == "cuda:0"
    with pytest.raises(RuntimeError, match=r"on cuda:1 but the current CUDA device is cuda:0.*"
                                           r"tg.cuda.device\(1\)"):
        x * 2
    with tg.cuda.device(1):
        w = tg.randn(3, device="cuda:1", requires_grad=True)
        (w * w).sum().backward()
        np.testing.assert_allclose(w.grad.numpy(), 2 * w.numpy(), rtol=1e-6)
        assert w.grad.device == "cuda:1"


def test_module_to_moves_parameters_buffers_and_grads(device):
    m = tg.nn.Linear(3, 2)
    m(tg.ones(1, 3)).sum().backward()
    params = list(m.parameters())
    m.to(device)
    assert [p is q for p, q in zip(params, m.parameters())] == [True, True]
    for p in m.parameters():
        assert p.device == device and p.grad.device == device
    out = m(tg.ones(4, 3, device=device))
    assert out.device == device


def test_optimizer_state_lives_with_its_parameter(device):
    w = tg.tensor([1.0, -2.0], device=device, requires_grad=True)
    for opt in (tg.optim.SGD([w], lr=0.1, momentum=0.9), tg.optim.Adam([w], lr=0.1),
                tg.optim.AdamW([w], lr=0.1)):
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()
        for buf in opt.state_dict()["state"][0].values():
            if hasattr(buf, "shape"):
                assert xp_of(buf) is tg.device(device).xp


def test_dlpack_round_trip_shares_memory(device):
    t = tg.tensor([1.0, 2.0, 3.0], device=device)
    kind, index = t.__dlpack_device__()
    assert kind == (1 if device == "cpu" else 2)
    back = tg.from_dlpack(t.data)  # the raw array speaks DLPack too
    back.data[0] = 9.0
    assert t.tolist()[0] == 9.0
    if device == "cpu":
        a = np.from_dlpack(t)
        a[1] = 7.0
        assert t.tolist()[1] == 7.0
        assert not hasattr(t, "__cuda_array_interface__")
    else:
        cai = t.__cuda_array_interface__
        assert cai["shape"] == (3,) and cai["data"][0] == t.data.data.ptr
    with pytest.raises(RuntimeError, match="requires grad.*detach"):
        tg.tensor([1.0], device=device, requires_grad=True).__dlpack__()


def test_dlpack_with_pytorch_cpu():
    torch = pytest.importorskip("torch")
    t = tg.tensor([1.0, 2.0])
    tt = torch.from_dlpack(t)
    tt[0] = 5.0
    assert t.tolist() == [5.0, 2.0]
    back = tg.from_dlpack(torch.arange(3, dtype=torch.float64))
    assert back.dtype == np.float64 and back.tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(TypeError, match="from_dlpack: expected an object with __dlpack__"):
        tg.from_dlpack([1, 2])


def test_save_restores_devices_and_map_location(device, tmp_path):
    path = tmp_path / "m.tg"
    tg.save({"w": tg.ones(2, device=device), "b": [tg.zeros(1, device=device)]}, path)
    back = tg.load(path)
    assert back["w"].device == device and back["b"][0].device == device
    on_cpu = tg.load(path, map_location="cpu")
    assert on_cpu["w"].device == "cpu" and on_cpu["w"].tolist() == [1.0, 1.0]
    mapped = tg.load(path, map_location={device: "cpu"})
    assert mapped["b"][0].device == "cpu"
    assert tg.load(path, map_location=lambda saved: "cpu")["w"].device == "cpu"
    if device != "cpu":
        assert tg.load(path, map_location=device)["w"].device == device


def test_load_of_cuda_file_without_gpu_refuses_before_building(tmp_path, monkeypatch):
    path = tmp_path / "gpu.tg"
    tg.save({"w": tg.ones(2)}, path)
    # rewrite the saved device as a GPU's, as a file from a GPU machine would have it
    import json
    import zipfile
    with zipfile.ZipFile(path) as z:
        entries = {n: z.read(n) for n in z.namelist()}
    st = json.loads(entries["structure.json"])
    st["root"]["dict"][0][1]["device"] = "cuda:0"
    entries["structure.json"] = json.dumps(st).encode()
    with zipfile.ZipFile(path, "w") as z:
        for n, b in entries.items():
            z.writestr(n, b)
    monkeypatch.setattr(dev, "cupy", None)
    monkeypatch.setattr(dev, "_CUDA", {})
    try:
        with pytest.raises(RuntimeError, match="saved on cuda:0.*map_location='cpu'"):
            tg.load(path)
        assert tg.load(path, map_location="cpu")["w"].tolist() == [1.0, 1.0]
    finally:
        dev._CUDA.clear()
