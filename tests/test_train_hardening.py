"""Training hardening (issues 7 and 8), one test per reproduction, in the issues' order:
A. optimizer memory that overflows; B. data, targets, rates and losses checked up front;
C. fused logits keep the network's inputs; D. the loss fusion declared on the ops."""

import importlib
import inspect
import math

import pytest

import treenet
from treenet import EvaluationError, Parameter, Sigmoid, Softmax, TrainingError, TreenetError
from treenet import losses, optimizers
from treenet.optimizers import SGD, Adam, Momentum, NonFiniteStep


def values(net):
    return [p.value for p in net.parameters]


# --- A. overflow in an optimizer's memory ------------------------------------------------------

def test_adam_second_moment_overflow_stops_training_instead_of_freezing_the_parameter():
    net = treenet.parse("w = p(1.0); w*x")
    opt = Adam(lr=0.1)
    with pytest.raises(TrainingError) as info:
        treenet.train(net, [([1e100], 0.0), ([1.0], 5.0)], optimizer=opt, epochs=100,
                      shuffle=False, progress=False)
    err = info.value
    assert (err.epoch, err.sample, err.expression) == (0, 0, "w")
    assert "second moment" in str(err) and "overflowed" in str(err)
    assert values(net) == [1.0] and opt.state == {} and opt.t == 0  # nothing applied


def test_adam_keeps_the_last_good_step_and_its_memory_when_a_later_step_overflows():
    data = [([1.0], 5.0), ([1e100], 0.0)]
    net, ref = treenet.parse("w = p(1.0); w*x"), treenet.parse("w = p(1.0); w*x")
    opt, ref_opt = Adam(lr=0.1), Adam(lr=0.1)
    with pytest.raises(TrainingError) as info:
        treenet.train(net, data, optimizer=opt, epochs=1, shuffle=False, progress=False)
    assert (info.value.epoch, info.value.sample) == (0, 1)
    treenet.train(ref, data[:1], optimizer=ref_opt, epochs=1, shuffle=False, progress=False)
    assert values(net) == values(ref) != [1.0]
    assert list(opt.state.values()) == list(ref_opt.state.values()) and opt.t == ref_opt.t == 1


def test_momentum_velocity_overflow_is_named_and_changes_nothing():
    p = Parameter(0.0, name="w")
    opt = Momentum(lr=1e-300, momentum=0.9)
    p.grad = 1e308
    opt.step([p])  # v = 1e308, a finite step
    before = (p.value, dict(opt.state), opt.t)
    with pytest.raises(NonFiniteStep, match="velocity v of w overflowed"):
        opt.step([p])  # v = 0.9e308 + 1e308 = inf
    assert (p.value, dict(opt.state), opt.t) == before


# --- B. bad data, targets and rates checked before any step --------------------------------------

def test_a_nan_input_in_a_later_row_is_refused_before_sample_0_is_trained():
    net = treenet.parse("w = p(1.0); w*x")
    with pytest.raises(TreenetError, match=r"data\[1\]: .*input 'x'.* finite") as info:
        treenet.train(net, [([1.0], 3.0), ([math.nan], 1.0)], shuffle=False, progress=False)
    assert not isinstance(info.value, TrainingError)
    assert values(net) == [1.0]


@pytest.mark.parametrize("row, message", [
    (["2.5"], r"data\[1\]: inputs\[0\] \(input 'x'\) must be a number, got '2.5'"),
    ([True], r"data\[1\]: inputs\[0\] \(input 'x'\) must be a number, got True"),
    ({"x": "1"}, r"data\[1\]: input 'x' must be a number"),
    ("1.0", r"data\[1\]: the inputs must be a list of numbers"),
    ([10 ** 400], r"data\[1\]: .*input 'x'.* finite number, got an integer of about 400 digits"),
])
def test_string_bool_and_huge_inputs_are_refused(row, message):
    net = treenet.parse("w = p(1.0); w*x")
    with pytest.raises(TreenetError, match=message):
        treenet.train(net, [([1.0], 3.0), (row, 1.0)], shuffle=False, progress=False)
    assert values(net) == [1.0]


@pytest.mark.parametrize("row, message", [
    ([1.0, 2.0, 3.0], r"data\[1\]: the network has 2 input\(s\) \(x, y\), got 3"),
    ({"x": 1.0, "yy": 2.0}, r"data\[1\]: no value for input 'y' \(given 'yy'"),
])
def test_rows_that_do_not_fit_the_inputs_are_refused_before_any_step(row, message):
    net = treenet.parse("input x, y\nw = p(1.0)\nw*x + y")
    with pytest.raises(TreenetError, match=message):
        treenet.train(net, [([1.0, 0.0], 3.0), (row, 1.0)], shuffle=False, progress=False)
    assert values(net) == [1.0]


def test_a_huge_integer_target_is_a_treenet_error():
    net = treenet.parse("w = p(1.0); w*x")
    with pytest.raises(TreenetError, match=r"data\[0\]: the target .*too large for a float"):
        treenet.train(net, [([1.0], 10 ** 400)], progress=False)


def _train_with_own_rate(rate):
    net = treenet.parse("w = p(1.0); w*x")
    net.parameters[0].learning_rate = rate
    treenet.train(net, [([1.0], 1.0)], lr=None, progress=False)


@pytest.mark.parametrize("make", [
    lambda: treenet.train(treenet.parse("w = p(1.0); w*x"), [([1.0], 1.0)], lr=10 ** 400,
                          progress=False),
    lambda: SGD(lr=10 ** 400),
    lambda: Adam(eps=10 ** 400),
    lambda: _train_with_own_rate(10 ** 400),
])
def test_a_huge_integer_rate_is_a_treenet_error(make):
    with pytest.raises(TreenetError, match="finite number.*an integer of about 400 digits"):
        make()


@pytest.mark.parametrize("fn, target, pred, message", [
    (losses.mse, 0.0, 1e200, "overflow in the mse loss"),
    (losses.mse.derivative, 0.0, 1.7e308, "overflow in the mse loss"),
    (losses.bce, 1e308, 1e-12, "overflow in the bce loss"),
    (losses.cross_entropy.value_from_logits, 1, [1e308, -1e308], "overflow in the cross_entropy"),
    (losses.mse, 0.0, math.inf, "finite prediction"),
])
def test_losses_called_directly_report_overflow_as_an_evaluation_error(fn, target, pred,
                                                                       message):
    with pytest.raises(EvaluationError, match=message):
        fn(target, pred)


def test_losses_give_the_mean_when_only_the_sum_overflows():
    square = 1.3e154 * 1.3e154  # 1.69e308: two of them overflow, their mean does not
    assert losses.mse([0.0, 0.0], [1.3e154, 1.3e154]) == square
    assert losses.mse.derivative([0.0] * 3, [1.5e308] * 3) == [2 * (1.5e308 / 3)] * 3


def test_an_unknown_history_key_is_a_treenet_error_with_a_did_you_mean():
    history = treenet.train(treenet.parse("w = p(1.0); w*x"), [([1.0], 1.0)], epochs=2,
                            progress=False)
    with pytest.raises(TreenetError, match="History has no 'nope'.*loss, accuracy"):
        history["nope"]
    with pytest.raises(TreenetError, match="did you mean 'loss'"):
        history["los"]
    assert history["loss"] is history.loss and "loss" in history.keys()


# --- C. the fused logit sub-graph keeps the network's inputs and their order -------------------

@pytest.mark.parametrize("source, loss, data", [
    ("input x, y\nsigmoid(p*x + p)", "bce", [([0, 1], 0), ([1, 0], 1)]),
    ("input x, y\nsigmoid(p*y + p)", "bce", [([0, 1], 0), ([1, 0], 1)]),
    ("input x, y\nsigmoid(p*y + p)", "cross_entropy", [([0, 1], 0), ([1, 0], 1)]),
    ("input x, y\nsoftmax(p*y + p, p)", "cross_entropy", [([0, 1], 0), ([1, 0], 1)]),
])
def test_fused_losses_keep_declared_inputs_and_their_order(source, loss, data):
    fused, plain = treenet.parse(source, seed=3), treenet.parse(source, seed=3)
    treenet.train(fused, data, loss=loss, epochs=5, shuffle=False, progress=False)
    # the same loss without the fused form: trains the whole network on its own inputs
    unfused = losses.FunctionLoss(losses.get(loss), losses.get(loss).derivative, name=loss)
    treenet.train(plain, data, loss=unfused, epochs=5, shuffle=False, progress=False)
    assert values(fused) == pytest.approx(values(plain), rel=1e-9)
    assert values(fused) != values(treenet.parse(source, seed=3))


# --- D. the fusion declared on the ops, their rules reused by the losses -------------------------

def test_the_fused_losses_are_declared_on_the_ops_not_tested_for_in_train():
    assert "bce" in Sigmoid.fused_losses and "cross_entropy" in Softmax.fused_losses
    source = inspect.getsource(importlib.import_module("treenet.train"))  # the module
    assert "Sigmoid" not in source and "Softmax" not in source


def test_the_losses_compute_sigmoid_and_softmax_by_the_ops_own_rules(monkeypatch):
    calls = []
    for op in (Sigmoid, Softmax):
        rule = op.compute
        monkeypatch.setattr(op, "compute",
                            lambda self, xs, rule=rule, op=op: calls.append(op) or rule(self, xs))
    assert losses.bce.derivative_from_logits(1.0, 0.0) == 0.5 - 1.0
    assert losses.cross_entropy.derivative_from_logits(0, [0.0, 0.0]) == [0.5 - 1.0, 0.5]
    assert calls == [Sigmoid, Softmax]


def test_fused_losses_stay_stable_at_logits_of_plus_minus_1000():
    assert losses.bce.value_from_logits(0.0, 1000.0) == 1000.0
    assert losses.bce.value_from_logits(1.0, -1000.0) == 1000.0
    assert losses.bce.derivative_from_logits(0.0, 1000.0) == 1.0
    assert losses.cross_entropy.value_from_logits(1, [1000.0, -1000.0]) == 2000.0
    assert losses.cross_entropy.derivative_from_logits(1, [1000.0, -1000.0]) == [1.0, -1.0]
    net = treenet.parse("input x\nsigmoid(p(1000.0)*x)")
    history = treenet.train(net, [([1.0], 0.0)], loss="bce", epochs=1, progress=False)
    assert history.loss == [1000.0] and values(net) == [1000.0 - 0.01 * 1.0]
