"""``autograd.scipy.integrate``: ``odeint`` with its derivative (:mod:`tensorgrad.scipy.integrate`,
autograd's adjoint method); SciPy's other functions without a derivative here: usable on plain
values, refused on traced ones."""

from .._passthrough import module_getattr
from ..scipy.integrate import odeint  # noqa: F401  (autograd.scipy.integrate.odeint)

__getattr__ = module_getattr("autograd.scipy.integrate", "scipy.integrate", base=None)
