"""``tg.backends.cuda``: ``is_built()`` (CuPy installed), ``matmul.allow_tf32`` (tied to
``tg.set_float32_matmul_precision`` as in PyTorch; CuPy's products stay full float32 either
way) and the attention-kernel switches of PyTorch, accepted and remembered
(``tg.nn.functional.scaled_dot_product_attention`` has one implementation)."""

import contextlib

import numpy as np

_SDP = {"flash": True, "mem_efficient": True, "math": True, "cudnn": True}


def is_built():
    """Whether CuPy, tensorgrad's CUDA backend, is installed."""
    from ..backend.device import cupy

    return cupy is not None


class _Matmul:
    """``matmul.allow_tf32``: True where the float32 matmul precision is not 'highest'."""

    allow_fp16_reduced_precision_reduction = True
    allow_bf16_reduced_precision_reduction = True

    @property
    def allow_tf32(self):
        from ..torch_surface2 import get_float32_matmul_precision

        return get_float32_matmul_precision() != "highest"

    @allow_tf32.setter
    def allow_tf32(self, value):
        from ..torch_surface2 import set_float32_matmul_precision

        if not isinstance(value, (bool, np.bool_)):
            raise RuntimeError(f"backends.cuda.matmul.allow_tf32 must be set to a bool, got "
                               f"{type(value).__name__} {value!r}")
        set_float32_matmul_precision("high" if value else "highest")


matmul = _Matmul()


def preferred_linalg_library(backend=None):
    """'default': CuPy picks cuSOLVER itself."""
    return "default"


def _switch(kind):
    def enable(enabled):
        _SDP[kind] = bool(enabled)

    def is_enabled():
        return _SDP[kind]

    enable.__name__, is_enabled.__name__ = f"enable_{kind}_sdp", f"{kind}_sdp_enabled"
    return enable, is_enabled


enable_flash_sdp, flash_sdp_enabled = _switch("flash")
enable_mem_efficient_sdp, mem_efficient_sdp_enabled = _switch("mem_efficient")
enable_math_sdp, math_sdp_enabled = _switch("math")
enable_cudnn_sdp, cudnn_sdp_enabled = _switch("cudnn")


@contextlib.contextmanager
def sdp_kernel(enable_flash=True, enable_math=True, enable_mem_efficient=True,
               enable_cudnn=True):
    """Set the four switches for the block, then restore them."""
    saved = dict(_SDP)
    _SDP.update(flash=bool(enable_flash), math=bool(enable_math),
                mem_efficient=bool(enable_mem_efficient), cudnn=bool(enable_cudnn))
    try:
        yield
    finally:
        _SDP.update(saved)
