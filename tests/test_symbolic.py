"""treenet.to_sympy and treenet.latex: the network as a sympy expression (checked against
expressions written here by hand) and as LaTeX."""

import math

import pytest
import sympy

import treenet
from treenet.symbolic import sympy_values

x, y, w = sympy.symbols("x y w", real=True)


def close(a, b, rel=1e-12):
    return math.isclose(float(a), float(b), rel_tol=rel, abs_tol=1e-15)


@pytest.mark.parametrize("source, expected", [
    ("w = p(0.5); tanh(w*x + y)", sympy.tanh(w * x + y)),
    ("x^2 - y/x", x ** 2 - y / x),
    ("sigmoid(-x)", 1 / (1 + sympy.exp(x))),
    ("log(exp(x) + abs(y))", sympy.log(sympy.exp(x) + sympy.Abs(y))),
    ("relu(x - y)", sympy.Piecewise((x - y, x - y > 0), (0, True))),
    ("step(x)", sympy.Piecewise((1, x > 0), (0, True))),
    ("sign(x)*y", sympy.sign(x) * y),
])
def test_matches_hand_written_expression(source, expected):
    expr = treenet.to_sympy(treenet.parse(source))
    for point in [(0.7, -0.3), (-1.2, 0.4), (2.0, 1.5)]:
        env = {x: point[0], y: point[1], w: 0.5}
        assert close(expr.subs(env), expected.subs(env))


def test_symbols_are_real_and_named_as_in_treenet():
    net = treenet.parse("rate = p(0.25); rate*speed + p", seed=0)
    expr = treenet.to_sympy(net)
    names = {s.name for s in expr.free_symbols}
    assert names == {"rate", "speed", net.parameters[1].name}
    assert all(s.is_real for s in expr.free_symbols)


def test_values_map_reproduces_predict():
    net = treenet.parse("a = tanh(p*x + p*y + p); sigmoid(p*a + p*a*a + p) + max(x, a)", seed=3)
    out = net.predict({"x": 0.4, "y": -1.1})
    expr, values = treenet.to_sympy(net, values=True)
    assert set(values) == expr.free_symbols
    assert close(expr.subs(values), out)
    assert values == sympy_values(net)


def test_relu_is_piecewise_so_its_derivative_at_zero_is_zero():
    expr = treenet.to_sympy(treenet.parse("relu(x)"))
    assert not expr.has(sympy.Max)
    assert sympy.diff(expr, x).subs(x, 0) == 0
    # sympy's own Max(0, x) would say 1/2 there: the reason for the Piecewise
    assert sympy.diff(sympy.Max(0, x), x).subs(x, 0) == sympy.Rational(1, 2)


def test_max_tie_goes_to_first_argument_in_sympy_too():
    expr = treenet.to_sympy(treenet.parse("max(x, y)"))
    assert sympy.diff(expr, x).subs({x: 0, y: 0}) == 1
    assert sympy.diff(expr, y).subs({x: 0, y: 0}) == 0


def test_vector_output_gives_a_list():
    net = treenet.parse("softmax(x, 2*x)")
    exprs = treenet.to_sympy(net)
    out = net.predict({"x": 0.3})
    assert len(exprs) == 2
    assert all(close(e.subs(x, 0.3), o) for e, o in zip(exprs, out))


def _wide_tanh(depth):
    """Two tanh neurons per layer, each reading both of the layer below: 2^depth paths."""
    lines = ["h0 = tanh(p*x + p*y + p)", "g0 = tanh(p*x + p*y + p)"]
    for i in range(1, depth):
        for n in "hg":
            lines.append(f"{n}{i} = tanh(p*h{i - 1} + p*g{i - 1} + p)")
    lines.append(f"h{depth - 1} + g{depth - 1}")
    return "\n".join(lines)


def test_deep_shared_network_converts_each_node_once(monkeypatch):
    # 2^20 paths through the network: converting per path would never finish; converting each
    # node once is linear (the time is in benchmarks/, not asserted here)
    net = treenet.parse(_wide_tanh(20), seed=0)
    calls = []
    original = treenet.Tanh.to_sympy
    monkeypatch.setattr(treenet.Tanh, "to_sympy",
                        lambda self, args: calls.append(self) or original(self, args))
    expr = treenet.to_sympy(net)
    assert isinstance(expr, sympy.Expr)
    assert len(calls) == 40 and len({id(n) for n in calls}) == 40  # 20 layers x 2 neurons


def test_auto_evaluation_agrees_with_full_evaluation():
    net = treenet.parse(_wide_tanh(6), seed=1)
    out = net.predict({"x": 0.2, "y": -0.5})
    for mode in (True, False, "auto"):
        expr, values = treenet.to_sympy(net, values=True, evaluate=mode)
        f = sympy.lambdify(list(values), expr, modules="math")
        assert close(f(*[float(v) for v in values.values()]), out, rel=1e-12)


def recursion_limit_above_here(levels):
    """sys.setrecursionlimit `levels` frames above the caller's depth, restored afterwards: makes
    a network "too deep for sympy" at a small size (400 tanh layers under the default limit take
    about 7 s of sympy's simplification before they fail)."""
    import contextlib
    import sys

    @contextlib.contextmanager
    def limit():
        depth, frame = 0, sys._getframe()
        while frame is not None:
            depth, frame = depth + 1, frame.f_back
        old = sys.getrecursionlimit()
        sys.setrecursionlimit(depth + levels)
        try:
            yield
        finally:
            sys.setrecursionlimit(old)
    return limit()


def _tanh_chain(depth):
    return "h = x\n" + "h = tanh(p*h + p)\n" * depth + "h"


def test_too_deep_for_sympy_is_a_treenet_error_naming_the_way_out():
    net = treenet.parse(_tanh_chain(100), seed=1)
    with recursion_limit_above_here(150):
        with pytest.raises(treenet.TreenetError, match="too deep for sympy") as caught:
            treenet.to_sympy(net)
    assert not isinstance(caught.value, RecursionError)
    assert "derivative(" in str(caught.value) and "gradcheck(" in str(caught.value)
    # what the message promises: both work on the same network at that limit
    with recursion_limit_above_here(150):
        d = treenet.derivative(net, "x")
        report = treenet.gradcheck(net, {"x": 0.3})
    net.predict({"x": 0.3})
    assert report.ok and math.isclose(d.forward(), report["x"].symbolic, rel_tol=1e-9)
    assert isinstance(treenet.to_sympy(net), sympy.Expr)  # and sympy is fine at the usual limit


def test_evaluate_must_be_a_known_mode():
    with pytest.raises(ValueError):
        treenet.to_sympy(treenet.parse("x"), evaluate="sometimes")


# --- LaTeX ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("sigmoid(x)", r"\sigma\left(x\right)"),
    ("abs(x)", r"\left|x\right|"),
    ("exp(x)", r"\exp\left(x\right)"),
    ("tanh(x)", r"\tanh\left(x\right)"),
    ("log(x)", r"\ln\left(x\right)"),
    ("max(x, y)", r"\max\left(x, y\right)"),
    ("x/y", r"\frac{x}{y}"),
    ("(x/y)^2", r"\left(\frac{x}{y}\right)^{2}"),
    ("x^(y + 1)", r"x^{y + 1}"),
    ("relu(x)", r"\operatorname{relu}\left(x\right)"),
])
def test_latex_of_ops(source, expected):
    assert treenet.latex(treenet.parse(source)) == expected


def test_latex_names_shared_parts_once():
    net = treenet.parse("a = tanh(x); a*a + a")
    text = treenet.latex(net)
    assert text.startswith("\\begin{aligned}")
    assert text.count(r"\tanh") == 1
    assert "a &= " in text


def test_latex_of_a_derivative_has_bindings():
    net = treenet.parse("a = sigmoid(p(0.5)*x + p(0.1)); a*a", seed=0)
    text = treenet.latex(treenet.derivative(net, "x"))
    assert text.count(r"\sigma") == 1  # the shared forward value is bound, not repeated
    assert "&=" in text
