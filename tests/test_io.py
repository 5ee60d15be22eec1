"""save / load: a saved network is a readable treenet program that loads back bit-identically;
bad and truncated files are ParseErrors with line and column."""

import io
import math
import random

import pytest

import treenet
from treenet import (Add, EvaluationError, Input, Multiply, Parameter, ParseError, Sigmoid,
                     Tanh, TreenetError)
from treenet.parser import reserved_names

UNARY = ["relu", "sigmoid", "tanh", "abs", "exp", "log", "step", "sign"]
BINARY = ["+", "-", "*", "/", "^"]


def random_expression(rng, names, depth):
    """A random formula over `names` with fresh parameters (p), literals and every kind of op."""
    if depth == 0 or rng.random() < 0.2:
        r = rng.random()
        if r < 0.45:
            return rng.choice(names)
        if r < 0.8:
            return "p"
        return repr(rng.choice([0.5, -2.0, 3.0, 1e-3, 0.1]))
    r = rng.random()
    sub = lambda: random_expression(rng, names, depth - 1)  # noqa: E731
    if r < 0.45:
        op = rng.choice(BINARY)
        if op == "^":
            return f"({sub()})^{rng.choice([2, 3, 0.5, -1])}"
        return f"({sub()} {op} {sub()})"
    if r < 0.75:
        return f"{rng.choice(UNARY)}({sub()})"
    if r < 0.85:
        return f"-({sub()})"
    if r < 0.93:
        return f"{rng.choice(['max', 'min'])}({sub()}, {sub()}, {sub()})"
    return f"linear({sub()}, {sub()})"


def random_program(rng):
    names = ["x", "y", "z"][:rng.randint(1, 3)]
    lines = [f"input {', '.join(names)}"]
    if rng.random() < 0.5:  # a shared sub-expression: printed once, as a binding
        lines.append(f"h = {random_expression(rng, names, 2)}")
        names = names + ["h"]
    kind = rng.random()
    if kind < 0.2:
        lines.append(f"softmax(dense(3, tanh(dense(2, {', '.join(names)}))))")
    elif kind < 0.35:
        lines.append(f"[{random_expression(rng, names, 3)}, {random_expression(rng, names, 3)}]")
    else:
        lines.append(random_expression(rng, names, 4))
    return "\n".join(lines)


def outcome(net, point):
    """The prediction as exact bits (repr), or that it raises. (Not the error's text: the printer
    writes a - (-2/p) as a + 2/p, the same number by IEEE sign symmetry but another node to
    name.)"""
    try:
        v = net.predict(point)
    except EvaluationError:
        return "error"
    return repr(v)


def assert_same_network(a, b):
    assert [i.name for i in a.inputs] == [i.name for i in b.inputs]
    assert [p.name for p in a.parameters] == [p.name for p in b.parameters]
    assert [repr(p.value) for p in a.parameters] == [repr(p.value) for p in b.parameters]
    for mode in ("value", "name", "p"):
        assert a.funcify(params=mode) == b.funcify(params=mode)


@pytest.mark.parametrize("seed", range(40))
def test_save_load_predict_is_bit_identical_on_random_networks(seed, tmp_path):
    rng = random.Random(seed)
    net = treenet.parse(random_program(rng), seed=seed)
    for p in net.parameters:  # values with long, tiny, huge and signed-zero reprs
        p.value = rng.choice([rng.uniform(-3, 3), rng.gauss(0, 1) / 3, 1e-300, -0.0, 5e-324,
                              1 / 3, 123456789.123456789])
    path = tmp_path / "net.tn"
    net.save(path)
    loaded = treenet.load(path)
    assert_same_network(net, loaded)
    for _ in range(5):
        point = [rng.uniform(-2, 2) for _ in net.inputs]
        assert outcome(loaded, point) == outcome(net, point)


def test_a_class_built_dag_round_trips():
    x, y = Input(name="x"), Input(name="y")
    shared = Tanh([Add([Multiply([Parameter(1 / 3), x]), Multiply([Parameter(-2 / 7), y])])])
    net = Sigmoid([Add([Multiply([shared, shared]), Multiply([Parameter(0.1), shared]),
                        Parameter(-1e-17)])])
    loaded = treenet.io.loads(treenet.io.dumps(net))
    assert_same_network(net, loaded)
    for point in ([0.3, -0.7], [2.0, 1.0]):
        assert loaded.predict(point) == net.predict(point)


def test_a_trained_network_round_trips_and_keeps_training_identically(tmp_path):
    data = [([0, 0], 0), ([0, 1], 1), ([1, 0], 1), ([1, 1], 0)]
    net = treenet.parse("input x, y\nsigmoid(linear(tanh(dense(3, x, y))))", seed=0)
    treenet.train(net, data, loss="bce", optimizer="adam", lr=0.05, epochs=50, seed=0,
                  progress=False)
    net.save(tmp_path / "xor.tn")
    loaded = treenet.load(tmp_path / "xor.tn")
    for x, _ in data:
        assert loaded.predict(x) == net.predict(x)
    for n in (net, loaded):
        treenet.train(n, data, loss="bce", optimizer="sgd", lr=0.5, epochs=3, seed=1,
                      progress=False)
    assert [p.value for p in loaded.parameters] == [p.value for p in net.parameters]


def test_the_file_is_a_readable_program():
    net = treenet.parse("input x, y\nw = p(0.5)\nsigmoid(w*x + p(0.25)*y + p(-1.0))")
    text = treenet.io.dumps(net)
    assert text == ("# treenet network: 2 inputs, 3 parameters\n"
                    "input x, y\n"
                    "w = p(0.5)\n"
                    "p0 = p(0.25)\n"
                    "p1 = p(-1)\n"
                    "sigmoid(w*x + p0*y + p1)\n"
                    "# end\n")


def test_input_order_survives_even_when_the_formula_uses_them_in_another_order():
    net = treenet.parse("input b, a\na - 2*b")
    loaded = treenet.io.loads(treenet.io.dumps(net))
    assert [i.name for i in loaded.inputs] == ["b", "a"]
    assert loaded.predict([1.0, 5.0]) == net.predict([1.0, 5.0]) == 3.0


def test_file_objects():
    net = treenet.parse("input x\np(0.5)*x")
    buf = io.StringIO()
    net.save(buf)
    loaded = treenet.load(io.StringIO(buf.getvalue()))
    assert loaded.predict([2.0]) == 1.0


def test_every_truncation_is_a_parse_error_with_line_and_column():
    net = treenet.parse("input x, y\nh = tanh(p*x + p*y)\nsoftmax(h*p, p*h + p, -h)", seed=2)
    text = treenet.io.dumps(net)
    complete = len(text) - 1  # all but the final newline
    for cut in range(complete):
        with pytest.raises(ParseError) as info:
            treenet.io.loads(text[:cut])
        assert info.value.line is not None and info.value.column is not None, cut
    assert_same_network(net, treenet.io.loads(text[:complete]))


@pytest.mark.parametrize("content, line, column", [
    (b"", 1, 1),
    (b"# treenet network: 1 input, 1 parameter\ninput x\np0 = p(0.5)\np0*x +\n# end\n", 4, 7),
    (b"# treenet network: 1 input, 1 parameter\ninput x\np0 = p(0.5)\nfoo(x)\n# end\n", 4, 1),
    (b"input x\np0 = p(0.5\nx\n", 2, 7),
    (b"input x\n\xff\xfe garbage", 2, 1),
    (b"input x\nx $ 2\n", 2, 3),
])
def test_bad_files_are_parse_errors_with_line_and_column(tmp_path, content, line, column):
    path = tmp_path / "bad.tn"
    path.write_bytes(content)
    with pytest.raises(ParseError) as info:
        treenet.load(path)
    assert (info.value.line, info.value.column) == (line, column)


def test_a_hand_written_program_loads_too(tmp_path):
    path = tmp_path / "hand.tn"
    path.write_text("# a neuron\ninput a, b\ntanh(p*a + p*b + p)\n")
    assert len(treenet.load(path, seed=1).parameters) == 3


def test_non_finite_parameters_cannot_be_saved(tmp_path):
    net = treenet.parse("input x\np(0.5)*x")
    net.parameters[0].value = math.inf
    with pytest.raises(TreenetError, match="finite"):
        net.save(tmp_path / "inf.tn")
    assert not (tmp_path / "inf.tn").exists()


@pytest.mark.parametrize("name", ["w b", "2w", ""] + sorted(reserved_names()))
def test_names_a_program_cannot_hold_are_refused_before_writing(tmp_path, name):
    # every name the parser reserves (keywords, built-in calls, dense): io reads its list
    x = Input(name="x")
    net = Sigmoid([Multiply([Parameter(0.5, name=name), x])])
    with pytest.raises(TreenetError, match="rename it"):
        net.save(tmp_path / "odd.tn")
    assert not (tmp_path / "odd.tn").exists()
