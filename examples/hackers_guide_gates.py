"""Gates, numerical gradients and backpropagation, following tutorial 000 (a reading of Karpathy's
"Hacker's guide to Neural Networks").

Shows: the multiply, add and max gates as treenet formulas; the numerical gradient of x*y at
(3, 4) (about 4); the gate 100 - (x - y)^2 climbed from (3, 4) by numerical gradient ascent with
step 0.001 until a step gains less than 0.000005, which stops at about (3.49, 3.51) with output
99.9994 as in the tutorial; the same climb with treenet's analytic gradients (backward); and the
circuit (x + y)*z at (-2, 5, -4): value -12, gradients -4, -4 and 3 by backward.

Run: python examples/hackers_guide_gates.py"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a source checkout
import treenet  # noqa: E402

H = 0.0001  # the tutorial's step for the forward-difference gradient


def numerical_gradient(net, point, wrt):
    """(f(point with point[wrt] + h) - f(point)) / h, the tutorial's getNumericalForwardGradient."""
    nudged = list(point)
    nudged[wrt] += H
    return (net.predict(nudged) - net.predict(point)) / H


def climb(net, point, step_size=0.001, tol=0.000005, gradient=None, max_steps=100_000):
    """Gradient ascent until a step gains less than tol (the tutorial's optimizeBinaryFunction,
    as a loop instead of a recursion). Returns (value, point, steps)."""
    point = list(point)
    previous = net.predict(point)
    for steps in range(1, max_steps + 1):
        grads = gradient(net, point)
        point = [v + g * step_size for v, g in zip(point, grads)]
        value = net.predict(point)
        if value - previous < tol:
            return previous, point, steps
        previous = value
    return previous, point, max_steps


def numeric_grads(net, point):
    return [numerical_gradient(net, point, k) for k in range(len(point))]


def analytic_grads(net, point):
    """d output / d each input, by one backward pass (inputs get .grad like parameters)."""
    net.predict(point)
    net.zero_grad()
    net.backward()
    return [node.grad for node in net.inputs]


def main(quiet=False):
    say = (lambda *a: None) if quiet else print
    results = {}

    gates = {name: treenet.parse(text) for name, text in
             [("multiply", "x*y"), ("add", "x + y"), ("max", "max(x, y)")]}
    results["multiply(-2, 3)"] = gates["multiply"].predict([-2, 3])
    results["add(-2, 3)"] = gates["add"].predict([-2, 3])
    results["max(2, 3)"] = gates["max"].predict([2, 3])
    for key in ("multiply(-2, 3)", "add(-2, 3)", "max(2, 3)"):
        say(f"{key} = {results[key]:g}")

    grad = numerical_gradient(gates["multiply"], [3, 4], 0)
    results["d(x*y)/dx at (3, 4)"] = grad
    say(f"numerical d(x*y)/dx at (3, 4) = {grad!r}  (exactly: y = 4)")

    custom = treenet.parse("input x, y\n100 - (x - y)^2")
    value, (x, y), steps = climb(custom, [3, 4], gradient=numeric_grads)
    results["numerical climb"] = (value, x, y)
    say(f"numerical ascent of {custom.funcify()} from (3, 4): "
        f"{value:.11g} at x = {x:.6f}, y = {y:.6f} after {steps} steps")
    value, (x, y), steps = climb(custom, [3, 4], gradient=analytic_grads)
    results["analytic climb"] = (value, x, y)
    say(f"analytic ascent (backward) from (3, 4):  "
        f"{value:.11g} at x = {x:.6f}, y = {y:.6f} after {steps} steps")

    circuit = treenet.parse("input x, y, z\nq = x + y\nq*z")
    f = circuit.predict([-2, 5, -4])
    grads = analytic_grads(circuit, [-2, 5, -4])
    results["circuit"] = f
    results["circuit grads"] = grads
    say(f"circuit {circuit.funcify()} at (-2, 5, -4) = {f:g}; "
        f"df/dx, df/dy, df/dz = {grads}")
    return results


if __name__ == "__main__":
    main()
