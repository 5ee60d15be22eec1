"""Losses: values, derivatives against finite differences, the combined logit forms, stability."""

import math

import pytest

from treenet import TreenetError
from treenet import losses
from treenet.losses import BCE, MSE, CrossEntropy

H = 1e-6


def central(f, x):
    return (f(x + H) - f(x - H)) / (2 * H)


def vector_central(f, xs, i):
    up, down = list(xs), list(xs)
    up[i] += H
    down[i] -= H
    return (f(up) - f(down)) / (2 * H)


def close(a, b, tol=1e-6):
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


SCALAR_CASES = [  # (loss, target, prediction)
    (MSE(), 1.5, -0.25), (MSE(), 0.0, 3.0), (MSE(), -2.0, -2.5),
    (BCE(), 1.0, 0.3), (BCE(), 0.0, 0.8), (BCE(), 0.25, 0.6), (BCE(), 1.0, 0.999),
    (CrossEntropy(), 1.0, 0.2), (CrossEntropy(), 0.0, 0.4),
]


@pytest.mark.parametrize("loss, target, pred", SCALAR_CASES)
def test_scalar_derivative_matches_finite_differences(loss, target, pred):
    assert close(loss.derivative(target, pred), central(lambda y: loss.value(target, y), pred))


VECTOR_CASES = [  # (loss, target, prediction vector)
    (MSE(), [1.0, 0.0, -1.0], [0.5, 0.25, 2.0]),
    (MSE(), 2, [0.1, 0.2, 0.7]),  # a class index: one-hot target
    (BCE(), [1.0, 0.0], [0.7, 0.4]),
    (CrossEntropy(), [0.0, 1.0, 0.0], [0.2, 0.5, 0.3]),
    (CrossEntropy(), 0, [0.6, 0.3, 0.1]),
    (CrossEntropy(), [0.2, 0.5, 0.3], [0.25, 0.25, 0.5]),
]


@pytest.mark.parametrize("loss, target, pred", VECTOR_CASES)
def test_vector_derivative_matches_finite_differences(loss, target, pred):
    d = loss.derivative(target, pred)
    assert len(d) == len(pred)
    for i in range(len(pred)):
        assert close(d[i], vector_central(lambda y: loss.value(target, y), pred, i))


@pytest.mark.parametrize("target", [0.0, 1.0, 0.3])
@pytest.mark.parametrize("z", [-30.0, -2.5, 0.0, 0.7, 4.0, 30.0])
def test_bce_from_logits_is_bce_of_the_sigmoid_and_its_derivative(target, z):
    bce = BCE()
    p = 1 / (1 + math.exp(-z))
    if 1e-9 < p < 1 - 1e-9:
        assert close(bce.value_from_logits(target, z), bce.value(target, p), 1e-9)
    assert close(bce.derivative_from_logits(target, z),
                 central(lambda u: bce.value_from_logits(target, u), z), 1e-5)


@pytest.mark.parametrize("target", [[1, 0, 0], [0, 0, 1], 1, [0.2, 0.3, 0.5]])
@pytest.mark.parametrize("z", [[0.0, 0.0, 0.0], [2.0, -1.0, 0.5], [-3.0, 4.0, 1.0]])
def test_cross_entropy_from_logits_matches_softmax_and_finite_differences(target, z):
    ce = CrossEntropy()
    es = [math.exp(v) for v in z]
    probs = [e / sum(es) for e in es]
    assert close(ce.value_from_logits(target, z), ce.value(target, probs), 1e-9)
    d = ce.derivative_from_logits(target, z)
    for i in range(3):
        assert close(d[i], vector_central(lambda u: ce.value_from_logits(target, u), z, i), 1e-5)


def test_combined_forms_are_finite_where_the_plain_forms_saturate():
    # sigmoid(800) is exactly 1.0 and softmax of huge logits has exact zeros
    assert BCE().value_from_logits(0.0, 800.0) == 800.0
    assert BCE().derivative_from_logits(0.0, 800.0) == 1.0
    assert BCE().value_from_logits(1.0, -800.0) == 800.0
    assert BCE().value_from_logits(1.0, 800.0) == 0.0
    ce = CrossEntropy()
    assert ce.value_from_logits(2, [1000.0, 0.0, -1000.0]) == 2000.0
    assert ce.derivative_from_logits(2, [1000.0, 0.0, -1000.0]) == [1.0, 0.0, -1.0]


@pytest.mark.parametrize("loss, target, pred", [
    (BCE(), 1.0, 0.0), (BCE(), 0.0, 1.0), (CrossEntropy(), 0, [0.0, 1.0]),
])
def test_plain_forms_never_take_the_log_of_zero(loss, target, pred):
    value = loss.value(target, pred)
    d = loss.derivative(target, pred)
    assert math.isfinite(value) and value > 20
    assert all(math.isfinite(x) for x in (d if isinstance(d, list) else [d]))


def test_mse_value_is_the_tutorials():
    assert MSE().value(3.0, 1.0) == 4.0
    assert MSE().derivative(3.0, 1.0) == -4.0
    assert MSE().value([1.0, 2.0], [0.0, 0.0]) == 2.5  # the mean over components


def test_losses_by_name_and_argument_order():
    assert isinstance(losses.get("mse"), MSE)
    assert isinstance(losses.get("BCE"), BCE)
    assert isinstance(losses.get("cross-entropy"), CrossEntropy)
    # target first, as the tutorials' loss_fn(y_true, y_pred)
    assert losses.mse(1.0, 0.0) == 1.0 and losses.mse.derivative(1.0, 0.0) == -2.0
    with pytest.raises(TreenetError, match="unknown loss"):
        losses.get("hinge")


@pytest.mark.parametrize("loss, target, pred, right", [
    (BCE(), 1, 0.7, True), (BCE(), 0, 0.7, False), (CrossEntropy(), 1, [0.1, 0.8, 0.1], True),
    (CrossEntropy(), [1, 0, 0], [0.1, 0.8, 0.1], False),
])
def test_correct(loss, target, pred, right):
    assert loss.correct(target, pred) is right


@pytest.mark.parametrize("target", [3, -1, 1.5, [1, 0]])
def test_bad_targets_are_errors(target):
    with pytest.raises(TreenetError):
        CrossEntropy().value(target, [0.2, 0.3, 0.5])


@pytest.mark.parametrize("name, hint", [("mes", "mse"), ("bec", "bce"),
                                        ("crossentropy", "cross_entropy")])
def test_a_misspelt_loss_gets_a_did_you_mean(name, hint):
    with pytest.raises(TreenetError, match=f"unknown loss '{name}'; did you mean '{hint}'"):
        losses.get(name)


@pytest.mark.parametrize("loss, target, pred, message", [
    (MSE(), None, 0.5, "needs a number as its target, got None"),
    (MSE(), {"t": 1}, 0.5, "needs a number as its target"),
    (MSE(), "1", 0.5, "needs a number"),
    (MSE(), [1.0, None], [0.5, 0.5], "must be a number, got None"),
    (BCE(), "a", 0.5, "needs a number"),
    (CrossEntropy(), "a", [0.2, 0.8], "class index 0..1"),
])
def test_a_target_that_is_not_a_number_is_a_treenet_error(loss, target, pred, message):
    with pytest.raises(TreenetError, match=message):
        loss.value(target, pred)
    with pytest.raises(TreenetError, match=message):
        loss.derivative(target, pred)


@pytest.mark.parametrize("loss, target, width, ok", [
    (MSE(), 2.5, None, True), (MSE(), [3], None, True), (MSE(), [1, 2], 2, True),
    (MSE(), 1, 2, True), (MSE(), 2, 2, False), (MSE(), True, None, False),
    (BCE(), 1, None, True), (BCE(), 2, None, False), (BCE(), -0.1, None, False),
    (BCE(), [0.5, 1.5], 2, False), (CrossEntropy(), 0.5, None, True),
    (CrossEntropy(), 2, None, False), (CrossEntropy(), 2, 3, True), (CrossEntropy(), 3, 3, False),
    (CrossEntropy(), [0, 1, 0], 3, True), (CrossEntropy(), [0, 2, 0], 3, False),
])
def test_check_target(loss, target, width, ok):
    if ok:
        loss.check_target(target, width)
    else:
        with pytest.raises(TreenetError):
            loss.check_target(target, width)
