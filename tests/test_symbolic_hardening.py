"""The symbolic bridge hardened (issues 7 and 8), one test per reproduction in the issues' order:
non-finite folds, softmax's derivative at the extremes, linear max/softmax derivatives, the
softmax rule in its op, to_sympy on divisions by zero and bad arguments, no sympy at import."""

import ast
import math
import pathlib

import pytest

import treenet
from treenet import Operation
from treenet.ops import Softmax

PACKAGE = pathlib.Path(treenet.__file__).parent


def at(node, **values):
    """The value of a derivative network at a point (names it does not read are ignored)."""
    own = {i.name for i in node.inputs}
    return node.predict({k: v for k, v in values.items() if k in own})


def engine_gradient(net, point, component=None):
    """{input name: d(output or output component)/d(input)} from the engine's backward pass."""
    out = net.predict(point)
    net.zero_grad()
    if component is None:
        net.backward()
    else:
        net.backward([1.0 if j == component else 0.0 for j in range(len(out))])
    return {leaf.name: leaf.grad for leaf in net.inputs}


def built_nodes(monkeypatch, build):
    """How many op nodes `build()` creates."""
    count = [0]
    original = Operation.__init__

    def counting(self, *args, **kw):
        count[0] += 1
        original(self, *args, **kw)

    monkeypatch.setattr(Operation, "__init__", counting)
    build()
    monkeypatch.setattr(Operation, "__init__", original)
    return count[0]


# --- A. no non-finite numbers the engine does not give -------------------------------------------

def test_derivative_does_not_fold_an_overflowing_product_into_inf():
    net = treenet.parse("1e200*1e200*x")
    d = treenet.derivative(net, "x")
    assert all(math.isfinite(n.value) for n in d.graph.nodes if isinstance(n, treenet.Constant))
    # evaluating reports the overflow with the sub-expression, as the engine's forward does
    with pytest.raises(treenet.EvaluationError, match="overflow"):
        d.predict({"x": 1.0})
    with pytest.raises(treenet.EvaluationError, match="overflow"):
        net.predict({"x": 1.0})
    # and it prints as it parses: no input named inf
    again = treenet.parse(treenet.funcify(d))
    assert again.inputs == []


def test_softmax_derivative_is_finite_at_opposite_extremes():
    net = treenet.parse("softmax(x0, x1)")
    point = {"x0": 1e308, "x1": -1e308}
    assert net.predict(point) == [1.0, 0.0]
    for k in range(2):
        grads = engine_gradient(net, point, component=k)
        for name in ("x0", "x1"):
            d = treenet.derivative(net, name, component=k)
            # s0 = 1, s1 = 0: s_k*(delta - s_j) is 0 for every k, j
            assert at(d, **point) == 0.0 == grads[name]


# --- B. max and softmax derivatives are linear in the number of arguments ------------------------

@pytest.mark.parametrize("source, kw", [("softmax(v)", {"component": 0}), ("max(v)", {}),
                                        ("min(v)", {})])
def test_extreme_and_softmax_derivatives_build_linearly_many_nodes(monkeypatch, source, kw):
    counts = {}
    for n in (100, 200):
        net = treenet.parse(f"input v[{n}]\n{source}")
        net.graph
        counts[n] = built_nodes(monkeypatch, lambda: treenet.derivative(net, "v_0", **kw))
    # pairwise selection built n products of n steps: 4x the nodes for 2x the arguments
    assert counts[200] <= 2.2 * counts[100]
    assert counts[200] <= 12 * 200


@pytest.mark.parametrize("source", ["max(a, b, c, d)", "min(a, b, c, d)"])
@pytest.mark.parametrize("values", [(1, 1, 1, 1), (0, 2, 2, 1), (3, 0, 3, 3), (0, 1, 2, 3),
                                    (-1, -2, -2, -1)])
def test_linear_selection_sends_the_gradient_to_the_first_extreme(source, values):
    net = treenet.parse(source)
    point = dict(zip("abcd", map(float, values)))
    grads = engine_gradient(net, point)
    assert sorted(grads.values()) == [0.0, 0.0, 0.0, 1.0]
    for name in "abcd":
        assert at(treenet.derivative(net, name), **point) == grads[name]


# --- C. the softmax derivative lives in the Softmax op ------------------------------------------

def test_softmax_component_rule_is_the_op_rows_of_its_vjp():
    xs = [0.3, -1.2, 2.0, 0.3]
    args = [treenet.Constant(x) for x in xs]
    op = Softmax(list(args))
    out = op.compute(xs)
    for k in range(len(xs)):
        row = op.vjp(xs, out, [1.0 if j == k else 0.0 for j in range(len(xs))])
        nodes = op.component_dnodes(args, k)
        for node, expected in zip(nodes, row):
            assert math.isclose(node.forward(), expected, rel_tol=1e-14, abs_tol=1e-16)
        assert math.isclose(op.component_node(args, k).forward(), out[k], rel_tol=1e-15)


def test_derivative_module_builds_no_op_itself():
    tree = ast.parse((PACKAGE / "derivative.py").read_text())
    from_ops = [node for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module == "ops"]
    assert from_ops == []


# --- D. to_sympy does not crash on divisions by zero or bad arguments ----------------------------

@pytest.mark.parametrize("source", ["relu(1/relu(y))", "abs(1/step(y))",
                                    "sign(max(x/step(y), step(z))^2)"])
def test_to_sympy_of_a_division_by_zero_in_a_comparison_is_a_treenet_error(source):
    with pytest.raises(treenet.TreenetError, match="divides by zero for some inputs"):
        treenet.to_sympy(treenet.parse(source))


def test_to_sympy_unevaluated_of_a_division_by_zero_is_a_treenet_error():
    with pytest.raises(treenet.TreenetError, match="sympy cannot build relu"):
        treenet.to_sympy(treenet.parse("relu(1/relu(y))"), evaluate=False)


def test_to_sympy_unevaluated_relu_of_relu_builds():
    # sympy folds a Piecewise inside a comparison even under evaluate(False), and fails there
    import sympy
    net = treenet.parse("relu(relu(y) - 1)")
    expr = treenet.to_sympy(net, evaluate=False)
    y = sympy.Symbol("y", real=True)
    for v in (-1.0, 0.5, 3.0):
        assert float(expr.subs(y, v)) == net.predict({"y": v})


def test_to_sympy_with_a_bad_evaluate_lists_the_accepted_values():
    net = treenet.parse("x")
    for call in (lambda: treenet.to_sympy(net, evaluate="x"),
                 lambda: treenet.symbolic.subtree_to_sympy(net, evaluate="x")):
        with pytest.raises(treenet.TreenetError, match=r"True, False or 'auto', got 'x'"):
            call()


# --- E. fast start: sympy is imported where it is used ------------------------------------------

@pytest.mark.parametrize("module", ["symbolic.py", "derivative.py"])
def test_module_does_not_import_sympy_when_loaded(module):
    tree = ast.parse((PACKAGE / module).read_text())
    top = [name.name for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
           for name in node.names]
    top += [node.module for node in tree.body if isinstance(node, ast.ImportFrom)]
    assert not [name for name in top if name and name.split(".")[0] in ("sympy", "mpmath")]
