"""The parser fuzz battery: seeded random programs and random mutations of them (characters
inserted, deleted or replaced, a statement repeated many times). Whatever the text, parse either
returns a network or raises a ParseError whose line and column lie inside the text and whose
message shows that line with a caret under the column; never another exception, and never a
blow-up (the expansion budget is lowered so that a doubling program meets it at once)."""

import random
import re

import pytest

from treenet import ParseError, parse
from treenet import parser as parser_module
from treenet.nodes import NeuralNetNode

SEED = 20240607
PROGRAMS = 300
BUDGET = 20_000

NAMES = ["x", "y", "z", "h", "v", "w", "f", "g", "p", "relu", "sigmod", "input", "def"]
CALLS = ["tanh", "sigmoid", "relu", "exp", "log", "abs", "max", "min", "softmax", "linear",
         "dense", "p", "f", "g", "nope"]
NUMBERS = ["0", "1", "2", ".5", "3.25", "1e-3", "1e309", "1e-400", "5e-324", "0e-999", "1e308"]
OPERATORS = [" + ", " - ", " * ", " / ", "^", "**"]
# what a mutation may insert: the language's own characters, line ends of every kind, and junk
NOISE = list("()[],;=+-*/^#\\ \t\n\r.eE0123456789xpv_") + ["\r\n", "**", "def ", "input ",
                                                          "@", "'", "\u00e9", "\x00", "\f"]


def _expression(rng, depth):
    if depth <= 0 or rng.random() < 0.3:
        return rng.choice(NAMES[:7] + NUMBERS)
    kind = rng.random()
    if kind < 0.35:
        return _expression(rng, depth - 1) + rng.choice(OPERATORS) + _expression(rng, depth - 1)
    if kind < 0.45:
        return "-" + _expression(rng, depth - 1)
    if kind < 0.55:
        return "(" + _expression(rng, depth - 1) + ")"
    if kind < 0.65:
        items = [_expression(rng, depth - 1) for _ in range(rng.randint(1, 3))]
        return "[" + ", ".join(items) + "]"
    if kind < 0.72:
        return rng.choice(["v", "[x, y]", "dense(2, x)"]) + f"[{rng.randint(0, 2)}]"
    args = [_expression(rng, depth - 1) for _ in range(rng.randint(1, 3))]
    name = rng.choice(CALLS)
    if name == "dense":
        args.insert(0, str(rng.randint(1, 3)))
    return f"{name}(" + ", ".join(args) + ")"


# statements that double or re-apply themselves: repeated, they test the expansion budget
GROWING = ["v = [v, v]", "v = tanh(v)", "v = [v, x, v]", "w = softmax(v, v)", "h = h + h",
           "def f(a, b) = [a, b]", "v = f(v, v)", "v = dense(3, v)", "v = max(v, v)"]


def _statement(rng):
    kind = rng.random()
    if kind < 0.1:
        return rng.choice(GROWING)
    if kind < 0.45:
        return f"{rng.choice(NAMES)} = {_expression(rng, 3)}"
    if kind < 0.65:
        return f"def {rng.choice(['f', 'g', 'tanh'])}(a, b) = {_expression(rng, 3)}"
    if kind < 0.8:
        decls = [rng.choice(["x", "y", "v[3]", "v[0]", "x[2]", "z"]) for _ in range(2)]
        return "input " + ", ".join(decls)
    return _expression(rng, 3)


def _program(rng):
    statements = [_statement(rng) for _ in range(rng.randint(0, 4))]
    statements.append(_expression(rng, 4))
    separators = [rng.choice(["\n", "; ", "\r\n", "\r", "\n\n  # note\n"]) for _ in statements]
    return "".join(s + sep for s, sep in zip(statements, separators))[:-1]


def _mutate(rng, text):
    if rng.random() < 0.2:
        lines = text.split("\n")
        at = rng.randrange(len(lines))
        lines[at:at + 1] = [rng.choice(GROWING)] * rng.randint(10, 30)
        return "v = [x, y]\nh = x\n" + "\n".join(lines)
    chars = list(text)
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(chars))
        action = rng.random()
        if action < 0.4 or not chars:
            chars.insert(at, rng.choice(NOISE))
        elif action < 0.7:
            del chars[min(at, len(chars) - 1)]
        else:
            chars[min(at, len(chars) - 1)] = rng.choice(NOISE)
    return "".join(chars)


def _cases():
    rng = random.Random(SEED)
    for _ in range(PROGRAMS):
        program = _program(rng)
        yield program
        yield _mutate(rng, program)


def _lines(text):
    """The lines as the parser counts them: CRLF, a lone CR and LF each end one."""
    return re.split(r"\r\n|\r|\n", text)


def _check(text):
    try:
        net = parse(text, seed=0)
    except ParseError as err:
        lines = _lines(text)
        assert 1 <= err.line <= len(lines), (text, str(err))
        line = lines[err.line - 1].expandtabs(1)
        assert 1 <= err.column <= len(line) + 1, (text, str(err))
        # the message, then the source line (clipped to 100 characters around the column), then
        # the caret under the column
        shown = str(err).split("\n")
        assert len(shown) >= 3 and shown[2].strip() == "^", (text, str(err))
        above, caret = shown[1][4:], shown[2][4:]
        assert above in line and len(above) == min(len(line), 100), (text, str(err))
        assert line.index(above) + caret.index("^") == err.column - 1, (text, str(err))
        return "error"
    assert isinstance(net, NeuralNetNode), text
    return "network"


def test_fuzzed_programs_give_a_network_or_a_located_parse_error(monkeypatch):
    monkeypatch.setattr(parser_module, "MAX_NODES", BUDGET)
    outcomes = {"error": 0, "network": 0}
    for text in _cases():
        try:
            outcomes[_check(text)] += 1
        except AssertionError:
            raise
        except Exception as exc:  # anything but a ParseError is a parser failure
            pytest.fail(f"{type(exc).__name__}: {exc} for {text!r}")
    # the battery exercises both sides: it is not all syntax errors
    assert outcomes["network"] >= 20 and outcomes["error"] >= 100, outcomes
