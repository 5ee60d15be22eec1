"""Fahrenheit -> Celsius regression and the above/below-the-line classifier, following tutorial
001 (the NeuralNetNode framework: Parameter, Input, Add, Multiply, ReLU, Sigmoid, and
`train_model(model, loss_fn, loss_grad_fn, data)`).

Shows: the tutorial's own code running on treenet unchanged (networks built from classes, its
mse/bce loss functions, per-sample updates with each Parameter's learning_rate 0.01), learning
celsius = 0.5556*fahrenheit - 17.78; then the classifier sigmoid(p*relu(p*x + p*y + p) + p) of
"is (x, y) above the line y = x", written as a formula and trained both with train_model and
with treenet.train (BCE in its stable form on the sigmoid's input): both classify more than 95% of
the points right, (1, 0) below and (0, 1) above.

Run: python examples/celsius_and_line.py"""

import math
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a source checkout
from treenet import (Add, Input, Multiply, Parameter, parse, train,  # noqa: E402
                     train_model)
from treenet.nodes import using_rng  # noqa: E402


# --- the tutorial's loss functions, as it writes them ---------------------------------------------

def mse_loss(y_true, y_pred):
    return (y_true - y_pred) ** 2


def mse_loss_grad(y_true, y_pred):
    return -2 * (y_true - y_pred)


def bce_loss(y_true, y_pred, eps=0.00000001):
    y_pred = min(max(y_pred, eps), 1 - eps)
    return -y_true * math.log(y_pred) - (1 - y_true) * math.log(1 - y_pred)


def bce_loss_grad(y_true, y_pred, eps=0.00000001):
    y_pred = min(max(y_pred, eps), 1 - eps)
    return (y_pred - y_true) / (y_pred * (1 - y_pred))


def fahrenheit_to_celsius(x):
    return (x - 32) * 5 / 9


def generate_f_to_c_data(rng, n=1000):
    data = []
    for _ in range(n):
        f = rng.uniform(-1, 1)
        data.append(([f], fahrenheit_to_celsius(f)))
    return data


def generate_binary_data(rng, n=1000):
    data = []
    for _ in range(n):
        x = rng.uniform(-1, 1)
        y = rng.uniform(-1, 1)
        data.append(([x, y], 1 if y > x else 0))
    return data


def accuracy(model, data):
    return sum((model.predict(x) > 0.5) == (t == 1) for x, t in data) / len(data)


def main(epochs=None, samples=1000, quiet=False, seed=0, init_seed=3):
    """Train both models (data drawn under `seed`, the classifier's initial parameters under
    `init_seed`: a single relu unit can start dead, as seeds 0 and 2 do, and then never learns);
    returns the learned weight and bias, and the classifier's accuracy and predictions."""
    say = (lambda *a: None) if quiet else print
    rng = random.Random(seed)
    results = {}

    # Fahrenheit -> Celsius: the tutorial's tree, built from classes
    with using_rng(rng):
        linear_classifier = Add([Multiply([Parameter(), Input()]), Parameter()])
    train_model(linear_classifier, mse_loss, mse_loss_grad, generate_f_to_c_data(rng, samples),
                epochs=epochs or 20, print_every=None if quiet else 5)
    weight, bias = (p.value for p in linear_classifier.parameters)
    results["weight"], results["bias"] = weight, bias
    results["celsius(32)"] = linear_classifier.predict([32])
    say(linear_classifier)
    say(f"learned: celsius = {weight:.4f}*fahrenheit {bias:+.2f}   "
        f"(5/9 = {5 / 9:.4f}, -160/9 = {-160 / 9:.2f}); predict(32) = "
        f"{results['celsius(32)']:.3g}")

    # above / below the line y = x: the tutorial's model_binary, as a formula
    formula = "input x, y\nsigmoid(p*relu(p*x + p*y + p) + p)"
    data = generate_binary_data(rng, samples)
    model_binary = parse(formula, seed=init_seed)
    train_model(model_binary, bce_loss, bce_loss_grad, data, epochs=epochs or 20,
                print_every=None if quiet else 5)
    results["train_model accuracy"] = accuracy(model_binary, data)
    results["predictions"] = {point: model_binary.predict(point)
                              for point in [(1, 0), (0, 1), (0, 1000), (-5, 3), (0, 0)]}
    say(model_binary.funcify())
    for point, p in results["predictions"].items():
        say(f"  predict{point} = {p:.6g}")
    say(f"train_model accuracy: {results['train_model accuracy']:.3f}")

    # the same with treenet.train: Adam, BCE in the combined form, shuffled under a seed
    model = parse(formula, seed=init_seed)
    history = train(model, data, loss="bce", optimizer="adam", lr=0.01, epochs=epochs or 20,
                    seed=seed, progress=not quiet)
    results["train accuracy"] = accuracy(model, data)
    results["history"] = history
    say(f"treenet.train: {history}")
    return results


if __name__ == "__main__":
    main()
