"""``tg.nn.attention.flex_attention``: PyTorch's FlexAttention API (``flex_attention``,
``create_block_mask``, ``create_mask``, ``BlockMask``, ``and_masks``, ``or_masks``,
``noop_mask``, ``AuxRequest``, ``AuxOutput``, ``FlexKernelOptions``), computed eagerly with
tensorgrad's differentiable ops.

``score_mod(score, b, h, q_idx, kv_idx)`` and ``mask_mod(b, h, q_idx, kv_idx)`` are called ONCE,
with broadcastable int32 index tensors: ``b`` of shape (B, 1, 1, 1), ``h`` (1, H, 1, 1),
``q_idx`` (1, 1, L, 1), ``kv_idx`` (1, 1, 1, S), and ``score`` the full (B, H, L, S) scores;
the result is broadcast to (B, H, L, S). PyTorch vmaps the mods over scalar indices, which
already requires them to be tensor expressions (no Python ``if`` on a value), and for those the
two agree exactly: arithmetic, comparisons, ``tg.where``, and indexing a captured tensor with
the indices (``bias[h]``, ``rel[q_idx - kv_idx + S]``, ``doc_ids[b, q_idx]``) all broadcast.
Tensors captured by a ``score_mod`` (a learnable bias table) get gradients, to every order.

Memory: there is no fused kernel; the (B, H, L, S) scores are materialised as in PyTorch's
uncompiled path (a few arrays of that size live through the backward pass). Block sparsity
saves no work here; it only decides which entries are kept.

Masking follows PyTorch's kernels: an entry is kept where its (Q_BLOCK, KV_BLOCK) tile is
listed as a full block, or is listed as a partial block and ``mask_mod`` returns True. For a
mask made by ``create_block_mask`` with the B and H in use this is exactly ``mask_mod`` (the
rule of PyTorch's uncompiled path). A row with every entry masked gives output 0 and
log-sum-exp -inf (not NaN), as PyTorch's.

>>> import tensorgrad as tg
>>> from tensorgrad.nn.attention.flex_attention import flex_attention, create_block_mask
>>> causal = create_block_mask(lambda b, h, q, kv: q >= kv, None, None, 3, 3, device="cpu")
>>> q = tg.ones(1, 1, 3, 2)
>>> v = tg.tensor([[[[1.0], [2.0], [3.0]]]])
>>> flex_attention(q, q, v, block_mask=causal).reshape(3).tolist()
[1.0, 1.5, 2.0]
"""

import functools
import inspect
import itertools
import math
import operator
import warnings
from typing import NamedTuple, TypedDict

import numpy as np

from ...backend.device import Device, get_default_device, to_host, xp_of
from ...ops import elementwise as _ew
from ...ops import reduce as _red
from ...ops.linalg import matmul
from ...ops.shape import broadcast_to, expand_dims, reshape, swapaxes
from ...tensor import Tensor, _raw

__all__ = ["BlockMask", "flex_attention", "AuxOutput", "AuxRequest", "FlexKernelOptions",
           "create_block_mask", "create_mask", "or_masks", "and_masks", "noop_mask"]

_DEFAULT_SPARSE_BLOCK_SIZE = 128
_LARGE_SPARSE_BLOCK_SIZE = 1 << 30
_BACKENDS = ("AUTO", "TRITON", "FLASH", "TRITON_DECODE")
_WARNED = set()


class FlexKernelOptions(TypedDict, total=False):
    """PyTorch's tuning options of the Triton kernels (``BLOCK_M``, ``num_warps``,
    ``PRESCALE_QK``, ``BACKEND``, ...). They are accepted and have no effect here: there is one
    eager implementation."""

    num_warps: int
    num_stages: int
    BLOCK_M: int
    BLOCK_N: int
    BLOCK_M1: int
    BLOCK_N1: int
    BLOCK_M2: int
    BLOCK_N2: int
    PRESCALE_QK: bool
    ROWS_GUARANTEED_SAFE: bool
    BLOCKS_ARE_CONTIGUOUS: bool
    WRITE_DQ: bool
    FORCE_USE_FLEX_ATTENTION: bool
    USE_TMA: bool
    kpack: int
    matrix_instr_nonkdim: int
    waves_per_eu: int
    BACKEND: str


class AuxRequest(NamedTuple):
    """Which auxiliary outputs ``flex_attention(..., return_aux=AuxRequest(...))`` returns."""

    lse: bool = False
    max_scores: bool = False


class AuxOutput(NamedTuple):
    """The auxiliary outputs: log-sum-exp (natural log) and row maxima of the modified scores,
    each (B, H, L), None where not requested."""

    lse: Tensor = None
    max_scores: Tensor = None


# ---- mods -------------------------------------------------------------------------------------
def _arity(fn):
    """Number of positional parameters without a default (PyTorch's rule for telling a
    score_mod (5) from a mask_mod (4))."""
    code = getattr(fn, "__code__", None)
    if code is not None:
        return code.co_argcount - len(getattr(fn, "__defaults__", None) or ())
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    return sum(1 for p in params if p.default is inspect.Parameter.empty
               and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


def _check_mod(fn, want, op, name):
    if not callable(fn):
        raise TypeError(f"{op}: {name} must be callable, got {type(fn).__name__}")
    n = _arity(fn)
    if n is not None and n != want:
        sig = ("(score, b, h, q_idx, kv_idx)" if want == 5 else "(b, h, q_idx, kv_idx)")
        hint = ""
        if want == 5 and n == 4:
            hint = "; a mask_mod goes through create_block_mask(...) into block_mask="
        elif want == 4 and n == 5:
            hint = "; a score_mod goes to flex_attention(score_mod=...)"
        raise TypeError(f"{op}: {name} must take {want} positional arguments {sig}, got a "
                        f"function of {n}{hint}")


def _indices(B, H, L, S, xp):
    """The broadcastable int32 index tensors b, h, q_idx, kv_idx."""
    return tuple(Tensor(xp.arange(n, dtype=np.int32).reshape(shape)) for n, shape in
                 ((B, (B, 1, 1, 1)), (H, (1, H, 1, 1)), (L, (1, 1, L, 1)), (S, (1, 1, 1, S))))


def _check_result(r, shape, op, name):
    """The mod's result ``r`` checked to broadcast to ``shape`` (B, H, L, S)."""
    if not isinstance(r, Tensor):
        if isinstance(r, (bool, int, float, np.generic, np.ndarray)):
            r = Tensor(np.asarray(r))
        elif hasattr(r, "shape") and hasattr(r, "dtype"):
            r = Tensor(r)
        else:
            raise TypeError(f"{op}: {name} must return a tensor, got {type(r).__name__}")
    try:
        np.broadcast_shapes(tuple(r.shape), shape)
    except ValueError:
        raise ValueError(f"{op}: {name} returned shape {tuple(r.shape)}, which does not "
                         f"broadcast to the scores' shape {shape} (B, H, L, S)") from None
    return r


def _mask_values(mask_mod, B, H, L, S, xp, op):
    """The raw bool array of ``mask_mod`` over (B, H, L, S) (broadcastable, not expanded)."""
    r = _check_result(mask_mod(*_indices(B, H, L, S, xp)), (B, H, L, S), op, "mask_mod")
    raw = r.data
    if raw.dtype != np.bool_:
        raw = raw != 0
    return raw


def noop_mask(batch, head, token_q, token_kv):
    """The mask_mod that keeps everything."""
    return Tensor(xp_of(_raw(batch)).ones((), dtype=np.bool_))


def or_masks(*mask_mods):
    """The mask_mod keeping what any of ``mask_mods`` keeps.

    >>> from tensorgrad.nn.attention.flex_attention import create_mask, or_masks
    >>> m = or_masks(lambda b, h, q, kv: q == kv, lambda b, h, q, kv: kv == 0)
    >>> create_mask(m, 1, 1, 2, 2, device="cpu").tolist()
    [[[[True, False], [True, True]]]]
    """
    for m in mask_mods:
        if not callable(m):
            raise RuntimeError(f"All inputs should be callable mask_mods: {mask_mods}")

    def or_mask(b, h, q_idx, kv_idx):
        result = Tensor(xp_of(_raw(b)).zeros((), dtype=np.bool_))
        for m in mask_mods:
            result = result | _as_bool(m(b, h, q_idx, kv_idx), b)
        return result

    return or_mask


def and_masks(*mask_mods):
    """The mask_mod keeping what all of ``mask_mods`` keep."""
    for m in mask_mods:
        if not callable(m):
            raise RuntimeError(f"All inputs should be callable mask_mods: {mask_mods}")

    def and_mask(b, h, q_idx, kv_idx):
        result = Tensor(xp_of(_raw(b)).ones((), dtype=np.bool_))
        for m in mask_mods:
            result = result & _as_bool(m(b, h, q_idx, kv_idx), b)
        return result

    return and_mask


def _as_bool(r, like):
    if isinstance(r, Tensor):
        return r
    return Tensor(xp_of(_raw(like)).asarray(r, dtype=np.bool_))


def _sliced_mask_mod_error(batch, head, token_q, token_kv):
    raise RuntimeError("Cannot use mask_mod from a sliced BlockMask. When you slice a BlockMask "
                       "using [], the mask_mod attribute is reset; set it from the original "
                       "BlockMask's mask_mod.")


# ---- block lists, on raw arrays -----------------------------------------------------------------
def _dense_to_ordered(dense):
    """(number of set blocks per row, their column indices first in ascending order, then the
    unset ones ascending): PyTorch's stable descending argsort of the 0/1 rows."""
    xp = xp_of(dense)
    dense = dense.astype(np.int32)
    n = dense.shape[-1]
    key = (1 - dense) * n + xp.arange(n, dtype=np.int32)  # unique per row: order is exact
    return dense.sum(axis=-1).astype(np.int32), xp.argsort(key, axis=-1).astype(np.int32)


def _ordered_to_dense(num, idx, num_cols):
    """The (..., rows, num_cols) int32 0/1 matrix of the first ``num`` entries of ``idx``."""
    xp = xp_of(idx)
    valid = xp.arange(idx.shape[-1])[None, :] < num[..., None]
    hit = (idx[..., :, :, None] == xp.arange(num_cols)) & valid[..., None]
    return hit.any(axis=-2).astype(np.int32)


def _transpose_ordered(num, idx):
    dense = _ordered_to_dense(num, idx, idx.shape[-1])
    return _dense_to_ordered(xp_of(dense).swapaxes(dense, -2, -1))


def _mask_to_blocks(mask, q_block, kv_block, separate_full):
    """(partial, full or None) 0/1 block matrices (B, H, nq, nk) of the bool (B, H, L, S)
    ``mask``; the padding to whole blocks counts as masked."""
    xp = xp_of(mask)
    B, H, L, S = mask.shape
    nq, nk = -(-L // q_block), -(-S // kv_block)
    padded = xp.zeros((B, H, nq * q_block, nk * kv_block), dtype=np.bool_)
    padded[:, :, :L, :S] = mask
    counts = padded.reshape(B, H, nq, q_block, nk, kv_block).sum(axis=(3, 5))
    if not separate_full:
        return counts > 0, None
    full = counts == q_block * kv_block
    return (counts > 0) & ~full, full


def _tensor(x):
    return None if x is None else (x if isinstance(x, Tensor) else Tensor(x))


class BlockMask:
    """PyTorch's block-sparse mask: for each (batch, head) and each Q_BLOCK_SIZE row tile,
    ``kv_num_blocks`` / ``kv_indices`` list the KV tiles where ``mask_mod`` must be applied
    (partial blocks) and ``full_kv_num_blocks`` / ``full_kv_indices`` those kept whole;
    ``q_num_blocks`` / ``q_indices`` (and the full ones) are the same lists transposed, for
    the backward pass. The tensors are int32 tensorgrad tensors with PyTorch's values.
    Build one with ``create_block_mask`` or ``BlockMask.from_kv_blocks``."""

    _TENSOR_ATTRS = ["kv_num_blocks", "kv_indices", "full_kv_num_blocks", "full_kv_indices",
                     "q_num_blocks", "q_indices", "full_q_num_blocks", "full_q_indices"]

    def __init__(self, seq_lengths, kv_num_blocks, kv_indices, full_kv_num_blocks,
                 full_kv_indices, q_num_blocks, q_indices, full_q_num_blocks, full_q_indices,
                 BLOCK_SIZE=(_DEFAULT_SPARSE_BLOCK_SIZE, _DEFAULT_SPARSE_BLOCK_SIZE),
                 mask_mod=noop_mask):
        if kv_indices is None or kv_num_blocks is None:
            raise AssertionError("BlockMask: kv_num_blocks and kv_indices must be provided")
        if len(kv_indices.shape) < 2:
            raise RuntimeError("BlockMask must have at least 2 dimensions")
        if (full_kv_num_blocks is None) != (full_kv_indices is None):
            raise AssertionError("full_kv_num_blocks and full_kv_indices must be both "
                                 "provided or omitted")
        if (full_q_num_blocks is None) != (full_q_indices is None):
            raise AssertionError("full_q_num_blocks and full_q_indices must be both provided "
                                 "or omitted")
        self.seq_lengths = tuple(int(n) for n in seq_lengths)
        self.kv_num_blocks, self.kv_indices = _tensor(kv_num_blocks), _tensor(kv_indices)
        self.full_kv_num_blocks = _tensor(full_kv_num_blocks)
        self.full_kv_indices = _tensor(full_kv_indices)
        self.q_num_blocks, self.q_indices = _tensor(q_num_blocks), _tensor(q_indices)
        self.full_q_num_blocks = _tensor(full_q_num_blocks)
        self.full_q_indices = _tensor(full_q_indices)
        self.BLOCK_SIZE = tuple(BLOCK_SIZE)
        self.mask_mod = mask_mod

    @classmethod
    def from_kv_blocks(cls, kv_num_blocks, kv_indices, full_kv_num_blocks=None,
                       full_kv_indices=None, BLOCK_SIZE=_DEFAULT_SPARSE_BLOCK_SIZE,
                       mask_mod=None, seq_lengths=None, compute_q_blocks=True):
        """A BlockMask from its KV block lists; the Q lists are derived (transposed)."""
        if len(kv_indices.shape) < 2:
            raise RuntimeError("BlockMask must have at least 2 dimensions")
        if (full_kv_num_blocks is None) != (full_kv_indices is None):
            raise AssertionError("full_kv_num_blocks and full_kv_indices must be both "
                                 "provided or omitted")
        q_num = q_idx = full_q_num = full_q_idx = None
        if compute_q_blocks:
            q_num, q_idx = _transpose_ordered(_raw(kv_num_blocks), _raw(kv_indices))
            if full_kv_num_blocks is not None:
                full_q_num, full_q_idx = _transpose_ordered(_raw(full_kv_num_blocks),
                                                            _raw(full_kv_indices))
        if isinstance(BLOCK_SIZE, (int, np.integer)):
            BLOCK_SIZE = (int(BLOCK_SIZE), int(BLOCK_SIZE))
        if seq_lengths is None:
            seq_lengths = (kv_indices.shape[-2] * BLOCK_SIZE[0],
                           kv_indices.shape[-1] * BLOCK_SIZE[1])
        return cls(seq_lengths, kv_num_blocks, kv_indices, full_kv_num_blocks,
                   full_kv_indices, q_num, q_idx, full_q_num, full_q_idx, BLOCK_SIZE,
                   noop_mask if mask_mod is None else mask_mod)

    def as_tuple(self, flatten=True):
        """The fields in PyTorch's order (lengths and block sizes flattened or as pairs)."""
        seq = self.seq_lengths if flatten else (self.seq_lengths,)
        blocks = self.BLOCK_SIZE if flatten else (self.BLOCK_SIZE,)
        return (*seq, *(getattr(self, a) for a in self._TENSOR_ATTRS), *blocks, self.mask_mod)

    @property
    def shape(self):
        return tuple(self.kv_indices.shape[:-2]) + self.seq_lengths

    def numel(self):
        """The number of entries of the mask (not accounting for sparsity)."""
        return functools.reduce(operator.mul, self.shape, 1)

    def sparsity(self):
        """The percentage of blocks that are skipped (neither partial nor full)."""
        computed = int(_raw(self.kv_num_blocks).sum())
        if self.full_kv_num_blocks is not None:
            computed += int(_raw(self.full_kv_num_blocks).sum())
        return 100 * (1 - computed * self.BLOCK_SIZE[0] * self.BLOCK_SIZE[1] / self.numel())

    def _dense_raw(self):
        dense = _ordered_to_dense(_raw(self.kv_num_blocks), _raw(self.kv_indices),
                                  self.kv_indices.shape[-1])
        if self.full_kv_num_blocks is not None:
            dense = dense | _ordered_to_dense(_raw(self.full_kv_num_blocks),
                                              _raw(self.full_kv_indices),
                                              self.full_kv_indices.shape[-1])
        return dense

    def to_dense(self):
        """The int32 (..., num Q blocks, num KV blocks) matrix of blocks that are computed."""
        return Tensor(self._dense_raw())

    def to_string(self, grid_size=(20, 20), limit=4):
        """A picture of the block mask: full cells, partly set cells and empty cells."""
        dense = to_host(self._dense_raw())
        *batch_dims, rows, cols = dense.shape
        if isinstance(grid_size, int):
            max_rows = max_cols = rows if grid_size == -1 else grid_size
            if grid_size == -1:
                max_cols = cols
        else:
            max_rows, max_cols = grid_size
        row_step = max(1, -(-rows // max_rows))
        col_step = max(1, -(-cols // max_cols))
        pictures = []
        for n, idx in enumerate(itertools.product(*[range(i) for i in batch_dims])):
            if n == limit:
                pictures += ["...", "To print out more, set BlockMask.to_string(limit=N)",
                             "You can also index (BlockMask[batch, head]) to choose a specific "
                             "batch or head"]
                break
            cur = dense[idx]
            lines = [f"{idx}"]
            for r in range(0, rows, row_step):
                line = ""
                for c in range(0, cols, col_step):
                    frac = cur[r:r + row_step, c:c + col_step].mean()
                    line += ("█" if frac == 1 else " " if frac == 0 else "░") * 2
                lines.append(line)
            pictures.append("\n".join(lines) + "\n")
        return "\n".join(pictures)

    def __str__(self):
        return (f"BlockMask(shape={self.shape}, sparsity={self.sparsity():.2f}%, \n"
                f"{self.to_string().strip()}\n)")

    def __repr__(self):
        def shape(x):
            return None if x is None else tuple(x.shape)

        name = getattr(self.mask_mod, "__name__", self.mask_mod)
        fields = "".join(f"    {a}={shape(getattr(self, a))},\n" for a in self._TENSOR_ATTRS)
        return (f"BlockMask(\n{fields}    BLOCK_SIZE={self.BLOCK_SIZE},\n"
                f"    shape={self.shape},\n    sparsity={self.sparsity():.2f}%,\n"
                f"    mask_mod={name}\n)")

    def __getitem__(self, index):
        """The BlockMask of some batches / heads / Q block rows (an int keeps its dimension,
        as PyTorch's code does); its mask_mod is reset and must be set from the original."""
        index = index if isinstance(index, tuple) else (index,)
        padded = (*index, slice(None), slice(None), slice(None))[:3]
        sizes = self.kv_num_blocks.shape[:3]
        norm = []
        for i, n in zip(padded, sizes):
            if isinstance(i, (int, np.integer)):
                i = int(i)
                i = slice(i + n, i + n + 1) if -n <= i < 0 else slice(i, i + 1)
            elif isinstance(i, Tensor):
                i = i.data
            norm.append(i)
        norm = tuple(norm)

        def pick(t):
            return None if t is None else _raw(t)[norm]

        return BlockMask.from_kv_blocks(
            pick(self.kv_num_blocks), pick(self.kv_indices), pick(self.full_kv_num_blocks),
            pick(self.full_kv_indices), BLOCK_SIZE=self.BLOCK_SIZE,
            mask_mod=_sliced_mask_mod_error, seq_lengths=self.seq_lengths,
            compute_q_blocks=self.q_indices is not None)

    def _adjust(self, new_q_len, new_kv_len):
        """The mask cropped to its top-left (new_q_len, new_kv_len) corner."""
        rows = -(-new_q_len // self.BLOCK_SIZE[0])
        cols = -(-new_kv_len // self.BLOCK_SIZE[1])

        def crop(num, idx):
            if num is None:
                return None, None
            num, idx = _raw(num), _raw(idx)[:, :, :rows, :cols]
            num = num[:, :, :rows]
            xp = xp_of(num)
            num = xp.minimum(num, cols)
            return (idx < num[:, :, :, None]).sum(axis=-1).astype(np.int32), idx

        kv = crop(self.kv_num_blocks, self.kv_indices)
        full = crop(self.full_kv_num_blocks, self.full_kv_indices)
        return self.from_kv_blocks(*kv, *full, BLOCK_SIZE=self.BLOCK_SIZE,
                                   mask_mod=self.mask_mod, seq_lengths=(new_q_len, new_kv_len),
                                   compute_q_blocks=self.q_indices is not None)

    def to(self, device):
        """A new BlockMask with its tensors on ``device``."""
        moved = [None if getattr(self, a) is None else getattr(self, a).to(device)
                 for a in self._TENSOR_ATTRS]
        return BlockMask(self.seq_lengths, *moved, BLOCK_SIZE=self.BLOCK_SIZE,
                         mask_mod=self.mask_mod)

    def _device_xp(self):
        return xp_of(_raw(self.kv_num_blocks))

    def _keep(self, mask_mod, B, H, L, S, op):
        """The raw bool keep array, broadcastable to (B, H, L, S): full blocks, or partial
        blocks where ``mask_mod`` is True."""
        xp = self._device_xp()
        qb, kb = self.BLOCK_SIZE

        def expand(num, idx):
            dense = _ordered_to_dense(_raw(num), _raw(idx), idx.shape[-1]).astype(np.bool_)
            while dense.ndim < 4:
                dense = dense[None]
            b, h, nq, nk = dense.shape
            # no copy: a broadcast view (b, h, nq, qb, nk, kb) reshaped, then cropped
            el = xp.broadcast_to(dense[:, :, :, None, :, None], (b, h, nq, qb, nk, kb))
            return el.reshape(b, h, nq * qb, nk * kb)[:, :, :L, :S]

        partial = expand(self.kv_num_blocks, self.kv_indices)
        if xp is not np or partial.any():  # the check would be a device sync: only on the host
            partial = partial & _mask_values(mask_mod, B, H, L, S, xp, op)
        if self.full_kv_num_blocks is None:
            return partial
        return partial | expand(self.full_kv_num_blocks, self.full_kv_indices)


def _device_arg(device):
    return Device(get_default_device() if device is None else device)


def create_mask(mod_fn, B, H, Q_LEN, KV_LEN, device=None):
    """The dense bool (B, H, Q_LEN, KV_LEN) mask of a mask_mod (True: keep); for a score_mod,
    where it does not give -inf on zero scores (PyTorch's rule). B or H None count as 1.

    >>> from tensorgrad.nn.attention.flex_attention import create_mask
    >>> create_mask(lambda b, h, q, kv: q >= kv, 1, 1, 2, 2, device="cpu").tolist()
    [[[[True, False], [True, True]]]]
    """
    op = "create_mask"
    B, H = 1 if B is None else B, 1 if H is None else H
    xp = _device_arg(device).xp
    kind = _arity(mod_fn)
    shape = (B, H, Q_LEN, KV_LEN)
    if kind == 5:
        zeros = Tensor(xp.zeros(shape, dtype=np.float32))
        out = _check_result(mod_fn(zeros, *_indices(B, H, Q_LEN, KV_LEN, xp)), shape, op,
                            "score_mod")
        return Tensor(xp.broadcast_to(~xp.isneginf(out.data), shape).copy())
    _check_mod(mod_fn, 4, op, "mod_fn")
    keep = _mask_values(mod_fn, B, H, Q_LEN, KV_LEN, xp, op)
    return Tensor(xp.broadcast_to(keep, shape).copy())


def create_block_mask(mask_mod, B, H, Q_LEN, KV_LEN, device=None,
                      BLOCK_SIZE=_DEFAULT_SPARSE_BLOCK_SIZE, _compile=False,
                      separate_full_blocks=True):
    """The BlockMask of ``mask_mod`` over (B, H, Q_LEN, KV_LEN) (B or H None: 1, broadcast
    over the batch or heads), with PyTorch's block tensors. ``BLOCK_SIZE`` is an int or
    (Q_BLOCK_SIZE, KV_BLOCK_SIZE); lengths need not be multiples of it.

    >>> from tensorgrad.nn.attention.flex_attention import create_block_mask
    >>> bm = create_block_mask(lambda b, h, q, kv: q >= kv, None, None, 256, 256, device="cpu")
    >>> bm.kv_num_blocks.tolist(), bm.full_kv_num_blocks.tolist(), bm.sparsity()
    ([[[1, 1]]], [[[0, 1]]], 25.0)
    """
    op = "create_block_mask"
    _check_mod(mask_mod, 4, op, "mask_mod")
    if isinstance(BLOCK_SIZE, (int, np.integer)):
        q_block = kv_block = int(BLOCK_SIZE)
    else:
        q_block, kv_block = (int(n) for n in BLOCK_SIZE)
    for name, n in (("Q_LEN", Q_LEN), ("KV_LEN", KV_LEN), ("BLOCK_SIZE", q_block),
                    ("BLOCK_SIZE", kv_block)):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"{op}: {name} must be a positive int, got {n!r}")
    mask = _raw(create_mask(mask_mod, B, H, Q_LEN, KV_LEN, device))
    partial, full = _mask_to_blocks(mask, q_block, kv_block, separate_full_blocks)
    kv_num, kv_idx = _dense_to_ordered(partial)
    full_num, full_idx = (None, None) if full is None else _dense_to_ordered(full)
    return BlockMask.from_kv_blocks(kv_num, kv_idx, full_num, full_idx,
                                    BLOCK_SIZE=(q_block, kv_block), mask_mod=mask_mod,
                                    seq_lengths=(Q_LEN, KV_LEN))


# ---- flex_attention -----------------------------------------------------------------------------
def _validate(query, key, value, enable_gqa, block_mask, op):
    for name, t in (("query", query), ("key", key), ("value", value)):
        if t.ndim != 4:
            raise ValueError(f"{op}: {name} must be 4-D (B, H, length, features), got shape "
                             f"{tuple(t.shape)}")
    qs, ks, vs = tuple(query.shape), tuple(key.shape), tuple(value.shape)
    if query.dtype != key.dtype or query.dtype != value.dtype:
        raise ValueError(f"{op}: query, key and value must have one dtype, got {query.dtype}, "
                         f"{key.dtype} and {value.dtype}")
    if xp_of(query.data) is not xp_of(key.data) or xp_of(query.data) is not xp_of(value.data):
        raise RuntimeError(f"{op}: query, key and value must be on one device, got "
                           f"{query.device}, {key.device} and {value.device}")
    if qs[-1] != ks[-1]:
        raise ValueError(f"{op}: query {qs} and key {ks} must have the same embedding "
                         f"dimension E (dimension -1)")
    if ks[:3] != vs[:3]:
        raise ValueError(f"{op}: key {ks} and value {vs} must agree in batch, heads and length "
                         f"(dimensions 0-2)")
    if not enable_gqa and qs[1] != ks[1]:
        raise ValueError(f"{op}: query {qs} and key {ks} must have the same number of heads "
                         f"(dimension 1); for grouped-query attention pass enable_gqa=True")
    if enable_gqa and (ks[1] == 0 or qs[1] % ks[1]):
        raise ValueError(f"{op}: with enable_gqa the query's heads ({qs[1]}, query {qs}) must "
                         f"be a multiple of the key's ({ks[1]}, key {ks})")
    if qs[0] != ks[0]:
        if block_mask is None or ks[0] != 1 or block_mask.kv_num_blocks.shape[0] != qs[0]:
            raise ValueError(f"{op}: query {qs} and key {ks} must have the same batch size "
                             f"(or key batch 1 with a block_mask of the query's batch)")


def _check_block_mask(block_mask, query, key, op):
    if not isinstance(block_mask, BlockMask):
        raise TypeError(f"{op}: block_mask must be a BlockMask (from create_block_mask), got "
                        f"{type(block_mask).__name__}")
    if block_mask.mask_mod is _sliced_mask_mod_error:
        raise RuntimeError("Cannot use mask_mod from a sliced BlockMask")
    if block_mask.BLOCK_SIZE == (_LARGE_SPARSE_BLOCK_SIZE, _LARGE_SPARSE_BLOCK_SIZE):
        return
    L, S = query.shape[2], key.shape[2]
    bq, bkv = block_mask.shape[-2:]
    if (L, S) != (bq, bkv):
        hint = ("create a new block mask, or crop it with block_mask._adjust(q_len, kv_len)"
                if L <= bq and S <= bkv else "create a new block mask for these lengths")
        raise ValueError(f"{op}: block_mask was created for block_mask.shape="
                         f"{block_mask.shape} but got query {tuple(query.shape)} (q_len={L}) "
                         f"and key {tuple(key.shape)} (kv_len={S}); {hint}")
    lead = tuple(block_mask.kv_num_blocks.shape[:-1])
    lead = (1,) * (2 - len(lead)) + lead
    for what, n, want in (("batch", lead[0], query.shape[0]), ("heads", lead[1],
                                                                 query.shape[1])):
        if n not in (1, want):
            raise ValueError(f"{op}: block_mask of shape {block_mask.shape} has {n} {what}, "
                             f"query {tuple(query.shape)} has {want}: they must match or the "
                             f"block mask's be 1")
    if block_mask._device_xp() is not xp_of(query.data):
        raise RuntimeError(f"{op}: query and block_mask must be on one device, got "
                           f"{query.device} and {block_mask.kv_num_blocks.device}; move the "
                           f"mask with block_mask.to(query.device)")


def _warn_once(key, message, category):
    if key not in _WARNED:
        _WARNED.add(key)
        warnings.warn(message, category, stacklevel=3)


def flex_attention(query, key, value, score_mod=None, block_mask=None, scale=None,
                   enable_gqa=False, return_lse=False, kernel_options=None, *,
                   return_aux=None):
    """softmax(score_mod(query @ key^T * scale) masked by ``block_mask``) @ value, PyTorch's
    FlexAttention computed eagerly: query (B, Hq, L, E), key (B, Hkv, S, E), value
    (B, Hkv, S, Ev) -> (B, Hq, L, Ev). ``scale`` defaults to 1/sqrt(E); ``enable_gqa`` lets
    each key/value head serve Hq / Hkv consecutive query heads.

    See the module's docstring for how ``score_mod`` and ``block_mask`` are applied (one call
    with broadcastable index tensors; entries kept by full blocks or by partial blocks and
    ``mask_mod``). Masked entries are -inf before the softmax; a row with nothing kept gives 0.

    ``return_aux=AuxRequest(lse=True, max_scores=True)`` returns ``(out, AuxOutput(lse,
    max_scores))``: the log-sum-exp of each row (natural log, differentiable; -inf for an empty
    row) and the row maxima (no gradient). ``return_lse=True`` (deprecated in PyTorch) returns
    ``(out, lse)``. ``kernel_options`` are accepted and ignored.

    Derivatives flow to query, key, value and any tensor the score_mod captures, to every order.
    Memory is that of the scores: (B, Hq, L, S), materialised.

    >>> import tensorgrad as tg
    >>> from tensorgrad.nn.attention.flex_attention import flex_attention
    >>> q = tg.zeros(1, 1, 2, 4)
    >>> v = tg.tensor([[[[1.0], [3.0]]]])
    >>> flex_attention(q, q, v).reshape(2).tolist()
    [2.0, 2.0]
    >>> bias = tg.tensor([0.0, 100.0])
    >>> flex_attention(q, q, v, score_mod=lambda s, b, h, qi, kv: s + bias[kv]).reshape(2).tolist()
    [3.0, 3.0]
    """
    op = "flex_attention"
    query, key, value = (t if isinstance(t, Tensor) else Tensor(t) for t in (query, key, value))
    _validate(query, key, value, enable_gqa, block_mask, op)
    if score_mod is not None:
        _check_mod(score_mod, 5, op, "score_mod")
    if block_mask is not None:
        _check_block_mask(block_mask, query, key, op)
    if kernel_options is not None:
        if not isinstance(kernel_options, dict):
            raise TypeError(f"{op}: kernel_options must be a dict (FlexKernelOptions), got "
                            f"{type(kernel_options).__name__}")
        backend = kernel_options.get("BACKEND")
        if backend is not None and backend not in _BACKENDS:
            raise ValueError(f"Invalid BACKEND value '{backend}'. Must be one of {_BACKENDS}")
        if backend is not None and kernel_options.get("FORCE_USE_FLEX_ATTENTION", False):
            raise RuntimeError("BACKEND cannot be combined with legacy "
                               "FORCE_USE_FLEX_ATTENTION.")
    if return_lse and return_aux is not None:
        raise ValueError("Cannot specify both return_lse and return_aux. return_lse is "
                         "deprecated, please use return_aux=AuxRequest(lse=True) instead.")
    if return_lse:
        _warn_once("return_lse", "return_lse is deprecated and will be removed in v2.10. "
                   "Please use return_aux=AuxRequest(lse=True) instead.", FutureWarning)
    if return_aux is not None and not isinstance(return_aux, AuxRequest):
        raise TypeError(f"{op}: return_aux must be an AuxRequest, got "
                        f"{type(return_aux).__name__}")

    in_dtype = query.dtype
    if in_dtype in (np.float32, np.float64):
        work = in_dtype
    else:  # float16 (and other low precision): float32 inside, as PyTorch's working precision
        work = np.dtype(np.float32)
        query, key, value = (t.to(work) for t in (query, key, value))
    B, Hq, L, E = query.shape
    Hkv, S = key.shape[1], key.shape[2]
    G = Hq // Hkv
    if scale is None:
        scale = 1.0 / math.sqrt(E)
    xp = xp_of(query.data)

    # grouped heads without copying the keys: q as (B, Hkv, G, L, E) against k (B, Hkv, 1, S, E)
    q = query * float(scale)
    if G > 1:
        q = reshape(q, (B, Hkv, G, L, E))
        kt = expand_dims(swapaxes(key, -1, -2), 2)
    else:
        kt = swapaxes(key, -1, -2)
    scores = matmul(q, kt)
    if G > 1:
        scores = reshape(scores, (B, Hq, L, S))
    shape = (B, Hq, L, S)

    s = scores
    if score_mod is not None:
        s = _check_result(score_mod(scores, *_indices(B, Hq, L, S, xp)), shape, op, "score_mod")
        if s.dtype != work:
            s = s.to(work)
        if tuple(s.shape) != shape:
            s = broadcast_to(s, shape)

    keep = None
    if block_mask is not None and block_mask.BLOCK_SIZE != (_LARGE_SPARSE_BLOCK_SIZE,
                                                            _LARGE_SPARSE_BLOCK_SIZE):
        keep = block_mask._keep(block_mask.mask_mod, B, Hq, L, S, op)
    neg_inf = xp.asarray(-np.inf, dtype=work)
    if keep is not None:
        s = _ew.where(keep, s, neg_inf)
    empty = None
    if keep is not None or score_mod is not None:
        alive = keep if score_mod is None else s.data != -np.inf
        empty = ~alive.any(axis=-1, keepdims=True)
        if xp is np and not empty.any():  # a free check on the host: skip the repair
            empty = None
    want_lse = return_lse or (return_aux is not None and return_aux.lse)
    want_max = return_aux is not None and return_aux.max_scores
    max_scores = None
    if want_max:  # before the repair below: an empty row's maximum is -inf
        max_scores = Tensor(xp.broadcast_to(s.data, shape).max(axis=-1))
    if empty is not None:
        # an empty row softmaxes zeros (finite, derivatives finite) and is multiplied by 0
        s = _ew.where(empty, xp.zeros((), dtype=work), s)
    from .. import functional as F

    p = F.softmax(s, -1)
    if empty is not None:
        p = p * (~empty).astype(work)
    if G > 1:
        out = reshape(matmul(reshape(p, (B, Hkv, G, L, S)), expand_dims(value, 2)),
                      (B, Hq, L, value.shape[-1]))
    else:
        out = matmul(p, value)
    if out.dtype != in_dtype:
        out = out.to(in_dtype)
    lse = None
    if want_lse:
        lse = _red.logsumexp(s, (3,), False)
        if empty is not None:
            lse = _ew.where(empty[..., 0], neg_inf, lse)
    if return_aux is not None:
        return out, AuxOutput(lse=lse if return_aux.lse else None, max_scores=max_scores)
    if return_lse:
        return out, lse
    return out
