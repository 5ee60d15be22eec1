"""Networks as formulas: `funcify` (treenet's own language, which parses back) and `latex`.

One algorithm, driven by the ops' declared notation and precedence: parentheses only where
precedence or associativity demand them, and a sub-expression used by several parents is printed
once as a binding (`h0 = ...`), so a DAG with exponentially many paths prints small. Text is built
as nested lists and joined once at the end: linear in the size of the graph, with no recursion."""

import math
import re

from .names import reserved_names
from .nodes import Constant, Input, Leaf, Parameter
from .ops import ATOM, POWER, SUM, UNARY, Multiply, Output
from .order import toposort

_NAME = re.compile(r"[A-Za-z_][A-Za-z_0-9]*\Z")


def number(v):
    """A float written so that it parses back to exactly the same float."""
    if math.isnan(v) or math.isinf(v):
        return repr(v)
    if v == 0 and math.copysign(1.0, v) < 0:
        return "-0.0"
    if v == int(v) and abs(v) < 1e16:
        return str(int(v))
    return repr(v)


def funcify(root, params="value"):
    """The network under `root` as a treenet program (see NeuralNetNode.funcify)."""
    if params not in ("value", "name", "p"):
        raise ValueError("params must be 'value', 'name' or 'p'")
    graph = root.graph
    return _Printer(graph.nodes, graph.children, _TEXT, params, graph).render()


def latex(root):
    """The network under `root` as LaTeX, with `\\begin{aligned}` bindings for shared parts."""
    graph = root.graph
    return _Printer(graph.nodes, graph.children, _LATEX, "name", graph).render()


def describe(node, limit=160):
    """A short formula for a sub-expression (parameters by name), for error messages."""
    nodes, index = toposort(node)
    children = [None if isinstance(n, Leaf) else tuple(index[id(c)] for c in n.children)
                for n in nodes]
    text = _Printer(nodes, children, _TEXT, "name", None, statements_sep="; ").render()
    return text if len(text) <= limit else text[:limit - 3] + "..."


class _Style:
    """How one output language writes leaves, operators and calls."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def _text_call(op, args):
    return [op.call or "", "(", *_join(args, ", "), ")"]


def _latex_call(op, args):
    template = getattr(op, "latex", None)
    if template is None:
        template = r"\operatorname{%s}\left({args}\right)" % (op.call or type(op).__name__)
    head, _, tail = template.partition("{args}")
    return [head, *_join(args, ", "), tail]


def _latex_name(name):
    if len(name) == 1:
        return name
    m = re.fullmatch(r"([A-Za-z]+)_?(\d+)", name)
    if m:
        base = m.group(1) if len(m.group(1)) == 1 else r"\mathrm{%s}" % m.group(1)
        return f"{base}_{{{m.group(2)}}}"
    return r"\mathrm{%s}" % name.replace("_", r"\_")


_TEXT = _Style(
    name=lambda s: s,
    infix=lambda op: f" {op.symbol} " if op.precedence == SUM else op.symbol,
    prefix=lambda op: op.symbol,
    call=_text_call,
    vector=lambda args: ["[", *_join(args, ", "), "]"],
    power=lambda base, exp: [base, "^", exp],
    power_exp_needs_parens=True,
    divide=None,
    binding=lambda name, rhs: [name, " = ", rhs],
    statement_sep="\n",
)

_LATEX = _Style(
    name=_latex_name,
    infix=lambda op: (r" \cdot " if isinstance(op, Multiply) else f" {op.symbol} "),
    prefix=lambda op: op.symbol,
    call=_latex_call,
    vector=lambda args: [r"\left[", *_join(args, ", "), r"\right]"],
    power=lambda base, exp: [base, "^{", exp, "}"],
    power_exp_needs_parens=False,
    divide=lambda a, b: [r"\frac{", a, "}{", b, "}"],
    binding=lambda name, rhs: [name, " &= ", rhs],
    statement_sep=" \\\\\n",
)


def _join(items, sep):
    out = []
    for k, item in enumerate(items):
        if k:
            out.append(sep)
        out.append(item)
    return out


def _paren(rope, style):
    return [r"\left(", rope, r"\right)"] if style is _LATEX else ["(", rope, ")"]


class _Printer:
    def __init__(self, nodes, children, style, params, graph, statements_sep=None):
        self.nodes, self.children, self.style, self.params = nodes, children, style, params
        self.graph = graph
        self.sep = statements_sep or style.statement_sep
        self.negated = {}

    def render(self):
        nodes, children, style = self.nodes, self.children, self.style
        uses = [0] * len(nodes)
        for kids in children:
            for j in kids or ():
                uses[j] += 1
        leaves = [n for n in nodes if isinstance(n, (Input, Parameter))]
        taken = reserved_names() | {n.name for n in leaves if n.name}
        statements = []
        if self.params == "p" and style is _TEXT:
            statements += self._declarations()
        text, prec = [None] * len(nodes), [ATOM] * len(nodes)
        counter = 0
        for i, node in enumerate(nodes):
            if children[i] is None:
                text[i], prec[i] = self._leaf(node)
                continue
            text[i], prec[i] = self._op(node, [text[j] for j in children[i]],
                                        [prec[j] for j in children[i]])
            if uses[i] > 1 and i != len(nodes) - 1:
                label = node.name if node.name and _NAME.match(node.name) else None
                if label is None or label in taken:
                    while f"h{counter}" in taken:
                        counter += 1
                    label = f"h{counter}"
                taken.add(label)
                statements.append(style.binding(style.name(label), text[i]))
                text[i], prec[i] = style.name(label), ATOM
        statements.append(text[-1])
        body = _flatten(_join(statements, self.sep))
        if style is _LATEX and len(statements) > 1:
            last = body.rsplit(self.sep, 1)
            body = last[0] + self.sep + "& " + last[1]
            return "\\begin{aligned}\n" + body + "\n\\end{aligned}"
        return body

    def _declarations(self):
        graph = self.graph
        out = []
        if graph.inputs:
            out.append(["input ", ", ".join(n.name for n in graph.inputs)])
        for param in graph.parameters:
            out.append([param.name, " = p(", number(param.value), ")"])
        return out

    def _leaf(self, node):
        style = self.style
        if isinstance(node, Parameter) and self.params == "value":
            v = node.value
        elif isinstance(node, Constant):
            v = node.value
        else:
            return style.name(node.name or "?"), ATOM
        s = number(v)
        if style is _LATEX and ("e" in s and "inf" not in s):
            mant, _, exp = s.partition("e")
            s = r"%s \cdot 10^{%d}" % (mant, int(exp))
            return s, UNARY
        return s, (UNARY if s.startswith("-") else ATOM)

    def _op(self, op, parts, precs):
        style = self.style
        notation = op.notation
        if notation == "call":
            return style.call(op, parts), ATOM
        if notation == "vector":
            return style.vector(parts), ATOM
        if notation == "prefix":
            part = parts[0] if precs[0] > UNARY else _paren(parts[0], style)
            rope = [style.prefix(op), part]
            self.negated[id(rope)] = (parts[0], precs[0])  # for a + -b -> a - b
            return rope, UNARY
        p = op.precedence
        if p == POWER:
            base = parts[0] if precs[0] > POWER else _paren(parts[0], style)
            exp = parts[1]
            if style.power_exp_needs_parens and precs[1] < POWER:
                exp = _paren(exp, style)
            return style.power(base, exp), POWER
        if style.divide is not None and op.symbol == "/":
            # ranks as a power, not an atom: a fraction raised to a power keeps its parentheses
            return style.divide(parts[0], parts[1]), POWER
        out = []
        for k, (part, q) in enumerate(zip(parts, precs)):
            if k == 0:
                out.append(part if q >= p else _paren(part, style))
            elif p == SUM and id(part) in self.negated:
                # a + (-b) prints a - b and a - (-b) prints a + b: the same floats exactly
                inner, inner_prec = self.negated[id(part)]
                out.append(" - " if op.symbol == "+" else " + ")
                out.append(inner if inner_prec > SUM else _paren(inner, style))
            elif p == SUM and (_negative_number(part) or q > p and _strip_negative_lead(part)):
                # a + (-2) reads as a - 2, a - -2*y as a + 2*y: the same floats exactly, since
                # negating is exact and (-2)*y == -(2*y)
                flipped = " - " if op.symbol == "+" else " + "
                out.append(flipped + part[1:] if isinstance(part, str) else [flipped, part])
            else:
                # left-associative: an equal-precedence right operand keeps its parentheses,
                # and so does a negative one (x*(-3), not x*-3)
                out.append(style.infix(op))
                out.append(part if q > p and q != UNARY else _paren(part, style))
        return out, p


def _negative_number(part):
    return isinstance(part, str) and part[:1] == "-" and part[1:2] in set("0123456789.")


def _strip_negative_lead(rope):
    """If the rope starts with a negative number, drop its minus sign (in place) and say so."""
    holder = rope
    while isinstance(holder, list) and holder and not isinstance(holder[0], str):
        holder = holder[0]
    if not isinstance(holder, list) or not holder or not _negative_number(holder[0]):
        return False
    holder[0] = holder[0][1:]
    return True


def _flatten(rope):
    out, stack = [], [iter(rope)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, str):
                out.append(item)
            else:
                stack.append(iter(item))
                break
        else:
            stack.pop()
    return "".join(out)


__all__ = ["funcify", "latex", "describe", "number", "Output"]
