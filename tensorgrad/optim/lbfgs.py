"""L-BFGS with PyTorch's arguments, state layout and iterates (minFunc's algorithm).

The parameters are seen as one flat vector (their gradients are gathered into one array per
evaluation); the curvature pairs ``old_dirs`` / ``old_stps`` live on the parameters' device.
As in PyTorch, the loop reads a few numbers on the host each iteration (the loss, ``y.s``, the
directional derivative and the tolerance checks): the algorithm branches on them.
"""

import math

from ..autograd.grad_mode import enable_grad
from ..autograd.graph import bump_version
from ..backend.device import xp_of
from .optimizer import Optimizer, _placed


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2), clipped to
    ``bounds`` (the interval between x1 and x2 by default); the middle when the cubic has
    none."""
    lo, hi = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    disc = d1 * d1 - g1 * g2
    if disc < 0:
        return (lo + hi) / 2.0
    d2 = math.sqrt(disc)
    if x1 <= x2:
        pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(pos, lo), hi)


def _dot(a, b):
    return float(xp_of(a).dot(a, b))


def _strong_wolfe(evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9,
                  max_ls=25):
    """A step length ``t`` along ``d`` meeting the strong Wolfe conditions (bracketing, then
    zooming with cubic interpolation), as PyTorch's line search; ``evaluate(t)`` gives the
    loss and flat gradient at ``x + t d``. Returns (loss, gradient, t, evaluations)."""
    xp = xp_of(d)
    d_norm = float(xp.abs(d).max())
    g = g.copy()
    f_new, g_new = evaluate(t)
    evals = 1
    gtd_new = _dot(g_new, d)
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    it = 0
    bracket = bracket_f = bracket_g = bracket_gtd = None
    while it < max_ls:
        if f_new > f + c1 * t * gtd or (it > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        # extrapolate
        lo, hi = t + 0.01 * (t - t_prev), t * 10
        t_prev, t = t, _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                                          bounds=(lo, hi))
        f_prev, g_prev, gtd_prev = f_new, g_new.copy(), gtd_new
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = _dot(g_new, d)
        it += 1
    if it == max_ls:
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    # zoom: shrink the bracket until a point meets the conditions
    insufficient = False
    low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and it < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1],
                               bracket_f[1], bracket_gtd[1])
        top, bottom = max(bracket), min(bracket)
        eps = 0.1 * (top - bottom)
        if min(top - t, t - bottom) < eps:
            # too close to an end: move away from it, unless the last step already did
            if insufficient or t >= top or t <= bottom:
                t = top - eps if abs(t - top) < abs(t - bottom) else bottom + eps
                insufficient = False
            else:
                insufficient = True
        else:
            insufficient = False
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = _dot(g_new, d)
        it += 1
        if f_new > f + c1 * t * gtd or f_new >= bracket_f[low]:
            bracket[high], bracket_f[high] = t, f_new
            bracket_g[high], bracket_gtd[high] = g_new.copy(), gtd_new
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
            bracket[low], bracket_f[low] = t, f_new
            bracket_g[low], bracket_gtd[low] = g_new.copy(), gtd_new
    return bracket_f[low], bracket_g[low], bracket[low], evals


class LBFGS(Optimizer):
    """Limited-memory BFGS (PyTorch's ``torch.optim.LBFGS``): ``step(closure)`` runs up to
    ``max_iter`` iterations (``max_eval`` closure calls) of two-loop-recursion quasi-Newton
    steps with the last ``history_size`` curvature pairs, either with a fixed step ``lr`` or
    with a strong-Wolfe line search (``line_search_fn="strong_wolfe"``). One parameter group
    only; the closure re-evaluates the model, calls backward and returns the loss.

    >>> import tensorgrad as tg
    >>> w = tg.tensor([3.0, -1.0], dtype="float64", requires_grad=True)
    >>> opt = tg.optim.LBFGS([w], line_search_fn="strong_wolfe")
    >>> def closure():
    ...     opt.zero_grad()
    ...     loss = ((w - 1.0) ** 2).sum()
    ...     loss.backward()
    ...     return loss
    >>> _ = opt.step(closure)
    >>> [round(v, 6) for v in w.tolist()]
    [1.0, 1.0]
    """

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, history_size=100, line_search_fn=None):
        if not 0.0 <= lr:
            raise ValueError(f"LBFGS: invalid learning rate: {lr}")
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', got "
                             f"{line_search_fn!r}")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                                      tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change,
                                      history_size=history_size,
                                      line_search_fn=line_search_fn))
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]
        kinds = {(type(p.data), getattr(p.data, "device", None)) for p in self._params}
        if len(kinds) != 1 or any(p.dtype.kind != "f" for p in self._params):
            raise ValueError("LBFGS: all parameters must be real floating tensors on one "
                             "device")

    def add_param_group(self, param_group):
        if getattr(self, "_params", None) is not None:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        super().add_param_group(param_group)

    _SPARSE_GRADS = True  # a sparse gradient is taken dense (_flat_grad), as PyTorch's

    # ---- the parameters as one flat vector ----

    def _flat_grad(self):
        xp = xp_of(self._params[0].data)
        # a sparse gradient (Embedding(sparse=True)) is taken dense, as PyTorch's LBFGS does
        return xp.concatenate([xp.zeros(p.data.size, p.data.dtype) if p.grad is None else
                               (p.grad.to_dense() if p.grad.is_sparse else p.grad).data.reshape(-1)
                               for p in self._params])

    def _add_flat(self, t, d):
        """``params += t * d`` (``d`` flat), without allocating."""
        offset = 0
        for p in self._params:
            n = p.data.size
            self._add_scaled(p, p.data, d[offset:offset + n].reshape(p.data.shape), t)
            bump_version(p._vc)
            offset += n

    def _set_params(self, values):
        for p, v in zip(self._params, values, strict=True):
            xp_of(p.data).copyto(p.data, v)
            bump_version(p._vc)

    def _evaluate(self, closure):
        with enable_grad():
            loss = closure()
        return loss

    def step(self, closure):
        if closure is None:
            raise RuntimeError("LBFGS.step: a closure that re-evaluates the model and returns "
                               "the loss is required")
        group = self.param_groups[0]
        lr = float(group["lr"])
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        history = group["history_size"]
        xp = xp_of(self._params[0].data)
        state = self.state.setdefault(id(self._params[0]), {})
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = self._evaluate(closure)
        loss = float(orig_loss)
        evals = 1
        state["func_evals"] += 1
        flat_grad = self._flat_grad()
        if float(xp.abs(flat_grad).max()) <= tol_grad:
            return orig_loss

        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        H_diag = state.get("H_diag")
        prev_flat_grad, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = _dot(y, s)
                if ys > 1e-10:  # keep the pair only when the curvature is positive
                    if len(old_dirs) == history:
                        del old_dirs[0], old_stps[0], ro[0]
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / xp.dot(y, y)  # stays on the device
                # two-loop recursion: d = -H g
                if "al" not in state:
                    state["al"] = [None] * history
                al = state["al"]
                q = -flat_grad
                for i in range(len(old_dirs) - 1, -1, -1):
                    al[i] = xp.dot(old_stps[i], q) * ro[i]
                    q -= al[i] * old_dirs[i]
                d = r = q * H_diag
                for i in range(len(old_dirs)):
                    be_i = xp.dot(old_dirs[i], r) * ro[i]
                    r += (al[i] - be_i) * old_stps[i]

            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.copy()
            else:
                xp.copyto(prev_flat_grad, flat_grad)
            prev_loss = loss

            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / float(xp.abs(flat_grad).sum())) * lr
            else:
                t = lr
            gtd = _dot(flat_grad, d)
            if gtd > -tol_change:  # not a descent direction
                break

            ls_evals = 0
            if group["line_search_fn"] == "strong_wolfe":
                x0 = [p.data.copy() for p in self._params]

                def along(step, x0=x0, d=d):
                    self._add_flat(step, d)
                    f = float(self._evaluate(closure))
                    g = self._flat_grad()
                    self._set_params(x0)
                    return f, g

                loss, flat_grad, t, ls_evals = _strong_wolfe(along, t, d, loss, flat_grad, gtd,
                                                             max_ls=max_eval - evals)
                self._add_flat(t, d)
                opt_cond = float(xp.abs(flat_grad).max()) <= tol_grad
            else:
                self._add_flat(t, d)
                opt_cond = False
                if n_iter != max_iter:
                    loss = float(self._evaluate(closure))
                    flat_grad = self._flat_grad()
                    opt_cond = float(xp.abs(flat_grad).max()) <= tol_grad
                    ls_evals = 1
            evals += ls_evals
            state["func_evals"] += ls_evals

            if n_iter == max_iter or evals >= max_eval or opt_cond:
                break
            if float(xp.abs(d).max()) * abs(t) <= tol_change:
                break
            if abs(loss - prev_loss) < tol_change:
                break

        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=H_diag,
                     prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
        return orig_loss

    # ---- checkpoints: the state holds flat vectors and lists of them ----

    def state_dict(self):
        out = super().state_dict()
        out["state"] = {i: {n: ([v.copy() if hasattr(v, "copy") else v for v in val]
                                if isinstance(val, list) else val)
                            for n, val in st.items()}
                        for i, st in out["state"].items()}
        return out

    def load_state_dict(self, state_dict):
        """Load what ``state_dict`` returned (flat vectors move to the parameters' device and
        dtype); refused with a ValueError if the flat size differs."""
        saved = dict(state_dict.get("state", {})) if isinstance(state_dict, dict) else {}
        numel = sum(p.data.size for p in self._params)
        like = self._params[0].data
        placed = {}
        for idx, st in saved.items():
            if idx != 0:
                raise ValueError(f"LBFGS.load_state_dict: state for parameter {idx}; LBFGS keeps "
                                 "its state on parameter 0")
            new = {}
            for n, v in st.items():
                if isinstance(v, list):
                    new[n] = [None if x is None else _placed(x, like) for x in v]
                    sizes = {x.size for x in new[n] if hasattr(x, "ndim") and x.ndim}
                else:
                    new[n] = _placed(v, like)
                    sizes = {new[n].size} if getattr(new[n], "ndim", 0) else set()
                if sizes - {numel}:
                    raise ValueError(f"LBFGS.load_state_dict: {n!r} holds vectors of "
                                     f"{sorted(sizes)} elements; the parameters have {numel}")
            placed[id(self._params[0])] = new
        super().load_state_dict({**state_dict, "state": {}})
        self.state.clear()
        self.state.update(placed)
