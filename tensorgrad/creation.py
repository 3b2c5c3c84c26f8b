"""Factories: tensors made from nothing but a shape (or another tensor)."""

import math
import numbers

import numpy as np

from . import _memory_format as _mf
from .backend.device import _DEFAULT, as_device, factory_device, require_cuda
from .tensor import Tensor, _as_array, _check_grad_dtype, _new_tensor


def _fresh_seed():
    return int(np.random.SeedSequence().entropy) % (1 << 63)


# The global generators: "cpu" (a NumPy Generator, the one behind tg.rand and default_generator),
# "cpu_seed" (its seed, for initial_seed), "seed" (the seed the cuda generators are made from
# when first used) and one CuPy generator per cuda device used ("cuda:0", ...). manual_seed
# replaces the objects, so readers look them up at each draw.
_FIRST_SEED = _fresh_seed()
_rng = {"cpu": np.random.default_rng(_FIRST_SEED), "cpu_seed": _FIRST_SEED, "seed": _FIRST_SEED}
# the seed of a new Generator until manual_seed/seed: PyTorch's default seed, so that a new
# tg.Generator, like a new torch.Generator, draws the same stream in every run
_NEW_GENERATOR_SEED = 67280421310721
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
    dev = factory_device(device)
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
    if device is None:
        device = _DEFAULT[0]  # None (the CPU, or where a Tensor's or CuPy array's data is)
        # unless a default device is set: then everything goes there, as PyTorch's
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


def empty(*size, dtype=None, device=None, requires_grad=False,
          memory_format=_mf.contiguous_format):
    """An uninitialised tensor; ``memory_format=tg.channels_last`` lays a 4-d one out NHWC."""
    if memory_format is _mf.contiguous_format:
        return _make(lambda xp, s, d: xp.empty(s, d), size, dtype, device, requires_grad)
    perm = _mf.empty_order(_shape(size), memory_format, "empty")
    t = _make(lambda xp, s, d: xp.empty(_mf.permuted_shape(s, perm), d), size, dtype, device,
              requires_grad)
    t.data = _mf.unpermute(t.data, perm)
    return t


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    size = (size,) if isinstance(size, int) else tuple(size)
    if isinstance(fill_value, (bool, np.bool_)):
        default = np.bool_
    elif isinstance(fill_value, (numbers.Integral, np.integer)):
        default = np.int64
    elif isinstance(fill_value, (complex, np.complexfloating)):  # the default complex dtype
        default = np.result_type(_DEFAULT_DTYPE[0], np.complex64)
    else:
        default = None  # the default float dtype
    return _make(lambda xp, s, d: xp.full(s, fill_value, d), (size,), dtype, device,
                 requires_grad, default)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    return _make(lambda xp, s, d: xp.eye(n, m, dtype=d), (), dtype, device, requires_grad)


def _integral(dtype):
    return dtype is not None and np.dtype(dtype).kind in "iu"


def _int_arange(xp, start, end, step, dtype):
    """PyTorch's arange of an integer dtype from float bounds: start and step truncated to
    integers; the length from the truncated bounds for int64 (C's integer division), from the
    float ones for the narrower types."""
    s, e, st = (int(v) for v in (start, end, step))  # int() truncates toward zero, as C's cast
    if (st if dtype == np.int64 else step) == 0:
        raise RuntimeError("arange(): step must be nonzero")
    if dtype == np.int64:
        num = e - s + st - (1 if st > 0 else -1)
        n = abs(num) // abs(st) * (1 if (num >= 0) == (st > 0) else -1)
    else:
        n = math.ceil((end - start) / step)
    if n < 0:
        raise RuntimeError(f"arange(): upper bound {end} and lower bound {start} inconsistent "
                           f"with the sign of step {step}")
    return (s + st * xp.arange(n, dtype=np.int64)).astype(dtype)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    if all(isinstance(v, numbers.Real) for v in (start, end, step)):  # O(1), on the host
        if step == 0:
            raise RuntimeError(f"arange(): step must be nonzero (start {start}, end {end})")
        if (step > 0 and end < start) or (step < 0 and end > start):
            raise RuntimeError(f"arange(): upper bound {end} and lower bound {start} "
                               f"inconsistent with the sign of step {step}")
    floats = any(isinstance(v, float) for v in (start, end, step))
    if floats and _integral(dtype):
        return _make(lambda xp, s, d: _int_arange(xp, start, end, step, d), (), dtype, device,
                     requires_grad)
    return _make(lambda xp, s, d: _float_arange(xp, start, end, step, d), (), dtype, device,
                 requires_grad, None if floats else np.int64)


def _float_arange(xp, start, end, step, dtype):
    """NumPy's arange; a narrower float dtype's values computed in float64 and rounded once,
    as PyTorch's (arange(0, 1, 0.1)[9] is float32(0.9), not 9 * float32(0.1) = 0.90000004)."""
    if dtype.kind == "f" and dtype.itemsize < 8:
        return xp.arange(start, end, step, dtype=np.float64).astype(dtype)
    return xp.arange(start, end, step, dtype=dtype)


def _int_linspace(xp, start, end, steps, dtype):
    """PyTorch's linspace of an integer dtype: the bounds truncated to integers, the step in
    float64, the first half counted up from start and the second down from end, each value
    truncated."""
    s, e = int(start), int(end)
    if steps == 1:
        return xp.full((1,), s, dtype)
    return _int_steps(xp, s, e, steps).astype(np.int64).astype(dtype)


def _int_steps(xp, s, e, steps):
    """The float64 points of PyTorch's integer-dtype linspace/logspace kernels between the
    truncated bounds ``s`` and ``e`` (steps >= 2): the first half counted up from ``s``, the
    second down from ``e``."""
    step = (e - s) / (steps - 1)
    i = xp.arange(steps, dtype=np.float64)
    return xp.where(i < steps // 2, s + step * i, e - step * (steps - 1 - i))


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    # 0-d tensors as bounds (PyTorch's tensor overload) count by their value, wherever they are
    start, end = (v.item() if isinstance(v, Tensor) else v for v in (start, end))
    if _integral(dtype):
        return _make(lambda xp, s, d: _int_linspace(xp, start, end, steps, d), (), dtype,
                     device, requires_grad)
    return _make(lambda xp, s, d: xp.linspace(start, end, steps, dtype=d), (), dtype, device,
                 requires_grad)


def _like(fn, x, dtype, device, requires_grad, memory_format, op):
    """``fn(shape, ...)`` for ``x``'s shape, dtype and device; laid out as ``memory_format``
    says (``preserve_format``: as ``x`` is, channels_last included, as PyTorch)."""
    dtype = x.dtype if dtype is None else dtype
    perm = _mf.like_order(x, memory_format, op)
    if perm is None:
        return fn(x.shape, dtype=dtype, device=device or x.device, requires_grad=requires_grad)
    t = fn(_mf.permuted_shape(x.shape, perm), dtype=dtype, device=device or x.device,
           requires_grad=requires_grad)
    t.data = _mf.unpermute(t.data, perm)
    return t


def zeros_like(x, dtype=None, device=None, requires_grad=False, *,
               memory_format=_mf.preserve_format):
    return _like(zeros, x, dtype, device, requires_grad, memory_format, "zeros_like")


def ones_like(x, dtype=None, device=None, requires_grad=False, *,
              memory_format=_mf.preserve_format):
    return _like(ones, x, dtype, device, requires_grad, memory_format, "ones_like")


def empty_like(x, dtype=None, device=None, requires_grad=False, *,
               memory_format=_mf.preserve_format):
    return _like(empty, x, dtype, device, requires_grad, memory_format, "empty_like")


def full_like(x, fill_value, dtype=None, device=None, requires_grad=False, *,
              memory_format=_mf.preserve_format):
    def fill(shape, **kw):
        return full(shape, fill_value, **kw)

    return _like(fill, x, dtype, device, requires_grad, memory_format, "full_like")


def _check_seed(seed, who):
    """``seed`` as a non-negative int below 2**64; a negative seed wraps around, as PyTorch's."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{who}: seed must be an int, got {type(seed).__name__}")
    seed = int(seed)
    if not -(1 << 63) <= seed < (1 << 64):
        raise RuntimeError(f"{who}: seed must be within [-2**63, 2**64), got {seed}")
    return seed % (1 << 64)


def _numpy_from_state(state, who):
    """A NumPy Generator continuing from ``state`` (NumPy's bit-generator state dict)."""
    if not isinstance(state, dict) or not isinstance(state.get("bit_generator"), str):
        raise TypeError(f"{who}: expected a state from get_state()/tg.get_rng_state() (a dict "
                        f"naming its bit_generator), got {type(state).__name__}")
    kind = getattr(np.random, state["bit_generator"], None)
    if not (isinstance(kind, type) and issubclass(kind, np.random.BitGenerator)):
        raise ValueError(f"{who}: unknown bit generator {state['bit_generator']!r}")
    bit_generator = kind()
    try:
        bit_generator.state = state
    except (TypeError, ValueError, KeyError) as e:
        raise ValueError(f"{who}: not a valid {state['bit_generator']} state: {e}") from None
    return np.random.Generator(bit_generator)


class DeviceGeneratorState:
    """The state of a cuda ``Generator``, from its ``get_state()``: opaque, and usable only by
    ``set_state`` of a generator on the same device in this process. CuPy keeps a generator's
    state in device memory with no public way to read it back or write it, so this holds a
    copy of the generator itself (made on its device); it cannot be saved with ``tg.save``."""

    __slots__ = ("device", "_gen")

    def __init__(self, device, gen):
        self.device = device
        self._gen = gen

    def __repr__(self):
        return f"<tensorgrad.DeviceGeneratorState of a generator on {self.device}>"


def _copy_backend(gen):
    from .utils.checkpoint import _copy_generator

    return _copy_generator(gen)


class Generator:
    """A random-number generator of its own, as ``torch.Generator``: give it to the random
    factories (``rand``, ``randn``, ``randint``, ``randperm``, ``normal``, ``bernoulli``,
    ``multinomial``, the ``*_like`` ones, ``Tensor.uniform_``/``normal_``) and to
    ``tensorgrad.utils.data`` as ``generator=``. Drawing from it does not advance the global
    generator behind ``tg.rand`` (``tg.default_generator``), and the same state draws the same
    numbers.

    On the CPU it is a NumPy ``Generator`` (PCG64), on a GPU a CuPy one; the numbers are not
    PyTorch's (other bit generators), only PyTorch's way of using them. A new generator starts
    from PyTorch's default seed 67280421310721, so unseeded runs repeat, as PyTorch's do.

    ``get_state()`` is NumPy's bit-generator state on the CPU (a dict that ``tg.save`` can
    store; ``set_state`` takes it back, in this process or another). On cuda it is an opaque
    ``DeviceGeneratorState``: CuPy keeps the state on the GPU with no public read-back, so the
    state is a device copy, usable by ``set_state`` in this process only.

    >>> import tensorgrad as tg
    >>> g = tg.Generator().manual_seed(42)
    >>> a = tg.rand(3, generator=g)
    >>> bool((tg.rand(3, generator=g.manual_seed(42)) == a).all())
    True
    >>> state = g.get_state()
    >>> b = tg.randn(2, generator=g)
    >>> bool((tg.randn(2, generator=g.set_state(state)) == b).all())
    True
    """

    def __init__(self, device="cpu"):
        dev = as_device(device)
        if dev.type != "cpu":
            require_cuda(f"Generator(device={str(dev)!r})")
        self._device = dev
        self._seed = _NEW_GENERATOR_SEED
        self._gen = None  # made from _seed when first drawn from (cuda: on its device)

    @property
    def device(self):
        """Where the generator draws: tensors it fills must be on this device."""
        return self._device

    def __repr__(self):
        return f"<tensorgrad.Generator on {self._device}>"

    # the NumPy/CuPy generator behind it (_DefaultGenerator overrides _backend, _put and
    # _current_seed to read and write the global entries instead)
    def _backend(self):
        if self._gen is None:
            self._gen = self._made(self._seed)
        return self._gen

    def _put(self, gen, seed):
        self._gen = gen
        if seed is not None:
            self._seed = seed

    def _made(self, seed):
        if self._device.type == "cpu":
            return np.random.default_rng(seed)
        xp = self._device.xp  # pragma: no cover - CuPy
        with xp.cuda.Device(self._device.index):  # pragma: no cover - CuPy
            return xp.random.default_rng(seed)

    def manual_seed(self, seed):
        """Seed the generator with the int ``seed``; returns the generator."""
        seed = _check_seed(seed, "Generator.manual_seed")
        self._put(self._made(seed), seed)
        return self

    def seed(self):
        """Seed the generator with a fresh, nondeterministic seed and return that seed."""
        s = _fresh_seed()
        self.manual_seed(s)
        return s

    def initial_seed(self):
        """The seed the generator was last seeded with (or the one it started from)."""
        return self._current_seed()

    def _current_seed(self):
        return self._seed

    def get_state(self):
        """The generator's state: on the CPU a dict (NumPy's bit-generator state, a fresh copy
        that ``tg.save`` can store), on cuda an opaque ``DeviceGeneratorState`` (see the
        class's docstring)."""
        gen = self._backend()
        if self._device.type == "cpu":
            return gen.bit_generator.state
        return DeviceGeneratorState(self._device, _copy_backend(gen))  # pragma: no cover

    def set_state(self, new_state):
        """Continue from ``new_state``, a value of ``get_state()``; returns the generator."""
        who = "Generator.set_state"
        if self._device.type == "cpu":
            if isinstance(new_state, DeviceGeneratorState):
                raise TypeError(f"{who}: a state of a generator on {new_state.device} cannot "
                                f"be loaded into a generator on cpu")
            self._put(_numpy_from_state(new_state, who), None)
            return self
        if not isinstance(new_state, DeviceGeneratorState):
            raise TypeError(f"{who}: a generator on {self._device} takes the opaque state "
                            f"its get_state() returns (CuPy keeps the state on the GPU, so a "
                            f"CPU state cannot be loaded into it), got {type(new_state).__name__}")
        if new_state.device != self._device:
            raise RuntimeError(f"{who}: the state is of a generator on {new_state.device}, "
                               f"this generator is on {self._device}")
        self._put(_copy_backend(new_state._gen), None)  # a copy: the state serves again
        return self

    def clone_state(self):
        """A new Generator on the same device, with this one's seed and state (the two then
        draw the same numbers, independently)."""
        new = Generator(self._device)
        new._seed = self.initial_seed()
        return new.set_state(self.get_state())

    def _no_offset(self, op):
        if self._device.type == "cpu":
            return RuntimeError("CPU Generator does not use offset")
        return RuntimeError(f"Generator.{op}: tensorgrad's cuda generator (CuPy's) has no "
                            "Philox offset to read or set; use get_state()/set_state()")

    def get_offset(self):
        """PyTorch's Philox offset: the CPU generator has none and raises, as PyTorch's."""
        raise self._no_offset("get_offset")

    def set_offset(self, offset):
        """See :meth:`get_offset`."""
        raise self._no_offset("set_offset")

    def graphsafe_get_state(self):
        """PyTorch's CUDA-graph-safe state: on cuda a generator holding a copy of this one's
        state (``clone_state``); on the CPU it raises NotImplementedError, as PyTorch's."""
        if self._device.type == "cpu":
            raise NotImplementedError("graphsafe_get_state is not supported in this Generator")
        return self.clone_state()

    def graphsafe_set_state(self, state):
        """Continue from the state of ``state`` (a generator from ``graphsafe_get_state``);
        on the CPU it raises NotImplementedError, as PyTorch's."""
        if self._device.type == "cpu":
            raise NotImplementedError("graphsafe_set_state is not supported in this Generator")
        if not isinstance(state, Generator):
            raise TypeError(f"Generator.graphsafe_set_state: state must be a Generator, got "
                            f"{type(state).__name__}")
        return self.set_state(state.get_state())


class _DefaultGenerator(Generator):
    """The global CPU generator (``_rng["cpu"]``) seen as a Generator: it reads and replaces
    the global entries, so ``tg.manual_seed``, ``tg.set_rng_state`` and the checkpoint's RNG
    replay, which swap them, are seen by it and it by them."""

    def __init__(self):
        super().__init__("cpu")
        self._seed = None

    def __repr__(self):
        return "<tensorgrad.default_generator on cpu>"

    def _backend(self):
        return _rng["cpu"]

    def _put(self, gen, seed):
        _rng["cpu"] = gen
        if seed is not None:
            _rng["cpu_seed"] = seed

    def _current_seed(self):
        return _rng["cpu_seed"]


#: the CPU generator behind ``tg.rand``/``randn``/``randint``/dropout/shuffling when no
#: ``generator=`` is given; ``tg.manual_seed`` seeds it (and the cuda generators)
default_generator = _DefaultGenerator()


def manual_seed(seed):
    """Seed the generators behind rand/randn/randint (cpu, and cuda when present) and return
    ``tg.default_generator``, as PyTorch's.

    >>> import tensorgrad as tg
    >>> tg.manual_seed(0) is tg.default_generator
    True
    """
    seed = _check_seed(seed, "manual_seed")
    _seed_devices(seed)
    return default_generator.manual_seed(seed)


def get_rng_state():
    """The state of the generator behind ``rand``/``randn``/``randint``/dropout/shuffling on
    the CPU (``tg.default_generator.get_state()``), as plain values (a dict of strings and
    ints) that ``tg.save`` can store; give it to ``set_rng_state`` to draw the same numbers
    again, in this process or another one.

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
    return default_generator.get_state()


def set_rng_state(new_state):
    """Make the CPU generator continue from ``new_state``, a value from ``get_rng_state``
    (also after a ``tg.save``/``tg.load`` round trip)."""
    _rng["cpu"] = _numpy_from_state(new_state, "set_rng_state")


def _seed_devices(seed):
    """Forget the cuda generators: each is made again from ``seed`` when next used."""
    seed = _check_seed(seed, "manual_seed")
    for key in [k for k in _rng if k.startswith("cuda")]:
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


def _source(generator, dev, who):
    """A function returning the NumPy/CuPy generator to draw from for a tensor on ``dev``:
    ``generator``'s, or the global one of ``dev`` when it is None. Called inside ``_make``'s
    device context, so a cuda generator is made on its device."""
    dev = as_device(dev)
    if generator is None:
        return lambda: _generator(dev)
    if not isinstance(generator, Generator):
        raise TypeError(f"{who}(): generator must be a tg.Generator or None, got "
                        f"{type(generator).__name__}")
    if generator.device != dev:
        raise RuntimeError(f"{who}(): Expected a '{dev.type}' device type for generator but "
                           f"found '{generator.device.type}' (the generator is on "
                           f"{generator.device}, the tensor is made on {dev}); make the "
                           f"generator with tg.Generator(device={str(dev)!r})")
    return generator._backend


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False):
    """Uniform samples in [0, 1), from ``generator`` (a ``tg.Generator`` on ``device``) or
    the global generator of ``device``. The values are not PyTorch's (other bit generators).

    >>> import tensorgrad as tg
    >>> tg.rand(2, 3, generator=tg.Generator().manual_seed(0)).shape
    (2, 3)
    """
    dev = factory_device(device)
    src = _source(generator, dev, "rand")
    return _make(lambda xp, s, d: _drawn(src().random, s, d), size, dtype, dev, requires_grad)


def _drawn(draw, shape, dtype, part_scale=1.0):
    """``draw(shape, dtype=dtype)``; the generators draw float32 and float64 only, so float16
    (a possible default dtype) is drawn in float32 and rounded. A complex dtype draws its real
    and imaginary parts in the matching real dtype, each times ``part_scale`` (PyTorch's
    complex randn gives each part variance 1/2, its complex rand each part U[0, 1))."""
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        part = np.float32 if dtype == np.complex64 else np.float64
        real = draw(shape, dtype=part)
        imag = draw(shape, dtype=part)
        if part_scale != 1.0:
            real, imag = real * part_scale, imag * part_scale
        return (real + 1j * imag).astype(dtype)
    if dtype == np.float16:
        return draw(shape, dtype=np.float32).astype(np.float16)
    return draw(shape, dtype=dtype)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False):
    """Standard normal samples, from ``generator`` (a ``tg.Generator`` on ``device``) or the
    global generator of ``device``. The values are not PyTorch's (other bit generators)."""
    dev = factory_device(device)
    src = _source(generator, dev, "randn")
    return _make(lambda xp, s, d: _drawn(src().standard_normal, s, d, 0.5 ** 0.5), size,
                 dtype, dev, requires_grad)


def randint(low, high=None, size=(), *, generator=None, dtype=None, device=None,
            requires_grad=False):
    """Integers drawn uniformly from [low, high) (``randint(high, size)``: from [0, high)),
    from ``generator`` (a ``tg.Generator`` on ``device``) or the global generator of
    ``device``. The values are not PyTorch's (other bit generators).

    >>> import tensorgrad as tg
    >>> tg.randint(3, 5, (4,), generator=tg.Generator().manual_seed(1)).shape
    (4,)
    """
    if high is None:
        low, high = 0, low
    elif isinstance(high, (tuple, list)) and size == ():  # randint(high, size), as PyTorch's
        low, high, size = 0, low, high
    dev = factory_device(device)
    src = _source(generator, dev, "randint")
    return _make(lambda xp, s, d: src().integers(low, high, s).astype(d), (size,),
                 dtype, dev, requires_grad, np.int64)


_DLPACK_CPU, _DLPACK_CUDA = 1, 2  # DLDeviceType codes


def from_dlpack(ext_tensor, *, device=None, copy=None):
    """A tensor sharing memory with ``ext_tensor``, any object that speaks DLPack (a PyTorch,
    CuPy or JAX array, a NumPy array): CPU data stays on the CPU, CUDA data on its GPU; nothing
    is copied. As PyTorch's: ``device`` moves the result there (a copy when it differs),
    ``copy=True`` always copies, ``copy=False`` refuses to copy."""
    t = _from_dlpack(ext_tensor)
    if device is not None and as_device(device) != t.device:
        if copy is False:
            raise ValueError(f"from_dlpack: copy=False, but the data is on {t.device} and "
                             f"device={device!r} needs a copy")
        return t.to(device)
    return t.clone() if copy else t


def _from_dlpack(x):
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
