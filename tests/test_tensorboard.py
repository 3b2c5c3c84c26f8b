"""tg.utils.tensorboard.SummaryWriter: the event files are read back with TensorBoard's own
reader (EventAccumulator, the dev extra), PNGs decoded with Pillow, and the records compared byte
for byte with those of PyTorch's SummaryWriter where torch is installed."""

import glob
import io
import os
import struct
import subprocess
import sys
import time

import numpy as np
import pytest
from devices import tensor_on, torch_oracle
from PIL import Image
from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2
from tensorboard.util import tensor_util

import tensorgrad as tg
from tensorgrad.utils.tensorboard import SummaryWriter, crc32c, masked_crc32c

ALL = {k: 0 for k in (ea.COMPRESSED_HISTOGRAMS, ea.IMAGES, ea.AUDIO, ea.SCALARS, ea.HISTOGRAMS,
                      ea.TENSORS)}


def read(logdir):
    acc = ea.EventAccumulator(str(logdir), size_guidance=ALL)
    acc.Reload()
    return acc


def records(logdir):
    """The payloads of the one event file in ``logdir``, the framing checked on the way."""
    (path,) = glob.glob(os.path.join(str(logdir), "events.out.tfevents.*"))
    data, out, i = open(path, "rb").read(), [], 0
    while i < len(data):
        header = data[i:i + 8]
        (n,) = struct.unpack("<Q", header)
        assert struct.unpack("<I", data[i + 8:i + 12])[0] == masked_crc32c(header)
        payload = data[i + 12:i + 12 + n]
        assert struct.unpack("<I", data[i + 12 + n:i + 16 + n])[0] == masked_crc32c(payload)
        out.append(payload)
        i += 16 + n
    assert i == len(data)
    return out


def pixels(image_event):
    return np.asarray(Image.open(io.BytesIO(image_event.encoded_image_string)))


def test_crc32c_known_values():
    # the check value of CRC-32C and RFC 3720's test vectors
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E


def test_scalars_read_back(tmp_path, device):
    with SummaryWriter(tmp_path) as w:
        for step in range(6):
            loss = tensor_on(np.float32(1.0 / (step + 1)), device)
            w.add_scalar("train/loss", loss, step)
            w.add_scalar("lr", 0.1 * 0.5 ** step, global_step=tensor_on(np.int64(step), device))
        w.add_scalar("np", np.array([2.5]), 10, walltime=1234.5)
        assert w.get_logdir() == str(tmp_path)
    acc = read(tmp_path)
    assert sorted(acc.Tags()["scalars"]) == ["lr", "np", "train/loss"]
    got = [(e.step, e.value) for e in acc.Scalars("train/loss")]
    assert got == [(s, pytest.approx(1.0 / (s + 1), rel=1e-7)) for s in range(6)]
    assert [e.value for e in acc.Scalars("lr")] == pytest.approx([0.1 * 0.5 ** s for s in range(6)])
    (e,) = acc.Scalars("np")
    assert (e.step, e.value, e.wall_time) == (10, 2.5, 1234.5)


def test_new_style_scalar_is_a_tensor_event(tmp_path, device):
    with SummaryWriter(tmp_path) as w:
        w.add_scalar("f", tensor_on(np.float32(1.5), device), 3, new_style=True)
        w.add_scalar("d", 1 / 3, 4, new_style=True, double_precision=True)
    acc = read(tmp_path)
    (f,), (d,) = acc.Tensors("f"), acc.Tensors("d")
    assert (f.step, tensor_util.make_ndarray(f.tensor_proto)) == (3, np.float32(1.5))
    assert tensor_util.make_ndarray(d.tensor_proto).dtype == np.float64
    assert tensor_util.make_ndarray(d.tensor_proto) == 1 / 3
    assert acc.SummaryMetadata("f").plugin_data.plugin_name == "scalars"


def test_add_scalars_writes_one_run_per_tag(tmp_path, device):
    with SummaryWriter(tmp_path) as w:
        for step in range(3):
            w.add_scalars("run/loss", {"train": tensor_on(np.float32(step), device),
                                       "val": 10.0 + step}, step)
    assert sorted(d for d in os.listdir(tmp_path) if os.path.isdir(tmp_path / d)) == [
        "run_loss_train", "run_loss_val"]
    assert read(tmp_path).Tags()["scalars"] == []  # nothing in the main run
    for sub, base in (("run_loss_train", 0.0), ("run_loss_val", 10.0)):
        acc = read(tmp_path / sub)
        assert acc.Tags()["scalars"] == ["run/loss"]
        assert [(e.step, e.value) for e in acc.Scalars("run/loss")] == [
            (s, base + s) for s in range(3)]


def test_histogram_statistics_and_buckets(tmp_path, device):
    v = np.random.default_rng(0).normal(size=(40, 25))
    with SummaryWriter(tmp_path) as w:
        w.add_histogram("w", tensor_on(v, device), 7)
        w.add_histogram("auto", v, 8, bins="auto")
        w.add_histogram("ten", v, 9, bins=10, max_bins=4)
        w.add_histogram_raw("raw", 0.0, 3.0, 6, 9.0, 17.0, [1.0, 2.0, 3.0], [1, 2, 3], 1)
    acc = read(tmp_path)
    for tag in ("w", "auto", "ten"):
        (e,) = acc.Histograms(tag)
        h = e.histogram_value
        assert (h.min, h.max, h.num) == (v.min(), v.max(), v.size)
        assert h.sum == pytest.approx(v.sum()) and h.sum_squares == pytest.approx((v * v).sum())
        assert sum(h.bucket) == v.size and len(h.bucket) == len(h.bucket_limit)
        assert h.bucket[0] == 0 and h.bucket_limit[0] <= v.min() and h.bucket_limit[-1] >= v.max()
        assert list(h.bucket_limit) == sorted(h.bucket_limit)
    assert len(acc.Histograms("ten")[0].histogram_value.bucket) <= 4 + 1  # + the empty one
    raw = acc.Histograms("raw")[0].histogram_value
    assert (list(raw.bucket_limit), list(raw.bucket), raw.num) == ([1, 2, 3], [1, 2, 3], 6)
    # TensorBoard's distributions (compressed histograms) are computed from ours
    assert len(acc.CompressedHistograms("w")) == 1


def test_images_every_layout(tmp_path, device):
    rng = np.random.default_rng(1)
    chw = rng.random((3, 5, 7)).astype(np.float32)
    hwc = rng.integers(0, 256, (5, 7, 4), dtype=np.uint8)
    hw = rng.random((4, 6))
    batch = rng.random((10, 1, 4, 6)).astype(np.float32)
    with SummaryWriter(tmp_path) as w:
        w.add_image("chw", tensor_on(chw, device), 1)
        w.add_image("hwc", tensor_on(hwc, device), 2, dataformats="HWC")
        w.add_image("hw", hw, 3, dataformats="HW")
        w.add_images("batch", tensor_on(batch, device), 4)
        w.add_images("nhwc", batch.transpose(0, 2, 3, 1), 5, dataformats="NHWC")
    acc = read(tmp_path)
    scale = lambda a: (a.astype(np.float32) * 255).clip(0, 255).astype(np.uint8)
    (e,) = acc.Images("chw")
    assert (e.step, e.height, e.width) == (1, 5, 7)
    np.testing.assert_array_equal(pixels(e), scale(chw.transpose(1, 2, 0)))
    np.testing.assert_array_equal(pixels(acc.Images("hwc")[0]), hwc)  # RGBA, uint8 as is
    grey = np.repeat(scale(hw)[..., None], 3, axis=2)
    np.testing.assert_array_equal(pixels(acc.Images("hw")[0]), grey)
    # ten images, eight to a row: a 2 x 8 grid of 4 x 6 tiles, grey repeated into RGB
    grid = pixels(acc.Images("batch")[0])
    assert grid.shape == (8, 48, 3)
    np.testing.assert_array_equal(grid[4:8, 6:12, 1], scale(batch[9, 0]))
    assert not grid[4:, 12:].any()
    np.testing.assert_array_equal(pixels(acc.Images("nhwc")[0]), grid)


def test_figure_text_and_hparams(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(2, 1), dpi=50)
    plt.plot([0, 1], [0, 1])
    with SummaryWriter(tmp_path) as w:
        w.add_figure("fig", fig, 1)
        w.add_text("notes", "lr **0.1**, é", 2)
        w.add_hparams({"lr": 0.1, "optim": "adam", "bs": 32, "nesterov": False},
                      {"hp/acc": tg.tensor(0.875)}, run_name="trial",
                      hparam_domain_discrete={"optim": ["adam", "sgd"]})
    assert not plt.fignum_exists(fig.number)
    acc = read(tmp_path)
    img = acc.Images("fig")[0]
    assert (img.width, img.height) == (100, 50) and pixels(img).shape == (50, 100, 3)
    (t,) = acc.Tensors("notes/text_summary")
    assert tensor_util.make_ndarray(t.tensor_proto).tolist() == ["lr **0.1**, é".encode()]
    assert acc.SummaryMetadata("notes/text_summary").plugin_data.plugin_name == "text"
    trial = read(tmp_path / "trial")
    assert [e.value for e in trial.Scalars("hp/acc")] == [0.875]
    content = {k: plugin_data_pb2.HParamsPluginData.FromString(v)
               for k, v in trial.PluginTagToContent("hparams").items()}
    exp = content["_hparams_/experiment"].experiment
    types = {i.name: api_pb2.DataType.Name(i.type) for i in exp.hparam_infos}
    assert types == {"lr": "DATA_TYPE_FLOAT64", "optim": "DATA_TYPE_STRING",
                     "bs": "DATA_TYPE_FLOAT64", "nesterov": "DATA_TYPE_BOOL"}
    optim = next(i for i in exp.hparam_infos if i.name == "optim")
    assert [v.string_value for v in optim.domain_discrete.values] == ["adam", "sgd"]
    assert [m.name.tag for m in exp.metric_infos] == ["hp/acc"]
    hp = content["_hparams_/session_start_info"].session_start_info.hparams
    assert (hp["lr"].number_value, hp["optim"].string_value, hp["bs"].number_value) == (
        0.1, "adam", 32)
    assert hp["nesterov"].HasField("bool_value") and hp["nesterov"].bool_value is False
    end = content["_hparams_/session_end_info"].session_end_info
    assert api_pb2.Status.Name(end.status) == "STATUS_SUCCESS"


def test_purge_step_drops_the_steps_of_a_resumed_run(tmp_path):
    with SummaryWriter(tmp_path) as w:
        for s in range(10):
            w.add_scalar("x", s, s)
    time.sleep(1.05)  # a second file name (the name holds the time in seconds)
    with SummaryWriter(tmp_path, purge_step=5) as w:
        for s in range(5, 8):
            w.add_scalar("x", 100 + s, s)
    got = [(e.step, e.value) for e in read(tmp_path).Scalars("x")]
    assert got == [(s, s) for s in range(5)] + [(s, 100 + s) for s in range(5, 8)]


def test_queue_flush_close_and_reopen(tmp_path):
    w = SummaryWriter(tmp_path, max_queue=100, flush_secs=1000)
    w.add_scalar("x", 1.0, 0)
    assert "x" not in read(tmp_path).Tags()["scalars"]  # queued, only the header is on disk
    w.flush()
    assert [e.value for e in read(tmp_path).Scalars("x")] == [1.0]
    for s in range(1, 100):
        w.add_scalar("x", float(s), s)
    assert len(read(tmp_path).Scalars("x")) == 1  # 99 queued
    w.add_scalar("x", 100.0, 100)  # the 100th fills the queue: written
    assert len(read(tmp_path).Scalars("x")) == 101
    w.close()
    w.add_scalar("x", -1.0, 101)  # as PyTorch: a new event file after close()
    w.close()
    assert len(glob.glob(str(tmp_path / "events.out.tfevents.*"))) == 2
    assert read(tmp_path).Scalars("x")[-1].value == -1.0

    timed = SummaryWriter(tmp_path / "timed", flush_secs=0.05)
    timed.add_scalar("y", 3.0, 0)
    deadline = time.time() + 5
    while time.time() < deadline and not read(tmp_path / "timed").Tags()["scalars"]:
        time.sleep(0.05)
    assert [e.value for e in read(tmp_path / "timed").Scalars("y")] == [3.0]
    timed.close()


def test_default_log_dir_and_suffix(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with SummaryWriter(comment="_lr0.1", filename_suffix=".v2") as w:
        w.add_scalar("x", 1, 1)
        logdir = w.get_logdir()
    assert os.path.dirname(logdir) == "runs" and logdir.endswith("_lr0.1")
    (name,) = os.listdir(logdir)
    assert name.startswith("events.out.tfevents.") and name.endswith(".v2")
    assert [e.value for e in read(logdir).Scalars("x")] == [1.0]


def test_bad_inputs_name_the_method_argument_and_shape(tmp_path, device):
    with SummaryWriter(tmp_path) as w:
        with pytest.raises(ValueError, match=r"add_scalar: scalar_value .*\(3,\)"):
            w.add_scalar("x", tensor_on(np.ones(3), device), 0)
        with pytest.raises(TypeError, match="add_scalar: scalar_value must hold real numbers"):
            w.add_scalar("x", "high", 0)
        with pytest.raises(TypeError, match="add_scalar: tag must be a str"):
            w.add_scalar(3, 1.0)
        with pytest.raises(TypeError, match="add_scalar: global_step must be an integer"):
            w.add_scalar("x", 1.0, 1.5)
        with pytest.raises(ValueError, match=r"add_image: .*\(5, 7, 3\).*has 5 channels"):
            w.add_image("i", tensor_on(np.zeros((5, 7, 3)), device))  # HWC data, CHW default
        with pytest.raises(ValueError, match=r"add_image: img_tensor of shape \(5, 7\) has 2 "
                                             r"dimensions, but dataformats='CHW'"):
            w.add_image("i", np.zeros((5, 7)))
        with pytest.raises(ValueError, match="add_image: dataformats='CHX'"):
            w.add_image("i", np.zeros((3, 5, 7)), dataformats="CHX")
        with pytest.raises(ValueError, match=r"add_images: dataformats='CHW' must describe a "
                                             r"batch.*\(3, 5, 7\)"):
            w.add_images("i", np.zeros((3, 5, 7)), dataformats="CHW")
        with pytest.raises(ValueError, match=r"add_histogram: values is empty \(shape \(0, 3\)\)"):
            w.add_histogram("h", tensor_on(np.zeros((0, 3)), device))
        with pytest.raises(ValueError, match="add_histogram: values contain NaN"):
            w.add_histogram("h", np.array([1.0, np.nan]))
        with pytest.raises(TypeError, match="add_text: text_string must be a str"):
            w.add_text("t", 3)
        with pytest.raises(TypeError, match="add_hparams: hparam_dict and metric_dict"):
            w.add_hparams([("lr", 1)], {})
        with pytest.raises(TypeError, match=r"add_hparams: hparam_dict\['f'\]"):
            w.add_hparams({"f": object()}, {})
        with pytest.raises(NotImplementedError, match="SummaryWriter.add_audio"):
            w.add_audio("a", np.zeros(100), 0)
        with pytest.warns(UserWarning, match="add_graph: tensorgrad does not write model graphs"):
            w.add_graph(tg.nn.Linear(2, 2), tg.zeros(1, 2))
    assert read(tmp_path).Tags()["scalars"] == [] and read(tmp_path).Tags()["images"] == []


def test_records_match_pytorch_byte_for_byte(tmp_path):
    torch = torch_oracle()
    from torch.utils.tensorboard import SummaryWriter as TorchWriter

    v = np.random.default_rng(2).normal(size=300)
    for Writer, wrap, sub in ((SummaryWriter, tg.tensor, "ours"), (TorchWriter, torch.tensor,
                                                                   "torch")):
        with Writer(str(tmp_path / sub)) as w:
            w.add_scalar("a/b", wrap(0.25), 3, walltime=1000.5)
            w.add_scalar("big", -1e39, 2 ** 40, walltime=1000.5)
            w.add_histogram("h", wrap(v), 9, walltime=1001.0)
            w.add_histogram("h8", wrap(v), 9, bins=16, max_bins=8, walltime=1001.0)
            w.add_text("t", "x", 1, walltime=1002.0)
            w.add_scalar("ns", 2.5, 4, walltime=1003.0, new_style=True, double_precision=True)
            w.add_image("img", wrap(np.linspace(0, 1, 60).reshape(3, 4, 5)), 5, walltime=1004.0)
    ours, theirs = records(tmp_path / "ours"), records(tmp_path / "torch")
    assert len(ours) == len(theirs) == 8
    assert ours[1:-1] == theirs[1:-1]  # all but the header (its time) and the image (its PNG)
    a, b = read(tmp_path / "ours").Images("img")[0], read(tmp_path / "torch").Images("img")[0]
    np.testing.assert_array_equal(pixels(a), pixels(b))


def test_writing_needs_only_numpy():
    code = ("import sys, tensorgrad.utils.tensorboard as tb\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('tensorboard', 'google', 'PIL', 'torch')]\n"
            "assert not bad, bad\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
