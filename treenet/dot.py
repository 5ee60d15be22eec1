"""Pictures of a network: `to_dot` writes the compiled graph as Graphviz DOT, `draw` renders it.

Each node of the graph is drawn once (a shared node is one node with several parents), labelled
like the micrograd tutorial's drawing: its op (or name), then `data <value> | grad <gradient>`
(the gradient after a backward pass). Inputs, parameters, constants and ops have their own shape
and colour; an edge runs from an argument to its op, numbered by argument position when the op
has several (`a - b`: 0 is a). Labels are HTML-like labels with every character of user text
escaped, so no name can break the DOT. The text is written in one loop over the topological
order: no recursion, linear in the size of the graph. `to_dot` needs nothing installed; `draw`
needs the `graphviz` package and Graphviz's `dot` program, and is imported only when used."""

import difflib
import html
import math
import os

from .errors import EvaluationError, TreenetError
from .io import write_file
from .nodes import Constant, Input, Parameter, check_network
from .printer import number

#: `draw` refuses larger graphs: dot's layout grows faster than the graph (a 5,000-node chain: 6 s)
DRAW_LIMIT = 5_000
#: characters of a name or number shown in a label (the rest is "…")
LABEL_LIMIT = 40

# shape and colours per kind of node: inputs green ellipses, parameters blue boxes, constants
# grey dashed boxes, ops white rounded boxes (the output drawn with a double border)
_STYLE = {
    "input": 'shape=ellipse, style=filled, fillcolor="#d9f0d3"',
    "parameter": 'shape=box, style=filled, fillcolor="#dbe9f6"',
    "constant": 'shape=box, style="dashed,filled", fillcolor="#eeeeee"',
    "op": 'shape=box, style=rounded',
}
_INSTALL = ("install Graphviz, which provides `dot`: `apt-get install graphviz` (Debian, "
            "Ubuntu), `brew install graphviz` (macOS), `conda install graphviz`, or "
            "https://graphviz.org/download/ (Windows), and make sure `dot` is on the PATH")
# formats that are not a picture in a file: x11, xlib and gtk open a window and wait until it is
# closed (a hang in a script or a notebook); vrml writes a PNG per node into the current folder
_REFUSED = {"x11": "opens a window", "xlib": "opens a window", "gtk": "opens a window",
            "vrml": "writes a file per node into the current folder"}
# the formats `draw` returns as text (the others are bytes)
_TEXT_FORMATS = {"svg", "dot", "gv", "canon", "plain", "plain-ext", "json", "json0", "dot_json",
                 "xdot", "xdot1.2", "xdot1.4", "xdot_json"}


def to_dot(net):
    """The computation graph of `net` as Graphviz DOT text (see the module docstring)."""
    check_network(net, "to_dot(network)")
    graph = net.graph
    with graph._lock:
        values = _values(graph)
        adjoints = graph._adjoints if values is not None else None
    nodes, children, output = graph.nodes, graph.children, len(graph.nodes) - 1
    lines = ["digraph treenet {",
             '  graph [rankdir=LR, ordering=in, fontname="Helvetica"];',
             '  node [fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=8, fontcolor="#777777"];']
    for i, node in enumerate(nodes):
        kind = _kind(node, children[i])
        value = node.value if children[i] is not None else None
        if values is not None:
            value = values[i]
        grad = None
        if adjoints is not None and kind != "constant" and graph.needs_grad[i]:
            grad = node.grad if children[i] is None else adjoints[i]
        label = _label(_title(node, kind), value, grad)
        extra = ", peripheries=2" if i == output else ""
        lines.append(f"  n{i} [label=<{label}>, {_STYLE[kind]}{extra}];")
    for i, kids in enumerate(children):
        if not kids:
            continue
        numbered = len(kids) > 1
        for k, j in enumerate(kids):
            lines.append(f'  n{j} -> n{i} [headlabel="{k}"];' if numbered else f"  n{j} -> n{i};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _values(graph):
    """Every node's value (running forward if needed), or None when forward fails here."""
    try:
        return graph.values
    except EvaluationError:
        return None  # the picture still shows the structure and the leaves' values


def _kind(node, kids):
    if kids is not None:
        return "op"
    if isinstance(node, Input):
        return "input"
    if isinstance(node, Parameter):
        return "parameter"
    return "constant"


def _title(node, kind):
    """The first line of a label: the op's symbol or call name, a leaf's name or number."""
    if kind == "op":
        cls = type(node)
        op = cls.symbol or cls.call or cls.__name__
        if cls.notation == "vector":
            op = cls.call or cls.__name__.lower()
        return f"{node.name} = {op}" if isinstance(node.name, str) else op
    if isinstance(node, Constant) and node.name is None:
        try:
            return number(node.value)
        except (TypeError, ValueError, OverflowError):
            return str(node.value)
    if node.name == "":
        return "''"  # an empty <B></B> is a syntax error to dot
    return str(node.name) if node.name is not None else "?"


def _label(title, value, grad):
    """`<B>title</B><BR/>data 2.0000 | grad 1.0000`, every piece of text escaped."""
    parts = [f"<B>{_escape(title)}</B>"]
    line = []
    if value is not None:
        line.append(f"data {_show(value)}")
    if grad is not None:
        line.append(f"grad {_show(grad)}")
    if line:
        parts.append(_escape(" | ".join(line)))
    return "<BR/>".join(parts)


def _show(v):
    """A value as the tutorial prints it (4 decimals), a vector component by component."""
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_show(x) for x in v) + "]"
    try:
        v = float(v)
    except (TypeError, ValueError, OverflowError):
        return str(v)[:LABEL_LIMIT]
    if not math.isfinite(v):
        return str(v)
    if v == 0 or 1e-4 <= abs(v) < 1e6:
        return f"{v:.4f}"
    return f"{v:.4e}"


def _escape(text):
    """User text as HTML-label text: characters that cannot be shown written as escapes, markup
    characters as entities (and "]", which dot's HTML lexer trips on), a backslash doubled (dot
    reads \\N, \\G, ... in every label, HTML ones too), cut to LABEL_LIMIT characters."""
    if len(text) > LABEL_LIMIT:
        text = text[:LABEL_LIMIT - 1] + "…"
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return (html.escape(text, quote=False).replace('"', "&quot;").replace("]", "&#93;")
            .replace("\\", "\\\\"))


def draw(net, path=None, format="svg"):
    """Render `net`'s graph with Graphviz's `dot`. With `path`: write the file (atomically; the
    format follows the path's suffix when format is left "svg") and return the path. Without:
    return the picture, as text for svg (and dot's other text formats), else as bytes."""
    check_network(net, "draw(network)")
    fmt = _format(path, format)
    if len(net.graph) > DRAW_LIMIT:
        raise TreenetError(f"draw: the graph has {len(net.graph):,} nodes, more than dot can lay "
                           f"out in reasonable time (draw's limit is {DRAW_LIMIT:,}); write "
                           "treenet.to_dot(net) to a file and render it yourself (sfdp copes "
                           "with large graphs)")
    data = render(to_dot(net), fmt)
    if path is None:
        return data.decode("utf-8") if fmt in _TEXT_FORMATS else data
    write_file(os.fspath(path), data)
    return os.fspath(path)


def _format(path, format):
    import graphviz  # a dependency of treenet's, but only pictures need it

    formats = set(graphviz.FORMATS) - set(_REFUSED)
    if isinstance(format, str) and format.lower() in _REFUSED:
        raise TreenetError(f"draw: format {format!r} {_REFUSED[format.lower()]} instead of "
                           "making a picture; use svg, png or pdf")
    if not isinstance(format, str) or format.lower() not in formats:
        close = difflib.get_close_matches(format.lower(), sorted(formats), n=1) \
            if isinstance(format, str) else []
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise TreenetError(f"draw: unknown format {format!r}{hint} (Graphviz writes "
                           "svg, png, pdf, ...)")
    fmt = format.lower()
    if path is not None:
        if not isinstance(path, (str, os.PathLike)):
            raise TreenetError(f"draw: path must be a file name (a str or pathlib.Path), got "
                               f"{path!r}")
        suffix = os.path.splitext(os.fspath(path))[1][1:].lower()
        if suffix in _REFUSED and fmt == "svg":
            return _format(None, suffix)  # refused, as that format is
        if suffix in formats and fmt == "svg":
            fmt = suffix  # draw("graph.png") means a PNG
        elif suffix and suffix not in formats and fmt == "svg":
            # an SVG under a name that says otherwise (a.jpgg, graph.v2) would be a surprise
            close = difflib.get_close_matches(suffix, sorted(formats), n=1)
            hint = f"did you mean .{close[0]}? " if close else ""
            raise TreenetError(f"draw: Graphviz has no format .{suffix} (from the path "
                               f"{os.fspath(path)!r}); {hint}Give the path a suffix such as "
                               ".svg, .png or .pdf, or the format, e.g. format=\"png\"")
        elif suffix in formats and suffix != fmt:
            raise TreenetError(f"draw: the path {os.fspath(path)!r} ends in .{suffix}, but the "
                               f"format is {format!r}; give one that agrees")
    return fmt


def render(dot_text, fmt):
    """DOT text rendered by Graphviz's `dot` into format `fmt`, as bytes."""
    import graphviz

    try:
        return graphviz.pipe("dot", fmt, dot_text.encode("utf-8"), quiet=True)
    except graphviz.ExecutableNotFound as exc:
        raise TreenetError(f"drawing needs Graphviz's `dot` program, which was not found: "
                           f"{_INSTALL}") from exc
    except graphviz.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode("utf-8", "replace").strip()[:500]
        raise TreenetError(f"Graphviz's dot failed to render the graph as {fmt}: "
                           f"{detail or exc}") from exc


__all__ = ["to_dot", "draw", "render", "DRAW_LIMIT"]
