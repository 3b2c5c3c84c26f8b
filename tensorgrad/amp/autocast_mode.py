"""``autocast``: PyTorch's CUDA autocast policy for the ops tensorgrad has.

Each primitive may carry a policy (``Primitive.amp``), declared where the primitive is:

- ``"lower"`` (matmul, linear, einsum; the convolutions and attention in ``nn.functional``):
  floating inputs of float32 are cast to the autocast dtype (float16);
- ``"fp32"`` (exp, log, pow, sum, prod, cumsum, logsumexp, norms, softmax, log_softmax, the
  losses, layer/group/batch norm, ...): float16 inputs are cast up to float32;
- none: the op runs in the widest type of its inputs (NumPy's promotion).

float64 inputs, integer inputs and tensors on another device type are never cast, as in
PyTorch. Composite functions of ``nn.functional`` cast their inputs on entry
(:func:`cast_inputs`); the ops inside then apply their own policies (attention's softmax runs
in float32 between two float16 products, so the output is float16 as PyTorch's).

The casts are the differentiable ``astype`` primitive, whose VJP casts the cotangent back: a
float32 parameter gets a float32 gradient. A leaf that requires grad is cast once per region
(the cast cache, emptied when the outermost region exits; an entry is remade when the leaf was
written in place, its data replaced, or the grad mode changed).

Cost outside autocast: ``ops.registry.AUTOCAST[0]`` counts the enabled regions open in any
thread; while it is 0 an op with a policy pays one flag test and the others nothing. The state
itself (enabled, dtype, cache) is per thread, as PyTorch's.
"""

import contextlib
import functools
import threading
import warnings

import numpy as np

from ..autograd.grad_mode import _state as _grad_state
from ..backend.device import _CUPY_ARRAY, cuda_available
from ..ops.elementwise import astype
from ..ops.registry import AUTOCAST
from ..tensor import Tensor

LOWER = "lower"
FP32 = "fp32"

_F16 = np.dtype(np.float16)
_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_DEVICE_TYPES = ("cuda", "cpu")
_LOCK = threading.Lock()


class _State(threading.local):
    """This thread's autocast state (a new thread starts with autocast off, as in PyTorch)."""

    def __init__(self):
        self.enabled = {"cuda": False, "cpu": False}
        self.dtype = {"cuda": _F16, "cpu": _F16}
        self.cache_enabled = True
        self.nesting = 0
        self.cache = {}  # id(leaf) -> (leaf, its data, its version, grad mode, the cast)


_tls = _State()


def _cast(a, policy, st):
    """``a`` cast by ``policy`` if it is a floating tensor (or array) on a device type whose
    autocast is on in this thread; else ``a`` itself."""
    if isinstance(a, Tensor):
        d = a.data
    elif type(a) is np.ndarray or type(a) is _CUPY_ARRAY:
        d = a
    else:
        return a
    dt = d.dtype
    if dt.kind != "f" or dt == _F64:
        return a
    dev = "cuda" if type(d) is _CUPY_ARRAY else "cpu"
    if not st.enabled[dev]:
        return a
    if policy == LOWER:
        to = st.dtype[dev]
        if dt == to:
            return a
    elif dt == _F32:
        return a
    else:
        to = _F32
    if a is d:  # a raw array: a constant, no graph
        return d.astype(to)
    if policy == LOWER and st.cache_enabled and a._rg and a._node is None:
        return _cached_cast(a, to, st)
    return astype(a, to)


def _cached_cast(a, to, st):
    """PyTorch's cast cache: a leaf that requires grad (a weight) is cast once per region."""
    mode = _grad_state.enabled
    hit = st.cache.get(id(a))
    if hit is not None:
        src, data, version, was, out = hit
        node = out._node
        if src is a and data is a.data and version == a._vc[0] and was == mode and \
                out.dtype == to and (node is None or node.args is not None):
            return out
    out = astype(a, to)
    st.cache[id(a)] = (a, a.data, a._vc[0], mode, out)
    return out


def _cast_args(policy, args):
    """The arguments of a primitive with an autocast ``policy``, cast (the hook that
    ``ops.registry.apply`` calls while some thread has autocast on)."""
    st = _tls
    en = st.enabled
    if not (en["cuda"] or en["cpu"]) or _grad_state.backward:
        return args
    out = None
    for i, a in enumerate(args):
        c = _cast(a, policy, st)
        if c is not a:
            if out is None:
                out = list(args)
            out[i] = c
    return args if out is None else tuple(out)


AUTOCAST[1] = _cast_args


def cast_inputs(policy, *values):
    """``values`` (tensors, arrays, None, numbers) cast by ``policy`` (``"lower"`` or
    ``"fp32"``) where autocast is on in this thread: the entry of a composite function of the
    lower-precision or the float32 list. Call it after testing ``AUTOCAST[0]``."""
    return _cast_args(policy, values)


def _dtype_name(dtype):
    name = dtype if isinstance(dtype, str) else getattr(dtype, "__name__", None) or str(dtype)
    return name.lower().removeprefix("torch.")


def _autocast_dtype(dtype, device_type):
    """The numpy dtype for autocast's ``dtype`` argument (tensorgrad's, NumPy's or PyTorch's
    spelling); bfloat16 raises, since neither NumPy nor CuPy has it."""
    name = _dtype_name(dtype)
    if name in ("bfloat16", "bf16"):
        raise ValueError(
            f"autocast: dtype bfloat16 is not available for device_type '{device_type}': "
            "tensorgrad computes with NumPy and CuPy, which have float16 but no bfloat16; "
            "use dtype=tg.float16 (the default)")
    name = {"half": "float16", "float": "float32", "double": "float64"}.get(name, name)
    try:
        return np.dtype(name)
    except TypeError:
        raise ValueError(f"autocast: unknown dtype {dtype!r}; use tg.float16") from None


def is_autocast_available(device_type):
    """Whether autocast supports ``device_type`` ('cuda' and 'cpu')."""
    return device_type in _DEVICE_TYPES


def _check_device_type(device_type, what):
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if device_type not in _DEVICE_TYPES:
        raise RuntimeError(f"{what}: unsupported autocast device_type '{device_type}'; "
                           "expected 'cuda' or 'cpu'")


def is_autocast_enabled(device_type=None):
    """Whether autocast is on for ``device_type`` in this thread (``'cuda'`` when None, as
    PyTorch's argument-free form)."""
    device_type = "cuda" if device_type is None else device_type
    _check_device_type(device_type, "is_autocast_enabled")
    return _tls.enabled[device_type]


def get_autocast_dtype(device_type):
    """The dtype autocast casts to on ``device_type`` in this thread (float16 for both; there
    is no bfloat16 here)."""
    _check_device_type(device_type, "get_autocast_dtype")
    return _tls.dtype[device_type]


def is_autocast_cache_enabled():
    """Whether autocast regions entered with ``cache_enabled=None`` cache their weight casts."""
    return _tls.cache_enabled


def clear_autocast_cache():
    """Drop this thread's cached casts (the outermost region's exit does it too)."""
    _tls.cache.clear()


def _snapshot():
    """This thread's autocast state, for ``_replay`` (None when autocast is off)."""
    st = _tls
    on = tuple((dev, st.dtype[dev]) for dev in _DEVICE_TYPES if st.enabled[dev])
    return (on, st.cache_enabled) if on else None


@contextlib.contextmanager
def _replay(snapshot):
    """The autocast state of ``snapshot`` inside the block, also inside a reverse pass (where
    autocast is otherwise off): activation checkpointing recomputes a region under the
    autocast its first run had, as PyTorch's does."""
    on, cache_enabled = snapshot or ((), True)
    dtypes = dict(on)
    saved = _grad_state.backward
    _grad_state.backward = 0
    try:
        with contextlib.ExitStack() as stack:
            for dev in _DEVICE_TYPES:
                if dev in dtypes:
                    stack.enter_context(autocast(dev, dtypes[dev], True, cache_enabled))
                elif _tls.enabled[dev]:
                    stack.enter_context(autocast(dev, enabled=False))
            yield
    finally:
        _grad_state.backward = saved


class autocast:
    """Mixed precision in a region (context manager) or a function (decorator), as
    ``torch.autocast``: matrix products, linear layers, convolutions and attention on
    ``device_type`` ('cuda' or 'cpu') run in ``dtype`` (float16), precision-sensitive ops
    (softmax, losses, norms, exp/log/pow, sums) in float32, the rest in the widest type of
    their inputs. ``enabled=False`` switches it off inside an enclosing region;
    ``cache_enabled`` (default True) casts each weight once per region.

    Gradients are computed outside the region (call ``backward()`` after the ``with`` block, as
    PyTorch recommends); a float32 parameter gets a float32 gradient. Pair it with
    :class:`tensorgrad.amp.GradScaler` so that small float16 gradients do not underflow.

    NumPy and CuPy have float16 but no bfloat16, so ``dtype=tg.bfloat16`` raises (on the CPU
    PyTorch defaults to bfloat16; here both device types default to float16). On the CPU,
    NumPy's float16 is emulated and slower than float32: autocast('cpu') is for testing a
    mixed-precision program, not for speed.

    >>> import tensorgrad as tg
    >>> a, b = tg.ones(2, 3), tg.ones(3, 2)
    >>> with tg.autocast("cpu"):
    ...     c = a @ b
    ...     with tg.autocast("cpu", enabled=False):
    ...         d = a @ b
    >>> c.dtype, d.dtype
    (dtype('float16'), dtype('float32'))
    """

    def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=None):
        _check_device_type(device_type, "autocast")
        self.device = device_type
        # a disabled region casts nothing, so it takes bfloat16 too (as scripts written for
        # PyTorch's CPU autocast pass it), keeping the device's default as its dtype
        off_bf16 = not enabled and dtype is not None and _dtype_name(dtype) in ("bfloat16",
                                                                                 "bf16")
        self.fast_dtype = get_autocast_dtype(device_type) if dtype is None or off_bf16 else \
            _autocast_dtype(dtype, device_type)
        self._enabled = bool(enabled)
        self._cache_enabled = is_autocast_cache_enabled() if cache_enabled is None else \
            bool(cache_enabled)
        if self._enabled and device_type == "cuda" and not cuda_available():
            warnings.warn("User provided device_type of 'cuda', but CUDA is not available. "
                          "Disabling", stacklevel=2)
            self._enabled = False
        if self._enabled and self.fast_dtype != _F16:
            warnings.warn(f"In {device_type} autocast, but the target dtype {self.fast_dtype} is "
                          "not supported. Disabling autocast.\ntensorgrad's autocast supports "
                          "float16 only (NumPy and CuPy have no bfloat16).", stacklevel=2)
            self._enabled = False
        self._saved = []  # a stack: the same object may be entered again inside itself

    def __enter__(self):
        st = _tls
        dev = self.device
        counted = self._enabled
        self._saved.append((st.enabled[dev], st.dtype[dev], st.cache_enabled, counted))
        st.enabled[dev] = self._enabled
        if self._enabled:
            st.dtype[dev] = self.fast_dtype
        st.cache_enabled = self._cache_enabled
        st.nesting += 1
        if counted:
            with _LOCK:
                AUTOCAST[0] += 1
        return self

    def __exit__(self, *exc):
        st = _tls
        dev = self.device
        enabled, dtype, cache_enabled, counted = self._saved.pop()
        st.nesting -= 1
        if st.nesting == 0:
            st.cache.clear()
        st.enabled[dev] = enabled
        st.dtype[dev] = dtype
        st.cache_enabled = cache_enabled
        if counted:
            with _LOCK:
                AUTOCAST[0] -= 1
        return False

    def __call__(self, func):
        args = (self.device, self.fast_dtype, self._enabled, self._cache_enabled)

        @functools.wraps(func)
        def decorate_autocast(*a, **kw):
            with autocast(*args):  # a fresh region per call: safe in threads and recursion
                return func(*a, **kw)

        return decorate_autocast

    def __repr__(self):
        return (f"autocast(device_type={self.device!r}, dtype={self.fast_dtype}, "
                f"enabled={self._enabled}, cache_enabled={self._cache_enabled})")
