"""Issue 9, the API side: `predict` on a batch, `evaluate`, and `train(backend=...)` on the
generated python and numpy code against the interpreted engine (parameters, hooks, errors), in
the order of the issue's list; then the size rule."""

from collections import OrderedDict
import random

import numpy as np
import pytest

import treenet
from treenet import EvaluationError, TrainingError, TreenetError
from treenet import generator, steps
from treenet.graph import Graph
from test_codegen import Cube, example_networks, program

BACKENDS = ("python", "numpy")


def _nets(count, offset=0):
    for seed in range(offset, offset + count):
        source, _ = program(seed)
        yield seed, treenet.parse(source, seed=seed)


def _close(a, b, rel):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= rel * np.maximum(1.0, np.abs(b))))


def _rows(net, n, rng):
    return [[rng.uniform(-1.5, 1.5) for _ in net.inputs] for _ in range(n)]


def _per_row(net, rows):
    out = []
    for row in rows:
        try:
            out.append(net.predict(row))
        except EvaluationError:
            return None
    return out


# --- predict on a batch ---------------------------------------------------------------------

@pytest.mark.parametrize("n", [3, generator.GENERATE_PASSES])  # the engine, then numpy code
def test_batch_predict_matches_per_row_predict_on_random_programs(n):
    checked = 0
    for seed, net in _nets(25):
        rows = _rows(net, n, random.Random(seed))
        expected = _per_row(net, rows)
        if expected is None:
            with pytest.raises(EvaluationError, match="sample"):
                net.predict(np.array(rows))
            continue
        for batch in (np.array(rows), rows, [tuple(r) for r in rows]):
            got = net.predict(batch)
            assert isinstance(got, np.ndarray)
            assert _close(got, expected, 1e-12), (seed, got, expected)
        checked += 1
    assert checked >= 15


def test_a_single_sample_still_returns_a_float_or_a_list():
    net = treenet.parse("input v[3]\n[tanh(p*v_0 + v_1), v_2]", seed=0)
    assert net.predict({"v": [0.1, 0.2, 0.3]}) == net.predict([0.1, 0.2, 0.3])
    assert isinstance(net.predict(np.array([0.1, 0.2, 0.3])), list)
    scalar = treenet.parse("p*x + y", seed=1)
    assert isinstance(scalar.predict([1.0, 2.0]), float)
    assert isinstance(scalar.predict({"x": 1.0, "y": 2.0}), float)
    assert isinstance(treenet.parse("tanh(x)").predict(0.5), float)


def test_mapping_batches_by_name_and_by_vector_name():
    net = treenet.parse("p*x + tanh(y)", seed=2)
    xs, ys = np.linspace(-1, 1, 5), np.linspace(2, 3, 5)
    by_name = net.predict({"x": xs, "y": list(ys)})
    assert by_name.shape == (5,)
    assert by_name.tolist() == pytest.approx([net.predict([a, b]) for a, b in zip(xs, ys)],
                                             rel=1e-12)
    vec = treenet.parse("input v[2]\nsoftmax(v_0, p*v_1)", seed=3)
    V = np.array([[0.1, 0.2], [1.0, -1.0], [3.0, 0.5]])
    got = vec.predict({"v": V})
    assert got.shape == (3, 2)
    assert _close(got, [vec.predict(list(r)) for r in V], 1e-12)
    with pytest.raises(EvaluationError, match="'y'"):
        net.predict({"x": xs})


def test_a_row_that_cannot_be_evaluated_names_its_sample_in_a_batch():
    net = treenet.parse("log(x)")
    for n in (3, 200):
        X = np.ones((n, 1))
        X[2, 0] = -1.0
        with pytest.raises(EvaluationError, match="sample 2") as info:
            net.predict(X)
        assert info.value.sample == 2 and info.value.expression == "log(x)"
    with pytest.raises(EvaluationError, match="shape"):
        net.predict(np.ones((4, 2)))


# --- evaluate -------------------------------------------------------------------------------

def test_evaluate_is_the_mean_loss_and_accuracy_of_a_hand_loop():
    rng = random.Random(4)
    line = treenet.parse("p*x + p", seed=4)
    data = [([rng.uniform(-2, 2)], rng.uniform(-1, 1)) for _ in range(300)]
    result = treenet.evaluate(line, data)
    hand = sum((line.predict(x) - t) ** 2 for x, t in data) / len(data)
    assert result.loss == pytest.approx(hand, rel=1e-12) and result.accuracy is None
    assert result.samples == 300
    clf = treenet.parse("sigmoid(p*x + p*y + p)", seed=5)
    data = [([rng.uniform(-2, 2), rng.uniform(-2, 2)], float(rng.random() < 0.5))
            for _ in range(300)]
    result = treenet.evaluate(clf, data, loss="bce")
    logits = treenet.parse("p(%r)*x + p(%r)*y + p(%r)" % tuple(q.value for q in clf.parameters))
    hand = sum(treenet.losses.bce.value_from_logits(t, logits.predict(x)) for x, t in data)
    right = sum((clf.predict(x) >= 0.5) == (t >= 0.5) for x, t in data)
    assert result.loss == pytest.approx(hand / 300, rel=1e-12)
    assert result.accuracy == right / 300


# --- train on each backend --------------------------------------------------------------------

def _data(net, rng, n=6):
    k = len(net.graph.output.children) if net.graph.vector_output else None
    return [(row, rng.uniform(-1, 1) if k is None else [rng.uniform(-1, 1) for _ in range(k)])
            for row in _rows(net, n, rng)]


def _train(net, start, backend, data, **kw):
    """(parameters after, error or None), from the parameters `start`."""
    for q, v in zip(net.parameters, start):
        q.value = v
    kw.setdefault("seed", 0)  # the same shuffles on every backend
    try:
        history = treenet.train(net, data, progress=False, backend=backend, **kw)
        error = None
    except TrainingError as exc:
        history, error = None, (exc.epoch, exc.sample, exc.expression)
    return [q.value for q in net.parameters], error, history


def _agree(net, data, rel=1e-9, **kw):
    start = [q.value for q in net.parameters]
    ref, ref_error, ref_history = _train(net, start, "interpreted", data, **kw)
    for backend in BACKENDS:
        got, error, history = _train(net, start, backend, data, **kw)
        assert error == ref_error, (backend, error, ref_error)
        assert _close(got, ref, 0.0 if backend == "python" else rel), (backend, got, ref)
        if history is not None:
            assert _close(history.loss, ref_history.loss, rel)
    return ref_error


@pytest.mark.parametrize("optimizer,batch_size", [("sgd", 1), ("momentum", 3), ("adam", 2)])
def test_every_backend_trains_random_programs_to_the_interpreted_parameters(optimizer,
                                                                            batch_size):
    errors = 0
    for seed, net in _nets(14, offset=batch_size * 20):
        data = _data(net, random.Random(seed))
        errors += _agree(net, data, optimizer=optimizer, lr=0.05, epochs=2, seed=seed,
                         batch_size=batch_size) is not None
    assert errors < 14


def test_every_backend_trains_the_examples_networks_to_the_interpreted_parameters(monkeypatch):
    made = example_networks(monkeypatch)
    assert len(made) >= 12
    rng = random.Random(6)
    for net in made:
        if not net.parameters or type(net.graph.output).on_backward is not \
                treenet.NeuralNetNode.on_backward:
            continue
        _agree(net, _data(net, rng, 5), optimizer="adam", lr=0.01, epochs=2, batch_size=2)
    classifier = treenet.parse("softmax(dense(3, tanh(dense(4, x, y))))", seed=7)
    data = [([rng.uniform(-1, 1), rng.uniform(-1, 1)], rng.randrange(3)) for _ in range(8)]
    for bs in (1, 3):
        _agree(classifier, data, loss="cross_entropy", lr=0.1, epochs=2, batch_size=bs)
    binary = treenet.parse("sigmoid(p*relu(p*x + p*y + p) + p)", seed=8)
    data = [([rng.uniform(-2, 2), rng.uniform(-2, 2)], float(rng.random() < 0.5))
            for _ in range(9)]
    for opt in ("sgd", "momentum", "adam"):
        _agree(binary, data, loss="bce", optimizer=opt, lr=0.1, epochs=3, batch_size=1)
        _agree(binary, data, loss="bce", optimizer=opt, lr=0.1, epochs=3, batch_size=4)
    _agree(binary, data, loss="mse", optimizer="sgd", lr=None, epochs=2)


class Counted(treenet.Parameter):
    """A parameter that counts the derivatives backward hands it (a tutorial's hook)."""

    def on_backward(self, derivative):
        self.seen.append(derivative)


def test_hooks_are_called_the_same_on_every_backend():
    seen = {}
    for backend in ("interpreted",) + BACKENDS:
        w = Counted(0.5, name="w")
        w.seen = []
        net = treenet.Tanh([treenet.Add([treenet.Multiply([w, treenet.Input(name="x")]),
                                         treenet.Parameter(0.1)])])
        treenet.train(net, [([0.3], 0.2), ([-0.4], 0.1), ([1.0], -0.5)], epochs=2,
                      batch_size=2, backend=backend, progress=False, seed=1)
        seen[backend] = (w.seen, [q.value for q in net.parameters])
    assert len(seen["interpreted"][0]) == 6
    assert seen["python"] == seen["numpy"] == seen["interpreted"]


def test_errors_are_the_same_on_every_backend_with_the_last_good_parameters():
    net = treenet.parse("log(p(1.0)*x + p(0.5))")
    data = [([1.0], 0.0), ([0.5], 0.0), ([-3.0], 0.0), ([2.0], 0.0)]
    assert _agree(net, data, lr=0.1, epochs=3, shuffle=False) == (0, 2, "log(p0*x + p1)")
    overflow = treenet.parse("p(1.0)*x")
    data = [([1.0], 0.0), ([1e200], 0.0)]
    error = _agree(overflow, data, lr=1e200, epochs=2, shuffle=False)
    assert error[:2] == (0, 1)
    error = _agree(treenet.parse("p(1.0)*x"), data, optimizer="adam", lr=0.1, epochs=2, shuffle=False,
                   batch_size=2)
    assert error[:2] == (0, 1)


def test_the_numpy_backend_names_the_first_failing_sample_of_its_batch():
    net = treenet.parse("log(p(1.0)*x)")
    data = [([1.0], 0.0), ([2.0], 0.0), ([-1.0], 0.0), ([-2.0], 0.0)]
    start = [q.value for q in net.parameters]
    with pytest.raises(TrainingError) as info:
        treenet.train(net, data, batch_size=4, backend="numpy", shuffle=False, progress=False)
    assert (info.value.epoch, info.value.sample) == (0, 2)
    assert "log" in info.value.expression and "sample 2" in str(info.value)
    assert [q.value for q in net.parameters] == start


def test_a_network_the_generator_cannot_handle_trains_on_the_engine_on_every_backend():
    x = treenet.Input(name="x")
    net = treenet.Add([Cube([treenet.Multiply([treenet.Parameter(0.5), x])]),
                       treenet.Parameter(0.1)])
    net.compile()
    for backend in BACKENDS:
        _, graph = net.graph, net.graph
        assert steps.runner(backend, graph, graph, treenet.losses.mse,
                            treenet.optimizers.SGD(), graph.parameters, None, 1,
                            [([0.1], 0.0)], 1000, True) is None
    _agree(net, [([0.3], 0.1), ([-0.5], 0.2)], epochs=3)


def test_unknown_backend_is_refused_with_a_suggestion():
    with pytest.raises(TreenetError, match="did you mean 'numpy'"):
        treenet.train(treenet.parse("p*x"), [([1.0], 1.0)], backend="numpi")


# --- the size rule ----------------------------------------------------------------------------

def _chain(layers):
    h = treenet.Input(name="x")
    for _ in range(layers):
        h = treenet.Tanh([treenet.Add([treenet.Multiply([treenet.Parameter(0.1), h]),
                                       treenet.Parameter(0.0)])])
    return h.compile()


def test_the_size_rule_generates_only_small_networks_for_enough_passes():
    small, big = _chain(10), _chain(generator.GENERATE_NODES // 5 + 1)
    assert len(big.graph) > generator.GENERATE_NODES
    args = (treenet.losses.mse, treenet.optimizers.SGD(), None, 1, [([0.1], 0.0)])
    for net, passes, generated in ((small, 1000, True), (small, 10, False), (big, 10**6, False)):
        graph = net.graph
        run = steps.runner("python", graph, graph, args[0], args[1], graph.parameters,
                           *args[2:], passes, False)
        assert (run is not None) == generated
        assert generator.worth_generating(graph, passes) == generated
    # the engine row by row on a big network: no code generated, the same numbers
    X = np.array([[0.1], [0.2]])
    assert big.predict(X).tolist() == [big.predict([0.1]), big.predict([0.2])]
    assert "_codegen_cache" not in big.__dict__


# --- speed work, counted (issue 9's benchmark targets; the times are in bench_codegen --batch) -

MLP = "sigmoid(linear(tanh(dense(4, tanh(dense(5, x, y))))))"


def _binary(n, seed):
    rng = random.Random(seed)
    return [([rng.uniform(-2, 2), rng.uniform(-2, 2)], float(rng.random() < 0.5))
            for _ in range(n)]


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_an_mlp_trains_on_numpy_as_matrix_products_to_the_interpreted_parameters(optimizer):
    data = _binary(12, 11)
    for batch_size in (12, 5):
        net = treenet.parse(MLP, seed=3)
        _agree(net, data, loss="bce", optimizer=optimizer, lr=0.1, epochs=3,
               batch_size=batch_size)
    # a map whose units are read one by one as well (a vector output), and per-unit rates
    vec = treenet.parse("input x, y\n[tanh(dense(3, tanh(dense(3, x, y))))]", seed=4)
    for q in vec.parameters:
        q.learning_rate = 0.05
    _agree(vec, [(r, [0.1, -0.2, 0.3]) for r, _ in data], optimizer=optimizer, lr=None,
           epochs=2, batch_size=4)


def test_the_numpy_step_runs_the_forward_once_with_tanh_over_a_layer_as_one_call():
    net = treenet.parse(MLP, seed=3)
    data = _binary(200, 12)
    logits = Graph(net.graph.output.logits())
    run = steps.runner("numpy", net.graph, logits, treenet.losses.bce, treenet.optimizers.SGD(0.1),
                       logits.parameters, lambda z: z, 200, data, 1000, True)
    assert isinstance(run, steps._NumpySteps)
    source = run.source
    # 3 layers forward, and 2 backward (not the inputs' shares: a training step, on the
    # engine too, differentiates only what is above a parameter); the one-unit layer's shares
    # are a broadcast product, not a matrix product with one column
    assert source.count("def ") == 1 and source.count("@ w_L") == 4
    assert "ga_L2 = gz_L2 * w_L2" in source
    assert source.count("np.tanh(") == 2 and "np.tanh(z_L0)" in source
    assert "a_L1 = h_L0" in source and "a_L2 = h_L1" in source  # no columns copied
    assert "math." not in source


def _count_generations(monkeypatch):
    """The targets of every code generation from now on, with the structure cache emptied."""
    made = []
    real = steps._generator_for
    monkeypatch.setattr(steps, "_CODE", OrderedDict())
    monkeypatch.setattr(steps, "_generator_for", lambda *a, **kw: made.append(a[1]) or
                        real(*a, **kw))
    return made


def test_train_generates_its_code_once_per_network_and_settings(monkeypatch):
    monkeypatch.setattr(steps, "_CODE", OrderedDict())  # not what earlier tests generated
    made = []
    real = steps._generator_for
    monkeypatch.setattr(steps, "_generator_for", lambda *a, **kw: made.append(a[1]) or
                        real(*a, **kw))
    net = treenet.parse("sigmoid(p*relu(p*x + p*y + p) + p)", seed=0)
    data = _binary(60, 13)
    for backend, batch_size in (("python", 1), ("numpy", 60)):
        for _ in range(3):
            treenet.train(net, data, loss="bce", lr=0.1, epochs=2, batch_size=batch_size,
                          backend=backend, progress=False)
    assert made == ["python", "numpy"]
    treenet.train(net, data, loss="bce", lr=0.1, epochs=2, batch_size=2, backend="python",
                  progress=False)
    assert made == ["python", "numpy", "python"]  # another batch size: another loop



W1 = "sigmoid(p*relu(p*x + p*y + p) + p)"


@pytest.mark.parametrize("backend,batch_size", [("python", 1), ("python", 3), ("numpy", 60)])
def test_the_same_formula_parsed_again_reuses_its_code_with_its_own_parameters(monkeypatch,
                                                                            backend, batch_size):
    made = _count_generations(monkeypatch)
    data = _binary(60, 15)
    kw = dict(loss="bce", optimizer="momentum", lr=0.1, epochs=2, batch_size=batch_size,
              seed=0, progress=False)
    a, b, ref = (treenet.parse(W1, seed=s) for s in (0, 1, 1))
    treenet.train(a, data, backend=backend, **kw)
    a_after = [q.value for q in a.parameters]
    treenet.train(b, data, backend=backend, **kw)
    assert made == [backend]  # net b's graph is new, its structure is not
    treenet.train(ref, data, backend="interpreted", **kw)
    expected = [q.value for q in ref.parameters]
    assert [q.value for q in b.parameters] != a_after
    assert _close([q.value for q in b.parameters], expected, 0.0 if backend == "python" else 1e-9)
    assert [q.value for q in a.parameters] == a_after  # net a is left alone


def test_a_changed_constant_or_structure_generates_new_code(monkeypatch):
    made = _count_generations(monkeypatch)
    data = _binary(20, 16)
    kw = dict(loss="bce", lr=0.1, epochs=1, seed=0, progress=False, backend="python")
    formulas = [W1, W1.replace("+ p)", "+ 0.5)", 1), W1.replace("+ p)", "+ (-0.0))", 1),
                W1.replace("+ p)", "+ 0.0)", 1), W1.replace("x + p*y", "y + p*x")]
    for formula in formulas:
        net, ref = treenet.parse(formula, seed=2), treenet.parse(formula, seed=2)
        treenet.train(net, data, **kw)
        treenet.train(ref, data, **{**kw, "backend": "interpreted"})
        assert [q.value for q in net.parameters] == [q.value for q in ref.parameters], formula
    assert made == ["python"] * len(formulas)
    treenet.train(treenet.parse(formulas[1], seed=5), data, **kw)
    assert len(made) == len(formulas)


def test_the_structure_cache_keeps_a_few_dozen_entries(monkeypatch):
    made = _count_generations(monkeypatch)
    data = _binary(10, 17)
    for k in range(steps._CODE_SIZE + 5):
        treenet.train(treenet.parse(f"sigmoid(p*x + p*y + {k}.0)"), data, loss="bce", epochs=1,
                      progress=False, backend="python")
    assert len(steps._CODE) == steps._CODE_SIZE and len(made) == steps._CODE_SIZE + 5


def _w1_step(data):
    net = treenet.parse("sigmoid(p*relu(p*x + p*y + p) + p)", seed=0)
    logits = Graph(net.graph.output.logits())
    return net, steps.runner("numpy", net.graph, logits, treenet.losses.bce,
                             treenet.optimizers.SGD(0.1), logits.parameters, lambda z: z,
                             len(data), data, 1000, True)


def test_the_numpy_step_sums_each_weight_gradient_as_one_dot_product_and_inlines_the_loss():
    _, run = _w1_step(_binary(50, 14))
    source = run.source
    # the three weights' gradients: g @ a, no array of shares; the two biases' by one sum each
    # (np.add.reduce: ndarray.sum's Python wrapper costs as much as the sum of 1000 numbers)
    assert source.count(" @ ") == 3 and source.count("np.add.reduce(") == 2 + 3  # + loss, new,
    assert ".sum()" not in source  # the values checked
    assert "G = np.array([" in source and "G[" not in source  # the vector made in one call
    assert "_loss(" not in source and ">= 0.5) == th" in source  # targets' classes made once



# --- per-sample SGD: checked once at the end of the epoch -------------------------------------

def _count_epochs(monkeypatch):
    """calls[name]: the results of the unchecked and the checked epoch functions, per call."""
    calls = {"unchecked": [], "checked": []}
    real = steps._PythonEpochs.__init__

    def init(self, *args, **kw):
        real(self, *args, **kw)
        for name, attr in (("unchecked", "_fast"), ("checked", "_epoch")):
            fn = getattr(self, attr)
            if fn is not None:
                setattr(self, attr, lambda *a, fn=fn, name=name:
                        calls[name].append(fn(*a)) or calls[name][-1])
    monkeypatch.setattr(steps._PythonEpochs, "__init__", init)
    return calls


def test_per_sample_sgd_runs_each_clean_epoch_once_unchecked(monkeypatch):
    calls = _count_epochs(monkeypatch)
    net = treenet.parse("sigmoid(p*relu(p*x + p*y + p) + p)", seed=3)
    rng = random.Random(3)
    data = [([rng.uniform(-2, 2), rng.uniform(-2, 2)], float(rng.random() < 0.5))
            for _ in range(9)]
    _agree(net, data, loss="bce", lr=0.1, epochs=3)
    assert len(calls["unchecked"]) == 3 and None not in calls["unchecked"]
    assert calls["checked"] == []


def test_a_value_a_relu_hides_overflowing_mid_epoch_is_found_by_the_unchecked_epoch(monkeypatch):
    calls = _count_epochs(monkeypatch)
    # sample 1: the relu's argument -1.5e308 * 2 overflows to -inf, which the relu makes 0:
    # no parameter, gradient or loss shows it, but the engine checks every value
    net = treenet.parse("p(1.0)*relu(p(-1.5e308)*x)")
    data = [([0.0], 0.0), ([2.0], 0.0), ([0.0], 0.0)]
    assert _agree(net, data, lr=0.1, epochs=2, shuffle=False)[:2] == (0, 1)
    assert calls["unchecked"] == [None] and calls["checked"][0][0] == 1


def test_a_sum_of_checks_overflowing_is_a_false_alarm_that_still_trains(monkeypatch):
    calls = _count_epochs(monkeypatch)
    # each output 1e308 is finite (and right: loss 0), their sum is not
    net = treenet.parse("p(1.0)*x")
    data = [([1e308], 1e308), ([1e308], 1e308), ([1e308], 1e308)]
    assert _agree(net, data, lr=0.1, epochs=2) is None
    assert calls["unchecked"] == [None, None] and len(calls["checked"]) == 2
