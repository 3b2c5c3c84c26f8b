"""Operator schemas: PyTorch's schema strings (``"foo(Tensor x, *, float a=1.0) -> Tensor"``),
read from a string (``Library.define``) or inferred from a function's annotations
(``custom_op``, ``infer_schema``), and the binding of a call's arguments to them.

One representation serves both: ``infer_schema`` writes the string, ``parse`` reads it back, so a
custom op and a defined op are the same kind of thing."""

import collections.abc
import inspect
import re
import types
import typing

import numpy as np

from ..backend.device import Device
from ..tensor import Tensor

_NO_DEFAULT = inspect.Parameter.empty
_SCALAR_UNION = frozenset((int, float, bool))
_NONE = type(None)


# ---- annotations -> schema types ---------------------------------------------------------
def _is_device(ann):
    from .. import device as device_function

    return ann is Device or ann is device_function


def _base_type(ann):
    """The schema name of an annotation that is a single type (not a container), or None."""
    if ann is Tensor or ann == "Tensor":
        return "Tensor"
    if ann is int:
        return "SymInt"
    if ann is float:
        return "float"
    if ann is bool:
        return "bool"
    if ann is str:
        return "str"
    if ann is np.dtype:
        return "ScalarType"
    if _is_device(ann):
        return "Device"
    return None


def _union_args(ann):
    origin = typing.get_origin(ann)
    if origin is typing.Union or origin is types.UnionType:
        return typing.get_args(ann)
    return None


def _sequence_elem(ann):
    origin = typing.get_origin(ann)
    if origin in (list, collections.abc.Sequence) and len(typing.get_args(ann)) == 1:
        return typing.get_args(ann)[0]
    return None


def _is_scalar_union(ann):
    members = _union_args(ann)
    return members is not None and frozenset(members) == _SCALAR_UNION


def _list_type(elem):
    """``Sequence[elem]`` / ``list[elem]``'s schema type, or None."""
    if _base_type(elem) == "Tensor":
        return "Tensor[]"
    members = _union_args(elem)
    if members is not None and len(members) == 2 and _NONE in members and \
            _base_type([m for m in members if m is not _NONE][0]) == "Tensor":
        return "Tensor?[]"
    if _is_scalar_union(elem):
        return "Scalar[]"
    base = _base_type(elem)
    if base in ("SymInt", "float", "bool"):
        return base + "[]"
    return None


def _arg_type(ann):
    """The schema type of a parameter's annotation, or None when it is not supported (the same
    set as PyTorch's: no optional lists of tensors, no lists of strings, no tuples)."""
    base = _base_type(ann)
    if base is not None:
        return base
    if _is_scalar_union(ann):
        return "Scalar"
    members = _union_args(ann)
    if members is not None and _NONE in members:
        rest = tuple(m for m in members if m is not _NONE)
        if frozenset(rest) == _SCALAR_UNION:
            return "Scalar?"
        if len(rest) != 1:
            return None
        inner = _base_type(rest[0])
        if inner is not None:
            return inner + "?"
        elem = _sequence_elem(rest[0])
        listed = None if elem is None else _list_type(elem)
        if listed in ("SymInt[]", "float[]", "bool[]"):
            return listed + "?"
        return None
    elem = _sequence_elem(ann)
    return None if elem is None else _list_type(elem)


_RETURN_TYPES = {"Tensor": "Tensor", "SymInt": "SymInt", "float": "float", "bool": "bool"}
_VALID_ARGS = ("Tensor, Optional[Tensor], Sequence[Tensor] (list[Tensor]), "
               "Sequence[Optional[Tensor]], int, float, bool, str, Union[int, float, bool] "
               "(Scalar), Sequence[int | float | bool | Scalar], Optional[...] of those but "
               "lists of tensors, np.dtype (tg.dtype), tg.Device (tg.device)")
_VALID_RETURNS = ("Tensor, list[Tensor], int, float, bool, Union[int, float, bool], a tuple of "
                  "those, or None")


def _return_type(ann):
    if ann is None or ann is _NONE:
        return "()"
    if typing.get_origin(ann) is tuple:
        parts = typing.get_args(ann)
        if parts == ((),) or not parts:
            return "()"
        inner = [_single_return(p) for p in parts]
        return None if None in inner else "(" + ", ".join(inner) + ")"
    return _single_return(ann)


def _single_return(ann):
    base = _base_type(ann)
    if base in _RETURN_TYPES:
        return _RETURN_TYPES[base]
    if _is_scalar_union(ann):
        return "Scalar"
    elem = _sequence_elem(ann)
    if typing.get_origin(ann) is list and _base_type(elem) == "Tensor":
        return "Tensor[]"
    return None


def _default_text(value, fail):
    if value is None:
        return "None"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, np.dtype):
        return str(value)
    if isinstance(value, Device):
        return f'"{value}"'
    fail(f"has an unsupported default value type {type(value)}")
    return None


def infer_schema(prototype_function, /, *, mutates_args, op_name=None, tags=()):
    """PyTorch's ``torch.library.infer_schema``: the schema string of a function from its type
    annotations (``tg.Tensor``, ``Optional[tg.Tensor]``, ``list[tg.Tensor]``, ``int``,
    ``float``, ``bool``, ``str``, ``Sequence[int]``, ...). ``mutates_args``: the names of the
    tensor arguments the function writes to (they get ``Tensor(aN!)``), or ``"unknown"``.

    >>> import tensorgrad as tg
    >>> from tensorgrad.library import infer_schema
    >>> def f(x: tg.Tensor, n: int, *, scale: float = 1.0) -> tg.Tensor: ...
    >>> infer_schema(f, mutates_args=())
    '(Tensor x, SymInt n, *, float scale=1.0) -> Tensor'
    """
    try:
        sig = inspect.signature(prototype_function, eval_str=True)
    except NameError:  # an annotation names something its module lacks: read it as written
        sig = inspect.signature(prototype_function)

    def error(what):
        raise ValueError(f"infer_schema(func): {what} Got func with signature {sig})")

    if isinstance(mutates_args, str):
        if mutates_args != "unknown":
            raise ValueError(f"infer_schema(func): mutates_args must be 'unknown' or a tuple of "
                             f"argument names, got the string {mutates_args!r}; write "
                             f"({mutates_args!r},) for one name")
        mutated = None
    else:
        try:
            mutated = set(mutates_args)
        except TypeError:
            raise TypeError(f"infer_schema(func): mutates_args must be 'unknown' or a tuple of "
                            f"argument names, got {mutates_args!r}") from None
    params = []
    seen_kwarg_only = False
    for idx, (name, p) in enumerate(sig.parameters.items()):
        if p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            error("We do not support positional-only args, varargs, or varkwargs.")
        if p.annotation is p.empty:
            error(f"Parameter {name} must have a type annotation.")
        if p.kind == p.KEYWORD_ONLY and not seen_kwarg_only:
            params.append("*")
            seen_kwarg_only = True
        ann = p.annotation
        if typing.get_origin(ann) is tuple:
            error(f"Parameter {name} has unsupported type {ann}. We do not support Tuple inputs "
                  "in schema. As a workaround, please try to use List instead. For example, "
                  f"list[int]. The valid types are: {_VALID_ARGS}.")
        kind = _arg_type(ann)
        if kind is None:
            error(f"Parameter {name} has unsupported type {ann}. The valid types are: "
                  f"{_VALID_ARGS}.")
        if mutated is None or name in mutated:
            if kind.startswith("Tensor"):
                kind = f"Tensor(a{idx}!)" + kind[len("Tensor"):]
            elif mutated is not None:
                error(f"Parameter {name} is in mutable_args but only Tensors or collections of "
                      "Tensors can be mutated")
        text = f"{kind} {name}"
        if p.default is not p.empty:
            text += "=" + _default_text(p.default,
                                        lambda what, n=name: error(f"Parameter {n} {what}."))
        params.append(text)
    if mutated is not None:
        unknown = mutated - set(sig.parameters)
        if unknown:
            error(f"{unknown} in mutates_args were not found in the custom op's signature. "
                  "mutates_args should contain the names of all args that the custom op "
                  "mutates, or just the string 'unknown' if you don't know.")
    if sig.return_annotation is sig.empty:
        error("No return type annotation was provided. Please add one.")
    ret = _return_type(sig.return_annotation)
    if ret is None:
        error(f"Return has unsupported type {sig.return_annotation}. The valid types are: "
              f"{_VALID_RETURNS}.")
    return f"{op_name or ''}({', '.join(params)}) -> {ret}"


# ---- schema strings -----------------------------------------------------------------------
_TYPE = re.compile(r"^(?P<base>[A-Za-z_]\w*)(?:\((?P<alias>[^)]*)\))?(?P<suffix>(?:\?|\[\d*\])*)$")
_KNOWN_BASES = {"Tensor", "int", "SymInt", "float", "bool", "str", "Scalar", "ScalarType",
                "Device", "Layout", "MemoryFormat", "Generator", "Dimname", "Storage", "Stream",
                "Any", "complex", "t", "GraphModule", "SymBool", "SymFloat", "QScheme"}


class SchemaType:
    """One argument's or return's type: ``base`` ("Tensor", "SymInt", ...), ``suffix`` ("",
    "?", "[]", "?[]", "[]?", "[2]"), ``alias`` ("a", "a!" or None)."""

    __slots__ = ("base", "suffix", "alias", "size")

    def __init__(self, text):
        m = _TYPE.match(text.strip())
        if m is None or m["base"] not in _KNOWN_BASES:
            raise RuntimeError(f"schema: unknown type {text.strip()!r}")
        self.base, self.alias = m["base"], m["alias"]
        self.suffix = re.sub(r"\[\d+\]", "[]", m["suffix"])
        fixed = re.search(r"\[(\d+)\]", m["suffix"])
        self.size = int(fixed[1]) if fixed else None  # int[2]: an int stands for [n, n]

    @property
    def mutable(self):
        return bool(self.alias) and self.alias.endswith("!")

    @property
    def is_tensor(self):
        return self.base == "Tensor" and self.suffix in ("", "?")

    @property
    def is_tensor_list(self):
        return self.base == "Tensor" and "[]" in self.suffix

    def __str__(self):
        alias = f"({self.alias})" if self.alias else ""
        return f"{self.base}{alias}{self.suffix}"


class Argument:
    """An argument of a schema (``torch._C.Argument``'s fields)."""

    __slots__ = ("name", "type", "default_value", "has_default", "kwarg_only")

    def __init__(self, name, type_, default, has_default, kwarg_only):
        self.name, self.type, self.kwarg_only = name, type_, kwarg_only
        self.default_value, self.has_default = default, has_default

    @property
    def alias_info(self):
        return self.type.alias

    @property
    def is_write(self):
        return self.type.mutable

    def __repr__(self):
        return f"Argument({self.name}: {self.type})"


class FunctionSchema:
    """A parsed schema: ``name`` ("ns::op" or "op"), ``overload_name``, ``arguments``,
    ``returns`` (SchemaTypes); ``str()`` gives it back as PyTorch prints it."""

    def __init__(self, name, overload_name, arguments, returns, text_args, text_returns):
        self.name, self.overload_name = name, overload_name
        self.arguments, self.returns = arguments, returns
        self._text_args, self._text_returns = text_args, text_returns

    def __str__(self):
        name = self.name + (f".{self.overload_name}" if self.overload_name else "")
        return f"{name}({self._text_args}) -> {self._text_returns}"

    __repr__ = __str__

    def with_name(self, qualname, overload):
        return FunctionSchema(qualname, overload, self.arguments, self.returns,
                              self._text_args, self._text_returns)

    @property
    def is_mutable(self):
        return any(a.type.mutable for a in self.arguments)

    @property
    def returns_alias(self):
        """Whether a return aliases an input (``Tensor(a)``/``Tensor(a!)``: view and out
        ops), which the aliasing check then allows."""
        return any(r.alias for r in self.returns)


def _split_top(text, sep=","):
    """``text`` split at ``sep`` outside brackets, parentheses and quotes."""
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote and text[i - 1] != "\\":
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _parse_default(text):
    text = text.strip()
    if text == "None":
        return None
    if text in ("True", "False"):
        return text == "True"
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    if text.startswith("[") and text.endswith("]"):
        return [_parse_default(p) for p in _split_top(text[1:-1])]
    if text in ("inf", "-inf", "nan"):
        return float(text)
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        pass
    try:  # a ScalarType's default (float32, int64, ...)
        return np.dtype(text)
    except TypeError:
        return text  # Mean, contiguous_format, ...: kept as its name


def parse(schema, name=None):
    """The FunctionSchema of ``schema`` (``"op.overload(args) -> returns"``, or
    ``"(args) -> returns"`` with the name given as ``name``)."""
    text = schema.strip()
    open_at = text.find("(")
    if open_at < 0:
        raise RuntimeError(f"schema: expected 'name(arguments) -> returns', got {schema!r}")
    head = text[:open_at].strip()
    depth, close_at = 0, -1
    quote = None
    for i in range(open_at, len(text)):
        ch = text[i]
        if quote:
            if ch == quote and text[i - 1] != "\\":
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                close_at = i
                break
    rest = text[close_at + 1:].strip() if close_at > 0 else ""
    if close_at < 0 or not rest.startswith("->"):
        raise RuntimeError(f"schema: expected 'name(arguments) -> returns', got {schema!r}")
    if name is not None:
        if head:
            raise RuntimeError(f"schema: the name is given twice ({name!r} and in {schema!r}); "
                               "pass the schema without it, as '(Tensor x) -> Tensor'")
        head = name
    if not head:
        raise RuntimeError(f"schema: {schema!r} has no operator name; expected "
                           "'name(Tensor x) -> Tensor'")
    op, _, overload = head.partition(".")
    if not re.fullmatch(r"[A-Za-z_]\w*(::[A-Za-z_]\w*)?", op) or (
            overload and not re.fullmatch(r"[A-Za-z_]\w*", overload)):
        raise RuntimeError(f"schema: {head!r} is not a valid operator name; expected an "
                           "identifier, optionally with '.overload'")
    args_text = text[open_at + 1:close_at]
    arguments, kwarg_only = [], False
    for part in _split_top(args_text):
        if part == "*":
            kwarg_only = True
            continue
        type_text, eq, default_text = part.partition("=")
        m = re.fullmatch(r"(.+?)\s+([A-Za-z_]\w*)", type_text.strip())
        if m is None:
            raise RuntimeError(f"schema: cannot read the argument {part!r} of {schema!r}; "
                               "expected 'Type name' or 'Type name=default'")
        has_default = bool(eq)
        default = _parse_default(default_text) if has_default else None
        arguments.append(Argument(m[2], SchemaType(m[1]), default, has_default, kwarg_only))
    names = [a.name for a in arguments]
    if len(set(names)) != len(names):
        raise RuntimeError(f"schema: {schema!r} names an argument twice")
    ret_text = rest[2:].strip()
    if ret_text.startswith("(") and ret_text.endswith(")"):
        parts = _split_top(ret_text[1:-1])
    else:
        parts = [ret_text]
    returns = [SchemaType(p.split()[0] if " " in p.strip() else p) for p in parts]
    return FunctionSchema(op, overload, arguments, returns, args_text.strip(), ret_text)


# ---- binding a call -----------------------------------------------------------------------
def _shown_type(t):
    return str(t).replace("SymInt", "int")


def _is_number(v, kinds):
    return isinstance(v, kinds) and not isinstance(v, Tensor)


def _matches(t, v):
    """Whether ``v`` is a value of the schema type ``t``."""
    suffix = t.suffix
    if v is None and (suffix.endswith("?") or t.base == "Any"):
        return True
    if suffix.endswith("?"):
        suffix = suffix[:-1]
    if suffix.endswith("[]"):
        if isinstance(v, Tensor) or not isinstance(v, (list, tuple)):
            # an int for int[N] (PyTorch broadcasts it)
            return t.base in ("int", "SymInt") and _is_number(v, (int, np.integer))
        elem = SchemaType(t.base + suffix[:-2])
        return all(_matches(elem, e) for e in v)
    base = t.base
    if base == "Tensor":
        return isinstance(v, Tensor)
    if base in ("int", "SymInt"):
        return _is_number(v, (int, np.integer))
    if base in ("float", "SymFloat"):
        return _is_number(v, (int, float, np.integer, np.floating))
    if base in ("bool", "SymBool"):
        return _is_number(v, (bool, np.bool_))
    if base == "str":
        return isinstance(v, str)
    if base == "Scalar":
        return _is_number(v, (int, float, complex, np.number, np.bool_))
    if base == "ScalarType":
        return isinstance(v, np.dtype) or (isinstance(v, type) and issubclass(v, np.generic))
    if base == "Device":
        return isinstance(v, (Device, str))
    return True


def _is_default(arg, v):
    if not arg.has_default or isinstance(v, Tensor):
        return False
    d = arg.default_value
    if v is None or d is None:
        return v is d
    if isinstance(v, (list, tuple)) and isinstance(d, (list, tuple)):
        return list(v) == list(d)
    return type(v) is type(d) and v == d


def kernel_arguments(schema, values):
    """(positional, keyword) arguments for a kernel, as PyTorch's dispatcher passes them to a
    Python kernel: trailing positional arguments and keyword-only arguments that have their
    default value are left out (the kernel's own defaults stand for them)."""
    pos, kw = [], {}
    for a, v in zip(schema.arguments, values):
        if not a.kwarg_only:
            pos.append((a, v))
        elif not _is_default(a, v):
            kw[a.name] = v
    while pos and _is_default(*pos[-1]):
        pos.pop()
    return [v for _, v in pos], kw


def bind(schema, qualname, args, kwargs):
    """The values of a call, one per argument of ``schema`` (defaults filled in), checked
    against its types; the errors are PyTorch's, with the op's name and declaration."""
    arguments = schema.arguments
    positional = [a for a in arguments if not a.kwarg_only]
    decl = f"Declaration: {qualname}({schema._text_args}) -> {schema._text_returns}"
    if len(args) > len(positional):
        raise RuntimeError(f"{qualname}() expected at most {len(positional)} argument(s) but "
                           f"received {len(args)} argument(s). {decl}")
    names = {a.name for a in arguments}
    for k in kwargs:
        if k not in names:
            raise TypeError(f"{qualname}() got an unexpected keyword argument {k!r}. {decl}")
    values = []
    for i, a in enumerate(arguments):
        if i < len(args):
            if a.name in kwargs:
                raise TypeError(f"{qualname}() got multiple values for argument {a.name!r}. "
                                f"{decl}")
            v = args[i]
        elif a.name in kwargs:
            v = kwargs[a.name]
        elif a.has_default:
            v = a.default_value
        else:
            raise RuntimeError(f"{qualname}() is missing value for argument '{a.name}'. {decl}")
        if a.type.size is not None and _is_number(v, (int, np.integer)):
            v = [v] * a.type.size
        if not _matches(a.type, v):
            raise RuntimeError(
                f"{qualname}() Expected a value of type '{_shown_type(a.type)}' for argument "
                f"'{a.name}' but instead found type '{type(v).__name__}'.\nPosition: {i}\n"
                f"Value: {v!r}\n{decl}")
        values.append(v)
    return values
