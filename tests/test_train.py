"""train and train_model: batches, seeds, histories, the combined loss forms, the tutorials' API,
and stopping on NaN or evaluation errors with the last good parameters."""

import math
import random

import pytest

import treenet
from treenet import (Add, Input, Multiply, Parameter, TrainingError, TreenetError, losses,
                     train, train_model)

LINE = "input x, y\nsigmoid(p*relu(p*x + p*y + p) + p)"
XOR_DATA = [([0, 0], 0), ([0, 1], 1), ([1, 0], 1), ([1, 1], 0)]


def values(net):
    return [p.value for p in net.parameters]


def line_data(n=40, seed=0):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        x, y = rng.uniform(-1, 1), rng.uniform(-1, 1)
        out.append(([x, y], 1 if y > x else 0))
    return out


# --- batches and seeds ------------------------------------------------------------------------

def test_a_batch_step_uses_the_mean_gradient():
    data = [([1.0], 3.0), ([2.0], 1.0), ([-1.0], 0.5)]
    net = treenet.parse("input x\nw = p(0.5)\nb = p(-0.25)\nw*x + b")
    train(net, data, loss="mse", optimizer="sgd", lr=0.1, epochs=1, batch_size=3,
          shuffle=False, progress=False)
    gw = sum(2 * (0.5 * x[0] - 0.25 - t) * x[0] for x, t in data) / 3
    gb = sum(2 * (0.5 * x[0] - 0.25 - t) for x, t in data) / 3
    assert values(net) == pytest.approx([0.5 - 0.1 * gw, -0.25 - 0.1 * gb], abs=1e-15)


def test_a_learning_rate_means_the_same_at_every_batch_size():
    one = treenet.parse(LINE, seed=4)
    four = treenet.parse(LINE, seed=4)
    sample = ([0.3, -0.6], 1)
    train(one, [sample], loss="bce", lr=0.5, epochs=1, batch_size=1, progress=False)
    train(four, [sample] * 4, loss="bce", lr=0.5, epochs=1, batch_size=4, progress=False)
    assert values(one) == values(four)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_the_same_seed_gives_the_same_parameters_bit_for_bit(optimizer):
    runs = []
    for _ in range(2):
        net = treenet.parse(LINE, seed=7)
        history = train(net, line_data(), loss="bce", optimizer=optimizer, lr=0.05, epochs=5,
                        batch_size=3, seed=11, progress=False)
        runs.append((values(net), history.loss, history.accuracy))
    assert runs[0] == runs[1]
    other = treenet.parse(LINE, seed=7)
    train(other, line_data(), loss="bce", optimizer=optimizer, lr=0.05, epochs=5, batch_size=3,
          seed=12, progress=False)
    assert values(other) != runs[0][0]  # the seed drives the shuffling


def test_history_records_loss_and_accuracy_per_epoch():
    net = treenet.parse("input x, y\nsigmoid(linear(tanh(dense(3, x, y))))", seed=0)
    history = train(net, XOR_DATA, loss="bce", optimizer="adam", lr=0.05, epochs=300, seed=0,
                    progress=False)
    assert len(history.loss) == len(history.accuracy) == history.epochs == 300
    assert history.loss[-1] < 0.05 < history.loss[0]
    assert history.accuracy[-1] == 1.0
    assert history["loss"] is history.loss
    assert [round(net.predict(x)) for x, _ in XOR_DATA] == [0, 1, 1, 0]
    regression = train(treenet.parse("input x\np*x + p", seed=0), [([1.0], 2.0)], epochs=3,
                       progress=False)
    assert regression.accuracy is None and len(regression.loss) == 3


def test_inputs_by_name_and_class_index_targets():
    net = treenet.parse("input x, y\nsoftmax(dense(3, tanh(dense(4, x, y))))", seed=1)
    data = [({"x": 0.0, "y": 1.0}, 0), ({"x": -1.0, "y": -0.5}, 1), ({"y": -0.5, "x": 1.0}, 2)]
    history = train(net, data, loss="cross_entropy", optimizer="adam", lr=0.05, epochs=150,
                    seed=0, progress=False)
    assert history.accuracy[-1] == 1.0 and history.loss[-1] < 0.05
    probs = net.predict({"x": 1.0, "y": -0.5})
    assert max(range(3), key=probs.__getitem__) == 2 and math.fsum(probs) == pytest.approx(1)


# --- the combined (logit) forms ----------------------------------------------------------------

def test_bce_on_a_saturated_sigmoid_gets_the_exact_gradient():
    # sigmoid(100*10) is exactly 1.0: through the output, (y - t)/(y(1 - y)) would blow up;
    # from the logit, d/dz = sigmoid(z) - t = 1, and d/dw = 1*x = 10
    net = treenet.parse("input x\nw = p(100.0)\nsigmoid(w*x)")
    history = train(net, [([10.0], 0.0)], loss="bce", lr=0.01, epochs=1, progress=False)
    assert net.parameters[0].value == 100.0 - 0.01 * 10.0
    assert history.loss == [1000.0]


@pytest.mark.parametrize("formula, data, name", [
    (LINE, line_data(8), "bce"),
    ("input x, y\nsoftmax(dense(3, tanh(dense(4, x, y))))",
     [([0.2, -0.4], 0), ([0.9, 0.1], 2), ([-0.3, 0.5], 1), ([0.0, 0.0], [0.2, 0.3, 0.5])],
     "cross_entropy"),
])
def test_the_combined_form_gives_the_same_steps_as_the_plain_one(formula, data, name):
    fused, plain = treenet.parse(formula, seed=3), treenet.parse(formula, seed=3)
    loss = losses.get(name)
    train(fused, data, loss=name, optimizer="sgd", lr=0.1, epochs=3, shuffle=False,
          progress=False)
    train(plain, data, loss=losses.FunctionLoss(loss.value, loss.derivative), optimizer="sgd",
          lr=0.1, epochs=3, shuffle=False, progress=False)
    assert values(fused) == pytest.approx(values(plain), abs=1e-9)


def test_nodes_report_the_networks_own_values_after_combined_training():
    net = treenet.parse("input x\nh = tanh(p*x + p)\nsigmoid(h)", seed=0)
    train(net, [([1.0], 1.0)], loss="bce", epochs=2, progress=False)
    net.predict([0.5])
    h = net.children[0]
    assert h.value == math.tanh(net.parameters[0].value * 0.5 + net.parameters[1].value)


# --- stopping on NaN and evaluation errors ----------------------------------------------------

class NaNAt(losses.Loss):
    """MSE whose value turns NaN at the n-th call: a NaN injected mid-training."""

    name = "nan_at"

    def __init__(self, n):
        self.n, self.calls = n, 0

    def value(self, target, pred):
        self.calls += 1
        return math.nan if self.calls == self.n else losses.mse.value(target, pred)

    def derivative(self, target, pred):
        return losses.mse.derivative(target, pred)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_an_injected_nan_is_reported_and_the_parameters_are_the_last_good_ones(optimizer):
    data = [([x / 10], 3 * x / 10 - 1) for x in range(10)]
    formula = "input x\ntanh(p*x + p)*p"
    net = treenet.parse(formula, seed=5)
    with pytest.raises(TrainingError) as info:  # call 17: epoch 1, sample 6
        train(net, data, loss=NaNAt(17), optimizer=optimizer, lr=0.1, epochs=5, shuffle=False,
              progress=False)
    err = info.value
    assert (err.epoch, err.sample) == (1, 6)
    assert "epoch 1, sample 6" in str(err) and "nan" in str(err)
    assert err.expression == "nan_at(target, output)"
    # the reference: the same training, stopped just before the failing step
    ref = treenet.parse(formula, seed=5)
    opt = treenet.optimizers.get(optimizer, 0.1)
    train(ref, data, loss="mse", optimizer=opt, epochs=1, shuffle=False, progress=False)
    train(ref, data[:6], loss="mse", optimizer=opt, epochs=1, shuffle=False, progress=False)
    assert values(net) == values(ref)
    assert all(p.grad == 0.0 for p in net.parameters)


def test_a_batch_that_fails_midway_applies_nothing():
    data = [([x / 10], 3 * x / 10 - 1) for x in range(10)]
    net = treenet.parse("input x\ntanh(p*x + p)*p", seed=5)
    with pytest.raises(TrainingError) as info:  # call 7 is in the second batch of 4
        train(net, data, loss=NaNAt(7), lr=0.1, epochs=1, batch_size=4, shuffle=False,
              progress=False)
    assert info.value.sample == 6
    ref = treenet.parse("input x\ntanh(p*x + p)*p", seed=5)
    train(ref, data[:4], loss="mse", lr=0.1, epochs=1, batch_size=4, progress=False)
    assert values(net) == values(ref)


def test_log_of_a_non_positive_number_after_a_step_names_the_sub_expression():
    # the targets pull log(w*x) down, so the steps push w through 0
    net = treenet.parse("input x\nw = p(0.5)\nlog(w*x) + 1")
    data = [([1.0], -10.0), ([2.0], -10.0)]
    with pytest.raises(TrainingError) as info:
        train(net, data, loss="mse", lr=0.01, epochs=50, shuffle=False, progress=False)
    err = info.value
    assert "log(w*x)" in err.expression and "non-positive" in str(err)
    # parameters: after the last step that completed (epoch e, samples before the failing one)
    ref = treenet.parse("input x\nw = p(0.5)\nlog(w*x) + 1")
    if err.epoch:
        train(ref, data, loss="mse", lr=0.01, epochs=err.epoch, shuffle=False, progress=False)
    if err.sample:
        train(ref, data[:err.sample], loss="mse", lr=0.01, epochs=1, progress=False)
    assert values(net) == values(ref) and net.parameters[0].value < 0


def test_an_infinite_gradient_names_the_sub_expression():
    net = treenet.parse("input x\nw = p(1.0)\n(w*x)^0.5")
    with pytest.raises(TrainingError) as info:
        train(net, [([1.0], 2.0), ([0.0], 1.0)], epochs=2, shuffle=False, progress=False)
    assert info.value.sample == 1 and info.value.epoch == 0
    assert "(w*x)^0.5" in info.value.expression
    assert values(net) != [1.0]  # the first (good) step was kept


def test_a_bad_input_is_reported_with_its_sample():
    net = treenet.parse("input x, y\nx*p + y", seed=0)
    before = values(net)
    with pytest.raises(TreenetError, match=r"data\[1\]: the network has 2 input"):
        train(net, [([1.0, 2.0], 0.0), ([1.0], 0.0)], epochs=1, shuffle=False, progress=False)
    assert values(net) == before  # checked up front: sample 0's step is not taken


@pytest.mark.parametrize("kwargs", [dict(epochs=-1), dict(batch_size=0), dict(epochs=1.5)])
def test_bad_arguments(kwargs):
    with pytest.raises(TreenetError):
        train(treenet.parse("p*x", seed=0), [([1.0], 1.0)], progress=False, **kwargs)


def test_no_data_and_bad_pairs():
    net = treenet.parse("p*x", seed=0)
    with pytest.raises(TreenetError, match="no training data"):
        train(net, [], progress=False)
    with pytest.raises(TreenetError, match=r"data\[0\]"):
        train(net, [1.0, 2.0], progress=False)


def test_no_progress_bar_when_not_a_terminal(capsys):
    train(treenet.parse("p*x", seed=0), [([1.0], 1.0)], epochs=3, progress=True)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


# --- the tutorials' train_model -----------------------------------------------------------------

def test_train_model_on_a_class_built_network_learns_fahrenheit_to_celsius(capsys):
    rng = random.Random(0)
    data = [([f], (f - 32) * 5 / 9) for f in (rng.uniform(-1, 1) for _ in range(200))]
    model = Add([Multiply([Parameter(0.1), Input()]), Parameter(0.2)])
    history = train_model(model, lambda t, y: (t - y) ** 2, lambda t, y: -2 * (t - y), data,
                          epochs=20, print_every=5)
    weight, bias = values(model)
    assert weight == pytest.approx(5 / 9, abs=1e-6) and bias == pytest.approx(-160 / 9, abs=1e-6)
    printed = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in printed] == [f"Epoch {e}" for e in (0, 5, 10, 15)]
    assert printed[0] == f"Epoch 0: loss={history.loss[0]}"


def test_train_model_uses_each_parameters_learning_rate():
    model = treenet.parse("input x\nw = p(1.0)\nb = p(0.0)\nw*x + b")
    model.parameters[1].learning_rate = 0.0
    train_model(model, losses.mse, losses.mse.derivative, [([1.0], 3.0)], epochs=1,
                print_every=None)
    assert values(model) == [1.0 - 0.01 * 2 * (1.0 - 3.0), 0.0]


class TutorialParameter(Parameter):
    """The tutorial's Parameter: it updates itself in the on_backward hook."""

    def on_backward(self, derivative):
        self.value -= derivative * self.learning_rate


def test_parameter_on_backward_is_the_tutorials_hook():
    data = [([1.0, 2.0], 1.0), ([-1.0, 0.5], 0.0), ([0.3, 0.3], 1.0)]
    x, y = Input(name="x"), Input(name="y")
    hooked = Add([Multiply([TutorialParameter(0.3), x]), Multiply([Parameter(-0.2), y]),
                  TutorialParameter(0.1)])
    a, b = Input(name="x"), Input(name="y")
    plain = Add([Multiply([Parameter(0.3), a]), Multiply([Parameter(-0.2), b]), Parameter(0.1)])
    train_model(hooked, losses.mse, losses.mse.derivative, data, epochs=4, print_every=None)
    train_model(plain, losses.mse, losses.mse.derivative, data, epochs=4, print_every=None)
    assert values(hooked) == values(plain)  # updated once each step: by the hook, not twice


def test_a_step_that_overflows_stops_training_and_names_the_parameter():
    net = treenet.parse("input x\nw = p(1.0)\nw*x")
    with pytest.raises(TrainingError) as info:
        train(net, [([1e150], 0.0)], lr=1e10, epochs=3, progress=False)
    assert info.value.expression == "w" and (info.value.epoch, info.value.sample) == (0, 0)
    assert values(net) == [1.0]


def test_the_dense_helper_creates_parameters_as_the_language_does():
    parsed = treenet.parse("input x, y\ndense(2, x, y)", seed=9)
    x, y = Input(name="x"), Input(name="y")
    built = treenet.Output(treenet.dense(2, [x, y], rng=random.Random(9)))
    assert values(built) == values(parsed)
    assert built.funcify() == parsed.funcify()


# --- bad arguments: a clear TreenetError that says what was expected, never a raw TypeError -----

SCALAR = "input x\nw = p(0.5)\nw*x"
VECTOR = "input x, y\nsoftmax(dense(3, x, y))"


@pytest.mark.parametrize("formula, data, kwargs, message", [
    (SCALAR, [([0.6], None)], {}, r"data\[0\]: .*needs a number as its target, got None"),
    (SCALAR, [([0.6], {"t": 1.0})], {}, r"data\[0\]: .*needs a number as its target"),
    (SCALAR, [([0.6], "1")], {}, r"needs a number as its target, got '1'"),
    (SCALAR, [([0.6], 1.0), ([0.6], [1.0, 2.0])], {}, r"data\[1\]: .*one number"),
    (SCALAR, [([0.6], math.nan)], {}, "finite"),
    (SCALAR, [([0.6], 2)], dict(loss="bce"), r"bce targets are probabilities.*\[0, 1\], got 2"),
    (SCALAR, [([0.6], -0.5)], dict(loss="cross_entropy"), r"in \[0, 1\]"),
    (VECTOR, [([1, 2], 3)], dict(loss="cross_entropy"),
     r"list of 3 numbers or a class index 0\.\.2"),
    (VECTOR, [([1, 2], 1.5)], dict(loss="cross_entropy"), "class index"),
    (VECTOR, [([1, 2], [1, 0])], dict(loss="cross_entropy"), "2 components but the network has 3"),
    (VECTOR, [([1, 2], [2, 0, 0])], dict(loss="cross_entropy"), "probabilities"),
    (VECTOR, [([1, 2], [0, None, 1])], dict(loss="mse"), "must be a number, got None"),
    (SCALAR, 5, {}, "data must be a list of .inputs, target. pairs, got int"),
    (SCALAR, {"x": 1.0}, {}, "data must be a list"),
    (SCALAR, [([0.6], 1.0)], dict(lr="fast"), "lr must be a positive finite number.*'fast'"),
    (SCALAR, [([0.6], 1.0)], dict(lr=-0.1), "lr must be a positive"),
    (SCALAR, [([0.6], 1.0)], dict(lr=math.inf), "lr must be a positive"),
    (SCALAR, [([0.6], 1.0)], dict(optimizer="adma"),
     "unknown optimizer 'adma'; did you mean 'adam'"),
    (SCALAR, [([0.6], 1.0)], dict(loss="mes"), "unknown loss 'mes'; did you mean 'mse'"),
    (SCALAR, [([0.6], 1.0)], dict(seed=[1]), "seed must be None or an integer"),
])
def test_bad_training_arguments_say_what_was_expected(formula, data, kwargs, message):
    net = treenet.parse(formula, seed=0)
    before = values(net)
    with pytest.raises(TreenetError, match=message):
        train(net, data, epochs=2, progress=False, **kwargs)
    assert values(net) == before  # refused before the first step


def test_good_targets_of_every_shape_are_accepted():
    vector = treenet.parse(VECTOR, seed=0)
    train(vector, [([1, 2], 2), ([0, 1], [0.2, 0.3, 0.5]), ([1, 0], (0, 1, 0))],
          loss="cross_entropy", epochs=1, progress=False)
    scalar = treenet.parse(SCALAR)
    train(scalar, [([0.6], 1), ([0.2], [0.0]), ([0.1], 0.25)], loss="bce", epochs=1,
          progress=False)
    train(treenet.parse("input x\n[p*x, p*x]", seed=0), [([1.0], 1), ([2.0], [0.5, -3.0])],
          epochs=1, progress=False)  # mse on a vector: a list, or a class index (one-hot)


def test_not_a_network():
    with pytest.raises(TreenetError, match="takes a network"):
        train("p*x", [([1.0], 1.0)], progress=False)
    with pytest.raises(TreenetError, match="takes a network"):
        train_model(None, losses.mse, losses.mse.derivative, [([1.0], 1.0)])


def test_a_loss_overflow_is_reported_as_overflow():
    # exp(500) is finite, its square is not: the mse loss overflows
    net = treenet.parse("input x\nexp(p(5)*x)")
    with pytest.raises(TrainingError) as info:
        train(net, [([100.0], 0.0)], progress=False)
    err = info.value
    assert (err.epoch, err.sample, err.expression) == (0, 0, "mse(target, output)")
    assert "overflow in the mse loss" in str(err) and "epoch 0, sample 0" in str(err)
    assert "34" not in str(err) and "Numerical result" not in str(err)
    assert net.parameters[0].value == 5.0


def failing_loss(y_true, y_pred):
    return y_true + "a"


@pytest.mark.parametrize("loss_fn, grad_fn, message, cause", [
    (failing_loss, losses.mse.derivative, "loss_fn failing_loss raised TypeError", TypeError),
    (losses.mse, lambda t, y: "steep", "loss_grad_fn returned 'steep'.*must be a number", None),
    (lambda t, y: [t, y], losses.mse.derivative, "loss_fn returned .*must be a number", None),
    (lambda t, y: 1 / 0, losses.mse.derivative, "loss_fn raised ZeroDivisionError",
     ZeroDivisionError),
])
def test_train_model_wraps_errors_from_the_users_functions(loss_fn, grad_fn, message, cause):
    model = treenet.parse("input x\nw = p(0.5)\nw*x")
    data = [([1.0], 1.0), ([2.0], 2.0)]
    with pytest.raises(TrainingError, match=message) as info:
        train_model(model, loss_fn, grad_fn, data, epochs=3, print_every=None)
    err = info.value
    assert (err.epoch, err.sample) == (0, 0) and "epoch 0, sample 0" in str(err)
    assert type(err.__cause__) is cause if cause else err.__cause__ is None
    assert values(model) == [0.5]


def test_train_model_names_the_epoch_and_sample_where_a_users_function_fails():
    calls = []

    def flaky(y_true, y_pred):
        calls.append(1)
        if len(calls) == 5:  # epoch 1 (0-based), sample 1
            raise KeyError("flaky")
        return (y_true - y_pred) ** 2

    model = treenet.parse("input x\nw = p(0.5)\nw*x")
    with pytest.raises(TrainingError, match="epoch 1, sample 1") as info:
        train_model(model, flaky, losses.mse.derivative, [([1.0], 1.0), ([2.0], 2.0),
                                                          ([3.0], 3.0)], epochs=3)
    assert (info.value.epoch, info.value.sample) == (1, 1)
    assert isinstance(info.value.__cause__, KeyError)


def test_train_model_checks_a_vector_derivatives_length():
    model = treenet.parse("input x\n[p*x, p*x]", seed=0)
    with pytest.raises(TrainingError, match="2 outputs, so it must be a list of 2 numbers"):
        train_model(model, lambda t, y: 0.0, lambda t, y: [1.0], [([1.0], [1.0, 1.0])],
                    epochs=1, print_every=None)


def test_a_failing_on_backward_hook_is_a_training_error():
    class Broken(Parameter):
        def on_backward(self, derivative):
            raise RuntimeError("hook broke")

    model = Multiply([Broken(0.5), Input(name="x")])
    with pytest.raises(TrainingError, match="on_backward hook raised RuntimeError") as info:
        train_model(model, losses.mse, losses.mse.derivative, [([1.0], 1.0)], epochs=1,
                    print_every=None)
    assert isinstance(info.value.__cause__, RuntimeError)


@pytest.mark.parametrize("args, message", [
    (("mse", None), "loss_fn must be a function"),
    ((losses.mse, 2.0), "loss_grad_fn must be a function"),
])
def test_train_model_wants_functions(args, message):
    model = treenet.parse("input x\np*x", seed=0)
    with pytest.raises(TreenetError, match=message):
        train_model(model, *args, [([1.0], 1.0)], epochs=1)


@pytest.mark.parametrize("print_every", ["10", -1, 2.5])
def test_train_model_print_every(print_every):
    model = treenet.parse("input x\np*x", seed=0)
    with pytest.raises(TreenetError, match="print_every"):
        train_model(model, losses.mse, losses.mse.derivative, [([1.0], 1.0)], epochs=1,
                    print_every=print_every)


def test_a_parameters_own_learning_rate_must_be_a_number():
    net = treenet.parse("input x\nw = p(0.5)\nw*x")
    net.parameters[0].learning_rate = "slow"
    with pytest.raises(TreenetError, match="parameter w: learning_rate must be a finite number"):
        train(net, [([1.0], 1.0)], lr=None, progress=False)
    assert values(net) == [0.5]
