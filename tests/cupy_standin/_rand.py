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

    random = ranf = sample = random_sample

    def rand(self, *size, dtype=float):
        return self.random_sample(size, dtype)

    def randn(self, *size, dtype=float):
        return self.standard_normal(size, dtype)

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

    def random_integers(self, low, high=None, size=None):
        if high is None:
            low, high = 1, low
        return _out(self._gen.integers(low, high, size=_size(size), endpoint=True))

    def tomaxint(self, size=None):
        return _out(self._gen.integers(0, np.iinfo(np.int64).max, size=_size(size)))

    def permutation(self, num):
        (num,), _ = _args((num,), {})
        return _out(self._gen.permutation(num))

    def shuffle(self, a):
        if type(a) is not _core.ndarray:
            raise TypeError("The array must be cupy.ndarray")
        _core.check_devices([a])
        self._gen.shuffle(a._a)

    def choice(self, a, size=None, replace=True, p=None):
        (a, p), _ = _args((a, p), {})
        return _out(self._gen.choice(a, size=_size(size), replace=replace, p=p))

    def __getattr__(self, name):
        if name.startswith("_") or not hasattr(np.random.Generator, name):
            raise AttributeError(name)
        sampler = getattr(self._gen, name)

        def draw(*args, size=None, dtype=None, **kwargs):
            args, kwargs = _args(args, kwargs)
            return _out(sampler(*args, size=_size(size), **kwargs), dtype)

        draw.__name__ = name
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
        if name.startswith("_") or not hasattr(np.random.Generator, name):
            raise AttributeError(name)
        sampler = getattr(self._gen, name)

        def draw(*args, **kwargs):
            args, kwargs = _args(args, kwargs)
            return _out(sampler(*args, **kwargs))

        draw.__name__ = name
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


def default_rng(seed=None):
    return Generator(seed)


def _module_function(name):
    def fn(*args, **kwargs):
        return getattr(get_random_state(), name)(*args, **kwargs)

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
        if hasattr(RandomState, name) or hasattr(np.random.Generator, name):
            names[name] = _module_function(name)
    return {k: v for k, v in names.items() if k in allowed}
