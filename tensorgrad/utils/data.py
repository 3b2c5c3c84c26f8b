"""``tensorgrad.utils.data``: PyTorch's data-loading names over tensors, NumPy arrays and numbers.

A ``Dataset`` answers ``len(ds)`` and ``ds[i]``; a ``DataLoader`` walks it in batches, drawing
indices from a sampler and stacking the samples with ``default_collate``. Loading happens in the
calling process, or with ``num_workers > 0`` in worker processes (see ``DataLoader``): put the data
on its device before, as a ``TensorDataset`` of cuda tensors (without workers), or move each batch
with ``.to(device)``; with ``pin_memory=True`` the batches come in pinned host memory, so that
``.to("cuda", non_blocking=True)`` copies them asynchronously.

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
import hashlib
import io
import itertools
import math
import multiprocessing
import numbers
import os
import pickle
import queue
import random
import sys
import time
import traceback
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

    With ``num_workers > 0`` every worker iterates its own copy: shard the stream in
    ``__iter__`` with ``get_worker_info()`` (None in the main process).

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
    """What a loading worker process knows about itself (PyTorch's ``WorkerInfo``): ``id``
    (0 to ``num_workers - 1``), ``num_workers``, ``seed`` (``base_seed + id``, the seed of its
    generators) and ``dataset``, its own copy of the loader's data set. ``get_worker_info()``
    returns it inside a worker; attributes cannot be assigned."""

    def __init__(self, **kwargs):
        for k, v in kwargs.items():
            object.__setattr__(self, k, v)
        object.__setattr__(self, "_keys", tuple(kwargs))

    def __setattr__(self, key, val):
        raise RuntimeError(f"Cannot assign attributes to {type(self).__name__} objects")

    def __repr__(self):
        items = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._keys)
        return f"{type(self).__name__}({items})"


_WORKER_INFO = None  # set in a worker process, once, before worker_init_fn runs


def get_worker_info():
    """In a ``DataLoader`` worker process, its ``WorkerInfo`` (``id``, ``num_workers``,
    ``seed``, ``dataset``); None in the main process (and with ``num_workers=0``). An
    ``IterableDataset`` uses it to give each worker its own share of the stream; in one
    process it yields all of it, and with ``DataLoader(Count(), batch_size=2, num_workers=2)``
    (``Count`` defined in a module) worker 0 yields 0, 2, 4 and worker 1 yields 1, 3, 5, so
    the batches are ``[0, 2], [1, 3], [4], [5]``:

    >>> class Count(IterableDataset):
    ...     def __iter__(self):
    ...         info = get_worker_info()
    ...         start, step = (0, 1) if info is None else (info.id, info.num_workers)
    ...         return iter(range(start, 6, step))
    >>> get_worker_info() is None
    True
    >>> [b.tolist() for b in DataLoader(Count(), batch_size=2)]
    [[0, 1], [2, 3], [4, 5]]
    """
    return _WORKER_INFO


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


# ---- fetching a batch: the same code in the main process and in the workers -------------------
class _MapFetcher:
    """The batch of a map-style data set for one index of the sampler (a list of indices when
    batching: one fancy-index per tensor for a ``TensorDataset``, else ``__getitems__`` or one
    ``dataset[i]`` per index, then ``collate_fn``)."""

    def __init__(self, dataset, auto_collation, collate_fn):
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.fast = getattr(dataset, "_collated", None) if collate_fn is default_collate \
            else None
        self.many = getattr(dataset, "__getitems__", None)

    def __call__(self, index):
        if not self.auto_collation:
            return self.collate_fn(self.dataset[index])
        batch = self.fast(index) if self.fast is not None else None
        if batch is None:
            samples = self.many(index) if self.many else [self.dataset[i] for i in index]
            batch = self.collate_fn(samples)
        return batch


class _StreamFetcher:
    """The next batch of an ``IterableDataset``'s iterator (``batch_size`` samples, or one
    sample unbatched); StopIteration once the stream is done (after a short last batch, or at
    one that ``drop_last`` drops)."""

    def __init__(self, dataset, batch_size, drop_last, collate_fn):
        self.it = iter(dataset)
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.collate_fn = collate_fn
        self.ended = False

    def __call__(self, index=None):
        if self.ended:
            raise StopIteration
        size = self.batch_size
        if size is None:
            return self.collate_fn(next(self.it))
        samples = list(itertools.islice(self.it, size))
        if len(samples) < size:
            self.ended = True  # the iterator is not asked again
        if not samples or (self.drop_last and len(samples) < size):
            raise StopIteration
        return self.collate_fn(samples)


def _warn_if_longer(dataset, reported, count, workers):
    if reported is not None and count > reported:
        hint = (" For multiprocessing data-loading, this could be caused by not properly "
                "configuring the IterableDataset replica at each worker (get_worker_info)."
                if workers else "")
        warnings.warn(f"Length of IterableDataset {dataset} was reported to be {reported} "
                      f"(when accessing len(dataloader)), but {count} samples have been "
                      f"fetched.{hint}", stacklevel=4)


# ---- worker processes -------------------------------------------------------------------------
_POLL_S = 1.0  # how often a waiting worker or main process checks that the other side lives
_JOIN_S = 5.0  # how long a worker gets to exit at shutdown before it is terminated
# The index queues of the running iterators, kept reachable from here: an iterator caught in a
# reference cycle (a traceback that holds it) is shut down by the garbage collector, which runs
# the queues' own weakref finalizers first if they are garbage too; those stop the threads
# that feed the pipes, and the workers would never receive the None that tells them to stop.
_LIVE_QUEUES = {}


def _rebuild_tensor(data, requires_grad):
    return _new_tensor(data, None, requires_grad)


class _BatchPickler(pickle.Pickler):
    """Pickles a worker's batch for the trip to the main process: a Tensor travels as its
    NumPy array (and requires_grad), a CUDA tensor or array is refused (CUDA cannot be used
    in a forked worker, as in PyTorch), and so is a tensor with autograd history."""

    def reducer_override(self, obj):
        if type(obj) is _CUPY_ARRAY or (isinstance(obj, Tensor) and type(obj.data) is
                                        _CUPY_ARRAY):
            raise RuntimeError(
                f"DataLoader worker: the batch holds a CUDA {type(obj).__name__} of shape "
                f"{tuple(obj.shape)}; tensors made in a worker process must be on the cpu "
                "(CUDA cannot be used in DataLoader worker processes, as in PyTorch). Return "
                "CPU tensors or NumPy arrays from the dataset and move each batch with "
                ".to('cuda') in the main loop (pin_memory=True makes that copy asynchronous)")
        if isinstance(obj, Tensor):
            if not obj.is_leaf and obj.requires_grad:
                raise RuntimeError(
                    f"DataLoader worker: refusing to send a non-leaf tensor of shape "
                    f"{tuple(obj.shape)} that requires grad to the main process (autograd "
                    "does not cross process boundaries); call .detach() on it in the dataset "
                    "or collate_fn, or build it under tg.no_grad()")
            return _rebuild_tensor, (obj.data, obj.requires_grad)
        return NotImplemented


def _dumps(obj):
    buf = io.BytesIO()
    _BatchPickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buf.getvalue()


class _ResumeIteration:
    """Main -> a persistent worker: start a new epoch (worker -> main: done so)."""


class _StreamEnd:
    """A worker -> main: my copy of the IterableDataset is exhausted."""

    def __init__(self, worker_id):
        self.worker_id = worker_id


class _KeyErrorMessage(str):
    """A KeyError shows ``repr`` of its argument; this keeps the traceback's line breaks."""

    def __repr__(self):
        return str(self)


class _WorkerError:
    """An exception raised in a worker, carried to the main process and raised there with the
    worker's id and the original traceback text (PyTorch's ``ExceptionWrapper``)."""

    def __init__(self, worker_id, where=""):
        exc_type, exc, tb = sys.exc_info()
        self.worker_id = worker_id
        self.type_name = exc_type.__name__
        self.text = "".join(traceback.format_exception(exc_type, exc, tb))
        self.where = where
        try:  # the class itself when it can travel (a class the main process can import)
            pickle.loads(pickle.dumps(exc_type))
            self.exc_type = exc_type
        except Exception:
            self.exc_type = None

    def reraise(self):
        msg = (f"Caught {self.type_name} in DataLoader worker process {self.worker_id}"
               f"{self.where}.\nOriginal {self.text}")
        if self.exc_type is KeyError:
            msg = _KeyErrorMessage(msg)
        if self.exc_type is None:
            raise RuntimeError(msg)
        try:
            exc = self.exc_type(msg)
        except Exception:  # a class whose constructor wants other arguments
            raise RuntimeError(msg) from None
        raise exc


def _seed_worker(seed):
    """Seed tensorgrad's global generators, Python's ``random`` and NumPy's global state from
    ``seed`` (= base_seed + worker id), as PyTorch's workers do."""
    from ..creation import manual_seed

    manual_seed(seed)
    random.seed(seed)
    np.random.seed(np.random.SeedSequence(seed).generate_state(4))  # the legacy API: 32-bit words


def _worker_loop(iterable, dataset, index_queue, data_queue, done_event, auto_collation,
                 batch_size, drop_last, collate_fn, seed, init_fn, worker_id, num_workers):
    """A worker process: fetch the batch of each index that arrives, pickle it and send it back
    tagged with the index's number, until None (shutdown) arrives or the main process dies."""
    global _WORKER_INFO
    parent = os.getppid()  # a change means the main process (or the forkserver) has died
    try:
        _seed_worker(seed)
        _WORKER_INFO = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed,
                                  dataset=dataset)

        def make_fetcher():
            if iterable:
                return _StreamFetcher(dataset, batch_size, drop_last, collate_fn)
            return _MapFetcher(dataset, auto_collation, collate_fn)

        fetch = failed = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            fetch = make_fetcher()
        except Exception:
            failed = _WorkerError(worker_id)  # raised in the main process at the first batch
        ended = False
        while True:
            try:
                task = index_queue.get(timeout=_POLL_S)
            except queue.Empty:
                if done_event.is_set() or os.getppid() != parent:
                    break
                continue
            if task is None:
                break
            if isinstance(task, _ResumeIteration):
                ended = False
                if failed is None:
                    try:
                        fetch = make_fetcher()
                    except Exception:
                        failed = _WorkerError(worker_id)
                data_queue.put((task, None))
                continue
            if ended or done_event.is_set():
                continue  # the stream has ended: the main process skips these numbers
            idx, index = task
            if failed is not None:
                payload, failed = failed, None
            else:
                try:
                    payload = _dumps(fetch(index))
                except StopIteration:
                    if not iterable:
                        payload = _WorkerError(worker_id)
                    else:
                        payload = _StreamEnd(worker_id)
                        ended = True
                except Exception:
                    payload = _WorkerError(worker_id)
            data_queue.put((idx, payload))
            del payload
    except KeyboardInterrupt:
        pass  # the main process gets it too and shuts the workers down
    if done_event.is_set():
        data_queue.cancel_join_thread()  # nobody reads any more: don't wait to flush at exit
        data_queue.close()


def _base_seed(generator, count):
    """The workers' base seed, a 63-bit function of ``generator``'s state (see DataLoader) and of
    how many times this loader has started workers. Read, not drawn: the state is left as it is,
    so the sampler draws the same indices as with num_workers=0."""
    state = _as_generator(generator, "DataLoader")().bit_generator.state
    digest = hashlib.blake2b(pickle.dumps((state, count)), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class _WorkerIterator:
    """An epoch of a DataLoader with worker processes. The main process walks the sampler and
    deals the indices round-robin to the workers (at most ``prefetch_factor`` in flight per
    worker); each worker sends back its collated batch, tagged with the index's number, and
    batches are yielded in that order (as they come with ``in_order=False``). Over an
    IterableDataset each worker iterates its own copy and a worker whose copy ends drops out of
    the round, as in PyTorch."""

    def __init__(self, loader):
        self._n = loader.num_workers
        self._prefetch = loader.prefetch_factor
        self._timeout = loader.timeout
        self._in_order = loader.in_order
        self._persistent = loader.persistent_workers
        self._pin = loader._pin
        self._iterable = loader._iterable
        self._dataset = loader.dataset
        self._owner = os.getpid()
        self._closed = False
        self._workers = []
        self._index_queues = []
        ctx = loader._context()
        self._data_queue = ctx.Queue()
        self._done = ctx.Event()
        _LIVE_QUEUES[id(self)] = self._index_queues
        seed = _base_seed(loader.generator, loader._worker_starts)
        loader._worker_starts += 1
        try:
            for wid in range(self._n):
                q = ctx.Queue()
                q.cancel_join_thread()  # a dead worker's queue must not hold up our exit
                w = ctx.Process(target=_worker_loop, daemon=True, args=(
                    self._iterable, loader.dataset, q, self._data_queue, self._done,
                    loader._auto_collation, loader.batch_size, loader.drop_last,
                    loader.collate_fn, seed + wid, loader.worker_init_fn, wid, self._n))
                w.start()
                self._index_queues.append(q)
                self._workers.append(w)
            self._reset(loader, first=True)
        except BaseException:
            self._shutdown()
            raise

    def _reset(self, loader, first=False):
        """Start an epoch: a fresh pass of the sampler and ``prefetch_factor`` indices per
        worker sent out. Persistent workers are told to start over first, and whatever they
        still had in flight from an epoch left early is read and dropped."""
        self._sampler_iter = iter(loader.batch_sampler if loader._auto_collation
                                  else loader.sampler)
        self._reported = loader._len_reported
        self._yielded = 0
        self._send_idx = 0
        self._rcvd_idx = 0
        self._tasks = {}  # number -> [worker id] while in flight, [worker id, result] when here
        self._per_worker = [0] * self._n
        self._active = [True] * self._n
        self._cycle = itertools.cycle(range(self._n))
        if not first:
            for q in self._index_queues:
                q.put(_ResumeIteration())
            left = self._n
            while left:
                idx, _ = self._get()
                if isinstance(idx, _ResumeIteration):
                    left -= 1
        for _ in range(self._prefetch * self._n):
            self._put_index()

    def _put_index(self):
        try:
            index = next(self._sampler_iter)
        except StopIteration:
            return
        cap = self._prefetch * self._n // max(sum(self._active), 1)
        for _ in range(self._n):
            wid = next(self._cycle)
            if self._active[wid] and (self._in_order or self._per_worker[wid] < cap):
                break
        else:
            return
        self._index_queues[wid].put((self._send_idx, index))
        self._tasks[self._send_idx] = [wid]
        self._per_worker[wid] += 1
        self._send_idx += 1

    def _get(self):
        """The next message of any worker; an error if one died or ``timeout`` passed."""
        deadline = time.monotonic() + self._timeout if self._timeout else None
        while True:
            wait = _POLL_S if deadline is None else min(_POLL_S, deadline - time.monotonic())
            try:
                return self._data_queue.get(timeout=max(wait, 0.0))
            except queue.Empty:
                pass
            if deadline is not None and time.monotonic() >= deadline:
                raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")
            dead = [w.pid for w in self._workers if not w.is_alive()]
            if dead:
                self._shutdown()
                raise RuntimeError(f"DataLoader worker (pid(s) {dead}) exited unexpectedly")

    def __iter__(self):
        return self

    def __next__(self):
        if self._closed:
            raise StopIteration
        while True:
            while self._rcvd_idx < self._send_idx:  # skip numbers sent to ended streams
                task = self._tasks.get(self._rcvd_idx)
                if task is not None:
                    if len(task) == 2 or self._active[task[0]]:
                        break
                    del self._tasks[self._rcvd_idx]
                self._rcvd_idx += 1
            else:
                if not self._persistent:
                    self._shutdown()
                raise StopIteration
            task = self._tasks[self._rcvd_idx]
            if len(task) == 2:
                del self._tasks[self._rcvd_idx]
                return self._process(task)
            idx, payload = self._get()
            if isinstance(payload, _StreamEnd):
                self._active[payload.worker_id] = False
                self._per_worker[payload.worker_id] -= 1
                self._tasks.pop(idx, None)
                self._put_index()
                continue
            if idx == self._rcvd_idx or not self._in_order:
                return self._process(self._tasks.pop(idx) + [payload])
            self._tasks[idx].append(payload)

    def _process(self, task):
        wid, payload = task
        self._per_worker[wid] -= 1
        self._put_index()
        if isinstance(payload, _WorkerError):
            payload.reraise()
        batch = pickle.loads(payload)
        self._yielded += 1
        if self._iterable:
            _warn_if_longer(self._dataset, self._reported, self._yielded, True)
        return _pin_memory(batch) if self._pin else batch

    def _shutdown(self):
        """Stop the workers and wait for them (terminating any that hang), so that none is
        left behind as a zombie; called at the end of an epoch, on deletion and on errors."""
        if self._closed or os.getpid() != self._owner:
            return  # done already, or a forked copy of this object in a worker
        self._closed = True
        self._done.set()
        for q in self._index_queues:
            try:
                q.put(None)
            except (OSError, ValueError):
                pass
        for w in self._workers:
            w.join(timeout=_JOIN_S)
            if w.is_alive():
                w.terminate()
                w.join()
        for q in self._index_queues:
            q.close()
        self._data_queue.cancel_join_thread()
        self._data_queue.close()
        _LIVE_QUEUES.pop(id(self), None)

    def __del__(self):
        try:
            self._shutdown()
        except Exception:  # interpreter shutdown: modules may be half gone
            pass


def _mp_context(value, num_workers):
    if value is None:
        return None
    if num_workers == 0:
        raise ValueError(f"DataLoader: multiprocessing_context can only be used with "
                         f"multi-process loading (num_workers > 0), but got "
                         f"num_workers={num_workers}")
    if isinstance(value, str):
        valid = multiprocessing.get_all_start_methods()
        if value not in valid:
            raise ValueError(f"DataLoader: multiprocessing_context option should specify a "
                             f"valid start method in {valid!r}, but got "
                             f"multiprocessing_context={value!r}")
        return multiprocessing.get_context(value)
    if not isinstance(value, multiprocessing.context.BaseContext):
        raise TypeError(f"DataLoader: multiprocessing_context option should be a valid "
                        f"context object or a string specifying the start method, but got "
                        f"multiprocessing_context={value!r}")
    return value


class DataLoader:
    """Batches of ``dataset``, as PyTorch's ``DataLoader``, loaded in this process
    (``num_workers=0``) or in ``num_workers`` worker processes.

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

    Worker processes (``num_workers > 0``), as PyTorch's:

    - The sampler runs in the main process, so the indices, and with ``in_order=True`` (the
      default) the batches, are those of ``num_workers=0``; each index (batch) goes to the next
      worker in turn, at most ``prefetch_factor`` (default 2) per worker ahead. The worker
      collates the batch and sends it back pickled (NumPy arrays; a Tensor travels as its
      array). Tensors made in a worker must be on the cpu, and pinning and moving to a GPU
      happen in the main process. ``in_order=False`` yields batches as they arrive.
    - Over an ``IterableDataset`` every worker iterates its own copy; shard it in ``__iter__``
      with ``get_worker_info()``, or every sample comes ``num_workers`` times. The workers'
      batches are interleaved round-robin, a worker whose stream ends dropping out.
    - Worker ``i`` seeds tensorgrad's global generator, ``random`` and NumPy's global state
      from ``base_seed + i`` (``get_worker_info().seed``), then calls ``worker_init_fn(i)``.
      ``base_seed`` is a function of ``generator``'s state (default: the global generator),
      which it reads without advancing (PyTorch draws it, which changes the order of indices
      that ``generator`` then draws): ``tg.manual_seed`` makes the workers' randomness repeat,
      and each new start of the workers gets another base seed.
    - An exception in a worker is raised in the main process, at its batch, with the worker's
      id and the original traceback. ``timeout`` (seconds, 0 = wait forever) bounds each wait
      for a batch (a RuntimeError). Workers stop at the end of the epoch, when the iterator is
      deleted, or, with ``persistent_workers=True``, when the loader is (they then serve every
      epoch). ``multiprocessing_context``: "fork", "spawn", "forkserver" or a context
      (default: the platform's); with "spawn" the dataset, ``collate_fn`` and
      ``worker_init_fn`` must pickle (defined at the top level of a module).

    >>> import tensorgrad as tg
    >>> _ = tg.manual_seed(0)
    >>> loader = DataLoader(TensorDataset(tg.arange(6)), batch_size=4, shuffle=True)
    >>> len(loader), [len(b) for (b,) in loader]
    (2, [4, 2])
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False,
                 timeout=0, worker_init_fn=None, multiprocessing_context=None, generator=None,
                 *, prefetch_factor=None, persistent_workers=False, pin_memory_device="",
                 in_order=True):
        if pin_memory_device not in ("", "cuda") and \
                not str(pin_memory_device).startswith("cuda:"):
            raise ValueError(f"DataLoader: pin_memory_device must be '' or a cuda device (pinned "
                             f"memory serves host-to-GPU copies), got {pin_memory_device!r}")
        if isinstance(num_workers, bool) or not isinstance(num_workers, numbers.Integral) \
                or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers option should be non-negative; use "
                             f"num_workers=0 to disable multiprocessing (got {num_workers!r})")
        if not isinstance(timeout, numbers.Real) or timeout < 0:
            raise ValueError(f"DataLoader: timeout option should be non-negative, got "
                             f"{timeout!r}")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("DataLoader: prefetch_factor option could only be specified in "
                             "multiprocessing. Let num_workers > 0 to enable multiprocessing, "
                             "otherwise set prefetch_factor to None.")
        if num_workers > 0:
            prefetch_factor = 2 if prefetch_factor is None else _check_positive_int(
                prefetch_factor, "prefetch_factor", "DataLoader")
        if persistent_workers and num_workers == 0:
            raise ValueError("DataLoader: persistent_workers option needs num_workers > 0")
        if worker_init_fn is not None and not callable(worker_init_fn):
            raise TypeError(f"DataLoader: worker_init_fn should be callable, got "
                            f"{type(worker_init_fn).__name__}")
        self.multiprocessing_context = _mp_context(multiprocessing_context, num_workers)
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
        self.num_workers = int(num_workers)
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = bool(persistent_workers)
        self.worker_init_fn = worker_init_fn
        self.timeout = timeout
        self.in_order = bool(in_order)
        self.pin_memory = bool(pin_memory)
        self.pin_memory_device = pin_memory_device
        self._auto_collation = batch_sampler is not None
        self._iterable = iterable
        self._len_reported = None  # len(loader) over an IterableDataset, once asked
        self._worker_starts = 0  # how many times workers were started (for their base seed)
        self._iterator = None  # the persistent workers' iterator
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
        if self.num_workers > 0:
            if not self.persistent_workers:
                return _WorkerIterator(self)
            if self._iterator is None or self._iterator._closed:
                self._iterator = _WorkerIterator(self)
            else:
                self._iterator._reset(self)
            return self._iterator
        # the length asked so far, taken now (as PyTorch's iterator does): list(loader) asks
        # for it as a hint after this, which must not count
        batches = self._batches(self._len_reported)
        return (_pin_memory(b) for b in batches) if self._pin else batches

    def _context(self):
        if self.multiprocessing_context is None:
            return multiprocessing.get_context()  # the platform's default start method
        return self.multiprocessing_context

    def _batches(self, reported=None):
        if self._iterable:
            yield from self._stream_batches(reported)
            return
        fetch = _MapFetcher(self.dataset, self._auto_collation, self.collate_fn)
        for index in (self.batch_sampler if self._auto_collation else self.sampler):
            yield fetch(index)

    def _stream_batches(self, reported):
        fetch = _StreamFetcher(self.dataset, self.batch_size, self.drop_last, self.collate_fn)
        count = 0
        while True:
            try:
                batch = fetch()
            except StopIteration:
                return
            count += 1
            _warn_if_longer(self.dataset, reported, count, False)
            yield batch
