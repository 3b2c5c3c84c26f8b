import sys

import autograd.numpy as np
import autograd.numpy.random as npr
from autograd import grad, hessian
from autograd.builtins import isinstance as ag_isinstance
from autograd.extend import defvjp, primitive
from autograd.misc.optimizers import adam
from autograd.numpy.numpy_boxes import ArrayBox
from autograd.numpy.numpy_vjps import unbroadcast_f
from autograd.scipy.special import logsumexp
from autograd.tracer import getval, isbox


@primitive
def softplus(x, b):
    return np.log1p(np.exp(x * b)) / b
defvjp(softplus, lambda ans, x, b: unbroadcast_f(x, lambda g: g * np.exp(x * b - ans * b)),
       lambda ans, x, b: unbroadcast_f(b, lambda g: g * 0.0))

rs = npr.RandomState(0)
X = rs.randn(20, 3)
y = (X @ np.array([1.0, -2.0, 0.5]) > 0).astype(float)
seen = []
def loss(w):
    seen.append(isbox(w) and ag_isinstance(w, np.ndarray) and isinstance(w, ArrayBox))
    z = np.dot(X, w)
    return np.mean(softplus(-z * (2 * y - 1), 1.0)) + 0.01 * np.sum(w ** 2)

w = adam(lambda w, i: grad(loss)(w), np.zeros(3), step_size=0.1, num_iters=50)
print("w", " ".join(f"{v:.10f}" for v in getval(w)))
H = hessian(loss)(w)
print("H", " ".join(f"{v:.10f}" for v in np.ravel(H)))
print("lse", f"{float(logsumexp(np.array([1.0, 2.0]))):.12f}")
print("boxes", all(seen[1:2]), "args", sys.argv[1:])

