"""Networks as formulas: `funcify` (treenet's own language, which parses back) and `latex`.

One algorithm, driven by data each op declares (`notation`, `symbol`/`call`, `precedence`,
`associativity`, `latex`, and for the signs `negation`, `negated_symbol`, `odd`): parentheses only
where precedence or associativity demand them, and a sub-expression used by several parents is
printed once as a binding (`h0 = ...`), so a DAG with exponentially many paths prints small.

Round trips: `parse(funcify(net))` computes the same function of the same inputs in the same
order (an `input` line is written when first appearance in the text would not give that order),
and printing is a fixed point after one round: the text is written the way the parser reads it
back (a + -b as a - b, -(2) as -2, a one-operand sum as its operand). Text is built as nested
lists and joined once at the end: linear in the size of the graph, with no recursion."""

import difflib
import math
import re

from .errors import EvaluationError, TreenetError
from .names import reserved_names
from .ir import build
from .nodes import Constant, Input, Parameter, brief, check_network, leaf_float
from .ops import ATOM, PRODUCT, REGISTRY, SUM, UNARY

_NAME = re.compile(r"[A-Za-z_][A-Za-z_0-9]*\Z")
PARAMS = ("value", "name", "p")


def number(v):
    """A float written so that it parses back to exactly the same float."""
    v = float(v)  # np.float64's repr is `np.float64(0.5)`, not a literal
    if math.isnan(v) or math.isinf(v):
        return repr(v)
    if v == 0 and math.copysign(1.0, v) < 0:
        return "-0.0"
    if v == int(v) and abs(v) < 1e16:
        return str(int(v))
    return repr(v)


def funcify(root, params="value"):
    """The network under `root` as a treenet program (see NeuralNetNode.funcify)."""
    check_network(root, "funcify(network)")
    _check_params(params, "funcify")
    ir = root.graph.ir
    check_names(ir.inputs if params == "value" else ir.inputs + ir.parameters, "printing")
    return _Printer(root.graph.ir, _TEXT, params).render()  # the compiled IR, not a new walk


def latex(root, params="name"):
    """The network under `root` as LaTeX, with `\\begin{aligned}` bindings for shared parts;
    parameters by name ("name"), by value ("value"), or by name after a line of values ("p")."""
    check_network(root, "latex(network)")
    _check_params(params, "latex")
    return _Printer(root.graph.ir, _LATEX, params).render()


def describe(node, limit=160):
    """A short formula for a sub-expression (parameters by name), for error messages. The
    sub-expression is not compiled (that would name its leaves): its IR is built for it."""
    text = fragment(build(node))
    return text if len(text) <= limit else text[:limit - 3] + "..."


def fragment(ir, latex=False, params="name"):
    """The formula of any IR (a preview's, a sub-expression's) in one line: statements joined by
    "; ", no `input` or `p(...)` declarations, and a leaf whose value is not a finite float shown
    as it is instead of refused: it is read, not parsed back, so it never fails. As LaTeX when
    `latex`."""
    style = _LATEX if latex else _TEXT
    return _Printer(ir, style, params, declare=False, sep="; ", strict=False).render()


def check_names(leaves, doing):
    """A TreenetError unless every leaf's name reads back as that leaf in a treenet program
    (`doing`: "printing", "saving"); `save` and `funcify` share it."""
    reserved = reserved_names()  # the parser's own list: keywords, built-in calls, dense
    for leaf in leaves:
        name = leaf.name
        if not isinstance(name, str) or not _NAME.match(name) or name in reserved:
            why = ("is a keyword or function name" if name in reserved
                   else "is not letters, digits and _ (not starting with a digit)")
            raise TreenetError(f"{type(leaf).__name__.lower()} {name!r} cannot be written in a "
                               f"treenet program: the name {why}, so the text would not read "
                               f"back as this network; rename it before {doing}")


def _check_params(params, where):
    if params in PARAMS:
        return
    close = difflib.get_close_matches(str(params), PARAMS, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise TreenetError(f"{where}: params must be 'value', 'name' or 'p', got {params!r}{hint}")


# --- the two output languages -------------------------------------------------------------------

class _Style:
    """How one output language writes names, numbers, bindings and each op's template."""

    def __init__(self, **kw):
        self.__dict__.update(kw)
        self._templates = {}

    def template(self, cls):
        """(head, joiner, tail, delimited) of an op class's form: operands go between head and
        tail, separated by joiner; delimited says whether the first and the later operands need
        no parentheses (they sit between brackets or braces)."""
        found = self._templates.get(cls)
        if found is None:
            found = self._templates[cls] = _split(self.form(cls), cls.notation)
        return found


def _text_form(cls):
    """The language's own form of an op, from its notation (the parser reads the same data)."""
    if cls.notation == "infix":
        space = " " if cls.precedence <= SUM else ""
        return f"{{0}}{space}{cls.symbol}{space}{{1}}"
    if cls.notation == "prefix":
        return f"{cls.symbol}{{0}}"
    if cls.notation == "vector":
        return "[{args}]"
    return f"{cls.call}({{args}})"


def _latex_form(cls):
    if cls.latex is not None:
        return cls.latex
    if cls.notation == "infix":
        return f"{{0}} {cls.symbol} {{1}}"
    if cls.notation == "prefix":
        return f"{cls.symbol}{{0}}"
    if cls.notation == "vector":
        return r"\left[{args}\right]"
    return r"\operatorname{%s}\left({args}\right)" % (cls.call or cls.__name__)


def _split(template, notation):
    if "{args}" in template:
        head, tail = template.split("{args}", 1)
        joiner = ", "
    elif "{1}" in template:
        head, rest = template.split("{0}", 1)
        joiner, tail = rest.split("{1}", 1)
    else:
        head, tail = template.split("{0}", 1)
        joiner = ""
    if notation in ("call", "vector"):
        delimited = (True, True)  # between brackets and commas
    else:
        braced = lambda before, after: before.endswith("{") and after.startswith("}")  # noqa: E731
        delimited = (braced(head, joiner or tail), braced(joiner, tail))
    return head, joiner, tail, delimited


def _latex_number(s):
    if "e" in s:
        mant, _, exp = s.partition("e")
        return r"%s \cdot 10^{%d}" % (mant, int(exp)), PRODUCT
    return s, ATOM


# LaTeX's special characters, as text inside \mathrm in math mode
_LATEX_ESCAPES = {"\\": r"\backslash ", "{": r"\{", "}": r"\}", "$": r"\$", "%": r"\%",
                  "#": r"\#", "&": r"\&", "_": r"\_", "^": r"\hat{}", "~": r"\sim ", " ": r"\ "}


def _latex_name(name):
    if not re.fullmatch(r"\w+", name, re.ASCII):
        # a name set by hand (the language's are identifiers): no character of it may end the
        # formula ($), open a group or run a command
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in name)
        return r"\mathrm{%s}" % "".join(_LATEX_ESCAPES.get(c, c) for c in text)
    if len(name) == 1:
        return name
    m = re.fullmatch(r"([A-Za-z]+)_?(\d+)", name)
    if m:
        base = m.group(1) if len(m.group(1)) == 1 else r"\mathrm{%s}" % m.group(1)
        return f"{base}_{{{m.group(2)}}}"
    return r"\mathrm{%s}" % name.replace("_", r"\_")


_TEXT = _Style(
    form=_text_form,
    name=lambda s: s,
    number=lambda s: (s, ATOM),
    nonfinite=None,  # the language has no literal for inf or nan
    paren=lambda rope: ["(", rope, ")"],
    binding=lambda name, rhs: [name, " = ", rhs],
    declare=lambda name, value: [name, " = p(", value, ")"],
    sep="\n",
)

_LATEX = _Style(
    form=_latex_form,
    name=_latex_name,
    number=_latex_number,
    nonfinite=lambda v: r"\mathrm{NaN}" if math.isnan(v) else r"\infty",
    paren=lambda rope: [r"\left(", rope, r"\right)"],
    binding=lambda name, rhs: [name, " &= ", rhs],
    declare=lambda name, value: [name, " &= ", value],
    sep=" \\\\\n",
)


def _join(items, sep):
    out = []
    for k, item in enumerate(items):
        if k:
            out.append(sep)
        out.append(item)
    return out


def reading_order(children, root):
    """Node indices children first, each child in argument order (left to right, as the text
    reads), so bindings come out in the order a reader meets them. Iterative."""
    n = len(children)
    seen, pos, order = [False] * n, [0] * n, []
    stack = [root]
    seen[root] = True
    while stack:
        i = stack[-1]
        kids = children[i]
        if kids is not None and pos[i] < len(kids):
            j = kids[pos[i]]
            pos[i] += 1
            if not seen[j]:
                seen[j] = True
                stack.append(j)
        else:
            stack.pop()
            order.append(i)
    return order


class _Printer:
    """One rendering. Per node: its text (a rope), precedence, whether the text starts with a
    minus sign (`lead`), the number it prints as (`num`, for -(2) -> -2), the node whose negation
    it prints (`neg_of`), and for an odd op led by a minus, the rest after its first operand
    (`rest`), so a sum can move that minus out."""

    def __init__(self, ir, style, params, declare=True, sep=None, strict=True):
        self.nodes, self.children, self.style, self.params = ir.nodes, ir.children, style, params
        self.ir = ir
        self.declare = declare  # a whole network's program: `input` and `p(...)` lines
        self.sep = sep or style.sep
        self.strict = strict
        n = len(ir.nodes)
        self.text, self.prec, self.lead = [None] * n, [ATOM] * n, [False] * n
        self.num, self.neg_of, self.rest = [None] * n, [None] * n, [None] * n

    def render(self):
        nodes, children, style = self.nodes, self.children, self.style
        root = self.ir.output
        uses = [0] * len(nodes)
        for kids in children:
            for j in kids or ():
                uses[j] += 1
        bound = [uses[i] > 1 and children[i] is not None and i != root for i in range(len(nodes))]
        leaves = [n for n in nodes if isinstance(n, (Input, Parameter))]
        claimed = reserved_names() | {n.name for n in leaves if n.name}
        # names the bound nodes already have are kept for them, so counters skip them
        wanted = {nodes[i].name for i in range(len(nodes)) if bound[i] and nodes[i].name}
        statements, roots = [], []
        counter = 0
        for i in reading_order(children, root):
            if children[i] is None:
                self._leaf(i, nodes[i])
                continue
            self._op(i, nodes[i], children[i])
            if bound[i]:
                label = nodes[i].name
                if not (label and _NAME.match(label)) or label in claimed:
                    while f"h{counter}" in claimed or f"h{counter}" in wanted:
                        counter += 1
                    label = f"h{counter}"
                claimed.add(label)
                statements.append(style.binding(style.name(label), self.text[i]))
                roots.append(i)
                self._set(i, style.name(label), ATOM)
        statements.append(self.text[root])
        roots.append(root)
        statements[:0] = self._declarations(roots, bound)
        body = _flatten(_join(statements, self.sep))
        if style is _LATEX and len(statements) > 1:
            last = body.rsplit(self.sep, 1)
            body = last[0] + self.sep + "& " + last[1]
            return "\\begin{aligned}\n" + body + "\n\\end{aligned}"
        return body

    # --- statements before the bindings ----------------------------------------------------------
    def _declarations(self, roots, bound):
        ir, style = self.ir, self.style
        if not self.declare:
            return []
        out = []
        inputs = list(ir.inputs)
        if style is _TEXT and inputs and (self.params == "p" or
                                          self._first_appearance(roots, bound) != inputs):
            out.append(["input ", ", ".join(n.name for n in inputs)])
        if self.params == "p":
            for param in ir.parameters:
                out.append(style.declare(style.name(param.name),
                                         self._number(self._value(param), param)[0]))
        return out

    def _first_appearance(self, roots, bound):
        """The inputs in the order the text mentions them (statement by statement, left to
        right, a bound node's body only in its own binding)."""
        nodes, children = self.nodes, self.children
        order, seen = [], set()
        for r in roots:
            stack = [r]
            while stack:
                i = stack.pop()
                kids = children[i]
                if kids is None:
                    if isinstance(nodes[i], Input) and i not in seen:
                        seen.add(i)
                        order.append(nodes[i])
                elif i == r or not bound[i]:
                    stack.extend(reversed(kids))
        return order

    # --- leaves -------------------------------------------------------------------------------
    def _set(self, i, rope, prec, lead=False):
        self.text[i], self.prec[i], self.lead[i] = rope, prec, lead
        self.num[i] = self.neg_of[i] = self.rest[i] = None

    def _leaf(self, i, node):
        if isinstance(node, Constant) or (isinstance(node, Parameter) and self.params == "value"):
            v = self._value(node)
            if v is None:
                self._set(i, brief(node.value), ATOM)
                return
            rope, prec = self._number(v, node)
            self._set(i, rope, prec, rope.startswith("-"))
            self.num[i] = v
        else:
            self._set(i, self.style.name(node.name or "?"), ATOM)

    def _value(self, leaf):
        """The leaf's value as a float (an EvaluationError naming it if it holds something else);
        None for an error message's description, which must not fail."""
        try:
            return leaf_float(leaf, leaf.value)
        except EvaluationError:
            if self.strict:
                raise
            return None

    def _number(self, v, node):
        """(text, precedence) of the number v (held by `node`, named in an error)."""
        style = self.style
        if not math.isfinite(v):
            if style.nonfinite is not None:
                return (style.nonfinite(v), ATOM) if not v < 0 else \
                    ("-" + style.nonfinite(v), UNARY)
            if self.strict:
                what = type(node).__name__.lower()
                what = f"{what} {node.name}" if getattr(node, "name", None) else f"a {what}"
                raise TreenetError(f"{what} is {v!r}: the language has no literal for a "
                                   f"non-finite number ({v!r} would read back as an input "
                                   "named so), so this network cannot be printed as a program")
            return repr(v), ATOM
        s, prec = style.number(number(v))
        return s, (UNARY if s.startswith("-") else prec)

    # --- ops ----------------------------------------------------------------------------------
    def _op(self, i, op, kids):
        if op.negation and self.num[kids[0]] is not None:
            # -(2) is the literal -2, as the parser reads it back
            v = -self.num[kids[0]]
            rope, prec = self._number(v, op)
            self._set(i, rope, prec, rope.startswith("-"))
            self.num[i] = v
            return
        if op.notation == "infix" and len(kids) == 1:
            self._copy(i, kids[0])  # a one-operand sum or product is its operand
            return
        head, joiner, tail, delimited = self.style.template(type(op))
        parts, first_plain = [], False
        for k, j in enumerate(kids):
            if k == 0:
                parts.append(head)
                parts.append(self._operand(type(op), 0, self.text[j], self.prec[j],
                                           self.lead[j], delimited[0]))
                first_plain = parts[-1] is self.text[j]
                continue
            cls, rope, q, lead = type(op), self.text[j], self.prec[j], self.lead[j]
            if op.negated_symbol is not None:
                cls, rope, q, lead = self._absorb(cls, j)
            parts.append(self.style.template(cls)[1])
            parts.append(self._operand(cls, k, rope, q, lead, delimited[1]))
        parts.append(tail)
        prec = op.precedence if self.style is not _LATEX or op.latex_precedence is None else op.latex_precedence
        lead = head.startswith("-") or (head == "" and first_plain and self.lead[kids[0]])
        self._set(i, parts, prec, lead)
        if op.negation:
            self.neg_of[i] = kids[0]
        elif lead and op.odd and head == "":
            self.rest[i] = (kids[0], parts[2:], type(op))  # what follows the first operand

    def _copy(self, i, j):
        self.text[i], self.prec[i], self.lead[i] = self.text[j], self.prec[j], self.lead[j]
        self.num[i], self.neg_of[i], self.rest[i] = self.num[j], self.neg_of[j], self.rest[j]

    def _operand(self, op, k, rope, q, lead, delimited):
        """The operand's rope, in parentheses where the op's precedence and associativity demand
        them; a later operand that starts with a minus keeps them too (x*(-3), not x*-3)."""
        if delimited:
            return rope
        p = op.precedence
        if op.notation == "prefix":
            needs = q < p or lead
        elif k == 0:
            needs = q < p or (q == p and op.associativity != "left")
        else:
            needs = q < p or (q == p and op.associativity != "right") or lead
        return self.style.paren(rope) if needs else rope

    def _absorb(self, cls, j):
        """A sum's later operand with its minus moved into the sign: a + -b is a - b, a - -b is
        a + b, a + (-2)*y is a - 2*y; the same floats exactly, since negation is exact. Returns
        (the op class whose joiner goes before it, rope, precedence, lead)."""
        while self.neg_of[j] is not None:
            j, cls = self.neg_of[j], _twin(cls)
        v = self.num[j]
        if v is not None and math.copysign(1.0, v) < 0:
            rope, q = self._number(-v, self.nodes[j])
            return _twin(cls), rope, q, False
        if self.rest[j] is not None:
            stripped = self._strip(j)
            if stripped is not None:
                return _twin(cls), stripped, self.prec[j], False
        return cls, self.text[j], self.prec[j], self.lead[j]

    def _strip(self, j):
        """The text of an odd op led by a minus (-x*y, -2*y/z) without that minus, or None."""
        spine, k = [], j
        while self.rest[k] is not None:
            spine.append(self.rest[k][1])
            parent, k = self.rest[k][2], self.rest[k][0]
        v = self.num[k]
        if v is not None:
            rope = self._number(-v, self.nodes[k])[0]
        elif self.neg_of[k] is not None and not self.lead[self.neg_of[k]]:
            c = self.neg_of[k]
            rope = self._operand(parent, 0, self.text[c], self.prec[c], False, False)
        else:
            return None
        for rest in reversed(spine):
            rope = [rope, rest]
        return rope


_TWINS = {}


def _twin(cls):
    """The op a sum turns into when it absorbs a minus (+ <-> -), found by its negated_symbol."""
    twin = _TWINS.get(cls)
    if twin is None:
        for other in REGISTRY.values():
            if other.notation == "infix" and other.symbol == cls.negated_symbol:
                twin = _TWINS[cls] = other
                break
        else:
            raise TreenetError(f"op {cls.__name__}: no infix op has its negated_symbol "
                               f"{cls.negated_symbol!r}")
    return twin


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


__all__ = ["funcify", "latex", "describe", "fragment", "number", "check_names", "reading_order", "PARAMS"]
