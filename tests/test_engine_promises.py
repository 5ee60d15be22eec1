"""What the engine promises, pinned in the order of issues 7 and 8: nodes report the graph that
ran last (stale graphs), errors that say what really failed, inputs by name (unknown keys, vector
names), clear errors for huge ints and non-number leaves, dense's rng, and threads."""

import gc
import math
import random
import re
import sys
import threading
import weakref

import pytest

import treenet
from treenet import (Add, EvaluationError, Graph, Input, Multiply, Operation, Parameter, Sigmoid,
                     Tanh, TreenetError, parse)

SHARED = "h = tanh(p(0.5)*x)\nsigmoid(h*p(2) + h)"


def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


def shared_by_hand(x):
    """(h, z, out, d out/dz) for SHARED: h = tanh(0.5x), z = 2h + h, out = sigmoid(z)."""
    h = math.tanh(0.5 * x)
    z = h * 2.0 + h
    s = sigmoid(z)
    return h, z, s, s * (1.0 - s)


# --- issue 7, A: stale graphs ---------------------------------------------------------------------

def test_recompiled_network_reports_its_gradients():
    net = parse(SHARED)
    net.predict([0.7])
    net.compile()
    net.predict([0.7])
    net.backward()
    _, z, _, dz = shared_by_hand(0.7)
    assert net.children[0].value == pytest.approx(z, rel=1e-15)
    assert net.children[0].grad == pytest.approx(dz, rel=1e-15)
    assert dz > 0.01


def test_second_graph_over_the_same_root_reports_its_values():
    net = parse(SHARED)
    graph = Graph(net)  # its values live in it: a node reports them while the graph is alive
    graph.set_inputs([0.7])
    graph.forward()
    _, z, out, _ = shared_by_hand(0.7)
    assert net.value == pytest.approx(out, rel=1e-15)
    assert net.children[0].value == pytest.approx(z, rel=1e-15)


def test_nodes_report_the_graph_that_ran_over_them_last():
    x = Input(name="x")
    h = Tanh([Multiply([Parameter(0.5), x])])
    net = Sigmoid([Add([Multiply([h, Parameter(2.0)]), h])])
    net.predict([0.7])
    net.backward()
    _, _, out, dz = shared_by_hand(0.7)
    assert h.grad == pytest.approx(3 * dz, rel=1e-15)  # d out/dh through both of h's parents
    hidden = Graph(h)  # a sub-network, as a loss reading a hidden layer compiles
    hidden.predict([0.2])
    hidden.backward()
    assert (h.value, h.grad) == (pytest.approx(math.tanh(0.1), rel=1e-15), 1.0)
    assert net.value == pytest.approx(out, rel=1e-15)  # only the network's graph holds the root
    net.predict([0.7])
    net.backward()
    assert (h.value, h.grad) == (pytest.approx(math.tanh(0.35), rel=1e-15),
                                 pytest.approx(3 * dz, rel=1e-15))


def test_a_dropped_graph_is_freed_without_the_cycle_collector():
    net = parse(SHARED)
    old = weakref.ref(net.graph)
    net.predict([0.7])
    enabled = gc.isenabled()
    gc.disable()
    try:
        net.compile()
        assert old() is None  # nodes refer to their graphs weakly: no reference cycle
    finally:
        if enabled:
            gc.enable()
    assert net.children[0].value is None  # the new graph has not run yet
    net.predict([0.7])
    assert net.children[0].value == pytest.approx(shared_by_hand(0.7)[1], rel=1e-15)


# --- issue 7, B: engine errors --------------------------------------------------------------------

class _Scaled(Operation):
    """scaled(x) = 2x for x >= 0 (a user's op with its own error)"""
    notation = "call"

    def compute(self, xs):
        if xs[0] < 0:
            raise TreenetError("scaled_by_user takes x >= 0")
        return 2 * xs[0]

    def partials(self, xs, out):
        return [2.0]


class _Broken(Operation):
    """a user's op whose rules fail with errors that are not arithmetic"""
    notation = "call"
    fail_in = "compute"

    def compute(self, xs):
        if self.fail_in == "compute":
            return {}["missing"]
        if self.fail_in == "value":
            return "not a number"
        return xs[0]

    def vjp(self, xs, out, g):
        if self.fail_in == "vjp":
            return None.grad
        if self.fail_in == "overflow":
            return [math.exp(1000.0) * g]
        return ["a"]


# named after the declaration, which keeps them out of the op registry that other tests walk
_Scaled.call, _Broken.call = "scaled_by_user", "broken_by_user"


def _broken(fail_in):
    node = _Broken([Multiply([Parameter(1.5, name="w"), Input(name="x")])])
    node.fail_in = fail_in
    return node


def test_an_ops_own_error_passes_through_naming_the_sub_expression():
    net = _Scaled([Input(name="x")])
    with pytest.raises(EvaluationError) as info:
        net.predict([-1.0])
    assert str(info.value) == "scaled_by_user takes x >= 0 in scaled_by_user(x)"
    assert "math domain" not in str(info.value)


def test_a_custom_compute_error_says_it_came_from_that_rule():
    with pytest.raises(EvaluationError) as info:
        _broken("compute").predict([1.0])
    assert "_Broken.compute raised KeyError: 'missing'" in str(info.value)
    assert "broken_by_user(w*x)" in str(info.value)
    assert isinstance(info.value.__cause__, KeyError)


def test_a_custom_compute_returning_a_non_number_is_named():
    with pytest.raises(EvaluationError, match=r"_Broken.compute returned 'not a number', not a "
                                              r"number in broken_by_user\(w\*x\)"):
        _broken("value").predict([1.0])


def test_a_custom_vjp_error_says_it_came_from_that_rule_not_nan():
    net = _broken("vjp")
    net.predict([1.0])
    with pytest.raises(EvaluationError) as info:
        net.backward()
    assert "_Broken.vjp raised AttributeError" in str(info.value)
    assert "NaN" not in str(info.value)
    assert isinstance(info.value.__cause__, AttributeError)


def test_an_overflow_in_a_derivative_says_overflow():
    with pytest.raises(EvaluationError, match=r"^overflow in the derivative in broken_by_user"):
        _broken("overflow").backward()


def test_a_custom_vjp_returning_non_numbers_is_named():
    with pytest.raises(EvaluationError, match=r"_Broken.vjp returned \['a'\], not a list of "
                                              "numbers"):
        _broken("list").backward()


# --- issue 7, C: inputs by name -------------------------------------------------------------------

def test_an_unknown_key_is_named_with_its_close_match():
    net = parse("x + y")
    with pytest.raises(EvaluationError) as info:
        net.predict({"x": 1, "Y": 2})
    text = str(info.value)
    assert "missing value for input 'y'" in text
    assert "'Y' is not an input" in text and "did you mean 'y'?" in text


def test_a_vector_input_takes_a_sequence_under_its_name():
    net = parse("input v[3], s\nv[0] + v[1]*v[2] - s")
    assert net.predict({"v": [1, 2, 3], "s": 0.5}) == 1 + 2 * 3 - 0.5
    assert net.predict({"v": (2.0, 0.0, 5.0), "s": 0}) == 2.0


def test_a_vector_input_of_the_wrong_length_is_a_clear_error():
    net = parse("input v[3]\nv[0] + v[1]*v[2]")
    with pytest.raises(EvaluationError, match=r"input vector 'v' has 3 elements \(v_0, v_1, "
                                              r"v_2\), got 2 values"):
        net.predict({"v": [1, 2]})
    with pytest.raises(EvaluationError, match="'v' is a vector of 3"):
        net.predict({"v": 1.0})
    with pytest.raises(EvaluationError, match="'v_1' is given twice"):
        net.predict({"v": [1, 2, 3], "v_1": 5})


def test_a_saved_vector_network_still_takes_the_vector_by_name():
    net = treenet.io.loads(treenet.io.dumps(parse("input v[2]\nv[0] - v[1]")))
    assert net.predict({"v": [5, 3]}) == 2.0


# --- issue 8, F: raw exceptions -------------------------------------------------------------------

def test_a_huge_int_input_names_the_input():
    net = parse("x*2")
    for values in ([10 ** 400], {"x": 10 ** 400}):
        with pytest.raises(EvaluationError, match="input 'x' is 1000.*too large for a float"):
            net.predict(values)


def test_a_huge_int_upstream_derivative_is_a_clear_error():
    net = parse("x*2")
    net.predict([1.0])
    with pytest.raises(TreenetError, match="too large for a float"):
        net.backward(10 ** 400)
    with pytest.raises(TreenetError, match="too large for a float"):
        parse("[x, 2*x]").backward([1, 10 ** 400])


def test_a_parameter_from_a_string_is_a_treenet_error():
    with pytest.raises(TreenetError, match="expected a number, got 'abc'"):
        Parameter("abc")
    with pytest.raises(TreenetError, match="too large for a float"):
        Parameter(10 ** 400)


@pytest.mark.parametrize("bad, shown", [("1", "'1' (str)"), (None, "None"), (10 ** 400, "1000"),
                                        ([1.0], "[1.0]")],
                         ids=["str", "None", "huge int", "list"])
def test_a_leaf_set_to_a_non_number_is_named(bad, shown):
    net = parse("w = p(0.5)\nw*x + 1")
    net.predict([1.0])
    net.parameters[0].value = bad
    with pytest.raises(EvaluationError, match=f"parameter 'w'.*{re.escape(shown)}"):
        net.predict([1.0])
    net.parameters[0].value = 0.25  # the network is not left broken
    assert net.predict([2.0]) == 1.5


def test_an_input_set_to_a_non_number_from_outside_is_named():
    net = parse("x + 1")
    net.inputs[0].value = "2"
    with pytest.raises(EvaluationError, match="input 'x': expected a number, got '2'"):
        net.forward()


def test_dense_takes_a_random_or_a_seed_and_refuses_anything_else():
    x = Input(name="x")
    by_seed = treenet.dense(2, [x], rng=5)
    by_random = treenet.dense(2, [x], rng=random.Random(5))
    values = [[p.value for p in Add(units).compile().parameters] for units in (by_seed, by_random)]
    assert values[0] == values[1]
    with pytest.raises(TreenetError, match="rng must be a random.Random or an int seed"):
        treenet.dense(2, [x], rng="5")


# --- issue 8, G: threads --------------------------------------------------------------------------

def test_one_network_shared_by_eight_threads_predicts_right():
    # many inputs: setting them is a wide window for another thread's predict to cut into
    net = parse("input v[16]\nsigmoid(linear(v))", seed=1)
    rng = random.Random(0)
    cases = [[rng.uniform(-2, 2) for _ in range(16)] for _ in range(64)]
    expected = [net.predict(case) for case in cases]
    wrong, errors = [], []

    start = threading.Barrier(8)

    def work(k):
        start.wait()  # all eight at once, so their calls interleave
        for r in range(400):
            i = (r * 7 + k) % len(cases)
            try:
                got = net.predict(cases[i])
                net.backward()
            except Exception as exc:  # noqa: BLE001 - every error is a failure of this test
                errors.append(repr(exc))
                continue
            if got != expected[i]:
                wrong.append((i, got, expected[i]))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so an unguarded race shows at once
    try:
        threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert not errors, errors[:3]
    assert not wrong, wrong[:3]
