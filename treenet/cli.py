"""The `treenet` command (also `python -m treenet`): evaluate, differentiate, check, print and
draw a formula at a point, train it on a CSV file, run the REPL or the demo.

EXPR is a formula, a path to a `.tn` file (a saved network or any program), or `-` for standard
input. Values are NAME=NUMBER words (NAME=1,2,3 for an input vector). Errors print their message
(with the caret for a formula) on stderr and exit 1; usage errors exit 2. With no arguments the
command runs the demo (`treenet demo --help`)."""

import argparse
import difflib
import os
import sys

from . import __version__
from .errors import ParseError, TreenetError

EXAMPLES = {
    "eval": ("the network's output at a point", "treenet eval 'x*2 + y' x=3 y=1"),
    "grad": ("every gradient at a point, as a table", "treenet grad 'x*y' x=2 y=3"),
    "check": ("the gradient check table: backward against sympy's exact derivative and finite "
              "differences (exit 1 when it fails)", "treenet check 'tanh(x*y)' x=0.5 y=2"),
    "print": ("the compiled network as a formula", "treenet print 'linear(x, y)' --seed 0"),
    "latex": ("the network as LaTeX", "treenet latex 'sigmoid(p*x + p)' --seed 0"),
    "dot": ("the graph as Graphviz DOT on stdout, or drawn into a file with -o",
            "treenet dot 'tanh(x*y) + x' x=1 y=2 -o graph.svg"),
    "derive": ("the derivative as a formula", "treenet derive 'x^3 + x*y' --wrt x"),
    "train": ("train on a CSV file whose header names the inputs and the target, then print "
              "the final loss (and accuracy) and the trained formula",
              "treenet train 'sigmoid(linear(x, y))' data.csv --target label --loss bce "
              "--optimizer adam --lr 0.1 --epochs 200 --seed 0 --save model.tn"),
    "repl": ("statements and : commands one line at a time (:help lists them)",
             "treenet repl    or    treenet repl < session.tn"),
    "demo": ("the demo: train XOR (or --task line, or a formula of x and y) and print it",
             "treenet demo --task line --epochs 50"),
}
# the demo's flags, once the top level's: `treenet --task line` still runs the demo
_DEMO_FLAGS = ("--task", "--epochs", "--lr", "--optimizer", "--seed", "--save", "--quiet")


def parser():
    """The argparse parser of the command."""
    ap = argparse.ArgumentParser(prog="treenet", description=__doc__.split("\n\n")[0],
                                 epilog="run `treenet COMMAND --help` for one command's options "
                                 "and an example",
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", action="version", version=f"treenet {__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    commands = {}
    for name, (what, example) in EXAMPLES.items():
        commands[name] = sub.add_parser(name, help=what, description=what[0].upper() + what[1:]
                                        + ".", epilog=f"example:\n  {example}",
                                        formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in ("eval", "grad", "check", "print", "latex", "dot", "derive", "train"):
        _expr(commands[name], seed=name != "train")  # train's --seed is among its options
    for name in ("eval", "grad", "check", "dot"):
        commands[name].add_argument("values", nargs="*", metavar="NAME=VALUE",
                                    help="input values: x=1 y=-2 (v=1,2,3 for a vector)")
    for name in ("grad", "check", "derive"):
        commands[name].add_argument("--component", type=int, metavar="K",
                                    help="for a vector output: which component")
    for name, default in (("print", "value"), ("latex", "name"), ("derive", "value")):
        commands[name].add_argument("--params", choices=["value", "name", "p"], default=default,
                                    help=f"parameters by value, by name, or as p(...) bindings "
                                    f"(default: {default})")
    commands["dot"].add_argument("-o", "--output", metavar="FILE",
                                 help="draw into FILE (.svg, .png, .pdf) instead of printing DOT")
    commands["derive"].add_argument("--wrt", metavar="NAME",
                                    help="the variable (default: the only input)")
    train = commands["train"]
    train.add_argument("csv", metavar="DATA.csv", help="the data; its header names the columns")
    from .session import add_train_options
    add_train_options(train)
    commands["repl"].add_argument("--seed", type=int, help="seed for the initial parameters")
    commands["demo"].add_argument("args", nargs=argparse.REMAINDER,
                                  help="the demo's own options (treenet demo --help)")
    return ap


def _expr(command, seed):
    command.add_argument("expr", metavar="EXPR", help="a formula, a .tn file, or - for stdin "
                         "(a formula that starts with '-' goes after --)")
    if seed:
        command.add_argument("--seed", type=int, help="seed for the initial values of p")


def read_network(expr, seed=None):
    """The network EXPR names: a formula, a `.tn` file, or `-` (standard input)."""
    from . import io, parse
    try:
        if expr == "-":
            if sys.stdin is None:  # started with its standard input closed (`<&-`)
                raise TreenetError("EXPR is '-', but standard input is closed: give the "
                                   "formula or a .tn file instead")
            # the bytes, so a file that is not UTF-8 is told as such, as load tells it
            return io.load(getattr(sys.stdin, "buffer", sys.stdin), seed=seed)
        if expr.endswith(".tn"):
            return io.load(expr, seed=seed)
        return parse(expr, seed=seed)
    except ParseError as exc:
        if expr == "-" or expr.endswith(".tn"):
            exc.args = (f"{'<stdin>' if expr == '-' else expr}: {exc}",)
        raise


def _run(args):
    """Run one parsed command; returns the exit status."""
    from . import session as s
    if args.command == "repl":
        from .repl import main as repl
        return repl(args.seed)
    net = read_network(args.expr, args.seed)
    if args.command == "train":
        _out(s.train_text(net, args.csv, args))
        return 0
    values = s.parse_values(getattr(args, "values", []))
    if args.command == "eval":
        _out(s.value_text(net, values))
    elif args.command == "grad":
        _out(s.grad_text(net, values, args.component))
    elif args.command == "check":
        text, ok = s.check_text(net, values, args.component)
        _out(text)
        return 0 if ok else 1
    elif args.command == "print":
        _out(s.formula_text(net, args.params))
    elif args.command == "latex":
        _out(s.latex_text(net, args.params))
    elif args.command == "derive":
        _out(s.derive_text(net, args.wrt, args.params, args.component))
    elif args.command == "dot":
        _out(s.dot_text(net, values, args.output))
    return 0


def _unknown_command(ap, word):
    close = difflib.get_close_matches(word, list(EXAMPLES), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    ap.print_usage(sys.stderr)
    print(f"treenet: error: unknown command {word!r}{hint} (commands: {', '.join(EXAMPLES)})",
          file=sys.stderr)
    return 2


def main(argv=None):
    """The command with arguments `argv` (default: sys.argv[1:]); returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0].split("=")[0] in _DEMO_FLAGS:
        from .demo import run
        return run(argv)
    if argv[0] == "demo":
        from .demo import run
        return run(argv[1:])
    ap = parser()
    if not argv[0].startswith("-") and argv[0] not in EXAMPLES:
        return _unknown_command(ap, argv[0])
    try:
        args = ap.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) and usage errors (2)
        return exc.code
    if args.command is None:
        ap.print_help()
        return 0
    try:
        return _run(args)
    except TreenetError as exc:
        print(f"treenet: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("treenet: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`treenet dot ... | head`): no second error when Python flushes
        _drop_stdout()
        return 1
    except _Unwritable as exc:
        _drop_stdout()
        print(f"treenet: cannot write the output: {exc}", file=sys.stderr)
        return 1


class _Unwritable(Exception):
    """Standard output refused the result (a full disk, /dev/full)."""


def _out(text):
    """Print `text` and flush it now, so a write that fails is reported, not raised at exit."""
    if sys.stdout is None:  # started with `>&-`: print would drop the text without a word
        raise _Unwritable("standard output is closed")
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:  # an OSError too, but main's own case: the reader left, say nothing
        raise
    except OSError as exc:
        raise _Unwritable(exc.strerror or str(exc)) from exc


def _drop_stdout():
    """Send what is left in stdout's buffer to /dev/null: Python's flush at exit then has
    nothing to fail on."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file behind it (a test's capture)
        pass
    finally:
        os.close(devnull)


__all__ = ["main", "parser", "read_network", "EXAMPLES"]
