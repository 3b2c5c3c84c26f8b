"""Adafactor and SparseAdam, with PyTorch's names, defaults, state and formulas.

Both run on the parameters' device without making the host wait: where PyTorch reads norms
back to the host (``.item()``) to scale Adafactor's step, the scale stays a 0-d array on the
device here, and SparseAdam's mask is applied with ``copyto(..., where=)`` instead of gathering
indices.
"""

import math

import numpy as np

from ..autograd.graph import bump_version
from ..backend.device import xp_of
from ..tensor import Tensor
from .optimizer import Optimizer, _closure_loss, _host_lr, _param_of, sparse_rows


def _lerp_(a, b, w, tmp):
    """``a.lerp_(b, w)`` for a host weight ``w``, with PyTorch's two formulas (the second one,
    for ``|w| >= 0.5``, keeps ``w = 1`` exact); ``tmp`` is a work array of ``a``'s shape."""
    xp = xp_of(a)
    xp.subtract(b, a, out=tmp)
    if abs(w) < 0.5:
        tmp *= w
        a += tmp
    else:
        tmp *= 1 - w
        xp.subtract(b, tmp, out=a)


def _check_lr_tensor(name, lr):
    if isinstance(lr, Tensor) and lr.size != 1:
        raise ValueError(f"{name}: Tensor lr must be 1-element, got shape {tuple(lr.shape)}")


class Adafactor(Optimizer):
    """Adafactor (Shazeer & Stern), as PyTorch 2.5+ implements it: second moments factored
    into row and column means (``row_var``, ``col_var``, over the last two dimensions) for
    parameters of two or more dimensions, a full ``variance`` for vectors;
    ``1 - beta2_t = t ** beta2_decay``; the relative step ``rho_t = min(lr, 1 / sqrt(t))``
    times ``max(eps2, RMS(p))``; the update ``g / sqrt(max(V, eps1 ** 2))`` clipped to RMS
    ``d``; ``weight_decay`` decoupled (``p *= 1 - lr * weight_decay``). ``eps1=None`` is the
    machine epsilon of the (first) parameter's dtype.

    ``foreach`` is kept in the groups for PyTorch's signature and state dict: PyTorch's two
    paths compute the same step, and so does the one here.

    >>> import tensorgrad as tg
    >>> w = tg.ones(2, 3, requires_grad=True)
    >>> opt = tg.optim.Adafactor([w], lr=0.01)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> sorted(opt.state_dict()["state"][0]), round(w[0, 0].item(), 4)
    (['col_var', 'row_var', 'step'], 0.99)
    """

    def __init__(self, params, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0,
                 weight_decay=0.0, *, foreach=None, maximize=False):
        _check_lr_tensor("Adafactor", lr)
        if not 0.0 <= lr:
            raise ValueError(f"Adafactor: Learning rate should be >= 0 but is: {lr}")
        if not 0.0 >= beta2_decay:
            raise ValueError(f"Adafactor: beta2_decay should be <= 0 but is: {beta2_decay}")
        eps = tuple(eps)
        if len(eps) != 2:
            raise ValueError(f"Adafactor: eps should be a pair (eps1, eps2), got {eps!r}")
        if eps[0] is not None and not 0.0 <= eps[0]:
            raise ValueError(f"Adafactor: epsilon1 should be >= 0 but is: {eps[0]}")
        if not 0.0 <= eps[1]:
            raise ValueError(f"Adafactor: epsilon2 should be >= 0 but is: {eps[1]}")
        if not 1.0 <= d:
            raise ValueError(f"Adafactor: Clipping threshold d should be >= 1 but is: {d}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Adafactor: weight_decay should be >= 0 but is: {weight_decay}")
        super().__init__(params, dict(lr=lr, beta2_decay=beta2_decay, eps=eps, d=d,
                                      weight_decay=weight_decay, foreach=foreach,
                                      maximize=maximize))

    def _state_shape(self, name, p):
        shape = list(p.shape)
        if name == "row_var":
            shape[-1] = 1
        elif name == "col_var":
            shape[-2] = 1
        return tuple(shape)

    def _init_state(self, p):
        st = self.state.setdefault(id(p), {})
        if "step" not in st:
            xp = xp_of(p.data)
            st["step"] = 0
            if p.ndim > 1:
                for name in ("row_var", "col_var"):
                    st[name] = xp.zeros(self._state_shape(name, p), p.data.dtype)
            else:
                st["variance"] = xp.zeros_like(p.data)
        return st

    def step(self, closure=None):
        loss = _closure_loss(closure)
        for group in self.param_groups:
            lr = _host_lr(group["lr"])
            eps1, eps2 = group["eps"]
            d_clip, wd, decay = group["d"], group["weight_decay"], group["beta2_decay"]
            for p, g in self._params_with_grad(group):
                if _param_of(p).dtype.kind == "c":  # stepped as real pairs elsewhere
                    raise RuntimeError("Adafactor does not support complex parameters")
                xp = xp_of(p.data)
                if eps1 is None:  # as PyTorch: the first parameter's dtype decides
                    eps1 = float(np.finfo(p.data.dtype).eps)
                st = self._init_state(p)
                t = st["step"] = st["step"] + 1
                one_minus_beta2 = float(t) ** decay
                rho = min(lr, 1 / math.sqrt(t))
                n = p.data.size
                u = self._scratch_for(p)
                sq = self._scratch_for(p, 1)
                # alpha = max(eps2, RMS(p)) * rho: a 0-d array on p's device, no host wait
                xp.multiply(p.data, p.data, out=sq)
                alpha = xp.maximum(xp.sqrt(sq.sum()) / math.sqrt(n), eps2) * rho
                if wd:
                    p.data *= 1 - lr * wd
                if group["maximize"]:
                    xp.negative(g, out=u)
                else:
                    xp.copyto(u, g)
                xp.multiply(u, u, out=sq)
                if p.ndim > 1:
                    rows, cols = st["row_var"], st["col_var"]
                    mean = sq.sum(axis=-1, keepdims=True)
                    mean /= p.shape[-1]
                    _lerp_(rows, mean, one_minus_beta2, xp.empty_like(mean))
                    mean = sq.sum(axis=-2, keepdims=True)
                    mean /= p.shape[-2]
                    _lerp_(cols, mean, one_minus_beta2, xp.empty_like(mean))
                    xp.matmul(rows, cols, out=sq)
                    sq /= xp.maximum(rows.mean(axis=-2, keepdims=True), eps1)
                else:
                    var = st["variance"]
                    _lerp_(var, sq, one_minus_beta2, xp.empty_like(sq))
                    xp.copyto(sq, var)
                xp.maximum(sq, eps1 * eps1, out=sq)
                xp.sqrt(sq, out=sq)
                u /= sq  # the update g / sqrt(max(V, eps1 ** 2))
                xp.multiply(u, u, out=sq)
                denom = xp.maximum(xp.sqrt(sq.sum()) / (math.sqrt(n) * d_clip), 1.0)
                u *= (-alpha / denom).astype(u.dtype, copy=False)
                p.data += u
                bump_version(p._vc)
        return loss


def _sparse_adam_rows(p, g, m, v, lr, b1, b2, eps, t, maximize):
    """PyTorch's SparseAdam step for a sparse gradient ``g``: the moments and values of the
    gradient's rows (coalesced) move, every entry of those rows, and nothing else."""
    rows, vals = sparse_rows(g)
    if maximize:
        vals = -vals
    xp = xp_of(vals)
    f = vals.dtype.type
    old = m[rows]
    new_m = vals - old  # PyTorch's: old + (g - old) (1 - b1), the same for the update
    new_m *= f(1 - b1)
    new_m += old
    m[rows] = new_m
    old = v[rows]
    new_v = vals * vals
    new_v -= old
    new_v *= f(1 - b2)
    new_v += old
    v[rows] = new_v
    denom = xp.sqrt(new_v, out=new_v)
    denom += eps
    new_m /= denom
    new_m *= f(-lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t))
    p.data[rows] += new_m


class SparseAdam(Optimizer):
    """Adam restricted to the entries a gradient touches (PyTorch's "lazy" SparseAdam):
    ``exp_avg``, ``exp_avg_sq`` and the parameter change only where the gradient is nonzero;
    elsewhere they keep their values (no decay of the moments, no step). The step count, and
    with it the bias corrections, is per parameter, counted at every step it has a gradient.

    A sparse gradient (of an ``Embedding`` or ``EmbeddingBag`` with ``sparse=True``) is
    PyTorch's case: every entry of the rows it holds moves, and only those (on a GPU, finding
    the distinct rows waits for the device, as PyTorch's coalescing does). A dense gradient,
    which PyTorch refuses, is taken with its nonzero entries as the mask: the result is
    PyTorch's SparseAdam given ``p.grad.to_sparse()``, and no step waits for the device.

    >>> import tensorgrad as tg
    >>> w = tg.ones(3, requires_grad=True)
    >>> opt = tg.optim.SparseAdam([w], lr=0.1)
    >>> (w[0] * 2).backward()
    >>> opt.step()
    >>> [round(v, 4) for v in w.tolist()]
    [0.9, 1.0, 1.0]
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, maximize=False):
        _check_lr_tensor("SparseAdam", lr)
        if not 0.0 < lr:
            raise ValueError(f"SparseAdam: Invalid learning rate: {lr}")
        if not 0.0 < eps:
            raise ValueError(f"SparseAdam: Invalid epsilon value: {eps}")
        for i in (0, 1):
            if not 0.0 <= betas[i] < 1.0:
                raise ValueError(f"SparseAdam: Invalid beta parameter at index {i}: "
                                 f"{betas[i]}")
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, maximize=maximize))
        bad = [[i, j] for i, group in enumerate(self.param_groups)
               for j, p in enumerate(group["params"]) if p.dtype.kind == "c"]
        if bad:
            raise ValueError(f"SparseAdam: Complex params at indices {bad}: SparseAdam does not "
                             "support complex parameters")

    _SPARSE_GRADS = True

    def step(self, closure=None):
        loss = _closure_loss(closure)
        for group in self.param_groups:
            lr = _host_lr(group["lr"])
            (b1, b2), eps = group["betas"], group["eps"]
            for p, g in self._params_with_grad(group):
                xp = xp_of(p.data)
                _, t = self._count_step(p)
                m = self._buffer(p, "exp_avg")
                v = self._buffer(p, "exp_avg_sq")
                if isinstance(g, Tensor):  # sparse (_params_with_grad)
                    _sparse_adam_rows(p, g, m, v, lr, b1, b2, eps, t, group["maximize"])
                    bump_version(p._vc)
                    continue
                d = self._scratch_for(p)
                a = self._scratch_for(p, 1)
                if group["maximize"]:
                    xp.negative(g, out=d)
                else:
                    xp.copyto(d, g)
                mask = d != 0
                # the moments move towards the gradient where it is nonzero (copyto's where=:
                # CuPy's ufuncs take no where=)
                xp.subtract(d, m, out=a)
                a *= 1 - b1
                a += m
                xp.copyto(m, a, where=mask)
                xp.multiply(d, d, out=a)
                a -= v
                a *= 1 - b2
                a += v
                xp.copyto(v, a, where=mask)
                xp.sqrt(v, out=a)
                a += eps
                xp.divide(m, a, out=d)
                d *= -lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
                d += p.data
                xp.copyto(p.data, d, where=mask)
                bump_version(p._vc)
        return loss
