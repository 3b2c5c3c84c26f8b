"""Forward mode: duals that carry a tangent through every primitive.

Each ``jvp`` gets a fresh level; a dual at level L holds ``_primal`` (the value with everything
below level L: a raw array, a tape Tensor or a dual of a lower level) and ``_tangent`` (of the
same kind). A primitive applied to duals strips the highest level, computes on the primals (which
handles lower levels and the tape recursively) and combines the JVP rules of the inputs at that
level. Levels keep nested transforms from confusing their perturbations.
"""

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
    """``t[idx] = value`` when a dual is involved: primal and tangent are written alike."""
    from ..ops import copy as _copy
    from ..ops.nondiff import zeros_like

    level = max(level_of(t), level_of(value))
    for x in (t, value):
        if isinstance(x, Tensor) and x._level and x.__class__ is not Dual:
            from .batching import BatchingFallback

            raise BatchingFallback("setitem: writing into a batched tensor (vmap falls back to "
                                   "its loop)")
    vp, vt = split(value, level)
    if t._level == level:
        tp, tt = t._primal, _copy(t._tangent)  # the tangent may be shared: write into a copy
    else:
        if type(t) is not Tensor:
            raise TypeError("setitem: cannot write a dual into a tensor subclass")
        tp = _new_tensor(t.data, t._node, t._rg)
        tp._vc = t._vc
        tt = zeros_like(t.data)
        t.__class__ = Dual
        t._lev = level
    tp = _writable(tp)
    tp[idx] = vp
    tt = _writable(tt)
    tt[idx] = 0 if vt is None else vt
    t._primal, t._tangent = tp, tt
    t.data = _data(tp)


def _writable(x):
    return x if isinstance(x, Tensor) else _new_tensor(x, None, False)


from .batching import Logical as _Logical  # noqa: E402  (batching.py imports this module)
