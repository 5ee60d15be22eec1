"""Optimizers: how a step turns each parameter's `.grad` into a new value.

Defaults are the usual ones (SGD and momentum lr=0.01, momentum 0.9; Adam lr=0.001, betas 0.9 and
0.999, eps 1e-8). `lr=None` means each Parameter's own `learning_rate` (the tutorials'
per-parameter rates); a number is the rate for all. A step is all or nothing: the new values
and the new state are worked out first and applied only if every one is finite, so a failing step
leaves the parameters (and the optimizer's memory) exactly as they were."""

import math

from .errors import TreenetError


class Optimizer:
    """Base class: subclasses give `rule(value, grad, state, lr, t)` -> (new value, new state),
    where `state` is that parameter's memory (None at first) and t the 1-based step count."""

    name = "optimizer"

    def __init__(self, lr=0.01):
        self.lr = lr
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
            value, state = self.rule(p.value, g, self.state.get(id(p)), self.rate(p), t)
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

    def reset(self):
        """Forget the memory (momentum, moment estimates, step count)."""
        self.state.clear()
        self.t = 0

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items()
                           if k not in ("state", "t"))
        return f"{type(self).__name__}({fields})"


class NonFiniteStep(ArithmeticError):
    """An optimizer step that would give a non-finite value (`parameter` names which)."""

    def __init__(self, parameter, message):
        self.parameter = parameter
        super().__init__(message)


class SGD(Optimizer):
    """p <- p - lr*g"""

    name = "sgd"

    def rule(self, value, grad, state, lr, t):
        return value - lr * grad, None


class Momentum(Optimizer):
    """v <- momentum*v + g;  p <- p - lr*v  (nesterov: p <- p - lr*(g + momentum*v))"""

    name = "momentum"

    def __init__(self, lr=0.01, momentum=0.9, nesterov=False):
        super().__init__(lr)
        if not 0.0 <= momentum < 1.0:
            raise TreenetError(f"momentum must be in [0, 1), got {momentum!r}")
        self.momentum = momentum
        self.nesterov = nesterov

    def rule(self, value, grad, state, lr, t):
        v = grad if state is None else self.momentum * state + grad
        direction = grad + self.momentum * v if self.nesterov else v
        return value - lr * direction, v


class Adam(Optimizer):
    """m <- b1*m + (1 - b1)*g;  v <- b2*v + (1 - b2)*g^2;
    p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)"""

    name = "adam"

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(lr)
        for label, b in (("beta1", beta1), ("beta2", beta2)):
            if not 0.0 <= b < 1.0:
                raise TreenetError(f"{label} must be in [0, 1), got {b!r}")
        self.beta1, self.beta2, self.eps = beta1, beta2, eps

    def rule(self, value, grad, state, lr, t):
        m, v = state if state is not None else (0.0, 0.0)
        b1, b2 = self.beta1, self.beta2
        m = b1 * m + (1.0 - b1) * grad
        v = b2 * v + (1.0 - b2) * grad * grad
        m_hat = m / (1.0 - b1 ** t)
        v_hat = v / (1.0 - b2 ** t)
        return value - lr * m_hat / (math.sqrt(v_hat) + self.eps), (m, v)


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adam": Adam}


def get(optimizer, lr=None):
    """An Optimizer from a name ("sgd", "momentum", "adam") with learning rate `lr` (None: each
    parameter's own), or an Optimizer object (returned as is: it keeps its own rate)."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str):
        cls = OPTIMIZERS.get(optimizer.lower())
        if cls is None:
            raise TreenetError(f"unknown optimizer {optimizer!r}; the optimizers are "
                               f"{', '.join(OPTIMIZERS)}")
        return cls(lr=lr)
    if isinstance(optimizer, type) and issubclass(optimizer, Optimizer):
        return optimizer(lr=lr)
    raise TreenetError(f"an optimizer is a name ({', '.join(OPTIMIZERS)}) or a "
                       f"treenet.optimizers.Optimizer, got {optimizer!r}")


__all__ = ["Optimizer", "SGD", "Momentum", "Adam", "OPTIMIZERS", "get", "NonFiniteStep"]
