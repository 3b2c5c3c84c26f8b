"""Rules a primitive's author did not write: what stands in for them.

- A rule that is *missing* (a user primitive with no ``defvjp`` for an argument, or no
  ``defjvp``) is a callable that raises :class:`MissingRuleError` naming the primitive, the
  argument and the rule to declare, when a derivative actually has to go through it.
- A VJP the author did not write but whose JVP exists is *derived* from the JVP: the VJP is the
  transpose of the linear map ``t -> jvp(t)``, assembled one input direction at a time. So
  reverse transforms run through a primitive that only has ``defjvp`` (``def_linear``, or a
  forward rule ported from JAX).
- A missing JVP is not derived (that would take one VJP per output element on every call);
  ``hessian`` goes reverse-over-reverse instead (see functional.py), and forward transforms
  raise :class:`MissingRuleError`.
"""

import numpy as np


class MissingRuleError(NotImplementedError):
    """A derivative had to go through a primitive that has no rule for it."""


class Missing:
    """The stand-in for a rule nobody declared: raises when called."""

    __slots__ = ("prim", "argnum", "kind")

    def __init__(self, prim, argnum, kind):
        self.prim, self.argnum, self.kind = prim, argnum, kind

    def __call__(self, *args, **kwargs):
        how = "defvjp" if self.kind == "VJP" else "defjvp"
        other = ("forward mode (make_jvp, deriv, jvp) cannot go through it (grad, hessian and "
                 "jacobian need only a VJP)" if self.kind == "JVP" else
                 "reverse mode cannot go through it (a JVP would do: the VJP is derived from it)")
        raise MissingRuleError(
            f"{self.prim.name}: no {self.kind} rule for argument {self.argnum}, so {other}; "
            f"declare one with {how}({self.prim.name}, ...)")


def is_missing(rule):
    return rule is None or type(rule) is Missing


class Rules:
    """One rule per positional argument: the declared ones, and for the other arguments
    ``default(i)`` (a :class:`Missing` rule, or one derived from the other mode)."""

    __slots__ = ("given", "default", "cache")

    def __init__(self, given, default):
        self.given, self.default, self.cache = tuple(given), default, {}

    def __len__(self):
        return 1 << 30

    def __iter__(self):  # the declared part only (``list(p.vjps)`` when more are declared)
        return iter(self.given)

    def __getitem__(self, i):
        if i < len(self.given):  # declared (None: no derivative for that argument)
            return self.given[i]
        r = self.cache.get(i)
        if r is None:
            r = self.cache[i] = self.default(i)
        return r


def mark_user_primitive(p):
    """A primitive made by a user: until its rules are declared, each is :class:`Missing`
    (a tensorgrad primitive without rules is non-differentiable and cuts the graph instead)."""
    p.vjps = Rules((), lambda i: Missing(p, i, "VJP"))
    p.jvps = Rules((), lambda i: Missing(p, i, "JVP"))


def rule_at(rules, i):
    if rules is None:
        return None
    try:
        return rules[i]
    except IndexError:
        return None


def fill_vjps_from_jvps(p):
    """After ``defjvp``: every argument with a JVP and no VJP gets a VJP derived from the JVP.
    A VJP declared as None stays None (no gradient), as in autograd. Plain tuples stay tuples
    (the backward pass indexes them on every node)."""
    jvps, vjps = p.jvps, p.vjps
    if jvps is None or not (vjps is None or isinstance(vjps, (tuple, list, Rules))):
        return  # no JVP, or VJPs made on demand per argument (variadic library primitives)

    def derived_or(i, otherwise):
        jrule = rule_at(jvps, i)
        return otherwise if is_missing(jrule) else vjp_from_jvp(jrule, i)

    if isinstance(vjps, Rules) or not isinstance(jvps, tuple):
        given = list(vjps) if vjps is not None else []
        fallback = vjps.default if isinstance(vjps, Rules) else (lambda i: None)
        p.vjps = Rules(given, lambda i: derived_or(i, fallback(i)))
        return
    vjps = tuple(vjps or ())
    if len(vjps) >= len(jvps):
        return
    p.vjps = vjps + tuple(derived_or(i, None) for i in range(len(vjps), len(jvps)))


def vjp_from_jvp(jvp_rule, argnum):
    """The VJP of one argument as the transpose of its JVP: ``<g, J e_k>`` for each direction
    ``e_k`` of the argument. Written with tensorgrad's functions, so it is differentiable
    itself when the JVP rule is."""

    def vjp(g, ans, *args, **kwargs):
        from .. import numpy as tnp
        from ..backend.device import xp_of
        from ..tensor import _raw

        x = _raw(args[argnum])
        shape = tuple(np.shape(x)) if not hasattr(x, "shape") else tuple(x.shape)
        xp = xp_of(_raw(g))
        dtype = np.result_type(getattr(x, "dtype", np.float64), np.float64) \
            if not hasattr(x, "dtype") or x.dtype.kind not in "fc" else x.dtype
        size = int(np.prod(shape))
        parts = []
        for k in range(size):
            e = xp.zeros(size, dtype=dtype)
            e[k] = 1
            col = jvp_rule(e.reshape(shape), ans, *args, **kwargs)
            parts.append(tnp.sum(g * col))
        if not parts:
            return xp.zeros(shape, dtype=dtype)
        return tnp.reshape(tnp.stack(parts), shape)

    vjp.derived_from_jvp = True
    return vjp


def lacks_jvp(node_order):
    """Whether some node of a recorded tape has no JVP for an argument the tangent reaches:
    then a forward sweep over it is impossible (``hessian`` goes reverse-over-reverse)."""
    for n in node_order:
        jvps = n.prim.jvps
        for i, parent in enumerate(n.parents):
            if parent is not None and is_missing(rule_at(jvps, i)):
                return True
    return False
