"""``tg.nn.utils.rnn``: padding and packing variable-length sequences, as PyTorch's
``torch.nn.utils.rnn``.

A :class:`PackedSequence` holds the time steps of a batch of sequences one after another, each
step holding only the sequences still running (longest first): ``data`` (sum of lengths, *),
``batch_sizes`` (a CPU int64 tensor, one entry per step), and ``sorted_indices`` /
``unsorted_indices`` (on the data's device, None when the batch came sorted). Every function
here moves data with one gather, so padding, packing and unpacking are differentiable and cost
one node each.

>>> import tensorgrad as tg
>>> from tensorgrad.nn.utils.rnn import pack_sequence, pad_packed_sequence
>>> packed = pack_sequence([tg.tensor([1., 2., 3.]), tg.tensor([4., 5.])])
>>> packed.data.tolist(), packed.batch_sizes.tolist()
([1.0, 4.0, 2.0, 5.0, 3.0], [2, 2, 1])
>>> padded, lengths = pad_packed_sequence(packed, batch_first=True)
>>> padded.tolist(), lengths.tolist()
([[1.0, 2.0, 3.0], [4.0, 5.0, 0.0]], [3, 2])
"""

from collections import namedtuple

import numpy as np

from ... import creation
from ...backend.device import to_host, xp_of
from ...ops.shape import concatenate_, reshape
from ...tensor import Tensor


class PackedSequence(namedtuple("PackedSequence",
                                ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])):
    """Sequences packed step by step (see the module's docstring); what
    :func:`pack_padded_sequence` and :func:`pack_sequence` return and the recurrent modules
    accept and return."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = invert_permutation(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        """The same packing with ``data`` (and the index tensors) moved or cast like
        ``Tensor.to``; ``batch_sizes`` stays on the CPU."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        idx = [None if i is None else i.to(data.device) for i in
               (self.sorted_indices, self.unsorted_indices)]
        return type(self)(data, self.batch_sizes, *idx)

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else device)

    @property
    def is_cuda(self):
        return self.data.device.type == "cuda"


def invert_permutation(permutation):
    """The permutation that undoes ``permutation`` (a 1-D integer tensor), or None for None."""
    if permutation is None:
        return None
    raw = permutation.data if isinstance(permutation, Tensor) else permutation
    xp = xp_of(raw)
    out = xp.empty_like(raw)
    out[raw] = xp.arange(raw.shape[0], dtype=raw.dtype)
    return Tensor(out)


def _index(host_idx, like):
    """An int64 index array from host integers, on ``like``'s device."""
    return like.device.put(np.asarray(host_idx, dtype=np.int64))


def _host_lengths(lengths, op):
    if isinstance(lengths, Tensor):
        if lengths.device.type != "cpu":
            raise RuntimeError(f"{op}: 'lengths' argument should be a 1D CPU int64 tensor, but "
                               f"got a tensor on {lengths.device}; pass lengths.cpu()")
        lengths = lengths.data
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or (lengths.size and lengths.dtype.kind not in "iu"):
        raise ValueError(f"{op}: lengths must be a 1-D sequence of integers, got shape "
                         f"{lengths.shape} and dtype {lengths.dtype}")
    return lengths.astype(np.int64)


def _gather_rows(table, idx):
    """``table``'s rows at the host index array ``idx`` (any shape): one differentiable
    gather, result of shape idx.shape + table.shape[1:]."""
    flat = table[_index(idx.reshape(-1), table)]
    return reshape(flat, idx.shape + tuple(table.shape[1:]))


def _with_pad_row(table, padding_value):
    pad = creation.full((1,) + tuple(table.shape[1:]), padding_value, dtype=table.dtype,
                        device=table.device)
    return concatenate_(0, table, pad)


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack tensors of shapes (L_i, *) into one (L_max, B, *) tensor ((B, L_max, *) with
    ``batch_first``), filling with ``padding_value`` after each sequence (before it with
    ``padding_side="left"``).

    >>> import tensorgrad as tg
    >>> from tensorgrad.nn.utils.rnn import pad_sequence
    >>> pad_sequence([tg.tensor([1., 2.]), tg.tensor([3.])], batch_first=True).tolist()
    [[1.0, 2.0], [3.0, 0.0]]
    """
    if isinstance(sequences, Tensor):
        sequences = list(sequences)
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("pad_sequence: received an empty list of sequences")
    if padding_side not in ("left", "right"):
        raise ValueError(f"pad_sequence: padding_side must be 'left' or 'right', got "
                         f"{padding_side!r}")
    trailing = tuple(sequences[0].shape[1:])
    for i, s in enumerate(sequences):
        if s.ndim == 0 or tuple(s.shape[1:]) != trailing:
            raise RuntimeError(f"pad_sequence: every sequence must have shape (L, *{trailing}) "
                               f"like sequences[0] {tuple(sequences[0].shape)}, but "
                               f"sequences[{i}] has shape {tuple(s.shape)}")
    lengths = [s.shape[0] for s in sequences]
    table = _with_pad_row(concatenate_(0, *sequences), padding_value)
    total, longest = sum(lengths), max(lengths)
    idx = np.full((len(sequences), longest), total, dtype=np.int64)  # the pad row by default
    start = 0
    for b, n in enumerate(lengths):
        cols = slice(0, n) if padding_side == "right" else slice(longest - n, longest)
        idx[b, cols] = np.arange(start, start + n)
        start += n
    return _gather_rows(table, idx if batch_first else idx.T.copy())


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of sequences (L_i, *) that :func:`pad_sequence` padded."""
    lengths = _host_lengths(lengths, "unpad_sequence")
    x = padded_sequences
    out = []
    for b, n in enumerate(lengths.tolist()):
        out.append(x[b, :n] if batch_first else x[:n, b])
    return out


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded batch (T, B, *) ((B, T, *) with ``batch_first``) of sequences of the
    given ``lengths`` (a list or a CPU tensor). With ``enforce_sorted`` the lengths must be
    in decreasing order; otherwise the batch is sorted here and the permutation recorded in
    the result's ``sorted_indices``."""
    lengths = _host_lengths(lengths, "pack_padded_sequence")
    if input.ndim < 2:
        raise ValueError(f"pack_padded_sequence: input must be at least 2-D (T, B, *), got "
                         f"shape {tuple(input.shape)}")
    bdim, tdim = (0, 1) if batch_first else (1, 0)
    batch, steps = input.shape[bdim], input.shape[tdim]
    if lengths.shape[0] != batch:
        raise ValueError(f"pack_padded_sequence: expected {batch} lengths for an input of "
                         f"shape {tuple(input.shape)} (batch_first={batch_first}), got "
                         f"{lengths.shape[0]}")
    if lengths.size and lengths.min() <= 0:
        raise RuntimeError("pack_padded_sequence: Length of all samples has to be greater than "
                           "0, but found an element in 'lengths' that is <= 0")
    if lengths.size and lengths.max() > steps:
        raise RuntimeError(f"pack_padded_sequence: a length of {lengths.max()} exceeds the "
                           f"{steps} time steps of the input of shape {tuple(input.shape)}")
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise RuntimeError("pack_padded_sequence: `lengths` array must be sorted in "
                               "decreasing order when `enforce_sorted` is True. You can pass "
                               "`enforce_sorted=False` to pack_padded_sequence and/or "
                               "pack_sequence to sidestep this requirement if you do not need "
                               "ONNX exportability.")
        order = np.arange(batch)
        sorted_indices = None
    else:
        order = np.argsort(-lengths, kind="stable")
        sorted_indices = Tensor(_index(order, input))
    sorted_lengths = lengths[order]
    batch_sizes = (sorted_lengths[None, :] > np.arange(sorted_lengths[0])[:, None]).sum(1)
    # row (t, j) of the packing is step t of sorted sequence j, a row of the input seen as
    # (B*T, *) or (T*B, *)
    rows = []
    for t, b in enumerate(batch_sizes.tolist()):
        src = order[:b]
        rows.append(src * steps + t if batch_first else t * batch + src)
    table = reshape(input, (batch * steps,) + tuple(input.shape[2:]))
    data = _gather_rows(table, np.concatenate(rows))
    return PackedSequence(data, Tensor(batch_sizes.astype(np.int64)), sorted_indices, None)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Undo :func:`pack_padded_sequence`: ``(padded, lengths)`` with ``padded`` (T, B, *)
    ((B, T, *) with ``batch_first``) in the original batch order, T the longest length or
    ``total_length``, and ``lengths`` a CPU int64 tensor."""
    data = sequence.data
    sizes = _host_lengths(sequence.batch_sizes, "pad_packed_sequence").tolist()
    steps, batch = len(sizes), sizes[0]
    if total_length is not None:
        if total_length < steps:
            raise ValueError(f"pad_packed_sequence: Expected total_length to be at least the "
                             f"length of the longest sequence in the input, but got "
                             f"total_length={total_length} and max sequence length being "
                             f"{steps}")
        steps = total_length
    idx = np.full((steps, batch), data.shape[0], dtype=np.int64)  # the pad row by default
    start = 0
    for t, b in enumerate(sizes):
        idx[t, :b] = np.arange(start, start + b)
        start += b
    sorted_lengths = (idx[:len(sizes)] < data.shape[0]).sum(0)
    if sequence.unsorted_indices is not None:
        unsorted = to_host(sequence.unsorted_indices.data).astype(np.int64)
        idx = idx[:, unsorted]
        sorted_lengths = sorted_lengths[unsorted]
    padded = _gather_rows(_with_pad_row(data, padding_value),
                          idx.T.copy() if batch_first else idx)
    return padded, Tensor(sorted_lengths.astype(np.int64))


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of tensors (L_i, *): ``pack_padded_sequence(pad_sequence(sequences),
    lengths, enforce_sorted=enforce_sorted)``."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths,
                                enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    """The list of tensors that :func:`pack_sequence` packed, in their original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)


__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence",
           "pad_packed_sequence", "pad_sequence", "unpad_sequence", "pack_sequence",
           "unpack_sequence"]
