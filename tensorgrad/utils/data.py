"""``tensorgrad.utils.data``: PyTorch's data-loading names over tensors, NumPy arrays and numbers.

A ``Dataset`` answers ``len(ds)`` and ``ds[i]``; a ``DataLoader`` walks it in batches, drawing
indices from a sampler and stacking the samples with ``default_collate``. Loading happens in the
calling process (no workers): put the data on its device before, as a ``TensorDataset`` of cuda
tensors, or move each batch with ``.to(device)``; with ``pin_memory=True`` the batches come in
pinned host memory, so that ``.to("cuda", non_blocking=True)`` copies them asynchronously.

Randomness (``shuffle=True``, ``RandomSampler``, ``random_split``) takes ``generator=``:

- ``None`` (the default): tensorgrad's global CPU generator, the one ``tg.manual_seed`` seeds
  and ``tg.get_rng_state``/``tg.set_rng_state`` save and restore. A seeded run shuffles the
  same way every time, and a run resumed with its RNG state shuffles as the uninterrupted one.
- a ``tg.Generator`` (on the CPU, as PyTorch's samplers require): drawn from, so its seed or
  state decides the order, and the global generator is not advanced; ``tg.default_generator``
  is the global one. The orders are not PyTorch's for the same seed (other bit generators).
- an ``int``: a private generator seeded with it (its state advances from epoch to epoch, as a
  ``torch.Generator`` given to a PyTorch ``DataLoader`` does).
- a ``numpy.random.Generator``: drawn from directly.

>>> import tensorgrad as tg
>>> from tensorgrad.utils.data import DataLoader, TensorDataset
>>> ds = TensorDataset(tg.arange(10).reshape(5, 2), tg.tensor([0, 1, 0, 1, 1]))
>>> [(x.shape, y.tolist()) for x, y in DataLoader(ds, batch_size=2)]
[((2, 2), [0, 1]), ((2, 2), [0, 1]), ((1, 2), [1])]
"""

import bisect
import itertools
import math
import numbers
import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from ..backend.device import _CUPY_ARRAY, cuda_available, device_of, xp_of
from ..tensor import Tensor, _new_tensor

__all__ = [
    "Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "DataLoader",
    "default_collate", "default_convert", "Sampler", "SequentialSampler", "RandomSampler",
    "SubsetRandomSampler", "BatchSampler", "DistributedSampler", "IterableDataset",
    "ChainDataset", "StackDataset", "WeightedRandomSampler", "get_worker_info", "WorkerInfo",
]


# ---- generators -------------------------------------------------------------------------------
def _global_generator():
    from ..creation import _rng

    return _rng["cpu"]  # looked up at each draw: tg.manual_seed replaces the object


def _as_generator(generator, who):
    """``generator=`` as a function returning the numpy Generator to draw from."""
    from ..creation import Generator

    if generator is None:
        return _global_generator
    if isinstance(generator, Generator):
        if generator.device.type != "cpu":
            raise RuntimeError(f"{who}: Expected a 'cpu' device type for generator but found "
                               f"'{generator.device.type}' (the generator is on "
                               f"{generator.device}; indices are drawn on the cpu)")
        return generator._backend  # looked up at each draw: manual_seed replaces the object
    if isinstance(generator, np.random.Generator):
        return lambda: generator
    if isinstance(generator, numbers.Integral) and not isinstance(generator, bool):
        g = np.random.default_rng(int(generator))
        return lambda: g
    raise TypeError(f"{who}: generator must be None (tensorgrad's global RNG, seeded by "
                    f"tg.manual_seed), a tg.Generator, an int seed or a "
                    f"numpy.random.Generator, got {type(generator).__name__}")


def _check_positive_int(value, name, who):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{who}: {name} should be a positive integer, got {value!r}")
    return int(value)


# ---- datasets ---------------------------------------------------------------------------------
class Dataset:
    """A map-style data set: subclasses define ``__getitem__(index)`` and ``__len__()``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A data set that is a stream: subclasses define ``__iter__()`` (and may define
    ``__len__``). A ``DataLoader`` over one takes the samples in the order the iterator yields
    them (no sampler, no shuffle) and batches them as they come; ``a + b`` chains two.

    tensorgrad loads in the calling process, so ``get_worker_info()`` is None inside
    ``__iter__`` and there is no per-worker sharding to do.

    >>> class Count(IterableDataset):
    ...     def __iter__(self):
    ...         return iter(range(5))
    >>> [b.tolist() for b in DataLoader(Count(), batch_size=2)]
    [[0, 1], [2, 3], [4]]
    """

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __add__(self, other):
        return ChainDataset([self, other])


class TensorDataset(Dataset):
    """Samples are the rows of ``tensors`` (Tensors or arrays sharing their first dimension):
    ``ds[i] == (t0[i], t1[i], ...)``.

    >>> import tensorgrad as tg
    >>> ds = TensorDataset(tg.zeros(4, 3), tg.arange(4))
    >>> len(ds), ds[2][1].item()
    (4, 2)
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: needs at least one tensor")
        for t in tensors:
            if not hasattr(t, "shape") or len(t.shape) == 0:
                raise ValueError(f"TensorDataset: every tensor needs a first (sample) "
                                 f"dimension, got {type(t).__name__} of shape "
                                 f"{getattr(t, 'shape', None)}")
        shapes = [tuple(t.shape) for t in tensors]
        if len({s[0] for s in shapes}) != 1:
            raise ValueError(f"TensorDataset: size mismatch between tensors: their first "
                             f"dimensions must agree, got shapes {shapes}")
        self.tensors = tuple(tensors)

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]

    def _collated(self, indices):
        """The batch ``default_collate([self[i] for i in indices])`` would make, by one
        fancy-index per tensor instead of a stack of single rows."""
        idx = np.asarray(indices, dtype=np.int64)
        out = []
        for t in self.tensors:
            if isinstance(t, Tensor):
                out.append(t[device_of(t.data).put(idx)])
            elif isinstance(t, (np.ndarray, _CUPY_ARRAY)):
                out.append(_new_tensor(t[device_of(t).put(idx)], None, False))
            else:
                return None  # something else: the general path
        return out


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, index):
        if isinstance(index, list):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __len__(self):
        return len(self.indices)

    def _collated(self, indices):
        inner = getattr(self.dataset, "_collated", None)
        return None if inner is None else inner([self.indices[i] for i in indices])


class ConcatDataset(Dataset):
    """Several data sets one after the other."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for i, d in enumerate(self.datasets):
            if isinstance(d, IterableDataset):
                raise TypeError(f"ConcatDataset does not support IterableDataset (datasets[{i}] "
                                f"is a {type(d).__name__}); use ChainDataset")
        self.cumulative_sizes = list(np.cumsum([len(d) for d in self.datasets]).tolist())

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        if index < 0:
            if -index > len(self):
                raise IndexError(f"ConcatDataset: index {index} out of range for length "
                                 f"{len(self)}")
            index += len(self)
        which = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][index - start]


def _only_iterable(d, who):
    if not isinstance(d, IterableDataset):
        raise TypeError(f"{who} only supports IterableDataset, got a {type(d).__name__}")
    return d


class ChainDataset(IterableDataset):
    """Several ``IterableDataset``s one after the other, chained as they are iterated;
    ``len`` is the sum of their lengths. Anything else in ``datasets`` is refused when it is
    reached (PyTorch raises an AssertionError there; here a TypeError).

    >>> class Count(IterableDataset):
    ...     def __init__(self, n):
    ...         self.n = n
    ...     def __iter__(self):
    ...         return iter(range(self.n))
    ...     def __len__(self):
    ...         return self.n
    >>> chain = ChainDataset([Count(2), Count(3)])
    >>> list(chain), len(chain)
    ([0, 1, 0, 1, 2], 5)
    """

    def __init__(self, datasets):
        self.datasets = datasets

    def __iter__(self):
        for d in self.datasets:
            yield from _only_iterable(d, "ChainDataset")

    def __len__(self):
        return sum(len(_only_iterable(d, "ChainDataset")) for d in self.datasets)


class StackDataset(Dataset):
    """Samples of several data sets of one length side by side: ``StackDataset(a, b)[i] ==
    (a[i], b[i])``, or with keywords ``StackDataset(x=a, y=b)[i] == {"x": a[i], "y": b[i]}``.

    >>> ds = StackDataset(x=[10, 20, 30], y=["a", "b", "c"])
    >>> len(ds), ds[1]
    (3, {'x': 20, 'y': 'b'})
    """

    def __init__(self, *args, **kwargs):
        if args and kwargs:
            raise ValueError("StackDataset: supported either tuple-like (via args) or dict-like "
                             "(via kwargs) input/output, but both types are given")
        if not args and not kwargs:
            raise ValueError("StackDataset: at least one dataset should be passed")
        datasets = args if args else kwargs
        parts = list(datasets.values()) if kwargs else list(args)
        lengths = [len(d) for d in parts]
        if len(set(lengths)) != 1:
            names = list(kwargs) if kwargs else list(range(len(args)))
            raise ValueError(f"StackDataset: size mismatch between datasets: lengths "
                             f"{dict(zip(names, lengths))}")
        self._length = lengths[0]
        self.datasets = datasets

    def __getitem__(self, index):
        if isinstance(self.datasets, dict):
            return {k: d[index] for k, d in self.datasets.items()}
        return tuple(d[index] for d in self.datasets)

    def __getitems__(self, indices):
        """The samples at ``indices`` (a list), as PyTorch's: a data set with its own
        ``__getitems__`` is asked for all of them at once."""
        named = isinstance(self.datasets, dict)
        parts = list(self.datasets.values()) if named else list(self.datasets)
        columns = []
        for d in parts:
            many = getattr(d, "__getitems__", None)
            col = many(indices) if many else [d[i] for i in indices]
            if len(col) != len(indices):
                raise ValueError(f"StackDataset: nested dataset's output size mismatch: "
                                 f"expected {len(indices)}, got {len(col)}")
            columns.append(col)
        if named:
            keys = list(self.datasets)
            return [dict(zip(keys, row)) for row in zip(*columns)]
        return [tuple(row) for row in zip(*columns)]

    def __len__(self):
        return self._length


def random_split(dataset, lengths, generator=None):
    """Split ``dataset`` into non-overlapping ``Subset``s of the given ``lengths``: integers
    summing to ``len(dataset)``, or fractions summing to 1 (each part gets
    ``floor(n * fraction)`` and the remainder goes one by one to the first parts, as PyTorch).

    >>> import tensorgrad as tg
    >>> a, b = random_split(range(10), [0.8, 0.2], generator=0)
    >>> len(a), len(b), sorted(list(a) + list(b)) == list(range(10))
    (8, 2, True)
    """
    n = len(dataset)
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        sizes = []
        for i, frac in enumerate(lengths):
            if not 0 <= frac <= 1:
                raise ValueError(f"random_split: fraction at index {i} is not between 0 and 1")
            sizes.append(int(math.floor(n * frac)))
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        for i, size in enumerate(sizes):
            if size == 0:
                warnings.warn(f"random_split: length of split at index {i} is 0; this might "
                              "result in an empty dataset", stacklevel=2)
        lengths = sizes
    for v in lengths:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
            raise ValueError(f"random_split: lengths must be non-negative integers or "
                             f"fractions summing to 1, got {lengths}")
    if sum(lengths) != n:
        raise ValueError(f"random_split: sum of input lengths ({sum(lengths)}) does not equal "
                         f"the length of the input dataset ({n})")
    perm = _as_generator(generator, "random_split")().permutation(n).tolist()
    out, offset = [], 0
    for length in lengths:
        out.append(Subset(dataset, perm[offset:offset + length]))
        offset += length
    return out


# ---- samplers ---------------------------------------------------------------------------------
class Sampler:
    """Yields indices into a data set (or, for a batch sampler, lists of them)."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError


class SequentialSampler(Sampler):
    """``0, 1, ..., len(data_source) - 1``."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random permutation of the indices each time it is iterated (or ``num_samples`` draws
    with ``replacement=True``), from ``generator`` (see the module's docstring)."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        if not isinstance(replacement, bool):
            raise TypeError(f"RandomSampler: replacement should be a boolean value, got "
                            f"{replacement!r}")
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        self._gen = _as_generator(generator, "RandomSampler")
        if num_samples is not None:
            _check_positive_int(num_samples, "num_samples", "RandomSampler")

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n = len(self.data_source)
        gen = self._gen()
        if self.replacement:
            return iter(gen.integers(0, n, size=self.num_samples).tolist())
        full, rest = divmod(self.num_samples, n) if n else (0, 0)
        parts = [gen.permutation(n) for _ in range(full)]
        if rest:
            parts.append(gen.permutation(n)[:rest])
        return iter(np.concatenate(parts).tolist() if parts else [])

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a random order each time."""

    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = generator
        self._gen = _as_generator(generator, "SubsetRandomSampler")

    def __iter__(self):
        return (self.indices[i] for i in self._gen().permutation(len(self.indices)).tolist())

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn from ``range(len(weights))`` with probabilities
    proportional to ``weights`` (need not sum to 1), as PyTorch's ``WeightedRandomSampler``:
    with ``replacement=True`` independently, without it each index at most once (drawn one
    after another from the weights of those left, as ``torch.multinomial``). Drawn afresh at
    each iteration from ``generator`` (see the module's docstring). Without replacement the
    zero-weight indices come only after all the others, in a random order (so ``num_samples``
    may reach ``len(weights)``, as in PyTorch). Invalid weights (negative, inf or nan, all
    zero) and ``num_samples > len(weights)`` without replacement raise a RuntimeError when the
    indices are drawn, as in PyTorch.

    >>> s = WeightedRandomSampler([0.0, 1.0, 0.0, 3.0], 2, replacement=False, generator=0)
    >>> len(s), sorted(s)
    (2, [1, 3])
    """

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        if isinstance(num_samples, bool) or not isinstance(num_samples, numbers.Integral) or \
                num_samples <= 0:
            raise ValueError(f"WeightedRandomSampler: num_samples should be a positive integer "
                             f"value, but got num_samples={num_samples!r}")
        if not isinstance(replacement, bool):
            raise ValueError(f"WeightedRandomSampler: replacement should be a boolean value, "
                             f"but got replacement={replacement!r}")
        if isinstance(weights, Tensor):
            weights = weights.detach().cpu().numpy()
        elif isinstance(weights, _CUPY_ARRAY):
            weights = weights.get()
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"WeightedRandomSampler: weights should be a 1d sequence but given "
                             f"weights have shape {tuple(w.shape)}")
        self.weights = _new_tensor(w, None, False)
        self.num_samples = int(num_samples)
        self.replacement = replacement
        self.generator = generator
        self._gen = _as_generator(generator, "WeightedRandomSampler")

    def __iter__(self):
        w = self.weights.data
        who = "WeightedRandomSampler"
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise RuntimeError(f"{who}: probability tensor contains either `inf`, `nan` or "
                               f"element < 0 (weights of shape {tuple(w.shape)})")
        total = w.sum()
        if not total > 0:
            raise RuntimeError(f"{who}: invalid multinomial distribution (sum of probabilities "
                               "<= 0)")
        gen = self._gen()
        if self.replacement:
            picks = gen.choice(len(w), size=self.num_samples, replace=True, p=w / total)
        else:
            if self.num_samples > len(w):
                raise RuntimeError(f"{who}: cannot sample n_sample > prob_dist.size(-1) samples "
                                   f"without replacement ({self.num_samples} > {len(w)})")
            # exponential race (Efraimidis & Spirakis): the order of E_i / w_i is that of
            # drawing one index after another in proportion to the weights left; zero weights
            # (key inf) come after every positive one, in a random order, as in PyTorch
            with np.errstate(divide="ignore"):
                keys = gen.standard_exponential(len(w)) / w
            picks = np.lexsort((gen.random(len(w)), keys))[:self.num_samples]
        yield from picks.tolist()

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Groups the indices of ``sampler`` into lists of ``batch_size`` (the last one shorter,
    or dropped with ``drop_last=True``).

    >>> list(BatchSampler(SequentialSampler(range(5)), batch_size=2, drop_last=False))
    [[0, 1], [2, 3], [4]]
    """

    def __init__(self, sampler, batch_size, drop_last):
        self.batch_size = _check_positive_int(batch_size, "batch_size", "BatchSampler")
        if not isinstance(drop_last, bool):
            raise ValueError(f"BatchSampler: drop_last should be a boolean value, got "
                             f"{drop_last!r}")
        self.sampler = sampler
        self.drop_last = drop_last

    def __iter__(self):
        batch = []
        for i in self.sampler:
            batch.append(i)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


class DistributedSampler(Sampler):
    """Rank ``rank``'s share of ``dataset`` for data-parallel training, as PyTorch's
    ``DistributedSampler``: the indices, shuffled with ``seed + epoch`` (the same permutation on
    every rank), are dealt round-robin to ``num_replicas`` ranks, so the shards are disjoint and
    together cover the data set. Unless ``drop_last``, the list is first padded with its own
    first indices up to a multiple of ``num_replicas`` (every rank gets the same number of
    samples, a few seen twice); with ``drop_last`` the tail is dropped instead. ``num_replicas``
    and ``rank`` default to the world size and rank of ``tensorgrad.distributed``'s group. Call
    ``set_epoch(epoch)`` before each epoch, or every epoch shuffles the same way.

    The shard sizes and the padding are PyTorch's; the permutation itself is NumPy's
    (``default_rng(seed + epoch)``), not torch's ``randperm``.

    >>> DS = DistributedSampler
    >>> [list(DS(range(5), num_replicas=2, rank=r, shuffle=False)) for r in (0, 1)]
    [[0, 2, 4], [1, 3, 0]]
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0,
                 drop_last=False):
        if num_replicas is None or rank is None:
            from .. import distributed as dist

            if not dist.is_initialized():
                raise RuntimeError("DistributedSampler: num_replicas and rank default to the "
                                   "process group's, which is not initialized; call "
                                   "tensorgrad.distributed.init_process_group() first or pass "
                                   "both")
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        num_replicas = _check_positive_int(num_replicas, "num_replicas", "DistributedSampler")
        if isinstance(rank, bool) or not isinstance(rank, numbers.Integral) or not (
                0 <= rank < num_replicas):
            raise ValueError(f"DistributedSampler: invalid rank {rank!r}, rank should be in "
                             f"the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = int(rank)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        n = len(dataset)
        if self.drop_last and n % num_replicas:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            order = np.random.default_rng(self.seed + self.epoch).permutation(n)
        else:
            order = np.arange(n)
        if self.drop_last:
            order = order[:self.total_size]
        elif self.total_size > n:
            order = np.resize(order, self.total_size)  # repeats the list from its start
        return iter(order[self.rank:self.total_size:self.num_replicas].tolist())

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        """The epoch whose shuffle the next iteration draws (the same on every rank)."""
        self.epoch = int(epoch)


# ---- collation --------------------------------------------------------------------------------
def _is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(x, "_fields")


def _stack_arrays(batch):
    if batch[0].dtype.hasobject or batch[0].dtype.kind in "SUV":
        raise TypeError(f"default_collate: cannot make a tensor of arrays of dtype "
                        f"{batch[0].dtype}")
    shapes = {tuple(a.shape) for a in batch}
    if len(shapes) > 1:
        raise RuntimeError(f"default_collate: arrays in a batch must have the same shape, got "
                           f"{sorted(shapes)}")
    return _new_tensor(xp_of(batch[0]).stack(batch), None, False)


def default_collate(batch):
    """A list of samples -> one batch, as PyTorch's ``default_collate``: Tensors are stacked
    (on their device), NumPy (and CuPy) arrays and NumPy scalars become a tensor of their
    dtype, Python ints int64, floats float64 and bools bool tensors; strings stay a list;
    dicts, tuples and lists are collated field by field (a tuple gives a list, as PyTorch's).

    >>> import numpy as np
    >>> x, y = default_collate([(np.zeros(3, np.float32), 1), (np.ones(3, np.float32), 0)])
    >>> x.shape, x.dtype, y.tolist(), y.dtype
    ((2, 3), dtype('float32'), [1, 0], dtype('int64'))
    """
    if not isinstance(batch, Sequence) or isinstance(batch, (str, bytes)) or not batch:
        raise TypeError(f"default_collate: expected a non-empty list of samples, got "
                        f"{type(batch).__name__}")
    elem = batch[0]
    if isinstance(elem, Tensor):
        from ..ops import stack

        if not all(isinstance(b, Tensor) for b in batch):
            raise TypeError("default_collate: a batch mixes Tensors with other types")
        shapes = {tuple(b.shape) for b in batch}
        if len(shapes) > 1:
            raise RuntimeError(f"default_collate: tensors in a batch must have the same "
                               f"shape, got {sorted(shapes)}")
        return stack(batch)
    if isinstance(elem, (np.ndarray, _CUPY_ARRAY)):
        return _stack_arrays(batch)
    if isinstance(elem, np.generic):
        if isinstance(elem, (np.str_, np.bytes_)):
            return list(batch)
        return _new_tensor(np.array(batch), None, False)
    if isinstance(elem, bool):
        return _new_tensor(np.array(batch, dtype=np.bool_), None, False)
    if isinstance(elem, numbers.Integral):
        return _new_tensor(np.array(batch, dtype=np.int64), None, False)
    if isinstance(elem, float):
        return _new_tensor(np.array(batch, dtype=np.float64), None, False)
    if isinstance(elem, complex):
        return _new_tensor(np.array(batch, dtype=np.complex128), None, False)
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, Mapping):
        return {key: default_collate([d[key] for d in batch]) for key in elem}
    if _is_namedtuple(elem):
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, Sequence):
        if len({len(b) for b in batch}) != 1:
            raise RuntimeError("default_collate: each element in list of batch should be of "
                               "equal size")
        return [default_collate(list(s)) for s in zip(*batch)]
    raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, "
                    f"dicts or lists; found {type(elem).__name__}")


def default_convert(data):
    """One sample, unbatched (``batch_size=None``): NumPy arrays become tensors, containers are
    converted element by element, everything else is left as it is."""
    if isinstance(data, (np.ndarray, _CUPY_ARRAY)) and not data.dtype.hasobject \
            and data.dtype.kind not in "SUV":
        return _new_tensor(data, None, False)
    if isinstance(data, np.generic) and not isinstance(data, (np.str_, np.bytes_)):
        return _new_tensor(np.asarray(data), None, False)
    if isinstance(data, Mapping):
        return {k: default_convert(v) for k, v in data.items()}
    if _is_namedtuple(data):
        return type(data)(*(default_convert(v) for v in data))
    if isinstance(data, (tuple, list)):
        return type(data)(default_convert(v) for v in data)
    return data


# ---- the loader -------------------------------------------------------------------------------
class WorkerInfo:
    """What a loading worker process knows about itself (PyTorch's ``WorkerInfo``): ``id``,
    ``num_workers``, ``seed`` and its copy of ``dataset``. tensorgrad's ``DataLoader`` has no
    worker processes, so ``get_worker_info()`` never returns one; the class is here for code
    that names it."""

    def __init__(self, **kwargs):
        for k, v in kwargs.items():
            object.__setattr__(self, k, v)
        object.__setattr__(self, "_keys", tuple(kwargs))

    def __setattr__(self, key, val):
        raise RuntimeError(f"Cannot assign attributes to {type(self).__name__} objects")

    def __repr__(self):
        items = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._keys)
        return f"{type(self).__name__}({items})"


def get_worker_info():
    """None: the caller runs in the main process. (In PyTorch a ``DataLoader`` worker gets a
    ``WorkerInfo``, which an ``IterableDataset`` uses to shard its stream; tensorgrad loads in
    the calling process, ``num_workers=0``, so every ``__iter__`` sees None and yields the
    whole stream once.)

    >>> get_worker_info() is None
    True
    """
    return None


class _InfiniteConstantSampler(Sampler):
    """The sampler of a loader over an ``IterableDataset``: None forever (the data set's own
    iterator decides what comes and when it ends), as PyTorch's."""

    def __iter__(self):
        while True:
            yield None


def _pin_memory(data):
    """``data`` (a batch) with its tensors copied to pinned host memory, as PyTorch's
    DataLoader pins them: mappings, namedtuples and sequences are pinned element by element
    (a tuple becomes a list, as in PyTorch), objects with a ``pin_memory()`` method are asked to
    pin themselves, strings and everything else are left as they are."""
    if isinstance(data, Tensor):
        return data.pin_memory()
    if isinstance(data, (str, bytes)):
        return data
    if isinstance(data, Mapping):
        pinned = {k: _pin_memory(v) for k, v in data.items()}
        try:
            return type(data)(pinned)
        except TypeError:  # a mapping type that can't be built from a dict
            return pinned
    if _is_namedtuple(data):
        return type(data)(*(_pin_memory(v) for v in data))
    if isinstance(data, tuple):
        return [_pin_memory(v) for v in data]
    if isinstance(data, Sequence):
        try:
            return type(data)([_pin_memory(v) for v in data])
        except TypeError:
            return [_pin_memory(v) for v in data]
    if hasattr(data, "pin_memory"):
        return data.pin_memory()
    return data


class DataLoader:
    """Batches of ``dataset``, as PyTorch's ``DataLoader`` (in this process: ``num_workers``
    must be 0; move batches with ``.to(device)``).

    An ``IterableDataset`` is read in the order its iterator yields, ``batch_size`` samples at
    a time (the last batch shorter, or dropped with ``drop_last``; ``batch_size=None`` yields
    the samples one by one, converted by ``default_convert``); ``shuffle``, ``sampler`` and
    ``batch_sampler`` are refused for it, and ``len(loader)`` needs the data set's ``len``
    (warning if the stream then yields more batches than that), as in PyTorch.

    ``pin_memory=True`` copies the tensors of each batch to pinned host memory (in mappings,
    namedtuples and sequences, as PyTorch's; a tuple comes back a list), from which
    ``x.to("cuda", non_blocking=True)`` is an asynchronous copy. Where CUDA is not available it
    warns (a ``UserWarning``, at construction) and yields the batches unpinned, as PyTorch does.

    ``shuffle=True`` draws a new order every epoch from ``generator`` (default: tensorgrad's
    global RNG, so ``tg.manual_seed`` makes runs repeat); ``sampler`` or ``batch_sampler``
    choose the indices yourself; ``drop_last`` drops a last, short batch; ``collate_fn``
    turns a list of samples into a batch (default: ``default_collate``).

    >>> import tensorgrad as tg
    >>> _ = tg.manual_seed(0)
    >>> loader = DataLoader(TensorDataset(tg.arange(6)), batch_size=4, shuffle=True)
    >>> len(loader), [len(b) for (b,) in loader]
    (2, [4, 2])
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False,
                 generator=None):
        if num_workers != 0:
            raise ValueError(f"DataLoader: num_workers={num_workers!r}: tensorgrad loads in "
                             "the calling process; pass num_workers=0")
        self._pin = bool(pin_memory) and cuda_available()
        if pin_memory and not self._pin:
            warnings.warn("DataLoader: 'pin_memory' argument is set as true but CUDA is not "
                          "available (no CuPy, or no GPU), so pinned memory won't be used",
                          stacklevel=2)
        if shuffle not in (None, True, False):
            raise TypeError(f"DataLoader: shuffle should be a boolean value, got {shuffle!r}")
        iterable = isinstance(dataset, IterableDataset)
        if iterable:
            if shuffle:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle "
                                 f"option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler "
                                 f"option, but got sampler={sampler!r}")
            if batch_sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified "
                                 f"batch_sampler option, but got batch_sampler={batch_sampler!r}")
        if not isinstance(drop_last, bool):
            raise TypeError(f"DataLoader: drop_last should be a boolean value, got "
                            f"{drop_last!r}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler option is mutually exclusive with "
                                 "batch_size, shuffle, sampler, and drop_last")
            batch_size = None
            drop_last = False
        elif batch_size is None:
            if drop_last:
                raise ValueError("DataLoader: batch_size=None option disables auto-batching "
                                 "and is mutually exclusive with drop_last")
        else:
            batch_size = _check_positive_int(batch_size, "batch_size", "DataLoader")
        if not iterable and (not hasattr(dataset, "__getitem__")
                             or not hasattr(dataset, "__len__")):
            raise TypeError(f"DataLoader: dataset must have __getitem__ and __len__ (a "
                            f"map-style dataset) or be an IterableDataset, got "
                            f"{type(dataset).__name__}")
        if iterable:
            sampler = _InfiniteConstantSampler()
        elif sampler is None:
            sampler = (RandomSampler(dataset, generator=generator) if shuffle
                       else SequentialSampler(dataset))
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        self.num_workers = 0
        self.pin_memory = bool(pin_memory)
        self._auto_collation = batch_sampler is not None
        self._iterable = iterable
        self._len_reported = None  # len(loader) over an IterableDataset, once asked
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn

    def __len__(self):
        if self._iterable:
            n = len(self.dataset)  # a TypeError for a stream without a length, as PyTorch's
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            self._len_reported = n
            return n
        if self._auto_collation:
            return len(self.batch_sampler)
        return len(self.sampler)

    def __iter__(self):
        # the length asked so far, taken now (as PyTorch's iterator does): list(loader) asks
        # for it as a hint after this, which must not count
        batches = self._batches(self._len_reported)
        return (_pin_memory(b) for b in batches) if self._pin else batches

    def _batches(self, reported=None):
        if self._iterable:
            yield from self._stream_batches(reported)
            return
        if not self._auto_collation:
            for i in self.sampler:
                yield self.collate_fn(self.dataset[i])
            return
        fast = getattr(self.dataset, "_collated", None) \
            if self.collate_fn is default_collate else None
        many = getattr(self.dataset, "__getitems__", None)
        for indices in self.batch_sampler:
            batch = fast(indices) if fast is not None else None
            if batch is None:
                samples = many(indices) if many else [self.dataset[i] for i in indices]
                batch = self.collate_fn(samples)
            yield batch

    def _stream_batches(self, reported):
        it = iter(self.dataset)
        size = self.batch_size
        count = 0
        while True:
            if size is None:
                try:
                    batch = self.collate_fn(next(it))
                except StopIteration:
                    return
            else:
                samples = list(itertools.islice(it, size))
                if not samples or (self.drop_last and len(samples) < size):
                    return
                batch = self.collate_fn(samples)
            count += 1
            if reported is not None and count > reported:
                warnings.warn(f"Length of IterableDataset {self.dataset} was reported to be "
                              f"{reported} (when accessing len(dataloader)), but {count} "
                              "samples have been fetched.", stacklevel=3)
            yield batch
            if size is not None and len(samples) < size:
                return
