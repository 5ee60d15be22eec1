"""The review's findings in the code generator, the training backends and batched predict
(/work/review.md items 1, 2, 5, 4, 3, 7, 8, 9, 11, 6, 14), one test each, in that order."""

import threading

import numpy as np
import pytest

import treenet
from treenet import EvaluationError, TreenetError, TrainingError
from treenet.graph import Graph


def test_evaluate_on_the_engine_path_gives_the_mean_loss():
    # 2 rows: fewer than the size rule's 100 passes, so the engine evaluates them
    net = treenet.parse("sigmoid(p(0.5)*x + p(-0.25))")
    data = [([0.0], 0), ([1.0], 1)]
    result = treenet.evaluate(net, data, "bce")
    z = [-0.25, 0.5 * 1.0 - 0.25]
    by_hand = [treenet.losses.bce.value_from_logits(t, zi) for zi, (_, t) in zip(z, data)]
    assert result.loss == pytest.approx(sum(by_hand) / 2, rel=1e-12)
    right = sum((zi >= 0) == (t >= 0.5) for zi, (_, t) in zip(z, data))  # sigmoid(z) >= 0.5
    assert result.accuracy == right / 2
    assert result.samples == 2


def test_python_backend_runs_generated_code_for_a_sum_of_40_terms(monkeypatch):
    net = treenet.parse(" + ".join(f"p*x{i}" for i in range(40)), seed=1)
    rows = [[float((i * 7 + j) % 5) / 5 for j in range(40)] for i in range(6)]
    data = [(row, 0.5) for row in rows]
    backward = []
    original = Graph.backward
    monkeypatch.setattr(Graph, "backward", lambda self, *a: backward.append(1) or
                        original(self, *a))
    treenet.train(net, data, lr=0.001, epochs=3, backend="python", progress=False)
    assert backward == []  # no batch went to the engine
    source = treenet.codegen(net)
    assert "def _h_total(" in source and "def total(" not in source


def test_a_generator_bug_in_the_epoch_is_loud_not_a_silent_fallback(monkeypatch):
    import treenet.steps as steps
    net = treenet.parse("p*x + p", seed=2)
    real = steps._PythonEpochs._source

    def broken(self, *args):
        return real(self, *args).replace("total += l", "total += None")
    monkeypatch.setattr(steps._PythonEpochs, "_source", broken)
    monkeypatch.setattr(steps, "_CODE", steps.OrderedDict())
    with pytest.raises(TypeError):
        treenet.train(net, [([1.0], 2.0)] * 3, epochs=1, backend="python", progress=False)


def test_compiled_engine_holds_the_graph_lock_while_its_parameters_are_set():
    from treenet.generator import Compiled
    net = treenet.parse("p(1.0)*x")
    code = Compiled(net, net.graph, "python")
    graph = net.graph
    held = []
    forward = graph.forward

    def watched():
        # another thread cannot take the lock now: the set-evaluate-restore is one step
        got = []
        t = threading.Thread(target=lambda: got.append(graph._lock.acquire(blocking=False)))
        t.start()
        t.join()
        if got[0]:
            graph._lock.release()
        held.append(not got[0])
        return forward()
    graph.forward = watched
    assert code._engine([3.0], [5.0], None)[0] == 15.0
    assert held == [True] and net.parameters[0].value == 1.0


@pytest.mark.parametrize("bad", [1 + 1j, "1", [2.0], None, 10 ** 400])
def test_a_bad_parameter_value_is_the_engines_error_on_every_path(bad):
    net = treenet.parse("p(0.5)*x + p(0.25)")
    q = net.parameters[0]
    q.value = bad
    with pytest.raises(EvaluationError) as single:
        net.predict([1.0])
    message = str(single.value)
    assert "parameter" in message
    for rows in (np.ones((200, 1)), np.ones((3, 1))):  # the numpy code, and the engine
        with pytest.raises(EvaluationError) as batch:
            net.predict(rows)
        assert message in str(batch.value)
    data = [([float(i % 3)], 1.0) for i in range(40)]
    for backend, batch_size in (("python", 1), ("numpy", 4), ("interpreted", 1)):
        with pytest.raises(TrainingError, match="parameter"):
            treenet.train(net, data, epochs=3, batch_size=batch_size, backend=backend,
                          progress=False)
        assert q.value is bad  # nothing written back


def test_adam_with_a_numpy_beta_trains_on_generated_code(monkeypatch):
    net = treenet.parse("p(0.5)*x + p(0.25)")
    data = [([float(i % 3)], 1.0) for i in range(8)]
    opt = treenet.optimizers.Adam(lr=np.float64(0.01), beta1=np.float64(0.9),
                                  beta2=np.float64(0.999))
    backward = []
    original = Graph.backward
    monkeypatch.setattr(Graph, "backward", lambda self, *a: backward.append(1) or
                        original(self, *a))
    treenet.train(net, data, optimizer=opt, epochs=2, backend="python", progress=False)
    assert backward == []
    assert all(type(q.value) is float for q in net.parameters)


def test_a_complex_batch_is_refused_as_a_complex_sample_is():
    net = treenet.parse("p*x + p*y", seed=3)
    with pytest.raises(EvaluationError, match="complex"):
        net.predict([1j, 1.0])
    with pytest.raises(EvaluationError, match="complex"):
        net.predict(np.ones((3, 2), dtype=complex))


def test_a_batch_of_a_vector_input_of_another_width_is_an_error():
    net = treenet.parse("input v[2]\np*v[0] + p*v[1]", seed=4)
    with pytest.raises(EvaluationError, match=r"2 elements.*\(3, 3\)"):
        net.predict({"v": np.ones((3, 3))})
    assert net.predict({"v": np.ones((3, 2))}).shape == (3,)


@pytest.mark.parametrize("values", [[[True, 2], [3, 4]], np.array([[True, False], [True, True]]),
                                    [[1.5, 2.0], [np.True_, 4.0]], {1, 2}])
def test_bools_and_sets_are_not_batches(values):
    net = treenet.parse("p*x + p*y", seed=5)
    with pytest.raises(EvaluationError, match="bool|sequence"):
        net.predict(values)


def test_a_vector_given_as_a_numpy_array_predicts_a_float():
    net = treenet.parse("input v[2]\np(2.0)*v[0] + p(3.0)*v[1]")
    out = net.predict({"v": np.array([1.0, 2.0])})
    assert type(out) is float and out == 8.0
    assert all(type(n.value) is float for n in net.inputs)


def test_a_0d_array_is_one_number_and_a_target_list_is_a_treenet_error():
    net = treenet.parse("p(2.0)*x")
    assert net.predict(np.array(1.5)) == 3.0
    with pytest.raises(TreenetError, match="target"):
        treenet.codegen(net, ["python"])


def test_batch_messages_say_what_is_wrong():
    net = treenet.parse("p*x + p*y", seed=6)
    with pytest.raises(EvaluationError) as one_number:
        net.predict({"x": np.ones(3), "y": 2.0})
    assert "'y' is one number" in str(one_number.value)
    assert "misspelling" not in str(one_number.value)
    with pytest.raises(EvaluationError, match="too large for a float"):
        net.predict([[10 ** 400, 1], [2, 3]])


@pytest.mark.parametrize("backend, batch", [("python", 1), ("numpy", 50)])
def test_a_constant_changed_after_training_is_seen_by_the_generated_step(backend, batch):
    # the generated step is cached by structure; a Constant's value is part of what it computes
    def trained(after):
        net = treenet.parse("p(0.5)*x + 2", seed=0)
        data = [([k / 100], 1.0) for k in range(200)]
        constant = next(n for n in net.graph.nodes if type(n) is treenet.Constant)
        kwargs = dict(epochs=1, batch_size=batch, progress=False, shuffle=False)
        treenet.train(net, data, backend=backend, **kwargs)
        constant.value = 7.0
        net.parameters[0].value = 0.5
        treenet.train(net, data, backend=after or backend, **kwargs)
        return net.parameters[0].value

    assert trained(None) == pytest.approx(trained("interpreted"), rel=1e-9)


@pytest.mark.parametrize("backend", ["interpreted", "python", "numpy"])
def test_numpy_settings_leave_plain_float_parameters_that_print(backend):
    # lr, betas or momentum given as numpy scalars made every updated parameter an np.float64,
    # which the printer then wrote as `np.float64(...)`
    net = treenet.parse("sigmoid(p*x + p)", seed=0)
    data = [([0.0], 0), ([1.0], 1)] * 60
    batch = 4 if backend == "numpy" else 1
    for opt in (treenet.optimizers.Adam(lr=np.float64(0.1), beta1=np.float64(0.9)),
                treenet.optimizers.Momentum(lr=np.float64(0.1), momentum=np.float64(0.9)),
                treenet.optimizers.SGD(lr=np.float64(0.1))):
        treenet.train(net, data, loss="bce", optimizer=opt, epochs=1, backend=backend,
                      batch_size=batch, progress=False)
        assert all(type(q.value) is float for q in net.parameters)
    assert treenet.parse(net.funcify()).predict([0.5]) == net.predict([0.5])
