"""Anomaly mode: find the op whose derivative (or value) first went NaN, and where it was made.

While anomaly mode is on in a thread, every Node recorded in that thread keeps the stack of the
forward call that made it, and the backward pass checks each rule's result: the first NaN or
inf raises a ``RuntimeError`` naming the primitive and showing that stack. With
``check_forward=True`` a recorded op that turns finite inputs into NaN raises at once.

Off, it costs nothing per op: ``Node.__init__`` is swapped for a recording one only while some
thread has the mode on, and the backward pass reads the flag once per call.
"""

import functools
import threading
import traceback

from .grad_mode import _state
from .graph import Node

_plain_init = Node.__init__
_lock = threading.Lock()
_threads_on = [0]  # how many threads have the mode on; Node.__init__ is swapped while > 0


def _recording_init(self, prim, parents, args, kw, ans, vcs, epoch, out_vc=None):
    _plain_init(self, prim, parents, args, kw, ans, vcs, epoch, out_vc)
    if _state.anomaly:
        self.stack = _user_stack()
        if _state.anomaly_forward:
            _check_forward(self)


def _user_stack():
    # the frames of the caller: the innermost frames inside tensorgrad's own dispatch are noise
    frames = traceback.extract_stack()[:-2]
    here = __file__.rsplit("autograd", 1)[0]
    while len(frames) > 1 and frames[-1].filename.startswith(here) and (
            "/ops/" in frames[-1].filename or "/autograd/" in frames[-1].filename
            or frames[-1].filename.endswith("tensor.py")):
        frames.pop()
    return frames


def _switch(on):
    """Turn the mode on or off in this thread (keeping the count of threads that have it)."""
    with _lock:
        if on and not _state.anomaly:
            _threads_on[0] += 1
        elif not on and _state.anomaly:
            _threads_on[0] -= 1
        _state.anomaly = bool(on)
        Node.__init__ = _recording_init if _threads_on[0] > 0 else _plain_init


def is_anomaly_enabled():
    """Whether anomaly mode is on in this thread."""
    return _state.anomaly


def is_anomaly_check_forward_enabled():
    return _state.anomaly and _state.anomaly_forward


class detect_anomaly:
    """Anomaly mode inside a ``with`` block (or a decorated function), in this thread.

    A backward rule that returns NaN or inf raises a ``RuntimeError`` naming the primitive and
    showing the forward-pass traceback where that op was recorded; with ``check_forward=True``
    a recorded op that produces NaN from finite inputs raises at once. Slow: use it to debug.

    >>> import tensorgrad as tg
    >>> x = tg.tensor([0.0, 1.0], requires_grad=True)
    >>> with tg.autograd.detect_anomaly():
    ...     y = x.sqrt().sum()
    ...     try:
    ...         (y * 0.0).backward()
    ...     except RuntimeError as e:
    ...         print(str(e).split(";")[0])
    anomaly: the backward rule of 'sqrt' returned nan values for argument 0
    """

    def __init__(self, check_nan=True, check_forward=False):
        self.check_nan = check_nan
        self.check_forward = check_forward

    def __enter__(self):
        self.prev = (_state.anomaly, _state.anomaly_forward)
        _switch(self.check_nan)
        _state.anomaly_forward = bool(self.check_forward)
        return self

    def __exit__(self, *exc):
        _switch(self.prev[0])
        _state.anomaly_forward = self.prev[1]
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with detect_anomaly(self.check_nan, self.check_forward):
                return fn(*args, **kwargs)

        return wrapper


class set_detect_anomaly:
    """Turn anomaly mode on or off in this thread: as a call (it takes effect at once, as in
    PyTorch) or as a context manager that restores the previous mode.

    >>> import tensorgrad as tg
    >>> _ = tg.autograd.set_detect_anomaly(True)
    >>> tg.autograd.is_anomaly_enabled()
    True
    >>> _ = tg.autograd.set_detect_anomaly(False)
    """

    def __init__(self, mode, check_nan=True, check_forward=False):
        self.prev = (_state.anomaly, _state.anomaly_forward)
        _switch(bool(mode) and check_nan)
        _state.anomaly_forward = bool(mode) and bool(check_forward)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _switch(self.prev[0])
        _state.anomaly_forward = self.prev[1]
        return False


def _bad_values(a):
    """'nan', 'inf' or None for a raw array (or Tensor) of floats."""
    from .row_grad import RowGrad

    data = a.data if hasattr(a, "_rg") else a  # a Tensor under create_graph
    if type(data) is RowGrad:  # an Embedding(sparse=True)'s: its rows' values
        data = data.values
    if not hasattr(data, "dtype") or data.dtype.kind not in "fc":
        return None
    from ..backend.device import xp_of

    xp = xp_of(data)
    if bool(xp.isnan(data).any()):
        return "nan"
    if bool(xp.isinf(data).any()):
        return "inf"
    return None


def _where(node):
    stack = getattr(node, "stack", None)
    if not stack:
        return ("\n(no forward traceback: the op was recorded while anomaly mode was off; turn "
                "it on before the forward pass)")
    return "\nThe forward call that recorded it:\n" + "".join(traceback.format_list(stack))


def check_backward(node, i, gi):
    """Raise if the cotangent ``gi`` that ``node``'s rule gave for argument ``i`` is not finite."""
    bad = _bad_values(gi)
    if bad is not None:
        raise RuntimeError(
            f"anomaly: the backward rule of '{node.prim.name}' returned {bad} values for "
            f"argument {i}; look at the forward op below (a log/sqrt/division at 0, an overflow) "
            f"or at the rule itself{_where(node)}"
        )


def _check_forward(node):
    if _bad_values(node.ans) != "nan":
        return
    for a in node.args:
        if _bad_values(a) is not None:
            return  # NaN in, NaN out: reported where it first appeared
    raise RuntimeError(
        f"anomaly: the forward op '{node.prim.name}' produced nan values from finite inputs; "
        f"check its arguments' domain (log/sqrt of negatives, 0/0, inf - inf){_where(node)}"
    )
