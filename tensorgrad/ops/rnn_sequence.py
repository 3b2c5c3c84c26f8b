"""One direction of one recurrent layer over a whole sequence as one primitive (used by
``nn.RNN``, ``nn.LSTM`` without ``proj_size`` and ``nn.GRU``, on padded or packed input).

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

With ``batch_sizes`` (a PackedSequence's: the number of sequences still running at each step,
non-increasing, ``batch_sizes[0] == N``) ``proj`` and the answer hold the packed rows instead:
(R, gates * H) and (R, H), R = sum(batch_sizes), step t's rows in order after step t - 1's.
At step t only the first ``batch_sizes[t]`` sequences run (as PyTorch's packed RNNs do; a
sequence's last state is its row at its last step, or, backwards, at step 0), so no step
computes rows that are padding. Padded input is the same computation with every batch size N.

The VJP runs the steps back once, one GEMM per step for the state's cotangent, and ends with
one GEMM for w_hh's gradient over all steps. On NumPy (float32/64) the forward writes the gate
activations of every step behind its answer (the answer is a view of a longer buffer, as
``nn.GELU`` keeps Phi), so the backward computes no exponential; elsewhere (CuPy: the fused
cell kernels of ``tensorgrad.ops.rnn_cell`` per step) the backward recomputes the gates'
pre-activations with one GEMM over all steps. Under ``create_graph=True`` and in forward mode
the rules differentiate the step-by-step composition (``lstm_cell``/``gru_cell`` per step) of
the same function, so derivatives of every order follow.
"""

import numpy as np

from .composed_rules import LAST, define_rules
from .composed_rules import answer_and_kept as _answer_and_kept
from .composed_rules import saved_behind as _saved_behind
from .linalg import linear, matmul
from .registry import primitive
from .rnn_cell import _gru_grads, _lstm_grads, gru_cell, lstm_cell, lstm_cell_hc
from .shape import concatenate_, reshape, stack_, swapaxes

_FAST = (np.dtype(np.float32), np.dtype(np.float64))


class _Layout:
    """The rows of a sequence primitive: ``sizes`` (sequences running at each step), the first
    row of each step (``starts``), the number of rows, and the padded (T, N) shape or None."""

    __slots__ = ("sizes", "starts", "rows", "padded")

    def __init__(self, sizes, padded):
        self.sizes = sizes
        self.starts = [0] * len(sizes)
        for t in range(1, len(sizes)):
            self.starts[t] = self.starts[t - 1] + sizes[t - 1]
        self.rows = sum(sizes)
        self.padded = padded

    def step(self, t):
        """(batch size, slice of the rows) of step ``t``."""
        b, r0 = self.sizes[t], self.starts[t]
        return b, slice(r0, r0 + b)

    def previous_rows(self, reverse):
        """For each row, the row of [answer rows; initial state rows] holding the state that
        entered its step: a (R,) index (step t - 1's row, or, backwards, step t + 1's; the
        initial state's where a sequence starts)."""
        sizes = np.asarray(self.sizes)
        starts = np.asarray(self.starts)
        step_of = np.repeat(np.arange(len(sizes)), sizes)
        col = np.arange(self.rows) - starts[step_of]
        if not reverse:
            before = np.concatenate(([0], starts[:-1]))
            return np.where(step_of == 0, self.rows + col, before[step_of] + col)
        after_size = np.concatenate((sizes[1:], [0]))
        after_start = np.concatenate((starts[1:], [0]))
        return np.where(col < after_size[step_of], after_start[step_of] + col,
                        self.rows + col)


def _layout(op, proj, gates, batch_sizes):
    """(proj as rows (R, gates * H), its _Layout), checking ``proj`` and ``batch_sizes``."""
    shape = tuple(proj.shape)
    if batch_sizes is None:
        if len(shape) != 3 or not shape[-1] or shape[-1] % gates:
            raise ValueError(f"{op}: proj must be (steps, batch, {gates} * hidden_size), got "
                             f"shape {shape}")
        steps, batch = shape[0], shape[1]
        return reshape(proj, (steps * batch, shape[2])), _Layout((batch,) * steps,
                                                                 (steps, batch))
    sizes = tuple(int(b) for b in batch_sizes)
    if len(shape) != 2 or not shape[-1] or shape[-1] % gates:
        raise ValueError(f"{op}: packed proj must be (rows, {gates} * hidden_size), got "
                         f"shape {shape}")
    if not sizes or min(sizes) < 1 or any(a < b for a, b in zip(sizes, sizes[1:])) or \
            sum(sizes) != shape[0]:
        raise ValueError(f"{op}: batch_sizes must be positive, non-increasing and sum to "
                         f"proj's {shape[0]} rows, got {list(sizes)}")
    return proj, _Layout(sizes, None)


def _check(op, lay, proj, gates, states, w_hh, b_hh=None):
    """H, after checking the states (N, H), w_hh (gates * H, H) and b_hh (gates * H,)."""
    hidden = proj.shape[-1] // gates
    batch = lay.sizes[0] if lay.sizes else (lay.padded[1] if lay.padded else 0)
    wanted = [(name, a, (batch, hidden)) for name, a in states]
    wanted.append(("w_hh", w_hh, (gates * hidden, hidden)))
    if b_hh is not None:
        wanted.append(("b_hh", b_hh, (gates * hidden,)))
    for name, a, want in wanted:
        if tuple(a.shape) != want:
            raise ValueError(f"{op}: {name} must have shape {want} for proj of shape "
                             f"{tuple(proj.shape)}, got {tuple(a.shape)}")
    return hidden


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


def _shaped(out, lay, lead=()):
    """A rows answer (``lead`` + (R, H)) in the caller's layout: (T, N, H) when padded."""
    if lay.padded is None:
        return out
    return out.reshape(tuple(lead) + lay.padded + out.shape[-1:])


def _as_rows(a, lay, lead=0):
    """A cotangent in the caller's layout as rows (R, cols), after ``lead`` axes."""
    if lay.padded is None:
        return a
    return a.reshape(a.shape[:lead] + (lay.rows, a.shape[-1]))


def _entering(ans_rows, first_state, lay, reverse):
    """The state entering each row's step, (R, H): one gather from the answer's rows, and the
    initial state's rows where sequences start (indices made on the host: no device wait)."""
    from ..backend.device import xp_of

    xp = xp_of(ans_rows)
    index = lay.previous_rows(reverse)
    starting = np.flatnonzero(index >= lay.rows)
    out = ans_rows[xp.asarray(np.where(index >= lay.rows, 0, index))]
    out[xp.asarray(starting)] = first_state[xp.asarray(index[starting] - lay.rows)]
    return out


def _entering_step(ans_rows, first_state, lay, t, reverse):
    """The state entering step ``t``'s rows, (b, H): a view of the answer's rows of the step
    before (or the initial state), but where sequences join a backward run (packed, reversed):
    those rows from the initial state."""
    b = lay.sizes[t]
    if not reverse:
        if t == 0:
            return first_state[:b]
        r0 = lay.starts[t - 1]
        return ans_rows[r0:r0 + b]
    if t == len(lay.sizes) - 1:
        return first_state[:b]
    after, r0 = lay.sizes[t + 1], lay.starts[t + 1]
    if after >= b:
        return ans_rows[r0:r0 + b]
    return np.concatenate((ans_rows[r0:r0 + after], first_state[after:b]))


def _weight_grad(d, ans_rows, first_state, lay, reverse):
    """sum over steps of d_t^T (the state entering step t): padded, two GEMMs on views (the
    first step's initial state, then every other step's rows against the rows of the step
    before); packed, one GEMM against the gathered entering states."""
    if lay.padded is None:
        return d.T @ _entering(ans_rows, first_state, lay, reverse)
    batch = lay.padded[1]
    rows = lay.rows
    if reverse:
        dw = d[rows - batch:].T @ first_state
        if rows > batch:
            dw += d[:rows - batch].T @ ans_rows[batch:]
        return dw
    dw = d[:batch].T @ first_state
    if rows > batch:
        dw += d[batch:].T @ ans_rows[:rows - batch]
    return dw


def _sigmoid_(a):
    """a = 1 / (1 + exp(-a)) in place (``tensorgrad.sigmoid``'s formula; exp overflows to
    inf below -88 in float32, which gives the right 0)."""
    np.negative(a, out=a)
    np.exp(a, out=a)
    a += 1
    np.reciprocal(a, out=a)


def _steps_composed(step, proj, states, lay, reverse):
    """The step-by-step composition over the rows of ``proj`` with tensorgrad's ops: ``step``
    maps (the step's projections, the running states) to the new states; returns, per state,
    the new states of every step concatenated in row order. Sequences that end leave the
    running batch; backwards, they join it from their initial state."""
    steps = len(lay.sizes)
    outs = [[None] * steps for _ in states]
    if reverse:
        cur = lay.sizes[-1]
        run = tuple(s[:cur] for s in states)
    else:
        cur = lay.sizes[0]
        run = tuple(states)
    for t in _order(steps, reverse):
        b, rows = lay.step(t)
        if b > cur:
            run = tuple(concatenate_(0, r, s[cur:b]) for r, s in zip(run, states))
        elif b < cur:
            run = tuple(r[:b] for r in run)
        cur = b
        run = step(proj[rows], run)
        for k, r in enumerate(run):
            outs[k][t] = r
    return [concatenate_(0, *o) for o in outs]


# ---- LSTM -------------------------------------------------------------------------------------
@primitive
def lstm_sequence(proj, h0, c0, w_hh, *, reverse=False, batch_sizes=None):
    """The (2, T, N, H) states [h, c] of every step of an LSTM from the input projections
    ``proj`` (T, N, 4H), the initial state (h0, c0) and the recurrent weight w_hh (4H, H);
    with ``batch_sizes``, (2, R, H) from packed (R, 4H)."""
    LAST[0] = None
    rows, lay = _layout("lstm_sequence", proj, 4, batch_sizes)
    hidden = _check("lstm_sequence", lay, proj, 4, (("h0", h0), ("c0", c0)), w_hh)
    if _fast(rows, h0, c0, w_hh):
        return _shaped(_forward_numpy(rows, h0, c0, w_hh, reverse, lay), lay, (2,))
    from ..backend.device import xp_of

    xp = xp_of(rows)
    out = xp.empty((2, lay.rows, hidden), xp.result_type(rows, h0, c0, w_hh))
    h, c, w_t = h0.copy(), c0.copy(), w_hh.T  # the running state
    for t in _order(len(lay.sizes), reverse):
        b, r = lay.step(t)
        hc = lstm_cell(rows[r] + h[:b] @ w_t, c[:b])  # one fused kernel on CuPy
        out[0, r] = h[:b] = hc[:, :hidden]
        out[1, r] = c[:b] = hc[:, hidden:]
    return _shaped(out, lay, (2,))


def _forward_numpy(proj, h0, c0, w_hh, reverse, lay):
    _, four = proj.shape
    hidden = four // 4
    out, acts = _answer_and_kept(proj.dtype, (2, lay.rows, hidden), (lay.rows, four))
    batch = h0.shape[0]
    scratch = np.empty((batch, four), proj.dtype) if acts is None else None
    tmp = np.empty((batch, hidden), proj.dtype)
    h, c, w_t = h0.copy(), c0.copy(), _transposed(w_hh)  # the running state
    with np.errstate(over="ignore"):
        for t in _order(len(lay.sizes), reverse):
            b, r = lay.step(t)
            a = scratch[:b] if acts is None else acts[r]
            tb = tmp[:b]
            np.matmul(h[:b], w_t, out=a)
            a += proj[r]
            i, f, g, o = (a[:, k * hidden:(k + 1) * hidden] for k in range(4))
            np.tanh(g, out=tb)
            _sigmoid_(a)  # the g quarter of it is overwritten: one call instead of three
            g[...] = tb
            h_t, c_t = out[0, r], out[1, r]
            np.multiply(f, c[:b], out=c_t)
            np.multiply(i, g, out=tb)
            c_t += tb
            np.tanh(c_t, out=h_t)
            h_t *= o
            h[:b] = h_t
            c[:b] = c_t
    return out


def _grads_numpy(g, ans, h0, c0, w_hh, acts, reverse, lay):
    """(d proj, d h0, d c0, d w_hh) on rows from the saved activations, in place: per step the
    four gates' cotangents are one product of (b, 4H) rows, [dc g, dc c_prev, dc i,
    dh tanh(c)] times the activations' slopes [i (1 - i), f (1 - f), 1 - g^2, o (1 - o)]."""
    hidden = ans.shape[-1]
    dtype = ans.dtype
    batch = h0.shape[0]
    d = np.empty(acts.shape, dtype)  # d gates of every step, which is d proj
    dh, dc = np.zeros((batch, hidden), dtype), np.zeros((batch, hidden), dtype)
    xs, ss, tcs, tmp = (np.empty((batch, hidden), dtype) for _ in range(4))
    slopes = np.empty((batch, 4 * hidden), dtype)
    for t in reversed(_order(len(lay.sizes), reverse)):
        b, r = lay.step(t)
        x, s, tc, slope = xs[:b], ss[:b], tcs[:b], slopes[:b]
        a = acts[r]
        i, f, cand, o = (a[:, k * hidden:(k + 1) * hidden] for k in range(4))
        dt = d[r]
        di, df, dcand, do = (dt[:, k * hidden:(k + 1) * hidden] for k in range(4))
        np.tanh(ans[1, r], out=tc)
        np.add(g[0, r], dh[:b], out=x)  # d h_t: from the output and from the next step
        np.multiply(x, tc, out=do)
        np.multiply(x, o, out=s)
        np.multiply(s, tc, out=x)
        x *= tc
        s -= x  # d h_t * o * (1 - tanh(c_t)^2)
        s += dc[:b]
        s += g[1, r]  # d c_t
        np.multiply(s, cand, out=di)
        np.multiply(s, _entering_step(ans[1], c0, lay, t, reverse), out=df)
        np.multiply(s, i, out=dcand)
        np.multiply(a, a, out=slope)
        np.subtract(a, slope, out=slope)  # the sigmoids' slopes s (1 - s)
        g_slope = slope[:, 2 * hidden:3 * hidden]
        np.multiply(cand, cand, out=g_slope)
        np.subtract(1, g_slope, out=g_slope)  # tanh's, 1 - g^2, in the g quarter
        dt *= slope
        np.multiply(s, f, out=dc[:b])
        np.matmul(dt, w_hh, out=dh[:b])
    return d, dh, dc, _weight_grad(d, ans[0], h0, lay, reverse)


def _grads_arrays(g, ans, proj, h0, c0, w_hh, reverse, lay):
    """The four cotangents on raw arrays of any device: the fused cell's backward per step
    (its kernel on CuPy), after recomputing every step's gates with one GEMM."""
    from ..backend.device import xp_of

    xp = xp_of(ans)
    hidden = ans.shape[-1]
    hprev = _entering(ans[0], h0, lay, reverse)
    cprev = _entering(ans[1], c0, lay, reverse)
    gates = proj + hprev @ w_hh.T
    d = xp.empty(gates.shape, gates.dtype)
    dh = xp.zeros((h0.shape[0], hidden), gates.dtype)
    dc = xp.zeros((h0.shape[0], hidden), gates.dtype)
    for t in reversed(_order(len(lay.sizes), reverse)):
        b, r = lay.step(t)
        packed_g = xp.concatenate((g[0, r] + dh[:b], g[1, r] + dc[:b]), -1)
        packed_ans = xp.concatenate((ans[0, r], ans[1, r]), -1)
        d[r], dc[:b] = _lstm_grads(packed_g, packed_ans, gates[r], cprev[r])
        dh[:b] = d[r] @ w_hh
    return d, dh, dc, d.T @ hprev


def _composed(proj, h0, c0, w_hh, reverse=False, batch_sizes=None):
    """The same function step by step with tensorgrad's ops (differentiable to any order)."""
    rows, lay = _layout("lstm_sequence", proj, 4, batch_sizes)
    w_t = swapaxes(w_hh, 0, 1)
    hs, cs = _steps_composed(lambda p, s: lstm_cell_hc(p + matmul(s[0], w_t), s[1]),
                             rows, (h0, c0), lay, reverse)
    return _shaped(stack_(0, hs, cs), lay, (2,))


def _first_order(g, ans, proj, h0, c0, w_hh, reverse=False, batch_sizes=None):
    rows, lay = _layout("lstm_sequence", proj, 4, batch_sizes)
    g, ans = _as_rows(g, lay, 1), _as_rows(ans, lay, 1)
    if _fast(g, ans, rows, h0, c0, w_hh):
        acts = _saved_behind(ans, lay.rows, 4 * ans.shape[-1])
        if acts is not None:
            out = _grads_numpy(g, ans, h0, c0, w_hh, acts, reverse, lay)
            return (out[0].reshape(proj.shape),) + out[1:]
    out = _grads_arrays(g, ans, rows, h0, c0, w_hh, reverse, lay)
    return (out[0].reshape(proj.shape),) + out[1:]


define_rules(lstm_sequence, _composed, _first_order, 4)


# ---- GRU --------------------------------------------------------------------------------------
@primitive
def gru_sequence(proj, h0, w_hh, b_hh, *, reverse=False, batch_sizes=None):
    """The (T, N, H) h of every step of a GRU from the input projections ``proj`` (T, N, 3H),
    the initial state h0, the recurrent weight w_hh (3H, H) and bias b_hh (3H,) or None; with
    ``batch_sizes``, (R, H) from packed (R, 3H)."""
    LAST[0] = None
    rows, lay = _layout("gru_sequence", proj, 3, batch_sizes)
    _check("gru_sequence", lay, proj, 3, (("h0", h0),), w_hh, b_hh)
    arrays = (rows, h0, w_hh) + (() if b_hh is None else (b_hh,))
    if _fast(*arrays):
        return _shaped(_gru_forward_numpy(rows, h0, w_hh, b_hh, reverse, lay), lay)
    from ..backend.device import xp_of

    xp = xp_of(rows)
    out = xp.empty((lay.rows, h0.shape[-1]), xp.result_type(*arrays))
    h = h0.copy()  # the running state
    for t in _order(len(lay.sizes), reverse):
        b, r = lay.step(t)
        gh = h[:b] @ w_hh.T if b_hh is None else h[:b] @ w_hh.T + b_hh
        out[r] = h[:b] = gru_cell(rows[r], gh, h[:b])  # one fused kernel on CuPy
    return _shaped(out, lay)


def _thirds(a, hidden):
    return a[:, :hidden], a[:, hidden:2 * hidden], a[:, 2 * hidden:3 * hidden]


def _gru_forward_numpy(proj, h0, w_hh, b_hh, reverse, lay):
    """The steps in place, the formulas of ``gru_cell`` operation for operation; behind the
    answer, per row, r, z, n and the n part of h W_hh^T + b_hh (4H)."""
    _, three = proj.shape
    hidden = three // 3
    out, saved = _answer_and_kept(proj.dtype, (lay.rows, hidden), (lay.rows, 4 * hidden))
    batch = h0.shape[0]
    scratch = np.empty((batch, 4 * hidden), proj.dtype) if saved is None else None
    ghs = np.empty((batch, three), proj.dtype)
    h, w_t = h0.copy(), _transposed(w_hh)  # the running state
    with np.errstate(over="ignore"):
        for t in _order(len(lay.sizes), reverse):
            b, r = lay.step(t)
            s, p, gh, hb = (scratch[:b] if saved is None else saved[r]), proj[r], ghs[:b], h[:b]
            np.matmul(hb, w_t, out=gh)
            if b_hh is not None:
                gh += b_hh
            rz = s[:, :2 * hidden]
            np.add(p[:, :2 * hidden], gh[:, :2 * hidden], out=rz)
            _sigmoid_(rz)
            rg, z, n = _thirds(s, hidden)
            hn = s[:, 3 * hidden:]
            hn[...] = gh[:, 2 * hidden:]
            np.multiply(rg, hn, out=n)
            n += p[:, 2 * hidden:]
            np.tanh(n, out=n)
            h_t = out[r]
            np.subtract(hb, n, out=h_t)
            h_t *= z
            h_t += n
            hb[...] = h_t
    return out


def _gru_grads_numpy(g, ans, h0, w_hh, b_hh, saved, reverse, lay):
    """(d proj, d h0, d w_hh, d b_hh) on rows from the activations kept behind the answer."""
    hidden = ans.shape[-1]
    dtype = ans.dtype
    batch = h0.shape[0]
    d_in = np.empty((lay.rows, 3 * hidden), dtype)  # d proj
    d_rec = np.empty((lay.rows, 3 * hidden), dtype)  # d (h W_hh^T + b_hh)
    dh = np.zeros((batch, hidden), dtype)
    xs, gzs, tmps = (np.empty((batch, hidden), dtype) for _ in range(3))
    for t in reversed(_order(len(lay.sizes), reverse)):
        b, r = lay.step(t)
        x, gz, tmp = xs[:b], gzs[:b], tmps[:b]
        rg, z, n = _thirds(saved[r], hidden)
        hn = saved[r][:, 3 * hidden:]
        dr, dz, dn = _thirds(d_in[r], hidden)
        np.add(g[r], dh[:b], out=x)  # d h_t: from the output and from the next step
        np.multiply(x, z, out=gz)
        np.subtract(x, gz, out=dn)
        np.multiply(dn, n, out=tmp)
        tmp *= n
        dn -= tmp  # through the tanh
        np.subtract(_entering_step(ans, h0, lay, t, reverse), n, out=dz)
        dz *= x
        np.multiply(dn, hn, out=dr)
        for grad, act in ((dz, z), (dr, rg)):
            np.multiply(grad, act, out=tmp)
            np.multiply(tmp, act, out=grad)
            np.subtract(tmp, grad, out=grad)  # through the sigmoid
        e = d_rec[r]
        e[:, :2 * hidden] = d_in[r][:, :2 * hidden]
        np.multiply(dn, rg, out=e[:, 2 * hidden:])
        np.matmul(e, w_hh, out=dh[:b])
        dh[:b] += gz
    db = None if b_hh is None else d_rec.sum(0)
    return d_in, dh, _weight_grad(d_rec, ans, h0, lay, reverse), db


def _gru_grads_arrays(g, ans, proj, h0, w_hh, b_hh, reverse, lay):
    """The cotangents on raw arrays of any device: the fused cell's backward per step (its
    kernel on CuPy), after recomputing every step's h W_hh^T + b_hh with one GEMM."""
    from ..backend.device import xp_of

    xp = xp_of(ans)
    hprev = _entering(ans, h0, lay, reverse)
    gh = hprev @ w_hh.T
    if b_hh is not None:
        gh = gh + b_hh
    d_in = xp.empty(proj.shape, gh.dtype)
    d_rec = xp.empty(gh.shape, gh.dtype)
    dh = xp.zeros(h0.shape, gh.dtype)
    for t in reversed(_order(len(lay.sizes), reverse)):
        b, r = lay.step(t)
        d_in[r], d_rec[r], dh_b = _gru_grads(g[r] + dh[:b], ans[r], proj[r], gh[r], hprev[r])
        dh[:b] = dh_b + d_rec[r] @ w_hh
    db = None if b_hh is None else d_rec.sum(0)
    return d_in, dh, d_rec.T @ hprev, db


def _gru_composed(proj, h0, w_hh, b_hh, reverse=False, batch_sizes=None):
    """The same function step by step with tensorgrad's ops (differentiable to any order)."""
    rows, lay = _layout("gru_sequence", proj, 3, batch_sizes)
    hs, = _steps_composed(lambda p, s: (gru_cell(p, linear(s[0], w_hh, b_hh), s[0]),),
                          rows, (h0,), lay, reverse)
    return _shaped(hs, lay)


def _gru_first_order(g, ans, proj, h0, w_hh, b_hh, reverse=False, batch_sizes=None):
    rows, lay = _layout("gru_sequence", proj, 3, batch_sizes)
    g, ans = _as_rows(g, lay), _as_rows(ans, lay)
    arrays = (g, ans, rows, h0, w_hh) + (() if b_hh is None else (b_hh,))
    out = None
    if _fast(*arrays):
        saved = _saved_behind(ans, lay.rows, 4 * ans.shape[-1])
        if saved is not None:
            out = _gru_grads_numpy(g, ans, h0, w_hh, b_hh, saved, reverse, lay)
    if out is None:
        out = _gru_grads_arrays(g, ans, rows, h0, w_hh, b_hh, reverse, lay)
    return (out[0].reshape(proj.shape),) + out[1:]


define_rules(gru_sequence, _gru_composed, _gru_first_order, 4)


# ---- Elman RNN -------------------------------------------------------------------------------
@primitive
def rnn_sequence(proj, h0, w_hh, *, nonlinearity="tanh", reverse=False, batch_sizes=None):
    """The (T, N, H) h of every step of an Elman RNN, h_t = act(proj_t + h_{t-1} W_hh^T), from
    ``proj`` (T, N, H) = x W_ih^T + b_ih + b_hh, h0 and w_hh (H, H); act tanh or relu; with
    ``batch_sizes``, (R, H) from packed (R, H). The backward reads the derivative off the
    answer (1 - h^2, or h > 0): nothing is kept."""
    rows, lay = _layout("rnn_sequence", proj, 1, batch_sizes)
    _check("rnn_sequence", lay, proj, 1, (("h0", h0),), w_hh)
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"rnn_sequence: nonlinearity must be 'tanh' or 'relu', got "
                         f"{nonlinearity!r}")
    from ..backend.device import xp_of

    xp = xp_of(rows)
    out = xp.empty((lay.rows, h0.shape[-1]), xp.result_type(rows, h0, w_hh))
    host = _fast(rows, h0, w_hh)
    h, w_t = h0.copy(), _transposed(w_hh) if host else w_hh.T  # the running state
    for t in _order(len(lay.sizes), reverse):
        b, r = lay.step(t)
        a = out[r]
        if host:
            np.matmul(h[:b], w_t, out=a)
        else:
            a[...] = h[:b] @ w_t
        a += rows[r]
        if nonlinearity == "tanh":
            xp.tanh(a, out=a)
        else:
            xp.clip(a, 0, xp.inf, out=a)  # relu's: -0.0 stays, NaN stays
        h[:b] = a
    return _shaped(out, lay)


def _rnn_first_order(g, ans, proj, h0, w_hh, *, nonlinearity="tanh", reverse=False,
                     batch_sizes=None):
    """(d proj, d h0, d w_hh) on raw arrays of any device, the pre-activation cotangent of
    each step written in place into one (R, H) buffer."""
    from ..backend.device import xp_of

    _, lay = _layout("rnn_sequence", proj, 1, batch_sizes)
    g, ans = _as_rows(g, lay), _as_rows(ans, lay)
    xp = xp_of(ans)
    d = xp.empty(ans.shape, xp.result_type(g, ans))
    dh = xp.zeros(h0.shape, d.dtype)
    for t in reversed(_order(len(lay.sizes), reverse)):
        b, r = lay.step(t)
        dt, h_t = d[r], ans[r]
        xp.add(g[r], dh[:b], out=dt)
        if nonlinearity == "tanh":
            dt -= (dt * h_t) * h_t  # tanh's rule, g - g h h
        else:
            dt *= h_t > 0
        dh[:b] = dt @ w_hh
    return d.reshape(proj.shape), dh, _weight_grad(d, ans, h0, lay, reverse)


def _rnn_composed(proj, h0, w_hh, nonlinearity="tanh", reverse=False, batch_sizes=None):
    """The same function step by step with tensorgrad's ops (differentiable to any order)."""
    from .elementwise import relu, tanh

    act = tanh if nonlinearity == "tanh" else relu
    rows, lay = _layout("rnn_sequence", proj, 1, batch_sizes)
    w_t = swapaxes(w_hh, 0, 1)
    hs, = _steps_composed(lambda p, s: (act(p + matmul(s[0], w_t)),), rows, (h0,), lay,
                          reverse)
    return _shaped(hs, lay)


define_rules(rnn_sequence, _rnn_composed, _rnn_first_order, 3)

__all__ = ["lstm_sequence", "gru_sequence", "rnn_sequence"]
