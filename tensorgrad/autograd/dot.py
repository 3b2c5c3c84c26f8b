"""The graph behind a tensor as Graphviz DOT text, for the user whose graph is larger (or slower,
or holds more memory) than they thought."""

from .graph import Node, _postorder


def _shape_dtype(a):
    if a is None or not hasattr(a, "shape"):
        return "freed"
    return f"{tuple(a.shape)} {a.dtype}"


def _saved_bytes(n):
    """Bytes of the arrays this node keeps for its backward pass (each array counted once)."""
    if n.args is None:
        return 0
    seen = set()
    total = 0
    held = n.args.held() if hasattr(n.args, "held") else (*n.args, n.ans)  # saved-tensor hooks
    for a in held:
        nb = getattr(a, "nbytes", None)
        if nb is not None and id(a) not in seen:
            seen.add(id(a))
            total += int(nb)
    return total


def _size(nbytes):
    for unit in ("B", "KiB", "MiB"):
        if nbytes < 1024:
            return f"{nbytes:g} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.1f} GiB"


def _quote(s):
    # labels carry Graphviz's own "\\n" line breaks: only quotes are escaped
    return '"' + str(s).replace('"', '\\"') + '"'


def to_dot(tensor, name="tensorgrad"):
    """Graphviz DOT text of the graph that produced ``tensor``.

    One box per recorded op (name, output shape and dtype, bytes saved for backward, "freed"
    once a backward pass has released it), one ellipse per leaf that requires grad, edges from
    inputs to the ops that use them. Paste it into any Graphviz viewer, or see
    :func:`render_dot`.

    >>> import tensorgrad as tg
    >>> x = tg.ones(2, 3, requires_grad=True)
    >>> print(tg.autograd.to_dot((x * 2.0).sum()).splitlines()[0])
    digraph tensorgrad {
    """
    lines = [f"digraph {name} {{", "  node [fontname=monospace fontsize=10];"]
    root = tensor._node if tensor._node is not None else tensor
    ids = {}

    def vid(v):
        if v not in ids:
            ids[v] = f"v{len(ids)}"
        return ids[v]

    order = _postorder([root])
    leaves = []
    for n in order:
        for p in n.parents:
            if p is not None and type(p) is not Node and p not in ids:
                vid(p)
                leaves.append(p)
    if type(root) is not Node and tensor.requires_grad:
        vid(root)
        leaves.append(root)
    for leaf in leaves:
        label = f"leaf {tuple(leaf.shape)} {leaf.dtype}\\nrequires_grad=True"
        lines.append(f"  {vid(leaf)} [shape=ellipse style=filled fillcolor=lightblue "
                     f"label={_quote(label)}];")
    total = 0
    for n in order:
        saved = _saved_bytes(n)
        total += saved
        label = f"{n.prim.name}\\n{_shape_dtype(n.ans)}\\nsaved {_size(saved)}"
        if n.args is None:
            label += "\\n(freed by backward)"
        style = " style=filled fillcolor=lightyellow" if n is root else ""
        lines.append(f"  {vid(n)} [shape=box{style} label={_quote(label)}];")
    for n in order:
        for i, p in enumerate(n.parents):
            if p is not None:
                lines.append(f"  {vid(p)} -> {vid(n)} [label={_quote(i)}];")
    summary = (f"{len(order)} ops, {len(leaves)} leaves requiring grad, {_size(total)} saved "
               "for backward")
    lines.append(f"  label={_quote(summary)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_dot(tensor, filename, format="svg"):
    """Render the graph behind ``tensor`` (or DOT text from :func:`to_dot`) to
    ``filename.<format>`` (svg, png, pdf ...) with the ``graphviz`` package; returns the path of
    the file written. Needs ``pip install graphviz`` and Graphviz's ``dot`` program."""
    try:
        import graphviz
    except ImportError as e:
        raise ImportError(
            "render_dot: rendering needs the 'graphviz' Python package and Graphviz's 'dot' "
            "program (pip install graphviz; apt install graphviz); without them, "
            "tg.autograd.to_dot(t) gives the DOT text to paste into any Graphviz viewer"
        ) from e
    text = tensor if isinstance(tensor, str) else to_dot(tensor)
    return graphviz.Source(text).render(filename, format=format, cleanup=True)
