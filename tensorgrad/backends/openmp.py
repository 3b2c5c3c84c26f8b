"""``tg.backends.openmp``: tensorgrad itself starts no OpenMP threads; NumPy's BLAS has its
own pool (``tg.set_num_threads`` sizes it)."""


def is_available():
    return False
