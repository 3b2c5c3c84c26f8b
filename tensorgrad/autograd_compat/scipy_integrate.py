"""``autograd.scipy.integrate``: SciPy's functions without a derivative here (tensorgrad has no
adjoint rule for ``odeint``): usable on plain values, refused on traced ones."""

from .._passthrough import module_getattr

__getattr__ = module_getattr("autograd.scipy.integrate", "scipy.integrate", base=None)
