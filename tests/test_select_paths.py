"""``where`` on the host without branches (``ops/elementwise.py:_select``): NumPy's where
branches on every element and a mask without a pattern (an activation's sign) mispredicts
half of them; tensorgrad selects bits instead for bool masks of 4,096+ elements. The answer
must be NumPy's, bit for bit, whatever the operands; the operands it does not take (other
dtypes, partial broadcasts, other layouts) go to NumPy's where unchanged.
"""

import numpy as np
import pytest

import tensorgrad as tg
import tensorgrad.nn.functional as F
from tensorgrad.ops.elementwise import _SELECT_BLOCK, _SELECT_MIN, _select, where

RNG = np.random.default_rng(9)
N = 3 * _SELECT_BLOCK + 123  # several blocks and a partial one


def _values(shape, dtype):
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        return RNG.integers(0, 100, shape).astype(dtype)
    a = RNG.standard_normal(shape)
    if dtype.kind == "c":
        a = a + 1j * RNG.standard_normal(shape)
    a = a.astype(dtype)
    flat = a.reshape(-1)
    flat[:4] = [np.nan, np.inf, -np.inf, -0.0] if dtype.kind != "c" else [np.nan, np.inf, 0, 1]
    return a


def _numpy_and_ours(cond, x, y):
    """(NumPy's where, ours); None where NumPy refuses with an OverflowError, after checking
    that ours refuses too (NumPy 2.5 will not wrap -1 into uint32; before, 4294967295)."""
    try:
        want = np.where(cond, x, y)
    except OverflowError:
        with pytest.raises(OverflowError):
            where(cond, x, y)
        return None
    return want, where(cond, x, y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64, np.uint32,
                                   np.complex64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("form", ["arrays", "x scalar", "y scalar", "0-d", "python int"])
def test_same_bits_as_numpy(dtype, form):
    cond = RNG.random((N // 7, 7)) < 0.5
    x, y = _values(cond.shape, dtype), _values(cond.shape, dtype)
    if form == "x scalar":
        x = 2.5 if np.dtype(dtype).kind == "f" else 3
    elif form == "y scalar":
        y = -0.0 if np.dtype(dtype).kind == "f" else 0
    elif form == "0-d":
        y = np.array(7, dtype=dtype)
    elif form == "python int":
        x = True
    pair = _numpy_and_ours(cond, x, y)
    if pair is None:
        return
    want, got = pair
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))


@pytest.mark.parametrize("case", ["broadcast row", "transposed", "float16", "int cond",
                                  "complex128", "strong scalar", "bool values", "wrapping int",
                                  "huge int"])
def test_other_operands_go_to_numpy(case):
    cond = RNG.random((300, 40)) < 0.3
    x, y = _values((300, 40), np.float32), _values((300, 40), np.float32)
    if case == "broadcast row":
        y = y[0]
    elif case == "transposed":
        x = np.ascontiguousarray(x.T).T
    elif case == "float16":
        x, y = x.astype(np.float16), y.astype(np.float16)
    elif case == "int cond":
        cond = cond.astype(np.int8)
    elif case == "complex128":
        x = x.astype(np.complex128)
    elif case == "strong scalar":
        y = np.float64(0.25)  # a float subclass: float64 wins, as in NumPy
    elif case == "bool values":
        x, y = x > 0, y > 0
    elif case == "wrapping int":  # NumPy's where wraps -1 into uint32
        x, y = RNG.integers(0, 9, x.shape).astype(np.uint32), -1
    elif case == "huge int":
        x, y = RNG.integers(0, 9, x.shape).astype(np.int32), 1 << 40
    pair = _numpy_and_ours(cond, x, y)
    if pair is None:
        return
    want, got = pair
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    if case in ("broadcast row", "transposed", "float16", "complex128", "bool values",
                "wrapping int", "huge int"):
        assert _select(cond, x, y) is None


def test_threshold_and_gradients():
    """Small masks keep NumPy's where; the activations built on where (leaky_relu, elu)
    give the same values and gradients either way."""
    assert _SELECT_MIN <= N
    x0 = RNG.standard_normal((200, 300)).astype(np.float32)
    for fn in (F.leaky_relu, F.elu, F.hardtanh, F.softplus):
        x = tg.tensor(x0, requires_grad=True)
        fn(x).sum().backward()
        parts = [tg.tensor(x0[i:i + 10], requires_grad=True) for i in range(0, 200, 10)]
        for p in parts:  # 3,000 elements each: below the threshold
            fn(p).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), np.concatenate([p.grad.numpy()
                                                                      for p in parts]))
