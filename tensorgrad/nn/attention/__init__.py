"""``tg.nn.attention``: PyTorch's ``torch.nn.attention``: ``SDPBackend``, ``sdpa_kernel``, the
flash-attention implementation registry, and ``tg.nn.attention.bias`` (causal biases).

tensorgrad has one implementation of ``F.scaled_dot_product_attention``, the exact
computation of PyTorch's MATH backend (softmax(q k^T scale + mask) v; on CuPy its softmax is a
fused row kernel). So every backend selects it: ``sdpa_kernel`` records the choice (it sets the
switches of ``tg.backends.cuda``, ``flash_sdp_enabled()`` and friends, for the block, as
PyTorch's does) and the values never change with it. Where PyTorch would refuse a choice (on a
CPU tensor only MATH and FLASH_ATTENTION have kernels: ``sdpa_kernel(EFFICIENT_ATTENTION)``
there raises "No viable backend"), tensorgrad still computes: its one implementation
is available everywhere, and a program that selects a fused backend for its GPU runs here on
either device with the same numbers. ``can_use_flash_attention`` and
``can_use_efficient_attention`` answer False (there is no fused kernel).

The Transformer modules (``MultiheadAttention``, ...) live in ``tensorgrad.nn.transformer``;
they stay importable from here, where tensorgrad kept them before.

>>> import tensorgrad as tg
>>> from tensorgrad.nn.attention import SDPBackend, sdpa_kernel
>>> q = tg.ones(1, 2, 4)
>>> with sdpa_kernel(SDPBackend.MATH):
...     out = tg.nn.functional.scaled_dot_product_attention(q, q, q)
>>> out.shape
(1, 2, 4)
"""

import contextlib
import enum
import warnings

from ..transformer import *  # noqa: F403  (the modules' old home: tg.nn.attention.Transformer)

__all__ = ["SDPBackend", "sdpa_kernel", "WARN_FOR_UNFUSED_KERNELS",
           "register_flash_attention_impl", "activate_flash_attention_impl",
           "list_flash_attention_impls", "current_flash_attention_impl",
           "restore_flash_attention_impl"]

WARN_FOR_UNFUSED_KERNELS = False  # PyTorch's switch for warnings on why a fused kernel is not used


class SDPBackend(enum.IntEnum):
    """The backends of scaled dot product attention (PyTorch's values)."""

    ERROR = -1
    MATH = 0
    FLASH_ATTENTION = 1
    EFFICIENT_ATTENTION = 2
    CUDNN_ATTENTION = 3
    OVERRIDEABLE = 4


_DEFAULT_PRIORITY = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION,
                     SDPBackend.MATH, SDPBackend.CUDNN_ATTENTION, SDPBackend.OVERRIDEABLE]
_STATE = {"priority": list(_DEFAULT_PRIORITY), "overrideable": True}
_SWITCHES = {SDPBackend.FLASH_ATTENTION: "flash", SDPBackend.EFFICIENT_ATTENTION: "mem_efficient",
             SDPBackend.MATH: "math", SDPBackend.CUDNN_ATTENTION: "cudnn"}


def _enabled():
    """The enabled backends, in priority order."""
    from ...backends import cuda as _bc

    on = {b for b, kind in _SWITCHES.items() if getattr(_bc, f"{kind}_sdp_enabled")()}
    if _STATE["overrideable"]:
        on.add(SDPBackend.OVERRIDEABLE)
    return [b for b in _STATE["priority"] if b in on]


def _select(backends, set_priority):
    from ...backends import cuda as _bc

    for b, kind in _SWITCHES.items():
        getattr(_bc, f"enable_{kind}_sdp")(b in backends)
    _STATE["overrideable"] = SDPBackend.OVERRIDEABLE in backends
    if set_priority:
        _STATE["priority"] = list(backends) + [b for b in _STATE["priority"]
                                               if b not in backends]


@contextlib.contextmanager
def sdpa_kernel(backends, set_priority=False):
    """Within the block (or the decorated function) only ``backends`` (an ``SDPBackend`` or a
    list of them) are enabled, and with ``set_priority=True`` they are tried in the list's
    order; the previous switches and order come back afterwards. See the module's docstring:
    the values of ``F.scaled_dot_product_attention`` are the same under every choice."""
    if not isinstance(backends, (list, SDPBackend)):
        raise AssertionError(f"Backend must be an instance of SDPBackend or a list of "
                             f"SDPBackend instances, got {type(backends).__name__}")
    if isinstance(backends, SDPBackend):
        backends = [backends]
    bad = [b for b in backends if not isinstance(b, SDPBackend)]
    if bad:
        raise AssertionError(f"Backend must be an instance of SDPBackend or a list of "
                             f"SDPBackend instances, got a list holding {bad[0]!r}")
    backends = list(dict.fromkeys(backends))
    previous, priority = _enabled(), list(_STATE["priority"])
    try:
        _select(backends, set_priority)
        yield {}
    finally:
        _select(previous, False)
        _STATE["priority"] = priority


class SDPAParams:
    """The arguments of one attention call (PyTorch's ``SDPAParams``), for the
    ``can_use_*`` queries."""

    def __init__(self, query, key, value, attn_mask, dropout, is_causal, enable_gqa=False):
        self.query, self.key, self.value = query, key, value
        self.attn_mask, self.dropout = attn_mask, dropout
        self.is_causal, self.enable_gqa = is_causal, enable_gqa


def _no_fused(params, debug, what):
    if not isinstance(params, SDPAParams):
        raise TypeError(f"{what}: expected SDPAParams, got {type(params).__name__}")
    if debug:
        warnings.warn(f"{what}: tensorgrad has no fused attention kernel; "
                      "F.scaled_dot_product_attention computes the math backend's way",
                      stacklevel=3)
    return False


def can_use_flash_attention(params, debug=False):
    """False: tensorgrad has no flash-attention kernel (``debug=True`` warns why)."""
    return _no_fused(params, debug, "can_use_flash_attention")


def can_use_efficient_attention(params, debug=False):
    """False: tensorgrad has no memory-efficient attention kernel."""
    return _no_fused(params, debug, "can_use_efficient_attention")


# ---- the flash-attention implementation registry (PyTorch's, for providers of kernels) -------
_IMPLS = {}
_ACTIVE = [None]  # (name, handle) of the activated implementation


def register_flash_attention_impl(impl, *, register_fn):
    """Register ``register_fn``, called by ``activate_flash_attention_impl(impl)``. (tensorgrad
    itself registers none: PyTorch's FA3 and FA4 are its CUDA kernels.)"""
    if not callable(register_fn):
        raise TypeError(f"register_flash_attention_impl: register_fn must be callable, got "
                        f"{type(register_fn).__name__}")
    _IMPLS[impl] = register_fn


def activate_flash_attention_impl(impl):
    """Call the ``register_fn`` of ``impl`` (after restoring any active one) and keep the
    handle it returns."""
    restore_flash_attention_impl(_raise_warn=False)
    register_fn = _IMPLS.get(impl)
    if register_fn is None:
        raise ValueError(f"Unknown flash attention impl '{impl}'. Available implementations: "
                         f"{list_flash_attention_impls()}")
    handle = register_fn()
    if handle is not None:
        _ACTIVE[0] = (impl, handle)


def list_flash_attention_impls():
    """The registered implementations' names, sorted."""
    return sorted(_IMPLS)


def current_flash_attention_impl():
    """The activated implementation's name (None: the default)."""
    return None if _ACTIVE[0] is None else _ACTIVE[0][0]


def restore_flash_attention_impl(_raise_warn=True):
    """Remove the activated implementation (its handle's ``remove()``), back to the default."""
    if _ACTIVE[0] is not None:
        _ACTIVE[0][1].remove()
    elif _raise_warn:
        import logging  # here: ~1 ms at import for one rarely reached warning

        logging.getLogger(__name__).warning(
            "Trying to restore default FA2 impl when no custom impl was activated")
    _ACTIVE[0] = None


from . import bias  # noqa: E402
