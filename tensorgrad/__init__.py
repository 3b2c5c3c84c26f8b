"""tensorgrad: tensor automatic differentiation on NumPy and CuPy.

>>> import tensorgrad as tg
>>> x = tg.tensor([1.0, 2.0], requires_grad=True)
>>> y = (x ** 2).sum()
>>> y.backward()
>>> x.grad
tensor([2., 4.])
"""

import numpy as _np

# NumPy 2's promotion rules (NEP 50) are tensorgrad's; NumPy 1.x promotes Python scalars by
# value and sends mixed-dtype ops into endless casts. 2.2 is the first whose from_dlpack gives
# writable arrays (PyTorch's zero-copy sharing).
if _np.lib.NumpyVersion(_np.__version__) < "2.2.0":
    raise ImportError(f"tensorgrad needs NumPy 2.2 or newer; this environment has NumPy "
                      f"{_np.__version__}: pip install 'numpy>=2.2'")

# ops binds the Tensor operators and methods
from . import amp, backends, cpu, cuda, distributed, jit, nn, ops, optim, utils
from .amp import autocast, get_autocast_dtype, is_autocast_enabled
from .autograd.functional import (
    checkpoint,
    deriv,
    elementwise_grad,
    grad,
    grad_and_aux,
    hessian,
    hessian_tensor_product,
    hessian_vector_product,
    holomorphic_grad,
    jacobian,
    jvp,
    make_ggnvp,
    make_hvp,
    make_jvp,
    make_vjp,
    tensor_jacobian_product,
    value_and_grad,
    vector_jacobian_product,
    vjp,
)
from .autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .backend.device import Device, get_default_device, set_default_device
from .backend.malloc import tune as _tune_malloc
from .creation import (
    Generator,
    arange,
    default_generator,
    empty,
    empty_like,
    eye,
    from_dlpack,
    from_numpy,
    full,
    full_like,
    get_rng_state,
    linspace,
    manual_seed,
    ones,
    ones_like,
    rand,
    randint,
    randn,
    set_rng_state,
    tensor,
    zeros,
    zeros_like,
)
from .extend import primitive  # a user's primitive: a rule not declared raises, never cuts
from .io import load, save
from .ops import concatenate, stack
from .ops.registry import defjvp, defvjp
from .tensor import Tensor, is_tensor
from .testing import check_grads, gradcheck

_tune_malloc()  # keep freed host memory for the next step (see backend/malloc.py)

bfloat16 = "bfloat16"  # a name only: NumPy and CuPy have no bfloat16 (tg.autocast says so)
cat = concatenate

# tg.numpy without a second import; PyTorch's top-level functions (tg.exp, tg.where, tg.topk,
# ...) and the Tensor methods they bring (torch_api attaches them); PyTorch's dtype names as
# NumPy dtypes (tg.float32, tg.long, tg.bool, tg.dtype: they shadow bool/float/int here, as in
# torch) and more of its top level (torch_surface: unique, cdist, svd, qr, inference_mode, ...);
# tg.linalg is torch.linalg; torch_surface2: cummax, quantile, mode, trapezoid, histogram,
# set_printoptions, tg.Size, ...; tg.fft is torch.fft and tg.special torch.special
# (tensorgrad.numpy.fft and tensorgrad.scipy.special stay NumPy's and SciPy's);
# signal_windows: hann_window ... kaiser_window, stft, istft
from . import (  # noqa: E402,F401
    _dtypes,
    distributions,
    fft,
    func,
    linalg,
    numpy,
    special,
    torch_api,
    torch_surface,
    torch_surface2,
)
from ._dtypes import *  # noqa: E402,F401,F403
from .creation import get_default_dtype, set_default_dtype  # noqa: E402
from .func import vmap  # noqa: E402  (tg.func is torch.func; tg.vmap is torch.vmap)
from .signal_windows import *  # noqa: E402,F401,F403
from .signal_windows import __all__ as _signal_all  # noqa: E402
from .torch_api import *  # noqa: E402,F401,F403
from .torch_surface import *  # noqa: E402,F401,F403
from .torch_surface2 import *  # noqa: E402,F401,F403


def device(spec, index=None):
    """``tg.device("cuda:0")``, ``tg.device("cuda", 1)``, ``tg.device("cpu")``."""
    return Device(spec, index)


__version__ = "0.1.0"
__all__ = [
    "Tensor", "tensor", "is_tensor", "no_grad", "enable_grad", "set_grad_enabled",
    "is_grad_enabled", "zeros", "ones", "full", "empty", "arange", "linspace", "eye", "rand",
    "randn", "randint", "zeros_like", "ones_like", "full_like", "empty_like", "from_numpy",
    "from_dlpack",
    "manual_seed", "get_rng_state", "set_rng_state", "Generator", "default_generator",
    "primitive", "defvjp", "defjvp", "device", "Device", "cuda", "concatenate",
    "stack", "cat", "nn", "optim", "save", "load", "grad", "value_and_grad", "grad_and_aux",
    "elementwise_grad", "jacobian", "hessian", "make_vjp", "make_jvp", "make_hvp", "make_ggnvp",
    "set_default_device", "get_default_device",
    "hessian_tensor_product", "hessian_vector_product", "tensor_jacobian_product",
    "vector_jacobian_product", "deriv", "holomorphic_grad", "checkpoint", "vjp", "jvp",
    "check_grads", "gradcheck", "amp", "autocast", "is_autocast_enabled", "get_autocast_dtype",
]
__all__ += [n for n in torch_api.__all__ if n not in __all__] + ["numpy"]
__all__ += _dtypes.__all__ + torch_surface.__all__ + ["get_default_dtype", "set_default_dtype"]
__all__ += ["func", "vmap"]
__all__ += torch_surface2.__all__
__all__ += ["distributions"]
__all__ += ["fft", "special"] + _signal_all

# torch_surface3: the scatter family, Tensor.unfold, the remaining in-place variants, storage
# queries, legacy tensor types, ...; imported last, it adds only names not defined above
from . import torch_surface3  # noqa: E402
from .torch_surface3 import *  # noqa: E402,F401,F403

__all__ += torch_surface3.__all__

# torch_linalg_extra: tg.geqrf, tg.orgqr, tg.ormqr and their Tensor methods
from . import torch_linalg_extra  # noqa: E402
from .torch_linalg_extra import *  # noqa: E402,F401,F403

__all__ += torch_linalg_extra.__all__

# torch_nn_aliases: torch.conv2d, torch.max_pool2d, torch.batch_norm, torch.embedding,
# torch.kl_div, ... (the top level's copies of nn.functional, with its own arguments)
from . import torch_nn_aliases  # noqa: E402
from .torch_nn_aliases import *  # noqa: E402,F401,F403

__all__ += torch_nn_aliases.__all__

# torch_numerics: svd_lowrank, pca_lowrank, lobpcg, as_strided (and its variants),
# segment_reduce, nonzero_static
from . import torch_numerics  # noqa: E402
from .torch_numerics import *  # noqa: E402,F401,F403

__all__ += torch_numerics.__all__

# torch_quant: fake_quantize_per_tensor_affine, fake_quantize_per_channel_affine (QAT)
from . import torch_quant  # noqa: E402
from .torch_quant import *  # noqa: E402,F401,F403

__all__ += torch_quant.__all__

# sparse: tg.sparse (torch.sparse: mm, addmm, sum, softmax, log_softmax), sparse COO tensors
# (tg.sparse_coo_tensor, Tensor.to_sparse) and the tg.sparse_coo layout, and the compressed
# layouts (tensorgrad/sparse_compressed.py): CSR and CSC; the BSR/BSC names raise
from . import sparse  # noqa: E402
from .sparse import (  # noqa: E402
    sparse_bsc,
    sparse_bsc_tensor,
    sparse_bsr,
    sparse_bsr_tensor,
    sparse_compressed_tensor,
    sparse_coo,
    sparse_coo_tensor,
    sparse_csc,
    sparse_csc_tensor,
    sparse_csr,
    sparse_csr_tensor,
    spmm,
)

__all__ += ["sparse", "sparse_coo", "sparse_coo_tensor", "spmm"]
__all__ += ["sparse_csr", "sparse_csc", "sparse_bsr", "sparse_bsc", "sparse_csr_tensor",
            "sparse_csc_tensor", "sparse_compressed_tensor", "sparse_bsr_tensor",
            "sparse_bsc_tensor"]

# profiler: tg.profiler (torch.profiler: profile, record_function, schedule, ...) and
# tg.autograd.profiler (the older interface), one machinery; nothing runs until one records
from . import profiler  # noqa: E402
from .autograd import profiler as _autograd_profiler  # noqa: E402,F401

__all__ += ["profiler"]

# torch_surface4: the remaining Tensor methods and top-level names programs meet (bit-shift
# operators, functional RNN cells, convolution, grid_sampler, rms_norm, hash_tensor, uint16/32/64)
from . import torch_surface4  # noqa: E402
from .torch_surface4 import *  # noqa: E402,F401,F403

__all__ += torch_surface4.__all__

# torch namespaces ported programs touch first: tg.accelerator, tg.compiler, tg.random,
# tg.signal (.windows), tg.hub, tg.masked (torch.masked's reductions); tg.GradScaler is
# tg.amp.GradScaler (torch.GradScaler)
from . import (  # noqa: E402
    accelerator,
    compiler,
    futures,
    hub,
    library,
    masked,
    quasirandom,
    random,
    signal,
)
from .amp import GradScaler  # noqa: E402

# not random and signal: `from tensorgrad import *` must not shadow the standard library's
# tg.exp(masked_tensor), tg.sum, tg.where, tg.nn.functional.softmax, ...: the functions PyTorch's
# MaskedTensor supports take one (tg.masked.MaskedTensor)
masked._masked_tensor.install()

__all__ += ["accelerator", "compiler", "futures", "hub", "GradScaler"]

# multiprocessing: tg.multiprocessing (torch.multiprocessing), Tensor.share_memory_/is_shared and
# Module.share_memory (shared-memory tensors that travel between processes as handles). Loaded
# on first use (tg.multiprocessing, or one of the methods): it costs ~5 ms at import.


import importlib as _importlib  # noqa: E402


def _multiprocessing_method(name):
    def method(self, *args, **kwargs):
        _importlib.import_module(__name__ + ".multiprocessing")  # installs the real methods
        return getattr(self, name)(*args, **kwargs)

    method.__name__ = method.__qualname__ = name
    return method


Tensor.share_memory_ = _multiprocessing_method("share_memory_")
Tensor.is_shared = _multiprocessing_method("is_shared")
nn.Module.share_memory = _multiprocessing_method("share_memory")


def __getattr__(name):
    # loaded on first use, as PyTorch's torch.multiprocessing and torch.onnx are there after
    # `import torch`
    if name in ("multiprocessing", "onnx"):
        return _importlib.import_module(__name__ + "." + name)
    raise AttributeError(f"module 'tensorgrad' has no attribute {name!r}")


# not in __all__ (as PyTorch's): `from tensorgrad import *` must not shadow the standard library's

# memory formats: tg.memory_format, tg.channels_last, ... (tensor layouts, _memory_format.py)
from ._memory_format import *  # noqa: E402,F401,F403
from ._memory_format import __all__ as _mf_all  # noqa: E402

__all__ += _mf_all

# layouts: tg.strided, tg.sparse_coo, ..., tg.jagged, tg._mkldnn (_layouts.py), and PyTorch's
# layout= on every factory that takes one (None or tg.strided; others raise naming the factory)
from . import _layouts  # noqa: E402
from ._layouts import _mkldnn, jagged  # noqa: E402,F401

_layouts.install(globals(), Tensor)
__all__ += ["jagged"]

# storage: tg.UntypedStorage, tg.TypedStorage, tg.FloatStorage, ... (and tg.cuda.FloatStorage,
# ...), Tensor.untyped_storage/storage/storage_type and set_(storage, ...); tg.is_storage knows
# them. After torch_surface3/4: it wraps their Tensor.set_ and replaces their is_storage.
from . import storage  # noqa: E402
from .storage import *  # noqa: E402,F401,F403
from .storage import (  # noqa: E402,F401
    BFloat16Storage,
    ComplexDoubleStorage,
    ComplexFloatStorage,
    HalfStorage,
)

__all__ += [n for n in storage.__all__ if n not in __all__]

# PyTorch's submodule import paths (tensorgrad.nn.modules.loss, tensorgrad.optim.adam, ...):
# aliases made on first import by a finder that runs after the ordinary ones (_import_paths.py)
from . import _import_paths  # noqa: E402,F401  (keep last: it prepares the loaded parents)
