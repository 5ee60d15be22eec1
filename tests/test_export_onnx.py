"""Export to ONNX (treenet.to_onnx, issue 11's ONNX part), in the order of its list: random
programs run by onnxruntime as `predict` computes them, the model's interface (checker, names,
shapes, opset), every op's ONNX form, the numerics (stability, kinks, IEEE values at domain
edges), initializers and folding, shared nodes, ops without a form, hostile names, paths and
atomic writes, and the missing extra. The random programs are test_codegen's generator."""

import math
import os
import random
import re
import sys

import numpy as np
import pytest

# optional extras: CI installs them and allows no skip
onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")

import treenet
from treenet import EvaluationError, FileError, TreenetError
from treenet.onnxnet import IR_VERSION, OPSET, form_of
from treenet.ops import REGISTRY
from test_codegen import Cube, Doubled, program


def session(model):
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # no warnings on stderr
    return onnxruntime.InferenceSession(model.SerializeToString(), options,
                                        providers=["CPUExecutionProvider"])


def run(net, rows):
    """The exported model's output for a batch of rows (lists in `net.inputs` order)."""
    x = np.array(rows, dtype=np.float64).reshape(len(rows), len(net.inputs))
    return session(treenet.to_onnx(net)).run(None, {"x": x})[0]


def expected_rows(net, rows):
    """(row index, predict's value) for every row the engine can evaluate."""
    out = []
    for r, row in enumerate(rows):
        try:
            out.append((r, np.atleast_1d(net.predict(row))))
        except EvaluationError:
            continue
    return out


def assert_close(got, expected, rel=1e-12, where=""):
    got, expected = np.atleast_1d(got), np.atleast_1d(expected)
    assert got.shape == expected.shape, where
    assert np.all(np.abs(got - expected) <= rel * np.abs(expected) + 1e-300), \
        (where, got.tolist(), expected.tolist())


# --- random programs: onnxruntime against predict ----------------------------------------------

def test_random_programs_run_in_onnxruntime_as_predict_computes_them_to_1e_12():
    compared = 0
    for seed in range(150):
        source, _ = program(seed)
        net = treenet.parse(source, seed=seed)
        rng = random.Random(seed)
        n = len(net.inputs)
        rows = [[rng.uniform(-1.5, 1.5) for _ in range(n)] for _ in range(4)]
        rows += [[0.0] * n, [0.75] * n]  # zeros (relu, abs, step, sign) and ties (max, min)
        got = run(net, rows)
        k = len(net.graph.output.children) if net.graph.vector_output else None
        assert got.shape == ((len(rows),) if k is None else (len(rows), k))
        for r, value in expected_rows(net, rows):
            assert_close(got[r], value, where=f"seed {seed}, row {rows[r]}:\n{source}")
            compared += 1
    assert compared >= 800


# --- the model's interface ---------------------------------------------------------------------

@pytest.mark.parametrize("source, shape", [
    ("sigmoid(p*x + p*y + p)", ["n"]),
    ("softmax(dense(3, x, y))", ["n", 3]),
    ("input x, y, z\n[x, 1, p(0.5), tanh(z)]", ["n", 4]),
])
def test_the_checker_accepts_the_model_with_input_x_output_y_and_the_opset(source, shape):
    net = treenet.parse(source, seed=0)
    model = treenet.to_onnx(net)
    onnx.checker.check_model(model, full_check=True)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", OPSET)] == [("", 17)]
    assert model.ir_version == IR_VERSION
    (x,), (y,) = model.graph.input, model.graph.output
    dims = lambda v: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]  # noqa
    assert (x.name, dims(x)) == ("x", ["n", len(net.inputs)])
    assert (y.name, dims(y)) == ("y", shape)
    assert x.type.tensor_type.elem_type == y.type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    got = run(net, [[0.25 * j for j in range(len(net.inputs))]] * 7)
    assert got.shape == tuple(7 if d == "n" else d for d in shape)


def test_the_input_columns_are_in_net_inputs_order():
    net = treenet.parse("input b, a\na - 10*b")
    assert run(net, [[1.0, 2.0]]).tolist() == [2.0 - 10.0]


def test_a_network_without_inputs_gives_one_value_per_row():
    for source, expected in [("p(0.5)", [0.5] * 3), ("2 * 3", [6.0] * 3),
                             ("[p(1), 2]", [[1.0, 2.0]] * 3)]:
        net = treenet.parse(source)
        assert run(net, np.zeros((3, 0))).tolist() == expected, source


# --- every op has its ONNX form ------------------------------------------------------------

ELEMENTARY = [cls for cls in REGISTRY.values()
              if not issubclass(cls, treenet.Macro) and cls.__module__ == "treenet.ops"]
VALUES = [0.0, -0.0, 0.5, -0.5, 1.0, 2.0, -3.0, 1e-300, 40.0, -40.0]


@pytest.mark.parametrize("cls", ELEMENTARY, ids=lambda c: c.__name__)
def test_every_op_declares_an_onnx_form_that_computes_its_value(cls):
    assert form_of(cls)
    lo, hi = cls.arity_range()
    rng = random.Random(cls.__name__)
    for n in sorted({lo, min(max(lo, 2), hi or 3), hi or 3}):
        net = cls([treenet.Input(name=f"a{j}") for j in range(n)])
        rows = [[v] * n for v in VALUES]  # zeros and ties
        rows += [[rng.choice(VALUES) for _ in range(n)] for _ in range(30)]
        got = run(net, rows)
        for r, value in expected_rows(net, rows):
            assert_close(got[r], value, where=f"{cls.__name__}{tuple(rows[r])}")


# --- numerics --------------------------------------------------------------------------------

def test_sigmoid_and_softmax_are_stable_at_large_inputs():
    # onnxruntime's own float64 Sigmoid gives 0.0 for sigmoid(-40), not 4.2e-18
    net = treenet.parse("[sigmoid(x), sigmoid(-x)]")
    rows = [[v] for v in (-1000.0, -745.0, -40.0, -36.0, 0.0, 36.0, 40.0, 1000.0)]
    got = run(net, rows)
    for r, value in expected_rows(net, rows):
        assert_close(got[r], value)
    soft = treenet.parse("softmax(x, -x, 0.5*x)")
    got = run(soft, [[1000.0], [-1000.0], [1e308]])
    assert np.all(np.isfinite(got))
    assert_close(got[0], soft.predict([1000.0]))
    assert_close(got[1], soft.predict([-1000.0]))


@pytest.mark.parametrize("source, row, expected", [  # the kink conventions, written out
    ("[relu(x), step(x), sign(x), abs(x)]", [0.0], [0.0, 0.0, 0.0, 0.0]),
    ("[relu(x), step(x), sign(x), abs(x)]", [-0.0], [0.0, 0.0, 0.0, 0.0]),
    ("[relu(x), step(x), sign(x), abs(x)]", [-2.0], [0.0, 0.0, -1.0, 2.0]),
    ("[max(x, y), min(x, y, x), max(x, x)]", [1.0, 1.0], [1.0, 1.0, 1.0]),
])
def test_kinks_at_exactly_zero_and_ties_are_treenets(source, row, expected):
    net = treenet.parse(source)
    assert run(net, [row]).tolist() == [expected] == [net.predict(row)]


def test_the_model_computes_ieee_values_where_predict_raises():
    net = treenet.parse("[log(x), exp(x), 1 / x]")
    with pytest.raises(EvaluationError):
        net.predict([0.0])
    got = run(net, [[0.0], [1000.0]])
    assert got[0].tolist() == [-math.inf, 1.0, math.inf]
    assert got[1, 1] == math.inf


def test_float32_models_take_and_give_float32():
    net = treenet.parse("softmax(tanh(p*x + p*y + p), sigmoid(x*y))", seed=1)
    model = treenet.to_onnx(net, dtype="float32")
    onnx.checker.check_model(model)
    rows = [[0.5, -1.0], [2.0, 0.0]]
    got = session(model).run(None, {"x": np.array(rows, dtype=np.float32)})[0]
    assert got.dtype == np.float32
    assert_close(got, np.array([net.predict(r) for r in rows]), rel=1e-6)
    assert treenet.to_onnx(net, dtype=np.float64) == treenet.to_onnx(net)
    with pytest.raises(TreenetError, match="float64"):
        treenet.to_onnx(net, dtype="int8")


# --- the graph: initializers, folding, shared nodes, depth -----------------------------------

def test_parameters_are_initializers_named_as_in_treenet_with_their_values():
    net = treenet.parse("w = p\nsigmoid(w*x + p*y + p)", seed=3)
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in treenet.to_onnx(net).graph.initializer}
    for param in net.parameters:
        assert inits[param.name].shape == () and float(inits[param.name]) == param.value


def test_constant_sub_expressions_are_folded_into_initializers():
    net = treenet.parse("(2 * 3 - 1.5) * x + exp(1) / 4")
    model = treenet.to_onnx(net)
    assert {node.op_type for node in model.graph.node} == {"Gather", "Mul", "Add", "Identity"}
    assert len(model.graph.initializer) == 3  # x's column, 4.5 and e/4
    assert run(net, [[2.0]]).tolist() == [net.predict([2.0])]


def test_a_shared_node_is_computed_once():
    net = treenet.parse("h = tanh(p*x + p)\ng = sigmoid(h)\nh*h + h*g + g")
    ops = [node.op_type for node in treenet.to_onnx(net).graph.node]
    assert ops.count("Tanh") == 1 and ops.count("Exp") == 1  # sigmoid's one exp
    assert_close(run(net, [[0.3]]), [net.predict([0.3])])


def test_a_deep_network_exports_without_recursion():
    h = treenet.Input(name="x")
    for k in range(5000):  # 20,000 nodes deep
        h = treenet.Tanh([treenet.Add([treenet.Multiply([treenet.Parameter(0.9), h]),
                                       treenet.Parameter(0.01)])])
    model = treenet.to_onnx(h)
    assert len(model.graph.node) == 3 * 5000 + 2  # Gather, then Mul, Add, Tanh a layer, Identity
    assert_close(session(model).run(None, {"x": np.array([[0.5]])})[0], [h.predict([0.5])])


# --- what cannot be exported -----------------------------------------------------------------

@pytest.mark.parametrize("op", [Cube, Doubled])
def test_an_op_without_its_own_onnx_form_is_refused_by_name(op, tmp_path):
    net = treenet.Add([op([treenet.Input(name="x")]), treenet.Parameter(1.0)])
    with pytest.raises(TreenetError, match=f"op {op.__name__} has no ONNX form"):
        treenet.to_onnx(net, tmp_path / "net.onnx")
    assert list(tmp_path.iterdir()) == []


HOSTILE = ["w'); raise SystemExit('boom", "v0", "c0", "i0", "x0", "a b", "θ", "\\", "{0}",
           "line\nbreak", "X", "n"]


def test_hostile_parameter_names_are_kept_as_initializer_names():
    params = [treenet.Parameter(0.1 * (k + 1), name=name) for k, name in enumerate(HOSTILE)]
    x = treenet.Input(name="y")  # input names are not in the model: its columns are
    net = treenet.Add([treenet.Multiply([p, treenet.Tanh([x])]) for p in params] + [
        treenet.Constant(0.5), treenet.Step([x])])
    model = treenet.to_onnx(net)
    onnx.checker.check_model(model, full_check=True)
    names = {i.name for i in model.graph.initializer}
    assert set(HOSTILE) <= names
    assert_close(session(model).run(None, {"x": np.array([[0.3]])})[0], [net.predict([0.3])])


@pytest.mark.parametrize("name, why", [("x", "input or output"), ("y", "input or output"),
                                       ("", "non-empty"), ("\ud800", "Unicode")])
def test_a_parameter_name_onnx_cannot_hold_is_refused(name, why):
    net = treenet.Multiply([treenet.Parameter(0.5, name=name), treenet.Input(name="a")])
    with pytest.raises(TreenetError, match=re.escape(f"parameter {name!r} cannot be exported") + f".*{why}"):
        treenet.to_onnx(net)


# --- files -----------------------------------------------------------------------------------

def test_the_model_is_written_to_path_and_loads_back(tmp_path):
    net = treenet.parse("softmax(p*x, p*y)", seed=2)
    path = tmp_path / "net.onnx"
    model = treenet.to_onnx(net, path)
    assert onnx.load(str(path)).SerializeToString() == model.SerializeToString()
    assert treenet.to_onnx(net, str(path)) == model  # a str path, over the old file
    assert os.listdir(tmp_path) == ["net.onnx"]


@pytest.mark.parametrize("where", ["folder", "missing/net.onnx", ""])
def test_a_bad_path_is_a_file_error(where, tmp_path):
    net = treenet.parse("x")
    target = tmp_path if where == "folder" else tmp_path / where if where else ""
    with pytest.raises(FileError, match="cannot save to"):
        treenet.to_onnx(net, target)
    with pytest.raises(TreenetError, match="expected a file path"):
        treenet.to_onnx(net, 3)


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "net.onnx"
    path.write_bytes(b"old")

    def full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(FileError, match="no space left") as info:
        treenet.to_onnx(treenet.parse("tanh(x)"), path)
    assert isinstance(info.value.__cause__, OSError)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["net.onnx"]


# --- the optional extra ----------------------------------------------------------------------

def test_without_onnx_installed_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(TreenetError, match=r"pip install treenet\[onnx\]"):
        treenet.to_onnx(treenet.parse("x"))
