"""Shared-memory tensors and how tensors travel between processes.

``Tensor.share_memory_()`` copies a CPU tensor's values into a *segment* of shared memory and
points the same Tensor object at it. A segment is an ``mmap`` of either

- an anonymous memory file (``memfd_create``; the "file_descriptor" strategy, the default, as
  PyTorch's on Linux): nothing appears in ``/dev/shm``; the memory lives while some process
  maps it, and it travels as a file descriptor (``multiprocessing.reduction.DupFd``), or
- a named POSIX segment ``/dev/shm/tensorgrad_...`` (the "file_system" strategy): it travels as
  its name; the process that made it unlinks it when its tensor is freed or the process exits
  (and multiprocessing's resource tracker does if the process is killed), so nothing leaks.

A tensor pickled by ``multiprocessing`` (Queue, Pipe, Process arguments under "spawn") goes
through ``ForkingPickler``, where ``_reduce_tensor`` is registered: a shared tensor travels as
its segment's handle and the receiver maps the same memory (an in-place write on either side
is seen by the other); any other CPU tensor travels by value. Plain ``pickle`` and
``tg.save`` never see these reductions. Under the "fork" start method a child simply inherits
the parent's mappings (``MAP_SHARED``), so Process arguments are not pickled at all.
"""

import mmap
import os
import secrets
import weakref
from multiprocessing import reduction, resource_tracker, util

import numpy as np

from ..backend.device import _CUPY_ARRAY
from ..tensor import Tensor

try:
    import _posixshmem
except ImportError:  # not a POSIX system: only file descriptors (where memfd exists)
    _posixshmem = None

_ALL_STRATEGIES = ("file_descriptor", "file_system")
_strategy = ["file_descriptor"]
_ndarray = np.ndarray

# Segments mapped in this process, by what identifies their memory, so a tensor that comes
# back (or arrives twice) maps onto the same segment object instead of a new mapping.
_SEGMENTS = weakref.WeakValueDictionary()


class _Segment(mmap.mmap):
    """A mapping of shared memory. ``fd`` (file_descriptor: kept open, as it is the handle)
    or ``name`` (file_system) says how another process reaches it; ``address`` is where it
    starts here."""


def _map(fd, nbytes, key):
    seg = _Segment(fd, nbytes)
    seg.address = np.frombuffer(seg, np.uint8, count=1).ctypes.data
    seg.fd = seg.name = None
    _SEGMENTS[key] = seg
    return seg


def _fd_key(fd):
    st = os.fstat(fd)
    return ("fd", st.st_dev, st.st_ino)


def _anonymous_fd():
    if hasattr(os, "memfd_create"):
        return os.memfd_create("tensorgrad-shm", os.MFD_CLOEXEC)
    name = f"/tensorgrad_{os.getpid()}_{secrets.token_hex(8)}"  # named only until unlinked
    fd = _posixshmem.shm_open(name, os.O_CREAT | os.O_EXCL | os.O_RDWR, mode=0o600)
    _posixshmem.shm_unlink(name)
    return fd


def _unlink(name):
    """Unlink a segment this process made (run by util.Finalize, only in the process that
    registered it: a forked child's copy of the tensor never unlinks its parent's)."""
    try:
        _posixshmem.shm_unlink(name)
    except FileNotFoundError:
        pass
    resource_tracker.unregister(name, "shared_memory")


def _new_segment(nbytes):
    nbytes = max(int(nbytes), 1)  # mmap refuses length 0
    if _strategy[0] == "file_descriptor":
        fd = _anonymous_fd()
        try:
            os.ftruncate(fd, nbytes)
            seg = _map(fd, nbytes, _fd_key(fd))
        except BaseException:
            os.close(fd)
            raise
        # kept open as the handle (mmap holds a duplicate of its own, which it does not expose)
        seg.fd = fd
        weakref.finalize(seg, os.close, fd)
        return seg
    name = f"/tensorgrad_{os.getpid()}_{secrets.token_hex(8)}"
    fd = _posixshmem.shm_open(name, os.O_CREAT | os.O_EXCL | os.O_RDWR, mode=0o600)
    try:
        # registered first: if this process is killed, the tracker unlinks the segment
        resource_tracker.register(name, "shared_memory")
        os.ftruncate(fd, nbytes)
        seg = _map(fd, nbytes, ("fs", name))
    except BaseException:
        _unlink(name)
        raise
    finally:
        os.close(fd)
    seg.name = name
    util.Finalize(seg, _unlink, (name,), exitpriority=0)
    return seg


def segment_of(data):
    """The shared segment that ``data`` (an array) lies in, or None."""
    b = data
    while type(b) is _ndarray:
        b = b.base
    if type(b) is memoryview:
        b = b.obj
    return b if type(b) is _Segment else None


def share_memory_(self):
    """Move this CPU tensor's data into shared memory, in place (the same Tensor object and
    values), so that processes it is sent to (``tg.multiprocessing``: Queue, Pipe, Process
    arguments) or forked children see and make in-place changes on the same memory. Returns
    self; a no-op for a tensor already shared and for a CUDA tensor (as PyTorch's).

    NumPy cannot move an array's memory, so other tensors that are views of this tensor's
    old array keep the old memory (PyTorch's views share the moved storage); share a base
    tensor before taking views of it. ``.grad`` is not touched.

    >>> import tensorgrad as tg
    >>> t = tg.ones(3)
    >>> t.share_memory_() is t, t.is_shared(), t.tolist()
    (True, True, [1.0, 1.0, 1.0])
    """
    d = self.data
    if type(d) is _CUPY_ARRAY or segment_of(d) is not None:
        return self
    _register(type(self))
    seg = _new_segment(d.nbytes)
    arr = _ndarray(d.shape, d.dtype, buffer=seg)
    np.copyto(arr, d)
    self.data = arr
    return self


def is_shared(self):
    """Whether this tensor's data is in shared memory (``share_memory_``, or received from
    another process as a shared tensor). False for CUDA tensors: tensorgrad cannot share GPU
    memory between processes."""
    return segment_of(self.data) is not None


def module_share_memory(self):
    """Move every parameter and buffer (and any existing ``.grad``) into shared memory in
    place (``Tensor.share_memory_``), as PyTorch's; returns self. The Hogwild pattern: share
    the model, then start processes that train it (``tg.multiprocessing``).

    >>> import tensorgrad as tg
    >>> net = tg.nn.Linear(2, 2).share_memory()
    >>> all(p.is_shared() for p in net.parameters())
    True
    """
    for m in self.modules():
        for table in (m._parameters, m._buffers):
            for t in table.values():
                if t is None:
                    continue
                share_memory_(t)
                if t.grad is not None:
                    share_memory_(t.grad)
    return self


# ---- crossing the process boundary -------------------------------------------------------------
def _blank(cls, rg, state):
    t = object.__new__(cls)
    t._node = None
    t._rg = rg
    t.grad = None
    t._vc = [0]
    if state:
        t.__dict__.update(state)
    return t


def _rebuild_tensor(cls, data, rg, state):
    t = _blank(cls, rg, state)
    t.data = data
    return t


def _attach(kind, handle, nbytes):
    if kind == "fd":
        fd = handle.detach()
        key = _fd_key(fd)
        seg = _SEGMENTS.get(key)
        if seg is not None:
            if fd != seg.fd:  # among a "spawn" child's arguments a segment has one number
                os.close(fd)
            return seg
        try:
            seg = _map(fd, nbytes, key)
        except BaseException:
            os.close(fd)
            raise
        seg.fd = fd  # kept: the handle for sending the tensor on
        weakref.finalize(seg, os.close, fd)
        return seg
    seg = _SEGMENTS.get(("fs", handle))
    if seg is not None:
        return seg
    try:
        fd = _posixshmem.shm_open(handle, os.O_RDWR, mode=0o600)
    except FileNotFoundError:
        raise RuntimeError(
            f"tensorgrad.multiprocessing: the shared memory segment {handle} of a received "
            "tensor no longer exists: the process that shared it freed the tensor (or exited) "
            "before this process received it. Keep the tensor alive in the sender until the "
            "receiver has it (or use the 'file_descriptor' sharing strategy)") from None
    try:
        seg = _map(fd, nbytes, ("fs", handle))
    finally:
        os.close(fd)
    seg.name = handle
    return seg


def _rebuild_shared(cls, kind, handle, nbytes, dtype, shape, strides, offset, rg, state):
    seg = _attach(kind, handle, nbytes)
    t = _blank(cls, rg, state)
    t.data = _ndarray(shape, dtype, buffer=seg, offset=offset, strides=strides)
    return t


def _reduce_tensor(t):
    """How ForkingPickler sends a Tensor: a shared one as a handle to its memory, another CPU
    one by value; requires_grad travels, ``.grad`` and the autograd graph do not (as in
    PyTorch)."""
    d = t.data
    if type(d) is _CUPY_ARRAY:
        raise RuntimeError(
            f"tensorgrad.multiprocessing: cannot send a CUDA tensor of shape {tuple(d.shape)} "
            f"on {t.device} to another process: tensorgrad does not share GPU memory between "
            "processes (CUDA IPC). Send t.cpu() (or t.cpu().share_memory_() to share it) and "
            "move it with .to('cuda') in the receiving process, started with the 'spawn' "
            "method")
    if t._node is not None and t._rg:
        raise RuntimeError(
            f"tensorgrad.multiprocessing: refusing to send a non-leaf tensor of shape "
            f"{tuple(d.shape)} that requires grad: autograd does not cross process "
            "boundaries. Call .detach() on it to send its data")
    state = getattr(t, "__dict__", None) or None
    seg = segment_of(d)
    if seg is None:
        return _rebuild_tensor, (type(t), d, t._rg, state)
    if seg.fd is not None:
        kind, handle = "fd", reduction.DupFd(seg.fd)
    else:
        kind, handle = "fs", seg.name
    offset = d.ctypes.data - seg.address
    return _rebuild_shared, (type(t), kind, handle, len(seg), d.dtype, d.shape, d.strides,
                             offset, t._rg, state)


_REGISTERED = set()


def _register(cls):
    if cls not in _REGISTERED:
        reduction.ForkingPickler.register(cls, _reduce_tensor)
        _REGISTERED.add(cls)


def init_reductions():
    """Register the tensor reductions with ``multiprocessing.reduction.ForkingPickler`` for
    Tensor and its subclasses defined so far (done at import; a subclass defined later is
    registered when one of its tensors is shared, and is sent by value until then)."""
    todo = [Tensor]
    while todo:
        cls = todo.pop()
        _register(cls)
        todo.extend(cls.__subclasses__())


def get_sharing_strategy():
    """The strategy new shared segments use: "file_descriptor" (default) or "file_system"."""
    return _strategy[0]


def set_sharing_strategy(new_strategy):
    """Choose how ``share_memory_`` makes segments (see ``get_all_sharing_strategies``);
    tensors shared before keep theirs."""
    if new_strategy not in get_all_sharing_strategies():
        raise ValueError(f"set_sharing_strategy: unknown strategy {new_strategy!r}; choose one "
                         f"of {sorted(get_all_sharing_strategies())}")
    _strategy[0] = new_strategy


def get_all_sharing_strategies():
    """The strategies this system supports, as a set (PyTorch's)."""
    have = set()
    if hasattr(os, "memfd_create") or _posixshmem is not None:
        have.add("file_descriptor")
    if _posixshmem is not None:
        have.add("file_system")
    return have
