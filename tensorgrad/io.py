"""``tg.save`` / ``tg.load``: tensors, arrays and plain Python values in a zip of ``.npy``
files plus a JSON description. Never pickle: loading runs no code from the file.

>>> import os, tempfile, tensorgrad as tg
>>> path = os.path.join(tempfile.mkdtemp(), "ckpt.tg")
>>> tg.save({"w": tg.ones(2), "step": 3}, path)
>>> tg.load(path)["w"].tolist(), tg.load(path)["step"]
([1.0, 1.0], 3)
"""

import json
import os
import struct
import tempfile
import zipfile
import zlib

import numpy as np

from .backend.device import _CUPY_ARRAY, Device, as_device, cuda_available, device_of
from .tensor import Tensor, _new_tensor

FORMAT = "tensorgrad-save-1"


def _add(arrays, array, node):
    """Store ``array`` as the next ``.npy`` entry; its shape and dtype go into the JSON too, so
    that ``load`` can tell an entry that does not belong to the description."""
    arrays.append(array)
    node["shape"] = list(array.shape)
    node["dtype"] = array.dtype.str
    return node


def _encode(obj, arrays):
    if getattr(obj, "is_sparse", False) is True and isinstance(obj, Tensor):
        # a sparse COO tensor: its indices and values, rebuilt (and checked) by load
        return {"sparse_coo": _add(arrays, obj._idx if type(obj._idx) is np.ndarray else
                                   obj._idx.get(), {"array": len(arrays)}),
                "values": _add(arrays, obj._vals.numpy(), {"array": len(arrays)}),
                "size": list(obj._size), "coalesced": obj._coal,
                "requires_grad": bool(obj.requires_grad and obj.is_leaf),
                "device": str(obj.device)}
    if type(obj).__name__ == "SparseCompressedTensor":  # CSR/CSC: tensorgrad/sparse_compressed
        from .sparse_compressed import _encode as _encode_compressed

        return _encode_compressed(obj, lambda a: _add(arrays, a, {"array": len(arrays)}))
    if isinstance(obj, Tensor):
        return _add(arrays, obj.numpy(), {
            "tensor": len(arrays), "requires_grad": bool(obj.requires_grad),
            "parameter": type(obj).__name__ == "Parameter", "device": str(obj.device)})
    if isinstance(obj, _CUPY_ARRAY):
        return _add(arrays, obj.get(), {"array": len(arrays), "device": str(device_of(obj))})
    if isinstance(obj, np.ndarray):
        return _add(arrays, obj, {"array": len(arrays)})
    if isinstance(obj, np.generic):
        return _add(arrays, np.asarray(obj), {"scalar": len(arrays)})
    if obj is None or isinstance(obj, (bool, str)):
        return {"value": obj}
    if isinstance(obj, (int, float)):
        if isinstance(obj, float) and not np.isfinite(obj):
            return {"float": repr(obj)}
        return {"value": obj}
    if isinstance(obj, (list, tuple)):
        return {"list" if isinstance(obj, list) else "tuple": [_encode(v, arrays) for v in obj]}
    if isinstance(obj, dict):
        return {"dict": [[_encode(k, arrays), _encode(v, arrays)] for k, v in obj.items()]}
    raise TypeError(f"save: cannot store a {type(obj).__name__}; tensors, arrays, numbers, "
                    "strings, None and lists, tuples and dicts of them can be saved")


def _write(f, structure, arrays):
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as z:
        z.writestr("structure.json", json.dumps(structure))
        for i, a in enumerate(arrays):
            with z.open(f"{i}.npy", "w", force_zip64=True) as entry:
                np.lib.format.write_array(entry, a if a.flags.c_contiguous else
                                          np.ascontiguousarray(a),
                                          allow_pickle=False)


def save(obj, path, pickle_module=None, pickle_protocol=2, _use_new_zipfile_serialization=True):
    """Write ``obj`` to ``path`` atomically: a crash leaves the old file or none, never half of
    the new one. ``path`` may also be a writable binary file object (``io.BytesIO``, an open
    file), as PyTorch's ``f``; then the archive is written at its current position.

    PyTorch's ``pickle_module``, ``pickle_protocol`` and ``_use_new_zipfile_serialization``
    are accepted for its signature and change nothing: the format never pickles (a module
    other than ``pickle`` is refused, since it would be silently unused), and is always a zip
    archive."""
    _refuse_pickle_module("save", pickle_module)
    arrays = []
    structure = {"format": FORMAT, "root": _encode(obj, arrays)}  # fails before any write
    for a in arrays:
        if a.dtype.hasobject:
            raise TypeError("save: object arrays cannot be stored without pickle")
    if not isinstance(path, (str, bytes, os.PathLike)) and hasattr(path, "write"):
        _write(path, structure, arrays)
        return
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".tg", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            _write(f, structure, arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _placer(map_location):
    """``saved device string -> Device``, as PyTorch's ``map_location``: None (where it was
    saved), a device or its name (everything there), a dict from saved names to names, or a
    function of the saved name."""
    if map_location is None:
        return Device
    if isinstance(map_location, (str, Device)):
        target = as_device(map_location)
        return lambda saved: target
    if isinstance(map_location, dict):
        table = {str(Device(k)): as_device(v) for k, v in map_location.items()}
        return lambda saved: table.get(saved, Device(saved))
    if callable(map_location):
        return lambda saved: as_device(map_location(saved))
    raise TypeError(f"load: map_location must be None, a device, a dict or a function, got "
                    f"{type(map_location).__name__}")


def _check_devices(node, place, path):
    """Refuse, before anything is built, a file whose tensors would land on a missing GPU."""
    if "device" in node and place(node["device"]).type == "cuda" and not cuda_available():
        raise RuntimeError(f"load: {path} holds tensors saved on {node['device']}, and CUDA is "
                           "not available here; pass map_location='cpu' to load them on the CPU")
    for key in ("list", "tuple"):
        for v in node.get(key, ()):
            _check_devices(v, place, path)
    for k, v in node.get("dict", ()):
        _check_devices(k, place, path)
        _check_devices(v, place, path)


def _decode(node, arrays, place):
    from .nn.modules import Parameter

    device = place(node.get("device", "cpu"))
    if "sparse_coo" in node:
        from .sparse import _check_coalesced, sparse_coo_tensor

        size = node["size"]
        if not isinstance(size, list) or not all(type(n) is int for n in size):
            raise ValueError(f"a sparse entry's size is {size!r}")
        s = sparse_coo_tensor(device.put(arrays(node["sparse_coo"], "array")),
                              device.put(arrays(node["values"], "array")), size,
                              is_coalesced=node["coalesced"] is True)
        _check_coalesced(s, "load")
        return s.requires_grad_() if node["requires_grad"] is True else s
    if "sparse_compressed" in node:
        from .sparse_compressed import _decode as _decode_compressed

        return _decode_compressed(node, lambda key: device.put(arrays(node[key], "array")))
    if "tensor" in node:
        arr = device.put(arrays(node, "tensor"))
        if node.get("parameter"):
            p = Parameter(arr, requires_grad=node["requires_grad"])
            return p
        t = _new_tensor(arr, None, False)
        if node["requires_grad"]:
            t.requires_grad_()
        return t
    if "array" in node:
        return device.put(arrays(node, "array"))
    if "scalar" in node:
        return arrays(node, "scalar")[()]
    if "value" in node:
        value = node["value"]
        if value is not None and not isinstance(value, (bool, int, float, str)):
            raise ValueError(f"a value entry holds a {type(value).__name__}")
        return value
    if "float" in node:
        return float(node["float"])
    if "list" in node:
        return [_decode(v, arrays, place) for v in node["list"]]
    if "tuple" in node:
        return tuple(_decode(v, arrays, place) for v in node["tuple"])
    if "dict" in node:
        return {_decode(k, arrays, place): _decode(v, arrays, place) for k, v in node["dict"]}
    raise ValueError(f"unknown entry {sorted(node)}")


# What a damaged or foreign file can make the reader raise; each becomes one ValueError that
# names the file. (A missing file stays FileNotFoundError, a GPU that is not there RuntimeError.)
# OSError is here because zipfile seeks to whatever offsets a damaged directory holds.
_DAMAGE = (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, IndexError, TypeError, ValueError,
           AttributeError, EOFError, NotImplementedError, OverflowError, RecursionError,
           OSError, zlib.error, struct.error)


def _name(path):
    if isinstance(path, (str, bytes, os.PathLike)):
        return repr(os.fsdecode(path))
    return repr(getattr(path, "name", path))


def _not_a_checkpoint(path, why):
    return ValueError(f"load: {_name(path)} is not a valid tensorgrad checkpoint ({why})")


def _read(z, path):
    """The JSON description of an open save file, once it is known to be one of ours."""
    try:
        raw = z.read("structure.json")
    except KeyError:
        raise _not_a_checkpoint(path, "it has no structure.json; was it written by "
                                "tg.save?") from None
    structure = json.loads(raw)
    if not isinstance(structure, dict) or "root" not in structure:
        raise _not_a_checkpoint(path, "structure.json does not describe a saved object")
    if structure.get("format") != FORMAT:
        raise _not_a_checkpoint(path, f"format {structure.get('format')!r}, expected "
                                f"{FORMAT!r}")
    return structure


def _refuse_pickle_module(op, pickle_module):
    import pickle

    if pickle_module is not None and pickle_module is not pickle:
        raise ValueError(f"{op}: pickle_module={getattr(pickle_module, '__name__', pickle_module)}"
                         " cannot be used: tensorgrad's format never pickles")


def load(path, map_location=None, pickle_module=None, *, weights_only=None, mmap=None):
    """Read what ``save`` wrote. Tensors return to the device they were saved from, unless
    ``map_location`` (a device, a dict from saved device names to devices, or a function of
    the saved name, as PyTorch's) says otherwise. ``weights_only`` is accepted for PyTorch's
    signature; either value reads the same, since the format never holds code or objects.
    ``mmap`` (a bool) is accepted and reads the same: the arrays are read whole from the
    (compressed) archive. ``pickle_module`` other than ``pickle`` is refused: nothing is
    unpickled.

    All or nothing: a file that is truncated, damaged or not a tensorgrad save file at all
    raises a ``ValueError`` naming it, before anything is returned."""
    if weights_only not in (None, True, False):
        raise TypeError(f"load: weights_only must be a bool or None, got {weights_only!r}")
    if mmap not in (None, True, False):
        raise TypeError(f"load: mmap must be a bool or None, got {mmap!r}")
    _refuse_pickle_module("load", pickle_module)
    place = _placer(map_location)
    if isinstance(path, (str, bytes, os.PathLike)):
        with open(path, "rb"):  # a missing file is FileNotFoundError, as for any file
            pass
    try:
        with zipfile.ZipFile(path, "r") as z:
            structure = _read(z, path)
            loaded = {}

            def arrays(node, key):
                i = node[key]
                if isinstance(i, bool) or not isinstance(i, int):
                    raise ValueError(f"array index {i!r}")
                if i not in loaded:
                    with z.open(f"{i}.npy") as entry:
                        loaded[i] = np.lib.format.read_array(entry, allow_pickle=False)
                        if entry.read(1):  # reading to the end also checks the CRC
                            raise ValueError(f"{i}.npy has data past its array")
                arr = loaded[i]
                if "shape" in node and (list(arr.shape) != list(node["shape"])
                                        or arr.dtype.str != node["dtype"]):
                    raise ValueError(f"{i}.npy holds {arr.dtype.str} {list(arr.shape)}, the "
                                     f"description says {node['dtype']} {node['shape']}")
                return arr

            _check_devices(structure["root"], place, path)
            return _decode(structure["root"], arrays, place)
    except _DAMAGE as e:
        if isinstance(e, ValueError) and str(e).startswith(f"load: {_name(path)} is not"):
            raise
        why = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        raise _not_a_checkpoint(path, why) from e
