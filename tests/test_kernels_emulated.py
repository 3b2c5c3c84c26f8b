"""The kernels' own CUDA C, run on the CPU (tests/cupy_standin/_emulate.py and emu.h).

The NVRTC test proves every kernel compiles for the GPU, and the stand-in runs each kernel's
NumPy reference; neither runs the C code. Here every entry point of every ``.cu`` file, in
float32 and float64, is launched through tensorgrad's own launch wrappers
(``tensorgrad.backend.cuda``) with the stand-in in ``compare`` mode: the C code runs with one
fiber per CUDA thread (real ``__syncthreads`` and warp-shuffle barriers) and must agree with its
NumPy reference on every array, without writing outside its arrays. The emulator itself is
tested on kernels broken on purpose: a wrong formula, an out-of-bounds write, a barrier in
divergent code, a scalar of the wrong width.

Only collected on the stand-in, where it runs in every ``make test``; on a GPU,
tests/test_kernels_gpu.py compares the compiled kernels with the references instead.
"""

import glob
import os
import re

import numpy as np
import pytest
import tensorgrad.kernels.reference as ref
from cupy_standin import _emulate, _kernels

from tensorgrad.backend import cuda as kcuda

DTYPES = [np.float32, np.float64]


@pytest.fixture
def cp():
    import cupy

    with _kernels.executing("compare"):
        yield cupy


@pytest.fixture
def launched(monkeypatch):
    seen = set()
    real = kcuda._launch

    def spy(file, base, dtype, device_id, grid, block, args):
        seen.add(kcuda.kernel_name(base, dtype))
        return real(file, base, dtype, device_id, grid, block, args)

    monkeypatch.setattr(kcuda, "_launch", spy)
    return seen


def _rand(cp, rng, shape, dtype, scale=1.0):
    return cp.asarray((scale * rng.standard_normal(shape)).astype(dtype))


# ---- every entry point through its launch wrapper -------------------------------------------
def _softmax_family(cp, rng, dtype):
    for cols in (1, 33, 1000):  # one warp, a partial warp, several warps per block
        x = _rand(cp, rng, (5, cols), dtype, 3.0)
        g = _rand(cp, rng, (5, cols), dtype)
        y = kcuda.log_softmax_lastdim(x)
        kcuda.log_softmax_lastdim_backward(g, y)
        s = kcuda.softmax_lastdim(x)
        kcuda.softmax_lastdim_backward(g, s)
        t = cp.asarray(rng.integers(0, cols, 5))
        for ignore in (None, 0):
            rows = kcuda.cross_entropy_rows(x, t, ignore)
            kcuda.cross_entropy_rows_backward(_rand(cp, rng, (5,), dtype), x, t, rows.base,
                                              ignore)
            mean = kcuda.cross_entropy_mean(x, t, ignore)
            kcuda.cross_entropy_mean_backward(_rand(cp, rng, (), dtype), x, t, mean.base, ignore)
    # the mean's one block strides over more rows than it has threads
    x = _rand(cp, rng, (1500, 3), dtype)
    t = cp.asarray(rng.integers(0, 3, 1500))
    mean = kcuda.cross_entropy_mean(x, t, 2)
    kcuda.cross_entropy_mean_backward(_rand(cp, rng, (), dtype), x, t, mean.base, 2)


def _optimizers(cp, rng, dtype):
    # 70 tensors (two tables: 64 + 6), empty ones among them, sizes from 0 to 300
    sizes = [int(s) for s in rng.integers(0, 300, 70)]
    sizes[3] = sizes[64] = 0
    n = sum(sizes)
    grads = [_rand(cp, rng, s, dtype) for s in sizes]
    tables = kcuda.grad_tables(sizes)
    kcuda.fill_grad_tables(tables, grads)
    assert [c for _, c, _ in tables] == [64, 6]
    for momentum, nesterov, first in ((0.0, False, False), (0.9, True, True),
                                      (0.9, False, False)):
        kcuda.sgd_flat(_rand(cp, rng, n, dtype), tables,
                       _rand(cp, rng, n, dtype) if momentum else None, 0.1, momentum, 0.1, 0.01,
                       nesterov, False, first)
    for decoupled, amsgrad, maximize in ((False, False, False), (True, True, True)):
        v = cp.abs(_rand(cp, rng, n, dtype))
        kcuda.adam_flat(_rand(cp, rng, n, dtype), tables, _rand(cp, rng, n, dtype), v,
                        v.copy() if amsgrad else None, 3, 1e-3, 0.9, 0.999, 1e-8, 0.01,
                        decoupled, maximize)


def _bias_act(cp, rng, dtype):
    x = _rand(cp, rng, (7, 37), dtype, 2.0)
    b = _rand(cp, rng, (37,), dtype)
    g = _rand(cp, rng, (7, 37), dtype)
    for act in kcuda.ACTIVATIONS:
        for bias in (b, None):
            kcuda.bias_act(x, bias, act)
            kcuda.bias_act_backward(g, x, bias, act)


def _layer_norm(cp, rng, dtype):
    for rows, cols in ((6, 37), (300, 8), (3, 1100)):
        x = _rand(cp, rng, (rows, cols), dtype, 2.0)
        g = _rand(cp, rng, (rows, cols), dtype)
        for affine in (True, False):
            w = _rand(cp, rng, (cols,), dtype) if affine else None
            b = _rand(cp, rng, (cols,), dtype) if affine else None
            y = kcuda.layer_norm(x, w, b, cols, 1e-5)
            kcuda.layer_norm_backward_x(g, x, w, y.base, cols)
            kcuda.layer_norm_backward_wb(g, x, y.base, cols)


def _im2col(cp, rng, dtype):
    x = _rand(cp, rng, (2, 3, 7, 6), dtype)
    for kernel, stride, padding, dilation in (((3, 3), (1, 1), (1, 1), (1, 1)),
                                              ((2, 3), (2, 1), (0, 2), (2, 1))):
        oh = (7 + 2 * padding[0] - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
        ow = (6 + 2 * padding[1] - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
        cols = kcuda.im2col(x, kernel, stride, padding, dilation, 0.0, oh, ow)
        kcuda.col2im(cols, (7, 6), kernel, stride, padding, dilation)


def _rnn_cell(cp, rng, dtype):
    for rows, hidden in ((3, 5), (1, 1), (300, 7)):  # the last: several blocks
        gates = _rand(cp, rng, (rows, 4 * hidden), dtype, 2.0)
        c = _rand(cp, rng, (rows, hidden), dtype)
        kcuda.lstm_cell(gates, c, hidden)
        kcuda.lstm_cell_backward(_rand(cp, rng, (rows, 2 * hidden), dtype), gates, c)
        gi = _rand(cp, rng, (rows, 3 * hidden), dtype, 2.0)
        gh = _rand(cp, rng, (rows, 3 * hidden), dtype, 2.0)
        kcuda.gru_cell(gi, gh, c)
        kcuda.gru_cell_backward(_rand(cp, rng, (rows, hidden), dtype), gi, gh, c)


FAMILIES = {"softmax_xent.cu": _softmax_family, "optim.cu": _optimizers,
            "bias_act.cu": _bias_act, "layer_norm.cu": _layer_norm, "im2col.cu": _im2col,
            "rnn_cell.cu": _rnn_cell}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("file", sorted(FAMILIES))
def test_kernel_c_code_agrees_with_its_reference(cp, launched, rng, file, dtype):
    FAMILIES[file](cp, rng, dtype)  # compare mode raises where the C code disagrees
    expected = {kcuda.kernel_name(base, dtype) for base in kcuda.KERNELS[file]}
    assert launched == expected


def test_every_kernel_source_has_a_family_here():
    sources = {os.path.basename(f) for f in glob.glob(
        os.path.join(os.path.dirname(kcuda.kernel_source("optim.cu")), "*.cu"))}
    assert sources == set(FAMILIES) == set(kcuda.KERNELS)


def test_the_signatures_are_read_as_the_c_code_declares_them():
    sigs = _emulate.signatures(kcuda.source_text("optim.cu"))
    assert set(sigs) == {"tg_sgd_f32", "tg_sgd_f64", "tg_adam_f32", "tg_adam_f64"}
    assert sigs["tg_sgd_f32"][:5] == [("float*", "float"), ("tg_grad_table", None),
                                      ("int", None), ("float*", "float"), ("float", None)]
    im2col = _emulate.signatures(kcuda.source_text("im2col.cu"))["tg_im2col_f64"]
    assert im2col[:3] == [("const double*", "double"), ("double*", "double"), ("long long", None)]
    for file in kcuda.KERNELS:
        for name, params in _emulate.signatures(kcuda.source_text(file)).items():
            assert callable(getattr(ref, name)) and params


# ---- the emulator catches broken kernels ----------------------------------------------------
def _sgd_launch(cp, code, n=300, lr=0.5):
    p = cp.asarray(np.linspace(-1, 1, n).astype(np.float32))
    g = cp.asarray(np.ones(n, np.float32))
    (table, count, _), = tables = kcuda.grad_tables([n])
    kcuda.fill_grad_tables(tables, [g])
    fn = cp.RawModule(code=code, options=kcuda.OPTIONS).get_function("tg_sgd_f32")
    f32 = np.float32
    fn((2,), (128,), (p, table, np.int32(count), p, f32(lr), f32(0), f32(1), f32(0),
                      np.int32(0), np.int32(0), np.int32(0)))
    return p


def _mutate(pattern, replacement):
    code = kcuda.source_text("optim.cu")
    mutated, count = re.subn(pattern, replacement, code)
    assert count >= 1
    return mutated


def test_the_unbroken_kernel_passes_the_same_launch(cp):
    p = _sgd_launch(cp, kcuda.source_text("optim.cu"))
    np.testing.assert_allclose(p.get(), np.linspace(-1, 1, 300) - 0.5, rtol=1e-6, atol=1e-6)


def test_a_wrong_formula_is_caught(cp):
    code = _mutate(r"p\[i\] = pi \+ d \* \(-lr\);", "p[i] = pi + d * lr;")
    with pytest.raises(_emulate.EmulationError, match="differs from the reference"):
        _sgd_launch(cp, code)


def test_an_out_of_bounds_write_is_caught(cp):
    code = _mutate(r"p\[i\] = pi \+ d \* \(-lr\);", "p[i + 1] = pi + d * (-lr);")
    with pytest.raises(_emulate.EmulationError, match="wrote outside argument 0"):
        _sgd_launch(cp, code)


DIVERGENT = r'''
#define TG_TABLE_SIZE 64
struct tg_grad_table {
    const void* grad[TG_TABLE_SIZE];
    long long start[TG_TABLE_SIZE + 1];
};
extern "C" __global__ void tg_sgd_f32(float* p, tg_grad_table table, int count, float* buf,
                                      float lr, float momentum, float one_minus_dampening,
                                      float weight_decay, int nesterov, int maximize, int first) {
    if (threadIdx.x < 64) {
        __syncthreads();
    }
    p[threadIdx.x] = 0.0f;
}
'''


def test_a_barrier_in_divergent_code_is_reported_not_hung(cp):
    with pytest.raises(_emulate.EmulationError, match="barrier"):
        _sgd_launch(cp, DIVERGENT)


def test_arguments_of_the_wrong_type_or_width_are_refused():
    code = kcuda.source_text("optim.cu")
    p = np.zeros(4, np.float32)
    (table, _, _), = kcuda.grad_tables([4])
    f32 = np.float32
    good = [p, table, np.int32(1), p, f32(1), f32(0), f32(1), f32(0), np.int32(0), np.int32(0),
            np.int32(0)]
    for i, bad, match in ((2, np.int64(1), r"argument 2 \(int\) needs a int32 scalar"),
                          (4, np.float64(1), r"argument 4 \(float\) needs a float32 scalar"),
                          (0, np.zeros(4), r"argument 0 \(float\*\) got float64"),
                          (1, np.int64(0), r"argument 1 \(tg_grad_table\) needs a size-1")):
        args = list(good)
        args[i] = bad
        with pytest.raises(TypeError, match=match):
            _emulate.run(code, "tg_sgd_f32", (1, 1, 1), (32, 1, 1), args)


SHUFFLE = r'''
extern "C" __global__ void shuffle_probe(float* p) {
    __shared__ float seen[64];
    float v = (float)threadIdx.x;
    for (int off = 16; off > 0; off >>= 1) {
        v += __shfl_xor_sync(0xffffffffu, v, off);
    }
    seen[threadIdx.x] = v;
    __syncthreads();
    p[blockIdx.x * blockDim.x + threadIdx.x] = seen[(threadIdx.x + 32) % blockDim.x];
}
'''


def test_shuffles_and_shared_memory_behave_as_on_a_gpu():
    # a butterfly sum within each warp, then a read of the other warp's shared slot after the
    # barrier: every thread sees the other warp's total, in every block
    p = np.zeros(128, np.float32)
    _emulate.run(SHUFFLE, "shuffle_probe", (2, 1, 1), (64, 1, 1), [p])
    warp0, warp1 = sum(range(32)), sum(range(32, 64))
    expected = np.array([warp1] * 32 + [warp0] * 32, np.float32)
    np.testing.assert_array_equal(p, np.tile(expected, 2))


def test_a_race_on_shared_memory_is_caught(cp):
    # tg_xent_mean sums twice through the same shared slots; without the barrier between the
    # sums, warp 0 writes its partial of the second sum into the slot the other warps may still
    # be reading the first sum from: a race whose outcome only the GPU's timing decides
    code = kcuda.source_text("softmax_xent.cu")
    barrier = "    __syncthreads();  // every thread has read the first sum's shared slot"
    assert code.count(barrier) == 1
    broken = code.replace(barrier, "    //")
    rows = 100
    loss = cp.asarray(np.linspace(0, 1, rows).astype(np.float32))
    target = cp.asarray(np.arange(rows) % 3)
    out = cp.zeros(2, np.float32)
    args = (loss, target, out, np.int32(rows), np.int64(0), np.int32(1))
    launch = (1,), (64,)  # two warps
    for source in (code, broken):
        fn = cp.RawModule(code=source, options=kcuda.OPTIONS).get_function("tg_xent_mean_f32")
        if source is code:
            fn(*launch, args)
            kept = np.arange(rows) % 3 != 0
            np.testing.assert_allclose(out.get(), [np.linspace(0, 1, rows)[kept].mean(),
                                                   kept.sum()], rtol=1e-6)
        else:
            with pytest.raises(_emulate.EmulationError, match="race on shared memory: .*warp 0 "
                                                               "wrote shared element 0"):
                fn(*launch, args)


def test_shared_arrays_are_rewritten_for_race_checks():
    code = "__shared__ T sm[32];\n    __shared__ float grid2[4][8];\n"
    assert _emulate.instrument_shared(code) == (
        "static tg_emu::Shared<T, 32> sm;\n    static tg_emu::Shared2<float, 4, 8> grid2;\n")
    with pytest.raises(RuntimeError, match="cannot rewrite"):
        _emulate.instrument_shared("extern __shared__ float dyn[];")
