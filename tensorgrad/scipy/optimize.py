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

import importlib
import math
import numbers

import numpy as np

from .. import numpy as tnp
from ..autograd.functional import grad, jacobian, jvp, value_and_grad, vjp
from ..backend.device import _CUPY_ARRAY, device_of, xp_of
from ..misc.flatten import flatten
from ..ops.registry import defjvp, defvjp, primitive
from ..tensor import Tensor

__all__ = ["minimize", "root", "fsolve", "root_scalar", "brentq", "newton", "minimize_scalar",
           "OptimizeResult", "RootResults"]


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
        self.error = None  # what the solver raised, to be raised as it is (see _finish)
        self.pair = False  # minimize(jac=True): fun returns (value, gradient)

    def call(self, x, theta):
        """``fun(x, *args)`` with the packed entries taken from ``theta`` (None: as given)."""
        args = self.args
        if theta is not None and self.slots:
            args = list(args)
            for i, v in zip(self.slots, self.unflatten(theta)):
                args[i] = v
        out = self.fun(x, *args)
        if self.pair:
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                raise TypeError(f"{self.op}: with jac=True, fun must return (value, gradient), "
                                f"got {_kind(out)}")
            return out[0]
        return out

    def users_pair(self):
        """``x -> (value, gradient)`` as the user's ``fun`` gives them (``jac=True``)."""
        return lambda x: tuple(_raw(v) for v in self.fun(x, *self.args))

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


def _kind(v):
    """``v`` described for an error message: its type, and its shape and dtype if it has them."""
    v = _raw(v)
    if hasattr(v, "shape") and hasattr(v, "dtype"):
        return f"{type(v).__name__} of shape {tuple(v.shape)} and dtype {v.dtype}"
    return type(v).__name__


def _value_shape(value, op, name="fun"):
    """The shape of what ``fun`` returned (None for a list or tuple, left to the solver); a
    TypeError naming ``op`` for anything that is not numbers."""
    v = _raw(value)
    if isinstance(v, numbers.Number) and not isinstance(v, bool):
        return ()
    if hasattr(v, "shape") and hasattr(v, "dtype"):
        if v.dtype.kind not in "biufc":
            raise TypeError(f"{op}: {name} must return numbers, got {_kind(v)}")
        return tuple(v.shape)
    if isinstance(v, (list, tuple)):
        return None
    raise TypeError(f"{op}: {name} must return a number, an array or a Tensor, got {_kind(v)}")


def _check_callable(fun, op, name="fun"):
    if not callable(fun):
        raise TypeError(f"{op}: {name} must be callable, got {_kind(fun)}")


def _known_methods(module, constant):
    """SciPy's list of method names (None where this SciPy does not expose it)."""
    try:
        return tuple(getattr(importlib.import_module(f"scipy.optimize.{module}"), constant))
    except (ImportError, AttributeError, TypeError):
        return None


def _check_method(method, op, module, constant):
    """``method``: None, a callable, or one of SciPy's names (checked before any solve, so the
    error names ``op`` rather than the solver's internals)."""
    if method is None or callable(method):
        return
    if not isinstance(method, str):
        raise TypeError(f"{op}: method must be a str, got {_kind(method)}")
    known = _known_methods(module, constant)
    if known is not None and method.lower() not in known:
        raise ValueError(f"{op}: unknown method {method!r}; SciPy's are {', '.join(known)}")


def _first_value(problem, x0, theta):
    """``fun`` at ``x0``, once, before the solve and outside the solution's primitive: its
    kind and shape are checked against what ``problem.op`` needs, and an error ``fun`` raises
    there gets a note naming the call."""
    try:
        out = problem.call(x0, _raw(theta))
    except Exception as e:
        shapes = ", ".join(_kind(a) for a in problem.args) or "none"
        e.add_note(f"{problem.op}: raised by fun at the starting point x0 ({_kind(x0)}); "
                   f"args: {shapes}")
        raise
    if isinstance(out, Tensor) and (out.requires_grad or out._level):
        raise ValueError(
            f"{problem.op}: fun returned a Tensor that carries a derivative for plain "
            "inputs: it reads a differentiable Tensor from outside its arguments. Pass that "
            "Tensor in args, so that the solution's derivative in it is taken")
    shape = _value_shape(out, problem.op)
    if shape is None:
        return
    if problem.kind == "min" and math.prod(shape) != 1:
        raise ValueError(f"{problem.op}: fun must return a scalar, got shape {shape} at x0 of "
                         f"shape {tuple(x0.shape)}")
    if problem.kind == "root" and math.prod(shape) != x0.size:
        raise ValueError(f"{problem.op}: fun must return as many values as x has, got shape "
                         f"{shape} for x of shape {tuple(x0.shape)}")


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

    try:
        return problem.solver(f, x0)
    except Exception as e:
        problem.error = e  # raised as it is by _finish, not as the primitive's error
        raise


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
    if jac is True:
        fun = problem.users_pair()
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


def _own_bfgs(f, x0, tol, options, problem, jac=None, callback=None):
    """BFGS on the inverse Hessian with a backtracking Armijo search, in ``xp``."""
    opts = dict(options or {})
    gtol = opts.get("gtol", 1e-5 if tol is None else tol)
    maxiter = opts.get("maxiter") or 200 * x0.size
    xp = xp_of(x0)
    vg = problem.users_pair() if jac is True else value_and_grad(f)
    x = x0
    fx, g = vg(x)
    _check_scalar(fx, "minimize")
    n = x.size
    h = xp.eye(n, dtype=x.dtype)
    nfev, k, status, msg = 1, 0, 1, "Maximum number of iterations has been exceeded."
    while k < maxiter:
        gmax, fval = float(xp.max(xp.abs(g))), float(fx)
        if math.isnan(gmax) or math.isnan(fval):  # SciPy's status and message for NaN
            status, msg = 3, "NaN result encountered."
            break
        if gmax <= gtol:
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
            if float(f_new) <= fval + 1e-4 * step * slope or step < 1e-12:
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
        if callback is not None:
            callback(x)
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
        raise ValueError(f"{problem.op}: fun must return as many values as x has, got shape "
                         f"{tuple(r.shape)} for x of shape {tuple(x.shape)}")
    nfev, k, status, msg = 1, 0, 5, "The iteration is not making good progress."
    while k < maxiter:
        j = jacobian(f)(x).reshape(r.size, x.size)
        try:
            dx = xp.linalg.solve(j, -r)
        except np.linalg.LinAlgError:
            dx = None
        if dx is None or not math.isfinite(_norm(dx)):
            msg = ("The iteration is not making good progress: the Jacobian of fun is singular "
                   "or fun is not finite at x.")
            break
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
    if raw is None or isinstance(raw, (str, bytes)):
        raise TypeError(f"{op}: x0 must be a number, a 1-D array or a Tensor, got {_kind(raw)}")
    xp = xp_of(raw) if hasattr(raw, "shape") else np
    try:
        x = xp.asarray(raw)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{op}: x0 must be a number, a 1-D array or a Tensor, got "
                        f"{_kind(raw)} ({e})") from e
    if x.dtype.kind not in "biufc":
        raise TypeError(f"{op}: x0 must hold numbers, got {_kind(x)}")
    if x.dtype.kind not in "fc":
        x = x.astype(float)
    if x.ndim > 1:
        raise ValueError(f"{op}: x0 must be 1-D (SciPy's (n,)), got shape {tuple(x.shape)}")
    if x.size == 0:
        raise ValueError(f"{op}: x0 has no entries (shape {tuple(x.shape)}); there is nothing "
                         "to solve for")
    return xp.ravel(x).copy()


def _pack(problem):
    """The Tensors of ``args`` as one vector ``theta`` (None when there are none)."""
    if not problem.slots:
        return None
    theta, problem.unflatten = flatten(tuple(problem.args[i] for i in problem.slots))
    return theta


def _finish(problem, x0, theta):
    """The solution: on the tape of ``args``' Tensors when there are any. What the solver
    raises comes out as it is (the public function's or SciPy's message), not as an error of
    the internal primitive."""
    if theta is None:
        return _solve(problem, x0, None)
    try:
        return _solution(theta, x0, problem)
    except Exception as e:
        own, problem.error = problem.error, None
        if own is not None and (e is own or e.__cause__ is own):
            raise own from None
        raise


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
    _check_callable(fun, "minimize")
    _check_method(method, "minimize", "_minimize", "MINIMIZE_METHODS")
    problem = _Problem("minimize", "min", fun, args)
    packed = _pack(problem)
    x0, theta = _same_device(_start("minimize", x0), packed)
    if bounds is not None:
        _check_bounds(bounds, x0)
    if jac is True:
        problem.pair = True
        if theta is not None:  # the derivative in args differentiates fun itself: its gradient
            jac = None         # comes from tensorgrad too
    _first_value(problem, x0, theta)
    so = _scipy_optimize()
    on_gpu = type(x0) is _CUPY_ARRAY
    own = on_gpu or so is None
    if method is None:
        method = "L-BFGS-B" if bounds is not None else "BFGS"
    if own:
        if not isinstance(method, str) or method.upper() != "BFGS" or bounds is not None:
            where = "on the cuda device" if on_gpu else "without SciPy"
            raise NotImplementedError(
                f"minimize: method {method!r}{' with bounds' if bounds is not None else ''} is "
                f"not available {where}: tensorgrad's own solver is BFGS without bounds "
                "(SciPy's methods run on host arrays when SciPy is installed)")
        problem.solver = lambda f, x: _own_bfgs(f, x, tol, options, problem, jac, callback)
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
    # parameters moved to x0's device: the value with the moved ones (still on their tape)
    res["fun"] = problem.call(x, None if theta is packed else theta)
    return res


def _check_bounds(bounds, x):
    """``bounds`` of ``minimize``: one (low, high) pair per component of ``x`` (None: no
    bound), or a ``scipy.optimize.Bounds`` whose ends broadcast to ``x``; low <= high."""
    n = x.size
    if hasattr(bounds, "lb") and hasattr(bounds, "ub"):
        lo, hi = np.asarray(bounds.lb, dtype=float), np.asarray(bounds.ub, dtype=float)
        if any(a.ndim > 1 or a.size not in (1, n) for a in (lo, hi)):
            raise ValueError(f"minimize: Bounds with lb of shape {lo.shape} and ub of shape "
                             f"{hi.shape} do not fit x0 of shape {tuple(x.shape)}")
    else:
        try:
            pairs = list(bounds)
        except TypeError:
            raise TypeError(f"minimize: bounds must be a sequence of (low, high) pairs or a "
                            f"scipy.optimize.Bounds, got {_kind(bounds)}") from None
        if len(pairs) != n:
            raise ValueError(f"minimize: bounds must have one (low, high) pair per component, "
                             f"got {len(pairs)} for x0 of shape {tuple(x.shape)}")
        lo, hi = [], []
        for k, p in enumerate(pairs):
            ok = isinstance(p, (tuple, list)) and len(p) == 2 and all(
                e is None or isinstance(e, numbers.Real) or
                (hasattr(e, "shape") and math.prod(e.shape) == 1) for e in p)
            if not ok:
                raise TypeError(f"minimize: bounds[{k}] must be a (low, high) pair of numbers "
                                f"or None, got {p!r}")
            lo.append(-math.inf if p[0] is None else float(p[0]))
            hi.append(math.inf if p[1] is None else float(p[1]))
        lo, hi = np.asarray(lo), np.asarray(hi)
    if np.any(lo > hi):
        k = int(np.argmax(np.broadcast_to(lo > hi, (n,))))
        raise ValueError(f"minimize: bounds[{k}] has its low end above its high end "
                         f"(lb {lo.tolist()}, ub {hi.tolist()})")


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
    return _root("root", fun, x0, args, method, jac, tol, callback, options)


def _root(op, fun, x0, args, method, jac, tol, callback, options):
    if not isinstance(args, tuple):
        args = (args,)
    _check_callable(fun, op)
    _check_method(method, op, "_root", "ROOT_METHODS")
    problem = _Problem(op, "root", fun, args)
    x0, theta = _same_device(_start(op, x0), _pack(problem))
    _first_value(problem, x0, theta)
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
    res = _root("fsolve", func, x0, args, "hybr", fprime, None, None,
                {"xtol": xtol, "maxiter": maxfev or None} if own else options)
    if full_output:
        info = {k: v for k, v in res.items() if k not in ("x", "success", "status", "message")}
        return res.x, info, res.status, res.message
    return res.x


# ---- scalar problems -----------------------------------------------------------------------------
class RootResults:
    """SciPy's ``RootResults``: ``root``, ``iterations``, ``function_calls``, ``converged``,
    ``flag``, ``method``."""

    def __init__(self, root, iterations, function_calls, converged, flag, method):
        self.root, self.iterations, self.function_calls = root, iterations, function_calls
        self.converged, self.flag, self.method = converged, flag, method

    def __repr__(self):
        return (f"      converged: {self.converged}\n           flag: {self.flag}\n"
                f" function_calls: {self.function_calls}\n     iterations: {self.iterations}\n"
                f"           root: {self.root!r}\n         method: {self.method}")


def _on_line(f, op, shape=(1,), name="f"):
    """A scalar function ``f(t, *args)`` as one of a vector of length 1 (its value of
    ``shape``: (1,) for a root, () for a minimum)."""
    def fv(x, *args):
        v = f(x[0], *args)
        got = _value_shape(v, op, name)
        if got is not None and math.prod(got) != 1:
            raise ValueError(f"{op}: {name} must return a scalar, got shape {got}")
        return tnp.reshape(v, shape)
    return fv


def _scalar_arg(value, op, name):
    """``value`` (a number, or a one-element array or Tensor) as a float."""
    v = _raw(value)
    if isinstance(v, numbers.Real) and not isinstance(v, bool):
        return float(v)
    if hasattr(v, "shape") and hasattr(v, "dtype") and v.dtype.kind in "biuf":
        if math.prod(v.shape) != 1:
            raise ValueError(f"{op}: {name} must be a single number, got shape "
                             f"{tuple(v.shape)} (a vector of unknowns is root()'s)")
        return float(v.reshape(()))
    raise TypeError(f"{op}: {name} must be a real number, got {_kind(v)}")


def _interval(value, op, name, sizes=(2,)):
    """``bracket``/``bounds``: a sequence of ``sizes`` numbers, as floats."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise TypeError(f"{op}: {name} must be a sequence of {' or '.join(map(str, sizes))} "
                        f"numbers, got {_kind(value)}")
    if len(value) not in sizes:
        raise ValueError(f"{op}: {name} must have {' or '.join(map(str, sizes))} numbers, got "
                         f"{len(value)}: {value!r}")
    return tuple(_scalar_arg(v, op, f"{name}[{k}]") for k, v in enumerate(value))


def _scalar_start(problem, theta, x0):
    """The length-1 starting vector, on the device of the parameters (host when none)."""
    like = _raw(theta) if theta is not None else next(
        (a for a in problem.args if type(a) is _CUPY_ARRAY), None)
    xp = np if like is None else xp_of(like)
    return xp.asarray([0.0 if x0 is None else _scalar_arg(x0, problem.op, "x0")])


def _scalar(x, theta):
    """The 0-d answer: a Tensor on the tape of ``theta``; for plain parameters a Python float
    (as SciPy gives), or a 0-d CuPy array where they live on a GPU."""
    if theta is not None:
        return tnp.reshape(x, ())
    if type(x) is _CUPY_ARRAY:
        return x.reshape(())
    return float(x[0])


def _host_scalar_fn(f, like, op=None):
    """``t -> float(f([t]))`` for SciPy's scalar solvers: the one number crosses to the host
    (an explicit copy), where the parameters may live on a GPU. With ``op`` (root finding), a
    NaN value is an error naming ``op`` and the point, as SciPy's brentq reports it."""
    xp = xp_of(like)
    if op is None:
        return lambda t: float(f(xp.asarray([t], dtype=like.dtype))[0])

    def fn(t):
        v = float(f(xp.asarray([t], dtype=like.dtype))[0])
        if v != v:
            raise ValueError(f"{op}: f returned NaN at x = {t}; the solver cannot continue")
        return v

    return fn


def _derivative_on_line(f, like, order=1):
    """``t -> float(d^order/dt^order f([t]))`` with tensorgrad's exact derivatives."""
    xp = xp_of(like)

    def g(t):
        return f(tnp.reshape(t, (1,)))[0]

    for _ in range(order):
        g = grad(g)
    return lambda t: float(_raw(g(xp.asarray(t, dtype=like.dtype))))


def root_scalar(f, args=(), method=None, bracket=None, fprime=None, fprime2=None, x0=None,
                x1=None, xtol=None, rtol=None, maxiter=None, options=None):
    """SciPy's ``root_scalar``; ``.root`` is differentiable in the Tensors of ``args`` (see the
    module: ``dx/dtheta = -(df/dtheta) / (df/dx)``). SciPy's solvers run on the host (the
    parameters may live on a GPU: each evaluation copies one number back); where ``x0`` is
    given without a bracket or a method, Newton's method runs with tensorgrad's exact
    derivative. Without SciPy: bisection in a bracket, else Newton."""
    return _root_scalar("root_scalar", f, args, method, bracket, fprime, fprime2, x0, x1, xtol,
                        rtol, maxiter, options)


_BRACKETING = ("bisect", "brentq", "brenth", "ridder", "toms748")


def _root_scalar(op, f, args, method, bracket, fprime, fprime2, x0, x1, xtol, rtol, maxiter,
                 options):
    if not isinstance(args, tuple):
        args = (args,)
    _check_callable(f, op, "f")
    _check_method(method, op, "_root_scalar", "ROOT_SCALAR_METHODS")
    if bracket is None and x0 is None:
        raise ValueError(f"{op}: give a bracket [a, b] or a starting point x0")
    if bracket is not None:
        bracket = _interval(bracket, op, "bracket")
    if x0 is not None:
        x0 = _scalar_arg(x0, op, "x0")
    if x1 is not None:
        x1 = _scalar_arg(x1, op, "x1")
    problem = _Problem(op, "root", _on_line(f, op), args)
    theta = _pack(problem)
    start = _scalar_start(problem, theta, x0 if x0 is not None else
                          None if bracket is None else bracket[0])
    _first_value(problem, start, theta)
    so = _scipy_optimize()

    def signs(fn):
        """The error for a bracket without a sign change (None where it has one)."""
        (a, b), fa, fb = bracket, fn(bracket[0]), fn(bracket[1])
        if fa * fb > 0:
            return ValueError(f"{op}: f(a) and f(b) must have different signs, got "
                              f"f({a}) = {fa} and f({b}) = {fb} for the bracket [{a}, {b}]")
        return None

    def solver(fv, x):
        fn = _host_scalar_fn(fv, x, op)
        m = method or ("brentq" if bracket is not None else "newton")
        if so is None:
            wrong = signs(fn) if bracket is not None else None
            if wrong is not None:
                raise wrong
            t, it, calls = _own_scalar_root(fn, _derivative_on_line(fv, x), bracket, x0, xtol,
                                            maxiter)
            problem.info = {"iterations": it, "function_calls": calls, "converged": True,
                            "flag": "converged", "method": "bisect" if bracket else "newton"}
            return xp_of(x).asarray([t], dtype=x.dtype)
        kw = {k: v for k, v in (("bracket", bracket), ("x0", x0), ("x1", x1), ("xtol", xtol),
                                ("rtol", rtol), ("maxiter", maxiter), ("options", options))
              if v is not None}
        if m in ("newton", "halley"):
            kw["fprime"] = fprime or _derivative_on_line(fv, x)
        if m == "halley":
            kw["fprime2"] = fprime2 or _derivative_on_line(fv, x, 2)
        try:
            r = so.root_scalar(fn, method=m, **kw)
        except ValueError as e:
            # SciPy's message names neither the function nor the values: ours does
            wrong = signs(fn) if bracket is not None and m in _BRACKETING else None
            if wrong is not None:
                raise wrong from e
            raise
        problem.info = {"iterations": r.iterations, "function_calls": r.function_calls,
                        "converged": r.converged, "flag": r.flag, "method": m}
        return xp_of(x).asarray([r.root], dtype=x.dtype)

    problem.solver = solver
    x = _finish(problem, start, theta)
    i = problem.info
    return RootResults(_scalar(x, theta), i["iterations"], i["function_calls"], i["converged"],
                       i["flag"], i["method"])


def _converged(r, op, disp):
    """``r.root``; with ``disp`` a RuntimeError where the solver did not converge (SciPy's
    ``disp=True``)."""
    if disp and not r.converged:
        raise RuntimeError(f"{op}: failed to converge after {r.iterations} iterations "
                           f"({r.flag}); the last value is {float(_raw(r.root))}")
    return r.root


def _own_scalar_root(fn, dfn, bracket, x0, xtol, maxiter):
    """Bisection in ``bracket`` (to rounding), else Newton from ``x0``: (root, iterations,
    function calls)."""
    maxiter = maxiter or 200
    if bracket is not None:
        a, b = map(float, bracket)
        fa = fn(a)
        for k in range(maxiter):
            m = 0.5 * (a + b)
            fm = fn(m)
            if fm == 0 or b - a <= (xtol or 2e-12) + 4 * np.finfo(float).eps * abs(m):
                return m, k + 1, k + 3
            a, fa, b = (m, fm, b) if fa * fm > 0 else (a, fa, m)
        return 0.5 * (a + b), maxiter, maxiter + 2
    t = float(x0)
    for k in range(maxiter):
        step = fn(t) / dfn(t)
        t -= step
        if abs(step) <= (xtol or 1e-12) * (1 + abs(t)):
            return t, k + 1, 2 * (k + 1)
    return t, maxiter, 2 * maxiter


def brentq(f, a, b, args=(), xtol=2e-12, rtol=8.881784197001252e-16, maxiter=100,
           full_output=False, disp=True):
    """SciPy's ``brentq``: the root in [a, b], differentiable in the Tensors of ``args``
    (``full_output=True``: ``(root, RootResults)``)."""
    r = _root_scalar("brentq", f, args, "brentq", (a, b), None, None, None, None, xtol, rtol,
                     maxiter, None)
    root = _converged(r, "brentq", disp)
    return (root, r) if full_output else root


def newton(func, x0, fprime=None, args=(), tol=1.48e-08, maxiter=50, fprime2=None, *,
           disp=True):
    """SciPy's ``newton`` for a scalar ``x0``: Newton's method with ``fprime`` (tensorgrad's
    exact derivative when not given), differentiable in the Tensors of ``args``. As SciPy's,
    ``disp=True`` raises RuntimeError where it does not converge (a zero derivative, or
    ``maxiter`` reached)."""
    if x0 is None:
        raise TypeError("newton: x0 must be a number, got None")
    r = _root_scalar("newton", func, args, "newton", None, fprime, None, x0, None, tol, None,
                     maxiter, None)
    return _converged(r, "newton", disp)


def minimize_scalar(fun, bracket=None, bounds=None, args=(), method=None, tol=None,
                    options=None):
    """SciPy's ``minimize_scalar`` (SciPy's Brent, golden or bounded search on the host);
    ``res.x`` and ``res.fun`` are differentiable in the Tensors of ``args``. With ``bounds``,
    a minimum on a bound (the derivative pointing outward there) stays on it."""
    if not isinstance(args, tuple):
        args = (args,)
    so = _scipy_optimize()
    if so is None:
        raise NotImplementedError("minimize_scalar needs SciPy (pip install 'tensorgrad[scipy]'); "
                                  "minimize() runs tensorgrad's own BFGS without it")
    op = "minimize_scalar"
    _check_callable(fun, op)
    _check_method(method, op, "_minimize", "MINIMIZE_SCALAR_METHODS")
    if bounds is not None:
        bounds = _interval(bounds, op, "bounds")
        if bounds[0] > bounds[1]:
            raise ValueError(f"{op}: bounds {bounds}: the lower bound exceeds the upper one")
    if bracket is not None:
        bracket = _interval(bracket, op, "bracket", (2, 3))
    problem = _Problem(op, "min", _on_line(fun, op, (), "fun"), args)
    theta = _pack(problem)
    start = _scalar_start(problem, theta, 0.5 * (bounds[0] + bounds[1]) if bounds is not None
                          else None if bracket is None else bracket[0])
    _first_value(problem, start, theta)

    def solver(fv, x):
        fn = _host_scalar_fn(lambda z: tnp.reshape(fv(z), (1,)), x)
        r = so.minimize_scalar(fn, bracket=bracket, bounds=bounds, method=method, tol=tol,
                               options=options)
        problem.info = {k: v for k, v in dict(r).items() if k not in ("x", "fun")}
        return xp_of(x).asarray([r.x], dtype=x.dtype)

    problem.solver = solver
    if bounds is not None and theta is not None:
        x_raw = _solve(problem, start, theta)
        t = float(x_raw[0])
        slope = _derivative_on_line(lambda z: tnp.reshape(problem.call(z, _raw(theta)), (1,)),
                                    x_raw)(t)
        lo, hi = map(float, bounds)
        near = 1e-5 * (1 + max(abs(lo), abs(hi)))
        problem.active = xp_of(x_raw).asarray(
            [(t - lo <= near and slope > 0) or (hi - t <= near and slope < 0)])
        problem.solver = lambda f, x: x_raw
    x = _finish(problem, start, theta)
    res = OptimizeResult(problem.info)
    res["x"] = _scalar(x, theta)
    value = problem.call(x, None)
    res["fun"] = value if theta is not None or type(_raw(value)) is _CUPY_ARRAY else \
        float(_raw(value))
    return res
