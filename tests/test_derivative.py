"""treenet.derivative: symbolic reverse mode. Values are checked against derivatives worked out by
hand and against sympy's diff of the same network; sizes against sympy's swollen tree."""

import math

import pytest
import sympy

import treenet
from treenet import Constant, Input, Operation, Parameter, Tanh

X = sympy.Symbol("x", real=True)


def close(a, b, rel=1e-9):
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


def at(node, **values):
    """The value of a derivative network at a point (names it does not read are ignored)."""
    own = {i.name for i in node.inputs}
    return node.predict({k: v for k, v in values.items() if k in own})


def sig(t):
    return 1 / (1 + math.exp(-t))


# (program, variable, the derivative worked out by hand)
CASES = [
    ("x*x", "x", lambda x, y: 2 * x),
    ("x*y*x", "x", lambda x, y: 2 * x * y),
    ("x/y", "y", lambda x, y: -x / y ** 2),
    ("x^3", "x", lambda x, y: 3 * x ** 2),
    ("(x*x + 1)^y", "y", lambda x, y: (x * x + 1) ** y * math.log(x * x + 1)),
    ("sigmoid(2*x)", "x", lambda x, y: 2 * sig(2 * x) * (1 - sig(2 * x))),
    ("tanh(x*y)", "x", lambda x, y: y * (1 - math.tanh(x * y) ** 2)),
    ("exp(-x)*y", "x", lambda x, y: -math.exp(-x) * y),
    ("log(x*x + y*y)", "x", lambda x, y: 2 * x / (x * x + y * y)),
    ("abs(x - y)", "y", lambda x, y: -1.0 if x > y else 1.0),
    ("relu(x + y)*x", "x", lambda x, y: (x + y if x + y > 0 else 0) + (x if x + y > 0 else 0)),
    ("max(x, y, 0.5)", "y", lambda x, y: 1.0 if y > x and y > 0.5 else 0.0),
    ("min(x, y)", "x", lambda x, y: 1.0 if x < y else 0.0),
    ("-x - y", "x", lambda x, y: -1.0),
    ("step(x)*y", "y", lambda x, y: 1.0 if x > 0 else 0.0),
    ("a = x*y; a*a - a", "x", lambda x, y: 2 * x * y * y - y),
    ("x + y", "z", lambda x, y: 0.0),  # a variable the network does not read (see below)
]


@pytest.mark.parametrize("source, var, hand", [c for c in CASES if c[1] != "z"])
@pytest.mark.parametrize("point", [(0.7, -0.4), (-1.3, 0.9), (0.2, 1.6)])
def test_value_matches_hand_derivative(source, var, hand, point):
    net = treenet.parse(source)
    d = treenet.derivative(net, var)
    assert close(at(d, x=point[0], y=point[1]), hand(*point))


def test_unknown_name_is_an_error_with_a_hint():
    net = treenet.parse("p*x + y")
    with pytest.raises(treenet.TreenetError, match="'x'"):
        treenet.derivative(net, "xx")


def test_leaf_not_in_the_network_gives_zero():
    net = treenet.parse("x + 1")
    d = treenet.derivative(net, Input(name="z"))
    assert d.forward() == 0.0


def test_only_inputs_and_parameters():
    net = treenet.parse("a = tanh(x); a")
    with pytest.raises(treenet.TreenetError):
        treenet.derivative(net, net.graph.output)


def test_by_node_and_by_name_agree():
    net = treenet.parse("w = p(0.3); sigmoid(w*x)")
    w = net.parameters[0]
    assert at(treenet.derivative(net, w), x=0.5) == at(treenet.derivative(net, "w"), x=0.5)


def test_agrees_with_backward_and_sympy():
    net = treenet.parse("a = relu(p*x + p*y + p); b = tanh(p*a + p*x); sigmoid(p*a*b + p*b + p)"
                        " + max(a, b) * abs(x - b) / (1 + exp(y))", seed=11)
    point = {"x": 0.35, "y": -0.8}
    net.predict(point)
    net.zero_grad()
    net.backward()
    expr, values = treenet.to_sympy(net, values=True)
    for leaf in net.inputs + net.parameters:
        d = treenet.derivative(net, leaf.name)
        net.predict(point)  # the leaves are shared: this sets the derivative's inputs too
        got = d.forward()
        exact = float(sympy.diff(expr, sympy.Symbol(leaf.name, real=True)).subs(values))
        assert close(got, leaf.grad, rel=1e-12)
        assert close(got, exact)


def test_second_derivative():
    net = treenet.parse("sigmoid(x)")
    d2 = treenet.derivative(treenet.derivative(net, "x"), "x")
    for t in (-1.5, 0.0, 0.8):
        s = sig(t)
        assert close(at(d2, x=t), s * (1 - s) * (1 - 2 * s))


def test_second_derivative_wrt_a_variable_the_first_no_longer_reads():
    net = treenet.parse("w = p(0.5); w*x")
    dw = treenet.derivative(net, "w")  # = x: no w left in it
    assert treenet.derivative(dw, "w").forward() == 0.0
    assert treenet.derivative(dw, "x").forward() == 1.0


def test_mixed_second_derivative_matches_sympy():
    net = treenet.parse("w = p(0.7); tanh(w*x*x + y) * sigmoid(w)")
    dxw = treenet.derivative(treenet.derivative(net, "x"), "w")
    xs, ws, ys = sympy.symbols("x w y", real=True)
    expr = sympy.tanh(ws * xs ** 2 + ys) / (1 + sympy.exp(-ws))
    exact = float(sympy.diff(expr, xs, ws).subs({xs: 0.6, ws: 0.7, ys: -0.2}))
    assert close(at(dxw, x=0.6, y=-0.2), exact)


def test_derivative_converts_to_sympy_like_sympys_diff():
    net = treenet.parse("a = tanh(p*x + p); sigmoid(p*a + p*a*a) + abs(a - x)", seed=2)
    d = treenet.derivative(net, "x")
    expr, values = treenet.to_sympy(net, values=True)
    dexpr = treenet.to_sympy(d)
    exact = sympy.diff(expr, sympy.Symbol("x", real=True))
    for t in (-0.9, 0.3, 1.4):
        values[sympy.Symbol("x", real=True)] = t
        assert close(float(dexpr.subs(values)), float(exact.subs(values)))


@pytest.mark.parametrize("params", ["value", "name"])
def test_funcify_reparses_to_the_same_function(params):
    net = treenet.parse("h = relu(p*x + p*y); g = sigmoid(p*h + p*x); max(g, h)*g + abs(h - y)",
                        seed=5)
    for var in ["x", "y", "p0", "p3"]:
        d = treenet.derivative(net, var)
        text = d.funcify(params=params)
        again = treenet.parse(text)
        names = {i.name for i in again.inputs}
        for point in [(0.4, 0.9), (-0.6, 0.2)]:
            values = {"x": point[0], "y": point[1]}
            net.predict(values)
            expected = d.forward()
            if params == "name":  # parameters became inputs named like them
                values.update({p.name: p.value for p in net.parameters})
            assert again.predict({k: v for k, v in values.items() if k in names}) == \
                pytest.approx(expected, rel=1e-15, abs=1e-300)


def test_does_not_touch_the_original_network():
    net = treenet.parse("a = tanh(p*x); a*a", seed=0)
    net.predict({"x": 0.5})
    inner = [n for n in net.graph.nodes if isinstance(n, Operation)]
    before = [(n.value, n.grad) for n in inner]
    d = treenet.derivative(net, "x")
    d.predict({"x": 2.0})
    d.backward()
    assert [n for n in d.graph.nodes if isinstance(n, Operation)]
    assert not set(map(id, inner)) & set(map(id, d.graph.nodes))
    assert [(n.value, n.grad) for n in inner] == before


def test_vector_output_needs_a_component():
    net = treenet.parse("[x*y, x + y]")
    with pytest.raises(treenet.TreenetError, match="component"):
        treenet.derivative(net, "x")
    d = treenet.derivative(net, "x", component=0)
    assert at(d, x=1.0, y=3.0) == 3.0


def test_softmax_component():
    net = treenet.parse("softmax(x, 2*x, y)")
    d = treenet.derivative(net, "x", component=1)
    t, u = 0.3, -0.4
    e = [math.exp(t), math.exp(2 * t), math.exp(u)]
    total = sum(e)
    # d/dx of e1/total, with d e0/dx = e0, d e1/dx = 2 e1
    hand = 2 * e[1] / total - e[1] * (e[0] + 2 * e[1]) / total ** 2
    assert close(at(d, x=t, y=u), hand)


@pytest.mark.parametrize("source, point", [
    ("softmax(x, 0)", {"x": 800.0}),           # exp(800) overflows unless shifted
    ("softmax(x, 0)", {"x": -800.0}),
    ("softmax(x, 0)", {"x": 20.0}),            # a small derivative, 2e-9: above abs_tol
    ("softmax(x, 2*x, y)", {"x": 400.0, "y": -800.0}),
    ("softmax(x, y, x)", {"x": -800.0, "y": -800.0}),  # a tie at the max
    ("softmax(x)", {"x": 800.0}),
])
def test_softmax_component_is_stable_where_the_engine_is(source, point):
    net = treenet.parse(source)
    width = len(net.predict(point))
    for k in range(width):
        net.predict(point)
        net.zero_grad()
        net.backward([1.0 if j == k else 0.0 for j in range(width)])
        for leaf in net.inputs:
            d = treenet.derivative(net, leaf.name, component=k)
            assert close(at(d, **point), leaf.grad, rel=1e-12), (k, leaf.name)


def test_gradient_gives_every_variable_from_one_sweep():
    net = treenet.parse("tanh(p*x + p*y + p)", seed=4)
    grads = treenet.gradient(net)
    assert list(grads) == ["x", "y", "p0", "p1", "p2"]
    net.predict({"x": 0.1, "y": 0.2})
    net.zero_grad()
    net.backward()
    for leaf in net.inputs + net.parameters:
        assert close(grads[leaf.name].forward(), leaf.grad, rel=1e-14)


# --- kink conventions, exactly at the kink, in backward, derivative and sympy ---------------------

KINKS = [
    # (program, point, variable, the convention's value)
    ("relu(x)", {"x": 0.0}, "x", 0.0),
    ("relu(x - y)", {"x": 0.5, "y": 0.5}, "y", 0.0),
    ("abs(x)", {"x": 0.0}, "x", 0.0),
    ("max(x, y)", {"x": 0.0, "y": 0.0}, "x", 1.0),
    ("max(x, y)", {"x": 0.0, "y": 0.0}, "y", 0.0),
    ("max(y, x)", {"x": 0.0, "y": 0.0}, "y", 1.0),
    ("min(x, y, x)", {"x": 0.0, "y": 0.0}, "x", 1.0),
    ("min(x, y, x)", {"x": 0.0, "y": 0.0}, "y", 0.0),
    ("step(x)*3", {"x": 0.0}, "x", 0.0),
    ("sign(x)*3", {"x": 0.0}, "x", 0.0),
    ("sign(x - y)*x", {"x": 0.0, "y": 0.0}, "y", 0.0),
    ("abs(x)*abs(x)", {"x": 0.0}, "x", 0.0),
]


@pytest.mark.parametrize("source, point, var, expected", KINKS)
def test_kink_convention_in_all_three(source, point, var, expected):
    net = treenet.parse(source)
    net.predict({k: point[k] for k in (i.name for i in net.inputs)})
    net.zero_grad()
    net.backward()
    leaf = next(i for i in net.inputs if i.name == var)
    assert leaf.grad == expected                                   # backward
    assert at(treenet.derivative(net, var), **point) == expected   # derivative, evaluated
    expr = treenet.to_sympy(net)
    exact = sympy.diff(expr, sympy.Symbol(var, real=True))  # sympy's own, nothing replaced
    value = exact.subs({sympy.Symbol(k, real=True): v for k, v in point.items()})
    assert value.is_number and float(value) == expected


@pytest.mark.parametrize("source", ["abs(x)", "abs(x)*x", "sign(x)*x", "relu(x)*x"])
@pytest.mark.parametrize("t", [-0.5, 0.0, 0.5])
def test_second_derivative_at_and_off_the_kink_in_all_three(source, t):
    # abs'' and sign' are 0 everywhere by the engine's convention; sympy agrees with no
    # DiracDelta to remove (abs and sign are Piecewise twins)
    net = treenet.parse(source)
    d2 = treenet.derivative(treenet.derivative(net, "x"), "x")
    d1 = treenet.derivative(net, "x")
    d1.predict({"x": t})
    d1.zero_grad()
    d1.backward()
    expr = sympy.diff(treenet.to_sympy(net), X, 2)
    assert not expr.has(sympy.DiracDelta)
    value = expr.subs(X, t)
    assert value.is_number
    assert at(d2, x=t) == d1.inputs[0].grad == float(value)


# --- size and depth ------------------------------------------------------------------------------

def _chain(depth, f):
    text = "x"
    for _ in range(depth):
        text = f"{f}(p*{text} + p)"
    return text


def _ops(node):
    return sum(isinstance(n, Operation) for n in node.graph.nodes)


def test_twelve_layer_sigmoid_chain_stays_small():
    net = treenet.parse(_chain(12, "sigmoid"), seed=0)
    d = treenet.derivative(net, "x")
    ours = _ops(d)
    theirs = sympy.count_ops(sympy.diff(treenet.to_sympy(net, evaluate=True),
                                        sympy.Symbol("x", real=True)))
    assert ours < 150
    assert theirs > 5 * ours  # the same derivative as one sympy tree


def test_size_grows_linearly_with_depth():
    sizes = [_ops(treenet.derivative(treenet.parse(_chain(n, "tanh"), seed=0), "x"))
             for n in (10, 20, 40)]
    assert sizes[2] - sizes[1] == 2 * (sizes[1] - sizes[0])


def test_hundred_deep_chain_built_and_evaluated():
    net = treenet.parse(_chain(100, "sigmoid"), seed=1)
    net.predict({"x": 0.3})
    net.zero_grad()
    net.backward()
    d = treenet.derivative(net, "x")
    assert _ops(d) < 10 * 100
    value = at(d, x=0.3)
    assert value != 0.0 and close(value, net.inputs[0].grad, rel=1e-12)


def test_gradient_of_a_long_chain_is_linear_in_its_size():
    # every derivative of a 2000-layer chain: together they share O(graph) nodes, and nothing is
    # compiled eagerly (a compiled Graph per result made this O(N^2): 1.2 GB at N = 500)
    import tracemalloc
    from treenet.order import toposort
    net = treenet.parse(_chain(2000, "tanh"), seed=3)
    size = len(net.graph.nodes)
    tracemalloc.start()
    try:
        grads = treenet.gradient(net)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(grads) == 4001
    distinct, _ = toposort(treenet.Output(list(grads.values())))  # every node of every result
    assert len(distinct) < 3 * size
    assert peak < 2000 * size  # bytes: about 460 per node of the network
    net.predict({"x": 0.2})
    net.zero_grad()
    net.backward()
    for leaf in (net.inputs[0], net.parameters[0], net.parameters[-1]):
        assert close(grads[leaf.name].forward(), leaf.grad, rel=1e-12)


def test_very_deep_chain_has_no_recursion_limit():
    x = Input(0.3, name="x")
    node = x
    for _ in range(20_000):
        node = Tanh([node])
    d = treenet.derivative(node, "x")  # 100,000 nodes: far past Python's recursion limit
    assert len(d.graph) >= 100_000
    node.backward()
    assert close(d.forward(), x.grad, rel=1e-12)
