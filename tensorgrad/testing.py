"""Finite-difference checks: autograd's ``check_grads`` and PyTorch's ``gradcheck``."""

import numpy as np

from .autograd.tree import flatten
from .backend.device import _CUPY_ARRAY, to_host, xp_of
from .tensor import Tensor

EPS = 1e-6
RTOL = 1e-5
ATOL = 1e-6


class GradcheckError(RuntimeError):
    """A derivative that disagrees with central finite differences."""


def _raw(x):
    while isinstance(x, Tensor) and x._level:
        x = x._primal
    if isinstance(x, Tensor):
        return x.data
    return x if isinstance(x, (np.ndarray, _CUPY_ARRAY)) else np.asarray(x)


def _randn_like(x, rng):
    """A random direction shaped like ``x``, on ``x``'s device (drawn on the host, so that
    every device sees the same numbers)."""
    a = _raw(x)
    v = rng.standard_normal(a.shape)
    if a.dtype.kind == "c":
        v = v + 1j * rng.standard_normal(a.shape)
    return xp_of(a).asarray(v)


def _conj(a):
    return a.conj() if a.dtype.kind == "c" else a


def _inner(a, b):
    """The real inner product autograd uses: Re(sum(conj(a) * b)), computed on the host."""
    return float(np.real(np.vdot(to_host(_raw(a)).ravel(), to_host(_raw(b)).ravel())))


def _name(f):
    return getattr(f, "__name__", repr(f))


def _flat_output(f):
    """``f`` whose (possibly tuple) output becomes one flat array, so that any output can be
    checked with one cotangent."""
    from . import numpy as tnp

    def g(*args):
        out = f(*args)
        if isinstance(out, (tuple, list, dict)):
            leaves, _ = flatten(out)
            return tnp.concatenate([tnp.ravel(tnp.asarray(o)) for o in leaves])
        return out

    g.__name__ = _name(f)
    return g


def _check_jvp(f, args, rng, eps):
    from .autograd.functional import jvp

    dirs = [_randn_like(a, rng) for a in args]
    _, exact = jvp(f, tuple(args), tuple(dirs))
    plus = f(*[_raw(a) + eps * d for a, d in zip(args, dirs)])
    minus = f(*[_raw(a) - eps * d for a, d in zip(args, dirs)])
    numeric = (_raw(plus) - _raw(minus)) / (2 * eps)
    exact, numeric = to_host(_raw(exact)), to_host(numeric)
    if not np.allclose(exact, numeric, rtol=RTOL, atol=ATOL):
        raise AssertionError(
            f"check_grads: forward mode of {_name(f)} disagrees with finite differences:\n"
            f"  jvp     {exact.ravel()[:6]}\n"
            f"  numeric {numeric.ravel()[:6]}")


def _check_vjp(f, args, rng, eps):
    from .autograd.functional import vjp

    value, vjp_fn = vjp(f, *args)
    w = _randn_like(value, rng)
    cot = vjp_fn(_conj(w))
    dirs = [_randn_like(a, rng) for a in args]
    plus = f(*[_raw(a) + eps * d for a, d in zip(args, dirs)])
    minus = f(*[_raw(a) - eps * d for a, d in zip(args, dirs)])
    numeric = _inner(w, (_raw(plus) - _raw(minus)) / (2 * eps))
    exact = sum(_inner(d, _conj(_raw(c))) for d, c in zip(dirs, cot))
    if not np.isclose(exact, numeric, rtol=RTOL, atol=ATOL):
        raise AssertionError(
            f"check_grads: reverse mode of {_name(f)} disagrees with finite differences: "
            f"<v, J^T w> = {exact!r} but the numeric value is {numeric!r}")


def check_grads(f, modes=("fwd", "rev"), order=2, eps=EPS, seed=0, argnum=None):
    """``check_grads(f, modes=("fwd", "rev"), order=2)(*args)`` checks ``f``'s derivatives
    with respect to all its arguments (or those in ``argnum``) against central finite
    differences, in random directions, and recursively the derivatives of those derivatives up
    to ``order``. Arguments may be containers (lists, tuples, dicts) of arrays.

    >>> import tensorgrad as tg, tensorgrad.numpy as tnp
    >>> tg.check_grads(tnp.sin, order=2)(tnp.array([0.1, 0.2]))
    """
    for m in modes:
        if m not in ("fwd", "rev"):
            raise ValueError(f"check_grads: unknown mode {m!r}; use 'fwd' and/or 'rev'")

    def checker(*args):
        rng = np.random.default_rng(seed)
        nums = range(len(args)) if argnum is None else (
            argnum if isinstance(argnum, (tuple, list)) else (argnum,))
        chosen = [args[i] for i in nums]
        leaves, rebuild = flatten(chosen)  # containers are checked leaf by leaf

        def on_leaves(*xs):
            full = list(args)
            for i, v in zip(nums, rebuild(list(xs))):
                full[i] = v
            return f(*full)

        on_leaves.__name__ = _name(f)
        g = _flat_output(on_leaves)
        home = None
        for k, a in enumerate(leaves):
            if isinstance(a, Tensor):
                continue
            if not hasattr(a, "shape"):  # a number: an array where the other arguments live
                home = _home_xp(args) if home is None else home
                a = home.asarray(a)
            leaves[k] = _float64(_raw(a))
        _check_recursive(g, leaves, modes, order, rng, eps, _name(f), order)

    return checker


def _home_xp(args):
    """The array module of the first device array among ``args`` (NumPy if none)."""
    leaves, _ = flatten(list(args))
    for a in leaves:
        r = _raw(a) if isinstance(a, Tensor) or hasattr(a, "shape") else None
        if type(r) is _CUPY_ARRAY:
            return xp_of(r)
    return np


def _float64(a):
    """``a`` on its device, in at least double precision (finite differences need it)."""
    return a.astype(np.result_type(a.dtype, np.float64), copy=False)


def _check_recursive(f, args, modes, order, rng, eps, name, top):
    from .autograd.functional import jvp, vjp

    level = top - order + 1
    if "fwd" in modes:
        try:
            _check_jvp(f, args, rng, eps)
        except AssertionError as e:
            raise AssertionError(f"{e}\n  (function {name}, mode fwd, order {level})") from None
        if order > 1:
            dirs = [_randn_like(a, rng) for a in args]
            n = len(args)

            def jvp_f(*xs_vs):
                return jvp(f, tuple(xs_vs[:n]), tuple(xs_vs[n:]))[1]

            jvp_f.__name__ = f"jvp_{name}"
            _check_recursive(jvp_f, list(args) + dirs, modes, order - 1, rng, eps, name, top)
    if "rev" in modes:
        try:
            _check_vjp(f, args, rng, eps)
        except AssertionError as e:
            raise AssertionError(f"{e}\n  (function {name}, mode rev, order {level})") from None
        if order > 1:
            w = _randn_like(f(*args), rng)

            def vjp_f(*xs_w):
                return vjp(f, *xs_w[:-1])[1](xs_w[-1])

            vjp_f.__name__ = f"vjp_{name}"
            _check_recursive(_flat_output(vjp_f), list(args) + [w], modes, order - 1, rng, eps,
                             name, top)


def gradcheck(func, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """PyTorch's gradcheck: the Jacobian from the backward pass against central differences
    for every input tensor that requires grad. Returns True, or raises GradcheckError.

    >>> import tensorgrad as tg
    >>> x = tg.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    >>> tg.gradcheck(lambda x: (x * x).sum(), (x,))
    True
    """
    from .autograd.functional import autograd_grad
    from .autograd.grad_mode import no_grad

    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    wrt = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]

    def outputs(args):
        out = func(*args)
        return list(out) if isinstance(out, (tuple, list)) else [out]

    outs = outputs(inputs)
    for oi, out in enumerate(outs):
        for i in wrt:
            x = inputs[i]
            # the Jacobians are assembled on the host; seeds and steps stay on x's device
            xp = xp_of(out.data)
            analytic = np.zeros((out.data.size, x.data.size), dtype=np.result_type(
                out.data.dtype, x.data.dtype))
            for k in range(out.data.size):
                seed = xp.zeros(out.data.size, dtype=out.data.dtype)
                seed[k] = 1
                fresh = outputs(inputs)[oi]
                g, = autograd_grad(fresh, [x], grad_outputs=Tensor(seed.reshape(out.shape)),
                                   allow_unused=True)
                if g is not None:
                    analytic[k] = to_host(g.data).ravel()
            numeric = np.zeros_like(analytic)
            data = x.data  # perturbed in place, element by element (a view may be strided)
            with no_grad():
                for j, at in enumerate(np.ndindex(*data.shape)):
                    old = data[at].copy()  # a CuPy 0-d index is a view, not a scalar
                    data[at] = old + eps
                    plus = to_host(outputs(inputs)[oi].data).astype(analytic.dtype).ravel()
                    data[at] = old - eps
                    minus = to_host(outputs(inputs)[oi].data).astype(analytic.dtype).ravel()
                    data[at] = old
                    numeric[:, j] = (plus - minus) / (2 * eps)
            if not np.allclose(analytic, numeric, rtol=rtol, atol=atol):
                if not raise_exception:
                    return False
                raise GradcheckError(
                    f"gradcheck: Jacobian mismatch for output {oi} with respect to input {i} "
                    f"of {_name(func)}:\nanalytic:\n{analytic}\nnumeric:\n{numeric}")
    return True
