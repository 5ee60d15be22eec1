"""A 3-class softmax classifier on three blobs of points, following tutorial 001's exercise 5
(an Output node that returns a list, and a SoftMax output trained on categorical cross-entropy)
with the layers of tutorial 004.

Shows: three Gaussian blobs generated here (60 points, under a seed); the network
`softmax(dense(3, tanh(dense(6, x, y))))`, whose predict returns 3 probabilities; training with
Adam on cross-entropy against class indices (taken in its stable form on the softmax's inputs,
the logits); accuracy per epoch in the history. It reaches at least 95% accuracy in 30 epochs.

Run: python examples/softmax_blobs.py"""

import math
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a source checkout
import treenet  # noqa: E402

FORMULA = "input x, y\nsoftmax(dense(3, tanh(dense(6, x, y))))"
CENTERS = [(0.0, 1.0), (-0.9, -0.5), (0.9, -0.5)]


def blobs(n_per_class=20, spread=0.45, seed=0):
    """n points around each center, labelled with the center's index."""
    rng = random.Random(seed)
    data = []
    for label, (cx, cy) in enumerate(CENTERS):
        for _ in range(n_per_class):
            data.append(([rng.gauss(cx, spread), rng.gauss(cy, spread)], label))
    return data


def argmax(xs):
    return max(range(len(xs)), key=xs.__getitem__)


def main(epochs=30, quiet=False, seed=0):
    say = (lambda *a: None) if quiet else print
    data = blobs(seed=seed)
    net = treenet.parse(FORMULA, seed=seed)
    history = treenet.train(net, data, loss="cross_entropy", optimizer="adam", lr=0.05,
                            epochs=epochs, seed=seed, progress=not quiet)
    say(f"trained: {history}")
    accuracy = sum(argmax(net.predict(x)) == t for x, t in data) / len(data)
    say(f"accuracy on the {len(data)} points: {accuracy:.3f}")
    for (cx, cy) in CENTERS + [(0.0, 0.0)]:
        probs = net.predict([cx, cy])
        say(f"  p(class | {cx:+.1f}, {cy:+.1f}) = [{', '.join(f'{p:.3f}' for p in probs)}]"
            f"  sum {math.fsum(probs):.6f}")
    return {"history": history, "accuracy": accuracy, "net": net}


if __name__ == "__main__":
    main()
