"""Explicit random generators (``tg.Generator``, ``tg.default_generator``) and the
``generator=`` keyword of the random factories, the in-place fills and tensorgrad.utils.data.

The numbers are not PyTorch's for the same seed (NumPy's PCG64 and CuPy's generators, not
PyTorch's Mersenne Twister and Philox), so what is compared with PyTorch is the API: the names,
the parameters, the errors and what a seed or a state guarantees.
"""

import inspect

import numpy as np
import pytest
from devices import host, on, put
from test_torch_surface import _params, _torch_params

import tensorgrad as tg
from tensorgrad.creation import DeviceGeneratorState
from tensorgrad.utils.data import (
    DataLoader,
    RandomSampler,
    SubsetRandomSampler,
    TensorDataset,
    random_split,
)

torch = pytest.importorskip("torch")


def _probs(device):
    return tg.tensor(put(np.linspace(0.1, 0.9, 64), device))


def _weights(device):
    return tg.tensor(put(np.arange(1.0, 41.0).reshape(2, 20), device))


# "op/variant" -> draw(generator, device): every public way to ask for random numbers with
# generator=
FACTORIES = {
    "rand": lambda g, d: tg.rand(3, 4, generator=g, device=d),
    "rand/size_tuple": lambda g, d: tg.rand((2, 5), generator=g, device=d),
    "rand/float64": lambda g, d: tg.rand(6, generator=g, dtype=tg.float64, device=d),
    "randn": lambda g, d: tg.randn(12, generator=g, device=d),
    "randint": lambda g, d: tg.randint(0, 1000, (10,), generator=g, device=d),
    "randint/high_size": lambda g, d: tg.randint(1000, (10,), generator=g, device=d),
    "randperm": lambda g, d: tg.randperm(20, generator=g, device=d),
    "normal/numbers": lambda g, d: tg.normal(2.0, 3.0, (10,), generator=g, device=d),
    "normal/tensors": lambda g, d: tg.normal(tg.zeros(10, device=d), tg.ones(10, device=d),
                                             generator=g),
    "bernoulli": lambda g, d: tg.bernoulli(_probs(d), generator=g),
    "bernoulli/p": lambda g, d: tg.bernoulli(tg.zeros(64, device=d), 0.5, generator=g),
    "Tensor.bernoulli": lambda g, d: _probs(d).bernoulli(generator=g),
    "multinomial": lambda g, d: tg.multinomial(_weights(d), 8, generator=g),
    "multinomial/replacement": lambda g, d: tg.multinomial(_weights(d)[0], 12, True,
                                                           generator=g),
    "Tensor.multinomial": lambda g, d: _weights(d).multinomial(8, generator=g),
    "rand_like": lambda g, d: tg.rand_like(tg.zeros(10, device=d), generator=g),
    "randn_like": lambda g, d: tg.randn_like(tg.zeros(10, device=d), generator=g),
    "randint_like": lambda g, d: tg.randint_like(tg.zeros(10, device=d), 1000, generator=g),
    "randint_like/low_high": lambda g, d: tg.randint_like(tg.zeros(10, device=d), 5, 1000,
                                                          generator=g),
    "Tensor.uniform_": lambda g, d: tg.zeros(10, device=d).uniform_(-2.0, 3.0, generator=g),
    "Tensor.normal_": lambda g, d: tg.zeros(10, device=d).normal_(1.0, 2.0, generator=g),
}


def _same(a, b):
    np.testing.assert_array_equal(host(a), host(b))


def _differ(a, b):
    assert not np.array_equal(host(a), host(b))


# ---- the generator itself ----------------------------------------------------------------------
def test_manual_seed_returns_the_generator_and_repeats_its_draws(device):
    g = tg.Generator(device=device)
    assert g.device == tg.device(device) and isinstance(g.device, tg.Device)
    assert g.manual_seed(7) is g
    assert g.initial_seed() == 7
    a = tg.rand(50, generator=g, device=device)
    b = tg.rand(50, generator=g, device=device)
    _differ(a, b)  # the generator advances
    g.manual_seed(7)
    _same(tg.rand(50, generator=g, device=device), a)
    _same(tg.rand(50, generator=g, device=device), b)
    g.manual_seed(8)
    _differ(tg.rand(50, generator=g, device=device), a)
    assert on(a, device)


def test_two_generators_with_one_seed_draw_the_same(device):
    g1 = tg.Generator(device).manual_seed(123)
    g2 = tg.Generator(device).manual_seed(123)
    _same(tg.randn(30, generator=g1, device=device), tg.randn(30, generator=g2, device=device))


def test_a_new_generator_starts_from_pytorchs_default_seed(device):
    assert tg.Generator(device).initial_seed() == torch.Generator().initial_seed()
    a = tg.rand(20, generator=tg.Generator(device), device=device)
    _same(tg.rand(20, generator=tg.Generator(device), device=device), a)


def test_seed_picks_a_fresh_seed_and_returns_it(device):
    g = tg.Generator(device)
    s1, s2 = g.seed(), g.seed()
    assert isinstance(s1, int) and s1 != s2 and g.initial_seed() == s2
    a = tg.rand(10, generator=g, device=device)
    g.manual_seed(s2)
    _same(tg.rand(10, generator=g, device=device), a)


def test_seeds_are_checked_and_negative_ones_wrap_as_pytorchs():
    g = tg.Generator()
    assert g.manual_seed(-1).initial_seed() == torch.Generator().manual_seed(-1).initial_seed()
    assert g.manual_seed(np.int64(5)).initial_seed() == 5
    with pytest.raises(TypeError, match="manual_seed.*seed must be an int.*float"):
        g.manual_seed(1.5)
    with pytest.raises(RuntimeError, match="manual_seed.*2\\*\\*64"):
        tg.manual_seed(1 << 64)


def test_drawing_from_a_generator_does_not_advance_the_global_stream(device):
    g = tg.Generator(device).manual_seed(1)
    tg.manual_seed(99)
    want = tg.rand(8, device=device)
    tg.manual_seed(99)
    for draw in FACTORIES.values():
        draw(g, device)
    _same(tg.rand(8, device=device), want)
    # and the global stream does not move the generator's
    g.manual_seed(1)
    first = tg.randn(8, generator=g, device=device)
    g.manual_seed(1)
    tg.randn(100, device=device)
    tg.rand(100)
    _same(tg.randn(8, generator=g, device=device), first)


@pytest.mark.parametrize("name", list(FACTORIES))
def test_every_factory_honours_generator(name, device):
    draw = FACTORIES[name]
    g = tg.Generator(device)
    a = draw(g.manual_seed(11), device)
    b = draw(g.manual_seed(11), device)
    c = draw(g.manual_seed(12), device)
    assert on(a, device)
    _same(a, b)
    _differ(a, c)
    # the global generator is not the one drawn from
    tg.manual_seed(5)
    want = host(tg.rand(6, device=device))
    tg.manual_seed(5)
    draw(g, device)
    np.testing.assert_array_equal(host(tg.rand(6, device=device)), want)


def test_draws_keep_their_meaning(device):
    g = tg.Generator(device).manual_seed(3)
    u = host(tg.rand(2000, generator=g, device=device))
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.05
    assert sorted(host(tg.randperm(20, generator=g, device=device)).tolist()) == list(range(20))
    r = host(tg.randint(3, 7, (500,), generator=g, device=device))
    assert r.min() == 3 and r.max() == 6 and r.dtype == np.int64
    x = tg.zeros(1000, device=device).uniform_(-2.0, 3.0, generator=g)
    assert host(x).min() >= -2.0 and host(x).max() < 3.0
    m = host(tg.multinomial(_weights(device), 8, generator=g))
    assert all(len(set(row)) == 8 for row in m.tolist())


# ---- state -------------------------------------------------------------------------------------
def test_get_state_and_set_state_round_trip(device):
    g = tg.Generator(device).manual_seed(21)
    tg.rand(5, generator=g, device=device)  # not at the start of the stream
    state = g.get_state()
    a = tg.randn(10, generator=g, device=device)
    b = tg.randint(0, 100, (10,), generator=g, device=device)
    assert g.set_state(state) is g
    _same(tg.randn(10, generator=g, device=device), a)
    _same(tg.randint(0, 100, (10,), generator=g, device=device), b)
    g.set_state(state)  # the state serves again: set_state copies it
    _same(tg.randn(10, generator=g, device=device), a)
    other = tg.Generator(device).set_state(state)  # and another generator continues from it
    _same(tg.randn(10, generator=other, device=device), a)
    if device == "cpu":
        assert isinstance(state, dict) and state["bit_generator"] == "PCG64"
    else:
        assert isinstance(state, DeviceGeneratorState) and state.device == tg.device(device)


def test_a_cpu_state_survives_save_and_load(tmp_path):
    g = tg.Generator().manual_seed(4)
    state = g.get_state()
    want = tg.rand(16, generator=g)
    path = tmp_path / "rng.tg"
    tg.save({"generator": state}, path)
    loaded = tg.load(path)["generator"]
    assert loaded == state
    _same(tg.rand(16, generator=tg.Generator().set_state(loaded)), want)


def test_cpu_states_are_checked():
    g = tg.Generator()
    with pytest.raises(TypeError, match="set_state.*bit_generator.*list"):
        g.set_state([1, 2])
    with pytest.raises(ValueError, match="set_state.*unknown bit generator 'Nope'"):
        g.set_state({"bit_generator": "Nope"})
    with pytest.raises(ValueError, match="set_state.*not a valid PCG64 state"):
        g.set_state({"bit_generator": "PCG64", "state": {}})


def test_cuda_states_are_opaque_and_stay_in_the_process(cuda_device, tmp_path):
    gpu = tg.Generator(cuda_device).manual_seed(1)
    state = gpu.get_state()
    with pytest.raises(TypeError, match="save: cannot store a DeviceGeneratorState"):
        tg.save(state, tmp_path / "s.tg")
    with pytest.raises(TypeError, match="set_state.*generator on cuda:0.*CPU state"):
        gpu.set_state(tg.Generator().get_state())
    with pytest.raises(TypeError, match="set_state.*generator on cuda:0 cannot be loaded into "
                                        "a generator on cpu"):
        tg.Generator().set_state(state)


# ---- the default generator ---------------------------------------------------------------------
def test_default_generator_is_the_global_cpu_generator():
    d = tg.default_generator
    assert isinstance(d, tg.Generator) and d.device == tg.device("cpu")
    assert tg.manual_seed(5) is d
    assert d.initial_seed() == tg.initial_seed() == 5
    want = tg.rand(6)
    assert d.manual_seed(5) is d  # the same as tg.manual_seed's CPU part
    _same(tg.rand(6), want)
    assert tg.initial_seed() == 5
    d.manual_seed(5)
    _same(tg.rand(6, generator=d), want)  # drawing from it is drawing from the global stream
    _differ(tg.rand(6), want)
    state = tg.get_rng_state()
    assert d.get_state() == state
    a = tg.randn(4)
    d.set_state(state)
    _same(tg.randn(4), a)
    tg.set_rng_state(state)
    _same(tg.randn(4, generator=d), a)
    s = tg.seed()
    assert d.initial_seed() == s


def test_default_generator_seed_leaves_the_cuda_generators(cuda_device):
    tg.manual_seed(3)
    want = tg.rand(5, device=cuda_device)
    tg.manual_seed(3)
    tg.default_generator.manual_seed(77)  # CPU only, as torch.default_generator.manual_seed
    _same(tg.rand(5, device=cuda_device), want)


# ---- devices -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(FACTORIES))
def test_a_generator_on_another_device_is_refused(name, cuda_device):
    draw = FACTORIES[name]
    op = name.split("/")[0].split(".")[-1]  # "Tensor.normal_" -> "normal_"
    cpu, gpu = tg.Generator("cpu"), tg.Generator(cuda_device)
    with pytest.raises(RuntimeError, match=f"{op}\\(\\): Expected a 'cuda' device type for "
                                           f"generator but found 'cpu'.*cpu.*cuda:0"):
        draw(cpu, cuda_device)
    with pytest.raises(RuntimeError, match=f"{op}\\(\\): Expected a 'cpu' device type for "
                                           f"generator but found 'cuda'.*cuda:0.*cpu"):
        draw(gpu, "cpu")


def test_only_generators_are_taken():
    with pytest.raises(TypeError, match="rand\\(\\): generator must be a tg.Generator.*int"):
        tg.rand(2, generator=3)
    with pytest.raises(TypeError, match="randperm\\(\\): generator must be a tg.Generator"):
        tg.randperm(3, generator=np.random.default_rng(0))


# ---- tensorgrad.utils.data ---------------------------------------------------------------------
def _orders(make_iterable, seed, times=2):
    g = tg.Generator().manual_seed(seed)
    it = make_iterable(g)
    return [list(it) for _ in range(times)]


DATA = {
    "RandomSampler": lambda g: RandomSampler(range(30), generator=g),
    "RandomSampler_replacement": lambda g: RandomSampler(range(30), replacement=True,
                                                         num_samples=20, generator=g),
    "SubsetRandomSampler": lambda g: SubsetRandomSampler(list(range(0, 60, 2)), generator=g),
    "DataLoader": lambda g: _Batches(DataLoader(TensorDataset(tg.arange(30)), batch_size=7,
                                                shuffle=True, generator=g)),
}


class _Batches:
    def __init__(self, loader):
        self.loader = loader

    def __iter__(self):
        return iter([host(b).tolist() for (b,) in self.loader])


@pytest.mark.parametrize("name", list(DATA))
def test_samplers_and_loader_follow_their_generator(name):
    make = DATA[name]
    tg.manual_seed(0)
    want = tg.rand(4)
    tg.manual_seed(0)
    first = _orders(make, 10)
    _same(tg.rand(4), want)  # the global generator was not drawn from
    assert first == _orders(make, 10)
    assert first[0] != first[1]  # a new order each epoch
    assert first != _orders(make, 11)
    tg.manual_seed(1)  # and the global seed does not matter
    assert first == _orders(make, 10)


def test_random_split_follows_its_generator_and_pytorchs_fractions():
    def parts(seed, lengths=(0.5, 0.3, 0.2)):
        return [list(p) for p in random_split(range(10), list(lengths),
                                              generator=tg.Generator().manual_seed(seed))]

    a = parts(1)
    assert a == parts(1) and a != parts(2)
    assert sorted(sum(a, [])) == list(range(10))
    for n, lengths in ((10, [0.5, 0.3, 0.2]), (11, [0.33, 0.33, 0.34]), (7, [0.25, 0.75])):
        ours = random_split(range(n), lengths, generator=tg.Generator().manual_seed(0))
        theirs = torch.utils.data.random_split(range(n), lengths,
                                               generator=torch.Generator().manual_seed(0))
        assert [len(p) for p in ours] == [len(p) for p in theirs]
    tg.manual_seed(3)
    want = random_split(range(10), [4, 6])
    tg.manual_seed(3)
    got = random_split(range(10), [4, 6], generator=tg.default_generator)
    assert [list(p) for p in got] == [list(p) for p in want]


def test_data_takes_cpu_generators_only(cuda_device):
    gpu = tg.Generator(cuda_device)
    for make in (lambda: RandomSampler(range(3), generator=gpu),
                 lambda: SubsetRandomSampler([0, 1], generator=gpu),
                 lambda: DataLoader(range(3), shuffle=True, generator=gpu),
                 lambda: random_split(range(3), [1, 2], generator=gpu)):
        with pytest.raises(RuntimeError, match="Expected a 'cpu' device type for generator but "
                                               "found 'cuda'.*cuda:0"):
            make()


# ---- PyTorch's signatures ----------------------------------------------------------------------
_NOT_TAKEN = {"out"}  # layout= and pin_memory= are taken (tensorgrad/_layouts.py)
# parameters of overloads that torch's docstring line does not show
_OVERLOADS = {"normal": {"size", "dtype", "layout", "device", "requires_grad"}, "bernoulli": {"p"}}
FUNCTIONS = ("rand randn randint randperm normal bernoulli multinomial rand_like randn_like "
             "randint_like").split()


@pytest.mark.parametrize("name", FUNCTIONS)
def test_factories_take_pytorchs_parameters(name):
    mine = _params(getattr(tg, name))
    want = [p for p in _torch_params(getattr(torch, name)) if p not in _NOT_TAKEN]
    assert "generator" in want and "generator" in mine
    assert [p for p in mine if p in want] == want, (mine, want)
    # pin_memory=: PyTorch takes it at run time even where its docstring leaves it out
    assert set(mine) - set(want) <= _OVERLOADS.get(name, set()) | {"pin_memory"}, (mine, want)
    param = inspect.signature(getattr(tg, name)).parameters["generator"]
    assert param.kind == param.KEYWORD_ONLY and param.default is None


@pytest.mark.parametrize("name", ["uniform_", "normal_", "bernoulli", "multinomial"])
def test_tensor_methods_take_pytorchs_parameters(name):
    mine = _params(getattr(tg.Tensor, name))[1:]  # without self
    want = [p for p in _torch_params(getattr(torch.Tensor, name)) if p not in _NOT_TAKEN]
    want = ["from_" if p == "from" else p for p in want]  # "from" is a Python keyword
    if name in ("bernoulli", "multinomial"):  # the functions, attached: input is self
        mine = ["input"] + mine
        want = want if want[:1] == ["input"] else ["input"] + want
    assert [p for p in mine if p in want] == want, (mine, want)
    # pin_memory=: PyTorch takes it at run time even where its docstring leaves it out
    assert set(mine) - set(want) <= _OVERLOADS.get(name, set()) | {"pin_memory"}, (mine, want)


@pytest.mark.parametrize("name", ["RandomSampler", "SubsetRandomSampler", "random_split",
                                  "DataLoader"])
def test_data_takes_pytorchs_parameters(name):
    mine = _params(getattr(tg.utils.data, name))
    theirs = _params(getattr(torch.utils.data, name))
    assert "generator" in mine
    if name == "DataLoader":  # tensorgrad leaves out the worker and prefetch arguments
        assert [p for p in theirs if p in mine] == mine
    else:
        assert mine == theirs


def test_the_generator_has_pytorchs_methods():
    for name in ("manual_seed", "seed", "initial_seed", "get_state", "set_state"):
        assert callable(getattr(torch.Generator, name)), name
        assert _params(getattr(tg.Generator, name))[1:] == _torch_params(
            getattr(torch.Generator, name)), name
    assert isinstance(tg.Generator.device, property) and hasattr(torch.Generator(), "device")
    assert isinstance(torch.default_generator, torch.Generator)
    assert "Generator" in tg.__all__ and "default_generator" in tg.__all__
