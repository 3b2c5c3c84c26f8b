"""SGD, Adam and AdamW with PyTorch's names, defaults and update formulas.

On CuPy a group's step is one fused kernel launch (``kernels/optim.cu``) over the whole group:
see ``_FlatGroup``. Elsewhere, and whenever the group does not fit the fused step, each
parameter is updated with a few array operations.
"""

import functools
import math
from collections import OrderedDict
from collections.abc import MutableMapping

import numpy as np

from .. import _memory_format as _mf
from ..autograd.grad_mode import enable_grad
from ..autograd.graph import bump_version
from ..backend import cuda as _cuda
from ..backend.device import _CUPY_ARRAY, xp_of
from ..sparse import SparseTensor, _const, _make
from ..tensor import Tensor, _new_tensor


class _FlatGroup:
    """A parameter group laid out for the one-launch step on CuPy.

    Every parameter's ``.data`` is a view into one flat contiguous buffer ``flat`` (the
    Parameters stay separate Tensors; only their storage moved), and so is each state buffer
    named in ``bufs`` (``bufs[name]`` is (flat buffer, views), or None while the buffer does
    not exist yet: before the first step). The gradients stay the separate arrays backward
    made: the update kernel reads them in place through ``tables`` (pointer tables passed by
    value, ``tensorgrad.backend.cuda.grad_tables``), so a step is one launch per 64 tensors
    (reads p, g and the state, writes p and the state), where the per-parameter path costs
    about ten launches per tensor. (Gathering the gradients into one flat buffer first, as an
    earlier version did, cost one copy launch per tensor, as CuPy's ``concatenate`` copies up
    to eight arrays one by one, and a second buffer the size of the group.)

    The layout is checked by identity at every step: a parameter whose ``.data`` was replaced
    (``load_state_dict`` of a module, ``Module.to``), or a state buffer replaced
    (``Optimizer.load_state_dict``), makes the optimizer build the layout again, copying the
    current values in.
    """

    __slots__ = ("params", "views", "flat", "tables", "bufs", "perms")

    def valid(self, params, state, names):
        if len(params) != len(self.params) or any(n not in self.bufs for n in names):
            return False
        for p, q, v in zip(params, self.params, self.views):
            if p is not q or p.data is not v:
                return False
        for name, entry in self.bufs.items():
            if entry is None:
                for p in params:
                    if name in state.get(id(p), ()):
                        return False
            else:
                for p, v in zip(params, entry[1]):
                    if state.get(id(p), {}).get(name) is not v:
                        return False
        return True

    def grad_tables(self, xp):
        """This step's pointer tables, and the gradient arrays they point to (contiguous; keep
        them alive through the launch)."""
        grads = [xp.ascontiguousarray(_in_order(p.grad.data, perm))
                 for p, perm in zip(self.params, self.perms)]
        _cuda.fill_grad_tables(self.tables, grads)
        return self.tables, grads

    def new_buffer(self, name, state, xp):
        flat = xp.zeros_like(self.flat)
        views = _views(flat, self.params, self.perms)
        for p, v in zip(self.params, views):
            state.setdefault(id(p), {})[name] = v
        self.bufs[name] = (flat, views)
        return flat


def _in_order(a, perm):
    """``a`` seen in the memory order ``perm`` (None: as it is)."""
    return a if perm is None else a.transpose(perm)


def _views(flat, params, perms):
    """Each parameter's piece of ``flat``, laid out in its own memory order (a channels_last
    weight keeps its layout: the update is elementwise, and the gradient and state are read
    in the same order)."""
    views = []
    offset = 0
    for p, perm in zip(params, perms):
        n = p.data.size
        piece = flat[offset:offset + n]
        if perm is None:
            views.append(piece.reshape(p.data.shape))
        else:
            views.append(_mf.unpermute(piece.reshape(_mf.permuted_shape(p.data.shape, perm)),
                                       perm))
        offset += n
    return views


def _build_flat(params, state, names):
    """Lay ``params`` (CuPy arrays of one float dtype, on one GPU) and their state buffers
    ``names`` out in flat buffers, or None where they do not fit (mixed dtypes or devices,
    a buffer that some parameters have and others lack)."""
    p0 = params[0].data
    if len({id(p) for p in params}) != len(params):
        return None
    for p in params:
        d = p.data
        if type(d) is not _CUPY_ARRAY or d.dtype != p0.dtype or d.device.id != p0.device.id:
            return None
        st = state.get(id(p), {})
        for name in names:
            b = st.get(name)
            if b is not None and (type(b) is not _CUPY_ARRAY or b.dtype != d.dtype
                                  or b.shape != d.shape or b.device.id != d.device.id):
                return None
    have = {name: sum(name in state.get(id(p), ()) for p in params) for name in names}
    if any(0 < k < len(params) for k in have.values()):
        return None  # the per-parameter path creates the missing ones; flatten next step
    xp = xp_of(p0)
    with p0.device:
        lay = _FlatGroup()
        lay.params = list(params)
        lay.perms = [_cuda._dense_order(p.data) for p in params]
        lay.flat = xp.concatenate([_in_order(p.data, perm).reshape(-1)
                                   for p, perm in zip(params, lay.perms)])
        lay.views = _views(lay.flat, params, lay.perms)
        lay.tables = _cuda.grad_tables([p.data.size for p in params])
        lay.bufs = {}
        for name in names:
            if have[name]:
                flat = xp.concatenate([_in_order(state[id(p)][name], perm).reshape(-1)
                                       for p, perm in zip(params, lay.perms)])
                views = _views(flat, params, lay.perms)
                for p, v in zip(params, views):
                    state[id(p)][name] = v
                lay.bufs[name] = (flat, views)
            else:
                lay.bufs[name] = None
    for p, v in zip(params, lay.views):
        p.data = v  # same values: saved graphs and the version counter stay valid
    return lay


def _as_real(a):
    """A complex array seen as real pairs ``(..., 2)`` (a view, as ``torch.view_as_real``);
    other arrays as they are."""
    if a.dtype.kind != "c":
        return a
    # 0-d: NumPy and CuPy (core.pyx ``view``) refuse a dtype of another itemsize; (1,) first
    return (a if a.ndim else a.reshape(1)).view(a.real.dtype).reshape(a.shape + (2,))


class _RealView:
    """A complex parameter as PyTorch's optimizers step it: its data, gradient and state
    viewed as real pairs, so every moment is kept per real and imaginary part (the state
    itself stays complex, as in PyTorch's ``state_dict``)."""

    __slots__ = ("param", "data", "_vc")

    def __init__(self, param):
        if not param.data.flags.c_contiguous:  # a real view needs contiguous pairs
            param.data = xp_of(param.data).ascontiguousarray(param.data)
        self.param, self.data, self._vc = param, _as_real(param.data), param._vc


def _real_state(st, name):
    """``st[name]`` for the step: a complex buffer as its real view, made C-contiguous first
    (in ``st``) where a layout copied from the parameter was not."""
    buf = st[name]
    if buf.dtype.kind == "c" and not buf.flags.c_contiguous:
        buf = st[name] = xp_of(buf).ascontiguousarray(buf)
    return _as_real(buf)


def _param_of(p):
    return p.param if type(p) is _RealView else p


def _placed(value, like):
    """A copy of a loaded state value for the parameter whose array is ``like``, as PyTorch
    loads optimizer state: arrays (NumPy, CuPy, or a Tensor's) move to the parameter's device,
    and floating ones take its dtype; anything else (step counts) stays as it is."""
    if isinstance(value, Tensor):
        value = value.data
    if type(value) is not np.ndarray and type(value) is not _CUPY_ARRAY:
        return value.copy() if hasattr(value, "copy") else value
    if value.dtype.kind in "fc" and value.dtype.kind == like.dtype.kind:
        value = value.astype(like.dtype, copy=False)
    if type(like) is _CUPY_ARRAY:
        with like.device:
            return xp_of(like).array(value)  # a copy, from the host or from another GPU
    if type(value) is _CUPY_ARRAY:
        return value.get()
    return value.copy()


# elements: the host's updates walk their arrays in slices this long (256 KiB of float32, in
# cache) through one small work array (Optimizer._add_scaled)
_CHUNK = 1 << 16


def zero_grad_of(p, set_to_none):
    """``zero_grad`` for one parameter: its ``.grad`` to None, or to zeros (a sparse one to no
    entries, as PyTorch's ``zero_()`` of a sparse tensor)."""
    g = p.grad
    if set_to_none or g is None:
        p.grad = None
    elif g.is_sparse:
        xp = xp_of(g._idx)
        p.grad = _make(g._idx[:, :0], _const(xp.zeros((0,) + tuple(g.shape[1:]), g.dtype)),
                       g.shape, True)
    else:
        g.data[...] = 0


def _refuse_sparse(opt):
    for group in opt.param_groups:
        for p in group["params"]:
            if type(p.grad) is SparseTensor:
                raise _sparse_refused(opt, p)


def _sparse_refused(opt, p):
    name = type(opt).__name__
    hint = ", please consider SparseAdam instead" if name in ("Adam", "AdamW") else ""
    return RuntimeError(f"{name} does not support sparse gradients{hint} (the gradient of the "
                        f"parameter of shape {tuple(p.shape)}, from an Embedding or "
                        "EmbeddingBag with sparse=True; SGD, Adagrad and SparseAdam take it)")


def sparse_rows(g):
    """A sparse gradient's rows, each once, and their values (raw arrays; a repeated row's
    summed). On the host without sorting: each row's last entry found through a table of the
    parameter's rows (15 us for 5,120 rows of 200,000, where a stable sort takes 220), the
    earlier ones added to it (0.23 ms in all with 64 float32 values a row; summing sorted
    rows with ``add.reduceat`` took 2.5); elsewhere ``coalesce``."""
    rows, vals = g._idx[0], g._vals.data
    if g.is_coalesced() or not rows.size:
        return rows, vals
    if type(rows) is not np.ndarray:
        c = g.coalesce()
        return c._idx[0], c._vals.data
    at = np.arange(rows.size)
    last = np.empty(g.shape[0], np.intp)  # only the entries at ``rows`` are read
    last[rows] = at
    keep = last[rows] == at  # a row's last entry
    if keep.all():
        return rows, vals
    out = vals[keep]
    repeat = ~keep
    np.add.at(out, (np.cumsum(keep) - 1)[last[rows[repeat]]], vals[repeat])
    return rows[keep], out


def _closure_loss(closure):
    """``closure()`` with gradients on (it re-evaluates the model and calls backward), or None."""
    if closure is None:
        return None
    with enable_grad():
        return closure()


def _hooked_step(step):
    """``step`` running the optimizer's step pre- and post-hooks around it, as PyTorch patches
    each optimizer class's ``step`` once: a pre-hook gets ``(optimizer, args, kwargs)`` (``args``
    starts with the optimizer) and may return new ``(args, kwargs)``; a post-hook gets the
    same after the step."""

    @functools.wraps(step)
    def wrapper(*args, **kwargs):
        self = args[0]
        pre = self.__dict__.get("_optimizer_step_pre_hooks")
        post = self.__dict__.get("_optimizer_step_post_hooks")
        if self._REFUSES_SPARSE:  # before any parameter changes (a closure's: later)
            _refuse_sparse(self)
        if not pre and not post and not _GLOBAL_PRE and not _GLOBAL_POST:
            out = step(*args, **kwargs)
            self._scratch.clear()  # the last parameter's work arrays (_scratch_for)
            return out
        # the global hooks (register_optimizer_step_pre_hook) run first, their post ones last
        for hook in list(_GLOBAL_PRE.values()) + (list(pre.values()) if pre else []):
            result = hook(self, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(f"{type(self).__name__}.step: a step pre-hook must "
                                       "return None or a tuple (new_args, new_kwargs), got "
                                       f"{result!r}")
                args, kwargs = result
        out = step(*args, **kwargs)
        self._scratch.clear()
        for hook in (list(post.values()) if post else []) + list(_GLOBAL_POST.values()):
            hook(self, args, kwargs)
        return out

    wrapper.hooked = True
    return wrapper


_GLOBAL_PRE = OrderedDict()  # register_optimizer_step_pre_hook: for every optimizer
_GLOBAL_POST = OrderedDict()


def _global_hook(table, hook):
    from ..nn.modules import _RemovableHandle

    handle = _RemovableHandle(table)
    table[handle.id] = hook
    return handle


def register_optimizer_step_pre_hook(hook):
    """Call ``hook(optimizer, args, kwargs)`` before the ``step`` of every optimizer (before
    each optimizer's own pre-hooks), as PyTorch's; returns a handle whose ``remove()`` drops
    it."""
    return _global_hook(_GLOBAL_PRE, hook)


def register_optimizer_step_post_hook(hook):
    """Call ``hook(optimizer, args, kwargs)`` after the ``step`` of every optimizer (after each
    optimizer's own post-hooks); returns a handle whose ``remove()`` drops it."""
    return _global_hook(_GLOBAL_POST, hook)


class _StateView(MutableMapping):
    """``opt.state[p]`` as PyTorch shows it: the buffers as Tensors that share the optimizer's
    arrays (so ``opt.state[p]["exp_avg"].norm()`` works and ``.zero_()`` resets the buffer);
    a Tensor stored into it (``state[k] = v.to(device)``, the way PyTorch code moves a loaded
    optimizer's state) is kept as its array, which is what the optimizers' own code reads (by
    ``id(p)``, unwrapped)."""

    __slots__ = ("_d",)

    def __init__(self, d):
        self._d = d

    def __getitem__(self, key):
        v = self._d[key]
        return _new_tensor(v, None, False) if type(v) is np.ndarray or type(
            v) is _CUPY_ARRAY else v

    def __setitem__(self, key, value):
        self._d[key] = _unwrapped(value)

    def __delitem__(self, key):
        del self._d[key]

    def __iter__(self):
        return iter(self._d)

    def __len__(self):
        return len(self._d)

    def __repr__(self):
        return repr(dict(self.items()))

    def __eq__(self, other):  # the same buffers (Tensors would compare elementwise)
        return self._d == (other._d if isinstance(other, _StateView) else other)

    __hash__ = None


def _unwrapped(value):
    """A state value as the optimizers keep it: a dense Tensor as its array."""
    return value.data if isinstance(value, Tensor) and not value.is_sparse else value


def _view(st):
    return _StateView(st) if type(st) is dict else st


class _ParamState(dict):
    """``Optimizer.state``: each parameter's state as PyTorch's ``defaultdict(dict)`` keyed by
    the parameter: ``opt.state[p]`` (a new ``{}`` the first time, so custom optimizers and
    SAM-style wrappers keep their own entries), ``p in opt.state``, ``opt.state.get(p)``, and
    iteration over ``(parameter, state)`` pairs. Kept by ``id(p)`` inside: the optimizers'
    own code reads and writes it by id (tensors compare elementwise), and gets the arrays
    the update writes (NumPy or CuPy); ``param_groups`` turns the ids back into parameters
    when it is iterated. Asked by parameter (``opt.state[p]``, ``.get(p)``, ``.items()``,
    ``.values()``), a state shows its buffers as Tensors (``_StateView``)."""

    def __init__(self, items=(), groups=()):
        super().__init__(items)
        self._groups = groups  # the optimizer's param_groups: ids -> parameters
        self._extra = {}  # tensors used as keys that are in no group

    def _key(self, key):
        if isinstance(key, Tensor):
            self._extra.setdefault(id(key), key)
            return id(key)
        return key

    def __getitem__(self, key):
        if not isinstance(key, Tensor):
            return dict.__getitem__(self, key)  # by id: the optimizers' own code
        k = self._key(key)
        if k not in self:
            dict.__setitem__(self, k, {})
        return _view(dict.__getitem__(self, k))

    def __setitem__(self, key, value):
        if isinstance(value, (dict, _StateView)):  # Tensors in it kept as their arrays
            value = {n: _unwrapped(b) for n, b in value.items()}
        dict.__setitem__(self, self._key(key), value)

    def __delitem__(self, key):
        dict.__delitem__(self, id(key) if isinstance(key, Tensor) else key)

    def __contains__(self, key):
        return dict.__contains__(self, id(key) if isinstance(key, Tensor) else key)

    def get(self, key, default=None):
        if not isinstance(key, Tensor):
            return dict.get(self, key, default)
        st = dict.get(self, id(key))
        return default if st is None else _view(st)

    def setdefault(self, key, default=None):
        st = dict.setdefault(self, self._key(key), default)
        return _view(st) if isinstance(key, Tensor) else st

    def pop(self, key, *default):
        return dict.pop(self, id(key) if isinstance(key, Tensor) else key, *default)

    def _params(self):
        found = dict(self._extra)
        found.update((id(p), p) for g in self._groups for p in g["params"])
        return found

    def __iter__(self):
        params = self._params()
        return iter([params.get(k, k) for k in dict.keys(self)])

    def keys(self):
        return list(self)

    def items(self):
        params = self._params()
        return [(params.get(k, k), _view(v)) for k, v in dict.items(self)]

    def values(self):
        return [_view(v) for v in dict.values(self)]

    def by_id(self):
        """The ``(id(parameter), state)`` pairs, as the optimizers' own code keeps them."""
        return dict.items(self)

    def __reduce__(self):
        # copied as (parameter, state) pairs: a deep copy's parameters have new ids
        params = self._params()
        return _param_state, ([(params.get(k, k), v) for k, v in dict.items(self)],
                              self._groups)

    def __repr__(self):
        return repr(dict(self.items()))


def _param_state(pairs, groups):
    st = _ParamState((), groups)
    for k, v in pairs:
        st[k] = v
    return st


class Optimizer:
    """Base class: ``param_groups`` (a list of dicts holding ``params`` and hyper-parameters),
    ``state`` (per-parameter buffers), ``zero_grad()``, ``step()``, ``state_dict()``."""

    @property
    def state(self):
        """Each parameter's state: PyTorch's ``defaultdict(dict)`` keyed by the parameter
        (``_ParamState``). Assigning a mapping (``opt.state = defaultdict(dict)`` to reset the
        state, as PyTorch code does) keeps that behaviour."""
        return self.__dict__["state"]

    @state.setter
    def state(self, value):
        if not isinstance(value, _ParamState):
            value = _param_state(dict(value).items(), self.param_groups)
        self.__dict__["state"] = value

    def __setstate__(self, state):
        # a loaded optimizer (tg.load rebuilds it by its state) gets its state mapping back
        self.__dict__.update(state)
        if type(self.__dict__.get("state")) is dict:
            self.state = _ParamState(self.state, self.param_groups)

    def __init__(self, params, defaults):
        cls = type(self)
        if not getattr(cls.step, "hooked", False):
            cls.step = _hooked_step(cls.step)
        self.defaults = dict(defaults)
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params should be an iterable of Tensors or "
                            f"dicts, got a {type(params).__name__}")
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        self.param_groups = []
        self.state = _ParamState((), self.param_groups)
        # the work arrays of the parameter being stepped (_scratch_for): not state (not saved,
        # not loaded), emptied after each step
        self._scratch = {}
        self._flat = {}  # id(group) -> (group, _FlatGroup) for the fused CuPy step
        for g in params if isinstance(params[0], dict) else [{"params": params}]:
            self.add_param_group(g)

    def add_param_group(self, param_group):
        """Add a group of parameters (a dict holding ``params`` and, optionally, its own
        hyper-parameters; the optimizer's defaults fill in the rest), as PyTorch's."""
        if not isinstance(param_group, dict):
            raise TypeError(f"{type(self).__name__}.add_param_group: expected a dict, got "
                            f"{type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(f"{type(self).__name__}: parameters need to be organised in ordered "
                            "collections, but the ordering of sets changes between runs; use "
                            "a list")
        group = dict(self.defaults)
        group.update(param_group)
        group["params"] = list(params)
        lr = group.get("lr")
        if lr is not None and not isinstance(lr, Tensor) and not (
                isinstance(lr, (int, float, np.floating, np.integer)) and math.isfinite(lr)
                and lr >= 0):
            raise ValueError(f"{type(self).__name__}: the learning rate must be a finite number "
                             f">= 0, got lr={lr!r}")
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: parameters must be Tensors, got "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{type(self).__name__}: can't optimize a non-leaf Tensor")
        if len({id(p) for p in group["params"]}) != len(group["params"]):
            raise ValueError(f"{type(self).__name__}: a parameter group holds the same parameter "
                             "twice")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in group["params"]):
            raise ValueError(f"{type(self).__name__}: some parameters appear in more than one "
                             "parameter group")
        self.param_groups.append(group)
        self._init_group_state(group)

        if group.get("fused"):
            for p in group["params"]:
                if p.dtype.kind != "f":
                    raise ValueError(f"{type(self).__name__}: `fused=True` requires all the params "
                                     f"to be floating point Tensors, got one of dtype {p.dtype}")

    def _init_group_state(self, group):
        """State a subclass creates when a group is added (Adagrad's accumulators)."""

    def register_step_pre_hook(self, hook):
        """Call ``hook(optimizer, args, kwargs)`` before each ``step``; a result that is not
        None must be ``(new_args, new_kwargs)`` for the step. Returns a handle whose
        ``remove()`` drops the hook.

        >>> import tensorgrad as tg
        >>> w = tg.zeros(2, requires_grad=True)
        >>> opt = tg.optim.SGD([w], lr=0.1)
        >>> calls = []
        >>> h = opt.register_step_post_hook(lambda o, args, kwargs: calls.append(len(args)))
        >>> (w * 2).sum().backward(); opt.step(); h.remove(); opt.step()
        >>> calls, w.tolist()
        ([1], [-0.4000000059604645, -0.4000000059604645])
        """
        return self._add_step_hook("_optimizer_step_pre_hooks", hook)

    def register_step_post_hook(self, hook):
        """Call ``hook(optimizer, args, kwargs)`` after each ``step``. Returns a handle whose
        ``remove()`` drops the hook."""
        return self._add_step_hook("_optimizer_step_post_hooks", hook)

    @staticmethod
    def profile_hook_step(func):
        """PyTorch's decorator of ``step`` that records it under the profiler and runs the
        step hooks; tensorgrad runs the hooks around every optimizer's ``step`` already, so it
        adds only the profiler's record (``Optimizer.step#<Class>.step``)."""

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            from ..profiler import record_function

            self = args[0]
            with record_function(f"Optimizer.step#{type(self).__name__}.step"):
                return func(*args, **kwargs)

        return wrapper

    def _add_step_hook(self, where, hook, prepend=False):
        from ..nn.modules import _RemovableHandle

        hooks = self.__dict__.get(where)
        if hooks is None:
            hooks = self.__dict__[where] = OrderedDict()
        handle = _RemovableHandle(hooks)
        hooks[handle.id] = hook
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        return handle

    def _hooks(self, where):
        hooks = self.__dict__.get(where)
        return list(hooks.values()) if hooks else ()

    def register_state_dict_pre_hook(self, hook, prepend=False):
        """Call ``hook(optimizer)`` before ``state_dict`` builds its result (PyTorch's);
        ``prepend`` puts it before the hooks registered so far. Returns a handle whose
        ``remove()`` drops the hook."""
        return self._add_step_hook("_optimizer_state_dict_pre_hooks", hook, prepend)

    def register_state_dict_post_hook(self, hook, prepend=False):
        """Call ``hook(optimizer, state_dict)`` on what ``state_dict`` built; a result that is
        not None is returned instead. Returns a handle whose ``remove()`` drops the hook.

        >>> import tensorgrad as tg
        >>> opt = tg.optim.SGD([tg.zeros(2, requires_grad=True)], lr=0.1)
        >>> h = opt.register_state_dict_post_hook(lambda o, sd: {**sd, "note": "v2"})
        >>> opt.state_dict()["note"]
        'v2'
        """
        return self._add_step_hook("_optimizer_state_dict_post_hooks", hook, prepend)

    def register_load_state_dict_pre_hook(self, hook, prepend=False):
        """Call ``hook(optimizer, state_dict)`` before ``load_state_dict`` reads its argument
        (a shallow copy); a result that is not None is loaded instead. Returns a handle whose
        ``remove()`` drops the hook."""
        return self._add_step_hook("_optimizer_load_state_dict_pre_hooks", hook, prepend)

    def register_load_state_dict_post_hook(self, hook, prepend=False):
        """Call ``hook(optimizer)`` after ``load_state_dict`` has loaded. Returns a handle
        whose ``remove()`` drops the hook."""
        return self._add_step_hook("_optimizer_load_state_dict_post_hooks", hook, prepend)

    def _flat_group(self, group, names):
        """The group's flat layout if this step can be one fused launch, else None: every
        parameter a CuPy float32/float64 array of one dtype and GPU, every one with a gradient
        of its own dtype and shape. Costs one type check for a CPU group."""
        params = group["params"]
        if type(params[0].data) is not _CUPY_ARRAY or group.get("foreach") is False:
            return None
        dtype = params[0].data.dtype
        if dtype not in _cuda.SUFFIX:
            return None
        for p in params:
            g = p.grad
            if g is None or type(g.data) is not _CUPY_ARRAY or g.data.dtype != dtype or \
                    g.data.shape != p.data.shape:
                return None
        entry = self._flat.get(id(group))
        if entry is not None and entry[0] is group and entry[1].valid(params, self.state, names):
            return entry[1]
        lay = _build_flat(params, self.state, names)
        if lay is None:
            self._flat.pop(id(group), None)
            return None
        self._flat[id(group)] = (group, lay)
        return lay

    def zero_grad(self, set_to_none=True):
        for group in self.param_groups:
            for p in group["params"]:
                zero_grad_of(p, set_to_none)

    # do the per-parameter steps take sparse gradients (an Embedding(sparse=True)'s weight)?
    _SPARSE_GRADS = False
    # does step() refuse them up front: tensorgrad's own optimizers that do not take them (a
    # user's own optimizer reads .grad itself and is left to it); set once per class
    _REFUSES_SPARSE = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._REFUSES_SPARSE = not cls._SPARSE_GRADS and cls.__module__.startswith("tensorgrad.")

    def _params_with_grad(self, group):
        for p in group["params"]:
            if p.grad is not None:
                if type(p.grad) is SparseTensor:
                    if not self._SPARSE_GRADS:
                        raise _sparse_refused(self, p)
                    yield p, p.grad  # the SparseTensor itself
                elif p.data.dtype.kind == "c":
                    g = p.grad.data
                    yield _RealView(p), _as_real(xp_of(g).ascontiguousarray(g))
                else:
                    yield p, p.grad.data

    def _count_step(self, p):
        """Count one more step in ``p``'s state: (the state, the new step number)."""
        st = self.state.setdefault(id(_param_of(p)), {})
        t = st["step"] = st.get("step", 0) + 1
        return st, t

    def _buffer(self, p, name):
        param = _param_of(p)
        st = self.state.setdefault(id(param), {})
        if st.get(name) is None:
            st[name] = xp_of(param.data).zeros_like(param.data)
        return _real_state(st, name)

    def _scratch_for(self, p, slot=0):
        """Work array ``slot`` of ``p``'s shape and dtype: the same array for every call about
        one parameter, released when the next parameter asks and when the step ends. So a step
        holds one parameter's work arrays at a time, and nothing of a parameter's size stays
        between steps (a copy of the whole model did: 80 MiB of 20M float32 parameters)."""
        d = p.data
        owner = id(_param_of(p))
        scratch = self._scratch
        if scratch.get("owner") != owner:
            scratch.clear()
            scratch["owner"] = owner
        buf = scratch.get(slot)
        if buf is None or type(buf) is not type(d) or buf.dtype != d.dtype or \
                buf.shape != d.shape:
            buf = scratch[slot] = xp_of(d).empty_like(d)
        return buf

    def _each_slice(self, p, arrays, nwork, fn):
        """``fn(*arrays, *work)``, elementwise over all of ``p``'s elements (``arrays``: of
        ``p``'s shape, None allowed; ``nwork`` work arrays of its dtype). On the host, slice by
        slice of ``_CHUNK`` elements with cache-sized work arrays: faster than whole-array
        temporaries (a plain SGD step over 16M float32: 33 ms against 46) and no memory of a
        parameter's size. Otherwise (CuPy, a layout other than C order) once, over the whole
        arrays, with ``p``'s work arrays (``_scratch_for``)."""
        x = arrays[0]
        if type(x) is np.ndarray and x.size <= _CHUNK:  # one slice: small work arrays
            fn(*arrays, *[np.empty_like(x) for _ in range(nwork)])
            return
        if type(x) is np.ndarray and all(
                a is None or (type(a) is np.ndarray and a.flags.c_contiguous and
                              a.shape == x.shape) for a in arrays):
            flats = [None if a is None else a.reshape(-1) for a in arrays]
            n = x.size
            work = [np.empty(min(n, _CHUNK), x.dtype) for _ in range(nwork)]
            for i in range(0, n, _CHUNK):
                k = min(_CHUNK, n - i)
                fn(*[None if f is None else f[i:i + k] for f in flats], *[w[:k] for w in work])
            return
        fn(*arrays, *[self._scratch_for(p, slot) for slot in range(nwork)])

    def _add_scaled(self, p, x, y, a):
        """``x += a * y`` in place (``x`` and ``y`` of ``p``'s shape), allocating nothing of
        their size."""
        if type(x) is np.ndarray and x.size <= _CHUNK:  # small: one product (the hot case)
            x += y * a
            return

        def add(x, y, w):
            xp_of(x).multiply(y, a, out=w)
            x += w

        self._each_slice(p, (x, y), 1, add)

    def _direction(self, p, g, group, l2=True):
        """The gradient as PyTorch's RMSprop and Adagrad see it, in the first work array:
        negated for ``maximize``, plus ``weight_decay * p`` unless ``l2`` is false (the second
        work array holds the product, so nothing is allocated)."""
        d = self._scratch_for(p)
        wd = group["weight_decay"] if l2 else 0
        _direction(p.data, g, d, self._scratch_for(p, 1) if wd else None, wd, group["maximize"])
        return d

    def state_dict(self):
        """``{"state": {index: {name: value}}, "param_groups": [{..., "params": [index]}]}``
        as PyTorch's: parameters are numbered in the order of the groups, each group keeps its
        own hyper-parameters (``lr`` as a scheduler left it, ``initial_lr``), and the state
        holds step counts and copies of the buffers (on the parameters' devices). The state
        dict hooks run before and after, as PyTorch's."""
        for hook in self._hooks("_optimizer_state_dict_pre_hooks"):
            hook(self)
        index = {}
        groups = []
        for group in self.param_groups:
            g = {k: v for k, v in group.items() if k != "params"}
            g["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                g["params"].append(index[id(p)])
            groups.append(g)
        state = {index[k]: {n: (v.copy() if hasattr(v, "copy") else v) for n, v in st.items()}
                 for k, st in self.state.by_id() if k in index}
        out = {"state": dict(sorted(state.items())), "param_groups": groups}
        for hook in self._hooks("_optimizer_state_dict_post_hooks"):
            result = hook(self, out)
            if result is not None:
                out = result
        return out

    def load_state_dict(self, state_dict):
        """Load what ``state_dict`` returned: hyper-parameters of every group, step counts and
        buffers (copied to each parameter's device and floating dtype). Refused with a
        ValueError naming the mismatch (number of groups, a group's size, a buffer's shape, an
        index beyond the parameters); a refused state dict changes nothing. The load state
        dict hooks run before (they may replace the dict) and after, as PyTorch's."""
        name = type(self).__name__
        pre = self._hooks("_optimizer_load_state_dict_pre_hooks")
        if pre and isinstance(state_dict, dict):
            state_dict = state_dict.copy()  # shallow, as PyTorch: hooks may edit it
            for hook in pre:
                result = hook(self, state_dict)
                if result is not None:
                    state_dict = result
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise ValueError(f"{name}.load_state_dict: expected what {name}.state_dict() returns "
                             "(a dict with 'state' and 'param_groups'), got "
                             f"{type(state_dict).__name__}"
                             + (f" with keys {sorted(map(str, state_dict))}"
                                if isinstance(state_dict, dict) else ""))
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: loaded state dict has a different number "
                             f"of parameter groups ({len(groups)}) than the optimizer "
                             f"({len(self.param_groups)})")
        for i, (a, b) in enumerate(zip(groups, self.param_groups)):
            if len(a["params"]) != len(b["params"]):
                raise ValueError(f"{name}.load_state_dict: loaded state dict contains a "
                                 f"parameter group ({i}) of {len(a['params'])} parameters that "
                                 f"doesn't match the size of optimizer's group "
                                 f"({len(b['params'])} parameters)")
        # the saved indices map to this optimizer's parameters, group by group
        by_index = {}
        for a, b in zip(groups, self.param_groups):
            for idx, p in zip(a["params"], b["params"]):
                by_index[idx] = p
        new_state = {}
        for idx, st in state_dict["state"].items():
            p = by_index.get(idx)
            if p is None:
                raise ValueError(f"{name}.load_state_dict: the state of parameter {idx} has no "
                                 "parameter in the loaded parameter groups")
            for n, v in st.items():
                want = self._state_shape(n, p)
                if hasattr(v, "shape") and getattr(v, "ndim", 0) and \
                        tuple(v.shape) != want:
                    raise ValueError(f"{name}.load_state_dict: buffer {n!r} of parameter {idx} "
                                     f"has shape {tuple(v.shape)}, expected {want} for the "
                                     f"parameter of shape {tuple(p.shape)}")
            new_state[id(p)] = {n: _placed(v, p.data) for n, v in st.items()}
        for g, saved in zip(self.param_groups, groups):
            g.update({k: (v.copy() if isinstance(v, (list, dict)) else v)
                      for k, v in saved.items() if k != "params"})
        # replaced whole: a bad state dict changes nothing
        self.state = _ParamState(new_state, self.param_groups)
        self._scratch.clear()
        for hook in self._hooks("_optimizer_load_state_dict_post_hooks"):
            hook(self)

    def _state_shape(self, name, p):
        """The shape the state buffer ``name`` of parameter ``p`` has: the parameter's, unless
        a subclass keeps smaller buffers (Adafactor's row and column factors)."""
        return tuple(p.shape)

    def step(self, closure=None):
        raise NotImplementedError


def _impl_flags(name, foreach, fused, differentiable, capturable=None):
    """PyTorch's implementation switches, checked and kept in the defaults (so they show in
    ``param_groups`` and ``state_dict`` as PyTorch's do). On the GPU each group of float32 or
    float64 parameters is updated by one kernel launch whenever it can be (``fused=None`` or
    ``True``); ``foreach=False`` asks for one update per parameter instead. ``capturable``
    changes nothing (tensorgrad captures no CUDA graphs; its steps never wait for the GPU).
    ``differentiable=True`` (a graph through the step) is refused."""
    if fused is not _NO_FUSED and fused and foreach:
        raise RuntimeError(f"{name}: `fused` and `foreach` cannot be `True` together.")
    if differentiable:
        raise NotImplementedError(f"{name}: differentiable=True (recording the update on the "
                                  "autograd graph) is not supported by tensorgrad")
    flags = dict(foreach=foreach, differentiable=False)
    if fused is not _NO_FUSED:
        flags["fused"] = fused
    if capturable is not None:
        flags["capturable"] = bool(capturable)
    return flags


_NO_FUSED = object()  # RMSprop: PyTorch's has no ``fused``


def _direction(x, g, d, a, wd, maximize):
    """``d`` = the gradient ``g`` of parameter ``x`` as the optimizers step along it: negated
    for ``maximize`` (PyTorch negates first), plus ``wd * x`` (through work array ``a``)."""
    xp = xp_of(x)
    if maximize:
        xp.negative(g, out=d)
    else:
        xp.copyto(d, g)
    if wd:
        xp.multiply(x, wd, out=a)
        d += a


def _sgd_update(x, g, buf, d, a, *, lr, mom, wd, dampening, nesterov, maximize, first):
    """One SGD step with PyTorch's formulas, elementwise over (slices of) the parameter
    ``x``, its gradient ``g`` and momentum buffer ``buf``; ``d``, ``a``: work arrays."""
    xp = xp_of(x)
    _direction(x, g, d, a, wd, maximize)
    if mom:
        if first:
            xp.copyto(buf, d)
        else:
            buf *= mom
            xp.multiply(d, 1 - dampening, out=a)
            buf += a
        if nesterov:
            xp.multiply(buf, mom, out=a)
            d += a
        else:
            xp.copyto(d, buf)
    d *= -lr
    x += d


def _adam_update(x, g, m, v, vmax, d, a, *, lr, b1, b2, eps, wd, decoupled, maximize, bias1,
                 bias2):
    """One Adam/AdamW step with PyTorch's formulas, elementwise over (slices of) the parameter
    ``x``, its gradient ``g`` and moments ``m``, ``v`` (``vmax`` with amsgrad); ``d``, ``a``:
    work arrays."""
    xp = xp_of(x)
    if wd and decoupled:
        x *= 1 - lr * wd
    _direction(x, g, d, a, 0 if decoupled else wd, maximize)
    m *= b1
    xp.multiply(d, 1 - b1, out=a)
    m += a
    v *= b2
    d *= d
    d *= 1 - b2
    v += d
    if vmax is not None:
        xp.maximum(vmax, v, out=vmax)
        v = vmax
    xp.sqrt(v, out=d)
    d /= math.sqrt(bias2)
    d += eps
    xp.divide(m, d, out=d)
    d *= -lr / bias1
    x += d


def _rmsprop_update(x, g, sq, ga, buf, d, a, *, lr, alpha, eps, mom, wd, maximize):
    """One RMSprop step with PyTorch's formulas over (slices of) the parameter ``x``, its
    gradient ``g``, ``square_avg``, ``grad_avg`` (centered) and ``momentum_buffer``."""
    xp = xp_of(x)
    _direction(x, g, d, a, wd, maximize)
    sq *= alpha
    xp.multiply(d, d, out=a)
    a *= 1 - alpha
    sq += a
    if ga is not None:
        xp.subtract(d, ga, out=a)  # lerp towards the gradient by 1 - alpha
        a *= 1 - alpha
        ga += a
        xp.multiply(ga, ga, out=a)
        xp.subtract(sq, a, out=a)
        xp.sqrt(a, out=a)
    else:
        xp.sqrt(sq, out=a)
    a += eps
    xp.divide(d, a, out=a)
    if buf is not None:
        buf *= mom
        buf += a
        xp.multiply(buf, -lr, out=a)
    else:
        a *= -lr
    x += a


def _adagrad_update(x, g, acc, d, a, *, clr, eps, wd, maximize):
    """One Adagrad step with PyTorch's formulas over (slices of) the parameter ``x``, its
    gradient ``g`` and the running sum ``acc``; ``clr``: the decayed learning rate."""
    xp = xp_of(x)
    _direction(x, g, d, a, wd, maximize)
    xp.multiply(d, d, out=a)
    acc += a
    xp.sqrt(acc, out=a)
    a += eps
    xp.divide(d, a, out=a)
    a *= -clr
    x += a


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
                 nesterov=False, *, maximize=False, foreach=None, differentiable=False,
                 fused=None):
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"SGD: lr, momentum and weight_decay must be >= 0, got lr={lr}, "
                             f"momentum={momentum}, weight_decay={weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize,
                                      **_impl_flags("SGD", foreach, fused, differentiable)))

    def step(self, closure=None):
        loss = _closure_loss(closure)
        for group in self.param_groups:
            if self._fused_step(group):
                continue
            lr, mom, wd = _host_lr(group["lr"]), group["momentum"], group["weight_decay"]
            for p, g in self._params_with_grad(group):
                if isinstance(g, Tensor):  # sparse (_params_with_grad)
                    if not (wd or mom):  # only the rows the gradient holds change
                        rows, vals = sparse_rows(g)
                        p.data[rows] += vals * vals.dtype.type(lr if group["maximize"] else -lr)
                        bump_version(p._vc)
                        continue
                    g = g.to_dense().data  # momentum and decay move every row
                if not (wd or mom or group["maximize"]):
                    self._add_scaled(p, p.data, g, -lr)
                else:
                    first = mom and "momentum_buffer" not in self.state.get(
                        id(_param_of(p)), {})
                    buf = self._buffer(p, "momentum_buffer") if mom else None
                    self._each_slice(p, (p.data, g, buf), 2, functools.partial(
                        _sgd_update, lr=lr, mom=mom, wd=wd, dampening=group["dampening"],
                        nesterov=group["nesterov"], maximize=group["maximize"], first=first))
                bump_version(p._vc)
        return loss

    _SPARSE_GRADS = True

    def _fused_step(self, group):
        """The whole group in one kernel launch (CuPy), or False to take the per-parameter
        path."""
        mom = group["momentum"]
        lay = self._flat_group(group, ("momentum_buffer",) if mom else ())
        if lay is None:
            return False
        xp = xp_of(lay.flat)
        buf = None
        first = False
        with lay.flat.device:
            if mom:
                entry = lay.bufs["momentum_buffer"]
                first = entry is None
                buf = lay.new_buffer("momentum_buffer", self.state, xp) if first else entry[0]
            tables, _grads = lay.grad_tables(xp)
            _cuda.sgd_flat(lay.flat, tables, buf, _host_lr(group["lr"]), mom, group["dampening"],
                           group["weight_decay"], group["nesterov"], group["maximize"], first)
        for p in lay.params:
            bump_version(p._vc)
        return True


class Adam(Optimizer):
    """Adam (Kingma & Ba), with PyTorch's defaults; ``weight_decay`` adds L2 to the gradient."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None, decoupled_weight_decay=False):
        if lr < 0 or eps < 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"{type(self).__name__}: invalid lr={lr}, eps={eps} or "
                             f"betas={betas}")
        _check_nonneg(type(self).__name__, weight_decay=weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize,
                                      decoupled_weight_decay=bool(decoupled_weight_decay),
                                      **_impl_flags(type(self).__name__, foreach, fused,
                                                    differentiable, capturable)))

    def step(self, closure=None):
        loss = _closure_loss(closure)
        for group in self.param_groups:
            if self._fused_step(group):
                continue
            lr, (b1, b2), eps, wd = _host_lr(group["lr"]), group["betas"], group["eps"], group[
                "weight_decay"]
            for p, g in self._params_with_grad(group):
                _, t = self._count_step(p)
                m = self._buffer(p, "exp_avg")
                v = self._buffer(p, "exp_avg_sq")
                vmax = self._buffer(p, "max_exp_avg_sq") if group["amsgrad"] else None
                self._each_slice(p, (p.data, g, m, v, vmax), 2, functools.partial(
                    _adam_update, lr=lr, b1=b1, b2=b2, eps=eps, wd=wd,
                    decoupled=group["decoupled_weight_decay"], maximize=group["maximize"],
                    bias1=1 - b1 ** t, bias2=1 - b2 ** t))
                bump_version(p._vc)
        return loss

    def _fused_step(self, group):
        """The whole group in one kernel launch (CuPy), or False to take the per-parameter
        path (also when the parameters' step counts differ)."""
        names = ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if group["amsgrad"] else ())
        lay = self._flat_group(group, names)
        if lay is None:
            return False
        steps = {self.state.get(id(p), {}).get("step", 0) for p in lay.params}
        if len(steps) != 1:
            return False
        t = steps.pop() + 1
        xp = xp_of(lay.flat)
        with lay.flat.device:
            bufs = [lay.bufs[n][0] if lay.bufs[n] is not None else
                    lay.new_buffer(n, self.state, xp) for n in names]
            tables, _grads = lay.grad_tables(xp)
            b1, b2 = group["betas"]
            _cuda.adam_flat(lay.flat, tables, bufs[0], bufs[1],
                            bufs[2] if group["amsgrad"] else None, t, _host_lr(group["lr"]), b1, b2,
                            group["eps"], group["weight_decay"],
                            group["decoupled_weight_decay"],
                            group["maximize"])
        for p in lay.params:
            self.state[id(p)]["step"] = t
            bump_version(p._vc)
        return True


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter); PyTorch's default decay 0.01."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, foreach=None, capturable=False,
                 differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)


class RMSprop(Optimizer):
    """RMSprop (Hinton) with PyTorch's defaults and formulas: ``square_avg`` is a running mean
    of squared gradients (weight ``alpha``); ``centered`` subtracts the squared running mean of
    the gradients; ``momentum`` keeps a buffer of the scaled steps.

    >>> import tensorgrad as tg
    >>> w = tg.tensor([1.0, -2.0], dtype="float64", requires_grad=True)
    >>> opt = tg.optim.RMSprop([w], lr=0.01)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> [round(v, 4) for v in w.tolist()]
    [0.9, -1.9]
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False):
        if lr < 0 or eps < 0 or momentum < 0 or weight_decay < 0 or alpha < 0:
            raise ValueError(f"RMSprop: lr, alpha, eps, momentum and weight_decay must be >= 0, "
                             f"got lr={lr}, alpha={alpha}, eps={eps}, momentum={momentum}, "
                             f"weight_decay={weight_decay}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize,
                                      **_impl_flags("RMSprop", foreach, _NO_FUSED,
                                                    differentiable, capturable)))

    def step(self, closure=None):
        loss = _closure_loss(closure)
        for group in self.param_groups:
            lr, alpha, eps = _host_lr(group["lr"]), group["alpha"], group["eps"]
            mom = group["momentum"]
            for p, g in self._params_with_grad(group):
                self._count_step(p)
                sq = self._buffer(p, "square_avg")
                ga = self._buffer(p, "grad_avg") if group["centered"] else None
                buf = self._buffer(p, "momentum_buffer") if mom > 0 else None
                self._each_slice(p, (p.data, g, sq, ga, buf), 2, functools.partial(
                    _rmsprop_update, lr=lr, alpha=alpha, eps=eps, mom=mom,
                    wd=group["weight_decay"], maximize=group["maximize"]))
                bump_version(p._vc)
        return loss


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.) with PyTorch's defaults and formulas: the step is divided by the
    root of the running sum of squared gradients (``sum``, started at
    ``initial_accumulator_value`` when the parameters are added), and the learning rate decays
    as ``lr / (1 + (step - 1) * lr_decay)``.

    >>> import tensorgrad as tg
    >>> w = tg.tensor([1.0, -2.0], dtype="float64", requires_grad=True)
    >>> opt = tg.optim.Adagrad([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> [round(v, 4) for v in w.tolist()]
    [0.9, -1.9]
    """

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, foreach=None, *, maximize=False,
                 differentiable=False, fused=None):
        if lr < 0 or lr_decay < 0 or weight_decay < 0 or initial_accumulator_value < 0 or \
                eps < 0:
            raise ValueError(f"Adagrad: lr, lr_decay, weight_decay, initial_accumulator_value "
                             f"and eps must be >= 0, got lr={lr}, lr_decay={lr_decay}, "
                             f"weight_decay={weight_decay}, initial_accumulator_value="
                             f"{initial_accumulator_value}, eps={eps}")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, maximize=maximize,
                                      **_impl_flags("Adagrad", foreach, fused,
                                                    differentiable)))

    def _init_group_state(self, group):
        # as PyTorch: the accumulators exist from the start (and are in state_dict before a step)
        for p in group["params"]:
            st = self.state.setdefault(id(p), {})
            st.setdefault("step", 0)
            if "sum" not in st:
                st["sum"] = xp_of(p.data).full_like(p.data, group["initial_accumulator_value"])

    def step(self, closure=None):
        loss = _closure_loss(closure)
        for group in self.param_groups:
            for p, g in self._params_with_grad(group):
                st = self.state.get(id(_param_of(p)))
                if st is None or "sum" not in st:
                    self._init_group_state({**group, "params": [_param_of(p)]})
                    st = self.state[id(_param_of(p))]
                st["step"] += 1
                clr = _host_lr(group["lr"]) / (1 + (st["step"] - 1) * group["lr_decay"])
                if isinstance(g, Tensor):  # sparse (_params_with_grad)
                    self._sparse_step(p, g, st["sum"], clr, group)
                    continue
                self._each_slice(p, (p.data, g, _real_state(st, "sum")), 2, functools.partial(
                    _adagrad_update, clr=clr, eps=group["eps"], wd=group["weight_decay"],
                    maximize=group["maximize"]))
                bump_version(p._vc)
        return loss

    _SPARSE_GRADS = True

    def _sparse_step(self, p, g, acc, clr, group):
        """PyTorch's sparse Adagrad: only the gradient's rows (coalesced) change, their sums of
        squares and their values."""
        if group["weight_decay"]:
            raise RuntimeError("Adagrad: weight_decay option is not compatible with sparse "
                               f"gradients (parameter of shape {tuple(p.shape)})")
        rows, vals = sparse_rows(g)
        if group["maximize"]:
            vals = -vals
        xp = xp_of(vals)
        acc[rows] += vals * vals
        std = xp.sqrt(acc[rows])
        std += group["eps"]
        p.data[rows] += (vals / std) * vals.dtype.type(-clr)
        bump_version(p._vc)


def _scalar_state(value):
    """``value`` rounded as PyTorch stores an optimizer's scalar state (NAdam's ``mu_product``,
    ASGD's ``eta`` and ``mu``): in a 0-d tensor of its scalar dtype, float32 unless the default
    dtype is float64. Kept as a host number, so no step waits for the device; without the
    rounding the trajectories part at the eighth digit from the first step."""
    from ..creation import get_default_dtype

    if get_default_dtype() == np.float64:
        return float(value)
    return float(np.float32(value))


def _host_lr(lr):
    """A learning rate as a Python float (PyTorch takes a 1-element Tensor as well)."""
    return float(lr.item()) if isinstance(lr, Tensor) else float(lr)


def _check_nonneg(name, **values):
    bad = {k: v for k, v in values.items() if not v >= 0}
    if bad:
        raise ValueError(f"{name}: " + ", ".join(f"{k} must be >= 0, got {k}={v!r}"
                                                 for k, v in bad.items()))


def _check_betas(name, betas):
    if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
        raise ValueError(f"{name}: betas must lie in [0, 1), got betas={tuple(betas)}")


class _DecoupledMixin:
    """The gradient seen by NAdam and RAdam: with ``decoupled_weight_decay`` the parameter
    shrinks by ``1 - lr * weight_decay`` first (AdamW's way) and the decay stays out of the
    gradient; without it the decay is added to the gradient (L2)."""

    def _decayed_direction(self, p, g, group):
        wd = group["weight_decay"]
        if wd and group["decoupled_weight_decay"]:
            p.data *= 1 - _host_lr(group["lr"]) * wd
            return self._direction(p, g, group, l2=False)
        return self._direction(p, g, group)

    def _moments(self, p, d, b1, b2):
        """Update ``exp_avg`` and ``exp_avg_sq`` from ``d`` in place (the second work array is
        the temporary); return both."""
        xp = xp_of(p.data)
        a = self._scratch_for(p, 1)
        m = self._buffer(p, "exp_avg")
        v = self._buffer(p, "exp_avg_sq")
        xp.subtract(d, m, out=a)  # m.lerp_(d, 1 - b1)
        a *= 1 - b1
        m += a
        v *= b2
        xp.multiply(d, d, out=a)
        a *= 1 - b2
        v += a
        return m, v


class NAdam(_DecoupledMixin, Optimizer):
    """Adam with Nesterov momentum (Dozat), PyTorch's formulas: the momentum coefficient
    ``mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))`` and its running product
    ``mu_product`` (kept in the state, a number on the host) weight the gradient and the first
    moment; ``decoupled_weight_decay`` gives NAdamW."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, *, foreach=None,
                 maximize=False, capturable=False, differentiable=False):
        _check_nonneg("NAdam", lr=lr, eps=eps, weight_decay=weight_decay,
                      momentum_decay=momentum_decay)
        _check_betas("NAdam", betas)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, momentum_decay=momentum_decay,
                                      decoupled_weight_decay=bool(decoupled_weight_decay),
                                      maximize=maximize,
                                      **_impl_flags("NAdam", foreach, _NO_FUSED, differentiable,
                                                    capturable)))

    def step(self, closure=None):
        loss = _closure_loss(closure)
        for group in self.param_groups:
            lr, (b1, b2), eps, md = _host_lr(group["lr"]), group["betas"], group["eps"], group[
                "momentum_decay"]
            for p, g in self._params_with_grad(group):
                xp = xp_of(p.data)
                st, t = self._count_step(p)
                st.setdefault("mu_product", 1.0)
                d = self._decayed_direction(p, g, group)
                mu = b1 * (1.0 - 0.5 * 0.96 ** (t * md))
                mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * md))
                # PyTorch multiplies in its scalar dtype: both factors rounded first
                mu_product = _scalar_state(_scalar_state(st["mu_product"]) * _scalar_state(mu))
                st["mu_product"] = mu_product
                m, v = self._moments(p, d, b1, b2)
                a = self._scratch_for(p, 1)
                xp.divide(v, 1 - b2 ** t, out=a)
                xp.sqrt(a, out=a)
                a += eps
                d /= a
                d *= -lr * (1.0 - mu) / (1.0 - mu_product)
                p.data += d
                xp.divide(m, a, out=a)
                a *= -lr * mu_next / (1.0 - mu_product * mu_next)
                p.data += a
                bump_version(p._vc)
        return loss


class RAdam(_DecoupledMixin, Optimizer):
    """Rectified Adam (Liu et al.), PyTorch's formulas: while the variance estimate is not yet
    tractable (``rho_t <= 5``) the step is momentum SGD with bias correction, after it the
    Adam step times the rectification term; ``decoupled_weight_decay`` gives RAdamW."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False,
                 capturable=False, differentiable=False):
        _check_nonneg("RAdam", lr=lr, eps=eps, weight_decay=weight_decay)
        _check_betas("RAdam", betas)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, maximize=maximize,
                                      decoupled_weight_decay=bool(decoupled_weight_decay),
                                      **_impl_flags("RAdam", foreach, _NO_FUSED, differentiable,
                                                    capturable)))

    def step(self, closure=None):
        loss = _closure_loss(closure)
        for group in self.param_groups:
            lr, (b1, b2), eps = _host_lr(group["lr"]), group["betas"], group["eps"]
            rho_inf = 2 / (1 - b2) - 1
            for p, g in self._params_with_grad(group):
                xp = xp_of(p.data)
                _, t = self._count_step(p)
                d = self._decayed_direction(p, g, group)
                m, v = self._moments(p, d, b1, b2)
                bias1 = 1 - b1 ** t
                bias2 = 1 - b2 ** t
                rho_t = rho_inf - 2 * t * (b2 ** t) / bias2
                if rho_t > 5.0:
                    rect = ((rho_t - 4) * (rho_t - 2) * rho_inf
                            / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
                    xp.sqrt(v, out=d)
                    d += eps
                    xp.divide(m, d, out=d)
                    d *= -lr * rect * bias2 ** 0.5 / bias1
                else:
                    xp.multiply(m, -lr / bias1, out=d)
                p.data += d
                bump_version(p._vc)
        return loss


class Adamax(Optimizer):
    """Adamax (Kingma & Ba): Adam with the infinity norm, PyTorch's formulas (``exp_inf`` is
    ``max(beta2 * exp_inf, |g| + eps)``)."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 foreach=None, *, maximize=False, differentiable=False, capturable=False):
        _check_nonneg("Adamax", lr=lr, eps=eps, weight_decay=weight_decay)
        _check_betas("Adamax", betas)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, maximize=maximize,
                                      **_impl_flags("Adamax", foreach, _NO_FUSED, differentiable,
                                                    capturable)))

    def step(self, closure=None):
        loss = _closure_loss(closure)
        for group in self.param_groups:
            lr, (b1, b2), eps = _host_lr(group["lr"]), group["betas"], group["eps"]
            for p, g in self._params_with_grad(group):
                xp = xp_of(p.data)
                _, t = self._count_step(p)
                d = self._direction(p, g, group)
                a = self._scratch_for(p, 1)
                m = self._buffer(p, "exp_avg")
                u = self._buffer(p, "exp_inf")
                xp.subtract(d, m, out=a)
                a *= 1 - b1
                m += a
                u *= b2
                xp.abs(d, out=a)
                a += eps
                xp.maximum(u, a, out=u)
                xp.divide(m, u, out=a)
                a *= -lr / (1 - b1 ** t)
                p.data += a
                bump_version(p._vc)
        return loss


class Adadelta(Optimizer):
    """Adadelta (Zeiler), PyTorch's formulas: the step is the gradient scaled by
    ``sqrt(acc_delta + eps) / sqrt(square_avg + eps)``, times ``lr``."""

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *,
                 capturable=False, maximize=False, differentiable=False):
        _check_nonneg("Adadelta", lr=lr, eps=eps, weight_decay=weight_decay)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Adadelta: rho must lie in [0, 1], got rho={rho}")
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize,
                                      **_impl_flags("Adadelta", foreach, _NO_FUSED,
                                                    differentiable, capturable)))

    def step(self, closure=None):
        loss = _closure_loss(closure)
        for group in self.param_groups:
            lr, rho, eps = _host_lr(group["lr"]), group["rho"], group["eps"]
            for p, g in self._params_with_grad(group):
                xp = xp_of(p.data)
                self._count_step(p)
                d = self._direction(p, g, group)
                a = self._scratch_for(p, 1)
                b = self._scratch_for(p, 2)
                sq = self._buffer(p, "square_avg")
                acc = self._buffer(p, "acc_delta")
                sq *= rho
                xp.multiply(d, d, out=a)
                a *= 1 - rho
                sq += a
                xp.add(sq, eps, out=a)
                xp.sqrt(a, out=a)  # std
                xp.add(acc, eps, out=b)
                xp.sqrt(b, out=b)
                b /= a
                b *= d  # delta
                acc *= rho
                xp.multiply(b, b, out=a)
                a *= 1 - rho
                acc += a
                b *= -lr
                p.data += b
                bump_version(p._vc)
        return loss


class Rprop(Optimizer):
    """Resilient backpropagation (Riedmiller & Braun), PyTorch's formulas: each element's
    ``step_size`` (started at ``lr``) grows by ``etas[1]`` while its gradient keeps its sign
    and shrinks by ``etas[0]`` when the sign flips (that gradient then counts as zero), within
    ``step_sizes``; the parameter moves by ``sign(g) * step_size``."""

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        _check_nonneg("Rprop", lr=lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Rprop: etas must satisfy 0 < etas[0] < 1 < etas[1], got "
                             f"etas={tuple(etas)}")
        super().__init__(params, dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes),
                                      maximize=maximize,
                                      **_impl_flags("Rprop", foreach, _NO_FUSED, differentiable,
                                                    capturable)))

    def step(self, closure=None):
        loss = _closure_loss(closure)
        for group in self.param_groups:
            (eta_minus, eta_plus), (lo, hi) = group["etas"], group["step_sizes"]
            for p, g in self._params_with_grad(group):
                xp = xp_of(p.data)
                st, _ = self._count_step(p)
                prev = self._buffer(p, "prev")
                if "step_size" not in st:
                    # complex: both parts start at lr (PyTorch's complex(lr, lr))
                    st["step_size"] = xp.full_like(_param_of(p).data, _host_lr(group["lr"]))
                    _real_state(st, "step_size")[...] = _host_lr(group["lr"])
                size = _real_state(st, "step_size")
                d = self._scratch_for(p)
                if group["maximize"]:
                    xp.negative(g, out=d)
                else:
                    xp.copyto(d, g)
                f = self._scratch_for(p, 1)
                xp.multiply(d, prev, out=f)
                grow, shrink = f > 0, f < 0  # masks, not indexing: no wait for the device
                f.fill(1)
                xp.copyto(f, eta_plus, where=grow)
                xp.copyto(f, eta_minus, where=shrink)
                size *= f
                xp.clip(size, lo, hi, out=size)
                xp.copyto(d, 0, where=shrink)  # as PyTorch: a flipped sign forgets the gradient
                xp.copyto(prev, d)
                xp.sign(d, out=d)
                d *= size
                p.data -= d
                bump_version(p._vc)
        return loss


class ASGD(Optimizer):
    """Averaged SGD (Polyak & Juditsky), PyTorch's formulas: the step size ``eta`` decays as
    ``lr / (1 + lambd * lr * t) ** alpha``, the parameter also decays by ``1 - lambd * eta``,
    and ``ax`` averages the iterates from step ``t0`` on (``mu = 1 / max(1, t - t0)``).
    ``eta`` and ``mu`` are numbers on the host: no step waits for the device."""

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0,
                 foreach=None, maximize=False, differentiable=False, capturable=False):
        _check_nonneg("ASGD", lr=lr, weight_decay=weight_decay)
        super().__init__(params, dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0,
                                      weight_decay=weight_decay, maximize=maximize,
                                      **_impl_flags("ASGD", foreach, _NO_FUSED, differentiable,
                                                    capturable)))

    def step(self, closure=None):
        loss = _closure_loss(closure)
        for group in self.param_groups:
            lr, lambd = _host_lr(group["lr"]), group["lambd"]
            for p, g in self._params_with_grad(group):
                xp = xp_of(p.data)
                st = self.state.setdefault(id(_param_of(p)), {})
                if "eta" not in st:
                    st.update(step=0, eta=_scalar_state(lr), mu=1.0)
                t = st["step"] = st["step"] + 1
                ax = self._buffer(p, "ax")
                d = self._direction(p, g, group)
                eta = st["eta"]
                p.data *= 1 - lambd * eta
                d *= -eta
                p.data += d
                if st["mu"] != 1:
                    xp.subtract(p.data, ax, out=d)
                    d *= st["mu"]
                    ax += d
                else:
                    xp.copyto(ax, p.data)
                st["eta"] = _scalar_state(lr / ((1 + lambd * lr * t) ** group["alpha"]))
                st["mu"] = _scalar_state(1 / max(1, t - group["t0"]))
                bump_version(p._vc)
        return loss
