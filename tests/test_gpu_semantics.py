"""Where CuPy computes otherwise than NumPy, and tensorgrad must give the same answers anyway.

Each case was found by reading CuPy 14.2's source; the stand-in (tests/cupy_standin) models the
difference where it can, so that the ``cuda`` runs here fail without tensorgrad's fix:

- ``maximum.at``/``minimum.at`` on floats are CuPy's ``atomicMax``/``atomicMin``, CAS loops over
  ``fmaxf``/``fminf`` even for double (``cupy/_core/include/cupy/atomics.cuh``): float64 rounds
  through float32 (beyond its range, inf) and NaN is skipped. ``tensorgrad.ops.index.extreme_at``
  goes through order-preserving integers instead (sparse softmax, scatter_reduce amax/amin).
- CuPy's ``broadcast_to`` views are writeable (NumPy's are read-only), so an in-place write into
  an expanded tensor would race on the GPU; it is refused as PyTorch refuses it.
- A 0-d complex parameter: ``view`` to the real dtype is refused for 0-d arrays by CuPy
  (``core.pyx`` ``_ndarray_base.view``) and NumPy alike; the optimizers' real-pair view reshapes
  first, as ``torch.view_as_real`` gives shape (2,).
"""

import numpy as np
import pytest
from devices import close_to_torch, host, put, tensor_on, torch_oracle

import tensorgrad as tg
from tensorgrad.ops.index import extreme_at

torch = torch_oracle()
_RNG = np.random.default_rng(7)


# ---- extreme_at: maximum.at / minimum.at exact on both devices ----------------------------------
@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "int16", "int64", "uint8"])
@pytest.mark.parametrize("largest", [True, False])
def test_extreme_at_equals_numpys(device, dtype, largest):
    kind = np.dtype(dtype).kind
    if kind == "f":
        vals = _RNG.standard_normal(40) * (1e11 if dtype == "float64" else 100)
        vals[::7] *= -1
        if dtype == "float64":  # digits float32 can't hold, and past its range
            vals[3], vals[5] = 1e11 + 0.123, -3e300
        vals = vals.astype(dtype)
        start = np.full(6, -np.inf if largest else np.inf, dtype=dtype)
    else:
        lo, hi = (0, 200) if kind == "u" else (-1000, 1000)
        vals = _RNG.integers(lo, hi, 40).astype(dtype)
        start = np.full(6, 100, dtype=dtype)
    idx = _RNG.integers(0, 5, 40)  # slot 5 untouched
    want = start.copy()
    (np.maximum if largest else np.minimum).at(want, idx, vals)
    out = put(start, device)
    extreme_at(out, put(idx, device), put(vals, device), largest)
    got = host(out)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("largest", [True, False])
def test_extreme_at_lets_nan_win(device, largest):
    start = np.array([0.0, np.nan, 5.0, -0.0, 1.0])
    vals = np.array([1.0, 2.0, np.nan, -np.nan, 0.0, -0.0, -2.0, np.inf, -np.inf])
    idx = np.array([0, 1, 2, 2, 3, 3, 0, 0, 4])
    want = start.copy()
    (np.maximum if largest else np.minimum).at(want, idx, vals)
    out = put(start, device)
    extreme_at(out, put(idx, device), put(vals, device), largest)
    got = host(out)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(got[~np.isnan(got)], want[~np.isnan(want)])


def test_extreme_at_takes_index_tuples_and_row_values(device):
    start = np.full((3, 4), -np.inf)
    rows = np.array([0, 2, 0, 1, 2])
    vals = _RNG.standard_normal((5, 4)) * 1e12
    want = start.copy()
    np.maximum.at(want, rows, vals)
    out = put(start, device)
    extreme_at(out, put(rows, device), put(vals, device))
    np.testing.assert_array_equal(host(out), want)
    want2 = np.zeros((3, 4))
    np.minimum.at(want2, (rows, np.array([0, 1, 1, 3, 0])), vals[:, 0])
    out2 = put(np.zeros((3, 4)), device)
    extreme_at(out2, (put(rows, device), put(np.array([0, 1, 1, 3, 0]), device)),
               put(vals[:, 0], device), False)
    np.testing.assert_array_equal(host(out2), want2)


# ---- the users of extreme_at ----------------------------------------------------------------
@pytest.mark.parametrize("log", [False, True])
def test_sparse_softmax_of_large_float64_logits_equals_torchs(device, log):
    """Logits near 1e11 differ in digits float32 can't hold: a group maximum rounded to float32
    shifts them by thousands, and exp overflows (NaN) or underflows (0/0). PyTorch gets the
    offsets from 1e11 (the same softmax: it is shift-invariant), as its log_softmax rounds
    ``max + log(sum)`` at 1e11's spacing (1.5e-5)."""
    idx = np.array([[0, 0, 0, 1, 1, 2, 2, 2], [0, 2, 3, 1, 3, 0, 1, 2]])
    offsets = np.array([0.0, 1.5, -2.0, 3.0, 2.5, -1.0, 0.25, 0.75])
    vals = 1e11 + offsets  # exact: multiples of 1/4 near 1e11 are float64s
    v = tensor_on(vals, device, requires_grad=True)
    tv = torch.tensor(offsets, requires_grad=True)
    s = tg.sparse_coo_tensor(put(idx, device), v, (3, 4))
    ts = torch.sparse_coo_tensor(torch.tensor(idx), tv, (3, 4))
    ours = (tg.sparse.log_softmax if log else tg.sparse.softmax)(s, 1)
    ref = (torch.sparse.log_softmax if log else torch.sparse.softmax)(ts, 1)
    got = host(ours.to_dense())
    assert np.isfinite(got).all()
    close_to_torch(ours.to_dense(), ref.to_dense(), rtol=1e-9, atol=1e-12)
    w = _RNG.standard_normal(8)
    (ours.values() * tensor_on(w, device)).sum().backward()
    (ref.coalesce().values() * torch.tensor(w)).sum().backward()
    close_to_torch(v.grad, tv.grad, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("reduce", ["amax", "amin"])
def test_scatter_reduce_extremes_keep_float64_digits(device, reduce):
    """Values float32 can't hold: a maximum rounded to float32 equals none of them, so no value
    would be picked (the result 0) and none would get the gradient."""
    x = np.array([1.0 + 1e-9, 2.0, 3.0])
    src = np.array([5.0 + 1e-9, 5.0 + 3e-9, -4.0 - 1e-9, 7.0 + 2e-9, 1.0 + 3e-9])
    idx = np.array([0, 0, 1, 1, 0])
    a, s = tensor_on(x, device, requires_grad=True), tensor_on(src, device, requires_grad=True)
    ta, ts = torch.tensor(x, requires_grad=True), torch.tensor(src, requires_grad=True)
    ours = a.scatter_reduce(0, tensor_on(idx, device), s, reduce)
    ref = ta.scatter_reduce(0, torch.tensor(idx), ts, reduce)
    np.testing.assert_array_equal(host(ours), ref.detach().numpy())
    w = np.array([0.5, -2.0, 3.0])
    (ours * tensor_on(w, device)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    close_to_torch(a.grad, ta.grad, rtol=0, atol=0)
    close_to_torch(s.grad, ts.grad, rtol=0, atol=0)


@pytest.mark.parametrize("reduce", ["amax", "amin"])
def test_scatter_reduce_extremes_propagate_nan_as_torch(device, reduce):
    x = np.array([0.0, 1.0, 2.0], dtype=np.float32)
    src = np.array([np.nan, 4.0, -1.0, 5.0], dtype=np.float32)
    idx = np.array([0, 0, 1, 1])
    ours = tensor_on(x, device).scatter_reduce(0, tensor_on(idx, device), tensor_on(src, device),
                                               reduce)
    ref = torch.tensor(x).scatter_reduce(0, torch.tensor(idx), torch.tensor(src), reduce)
    np.testing.assert_array_equal(host(ours), ref.numpy())


# ---- in-place writes into expanded (overlapping) tensors --------------------------------------
@pytest.mark.parametrize("how", ["add_", "mul_", "setitem", "copy_", "clamp_", "exp_"])
@pytest.mark.parametrize("grad", [False, True])
def test_inplace_write_into_expanded_tensor_is_refused_as_torch(device, how, grad):
    x = tensor_on(np.ones(3), device, requires_grad=grad)
    tx = torch.ones(3, dtype=torch.float64, requires_grad=grad)

    def write(y):
        if how == "setitem":
            y[...] = 5.0
        elif how == "copy_":
            y.copy_(y * 0 + 1)
        elif how == "clamp_":
            y.clamp_(0.0, 0.5)
        elif how == "exp_":
            y.exp_()
        else:
            getattr(y, how)(2.0)

    with pytest.raises(RuntimeError, match="more than one element"):
        write((tx * 1).expand(2, 3))
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
        write((x * 1).expand(2, 3))
    np.testing.assert_array_equal(host(x), np.ones(3))  # nothing was written


def test_setitem_of_a_row_of_an_expanded_tensor_checks_that_row(device):
    """PyTorch checks the written region: a row of an expanded (2, 3) has no stride 0 left."""
    y = tensor_on(np.ones(3), device).expand(2, 3)
    with pytest.raises(RuntimeError, match="more than one element"):
        y[:, 0] = 5.0  # a column: both elements are one
    with pytest.raises(RuntimeError, match="more than one element"):
        torch.ones(3).expand(2, 3)[:, 0] = 5.0
    # on the tape the whole tensor is checked: the write's history needs distinct elements (on
    # the CPU NumPy's read-only broadcast refused it anyway; CuPy's broadcast is writeable)
    w = tensor_on(np.ones(3), device, requires_grad=True)
    with pytest.raises(RuntimeError, match="more than one element"):
        (w * 1).expand(2, 3)[0] = 5.0


# ---- complex parameters of shape () ----------------------------------------------------------
@pytest.mark.parametrize("opt", ["Adam", "SGD", "RMSprop", "AdamW", "Adagrad", "NAdam", "Rprop"])
def test_optimizer_steps_a_0d_complex_parameter_as_torch(device, opt):
    p = tg.nn.Parameter(tensor_on(np.array(1.0 + 2.0j), device))
    tp = torch.nn.Parameter(torch.tensor(1.0 + 2.0j, dtype=torch.complex128))
    kw = {"lr": 0.1} if opt != "SGD" else {"lr": 0.1, "momentum": 0.9}
    o, to = getattr(tg.optim, opt)([p], **kw), getattr(torch.optim, opt)([tp], **kw)
    for _ in range(3):
        o.zero_grad()
        to.zero_grad()
        (p.abs() ** 2 + (p * (0.5 - 1j)).real).backward()
        (tp.abs() ** 2 + (tp * (0.5 - 1j)).real).backward()
        o.step()
        to.step()
    assert p.shape == () and p.dtype == np.complex128
    close_to_torch(p, tp, rtol=1e-12, atol=1e-14)


# ---- diagonal (an as_strided view): empty diagonals, flipped inputs ----------------------------
@pytest.mark.parametrize("shape,offset,dims", [((3, 0), 0, (0, 1)), ((0, 0), 0, (0, 1)),
                                               ((2, 0, 4), 1, (0, 1)), ((2, 3), 5, (0, 1)),
                                               ((3, 4, 2), -1, (2, 0))])
def test_diagonal_of_matrices_without_that_diagonal_is_empty_as_torchs(device, shape, offset,
                                                                        dims):
    a = np.arange(float(np.prod(shape))).reshape(shape)
    x = tensor_on(a, device, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    d, td = x.diagonal(offset, *dims), tx.diagonal(offset, *dims)
    assert tuple(d.shape) == tuple(td.shape)
    close_to_torch(d, td)
    w = _RNG.standard_normal(tuple(td.shape))
    (d * tensor_on(w, device)).sum().backward()
    (td * torch.tensor(w)).sum().backward()
    close_to_torch(x.grad, tx.grad)


def test_diagonal_of_a_flipped_tensor_is_a_writeable_view_as_torchs(device):
    """Negative strides: CuPy's as_strided wraps the first element's pointer (its strides may
    be negative), NumPy's likewise."""
    a = np.arange(12.0).reshape(3, 4)
    x, tx = tensor_on(a, device).flip(0), torch.tensor(a).flip(0)
    d, td = x.diagonal(1), tx.diagonal(1)
    close_to_torch(d, td)
    d.mul_(-1.0)
    td.mul_(-1.0)
    close_to_torch(x, tx)
