"""The string-first way of working: `Session`, statements run one after another with their
bindings kept (what `treenet repl` runs), and the commands shared by the REPL and the `treenet`
command (value, gradient table, gradient check, formula, LaTeX, derivative, DOT, training on a
CSV file, save, load), each a function that returns text.

Numbers are printed as `funcify` prints them: the shortest text that reads back as the same
float, with integral values as integers (`6`, `0.1`, `1e-05`)."""

import argparse
import difflib
import math
from pathlib import Path
import random
import re
import shlex

from .errors import TreenetError
from .io import check_save_path, load as _load, save as _save
from .dot import to_dot
from .names import reserved_names
from .nodes import Input
from .parser import Bindings, as_network, elements, run_statements
from .printer import PARAMS, describe, funcify, latex, number
from .derivative import derivative
from .gradcheck import gradcheck
from .train import evaluate, train
from .table import read_csv

_NAME = re.compile(r"[A-Za-z_][A-Za-z_0-9]*\Z")


# --- values at a point ----------------------------------------------------------------------

def format_value(v):
    """A value as text: a number as `number` writes it, a vector as [a, b, ...]."""
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(number(x) for x in v) + "]"
    return number(v)


def parse_values(words):
    """{name: float or [floats]} from words like `x=1`, `y=-2.5`, `v=1,2,3`."""
    values = {}
    for word in words:
        name, eq, text = word.partition("=")
        name = name.strip()
        if not eq or not _NAME.match(name):
            raise TreenetError(f"{word!r} is not a value: write name=number, e.g. x=1 (or "
                               "v=1,2,3 for an input vector)")
        if name in values:  # x=1 ... x=2: the first would be dropped without a word
            raise TreenetError(f"{name} is given twice ({name}={_shown(values[name])} and "
                               f"{word}): give each input one value")
        parts = text.split(",")
        numbers = [_number(name, part) for part in parts]
        values[name] = numbers if len(parts) > 1 else numbers[0]
    return values


def _shown(v):
    return ",".join(number(x) for x in v) if isinstance(v, list) else number(v)


def _number(name, text):
    try:
        v = float(text)
    except ValueError:
        v = None
    if v is None or not math.isfinite(v):
        raise TreenetError(f"the value of {name} is {text.strip()!r}: expected a finite number, "
                           f"e.g. {name}=1.5")
    return v


def point(inputs, values, require=True, of="the network", advice=""):
    """{input name: float} for the Input nodes `inputs` from `values` (by name, a vector's name
    with a list). A name that is not an input of `of` is an error with a did-you-mean (and
    `advice`, what to do instead); so is a missing input when `require`."""
    names = {node.name for node in inputs}
    out = {}
    for name, v in values.items():
        if isinstance(v, list):
            elements = [f"{name}_{k}" for k in range(len(v))]
            width = _vector_width(name, names)
            if width == 0 and name in names:
                raise TreenetError(f"{name} is one input, not an input vector: give it one "
                                   f"number ({name}=1.5), got {len(v)} values")
            if width == 0:
                _unknown(name, names, of, advice)
            if width != len(v):
                raise TreenetError(f"{name} is an input vector of {width}: give {width} values, "
                                   f"got {len(v)}")
            out.update(zip(elements, v))
        elif name in names:
            out[name] = v
        else:
            _unknown(name, names, of, advice)
    missing = [node.name for node in inputs if node.name not in out]
    if require and missing:
        raise TreenetError(f"no value for {_listed(missing)}: give "
                           f"{' '.join(n + '=...' for n in missing)}")
    return out


def _vector_width(name, names):
    k = 0
    while f"{name}_{k}" in names:
        k += 1
    return k


def _unknown(name, names, of, advice=""):
    close = [n for n in sorted(names) if n.lower() == name.lower()] or \
        difflib.get_close_matches(name, sorted(names), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    listed = f" (its inputs: {', '.join(sorted(names))})" if names else " (it has no inputs)"
    raise TreenetError(f"{name!r} is not an input of {of}{hint}{listed}"
                       + (f"; {advice}" if advice else ""))


def _listed(names):
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _at(net, values):
    """Set the network's inputs to `values` (all of them given) and run it: the output."""
    given = point(net.inputs, values)
    # a list in input order: a mapping would go by predict's batch path, which imports numpy
    return net.predict([given[leaf.name] for leaf in net.inputs])


# --- the commands, on a network -------------------------------------------------------------

def value_text(net, values):
    """The output at `values`."""
    return format_value(_at(net, values))


def _component_seed(net, component):
    """backward's upstream derivative: 1, or the unit vector of `component` for a vector."""
    graph = net.graph
    if not graph.vector_output:
        if component is not None:
            raise TreenetError("the network's output is a number: it has no components")
        return 1.0
    width = len(graph.output.children)
    if component is None:
        raise TreenetError(f"the network's output is a vector of {width}: name one component "
                           f"(--component K, 0 to {width - 1})")
    if not 0 <= component < width:
        raise TreenetError(f"component {component} is out of range for a vector of {width} "
                           f"(0 to {width - 1})")
    return [1.0 if k == component else 0.0 for k in range(width)]


def grad_text(net, values, component=None):
    """d(output)/d(variable) for every input and parameter at `values`, as a table. Leaves
    those gradients in `.grad` (so a picture drawn next shows them)."""
    seed = _component_seed(net, component)
    _at(net, values)
    net.zero_grad()
    net.backward(seed)
    rows = [(leaf.name, number(leaf.grad)) for leaf in net.inputs + net.parameters]
    return _table(["variable", "gradient"], rows)


def _table(head, rows):
    width = max(len(cell) for cell in [head[0]] + [r[0] for r in rows])
    lines = [f"{head[0].ljust(width)}  {head[1]}"]
    lines.append("-" * len(lines[0]))
    lines += [f"{name.ljust(width)}  {v}" for name, v in rows]
    return "\n".join(lines)


def check_text(net, values, component=None):
    """(gradcheck's table at `values`, whether it passed)."""
    _component_seed(net, component)  # the command's own message for a missing component
    report = gradcheck(net, point(net.inputs, values), component=component)
    return str(report), report.ok


def formula_text(net, params="value"):
    """The network as a formula (parameters by value, by name, or as p(...) bindings)."""
    return funcify(net, params=params)


def latex_text(net, params="name"):
    """The network as LaTeX."""
    return latex(net, params=params)


def derive_text(net, wrt, params="value", component=None):
    """d(output)/d(wrt) as a formula."""
    if wrt is None:
        variables = net.inputs
        if len(variables) != 1:
            names = ", ".join(v.name for v in variables) or "none"
            raise TreenetError(f"say which variable to differentiate by (--wrt NAME); the "
                               f"inputs are {names}")
        wrt = variables[0].name
    _component_seed(net, component)
    return funcify(derivative(net, wrt, component=component), params=params)


def dot_text(net, values=None, path=None, fmt=None):
    """The network's graph as DOT text, or, with `path`, drawn into that file (its format from
    the suffix unless `fmt`). With `values`, the nodes show the values and gradients there."""
    if values:
        _at(net, values)
        if not net.graph.vector_output:
            net.zero_grad()
            net.backward()
    if path is None:
        return to_dot(net)
    fmt = fmt or Path(path).suffix.lstrip(".").lower() or "svg"
    net.draw(str(path), format=fmt)
    return f"drew {path}"


# --- training on a CSV file -----------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are TreenetErrors (for the REPL's `:train`), not exits."""

    def error(self, message):
        raise TreenetError(f"{self.prog}: {message}")


def add_train_options(ap):
    """The options of `treenet train` and the REPL's `:train` (defaults: treenet.train's)."""
    ap.add_argument("--target", nargs="+", metavar="COLUMN",
                    help="the target column(s) (default: the one column that is not an input)")
    ap.add_argument("--loss", default="mse", help="mse, bce or cross_entropy (default: mse)")
    ap.add_argument("--optimizer", default="sgd", help="sgd, momentum or adam (default: sgd)")
    ap.add_argument("--lr", type=float, default=0.01, help="learning rate (default: 0.01)")
    ap.add_argument("--epochs", type=int, default=100, help="epochs (default: 100)")
    ap.add_argument("--batch-size", type=int, default=1, help="samples per step (default: 1)")
    ap.add_argument("--seed", type=int, help="seed for the shuffling (and, for `treenet train`, "
                    "the initial parameters)")
    ap.add_argument("--save", metavar="FILE", help="save the trained network there (.tn)")
    ap.add_argument("--plot", metavar="FILE", help="draw the loss curve there (.png, .svg, .pdf)")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    return ap


def train_text(net, csv_path, options, progress=True):
    """Train `net` in place on the CSV file (options as add_train_options parses them): what
    training gave, the final loss (and accuracy), and the trained formula."""
    data = read_csv(csv_path, [leaf.name for leaf in net.inputs], options.target)
    if options.save:
        check_save_path(options.save)  # before training: a bad path must not cost the run
    history = train(net, data, loss=options.loss, optimizer=options.optimizer, lr=options.lr,
                    epochs=options.epochs, batch_size=options.batch_size, seed=options.seed,
                    progress=progress and not options.quiet)
    result = evaluate(net, data, loss=options.loss)
    epochs = f"{history.epochs} epoch{'' if history.epochs == 1 else 's'}"
    lines = [f"trained {epochs} on {len(data)} rows of {csv_path} ({options.optimizer}, "
             f"lr {number(options.lr)}, batch size {options.batch_size})",
             f"loss     {number(result.loss)} ({history.loss_name})"]
    if result.accuracy is not None:
        lines.append(f"accuracy {number(result.accuracy)}")
    lines.append("network:")
    lines += ["    " + line for line in funcify(net).splitlines()]
    if options.save:
        _save(net, options.save)
        lines.append(f"saved to {options.save}")
    if options.plot:
        history.plot(options.plot)
        lines.append(f"loss plot: {options.plot}")
    return "\n".join(lines)


# --- the session ----------------------------------------------------------------------------

class Definition:
    """A `def` bound in a session: its name and parameters (calls build a fresh copy)."""

    def __init__(self, name, params):
        self.name, self.params = name, tuple(params)

    def __repr__(self):
        return f"<def {self.name}({', '.join(self.params)})>"


class Quit(Exception):
    """`:quit`: the REPL ends."""


COMMANDS = {
    "help": (":help [COMMAND]", "this list, or one command's help"),
    "vars": (":vars", "the bindings, the inputs and their values"),
    "set": (":set x=1 y=2 v=1,2,3", "give inputs values (an expression line then shows its "
            "value)"),
    "grad": (":grad [NAME] [x=1 ...] [--component K]", "every gradient of NAME (default: the "
             "last expression; of its component K for a vector)"),
    "check": (":check [NAME] [x=1 ...] [--component K]", "the gradient check table (autodiff, "
              "sympy, finite differences)"),
    "print": (":print [NAME] [value|name|p]", "the network as a formula (parameters by value)"),
    "latex": (":latex [NAME]", "the network as LaTeX"),
    "derive": (":derive [NAME] WRT [--component K]", "d NAME / d WRT as a formula"),
    "dot": (":dot [NAME] [FILE]", "the graph as Graphviz DOT, or drawn into FILE (.svg, .png)"),
    "train": (":train NAME data.csv [--target y --loss bce --epochs 200 --lr 0.1 ...]",
              "train NAME in place on a CSV file (columns named by the header)"),
    "save": (":save NAME FILE", "save NAME to a .tn file"),
    "load": (":load FILE [as NAME]", "load a .tn file and bind it (default name: the file's)"),
    "reset": (":reset", "forget every binding and value"),
    "quit": (":quit", "leave (also Ctrl-D)"),
}


class Session:
    """Statements of the language run one `run` after another, with their bindings kept: after
    `run("h = relu(linear(x, y))")`, `run("sigmoid(linear(h))")` reads the same `h` (the same
    nodes, inputs and parameters). `names` holds the bindings; `values` the input values given
    with `set`. A text that fails changes nothing. `seed` makes the `p` parameters reproducible."""

    def __init__(self, seed=None):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, str,
                                                                                  bytes))):
            raise TreenetError(f"Session: seed must be an integer (or a string), got {seed!r}")
        self.seed = seed
        self.reset()

    def reset(self):
        """Forget every binding, input value and network."""
        self._rng = random.Random(self.seed)
        self._bindings = Bindings()
        self.values = {}
        self.last = None
        return "reset: no bindings"

    # --- running text -------------------------------------------------------------------------
    def run(self, text):
        """Run the statements of `text`; returns the network of the last expression statement
        (compiled), or None. A ParseError (with a caret) leaves the session as it was."""
        if not isinstance(text, str):
            raise TreenetError(f"Session.run takes the text of statements (a str), got "
                               f"{type(text).__name__}")
        state = self._rng.getstate()
        try:
            root, self._bindings = run_statements(text, self._bindings, self._rng)
        except BaseException:
            self._rng.setstate(state)
            raise
        if root is not None:
            self.last = root
        return root

    @property
    def names(self):
        """name -> what it is bound to: a node (a network), a list of nodes (a vector) or a
        Definition (a `def`)."""
        out = {}
        for name, value in self._bindings.names.items():
            items, net = elements(value), as_network(value)
            if items is not None:
                out[name] = items
            elif net is not None:
                out[name] = net
            else:
                out[name] = Definition(value.name, value.params)
        return out

    @property
    def inputs(self):
        """input name -> Input node, for every input the session's statements mentioned."""
        return dict(self._bindings.inputs)

    def execute(self, line):
        """One line of the REPL: a `:` command or statements. Returns the text to show."""
        if not isinstance(line, str):
            raise TreenetError(f"Session.execute takes a line of text (a str), got "
                               f"{type(line).__name__}")
        if line.lstrip().startswith(":"):
            return self.command(line.lstrip()[1:])
        net = self.run(line)
        return "" if net is None else self.show(net)

    def show(self, net):
        """An expression's formula (parameters by name), and its value when every input has one."""
        text = funcify(net, params="name")
        given = self._reading(net, self.values)
        if len(given) == len(net.inputs):
            text += "\n= " + format_value(_at(net, given))
        return text

    @staticmethod
    def _reading(net, values):
        """The values (by input name) that this network reads."""
        return {leaf.name: values[leaf.name] for leaf in net.inputs if leaf.name in values}

    # --- `:` commands ---------------------------------------------------------------------------
    def command(self, text):
        """Run a `:` command (without the colon), e.g. "grad net x=1"; returns its text."""
        try:
            words = shlex.split(text)
        except ValueError as exc:
            raise TreenetError(f"cannot read the command: {exc}") from None
        if not words:
            return self.help()
        name, args = words[0], words[1:]
        if name in ("q", "exit"):
            name = "quit"
        _check_command(name)
        return getattr(self, "cmd_" + name)(args)

    def help(self, command=None):
        """The list of commands, or one command's usage."""
        if command is not None:
            command = command.lstrip(":")
            _check_command(command)
            usage, what = COMMANDS[command]
            return f"{usage}\n    {what}"
        width = max(len(usage) for usage, _ in COMMANDS.values() if len(usage) < 34)
        lines = ["Each line is a statement of the language (h = relu(linear(x, y)), then an "
                 "expression such as sigmoid(linear(h))), or a command:"]
        for usage, what in COMMANDS.values():
            lines.append(f"  {usage.ljust(width)}  {what}" if len(usage) <= width
                         else f"  {usage}\n  {'':{width}}  {what}")
        return "\n".join(lines)

    def cmd_help(self, args):
        return self.help(args[0] if args else None)

    def cmd_quit(self, args):
        raise Quit()

    def cmd_reset(self, args):
        return self.reset()

    def cmd_vars(self, args):
        lines = []
        inputs = self._bindings.inputs
        if inputs:
            shown = [f"{name}={number(self.values[name])}" if name in self.values else name
                     for name in inputs]
            lines.append("inputs: " + ", ".join(shown))
        names = self.names
        width = max([len(n) for n in names] or [0])
        for name, value in names.items():
            lines.append(f"{name.ljust(width)}  {_summary(value)}")
        return "\n".join(lines) or "no bindings yet"

    def cmd_set(self, args):
        if not args:
            given = ", ".join(f"{k}={number(v)}" for k, v in self.values.items())
            return given or "no input values set (:set x=1 y=2)"
        values = point(list(self._bindings.inputs.values()), parse_values(args), require=False,
                       of="the session", advice="an input is named in a statement first")
        self.values.update(values)
        return ", ".join(f"{k}={number(v)}" for k, v in values.items())

    def _target(self, args, options=()):
        """(the network named by the first word when it is a name and not one of `options`,
        else the last expression's; the other words)."""
        if args and _NAME.match(args[0]) and args[0] not in options:
            return self.network(args[0]), args[1:]
        return self.network(None), args

    def network(self, name=None):
        """The network bound to `name` (None: the last expression's), compiled."""
        if name is None:
            if self.last is None:
                raise TreenetError("no network yet: write an expression first, or name one")
            return self.last
        value = self._bindings.names.get(name)
        if value is None:
            close = difflib.get_close_matches(name, list(self._bindings.names), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TreenetError(f"{name!r} is not bound{hint}")
        net = as_network(value)
        if net is None:
            raise TreenetError(f"{name} is a def: call it to make a network, e.g. "
                               f"net = {name}(...)")
        return net.compile() if net._graph is None else net

    def _point_args(self, net, args):
        """(the values `net` reads: those `set`, updated by the x=1 words among `args`; the other
        words)."""
        values = self._reading(net, self.values)
        values.update(point(net.inputs, parse_values([a for a in args if "=" in a]),
                            require=False))
        return values, [a for a in args if "=" not in a]

    def cmd_grad(self, args):
        component, args = _component(args)
        net, rest = self._target(args)
        values, rest = self._point_args(net, rest)
        _no_more(rest, "grad")
        return grad_text(net, values, component)

    def cmd_check(self, args):
        component, args = _component(args)
        net, rest = self._target(args)
        values, rest = self._point_args(net, rest)
        _no_more(rest, "check")
        return check_text(net, values, component)[0]

    def cmd_print(self, args):
        net, rest = self._target(args, PARAMS)
        params = rest[0] if rest else "value"
        _no_more(rest[1:], "print")
        if params not in PARAMS:
            raise TreenetError(f":print shows parameters by value, name or p, not {params!r}")
        return formula_text(net, params)

    def cmd_latex(self, args):
        net, rest = self._target(args)
        _no_more(rest, "latex")
        return latex_text(net)

    def cmd_derive(self, args):
        component, args = _component(args)
        if len(args) == 2:
            net, wrt = self.network(args[0]), args[1]
        elif len(args) == 1:
            net, wrt = self.network(None), args[0]
        else:
            raise TreenetError("usage: " + COMMANDS["derive"][0])
        return derive_text(net, wrt, component=component)

    def cmd_dot(self, args):
        net, rest = self._target(args)
        values, rest = self._point_args(net, rest)
        if len(rest) > 1:
            raise TreenetError("usage: " + COMMANDS["dot"][0])
        if len(values) != len(net.inputs):
            values = None  # not every input has a value: the graph without numbers
        return dot_text(net, values, rest[0] if rest else None)

    def cmd_train(self, args):
        ap = add_train_options(_Parser(prog=":train", add_help=False))
        ap.add_argument("name")
        ap.add_argument("csv")
        options = ap.parse_args(args)
        return train_text(self.network(options.name), options.csv, options)

    def cmd_save(self, args):
        if len(args) != 2:
            raise TreenetError("usage: " + COMMANDS["save"][0])
        net = self.network(args[0])
        _save(net, args[1])
        return f"saved {args[0]} to {args[1]}"

    def cmd_load(self, args):
        if len(args) == 3 and args[1] == "as":
            path, name = args[0], args[2]
        elif len(args) == 1:
            path, name = args[0], Path(args[0]).stem
        else:
            raise TreenetError("usage: " + COMMANDS["load"][0])
        self.load(path, name)
        return f"{name} = {self.show(self.last)}"

    def load(self, path, name):
        """Load a saved network and bind it to `name`; its inputs become the session's inputs of
        the same names (one node per name, as in a program)."""
        if not isinstance(name, str) or not _NAME.match(name) or name in reserved_names():
            raise TreenetError(f"{name!r} cannot name a binding: write :load FILE as NAME")
        state = self._rng.getstate()
        try:
            net = _load(path, seed=self._rng.randrange(2**32))  # for a bare p in the file
        except BaseException:
            self._rng.setstate(state)
            raise
        inputs = dict(self._bindings.inputs)
        net = _share_inputs(net, inputs)
        names = dict(self._bindings.names)
        names[name] = net
        self._bindings = Bindings(names, inputs, self._bindings.declared)
        self.last = net
        return net


def _share_inputs(net, inputs):
    """`net` with each Input replaced by `inputs`' node of that name (added when new)."""
    graph = net.graph

    def shared(leaf):
        return inputs.setdefault(leaf.name, leaf)

    if isinstance(net, Input):
        return shared(net)
    for node in graph.nodes:
        for k, child in enumerate(node.children):
            if isinstance(child, Input):
                node.children[k] = shared(child)
    if net.declared_inputs:
        net.declared_inputs = [shared(leaf) for leaf in net.declared_inputs]
    return net.compile()


def _summary(value, limit=100):
    """A binding in one line, cut at `limit` characters."""
    if isinstance(value, Definition):
        return repr(value)
    if isinstance(value, list):
        text = "[" + ", ".join(describe(v) for v in value[:8]) + \
            (", ..." if len(value) > 8 else "") + "]"
    else:
        text = describe(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _check_command(name):
    """A TreenetError with a did-you-mean unless `name` is a `:` command."""
    if name not in COMMANDS:
        close = difflib.get_close_matches(name, list(COMMANDS), n=1)
        hint = f"; did you mean :{close[0]}?" if close else ""
        raise TreenetError(f"unknown command :{name}{hint} (:help lists them)")


def _component(args):
    """(K of a `--component K` among the words, or None; the other words), as the command
    spells it."""
    if "--component" not in args:
        return None, args
    k = args.index("--component")
    try:
        return int(args[k + 1]), args[:k] + args[k + 2:]
    except (IndexError, ValueError):
        raise TreenetError("--component needs a whole number K, the component's position "
                           "(--component 0)") from None


def _no_more(rest, command):
    if rest:
        raise TreenetError(f"unexpected {' '.join(rest)!r}: usage: {COMMANDS[command][0]}")


__all__ = ["Session", "Definition", "Quit", "COMMANDS", "format_value", "parse_values", "point",
           "value_text", "grad_text", "check_text", "formula_text", "latex_text", "derive_text",
           "dot_text", "add_train_options", "train_text"]
