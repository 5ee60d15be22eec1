"""Save and load networks as treenet programs.

A saved file is the text of `net.funcify(params="p")` between a header comment and an `# end`
line:

    # treenet network: 2 inputs, 3 parameters
    input x, y
    p0 = p(0.5488135039273248)
    p1 = p(0.7151893663303304)
    p2 = p(0.6027633760716439)
    sigmoid(p0*x + p1*y + p2)
    # end

`input` fixes the order of `.inputs`, the bindings fix the order of `.parameters`, and every
value is written with repr, which parses back to the same float: a loaded network predicts bit
for bit like the saved one and prints the same formula. The `# end` line is how `load` tells a
complete file from a truncated one that happens to parse."""

import math
import os
import re

from .errors import ParseError, TreenetError
from .parser import reserved_names

_NAME = re.compile(r"[A-Za-z_][A-Za-z_0-9]*\Z")

HEADER = "# treenet network"
TRAILER = "# end"


def dumps(net):
    """The text `save` writes."""
    graph = net.graph
    reserved = reserved_names()  # the parser's own list: keywords, built-in calls, dense
    for leaf in graph.inputs + graph.parameters:
        if not _NAME.match(leaf.name) or leaf.name in reserved:
            kind = type(leaf).__name__.lower()
            raise TreenetError(f"{kind} {leaf.name!r} cannot be written in a treenet program "
                               "(a name is letters, digits and _, and not a keyword or "
                               "function name): rename it before saving")
    for param in graph.parameters:
        if not math.isfinite(param.value):
            raise TreenetError(f"parameter {param.name} is {param.value!r}: only finite values "
                               "can be saved")
    body = net.funcify(params="p")
    counts = f"{len(graph.inputs)} input{'s' * (len(graph.inputs) != 1)}, " \
             f"{len(graph.parameters)} parameter{'s' * (len(graph.parameters) != 1)}"
    return f"{HEADER}: {counts}\n{body}\n{TRAILER}\n"


def save(net, path):
    """Write `net` to `path` (a path or a text file object) as a treenet program that `load`
    reads back bit-identically. Checks the round trip before writing."""
    text = dumps(net)
    try:
        loaded = loads(text)
    except ParseError as exc:
        raise TreenetError(f"this network prints as a program that does not parse back: {exc}") \
            from None
    if loaded.funcify(params="p") != net.funcify(params="p"):
        raise TreenetError("this network does not print as a program that parses back to it "
                           "(a parameter or input named like a keyword or function?)")
    if hasattr(path, "write"):
        path.write(text)
        return
    tmp = f"{os.fspath(path)}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    os.replace(tmp, path)  # a reader never sees a half-written file


def loads(text, seed=None):
    """The network a saved (or hand-written) program describes."""
    from .parser import parse
    if text.startswith(HEADER):
        lines = text.splitlines()
        while lines and not lines[-1].strip():
            lines.pop()
        if not lines or lines[-1].strip() != TRAILER:
            last = lines[-1] if lines else ""
            raise ParseError(f"the file is truncated: a saved network ends with a {TRAILER!r} "
                             "line", len(lines) or 1, len(last) + 1, text)
    return parse(text, seed=seed)


def load(path, seed=None):
    """Read a network saved by `save` (or any treenet program: `seed` then fixes the random
    initial values of bare `p`). Bad or truncated files raise ParseError with line and column."""
    if hasattr(path, "read"):
        data = path.read()
    else:
        with open(path, "rb") as f:
            data = f.read()
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
            raise ParseError("the file is not UTF-8 text", line, column) from None
    if data.startswith("\ufeff"):
        data = data[1:]
    return loads(data, seed=seed)


__all__ = ["save", "load", "dumps", "loads"]
