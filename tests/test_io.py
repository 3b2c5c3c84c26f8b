"""tg.save / tg.load: a safe format (no pickle), atomic writes, faithful round trips."""

import os
import zipfile

import numpy as np
import pytest
from devices import host, on, put

import tensorgrad as tg


def test_round_trip_of_nested_values(tmp_path, device):
    obj = {"w": tg.tensor([[1.0, 2.0]], device=device, requires_grad=True),
           "a": put(np.arange(3), device),
           "meta": {"epoch": 3, "lr": 0.1, "name": "run", "none": None, "inf": float("inf"),
                    1: (True, [np.float32(2.5)])},
           "p": tg.nn.Parameter(tg.zeros(2, dtype="float64", device=device))}
    path = tmp_path / "ckpt.tg"
    tg.save(obj, path)
    back = tg.load(path)
    assert isinstance(back["w"], tg.Tensor) and back["w"].requires_grad
    assert back["w"].tolist() == [[1.0, 2.0]] and back["w"].dtype == np.float32
    assert on(back["w"], device) and on(back["a"], device) and on(back["p"], device)
    np.testing.assert_array_equal(host(back["a"]), np.arange(3))
    assert back["meta"]["epoch"] == 3 and back["meta"]["inf"] == float("inf")
    assert back["meta"][1] == (True, [np.float32(2.5)])
    assert isinstance(back["p"], tg.nn.Parameter) and back["p"].dtype == np.float64
    assert back["p"].requires_grad and back["p"].is_leaf
    on_cpu = tg.load(path, map_location="cpu")
    assert on(on_cpu["w"], "cpu") and on(on_cpu["a"], "cpu") and on(on_cpu["p"], "cpu")
    assert isinstance(on_cpu["p"], tg.nn.Parameter) and on_cpu["w"].requires_grad


def _net():
    return tg.nn.Sequential(tg.nn.Conv2d(1, 2, 3), tg.nn.ReLU(), tg.nn.Flatten(),
                            tg.nn.Linear(8, 1))


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW"])
def test_model_and_optimizer_checkpoint(tmp_path, name, device):
    model = _net().to(device)
    kw = {"momentum": 0.9} if name == "SGD" else {}
    opt = getattr(tg.optim, name)(model.parameters(), lr=0.01, **kw)
    x = tg.randn(5, 1, 4, 4, device=device)
    model(x).sum().backward()
    opt.step()
    tg.save({"model": model.state_dict(), "opt": opt.state_dict()}, tmp_path / "c.tg")
    for where in (None, "cpu"):  # as saved (cuda comes back on cuda), then mapped to the CPU
        ck = tg.load(tmp_path / "c.tg", map_location=where)
        expect = where or device
        assert all(on(v, expect) for v in ck["model"].values())
        assert all(on(b, expect) for st in ck["opt"]["state"].values() for b in st.values()
                   if hasattr(b, "shape"))
        for target in ("cpu", device):  # into a model and an optimizer on either device
            other = _net().to(target)
            other.load_state_dict(ck["model"])
            opt2 = getattr(tg.optim, name)(other.parameters(), lr=0.5)
            opt2.load_state_dict(ck["opt"])
            assert opt2.param_groups[0]["lr"] == 0.01
            assert all(on(p, target) for p in other.parameters())
            assert all(on(b, target) for st in opt2.state.values() for b in st.values()
                       if hasattr(b, "shape"))
            np.testing.assert_allclose(host(other(x.to(target))), host(model(x)), rtol=1e-6)
            # the next step continues the saved trajectory
            for m, o, xm in ((model, opt, x), (other, opt2, x.to(target))):
                o.zero_grad()
                m(xm).sum().backward()
                o.step()
            for p, q in zip(model.parameters(), other.parameters(), strict=True):
                np.testing.assert_allclose(host(q), host(p), rtol=1e-6, atol=1e-7)
            model.load_state_dict(ck["model"])  # back to the checkpoint for the next round
            opt.load_state_dict(ck["opt"])


def test_the_file_holds_no_pickle(tmp_path):
    tg.save({"w": tg.ones(3)}, tmp_path / "c.tg")
    with zipfile.ZipFile(tmp_path / "c.tg") as z:
        names = z.namelist()
        assert "structure.json" in names
        for n in names:
            assert b"\x80\x04" not in z.read(n)[:2]  # no pickle protocol header
    with pytest.raises(TypeError, match="cannot store"):
        tg.save({"f": lambda: 1}, tmp_path / "bad.tg")


def test_a_failed_save_leaves_the_old_file(tmp_path):
    path = tmp_path / "c.tg"
    tg.save({"v": 1}, path)
    with pytest.raises(TypeError):
        tg.save({"v": 2, "bad": object()}, path)
    assert tg.load(path) == {"v": 1}
    assert [p for p in os.listdir(tmp_path) if p.startswith(".tmp")] == []


def test_loading_something_else_is_a_clear_error(tmp_path):
    path = tmp_path / "x.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("a.txt", "hi")
    with pytest.raises(ValueError, match="x.zip.* is not a valid tensorgrad checkpoint"):
        tg.load(path)


def test_numpy_scalars_and_zero_d_arrays_keep_their_shape(tmp_path):
    obj = {"s": np.float32(2.5), "i": np.int64(7), "a": np.array(3.0), "t": tg.tensor(1.5)}
    tg.save(obj, tmp_path / "s.tg")
    back = tg.load(tmp_path / "s.tg")
    assert type(back["s"]) is np.float32 and back["s"] == 2.5
    assert type(back["i"]) is np.int64 and back["i"] == 7
    assert back["a"].shape == () and back["t"].shape == () and back["t"].item() == 1.5
