"""Node builders that fold constants as they go (0*x -> 0, 1*x -> x, x + 0 -> x, ...), so the
symbolic derivatives built from the ops' rules stay small and read well. A fold that would give
a non-finite number (1e200*1e200) is not made: the node is kept as written, so evaluating it
reports the overflow with the sub-expression, as the engine does, and it prints as it parses.

This module sits below `ops`, whose symbolic derivative rules (`dnodes`) are written with these
builders, so it cannot import the op classes: it finds them by name in the op registry, which
every op joins when its class is declared (see treenet.nodes.Operation)."""

import math

from .nodes import Constant, Operation

_OPS = Operation._registry


def const(v):
    return Constant(v)


def value_of(node):
    """The number a Constant holds, or None for any other node."""
    return node.value if type(node) is Constant else None


def is_const(node, v):
    return type(node) is Constant and node.value == v


def add(*terms):
    Add = _OPS["Add"]
    total, rest = 0.0, []
    for t in terms:
        c = value_of(t)
        if c is None:
            rest.append(t)
        else:
            total += c
    if not math.isfinite(total):
        return Add(list(terms))
    if total != 0.0 or not rest:
        rest.append(const(total))
    return rest[0] if len(rest) == 1 else Add(rest)


def sub(a, b):
    Subtract = _OPS["Subtract"]
    ca, cb = value_of(a), value_of(b)
    if ca is not None and cb is not None and math.isfinite(ca - cb):
        return const(ca - cb)
    if cb == 0.0:
        return a
    if ca == 0.0:
        return neg(b)
    return Subtract([a, b])


def neg(a):
    Negate = _OPS["Negate"]
    c = value_of(a)
    if c is not None:
        return const(-c)
    if type(a) is Negate:
        return a.children[0]
    return Negate([a])


def mul(*factors):
    Multiply = _OPS["Multiply"]
    coeff, rest = 1.0, []
    for f in factors:
        c = value_of(f)
        if c is None:
            rest.append(f)
        else:
            coeff *= c
    if not math.isfinite(coeff):
        return Multiply(list(factors))
    if coeff == 0.0 or not rest:
        return const(coeff)
    if coeff == -1.0:
        return neg(rest[0] if len(rest) == 1 else Multiply(rest))
    if coeff != 1.0:
        rest.insert(0, const(coeff))
    return rest[0] if len(rest) == 1 else Multiply(rest)


def div(a, b):
    Divide = _OPS["Divide"]
    if is_const(b, 1.0):
        return a
    if is_const(a, 0.0):
        return a
    return Divide([a, b])


def pow(a, b):
    Power = _OPS["Power"]
    if is_const(b, 1.0):
        return a
    if is_const(b, 0.0):
        return const(1.0)
    return Power([a, b])


def call(op, *args):
    """op applied to args, folded to a Constant when every argument is one."""
    node = op(list(args))
    if all(value_of(a) is not None for a in args):
        try:
            v = node.compute([a.value for a in args])
        except ArithmeticError:
            return node  # left as it is: evaluating it reports the error with the sub-expression
        if math.isfinite(v):
            return const(v)
    return node
