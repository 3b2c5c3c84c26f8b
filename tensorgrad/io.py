"""``tg.save`` / ``tg.load``: tensors, arrays, plain Python values and whole objects (a Module,
an optimizer, a dict of them, an instance of a user's class) in a zip of ``.npy`` files plus a
JSON description. Never pickle: a file can name classes and functions to import, never code to
run.

An object is stored as its class's import path (``"module:qualname"``) and its state (its
``__dict__`` and ``__slots__`` values, or what its ``__getstate__`` returns), encoded
recursively; functions, classes and modules it refers to (``self.act = F.relu``) are stored by
import path, so lambdas and local functions cannot be saved. An object or tensor met twice is
stored once and comes back shared (tied weights stay tied, an optimizer's parameters are the
model's), cycles included; tensors sharing one array share it again after loading, while a
view (a different array over the same memory) comes back as an independent copy. Loading
rebuilds an object as pickle does, ``cls.__new__(cls)`` and then the state (``__setstate__``
where the class defines one), so ``__init__`` does not run.

``load(..., weights_only=True)`` (the default, as in PyTorch 2.6+) rebuilds only tensorgrad's
own classes, builtin and NumPy scalar types, and those a program allowed with
``tg.serialization.add_safe_globals`` or ``safe_globals``; with ``weights_only=False`` it imports
whatever class the file names, so load such files only from sources you trust, as PyTorch says.

PyTorch's own files (``torch.save``'s zip format) are read too, without PyTorch and as weights
only whatever ``weights_only`` says: a restricted unpickler rebuilds tensors, Parameters,
containers, numbers and strings and refuses every other name it meets, before importing or
calling anything (``tensorgrad/_torch_format.py``). ``save(obj, path, format="torch")`` writes
that format (tensors, containers, numbers, strings) for ``torch.load(path, weights_only=True)``.

>>> import os, tempfile, tensorgrad as tg
>>> path = os.path.join(tempfile.mkdtemp(), "ckpt.tg")
>>> tg.save({"w": tg.ones(2), "step": 3}, path)
>>> tg.load(path)["w"].tolist(), tg.load(path)["step"]
([1.0, 1.0], 3)
>>> tg.save(tg.nn.Sequential(tg.nn.Linear(2, 1), tg.nn.ReLU()), path)
>>> type(tg.load(path)[1]).__name__
'ReLU'
"""

import base64
import builtins
import collections
import copyreg
import enum
import json
import math
import os
import pickle
import struct
import tempfile
import types
import zipfile
import zlib
from contextlib import contextmanager
from importlib import import_module

import numpy as np

from .backend.device import _CUPY_ARRAY, Device, as_device, cuda_available, device_of
from .tensor import Tensor, _new_tensor

FORMAT = "tensorgrad-save-2"
# save-1 (tensors and plain containers, no shared references) is the subset save-2 grew from
_READABLE = ("tensorgrad-save-1", FORMAT)


# ---- what weights_only=True may rebuild ---------------------------------------------------------
_SAFE_GLOBALS = []  # torch.serialization's registry: callables, or (callable, "module.qualname")
_BUILTIN_TYPES = (bool, int, float, complex, str, bytes, bytearray, list, tuple, dict, set,
                  frozenset, slice, range, type(None))


def add_safe_globals(safe_globals):
    """Allow ``load(weights_only=True)`` to rebuild these classes and name these functions
    (PyTorch's ``torch.serialization.add_safe_globals``): a list of classes or functions, or of
    ``(obj, "module.qualname")`` pairs for one stored under another name."""
    if not isinstance(safe_globals, (list, tuple)):
        raise TypeError("add_safe_globals: expected a list of classes or functions, got a "
                        f"{type(safe_globals).__name__}")
    for g in safe_globals:
        if isinstance(g, tuple) and not (len(g) == 2 and isinstance(g[1], str)):
            raise TypeError(f"add_safe_globals: {g!r} is not a (class or function, "
                            "'module.qualname') pair")
        if g not in _SAFE_GLOBALS:
            _SAFE_GLOBALS.append(g)


def get_safe_globals():
    """What ``add_safe_globals`` allowed, in order."""
    return list(_SAFE_GLOBALS)


def clear_safe_globals():
    """Forget every class and function ``add_safe_globals`` allowed."""
    _SAFE_GLOBALS.clear()


@contextmanager
def safe_globals(safe_globals):
    """``add_safe_globals`` for the ``with`` block only."""
    saved = list(_SAFE_GLOBALS)
    add_safe_globals(safe_globals)
    try:
        yield
    finally:
        _SAFE_GLOBALS[:] = saved


def _dotted(name):
    return name.replace(":", ".")


def _allowed(name):
    """Whether ``load(weights_only=True)`` may import ``name`` ("module:qualname", or a bare
    module name): decided before anything is imported."""
    module, _, qualname = name.partition(":")
    if module == "tensorgrad" or module.startswith("tensorgrad."):
        return True
    for g in _SAFE_GLOBALS:
        if isinstance(g, tuple):
            if _dotted(name) == g[1]:
                return True
        elif isinstance(g, types.ModuleType):
            if not qualname and g.__name__ == module:
                return True
        elif _import_path(g)[0] == name:
            return True
    if module == "builtins":
        return getattr(builtins, qualname, None) in _BUILTIN_TYPES
    if module == "collections":
        return qualname in ("OrderedDict", "defaultdict")
    if module == "numpy" and "." not in qualname:
        found = getattr(np, qualname, None)  # numpy is imported already: looking runs nothing
        return isinstance(found, type) and (issubclass(found, np.generic) or found is np.dtype)
    return False


def _resolve(name, where):
    """The class, function or module ``name`` names, imported."""
    module, _, qualname = name.partition(":")
    try:
        obj = import_module(module)
        for part in qualname.split(".") if qualname else ():
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise ImportError(f"load: {where} names {_dotted(name)}, which cannot be imported here "
                          f"({type(e).__name__}: {e}); import the module that defines it, as "
                          "for any pickled PyTorch object") from None
    return obj


def _import_path(obj):
    """``("module:qualname", None)`` when importing that gives ``obj`` back, else
    ``(None, why not)``."""
    module = getattr(obj, "__module__", None)
    if module is None and isinstance(obj, np.ufunc):
        module = "numpy"
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        return None, "it has no module-level name"
    if "<lambda>" in qualname:
        return None, "a lambda has no import path; use a function defined at module level"
    if "<locals>" in qualname:
        return None, (f"{qualname} is defined inside a function, so it has no import path; "
                      "define it at module level")
    try:
        found = import_module(module)
        for part in qualname.split("."):
            found = getattr(found, part)
    except Exception:  # noqa: BLE001 - any failure means: not importable by that name
        found = None
    if found is not obj:
        return None, f"{module}.{qualname} does not name it"
    return f"{module}:{qualname}", None


# ---- save ---------------------------------------------------------------------------------------
class _ByParam(list):
    """An optimizer's ``state`` ({id(param): buffers}) as (param, buffers) pairs: ids change
    from process to process, the parameters it refers to are stored and rebuilt."""


def _optimizer_state(opt, state):
    params = {id(p): p for g in opt.param_groups for p in g["params"]}
    state = dict(state)
    state["state"] = _ByParam((params[k], v) for k, v in dict.items(opt.state) if k in params)
    for cache in ("_scratch", "_flat"):  # work arrays keyed by id: remade on the next step
        if cache in state:
            state[cache] = {}
    return state


def _child(path, key, attr=False):
    """Where ``key`` of the dict (or, ``attr``, the attribute) at ``path`` is: a Module's
    parameters, buffers and submodules read as written, ``obj.encoder.weight``."""
    if type(key) is not str:
        return f"{path}[{key!r}]"
    for box in ("._modules", "._parameters", "._buffers"):
        if path.endswith(box):
            return f"{path[:-len(box)]}.{key}"
    return f"{path}.{key}" if attr else f"{path}[{key!r}]"


_SAVABLE = ("tensors, arrays, numbers, strings, bytes, None, containers of them, and objects, "
            "classes and functions importable by name (defined at module level) can be saved")
# tensorgrad classes whose instances mean nothing outside the process that made them
_UNSAVABLE = {"tensorgrad.creation:DeviceGeneratorState": (
    "it holds a copy of a GPU generator that only this process can use (CuPy cannot read a "
    "generator's state back); save a CPU generator's state or the seed instead")}


def _refuse(obj, path, why):
    """The TypeError for ``obj`` at ``path`` (``obj.encoder.weight``, ``obj['opt']``): raised
    while encoding, before anything is written."""
    if isinstance(obj, types.FunctionType | types.BuiltinFunctionType | types.MethodType):
        kind = "function" if not isinstance(obj, types.MethodType) else "method"
    elif isinstance(obj, type):
        kind = "class"
    else:
        kind = type(obj).__qualname__
    return TypeError(f"save: cannot store a {kind} at {path}: {why}; {_SAVABLE}")


class _Encoder:
    """``obj`` as JSON nodes and ``.npy`` arrays. The first occurrence of an object with an
    identity (a tensor, an array, a container, an instance) is encoded in full; a later one is a
    ``{"ref": n}`` and its first node gets ``"id": n``. ``load`` walks the nodes in the same
    order, so a ref always comes after the node it names."""

    def __init__(self):
        self.arrays = []
        self.stored = {}  # id(array) -> its entry: tensors sharing an array share it again
        self.memo = {}  # id(obj) -> the node of its first occurrence
        self.keep = []  # everything memo or stored has the id of, alive to the end: ids unique
        self.open = set()  # ids of objects rebuilt only after their contents (tuples, ...)
        self.refs = 0

    def array(self, array, node, key="array", host=None):
        i = self.stored.get(id(array))
        if i is None:
            a = array if host is None else host()
            if a.dtype.hasobject:
                raise TypeError("save: object arrays cannot be stored without pickle")
            i = self.stored[id(array)] = len(self.arrays)
            self.keep.append(array)
            self.arrays.append(a)
        node[key] = i
        node["shape"] = list(self.arrays[i].shape)
        node["dtype"] = self.arrays[i].dtype.str
        return node

    def encode(self, obj, path):
        t = type(obj)
        if obj is None or t in (bool, str, int):
            return {"value": obj}
        if t is float:
            return {"value": obj} if math.isfinite(obj) else {"float": repr(obj)}
        if t is complex:
            return {"complex": [repr(obj.real), repr(obj.imag)]}
        if t is bytes:
            return {"bytes": base64.b64encode(obj).decode("ascii")}
        if isinstance(obj, np.generic):
            return self.array(np.asarray(obj), {}, "scalar")
        if isinstance(obj, np.dtype):
            if obj.fields is not None or obj.subdtype is not None or obj.hasobject:
                raise _refuse(obj, path, f"only plain NumPy dtypes are stored, not {obj}")
            return {"np_dtype": obj.str}
        if t is Device:
            return {"tg_device": str(obj)}
        if t is slice:
            return {"slice": [self.encode(getattr(obj, a), f"{path}.{a}")
                              for a in ("start", "stop", "step")]}
        node = self.memo.get(id(obj))
        if node is not None:
            if id(obj) in self.open:
                raise _refuse(obj, path, "it contains itself, and it is built from its "
                              "contents, which refer back to it")
            if "id" not in node:
                node["id"] = self.refs
                self.refs += 1
            return {"ref": node["id"]}
        node = self.memo[id(obj)] = {}
        self.keep.append(obj)
        node.update(self.fresh(obj, path, node))
        return node

    def items(self, pairs, path, attrs=False):
        out = []
        for k, v in pairs:
            key = self.encode(k, path)
            out.append([key, self.encode(v, _child(path, k, attrs))])
        return out

    def closed(self, obj, make):
        self.open.add(id(obj))
        try:
            return make()
        finally:
            self.open.discard(id(obj))

    def fresh(self, obj, path, node):
        t = type(obj)
        if isinstance(obj, Tensor) and getattr(obj, "is_sparse", False) is True:
            # a sparse COO tensor: its indices and values, rebuilt (and checked) by load
            idx = obj._idx
            return {"sparse_coo": self.array(idx, {}, host=lambda: idx if type(idx) is np.ndarray
                                             else idx.get()),
                    "values": self.array(obj._vals.data, {}, host=obj._vals.numpy),
                    "size": list(obj._size), "coalesced": obj._coal,
                    "requires_grad": bool(obj.requires_grad and obj.is_leaf),
                    "device": str(obj.device)}
        if t.__name__ == "SparseCompressedTensor":  # CSR/CSC: tensorgrad/sparse_compressed
            from .sparse_compressed import _encode as _encode_compressed

            return _encode_compressed(obj, lambda a: self.array(a, {}))
        if isinstance(obj, Tensor):
            return self.array(obj.data, {
                "requires_grad": bool(obj.requires_grad),
                "parameter": t.__name__ == "Parameter", "device": str(obj.device)},
                "tensor", host=obj.numpy)
        if isinstance(obj, _CUPY_ARRAY):
            return self.array(obj, {"device": str(device_of(obj))}, host=obj.get)
        if isinstance(obj, np.ndarray):
            return self.array(obj, {})
        if t is list:
            return {"list": [self.encode(v, f"{path}[{i}]") for i, v in enumerate(obj)]}
        if t is tuple:
            return self.closed(obj, lambda: {"tuple": [self.encode(v, f"{path}[{i}]")
                                                       for i, v in enumerate(obj)]})
        if t is dict:
            return {"dict": self.items(obj.items(), path)}
        if t is collections.OrderedDict:
            out = {"dict": self.items(obj.items(), path), "ordered": True}
            if vars(obj):  # a state dict's _metadata
                out["attrs"] = self.items(vars(obj).items(), path, attrs=True)
            return out
        if t is collections.defaultdict:
            return {"defaultdict": self.encode(obj.default_factory, f"{path}.default_factory"),
                    "items": self.items(obj.items(), path)}
        if t is collections.Counter:  # MultiStepLR's milestones
            return {"counter": self.items(obj.items(), path)}
        if t is set:
            return {"set": [self.encode(v, f"{path}{{}}") for v in obj]}
        if t is frozenset:
            return self.closed(obj, lambda: {"frozenset": [self.encode(v, f"{path}{{}}")
                                                           for v in obj]})
        if t is _ByParam:
            return {"by_param": [[self.encode(p, f"{path}[param {i}]"),
                                  self.encode(v, f"{path}[param {i}]")]
                                 for i, (p, v) in enumerate(obj)]}
        if isinstance(obj, enum.Enum):
            return {"enum": self.name(t, path), "member": self.encode(obj.value, path)}
        if isinstance(obj, types.ModuleType):
            return {"module": obj.__name__}
        if isinstance(obj, types.MethodType) or (
                isinstance(obj, types.BuiltinMethodType)
                and not isinstance(getattr(obj, "__self__", None), (types.ModuleType, type(None)))):
            name = obj.__name__
            try:
                same = getattr(obj.__self__, name) == obj
            except Exception:  # noqa: BLE001
                same = False
            if not same:
                raise _refuse(obj, path, f"its object has no attribute {name!r} that gives "
                              "it back")
            return {"method": self.encode(obj.__self__, f"{path}.__self__"), "name": name}
        if isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType, np.ufunc)):
            return {"global": self.name(obj, path)}
        return self.instance(obj, path)

    def name(self, obj, path):
        name, why = _import_path(obj)
        if name is None:
            raise _refuse(obj, path, f"{getattr(obj, '__qualname__', obj)!r}: {why}")
        return name

    def instance(self, obj, path):
        cls = type(obj)
        why = _UNSAVABLE.get(f"{cls.__module__}:{cls.__qualname__}")
        if why is None and cls.__module__ == "builtins":
            why = f"a builtin {cls.__qualname__} is not one of the builtin types stored"
        if why is not None:
            raise _refuse(obj, path, why)
        try:
            reduced = obj.__reduce_ex__(2)
        except Exception as e:  # noqa: BLE001 - socket, lock, generator, file: C-level state
            raise _refuse(obj, path, "its class refuses to be serialized, or it holds state "
                          f"that is not Python attributes ({type(e).__name__}: {e})") from None
        if isinstance(reduced, str):  # a module-level singleton (memory formats): by name
            module = getattr(obj, "__module__", None) or cls.__module__
            name = f"{module}:{reduced}"
            if _import_path(obj)[0] != name:
                try:
                    ok = _resolve(name, "save") is obj
                except ImportError:
                    ok = False
                if not ok:
                    raise _refuse(obj, path, f"its __reduce__ names {_dotted(name)}, which "
                                  "does not give it back")
            return {"global": name}
        if not (isinstance(reduced, tuple) and 2 <= len(reduced) <= 6
                and reduced[0] is copyreg.__newobj__ and reduced[1]
                and reduced[1][0] is cls):
            raise _refuse(obj, path, "it pickles itself through its own __reduce__, which "
                          "would run code at load; only objects rebuilt as cls.__new__(cls) "
                          "plus their state (__dict__, __slots__ or __getstate__) are stored")
        _, args, state, listitems, dictitems = (tuple(reduced) + (None,) * 3)[:5]
        node = {"object": self.name(cls, path)}
        if len(args) > 1:  # __getnewargs__ (namedtuples): rebuilt before anything refers to it
            node["args"] = self.closed(obj, lambda: [self.encode(a, f"{path}.<arg {i}>")
                                                     for i, a in enumerate(args[1:])])
        if listitems is not None:
            node["listitems"] = [self.encode(v, f"{path}[{i}]")
                                 for i, v in enumerate(listitems)]
        if dictitems is not None:
            node["dictitems"] = self.items(dictitems, path)
        from .optim.optimizer import Optimizer

        if isinstance(obj, Optimizer) and type(state) is dict and "state" in state:
            state = _optimizer_state(obj, state)
        if state is not None:
            node["state"] = self.state(state, path)
        return node

    def state(self, state, path):
        """An object's state: its ``__dict__`` (not memoised: it is rebuilt into the new
        object's own), ``(dict, slots)`` as object.__getstate__ gives it, or anything."""
        if type(state) is dict:
            return {"dict": self.items(state.items(), path, attrs=True)}
        if type(state) is tuple and len(state) == 2 and all(
                s is None or type(s) is dict for s in state):
            return {"tuple": [{"value": None} if s is None else self.state(s, path)
                              for s in state]}
        return self.encode(state, path)


def _write(f, structure, arrays):
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as z:
        z.writestr("structure.json", json.dumps(structure))
        for i, a in enumerate(arrays):
            with z.open(f"{i}.npy", "w", force_zip64=True) as entry:
                np.lib.format.write_array(entry, a if a.flags.c_contiguous else
                                          np.ascontiguousarray(a),
                                          allow_pickle=False)


def save(obj, path, pickle_module=None, pickle_protocol=2, _use_new_zipfile_serialization=True,
         *, format="tensorgrad"):
    """Write ``obj`` to ``path`` atomically: a crash leaves the old file or none, never half of
    the new one. ``path`` may also be a writable binary file object (``io.BytesIO``, an open
    file), as PyTorch's ``f``; then the archive is written at its current position.

    ``obj`` may be a whole object (a Module, an optimizer, a dict of them, a user class's
    instance): its class and the functions it refers to are stored by import path, its state
    recursively (see the module docstring). Something that cannot be stored (a socket, a
    generator, a lambda or local function, say in a hook) is a ``TypeError`` naming where it
    is (``obj.encoder._forward_hooks[0]``), raised before anything is written.

    ``format="torch"`` writes PyTorch's ``torch.save`` zip format instead, which
    ``torch.load(path, weights_only=True)`` reads: only tensors (Parameters stay Parameters;
    NumPy/CuPy arrays become tensors), dicts, OrderedDicts, lists, tuples, str, int, float,
    bool and None (anything else is a ``TypeError`` naming where it is). Tensors on a GPU are
    written as CPU tensors (their bytes copied to the host), so the file loads anywhere;
    ``.to(device)`` or ``load_state_dict`` into a model on the GPU puts them back there.

    PyTorch's ``pickle_module``, ``pickle_protocol`` and ``_use_new_zipfile_serialization``
    are accepted for its signature and change nothing: tensorgrad's format never pickles (a
    module other than ``pickle`` is refused, since it would be silently unused), PyTorch's is
    always written as a protocol-2 zip archive."""
    _refuse_pickle_module("save", pickle_module)
    if format == "torch":
        from ._torch_format import prepare

        write = prepare(obj)  # fails before any write
    elif format == "tensorgrad":
        enc = _Encoder()
        structure = {"format": FORMAT, "root": enc.encode(obj, "obj")}  # fails before any write
        write = lambda f: _write(f, structure, enc.arrays)
    else:
        raise ValueError(f"save: format must be 'tensorgrad' or 'torch', got {format!r}")
    if not isinstance(path, (str, bytes, os.PathLike)) and hasattr(path, "write"):
        write(path)
        return
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".tg", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
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


def _nodes(root):
    """Every node of a description, walked without recursion."""
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            yield node
            stack.extend(v for v in node.values() if isinstance(v, (list, dict)))


def _check_devices(root, place, path):
    """Refuse, before anything is built, a file whose tensors would land on a missing GPU."""
    if cuda_available():
        return
    for node in _nodes(root):
        if "device" in node and place(node["device"]).type == "cuda":
            raise RuntimeError(f"load: {path} holds tensors saved on {node['device']}, and CUDA "
                               "is not available here; pass map_location='cpu' to load them on "
                               "the CPU")


def _globals_in(root):
    """The classes, functions and modules a description names, in order, each once."""
    names = {}
    for node in _nodes(root):
        for key in ("object", "global", "enum", "module"):
            if key in node:
                if not isinstance(node[key], str):
                    raise ValueError(f"a {key} entry names {node[key]!r}")
                names[node[key]] = None
    return list(names)


def _refuse_unsafe(root, path):
    unsafe = [n for n in _globals_in(root) if not _allowed(n)]
    if unsafe:
        shown = ", ".join(_dotted(n) for n in unsafe)
        first = _dotted(unsafe[0]).rpartition(".")[2] or _dotted(unsafe[0])
        raise pickle.UnpicklingError(
            f"load: weights only load of {path} failed: it holds {shown}, which "
            f"weights_only=True does not rebuild by default (only tensorgrad's own classes, "
            f"builtin and NumPy types and allowed globals). If you trust this file, allow "
            f"{'it' if len(unsafe) == 1 else 'them'} with "
            f"`tg.serialization.add_safe_globals([{first}, ...])` or the "
            f"`tg.serialization.safe_globals([{first}, ...])` context manager, or pass "
            f"weights_only=False (which imports any class the file names: only for files you "
            f"trust)")


def get_unsafe_globals_in_checkpoint(f):
    """The classes and functions (``"module.qualname"``) ``f`` names that
    ``load(f, weights_only=True)`` would refuse now (PyTorch's), read without importing
    anything."""
    try:
        with zipfile.ZipFile(f, "r") as z:
            root = _read(z, f)["root"]
            return [_dotted(n) for n in _globals_in(root) if not _allowed(n)]
    except _DAMAGE as e:
        if isinstance(e, ValueError) and str(e).startswith("load: "):
            raise
        raise _not_a_checkpoint(f, f"{type(e).__name__}: {e}") from e


class _Decoder:
    """Builds what ``_Encoder`` described, in the same order. A mutable object is registered
    under its ``id`` before its contents are built (so they may refer back to it); a tuple,
    frozenset or object built from arguments after."""

    def __init__(self, arrays, place, where):
        self.arrays = arrays
        self.place = place
        self.where = where
        self.built = {}
        self.on_device = {}  # (entry, device) -> array: tensors that shared one share it again

    def put(self, node, key, device):
        arr = self.arrays(node, key)
        k = (node[key], str(device))
        if k not in self.on_device:
            self.on_device[k] = device.put(arr)
        return self.on_device[k]

    def keep(self, node, obj):
        if "id" in node:
            self.built[node["id"]] = obj
        return obj

    def items(self, pairs):
        for k, v in pairs:
            yield self.decode(k), self.decode(v)

    def decode(self, node):
        if "ref" in node:
            if node["ref"] not in self.built:
                raise ValueError(f"a reference to entry {node['ref']!r}, which is not built yet")
            return self.built[node["ref"]]
        if "value" in node:
            value = node["value"]
            if value is not None and not isinstance(value, (bool, int, float, str)):
                raise ValueError(f"a value entry holds a {type(value).__name__}")
            return value
        if "float" in node:
            return float(node["float"])
        if "complex" in node:
            return complex(*(float(x) for x in node["complex"]))
        if "bytes" in node:
            return base64.b64decode(node["bytes"].encode("ascii"), validate=True)
        if "np_dtype" in node:
            return np.dtype(node["np_dtype"])
        if "tg_device" in node:
            return Device(node["tg_device"])
        if "slice" in node:
            return slice(*(self.decode(v) for v in node["slice"]))
        if "scalar" in node:
            return self.arrays(node, "scalar")[()]
        return self.keep(node, self.build(node))

    def build(self, node):
        from .nn.modules import Parameter

        if "list" in node:
            out = self.keep(node, [])
            out.extend(self.decode(v) for v in node["list"])
            return out
        if "tuple" in node:
            return tuple(self.decode(v) for v in node["tuple"])
        if "dict" in node:
            out = self.keep(node, collections.OrderedDict() if node.get("ordered") is True
                            else {})
            out.update(self.items(node["dict"]))
            for k, v in self.items(node.get("attrs", ())):
                setattr(out, k, v)
            return out
        if "defaultdict" in node:
            out = self.keep(node, collections.defaultdict())
            out.default_factory = self.decode(node["defaultdict"])
            out.update(self.items(node["items"]))
            return out
        if "counter" in node:
            out = self.keep(node, collections.Counter())
            dict.update(out, self.items(node["counter"]))  # Counter.update would count pairs
            return out
        if "set" in node:
            out = self.keep(node, set())
            out.update(self.decode(v) for v in node["set"])
            return out
        if "frozenset" in node:
            return frozenset(self.decode(v) for v in node["frozenset"])
        if "by_param" in node:
            return {id(p): v for p, v in self.items(node["by_param"])}
        if "global" in node:
            return _resolve(node["global"], self.where)
        if "module" in node:
            obj = _resolve(node["module"], self.where)
            if not isinstance(obj, types.ModuleType):
                raise ValueError(f"{node['module']} is not a module")
            return obj
        if "enum" in node:
            cls = _resolve(node["enum"], self.where)
            if not (isinstance(cls, type) and issubclass(cls, enum.Enum)):
                raise ValueError(f"{_dotted(node['enum'])} is not an Enum")
            return cls(self.decode(node["member"]))
        if "method" in node:
            return getattr(self.decode(node["method"]), node["name"])
        if "object" in node:
            return self.instance(node)
        device = self.place(node.get("device", "cpu"))
        if "sparse_coo" in node:
            from .sparse import _check_coalesced, sparse_coo_tensor

            size = node["size"]
            if not isinstance(size, list) or not all(type(n) is int for n in size):
                raise ValueError(f"a sparse entry's size is {size!r}")
            s = sparse_coo_tensor(self.put(node["sparse_coo"], "array", device),
                                  self.put(node["values"], "array", device), size,
                                  is_coalesced=node["coalesced"] is True)
            _check_coalesced(s, "load")
            return s.requires_grad_() if node["requires_grad"] is True else s
        if "sparse_compressed" in node:
            from .sparse_compressed import _decode as _decode_compressed

            return _decode_compressed(node, lambda key: self.put(node[key], "array", device))
        if "tensor" in node:
            arr = self.put(node, "tensor", device)
            if node.get("parameter"):
                return Parameter(arr, requires_grad=node["requires_grad"])
            t = _new_tensor(arr, None, False)
            if node["requires_grad"]:
                t.requires_grad_()
            return t
        if "array" in node:
            return self.put(node, "array", device)
        raise ValueError(f"unknown entry {sorted(node)}")

    def instance(self, node):
        cls = _resolve(node["object"], self.where)
        if not isinstance(cls, type):
            raise ValueError(f"{_dotted(node['object'])} is not a class")
        if "args" in node:
            obj = cls.__new__(cls, *[self.decode(a) for a in node["args"]])
        else:
            obj = cls.__new__(cls)
        self.keep(node, obj)
        for v in node.get("listitems", ()):
            obj.append(self.decode(v))
        for k, v in self.items(node.get("dictitems", ())):
            obj[k] = v
        if "state" in node:
            state = self.decode(node["state"])
            setstate = getattr(cls, "__setstate__", None)
            if setstate is not None:
                setstate(obj, state)
            else:  # pickle's default: the __dict__, then the __slots__ values
                slots = None
                if type(state) is tuple and len(state) == 2:
                    state, slots = state
                if state:
                    obj.__dict__.update(state)
                for k, v in (slots or {}).items():
                    setattr(obj, k, v)
        from .optim.optimizer import Optimizer, _hooked_step

        if isinstance(obj, Optimizer) and not getattr(cls.step, "hooked", False):
            cls.step = _hooked_step(cls.step)  # as Optimizer.__init__ does for its class
        return obj


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
    if structure.get("format") not in _READABLE:
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
    the saved name, as PyTorch's) says otherwise, for every tensor inside saved objects too.

    ``weights_only`` (PyTorch 2.6+'s meaning; None is True): True rebuilds only tensorgrad's
    classes, builtin and NumPy types and those allowed with
    ``tg.serialization.add_safe_globals``/``safe_globals``; any other class or function the
    file names is a ``pickle.UnpicklingError`` naming it, raised before anything is imported.
    False imports every class and function the file names (``ImportError`` where one is
    missing) and rebuilds the objects with ``cls.__new__`` and their state: use it only for
    files you trust, as with PyTorch.
    ``mmap`` (a bool) is accepted and reads the same: the arrays are read whole from the
    (compressed) archive. ``pickle_module`` other than ``pickle`` is refused: nothing is
    unpickled.

    A file PyTorch's ``torch.save`` wrote (its zip format, PyTorch 1.6+) is read as weights
    only, whatever ``weights_only`` says: tensors (``tg.nn.Parameter`` for Parameters, with
    ``requires_grad`` as saved; bfloat16 widened exactly to float32, with a warning), dicts,
    OrderedDicts, lists, tuples, numbers and strings; a pickled module or any other object is
    a ``pickle.UnpicklingError`` (save a state_dict instead), raised before anything is
    imported or called. PyTorch's legacy non-zip format is a ``ValueError`` saying to re-save.

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
    from . import _torch_format

    legacy = _torch_format.legacy_error(_torch_format.peek(path), _name(path))
    if legacy is not None:
        raise legacy
    try:
        with zipfile.ZipFile(path, "r") as z:
            names = z.namelist()
            top = None if "structure.json" in names else _torch_format.prefix(names)
            if top is not None:  # PyTorch's torch.save format
                return _torch_format.read(z, top, place, _name(path))
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
            if weights_only is not False:
                _refuse_unsafe(structure["root"], _name(path))
            return _Decoder(arrays, place, _name(path)).decode(structure["root"])
    except _DAMAGE as e:
        if isinstance(e, ValueError) and str(e).startswith(f"load: {_name(path)} "):
            raise
        why = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        raise _not_a_checkpoint(path, why) from e
