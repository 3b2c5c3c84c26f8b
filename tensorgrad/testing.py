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


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
              nondet_tol=0.0, check_undefined_grad=True, check_grad_dtypes=False,
              check_batched_grad=False, check_batched_forward_grad=False,
              check_forward_ad=False, check_backward_ad=True, fast_mode=False, masked=None):
    """PyTorch's gradcheck: the Jacobians of ``func`` with respect to every input tensor that
    requires grad, from the backward pass (``check_backward_ad``) and from forward-mode duals
    (``check_forward_ad``), against central differences. Returns True, or raises
    GradcheckError (returns False with ``raise_exception=False``).

    ``check_grad_dtypes`` also requires each gradient to have its input's dtype. There are no
    undefined gradients or sparse/masked tensors here, so ``check_undefined_grad`` and
    ``masked`` change nothing; ``fast_mode`` runs the full check (stricter, slower);
    ``nondet_tol`` is accepted (the backward pass is deterministic). Batched checks are not
    supported.

    >>> import tensorgrad as tg
    >>> x = tg.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    >>> tg.gradcheck(lambda x: (x * x).sum(), (x,))
    True
    """
    if check_batched_grad or check_batched_forward_grad:
        raise NotImplementedError("gradcheck: check_batched_grad and check_batched_forward_grad "
                                  "are not supported")
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    wrt = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not wrt:
        raise ValueError("gradcheck: expected at least one input tensor to require gradient, "
                         "but none of them have requires_grad=True")

    def outputs(args):
        out = func(*args)
        return list(out) if isinstance(out, (tuple, list)) else [out]

    def fail(text):
        if raise_exception:
            raise GradcheckError(f"gradcheck: {text}")
        return False

    outs = outputs(inputs)
    for i in wrt:
        numeric = _numeric_jacobians(outputs, inputs, i, eps)
        checks = []
        if check_backward_ad:
            checks.append(("backward", _reverse_jacobians(outputs, inputs, i, check_grad_dtypes)))
        if check_forward_ad:
            checks.append(("forward", _forward_jacobians(outputs, inputs, i)))
        for mode, analytic in checks:
            if isinstance(analytic, str):
                return fail(analytic)
            for oi, (a, n) in enumerate(zip(analytic, numeric)):
                if not np.allclose(a, n, rtol=rtol, atol=atol):
                    return fail(f"Jacobian mismatch for output {oi} with respect to input {i} "
                                f"of {_name(func)} ({mode} mode, output shape "
                                f"{tuple(outs[oi].shape)}, input shape "
                                f"{tuple(inputs[i].shape)}):\nnumerical:\n{n}\n"
                                f"analytical:\n{a}")
    return True


def _jacobian_dtype(out, x):
    return np.result_type(out.data.dtype, x.data.dtype)


def _numeric_jacobians(outputs, inputs, i, eps):
    """Central differences of every output with respect to input ``i``, on the host."""
    from .autograd.grad_mode import no_grad

    x = inputs[i]
    outs = outputs(inputs)
    numeric = [np.zeros((o.data.size, x.data.size), dtype=_jacobian_dtype(o, x)) for o in outs]
    data = x.data  # perturbed in place, element by element (a view may be strided)
    with no_grad():
        for j, at in enumerate(np.ndindex(*data.shape)):
            old = data[at].copy()  # a CuPy 0-d index is a view, not a scalar
            data[at] = old + eps
            plus = outputs(inputs)
            data[at] = old - eps
            minus = outputs(inputs)
            data[at] = old
            for J, p, m in zip(numeric, plus, minus):
                p = to_host(_raw(p)).astype(J.dtype).ravel()
                m = to_host(_raw(m)).astype(J.dtype).ravel()
                J[:, j] = (p - m) / (2 * eps)
    return numeric


def _reverse_jacobians(outputs, inputs, i, check_grad_dtypes):
    """Row by row from the backward pass (one seed per output element); a string on a dtype
    mismatch."""
    from .autograd.functional import autograd_grad

    x = inputs[i]
    outs = outputs(inputs)
    result = []
    for oi, out in enumerate(outs):
        J = np.zeros((out.data.size, x.data.size), dtype=_jacobian_dtype(out, x))
        xp = xp_of(out.data)  # seeds live on the output's device
        for k in range(out.data.size):
            seed = xp.zeros(out.data.size, dtype=out.data.dtype)
            seed[k] = 1
            fresh = outputs(inputs)[oi]
            if not fresh.requires_grad:
                continue  # the output does not depend on any input: a zero row
            g, = autograd_grad(fresh, [x], grad_outputs=Tensor(seed.reshape(out.shape)),
                               allow_unused=True)
            if g is None:
                continue
            if check_grad_dtypes and g.dtype != x.dtype:
                return (f"gradient for input {i} has dtype {g.dtype} but the input has dtype "
                        f"{x.dtype}")
            J[k] = to_host(_raw(g)).ravel()
        result.append(J)
    return result


def _forward_jacobians(outputs, inputs, i):
    """Column by column from forward-mode duals (one tangent per input element)."""
    from .autograd import forward_ad

    x = inputs[i]
    xp = xp_of(x.data)
    columns = None
    for j in range(x.data.size):
        e = xp.zeros(x.data.size, dtype=x.data.dtype)
        e[j] = 1
        with forward_ad.dual_level():
            args = list(inputs)
            args[i] = forward_ad.make_dual(x, Tensor(e.reshape(x.shape)))
            outs = outputs(args)
            if columns is None:
                columns = [np.zeros((o.data.size, x.data.size), dtype=_jacobian_dtype(o, x))
                           for o in outs]
            for J, o in zip(columns, outs):
                t = forward_ad.unpack_dual(o).tangent
                if t is not None:
                    J[:, j] = to_host(_raw(t)).ravel()
    return columns


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3,
                  gen_non_contig_grad_outputs=False, raise_exception=True, nondet_tol=0.0,
                  check_undefined_grad=True, check_grad_dtypes=False, check_batched_grad=False,
                  check_fwd_over_rev=False, check_rev_over_rev=True, fast_mode=False,
                  masked=False):
    """PyTorch's gradgradcheck: ``gradcheck`` of the function ``(inputs, grad_outputs) ->
    autograd.grad(func(inputs), inputs, grad_outputs, create_graph=True)``, that is of the
    second derivatives (reverse over reverse, and forward over reverse with
    ``check_fwd_over_rev``). ``grad_outputs`` default to random float64-like tensors that
    require grad, on the outputs' devices.

    >>> import tensorgrad as tg
    >>> x = tg.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    >>> tg.autograd.gradgradcheck(lambda x: (x ** 3).sum(), (x,))
    True
    """
    from .autograd.functional import autograd_grad
    from .autograd.grad_mode import enable_grad

    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    wrt = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]

    def as_list(out):
        return list(out) if isinstance(out, (tuple, list)) else [out]

    outs = as_list(func(*inputs))
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = [Tensor(_randn_like(o, rng).astype(o.data.dtype), requires_grad=True)
                        for o in outs]
    else:
        grad_outputs = as_list(grad_outputs)
    n = len(inputs)

    def new_func(*args):
        ins, seeds = args[:n], args[n:]
        with enable_grad():  # the finite differences evaluate it under no_grad
            outs = as_list(func(*ins))
            keep = [k for k, o in enumerate(outs) if o.requires_grad or o._level]
            grads = autograd_grad([outs[k] for k in keep], [ins[i] for i in wrt],
                                  grad_outputs=[seeds[k] for k in keep], create_graph=True,
                                  allow_unused=True)
        return tuple(g for g in grads if g is not None)

    new_func.__name__ = f"grad of {_name(func)}"
    return gradcheck(new_func, inputs + tuple(grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception, nondet_tol=nondet_tol,
                     check_undefined_grad=check_undefined_grad,
                     check_grad_dtypes=check_grad_dtypes, check_batched_grad=check_batched_grad,
                     check_forward_ad=check_fwd_over_rev, check_backward_ad=check_rev_over_rev,
                     fast_mode=fast_mode, masked=masked)


from ._testing_torch import assert_allclose, assert_close, make_tensor  # noqa: E402,F401
