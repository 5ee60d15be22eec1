"""treenet.Session (issue 10): statements run one `run` after another with their bindings kept,
a program that may end in a binding, a bad line that changes nothing, and the `:` commands the
REPL and the `treenet` command share. Expected numbers come from the formulas' own math."""

import math

import pytest

import treenet
from treenet.session import Definition, Quit, parse_values, point
from treenet.table import read_csv


def sigmoid(z):
    return 1 / (1 + math.exp(-z))


# h = relu(0.5x - 0.25y + 0.1); net = sigmoid(2h - 1): at (1, 2), h = 0.1 and net = sigmoid(-0.8)
HIDDEN = "h = relu(p(0.5)*x + p(-0.25)*y + p(0.1))"
NET = "net = sigmoid(p(2)*h + p(-1))"


def test_bindings_persist_between_runs_and_share_nodes():
    s = treenet.Session()
    assert s.run(HIDDEN) is None
    assert s.run(NET) is None
    net = s.run("net")
    assert net is s.names["net"]
    assert net.children[0].children[0].children[1] is s.names["h"]  # the same h node
    assert [i.name for i in net.inputs] == ["x", "y"]
    assert net.inputs[0] is s.names["h"].graph.inputs[0]  # one Input x for the session
    assert net.predict([1, 2]) == pytest.approx(sigmoid(-0.8), rel=1e-15)


def test_run_returns_the_last_expression_of_several_statements():
    s = treenet.Session()
    out = s.run("a = x + 1; a*3; b = a*2")  # several expressions, ending in a binding
    assert out.predict([2]) == 9
    assert set(s.names) == {"a", "b"}
    assert s.names["b"].compile().predict([2]) == 6


def test_a_program_may_end_in_a_binding_but_parse_still_refuses_it():
    assert treenet.Session().run("w = p(0.3)") is None
    with pytest.raises(treenet.ParseError, match="must end with an expression"):
        treenet.parse("w = p(0.3)")


def test_names_show_vectors_and_defs():
    s = treenet.Session()
    s.run("def neuron(a) = tanh(p*a + p); d = dense(2, x); input v[2]")
    names = s.names
    assert isinstance(names["neuron"], Definition) and names["neuron"].params == ("a",)
    assert len(names["d"]) == 2 and len(names["v"]) == 2
    assert s.run("neuron(d[1])").inputs[0].name == "x"


def test_a_bad_line_raises_with_a_caret_and_changes_nothing():
    s = treenet.Session(seed=0)
    s.run("d = dense(2, x)")
    before = dict(s.names)
    with pytest.raises(treenet.ParseError) as err:
        s.run("w = d[1]; q = p*sigmod(x)")
    assert "sigmod" in str(err.value) and "^" in str(err.value)
    assert s.names.keys() == before.keys() and s.names["d"] == before["d"]
    assert s.names["d"][1].name is None  # the failed `w = d[1]` named no node
    # the failed line drew no random numbers: the next p is the one it would have been
    fresh = treenet.Session(seed=0)
    fresh.run("d = dense(2, x)")
    assert s.run("p").predict([]) == fresh.run("p").predict([])


def test_a_seed_makes_a_session_reproducible():
    a, b = treenet.Session(seed=3), treenet.Session(seed=3)
    assert a.run("linear(x, y)").funcify() == b.run("linear(x, y)").funcify()


def test_an_expression_line_shows_its_value_once_every_input_has_one():
    s = treenet.Session()
    s.execute(HIDDEN)
    s.execute(NET)
    assert "=" not in s.execute("net").splitlines()[-1]
    assert s.execute(":set x=1 y=2") == "x=1, y=2"
    shown = s.execute("net").splitlines()
    assert shown[0] == "sigmoid(p3*relu(p0*x + p1*y + p2) + p4)"
    assert float(shown[1].removeprefix("= ")) == pytest.approx(sigmoid(-0.8), rel=1e-15)


def test_grad_command_gives_every_gradient():
    s = treenet.Session()
    s.run("x*y")
    rows = dict(line.split() for line in s.execute(":grad x=2 y=3").splitlines()[2:])
    assert rows == {"x": "3", "y": "2"}


def test_grad_of_a_named_network_uses_the_set_values():
    s = treenet.Session()
    s.run(HIDDEN)
    s.run(NET)
    s.run("other = x")
    s.execute(":set x=1 y=2")
    rows = dict(line.split() for line in s.execute(":grad net").splitlines()[2:])
    sg = sigmoid(-0.8)
    assert float(rows["x"]) == pytest.approx(sg * (1 - sg) * 2 * 0.5, rel=1e-12)
    assert float(rows["y"]) == pytest.approx(sg * (1 - sg) * 2 * -0.25, rel=1e-12)
    assert float(rows["p4"]) == pytest.approx(sg * (1 - sg), rel=1e-12)


def test_check_print_latex_and_derive_commands():
    s = treenet.Session()
    s.run("f = x^3 + x*y")
    s.execute(":set x=2 y=5")
    table = s.execute(":check f")
    assert table.splitlines()[-1].startswith("ok: 2 variables")
    assert s.execute(":print f") == "x^3 + x*y"
    assert "x^{3}" in s.execute(":latex f")
    d = treenet.parse(s.execute(":derive f x"))
    assert d.predict({"x": 2, "y": 5}) == 3 * 2 ** 2 + 5


def test_save_then_load_binds_the_network_with_the_sessions_inputs(tmp_path):
    s = treenet.Session()
    s.run("net = tanh(p(0.5)*x + p(0.25))")
    path = tmp_path / "net.tn"
    assert "saved" in s.execute(f":save net {path}")
    s.execute(f":load {path} as again")
    both = s.run("again + net")  # one input x: the loaded network reads the session's x
    assert [i.name for i in both.inputs] == ["x"]
    assert both.predict([2]) == pytest.approx(2 * math.tanh(1.25), rel=1e-15)
    s.execute(f":load {path}")  # named after the file
    assert s.names["net"].predict([2]) == pytest.approx(math.tanh(1.25), rel=1e-15)


def test_train_command_trains_a_bound_network_on_a_csv(tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("x,t\n" + "".join(f"{x},{2 * x + 1}\n" for x in range(-3, 4)))
    s = treenet.Session()
    s.run("line = p(0)*x + p(0)")
    text = s.execute(f":train line {data} --target t --lr 0.02 --epochs 300 --quiet")
    assert "loss" in text
    assert s.names["line"].predict([10]) == pytest.approx(21, abs=1e-3)


def test_reset_vars_help_and_quit():
    s = treenet.Session()
    s.run("h = tanh(x)")
    s.execute(":set x=1")
    assert "h" in s.execute(":vars") and "x=1" in s.execute(":vars")
    assert ":grad" in s.execute(":help") and ":train" in s.execute(":help train")
    s.execute(":reset")
    assert s.names == {} and s.values == {}
    with pytest.raises(Quit):
        s.execute(":quit")


def test_command_errors_are_treenet_errors_with_did_you_mean():
    s = treenet.Session()
    s.run("net = x*y")
    cases = [(":gard", "did you mean :grad"), (":set X=1", "did you mean 'x'"),
             (":set x=abc", "finite number"), (":print nett", "did you mean 'net'"),
             (":grad", "no network yet"), (":save net", "usage"),
             (":train net", ":train: the following arguments are required: csv"), (":load nowhere.tn", "nowhere.tn")]
    for line, message in cases:
        with pytest.raises(treenet.TreenetError, match=message):
            s.execute(line)


def test_values_parse_and_vector_values_fill_an_input_vector():
    assert parse_values(["x=1", "y=-2.5", "v=1,2"]) == {"x": 1.0, "y": -2.5, "v": [1.0, 2.0]}
    net = treenet.parse("input v[2]; v[0] - v[1]")
    assert point(net.inputs, {"v": [5, 3]}) == {"v_0": 5, "v_1": 3}
    for bad, message in [({"v": [1]}, "vector of 2"), ({"w": 1}, "not an input"),
                         ({}, "no value for v_0 and v_1")]:
        with pytest.raises(treenet.TreenetError, match=message):
            point(net.inputs, bad)
    for words in (["x"], ["x=inf"], ["1x=2"]):
        with pytest.raises(treenet.TreenetError):
            parse_values(words)


def test_csv_columns_are_matched_by_header_with_row_and_column_in_errors(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("y,x,label\n1,2,0\n\n3,4,1\n")
    assert read_csv(f, ["x", "y"], ["label"]) == [([2, 1], 0), ([4, 3], 1)]
    assert read_csv(f, ["x", "y"], None) == [([2, 1], 0), ([4, 3], 1)]  # the one non-input
    with pytest.raises(treenet.TreenetError, match="did you mean 'label'"):
        read_csv(f, ["x", "y"], ["labl"])
    f.write_text("x,label\n1,0\n2,oops\n")
    with pytest.raises(treenet.TreenetError, match=r"line 3, column 'label': 'oops'"):
        read_csv(f, ["x"], ["label"])
    with pytest.raises(treenet.FileError):
        read_csv(tmp_path / "missing.csv", ["x"], ["label"])
