"""The treenet language: every rule of issue 2's "Details settled" as a (source, inputs, value)
case with the value worked out by hand, then the rules about names, parameters and macros."""

import math
import statistics

import pytest

import treenet
from treenet import parse

VALUES = [
    # numbers
    ("3", {}, 3.0),
    ("0.5", {}, 0.5),
    (".5", {}, 0.5),
    ("5.", {}, 5.0),
    ("1e-3", {}, 0.001),
    ("2.5E+1", {}, 25.0),
    # precedence and associativity
    ("1 + 2 * 3", {}, 7.0),
    ("(1 + 2) * 3", {}, 9.0),
    ("8 - 4 - 2", {}, 2.0),
    ("8 / 4 / 2", {}, 1.0),
    ("2 * 3 / 4", {}, 1.5),
    ("2 - 3 + 4", {}, 3.0),
    ("-2^2", {}, -4.0),
    ("-x^2", {"x": 3.0}, -9.0),
    ("(-x)^2", {"x": 3.0}, 9.0),
    ("2^3^2", {}, 512.0),
    ("2**3**2", {}, 512.0),
    ("2**3", {}, 8.0),
    ("(2^3)^2", {}, 64.0),
    ("2^-1", {}, 0.5),
    ("2 ^ -x", {"x": 2.0}, 0.25),
    ("x * -y", {"x": 3.0, "y": 2.0}, -6.0),
    ("x / -y", {"x": 3.0, "y": 2.0}, -1.5),
    ("1 - -1", {}, 2.0),
    ("--2", {}, 2.0),
    ("-x*y", {"x": 3.0, "y": 2.0}, -6.0),
    ("x^y", {"x": 2.0, "y": 3.0}, 8.0),
    ("3*x^2", {"x": 2.0}, 12.0),
    # functions
    ("relu(-2) + relu(3)", {}, 3.0),
    ("sigmoid(0)", {}, 0.5),
    ("tanh(0.5)", {}, math.tanh(0.5)),
    ("exp(1)", {}, math.e),
    ("log(x)", {"x": math.e ** 2}, 2.0),
    ("abs(-3) + abs(2)", {}, 5.0),
    ("max(1, 5, 3)", {}, 5.0),
    ("min(4, 2, 8, 3)", {}, 2.0),
    ("max(x, -x)", {"x": -4.0}, 4.0),
    # layout: blank lines, separators, comments, continuation inside brackets
    ("\n\nx + 1\n\n", {"x": 1.0}, 2.0),
    ("a = 2;\n\nb = 3;;\na*b;", {}, 6.0),
    ("a = 2; b = 3; a + b", {}, 5.0),
    ("a = 2;;b = 3;;;a - b;;", {}, -1.0),
    ("x + 1  # the output", {"x": 1.0}, 2.0),
    ("# a header\n# more\nx*2 # twice\n# trailing comment", {"x": 4.0}, 8.0),
    ("max(x,\n    y,\n    3)", {"x": 1.0, "y": 2.0}, 3.0),
    ("(x\n +\n y) * 2", {"x": 1.0, "y": 2.0}, 6.0),
    ("relu(\n  x - 1\n)", {"x": 3.0}, 2.0),
    ("a = 1\r\nb = 2\r\na + b", {}, 3.0),
    ("  x\t+ 1  ", {"x": 1.0}, 2.0),
    # bindings
    ("c = x\nc = c + c + 1\nc", {"x": 2.0}, 5.0),
    ("a = x*2\nb = a + a\nb*a", {"x": 1.5}, 18.0),
    ("x = 2\nx*x", {}, 4.0),
    # macros
    ("def sq(a) = a*a\nsq(3) + sq(x)", {"x": 2.0}, 13.0),
    ("def f(a, b) = a - b\nf(5, 3)", {}, 2.0),
    ("def f(a, b) = a / b\nf(x, 4)", {"x": 2.0}, 0.5),
    ("k = 2\ndef f(a) = a*k\nk = 10\nf(3)", {}, 6.0),
    ("def f(a) = a + 1\ndef g(a) = f(a)*2\ng(3)", {}, 8.0),
    ("def one() = 1\none() + 1", {}, 2.0),
    ("def f(x) = x*2\nf(3) + x", {"x": 10.0}, 16.0),
]


@pytest.mark.parametrize("source,inputs,expected", VALUES, ids=[repr(c[0]) for c in VALUES])
def test_value(source, inputs, expected):
    assert parse(source).predict(inputs) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_newline_outside_brackets_ends_a_statement():
    with pytest.raises(treenet.ParseError):
        parse("x +\ny")


# --- names, inputs and parameters -------------------------------------------------------------

def test_parse_returns_a_node():
    assert isinstance(parse("x + 1"), treenet.NeuralNetNode)


def test_one_input_node_per_name():
    net = parse("x*x + x")
    assert [i.name for i in net.inputs] == ["x"]


def test_inputs_ordered_by_first_appearance():
    net = parse("b = y*2\nz + x + b + y")
    assert [i.name for i in net.inputs] == ["y", "z", "x"]


def test_sequence_follows_input_order():
    net = parse("b = y*10\nz + b")
    assert net.predict([1.0, 2.0]) == 12.0  # y = 1, z = 2


def test_unused_bindings_are_not_part_of_the_network():
    net = parse("u = q + p\nv = p(3)\nw = r*p\nx*2")
    assert [i.name for i in net.inputs] == ["x"]
    assert net.parameters == []


def test_p_is_a_new_parameter_each_time():
    assert len(parse("p + p + p").parameters) == 3


def test_p_with_value():
    net = parse("p(0.5) + p(-3)")
    assert [q.value for q in net.parameters] == [0.5, -3.0]


def test_bound_parameter_is_one_node():
    net = parse("w = p(0.5)\nw*x + w")
    assert len(net.parameters) == 1
    assert net.predict([2.0]) == 1.5


def test_bound_parameters_are_named_by_the_binding():
    net = parse("w = p(0.3)\nbias = p\nw*x + bias")
    assert [q.name for q in net.parameters] == ["w", "bias"]


def test_unbound_parameters_named_in_creation_order():
    net = parse("p(1)*x + p(2)*y + p(3)")
    assert [(q.name, q.value) for q in net.parameters] == [("p0", 1.0), ("p1", 2.0), ("p2", 3.0)]


def test_named_parameters_do_not_use_up_a_number():
    net = parse("a = p(1)*x\nb = p(2)\nc = p(3) + a\nc*b")
    assert [(q.name, q.value) for q in net.parameters] == [("p0", 1.0), ("b", 2.0), ("p1", 3.0)]


def test_parameter_in_an_op_binding_is_not_named_by_it():
    net = parse("h = p(2)*x\nh")
    assert [q.name for q in net.parameters] == ["p0"]


def test_seed_makes_parameters_reproducible():
    a = parse("p*x + p", seed=7)
    b = parse("p*x + p", seed=7)
    assert [q.value for q in a.parameters] == [q.value for q in b.parameters]


def test_different_seeds_give_different_parameters():
    a = parse("p + p + p", seed=1)
    b = parse("p + p + p", seed=2)
    assert [q.value for q in a.parameters] != [q.value for q in b.parameters]


def test_random_parameters_uniform_in_minus_one_one():
    values = [q.value for q in parse(" + ".join(["p"] * 2000), seed=3).parameters]
    assert all(-1.0 <= v <= 1.0 for v in values)
    assert min(values) < -0.95 and max(values) > 0.95
    assert abs(statistics.mean(values)) < 0.06  # sd of the mean is 0.58/sqrt(2000) = 0.013
    assert statistics.pvariance(values) == pytest.approx(1 / 3, rel=0.1)


# --- macros -------------------------------------------------------------------------------------

def test_macro_argument_is_one_node():
    net = parse("def sq(a) = a*a\nsq(p(0.5))")
    assert len(net.parameters) == 1
    assert net.predict([]) == 0.25


def test_macro_call_makes_fresh_parameters():
    net = parse("def n(a) = p*a\nn(x) + n(x)")
    assert len(net.parameters) == 2


def test_macro_body_sees_names_as_at_def_time_for_inputs():
    # z is unbound where the def stands, so in the body it is the input z, not the later binding
    net = parse("def f(a) = a + z\nz = 100\nf(1)")
    assert [i.name for i in net.inputs] == ["z"]
    assert net.predict({"z": 5.0}) == 6.0


def test_macro_body_sees_bound_parameter():
    net = parse("w = p(2)\ndef f(a) = w*a\nf(x) + f(y)")
    assert [q.name for q in net.parameters] == ["w"]
    assert net.predict({"x": 1.0, "y": 3.0}) == 8.0


def test_linear_stands_for_weights_then_bias():
    net = parse("linear(x, y)")
    assert len(net.parameters) == 3
    for q, v in zip(net.parameters, (2.0, 3.0, 5.0)):
        q.value = v
    assert net.predict({"x": 7.0, "y": 11.0}) == 2 * 7 + 3 * 11 + 5


def test_linear_parameter_order_by_gradient():
    net = parse("linear(x, y)")
    net.predict({"x": 7.0, "y": 11.0})
    net.backward()
    assert [q.grad for q in net.parameters] == [7.0, 11.0, 1.0]


def test_linear_fresh_parameters_at_each_use():
    assert len(parse("linear(x) + linear(x)").parameters) == 4


# --- vector outputs -----------------------------------------------------------------------------

def test_vector_output_returns_list():
    assert parse("[x + 1, x*2]").predict([3.0]) == [4.0, 6.0]


def test_softmax_output_returns_list():
    got = parse("softmax(x, 2*x, 0)").predict([1.0])
    es = [math.e, math.e ** 2, 1.0]
    assert got == pytest.approx([e / sum(es) for e in es], rel=1e-12)


def test_softmax_output_is_stable():
    assert parse("softmax(x, 0)").predict([1000.0]) == pytest.approx([1.0, 0.0])


def test_vector_output_through_binding():
    assert parse("v = [x, 2*x]\nv").predict([2.0]) == [2.0, 4.0]


# --- rebinding names that leaves already carry ----------------------------------------------------

REBOUND = [
    # (source, inputs in order, expected value, number of parameters)
    # a rebound parameter name: the old parameter lives on through v
    ("w = p(1)\nv = w\nw = p(2)\nv*w", [], 2.0, 2),
    # the body's w is the input w (unbound at the def); the later w is a parameter
    ("def f(a) = a*w\nw = p(2)\nf(3) + w", [5.0], 17.0, 1),
    # x is an input in h, then rebound to a parameter
    ("h = x\nx = p(2)\nh*x", [3.0], 6.0, 1),
]


@pytest.mark.parametrize("source,inputs,expected,n_params", REBOUND,
                         ids=[c[0].replace("\n", "; ") for c in REBOUND])
def test_rebinding_a_leaf_name_is_a_valid_program(source, inputs, expected, n_params):
    net = parse(source)
    assert len(net.parameters) == n_params
    assert net.predict(inputs) == expected


@pytest.mark.parametrize("source,inputs,expected,n_params", REBOUND,
                         ids=[c[0].replace("\n", "; ") for c in REBOUND])
def test_leaf_names_are_distinct(source, inputs, expected, n_params):
    net = parse(source)
    names = [leaf.name for leaf in net.inputs + net.parameters]
    assert len(names) == len(set(names))


# --- inputs: declared ones stay, and a def's free names count where the def is written ----------

def test_declared_inputs_stay_in_the_network_even_if_unused():
    net = parse("input x, y\ny*2")
    assert [i.name for i in net.inputs] == ["x", "y"]
    assert net.predict([100.0, 3.0]) == 6.0


def test_free_names_of_a_def_body_are_inputs_in_text_order():
    # z is written (in the def) before x is: the inputs follow the text, not the expansion
    net = parse("def f(a) = a*z\nf(x)")
    assert [i.name for i in net.inputs] == ["z", "x"]
    assert net.predict({"z": 2.0, "x": 5.0}) == 10.0


def test_inputs_of_a_def_never_called_are_not_part_of_the_network():
    assert [i.name for i in parse("def f(a) = a*z\nx + 1").inputs] == ["x"]
