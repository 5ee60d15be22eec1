"""Parser hardening (issues 7 and 8), one test per reproduction in the order of the issues' lists:
duplicate input declarations, unclosed brackets, vectors in arithmetic located where they are
written, operators found in the op registry, vectors and element-wise calls counted against the
expansion budget, CR line ends, a capped list of known functions, float64's range at both ends,
and lark's tables cached between interpreters."""

import os
from pathlib import Path
import subprocess
import sys

import pytest

from treenet import ParseError, parse
from treenet import lalr, parser as parser_module
from treenet.errors import ParseError as BareParseError
from treenet.ops import PRODUCT, REGISTRY, Multiply

ROOT = Path(__file__).resolve().parent.parent


def _error(source):
    with pytest.raises(ParseError) as info:
        parse(source)
    return info.value


def _shown(err):
    """The source line and the caret line of a ParseError's message, without their indent."""
    lines = str(err).split("\n")
    return lines[1][4:], lines[2][4:]


# --- A. an input declared twice -----------------------------------------------------------------

@pytest.mark.parametrize("source, line, column", [
    ("input x, x\nx", 1, 10),
    ("input x\ninput y, x\nx", 2, 10),
    ("input v[2], v_1\nv[0]", 1, 13),
])
def test_an_input_declared_twice_is_refused_at_the_second(source, line, column):
    err = _error(source)
    assert (err.line, err.column) == (line, column)
    assert "declared twice" in str(err)


# --- B. a bracket never closed --------------------------------------------------------------------

@pytest.mark.parametrize("source, line, column, bracket", [
    ("h = tanh(x\nsigmoid(h)", 1, 9, "("),
    ("v = [x, y\nsigmoid(v[0])", 1, 5, "["),
    ("a = 1\nb = max(a,\n  relu(a)\nb\n", 2, 8, "("),
    ("relu(x", 1, 5, "("),
])
def test_an_unclosed_bracket_is_blamed_not_the_next_line(source, line, column, bracket):
    err = _error(source)
    assert (err.line, err.column) == (line, column)
    assert f"{bracket!r} was never closed" in str(err)
    text, caret = _shown(err)
    assert text[caret.index("^")] == bracket


@pytest.mark.parametrize("source, line, column, fragment", [
    # balanced brackets: the error stays where it is, even across lines inside them
    ("f = max(x,\n  y z)\nf", 2, 5, "unexpected 'z'"),
    ("h = tanh(x +)\nh", 1, 13, "unexpected ')'"),
    ("x)", 1, 2, "unmatched ')'"),
    ("max(x, y]", 1, 9, "does not match the '(' at line 1, column 4"),
])
def test_with_balanced_brackets_the_error_stays_in_place(source, line, column, fragment):
    err = _error(source)
    assert (err.line, err.column) == (line, column)
    assert fragment in str(err)


# --- C. a vector in arithmetic: the caret on the vector -----------------------------------------

@pytest.mark.parametrize("source, line, column, word", [
    ("x + softmax(x, y)", 1, 5, "softmax"),
    ("v = [x, y]\ny + v * 2", 2, 5, "v"),
    ("y + [x, y]", 1, 5, "["),
    ("input u[2]\n2 * tanh(u)", 2, 5, "tanh"),
    ("s = softmax(x, y)\nx - s", 2, 5, "s"),
    ("y * -dense(2, x)", 1, 6, "dense"),
])
def test_a_vector_in_arithmetic_is_located_where_it_is_written(source, line, column, word):
    err = _error(source)
    assert (err.line, err.column) == (line, column)
    text, caret = _shown(err)
    assert text[caret.index("^"):].startswith(word)


# --- D. operators come from the registry ------------------------------------------------------------

def test_an_operator_class_is_found_by_its_declared_symbol():
    # the registry refuses a second class with a taken symbol, so Times takes Multiply's place
    saved = dict(REGISTRY)
    REGISTRY.pop("Multiply")
    try:
        class Times(Multiply):
            """a * b * ..., declared again: the parser must find it by its symbol"""
            symbol, notation, precedence, arity = "*", "infix", PRODUCT, (1, None)

        net = parse("x * y * 3")
        assert type(net) is Times and len(net.children) == 3
        assert net.predict([2.0, 5.0]) == 30.0
    finally:
        REGISTRY.clear()
        REGISTRY.update(saved)
    assert type(parse("x * y")) is Multiply


# --- E. vectors and element-wise calls count against the expansion budget --------------------------

def test_doubling_a_vector_is_refused_quickly():
    # 345 bytes that used to run for a minute into a MemoryError at 6 GB
    err = _error("v = [x, x]\n" + "v = [v, v]\n" * 30 + "v[0]")
    assert str(parser_module.MAX_NODES) in str(err)


def test_doubling_a_vector_meets_the_budget_where_it_passes_the_limit(monkeypatch):
    monkeypatch.setattr(parser_module, "MAX_NODES", 1000)
    # line k builds 2^k elements; 2 + 4 + ... + 2^9 = 1022 is the first total past 1000
    err = _error("v = [x, x]\n" + "v = [v, v]\n" * 15 + "v[0]")
    assert (err.line, err.column) == (9, 5)
    assert "1000 " in str(err)


def test_an_element_wise_call_counts_each_element(monkeypatch):
    monkeypatch.setattr(parser_module, "MAX_NODES", 1000)
    # 300 inputs, then a node and an edge per element: 300 + 600 fits, a second tanh does not
    err = _error("input v[300]\nv = tanh(v)\nv = tanh(v)\nv[0]")
    assert (err.line, err.column) == (3, 5)
    assert parse("input v[300]\nv = tanh(v)\nv[7]").predict([0.5] * 300) == \
        pytest.approx(0.46211715726000974)


def test_a_softmax_over_a_spread_vector_counts_its_arguments(monkeypatch):
    monkeypatch.setattr(parser_module, "MAX_NODES", 1000)
    err = _error("input v[400]\nsoftmax(v, v)")
    assert (err.line, err.column) == (2, 1)


@pytest.mark.parametrize("source", ["dense(1000000000, x)", "dense(1e300, x, y)",
                                    "input v[1000000000]\nv[0]"])
def test_a_huge_layer_or_input_vector_is_refused_before_it_is_built(source):
    assert str(parser_module.MAX_NODES) in str(_error(source))


# --- F. CR line ends, a capped list of functions, float64's range ------------------------------------

@pytest.mark.parametrize("source, value", [
    ("a = 1\rb = 2\ra + b", 3.0),
    ("a = 1\r\rb = 2\r\n\ra*b # note\r", 2.0),
    ("max(1,\r 2)", 2.0),
])
def test_a_lone_cr_ends_a_line(source, value):
    assert parse(source).predict([]) == value


@pytest.mark.parametrize("source, line, column, text", [
    ("x\r+ y", 2, 1, "+ y"),
    ("a = 1\r\nb = 2\rc = 3\n2 $", 4, 3, "2 $"),
    ("# note\rsigmod(x)", 2, 1, "sigmod(x)"),
])
def test_cr_line_ends_count_in_lines_columns_and_the_caret(source, line, column, text):
    err = _error(source)
    assert (err.line, err.column) == (line, column)
    assert _shown(err) == (text, " " * (column - 1) + "^")


def test_the_caret_context_splits_lines_at_cr_too():
    err = BareParseError("bad", 2, 3, "a\r\nb $\rc")
    assert _shown(err) == ("b $", "  ^")


def test_an_unknown_function_lists_only_a_few_of_thousands_of_macros():
    source = "".join(f"def m{i}(a) = a\n" for i in range(2000)) + "zzqq(x)"
    err = _error(source)
    assert len(str(err)) < 400
    assert "more" in str(err) and "m1999" not in str(err)


@pytest.mark.parametrize("literal, fragment", [
    ("1e-400", "1e-400 underflows to 0 in float64; write 0"),
    ("2.5e-999", "underflows"),
    ("1e309", "1e309 overflows float64"),
])
def test_a_literal_outside_float64_is_an_error_at_both_ends(literal, fragment):
    err = _error(f"x + {literal}")
    assert (err.line, err.column) == (1, 5)
    assert fragment in str(err).replace(" (the smallest is about 5e-324)", "")


@pytest.mark.parametrize("literal, value", [("0e-400", 0.0), ("0.000e999", 0.0),
                                            ("5e-324", 5e-324), ("1e308", 1e308)])
def test_zero_and_the_ends_of_float64_are_fine(literal, value):
    assert parse(literal).predict([]) == value


# --- G. lark's tables are cached between interpreters ------------------------------------------------

PROBE = """
import lark
loads = []
original = lark.Lark._load
lark.Lark._load = lambda self, *a, **k: loads.append(1) or original(self, *a, **k)
import treenet
print(treenet.parse("x*2").predict([3]), len(loads))
"""


def _fresh_interpreter(cache_home):
    env = dict(os.environ, XDG_CACHE_HOME=str(cache_home), PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_a_second_interpreter_loads_the_cached_tables(tmp_path):
    assert _fresh_interpreter(tmp_path) == ["6.0", "0"]  # built, and saved
    cached = list((tmp_path / "treenet").iterdir())
    assert len(cached) == 1
    assert _fresh_interpreter(tmp_path) == ["6.0", "1"]  # loaded
    cached[0].write_bytes(b"not a cache\n\x00\x01")
    assert _fresh_interpreter(tmp_path) == ["6.0", "0"]  # ignored, rebuilt
    assert not cached[0].read_bytes().startswith(b"not a cache")  # and saved again


def test_an_unwritable_cache_dir_means_no_cache(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert lalr.cache_file(parser_module._grammar_text()) is False
    runner = lalr.FastLALR(parser_module._grammar_text())
    assert runner.parse("x", lambda rule, children: rule) == "start"
