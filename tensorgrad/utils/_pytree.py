"""``tg.utils._pytree``: PyTorch's ``torch.utils._pytree`` (nested containers as a tree whose
leaves are the values), with PyTorch's semantics: lists, tuples, dicts (keys in insertion
order), named tuples, ``OrderedDict``, ``defaultdict`` and ``deque`` are nodes; everything else,
None included, is a leaf; more node types come with ``register_pytree_node``.

(``tensorgrad.autograd.tree`` flattens autograd's containers with autograd's convention, dict
keys sorted; PyTorch's keeps them in insertion order, so the two are separate.)

>>> from tensorgrad.utils import _pytree as pytree
>>> leaves, spec = pytree.tree_flatten({"b": [1, 2], "a": (3, None)})
>>> leaves
[1, 2, 3, None]
>>> pytree.tree_unflatten([x * 10 if x else x for x in leaves], spec)
{'b': [10, 20], 'a': (30, None)}
"""

import dataclasses
import json
import warnings
from collections import OrderedDict, defaultdict, deque, namedtuple

__all__ = ["PyTree", "Context", "FlattenFn", "UnflattenFn", "DumpableContext",
           "ToDumpableContextFn", "FromDumpableContextFn", "PyTreeSpec", "TreeSpec", "LeafSpec",
           "keystr", "key_get", "register_pytree_node", "tree_is_leaf", "tree_flatten",
           "tree_flatten_with_path", "tree_unflatten", "tree_iter", "tree_leaves",
           "tree_leaves_with_path", "tree_structure", "tree_map", "tree_map_with_path",
           "tree_map_", "tree_map_only", "tree_map_only_", "tree_all", "tree_any",
           "tree_all_only", "tree_any_only", "treespec_dumps", "treespec_loads",
           "treespec_pprint", "is_namedtuple", "is_namedtuple_class", "is_namedtuple_instance",
           "is_structseq", "is_structseq_class", "is_structseq_instance"]

# type aliases, as PyTorch's module names them
PyTree = object
Context = object
DumpableContext = object
FlattenFn = UnflattenFn = ToDumpableContextFn = FromDumpableContextFn = object

TREESPEC_PROTOCOL = 1


# ---- key paths -------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SequenceKey:
    idx: int

    def __str__(self):
        return f"[{self.idx!r}]"

    def get(self, sequence):
        return sequence[self.idx]


@dataclasses.dataclass(frozen=True)
class MappingKey:
    key: object

    def __str__(self):
        return f"[{self.key!r}]"

    def get(self, mapping):
        return mapping[self.key]


@dataclasses.dataclass(frozen=True)
class GetAttrKey:
    name: str

    def __str__(self):
        return f".{self.name}"

    def get(self, obj):
        return getattr(obj, self.name)


def keystr(kp):
    """A key path as the Python accessor string (``"['b'][1][0]"``)."""
    return "".join(str(k) for k in kp)


def key_get(obj, kp):
    """The value at key path ``kp`` in ``obj``."""
    for k in kp:
        obj = k.get(obj)
    return obj


# ---- node types ------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Node:
    flatten: object  # node -> (children, context)
    unflatten: object  # (children, context) -> node
    keys: object  # (node, context) -> key entries, one per child
    type_name: object = None  # serialized name (treespec_dumps)
    to_dumpable: object = None
    from_dumpable: object = None


_NODES = {}


def _seq_keys(node, context):
    return [SequenceKey(i) for i in range(len(node))]


def _dict_keys(node, context):
    return [MappingKey(k) for k in context]


def register_pytree_node(cls, flatten_fn, unflatten_fn, *, serialized_type_name=None,
                         to_dumpable_context=None, from_dumpable_context=None,
                         flatten_with_keys_fn=None):
    """Make ``cls`` a node: ``flatten_fn(node) -> (children, context)`` and
    ``unflatten_fn(children, context) -> node``; ``flatten_with_keys_fn(node) ->
    ([(key, child), ...], context)`` gives key paths (default: ``SequenceKey``s)."""
    if not isinstance(cls, type):
        raise TypeError(f"register_pytree_node: expected a class, got {cls!r}")
    if cls in _NODES:
        raise ValueError(f"{cls} is already registered as pytree node.")
    if not callable(flatten_fn) or not callable(unflatten_fn):
        raise TypeError("register_pytree_node: flatten_fn and unflatten_fn must be callable")
    if flatten_with_keys_fn is None:
        keys = _seq_keys
    else:
        def keys(node, context):
            return [k for k, _ in flatten_with_keys_fn(node)[0]]
    name = serialized_type_name or f"{cls.__module__}.{cls.__qualname__}"
    _NODES[cls] = _Node(flatten_fn, unflatten_fn, keys, name, to_dumpable_context,
                        from_dumpable_context)


def _namedtuple_unflatten(children, cls):
    return cls(*children)


def _defaultdict_flatten(d):
    return list(d.values()), [d.default_factory, list(d)]


def _defaultdict_unflatten(children, context):
    factory, keys = context
    return defaultdict(factory, zip(keys, children))


_NODES[list] = _Node(lambda n: (list(n), None), lambda c, _: list(c), _seq_keys,
                     "builtins.list")
_NODES[tuple] = _Node(lambda n: (list(n), None), lambda c, _: tuple(c), _seq_keys,
                      "builtins.tuple")
_NODES[dict] = _Node(lambda n: (list(n.values()), list(n)), lambda c, k: dict(zip(k, c)),
                     _dict_keys, "builtins.dict")
_NODES[OrderedDict] = _Node(lambda n: (list(n.values()), list(n)),
                            lambda c, k: OrderedDict(zip(k, c)), _dict_keys,
                            "collections.OrderedDict")
_NODES[defaultdict] = _Node(_defaultdict_flatten, _defaultdict_unflatten,
                            lambda n, ctx: [MappingKey(k) for k in ctx[1]],
                            "collections.defaultdict")
_NODES[deque] = _Node(lambda n: (list(n), n.maxlen), lambda c, m: deque(c, maxlen=m),
                      _seq_keys, "collections.deque")
# named tuples share one entry, keyed by collections.namedtuple (PyTorch's spec type)
_NODES[namedtuple] = _Node(lambda n: (list(n), type(n)), _namedtuple_unflatten,
                           lambda n, cls: [GetAttrKey(f) for f in cls._fields],
                           "collections.namedtuple")


def is_namedtuple_class(cls):
    """Whether ``cls`` is a named tuple class."""
    return isinstance(cls, type) and issubclass(cls, tuple) and \
        isinstance(getattr(cls, "_fields", None), tuple) and \
        all(isinstance(f, str) for f in cls._fields) and \
        callable(getattr(cls, "_make", None)) and callable(getattr(cls, "_asdict", None))


def is_namedtuple_instance(obj):
    """Whether ``obj`` is a named tuple."""
    return is_namedtuple_class(type(obj))


def is_namedtuple(obj):
    """Whether ``obj`` is a named tuple or a named tuple class."""
    return is_namedtuple_class(obj if isinstance(obj, type) else type(obj))


def is_structseq_class(cls):
    """Whether ``cls`` is a C struct sequence class (``os.stat_result``-like)."""
    return isinstance(cls, type) and issubclass(cls, tuple) and not is_namedtuple_class(cls) \
        and all(isinstance(getattr(cls, a, None), int)
                for a in ("n_fields", "n_sequence_fields", "n_unnamed_fields"))


def is_structseq_instance(obj):
    return is_structseq_class(type(obj))


def is_structseq(obj):
    return is_structseq_class(obj if isinstance(obj, type) else type(obj))


def _node_type(x):
    t = type(x)
    if t in _NODES and t is not namedtuple:
        return t
    if is_namedtuple_class(t):
        return namedtuple
    return None


def tree_is_leaf(tree, is_leaf=None):
    """Whether ``tree`` is a leaf (not a registered node, or ``is_leaf(tree)`` is true)."""
    if is_leaf is not None and is_leaf(tree):
        return True
    return _node_type(tree) is None


# ---- specs -------------------------------------------------------------------------------------
class TreeSpec:
    """The shape of a tree: its node ``type`` (None for a leaf), ``context`` (dict keys, the
    named tuple class, ...) and the specs of its children."""

    def __init__(self, type, context, children_specs):
        self.type = type
        self.context = context
        self._children = list(children_specs)
        self.num_children = len(self._children)
        self.num_leaves = 1 if type is None else sum(c.num_leaves for c in self._children)
        self.num_nodes = 1 + sum(c.num_nodes for c in self._children)

    @property
    def children_specs(self):
        warnings.warn("`treespec.children_specs` is deprecated. Use `treespec.child(index)` to "
                      "access a single child, or `treespec.children()` to get all children.",
                      FutureWarning, stacklevel=2)
        return self._children

    def children(self):
        return list(self._children)

    def child(self, index):
        return self._children[index]

    def is_leaf(self):
        return self.type is None

    def __eq__(self, other):
        if not isinstance(other, TreeSpec):
            return NotImplemented
        return (self.type, self.context, self._children) == \
            (other.type, other.context, other._children)

    def __hash__(self):
        return hash((self.type, repr(self.context), tuple(self._children)))

    def __repr__(self, indent=0):
        if self.is_leaf():
            return "*"
        name = "namedtuple" if self.type is namedtuple else self.type.__name__
        inner = [c.__repr__(indent + 2) for c in self._children]
        sep = ",\n" + " " * (indent + 2)
        return f"TreeSpec({name}, {self.context!r}, [{sep.join(inner)}])"

    def flatten_up_to(self, tree):
        """The subtrees of ``tree`` at this spec's leaves (the tree must have this spec's
        nodes down to them)."""
        out = []
        self._up_to(tree, out)
        return out

    def _up_to(self, tree, out):
        if self.is_leaf():
            out.append(tree)
            return
        kind = _node_type(tree)
        if kind is not self.type:
            want = "namedtuple" if self.type is namedtuple else self.type.__name__
            raise ValueError(f"Node type mismatch; expected {want}, but got {type(tree)}.")
        children, context = _NODES[kind].flatten(tree)
        if len(children) != self.num_children:
            raise ValueError(f"Node arity mismatch; expected {self.num_children}, but got "
                             f"{len(children)}.")
        if kind in (dict, OrderedDict, defaultdict):
            keys = context[1] if kind is defaultdict else context
            want = self.context[1] if kind is defaultdict else self.context
            if set(keys) != set(want):
                raise ValueError(f"Node keys mismatch; expected {want}, but got {keys}.")
            children = [tree[k] for k in want]
        elif context != self.context:
            raise ValueError(f"Node context mismatch for custom node type {self.type}.")
        for c, spec in zip(children, self._children):
            spec._up_to(c, out)

    def unflatten(self, leaves):
        """The tree of this spec with ``leaves`` at its leaves."""
        leaves = list(leaves)
        if len(leaves) != self.num_leaves:
            raise ValueError(f"treespec.unflatten(leaves): `leaves` has length {len(leaves)} "
                             f"but the spec refers to a pytree that holds {self.num_leaves} "
                             f"items ({self}).")
        return self._build(iter(leaves))

    def _build(self, it):
        if self.is_leaf():
            return next(it)
        parts = [c._build(it) for c in self._children]
        return _NODES[self.type].unflatten(parts, self.context)


class LeafSpec(TreeSpec):
    """The spec of a leaf (``*``)."""

    def __init__(self):
        super().__init__(None, None, [])

    def __eq__(self, other):
        return isinstance(other, TreeSpec) and other.is_leaf()

    __hash__ = TreeSpec.__hash__


PyTreeSpec = TreeSpec
_LEAF = LeafSpec()


def _flatten(tree, is_leaf, leaves, path=None, paths=None):
    if tree_is_leaf(tree, is_leaf):
        leaves.append(tree)
        if paths is not None:
            paths.append(path)
        return _LEAF
    kind = _node_type(tree)
    node = _NODES[kind]
    children, context = node.flatten(tree)
    keys = node.keys(tree, context) if paths is not None else [None] * len(children)
    specs = [_flatten(c, is_leaf, leaves, None if paths is None else path + (k,), paths)
             for c, k in zip(children, keys)]
    return TreeSpec(kind, context, specs)


def tree_flatten(tree, is_leaf=None):
    """(leaves, spec): the leaves of ``tree`` in order and the spec that rebuilds it."""
    leaves = []
    spec = _flatten(tree, is_leaf, leaves)
    return leaves, spec


def tree_flatten_with_path(tree, is_leaf=None):
    """([(key path, leaf), ...], spec)."""
    leaves, paths = [], []
    spec = _flatten(tree, is_leaf, leaves, (), paths)
    return list(zip(paths, leaves)), spec


def tree_unflatten(leaves, treespec):
    """The tree of ``treespec`` with ``leaves`` at its leaves."""
    if not isinstance(treespec, TreeSpec):
        raise TypeError(f"tree_unflatten(leaves, treespec): Expected `treespec` to be instance "
                        f"of TreeSpec but got item of type {type(treespec)}.")
    return treespec.unflatten(leaves)


def tree_leaves(tree, is_leaf=None):
    """The leaves of ``tree``, in order."""
    return tree_flatten(tree, is_leaf)[0]


def tree_iter(tree, is_leaf=None):
    """An iterator over the leaves of ``tree``."""
    return iter(tree_leaves(tree, is_leaf))


def tree_leaves_with_path(tree, is_leaf=None):
    return tree_flatten_with_path(tree, is_leaf)[0]


def tree_structure(tree, is_leaf=None):
    """The spec of ``tree``."""
    return tree_flatten(tree, is_leaf)[1]


def tree_map(func, tree, *rests, is_leaf=None):
    """The tree of ``func(leaf, *leaves of rests at the same place)``; each of ``rests`` must
    have ``tree``'s nodes (its subtrees at ``tree``'s leaves are passed whole)."""
    leaves, spec = tree_flatten(tree, is_leaf)
    others = [spec.flatten_up_to(r) for r in rests]
    return spec.unflatten(func(*xs) for xs in zip(leaves, *others))


def tree_map_(func, tree, *rests, is_leaf=None):
    """``func`` on each leaf for its effect; returns ``tree``."""
    leaves, spec = tree_flatten(tree, is_leaf)
    others = [spec.flatten_up_to(r) for r in rests]
    for xs in zip(leaves, *others):
        func(*xs)
    return tree


def tree_map_with_path(func, tree, *rests, is_leaf=None):
    """The tree of ``func(key path, leaf, *leaves of rests)``."""
    pairs, spec = tree_flatten_with_path(tree, is_leaf)
    others = [spec.flatten_up_to(r) for r in rests]
    return spec.unflatten(func(p, x, *o) for (p, x), *o in zip(pairs, *others))


def _only(types, func):
    if isinstance(types, type):
        types = (types,)
    elif isinstance(types, (tuple, list)):
        types = tuple(types)
    else:
        raise TypeError(f"tree_map_only: expected a type or a tuple of types, got {types!r}")

    def wrapped(x):
        return func(x) if isinstance(x, types) else x
    return wrapped, types


def tree_map_only(type_or_types_or_pred, func, tree, is_leaf=None):
    """``func`` on the leaves of the given type(s), the others unchanged (a predicate may
    stand for the types)."""
    if callable(type_or_types_or_pred) and not isinstance(type_or_types_or_pred, type):
        pred = type_or_types_or_pred
        return tree_map(lambda x: func(x) if pred(x) else x, tree, is_leaf=is_leaf)
    return tree_map(_only(type_or_types_or_pred, func)[0], tree, is_leaf=is_leaf)


def tree_map_only_(type_or_types_or_pred, func, tree, is_leaf=None):
    if callable(type_or_types_or_pred) and not isinstance(type_or_types_or_pred, type):
        pred = type_or_types_or_pred
        return tree_map_(lambda x: func(x) if pred(x) else None, tree, is_leaf=is_leaf)
    return tree_map_(_only(type_or_types_or_pred, func)[0], tree, is_leaf=is_leaf)


def tree_all(pred, tree, is_leaf=None):
    """Whether ``pred`` holds for every leaf."""
    return all(map(pred, tree_iter(tree, is_leaf)))


def tree_any(pred, tree, is_leaf=None):
    """Whether ``pred`` holds for some leaf."""
    return any(map(pred, tree_iter(tree, is_leaf)))


def tree_all_only(type_or_types, pred, tree, is_leaf=None):
    """Whether ``pred`` holds for every leaf of the given type(s)."""
    types = _only(type_or_types, pred)[1]
    return all(pred(x) for x in tree_iter(tree, is_leaf) if isinstance(x, types))


def tree_any_only(type_or_types, pred, tree, is_leaf=None):
    """Whether ``pred`` holds for some leaf of the given type(s)."""
    types = _only(type_or_types, pred)[1]
    return any(pred(x) for x in tree_iter(tree, is_leaf) if isinstance(x, types))


# ---- serialisation ---------------------------------------------------------------------------
def _dump(spec):
    if spec.is_leaf():
        return {"type": None, "context": None, "children_spec": []}
    node = _NODES[spec.type]
    if spec.type is namedtuple:
        raise NotImplementedError("treespec_dumps: named tuple specs are not serialised (their "
                                  "class cannot be named portably)")
    if spec.type is defaultdict:
        factory, keys = spec.context
        context = {"default_factory_module": factory.__module__,
                   "default_factory_name": factory.__qualname__, "dict_context": keys}
    elif node.to_dumpable is not None:
        context = node.to_dumpable(spec.context)
    else:
        context = json.dumps(spec.context)
    return {"type": node.type_name, "context": context,
            "children_spec": [_dump(c) for c in spec.children()]}


def treespec_dumps(treespec, protocol=None):
    """The spec as a JSON string (PyTorch's format, protocol 1)."""
    if not isinstance(treespec, TreeSpec):
        raise TypeError(f"treespec_dumps(treespec, protocol): Expected `treespec` to be "
                        f"instance of TreeSpec but got item of type {type(treespec)}.")
    if protocol not in (None, TREESPEC_PROTOCOL):
        raise ValueError(f"Unknown protocol {protocol}. Available protocols: "
                         f"[{TREESPEC_PROTOCOL}]")
    return json.dumps([TREESPEC_PROTOCOL, _dump(treespec)])


def _load(d):
    if d["type"] is None:
        return _LEAF
    by_name = {n.type_name: t for t, n in _NODES.items()}
    kind = by_name.get(d["type"])
    if kind is None or kind is namedtuple:
        raise NotImplementedError(f"treespec_loads: no node type is registered as "
                                  f"{d['type']!r}")
    node = _NODES[kind]
    if kind is defaultdict:
        import importlib

        c = d["context"]
        factory = getattr(importlib.import_module(c["default_factory_module"]),
                          c["default_factory_name"])
        context = [factory, c["dict_context"]]
    elif node.from_dumpable is not None:
        context = node.from_dumpable(d["context"])
    else:
        context = json.loads(d["context"])
    return TreeSpec(kind, context, [_load(c) for c in d["children_spec"]])


def treespec_loads(serialized):
    """The spec ``treespec_dumps`` wrote."""
    protocol, data = json.loads(serialized)
    if protocol != TREESPEC_PROTOCOL:
        raise ValueError(f"Unknown protocol {protocol}. Available protocols: "
                         f"[{TREESPEC_PROTOCOL}]")
    return _load(data)


class _Star:
    def __repr__(self):
        return "*"


def treespec_pprint(treespec):
    """The spec drawn as its tree with ``*`` at the leaves."""
    return repr(treespec.unflatten([_Star()] * treespec.num_leaves))
