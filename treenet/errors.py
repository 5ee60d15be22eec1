"""The exceptions treenet raises; every one is a TreenetError (a ValueError)."""

import re


class TreenetError(ValueError):
    """Base of every error treenet raises on purpose."""


class ParseError(TreenetError):
    """A program that is not valid treenet; knows where (1-based line and column)."""

    def __init__(self, message, line=None, column=None, source=None, expected=None):
        self.line = line
        self.column = column
        self.reason = message
        self.expected = sorted(expected) if expected else []
        text = message
        if line is not None:
            text = f"line {line}, column {column}: {message}"
            context = _context(source, line, column)
            if context:
                text += "\n" + context
        if self.expected:
            text += "\nexpected one of: " + ", ".join(self.expected)
        super().__init__(text)


class FileError(TreenetError):
    """A file that cannot be saved or loaded (missing, a directory, not a regular file, too big);
    names the path, the OSError kept as __cause__."""

    def __init__(self, message, path=None):
        self.path = path
        super().__init__(message)


class EvaluationError(TreenetError):
    """A forward or backward pass that cannot give a finite number."""

    def __init__(self, message, expression=None):
        self.expression = expression
        if expression is not None:
            message = f"{message} in {expression}"
        super().__init__(message)


class TrainingError(TreenetError):
    """Training stopped on a non-finite loss or gradient, an overflow, an evaluation error, or an
    exception from a user's loss function or hook (kept as __cause__). `epoch` and `sample` are
    0-based: `sample` is the index into the training data (whatever the shuffling); `expression`
    names the failing sub-expression or loss, e.g. "mse(target, output)"."""

    def __init__(self, message, epoch=None, sample=None, expression=None):
        self.epoch = epoch
        self.sample = sample
        self.expression = expression
        super().__init__(message)


_LINE_END = re.compile(r"\r\n|\r|\n")


def _context(source, line, column, width=100):
    """The source line (clipped around the column) and a caret under the column."""
    if source is None:
        return ""
    lines = _LINE_END.split(source)  # as the parser counts lines: CRLF, CR and LF each end one
    if not 1 <= line <= len(lines):
        text = ""
    else:
        text = lines[line - 1].expandtabs(1)
    col = max(column - 1, 0)
    start = 0
    if len(text) > width:
        start = max(0, min(col - width // 2, len(text) - width))
        text = text[start:start + width]
        col -= start
    return f"    {text}\n    {' ' * col}^"


class MissingRuleError(TreenetError, NotImplementedError):
    """An op lacks a rule that was asked for (say to_sympy): the message names the op and the method."""


class FrozenError(TreenetError, AttributeError):
    """An assignment to an immutable structure (the compiled IR): build a new one instead."""


class DomainError(ArithmeticError):
    """Raised inside an op's rule for a value outside its domain; the engine turns it into an
    EvaluationError that names the sub-expression."""
