"""The review's findings in the node classes, printer, io and sympy bridge (/work/review.md, items
3, 4, 6 and 10), one test per item, in the list's order."""

import io
import math

import numpy as np
import pytest

import treenet
from treenet import Add, Constant, Input, Multiply, Parameter, Sigmoid
from treenet.io import dumps
from treenet.nodes import as_float
from treenet.printer import number


def test_numpy_floats_in_leaves_print_as_literals_that_parse_back():
    # item 3: np.float64's repr is `np.float64(0.5)`, which is not treenet (nor a float literal)
    assert type(as_float(np.float64(0.5), "x")) is float
    assert type(Parameter(np.float64(0.5)).value) is float
    assert number(np.float64(0.25)) == "0.25"
    net = treenet.parse("sigmoid(p*x + 2)", seed=1)
    net.parameters[0].value = np.float64(0.5)  # set from outside, bypassing the constructor
    texts = [net.funcify(), treenet.latex(net, params="value"), dumps(net),
             treenet.derivative(net, "x").funcify()]
    for text in texts:
        assert "np." not in text and "float64" not in text, text
    assert treenet.parse(net.funcify()).predict([0.3]) == net.predict([0.3])


BAD_VALUES = ["1", None, 10 ** 400, [2.0], 1 + 1j]


@pytest.mark.parametrize("bad", BAD_VALUES, ids=["str", "None", "10**400", "list", "complex"])
def test_a_leaf_value_set_to_a_non_number_is_an_evaluation_error_in_every_pass(bad):
    # item 4: each pass used to fail deep inside with TypeError/OverflowError
    passes = {"funcify": lambda n: n.funcify(),
              "latex": lambda n: treenet.latex(n, params="value"),  # values printed
              "dumps": dumps, "to_sympy": lambda n: treenet.to_sympy(n, values=True),
              "derivative": lambda n: treenet.derivative(n, "x").funcify()}
    for kind in ("parameter", "constant"):
        for run in passes.values():
            net = treenet.parse("sigmoid(p*x + 2)", seed=1)
            if kind == "parameter":
                net.parameters[0].value = bad
            else:
                next(n for n in net.graph.nodes if isinstance(n, Constant)).value = bad
            with pytest.raises(treenet.EvaluationError, match=kind) as info:
                run(net)
            assert "too large" in str(info.value) or "expected a number" in str(info.value)


def test_not_a_network_non_str_names_and_unusable_streams_are_treenet_errors(tmp_path):
    # item 6
    for call in (treenet.latex, treenet.funcify):
        with pytest.raises(treenet.TreenetError, match="not a network"):
            call("x")
    for make in (lambda: Input(name=3), lambda: Parameter(0.5, name=b"w"),
                 lambda: Constant(1.0, name=2.5)):
        with pytest.raises(treenet.TreenetError, match="name must be a str"):
            make()
    net = treenet.parse("sigmoid(p*x + p)", seed=0)
    path = tmp_path / "net.tn"
    treenet.save(net, str(path))
    closed = open(path)
    closed.close()
    for run in (lambda: treenet.save(net, closed), lambda: treenet.load(closed)):
        with pytest.raises(treenet.FileError, match="closed") as info:
            run()
        assert isinstance(info.value.__cause__, ValueError)
    with open(path) as reading, pytest.raises(treenet.FileError, match="not open for writing") \
            as info:
        treenet.save(net, reading)
    assert isinstance(info.value.__cause__, io.UnsupportedOperation)
    with open(tmp_path / "other.tn", "w") as writing, \
            pytest.raises(treenet.FileError, match="not open for reading"):
        treenet.load(writing)
    assert treenet.load(str(path)).funcify() == net.funcify()  # the failed save left it whole


def test_funcify_refuses_names_that_would_not_parse_back():
    # item 10: `x y`, the empty name and a function name printed verbatim, as text that reads
    # back as another network (or not at all)
    for name, why in (("x y", "letters, digits"), ("", "letters, digits"),
                      ("relu", "keyword or function name")):
        net = Sigmoid([Add([Input(name=name), Input(name="z")])])
        with pytest.raises(treenet.TreenetError, match=why) as info:
            net.funcify()
        assert repr(name) in str(info.value)
    w = Parameter(0.5, name="w w")
    net = Sigmoid([Multiply([w, Input(name="x")])])
    assert net.funcify() == "sigmoid(0.5*x)"  # by value: the name is not printed
    for params in ("name", "p"):
        with pytest.raises(treenet.TreenetError, match="parameter 'w w'"):
            net.funcify(params=params)
    with pytest.raises(treenet.TreenetError, match="parameter 'w w'"):
        dumps(net)  # the same check as save's
    assert math.isfinite(net.predict([1.0]))
