"""Write ``cupy_signatures.json``: the call signatures of a real CuPy install.

The stand-in delegates most names to NumPy, whose functions take keywords CuPy's do not
(``sum(where=)``, ``clip(min=)``, ``take_along_axis`` without ``axis``, a ufunc's ``where=``).
With these signatures it refuses such calls as CuPy would, with a ``TypeError``.

Importing CuPy needs no GPU, so this runs on any machine with a CuPy wheel, from the
repository root::

    python3 tests/cupy_standin/gen_signatures.py    # writes cupy_signatures.json beside it

Each callable's parameters are written as one string, Python's parameter-list syntax with
every default shown as ``=...`` (``"a, axis=..., dtype=..., out=..., keepdims=..."``). Python
functions give theirs through ``inspect``; Cython ones through the first line of their
docstring (CuPy builds with ``embedsignature``). A callable with neither is ``null``: the
stand-in checks nothing for it. Classes are left out; the methods of ``cupy.ndarray``,
``cupy.ufunc`` and the two random generators are listed under ``"methods"``.
"""

import ast
import importlib
import inspect
import json
import os
import sys

try:
    from .gen_names import MODULES
except ImportError:  # run as a script
    from gen_names import MODULES

_KINDS = {inspect.Parameter.POSITIONAL_ONLY: 0, inspect.Parameter.POSITIONAL_OR_KEYWORD: 1,
          inspect.Parameter.VAR_POSITIONAL: 2, inspect.Parameter.KEYWORD_ONLY: 3,
          inspect.Parameter.VAR_KEYWORD: 4}


def render(params):
    """``[(name, kind, has_default)]`` as a parameter list with ``/`` and ``*`` markers."""
    out, saw_star = [], False
    for i, (name, kind, has_default) in enumerate(params):
        if kind == 1 and i and params[i - 1][1] == 0:
            out.append("/")
        if kind == 3 and not saw_star:
            out.append("*")
        if kind == 2:
            saw_star = True
            out.append("*" + name)
        elif kind == 4:
            out.append("**" + name)
        else:
            out.append(name + ("=..." if has_default else ""))
        if kind == 3:
            saw_star = True
    if params and params[-1][1] == 0:
        out.append("/")
    return ", ".join(out)


def from_inspect(obj):
    sig = inspect.signature(obj)
    return [(p.name, _KINDS[p.kind], p.default is not inspect.Parameter.empty)
            for p in sig.parameters.values()]


def _split_top(text):
    """``text`` split at the commas outside brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _untyped(param):
    """A Cython parameter without its C type: ``int axis=-1`` is ``axis=-1``."""
    name, eq, default = param.partition("=")
    return name.split()[-1] + eq + default if name.split() else param


def from_docstring(obj, name):
    """The parameters in ``name(...)`` on the first line of an embedsignature docstring."""
    doc = (getattr(obj, "__doc__", None) or "").lstrip()
    first = doc.split("\n", 1)[0].replace("\\*", "*")
    head = first.split("(", 1)[0]
    if head.rsplit(".", 1)[-1] != name or "(" not in first:
        return None
    depth, end = 0, None
    for i, ch in enumerate(first):
        depth += ch == "("
        depth -= ch == ")"
        if ch == ")" and depth == 0:
            end = i
            break
    if end is None:
        return None
    text = ", ".join(_untyped(p) for p in _split_top(first[len(head) + 1:end]))
    try:
        args = ast.parse(f"def f({text}): pass").body[0].args
    except SyntaxError:
        return None
    params = []
    posonly, plain = args.posonlyargs, args.args
    defaults = [None] * (len(posonly) + len(plain) - len(args.defaults)) + list(args.defaults)
    for i, a in enumerate(posonly + plain):
        params.append((a.arg, 0 if i < len(posonly) else 1, defaults[i] is not None))
    if args.vararg:
        params.append((args.vararg.arg, 2, False))
    for a, d in zip(args.kwonlyargs, args.kw_defaults):
        params.append((a.arg, 3, d is not None))
    if args.kwarg:
        params.append((args.kwarg.arg, 4, False))
    return params


def signature(obj, name):
    try:
        return render(from_inspect(obj))
    except (TypeError, ValueError):
        params = from_docstring(obj, name)
        return None if params is None else render(params)


def main(path):
    import cupy

    out = {"cupy_version": cupy.__version__, "modules": {}}
    for modname in MODULES:
        try:
            mod = importlib.import_module(modname)
        except Exception:
            continue
        sigs = {}
        for name in sorted(dir(mod)):
            obj = getattr(mod, name, None)
            if name.startswith("_") or isinstance(obj, (type, type(cupy))) or not callable(obj):
                continue
            if isinstance(obj, cupy.ufunc):
                continue  # one rule for all ufuncs (the stand-in's ``ufunc``)
            sigs[name] = signature(obj, name)
        out["modules"][modname] = sigs
    out["methods"] = {}
    for key, cls in (("ndarray", cupy.ndarray), ("ufunc", cupy.ufunc),
                     ("cupy.random.Generator", cupy.random.Generator),
                     ("cupy.random.RandomState", cupy.random.RandomState)):
        out["methods"][key] = {}
        for name in sorted(dir(cls)):
            obj = getattr(cls, name)
            if name.startswith("_") or isinstance(obj, (property, type)) or not callable(obj):
                continue
            sig = signature(obj, name)
            if sig is not None and sig.startswith("self"):
                sig = sig[len("self"):].lstrip(", ")
            out["methods"][key][name] = sig
    with open(path, "w") as f:
        json.dump(out, f, indent=0, sort_keys=True)
        f.write("\n")
    known = sum(v is not None for m in out["modules"].values() for v in m.values())
    total = sum(len(m) for m in out["modules"].values())
    print(f"wrote {path}: CuPy {out['cupy_version']}, {known} of {total} functions with a "
          f"signature, {sum(len(m) for m in out['methods'].values())} methods")


if __name__ == "__main__":
    default = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cupy_signatures.json")
    main(sys.argv[1] if len(sys.argv) > 1 else default)
