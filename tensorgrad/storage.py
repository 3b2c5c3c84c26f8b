"""PyTorch's storages: the flat memory under tensors.

``Tensor.untyped_storage()`` gives a ``tg.UntypedStorage`` (bytes), ``Tensor.storage()`` a
``tg.TypedStorage`` (elements of the tensor's dtype; deprecated in PyTorch, and it warns once as
PyTorch's does), ``Tensor.storage_type()`` the legacy class (``tg.FloatStorage``, ...,
``tg.cuda.FloatStorage`` on a GPU). ``Tensor.set_(storage, storage_offset, size, stride)``
makes a tensor a view of a storage, and ``tg.is_storage`` knows them.

The model. A tensor's ``.data`` is a NumPy/CuPy array; its storage is the memory of the array
found at the end of the ``.base`` chain (through NumPy's ``as_strided`` wrappers): the whole
allocation for an array that owns its memory, else the span that array covers (a
``frombuffer`` array, a shared-memory segment, pinned memory). So ``x`` and ``x[2:]`` have
one storage (same ``data_ptr()`` and ``nbytes()``, and ``x[2:].storage_offset() == 2``), and
``x.untyped_storage() is x[2:].untyped_storage()`` while the storage object is alive, as in
PyTorch. Reads and writes through a storage (``s[i]``, ``s[i] = v``, ``fill_``, ``copy_``)
are seen by every tensor on that memory. On a GPU the same holds for CuPy's arrays; a CuPy
array made over a pointer, with no ``.base`` (``as_strided``), has the live storage of the
allocation it points into, or else the whole allocation CuPy's pool handed out (rounded up to
512 bytes). Memory from outside (``tg.from_numpy`` of a view) keeps its NumPy base: PyTorch's
storage would start at the view.

What tensorgrad cannot do as PyTorch does, and refuses with a ``RuntimeError`` that says so:
NumPy and CuPy cannot swap the memory under a live array, so ``resize_`` and
``share_memory_`` work only on a storage that no tensor uses (one made by a constructor,
``clone``, ``cpu``/``cuda``, a conversion, ``from_buffer``; ``resizable()`` says which). The
FSDP trick ``x.untyped_storage().resize_(0)`` therefore raises: drop the tensor or give it new
memory with ``x.set_(...)`` / ``x.data = ...`` instead. For the same reason ``set_`` never grows
a storage (PyTorch's does, when the view needs more room): it raises instead. Tensors built on
a slice of a storage (``s[4:8]``) report the whole storage they lie in.

Pickling a storage (``pickle``, ``copy.deepcopy``) copies its bytes; ``tg.save`` does not take
storages (its format is tensors only).

>>> import tensorgrad as tg
>>> x = tg.arange(6.0)
>>> s = x[2:].untyped_storage()
>>> s.nbytes(), s.data_ptr() == x.data_ptr(), x[2:].storage_offset()
(24, True, 2)
>>> s[4:8] = 0  # the bytes of x[1]
>>> x[1].item(), s is x.untyped_storage()
(0.0, True)
"""

import collections.abc
import contextlib
import copy as _copy
import math
import numbers
import sys
import threading
import warnings
import weakref

import numpy as np

from . import creation as _cr
from .backend.device import (
    _CUPY_ARRAY,
    Device,
    as_device,
    cupy,
    device_of,
    is_pinned,
    pin,
    to_host,
)
from .tensor import Tensor, _new_tensor
from .torch_surface3 import _storage_root as _np_root

# torch.__all__'s storage names (HalfStorage, BFloat16Storage, ComplexFloatStorage and
# ComplexDoubleStorage exist there too, outside __all__)
__all__ = ["UntypedStorage", "TypedStorage", "is_storage", "FloatStorage", "DoubleStorage",
           "LongStorage", "IntStorage", "ShortStorage", "CharStorage", "ByteStorage",
           "BoolStorage"]

_U8 = np.dtype(np.uint8)


class _StorageIndexError(IndexError, RuntimeError):
    """An index out of a storage's range: PyTorch raises IndexError or RuntimeError (it
    depends on the method), so this is both."""


# ---- where an array's memory is --------------------------------------------------------------
class _Span:
    """A byte range of ``base``'s memory as an array interface (for a strided root array);
    ``base`` is followed back to the root, as NumPy's ``as_strided`` wrapper is."""

    def __init__(self, base, ptr, nbytes, readonly):
        self.base = base
        self.__array_interface__ = {"shape": (nbytes,), "typestr": "|u1",
                                    "data": (ptr, readonly), "version": 3}




def _ptr(a):
    return int(a.data.ptr) if type(a) is _CUPY_ARRAY else int(a.__array_interface__["data"][0])


def _extent(a, ptr):
    """(lowest, one past the highest) address of ``a``'s elements."""
    if a.size == 0:
        return ptr, ptr
    lo = hi = ptr
    for n, st in zip(a.shape, a.strides):
        if st > 0:
            hi += (n - 1) * st
        else:
            lo += (n - 1) * st
    return lo, hi + a.itemsize


def _flat_bytes(a, xp):
    """A contiguous root array ``a`` as a 1-d uint8 view of its memory."""
    return (a if a.flags.c_contiguous else a.T).reshape(-1).view(xp.uint8)


def _locate(a):
    """(key, nbytes, make, end): where the memory under array ``a`` is (``key`` identifies it
    while it lives), a function that makes the uint8 view of all of it, and, where the size is
    only CuPy's allocation's, the address one past ``a``'s memory (else None)."""
    if type(a) is _CUPY_ARRAY:
        root = a
        while root.base is not None:
            root = root.base
        mem, ptr = root.data.mem, _ptr(root)
        if (root.flags.c_contiguous or root.flags.f_contiguous) and \
                (root.size == 0 or ptr == mem.ptr):
            start, n = ptr, root.nbytes

            def make():
                return _flat_bytes(root, cupy)
        else:  # made over a pointer (as_strided, real CuPy): its allocation, from the start
            start = int(mem.ptr)
            n = int(getattr(mem, "size", 0) or 0) or _extent(root, ptr)[1] - start

            def make():
                return cupy.ndarray((n,), cupy.uint8, memptr=cupy.cuda.MemoryPointer(mem, 0))
            return ("cuda", root.device.id, start, n), n, make, _extent(root, ptr)[1]
        return ("cuda", root.device.id, start, n), n, make, None
    root = _np_root(a)
    ptr = _ptr(root)
    if root.flags.c_contiguous or root.flags.f_contiguous:
        start, n = ptr, root.nbytes

        def make():
            return _flat_bytes(root, np)
    else:
        start, end = _extent(root, ptr)
        n = end - start

        def make():
            return np.asarray(_Span(root, start, n, not root.flags.writeable))
    return ("cpu", None, start, n), n, make, None


# storages alive, by the memory they hold (device, start, nbytes): the same memory gives the
# same storage object; and by where they start, for CuPy arrays whose size is not known
_LIVE = weakref.WeakValueDictionary()
_BY_START = weakref.WeakValueDictionary()
_LIVE_LOCK = threading.Lock()


def _key(b):
    dev = ("cuda", b.device.id) if type(b) is _CUPY_ARRAY else ("cpu", None)
    return (*dev, _ptr(b), b.size)


def _register(s, key=None):
    if s._bytes.size:
        key = key or _key(s._bytes)
        with _LIVE_LOCK:
            _LIVE[key] = _BY_START[key[:3]] = s


def _forget(s):
    if s._bytes.size:
        key = _key(s._bytes)
        with _LIVE_LOCK:
            for table, k in ((_LIVE, key), (_BY_START, key[:3])):
                if table.get(k) is s:
                    del table[k]


def _storage_of(a):
    """The UntypedStorage under array ``a``."""
    key, n, make, end = _locate(a)
    if n == 0:
        return UntypedStorage._wrap(make(), owned=False, register=False)
    with _LIVE_LOCK:
        s = _LIVE.get(key)
        if s is None and end is not None:  # a live storage from that start that holds ``a``
            s = _BY_START.get(key[:3])
            if s is not None and key[2] + s.nbytes() < end:
                s = None
    if s is None:
        s = UntypedStorage._wrap(make(), owned=False, register=False)
        _register(s, key)
    s._owned = False
    return s


# ---- small helpers ---------------------------------------------------------------------------
def _on(a):
    return a.device if type(a) is _CUPY_ARRAY else contextlib.nullcontext()


def _empty(n, device):
    if device.type == "cpu":
        return np.empty(n, _U8)
    xp = device.xp  # raises, saying what to install, without CuPy or a GPU
    with xp.cuda.Device(device.index):
        return xp.empty(n, xp.uint8)


def _move(a, device, non_blocking=False):
    """Array ``a`` on ``device`` (Tensor.to's transfer: pinned memory, streams, GPUs)."""
    return _new_tensor(a, None, False).to(device, non_blocking=bool(non_blocking)).data


def _bytes_of(a):
    """A fresh array ``a`` as a 1-d uint8 array over its memory (a copy if not contiguous)."""
    xp = cupy if type(a) is _CUPY_ARRAY else np
    with _on(a):
        return xp.ascontiguousarray(a).reshape(-1).view(xp.uint8)


def _copy_into(dst, src, non_blocking=False):
    if type(src) is not type(dst) or (type(src) is _CUPY_ARRAY and
                                      src.device.id != dst.device.id):
        src = _move(src, device_of(dst), non_blocking)
    with _on(dst):
        dst[...] = src


def _int(v, where, what):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{where}: {what} must be an int, got {type(v).__name__} {v!r}")
    return int(v)


def _size_arg(n, where):
    n = _int(n, where, "size")
    if n < 0:
        raise RuntimeError(f"{where}: size must be non-negative, got {n}")
    return n


def _index(idx, n, where):
    if isinstance(idx, bool) or not isinstance(idx, numbers.Integral):
        raise TypeError(f"{where}: can't index a storage with {type(idx).__name__} {idx!r} "
                        "(an int or a slice)")
    i = int(idx)
    if not -n <= i < n:
        raise _StorageIndexError(f"{where}: index {i} out of range for storage of size {n}")
    return i % n


def _slice(idx, n, where):
    start, stop, step = idx.indices(n)
    if step != 1:
        raise RuntimeError(f"{where}: trying to slice with a step of {step}, but only a step "
                           "of 1 is supported")
    return start, max(start, stop)


def _dtype(dtype, where):
    if isinstance(dtype, str) and dtype.rsplit(".", 1)[-1] == "bfloat16":
        raise TypeError(f"{where}: NumPy and CuPy have no bfloat16 dtype")
    try:
        d = np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"{where}: dtype must be a tensorgrad dtype (tg.float32, ...), got "
                        f"{dtype!r}") from e
    if d.kind not in "biufc":
        raise TypeError(f"{where}: storages hold numbers; dtype {d} is not one")
    return d


_WARNED = [False]


def _warn_typed_storage_removal(stacklevel=3):
    """PyTorch's deprecation warning for TypedStorage: once per process unless
    ``tg.set_warn_always(True)``."""
    from .torch_surface3 import is_warn_always_enabled

    if is_warn_always_enabled() or not _WARNED[0]:
        _WARNED[0] = True
        warnings.warn("TypedStorage is deprecated. It will be removed in the future and "
                      "UntypedStorage will be the only storage class. This should only matter "
                      "to you if you are using storages directly.  To access UntypedStorage "
                      "directly, use tensor.untyped_storage() instead of tensor.storage()",
                      UserWarning, stacklevel=stacklevel)


def _reset_warn_typed_storage_removal():
    _WARNED[0] = False


# ---- the legacy names and type strings -------------------------------------------------------
_LEGACY = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
           "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
           "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
           "ComplexFloatStorage": np.complex64, "ComplexDoubleStorage": np.complex128}
_NAME_OF = {np.dtype(d): n for n, d in _LEGACY.items()}


def _legacy_class(dtype, device_type):
    name = _NAME_OF.get(np.dtype(dtype))
    if name is None:
        return None
    return (_CPU_CLASSES if device_type == "cpu" else _CUDA_CLASSES)[name]


def _parse_type(t, where):
    """(dtype or None for untyped, "cpu"/"cuda" or None for unchanged) of a type argument."""
    if isinstance(t, _LegacyStorageMeta):
        if t.dtype not in _NAME_OF:  # BFloat16Storage
            raise TypeError(f"{where}: NumPy and CuPy have no bfloat16 dtype")
        return t.dtype, t._device_type
    if t is UntypedStorage:
        return None, None
    if isinstance(t, str):
        parts = t.split(".")
        dev = "cuda" if "cuda" in parts[:-1] else None
        if parts[-1] == "UntypedStorage":
            return None, dev
        if parts[-1] in _LEGACY:
            return np.dtype(_LEGACY[parts[-1]]), dev or "cpu"
        if parts[-1] == "BFloat16Storage":
            raise TypeError(f"{where}: NumPy and CuPy have no bfloat16 dtype")
    try:
        return _dtype(t, where), None
    except TypeError:
        raise TypeError(f"{where}: expected a storage type (tg.FloatStorage, "
                        f"'torch.DoubleStorage', tg.UntypedStorage) or a dtype, got {t!r}") \
            from None


def _cuda_device(device):
    if isinstance(device, numbers.Integral):
        return Device("cuda", int(device))
    dev = Device(device if device is not None else "cuda")
    if dev.type != "cuda":
        raise RuntimeError(f"cuda(): expected a cuda device, got {dev}")
    return dev


# ---- UntypedStorage --------------------------------------------------------------------------
class _StorageCommon:
    """What both storage classes share: ``copy.copy`` clones, ``copy.deepcopy`` clones once
    per memo (``_deep_clone``), the repr's values, the conversions' ``_to_dtype``."""

    __slots__ = ()

    def __copy__(self):
        return self.clone()

    def __deepcopy__(self, memo):
        out = memo.get(id(self))
        if out is None:
            out = memo[id(self)] = self._deep_clone(memo)
        return out

    def _values_repr(self):
        return "".join(f" {v}\n" for v in self.tolist())

    def _to_dtype(self, dtype):
        return _converted(self, np.dtype(dtype), None)


class UntypedStorage(_StorageCommon):
    """Bytes of memory on a device: ``UntypedStorage(nbytes, device=None)`` (uninitialised),
    ``UntypedStorage(sequence_of_byte_values)``, ``UntypedStorage()`` (empty), or the memory
    of a tensor (``tensor.untyped_storage()``). Indexing gives and takes byte values (ints);
    a slice with step 1 is a storage on the same memory."""

    __slots__ = ("_bytes", "_owned", "_filename", "__weakref__")
    is_sparse = False
    is_sparse_csr = False

    def __init__(self, *args, device=None):
        dev = as_device(device)
        if len(args) > 1:
            raise TypeError(f"UntypedStorage(): expected a size or a sequence of ints and "
                            f"device=, got {len(args)} positional arguments")
        arg = args[0] if args else 0
        if isinstance(arg, numbers.Integral) and not isinstance(arg, bool):
            b = _empty(_size_arg(arg, "UntypedStorage()"), dev)
        elif isinstance(arg, (bytes, bytearray, memoryview)):
            b = dev.put(np.frombuffer(arg, _U8).copy())
        elif isinstance(arg, collections.abc.Sequence) and not isinstance(arg, str):
            vals = np.asarray(arg).ravel()
            if vals.size and vals.dtype.kind not in "iub":
                raise RuntimeError(f"UntypedStorage(): tried to construct a storage from a "
                                   f"sequence ({type(arg).__name__}), but its items are "
                                   f"{vals.dtype} instead of int")
            b = dev.put((vals.astype(np.int64) % 256).astype(_U8))
        else:
            raise RuntimeError(f"UntypedStorage(): expected a size (int) or a sequence of ints, "
                               f"got {type(arg).__name__}")
        self._bytes, self._owned, self._filename = b, True, None
        _register(self)

    @classmethod
    def _wrap(cls, b, owned=True, register=True):
        s = object.__new__(cls)
        s._bytes, s._owned, s._filename = b, owned, None
        if register:
            _register(s)
        return s

    def _replace(self, b):
        _forget(self)
        self._bytes = b
        _register(self)

    # ---- what it is
    @property
    def device(self):
        return device_of(self._bytes)

    @property
    def is_cuda(self):
        return type(self._bytes) is _CUPY_ARRAY

    @property
    def filename(self):
        """The file of a storage made by ``from_file(..., shared=True)``, else None."""
        return self._filename

    def get_device(self):
        """The GPU's index; None on the CPU (as PyTorch's storages)."""
        return self.device.index

    def nbytes(self):
        return int(self._bytes.size)

    size = nbytes

    def __len__(self):
        return int(self._bytes.size)

    def element_size(self):
        return 1

    def data_ptr(self):
        return _ptr(self._bytes)

    def untyped(self):
        return self

    def type(self, dtype=None, non_blocking=False):
        """``"torch.storage.UntypedStorage"``; given a storage type or dtype, a copy of the
        byte values converted to it (as ``float()`` does)."""
        if dtype is None:
            return "torch.storage.UntypedStorage"
        return _converted(self, *_parse_type(dtype, "UntypedStorage.type()"), non_blocking)

    def resizable(self):
        """Whether ``resize_`` can work: the storage alone holds its memory (no tensor uses it)
        and that memory is neither shared nor mapped from a file."""
        return self._owned and self._filename is None and not self.is_shared()

    # ---- values
    def tolist(self):
        return to_host(self._bytes).tolist()

    def __iter__(self):
        return iter(self.tolist())

    def __getitem__(self, idx):
        n = self.nbytes()
        if isinstance(idx, slice):
            start, stop = _slice(idx, n, "UntypedStorage.__getitem__")
            self._owned = False  # the slice shares this memory
            return UntypedStorage._wrap(self._bytes[start:stop], owned=False, register=False)
        return int(self._bytes[_index(idx, n, "UntypedStorage.__getitem__")])

    def __setitem__(self, idx, value):
        where = "UntypedStorage.__setitem__"
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise RuntimeError(f"{where}: can only set storage content with an int (a byte "
                               f"value), got {type(value).__name__}")
        n, v = self.nbytes(), int(value) % 256
        with _on(self._bytes):
            if isinstance(idx, slice):
                start, stop = _slice(idx, n, where)
                self._bytes[start:stop] = v
            else:
                self._bytes[_index(idx, n, where)] = v

    def fill_(self, value):
        if not isinstance(value, numbers.Integral):
            raise RuntimeError(f"UntypedStorage.fill_: expects an int (a byte value), got "
                               f"{type(value).__name__} {value!r}")
        with _on(self._bytes):
            self._bytes.fill(int(value) % 256)
        return self

    def copy_(self, src, non_blocking=None, _where="UntypedStorage.copy_"):
        """Copy ``src``'s bytes (any device) into this storage; the sizes must match."""
        if isinstance(src, TypedStorage):
            src = src._untyped_storage
        if not isinstance(src, UntypedStorage):
            raise TypeError(f"{_where}: src must be a storage, got {type(src).__name__}")
        if src.nbytes() != self.nbytes():
            raise RuntimeError(f"{_where}: size does not match, self was {self.nbytes()} bytes "
                               f"but src was {src.nbytes()} bytes")
        _copy_into(self._bytes, src._bytes, non_blocking)
        return self

    def byteswap(self, dtype):
        """Reverse the byte order of each element of ``dtype`` (each half of a complex one),
        in place."""
        d = _dtype(dtype, "UntypedStorage.byteswap")
        k = d.itemsize // 2 if d.kind == "c" else d.itemsize
        if self.nbytes() % k:
            raise RuntimeError(f"UntypedStorage.byteswap: the length of data ({self.nbytes()} "
                               f"bytes) is not a multiple of {k}")
        if k > 1:
            with _on(self._bytes):
                rows = self._bytes.reshape(-1, k)
                rows[...] = rows[:, ::-1].copy()
        return self

    # ---- copies and devices
    def clone(self):
        with _on(self._bytes):
            return UntypedStorage._wrap(self._bytes.copy())

    def new(self):
        return UntypedStorage._wrap(_empty(0, self.device))

    def cpu(self):
        return UntypedStorage._wrap(to_host(self._bytes)) if self.is_cuda else self

    def cuda(self, device=None, non_blocking=False):
        return self.to(device=_cuda_device(device), non_blocking=non_blocking)

    def to(self, *, device, non_blocking=False):
        dev = as_device(device)
        if dev == self.device:
            return self
        return UntypedStorage._wrap(_move(self._bytes, dev, non_blocking))

    def pin_memory(self, device=None):
        """A copy in page-locked host memory (needs CuPy and a GPU); itself if pinned."""
        if self.is_cuda:
            raise TypeError(f"pin_memory(): cannot pin a storage on {self.device}; only CPU "
                            "memory can be pinned")
        if self.is_pinned():
            return self
        return UntypedStorage._wrap(pin(self._bytes, "pin_memory"))

    def is_pinned(self, device=None):
        return not self.is_cuda and is_pinned(self._bytes)

    def is_shared(self):
        """Whether the memory is in shared memory (``share_memory_``, ``Tensor.share_memory_``
        or received from another process). False on a GPU, as ``Tensor.is_shared``: tensorgrad
        does not share GPU memory between processes."""
        if self.is_cuda:
            return False
        from .multiprocessing.reductions import segment_of

        return segment_of(self._bytes) is not None

    def share_memory_(self):
        """Move the bytes into shared memory, in place; a no-op on a GPU and when shared.
        Only a storage that no tensor uses can move (``Tensor.share_memory_`` moves a tensor's
        memory)."""
        if self.is_cuda or self.is_shared():
            return self
        if not self._owned:
            raise RuntimeError("UntypedStorage.share_memory_(): this storage's memory belongs "
                               "to a tensor (or a storage slice, a NumPy array, a mapped file), "
                               "and NumPy cannot move the memory under a live array; call "
                               "share_memory_() on the tensor instead (before taking views or "
                               "storages of it)")
        from .multiprocessing import reductions

        seg = reductions._new_segment(self.nbytes())
        b = np.ndarray((self.nbytes(),), _U8, buffer=seg)
        b[...] = self._bytes
        self._replace(b)
        return self

    def resize_(self, size):
        """Resize to ``size`` bytes, keeping the first bytes (new ones uninitialised). Only for
        a storage that no tensor uses (``resizable()``); a storage of a tensor cannot change
        its memory in tensorgrad (see the module's notes)."""
        if isinstance(size, bool) or not isinstance(size, numbers.Integral):
            raise TypeError(f"UntypedStorage.resize_: size must be an int, got "
                            f"{type(size).__name__} {size!r}")
        n, old = int(size), self.nbytes()
        if n < 0:
            raise RuntimeError(f"UntypedStorage.resize_: size must be non-negative, got {n}")
        if n == old:
            return self
        if not self.resizable():
            why = ("its memory is shared memory" if self.is_shared() else
                   "it is the memory of a tensor (or of a storage slice, a NumPy array or a "
                   "mapped file), and NumPy/CuPy cannot change the memory under a live array")
            raise RuntimeError(f"UntypedStorage.resize_: cannot resize this storage from {old} "
                               f"to {n} bytes: {why}. Free a tensor's memory by dropping the "
                               "tensor, or give it new memory with tensor.set_(...)")
        b = _empty(n, self.device)
        keep = min(n, old)
        with _on(b):
            b[:keep] = self._bytes[:keep]
        if self.is_pinned():
            b = pin(b)
        self._replace(b)
        return self

    # (conversions: each byte value becomes an element, as PyTorch's: _StorageCommon)

    # ---- construction from buffers and files
    @classmethod
    def from_buffer(cls, buffer, byte_order="native", count=-1, offset=0, *, dtype=None,
                    device=None):
        """A CPU storage holding a copy of ``count`` elements of ``dtype`` read from
        ``buffer`` (bytes, bytearray, memoryview, a NumPy array, ...) from byte ``offset``, in
        ``byte_order`` ("native", "little" or "big")."""
        return _from_buffer(buffer, byte_order, count, offset, dtype, device,
                            "UntypedStorage.from_buffer")

    @classmethod
    def from_file(cls, filename, shared=False, nbytes=0):
        """A CPU storage of ``nbytes`` bytes mapped from ``filename``: with ``shared``, writes
        go to the file (made or extended as needed); without, they stay in this process."""
        n = _size_arg(nbytes, "UntypedStorage.from_file")
        if shared:
            with open(filename, "ab") as f:
                if f.tell() < n:
                    f.truncate(n)
        if n == 0:
            b = np.empty(0, _U8)
        else:
            try:
                b = np.memmap(filename, _U8, "r+" if shared else "c", shape=(n,))
            except ValueError as e:
                raise RuntimeError(f"UntypedStorage.from_file: cannot map {n} bytes of "
                                   f"{filename!r}: {e}") from None
            b = b.view(np.ndarray)
        s = UntypedStorage._wrap(b, owned=False)
        s._filename = str(filename) if shared else None
        return s

    # ---- Python protocols
    def __repr__(self):
        return f"{self._values_repr()}[tensorgrad.storage.UntypedStorage(device={self.device}) " \
               f"of size {self.nbytes()}]"

    def _deep_clone(self, memo):
        return self.clone()

    def __reduce__(self):
        return _rebuild_untyped, (to_host(self._bytes).tobytes(), str(self.device))

    def __sizeof__(self):
        return object.__sizeof__(self) + self.nbytes()

    def __array__(self, dtype=None, copy=None):
        return _host_array(self, self._bytes, dtype, copy)


def _rebuild_untyped(data, device):
    return UntypedStorage._wrap(as_device(device).put(np.frombuffer(data, _U8).copy()))


def _host_array(s, a, dtype, copy):
    if type(a) is _CUPY_ARRAY:
        raise TypeError(f"cannot convert a storage on {s.device} to a NumPy array implicitly; "
                        "take .cpu() first")
    if copy is False:
        s.untyped()._owned = False  # the memory is handed out
        return a if dtype is None else a.astype(dtype, copy=False)
    return np.array(a, dtype=dtype, copy=True)


def _from_buffer(buffer, byte_order, count, offset, dtype, device, where):
    if dtype is None:
        raise RuntimeError(f"{where}: argument 'dtype' cannot be None")
    d = _dtype(dtype, where)
    if device is not None and as_device(device).type != "cpu":
        raise RuntimeError(f"{where}: not available for device {as_device(device)}; move the "
                           "storage with .cuda() afterwards")
    if byte_order not in ("native", "little", "big"):
        raise ValueError(f"{where}: byte_order must be 'native', 'little' or 'big', got "
                         f"{byte_order!r}")
    raw = memoryview(buffer).cast("B")
    offset = _int(offset, where, "offset")
    count = _int(count, where, "count")
    if not 0 <= offset <= len(raw):
        raise ValueError(f"{where}: offset must be non-negative and no greater than the buffer "
                         f"length ({len(raw)}), got {offset}")
    avail = len(raw) - offset
    if count < 0:
        if avail % d.itemsize:
            raise ValueError(f"{where}: buffer size ({avail}) must be a multiple of element "
                             f"size ({d.itemsize})")
        count = avail // d.itemsize
    elif count * d.itemsize > avail:
        raise ValueError(f"{where}: requested {count} elements of {d.itemsize} bytes, but "
                         f"only {avail} bytes follow offset {offset}")
    b = np.frombuffer(raw, _U8, count * d.itemsize, offset).copy()
    s = UntypedStorage._wrap(b)
    if byte_order != "native" and byte_order != sys.byteorder:
        s.byteswap(d)
    return s


def _converted(s, dtype, device_type, non_blocking=False):
    """A new storage: ``s`` (untyped: its byte values; typed: its elements) as ``dtype``
    (None: untyped bytes), on ``device_type`` (None: where ``s`` is)."""
    src = s._typed() if isinstance(s, TypedStorage) else s._bytes
    with _on(src):
        a = src.copy() if dtype is None else src.astype(dtype)
    if device_type is not None and device_type != device_of(a).type:
        a = _move(a, Device(device_type), non_blocking)
    u = UntypedStorage._wrap(_bytes_of(a))
    return u if dtype is None else TypedStorage(wrap_storage=u, dtype=dtype, _internal=True)


def _no_bfloat16(self):
    raise TypeError("bfloat16(): NumPy and CuPy have no bfloat16 dtype")


# ---- TypedStorage ----------------------------------------------------------------------------
class TypedStorage(_StorageCommon):
    """Elements of one dtype over an UntypedStorage (PyTorch's deprecated typed storage):
    ``TypedStorage(size, dtype=, device=)``, ``TypedStorage(sequence, dtype=, device=)``,
    ``TypedStorage(wrap_storage=untyped, dtype=)``, or ``tensor.storage()``. Indexing gives and
    takes Python numbers; writes are seen by every tensor on the memory."""

    __slots__ = ("_untyped_storage", "dtype", "__weakref__")
    is_sparse = False

    def __init__(self, *args, device=None, dtype=None, wrap_storage=None, _internal=False):
        if not _internal:
            _warn_typed_storage_removal()
        msg = ("TypedStorage(): invalid arguments; expected one of (*, device, dtype), "
               "(int size, *, device, dtype), (Sequence data, *, device, dtype) or "
               "(*, UntypedStorage wrap_storage, dtype)")
        if wrap_storage is not None:
            if args:
                raise RuntimeError(f"{msg}: no positional arguments with wrap_storage")
            if dtype is None:
                raise RuntimeError(f"{msg}: dtype must be given with wrap_storage")
            if device is not None:
                raise RuntimeError(f"{msg}: device must not be given with wrap_storage")
            if not isinstance(wrap_storage, UntypedStorage):
                raise TypeError(f"{msg}: wrap_storage must be an UntypedStorage, got "
                                f"{type(wrap_storage).__name__}")
            self.dtype = _dtype(dtype, "TypedStorage()")
            self._untyped_storage = wrap_storage
            return
        self.dtype = _dtype(_cr.get_default_dtype() if dtype is None else dtype,
                            "TypedStorage()")
        dev = as_device(device)
        if len(args) > 1:
            raise RuntimeError(f"{msg}: too many positional arguments ({len(args)})")
        arg = args[0] if args else 0
        if isinstance(arg, numbers.Integral):
            n = _size_arg(arg, "TypedStorage()") * self.dtype.itemsize
            self._untyped_storage = UntypedStorage._wrap(_empty(n, dev))
        elif isinstance(arg, collections.abc.Sequence):
            try:
                vals = np.asarray(arg, dtype=self.dtype).ravel()
            except OverflowError:
                raise RuntimeError(f"TypedStorage(): a value of {arg!r} cannot be converted to "
                                   f"type {self.dtype} without overflow") from None
            self._untyped_storage = UntypedStorage._wrap(dev.put(_bytes_of(vals)))
        else:
            raise TypeError(f"{msg}: argument type not recognized: {type(arg).__name__}")

    def _typed(self):
        b = self._untyped_storage._bytes
        return b[:self._size() * self.dtype.itemsize].view(self.dtype)

    def _new_wrapped_storage(self, untyped):
        return TypedStorage(wrap_storage=untyped, dtype=self.dtype, _internal=True)

    # ---- what it is
    @property
    def device(self):
        return self._untyped_storage.device

    @property
    def is_cuda(self):
        return self._untyped_storage.is_cuda

    @property
    def filename(self):
        return self._untyped_storage.filename

    def get_device(self):
        return self._untyped_storage.get_device()

    def untyped(self):
        return self._untyped_storage

    def _size(self):
        return self._untyped_storage.nbytes() // self.dtype.itemsize

    def size(self):
        return self._size()

    def __len__(self):
        return self._size()

    def nbytes(self):
        return self._untyped_storage.nbytes()

    def element_size(self):
        return self.dtype.itemsize

    def data_ptr(self):
        return self._untyped_storage.data_ptr()

    def pickle_storage_type(self):
        """The legacy class's name (``"FloatStorage"``)."""
        try:
            return _NAME_OF[self.dtype]
        except KeyError:
            raise KeyError(f"dtype {self.dtype} is not recognized") from None

    def type(self, dtype=None, non_blocking=False):
        """The legacy type's name (``"torch.FloatStorage"``, ``"torch.cuda.FloatStorage"``);
        given a storage type or dtype, a copy converted to it (``tg.DoubleStorage``,
        ``"torch.cuda.IntStorage"``, ``tg.float16``, ``tg.UntypedStorage``)."""
        if dtype is None:
            cls = _legacy_class(self.dtype, self.device.type)
            if cls is None:
                return "torch.storage.TypedStorage"
            return ("torch.cuda." if self.is_cuda else "torch.") + cls.__name__
        return _converted(self, *_parse_type(dtype, "TypedStorage.type()"), non_blocking)

    def resizable(self):
        return self._untyped_storage.resizable()

    # ---- values
    def tolist(self):
        return to_host(self._typed()).tolist()

    def __iter__(self):
        return iter(self.tolist())

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            raise RuntimeError("TypedStorage.__getitem__: slices are only supported in "
                               "UntypedStorage.__getitem__ (take storage.untyped()[a:b])")
        i = _index(idx, self._size(), "TypedStorage.__getitem__")
        return self._typed()[i].item()

    def __setitem__(self, idx, value):
        where = "TypedStorage.__setitem__"
        if isinstance(value, (UntypedStorage, TypedStorage)):
            raise RuntimeError(f"{where}: cannot set items from a storage")
        a = self._typed()
        if isinstance(idx, slice):
            key = idx
        else:
            key = _index(idx, self._size(), where)
        if isinstance(value, Tensor):
            value = value.data
            if device_of(value) != self.device:
                raise RuntimeError(f"{where}: the value is on {device_of(value)} but the "
                                   f"storage on {self.device}")
        elif type(a) is _CUPY_ARRAY and not isinstance(value, (numbers.Number, _CUPY_ARRAY)):
            value = self.device.put(np.asarray(value, dtype=self.dtype))
        with _on(a):
            a[key] = value

    def fill_(self, value):
        a = self._typed()
        with _on(a):
            a.fill(value)
        return self

    def copy_(self, source, non_blocking=None):
        """Copy ``source``'s bytes (PyTorch copies bytes, not converted values: the sizes in
        bytes must match)."""
        self._untyped_storage.copy_(source, non_blocking, _where="TypedStorage.copy_")
        return self

    # ---- copies, devices, memory
    def clone(self):
        return self._new_wrapped_storage(self._untyped_storage.clone())

    def cpu(self):
        return self._new_wrapped_storage(self._untyped_storage.cpu())

    def cuda(self, device=None, non_blocking=False):
        return self._new_wrapped_storage(self._untyped_storage.cuda(device, non_blocking))

    def to(self, *, device, non_blocking=False):
        return self._new_wrapped_storage(self._untyped_storage.to(device=device,
                                                                  non_blocking=non_blocking))

    def pin_memory(self, device=None):
        return self._new_wrapped_storage(self._untyped_storage.pin_memory())

    def is_pinned(self, device=None):
        return self._untyped_storage.is_pinned()

    def is_shared(self):
        return self._untyped_storage.is_shared()

    def share_memory_(self):
        self._untyped_storage.share_memory_()
        return self

    def resize_(self, size):
        """Resize to ``size`` elements (see ``UntypedStorage.resize_``)."""
        n = _size_arg(size, "TypedStorage.resize_")
        self._untyped_storage.resize_(n * self.dtype.itemsize)
        return self

    # ---- construction from buffers and files
    @classmethod
    def from_buffer(cls, buffer, byte_order="native", count=-1, offset=0, *, dtype=None,
                    device=None):
        """``UntypedStorage.from_buffer`` as a typed storage (a legacy class gives its own
        dtype: ``tg.ShortStorage.from_buffer(b, "big")``)."""
        where = f"{cls.__name__}.from_buffer"
        if isinstance(cls, _LegacyStorageMeta):
            if dtype is not None or device is not None:
                raise RuntimeError(f"{where}: dtype and device can only be given to "
                                   "UntypedStorage.from_buffer and TypedStorage.from_buffer")
            dtype = _dtype(cls.dtype, where)
        elif dtype is None:
            dtype = _cr.get_default_dtype()
        u = _from_buffer(buffer, byte_order, count, offset, dtype, device, where)
        return TypedStorage(wrap_storage=u, dtype=dtype, _internal=True)

    @classmethod
    def from_file(cls, filename, shared=False, size=0):
        """``size`` elements mapped from ``filename`` (a legacy class only, which gives the
        dtype; see ``UntypedStorage.from_file``)."""
        if not isinstance(cls, _LegacyStorageMeta):
            raise RuntimeError("from_file can only be called on the legacy classes "
                               "(tg.FloatStorage.from_file, ...)")
        d = _dtype(cls.dtype, f"{cls.__name__}.from_file")
        n = _size_arg(size, f"{cls.__name__}.from_file") * d.itemsize
        u = UntypedStorage.from_file(filename, shared, n)
        return TypedStorage(wrap_storage=u, dtype=d, _internal=True)

    # ---- Python protocols
    def __repr__(self):
        return f"{self._values_repr()}[tensorgrad.storage.TypedStorage(dtype={self.dtype}, " \
               f"device={self.device}) of size {self._size()}]"

    def _deep_clone(self, memo):
        return self._new_wrapped_storage(_copy.deepcopy(self._untyped_storage, memo))

    def __reduce__(self):
        return _rebuild_typed, (self._untyped_storage, self.dtype.str)

    def __sizeof__(self):
        return object.__sizeof__(self) + self.nbytes()

    def __array__(self, dtype=None, copy=None):
        return _host_array(self, self._typed(), dtype, copy)


def _rebuild_typed(untyped, dtype):
    return TypedStorage(wrap_storage=untyped, dtype=np.dtype(dtype), _internal=True)


_CASTS = {"float": np.float32, "double": np.float64, "half": np.float16, "long": np.int64,
          "int": np.int32, "short": np.int16, "char": np.int8, "byte": np.uint8,
          "bool": np.bool_, "complex_float": np.complex64, "complex_double": np.complex128}


def _cast_method(name, dtype):
    def method(self):
        return self._to_dtype(dtype)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"A copy of the values as {np.dtype(dtype)} (a TypedStorage)."
    return method


for _name, _dt in _CASTS.items():
    setattr(UntypedStorage, _name, _cast_method(_name, _dt))
    setattr(TypedStorage, _name, _cast_method(_name, _dt))
UntypedStorage.bfloat16 = TypedStorage.bfloat16 = _no_bfloat16


# ---- the legacy classes (tg.FloatStorage, tg.cuda.FloatStorage, ...) -------------------------
class _LegacyStorageMeta(type):
    """Calling ``FloatStorage()``, ``FloatStorage(n)``, ``FloatStorage(sequence)`` or
    ``FloatStorage(wrap_storage=u)`` makes a TypedStorage of its dtype on its device type;
    ``isinstance(s, FloatStorage)`` tests the dtype and device type, as PyTorch's."""

    def __call__(cls, *args, wrap_storage=None, dtype=None, device=None):
        _warn_typed_storage_removal()
        name = f"{cls.__module__}.{cls.__name__}"
        if cls.dtype not in _NAME_OF:
            raise TypeError(f"{name}: NumPy and CuPy have no bfloat16 dtype")
        msg = (f"{name}(): invalid arguments; expected no arguments, (int size), "
               "(Sequence data) or (*, UntypedStorage wrap_storage)")
        if device is not None or dtype is not None:
            raise RuntimeError(f"{msg}: device= and dtype= cannot be given (the class fixes "
                               "them)")
        if wrap_storage is not None:
            if args:
                raise RuntimeError(f"{msg}: no positional arguments with wrap_storage")
            if not isinstance(wrap_storage, UntypedStorage):
                raise TypeError(f"{msg}: wrap_storage must be an UntypedStorage, got "
                                f"{type(wrap_storage).__name__}")
            if wrap_storage.device.type != cls._device_type:
                raise RuntimeError(f"{msg}: wrap_storage must be on {cls._device_type}, got "
                                   f"{wrap_storage.device}")
            return TypedStorage(wrap_storage=wrap_storage, dtype=cls.dtype, _internal=True)
        if len(args) > 1:
            raise RuntimeError(f"{msg}: too many positional arguments ({len(args)})")
        if args and not isinstance(args[0], (numbers.Integral, collections.abc.Sequence)):
            raise TypeError(f"{msg}: argument type not recognized: {type(args[0]).__name__}")
        return TypedStorage(*args, dtype=cls.dtype, device=cls._device_type, _internal=True)

    def __instancecheck__(cls, obj):
        return type(obj) is TypedStorage and obj.dtype == cls.dtype and \
            obj.device.type == cls._device_type

    def __repr__(cls):
        return f"<class '{cls.__module__}.{cls.__name__}'>"


def _legacy(name, dtype, device_type):
    module = "tensorgrad" if device_type == "cpu" else "tensorgrad.cuda"
    return _LegacyStorageMeta(name, (TypedStorage,), {
        "__slots__": (), "dtype": dtype, "_device_type": device_type, "__module__": module,
        "__doc__": f"PyTorch's legacy {module.replace('tensorgrad', 'torch')}.{name}: a "
                   f"TypedStorage of {dtype} on {device_type}."})


_CPU_CLASSES = {n: _legacy(n, np.dtype(d), "cpu") for n, d in _LEGACY.items()}
_CUDA_CLASSES = {n: _legacy(n, np.dtype(d), "cuda") for n, d in _LEGACY.items()}
# no bfloat16 in NumPy/CuPy: the names exist (isinstance is False), making one raises
_CPU_CLASSES["BFloat16Storage"] = _legacy("BFloat16Storage", "bfloat16", "cpu")
_CUDA_CLASSES["BFloat16Storage"] = _legacy("BFloat16Storage", "bfloat16", "cuda")
FloatStorage, DoubleStorage, HalfStorage = (_CPU_CLASSES[n] for n in (
    "FloatStorage", "DoubleStorage", "HalfStorage"))
LongStorage, IntStorage, ShortStorage, CharStorage, ByteStorage = (_CPU_CLASSES[n] for n in (
    "LongStorage", "IntStorage", "ShortStorage", "CharStorage", "ByteStorage"))
BoolStorage, ComplexFloatStorage, ComplexDoubleStorage, BFloat16Storage = (
    _CPU_CLASSES[n] for n in ("BoolStorage", "ComplexFloatStorage", "ComplexDoubleStorage",
                              "BFloat16Storage"))


def is_storage(obj):
    """Whether ``obj`` is a storage (``tg.UntypedStorage`` or ``tg.TypedStorage``)."""
    return isinstance(obj, (UntypedStorage, TypedStorage))


# ---- Tensor methods --------------------------------------------------------------------------
def _untyped_storage(self):
    """The UntypedStorage under this tensor: all the memory its array lies in (shared by its
    views; see ``tensorgrad.storage``)."""
    return _storage_of(self.data)


def _typed_storage(self):
    return TypedStorage(wrap_storage=_storage_of(self.data), dtype=self.dtype, _internal=True)


def _storage(self):
    """The TypedStorage under this tensor (deprecated in PyTorch: ``untyped_storage()``)."""
    _warn_typed_storage_removal()
    return _typed_storage(self)


def _storage_type(self):
    """The legacy storage class of this tensor's dtype and device (``tg.FloatStorage``,
    ``tg.cuda.FloatStorage``); None for a dtype without one (uint16, ...)."""
    return _legacy_class(self.dtype, self.device.type)


def _view_of(u, dtype, offset, size, stride, where):
    """An array of ``dtype`` over UntypedStorage ``u``: ``size``/``stride`` in elements,
    starting ``offset`` elements into the storage."""
    offset = _int(offset, where, "storage_offset")
    if offset < 0:
        raise RuntimeError(f"{where}: storage_offset must be non-negative, got {offset}")
    isz = dtype.itemsize
    if size is None:
        size = (max(u.nbytes() // isz - offset, 0),)
    size = (size,) if isinstance(size, numbers.Integral) else tuple(size)
    size = tuple(_int(n, where, "size") for n in size)
    if stride is None:
        stride = tuple(math.prod(size[i + 1:]) for i in range(len(size)))
    stride = (stride,) if isinstance(stride, numbers.Integral) else tuple(stride)
    stride = tuple(_int(s, where, "stride") for s in stride)
    if len(size) != len(stride):
        raise RuntimeError(f"{where}: size {list(size)} and stride {list(stride)} differ in "
                           f"length ({len(size)} and {len(stride)})")
    if any(n < 0 for n in size) or any(s < 0 for s in stride):
        raise RuntimeError(f"{where}: sizes and strides must be non-negative, got size "
                           f"{list(size)} and stride {list(stride)}")
    numel = math.prod(size)
    need = 0 if numel == 0 else (offset + 1 + sum((n - 1) * s for n, s in
                                                  zip(size, stride))) * isz
    if need > u.nbytes():
        raise RuntimeError(f"{where}: sizes {list(size)}, strides {list(stride)}, storage offset "
                           f"{offset}, and itemsize {isz} requiring a storage size of {need} are "
                           f"out of bounds for storage of size {u.nbytes()} (tensorgrad cannot "
                           "grow a storage)")
    b = u._bytes
    if numel == 0:
        return b[:0].view(dtype).reshape(size)
    if type(b) is not _CUPY_ARRAY:
        return np.ndarray(size, dtype, buffer=b, offset=offset * isz,
                          strides=tuple(s * isz for s in stride))
    flat = b[offset * isz:need].view(dtype)
    if stride == tuple(math.prod(size[i + 1:]) for i in range(len(size))):
        return flat.reshape(size)
    return cupy.lib.stride_tricks.as_strided(flat, size, tuple(s * isz for s in stride))


_tensor_set_ = Tensor.set_


def _set_(self, source=None, storage_offset=0, size=None, stride=None):
    """Make this tensor use ``source``'s memory: a Tensor's data, or a storage viewed with
    ``storage_offset``, ``size`` and ``stride`` (in elements; by default the whole storage as
    one dimension); with no source, empty. Writes through either are seen by the other."""
    if isinstance(source, TypedStorage):
        if source.dtype != self.dtype:
            raise RuntimeError(f"set_(): expected a storage of dtype {self.dtype} or an "
                               f"UntypedStorage, got a TypedStorage of dtype {source.dtype}")
        source = source._untyped_storage
    if isinstance(source, UntypedStorage):
        if source.device != self.device:
            raise RuntimeError(f"set_(): cannot set the storage of a tensor on {self.device} "
                               f"to a storage on {source.device}; the devices must match")
        arr = _view_of(source, self.dtype, storage_offset, size, stride, "set_()")
        source._owned = False
        return _tensor_set_(self, _new_tensor(arr, None, False))
    if isinstance(source, Tensor) and source.dtype != self.dtype:
        raise RuntimeError(f"set_(): cannot set a tensor of dtype {self.dtype} to a tensor of "
                           f"dtype {source.dtype}")
    if isinstance(source, Tensor) and (size is not None or storage_offset):
        # a view of the source's storage (writes through either are seen by the other, as
        # PyTorch's), with the source's version counter
        arr = _view_of(source.untyped_storage(), self.dtype, storage_offset,
                       source.shape if size is None else size, stride, "set_()")
        _tensor_set_(self, source)
        self.data = arr
        return self
    if source is None or isinstance(source, Tensor):
        return _tensor_set_(self, source)
    raise TypeError(f"set_(): source must be a Tensor or a storage (UntypedStorage, "
                    f"TypedStorage), got {type(source).__name__}")


_set_.__name__ = _set_.__qualname__ = "set_"
Tensor.untyped_storage = _untyped_storage
Tensor.storage = _storage
Tensor._typed_storage = _typed_storage
Tensor.storage_type = _storage_type
Tensor.set_ = _set_


def _install_cuda_names():
    """``tg.cuda.FloatStorage`` and the others (torch.cuda's legacy storage classes)."""
    from . import cuda as _cuda

    for n, c in _CUDA_CLASSES.items():
        setattr(_cuda, n, c)


def _refresh_sparse():
    """Sparse tensors refuse the new methods by name, as they refuse other dense ones."""
    from . import sparse as _sparse

    _sparse._refresh_names()


_install_cuda_names()
_refresh_sparse()
