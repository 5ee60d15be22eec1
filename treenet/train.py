"""Training: `train` (losses and optimizers by name, mini-batches, seeded shuffling, a progress
bar) and the tutorials' own `train_model(model, loss_fn, loss_grad_fn, data)`.

One step = for each sample of a batch, forward, loss, and backward of (d loss / d output) / batch
size, so `.grad` holds the gradient of the batch's mean loss; then the optimizer's step. Nothing
touches a parameter until the whole batch has given finite numbers, and an optimizer step is all
or nothing, so when training stops with a TrainingError the parameters are those of the last
completed step: the failing one is not applied.

Arguments and every row of the data (its inputs against the network's, its target against the
loss) are checked before the first step (a TreenetError that names the row and says what was
expected); during training, anything a loss or a user's function raises, or returns that is not
a number, becomes a TrainingError naming the (0-based) epoch and sample."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
import difflib
from itertools import chain
import math
from numbers import Real
import random
import sys
from typing import Optional
import weakref

from tqdm import tqdm

from . import losses as _losses
from . import optimizers as _optimizers
from . import steps as _steps
from .errors import EvaluationError, TrainingError, TreenetError
from .graph import Graph
from .nodes import NeuralNetNode, Operation


class History:
    """What training recorded: `loss[e]` is the mean loss over epoch e's samples (each taken with
    the parameters as they were at that sample); `accuracy[e]` the fraction classified right,
    for classification losses (bce, cross_entropy), else None. `history[key]` reads one of
    `keys()`, as in Keras."""

    _KEYS = ("loss", "accuracy", "epochs", "loss_name")

    def __init__(self, loss_name, classification):
        self.loss_name = loss_name
        self.loss = []
        self.accuracy = [] if classification else None

    @property
    def epochs(self):
        return len(self.loss)

    def keys(self):
        return list(self._KEYS)

    def __getitem__(self, key):
        """`history["loss"]`, as in Keras."""
        if key not in self._KEYS:
            close = difflib.get_close_matches(key, self._KEYS, n=1) if isinstance(key, str) \
                else []
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TreenetError(f"History has no {key!r}{hint} (it has {', '.join(self._KEYS)})")
        return getattr(self, key)

    def __len__(self):
        return len(self.loss)

    def plot(self, path=None):
        """The loss curve (and accuracy, when recorded) with matplotlib (`treenet[plot]`): saved
        to `path` (.png, .svg, .pdf) and the path returned, or the Figure returned."""
        from .plot import plot_history
        return plot_history(self, path)

    def __repr__(self):
        if not self.loss:
            return "History(epochs=0)"
        text = f"History(epochs={self.epochs}, {self.loss_name} {self.loss[0]:.6g} -> " \
               f"{self.loss[-1]:.6g}"
        if self.accuracy:
            text += f", accuracy {self.accuracy[-1]:.4g}"
        return text + ")"


def train(net, data, loss="mse", optimizer="sgd", lr=0.01, epochs=100, batch_size=1, seed=None,
          progress=True, shuffle=True, backend=None):
    """Train `net` in place on `data`, a list of (inputs, target) pairs (inputs: a list in
    `net.inputs` order, a name -> value mapping, or one number; target: a number, a list, or a
    class index for cross_entropy). Returns a History.

    loss: "mse", "bce", "cross_entropy" or a treenet.losses.Loss; optimizer: "sgd",
    "momentum", "adam" or a treenet.optimizers.Optimizer (which keeps its own rate); lr: the
    learning rate for a named optimizer, None for each Parameter's own `learning_rate`.
    The loss of a batch is its mean. Samples are shuffled each epoch by random.Random(seed)
    (shuffle=False keeps data order), so the same seed gives the same parameters bit for bit.
    progress: a tqdm bar on stderr for runs longer than half a second, only on a terminal.

    Bad arguments (data that are not (inputs, target) pairs, a target that does not fit the
    loss and the network's output, an unknown loss or optimizer, lr not a positive number) raise
    TreenetError before anything is trained. Raises TrainingError if a loss or gradient is not
    finite or the network cannot be evaluated; its `.epoch` and `.sample` are 0-based (the
    sample is the index into `data`) and `.expression` names the failing sub-expression or loss;
    the parameters are then the last good ones.

    backend: where the steps run (see treenet.steps): "python" (one generated function per
    epoch: the loop over samples, loss, backward and the optimizer's update, in straight-line
    code), "numpy" (a batch at a time through the generated numpy code), "interpreted" (the
    engine), or None: "python" for batch_size=1, "numpy" above, each only where the size rule
    says the code pays for its compiling (generator.worth_generating), else the engine. Every
    backend gives the interpreted engine's parameters (python bit for bit, numpy to rounding),
    calls the same hooks and raises the same errors at the same epoch and sample. A network
    the generator cannot handle (an op without code templates, `on_backward` hooks) trains on
    the interpreted engine whatever the backend."""
    _check_net(net, "train")
    loss = _losses.get(loss)
    _optimizers.check_lr(lr)
    opt = _optimizers.get(optimizer, lr)
    epochs, batch_size = _check_count(epochs, "epochs"), _check_count(batch_size, "batch_size")
    rng = _check_seed(seed) if shuffle else None
    forced = backend is not None
    backend = _steps.choose(backend, batch_size)
    return _fit(net, data, loss, opt, epochs, batch_size, rng, progress, None, fuse=True,
                parameters=None, backend=(backend, forced))


def train_model(model, loss_fn, loss_grad_fn, data, epochs=1000, print_every=100):
    """The tutorials' training loop: per-sample gradient descent with each Parameter's own
    `learning_rate`, `loss_fn(y_true, y_pred)` and its derivative `loss_grad_fn(y_true, y_pred)`,
    data in order, printing `Epoch e: loss=...` every `print_every` epochs (None or 0: quiet).

    A Parameter whose class overrides `on_backward` updates itself there (the tutorial's hook,
    called with d loss / d parameter), so train_model leaves it alone. Returns a History.

    An exception raised by `loss_fn`, `loss_grad_fn` or a hook, or a result that is not a number
    (a list of numbers for a vector output), stops training with a TrainingError naming the
    epoch and sample (both 0-based) with the original exception as its __cause__. (Hooks run one
    after another: those before a failing hook have already updated their parameters.)"""
    _check_net(model, "train_model")
    if isinstance(loss_fn, _losses.Loss) and loss_grad_fn is None:
        loss = loss_fn
    else:
        for label, fn in (("loss_fn", loss_fn), ("loss_grad_fn", loss_grad_fn)):
            if not callable(fn):
                raise TreenetError(f"train_model: {label} must be a function of (y_true, y_pred) "
                                   f"(e.g. treenet.losses.mse, treenet.losses.mse.derivative), "
                                   f"got {fn!r}")
        loss = _losses.FunctionLoss(loss_fn, loss_grad_fn)
    epochs = _check_count(epochs, "epochs")
    if print_every is not None and (isinstance(print_every, bool) or
                                    not isinstance(print_every, int) or print_every < 0):
        raise TreenetError(f"print_every must be a positive integer, or None or 0 for quiet; "
                           f"got {print_every!r}")
    hook_free = NeuralNetNode.on_backward
    params = [p for p in model.graph.parameters if type(p).on_backward is hook_free]
    return _fit(model, data, loss, _optimizers.SGD(lr=None), epochs, 1, None, False,
                print_every or None, fuse=False, parameters=params)


@dataclass(frozen=True)
class Evaluation:
    """What `evaluate` measured: `loss`, the mean loss over the data set; `accuracy`, the
    fraction classified right for classification losses (bce, cross_entropy), else None;
    `samples`, how many."""
    loss: float
    accuracy: Optional[float]
    samples: int


def evaluate(net, data, loss="mse"):
    """The mean loss (and accuracy) of `net` over `data`, (inputs, target) pairs as `train`
    takes them, computed as `train` computes it (the combined form on the logits where the
    output fuses with the loss), on a batch at once. Returns an Evaluation. The rows are
    checked as `train` checks them; a sample that cannot be evaluated is an EvaluationError
    naming it ("sample i: ...")."""
    _check_net(net, "evaluate")
    loss = _losses.get(loss)
    graph = net.graph
    data = _check_data(data, graph.inputs, loss,
                       len(graph.output.children) if graph.vector_output else None)
    step = _Sample(graph, loss, True)
    total, hits = _steps.evaluate(graph, step.graph, loss, step.activation, data)
    n = len(data)
    return Evaluation(total / n, None if hits is None else hits / n, n)


# --- the loop -----------------------------------------------------------------------------------

def _fit(net, data, loss, opt, epochs, batch_size, rng, progress, print_every, fuse, parameters,
         backend=("interpreted", True)):
    graph = net.graph
    data = _check_data(data, graph.inputs, loss,
                       len(graph.output.children) if graph.vector_output else None)
    params = graph.parameters if parameters is None else parameters
    if opt.lr is None:
        for p in params:
            _optimizers.check_parameter_rate(p)
    step = _Sample(graph, loss, fuse)
    fast = _steps.runner(backend[0], graph, step.graph, loss, opt, params, step.activation,
                         batch_size, data, epochs * len(data), backend[1])
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
            total, hits, start = 0.0, 0, 0
            while start < n:
                if fast is not None:  # as far as it goes: to the end, or to a failed batch
                    start, total, hits = fast.epoch(order, start, total, hits)
                    if start >= n:
                        break
                # the batch at `start` on the engine: it raises the error, or completes it
                batch = order[start:start + batch_size]
                total, hits = _batch(step, data, batch, epoch, opt, params, total, hits)
                start += len(batch)
            history.loss.append(total / n)
            if history.accuracy is not None:
                history.accuracy.append(hits / n)
            if not quiet:
                bar.set_postfix({loss.name: f"{total / n:.4g}"}, refresh=False)
            if print_every and epoch % print_every == 0:
                print(f"Epoch {epoch}: loss={total / n}")
    finally:
        if fast is not None:  # the parameters it keeps while training go back to the nodes
            fast.finish()
        bar.close()
    return history


def _batch(step, data, batch, epoch, opt, params, total, hits):
    """One batch on the interpreted engine, its step taken: (total, hits) updated."""
    step.zero_grad()
    scale = 1.0 / len(batch)
    for k in batch:
        inputs, target = data[k]
        try:
            value, hit = step.run(inputs, target, scale)
        except _Stop as stop:
            step.zero_grad()
            raise TrainingError(f"training stopped at epoch {epoch}, sample {k}: "
                                f"{stop.reason}", epoch, k, stop.expression) from stop.cause
        total += value
        hits += bool(hit)
    try:
        opt.step(params)
    except _optimizers.NonFiniteStep as exc:
        step.zero_grad()
        k = batch[-1]
        raise TrainingError(f"training stopped at epoch {epoch}, sample {k}: {exc}",
                            epoch, k, exc.parameter.name) from None
    return total, hits


class _Stop(Exception):
    """Why one sample failed; `cause` is a user callback's exception, kept as __cause__."""

    def __init__(self, reason, expression, cause=None):
        self.reason, self.expression, self.cause = reason, expression, cause


class _Sample:
    """One sample's forward, loss and backward, on the whole network or, when the network's last
    op declares a combined form with the loss (its `fused_losses`), on the logits below it."""

    def __init__(self, graph, loss, fuse):
        self.loss = loss
        self.main = graph
        self.graph = graph
        self.activation = None  # the last op's function of the logits, when fused
        out = graph.output
        if fuse and _fuses(out, loss):
            self.graph = _LOGITS.get(graph)
            if self.graph is None:  # built once per compiled network: its code is cached on it
                self.graph = _LOGITS[graph] = Graph(out.logits())
            self.activation = type(out).of
        self.classification = loss.classification
        self.vector = self.graph.vector_output
        self.width = len(self.graph.output.children) if self.vector else None
        self.labels = _labels(self.loss)

    def zero_grad(self):
        for p in self.main.parameters:
            p.grad = 0.0
        for i in self.main.inputs:
            i.grad = 0.0

    def run(self, inputs, target, scale):
        """(loss value, whether classified right or None); accumulates scale*d loss into .grad"""
        graph, loss = self.graph, self.loss
        try:
            # through the whole network: the rows are in its input order, and the logits'
            # sub-graph need not read every input (`input x, y` with y unused, say)
            self.main.set_inputs(inputs)
            out = graph.forward()
        except EvaluationError as exc:
            raise _Stop(_reason(exc), exc.expression) from None
        (what, where), (dwhat, dwhere) = self.labels
        if self.activation is not None:
            value = _call(loss.value_from_logits, target, out, what, where)
            d = _call(loss.derivative_from_logits, target, out, dwhat, dwhere)
        else:
            value = _call(loss.value, target, out, what, where)
            d = _call(loss.derivative, target, out, dwhat, dwhere)
        if isinstance(value, bool) or not isinstance(value, Real):
            raise _Stop(f"{what} returned {_brief(value)}; a loss must be a number", where)
        if value - value != 0:
            raise _Stop(f"{what} is {value!r}", where)
        if self.vector:
            if (not isinstance(d, (list, tuple)) or len(d) != self.width
                    or not all(isinstance(di, Real) for di in d)):
                raise _Stop(f"{dwhat} returned {_brief(d)}; the network has {self.width} "
                            f"outputs, so it must be a list of {self.width} numbers", dwhere)
            d = [scale * di for di in d]
            bad = any(di - di != 0 for di in d)
        else:
            if isinstance(d, bool) or not isinstance(d, Real):
                raise _Stop(f"{dwhat} returned {_brief(d)}; the network has one output, so it "
                            "must be a number", dwhere)
            d = scale * d
            bad = d - d != 0
        if bad:
            raise _Stop(f"{dwhat} is {d!r}", dwhere)
        try:
            graph.backward(d, inputs=False)  # a step needs no input's gradient
        except EvaluationError as exc:
            raise _Stop(_reason(exc), exc.expression) from None
        except Exception as exc:  # noqa: BLE001 - only a user's on_backward hook gets here
            raise _Stop(f"an on_backward hook raised {type(exc).__name__}: {exc}",
                        "on_backward", exc) from None
        hit = None
        if self.classification:
            hit = loss.correct(target, self._prediction(out))
        return value, hit

    def _prediction(self, out):
        return out if self.activation is None else self.activation(out)


_LOGITS = weakref.WeakKeyDictionary()  # a compiled network -> the graph of its logits


def _fuses(out, loss):
    """Whether the output's op lists `loss` among the losses it has a combined form with."""
    if not (isinstance(out, Operation) and type(out).owns("fused_losses", "compute")):
        return False  # a subclass with its own compute is not the op the fused form restates
    return any(isinstance(loss, _losses.LOSSES.get(name, ()))
               for name in out.fused_losses)


def _reason(exc):
    return str(exc)  # an EvaluationError's text already ends "in <sub-expression>"


def _labels(loss):
    """((what, expression) for the loss value, the same for its derivative), for messages."""
    if isinstance(loss, _losses.FunctionLoss):  # the tutorials' loss_fn and loss_grad_fn
        labels = []
        for arg, fn in (("loss_fn", loss._value), ("loss_grad_fn", loss._derivative)):
            name = getattr(fn, "__name__", "")
            what = arg if not name or name == "<lambda>" else f"{arg} {name}"
            labels.append((what, f"{arg}(target, output)"))
        return tuple(labels)
    where = f"{loss.name}(target, output)"
    return (f"the {loss.name} loss", where), (f"the derivative of the {loss.name} loss", where)


def _call(fn, target, out, what, where):
    """fn(target, out), any exception turned into a _Stop that says what failed (a loss may be a
    user's function: its own exception is kept as the TrainingError's __cause__)."""
    try:
        return fn(target, out)
    except OverflowError as exc:
        raise _Stop(f"overflow in {what}: a number grew too large for a float (output "
                    f"{_brief(out)}, target {_brief(target)})", where, exc) from None
    except TreenetError as exc:
        # a built-in loss's own error ("overflow in the mse loss: ...") already says what failed
        reason = str(exc) if what in str(exc) else f"{what} failed: {exc}"
        raise _Stop(reason, where, exc) from None
    except Exception as exc:  # noqa: BLE001 - a user's loss function may raise anything
        raise _Stop(f"{what} raised {type(exc).__name__}: {exc}", where, exc) from None


def _brief(x):
    """A short text for a value in a message: numbers to 6 digits, long lists cut."""
    if isinstance(x, float):
        return f"{x:.6g}"
    if isinstance(x, (list, tuple)):
        items = [_brief(v) for v in x[:4]] + (["..."] if len(x) > 4 else [])
        return "[" + ", ".join(items) + "]"
    return _losses._short(x)


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


def _check_net(net, caller):
    if not isinstance(net, NeuralNetNode):
        raise TreenetError(f"{caller} takes a network (from treenet.parse, or built from treenet "
                           f"nodes) as its first argument, got {_brief(net)}")


def _check_seed(seed):
    if isinstance(seed, bool) or not (seed is None or isinstance(seed, (int, str, bytes))):
        raise TreenetError(f"seed must be None or an integer, got {seed!r}")
    return random.Random(seed)


def _check_data(data, inputs, loss, width):
    """data as a list of (input values in `inputs` order, target) pairs, each row's inputs
    finite numbers for the network's `inputs` and its target one that `loss` accepts for an
    output of `width` components (None: one number); a TreenetError naming the first bad row
    if not, so that nothing is trained on data that would fail part-way."""
    if (isinstance(data, (str, bytes, Mapping)) or not isinstance(data, Iterable)):
        raise TreenetError(f"data must be a list of (inputs, target) pairs, got "
                           f"{type(data).__name__} {_brief(data)}")
    data = list(data)
    if not data:
        raise TreenetError("no training data")
    n_in = len(inputs)
    common = _common_rows(data, n_in, loss, width)
    if common is not None:
        return common
    for k, item in enumerate(data):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise TreenetError(f"data[{k}] is not an (inputs, target) pair: {_brief(item)}")
        row = item[0]
        if (row.__class__ is list and len(row) == n_in and _FLOAT.issuperset(map(type, row))
                and 0.0 * sum(row) == 0):  # the common case: finite floats, in order
            values = row[:]
        else:
            values = _row_inputs(k, row, inputs)
        try:
            loss.check_target(item[1], width)
        except TreenetError as exc:
            suffix = "" if loss.name in str(exc) else f" (for the {loss.name} loss)"
            raise TreenetError(f"data[{k}]: {exc}{suffix}") from None
        data[k] = (values, item[1])
    return data


_FLOAT = frozenset([float])
_PAIRS = frozenset([tuple, list])


def _common_rows(data, n_in, loss, width):
    """What the loop of _check_data returns, found in a few C-level passes when every row is
    the common case (a pair of a list of n_in finite floats and a target the loss takes, by
    `Loss.targets_ok`), else None (the loop then checks each row and names the first bad one)."""
    if not _PAIRS.issuperset(map(type, data)) or set(map(len, data)) != {2}:
        return None
    rows = [item[0] for item in data]
    if set(map(type, rows)) != {list} or set(map(len, rows)) != {n_in}:
        return None
    flat = list(chain.from_iterable(rows))
    if not (_FLOAT.issuperset(map(type, flat)) and 0.0 * sum(flat) == 0):
        return None  # (a sum that overflows is a false alarm: the loop finds all finite)
    targets = [item[1] for item in data]
    if not loss.targets_ok(targets, width):
        return None
    return list(zip(map(list.copy, rows), targets))


def _row_inputs(k, row, inputs):
    """Row k's input values as a list of floats in `inputs` order; a TreenetError naming the
    row and the input if one is missing, extra, not a number, or not finite."""
    names = [node.name for node in inputs]
    listing = ", ".join(names) or "none"
    if isinstance(row, Mapping):
        values = []
        for name in names:
            if name not in row:
                given = [key for key in row if isinstance(key, str)]
                close = difflib.get_close_matches(name, given, n=1)
                hint = f" (given {close[0]!r}: a misspelling?)" if close else ""
                raise TreenetError(f"data[{k}]: no value for input {name!r}{hint}; the network's "
                                   f"inputs are {listing}")
            values.append(_input_value(k, f"input {name!r}", row[name]))
        return values
    if isinstance(row, (str, bytes)) or not isinstance(row, (Real, Iterable)):
        raise TreenetError(f"data[{k}]: the inputs must be a list of numbers ({listing}), a "
                           f"mapping by name or one number, got {_brief(row)}")
    row = [row] if isinstance(row, Real) else list(row)
    if len(row) != len(names):
        raise TreenetError(f"data[{k}]: the network has {len(names)} input(s) ({listing}), got "
                           f"{len(row)} value(s): {_brief(row)}")
    return [_input_value(k, f"inputs[{j}] (input {name!r})", v)
            for j, (name, v) in enumerate(zip(names, row))]


def _input_value(k, where, v):
    """v as a finite float, or a TreenetError naming data[k] and the input."""
    if isinstance(v, bool) or not isinstance(v, Real):
        raise TreenetError(f"data[{k}]: {where} must be a number, got {_brief(v)} "
                           f"({type(v).__name__})")
    try:
        x = float(v)
    except OverflowError:
        x = math.inf
    if not math.isfinite(x):
        raise TreenetError(f"data[{k}]: {where} must be a finite number, got {_brief(v)}")
    return x


__all__ = ["train", "train_model", "History", "evaluate", "Evaluation"]
