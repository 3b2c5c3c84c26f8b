"""Checkpoints a user can trust: damaged or foreign files are refused with a ValueError that
names them (and nothing is loaded), and a run resumed from a checkpoint of its model, optimizer,
scheduler, step and RNG state continues the uninterrupted run exactly."""

import io
import json
import pickle
import re
import zipfile

import numpy as np
import pytest
from devices import host

import tensorgrad as tg
import tensorgrad.nn.functional as F
from tensorgrad.utils.data import DataLoader, TensorDataset

nn = tg.nn


# ---- files that are not checkpoints ------------------------------------------------------------
def _good_bytes(tmp_path):
    path = tmp_path / "good.tg"
    tg.save({"model": _mlp(dropout=0.0).state_dict(), "step": 3, "rng": tg.get_rng_state()},
            path)
    return path.read_bytes()


def _rezip(data, change):
    """The zip ``data`` with each entry passed through ``change(name, bytes)`` (None drops
    it)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w") as zout:
        for name in zin.namelist():
            new = change(name, zin.read(name))
            if new is not None:
                zout.writestr(name, new)
    return out.getvalue()


def _npy(array):
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def _zip_of(**entries):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return out.getvalue()


def _structure(data):
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return json.loads(z.read("structure.json"))


def _with_structure(data, structure):
    return _rezip(data, lambda n, b: json.dumps(structure).encode()
                  if n == "structure.json" else b)


def _first_tensor(node):
    if "tensor" in node:
        return node
    for v in node.get("list", []) + [kv[1] for kv in node.get("dict", [])]:
        found = _first_tensor(v)
        if found is not None:
            return found
    return None


def _misdescribed(data, key, value):
    s = _structure(data)
    _first_tensor(s["root"])[key] = value
    return _with_structure(data, s)


BAD = {
    "empty": lambda good: b"",
    "random bytes": lambda good: np.random.default_rng(0).bytes(4096),
    "a pickle": lambda good: pickle.dumps({"model": {"0.weight": np.ones(3)}}),
    "text": lambda good: b"not a checkpoint\n",
    "truncated to half": lambda good: good[:len(good) // 2],
    "truncated by one byte": lambda good: good[:-1],
    "a zip of something else": lambda good: _zip_of(**{"a.txt": "hi", "b/c.csv": "1,2"}),
    "a zip with a foreign structure.json": lambda good: _zip_of(
        **{"structure.json": json.dumps({"format": "other", "root": {}})}),
    "damaged JSON": lambda good: _rezip(
        good, lambda n, b: b[:len(b) // 2] if n == "structure.json" else b),
    "JSON that is a list": lambda good: _rezip(
        good, lambda n, b: b"[1, 2, 3]" if n == "structure.json" else b),
    "JSON without a root": lambda good: _rezip(
        good, lambda n, b: b'{"format": "tensorgrad-save-1"}' if n == "structure.json" else b),
    "an unknown entry": lambda good: _with_structure(
        good, {"format": "tensorgrad-save-1", "root": {"list": [{"pickle": "x"}]}}),
    "a bad device name": lambda good: _misdescribed(good, "device", "tpu:9"),
    "an array index out of range": lambda good: _misdescribed(good, "tensor", 999),
    "an array index that is a string": lambda good: _misdescribed(good, "tensor", "0"),
    "a missing array": lambda good: _rezip(good, lambda n, b: None if n == "1.npy" else b),
    "a mis-shaped array": lambda good: _rezip(
        good, lambda n, b: _npy(np.zeros((7, 7), np.float32)) if n == "0.npy" else b),
    "an array of another dtype": lambda good: _misdescribed(good, "dtype", "<f8"),
    "an object array": lambda good: _rezip(
        good, lambda n, b: _npy_object() if n == "0.npy" else b),
    "an array with data past its end": lambda good: _rezip(
        good, lambda n, b: b + b"\0" * 8 if n == "0.npy" else b),
}


def _npy_object():
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return buf.getvalue()


def _refused(path):
    return pytest.raises(ValueError, match=re.escape(str(path)) + r".* is not a valid "
                         r"tensorgrad checkpoint")


@pytest.mark.parametrize("kind", sorted(BAD))
def test_a_bad_file_is_refused_and_the_model_is_untouched(tmp_path, kind):
    path = tmp_path / f"{kind.replace(' ', '_')}.tg"
    path.write_bytes(BAD[kind](_good_bytes(tmp_path)))
    model = _mlp(dropout=0.0)
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    calls = []
    original = model.load_state_dict
    model.load_state_dict = lambda sd, *a, **k: calls.append(sd) or original(sd, *a, **k)
    with _refused(path):
        model.load_state_dict(tg.load(path))
    assert calls == []
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])


def test_every_truncation_and_every_flipped_byte_is_refused_or_harmless(tmp_path):
    """Cut anywhere: refused. One byte changed anywhere: refused, or (a byte no reader looks
    at, such as a timestamp) the very same contents; never different numbers."""
    good = _good_bytes(tmp_path)
    expect = tg.load(tmp_path / "good.tg")
    path = tmp_path / "bad.tg"
    for n in range(0, len(good), 7):
        path.write_bytes(good[:n])
        with _refused(path):
            tg.load(path)
    for i in range(len(good)):
        damaged = bytearray(good)
        damaged[i] ^= 0x5A
        path.write_bytes(bytes(damaged))
        try:
            back = tg.load(path)
        except ValueError as e:
            assert str(path) in str(e) and "not a valid tensorgrad checkpoint" in str(e)
            continue
        assert back["step"] == expect["step"] and back["rng"] == expect["rng"], i
        for k, v in expect["model"].items():
            np.testing.assert_array_equal(back["model"][k].numpy(), v.numpy())


def test_a_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        tg.load(tmp_path / "nowhere.tg")


def test_a_file_object_is_named_too(tmp_path):
    path = tmp_path / "junk.tg"
    path.write_bytes(b"junk")
    with open(path, "rb") as f, _refused(path):
        tg.load(f)


# ---- RNG state ---------------------------------------------------------------------------------
def test_rng_state_round_trips_through_a_file(tmp_path):
    tg.manual_seed(5)
    tg.rand(4)
    state = tg.get_rng_state()
    first = (tg.rand(3).numpy(), tg.randn(2, 2).numpy(), tg.randint(0, 9, (5,)).numpy())
    tg.save({"rng": state}, tmp_path / "r.tg")
    tg.manual_seed(99)
    tg.set_rng_state(tg.load(tmp_path / "r.tg")["rng"])
    again = (tg.rand(3).numpy(), tg.randn(2, 2).numpy(), tg.randint(0, 9, (5,)).numpy())
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    # the state handed out is a copy: drawing afterwards does not change it
    tg.set_rng_state(state)
    np.testing.assert_array_equal(tg.rand(3).numpy(), first[0])


def test_set_rng_state_refuses_what_is_not_a_state():
    with pytest.raises(TypeError, match="get_rng_state"):
        tg.set_rng_state(3)
    with pytest.raises(ValueError, match="unknown bit generator"):
        tg.set_rng_state({"bit_generator": "Nope"})
    with pytest.raises(ValueError, match="not a valid PCG64 state"):
        tg.set_rng_state({"bit_generator": "PCG64", "state": {}})


# ---- resuming a run ----------------------------------------------------------------------------
def _mlp(dropout=0.3):
    return nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Dropout(dropout), nn.Linear(32, 16),
                         nn.ReLU(), nn.Linear(16, 3))


def _data(device):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((64, 10)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)
    return TensorDataset(tg.tensor(x, device=device), tg.tensor(y, device=device))


def _fresh(device, dropout):
    model = _mlp(dropout).to(device)
    opt = tg.optim.Adam(model.parameters(), lr=1e-2)
    sched = tg.optim.lr_scheduler.StepLR(opt, step_size=6, gamma=0.5)
    return model, opt, sched


def _train(model, opt, sched, loader, steps):
    """``steps`` steps from the start of an epoch (20 = five epochs of four batches)."""
    losses = []
    model.train()
    while len(losses) < steps:
        for x, y in loader:
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(host(loss).item())
    assert len(losses) == steps
    return losses


def _params(model):
    return [host(p) for p in model.parameters()]


@pytest.mark.parametrize("every_detail", [False, True], ids=["resume", "resume-twice"])
def test_resuming_continues_the_uninterrupted_run_exactly(tmp_path, device, every_detail):
    # Dropout draws its masks from the generator of the device it runs on. The CPU generator is
    # saved by get_rng_state; CuPy's are not (their state lives in device memory, with no public
    # way to read it), so on cuda the run has no dropout and shuffling is what the RNG drives.
    dropout = 0.3 if device == "cpu" else 0.0
    loader = DataLoader(_data(device), batch_size=16, shuffle=True)

    tg.manual_seed(0)
    model, opt, sched = _fresh(device, dropout)
    straight = _train(model, opt, sched, loader, 40)
    straight_params = _params(model)

    tg.manual_seed(0)
    model, opt, sched = _fresh(device, dropout)
    first = _train(model, opt, sched, loader, 20)
    path = tmp_path / "ckpt.tg"
    tg.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
             "scheduler": sched.state_dict(), "step": 20, "rng": tg.get_rng_state()}, path)
    del model, opt, sched

    tg.manual_seed(12345)  # another process, another seed: everything must come from the file
    tg.rand(17)
    model, opt, sched = _fresh(device, dropout)
    ck = tg.load(path)
    if every_detail:  # through a second file written from the loaded checkpoint
        tg.save(ck, tmp_path / "again.tg")
        ck = tg.load(tmp_path / "again.tg")
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optimizer"])
    sched.load_state_dict(ck["scheduler"])
    tg.set_rng_state(ck["rng"])
    assert ck["step"] == 20 and sched.last_epoch == 20
    assert opt.param_groups[0]["lr"] == 1e-2 * 0.5 ** 3
    second = _train(model, opt, sched, loader, 20)

    if device == "cpu":
        assert first + second == straight
        for p, q in zip(_params(model), straight_params, strict=True):
            np.testing.assert_array_equal(p, q)
    else:
        np.testing.assert_allclose(first + second, straight, rtol=1e-5, atol=1e-6)
        for p, q in zip(_params(model), straight_params, strict=True):
            np.testing.assert_allclose(p, q, rtol=1e-5, atol=1e-6)
    assert straight[-1] < straight[0]


def test_without_the_rng_state_the_run_differs():
    """The test above is not vacuous: dropout and shuffling do depend on the RNG state."""
    loader = DataLoader(_data("cpu"), batch_size=16, shuffle=True)
    tg.manual_seed(0)
    model, opt, sched = _fresh("cpu", 0.3)
    straight = _train(model, opt, sched, loader, 40)
    tg.manual_seed(0)
    model, opt, sched = _fresh("cpu", 0.3)
    first = _train(model, opt, sched, loader, 20)
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(),
             "scheduler": sched.state_dict()}
    tg.manual_seed(1)
    model, opt, sched = _fresh("cpu", 0.3)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    assert first + _train(model, opt, sched, loader, 20) != straight
