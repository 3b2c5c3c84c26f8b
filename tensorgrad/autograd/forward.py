"""Forward mode: duals that carry a tangent through every primitive.

Each ``jvp`` gets a fresh level; a dual at level L holds ``_primal`` (the value with everything
below level L: a raw array, a tape Tensor or a dual of a lower level) and ``_tangent`` (of the
same kind). A primitive applied to duals strips the highest level, computes on the primals (which
handles lower levels and the tape recursively) and combines the JVP rules of the inputs at that
level. Levels keep nested transforms from confusing their perturbations.
"""

import functools
import itertools

from ..tensor import Tensor, _new_tensor
from .graph import check_rule_result  # a user's rule gone wrong gets an error naming it

_levels = itertools.count(1)


def new_level():
    return next(_levels)


class Dual(Tensor):
    __slots__ = ()

    @property
    def _level(self):
        return self._lev

    @property
    def device(self):
        if type(self.data) is _Logical:  # a batched primal (vmap): its device lies below
            return self._primal.device
        return Tensor.device.fget(self)

    def __repr__(self):
        return f"Dual(level={self._lev}, primal={self._primal!r}, tangent={self._tangent!r})"


def _data(x):
    return x.data if isinstance(x, Tensor) else x


def make_dual(primal, level, tangent):
    data = _data(primal)
    if type(data) is _Logical:  # a batched primal (vmap): keep its logical stand-in
        d = _new_tensor(0.0, None, False)
        d.data = data
    else:
        d = _new_tensor(data, None, False)
    d.__class__ = Dual
    d._lev = level
    d._primal = primal
    d._tangent = tangent
    return d


def split(x, level):
    """(primal, tangent) of ``x`` at ``level``; tangent None when ``x`` has no part there."""
    if isinstance(x, Tensor) and x._level == level:
        return x._primal, x._tangent
    return x, None


def level_of(x):
    return x._level if isinstance(x, Tensor) else 0


def apply_at_level(p, args, kw, level):
    from ..ops.registry import _wrapper_of

    for a in args:
        if isinstance(a, Tensor) and a._level == level:
            if a.__class__ is not Dual:  # a vmap level: one batched call
                from .batching import apply_batched

                return apply_batched(p, args, kw, level)
            break
    primals = [a._primal if isinstance(a, Tensor) and a._level == level else a for a in args]
    call = _wrapper_of(p)
    out = call(*primals, **kw)
    jvps = p.jvps
    if jvps is None:
        if p.vjps is not None:
            from .rules import MissingRuleError

            raise MissingRuleError(f"{p.name}: no JVP rule is defined, so forward mode cannot "
                                   "go through it; declare one with tg.defjvp")
        return out  # not differentiable: the tangent is cut
    tangent = None
    for i, a in enumerate(args):
        if isinstance(a, Tensor) and a._level == level:
            rule = jvps[i] if i < len(jvps) else None
            if rule is None:
                from .rules import MissingRuleError

                raise MissingRuleError(f"{p.name}: no JVP rule for argument {i}; declare one "
                                       "with tg.defjvp")
            ti = rule(a._tangent, out, *primals, **kw)
            check_rule_result("JVP", p, i, ti, out.shape, _data(out).dtype)
            if ti.shape != out.shape:
                from ..ops.shape import broadcast_to

                ti = broadcast_to(ti, out.shape)
            tangent = ti if tangent is None else tangent + ti
    if _data(out).dtype.kind not in "fc":
        return out
    return make_dual(out, level, tangent)


def setitem_at_level(t, idx, value):
    """``t[idx] = value`` when a dual is involved: the primal is written in place, and the
    tangent of ``t``, of the base it views and of that base's views take the write (see
    ``spread_tangent``)."""
    from ..ops import copy as _copy

    level = max(level_of(t), level_of(value))
    for x in (t, value):
        if isinstance(x, Tensor) and x._level and x.__class__ is not Dual:
            from .batching import BatchingFallback

            raise BatchingFallback("setitem: writing into a batched tensor (vmap falls back to "
                                   "its loop)")
    _check_convertible(t, "setitem")
    vp, vt = split(value, level)
    tt = _copy(t._tangent) if t._level == level else _zeros(t)  # the tangent may be shared
    _writable(t._primal if t._level == level else t)[idx] = vp
    tt = _writable(tt)
    tt[idx] = 0 if vt is None else vt
    spread_tangent(t, level, tt)


def write_dual(t, level, value):
    """``t`` overwritten in place by ``value`` (PyTorch's in-place op under forward mode):
    ``value``'s primal goes into ``t``'s memory (views of it see the new values; the tape and
    lower levels record the write), its tangent at ``level`` becomes ``t``'s."""
    _check_convertible(t, "in-place op")
    vp, vt = split(value, level)
    _writable(t._primal if t._level == level else t)[...] = vp
    spread_tangent(t, level, _zeros(t) if vt is None else vt)


def spread_tangent(t, level, tangent):
    """``t``'s tangent at ``level`` is now ``tangent``: when ``t`` views a base, the base's
    tangent takes it in ``t``'s elements, and every view of the base made in forward mode (or
    on the tape) reads its tangent from the base's new one, as PyTorch's forward AD keeps a
    view's tangent a view of its base's. A tensor without a tangent at ``level`` becomes a
    dual there."""
    from ..tensor import _family, _spliced

    viewed = t._view_base()
    if viewed:
        base, chain = viewed
        old = base._tangent if base._level == level else _zeros(base)
        _check_convertible(base, "in-place op")
        tangent = _unwrapped(_spliced(base.data, chain, _as_tensor(tangent), _as_tensor(old)))
        t = base
    _set_tangent(t, level, tangent)
    if len(t._vc) > 1:
        _family(t, tangent, functools.partial(_view_tangent, level))


def _view_tangent(level, view, tangent, prim, rest, kw):
    """The tangent of ``view`` from its source's (``tangent``), which ``view`` takes."""
    if isinstance(tangent, Tensor):
        from ..ops.registry import apply

        vt = apply(prim, (tangent,) + rest, kw)
    else:
        vt = prim.fwd(tangent, *rest, **kw)
    if type(view) is Tensor or view.__class__ is Dual:
        _set_tangent(view, level, vt)
    return vt


def _set_tangent(t, level, tangent):
    if t._level == level:
        t._tangent = tangent
        return
    primal = _new_tensor(t.data, None, False)  # t as it is, below this level
    for slot in ("_node", "_rg", "_vc", "_lev", "_primal", "_tangent", "_view"):
        try:
            object.__setattr__(primal, slot, object.__getattribute__(t, slot))
        except AttributeError:
            pass
    primal.__class__ = t.__class__
    t.__class__ = Dual
    t._lev = level
    t._primal = primal
    t._tangent = tangent
    t._node = None
    t._rg = False


def _check_convertible(t, what):
    if not (type(t) is Tensor or t.__class__ is Dual):
        raise TypeError(f"{what}: cannot write a forward-mode dual into a "
                        f"{type(t).__name__} (a tensor subclass); use an out-of-place op")


def writes_through(t, value):
    """Whether an in-place op writing ``value`` into ``t`` writes (``write_dual``) rather
    than rebinds ``t``: forward-mode duals, no vmap level among them (a batched tensor's
    logical array cannot take a write; one meeting views makes vmap take its loop)."""
    if value.__class__ is Dual and type(value.data) is not _Logical and (
            not t._level or t.__class__ is Dual):
        return True
    refuse_batched_view_write(t, value)
    return False


def link_level_view(out, prim, args, kw):
    """Record a view primitive's result at a level as a view of its argument
    (``_link_view``): what in-place writes under forward mode follow (``spread_tangent``),
    and what tells vmap that a write must take its loop (``refuse_batched_view_write``)."""
    from ..tensor import _link_view

    if isinstance(out, Tensor) and out._level:
        _link_view(out, prim, args[0], tuple(args[1:]), kw)


def refuse_batched_view_write(t, value):
    """An in-place op inside vmap rebinds the batched tensor it writes; where that tensor is
    a view or has views, others would not see the write, so vmap runs its loop instead."""
    if not any(isinstance(x, Tensor) and x._level and x.__class__ is not Dual
               for x in (t, value)):
        return
    if getattr(t, "_view", None) is not None or len(t._vc) > 1:
        from .batching import BatchingFallback

        raise BatchingFallback("vmap: an in-place write into a view, or into a tensor that has "
                               "views, inside vmap (vmap falls back to its loop)")


def _zeros(t):
    from ..ops.nondiff import zeros_like

    return zeros_like(t.data)


def _as_tensor(x):
    return x if isinstance(x, Tensor) else _new_tensor(x, None, False)


def _unwrapped(x):
    """A tangent computed on Tensors back as a raw array where it carries nothing."""
    return x.data if type(x) is Tensor and not x._rg else x


def _writable(x):
    return x if isinstance(x, Tensor) else _new_tensor(x, None, False)


from .batching import Logical as _Logical  # noqa: E402  (batching.py imports this module)
