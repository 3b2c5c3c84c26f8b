"""``tg.compiler.config``: the settings of ``torch.compiler.config`` with PyTorch's defaults.

tensorgrad runs eagerly, so nothing reads them; they exist so that scripts that set them
(``tg.compiler.config.job_id = "run"``) run unchanged. Setting a name PyTorch's config does not
have raises ``AttributeError``, as PyTorch's.
"""

import sys
import types

_DEFAULTS = {
    "job_id": None, "pgo_extra_read_key": None, "pgo_extra_write_key": None,
    "cache_key_tag": "", "force_disable_caches": False, "dynamic_sources": "",
    "dynamic_values": "", "unbacked_sources": "", "force_cudagraph_gc": False,
    "dynamic_shapes": True, "assume_static_by_default": True, "automatic_dynamic_shapes": True,
    "recompile_limit": 8, "accumulated_recompile_limit": 256, "verbose": False,
    "capture_scalar_outputs": False, "capture_dynamic_output_shape_ops": False,
    "log_file_name": None, "fail_on_recompile_limit_hit": False,
    "allow_unspec_int_on_nn_module": False, "skip_tensor_guards_with_matching_dict_tags": True,
    "enable_cpp_symbolic_shape_guards": False, "wrap_top_frame": False,
    "reorderable_logging_functions": set(),
}


class _Config(types.ModuleType):
    def __setattr__(self, name, value):
        if name not in _DEFAULTS and not name.startswith("__"):
            raise AttributeError(f"{self.__name__}.{name} does not exist")
        super().__setattr__(name, value)

    def __delattr__(self, name):
        raise AttributeError(f"{self.__name__}.{name} cannot be deleted")


globals().update({k: (set(v) if isinstance(v, set) else v) for k, v in _DEFAULTS.items()})
sys.modules[__name__].__class__ = _Config
