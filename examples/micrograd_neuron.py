"""A tanh neuron and its gradients, following tutorial 002 (micrograd-style manual
backpropagation: "train a neuron").

Shows: o = tanh(x1*w1 + x2*w2 + b) with x1 = 2, x2 = 0, w1 = -3, w2 = 1 and
b = 6.8813735870195432 (chosen so that do/dn = 0.5), written as a treenet program. One forward and
one backward give o = 0.7071 and the gradients the tutorial works out by hand: do/dx1 = -1.5,
do/dw1 = 1.0, do/dx2 = 0.5, do/dw2 = 0, do/db = 0.5; each is checked against a central
difference. Then the tutorial's chain rule by hand, node by node, from treenet's node values.

Run: python examples/micrograd_neuron.py"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a source checkout
import treenet  # noqa: E402

PROGRAM = """\
input x1, x2
w1 = p(-3.0)
w2 = p(1.0)
b = p(6.8813735870195432)
n = x1*w1 + x2*w2 + b
tanh(n)
"""


def main(quiet=False):
    say = (lambda *a: None) if quiet else print
    o_node = treenet.parse(PROGRAM)
    o = o_node.predict({"x1": 2.0, "x2": 0.0})
    o_node.zero_grad()
    o_node.backward(1.0)  # base case: do/do = 1
    leaves = {leaf.name: leaf for leaf in o_node.inputs + o_node.parameters}
    grads = {name: leaf.grad for name, leaf in leaves.items()}
    say(o_node.funcify(params="name"))
    say(f"o = {o:.4f}")
    for name, g in grads.items():
        say(f"  do/d{name} = {g:+.4f}")

    # every gradient against a central difference, nudging one leaf at a time
    h = 1e-6
    numeric = {}
    for name, leaf in leaves.items():
        saved = leaf.value
        leaf.value = saved + h
        up = o_node.forward()
        leaf.value = saved - h
        down = o_node.forward()
        leaf.value = saved
        numeric[name] = (up - down) / (2 * h)
    say("central differences agree: " + ", ".join(
        f"{name} {numeric[name]:+.6f}" for name in leaves))

    # the tutorial's manual backpropagation, from the node values treenet computed
    n = o_node.children[0]
    n_grad = 1 - o ** 2                     # do/dn = 1 - tanh(n)^2
    manual = {"b": n_grad,                  # + routes the gradient unchanged
              "x1": n_grad * leaves["w1"].value, "w1": n_grad * leaves["x1"].value,
              "x2": n_grad * leaves["w2"].value, "w2": n_grad * leaves["x2"].value}
    say(f"by hand: n = {n.value:.4f}, do/dn = {n_grad:.4f}, " +
        ", ".join(f"do/d{k} = {v:+.4f}" for k, v in manual.items()))
    return {"o": o, "grads": grads, "numeric": numeric, "manual": manual, "n": n.value}


if __name__ == "__main__":
    main()
