"""``tg.nn.attention.bias``: PyTorch's causal biases for ``F.scaled_dot_product_attention``.

``causal_upper_left(L, S)`` keeps the lower triangle anchored at the top left (query i sees keys
0..i: ``is_causal=True``); ``causal_lower_right(L, S)`` anchors it at the bottom right (query i
sees keys 0..i + S - L: the last query sees every key, as in decoding with a cache).

A ``CausalBias`` is a bool mask tensor (True: attend) made on the default device, usable as
``attn_mask`` directly; on another device pass ``bias.to(query.device)`` or
``bias._materialize(query.device)``. With ``causal_lower_right`` and L > S the first rows keep
no key: PyTorch's answer there is NaN, tensorgrad's safe softmax gives zeros.

>>> import tensorgrad as tg
>>> from tensorgrad.nn.attention.bias import causal_lower_right
>>> causal_lower_right(2, 3).tolist()
[[True, True, False], [True, True, True]]
"""

import enum
import warnings

import numpy as np

from ...backend.device import get_default_device
from ...tensor import Tensor
from . import SDPAParams, can_use_efficient_attention, can_use_flash_attention  # noqa: F401

__all__ = ["causal_upper_left", "causal_lower_right", "CausalVariant", "CausalBias"]


class CausalVariant(enum.IntEnum):
    """Where the causal triangle is anchored."""

    UPPER_LEFT = 1
    LOWER_RIGHT = 2


def _size(v, what):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
        raise ValueError(f"CausalBias: {what} must be a non-negative int, got {v!r}")
    return int(v)


class CausalBias(Tensor):
    """The (seq_len_q, seq_len_kv) bool mask of ``variant`` (see the module's docstring)."""

    __slots__ = ("variant", "seq_len_q", "seq_len_kv")

    def __init__(self, variant, seq_len_q, seq_len_kv):
        if not isinstance(variant, CausalVariant):
            raise AssertionError(f"variant must be a CausalVariant, got "
                                 f"{type(variant).__name__}")
        self.variant = variant
        self.seq_len_q = _size(seq_len_q, "seq_len_q")
        self.seq_len_kv = _size(seq_len_kv, "seq_len_kv")
        if self.seq_len_q > self.seq_len_kv and variant == CausalVariant.LOWER_RIGHT:
            warnings.warn("Lower right causal bias will produce NaNs in the output when "
                          "seq_len_q > seq_len_kv! (tensorgrad gives zeros for the rows that "
                          "see no key)", stacklevel=2)
        super().__init__(self._mask(get_default_device()))

    def _mask(self, device):
        L, S = self.seq_len_q, self.seq_len_kv
        offset = S - L if self.variant == CausalVariant.LOWER_RIGHT else 0
        keep = np.arange(L)[:, None] + offset >= np.arange(S)[None, :]
        return Tensor(keep, device=device).data

    def _materialize(self, device=None):
        """The mask as a plain bool tensor on ``device`` (default: the CPU)."""
        return Tensor(self._mask("cpu" if device is None else device))

    def __repr__(self):
        return self._materialize().__repr__()


def causal_upper_left(*size):
    """``CausalBias(UPPER_LEFT, L, S)`` from ``causal_upper_left(L, S)``."""
    if len(size) != 2:
        raise AssertionError("causal_upper_left only supports 2D tensors")
    return CausalBias(CausalVariant.UPPER_LEFT, *size)


def causal_lower_right(*size):
    """``CausalBias(LOWER_RIGHT, L, S)`` from ``causal_lower_right(L, S)``."""
    if len(size) != 2:
        raise AssertionError("causal_lower_right only supports 2D tensors")
    return CausalBias(CausalVariant.LOWER_RIGHT, *size)
