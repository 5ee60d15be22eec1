"""How a network shows itself (issue 10, "Pictures and display"): `repr(net)` short and readable
(the formula, bounded, the inputs, the number of parameters) instead of nested constructors, and
never raising or slow; in Jupyter the formula as LaTeX (`_repr_latex_`, a derivative too) and the
graph as SVG next to it (`_repr_mimebundle_`) when Graphviz is installed."""

import pytest

import treenet
from treenet import Add, Input, Multiply, Parameter, display
from optional import needs_dot

CHAIN = "h = tanh(p*x + p)\n" + "h = tanh(p*h + p)\n" * 3000 + "h"  # 15,005 nodes


def test_repr_is_the_formula_the_inputs_and_the_parameter_count():
    net = treenet.parse("sigmoid(p*x + p*y + p)", seed=0)
    assert repr(net) == "<treenet network: sigmoid(p0*x + p1*y + p2) | inputs x, y | 3 parameters>"
    one = treenet.parse("relu(p*x)", seed=0)
    assert repr(one) == "<treenet network: relu(p0*x) | input x | 1 parameter>"
    assert repr(treenet.parse("2*3")) == "<treenet network: 2*3 | no inputs | 0 parameters>"


def test_repr_shows_a_shared_part_once():
    net = treenet.parse("h = tanh(p(0.5)*x)\nh*h + h")
    assert repr(net) == "<treenet network: h = tanh(p0*x); h*h + h | input x | 1 parameter>"


def test_leaf_reprs_stay_constructors():
    assert repr(Parameter(0.5, name="w")) == "Parameter(0.5, name='w')"
    assert repr(Input(name="x")) == "Input(0.0, name='x')"


def test_repr_of_a_huge_network_is_bounded_and_reads_a_bounded_part(monkeypatch):
    net = treenet.parse(CHAIN, seed=0)
    reads = []
    args = display._args
    monkeypatch.setattr(display, "_args", lambda node: reads.append(node) or args(node))
    text = repr(net)
    assert text.startswith("<treenet network: tanh(p6000*tanh(p5998*tanh(")
    formula = text.split(" | ")[0][len("<treenet network: "):]
    assert len(formula) == display.REPR_LIMIT and formula.endswith("…")
    assert text.endswith(" | input x | 6002 parameters>")  # compiled: the exact count
    assert len({id(n) for n in reads}) <= display.PREVIEW_NODES + 1  # not the 15,005 nodes


def test_repr_of_a_wide_sum_reads_a_bounded_part(monkeypatch):
    net = treenet.parse(" + ".join(f"x{i}" for i in range(3000)))
    reads = []
    args = display._args
    monkeypatch.setattr(display, "_args", lambda node: reads.append(node) or args(node))
    text = repr(net)
    assert text.startswith("<treenet network: x0 + x1 + x2 + ")
    assert "| inputs x0, x1, x2, x3, x4, x5, x6, x7, … (3000 inputs) | 0 parameters>" in text
    assert len(reads) <= 2 * display.PREVIEW_NODES


def test_repr_does_not_compile_or_rename_a_class_built_network():
    x = Input()
    net = Add([Multiply([Parameter(0.5), x]), Parameter(0.25, name="b")])
    assert repr(net) == "<treenet network: 0.5*? + 0.25 | input ? | 2 parameters>"
    assert x.name is None and net._graph is None
    net.compile()
    assert repr(net) == "<treenet network: p0*x0 + b | input x0 | 2 parameters>"


def test_repr_never_raises():
    x = Input(name="x")
    loop = Add([x, x])
    loop.children[1] = loop  # a cycle: compile refuses it, the repr shows it cut
    assert repr(loop) == "<treenet network: x + … | inputs x, … | 0+ parameters>"
    twins = Add([Input(name="x"), Input(name="x")])  # compile refuses two inputs named x
    assert repr(twins).startswith("<treenet network: x + x | ")
    assert twins._repr_latex_() is None
    odd = Add([Input(name="x"), "text"])
    assert repr(odd).startswith("<treenet network: x + … | ")


def test_repr_latex_is_the_formula_in_dollars():
    net = treenet.parse("sigmoid(p*x + p)", seed=0)
    assert net._repr_latex_() == r"$\sigma\left(p_{0} \cdot x + p_{1}\right)$"


def test_a_derivative_displays_as_latex():
    net = treenet.parse("sigmoid(p(2)*x)")
    d = treenet.derivative(net, "x")
    assert isinstance(d, treenet.NeuralNetNode)
    shown = d._repr_latex_()
    assert shown == "$" + treenet.latex(d) + "$" and r"\sigma" in shown


def test_latex_display_of_a_huge_network_is_a_bounded_preview():
    net = treenet.parse(CHAIN, seed=0)
    shown = net._repr_latex_()
    assert shown.startswith(r"$\tanh\left(p_{6000} \cdot \tanh\left(") and "…" in shown
    assert len(shown) < 10_000  # the whole formula is about 200,000 characters


@needs_dot
def test_mimebundle_has_text_latex_and_svg():
    net = treenet.parse("sigmoid(p*x + p)", seed=0)
    bundle = net._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/latex", "image/svg+xml"}
    assert bundle["text/plain"] == repr(net)
    assert bundle["text/latex"] == net._repr_latex_()
    assert "<svg" in bundle["image/svg+xml"] and "sigmoid" in bundle["image/svg+xml"]
    assert set(net._repr_mimebundle_(include=["text/latex"])) == {"text/latex"}
    assert set(net._repr_mimebundle_(exclude=["image/svg+xml"])) == {"text/plain", "text/latex"}


def test_mimebundle_without_graphviz_has_no_svg_and_does_not_raise(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot`
    net = treenet.parse("sigmoid(p*x + p)", seed=0)
    assert set(net._repr_mimebundle_()) == {"text/plain", "text/latex"}


@pytest.mark.parametrize("size", [display.SVG_NODES + 1])
def test_mimebundle_of_a_large_network_runs_no_layout(size, monkeypatch):
    net = treenet.parse(" + ".join(f"x{i}" for i in range(size)))
    monkeypatch.setattr(treenet.dot, "render", lambda *a: pytest.fail("dot was run"))
    assert set(net._repr_mimebundle_()) == {"text/plain", "text/latex"}
