"""Training: `train` (losses and optimizers by name, mini-batches, seeded shuffling, a progress
bar) and the tutorials' own `train_model(model, loss_fn, loss_grad_fn, data)`.

One step = for each sample of a batch, forward, loss, and backward of (d loss / d output) / batch
size, so `.grad` holds the gradient of the batch's mean loss; then the optimizer's step. Nothing
touches a parameter until the whole batch has given finite numbers, and an optimizer step is all
or nothing, so when training stops with a TrainingError the parameters are those of the last
completed step: the failing one is not applied."""

import random
import sys

from tqdm import tqdm

from . import losses as _losses
from . import optimizers as _optimizers
from .errors import EvaluationError, TrainingError, TreenetError
from .graph import Graph
from .nodes import NeuralNetNode
from .ops import Output, Sigmoid, Softmax


class History:
    """What training recorded: `loss[e]` is the mean loss over epoch e's samples (each taken with
    the parameters as they were at that sample); `accuracy[e]` the fraction classified right,
    for classification losses (bce, cross_entropy), else None."""

    def __init__(self, loss_name, classification):
        self.loss_name = loss_name
        self.loss = []
        self.accuracy = [] if classification else None

    @property
    def epochs(self):
        return len(self.loss)

    def __getitem__(self, key):
        """`history["loss"]`, as in Keras."""
        return getattr(self, key)

    def __len__(self):
        return len(self.loss)

    def __repr__(self):
        if not self.loss:
            return "History(epochs=0)"
        text = f"History(epochs={self.epochs}, {self.loss_name} {self.loss[0]:.6g} -> " \
               f"{self.loss[-1]:.6g}"
        if self.accuracy:
            text += f", accuracy {self.accuracy[-1]:.4g}"
        return text + ")"


def train(net, data, loss="mse", optimizer="sgd", lr=0.01, epochs=100, batch_size=1, seed=None,
          progress=True, shuffle=True):
    """Train `net` in place on `data`, a list of (inputs, target) pairs (inputs: a list in
    `net.inputs` order, a name -> value mapping, or one number; target: a number, a list, or a
    class index for cross_entropy). Returns a History.

    loss: "mse", "bce", "cross_entropy" or a treenet.losses.Loss; optimizer: "sgd",
    "momentum", "adam" or a treenet.optimizers.Optimizer (which keeps its own rate); lr: the
    learning rate for a named optimizer, None for each Parameter's own `learning_rate`.
    The loss of a batch is its mean. Samples are shuffled each epoch by random.Random(seed)
    (shuffle=False keeps data order), so the same seed gives the same parameters bit for bit.
    progress: a tqdm bar on stderr for runs longer than half a second, only on a terminal.

    Raises TrainingError (naming epoch, sample and sub-expression) if a loss or gradient is not
    finite or the network cannot be evaluated; the parameters are then the last good ones."""
    loss = _losses.get(loss)
    opt = _optimizers.get(optimizer, lr)
    return _fit(net, data, loss, opt, _check_count(epochs, "epochs"),
                _check_count(batch_size, "batch_size"), random.Random(seed) if shuffle else None,
                progress, None, fuse=True, parameters=None)


def train_model(model, loss_fn, loss_grad_fn, data, epochs=1000, print_every=100):
    """The tutorials' training loop: per-sample gradient descent with each Parameter's own
    `learning_rate`, `loss_fn(y_true, y_pred)` and its derivative `loss_grad_fn(y_true, y_pred)`,
    data in order, printing `Epoch e: loss=...` every `print_every` epochs (None or 0: quiet).

    A Parameter whose class overrides `on_backward` updates itself there (the tutorial's hook,
    called with d loss / d parameter), so train_model leaves it alone. Returns a History."""
    if isinstance(loss_fn, _losses.Loss) and loss_grad_fn is None:
        loss = loss_fn
    else:
        loss = _losses.FunctionLoss(loss_fn, loss_grad_fn)
    hook_free = NeuralNetNode.on_backward
    params = [p for p in model.graph.parameters if type(p).on_backward is hook_free]
    return _fit(model, data, loss, _optimizers.SGD(lr=None), _check_count(epochs, "epochs"), 1,
                None, False, print_every or None, fuse=False, parameters=params)


# --- the loop -----------------------------------------------------------------------------------

def _fit(net, data, loss, opt, epochs, batch_size, rng, progress, print_every, fuse, parameters):
    data = _check_data(data)
    graph = net.graph
    params = graph.parameters if parameters is None else parameters
    step = _Sample(graph, loss, fuse)
    history = History(loss.name, loss.classification)
    order = list(range(len(data)))
    n = len(order)
    quiet = not progress or not _is_terminal()
    bar = tqdm(range(epochs), desc="training", unit="epoch", disable=quiet, delay=0.5,
               file=sys.stderr, dynamic_ncols=True)
    try:
        for epoch in bar:
            if rng is not None:
                rng.shuffle(order)
            total, hits = 0.0, 0
            for start in range(0, n, batch_size):
                batch = order[start:start + batch_size]
                step.zero_grad()
                scale = 1.0 / len(batch)
                for k in batch:
                    inputs, target = data[k]
                    try:
                        value, hit = step.run(inputs, target, scale)
                    except _Stop as stop:
                        step.zero_grad()
                        raise TrainingError(f"training stopped at epoch {epoch}, sample {k}: "
                                            f"{stop.reason}", epoch, k, stop.expression) from None
                    total += value
                    hits += bool(hit)
                try:
                    opt.step(params)
                except _optimizers.NonFiniteStep as exc:
                    step.zero_grad()
                    k = batch[-1]
                    raise TrainingError(f"training stopped at epoch {epoch}, sample {k}: {exc}",
                                        epoch, k, exc.parameter.name) from None
            history.loss.append(total / n)
            if history.accuracy is not None:
                history.accuracy.append(hits / n)
            if not quiet:
                bar.set_postfix({loss.name: f"{total / n:.4g}"}, refresh=False)
            if print_every and epoch % print_every == 0:
                print(f"Epoch {epoch}: loss={total / n}")
    finally:
        bar.close()
    return history


class _Stop(Exception):
    def __init__(self, reason, expression):
        self.reason, self.expression = reason, expression


class _Sample:
    """One sample's forward, loss and backward, on the whole network or, when the loss has a
    combined form with the network's last op (sigmoid or softmax), on the logits below it."""

    def __init__(self, graph, loss, fuse):
        self.loss = loss
        self.main = graph
        self.fused = None
        out = graph.output
        if fuse and loss.fuses == "sigmoid" and type(out) is Sigmoid:
            self.fused = "sigmoid"
            self.graph = Graph(out.children[0])
        elif fuse and loss.fuses == "softmax" and type(out) is Softmax:
            self.fused = "softmax"
            self.graph = Graph(Output(list(out.children)))
        elif fuse and loss.fuses == "softmax" and type(out) is Sigmoid:
            self.fused = "sigmoid"  # binary cross-entropy on one sigmoid output: the BCE form
            self.loss = _losses.BCE()
            self.graph = Graph(out.children[0])
        else:
            self.graph = graph
        if self.graph is not graph:
            # a graph compiled over the network's nodes takes over their `.value`/`.grad` slots;
            # give them back, so the network's nodes keep reporting the network's own passes
            for i in graph.op_indices:
                graph.nodes[i]._slot = (graph, i)
        self.classification = loss.classification
        self.vector = self.graph.vector_output

    def zero_grad(self):
        for p in self.main.parameters:
            p.grad = 0.0
        for i in self.main.inputs:
            i.grad = 0.0

    def run(self, inputs, target, scale):
        """(loss value, whether classified right or None); accumulates scale*d loss into .grad"""
        graph, loss = self.graph, self.loss
        try:
            graph.set_inputs(inputs)
            out = graph.forward()
        except EvaluationError as exc:
            raise _Stop(_reason(exc), exc.expression) from None
        try:
            if self.fused:
                value = loss.value_from_logits(target, out)
                d = loss.derivative_from_logits(target, out)
            else:
                value = loss.value(target, out)
                d = loss.derivative(target, out)
        except (ArithmeticError, ValueError) as exc:
            raise _Stop(f"the {loss.name} loss failed: {exc}", f"{loss.name}(target, output)") \
                from None
        if value - value != 0:
            raise _Stop(f"the {loss.name} loss is {value!r}", f"{loss.name}(target, output)")
        if self.vector:
            d = [scale * di for di in d]
            bad = any(di - di != 0 for di in d)
        else:
            d = scale * d
            bad = d - d != 0
        if bad:
            raise _Stop(f"the derivative of the {loss.name} loss is {d!r}",
                        f"{loss.name}(target, output)")
        try:
            graph.backward(d)
        except EvaluationError as exc:
            raise _Stop(_reason(exc), exc.expression) from None
        hit = None
        if self.classification:
            hit = loss.correct(target, self._prediction(out))
        return value, hit

    def _prediction(self, out):
        if self.fused == "sigmoid":
            return _losses._sigmoid(out)
        return out  # softmax logits have the same argmax as the probabilities


def _reason(exc):
    return str(exc)  # an EvaluationError's text already ends "in <sub-expression>"


def _is_terminal():
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _check_count(n, what):
    if isinstance(n, bool) or not isinstance(n, int) or n < (0 if what == "epochs" else 1):
        raise TreenetError(f"{what} must be a {'non-negative' if what == 'epochs' else 'positive'}"
                           f" integer, got {n!r}")
    return n


def _check_data(data):
    data = list(data)
    if not data:
        raise TreenetError("no training data")
    for k, item in enumerate(data):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise TreenetError(f"data[{k}] is not an (inputs, target) pair: {item!r}")
    return data


__all__ = ["train", "train_model", "History"]
