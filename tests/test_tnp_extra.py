"""ops/extra.py through tnp: cumsum, einsum, more elementwise functions, sort, repeat, tile, roll,
pad, diff, take_along_axis, trapezoid. Derivatives against finite differences (both modes, second
order, float64), values against NumPy, gradients against PyTorch where it is installed."""

import numpy as np
import pytest
from devices import assert_matches_cpu, host, on, put

import tensorgrad as tg
import tensorgrad.numpy as tnp


def check(device, f, *args):
    """``f``'s derivatives against finite differences, with ``args`` on ``device``."""
    tg.check_grads(f, modes=("fwd", "rev"), order=2)(*put(list(args), device))


def same_values(device, f, np_f, *args):
    """``f`` on arrays on ``device`` gives arrays there equal to NumPy's (on the host
    arguments); on Tensors, Tensors there with the same values."""
    expected = np_f(*args)
    args = put(list(args), device)
    raw = f(*args)
    assert not isinstance(raw, tg.Tensor) and on(raw, device)
    np.testing.assert_allclose(host(raw), expected, rtol=1e-12, atol=1e-12)
    out = f(*[tg.tensor(a) for a in args])
    assert isinstance(out, tg.Tensor) and on(out, device)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)


# ---- elementwise ---------------------------------------------------------------------------
def _in(lo, hi):
    return lambda rng, shape: rng.uniform(lo, hi, shape)


UNARY = [
    ("arcsin", _in(-0.8, 0.8)), ("arccos", _in(-0.8, 0.8)), ("arctan", _in(-2, 2)),
    ("sinh", _in(-2, 2)), ("cosh", _in(-2, 2)), ("arcsinh", _in(-2, 2)),
    ("arccosh", _in(1.2, 3)), ("arctanh", _in(-0.8, 0.8)), ("log2", _in(0.5, 2)),
    ("log10", _in(0.5, 2)), ("exp2", _in(-2, 2)), ("reciprocal", _in(0.5, 2)),
    ("cbrt", _in(0.5, 2)), ("sinc", _in(-2, 2)), ("deg2rad", _in(-90, 90)),
    ("rad2deg", _in(-2, 2)),
]
BINARY = [("logaddexp", _in(-2, 2)), ("logaddexp2", _in(-2, 2)), ("arctan2", _in(0.3, 2)),
          ("hypot", _in(0.3, 2))]
COMPLEX_OK = {"arcsin", "arccos", "arctan", "sinh", "cosh", "arcsinh", "arctanh", "log2",
              "log10", "exp2", "reciprocal", "sinc"}


@pytest.mark.parametrize("name,gen", UNARY, ids=[u[0] for u in UNARY])
def test_unary(name, gen, rng, device):
    x = gen(rng, (2, 3))
    f = getattr(tnp, name)
    same_values(device, f, getattr(np, name), x)
    check(device, f, x)
    if name in COMPLEX_OK:
        check(device, f, 0.4 + 0.3 * rng.standard_normal(3) + 0.3j * rng.standard_normal(3))


@pytest.mark.parametrize("name,gen", BINARY, ids=[b[0] for b in BINARY])
def test_binary(name, gen, rng, device):
    x, y = gen(rng, (2, 3)), gen(rng, (3,)) * rng.choice([-1, 1], 3)
    f = getattr(tnp, name)
    same_values(device, f, getattr(np, name), x, y)
    check(device, f, x, y)  # y broadcasts


def test_sinc_at_zero():
    assert tg.grad(tnp.sinc)(0.0) == 0.0
    np.testing.assert_allclose(tg.grad(tnp.sinc)(0.5), (np.cos(np.pi / 2) - np.sinc(0.5)) / 0.5)


def test_elementwise_against_torch(rng, device):
    torch = pytest.importorskip("torch")
    x = rng.uniform(-0.8, 0.8, 5)
    y = rng.uniform(0.3, 2, 5)
    xd, yd = put(x, device), put(y, device)
    pairs = [("arcsin", torch.asin), ("arccos", torch.acos), ("arctan", torch.atan),
             ("sinh", torch.sinh), ("cosh", torch.cosh), ("arcsinh", torch.asinh),
             ("arctanh", torch.atanh), ("exp2", torch.exp2), ("sinc", torch.sinc)]
    for name, tf in pairs:
        g = tg.grad(lambda a: tnp.sum(getattr(tnp, name)(a) * yd))(xd)
        assert on(g, device)
        tx = torch.tensor(x, requires_grad=True)
        (tf(tx) * torch.tensor(y)).sum().backward()
        np.testing.assert_allclose(host(g), tx.grad.numpy(), rtol=1e-10, err_msg=name)
    for name, tf in [("logaddexp", torch.logaddexp), ("arctan2", torch.atan2),
                     ("hypot", torch.hypot)]:
        gx, gy = tg.grad(lambda a, b: tnp.sum(getattr(tnp, name)(a, b) ** 2), (0, 1))(xd, yd)
        assert on(gx, device) and on(gy, device)
        tx, ty = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
        (tf(tx, ty) ** 2).sum().backward()
        np.testing.assert_allclose(host(gx), tx.grad.numpy(), rtol=1e-10, err_msg=name)
        np.testing.assert_allclose(host(gy), ty.grad.numpy(), rtol=1e-10, err_msg=name)


# ---- cumsum --------------------------------------------------------------------------------
@pytest.mark.parametrize("axis", [0, 1, -1, None])
def test_cumsum(axis, rng, device):
    x = rng.standard_normal((3, 4))
    same_values(device, lambda a: tnp.cumsum(a, axis=axis), lambda a: np.cumsum(a, axis=axis), x)
    check(device, lambda a: tnp.cumsum(a, axis=axis), x)


def test_cumsum_complex(rng, device):
    check(device, lambda a: tnp.cumsum(a, axis=0),
          rng.standard_normal(4) + 1j * rng.standard_normal(4))


# ---- einsum --------------------------------------------------------------------------------
EINSUM = [
    ("ij,jk->ik", [(3, 4), (4, 2)]),
    ("ij,jk", [(3, 4), (4, 2)]),             # implicit output
    ("ij->ji", [(3, 4)]),
    ("ij->", [(3, 4)]),
    ("ij->j", [(3, 4)]),
    ("ii->i", [(3, 3)]),                     # diagonal
    ("ii", [(3, 3)]),                        # trace
    ("i,i", [(4,), (4,)]),
    ("i,j->ij", [(3,), (2,)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 2)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (4, 2)]),
    ("...i,...i", [(2, 3), (3,)]),
    ("ij,jk,k->i", [(3, 4), (4, 2), (2,)]),  # three operands
    ("iij,j->i", [(2, 2, 3), (3,)]),         # a repeated index beside a summed one
    ("ij,ij->ij", [(1, 3), (2, 3)]),         # a size-1 dimension broadcast
]


def _random_einsums(n, seed=7):
    """``n`` subscript strings drawn at random (1 to 3 operands of 0 to 3 indices from 'abcd',
    repeated indices within an operand included; an explicit output of distinct indices, or
    NumPy's implicit one), with a size per letter from 1 to 3."""
    r = np.random.default_rng(seed)
    out, seen = [], set()
    while len(out) < n:
        sizes = {c: int(r.integers(1, 4)) for c in "abcd"}
        terms = ["".join(r.choice(list("abcd"), r.choice(4, p=[0.1, 0.3, 0.35, 0.25])))
                 for _ in range(int(r.integers(1, 4)))]
        used = sorted(set("".join(terms)))
        if r.random() < 0.25:
            subs = ",".join(terms)
        else:
            keep = [c for c in used if r.random() < 0.5]
            subs = ",".join(terms) + "->" + "".join(r.permutation(keep)) if keep else \
                ",".join(terms) + "->"
        if subs not in seen:
            seen.add(subs)
            out.append((subs, [tuple(sizes[c] for c in t) for t in terms]))
    return out


@pytest.mark.parametrize("subs,shapes", _random_einsums(40), ids=lambda v: str(v))
def test_einsum_generated(subs, shapes, device):
    """Generated subscripts: NumPy's values, and derivatives to second order in both modes
    against finite differences."""
    rng = np.random.default_rng(len(subs))
    ops = [rng.standard_normal(s) for s in shapes]
    f = lambda *xs: tnp.einsum(subs, *xs)
    same_values(device, f, lambda *xs: np.einsum(subs, *xs), *ops)
    check(device, f, *ops)


@pytest.mark.parametrize("subs,shapes", EINSUM, ids=[e[0] for e in EINSUM])
def test_einsum(subs, shapes, rng, device):
    ops = [rng.standard_normal(s) for s in shapes]
    f = lambda *xs: tnp.einsum(subs, *xs)
    same_values(device, f, lambda *xs: np.einsum(subs, *xs), *ops)
    check(device, f, *ops)


def test_einsum_complex(rng, device):
    a = rng.standard_normal((2, 3)) + 1j * rng.standard_normal((2, 3))
    b = rng.standard_normal((3,)) + 1j * rng.standard_normal((3,))
    check(device, lambda x, y: tnp.einsum("ij,j->i", x, y), a, b)
    check(device, lambda x, y: tnp.einsum("ij,j->i", x, y), a, b.real)


def test_einsum_against_torch(rng, device):
    torch = pytest.importorskip("torch")
    a, b, c = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)
    subs = "bij,jk,k->bi"
    w = rng.standard_normal((2, 3))
    wd = put(w, device)
    grads = tg.grad(lambda x, y, z: tnp.sum(tnp.einsum(subs, x, y, z) * wd), (0, 1, 2))(
        *put([a, b, c], device))
    ts = [torch.tensor(v, requires_grad=True) for v in (a, b, c)]
    (torch.einsum(subs, *ts) * torch.tensor(w)).sum().backward()
    for g, t in zip(grads, ts):
        assert on(g, device)
        np.testing.assert_allclose(host(g), t.grad.numpy(), rtol=1e-10)


def test_einsum_tape_float32(device):
    x = tg.tensor(np.ones((2, 3), np.float32), requires_grad=True, device=device)
    y = tnp.einsum("ij,ij->i", x, x)
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32 and on(x.grad, device)
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.ones((2, 3)))


# ---- sort, take_along_axis, repeat, tile, roll, pad, diff, trapezoid -------------------------
def _distinct(rng, shape):
    n = int(np.prod(shape))
    return (rng.permutation(n) + rng.uniform(-0.2, 0.2, n)).reshape(shape)


@pytest.mark.parametrize("axis", [0, -1, None])
def test_sort(axis, rng, device):
    x = _distinct(rng, (3, 4))
    same_values(device, lambda a: tnp.sort(a, axis=axis), lambda a: np.sort(a, axis=axis), x)
    check(device, lambda a: tnp.sort(a, axis=axis), x)


def test_sort_gradient_follows_permutation(device):
    x = put(np.array([3.0, 1.0, 2.0]), device)
    w = put(np.array([10.0, 20.0, 30.0]), device)
    g = tg.grad(lambda a: tnp.sum(tnp.sort(a) * w))(x)
    assert on(g, device)
    np.testing.assert_allclose(host(g), [30.0, 10.0, 20.0])


def test_take_along_axis(rng, device):
    x = rng.standard_normal((3, 4))
    idx = np.array([[0, 0, 3], [1, 2, 2], [3, 1, 0]])
    idx_d = put(idx, device)  # the indices live with the data
    same_values(device, lambda a: tnp.take_along_axis(a, idx_d, 1),
                lambda a: np.take_along_axis(a, idx, 1), x)
    check(device, lambda a: tnp.take_along_axis(a, idx_d, 1), x)  # repeated indices add up


@pytest.mark.parametrize("repeats,axis", [(2, None), ([1, 0, 2], 0), (3, 1)])
def test_repeat(repeats, axis, rng, device):
    x = rng.standard_normal((3, 2))
    same_values(device, lambda a: tnp.repeat(a, repeats, axis),
                lambda a: np.repeat(a, repeats, axis), x)
    check(device, lambda a: tnp.repeat(a, repeats, axis), x)


@pytest.mark.parametrize("reps", [2, (2, 1), (2, 1, 3)])
def test_tile(reps, rng, device):
    x = rng.standard_normal((2, 3))
    same_values(device, lambda a: tnp.tile(a, reps), lambda a: np.tile(a, reps), x)
    check(device, lambda a: tnp.tile(a, reps), x)


@pytest.mark.parametrize("shift,axis", [(1, None), (-2, 1), ((1, 2), (0, 1)), (5, 0)])
def test_roll(shift, axis, rng, device):
    x = rng.standard_normal((3, 4))
    same_values(device, lambda a: tnp.roll(a, shift, axis), lambda a: np.roll(a, shift, axis), x)
    check(device, lambda a: tnp.roll(a, shift, axis), x)


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric", "wrap"])
def test_pad(mode, rng, device):
    x = rng.standard_normal((3, 4))
    width = ((1, 2), (2, 1))
    same_values(device, lambda a: tnp.pad(a, width, mode), lambda a: np.pad(a, width, mode), x)
    check(device, lambda a: tnp.pad(a, width, mode), x)


def test_pad_constant_value(rng, device):
    x = rng.standard_normal(3)
    same_values(device, lambda a: tnp.pad(a, 2, constant_values=1.5),
                lambda a: np.pad(a, 2, constant_values=1.5), x)
    check(device, lambda a: tnp.pad(a, (0, 2), constant_values=1.5), x)


def test_diff_and_trapezoid(rng, device):
    x = rng.standard_normal((3, 5))
    same_values(device, lambda a: tnp.diff(a, 2, axis=1), lambda a: np.diff(a, 2, axis=1), x)
    check(device, lambda a: tnp.diff(a, 2, axis=1), x)
    t = np.sort(rng.standard_normal(5))
    same_values(device, lambda a, b: tnp.trapezoid(a, b), lambda a, b: np.trapezoid(a, b), x, t)
    check(device, lambda a, b: tnp.trapezoid(a, b), x, t)
    check(device, lambda a: tnp.trapezoid(a, dx=0.5, axis=0), x)


def test_on_device(device, rng):
    """Values and gradients on every available device match the CPU."""
    x = _distinct(rng, (3, 4))

    def f(a):
        s = tnp.sort(tnp.roll(a, 1, 0), axis=1)
        e = tnp.einsum("ij,kj->ik", tnp.arctan(s), tnp.tile(a, (1, 1)))
        return tnp.sum(tnp.cumsum(tnp.pad(e, 1, "reflect"), axis=0) ** 2)

    assert_matches_cpu(f, x, device, rtol=1e-12, grad_rtol=1e-10)


@pytest.mark.parametrize("kind", ["quicksort", "mergesort", "heapsort", "stable", None])
def test_sort_of_a_device_array_takes_numpys_kinds(kind, rng, device):
    """NumPy's sort kinds all give the same sorted values; CuPy's sort takes only 'stable'
    (or none), so a plain device array sorts whatever kind an autograd program names."""
    x = rng.standard_normal((3, 5))
    out = tnp.sort(put(x, device), axis=1, kind=kind)
    assert on(out, device)
    np.testing.assert_array_equal(host(out), np.sort(x, axis=1))


def test_geomspace_values_and_derivatives_in_its_endpoints(device):
    """As NumPy's (rows along ``axis``, negative sequences), and differentiable in Tensor
    endpoints of one sign: finite differences to second order in both modes."""
    lo, hi = put(np.array([1.0, -2.0]), device), put(np.array([8.0, -32.0]), device)
    out = tnp.geomspace(tg.tensor(lo), tg.tensor(hi), 4, axis=1)
    np.testing.assert_allclose(host(out), np.geomspace([1.0, -2.0], [8.0, -32.0], 4, axis=1),
                               rtol=1e-14)
    np.testing.assert_allclose(host(tnp.geomspace(0.5, 4.0, 5, endpoint=False)),
                               np.geomspace(0.5, 4.0, 5, endpoint=False), rtol=1e-14)
    tg.check_grads(lambda a, b: tnp.geomspace(a, b, 5), modes=("fwd", "rev"), order=2)(
        put(np.array(0.5), device), put(np.array(3.0), device))
    with pytest.raises(ValueError, match="geomspace: a geometric sequence cannot include zero"):
        tnp.geomspace(tg.tensor(put(np.array(0.0), device)), 2.0)
    with pytest.raises(NotImplementedError, match="geomspace: endpoints of different signs"):
        tnp.geomspace(tg.tensor(put(np.array(-1.0), device)), 2.0)
