"""SGD, Adam and AdamW with PyTorch's names, defaults and update formulas."""

import math

from ..autograd.graph import bump_version
from ..backend.device import xp_of
from ..tensor import Tensor


class Optimizer:
    """Base class: ``param_groups`` (a list of dicts holding ``params`` and hyper-parameters),
    ``state`` (per-parameter buffers), ``zero_grad()``, ``step()``, ``state_dict()``."""

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.param_groups = []
        for g in groups:
            group = dict(self.defaults)
            group.update(g)
            group["params"] = list(group["params"])
            for p in group["params"]:
                if not isinstance(p, Tensor):
                    raise TypeError(f"{type(self).__name__}: parameters must be Tensors, got "
                                    f"{type(p).__name__}")
                if not p.is_leaf:
                    raise ValueError(f"{type(self).__name__}: can't optimize a non-leaf Tensor")
            self.param_groups.append(group)
        self.state = {}

    def zero_grad(self, set_to_none=True):
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.data[...] = 0

    def _params_with_grad(self, group):
        for p in group["params"]:
            if p.grad is not None:
                yield p, p.grad.data

    def _buffer(self, p, name):
        st = self.state.setdefault(id(p), {})
        buf = st.get(name)
        if buf is None:
            buf = st[name] = xp_of(p.data).zeros_like(p.data)
        return buf

    def state_dict(self):
        groups = []
        for group in self.param_groups:
            g = {k: v for k, v in group.items() if k != "params"}
            g["params"] = [self._index(p) for p in group["params"]]
            groups.append(g)
        state = {self._index_by_id(k): {n: (v.copy() if hasattr(v, "copy") else v)
                                        for n, v in st.items()}
                 for k, st in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
                len(a["params"]) != len(b["params"]) for a, b in zip(groups, self.param_groups)):
            raise ValueError(f"{type(self).__name__}.load_state_dict: the saved parameter groups "
                             "do not match this optimizer's")
        params = [p for g in self.param_groups for p in g["params"]]
        new_state = {}
        for idx, st in state_dict["state"].items():
            p = params[idx]
            for name, v in st.items():
                if hasattr(v, "shape") and v.shape != p.shape:
                    raise ValueError(f"load_state_dict: buffer {name!r} of parameter {idx} has "
                                     f"shape {tuple(v.shape)}, the parameter {tuple(p.shape)}")
            new_state[id(p)] = {n: (v.copy() if hasattr(v, "copy") else v) for n, v in st.items()}
        for g, saved in zip(self.param_groups, groups):
            g.update({k: v for k, v in saved.items() if k != "params"})
        self.state = new_state  # replaced whole: a bad state dict changes nothing

    def _index(self, p):
        return next(i for i, q in enumerate(q for g in self.param_groups for q in g["params"])
                    if q is p)

    def _index_by_id(self, key):
        return next(i for i, q in enumerate(q for g in self.param_groups for q in g["params"])
                    if id(q) == key)

    def step(self):
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and
    weight decay (PyTorch's formulas).

    >>> import tensorgrad as tg
    >>> w = tg.tensor([1.0, 2.0], requires_grad=True)
    >>> opt = tg.optim.SGD([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w.tolist()
    [0.800000011920929, 1.600000023841858]
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, maximize=False):
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"SGD: lr, momentum and weight_decay must be >= 0, got lr={lr}, "
                             f"momentum={momentum}, weight_decay={weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def step(self):
        for group in self.param_groups:
            lr, mom, wd = group["lr"], group["momentum"], group["weight_decay"]
            for p, g in self._params_with_grad(group):
                xp = xp_of(p.data)
                if wd or mom:
                    d = self._buffer(p, "scratch")
                    xp.copyto(d, g)
                    if wd:
                        d += wd * p.data
                    if mom:
                        first = "momentum_buffer" not in self.state.get(id(p), {})
                        buf = self._buffer(p, "momentum_buffer")
                        if first:
                            xp.copyto(buf, d)
                        else:
                            buf *= mom
                            buf += (1 - group["dampening"]) * d
                        if group["nesterov"]:
                            d += mom * buf
                        else:
                            xp.copyto(d, buf)
                    g = d
                step = self._buffer(p, "scratch")
                xp.multiply(g, lr if group["maximize"] else -lr, out=step)
                p.data += step
                bump_version(p._vc)


class Adam(Optimizer):
    """Adam (Kingma & Ba), with PyTorch's defaults; ``weight_decay`` adds L2 to the gradient."""

    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, maximize=False):
        if lr < 0 or eps < 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"{type(self).__name__}: invalid lr={lr}, eps={eps} or "
                             f"betas={betas}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize))

    def step(self):
        for group in self.param_groups:
            lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group[
                "weight_decay"]
            for p, g in self._params_with_grad(group):
                xp = xp_of(p.data)
                st = self.state.setdefault(id(p), {})
                st["step"] = st.get("step", 0) + 1
                t = st["step"]
                d = self._buffer(p, "scratch")
                xp.copyto(d, g)
                if group["maximize"]:
                    d *= -1
                if wd and self.decoupled:
                    p.data *= 1 - lr * wd
                elif wd:
                    d += wd * p.data
                m = self._buffer(p, "exp_avg")
                v = self._buffer(p, "exp_avg_sq")
                m *= b1
                m += (1 - b1) * d
                v *= b2
                d *= d
                v += (1 - b2) * d
                denom_src = v
                if group["amsgrad"]:
                    vmax = self._buffer(p, "max_exp_avg_sq")
                    xp.maximum(vmax, v, out=vmax)
                    denom_src = vmax
                bias1 = 1 - b1 ** t
                bias2 = 1 - b2 ** t
                xp.sqrt(denom_src, out=d)
                d /= math.sqrt(bias2)
                d += eps
                xp.divide(m, d, out=d)
                d *= -lr / bias1
                p.data += d
                bump_version(p._vc)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter); PyTorch's default decay 0.01."""

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize)
