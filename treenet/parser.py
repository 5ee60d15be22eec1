"""Text -> network: the rule actions for grammar/treenet.lark (a lark Transformer, `_Build`) and
the meaning of statements.

treenet.lalr runs lark's LALR tables and hands every reduction here as it happens, so nodes are
built without a parse tree in between, and nothing recurses: nesting depth costs memory, not
stack. Statements run in order (a binding sees only what came before it); a `def` body is kept as
a parse tree, checked where it stands, and replayed into a fresh copy at every call. Every failure
becomes one ParseError with line, column, the source line and a caret."""

import bisect
import difflib
from importlib import resources
import math
from pathlib import Path
import random
import re

from lark import Token, Tree
from lark.visitors import Transformer

from .errors import ParseError, TreenetError
from .lalr import FastLALR, SyntaxFallback
from .macros import Linear
from .names import KEYWORDS, VECTOR_CALLS, reserved_names
from .nodes import Constant, Input, Macro, NeuralNetNode, Parameter, using_rng
from .ops import REGISTRY, Output, calls

# Limits that turn runaway programs into errors instead of hangs: macros can double the network
# at each level of nesting, so the text alone does not bound the size.
MAX_NODES = 1_000_000
MAX_MACRO_DEPTH = 60
# how many names an "unknown function" message lists before "... and N more"
MAX_LISTED = 8
# other spellings of an operator symbol: the registry holds one symbol per op
_SPELLINGS = {"**": "^"}


_MISSING = object()


def grammar_path():
    """Where the grammar is read from: the installed copy (the wheel maps grammar/ into the
    package), else the source checkout's top-level grammar/."""
    ref = resources.files("treenet").joinpath("grammar", "treenet.lark")
    if ref.is_file():
        return str(ref)
    return str(Path(__file__).resolve().parent.parent / "grammar" / "treenet.lark")


def _grammar_text():
    return Path(grammar_path()).read_text(encoding="utf-8")


_operators_cache = (None, {})


def operators():
    """The ops written as operators, by (symbol, notation): ("+", "infix") -> Add, ("-",
    "prefix") -> Negate. Read from the registry, so a new operator class is found by its
    declared symbol."""
    global _operators_cache
    key = tuple(REGISTRY)
    if _operators_cache[0] != key:
        table = {(cls.symbol, cls.notation): cls for cls in REGISTRY.values()
                 if cls.symbol is not None}
        _operators_cache = (key, table)
    return _operators_cache[1]


# --- parse state and the Transformer ----------------------------------------------------------

class _Def:
    """A user macro: its parameter names, its body (a parse tree) and the scope it was defined in."""

    def __init__(self, name, params, body, scope):
        self.name, self.params, self.body, self.scope = name, params, body, scope
        # the body in post-order, computed once: a call replays it instead of walking the tree
        self.postfix = _postfix(body)
        self.size = len(self.postfix)


def _postfix(tree):
    """The parse tree as a post-order list of (rule name, number of children) and tokens."""
    out, stack = [], [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, Tree):
            out.append((item.data, len(item.children)))
            stack.extend(item.children)
        else:
            out.append(item)
    out.reverse()
    return out


class _Vector:
    """A vector value in the text, with the token where it is written (so an error can point at
    it): either its scalar elements (`items`, shared, never changed) or the vector-valued op that
    gives it (`node`, e.g. softmax, allowed only as the network's output)."""

    __slots__ = ("items", "node", "where")

    def __init__(self, items, where, node=None):
        self.items, self.where, self.node = items, where, node

    def at(self, where):
        """The same vector, written at `where` (a later use of its name)."""
        return _Vector(self.items, where, self.node)

    def __len__(self):
        return len(self.items) if self.items is not None else 1


class _Scope:
    """Every binding of a parse, with the history of each name, so a macro body can see the names
    as they were where its `def` stood without copying the whole scope (which would make a program
    of many bindings and defs quadratic)."""

    def __init__(self):
        self.history = {}  # name -> ([binding times], [values])
        self.now = 0

    def bind(self, name, value):
        self.now += 1
        times, values = self.history.setdefault(name, ([], []))
        times.append(self.now)
        values.append(value)

    def view(self, at=None, local=None, live=False):
        """The names visible now (or at time `at`); a live view follows later bindings too."""
        return _View(self, None if live else self.now if at is None else at, local or {})


class _View:
    """The names visible at one moment of a `_Scope` (plus a macro's arguments)."""

    def __init__(self, scope, at, local):
        self.scope, self.at, self.local = scope, at, local

    def get(self, name, default=None):
        if name in self.local:
            return self.local[name]
        entry = self.scope.history.get(name)
        if entry is None:
            return default
        times, values = entry
        if self.at is None or times[-1] <= self.at:
            return values[-1]
        k = bisect.bisect_right(times, self.at) - 1
        return values[k] if k >= 0 else default

    def macros(self):
        names = set(self.local) | set(self.scope.history)
        return {n for n in names if isinstance(self.get(n), _Def)}


class _State:
    """What one parse shares across statements and macro expansions."""

    def __init__(self, source):
        self.source = source
        self.inputs = {}
        self.budget = MAX_NODES
        self.depth = 0

    def error(self, message, where):
        """A ParseError at `where`: a token, or a parse tree or list holding one."""
        tok = _first_token(where)
        line = getattr(tok, "line", None)
        column = getattr(tok, "column", None)
        return ParseError(message, line, column, self.source)

    def spend(self, n, where, what="this expression"):
        """Take `n` nodes (or vector elements) from the budget, before they are built."""
        self.budget -= n
        if self.budget < 0:
            raise self.error(f"{what} expands the program to more than {MAX_NODES} nodes and "
                             "vector elements (the limit)", where)

    def input(self, name):
        node = self.inputs.get(name)
        if node is None:
            node = self.inputs[name] = Input(name=name)
        return node


class _Build(Transformer):
    """Builds nodes from one expression's parse tree, in a given scope."""

    def __init__(self, state, scope):
        super().__init__()
        self.state, self.scope = state, scope
        self.operators = operators()

    def replay(self, postfix):
        """transform() over a tree already flattened by _postfix (a macro body, called often)."""
        stack = []
        for item in postfix:
            if type(item) is tuple:
                rule, n = item
                args = stack[len(stack) - n:]
                del stack[len(stack) - n:]
                stack.append(getattr(self, rule)(args))
            else:
                stack.append(item)
        return stack[0]

    # --- leaves -------------------------------------------------------------------------------
    def number(self, children):
        tok = children[0]
        value = float(tok)
        # both ends of float64 are errors: a literal that silently became inf or 0 is not what
        # was written
        if not math.isfinite(value):
            raise self.state.error(f"number {tok} overflows float64 (the largest is about "
                                   "1.8e308)", tok)
        if value == 0 and re.search(r"[1-9]", re.split(r"[eE]", str(tok))[0]):
            raise self.state.error(f"number {tok} underflows to 0 in float64 (the smallest is "
                                   "about 5e-324); write 0", tok)
        node = Constant(value)
        node._literal = True  # only a number written in the text may initialise p(...)
        return node

    def name(self, children):
        tok = children[0]
        name = str(tok)
        value = self.scope.get(name, _MISSING)
        if value is not _MISSING:
            if isinstance(value, _Def):
                raise self.state.error(f"{name} is a macro: call it as {name}(...)", tok)
            if isinstance(value, _Vector):
                return value.at(tok)
            return value
        if name == "p":
            return Parameter()
        if name in calls() or name in VECTOR_CALLS:
            raise self.state.error(f"{name} is a function: call it as {name}(...)", tok)
        if name in KEYWORDS:
            raise self.state.error(f"{name} is a keyword", tok)
        return self.state.input(name)

    # --- operators ------------------------------------------------------------------------------
    def sum(self, children):
        return self._chain(children)

    def product(self, children):
        return self._chain(children)

    def _chain(self, children):
        # a + b + c is one n-ary Add; a - b (a binary op) takes everything before it as its left
        # operand, and a following + starts a new run
        terms, run = [self._scalar(children[0], children[1])], None
        for tok, operand in zip(children[1::2], children[2::2]):
            op = self._operator(tok, "infix")
            operand = self._scalar(operand, tok)
            if op is run:
                terms.append(operand)
                continue
            left = terms[0] if len(terms) == 1 else run(terms)
            if op.arity_range()[1] is None:
                terms, run = [left, operand], op
            else:
                terms, run = [op([left, operand])], None
        return terms[0] if len(terms) == 1 else run(terms)

    def neg(self, children):
        op = self._operator(children[0], "prefix")
        operand = self._scalar(children[1], children[0])
        if type(operand) is Constant:
            # -3 is the number -3, so that p(-3) takes it as a literal
            folded = Constant(op([operand]).compute([operand.value]))
            folded._literal = getattr(operand, "_literal", False)
            return folded
        return op([operand])

    def pow(self, children):
        op = self._operator(children[1], "infix")
        return op([self._scalar(children[0], children[1]),
                   self._scalar(children[2], children[1])])

    def _operator(self, tok, notation):
        symbol = _SPELLINGS.get(str(tok), str(tok))
        op = self.operators.get((symbol, notation))
        if op is None:
            raise self.state.error(f"no op declares the {notation} operator {symbol!r}", tok)
        return op

    # --- vectors --------------------------------------------------------------------------------
    def vector(self, children):
        bracket = children[0]
        items = children[1] if len(children) > 1 else []
        if not items:
            raise self.state.error("an empty vector [] is not a value", bracket)
        # counted before it is built: [v, v] doubles v, so a few lines could fill the memory
        self.state.spend(_count(items), bracket, "this vector")
        return _Vector([self._scalar(item, bracket) for item in _flatten(items)], bracket)

    def index(self, children):
        vec, tok = children
        if not isinstance(vec, _Vector):
            raise self.state.error("only a vector can be indexed; declare an input vector with "
                                   "`input x[4]`", tok)
        if vec.items is None:
            raise self.state.error(f"{vec.node.call} gives a vector that can only be the output "
                                   "of the network: it cannot be indexed", vec.where)
        k = _integer(tok)
        if k is None or not 0 <= k < len(vec.items):
            raise self.state.error(f"index {tok} is out of range for a vector of {len(vec)} "
                                   f"(0 to {len(vec) - 1})", tok)
        return vec.items[k]

    def args(self, children):
        return list(children)

    # --- calls ------------------------------------------------------------------------------------
    def call(self, children):
        tok = children[0]
        name = str(tok)
        args = children[1] if len(children) > 1 else []
        op = _callee(self.state, self.scope, name, tok)
        if op == "p":
            return self._parameter(tok, args)
        if op == "dense":
            return self._dense(tok, args)
        if isinstance(op, _Def):
            result = self._expand(op, args, tok)
            return result.at(tok) if isinstance(result, _Vector) else result
        state = self.state
        if issubclass(op, Macro) or op.vector_valued or op.arity_range()[1] is None:
            # variadic calls and macros take vectors as lists of arguments
            state.spend(_count(args) + 1, tok, f"this call to {name}")
            args = _flatten(args)
        elif len(args) == 1 and isinstance(args[0], _Vector) and args[0].items is not None:
            items = args[0].items  # element-wise: a node and an edge per element
            state.spend(2 * len(items), tok, f"this call to {name}")
            return _Vector([self._apply(op, [a], tok) for a in items], tok)
        else:
            state.spend(len(args) + 1, tok, f"this call to {name}")
        node = self._apply(op, args, tok)
        return _Vector(None, tok, node) if op.vector_valued else node

    def _apply(self, op, args, tok):
        lo, hi = op.arity_range()
        if not lo <= len(args) <= (hi if hi is not None else len(args)):
            raise self.state.error(f"{op.call} takes {op.describe_arity()}, got {len(args)}", tok)
        for a in args:
            self._scalar(a, tok)
        node = op(args)
        if isinstance(node, Macro):
            self.state.spend(len(args) * 3 + 2, tok, f"this call to {op.call}")
            node = node.expanded()
        return node

    def _parameter(self, tok, args):
        if len(args) != 1 or not getattr(args[0], "_literal", False):
            raise self.state.error("p(...) takes one number, the initial value, e.g. p(0.5) "
                                   "(write p alone for a random one)", tok)
        return Parameter(args[0].value)

    def _dense(self, tok, args):
        if len(args) < 2 or type(args[0]) is not Constant or _integer(args[0].value) is None \
                or args[0].value < 1:
            raise self.state.error("dense takes a number of units (a positive integer) and then "
                                   "its inputs: dense(16, x, y)", tok)
        units = int(args[0].value)
        inputs = [self._scalar(a, tok) for a in _flatten(args[1:])]
        self.state.spend(units * (3 * len(inputs) + 2), tok, "this dense layer")
        return _Vector([Linear(list(inputs)).expanded() for _ in range(units)], tok)

    def _expand(self, macro, args, tok):
        state = self.state
        if len(args) != len(macro.params):
            raise state.error(f"{macro.name} takes {len(macro.params)} argument(s) "
                              f"({', '.join(macro.params)}), got {len(args)}", tok)
        if state.depth >= MAX_MACRO_DEPTH:
            raise state.error(f"macro calls nested more than {MAX_MACRO_DEPTH} deep", tok)
        state.spend(macro.size, tok, f"this call to {macro.name}")
        scope = macro.scope.scope.view(macro.scope.at, dict(zip(macro.params, args)))
        for a in args:
            _unliteral(a)
        state.depth += 1
        try:
            return _Build(state, scope).replay(macro.postfix)
        finally:
            state.depth -= 1

    # --- helpers --------------------------------------------------------------------------------
    def _scalar(self, value, where):
        """`value`, which must be a scalar; the error for a vector points at where the vector is
        written, not at the operator or call that meets it."""
        if isinstance(value, _Vector):
            if value.node is not None:
                raise self.state.error(f"{value.node.call or 'a vector output'} gives a vector: "
                                       "it can only be the output of the network", value.where)
            raise self.state.error("a vector cannot be used in arithmetic; index it (v[0]) or "
                                   "apply a function to it", value.where)
        if getattr(value, "vector_valued", False):
            raise self.state.error(f"{value.call or 'a vector output'} gives a vector: it can "
                                   "only be the output of the network", where)
        return value


def _callee(state, view, name, tok):
    """What a call to `name` calls, seen from `view`: "p", "dense", a user macro (_Def) or an op
    class; a ParseError (with a did-you-mean) if the name is not a function there."""
    if name == "p" or name == "dense":
        return name
    target = view.get(name)
    if isinstance(target, _Def):
        return target
    if target is not None:
        raise state.error(f"{name} is a value, not a function", tok)
    op = calls().get(name)
    if op is not None:
        return op
    if isinstance(view.scope.view().get(name), _Def):
        raise state.error(f"{name} is defined later: a macro can call only macros defined "
                          "before it (so it cannot call itself)", tok)
    builtin = sorted(set(calls()) | VECTOR_CALLS | {"p"})
    macros = sorted(view.macros())
    hint = difflib.get_close_matches(name, builtin + macros, n=1)
    message = f"unknown function {name!r}"
    if hint:
        message += f"; did you mean {hint[0]!r}?"
    else:
        known = builtin + macros  # the built-in functions first: a program may define thousands
        listed = ", ".join(known[:MAX_LISTED])
        more = f" ... and {len(known) - MAX_LISTED} more" if len(known) > MAX_LISTED else ""
        message += f" (known: {listed}{more})"
    raise state.error(message, tok)


def _unliteral(value):
    if type(value) is Constant:
        value._literal = False  # a number bound to a name is a value, not text: p(c) is refused


def _first_token(where):
    """The first token in a token, a parse tree, or a list of them (iteratively)."""
    stack = [where]
    while stack:
        item = stack.pop()
        if isinstance(item, Token):
            return item
        if isinstance(item, Tree):
            stack.extend(reversed(item.children))
        elif isinstance(item, (list, tuple)):
            stack.extend(reversed(item))
    return None


def _count(items):
    """How many scalars `items` holds once its vectors are spread out."""
    return sum(len(item) if isinstance(item, _Vector) else 1 for item in items)


def _flatten(items):
    """The arguments with each vector of elements spread out (a vector-valued op stays whole, for
    _scalar to refuse where it is written)."""
    out = []
    for item in items:
        if isinstance(item, _Vector) and item.items is not None:
            out.extend(item.items)
        else:
            out.append(item)
    return out


def _integer(text):
    try:
        v = float(text)
    except (TypeError, ValueError):
        return None
    return int(v) if v.is_integer() else None


# --- statements -------------------------------------------------------------------------------

def parse(text, seed=None):
    """Parse a treenet program into its output node (compiled). `seed` makes the random initial
    values of `p` parameters reproducible."""
    if not isinstance(text, str):
        raise TreenetError(f"parse takes the program as a string, got {type(text).__name__}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, str, bytes))):
        raise TreenetError(f"seed must be an integer (or a string), got {seed!r}")
    rng = random.Random(seed) if seed is not None else random
    if "\r" in text:
        # CRLF and a lone CR end a line as LF does, here and in every line number and caret
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    program = _Program(_State(text))
    root = _run(program, text, rng)
    if program.declared:
        root.declared_inputs = program.declared  # declared inputs stay, used or not
    root.compile()
    return root


def _run(program, text, rng):
    """Parse `text` with `program` running its statements; the output (a vector made a node)."""
    with using_rng(rng):
        try:
            root = _fast().parse(text, program.reduce, program.shifted)
        except SyntaxFallback as exc:
            if is_blank(text):
                raise ParseError("the program is empty: it needs an expression, the network's "
                                 "output", 1, 1, text) from None
            raise _syntax_error(exc, text) from None
    return as_network(root)


def as_network(value):
    """A bound value as the network it stands for: a node as it is, a vector as its
    vector-valued op (softmax) or as one Output over its elements; None for a `def`."""
    if isinstance(value, _Def):
        return None
    if isinstance(value, _Vector):
        return value.node if value.items is None else Output(list(value.items))
    return value


def elements(value):
    """A bound vector's elements (a list of nodes); None for anything else (a node, a def, or a
    vector given by one vector-valued op)."""
    return list(value.items) if isinstance(value, _Vector) and value.items is not None else None


def needs_more(text):
    """True when `text` is cut short: its only fault is that it ends too early (inside a
    bracket, after an operator), so more lines may complete it. False when it parses, or has
    an error before its end, which no further line can mend. Syntax only: nothing is run."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    try:
        _fast().parse(text, _ignore)
    except SyntaxFallback as exc:
        return exc.token is not None and exc.token.type == "$END"
    return False


def _ignore(rule, children):
    """A reduction that builds nothing (needs_more asks the tables only)."""
    return None


def is_blank(text):
    """True for a text with no statement: only blanks, `;` and comments."""
    return not re.sub(r"#[^\n]*|[\s;]", "", text)


class Bindings:
    """What a treenet.Session keeps between runs: every name bound so far (its latest value, in
    binding order), the inputs by name (one Input per name for the whole session) and the
    declared inputs. Replaced, never changed, by `run_statements`."""

    def __init__(self, names=None, inputs=None, declared=()):
        self.names = dict(names or {})
        self.inputs = dict(inputs or {})
        self.declared = list(declared)


def run_statements(text, bindings, rng):
    """Run the statements of `text` after those `bindings` hold: (the last expression
    statement's network, compiled, or None; the new Bindings). Unlike `parse`, the text may end
    in a binding or hold several expressions. On an error nothing is changed: `bindings` and
    their nodes are as before (a failed line names no node; the caller restores `rng`)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if is_blank(text):
        return None, bindings
    state = _State(text)
    state.inputs = dict(bindings.inputs)
    program = _Program(state, incremental=True)
    for name, value in bindings.names.items():
        program.scope.bind(name, value)
    program.declared = list(bindings.declared)
    program.declared_ids = {id(node) for node in bindings.declared}
    try:
        root = _run(program, text, rng)
        if root is not None:
            if program.declared:
                root.declared_inputs = list(program.declared)
            root.compile()
    except BaseException:
        for node in program.named:  # nodes bound before this text, named by a binding in it
            node.name = None
        raise
    names = {name: values[-1] for name, (_, values) in program.scope.history.items()}
    return root, Bindings(names, state.inputs, program.declared)


_FAST = None


def _fast():
    global _FAST
    if _FAST is None:
        _FAST = FastLALR(_grammar_text())
    return _FAST


class _Program:
    """One parse's statements, run as the parser reduces them: a binding sees only what came
    before it, and a `def` body (reduced while `in_def`) is kept as a tree for its calls."""

    def __init__(self, state, incremental=False):
        self.state = state
        self.incremental = incremental  # a Session's run: any statement may come last
        self.named = []          # nodes a binding named (undone if an incremental run fails)
        self.scope = _Scope()
        self.build = _Build(state, self.scope.view(live=True))
        self.in_def = False
        self.at_start = True
        self.first = None        # the first token of the statement being read
        self.statements = []     # (kind, first token) of each statement, in order
        self.declared = []       # inputs named by `input` statements
        self.declared_ids = set()
        self.root = None

    def shifted(self, tok):
        if tok is None:
            return
        kind = tok.type
        if kind == "_NL" or kind == "SEMICOLON":
            self.at_start = True
            return
        if self.at_start:
            self.first, self.at_start = tok, False
        if kind == "DEF":
            self.in_def = True

    def reduce(self, rule, children):
        handler = _STATEMENTS.get(rule)
        if handler is not None:
            self.statements.append((rule, self.first))
            return handler(self, Tree(rule, children))
        if self.in_def or rule in ("names", "input_decl"):
            return Tree(rule, children)
        return getattr(self.build, rule)(children)


def _output(program, st):
    program.root = st.children[0]


def _start(program, st):
    state, statements = program.state, program.statements[:-1]  # the last one is `start`
    if program.incremental:
        return program.root
    for k, (kind, tok) in enumerate(statements):
        last = k == len(statements) - 1
        if kind == "output" and not last:
            raise state.error("only the last statement can be a bare expression (the network's "
                              "output); bind this one with a name", tok)
        if last and kind != "output":
            raise state.error("the program must end with an expression: the network's output",
                              tok)
    return program.root


def _assign(program, st):
    state, scope = program.state, program.scope
    tok, value = st.children
    name = str(tok)
    _check_bindable(state, name, tok)
    _unliteral(value)
    node = value.node if isinstance(value, _Vector) else value
    if isinstance(node, NeuralNetNode) and node.name is None and type(node) is not Constant:
        node.name = name  # a parameter is named by its binding; an op keeps it as a label
        program.named.append(node)
    scope.bind(name, value)


def _define(program, st):
    state, scope = program.state, program.scope
    program.in_def = False
    tok = st.children[0]
    params = [str(t) for t in st.children[1].children] if len(st.children) == 3 else []
    body = st.children[-1]
    name = str(tok)
    _check_bindable(state, name, tok)
    seen = set()
    for t in (st.children[1].children if len(st.children) == 3 else []):
        if str(t) in seen:
            raise state.error(f"{t} appears twice among the arguments of {name}", t)
        seen.add(str(t))
        _check_bindable(state, str(t), t)
    # names in the body mean what they mean here; the macro is not in its own scope, so a call to
    # itself in the body is an error, never an endless expansion
    view = scope.view()
    _check_body(state, view, body, params, name)
    scope.bind(name, _Def(name, params, body, view))


_ARGUMENT = object()


def _check_body(state, view, body, params, name):
    """Check a def's body where it stands: every call must be to a function (even if the macro
    is never called), and its free names become inputs now, so inputs keep the order in which
    the text first mentions them."""
    local = view.scope.view(view.at, {p: _ARGUMENT for p in params})
    reserved = reserved_names()
    stack = [body]
    while stack:
        item = stack.pop()
        if not isinstance(item, Tree):
            continue
        if item.data == "call":
            tok = item.children[0]
            if str(tok) == name:
                raise state.error(f"{name} calls itself: a macro cannot be recursive (its "
                                  "expansion would never end)", tok)
            _callee(state, local, str(tok), tok)
        elif item.data == "name":
            free = str(item.children[0])
            if free not in reserved and local.get(free, _MISSING) is _MISSING:
                state.input(free)
        stack.extend(reversed(item.children))


def _declare(program, st):
    state, scope = program.state, program.scope
    for decl in st.children:
        tok = decl.children[0]
        name = str(tok)
        _check_bindable(state, name, tok)
        if len(decl.children) == 1:
            scope.bind(name, _declared(program, state.input(name), tok))
            continue
        size_tok = decl.children[1]
        size = _integer(size_tok)
        if size is None or size < 1:
            raise state.error("the size of an input vector is a positive integer", size_tok)
        state.spend(size, size_tok, f"input {name}[{size_tok}]")
        vector = [_declared(program, state.input(f"{name}_{i}"), tok) for i in range(size)]
        scope.bind(name, _Vector(vector, tok))


def _declared(program, node, tok):
    """`node`, added to the declared inputs; declaring one twice (`input x, x`, or `v_0` and
    `v[2]`) is an error, since the declaration fixes the order of the inputs."""
    if id(node) in program.declared_ids:
        raise program.state.error(f"input {node.name} is declared twice", tok)
    program.declared_ids.add(id(node))
    program.declared.append(node)
    return node


_STATEMENTS = {"assign": _assign, "define": _define, "declare": _declare, "output": _output,
               "start": _start}


def _check_bindable(state, name, tok):
    if name == "p":
        raise state.error("p makes a new parameter: it cannot be bound or redefined", tok)
    if name in KEYWORDS:
        raise state.error(f"{name} is a keyword", tok)
    if name in calls() or name in VECTOR_CALLS:
        raise state.error(f"{name} is a built-in function: it cannot be bound or redefined", tok)


# --- syntax errors ----------------------------------------------------------------------------

_READABLE = {"NAME": "a name", "NUMBER": "a number", "_NL": "a new line", "$END": "end of input",
             "SEMICOLON": "';'", "POW": "'^'"}


def _readable(terminal):
    if terminal in _READABLE:
        return _READABLE[terminal]
    pattern = _fast().terminal_pattern(terminal)
    if pattern is not None and pattern.type == "str":
        return repr(pattern.value)
    return terminal.lower()


_PAIRS = {"(": ")", "[": "]"}


def _bracket_error(exc, text):
    """The ParseError that blames a bracket, or None. Python's rule: a closing bracket the parser
    refuses is unmatched or mismatched; otherwise, if a bracket is still open at the end of the
    text and the error is at the end or on a later line than that bracket, the real fault is the
    bracket that was never closed (the error is only where the parser noticed)."""
    tok = exc.token
    if tok is not None and tok.value in _PAIRS.values():
        if not exc.unclosed:
            return ParseError(f"unmatched {tok.value!r}", tok.line, tok.column, text)
        opening = exc.unclosed[-1]
        if _PAIRS[opening.value] != tok.value:
            return ParseError(f"closing {tok.value!r} does not match the {opening.value!r} at "
                              f"line {opening.line}, column {opening.column}", tok.line,
                              tok.column, text)
    unclosed = _fast().unclosed_at_end(text, exc)
    if unclosed and ((tok is not None and tok.type == "$END") or exc.line > unclosed[-1].line):
        bracket = unclosed[-1]
        return ParseError(f"{bracket.value!r} was never closed (no matching "
                          f"{_PAIRS[bracket.value]!r})", bracket.line, bracket.column, text)
    return None


def _syntax_error(exc, text):
    """The ParseError for a SyntaxFallback: what was found, where, and what could have been."""
    blamed = _bracket_error(exc, text)
    if blamed is not None:
        return blamed
    tok = exc.token
    line, column = exc.line, exc.column
    if tok is None:
        message = f"unexpected character {text[exc.pos]!r}"
    elif tok.type == "$END":
        message = "unexpected end of input"
        lines = text.split("\n")  # point just past the last character
        line, column = len(lines), len(lines[-1]) + 1
    elif tok.type == "_NL":
        message = "unexpected end of line"
    else:
        message = f"unexpected {tok.value!r}"
        source_line = text.split("\n")[tok.line - 1]
        if tok.value == "=" and re.match(r"\s*[A-Za-z_]\w*\s*\(", source_line):
            message += " (to define a macro, write def name(a, b) = ...)"
    return ParseError(message, line, column, text, {_readable(t) for t in exc.expected})


__all__ = ["parse", "run_statements", "Bindings", "as_network", "elements", "is_blank",
           "needs_more", "grammar_path", "Token", "Tree"]
