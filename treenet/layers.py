"""Layers for networks built in Python, the twins of the language's `dense(n, ...)`."""

from collections.abc import Iterable
import contextlib
import random

from .errors import TreenetError
from .macros import Linear
from .nodes import NeuralNetNode, using_rng


def dense(n, inputs, rng=None):
    """n Linear units over the same inputs (a list of nodes): unit k is
    w_k0*inputs[0] + w_k1*inputs[1] + ... + b_k. Parameters are created unit by unit, each
    unit's weights in input order and then its bias, as `dense` in the language does. `rng`
    draws their initial values: a random.Random, or an int seed (random.Random(seed)); None
    draws from the current source (parse's seed inside a parse, else the random module)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise TreenetError(f"dense takes a positive number of units, got {n!r}")
    if isinstance(inputs, NeuralNetNode) or not isinstance(inputs, Iterable):
        inputs = [inputs]
    inputs = list(inputs)
    if not inputs:
        raise TreenetError("dense needs at least one input")
    units = []
    with _maybe_rng(rng):
        for _ in range(n):
            unit = Linear(list(inputs))
            unit.expanded()  # create this unit's parameters now, so their order is documented
            units.append(unit)
    return units


def _maybe_rng(rng):
    if rng is None:
        return contextlib.nullcontext()
    if isinstance(rng, int) and not isinstance(rng, bool):
        rng = random.Random(rng)
    elif not isinstance(rng, random.Random):
        raise TreenetError(f"dense's rng must be a random.Random or an int seed, got "
                           f"{rng!r} ({type(rng).__name__})")
    return using_rng(rng)


__all__ = ["dense"]
