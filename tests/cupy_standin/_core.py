"""The stand-in's array type, its device bookkeeping, and the generic delegation to NumPy.

Everything here follows CuPy's own rules where CPU-only code goes wrong on a GPU (see
``cupy/_core/core.pyx``, ``_kernel.pyx`` and ``_scalar.pyx`` of CuPy 14): no implicit host
conversion, no NumPy arrays among the operands of a kernel, arrays on one device only.
"""

import collections
import ctypes
import functools
import inspect
import json
import keyword
import os
import threading
import warnings
import weakref

import numpy as np

from . import _sync

N_DEVICES = 2

# CuPy: `_scalar.scalar_type_set`: Python scalars and NumPy scalars of the dtypes CuPy supports
_PY_SCALARS = (int, float, bool, complex)
_PY_SCALAR_TYPES = frozenset(_PY_SCALARS)

IMPLICIT_MSG = ("Implicit conversion to a NumPy array is not allowed. "
                "Please use `.get()` to construct a NumPy array explicitly.")


# ------------------------------------------------------------------------------------------
# devices: per thread, as CUDA's current device is (streams: _cuda.py)


class _Local(threading.local):
    def __init__(self):
        self.device = 0
        self.device_stack = []


_local = _Local()


def current_device():
    return _local.device


def device_mismatch(array_dev, current):
    # CuPy: cupy/_core/_kernel.pyx `_check_peer_access`, on a machine without peer access
    return ValueError(
        f"The device where the array resides ({array_dev}) is different from the current "
        f"device ({current}). Peer access is unavailable between these devices.")


def check_devices(arrays, current=None):
    cur = _local.device if current is None else current
    for s in arrays:
        if s._dev != cur:
            raise device_mismatch(s._dev, cur)
    return cur


def _supported_dtype(dt):
    kind = dt.kind
    if kind in "biu":
        return True
    if kind == "f":
        return dt.itemsize <= 8
    if kind == "c":
        return dt.itemsize <= 16
    return False


def check_dtype(dt):
    if not _supported_dtype(dt):
        raise ValueError(f"Unsupported dtype {dt}")


# weak references to the arrays made, for MemoryPool.used_bytes(); dead ones are dropped
# now and then
_live = collections.deque()  # grows by small blocks: no large reallocation at a random moment
_live_limit = [100_000]
_alloc_hook = [None]  # _cuda._on_alloc while a cupy.cuda.MemoryHook is registered


def _track(obj):
    _live.append(weakref.ref(obj))
    if len(_live) > _live_limit[0]:
        alive = [r for r in _live if r() is not None]
        _live.clear()
        _live.extend(alive)
        _live_limit[0] = max(100_000, 2 * len(_live))
    if _alloc_hook[0] is not None:
        _alloc_hook[0](obj)


def new(a, dev):
    """A stand-in array over the NumPy array ``a``, on device ``dev`` (no checks)."""
    obj = object.__new__(ndarray)
    obj._a = a
    obj._dev = dev
    obj._base = None
    _track(obj)
    return obj


def used_bytes(device):
    seen = {}
    for ref in list(_live):
        s = ref()
        if s is None or s._dev != device:
            continue
        root = s._a.base if s._a.base is not None else s._a
        if isinstance(root, np.ndarray):
            seen[id(root)] = root.nbytes
        else:
            seen[id(root)] = s._a.nbytes
    return sum(seen.values())


# ------------------------------------------------------------------------------------------
# unwrap arguments, wrap results


def unsupported(x):
    return TypeError(f"Unsupported type {type(x)}")


def unwrap(obj, found, allow_host=False):
    """``obj`` with stand-in arrays replaced by their NumPy arrays (collected in ``found``);
    NumPy arrays are refused unless ``allow_host``. Recurses into lists, tuples and dicts."""
    t = type(obj)
    if t is ndarray:
        found.append(obj)
        return obj._a
    if t is np.ndarray:
        if allow_host:
            return obj
        raise unsupported(obj)
    if t is list or t is tuple:
        if not obj:
            return obj
        return t([unwrap(o, found, allow_host) for o in obj])
    if t is dict:
        return {k: unwrap(v, found, allow_host) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):  # a NumPy subclass (matrix, memmap, masked array)
        if allow_host:
            return obj
        raise unsupported(obj)
    return obj


def _cai_indices(key):
    """CuPy's ``_prepare_slice_list``: an index array of another library on the GPU (an object
    with ``__cuda_array_interface__``, such as a CUDA tensor) is taken as a CuPy array over its
    memory (``core.array(s, copy=False)``), not refused."""
    def one(s):
        if type(s) is not ndarray and not isinstance(s, np.ndarray) and \
                hasattr(s, "__cuda_array_interface__"):
            return from_cuda_array_interface(s)
        return s

    return tuple(one(s) for s in key) if type(key) is tuple else one(key)


def _root(a):
    b = a.base
    return a if b is None else b


def wrap(res, found, dev):
    """Results of a NumPy call as stand-in arrays on ``dev``. A result that is one of the
    inputs is that input; a view of an input keeps the input's device and base."""
    t = type(res)
    if t is np.ndarray:
        for s in found:
            if res is s._a:
                return s
        check_dtype(res.dtype)
        b = res.base
        if b is not None:
            for s in found:
                if b is s._a or b is _root(s._a):
                    out = new(res, s._dev)
                    out._base = s if s._base is None else s._base
                    return out
        return new(res, dev)
    if isinstance(res, np.generic):
        check_dtype(res.dtype)
        return new(np.array(res), dev)
    if t is tuple or t is list:
        return t([wrap(r, found, dev) for r in res])
    if isinstance(res, tuple) and hasattr(res, "_fields"):  # a named tuple (SVDResult, ...)
        return type(res)(*[wrap(r, found, dev) for r in res])
    return res


# names whose result is a view or metadata: no kernel runs, so CuPy checks no device
VIEW_FUNCTIONS = frozenset("""
ndim shape size result_type may_share_memory shares_memory isscalar iscomplexobj isrealobj
can_cast min_scalar_type common_type reshape ravel transpose swapaxes moveaxis rollaxis squeeze
expand_dims broadcast_to broadcast_arrays atleast_1d atleast_2d atleast_3d real imag diagonal
permute_dims matrix_transpose get_array_module asnumpy as_strided sliding_window_view
""".split())


# functions real CuPy (14.2, checked on a GPU) lets take NumPy arrays: they read only the
# metadata, or copy host indices/prototypes to the device themselves
HOST_OK_FUNCTIONS = frozenset("""
result_type can_cast min_scalar_type common_type ndim shape size isscalar iscomplexobj
isrealobj empty_like zeros_like ones_like full_like take put
""".split())
# functions that return a 0-d device array where NumPy returns a Python bool
BOOL_TO_ARRAY = frozenset(["array_equal", "array_equiv", "allclose"])


# ------------------------------------------------------------------------------------------
# CuPy's call signatures (``cupy_signatures.json``, written by ``gen_signatures.py``)

SIGNATURES_FILE = os.path.join(os.path.dirname(__file__), "cupy_signatures.json")


@functools.lru_cache(maxsize=1)
def _signatures():
    with open(SIGNATURES_FILE) as f:
        return json.load(f)


_UNSET = object()


@functools.cache
def signature_checker(group, name):
    """A function with the parameters of CuPy's ``group.name`` (``group`` a module name, or a
    class: ``"ndarray"``, ``"ufunc"``, ``"cupy.random.Generator"``, ...), or None where CuPy's
    are unknown. Called with a call's arguments, it returns those given, by name, or raises
    CuPy's ``TypeError`` for a keyword CuPy's function does not take, a missing argument, or
    too many positional ones."""
    sigs = _signatures()
    table = sigs["methods"].get(group) or sigs["modules"].get(group)
    text = None if table is None else table.get(name)
    if text is None:
        return None
    fname = name if name.isidentifier() and not keyword.iskeyword(name) else "function"
    namespace = {"_D": _UNSET}
    exec(f"def {fname}({text.replace('...', '_D')}):\n    return locals()", namespace)
    checker = namespace[fname]

    def check(*args, **kwargs):
        """The arguments given, by CuPy's parameter names."""
        try:
            return {k: v for k, v in checker(*args, **kwargs).items() if v is not _UNSET}
        except TypeError as e:
            raise TypeError(f"{e} (CuPy {sigs['cupy_version']} has {group}.{name}({text}))") \
                from None

    check.params = parameters(checker)
    return check


def parameters(fn):
    """``fn``'s parameters as ``(name, kind, has_default)``, or None where Python can't tell."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    return [(p.name, p.kind, p.default is not p.empty) for p in sig.parameters.values()]


def _keywords_of(name, allowed, message):
    def rule(args, kwargs):
        extra = sorted(set(kwargs) - allowed)
        if extra:
            raise TypeError(message.format(name=name, extra=extra, first=extra[0]))
    return rule


# keywords taken by CuPy's pad, per mode (``cupy/_padding/pad.py``: no 'median')
_PAD_KEYWORDS = {"empty": (), "edge": (), "wrap": (), "constant": ("constant_values",),
                 "linear_ramp": ("end_values",), "maximum": ("stat_length",),
                 "mean": ("stat_length",), "minimum": ("stat_length",),
                 "reflect": ("reflect_type",), "symmetric": ("reflect_type",)}


def _pad_keywords(args, kwargs):
    mode = args[2] if len(args) > 2 else kwargs.get("mode", "constant")
    if callable(mode):
        return
    if mode not in _PAD_KEYWORDS:
        raise ValueError(f"mode '{mode}' is not supported")
    extra = set(kwargs) - {"mode"} - set(_PAD_KEYWORDS[mode])
    if extra:
        raise ValueError(f"unsupported keyword arguments for mode '{mode}': {extra}")


# CuPy functions declared ``(..., **kwargs)`` that refuse keywords in their bodies
KEYWORD_RULES = {
    "einsum": _keywords_of("einsum", {"dtype", "optimize"},
                           "Did not understand the following kwargs: {extra}"),
    "meshgrid": _keywords_of("meshgrid", {"indexing", "copy", "sparse"},
                             "meshgrid() got an unexpected keyword argument '{first}'"),
    "pad": _pad_keywords,
}


def make_function(np_func, name, module, allow_host=False, check=True):
    """``module.name`` of the stand-in: ``np_func`` on unwrapped arguments, results wrapped."""
    if name in VIEW_FUNCTIONS:
        check = False
    if module == "cupy" and name in HOST_OK_FUNCTIONS:
        allow_host = True
    if module == "cupy" and name in BOOL_TO_ARRAY:
        plain = np_func

        def np_func(*args, **kwargs):
            return np.bool_(plain(*args, **kwargs))

    signature = signature_checker(module, name)
    keywords = KEYWORD_RULES.get(name) if module == "cupy" else None
    sync = None
    if module == "cupy" and name in _sync.DATA_DEPENDENT:
        sync = f"cupy.{name}"
    elif module == "cupy" and name in ("where", "repeat"):
        sync = f"cupy.{name}"  # only for where(condition) and repeat(a, device_array)

    def fn(*args, **kwargs):
        if signature is not None:
            given = signature(*args, **kwargs)
            if name in _SORTS and module == "cupy":
                _check_sort_kind(given)
        if keywords is not None:
            keywords(args, kwargs)
        if sync is not None and _sync._watchers and _data_dependent_call(name, args, kwargs):
            _sync.note(sync)
        found = []
        if args:
            args = unwrap(args, found, allow_host)
        if kwargs:
            kwargs = unwrap(kwargs, found, allow_host)
        cur = _local.device
        if check:
            for s in found:
                if s._dev != cur:
                    raise device_mismatch(s._dev, cur)
        return wrap(np_func(*args, **kwargs), found, cur)

    fn.__name__ = name
    fn.__qualname__ = name
    fn.__module__ = module
    fn.__doc__ = f"stand-in for {module}.{name}: {getattr(np_func, '__module__', '?')}." \
                 f"{getattr(np_func, '__name__', name)} on the device's data"
    fn.__wrapped_standin__ = np_func
    fn.__cupy_signature__ = signature
    return fn


_SORTS = frozenset(["sort", "argsort"])


def _check_sort_kind(given):
    """CuPy sorts stably only (``core.pyx`` ``_check_kind_sort``): any other ``kind`` raises."""
    kind = given.get("kind")
    if kind is not None and kind != "stable":
        raise ValueError("kind can only be None or 'stable'")


def _data_dependent_call(name, args, kwargs):
    """Whether this call of a name that may synchronise does (``where`` with one argument,
    ``repeat`` with device-array repeats; the other names always do)."""
    if name == "where":
        return len(args) + len(kwargs) == 1
    if name == "repeat":
        reps = args[1] if len(args) > 1 else kwargs.get("repeats")
        return type(reps) is ndarray
    return True


# ------------------------------------------------------------------------------------------
# ufuncs

_COMPARISONS = frozenset(["greater", "greater_equal", "less", "less_equal", "equal",
                          "not_equal"])


def _is_scalar(x):
    return type(x) in _PY_SCALAR_TYPES or (isinstance(x, np.generic)
                                            and _supported_dtype(x.dtype))


def _ufunc_keywords(kwargs):
    """CuPy's ufunc ``__call__`` takes ``out``, ``dtype`` and ``casting`` only
    (``_kernel.pyx``: no ``where``, ``order`` or ``subok``)."""
    extra = kwargs.keys() - {"out", "dtype", "casting"}
    if extra:
        raise TypeError("Wrong arguments %s" % {k: kwargs[k] for k in sorted(extra)})


class ufunc:
    """A CuPy ufunc over a NumPy (or SciPy) ufunc: array operands must be device arrays of the
    current device, or scalars (CuPy's ``_kernel._preprocess_args``)."""

    def __init__(self, np_ufunc, name, module="cupy"):
        self._np = np_ufunc
        self.__name__ = name
        self.name = name
        self.__module__ = module
        self.__doc__ = np_ufunc.__doc__

    def __repr__(self):
        return f"<ufunc '{self.__name__}'>"

    @property
    def nin(self):
        return self._np.nin

    @property
    def nout(self):
        return self._np.nout

    @property
    def nargs(self):
        return self._np.nargs

    @property
    def types(self):
        return self._np.types

    @property
    def identity(self):
        return self._np.identity

    @staticmethod
    def _operand(x, found):
        if type(x) is ndarray:
            found.append(x)
            return x._a
        if _is_scalar(x):
            return x
        raise unsupported(x)

    @staticmethod
    def _output(o, found):
        if o is None:
            return None
        if type(o) is not ndarray:
            raise TypeError("Output arguments must be cupy.ndarray")
        found.append(o)
        return o._a

    def _outs(self, kwargs, found):
        out = kwargs.get("out")
        if out is None:
            return
        if type(out) is tuple:
            kwargs["out"] = tuple(self._output(o, found) for o in out)
        else:
            kwargs["out"] = self._output(out, found)

    def __call__(self, *args, **kwargs):
        _ufunc_keywords(kwargs)
        nin = self._np.nin
        if len(args) > nin:
            if "out" in kwargs:
                raise TypeError("cannot specify 'out' as both a positional and keyword argument")
            outs = args[nin:]
            kwargs["out"] = outs if len(outs) > 1 else outs[0]
            args = args[:nin]
        if len(args) != nin:
            raise TypeError(f"Wrong number of arguments for {self.__name__}")
        found = []
        ins = [self._operand(a, found) for a in args]
        self._outs(kwargs, found)
        cur = check_devices(found)
        with np.errstate(all="ignore"):  # a GPU raises no floating-point flags: CuPy never warns
            return wrap(self._np(*ins, **kwargs), found, cur)

    def outer(self, A, B, **kwargs):
        _ufunc_keywords(kwargs)
        found = []
        ins = [self._operand(A, found), self._operand(B, found)]
        self._outs(kwargs, found)
        cur = check_devices(found)
        return wrap(self._np.outer(*ins, **kwargs), found, cur)

    def _reduction(self, method, array, args, kwargs):
        signature_checker("ufunc", method)(array, *args, **kwargs)
        found = []
        if type(array) is not ndarray:
            raise unsupported(array)
        found.append(array)
        self._outs(kwargs, found)
        args = unwrap(args, found)
        cur = check_devices(found)
        return wrap(getattr(self._np, method)(array._a, *args, **kwargs), found, cur)

    def reduce(self, array, *args, **kwargs):
        return self._reduction("reduce", array, args, kwargs)

    def accumulate(self, array, *args, **kwargs):
        return self._reduction("accumulate", array, args, kwargs)

    def reduceat(self, array, *args, **kwargs):
        return self._reduction("reduceat", array, args, kwargs)

    def at(self, a, indices, b=None):
        if type(a) is not ndarray:
            raise unsupported(a)
        if self._np.__name__ not in _AT_DTYPES:
            raise NotImplementedError(f"`cupy_{self._np.__name__}.at` is not supported yet")
        _check_atomic(self._np.__name__, a.dtype)
        found = [a]
        idx = unwrap(indices, found, allow_host=True)  # CuPy copies host indices
        if b is not None:
            b = self._operand(b, found)
        check_devices(found)
        if b is None:
            self._np.at(a._a, idx)
        else:
            _atomic_at(self._np, a._a, idx, b)


def _atomic_at(np_ufunc, a, idx, b):
    """``np_ufunc.at(a, idx, b)`` as CuPy's atomics compute it. CuPy 14's float ``atomicMax``/
    ``atomicMin`` (``cupy/_core/include/cupy/atomics.cuh`` lines 62-117) are CAS loops over
    ``fmaxf``/``fminf``: NaN is skipped (C's fmax), and the double overloads call the float
    functions too, so every float64 element they touch is stored rounded to float32 (and
    beyond float32's range becomes inf)."""
    name = np_ufunc.__name__
    if name not in ("maximum", "minimum") or a.dtype.kind != "f":
        np_ufunc.at(a, idx, b)
        return
    c_ufunc = np.fmax if name == "maximum" else np.fmin
    if a.dtype != np.float64:
        c_ufunc.at(a, idx, b)
        return
    touched = np.zeros(a.shape, dtype=bool)
    touched[idx] = True
    work = a.copy()
    c_ufunc.at(work, idx, b)
    with np.errstate(over="ignore"):
        a[touched] = work[touched].astype(np.float32).astype(np.float64)


def _check_atomic(ufunc_name, dtype):
    """CuPy 14 (_routines_indexing.pyx ``_scatter_op``, behind both ``ufunc.at`` and
    ``cupyx.scatter_*``): each op for the dtypes its atomics cover, checked on the target's."""
    kinds = _AT_DTYPES[ufunc_name]
    if dtype.name not in kinds:
        raise TypeError(f"cupy.{ufunc_name}.at only supports {', '.join(kinds)} as data type")


_AT_INTS = ("int32", "int64", "uint32", "uint64")
_AT_DTYPES = {"add": _AT_INTS + ("float16", "float32", "float64"),
              "subtract": ("int32", "uint32"),
              "maximum": _AT_INTS + ("float32", "float64"),
              "minimum": _AT_INTS + ("float32", "float64"),
              "bitwise_and": _AT_INTS, "bitwise_or": _AT_INTS, "bitwise_xor": _AT_INTS}


# ------------------------------------------------------------------------------------------
# the array type


class _Flags:
    __slots__ = ("c_contiguous", "f_contiguous", "owndata")

    def __init__(self, c, f, own):
        self.c_contiguous = c
        self.f_contiguous = f
        self.owndata = own

    def __getitem__(self, key):
        return {"C_CONTIGUOUS": self.c_contiguous, "F_CONTIGUOUS": self.f_contiguous,
                "OWNDATA": self.owndata}[key]

    def __repr__(self):
        return (f"  C_CONTIGUOUS : {self.c_contiguous}\n  F_CONTIGUOUS : {self.f_contiguous}\n"
                f"  OWNDATA : {self.owndata}")


class _Memory:
    """``x.data.mem``: the allocation a pointer points into; ``ptr`` is its start."""

    def __init__(self, owner):
        self.owner = owner
        a = getattr(owner, "_a", None)
        self.ptr = a.__array_interface__["data"][0] if a is not None and a.size else 0


class MemoryPointer:
    """``x.data``: the device pointer (here: the host address of the NumPy buffer)."""

    def __init__(self, ptr, device_id, owner=None):
        self.ptr = ptr
        self.device_id = device_id
        self.mem = _Memory(owner)  # the allocation, as CuPy's ``.mem`` (its start: ``.ptr``)

    @property
    def device(self):
        from . import _cuda

        return _cuda.Device(self.device_id)

    def __int__(self):
        return self.ptr

    def __repr__(self):
        return f"<MemoryPointer 0x{self.ptr:x} device={self.device_id}>"


class _Flat:
    def __init__(self, arr):
        self._arr = arr

    def __getitem__(self, idx):
        found = [self._arr]
        idx = unwrap(idx, found, allow_host=True)
        cur = check_devices(found)
        return wrap(self._arr._a.flat[idx], found, cur)

    def __setitem__(self, idx, value):
        found = [self._arr]
        idx = unwrap(idx, found, allow_host=True)
        value = unwrap(value, found, allow_host=True)
        check_devices(found)
        self._arr._a.flat[idx] = value

    def __len__(self):
        return self._arr.size

    def __iter__(self):
        return (self[i] for i in range(self._arr.size))


def _should_use_rop(x, y):
    # CuPy: core.pyx `_should_use_rop`
    y_ufunc = getattr(y, "__array_ufunc__", _should_use_rop)
    if y_ufunc is not _should_use_rop:
        return y_ufunc is None
    return getattr(x, "__array_priority__", 0) < getattr(y, "__array_priority__", 0)


def _ufunc_of(name):
    from ._modules import modules

    return getattr(modules()["cupy"], name)


@functools.cache
def _cached_ufunc(name):
    return _ufunc_of(name)


def _binary(name, np_ufunc):
    def op(self, other):
        if type(other) is ndarray or _is_scalar(other):
            return _cached_ufunc(name)(self, other)
        if _should_use_rop(self, other):
            return NotImplemented
        return np_ufunc(self, other)  # NumPy's dispatch: __array_ufunc__ of the operands

    def rop(self, other):
        return _cached_ufunc(name)(other, self)

    def iop(self, other):
        return _cached_ufunc(name)(self, other, out=self)

    return op, rop, iop


def _compare(name, np_ufunc, reflected):
    def op(self, other):
        if type(other) is ndarray or _is_scalar(other):
            return _cached_ufunc(name)(self, other)
        if _should_use_rop(self, other):
            return NotImplemented
        if isinstance(other, np.ndarray) and other.ndim == 0:
            other = other.item()
        if name == "equal" and (type(other).__eq__ is object.__eq__ or other is None):
            return new(np.zeros(self._a.shape, dtype=bool), _local.device)
        if name == "not_equal" and ((type(other).__eq__ is object.__eq__
                                     and type(other).__ne__ is object.__ne__) or other is None):
            return new(np.ones(self._a.shape, dtype=bool), _local.device)
        return np_ufunc(self, other)

    return op


class ndarray:
    """CuPy's array type, on the CPU: a NumPy array plus the id of the device it lives on."""

    __slots__ = ("_a", "_dev", "_base", "__weakref__")
    __array_priority__ = 100
    __hash__ = None

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        if memptr is not None or strides is not None:
            raise NotImplementedError("stand-in: cupy.ndarray(memptr=..., strides=...)")
        dt = np.dtype(dtype)
        check_dtype(dt)
        self._a = np.empty(shape, dtype=dt, order=order)
        self._dev = _local.device
        self._base = None
        _track(self)

    # ---- conversions CuPy refuses, and the explicit ones it offers

    def __array__(self, dtype=None, copy=None):
        raise TypeError(IMPLICIT_MSG)

    def get(self, stream=None, order="C", out=None, blocking=True):
        if blocking:
            _sync.note("ndarray.get")
        if out is not None:
            if not isinstance(out, np.ndarray):
                raise TypeError("Only numpy.ndarray can be obtained from cupy.ndarray")
            if out.shape != self._a.shape:
                raise ValueError("Shape mismatch")
            np.copyto(out, self._a)
            return out
        return np.array(self._a, order=order, copy=True)

    def set(self, arr, stream=None):
        if not isinstance(arr, np.ndarray):
            raise TypeError("Only numpy.ndarray can be set to cupy.ndarray")
        if self._a.dtype != arr.dtype:
            raise TypeError(f"{arr.dtype} array cannot be set to {self._a.dtype} array")
        if self._a.shape != arr.shape:
            raise ValueError(f"Shape mismatch. Old shape: {self._a.shape}, new shape: "
                             f"{arr.shape}")
        self._a[...] = arr

    def item(self):
        _sync.note("ndarray.item")
        return self._a.item()

    def tolist(self):
        _sync.note("ndarray.tolist")
        return self._a.tolist()

    def tobytes(self, order="C"):
        _sync.note("ndarray.tobytes")
        return self._a.tobytes(order)

    def tofile(self, fid, sep="", format="%s"):
        _sync.note("ndarray.tofile")
        return self._a.tofile(fid, sep, format)

    def dump(self, file):
        _sync.note("ndarray.dump")
        return self._a.dump(file)

    def dumps(self):
        _sync.note("ndarray.dumps")
        return self._a.dumps()

    def __int__(self):
        _sync.note("ndarray.__int__")
        return int(self._a)

    def __float__(self):
        _sync.note("ndarray.__float__")
        return float(self._a)

    def __complex__(self):
        _sync.note("ndarray.__complex__")
        return complex(self._a)

    def __bool__(self):
        _sync.note("ndarray.__bool__")
        if self._a.size == 0:
            warnings.warn(
                "The truth value of an empty array is ambiguous. Returning False, but in "
                "future this will result in an error. Use `array.size > 0` to check that an "
                "array is not empty.", DeprecationWarning, stacklevel=2)
            return False
        return bool(self._a)

    def __repr__(self):
        _sync.note("ndarray.__repr__")
        return repr(self._a)

    def __str__(self):
        _sync.note("ndarray.__str__")
        return str(self._a)

    def __format__(self, spec):
        _sync.note("ndarray.__format__")
        return format(self._a, spec)

    def __len__(self):
        if self._a.ndim == 0:
            raise TypeError("len() of unsized object")
        return self._a.shape[0]

    def __iter__(self):
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self._a.shape[0]))

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        with_dev = _local.device
        _local.device = self._dev
        try:
            return self.copy()
        finally:
            _local.device = with_dev

    def __reduce__(self):
        _sync.note("ndarray.__reduce__")
        from ._modules import modules

        return modules()["cupy"].array, (self.get(),)

    # ---- attributes

    @property
    def shape(self):
        return self._a.shape

    @shape.setter
    def shape(self, value):
        self._a.shape = value

    @property
    def dtype(self):
        return self._a.dtype

    @property
    def ndim(self):
        return self._a.ndim

    @property
    def size(self):
        return self._a.size

    @property
    def strides(self):
        return self._a.strides

    @property
    def nbytes(self):
        return self._a.nbytes

    @property
    def itemsize(self):
        return self._a.itemsize

    @property
    def flags(self):
        f = self._a.flags
        return _Flags(f.c_contiguous, f.f_contiguous, self._base is None)

    @property
    def base(self):
        return self._base

    @property
    def data(self):
        ptr = self._a.__array_interface__["data"][0] if self._a.size else 0
        return MemoryPointer(ptr, self._dev, self._base if self._base is not None else self)

    @property
    def device(self):
        from . import _cuda

        return _cuda.Device(self._dev)

    @property
    def T(self):
        return self._view(self._a.T)

    @property
    def mT(self):
        if self._a.ndim < 2:
            raise ValueError("matrix transpose with ndim < 2 is undefined")
        return self._view(np.swapaxes(self._a, -1, -2))

    @property
    def real(self):
        return self._view(self._a.real)

    @real.setter
    def real(self, value):
        found = [self]
        value = unwrap(value, found)
        check_devices(found)
        self._a.real = value

    @property
    def imag(self):
        r = self._a.imag
        if r.base is None:  # NumPy gives a fresh read-only zeros array for real dtypes
            return new(np.zeros_like(r), self._dev)
        return self._view(r)

    @imag.setter
    def imag(self, value):
        found = [self]
        value = unwrap(value, found)
        check_devices(found)
        self._a.imag = value

    @property
    def flat(self):
        return _Flat(self)

    def _view(self, a):
        return wrap(a, [self], self._dev)

    # ---- protocols

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        # CuPy: core.pyx `__array_ufunc__`
        from ._modules import modules

        mods = modules()
        inout = inputs
        if "out" in kwargs:
            out = kwargs["out"]
            if len(out) != 1:
                raise ValueError("The 'out' parameter must have exactly one array value")
            inout += out
            kwargs["out"] = out[0]
        if method not in ("__call__", "outer", "at", "reduce", "accumulate", "reduceat"):
            return NotImplemented
        name = ufunc.__name__
        try:
            func = getattr(mods["cupy"], name, None) or getattr(
                mods["cupyx.scipy.special"], name)
            if method != "__call__":
                func = getattr(func, method)
        except AttributeError:
            return NotImplemented
        for x in inout:
            if not (type(x) in _PY_SCALAR_TYPES or isinstance(x, (np.generic, ndarray,
                                                                   np.ndarray))
                    or hasattr(x, "__cuda_array_interface__")):
                return NotImplemented
        if name in _COMPARISONS:
            inputs = tuple(x.item() if isinstance(x, np.ndarray) and x.ndim == 0 else x
                           for x in inputs)
        return func(*inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        # CuPy: core.pyx `__array_function__`
        from ._modules import modules

        try:
            module = functools.reduce(getattr, func.__module__.split(".")[1:],
                                      modules()["cupy"])
            cupy_func = getattr(module, func.__name__)
        except AttributeError:
            return NotImplemented
        if cupy_func is func:
            return NotImplemented
        for t in types:
            if not issubclass(t, (ndarray, np.ndarray)):
                return NotImplemented
        return cupy_func(*args, **kwargs)

    @property
    def __cuda_array_interface__(self):
        from . import _cuda

        a = self._a
        _remember_export(a, self._dev)
        stream = _cuda.get_current_stream().ptr or 1
        return {
            "shape": a.shape,
            "typestr": a.dtype.str,
            "descr": a.dtype.descr,
            "stream": stream,
            "version": 3,
            "strides": None if a.flags.c_contiguous else a.strides,
            "data": (a.__array_interface__["data"][0] if a.size else 0, False),
        }

    def __dlpack_device__(self):
        return (KDLCUDA, self._dev)

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        if stream is not None and not isinstance(stream, int):
            raise TypeError(f"stream must be an int, not {type(stream)}")
        if isinstance(stream, int) and stream < -1:
            raise ValueError(f"On CUDA, the valid stream for the DLPack protocol is -1, 1, 2, "
                             f"or any larger value, but {stream} was provided")
        kw = {} if max_version is None else {"max_version": max_version}
        if dl_device is None or tuple(dl_device) == self.__dlpack_device__():
            if copy is True:
                raise BufferError("copy=True only supported for copy to CPU.")
            capsule = self._a.__dlpack__(**kw)
            _set_capsule_device(capsule, KDLCUDA, self._dev)
            return capsule
        if tuple(dl_device) == (KDLCPU, 0):
            if copy is False:
                raise ValueError("GPU memory cannot be exported to CPU without copy.")
            return np.array(self._a).__dlpack__(**kw)
        raise BufferError("unsupported device requested.")

    def toDlpack(self):
        return self.__dlpack__()

    # ---- indexing

    def __getitem__(self, key):
        found = []
        k = unwrap(_cai_indices(key), found, allow_host=True)  # CuPy copies host index arrays
        if _sync._watchers and _has_mask(k):
            _sync.note("boolean-mask indexing")
        res = self._a[k]
        if isinstance(res, np.generic):
            # CuPy returns a 0-d view, not a copy, for an integer index
            try:
                res = self._a[(k if type(k) is tuple else (k,)) + (Ellipsis,)]
            except IndexError:
                res = np.array(res)
        if type(res) is np.ndarray and res.base is not None and (
                res.base is self._a or res.base is _root(self._a)):
            return self._view(res)
        found.append(self)
        cur = check_devices(found)
        return wrap(res, found, cur)

    def __setitem__(self, key, value):
        found = [self]
        k = unwrap(_cai_indices(key), found, allow_host=True)
        if type(value) is not ndarray and _is_basic_index(key):
            # CuPy fills a basic-index target from host data only with a scalar (gh-2079)
            v = np.asarray(value, dtype=self._a.dtype)
            if v.shape != ():
                raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
        else:
            v = unwrap(value, found, allow_host=True)  # advanced indexing copies host data
        check_devices(found)
        if _sync._watchers and _has_mask(k):
            _sync.note("boolean-mask assignment")
        assign(self._a, k, v)

    # ---- methods with CuPy's own meaning

    def copy(self, order="C"):
        # CuPy: copies onto the current device, from whichever device the array is on
        return new(self._a.copy(order=order), _local.device)

    def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
        dt = np.dtype(dtype)
        check_dtype(dt)
        if not copy and dt == self._a.dtype:
            return self
        check_devices([self])
        kw = {} if casting is None else {"casting": casting}
        return new(self._a.astype(dt, order=order, copy=True, **kw), _local.device)

    def fill(self, value):
        found = [self]
        value = unwrap(value, found)
        check_devices(found)
        self._a.fill(value)

    def dot(self, b, out=None):
        if type(b) is not ndarray:
            raise TypeError(f"Argument 'b' has incorrect type (expected cupy._core.core."
                            f"_ndarray_base, got {type(b).__module__}.{type(b).__qualname__})")
        return _cached_ufunc("dot")(self, b, out=out)

    def ptp(self, axis=None, out=None, keepdims=False):
        return _cached_ufunc("ptp")(self, axis=axis, out=out, keepdims=keepdims)

    def _scatter(self, name, slices, value):
        warnings.warn(f"`ndarray.scatter_{name}` is deprecated. Please use "
                      f"`cupy.{'add' if name == 'add' else name + 'imum'}.at` instead.",
                      DeprecationWarning, stacklevel=3)
        scatter(self, slices, value, name)

    def scatter_add(self, slices, value):
        self._scatter("add", slices, value)

    def scatter_max(self, slices, value):
        self._scatter("max", slices, value)

    def scatter_min(self, slices, value):
        self._scatter("min", slices, value)

    def reduced_view(self, dtype=None):
        return self


def _int_arrays(key):
    keys = key if type(key) is tuple else (key,)
    return any(type(k) is list or (type(k) is np.ndarray and k.dtype.kind in "iu" and k.size > 1)
               for k in keys)


def assign(a, key, value):
    """``a[key] = value``, where positions an integer-array index names more than once keep
    the FIRST value written to them. Which one a GPU keeps is undefined in CuPy (and differs
    between runs); NumPy keeps the last. Code that relies on either differs from NumPy here."""
    a[key] = value
    if not _int_arrays(key):
        return
    pos = np.arange(a.size).reshape(a.shape)[key].ravel()
    order = np.argsort(pos, kind="stable")
    ranked = pos[order]
    first = np.ones(ranked.size, dtype=bool)
    first[1:] = ranked[1:] != ranked[:-1]
    if first.all():
        return
    values = np.broadcast_to(np.asarray(value), a[key].shape).ravel()
    a.flat[ranked[first]] = values[order[first]]


def _has_mask(k):
    """Whether the unwrapped index ``k`` holds a boolean array (CuPy counts its True
    elements on the host)."""
    for part in (k if type(k) is tuple else (k,)):
        if isinstance(part, np.ndarray) and part.dtype == np.bool_ and part.ndim:
            return True
    return False


def _is_basic_index(key):
    parts = key if type(key) is tuple else (key,)
    for p in parts:
        if p is None or p is Ellipsis or type(p) is slice or type(p) is int:
            continue
        if isinstance(p, np.integer) or type(p) is bool:
            continue
        return False
    return True


def scatter(a, slices, value, op):
    """``cupyx.scatter_add/max/min``: in place, repeated indices accumulate."""
    if type(a) is not ndarray:
        raise TypeError(f"Argument 'a' has incorrect type (expected cupy.ndarray, got "
                        f"{type(a).__name__})")
    found = [a]
    idx = unwrap(slices, found, allow_host=True)
    v = unwrap(value, found, allow_host=True)
    check_devices(found)
    ufunc = {"add": np.add, "max": np.maximum, "min": np.minimum}[op]
    _check_atomic(ufunc.__name__, a.dtype)
    _atomic_at(ufunc, a._a, idx, v)


# methods delegated to numpy.ndarray's, for the names real CuPy's ndarray has
_METHODS = """all any argmax argmin argpartition argsort byteswap choose clip compress conj
conjugate cumprod cumsum diagonal flatten max mean min nonzero partition prod put ravel repeat
reshape round searchsorted sort squeeze std sum swapaxes take trace transpose var view""".split()
_NO_KERNEL_METHODS = frozenset("diagonal ravel reshape squeeze swapaxes transpose view".split())
_HOST_ARG_METHODS = frozenset("take put".split())  # CuPy copies host indices/values


def _make_method(name):
    np_method = getattr(np.ndarray, name)
    check = name not in _NO_KERNEL_METHODS
    allow_host = name in _HOST_ARG_METHODS

    sync = f"ndarray.{name}" if name in _sync.DATA_DEPENDENT or name == "repeat" else None
    signature = signature_checker("ndarray", name)

    def method(self, *args, **kwargs):
        if signature is not None:
            given = signature(*args, **kwargs)
            if name in _SORTS:
                _check_sort_kind(given)
        if sync is not None and _sync._watchers and _data_dependent_call(
                name, (self,) + args, kwargs):
            _sync.note(sync)
        found = [self]
        if args:
            args = unwrap(args, found, allow_host)
        if kwargs:
            kwargs = unwrap(kwargs, found, allow_host)
        cur = _local.device
        if check:
            check_devices(found, cur)
        return wrap(np_method(self._a, *args, **kwargs), found, cur)

    method.__name__ = name
    method.__qualname__ = f"ndarray.{name}"
    method.__cupy_signature__ = signature
    return method


def _install_methods(allowed):
    for name in _METHODS:
        if name in allowed and hasattr(np.ndarray, name):
            setattr(ndarray, name, _make_method(name))
    # attributes CuPy's ndarray lacks are removed from the class, so they raise AttributeError
    for name in list(vars(ndarray)):
        if name.startswith("_") or name in allowed:
            continue
        if name in ("get", "set", "device", "data", "flags", "base", "T", "mT", "real",
                    "imag", "flat", "shape", "dtype", "ndim", "size", "strides", "nbytes",
                    "itemsize", "copy", "astype", "fill", "item", "tolist", "dot", "toDlpack"):
            continue  # CuPy always has these; keep them even if the list is incomplete
        delattr(ndarray, name)


_OPS = [
    ("add", np.add, "add"), ("sub", np.subtract, "subtract"), ("mul", np.multiply, "multiply"),
    ("truediv", np.true_divide, "true_divide"), ("floordiv", np.floor_divide, "floor_divide"),
    ("mod", np.remainder, "remainder"), ("pow", np.power, "power"),
    ("lshift", np.left_shift, "left_shift"), ("rshift", np.right_shift, "right_shift"),
    ("and", np.bitwise_and, "bitwise_and"), ("or", np.bitwise_or, "bitwise_or"),
    ("xor", np.bitwise_xor, "bitwise_xor"), ("matmul", np.matmul, "matmul"),
]
for _short, _np_uf, _name in _OPS:
    _op, _rop, _iop = _binary(_name, _np_uf)
    setattr(ndarray, f"__{_short}__", _op)
    setattr(ndarray, f"__r{_short}__", _rop)
    setattr(ndarray, f"__i{_short}__", _iop)


def _no_modulo(op):
    def pow_(self, other, mod=None):
        if mod is not None:
            return NotImplemented
        return op(self, other)

    return pow_


ndarray.__pow__ = _no_modulo(ndarray.__pow__)
ndarray.__rpow__ = _no_modulo(ndarray.__rpow__)


def _divmod(self, other):
    if type(other) is ndarray or _is_scalar(other):
        return _cached_ufunc("divmod")(self, other)
    if _should_use_rop(self, other):
        return NotImplemented
    return np.divmod(self, other)


ndarray.__divmod__ = _divmod
ndarray.__rdivmod__ = lambda self, other: _cached_ufunc("divmod")(other, self)

for _short, _name in [("lt", "less"), ("le", "less_equal"), ("eq", "equal"),
                      ("ne", "not_equal"), ("gt", "greater"), ("ge", "greater_equal")]:
    setattr(ndarray, f"__{_short}__", _compare(_name, getattr(np, _name), False))

for _short, _name in [("neg", "negative"), ("pos", "positive"), ("abs", "absolute"),
                      ("invert", "invert")]:
    setattr(ndarray, f"__{_short}__",
            (lambda n: lambda self: _cached_ufunc(n)(self))(_name))

ndarray.__module__ = "cupy"
ndarray.__qualname__ = "ndarray"


# ------------------------------------------------------------------------------------------
# DLPack and __cuda_array_interface__

KDLCPU = 1
KDLCUDA = 2

# data pointer -> (weak reference to the NumPy array that owns the memory, device), for arrays
# that exported a __cuda_array_interface__: an import must find live stand-in memory, never
# trust a raw address
_exported = {}

_GetPointer = ctypes.pythonapi.PyCapsule_GetPointer
_GetPointer.restype = ctypes.c_void_p
_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_IsValid = ctypes.pythonapi.PyCapsule_IsValid
_IsValid.restype = ctypes.c_int
_IsValid.argtypes = [ctypes.py_object, ctypes.c_char_p]


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


def _capsule_device(capsule):
    """The DLDevice inside a DLPack capsule (a ctypes view, writable)."""
    if _IsValid(capsule, b"dltensor_versioned"):
        # DLManagedTensorVersioned: version (8), manager_ctx (8), deleter (8), flags (8), then
        # the DLTensor: data (8), device
        base = _GetPointer(capsule, b"dltensor_versioned") + 32
    elif _IsValid(capsule, b"dltensor"):
        base = _GetPointer(capsule, b"dltensor")  # DLManagedTensor starts with the DLTensor
    else:
        raise TypeError("not a DLPack capsule (or one already consumed)")
    return _DLDevice.from_address(base + 8)


def _set_capsule_device(capsule, dev_type, dev_id):
    d = _capsule_device(capsule)
    d.device_type = dev_type
    d.device_id = dev_id


class _CapsuleHolder:
    def __init__(self, capsule):
        self.capsule = capsule

    def __dlpack__(self, **kwargs):
        return self.capsule

    def __dlpack_device__(self):
        return (KDLCPU, 0)


def from_capsule(capsule):
    """A stand-in array over the memory a stand-in DLPack capsule describes (zero-copy)."""
    d = _capsule_device(capsule)
    if d.device_type != KDLCUDA:
        raise TypeError(f"Unsupported array type: {d.device_type}")
    dev = d.device_id
    d.device_type, d.device_id = KDLCPU, 0
    a = np.from_dlpack(_CapsuleHolder(capsule))
    if not a.flags.writeable:  # NumPy marks legacy (unversioned) imports read-only
        interface = dict(a.__array_interface__)
        interface["data"] = (interface["data"][0], False)
        a = np.asarray(_HostView(a, interface))
    check_dtype(a.dtype)
    return new(a, dev)


def from_dlpack(array, *, device=None, copy=None):
    """``cupy.from_dlpack``: zero-copy from a producer on a (stand-in) CUDA device."""
    if not hasattr(array, "__dlpack_device__"):
        return from_capsule(array)
    if device is not None:
        raise NotImplementedError("from_dlpack() does not support device yet.")
    dev_type, dev_id = array.__dlpack_device__()
    if dev_type == KDLCPU:
        raise TypeError("CPU arrays cannot be directly imported to CuPy. "
                        "Use `cupy.array(numpy.from_dlpack(input))` instead.")
    if dev_type != KDLCUDA:
        raise TypeError(f"Unsupported array type: {dev_type}")
    if type(array) is ndarray and copy is not True:
        out = new(array._a[...], array._dev)
        out._base = array if array._base is None else array._base
        return out
    prev = _local.device
    _local.device = dev_id
    try:
        try:
            capsule = array.__dlpack__(stream=1, max_version=(1, 0), copy=copy)
        except TypeError:
            if copy is not None:
                raise
            capsule = array.__dlpack__(stream=1)
    finally:
        _local.device = prev
    return from_capsule(capsule)


def _remember_export(a, dev):
    root = _root(a)
    if not isinstance(root, np.ndarray):
        root = a
    if len(_exported) > 4096:  # forget owners that have gone away
        for k, (ref, _) in list(_exported.items()):
            if ref() is None:
                del _exported[k]
    _exported[root.__array_interface__["data"][0]] = (weakref.ref(root), dev)


class _HostView:
    """Keeps the owner alive while NumPy builds an array over part of its memory."""

    def __init__(self, owner, interface):
        self.owner = owner
        self.__array_interface__ = interface


def _extent(shape, strides, itemsize):
    lo = hi = 0
    for n, st in zip(shape, strides):
        if st >= 0:
            hi += (n - 1) * st
        else:
            lo += (n - 1) * st
    return lo, hi + itemsize


def from_cuda_array_interface(obj):
    """A stand-in array over the memory described by ``obj.__cuda_array_interface__``. Only
    memory that a live stand-in array exported is accepted: no raw address is trusted."""
    cai = obj.__cuda_array_interface__
    ptr = cai["data"][0]
    dt = np.dtype(cai["typestr"])
    check_dtype(dt)
    shape = tuple(cai["shape"])
    strides = cai.get("strides")
    if strides is None:
        strides = tuple(int(np.prod(shape[i + 1:], dtype=np.int64)) * dt.itemsize
                        for i in range(len(shape)))
    if not ptr or 0 in shape:
        return new(np.empty(shape, dtype=dt), _local.device)
    lo_off, hi_off = _extent(shape, strides, dt.itemsize)
    for start, (ref, dev) in list(_exported.items()):
        root = ref()
        if root is None:
            continue
        if start <= ptr + lo_off and ptr + hi_off <= start + root.nbytes:
            interface = {"shape": shape, "typestr": dt.str, "descr": dt.descr,
                         "data": (ptr, False), "strides": tuple(strides), "version": 3}
            return new(np.asarray(_HostView(root, interface)), dev)
    raise TypeError("stand-in: this __cuda_array_interface__ does not point into the memory of "
                    "a live stand-in array")


# ------------------------------------------------------------------------------------------
# explicit transfers and creation


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    if subok:
        raise NotImplementedError
    cur = _local.device
    if order is None:
        order = "K"
    if type(obj) is ndarray:
        dt = obj._a.dtype if dtype is None else np.dtype(dtype)
        check_dtype(dt)
        layout_ok = order not in ("C", "F") or obj._a.flags[order + "_CONTIGUOUS"]
        if obj._dev == cur and not copy and dt == obj._a.dtype and obj._a.ndim >= ndmin \
                and layout_ok:
            return obj
        if copy is False:
            raise ValueError("Unable to avoid copy while creating an array as requested.")
        a = np.array(obj._a, dtype=dt, order=order, copy=True, ndmin=ndmin)
        return new(a, cur)
    if not isinstance(obj, np.ndarray) and hasattr(obj, "__cuda_array_interface__"):
        return array(from_cuda_array_interface(obj), dtype, copy, order, subok, ndmin)
    data = unwrap(obj, [], allow_host=True)
    a = np.array(data, dtype=dtype, order=order, ndmin=ndmin, copy=True)
    check_dtype(a.dtype)
    return new(a, cur)


def asarray(a, dtype=None, order=None, *, copy=None, blocking=False):
    return array(a, dtype=dtype, copy=copy if copy is not None else None, order=order)


def asanyarray(a, dtype=None, order=None, *, copy=None, blocking=False):
    return array(a, dtype=dtype, copy=None, order=order)


def asnumpy(a, stream=None, order="C", out=None, *, blocking=True):
    if type(a) is ndarray:
        return a.get(stream=stream, order=order, out=out, blocking=blocking)
    if hasattr(a, "__cuda_array_interface__"):
        return from_cuda_array_interface(a).get(order=order, out=out)
    if out is None:
        return np.asarray(a, order=order)
    out[...] = a
    return out


def copy(a, order="K"):
    if isinstance(a, np.ndarray):
        return a.copy(order=order)  # CuPy 14: `a.copy()`, so a NumPy array stays on the host
    if type(a) is not ndarray:
        return array(a, copy=True, order=order)
    return new(a._a.copy(order=order), _local.device)

