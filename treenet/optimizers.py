"""Optimizers: how a step turns each parameter's `.grad` into a new value.

Defaults are the usual ones (SGD and momentum lr=0.01, momentum 0.9; Adam lr=0.001, betas 0.9 and
0.999, eps 1e-8). `lr=None` means each Parameter's own `learning_rate` (the tutorials'
per-parameter rates); a number is the rate for all. A step is all or nothing: the new values
and the new state are worked out first and applied only if every one is finite, so a failing step
leaves the parameters (and the optimizer's memory) exactly as they were.

The memory is checked as well as the values: Adam's g*g can overflow to inf while the step it
gives is a finite 0, which would freeze the parameter for good without a word."""

import math
from numbers import Real

from .errors import TreenetError
from .losses import _short, unknown


class Optimizer:
    """Base class: subclasses give `rule(value, grad, state, lr, t)` -> (new value, new state),
    where `state` is that parameter's memory (None at first, else a number or a tuple of
    numbers, named by `state_names`) and t the 1-based step count."""

    name = "optimizer"
    state_names = ()

    def __init__(self, lr=0.01):
        self.lr = check_lr(lr)
        self.state = {}  # id(parameter) -> that parameter's memory
        self.t = 0

    def rate(self, param):
        return param.learning_rate if self.lr is None else self.lr

    def step(self, parameters):
        """Update each parameter from its `.grad`; raises (changing nothing) if any gradient or
        new value is not finite."""
        t = self.t + 1
        new_values, new_states = [], []
        for p in parameters:
            g = p.grad
            if g - g != 0:
                raise NonFiniteStep(p, f"gradient of {p.name} is {g!r}")
            lr = self.rate(p)
            if self.lr is None:
                check_parameter_rate(p)
            try:
                value, state = self.rule(p.value, g, self.state.get(id(p)), lr, t)
            except _Overflow as exc:
                raise NonFiniteStep(p, f"{self.name}: {exc} for {p.name} (gradient {g:.6g})") \
                    from None
            except OverflowError:
                raise NonFiniteStep(p, f"{self.name}: overflow in the step for {p.name} "
                                       f"(gradient {g:.6g}, value {p.value!r})") from None
            if state is not None:  # first: an overflowed memory is the cause
                for x in (state if type(state) is tuple else (state,)):
                    if x.__class__ is float and x - x != 0:
                        raise self._state_error(p, g, state)
            if value - value != 0:
                raise NonFiniteStep(p, f"the step makes {p.name} {value!r}")
            new_values.append(value)
            new_states.append(state)
        for p, value, state in zip(parameters, new_values, new_states):
            p.value = value
            self.state[id(p)] = state
        self.t = t

    def rule(self, value, grad, state, lr, t):
        raise NotImplementedError

    # --- generated training steps (treenet.steps) ----------------------------------------------
    #: the memory's parts, each a float per parameter in generated code (Momentum: v; Adam: m, v)
    code_memory = ()

    def code(self):
        """(lines once per step, lines per parameter, expressions to check) of Python computing
        `rule` in generated code: the same floating-point operations. The per-parameter lines
        read {p} (the value), {g} (the gradient), {r} (the rate) and, for each part M of the
        memory, {M}; they set {new} and {new_M}, and `tn` is the step count t. The step is
        refused when {new}, a {new_M} or one of the expressions is not finite (as `step` refuses
        it). None: no code (the generated step calls `rule`). A subclass that redefines `rule`
        gets None unless it redefines `code`."""
        return None

    def memory_in(self, state):
        """A parameter's memory (None at first) as floats, one per part of `code_memory`."""
        return ()

    def memory_out(self, parts):
        """The memory `rule` keeps, from its parts as floats."""
        return None

    def _own_code(self, cls):
        """Whether `cls`'s code describes this optimizer's rule (not a subclass's new one)."""
        return type(self).rule is cls.rule

    def _state_error(self, p, g, state):
        """The NonFiniteStep naming the part of the memory that overflowed."""
        parts = state if isinstance(state, tuple) else (state,)
        k = next(k for k, x in enumerate(parts) if isinstance(x, float) and not math.isfinite(x))
        label = self.state_names[k] if k < len(self.state_names) else f"state[{k}]"
        return NonFiniteStep(p, f"{self.name}: the {label} of {p.name} overflowed to "
                                f"{parts[k]!r} (gradient {g:.6g})")

    def reset(self):
        """Forget the memory (momentum, moment estimates, step count)."""
        self.state.clear()
        self.t = 0

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items()
                           if k not in ("state", "t"))
        return f"{type(self).__name__}({fields})"


def check_lr(lr):
    """`lr` as a float if it is a positive finite number, None (each Parameter's own rate), else
    a TreenetError saying so. A float: a numpy scalar would make every updated parameter one."""
    if lr is None:
        return None
    if not _finite_float(lr) or not 0 < lr:
        raise TreenetError(f"lr must be a positive finite number, or None for each Parameter's "
                           f"own learning_rate; got {_short(lr)}")
    return float(lr)


def check_parameter_rate(param):
    """A Parameter's own `learning_rate` must be a finite number >= 0 (0 freezes it)."""
    r = param.learning_rate
    if not _finite_float(r) or not 0 <= r:
        raise TreenetError(f"parameter {param.name}: learning_rate must be a finite number >= 0, "
                           f"got {_short(r)}")


def _finite_float(x):
    """Whether x is a real number (not a bool) that is finite as a float: 10**400 is not."""
    if isinstance(x, bool) or not isinstance(x, Real):
        return False
    try:
        return math.isfinite(float(x))
    except OverflowError:
        return False


def _check_unit(value, label):
    if isinstance(value, bool) or not isinstance(value, Real) or not 0.0 <= value < 1.0:
        raise TreenetError(f"{label} must be a number in [0, 1), got {value!r}")
    return float(value)  # a numpy scalar would make every updated parameter one


class NonFiniteStep(ArithmeticError):
    """An optimizer step that would give a non-finite value or memory (`parameter` names which)."""

    def __init__(self, parameter, message):
        self.parameter = parameter
        super().__init__(message)


class _Overflow(ArithmeticError):
    """Raised by a rule for an intermediate that is not finite; the text says which."""


class SGD(Optimizer):
    """p <- p - lr*g"""

    name = "sgd"

    def rule(self, value, grad, state, lr, t):
        return value - lr * grad, None

    def code(self):
        return ([], ["{new} = {p} - {r} * {g}"], []) if self._own_code(SGD) else None


class Momentum(Optimizer):
    """v <- momentum*v + g;  p <- p - lr*v  (nesterov: p <- p - lr*(g + momentum*v))"""

    name = "momentum"
    state_names = ("velocity v",)

    def __init__(self, lr=0.01, momentum=0.9, nesterov=False):
        super().__init__(lr)
        self.momentum = _check_unit(momentum, "momentum")
        self.nesterov = nesterov

    def rule(self, value, grad, state, lr, t):
        v = grad if state is None else self.momentum * state + grad
        direction = grad + self.momentum * v if self.nesterov else v
        return value - lr * direction, v

    code_memory = ("v",)

    def code(self):
        if not self._own_code(Momentum):
            return None
        mu = repr(float(self.momentum))
        # no memory yet is v = 0: momentum*0.0 + g is g
        lines = [f"{{new_v}} = {mu} * {{v}} + {{g}}"]
        if self.nesterov:
            return [], lines + [f"{{new}} = {{p}} - {{r}} * ({{g}} + {mu} * {{new_v}})"], []
        return [], lines + ["{new} = {p} - {r} * {new_v}"], []

    def memory_in(self, state):
        return (0.0,) if state is None else (state,)

    def memory_out(self, parts):
        return parts[0]


class Adam(Optimizer):
    """m <- b1*m + (1 - b1)*g;  v <- b2*v + (1 - b2)*g^2;
    p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)"""

    name = "adam"
    state_names = ("first moment m", "second moment v")

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(lr)
        beta1, beta2 = _check_unit(beta1, "beta1"), _check_unit(beta2, "beta2")
        if not _finite_float(eps) or not 0 < eps:
            raise TreenetError(f"eps must be a positive finite number, got {_short(eps)}")
        self.beta1, self.beta2, self.eps = beta1, beta2, float(eps)

    def rule(self, value, grad, state, lr, t):
        m, v = state if state is not None else (0.0, 0.0)
        b1, b2 = self.beta1, self.beta2
        m = b1 * m + (1.0 - b1) * grad
        v = b2 * v + (1.0 - b2) * grad * grad
        m_hat = m / (1.0 - b1 ** t)
        v_hat = v / (1.0 - b2 ** t)
        # g*g overflows first: a gradient over 1.3e154 makes v inf, and m_hat / inf a step of 0
        # at this and every later step. (m_hat, v_hat finite imply m, v finite.)
        if m_hat - m_hat != 0 or v_hat - v_hat != 0:
            raise _Overflow(_adam_overflow(m, v, m_hat, v_hat))
        return value - lr * m_hat / (math.sqrt(v_hat) + self.eps), (m, v)

    code_memory = ("m", "v")

    def code(self):
        if not self._own_code(Adam):
            return None
        b1, b2, eps = (repr(float(x)) for x in (self.beta1, self.beta2, self.eps))
        # float(): a numpy beta's 1 - beta is numpy's, whose repr is not a Python literal
        c1, c2 = repr(float(1.0 - self.beta1)), repr(float(1.0 - self.beta2))
        return ([f"k1 = 1.0 - {b1} ** tn", f"k2 = 1.0 - {b2} ** tn"],
                [f"{{new_m}} = {b1} * {{m}} + {c1} * {{g}}",
                 f"{{new_v}} = {b2} * {{v}} + {c2} * {{g}} * {{g}}",
                 "{new} = {p} - {r} * ({new_m} / k1) / "
                 f"(math.sqrt({{new_v}} / k2) + {eps})"],
                # the bias-corrected moments, which `rule` checks (v/k2 can overflow alone)
                ["{new_m} / k1", "{new_v} / k2"])

    def memory_in(self, state):
        return (0.0, 0.0) if state is None else tuple(state)

    def memory_out(self, parts):
        return tuple(parts)


def _adam_overflow(m, v, m_hat, v_hat):
    """Which of Adam's moments overflowed, for the message."""
    for name, x in (("second moment v (g*g)", v), ("first moment m", m),
                    ("bias-corrected second moment v/(1 - beta2^t)", v_hat),
                    ("bias-corrected first moment m/(1 - beta1^t)", m_hat)):
        if x - x != 0:
            return f"the {name} overflowed to {x!r}"


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adam": Adam}


def get(optimizer, lr=None):
    """An Optimizer from a name ("sgd", "momentum", "adam") with learning rate `lr` (None: each
    parameter's own), or an Optimizer object (returned as is: it keeps its own rate)."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str):
        key = optimizer.strip().lower()
        cls = OPTIMIZERS.get(key)
        if cls is None:
            raise TreenetError(unknown("optimizer", "optimizers", optimizer, key, OPTIMIZERS))
        return cls(lr=lr)
    if isinstance(optimizer, type) and issubclass(optimizer, Optimizer):
        return optimizer(lr=lr)
    raise TreenetError(f"an optimizer is a name ({', '.join(OPTIMIZERS)}) or a "
                       f"treenet.optimizers.Optimizer, got {optimizer!r}")


__all__ = ["Optimizer", "SGD", "Momentum", "Adam", "OPTIMIZERS", "get", "NonFiniteStep",
           "check_lr"]
