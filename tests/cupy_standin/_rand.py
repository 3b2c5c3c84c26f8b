"""``cupy.random`` of the stand-in: CuPy's signatures (``dtype=`` on the float samplers, device
arrays out, one state per device) over a NumPy ``Generator``."""

import numpy as np

from . import _core


def _out(a, dtype=None):
    a = np.asarray(a)
    if dtype is not None:
        a = a.astype(dtype, copy=False)
    _core.check_dtype(a.dtype)
    return _core.new(a, _core._local.device)


def _args(args, kwargs):
    found = []
    args = _core.unwrap(args, found, allow_host=True)
    kwargs = _core.unwrap(kwargs, found, allow_host=True)
    _core.check_devices(found)
    return args, kwargs


def _float_dtype(dtype):
    dt = np.dtype(float if dtype is None else dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"cupy.random only supports float32 and float64 ({dt})")
    return dt


def _size(size):
    if size is None:
        return None
    return tuple(size) if isinstance(size, (tuple, list)) else (int(size),)


def _method_checker(cls, name):
    """The signature check of CuPy's ``cls.name`` for a sampler delegated to NumPy's
    Generator; ``AttributeError`` where CuPy's class has no such method."""
    check = None
    if not name.startswith("_") and hasattr(np.random.Generator, name):
        check = _core.signature_checker(f"cupy.random.{cls.__name__}", name)
    if check is None:
        raise AttributeError(f"'cupy.random.{cls.__name__}' object has no attribute '{name}'")
    return check


def _dtype_only(name, kwarg):
    """``dtype`` from the keywords of ``rand``/``randn``, which take no other (as CuPy's)."""
    dtype = kwarg.pop("dtype", float)
    if kwarg:
        raise TypeError(f"{name}() got unexpected keyword arguments {', '.join(kwarg)}")
    return dtype


class RandomState:
    """``cupy.random.RandomState``."""

    def __init__(self, seed=None, method=None):
        self.seed(seed)

    def seed(self, seed=None):
        if isinstance(seed, _core.ndarray):
            seed = seed.get()
        self._gen = np.random.Generator(np.random.PCG64(seed))

    def random_sample(self, size=None, dtype=float):
        return _out(self._gen.random(_size(size), dtype=_float_dtype(dtype)))


    def rand(self, *size, **kwarg):
        return self.random_sample(size, _dtype_only("rand", kwarg))

    def randn(self, *size, **kwarg):
        return self.standard_normal(size, _dtype_only("randn", kwarg))

    def standard_normal(self, size=None, dtype=float):
        return _out(self._gen.standard_normal(_size(size), dtype=_float_dtype(dtype)))

    def normal(self, loc=0.0, scale=1.0, size=None, dtype=float):
        (loc, scale), _ = _args((loc, scale), {})
        dt = _float_dtype(dtype)
        if size is None:
            size = np.broadcast_shapes(np.shape(loc), np.shape(scale))
        z = self._gen.standard_normal(_size(size), dtype=dt)
        return _out(z * np.asarray(scale, dt) + np.asarray(loc, dt), dt)

    def uniform(self, low=0.0, high=1.0, size=None, dtype=float):
        (low, high), _ = _args((low, high), {})
        dt = _float_dtype(dtype)
        if size is None:
            size = np.broadcast_shapes(np.shape(low), np.shape(high))
        u = self._gen.random(_size(size), dtype=dt)
        low = np.asarray(low, dt)
        return _out(low + (np.asarray(high, dt) - low) * u, dt)

    def randint(self, low, high=None, size=None, dtype="l"):
        return _out(self._gen.integers(low, high, size=_size(size), dtype=np.dtype(dtype)))

    def tomaxint(self, size=None):
        return _out(self._gen.integers(0, np.iinfo(np.int64).max, size=_size(size)))

    def permutation(self, a):
        (a,), _ = _args((a,), {})
        return _out(self._gen.permutation(a))

    def shuffle(self, a):
        if type(a) is not _core.ndarray:
            raise TypeError("The array must be cupy.ndarray")
        _core.check_devices([a])
        self._gen.shuffle(a._a)

    def choice(self, a, size=None, replace=True, p=None):
        (a, p), _ = _args((a, p), {})
        return _out(self._gen.choice(a, size=_size(size), replace=replace, p=p))

    def __getattr__(self, name):
        check = _method_checker(type(self), name)
        sampler = getattr(self._gen, name)

        def draw(*args, **kwargs):
            given = check(*args, **kwargs)
            size, dtype = given.pop("size", None), given.pop("dtype", None)
            _, given = _args((), given)
            return _out(sampler(size=_size(size), **given), dtype)

        draw.__name__ = name
        draw.__cupy_signature__ = check
        return draw


class Generator:
    """``cupy.random.default_rng(seed)``: NumPy's Generator methods, device arrays out."""

    def __init__(self, seed=None):
        if isinstance(seed, _core.ndarray):
            seed = seed.get()
        self._gen = np.random.default_rng(seed)

    def random(self, size=None, dtype=np.float64, out=None):
        return self._fill(self._gen.random(_size(size), dtype=_float_dtype(dtype)), out)

    def standard_normal(self, size=None, dtype=np.float64, out=None):
        return self._fill(self._gen.standard_normal(_size(size), dtype=_float_dtype(dtype)),
                          out)

    def integers(self, low, high=None, size=None, dtype=np.int64, endpoint=False):
        return _out(self._gen.integers(low, high, size=_size(size), dtype=dtype,
                                       endpoint=endpoint))

    @staticmethod
    def _fill(a, out):
        if out is None:
            return _out(a)
        _core.check_devices([out])
        out._a[...] = a
        return out

    def __getattr__(self, name):
        check = _method_checker(type(self), name)
        sampler = getattr(self._gen, name)

        def draw(*args, **kwargs):
            check(*args, **kwargs)
            args, kwargs = _args(args, kwargs)
            return _out(sampler(*args, **kwargs))

        draw.__name__ = name
        draw.__cupy_signature__ = check
        return draw


_states = {}


def get_random_state():
    dev = _core._local.device
    rs = _states.get(dev)
    if rs is None:
        rs = _states[dev] = RandomState()
    return rs


def set_random_state(rs):
    _states[_core._local.device] = rs


def reset_states():
    _states.clear()


def seed(seed=None):
    get_random_state().seed(seed)


def random_integers(low, high=None, size=None):
    """CuPy's module function: ``randint`` over the closed interval [low, high]."""
    if high is None:
        low, high = 1, low
    return get_random_state().randint(low, high + 1, size)


def default_rng(seed=None):
    return Generator(seed)


# module functions that CuPy draws with another RandomState method (``cupy/random/_sample.py``)
_MODULE_ALIASES = {"random": "random_sample", "ranf": "random_sample", "sample": "random_sample"}


def _module_function(name):
    method = _MODULE_ALIASES.get(name, name)

    def fn(*args, **kwargs):
        return getattr(get_random_state(), method)(*args, **kwargs)

    fn.__name__ = fn.__qualname__ = name
    fn.__module__ = "cupy.random"
    return fn


def random_names(allowed):
    """The implementations of the ``cupy.random`` names in ``allowed``."""
    names = {"RandomState": RandomState, "get_random_state": get_random_state,
             "set_random_state": set_random_state, "reset_states": reset_states,
             "seed": seed, "default_rng": default_rng}
    for name in allowed:
        if name in names:
            continue
        if name == "random_integers":
            names[name] = random_integers
        elif hasattr(RandomState, _MODULE_ALIASES.get(name, name)) or hasattr(
                np.random.Generator, name):
            names[name] = _module_function(name)
    return {k: v for k, v in names.items() if k in allowed}
