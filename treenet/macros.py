"""Macros: nodes that stand for a subtree of elementary ops (`compile` replaces each by its
expansion). A Macro subclass with a `call` name joins the op registry, and so the language."""

from .nodes import Macro, Parameter
from .ops import Add, Multiply


class Linear(Macro):
    """linear(a, b, ...) = w0*a + w1*b + ... + bias, with fresh parameters (weights first, in
    argument order, then the bias). Vector arguments give one weight per element."""

    call = "linear"
    arity = (1, None)

    def expand(self):
        terms = [Multiply([Parameter(), child]) for child in self.children]
        return Add(terms + [Parameter()])


__all__ = ["Linear"]
