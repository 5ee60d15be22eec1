"""The code-generation issue's speed items (issue 9) that change what is computed: each test pins
what a change may not alter, or counts the work it saves. Speed itself is measured by hand
(benchmarks/bench.py), never asserted here."""

import pytest

import treenet
from treenet import steps
from treenet.errors import EvaluationError
from treenet.printer import describe
from treenet.graph import Graph

BACKENDS = ("interpreted", "python", "numpy")


def _train(net, start, backend, data, **kw):
    for q, v in zip(net.parameters, start):
        q.value = v
    history = treenet.train(net, data, loss="mse", progress=False, backend=backend, **kw)
    return [q.value for q in net.parameters], history.loss


def test_training_computes_no_input_gradient_so_an_overflowing_input_share_trains_on():
    # sample 1: x's share d*p = 3 * 1.5e308 overflows, p's share and the step are finite. A step
    # needs only the parameters' gradients, on every backend: training goes on, equally
    net = treenet.parse("p(1.5e308)*x")
    data = [([0.0], 0.0), ([1e-308], 0.0), ([0.0], 0.0)]
    start = [q.value for q in net.parameters]
    want = _train(net, start, "interpreted", data, lr=0.1, epochs=2, shuffle=False)
    for backend in BACKENDS:
        assert _train(net, start, backend, data, lr=0.1, epochs=2, shuffle=False) == want
    x = net.inputs[0]
    assert x.grad == 0.0  # never computed


def test_backward_without_inputs_differentiates_only_the_nodes_above_a_parameter():
    net = treenet.parse("tanh(p(0.5)*x + exp(x*y))")  # exp(x*y) holds no parameter
    graph = net.graph
    graph.predict([0.3, 0.4])
    graph.backward(inputs=False)
    assert [i.grad for i in net.inputs] == [0.0, 0.0]
    assert sum(graph.training_needs()) == len(graph.nodes) - 4  # not x, y, x*y, exp(x*y)
    p_grad = net.parameters[0].grad
    graph.zero_grad()
    graph.backward()
    assert net.parameters[0].grad == p_grad and net.inputs[1].grad != 0.0


def test_the_generated_training_step_reads_no_input_gradient():
    net = treenet.parse("sigmoid(p*relu(p*x + p*y + p) + p)", seed=0)
    data = [([0.5, -0.25], 1.0), ([-1.0, 0.75], 0.0)] * 60
    for backend, batch in (("python", 1), ("numpy", len(data))):
        treenet.train(net, data, loss="bce", lr=0.1, epochs=1, batch_size=batch,
                      progress=False, backend=backend)
    sources = [source for source, _ in steps._CODE.values()]
    assert sources and not any("g_x" in source for source in sources)


def test_a_clean_backward_calls_each_rule_once_and_a_failing_one_names_the_share():
    calls = []

    class Twice(treenet.ops.Tanh):
        def partials(self, xs, out):
            calls.append(xs[0])
            return [8.0 * (1.0 - out * out)]

    x, p = treenet.Input(name="x"), treenet.Parameter(1.0, name="p")
    net = Twice([treenet.Multiply([p, x])])
    net.compile()
    net.predict([1.0])
    net.backward()
    assert len(calls) == 1  # the quick loop found nothing wrong: no second, checked pass
    assert net.parameters[0].grad == 8.0 * (1.0 - net.value ** 2)
    net.zero_grad()
    with pytest.raises(EvaluationError) as info:
        net.backward(1e308)  # Twice's share overflows to inf: the product's adjoint shows it
    # the checked loop ran after the quick one and blamed the share where it was made
    assert len(calls) == 3 and "infinite or NaN derivative" in str(info.value)
    assert info.value.expression == describe(net)
    assert net.parameters[0].grad == 0.0  # nothing was written


def test_a_loss_subclass_with_its_own_target_check_still_checks_every_target():
    # train checks the common rows in a few bulk passes, but only for the built-in losses' own
    # check_target: a stricter one of a subclass runs on each target
    class Strict(treenet.losses.BCE):
        def check_target(self, target, width):
            if target not in (0.0, 1.0):
                raise treenet.TreenetError(f"0 or 1 only, got {target}")

    net = treenet.parse("sigmoid(p*x)")
    data = [([0.5], 1.0), ([0.25], 0.5)]
    with pytest.raises(treenet.TreenetError, match=r"data\[1\]: 0 or 1 only"):
        treenet.train(net, data, loss=Strict(), epochs=1, progress=False)
    assert treenet.losses.bce.targets_ok([t for _, t in data], None)
    assert not treenet.losses.bce.targets_ok([1.0, float("nan")], None)
    assert not treenet.losses.bce.targets_ok([1.0, 1.5], None)


def test_a_rule_with_fewer_shares_than_children_gives_what_it_gave_before():
    # the quick loop unrolls one and two children; a rule that returns fewer shares (the
    # engine zips them with the children) falls to the checked loop, which gives the same
    class Half(treenet.ops.Multiply):
        def partials(self, xs, out):
            return [xs[1]]  # only the first child's

    p, q = treenet.Parameter(3.0, name="p"), treenet.Parameter(5.0, name="q")
    net = Half([p, q])
    net.compile()
    net.predict([])
    net.backward()
    assert (p.grad, q.grad) == (5.0, 0.0)


def test_a_long_chain_of_sums_inlined_into_one_line_still_compiles():
    # each sum is read once: written into its one use, unbounded, 400 nested parentheses
    # would pass Python's parser limit; the inlining stops a few levels deep
    program = "input x\nh0 = x*p(0.001)\n" + "\n".join(
        f"h{k} = h{k - 1} + p(0.001)" for k in range(1, 400)) + "\nh399"
    data = [([0.1 * k], 0.5) for k in range(5)]
    got = {}
    for backend in ("python", "interpreted"):
        net = treenet.parse(program)
        treenet.train(net, data, lr=0.01, epochs=2, seed=1, progress=False, backend=backend)
        got[backend] = [q.value for q in net.parameters]
    assert got["python"] == got["interpreted"]


def test_cross_entropy_on_one_output_reads_the_targets_class_as_bce_does():
    # the python epoch finds each target's class once (Loss.code_class), for every loss whose
    # code counts hits: cross_entropy on a scalar output is bce's code
    net = treenet.parse("sigmoid(p*x + p)", seed=1)
    data = [([0.1 * k], float(k % 2)) for k in range(20)]
    got = {}
    for backend in ("python", "interpreted"):
        for q in net.parameters:
            q.value = 0.3
        history = treenet.train(net, data, loss="cross_entropy", epochs=3, shuffle=False,
                                progress=False, backend=backend)
        got[backend] = ([q.value for q in net.parameters], history.accuracy)
    assert got["python"] == got["interpreted"]
