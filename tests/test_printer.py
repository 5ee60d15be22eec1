"""funcify: parentheses only where the language's precedence and associativity demand them,
shared sub-expressions printed once, and the round trip `parse(net.funcify())` computing the same
function, over tables of tricky trees and many seeded random programs covering every op."""

import math
import random

import pytest

import treenet
from treenet import (Add, Constant, Divide, EvaluationError, Input, Multiply, Negate, Parameter,
                     Power, Sigmoid, Subtract, parse)
from treenet import ops

# Expected prints, derived from the rules: + - loosest and left-associative, then * /
# (left-associative), then unary minus, then ^ (right-associative, binding tighter than unary
# minus on its left). Spaces are not part of the contract, so they are ignored.
PARENS = [
    ("x + y*z", "x+y*z"),
    ("(x + y)*z", "(x+y)*z"),
    ("x*(y + z)", "x*(y+z)"),
    ("x - (y - z)", "x-(y-z)"),
    ("x - y - z", "x-y-z"),
    ("(x - y) - z", "x-y-z"),
    ("x - (y + z)", "x-(y+z)"),
    ("(x + y) - z", "x+y-z"),
    ("(x + y) + z", "x+y+z"),
    ("x + y + z", "x+y+z"),
    ("x/(y*z)", "x/(y*z)"),
    ("x*y/z", "x*y/z"),
    ("(x*y)/z", "x*y/z"),
    ("x/y/z", "x/y/z"),
    ("(x/y)/z", "x/y/z"),
    ("x/(y/z)", "x/(y/z)"),
    ("(x*y)*z", "x*y*z"),
    ("x^y^z", "x^y^z"),
    ("x^(y^z)", "x^y^z"),
    ("(x^y)^z", "(x^y)^z"),
    ("-x^y", "-x^y"),
    ("-(x^y)", "-x^y"),
    ("(-x)^y", "(-x)^y"),
    ("-(x + y)", "-(x+y)"),
    ("-(x - y)", "-(x-y)"),
    ("(x + y)^z", "(x+y)^z"),
    ("x^(y + z)", "x^(y+z)"),
    ("(x*y)^z", "(x*y)^z"),
    ("x^(y*z)", "x^(y*z)"),
    ("(x + y)/(y - z)", "(x+y)/(y-z)"),
    ("relu(x + y)*z", "relu(x+y)*z"),
    ("relu((x + y))", "relu(x+y)"),
    ("sigmoid(x)^y", "sigmoid(x)^y"),
    ("-relu(x)", "-relu(x)"),
    ("max(x + y, y*z, z)", "max(x+y,y*z,z)"),
    ("((x))", "x"),
    ("(x)*(y)", "x*y"),
    ("(-x)*y", "-x*y"),
    ("[x + y, (x*y)]", "[x+y,x*y]"),
    ("softmax(x, (y*z))", "softmax(x,y*z)"),
]


@pytest.mark.parametrize("source,expected", PARENS, ids=[s for s, _ in PARENS])
def test_parentheses_only_where_needed(source, expected):
    assert parse(source).funcify().replace(" ", "") == expected


def test_add_of_parameters_by_value():
    assert Add([Parameter(0.1), Parameter(0.2)]).funcify() == "0.1 + 0.2"


def test_values_with_full_precision():
    text = Multiply([Parameter(0.1 + 0.2), Input(name="x")]).funcify()
    assert "0.30000000000000004" in text


def test_tiny_and_huge_values_round_trip():
    net = Add([Multiply([Parameter(1.234e-20), Input(name="x")]), Constant(-6.02e23)])
    again = parse(net.funcify())
    assert again.predict([3.0]) == net.predict([3.0])


def test_shared_sub_expression_printed_once():
    text = parse("h = x*y + 1\nh*h + h").funcify()
    assert text.count("x*y") == 1


def test_shared_sub_expression_round_trips():
    net = parse("h = x*y + 1\nsigmoid(h*h + h)")
    again = parse(net.funcify())
    assert again.predict({"x": 0.3, "y": -2.0}) == net.predict({"x": 0.3, "y": -2.0})


def test_exponential_paths_print_small():
    x = Input(name="x")
    h = x
    for _ in range(60):
        h = Add([Multiply([h, h]), h])
    text = h.funcify()
    assert len(text) < 60 * 40


def test_exponential_paths_parsed_print_small_and_round_trip():
    net = parse("h = x\n" + "h = h*h + h\n" * 60 + "h")
    text = net.funcify()
    assert len(text) < 60 * 40
    assert parse(text).predict([1e-3]) == pytest.approx(net.predict([1e-3]), rel=1e-12)


def test_labels_avoid_input_names():
    # h0 names a parameter and h1 an input, the printer's own style of label: the labels it
    # picks for the shared nodes must capture neither
    net = parse("h0 = p(2)\nh = x*h0 + h1\ng = h*h\ng + h + h0")
    again = parse(net.funcify())
    point = {"x": 0.5, "h1": 0.25}
    assert again.predict(point) == pytest.approx(net.predict(point), rel=1e-12)


# --- round trips of trees the parser would not build itself -----------------------------------

def _leaves():
    return Input(name="x"), Input(name="y"), Input(name="z")


def _tricky():
    x, y, z = _leaves()
    c = Constant
    return {
        "(-2)^2": Power([c(-2.0), c(2.0)]),
        "(-x)^2": Power([Negate([x]), c(2.0)]),
        "(-2)^x": Power([c(-2.0), x]),
        "param(-2)^2": Power([Parameter(-2.0), c(2.0)]),
        "(-0.5)^3": Power([c(-0.5), c(3.0)]),
        "x-(y-z)": Subtract([x, Subtract([y, z])]),
        "x-(y+z)": Subtract([x, Add([y, z])]),
        "x/(y/z)": Divide([x, Divide([y, z])]),
        "x/(y*z)": Divide([x, Multiply([y, z])]),
        "(x/y)*z": Multiply([Divide([x, y]), z]),
        "(x*y)/z": Divide([Multiply([x, y]), z]),
        "(x^y)^z": Power([Power([x, y]), z]),
        "x^(y^z)": Power([x, Power([y, z])]),
        "x*(y+z)": Multiply([x, Add([y, z])]),
        "x+(y+z)": Add([x, Add([y, z])]),
        "-(x+y)": Negate([Add([x, y])]),
        "-(x-y)": Negate([Subtract([x, y])]),
        "-(-x)": Negate([Negate([x])]),
        "-(-2)": Negate([c(-2.0)]),
        "-2 as op": Negate([c(2.0)]),
        "-(x^2)": Negate([Power([x, c(2.0)])]),
        "(-x)*y": Multiply([Negate([x]), y]),
        "-(x*y)": Negate([Multiply([x, y])]),
        "x^(-y)": Power([x, Negate([y])]),
        "x^(-1)": Power([x, c(-1.0)]),
        "x*(-3)": Multiply([x, c(-3.0)]),
        "x-(-3)": Subtract([x, c(-3.0)]),
        "x+(-3)": Add([x, c(-3.0)]),
        "x+(-y)": Add([x, Negate([y])]),
        "x-(-y)": Subtract([x, Negate([y])]),
        "x+(-2)*y": Add([x, Multiply([c(-2.0), y])]),
        "x-(-2)*y": Subtract([x, Multiply([c(-2.0), y])]),
        "x+(-2)^y": Add([x, Power([c(-2.0), y])]),
        "-2-x": Subtract([c(-2.0), x]),
        "(-x)-y": Subtract([Negate([x]), y]),
        "sigmoid(x)^2": Power([Sigmoid([x]), c(2.0)]),
        "1e-20 + x": Add([c(1e-20), x]),
        "1e300*x": Multiply([c(1e300), x]),
        "x + -0.0": Add([x, c(-0.0)]),
        "single-child add": Add([Multiply([x, y])]),
        "x*y*z nested right": Multiply([x, Multiply([y, z])]),
    }


TRICKY = _tricky()


@pytest.mark.parametrize("key", TRICKY.keys())
def test_tricky_tree_round_trips(key):
    net = _tricky()[key]
    point = {"x": 2.0, "y": 3.0, "z": 0.5}
    names = [i.name for i in net.inputs]
    expected = net.predict({n: point[n] for n in names})
    again = parse(net.funcify())
    assert again.predict({i.name: point[i.name] for i in again.inputs}) == pytest.approx(
        expected, rel=1e-12, abs=0)


# --- random programs: every op, shared nodes, the same function after a round trip ------------

CALLS = sorted(name for name, cls in ops.calls().items()
               if not cls.vector_valued and not issubclass(cls, treenet.Macro))


def _random_expr(rng, names, depth):
    if depth == 0 or rng.random() < 0.2:
        choice = rng.random()
        if choice < 0.6:
            return rng.choice(names)
        if choice < 0.75:
            return "p"
        if choice < 0.85:
            return f"p({rng.uniform(-2, 2)!r})"
        return repr(round(rng.uniform(-3, 3), rng.choice([0, 1, 5, 17])))
    sub = lambda: _random_expr(rng, names, depth - 1)  # noqa: E731
    kind = rng.random()
    if kind < 0.45:
        op = rng.choice(["+", "-", "*", "/", "^", "**"])
        if op in ("^", "**"):
            return f"abs({sub()})^{rng.choice(['2', '3', '0.5', '-1', sub()])}"
        if op == "/":
            return f"({sub()}) / (1.5 + abs({sub()}))"
        return f"({sub()}) {op} ({sub()})"
    if kind < 0.55:
        return f"-({sub()})"
    if kind < 0.65:
        return f"linear({sub()}, {sub()})"
    if kind < 0.7:
        return f"sq({sub()})"
    name = rng.choice(CALLS)
    cls = ops.calls()[name]
    lo, hi = cls.arity_range()
    n = lo if hi == lo else rng.randint(max(lo, 2), 3)
    args = [sub() for _ in range(n)]
    if name == "log":
        args = [f"1 + abs({args[0]})"]
    if name == "exp":
        args = [f"tanh({args[0]})"]
    return f"{name}({', '.join(args)})"


def _random_program(rng):
    names = ["x", "y"]
    lines = ["def sq(a) = a*a"]
    for k in range(rng.randint(1, 5)):
        expr = _random_expr(rng, names, rng.randint(1, 3))
        name = rng.choice([f"h{k}", names[-1] if names[-1] not in ("x", "y") else f"h{k}"])
        lines.append(f"{name} = {expr}")
        if name not in names:
            names.append(name)
    out = _random_expr(rng, names, 2)
    if rng.random() < 0.15:
        out = f"[{out}, {_random_expr(rng, names, 1)}]"
    elif rng.random() < 0.1:
        out = f"softmax({out}, {_random_expr(rng, names, 1)})"
    lines.append(out)
    return "\n".join(lines)


def _same(a, b):
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300) or a == b


def _points(rng, inputs):
    return [{i.name: rng.uniform(-2, 2) for i in inputs} for _ in range(3)]


def _round_trip_ok(net, rng):
    """None when the network cannot be evaluated at the points (skip it), else True/False."""
    points = _points(rng, net.inputs)
    try:
        expected = [net.predict(pt) for pt in points]
    except EvaluationError:
        return None
    text = net.funcify()
    again = parse(text)
    got = [again.predict({i.name: pt[i.name] for i in again.inputs}) for pt in points]
    return all(map(_same, expected, got)), text


def _check_round_trips(make, count, rng):
    """Round-trip `count` evaluable networks from make(rng) -> (net, label): none may differ, and
    together they must use every scalar op."""
    used, checked, failures = set(), 0, []
    while checked < count:
        net, label = make(rng)
        result = _round_trip_ok(net, rng)
        if result is None:
            continue
        checked += 1
        used |= {type(n).__name__ for n in net.graph.nodes}
        if not result[0]:
            failures.append((label, result[1]))
    assert not failures, failures[:3]
    expected_ops = {cls.__name__ for cls in ops.scalar_ops()}
    assert expected_ops <= used, expected_ops - used


def _parsed_program(rng):
    source = _random_program(rng)
    return parse(source, seed=rng.randrange(10 ** 6)), source


def test_round_trip_random_programs():
    _check_round_trips(_parsed_program, 150, random.Random(2024))


def _random_tree(rng):
    """A random DAG built from classes: any registered scalar op, children drawn from earlier
    nodes (so nodes are shared), constants of every sign and size."""
    x, y, z = Input(name="x"), Input(name="y"), Input(name="z")
    pool = [x, y, z, Parameter(rng.uniform(-2, 2)), Constant(rng.choice([-3.0, -0.5, 2.0, 1e-7]))]
    classes = ops.scalar_ops()
    for _ in range(rng.randint(2, 9)):
        cls = rng.choice(classes)
        lo, hi = cls.arity_range()
        n = lo if hi == lo else rng.randint(max(lo, 1), 3)
        kids = [rng.choice(pool[-6:]) if rng.random() < 0.7 else rng.choice(pool)
                for _ in range(n)]
        pool.append(cls(kids))
    return pool[-1]


def test_round_trip_random_class_built_trees():
    _check_round_trips(lambda rng: (_random_tree(rng), "class-built"), 300, random.Random(77))


def test_printed_text_is_a_valid_program_for_every_op():
    for cls in ops.scalar_ops():
        lo, hi = cls.arity_range()
        n = max(lo, 2) if hi is None else lo
        net = cls([Input(name=f"v{k}") for k in range(n)])
        parse(net.funcify())  # must not raise


# --- a sum with a negated term reads as a difference, and is the same float --------------------

NEGATED_TERMS = [
    ("x + -y", "x - y"),
    ("x - -y", "x + y"),
    ("x + -(y*z)", "x - y*z"),
    ("x + -(y + z)", "x - (y + z)"),
    ("x - -(y - z)", "x + (y - z)"),
]


@pytest.mark.parametrize("source,expected", NEGATED_TERMS)
def test_negated_terms_print_as_differences(source, expected):
    net = treenet.parse(source)
    assert net.funcify() == expected
    point = [1.25, -2.5, 0.75][:len(net.inputs)]
    assert treenet.parse(net.funcify()).predict(point) == net.predict(point)


def test_signed_zero_survives_a_sum_and_the_cache():
    net = treenet.parse("x + -0.0")
    assert math.copysign(1.0, net.predict([-0.0])) == -1.0
    net = treenet.parse("1/x")
    assert net.predict([2.0]) == 0.5
    with pytest.raises(treenet.EvaluationError):
        net.predict([0.0])
    assert treenet.parse("x*y").predict([0.0, 1.0]) == 0.0
    times = treenet.parse("x*y")
    assert math.copysign(1.0, times.predict([0.0, 1.0])) == 1.0
    assert math.copysign(1.0, times.predict([-0.0, 1.0])) == -1.0  # the cache sees the sign
