"""One direction of one recurrent layer over a whole sequence as one primitive (used by
``nn.RNN``, ``nn.LSTM`` without ``proj_size`` and ``nn.GRU``, on padded input).

Unrolled step by step, a sequence of T steps records a few nodes per step, and its backward
makes T small weight-gradient GEMMs (h_{t-1}^T d gates_t, one per step) and T tape visits.
Here the layer is one node:

- ``lstm_sequence(proj, h0, c0, w_hh, reverse=False)``: ``proj`` (T, N, 4H) holds every step's
  ``x_t W_ih^T + b_ih + b_hh`` (one GEMM over all steps, made by the caller), h0 and c0 (N, H)
  the initial state, w_hh (4H, H). Gates in PyTorch's order i, f, g, o. Returns (2, T, N, H):
  the h of every step in [0], the c of every step in [1]; ``reverse`` runs from step T - 1 down
  to 0 (the backward direction of a bidirectional layer).
- ``gru_sequence(proj, h0, w_hh, b_hh, reverse=False)``: ``proj`` (T, N, 3H) holds
  ``x_t W_ih^T + b_ih``, w_hh (3H, H), b_hh (3H,) or None (PyTorch's b_hn sits inside the
  r product, so it stays apart). Gates r, z, n. Returns the h of every step, (T, N, H).
- ``rnn_sequence(proj, h0, w_hh, nonlinearity="tanh", reverse=False)``: ``proj`` (T, N, H)
  holds ``x_t W_ih^T + b_ih + b_hh``; returns the h of every step, whose values give the
  backward its derivative (nothing else is kept).

The VJP runs the steps back once, one GEMM per step for the state's cotangent, and ends with
one GEMM for w_hh's gradient over all steps. On NumPy (float32/64) the forward writes the gate
activations of every step behind its answer (the answer is a view of a longer buffer, as
``nn.GELU`` keeps Phi), so the backward computes no exponential; elsewhere (CuPy: the fused
cell kernels of ``tensorgrad.ops.rnn_cell`` per step) the backward recomputes the gates'
pre-activations with one GEMM over all steps. Under ``create_graph=True`` and in forward mode
the rules differentiate the step-by-step composition (``lstm_cell``/``gru_cell`` per step) of
the same function, so derivatives of every order follow.
"""

import math

import numpy as np

from ..autograd.grad_mode import is_grad_enabled
from .composed_rules import LAST, define_rules
from .linalg import linear, matmul
from .registry import primitive
from .rnn_cell import _gru_grads, _lstm_grads, gru_cell, lstm_cell, lstm_cell_hc
from .shape import stack_, swapaxes

_FAST = (np.dtype(np.float32), np.dtype(np.float64))


def _check(op, proj, gates, states, w_hh, b_hh=None):
    """(T, N, H), after checking the shapes of the arguments: proj (T, N, gates * H), each
    (name, state) of ``states`` (N, H), w_hh (gates * H, H), b_hh (gates * H,) or None."""
    shape = tuple(proj.shape)
    if len(shape) != 3 or not shape[-1] or shape[-1] % gates:
        raise ValueError(f"{op}: proj must be (steps, batch, {gates} * hidden_size), got "
                         f"shape {shape}")
    steps, batch, hidden = shape[0], shape[1], shape[2] // gates
    wanted = [(name, a, (batch, hidden)) for name, a in states]
    wanted.append(("w_hh", w_hh, (gates * hidden, hidden)))
    if b_hh is not None:
        wanted.append(("b_hh", b_hh, (gates * hidden,)))
    for name, a, want in wanted:
        if tuple(a.shape) != want:
            raise ValueError(f"{op}: {name} must have shape {want} for proj of shape "
                             f"{shape}, got {tuple(a.shape)}")
    return steps, batch, hidden


def _order(steps, reverse):
    return range(steps - 1, -1, -1) if reverse else range(steps)


def _transposed(w):
    """w.T as a C-ordered copy, made once per sequence: OpenBLAS multiplies a (32, 128) state
    by it in 38 us and by the transposed view in 57 (float32, (512, 128) weight)."""
    return np.ascontiguousarray(w.T)


def _fast(*arrays):
    """NumPy arrays of one float32/64 dtype: the path that keeps the activations."""
    first = arrays[0]
    return all(type(a) is np.ndarray and a.dtype == first.dtype for a in arrays) and \
        first.dtype in _FAST


@primitive
def lstm_sequence(proj, h0, c0, w_hh, *, reverse=False):
    """The (2, T, N, H) states [h, c] of every step of an LSTM from the input projections
    ``proj`` (T, N, 4H), the initial state (h0, c0) and the recurrent weight w_hh (4H, H)."""
    LAST[0] = None
    steps, batch, hidden = _check("lstm_sequence", proj, 4, (("h0", h0), ("c0", c0)),
                                  w_hh)
    if _fast(proj, h0, c0, w_hh):
        return _forward_numpy(proj, h0, c0, w_hh, reverse)
    from ..backend.device import xp_of

    xp = xp_of(proj)
    out = xp.empty((2, steps, batch, hidden), xp.result_type(proj, h0, c0, w_hh))
    h, c, w_t = h0, c0, w_hh.T
    for t in _order(steps, reverse):
        hc = lstm_cell(proj[t] + h @ w_t, c)  # one fused kernel on CuPy
        out[0, t] = hc[:, :hidden]
        out[1, t] = hc[:, hidden:]
        h, c = out[0, t], out[1, t]
    return out


def _sigmoid_(a):
    """a = 1 / (1 + exp(-a)) in place (``tensorgrad.sigmoid``'s formula; exp overflows to
    inf below -88 in float32, which gives the right 0)."""
    np.negative(a, out=a)
    np.exp(a, out=a)
    a += 1
    np.reciprocal(a, out=a)


def _forward_numpy(proj, h0, c0, w_hh, reverse):
    steps, batch, four = proj.shape
    hidden = four // 4
    out, acts = _answer_and_kept(proj.dtype, (2, steps, batch, hidden), (steps, batch, four))
    tmp = np.empty((batch, hidden), proj.dtype)
    h, c, w_t = h0, c0, _transposed(w_hh)
    with np.errstate(over="ignore"):
        for t in _order(steps, reverse):
            a = acts[t % len(acts)]
            np.matmul(h, w_t, out=a)
            a += proj[t]
            i, f, g, o = (a[:, k * hidden:(k + 1) * hidden] for k in range(4))
            np.tanh(g, out=tmp)
            _sigmoid_(a)  # the g quarter of it is overwritten: one call instead of three
            g[...] = tmp
            h_t, c_t = out[0, t], out[1, t]
            np.multiply(f, c, out=c_t)
            np.multiply(i, g, out=tmp)
            c_t += tmp
            np.tanh(c_t, out=h_t)
            h_t *= o
            h, c = h_t, c_t
    return out


def _answer_and_kept(dtype, shape, kept_shape):
    """The answer of ``shape`` and the (T, ...) per-step block the backward reads, behind it in
    one buffer; with gradients off (``no_grad``: nothing will read them) a single step's
    block, reused, and an answer with nothing behind it."""
    size = math.prod(shape)
    if not is_grad_enabled():
        return np.empty(shape, dtype), np.empty((1,) + kept_shape[1:], dtype)
    buf = np.empty(size + math.prod(kept_shape), dtype)
    return buf[:size].reshape(shape), buf[size:].reshape(kept_shape)


def _saved_behind(ans, cols):
    """The (T, N, cols) block a NumPy forward kept behind its answer ``ans`` (T ... first),
    or None (an answer from elsewhere, or copied)."""
    base = ans.base
    size, steps, batch = ans.size, ans.shape[-3], ans.shape[-2]
    if type(base) is not np.ndarray or base.dtype != ans.dtype or \
            base.shape != (size + steps * batch * cols,) or not ans.flags.c_contiguous or \
            base[:size].ctypes.data != ans.ctypes.data:
        return None
    return base[size:].reshape(steps, batch, cols)


def _saved_acts(ans):
    """The activations kept behind the answer by :func:`_forward_numpy`, or None."""
    return _saved_behind(ans, 4 * ans.shape[-1])


def _previous(ans, first_state, reverse):
    """The state entering each step: (T, N, H) from the answer's [0] or [1] and the initial
    one."""
    from ..backend.device import xp_of

    xp = xp_of(ans)
    first = first_state[None]
    return xp.concatenate((ans[1:], first) if reverse else (first, ans[:-1]), 0)


def _grads_numpy(g, ans, h0, c0, w_hh, acts, reverse):
    """(d proj, d h0, d c0, d w_hh) from the saved activations, in place: per step the four
    gates' cotangents are one product of (N, 4H) rows, [dc g, dc c_prev, dc i, dh tanh(c)]
    times the activations' slopes [i (1 - i), f (1 - f), 1 - g^2, o (1 - o)]."""
    steps, batch, hidden = ans.shape[1:]
    dtype = ans.dtype
    d = np.empty(acts.shape, dtype)  # d gates of every step, which is d proj
    dh, dc = np.zeros((batch, hidden), dtype), np.zeros((batch, hidden), dtype)
    x, s, tc, tmp = (np.empty((batch, hidden), dtype) for _ in range(4))
    slope = np.empty((batch, 4 * hidden), dtype)
    for t in reversed(_order(steps, reverse)):
        a = acts[t]
        i, f, cand, o = (a[:, k * hidden:(k + 1) * hidden] for k in range(4))
        dt = d[t]
        di, df, dcand, do = (dt[:, k * hidden:(k + 1) * hidden] for k in range(4))
        first = t == (steps - 1 if reverse else 0)
        c_prev = c0 if first else ans[1, t + 1 if reverse else t - 1]
        np.tanh(ans[1, t], out=tc)
        np.add(g[0, t], dh, out=x)  # d h_t: from the output and from the next step
        np.multiply(x, tc, out=do)
        np.multiply(x, o, out=s)
        np.multiply(s, tc, out=x)
        x *= tc
        s -= x  # d h_t * o * (1 - tanh(c_t)^2)
        s += dc
        s += g[1, t]  # d c_t
        np.multiply(s, cand, out=di)
        np.multiply(s, c_prev, out=df)
        np.multiply(s, i, out=dcand)
        np.multiply(a, a, out=slope)
        np.subtract(a, slope, out=slope)  # the sigmoids' slopes s (1 - s)
        g_slope = slope[:, 2 * hidden:3 * hidden]
        np.multiply(cand, cand, out=g_slope)
        np.subtract(1, g_slope, out=g_slope)  # tanh's, 1 - g^2, in the g quarter
        dt *= slope
        np.multiply(s, f, out=dc)
        np.matmul(dt, w_hh, out=dh)
    return d, dh, dc, _weight_grad(d, ans[0], h0, reverse)


def _weight_grad(d, hs, h0, reverse):
    """sum over steps of d gates_t^T h_{t-1}: two GEMMs (the first step's h0, the rest)."""
    steps, batch, hidden = hs.shape
    first = steps - 1 if reverse else 0
    dw = d[first].T @ h0
    if steps > 1:
        rest_d = d[:-1] if reverse else d[1:]
        rest_h = hs[1:] if reverse else hs[:-1]
        dw += rest_d.reshape(-1, d.shape[-1]).T @ rest_h.reshape(-1, hidden)
    return dw


def _grads_arrays(g, ans, proj, h0, c0, w_hh, reverse):
    """The four cotangents on raw arrays of any device: the fused cell's backward per step
    (its kernel on CuPy), after recomputing every step's gates with one GEMM."""
    from ..backend.device import xp_of

    xp = xp_of(ans)
    steps = ans.shape[1]
    hprev = _previous(ans[0], h0, reverse)
    cprev = _previous(ans[1], c0, reverse)
    gates = proj + hprev @ w_hh.T
    d = xp.empty(gates.shape, gates.dtype)
    dh = dc = None
    for t in reversed(_order(steps, reverse)):
        gh = g[0, t] if dh is None else g[0, t] + dh
        gc = g[1, t] if dc is None else g[1, t] + dc
        packed_g = xp.concatenate((gh, gc), -1)
        packed_ans = xp.concatenate((ans[0, t], ans[1, t]), -1)
        d[t], dc = _lstm_grads(packed_g, packed_ans, gates[t], cprev[t])
        dh = d[t] @ w_hh
    dw = xp.tensordot(d, hprev, axes=([0, 1], [0, 1]))
    return d, dh, dc, dw


def _composed(proj, h0, c0, w_hh, reverse=False):
    """The same function step by step with tensorgrad's ops (differentiable to any order)."""
    steps = proj.shape[0]
    hs, cs = [None] * steps, [None] * steps
    h, c, w_t = h0, c0, swapaxes(w_hh, 0, 1)
    for t in _order(steps, reverse):
        h, c = lstm_cell_hc(proj[t] + matmul(h, w_t), c)
        hs[t], cs[t] = h, c
    return stack_(0, stack_(0, *hs), stack_(0, *cs))


def _first_order(g, ans, proj, h0, c0, w_hh, reverse=False):
    if _fast(g, ans, proj, h0, c0, w_hh):
        acts = _saved_acts(ans)
        if acts is not None:
            return _grads_numpy(g, ans, h0, c0, w_hh, acts, reverse)
    return _grads_arrays(g, ans, proj, h0, c0, w_hh, reverse)


define_rules(lstm_sequence, _composed, _first_order, 4)


# ---- GRU --------------------------------------------------------------------------------------
@primitive
def gru_sequence(proj, h0, w_hh, b_hh, *, reverse=False):
    """The (T, N, H) h of every step of a GRU from the input projections ``proj`` (T, N, 3H),
    the initial state h0, the recurrent weight w_hh (3H, H) and bias b_hh (3H,) or None."""
    LAST[0] = None
    steps, batch, hidden = _check("gru_sequence", proj, 3, (("h0", h0),), w_hh, b_hh)
    arrays = (proj, h0, w_hh) + (() if b_hh is None else (b_hh,))
    if _fast(*arrays):
        return _gru_forward_numpy(proj, h0, w_hh, b_hh, reverse)
    from ..backend.device import xp_of

    xp = xp_of(proj)
    out = xp.empty((steps, batch, hidden), xp.result_type(*arrays))
    h = h0
    for t in _order(steps, reverse):
        gh = h @ w_hh.T if b_hh is None else h @ w_hh.T + b_hh
        out[t] = gru_cell(proj[t], gh, h)  # one fused kernel on CuPy
        h = out[t]
    return out


def _thirds(a, hidden):
    return a[:, :hidden], a[:, hidden:2 * hidden], a[:, 2 * hidden:3 * hidden]


def _gru_forward_numpy(proj, h0, w_hh, b_hh, reverse):
    """The steps in place, the formulas of ``gru_cell`` operation for operation; behind the
    answer, per step, r, z, n and the n part of h W_hh^T + b_hh (4H)."""
    steps, batch, three = proj.shape
    hidden = three // 3
    out, saved = _answer_and_kept(proj.dtype, (steps, batch, hidden),
                                  (steps, batch, 4 * hidden))
    gh = np.empty((batch, three), proj.dtype)
    h, w_t = h0, _transposed(w_hh)
    with np.errstate(over="ignore"):
        for t in _order(steps, reverse):
            s, p = saved[t % len(saved)], proj[t]
            np.matmul(h, w_t, out=gh)
            if b_hh is not None:
                gh += b_hh
            rz = s[:, :2 * hidden]
            np.add(p[:, :2 * hidden], gh[:, :2 * hidden], out=rz)
            _sigmoid_(rz)
            r, z, n = _thirds(s, hidden)
            hn = s[:, 3 * hidden:]
            hn[...] = gh[:, 2 * hidden:]
            np.multiply(r, hn, out=n)
            n += p[:, 2 * hidden:]
            np.tanh(n, out=n)
            h_t = out[t]
            np.subtract(h, n, out=h_t)
            h_t *= z
            h_t += n
            h = h_t
    return out


def _gru_grads_numpy(g, ans, h0, w_hh, b_hh, saved, reverse):
    """(d proj, d h0, d w_hh, d b_hh) from the activations kept behind the answer."""
    steps, batch, hidden = ans.shape
    dtype = ans.dtype
    d_in = np.empty((steps, batch, 3 * hidden), dtype)  # d proj
    d_rec = np.empty((steps, batch, 3 * hidden), dtype)  # d (h W_hh^T + b_hh)
    dh = np.zeros((batch, hidden), dtype)
    x, gz, tmp = (np.empty((batch, hidden), dtype) for _ in range(3))
    for t in reversed(_order(steps, reverse)):
        r, z, n = _thirds(saved[t], hidden)
        hn = saved[t][:, 3 * hidden:]
        first = t == (steps - 1 if reverse else 0)
        h_prev = h0 if first else ans[t + 1 if reverse else t - 1]
        dr, dz, dn = _thirds(d_in[t], hidden)
        np.add(g[t], dh, out=x)  # d h_t: from the output and from the next step
        np.multiply(x, z, out=gz)
        np.subtract(x, gz, out=dn)
        np.multiply(dn, n, out=tmp)
        tmp *= n
        dn -= tmp  # through the tanh
        np.subtract(h_prev, n, out=dz)
        dz *= x
        np.multiply(dn, hn, out=dr)
        for grad, act in ((dz, z), (dr, r)):
            np.multiply(grad, act, out=tmp)
            np.multiply(tmp, act, out=grad)
            np.subtract(tmp, grad, out=grad)  # through the sigmoid
        e = d_rec[t]
        e[:, :2 * hidden] = d_in[t][:, :2 * hidden]
        np.multiply(dn, r, out=e[:, 2 * hidden:])
        np.matmul(e, w_hh, out=dh)
        dh += gz
    db = None if b_hh is None else d_rec.reshape(-1, 3 * hidden).sum(0)
    return d_in, dh, _weight_grad(d_rec, ans, h0, reverse), db


def _gru_grads_arrays(g, ans, proj, h0, w_hh, b_hh, reverse):
    """The cotangents on raw arrays of any device: the fused cell's backward per step (its
    kernel on CuPy), after recomputing every step's h W_hh^T + b_hh with one GEMM."""
    from ..backend.device import xp_of

    xp = xp_of(ans)
    hprev = _previous(ans, h0, reverse)
    gh = hprev @ w_hh.T
    if b_hh is not None:
        gh = gh + b_hh
    d_in = xp.empty(proj.shape, gh.dtype)
    d_rec = xp.empty(gh.shape, gh.dtype)
    dh = None
    for t in reversed(_order(ans.shape[0], reverse)):
        gt = g[t] if dh is None else g[t] + dh
        d_in[t], d_rec[t], dh = _gru_grads(gt, ans[t], proj[t], gh[t], hprev[t])
        dh = dh + d_rec[t] @ w_hh
    dw = xp.tensordot(d_rec, hprev, axes=([0, 1], [0, 1]))
    db = None if b_hh is None else d_rec.sum((0, 1))
    return d_in, dh, dw, db


def _gru_composed(proj, h0, w_hh, b_hh, reverse=False):
    """The same function step by step with tensorgrad's ops (differentiable to any order)."""
    steps = proj.shape[0]
    hs = [None] * steps
    h = h0
    for t in _order(steps, reverse):
        h = gru_cell(proj[t], linear(h, w_hh, b_hh), h)
        hs[t] = h
    return stack_(0, *hs)


def _gru_first_order(g, ans, proj, h0, w_hh, b_hh, reverse=False):
    arrays = (g, ans, proj, h0, w_hh) + (() if b_hh is None else (b_hh,))
    if _fast(*arrays):
        saved = _saved_behind(ans, 4 * ans.shape[-1])
        if saved is not None:
            return _gru_grads_numpy(g, ans, h0, w_hh, b_hh, saved, reverse)
    return _gru_grads_arrays(g, ans, proj, h0, w_hh, b_hh, reverse)


define_rules(gru_sequence, _gru_composed, _gru_first_order, 4)

# ---- Elman RNN -------------------------------------------------------------------------------
@primitive
def rnn_sequence(proj, h0, w_hh, *, nonlinearity="tanh", reverse=False):
    """The (T, N, H) h of every step of an Elman RNN, h_t = act(proj_t + h_{t-1} W_hh^T), from
    ``proj`` (T, N, H) = x W_ih^T + b_ih + b_hh, h0 and w_hh (H, H); act tanh or relu. The
    backward reads the derivative off the answer (1 - h^2, or h > 0): nothing is kept."""
    steps, batch, hidden = _check("rnn_sequence", proj, 1, (("h0", h0),), w_hh)
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"rnn_sequence: nonlinearity must be 'tanh' or 'relu', got "
                         f"{nonlinearity!r}")
    from ..backend.device import xp_of

    xp = xp_of(proj)
    out = xp.empty((steps, batch, hidden), xp.result_type(proj, h0, w_hh))
    host = _fast(proj, h0, w_hh)
    h, w_t = h0, _transposed(w_hh) if host else w_hh.T
    for t in _order(steps, reverse):
        a = out[t]
        if host:
            np.matmul(h, w_t, out=a)
        else:
            a[...] = h @ w_t
        a += proj[t]
        if nonlinearity == "tanh":
            xp.tanh(a, out=a)
        else:
            xp.clip(a, 0, xp.inf, out=a)  # relu's: -0.0 stays, NaN stays
        h = a
    return out


def _rnn_first_order(g, ans, proj, h0, w_hh, *, nonlinearity="tanh", reverse=False):
    """(d proj, d h0, d w_hh) on raw arrays of any device, the pre-activation cotangent of
    each step written in place into one (T, N, H) buffer."""
    from ..backend.device import xp_of

    xp = xp_of(ans)
    d = xp.empty(ans.shape, xp.result_type(g, ans))
    dh = None
    for t in reversed(_order(ans.shape[0], reverse)):
        dt, h_t = d[t], ans[t]
        if dh is None:
            dt[...] = g[t]
        else:
            xp.add(g[t], dh, out=dt)
        if nonlinearity == "tanh":
            dt -= (dt * h_t) * h_t  # tanh's rule, g - g h h
        else:
            dt *= h_t > 0
        dh = dt @ w_hh
    return d, dh, _weight_grad(d, ans, h0, reverse)


def _rnn_composed(proj, h0, w_hh, nonlinearity="tanh", reverse=False):
    """The same function step by step with tensorgrad's ops (differentiable to any order)."""
    from .elementwise import relu, tanh

    act = tanh if nonlinearity == "tanh" else relu
    steps = proj.shape[0]
    hs = [None] * steps
    h, w_t = h0, swapaxes(w_hh, 0, 1)
    for t in _order(steps, reverse):
        h = act(proj[t] + matmul(h, w_t))
        hs[t] = h
    return stack_(0, *hs)


define_rules(rnn_sequence, _rnn_composed, _rnn_first_order, 3)

__all__ = ["lstm_sequence", "gru_sequence", "rnn_sequence"]
