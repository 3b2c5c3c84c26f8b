"""``tensorgrad.scipy.optimize``: ``minimize``, ``root`` and ``fsolve`` as SciPy's, whose
solutions are differentiable in the problem's parameters.

``minimize(fun, x0, args=(theta, ...))`` returns SciPy's ``OptimizeResult``; where an entry of
``args`` is a Tensor (or a variable of ``tg.grad``, ``jacobian``, ``hessian`` ...), ``res.x``
and ``res.fun`` are on the tape, and their derivatives in it are exact at the solution, without
differentiating through the solver's iterations: the implicit function theorem at
``F(x*, theta) = 0``. For ``root``, ``F`` is ``fun``; for ``minimize`` it is the gradient of
``fun`` in ``x`` (a stationary point), so ``dF/dx`` is the Hessian. A VJP solves
``(dF/dx)^T u = g`` and gives ``-(dF/dtheta)^T u``; a JVP solves ``(dF/dx) t = -(dF/dtheta) s``.
Both rules are written with tensorgrad's operations, so they differentiate again: Hessians of
a loss of ``x*(theta)``, forward over reverse, any order.

The solve itself:

- On the host with SciPy installed: SciPy's own solvers, any unconstrained method, with
  tensorgrad's exact gradient as ``jac`` (and Hessian-vector products as ``hessp`` where the
  method wants second derivatives), unless the call passes its own.
- On CuPy arrays, or without SciPy: tensorgrad's own BFGS (``minimize``) and Newton's method
  with a backtracking line search on ``|F|^2`` (``root``), in ``xp``, with exact Jacobians.

``minimize`` with ``bounds`` (SciPy on the host: L-BFGS-B, TNC, SLSQP, trust-constr, Powell,
Nelder-Mead): a component that ends on its bound stays there under a small change of
``theta`` (derivative 0), the free ones follow the stationarity of the free gradient. General
``constraints`` are refused.

Costs: each derivative builds the dense ``n x n`` Jacobian (or Hessian) of the problem at the
solution and solves with it, for ``n`` unknowns; the solve needs the same accuracy from the
solver that the derivative should have (pass ``tol``).

>>> import tensorgrad as tg, tensorgrad.numpy as tnp
>>> def f(x, a):  # minimum at x = a
...     return tnp.sum((x - a) ** 2)
>>> tg.grad(lambda a: minimize(f, tnp.zeros(2), args=(a,)).x[0])(tnp.array([1.0, 2.0]))
array([1., 0.])
"""

import math

import numpy as np

from .. import numpy as tnp
from ..autograd.functional import grad, jacobian, jvp, value_and_grad, vjp
from ..backend.device import _CUPY_ARRAY, device_of, xp_of
from ..misc.flatten import flatten
from ..ops.registry import defjvp, defvjp, primitive
from ..tensor import Tensor

__all__ = ["minimize", "root", "fsolve", "OptimizeResult"]


class OptimizeResult(dict):
    """SciPy's result: a dict whose keys read as attributes (``x``, ``fun``, ``success``,
    ``status``, ``message``, ``nit``, ``nfev``, ``jac`` ...)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    __setattr__ = dict.__setitem__
    __delattr__ = dict.__delitem__

    def __repr__(self):
        return "\n".join(f"{k:>8}: {v!r}" for k, v in self.items())


def _raw(x):
    return x.data if isinstance(x, Tensor) else x


class _Problem:
    """``fun`` and ``args``, with the Tensor entries of ``args`` packed into one vector
    ``theta`` (the primitive's differentiable input) and the rest kept as they are."""

    def __init__(self, op, kind, fun, args, bounds_mask=None):
        self.op, self.kind, self.fun = op, kind, fun
        self.args = tuple(args)
        self.slots = [i for i, a in enumerate(self.args) if isinstance(a, Tensor)]
        self.active = bounds_mask  # minimize: components pinned at a bound
        self.info = {}

    def call(self, x, theta):
        """``fun(x, *args)`` with the packed entries taken from ``theta`` (None: as given)."""
        args = self.args
        if theta is not None and self.slots:
            args = list(args)
            for i, v in zip(self.slots, self.unflatten(theta)):
                args[i] = v
        return self.fun(x, *args)

    def residual(self, x, theta):
        """F(x, theta): ``fun`` (root) or its gradient in ``x`` (minimize), with the components
        pinned at a bound replaced by ``x`` itself."""
        if self.kind == "root":
            r = tnp.ravel(self.call(x, theta))
        else:
            r = grad(lambda x_: self.call(x_, theta))(x)
        if self.active is not None:
            r = tnp.where(self.active, x, r)
        return r


def _check_scalar(value, op):
    shape = tuple(getattr(value, "shape", ()))
    if math.prod(shape) != 1:
        raise ValueError(f"{op}: fun must return a scalar, got shape {shape}")


# ---- the solution as a primitive of theta ------------------------------------------------------
@primitive
def _solution(theta, x0, problem):
    x = _solve(problem, x0, theta)
    return x


def _jac_x(problem, x, theta):
    return jacobian(lambda x_: problem.residual(x_, theta))(x)


def _vjp(g, ans, theta, x0, problem):
    u = tnp.linalg.solve(tnp.transpose(_jac_x(problem, ans, theta)), g)
    return -vjp(lambda th: problem.residual(ans, th), theta)[1](u)[0]


def _jvp(t, ans, theta, x0, problem):
    direct = jvp(lambda th: problem.residual(ans, th), (theta,), (t,))[1]
    return -tnp.linalg.solve(_jac_x(problem, ans, theta), direct)


defvjp(_solution, _vjp)
defjvp(_solution, _jvp)


def _solve(problem, x0, theta):
    """The raw solution for raw ``theta`` (None: ``args`` have no Tensors)."""
    theta = _raw(theta)

    def f(x):
        out = problem.call(x, theta)
        # a Tensor answer for an array x is a constant; for a traced x it is what to
        # differentiate
        return out if isinstance(x, Tensor) else _raw(out)

    first = problem.call(x0, theta)
    if isinstance(first, Tensor) and (first.requires_grad or first._level):
        raise ValueError(
            f"{problem.op}: fun returned a Tensor that carries a derivative for plain "
            "inputs: it reads a differentiable Tensor from outside its arguments. Pass that "
            "Tensor in args, so that the solution's derivative in it is taken")
    return problem.solver(f, x0)


# ---- solvers ----------------------------------------------------------------------------------
def _scipy_optimize():
    try:
        import scipy.optimize as so
    except ImportError:
        return None
    return so


_NEEDS_HESS = {"newton-cg", "trust-ncg", "trust-krylov", "trust-constr"}
_NEEDS_FULL_HESS = {"trust-exact", "dogleg"}
_NO_JAC = {"nelder-mead", "powell", "cobyla", "cobyqa"}


def _scipy_minimize(so, f, x0, method, jac, hess, hessp, bounds, tol, options, callback,
                    problem):
    m = method.lower()
    kw = {"method": method, "bounds": bounds, "tol": tol, "options": options,
          "callback": callback}
    fun = f
    if m not in _NO_JAC:
        if jac is None:
            kw["jac"] = True

            def fun(x):
                value, g = value_and_grad(f)(x)
                return float(value), g
        else:
            kw["jac"] = jac
    if m in _NEEDS_FULL_HESS:
        kw["hess"] = hess or (lambda x: jacobian(grad(f))(x))
    elif m in _NEEDS_HESS:
        if hess is not None:
            kw["hess"] = hess
        else:
            kw["hessp"] = hessp or (lambda x, p: jvp(grad(f), (x,), (p,))[1])
    res = so.minimize(fun, x0, **kw)
    problem.info = dict(res)
    return res.x


def _scipy_root(so, f, x0, method, jac, tol, options, callback, problem):
    kw = {"method": method, "tol": tol, "options": options}
    if callback is not None:
        kw["callback"] = callback
    if method.lower() in ("hybr", "lm") and jac is None:
        kw["jac"] = lambda x: jacobian(f)(x)
    elif jac is not None:
        kw["jac"] = jac
    res = so.root(f, x0, **kw)
    problem.info = dict(res)
    return res.x


def _norm(v):
    return float(xp_of(v).linalg.norm(v))


def _own_bfgs(f, x0, tol, options, problem):
    """BFGS on the inverse Hessian with a backtracking Armijo search, in ``xp``."""
    opts = dict(options or {})
    gtol = opts.get("gtol", 1e-5 if tol is None else tol)
    maxiter = opts.get("maxiter") or 200 * x0.size
    xp = xp_of(x0)
    vg = value_and_grad(lambda x: f(x))
    x = x0
    fx, g = vg(x)
    _check_scalar(fx, "minimize")
    n = x.size
    h = xp.eye(n, dtype=x.dtype)
    nfev, k, status, msg = 1, 0, 1, "Maximum number of iterations has been exceeded."
    while k < maxiter:
        if float(xp.max(xp.abs(g))) <= gtol:
            status, msg = 0, "Optimization terminated successfully."
            break
        p = -(h @ g)
        slope = float(g @ p)
        if slope >= 0:  # not a descent direction: start over from steepest descent
            h = xp.eye(n, dtype=x.dtype)
            p, slope = -g, -float(g @ g)
        step = 1.0
        while True:
            x_new = x + step * p
            f_new, g_new = vg(x_new)
            nfev += 1
            if float(f_new) <= float(fx) + 1e-4 * step * slope or step < 1e-12:
                break
            step *= 0.5
        if step < 1e-12:
            status, msg = 2, "Desired error not necessarily achieved due to precision loss."
            break
        s, y = x_new - x, g_new - g
        sy = float(s @ y)
        if sy > 1e-12 * _norm(s) * _norm(y):
            rho = 1.0 / sy
            hy = h @ y
            h = h - rho * (xp.outer(s, hy) + xp.outer(hy, s)) \
                + (rho * rho * float(y @ hy) + rho) * xp.outer(s, s)
        x, fx, g = x_new, f_new, g_new
        k += 1
    problem.info = {"fun": fx, "jac": g, "hess_inv": h, "nit": k, "nfev": nfev,
                    "status": status, "success": status == 0, "message": msg}
    return x


def _own_newton(f, x0, tol, options, problem):
    """Newton's method with exact Jacobians and a backtracking search on |F|^2, in ``xp``."""
    opts = dict(options or {})
    xtol = opts.get("xtol", 1e-12 if tol is None else tol)
    maxiter = opts.get("maxfev") or opts.get("maxiter") or 100 * (x0.size + 1)
    xp = xp_of(x0)
    x = x0
    r = xp.ravel(f(x))
    if r.size != x.size:
        raise ValueError(f"root: fun must return as many values as x has, got shape "
                         f"{tuple(r.shape)} for x of shape {tuple(x.shape)}")
    nfev, k, status, msg = 1, 0, 5, "The iteration is not making good progress."
    while k < maxiter:
        j = jacobian(f)(x).reshape(r.size, x.size)
        dx = xp.linalg.solve(j, -r)
        r2 = float(r @ r)
        step = 1.0
        while True:
            x_new = x + step * dx
            r_new = xp.ravel(f(x_new))
            nfev += 1
            if float(r_new @ r_new) <= (1 - 1e-4 * step) * r2 or step < 1e-10:
                break
            step *= 0.5
        x, r = x_new, r_new
        k += 1
        if _norm(step * dx) <= xtol * (1 + _norm(x)) or float(r @ r) == 0:
            status, msg = 1, "The solution converged."
            break
        if step < 1e-10:
            break
    problem.info = {"fun": r, "nit": k, "nfev": nfev, "status": status,
                    "success": status == 1, "message": msg}
    return x


# ---- the public functions ---------------------------------------------------------------------
def _start(op, x0):
    raw = _raw(x0)
    xp = xp_of(raw) if hasattr(raw, "shape") else np
    x = xp.asarray(raw)
    if x.dtype.kind not in "fc":
        x = x.astype(float)
    if x.ndim > 1:
        raise ValueError(f"{op}: x0 must be 1-D (SciPy's (n,)), got shape {tuple(x.shape)}")
    return xp.ravel(x).copy()


def _pack(problem):
    """The Tensors of ``args`` as one vector ``theta`` (None when there are none)."""
    if not problem.slots:
        return None
    theta, problem.unflatten = flatten(tuple(problem.args[i] for i in problem.slots))
    return theta


def _finish(problem, x0, theta):
    """The solution: on the tape of ``args``' Tensors when there are any."""
    if theta is None:
        return _solve(problem, x0, None)
    return _solution(theta, x0, problem)


def _same_device(x0, theta):
    """``(x0, theta)`` on one device: parameters given as numbers or host scalars join a CuPy
    ``x0`` (differentiably), and a host ``x0`` joins parameters on a GPU."""
    if theta is None:
        return x0, theta
    on_gpu = type(_raw(theta)) is _CUPY_ARRAY
    if type(x0) is _CUPY_ARRAY and not on_gpu:
        return x0, theta.to(device_of(x0))
    if on_gpu and type(x0) is not _CUPY_ARRAY:
        return device_of(_raw(theta)).put(x0), theta
    return x0, theta


def minimize(fun, x0, args=(), method=None, jac=None, hess=None, hessp=None, bounds=None,
             constraints=(), tol=None, callback=None, options=None):
    """SciPy's ``minimize``, with ``res.x`` and ``res.fun`` differentiable in the Tensors of
    ``args`` (see the module). ``method`` defaults to SciPy's choice (BFGS, or L-BFGS-B with
    bounds); on CuPy arrays or without SciPy, tensorgrad's BFGS runs (``options``: ``gtol``,
    ``maxiter``)."""
    if constraints:
        raise NotImplementedError(
            "minimize: constraints are not supported (their derivative needs the multipliers "
            "of the active constraints); use bounds, or a penalty in fun")
    if not isinstance(args, tuple):
        args = (args,)
    problem = _Problem("minimize", "min", fun, args)
    x0, theta = _same_device(_start("minimize", x0), _pack(problem))
    so = _scipy_optimize()
    on_gpu = type(x0) is _CUPY_ARRAY
    own = on_gpu or so is None
    if method is None:
        method = "L-BFGS-B" if bounds is not None else "BFGS"
    if own:
        if method.upper() != "BFGS" or bounds is not None:
            where = "on the cuda device" if on_gpu else "without SciPy"
            raise NotImplementedError(
                f"minimize: method {method!r}{' with bounds' if bounds is not None else ''} is "
                f"not available {where}: tensorgrad's own solver is BFGS without bounds "
                "(SciPy's methods run on host arrays when SciPy is installed)")
        problem.solver = lambda f, x: _own_bfgs(f, x, tol, options, problem)
    else:
        problem.solver = lambda f, x: _scipy_minimize(so, f, x, method, jac, hess, hessp,
                                                      bounds, tol, options, callback, problem)
    if bounds is not None and theta is not None:
        # where the solution ends on a bound is known after the solve: solve first, then pin
        # those components in the residual whose Jacobian the derivatives use
        x_raw = _solve(problem, x0, theta)
        problem.active = _at_bounds(x_raw, bounds)
        problem.solver = lambda f, x: x_raw
    x = _finish(problem, x0, theta)
    res = OptimizeResult(problem.info)
    res["x"] = x
    res["fun"] = problem.call(x, None)
    return res


def _at_bounds(x, bounds):
    xp = xp_of(x)
    try:
        lo, hi = bounds.lb, bounds.ub  # scipy.optimize.Bounds
    except AttributeError:
        pairs = list(bounds)
        if len(pairs) != x.size:
            raise ValueError(f"minimize: bounds must have one (low, high) pair per component, "
                             f"got {len(pairs)} for x of shape {tuple(x.shape)}") from None
        lo = [-math.inf if p[0] is None else p[0] for p in pairs]
        hi = [math.inf if p[1] is None else p[1] for p in pairs]
    lo = xp.broadcast_to(xp.asarray(lo, dtype=x.dtype), x.shape)
    hi = xp.broadcast_to(xp.asarray(hi, dtype=x.dtype), x.shape)
    return (x <= lo) | (x >= hi)


def root(fun, x0, args=(), method="hybr", jac=None, tol=None, callback=None, options=None):
    """SciPy's ``root``, with ``res.x`` differentiable in the Tensors of ``args`` (see the
    module). On CuPy arrays or without SciPy, tensorgrad's Newton iteration runs whatever
    ``method`` says (``options``: ``xtol``, ``maxiter``)."""
    if not isinstance(args, tuple):
        args = (args,)
    problem = _Problem("root", "root", fun, args)
    x0, theta = _same_device(_start("root", x0), _pack(problem))
    so = _scipy_optimize()
    if type(x0) is _CUPY_ARRAY or so is None:
        problem.solver = lambda f, x: _own_newton(f, x, tol, options, problem)
    else:
        problem.solver = lambda f, x: _scipy_root(so, f, x, method, jac, tol, options, callback,
                                                  problem)
    x = _finish(problem, x0, theta)
    res = OptimizeResult(problem.info)
    res["x"] = x
    return res


def fsolve(func, x0, args=(), fprime=None, full_output=False, col_deriv=False, xtol=1.49012e-08,
           maxfev=0, **kwargs):
    """SciPy's ``fsolve``: the root ``x`` of ``func`` (``root`` with method 'hybr'),
    differentiable in the Tensors of ``args``. ``full_output=True`` gives
    ``(x, infodict, ier, mesg)`` as SciPy's."""
    options = {"xtol": xtol, "col_deriv": col_deriv}
    if maxfev:
        options["maxfev"] = maxfev
    own = type(_raw(x0)) is _CUPY_ARRAY or _scipy_optimize() is None
    res = root(func, x0, args=args, method="hybr", jac=fprime,
               options={"xtol": xtol, "maxiter": maxfev or None} if own else options)
    if full_output:
        info = {k: v for k, v in res.items() if k not in ("x", "success", "status", "message")}
        return res.x, info, res.status, res.message
    return res.x
