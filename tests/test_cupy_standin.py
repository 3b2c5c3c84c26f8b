"""The strict CuPy stand-in itself (tests/cupy_standin): it must fail where real CuPy fails on a
GPU, and work where CuPy works. These tests use the stand-in's modules directly, so they run
the same whether or not conftest installed it in place of ``cupy``."""

import pickle
import sys
import types
import warnings

import cupy_standin
import numpy as np
import pytest
from cupy_standin import _core, _kernels

MODS = cupy_standin.modules()
cp = MODS["cupy"]
cupyx = MODS["cupyx"]
IMPLICIT = "Implicit conversion to a NumPy array is not allowed"


@pytest.fixture(autouse=True)
def _back_on_device_0():
    yield
    _core._local.device = 0
    _core._local.device_stack.clear()


# ---- the array type and conversions ---------------------------------------------------------


def test_array_type_is_its_own_class():
    x = cp.arange(3.0)
    assert type(x) is cp.ndarray
    assert not isinstance(x, np.ndarray)
    assert not issubclass(cp.ndarray, np.ndarray)
    assert str(type(x)) == "<class 'cupy.ndarray'>"


@pytest.mark.parametrize("convert", [np.asarray, np.array, lambda x: x.__array__(),
                                     lambda x: np.array([x, x]), np.ascontiguousarray])
def test_implicit_conversion_to_numpy_is_refused(convert):
    with pytest.raises(TypeError, match=IMPLICIT):
        convert(cp.ones(3))


def test_explicit_transfers_copy():
    host = np.arange(3.0)
    x = cp.asarray(host)
    host[0] = 100.0
    assert x.get().tolist() == [0.0, 1.0, 2.0]  # asarray copied to the device
    y = x.get()
    assert type(y) is np.ndarray
    y[1] = 50.0
    assert x[1].item() == 1.0  # get() copied back
    assert type(cp.asnumpy(x)) is np.ndarray
    assert cp.asnumpy(x).tolist() == [0.0, 1.0, 2.0]
    x.set(np.full(3, 7.0))
    assert x.tolist() == [7.0, 7.0, 7.0]
    with pytest.raises(TypeError):
        x.set(cp.ones(3))


def test_python_conversions_follow_cupy():
    s = cp.array(2.5)
    assert float(s) == 2.5 and int(s) == 2 and bool(s) is True
    assert s.item() == 2.5 and cp.arange(3).tolist() == [0, 1, 2]
    assert complex(cp.array(1 + 2j)) == 1 + 2j
    with pytest.raises(TypeError):
        float(cp.ones(2))
    with pytest.raises(ValueError):
        bool(cp.ones(2))
    with pytest.raises(TypeError, match="len"):
        len(s)
    with pytest.raises(TypeError, match="0-d"):
        iter(s)
    assert len(cp.ones((4, 2))) == 4
    assert [r.shape for r in cp.ones((2, 3))] == [(3,), (3,)]
    with pytest.raises(TypeError):
        list(range(5))[cp.array(1)]  # CuPy's ndarray has no __index__
    with pytest.raises(TypeError):
        hash(s)


def test_repr_like_cupy():
    assert repr(cp.arange(3.0)) == "array([0., 1., 2.])"
    assert str(cp.arange(3)) == "[0 1 2]"
    assert f"{cp.array(1.5):.2f}" == "1.50"


def test_attributes():
    x = cp.zeros((2, 3), dtype=np.float32)
    assert x.shape == (2, 3) and x.dtype == np.float32 and x.ndim == 2 and x.size == 6
    assert x.strides == (12, 4) and x.nbytes == 24 and x.itemsize == 4
    assert x.flags.c_contiguous and not x.T.flags.c_contiguous and x.flags["C_CONTIGUOUS"]
    assert x.flags.owndata and not x[0].flags.owndata
    assert isinstance(x.data.ptr, int) and x.data.ptr != 0
    assert x[1].data.ptr == x.data.ptr + 12
    assert x.T.shape == (3, 2) and x.mT.shape == (3, 2)
    z = cp.array([1 + 2j, 3 - 1j])
    assert z.real.tolist() == [1.0, 3.0] and z.imag.tolist() == [2.0, -1.0]
    for name in ("resize", "setflags", "to_device", "itemset", "ctypes", "__array_namespace__"):
        assert not hasattr(x, name), name  # numpy.ndarray has it, CuPy's ndarray has not


def test_operators():
    a = cp.array([1.0, 2.0, 4.0])
    b = cp.array([2.0, 2.0, 2.0])
    assert (a + b).tolist() == [3, 4, 6] and (a - b).tolist() == [-1, 0, 2]
    assert (a * b).tolist() == [2, 4, 8] and (a / b).tolist() == [0.5, 1, 2]
    assert (a // b).tolist() == [0, 1, 2] and (a % b).tolist() == [1, 0, 0]
    assert (a ** 2).tolist() == [1, 4, 16] and (2 ** b).tolist() == [4, 4, 4]
    assert (-a).tolist() == [-1, -2, -4] and abs(-a).tolist() == [1, 2, 4]
    assert (1 - a).tolist() == [0, -1, -3] and (8 / a).tolist() == [8, 4, 2]
    assert (a @ b).item() == 14.0
    q, r = divmod(a, b)
    assert q.tolist() == [0, 1, 2] and r.tolist() == [1, 0, 0]
    i = cp.array([1, 2, 3])
    assert (i << 1).tolist() == [2, 4, 6] and (i & 1).tolist() == [1, 0, 1]
    assert (i | 4).tolist() == [5, 6, 7] and (i ^ 1).tolist() == [0, 3, 2]
    assert (~i).tolist() == [-2, -3, -4] and (i >> 1).tolist() == [0, 1, 1]
    assert (a < b).tolist() == [True, False, False] and (a >= 2).tolist() == [False, True, True]
    assert (a == b).tolist() == [False, True, False] and (a != 2).tolist() == [True, False, True]
    c = a.copy()
    c += 1
    c *= b
    c -= 1
    c /= 2
    assert c.tolist() == [1.5, 2.5, 4.5]
    with pytest.raises(TypeError):  # same_kind casting, as CuPy
        i += 0.5
    assert (a == None).tolist() == [False] * 3  # noqa: E711


# ---- mixing with NumPy ---------------------------------------------------------------------

UNSUPPORTED = "Unsupported type <class 'numpy.ndarray'>"


@pytest.mark.parametrize("op", [
    lambda x, h: x + h, lambda x, h: h + x, lambda x, h: x * h[0:1], lambda x, h: h - x,
    lambda x, h: x + np.array(2.0), lambda x, h: cp.add(x, h), lambda x, h: cp.exp(h),
    lambda x, h: cp.maximum(x, np.array(0.0)), lambda x, h: cp.concatenate([x, h]),
    lambda x, h: cp.where(x > 0, x, h), lambda x, h: cp.linalg.norm(h), lambda x, h: x @ h,
    lambda x, h: x.__iadd__(h), lambda x, h: np.add(h, x),
])
def test_mixing_with_numpy_arrays_raises(op):
    x = cp.ones(3)
    with pytest.raises(TypeError):
        op(x, np.ones(3))


def test_mixing_message_is_cupys():
    with pytest.raises(TypeError, match=UNSUPPORTED.replace("(", r"\(").replace(")", r"\)")):
        cp.ones(3) + np.ones(3)
    with pytest.raises(TypeError, match="Unsupported type <class 'list'>"):
        cp.add(cp.ones(3), [1, 2, 3])


def test_scalars_mix():
    x = cp.ones(3, dtype=np.float32)
    for s in (2, 2.0, True, np.float32(2), np.int64(2), np.float64(2.0)):
        assert type(x * s) is cp.ndarray and type(s * x) is cp.ndarray
    # comparisons with a 0-d NumPy array are allowed (CuPy's __array_ufunc__ workaround)
    assert (x < np.array(2.0)).tolist() == [True] * 3


def test_dtype_promotion_is_numpy2s():
    x = cp.ones(3, dtype=np.float32)
    assert (x * 0.5).dtype == np.float32  # Python scalars are weak
    assert (x + 1).dtype == np.float32
    assert (cp.ones(2, dtype=np.int8) + 1).dtype == np.int8
    assert (x * np.float64(2)).dtype == np.float64  # NumPy scalars are not
    assert (x * cp.array(2.0)).dtype == np.float64  # nor are 0-d arrays
    assert (cp.arange(3) * 2.5).dtype == np.float64
    assert cp.exp(x).dtype == np.float32 and x.sum().dtype == np.float32


def test_unsupported_dtypes_refused():
    with pytest.raises(ValueError, match="Unsupported dtype"):
        cp.asarray(np.array(["a"]))
    with pytest.raises(ValueError, match="Unsupported dtype"):
        cp.asarray(np.array([object()]))


def test_setitem_and_getitem_with_host_data():
    x = cp.zeros(4)
    x[np.array([0, 2])] = np.array([1.0, 3.0])  # advanced indexing copies host data
    assert x.tolist() == [1, 0, 3, 0]
    assert x[np.array([2])].tolist() == [3.0]
    x[1:3] = 5.0
    x[3] = np.float32(6)
    assert x.tolist() == [1, 5, 5, 6]
    with pytest.raises(ValueError, match="non-scalar numpy.ndarray cannot be used for fill"):
        x[0:2] = np.array([1.0, 2.0])  # CuPy refuses a host array into a basic slice
    x[0:2] = cp.array([8.0, 9.0])
    assert x.tolist() == [8, 9, 5, 6]


# ---- 0-d results and views --------------------------------------------------------------------


@pytest.mark.parametrize("reduce", [lambda x: x.sum(), lambda x: x.max(), lambda x: x.mean(),
                                    lambda x: cp.sum(x), lambda x: np.sum(x),
                                    lambda x: x[1, 2], lambda x: x.dot(x.T)[0, 0],
                                    lambda x: cp.linalg.norm(x), lambda x: x.argmax(),
                                    lambda x: cp.exp(1.0)])
def test_reductions_and_scalar_indexing_give_0d_device_arrays(reduce):
    r = reduce(cp.ones((2, 3)))
    assert type(r) is cp.ndarray and r.shape == ()


def test_repeated_positions_in_an_assignment_keep_the_first_value():
    """CuPy leaves undefined which value a repeated index keeps; NumPy keeps the last. The
    stand-in keeps the first, so code that counts on NumPy's order fails here."""
    a = cp.zeros(4)
    a[cp.array([1, 1, 2])] = cp.array([5.0, 6.0, 7.0])
    assert a.tolist() == [0.0, 5.0, 7.0, 0.0]
    b = cp.zeros((2, 3))
    b[[0, 0]] = cp.array([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])
    b[cp.array([1, 1]), cp.array([2, 2])] = 9.0  # one value: nothing to tell apart
    assert b.tolist() == [[1.0, 1.0, 1.0], [0.0, 0.0, 9.0]]
    c = cp.zeros(3)
    c[cp.array([2, 0])] = cp.array([1.0, 2.0])  # no repeats: as NumPy
    assert c.tolist() == [2.0, 0.0, 1.0]


def test_no_floating_point_warnings_as_on_a_gpu():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = cp.array([100.0, 0.0, -1.0], dtype=np.float32)
        assert np.isinf(cp.exp(x)[0].item()) and np.isinf((x / 0.0)[0].item())
        assert np.isnan(cp.log(x)[2].item())


def test_views_share_memory():
    x = cp.zeros((2, 3))
    v = x[1]
    v[0] = 7.0
    assert x[1, 0].item() == 7.0
    x.T[2, 0] = 5.0
    assert x[0, 2].item() == 5.0
    x.reshape(6)[1] = 3.0
    assert x[0, 1].item() == 3.0
    s = x[0, 0]  # a 0-d view, as in CuPy
    s[...] = 9.0
    assert x[0, 0].item() == 9.0
    assert v.base is x and x.T.base is x and x.ravel().base is x
    x[:, 1:].fill(1.0)
    assert x.tolist() == [[9.0, 1.0, 1.0], [7.0, 1.0, 1.0]]
    c = x.copy()
    c[0, 0] = -1.0
    assert x[0, 0].item() == 9.0 and c.base is None


def test_out_returns_the_given_array():
    x = cp.arange(3.0)
    out = cp.empty(3)
    assert cp.add(x, 1, out=out) is out and np.exp(x, out=out) is out
    assert x.astype(np.float64, copy=False) is x and cp.asarray(x) is x


# ---- devices -----------------------------------------------------------------------------------


def test_device_bookkeeping():
    rt = cp.cuda.runtime
    assert rt.getDeviceCount() == 2 and rt.getDevice() == 0 and cp.cuda.Device().id == 0
    x = cp.ones(2)
    assert x.device.id == 0 and x.device == cp.cuda.Device(0)
    with cp.cuda.Device(1) as d:
        assert d.id == 1 and rt.getDevice() == 1 and cp.cuda.Device().id == 1
        y = cp.ones(2)
        z = y + 1
        with cp.cuda.Device(0):
            assert cp.zeros(1).device.id == 0
        assert rt.getDevice() == 1
    assert rt.getDevice() == 0
    assert y.device.id == 1 and z.device.id == 1 and y[1:].device.id == 1
    with pytest.raises(Exception, match="invalid device ordinal"):
        with cp.cuda.Device(2):
            pass
    props = rt.getDeviceProperties(0)
    assert props["name"] == b"StandIn CPU" and props["totalGlobalMem"] > 0
    assert (props["major"], props["minor"]) == (9, 0)
    assert rt.runtimeGetVersion() > 0


def test_mixing_devices_raises():
    x = cp.ones(2)
    with cp.cuda.Device(1):
        y = cp.ones(2)
    msg = (r"The device where the array resides \(1\) is different from the current device "
           r"\(0\)")
    with pytest.raises(ValueError, match=msg):
        x + y
    with pytest.raises(ValueError, match=msg):
        y.sum()  # a kernel on device 1's data while device 0 is current
    with pytest.raises(ValueError):
        cp.concatenate([x, y])
    with pytest.raises(ValueError):
        x[:] = y
    with cp.cuda.Device(1):
        with pytest.raises(ValueError, match=r"resides \(0\)"):
            x * 2
        assert (y * 2).device.id == 1
        moved = cp.asarray(x)  # explicit copies cross devices
        assert moved.device.id == 1 and x.copy().device.id == 1
    assert y.get().tolist() == [1.0, 1.0] and repr(y) == "array([1., 1.])"
    assert y.reshape(2, 1).device.id == 1  # views need no kernel


def test_streams_events_and_pools_are_no_ops():
    cuda = cp.cuda
    cuda.Device().synchronize()
    assert cuda.Stream.null.ptr == 0 and cuda.get_current_stream() == cuda.Stream.null
    with cuda.Stream(non_blocking=True) as s:
        assert cuda.get_current_stream() is s
        s.synchronize()
    assert cuda.get_current_stream() == cuda.Stream.null
    start, end = cuda.Event(), cuda.Event()
    start.record()
    end.record()
    end.synchronize()
    assert cuda.get_elapsed_time(start, end) >= 0.0
    pool = cp.get_default_memory_pool()
    before = pool.used_bytes()
    keep = cp.empty(1 << 20, dtype=np.uint8)
    assert pool.used_bytes() >= before + (1 << 20)
    del keep
    pool.free_all_blocks()


# ---- the allowlist -----------------------------------------------------------------------------


def test_names_cupy_lacks_are_missing():
    for name in ("geomspace", "nanpercentile", "unstack", "spacing", "vecdot", "no_such_thing"):
        with pytest.raises(AttributeError):
            getattr(cp, name)
    assert not hasattr(MODS["cupyx.scipy.special"], "hyp2f1")
    assert not hasattr(cp.linalg, "matrix_norm")
    x = cp.ones(3)
    with pytest.raises(TypeError, match="no implementation found"):
        np.nanpercentile(x, 50)  # NumPy function without a CuPy counterpart


def test_names_cupy_has_are_present():
    x = cp.arange(4.0)
    assert cp.linalg.norm(x).item() == pytest.approx(np.linalg.norm(np.arange(4.0)))
    assert cp.fft.fft(x).dtype == np.complex128
    assert cp.pi == np.pi and cp.newaxis is None and cp.float32 is np.float32
    special = MODS["cupyx.scipy.special"]
    erf = special.erf(cp.array([0.0, 1.0], dtype=np.float32))
    assert type(erf) is cp.ndarray and erf.dtype == np.float32
    assert isinstance(special.erf, cp.ufunc)
    assert type(special.logsumexp(x)) is cp.ndarray
    with pytest.raises(TypeError):
        special.erf(np.ones(2))
    assert np.exp(x).device.id == 0 and type(np.concatenate([x, x])) is cp.ndarray
    assert cp.add.reduce(x).item() == 6.0 and cp.multiply.outer(x, x).shape == (4, 4)


# ---- CuPy's signatures (cupy_signatures.json) -------------------------------------------------


@pytest.mark.parametrize("call, match", [
    (lambda x: cp.sum(x, where=x > 0), "unexpected keyword argument 'where'"),
    (lambda x: np.sum(x, initial=0.0), "unexpected keyword argument 'initial'"),  # dispatched
    (lambda x: np.clip(x, min=0.0, max=1.0), "unexpected keyword argument 'min'"),
    (lambda x: cp.take_along_axis(x, cp.zeros(3, dtype=np.int64)), "missing 1 required"),
    (lambda x: x.max(initial=0.0), "unexpected keyword argument 'initial'"),
    (lambda x: x.sum(0, None, None, False, 1), "takes from 0 to 4 positional"),
    (lambda x: x.item(0), "positional argument"),
    (lambda x: cp.add(x, x, where=x > 0), "Wrong arguments"),
    (lambda x: np.exp(x, order="C"), "Wrong arguments"),
    (lambda x: cp.add.reduce(x, initial=0.0), "unexpected keyword argument 'initial'"),
    (lambda x: cp.maximum.accumulate(x, 0, None, None, True), "positional"),
    (lambda x: cp.asarray(x, device=0), "unexpected keyword argument 'device'"),
    (lambda x: cp.random.normal(0.0, 1.0, size=3, out=x), "unexpected keyword argument 'out'"),
    (lambda x: cp.random.RandomState(0).exponential(1.0, 3, method="x"), "'method'"),
    (lambda x: cp.random.rand(2, foo=1), "unexpected keyword arguments foo"),
    (lambda x: cp.einsum("i,i->", x, x, casting="safe"), "Did not understand"),
    (lambda x: np.einsum("i->i", x, out=cp.empty(3)), "Did not understand"),
    (lambda x: cp.meshgrid(x, x, order="C"), "unexpected keyword argument 'order'"),
])
def test_calls_cupys_signatures_refuse_raise(call, match):
    """Keywords and argument counts NumPy takes and CuPy 14 does not raise CuPy's TypeError,
    also through ``__array_function__``/``__array_ufunc__``, for hand-written names too."""
    x = cp.arange(3.0)
    with pytest.raises(TypeError, match=match):
        call(x)


def test_pad_modes_and_keywords_are_cupys():
    x = cp.arange(3.0)
    assert cp.pad(x, 1, "reflect", reflect_type="odd").shape == (5,)
    assert cp.pad(x, 1, constant_values=2.0).tolist() == [2.0, 0.0, 1.0, 2.0, 2.0]
    with pytest.raises(ValueError, match="mode 'median' is not supported"):
        cp.pad(x, 1, "median")  # NumPy has it; CuPy 14 does not
    with pytest.raises(ValueError, match="unsupported keyword arguments for mode 'edge'"):
        np.pad(x, 1, mode="edge", constant_values=1.0)


def test_calls_within_cupys_signatures_work():
    x = cp.arange(3.0)
    assert cp.sum(x, axis=0, dtype=np.float32, keepdims=True).shape == (1,)
    assert np.clip(x, 0.5, 1.5).tolist() == [0.5, 1.0, 1.5]
    assert x.clip(max=1.0).tolist() == [0.0, 1.0, 1.0]  # ndarray.clip takes min/max
    assert cp.add(x, x, out=cp.empty(3), casting="same_kind", dtype=np.float64).sum().item() == 6
    assert cp.random.normal(0.0, 1.0, size=3, dtype=np.float32).dtype == np.float32
    assert cp.take_along_axis(x, cp.zeros(2, dtype=np.int64), 0).tolist() == [0.0, 0.0]


def test_generators_have_only_cupys_methods():
    rng = cp.random.default_rng(0)
    assert rng.standard_normal(3).shape == (3,) and rng.uniform(size=2).shape == (2,)
    for name in ("normal", "choice", "permutation", "shuffle"):  # NumPy's Generator has them
        with pytest.raises(AttributeError, match=name):
            getattr(rng, name)
    rs = cp.random.RandomState(0)
    assert rs.gumbel(size=2).shape == (2,)
    with pytest.raises(AttributeError, match="random"):
        rs.random(3)  # a module function in CuPy, not a RandomState method
    assert cp.random.random(3).shape == (3,) and cp.random.random_integers(2, size=4).max() <= 2


def _hand_written():
    """``(where, name, function)`` for each function the stand-in writes itself rather than
    delegating to NumPy with a check."""
    for modname, mod in MODS.items():
        for name, impl in mod.__dict__["_standin_impls"].items():
            if callable(impl) and not isinstance(impl, (type, cp.ufunc)):
                yield modname, name, getattr(mod, name)
    for cls, where in ((cp.ndarray, "ndarray"), (cp.random.RandomState,
                                                 "cupy.random.RandomState"),
                       (type(cp.random.default_rng(0)), "cupy.random.Generator")):
        for name, fn in vars(cls).items():
            if not name.startswith("_") and callable(fn):
                yield where, name, getattr(cls, name)


def test_hand_written_names_take_cupys_parameters():
    """Every stand-in function with a CuPy signature either takes exactly CuPy's parameters,
    or checks each call against them before it runs."""
    wrong, checked = [], 0
    for where, name, fn in _hand_written():
        check = _core.signature_checker(where, name)
        if check is None:
            continue
        checked += 1
        own = _core.parameters(fn)
        if where != "cupy" and own and own[0][0] == "self":
            own = own[1:]
        if own != check.params and getattr(fn, "__cupy_signature__", None) is None:
            wrong.append(f"{where}.{name}: {own} != CuPy's {check.params}")
    assert wrong == []
    assert checked > 60


def test_signature_table_covers_what_tensorgrad_calls():
    sigs = _core._signatures()
    assert sigs["cupy_version"] == cupy_standin._modules._VERSION
    assert {"cupy", "cupy.linalg", "cupy.fft", "cupyx", "cupyx.scipy.special"} <= set(
        sigs["modules"])
    assert sigs["modules"]["cupy"]["sum"] == "a, axis=..., dtype=..., out=..., keepdims=..."
    assert sigs["methods"]["ndarray"]["max"] == "axis=..., out=..., keepdims=..."


def test_get_array_module():
    assert cp.get_array_module(cp.ones(1)) is cp
    assert cp.get_array_module(np.ones(1), 1.0) is np
    assert MODS["cupyx.scipy"].get_array_module(cp.ones(1)) is cp


# ---- cupyx, random, interop ---------------------------------------------------------------------


def test_scatter_add_accumulates_in_place():
    a = cp.zeros(4)
    cupyx.scatter_add(a, cp.array([0, 0, 3]), cp.array([1.0, 2.0, 5.0]))
    assert a.tolist() == [3.0, 0.0, 0.0, 5.0]
    m = cp.zeros((3, 2))
    cupyx.scatter_add(m, (cp.array([1, 1]), slice(None)), 1.0)
    assert m.tolist() == [[0, 0], [2, 2], [0, 0]]
    cp.add.at(a, cp.array([1, 1]), 1.0)
    assert a[1].item() == 2.0
    with pytest.raises(TypeError):
        cupyx.scatter_add(np.zeros(3), cp.array([0]), 1.0)
    # the atomics behind scatter_* and ufunc.at cover these dtypes only (complex: none)
    with pytest.raises(TypeError, match="cupy.add.at only supports"):
        cupyx.scatter_add(cp.zeros(2, dtype=np.complex128), cp.array([0]), 1.0)
    with pytest.raises(TypeError, match="cupy.maximum.at only supports"):
        cupyx.scatter_max(cp.zeros(2, dtype=np.float16), cp.array([0]), 1.0)


def test_random():
    cp.random.seed(3)
    a = cp.random.randn(2, 3, dtype=np.float32)
    cp.random.seed(3)
    b = cp.random.standard_normal((2, 3), dtype=np.float32)
    assert type(a) is cp.ndarray and a.dtype == np.float32 and a.shape == (2, 3)
    assert a.tolist() == b.tolist()
    assert cp.random.rand().shape == () and cp.random.uniform(size=4).dtype == np.float64
    assert cp.random.randint(0, 5, size=10).dtype == np.int64
    assert sorted(cp.random.permutation(5).tolist()) == [0, 1, 2, 3, 4]
    rs = cp.random.RandomState(1)
    assert rs.normal(size=(2,), dtype=np.float32).dtype == np.float32
    assert cp.random.default_rng(0).random(3).shape == (3,)
    with cp.cuda.Device(1):
        assert cp.random.rand(2).device.id == 1


def test_dlpack_and_cuda_array_interface():
    x = cp.arange(4.0)
    assert x.__dlpack_device__() == (2, 0)
    with cp.cuda.Device(1):
        assert cp.ones(1).__dlpack_device__() == (2, 1)
    with pytest.raises((RuntimeError, BufferError)):  # BufferError from NumPy 2.5
        np.from_dlpack(x)  # NumPy cannot import device memory
    y = cp.from_dlpack(x)
    y[0] = 5.0
    assert x[0].item() == 5.0  # zero-copy
    with pytest.raises(TypeError, match="CPU arrays cannot be directly imported"):
        cp.from_dlpack(np.ones(2))
    cai = x[1:].__cuda_array_interface__
    assert cai["shape"] == (3,) and cai["typestr"] == "<f8" and cai["version"] == 3
    assert cai["data"] == (x.data.ptr + 8, False) and cai["strides"] is None
    assert x[::2].__cuda_array_interface__["strides"] == (16,)
    holder = types.SimpleNamespace(__cuda_array_interface__=cai)
    z = cp.asarray(holder)
    z[0] = -1.0
    assert x[1].item() == -1.0


def test_pickle_and_copy_round_trip():
    import copy

    x = cp.arange(3.0)
    assert copy.deepcopy(x).tolist() == [0.0, 1.0, 2.0]
    if cupy_standin.installed():
        y = pickle.loads(pickle.dumps(x))
        assert type(y) is cp.ndarray and y.tolist() == [0.0, 1.0, 2.0]


# ---- kernels ------------------------------------------------------------------------------------

CODE = r'''
extern "C" __global__ void axpy(const float* x, float* y, float a, long long n) {
    long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (i < n) y[i] += a * x[i];
}
'''


@pytest.fixture
def reference(monkeypatch):
    calls = []

    def axpy(grid, block, shared_mem, x, y, a, n):
        calls.append((grid, block, shared_mem, type(x), type(a), type(n)))
        assert grid[0] * block[0] >= n
        y[:n] += a * x[:n]

    fake = types.ModuleType("tensorgrad.kernels.reference")
    fake.axpy = axpy
    monkeypatch.setitem(sys.modules, "tensorgrad.kernels.reference", fake)
    with _kernels.executing("reference"):  # the launches here test the reference path itself
        yield calls


def test_kernel_launch_runs_the_reference(reference):
    ker = cp.RawModule(code=CODE, options=("-std=c++17",)).get_function("axpy")
    x = cp.arange(5, dtype=np.float32)
    y = cp.ones(5, dtype=np.float32)
    ker((2,), (4,), (x, y, np.float32(2), np.int64(5)))
    assert y.tolist() == [1, 3, 5, 7, 9]
    assert reference == [((2, 1, 1), (4, 1, 1), 0, np.ndarray, np.float32, np.int64)]
    raw = cp.RawKernel(CODE, "axpy")
    raw((1, 1, 1), (8,), (x, y, np.float32(1), np.int64(5)), shared_mem=1024)
    assert y.tolist() == [1, 4, 7, 10, 13]


@pytest.mark.parametrize("bad, exc, match", [
    (dict(args=(1,)), TypeError, "Python int"),
    (dict(args=(2.0,)), TypeError, "Python float"),
    (dict(args=("host",)), TypeError, "numpy.ndarray"),
    (dict(args=("strided",)), ValueError, "non-contiguous"),
    (dict(args=("device1",)), ValueError, "different from the current device"),
    (dict(block=(2048,)), ValueError, "1024"),
    (dict(block=(32, 32, 2)), ValueError, "1024"),
    (dict(grid=[2]), TypeError, "tuple"),
    (dict(grid=(2.0,)), TypeError, "int"),
    (dict(grid=(1, 70000)), ValueError, "grid.y"),
    (dict(grid=(2**31,)), ValueError, "grid.x"),
    (dict(grid=(1, 1, 1, 1)), TypeError, "1 to 3"),
    (dict(shared_mem=64 * 1024), ValueError, "max_dynamic_shared_size_bytes"),
])
def test_kernel_launch_checks(reference, bad, exc, match):
    ker = cp.RawModule(code=CODE).get_function("axpy")
    x = cp.zeros(4, dtype=np.float32)
    y = cp.zeros(4, dtype=np.float32)
    args = [x, y, np.float32(1), np.int64(4)]
    for a in bad.get("args", ()):
        if a == "host":
            args[0] = np.zeros(4, dtype=np.float32)
        elif a == "strided":
            args[0] = cp.zeros(8, dtype=np.float32)[::2]
        elif a == "device1":
            with cp.cuda.Device(1):
                args[1] = cp.zeros(4, dtype=np.float32)
        else:
            args[3] = a
    with pytest.raises(exc, match=match):
        ker(bad.get("grid", (1,)), bad.get("block", (4,)), tuple(args),
            shared_mem=bad.get("shared_mem", 0))
    assert reference == []


def test_kernel_shared_memory_opt_in(reference):
    ker = cp.RawKernel(CODE, "axpy")
    args = (cp.zeros(1, dtype=np.float32), cp.zeros(1, dtype=np.float32), np.float32(1),
            np.int64(1))
    ker.max_dynamic_shared_size_bytes = 100 * 1024
    ker((1,), (1,), args, shared_mem=100 * 1024)
    ker.max_dynamic_shared_size_bytes = 300 * 1024
    with pytest.raises(ValueError):
        ker((1,), (1,), args, shared_mem=228 * 1024)


def test_kernel_names_and_references_are_checked(reference, monkeypatch):
    mod = cp.RawModule(code=CODE)
    with pytest.raises(RuntimeError, match="axpyy"):
        mod.get_function("axpyy")  # a typo fails when the function is looked up
    other = CODE.replace("axpy", "scale")
    ker = cp.RawModule(code=other).get_function("scale")
    with pytest.raises(RuntimeError, match="scale"):
        ker((1,), (1,), (np.int32(0),))  # no reference named after the kernel
    with pytest.raises(TypeError, match="tuple"):
        cp.RawModule(code=CODE, options=["-O3"])
    with pytest.raises(NotImplementedError, match="RawModule"):
        cp.ElementwiseKernel("float32 x", "float32 y", "y = x", "copy")
    monkeypatch.delitem(sys.modules, "tensorgrad.kernels.reference")
    monkeypatch.setattr(cupy_standin._kernels, "REFERENCE_MODULE", "no_such_reference_module")
    with pytest.raises(RuntimeError, match="axpy"):
        mod.get_function("axpy")((1,), (1,), (np.int32(0),))


# ---- installation ----------------------------------------------------------------------------


def test_installed_where_tensorgrad_sees_it():
    if not cupy_standin.installed():
        pytest.skip("real CuPy is in use (the stand-in is not installed)")
    import tensorgrad.backend.device as dev

    assert sys.modules["cupy"] is cp and sys.modules["cupyx.scipy.special"] is not None
    assert dev.cupy is cp and dev.cuda_available()


def test_tensorgrad_does_not_know_the_stand_in():
    import pathlib

    import tensorgrad

    root = pathlib.Path(tensorgrad.__file__).parent
    for path in root.rglob("*.py"):
        assert "cupy_standin" not in path.read_text(), path
