"""``tg.backends``: PyTorch's ``torch.backends`` switches, for training scripts that set them.

tensorgrad computes with NumPy on the host and CuPy on a GPU, with its own CUDA kernels; it
does not use cuDNN, oneDNN (mkldnn), MPS or TF32. So the switches here are accepted and
remembered, and the queries answer for tensorgrad: ``cudnn.is_available()`` is False,
``mps.is_available()`` is False, ``cuda.is_built()`` says whether CuPy is installed.
``cuda.matmul.allow_tf32`` reads and sets ``tg.set_float32_matmul_precision`` as PyTorch's does.
``import tensorgrad.backends.cudnn as cudnn`` works as PyTorch's spelling does.

>>> import tensorgrad as tg
>>> tg.backends.cudnn.benchmark = True
>>> tg.backends.mps.is_available()
False
"""

from . import cpu, cuda, cudnn, mkl, mkldnn, mps, openmp, opt_einsum

__all__ = ["cpu", "cuda", "cudnn", "mkl", "mkldnn", "mps", "openmp", "opt_einsum"]
