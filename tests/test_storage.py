"""Storages (tensorgrad/storage.py): Tensor.untyped_storage/storage/storage_type/set_,
tg.UntypedStorage, tg.TypedStorage and the legacy classes, on each device, against PyTorch:
sizes, offsets, data_ptr relations, values, writes seen through tensors, conversions, and the
errors of bad input (and of what tensorgrad cannot do: resizing a tensor's memory)."""

import copy
import pickle
import warnings

import numpy as np
import pytest
from conftest import CUPY_STANDIN
from devices import host, on, tensor_on, torch_oracle

import tensorgrad as tg
import tensorgrad.storage as S

torch = torch_oracle()
pytestmark = pytest.mark.filterwarnings("ignore:TypedStorage is deprecated")

# (dtype, its legacy class)
DTYPES = [(np.float32, "FloatStorage"), (np.float64, "DoubleStorage"), (np.float16, "HalfStorage"),
          (np.int8, "CharStorage"), (np.uint8, "ByteStorage"), (np.int16, "ShortStorage"),
          (np.int32, "IntStorage"), (np.int64, "LongStorage"), (np.bool_, "BoolStorage"),
          (np.complex64, "ComplexFloatStorage"), (np.complex128, "ComplexDoubleStorage")]
IDS = [np.dtype(d).name for d, _ in DTYPES]


def arange(device, n=6, dtype=np.float32):
    return tensor_on(np.arange(n).astype(dtype), device)


def views(x):
    """The same views of a 1-d tensor of 12 elements, for tensorgrad and torch."""
    return [x, x[2:], x[3:9:2], x.reshape(3, 4).t(), x.reshape(3, 4)[1:, 2:], x.view(3, 4)[2]]


# ---- a tensor's storage -------------------------------------------------------------------------
def test_views_share_one_storage_as_in_torch(device):
    x, t = arange(device, 12), torch.arange(12, dtype=torch.float32)
    base = x.untyped_storage()
    for v, tv in zip(views(x), views(t)):
        s = v.untyped_storage()
        assert s is base  # one live storage object for one memory, as PyTorch's
        assert s.data_ptr() == x.data_ptr()
        assert s.nbytes() == tv.untyped_storage().nbytes() == 48
        assert v.storage_offset() == tv.storage_offset()
        assert v.data_ptr() == s.data_ptr() + v.storage_offset() * v.element_size()
        assert s.device == x.device and s.is_cuda == (device == "cuda")
    assert x.clone().untyped_storage().data_ptr() != base.data_ptr()
    assert tg.tensor(3.0, device=device).untyped_storage().nbytes() == \
        torch.tensor(3.0).untyped_storage().nbytes() == 4
    assert tg.zeros(0, device=device).untyped_storage().nbytes() == 0


@pytest.mark.parametrize("dt,name", DTYPES, ids=IDS)
def test_sizes_and_values_per_dtype(device, dt, name):
    a = (np.arange(5) % 2).astype(dt) if dt is np.bool_ else np.arange(5).astype(dt)
    x, t = tensor_on(a, device), torch.tensor(a)
    u, tu = x[1:].untyped_storage(), t[1:].untyped_storage()
    assert (u.nbytes(), u.size(), len(u), u.element_size()) == \
        (tu.nbytes(), tu.size(), len(tu), tu.element_size())
    assert u.tolist() == tu.tolist()  # the bytes, as PyTorch lays them out
    s, ts = x[1:].storage(), t[1:].storage()
    assert (s.size(), len(s), s.element_size(), s.nbytes()) == \
        (ts.size(), len(ts), ts.element_size(), ts.nbytes())
    assert s.tolist() == ts.tolist() and [s[i] for i in range(5)] == [ts[i] for i in range(5)]
    assert type(s[0]) is type(ts[0])
    assert s.dtype == np.dtype(dt) and s.untyped() is u
    assert x.storage_type().__name__ == t.storage_type().__name__ == name
    assert x.storage_type() is (getattr(tg.cuda, name) if device == "cuda" else getattr(S, name))
    assert isinstance(s, x.storage_type()) and isinstance(ts, t.storage_type())
    other = S.FloatStorage if name != "FloatStorage" else S.DoubleStorage
    assert not isinstance(s, other)
    assert s.type() == ("torch.cuda." if device == "cuda" else "torch.") + name
    assert ts.type() == "torch." + name


def test_storage_type_without_a_legacy_class(device):
    x = tensor_on(np.zeros(2, np.uint16), device)
    assert x.storage_type() is None and torch.zeros(2, dtype=torch.uint16).storage_type() is None
    assert x.storage().type() == torch.zeros(2, dtype=torch.uint16).storage().type()
    with pytest.raises(KeyError, match="uint16"):
        x.storage().pickle_storage_type()
    assert tg.ones(1).storage().pickle_storage_type() == "FloatStorage"


def test_writes_through_the_storage_are_seen_by_every_view(device):
    x, t = arange(device), torch.arange(6, dtype=torch.float32)
    v, tv = x[3:], t[3:]
    for s in (x[1:].untyped_storage(), t[1:].untyped_storage()):
        s[0] = 300  # a byte: 300 % 256
        s[4:8] = 0
        s[23] = 65  # (PyTorch's __setitem__ takes no negative index; ours does)
    assert host(x).tolist() == t.tolist() and host(v).tolist() == tv.tolist()
    for s in (v.storage(), tv.storage()):
        s[2] = 7.5
        s[-1] = -1
        s[3:5] = 9
    assert host(x).tolist() == t.tolist()
    x.storage().fill_(2)
    assert host(v).tolist() == [2.0] * 3
    x.untyped_storage().fill_(-1)
    assert x.untyped_storage().tolist() == [255] * 24
    assert np.isnan(host(x)).all()
    a = tensor_on(np.zeros(3, np.int32), device)
    a.storage()[0:2] = tensor_on(np.array([4, 5], np.int32), device)
    a.storage()[2] = 1.9  # converted as by numpy/torch: truncated
    assert host(a).tolist() == [4, 5, 1]


def test_untyped_slices_share_memory(device):
    x, t = arange(device), torch.arange(6, dtype=torch.float32)
    s, ts = x.untyped_storage()[4:8], t.untyped_storage()[4:8]
    assert s.tolist() == ts.tolist() == [0, 0, 128, 63]
    assert s.data_ptr() - x.data_ptr() == ts.data_ptr() - t.data_ptr() == 4
    s[3] = 64
    ts[3] = 64
    assert host(x).tolist() == t.tolist() and t[1] == 4.0
    assert x.untyped_storage()[5:100].nbytes() == t.untyped_storage()[5:100].nbytes() == 19
    assert x.untyped_storage()[30:].nbytes() == t.untyped_storage()[30:].nbytes() == 0
    assert x.untyped_storage()[-2:].tolist() == t.untyped_storage()[-2:].tolist()


def test_index_errors_name_the_method_index_and_size(device):
    x, t = arange(device, 3), torch.arange(3, dtype=torch.float32)
    u, s = x.untyped_storage(), x.storage()
    with pytest.raises(IndexError, match="index 12 out of range for storage of size 12"):
        t.untyped_storage()[12]
    with pytest.raises(IndexError, match=r"UntypedStorage.__getitem__: index 12 out of range "
                                         r"for storage of size 12"):
        u[12]
    with pytest.raises(RuntimeError, match=r"__getitem__: index -13 .* size 12"):
        u[-13]  # both an IndexError and a RuntimeError, as PyTorch raises either
    with pytest.raises(RuntimeError, match=r"UntypedStorage.__setitem__: index 12 .* size 12"):
        u[12] = 1
    with pytest.raises(RuntimeError):
        t.untyped_storage()[12] = 1
    with pytest.raises(IndexError, match=r"TypedStorage.__getitem__: index 3 .* size 3"):
        s[3]
    with pytest.raises(IndexError, match=r"TypedStorage.__setitem__: index -4 .* size 3"):
        s[-4] = 1.0
    with pytest.raises(IndexError):
        t.storage()[3]
    with pytest.raises(RuntimeError, match="step of 2, but only a step of 1"):
        u[0:8:2]
    with pytest.raises(RuntimeError, match="step of 2, but only a step of 1"):
        t.untyped_storage()[0:8:2]
    with pytest.raises(RuntimeError, match="slices are only supported in UntypedStorage"):
        s[0:2]
    with pytest.raises(RuntimeError, match="slices are only supported in UntypedStorage"):
        t.storage()[0:2]
    with pytest.raises(TypeError, match=r"__getitem__: can't index a storage with float"):
        u[1.0]
    with pytest.raises(RuntimeError, match=r"__setitem__: can only set storage content with "
                                           r"an int.*list"):
        u[0:2] = [1, 2]
    with pytest.raises(RuntimeError, match="can only set storage content with a int"):
        t.untyped_storage()[0:2] = [1, 2]
    with pytest.raises(RuntimeError, match="fill_: expects an int.*float"):
        u.fill_(1.5)
    with pytest.raises(RuntimeError, match="fill_ expects int"):
        t.untyped_storage().fill_(1.5)
    with pytest.raises(RuntimeError, match="cannot set items from a storage"):
        s[0] = S.FloatStorage([1.0])


# ---- copies and devices --------------------------------------------------------------------------
def test_copy_clone_and_size_mismatch(device):
    x = arange(device)
    dst = S.UntypedStorage(24, device=device)
    assert dst.copy_(x.untyped_storage()) is dst and dst.tolist() == x.untyped_storage().tolist()
    c = x.untyped_storage().clone()
    assert c.data_ptr() != x.data_ptr() and c.tolist() == dst.tolist() and c.device == x.device
    c[0] = 1
    assert host(x)[0] == 0.0
    with pytest.raises(RuntimeError, match="size does not match, self was 3 bytes but src was "
                                           "4 bytes"):
        torch.UntypedStorage(3).copy_(torch.UntypedStorage(4))
    with pytest.raises(RuntimeError, match=r"UntypedStorage.copy_: size does not match, self "
                                           r"was 3 bytes but src was 4 bytes"):
        S.UntypedStorage(3, device=device).copy_(S.UntypedStorage(4))
    # typed copy_ copies bytes, as PyTorch's: a float64 source of the same count is too big
    with pytest.raises(RuntimeError, match=r"TypedStorage.copy_: .*self was 12 bytes but src "
                                           r"was 24 bytes"):
        S.FloatStorage(3).copy_(S.DoubleStorage([1, 2, 3]))
    mine, ref = S.UntypedStorage(12), torch.UntypedStorage(12)
    mine.copy_(S.FloatStorage([1, 2, 3]))
    ref.copy_(torch.FloatStorage([1, 2, 3]))
    assert mine.tolist() == ref.tolist()
    with pytest.raises(TypeError, match="copy_: src must be a storage, got Tensor"):
        dst.copy_(x)
    assert copy.copy(c).data_ptr() != c.data_ptr() and copy.deepcopy(c).tolist() == c.tolist()
    s = x.storage()
    d = copy.deepcopy([s, s])
    assert d[0] is d[1] and d[0].tolist() == s.tolist() and d[0].data_ptr() != s.data_ptr()


def test_between_devices(cuda_device):
    x = tg.arange(6.0)
    g = x.untyped_storage().cuda()
    assert g.is_cuda and on(tg.empty(0, device="cuda").set_(g), "cuda")
    assert g.tolist() == x.untyped_storage().tolist() and g.get_device() == 0
    assert g.cuda() is g and g.to(device="cuda:0") is g
    assert x.untyped_storage().cpu() is x.untyped_storage()
    assert x.untyped_storage().get_device() is None  # PyTorch's storages: None on the CPU
    back = g.cpu()
    assert not back.is_cuda and back.tolist() == g.tolist()
    assert x.untyped_storage().to(device=cuda_device).device == tg.device("cuda:0")
    # copy_ across devices, both ways
    h = S.UntypedStorage(24)
    g[0] = 5
    h.copy_(g)
    assert h[0] == 5
    h[0] = 9
    g.copy_(h)
    assert g[0] == 9
    t = x.storage().cuda()
    assert isinstance(t, tg.cuda.FloatStorage) and not isinstance(t, S.FloatStorage)
    assert t.type() == "torch.cuda.FloatStorage" and t.cpu().tolist() == x.tolist()
    assert t.type("torch.DoubleStorage").device.type == "cpu"
    assert t.type(tg.cuda.IntStorage).tolist() == [0, 1, 2, 3, 4, 5]
    assert tg.cuda.LongStorage([1, 2]).is_cuda and tg.cuda.LongStorage(3).size() == 3
    with pytest.raises(TypeError, match="cannot pin a storage on cuda:0"):
        g.pin_memory()
    with pytest.raises(TypeError, match="on cuda:0 to a NumPy array implicitly.*cpu"):
        np.asarray(t)
    with pytest.raises(RuntimeError, match=r"set_\(\): cannot set the storage of a tensor on "
                                           r"cpu to a storage on cuda:0"):
        tg.empty(0).set_(g)


def test_pinned_memory(cuda_device):
    s = tg.arange(4.0).untyped_storage()
    assert not s.is_pinned()
    p = s.pin_memory()
    assert p.is_pinned() and p.pin_memory() is p and p.tolist() == s.tolist() and not p.is_cuda
    t = S.FloatStorage([1, 2]).pin_memory()
    assert t.is_pinned() and t.tolist() == [1.0, 2.0]
    p.resize_(20)
    assert p.is_pinned() and p.tolist()[:16] == s.tolist()


def test_pin_memory_without_a_gpu(no_cupy):
    with pytest.raises(RuntimeError, match="pin_memory"):
        S.UntypedStorage(4).pin_memory()
    assert not S.UntypedStorage(4).is_pinned()


# ---- resize_ -------------------------------------------------------------------------------------
def test_resize_of_a_storage_no_tensor_uses(device):
    s, t = S.UntypedStorage([1, 2, 3, 4], device=device), torch.UntypedStorage([1, 2, 3, 4])
    assert s.resizable() and t.resizable()
    assert s.resize_(2) is s and t.resize_(2) is t
    assert s.tolist() == t.tolist() == [1, 2]
    s.resize_(5)
    t.resize_(5)
    assert s.nbytes() == t.nbytes() == 5 and s.tolist()[:2] == t.tolist()[:2] == [1, 2]
    f = S.FloatStorage([1, 2, 3])
    assert f.resize_(5).size() == 5 and f.tolist()[:3] == [1.0, 2.0, 3.0]
    s.resize_(0)
    assert s.nbytes() == 0 and s.tolist() == []
    y = tg.empty(0, device=device).set_(s.resize_(8).fill_(0), 0, (2,))
    assert host(y).tolist() == [0.0, 0.0] and not s.resizable()
    with pytest.raises(RuntimeError, match="resize_: size must be non-negative, got -1"):
        S.UntypedStorage(4).resize_(-1)
    with pytest.raises(TypeError, match="resize_: size must be an int, got float"):
        S.UntypedStorage(4).resize_(2.5)
    with pytest.raises(RuntimeError, match="resize_ expects an int"):
        torch.UntypedStorage(4).resize_(2.5)


def test_resize_of_a_tensors_storage_is_refused(device):
    x = arange(device)
    s = x.untyped_storage()
    assert not s.resizable()
    with pytest.raises(RuntimeError, match=r"UntypedStorage.resize_: cannot resize this storage "
                                           r"from 24 to 0 bytes: it is the memory of a tensor"):
        s.resize_(0)  # PyTorch's FSDP trick; there the tensor is then unusable
    with pytest.raises(RuntimeError, match="from 24 to 32 bytes"):
        x.storage().resize_(8)
    assert s.resize_(24) is s  # the same size: nothing to do
    assert host(x).tolist() == list(range(6))
    owned = S.UntypedStorage(8, device=device)
    tg.empty(0, device=device).set_(owned)  # now a tensor uses it
    assert not owned.resizable()
    sl = S.UntypedStorage(8, device=device)
    sl[0:4]  # a slice shares its memory
    with pytest.raises(RuntimeError, match="cannot resize"):
        sl.resize_(4)


# ---- set_ ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [(), (2, (2, 2)), (2, (2, 2), (1, 2)), (1, (2,), (3,)),
                                  (0, (0, 3)), (5, (1,))])
def test_set_to_a_storage_against_torch(device, args):
    x, t = arange(device), torch.arange(6, dtype=torch.float32)
    y, ty = tg.ones(2, device=device).set_(x.untyped_storage(), *args), \
        torch.ones(2).set_(t.untyped_storage(), *args)
    assert tuple(y.shape) == tuple(ty.shape) and host(y).tolist() == ty.tolist()
    # CuPy makes a strided view by as_strided, an array without .base; the stand-in's has its
    # own memory start, so there only the values and strides are PyTorch's
    exact = device == "cpu" or y.is_contiguous() or not CUPY_STANDIN
    if y.numel():
        assert y.stride() == ty.stride()
    if y.numel() and exact:
        assert y.storage_offset() == ty.storage_offset()
        assert y.untyped_storage() is x.untyped_storage()
    z = tg.empty(0, device=device).set_(x.storage(), *args)
    assert host(z).tolist() == ty.tolist()
    if y.numel():
        y[(0,) * y.ndim] = 100.0
        assert 100.0 in host(x).tolist()


def test_set_reinterprets_an_untyped_storage_with_the_tensors_dtype(device):
    x, t = arange(device), torch.arange(6, dtype=torch.float32)
    y = tensor_on(np.zeros(0, np.int32), device).set_(x.untyped_storage(), 1, (2,))
    ty = torch.zeros(0, dtype=torch.int32).set_(t.untyped_storage(), 1, (2,))
    assert host(y).tolist() == ty.tolist() == [1065353216, 1073741824]
    y = tensor_on(np.zeros(0, np.float64), device).set_(x.untyped_storage())
    assert tuple(y.shape) == (3,)


def test_set_errors(device):
    x, t = arange(device), torch.arange(6, dtype=torch.float32)
    s = x.untyped_storage()
    y = tg.empty(0, device=device)
    with pytest.raises(RuntimeError, match=r"set_\(\): sizes \[4\], strides \[1\], storage "
                                           r"offset 3, and itemsize 4 requiring a storage size "
                                           r"of 28 .* size 24 \(tensorgrad cannot grow"):
        y.set_(s, 3, (4,))
    with pytest.raises(RuntimeError, match="storage_offset must be non-negative, got -1"):
        y.set_(s, -1, (2,))
    with pytest.raises(RuntimeError, match="invalid storage offset -1"):
        torch.empty(0).set_(t.untyped_storage(), -1, (2,))
    with pytest.raises(RuntimeError, match=r"size \[2, 2\] and stride \[1\] differ in length"):
        y.set_(s, 0, (2, 2), (1,))
    with pytest.raises(RuntimeError, match="non-negative.*stride \\[-1\\]"):
        y.set_(s, 0, (2,), (-1,))
    with pytest.raises(RuntimeError, match="expected a storage of dtype float64 or an "
                                           "UntypedStorage, got a TypedStorage of dtype float32"):
        tensor_on(np.zeros(0), device).set_(x.storage())
    with pytest.raises(RuntimeError, match="Expected a Storage of type double or an "
                                           "UntypedStorage"):
        torch.zeros(0, dtype=torch.float64).set_(t.storage())
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        tensor_on(np.ones(2, np.float32), device, requires_grad=True).set_(s)
    with pytest.raises(TypeError, match=r"set_\(\): source must be a Tensor or a storage.*list"):
        y.set_([1, 2])
    with pytest.raises(TypeError, match="storage_offset must be an int, got float"):
        y.set_(s, 1.0, (2,))
    assert y.set_(x) is y and host(y).tolist() == host(x).tolist()  # Tensor sources as before


# ---- construction --------------------------------------------------------------------------------
def test_constructors_against_torch():
    assert S.UntypedStorage().nbytes() == torch.UntypedStorage().nbytes() == 0
    assert S.UntypedStorage(3).nbytes() == 3 and not S.UntypedStorage(3).is_cuda
    assert S.UntypedStorage([1, 2, 300, -1]).tolist() == \
        torch.UntypedStorage([1, 2, 300, -1]).tolist() == [1, 2, 44, 255]
    assert S.UntypedStorage(b"\x01\x02").tolist() == torch.UntypedStorage(b"\x01\x02").tolist()
    assert S.FloatStorage().size() == 0 and S.FloatStorage(4).size() == 4
    assert S.FloatStorage([1, 2, 3]).tolist() == torch.FloatStorage([1, 2, 3]).tolist()
    assert S.IntStorage([1.5, 2]).tolist() == torch.IntStorage([1.5, 2]).tolist() == [1, 2]
    assert S.BoolStorage([2, 0]).tolist() == torch.BoolStorage([2, 0]).tolist()
    assert S.FloatStorage([[1, 2]]).tolist() == torch.FloatStorage([[1, 2]]).tolist()
    assert type(S.FloatStorage(1)) is S.TypedStorage  # as PyTorch's legacy classes
    assert type(torch.FloatStorage(1)) is torch.TypedStorage
    assert issubclass(S.FloatStorage, S.TypedStorage) and S.FloatStorage.dtype == tg.float32
    t = S.TypedStorage([1, 2], dtype=tg.int16)
    assert t.tolist() == [1, 2] and t.dtype == tg.int16 and t.element_size() == 2
    assert S.TypedStorage().dtype == tg.get_default_dtype()
    assert S.TypedStorage(3, dtype=tg.float64).nbytes() == 24
    u = S.UntypedStorage(8)
    w = S.TypedStorage(wrap_storage=u, dtype=tg.float32)
    assert w.size() == 2 and w.untyped() is u and w.data_ptr() == u.data_ptr()
    assert S.TypedStorage(wrap_storage=S.UntypedStorage(7), dtype=tg.float32).size() == \
        torch.TypedStorage(wrap_storage=torch.UntypedStorage(7), dtype=torch.float32).size() == 1
    assert S.DoubleStorage(wrap_storage=u).size() == 1
    assert S.is_storage(u) and S.is_storage(w) and not S.is_storage(tg.ones(1))
    assert torch.is_storage(torch.FloatStorage(1))


def test_constructor_errors():
    with pytest.raises(RuntimeError, match=r"UntypedStorage\(\): tried to construct a storage "
                                           r"from a sequence \(list\), but its items are float64"):
        S.UntypedStorage([1.5])
    with pytest.raises(RuntimeError, match="one of the items was of type float"):
        torch.UntypedStorage([1.5])
    with pytest.raises(RuntimeError, match="expected a size .* sequence of ints, got float"):
        S.UntypedStorage(1.5)
    with pytest.raises(RuntimeError, match="size must be non-negative, got -1"):
        S.UntypedStorage(-1)
    with pytest.raises(RuntimeError, match="dtype must be given with wrap_storage"):
        S.TypedStorage(wrap_storage=S.UntypedStorage(8))
    with pytest.raises(RuntimeError, match="Argument 'dtype' must be specified"):
        torch.TypedStorage(wrap_storage=torch.UntypedStorage(8))
    with pytest.raises(TypeError, match="wrap_storage must be an UntypedStorage, got "
                                        "TypedStorage"):
        S.TypedStorage(wrap_storage=S.FloatStorage(2), dtype=tg.float32)
    with pytest.raises(RuntimeError, match="too many positional arguments"):
        S.TypedStorage(2, 3, dtype=tg.float32)
    with pytest.raises(RuntimeError, match="Too many positional arguments"):
        torch.TypedStorage(2, 3, dtype=torch.float32)
    with pytest.raises(RuntimeError, match="device= and dtype= cannot be given"):
        S.FloatStorage(2, device="cpu")
    with pytest.raises(RuntimeError, match="Keyword argument 'device' cannot be specified"):
        torch.FloatStorage(2, device="cpu")
    with pytest.raises(TypeError, match="argument type not recognized: float"):
        S.FloatStorage(1.5)
    with pytest.raises(TypeError, match="argument type not recognized: Tensor"):
        S.FloatStorage(tg.ones(2))
    with pytest.raises(RuntimeError, match="cannot be converted to type uint8 without overflow"):
        S.ByteStorage([300])
    with pytest.raises(RuntimeError, match="cannot be converted to type uint8 without overflow"):
        torch.ByteStorage([300])
    with pytest.raises(TypeError, match="BFloat16Storage: NumPy and CuPy have no bfloat16"):
        S.BFloat16Storage(2)
    assert not isinstance(S.FloatStorage(1), S.BFloat16Storage)
    with pytest.raises(TypeError, match="no bfloat16"):
        S.FloatStorage([1]).bfloat16()
    with pytest.raises(TypeError, match="no bfloat16"):
        S.TypedStorage(2, dtype=tg.bfloat16)
    with pytest.raises(TypeError, match="dtype must be a tensorgrad dtype"):
        S.TypedStorage(2, dtype="nonsense")


@pytest.mark.parametrize("method", ["float", "double", "half", "long", "int", "short", "char",
                                    "byte", "bool", "complex_float", "complex_double"])
def test_conversions_against_torch(device, method):
    vals = [1.0, 0.0, 2.5, 7.0]
    mine = S.FloatStorage(vals).to(device=device)
    ref = torch.FloatStorage(vals)
    got, want = getattr(mine, method)(), getattr(ref, method)()
    assert got.tolist() == want.tolist() and got.device == mine.device
    assert str(got.dtype) == str(want.dtype).removeprefix("torch.")
    assert got.element_size() == want.element_size() and got.data_ptr() != mine.data_ptr()
    u, tu = S.UntypedStorage([1, 2, 250], device=device), torch.UntypedStorage([1, 2, 250])
    assert getattr(u, method)().tolist() == getattr(tu, method)().tolist()  # byte values


def test_type_conversions(device):
    s = S.FloatStorage([1.5, 2.0]).to(device=device)
    assert s.type(S.DoubleStorage).tolist() == [1.5, 2.0]
    assert s.type(S.DoubleStorage).device.type == "cpu"
    assert s.type("torch.IntStorage").tolist() == [1, 2]
    assert s.type(tg.float16).dtype == tg.float16 and s.type(tg.float16).device == s.device
    assert s.type(S.UntypedStorage).tolist() == s.untyped().tolist()
    assert S.UntypedStorage(2).type() == torch.UntypedStorage(2).type() == \
        "torch.storage.UntypedStorage"
    assert S.UntypedStorage([1, 2]).type(S.FloatStorage).tolist() == [1.0, 2.0]
    with pytest.raises(TypeError, match=r"TypedStorage.type\(\): expected a storage type"):
        s.type("torch.NoSuchStorage")


def test_from_buffer_against_torch():
    b = b"\x01\x02\x03\x04"
    for order in ("native", "little", "big"):
        assert S.UntypedStorage.from_buffer(b, order, dtype=tg.int16).tolist() == \
            torch.UntypedStorage.from_buffer(b, order, dtype=torch.int16).tolist()
        assert S.ShortStorage.from_buffer(b, order).tolist() == \
            torch.ShortStorage.from_buffer(b, order).tolist()
        assert S.TypedStorage.from_buffer(b, order, dtype=tg.int16).tolist() == \
            torch.TypedStorage.from_buffer(b, order, dtype=torch.int16).tolist()
    assert S.ShortStorage.from_buffer(b, "little", count=1, offset=2).tolist() == \
        torch.ShortStorage.from_buffer(b, "little", count=1, offset=2).tolist() == [1027]
    assert S.ComplexFloatStorage.from_buffer(np.array([1 + 2j], np.complex64).tobytes(),
                                              "big").size() == 1
    buf = bytearray(b)
    u = S.UntypedStorage.from_buffer(buf, dtype=tg.uint8)
    u[0] = 9
    assert buf == bytearray(b)  # a copy, as PyTorch's
    assert u.resizable()
    with pytest.raises(ValueError, match="buffer size .3. must be a multiple of element size .2."):
        torch.ShortStorage.from_buffer(b[:3], "little")
    with pytest.raises(ValueError, match=r"ShortStorage.from_buffer: buffer size \(3\) must be a "
                                         r"multiple of element size \(2\)"):
        S.ShortStorage.from_buffer(b[:3], "little")
    with pytest.raises(RuntimeError, match="argument 'dtype' cannot be None"):
        S.UntypedStorage.from_buffer(b)
    with pytest.raises(RuntimeError, match="dtype and device can only be given"):
        S.FloatStorage.from_buffer(b, dtype=tg.float32)
    with pytest.raises(ValueError, match="requested 3 elements of 2 bytes, but only 4 bytes"):
        S.ShortStorage.from_buffer(b, count=3)
    with pytest.raises(ValueError, match="byte_order must be"):
        S.ShortStorage.from_buffer(b, "middle")


def test_byteswap_against_torch(device):
    u, t = S.UntypedStorage(list(range(8)), device=device), torch.UntypedStorage(list(range(8)))
    for dt, tdt in ((tg.int16, torch.int16), (tg.float32, torch.float32),
                    (tg.complex64, torch.complex64), (tg.uint8, torch.uint8)):
        u.byteswap(dt)
        t.byteswap(tdt)
        assert u.tolist() == t.tolist()
    with pytest.raises(RuntimeError, match="byteswap: the length of data .3 bytes. is not a "
                                           "multiple of 2"):
        S.UntypedStorage(3).byteswap(tg.int16)


def test_from_file(tmp_path):
    path = tmp_path / "f.bin"
    s = S.UntypedStorage.from_file(str(path), True, 8)
    assert s.filename == str(path) and s.nbytes() == 8 and not s.resizable()
    s.fill_(7)
    del s
    assert path.read_bytes() == b"\x07" * 8
    f = S.ByteStorage.from_file(str(path), False, 4)
    f[0] = 1
    assert f.tolist() == [1, 7, 7, 7] and f.filename is None
    assert path.read_bytes() == b"\x07" * 8  # private: the file keeps its bytes
    assert S.FloatStorage.from_file(str(path), False, 2).size() == 2
    with pytest.raises(RuntimeError, match="from_file: cannot map 16 bytes"):
        S.UntypedStorage.from_file(str(path), False, 16)
    with pytest.raises(RuntimeError, match="from_file can only be called on the legacy classes"):
        S.TypedStorage.from_file(str(path), False, 2)


# ---- Python protocols, memory sharing, warnings --------------------------------------------------
def test_repr_iter_pickle_and_numpy(device):
    u = S.UntypedStorage([1, 2], device=device)
    assert repr(u) == f" 1\n 2\n[tensorgrad.storage.UntypedStorage(device={u.device}) of " \
                      "size 2]"
    assert repr(torch.UntypedStorage([1, 2])) == \
        " 1\n 2\n[torch.storage.UntypedStorage(device=cpu) of size 2]"
    f = S.FloatStorage([1, 2]).to(device=device)
    assert repr(f).endswith(f"[tensorgrad.storage.TypedStorage(dtype=float32, device="
                            f"{f.device}) of size 2]") and repr(f).startswith(" 1.0\n 2.0\n")
    assert list(u) == [1, 2] and list(f) == [1.0, 2.0] and len(f) == 2
    for s in (u, f):
        r = pickle.loads(pickle.dumps(s))
        assert type(r) is type(s) and r.tolist() == s.tolist() and r.device == s.device
        assert r.data_ptr() != s.data_ptr()
    assert pickle.loads(pickle.dumps(f)).dtype == tg.float32
    assert f.__sizeof__() > 8 and u.is_sparse is False
    x = tg.arange(3.0)
    a = np.asarray(x.storage())
    a[0] = 5  # a copy
    assert a.dtype == np.float32 and x[0].item() == 0.0
    assert tg.tensor(S.FloatStorage([1, 2])).tolist() == \
        torch.tensor(torch.FloatStorage([1, 2])).tolist()
    assert tg.tensor(S.DoubleStorage([1, 2])).dtype == tg.float64  # PyTorch's raises here
    t = tg.tensor(x.storage())
    t[0] = 5
    assert x[0].item() == 0.0 and t.tolist() == [5.0, 1.0, 2.0]
    owned = S.UntypedStorage(4)
    np.asarray(owned, copy=False)[0] = 3  # the memory itself: no longer the storage's alone
    assert owned[0] == 3 and not owned.resizable()


def test_shared_memory():
    s = S.UntypedStorage([1, 2, 3])
    assert not s.is_shared() and s.share_memory_() is s
    assert s.is_shared() and s.tolist() == [1, 2, 3] and not s.resizable()
    f = S.FloatStorage([1, 2]).share_memory_()
    assert f.is_shared() and f.tolist() == [1.0, 2.0]
    x = tg.arange(4.0)
    with pytest.raises(RuntimeError, match="share_memory_.*belongs to a tensor.*call "
                                           "share_memory_\\(\\) on the tensor"):
        x.untyped_storage().share_memory_()
    x.share_memory_()
    assert x.untyped_storage().is_shared() and x[1:].storage().is_shared()
    # the storage of a view is the whole segment, not just the view's part
    assert x[1:].untyped_storage().data_ptr() == x.data_ptr()
    assert x[1:].untyped_storage().nbytes() == 16
    y = tg.empty(0, dtype=tg.uint8).set_(s)
    y[0] = 9
    assert s[0] == 9  # set_ onto a shared storage shares it


def test_shared_memory_on_the_gpu(cuda_device):
    g = S.UntypedStorage(4, device="cuda")
    assert g.share_memory_() is g and not g.is_shared()


def test_typed_storage_warns_once_as_torch():
    S._reset_warn_typed_storage_removal()
    with pytest.warns(UserWarning, match="TypedStorage is deprecated"):
        tg.ones(2).storage()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tg.ones(2).storage()  # once per process
        S.FloatStorage(2)
        tg.ones(2).untyped_storage()
    tg.set_warn_always(True)
    try:
        with pytest.warns(UserWarning, match="TypedStorage is deprecated"):
            S.FloatStorage(2)
    finally:
        tg.set_warn_always(False)


def test_storage_of_arrays_made_outside_tensorgrad():
    buf = bytearray(16)
    x = tg.from_numpy(np.frombuffer(buf, np.float32))
    s = x[1:].untyped_storage()
    assert s.nbytes() == 16 and s.data_ptr() == x.data_ptr()
    s[0] = 1
    assert buf[0] == 1  # the buffer's own memory
    with pytest.raises(ValueError):
        tg.from_numpy(np.frombuffer(b"abcd", np.uint8)).untyped_storage()[0] = 1  # read-only
    # a view passed to from_numpy keeps its base (PyTorch would start a storage at the view)
    base = np.arange(6, dtype=np.float32)
    v = tg.from_numpy(base[2:])
    assert v.untyped_storage().nbytes() == 24 and v.storage_offset() == 2
    # NumPy's as_strided views lead back to the array they view
    st = tg.from_numpy(np.lib.stride_tricks.as_strided(base, (2,), (8,)))
    assert st.untyped_storage() is tg.from_numpy(base).untyped_storage()
    # Fortran order: the storage holds the memory in its order
    f = tg.from_numpy(np.asfortranarray(np.arange(6, dtype=np.int8).reshape(2, 3)))
    assert f.untyped_storage().tolist() == [0, 3, 1, 4, 2, 5]
    assert f.t().untyped_storage() is f.untyped_storage() and f.t().storage_offset() == 0
    # an array over a buffer with gaps: the storage is the span it covers
    buf = bytearray(range(16))
    g = tg.from_numpy(np.ndarray((2,), np.float32, buffer=buf, strides=(8,)))
    s = g.untyped_storage()
    assert s.nbytes() == 12 and s.tolist() == list(range(12)) and s.data_ptr() == g.data_ptr()
    y = tg.empty(0).set_(s, 2, (1,))
    assert host(y).tobytes() == bytes(range(8, 12)) and y.untyped_storage() is s


def test_sparse_tensors_have_no_storage():
    sp = tg.zeros(3).to_sparse()
    with pytest.raises(NotImplementedError, match="untyped_storage"):
        sp.untyped_storage()
    with pytest.raises(NotImplementedError):
        torch.zeros(3).to_sparse().untyped_storage()


def test_names():
    for name in ("UntypedStorage", "TypedStorage", "FloatStorage", "DoubleStorage",
                 "HalfStorage", "LongStorage", "IntStorage", "ShortStorage", "CharStorage",
                 "ByteStorage", "BoolStorage", "ComplexFloatStorage", "ComplexDoubleStorage",
                 "BFloat16Storage"):
        assert hasattr(S, name) and hasattr(torch, name)
    assert set(S.__all__) <= set(torch.__all__)
    assert repr(S.FloatStorage) == "<class 'tensorgrad.FloatStorage'>"
    assert repr(tg.cuda.IntStorage) == "<class 'tensorgrad.cuda.IntStorage'>"
    assert tg.cuda.IntStorage.dtype == tg.int32 and hasattr(torch.cuda, "IntStorage")
    for name in ("untyped_storage", "storage", "storage_type", "set_"):
        assert callable(getattr(tg.Tensor, name)) and hasattr(torch.Tensor, name)


def test_storage_offset_of_a_view_of_shared_or_borrowed_memory_equals_torch():
    # the .base chain ends in a buffer (shared memory, bytes): the offset is from the array
    # over it (it read 0)
    torch = torch_oracle()
    shared = tg.arange(4.0).share_memory_()
    assert shared[2:].storage_offset() == torch.arange(4.0).share_memory_()[2:].storage_offset()
    assert shared[2:].storage_offset() == 2
    buf = bytearray(np.arange(4.0).tobytes())
    assert tg.frombuffer(buf, dtype=tg.float64)[1:].storage_offset() == 1
    view = shared[2:]
    assert view.data_ptr() == view.untyped_storage().data_ptr() + 2 * view.element_size()


def test_set_with_a_tensor_source_offset_and_size_shares_its_memory():
    torch = torch_oracle()
    res = []
    for L in (tg, torch):
        src = L.arange(6.0)
        t = L.zeros(0).set_(src, 1, (2, 2))
        src[1] = 10.0
        t[1, 1] = -1.0
        res.append((t.tolist(), src.tolist()))
    assert res[0] == res[1] == ([[10.0, 2.0], [3.0, -1.0]], [0.0, 10.0, 2.0, 3.0, -1.0, 5.0])
    strided = tg.zeros(0).set_(tg.arange(6.0), 1, (2,), (2,))
    assert strided.tolist() == [1.0, 3.0]


def test_set_refuses_a_source_of_another_dtype():
    with pytest.raises(RuntimeError, match=r"set_\(\).*float32.*int64"):
        tg.zeros(0).set_(tg.arange(6))
