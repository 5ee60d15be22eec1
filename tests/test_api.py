"""The Python API of issue 2: trees built from classes as in the tutorials, compile, predict,
caching, backward and zero_grad, shared nodes against sympy, kink conventions, the tutorial
circuits, and macros written in Python."""

import math

import pytest
import sympy

import treenet
from treenet import (Add, Constant, Input, Linear, Macro, Max, Min, Multiply, Parameter, ReLU,
                     Sigmoid, Tanh, parse)
from treenet import ops

from conftest import central_difference, sympy_eval, sympy_of


# --- trees built from classes -------------------------------------------------------------------

def test_class_built_tree_predicts_without_compile():
    w, b = Parameter(0.5), Parameter(0.25)
    net = Add([Multiply([w, Input()]), b])
    assert net.predict([2.0]) == 1.25


def test_class_built_tree_with_random_parameters():
    net = Add([Multiply([Parameter(), Input()]), Parameter()])
    w, b = net.parameters
    assert -1.0 <= w.value <= 1.0 and -1.0 <= b.value <= 1.0
    assert net.predict([3.0]) == pytest.approx(w.value * 3.0 + b.value, rel=1e-15)


def test_parameter_first_argument_is_initial_value():
    assert Parameter(0.1).value == 0.1


def test_constant_value():
    assert Multiply([Constant(2.0), Input(name="x")]).predict({"x": 4.0}) == 8.0


def test_named_input_by_mapping():
    net = Add([Input(name="x"), Multiply([Constant(10.0), Input(name="y")])])
    assert net.predict({"y": 2.0, "x": 1.0}) == 21.0


def test_children_are_an_ordered_list_keeping_duplicates():
    x = Input(name="x")
    node = Multiply([x, x])
    assert node.children == [x, x]


def test_children_order_matters():
    x, y = Input(name="x"), Input(name="y")
    assert treenet.Subtract([x, y]).predict({"x": 5.0, "y": 2.0}) == 3.0


def test_add_of_two_parameters_funcifies_by_value():
    assert Add([Parameter(0.1), Parameter(0.2)]).funcify() == "0.1 + 0.2"


# --- compile ------------------------------------------------------------------------------------

def test_compile_returns_the_node():
    net = Add([Input(name="x"), Constant(1.0)])
    assert net.compile() is net


def test_compile_is_idempotent():
    net = Multiply([Linear([Input(name="x"), Input(name="y")]), Parameter(2.0)])
    net.compile()
    params, inputs = list(net.parameters), list(net.inputs)
    value = net.predict([1.0, 2.0])
    net.compile()
    assert net.parameters == params and net.inputs == inputs
    assert [q.name for q in net.parameters] == [q.name for q in params]
    assert net.predict([1.0, 2.0]) == value


def test_inputs_and_parameters_after_compile():
    x, y = Input(name="x"), Input(name="y")
    w, b = Parameter(1.0, name="w"), Parameter(2.0, name="b")
    net = Add([Multiply([w, x]), Multiply([b, y])]).compile()
    assert net.inputs == [x, y]
    assert net.parameters == [w, b]
    assert [(i.name, i.grad) for i in net.inputs] == [("x", 0.0), ("y", 0.0)]
    assert [(q.name, q.value, q.grad) for q in net.parameters] == [("w", 1.0, 0.0),
                                                                  ("b", 2.0, 0.0)]


def test_predict_returns_a_float():
    assert type(parse("x*2 + 1").predict([1])) is float


def test_every_node_has_children():
    x = Input(name="x")
    assert x.children == [] and Parameter(1.0).children == [] and Constant(1.0).children == []
    assert Add([x, Constant(1.0)]).children[0] is x


def test_predict_sequence_and_mapping_agree():
    net = parse("x - 2*y")
    assert net.predict([5.0, 1.0]) == net.predict({"x": 5.0, "y": 1.0}) == 3.0


def test_parameter_value_is_writable():
    net = parse("w = p(1)\nw*x")
    assert net.predict([3.0]) == 3.0
    net.parameters[0].value = 2.0
    assert net.predict([3.0]) == 6.0


# --- caching ------------------------------------------------------------------------------------

class CountingTanh(Tanh):
    """tanh that counts how often it is computed (not registered: no `call` of its own)."""
    calls = 0

    def compute(self, xs):
        CountingTanh.calls += 1
        return super().compute(xs)


def _counted_net():
    CountingTanh.calls = 0
    w, b = Parameter(0.5, name="w"), Parameter(0.1, name="b")
    net = CountingTanh([Add([Multiply([w, Input(name="x")]), b])])
    return net, w


def test_second_predict_recomputes_nothing():
    net, _ = _counted_net()
    net.predict([1.0])
    net.predict([1.0])
    assert CountingTanh.calls == 1


def test_backward_after_predict_recomputes_nothing():
    net, _ = _counted_net()
    net.predict([1.0])
    net.backward()
    assert CountingTanh.calls == 1


def test_changed_input_is_seen():
    net, _ = _counted_net()
    net.predict([1.0])
    assert net.predict([2.0]) == pytest.approx(math.tanh(0.5 * 2.0 + 0.1), rel=1e-15)
    assert CountingTanh.calls == 2


def test_changed_parameter_is_seen():
    net, w = _counted_net()
    net.predict([1.0])
    w.value = -3.0
    assert net.predict([1.0]) == pytest.approx(math.tanh(-3.0 + 0.1), rel=1e-15)


def test_parameter_changed_back_and_forth_is_seen():
    net, w = _counted_net()
    first = net.predict([1.0])
    w.value = 0.7
    net.predict([1.0])
    w.value = 0.5
    assert net.predict([1.0]) == first


def test_parsed_network_caches(monkeypatch):
    count = []
    original = ops.Sigmoid.compute

    def counting(self, xs):
        count.append(1)
        return original(self, xs)

    monkeypatch.setattr(ops.Sigmoid, "compute", counting)
    net = parse("sigmoid(p*x + p) * sigmoid(x)")
    net.predict([0.3])
    before = len(count)
    net.predict([0.3])
    assert before == 2 and len(count) == 2


# --- backward -----------------------------------------------------------------------------------

def test_grad_starts_at_zero():
    net = parse("p*x + p")
    assert all(leaf.grad == 0.0 for leaf in net.inputs + net.parameters)


def test_backward_accumulates():
    net = parse("w = p(3)\nw*x*x")
    net.predict([2.0])
    net.backward()
    once = (net.parameters[0].grad, net.inputs[0].grad)
    net.backward()
    assert once == (4.0, 12.0)
    assert (net.parameters[0].grad, net.inputs[0].grad) == (8.0, 24.0)


def test_intermediate_gradients_do_not_leak_between_calls():
    net = parse("h = x*x\ng = h + h*h\ng*h")  # out = x^4 + x^6 -> d/dx = 4x^3 + 6x^5
    net.predict([1.5])
    for _ in range(3):
        net.backward()
    assert net.inputs[0].grad == pytest.approx(3 * (4 * 1.5 ** 3 + 6 * 1.5 ** 5), rel=1e-12)


def test_zero_grad():
    net = parse("p*x + p")
    net.predict([2.0])
    net.backward()
    net.zero_grad()
    assert all(leaf.grad == 0.0 for leaf in net.inputs + net.parameters)


def test_backward_after_zero_grad_is_fresh():
    net = parse("w = p(3)\nw*x")
    net.predict([2.0])
    net.backward()
    net.zero_grad()
    net.backward()
    assert net.parameters[0].grad == 2.0


def test_backward_with_upstream_derivative():
    net = parse("w = p(3)\nw*x")
    net.predict([2.0])
    net.backward(2.5)
    assert net.parameters[0].grad == 5.0


def test_backward_sees_new_input():
    net = parse("w = p(3)\nw*x")
    net.predict([2.0])
    net.predict([7.0])
    net.backward()
    assert net.parameters[0].grad == 7.0


def test_x_times_x():
    x = Input(name="x")
    net = Multiply([x, x])
    net.predict([3.0])
    net.backward()
    assert x.grad == 6.0


def test_one_node_feeding_many_parents():
    x = Input(name="x")
    h = Multiply([x, Constant(2.0)])
    net = Add([h, Multiply([h, h]), Tanh([h]), Multiply([h, Constant(3.0)])])
    net.predict([0.5])
    net.backward()
    # out = h + h^2 + tanh(h) + 3h with h = 2x: d/dx = 2 (1 + 2h + 1 - tanh(h)^2 + 3)
    assert x.grad == pytest.approx(2 * (1 + 2 * 1.0 + 1 - math.tanh(1.0) ** 2 + 3), rel=1e-12)


def test_vector_output_backward():
    net = parse("[x*y, x + y]")
    net.predict([2.0, 5.0])
    net.backward([1.0, 10.0])
    assert [i.grad for i in net.inputs] == [5.0 + 10.0, 2.0 + 10.0]


def test_softmax_output_backward_matches_finite_differences():
    net = parse("softmax(x, 2*y, x*y)")
    point, g = [0.3, -0.7], [1.0, -2.0, 0.5]
    net.predict(point)
    net.backward(g)
    f = lambda v: sum(gk * yk for gk, yk in zip(g, net.predict(v)))  # noqa: E731
    expected = [central_difference(f, point, i) for i in range(2)]
    assert [i.grad for i in net.inputs] == pytest.approx(expected, rel=1e-6)


# --- whole networks with shared nodes against sympy -------------------------------------------

NETWORKS = [
    ("x*x", {"x": 1.7}),
    ("a = x*y\nb = a + a*a\nc = b*a + exp(a)\nc", {"x": 0.4, "y": -0.9}),
    ("h = tanh(p*x + p*y + p)\ng = sigmoid(p*h + p)\nh*g + relu(h + 3) + log(1 + g*g)",
     {"x": 0.3, "y": 0.8}),
    ("def n(a, b) = tanh(p*a + p*b + p)\nh1 = n(x, y)\nh2 = n(h1, x)\nh3 = n(h1, h2)\n"
     "h3*h1 + max(h2, h3, -5) - min(h1, h2, 5)", {"x": -0.6, "y": 1.1}),
    ("s = x/y - x^y\nabs(s) + s*s - -s", {"x": 1.3, "y": 2.2}),
    ("h = x\nh = h*h + h\nh = h*h + h\nh = h*h + h\nh = h*h + h\nh", {"x": 0.3}),
    ("w = p\nu = linear(x, y)\nsigmoid(w*u + w*w) / (1 + abs(u))", {"x": 0.5, "y": -2.0}),
]


@pytest.mark.parametrize("source,point", NETWORKS, ids=[s.split("\n")[-1] for s, _ in NETWORKS])
def test_network_value_matches_sympy(source, point):
    net = parse(source, seed=11)
    value = net.predict(point)
    expr, symbols = sympy_of(net)
    assert value == pytest.approx(sympy_eval(expr, symbols), rel=1e-12)


@pytest.mark.parametrize("source,point", NETWORKS, ids=[s.split("\n")[-1] for s, _ in NETWORKS])
def test_network_gradients_match_sympy(source, point):
    net = parse(source, seed=11)
    net.predict(point)
    net.backward()
    expr, symbols = sympy_of(net)
    for leaf, sym in symbols.items():
        expected = sympy_eval(sympy.diff(expr, sym), symbols)
        assert leaf.grad == pytest.approx(expected, rel=1e-9, abs=1e-12), leaf.name


@pytest.mark.parametrize("source,point", NETWORKS, ids=[s.split("\n")[-1] for s, _ in NETWORKS])
def test_network_input_gradients_match_finite_differences(source, point):
    net = parse(source, seed=11)
    names = [i.name for i in net.inputs]
    xs = [point[n] for n in names]
    net.predict(xs)
    net.backward()
    grads = [i.grad for i in net.inputs]
    for k in range(len(xs)):
        expected = central_difference(net.predict, xs, k)
        assert grads[k] == pytest.approx(expected, rel=1e-6, abs=1e-8), names[k]


# --- kink conventions through the engine --------------------------------------------------------

KINKS = [
    ("relu(x)", [0.0], [0.0]),
    ("abs(x)", [0.0], [0.0]),
    ("max(x, y)", [1.0, 1.0], [1.0, 0.0]),
    ("min(x, y)", [1.0, 1.0], [1.0, 0.0]),
    ("max(x, y, z)", [0.0, 2.0, 2.0], [0.0, 1.0, 0.0]),
    ("min(x, y, z)", [3.0, -1.0, -1.0], [0.0, 1.0, 0.0]),
    ("max(x, y, z)", [2.0, 2.0, 2.0], [1.0, 0.0, 0.0]),
]


@pytest.mark.parametrize("source,point,grads", KINKS, ids=[f"{s}{p}" for s, p, _ in KINKS])
def test_kink_convention(source, point, grads):
    net = parse(source)
    net.predict(point)
    net.backward()
    assert [i.grad for i in net.inputs] == grads


# --- the tutorial circuits ----------------------------------------------------------------------

def test_tutorial_circuit_value():
    assert parse("(x + y)*z").predict([-2.0, 5.0, -4.0]) == -12.0


def test_tutorial_circuit_gradients():
    net = parse("(x + y)*z")
    net.predict([-2.0, 5.0, -4.0])
    net.backward()
    assert [i.grad for i in net.inputs] == [-4.0, -4.0, 3.0]


def _micrograd_neuron():
    x1, x2 = Input(name="x1"), Input(name="x2")
    w1, w2 = Parameter(-3.0, name="w1"), Parameter(1.0, name="w2")
    b = Parameter(6.8813735870195432, name="b")
    o = Tanh([Add([Multiply([x1, w1]), Multiply([x2, w2]), b])])
    return o, (x1, w1, x2, w2, b)


def test_micrograd_neuron_value():
    o, _ = _micrograd_neuron()
    assert o.predict({"x1": 2.0, "x2": 0.0}) == pytest.approx(math.sqrt(0.5), abs=1e-4)


def test_micrograd_neuron_gradients():
    o, leaves = _micrograd_neuron()
    o.predict({"x1": 2.0, "x2": 0.0})
    o.backward()
    assert [leaf.grad for leaf in leaves] == pytest.approx([-1.5, 1.0, 0.5, 0.0, 0.5], abs=1e-4)


def test_micrograd_neuron_parsed():
    net = parse("w1 = p(-3)\nw2 = p(1)\nb = p(6.8813735870195432)\ntanh(x1*w1 + x2*w2 + b)")
    net.predict({"x1": 2.0, "x2": 0.0})
    net.backward()
    grads = {leaf.name: leaf.grad for leaf in net.inputs + net.parameters}
    assert grads == pytest.approx({"x1": -1.5, "w1": 1.0, "x2": 0.5, "w2": 0.0, "b": 0.5},
                                  abs=1e-4)


# --- macros written in Python -------------------------------------------------------------------

class Square(Macro):
    """square(a) = a*a (a user macro that creates no parameters)."""

    def expand(self):
        return Multiply([self.children[0], self.children[0]])


class Affine(Macro):
    """affine(a) = w*a + b with fresh parameters w = 2, b = 1."""

    def expand(self):
        return Add([Multiply([Parameter(2.0), self.children[0]]), Parameter(1.0)])


def test_python_macro_expands_on_compile():
    x = Input(name="x")
    net = Add([Square([x]), Constant(1.0)])
    net.compile()
    assert not any(isinstance(c, Macro) for c in net.children)


def test_python_macro_value():
    assert Add([Square([Input(name="x")]), Constant(1.0)]).predict([3.0]) == 10.0


def test_python_macro_gradient():
    x = Input(name="x")
    net = Add([Square([x]), Constant(1.0)])
    net.predict([3.0])
    net.backward()
    assert x.grad == 6.0


def test_python_macro_parameters_join_the_network():
    net = ReLU([Affine([Input(name="x")])])
    assert [q.value for q in net.parameters] == [2.0, 1.0]
    assert net.predict([3.0]) == 7.0


def test_python_macro_at_root():
    assert Affine([Input(name="x")]).predict([3.0]) == 7.0


def test_macro_shared_by_two_parents_expands_once():
    a = Affine([Input(name="x")])
    net = Add([Sigmoid([a]), Multiply([a, Constant(2.0)])])
    assert len(net.parameters) == 2


def test_linear_class():
    x, y = Input(name="x"), Input(name="y")
    net = Linear([x, y])
    assert len(net.parameters) == 3
    for q, v in zip(net.parameters, (2.0, 3.0, 5.0)):
        q.value = v
    assert net.predict({"x": 7.0, "y": 11.0}) == 2 * 7 + 3 * 11 + 5


def test_linear_parameters_weights_then_bias():
    net = Linear([Input(name="x"), Input(name="y")])
    net.predict({"x": 7.0, "y": 11.0})
    net.backward()
    assert [q.grad for q in net.parameters] == [7.0, 11.0, 1.0]


def test_max_min_classes():
    x, y, z = Input(name="x"), Input(name="y"), Input(name="z")
    net = Add([Max([x, y, z]), Min([x, y, z])])
    assert net.predict([1.0, -2.0, 4.0]) == 2.0
