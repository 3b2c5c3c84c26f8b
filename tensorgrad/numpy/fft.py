"""``tensorgrad.numpy.fft``: differentiable FFTs (filled in by ops/spectral.py)."""
