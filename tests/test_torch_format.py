"""PyTorch's torch.save format: tg.load reads it (a restricted unpickler: nothing imported, no
code run), tg.save(format="torch") writes it for torch.load(weights_only=True)."""

import collections
import io
import os
import pickle
import pickletools
import zipfile

import numpy as np
import pytest
from devices import host, on

import tensorgrad as tg

torch = pytest.importorskip("torch")

_DTYPES = [  # (torch dtype, the NumPy dtype tg.load gives)
    (torch.float32, np.float32), (torch.float64, np.float64), (torch.float16, np.float16),
    (torch.int64, np.int64), (torch.int32, np.int32), (torch.int16, np.int16),
    (torch.int8, np.int8), (torch.uint8, np.uint8), (torch.bool, np.bool_),
    (torch.complex64, np.complex64), (torch.complex128, np.complex128),
    (torch.uint16, np.uint16), (torch.uint32, np.uint32), (torch.uint64, np.uint64)]


def _sample(dtype):
    """A (2, 3) tensor of ``dtype`` with distinct values (negative ones where it can)."""
    x = np.arange(-3, 3, dtype=np.float64).reshape(2, 3)
    if dtype == torch.bool:
        return torch.from_numpy(x > 0)
    want = torch.empty(0, dtype=dtype).numpy().dtype
    if want.kind == "c":
        x = x + 0.5j * x[::-1]
    elif want.kind == "f":
        x = x * 1.25
    elif want.kind == "u":
        x = (x + 3) * 7
    return torch.from_numpy(x.astype(want))


def _same(ours, theirs):
    """Our tensor (any device) against PyTorch's: shape, dtype, values, requires_grad."""
    want = theirs.detach().resolve_conj().resolve_neg()
    got = host(ours)
    assert got.shape == tuple(want.shape)
    if want.dtype == torch.bfloat16:
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want.float().numpy())
    else:
        assert got.dtype == want.numpy().dtype
        np.testing.assert_array_equal(got, want.numpy())
    assert ours.requires_grad == theirs.requires_grad


def _rezip(src, dst, edit):
    """Copy the zip ``src`` to ``dst``, each entry's bytes through ``edit(name, data)``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, edit(info.filename, zin.read(info.filename)))


def _torch_zip(tmp_path, payload, name="evil.pt"):
    """A zip laid out as torch.save's, whose data.pkl is ``payload``."""
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", payload)
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/version", "3\n")
    return path


# ---- torch.save -> tg.load ----------------------------------------------------------------------
def _torch_net():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3),
                              torch.nn.BatchNorm1d(3))
    net.train()
    for _ in range(3):  # running statistics that are not the initial ones
        net(torch.randn(8, 4))
    return net.eval()


def _tg_net():
    return tg.nn.Sequential(tg.nn.Linear(4, 5), tg.nn.ReLU(), tg.nn.Linear(5, 3),
                            tg.nn.BatchNorm1d(3))


def test_torch_state_dict_into_a_tensorgrad_model(tmp_path):
    net = _torch_net()
    torch.save(net.state_dict(), tmp_path / "model.pt")
    sd = tg.load(tmp_path / "model.pt")
    assert type(sd) is collections.OrderedDict and list(sd) == list(net.state_dict())
    assert sd["3.num_batches_tracked"].dtype == np.int64
    assert sd["3.num_batches_tracked"].item() == 3
    model = _tg_net()
    model.load_state_dict(sd)
    model.eval()
    x = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model(tg.tensor(x)).detach().numpy(), want, rtol=1e-6,
                               atol=1e-6)


@pytest.mark.parametrize("dtype", [d for d, _ in _DTYPES], ids=str)
def test_every_dtype(tmp_path, dtype):
    x = _sample(dtype)
    torch.save({"x": x, "row": x[1]}, tmp_path / "x.pt")
    back = tg.load(tmp_path / "x.pt")
    _same(back["x"], x)
    _same(back["row"], x[1])
    assert back["x"].dtype == dict(_DTYPES)[dtype]


def test_bfloat16_is_widened_exactly_with_one_warning(tmp_path):
    x = torch.tensor([1.5, -2.25, 3.0e38, 1e-40, float("inf")], dtype=torch.bfloat16)
    torch.save({"a": x, "b": x[1:], "c": torch.ones(2)}, tmp_path / "bf.pt")
    with pytest.warns(UserWarning, match="2 bfloat16 tensors.*float32") as caught:
        back = tg.load(tmp_path / "bf.pt")
    assert len([w for w in caught if "bfloat16" in str(w.message)]) == 1
    _same(back["a"], x)
    _same(back["b"], x[1:])
    assert back["c"].dtype == np.float32


def test_zero_d_and_empty_tensors(tmp_path):
    obj = {"scalar": torch.tensor(3.5), "int": torch.tensor(7), "empty": torch.zeros(0),
           "empty2d": torch.zeros(0, 4), "empty_view": torch.arange(6.0)[6:]}
    torch.save(obj, tmp_path / "z.pt")
    back = tg.load(tmp_path / "z.pt")
    for k, v in obj.items():
        _same(back[k], v)
    assert back["scalar"].item() == 3.5 and back["scalar"].shape == ()


def test_non_contiguous_tensors_come_back_as_independent_copies(tmp_path):
    x = torch.arange(24.0).reshape(4, 6)
    obj = {"x": x, "t": x.t(), "offset": x[1:, 2:5], "step": x[::2], "cols": x[:, ::3],
           "expanded": torch.arange(3.0).expand(4, 3),
           "permuted": x.reshape(2, 3, 4).permute(2, 0, 1)}
    torch.save(obj, tmp_path / "v.pt")
    back = tg.load(tmp_path / "v.pt")
    for k, v in obj.items():
        _same(back[k], v)
        assert back[k].data.flags.c_contiguous
    back["x"].data[0, 0] = 100.0  # one storage in the file, independent arrays here
    assert back["step"].data[0, 0] == 0.0 and back["t"].data[0, 0] == 0.0


def test_one_tensor_object_comes_back_as_one_object(tmp_path):
    w = torch.randn(3, 2)
    torch.save({"encoder": w, "decoder": w, "other": w.clone()}, tmp_path / "tied.pt")
    back = tg.load(tmp_path / "tied.pt")
    assert back["encoder"] is back["decoder"]
    assert back["other"] is not back["encoder"]
    _same(back["decoder"], w)


def test_parameters_and_requires_grad(tmp_path):
    p = torch.nn.Parameter(torch.randn(2, 3))
    frozen = torch.nn.Parameter(torch.randn(2), requires_grad=False)
    g = torch.randn(3, requires_grad=True)
    torch.save({"p": p, "frozen": frozen, "g": g, "plain": torch.ones(2)}, tmp_path / "p.pt")
    back = tg.load(tmp_path / "p.pt")
    assert type(back["p"]) is tg.nn.Parameter and back["p"].requires_grad
    assert type(back["frozen"]) is tg.nn.Parameter and not back["frozen"].requires_grad
    assert type(back["g"]) is tg.Tensor and back["g"].requires_grad and back["g"].is_leaf
    assert type(back["plain"]) is tg.Tensor and not back["plain"].requires_grad
    for k in ("p", "frozen", "g"):
        np.testing.assert_array_equal(back[k].detach().numpy(),
                                      {"p": p, "frozen": frozen, "g": g}[k].detach().numpy())


def test_nested_plain_values(tmp_path):
    obj = {"epoch": 3, "lr": 0.1, "name": "run", "none": None, "flags": [True, False],
           "nested": {"t": (1, 2.5, ("x", None)), "l": [[1], {"deep": -7}]},
           "big": 2**70, "neg": -(2**40), "inf": float("inf"), 5: "int key", (1, "a"): "tuple key",
           "set": {1, 2}, "frozen": frozenset({"a"}), "complex": 1 - 2j, "bytes": b"\x00ab",
           "nobytes": b"", "bytearray": bytearray(b"xy"), "slice": slice(1, None, 2),
           "size": torch.Size([2, 3]), "device": torch.device("cpu"), "dtype": torch.float64,
           "bf": torch.bfloat16}
    torch.save(obj, tmp_path / "plain.pt")
    back = tg.load(tmp_path / "plain.pt")
    plain = {k: v for k, v in obj.items() if k not in ("size", "device", "dtype", "bf")}
    assert {k: back[k] for k in plain} == plain
    assert type(back["nested"]["t"]) is tuple and type(back["nested"]["l"]) is list
    assert back["size"] == (2, 3) and back["size"].numel() == 6
    assert back["device"] == tg.device("cpu")
    assert back["dtype"] == tg.float64 and back["bf"] == tg.bfloat16


def test_ordered_dict_stays_ordered_dict(tmp_path):
    od = collections.OrderedDict([("b", 1), ("a", torch.ones(1))])
    torch.save({"od": od, "d": {"x": 1}}, tmp_path / "od.pt")
    back = tg.load(tmp_path / "od.pt")
    assert type(back["od"]) is collections.OrderedDict and list(back["od"]) == ["b", "a"]
    assert type(back["d"]) is dict
    sd = _torch_net().state_dict()
    torch.save(sd, tmp_path / "sd.pt")
    assert tg.load(tmp_path / "sd.pt")._metadata == sd._metadata


def test_tensor_attributes_and_conj_neg_bits(tmp_path):
    t = torch.ones(2)
    t.note = "kept"
    c = torch.tensor([1 + 2j, 3 - 1j])
    neg = c.clone().conj().imag  # a float view with the negative bit set, on its own storage
    assert neg.is_neg()
    torch.save({"t": t, "conj": c.conj(), "neg": neg}, tmp_path / "bits.pt")
    back = tg.load(tmp_path / "bits.pt")
    assert back["t"].note == "kept"
    np.testing.assert_array_equal(back["conj"].numpy(), [1 - 2j, 3 + 1j])
    np.testing.assert_array_equal(back["neg"].numpy(), [-2.0, 1.0])
    p = torch.nn.Parameter(torch.ones(2))
    p.tag = "enc"  # pickled through _rebuild_parameter_with_state
    torch.save({"p": p}, tmp_path / "ps.pt")
    back = tg.load(tmp_path / "ps.pt")
    assert type(back["p"]) is tg.nn.Parameter and back["p"].tag == "enc"
    t.numpy = "not a method"  # an attribute that would hide one of tg.Tensor's
    torch.save({"t": t}, tmp_path / "hide.pt")
    with pytest.raises(ValueError, match="attribute 'numpy'"):
        tg.load(tmp_path / "hide.pt")


def test_map_location_cpu_and_function(tmp_path):
    torch.save({"w": torch.ones(2)}, tmp_path / "m.pt")
    seen = []

    def where(saved):
        seen.append(saved)
        return "cpu"

    for ml in ("cpu", tg.device("cpu"), {"cpu": "cpu"}, where):
        back = tg.load(tmp_path / "m.pt", map_location=ml)
        assert on(back["w"], "cpu") and back["w"].tolist() == [1.0, 1.0]
    assert seen == ["cpu"]
    with pytest.raises(TypeError, match="map_location"):
        tg.load(tmp_path / "m.pt", map_location=3)


def _relocated(tmp_path, src, location):
    """``src`` with every storage's location 'cpu' rewritten as ``location`` (the pickle is
    protocol 2: no frames, so a string may change length)."""
    old = b"X\x03\x00\x00\x00cpu"
    new = b"X" + len(location).to_bytes(4, "little") + location.encode()
    dst = tmp_path / f"at-{location.replace(':', '')}.pt"

    def edit(name, data):
        if name.endswith("/data.pkl"):
            assert old in data
            return data.replace(old, new)
        return data

    _rezip(src, dst, edit)
    return dst


def test_map_location_device(tmp_path, device):
    net = _torch_net()
    torch.save({"sd": net.state_dict(), "p": torch.nn.Parameter(torch.ones(2))}, tmp_path / "d.pt")
    back = tg.load(tmp_path / "d.pt", map_location=device)
    assert all(on(v, device) for v in back["sd"].values())
    assert on(back["p"], device) and type(back["p"]) is tg.nn.Parameter
    model = _tg_net().to(device)
    model.load_state_dict(back["sd"])
    x = np.ones((2, 4), np.float32)
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    model.eval()
    np.testing.assert_allclose(host(model(tg.tensor(x, device=device))), want, rtol=1e-6,
                               atol=1e-6)
    # a file saved on a GPU comes back there, unless map_location says otherwise
    gpu = _relocated(tmp_path, tmp_path / "d.pt", "cuda:0")
    if device == "cuda":
        assert all(on(v, "cuda") for v in tg.load(gpu)["sd"].values())
    back = tg.load(gpu, map_location="cpu")
    assert all(on(v, "cpu") for v in back["sd"].values())


def test_gpu_file_without_cuda_fails_as_tensorgrads_own(tmp_path, monkeypatch):
    from tensorgrad import _torch_format

    torch.save({"w": torch.ones(2)}, tmp_path / "c.pt")
    gpu = _relocated(tmp_path, tmp_path / "c.pt", "cuda:0")
    monkeypatch.setattr(_torch_format, "cuda_available", lambda: False)
    with pytest.raises(RuntimeError, match="saved on cuda:0.*CUDA is not available.*"
                                           "map_location='cpu'"):
        tg.load(gpu)
    assert tg.load(gpu, map_location="cpu")["w"].tolist() == [1.0, 1.0]
    with pytest.raises(RuntimeError, match="map_location puts on cuda"):
        tg.load(tmp_path / "c.pt", map_location="cuda")
    mps = _relocated(tmp_path, tmp_path / "c.pt", "mps")
    with pytest.raises(ValueError, match="saved on 'mps'.*no device"):
        tg.load(mps)
    assert tg.load(mps, map_location="cpu")["w"].tolist() == [1.0, 1.0]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.int32,
                                   torch.int64, torch.complex64, torch.bool, torch.uint16,
                                   torch.bfloat16], ids=str)
def test_big_endian_file(tmp_path, dtype):
    x = _sample(dtype) if dtype != torch.bfloat16 else torch.randn(2, 3).bfloat16()
    torch.save({"x": x, "t": x.t()}, tmp_path / "le.pt")
    size = x.element_size() // (2 if x.is_complex() else 1)

    def swap(name, data):  # what a big-endian machine's torch.save writes
        if name.endswith("/byteorder"):
            return b"big"
        if name.endswith("/data/0") and size > 1:
            return np.frombuffer(data, f"<u{size}").byteswap().tobytes()
        return data

    _rezip(tmp_path / "le.pt", tmp_path / "be.pt", swap)
    with zipfile.ZipFile(tmp_path / "be.pt") as z:
        assert len([n for n in z.namelist() if "/data/" in n]) == 1
    back = tg.load(tmp_path / "be.pt")
    _same(back["x"], x)
    _same(back["t"], x.t())


def test_file_objects_and_weights_only_false(tmp_path):
    buf = io.BytesIO()
    torch.save({"w": torch.arange(3.0)}, buf)
    buf.seek(0)
    assert tg.load(buf)["w"].tolist() == [0.0, 1.0, 2.0]
    buf.seek(0)
    assert tg.load(buf, weights_only=False)["w"].tolist() == [0.0, 1.0, 2.0]
    torch.save(torch.nn.Linear(2, 2), tmp_path / "m.pt")
    with pytest.raises(pickle.UnpicklingError):  # weights only, whatever weights_only says
        tg.load(tmp_path / "m.pt", weights_only=False)


# ---- tg.save(format="torch") -> torch.load ------------------------------------------------------
def _tg_objects():
    w = tg.tensor([[1.0, -2.0], [3.5, 0.25]])
    return {
        "w": w, "tied": w, "p": tg.nn.Parameter(tg.tensor([1.0, 2.0])),
        "frozen": tg.nn.Parameter(tg.tensor([3.0]), requires_grad=False),
        "g": tg.tensor([0.5], requires_grad=True), "scalar": tg.tensor(2.5),
        "empty": tg.zeros(0, 3), "i64": tg.tensor(np.arange(4, dtype=np.int64)),
        "i32": tg.tensor(np.array([-1, 2], np.int32)), "i16": tg.tensor(np.array([7], np.int16)),
        "i8": tg.tensor(np.array([-8], np.int8)), "u8": tg.tensor(np.array([255], np.uint8)),
        "u16": tg.tensor(np.array([65535], np.uint16)), "f16": tg.tensor(np.float16([0.5, 2])),
        "f64": tg.tensor(np.array([1e-300]), dtype=tg.float64), "b": tg.tensor([True, False]),
        "c64": tg.tensor(np.array([1 + 2j], np.complex64)),
        "c128": tg.tensor(np.array([3 - 4j], np.complex128)),
        "view": tg.tensor(np.arange(12.0).reshape(3, 4)[::2, 1:].copy()).t(),
        "array": np.arange(3.0),
        "meta": {"epoch": 3, "lr": 0.1, "name": "run", "none": None, "ok": True, 7: "int key",
                 (1, "a"): "tuple key", "nested": [1, (2.5, "x", [None, False])]},
        "od": collections.OrderedDict([("b", 1), ("a", tg.ones(1))]),
    }


def _check_in_torch(ours, theirs, path="obj"):
    """What torch.load gave back against what tg.save was given."""
    if isinstance(ours, tg.Tensor) or isinstance(ours, np.ndarray):
        assert isinstance(theirs, torch.Tensor), path
        want = host(ours) if isinstance(ours, tg.Tensor) else ours
        assert tuple(theirs.shape) == want.shape, path
        assert theirs.detach().numpy().dtype == want.dtype, path
        np.testing.assert_array_equal(theirs.detach().numpy(), want)
        rg = bool(ours.requires_grad) if isinstance(ours, tg.Tensor) else False
        assert theirs.requires_grad == rg, path
        param = isinstance(ours, tg.nn.Parameter)
        assert isinstance(theirs, torch.nn.Parameter) == param, path
    elif isinstance(ours, dict):
        assert type(theirs) is type(ours) and list(theirs) == list(ours), path
        for k in ours:
            _check_in_torch(ours[k], theirs[k], f"{path}[{k!r}]")
    elif isinstance(ours, (list, tuple)):
        assert type(theirs) is type(ours) and len(theirs) == len(ours), path
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _check_in_torch(a, b, f"{path}[{i}]")
    else:
        assert type(theirs) is type(ours) and theirs == ours, path


def test_tg_save_torch_format_is_read_by_torch(tmp_path):
    obj = _tg_objects()
    tg.save(obj, tmp_path / "out.pt", format="torch")
    back = torch.load(tmp_path / "out.pt", weights_only=True)
    _check_in_torch(obj, back)
    assert back["w"] is back["tied"]  # one object: one tensor, one storage
    with zipfile.ZipFile(tmp_path / "out.pt") as z:
        assert "archive/data.pkl" in z.namelist()
        assert z.read("archive/byteorder") == b"little" and z.read("archive/version") == b"3\n"
        code = z.read("archive/data.pkl")
    globals_ = {arg for op, arg, _ in pickletools.genops(code) if op.name == "GLOBAL"}
    assert globals_ <= {"torch._utils _rebuild_tensor_v2", "torch._utils _rebuild_tensor_v3",
                        "torch._utils _rebuild_parameter", "collections OrderedDict",
                        "torch.storage UntypedStorage", "torch uint16", "torch FloatStorage",
                        "torch DoubleStorage", "torch HalfStorage", "torch LongStorage",
                        "torch IntStorage", "torch ShortStorage", "torch CharStorage",
                        "torch ByteStorage", "torch BoolStorage", "torch ComplexFloatStorage",
                        "torch ComplexDoubleStorage"}
    assert "torch._utils _rebuild_parameter" in globals_
    tg.save({"be": np.arange(3, dtype=">i4")}, tmp_path / "be.pt", format="torch")
    assert torch.load(tmp_path / "be.pt", weights_only=True)["be"].tolist() == [0, 1, 2]
    mapped = torch.load(tmp_path / "out.pt", weights_only=True, mmap=True)
    assert mapped["w"].data_ptr() % 64 == 0  # storages aligned as PyTorch writes them
    _check_in_torch(obj["w"], mapped["w"])


def test_tensorgrad_model_into_torch(tmp_path, device):
    torch.manual_seed(1)
    model = _tg_net().to(device)
    opt = tg.optim.Adam(model.parameters(), lr=0.05)
    x = np.random.default_rng(1).standard_normal((8, 4)).astype(np.float32)
    for _ in range(3):
        opt.zero_grad()
        model(tg.tensor(x, device=device)).pow(2).mean().backward()
        opt.step()
    model.eval()
    tg.save({"model": model.state_dict(), "opt": opt.state_dict()}, tmp_path / "tg.pt",
            format="torch")
    ck = torch.load(tmp_path / "tg.pt", weights_only=True)
    assert all(t.device.type == "cpu" for t in ck["model"].values())  # written for the host
    net = _torch_net()
    net.load_state_dict(ck["model"])
    net.eval()
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(want, host(model(tg.tensor(x, device=device))), rtol=1e-5,
                               atol=1e-6)
    assert ck["opt"]["param_groups"][0]["lr"] == 0.05
    np.testing.assert_array_equal(ck["opt"]["state"][0]["exp_avg"].numpy(),
                                  host(opt.state_dict()["state"][0]["exp_avg"]))


def test_round_trip_tensorgrad_to_torch_file_to_tensorgrad(tmp_path, device):
    obj = _tg_objects()
    obj["gpu"] = tg.tensor([1.0, 2.0], device=device)
    tg.save(obj, tmp_path / "rt.pt", format="torch")
    back = tg.load(tmp_path / "rt.pt")
    assert back["w"] is back["tied"]
    assert on(back["gpu"], "cpu")  # written as a CPU tensor, so it loads on the CPU
    for k, v in obj.items():
        if isinstance(v, (tg.Tensor, np.ndarray)):
            want = host(v)
            assert type(back[k]) is (tg.nn.Parameter if isinstance(v, tg.nn.Parameter)
                                     else tg.Tensor), k
            assert back[k].dtype == want.dtype and back[k].shape == want.shape, k
            np.testing.assert_array_equal(back[k].numpy(), want)
            assert back[k].requires_grad == (isinstance(v, tg.Tensor) and v.requires_grad), k
    assert back["meta"] == obj["meta"] and type(back["od"]) is collections.OrderedDict
    buf = io.BytesIO()  # a file object works the same
    tg.save({"x": tg.ones(2)}, buf, format="torch")
    buf.seek(0)
    assert tg.load(buf)["x"].tolist() == [1.0, 1.0]


# ---- safety -------------------------------------------------------------------------------------
def test_code_in_the_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    payload = f"open({str(marker)!r}, 'w').close()"
    for module, name in (("builtins", "exec"), ("__builtin__", "exec"), ("os", "system"),
                         ("posix", "system"), ("builtins", "eval")):
        arg = payload if name != "system" else f"touch {marker}"
        code = (b"\x80\x02}X\x01\x00\x00\x00x" + f"c{module}\n{name}\n".encode()
                + b"X" + len(arg.encode()).to_bytes(4, "little") + arg.encode()
                + b"\x85R" + b"s.")
        path = _torch_zip(tmp_path, code)
        with pytest.raises(pickle.UnpicklingError,
                           match=rf"names {'builtins' if module == '__builtin__' else module}"
                                 rf"\.{name}.*weights only.*state_dict"):
            tg.load(path)
        assert not marker.exists()
    pickle.loads(code)  # the payload is live: plain pickle runs it (builtins.eval)
    assert marker.exists()


class _Thing:
    pass


def test_pickled_objects_are_refused_by_name(tmp_path):
    path = _torch_zip(tmp_path, pickle.dumps({"x": _Thing()}, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match=r"names test_torch_format\._Thing"):
        tg.load(path)
    # BUILD (setting an object's state) only on an OrderedDict; EXT opcodes never
    build = b"\x80\x02]q\x00}X\x01\x00\x00\x00aK\x01sb."  # a list given a state
    with pytest.raises(pickle.UnpicklingError, match="sets the state of a list"):
        tg.load(_torch_zip(tmp_path, build, "b.pt"))
    with pytest.raises(pickle.UnpicklingError, match="extension registry"):
        tg.load(_torch_zip(tmp_path, b"\x80\x02\x82\x01.", "e.pt"))


def test_whole_pickled_module_is_refused_pointing_to_state_dict(tmp_path):
    torch.save(torch.nn.Linear(2, 3), tmp_path / "model.pt")
    with pytest.raises(pickle.UnpicklingError,
                       match=r"torch\.nn\.modules\.linear\.Linear.*state_dict\(\)"):
        tg.load(tmp_path / "model.pt")


def test_legacy_format_is_a_clear_error(tmp_path):
    torch.save({"w": torch.ones(2)}, tmp_path / "old.pt", _use_new_zipfile_serialization=False)
    with pytest.raises(ValueError, match="legacy serialization format.*re-save it"):
        tg.load(tmp_path / "old.pt")
    with open(tmp_path / "old.pt", "rb") as f:
        with pytest.raises(ValueError, match="legacy"):
            tg.load(f)


def test_damaged_files_are_value_errors(tmp_path):
    x = torch.arange(3.0)
    torch.save({"x": x}, tmp_path / "ok.pt")
    data = (tmp_path / "ok.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ValueError, match="cut.pt"):
        tg.load(tmp_path / "cut.pt")
    # a storage shorter than data.pkl says
    _rezip(tmp_path / "ok.pt", tmp_path / "short.pt",
           lambda n, d: d[:-4] if "/data/" in n else d)
    with pytest.raises(ValueError, match="not a valid PyTorch checkpoint.*holds 8 bytes"):
        tg.load(tmp_path / "short.pt")
    # a size that reaches past its storage: size (3,) patched to (9,)
    with zipfile.ZipFile(tmp_path / "ok.pt") as z:
        code = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
    assert code.count(b"K\x03\x85") == 1
    _rezip(tmp_path / "ok.pt", tmp_path / "far.pt",
           lambda n, d: d.replace(b"K\x03\x85", b"K\x09\x85") if n.endswith("data.pkl") else d)
    with pytest.raises(ValueError, match=r"size \[9\].*reaches element 8.*has 3"):
        tg.load(tmp_path / "far.pt")
    # a pickle cut short
    _rezip(tmp_path / "ok.pt", tmp_path / "pkl.pt",
           lambda n, d: d[:40] if n.endswith("data.pkl") else d)
    with pytest.raises(ValueError, match="not a valid PyTorch checkpoint"):
        tg.load(tmp_path / "pkl.pt")


def test_what_tensorgrad_cannot_hold_is_refused(tmp_path):
    torch.save({"x": torch.ones(2, dtype=torch.float8_e4m3fn)}, tmp_path / "f8.pt")
    with pytest.raises(ValueError, match="float8_e4m3fn.*NumPy"):
        tg.load(tmp_path / "f8.pt")
    torch.save(torch.ones(2).untyped_storage(), tmp_path / "s.pt")
    with pytest.raises(ValueError, match="bare PyTorch storage"):
        tg.load(tmp_path / "s.pt")


def test_save_torch_format_refuses_what_torch_load_would_not_read(tmp_path):
    path = tmp_path / "x.pt"
    with pytest.raises(TypeError, match=r"save: .*object at obj\['opt'\]\['state'\]"):
        tg.save({"opt": {"state": object()}}, path, format="torch")
    with pytest.raises(TypeError, match=r"Sequential at obj\['model'\]"):
        tg.save({"model": _tg_net()}, path, format="torch")
    with pytest.raises(TypeError, match=r"float32 at obj\[1\].*\.item\(\)"):
        tg.save([1, np.float32(2)], path, format="torch")
    with pytest.raises(TypeError, match=r"obj\[0\] \(a key\)"):
        tg.save([{object(): 1}], path, format="torch")
    loop = []
    loop.append(loop)
    with pytest.raises(TypeError, match="contains itself"):
        tg.save(loop, path, format="torch")
    assert not path.exists() and os.listdir(tmp_path) == []  # nothing written, no temp file


def test_unknown_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match="format must be 'tensorgrad' or 'torch', got 'onnx'"):
        tg.save({"x": tg.ones(1)}, tmp_path / "x.pt", format="onnx")
    assert not (tmp_path / "x.pt").exists()
