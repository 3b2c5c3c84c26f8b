"""``autograd.test_util``: autograd's derivative checks, on tensorgrad."""

from itertools import product  # noqa: F401

from ..test_util import check_grads  # noqa: F401
from ._core import get_name, unary_to_nary, vspace  # noqa: F401
from .core import make_jvp, make_vjp  # noqa: F401

TOL = 1e-6
RTOL = 1e-6
EPS = 1e-6


def scalar_close(a, b):
    return abs(a - b) < TOL or abs(a - b) / abs(a + b) < RTOL


def make_numerical_jvp(f, x):
    """``v -> (f(x + v eps/2) - f(x - v eps/2)) / eps``."""
    y = f(x)
    x_vs, y_vs = vspace(x), vspace(y)

    def jvp(v):
        plus = f(x_vs.add(x, x_vs.scalar_mul(v, EPS / 2)))
        minus = f(x_vs.add(x, x_vs.scalar_mul(v, -EPS / 2)))
        return y_vs.scalar_mul(y_vs.add(plus, y_vs.scalar_mul(minus, -1.0)), 1.0 / EPS)

    return jvp


def check_equivalent(x, y):
    x_vs, y_vs = vspace(x), vspace(y)
    assert x_vs == y_vs, f"VSpace mismatch:\nx: {x_vs}\ny: {y_vs}"
    v = x_vs.randn()
    assert scalar_close(x_vs.inner_prod(x, v), x_vs.inner_prod(y, v)), \
        f"Value mismatch:\nx: {x}\ny: {y}"


def check_vjp(f, x):
    vjp, y = make_vjp(f, x)
    jvp = make_numerical_jvp(f, x)
    x_vs, y_vs = vspace(x), vspace(y)
    x_v, y_v = x_vs.randn(), y_vs.randn()
    vjp_y = x_vs.covector(vjp(y_vs.covector(y_v)))
    exact = x_vs.inner_prod(x_v, vjp_y)
    numeric = y_vs.inner_prod(y_v, jvp(x_v))
    assert scalar_close(numeric, exact), (
        f"Derivative (VJP) check of {get_name(f)} failed with arg {x}:\nanalytic: {exact}\n"
        f"numeric:  {numeric}")


def check_jvp(f, x):
    jvp = make_jvp(f, x)
    numeric = make_numerical_jvp(f, x)
    v = vspace(x).randn()
    check_equivalent(jvp(v)[1], numeric(v))


def combo_check(fun, *args, **kwargs):
    """Check the derivatives of ``fun`` at every combination of the given values."""

    def _combo_check(*values, **kwvalues):
        keyed = [[(k, x) for x in xs] for k, xs in kwvalues.items()]
        for a in product(*values):
            for kw in product(*keyed):
                check_grads(fun, *args, **kwargs)(*a, **dict(kw))

    return _combo_check
