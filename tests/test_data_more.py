"""tensorgrad.utils.data: IterableDataset through DataLoader, ChainDataset, StackDataset,
WeightedRandomSampler and get_worker_info, against PyTorch's behaviour (batches, lengths,
errors) and, for the sampler, its distribution and invariants."""

import math
import warnings

import numpy as np
import pytest
from devices import host, on, put

import tensorgrad as tg
from tensorgrad.utils import data as tgd

torch = pytest.importorskip("torch")
tud = torch.utils.data


def _stream(mod, n, with_len=True, make=lambda i: i):
    """An IterableDataset of ``mod`` yielding ``make(0), ..., make(n - 1)``."""
    base = mod.IterableDataset

    class Stream(base):
        def __iter__(self):
            self.info = mod.get_worker_info()  # what the loop sees, in the main process
            for i in range(n):
                yield make(i)

    if with_len:
        Stream.__len__ = lambda self: n
    return Stream()


def _values(batches):
    return [b.tolist() if hasattr(b, "tolist") else b for b in batches]


# ---- IterableDataset ------------------------------------------------------------------------
@pytest.mark.parametrize("n, batch_size, drop_last", [
    (7, 3, False), (7, 3, True), (6, 3, True), (2, 5, False), (2, 5, True), (0, 2, False),
    (5, None, False),
])
def test_iterable_batches_as_torch(n, batch_size, drop_last):
    kw = dict(batch_size=batch_size, drop_last=drop_last)
    got = _values(tgd.DataLoader(_stream(tgd, n), **kw))
    want = _values(tud.DataLoader(_stream(tud, n), **kw))
    assert got == want
    assert len(tgd.DataLoader(_stream(tgd, n), **kw)) == \
        len(tud.DataLoader(_stream(tud, n), **kw))


def test_iterable_of_device_tensors_is_stacked_on_the_device(device, rng):
    rows = rng.standard_normal((5, 3))
    labels = rng.integers(0, 4, 5)

    def make(i):
        return {"x": tg.tensor(put(rows[i], device)), "y": (int(labels[i]), f"s{i}")}

    batches = list(tgd.DataLoader(_stream(tgd, 5, make=make), batch_size=2))
    assert [b["x"].shape for b in batches] == [(2, 3), (2, 3), (1, 3)]
    assert all(on(b["x"], device) for b in batches)
    np.testing.assert_array_equal(np.concatenate([host(b["x"]) for b in batches]), rows)
    assert sum((host(b["y"][0]).tolist() for b in batches), []) == labels.tolist()
    assert batches[2]["y"][1] == ["s4"]
    # unbatched: the samples as they come (default_convert leaves tensors alone)
    single = list(tgd.DataLoader(_stream(tgd, 2, make=make), batch_size=None))
    assert single[1]["x"].shape == (3,) and on(single[1]["x"], device)


def test_iterable_refuses_shuffle_sampler_and_batch_sampler_as_torch():
    for kw in (dict(shuffle=True), dict(sampler=[0, 1]), dict(batch_sampler=[[0, 1]])):
        with pytest.raises(ValueError, match="DataLoader with IterableDataset: expected "
                                             "unspecified") as ours:
            tgd.DataLoader(_stream(tgd, 3), **kw)
        with pytest.raises(ValueError) as theirs:
            tud.DataLoader(_stream(tud, 3), **kw)
        assert str(ours.value).split(",")[0] == str(theirs.value).split(",")[0]
    assert len(tgd.DataLoader(_stream(tgd, 3), shuffle=False)) == 3  # shuffle=False is fine


def test_iterable_length_needs_len_and_warns_when_the_stream_runs_longer():
    loader = tgd.DataLoader(_stream(tgd, 4, with_len=False), batch_size=2)
    with pytest.raises(TypeError):
        len(loader)
    with pytest.raises(TypeError):
        len(tud.DataLoader(_stream(tud, 4, with_len=False), batch_size=2))
    assert _values(loader) == [[0, 1], [2, 3]]

    class Liar(tgd.IterableDataset):
        def __iter__(self):
            return iter(range(6))

        def __len__(self):
            return 3

    loader = tgd.DataLoader(Liar(), batch_size=2)
    assert len(loader) == 2
    with pytest.warns(UserWarning, match="was reported to be 2"):
        assert _values(loader) == [[0, 1], [2, 3], [4, 5]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # never asked for its length: no warning
        assert len(list(tgd.DataLoader(Liar(), batch_size=2))) == 3


def test_get_worker_info_is_none_in_the_loader_and_outside():
    ds = _stream(tgd, 3)
    assert list(tgd.DataLoader(ds, batch_size=None)) == [0, 1, 2]
    assert ds.info is None
    assert tgd.get_worker_info() is None and tud.get_worker_info() is None
    with pytest.raises(ValueError, match="num_workers option should be non-negative"):
        tgd.DataLoader(ds, num_workers=-1)
    info = tgd.WorkerInfo(id=0, num_workers=1, seed=3, dataset=ds)
    assert info.id == 0 and "num_workers=1" in repr(info)
    with pytest.raises(RuntimeError, match="Cannot assign attributes"):
        info.id = 1


def test_iterable_dataset_without_iter_and_map_only_loaders():
    with pytest.raises(NotImplementedError, match="must define __iter__"):
        iter(tgd.IterableDataset())
    with pytest.raises(TypeError, match="or be an IterableDataset"):
        tgd.DataLoader(object())


# ---- ChainDataset -----------------------------------------------------------------------------
def test_chain_dataset_as_torch():
    ours = tgd.ChainDataset([_stream(tgd, 2), _stream(tgd, 3)])
    theirs = tud.ChainDataset([_stream(tud, 2), _stream(tud, 3)])
    assert list(ours) == list(theirs) == [0, 1, 0, 1, 2]
    assert len(ours) == len(theirs) == 5
    added = _stream(tgd, 1) + _stream(tgd, 2)
    assert isinstance(added, tgd.ChainDataset) and list(added) == [0, 0, 1]
    assert _values(tgd.DataLoader(ours, batch_size=2)) == [[0, 1], [0, 1], [2]]


def test_chain_dataset_refuses_map_style_members_when_reached():
    chain = tgd.ChainDataset([_stream(tgd, 2), [7, 8]])
    it = iter(chain)
    assert [next(it), next(it)] == [0, 1]  # lazily, as PyTorch: the bad member when reached
    with pytest.raises(TypeError, match="ChainDataset only supports IterableDataset, got a list"):
        next(it)
    with pytest.raises(TypeError, match="only supports IterableDataset"):
        len(chain)
    with pytest.raises(AssertionError):  # PyTorch's is an assertion
        list(tud.ChainDataset([_stream(tud, 2), [7, 8]]))
    with pytest.raises(TypeError, match="ConcatDataset does not support IterableDataset"):
        tgd.ConcatDataset([[1, 2], _stream(tgd, 2)])


# ---- StackDataset -----------------------------------------------------------------------------
def test_stack_dataset_tuple_and_dict_as_torch():
    a, b = [10, 20, 30], ["x", "y", "z"]
    for mod in (tgd, tud):
        assert mod.StackDataset(a, b)[1] == (20, "y")
        assert mod.StackDataset(p=a, q=b)[2] == {"p": 30, "q": "z"}
        assert len(mod.StackDataset(a, b)) == 3
    ours, theirs = tgd.StackDataset(p=a, q=b), tud.StackDataset(p=a, q=b)
    assert ours.__getitems__([2, 0]) == theirs.__getitems__([2, 0])
    assert tgd.StackDataset(a, b).__getitems__([1]) == tud.StackDataset(a, b).__getitems__([1])


@pytest.mark.parametrize("args, kwargs, match", [
    ((), {}, "at least one dataset"),
    (([1],), {"x": [1]}, "both types are given"),
    (([1], [1, 2]), {}, "size mismatch"),
    ((), {"x": [1], "y": [1, 2]}, "size mismatch"),
])
def test_stack_dataset_refuses_as_torch(args, kwargs, match):
    with pytest.raises(ValueError):
        tud.StackDataset(*args, **kwargs)
    with pytest.raises(ValueError, match=match):
        tgd.StackDataset(*args, **kwargs)


def test_stack_dataset_in_a_loader_on_the_device(device, rng):
    x = rng.standard_normal((5, 2))
    y = rng.integers(0, 3, 5)
    images = tgd.TensorDataset(tg.tensor(put(x, device)))
    ds = tgd.StackDataset(img=images, label=y.tolist())
    batches = list(tgd.DataLoader(ds, batch_size=2))
    assert len(batches) == 3
    (first,) = batches[0]["img"]
    assert on(first, device) and first.shape == (2, 2)
    np.testing.assert_array_equal(host(first), x[:2])
    assert sum((host(b["label"]).tolist() for b in batches), []) == y.tolist()
    pairs = list(tgd.DataLoader(tgd.StackDataset(x.tolist(), y.tolist()), batch_size=5))
    np.testing.assert_allclose(np.stack(host(pairs[0][0]), axis=1), x)


# ---- WeightedRandomSampler --------------------------------------------------------------------
def test_weighted_sampler_with_replacement_follows_the_weights():
    w = np.array([1.0, 0.0, 3.0, 6.0])
    n = 20000
    draws = list(tgd.WeightedRandomSampler(w, n, generator=0))
    assert len(draws) == n and set(draws) <= {0, 2, 3}
    freq = np.bincount(draws, minlength=4) / n
    p = w / w.sum()
    sigma = np.sqrt(p * (1 - p) / n)
    assert np.all(np.abs(freq - p) <= 5 * sigma + 1e-12), (freq, p)


def test_weighted_sampler_without_replacement_draws_one_after_another():
    w = np.array([1.0, 2.0, 0.0, 5.0, 2.0])
    sampler = tgd.WeightedRandomSampler(w, 3, replacement=False, generator=1)
    firsts, seconds = [], []
    for _ in range(6000):
        s = list(sampler)  # a new draw at each iteration
        assert len(s) == 3 and len(set(s)) == 3 and 2 not in s
        firsts.append(s[0])
        seconds.append(s[1])
    n = len(firsts)
    p = w / w.sum()
    freq = np.bincount(firsts, minlength=5) / n
    assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / n) + 1e-12), freq
    # the second index, given the first was 3: in proportion to the weights left
    after3 = [b for a, b in zip(firsts, seconds) if a == 3]
    q = np.array([1.0, 2.0, 0.0, 0.0, 2.0]) / 5
    freq2 = np.bincount(after3, minlength=5) / len(after3)
    assert np.all(np.abs(freq2 - q) <= 5 * np.sqrt(q * (1 - q) / len(after3)) + 1e-12)
    # every index, the zero-weight one last (as PyTorch's multinomial)
    for mod in (tgd, tud):
        full = list(mod.WeightedRandomSampler(w, 5, replacement=False))
        assert sorted(full) == [0, 1, 2, 3, 4] and full[-1] == 2


def test_weighted_sampler_generators_repeat_their_draws(device):
    w = [0.5, 1.5, 2.0, 1.0]
    a = list(tgd.WeightedRandomSampler(w, 50, generator=7))
    assert a == list(tgd.WeightedRandomSampler(w, 50, generator=7))
    g = tg.Generator().manual_seed(3)
    first = list(tgd.WeightedRandomSampler(w, 50, generator=g))
    g.manual_seed(3)
    assert list(tgd.WeightedRandomSampler(w, 50, generator=g)) == first
    tg.manual_seed(5)
    s = tgd.WeightedRandomSampler(tg.tensor(put(np.array(w), device)), 50)  # weights on device
    glob = list(s)
    assert list(s) != glob  # the global generator moved on
    tg.manual_seed(5)
    assert list(s) == glob
    assert s.weights.dtype == np.float64 and s.weights.shape == (4,)


def test_weighted_sampler_refuses_a_device_generator(cuda_device):
    with pytest.raises(RuntimeError, match="Expected a 'cpu' device type for generator"):
        tgd.WeightedRandomSampler([1.0, 2.0], 2, generator=tg.Generator(device=cuda_device))


def test_weighted_sampler_in_a_loader():
    ds = tgd.TensorDataset(tg.arange(6))
    sampler = tgd.WeightedRandomSampler([0, 0, 1, 0, 0, 1], 8, generator=2)
    (batch,), (rest,) = tgd.DataLoader(ds, batch_size=6, sampler=sampler)
    assert len(batch) == 6 and len(rest) == 2
    assert set(batch.tolist() + rest.tolist()) <= {2, 5}


@pytest.mark.parametrize("args, kwargs, match", [
    (([1.0, 2.0], 0), {}, "num_samples should be a positive integer"),
    (([1.0, 2.0], True), {}, "num_samples should be a positive integer"),
    (([1.0, 2.0], 2.0), {}, "num_samples should be a positive integer"),
    (([1.0, 2.0], 1), {"replacement": 1}, "replacement should be a boolean"),
    (([[1.0, 2.0]], 1), {}, r"weights should be a 1d sequence .* shape \(1, 2\)"),
])
def test_weighted_sampler_refuses_bad_arguments_as_torch(args, kwargs, match):
    with pytest.raises(ValueError):
        tud.WeightedRandomSampler(*args, **kwargs)
    with pytest.raises(ValueError, match=match):
        tgd.WeightedRandomSampler(*args, **kwargs)


@pytest.mark.parametrize("weights, n, replacement, match", [
    ([1.0, -1.0], 1, True, "element < 0"),
    ([1.0, math.nan], 1, True, "nan"),
    ([1.0, math.inf], 1, False, "inf"),
    ([0.0, 0.0], 1, True, "sum of probabilities <= 0"),
    ([1.0, 2.0], 3, False, "cannot sample n_sample > prob_dist.size"),
])
def test_weighted_sampler_bad_weights_fail_when_drawn_as_torch(weights, n, replacement, match):
    ours = tgd.WeightedRandomSampler(weights, n, replacement)  # accepted when made
    theirs = tud.WeightedRandomSampler(weights, n, replacement)
    with pytest.raises(RuntimeError):
        list(theirs)
    with pytest.raises(RuntimeError, match=match):
        list(ours)


@pytest.mark.parametrize("name", ["WeightedRandomSampler", "StackDataset", "ChainDataset",
                                  "DataLoader"])
def test_signatures_are_torchs(name):
    from devices import assert_takes_torchs_parameters, torch_param_names

    ours, theirs = getattr(tgd, name).__init__, getattr(tud, name).__init__
    assert_takes_torchs_parameters(name, ours, torch_param_names(theirs))


def test_dataloader_pin_memory_device_is_torchs_keyword():
    ds = tgd.TensorDataset(tg.arange(4.0))
    loader = tgd.DataLoader(ds, batch_size=2, pin_memory=True, pin_memory_device="cuda")
    assert loader.pin_memory_device == "cuda" and len(list(loader)) == 2
    with pytest.raises(ValueError, match="DataLoader: pin_memory_device must be '' or a cuda"):
        tgd.DataLoader(ds, pin_memory_device="xpu")
