"""The pointwise part of one LSTM or GRU step as one primitive each (used by ``nn.LSTM``,
``nn.GRU`` and their cells).

A step composed of primitives (four gate slices, three sigmoids, two tanhs, products, sums)
records about fifteen nodes, each with its own temporaries, and its backward zero-fills a
(N, 4H) cotangent for every gate slice. Here the step is one node: the forward writes its
answer in one pass (one fused CUDA kernel on CuPy), and the VJP computes the cotangents of
every input in one pass (one kernel on CuPy), recomputing the gate activations from the
pre-activations instead of saving them. The matrix products stay outside (BLAS).

- ``lstm_cell(gates, c_prev)``: gates (..., 4H) in PyTorch's order i, f, g, o (the sum
  ``x W_ih^T + b_ih + h W_hh^T + b_hh``), c_prev (..., H). Returns (..., 2H): h in the first
  half, c in the second (one primitive has one answer; :func:`lstm_cell_hc` slices it).
- ``gru_cell(gi, gh, h_prev)``: gi = ``x W_ih^T + b_ih``, gh = ``h W_hh^T + b_hh`` (..., 3H)
  in PyTorch's order r, z, n, with b_hn inside the r product as PyTorch has it; returns h'.

The forward formulas are those of the composed steps, operation for operation (sigmoid is
``1 / (1 + exp(-x))`` as ``tensorgrad.sigmoid`` computes it), so on the CPU the values are
the composed path's bit for bit. The VJP and JVP rules are written with tensorgrad's ops, so on
Tensors (``create_graph=True``, higher order, forward mode) they are differentiable themselves;
only first-order rules on CuPy arrays take the kernels (and on NumPy arrays the LSTM's VJP
runs the same formulas in place, :func:`_lstm_grads_numpy`).
"""

import numpy as np

from ..backend import cuda as _cuda
from ..backend.device import _CUPY_ARRAY, xp_of
from .composed_rules import LAST, one_pass
from .elementwise import sigmoid, tanh
from .index import getitem
from .registry import defjvp, defvjp, primitive
from .shape import concatenate_


def _chunks(a, k):
    n = a.shape[-1] // k
    return [a[..., j * n:(j + 1) * n] for j in range(k)]


def _check(op, wide, k, state, wide_name, state_name, other=None, other_name=None):
    """The hidden size H, after checking that ``wide`` is (..., kH) and ``state`` (..., H)."""
    shape = tuple(wide.shape)
    if not shape or shape[-1] % k or shape[-1] == 0:
        raise ValueError(f"{op}: {wide_name} must be (..., {k} * hidden_size), got shape "
                         f"{shape}")
    hidden = shape[-1] // k
    if other is not None and tuple(other.shape) != shape:
        raise ValueError(f"{op}: {other_name} must have the shape of {wide_name} {shape}, got "
                         f"{tuple(other.shape)}")
    if tuple(state.shape) != shape[:-1] + (hidden,):
        raise ValueError(f"{op}: {state_name} must have shape {shape[:-1] + (hidden,)} for "
                         f"{wide_name} of shape {shape}, got {tuple(state.shape)}")
    return hidden


def _kernel_args(*arrays):
    """Whether the raw arrays can go to the fused kernels: CuPy, one float dtype."""
    first = arrays[0]
    return _cuda.fusable(first) and all(type(a) is _CUPY_ARRAY and a.dtype == first.dtype
                                        for a in arrays[1:])


# ---- LSTM -------------------------------------------------------------------------------------
def _lstm_acts(gates):
    s = sigmoid(gates)  # the g quarter of it is not used: one call instead of three
    i, f, _, o = _chunks(s, 4)
    return i, f, tanh(_chunks(gates, 4)[2]), o


@primitive
def lstm_cell(gates, c_prev):
    """h and c of an LSTM step, packed (..., 2H), from the gate pre-activations and c_prev."""
    LAST[0] = None
    hidden = _check("lstm_cell", gates, 4, c_prev, "gates", "c_prev")
    if _kernel_args(gates, c_prev):
        return _cuda.lstm_cell(gates, c_prev, hidden)
    xp = xp_of(gates)
    i, f, g, o = _lstm_acts(gates)
    out = xp.empty(gates.shape[:-1] + (2 * hidden,), xp.result_type(gates, c_prev))
    h, c = out[..., :hidden], out[..., hidden:]
    xp.multiply(f, c_prev, out=c)
    c += i * g
    xp.tanh(c, out=h)
    h *= o
    return out


# The indices of h and c in the packed answer, one pair per hidden size, shared by every step:
# the getitem nodes of an unrolled loop then hold no index objects of their own for the
# garbage collector to scan (and raw_index has none to rebuild).
_HALVES = {}


def lstm_cell_hc(gates, c_prev):
    """(h, c) of :func:`lstm_cell`: the two halves of its answer."""
    out = lstm_cell(gates, c_prev)
    hidden = out.shape[-1] // 2
    halves = _HALVES.get(hidden)
    if halves is None:
        halves = _HALVES[hidden] = ((Ellipsis, slice(None, hidden)),
                                    (Ellipsis, slice(hidden, None)))
    return getitem(out, halves[0]), getitem(out, halves[1])


def _lstm_grads(g, ans, gates, c_prev):
    """(d gates, d c_prev) from the cotangent g = (dh, dc) of the packed answer."""
    if type(g) is _CUPY_ARRAY and _kernel_args(gates, c_prev):
        return _cuda.lstm_cell_backward(g, gates, c_prev)
    if type(g) is np.ndarray and type(gates) is np.ndarray and type(c_prev) is np.ndarray \
            and type(ans) is np.ndarray and g.dtype == gates.dtype == c_prev.dtype:
        return _lstm_grads_numpy(g, ans, gates, c_prev)
    i, f, cand, o = _lstm_acts(gates)
    dh, dc = _chunks(g, 2)
    tc = tanh(_chunks(ans, 2)[1])
    dho = dh * o
    dc = dc + (dho - dho * tc * tc)
    dci = dc * i
    dcf = dc * f
    di = dc * cand
    df = dc * c_prev
    do = dh * tc
    d_gates = concatenate_(-1, di * i - di * i * i, df * f - df * f * f, dci - dci * cand * cand,
                           do * o - do * o * o)
    return d_gates, dcf


def _lstm_grads_numpy(g, ans, gates, c_prev):
    """:func:`_lstm_grads` on NumPy arrays of one dtype, operation for operation (the same
    values bit for bit), with the results written into their final buffers: d gates is made
    in place of the concatenation, and two scratch arrays replace some twenty temporaries (an
    unrolled RNN's backward runs this once per step and cell)."""
    i, f, cand, o = _lstm_acts(gates)
    dh, dc = _chunks(g, 2)
    tc = np.tanh(_chunks(ans, 2)[1])
    d_gates = np.empty(gates.shape, gates.dtype)
    di, df, dcand, do = _chunks(d_gates, 4)
    a = dh * o  # dho
    b = a * tc
    b *= tc
    a -= b
    np.add(dc, a, out=a)  # dc = dc + (dho - dho * tc * tc)
    dcf = a * f
    for grad, by, act in ((di, cand, i), (df, c_prev, f), (do, None, o)):
        if by is None:
            np.multiply(dh, tc, out=grad)  # do = dh * tc
        else:
            np.multiply(a, by, out=grad)  # di = dc * cand, df = dc * c_prev
        np.multiply(grad, act, out=b)
        np.multiply(b, act, out=grad)
        np.subtract(b, grad, out=grad)  # x * s - x * s * s
    np.multiply(a, i, out=dcand)  # dci
    np.multiply(dcand, cand, out=b)
    b *= cand
    np.subtract(dcand, b, out=dcand)  # dci - dci * cand * cand
    return d_gates, dcf


def _lstm_tangent(t, of_gates, ans, gates, c_prev):
    """The tangent (dh, dc) of the packed answer for a tangent ``t`` of gates (``of_gates``)
    or of c_prev."""
    i, f, cand, o = _lstm_acts(gates)
    tc = tanh(_chunks(ans, 2)[1])
    oc = o - o * tc * tc
    if not of_gates:
        dc = f * t
        return concatenate_(-1, oc * dc, dc)
    ti, tf, tg, to = _chunks(t, 4)
    dc = (tf * (f - f * f)) * c_prev + (ti * (i - i * i)) * cand + i * (tg - tg * cand * cand)
    return concatenate_(-1, (to * (o - o * o)) * tc + oc * dc, dc)


defvjp(lstm_cell, one_pass(_lstm_grads, 0, 1), one_pass(_lstm_grads, 1, 1))
defjvp(lstm_cell, lambda t, ans, gates, c_prev: _lstm_tangent(t, True, ans, gates, c_prev),
       lambda t, ans, gates, c_prev: _lstm_tangent(t, False, ans, gates, c_prev))


# ---- GRU --------------------------------------------------------------------------------------
def _gru_acts(gi, gh):
    ir, iz, i_n = _chunks(gi, 3)
    hr, hz, hn = _chunks(gh, 3)
    r = sigmoid(ir + hr)
    z = sigmoid(iz + hz)
    return r, z, tanh(i_n + r * hn), hn


@primitive
def gru_cell(gi, gh, h_prev):
    """h' = n + z * (h_prev - n) of a GRU step from the input and hidden projections."""
    LAST[0] = None
    _check("gru_cell", gi, 3, h_prev, "gi", "h_prev", gh, "gh")
    if _kernel_args(gi, gh, h_prev):
        return _cuda.gru_cell(gi, gh, h_prev)
    _, z, n, _ = _gru_acts(gi, gh)
    out = h_prev - n
    out *= z
    out += n
    return out


def _gru_grads(g, ans, gi, gh, h_prev):
    """(d gi, d gh, d h_prev) from the cotangent g of h'."""
    if type(g) is _CUPY_ARRAY and _kernel_args(gi, gh, h_prev):
        return _cuda.gru_cell_backward(g, gi, gh, h_prev)
    r, z, n, hn = _gru_acts(gi, gh)
    gz = g * z
    dn = g - gz
    dn = dn - dn * n * n
    dz = g * (h_prev - n)
    dz = dz * z - dz * z * z
    dr = dn * hn
    dr = dr * r - dr * r * r
    return concatenate_(-1, dr, dz, dn), concatenate_(-1, dr, dz, dn * r), gz


def _gru_tangent(t, argnum, ans, gi, gh, h_prev):
    """The tangent of h' for a tangent ``t`` of gi (argnum 0), gh (1) or h_prev (2)."""
    r, z, n, hn = _gru_acts(gi, gh)
    if argnum == 2:
        return z * t
    tr, tz, tn = _chunks(t, 3)
    dr = tr * (r - r * r)
    dz = tz * (z - z * z)
    dn = dr * hn + (tn if argnum == 0 else r * tn)
    dn = dn - dn * n * n
    return dn - dn * z + dz * (h_prev - n)


defvjp(gru_cell, one_pass(_gru_grads, 0, 2), one_pass(_gru_grads, 1, 2),
       one_pass(_gru_grads, 2, 2))
defjvp(gru_cell, *(lambda t, ans, gi, gh, h_prev, k=k: _gru_tangent(t, k, ans, gi, gh, h_prev)
                   for k in range(3)))


__all__ = ["lstm_cell", "lstm_cell_hc", "gru_cell"]
