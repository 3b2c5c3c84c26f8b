"""``autograd.util``."""

from ._core import subval, subvals, toposort  # noqa: F401

deprecation_msg = ("autograd.util is deprecated in autograd (and kept under tensorgrad for the "
                   "programs that still import it)")


def func(f):
    return f


def quick_grad_check(fun, arg0, extra_args=(), kwargs=None, verbose=True, eps=1e-4, rtol=1e-4,
                     atol=1e-6, rs=None):
    """autograd's old gradient check: reverse mode against finite differences."""
    from ..testing import check_grads

    check_grads(lambda x: fun(x, *extra_args, **(kwargs or {})), modes=("rev",), order=1)(arg0)
    if verbose:
        print("Gradient projection OK")
