"""``tg.backends.mkldnn``: oneDNN, which tensorgrad does not use (NumPy's BLAS does the
products); the switch is accepted."""

enabled = True
deterministic = False


def is_available():
    return False
