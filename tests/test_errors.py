"""Errors: a table of bad programs with where they fail (1-based line and column, the fault's first
character) and what the message must say; evaluation errors naming the failing sub-expression;
and a fuzz test that nothing but a TreenetError ever escapes, whatever the text."""

import math
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import treenet
from treenet import EvaluationError, ParseError, TreenetError, parse

BAD = [
    # (source, line, column, fragment of the message)
    # syntax
    ("x +\ny", 1, 4, "unexpected"),
    ("x $ y", 1, 3, "$"),
    ("2 x", 1, 3, "unexpected"),
    ("x = = 1", 1, 5, "="),
    ("x +* y", 1, 4, "*"),
    ("a = 1\nb = (a +\n  2))\nb", 3, 5, ")"),
    ("(x + 1", 1, 1, "'(' was never closed"),
    ("relu(x", 1, 5, "'(' was never closed"),
    ("", 1, 1, "the program is empty"),
    ("# only a comment\n;", 1, 1, "the program is empty"),
    # unknown functions, with a did-you-mean
    ("sigmod(x)", 1, 1, "sigmoid"),
    ("y = 1\nz = tanhh(x)\nz", 2, 5, "tanh"),
    ("2*rellu(x)", 1, 3, "relu"),
    ("max(x,\n  sigmod(y))", 2, 3, "sigmoid"),
    ("def g(a) = sigmod(a)\ng(1)", 1, 12, "sigmoid"),
    # arity, naming the function
    ("relu(x, y)", 1, 1, "relu"),
    ("a = 1\n\n\nb = relu(a, a)\nb", 4, 5, "relu"),
    ("x = 1 # note\ny = sigmoid(x, x)\ny", 2, 5, "sigmoid"),
    ("x + sigmoid()", 1, 5, "sigmoid"),
    ("max(x)", 1, 1, "max"),
    ("min(x)", 1, 1, "min"),
    ("linear()", 1, 1, "linear"),
    ("def f(a) = a\nf(1, 2)", 2, 1, "f"),
    # p takes a number only
    ("p(x)", 1, 1, "p("),
    ("c = 2\np(c)", 2, 1, "p("),
    ("p(1, 2)", 1, 1, "p("),
    # p and function names cannot be bound
    ("p = 3\np", 1, 1, "p"),
    ("relu = 1\nrelu(2)", 1, 1, "relu"),
    ("x = 1\nexp = 2\nexp", 2, 1, "exp"),
    ("def relu(a) = a\n1", 1, 5, "relu"),
    ("def f(p) = p\nf(1)", 1, 7, "p"),
    # only the last statement is a bare expression, and the last is an expression
    ("x; y", 1, 1, "last"),
    ("a = 1\nx + 1\na", 2, 1, "last"),
    ("x = 1", 1, 1, "expression"),
    ("x = 1\ny = 2", 2, 1, "expression"),
    # recursion
    ("def f(a) = f(a)\nf(1)", 1, 12, "f"),
    ("def f(a) = 1 + f(a - 1)\nf(3)", 1, 16, "f"),
    # literals that overflow
    ("1e999", 1, 1, "1e999"),
    ("x + 1e999", 1, 5, "1e999"),
    ("p(1e999)", 1, 3, "1e999"),
    # vectors outside the root
    ("softmax(x, y) + 1", 1, None, "softmax"),
]

IDS = [repr(case[0]) for case in BAD]


@pytest.mark.parametrize("source,line,column,fragment", BAD, ids=IDS)
def test_parse_error_location(source, line, column, fragment):
    with pytest.raises(ParseError) as info:
        parse(source)
    assert info.value.line == line
    if column is not None:
        assert info.value.column == column


@pytest.mark.parametrize("source,line,column,fragment", BAD, ids=IDS)
def test_parse_error_message(source, line, column, fragment):
    with pytest.raises(ParseError) as info:
        parse(source)
    assert fragment in str(info.value)


@pytest.mark.parametrize("source,line,column,fragment", BAD, ids=IDS)
def test_parse_error_shows_source_line_and_caret(source, line, column, fragment):
    with pytest.raises(ParseError) as info:
        parse(source)
    err = info.value
    text_lines = str(err).splitlines()
    source_line = (source.splitlines() or [""])[err.line - 1]
    shown = [k for k, s in enumerate(text_lines) if s.strip() == source_line.strip()
             and k + 1 < len(text_lines) and text_lines[k + 1].strip() == "^"]
    assert shown, str(err)
    k = shown[0]
    # the caret stands under the column the error names
    offset = text_lines[k].index(source_line) if source_line else len(text_lines[k])
    assert text_lines[k + 1].index("^") == offset + err.column - 1


def test_wrong_arity_says_what_it_takes():
    with pytest.raises(ParseError) as info:
        parse("relu(x, y)")
    assert "1 argument" in str(info.value)


def test_syntax_error_says_what_was_expected():
    with pytest.raises(ParseError) as info:
        parse("(x + 1")
    assert "')'" in str(info.value) or '")"' in str(info.value)


def test_treenet_error_is_a_value_error():
    assert issubclass(TreenetError, ValueError)


def test_parse_and_evaluation_errors_are_treenet_errors():
    assert issubclass(ParseError, TreenetError) and issubclass(EvaluationError, TreenetError)


def test_parse_error_carries_line_and_column_attributes():
    with pytest.raises(ParseError) as info:
        parse("a = 1\n\n  a + $")
    assert (info.value.line, info.value.column) == (3, 7)


# --- evaluation errors --------------------------------------------------------------------------

EVAL_ERRORS = [
    # (source, inputs, the failing sub-expression as it must be named)
    ("log(x - 1) + 3", [0.5], "log(x - 1)"),
    ("2 + log(x)", [0.0], "log(x)"),
    ("x / (y - 1)", [1.0, 1.0], "y - 1"),
    ("exp(x) + 1", [1000.0], "exp(x)"),
    ("exp(x)*exp(x) - 1", [400.0], "exp(x)*exp(x)"),
]


@pytest.mark.parametrize("source,inputs,fragment", EVAL_ERRORS, ids=[c[0] for c in EVAL_ERRORS])
def test_evaluation_error_names_the_sub_expression(source, inputs, fragment):
    net = parse(source)
    with pytest.raises(EvaluationError) as info:
        net.predict(inputs)
    assert fragment in str(info.value)


def test_log_of_non_positive_says_log():
    with pytest.raises(EvaluationError) as info:
        parse("log(x)").predict([-1.0])
    assert "log" in str(info.value)


def test_division_by_zero_says_division():
    with pytest.raises(EvaluationError) as info:
        parse("1/x").predict([0.0])
    assert "division" in str(info.value) or "zero" in str(info.value)


def test_overflow_says_overflow():
    with pytest.raises(EvaluationError) as info:
        parse("exp(x)").predict([1000.0])
    assert "overflow" in str(info.value)


def test_missing_input_names_it():
    with pytest.raises(EvaluationError) as info:
        parse("x + y").predict({"x": 1.0})
    assert "y" in str(info.value)


def test_wrong_number_of_inputs():
    with pytest.raises(EvaluationError):
        parse("x + y").predict([1.0])


def test_infinite_derivative_is_an_evaluation_error():
    net = parse("x^0.5")
    assert net.predict([0.0]) == 0.0
    with pytest.raises(EvaluationError):
        net.backward()


def test_exponent_derivative_needs_positive_base():
    net = parse("x^y")
    net.predict([-2.0, 2.0])
    with pytest.raises(EvaluationError):
        net.backward()


@pytest.mark.parametrize("source,x,expected", [
    ("sigmoid(x)", -1000.0, 0.0),
    ("sigmoid(x)", 1000.0, 1.0),
    ("tanh(x)", -1000.0, -1.0),
    ("tanh(x)", 1000.0, 1.0),
])
def test_saturating_functions_do_not_overflow(source, x, expected):
    assert parse(source).predict([x]) == pytest.approx(expected, abs=1e-300)


@pytest.mark.parametrize("x", [-1000.0, 1000.0])
def test_saturated_sigmoid_backward_is_zero(x):
    net = parse("sigmoid(x)")
    net.predict([x])
    net.backward()
    assert net.inputs[0].grad == pytest.approx(0.0, abs=1e-300)


def test_parse_of_non_string_is_a_treenet_error():
    with pytest.raises(TreenetError):
        parse(42)


# --- fuzz: only TreenetError escapes, and nothing hangs ---------------------------------------

TOKENS = ["x", "y", "z", "p", "p(", "(", ")", "[", "]", ",", ";", "\n", " ", "+", "-", "*", "/",
          "^", "**", "=", "def ", "input ", "relu(", "max(", "min(", "softmax(", "linear(",
          "log(", "exp(", "sigmod(", "1", "0", "0.5", ".5", "1e999", "1e-3", "2", "#c\n", "sq",
          "sq(", "def sq(a) = a*a\n", "h = ", "h", "[0]", "[1]", "\\\n", "dense(", "abs(", "1e308",
          "def f(a, b) = ", "f(", "c = c + c + 1\n", "c = p\n", "@", "'", "\t", "\r\n"]

SETTINGS = settings(max_examples=250, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def _exercise(text):
    """Parse and, when it parses, predict, back-propagate and print: TreenetError is the only
    exception allowed, and no step may take long."""
    start = time.perf_counter()
    try:
        net = parse(text, seed=0)
        values = {i.name: 0.5 for i in net.inputs}
        out = net.predict(values)
        net.backward([1.0] * len(out) if isinstance(out, list) else 1.0)
        net.funcify()
    except TreenetError:
        pass
    assert time.perf_counter() - start < 10.0


@SETTINGS
@given(st.text(max_size=80))
def test_fuzz_random_text(text):
    _exercise(text)


@SETTINGS
@given(st.lists(st.sampled_from(TOKENS), max_size=40).map("".join))
def test_fuzz_token_soup(text):
    _exercise(text)


@SETTINGS
@given(st.lists(st.sampled_from(TOKENS), max_size=30).map("".join))
def test_fuzz_token_soup_ending_in_expression(text):
    _exercise(text + "\nx")


PATHOLOGICAL = {
    "open-parens": "(" * 5000,
    "close-parens": ")" * 5000,
    "minus-chain": "-" * 5000 + "x",
    "power-chain": "x" + "^x" * 3000,
    "nested-brackets": "[" * 3000 + "x" + "]" * 3000,
    "unclosed-calls": "relu(" * 3000,
    "nul": "\x00",
    "many-defs": "def f(a) = a\n" * 100 + "f(1)",
}


@pytest.mark.parametrize("text", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_pathological_text_gives_a_clean_result(text):
    _exercise(text)


# --- a def's body is checked where it stands, even if the macro is never called ------------------

DEF_BODY_ERRORS = [
    # (source, line, column, fragment)
    ("def f(a) = sigmod(a)\n1", 1, 12, "did you mean 'sigmoid'"),
    ("def f(a) = a(2)\n1", 1, 12, "a is a value"),
    ("def f(a) = 2*f(a)\n1", 1, 14, "recursive"),
    ("c = 2\ndef f(a) = c(a)\n1", 2, 12, "c is a value"),
    ("def g(a) = a\ndef f(a) = g(a) + h(a)\n1", 2, 19, "unknown function 'h'"),
]


@pytest.mark.parametrize("source,line,column,fragment", DEF_BODY_ERRORS)
def test_a_def_body_is_checked_at_the_def(source, line, column, fragment):
    with pytest.raises(ParseError) as info:
        parse(source)
    assert (info.value.line, info.value.column) == (line, column)
    assert fragment in str(info.value)


def test_a_vector_argument_to_dense_is_refused_with_a_position():
    with pytest.raises(ParseError) as info:
        parse("dense(2, softmax(1, 2))")
    assert (info.value.line, info.value.column) == (1, 10)


@pytest.mark.parametrize("d", ["a", None, [1.0], {"x": 1}])
def test_backward_of_a_scalar_output_refuses_anything_but_a_number(d):
    with pytest.raises(TreenetError):
        parse("x*2").backward(d)


@pytest.mark.parametrize("d", ["ab", None, [1.0], [1.0, "a"], 2.0])
def test_backward_of_a_vector_output_refuses_a_wrong_list(d):
    with pytest.raises(TreenetError):
        parse("softmax(x, 1)").backward(d)


def test_a_seed_that_is_not_a_number_is_a_treenet_error():
    with pytest.raises(TreenetError):
        parse("p", seed=[1])
