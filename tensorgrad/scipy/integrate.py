"""``tensorgrad.scipy.integrate``: ``odeint``, differentiable with respect to the initial
state, the times and the arguments of the dynamics (HIPS autograd's ``autograd.scipy.integrate``).

The forward pass is ``scipy.integrate.odeint`` (LSODA). Its derivative is the adjoint method, as
autograd computes it: the system augmented with the cotangents of the state, the time and the
flattened arguments is integrated backwards between consecutive output times (Froehlich et
al. 2017, Sec. 2.4.2), with the dynamics' own vector-Jacobian products. The rule is written
with tensorgrad's functions, so derivatives of higher order go through it as well.

On the GPU the step-size control runs on the host and each evaluation of the dynamics runs on
the device: the state is copied there and the derivative back, explicitly, once per call.

>>> import numpy as np
>>> import tensorgrad as tg
>>> def decay(y, t, k):
...     return -k * y
>>> def final(k):
...     return odeint(decay, np.array([1.0]), np.array([0.0, 1.0]), (k,))[-1, 0]
>>> round(float(tg.grad(final)(2.0)), 6)  # d/dk exp(-k) at k = 2
-0.135335
"""

from .. import numpy as tnp
from ..backend.device import CPU, device_of, to_host
from ..misc.flatten import flatten
from ..ops.registry import defvjp, primitive
from ..tensor import Tensor
from ..tensor import keep_array as _as_array


def odeint(func, y0, t, args=(), **kwargs):
    """``scipy.integrate.odeint(func, y0, t, args, **kwargs)``: the states at the times ``t``
    (shape ``(len(t), len(y0))``) of ``dy/dt = func(y, t, *args)``, differentiable in ``y0``,
    ``t`` and the arrays (nested in lists, tuples or dicts) of ``args``."""
    if not isinstance(args, tuple):
        args = (args,)
    y0, t = _as_array(y0), _as_array(t)
    if y0.ndim != 1 or t.ndim != 1:
        raise ValueError(f"odeint: y0 and t must be 1-d, got y0 {tuple(y0.shape)} and t "
                         f"{tuple(t.shape)}")
    flat_args, unflatten = flatten(args)
    inputs = (y0, t, flat_args)
    if kwargs.get("full_output") and any(isinstance(a, Tensor) for a in inputs):
        raise ValueError("odeint: full_output=True has no derivative; call it on values "
                         "(detach the tensors) or leave full_output out")
    needed = {i for i, a in enumerate(inputs) if isinstance(a, Tensor) and a.requires_grad}
    return _odeint(y0, t, flat_args, func=func, unflatten=unflatten, options=kwargs,
                   memo={"needed": needed})


def _odeint_values(y0, t, flat_args, *, func, unflatten, options, memo):
    import scipy.integrate

    from ..autograd import functional

    args = unflatten(flat_args)
    dev = device_of(y0)
    # A primitive's forward sees values only, so transforms the dynamics call (the adjoint's
    # VJPs) are not nested in the caller's: they give arrays back to SciPy, not Tensors kept
    # for an enclosing reverse transform (a Hessian through odeint failed on that).
    depth = functional._rev_depth[0]
    functional._rev_depth[0] = 0
    try:
        if dev == CPU:
            return scipy.integrate.odeint(lambda y, s: func(y, s, *args), y0, t, **options)

        def host_rhs(y, s):  # LSODA steps on the host; the dynamics run on the device
            return to_host(func(dev.put(y), s, *args))

        return dev.put(scipy.integrate.odeint(host_rhs, to_host(y0), to_host(t), **options))
    finally:
        functional._rev_depth[0] = depth


_odeint = primitive(_odeint_values, name="odeint")


def _single(v):
    return (v,)


def _adjoint(g, yt, t, flat_args, func, unflatten, options):
    """(cotangent of y0, of t, of flat_args) for the cotangent ``g`` of the states ``yt``."""
    from ..autograd.functional import make_vjp

    T, D = yt.shape

    def flat_func(y, s, fa):
        return func(y, s, *unflatten(fa))

    def augmented_dynamics(state, s, fa):
        y, adj = state[:D], state[D:2 * D]
        vjp_all, dy_dt = make_vjp(flat_func, argnum=(0, 1, 2))(y, s, fa)
        vjp_y, vjp_t, vjp_args = vjp_all(-adj)
        return tnp.hstack((dy_dt, vjp_y, vjp_t, vjp_args))

    vjp_y = g[-1]
    vjp_t0 = 0.0
    time_vjps = []
    vjp_args = tnp.zeros_like(flat_args)
    args = unflatten(flat_args)
    for i in range(T - 1, 0, -1):
        vjp_cur_t = tnp.dot(func(yt[i], t[i], *args), g[i])  # moving output time i
        time_vjps.append(vjp_cur_t)
        vjp_t0 = vjp_t0 - vjp_cur_t
        aug0 = tnp.hstack((yt[i], vjp_y, vjp_t0, vjp_args))
        aug = _odeint(aug0, tnp.stack([t[i], t[i - 1]]), flat_args, func=augmented_dynamics,
                      unflatten=_single, options=options, memo={"needed": set()})[1]
        vjp_y, vjp_t0, vjp_args = aug[D:2 * D], aug[2 * D], aug[2 * D + 1:]
        vjp_y = vjp_y + g[i - 1]
    time_vjps.append(vjp_t0)
    vjp_t = tnp.hstack(time_vjps)[::-1]
    return vjp_y, vjp_t, vjp_args


def _rule(k):
    def rule(g, ans, y0, t, flat_args, *, func, unflatten, options, memo):
        # one backward integration serves the three arguments: kept until each argument that
        # needs a derivative has taken its part, then dropped (no cycle through the node)
        if memo.get("g") is not g:
            memo["g"] = g
            memo["out"] = _adjoint(g, ans, t, flat_args, func, unflatten, options)
            memo["left"] = set(memo["needed"])
        out = memo["out"][k]
        memo["left"].discard(k)
        if not memo["left"]:
            for key in ("g", "out", "left"):
                memo.pop(key, None)
        return out

    return rule


defvjp(_odeint, _rule(0), _rule(1), _rule(2))


__all__ = ["odeint"]
