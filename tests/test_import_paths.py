"""PyTorch's submodule import paths under tensorgrad (tensorgrad/_import_paths.py): every
non-private torch submodule under the roots below imports as ``tensorgrad.<same path>`` with
the names of its ``__all__``, torch's private base classes exist with torch's subclass
relations, and user programs written against those paths run as under torch.

The table in _import_paths.py is generated from torch's tree: when torch adds a path this test
names it; add it to ``PATHS`` (sources: the tensorgrad modules holding its names) or to
``EXCLUDED_PATHS`` with the reason.
"""

import importlib
import inspect
import pkgutil
import sys
import warnings

import numpy as np
import pytest
from devices import host, put

import tensorgrad as tg
from tensorgrad import _import_paths

torch = pytest.importorskip("torch")

ROOTS = ("torch.nn", "torch.optim", "torch.utils.data", "torch.distributions", "torch.autograd",
         "torch.cuda.amp", "torch.nn.utils", "torch.nn.parallel")
TOP = ("torch.functional", "torch.serialization", "torch.types")
# trees out of scope here (quantization, datapipes) or someone else's (nn.attention)
OUT_OF_SCOPE = {"quantized", "quantizable", "qat", "intrinsic", "datapipes", "attention", "ao"}

EXCLUDED_PATHS = {
    "torch.nn.cpp": "wrappers of C++-frontend modules; tensorgrad has no C++ modules",
    "torch.nn.backends": "the legacy THNN backend registry (empty in torch too)",
    "torch.nn.backends.thnn": "the legacy THNN backend registry (empty in torch too)",
    "torch.utils.data.graph": "DataPipe graph traversal (datapipes are out of scope)",
    "torch.utils.data.graph_settings": "DataPipe graph settings (datapipes are out of scope)",
    "torch.utils.data.backward_compatibility": "a DataPipe worker_init_fn (datapipes)",
    "torch.cuda.amp.common": "amp_definitely_not_available only, torch's internal probe",
    "torch.nn.parallel.comm": "the device-to-device steps inside torch's DataParallel; "
                              "tensorgrad's DataParallel (nn/extra_c.py) does not expose them",
    "torch.nn.parallel.parallel_apply": "a DataParallel step (as torch.nn.parallel.comm)",
    "torch.nn.parallel.replicate": "a DataParallel step (as torch.nn.parallel.comm)",
    "torch.nn.parallel.scatter_gather": "a DataParallel step (as torch.nn.parallel.comm)",
}
_DP_STEP = "a DataParallel step tensorgrad's DataParallel does not expose"
_DATAPIPE = "a DataPipe name (datapipes are out of scope)"
_PICKLE = "pickle/storage machinery: tensorgrad's checkpoint format holds no pickled objects"
EXCLUDED_NAMES = {
    "NestedIOFunction": "the legacy autograd Function interface (deprecated in torch)",
    "enforce_grad_layout_policy": "a CUDA gradient-layout switch of torch's engine",
    "BackwardCFunction": "torch's C++ node binding", "FunctionMeta": "torch's metaclass",
    "get_numerical_jacobian": "deprecated in torch (gradcheck's internals)",
    "get_analytical_jacobian": "deprecated in torch (gradcheck's internals)",
    "get_numerical_jacobian_wrt_specific_input": "deprecated in torch (gradcheck's internals)",
    "region_activation_memory_budget": "a torch.compile memory knob",
    "set_warn_on_accumulate_grad_stream_mismatch": "CUDA stream bookkeeping of torch's engine",
    "set_override_stale_capture_stream": "CUDA graph capture bookkeeping of torch's engine",
    "emit_itt": "Intel ITT profiler markers", "load_nvprof": "nvprof trace reader",
    "parse_nvprof_trace": "nvprof trace reader", "EnforceUnique": "nvprof reader helper",
    "KinetoStepTracker": "the Kineto profiler", "MemRecordsAcc": "the Kineto profiler",
    "EventMetadata": "profiler_util internals", "FormattedTimesMixin": "profiler_util internals",
    "Interval": "profiler_util internals", "Kernel": "profiler_util internals",
    "StringTable": "profiler_util internals", "VariableMeta": "Variable's metaclass",
    "amp_definitely_not_available": "torch's internal probe",
    "MixtureSameFamilyConstraint": "not implemented",
    "positive_semidefinite": "not implemented",
    "tril_matrix_to_vec": "not implemented", "vec_to_tril_matrix": "not implemented",
    "factory_kwargs": "torch's internal helper",
    "ScalingType": "scaled_mm (float8) enums", "SwizzleType": "scaled_mm (float8) enums",
    "grouped_mm": "float8/grouped GEMMs (new in torch 2.13)", "scaled_mm": "as grouped_mm",
    "scaled_grouped_mm": "as grouped_mm",
    "upsample": "deprecated in torch (F.interpolate)",
    "assert_int_or_pair": "torch's internal helper",
    "Container": "deprecated in torch since 0.4", "CrossMapLRN2d": "not implemented",
    "register_module_buffer_registration_hook": "global registration hooks: not implemented",
    "register_module_module_registration_hook": "global registration hooks: not implemented",
    "register_module_parameter_registration_hook": "global registration hooks: not "
                                                   "implemented",
    "replicate": _DP_STEP, "scatter": _DP_STEP, "gather": _DP_STEP, "parallel_apply": _DP_STEP,
    "data_parallel": _DP_STEP, "UninitializedTensorMixin": "torch's lazy-tensor mixin",
    "SpectralNormLoadStateDictPreHook": "the hook objects of the legacy spectral_norm",
    "SpectralNormStateDictHook": "the hook objects of the legacy spectral_norm",
    "swap_in_optimizer_params_and_state": "new in torch 2.13, not implemented",
    "DFIterDataPipe": _DATAPIPE, "DataChunk": _DATAPIPE, "IterDataPipe": _DATAPIPE,
    "MapDataPipe": _DATAPIPE, "argument_validation": _DATAPIPE,
    "functional_datapipe": _DATAPIPE, "guaranteed_datapipes_determinism": _DATAPIPE,
    "non_deterministic": _DATAPIPE, "runtime_validation": _DATAPIPE,
    "runtime_validation_disabled": _DATAPIPE, "_DatasetKind": "DataLoader's private enum",
    "mkdtemp": _PICKLE, "register_package": _PICKLE, "location_tag": _PICKLE,
    "check_module_version_greater_or_equal": _PICKLE, "validate_cuda_device": _PICKLE,
    "validate_hpu_device": _PICKLE, "default_restore_location": _PICKLE,
    "normalize_storage_type": _PICKLE, "storage_to_tensor_type": _PICKLE,
    "StorageType": _PICKLE, "LoadEndianness": _PICKLE, "get_crc32_options": _PICKLE,
    "set_crc32_options": _PICKLE, "get_default_load_endianness": _PICKLE,
    "set_default_load_endianness": _PICKLE, "get_default_mmap_options": _PICKLE,
    "set_default_mmap_options": _PICKLE, "skip_data": _PICKLE,
    "Storage": "tensorgrad has no storage classes",
    "variable": "a submodule's name: tensorgrad.autograd.variable is an attribute once "
                "imported (torch imports it eagerly)",
}


def _torch_paths():
    found = set(TOP)
    for root in ROOTS:
        found.add(root)
        pkg = importlib.import_module(root)
        for info in pkgutil.walk_packages(pkg.__path__, root + ".", onerror=lambda name: None):
            parts = info.name.split(".")
            if any(p.startswith("_") for p in parts) or OUT_OF_SCOPE & set(parts):
                continue
            found.add(info.name)
    return sorted(found)


with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # torch's deprecated modules warn on import
    TORCH_PATHS = _torch_paths()


def _torch_names(path):
    """torch's __all__ there, or the public classes and functions it defines."""
    mod = importlib.import_module(path)
    if hasattr(mod, "__all__"):
        return list(dict.fromkeys(mod.__all__))
    return [n for n, v in vars(mod).items() if not n.startswith("_")
            and (inspect.isclass(v) or inspect.isfunction(v))
            and getattr(v, "__module__", None) == path]


def _ours(path):
    return "tensorgrad" + path[len("torch"):]


def test_the_walk_finds_the_paths_of_the_brief():
    assert len(TORCH_PATHS) > 140
    for path in ("torch.nn.modules.loss", "torch.optim.adam", "torch.utils.data.dataloader",
                 "torch.distributions.normal", "torch.autograd.variable",
                 "torch.cuda.amp.grad_scaler", "torch.nn.utils.clip_grad",
                 "torch.nn.parallel.distributed", "torch.nn.grad", "torch.nn.common_types"):
        assert path in TORCH_PATHS


@pytest.mark.parametrize("path", [p for p in TORCH_PATHS if p not in EXCLUDED_PATHS])
def test_torch_path_imports_with_its_names(path):
    mod = importlib.import_module(_ours(path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        names = _torch_names(path)
    missing = [n for n in names if not hasattr(mod, n) and n not in EXCLUDED_NAMES]
    assert not missing, f"{_ours(path)} lacks {missing}"
    space = {}
    exec(f"from {mod.__name__} import *", space)  # noqa: S102  (a star import must not fail)
    if isinstance(mod, _import_paths._Alias):
        assert set(mod.__all__) <= set(names)
        assert set(mod.__all__) == {n for n in names if hasattr(mod, n)}
        assert all(n in space for n in mod.__all__)


@pytest.mark.parametrize("path", sorted(EXCLUDED_PATHS))
def test_excluded_paths_are_torch_paths_and_really_absent(path):
    assert path in TORCH_PATHS  # a stale entry is removed
    with pytest.raises(ModuleNotFoundError) as err:
        importlib.import_module(_ours(path))
    assert _ours(path).startswith(err.value.name)  # it or its missing parent


def test_excluded_names_are_still_missing():
    """An entry of EXCLUDED_NAMES that tensorgrad now has is stale."""
    have = []
    for path in TORCH_PATHS:
        if path in EXCLUDED_PATHS:
            continue
        mod = importlib.import_module(_ours(path))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            have += [n for n in _torch_names(path) if n in EXCLUDED_NAMES and hasattr(mod, n)
                     and not inspect.ismodule(getattr(mod, n))]
    assert not have


def test_table_paths_are_torch_paths():
    for path in _import_paths.PATHS:
        assert "torch." + path in TORCH_PATHS, path


def test_counts_of_importable_paths():
    ok = []
    for path in TORCH_PATHS:
        try:
            ok.append(importlib.util.find_spec(_ours(path)) is not None)
        except ModuleNotFoundError:  # a missing parent
            ok.append(False)
    assert sum(ok) == len(TORCH_PATHS) - len(EXCLUDED_PATHS)


# ---- the alias mechanism --------------------------------------------------------------------
def test_brief_import_lines():
    from tensorgrad.autograd.gradcheck import gradcheck
    from tensorgrad.autograd.variable import Variable
    from tensorgrad.cuda.amp.autocast_mode import autocast
    from tensorgrad.cuda.amp.grad_scaler import GradScaler
    from tensorgrad.distributions.categorical import Categorical
    from tensorgrad.distributions.normal import Normal
    from tensorgrad.nn.common_types import _size_2_t
    from tensorgrad.nn.grad import conv2d_input
    from tensorgrad.nn.modules.batchnorm import _BatchNorm
    from tensorgrad.nn.modules.conv import _ConvNd
    from tensorgrad.nn.modules.loss import _Loss, _WeightedLoss
    from tensorgrad.nn.modules.utils import _ntuple, _pair, _single, _triple
    from tensorgrad.nn.parallel.data_parallel import DataParallel
    from tensorgrad.nn.parallel.distributed import DistributedDataParallel
    from tensorgrad.nn.utils.clip_grad import clip_grad_norm_
    from tensorgrad.nn.utils.spectral_norm import spectral_norm
    from tensorgrad.nn.utils.weight_norm import weight_norm
    from tensorgrad.optim.adam import Adam
    from tensorgrad.optim.sgd import SGD
    from tensorgrad.utils.data.dataloader import DataLoader, default_collate
    from tensorgrad.utils.data.dataset import Dataset, Subset
    from tensorgrad.utils.data.distributed import DistributedSampler
    from tensorgrad.utils.data.sampler import SubsetRandomSampler

    from tensorgrad.nn.modules import Linear

    assert (Linear, Adam, SGD, Normal, Categorical) == (
        tg.nn.Linear, tg.optim.Adam, tg.optim.SGD, tg.distributions.Normal,
        tg.distributions.Categorical)
    assert (Dataset, Subset, DataLoader, SubsetRandomSampler, DistributedSampler) == (
        tg.utils.data.Dataset, tg.utils.data.Subset, tg.utils.data.DataLoader,
        tg.utils.data.SubsetRandomSampler, tg.utils.data.DistributedSampler)
    assert default_collate is tg.utils.data.default_collate
    assert gradcheck is tg.autograd.gradcheck and Variable is tg.autograd.Variable
    assert GradScaler is tg.cuda.amp.GradScaler and autocast is tg.cuda.amp.autocast
    assert clip_grad_norm_ is tg.nn.utils.clip_grad_norm_
    assert weight_norm is tg.nn.utils.weight_norm and spectral_norm is tg.nn.utils.spectral_norm
    assert DataParallel is tg.nn.DataParallel
    assert DistributedDataParallel is tg.nn.parallel.DistributedDataParallel
    assert issubclass(tg.nn.MSELoss, _Loss) and issubclass(tg.nn.NLLLoss, _WeightedLoss)
    assert issubclass(tg.nn.BatchNorm2d, _BatchNorm) and issubclass(tg.nn.Conv2d, _ConvNd)
    assert (_pair(3), _single(2), _triple([1, 2, 3]), _ntuple(4)(0)) == (
        (3, 3), (2,), (1, 2, 3), (0, 0, 0, 0))
    assert callable(conv2d_input) and int in _size_2_t.__args__


def test_import_does_not_replace_a_parent_attribute():
    """torch.autograd.gradcheck and torch.nn.utils.weight_norm are functions although modules of
    those names exist; importing the tensorgrad modules keeps them functions."""
    import tensorgrad.autograd.gradcheck  # noqa: F401
    import tensorgrad.nn.utils.spectral_norm  # noqa: F401
    import tensorgrad.nn.utils.weight_norm  # noqa: F401

    assert inspect.isfunction(tg.autograd.gradcheck)
    assert tg.autograd.gradcheck is tg.gradcheck
    assert inspect.isfunction(tg.nn.utils.weight_norm)
    assert inspect.isfunction(tg.nn.utils.spectral_norm)
    assert isinstance(sys.modules["tensorgrad.autograd.gradcheck"], _import_paths._Alias)


def test_submodule_becomes_an_attribute_of_its_parent():
    importlib.import_module("tensorgrad.nn.modules.loss")
    importlib.import_module("tensorgrad.optim.adam")
    assert tg.nn.modules.loss is sys.modules["tensorgrad.nn.modules.loss"]
    assert tg.optim.adam.Adam is tg.optim.Adam
    assert tg.nn.modules.loss.__spec__.name == "tensorgrad.nn.modules.loss"


def test_real_modules_keep_winning():
    for name in ("tensorgrad.nn.functional", "tensorgrad.nn.utils.rnn",
                 "tensorgrad.optim.lr_scheduler", "tensorgrad.distributions.constraints",
                 "tensorgrad.autograd.functional"):
        mod = importlib.import_module(name)
        assert not isinstance(mod, _import_paths._Alias)
        assert mod.__spec__.origin.endswith(".py")
    assert tg.nn.modules.module is tg.nn._module_hooks  # set by modules.py itself


@pytest.mark.parametrize("name", ["tensorgrad.nn.modules.nope", "tensorgrad.optim.nope",
                                  "tensorgrad.utils.data.nope", "tensorgrad.nope_at_all"])
def test_nonexistent_path_raises_module_not_found(name):
    with pytest.raises(ModuleNotFoundError, match=name.replace(".", r"\.")) as err:
        importlib.import_module(name)
    assert err.value.name == name


def test_below_an_alias_is_not_a_package():
    with pytest.raises(ModuleNotFoundError, match="not a package"):
        importlib.import_module("tensorgrad.nn.modules.loss.nope")


def test_missing_name_of_an_alias_says_where_it_looked():
    import tensorgrad.nn.modules.loss as loss

    with pytest.raises(AttributeError, match=r"tensorgrad\.nn\.modules\.loss.*'nope'"):
        loss.nope  # noqa: B018
    with pytest.raises(ImportError, match="nope"):
        exec("from tensorgrad.nn.modules.loss import nope", {})  # noqa: S102


def test_nn_modules_star_import_gives_torchs_names():
    space = {}
    exec("from tensorgrad.nn.modules import *", space)  # noqa: S102
    want = {n for n in torch.nn.modules.__all__ if n not in EXCLUDED_NAMES}
    assert want <= set(space)
    assert set(space) - {"__builtins__"} == want
    assert all(space[n] is getattr(tg.nn, n) for n in want)
    assert tg.nn.modules.Conv1d is tg.nn.Conv1d and tg.nn.modules.Linear is tg.nn.Linear
    assert "Conv1d" in dir(tg.nn.modules) or hasattr(tg.nn.modules, "Conv1d")


# ---- the base classes -------------------------------------------------------------------------
def _torch_bases():
    """torch's private classes in torch.nn.modules.* that a public module class derives from."""
    publics = [getattr(torch.nn.modules, n) for n in torch.nn.modules.__all__]
    bases = {}
    for info in pkgutil.iter_modules(torch.nn.modules.__path__):
        mod = importlib.import_module("torch.nn.modules." + info.name)
        for name, cls in vars(mod).items():
            if (name.startswith("_") and not name.startswith("__") and inspect.isclass(cls)
                    and cls.__module__ == mod.__name__
                    and any(cls in c.__mro__ for c in publics if inspect.isclass(c))):
                bases[name] = cls
    return bases


TORCH_BASES = _torch_bases()


@pytest.mark.parametrize("base", sorted(TORCH_BASES))
def test_base_class_relations_match_torch(base):
    tbase = TORCH_BASES[base]
    ours = getattr(importlib.import_module(_ours(tbase.__module__)), base)
    checked = 0
    for name in torch.nn.modules.__all__:
        if name in EXCLUDED_NAMES or not inspect.isclass(getattr(tg.nn, name, None)):
            continue
        want = tbase in getattr(torch.nn, name).__mro__
        assert issubclass(getattr(tg.nn, name), ours) == want, (name, base, want)
        checked += want
    assert checked  # the base has subclasses in both


def test_brief_isinstance_cases():
    from tensorgrad.nn.modules.batchnorm import _BatchNorm, _NormBase
    from tensorgrad.nn.modules.dropout import _DropoutNd
    from tensorgrad.nn.modules.instancenorm import _InstanceNorm
    from tensorgrad.nn.modules.loss import _Loss, _WeightedLoss
    from tensorgrad.nn.modules.pooling import (
        _AdaptiveAvgPoolNd,
        _AdaptiveMaxPoolNd,
        _AvgPoolNd,
        _MaxPoolNd,
    )

    assert isinstance(tg.nn.BatchNorm2d(3), _BatchNorm)
    assert isinstance(tg.nn.BatchNorm2d(3), _NormBase)
    assert isinstance(tg.nn.BCELoss(), _Loss) and not isinstance(tg.nn.MSELoss(), _WeightedLoss)
    assert isinstance(tg.nn.InstanceNorm2d(3), _InstanceNorm)
    assert not isinstance(tg.nn.InstanceNorm2d(3), _BatchNorm)
    assert isinstance(tg.nn.Dropout(), _DropoutNd) and isinstance(tg.nn.Dropout2d(), _DropoutNd)
    assert isinstance(tg.nn.MaxPool2d(2), _MaxPoolNd) and isinstance(tg.nn.AvgPool2d(2), _AvgPoolNd)
    assert isinstance(tg.nn.AdaptiveAvgPool2d(1), _AdaptiveAvgPoolNd)
    assert isinstance(tg.nn.AdaptiveMaxPool3d(1), _AdaptiveMaxPoolNd)
    assert not isinstance(tg.nn.AdaptiveMaxPool3d(1), _AdaptiveAvgPoolNd)


def test_changed_classes_keep_their_attributes_and_repr():
    """The layers that got torch's bases keep what they had (and gain torch's attributes)."""
    pairs = [(tg.nn.Conv2d(2, 4, 3, padding=1), torch.nn.Conv2d(2, 4, 3, padding=1)),
             (tg.nn.MaxPool2d(2), torch.nn.MaxPool2d(2)),
             (tg.nn.AvgPool2d(3, 2), torch.nn.AvgPool2d(3, 2)),
             (tg.nn.Dropout(0.25), torch.nn.Dropout(0.25)),
             (tg.nn.AdaptiveAvgPool2d((2, 3)), torch.nn.AdaptiveAvgPool2d((2, 3))),
             (tg.nn.AdaptiveMaxPool3d(2, True), torch.nn.AdaptiveMaxPool3d(2, True)),
             (tg.nn.AdaptiveAvgPool3d(2), torch.nn.AdaptiveAvgPool3d(2)),
             (tg.nn.ReflectionPad2d(1), torch.nn.ReflectionPad2d(1)),
             (tg.nn.LPPool2d(2, 3), torch.nn.LPPool2d(2, 3)),
             (tg.nn.MaxUnpool2d(2), torch.nn.MaxUnpool2d(2))]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
    conv = pairs[0][0]
    assert (conv.padding_mode, conv.output_padding) == ("zeros", (0, 0))
    assert tg.nn.AdaptiveMaxPool3d(2, True).return_indices is True
    with pytest.raises(ValueError, match=r"Dropout: p must be in \[0, 1\], got 2"):
        tg.nn.Dropout(2)


# ---- user programs, the same code under torch and tensorgrad ----------------------------------
def _lib(name):
    return torch if name == "torch" else tg


def _from(lib, path, *names):
    mod = importlib.import_module(lib.__name__ + "." + path)
    return [getattr(mod, n) for n in names]


def _mine(lib, x, device):
    """A NumPy array as the library's float64 tensor (tensorgrad's on ``device``)."""
    if lib is torch:
        return torch.tensor(x, dtype=torch.float64, requires_grad=True)
    return tg.tensor(put(np.asarray(x, dtype=np.float64), device), requires_grad=True)


def _np(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else host(t)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_user_loss_subclass_as_torch(device, reduction):
    a, b = np.random.randn(4, 3), np.random.randn(4, 3)
    results = []
    for lib in (torch, tg):
        (_Loss,) = _from(lib, "nn.modules.loss", "_Loss")

        class LogCosh(_Loss):
            def forward(self, pred, target):
                d = lib.log(lib.cosh(pred - target))
                if self.reduction == "mean":
                    return d.mean()
                if self.reduction == "sum":
                    return d.sum()
                return d

        loss_fn = LogCosh(reduction=reduction)
        assert loss_fn.reduction == reduction and isinstance(loss_fn, lib.nn.Module)
        assert list(loss_fn.parameters()) == [] and LogCosh().reduction == "mean"
        pa, pb = _mine(lib, a, device), _mine(lib, b, device)
        out = loss_fn(pa, pb)
        out.sum().backward()
        results.append((_np(out), _np(pa.grad), repr(loss_fn)))
    (v1, g1, r1), (v2, g2, r2) = results
    np.testing.assert_allclose(v2, v1, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g2, g1, rtol=1e-10, atol=1e-12)
    assert r1 == r2 == "LogCosh()"


def test_user_weighted_loss_subclass_as_torch(device):
    a, b, w = np.random.randn(5, 3), np.random.randn(5, 3), np.array([0.5, 1.0, 2.0])
    results = []
    for lib in (torch, tg):
        (_WeightedLoss,) = _from(lib, "nn.modules.loss", "_WeightedLoss")

        class WeightedSquares(_WeightedLoss):
            def forward(self, pred, target):
                d = (pred - target) ** 2 * self.weight
                return d.mean() if self.reduction == "mean" else d.sum()

        weight = lib.tensor(w) if lib is torch else tg.tensor(put(w, device))
        loss_fn = WeightedSquares(weight=weight, reduction="sum")
        assert loss_fn.reduction == "sum" and "weight" in loss_fn.state_dict()
        assert [n for n, _ in loss_fn.named_buffers()] == ["weight"]
        assert WeightedSquares().weight is None
        pa, pb = _mine(lib, a, device), _mine(lib, b, device)
        out = loss_fn(pa, pb)
        out.backward()
        results.append((_np(out), _np(pa.grad)))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-10)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-10, atol=1e-12)


def _net(lib):
    nn = lib.nn
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Conv2d(4, 3, 3), nn.BatchNorm2d(3), nn.Flatten(),
                         nn.Linear(3 * 4 * 4, 5), nn.BatchNorm1d(5)).double()


def _copy_state(src, dst, device):
    dst.load_state_dict({k: tg.tensor(put(v.detach().numpy(), device))
                         for k, v in src.state_dict().items()})


def test_freeze_every_batchnorm_by_isinstance_as_torch(device):
    x = np.random.randn(6, 2, 6, 6)
    nets = {lib: _net(lib) for lib in (torch, tg)}
    with torch.no_grad():  # running statistics that differ from the batch's
        for m in nets[torch].modules():
            if isinstance(m, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    nets[tg].to(device)
    _copy_state(nets[torch], nets[tg], device)
    results = []
    for lib, net in nets.items():
        (_BatchNorm,) = _from(lib, "nn.modules.batchnorm", "_BatchNorm")
        net.train()
        frozen = 0
        for m in net.modules():
            if isinstance(m, _BatchNorm):
                m.eval()
                for p in m.parameters():
                    p.requires_grad_(False)
                    frozen += 1
        inp = _mine(lib, x, device)
        out = net(inp)
        (out ** 2).sum().backward()
        grads = [_np(p.grad) for p in net.parameters() if p.requires_grad]
        bn_grads = [p.grad for m in net.modules() if isinstance(m, _BatchNorm)
                    for p in m.parameters()]
        results.append((frozen, _np(out), grads, bn_grads))
    (f1, o1, g1, b1), (f2, o2, g2, b2) = results
    assert f1 == f2 == 6 and all(g is None for g in b1 + b2)
    np.testing.assert_allclose(o2, o1, rtol=1e-10, atol=1e-12)
    assert len(g1) == len(g2) == 6
    for mine, theirs in zip(g2, g1):
        np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-10)


def test_conv_init_loop_over_convnd_as_torch(device):
    x = np.random.randn(2, 3, 5, 5)
    results = []
    for lib in (torch, tg):
        nn = lib.nn
        (_ConvNd,) = _from(lib, "nn.modules.conv", "_ConvNd")
        net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ConvTranspose2d(4, 2, 2),
                            nn.Conv2d(2, 2, 1, bias=False), nn.Flatten(),
                            nn.Linear(2 * 6 * 6, 3)).double()
        if lib is tg:
            net.to(device)
        touched = []
        for i, m in enumerate(net.modules()):
            if isinstance(m, _ConvNd):
                nn.init.constant_(m.weight, 0.01 * i)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
                touched.append(type(m).__name__)
            elif isinstance(m, nn.Linear):
                nn.init.constant_(m.weight, 0.02)
                nn.init.constant_(m.bias, 0.1)
        out = net(_mine(lib, x, device))
        results.append((touched, _np(out)))
    assert results[0][0] == results[1][0] == ["Conv2d", "ConvTranspose2d", "Conv2d"]
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-10, atol=1e-12)


def test_pair_in_a_user_conv_layer_as_torch(device):
    x, w = np.random.randn(2, 3, 7, 6), np.random.randn(4, 3, 3, 2)
    results = []
    for lib in (torch, tg):
        (_pair,) = _from(lib, "nn.modules.utils", "_pair")
        F = lib.nn.functional

        class MyConv(lib.nn.Module):
            def __init__(self, weight, stride=1, padding=0):
                super().__init__()
                self.stride, self.padding = _pair(stride), _pair(padding)
                self.weight = lib.nn.Parameter(weight)

            def forward(self, inp):
                return F.conv2d(inp, self.weight, None, self.stride, self.padding)

        weight = torch.tensor(w) if lib is torch else tg.tensor(put(w, device))
        layer = MyConv(weight, stride=2, padding=(1, 0))
        assert (layer.stride, layer.padding) == ((2, 2), (1, 0))
        inp = _mine(lib, x, device)
        out = layer(inp)
        out.sum().backward()
        results.append((_np(out), _np(inp.grad), _np(layer.weight.grad)))
    for mine, theirs in zip(results[1], results[0]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_nn_grad_conv_input_and_weight_as_torch(device, n):
    x = np.random.randn(2, 4, *(5, 6, 4)[:n])
    w = np.random.randn(6, 2, *(3, 2, 2)[:n])
    geo = {"stride": 2, "padding": 1, "groups": 2}
    out = torch.nn.functional.__dict__[f"conv{n}d"](torch.tensor(x), torch.tensor(w), **geo)
    go = np.random.randn(*out.shape)
    import tensorgrad.nn.grad as tgrad

    gi = getattr(tgrad, f"conv{n}d_input")(x.shape, tg.tensor(put(w, device)),
                                           tg.tensor(put(go, device)), **geo)
    gw = getattr(tgrad, f"conv{n}d_weight")(tg.tensor(put(x, device)), w.shape,
                                            tg.tensor(put(go, device)), **geo)
    ti = getattr(torch.nn.grad, f"conv{n}d_input")(x.shape, torch.tensor(w), torch.tensor(go),
                                                   **geo)
    tw = getattr(torch.nn.grad, f"conv{n}d_weight")(torch.tensor(x), w.shape, torch.tensor(go),
                                                    **geo)
    np.testing.assert_allclose(host(gi), ti.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(host(gw), tw.numpy(), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match=f"conv{n}d_input: the input size must have {n + 2}"):
        getattr(tgrad, f"conv{n}d_input")(x.shape[1:], tg.tensor(w), tg.tensor(go), **geo)


def test_nn_grad_is_differentiable_in_the_weight(device):
    import tensorgrad.nn.grad as tgrad

    w, go = np.random.randn(2, 3, 2, 2), np.random.randn(1, 2, 4, 4)
    grads = []
    for lib, mod in ((torch, torch.nn.grad), (tg, tgrad)):
        weight, g = _mine(lib, w, device), _mine(lib, go, device)
        (mod.conv2d_input((1, 3, 5, 5), weight, g) ** 2).sum().backward()
        grads.append((_np(weight.grad), _np(g.grad)))
    for mine, theirs in zip(grads[1], grads[0]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)


def test_module_utils_helpers_as_torch():
    import tensorgrad.nn.modules.utils as gu
    import torch.nn.modules.utils as tu

    for v in (3, (1, 2), [4, 5, 6], range(2)):
        for name in ("_single", "_pair", "_triple", "_quadruple"):
            assert getattr(gu, name)(v) == getattr(tu, name)(v)
    assert gu._reverse_repeat_tuple((1, 2, 3), 2) == tu._reverse_repeat_tuple((1, 2, 3), 2)
    assert gu._list_with_default([None, 3], [8, 9, 10]) == tu._list_with_default([None, 3],
                                                                               [8, 9, 10])
    assert gu._list_with_default(4, [1]) == 4
    with pytest.raises(ValueError, match="at least 3"):
        gu._list_with_default([1, 2], [5, 6])
    net = tg.nn.Sequential(tg.nn.Linear(2, 2))
    state = {"module." + k: v for k, v in net.state_dict().items()}
    gu.consume_prefix_in_state_dict_if_present(state, "module.")
    assert sorted(state) == ["0.bias", "0.weight"]
    net.load_state_dict(state)


def test_serialization_types_and_common_types():
    import tensorgrad.nn.common_types as ct
    import tensorgrad.serialization as ser
    import tensorgrad.types as ty

    assert ser.save is tg.save and ser.load is tg.load
    ser.clear_safe_globals()
    ser.add_safe_globals([dict, tuple])
    with ser.safe_globals([set]):
        assert ser.get_safe_globals() == [dict, tuple, set]
    assert ser.get_safe_globals() == [dict, tuple]
    ser.clear_safe_globals()
    assert ser.get_safe_globals() == [] and issubclass(ser.SourceChangeWarning, Warning)
    assert set(ty.Number.__args__) == {int, float, bool}
    assert str in ty.Device.__args__ and ty.FileLike is not None
    assert set(ct._size_2_t.__args__) == {int, tuple[int, int]}
    assert ct._size_any_t.__args__[0] is int and ct.Tensor is tg.Tensor
    import tensorgrad.functional as tf

    assert tf.einsum is tg.einsum and tf.split is tg.split


def test_alias_modules_are_made_on_demand_only():
    """`import tensorgrad` makes no alias module, except where a parent's attribute of the
    same name must be kept (test_import_does_not_replace_a_parent_attribute)."""
    import subprocess

    code = ("import sys, tensorgrad, tensorgrad._import_paths as ip; "
            "print(sorted(k for k, m in sys.modules.items() if isinstance(m, ip._Alias)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    made = eval(out)  # noqa: S307
    assert set(made) <= {"tensorgrad.autograd.gradcheck", "tensorgrad.nn.utils.weight_norm",
                         "tensorgrad.nn.utils.spectral_norm", "tensorgrad.autograd.variable",
                         "tensorgrad.autograd.profiler_util"}
    assert "tensorgrad.autograd.gradcheck" in made
