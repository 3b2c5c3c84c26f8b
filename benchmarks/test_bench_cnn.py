"""W5: one SGD step of a small CNN, batch 32 of 1x28x28, float32.

conv 3x3 1->16, ReLU, conv 3x3 16->32, ReLU, global average pool, linear 32->10,
cross-entropy, SGD (lr 0.01).

- numpy: the hand-written im2col forward and backward pass of ``numpy_cnn.py`` (the floor);
- tensorgrad and torch: ``nn.Sequential(Conv2d, ReLU, Conv2d, ReLU, AdaptiveAvgPool2d(1),
  Flatten, Linear)``, ``F.cross_entropy``, ``optim.SGD``;
- JAX: ``lax.conv_general_dilated`` in a function of the parameter list, ``value_and_grad``,
  the step under ``jax.jit`` or eager.

HIPS autograd has no 2-D convolution of its own (only ``autograd.scipy.signal.convolve``,
which is not what anyone trains a CNN with), so it is not in this comparison.
"""

import numpy as np
import numpy_cnn
from harness import Workload, jax_or_none, jax_sgd_steps, optional, to_numpy
from test_bench_mlp import checked_steps, numpy_floor

import tensorgrad as tg
import tensorgrad.nn.functional as F

LR = numpy_cnn.LR


def _sequential(nn):
    c0, c1, c2 = numpy_cnn.CHANNELS
    return nn.Sequential(nn.Conv2d(c0, c1, numpy_cnn.K), nn.ReLU(),
                         nn.Conv2d(c1, c2, numpy_cnn.K), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(c2, numpy_cnn.CLASSES))


_NAMES = ("0.weight", "0.bias", "2.weight", "2.bias", "6.weight", "6.bias")


def tape_cnn(nn, optim, cross_entropy, convert, np_params, x, y):
    """tensorgrad's or torch's step: the module, its cross-entropy, its SGD."""
    model = _sequential(nn)
    model.load_state_dict({k: convert(p.copy()) for k, p in zip(_NAMES, np_params,
                                                                strict=True)})
    opt = optim.SGD(model.parameters(), lr=LR)
    x, y = convert(x), convert(y)

    def step():
        opt.zero_grad()
        loss = cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step, lambda: [p.grad for p in model.parameters()]


def jax_cnn(jax, np_params, x, y):
    import jax.numpy as jnp

    def loss_fn(params, x, y):
        w1, b1, w2, b2, w3, b3 = params
        h = x
        for w, b in ((w1, b1), (w2, b2)):
            h = jax.lax.conv_general_dilated(h, w, (1, 1), "VALID",
                                             dimension_numbers=("NCHW", "OIHW", "NCHW"))
            h = jax.nn.relu(h + b[None, :, None, None])
        z = h.mean(axis=(2, 3)) @ w3.T + b3
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(z), y[:, None], axis=1))

    return jax_sgd_steps(jax, loss_fn, np_params, x, y, LR)


def build(check=True, only=None):
    np_params = numpy_cnn.init_params()
    x, y = numpy_cnn.make_batch()
    want = (lambda name: only is None or name in only)
    impls = {}
    if want("numpy"):
        impls["numpy"] = numpy_floor(numpy_cnn, np_params, x, y)
    if want("tensorgrad"):
        impls["tensorgrad"] = tape_cnn(tg.nn, tg.optim, F.cross_entropy, tg.tensor,
                                       np_params, x, y)
    torch = optional("torch")
    if torch is not None and want("torch"):
        impls["torch"] = tape_cnn(torch.nn, torch.optim, torch.nn.functional.cross_entropy,
                                  torch.from_numpy, np_params, x, y)
    jax = jax_or_none()
    if jax is not None and (want("jax.jit") or want("jax eager")):
        impls.update({k: v for k, v in jax_cnn(jax, np_params, x, y).items() if want(k)})
    return checked_steps("CNN", impls, numpy_cnn, np_params, x, y, check)


WORKLOAD = Workload("W5", "CNN: batch 32 of 1x28x28, conv3x3 1->16, ReLU, conv3x3 16->32, "
                    "ReLU, global average pool, linear 32->10, cross-entropy, one SGD step",
                    build, rounds=21,
                    notes=["HIPS autograd has no 2-D convolution; it is not in this row."])


def test_cnn_all_agree():
    assert {"numpy", "tensorgrad"} <= set(build())


def test_cnn_floor_matches_finite_differences():
    """The hand-written im2col backward pass, in float64, against central differences of the
    loss along a random direction (guards the floor, so the comparison above means
    something)."""
    params = [p.astype(np.float64) for p in numpy_cnn.init_params()]
    x, y = numpy_cnn.make_batch(batch=3)
    x = x.astype(np.float64)
    _, grads = numpy_cnn.loss_and_grads(params, x, y)
    rng = np.random.default_rng(3)
    direction = [rng.standard_normal(p.shape) for p in params]
    eps = 1e-6

    def loss_at(t):
        return numpy_cnn.loss_and_grads([p + t * d for p, d in zip(params, direction,
                                                                   strict=True)], x, y)[0]

    numeric = (loss_at(eps) - loss_at(-eps)) / (2 * eps)
    analytic = sum(float((g * d).sum()) for g, d in zip(grads, direction, strict=True))
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6)
    assert all(to_numpy(g).dtype == np.float64 for g in grads)
