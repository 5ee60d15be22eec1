"""Loss functions, each a value and its derivative with respect to the prediction.

Arguments come target first, as in the tutorials' `loss_fn(y_true, y_pred)`, so a loss can be
passed straight to `train_model(model, mse, mse.derivative, data)`.

Where the network ends in an op that declares a combined form with the loss (`Sigmoid` with
"bce" and "cross_entropy", `Softmax` with "cross_entropy": their `fused_losses`), `train` hands
the loss the *logits* (the input of that last op, `op.logits()`) and uses the combined form:
loss = softplus(z) - t*z and d/dz = sigmoid(z) - t for BCE, logsumexp(z) - t.z and
d/dz = softmax(z) - t for cross-entropy. These never take the log of 0 and never divide by
p*(1 - p), so a saturated output (sigmoid(40) == 1.0 exactly) still gets its exact gradient.
sigmoid and softmax themselves are the ops' own rules (`Sigmoid.of`, `Softmax.of`).

The built-in losses never return inf or NaN: a result too large for a float is an
EvaluationError that names the loss, the output and the target."""

import difflib
import functools
import math
from collections.abc import Sequence
from numbers import Real

from .errors import EvaluationError, TreenetError
from .ops import Sigmoid, Softmax

#: how close to 0 and 1 a probability is clipped before a log, when no logits are available
EPS = 1e-12


class Loss:
    """A loss: `value(target, prediction)` and `derivative(target, prediction)` (d/d prediction,
    a list for vector predictions). A loss that an op lists in its `fused_losses` also takes
    that op's logits directly through `value_from_logits` / `derivative_from_logits`."""

    name = "loss"
    classification = False

    def value(self, target, pred):
        raise NotImplementedError

    def derivative(self, target, pred):
        raise NotImplementedError

    def value_from_logits(self, target, z):
        raise NotImplementedError

    def derivative_from_logits(self, target, z):
        raise NotImplementedError

    def correct(self, target, pred):
        """Whether a prediction counts as right (classification losses), else None."""
        return None

    def check_target(self, target, width):
        """Raise TreenetError, saying what is expected, if `target` cannot go with a prediction
        of `width` components (None: a single number). `train` checks every target this way
        before the first step. The base class accepts anything (a custom loss decides)."""

    def targets_ok(self, targets, width):
        """Whether every target of the list passes `check_target` (False: not known, and
        `train` checks them one by one), in a few C-level passes for the common case."""
        return False

    def __call__(self, target, pred):
        return self.value(target, pred)

    # --- generated training steps (treenet.steps) ----------------------------------------------
    def code(self, fused):
        """Python lines computing, for one sample of a scalar output, the loss `l` and its
        derivative `dl` by `{z}` (the output, or the logits when `fused`) from the target `{t}`
        (a float), and an expression for whether it is classified right (or None), which may
        read `{c}`, the target's class as `code_class` finds it once per data set: the same
        floating-point operations as `value` and `derivative`. None: no code (the generated step
        calls the methods instead)."""
        return None

    #: the target's class for `code`'s hit expression (`{c}`), a function of the target
    code_class = None

    def batch(self, targets, z, fused, check=True):
        """(losses, derivatives, hits or None) as arrays over a batch (numpy arrays of the
        targets, as `code` takes them, and of the outputs or logits); FloatingPointError if one
        is not finite (not checked with `check` False: the caller checks). None: not vectorized
        (the numpy backend calls the methods per sample)."""
        return None

    def batch_code(self, fused):
        """(lines, prepare) of numpy code for a training step over a batch of a scalar output:
        the lines set `lt`, the losses summed, `dl`, the array of derivatives by `{z}` (the
        outputs, or the logits when `fused`), and `hits`, the number classified right (-1 for
        none), from the targets `{t}` and `{th}`, the targets as `prepare` (a function of the
        targets' array, or None) makes them once per data set. The same math as `batch` (rounding
        aside: sums may be dot products). What is not finite is left to the step's check, which
        reads `lt` only: an output, a loss or a derivative that is not finite must make `lt` not
        finite. None: no code (the step calls `batch`)."""
        return None

    def __repr__(self):
        return f"{type(self).__name__}()"


class FunctionLoss(Loss):
    """A loss made of two plain functions `loss_fn(y_true, y_pred)` and `grad_fn(y_true, y_pred)`
    (the tutorials' way)."""

    def __init__(self, loss_fn, grad_fn, name=None):
        self._value, self._derivative = loss_fn, grad_fn
        self.name = name or (loss_fn.name if isinstance(loss_fn, Loss) else
                             getattr(loss_fn, "__name__", "loss"))

    def value(self, target, pred):
        return self._value(target, pred)

    def derivative(self, target, pred):
        return self._derivative(target, pred)

    def __repr__(self):
        return f"FunctionLoss({self.name})"


def _finite(method):
    """A built-in loss's method with its arguments checked and an overflow (an OverflowError,
    or an inf or NaN that float arithmetic gave) turned into an EvaluationError."""

    @functools.wraps(method)
    def checked(self, target, pred):
        _check_prediction(self.name, pred)
        try:
            result = method(self, target, pred)
        except OverflowError:
            result = math.inf
        if any(r - r != 0 for r in (result if isinstance(result, list) else (result,))):
            raise EvaluationError(f"overflow in the {self.name} loss: a number grew too large "
                                  f"for a float (output {_brief(pred)}, target {_brief(target)})")
        return result

    return checked


def _check_prediction(name, pred):
    """The prediction a loss is given: a finite number, or a non-empty list of them."""
    preds = pred if _is_vector(pred) else (pred,)
    if not preds or any(isinstance(y, bool) or not isinstance(y, Real) for y in preds):
        raise TreenetError(f"the {name} loss takes a number or a list of numbers as the "
                           f"prediction, got {_short(pred)}")
    for y in preds:
        try:
            finite = math.isfinite(y)
        except OverflowError:
            finite = False
        if not finite:
            raise EvaluationError(f"the {name} loss needs a finite prediction, got "
                                  f"{_short(pred)}")


class MSE(Loss):
    """(y - t)^2, averaged over the components of a vector;  d/dy = 2*(y - t) (/ n)."""

    name = "mse"

    @_finite
    def value(self, target, pred):
        if _is_vector(pred):
            t = _as_vector(target, len(pred))
            squares = [(y - ti) ** 2 for y, ti in zip(pred, t)]
            try:
                return math.fsum(squares) / len(pred)
            except OverflowError:  # the sum is too large, the mean may not be
                return math.fsum(sq / len(pred) for sq in squares)
        return (pred - _scalar(target)) ** 2

    @_finite
    def derivative(self, target, pred):
        if _is_vector(pred):
            t = _as_vector(target, len(pred))
            n = len(pred)
            # 2*(d/n) is 2*d/n bit for bit (doubling is exact) and does not overflow first
            return [2.0 * ((y - ti) / n) for y, ti in zip(pred, t)]
        return 2.0 * (pred - _scalar(target))

    def check_target(self, target, width):
        if width is None:
            if target.__class__ is float and target - target == 0:
                return  # the common case: a finite float
            _scalar(target)
        else:
            _as_vector(target, width)

    def targets_ok(self, targets, width):
        return _targets_within(self, MSE, targets, width, -math.inf, math.inf)

    def code(self, fused):
        return ["l = ({z} - {t}) ** 2", "dl = 2.0 * ({z} - {t})"], None

    def batch_code(self, fused):
        # a sum of squares overflows when a square does: not finite then, as the engine says
        return ["diff = {z} - {t}", "lt = diff @ diff", "dl = 2.0 * diff", "hits = -1"], None

    def batch(self, targets, z, fused, check=True):
        diff = z - targets
        if z.ndim == 1:
            return _finite_arrays(check, diff ** 2, 2.0 * diff, None)
        k = z.shape[1]
        return _finite_arrays(check, (diff ** 2).sum(axis=1) / k, 2.0 * (diff / k), None)


class BCE(Loss):
    """-t*log(y) - (1 - t)*log(1 - y), y a probability (clipped to [EPS, 1 - EPS]);
    d/dy = (y - t) / (y*(1 - y)). From the logit z of a sigmoid: softplus(z) - t*z, d/dz =
    sigmoid(z) - t."""

    name = "bce"
    classification = True

    @_finite
    def value(self, target, pred):
        if _is_vector(pred):
            t = _as_vector(target, len(pred))
            return math.fsum(self.value(ti, y) for ti, y in zip(t, pred)) / len(pred)
        t = _scalar(target)
        y = min(max(pred, EPS), 1.0 - EPS)
        return -t * math.log(y) - (1.0 - t) * math.log1p(-y)

    @_finite
    def derivative(self, target, pred):
        if _is_vector(pred):
            t = _as_vector(target, len(pred))
            return [self.derivative(ti, y) / len(pred) for ti, y in zip(t, pred)]
        t = _scalar(target)
        y = min(max(pred, EPS), 1.0 - EPS)
        return (y - t) / (y * (1.0 - y))

    @_finite
    def value_from_logits(self, target, z):
        t = _scalar(target)
        # softplus(z) - t*z, with softplus(z) = max(z, 0) + log1p(exp(-|z|)): no overflow
        return max(z, 0.0) - t * z + math.log1p(math.exp(-abs(z)))

    @_finite
    def derivative_from_logits(self, target, z):
        return Sigmoid.of(z) - _scalar(target)

    def correct(self, target, pred):
        if _is_vector(pred):
            return all(self.correct(ti, y) for ti, y in zip(_as_vector(target, len(pred)), pred))
        return (pred >= 0.5) == (_scalar(target) >= 0.5)

    def check_target(self, target, width):
        if target.__class__ is float and width is None and 0.0 <= target <= 1.0:
            return  # the common case, checked in one step (nan fails the comparison)
        _check_probabilities(self.name, target, width)

    def targets_ok(self, targets, width):
        return _targets_within(self, BCE, targets, width, 0.0, 1.0)

    def code(self, fused):
        if fused:  # value_from_logits and derivative_from_logits, Sigmoid.of inlined
            # the loss's exp(-|z|) is the exp the sigmoid takes on either side: taken once
            return ["if {z} >= 0.0:",
                    "    e = math.exp(-{z})",
                    "    l = {z} - {t} * {z} + math.log1p(e)",
                    "    s = 1.0 / (1.0 + e)",
                    "else:",
                    "    e = math.exp({z})",
                    "    l = 0.0 - {t} * {z} + math.log1p(e)",
                    "    s = e / (1.0 + e)",
                    "dl = s - {t}"], "(s >= 0.5) == {c}"
        low, high = repr(EPS), repr(1.0 - EPS)
        return [f"y = {low} if {low} > {{z}} else {{z}}",  # min(max(z, EPS), 1 - EPS)
                f"y = {high} if {high} < y else y",
                "l = -{t} * math.log(y) - (1.0 - {t}) * math.log1p(-y)",
                "dl = (y - {t}) / (y * (1.0 - y))"], "({z} >= 0.5) == {c}"

    @staticmethod
    def code_class(target):
        """Whether a target counts as class 1 (what `correct` compares the prediction with)."""
        return target >= 0.5

    def batch_code(self, fused):
        if not fused:
            return None
        # batch's math with fused (summed per sample first: max(z, 0) - t*z is 0 for a
        # confident right answer, where sums of each would cancel)
        return (["e = np.exp(-np.abs({z}))",
                 "q = 1.0 / (1.0 + e)",
                 "s = np.where({z} >= 0, q, e * q)",
                 "dl = s - {t}",
                 "lt = np.add.reduce(np.maximum({z}, 0.0) - {t} * {z} + np.log1p(e), None)",
                 "hits = np.count_nonzero((s >= 0.5) == {th})"], _at_least_half)

    def batch(self, targets, z, fused, check=True):
        import numpy as np
        if fused:
            if z.ndim != 1:
                return None
            e = np.exp(-np.abs(z))
            q = 1.0 / (1.0 + e)
            s = np.where(z >= 0, q, e * q)  # e*q: e/(1 + e) to rounding, a division fewer
            return _finite_arrays(check, np.maximum(z, 0.0) - targets * z + np.log1p(e),
                                  s - targets, (s >= 0.5) == (targets >= 0.5))
        y = np.clip(z, EPS, 1.0 - EPS)
        values = -targets * np.log(y) - (1.0 - targets) * np.log1p(-y)
        ds = (y - targets) / (y * (1.0 - y))
        hits = (z >= 0.5) == (targets >= 0.5)
        if z.ndim == 1:
            return _finite_arrays(check, values, ds, hits)
        k = z.shape[1]
        return _finite_arrays(check, values.sum(axis=1) / k, ds / k, hits.all(axis=1))


class CrossEntropy(Loss):
    """-sum_i t_i*log(y_i), y a probability vector (each clipped to >= EPS), t one-hot or a class
    index; d/dy_i = -t_i / y_i. From the logits z of a softmax: logsumexp(z) - t.z (for t summing
    to 1), d/dz_i = softmax(z)_i*sum(t) - t_i. A scalar prediction is binary: the same as BCE."""

    name = "cross_entropy"
    classification = True

    @_finite
    def value(self, target, pred):
        if not _is_vector(pred):
            return BCE.value(self, target, pred)
        t = _as_vector(target, len(pred))
        return -math.fsum(ti * math.log(max(y, EPS)) for ti, y in zip(t, pred) if ti)

    @_finite
    def derivative(self, target, pred):
        if not _is_vector(pred):
            return BCE.derivative(self, target, pred)
        t = _as_vector(target, len(pred))
        return [-ti / max(y, EPS) if ti else 0.0 for ti, y in zip(t, pred)]

    @_finite
    def value_from_logits(self, target, z):
        if not _is_vector(z):  # the logit of one sigmoid probability
            return BCE.value_from_logits(self, target, z)
        t = _as_vector(target, len(z))
        m = max(z)
        lse = m + math.log(math.fsum(math.exp(zi - m) for zi in z))
        return math.fsum(ti * (lse - zi) for ti, zi in zip(t, z) if ti)

    @_finite
    def derivative_from_logits(self, target, z):
        if not _is_vector(z):
            return BCE.derivative_from_logits(self, target, z)
        t = _as_vector(target, len(z))
        total = math.fsum(t)
        return [p * total - ti for p, ti in zip(Softmax.of(z), t)]

    def correct(self, target, pred):
        if not _is_vector(pred):
            return BCE.correct(self, target, pred)
        return _argmax(pred) == _class_of(target, len(pred))

    def check_target(self, target, width):
        _check_probabilities(self.name, target, width)

    def targets_ok(self, targets, width):
        return _targets_within(self, CrossEntropy, targets, width, 0.0, 1.0)

    def code(self, fused):
        return BCE.code(self, fused)  # a scalar output is binary: the same as BCE

    code_class = staticmethod(BCE.code_class)

    def batch(self, targets, z, fused, check=True):
        import numpy as np
        if z.ndim == 1:
            return BCE.batch(self, targets, z, fused, check)
        if fused:
            m = z.max(axis=1, keepdims=True)
            e = np.exp(z - m)
            total = e.sum(axis=1, keepdims=True)
            lse = m + np.log(total)
            values = np.where(targets != 0, targets * (lse - z), 0.0).sum(axis=1)
            ds = (e / total) * targets.sum(axis=1, keepdims=True) - targets
        else:
            y = np.maximum(z, EPS)
            values = -np.where(targets != 0, targets * np.log(y), 0.0).sum(axis=1)
            ds = np.where(targets != 0, -targets / y, 0.0)
        hits = np.argmax(z, axis=1) == np.argmax(targets, axis=1)
        return _finite_arrays(check, values, ds, hits)


def _at_least_half(targets):
    """The targets that count as class 1: BCE's hits compare them with the predictions."""
    return targets >= 0.5


def _finite_arrays(check, values, ds, hits):
    """(values, ds, hits), or FloatingPointError if `check` and a value or derivative is not
    finite."""
    import numpy as np
    if check and not (np.isfinite(values).all() and np.isfinite(ds).all()):
        raise FloatingPointError("a loss or its derivative is not finite")
    return values, ds, hits


LOSSES = {"mse": MSE, "bce": BCE, "cross_entropy": CrossEntropy}

mse = MSE()
bce = BCE()
cross_entropy = CrossEntropy()


def get(loss):
    """A Loss from a name ("mse", "bce", "cross_entropy") or a Loss object (returned as is)."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str):
        key = loss.strip().lower().replace("-", "_").replace(" ", "_")
        cls = LOSSES.get(key)
        if cls is None:
            raise TreenetError(unknown("loss", "losses", loss, key, LOSSES))
        return cls()
    if isinstance(loss, type) and issubclass(loss, Loss):
        return loss()
    raise TreenetError(f"a loss is a name ({', '.join(LOSSES)}) or a treenet.losses.Loss, "
                       f"got {loss!r}")


# --- helpers ----------------------------------------------------------------------------------

def unknown(kind, kinds, name, key, names):
    """The message for an unknown name, with a did-you-mean for a misspelt one."""
    close = difflib.get_close_matches(key, list(names), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown {kind} {name!r}{hint} (the {kinds} are {', '.join(names)})"


def _is_vector(x):
    return isinstance(x, Sequence) and not isinstance(x, str)


def _number(x, what):
    # bool is a Real in Python, but True as a regression target is more likely a mistake than 1.0
    if isinstance(x, bool) or not isinstance(x, Real):
        raise TreenetError(f"{what} must be a number, got {x!r}")
    try:
        x = float(x)
    except OverflowError:  # an int such as 10**400
        raise TreenetError(f"{what} must be a finite number, got {_short(x)}: too large for a "
                           f"float") from None
    if x - x != 0:
        raise TreenetError(f"{what} must be a finite number, got {x!r}")
    return x


_FLOAT = frozenset([float])


def _targets_within(loss, cls, targets, width, low, high):
    """`targets_ok` of the built-in loss `cls`: single numbers, all finite floats in [low,
    high]; never for a subclass with a `check_target` of its own (it checks each target)."""
    if type(loss).check_target is not cls.check_target or width is not None:
        return False
    if not targets or not _FLOAT.issuperset(map(type, targets)) or 0.0 * sum(targets) != 0:
        return False  # (a sum that overflows: not known, checked one by one)
    return low <= min(targets) and max(targets) <= high  # all finite: min and max are exact


def _scalar(target):
    """A target for a single-number prediction: a number (or a list holding one number)."""
    if target.__class__ is float and target - target == 0:
        return target  # the common case, without the checks below
    if _is_vector(target):
        if len(target) != 1:
            raise TreenetError(f"a network with one output needs one number as its target, got "
                               f"{_short(target)}")
        target = target[0]
    elif not isinstance(target, Real) or isinstance(target, bool):
        raise TreenetError(f"a network with one output needs a number as its target, got "
                           f"{_short(target)}")
    return _number(target, "the target")


def _as_vector(target, n):
    """A target for an n-vector prediction: a list of n numbers, or a class index (one-hot)."""
    if _is_vector(target):
        if len(target) != n:
            raise TreenetError(f"target {_short(target)} has {len(target)} components but the "
                               f"network has {n} outputs: give a list of {n} numbers or a class "
                               f"index 0..{n - 1}")
        return [_number(t, "each component of a target") for t in target]
    k = _class_index(target, n)
    return [1.0 if i == k else 0.0 for i in range(n)]


def _class_index(target, n):
    if (isinstance(target, bool) or not isinstance(target, Real) or target - target != 0
            or not float(target).is_integer() or not 0 <= target < n):
        raise TreenetError(f"a target for {n} outputs is a list of {n} numbers or a class index "
                           f"0..{n - 1}, got {_short(target)}")
    return int(target)


def _check_probabilities(name, target, width):
    """BCE and cross-entropy targets: probabilities, each in [0, 1]."""
    ts = [_scalar(target)] if width is None else _as_vector(target, width)
    for t in ts:
        if not 0.0 <= t <= 1.0:
            what = "the target" if width is None else "each component of the target"
            raise TreenetError(f"{name} targets are probabilities: {what} must be in [0, 1], "
                               f"got {_short(target)}")


def _short(x, limit=60):
    """repr(x), cut to `limit` characters; a huge int by its size (repr of one over 4300 digits
    raises ValueError)."""
    if isinstance(x, int) and not isinstance(x, bool) and x.bit_length() > 3 * limit:
        return f"an integer of about {round(x.bit_length() * math.log10(2))} digits"
    text = repr(x)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _brief(x):
    """A number to 6 digits, a list of numbers cut after 4: for overflow messages."""
    if isinstance(x, float):
        return f"{x:.6g}"
    if _is_vector(x):
        items = [_brief(v) for v in x[:4]] + (["..."] if len(x) > 4 else [])
        return "[" + ", ".join(items) + "]"
    return _short(x)


def _class_of(target, n):
    if _is_vector(target):
        return _argmax(target)
    return _class_index(target, n)


def _argmax(xs):
    return max(range(len(xs)), key=xs.__getitem__)


__all__ = ["Loss", "FunctionLoss", "MSE", "BCE", "CrossEntropy", "LOSSES", "mse", "bce",
           "cross_entropy", "get", "EPS"]
