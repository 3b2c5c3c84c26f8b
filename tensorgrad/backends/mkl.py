"""``tg.backends.mkl``: whether the BLAS under NumPy is Intel's MKL."""


def is_available():
    """True when NumPy's BLAS is MKL (NumPy's wheels bring OpenBLAS: False)."""
    import numpy as np

    try:
        config = np.show_config(mode="dicts")
    except TypeError:  # NumPy 1.x prints only
        return False
    blas = config.get("Build Dependencies", {}).get("blas", {})
    return "mkl" in str(blas.get("name", "")).lower()
