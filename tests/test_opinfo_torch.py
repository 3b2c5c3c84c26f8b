"""PyTorch's own sample inputs, op by op, through tensorgrad (``tests/opinfo_check.py``).

torch tests each of its ops on the samples of its OpInfo database (``torch.testing._internal``):
size-0 and 0-d tensors, broadcasting, every dtype it supports, keyword forms. Here every OpInfo
entry that tensorgrad has a name for runs on those samples, and must agree with torch: forward
values, shapes and dtypes (float64, complex128, int64, bool, float32), gradients (float64), and on
the first samples forward mode and second order; then on the cuda device (float64 and int64
samples), where the CuPy stand-in fails a call that would fail on a GPU. A difference fails,
unless ``EXPECTED`` lists it with the reason; an entry of ``EXPECTED`` that stops differing
fails too, so the table stays true. ``NOT_OURS`` lists torch's ops that tensorgrad does not
have, each with the reason.
"""

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("expecttest")  # torch.testing._internal needs it (the oracle extra)

import opinfo_check as oc  # noqa: E402

# torch's names without a tensorgrad counterpart, on purpose
NOT_OURS = {
    "sparse.sampled_addmm": "sparse CSR sampled products: tensorgrad's CSR has no such op",
    "_softmax_backward_data": "an aten backward kernel, not a user op",
    "native_group_norm": "aten's internal form of group_norm (F.group_norm is tested)",
    "native_layer_norm": "aten's internal form of layer_norm (F.layer_norm is tested)",
    "native_batch_norm": "aten's internal form of batch_norm (F.batch_norm is tested)",
    "_native_batch_norm_legit": "aten internal",
    "_batch_norm_with_update": "aten internal",
    "_upsample_bilinear2d_aa": "aten internal (F.interpolate(antialias=True) is the user form)",
    "max_pool2d_with_indices_backward": "an aten backward kernel",
    "torch._scaled_mm_v2": "float8 matmul: NumPy has no float8",
    "torch._scaled_mm": "float8 matmul: NumPy has no float8",
    "torch.ops.aten._safe_softmax.default": "aten internal",
    "torch.ops.aten._flash_attention_forward": "CUDA attention kernel of aten",
    "torch.ops.aten._efficient_attention_forward": "CUDA attention kernel of aten",
    "slice": "aten's slice op (Python slicing is tested through __getitem__)",
    "_unsafe_masked_index": "aten internal",
    "_unsafe_masked_index_put_accumulate": "aten internal",
    "_chunk_cat": "aten internal",
    "jiterator_unary": "CUDA jiterator (runtime-compiled torch kernels)",
    "jiterator_binary": "CUDA jiterator",
    "jiterator_4inputs_with_extra_args": "CUDA jiterator",
    "jiterator_binary_return_by_ref": "CUDA jiterator",
    "jiterator_2inputs_2outputs": "CUDA jiterator",
    "native_dropout_backward": "an aten backward kernel",
    "_segment_reduce.lengths": "aten internal",
    "_segment_reduce.offsets": "aten internal",
}

# differences kept on purpose: key -> (reason, substrings one of which every differing sample's
# line contains)
EXPECTED = {
    "bfloat16": ("NumPy and CuPy have no bfloat16 dtype: .bfloat16() raises, naming it",
                 "no bfloat16 dtype"),
    "chalf": ("NumPy and CuPy have no complex32 dtype: .chalf() raises, naming it",
              "no complex32 dtype"),
    "kthvalue": ("which of tied values' indices is returned: torch leaves it unspecified, "
                 "tensorgrad takes the first in stable order", "int64"),
    "topk": ("the order of tied values' indices (unspecified in torch; stable here)", "int64"),
    "mode": ("which occurrence of the most common value is returned (unspecified in torch)",
             "(T(3000,), ): values"),
    "sort": ("torch's default sort is not stable: on 8000 bools its indices among ties differ; "
             "tensorgrad's equal torch's stable=True", "bool (T(8000,), ): values"),
    "argsort": ("as sort: tensorgrad's indices among ties are torch's stable=True ones",
                "bool (T(8000,), ): values"),
    "as_strided.partial_views": (
        "as_strided reads the tensor's own elements, not a storage behind a view of part of it "
        "(tensorgrad has no storage objects): torch reads outside the view", "T(10,)"),
    "as_strided_scatter": (
        "torch's gradient of input is the cotangent inside the scattered window (torch's own "
        "gradcheck fails; OpInfo marks it an expected failure); tensorgrad's is outside it, "
        "which matches finite differences", "gradient of input 0"),
    "nn.functional.max_unpool1d": (
        "duplicate indices from overlapping windows: torch's backward gathers the gradient once "
        "per duplicate, which matches finite differences of neither function; tensorgrad's "
        "does (tests/test_opinfo_fixes_nn.py)", "gradient of input 0"),
    "nn.functional.max_unpool2d": ("as max_unpool1d", "gradient of input 0"),
    "nn.functional.max_unpool3d": ("as max_unpool1d", "gradient of input 0"),
    "nn.functional.ctc_loss": (
        "torch's backward assumes log_probs came out of log_softmax; tensorgrad's is the "
        "derivative with respect to log_probs themselves (through log_softmax they agree)",
        "gradient of input 0"),
    "linalg.norm.subgradients_at_zero": (
        "second derivative of a norm at the zero vector: torch gives nan, tensorgrad the "
        "subgradient 0 (norm2's documented choice); first order agrees", "second order"),
    "special.bessel_j0": ("torch is off by 1.9e-7 near the zero of J0 at -5.4215 (mpmath "
                          "agrees with SciPy's value, which tensorgrad returns)",
                          "float64 (T(20,), ): values"),
    "masked.logaddexp": ("second order where one operand is masked out: torch's "
                         "logaddexp double backward at -inf gives nan, tensorgrad the true 0",
                         "second order"),
}


# on the cuda device (the CuPy stand-in without a GPU): the float64 and int64 samples
CUDA_DTYPES = (torch.float64, torch.int64)


@pytest.mark.parametrize("key", sorted(oc.OPS))
def test_pytorch_opinfo_samples_agree(key, device):
    op = oc.OPS[key]
    oc.quiet()
    problems = oc.check(op) if device == "cpu" else oc.check(op, CUDA_DTYPES, device=device)
    if key in NOT_OURS:  # still without a counterpart: no name, or OpInfo's wrapper fails
        assert problems, f"tensorgrad runs {key} now: remove it from NOT_OURS"
        return
    # the cuda run covers fewer dtypes: it may not meet an expected difference
    oc.assert_as_expected(problems, key, EXPECTED, stale_check=device == "cpu")


# torch's error inputs tensorgrad takes on purpose: key -> (reason, substrings of each line)
_NUMBER = ("tensorgrad takes a Python number as the second operand, where torch's binding of "
           "this function demands a Tensor", "torch raises Exception (''): (T(3,), 2)")
_PROMOTES = ("operands of two dtypes are promoted (as everywhere in tensorgrad), where torch "
             "refuses them here", "should be the same", "Expected self.dtype to be equal")
ACCEPTED = {key: _NUMBER for key in (
    "clamp_max clamp_min atan2 fmax fmin ldexp logaddexp maximum minimum logical_and "
    "logical_or logical_xor isclose nextafter igamma igammac hypot").split()}
ACCEPTED.update({key: _PROMOTES for key in (
    "nn.functional.conv1d nn.functional.conv2d nn.functional.conv3d scatter "
    "scatter_add").split()})


@pytest.mark.parametrize("key", sorted(k for k in oc.OPS if k not in NOT_OURS))
def test_pytorch_error_inputs_are_refused(key):
    """Each of torch's error inputs (``op.error_inputs``: arguments torch refuses) raises in
    tensorgrad too, unless ``ACCEPTED`` says why tensorgrad takes it."""
    oc.quiet()
    oc.assert_as_expected(oc.check_errors(oc.OPS[key]), key, ACCEPTED)
