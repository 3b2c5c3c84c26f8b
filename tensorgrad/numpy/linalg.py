"""``tensorgrad.numpy.linalg``: differentiable linear algebra (filled in by ops/decomp.py)."""
