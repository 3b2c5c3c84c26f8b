"""W2: per-op overhead, a chain of 200 x ``y = tanh(y * 1.0001 + 0.1)`` on 16 float32 values.

The arrays are tiny, so the time is almost all framework overhead: building the tape on the
way forward and walking it back. N_OPS counts the primitives: 200 mul, 200 add, 200 tanh and
the final sum; times are reported per primitive op of the forward + backward pass.

- numpy: forward and backward written out by hand (the floor: 600 ufunc calls forward, 600
  back);
- tensorgrad and torch: the tape, ``.sum().backward()``;
- HIPS autograd and JAX (eager, and ``jax.jit``, which compiles the chain away): ``grad``.

The chain settles at the fixed point y = 0.61, where each step scales the gradient by about
0.63, so the gradient ends subnormal (~1e-39). That costs nothing extra on the CPU measured
(checked), and it is the same for every framework; gradients are compared relative to their
largest entry.
"""

import numpy as np
from harness import Workload, assert_close, jax_or_none, optional, to_numpy

import tensorgrad as tg

STEPS = 200
SIZE = 16
N_OPS = 3 * STEPS + 1  # mul, add, tanh per step, then the sum


def start():
    return np.linspace(-1.0, 1.0, SIZE, dtype=np.float32)


def tensorgrad_chain(x0):
    x = tg.tensor(x0, requires_grad=True)
    y = x
    for _ in range(STEPS):
        y = (y * 1.0001 + 0.1).tanh()
    y.sum().backward()
    return x.grad


def numpy_chain(x0, steps=STEPS):
    """Forward keeping each tanh, then the backward pass by hand; returns the gradient."""
    a, b = x0.dtype.type(1.0001), x0.dtype.type(0.1)
    ys = []
    y = x0
    for _ in range(steps):
        y = np.tanh(y * a + b)
        ys.append(y)
    g = np.ones_like(x0)
    for y in reversed(ys):
        g = g * (1 - y * y)
        g = g * a
    return g


def torch_chain(torch):
    def run(x0):
        x = torch.tensor(x0, requires_grad=True)
        y = x
        for _ in range(STEPS):
            y = torch.tanh(y * 1.0001 + 0.1)
        y.sum().backward()
        return x.grad
    return run


def chain_fn(np_, steps=STEPS):
    def f(x):
        y = x
        for _ in range(steps):
            y = np_.tanh(y * 1.0001 + 0.1)
        return np_.sum(y)
    return f


def build(check=True, only=None):
    fns = {"numpy": numpy_chain, "tensorgrad": tensorgrad_chain}
    torch = optional("torch")
    if torch is not None:
        fns["torch"] = torch_chain(torch)
    autograd = optional("autograd")
    if autograd is not None:
        import autograd.numpy as anp

        fns["autograd"] = autograd.grad(chain_fn(anp))
    jax = jax_or_none()
    if jax is not None:
        import jax.numpy as jnp

        g = jax.grad(chain_fn(jnp))
        jit_g = jax.jit(g)
        fns["jax.jit"] = lambda x0: jax.block_until_ready(jit_g(x0))
        fns["jax eager"] = lambda x0: jax.block_until_ready(g(x0))
    if only is not None:
        fns = {k: v for k, v in fns.items() if k in only}
    x0 = start()
    if check:
        want = numpy_chain(x0.astype(np.float64))  # the float64 hand-written gradient
        scale = float(np.abs(want).max())
        for name, fn in fns.items():
            if name.startswith("jax"):
                # XLA flushes subnormals to zero, so the 200-step gradient is 0 there: check
                # the same code (compiled or eager) on 20 steps, where the gradient is normal
                import jax.numpy as jnp

                g20 = jax.grad(chain_fn(jnp, steps=20))
                got = (jax.jit(g20) if name == "jax.jit" else g20)(x0)
                assert_close(f"W2 {name}: 20-step gradient", got,
                             numpy_chain(x0.astype(np.float64), steps=20), rtol=1e-4)
                continue
            got = fn(x0)
            assert to_numpy(got).dtype == np.float32, f"W2 {name}: gradient is {got.dtype}"
            assert_close(f"W2 {name}: gradient", got, want, rtol=1e-3, atol=1e-3 * scale)
    return {name: (lambda fn=fn: fn(x0)) for name, fn in fns.items()}


WORKLOAD = Workload("W2", f"op chain: 200 x tanh(y * 1.0001 + 0.1) on 16 float32, "
                    f"forward + backward, per primitive op ({N_OPS} ops)", build,
                    unit="op", n_ops=N_OPS, rounds=31)


def test_chain_all_agree():
    steps = build()
    assert {"numpy", "tensorgrad"} <= set(steps)


def test_chain_hand_written_gradient():
    """The floor's backward pass against central differences of a 5-step float64 chain (the
    200-step gradient is too small for finite differences to resolve)."""
    x0 = start().astype(np.float64)
    f = chain_fn(np, steps=5)
    eps = 1e-6
    numeric = np.array([(f(x0 + eps * e) - f(x0 - eps * e)) / (2 * eps) for e in np.eye(SIZE)])
    np.testing.assert_allclose(numpy_chain(x0, steps=5), numeric, rtol=1e-7)
