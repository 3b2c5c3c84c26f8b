"""Factories: tensors made from nothing but a shape (or another tensor)."""

import numpy as np

from .backend.device import as_device
from .tensor import Tensor, _as_array, _check_grad_dtype, _new_tensor

# the seed of the generators until manual_seed/seed picks another (initial_seed reports it)
_FIRST_SEED = int(np.random.SeedSequence().entropy) % (1 << 63)
_rng = {"cpu": np.random.default_rng(_FIRST_SEED), "seed": _FIRST_SEED}
# the dtype of tensors made from Python floats (and of float factories): PyTorch's default
_DEFAULT_DTYPE = [np.dtype(np.float32)]
_COMPLEX_OF = {np.dtype(np.float16): np.dtype(np.complex64),
               np.dtype(np.float32): np.dtype(np.complex64),
               np.dtype(np.float64): np.dtype(np.complex128)}


def get_default_dtype():
    """The dtype of tensors made from Python floats and of the float factories (``zeros``,
    ``rand``, ``linspace``, ...): float32 unless ``set_default_dtype`` chose another.

    >>> import tensorgrad as tg
    >>> tg.get_default_dtype()
    dtype('float32')
    """
    return _DEFAULT_DTYPE[0]


def set_default_dtype(d, /):
    """Make ``d`` (float32, float64 or float16) the dtype of tensors made from Python floats
    and of the float factories, as PyTorch's; Python complex numbers then become complex64
    (complex128 under float64). Process-wide, as PyTorch's. Tensors made from NumPy arrays keep
    their dtype; an explicit ``dtype=`` wins.

    >>> import tensorgrad as tg
    >>> tg.set_default_dtype(tg.float64)
    >>> tg.tensor([1.5]).dtype
    dtype('float64')
    >>> tg.set_default_dtype(tg.float32)
    """
    try:
        dt = np.dtype(d)
    except TypeError:
        raise TypeError(f"set_default_dtype: expected a dtype, got {d!r}") from None
    if dt not in _COMPLEX_OF:
        raise TypeError(f"set_default_dtype: only floating-point types (float16, float32, "
                        f"float64) can be the default dtype, got {dt}")
    _DEFAULT_DTYPE[0] = dt


def _default_for(data):
    """The dtype ``tensor(data)`` gets from the default dtype, when it is not float32 (which
    ``_as_array`` applies by itself): None to leave the choice to ``_as_array``."""
    default = _DEFAULT_DTYPE[0]
    if default == np.float32 or isinstance(data, (Tensor, np.ndarray, np.generic)):
        return None
    if type(data).__module__.startswith("cupy"):
        return None
    from .tensor import _unwrap_nested

    kind = np.asarray(_unwrap_nested(data)).dtype.kind
    if kind == "f":
        return default
    if kind == "c":
        return _COMPLEX_OF[default]
    return None


def _shape(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        return tuple(size[0])
    return tuple(int(s) for s in size)


def _finish(arr, requires_grad):
    t = _new_tensor(arr, None, False)
    if requires_grad:
        _check_grad_dtype(arr.dtype, "factory")
        t._rg = True
    return t


def _make(fill, size, dtype, device, requires_grad, default=None):
    dev = as_device(device)
    xp = dev.xp
    if dtype is None:
        dtype = _DEFAULT_DTYPE[0] if default is None else default
    dtype = np.dtype(dtype)
    if dev.type == "cpu":
        arr = fill(xp, _shape(size), dtype)
    else:  # pragma: no cover - CuPy
        with xp.cuda.Device(dev.index):
            arr = fill(xp, _shape(size), dtype)
    return _finish(arr, requires_grad)


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor holding ``data`` (a number, nested lists, a NumPy/CuPy array or a Tensor).

    Python floats become float32; NumPy arrays keep their dtype.

    >>> import tensorgrad as tg
    >>> tg.tensor([1.5, 2.0]).dtype
    dtype('float32')
    """
    if dtype is None:
        dtype = _default_for(data)
    arr = _as_array(data, dtype, device)
    if isinstance(data, Tensor) or arr is data:
        arr = arr.copy()
    return _finish(arr, requires_grad)


def from_numpy(array):
    """A tensor sharing memory with the NumPy array ``array``."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return _new_tensor(array, None, False)


def zeros(*size, dtype=None, device=None, requires_grad=False):
    return _make(lambda xp, s, d: xp.zeros(s, d), size, dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    return _make(lambda xp, s, d: xp.ones(s, d), size, dtype, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False):
    return _make(lambda xp, s, d: xp.empty(s, d), size, dtype, device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    size = (size,) if isinstance(size, int) else tuple(size)
    default = None if isinstance(fill_value, float) else (
        np.bool_ if isinstance(fill_value, bool) else np.int64)
    return _make(lambda xp, s, d: xp.full(s, fill_value, d), (size,), dtype, device,
                 requires_grad, default)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    return _make(lambda xp, s, d: xp.eye(n, m, dtype=d), (), dtype, device, requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    floats = any(isinstance(v, float) for v in (start, end, step))
    return _make(lambda xp, s, d: xp.arange(start, end, step, dtype=d), (), dtype, device,
                 requires_grad, None if floats else np.int64)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    return _make(lambda xp, s, d: xp.linspace(start, end, steps, dtype=d), (), dtype, device,
                 requires_grad)


def _like(fn, x, dtype, device, requires_grad):
    dtype = x.dtype if dtype is None else dtype
    return fn(x.shape, dtype=dtype, device=device or x.device, requires_grad=requires_grad)


def zeros_like(x, dtype=None, device=None, requires_grad=False):
    return _like(zeros, x, dtype, device, requires_grad)


def ones_like(x, dtype=None, device=None, requires_grad=False):
    return _like(ones, x, dtype, device, requires_grad)


def empty_like(x, dtype=None, device=None, requires_grad=False):
    return _like(empty, x, dtype, device, requires_grad)


def full_like(x, fill_value, dtype=None, device=None, requires_grad=False):
    dtype = x.dtype if dtype is None else dtype
    return full(x.shape, fill_value, dtype=dtype, device=device or x.device,
                requires_grad=requires_grad)


def manual_seed(seed):
    """Seed the generators behind rand/randn/randint (cpu, and cuda when present)."""
    _seed_devices(seed)
    _rng["cpu"] = np.random.default_rng(seed)


def get_rng_state():
    """The state of the generator behind ``rand``/``randn``/``randint``/dropout/shuffling on
    the CPU, as plain values (a dict of strings and ints) that ``tg.save`` can store; give it
    to ``set_rng_state`` to draw the same numbers again, in this process or another one.

    Unlike PyTorch's ``get_rng_state`` (a byte tensor), this is NumPy's bit-generator state
    (``{"bit_generator": "PCG64", "state": {...}, ...}``). The cuda generators are not part of
    it: CuPy keeps their state in device memory with no public way to read it back, so a run
    whose randomness is drawn on a GPU resumes its CPU draws only.

    >>> import tensorgrad as tg
    >>> state = tg.get_rng_state()
    >>> a = tg.rand(3)
    >>> tg.set_rng_state(state)
    >>> bool((tg.rand(3) == a).all())
    True
    """
    return _rng["cpu"].bit_generator.state


def set_rng_state(state):
    """Make the CPU generator continue from ``state``, a value from ``get_rng_state`` (also
    after a ``tg.save``/``tg.load`` round trip)."""
    if not isinstance(state, dict) or not isinstance(state.get("bit_generator"), str):
        raise TypeError(f"set_rng_state: expected a state from tg.get_rng_state() (a dict "
                        f"naming its bit_generator), got {type(state).__name__}")
    kind = getattr(np.random, state["bit_generator"], None)
    if not (isinstance(kind, type) and issubclass(kind, np.random.BitGenerator)):
        raise ValueError(f"set_rng_state: unknown bit generator {state['bit_generator']!r}")
    bit_generator = kind()
    try:
        bit_generator.state = state
    except (TypeError, ValueError, KeyError) as e:
        raise ValueError(f"set_rng_state: not a valid {state['bit_generator']} state: {e}") \
            from None
    _rng["cpu"] = np.random.Generator(bit_generator)


def _seed_devices(seed):
    """Forget the cuda generators: each is made again from ``seed`` when next used."""
    for key in [k for k in _rng if k != "cpu"]:
        del _rng[key]
    _rng["seed"] = seed


def _generator(dev):
    if dev.type == "cpu":
        return _rng["cpu"]
    key = str(dev)
    if key not in _rng:  # pragma: no cover - CuPy
        seed = _rng.get("seed")
        _rng[key] = dev.xp.random.default_rng(seed)
    return _rng[key]


def rand(*size, dtype=None, device=None, requires_grad=False):
    """Uniform samples in [0, 1)."""
    dev = as_device(device)
    return _make(lambda xp, s, d: _drawn(_generator(dev).random, s, d), size, dtype, dev,
                 requires_grad)


def _drawn(draw, shape, dtype):
    """``draw(shape, dtype=dtype)``; the generators draw float32 and float64 only, so float16
    (a possible default dtype) is drawn in float32 and rounded."""
    if dtype == np.float16:
        return draw(shape, dtype=np.float32).astype(np.float16)
    return draw(shape, dtype=dtype)


def randn(*size, dtype=None, device=None, requires_grad=False):
    """Standard normal samples."""
    dev = as_device(device)
    return _make(lambda xp, s, d: _drawn(_generator(dev).standard_normal, s, d), size, dtype,
                 dev, requires_grad)


def randint(low, high=None, size=(), dtype=None, device=None):
    if high is None:
        low, high = 0, low
    dev = as_device(device)
    return _make(lambda xp, s, d: _generator(dev).integers(low, high, s).astype(d), (size,),
                 dtype, dev, False, np.int64)


_DLPACK_CPU, _DLPACK_CUDA = 1, 2  # DLDeviceType codes


def from_dlpack(x):
    """A tensor sharing memory with ``x``, any object that speaks DLPack (a PyTorch, CuPy or
    JAX array, a NumPy array): CPU data stays on the CPU, CUDA data on its GPU; nothing is
    copied."""
    from .backend.device import require_cuda

    if isinstance(x, Tensor):
        return _new_tensor(x.data, None, False)
    try:
        kind, index = x.__dlpack_device__()
    except AttributeError:
        raise TypeError(f"from_dlpack: expected an object with __dlpack__ and "
                        f"__dlpack_device__, got {type(x).__name__}") from None
    if kind == _DLPACK_CPU:
        return _new_tensor(np.from_dlpack(x), None, False)
    if kind == _DLPACK_CUDA:
        require_cuda("from_dlpack")
        dev = as_device(f"cuda:{index}")
        with dev.xp.cuda.Device(index):
            return _new_tensor(dev.xp.from_dlpack(x), None, False)
    raise TypeError(f"from_dlpack: data on DLPack device type {kind} (index {index}); "
                    "tensorgrad takes CPU (1) and CUDA (2) data")
