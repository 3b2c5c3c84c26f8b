"""tg.backends, tg.jit, tg.cpu and the per-device AMP spellings (tg.cuda.amp, tg.cpu.amp):
the PyTorch names training scripts set or call before and around their real work."""

import importlib

import numpy as np
import pytest
from devices import host, put

import tensorgrad as tg
import tensorgrad.backends.cudnn as cudnn
import tensorgrad.nn.functional as F


def _torch():
    return pytest.importorskip("torch")


# ---- tg.backends ------------------------------------------------------------------------------
def test_backends_switches_are_module_attributes():
    saved = (cudnn.benchmark, cudnn.deterministic, cudnn.enabled)
    try:
        cudnn.benchmark, cudnn.deterministic, cudnn.enabled = True, True, False
        assert tg.backends.cudnn.benchmark is True
        assert tg.backends.cudnn.deterministic is True
        assert tg.backends.cudnn.enabled is False
    finally:
        cudnn.benchmark, cudnn.deterministic, cudnn.enabled = saved
    for name in ("cpu", "cuda", "cudnn", "mkl", "mkldnn", "mps", "openmp", "opt_einsum"):
        assert importlib.import_module(f"tensorgrad.backends.{name}") is getattr(tg.backends,
                                                                                 name)


def test_backends_answer_for_tensorgrad():
    from tensorgrad.backend.device import cupy

    assert tg.backends.cudnn.is_available() is False and tg.backends.cudnn.version() is None
    assert tg.backends.mps.is_available() is False and tg.backends.mps.is_built() is False
    assert tg.backends.mkldnn.is_available() is False
    assert tg.backends.cuda.is_built() is (cupy is not None)
    assert tg.backends.mkl.is_available() in (True, False)


def test_cpu_capability_matches_torchs():
    torch = _torch()
    assert tg.backends.cpu.get_cpu_capability() == torch.backends.cpu.get_cpu_capability()


def test_allow_tf32_is_the_matmul_precision_as_in_torch():
    torch = _torch()
    saved = tg.get_float32_matmul_precision(), torch.get_float32_matmul_precision()
    try:
        for value in (True, False, True):
            tg.backends.cuda.matmul.allow_tf32 = value
            torch.backends.cuda.matmul.allow_tf32 = value
            assert tg.get_float32_matmul_precision() == torch.get_float32_matmul_precision()
            assert tg.backends.cuda.matmul.allow_tf32 is value
        tg.set_float32_matmul_precision("highest")
        assert tg.backends.cuda.matmul.allow_tf32 is False
    finally:
        tg.set_float32_matmul_precision(saved[0])
        torch.set_float32_matmul_precision(saved[1])


def test_sdp_kernel_sets_and_restores_the_switches():
    b = tg.backends.cuda
    assert b.flash_sdp_enabled() and b.math_sdp_enabled()
    with b.sdp_kernel(enable_flash=False, enable_mem_efficient=False):
        assert not b.flash_sdp_enabled() and not b.mem_efficient_sdp_enabled()
        assert b.math_sdp_enabled()
    assert b.flash_sdp_enabled() and b.mem_efficient_sdp_enabled()
    b.enable_flash_sdp(False)
    try:
        assert b.flash_sdp_enabled() is False
    finally:
        b.enable_flash_sdp(True)


# ---- tg.jit -----------------------------------------------------------------------------------
class _Gate(tg.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = tg.nn.Linear(3, 2)

    @tg.jit.export
    def gate(self, x):
        return tg.sigmoid(self.lin(x))

    @tg.jit.ignore(drop=True)
    def debug(self, x):
        return x.sum()

    def forward(self, x):
        if tg.jit.is_scripting() or tg.jit.is_tracing():
            raise AssertionError("eager code sees neither scripting nor tracing")
        return self.gate(x) * tg.jit.annotate(tg.Tensor, x[:, :2])


def test_script_and_trace_return_what_they_are_given(device):
    m = _Gate().to(device)
    x = put(np.arange(6.0, dtype=np.float32).reshape(2, 3), device)
    assert tg.jit.script(m) is m
    traced = tg.jit.trace(m, (x,))
    assert traced is m and tg.jit.trace_module(m, {"forward": (x,)}) is m
    assert tg.jit.freeze(m) is m and tg.jit.optimize_for_inference(m) is m
    np.testing.assert_array_equal(host(traced(x)), host(m(x)))
    assert not isinstance(m, (tg.jit.ScriptModule, tg.jit.ScriptFunction))


def test_scripted_function_trains_like_torchs_scripted_function(device):
    """A TorchScript-decorated activation inside a small training step: same losses and
    gradients as PyTorch running its scripted version."""
    torch = _torch()

    def make(lib):
        @lib.jit.script
        def swish(x, beta: float):
            return x * lib.sigmoid(beta * x)
        return swish

    rng = np.random.default_rng(0)
    w0, x0 = rng.standard_normal((4, 3)), rng.standard_normal((5, 4))
    results = []
    for lib, conv in ((tg, lambda a: put(tg.tensor(a), device)), (torch, torch.tensor)):
        swish = make(lib)
        w = conv(w0).requires_grad_(True)
        x = conv(x0)
        losses = []
        for _ in range(3):
            loss = (swish(x @ w, 1.5) ** 2).mean()
            g, = (lib.autograd.grad(loss, [w]))
            with lib.no_grad():
                w -= 0.1 * g
            losses.append(float(loss.detach()))
        results.append((losses, host(w.detach()) if lib is tg else w.detach().numpy()))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-12)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-12)


def test_decorators_leave_functions_as_they_are():
    def f(x):
        return x + 1

    for deco in (tg.jit.ignore, tg.jit.unused, tg.jit.export, tg.jit.interface,
                 tg.jit.script_if_tracing):
        assert deco(f) is f
    assert tg.jit.ignore(drop=True)(f) is f
    assert tg.jit.annotate(list, [1]) == [1]
    assert not tg.jit.is_scripting() and not tg.jit.is_tracing()


def test_fork_and_wait_run_the_call():
    calls = []

    def work(a, b=1):
        calls.append((a, b))
        return a * b

    fut = tg.jit.fork(work, 3, b=4)
    assert calls == [(3, 4)] and fut.done()
    assert tg.jit.wait(fut) == 12 and fut.wait() == 12


def test_jit_save_and_load_name_the_way_that_works(tmp_path):
    path = tmp_path / "m.pt"
    with pytest.raises(tg.jit.Error, match=r"tg\.jit\.save: .*tg\.save\(model\.state_dict\(\)"):
        tg.jit.save(_Gate(), str(path))
    assert not path.exists()
    with pytest.raises(RuntimeError, match=r"tg\.jit\.load: .*load_state_dict"):
        tg.jit.load(str(path))


# ---- tg.cpu, tg.cpu.amp, tg.cuda.amp --------------------------------------------------------
def test_cpu_namespace_answers_as_torchs():
    torch = _torch()
    assert tg.cpu.is_available() is torch.cpu.is_available() is True
    assert tg.cpu.device_count() == torch.cpu.device_count() == 1
    assert tg.cpu.current_device() == torch.cpu.current_device() == "cpu"
    tg.cpu.synchronize()
    with tg.cpu.stream(tg.cpu.current_stream()):
        assert tg.cpu.current_stream().query()


def test_per_device_autocast_is_tg_autocast(device):
    from tensorgrad.cpu.amp import autocast as cpu_autocast
    from tensorgrad.cuda.amp import autocast as cuda_autocast

    a = put(np.ones((2, 3), dtype=np.float32), device)
    b = put(np.ones((3, 2), dtype=np.float32), device)
    legacy = cpu_autocast if device == "cpu" else cuda_autocast
    with legacy():
        assert (tg.tensor(a) @ tg.tensor(b)).dtype == np.float16
        assert tg.is_autocast_enabled(device)
        with legacy(enabled=False):
            assert (tg.tensor(a) @ tg.tensor(b)).dtype == np.float32
    assert not tg.is_autocast_enabled(device)

    @legacy()
    def decorated(x, y):
        return F.linear(x, y.t())

    assert decorated(tg.tensor(a), tg.tensor(b)).dtype == np.float16
    with pytest.raises(ValueError, match="bfloat16"):
        legacy(dtype=tg.bfloat16)


def test_legacy_custom_fwd_casts_on_its_device(device):
    amp = tg.cpu.amp if device == "cpu" else tg.cuda.amp

    class Mul(tg.autograd.Function):
        @staticmethod
        @amp.custom_fwd(cast_inputs=tg.float32)
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return a * b

        @staticmethod
        @amp.custom_bwd
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            return g * b, g * a

    a = tg.tensor(put(np.ones(2, dtype=np.float16), device), requires_grad=True)
    b = tg.tensor(put(np.full(2, 3.0, dtype=np.float32), device))
    with amp.autocast():
        out = Mul.apply(a, b)
    assert out.dtype == np.float32
    out.sum().backward()
    np.testing.assert_array_equal(host(a.grad), [3.0, 3.0])


def test_cuda_grad_scaler_is_for_cuda():
    scaler = tg.cuda.amp.GradScaler(init_scale=128.0, enabled=False)
    assert isinstance(scaler, tg.amp.GradScaler) and not scaler.is_enabled()
    assert scaler.get_scale() == 1.0  # disabled: PyTorch's answer too
