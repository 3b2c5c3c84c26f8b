"""``tg.backends.cudnn``: accepted switches; tensorgrad does not call cuDNN (its convolutions
are GEMMs and its own im2col kernels), so ``is_available()`` is False and the flags change
nothing but themselves."""

enabled = True
benchmark = False
benchmark_limit = 10
deterministic = False
allow_tf32 = True


def is_available():
    """False: tensorgrad runs no cuDNN kernels."""
    return False


def version():
    """None, as PyTorch answers without cuDNN."""
    return None


def is_acceptable(tensor):
    """False: no tensor goes to cuDNN."""
    return False
