"""``tensorgrad.utils.tensorboard``: PyTorch's ``SummaryWriter``, writing TensorBoard event files
with NumPy and the standard library only.

An event file is a sequence of TFRecords (a little-endian 64-bit length, the masked CRC32C of
those 8 bytes, the payload, the masked CRC32C of the payload), each payload a serialized
``Event`` protobuf. The few messages TensorBoard reads (``Event``, ``Summary``, ``HistogramProto``,
``Summary.Image``, ``TensorProto``, ``SummaryMetadata``, the hparams plugin's messages) are
encoded here by hand, images as PNG through ``zlib``; neither ``tensorboard`` nor ``protobuf`` is
needed to write, only to view (``tensorboard --logdir runs``).

Values may be Tensors on any device (copied to the host explicitly), NumPy arrays, CuPy arrays
or Python numbers. ``add_graph`` accepts its arguments and writes nothing (with a warning): a
GraphDef of a tensorgrad model is not produced, and a training script that calls it should run
on with the rest of its logging. Audio, video, embeddings, meshes, PR curves and custom-scalar
layouts raise ``NotImplementedError`` naming the method.
"""

import atexit
import os
import socket
import struct
import threading
import time
import warnings
import weakref
import zlib
from datetime import datetime

import numpy as np

from ..backend.device import to_host
from ..tensor import Tensor

__all__ = ["SummaryWriter"]


# --- CRC32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven ----------------------

def _crc_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc32c(data):
    """The CRC32C of the bytes ``data`` (``crc32c(b"123456789") == 0xE3069283``)."""
    table = _CRC_TABLE
    crc = 0xFFFFFFFF
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data):
    """TFRecord's masked CRC: the CRC rotated right by 15 bits plus 0xA282EAD8 (mod 2**32)."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord(payload):
    """One TFRecord framing ``payload``."""
    header = struct.pack("<Q", len(payload))
    return (header + struct.pack("<I", masked_crc32c(header)) + payload
            + struct.pack("<I", masked_crc32c(payload)))


# --- protobuf wire format, by hand ---------------------------------------------------------------

def _varint(n):
    n = int(n)
    if n < 0:  # int64/int32 negatives: ten bytes of two's complement
        n += 1 << 64
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _pb_varint(field, n):
    return _varint(field << 3) + _varint(n)


def _pb_double(field, x):
    return _varint(field << 3 | 1) + struct.pack("<d", x)


def _f32(x):
    with np.errstate(over="ignore"):  # beyond float32's range: inf, as a cast in C
        return np.array(x, dtype="<f4").tobytes()


def _pb_float(field, x):
    return _varint(field << 3 | 5) + _f32(x)


def _pb_bytes(field, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _pb_packed_doubles(field, values):
    return _pb_bytes(field, np.asarray(values, dtype="<f8").tobytes())


def _event(wall_time, step=0, file_version=None, summary=None, session_log=None):
    """An ``Event``: wall_time 1, step 2, file_version 3, summary 5, session_log 7."""
    out = _pb_double(1, wall_time)
    if step:
        out += _pb_varint(2, step)
    if file_version is not None:
        out += _pb_bytes(3, file_version)
    if summary is not None:
        out += _pb_bytes(5, summary)
    if session_log is not None:
        out += _pb_bytes(7, session_log)
    return out


def _summary(*values):
    """A ``Summary`` of encoded ``Summary.Value``s (field 1, repeated)."""
    return b"".join(_pb_bytes(1, v) for v in values)


def _metadata(plugin_name, content=b""):
    """``SummaryMetadata`` with ``plugin_data`` (``PluginData``: plugin_name 1, content 2)."""
    plugin = _pb_bytes(1, plugin_name) + (_pb_bytes(2, content) if content else b"")
    return _pb_bytes(1, plugin)


# Summary.Value fields: tag 1, simple_value 2, image 4, histo 5, tensor 8, metadata 9.
def _value_scalar(tag, x):
    return _pb_bytes(1, tag) + _pb_float(2, x)


def _value_tensor(tag, metadata, tensor):
    return _pb_bytes(1, tag) + _pb_bytes(8, tensor) + _pb_bytes(9, metadata)


_DT_FLOAT, _DT_DOUBLE, _DT_STRING = 1, 2, 7  # TensorFlow's DataType enum


def _tensor_proto(dtype, dims, payload):
    """``TensorProto``: dtype 1, tensor_shape 2 (``TensorShapeProto.dim`` 2, ``Dim.size`` 1)."""
    shape = b"".join(_pb_bytes(2, _pb_varint(1, d)) for d in dims)
    return _pb_varint(1, dtype) + (_pb_bytes(2, shape) if shape else b"") + payload


# --- turning arguments into host values ----------------------------------------------------------

def _host(x, method, arg):
    """``x`` (a Tensor of any device, a NumPy/CuPy array, a number, a nested list) as a NumPy
    array: the one explicit copy from a GPU."""
    if isinstance(x, Tensor):
        return np.asarray(x.numpy())
    if hasattr(x, "detach") and hasattr(x, "cpu") and hasattr(x, "numpy"):  # a torch.Tensor
        return x.detach().cpu().numpy()
    try:
        return to_host(x)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{method}: {arg} must be a number, an array or a Tensor, got "
                        f"{type(x).__name__}") from e


def _real(a, method, arg, shape_note=""):
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{method}: {arg} must hold real numbers, got dtype {a.dtype}"
                        f"{shape_note} and shape {a.shape}")
    return a


def _scalar(x, method, arg="scalar_value"):
    a = _real(_host(x, method, arg), method, arg)
    if a.size != 1:
        raise ValueError(f"{method}: {arg} must be a single number, got shape {a.shape}")
    return float(a.reshape(()))


def _step(step, method):
    if step is None:
        return 0
    if isinstance(step, (Tensor, np.ndarray, np.generic)) or hasattr(step, "detach"):
        a = _host(step, method, "global_step")
        if a.size == 1 and a.dtype.kind in "iu":
            return int(a.reshape(()))
    else:
        try:
            return int(step.__index__())
        except (AttributeError, TypeError):
            pass
    raise TypeError(f"{method}: global_step must be an integer (or None), got "
                    f"{type(step).__name__} {step!r}")


def _tag(tag, method, arg="tag"):
    if not isinstance(tag, str):
        raise TypeError(f"{method}: {arg} must be a str, got {type(tag).__name__}")
    return tag


# --- histograms ----------------------------------------------------------------------------------

def _tensorflow_bins():
    """TensorFlow's default bucket edges: ±1e-12 growing by 10% up to 1e20, and 0."""
    pos = []
    v = 1e-12
    while v < 1e20:
        pos.append(v)
        v *= 1.1
    return np.array([-p for p in reversed(pos)] + [0.0] + pos)


_TF_BINS = _tensorflow_bins()


def _histogram_proto(values, bins, max_bins, method="add_histogram"):
    """``HistogramProto`` of ``values``: min 1, max 2, num 3, sum 4, sum_squares 5, bucket_limit 6,
    bucket 7. Bucket i counts the values up to ``bucket_limit[i]`` (its right edge); the empty
    buckets at both ends are dropped but one, so that the first limit is the left edge of the
    first non-empty bucket."""
    if values.size == 0:
        raise ValueError(f"{method}: values is empty (shape {values.shape})")
    v = values.reshape(-1).astype(np.float64)
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{method}: values contain NaN or infinity (shape {values.shape})")
    if isinstance(bins, str) and bins == "tensorflow":
        bins = _TF_BINS
    try:
        counts, limits = np.histogram(v, bins=bins)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{method}: bins={bins!r} is not usable for values of shape "
                         f"{values.shape}: {e}") from e
    if max_bins is not None:
        if not isinstance(max_bins, (int, np.integer)) or isinstance(max_bins, bool):
            raise TypeError(f"{method}: max_bins must be an int (or None), got "
                            f"{type(max_bins).__name__} {max_bins!r}")
        if max_bins < 1:
            raise ValueError(f"{method}: max_bins must be at least 1, got {max_bins}")
    if max_bins is not None and len(counts) > max_bins:
        # merge runs of neighbouring buckets (the last run may be short); PyTorch's runs of
        # len // max_bins can leave more than max_bins buckets, these never do
        group = -(-len(counts) // int(max_bins))
        pad = (-len(counts)) % group
        counts = np.pad(counts, (0, pad)).reshape(-1, group).sum(axis=1)
        limits = np.concatenate([limits[:-1:group], limits[-1:]])
    nonzero = np.flatnonzero(counts)
    first, last = (int(nonzero[0]), int(nonzero[-1])) if nonzero.size else (0, len(counts) - 1)
    if first > 0:
        counts, limits = counts[first - 1:last + 1], limits[first:last + 2]
    else:
        counts = np.concatenate([[0], counts[:last + 1]])
        limits = limits[:last + 2]
    return (_pb_double(1, v.min()) + _pb_double(2, v.max()) + _pb_double(3, v.size)
            + _pb_double(4, v.sum()) + _pb_double(5, v.dot(v))
            + _pb_packed_doubles(6, limits) + _pb_packed_doubles(7, counts))


# --- images --------------------------------------------------------------------------------------

def png(hwc):
    """A PNG of the uint8 array ``hwc`` (height, width, 3 or 4 channels): 8-bit RGB/RGBA, rows
    unfiltered, deflated by zlib."""
    h, w, c = hwc.shape
    rows = np.concatenate([np.zeros((h, 1), np.uint8), hwc.reshape(h, w * c)], axis=1)

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", w, h, 8, {3: 2, 4: 6}[c], 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(np.ascontiguousarray(rows).tobytes(), 6))
            + chunk(b"IEND", b""))


def _grid(nchw, ncols=8):
    """A batch (N, C, H, W) tiled into one (C, rows*H, cols*W) image, ``ncols`` to a row."""
    n, c, h, w = nchw.shape
    cols = min(n, ncols)
    rows = -(-n // cols)
    canvas = np.zeros((c, rows * h, cols * w), nchw.dtype)
    for i in range(n):
        y, x = divmod(i, cols)
        canvas[:, y * h:(y + 1) * h, x * w:(x + 1) * w] = nchw[i]
    return canvas


def _to_hwc(a, dataformats, method):
    """``a`` laid out as ``dataformats`` (HW, CHW/HWC/..., NCHW/NHWC/...) as (H, W, 3|4) uint8:
    uint8 data as is, anything else read as [0, 1] and scaled by 255 (as PyTorch)."""
    if not isinstance(dataformats, str):
        raise TypeError(f"{method}: dataformats must be a str such as 'CHW', got "
                        f"{type(dataformats).__name__}")
    fmt = dataformats.upper()
    if sorted(fmt) not in (sorted("HW"), sorted("CHW"), sorted("NCHW")):
        raise ValueError(f"{method}: dataformats={dataformats!r} must order the letters HW, CHW "
                         f"or NCHW (image of shape {a.shape})")
    if a.ndim != len(fmt):
        raise ValueError(f"{method}: img_tensor of shape {a.shape} has {a.ndim} dimensions, but "
                         f"dataformats={dataformats!r} describes {len(fmt)}")
    _real(a, method, "img_tensor")
    dims = dict(zip(fmt, a.shape))
    if "C" in dims and dims["C"] not in (1, 3, 4):
        raise ValueError(f"{method}: img_tensor of shape {a.shape} with dataformats="
                         f"{dataformats!r} has {dims['C']} channels; 1, 3 or 4 are images")
    if any(dims[k] == 0 for k in fmt):
        raise ValueError(f"{method}: img_tensor of shape {a.shape} (dataformats="
                         f"{dataformats!r}) is empty")
    if len(fmt) == 4:
        chw = _grid(a.transpose([fmt.index(k) for k in "NCHW"]))
        hwc = chw.transpose(1, 2, 0)
    elif len(fmt) == 3:
        hwc = a.transpose([fmt.index(k) for k in "HWC"])
    else:
        hwc = a.transpose([fmt.index(k) for k in "HW"])[:, :, None]
    if hwc.shape[2] == 1:
        hwc = np.concatenate([hwc] * 3, axis=2)
    if hwc.dtype != np.uint8:
        scaled = np.nan_to_num(hwc.astype(np.float32) * np.float32(255), nan=0.0)
        hwc = scaled.clip(0, 255).astype(np.uint8)
    return np.ascontiguousarray(hwc)


def _value_image(tag, hwc):
    """``Summary.Image``: height 1, width 2, colorspace 3, encoded_image_string 4."""
    h, w, c = hwc.shape
    image = _pb_varint(1, h) + _pb_varint(2, w) + _pb_varint(3, c) + _pb_bytes(4, png(hwc))
    return _pb_bytes(1, tag) + _pb_bytes(4, image)


# --- hparams plugin ------------------------------------------------------------------------------

def _pb_value(x):
    """``google.protobuf.Value``: number_value 2, string_value 3, bool_value 4."""
    if isinstance(x, bool):
        return _pb_varint(4, int(x))  # written even when False: a oneof member
    if isinstance(x, str):
        return _pb_bytes(3, x)
    return _pb_double(2, float(x))


def _hparam_value(k, v):
    if isinstance(v, (bool, str, int, float, np.bool_, np.integer, np.floating)):
        return v.item() if isinstance(v, np.generic) else v
    if isinstance(v, (Tensor, np.ndarray)) or hasattr(v, "detach"):
        return _scalar(v, "add_hparams", f"hparam_dict[{k!r}]")
    raise TypeError(f"add_hparams: hparam_dict[{k!r}] must be an int, float, str, bool or a "
                    f"one-element Tensor, got {type(v).__name__}")


# HParamInfo.type: DATA_TYPE_STRING 1, DATA_TYPE_BOOL 2, DATA_TYPE_FLOAT64 3
def _hparam_type(v):
    return 2 if isinstance(v, bool) else 1 if isinstance(v, str) else 3


def _hparams_summaries(hparams, metric_names, domains):
    """The hparams plugin's three summaries: experiment, session start and session end
    (``HParamsPluginData``: version 1, experiment 2, session_start_info 3, session_end_info 4)."""
    infos, entries = b"", b""
    for k, v in hparams.items():
        info = _pb_bytes(1, k) + _pb_varint(4, _hparam_type(v))
        if k in domains:
            info += _pb_bytes(5, b"".join(_pb_bytes(1, _pb_value(d)) for d in domains[k]))
        infos += _pb_bytes(4, info)
        entries += _pb_bytes(1, _pb_bytes(1, k) + _pb_bytes(2, _pb_value(v)))
    metrics = b"".join(_pb_bytes(5, _pb_bytes(1, _pb_bytes(2, m))) for m in metric_names)
    now = time.time()
    parts = [("_hparams_/experiment", 2, infos + metrics),
             ("_hparams_/session_start_info", 3, entries + _pb_double(5, now)),
             ("_hparams_/session_end_info", 4, _pb_varint(1, 1) + _pb_double(2, now))]
    return [_summary(_pb_bytes(1, tag) + _pb_bytes(9, _metadata("hparams", _pb_bytes(f, body))))
            for tag, f, body in parts]


# --- the event file ------------------------------------------------------------------------------

_OPEN = weakref.WeakSet()
_UID = iter(range(1 << 62))
_UID_LOCK = threading.Lock()


@atexit.register
def _flush_open_writers():
    for w in list(_OPEN):
        try:
            w.flush()
        except (OSError, ValueError):
            pass


def _flush_loop(ref, stop, period):
    while not stop.wait(period):
        writer = ref()
        if writer is None:
            return
        writer.flush()
        del writer


class _EventFile:
    """One events.out.tfevents.* file: records queue up to ``max_queue`` and are written when the
    queue fills, every ``flush_secs`` seconds (a daemon thread), on ``flush()`` and at exit."""

    def __init__(self, logdir, max_queue, flush_secs, filename_suffix):
        os.makedirs(logdir, exist_ok=True)
        self.logdir = logdir
        with _UID_LOCK:
            uid = next(_UID)
        name = (f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}."
                f"{os.getpid()}.{uid}{filename_suffix}")
        self.path = os.path.join(logdir, name)
        self._file = open(self.path, "wb")
        self._queue = []
        self._max_queue = max(int(max_queue), 1)
        self._lock = threading.Lock()
        self.add(_event(time.time(), file_version="brain.Event:2"))
        self.flush()
        _OPEN.add(self)
        self._stop = threading.Event()
        if flush_secs and flush_secs > 0:
            threading.Thread(target=_flush_loop, args=(weakref.ref(self), self._stop, flush_secs),
                             daemon=True, name="tensorboard-flush").start()

    def add(self, event):
        record = tfrecord(event)
        with self._lock:
            self._queue.append(record)
            full = len(self._queue) >= self._max_queue
        if full:
            self.flush()

    def flush(self):
        with self._lock:
            if self._file.closed:
                return
            if self._queue:
                self._file.write(b"".join(self._queue))
                self._queue.clear()
            self._file.flush()

    def close(self):
        self.flush()
        self._stop.set()
        with self._lock:
            self._file.close()
        _OPEN.discard(self)


_NOT_WRITTEN = ("add_audio", "add_video", "add_embedding", "add_pr_curve", "add_pr_curve_raw",
                "add_mesh", "add_custom_scalars", "add_custom_scalars_multilinechart",
                "add_custom_scalars_marginchart", "add_onnx_graph", "add_image_with_boxes")


class SummaryWriter:
    """PyTorch's ``torch.utils.tensorboard.SummaryWriter``: logs scalars, histograms, images, text
    and hparams into TensorBoard event files under ``log_dir`` (default
    ``runs/<Mon01_12-00-00>_<hostname><comment>``)::

        with SummaryWriter("runs/exp1") as writer:
            for step in range(100):
                ...
                writer.add_scalar("loss", loss.item(), step)

    ``global_step`` defaults to 0 and ``walltime`` to ``time.time()``. ``purge_step=k`` tells
    TensorBoard to drop the events of an earlier run at steps >= k (a resumed run).
    """

    def __init__(self, log_dir=None, comment="", purge_step=None, max_queue=10, flush_secs=120,
                 filename_suffix=""):
        # checked before anything is created on disk
        if log_dir and not isinstance(log_dir, (str, bytes, os.PathLike)):
            raise TypeError(f"SummaryWriter: log_dir must be a str or a path, got "
                            f"{type(log_dir).__name__}")
        for name, n in (("max_queue", max_queue), ("flush_secs", flush_secs)):
            if not isinstance(n, (int, float, np.integer, np.floating)) or isinstance(n, bool):
                raise TypeError(f"SummaryWriter: {name} must be a number, got "
                                f"{type(n).__name__} {n!r}")
        if purge_step is not None:
            _step(purge_step, "SummaryWriter")
        if not log_dir:
            stamp = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", f"{stamp}_{socket.gethostname()}{comment}")
        self.log_dir = os.fspath(log_dir)
        self.purge_step = purge_step
        self.max_queue = max_queue
        self.flush_secs = flush_secs
        self.filename_suffix = filename_suffix
        self._writer = None
        self._all = {}
        self._file_writer()

    def _file_writer(self):
        """The main event file, opened anew after ``close()`` (as PyTorch's)."""
        if self._writer is None:
            self._writer = self._open(self.log_dir)
            if self.purge_step is not None:
                step, now = _step(self.purge_step, "SummaryWriter"), time.time()
                self._writer.add(_event(now, step, file_version="brain.Event:2"))
                # SessionLog.status = START (1): TensorBoard purges steps >= step
                self._writer.add(_event(now, step, session_log=_pb_varint(1, 1)))
                self.purge_step = None
        return self._writer

    def _open(self, logdir):
        w = _EventFile(logdir, self.max_queue, self.flush_secs, self.filename_suffix)
        self._all[logdir] = w
        return w

    def get_logdir(self):
        """The directory the main event file is in."""
        return self.log_dir

    def _add(self, summary, global_step, walltime, method, writer=None):
        step = _step(global_step, method)
        wall = time.time() if walltime is None else _scalar(walltime, method, "walltime")
        (writer or self._file_writer()).add(_event(wall, step, summary=summary))

    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None, new_style=False,
                   double_precision=False):
        """One point of the curve ``tag``; ``scalar_value`` a number or a one-element Tensor or
        array. ``new_style=True`` writes it as a tensor summary of the scalars plugin (float64
        with ``double_precision=True``), which TensorBoard reads as a tensor event."""
        _tag(tag, "add_scalar")
        x = _scalar(scalar_value, "add_scalar")
        if new_style:
            if double_precision:
                tensor = _tensor_proto(_DT_DOUBLE, (), _pb_packed_doubles(6, [x]))
            else:
                tensor = _tensor_proto(_DT_FLOAT, (), _pb_bytes(5, _f32(x)))
            value = _value_tensor(tag, _metadata("scalars"), tensor)
        else:
            value = _value_scalar(tag, x)
        self._add(_summary(value), global_step, walltime, "add_scalar")

    def add_scalars(self, main_tag, tag_scalar_dict, global_step=None, walltime=None):
        """Several curves in one chart: each ``tag`` of ``tag_scalar_dict`` goes to its own run
        ``<log_dir>/<main_tag>_<tag>`` (slashes of ``main_tag`` become ``_``), under the tag
        ``main_tag``, as PyTorch lays them out."""
        _tag(main_tag, "add_scalars", "main_tag")
        if not isinstance(tag_scalar_dict, dict):
            raise TypeError(f"add_scalars: tag_scalar_dict must be a dict of tag -> number, got "
                            f"{type(tag_scalar_dict).__name__}")
        values = {_tag(t, "add_scalars", "a key of tag_scalar_dict"):
                  _scalar(v, "add_scalars", f"tag_scalar_dict[{t!r}]")
                  for t, v in tag_scalar_dict.items()}
        base = self._file_writer().logdir
        for t, x in values.items():
            logdir = os.path.join(base, main_tag.replace("/", "_") + "_" + t)
            writer = self._all.get(logdir) or self._open(logdir)
            self._add(_summary(_value_scalar(main_tag, x)), global_step, walltime, "add_scalars",
                      writer)

    def add_histogram(self, tag, values, global_step=None, bins="tensorflow", walltime=None,
                      max_bins=None):
        """The distribution of ``values`` (any shape). ``bins``: ``"tensorflow"`` (TensorFlow's
        exponential buckets), one of NumPy's estimators (``"auto"``, ``"fd"``, ...), a count or
        the edges; ``max_bins`` merges neighbouring buckets down to at most that many (plus the
        empty bucket before the first)."""
        _tag(tag, "add_histogram")
        a = _real(_host(values, "add_histogram", "values"), "add_histogram", "values")
        histo = _histogram_proto(a, bins, max_bins)
        self._add(_summary(_pb_bytes(1, tag) + _pb_bytes(5, histo)), global_step, walltime,
                  "add_histogram")

    def add_histogram_raw(self, tag, min, max, num, sum, sum_squares, bucket_limits,
                          bucket_counts, global_step=None, walltime=None):
        """A histogram from its statistics: ``bucket_counts[i]`` values up to
        ``bucket_limits[i]``."""
        _tag(tag, "add_histogram_raw")
        limits = _host(bucket_limits, "add_histogram_raw", "bucket_limits").reshape(-1)
        counts = _host(bucket_counts, "add_histogram_raw", "bucket_counts").reshape(-1)
        if limits.shape != counts.shape:
            raise ValueError(f"add_histogram_raw: bucket_limits (shape {limits.shape}) and "
                             f"bucket_counts (shape {counts.shape}) must have the same length")
        stats = [_scalar(x, "add_histogram_raw", n) for n, x in
                 (("min", min), ("max", max), ("num", num), ("sum", sum),
                  ("sum_squares", sum_squares))]
        histo = (b"".join(_pb_double(i + 1, s) for i, s in enumerate(stats))
                 + _pb_packed_doubles(6, limits) + _pb_packed_doubles(7, counts))
        self._add(_summary(_pb_bytes(1, tag) + _pb_bytes(5, histo)), global_step, walltime,
                  "add_histogram_raw")

    def add_image(self, tag, img_tensor, global_step=None, walltime=None, dataformats="CHW"):
        """One image: ``img_tensor`` laid out as ``dataformats`` (``"CHW"`` the default, ``"HWC"``,
        ``"HW"``; 1, 3 or 4 channels), uint8 or floats in [0, 1]."""
        _tag(tag, "add_image")
        a = _host(img_tensor, "add_image", "img_tensor")
        hwc = _to_hwc(a, dataformats, "add_image")
        self._add(_summary(_value_image(tag, hwc)), global_step, walltime, "add_image")

    def add_images(self, tag, img_tensor, global_step=None, walltime=None, dataformats="NCHW"):
        """A batch of images (``"NCHW"`` or ``"NHWC"``), tiled eight to a row into one image."""
        _tag(tag, "add_images")
        a = _host(img_tensor, "add_images", "img_tensor")
        if len(str(dataformats)) != 4:
            raise ValueError(f"add_images: dataformats={dataformats!r} must describe a batch "
                             f"('NCHW' or 'NHWC'); img_tensor has shape {a.shape}")
        hwc = _to_hwc(a, dataformats, "add_images")
        self._add(_summary(_value_image(tag, hwc)), global_step, walltime, "add_images")

    def add_figure(self, tag, figure, global_step=None, close=True, walltime=None):
        """A matplotlib figure (or a list of them, as a batch) rendered to an RGB image."""
        figures = figure if isinstance(figure, (list, tuple)) else [figure]
        images = []
        for fig in figures:
            if not hasattr(fig, "canvas"):
                raise TypeError(f"add_figure: figure must be a matplotlib Figure or a list of "
                                f"them, got {type(fig).__name__}")
            fig.canvas.draw()
            images.append(np.asarray(fig.canvas.buffer_rgba())[:, :, :3].copy())
            if close:
                import matplotlib.pyplot as plt

                plt.close(fig)
        if isinstance(figure, (list, tuple)):
            self.add_images(tag, np.stack(images), global_step, walltime, dataformats="NHWC")
        else:
            self.add_image(tag, images[0], global_step, walltime, dataformats="HWC")

    def add_text(self, tag, text_string, global_step=None, walltime=None):
        """Text (Markdown in TensorBoard's text tab) under ``<tag>/text_summary``."""
        _tag(tag, "add_text")
        if not isinstance(text_string, str):
            raise TypeError(f"add_text: text_string must be a str, got "
                            f"{type(text_string).__name__}")
        tensor = _tensor_proto(_DT_STRING, (1,), _pb_bytes(8, text_string))
        value = _value_tensor(tag + "/text_summary", _metadata("text"), tensor)
        self._add(_summary(value), global_step, walltime, "add_text")

    def add_hparams(self, hparam_dict, metric_dict, hparam_domain_discrete=None, run_name=None,
                    global_step=None):
        """One trial for TensorBoard's HPARAMS tab: the hyperparameters (numbers, strings, bools)
        and the metrics, written as PyTorch does into the run ``<log_dir>/<run_name>`` (default:
        the current time), the metrics as scalars there."""
        if not isinstance(hparam_dict, dict) or not isinstance(metric_dict, dict):
            raise TypeError(f"add_hparams: hparam_dict and metric_dict must be dicts, got "
                            f"{type(hparam_dict).__name__} and {type(metric_dict).__name__}")
        hparams = {_tag(k, "add_hparams", "a key of hparam_dict"): _hparam_value(k, v)
                   for k, v in hparam_dict.items() if v is not None}
        domains = dict(hparam_domain_discrete or {})
        for k, dom in domains.items():
            if k not in hparams:
                raise ValueError(f"add_hparams: hparam_domain_discrete names {k!r}, which is not "
                                 f"in hparam_dict")
            if not isinstance(dom, (list, tuple)) or not all(
                    _hparam_type(d) == _hparam_type(hparams[k]) for d in dom):
                raise TypeError(f"add_hparams: hparam_domain_discrete[{k!r}] must be a list of "
                                f"values of the type of hparam_dict[{k!r}]")
        metrics = {_tag(k, "add_hparams", "a key of metric_dict"):
                   _scalar(v, "add_hparams", f"metric_dict[{k!r}]") for k, v in metric_dict.items()}
        logdir = os.path.join(self._file_writer().logdir, run_name or str(time.time()))
        with SummaryWriter(logdir, max_queue=self.max_queue, flush_secs=self.flush_secs,
                           filename_suffix=self.filename_suffix) as w:
            for summary in _hparams_summaries(hparams, metrics, domains):
                w._add(summary, global_step, None, "add_hparams")
            for k, x in metrics.items():
                w.add_scalar(k, x, global_step)

    def add_graph(self, model, input_to_model=None, verbose=False, use_strict_trace=True):
        """Accepted and not written (a warning says so): tensorgrad builds no GraphDef of a model.
        A training script calling it goes on with the rest of its logging."""
        warnings.warn("SummaryWriter.add_graph: tensorgrad does not write model graphs; nothing "
                      "was logged for the graph (the other add_* methods are unaffected)",
                      UserWarning, stacklevel=2)

    def flush(self):
        """Write every queued event to disk."""
        for w in self._all.values():
            w.flush()

    def close(self):
        """Flush and close every event file of this writer (a later ``add_*`` opens new ones)."""
        for w in self._all.values():
            w.close()
        self._all = {}
        self._writer = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _not_written(name):
    def method(self, *args, **kwargs):
        raise NotImplementedError(f"SummaryWriter.{name} is not implemented in tensorgrad "
                                  f"(scalars, histograms, images, figures, text and hparams are)")

    method.__name__ = name
    method.__doc__ = f"Not implemented: raises ``NotImplementedError`` (PyTorch's ``{name}``)."
    return method


for _name in _NOT_WRITTEN:
    setattr(SummaryWriter, _name, _not_written(_name))
del _name
