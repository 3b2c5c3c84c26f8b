"""PyTorch's ``torch.testing``: ``assert_close``, its deprecated ``assert_allclose`` and
``make_tensor`` (re-exported by :mod:`tensorgrad.testing`)."""

import numbers
import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from .backend.device import _CUPY_ARRAY, device_of, to_host, xp_of
from .tensor import Tensor

# PyTorch's default (rtol, atol) by dtype; dtypes not listed (integers, bool) compare exactly
_TOLERANCES = {
    np.dtype(np.float16): (1e-3, 1e-5),
    np.dtype(np.float32): (1.3e-6, 1e-5),
    np.dtype(np.float64): (1e-7, 1e-7),
    np.dtype(np.complex64): (1.3e-6, 1e-5),
    np.dtype(np.complex128): (1e-7, 1e-7),
}
_ARRAYS = (Tensor, np.ndarray, _CUPY_ARRAY)


def _default_tolerances(*dtypes):
    pairs = [_TOLERANCES.get(np.dtype(d), (0.0, 0.0)) for d in dtypes]
    return max(p[0] for p in pairs), max(p[1] for p in pairs)


def _number_dtype(x):
    if isinstance(x, bool):
        return np.dtype(bool)
    if isinstance(x, numbers.Integral):
        return np.dtype(np.int64)
    if isinstance(x, numbers.Real):
        return np.dtype(np.float64)
    return np.dtype(np.complex128)


def _is_number(x):
    return isinstance(x, (numbers.Number, np.generic)) and not isinstance(x, _ARRAYS)


class _Mismatch(AssertionError):
    pass


def _compare_values(a, b, rtol, atol, equal_nan, scalars):
    """Raise _Mismatch with PyTorch's message where host arrays ``a`` (actual) and ``b``
    (expected), of one shape and dtype, differ by more than ``atol + rtol * |b|``."""
    if a.dtype == bool:
        close = a == b
        diff_a, diff_b = a.astype(np.int64), b.astype(np.int64)
    else:
        diff_a, diff_b = a, b
        with np.errstate(invalid="ignore", over="ignore"):
            close = (a == b) | (np.isfinite(a) & np.isfinite(b)
                                & (np.abs(a - b) <= atol + rtol * np.abs(b)))
            if equal_nan and a.dtype.kind in "fc":
                close |= np.isnan(a) & np.isnan(b)
    if close.all():
        return
    exact = rtol == 0 and atol == 0
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        abs_diff = np.abs(diff_a - diff_b)
        rel_diff = abs_diff / np.abs(diff_b)
    if scalars:
        lines = [f"Scalars are not {'equal' if exact else 'close'}!", "",
                 f"Expected {b.item()} but got {a.item()}.",
                 f"Absolute difference: {abs_diff.item()}"
                 + ("" if exact else f" (up to {atol} allowed)"),
                 f"Relative difference: {rel_diff.item()}"
                 + ("" if exact else f" (up to {rtol} allowed)")]
        raise _Mismatch("\n".join(lines))
    n_bad = int((~close).sum())
    total = close.size
    parts = [f"Tensor-likes are not {'equal' if exact else 'close'}!", "",
             f"Mismatched elements: {n_bad} / {total} ({100 * n_bad / total:.1f}%)"]
    for what, diff, tol in (("absolute", abs_diff, atol), ("relative", rel_diff, rtol)):
        flat = diff.ravel()
        k = int(np.argmax(flat))  # the first NaN if there is one, as torch.max
        where = tuple(int(i) for i in np.unravel_index(k, diff.shape))
        line = f"Greatest {what} difference: {flat[k].item()} at index {where}"
        parts.append(line + ("" if exact else f" (up to {tol} allowed)"))
    raise _Mismatch("\n".join(parts))


def _as_host(x):
    if isinstance(x, Tensor):
        while x._level:  # a forward-AD dual: compare its values
            x = x._primal
            if not isinstance(x, Tensor):
                return to_host(x)
        return to_host(x.data)
    return to_host(x)


def _dev(x):
    return device_of(x.data if isinstance(x, Tensor) else x)


def _compare_arrays(actual, expected, rtol, atol, equal_nan, check_device, check_dtype):
    if tuple(actual.shape) != tuple(expected.shape):
        raise _Mismatch(f"The values for attribute 'shape' do not match: "
                        f"{tuple(actual.shape)} != {tuple(expected.shape)}.")
    if check_device and _dev(actual) != _dev(expected):
        raise _Mismatch(f"The values for attribute 'device' do not match: {_dev(actual)} != "
                        f"{_dev(expected)}.")
    if check_dtype and actual.dtype != expected.dtype:
        raise _Mismatch(f"The values for attribute 'dtype' do not match: {actual.dtype} != "
                        f"{expected.dtype}.")
    if rtol is None:
        rtol, atol = _default_tolerances(actual.dtype, expected.dtype)
    common = np.result_type(actual.dtype, expected.dtype)
    a = _as_host(actual).astype(common, copy=False)
    b = _as_host(expected).astype(common, copy=False)
    _compare_values(a, b, rtol, atol, equal_nan, scalars=False)


def _compare_numbers(actual, expected, rtol, atol, equal_nan, check_dtype):
    da, db = _number_dtype(actual), _number_dtype(expected)
    if check_dtype and type(actual) is not type(expected):
        raise _Mismatch(f"The (d)types do not match: {type(actual)} != {type(expected)}.")
    if rtol is None:
        rtol, atol = _default_tolerances(da, db)
    common = np.result_type(da, db)
    a = np.asarray(actual, dtype=common)
    b = np.asarray(expected, dtype=common)
    _compare_values(a, b, rtol, atol, equal_nan, scalars=True)


def _compare(actual, expected, where, opts):
    """Walk nested sequences and mappings; raise _Mismatch(message, where) at the first pair
    that differs."""
    if isinstance(actual, _ARRAYS) and isinstance(expected, _ARRAYS):
        return _at(where, _compare_arrays, actual, expected, *opts)
    if _is_number(actual) and _is_number(expected):
        rtol, atol, equal_nan, _, check_dtype = opts
        return _at(where, _compare_numbers, actual, expected, rtol, atol, equal_nan,
                   check_dtype)
    if isinstance(actual, Mapping) and isinstance(expected, Mapping):
        ka, kb = set(actual), set(expected)
        if ka != kb:
            raise _Mismatch("The keys of the mappings do not match:\n"
                            f"Missing keys in the actual mapping: {sorted(kb - ka, key=repr)}\n"
                            f"Additional keys in the actual mapping: "
                            f"{sorted(ka - kb, key=repr)}")
        for k in actual:
            _compare(actual[k], expected[k], where + [k], opts)
        return None
    if _is_sequence(actual) and _is_sequence(expected):
        if len(actual) != len(expected):
            raise _Mismatch(f"The length of the sequences mismatch: {len(actual)} != "
                            f"{len(expected)}")
        for i, (x, y) in enumerate(zip(actual, expected)):
            _compare(x, y, where + [i], opts)
        return None
    raise TypeError(f"No comparison pair was able to handle inputs of type {type(actual)} and "
                    f"{type(expected)}.")


def _is_sequence(x):
    return isinstance(x, Sequence) and not isinstance(x, (str, bytes))


def _at(where, check, *args):
    try:
        check(*args)
    except _Mismatch as e:
        if where:
            item = "".join(f"[{k!r}]" for k in where)
            raise _Mismatch(f"{e}\n\nThe failure occurred for item {item}") from None
        raise


def assert_close(actual, expected, *, allow_subclasses=True, rtol=None, atol=None,
                 equal_nan=False, check_device=True, check_dtype=True, check_layout=True,
                 check_stride=False, msg=None):
    """PyTorch's ``torch.testing.assert_close``: ``|actual - expected| <= atol + rtol *
    |expected|`` elementwise, with PyTorch's default tolerances by dtype (float32: rtol 1.3e-6,
    atol 1e-5; float64: 1e-7 and 1e-7; float16: 1e-3 and 1e-5; integers and bool: exact).
    Tensors, NumPy/CuPy arrays, numbers, and sequences and mappings of them are accepted.
    Raises AssertionError saying how many elements mismatch and the greatest absolute and
    relative differences and where; ``msg`` (a string, or a callable given the generated
    message) replaces the message. ``check_layout``/``check_stride``/``allow_subclasses`` are
    accepted for PyTorch's signature (there are only dense, C-ordered tensors here).

    >>> import tensorgrad as tg
    >>> tg.testing.assert_close(tg.tensor([1.0, 2.0]), tg.tensor([1.0, 2.0 + 1e-7]))
    """
    if (rtol is None) != (atol is None):
        missing = "atol" if atol is None else "rtol"
        raise ValueError(f"Both 'rtol' and 'atol' must be either specified or omitted, but got "
                         f"no {missing}.")
    try:
        _compare(actual, expected, [], (rtol, atol, equal_nan, check_device, check_dtype))
    except _Mismatch as e:
        text = str(e)
        if msg is not None:
            text = msg(text) if callable(msg) else msg
        raise AssertionError(text) from None


def assert_allclose(actual, expected, rtol=None, atol=None, equal_nan=True, msg=""):
    """PyTorch's deprecated ``torch.testing.assert_allclose`` (use ``assert_close``):
    ``expected`` is first made a tensor like ``actual`` (a number or a list may be given), dtypes
    need not match, and NaNs compare equal by default."""
    warnings.warn("tg.testing.assert_allclose is deprecated as in PyTorch; use "
                  "tg.testing.assert_close", FutureWarning, stacklevel=2)
    if not isinstance(actual, _ARRAYS):
        actual = Tensor(actual)
    if not isinstance(expected, _ARRAYS):
        xp_data = actual.data if isinstance(actual, Tensor) else actual
        expected = Tensor(np.asarray(expected, dtype=xp_data.dtype),
                          device=_dev(actual))
    if rtol is None and atol is None:
        rtol, atol = _default_tolerances(np.result_type(actual.dtype, expected.dtype))
    assert_close(actual, expected, rtol=rtol, atol=atol, equal_nan=equal_nan,
                 check_device=True, check_dtype=False, msg=msg or None)


def make_tensor(*shape, dtype, device, low=None, high=None, requires_grad=False,
                noncontiguous=False, exclude_zero=False, memory_format=None):
    """PyTorch's ``torch.testing.make_tensor``: a tensor of ``shape`` filled with values drawn
    uniformly from ``[low, high)`` (defaults: -9 and 9, clamped to the dtype's range; bool:
    random). ``exclude_zero`` replaces zeros by the smallest positive value (1 for integers).
    Values come from tensorgrad's generator (``tg.manual_seed`` makes them repeatable), not
    PyTorch's. ``noncontiguous`` gives a strided view of the same values.

    >>> import tensorgrad as tg
    >>> t = tg.testing.make_tensor(2, 3, dtype=tg.float32, device="cpu", low=0, high=1)
    >>> t.shape, bool((t.numpy() >= 0).all() and (t.numpy() < 1).all())
    ((2, 3), True)
    """
    from . import creation

    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    shape = tuple(int(s) for s in shape)
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        t = creation.randint(0, 2, shape, device=device).data.astype(bool)
    elif dtype.kind in "iu":
        info = np.iinfo(dtype)
        lo = max(-9 if low is None else int(np.ceil(low)), int(info.min))
        hi = min(10 if high is None else int(np.ceil(high)), int(info.max))
        if dtype.kind == "u" and low is None:
            lo = 0
        _check_range(lo, hi, low, high)
        t = creation.randint(lo, hi, shape, device=device).data.astype(dtype)
    elif dtype.kind in "fc":
        lo = -9.0 if low is None else float(low)
        hi = 9.0 if high is None else float(high)
        _check_range(lo, hi, low, high)
        real = dtype if dtype.kind == "f" else np.dtype(dtype.char.lower())

        def draw():
            u = creation.rand(*shape, dtype=np.float64, device=device).data
            return (lo + (hi - lo) * u).astype(real)

        t = draw() if dtype.kind == "f" else (draw() + 1j * draw()).astype(dtype)
    else:
        raise TypeError(f"make_tensor: dtype {dtype} is not supported")
    if exclude_zero:
        fill = 1 if dtype.kind in "iub" else np.finfo(dtype).tiny
        t[t == 0] = fill
    if noncontiguous and t.ndim and t.size > 1:
        t = xp_of(t).repeat(t, 2, axis=-1)[..., ::2]  # every other element of a wider buffer
    out = Tensor(t)
    if requires_grad:
        out.requires_grad_(True)
    return out


def _check_range(lo, hi, low, high):
    if lo >= hi:
        raise ValueError(f"make_tensor: `low` must be less than `high`, but got {low} >= "
                         f"{high}")
