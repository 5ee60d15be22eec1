"""Optimizers: each reaches the known optimum of convex problems; steps are all or nothing."""

import math
import random

import pytest

import treenet
from treenet import Parameter, TreenetError, optimizers
from treenet.optimizers import SGD, Adam, Momentum, NonFiniteStep

BOWL = "a = p(0.0)\nb = p(0.0)\n(a - 3)^2 + 10*(b + 1)^2"  # minimum 0 at a = 3, b = -1


def minimize(net, opt, steps):
    for _ in range(steps):
        net.zero_grad()
        net.backward()
        opt.step(net.parameters)
    return [p.value for p in net.parameters]


@pytest.mark.parametrize("opt, steps", [
    (SGD(lr=0.04), 400),
    (Momentum(lr=0.01, momentum=0.9), 600),
    (Momentum(lr=0.01, momentum=0.9, nesterov=True), 600),
    (Adam(lr=0.05), 3000),
])
def test_each_optimizer_finds_the_bottom_of_a_quadratic_bowl(opt, steps):
    net = treenet.parse(BOWL)
    a, b = minimize(net, opt, steps)
    assert abs(a - 3) < 1e-6 and abs(b + 1) < 1e-6
    assert net.forward() < 1e-10


def least_squares_data(seed=1, n=20):
    rng = random.Random(seed)
    xs = [rng.uniform(-1, 1) for _ in range(n)]
    return [([x], 2 * x - 1 + rng.gauss(0, 0.1)) for x in xs]


def ols(data):
    """The exact least-squares line: the optimum of the mean squared error."""
    xs = [x[0] for x, _ in data]
    ys = [y for _, y in data]
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    w = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return w, my - w * mx


@pytest.mark.parametrize("optimizer, lr, epochs, tol", [
    ("sgd", 0.3, 300, 1e-7), ("momentum", 0.1, 600, 1e-9), ("adam", 0.05, 600, 1e-4),
])
def test_full_batch_training_reaches_the_least_squares_solution(optimizer, lr, epochs, tol):
    data = least_squares_data()
    net = treenet.parse("input x\nw = p(0.0)\nb = p(0.0)\nw*x + b")
    treenet.train(net, data, loss="mse", optimizer=optimizer, lr=lr, epochs=epochs,
                  batch_size=len(data), progress=False)
    w, b = ols(data)
    assert abs(net.parameters[0].value - w) < tol
    assert abs(net.parameters[1].value - b) < tol


def test_lr_none_uses_each_parameters_own_learning_rate():
    net = treenet.parse(BOWL)
    a, b = net.parameters
    a.learning_rate, b.learning_rate = 0.1, 0.0
    net.backward()  # grads: a: 2*(0 - 3) = -6, b: 20*(0 + 1) = 20
    SGD(lr=None).step(net.parameters)
    assert a.value == 0.0 - 0.1 * -6.0 and b.value == 0.0


def test_usual_defaults():
    assert SGD().lr == 0.01
    m = Momentum()
    assert (m.lr, m.momentum, m.nesterov) == (0.01, 0.9, False)
    adam = Adam()
    assert (adam.lr, adam.beta1, adam.beta2, adam.eps) == (0.001, 0.9, 0.999, 1e-8)


def test_momentum_and_adam_rules_by_hand():
    p = Parameter(1.0)
    opt = Momentum(lr=0.1, momentum=0.5)
    p.grad = 2.0
    opt.step([p])  # v = 2
    assert p.value == 1.0 - 0.1 * 2.0
    opt.step([p])  # v = 0.5*2 + 2 = 3
    assert p.value == pytest.approx(0.8 - 0.3)
    q = Parameter(1.0)
    q.grad = -123.0
    Adam(lr=0.01).step([q])  # the first Adam step is lr * sign(g), whatever g's size
    assert q.value == pytest.approx(1.01, abs=1e-9)


@pytest.mark.parametrize("opt", [SGD(lr=0.1), Momentum(lr=0.1), Adam(lr=0.1)])
def test_a_non_finite_step_changes_nothing(opt):
    ps = [Parameter(1.0, name="a"), Parameter(2.0, name="b")]
    for p in ps:
        p.grad = 1.0
    opt.step(ps)
    values, state, t = [p.value for p in ps], dict(opt.state), opt.t
    ps[0].grad, ps[1].grad = 0.5, math.nan
    with pytest.raises(NonFiniteStep, match="gradient of b"):
        opt.step(ps)
    assert [p.value for p in ps] == values and opt.state == state and opt.t == t


def test_a_step_that_overflows_changes_nothing():
    p = Parameter(1e308, name="big")
    p.grad = -1e308
    with pytest.raises(NonFiniteStep, match="big"):
        SGD(lr=10.0).step([p])
    assert p.value == 1e308


def test_optimizers_by_name():
    assert isinstance(optimizers.get("adam", lr=0.5), Adam)
    assert optimizers.get("adam", lr=0.5).lr == 0.5
    own = Momentum(lr=0.3)
    assert optimizers.get(own, lr=0.01) is own  # an object keeps its own rate
    with pytest.raises(TreenetError, match="unknown optimizer"):
        optimizers.get("rmsprop")
    with pytest.raises(TreenetError):
        Momentum(momentum=1.0)


def test_a_misspelt_optimizer_gets_a_did_you_mean():
    with pytest.raises(TreenetError, match="unknown optimizer 'adma'; did you mean 'adam'"):
        optimizers.get("adma")
    with pytest.raises(TreenetError, match="the optimizers are sgd, momentum, adam"):
        optimizers.get("lbfgs")


@pytest.mark.parametrize("make, message", [
    (lambda: SGD(lr="fast"), "lr must be a positive finite number"),
    (lambda: SGD(lr=0), "lr must be a positive"),
    (lambda: Adam(lr=math.nan), "lr must be a positive"),
    (lambda: Momentum(momentum="high"), r"momentum must be a number in \[0, 1\)"),
    (lambda: Adam(beta1=None), "beta1 must be a number"),
    (lambda: Adam(beta2=1.0), "beta2"),
    (lambda: Adam(eps="tiny"), "eps must be a positive finite number"),
    (lambda: optimizers.get("sgd", lr="fast"), "lr must be a positive"),
])
def test_bad_settings_say_what_was_expected(make, message):
    with pytest.raises(TreenetError, match=message):
        make()
