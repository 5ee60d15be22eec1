"""A pygments lexer for the treenet language (and the REPL's `:` commands): `*.tn` files,
documentation (```` ```treenet ````) and the REPL's syntax highlighting.

Its tokens follow grammar/treenet.lark: comments, the keywords `def` and `input`, `p` (a fresh
parameter), numbers, the operators, brackets and separators. A name is a built-in function when
the op registry (or `dense`) knows it at the moment it is lexed, so an op declared later is
highlighted too. Registered for `pygments.lexers` through the package's entry point."""

from pygments.lexer import RegexLexer, bygroups
from pygments.token import (Comment, Keyword, Name, Number, Operator, Punctuation, Text,
                            Whitespace)

from .names import KEYWORDS, VECTOR_CALLS
from .ops import calls

_NUMBER = r"(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?"


def _name(lexer, match):
    """A name: a keyword, `p`, a built-in function (an op's call name or dense), or a name."""
    text = match.group()
    if text == "p":
        kind = Keyword.Pseudo
    elif text in KEYWORDS:
        kind = Keyword
    elif text in VECTOR_CALLS or text in calls():
        kind = Name.Builtin
    else:
        kind = Name
    yield match.start(), kind, text


class TreenetLexer(RegexLexer):
    """treenet programs: `h = tanh(p*x + p)`, `def f(a) = ...`, `input v[3]`."""

    name = "treenet"
    aliases = ["treenet"]
    filenames = ["*.tn"]
    mimetypes = ["text/x-treenet"]

    tokens = {
        "root": [
            (r"^(\s*)(:[A-Za-z]+)", bygroups(Whitespace, Keyword.Namespace)),  # :grad, :set
            (r"#[^\r\n]*", Comment.Single),
            (r"[ \t\f]+", Whitespace),
            (r"\\(\r\n?|\n)", Text),  # a line continued
            (r"\r\n?|\n", Whitespace),
            (_NUMBER, Number.Float),
            (r"[A-Za-z_][A-Za-z_0-9]*", _name),
            (r"\*\*|[-+*/^=]", Operator),
            (r"[()\[\],;]", Punctuation),
            (r".", Text),
        ],
    }


__all__ = ["TreenetLexer"]
