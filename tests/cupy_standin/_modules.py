"""The module tree of the stand-in (``cupy``, ``cupy.linalg``, ``cupyx.scipy.special``, ...).

Each module answers only the names real CuPy has (``cupy_names.json``). A name is either
implemented here (CuPy's own functions, ``cupy.cuda``, ``cupy.random``, kernels) or delegated
generically to the NumPy/SciPy function of the same name: stand-in arrays unwrapped, NumPy
arrays refused, results wrapped onto the current device. A name CuPy has that NumPy/SciPy here
cannot provide stays missing (AttributeError), like a name CuPy lacks.
"""

import contextlib
import functools
import importlib
import json
import os
import types

import numpy as np

from . import _core, _cuda, _kernels, _nccl, _rand

NAMES_FILE = os.path.join(os.path.dirname(__file__), "cupy_names.json")

REAL_CUPY = None  # the real CuPy module when it imported (without a GPU), for NVRTC checks

# stand-in module -> the NumPy/SciPy module its names delegate to
SOURCES = {
    "cupy": "numpy",
    "cupy.linalg": "numpy.linalg",
    "cupy.fft": "numpy.fft",
    "cupy.testing": "numpy.testing",
    "cupy.lib.stride_tricks": "numpy.lib.stride_tricks",
    "cupyx.scipy.special": "scipy.special",
    "cupyx.scipy.linalg": "scipy.linalg",
    "cupyx.scipy.signal": "scipy.signal",
    "cupyx.scipy.stats": "scipy.stats",
    "cupyx.scipy.ndimage": "scipy.ndimage",
    "cupyx.scipy.fft": "scipy.fft",
    "cupyx.scipy.interpolate": "scipy.interpolate",
    "cupyx.scipy.spatial": "scipy.spatial",
}

# names CuPy keeps that NumPy 2 renamed or removed
ALIASES = {
    "Inf": "inf", "Infinity": "inf", "infty": "inf", "PINF": "inf", "NaN": "nan", "NAN": "nan",
    "float_": "float64", "complex_": "complex128", "cfloat": "complex128",
    "singlecomplex": "complex64", "round_": "round", "product": "prod",
    "cumproduct": "cumprod", "alltrue": "all", "sometrue": "any", "trapz": "trapezoid",
}
EXCEPTIONS = ("AxisError", "ComplexWarning", "TooHardError", "VisibleDeprecationWarning",
              "ModuleDeprecationWarning", "RankWarning")

_PASS_TYPES = (np.dtype, np.finfo, np.iinfo, np.ndindex, np.errstate)


def _load_names():
    if not os.path.exists(NAMES_FILE):
        raise RuntimeError(f"CuPy stand-in: {NAMES_FILE} is missing; generate it with "
                           "tests/cupy_standin/gen_names.py on a machine with CuPy and a GPU")
    with open(NAMES_FILE) as f:
        return json.load(f)


class StandinModule(types.ModuleType):
    """A module that resolves names on first use, within CuPy's allowlist."""

    def __init__(self, name, allowed, impls, source=None, ufuncs=(), kind="function"):
        super().__init__(name)
        d = self.__dict__
        d["__path__"] = []
        d["__file__"] = os.path.join(os.path.dirname(__file__), "__init__.py")
        d["__cupy_standin__"] = True
        d["_standin_allowed"] = None if allowed is None else frozenset(allowed)
        d["_standin_impls"] = impls
        d["_standin_source"] = source
        d["_standin_ufuncs"] = frozenset(ufuncs)
        d["_standin_kind"] = kind

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(f"module '{self.__name__}' has no attribute '{name}'")
        value = _resolve(self, name)
        self.__dict__[name] = value
        return value

    def __dir__(self):
        d = self.__dict__
        names = set(d["_standin_impls"])
        if d["_standin_allowed"] is not None:
            names |= d["_standin_allowed"]
        return sorted(names | {k for k in d if not k.startswith("_")})

    def __repr__(self):
        return f"<module '{self.__name__}' (CuPy stand-in)>"


_UFUNCS = {}


def _ufunc(np_ufunc, module):
    w = _UFUNCS.get(np_ufunc)
    if w is None:
        w = _UFUNCS[np_ufunc] = _core.ufunc(np_ufunc, np_ufunc.__name__, module)
    return w


def _missing(mod, name, why):
    return AttributeError(f"module '{mod.__name__}' has no attribute '{name}' ({why})")


def _resolve(mod, name):
    d = mod.__dict__
    allowed = d["_standin_allowed"]
    impls = d["_standin_impls"]
    if allowed is not None and name not in allowed and name not in impls:
        raise _missing(mod, name, f"CuPy {_VERSION} has no such name")
    if name in impls:
        return _checked(mod.__name__, name, impls[name])
    if allowed is None or d["_standin_source"] is None:
        raise _missing(mod, name, "the CuPy stand-in does not provide it")
    source = importlib.import_module(d["_standin_source"])
    target = ALIASES.get(name, name) if mod.__name__ == "cupy" else name
    value = getattr(source, target, None)
    if value is None and name in EXCEPTIONS:
        value = getattr(np.exceptions, name, None)
    if value is None and not hasattr(source, target):
        raise _missing(mod, name, f"CuPy has it, but {d['_standin_source']} here does not")
    value = _convert(mod, name, value)
    if value is _NOPE:
        raise _missing(mod, name, "CuPy has it, but the stand-in cannot provide it")
    return value


_NOPE = object()


def _checked(modname, name, impl):
    """``impl`` refusing, before it runs, the calls CuPy's ``modname.name`` refuses."""
    check = _core.signature_checker(modname, name)
    if (check is None or isinstance(impl, (type, _core.ufunc)) or not callable(impl)
            or hasattr(impl, "__wrapped_standin__") or _core.parameters(impl) == check.params):
        return impl  # not a function, or one that checks itself or takes CuPy's parameters

    @functools.wraps(impl)
    def fn(*args, **kwargs):
        check(*args, **kwargs)
        return impl(*args, **kwargs)

    fn.__cupy_signature__ = check
    return fn


def _convert(mod, name, value):
    kind = mod.__dict__["_standin_kind"]
    modname = mod.__name__
    if isinstance(value, types.ModuleType):
        return _NOPE
    if isinstance(value, type):
        if issubclass(value, (np.generic, BaseException)) or value in _PASS_TYPES:
            return value
        return _NOPE
    if isinstance(value, np.ufunc) and name in mod.__dict__["_standin_ufuncs"]:
        return _ufunc(value, modname)
    if not callable(value):
        return value  # constants: pi, inf, newaxis, ...
    if kind == "testing":
        if not name.startswith("assert_"):
            return _NOPE
        return _core.make_function(value, name, modname, allow_host=True, check=False)
    return _core.make_function(value, name, modname)


# ---- CuPy's own functions ------------------------------------------------------------------


def get_array_module(*args):
    for a in args:
        if type(a) is _core.ndarray:
            return modules()["cupy"]
    return np


def fuse(*args, **kwargs):
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return args[0]
    return lambda f: f


_memos = []


def memoize(for_each_device=False):
    def decorator(f):
        cache = {}
        _memos.append(cache)

        @functools.wraps(f)
        def memoized(*args, **kwargs):
            key = (args, tuple(sorted(kwargs.items())))
            if for_each_device:
                key = (_core._local.device,) + key
            try:
                return cache[key]
            except KeyError:
                value = cache[key] = f(*args, **kwargs)
                return value

        return memoized

    return decorator


def clear_memo():
    for cache in _memos:
        cache.clear()


def show_config(*, _full=False):
    print(f"CuPy stand-in (CPU), modelled on CuPy {_VERSION}, {_core.N_DEVICES} devices")


def is_available():
    return True


def fromDlpack(dltensor):
    return _core.from_capsule(dltensor)


class vectorize:
    """``cupy.vectorize``: ``numpy.vectorize`` over the device arrays' data."""

    def __init__(self, pyfunc, otypes=None, doc=None, excluded=None, cache=False,
                 signature=None):
        self.pyfunc = pyfunc
        self._call = _core.make_function(
            np.vectorize(pyfunc, otypes=otypes, doc=doc, excluded=excluded, cache=cache,
                         signature=signature), "vectorize", "cupy")

    def __call__(self, *args, **kwargs):
        return self._call(*args, **kwargs)


class broadcast:
    """``cupy.broadcast(*arrays)``: shape, nd, size and the broadcast views."""

    def __init__(self, *arrays):
        found = []
        arrs = _core.unwrap(arrays, found)
        b = np.broadcast(*arrs)
        self.shape, self.nd, self.ndim, self.size = b.shape, b.ndim, b.ndim, b.size
        views = np.broadcast_arrays(*arrs)
        self.values = tuple(_core.wrap(v, found, _core._local.device) for v in views)


def in1d(ar1, ar2, assume_unique=False, invert=False):
    return modules()["cupy"].isin(ar1, ar2, assume_unique=assume_unique,
                                  invert=invert).ravel()


def asfarray(a, dtype=np.float64):
    dt = np.dtype(dtype)
    if dt.kind not in "fc":
        dt = np.dtype(np.float64)
    return _core.asarray(a, dtype=dt)


def msort(a):
    return modules()["cupy"].sort(a, axis=0)


CUPY_IMPLS = {
    "ndarray": _core.ndarray, "ufunc": _core.ufunc, "array": _core.array,
    "asarray": _core.asarray, "asanyarray": _core.asanyarray, "asnumpy": _core.asnumpy,
    "copy": _core.copy, "from_dlpack": _core.from_dlpack, "fromDlpack": fromDlpack,
    "get_array_module": get_array_module, "fuse": fuse, "memoize": memoize,
    "clear_memo": clear_memo, "show_config": show_config, "is_available": is_available,
    "get_default_memory_pool": _cuda.get_default_memory_pool,
    "get_default_pinned_memory_pool": _cuda.get_default_pinned_memory_pool,
    "vectorize": vectorize, "broadcast": broadcast, "in1d": in1d, "asfarray": asfarray,
    "msort": msort, "NINF": -np.inf, "PZERO": 0.0, "NZERO": -0.0,
    **_kernels.KERNEL_NAMES,
}


# ---- cupyx ---------------------------------------------------------------------------------


class DeviceSynchronized(RuntimeError):
    pass


@contextlib.contextmanager
def allow_synchronize(allow):
    yield


def _pinned(np_fn):
    def fn(*args, **kwargs):
        found = []
        args = _core.unwrap(args, found, allow_host=True)
        return np_fn(*args, **kwargs)  # pinned memory is host memory: NumPy arrays

    fn.__name__ = np_fn.__name__ + "_pinned"
    return fn


def _like_pinned(np_fn):
    def fn(a, dtype=None, order="K", subok=None, shape=None):
        return np_fn(np.empty(a.shape, dtype=a.dtype), dtype=dtype, order=order, shape=shape)

    return fn


def rsqrt(x, out=None, dtype=None):
    found = []
    xa = _core.ufunc._operand(x, found)
    cur = _core.check_devices(found)
    r = np.reciprocal(np.sqrt(xa, dtype=dtype))
    if out is not None:
        _core.check_devices([out])
        out._a[...] = r
        return out
    return _core.wrap(r, found, cur)


def get_runtime_info(*, full=True):
    return f"CuPy stand-in (CPU), modelled on CuPy {_VERSION}"


def seterr(*, divide=None, over=None, under=None, invalid=None, linalg=None):
    """CuPy's ``cupyx.seterr``; ``linalg`` (raise on a singular matrix) is accepted, not used."""
    return np.seterr(divide=divide, over=over, under=under, invalid=invalid)


CUPYX_IMPLS = {
    "scatter_add": lambda a, slices, value: _core.scatter(a, slices, value, "add"),
    "scatter_max": lambda a, slices, value: _core.scatter(a, slices, value, "max"),
    "scatter_min": lambda a, slices, value: _core.scatter(a, slices, value, "min"),
    "rsqrt": rsqrt, "errstate": np.errstate, "seterr": seterr, "geterr": np.geterr,
    "empty_pinned": _pinned(np.empty), "zeros_pinned": _pinned(np.zeros),
    "empty_like_pinned": _like_pinned(np.empty_like),
    "zeros_like_pinned": _like_pinned(np.zeros_like),
    "get_runtime_info": get_runtime_info, "allow_synchronize": allow_synchronize,
    "DeviceSynchronized": DeviceSynchronized,
}


def _sparse_false(*args, **kwargs):
    return False


# ---- the tree -------------------------------------------------------------------------------

_VERSION = "?"
_MODULES = None


def _needs_array(mod, name, pos, what, min_args=1):
    """Make ``mod.name`` refuse a non-array argument ``pos`` as CuPy's does."""
    generic = _resolve(mod, name)

    def checked(*args, **kw):
        if len(args) >= min_args and not isinstance(args[pos], _core.ndarray):
            raise AttributeError(f"'{type(args[pos]).__name__}' object has no attribute "
                                 f"'astype' (CuPy's {name} takes {what} as a device array)")
        return generic(*args, **kw)

    checked.__name__ = name
    mod.__dict__[name] = checked


def build(names=None):
    """The stand-in's modules, by their real names (not put into ``sys.modules``)."""
    global _VERSION
    names = _load_names() if names is None else names
    _VERSION = names.get("cupy_version", "?")
    _cuda.CUDA_RUNTIME_VERSION = int(names.get("cuda_runtime", _cuda.CUDA_RUNTIME_VERSION))
    _core._install_methods(frozenset(names.get("ndarray", ())))
    listed = names["modules"]
    ufuncs = names.get("ufuncs", ())
    special_ufuncs = names.get("special_ufuncs", ())

    def allowed(modname):
        v = listed.get(modname)
        return v if isinstance(v, list) else None

    mods = {}

    def make(modname, impls=None, ufuncs_=(), kind="function", strict=True):
        if strict and allowed(modname) is None:
            return None  # CuPy has no such module (or it failed to import there)
        m = StandinModule(modname, allowed(modname) if strict else None, impls or {},
                          SOURCES.get(modname), ufuncs_, kind)
        mods[modname] = m
        return m

    cupy = make("cupy", dict(CUPY_IMPLS), ufuncs)
    cupy.__dict__["__version__"] = _VERSION
    make("cupy.linalg")
    make("cupy.fft")
    make("cupy.random", _rand.random_names(allowed("cupy.random") or ()))
    make("cupy.testing", kind="testing")
    make("cupy.lib")
    make("cupy.lib.stride_tricks", strict=False).__dict__["_standin_allowed"] = frozenset(
        ["as_strided", "sliding_window_view"])
    make("cupy.polynomial")

    cuda_impls = dict(_cuda.CUDA_NAMES)
    if REAL_CUPY is not None:  # NVRTC works without a GPU: keep the real compiler reachable
        for sub in ("compiler", "nvrtc"):
            real = getattr(REAL_CUPY.cuda, sub, None)
            if real is not None:
                cuda_impls[sub] = real
    make("cupy.cuda", cuda_impls)
    make("cupy.cuda.runtime", dict(_cuda.RUNTIME_NAMES), strict=False)
    make("cupy.cuda.device", dict(_cuda.DEVICE_NAMES), strict=False)
    make("cupy.cuda.stream", dict(_cuda.STREAM_NAMES), strict=False)
    make("cupy.cuda.memory", dict(_cuda.MEMORY_NAMES), strict=False)
    make("cupy.cuda.nvtx", dict(_cuda.NVTX_NAMES), strict=False)
    make("cupy.cuda.pinned_memory", dict(_cuda.PINNED_NAMES), strict=False)
    make("cupy.cuda.memory_hook", dict(_cuda.MEMORY_HOOK_NAMES), strict=False)
    # NCCL: CuPy 14's names (nccl.pyx); once gen_names.py has listed the module, only those
    nccl = listed.get("cupy.cuda.nccl")
    if nccl is None or isinstance(nccl, list):
        make("cupy.cuda.nccl", {k: v for k, v in _nccl.NCCL_NAMES.items()
                                if nccl is None or k in nccl}, strict=False)

    make("cupyx", dict(CUPYX_IMPLS))
    make("cupyx.scipy", {"get_array_module": get_array_module})
    make("cupyx.scipy.special", ufuncs_=special_ufuncs)
    for sub in ("linalg", "signal", "stats", "ndimage", "fft", "interpolate", "spatial"):
        make(f"cupyx.scipy.{sub}")
    make("cupyx.scipy.sparse", {n: _sparse_false for n in (allowed("cupyx.scipy.sparse") or ())
                                if n.startswith("iss")})

    # CuPy functions that call a method on an argument SciPy/NumPy would take as a number
    # (seen on an H200: cupy.where(False, x, y) and cupyx's polygamma(1, x), which runs
    # where(n == 0, ...), raise AttributeError: 'bool' object has no attribute 'astype')
    _needs_array(cupy, "where", 0, "the condition", min_args=3)
    if "cupyx.scipy.special" in mods:
        _needs_array(mods["cupyx.scipy.special"], "polygamma", 0, "the order n")

    # every submodule is an attribute of its parent, as after `import parent.sub`
    for modname, m in mods.items():
        parent, _, leaf = modname.rpartition(".")
        if parent in mods:
            mods[parent].__dict__[leaf] = m
    return mods


def modules():
    """The stand-in's modules (built once)."""
    global _MODULES
    if _MODULES is None:
        _MODULES = build()
    return _MODULES
