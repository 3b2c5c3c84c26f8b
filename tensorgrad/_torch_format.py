"""PyTorch's ``torch.save`` format, read and written without PyTorch and without unpickling
anything but data: ``tg.load`` reads it, ``tg.save(obj, path, format="torch")`` writes it.

The format (PyTorch 1.6+): a zip archive (entries stored, not compressed) under one top-level
folder of any name (``archive/`` for file objects, the file's stem for paths) holding
``data.pkl``, a pickle (protocol 2) of the saved object in which every tensor is a call of
``torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
backward_hooks[, metadata])`` (``_rebuild_tensor_v3(..., dtype)`` for dtypes without a legacy
storage class: uint16/32/64, float8) and every storage a persistent id ``('storage',
torch.FloatStorage, key, location, numel)`` whose bytes are the entry ``data/<key>``, plus
``byteorder`` ("little" or "big"), ``version`` and some bookkeeping PyTorch's own reader uses.

Reading never runs the file's pickle as pickle would: a restricted unpickler (the pure-Python
one, so that every opcode that calls or imports goes through code here) maps the few names a
weights-only file holds (the rebuild functions, ``collections.OrderedDict``, the storage
classes, ``torch.Size``, ``torch.device``, dtypes, ``set``, ``frozenset``, ``slice``,
``complex``, protocol 2's bytes) to functions of this module, and refuses every other name
with a ``pickle.UnpicklingError`` before anything is imported or called: a pickled module or
any other object (``torch.save(model)``) is refused; a state_dict is what to save.
"""

import collections
import io
import math
import pickle
import struct
import warnings
import zipfile
import zlib

import numpy as np

from .backend.device import _CUPY_ARRAY, Device, cuda_available, to_host
from .tensor import Tensor, _new_tensor

# ---- dtypes -------------------------------------------------------------------------------------
# torch dtype name: (how its elements are stored, little-endian, as a NumPy dtype; the legacy
# storage class PyTorch pickles for it, None where it uses UntypedStorage and _rebuild_tensor_v3)
_DTYPES = {
    "float32": ("<f4", "FloatStorage"), "float64": ("<f8", "DoubleStorage"),
    "float16": ("<f2", "HalfStorage"), "bfloat16": ("<u2", "BFloat16Storage"),
    "int64": ("<i8", "LongStorage"), "int32": ("<i4", "IntStorage"),
    "int16": ("<i2", "ShortStorage"), "int8": ("i1", "CharStorage"),
    "uint8": ("u1", "ByteStorage"), "bool": ("u1", "BoolStorage"),
    "complex64": ("<c8", "ComplexFloatStorage"), "complex128": ("<c16", "ComplexDoubleStorage"),
    "uint16": ("<u2", None), "uint32": ("<u4", None), "uint64": ("<u8", None),
}
_ALIASES = {"float": "float32", "double": "float64", "half": "float16", "long": "int64",
            "int": "int32", "short": "int16", "cfloat": "complex64", "cdouble": "complex128"}
_STORAGES = {cls: name for name, (_, cls) in _DTYPES.items() if cls is not None}
# dtypes PyTorch has and NumPy (so tensorgrad) has not: a clear refusal, not "unknown global"
_NO_NUMPY_TYPE = {
    "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu",
    "float4_e2m1fn_x2", "complex32", "chalf", "qint8", "quint8", "qint32", "quint4x2",
    "quint2x4", "bits1x8", "bits2x4", "bits4x2", "bits8", "bits16",
    *(f"uint{n}" for n in range(1, 8)), *(f"int{n}" for n in range(1, 8)),
    "QInt8Storage", "QUInt8Storage", "QInt32Storage", "QUInt4x2Storage", "QUInt2x4Storage",
    "ComplexHalfStorage"}


# ---- errors -------------------------------------------------------------------------------------
# The reader's own errors start "load: <file> ": a pickle.UnpicklingError for what a weights-only
# load refuses, a ValueError for what tensorgrad cannot hold (a float8 tensor, ...) and for
# damage; anything else a damaged file makes Python raise becomes such a ValueError.
_SUPPORTED = ("tg.load reads PyTorch files as weights only: tensors and Parameters, dicts "
              "(OrderedDict too), lists, tuples, sets, numbers, strings, bytes, None, "
              "torch.Size, torch.device and dtypes")


def _refused(module, name, where):
    return pickle.UnpicklingError(
        f"load: {where} names {module}.{name}, which tg.load does not rebuild: {_SUPPORTED}, "
        "and it imports and calls nothing else. A whole pickled module or other Python object "
        "(torch.save(model)) is not supported: in PyTorch, save the state_dict instead, "
        "torch.save(model.state_dict(), path), and load that into the tensorgrad model with "
        "model.load_state_dict(tg.load(path))")


def _damaged(where, why):
    return ValueError(f"load: {where} is not a valid PyTorch checkpoint ({why})")


# what a damaged file can make the reader raise; each becomes one ValueError naming the file
_DAMAGE = (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, IndexError, TypeError, ValueError,
           AttributeError, EOFError, NotImplementedError, OverflowError, RecursionError,
           OSError, zlib.error, struct.error, pickle.UnpicklingError, UnicodeDecodeError)

# ---- recognising PyTorch's files -----------------------------------------------------------------
# the legacy format (torch.save(..., _use_new_zipfile_serialization=False), PyTorch < 1.6)
# starts with this number, pickled
_LEGACY_MAGIC = (0x1950A86A20F9469CFC6C).to_bytes(10, "little")


def peek(path):
    """The first bytes of ``path`` (a file name or a readable, seekable file object, left
    where it was); empty where they cannot be read."""
    try:
        if hasattr(path, "read"):
            where = path.tell()
            try:
                return path.read(512)
            finally:
                path.seek(where)
        with open(path, "rb") as f:
            return f.read(512)  # enough for a tar header: PyTorch's oldest format
    except (OSError, ValueError, AttributeError):
        return b""


def legacy_error(head, where):
    """The ValueError for a file whose first bytes ``head`` are PyTorch's legacy (non-zip)
    format, or None."""
    legacy = (head[:1] == b"\x80" and _LEGACY_MAGIC in head) or head[257:262] == b"ustar"
    if not legacy:
        return None
    return ValueError(
        f"load: {where} is in PyTorch's legacy serialization format (torch.save(..., "
        "_use_new_zipfile_serialization=False), or PyTorch older than 1.6), a raw pickle that "
        "tg.load does not read; re-save it with a current PyTorch, which writes the zip format "
        "tg.load reads: torch.save(torch.load(path, weights_only=True), new_path)")


def prefix(names):
    """The top-level folder of a PyTorch zip (``archive`` of ``archive/data.pkl``), or None
    when ``names`` (a zip's entry names) are not one."""
    for n in names:
        head, sep, tail = n.partition("/")
        if sep and tail == "data.pkl":
            return head
    return None


# ---- reading ------------------------------------------------------------------------------------
class _StorageType:
    """What ``torch.FloatStorage`` (or ``torch.storage.UntypedStorage``: dtype None) names."""

    __slots__ = ("dtype",)

    def __init__(self, dtype):
        self.dtype = dtype


class _TensorClass:
    """What ``torch.Tensor`` / ``torch.nn.Parameter`` name (for ``_rebuild_from_type_v2``)."""

    __slots__ = ("parameter",)

    def __init__(self, parameter):
        self.parameter = parameter


_TENSOR, _PARAMETER = _TensorClass(False), _TensorClass(True)
_UNTYPED = _StorageType(None)


class _Storage:
    """One storage of the file: its bytes (``data/<key>``, read when data.pkl first names
    it) and the device its tensors go to."""

    __slots__ = ("key", "dtype", "nbytes", "device", "raw", "arrays")

    def __init__(self, key, dtype, nbytes, device, raw):
        self.key, self.dtype, self.nbytes, self.device, self.raw = key, dtype, nbytes, device, raw
        self.arrays = {}  # torch dtype name -> 1-D native-order array of the elements


def _ints(value, what):
    if not isinstance(value, (tuple, list)) or not all(
            type(v) is int and v >= 0 for v in value):
        raise ValueError(f"a tensor's {what} is {value!r}, not a tuple of non-negative ints")
    return tuple(value)


class _Reader(pickle._Unpickler):
    """The restricted unpickler of ``data.pkl``."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, z, top, where, place, big_endian):
        super().__init__(io.BytesIO(z.read(f"{top}/data.pkl")))
        self.z, self.top, self.where, self.place = z, top, where, place
        self.big_endian = big_endian
        self.storages = {}
        self.devices = {}
        self.widened = 0
        self.safe = {
            ("torch._utils", "_rebuild_tensor"): self.rebuild_tensor,
            ("torch._utils", "_rebuild_tensor_v2"): self.rebuild_tensor_v2,
            ("torch._utils", "_rebuild_tensor_v3"): self.rebuild_tensor_v3,
            ("torch._utils", "_rebuild_parameter"): self.rebuild_parameter,
            ("torch._utils", "_rebuild_parameter_with_state"): self.rebuild_parameter_with_state,
            ("torch._tensor", "_rebuild_from_type_v2"): self.rebuild_from_type_v2,
            ("torch", "Tensor"): _TENSOR, ("torch._tensor", "Tensor"): _TENSOR,
            ("torch.nn.parameter", "Parameter"): _PARAMETER, ("torch.nn", "Parameter"): _PARAMETER,
            ("torch", "Size"): _size, ("torch", "device"): _device,
            ("torch.storage", "UntypedStorage"): _UNTYPED, ("torch", "UntypedStorage"): _UNTYPED,
            ("collections", "OrderedDict"): _ordered_dict,
            ("builtins", "set"): _set, ("builtins", "frozenset"): _frozenset,
            ("builtins", "slice"): _slice, ("builtins", "complex"): _complex,
            ("builtins", "bytes"): _bytes, ("builtins", "bytearray"): _bytearray,
            ("_codecs", "encode"): _encode,
        }

    # -- names ------------------------------------------------------------------------------------
    def find_class(self, module, name):
        module = {"__builtin__": "builtins", "torch.tensor": "torch._tensor"}.get(module, module)
        found = self.safe.get((module, name))
        if found is not None:
            return found
        if module in ("torch", "torch.cuda") and name in _STORAGES:
            return _StorageType(_STORAGES[name])
        if module == "torch" and (name in _DTYPES or name in _ALIASES):
            name = _ALIASES.get(name, name)  # tg.bfloat16 is that name: NumPy has no bfloat16
            return "bfloat16" if name == "bfloat16" else np.dtype(name)
        if module in ("torch", "torch.cuda") and name in _NO_NUMPY_TYPE:
            raise ValueError(
                f"load: {self.where} holds torch.{name} data, which tensorgrad cannot hold "
                "(NumPy and CuPy have no such type); convert it in PyTorch before saving, "
                "e.g. t.float()")
        raise _refused(module, name, self.where)

    def persistent_load(self, pid):
        # (comparisons here and below check types first: a file can put a tensor anywhere,
        # and a tensor's == is elementwise)
        if not (type(pid) is tuple and len(pid) == 5 and type(pid[0]) in (str, bytes)
                and pid[0] in ("storage", b"storage")):
            raise ValueError(f"a persistent id {pid!r}, expected ('storage', type, key, "
                             "location, numel)")
        _, kind, key, location, numel = pid
        key, location = (v.decode("ascii") if type(v) is bytes else v for v in (key, location))
        if not isinstance(kind, _StorageType):
            raise ValueError(f"storage {key!r} has type {kind!r}, not a storage class")
        if type(key) is not str or type(location) is not str:
            raise ValueError(f"storage key {key!r} at {location!r}")
        if type(numel) is not int or numel < 0:
            raise ValueError(f"storage {key!r} has {numel!r} elements")
        nbytes = numel * (1 if kind.dtype is None else np.dtype(_DTYPES[kind.dtype][0]).itemsize)
        st = self.storages.get(key)
        if st is not None:
            if st.dtype != kind.dtype or st.nbytes != nbytes:
                raise ValueError(f"storage {key!r} is named with two types or sizes")
            return st
        device = self.device(location)
        entry = f"{self.top}/data/{key}"
        try:
            info = self.z.getinfo(entry)
        except KeyError:
            raise ValueError(f"it has no entry {entry} for storage {key!r}") from None
        if info.file_size != nbytes:
            raise ValueError(f"{entry} holds {info.file_size} bytes, data.pkl says "
                             f"{numel} elements of {kind.dtype or 'bytes'} ({nbytes} bytes)")
        st = self.storages[key] = _Storage(key, kind.dtype, nbytes, device, self.z.read(entry))
        return st

    def device(self, location):
        """The Device the tensors saved at ``location`` go to (``map_location`` applied),
        refused, as tg.load refuses its own files', when it is a GPU and none is here."""
        found = self.devices.get(location)
        if found is None:
            try:
                found = self.place(location)
            except (ValueError, TypeError) as e:
                raise ValueError(
                    f"load: {self.where} holds tensors saved on {location!r}, which tensorgrad "
                    f"has no device for ({e}); pass map_location='cpu' (or a device) to load "
                    "them there") from None
            if found.type == "cuda" and not cuda_available():
                mapped = "" if str(found) == location else f", which map_location puts on {found}"
                raise RuntimeError(f"load: {self.where} holds tensors saved on {location}"
                                   f"{mapped}, and CUDA is not available here; pass "
                                   "map_location='cpu' to load them on the CPU")
            self.devices[location] = found
        return found

    # BUILD sets the state of the object under it: allowed only on an OrderedDict (a
    # state_dict's _metadata), as plain attributes; anything else is refused
    def load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        if type(inst) is not collections.OrderedDict:
            raise pickle.UnpicklingError(
                f"load: {self.where} sets the state of a {type(inst).__name__}, which tg.load "
                f"does not do: {_SUPPORTED}")
        _set_attributes(inst, state)

    dispatch[pickle.BUILD[0]] = load_build

    # GLOBAL and INST name a module and a name, each on a line: a pickle cut short inside one
    # is damage, not a (truncated) name to refuse
    def names(self):
        module, name = self.readline(), self.readline()
        if not (module.endswith(b"\n") and name.endswith(b"\n")):
            raise EOFError("data.pkl ends inside a name")
        return module[:-1].decode("utf-8"), name[:-1].decode("utf-8")

    def load_global(self):
        self.append(self.find_class(*self.names()))

    def load_inst(self):
        klass = self.find_class(*self.names())
        self._instantiate(klass, self.pop_mark())

    dispatch[pickle.GLOBAL[0]] = load_global
    dispatch[pickle.INST[0]] = load_inst

    # the extension registry (copyreg.add_extension) could name objects without find_class
    def load_ext(self):
        raise pickle.UnpicklingError(
            f"load: {self.where} uses pickle's extension registry (EXT opcodes), which tg.load "
            f"does not read: {_SUPPORTED}")

    for _op in (pickle.EXT1, pickle.EXT2, pickle.EXT4):
        dispatch[_op[0]] = load_ext
    del _op

    # -- tensors ----------------------------------------------------------------------------------
    def elements(self, st, dtype):
        """The storage ``st`` as a 1-D native-order array of torch dtype ``dtype``."""
        a = st.arrays.get(dtype)
        if a is None:
            code, _ = _DTYPES[dtype]
            raw = np.dtype(code).newbyteorder(">" if self.big_endian else "<")
            if st.nbytes % raw.itemsize:
                raise ValueError(f"storage {st.key!r} has {st.nbytes} bytes, not a whole "
                                 f"number of {dtype} elements")
            a = np.frombuffer(st.raw, dtype=raw)
            if dtype == "bool":
                a = a != 0  # any nonzero byte is True, as PyTorch reads it
            elif dtype == "bfloat16":  # exactly: bfloat16 is float32's top 16 bits
                a = (a.astype(np.uint32) << 16).view(np.float32)
            elif not a.dtype.isnative:
                a = a.astype(a.dtype.newbyteorder("="))
            st.arrays[dtype] = a
        return a

    def tensor(self, st, dtype, offset, size, stride, requires_grad, metadata=None):
        if not isinstance(st, _Storage):
            raise ValueError(f"a tensor is rebuilt from {type(st).__name__}, not a storage")
        if type(offset) is not int or offset < 0:
            raise ValueError(f"a tensor's storage offset is {offset!r}")
        size, stride = _ints(size, "size"), _ints(stride, "stride")
        if len(size) != len(stride):
            raise ValueError(f"a tensor has size {size} and stride {stride}")
        if type(requires_grad) is not bool:
            raise ValueError(f"a tensor's requires_grad is {requires_grad!r}")
        if metadata is not None and not (
                type(metadata) is dict and set(metadata) <= {"conj", "neg"}
                and all(type(v) is bool for v in metadata.values())):
            raise ValueError(f"a tensor's metadata is {metadata!r}")
        base = self.elements(st, dtype)
        if math.prod(size) == 0:
            if offset > len(base):
                raise ValueError(f"an empty tensor starts at element {offset} of storage "
                                 f"{st.key!r}, which has {len(base)}")
            arr = np.empty(size, base.dtype)
        else:
            stride = tuple(s if n > 1 else 0 for n, s in zip(size, stride))
            last = offset + sum((n - 1) * s for n, s in zip(size, stride))
            if last >= len(base):
                raise ValueError(f"a tensor of size {list(size)}, stride {list(stride)} and "
                                 f"offset {offset} reaches element {last} of storage "
                                 f"{st.key!r}, which has {len(base)}")
            view = np.lib.stride_tricks.as_strided(
                base[offset:], shape=size, strides=[s * base.itemsize for s in stride],
                writeable=False)
            arr = np.array(view, order="C")  # a fresh copy: views of one storage are independent
        if metadata and metadata.get("conj"):
            arr = np.conj(arr)
        if metadata and metadata.get("neg"):
            arr = np.negative(arr)
        if requires_grad and arr.dtype.kind not in "fc":
            raise ValueError(f"a {dtype} tensor requires grad")
        if dtype == "bfloat16":
            self.widened += 1
        t = _new_tensor(st.device.put(arr), None, False)
        if requires_grad:
            t.requires_grad_()
        return t

    def rebuild_tensor(self, storage, storage_offset, size, stride):
        return self.rebuild_tensor_v2(storage, storage_offset, size, stride, False, None)

    def rebuild_tensor_v2(self, storage, storage_offset, size, stride, requires_grad,
                          backward_hooks, metadata=None):
        _no_hooks(backward_hooks)
        if not isinstance(storage, _Storage) or storage.dtype is None:
            raise ValueError("_rebuild_tensor_v2 of an untyped storage")
        return self.tensor(storage, storage.dtype, storage_offset, size, stride, requires_grad,
                           metadata)

    def rebuild_tensor_v3(self, storage, storage_offset, size, stride, requires_grad,
                          backward_hooks, dtype, metadata=None):
        _no_hooks(backward_hooks)
        if isinstance(dtype, np.dtype):
            name = dtype.name
        elif type(dtype) is str and dtype == "bfloat16":
            name = dtype
        else:
            raise ValueError(f"_rebuild_tensor_v3's dtype is {dtype!r}")
        if name not in _DTYPES:
            raise ValueError(f"_rebuild_tensor_v3's dtype is {name}")
        if not isinstance(storage, _Storage) or storage.dtype not in (None, name):
            raise ValueError(f"_rebuild_tensor_v3 of {name} over a storage of another type")
        return self.tensor(storage, name, storage_offset, size, stride, requires_grad, metadata)

    def rebuild_parameter(self, data, requires_grad, backward_hooks):
        from .nn.modules import Parameter

        _no_hooks(backward_hooks)
        if type(data) is not Tensor or type(requires_grad) is not bool:
            raise ValueError(f"a Parameter of a {type(data).__name__} (requires_grad "
                             f"{requires_grad!r})")
        if requires_grad and data.dtype.kind not in "fc":
            raise ValueError(f"a {data.dtype} Parameter requires grad")
        return Parameter(data.data, requires_grad=requires_grad)

    def rebuild_parameter_with_state(self, data, requires_grad, backward_hooks, state):
        p = self.rebuild_parameter(data, requires_grad, backward_hooks)
        _set_attributes(p, state)
        return p

    def rebuild_from_type_v2(self, func, new_type, args, state):
        """A tensor of a Python subclass, or one with attributes: only torch.Tensor and
        torch.nn.Parameter themselves (find_class refuses any other class)."""
        rebuilders = ("rebuild_tensor", "rebuild_tensor_v2", "rebuild_tensor_v3",
                      "rebuild_parameter", "rebuild_parameter_with_state")
        if (getattr(func, "__self__", None) is not self
                or getattr(func, "__name__", None) not in rebuilders
                or not isinstance(new_type, _TensorClass)):
            raise pickle.UnpicklingError(f"load: {self.where} rebuilds a tensor with {func!r} "
                                         f"as {new_type!r}: {_SUPPORTED}")
        if type(args) is not tuple:
            raise ValueError(f"_rebuild_from_type_v2's arguments are {args!r}")
        t = func(*args)
        if new_type.parameter and type(t) is Tensor:
            t = self.rebuild_parameter(t, t.requires_grad, None)
        elif not new_type.parameter and type(t) is not Tensor:
            raise ValueError("_rebuild_from_type_v2 of torch.Tensor gave a Parameter")
        _set_attributes(t, state)
        return t


def _no_hooks(hooks):
    if hooks is not None and not (isinstance(hooks, dict) and not hooks):
        raise ValueError(f"a tensor's backward hooks are {hooks!r}")


def _set_attributes(obj, state):
    """Python attributes saved with a tensor or a state_dict (pickle's ``(dict, slots)`` state
    too): plain names only, none that would hide one of its class's."""
    parts = state if type(state) is tuple and len(state) == 2 else (state,)
    for part in parts:
        if part is None:
            continue
        if not isinstance(part, dict):
            raise ValueError(f"the state of a {type(obj).__name__} is {state!r}")
        for k, v in part.items():
            if (type(k) is not str or not k.isidentifier() or k.startswith("__")
                    or hasattr(type(obj), k)):
                raise ValueError(f"a {type(obj).__name__} carries the attribute {k!r}, which "
                                 "tg.load does not set")
            setattr(obj, k, v)


# the other names a weights-only file uses, as functions that check what they are given
def _size(dims=()):
    from .torch_surface2 import Size

    return Size(_ints(dims, "torch.Size"))


def _device(kind, index=None):
    if type(kind) is not str or not (index is None or type(index) is int):
        raise ValueError(f"torch.device({kind!r}, {index!r})")
    try:
        return Device(kind, index)
    except ValueError:  # a device tensorgrad has none of ("mps"): its name, as a string
        return kind if index is None else f"{kind}:{index}"


def _ordered_dict(*args):
    if len(args) > 1 or (args and not isinstance(args[0], (list, tuple, dict))):
        raise ValueError(f"OrderedDict{args!r}")
    return collections.OrderedDict(*args)


def _items(cls, items):
    if not isinstance(items, (list, tuple)):
        raise ValueError(f"{cls.__name__} of {type(items).__name__}")
    return cls(items)


def _set(items=()):
    return _items(set, items)


def _frozenset(items=()):
    return _items(frozenset, items)


def _slice(*args):
    if not 1 <= len(args) <= 3 or not all(a is None or type(a) is int for a in args):
        raise ValueError(f"slice{args!r}")
    return slice(*args)


def _complex(real=0.0, imag=0.0):
    if not all(type(v) in (int, float) for v in (real, imag)):
        raise ValueError(f"complex({real!r}, {imag!r})")
    return complex(real, imag)


def _encode(text, encoding="utf-8"):  # pickle protocol 2's bytes: _codecs.encode(s, "latin1")
    if not (type(text) is str and type(encoding) is str and encoding in ("latin1", "latin-1")):
        raise ValueError(f"_codecs.encode({text!r}, {encoding!r})")
    return text.encode("latin-1")


def _bytes(*args):  # protocol 2's b"": bytes()
    if args:
        raise ValueError(f"bytes{args!r}")
    return b""


def _bytearray(data=b""):  # protocol 2: bytearray(_codecs.encode(s, "latin1"))
    if type(data) is not bytes:
        raise ValueError(f"bytearray({data!r})")
    return bytearray(data)


def _leftovers(obj, where):
    """Refuse what a file can hold but tensorgrad cannot give back (a bare storage, the class
    torch.Tensor as a value), found anywhere in the loaded object."""
    seen, stack = set(), [(obj, "obj")]
    while stack:
        x, path = stack.pop()
        if isinstance(x, (_Storage, _StorageType, _TensorClass)):
            what = ("a bare PyTorch storage" if isinstance(x, _Storage) else
                    "a storage class" if isinstance(x, _StorageType) else "the class torch.Tensor")
            raise ValueError(f"load: {where} holds {what} at {path}: tg.load gives back "
                             "tensors, not storages or classes; save tensors instead")
        if isinstance(x, (list, tuple, set, frozenset, dict)) and id(x) not in seen:
            seen.add(id(x))
            if isinstance(x, dict):
                stack.extend((v, f"{path}[{k!r}]") for k, v in x.items())
                stack.extend((k, f"{path} key") for k in x)
                if isinstance(x, collections.OrderedDict):  # its _metadata
                    stack.extend((v, f"{path}.{k}") for k, v in vars(x).items())
            else:
                stack.extend((v, f"{path}[{i}]") for i, v in enumerate(x))


def read(z, top, place, where):
    """The object a PyTorch zip ``z`` (open; its entries under ``top/``) holds, tensors placed
    by ``place`` (io's ``_placer(map_location)``); ``where`` names the file in errors."""
    names = set(z.namelist())
    if f"{top}/constants.pkl" in names or any(n.startswith(f"{top}/code/") for n in names):
        raise ValueError(f"load: {where} is a TorchScript archive (torch.jit.save), which "
                         "tg.load does not read; save the model's state_dict with torch.save "
                         "instead")
    try:
        order = z.read(f"{top}/byteorder") if f"{top}/byteorder" in names else b"little"
        if order.strip() not in (b"little", b"big"):
            raise ValueError(f"its byteorder entry says {order[:20]!r}")
        reader = _Reader(z, top, where, place, order.strip() == b"big")
        obj = reader.load()
        _leftovers(obj, where)
    except _DAMAGE as e:
        if isinstance(e, (ValueError, pickle.UnpicklingError)) and str(e).startswith(
                f"load: {where} "):
            raise
        why = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        raise _damaged(where, why) from e
    if reader.widened:
        n = reader.widened
        warnings.warn(f"load: {where} holds {n} bfloat16 tensor{'s' if n > 1 else ''}, a type "
                      "NumPy and CuPy do not have: widened exactly to float32", stacklevel=3)
    return obj


# ---- writing ------------------------------------------------------------------------------------
class _Global:
    """A name pickled by reference (``GLOBAL module name``) without importing it: torch's
    rebuild functions and storage classes, which this process need not have."""

    __slots__ = ("module", "name")

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle wants a callable for REDUCE; it is never called here
        raise TypeError(f"{self.module}.{self.name} is a name to write, not a function")


_V2 = _Global("torch._utils", "_rebuild_tensor_v2")
_V3 = _Global("torch._utils", "_rebuild_tensor_v3")
_PARAM = _Global("torch._utils", "_rebuild_parameter")
_UNTYPED_OUT = _Global("torch.storage", "UntypedStorage")
_STORAGE_OUT = {name: _Global("torch", cls) for name, (_, cls) in _DTYPES.items() if cls}
_DTYPE_OUT = {name: _Global("torch", name) for name in _DTYPES}
_TORCH_NAME = {np.dtype(code).newbyteorder("=").str: name for name, (code, _) in _DTYPES.items()
               if name not in ("bfloat16", "bool")}
_TORCH_NAME[np.dtype(np.bool_).str] = "bool"


class _StorageOut:
    __slots__ = ("key", "dtype", "array")

    def __init__(self, key, dtype, array):
        self.key, self.dtype, self.array = key, dtype, array


class _TensorOut:
    __slots__ = ("storage", "shape", "requires_grad", "parameter")

    def __init__(self, storage, shape, requires_grad, parameter):
        self.storage, self.shape = storage, shape
        self.requires_grad, self.parameter = requires_grad, parameter


def _contiguous_strides(shape):
    strides, n = [], 1
    for d in reversed(shape):
        strides.append(n)
        n *= d
    return tuple(reversed(strides))


class _Writer(pickle._Pickler):
    """Pickles the tree ``_Plan`` made: tensors as PyTorch's rebuild calls, storages as
    persistent ids, names of torch's functions and classes by GLOBAL, never imported."""

    dispatch = dict(pickle._Pickler.dispatch)

    def __init__(self, file):
        super().__init__(file, protocol=2)

    # Every storage is written at location "cpu", a GPU tensor's bytes copied to the host: the
    # file then loads on any machine (torch.load of a "cuda:0" storage fails without CUDA unless
    # map_location is given), the bytes pass through the host anyway, and a state_dict loaded
    # with load_state_dict lands on the model's device whatever the file says.
    def persistent_id(self, obj):
        if type(obj) is _StorageOut:
            if obj.dtype in _STORAGE_OUT:
                return ("storage", _STORAGE_OUT[obj.dtype], obj.key, "cpu", obj.array.size)
            return ("storage", _UNTYPED_OUT, obj.key, "cpu", obj.array.nbytes)
        return None

    def reducer_override(self, obj):
        if type(obj) is not _TensorOut:
            return NotImplemented
        if obj.parameter:
            data = _TensorOut(obj.storage, obj.shape, False, False)
            return _PARAM, (data, obj.requires_grad, collections.OrderedDict())
        args = (obj.storage, 0, obj.shape, _contiguous_strides(obj.shape), obj.requires_grad,
                collections.OrderedDict())
        if obj.storage.dtype in _STORAGE_OUT:
            return _V2, args
        return _V3, args + (_DTYPE_OUT[obj.storage.dtype],)

    def save_torch_global(self, obj):
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode("ascii"))
        self.memoize(obj)

    dispatch[_Global] = save_torch_global


_WRITABLE = ("format='torch' writes tensors (tg.Tensor, tg.nn.Parameter; NumPy and CuPy arrays "
             "as tensors), dicts and OrderedDicts (keys: str, int, float, bool, None or tuples "
             "of them), lists, tuples, str, int, float, bool and None")
_KEY_TYPES = (str, int, float, bool, type(None))


class _Plan:
    """``obj`` checked (a TypeError naming where, before anything is written) and copied into
    what ``_Writer`` pickles: tensors become ``_TensorOut``s over host arrays, one storage
    per array (tensors that are one object, or share one array, share one storage)."""

    def __init__(self):
        self.storages = []
        self.by_array = {}  # id(array) -> _StorageOut
        self.memo = {}  # id(obj) -> its copy: an object met twice is pickled once
        self.keep = []  # what memo and by_array hold the ids of, alive to the end
        self.open = set()

    def refuse(self, obj, path, why=_WRITABLE):
        return TypeError(f"save: cannot store a {type(obj).__qualname__} at {path} in "
                         f"PyTorch's format: {why}")

    def key(self, k, path):
        if type(k) in _KEY_TYPES or (type(k) is tuple and all(type(v) in _KEY_TYPES for v in k)):
            return k
        raise self.refuse(k, f"{path} (a key)")

    def convert(self, obj, path):
        t = type(obj)
        if obj is None or t in (bool, int, float, str):
            return obj
        if id(obj) in self.open:
            raise self.refuse(obj, path, "it contains itself, and PyTorch's format is written "
                              "here as a tree (an object met twice is fine)")
        if id(obj) in self.memo:
            return self.memo[id(obj)]
        self.keep.append(obj)
        self.open.add(id(obj))
        try:
            out = self.memo[id(obj)] = self.fresh(obj, t, path)
        finally:
            self.open.discard(id(obj))
        return out

    def fresh(self, obj, t, path):
        if isinstance(obj, Tensor):
            if getattr(obj, "is_sparse", False) is True or not isinstance(
                    obj.data, (np.ndarray, _CUPY_ARRAY)):
                raise self.refuse(obj, path, "only dense tensors are written")
            from .nn.modules import Parameter

            return self.tensor(obj.data, path, bool(obj.requires_grad),
                               isinstance(obj, Parameter))
        if t is np.ndarray or t is _CUPY_ARRAY:
            return self.tensor(obj, path, False, False)
        if t is list:
            return [self.convert(v, f"{path}[{i}]") for i, v in enumerate(obj)]
        if t is tuple:
            return tuple(self.convert(v, f"{path}[{i}]") for i, v in enumerate(obj))
        if t is dict or t is collections.OrderedDict:
            out = t((self.key(k, path), self.convert(v, f"{path}[{k!r}]"))
                    for k, v in obj.items())
            for k, v in vars(obj).items() if t is collections.OrderedDict else ():
                if type(k) is not str or not k.isidentifier() or k.startswith("__"):
                    raise self.refuse(obj, f"{path}.{k}", "only plain attribute names")
                setattr(out, k, self.convert(v, f"{path}.{k}"))  # a state_dict's _metadata
            return out
        why = _WRITABLE
        if isinstance(obj, np.generic):
            why = f"{why}; a NumPy scalar: pass .item() (a number) or an array"
        raise self.refuse(obj, path, why)

    def tensor(self, array, path, requires_grad, parameter):
        name = _TORCH_NAME.get(array.dtype.newbyteorder("=").str)
        if name is None:
            raise self.refuse(array, path, f"its dtype {array.dtype} has no PyTorch dtype here")
        st = self.by_array.get(id(array))
        if st is None:
            self.keep.append(array)
            st = self.by_array[id(array)] = _StorageOut(str(len(self.storages)), name, array)
            self.storages.append(st)
        return _TensorOut(st, tuple(int(n) for n in array.shape), requires_grad, parameter)


_ALIGN = 64  # storages start at multiples of 64 bytes in the file, as PyTorch writes them


def _entry(z, f, name, data):
    """Write ``data`` (bytes-like) as the stored entry ``name``, padded (a zip extra field, as
    PyTorch's writer pads) so that it starts at a multiple of _ALIGN bytes where ``f`` can
    tell its position."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    n = memoryview(data).nbytes
    info.file_size = n
    zip64 = n * 1.05 > zipfile.ZIP64_LIMIT  # what ZipFile.open decides for this size
    try:
        start = f.tell()
    except (OSError, AttributeError):
        start = None
    if start is not None:
        header = 30 + len(name.encode("ascii")) + 4 + (20 if zip64 else 0)
        pad = -(start + header) % _ALIGN
        info.extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
    with z.open(info, "w", force_zip64=zip64) as out:
        out.write(data)


def prepare(obj):
    """Check ``obj`` for ``save(format="torch")`` (the TypeError comes here, before anything
    is written) and return the function that writes it to a binary file object."""
    plan = _Plan()
    tree = plan.convert(obj, "obj")
    buf = io.BytesIO()
    _Writer(buf).dump(tree)
    pickled = buf.getvalue()

    def write(f):
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as z:
            _entry(z, f, "archive/data.pkl", pickled)
            _entry(z, f, "archive/byteorder", b"little")
            for st in plan.storages:
                a = to_host(st.array)  # a GPU tensor's bytes: copied to the host here
                little = a.dtype.newbyteorder("<")  # what the byteorder entry says
                a = np.ascontiguousarray(a if a.dtype == little else a.astype(little))
                a = a.reshape(-1)
                _entry(z, f, f"archive/data/{st.key}", a.view(np.uint8).data)
            _entry(z, f, "archive/version", b"3\n")

    return write
