"""More of tg.cuda (torch.cuda's names): memory_stats/memory_summary and the peak and
deprecated memory queries, the per-process memory fraction, the cuda RNG state and seeds,
device_of, ExternalStream and the small queries; on the CuPy stand-in (or a GPU) and without
CuPy."""

import warnings

import numpy as np
import pytest
from devices import host

import tensorgrad as tg

HAS_CUDA = tg.cuda.is_available()
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs CuPy and a GPU (or the stand-in)")


# ---- memory ------------------------------------------------------------------------------------
@pytest.mark.cuda
@needs_cuda
def test_memory_stats_keys_and_values():
    torch_keys = {"allocated_bytes.all.current", "allocated_bytes.all.peak",
                  "reserved_bytes.all.current", "reserved_bytes.all.peak",
                  "active_bytes.all.current", "active_bytes.all.peak",
                  "inactive_split_bytes.all.current", "inactive_split.all.current"}
    tg.cuda.reset_peak_memory_stats()
    before = tg.cuda.memory_stats()
    assert set(before) == torch_keys and list(before) == sorted(before)
    x = tg.zeros(1 << 18, device="cuda")  # 1 MiB
    stats = tg.cuda.memory_stats()
    assert stats["allocated_bytes.all.current"] == tg.cuda.memory_allocated()
    assert stats["allocated_bytes.all.current"] >= before["allocated_bytes.all.current"] + (1 << 20)
    assert stats["reserved_bytes.all.current"] == tg.cuda.memory_reserved()
    assert stats["allocated_bytes.all.peak"] >= stats["allocated_bytes.all.current"]
    assert stats["reserved_bytes.all.peak"] >= stats["reserved_bytes.all.current"]
    del x
    after = tg.cuda.memory_stats()
    assert after["allocated_bytes.all.peak"] >= before["allocated_bytes.all.current"] + (1 << 20)
    assert after["allocated_bytes.all.current"] < after["allocated_bytes.all.peak"]


@pytest.mark.cuda
@needs_cuda
def test_max_memory_reserved_and_deprecated_names():
    tg.cuda.reset_peak_memory_stats()
    x = tg.ones(1 << 18, device="cuda")
    peak = tg.cuda.max_memory_reserved()
    assert peak >= tg.cuda.memory_reserved() >= (1 << 20)
    with pytest.warns(FutureWarning, match="memory_reserved"):
        assert tg.cuda.memory_cached() == tg.cuda.memory_reserved()
    with pytest.warns(FutureWarning, match="max_memory_reserved"):
        assert tg.cuda.max_memory_cached() == tg.cuda.max_memory_reserved()
    del x
    with pytest.warns(FutureWarning, match="reset_peak_memory_stats"):
        tg.cuda.reset_max_memory_allocated()
    assert tg.cuda.max_memory_allocated() == tg.cuda.memory_allocated()
    with pytest.warns(FutureWarning):
        tg.cuda.reset_max_memory_cached()
    assert tg.cuda.max_memory_reserved() == tg.cuda.memory_reserved()


@pytest.mark.cuda
@needs_cuda
def test_memory_summary_is_a_table():
    x = tg.ones(1000, device="cuda")
    text = tg.cuda.memory_summary()
    assert "device ID 0" in text and "Allocated memory" in text and "GPU reserved memory" in text
    assert "Peak Usage" in text and text.endswith("\n")
    assert isinstance(tg.cuda.memory_summary(0, abbreviated=True), str)
    del x


@pytest.mark.cuda
@needs_cuda
def test_per_process_memory_fraction():
    try:
        assert tg.cuda.get_per_process_memory_fraction() == 1.0  # no limit
        tg.cuda.set_per_process_memory_fraction(0.25)
        assert abs(tg.cuda.get_per_process_memory_fraction() - 0.25) < 1e-6
        import cupy

        total = tg.cuda.mem_get_info()[1]
        assert abs(cupy.get_default_memory_pool().get_limit() - 0.25 * total) <= 1
    finally:
        tg.cuda.set_per_process_memory_fraction(0.0)  # CuPy: 0 removes the limit
    assert tg.cuda.get_per_process_memory_fraction() == 1.0
    with pytest.raises(ValueError, match="Invalid fraction value: 1.5"):
        tg.cuda.set_per_process_memory_fraction(1.5)
    with pytest.raises(TypeError, match="must be `float`"):
        tg.cuda.set_per_process_memory_fraction(1)


@pytest.mark.cuda
@pytest.mark.skipif(not HAS_CUDA or tg.cuda.device_count() < 2, reason="needs two GPUs")
def test_memory_fraction_is_per_device():
    try:
        tg.cuda.set_per_process_memory_fraction(0.5, device=1)
        assert tg.cuda.get_per_process_memory_fraction(0) == 1.0
        assert abs(tg.cuda.get_per_process_memory_fraction("cuda:1") - 0.5) < 1e-6
    finally:
        tg.cuda.set_per_process_memory_fraction(0.0, device=1)


# ---- RNG ------------------------------------------------------------------------------------
@pytest.mark.cuda
@needs_cuda
def test_rng_state_round_trip():
    tg.manual_seed(3)
    state = tg.cuda.get_rng_state()
    a = tg.rand(5, device="cuda")
    tg.cuda.set_rng_state(state)
    b = tg.rand(5, device="cuda")
    np.testing.assert_array_equal(host(a), host(b))
    c = tg.rand(5, device="cuda")
    assert not np.array_equal(host(b), host(c))
    states = tg.cuda.get_rng_state_all()
    assert len(states) == tg.cuda.device_count()
    d = tg.rand(5, device="cuda")
    tg.cuda.set_rng_state_all(states)
    np.testing.assert_array_equal(host(tg.rand(5, device="cuda")), host(d))
    with pytest.raises(TypeError, match="set_rng_state"):
        tg.cuda.set_rng_state(tg.get_rng_state())  # a CPU state


@pytest.mark.cuda
@pytest.mark.skipif(not HAS_CUDA or tg.cuda.device_count() < 2, reason="needs two GPUs")
def test_rng_state_of_another_device_refused():
    with pytest.raises(RuntimeError, match="cuda:1"):
        tg.cuda.set_rng_state(tg.cuda.get_rng_state(1), 0)


@pytest.mark.cuda
@needs_cuda
def test_seeds():
    tg.manual_seed(1234)
    assert tg.cuda.initial_seed() == 1234
    tg.cuda.seed()
    s = tg.cuda.initial_seed()
    assert s != 1234 and isinstance(s, int)
    a = tg.rand(4, device="cuda")
    # the same seed again through manual_seed of the device generator draws the same numbers
    tg.manual_seed(s)
    np.testing.assert_array_equal(host(tg.rand(4, device="cuda")), host(a))
    tg.cuda.seed_all()
    assert tg.cuda.initial_seed() not in (s, 1234)
    tg.manual_seed(7)
    assert tg.cuda.initial_seed() == 7


# ---- queries, contexts, streams ---------------------------------------------------------------
def test_small_queries():
    assert tg.cuda.is_bf16_supported() is False
    tg.cuda.ipc_collect()  # a documented no-op
    archs = tg.cuda.get_arch_list()
    flags = tg.cuda.get_gencode_flags()
    if HAS_CUDA:
        major, minor = tg.cuda.get_device_capability(0)
        assert archs[0] == f"sm_{major}{minor}"
        assert f"-gencode compute=compute_{major}{minor},code=sm_{major}{minor}" in flags
        tg.cuda.init()
        assert tg.cuda.is_initialized() is True
        text = tg.cuda.list_gpu_processes()
        assert isinstance(text, str) and text
    else:
        assert archs == [] and flags == ""


@pytest.mark.cuda
@pytest.mark.skipif(not HAS_CUDA or tg.cuda.device_count() < 2, reason="needs two GPUs")
def test_device_of():
    x = tg.ones(2, device="cuda:1")
    assert tg.cuda.current_device() == 0
    with tg.cuda.device_of(x):
        assert tg.cuda.current_device() == 1
    assert tg.cuda.current_device() == 0
    with tg.cuda.device_of(tg.ones(2)):  # a CPU tensor changes nothing
        assert tg.cuda.current_device() == 0


@pytest.mark.cuda
@needs_cuda
def test_device_of_current_gpu():
    with tg.cuda.device_of(tg.ones(2, device="cuda")):
        assert tg.cuda.current_device() == 0
    with tg.cuda.device(None):
        assert tg.cuda.current_device() == 0


@pytest.mark.cuda
@needs_cuda
def test_external_stream_wraps_a_raw_handle():
    made = tg.cuda.Stream()
    ext = tg.cuda.ExternalStream(made.cuda_stream)
    assert isinstance(ext, tg.cuda.Stream)
    assert ext.cuda_stream == made.cuda_stream and ext == made
    assert ext.device == tg.device("cuda:0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # CuPy's deprecation of ExternalStream stays inside
        with tg.cuda.stream(tg.cuda.ExternalStream(made.cuda_stream)):
            assert tg.cuda.current_stream() == made
            y = tg.ones(3, device="cuda") * 2
    ext.synchronize()
    assert host(y).tolist() == [2.0, 2.0, 2.0]
    with pytest.raises(TypeError, match="ExternalStream.*int"):
        tg.cuda.ExternalStream("0x1234")


# ---- without CuPy -------------------------------------------------------------------------------
@pytest.mark.parametrize("what,call", [
    ("memory_stats", lambda: tg.cuda.memory_stats()),
    ("memory_summary", lambda: tg.cuda.memory_summary()),
    ("max_memory_reserved", lambda: tg.cuda.max_memory_reserved()),
    ("get_rng_state", lambda: tg.cuda.get_rng_state()),
    ("set_per_process_memory_fraction", lambda: tg.cuda.set_per_process_memory_fraction(0.5)),
    ("get_per_process_memory_fraction", lambda: tg.cuda.get_per_process_memory_fraction()),
    ("ExternalStream", lambda: tg.cuda.ExternalStream(1)),
    ("init", lambda: tg.cuda.init()),
    ("seed", lambda: tg.cuda.seed()),
    ("list_gpu_processes", lambda: tg.cuda.list_gpu_processes()),
])
def test_without_cupy_each_call_says_what_to_install(no_cupy, what, call):
    with pytest.raises(RuntimeError, match=rf"{what}.*CuPy is not installed"):
        call()


def test_without_cupy_the_queries_answer(no_cupy):
    assert tg.cuda.get_arch_list() == [] and tg.cuda.get_gencode_flags() == ""
    assert tg.cuda.is_bf16_supported() is False
    assert tg.cuda.ipc_collect() is None
    assert tg.cuda.get_rng_state_all() == []
    tg.cuda.seed_all()  # remembered for when a GPU is used
    tg.manual_seed(11)
    assert tg.cuda.initial_seed() == 11
    with tg.cuda.device_of(tg.ones(2)):  # a CPU tensor: nothing to do
        pass
