"""tg.quasirandom.SobolEngine: unscrambled points equal PyTorch's bit for bit (float64 and
float32, after any sequence of draw/draw_base2/fast_forward/reset, in low and the highest
dimensions); the direction numbers equal Joe and Kuo's table (SciPy's copy) and PyTorch's;
scrambled points are reproducible, in [0, 1), stratified as a Sobol' net must be, and integrate
a smooth function far better than Monte Carlo; bad input raises naming the method and argument.
"""

import os
import random

import numpy as np
import pytest

import tensorgrad as tg
from tensorgrad import quasirandom
from tensorgrad.quasirandom import SobolEngine

DIMS = [1, 2, 5, 40, 1111]


def _torch():
    return pytest.importorskip("torch")


def _same_bits(ours, theirs):
    """``ours`` (a tg Tensor) and ``theirs`` (a torch tensor) hold the same dtype, shape and
    bits."""
    a, b = ours.numpy(), theirs.numpy()
    assert a.dtype == b.dtype and a.shape == b.shape
    assert np.array_equal(a.view(np.uint8), b.view(np.uint8)), np.argwhere(a != b)[:5]


def _gray(k):
    return k ^ (k >> 1)


def _van_der_corput(k):
    """The first dimension's point k as a 30-bit integer: gray(k)'s bits reversed."""
    return int(format(_gray(k), "030b")[::-1], 2)


def _stratified(x, m):
    """Whether every column of ``x`` (2**m points) has one point in each [j/2**m, (j+1)/2**m)."""
    cells = np.sort(np.floor(np.asarray(x, np.float64) * 2**m), axis=0)
    return bool(np.all(cells == np.arange(2**m)[:, None]))


def _zero_t_net(x2, m):
    """Whether the 2**m points ``x2`` (n, 2) are a (0, m, 2)-net: each box of size
    2**-a x 2**-(m - a) holds exactly one point, for every a."""
    x2 = np.asarray(x2, np.float64)
    for a in range(m + 1):
        cell = np.floor(x2[:, 0] * 2**a) * 2 ** (m - a) + np.floor(x2[:, 1] * 2 ** (m - a))
        if len(np.unique(cell)) != 2**m:
            return False
    return True


# ---- the direction numbers -----------------------------------------------------------------
def test_data_file_is_joe_kuo_table_from_scipy():
    pytest.importorskip("scipy")
    import scipy.stats

    path = os.path.join(os.path.dirname(scipy.stats.__file__), "_sobol_direction_numbers.npz")
    if not os.path.exists(path):
        pytest.skip("this SciPy has no _sobol_direction_numbers.npz")
    with np.load(path) as ref, np.load(quasirandom._DATA) as ours:
        poly, vinit = quasirandom._unpack_table(ours["poly_step"], ours["init_bits"])
        assert np.array_equal(poly, ref["poly"])
        assert np.array_equal(vinit, ref["vinit"])
        packed = quasirandom._pack_table(ref["poly"], ref["vinit"])  # the file is this packing
        assert set(packed) == set(ours.files)
        for name in packed:
            assert np.array_equal(packed[name], ours[name])


def test_data_file_small_and_round_trips():
    assert os.path.getsize(quasirandom._DATA) < 400_000
    with np.load(quasirandom._DATA) as f:
        poly, vinit = quasirandom._unpack_table(f["poly_step"], f["init_bits"])
    assert poly.shape == (21201,) and poly[:6].tolist() == [1, 3, 7, 11, 13, 19]
    assert vinit[5, :4].tolist() == [1, 1, 3, 3]  # x^5 + x^2 + 1 (poly 37): m = 1, 1, 3, 3, ...
    repacked = quasirandom._pack_table(poly, vinit)
    assert np.array_equal(quasirandom._unpack_table(**repacked)[1], vinit)
    with pytest.raises(ValueError, match="corrupt"):
        quasirandom._unpack_table(repacked["poly_step"],
                                  np.append(repacked["init_bits"], np.uint8(255)))


def test_direction_numbers_equal_torch_in_every_dimension():
    torch = _torch()
    ours = SobolEngine(21201).sobolstate.numpy()
    theirs = torch.quasirandom.SobolEngine(21201).sobolstate.numpy()
    assert ours.dtype == np.int64 and np.array_equal(ours, theirs)


def test_first_dimension_is_van_der_corput_without_torch():
    e = SobolEngine(1)
    x = e.draw(300, dtype=tg.float64).numpy()[:, 0]
    assert np.array_equal(x, [_van_der_corput(k) * 2.0**-30 for k in range(300)])
    # the last points a 30-bit sequence has
    e.reset().fast_forward(2**30 - 3)
    tail = e.draw(3, dtype=tg.float64).numpy()[:, 0]
    assert np.array_equal(tail, [_van_der_corput(k) * 2.0**-30 for k in range(2**30 - 3, 2**30)])


# ---- unscrambled: PyTorch's points ---------------------------------------------------------
@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_draw_equals_torch(dim, dtype):
    torch = _torch()
    ours, theirs = SobolEngine(dim), torch.quasirandom.SobolEngine(dim)
    for n in [1, 7, 0, 300 if dim < 1000 else 129, 2]:
        _same_bits(ours.draw(n, dtype=getattr(tg, dtype)),
                   theirs.draw(n, dtype=getattr(torch, dtype)))
    assert ours.num_generated == theirs.num_generated
    assert np.array_equal(ours.quasi.numpy(), theirs.quasi.numpy())


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_highest_dimension_equals_torch(dtype):
    torch = _torch()
    ours, theirs = SobolEngine(21201), torch.quasirandom.SobolEngine(21201)
    odt, tdt = getattr(tg, dtype), getattr(torch, dtype)
    _same_bits(ours.draw(33, dtype=odt), theirs.draw(33, dtype=tdt))
    ours.fast_forward(1000)
    theirs.fast_forward(1000)
    _same_bits(ours.draw(5, dtype=odt), theirs.draw(5, dtype=tdt))


@pytest.mark.parametrize("dim", DIMS)
def test_call_sequences_equal_torch(dim):
    """Random sequences of draw / draw_base2 / fast_forward / reset / draw(out=), each result
    and the state after it compared with PyTorch's."""
    torch = _torch()
    rnd = random.Random(dim)
    ours, theirs = SobolEngine(dim), torch.quasirandom.SobolEngine(dim)
    cap = 200 if dim < 1000 else 40
    for _ in range(40):
        op = rnd.choice(["draw", "draw", "ff", "reset", "base2", "out"])
        dtype = rnd.choice(["float32", "float64"])
        tdt, odt = getattr(torch, dtype), getattr(tg, dtype)
        fresh = ours.num_generated == 0
        if op == "draw":
            n = rnd.randint(1 if fresh else 0, cap)  # torch's draw(0) fails on a fresh engine
            _same_bits(ours.draw(n, dtype=odt), theirs.draw(n, dtype=tdt))
        elif op == "ff":
            n = rnd.choice([0, 1, rnd.randint(2, 5000)])
            assert ours.fast_forward(n) is ours
            theirs.fast_forward(n)
        elif op == "reset":
            assert ours.reset() is ours
            theirs.reset()
        elif op == "base2":
            k = ours.num_generated
            if k & (k - 1):
                continue
            m = rnd.randint(0, 7) if k == 0 else k.bit_length() - 1  # k + 2**m: a power of 2
            if 2**m > 4 * cap:
                ours.reset()
                theirs.reset()
                continue
            _same_bits(ours.draw_base2(m, dtype=odt), theirs.draw_base2(m, dtype=tdt))
        else:
            n = rnd.randint(1, cap)
            out, tout = tg.zeros(n, dim, dtype=odt), torch.zeros(n, dim, dtype=tdt)
            assert ours.draw(n, out=out) is out
            theirs.draw(n, out=tout)
            _same_bits(out, tout)
        assert ours.num_generated == theirs.num_generated
        assert np.array_equal(ours.quasi.numpy(), theirs.quasi.numpy())


@pytest.mark.parametrize("dim", [5, 40])
def test_far_fast_forward_equals_torch(dim):
    torch = _torch()
    ours, theirs = SobolEngine(dim), torch.quasirandom.SobolEngine(dim)
    ours.draw(3)
    theirs.draw(3)
    ours.fast_forward(2**20 + 5)  # O(1) here; float32 now rounds the 30-bit integers
    theirs.fast_forward(2**20 + 5)
    _same_bits(ours.draw(64), theirs.draw(64))
    _same_bits(ours.draw(3, dtype=tg.float64), theirs.draw(3, dtype=torch.float64))


def test_float32_stays_below_one_where_torch_rounds_to_one():
    """The one deliberate difference in unscrambled points: an integer within 32 of 2**30 is
    1.0 in PyTorch's float32, the largest float32 below 1 here."""
    torch = _torch()
    k = 0
    g = 2**25 - 1  # gray(k) with bits 0..24 set: the first dimension's integer is >= 2**30 - 32
    while g:
        k ^= g
        g >>= 1
    ours, theirs = SobolEngine(3), torch.quasirandom.SobolEngine(3)
    ours.fast_forward(k)
    theirs.fast_forward(k)
    a, b = ours.draw(4).numpy(), theirs.draw(4).numpy()
    assert b[0, 0] == 1.0 and a[0, 0] == np.nextafter(np.float32(1), np.float32(0))
    a[0, 0] = b[0, 0]
    assert np.array_equal(a, b)  # everything else is the same


def test_out_takes_dtype_values_like_torch():
    """out= receives the points computed in ``dtype`` (the default float32 here), cast to its
    own dtype, as PyTorch's copy_ does."""
    torch = _torch()
    ours, theirs = SobolEngine(4), torch.quasirandom.SobolEngine(4)
    ours.fast_forward(2**25 + 1)
    theirs.fast_forward(2**25 + 1)
    out, tout = tg.zeros(50, 4, dtype=tg.float64), torch.zeros(50, 4, dtype=torch.float64)
    assert ours.draw(50, out=out) is out
    theirs.draw(50, out=tout)
    _same_bits(out, tout)
    exact = ours.reset().fast_forward(2**25 + 1).draw(50, dtype=tg.float64).numpy()
    assert not np.array_equal(out.numpy(), exact)  # float32 rounding is visible
    assert np.array_equal(out.numpy(), exact.astype(np.float32))


@pytest.mark.parametrize("kwargs", [{}, {"scramble": True}, {"scramble": True, "seed": 4},
                                    {"seed": 4}, {"scramble": False, "seed": 0}])
def test_repr_and_attributes_like_torch(kwargs):
    torch = _torch()
    ours, theirs = SobolEngine(3, **kwargs), torch.quasirandom.SobolEngine(3, **kwargs)
    assert repr(ours) == repr(theirs)
    for name in ["dimension", "scramble", "seed", "num_generated", "MAXBIT", "MAXDIM"]:
        assert getattr(ours, name) == getattr(theirs, name), name
    assert SobolEngine.MAXDIM == 21201 and SobolEngine.MAXBIT == 30


def test_dtype_default_follows_tensorgrad():
    e = SobolEngine(2)
    x = e.draw(3)
    assert isinstance(x, tg.Tensor) and x.dtype == np.float32 and x.shape == (3, 2)
    assert not x.requires_grad
    assert x.tolist() == [[0.0, 0.0], [0.5, 0.5], [0.75, 0.25]]
    tg.set_default_dtype(tg.float64)
    try:
        assert e.draw(1).dtype == np.float64
        assert e.draw_base2(2).dtype == np.float64  # points 4..7
    finally:
        tg.set_default_dtype(tg.float32)
    assert e.num_generated == 8
    assert e.reset().draw(0).shape == (0, 2)  # an empty draw on a fresh engine (torch fails)
    assert e.draw_base2(2).dtype == np.float32 and e.num_generated == 4


def test_large_draw_is_one_vectorized_pass():
    e = SobolEngine(3)
    x = e.draw(2**20, dtype=tg.float64).numpy()
    assert x.shape == (2**20, 3) and e.num_generated == 2**20
    assert _stratified(x, 20)
    ks = [2**20 - 1, 2**19 + 3, 12345]
    assert np.array_equal(x[ks, 0], [_van_der_corput(k) * 2.0**-30 for k in ks])


# ---- scrambled -----------------------------------------------------------------------------
def test_scrambled_reproducible_and_in_unit_interval():
    a = SobolEngine(7, scramble=True, seed=123).draw(1024, dtype=tg.float64).numpy()
    b = SobolEngine(7, scramble=True, seed=123).draw(1024, dtype=tg.float64).numpy()
    c = SobolEngine(7, scramble=True, seed=124).draw(1024, dtype=tg.float64).numpy()
    assert np.array_equal(a, b)
    assert not np.any(np.all(a == c, axis=0))  # every column differs
    assert np.all(a[0] != 0)  # the first point is the digital shift, not 0
    for dtype in [tg.float32, tg.float64]:
        x = SobolEngine(50, scramble=True, seed=5).draw(4096, dtype=dtype).numpy()
        assert x.dtype == dtype and x.min() >= 0 and x.max() < 1


def test_scrambled_unseeded_follows_manual_seed():
    tg.manual_seed(7)
    a = SobolEngine(4, scramble=True).draw(16).numpy()
    tg.manual_seed(7)
    b = SobolEngine(4, scramble=True).draw(16).numpy()
    c = SobolEngine(4, scramble=True).draw(16).numpy()  # the global generator moved on
    assert np.array_equal(a, b) and not np.array_equal(b, c)
    e = SobolEngine(4, scramble=True)
    assert e.seed is None and repr(e) == "SobolEngine(dimension=4, scramble=True)"


def test_scrambled_draws_are_one_sequence():
    e = SobolEngine(6, scramble=True, seed=9)
    whole = e.draw(40, dtype=tg.float64).numpy()
    e.reset()
    parts = [e.draw(1, dtype=tg.float64), e.draw(12, dtype=tg.float64),
             e.fast_forward(7).draw(20, dtype=tg.float64)]
    got = np.concatenate([p.numpy() for p in parts])
    assert np.array_equal(got, np.concatenate([whole[:13], whole[20:]]))
    assert np.array_equal(e.quasi.numpy() * 2.0**-30, whole[-1])
    assert np.array_equal(e.shift.numpy() * 2.0**-30, whole[0])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scrambled_nets_stay_stratified(seed):
    """Each 1-D projection of every block of 2**m points has one point per interval of length
    2**-m, and the first two dimensions form a (0, m, 2)-net, as the unscrambled ones do."""
    e = SobolEngine(8, scramble=True, seed=seed)
    for m in [0, 1, 3, 8, 12]:
        e.reset()
        first = e.draw_base2(m, dtype=tg.float64).numpy()
        second = e.draw_base2(m, dtype=tg.float64).numpy()  # points 2**m .. 2**(m+1) - 1
        assert _stratified(first, m) and _stratified(second, m)
        assert _zero_t_net(first[:, :2], m) and _zero_t_net(second[:, :2], m)
    plain = SobolEngine(2).draw_base2(10, dtype=tg.float64).numpy()
    assert _stratified(plain, 10) and _zero_t_net(plain, 10)
    assert not _stratified(np.random.default_rng(seed).random((2**8, 8)), 8)  # can fail


def test_scrambled_highest_dimension_stratified():
    x = SobolEngine(21201, scramble=True, seed=3).draw_base2(6, dtype=tg.float64).numpy()
    assert _stratified(x, 6)


def test_torch_scrambled_has_the_same_properties():
    torch = _torch()
    x = torch.quasirandom.SobolEngine(8, scramble=True, seed=0).draw_base2(8, dtype=torch.float64)
    assert _stratified(x.numpy(), 8) and _zero_t_net(x.numpy()[:, :2], 8)


def test_scrambled_integrates_better_than_monte_carlo():
    """∫ prod_i (pi / 2) sin(pi x_i) dx = 1 over [0, 1]^4: the error of 2**12 scrambled Sobol'
    points, over 8 seeds, is far below plain Monte Carlo's."""
    dim, n = 4, 2**12

    def f(x):
        return np.prod(np.pi / 2 * np.sin(np.pi * x), axis=1)

    qmc = [f(SobolEngine(dim, scramble=True, seed=s).draw(n, dtype=tg.float64).numpy()).mean()
           for s in range(8)]
    mc = [f(np.random.default_rng(s).random((n, dim))).mean() for s in range(8)]
    qmc_rmse = np.sqrt(np.mean((np.array(qmc) - 1) ** 2))
    mc_rmse = np.sqrt(np.mean((np.array(mc) - 1) ** 2))
    assert qmc_rmse < mc_rmse / 20, (qmc_rmse, mc_rmse)


# ---- bad input -----------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [0, -1, 21202])
def test_dimension_out_of_range(dim):
    with pytest.raises(ValueError, match=r"SobolEngine\(\): dimension=-?\d+ .*\[1, 21201\]"):
        SobolEngine(dim)
    torch = _torch()
    with pytest.raises(ValueError) as info:
        torch.quasirandom.SobolEngine(dim)
    with pytest.raises(ValueError, match=str(info.value).replace("[", r"\[").replace("]", r"\]")):
        SobolEngine(dim)  # PyTorch's message is in ours


@pytest.mark.parametrize("dim", [2.5, "3", True, None])
def test_dimension_not_an_int(dim):
    with pytest.raises(TypeError, match=r"SobolEngine\(\): dimension must be an int"):
        SobolEngine(dim)


def test_bad_seed():
    with pytest.raises(TypeError, match=r"SobolEngine\(\): seed must be an int"):
        SobolEngine(2, scramble=True, seed=1.5)


def _unchanged(e, k):
    assert e.num_generated == k


def test_bad_n():
    e = SobolEngine(2)
    e.draw(3)
    with pytest.raises(RuntimeError, match=r"SobolEngine\.draw\(\): n must be non-negative, "
                                           r"got -1"):
        e.draw(-1)
    with pytest.raises(TypeError, match=r"SobolEngine\.draw\(\): n must be an int, got float"):
        e.draw(2.0)
    with pytest.raises(ValueError, match=r"SobolEngine\.fast_forward\(\): n must be "
                                         r"non-negative, got -2"):
        e.fast_forward(-2)
    with pytest.raises(ValueError, match=r"SobolEngine\.draw_base2\(\): m must be "
                                         r"non-negative"):
        e.draw_base2(-1)
    with pytest.raises(TypeError, match=r"SobolEngine\.draw_base2\(\): m must be an int"):
        e.draw_base2(2.5)
    _unchanged(e, 3)
    torch = _torch()
    t = torch.quasirandom.SobolEngine(2)
    t.draw(3)
    with pytest.raises(RuntimeError):  # the same type as PyTorch's
        t.draw(-1)
    with pytest.raises(TypeError):
        t.draw(2.0)


def test_draw_base2_balance():
    e = SobolEngine(2)
    e.draw(3)
    with pytest.raises(ValueError) as info:
        e.draw_base2(2)
    msg = str(info.value)
    assert msg.startswith("SobolEngine.draw_base2(): ") and "n=3+2**2=7" in msg
    _unchanged(e, 3)
    torch = _torch()
    t = torch.quasirandom.SobolEngine(2)
    t.draw(3)
    with pytest.raises(ValueError) as tinfo:
        t.draw_base2(2)
    assert str(tinfo.value) in msg  # PyTorch's message, word for word
    e.draw(1)
    assert e.draw_base2(2).shape == (4, 2)  # 4 + 4
    e.reset().draw(1)
    assert e.draw_base2(0).shape == (1, 2)  # 1 + 1


def test_bad_out():
    e = SobolEngine(2)
    e.draw(1)
    with pytest.raises(RuntimeError, match=r"SobolEngine\.draw\(\): out has shape \(5,\), "
                                           r"expected \(3, 2\)"):
        e.draw(3, out=tg.zeros(5))
    with pytest.raises(RuntimeError, match=r"SobolEngine\.draw_base2\(\): out has shape "
                                           r"\(4, 3\), expected \(1, 2\)"):
        e.draw_base2(0, out=tg.zeros(4, 3))
    with pytest.raises(TypeError, match=r"SobolEngine\.draw\(\): out must be a Tensor, got "
                                        r"ndarray"):
        e.draw(3, out=np.zeros((3, 2)))
    _unchanged(e, 1)


@pytest.mark.parametrize("dtype", [tg.int64, tg.float16])
def test_bad_dtype(dtype):
    e = SobolEngine(2)
    with pytest.raises(NotImplementedError, match=r"SobolEngine\.draw\(\): dtype must be "
                                                  r"float32 or float64"):
        e.draw(3, dtype=dtype)
    with pytest.raises(TypeError, match=r"SobolEngine\.draw\(\): dtype must be"):
        e.draw(3, dtype="not a dtype")
    _unchanged(e, 0)
    torch = _torch()
    with pytest.raises(NotImplementedError):  # PyTorch's type
        torch.quasirandom.SobolEngine(2).draw(3, dtype=getattr(torch, np.dtype(dtype).name))


def test_past_the_last_point():
    e = SobolEngine(2).fast_forward(2**30 - 2)
    with pytest.raises(ValueError, match=r"SobolEngine\.draw\(\): n=3 would take the engine "
                                         r"past 2\*\*30 points"):
        e.draw(3)
    with pytest.raises(ValueError, match=r"SobolEngine\.fast_forward\(\): n=5 would"):
        e.fast_forward(5)
    with pytest.raises(ValueError, match=r"SobolEngine\.draw_base2\(\): 2\*\*m=\d+ would"):
        SobolEngine(2).draw_base2(31)
    _unchanged(e, 2**30 - 2)
    assert e.draw(2).shape == (2, 2) and e.num_generated == 2**30
