"""tensorgrad.utils.data: datasets, samplers, collation and the DataLoader, as PyTorch's."""

import collections

import numpy as np
import pytest
from devices import host, on, put

import tensorgrad as tg
from tensorgrad.utils.data import (
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    default_collate,
    random_split,
)


class Squares(Dataset):
    """A plain map-style data set: (array, int, float, dict) samples."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.full(3, i, np.float32), i, float(i) / 2, {"sq": i * i, "name": f"s{i}"}


def test_tensor_dataset_rows_and_length(device):
    x = tg.arange(12, dtype="float32", device=device).reshape(6, 2)
    y = put(np.arange(6), device)
    ds = TensorDataset(x, y)
    assert len(ds) == 6
    xi, yi = ds[4]
    assert host(xi).tolist() == [8.0, 9.0] and int(host(yi)) == 4


def test_tensor_dataset_names_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\(5, 2\).*\(4,\)"):
        TensorDataset(tg.zeros(5, 2), tg.zeros(4))
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()
    with pytest.raises(ValueError, match="first"):
        TensorDataset(tg.tensor(3.0))


@pytest.mark.parametrize("drop_last", [False, True])
def test_loader_batches_in_order_on_the_device(device, drop_last):
    x = np.random.default_rng(0).standard_normal((10, 3)).astype(np.float32)
    y = np.arange(10)
    loader = DataLoader(TensorDataset(tg.tensor(x, device=device), tg.tensor(y, device=device)),
                        batch_size=4, drop_last=drop_last)
    batches = list(loader)
    assert len(loader) == len(batches) == (2 if drop_last else 3)
    for k, (xb, yb) in enumerate(batches):
        assert on(xb, device) and on(yb, device)
        np.testing.assert_array_equal(host(xb), x[4 * k:4 * k + 4])
        np.testing.assert_array_equal(host(yb), y[4 * k:4 * k + 4])
        assert xb.dtype == np.float32 and yb.dtype == np.int64


def test_the_fast_path_gives_what_default_collate_gives(device):
    x = tg.randn(9, 2, 2, device=device)
    ds = TensorDataset(x, tg.arange(9, device=device))
    fast = list(DataLoader(ds, batch_size=4, shuffle=True, generator=3))
    slow = list(DataLoader(ds, batch_size=4, shuffle=True, generator=3,
                           collate_fn=lambda b: default_collate(b)))
    for (a, i), (b, j) in zip(fast, slow, strict=True):
        assert on(a, device) and on(b, device) and a.dtype == b.dtype
        np.testing.assert_array_equal(host(a), host(b))
        np.testing.assert_array_equal(host(i), host(j))


def test_shuffle_is_a_permutation_and_follows_manual_seed():
    ds = TensorDataset(tg.arange(20))

    def epoch(loader):
        return np.concatenate([host(b) for (b,) in loader]).tolist()

    tg.manual_seed(1)
    loader = DataLoader(ds, batch_size=6, shuffle=True)
    a, b = epoch(loader), epoch(loader)
    assert sorted(a) == sorted(b) == list(range(20))
    assert a != b and a != list(range(20))  # a new order every epoch
    tg.manual_seed(1)
    assert epoch(DataLoader(ds, batch_size=6, shuffle=True)) == a
    state = tg.get_rng_state()
    c = epoch(loader)
    tg.set_rng_state(state)
    assert epoch(loader) == c


@pytest.mark.parametrize("make", [lambda: 7, lambda: np.random.default_rng(7)],
                         ids=["int", "numpy"])
def test_a_given_generator_is_private_and_repeatable(make):
    ds = TensorDataset(tg.arange(15))
    orders = []
    for _ in range(2):
        tg.manual_seed(0)
        loader = DataLoader(ds, batch_size=15, shuffle=True, generator=make())
        tg.rand(5)  # the global RNG does not matter
        orders.append([host(b).tolist() for (b,) in loader] + [host(b).tolist()
                                                                for (b,) in loader])
    assert orders[0] == orders[1]
    assert orders[0][0] != orders[0][1]  # the private generator advances between epochs


def test_bad_generators_are_refused():
    with pytest.raises(TypeError, match="generator"):
        RandomSampler(range(3), generator="seed")
    with pytest.raises(TypeError, match="generator"):
        random_split(range(3), [1, 2], generator=1.5)


def test_default_collate_stacks_arrays_numbers_and_recurses():
    batch = default_collate([Squares(5)[i] for i in (1, 3)])
    arr, ints, floats, d = batch
    assert arr.shape == (2, 3) and arr.dtype == np.float32
    assert ints.tolist() == [1, 3] and ints.dtype == np.int64
    assert floats.tolist() == [0.5, 1.5] and floats.dtype == np.float64  # as PyTorch's
    assert d["sq"].tolist() == [1, 9] and d["name"] == ["s1", "s3"]
    assert default_collate([True, False]).dtype == np.bool_
    assert default_collate([np.float32(1), np.float32(2)]).dtype == np.float32
    Point = collections.namedtuple("Point", "x y")
    p = default_collate([Point(1, 2.0), Point(3, 4.0)])
    assert isinstance(p, Point) and p.x.tolist() == [1, 3]


def test_default_collate_keeps_the_device(device):
    rows = [tg.ones(2, device=device) * i for i in range(3)]
    out = default_collate(rows)
    assert on(out, device) and host(out).tolist() == [[0, 0], [1, 1], [2, 2]]


def test_default_collate_errors():
    with pytest.raises(RuntimeError, match="same shape"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([(1, 2), (1,)])
    with pytest.raises(TypeError, match="found object"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="non-empty"):
        default_collate([])


def test_loader_over_a_plain_dataset():
    loader = DataLoader(Squares(5), batch_size=2)
    batches = list(loader)
    assert len(loader) == 3 and len(batches) == 3
    assert batches[-1][0].shape == (1, 3) and batches[0][3]["name"] == ["s0", "s1"]


def test_loader_without_batching_converts_samples():
    loader = DataLoader(Squares(3), batch_size=None)
    assert len(loader) == 3
    first = next(iter(loader))
    assert isinstance(first[0], tg.Tensor) and first[1] == 0


def test_samplers():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3]
    s = RandomSampler(range(5), generator=0)
    assert sorted(s) == [0, 1, 2, 3, 4] and len(s) == 5
    r = list(RandomSampler(range(3), replacement=True, num_samples=10, generator=0))
    assert len(r) == 10 and set(r) <= {0, 1, 2}
    long = list(RandomSampler(range(3), num_samples=7, generator=0))
    assert len(long) == 7 and sorted(long[:3]) == [0, 1, 2]
    assert sorted(SubsetRandomSampler([5, 7, 9], generator=1)) == [5, 7, 9]
    assert list(BatchSampler(range(7), 3, drop_last=True)) == [[0, 1, 2], [3, 4, 5]]
    assert len(BatchSampler(range(7), 3, drop_last=False)) == 3
    loader = DataLoader(Squares(6), batch_sampler=[[5, 0], [2]])
    assert [b[1].tolist() for b in loader] == [[5, 0], [2]]
    loader = DataLoader(Squares(4), sampler=[3, 1], batch_size=2)
    assert [b[1].tolist() for b in loader] == [[3, 1]]


@pytest.mark.parametrize("kwargs, error, match", [
    ({"batch_size": 0}, ValueError, "batch_size should be a positive integer"),
    ({"batch_size": -3}, ValueError, "batch_size should be a positive integer"),
    ({"batch_size": 2.5}, ValueError, "batch_size should be a positive integer"),
    ({"batch_size": True}, ValueError, "batch_size should be a positive integer"),
    ({"shuffle": True, "sampler": [0, 1]}, ValueError, "sampler option is mutually exclusive"),
    ({"batch_sampler": [[0]], "batch_size": 2}, ValueError, "batch_sampler option"),
    ({"batch_sampler": [[0]], "shuffle": True}, ValueError, "batch_sampler option"),
    ({"batch_sampler": [[0]], "drop_last": True}, ValueError, "batch_sampler option"),
    ({"batch_sampler": [[0]], "sampler": [0]}, ValueError, "batch_sampler option"),
    ({"batch_size": None, "drop_last": True}, ValueError, "drop_last"),
    ({"shuffle": "yes"}, TypeError, "shuffle should be a boolean"),
    ({"drop_last": 1}, TypeError, "drop_last should be a boolean"),
    ({"num_workers": -1}, ValueError, "num_workers option should be non-negative"),
])
def test_loader_misuse_is_a_clear_error(kwargs, error, match):
    with pytest.raises(error, match=match):
        DataLoader(Squares(4), **kwargs)


def test_loader_needs_a_map_style_dataset():
    with pytest.raises(TypeError, match="__getitem__ and __len__"):
        DataLoader(iter([1, 2, 3]))


def test_subset_concat_and_random_split():
    ds = TensorDataset(tg.arange(10) * 10)
    sub = Subset(ds, [9, 2, 4])
    assert len(sub) == 3 and sub[0][0].item() == 90
    assert [host(b).tolist() for (b,) in DataLoader(sub, batch_size=2)] == [[90, 20], [40]]
    both = ConcatDataset([Squares(2), Squares(3)])
    assert len(both) == 5 and both[3][1] == 1 and both[-1][1] == 2
    assert len(Squares(2) + Squares(2)) == 4

    tg.manual_seed(3)
    a, b = random_split(ds, [7, 3])
    assert len(a) == 7 and len(b) == 3
    assert sorted(a.indices + b.indices) == list(range(10))
    tg.manual_seed(3)
    a2, _ = random_split(ds, [7, 3])
    assert a2.indices == a.indices  # the global RNG, seeded
    parts = random_split(range(11), [0.5, 0.3, 0.2], generator=0)
    assert [len(p) for p in parts] == [6, 3, 2]  # floor 5, 3, 2, remainder to the first
    with pytest.raises(ValueError, match="does not equal the length"):
        random_split(range(10), [3, 3])
    with pytest.raises(ValueError, match="non-negative integers"):
        random_split(range(10), [12, -2])
    with pytest.warns(UserWarning, match="length of split at index 1 is 0"):
        random_split(range(2), [0.9, 0.1], generator=0)
