"""Recurrent layers with PyTorch's arguments, parameter names, shapes, initialisation and
numerics: ``RNN`` (tanh or relu), ``LSTM`` (with ``proj_size``), ``GRU`` and their cells.

Each layer and direction projects the inputs of all time steps with one matrix product, then a
Python loop over the steps adds the recurrent product and applies the gates: for the LSTM and
the GRU one fused primitive per step (``tensorgrad.ops.rnn_cell``: one node, one CUDA kernel
each way on CuPy), whose rules are differentiable, so gradients of every order follow. A
:class:`~tensorgrad.nn.utils.rnn.PackedSequence` input runs each sequence for its own length:
the final states are those of each sequence's last step.
"""

import math
import numbers
import warnings

import numpy as np

from .. import creation
from ..backend.device import xp_of
from ..ops.rnn_cell import gru_cell, lstm_cell_hc
from ..ops.rnn_sequence import gru_sequence, lstm_sequence, rnn_sequence
from ..ops.shape import concatenate_, expand_dims, squeeze, stack_, swapaxes
from . import functional as F
from . import init
from .modules import Module, Parameter
from .utils.rnn import PackedSequence

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


# ---- one step of each cell ------------------------------------------------------------------
# ``gi`` is the input projection x W_ih^T + b_ih of the step, ``h``/``c`` the state; each
# returns the new (h, c) (c None except for the LSTM).
def _rnn_step(act):
    def step(gi, h, c, w_hh, b_hh, w_hr):
        return act(gi + F.linear(h, w_hh, b_hh)), None
    return step


def _lstm_step(gi, h, c, w_hh, b_hh, w_hr):
    h, c = lstm_cell_hc(gi + F.linear(h, w_hh, b_hh), c)  # one fused node for the gates
    if w_hr is not None:
        h = F.linear(h, w_hr)
    return h, c


def _gru_step(gi, h, c, w_hh, b_hh, w_hr):
    return gru_cell(gi, F.linear(h, w_hh, b_hh), h), None  # b_hn inside r * (...), as torch


_STEPS = {"RNN_TANH": _rnn_step(F.tanh), "RNN_RELU": _rnn_step(F.relu), "LSTM": _lstm_step,
          "GRU": _gru_step}


def _scan(step, inputs, sizes, h, c, weights, reverse):
    """Run ``step`` over the per-step projections ``inputs`` from the state (h, c); ``sizes``
    (packed input) is the number of sequences running at each step, None when all run to the
    end. Returns (outputs per step, final h, final c)."""
    w_hh, b_hh, w_hr = weights
    count = len(inputs)
    outs = [None] * count
    if sizes is None:
        for t in (reversed(range(count)) if reverse else range(count)):
            h, c = step(inputs[t], h, c, w_hh, b_hh, w_hr)
            outs[t] = h
        return outs, h, c
    if reverse:  # sequences join as the steps go back: each starts from its own initial state
        h0, c0 = h, c
        cur = sizes[-1]
        h, c = h0[:cur], None if c0 is None else c0[:cur]
        for t in reversed(range(count)):
            if sizes[t] > cur:
                h = concatenate_(0, h, h0[cur:sizes[t]])
                c = None if c is None else concatenate_(0, c, c0[cur:sizes[t]])
                cur = sizes[t]
            h, c = step(inputs[t], h, c, w_hh, b_hh, w_hr)
            outs[t] = h
        return outs, h, c
    done_h, done_c = [], []  # the states of the sequences that ended, latest last
    cur = sizes[0]
    for t in range(count):
        if sizes[t] < cur:
            done_h.append(h[sizes[t]:cur])
            h = h[:sizes[t]]
            if c is not None:
                done_c.append(c[sizes[t]:cur])
                c = c[:sizes[t]]
            cur = sizes[t]
        h, c = step(inputs[t], h, c, w_hh, b_hh, w_hr)
        outs[t] = h
    if done_h:
        h = concatenate_(0, h, *reversed(done_h))
        if c is not None:
            c = concatenate_(0, c, *reversed(done_c))
    return outs, h, c


def _last_rows(sizes):
    """The packed row of each sequence's last step, from the batch sizes (an int64 array)."""
    sizes = np.asarray(sizes)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    lengths = (sizes[None, :] > np.arange(sizes[0])[:, None]).sum(1)
    return starts[lengths - 1] + np.arange(sizes[0])


def _split_steps(proj, bounds, packed):
    """The pieces ``proj[bounds[t]:bounds[t + 1]]`` (``proj[t]`` when not ``packed``). Their
    backward adds each piece's cotangent into one buffer in place (the engine's rule for
    slices), so cutting T pieces costs O(T) in backward, not O(T^2)."""
    return [proj[bounds[t]:bounds[t + 1]] if packed else proj[t]
            for t in range(len(bounds) - 1)]


def _shape(t):
    return tuple(t.shape)


def _reset_uniform(self):
    """Every parameter of a recurrent module or cell uniform in +-1/sqrt(hidden_size)
    (PyTorch's ``reset_parameters``)."""
    bound = 1.0 / math.sqrt(self.hidden_size)
    for p in self.parameters():
        init.uniform_(p, -bound, bound)


def _sizes_and_options(module, defaults):
    """PyTorch's repr of a recurrent module or cell: ``input_size, hidden_size``, then
    ``, name=value`` for each (name, default) of ``defaults`` whose value differs (``is not``
    for a bool default, as PyTorch tests; an absent attribute is its default)."""
    s = f"{module.input_size}, {module.hidden_size}"
    for name, default in defaults:
        value = getattr(module, name, default)
        if value is not default if isinstance(default, bool) else value != default:
            s += f", {name}={value}"
    return s


class RNNBase(Module):
    """The recurrent layers' common machinery (PyTorch's ``nn.RNNBase``): parameters
    ``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}`` (and
    ``weight_hr_l{k}`` for an LSTM with ``proj_size``), with ``_reverse`` for the backward
    direction, all uniform in +-1/sqrt(hidden_size)."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        name = {"RNN_TANH": "RNN", "RNN_RELU": "RNN"}.get(mode, mode)
        if mode not in _GATES:
            raise ValueError(f"RNNBase: unrecognized RNN mode {mode!r}")
        if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or \
                not 0 <= dropout <= 1:
            raise ValueError(f"{name}: dropout should be a number in range [0, 1] representing "
                             f"the probability of an element being zeroed, got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{name}: dropout option adds dropout after all but last recurrent "
                          f"layer, so non-zero dropout expects num_layers greater than 1, but "
                          f"got dropout={dropout} and num_layers={num_layers}", stacklevel=2)
        for what, v in (("bias", bias), ("batch_first", batch_first)):
            # as PyTorch: bias=0 or a string "False" (truthy) is a mistake, not a flag
            if not isinstance(v, bool):
                raise TypeError(f"{name}: {what} should be of type bool, got "
                                f"{type(v).__name__} ({v!r})")
        for what, v in (("input_size", input_size), ("hidden_size", hidden_size),
                        ("num_layers", num_layers), ("proj_size", proj_size)):
            if not isinstance(v, numbers.Integral) or isinstance(v, bool):
                raise TypeError(f"{name}: {what} should be of type int, got "
                                f"{type(v).__name__}")
        if hidden_size <= 0 or num_layers <= 0 or input_size <= 0:
            raise ValueError(f"{name}: input_size, hidden_size and num_layers must be "
                             f"positive, got input_size={input_size}, "
                             f"hidden_size={hidden_size}, num_layers={num_layers}")
        if proj_size < 0:
            raise ValueError(f"{name}: proj_size should be a positive integer or zero to "
                             f"disable projections, got {proj_size}")
        if proj_size >= hidden_size:
            raise ValueError(f"{name}: proj_size ({proj_size}) has to be smaller than "
                             f"hidden_size ({hidden_size})")
        if proj_size and mode != "LSTM":
            raise ValueError(f"{name}: proj_size argument is only supported for LSTM, not "
                             f"RNN or GRU")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        directions = 2 if bidirectional else 1
        out_size = proj_size or hidden_size
        gates = _GATES[mode] * hidden_size
        self._flat_weights_names = []
        for layer in range(num_layers):
            for d in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if d else "")
                layer_in = input_size if layer == 0 else out_size * directions
                shapes = [("weight_ih", (gates, layer_in)), ("weight_hh", (gates, out_size))]
                if bias:
                    shapes += [("bias_ih", (gates,)), ("bias_hh", (gates,))]
                if proj_size:
                    shapes.append(("weight_hr", (proj_size, hidden_size)))
                for pname, shape in shapes:
                    setattr(self, pname + suffix,
                            Parameter(creation.empty(*shape, dtype=dtype, device=device)))
                    self._flat_weights_names.append(pname + suffix)
        self.reset_parameters()

    reset_parameters = _reset_uniform

    def flatten_parameters(self):
        """Accepted for PyTorch's API: the weights are never flattened into one buffer here."""

    @property
    def _flat_weights(self):
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self):
        """The parameters, one list per layer and direction (PyTorch's ``all_weights``)."""
        per = len(self._flat_weights_names) // (self.num_layers * (2 if self.bidirectional
                                                                   else 1))
        flat = self._flat_weights
        return [flat[i:i + per] for i in range(0, len(flat), per)]

    def _name(self):
        return type(self).__name__

    def _weights(self, layer, direction):
        suffix = f"_l{layer}" + ("_reverse" if direction else "")

        def get(n):
            return getattr(self, n + suffix) if n + suffix in self._parameters else None
        return get("weight_ih"), get("bias_ih"), (get("weight_hh"), get("bias_hh"),
                                                  get("weight_hr"))

    def _check_hidden(self, h, expected, what):
        if _shape(h) != expected:
            raise RuntimeError(f"{self._name()}: Expected {what} size {expected}, got "
                               f"{list(h.shape)}")

    def forward(self, input, hx=None):
        name = self._name()
        lstm = self.mode == "LSTM"
        packed = isinstance(input, PackedSequence)
        directions = 2 if self.bidirectional else 1
        out_size = self.proj_size or self.hidden_size
        if packed:
            x = input.data
            sizes = [int(v) for v in input.batch_sizes.tolist()]
            batch = sizes[0]
            batched = True
            if x.ndim != 2:
                raise ValueError(f"{name}: a PackedSequence's data must be 2-D (steps, "
                                 f"input_size), got shape {_shape(x)}")
        else:
            if input.ndim not in (2, 3):
                raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.ndim}D "
                                 f"input instead (shape {_shape(input)})")
            batched = input.ndim == 3
            sizes = None
            x = input
            if not batched:
                x = expand_dims(x, 1)
            elif self.batch_first:
                x = swapaxes(x, 0, 1)
            batch = x.shape[1]
        if x.shape[-1] != self.input_size:
            raise RuntimeError(f"{name}: input.size(-1) must be equal to input_size. Expected "
                               f"{self.input_size}, got {x.shape[-1]} (input shape "
                               f"{_shape(x if packed else input)})")

        states = directions * self.num_layers
        if hx is None:
            h0 = creation.zeros(states, batch, out_size, dtype=x.dtype, device=x.device)
            c0 = creation.zeros(states, batch, self.hidden_size, dtype=x.dtype,
                                device=x.device) if lstm else None
        else:
            if lstm:
                if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                    raise TypeError(f"{name}: hx must be a tuple (h_0, c_0), got "
                                    f"{type(hx).__name__}")
                h0, c0 = hx
            else:
                h0, c0 = hx, None
            want = 3 if batched else 2
            for t, what in ((h0, "h_0"), (c0, "c_0")):
                if t is not None and t.ndim != want:
                    kind = "batched 3-D" if batched else "unbatched 2-D"
                    raise RuntimeError(f"{name}: For {kind} input, {what} should also be "
                                       f"{want}-D but got {t.ndim}-D tensor (shape "
                                       f"{_shape(t)})")
            if not batched:
                h0 = expand_dims(h0, 1)
                c0 = None if c0 is None else expand_dims(c0, 1)
            self._check_hidden(h0, (states, batch, out_size), "hidden")
            if c0 is not None:
                self._check_hidden(c0, (states, batch, self.hidden_size), "hidden[1]")
            if packed and input.sorted_indices is not None:
                h0 = h0[:, input.sorted_indices.data]
                c0 = None if c0 is None else c0[:, input.sorted_indices.data]

        step = _STEPS[self.mode]
        bounds = [0]  # the rows of each time step in the (packed) data
        for b in sizes if packed else [1] * x.shape[0]:
            bounds.append(bounds[-1] + b)
        h_n, c_n = [], []
        layer_in = x
        # one node per layer and direction (ops.rnn_sequence), padded or packed; a sequence's
        # last state is its row at its last step (backwards: at step 0)
        whole = not self.proj_size and x.shape[0] > 0
        if whole:
            ends = (-1, 0) if not packed else (xp_of(x.data).asarray(_last_rows(sizes)),
                                               slice(0, batch))
        for layer in range(self.num_layers):
            outs = []
            for d in range(directions):
                w_ih, b_ih, rec = self._weights(layer, d)
                k = layer * directions + d
                if whole:
                    end = ends[d]
                    kw = dict(reverse=d == 1, batch_sizes=tuple(sizes) if packed else None)
                    if lstm:
                        b = None if b_ih is None else b_ih + rec[1]
                        hc = lstm_sequence(F.linear(layer_in, w_ih, b), h0[k], c0[k], rec[0],
                                           **kw)
                        hs = hc[0]
                        c_n.append(hc[1][end])
                    elif self.mode != "GRU":
                        b = None if b_ih is None else b_ih + rec[1]
                        act = "tanh" if self.mode == "RNN_TANH" else "relu"
                        hs = rnn_sequence(F.linear(layer_in, w_ih, b), h0[k], rec[0],
                                          nonlinearity=act, **kw)
                        c_n.append(None)
                    else:
                        hs = gru_sequence(F.linear(layer_in, w_ih, b_ih), h0[k], rec[0],
                                          rec[1], **kw)
                        c_n.append(None)
                    outs.append(hs)
                    h_n.append(hs[end])
                    continue
                proj = F.linear(layer_in, w_ih, b_ih)  # every step's input at once
                inputs = _split_steps(proj, bounds, packed)
                seq, h, c = _scan(step, inputs, sizes, h0[k], None if c0 is None else c0[k],
                                  rec, reverse=d == 1)
                outs.append(concatenate_(0, *seq) if packed else stack_(0, *seq))
                h_n.append(h)
                c_n.append(c)
            layer_in = outs[0] if directions == 1 else concatenate_(outs[0].ndim - 1, *outs)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_in = F.dropout(layer_in, self.dropout, True)

        out = layer_in
        h_n = stack_(0, *h_n)
        c_n = stack_(0, *c_n) if lstm else None
        if packed:
            if input.unsorted_indices is not None:
                h_n = h_n[:, input.unsorted_indices.data]
                c_n = None if c_n is None else c_n[:, input.unsorted_indices.data]
            out = PackedSequence(out, input.batch_sizes, input.sorted_indices,
                                 input.unsorted_indices)
        elif not batched:
            out = squeeze(out, 1)
            h_n = squeeze(h_n, 1)
            c_n = None if c_n is None else squeeze(c_n, 1)
        elif self.batch_first:
            out = swapaxes(out, 0, 1)
        return out, ((h_n, c_n) if lstm else h_n)

    def extra_repr(self):
        return _sizes_and_options(self, (("proj_size", 0), ("num_layers", 1), ("bias", True),
                                         ("batch_first", False), ("dropout", 0),
                                         ("bidirectional", False)))


class RNN(RNNBase):
    """Elman RNN, h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) with act tanh or relu
    (PyTorch's ``nn.RNN``: ``RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh',
    bias=True, batch_first=False, dropout=0.0, bidirectional=False)``).

    ``forward(input, hx=None)`` returns ``(output, h_n)``: input (L, N, H_in), (N, L, H_in)
    with ``batch_first``, unbatched (L, H_in), or a PackedSequence; hx and h_n
    (D * num_layers, N, H_out) ((D * num_layers, H_out) unbatched).

    >>> import tensorgrad as tg
    >>> rnn = tg.nn.RNN(4, 6, num_layers=2, batch_first=True)
    >>> out, h = rnn(tg.randn(3, 5, 4))
    >>> out.shape, h.shape
    ((3, 5, 6), (2, 3, 6))
    """

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("RNN: proj_size argument is only supported for LSTM, not RNN or "
                             "GRU")
        args = list(args)
        if len(args) > 3:
            nonlinearity = args.pop(3)
            if "nonlinearity" in kwargs:
                raise TypeError("RNN: got multiple values for argument 'nonlinearity'")
        else:
            nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"RNN: Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' "
                             f"or 'relu'.")
        super().__init__(mode, *args, **kwargs)
        self.nonlinearity = nonlinearity  # not in the repr, as PyTorch's


class LSTM(RNNBase):
    """Long short-term memory (PyTorch's ``nn.LSTM``), gates in PyTorch's order i, f, g, o:
    c_t = f * c_{t-1} + i * g, h_t = o * tanh(c_t) (times ``weight_hr`` with ``proj_size``).

    ``forward(input, hx=None)`` returns ``(output, (h_n, c_n))``; ``hx`` is ``(h_0, c_0)``.

    >>> import tensorgrad as tg
    >>> lstm = tg.nn.LSTM(4, 6, bidirectional=True)
    >>> out, (h, c) = lstm(tg.randn(5, 3, 4))
    >>> out.shape, h.shape, c.shape
    ((5, 3, 12), (2, 3, 6), (2, 3, 6))
    """

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)


class GRU(RNNBase):
    """Gated recurrent unit (PyTorch's ``nn.GRU``), gates in PyTorch's order r, z, n:
    n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn)), h_t = (1 - z) * n + z * h_{t-1}.

    >>> import tensorgrad as tg
    >>> gru = tg.nn.GRU(4, 6, num_layers=2)
    >>> out, h = gru(tg.randn(5, 4))
    >>> out.shape, h.shape
    ((5, 6), (2, 6))
    """

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("GRU: proj_size argument is only supported for LSTM, not RNN or "
                             "GRU")
        super().__init__("GRU", *args, **kwargs)


class RNNCellBase(Module):
    """The cells' parameters: ``weight_ih`` (G, input_size), ``weight_hh`` (G, hidden_size),
    ``bias_ih`` and ``bias_hh`` (G), all uniform in +-1/sqrt(hidden_size)."""

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias

        def empty(*shape):
            return Parameter(creation.empty(*shape, dtype=dtype, device=device))

        self.weight_ih = empty(num_chunks * hidden_size, input_size)
        self.weight_hh = empty(num_chunks * hidden_size, hidden_size)
        if bias:
            self.bias_ih = empty(num_chunks * hidden_size)
            self.bias_hh = empty(num_chunks * hidden_size)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    reset_parameters = _reset_uniform

    def extra_repr(self):
        return _sizes_and_options(self, (("bias", True), ("nonlinearity", "tanh")))

    def _run(self, step, input, hx, with_c):
        name = type(self).__name__
        if input.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.ndim}D "
                             f"instead (shape {_shape(input)})")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"{name}: input has inconsistent input_size: got "
                               f"{input.shape[-1]} expected {self.input_size} (input shape "
                               f"{_shape(input)})")
        batched = input.ndim == 2
        x = input if batched else expand_dims(input, 0)
        n = x.shape[0]
        states = list(hx) if with_c and hx is not None else [hx] if hx is not None else []
        if with_c and hx is not None and len(states) != 2:
            raise TypeError(f"{name}: hx must be a tuple (h_0, c_0)")
        if not states:
            zeros = creation.zeros(n, self.hidden_size, dtype=x.dtype, device=x.device)
            states = [zeros, zeros] if with_c else [zeros]
        else:
            fixed = []
            for i, s in enumerate(states):
                if s.ndim != input.ndim:
                    raise RuntimeError(f"{name}: hidden{i} must be {input.ndim}-D like the "
                                       f"input {_shape(input)}, got shape {_shape(s)}")
                s = s if batched else expand_dims(s, 0)
                if _shape(s) != (n, self.hidden_size):
                    raise RuntimeError(f"{name}: hidden{i} has inconsistent shape "
                                       f"{_shape(s)}, expected {(n, self.hidden_size)} for "
                                       f"input {_shape(input)}")
                fixed.append(s)
            states = fixed
        gi = F.linear(x, self.weight_ih, self.bias_ih)
        h, c = step(gi, states[0], states[1] if with_c else None, self.weight_hh,
                    self.bias_hh, None)
        if not batched:
            h = squeeze(h, 0)
            c = None if c is None else squeeze(c, 0)
        return (h, c) if with_c else h


class RNNCell(RNNCellBase):
    """One step of ``RNN`` (PyTorch's ``nn.RNNCell``); ``forward(input, hx=None)`` returns
    h' of shape (N, hidden_size) ((hidden_size,) for a 1-D input).

    >>> import tensorgrad as tg
    >>> tg.nn.RNNCell(3, 5)(tg.randn(2, 3)).shape
    (2, 5)
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None,
                 dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: Unknown nonlinearity: {nonlinearity}")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        mode = "RNN_TANH" if self.nonlinearity == "tanh" else "RNN_RELU"
        return self._run(_STEPS[mode], input, hx, False)


class LSTMCell(RNNCellBase):
    """One step of ``LSTM`` (PyTorch's ``nn.LSTMCell``); ``forward(input, hx=None)`` with
    ``hx = (h, c)`` returns ``(h', c')``.

    >>> import tensorgrad as tg
    >>> h, c = tg.nn.LSTMCell(3, 5)(tg.randn(2, 3))
    >>> h.shape, c.shape
    ((2, 5), (2, 5))
    """

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input, hx=None):
        return self._run(_lstm_step, input, hx, True)


class GRUCell(RNNCellBase):
    """One step of ``GRU`` (PyTorch's ``nn.GRUCell``); ``forward(input, hx=None)`` returns h'.

    >>> import tensorgrad as tg
    >>> tg.nn.GRUCell(3, 5)(tg.randn(3)).shape
    (5,)
    """

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input, hx=None):
        return self._run(_gru_step, input, hx, False)


__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]
