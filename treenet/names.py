"""The language's reserved names: keywords and built-in functions. Below both the parser and the
printer (which must not print a binding under a reserved name), and free of lark."""

from . import macros  # noqa: F401  (declaring the macros puts `linear` among the calls)
from .ops import calls

KEYWORDS = {"p", "def", "input"}
VECTOR_CALLS = {"dense"}


def reserved_names():
    """Every name a binding may not take: the keywords and the built-in functions."""
    return KEYWORDS | VECTOR_CALLS | set(calls())


__all__ = ["KEYWORDS", "VECTOR_CALLS", "reserved_names"]
