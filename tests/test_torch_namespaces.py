"""PyTorch's namespaces that ported programs touch first: tg.accelerator, tg.compiler,
tg.random, tg.signal.windows, tg.nn.attention (and .bias), tg.utils.hooks / dlpack / _pytree /
model_zoo, tg.hub, tg.cuda.nvtx, tg.cuda's legacy tensor types and tg.GradScaler, each against
torch (its names, its values, its errors)."""

import collections
import contextlib
import hashlib
import importlib
import os
import pathlib
import sys
import warnings

import numpy as np
import pytest
from devices import close_to_torch, host, on, put, tensor_on, torch_oracle

import tensorgrad as tg
from tensorgrad.utils import _pytree as pytree

torch = torch_oracle()
tpytree = importlib.import_module("torch.utils._pytree")
for _sub in ("torch.utils.hooks", "torch.utils.model_zoo", "torch.nn.attention.bias"):
    importlib.import_module(_sub)

# ---- the public names ------------------------------------------------------------------------
# (tensorgrad module, torch module, names of torch's __all__ tensorgrad leaves out: the reason)
NAMESPACES = [
    ("tensorgrad.accelerator", "torch.accelerator",
     {"Graph": "accelerator graph capture: tensorgrad records no CUDA graphs"}),
    ("tensorgrad.compiler", "torch.compiler", {}),
    ("tensorgrad.random", "torch.random", {}),
    ("tensorgrad.signal", "torch.signal", {}),
    ("tensorgrad.signal.windows", "torch.signal.windows", {}),
    ("tensorgrad.nn.attention", "torch.nn.attention", {}),
    ("tensorgrad.nn.attention.bias", "torch.nn.attention.bias", {}),
    ("tensorgrad.utils.hooks", "torch.utils.hooks",
     {"BackwardHook": "the machinery of Module.register_full_backward_hook, which tensorgrad "
                      "keeps in nn/_module_hooks.py"}),
    ("tensorgrad.utils.dlpack", "torch.utils.dlpack", {}),
    ("tensorgrad.utils._pytree", "torch.utils._pytree", {}),
    ("tensorgrad.hub", "torch.hub", {}),
    ("tensorgrad.cuda.nvtx", "torch.cuda.nvtx", {}),
]


@pytest.mark.parametrize("ours, theirs, left_out", NAMESPACES, ids=[n[0] for n in NAMESPACES])
def test_public_names_are_torchs(ours, theirs, left_out):
    mine, ref = importlib.import_module(ours), importlib.import_module(theirs)
    want = [n for n in ref.__all__ if n not in left_out]
    assert sorted(mine.__all__) == sorted(want)
    assert all(hasattr(mine, n) for n in want)
    assert all(n in ref.__all__ for n in left_out)  # an exclusion names a real torch name


def test_names_outside_all_that_programs_use():
    assert hasattr(tg.random, "default_generator") and tg.random.Generator is tg.Generator
    for n in ("SDPAParams", "can_use_flash_attention", "can_use_efficient_attention", "bias"):
        assert hasattr(tg.nn.attention, n) and hasattr(torch.nn.attention, n)
    assert hasattr(tg.utils.dlpack, "to_dlpack")
    assert tg.utils.model_zoo.load_url is tg.hub.load_state_dict_from_url
    legacy = [n for n in dir(torch.cuda) if n.endswith("Tensor") and n != "BFloat16Tensor"]
    assert legacy and all(hasattr(tg.cuda, n) for n in legacy)  # no bfloat16 in NumPy/CuPy
    assert sorted(torch.compiler.config._config) == sorted(tg.compiler.config._DEFAULTS)
    assert tg.GradScaler is tg.amp.GradScaler and torch.GradScaler is torch.amp.GradScaler
    assert "GradScaler" in tg.__all__ and "accelerator" in tg.__all__


def test_tensorgrad_random_does_not_shadow_the_standard_library():
    import random

    import tensorgrad.utils.data as data

    assert random is not tg.random and hasattr(random, "getrandbits")
    assert sys.modules["random"] is random and sys.modules["tensorgrad.random"] is tg.random
    namespace = {"random": random}
    exec("from tensorgrad import *", namespace)  # a star import keeps stdlib random and signal
    assert namespace["random"] is random and "signal" not in namespace
    assert data.random is random if hasattr(data, "random") else True


# ---- tg.accelerator ----------------------------------------------------------------------------
def test_accelerator_on_cuda(cuda_device):
    acc = tg.accelerator
    assert acc.is_available() is True
    assert acc.current_accelerator().type == "cuda"
    assert acc.device_count() == tg.cuda.device_count() >= 1
    assert acc.current_device_index() == tg.cuda.current_device()
    with pytest.warns(FutureWarning):
        assert acc.current_device_idx() == acc.current_device_index()
    last = acc.device_count() - 1
    with acc.device_index(last):
        assert tg.cuda.current_device() == last
    assert acc.current_device_index() == 0
    with acc.device_index(None):
        assert acc.current_device_index() == 0
    acc.set_device_index("cuda:0")
    with pytest.warns(FutureWarning):
        acc.set_device_idx(0)
    acc.synchronize()
    acc.synchronize("cuda:0")
    before = acc.memory_allocated()
    x = tg.zeros(1 << 16, device="cuda")
    assert acc.memory_allocated(0) == tg.cuda.memory_allocated(0) >= before + 4 * (1 << 16)
    assert acc.max_memory_allocated() >= acc.memory_allocated()
    assert acc.memory_reserved() >= acc.memory_allocated()
    assert acc.max_memory_reserved() >= acc.memory_reserved()
    stats = acc.memory_stats()
    assert isinstance(stats, collections.OrderedDict)
    assert stats["allocated_bytes.all.current"] == acc.memory_allocated()
    del x
    acc.reset_peak_memory_stats()
    assert acc.max_memory_allocated() == acc.memory_allocated()
    acc.reset_accumulated_memory_stats()
    acc.empty_cache()
    acc.empty_host_cache()
    free, total = acc.get_memory_info()
    assert 0 <= free <= total
    assert tg.float32 in acc.get_device_capability()["supported_dtypes"]
    assert acc.current_stream() == tg.cuda.current_stream()
    s = tg.cuda.Stream()
    acc.set_stream(s)
    try:
        assert acc.current_stream() == s == tg.cuda.current_stream()
    finally:
        acc.set_stream(tg.cuda.default_stream())
    assert acc.current_stream() == tg.cuda.default_stream()
    with pytest.raises(TypeError, match="Stream"):
        acc.set_stream("stream")
    with pytest.raises(ValueError, match="cuda"):
        acc.memory_allocated("cpu")
    with pytest.raises(TypeError, match="device index"):
        acc.synchronize(1.5)


def test_accelerator_without_a_gpu_answers_as_torchs_cpu_build(no_cupy):
    acc, ref = tg.accelerator, torch.accelerator
    assert not ref.is_available()  # the oracle is torch's CPU build
    assert acc.is_available() is ref.is_available() is False
    assert acc.current_accelerator() is ref.current_accelerator() is None
    assert acc.current_accelerator(check_available=True) is None
    assert acc.device_count() == ref.device_count() == 0
    with acc.device_index(None), ref.device_index(None):
        pass
    calls = [("current_device_index", ()), ("synchronize", ()), ("empty_cache", ()),
             ("memory_allocated", ()), ("max_memory_allocated", ()), ("memory_stats", ()),
             ("reset_peak_memory_stats", ()), ("get_memory_info", ()),
             ("memory_reserved", ()), ("set_device_index", (0,)),
             ("get_device_capability", ()), ("current_stream", ())]
    for name, args in calls:
        with pytest.raises(RuntimeError) as theirs:
            getattr(ref, name)(*args)
        with pytest.raises(RuntimeError) as mine:
            getattr(acc, name)(*args)
        assert str(mine.value) == str(theirs.value), name
    with pytest.raises(RuntimeError, match="none is available"):
        with acc.device_index(0):
            pass


def test_mnist_device_line():
    device = (tg.accelerator.current_accelerator() if tg.accelerator.is_available()
              else tg.device("cpu"))
    x = tg.ones(2, device=device)
    assert x.device.type == device.type


# ---- tg.compiler ---------------------------------------------------------------------------
def test_compiler_decorators_run_eagerly():
    C = tg.compiler

    @C.disable
    def f(x):
        return x * 2

    @C.disable(recursive=False, reason="side effects")
    def g(x):
        return x + 1

    assert f(3) == 6 and g(3) == 4
    for deco in (C.allow_in_graph, C.assume_constant_result, C.wrap_numpy,
                 C.nested_compile_region, C.nested_compile_region(max_reuse_entries=2),
                 C.substitute_in_graph(np.add)):
        assert deco(f) is f
    assert C.allow_in_graph([f, g]) == [f, g]
    assert C.compile(f) is f and C.compile(mode="max-autotune")(f) is f
    model = tg.nn.Linear(2, 2)
    assert C.compile(model, disable=True) is model and C.compile(model)._orig_mod is model
    assert C.is_compiling() is torch.compiler.is_compiling() is False
    assert C.is_dynamo_compiling() is torch.compiler.is_dynamo_compiling() is False
    assert C.is_exporting() is torch.compiler.is_exporting() is False
    assert C.reset() is None and C.cudagraph_mark_step_begin() is None
    assert C.save_cache_artifacts() is None
    for bad in (C.disable, C.allow_in_graph, C.assume_constant_result):
        with pytest.raises(TypeError, match="expected a function"):
            bad(3)
    with pytest.raises(RuntimeError, match="compiles nothing"):
        C.load_cache_artifacts(b"")


def test_compiler_backends_and_stance():
    C = tg.compiler
    assert C.list_backends() == torch.compiler.list_backends()
    assert set(C.list_backends()) <= set(C.list_backends(exclude_tags=None))
    assert C.get_default_backend() == torch.compiler.get_default_backend() == "inductor"
    C.set_default_backend("eager")
    assert C.get_default_backend() == "eager"
    C.set_default_backend(None)
    assert C.get_default_backend() == "inductor"
    with pytest.raises(TypeError):
        C.set_default_backend(3)
    state = C._STATE
    with C.set_stance("force_eager"):
        assert state["stance"] == "force_eager"
    assert state["stance"] == "default"

    @C.set_stance("eager_on_recompile")
    def inside():
        return state["stance"]

    assert state["stance"] == "default" and inside() == "eager_on_recompile"
    C.set_stance("fail_on_recompile")
    assert state["stance"] == "fail_on_recompile"
    C.set_stance("default")
    with pytest.raises(ValueError, match="unknown stance"):
        C.set_stance("fastest")
    with pytest.raises(RuntimeError, match="force_backend"):
        C.set_stance("force_eager", force_backend="eager")


def test_compiler_guard_filters_answer_as_torchs():
    class Source:
        def __init__(self, builtin, module):
            self.b, self.m = builtin, module

        def is_unspecialized_builtin_nn_module(self):
            return self.b

        def is_unspecialized_nn_module(self):
            return self.m

    class Entry:
        def __init__(self, kind, is_global, value, builtin=False, module=False):
            self.guard_type, self.is_global, self.value = kind, is_global, value
            self.orig_guard = type("G", (), {"source": Source(builtin, module)})()

    entries = [Entry("TENSOR_MATCH", False, 1.0), Entry("TENSOR_MATCH", True, 2.0, True, True),
               Entry("GLOBAL_STATE", True, None, False, True), Entry("SHAPE_ENV", False, None),
               Entry("ID_MATCH", False, None, True, True)]
    for name in ("keep_portable_guards_unsafe", "skip_guard_on_inbuilt_nn_modules_unsafe",
                 "skip_guard_on_all_nn_modules_unsafe", "keep_tensor_guards_unsafe",
                 "skip_guard_on_globals_unsafe", "skip_all_guards_unsafe"):
        assert getattr(tg.compiler, name)(entries) == getattr(torch.compiler, name)(entries)
    params = [Entry("TENSOR_MATCH", False, tg.nn.Parameter(tg.ones(1)))]
    assert tg.compiler.keep_tensor_guards_unsafe(params) == [False]
    assert tg.compiler.keep_tensor_guards_unsafe(params, keep_parameters=True) == [True]


def test_compiler_config_has_torchs_defaults():
    cfg = tg.compiler.config
    for name in torch.compiler.config._config:
        assert getattr(cfg, name) == getattr(torch.compiler.config, name), name
    cfg.job_id = "run-1"
    assert tg.compiler.config.job_id == "run-1"
    cfg.job_id = None
    with pytest.raises(AttributeError, match="does not exist"):
        cfg.no_such_setting = 1


# ---- tg.random -------------------------------------------------------------------------------
def test_random_functions_are_tensorgrads():
    R = tg.random
    assert R.manual_seed is tg.manual_seed and R.get_rng_state is tg.get_rng_state
    assert R.set_rng_state is tg.set_rng_state and R.seed is tg.seed
    assert R.initial_seed is tg.initial_seed and R.default_generator is tg.default_generator
    assert R.manual_seed(7) is tg.default_generator
    assert R.initial_seed() == 7 == torch.random.manual_seed(7).initial_seed()
    s = R.seed()
    assert R.initial_seed() == s
    assert R.thread_safe_generator() is None is torch.random.thread_safe_generator()


def test_fork_rng_restores_the_cpu_state_as_torchs():
    for lib in (tg, torch):
        lib.manual_seed(3)
        with lib.random.fork_rng(devices=[]):
            inside = lib.rand(4).tolist()
        assert lib.rand(4).tolist() == inside  # the state came back
        with lib.random.fork_rng(devices=[], enabled=False):
            skipped = lib.rand(4).tolist()
        assert lib.rand(4).tolist() != skipped  # enabled=False keeps the block's draws
    with pytest.raises(RuntimeError), tg.random.fork_rng(devices=[]):
        tg.rand(2)
        raise RuntimeError("out of the block")
    tg.manual_seed(5)
    a = tg.rand(3).tolist()
    tg.manual_seed(5)
    with pytest.raises(RuntimeError), tg.random.fork_rng(devices=[]):
        tg.rand(5)
        raise RuntimeError("out of the block")
    assert tg.rand(3).tolist() == a  # restored on the way out of an exception too


def test_fork_rng_restores_the_gpu_state(cuda_device):
    tg.manual_seed(11)
    tg.random._WARNED[0] = False
    many = tg.cuda.device_count() > 1  # then torch's warning about saving every GPU's state
    with pytest.warns(UserWarning, match="devices") if many else contextlib.nullcontext(), \
            tg.random.fork_rng():  # devices=None: every GPU
        inside_gpu = host(tg.rand(3, device="cuda"))
        inside_cpu = tg.rand(3).numpy()
    np.testing.assert_array_equal(host(tg.rand(3, device="cuda")), inside_gpu)
    np.testing.assert_array_equal(tg.rand(3).numpy(), inside_cpu)
    with tg.random.fork_rng(devices=iter([0])):  # a generator of devices is read once
        again = host(tg.rand(3, device="cuda"))
    np.testing.assert_array_equal(host(tg.rand(3, device="cuda")), again)
    with pytest.raises(ValueError, match="device_type"), \
            tg.random.fork_rng(device_type="mps"):
        pass


# ---- tg.signal.windows -----------------------------------------------------------------------
WINDOW_CASES = [("bartlett", {}), ("blackman", {}), ("cosine", {}), ("hamming", {}),
                ("hann", {}), ("nuttall", {}), ("kaiser", {}), ("kaiser", {"beta": 3.5}),
                ("gaussian", {}), ("gaussian", {"std": 2.5}), ("exponential", {}),
                ("exponential", {"tau": 0.4}), ("general_hamming", {"alpha": 0.6}),
                ("general_cosine", {"a": [0.46, 0.23, 0.31]})]


@pytest.mark.parametrize("name, kwargs", WINDOW_CASES,
                         ids=[f"{n}-{'-'.join(map(str, k.values()))}" for n, k in WINDOW_CASES])
def test_windows_equal_torchs(name, kwargs, device):
    for M in (0, 1, 2, 7, 8):
        for sym in (True, False):
            mine = getattr(tg.signal.windows, name)(M, sym=sym, dtype=tg.float64,
                                                    device=device, **kwargs)
            ref = getattr(torch.signal.windows, name)(M, sym=sym, dtype=torch.float64,
                                                      **kwargs)
            assert on(mine, device) and mine.dtype == np.float64
            assert tuple(mine.shape) == tuple(ref.shape)
            close_to_torch(mine, ref, rtol=0, atol=1e-12)
            m32 = getattr(tg.signal.windows, name)(M, sym=sym, dtype=tg.float32, device=device,
                                                   **kwargs)
            assert m32.dtype == np.float32
            close_to_torch(m32, ref.float(), rtol=0, atol=1e-6)


def test_windows_defaults_and_exponential_center(device):
    W, T = tg.signal.windows, torch.signal.windows
    close_to_torch(W.hann(6), T.hann(6), rtol=0, atol=1e-7)  # float32 by default
    assert W.hann(6).dtype == np.float32
    for M in (1, 6, 7):
        close_to_torch(W.exponential(M, sym=False, center=2.0, tau=0.5, dtype=tg.float64,
                                     device=device),
                       T.exponential(M, sym=False, center=2.0, tau=0.5, dtype=torch.float64),
                       rtol=0, atol=1e-12)
    w = W.hann(5, requires_grad=True, device=device)
    assert w.requires_grad and w.is_leaf
    # torch.signal.windows' sym=True is tg.hann_window's periodic=False
    close_to_torch(W.hann(9, sym=False, dtype=tg.float64, device=device),
                   torch.hann_window(9, periodic=True, dtype=torch.float64), atol=1e-12)


BAD_WINDOWS = [("hann", (-1,), {}), ("hann", (4,), {"dtype": "int64"}),
               ("kaiser", (4,), {"beta": -1.0}), ("gaussian", (4,), {"std": 0.0}),
               ("exponential", (4,), {"tau": 0.0}), ("exponential", (4,), {"center": 1.0}),
               ("general_cosine", (4,), {"a": []}), ("general_cosine", (4,), {"a": 3}),
               ("bartlett", (4,), {"layout": "sparse_coo"})]


@pytest.mark.parametrize("name, args, kwargs", BAD_WINDOWS,
                         ids=[f"{n}-{list(k)}" for n, _, k in BAD_WINDOWS])
def test_window_errors_are_torchs(name, args, kwargs):
    tkw = dict(kwargs)
    if "dtype" in tkw:
        tkw["dtype"] = getattr(torch, tkw["dtype"])
    if "layout" in tkw:
        tkw["layout"] = torch.sparse_coo
    with pytest.raises((ValueError, TypeError)) as theirs:
        getattr(torch.signal.windows, name)(*args, **tkw)
    with pytest.raises(type(theirs.value)) as mine:
        getattr(tg.signal.windows, name)(*args, **kwargs)
    assert str(mine.value).split(",")[0].split(":")[0] == \
        str(theirs.value).split(",")[0].split(":")[0]


# ---- tg.nn.attention ---------------------------------------------------------------------------
def _qkv(device, L=5, S=5, seed=0):
    rng = np.random.default_rng(seed)
    arrs = [rng.standard_normal((2, 3, n, 8)) for n in (L, S, S)]
    return [tg.tensor(put(a, device)) for a in arrs], [torch.tensor(a) for a in arrs]


def test_sdp_backend_values_are_torchs():
    A = tg.nn.attention
    assert [(b.name, int(b)) for b in A.SDPBackend] == \
        [(n, int(b)) for n, b in torch.nn.attention.SDPBackend.__members__.items()]
    assert A.WARN_FOR_UNFUSED_KERNELS is torch.nn.attention.WARN_FOR_UNFUSED_KERNELS


def test_sdpa_kernel_selects_the_one_implementation(device):
    A, F = tg.nn.attention, tg.nn.functional
    (q, k, v), (tq, tk, tv) = _qkv(device)
    plain = host(F.scaled_dot_product_attention(q, k, v, is_causal=True))
    close_to_torch(plain, torch.nn.functional.scaled_dot_product_attention(
        tq, tk, tv, is_causal=True), rtol=1e-12, atol=1e-12)
    for backends in (A.SDPBackend.MATH, [A.SDPBackend.MATH], A.SDPBackend.FLASH_ATTENTION,
                     # torch raises "No viable backend" for this one on a CPU tensor;
                     # tensorgrad's one implementation runs everywhere (see the module)
                     A.SDPBackend.EFFICIENT_ATTENTION,
                     [A.SDPBackend.CUDNN_ATTENTION, A.SDPBackend.MATH]):
        with A.sdpa_kernel(backends) as ctx:
            assert ctx == {}
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        np.testing.assert_array_equal(host(out), plain)

    @A.sdpa_kernel(A.SDPBackend.MATH)
    def attend():
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)

    np.testing.assert_array_equal(host(attend()), plain)


def test_sdpa_kernel_switches_follow_torchs():
    A, bc = tg.nn.attention, tg.backends.cuda
    kinds = ("flash", "mem_efficient", "math", "cudnn")

    def flags(backends_mod):
        return [getattr(backends_mod, f"{k}_sdp_enabled")() for k in kinds]

    before = flags(bc)
    for choice in ([A.SDPBackend.MATH], [A.SDPBackend.FLASH_ATTENTION, A.SDPBackend.MATH],
                   A.SDPBackend.CUDNN_ATTENTION):
        theirs_choice = ([getattr(torch.nn.attention.SDPBackend, b.name) for b in choice]
                         if isinstance(choice, list)
                         else getattr(torch.nn.attention.SDPBackend, choice.name))
        with A.sdpa_kernel(choice), torch.nn.attention.sdpa_kernel(theirs_choice):
            assert flags(bc) == flags(torch.backends.cuda)
        assert flags(bc) == before
    with A.sdpa_kernel([A.SDPBackend.CUDNN_ATTENTION, A.SDPBackend.MATH], set_priority=True):
        assert A._enabled() == [A.SDPBackend.CUDNN_ATTENTION, A.SDPBackend.MATH]
    assert A._STATE["priority"] == A._DEFAULT_PRIORITY
    with pytest.raises(AssertionError, match="SDPBackend"):
        with A.sdpa_kernel("math"):
            pass
    with pytest.raises(AssertionError, match="SDPBackend"):
        with A.sdpa_kernel([A.SDPBackend.MATH, 0]):
            pass


def test_can_use_fused_and_flash_registry():
    A = tg.nn.attention
    q = tg.ones(1, 1, 2, 8)
    params = A.SDPAParams(q, q, q, None, 0.0, False, False)
    assert A.can_use_flash_attention(params) is False
    with pytest.warns(UserWarning, match="no fused"):
        assert A.can_use_efficient_attention(params, debug=True) is False
    with pytest.raises(TypeError):
        A.can_use_flash_attention(q)
    removed = []

    class Handle:
        def remove(self):
            removed.append(True)

    assert A.current_flash_attention_impl() is None
    A.register_flash_attention_impl("MINE", register_fn=Handle)
    try:
        assert "MINE" in A.list_flash_attention_impls()
        A.activate_flash_attention_impl("MINE")
        assert A.current_flash_attention_impl() == "MINE"
        A.restore_flash_attention_impl()
        assert removed == [True] and A.current_flash_attention_impl() is None
        with pytest.raises(ValueError, match="Unknown flash attention impl 'FA9'"):
            A.activate_flash_attention_impl("FA9")
    finally:
        A._IMPLS.pop("MINE", None)


@pytest.mark.parametrize("L, S", [(4, 4), (3, 6), (6, 6), (2, 5)])
def test_causal_bias_equals_torchs(L, S, device):
    from tensorgrad.nn.attention import bias as B

    tb = torch.nn.attention.bias
    for mine, theirs in ((B.causal_upper_left(L, S), tb.causal_upper_left(L, S)),
                         (B.causal_lower_right(L, S), tb.causal_lower_right(L, S))):
        assert isinstance(mine, B.CausalBias) and isinstance(mine, tg.Tensor)
        assert mine.variant.name == theirs.variant.name and int(mine.variant) == \
            int(theirs.variant)
        np.testing.assert_array_equal(mine._materialize().numpy(),
                                      theirs._materialize().numpy())
        (q, k, v), (tq, tk, tv) = _qkv(device, L, S, seed=L * 10 + S)
        mask = mine if device == "cpu" else mine.to(device)
        out = tg.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        ref = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, attn_mask=theirs)
        close_to_torch(out, ref, rtol=1e-12, atol=1e-12)


def test_causal_bias_errors_and_warning():
    from tensorgrad.nn.attention import bias as B

    with pytest.warns(UserWarning, match="NaNs"):
        B.causal_lower_right(4, 2)
    with pytest.raises(AssertionError, match="2D"):
        B.causal_upper_left(2, 3, 4)
    with pytest.raises(AssertionError, match="CausalVariant"):
        B.CausalBias(1, 2, 2)
    with pytest.raises(ValueError, match="seq_len_q"):
        B.causal_upper_left(-1, 2)


def test_transformer_modules_keep_their_names():
    assert tg.nn.attention.MultiheadAttention is tg.nn.MultiheadAttention
    assert tg.nn.transformer.Transformer is tg.nn.Transformer
    assert "SDPBackend" not in tg.nn.__all__ and "MultiheadAttention" in tg.nn.__all__


# ---- tg.utils.hooks ------------------------------------------------------------------------
def test_every_hook_handle_is_a_removable_handle():
    RH = tg.utils.hooks.RemovableHandle
    x = tg.ones(2, requires_grad=True)
    y = x * 2
    lin = tg.nn.Linear(2, 2)
    handles = [x.register_hook(lambda g: g), y.register_hook(lambda g: g),
               x.register_post_accumulate_grad_hook(lambda t: None),
               lin.register_forward_hook(lambda m, i, o: None),
               lin.register_forward_pre_hook(lambda m, i: None),
               lin.register_full_backward_hook(lambda m, gi, go: None),
               tg.nn._module_hooks.register_module_forward_hook(lambda m, i, o: None),
               tg.optim.SGD([x], lr=0.1).register_step_post_hook(lambda o, a, k: None),
               tg.autograd.graph.register_multi_grad_hook((x,), lambda gs: None)]
    for h in handles:
        assert isinstance(h, RH), type(h)
        h.remove()
    assert issubclass(type(handles[0]), RH)
    th = torch.ones(1, requires_grad=True).register_hook(lambda g: g)
    assert isinstance(th, torch.utils.hooks.RemovableHandle)


def test_removable_handle_as_torchs():
    results = []
    for RH in (tg.utils.hooks.RemovableHandle, torch.utils.hooks.RemovableHandle):
        od = collections.OrderedDict
        hooks, extra, extra2 = od(), od(), od()
        h1 = RH(hooks, extra_dict=[extra, extra2])
        hooks[h1.id], extra[h1.id], extra2[h1.id] = "a", 1, 2
        h2 = RH(hooks, extra_dict=extra)
        hooks[h2.id], extra[h2.id] = "b", 3
        assert h2.id > h1.id
        h1.remove()
        state = (list(hooks.values()), list(extra.values()), list(extra2.values()))
        with h2:
            pass
        results.append(state + (list(hooks.values()),))
        h2.remove()  # twice: no error
    assert results[0] == results[1]
    with pytest.raises(TypeError, match="dict"):
        tg.utils.hooks.RemovableHandle([])
    plain = {}
    h = tg.utils.hooks.RemovableHandle(plain, extra_dict={})  # plain dicts are taken too
    plain[h.id] = "hook"
    h.remove()
    assert plain == {}


def test_unserializable_hook_and_warning():
    H = tg.utils.hooks
    x = tg.ones(2, requires_grad=True)
    x.register_hook(H.unserializable_hook(lambda g: g))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        H.warn_if_has_hooks(x)
    x.register_hook(lambda g: g)
    with pytest.warns(UserWarning, match="will not be serialized"):
        H.warn_if_has_hooks(x)


# ---- tg.utils.dlpack ---------------------------------------------------------------------------
def test_dlpack_capsules_round_trip_and_interoperate():
    D = tg.utils.dlpack
    assert [(e.name, int(e)) for e in D.DLDeviceType] == \
        [(e.name, int(e)) for e in torch.utils.dlpack.DLDeviceType]
    t = tg.arange(6.0).reshape(2, 3)
    back = D.from_dlpack(D.to_dlpack(t))
    assert np.shares_memory(back.data, t.data) and back.tolist() == t.tolist()
    theirs = torch.utils.dlpack.from_dlpack(D.to_dlpack(t))
    assert theirs.tolist() == t.tolist()
    mine = D.from_dlpack(torch.utils.dlpack.to_dlpack(torch.arange(4)))
    assert mine.tolist() == [0, 1, 2, 3] and mine.dtype == np.int64
    obj = D.from_dlpack(torch.ones(2, 2))
    assert obj.shape == (2, 2)
    arr = np.ones(3)
    shared, copied = D.from_dlpack(arr), D.from_dlpack(arr, copy=True)
    assert np.shares_memory(shared.data, arr) and not np.shares_memory(copied.data, arr)
    with pytest.raises(TypeError, match="Tensor"):
        D.to_dlpack(np.ones(2))
    with pytest.raises(RuntimeError, match="requires grad"):
        D.to_dlpack(tg.ones(2, requires_grad=True))
    with pytest.raises(TypeError, match="__dlpack__"):
        D.from_dlpack([1, 2])


def test_dlpack_device_argument(cuda_device):
    D = tg.utils.dlpack
    t = D.from_dlpack(np.arange(3.0), device="cuda")
    assert on(t, "cuda") and host(t).tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(BufferError, match="copy=False"):
        D.from_dlpack(np.arange(3.0), device="cuda", copy=False)


# ---- tg.utils._pytree --------------------------------------------------------------------------
Point = collections.namedtuple("Point", "x y")
TREES = [
    5, None, [], (), {}, [1, 2, 3], (1, [2, (3, None)]), {"b": 1, "a": [2, 3]},
    {"z": Point(1, [2, 3]), "y": collections.OrderedDict(q=4, p=(5,))},
    [collections.defaultdict(int, {"k": 6}), collections.deque([7, 8], maxlen=4)],
    Point(x={"m": None}, y=()),
]


@pytest.mark.parametrize("tree", TREES, ids=[repr(t)[:30] for t in TREES])
def test_pytree_flatten_equals_torchs(tree):
    leaves, spec = pytree.tree_flatten(tree)
    t_leaves, t_spec = tpytree.tree_flatten(tree)
    assert leaves == t_leaves
    assert repr(spec) == repr(t_spec) and str(spec) == str(t_spec)
    assert (spec.num_leaves, spec.num_nodes, spec.num_children) == \
        (t_spec.num_leaves, t_spec.num_nodes, t_spec.num_children)
    assert spec.is_leaf() == t_spec.is_leaf()
    rebuilt = pytree.tree_unflatten(leaves, spec)
    assert rebuilt == tree and type(rebuilt) is type(tree)
    assert pytree.treespec_pprint(spec) == tpytree.treespec_pprint(t_spec)
    paths = [(pytree.keystr(p), v) for p, v in pytree.tree_flatten_with_path(tree)[0]]
    t_paths = [(tpytree.keystr(p), v) for p, v in tpytree.tree_flatten_with_path(tree)[0]]
    assert paths == t_paths
    for p, v in pytree.tree_leaves_with_path(tree):
        assert pytree.key_get(tree, p) == v
    if not any(isinstance(x, Point) for x in [tree, *pytree.tree_leaves(
            tree, is_leaf=lambda n: isinstance(n, Point))]):
        dumped = pytree.treespec_dumps(spec)
        assert dumped == tpytree.treespec_dumps(t_spec)
        assert pytree.treespec_loads(dumped) == spec


def test_pytree_maps_and_predicates_equal_torchs(device):
    tree = {"w": [1, 2.5, (3, None)], "b": Point(4.0, 5)}
    for fn in ("tree_map",):
        assert getattr(pytree, fn)(lambda v: v if v is None else v * 2, tree) == \
            getattr(tpytree, fn)(lambda v: v if v is None else v * 2, tree)
    assert pytree.tree_map_only(int, lambda v: -v, tree) == \
        tpytree.tree_map_only(int, lambda v: -v, tree)
    assert pytree.tree_map_only((int, float), str, tree) == \
        tpytree.tree_map_only((int, float), str, tree)
    other = {"w": [10, [20], (30, 31)], "b": Point(40, {"k": 50})}  # subtrees at leaves
    assert pytree.tree_map(lambda a, b: (a, b), tree, other) == \
        tpytree.tree_map(lambda a, b: (a, b), tree, other)
    for fn, pred in (("tree_all", lambda v: v is None or v > 0),
                     ("tree_any", lambda v: v is not None and v > 4.5)):
        assert getattr(pytree, fn)(pred, tree) == getattr(tpytree, fn)(pred, tree)
    assert pytree.tree_all_only(float, lambda v: v > 2, tree) == \
        tpytree.tree_all_only(float, lambda v: v > 2, tree)
    assert pytree.tree_any_only(int, lambda v: v > 4, tree) == \
        tpytree.tree_any_only(int, lambda v: v > 4, tree)
    seen = []
    assert pytree.tree_map_(seen.append, tree) is tree and seen == pytree.tree_leaves(tree)
    is_leaf = lambda n: isinstance(n, tuple) and not isinstance(n, Point)  # noqa: E731
    assert pytree.tree_leaves(tree, is_leaf) == tpytree.tree_leaves(tree, is_leaf)
    spec = pytree.tree_structure([1, (2, 3)])
    assert spec.flatten_up_to([[1], (2, 3)]) == \
        tpytree.tree_structure([1, (2, 3)]).flatten_up_to([[1], (2, 3)])
    assert pytree.tree_structure([1, 2]) == pytree.tree_structure([3, 4])
    assert pytree.tree_structure([1, 2]) != pytree.tree_structure((3, 4))
    assert pytree.tree_is_leaf(None) and not pytree.tree_is_leaf([1])
    assert isinstance(pytree.tree_structure(1), pytree.LeafSpec) and pytree.LeafSpec() == \
        pytree.tree_structure("x")
    # tensors are leaves: a pytree of parameters on the device
    params = {"w": tg.tensor(put(np.ones((2, 2)), device)), "b": [tg.zeros(2, device=device)]}
    doubled = pytree.tree_map(lambda t: t * 2, params)
    assert on(doubled["w"], device) and host(doubled["w"]).tolist() == [[2.0, 2.0]] * 2


def test_pytree_errors_are_torchs():
    spec, t_spec = pytree.tree_structure([1, [2]]), tpytree.tree_structure([1, [2]])
    for fn in (lambda m, s: m.tree_unflatten([1], s),
               lambda m, s: m.tree_map(lambda a, b: a, [1, [2]], [1]),
               lambda m, s: m.tree_map(lambda a, b: a, [1, [2]], [1, (2,)])):
        with pytest.raises(ValueError) as theirs:
            fn(tpytree, t_spec)
        with pytest.raises(ValueError) as mine:
            fn(pytree, spec)
        assert str(mine.value).split(";")[0].split("(")[0] == \
            str(theirs.value).split(";")[0].split("(")[0]
    with pytest.raises(TypeError, match="TreeSpec"):
        pytree.tree_unflatten([1], [1])


def test_register_pytree_node():
    class Pair:
        def __init__(self, a, b):
            self.a, self.b = a, b

        def __eq__(self, other):
            return isinstance(other, Pair) and (self.a, self.b) == (other.a, other.b)

    pytree.register_pytree_node(Pair, lambda p: ([p.a, p.b], "ctx"),
                                lambda children, ctx: Pair(*children),
                                flatten_with_keys_fn=lambda p: (
                                    [(pytree.GetAttrKey("a"), p.a),
                                     (pytree.GetAttrKey("b"), p.b)], "ctx"))
    try:
        tree = [Pair(1, (2, 3))]
        leaves, spec = pytree.tree_flatten(tree)
        assert leaves == [1, 2, 3] and spec.child(0).type is Pair
        assert pytree.tree_map(lambda v: v * 10, tree) == [Pair(10, (20, 30))]
        assert [pytree.keystr(p) for p, _ in pytree.tree_leaves_with_path(tree)] == \
            ["[0].a", "[0].b[0]", "[0].b[1]"]
        with pytest.raises(ValueError, match="already registered"):
            pytree.register_pytree_node(Pair, lambda p: ([], None), lambda c, x: Pair(0, 0))
    finally:
        pytree._NODES.pop(Pair, None)


# ---- tg.hub and tg.utils.model_zoo --------------------------------------------------------------
def _checkpoint(tmp_path, name="weights.tg"):
    path = tmp_path / "server" / name
    path.parent.mkdir(exist_ok=True)
    tg.save({"w": tg.arange(4.0), "step": 3}, str(path))
    return path


def test_load_state_dict_from_url_caches_and_loads(tmp_path, monkeypatch, device):
    monkeypatch.setenv("TENSORGRAD_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(tg.hub, "_HUB_DIR", [None])
    assert tg.hub.get_dir() == str(tmp_path / "home" / "hub")
    src = _checkpoint(tmp_path)
    state = tg.hub.load_state_dict_from_url(src.as_uri(), progress=False,
                                            map_location=device)
    assert host(state["w"]).tolist() == [0.0, 1.0, 2.0, 3.0] and state["step"] == 3
    assert on(state["w"], device)
    cached = tmp_path / "home" / "hub" / "checkpoints" / "weights.tg"
    assert cached.is_file()
    src.unlink()  # the second load reads the cache, not the URL
    again = tg.utils.model_zoo.load_url(src.as_uri(), progress=False)
    assert again["w"].tolist() == [0.0, 1.0, 2.0, 3.0]
    tg.hub.set_dir(tmp_path / "elsewhere")
    assert tg.hub.get_dir() == str(tmp_path / "elsewhere")


def test_load_state_dict_from_url_hash_and_names(tmp_path):
    plain = _checkpoint(tmp_path)
    digest = hashlib.sha256(plain.read_bytes()).hexdigest()
    good = plain.with_name(f"weights-{digest[:8]}.tg")
    plain.rename(good)
    out = tg.hub.load_state_dict_from_url(good.as_uri(), model_dir=str(tmp_path / "c1"),
                                          check_hash=True, progress=False)
    assert out["step"] == 3
    bad = good.with_name("weights-00000000.tg")
    good.rename(bad)
    with pytest.raises(RuntimeError, match="invalid hash value"):
        tg.hub.load_state_dict_from_url(bad.as_uri(), model_dir=str(tmp_path / "c2"),
                                        check_hash=True, progress=False)
    assert not (tmp_path / "c2" / bad.name).exists()  # no partial or wrong file is left
    named = tg.hub.load_state_dict_from_url(bad.as_uri(), model_dir=str(tmp_path / "c3"),
                                            file_name="renamed.tg", progress=False)
    assert named["step"] == 3 and (tmp_path / "c3" / "renamed.tg").is_file()
    not_ours = tmp_path / "server" / "model.pth"
    torch.save({"w": torch.ones(1)}, str(not_ours))  # PyTorch's own file: read as weights
    theirs = tg.hub.load_state_dict_from_url(not_ours.as_uri(), model_dir=str(tmp_path / "c4"),
                                             progress=False)
    assert theirs["w"].tolist() == [1.0]
    not_a_checkpoint = tmp_path / "server" / "junk.pth"
    not_a_checkpoint.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a valid"):
        tg.hub.load_state_dict_from_url(not_a_checkpoint.as_uri(),
                                        model_dir=str(tmp_path / "c5"), progress=False)
    with pytest.raises(ValueError, match="unsupported URL"):
        tg.hub.download_url_to_file("gopher://x/y", str(tmp_path / "y"))
    with pytest.raises(TypeError, match="url"):
        tg.hub.load_state_dict_from_url(pathlib.Path("x"))


HUBCONF = '''
"""A local hub repository."""
from helper import WIDTH
import tensorgrad as tg

dependencies = ["numpy"]


def tiny(out_features=2, bias=True):
    """A Linear(WIDTH, out_features)."""
    return tg.nn.Linear(WIDTH, out_features, bias=bias)


def _private():
    return None
'''


def test_hub_load_list_help_with_a_local_hubconf(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "hubconf.py").write_text(HUBCONF)
    (repo / "helper.py").write_text("WIDTH = 3\n")
    model = tg.hub.load(str(repo), "tiny", 4, source="local", bias=False)
    assert isinstance(model, tg.nn.Linear) and model.weight.shape == (4, 3)
    assert model.bias is None
    assert str(repo) not in sys.path
    assert "tiny" in tg.hub.list(str(repo)) and "_private" not in tg.hub.list(str(repo))
    assert tg.hub.help(str(repo), "tiny") == "A Linear(WIDTH, out_features)."
    with pytest.raises(RuntimeError, match="Cannot find callable nothing in hubconf"):
        tg.hub.load(str(repo), "nothing", source="local")
    with pytest.raises(ValueError, match="string of function name"):
        tg.hub.load(str(repo), 3, source="local")
    (repo / "hubconf.py").write_text(HUBCONF.replace('["numpy"]', '["numpy", "no_such_pkg"]'))
    with pytest.raises(RuntimeError, match="Missing dependencies: no_such_pkg"):
        tg.hub.load(str(repo), "tiny", source="local")
    with pytest.raises(RuntimeError, match="does not download"):
        tg.hub.load("pytorch/vision", "resnet18")
    with pytest.raises(ValueError, match='Unknown source: "svn"'):
        tg.hub.load(str(repo), "tiny", source="svn")
    with pytest.raises(FileNotFoundError, match="hubconf.py"):
        tg.hub.load(str(tmp_path), "tiny", source="local")


# ---- tg.cuda.nvtx, legacy cuda types, amp -----------------------------------------------------
def test_nvtx_ranges_without_a_gpu(no_cupy):
    N = tg.cuda.nvtx
    assert N.range_push("outer") == 0 and N.range_push("inner") == 1
    assert N.range_pop() == 1 and N.range_pop() == 0 and N.range_pop() == -1
    N.mark("event")
    rid = N.range_start("span")
    assert isinstance(rid, int) and N.range_end(rid) is None

    @N.range("step {}", 1)
    def step():
        return N._DEPTH.n

    assert step() == 1 and N._DEPTH.n == 0
    with pytest.raises(TypeError, match="msg must be a str"):
        N.range_push(3)
    with pytest.raises(TypeError, match="range_start returned"):
        N.range_end("x")


def test_nvtx_reaches_cupy_on_a_gpu(cuda_device, monkeypatch):
    from tensorgrad.backend import device as dev

    calls = []
    nv = dev.cupy.cuda.nvtx
    monkeypatch.setattr(nv, "RangePush", lambda msg, *a: calls.append(("push", msg)))
    monkeypatch.setattr(nv, "RangePop", lambda: calls.append(("pop",)))
    monkeypatch.setattr(nv, "Mark", lambda msg, *a: calls.append(("mark", msg)))
    with tg.cuda.nvtx.range("epoch {e}", e=2):
        tg.cuda.nvtx.mark("here")
    assert calls == [("push", "epoch 2"), ("mark", "here"), ("pop",)]


def test_legacy_cuda_tensor_types(device):
    x = tg.zeros(2, 3, device=device)
    assert isinstance(x, tg.cuda.FloatTensor) == (device == "cuda")
    assert isinstance(x, tg.FloatTensor) == (device == "cpu")
    assert not isinstance(x, tg.cuda.DoubleTensor)
    assert isinstance(tg.zeros(2, dtype=tg.int64, device=device), tg.cuda.LongTensor) == \
        (device == "cuda")
    assert not isinstance(torch.zeros(2), torch.cuda.FloatTensor)  # torch's answer on the CPU
    assert repr(tg.cuda.FloatTensor) == "<class 'tensorgrad.cuda.FloatTensor'>"
    assert tg.cuda.HalfTensor.dtype == np.float16 and tg.cuda.BoolTensor.dtype == np.bool_


def test_legacy_cuda_tensor_types_make_cuda_tensors(cuda_device):
    t = tg.cuda.FloatTensor(2, 3)
    assert on(t, "cuda") and t.shape == (2, 3) and t.dtype == np.float32
    ints = tg.cuda.LongTensor([1, 2])
    assert on(ints, "cuda") and host(ints).tolist() == [1, 2] and ints.dtype == np.int64
    assert isinstance(ints, tg.cuda.LongTensor) and not isinstance(ints, tg.LongTensor)


def test_amp_names_at_their_torch_places():
    assert tg.GradScaler("cpu").is_enabled() is True
    assert isinstance(tg.GradScaler("cpu", enabled=False), tg.amp.GradScaler)

    @tg.amp.custom_fwd(device_type="cpu", cast_inputs=tg.float32)
    def fwd(ctx, x):
        return x

    assert callable(fwd) and callable(tg.amp.custom_bwd(device_type="cpu")(lambda ctx, g: g))
    assert os.path.basename(tg.amp.custom_fwd.__code__.co_filename) == "custom_fn.py"


def test_compile_of_a_module_wraps_it_as_pytorchs_optimized_module(device):
    """``compile(module)`` is PyTorch's OptimizedModule: ``_orig_mod``, prefixed state-dict
    keys, attributes and ``training`` through to the module, the same outputs and gradients."""
    torch = torch_oracle()
    m = tg.nn.Sequential(tg.nn.Linear(3, 4), tg.nn.ReLU(), tg.nn.Linear(4, 2)).double().to(device)
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(),
                             torch.nn.Linear(4, 2)).double()
    c, tc = tg.compile(m), torch.compile(tm, backend="eager")
    assert type(c).__name__ == type(tc).__name__ == "OptimizedModule"
    assert c._orig_mod is m and list(c.state_dict()) == list(tc.state_dict())
    assert [n for n, _ in c.named_parameters()] == [n for n, _ in tc.named_parameters()]
    assert len(c) == len(tc) == 3 and repr(c).splitlines()[:2] == repr(tc).splitlines()[:2]
    c.eval()
    tc.eval()
    assert (m.training, c.training) == (tm.training, tc.training) == (False, False)
    c.train()
    c.extra = 5
    assert m.training and c.training and m.extra == 5 and c.extra == 5
    tc.load_state_dict({k: torch.tensor(host(v)) for k, v in c.state_dict().items()})
    x = np.random.default_rng(3).standard_normal((5, 3))
    out, tout = c(tensor_on(x, device)), tc(torch.tensor(x))
    np.testing.assert_allclose(host(out), tout.detach().numpy(), rtol=1e-12)
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_allclose(host(m[0].weight.grad), tm[0].weight.grad.numpy(), rtol=1e-12)
    # a checkpoint of the compiled model loads into a plain one after stripping the prefix
    plain = tg.nn.Sequential(tg.nn.Linear(3, 4), tg.nn.ReLU(), tg.nn.Linear(4, 2)).double()
    plain.load_state_dict({k.removeprefix("_orig_mod."): v for k, v in c.state_dict().items()})
    assert tg.compile(c) is c and tg.compile()(m)._orig_mod is m
