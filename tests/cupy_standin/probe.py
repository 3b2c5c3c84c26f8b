"""Probe CuPy behaviours that the stand-in copies, one line per probe, for diffing.

    python3 tests/cupy_standin/probe.py real       # on a machine with CuPy and a GPU
    python3 tests/cupy_standin/probe.py standin    # here, with the stand-in installed

See README.md for the differences that remain against CuPy 14.2.0, and why.
"""

import os
import sys

import numpy as np

if len(sys.argv) > 1 and sys.argv[1] == "standin":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import cupy_standin

    cupy_standin.install()
import cupy as cp  # noqa: E402


def show(v):
    if isinstance(v, cp.ndarray):
        return f"cupy {v.dtype} {v.shape} {v.get().tolist()!r}"
    if isinstance(v, np.ndarray):
        return f"numpy {v.dtype} {v.shape}"
    if isinstance(v, np.generic):
        return f"npscalar {type(v).__name__}"
    return f"{type(v).__name__} {v!r}"[:120]


def _after(fn, a):
    """``a`` after ``fn(a)`` wrote into it."""
    fn(a)
    return a


x = cp.arange(3, dtype=cp.float64)
x32 = cp.ones(3, dtype=cp.float32)
m = cp.ones((2, 3))
i = cp.arange(3)
probes = {
    "add_np": lambda: cp.ones(3) + np.ones(3),
    "ufunc_np": lambda: cp.add(x, np.ones(3)),
    "np_left": lambda: np.ones(3) + x,
    "add_np0d": lambda: x + np.array(1.0),
    "lt_np0d": lambda: x < np.array(1.0),
    "ufunc_np0d": lambda: cp.add(x, np.array(1.0)),
    "asarray": lambda: np.asarray(x),
    "sum": lambda: x.sum(),
    "npsum": lambda: np.sum(x),
    "getitem0": lambda: x[0],
    "float1": lambda: float(cp.ones(1)),
    "int11": lambda: int(cp.ones((1, 1))),
    "f32_pyfloat": lambda: x32 * 2.0,
    "f32_npf64": lambda: x32 * np.float64(2),
    "f32_0d64": lambda: x32 * cp.array(2.0),
    "i_pyfloat": lambda: i * 2.5,
    "ufunc_list": lambda: cp.add(x, [1, 2, 3]),
    "op_list": lambda: x + [1, 2, 3],
    "sum_list": lambda: cp.sum([1, 2]),
    "zeros_like_np": lambda: cp.zeros_like(np.ones(3)),
    "concat_np": lambda: cp.concatenate([x, np.ones(3)]),
    "where_np": lambda: cp.where(x > 0, x, np.zeros(3)),
    "full_np": lambda: cp.full(3, np.float32(2)),
    "dlpack_dev": lambda: x.__dlpack_device__(),
    "cai_keys": lambda: sorted(x.__cuda_array_interface__),
    "cai_strides": lambda: x.__cuda_array_interface__["strides"],
    "repr": lambda: repr(x),
    "idx_np": lambda: x[np.array([0, 1])],
    "bool2": lambda: bool(cp.ones(2)),
    "len0d": lambda: len(cp.array(1.0)),
    "dot_np": lambda: m.dot(np.ones(3)),
    "matmul_np": lambda: cp.matmul(m, np.ones(3)),
    "matmul_op_np": lambda: m @ np.ones(3),
    "norm_np": lambda: cp.linalg.norm(np.ones(3)),
    "exp_np": lambda: cp.exp(np.ones(3)),
    "exp_py": lambda: cp.exp(1.0),
    "array_of_cupy": lambda: cp.array([cp.ones(2), cp.ones(2)]),
    "eq_none": lambda: x == None,  # noqa: E711
    "npf64_left": lambda: np.float64(2) * x32,
    "count_nonzero": lambda: cp.count_nonzero(x),
    "array_equal": lambda: cp.array_equal(x, x),
    "type": lambda: str(type(x)),
    "item": lambda: x[1].item(),
    "take_np": lambda: cp.take(x, np.array([0])),
    "clip_np": lambda: cp.clip(x, np.zeros(3), 1),
    "astype_same": lambda: x.astype(cp.float64, copy=False) is x,
    "asarray_same": lambda: cp.asarray(x) is x,
    "rand0": lambda: cp.random.rand().shape,
    "einsum_np": lambda: cp.einsum("i,i->", x, np.ones(3)),
    "props_name": lambda: cp.cuda.runtime.getDeviceProperties(0)["name"][:0],
    "null_ptr": lambda: cp.cuda.Stream.null.ptr,
    "cur_stream": lambda: cp.cuda.get_current_stream().ptr,
    "index_dunder": lambda: list(range(10))[cp.array(3)],
    "getitem_cp0d": lambda: x[cp.array(1)],
    "imag_real": lambda: x.imag,
    "nanpercentile": lambda: np.nanpercentile(x, 50),
    "unstack": lambda: np.unstack(m),
    "setitem_np": lambda: x.__setitem__(slice(0, 2), np.array([5.0, 6.0])),
    "base0": lambda: x[0].base is x,
    "objdtype": lambda: cp.asarray(np.array(["a"])),
    "ld": lambda: cp.asarray(np.ones(2, np.longdouble)),
    "iadd_np": lambda: x.__iadd__(np.ones(3)),
    "iadd_int_float": lambda: i.__iadd__(1.5),
    "divmod": lambda: divmod(x, 2),
    "fill_cp0d": lambda: cp.ones(3).fill(cp.array(2.0)),
    "full_cp0d": lambda: cp.full(3, cp.array(2.0)),
    "asnumpy_np": lambda: cp.asnumpy(np.ones(2)),
    "ascontig_np": lambda: cp.ascontiguousarray(np.ones(2)),
    "copy_np": lambda: cp.copy(np.ones(2)),
    "stack_np": lambda: cp.stack([x, np.ones(3)]),
    "maximum_scalar": lambda: cp.maximum(x32, 0),
    "erf_f32": lambda: __import__("cupyx.scipy.special").scipy.special.erf(x32),
    "logsumexp": lambda: __import__("cupyx.scipy.special").scipy.special.logsumexp(x32),
    "ptp": lambda: x.ptp(),
    "flags": lambda: (x.flags.c_contiguous, x[::2].flags.c_contiguous, x.flags.owndata),
    "scatter": lambda: __import__("cupyx").scatter_add(cp.zeros(3), cp.array([0, 0]), 1.0),
    "reshape_np": lambda: cp.reshape(np.ones(4), (2, 2)),
    "sum_np": lambda: cp.sum(np.ones(3)),
    "dtype_np": lambda: cp.result_type(np.ones(2, np.float32), 1.0),
    # signatures (cupy_signatures.json): keywords NumPy takes and CuPy does not
    "sum_where": lambda: cp.sum(x, where=x > 0),
    "npsum_initial": lambda: np.sum(x, initial=0.0),
    "max_initial": lambda: x.max(initial=0.0),
    "clip_minmax": lambda: np.clip(x, min=0.0, max=1.0),
    "add_where": lambda: cp.add(x, x, where=x > 0),
    "exp_order": lambda: np.exp(x, order="C"),
    "reduce_initial": lambda: cp.add.reduce(x, initial=0.0),
    "tala_noaxis": lambda: cp.take_along_axis(x, cp.zeros(3, dtype=cp.int64)),
    "item_arg": lambda: x.item(0),
    "rng_normal": lambda: cp.random.default_rng(0).normal(size=2),
    "rs_random": lambda: cp.random.RandomState(0).random(2),
    "rand_kw": lambda: cp.random.rand(2, foo=1),
    # semantics tensorgrad relies on (today's review: tests/test_gpu_semantics.py)
    # float atomics are fmaxf/fminf (atomics.cuh): float64 rounded through float32, NaN skipped
    "maxat_f64": lambda: _after(lambda a: cp.maximum.at(a, cp.array([0, 0, 1]),
                                                        cp.array([1e11 + 0.123, 1.0, 3e300])),
                                cp.full(3, -np.inf)),
    "minat_f64": lambda: _after(lambda a: cp.minimum.at(a, cp.array([0, 1]),
                                                        cp.array([0.1, 2.0])), cp.full(2, 1.0)),
    "maxat_nan": lambda: _after(lambda a: cp.maximum.at(a, cp.array([0, 1]),
                                                        cp.array([np.nan, -1.0])), cp.zeros(2)),
    "maxat_f32_nan": lambda: _after(lambda a: cp.maximum.at(a, cp.array([0, 0]), cp.array(
        [np.nan, 2.0], dtype=cp.float32)), cp.zeros(1, dtype=cp.float32)),
    "scatmax_f64": lambda: _after(lambda a: __import__("cupyx").scatter_max(
        a, cp.array([0]), cp.array([0.1])), cp.zeros(1)),
    "maxat_f16": lambda: cp.maximum.at(cp.zeros(2, cp.float16), cp.array([0]), 1.0),
    "maxat_i16": lambda: cp.maximum.at(cp.zeros(2, cp.int16), cp.array([0]), 1),
    "addat_i16": lambda: cp.add.at(cp.zeros(2, cp.int16), cp.array([0]), 1),
    "addat_c128": lambda: cp.add.at(cp.zeros(2, cp.complex128), cp.array([0]), 1.0),
    "addat_neg_idx": lambda: _after(lambda a: cp.add.at(a, cp.array([-1, -1]), 1.0), cp.zeros(3)),
    # as_strided (ops/shape.py diagonal): a view by a new ndarray over x.data
    "strided_diag": lambda: cp.lib.stride_tricks.as_strided(m[..., 0, 0], (2,), (32,)),
    "strided_flip": lambda: cp.lib.stride_tricks.as_strided(
        cp.arange(9.0).reshape(3, 3)[::-1][..., 0, 0], (3,), (-16,)),
    "strided_write": lambda: _after(lambda a: cp.lib.stride_tricks.as_strided(
        a[..., 0, 1], (1,), (32,)).__setitem__(Ellipsis, 7.0), cp.zeros((2, 3))),
    "strided_empty": lambda: cp.lib.stride_tricks.as_strided(m[..., :0, 0], (0,), (32,)),
    "strided_base": lambda: cp.lib.stride_tricks.as_strided(x[..., 1], (1,), (8,)).base is None,
    "strided_share": lambda: cp.may_share_memory(
        cp.lib.stride_tricks.as_strided(m[..., 1, 0], (1,), (8,)), m),
    "share_disjoint": lambda: cp.may_share_memory(m[0], m[1]),
    "share_bounds": lambda: cp.may_share_memory(m[:, ::2], m[:, 1]),
    "moveaxis_base": lambda: cp.moveaxis(m, 0, -1).base is m,
    "bcast_write": lambda: _after(lambda a: cp.broadcast_to(a, (2, 3)).__iadd__(1.0),
                                  cp.zeros(3)),
    # optimizers' real-pair view of complex parameters (optim/optimizer.py _as_real)
    "view_c_0d": lambda: cp.array(1 + 2j).view(cp.float64),
    "view_c_2d": lambda: cp.ones((2, 3), cp.complex64).view(cp.float32).shape,
    "view_c_T": lambda: cp.ones((2, 3), cp.complex128).T.view(cp.float64),
    "real_view": lambda: cp.ones(2, cp.complex128).real.base is not None,
    # sparse.py: unique's first index and argsort stability; optimize.py: linalg
    "unique_first": lambda: [v.tolist() for v in cp.unique(cp.array([3, 1, 3, 1, 2]),
                                                           return_index=True)],
    "unique_inverse": lambda: cp.unique(cp.array([3, 1, 3, 1, 2]),
                                        return_inverse=True)[1].tolist(),
    "argsort_ties": lambda: cp.argsort(cp.array([1, 0, 1, 0, 1] * 300))[:4].tolist(),
    "argsort_quick": lambda: cp.argsort(x, kind="quicksort"),
    "sort_m_merge": lambda: x.copy().sort(kind="mergesort"),
    "solve_singular": lambda: cp.linalg.solve(cp.zeros((2, 2)), cp.ones(2)),
    "solve_1d": lambda: cp.linalg.solve(cp.eye(2) * 2, cp.ones(2)),
    "outer": lambda: cp.outer(x, x32),
    "float_0d_c": lambda: float(cp.array(2.5 + 0j)),
    "float_dot": lambda: float(x @ x),
    "rng_f32_c": lambda: (cp.random.default_rng(0).standard_normal(2, dtype=cp.float32)
                          * 1j).dtype.name,
    "rs_std_f32": lambda: cp.random.RandomState(0).standard_normal(2, dtype=cp.float32).dtype.name,
    # memory formats (_memory_format.py): channels_last layouts through CuPy's copies
    "cl_relayout": lambda: _cl().strides,
    "cl_flags": lambda: (_cl().flags.c_contiguous, _cl().flags.f_contiguous),
    "cl_copy": lambda: _cl().copy().strides,
    "cl_astype": lambda: _cl().astype(cp.float32).strides,
    "cl_empty_like": lambda: cp.empty_like(_cl()).strides,
    "cl_get": lambda: _cl().get().strides,
    "cl_asarray": lambda: cp.asarray(np.ones((2, 3, 4, 5)).transpose(0, 2, 3, 1).copy()
                                     .transpose(0, 3, 1, 2)).strides,
    "cl_ufunc": lambda: cp.maximum(_cl(), 0).strides,
    "cl_add": lambda: (_cl() + _cl()).strides,
    # flex attention's broadcast int32 indices; CSR's expanded row indices
    "i32_bcast": lambda: (cp.arange(4, dtype=cp.int32)[:, None]
                          - cp.arange(3, dtype=cp.int32)).dtype.name,
    "repeat_rows": lambda: cp.repeat(cp.arange(3), cp.array([1, 0, 2])),
}


def _cl():
    """A (2, 3, 4, 5) float64 array laid out channels_last (NHWC strides)."""
    return cp.ones((2, 3, 4, 5)).transpose(0, 2, 3, 1).copy().transpose(0, 3, 1, 2)


for name, fn in probes.items():
    try:
        r = show(fn())
    except Exception as e:
        r = f"{type(e).__name__}: {str(e)[:150]}"
    print(f"{name:16s} {r}")
