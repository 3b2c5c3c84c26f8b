"""W6: the Hessian of a 100-dimensional logistic-regression loss, float64.

The lecture's loss (W1) on 500 samples of 100 features: ``preds = (tanh(X w) + 1) / 2``,
``loss(w) = -sum(log(preds * t + (1 - preds) * (1 - t)))``. One call is one 100 x 100 Hessian.

- numpy: written out by hand, ``X.T @ (X * (1 - tanh(X w) ** 2)[:, None])`` (the floor: with
  p = (tanh(z) + 1) / 2 the loss is the logistic loss of 2z, whose second derivative in z is
  4 p (1 - p) = 1 - tanh(z) ** 2);
- tensorgrad and HIPS autograd: ``hessian(loss)(w)`` (tensorgrad: forward over reverse);
- torch: ``torch.func.hessian``;
- JAX: ``jax.hessian``, under ``jax.jit`` or eager.
"""

import numpy as onp
from harness import Workload, assert_close, jax_or_none, jax_variants, optional

import tensorgrad as tg
import tensorgrad.numpy as tnp

SAMPLES, DIM = 500, 100


def problem(seed=0):
    rng = onp.random.default_rng(seed)
    X = rng.standard_normal((SAMPLES, DIM)) / onp.sqrt(DIM)
    t = (rng.random(SAMPLES) < 0.5).astype(onp.float64)
    w = rng.standard_normal(DIM)
    return X, t, w


def loss_fn(np_, X, t):
    """The lecture's loss in the NumPy namespace ``np_`` (tnp, autograd.numpy, jax.numpy,
    torch), with the data ``X``, ``t`` already in that library's arrays."""
    def loss(w):
        preds = 0.5 * (np_.tanh(X @ w) + 1)
        return -np_.sum(np_.log(preds * t + (1 - preds) * (1 - t)))
    return loss


def hand_written(X):
    def hessian(w):
        th = onp.tanh(X @ w)
        return X.T @ (X * (1 - th * th)[:, None])
    return hessian


def build(check=True, only=None):
    X, t, w = problem()
    fns = {"numpy": hand_written(X), "tensorgrad": tg.hessian(loss_fn(tnp, X, t))}
    torch = optional("torch")
    if torch is not None:
        fns["torch"] = torch.func.hessian(loss_fn(torch, torch.from_numpy(X),
                                                  torch.from_numpy(t)))
    autograd = optional("autograd")
    if autograd is not None:
        import autograd.numpy as anp

        fns["autograd"] = autograd.hessian(loss_fn(anp, X, t))
    jax = jax_or_none()
    if jax is not None:
        import jax.numpy as jnp

        fns.update(jax_variants(jax, jax.hessian(loss_fn(jnp, jnp.asarray(X),
                                                         jnp.asarray(t)))))
    if only is not None:
        fns = {k: v for k, v in fns.items() if k in only}
    args = {name: w for name in fns}
    if "torch" in fns:
        args["torch"] = torch.from_numpy(w)
    if check:
        want = hand_written(X)(w)
        for name, fn in fns.items():
            assert_close(f"W6 {name}: Hessian", fn(args[name]), want, rtol=1e-9, atol=1e-12)
    return {name: (lambda fn=fn, a=args[name]: fn(a)) for name, fn in fns.items()}


WORKLOAD = Workload("W6", f"Hessian of a {DIM}-dimensional logistic-regression loss "
                    f"({SAMPLES} samples), float64", build, unit="Hessian", rounds=21)


def test_hessian_all_agree():
    assert {"numpy", "tensorgrad"} <= set(build())


def test_hand_written_hessian_matches_finite_differences():
    """The floor, against central differences of the hand-written gradient."""
    X, t, w = problem()
    X, w = X[:50, :6], w[:6]
    t = t[:50]

    def gradient(w):
        th = onp.tanh(X @ w)
        q = 0.5 * (th + 1) * t + (1 - 0.5 * (th + 1)) * (1 - t)
        return X.T @ ((-0.5 / q) * (2 * t - 1) * (1 - th * th))

    eps = 1e-6
    numeric = onp.stack([(gradient(w + eps * e) - gradient(w - eps * e)) / (2 * eps)
                         for e in onp.eye(6)])
    assert_close("hand-written Hessian", hand_written(X)(w), numeric, rtol=1e-6, atol=1e-9)
