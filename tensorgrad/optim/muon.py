"""Muon (PyTorch 2.9+): momentum whose update is orthogonalised by Newton-Schulz iterations,
for 2-D parameters.

One difference from PyTorch, by necessity: PyTorch runs the Newton-Schulz iterations in
bfloat16, and NumPy and CuPy have no bfloat16 dtype, so they run here in the parameter's own
dtype (float32 or float64). The iteration is the same polynomial; only its rounding differs
(PyTorch's update carries bfloat16's ~3 significant digits, this one the parameter's).
The step stays on the parameters' device: the Frobenius norm that scales the update is a 0-d
array there, never read back to the host.
"""

import math

from ..autograd.graph import bump_version
from ..backend.device import xp_of
from .adafactor import _check_lr_tensor, _lerp_
from .optimizer import Optimizer, _closure_loss, _host_lr, _param_of

__all__ = ["Muon"]

# Keller Jordan's quintic coefficients and defaults, as PyTorch's
EPS = 1e-7
DEFAULT_A = 3.4445
DEFAULT_B = -4.7750
DEFAULT_C = 2.0315
DEFAULT_NS_STEPS = 5


def _orthogonalize(u, ns_coefficients, ns_steps, eps):
    """Newton-Schulz approximation of the orthogonal factor of the 2-D array ``u`` (``U V^T``
    of its SVD, with singular values pushed towards 1): ``u`` scaled to Frobenius norm at most
    1, then ``ns_steps`` times ``X <- a X + (b A + c A^2) X`` with ``A = X X^T``. The wide
    orientation is used (``X X^T`` is the smaller Gram matrix)."""
    xp = xp_of(u)
    a, b, c = ns_coefficients
    tall = u.shape[0] > u.shape[1]
    x = u.T if tall else u
    x = x / xp.maximum(xp.sqrt((x * x).sum()), eps).astype(x.dtype, copy=False)
    for _ in range(ns_steps):
        gram = x @ x.T
        poly = gram @ gram
        poly *= c
        poly += b * gram
        x_new = poly @ x
        x_new += a * x
        x = x_new
    return x.T if tall else x


def _adjusted_lr(lr, adjust_lr_fn, shape):
    rows, cols = shape[:2]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        return lr * math.sqrt(max(1.0, rows / cols))
    return lr * 0.2 * math.sqrt(max(rows, cols))  # "match_rms_adamw"


class Muon(Optimizer):
    """Muon, with PyTorch's names, defaults, state (``momentum_buffer``) and formulas: per
    2-D parameter with gradient ``g``,

    - ``B <- momentum * B + (1 - momentum) * g`` (``B.lerp_(g, 1 - momentum)``);
    - ``U = g.lerp(B, momentum)`` with ``nesterov``, else ``U = B``;
    - ``O`` = ``ns_steps`` Newton-Schulz iterations with ``ns_coefficients`` (a, b, c) on
      ``U / max(||U||_F, eps)``;
    - ``p *= 1 - lr * weight_decay``; ``p -= lr' * O`` where ``lr' = lr * sqrt(max(1, A/B))``
      (``adjust_lr_fn=None`` or ``"original"``) or ``0.2 * lr * sqrt(max(A, B))``
      (``"match_rms_adamw"``) for a parameter of shape (A, B).

    The iterations run in the parameter's dtype where PyTorch uses bfloat16 (see the module's
    note). Parameters that are not 2-D are refused, as in PyTorch: give biases and embeddings
    to another optimizer.

    >>> import tensorgrad as tg
    >>> w = tg.ones(2, 3, requires_grad=True)
    >>> opt = tg.optim.Muon([w], lr=0.1, weight_decay=0.0)
    >>> (w * tg.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])).sum().backward()
    >>> opt.step()
    >>> sorted(opt.state_dict()["state"][0]), w.shape
    (['momentum_buffer'], (2, 3))
    """

    def __init__(self, params, lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True,
                 ns_coefficients=(DEFAULT_A, DEFAULT_B, DEFAULT_C), eps=EPS,
                 ns_steps=DEFAULT_NS_STEPS, adjust_lr_fn=None):
        _check_lr_tensor("Muon", lr)
        if not 0.0 <= lr:
            raise ValueError(f"Muon: Learning rate should be >= 0 but is: {lr}")
        if not 0.0 <= momentum:
            raise ValueError(f"Muon: momentum should be >= 0 but is: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Muon: weight decay should be >= 0 but is: {weight_decay}")
        if adjust_lr_fn not in (None, "original", "match_rms_adamw"):
            raise ValueError(f"Muon: Adjust learning rate function {adjust_lr_fn!r} is not "
                             "supported (None, 'original' or 'match_rms_adamw')")
        if len(tuple(ns_coefficients)) != 3:
            raise ValueError(f"Muon: ns_coefficients must be 3 values (a, b, c), got "
                             f"{ns_coefficients!r}")
        if not isinstance(ns_steps, int) or not 0 <= ns_steps < 100:
            raise ValueError(f"Muon: ns_steps must be an int in [0, 100), got {ns_steps!r}")
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, momentum=momentum,
                                      nesterov=nesterov, ns_coefficients=ns_coefficients,
                                      eps=eps, ns_steps=ns_steps, adjust_lr_fn=adjust_lr_fn))
        for group in self.param_groups:
            for p in group["params"]:
                if p.ndim != 2:
                    raise ValueError(f"Muon only supports 2D parameters, got a parameter of "
                                     f"shape {tuple(p.shape)}")

    def step(self, closure=None):
        loss = _closure_loss(closure)
        for group in self.param_groups:
            lr = _host_lr(group["lr"])
            momentum, wd = group["momentum"], group["weight_decay"]
            for p, g in self._params_with_grad(group):
                if _param_of(p).dtype.kind == "c":  # stepped as real pairs elsewhere
                    raise RuntimeError("Muon does not support complex parameters")
                xp = xp_of(p.data)
                buf = self._buffer(p, "momentum_buffer")
                tmp = self._scratch_for(p, 1)
                _lerp_(buf, g, 1 - momentum, tmp)
                if group["nesterov"]:
                    u = self._scratch_for(p)
                    xp.copyto(u, g)
                    _lerp_(u, buf, momentum, tmp)
                else:
                    u = buf
                o = _orthogonalize(u, tuple(group["ns_coefficients"]), group["ns_steps"],
                                   group["eps"])
                if wd:
                    p.data *= 1 - lr * wd
                o *= -_adjusted_lr(lr, group["adjust_lr_fn"], p.shape)
                p.data += o
                bump_version(p._vc)
        return loss
