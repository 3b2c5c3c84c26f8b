"""tg.masked.MaskedTensor against torch.masked.MaskedTensor (PyTorch's prototype): construction
and its errors, attributes and repr, every unary, binary and reduction op PyTorch's MaskedTensor
supports (as tg functions and as methods: values, masks, dtypes, gradients at the masked-in
elements), softmax family, where, views and indexing; masks that differ raise; masked-out
inf/nan/0 never reach a gradient (reverse and forward mode); second-order finite differences
of compositions in both modes; every test on every device."""

import math

import numpy as np
import pytest
from devices import host, on, put, tensor_on, torch_oracle

import tensorgrad as tg
from tensorgrad.masked import MaskedTensor, as_masked_tensor, is_masked_tensor, masked_tensor

torch = torch_oracle()
TMT = torch.masked

pytestmark = [
    pytest.mark.filterwarnings("ignore:The PyTorch API of MaskedTensors is in prototype"),
    pytest.mark.filterwarnings("ignore:It is not recommended to create a MaskedTensor"),
    pytest.mark.filterwarnings("ignore:.* is not implemented in __torch_dispatch__ for "
                               "MaskedTensor"),  # PyTorch's, before the TypeError tested for
]

_rng = np.random.default_rng(0)
# masked-in values inside every unary function's domain; row 1 and column 3 fully masked out
MASK = _rng.random((3, 4)) < 0.7
MASK[1, :] = False
MASK[:, 3] = False
MASK[0, 0] = MASK[2, 0] = MASK[2, 1] = True
CLEAN = _rng.uniform(0.1, 0.9, (3, 4))
OTHER = _rng.uniform(0.1, 0.9, (3, 4))
# the same masked-in values; masked-out ones that poison any rule they reach
POISON = CLEAN.copy()
_bad = np.array([0.0, -1.0, np.inf, np.nan, -np.inf, 0.0])
POISON[~MASK] = _bad[np.arange((~MASK).sum()) % len(_bad)]
INTS = _rng.integers(0, 8, (3, 4))

UNARY = {  # name: extra positional arguments
    "abs": (), "absolute": (), "acos": (), "arccos": (), "acosh": (), "arccosh": (),
    "angle": (), "asin": (), "arcsin": (), "asinh": (), "arcsinh": (), "atan": (),
    "arctan": (), "atanh": (), "arctanh": (), "ceil": (), "clamp": (0.3, 0.6),
    "clip": (0.3, 0.6), "conj_physical": (), "cos": (), "cosh": (), "deg2rad": (),
    "digamma": (), "erf": (), "erfc": (), "erfinv": (), "exp": (), "exp2": (), "expm1": (),
    "fix": (), "floor": (), "frac": (), "lgamma": (), "log": (), "log10": (), "log1p": (),
    "log2": (), "logit": (), "i0": (), "isnan": (), "nan_to_num": (), "neg": (),
    "negative": (), "positive": (), "pow": (3,), "rad2deg": (), "reciprocal": (), "round": (),
    "rsqrt": (), "sigmoid": (), "sign": (), "sgn": (), "signbit": (), "sin": (), "sinc": (),
    "sinh": (), "sqrt": (), "square": (), "tan": (), "tanh": (), "trunc": (),
}
NO_DERIVATIVE = {"ceil", "fix", "floor", "isnan", "round", "sign", "sgn", "signbit", "trunc",
                 "angle"}  # angle of real input: constant (tensorgrad records no history)
# PyTorch's MaskedTensor computes these but has no rule for their backward (it raises)
TORCH_NO_BACKWARD = {"atanh", "arctanh", "clamp", "clip", "digamma", "i0", "logit", "sigmoid",
                     "sinc", "tanh", "atan2", "arctan2", "fmod", "logaddexp2", "remainder",
                     "maximum", "minimum", "fmax", "fmin"}
# torch.<name>(tensor, number) is refused by PyTorch itself (the other must be a Tensor)
SCALAR_REFUSED = {"atan2", "arctan2", "logaddexp", "logaddexp2", "nextafter", "maximum",
                  "minimum", "fmax", "fmin"}
BINARY_FLOAT = ["add", "atan2", "arctan2", "div", "divide", "floor_divide", "fmod",
                "logaddexp", "logaddexp2", "mul", "multiply", "nextafter", "remainder", "sub",
                "subtract", "true_divide", "eq", "ne", "le", "ge", "greater", "greater_equal",
                "gt", "less_equal", "lt", "less", "maximum", "minimum", "fmax", "fmin",
                "not_equal"]
BINARY_INT = ["bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_left_shift",
              "bitwise_right_shift"]
BINARY_DIFF = ["add", "atan2", "arctan2", "div", "divide", "fmod", "logaddexp", "logaddexp2",
               "mul", "multiply", "remainder", "sub", "subtract", "true_divide", "maximum",
               "minimum", "fmax", "fmin"]
REDUCTIONS = ["sum", "mean", "amin", "amax", "argmin", "argmax", "prod", "all", "var", "std"]
DIMS = [(), (0,), (1,), (-1, True), ((0, 1),), ((0, 1), True)]


# ---- helpers ----------------------------------------------------------------------------------
def ours(data, device, mask=MASK, requires_grad=False):
    return masked_tensor(tensor_on(data, device), tensor_on(mask, device), requires_grad)


def theirs(data, mask=MASK, requires_grad=False):
    return TMT.masked_tensor(torch.tensor(data), torch.tensor(mask), requires_grad)


def shift(name, data):
    """acosh's domain starts at 1."""
    return data + 1.0 if name in ("acosh", "arccosh") else data


def assert_same(got, want, device, everywhere=True):
    """Same mask, dtype and shape; same data at the masked-in elements (``everywhere``: at the
    masked-out ones too, nan equal to nan)."""
    assert isinstance(got, MaskedTensor) and is_masked_tensor(got)
    assert on(got.get_data(), device) and on(got.get_mask(), device)
    mask = want.get_mask().numpy()
    np.testing.assert_array_equal(host(got.get_mask()), mask)
    gd, wd = host(got.get_data()), want.get_data().detach().numpy()
    assert gd.shape == wd.shape and gd.dtype == wd.dtype, (gd.shape, gd.dtype, wd.dtype)
    if not everywhere:
        gd, wd = gd[mask], wd[mask]
    if wd.dtype.kind == "f":
        np.testing.assert_allclose(gd, wd, rtol=1e-11, atol=1e-12, equal_nan=True)
    else:
        np.testing.assert_array_equal(gd, wd)


def assert_same_grad(got_leaf, want_leaf, device):
    """The leaf gradients: MaskedTensors of the leaf's mask, equal to PyTorch's at the
    masked-in elements (its masked-out data is unspecified), finite and 0 at ours."""
    g = got_leaf.grad
    assert isinstance(g, MaskedTensor)
    assert_same(g, want_leaf.grad, device, everywhere=False)
    gd = host(g.get_data())
    mask = host(got_leaf.get_mask())
    assert np.isfinite(gd).all() and (gd[~mask] == 0).all()


def assert_grad_is(got_leaf, want, finite_only=False, rtol=1e-11):
    """Our leaf's gradient (a MaskedTensor of its mask) equals the NumPy ``want`` at the
    masked-in elements (``finite_only``: where ``want`` is finite) and is 0 at the others."""
    g = got_leaf.grad
    assert isinstance(g, MaskedTensor)
    mask = host(got_leaf.get_mask())
    np.testing.assert_array_equal(host(g.get_mask()), mask)
    gd = host(g.get_data())
    keep = mask & np.isfinite(want) if finite_only else mask
    np.testing.assert_allclose(gd[keep], want[keep], rtol=rtol, atol=1e-12)
    assert np.isfinite(gd).all() and (gd[~mask] == 0).all()


def plain_torch_grads(fn, arrays, out_mask):
    """PyTorch's gradients of ``sum(fn(*xs) * w)`` over the masked-in output elements
    (``out_mask``), computed on plain tensors: the reference where PyTorch's MaskedTensor has no
    backward rule (its tanh, sigmoid, clamp, atan2, maximum, unsqueeze, ... raise)."""
    xs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*xs)
    w = torch.tensor(weights(tuple(out.shape)))
    torch.where(torch.as_tensor(out_mask), out * w, 0.0).sum().backward()
    return [x.grad.numpy() for x in xs]


def torch_masked_backward(out):
    """PyTorch's MaskedTensor backward of ``sum(out * w)``; False where it has no rule."""
    try:
        backward_weighted(out, "cpu")
    except (TypeError, ValueError, RecursionError):  # no rule; kwargs; where's own recursion
        return False
    return True


def weights(shape):
    return np.random.default_rng(1).standard_normal(shape)


def backward_weighted(out, device):
    """``(out * w).sum().backward()`` for a random ``w`` of the output's shape."""
    w = weights(tuple(out.shape))
    if isinstance(out, MaskedTensor):
        (out * tensor_on(w, device)).sum().backward()
    else:
        (out * torch.tensor(w)).sum().backward()


# ---- construction -----------------------------------------------------------------------------
def test_construction_copies_and_makes_a_leaf(device):
    data, mask = tensor_on(CLEAN, device), tensor_on(MASK, device)
    mt = masked_tensor(data, mask, requires_grad=True)
    assert mt.requires_grad and mt.is_leaf and mt.grad is None and mt.grad_fn is None
    data.data[...] = 0  # a copy: the source changes, the MaskedTensor does not
    np.testing.assert_array_equal(host(mt.get_data()), CLEAN)
    np.testing.assert_array_equal(host(mt.get_mask()), MASK)
    assert MaskedTensor(tensor_on(CLEAN, device), mask).requires_grad is False
    assert is_masked_tensor(mt) and not is_masked_tensor(data) and not is_masked_tensor(3)


def test_attributes_as_torchs(device):
    mt, tm = ours(CLEAN, device), theirs(CLEAN)
    assert tuple(mt.shape) == tuple(tm.shape) and mt.ndim == tm.ndim == mt.dim()
    assert tuple(mt.size()) == tuple(tm.size()) and mt.size(1) == tm.size(1)
    assert mt.numel() == tm.numel() and len(mt) == len(tm)
    assert mt.dtype == np.float64 and str(mt.device) == str(tg.device(device))
    assert not mt.is_sparse
    rows = list(mt)  # PyTorch's iteration fails (no unbind rule): its rows by index
    assert len(rows) == 3
    for i, row in enumerate(rows):
        assert_same(row, tm[i], device)


def test_as_masked_tensor_keeps_history(device):
    x = tensor_on(POISON, device, requires_grad=True)
    mt = as_masked_tensor(x, tensor_on(MASK, device))
    assert mt.requires_grad and not mt.is_leaf
    tg.sqrt(mt).sum().backward()
    g = host(x.grad)  # a plain Tensor gradient (torch's is a MaskedTensor), 0 where masked out
    np.testing.assert_allclose(g[MASK], 0.5 / np.sqrt(CLEAN[MASK]), rtol=1e-12)
    assert (g[~MASK] == 0).all()


@pytest.mark.parametrize("case", ["data_list", "mask_list", "mask_int", "mask_ndim",
                                  "mask_shape", "data_complex", "data_uint8", "mask_masked"])
def test_construction_errors_as_torchs(case, device):
    d, m = CLEAN, MASK
    bad = {
        "data_list": (lambda t: [1.0], lambda t: t(m)),
        "mask_list": (lambda t: t(d), lambda t: [True]),
        "mask_int": (lambda t: t(d), lambda t: t(m.astype(np.int64))),
        "mask_ndim": (lambda t: t(d), lambda t: t(m.reshape(-1))),
        "mask_shape": (lambda t: t(d), lambda t: t(m[:2])),
        "data_complex": (lambda t: t(d.astype(complex)), lambda t: t(m)),
        "data_uint8": (lambda t: t(d.astype(np.uint8)), lambda t: t(m)),
        "mask_masked": (lambda t: t(d), None),
    }[case]
    mk_data, mk_mask = bad

    def tg_t(a):
        return tensor_on(a, device)

    if case == "mask_masked":
        want_err = pytest.raises(TypeError)
        with want_err:
            TMT.masked_tensor(torch.tensor(d), theirs(d))
        with pytest.raises(TypeError, match="mask must be a Tensor, got a MaskedTensor"):
            masked_tensor(tg_t(d), ours(d, device))
        return
    with pytest.raises(Exception) as theirs_err:
        TMT.masked_tensor(mk_data(torch.tensor), mk_mask(torch.tensor))
    with pytest.raises(theirs_err.type, match=r"masked_tensor\(\)") as ours_err:
        masked_tensor(mk_data(tg_t), mk_mask(tg_t))
    if case in ("mask_ndim", "mask_shape"):  # the message names both shapes
        assert "(3, 4)" in str(ours_err.value)


@pytest.mark.cuda
def test_data_and_mask_on_two_devices_raise():
    with pytest.raises(RuntimeError, match="data is on cuda.* but mask on cpu"):
        masked_tensor(tensor_on(CLEAN, "cuda"), tg.tensor(MASK))


# ---- repr -------------------------------------------------------------------------------------
@pytest.mark.parametrize("data, mask", [
    (CLEAN, MASK),
    (CLEAN[0].astype(np.float32) * 100, MASK[0]),
    (INTS[2], MASK[2]),
    (INTS[0] > 3, MASK[0]),
    (np.arange(12.0).reshape(2, 3, 2) - 5, np.arange(12).reshape(2, 3, 2) % 3 > 0),
    (np.array(2.5), np.array(True)),
    (np.array(2.5), np.array(False)),
    (np.array(7), np.array(True)),
], ids=["2d", "1d_f32", "1d_int", "1d_bool", "3d", "0d", "0d_masked", "0d_int"])
def test_repr_is_torchs(data, mask, device):
    assert repr(ours(data, device, mask)) == repr(theirs(data, mask))
    assert str(ours(data, device, mask)) == repr(theirs(data, mask))


# ---- unary ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_values_and_gradients_equal_torchs(name, device):
    args = UNARY[name]
    data = shift(name, CLEAN)
    mt, tm = ours(data, device, requires_grad=True), theirs(data, requires_grad=True)
    want = getattr(torch, name)(tm, *args)
    assert_same(getattr(tg, name)(mt, *args), want, device)
    assert_same(getattr(mt, name)(*args), want, device)
    if name in NO_DERIVATIVE:
        assert not getattr(tg, name)(mt, *args).requires_grad
        return
    backward_weighted(getattr(tg, name)(mt, *args), device)
    (ref,) = plain_torch_grads(lambda x: getattr(torch, name)(x, *args), [data], MASK)
    # digamma's derivative: tensorgrad's trigamma series agrees with PyTorch's to ~1e-9
    assert_grad_is(mt, ref, rtol=1e-8 if name == "digamma" else 1e-11)
    assert torch_masked_backward(want) == (name not in TORCH_NO_BACKWARD)
    if name not in TORCH_NO_BACKWARD:
        assert_same_grad(mt, tm, device)


def test_bitwise_not_and_int_data(device):
    for data in (INTS, INTS > 3):
        mt, tm = ours(data, device), theirs(data)
        assert_same(tg.bitwise_not(mt), torch.bitwise_not(tm), device)
        assert_same(~mt, ~tm, device)
        assert_same(abs(-mt) if data.dtype != bool else mt, abs(-tm) if data.dtype != bool
                    else tm, device)


@pytest.mark.parametrize("name", sorted(n for n in UNARY if n not in NO_DERIVATIVE))
def test_unary_masked_out_poison_reaches_no_gradient(name, device):
    """log/sqrt/rsqrt of a masked-out 0, acos of a masked-out inf, ...: PyTorch's gradient is
    inf or nan there; ours is 0, and the masked-in gradient is the clean input's."""
    args = UNARY[name]
    poisoned = ours(shift(name, POISON), device, requires_grad=True)
    clean = ours(shift(name, CLEAN), device, requires_grad=True)
    out = getattr(tg, name)(poisoned, *args)
    ref = getattr(tg, name)(clean, *args)
    np.testing.assert_array_equal(host(out.get_data())[MASK], host(ref.get_data())[MASK])
    backward_weighted(out, device)
    backward_weighted(ref, device)
    g = host(poisoned.grad.get_data())
    assert np.isfinite(g).all() and (g[~MASK] == 0).all()
    np.testing.assert_array_equal(g, host(clean.grad.get_data()))


def test_unary_refuses_tensor_arguments_as_torch(device):
    mt, tm = ours(CLEAN, device), theirs(CLEAN)
    with pytest.raises(TypeError):
        torch.clamp(tm, torch.tensor(0.2))
    with pytest.raises(TypeError, match=r"clamp\(\): MaskedTensor unary ops take no Tensor"):
        tg.clamp(mt, tensor_on(np.array(0.2), device))
    assert_same(tg.clamp(mt, min=0.3), torch.clamp(tm, min=0.3), device)


# ---- binary -----------------------------------------------------------------------------------
def _binary_operands(name, device):
    if name in BINARY_INT:
        a, b = INTS, INTS[::-1] % 4
    else:
        a, b = CLEAN, OTHER
    return a, b


@pytest.mark.parametrize("kind", ["masked", "scalar", "tensor"])
@pytest.mark.parametrize("name", BINARY_FLOAT + BINARY_INT)
def test_binary_values_equal_torchs(name, kind, device):
    a, b = _binary_operands(name, device)
    mt, tm = ours(a, device), theirs(a)
    if kind == "masked":
        other, t_other = ours(b, device), theirs(b)
    elif kind == "scalar":
        other = t_other = 2 if name in BINARY_INT else 0.4
        if name in SCALAR_REFUSED:
            with pytest.raises(TypeError):
                getattr(torch, name)(tm, t_other)
            return
    else:
        other, t_other = tensor_on(b, device), torch.tensor(b)
    want = getattr(torch, name)(tm, t_other)
    assert_same(getattr(tg, name)(mt, other), want, device)
    assert_same(getattr(mt, name)(other), want, device)
    if kind == "masked":
        assert_same(getattr(tg, name)(other, mt), getattr(torch, name)(t_other, tm), device)


@pytest.mark.parametrize("name", BINARY_DIFF)
def test_binary_gradients_equal_torchs(name, device):
    x, y = ours(CLEAN, device, requires_grad=True), ours(OTHER, device, requires_grad=True)
    tx, ty = theirs(CLEAN, requires_grad=True), theirs(OTHER, requires_grad=True)
    backward_weighted(getattr(tg, name)(x, y), device)
    refs = plain_torch_grads(getattr(torch, name), [CLEAN, OTHER], MASK)
    assert_grad_is(x, refs[0])
    assert_grad_is(y, refs[1])
    assert torch_masked_backward(getattr(torch, name)(tx, ty)) == (name not in TORCH_NO_BACKWARD)
    if name not in TORCH_NO_BACKWARD:
        assert_same_grad(x, tx, device)
        assert_same_grad(y, ty, device)


@pytest.mark.parametrize("name", BINARY_DIFF)
def test_binary_masked_out_poison_reaches_no_gradient(name, device):
    px, py = ours(POISON, device, requires_grad=True), ours(POISON[::-1], device,
                                                           requires_grad=True)
    py = ours(np.where(MASK, OTHER, POISON[::-1]), device, requires_grad=True)
    cx, cy = ours(CLEAN, device, requires_grad=True), ours(OTHER, device, requires_grad=True)
    backward_weighted(getattr(tg, name)(px, py), device)
    backward_weighted(getattr(tg, name)(cx, cy), device)
    for p, c in ((px, cx), (py, cy)):
        g = host(p.grad.get_data())
        assert np.isfinite(g).all() and (g[~MASK] == 0).all(), name
        np.testing.assert_array_equal(g, host(c.grad.get_data()))


def test_a_plain_tensor_operand_broadcasts_and_its_gradient_is_safe(device):
    """A (4,) plain operand against a (3, 4) MaskedTensor: the mask covers the result; the plain
    operand's gradient sums the masked-in elements only (a masked-out 0 divisor gives none)."""
    denom = np.array([0.5, 0.25, 2.0, 0.0])  # column 3 is masked out everywhere
    mt = ours(CLEAN, device, requires_grad=True)
    d = tensor_on(denom, device, requires_grad=True)
    out, want = mt / d, theirs(CLEAN) / torch.tensor(denom)
    assert_same(out, want, device)
    backward_weighted(out, device)
    ref_x, ref_d = plain_torch_grads(lambda a, b: a / b, [CLEAN, denom], MASK)
    assert_grad_is(mt, ref_x)
    g = host(d.grad)  # PyTorch's MaskedTensor gives this plain leaf a MaskedTensor gradient
    assert np.isfinite(g).all() and g[3] == 0
    np.testing.assert_allclose(g[:3], ref_d[:3], rtol=1e-12)  # PyTorch's g[3]: nan (0 / 0)
    small = masked_tensor(tensor_on(CLEAN[0], device), tensor_on(MASK[0], device))
    big = small + tensor_on(OTHER, device)  # the MaskedTensor broadcasts up: its mask too
    assert_same(big, TMT.masked_tensor(torch.tensor(CLEAN[0]), torch.tensor(MASK[0])) +
                torch.tensor(OTHER), device)


def test_a_plain_tensor_on_the_left_gives_a_masked_tensor_as_torchs(device):
    """``tensor <op> masked``: the Tensor's operator defers to the MaskedTensor's reflected
    one (NumPy's ``__array_ufunc__ = None`` protocol), as PyTorch's gives a MaskedTensor."""
    mt, tm = ours(CLEAN, device, requires_grad=True), theirs(CLEAN)
    t, tt = tensor_on(OTHER, device), torch.tensor(OTHER)
    for out, want in ((t + mt, tt + tm), (t - mt, tt - tm), (t * mt, tt * tm),
                      (t / mt, tt / tm)):
        assert isinstance(out, MaskedTensor)
        assert_same(out, want, device)
    backward_weighted(t * mt, device)
    assert_grad_is(mt, plain_torch_grads(lambda a, b: b * a, [CLEAN, OTHER], MASK)[0])
    with pytest.raises(TypeError, match="add"):  # the functions keep tensorgrad's error
        tg.add(tg.ones(2), object())


def test_operators_equal_torchs(device):
    mt, tm = ours(CLEAN, device), theirs(CLEAN)
    mo, to = ours(OTHER, device), theirs(OTHER)
    pairs = [
        (mt + mo, tm + to), (mt - mo, tm - to), (mt * mo, tm * to), (mt / mo, tm / to),
        (mt // mo, tm // to), (mt % mo, tm % to), (mt ** 2, tm ** 2), (mt ** 0.5, tm ** 0.5),
        (mt + 1.5, tm + 1.5), (1.5 + mt, 1.5 + tm), (2.0 * mt, 2.0 * tm), (2.0 / mt, 2.0 / tm),
        (np.float64(3.0) * mt, np.float64(3.0) * tm), (-mt, -tm), (abs(-mt), abs(-tm)),
        (mt < mo, tm < to), (mt <= 0.5, tm <= 0.5), (mt > mo, tm > to), (mt >= 0.5, tm >= 0.5),
        (mt == mt, tm == tm), (mt != mo, tm != to), (mt + tensor_on(OTHER, device),
                                                     tm + torch.tensor(OTHER)),
        ((mt > 0.3) & (mt < 0.7), (tm > 0.3) & (tm < 0.7)),
        ((mt > 0.3) | (mt < 0.2), (tm > 0.3) | (tm < 0.2)), ((mt > 0.3) ^ True, (tm > 0.3) ^ True),
    ]
    for got, want in pairs:
        assert_same(got, want, device)
    # PyTorch's MaskedTensor lacks the reflected -, ** and // (no aten rule): ours equal the
    # plain computation
    for got, want in [(2.0 - mt, 2.0 - CLEAN), (2.0 ** mt, 2.0 ** CLEAN),
                      (1.0 // mt, 1.0 // CLEAN), (1.0 % mt, np.mod(1.0, CLEAN))]:
        np.testing.assert_allclose(host(got.get_data()), want, rtol=1e-12)
        np.testing.assert_array_equal(host(got.get_mask()), MASK)


def test_different_masks_raise_as_torch(device):
    other = ~MASK
    with pytest.raises(ValueError, match="masks must match"):
        theirs(CLEAN) + theirs(OTHER, other)
    mt = ours(CLEAN, device)
    for fn in (lambda a, b: a + b, tg.mul, tg.maximum, lambda a, b: a < b):
        with pytest.raises(ValueError, match=r"\(\): the masks of the two MaskedTensors must "
                                             r"match \(masks of shapes \(3, 4\) and \(3, 4\)\)"):
            fn(mt, ours(OTHER, device, other))
    with pytest.raises(ValueError, match=r"masks of shapes \(3, 4\) and \(4,\)"):
        mt + masked_tensor(tensor_on(OTHER[0], device), tensor_on(MASK[0], device))
    # equal masks of different objects are fine (one comparison)
    assert_same(mt + ours(OTHER, device, MASK.copy()), theirs(CLEAN) + theirs(OTHER), device)


def test_binary_keywords_raise_as_torch(device):
    with pytest.raises(ValueError):
        torch.add(theirs(CLEAN), theirs(OTHER), alpha=2)
    with pytest.raises(ValueError, match=r"add\(\): MaskedTensor binary ops take no keyword"):
        tg.add(ours(CLEAN, device), ours(OTHER, device), alpha=2)


# ---- reductions -------------------------------------------------------------------------------
def _reduce_args(dims):
    """(positional, keywords) of a reduction's call: ``dims`` is () (all), (dim,) or
    (dim, keepdim)."""
    if len(dims) == 2:
        return (dims[0],), {"keepdim": dims[1]}
    return dims, {}


@pytest.mark.parametrize("dims", DIMS, ids=str)
@pytest.mark.parametrize("name", REDUCTIONS)
def test_reductions_equal_torchs(name, dims, device):
    if name in ("argmin", "argmax", "prod") and dims and isinstance(dims[0], tuple):
        with pytest.raises(TypeError):  # one dim only in PyTorch's; ours: tg.masked's rule
            getattr(theirs(CLEAN), name)(*_reduce_args(dims)[0])
        if name == "prod":
            got = ours(CLEAN, device).prod(*_reduce_args(dims)[0], **_reduce_args(dims)[1])
            np.testing.assert_allclose(host(got.get_data()), np.prod(CLEAN, where=MASK))
            assert host(got.get_mask()).all()
        return
    data = CLEAN > 0.5 if name == "all" else CLEAN
    args, kw = _reduce_args(dims)
    grads = name not in ("argmin", "argmax", "all")
    mt, tm = ours(data, device, requires_grad=grads), theirs(data, requires_grad=grads)
    want = getattr(tm, name)(*args, **kw)
    got = getattr(mt, name)(*args, **kw)
    assert_same(got, want, device)
    assert_same(getattr(tg, name)(mt, *args, **kw), want, device)
    if grads:
        backward_weighted(got, device)
        # var/std of a slice of one element (correction 1): nan, whose gradient PyTorch gives
        # as nan and tg.masked as 0
        (ref,) = plain_torch_grads(
            lambda x: getattr(TMT, name)(x, *args, mask=torch.tensor(MASK), **kw), [data],
            want.get_mask())
        assert_grad_is(mt, ref, finite_only=name in ("var", "std"))
        backward_weighted(want, device)
        assert_grad_is(mt, tm.grad.get_data().numpy(), finite_only=name in ("var", "std"))


@pytest.mark.parametrize("dims", DIMS, ids=str)
@pytest.mark.parametrize("p", [2.0, 1.0, math.inf, "fro"])
def test_norm_equals_torch_masked_norm(p, dims, device):
    """PyTorch's MaskedTensor.norm fails (its reduction passes ``p`` to a signature without it):
    compared with torch.masked.norm of data and mask, and the mask of its output."""
    args, kw = _reduce_args(dims)
    dim = args[0] if args else None
    keepdim = kw.get("keepdim", False)
    mt = ours(CLEAN, device, requires_grad=True)
    got = mt.norm(p, dim, keepdim)
    x = torch.tensor(CLEAN, requires_grad=True)
    tp = 2.0 if p == "fro" else p
    want_data = TMT.norm(x, tp, dim, keepdim=keepdim, mask=torch.tensor(MASK))
    want_mask = TMT._output_mask(TMT.norm, x, tp, dim, keepdim=keepdim, mask=torch.tensor(MASK))
    want = TMT.masked_tensor(want_data.detach(), want_mask)
    assert_same(got, want, device)
    assert_same(tg.norm(mt, p, dim, keepdim), want, device)
    w = weights(tuple(want_data.shape))
    (got * tensor_on(w, device)).sum().backward()
    torch.where(want_mask, want_data * torch.tensor(w), 0.0).sum().backward()
    g = host(mt.grad.get_data())
    np.testing.assert_allclose(g[MASK], x.grad.numpy()[MASK], rtol=1e-11, atol=1e-12)
    assert (g[~MASK] == 0).all()


def test_reduction_keywords_and_errors(device):
    mt = ours(CLEAN, device)
    assert_same(mt.sum(dim=1, keepdim=True, dtype=tg.float32),
                theirs(CLEAN).sum(dim=1, keepdim=True, dtype=torch.float32), device)
    # beyond PyTorch's MaskedTensor (its var takes no unbiased/correction): tg.masked's
    got = mt.var(1, unbiased=False)
    np.testing.assert_allclose(host(got.get_data()),
                               host(tg.masked.var(mt.get_data(), 1, False, mask=mt.get_mask())))
    ints = ours(INTS, device)
    with pytest.raises(ValueError, match="Could not infer output dtype"):
        theirs(INTS).mean()
    with pytest.raises(ValueError, match="Could not infer output dtype"):
        ints.mean()
    assert_same(ints.sum(1), theirs(INTS).sum(1), device)
    with pytest.raises(IndexError, match="dim 2 out of range"):
        mt.sum(2)
    with pytest.raises(ValueError, match="vector norms only"):
        mt.norm("nuc")


def test_reductions_of_poisoned_data_give_finite_gradients(device):
    for name in ("sum", "mean", "amax", "amin", "prod", "var", "std"):
        p = ours(POISON, device, requires_grad=True)
        c = ours(CLEAN, device, requires_grad=True)
        out, ref = getattr(p, name)(1), getattr(c, name)(1)
        np.testing.assert_array_equal(host(out.to_tensor(0.0)), host(ref.to_tensor(0.0)))
        out.to_tensor(0.0).sum().backward()  # the fully masked-out row's nan stays out
        ref.to_tensor(0.0).sum().backward()
        g = host(p.grad.get_data())
        assert np.isfinite(g).all() and (g[~MASK] == 0).all(), name
        np.testing.assert_array_equal(g, host(c.grad.get_data()))


# ---- softmax family ---------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("name", ["softmax", "softmin", "log_softmax"])
def test_softmax_family_equals_torchs(name, dim, device):
    mt = ours(POISON, device, requires_grad=True)
    x = torch.tensor(CLEAN, requires_grad=True)
    tmask = torch.tensor(MASK)
    # PyTorch's MaskedTensor has softmax (and softmin through neg), not log_softmax: the
    # reference is torch.masked's function of data and mask, which its softmax equals
    want_data = getattr(TMT, name)(x, dim, mask=tmask)
    want = TMT.masked_tensor(want_data.detach(), tmask)
    if name != "log_softmax":
        fn = torch.softmax if name == "softmax" else torch.nn.functional.softmin
        from_mt = fn(theirs(CLEAN), dim)
        np.testing.assert_array_equal(from_mt.get_mask().numpy(), MASK)
        np.testing.assert_allclose(from_mt.get_data().numpy()[MASK],
                                   want_data.detach().numpy()[MASK], rtol=1e-12)
    results = [getattr(mt, name)(dim), getattr(tg.nn.functional, name)(mt, dim)]
    if hasattr(tg, name):
        results.append(getattr(tg, name)(mt, dim))
    for got in results:
        assert_same(got, want, device)  # masked-out elements: 0 (log_softmax: -inf), as torch's
    w = weights(X_SHAPE)
    (results[0] * tensor_on(w, device)).sum().backward()
    torch.where(tmask, want_data * torch.tensor(w), 0.0).sum().backward()
    g = host(mt.grad.get_data())
    np.testing.assert_allclose(g[MASK], x.grad.numpy()[MASK], rtol=1e-11, atol=1e-12)
    assert np.isfinite(g).all() and (g[~MASK] == 0).all()


X_SHAPE = CLEAN.shape


def test_softmax_gradient_equals_torchs_masked_tensor(device):
    mt, tm = ours(CLEAN, device, requires_grad=True), theirs(CLEAN, requires_grad=True)
    backward_weighted(tg.softmax(mt, 1), device)
    backward_weighted(torch.softmax(tm, 1), device)
    assert_same_grad(mt, tm, device)


# ---- where ------------------------------------------------------------------------------------
def test_where_selects_data_and_masks_as_torch(device):
    cond = CLEAN > OTHER
    other_mask = np.roll(MASK, 1, axis=1)
    a = ours(CLEAN, device, requires_grad=True)
    b = ours(OTHER, device, other_mask, requires_grad=True)
    ta, tb = theirs(CLEAN), theirs(OTHER, other_mask)
    got = tg.where(tensor_on(cond, device), a, b)
    assert_same(got, torch.where(torch.tensor(cond), ta, tb), device)
    assert_same(a.where(tensor_on(cond, device), b), torch.where(torch.tensor(cond), ta, tb),
                device)
    # a plain tensor counts as all masked in
    assert_same(tg.where(tensor_on(cond, device), a, tensor_on(OTHER, device)),
                torch.where(torch.tensor(cond), ta, torch.tensor(OTHER)), device)
    w = weights(X_SHAPE)
    (got * tensor_on(w, device)).sum().backward()
    in_a, in_b = cond & MASK, ~cond & other_mask
    np.testing.assert_allclose(host(a.grad.get_data()), np.where(in_a, w, 0.0))
    np.testing.assert_allclose(host(b.grad.get_data()), np.where(in_b, w, 0.0))
    with pytest.raises(TypeError, match="condition must be a bool Tensor, not a MaskedTensor"):
        tg.where(a > 0.5, a, a)


# ---- views and indexing -----------------------------------------------------------------------
VIEWS = [
    ("transpose", lambda t: t.transpose(0, 1)), ("t", lambda t: t.t()),
    ("reshape", lambda t: t.reshape(2, 6)), ("view", lambda t: t.view(-1)),
    ("flatten", lambda t: t.flatten()), ("unsqueeze", lambda t: t.unsqueeze(1)),
    ("expand", lambda t: t.unsqueeze(0).expand(2, 3, 4)), ("int", lambda t: t[1]),
    ("slice", lambda t: t[:, 1:3]), ("step", lambda t: t[::2, ::-1] if False else t[::2]),
    ("none", lambda t: t[None, 0]), ("ellipsis", lambda t: t[..., 2]),
]


@pytest.mark.parametrize("name, fn", VIEWS, ids=[v[0] for v in VIEWS])
def test_views_and_indexing_equal_torchs(name, fn, device):
    mt, tm = ours(CLEAN, device, requires_grad=True), theirs(CLEAN, requires_grad=True)
    got, want = fn(mt), fn(tm)
    assert_same(got, want, device)
    backward_weighted(got, device)
    (ref,) = plain_torch_grads(fn, [CLEAN], want.get_mask())
    assert_grad_is(mt, ref)
    # PyTorch's MaskedTensor has no backward of unsqueeze/expand; its gradient through an
    # index or a slice comes back with a mask of the indexed part only: compared where it is the
    # leaf's mask, as ours always is
    if torch_masked_backward(want) and bool((tm.grad.get_mask() == torch.tensor(MASK)).all()):
        assert_same_grad(mt, tm, device)


def test_functions_of_views_and_index_tensors(device):
    mt, tm = ours(CLEAN, device), theirs(CLEAN)
    assert_same(tg.transpose(mt, 0, 1), torch.transpose(tm, 0, 1), device)
    assert_same(tg.t(mt), torch.t(tm), device)
    assert_same(tg.reshape(mt, (4, 3)), torch.reshape(tm, (4, 3)), device)
    assert_same(tg.unsqueeze(mt, 0), torch.unsqueeze(tm, 0), device)
    assert_same(tg.flatten(mt), torch.flatten(tm), device)
    idx = np.array([2, 0])
    assert_same(mt[tensor_on(idx, device)], tm[torch.tensor(idx)], device)
    rows = np.array([True, False, True])
    assert_same(mt[tensor_on(rows, device)], tm[torch.tensor(rows)], device)
    assert_same(tg.cat([mt, mt], 1), torch.cat([tm, tm], 1), device)
    assert_same(tg.stack([mt, mt]), torch.stack([tm, tm]), device)
    for g, w in zip(tg.split(mt, 2), torch.split(tm, 2)):
        assert_same(g, w, device)
    parts = mt.split([1, 3], 1)  # PyTorch's has no split_with_sizes rule
    assert [tuple(p.shape) for p in parts] == [(3, 1), (3, 3)]
    np.testing.assert_array_equal(host(parts[1].get_data()), CLEAN[:, 1:])
    np.testing.assert_array_equal(host(parts[1].get_mask()), MASK[:, 1:])
    with pytest.raises(TypeError, match="give only MaskedTensors"):
        tg.cat([mt, tensor_on(CLEAN, device)])


def test_squeeze_and_permute_beyond_torch(device):
    """PyTorch's MaskedTensor has no squeeze or permute rule; ours apply them to both."""
    mt = ours(CLEAN, device).unsqueeze(0)
    for got, fn in [(mt.squeeze(), lambda a: a.squeeze()), (mt.squeeze(0), lambda a: a[0]),
                    (mt.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1)),
                    (tg.permute(mt, (1, 2, 0)), lambda a: a.transpose(1, 2, 0))]:
        np.testing.assert_array_equal(host(got.get_data()), fn(CLEAN[None]))
        np.testing.assert_array_equal(host(got.get_mask()), fn(MASK[None]))


# ---- autograd ---------------------------------------------------------------------------------
def test_grad_is_a_masked_tensor_and_accumulates(device):
    mt, tm = ours(CLEAN, device, requires_grad=True), theirs(CLEAN, requires_grad=True)
    for _ in range(2):
        (mt * mt).sum().backward()
        (tm * tm).sum().backward()
    assert_same_grad(mt, tm, device)
    mt.grad = None
    assert mt.grad is None
    out = mt.sum(1)
    out.backward(masked_tensor(tensor_on(np.array([1.0, 5.0, 2.0]), device),
                               tensor_on(np.array([True, False, True]), device)))
    np.testing.assert_array_equal(host(mt.grad.get_data()),
                                  np.where(MASK, np.array([1.0, 0.0, 2.0])[:, None], 0.0))
    mt.grad = None
    out = mt.sum(0)
    out.backward(tensor_on(np.ones(4), device))
    np.testing.assert_array_equal(host(mt.grad.get_data()), MASK.astype(float))


def test_detach_clone_to_and_to_tensor(device):
    mt = ours(POISON, device, requires_grad=True)
    assert not mt.detach().requires_grad and mt.clone().requires_grad
    f32 = mt.detach().to(tg.float32)
    assert f32.dtype == np.float32 and on(f32.get_mask(), device)
    assert mt.double().dtype == np.float64 and mt.float().dtype == np.float32
    filled = mt.to_tensor(-1.0)
    np.testing.assert_array_equal(host(filled), np.where(MASK, CLEAN, -1.0))
    np.testing.assert_array_equal(host(filled), theirs(POISON).to_tensor(-1.0).numpy())
    filled.sum().backward()
    np.testing.assert_array_equal(host(mt.grad.get_data()), MASK.astype(float))
    assert ours(CLEAN, device).sum().item() == pytest.approx(CLEAN[MASK].sum())
    with pytest.raises(ValueError, match="masked out"):
        ours(CLEAN, device)[1, 0].item()
    if device == "cuda":
        moved = mt.detach().cpu()
        assert on(moved.get_data(), "cpu") and on(moved.get_mask(), "cpu")


# ---- derivatives to second order, both modes --------------------------------------------------
SMALL_MASK = np.array([[True, False, True, True], [False, True, True, False],
                       [True, True, False, True]])
# masked-out elements at 0 and below: log/sqrt there would poison any derivative they reached
SMALL = np.where(SMALL_MASK, np.random.default_rng(3).uniform(0.5, 1.5, (3, 4)), 0.0)
SMALL[1, 0] = -1.0


@pytest.mark.parametrize("f", [
    lambda mt: (tg.exp(mt) * mt + tg.sin(mt)).sum(1),
    lambda mt: tg.log(mt).amax(1) + tg.sqrt(mt).mean(1),
    lambda mt: tg.softmax(mt * 2.0, 1),
    lambda mt: tg.nn.functional.log_softmax(mt, 0),
    lambda mt: (mt / (mt + 2.0)).var(1),
    lambda mt: (mt ** 3).norm(2.0, 0) * tg.rsqrt(mt).prod(0),
    lambda mt: tg.atan2(mt, tg.square(mt)).t().reshape(2, 6).std(1),
    lambda mt: tg.where(tensor_on(SMALL_MASK[::-1], mt.device), tg.tanh(mt), mt * mt).sum(),
], ids=["exp_mul_sin", "log_sqrt", "softmax", "log_softmax", "div_var", "norm_rsqrt_prod",
        "atan2_view_std", "where"])
def test_compositions_to_second_order_in_both_modes(f, device):
    m = tensor_on(SMALL_MASK, device)

    def g(x):  # x: an array or a Tensor (check_grads passes both)
        return f(as_masked_tensor(x, m)).to_tensor(0.0)

    tg.check_grads(g, modes=("fwd", "rev"), order=2)(put(SMALL, device))


def test_forward_mode_tangent_is_finite_at_masked_out_poison(device):
    m = tensor_on(MASK, device)

    def f(x):
        mt = as_masked_tensor(x, m)
        return (tg.log(mt) + tg.sqrt(mt) / mt).sum(1).to_tensor(0.0)

    _, tangent = tg.func.jvp(f, (tensor_on(POISON, device),),
                             (tensor_on(np.ones(X_SHAPE), device),))
    assert np.isfinite(host(tangent)).all()


# ---- tg.<name> dispatch ----------------------------------------------------------------------
def test_functions_keep_their_plain_behaviour_and_names():
    x = tg.tensor([1.0, 4.0])
    assert tg.sqrt(x).tolist() == [1.0, 2.0] and tg.add(x, 1.0).tolist() == [2.0, 5.0]
    assert tg.exp.__name__ == "exp" and tg.exp.__module__ == "tensorgrad.torch_api"
    assert tg.absolute is tg.abs and tg.clip is tg.clamp  # aliases stay one function
    with pytest.raises(TypeError, match=r"exp\(\): argument 'input' must be a Tensor"):
        tg.exp([1.0])
    import inspect

    assert list(inspect.signature(tg.where).parameters) == ["condition", "input", "other"]
