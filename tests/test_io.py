"""tg.save / tg.load: a safe format (no pickle), atomic writes, faithful round trips."""

import os
import zipfile

import numpy as np
import pytest

import tensorgrad as tg


def test_round_trip_of_nested_values(tmp_path):
    obj = {"w": tg.tensor([[1.0, 2.0]], requires_grad=True), "a": np.arange(3),
           "meta": {"epoch": 3, "lr": 0.1, "name": "run", "none": None, "inf": float("inf"),
                    1: (True, [np.float32(2.5)])},
           "p": tg.nn.Parameter(tg.zeros(2))}
    path = tmp_path / "ckpt.tg"
    tg.save(obj, path)
    back = tg.load(path)
    assert isinstance(back["w"], tg.Tensor) and back["w"].requires_grad
    assert back["w"].tolist() == [[1.0, 2.0]] and back["w"].dtype == np.float32
    np.testing.assert_array_equal(back["a"], np.arange(3))
    assert back["meta"]["epoch"] == 3 and back["meta"]["inf"] == float("inf")
    assert back["meta"][1] == (True, [np.float32(2.5)])
    assert isinstance(back["p"], tg.nn.Parameter)


def test_model_and_optimizer_checkpoint(tmp_path):
    model = tg.nn.Sequential(tg.nn.Linear(3, 4), tg.nn.ReLU(), tg.nn.Linear(4, 1))
    opt = tg.optim.Adam(model.parameters(), lr=0.01)
    model(tg.randn(5, 3)).sum().backward()
    opt.step()
    tg.save({"model": model.state_dict(), "opt": opt.state_dict()}, tmp_path / "c.tg")
    ck = tg.load(tmp_path / "c.tg")
    other = tg.nn.Sequential(tg.nn.Linear(3, 4), tg.nn.ReLU(), tg.nn.Linear(4, 1))
    other.load_state_dict(ck["model"])
    opt2 = tg.optim.Adam(other.parameters(), lr=0.5)
    opt2.load_state_dict(ck["opt"])
    x = tg.randn(2, 3)
    np.testing.assert_array_equal(model(x).numpy(), other(x).numpy())
    assert opt2.param_groups[0]["lr"] == 0.01


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
    with pytest.raises(ValueError, match="not a tensorgrad save file"):
        tg.load(path)
