"""Containers of values (nested lists, tuples, named tuples and dicts), as autograd's vspaces
allow: a transform flattens its argument into leaves, works on those, and rebuilds the result
in the argument's shape.

>>> leaves, rebuild = flatten({"w": [1.0, 2.0], "b": (3.0,)})
>>> leaves
[3.0, 1.0, 2.0]
>>> rebuild([x * 10 for x in leaves])
{'w': [10.0, 20.0], 'b': (30.0,)}
"""


def is_container(x):
    return isinstance(x, (list, tuple, dict))


def flatten(x):
    """(leaves, rebuild): the leaves of ``x`` in a fixed order (dict keys sorted), and a
    function that makes a container of the same shape from a list of new leaves (its dicts
    with their keys in the order given, as autograd's)."""
    if not isinstance(x, (list, tuple, dict)):  # one leaf: the common case, made cheap
        return [x], _single
    leaves = []
    spec = _spec(x, leaves)
    return leaves, lambda new: _build(spec, iter(new))


def _single(new):
    (leaf,) = new
    return leaf


def _spec(x, leaves):
    if isinstance(x, dict):
        try:
            keys = sorted(x)
        except TypeError:  # keys that do not sort: insertion order
            keys = list(x)
        return ("dict", type(x), (keys, list(x)), [_spec(x[k], leaves) for k in keys])
    if isinstance(x, (list, tuple)):
        return ("seq", type(x), None, [_spec(v, leaves) for v in x])
    leaves.append(x)
    return None


def _build(spec, it):
    if spec is None:
        return next(it)
    kind, cls, keys, children = spec
    parts = [_build(c, it) for c in children]
    if kind == "dict":
        keys, order = keys
        by_key = dict(zip(keys, parts))
        out = {k: by_key[k] for k in order}
        return out if cls is dict else cls(out)
    if cls is list:
        return parts
    if cls is tuple:
        return tuple(parts)
    if hasattr(cls, "_fields"):  # a named tuple
        return cls(*parts)
    return cls(parts)
