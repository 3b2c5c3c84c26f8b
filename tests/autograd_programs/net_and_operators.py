"""A small network and autograd's operators, written for HIPS autograd (run unmodified by
tests/test_autograd_hook.py under autograd and under tensorgrad's hook)."""

import autograd.numpy as np
import autograd.numpy.random as npr
from autograd import elementwise_grad, grad, hessian_vector_product, jacobian, make_ggnvp
from autograd.differential_operators import grad_named, make_jvp_reversemode
from autograd.misc.flatten import flatten
from autograd.misc.optimizers import sgd
from autograd.scipy.stats import norm

rs = npr.RandomState(3)
inputs = rs.randn(16, 2)
targets = np.sin(inputs[:, 0]) + 0.5 * inputs[:, 1]


def predict(params, x):
    for W, b in params[:-1]:
        x = np.tanh(np.dot(x, W) + b)
    W, b = params[-1]
    return np.dot(x, W)[:, 0] + b


def loss(params, i=0):
    err = predict(params, inputs) - targets
    return -np.sum(norm.logpdf(err, 0.0, 0.5))


params = [(0.5 * rs.randn(2, 6), np.zeros(6)), (0.5 * rs.randn(6, 1), 0.1)]
trained = sgd(grad(loss), params, step_size=0.002, num_iters=40, mass=0.9)
flat, unflatten = flatten(trained)
print("loss", f"{loss(trained):.10f}")
print("flat", " ".join(f"{v:.10f}" for v in flat))

x = np.linspace(-1.0, 1.0, 5)
print("ewg", " ".join(f"{v:.10f}" for v in elementwise_grad(np.tanh)(x)))
J = jacobian(lambda v: np.outer(v, v)[0])(x)
print("jac", " ".join(f"{v:.10f}" for v in np.ravel(J)))
v = rs.randn(flat.size)
flat_loss = lambda p: loss(unflatten(p))
print("hvp", " ".join(f"{v:.8f}" for v in hessian_vector_product(flat_loss)(flat, v)))
ggn = make_ggnvp(lambda w: np.tanh(w * 2.0))(x[:3])(np.array([1.0, 0.5, -1.0]))
print("ggnvp", " ".join(f"{v:.10f}" for v in ggn))
jv = make_jvp_reversemode(lambda w: np.sin(w) * w)(x)(np.ones(5))
print("jvp_rev", " ".join(f"{v:.10f}" for v in jv))


def scaled(a, b=2.0):
    return np.sum(a ** 2) * b


print("named", f"{float(grad_named(scaled, 'b')(x, 3.0)):.10f}")
