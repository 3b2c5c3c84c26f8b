"""PyTorch's submodule import paths under tensorgrad: a program ported by replacing ``torch``
with ``tensorgrad`` in its import lines keeps lines such as

    from tensorgrad.nn.modules.loss import _Loss, _WeightedLoss
    from tensorgrad.optim.adam import Adam
    from tensorgrad.utils.data.dataloader import default_collate

One table, ``PATHS``, maps each such path (relative to ``tensorgrad``) to the tensorgrad modules
its names live in (searched in order) and PyTorch's ``__all__`` for it, fixed here (torch is not
needed at run time). A finder at the END of ``sys.meta_path`` answers for those paths only, so a
real module file always wins: it is asked only after the ordinary finders found nothing. The
module it makes (``_Alias``) forwards attribute reads to the sources (PEP 562's module
``__getattr__``, cached after the first read), and its ``__all__`` is PyTorch's, less the names
tensorgrad lacks (tests/test_import_paths.py lists them), so ``import *`` works.

A source ``"tensorgrad._import_paths:_name"`` is a namespace built here on first use, for the few
names tensorgrad has nowhere else (the typing aliases of torch.nn.common_types and torch.types,
torch.serialization's safe-globals registry).

``install`` (called once by ``import tensorgrad``) gives the parents that are module files
(tensorgrad/nn/modules.py, tensorgrad/utils/data.py, ...) an empty ``__path__``, which Python
requires of a parent before it looks for a submodule. Where a parent already has an attribute of
a child's name (``tensorgrad.autograd.gradcheck`` is a function, as ``torch.autograd.gradcheck``
is), the alias goes into ``sys.modules`` at once, so that importing it never replaces that
attribute (Python sets a freshly imported submodule on its parent).
"""

import sys
from importlib import import_module
from importlib.machinery import ModuleSpec
from importlib.util import module_from_spec


class _Alias(type(sys)):
    """A module whose names are read from other modules (see the module docstring)."""

    def __getattr__(self, name):
        if name == "__all__":  # made on first use: it imports the sources
            names = PATHS[self.__name__[11:]][1].split()
            value = [n for n in names if _lookup(self._sources, n) is not _MISSING]
            self.__dict__[name] = value
            return value
        if name.startswith("__"):  # __path__, __file__, ...: an alias is a plain module
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        value = _lookup(self.__dict__["_sources"], name)
        if value is _MISSING:
            raise AttributeError(
                f"module {self.__name__!r} (tensorgrad's counterpart of "
                f"'torch{self.__name__[10:]}') has no attribute {name!r}")
        self.__dict__[name] = value
        return value

    def __dir__(self):
        return sorted(set(self.__dict__) | set(self.__all__))


_MISSING = object()


def _lookup(sources, name):
    for src in sources:
        if ":" in src:
            space = _LOCAL_CACHE.get(src)
            if space is None:
                space = _LOCAL_CACHE[src] = globals()[src.partition(":")[2]]()
            if name in space:
                return space[name]
            continue
        value = getattr(sys.modules.get(src) or import_module(src), name, _MISSING)
        if value is not _MISSING:
            return value
    return _MISSING


_LOCAL_CACHE = {}


class _Loader:
    @staticmethod
    def create_module(spec):
        return _Alias(spec.name)

    @staticmethod
    def exec_module(module):
        sources = PATHS[module.__name__[11:]][0]
        module.__dict__["_sources"] = sources
        module.__doc__ = (f"PyTorch's 'torch{module.__name__[10:]}' under tensorgrad: its names "
                          f"come from {', '.join(sources)} (see tensorgrad/_import_paths.py).")


class _Finder:
    """The meta path finder: only the paths of ``PATHS``, after every other finder."""

    loader = _Loader()

    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith("tensorgrad.") and fullname[11:] in PATHS:
            return ModuleSpec(fullname, self.loader, origin="alias")
        return None


def _make(name):
    module = module_from_spec(ModuleSpec(name, _Finder.loader, origin="alias"))
    _Finder.loader.exec_module(module)
    return module


def install():
    """Put the finder on ``sys.meta_path`` (once) and prepare the parents (module docstring)."""
    if any(isinstance(f, _Finder) for f in sys.meta_path):
        return
    for path in PATHS:
        parent, _, child = ("tensorgrad." + path).rpartition(".")
        mod = sys.modules.get(parent)
        if mod is None or isinstance(mod, _Alias):
            continue
        if not hasattr(mod, "__path__"):
            mod.__path__ = []
        if "tensorgrad." + path not in sys.modules and hasattr(mod, child):  # lazy names too
            sys.modules["tensorgrad." + path] = _make("tensorgrad." + path)
    for path, (sources, names) in EXTEND.items():
        mod = sys.modules.get("tensorgrad." + path)
        if mod is not None and "__getattr__" not in mod.__dict__:
            mod.__getattr__ = _forwarder(mod, sources, names)
    for parent in dict.fromkeys(("tensorgrad." + path).rpartition(".")[0] for path in PATHS):
        mod = sys.modules.get(parent)
        if mod is not None and not isinstance(mod, _Alias):
            mod.__getattr__ = _children(mod, mod.__dict__.get("__getattr__"))
    sys.meta_path.append(_Finder())


def _children(module, previous):
    """A module ``__getattr__`` that imports a child path of ``PATHS`` on first read, as torch's
    eagerly imported submodules are attributes (``torch.nn.modules.linear.Linear``,
    ``torch.serialization.safe_globals`` without their own import line). The module's previous
    ``__getattr__`` is asked first: its lazy names win (``tg.autograd.gradcheck`` is a function).
    """
    prefix = module.__name__ + "."

    def __getattr__(name):
        if previous is not None:
            try:
                return previous(name)
            except AttributeError:
                if (prefix + name)[11:] not in PATHS:
                    raise
        if (prefix + name)[11:] in PATHS:
            return import_module(prefix + name)  # the import sets it on the module too
        raise AttributeError(f"module {module.__name__!r} has no attribute {name!r}")

    return __getattr__


def _forwarder(module, sources, names):
    """A module ``__getattr__`` for a real module of ``EXTEND``: PyTorch's ``names`` there
    from ``sources``; ``__all__`` (when the module has none) PyTorch's, less what tensorgrad
    lacks."""
    names = names.split()
    wanted = frozenset(names)

    def __getattr__(name):
        value = _MISSING
        if name == "__all__":
            value = [n for n in names if hasattr(module, n)]
        elif name in wanted:
            value = _lookup(sources, name)
        if value is _MISSING:
            raise AttributeError(f"module {module.__name__!r} has no attribute {name!r}")
        setattr(module, name, value)
        return value

    return __getattr__


# ---- names tensorgrad defines only for these paths --------------------------------------------
def _common_types():
    """torch.nn.common_types: the type aliases layer signatures are annotated with."""
    from typing import TypeVar

    from .tensor import Tensor

    T = TypeVar("T")
    opt = int | None
    space = {"T": T, "Tensor": Tensor, "TypeVar": TypeVar,
             "_scalar_or_tuple_any_t": T | tuple[T, ...], "_size_any_t": int | tuple[int, ...],
             "_size_any_opt_t": opt | tuple[opt, ...], "_size_2_opt_t": opt | tuple[opt, opt],
             "_size_3_opt_t": opt | tuple[opt, opt, opt],
             "_ratio_2_t": float | tuple[float, float],
             "_ratio_3_t": float | tuple[float, float, float],
             "_ratio_any_t": float | tuple[float, ...],
             "_tensor_list_t": Tensor | tuple[Tensor, ...],
             "_maybe_indices_t": Tensor | tuple[Tensor, Tensor]}
    for n in range(1, 7):
        space[f"_scalar_or_tuple_{n}_t"] = T | tuple[(T,) * n]
        space[f"_size_{n}_t"] = int | tuple[(int,) * n]
    return space


def _types():
    """torch.types: the aliases of type hints."""
    import os
    from typing import IO

    from .backend.device import Device
    from .tensor import Tensor

    return {"Number": int | float | bool, "Device": Device | str | int | None,
            "FileLike": str | os.PathLike | IO[bytes],
            "_TensorOrTensors": Tensor | tuple[Tensor, ...] | list[Tensor],
            "_int": int, "_float": float, "_bool": bool, "_complex": complex,
            "_device": Device, "_size": tuple}


class SourceChangeWarning(Warning):
    """PyTorch's warning for a pickled module whose source changed (tensorgrad's checkpoints
    hold no code, so it is never raised; it exists for ``except``/``filterwarnings`` lines)."""


def _serialization():
    """torch.serialization: save and load, and the safe-globals registry that
    ``load(weights_only=True)`` consults (all in tensorgrad.io)."""
    from . import io

    names = ("save", "load", "add_safe_globals", "get_safe_globals", "clear_safe_globals",
             "safe_globals", "get_unsafe_globals_in_checkpoint")
    return {**{n: getattr(io, n) for n in names}, "SourceChangeWarning": SourceChangeWarning}


# ---- the table, generated from torch 2.13's package tree (sources: the first tensorgrad modules
# holding each name); tests/test_import_paths.py walks torch's tree and names any path or name
# missing here that is not excluded there with its reason -----------------------------------------
_AUTOGRAD = ("tensorgrad.autograd",)
_AUTOGRAD_PROFILER = ("tensorgrad.autograd.profiler",)
_DISTRIBUTIONS = ("tensorgrad.distributions",)
_NN = ("tensorgrad.nn",)
_NN_MODULES = ("tensorgrad.nn", "tensorgrad.nn.modules")
_NN_UTILS = ("tensorgrad.nn.utils",)
_NN_UTILS_NORM_HOOKS = ("tensorgrad.nn.utils._norm_hooks",)
_OPTIM = ("tensorgrad.optim",)
_UTILS_DATA = ("tensorgrad.utils.data",)
PATHS = {  # path under tensorgrad: (sources, torch 2.13's __all__ there, space-separated)
    "autograd.anomaly_mode": (_AUTOGRAD, "detect_anomaly set_detect_anomaly"),
    "autograd.gradcheck": (_AUTOGRAD, (
        "gradcheck gradgradcheck GradcheckError get_numerical_jacobian get_analytical_jacobian "
        "get_numerical_jacobian_wrt_specific_input"
    )),
    "autograd.profiler_legacy": (_AUTOGRAD_PROFILER, "profile"),
    "autograd.profiler_util": (_AUTOGRAD_PROFILER, (
        "EventList EventMetadata FormattedTimesMixin Interval Kernel FunctionEvent "
        "FunctionEventAvg StringTable MemRecordsAcc"
    )),
    "autograd.variable": (_AUTOGRAD, "VariableMeta Variable"),
    "cuda.amp.autocast_mode": (
        ("tensorgrad.cuda.amp", "tensorgrad.amp.autocast_mode"),
        "autocast custom_fwd custom_bwd",
    ),
    "cuda.amp.grad_scaler": (("tensorgrad.cuda.amp",), "GradScaler"),
    "distributions.bernoulli": (_DISTRIBUTIONS, "Bernoulli"),
    "distributions.beta": (_DISTRIBUTIONS, "Beta"),
    "distributions.binomial": (
        ("tensorgrad.distributions", "tensorgrad.distributions.discrete"),
        "Binomial",
    ),
    "distributions.categorical": (_DISTRIBUTIONS, "Categorical"),
    "distributions.cauchy": (_DISTRIBUTIONS, "Cauchy"),
    "distributions.chi2": (_DISTRIBUTIONS, "Chi2"),
    "distributions.constraint_registry": (
        ("tensorgrad.distributions.transforms", "tensorgrad.distributions"),
        "ConstraintRegistry biject_to transform_to",
    ),
    "distributions.continuous_bernoulli": (_DISTRIBUTIONS, "ContinuousBernoulli"),
    "distributions.dirichlet": (_DISTRIBUTIONS, "Dirichlet"),
    "distributions.exp_family": (_DISTRIBUTIONS, "ExponentialFamily"),
    "distributions.exponential": (_DISTRIBUTIONS, "Exponential"),
    "distributions.fishersnedecor": (_DISTRIBUTIONS, "FisherSnedecor"),
    "distributions.gamma": (_DISTRIBUTIONS, "Gamma"),
    "distributions.generalized_pareto": (_DISTRIBUTIONS, "GeneralizedPareto"),
    "distributions.geometric": (_DISTRIBUTIONS, "Geometric"),
    "distributions.gumbel": (_DISTRIBUTIONS, "Gumbel"),
    "distributions.half_cauchy": (_DISTRIBUTIONS, "HalfCauchy"),
    "distributions.half_normal": (_DISTRIBUTIONS, "HalfNormal"),
    "distributions.independent": (_DISTRIBUTIONS, "Independent"),
    "distributions.inverse_gamma": (_DISTRIBUTIONS, "InverseGamma"),
    "distributions.kumaraswamy": (_DISTRIBUTIONS, "Kumaraswamy"),
    "distributions.laplace": (_DISTRIBUTIONS, "Laplace"),
    "distributions.lkj_cholesky": (_DISTRIBUTIONS, "LKJCholesky"),
    "distributions.log_normal": (_DISTRIBUTIONS, "LogNormal"),
    "distributions.logistic_normal": (_DISTRIBUTIONS, "LogisticNormal"),
    "distributions.lowrank_multivariate_normal": (_DISTRIBUTIONS, "LowRankMultivariateNormal"),
    "distributions.mixture_same_family": (_DISTRIBUTIONS, "MixtureSameFamily"),
    "distributions.multinomial": (_DISTRIBUTIONS, "Multinomial"),
    "distributions.multivariate_normal": (_DISTRIBUTIONS, "MultivariateNormal"),
    "distributions.negative_binomial": (_DISTRIBUTIONS, "NegativeBinomial"),
    "distributions.normal": (_DISTRIBUTIONS, "Normal"),
    "distributions.one_hot_categorical": (_DISTRIBUTIONS, (
        "OneHotCategorical OneHotCategoricalStraightThrough"
    )),
    "distributions.pareto": (_DISTRIBUTIONS, "Pareto"),
    "distributions.poisson": (_DISTRIBUTIONS, "Poisson"),
    "distributions.relaxed_bernoulli": (_DISTRIBUTIONS, (
        "LogitRelaxedBernoulli RelaxedBernoulli"
    )),
    "distributions.relaxed_categorical": (_DISTRIBUTIONS, (
        "ExpRelaxedCategorical RelaxedOneHotCategorical"
    )),
    "distributions.studentT": (_DISTRIBUTIONS, "StudentT"),
    "distributions.transformed_distribution": (_DISTRIBUTIONS, "TransformedDistribution"),
    "distributions.uniform": (_DISTRIBUTIONS, "Uniform"),
    "distributions.utils": (
        ("tensorgrad.distributions.distribution",),
        (
            "broadcast_all logits_to_probs clamp_probs probs_to_logits lazy_property "
            "tril_matrix_to_vec vec_to_tril_matrix"
        ),
    ),
    "distributions.von_mises": (_DISTRIBUTIONS, "VonMises"),
    "distributions.weibull": (_DISTRIBUTIONS, "Weibull"),
    "distributions.wishart": (
        ("tensorgrad.distributions", "tensorgrad.distributions.matrix"),
        "Wishart",
    ),
    "functional": (("tensorgrad",), (
        "atleast_1d atleast_2d atleast_3d broadcast_shapes broadcast_tensors cartesian_prod "
        "block_diag cdist chain_matmul einsum istft lu norm meshgrid pca_lowrank split stft "
        "svd_lowrank tensordot unique unique_consecutive unravel_index"
    )),
    "nn.common_types": (("tensorgrad._import_paths:_common_types",), ""),
    "nn.grad": (("tensorgrad.nn.conv",), (
        "conv1d_input conv1d_weight conv2d_input conv2d_weight conv3d_input conv3d_weight"
    )),
    "nn.modules.activation": (_NN, (
        "Threshold ReLU RReLU Hardtanh ReLU6 Sigmoid Hardsigmoid Tanh SiLU Mish Hardswish ELU "
        "CELU SELU GLU GELU Hardshrink LeakyReLU LogSigmoid Softplus Softshrink "
        "MultiheadAttention PReLU Softsign Tanhshrink Softmin Softmax Softmax2d LogSoftmax"
    )),
    "nn.modules.adaptive": (
        ("tensorgrad.nn", "tensorgrad.nn.extra_b"),
        "AdaptiveLogSoftmaxWithLoss",
    ),
    "nn.modules.batchnorm": (
        ("tensorgrad.nn", "tensorgrad.nn.normalization", "tensorgrad.nn.extra_b"),
        (
            "BatchNorm1d LazyBatchNorm1d BatchNorm2d LazyBatchNorm2d BatchNorm3d "
            "LazyBatchNorm3d SyncBatchNorm"
        ),
    ),
    "nn.modules.channelshuffle": (_NN, "ChannelShuffle"),
    "nn.modules.container": (_NN_MODULES, (
        "Container Sequential ModuleList ModuleDict ParameterList ParameterDict"
    )),
    "nn.modules.conv": (
        ("tensorgrad.nn", "tensorgrad.nn.modules", "tensorgrad.nn.conv", "tensorgrad.nn.extra_b"),
        (
            "Conv1d Conv2d Conv3d ConvTranspose1d ConvTranspose2d ConvTranspose3d LazyConv1d "
            "LazyConv2d LazyConv3d LazyConvTranspose1d LazyConvTranspose2d LazyConvTranspose3d"
        ),
    ),
    "nn.modules.distance": (_NN, "PairwiseDistance CosineSimilarity"),
    "nn.modules.dropout": (_NN_MODULES, (
        "Dropout Dropout1d Dropout2d Dropout3d AlphaDropout FeatureAlphaDropout"
    )),
    "nn.modules.flatten": (_NN, "Flatten Unflatten"),
    "nn.modules.fold": (_NN, "Fold Unfold"),
    "nn.modules.instancenorm": (
        ("tensorgrad.nn", "tensorgrad.nn.upsampling"),
        (
            "InstanceNorm1d InstanceNorm2d InstanceNorm3d LazyInstanceNorm1d LazyInstanceNorm2d "
            "LazyInstanceNorm3d"
        ),
    ),
    "nn.modules.lazy": (("tensorgrad.nn.extra_b",), "LazyModuleMixin"),
    "nn.modules.linear": (_NN + ("tensorgrad.nn.transformer",),  # + MultiheadAttention's
                          "Bilinear Identity LazyLinear Linear"),   # out_proj class
    # torch 2.13's linear_cross_entropy module has an empty __all__ (the class is reached
    # through torch.nn.modules.loss); its options dataclass has its own
    "nn.modules.linear_cross_entropy": (("tensorgrad.nn.loss",), ""),
    "nn.modules.linear_cross_entropy_options": (_NN, "LinearCrossEntropyOptions"),
    "nn.modules.loss": (("tensorgrad.nn", "tensorgrad.nn.layers"), (
        "L1Loss NLLLoss NLLLoss2d PoissonNLLLoss GaussianNLLLoss KLDivLoss MSELoss BCELoss "
        "BCEWithLogitsLoss HingeEmbeddingLoss MultiLabelMarginLoss SmoothL1Loss HuberLoss "
        "SoftMarginLoss CrossEntropyLoss LinearCrossEntropyLoss MultiLabelSoftMarginLoss "
        "CosineEmbeddingLoss MarginRankingLoss MultiMarginLoss TripletMarginLoss "
        "TripletMarginWithDistanceLoss CTCLoss"
    )),
    "nn.modules.normalization": (_NN, (
        "LocalResponseNorm CrossMapLRN2d LayerNorm GroupNorm RMSNorm"
    )),
    "nn.modules.padding": (
        ("tensorgrad.nn", "tensorgrad.nn.extra_a", "tensorgrad.nn.upsampling"),
        (
            "CircularPad1d CircularPad2d CircularPad3d ConstantPad1d ConstantPad2d "
            "ConstantPad3d ReflectionPad1d ReflectionPad2d ReflectionPad3d ReplicationPad1d "
            "ReplicationPad2d ReplicationPad3d ZeroPad1d ZeroPad2d ZeroPad3d"
        ),
    ),
    "nn.modules.pixelshuffle": (_NN, "PixelShuffle PixelUnshuffle"),
    "nn.modules.pooling": (
        ("tensorgrad.nn", "tensorgrad.nn.modules", "tensorgrad.nn.extra_a", "tensorgrad.nn.pooling",
         "tensorgrad.nn.conv"),
        (
            "MaxPool1d MaxPool2d MaxPool3d MaxUnpool1d MaxUnpool2d MaxUnpool3d AvgPool1d "
            "AvgPool2d AvgPool3d FractionalMaxPool2d FractionalMaxPool3d LPPool1d LPPool2d "
            "LPPool3d AdaptiveMaxPool1d AdaptiveMaxPool2d AdaptiveMaxPool3d AdaptiveAvgPool1d "
            "AdaptiveAvgPool2d AdaptiveAvgPool3d"
        ),
    ),
    "nn.modules.rnn": (_NN, "RNNBase RNN LSTM GRU RNNCellBase RNNCell LSTMCell GRUCell"),
    "nn.modules.sparse": (_NN, "Embedding EmbeddingBag"),
    "nn.modules.transformer": (_NN, (
        "Transformer TransformerEncoder TransformerDecoder TransformerEncoderLayer "
        "TransformerDecoderLayer"
    )),
    "nn.modules.upsampling": (_NN, "Upsample UpsamplingNearest2d UpsamplingBilinear2d"),
    "nn.modules.utils": (("tensorgrad.nn.modules",), "consume_prefix_in_state_dict_if_present"),
    "nn.parallel.data_parallel": (_NN, "DataParallel data_parallel"),
    "nn.parallel.distributed": (("tensorgrad.nn.parallel",), "DistributedDataParallel"),
    "nn.utils.clip_grad": (_NN_UTILS, "clip_grad_norm clip_grad_norm_ clip_grad_value_"),
    "nn.utils.convert_parameters": (_NN_UTILS, "parameters_to_vector vector_to_parameters"),
    "nn.utils.memory_format": (_NN_UTILS, (
        "convert_conv2d_weight_memory_format convert_conv3d_weight_memory_format"
    )),
    "nn.utils.spectral_norm": (_NN_UTILS_NORM_HOOKS, (
        "SpectralNorm SpectralNormLoadStateDictPreHook SpectralNormStateDictHook spectral_norm "
        "remove_spectral_norm"
    )),
    "nn.utils.weight_norm": (_NN_UTILS_NORM_HOOKS, "WeightNorm weight_norm remove_weight_norm"),
    "optim.adadelta": (_OPTIM, "Adadelta adadelta"),
    "optim.adagrad": (_OPTIM, "Adagrad adagrad"),
    "optim.adam": (_OPTIM, "Adam adam"),
    "optim.adamax": (_OPTIM, "Adamax adamax"),
    "optim.adamw": (_OPTIM, "AdamW adamw"),
    "optim.asgd": (_OPTIM, "ASGD asgd"),
    "optim.nadam": (_OPTIM, "NAdam nadam"),
    "optim.radam": (_OPTIM, "RAdam radam"),
    "optim.rmsprop": (_OPTIM, "RMSprop rmsprop"),
    "optim.rprop": (_OPTIM, "Rprop rprop"),
    "optim.sgd": (_OPTIM, "SGD sgd"),
    "optim.sparse_adam": (_OPTIM, "SparseAdam"),
    "serialization": (("tensorgrad._import_paths:_serialization",), (
        "SourceChangeWarning mkdtemp register_package check_module_version_greater_or_equal "
        "validate_cuda_device validate_hpu_device location_tag default_restore_location "
        "normalize_storage_type storage_to_tensor_type save load StorageType LoadEndianness "
        "get_crc32_options set_crc32_options get_default_load_endianness "
        "set_default_load_endianness get_default_mmap_options set_default_mmap_options "
        "clear_safe_globals get_safe_globals add_safe_globals safe_globals "
        "get_unsafe_globals_in_checkpoint skip_data"
    )),
    "types": (("tensorgrad._import_paths:_types",), "Number Device FileLike Storage"),
    "utils.data.dataloader": (_UTILS_DATA, (
        "DataLoader get_worker_info default_collate default_convert"
    )),
    "utils.data.dataset": (_UTILS_DATA, (
        "Dataset IterableDataset TensorDataset StackDataset ConcatDataset ChainDataset Subset "
        "random_split"
    )),
    "utils.data.distributed": (_UTILS_DATA, "DistributedSampler"),
    "utils.data.sampler": (_UTILS_DATA, (
        "BatchSampler RandomSampler Sampler SequentialSampler SubsetRandomSampler "
        "WeightedRandomSampler"
    )),
}

# Real modules that lack names PyTorch has at their path: install() gives each a module
# __getattr__ that forwards those names (and serves __all__ where the module defines none)
EXTEND = {
    "nn.modules": (("tensorgrad.nn",), (
        "AdaptiveAvgPool1d AdaptiveAvgPool2d AdaptiveAvgPool3d AdaptiveLogSoftmaxWithLoss "
        "AdaptiveMaxPool1d AdaptiveMaxPool2d AdaptiveMaxPool3d AlphaDropout AvgPool1d AvgPool2d "
        "AvgPool3d BCELoss BCEWithLogitsLoss BatchNorm1d BatchNorm2d BatchNorm3d Bilinear CELU "
        "CTCLoss ChannelShuffle CircularPad1d CircularPad2d CircularPad3d ConstantPad1d "
        "ConstantPad2d ConstantPad3d Container Conv1d Conv2d Conv3d ConvTranspose1d "
        "ConvTranspose2d ConvTranspose3d CosineEmbeddingLoss CosineSimilarity CrossEntropyLoss "
        "CrossMapLRN2d Dropout Dropout1d Dropout2d Dropout3d ELU Embedding EmbeddingBag "
        "FeatureAlphaDropout Flatten Fold FractionalMaxPool2d FractionalMaxPool3d GELU GLU GRU "
        "GRUCell GaussianNLLLoss GroupNorm Hardshrink Hardsigmoid Hardswish Hardtanh "
        "HingeEmbeddingLoss HuberLoss Identity InstanceNorm1d InstanceNorm2d InstanceNorm3d "
        "KLDivLoss L1Loss LPPool1d LPPool2d LPPool3d LSTM LSTMCell LayerNorm LazyBatchNorm1d "
        "LazyBatchNorm2d LazyBatchNorm3d LazyConv1d LazyConv2d LazyConv3d LazyConvTranspose1d "
        "LazyConvTranspose2d LazyConvTranspose3d LazyInstanceNorm1d LazyInstanceNorm2d "
        "LazyInstanceNorm3d LazyLinear LeakyReLU Linear LinearCrossEntropyLoss "
        "LinearCrossEntropyOptions LocalResponseNorm LogSigmoid LogSoftmax MSELoss "
        "MarginRankingLoss MaxPool1d MaxPool2d MaxPool3d MaxUnpool1d MaxUnpool2d MaxUnpool3d "
        "Mish Module ModuleDict ModuleList MultiLabelMarginLoss MultiLabelSoftMarginLoss "
        "MultiMarginLoss MultiheadAttention NLLLoss NLLLoss2d PReLU PairwiseDistance "
        "ParameterDict ParameterList PixelShuffle PixelUnshuffle PoissonNLLLoss RMSNorm RNN "
        "RNNBase RNNCell RNNCellBase RReLU ReLU ReLU6 ReflectionPad1d ReflectionPad2d "
        "ReflectionPad3d ReplicationPad1d ReplicationPad2d ReplicationPad3d SELU Sequential "
        "SiLU Sigmoid SmoothL1Loss SoftMarginLoss Softmax Softmax2d Softmin Softplus Softshrink "
        "Softsign SyncBatchNorm Tanh Tanhshrink Threshold Transformer TransformerDecoder "
        "TransformerDecoderLayer TransformerEncoder TransformerEncoderLayer TripletMarginLoss "
        "TripletMarginWithDistanceLoss Unflatten Unfold Upsample UpsamplingBilinear2d "
        "UpsamplingNearest2d ZeroPad1d ZeroPad2d ZeroPad3d"
    )),
    "nn.parallel": (("tensorgrad.nn",), "DataParallel"),
}


install()  # on `import tensorgrad` (its last import): the parents above are loaded by then
