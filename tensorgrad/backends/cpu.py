"""``tg.backends.cpu``: the vector instructions NumPy's kernels dispatch to."""


def get_cpu_capability():
    """``"AVX512"``, ``"AVX2"`` or ``"DEFAULT"`` (PyTorch's names), from the features NumPy
    detected at import."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # NumPy 1.x
        from numpy.core._multiarray_umath import __cpu_features__ as features
    if features.get("AVX512F") and features.get("AVX512BW") and features.get("AVX512VL"):
        return "AVX512"
    if features.get("AVX2") and features.get("FMA3"):
        return "AVX2"
    return "DEFAULT"
